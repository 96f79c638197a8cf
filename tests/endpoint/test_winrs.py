"""WinRS cmd shells: real local processes behind Create/Command/Send/Receive/Signal/Delete."""

import base64
import json
import time
import unittest

from eptest import (CMD, NS, SH, T, WMI, EndpointCase, envelope, fault_info, run_command, shell_create,
                    shell_id_of)


class ShellCase(EndpointCase):
    def new_shell(self, body_extra='', options=()):
        status, root = shell_create(self.ep, body_extra, options)
        self.assertEqual(status, 200, fault_info(root))
        return shell_id_of(root), root

    def receive(self, shell_id, cid, timeout='PT20S', max_env=512000):
        return self.ep.soap(envelope(SH + 'Receive', CMD, '<rsp:Receive><rsp:DesiredStream CommandId="%s">'
                                     'stdout stderr</rsp:DesiredStream></rsp:Receive>' % cid,
                                     selectors=[('ShellId', shell_id)], timeout=timeout, max_env=max_env))

    def start(self, shell_id, command):
        status, root = self.ep.soap(envelope(SH + 'Command', CMD, '<rsp:CommandLine><rsp:Command>%s</rsp:Command>'
                                             '</rsp:CommandLine>' % command, selectors=[('ShellId', shell_id)]))
        self.assertEqual(status, 200, fault_info(root))
        return root.findtext('.//rsp:CommandId', namespaces=NS)

    def signal(self, shell_id, cid, code):
        return self.ep.soap(envelope(SH + 'Signal', CMD, '<rsp:Signal CommandId="%s"><rsp:Code>'
                                     'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/%s</rsp:Code>'
                                     '</rsp:Signal>' % (cid, code), selectors=[('ShellId', shell_id)]))

    def delete(self, shell_id):
        return self.ep.soap(envelope(T + 'Delete', CMD, selectors=[('ShellId', shell_id)]))


class ShellTest(ShellCase):
    def test_create_answers_like_the_recording(self):
        shell_id, root = self.new_shell()
        self.assertRegex(shell_id, r'^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$')
        self.assertEqual(root.findtext('s:Header/a:Action', namespaces=NS), T + 'CreateResponse')
        shell = root.find('s:Body/rsp:Shell', NS)
        self.assertEqual([c.tag.split('}')[1] for c in shell],
                         ['ShellId', 'ResourceUri', 'Owner', 'ClientIP', 'IdleTimeOut', 'InputStreams',
                          'OutputStreams', 'ShellRunTime', 'ShellInactivity'])
        self.assertEqual(shell.findtext('rsp:IdleTimeOut', namespaces=NS), 'PT7200.000S')
        self.delete(shell_id)

    def test_echo_stdout_stderr_and_exit_code(self):
        shell_id, _r = self.new_shell()
        out, err, code, _n, _c = run_command(self.ep, shell_id, 'echo out; echo err >&2; exit 3')
        self.assertEqual((out, err, code), (b'out\n', b'err\n', 3))
        out, err, code, _n, _c = run_command(self.ep, shell_id, 'cmd.exe', ['/c', 'echo', 'hi'])
        self.assertEqual((out, code), (b'hi\n', 0))
        self.delete(shell_id)

    def test_done_response_shape(self):
        shell_id, _r = self.new_shell()
        cid = self.start(shell_id, 'echo hi')
        status, root = self.receive(shell_id, cid)
        resp = root.find('s:Body/rsp:ReceiveResponse', NS)
        kinds = [(c.tag.split('}')[1], c.get('Name'), c.get('End')) for c in resp]
        self.assertEqual(kinds, [('Stream', 'stdout', None), ('Stream', 'stdout', 'true'),
                                 ('Stream', 'stderr', 'true'), ('CommandState', None, None)])
        state = resp.find('rsp:CommandState', NS)
        self.assertEqual(state.get('State'), 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done')
        self.assertEqual(state.get('CommandId'), cid)
        self.assertEqual(state.findtext('rsp:ExitCode', namespaces=NS), '0')
        status, root = self.signal(shell_id, cid, 'terminate')
        self.assertEqual(status, 200)
        self.assertIsNotNone(root.find('s:Body/rsp:SignalResponse', NS))
        self.delete(shell_id)

    def test_stdin_send_and_end(self):
        shell_id, _r = self.new_shell(options=[('WINRS_CODEPAGE', '65001')])
        out, _e, code, _n, _c = run_command(self.ep, shell_id, 'tr a-z A-Z', stdin=b'hello\nworld\n')
        self.assertEqual((out, code), (b'HELLO\nWORLD\n', 0))
        self.delete(shell_id)

    def test_environment_working_directory_and_noprofile(self):
        env = ('<rsp:Environment><rsp:Variable Name="env1">var1</rsp:Variable>'
               '<rsp:Variable Name="WEIRD">a &amp; b</rsp:Variable></rsp:Environment>'
               '<rsp:WorkingDirectory>/</rsp:WorkingDirectory>')
        shell_id, root = self.new_shell(env, options=[('WINRS_NOPROFILE', 'TRUE')])
        self.assertEqual(root.findtext('.//rsp:Variable[@Name="env1"]', namespaces=NS), 'var1')
        out, _e, _c, _n, _i = run_command(self.ep, shell_id, 'echo "$env1|$WEIRD|$(pwd)|$USERPROFILE"')
        self.assertEqual(out, b'var1|a & b|/|C:\\Users\\Default\n')
        self.delete(shell_id)

    def test_codepage_437_is_the_default_and_65001_passes_utf8(self):
        shell_id, _r = self.new_shell()
        out, _e, _c, _n, _i = run_command(self.ep, shell_id, "printf '\\303\\251'")
        self.assertEqual(out, b'\x82')     # e-acute in cp437
        self.delete(shell_id)
        shell_id, _r = self.new_shell(options=[('WINRS_CODEPAGE', '65001')])
        out, _e, _c, _n, _i = run_command(self.ep, shell_id, "printf '\\303\\251'")
        self.assertEqual(out, b'\xc3\xa9')
        self.delete(shell_id)
        status, root = shell_create(self.ep, options=[('WINRS_CODEPAGE', 'klingon')])
        self.assertFault(status, root, 'w:InvalidOptions')

    def test_receive_times_out_with_the_windows_fault_then_completes(self):
        shell_id, _r = self.new_shell()
        cid = self.start(shell_id, 'sleep 1.5; echo late')
        started = time.monotonic()
        status, root = self.receive(shell_id, cid, timeout='PT0.5S')
        self.assertFault(status, root, 'w:TimedOut', 2150858793)
        self.assertEqual(fault_info(root)[0], 's:Receiver')
        self.assertGreaterEqual(time.monotonic() - started, 0.45)
        while True:
            status, root = self.receive(shell_id, cid, timeout='PT5S')
            if status == 200 and root.find('.//rsp:ExitCode', NS) is not None:
                break
        self.delete(shell_id)

    def test_ctrl_c_and_terminate(self):
        shell_id, _r = self.new_shell()
        cid = self.start(shell_id, 'sleep 30')
        status, _root = self.signal(shell_id, cid, 'ctrl_c')
        self.assertEqual(status, 200)
        while True:
            status, root = self.receive(shell_id, cid, timeout='PT5S')
            code = root.findtext('.//rsp:ExitCode', namespaces=NS)
            if code is not None:
                break
        self.assertEqual(int(code), -1073741510)
        cid = self.start(shell_id, 'sleep 30')
        self.signal(shell_id, cid, 'terminate')
        status, root = self.receive(shell_id, cid)
        self.assertFault(status, root, 'w:InvalidSelectors', 2150858843)
        self.delete(shell_id)

    def test_unknown_shell_and_command_ids(self):
        status, root = self.receive('00000000-0000-0000-0000-000000000000', 'X')
        self.assertFault(status, root, 'w:InvalidSelectors', 2150858843)
        self.assertEqual(root.findtext('.//w:FaultDetail', namespaces=NS),
                         'http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors')
        shell_id, _r = self.new_shell()
        status, root = self.receive(shell_id, '87E77BEB-6761-4C48-9D70-A00266B8459A')
        self.assertFault(status, root, 'w:InvalidSelectors', 2150858843)
        self.assertIn('command identifier that does not exist', root.findtext('.//f:Message', namespaces=NS))
        self.delete(shell_id)
        status, root = self.delete(shell_id)
        self.assertFault(status, root, 'w:InvalidSelectors', 2150858843)

    def test_skip_cmd_shell_with_missing_program(self):
        shell_id, _r = self.new_shell()
        status, root = self.ep.soap(envelope(SH + 'Command', CMD, '<rsp:CommandLine><rsp:Command>powershell.exe'
                                             '</rsp:Command><rsp:Arguments>hi</rsp:Arguments></rsp:CommandLine>',
                                             selectors=[('ShellId', shell_id)],
                                             options=[('WINRS_SKIP_CMD_SHELL', 'True')]))
        info = self.assertFault(status, root, 'w:InternalError', 2147942402)
        self.assertEqual(info[0], 's:Receiver')
        out, _e, _c, _n, _i = run_command(self.ep, shell_id, 'echo', ['direct', '$HOME'],
                                          options=[('WINRS_SKIP_CMD_SHELL', 'TRUE')])
        self.assertEqual(out, b'direct $HOME\n')
        self.delete(shell_id)

    def test_large_output_is_split_to_fit_the_envelope(self):
        shell_id, _r = self.new_shell()
        self.ep.control('/stats/reset')
        out, _e, code, receives, _c = run_command(self.ep, shell_id, "head -c 400000 /dev/zero | tr '\\000' a",
                                                  limit=153600)
        self.assertEqual(out, b'a' * 400000)
        self.assertGreaterEqual(receives, 3)
        stats = self.ep.stats()
        self.assertEqual(stats['responses_over_limit'], 0)
        self.assertLessEqual(stats['largest_response_body'], 153600)
        self.delete(shell_id)

    def test_shell_management_get_and_stats(self):
        before = self.ep.stats()
        shell_id, _r = self.new_shell()
        run_command(self.ep, shell_id, 'true')
        status, root = self.ep.soap(envelope(T + 'Get', 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell',
                                             selectors=[('ShellId', shell_id)]))
        self.assertEqual(root.findtext('.//rsp:ShellId', namespaces=NS), shell_id)
        mid = self.ep.stats()
        self.assertEqual(mid['shells_created'], before['shells_created'] + 1)
        self.assertEqual(mid['shells_open'], before['shells_open'] + 1)
        self.assertEqual(mid['commands_run'], before['commands_run'] + 1)
        self.delete(shell_id)
        self.assertEqual(self.ep.stats()['shells_open'], before['shells_open'])


class QuotaTest(ShellCase):
    ARGS = ('--max-shells-per-user', '2', '--max-commands', '1')

    def test_shell_quota_is_the_windows_wmi_error(self):
        a, _r = self.new_shell()
        b, _r = self.new_shell()
        status, root = shell_create(self.ep)
        info = self.assertFault(status, root, 'w:QuotaLimit')
        self.assertEqual(info[3], '2150859173')
        self.assertIn('maximum number of 2 concurrent shells',
                      root.findtext('.//msft:MSFT_WmiError/msft:Message', namespaces=NS))
        self.delete(a)
        c, _r = self.new_shell()
        self.delete(b)
        self.delete(c)

    def test_concurrent_command_quota(self):
        shell_id, _r = self.new_shell()
        cid = self.start(shell_id, 'sleep 30')
        status, root = self.ep.soap(envelope(SH + 'Command', CMD, '<rsp:CommandLine><rsp:Command>true'
                                             '</rsp:Command></rsp:CommandLine>', selectors=[('ShellId', shell_id)]))
        self.assertFault(status, root, 'w:QuotaLimit', 2150858815)
        self.signal(shell_id, cid, 'terminate')
        self.delete(shell_id)


class IdleTest(ShellCase):
    def test_idle_shell_is_deleted(self):
        shell_id, root = self.new_shell('<rsp:IdleTimeOut>PT1S</rsp:IdleTimeOut>')
        self.assertEqual(root.findtext('.//rsp:IdleTimeOut', namespaces=NS), 'PT1.000S')
        time.sleep(1.6)
        status, root = self.ep.soap(envelope(SH + 'Command', CMD, '<rsp:CommandLine><rsp:Command>true'
                                             '</rsp:Command></rsp:CommandLine>', selectors=[('ShellId', shell_id)]))
        self.assertFault(status, root, 'w:InvalidSelectors', 2150858843)
        self.assertGreaterEqual(self.ep.stats()['shells_expired'], 1)


class PowerShellCimTest(ShellCase):
    """powershell.exe: only remsess's CIM script runs (winrm_endpoint/pscim.py)."""

    @staticmethod
    def encoded(script):
        return base64.b64encode(script.encode('utf-16-le')).decode('ascii')

    def run_ps(self, shell_id, script):
        return run_command(self.ep, shell_id, 'powershell.exe',
                           ['-NoLogo', '-NoProfile', '-NonInteractive', '-EncodedCommand',
                            self.encoded(script)])

    def test_the_cim_script_answers_one_json_line_per_instance(self):
        shell_id, _r = self.new_shell(options=[('WINRS_CODEPAGE', '65001')])
        before = self.ep.stats()['ps_cim_commands']
        req = '{"op":"query","namespace":"root/cimv2","dialect":"WQL",' \
              '"query":"SELECT Name FROM Win32_Service WHERE Name = \'\'WinRM\'\'"}'
        out, err, code, _n, _c = self.run_ps(shell_id, "$x=1\n$r = ConvertFrom-Json '%s'\nrest" % req)
        self.assertEqual((code, err), (0, b''))
        lines = out.decode('utf-8').split('\r\n')
        self.assertEqual(lines[-1], '')
        self.assertEqual(len(lines), 2)
        inst = json.loads(lines[0])
        self.assertEqual(inst['class'], 'Win32_Service')
        self.assertEqual([p['name'] for p in inst['props']], ['Name'])
        self.assertEqual(inst['props'][0], {'name': 'Name', 'type': 'String', 'array': False,
                                            'value': 'WinRM', 'key': True})
        self.assertEqual(self.ep.stats()['ps_cim_commands'], before + 1)
        self.delete(shell_id)

    def test_a_remote_error_is_an_error_line_and_exit_code_1(self):
        shell_id, _r = self.new_shell()
        out, err, code, _n, _c = self.run_ps(
            shell_id, "$r = ConvertFrom-Json '{\"op\":\"enumerate\",\"namespace\":\"root/cimv2\","
                      "\"class\":\"Win32_Nope\"}'")
        self.assertEqual(code, 1)
        self.assertEqual(json.loads(out.decode().strip()), {'error': {'message': 'Invalid class ', 'status': 5}})
        self.delete(shell_id)

    def test_any_other_powershell_command_fails(self):
        shell_id, _r = self.new_shell()
        out, err, code, _n, _c = run_command(self.ep, shell_id, 'powershell', ['-Command', 'Get-Date'])
        self.assertEqual((out, code), (b'', 1))
        self.assertIn(b'no PowerShell', err)
        out, err, code, _n, _c = self.run_ps(shell_id, 'Get-Date')
        self.assertEqual((out, code), (b'', 1))
        self.assertIn(b'only remsess CIM scripts', err)
        self.delete(shell_id)


class NoShellTest(ShellCase):
    ARGS = ('--no-shell',)

    def test_no_shell_endpoint_but_cim_works(self):
        status, root = shell_create(self.ep)
        self.assertFault(status, root, 'a:DestinationUnreachable', 2150858770)
        status, root = self.ep.soap(envelope(T + 'Create', 'http://schemas.microsoft.com/powershell/Microsoft.PowerShell',
                                             '<rsp:Shell/>'))
        self.assertFault(status, root, 'a:DestinationUnreachable', 2150858770)
        status, root = self.ep.soap(envelope(T + 'Get', WMI + 'Win32_OperatingSystem'))
        self.assertEqual(status, 200)


if __name__ == '__main__':
    unittest.main()
