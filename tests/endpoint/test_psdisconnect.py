"""Disconnect, Reconnect and Connect on the PowerShell plugin's shells (psplugin.py), as raw
WS-Man: the shapes pypsrp recorded with Windows (fixtures/jborean93-pypsrp/responses/
test_psrp_disconnect_runspaces.yml, test_psrp_disconnected_commands.yml), pwsh running on while
nobody is connected, and the faults for operations that do not fit the shell's state.
"""

import base64
import time
import unittest
import uuid

from eptest import NS, SH, T, fault_info

from test_powershell import (APPLICATION_PRIVATE_DATA, CAPABILITY_XML, PIPELINE_OUTPUT, PIPELINE_STATE,
                             RUNSPACEPOOL_STATE, SESSION_CAPABILITY, PsCase, PsClient, state_of)

CONNECT_RUNSPACEPOOL = 0x00010008
RUNSPACEPOOL_INIT_DATA = 0x0002100B
PSNS = 'http://schemas.microsoft.com/powershell'


class DisconnectTest(PsCase):
    def shell_record(self, shell_id):
        status, root = self.call(T + 'Get', selectors=[('ShellId', shell_id)],
                                 uri='http://schemas.microsoft.com/wbem/wsman/1/windows/shell')
        self.assertEqual(status, 200, fault_info(root))
        return root.find('s:Body/rsp:Shell', NS)

    def connect(self, shell_id, client):
        data = base64.b64encode(client.message(SESSION_CAPABILITY, CAPABILITY_XML)
                                + client.message(CONNECT_RUNSPACEPOOL, '<S />')).decode()
        return self.call(SH + 'Connect', '<rsp:Connect><connectXml xmlns="%s">%s</connectXml></rsp:Connect>'
                         % (PSNS, data), [('ShellId', shell_id)], options=[('protocolversion', '2.3')])

    def test_output_written_while_disconnected_reaches_a_new_client(self):
        before = self.ep.stats()
        first = PsClient()
        shell_id, _root, _msgs = self.open_pool(first)
        pid, cid = self.command(first, shell_id, "Start-Sleep -Milliseconds 500; 'x'; 'y'")
        status, root = self.call(SH + 'Disconnect', '<rsp:Disconnect />', [('ShellId', shell_id)])
        self.assertEqual(status, 200, fault_info(root))
        self.assertEqual(root.findtext('s:Header/a:Action', namespaces=NS), SH + 'DisconnectResponse')
        self.assertEqual(self.shell_record(shell_id).findtext('rsp:State', namespaces=NS), 'Disconnected')
        # Nothing but Get, Delete, Reconnect and Connect on a disconnected shell.
        status, root = self.receive(shell_id, cid)
        self.assertEqual(fault_info(root)[1:3], ('w:InvalidParameter', '2150858810'))
        self.assertIn('disconnected', root.findtext('s:Body/s:Fault/s:Reason/s:Text', namespaces=NS))
        status, root = self.call(SH + 'Disconnect', '<rsp:Disconnect />', [('ShellId', shell_id)])
        self.assertEqual(status, 500)
        time.sleep(1.0)                     # pwsh writes 'x', 'y' meanwhile
        # The shell's commands, as pypsrp enumerates them before it connects.
        status, root = self.call('http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate',
                                 '<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements>'
                                 '<w:Filter Dialect="http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter">'
                                 '<w:SelectorSet><w:Selector Name="ShellId">%s</w:Selector></w:SelectorSet>'
                                 '</w:Filter></n:Enumerate>' % shell_id,
                                 uri='http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command')
        self.assertEqual(status, 200, fault_info(root))
        self.assertEqual([c.findtext('rsp:CommandId', namespaces=NS)
                          for c in root.iterfind('.//w:Items/rsp:Command', NS)], [cid])

        second = PsClient()
        second.rpid = uuid.UUID(shell_id)
        status, root = self.connect(shell_id, second)
        self.assertEqual(status, 200, fault_info(root))
        resp = root.find('s:Body/rsp:ConnectResponse', NS)
        self.assertEqual(resp.findtext('rsp:InputStreams', namespaces=NS), 'stdin pr')
        answer = second.feed(base64.b64decode(resp.findtext('{%s}connectResponseXml' % PSNS)))
        self.assertEqual([t for t, _p, _x in answer], [SESSION_CAPABILITY, RUNSPACEPOOL_INIT_DATA])
        self.assertEqual(state_of(answer[1][2], 'MaxRunspaces'), 1)
        self.assertEqual(self.shell_record(shell_id).findtext('rsp:State', namespaces=NS), 'Connected')
        # Connected now: a second Connect is refused.
        status, root = self.connect(shell_id, PsClient())
        self.assertEqual(status, 500)
        msgs = self.receive_until(second, shell_id, lambda m, r: any(t == RUNSPACEPOOL_STATE for t, _p, _x in m))
        self.assertEqual([t for t, _p, _x in msgs], [APPLICATION_PRIVATE_DATA, RUNSPACEPOOL_STATE])
        status, root = self.call(SH + 'Connect', '<rsp:Connect CommandId="%s" />' % cid, [('ShellId', shell_id)])
        self.assertEqual(status, 200, fault_info(root))
        self.assertIsNotNone(root.find('s:Body/rsp:ConnectResponse', NS))
        msgs = self.run_to_done(second, shell_id, cid)
        self.assertEqual([(t, x) for t, _p, x in msgs if t == PIPELINE_OUTPUT], [(PIPELINE_OUTPUT, '<S>x</S>'),
                                                                                  (PIPELINE_OUTPUT, '<S>y</S>')])
        self.assertEqual(state_of(msgs[-1][2], 'PipelineState'), 4)
        self.assertEqual(msgs[-1][0], PIPELINE_STATE)
        stats = self.ep.stats()
        self.assertEqual((stats['shells_disconnected'] - before.get('shells_disconnected', 0),
                          stats['shells_connected'] - before.get('shells_connected', 0)), (1, 1))
        self.delete(shell_id)

    def test_reconnect_and_idle_timeout_of_a_disconnected_shell(self):
        expired = self.ep.stats()['shells_expired']
        client = PsClient()
        shell_id, _root, _msgs = self.open_pool(client)
        self.assertEqual(self.call(SH + 'Disconnect', '<rsp:Disconnect />', [('ShellId', shell_id)])[0], 200)
        status, root = self.call(SH + 'Reconnect', '', [('ShellId', shell_id)])
        self.assertEqual(status, 200, fault_info(root))
        self.assertEqual(self.shell_record(shell_id).findtext('rsp:State', namespaces=NS), 'Connected')
        pid, cid = self.command(client, shell_id, "'after'")
        msgs = self.run_to_done(client, shell_id, cid)
        self.assertIn((PIPELINE_OUTPUT, pid, '<S>after</S>'), msgs)
        # The Disconnect's IdleTimeOut ends the shell (and pwsh) when nobody connects.
        status, root = self.call(SH + 'Disconnect', '<rsp:Disconnect><rsp:IdleTimeOut>PT1.000S</rsp:IdleTimeOut>'
                                 '</rsp:Disconnect>', [('ShellId', shell_id)])
        self.assertEqual(status, 200, fault_info(root))
        self.assertEqual(self.shell_record(shell_id).findtext('rsp:IdleTimeOut', namespaces=NS), 'PT1.000S')
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.ep.stats()['shells_expired'] < expired + 1:
            time.sleep(0.1)
        self.assertEqual(self.ep.stats()['shells_expired'], expired + 1)
        status, root = self.connect(shell_id, PsClient())
        self.assertEqual(fault_info(root)[1:3], ('w:InvalidSelectors', '2150858843'))


if __name__ == '__main__':
    unittest.main()
