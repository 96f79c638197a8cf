"""The PowerShell plugin: WinRS shells on http://schemas.microsoft.com/powershell/<name>
backed by real pwsh, as Windows hands them to wsmprovhost.exe.

Each shell is one `pwsh -sshs -NoLogo -NoProfile` child over pipes, which speaks PSRP in the
OutOfProc framing (facts.md 3.7, fixtures/pwsh-7.6.10-ssh). This module bridges:

  Create (creationXml)        -> <Data PSGuid=0> with the creationXml bytes
  Send stdin / pr [CommandId] -> <Data Stream='Default'|'PromptResponse' PSGuid=PID|0>
  Command (Arguments)         -> <Command PSGuid=PID>, wait CommandAck, <Data PSGuid=PID>
  Signal powershell crtl_c    -> <Signal PSGuid=PID>, wait SignalAck
  Signal terminate            -> <Close PSGuid=PID>, wait CloseAck
  Delete                      -> <Close PSGuid=0>, wait CloseAck, end pwsh
  Receive [CommandId]         <- pwsh's <Data PSGuid=PID|0>, re-cut to fit the envelope
  Disconnect / Reconnect      (the plugin's own: pwsh runs on, its output is kept)
  Connect (connectXml)        (the plugin's own: answered from what pwsh said at the open)

Client Data lines are flow-controlled as the OutOfProc client does it: one line per PSGuid in
flight until pwsh's DataAck. The plugin reads pwsh's PSRP only to learn when a pipeline ends
(PIPELINE_STATE Stopped/Completed/Failed: CommandState Done, as Windows reports it) and when
it waits for a host response (PIPELINE_HOST_CALL: CommandState Pending, as Windows does).

Disconnect (MS-PSRP 3.1.5.3.16, MS-WSMV 3.1.4.15; pypsrp's recordings of Windows in
fixtures/jborean93-pypsrp: test_psrp_disconnect_runspaces, test_psrp_disconnected_commands):
pwsh's OutOfProc transport has no disconnect, so the plugin keeps the child running and
goes on reading it while no client is attached. Its output waits in the shell's queues up to
DISCONNECTED_BUFFER bytes; then the reader stops reading pwsh, whose writes then block
(BufferMode Block, the PowerShell default). The shell reports State Disconnected (Get,
Enumerate); an rsp:IdleTimeOut in the Disconnect replaces the shell's idle timeout, which
then ends it (and pwsh) if nobody connects. Reconnect (the same client) resumes. Connect
(any client of the same user) carries SESSION_CAPABILITY + CONNECT_RUNSPACEPOOL; pwsh
never sees them: the ConnectResponse carries what Windows sends (SESSION_CAPABILITY, and
RUNSPACEPOOL_INIT_DATA with the pool's runspaces), made from pwsh's own capability at the
open, and the pool stream then gives pwsh's APPLICATION_PRIVATE_DATA and RUNSPACEPOOL_STATE
Opened again. `Connect CommandId=` re-attaches a pipeline, whose Receive then gives what it
wrote meanwhile. Command, Send, Receive and Signal on a disconnected shell, and Connect to a
connected one, are faults (shell_state_fault: their exact Windows text is not recorded).
"""

import base64
import collections
import os
import queue
import re
import signal
import subprocess
import threading
import time

from . import faults, psrp, pscimfeed
from .soap import NS, esc, format_interval, format_seconds_ms

PREFIX = 'http://schemas.microsoft.com/powershell/'
STATE = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/'
COALESCE_S = 0.05
ACK_TIMEOUT_S = 30.0            # CommandAck / CloseAck
SIGNAL_TIMEOUT_S = 60.0         # the PowerShell client's own limit for a SignalAck
EXIT_WAIT_S = 5.0
STREAM_OVERHEAD = 100           # <rsp:Stream Name="stdout" CommandId="GUID"></rsp:Stream>
DISCONNECTED_BUFFER = 4 << 20   # bytes of output kept for a disconnected shell (Block beyond)
# ObjectIds of the messages the plugin makes itself (Connect): far above pwsh's own counter.
OWN_OBJECT_BASE = 1 << 48
DONE_XML = ('<rsp:CommandState CommandId="%s" State="%sDone"><rsp:ExitCode>0</rsp:ExitCode>'
            '</rsp:CommandState>')

_DATA = re.compile(r"^<Data Stream='(\w+)' PSGuid='([0-9A-Fa-f-]+)'>([^<]*)</Data>\s*$")
_ACK = re.compile(r"^<(\w+) PSGuid='([0-9A-Fa-f-]+)' ?/>\s*$")


def find_pwsh(explicit=None):
    """The pwsh to run: --pwsh, $RMS_PWSH, ~/.dotnet/tools/pwsh, pwsh on PATH; or None."""
    import shutil
    for cand in (explicit, os.environ.get('RMS_PWSH'), os.path.expanduser('~/.dotnet/tools/pwsh')):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return shutil.which('pwsh')


def configuration_of(resource_uri):
    return resource_uri[len(PREFIX):] if resource_uri.lower().startswith(PREFIX) else None


class Pipeline:
    """A PSRP pipeline = a WinRS command of a PowerShell shell."""

    def __init__(self, command_id):
        self.id = command_id
        self.guid = command_id.lower()
        self.finished = False         # its PIPELINE_STATE (terminal) has been queued
        self.done_delivered = False

    def kill(self):
        pass                          # pwsh goes with its shell


class PsShell:
    """Mixed into winrs.Shell: the pwsh process and the OutOfProc bridge."""

    def start_pwsh(self, pwsh, cwd, stats, feed=None):
        self.stats = stats
        self.cond = threading.Condition()
        self.out = {psrp.ZERO_GUID: collections.deque()}    # guid -> deque[(Fragment, Message|None)]
        self.reasm = {}
        self.refrag = {}
        self.inflight = {}
        self.pending_in = {}
        self.acks = collections.Counter()                   # (kind, guid) -> count
        self.dead = False
        self.closing = False
        self.stderr_tail = b''
        self.writes = queue.Queue()
        self.conn_state = 'Connected'   # or 'Disconnected' (rsp:State)
        self.own_object_id = OWN_OBJECT_BASE
        self.capability = None          # pwsh's SESSION_CAPABILITY (CLIXML), for a Connect
        self.private_data = None        # pwsh's APPLICATION_PRIVATE_DATA (CLIXML)
        self.runspaces = (1, 1)         # Min/MaxRunspaces of INIT_RUNSPACEPOOL
        env = dict(os.environ)
        env.update({'POWERSHELL_TELEMETRY_OPTOUT': '1', 'POWERSHELL_UPDATECHECK': 'Off',
                    'DOTNET_CLI_TELEMETRY_OPTOUT': '1', 'COMPUTERNAME': 'REMSESS-TEST',
                    'USERNAME': self.owner})
        if feed is not None:
            # Get-CimInstance (pwsh/CimCmdlets, autoloaded) reads the endpoint's CIM classes.
            env['RMS_PSCIM_SOCKET'] = feed.path
            env['PSModulePath'] = os.pathsep.join(
                p for p in (pscimfeed.MODULE_DIR, os.environ.get('PSModulePath')) if p)
        self.proc = subprocess.Popen([pwsh, '-sshs', '-NoLogo', '-NoProfile'], cwd=cwd, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        stats.add('pwsh_started')
        stats.add('pwsh_running')
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        threading.Thread(target=self._write, daemon=True).start()
        threading.Thread(target=self._wait, daemon=True).start()

    # ---- threads -------------------------------------------------------------------------

    def _write(self):
        while True:
            line = self.writes.get()
            if line is None:
                break
            try:
                self.proc.stdin.write(line.encode('utf-8'))
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                break
        try:
            self.proc.stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass

    def _wait(self):
        # ~/.dotnet/tools/pwsh is a launcher running `dotnet pwsh.dll` as its child: when the
        # launcher ends, whatever is left of the group goes too, so stdout reaches EOF.
        self.proc.wait()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _read_stderr(self):
        for chunk in iter(lambda: self.proc.stderr.read1(4096), b''):
            self.stderr_tail = (self.stderr_tail + chunk)[-4096:]

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode('utf-8', 'replace')
            m = _DATA.match(line)
            if m:
                self._on_data(m.group(2).lower(), m.group(3))
                continue
            m = _ACK.match(line)
            if m:
                kind, guid = m.group(1), m.group(2).lower()
                with self.cond:
                    if kind == 'DataAck':
                        self.inflight[guid] = False
                        self._pump(guid)
                    else:
                        self.acks[(kind, guid)] += 1
                    self.cond.notify_all()
            # Anything else (__NamedPipeError__ lines) is pwsh reporting its own trouble.
        code = self.proc.wait()
        with self.cond:
            self.dead = True
            self.cond.notify_all()
        self.stats.add('pwsh_running', -1)
        if not self.closing:
            self.stats.add('pwsh_died')
        self.writes.put(None)
        self.exit_code = code

    def _on_data(self, guid, b64):
        try:
            frags = psrp.split_fragments(base64.b64decode(b64))
        except ValueError:
            return
        with self.cond:
            # Block: with nobody attached and the buffer full, pwsh waits (its pipe fills).
            while (self.conn_state == 'Disconnected' and not self.closing
                   and self.queued_bytes() > DISCONNECTED_BUFFER):
                self.cond.wait(1.0)
            q = self.out.get(guid)
            if q is None:
                return                # a pipeline already terminated by the client
            reasm = self.reasm.setdefault(guid, psrp.Reassembler())
            for frag in frags:
                msg = reasm.feed(frag)
                q.append((frag, msg))
                if msg is not None and guid == psrp.ZERO_GUID:
                    if msg.type == psrp.SESSION_CAPABILITY and self.capability is None:
                        self.capability = msg.data
                    elif msg.type == psrp.APPLICATION_PRIVATE_DATA:
                        self.private_data = msg.data
                if msg is not None and msg.type == psrp.PIPELINE_STATE:
                    if msg.i32('PipelineState') in psrp.PIPELINE_FINISHED:
                        cmd = self.commands.get(guid.upper())
                        if cmd is not None:
                            cmd.finished = True
            self.cond.notify_all()

    def queued_bytes(self):
        """Bytes of output waiting for a client (self.cond held)."""
        return sum(len(frag.blob) for q in self.out.values() for frag, _ in q)

    # ---- disconnect / connect (self.cond held) --------------------------------------------

    def own_message(self, mtype, clixml, pid=psrp.ZERO_GUID):
        """A message of the plugin's own, as one whole fragment."""
        self.own_object_id += 1
        blob = psrp.pack_message(psrp.DEST_CLIENT, mtype, self.id.lower(), pid, clixml)
        return psrp.whole_fragment(self.own_object_id, blob)

    def connect_response(self, min_rs, max_rs):
        """connectResponseXml's fragments: SESSION_CAPABILITY and RUNSPACEPOOL_INIT_DATA
        (as in test_psrp_disconnect_runspaces.yml), and the pool stream primed with what a
        new client reads next: APPLICATION_PRIVATE_DATA and RUNSPACEPOOL_STATE Opened."""
        cap = self.own_message(psrp.SESSION_CAPABILITY, self.capability or (
            '<Obj RefId="0"><MS><Version N="protocolversion">2.3</Version><Version N="PSVersion">2.0'
            '</Version><Version N="SerializationVersion">1.1.0.1</Version></MS></Obj>'))
        init = self.own_message(psrp.RUNSPACEPOOL_INIT_DATA,
                                '<Obj RefId="0"><MS><I32 N="MinRunspaces">%d</I32><I32 N="MaxRunspaces">'
                                '%d</I32></MS></Obj>' % (min_rs, max_rs))
        q = self.out.setdefault(psrp.ZERO_GUID, collections.deque())
        if self.private_data is not None:
            q.append((self.own_message(psrp.APPLICATION_PRIVATE_DATA, self.private_data), None))
        q.append((self.own_message(psrp.RUNSPACEPOOL_STATE,
                                   '<Obj RefId="0"><MS><I32 N="RunspaceState">2</I32></MS></Obj>'), None))
        self.cond.notify_all()
        return cap.pack() + init.pack()

    # ---- towards pwsh (self.cond held) -----------------------------------------------------

    def _pump(self, guid):
        pending = self.pending_in.get(guid)
        if pending and not self.inflight.get(guid):
            self.inflight[guid] = True
            self.writes.put(pending.popleft())

    def queue_data(self, guid, data, stream='Default'):
        line = "<Data Stream='%s' PSGuid='%s'>%s</Data>\n" % (
            stream, guid, base64.b64encode(data).decode('ascii'))
        with self.cond:
            self.pending_in.setdefault(guid, collections.deque()).append(line)
            self._pump(guid)
        self.stats.add('stdin_bytes', len(data))

    def send_control(self, kind, guid, ack, timeout):
        """Writes <kind PSGuid=guid />, waits for <ack PSGuid=guid />; False on timeout/death."""
        self.writes.put("<%s PSGuid='%s' />\n" % (kind, guid))
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.acks[(ack, guid)] == 0:
                left = deadline - time.monotonic()
                if self.dead or left <= 0:
                    return False
                self.cond.wait(left)
            self.acks[(ack, guid)] -= 1
            return True

    # ---- lifecycle -------------------------------------------------------------------------

    def add_pipeline(self, pipeline):
        with self.cond:
            self.out[pipeline.guid] = collections.deque()
            self.commands[pipeline.id] = pipeline

    def drop_pipeline(self, pipeline):
        with self.cond:
            self.commands.pop(pipeline.id, None)
            self.out.pop(pipeline.guid, None)
            self.reasm.pop(pipeline.guid, None)
            self.refrag.pop(pipeline.guid, None)
            self.pending_in.pop(pipeline.guid, None)

    def close(self):
        """Delete: close the pool, let pwsh exit, make sure it did."""
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        if not self.dead:
            self.send_control('Close', psrp.ZERO_GUID, 'CloseAck', ACK_TIMEOUT_S / 3)
        self.writes.put(None)
        try:
            self.proc.wait(EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            self.kill_all()
            self.proc.wait()

    def kill_all(self):
        """Idle expiry and endpoint shutdown: no goodbyes."""
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    # ---- towards the client ----------------------------------------------------------------

    def take(self, guid, room, command_id=None):
        """Stream elements for queued output of guid within room bytes (self.cond held).

        Returns (parts, last whole message delivered or None). A fragment larger than what is
        left is cut in two (psrp.Refragmenter), so every answer carries whole PSRP fragments.
        """
        q = self.out.get(guid)
        refrag = self.refrag.setdefault(guid, psrp.Refragmenter())
        attr = ' CommandId="%s"' % command_id if command_id else ''
        parts = []
        used = 0
        last = None
        while q:
            frag, msg = q[0]
            budget = (room - used - STREAM_OVERHEAD) // 4 * 3 - psrp.FRAGMENT_HEADER
            if budget < 1 or (parts and budget < len(frag.blob) and budget < 1024):
                break
            piece, rest = refrag.take(frag, budget)
            if rest is None:
                q.popleft()
                if msg is not None:
                    last = msg
            else:
                q[0] = (rest, msg)
            text = '<rsp:Stream Name="stdout"%s>%s</rsp:Stream>' % (
                attr, base64.b64encode(piece.pack()).decode('ascii'))
            parts.append(text)
            used += len(text)
            self.stats.add('stdout_bytes', len(piece.blob))
            if rest is not None:
                break
        return parts, last

    def xml(self, details=False):
        now = time.monotonic()
        return ('<rsp:Shell xmlns:rsp="%s"><rsp:ShellId>%s</rsp:ShellId><rsp:ResourceUri>%s</rsp:ResourceUri>'
                '<rsp:Owner>%s</rsp:Owner><rsp:ClientIP>%s</rsp:ClientIP><rsp:ProcessId>%d</rsp:ProcessId>'
                '<rsp:IdleTimeOut>%s</rsp:IdleTimeOut><rsp:InputStreams>%s</rsp:InputStreams>'
                '<rsp:OutputStreams>%s</rsp:OutputStreams><rsp:MaxIdleTimeOut>PT2147483.647S</rsp:MaxIdleTimeOut>'
                '<rsp:Locale>en-US</rsp:Locale><rsp:DataLocale>en-US</rsp:DataLocale>'
                '<rsp:CompressionMode>NoCompression</rsp:CompressionMode><rsp:ProfileLoaded>Yes</rsp:ProfileLoaded>'
                '<rsp:Encoding>UTF8</rsp:Encoding><rsp:BufferMode>Block</rsp:BufferMode>'
                '<rsp:State>%s</rsp:State><rsp:ShellRunTime>%s</rsp:ShellRunTime>'
                '<rsp:ShellInactivity>%s</rsp:ShellInactivity>%s</rsp:Shell>'
                % (NS['rsp'], self.id, esc(self.resource_uri), esc(self.owner), esc(self.client_ip),
                   self.proc.pid, format_seconds_ms(self.idle_timeout),
                   esc(' '.join(self.input_streams or ['stdin', 'pr'])),
                   esc(' '.join(self.output_streams or ['stdout'])), self.conn_state,
                   format_interval(now - self.created), format_interval(now - self.last_used),
                   '<rsp:MemoryUsed>%dMB</rsp:MemoryUsed><rsp:ChildProcesses>0</rsp:ChildProcesses>'
                   % self.memory_mb() if details else ''))

    def memory_mb(self):
        try:
            with open('/proc/%d/status' % self.proc.pid) as fh:
                for line in fh:
                    if line.startswith('VmRSS:'):
                        return int(line.split()[1]) // 1024
        except (OSError, ValueError):
            pass
        return 0


def plugin_failed():
    # What Windows answers once wsmprovhost.exe has gone (WSManFault Code 1726, RPC_S_CALL_FAILED,
    # as clients quote it); the s:Subcode is not in any recording.
    text = ('The WSMan provider host process did not return a proper response.  A provider in '
            'the host process may have behaved improperly. ')
    return faults.WsmanFault('s:Receiver', 'w:InternalError', text,
                             faults.wsman_fault_detail(1726, esc(text)))


def unknown_shell():
    # pypsrp test_psrp_is_alive_invalid_selectors.yml: a Get on a PowerShell shell that is gone.
    inner = faults.wsman_fault_detail(faults.UNEXPECTED_SELECTORS, esc(faults.INVALID_SELECTORS_TEXT))
    msg = faults.provider_fault('Shell provider', r'%systemroot%\system32\WsmSvc.dll', inner)
    return faults.WsmanFault('s:Sender', 'w:InvalidSelectors', faults.INVALID_SELECTORS_TEXT,
                             faults.fault_detail_uri('UnexpectedSelectors')
                             + faults.wsman_fault_detail(faults.UNEXPECTED_SELECTORS, msg))


def shell_state_fault(text):
    # Windows refuses an operation that does not fit the shell's connection state with a
    # shell fault; the exact code and text of these answers are in no recording we have.
    return faults.WsmanFault('s:Sender', 'w:InvalidParameter', text,
                             faults.wsman_fault_detail(faults.INVALID_PARAMETER, esc(text)))


def disconnected_fault(shell):
    return shell_state_fault('The request for the Windows Remote Shell with ShellId %s failed because '
                             'the shell is disconnected. Reconnect to the shell (Reconnect or Connect) '
                             'and retry the operation. ' % shell.id)


class Plugin:
    """The WinRS operations on PowerShell shells; winrs.WinRS owns the shell table."""

    def __init__(self, winrs, pwsh, configurations):
        self.winrs = winrs
        self.pwsh = pwsh
        self.configurations = {c.lower() for c in configurations}
        self.feed = None
        self.feed_lock = threading.Lock()

    def cim_feed(self):
        """The CIM feed for Get-CimInstance in the pwsh children, made at the first shell."""
        with self.feed_lock:
            if self.feed is None and getattr(self.winrs, 'cim', None) is not None:
                self.feed = pscimfeed.Feed(self.winrs.cim, self.winrs.stats)
            return self.feed

    def close(self):
        if self.feed is not None:
            self.feed.close()

    def serves(self, resource_uri):
        name = configuration_of(resource_uri or '')
        return name is not None and name.lower() in self.configurations

    def handle(self, call):
        from .soap import A_SHELL, A_TRANSFER
        req = call.req
        action = req.action
        if action == A_TRANSFER + 'Create':
            return self.create(call)
        shell = self.find_shell(req)
        if action == A_TRANSFER + 'Get':
            return A_TRANSFER + 'GetResponse', shell.xml(details=True), 'shell'
        if action == A_TRANSFER + 'Delete':
            # A disconnected shell may be deleted as it is (Remove-PSSession).
            return self.winrs.delete(call)
        if action == A_SHELL + 'Disconnect':
            return self.disconnect(call, shell)
        if action == A_SHELL + 'Reconnect':
            return self.reconnect(call, shell)
        if action == A_SHELL + 'Connect':
            return self.connect(call, shell)
        if shell.conn_state != 'Connected':
            raise disconnected_fault(shell)
        if action == A_SHELL + 'Command':
            return self.command(call, shell)
        if action == A_SHELL + 'Send':
            return self.send(call, shell)
        if action == A_SHELL + 'Receive':
            return self.receive(call, shell)
        if action == A_SHELL + 'Signal':
            return self.signal(call, shell)
        raise faults.action_not_supported(action)

    def find_shell(self, req):
        try:
            shell = self.winrs.find_shell(req)
        except faults.WsmanFault:
            raise unknown_shell()
        if not isinstance(shell, PsShell):
            raise unknown_shell()
        return shell

    # ---- operations ------------------------------------------------------------------------

    def create(self, call):
        from .soap import A_TRANSFER, q, selector_set
        req = call.req
        body = req.body.find(q('rsp', 'Shell'))
        if body is None:
            raise faults.schema_validation('The Create body must be an rsp:Shell element. ')
        creation = body.find('{http://schemas.microsoft.com/powershell}creationXml')
        try:
            data = base64.b64decode((creation.text or '').strip(), validate=True) if creation is not None else b''
        except ValueError:
            raise faults.invalid_representation('The creationXml is not valid base64. ')
        shell = self.winrs.new_shell(call, body, powershell=True)
        try:
            shell.start_pwsh(self.pwsh, self.winrs.cfg.workdir, self.winrs.stats, self.cim_feed())
        except OSError as exc:
            self.winrs.forget_shell(shell)
            raise faults.shell_internal_error(faults.FILE_NOT_FOUND, '%s ' % exc.strerror)
        if data:
            try:
                for msg in psrp.messages_of(data):
                    if msg.type == psrp.INIT_RUNSPACEPOOL:
                        shell.runspaces = (msg.i32('MinRunspaces') or 1, msg.i32('MaxRunspaces') or 1)
            except ValueError:
                pass                  # pwsh says what is wrong with it
            shell.queue_data(psrp.ZERO_GUID, data)
        address = req.to or call.ctx['base_url']
        created = ('<x:ResourceCreated><a:Address>%s</a:Address><a:ReferenceParameters>'
                   '<w:ResourceURI>%s</w:ResourceURI>%s</a:ReferenceParameters></x:ResourceCreated>'
                   % (esc(address), esc(req.resource_uri), selector_set([('ShellId', shell.id)])))
        return A_TRANSFER + 'CreateResponse', created + shell.xml(), 'shell'

    def disconnect(self, call, shell):
        from .soap import A_SHELL, parse_duration, q
        body = call.req.body.find(q('rsp', 'Disconnect'))
        if body is None:
            raise faults.schema_validation('The Disconnect body must be an rsp:Disconnect element. ')
        if shell.dead:
            raise plugin_failed()
        idle = None
        el = body.find(q('rsp', 'IdleTimeOut'))
        if el is not None:
            idle = parse_duration((el.text or '').strip())
            if idle is None or idle <= 0:
                raise faults.invalid_parameter('The IdleTimeOut value %s is not valid. ' % el.text)
        with shell.cond:
            if shell.conn_state != 'Connected':
                raise shell_state_fault('The shell %s is already disconnected. ' % shell.id)
            shell.conn_state = 'Disconnected'
            if idle is not None:
                shell.idle_timeout = idle
            shell.cond.notify_all()   # a Receive still waiting ends
        shell.last_used = time.monotonic()
        self.winrs.stats.add('shells_disconnected')
        return A_SHELL + 'DisconnectResponse', '', 'shell'

    def reconnect(self, call, shell):
        from .soap import A_SHELL
        if shell.dead:
            raise plugin_failed()
        with shell.cond:
            # Windows answers a Reconnect of a connected shell too (pypsrp's
            # test_psrp_disconnected_commands.yml, after its Connect).
            if shell.conn_state == 'Disconnected':
                shell.conn_state = 'Connected'
                self.winrs.stats.add('shells_reconnected')
            shell.cond.notify_all()
        return A_SHELL + 'ReconnectResponse', '', 'shell'

    def connect(self, call, shell):
        from .soap import A_SHELL, q
        req = call.req
        body = req.body.find(q('rsp', 'Connect'))
        if body is None:
            raise faults.schema_validation('The Connect body must be an rsp:Connect element. ')
        if shell.dead:
            raise plugin_failed()
        if shell.owner != call.ctx['user']:
            raise faults.access_denied()
        cid = body.get('CommandId')
        if cid:
            # A pipeline of a shell this client has connected to: Receive it from here on.
            if shell.conn_state != 'Connected':
                raise disconnected_fault(shell)
            self.winrs.find_command(shell, cid)
            return A_SHELL + 'ConnectResponse', '<rsp:ConnectResponse/>', 'shell'
        xml = body.find('{http://schemas.microsoft.com/powershell}connectXml')
        try:
            data = base64.b64decode((xml.text or '').strip(), validate=True) if xml is not None else b''
            msgs = psrp.messages_of(data)
        except ValueError:
            raise faults.invalid_representation('The connectXml is not valid PSRP data. ')
        types = [m.type for m in msgs]
        if psrp.SESSION_CAPABILITY not in types or psrp.CONNECT_RUNSPACEPOOL not in types:
            raise faults.invalid_parameter('The connectXml must carry SESSION_CAPABILITY and '
                                           'CONNECT_RUNSPACEPOOL. ')
        with shell.cond:
            if shell.conn_state != 'Disconnected':
                raise shell_state_fault('The shell %s is connected to a client; a shell can be '
                                        'connected to only when it is disconnected. ' % shell.id)
            shell.conn_state = 'Connected'
            min_rs, max_rs = shell.runspaces
            answer = shell.connect_response(min_rs, max_rs)
        shell.last_used = time.monotonic()
        self.winrs.stats.add('shells_connected')
        return (A_SHELL + 'ConnectResponse',
                '<rsp:ConnectResponse><rsp:InputStreams>%s</rsp:InputStreams><rsp:OutputStreams>%s'
                '</rsp:OutputStreams><connectResponseXml xmlns="http://schemas.microsoft.com/powershell">'
                '%s</connectResponseXml></rsp:ConnectResponse>'
                % (esc(' '.join(shell.input_streams or ['stdin', 'pr'])),
                   esc(' '.join(shell.output_streams or ['stdout'])),
                   base64.b64encode(answer).decode('ascii')), 'shell')

    def command(self, call, shell):
        from .soap import A_SHELL, new_uuid, q
        req = call.req
        body = req.body.find(q('rsp', 'CommandLine'))
        if body is None:
            raise faults.schema_validation('The Command body must be an rsp:CommandLine element. ')
        try:
            data = b''.join(base64.b64decode((a.text or '').strip(), validate=True)
                            for a in body.findall(q('rsp', 'Arguments')))
        except ValueError:
            raise faults.invalid_representation('The Arguments are not valid base64. ')
        if shell.dead:
            raise plugin_failed()
        running = sum(1 for c in shell.commands.values() if not c.finished)
        if running >= self.winrs.cfg.max_commands:
            raise faults.command_quota(self.winrs.cfg.max_commands)
        pipeline = Pipeline((body.get('CommandId') or new_uuid()).upper())
        shell.add_pipeline(pipeline)
        if not shell.send_control('Command', pipeline.guid, 'CommandAck', ACK_TIMEOUT_S):
            shell.drop_pipeline(pipeline)
            raise plugin_failed()
        if data:
            shell.queue_data(pipeline.guid, data)
        self.winrs.stats.add('commands_run')
        self.winrs.stats.add('ps_pipelines')
        return (A_SHELL + 'CommandResponse',
                '<rsp:CommandResponse><rsp:CommandId>%s</rsp:CommandId></rsp:CommandResponse>' % pipeline.id,
                'shell')

    def send(self, call, shell):
        from .soap import A_SHELL, q
        body = call.req.body.find(q('rsp', 'Send'))
        if body is None:
            raise faults.schema_validation('The Send body must be an rsp:Send element. ')
        if shell.dead:
            raise plugin_failed()
        for stream in body.findall(q('rsp', 'Stream')):
            name = (stream.get('Name') or '').lower()
            if name not in ('stdin', 'pr'):
                raise faults.invalid_parameter('The stream %s is not an input stream of this shell. '
                                               % stream.get('Name'))
            cid = stream.get('CommandId')
            guid = self.winrs.find_command(shell, cid).guid if cid else psrp.ZERO_GUID
            try:
                data = base64.b64decode((stream.text or '').strip(), validate=True)
            except ValueError:
                raise faults.invalid_representation('The stream data is not valid base64. ')
            if data:
                shell.queue_data(guid, data, 'PromptResponse' if name == 'pr' else 'Default')
        return A_SHELL + 'SendResponse', '<rsp:SendResponse/>', 'shell'

    def signal(self, call, shell):
        from .soap import A_SHELL, q
        body = call.req.body.find(q('rsp', 'Signal'))
        if body is None:
            raise faults.schema_validation('The Signal body must be an rsp:Signal element. ')
        code_el = body.find(q('rsp', 'Code'))
        code = (code_el.text or '').strip() if code_el is not None else ''
        name = code.rsplit('/', 1)[-1].lower()
        pipeline = self.winrs.find_command(shell, body.get('CommandId'))
        self.winrs.stats.add('signals')
        # The PowerShell plugin compares the stop code as a string with
        # 'powershell/signal/crtl_c' (sic), exactly as PowerShell's client,
        # pypsrp and psrpcore send it; any other code closes the command.
        if code == 'powershell/signal/crtl_c':
            name = 'crtl_c'
        elif name in ('crtl_c', 'ctrl_c'):
            name = 'terminate'
        if name == 'terminate':
            if not shell.dead and not pipeline.done_delivered:
                shell.send_control('Close', pipeline.guid, 'CloseAck', ACK_TIMEOUT_S / 3)
            elif not shell.dead:
                shell.writes.put("<Close PSGuid='%s' />\n" % pipeline.guid)
            shell.drop_pipeline(pipeline)
        elif name == 'crtl_c':
            if shell.dead:
                raise plugin_failed()
            shell.send_control('Signal', pipeline.guid, 'SignalAck', min(SIGNAL_TIMEOUT_S, call.timeout))
        else:
            raise faults.invalid_parameter('The signal code %s is not supported. ' % code)
        return A_SHELL + 'SignalResponse', '<rsp:SignalResponse/>', 'shell'

    def receive(self, call, shell):
        from .soap import A_SHELL, envelope, q
        req = call.req
        body = req.body.find(q('rsp', 'Receive'))
        desired = body.find(q('rsp', 'DesiredStream')) if body is not None else None
        if desired is None:
            raise faults.schema_validation('The Receive body must hold rsp:DesiredStream. ')
        cid = desired.get('CommandId')
        pipeline = self.winrs.find_command(shell, cid) if cid else None
        guid = pipeline.guid if pipeline else psrp.ZERO_GUID
        skeleton = envelope(A_SHELL + 'ReceiveResponse', req.message_id,
                            '<rsp:ReceiveResponse>%s</rsp:ReceiveResponse>'
                            % (DONE_XML % (pipeline.id, STATE) if pipeline else ''), 'receive')
        room = call.limit - len(skeleton.encode())
        deadline = time.monotonic() + call.timeout
        with self.winrs.lock:
            shell.receiving += 1
        try:
            with shell.cond:
                def ready():
                    return (shell.out.get(guid) or shell.dead or shell.conn_state != 'Connected'
                            or (pipeline is not None and pipeline.finished))
                while not ready():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise faults.timed_out()
                    shell.cond.wait(left)
                # Let a burst (output + PIPELINE_STATE) go out in one answer, as from Windows.
                if shell.conn_state != 'Connected' and not shell.out.get(guid):
                    raise disconnected_fault(shell)
                end = min(deadline, time.monotonic() + COALESCE_S)
                while not (pipeline is not None and pipeline.finished) and not shell.dead \
                        and shell.conn_state == 'Connected' and time.monotonic() < end:
                    shell.cond.wait(end - time.monotonic())
                if pipeline is not None and pipeline.id not in shell.commands:
                    raise faults.unknown_command()
                parts, last = shell.take(guid, room, pipeline.id if pipeline else None)
                left_over = bool(shell.out.get(guid))
                shell.cond.notify_all()   # room again for a reader held back (Block)
                if not parts and shell.dead and not (pipeline is not None and pipeline.finished):
                    raise plugin_failed()
        finally:
            with self.winrs.lock:
                shell.receiving -= 1
                shell.last_used = time.monotonic()
        if pipeline is not None:
            if pipeline.finished and not left_over:
                parts.append(DONE_XML % (pipeline.id, STATE))
                pipeline.done_delivered = True
            elif (not left_over and last is not None and last.type == psrp.PIPELINE_HOST_CALL
                  and last.i64('ci') != -100):
                parts.append('<rsp:CommandState CommandId="%s" State="%sPending"></rsp:CommandState>'
                             % (pipeline.id, STATE))
        return (A_SHELL + 'ReceiveResponse', '<rsp:ReceiveResponse>%s</rsp:ReceiveResponse>' % ''.join(parts),
                'receive')
