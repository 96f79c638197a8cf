"""WinRS cmd shells backed by real local processes.

Create / Command / Send / Receive / Signal / Delete on
http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd, plus Get / Enumerate /
Delete on the shell-management URI .../windows/shell.

How a command line runs (documented in docs/testing.md):
  * the command line is rsp:Command and every rsp:Arguments joined with single spaces,
    as cmd.exe receives it; a leading "cmd /c " or "cmd.exe /c " is dropped (recorded
    clients wrap commands so), and the rest runs as /bin/sh -c LINE;
  * with WINRS_SKIP_CMD_SHELL=TRUE the command is executed directly (argv = Command +
    Arguments, no shell); a missing executable gets the Windows file-not-found fault.
Output is transcoded from UTF-8 to the shell's codepage (WINRS_CODEPAGE, default 437 as
on an en-US Windows host; 65001 = bytes unchanged) and sent base64 in rsp:Stream.
"""

import base64
import codecs
import os
import queue
import shutil
import signal
import subprocess
import threading
import time

from . import faults, psplugin, pscim
from .soap import A_SHELL, A_TRANSFER, A_ENUM, NS, envelope, esc, esc_attr, format_interval, \
    format_seconds_ms, new_uuid, parse_duration, q, selector_set

CMD_URI = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd'
MGMT_URI = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell'
STATE = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/'
SIGNAL_PREFIX = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/'
STATUS_CONTROL_C_EXIT = -1073741510    # 0xC000013A, the exit code of a process stopped by Ctrl+C
COALESCE_S = 0.02
STREAM_OVERHEAD = 160                  # <rsp:Stream Name= CommandId= End=> around each chunk


class Command:
    def __init__(self, shell, command_id, argv, line, env, cwd, stats):
        self.shell = shell
        self.id = command_id
        self.line = line
        self.stats = stats
        self.cond = threading.Condition()
        self.events = []              # [(stream, bytes)] in arrival order, not yet delivered
        self.exit_code = None
        self.finished = False         # process exited and both pipes drained
        self.done_delivered = False
        self.stdin_queue = queue.Queue()
        self.popen = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      start_new_session=True)
        self.readers = [threading.Thread(target=self._read, args=(self.popen.stdout, 'stdout'), daemon=True),
                        threading.Thread(target=self._read, args=(self.popen.stderr, 'stderr'), daemon=True)]
        for t in self.readers:
            t.start()
        threading.Thread(target=self._write_stdin, daemon=True).start()
        threading.Thread(target=self._wait, daemon=True).start()

    def _read(self, pipe, stream):
        decoder = codecs.getincrementaldecoder('utf-8')('replace') if self.shell.codec else None
        while True:
            data = os.read(pipe.fileno(), 65536)
            if decoder is not None:
                text = decoder.decode(data, final=not data)
                data_out = text.encode(self.shell.codec, 'replace')
            else:
                data_out = data
            if data_out:
                self.stats.add(stream + '_bytes', len(data_out))
                with self.cond:
                    self.events.append((stream, data_out))
                    self.cond.notify_all()
            if not data:
                break
        pipe.close()

    def _write_stdin(self):
        while True:
            item = self.stdin_queue.get()
            try:
                if item is None:
                    self.popen.stdin.close()
                    return
                self.popen.stdin.write(item)
                self.popen.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                # The process no longer reads its input; Windows drops such data too.
                if item is None:
                    return

    def _wait(self):
        code = self.popen.wait()
        for t in self.readers:
            t.join()
        if code < 0:
            code = STATUS_CONTROL_C_EXIT if -code == signal.SIGINT else 1
        with self.cond:
            self.exit_code = code
            self.finished = True
            self.cond.notify_all()
        self.stats.add('commands_running', -1)

    def send(self, data, end):
        if self.shell.codec:
            data = data.decode(self.shell.codec, 'replace').encode('utf-8')
        if data:
            self.stats.add('stdin_bytes', len(data))
            self.stdin_queue.put(data)
        if end:
            self.stdin_queue.put(None)

    def signal(self, sig):
        try:
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self):
        self.signal(signal.SIGKILL)
        self.stdin_queue.put(None)


class Shell:
    def __init__(self, shell_id, owner, client_ip, env, cwd, codepage, noprofile, idle_timeout,
                 input_streams, output_streams, env_order, resource_uri):
        self.id = shell_id
        self.owner = owner
        self.client_ip = client_ip
        self.env = env
        self.env_order = env_order
        self.cwd = cwd
        self.codepage = codepage
        self.codec = None if codepage == 65001 else 'cp%d' % codepage
        self.noprofile = noprofile
        self.idle_timeout = idle_timeout
        self.input_streams = input_streams
        self.output_streams = output_streams
        self.resource_uri = resource_uri
        self.created = time.monotonic()
        self.last_used = self.created
        self.commands = {}
        self.receiving = 0

    def kill_all(self):
        for cmd in list(self.commands.values()):
            cmd.kill()

    def close(self):
        self.kill_all()

    def xml(self, details=False):
        env = ''
        if self.env_order:
            env = '<rsp:Environment>%s</rsp:Environment>' % ''.join(
                '<rsp:Variable Name="%s">%s</rsp:Variable>' % (esc_attr(k), esc(v)) for k, v in self.env_order)
        now = time.monotonic()
        extra = ''
        if details:
            extra = ('<rsp:ProcessId>%d</rsp:ProcessId><rsp:State>Connected</rsp:State>'
                     '<rsp:ProfileLoaded>%s</rsp:ProfileLoaded><rsp:Encoding>UTF8</rsp:Encoding>'
                     '<rsp:BufferMode>Block</rsp:BufferMode>'
                     % (os.getpid(), 'No' if self.noprofile else 'Yes'))
        return ('<rsp:Shell xmlns:rsp="%s"><rsp:ShellId>%s</rsp:ShellId><rsp:ResourceUri>%s</rsp:ResourceUri>'
                '<rsp:Owner>%s</rsp:Owner><rsp:ClientIP>%s</rsp:ClientIP>%s'
                '<rsp:IdleTimeOut>%s</rsp:IdleTimeOut><rsp:InputStreams>%s</rsp:InputStreams>'
                '<rsp:OutputStreams>%s</rsp:OutputStreams>%s<rsp:ShellRunTime>%s</rsp:ShellRunTime>'
                '<rsp:ShellInactivity>%s</rsp:ShellInactivity></rsp:Shell>'
                % (NS['rsp'], self.id, esc(self.resource_uri), esc(self.owner), esc(self.client_ip), env,
                   format_seconds_ms(self.idle_timeout), esc(' '.join(self.input_streams)),
                   esc(' '.join(self.output_streams)), extra, format_interval(now - self.created),
                   format_interval(now - self.last_used)))


class PowerShellShell(psplugin.PsShell, Shell):
    """A shell on http://schemas.microsoft.com/powershell/<name>, backed by pwsh."""


class WinRS:
    def __init__(self, cfg, stats):
        self.cfg = cfg
        self.stats = stats
        self.cim = None               # the CimService, for PowerShell CIM scripts (pscim.py)
        self.lock = threading.Lock()
        self.shells = {}
        pwsh = None if getattr(cfg, 'no_powershell', False) else psplugin.find_pwsh(getattr(cfg, 'pwsh', None))
        self.powershell = psplugin.Plugin(self, pwsh, getattr(cfg, 'ps_configurations', None)
                                          or ['Microsoft.PowerShell']) if pwsh else None
        self._stop = threading.Event()
        threading.Thread(target=self._expire_loop, daemon=True).start()

    def close(self):
        self._stop.set()
        with self.lock:
            shells = list(self.shells.values())
            self.shells.clear()
        for shell in shells:
            self._kill_shell(shell)

    def live_counts(self):
        with self.lock:
            return {'shells_open': len(self.shells),
                    'commands_open': sum(len(s.commands) for s in self.shells.values())}

    def _expire_loop(self):
        while not self._stop.wait(0.25):
            now = time.monotonic()
            with self.lock:
                dead = [s for s in self.shells.values()
                        if s.receiving == 0 and now - s.last_used > s.idle_timeout]
                for shell in dead:
                    del self.shells[shell.id]
            for shell in dead:
                self.stats.add('shells_expired')
                self.stats.add('shells_open', -1)
                self._kill_shell(shell)

    @staticmethod
    def _kill_shell(shell):
        shell.kill_all()

    # ---- dispatch ----------------------------------------------------------------------

    def handle(self, call):
        req = call.req
        uri = req.resource_uri
        action = req.action
        if uri == MGMT_URI:
            if action == A_TRANSFER + 'Get':
                shell = self.find_shell(req)
                return A_TRANSFER + 'GetResponse', shell.xml(details=True), 'shell'
            if action == A_ENUM + 'Enumerate':
                with self.lock:
                    mine = [s for s in self.shells.values() if s.owner == call.ctx['user']]
                items = ''.join(s.xml(details=True) for s in mine)
                return (A_ENUM + 'EnumerateResponse',
                        '<n:EnumerateResponse><n:EnumerationContext></n:EnumerationContext><w:Items>%s'
                        '</w:Items><w:EndOfSequence/></n:EnumerateResponse>' % items, 'enum')
            if action == A_TRANSFER + 'Delete':
                return self.delete(call)
            raise faults.action_not_supported(action)
        if uri == MGMT_URI + '/Command':
            if action != A_ENUM + 'Enumerate':
                raise faults.action_not_supported(action)
            return self.enumerate_commands(call)
        if self.powershell is not None and self.powershell.serves(uri):
            return self.powershell.handle(call)
        if uri != CMD_URI:
            raise faults.resource_not_in_catalog(uri)
        if action == A_TRANSFER + 'Create':
            return self.create(call)
        if action == A_TRANSFER + 'Delete':
            return self.delete(call)
        if action == A_SHELL + 'Command':
            return self.command(call)
        if action == A_SHELL + 'Send':
            return self.send(call)
        if action == A_SHELL + 'Receive':
            return self.receive(call)
        if action == A_SHELL + 'Signal':
            return self.signal(call)
        raise faults.action_not_supported(action)

    def enumerate_commands(self, call):
        """A shell's commands, as pypsrp asks Windows for a disconnected shell's before it
        connects (Enumerate of .../windows/shell/Command with a SelectorFilter on ShellId;
        test_psrp_disconnected_commands.yml): CommandId, CommandLine, CommandState."""
        flt = call.req.body.find('%s/%s' % (q('n', 'Enumerate'), q('w', 'Filter')))
        shell_id = None
        if flt is not None:
            for sel in flt.iter(q('w', 'Selector')):
                if sel.get('Name') == 'ShellId':
                    shell_id = (sel.text or '').strip()
        if not shell_id:
            raise faults.invalid_parameter('The enumeration of commands needs a SelectorFilter on ShellId. ')
        with self.lock:
            shell = self.shells.get(shell_id.upper())
            if shell is None or shell.owner != call.ctx['user']:
                raise faults.unknown_shell(shell_id)
            cmds = list(shell.commands.values())
        items = ''.join('<rsp:Command xmlns:rsp="%s"><rsp:CommandId>%s</rsp:CommandId><rsp:CommandLine>%s'
                        '</rsp:CommandLine><rsp:CommandState>%s</rsp:CommandState></rsp:Command>'
                        % (NS['rsp'], c.id, esc(getattr(c, 'line', '') or ''),
                           'Done' if c.finished else 'Running') for c in cmds)
        return (A_ENUM + 'EnumerateResponse',
                '<n:EnumerateResponse><n:EnumerationContext></n:EnumerationContext>%s<w:EndOfSequence/>'
                '</n:EnumerateResponse>' % ('<w:Items>%s</w:Items>' % items if items else ''), 'enum')

    def find_shell(self, req):
        shell_id = req.selector('ShellId')
        with self.lock:
            shell = self.shells.get((shell_id or '').upper())
            if shell is not None:
                shell.last_used = time.monotonic()
        if shell is None:
            raise faults.unknown_shell(shell_id or '')
        return shell

    @staticmethod
    def find_command(shell, command_id):
        cmd = shell.commands.get((command_id or '').upper())
        if cmd is None:
            raise faults.unknown_command()
        return cmd

    # ---- operations --------------------------------------------------------------------

    def create(self, call):
        req = call.req
        body = req.body.find(q('rsp', 'Shell'))
        if body is None:
            raise faults.schema_validation('The Create body must be an rsp:Shell element. ')
        shell = self.new_shell(call, body)
        address = req.to or call.ctx['base_url']
        created = ('<x:ResourceCreated><a:Address>%s</a:Address><a:ReferenceParameters>'
                   '<w:ResourceURI>%s</w:ResourceURI>%s</a:ReferenceParameters></x:ResourceCreated>'
                   % (esc(address), CMD_URI, selector_set([('ShellId', shell.id)])))
        return A_TRANSFER + 'CreateResponse', created + shell.xml(), 'shell'

    def new_shell(self, call, body, powershell=False):
        """Checks the rsp:Shell body and the quota, registers and counts a new shell."""
        req = call.req

        def child(name):
            el = body.find(q('rsp', name))
            return (el.text or '').strip() if el is not None and el.text is not None else None
        inputs = (child('InputStreams') or '').split()
        outputs = (child('OutputStreams') or '').split()
        env_order = []
        env_el = body.find(q('rsp', 'Environment'))
        if env_el is not None:
            for var in env_el.findall(q('rsp', 'Variable')):
                env_order.append((var.get('Name', ''), var.text or ''))
        idle = self.cfg.shell_idle_timeout
        idle_text = child('IdleTimeOut')
        if idle_text is not None:
            idle = parse_duration(idle_text)
            if idle is None or idle <= 0:
                raise faults.invalid_parameter('The IdleTimeOut value %s is not valid. ' % idle_text)
        codepage = self.cfg.codepage
        if 'WINRS_CODEPAGE' in req.options:
            try:
                codepage = int(req.options['WINRS_CODEPAGE'])
                if codepage != 65001:
                    codecs.lookup('cp%d' % codepage)
            except (ValueError, LookupError):
                raise faults.invalid_options('The WinRS code page %s is not valid. '
                                             % req.options['WINRS_CODEPAGE'])
        user = call.ctx['user']
        cls = PowerShellShell if powershell else Shell
        with self.lock:
            mine = sum(1 for s in self.shells.values() if s.owner == user)
            if mine >= self.cfg.max_shells_per_user:
                raise faults.shell_quota(self.cfg.max_shells_per_user)
            shell_id = (body.get('ShellId') or new_uuid()).upper()
            shell = cls(shell_id, user, call.ctx['client_ip'], dict(env_order), child('WorkingDirectory'),
                        codepage, req.option_true('WINRS_NOPROFILE'), idle, inputs, outputs, env_order,
                        req.resource_uri)
            self.shells[shell_id] = shell
        self.stats.add('shells_created')
        self.stats.add('shells_open')
        return shell

    def forget_shell(self, shell):
        with self.lock:
            if self.shells.get(shell.id) is shell:
                del self.shells[shell.id]
                self.stats.add('shells_open', -1)

    def delete(self, call):
        shell = self.find_shell(call.req)
        with self.lock:
            self.shells.pop(shell.id, None)
        shell.close()
        self.stats.add('shells_deleted')
        self.stats.add('shells_open', -1)
        return A_TRANSFER + 'DeleteResponse', '', 'delete'

    def command(self, call):
        req = call.req
        shell = self.find_shell(req)
        body = req.body.find(q('rsp', 'CommandLine'))
        if body is None:
            raise faults.schema_validation('The Command body must be an rsp:CommandLine element. ')
        cmd_el = body.find(q('rsp', 'Command'))
        command = (cmd_el.text or '') if cmd_el is not None else ''
        args = [(a.text or '') for a in body.findall(q('rsp', 'Arguments'))]
        running = sum(1 for c in shell.commands.values() if not c.finished)
        if running >= self.cfg.max_commands:
            raise faults.command_quota(self.cfg.max_commands)
        cwd = shell.cwd or self.cfg.workdir
        if not os.path.isdir(cwd):
            raise faults.shell_internal_error(faults.DIRECTORY_INVALID, 'The directory name is invalid. ')
        if req.option_true('WINRS_SKIP_CMD_SHELL'):
            exe = shutil.which(command.strip())
            if not exe:
                raise faults.shell_internal_error(faults.FILE_NOT_FOUND,
                                                  'The system cannot find the file specified. ')
            argv = [exe] + args
            line = ' '.join([command] + args)
        else:
            line = ' '.join([command.strip()] + args).strip()
            low = line.lower()
            for prefix in ('cmd.exe /c ', 'cmd /c '):
                if low.startswith(prefix):
                    line = line[len(prefix):]
                    break
            argv = ['/bin/sh', '-c', line]
        env = {
            'PATH': '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
            'HOME': self.cfg.workdir, 'LANG': 'C.UTF-8', 'USERNAME': shell.owner,
            'COMPUTERNAME': 'REMSESS-TEST',
            'USERPROFILE': r'C:\Users\Default' if shell.noprofile else 'C:\\Users\\%s' % shell.owner,
        }
        env.update(shell.env)
        command_id = (body.get('CommandId') or new_uuid()).upper()
        try:
            if pscim.is_powershell(line) and self.cim is not None:
                # No PowerShell here: play remsess's CIM script (pscim.py), or fail as a
                # host without PowerShell's CIM cmdlets would.
                try:
                    cmd = pscim.PsCimCommand(shell, command_id, line, pscim.parse_request(line),
                                             self.cim, self.stats)
                except pscim.NotRemsessScript as exc:
                    cmd = pscim.NoPowerShellCommand(shell, command_id, line, str(exc), self.stats)
            else:
                cmd = Command(shell, command_id, argv, line, env, cwd, self.stats)
        except OSError as exc:
            raise faults.shell_internal_error(faults.FILE_NOT_FOUND, '%s ' % exc.strerror)
        shell.commands[command_id] = cmd
        self.stats.add('commands_run')
        self.stats.add('commands_running')
        return (A_SHELL + 'CommandResponse',
                '<rsp:CommandResponse><rsp:CommandId>%s</rsp:CommandId></rsp:CommandResponse>' % command_id,
                'shell')

    def send(self, call):
        req = call.req
        shell = self.find_shell(req)
        body = req.body.find(q('rsp', 'Send'))
        if body is None:
            raise faults.schema_validation('The Send body must be an rsp:Send element. ')
        for stream in body.findall(q('rsp', 'Stream')):
            cmd = self.find_command(shell, stream.get('CommandId'))
            try:
                data = base64.b64decode((stream.text or '').strip(), validate=True)
            except ValueError:
                raise faults.invalid_representation('The stream data is not valid base64. ')
            cmd.send(data, (stream.get('End') or '').lower() == 'true')
        return A_SHELL + 'SendResponse', '<rsp:SendResponse/>', 'shell'

    def signal(self, call):
        req = call.req
        shell = self.find_shell(req)
        body = req.body.find(q('rsp', 'Signal'))
        if body is None:
            raise faults.schema_validation('The Signal body must be an rsp:Signal element. ')
        code_el = body.find(q('rsp', 'Code'))
        code = (code_el.text or '').strip() if code_el is not None else ''
        name = code.rsplit('/', 1)[-1].lower()
        cmd = self.find_command(shell, body.get('CommandId'))
        self.stats.add('signals')
        if name == 'terminate':
            cmd.kill()
            shell.commands.pop(cmd.id, None)
        elif name == 'ctrl_c':
            cmd.signal(signal.SIGINT)
        elif name == 'ctrl_break':
            cmd.signal(signal.SIGTERM)
        else:
            raise faults.invalid_parameter('The signal code %s is not supported. ' % code)
        return A_SHELL + 'SignalResponse', '<rsp:SignalResponse/>', 'shell'

    def receive(self, call):
        req = call.req
        shell = self.find_shell(req)
        body = req.body.find(q('rsp', 'Receive'))
        desired = body.find(q('rsp', 'DesiredStream')) if body is not None else None
        if desired is None:
            raise faults.schema_validation('The Receive body must hold rsp:DesiredStream. ')
        cmd = self.find_command(shell, desired.get('CommandId'))
        wanted = (desired.text or 'stdout stderr').split()
        skeleton = envelope(A_SHELL + 'ReceiveResponse', req.message_id,
                            '<rsp:ReceiveResponse><rsp:CommandState CommandId="%s" State="%sRunning">'
                            '<rsp:ExitCode>-2147483648</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>'
                            % (cmd.id, STATE), 'receive')
        room = call.limit - len(skeleton.encode()) - STREAM_OVERHEAD * 2
        deadline = time.monotonic() + call.timeout
        with self.lock:
            shell.receiving += 1
        try:
            with cmd.cond:
                while not cmd.events and not cmd.finished:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise faults.timed_out()
                    cmd.cond.wait(left)
                # Give a process that is about to write more or exit a moment, so output and
                # completion tend to arrive in one response as they do from Windows.
                end = min(deadline, time.monotonic() + COALESCE_S)
                while not cmd.finished and time.monotonic() < end:
                    cmd.cond.wait(end - time.monotonic())
                parts, left_over = self._take(cmd, wanted, room)
                # A writer held back by a full pipe (pscim's back-pressure) may go on.
                cmd.cond.notify_all()
                finished = cmd.finished and not left_over
                exit_code = cmd.exit_code
        finally:
            with self.lock:
                shell.receiving -= 1
                shell.last_used = time.monotonic()
        if finished:
            for stream in wanted:
                if stream in shell.output_streams or not shell.output_streams:
                    parts.append('<rsp:Stream Name="%s" CommandId="%s" End="true"></rsp:Stream>'
                                 % (esc_attr(stream), cmd.id))
            parts.append('<rsp:CommandState CommandId="%s" State="%sDone"><rsp:ExitCode>%d</rsp:ExitCode>'
                         '</rsp:CommandState>' % (cmd.id, STATE, exit_code))
            cmd.done_delivered = True
        else:
            parts.append('<rsp:CommandState CommandId="%s" State="%sRunning"/>' % (cmd.id, STATE))
        return (A_SHELL + 'ReceiveResponse', '<rsp:ReceiveResponse>%s</rsp:ReceiveResponse>' % ''.join(parts),
                'receive')

    @staticmethod
    def _take(cmd, wanted, room):
        """Stream elements for the pending output that fit in room bytes (cmd.cond held)."""
        parts = []
        used = 0
        while cmd.events:
            stream, data = cmd.events[0]
            if stream not in wanted:
                cmd.events.pop(0)
                continue
            budget = (room - used - STREAM_OVERHEAD) // 4 * 3
            if budget <= 0:
                break
            chunk, rest = data[:budget], data[budget:]
            text = '<rsp:Stream Name="%s" CommandId="%s">%s</rsp:Stream>' % (
                stream, cmd.id, base64.b64encode(chunk).decode('ascii'))
            parts.append(text)
            used += len(text)
            if rest:
                cmd.events[0] = (stream, rest)
                break
            cmd.events.pop(0)
        return parts, bool(cmd.events)
