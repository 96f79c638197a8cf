"""Extra listeners (--listeners N): one endpoint process playing many computers, each on
its own port of 127.0.0.1 with its own behaviour, for fan-out tests and benchmarks.

Behaviours (--listener-behaviour SPEC, in listener order; listeners left over are healthy):

  healthy         served like the main port
  down            the port is bound but never listened on: the port stays reserved (no other
                  process gets it) and a connection is refused at once (RST, ECONNREFUSED)
  stalling        connections are accepted and read, never answered, until the client closes
  wrong-password  401 for every credential (the configured account included), as a host whose
                  password differs; needs --auth basic or none
  slow[:MS]       MS ms (default 200) before each answer, like --latency
  quota           every WS-Man request but Identify gets w:QuotaLimit: a shell Create the
                  maximum-shells fault Windows sends (MSFT_WmiError 2150859173), anything else
                  the maximum-operations one (WSManFault 2150859174)

Each listener plays a computer of its own name, RMS-L0000042 for listener 42 (as long as
REMSESS-TEST, the main port's name, so no answer changes size): it replaces REMSESS-TEST in
every answer (CSName of Win32_OperatingSystem, SystemName, ...), and a WinRS shell created
through it gets COMPUTERNAME set to it (unless the client sets one), so a test can tell which
computer a result came from.

One thread accepts on every extra listener (selectors); a served connection gets a thread
of its own as on the main port (httpserver.Handler), a stalled one stays in the accepting
thread, so a thousand stalled clients cost no thousand threads.
"""

import copy
import re
import selectors
import socket
import threading

from . import faults
from .faults import WsmanFault, wsman_fault_detail

BEHAVIOURS = ('healthy', 'down', 'stalling', 'wrong-password', 'slow', 'quota')
SLOW_DEFAULT_MS = 200
BACKLOG = 512
# Windows: ERROR_WSMAN_QUOTA_MAX_OPERATIONS (0x803381A6). The text is an approximation.
MAX_OPERATIONS = 2150859174
MAX_OPERATIONS_PER_USER = 1500

_ITEM = re.compile(r'^(healthy|down|stalling|wrong-password|slow|quota)(?::(\d+))?(?:\*(\d+))?$')


def parse_behaviours(specs, count):
    """specs: strings of comma-separated BEHAVIOUR[:MS][*COUNT]. Returns a list of
    (behaviour, latency_ms) of length count. Raises ValueError."""
    out = []
    for spec in specs or ():
        for item in spec.split(','):
            item = item.strip()
            if not item:
                continue
            m = _ITEM.match(item)
            if not m:
                raise ValueError('--listener-behaviour: %r is not BEHAVIOUR[:MS][*COUNT] '
                                 '(behaviours: %s)' % (item, ', '.join(BEHAVIOURS)))
            name, ms, n = m.group(1), m.group(2), int(m.group(3) or 1)
            if ms is not None and name != 'slow':
                raise ValueError('--listener-behaviour: only slow takes :MS (%r)' % item)
            latency = int(ms) if ms is not None else (SLOW_DEFAULT_MS if name == 'slow' else 0)
            out.extend([(name, latency)] * n)
    if len(out) > count:
        raise ValueError('--listener-behaviour names %d listeners, --listeners is %d'
                         % (len(out), count))
    out.extend([('healthy', 0)] * (count - len(out)))
    return out


def operations_quota():
    text = ('The WS-Management service cannot process the request. This user is allowed a '
            'maximum number of %d concurrent operations, which has been exceeded. Close '
            'existing operations for this user, or raise the quota for this user. '
            % MAX_OPERATIONS_PER_USER)
    return WsmanFault('s:Sender', 'w:QuotaLimit', text,
                      wsman_fault_detail(MAX_OPERATIONS, faults.esc(text)))


MAIN_NAME = b'REMSESS-TEST'
_SHELL_TAG = re.compile(rb'<((?:[A-Za-z_][\w.-]*:)?)Shell(?:\s[^>]*[^/>])?>')


def computer_name(index):
    return 'RMS-L%07d' % index


class ListenerApp:
    """The App as one listener serves it: its computer name, and for a quota listener
    the quota fault Windows sends instead of every answer but Identify's."""

    def __init__(self, app, cfg, stats, index, quota):
        self.app = app
        self.cfg = cfg
        self.stats = stats
        self.name = computer_name(index).encode()
        self.quota = quota

    def _with_computername(self, data):
        m = _SHELL_TAG.search(data)
        if not m or b'"COMPUTERNAME"' in data:
            return data
        p = m.group(1)
        var = b'<%sVariable Name="COMPUTERNAME">%s</%sVariable>' % (p, self.name, p)
        env = b'<%sEnvironment>' % p
        at = data.find(env, m.end())
        if at >= 0:
            at += len(env)
        else:
            at = m.end()
            var = env + var + b'</%sEnvironment>' % p
        return data[:at] + var + data[at:]

    def handle(self, data, ctx):
        from .dispatch import App, Result, action_label
        from .soap import BadRequest, parse_request, q
        try:
            req = parse_request(data)
        except BadRequest:
            return self.app.handle(data, ctx)
        child = req.body_child()
        identify = child is not None and child.tag == q('wsmid', 'Identify')
        if identify or not self.quota:
            if (not identify and App.kind_of(req.resource_uri) == 'shell'
                    and action_label(req.action) == 'Create'):
                data = self._with_computername(data)
            result = self.app.handle(data, ctx)
            result.body = result.body.replace(MAIN_NAME, self.name)
            return result
        kind = App.kind_of(req.resource_uri)
        label = action_label(req.action)
        if kind == 'shell' and label == 'Create':
            fault = faults.shell_quota(self.cfg.max_shells_per_user)
        else:
            fault = operations_quota()
        self.stats.add('quota_faults')
        return Result(500, fault.envelope(req.message_id).encode('utf-8'), label, kind,
                      self.cfg.max_envelope_kb * 1024, fault.subcode)

    def live_counts(self):
        return self.app.live_counts()


class Listener:
    """What httpserver.Handler sees as its server for a connection of this listener."""

    def __init__(self, index, behaviour, latency_ms, main):
        self.index = index
        self.listener_index = index
        self.behaviour = behaviour
        self.cfg = copy.copy(main.cfg)
        if behaviour == 'slow':
            self.cfg.latency_ms = latency_ms
        self.stats = main.stats
        self.injector = main.injector
        self.ssl_context = main.ssl_context
        self.auth_config = main.auth_config
        self.stopping = main.stopping
        self.app = ListenerApp(main.app, self.cfg, main.stats, index, behaviour == 'quota')
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(('127.0.0.1', 0))
        if behaviour != 'down':
            self.sock.listen(BACKLOG)
            self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def describe(self):
        if self.behaviour == 'slow':
            return 'slow:%d' % self.cfg.latency_ms
        return self.behaviour

    def handle_error(self, request, client_address):
        pass


class Listeners:
    """The extra listeners and the thread that accepts on them."""

    def __init__(self, main, behaviours):
        self.main = main
        self.items = []
        for i, (name, latency) in enumerate(behaviours):
            self.items.append(Listener(i, name, latency, main))
            main.stats.add_listener(i, self.items[-1].port, self.items[-1].describe())
        self._thread = None
        self._stalled = {}   # socket -> listener index, and whether its request was counted

    def banner(self):
        lines = ['listeners %d\n' % len(self.items)]
        lines += ['listener %d %d %s\n' % (l.index, l.port, l.describe()) for l in self.items]
        return ''.join(lines)

    def start(self):
        self._thread = threading.Thread(target=self._run, name='listeners', daemon=True)
        self._thread.start()

    def close(self):
        if self._thread is not None:
            self._thread.join(5)
        for l in self.items:
            l.sock.close()
        for sock in list(self._stalled):
            sock.close()

    def _run(self):
        sel = selectors.DefaultSelector()
        for l in self.items:
            if l.behaviour != 'down':
                sel.register(l.sock, selectors.EVENT_READ, ('listen', l))
        stopping = self.main.stopping
        while not stopping.is_set():
            for key, _ev in sel.select(0.2):
                what, l = key.data
                if what == 'listen':
                    self._accept(sel, l)
                else:
                    self._stalled_read(sel, key.fileobj, l)
        sel.close()

    def _accept(self, sel, l):
        stats = self.main.stats
        for _ in range(64):
            try:
                sock, addr = l.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            stats.add('tcp_connections_accepted')
            stats.listener_add(l.index, 'tcp_connections_accepted')
            if l.behaviour == 'stalling':
                sock.setblocking(False)
                stats.connection_opened(l.index)
                self._stalled[sock] = False
                sel.register(sock, selectors.EVENT_READ, ('stalled', l))
                continue
            sock.setblocking(True)
            threading.Thread(target=self._serve, args=(sock, addr, l), daemon=True).start()

    def _stalled_read(self, sel, sock, l):
        stats = self.main.stats
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b''
        if data:
            if not self._stalled[sock]:
                # A request has come in and will never be answered: in flight until the
                # client gives up.
                self._stalled[sock] = True
                stats.request_started(l.index)
                stats.listener_add(l.index, 'requests_stalled')
            return
        sel.unregister(sock)
        if self._stalled.pop(sock):
            stats.request_ended(l.index)
        stats.connection_closed(l.index)
        sock.close()

    def _serve(self, sock, addr, l):
        from .httpserver import Handler
        if l.ssl_context is not None:
            try:
                sock = l.ssl_context.wrap_socket(sock, server_side=True,
                                                 do_handshake_on_connect=False)
            except (OSError, ValueError):
                sock.close()
                return
        try:
            Handler(sock, addr, l)
        except Exception:   # the connection's own trouble, never the endpoint's
            pass
        finally:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            sock.close()
