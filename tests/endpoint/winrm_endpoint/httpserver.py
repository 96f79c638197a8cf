"""The HTTP(S) side: threaded HTTP/1.1 keep-alive server on 127.0.0.1, Basic auth,
Negotiate / Kerberos / NTLM with WinRM message encryption (gssauth.py, --auth negotiate),
the MaxEnvelopeSize request limit (413), Content-Type check, latency, fault injection
at the transport level, GET /stats and the /control endpoints.

Everything WS-Man is delegated to dispatch.App.handle(body, ctx).
"""

import base64
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVER_HEADER = 'Microsoft-HTTPAPI/2.0'
SOAP_CT = 'application/soap+xml;charset=UTF-8'
MAX_DRAIN = 256 * 1024 * 1024


class _CountingReader:
    """Wraps the socket reader to count wire bytes in."""

    def __init__(self, raw, stats):
        self._raw = raw
        self._stats = stats

    def read(self, n=-1):
        data = self._raw.read(n)
        self._stats.add('wire_bytes_in', len(data))
        return data

    def readline(self, limit=-1):
        data = self._raw.readline(limit)
        self._stats.add('wire_bytes_in', len(data))
        return data

    def close(self):
        self._raw.close()

    def __getattr__(self, name):
        return getattr(self._raw, name)


class _CountingWriter:
    def __init__(self, raw, stats):
        self._raw = raw
        self._stats = stats

    def write(self, data):
        self._stats.add('wire_bytes_out', len(data))
        return self._raw.write(data)

    def flush(self):
        return self._raw.flush()

    def close(self):
        self._raw.close()

    def __getattr__(self, name):
        return getattr(self._raw, name)


class EndpointServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, cfg, app, stats, injector, ssl_context=None, auth_config=None):
        self.cfg = cfg
        self.auth_config = auth_config   # gssauth.AuthConfig with --auth negotiate
        self.app = app
        self.stats = stats
        self.injector = injector
        self.ssl_context = ssl_context
        self.stopping = threading.Event()
        super().__init__(address, Handler)

    def get_request(self):
        sock, addr = super().get_request()
        self.stats.add('tcp_connections_accepted')
        if self.ssl_context is not None:
            # The handshake runs in the connection's own thread (Handler.setup) so a slow
            # or broken client cannot block the accept loop.
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        if self.cfg.verbose:
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = SERVER_HEADER
    sys_version = ''
    timeout = 120   # http.sys drops idle keep-alive connections after 2 minutes
    # Headers and body go out in two writes: without TCP_NODELAY the body
    # waits for the client's delayed ACK of the headers (40 ms on Linux).
    disable_nagle_algorithm = True

    def setup(self):
        self.kind = None
        # Extra listeners (listeners.py) are this handler's server too; None on the main port.
        self.listener = getattr(self.server, 'listener_index', None)
        self.behaviour = getattr(self.server, 'behaviour', 'healthy')
        self.in_flight = False
        self.gss = None
        self.omi = self.server.cfg.personality == 'omi'
        self.omi_authenticated = False    # OMI keeps the authentication per connection
        if self.server.auth_config is not None:
            from .gssauth import ConnectionAuth
            self.gss = ConnectionAuth(self.server.auth_config)
        if self.server.ssl_context is not None:
            self.request.settimeout(10)
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError):
                self.kind = 'broken'
        super().setup()
        self.rfile = _CountingReader(self.rfile, self.server.stats)
        self.wfile = _CountingWriter(self.wfile, self.server.stats)

    def handle(self):
        if self.kind == 'broken':
            return
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, socket.timeout, OSError):
            pass

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        self._uncount()
        if self.kind == 'wsman':
            self.server.stats.connection_closed(self.listener)

    def version_string(self):
        return SERVER_HEADER

    def send_response(self, code, message=None):
        # Before the first byte of the answer: the client cannot have seen it yet.
        self._uncount()
        if not self.omi:
            super().send_response(code, message)
            return
        # OMI sends neither Server nor Date.
        self.log_request(code)
        self.send_response_only(code, message)

    def handle_expect_100(self):
        if self.omi:
            # OMI ignores Expect: 100-continue (no interim answer; the client times out
            # its wait and sends the body anyway).
            return True
        return super().handle_expect_100()

    def log_message(self, fmt, *args):
        if self.server.cfg.verbose:
            super().log_message(fmt, *args)

    # ---- helpers ---------------------------------------------------------------------

    def _uncount(self):
        if self.in_flight:
            self.in_flight = False
            self.server.stats.request_ended(self.listener)

    def _classify(self, wsman):
        if self.kind is None:
            if wsman:
                self.kind = 'wsman'
                self.server.stats.connection_opened(self.listener)
            else:
                self.kind = 'control'
                self.server.stats.add('control_connections')

    def _read_body(self, limit=None):
        """Returns (body bytes or None if over the limit, length)."""
        if limit is None:
            limit = self.server.cfg.max_envelope_kb * 1024
        if self.headers.get('Transfer-Encoding', '').lower() == 'chunked':
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise ConnectionError('eof in chunked body')
                size = int(line.split(b';')[0].strip() or b'0', 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b'\r\n', b'\n', b''):
                        pass
                    break
                data = self.rfile.read(size)
                self.rfile.readline(8)
                total += len(data)
                if total <= limit:
                    chunks.append(data)
            return (b''.join(chunks) if total <= limit else None), total
        length = int(self.headers.get('Content-Length') or 0)
        if length > limit:
            if length > MAX_DRAIN:
                self.close_connection = True
                return None, length
            remaining = length
            while remaining > 0:
                data = self.rfile.read(min(remaining, 65536))
                if not data:
                    raise ConnectionError('eof in body')
                remaining -= len(data)
            return None, length
        data = self.rfile.read(length) if length else b''
        if len(data) != length:
            raise ConnectionError('eof in body')
        return data, length

    def _send(self, status, body=b'', content_type=SOAP_CT, headers=(), drip=False, cut=None):
        self.send_response(status)
        if body or status in (200, 500):
            if content_type:
                self.send_header('Content-Type', content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header('Content-Length', str(len(body)))
        if self.close_connection:
            self.send_header('Connection', 'close')
        elif self.omi:
            self.send_header('Connection', 'Keep-Alive')
        self.end_headers()
        stats = self.server.stats
        stats.count_in('http_status', str(status))
        stats.listener_count_in(self.listener, 'http_status', str(status))
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        if drip:
            for i in range(0, len(body), 64):
                self.wfile.write(body[i:i + 64])
                self.wfile.flush()
                time.sleep(0.05)
        else:
            self.wfile.write(body)
        stats.add('bytes_out', len(body))
        stats.maximum('largest_response_body', len(body))

    def _auth_ok(self, identify_unauth):
        cfg = self.server.cfg
        if self.behaviour == 'wrong-password' and not identify_unauth:
            return False    # a host whose password for the account is another one
        if cfg.auth != 'basic' or identify_unauth:
            return True
        header = self.headers.get('Authorization', '')
        if not header.lower().startswith('basic '):
            return False
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode('utf-8').partition(':')
        except (ValueError, UnicodeDecodeError):
            return False
        if user.lower() != cfg.user.lower() or password != cfg.password:
            return False
        return True

    def _drop(self):
        """Close the connection without an answer."""
        self._uncount()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _omi_auth(self):
        """--personality omi: True to go on. Without credentials (on a connection not yet
        authenticated) OMI sends nothing and closes after a while (about 60 s; here
        --omi-noauth-delay); a wrong password gets 401 with three challenges."""
        cfg = self.server.cfg
        if cfg.auth != 'basic':
            return True
        if self.headers.get('Authorization') is None:
            if self.omi_authenticated:
                return True
            self.server.stats.add('requests_without_credentials')
            self.server.stopping.wait(cfg.omi_noauth_delay)
            self._drop()
            return False
        if self._auth_ok(False):
            self.omi_authenticated = True
            return True
        self.omi_authenticated = False
        self.server.stats.add('auth_failures')
        self._send(401, b'', content_type=None,
                   headers=[('WWW-Authenticate', 'Basic realm="WSMAN"'),
                            ('WWW-Authenticate', 'Negotiate'), ('WWW-Authenticate', 'Kerberos')])
        return False

    def _send_401(self, count=True):
        if count:
            self.server.stats.add('auth_failures')
        if self.gss is not None:
            from .gssauth import CHALLENGES
            self._send(401, b'', content_type=None, headers=CHALLENGES)
            return
        self._send(401, b'', content_type=None, headers=[('WWW-Authenticate', 'Basic realm="WSMAN"')])

    def _negotiate(self, identify_unauth):
        """--auth negotiate: the Authorization header of this request, if any. Returns
        (proceed, extra response headers); when proceed is False the answer is sent."""
        from .gssauth import AuthError
        stats = self.server.stats
        gss = self.gss
        header = self.headers.get('Authorization')
        if header is None:
            if gss.complete or identify_unauth:
                return True, []
            # The first request of a handshake: not a failure, just the challenge.
            stats.add('auth_challenges')
            self._send_401(count=False)
            return False, []
        stats.add('auth_legs')
        try:
            res = gss.step(header)
        except AuthError as exc:
            if self.server.cfg.verbose:
                self.log_message('authentication failed: %s', exc)
            self._send_401()
            return False, []
        token = base64.b64encode(res.token).decode() if res.token else None
        if not res.complete:
            self._send(401, b'', content_type=None,
                       headers=[('WWW-Authenticate', '%s %s' % (res.scheme, token))])
            return False, []
        stats.add('auth_handshakes')
        stats.count_in('auth_by_mech', gss.mech)
        if getattr(gss, 'delegated', False):
            stats.add('auth_delegated')
        stats.maximum('handshakes_per_connection_max', gss.handshakes)
        return True, ([('WWW-Authenticate', '%s %s' % (res.scheme, token))] if token else [])

    # ---- verbs -----------------------------------------------------------------------

    def do_GET(self):
        path = self.path.split('?', 1)[0]
        if path == '/stats':
            self._classify(False)
            snap = self.server.stats.snapshot()
            snap['fault'] = self.server.injector.describe()
            snap.update(self.server.app.live_counts())
            body = json.dumps(snap, indent=1, sort_keys=True).encode()
            self.send_response(200)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self._classify(path.lower() == self.server.cfg.path)
        # WinRM's listener answers GET with 405.
        self._send(405, b'', content_type=None, headers=[('Allow', 'POST')])

    def do_POST(self):
        path = self.path.split('?', 1)[0]
        if path.startswith('/control/') or path == '/stats/reset':
            self._classify(False)
            self._control(path)
            return
        self._classify(path.lower() == self.server.cfg.path)
        self.in_flight = True
        self.server.stats.request_started(self.listener)
        try:
            self._post(path)
        finally:
            self._uncount()

    def _post(self, path):
        server = self.server
        stats = server.stats
        limit = server.cfg.max_envelope_kb * 1024
        if self.omi and self.headers.get('Transfer-Encoding', '').strip().lower() == 'chunked':
            # OMI reads no chunked request body: it closes the connection, no answer.
            stats.add('chunked_requests_refused')
            self._drop()
            return
        if self.gss is not None:
            from .gssauth import ENCRYPTION_OVERHEAD
            body, length = self._read_body(limit + ENCRYPTION_OVERHEAD)
        else:
            body, length = self._read_body()
        stats.add('bytes_in', length)
        stats.maximum('largest_request_body', length)
        if path.lower() != server.cfg.path:
            self._send(404, b'', content_type=None)
            return
        identify_unauth = self.headers.get('WSMANIDENTIFY', '').strip().lower() == 'unauthenticated'
        auth_headers = []
        encrypt = None
        if self.gss is not None:
            proceed, auth_headers = self._negotiate(identify_unauth)
            if not proceed:
                return
            body, encrypt = self._decrypt(body, identify_unauth, limit)
            if body is False:
                return
            if body == b'' and self.gss.complete:
                # The last leg of a handshake (or any empty POST once authenticated).
                self._send(200, b'', content_type=None, headers=auth_headers)
                return
        elif self.omi:
            if not self._omi_auth():
                return
        elif not self._auth_ok(identify_unauth):
            self._send_401()
            return
        if body is None:
            stats.add('envelopes_over_limit')
            self._send(413, b'', content_type=None)
            return
        ctype = self.headers.get('Content-Type', '').replace(' ', '').lower()
        if self.omi and ctype.startswith('text/xml'):
            pass    # OMI accepts text/xml too
        elif encrypt is None and not ctype.startswith('application/soap+xml'):
            self._send(415, b'', content_type=None)
            return
        scenario = server.injector.for_request()
        if scenario is not None and self._inject_early(scenario):
            return
        if server.cfg.latency_ms:
            time.sleep(server.cfg.latency_ms / 1000.0)
        if self.gss is not None and self.gss.complete:
            user = self.gss.user
        else:
            user = server.cfg.user if server.cfg.auth == 'basic' else 'anonymous'
        ctx = {
            'client_ip': self.client_address[0],
            'user': user,
            'identify_unauth': (identify_unauth and server.cfg.auth in ('basic', 'negotiate')
                                and not self.omi),
            'base_url': '%s://%s%s' % ('https' if server.ssl_context else 'http',
                                       self.headers.get('Host') or '127.0.0.1', server.cfg.path),
        }
        result = server.app.handle(body, ctx)
        stats.add('requests_total')
        stats.count_in('requests_by_action', result.action_label)
        stats.count_in('requests_by_kind', result.kind)
        if result.fault_subcode:
            stats.count_in('faults_by_subcode', result.fault_subcode)
        if result.limit and len(result.body) > result.limit:
            stats.add('responses_over_limit')
        self._respond(result, scenario, auth_headers, encrypt)

    def _decrypt(self, body, identify_unauth, limit):
        """--auth negotiate: (plaintext body, protocol to encrypt the answer with or None).
        body is False when the answer was sent (400 / 401 / 413)."""
        from .gssauth import UnwrapError, is_encrypted_content_type
        stats = self.server.stats
        ctype = self.headers.get('Content-Type', '')
        if body is not None and is_encrypted_content_type(ctype):
            try:
                plain, protocol = self.gss.unwrap(body, ctype)
            except UnwrapError as exc:
                if self.server.cfg.verbose:
                    self.log_message('cannot decrypt the request: %s', exc)
                stats.add('unwrap_failures')
                self._send(400, b'', content_type=None)
                return False, None
            stats.add('encrypted_requests')
            if len(plain) > limit:
                stats.add('envelopes_over_limit')
                self._send(413, b'', content_type=None)
                return False, None
            return plain, protocol
        if body is not None and len(body) > limit:
            return None, None
        if (body and self.gss.complete and not identify_unauth and self.server.ssl_context is None
                and not self.server.cfg.allow_unencrypted):
            # AllowUnencrypted=false: an authenticated plaintext envelope over http.
            stats.add('plaintext_refused')
            self._send_401(count=False)
            return False, None
        return body, None

    def _inject_early(self, scenario):
        """Scenarios that replace the answer entirely. True if the request is done."""
        if scenario == 'drop':
            self._uncount()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return True
        if scenario == 'stall':
            self.close_connection = True
            while not self.server.stopping.wait(0.2):
                pass
            return True
        if scenario == '500-empty':
            self._send(500, b'', content_type=None)
            return True
        if scenario == '500-not-xml':
            self._send(500, b'<html><body><h1>Internal Server Error</h1></body></html>',
                       content_type='text/html')
            return True
        if scenario == '503':
            self._send(503, b'', content_type=None)
            return True
        if scenario == '401':
            self._send_401()
            return True
        return False

    def _respond(self, result, scenario, headers=(), encrypt=None):
        body = result.body
        if scenario == 'truncated-xml':
            body = body[:len(body) // 2]
        enc = None
        if encrypt and body:
            # The answer goes back sealed with the request's protocol string.
            body, enc = self.gss.wrap(body, encrypt)
            self.server.stats.add('encrypted_responses')
        if scenario == 'truncated-xml':
            self._send(result.status, body, content_type=enc or SOAP_CT, headers=headers)
        elif scenario == 'slow-drip':
            self._send(result.status, body, content_type=enc or SOAP_CT, headers=headers, drip=True)
        elif scenario == 'wrong-content-type':
            self._send(result.status, body, content_type='text/html', headers=headers)
        elif scenario == 'drop-mid-body':
            self._send(result.status, body, content_type=enc or SOAP_CT, headers=headers,
                       cut=len(body) // 2)
        else:
            self._send(result.status, body, content_type=enc or (SOAP_CT if body else None),
                       headers=headers)

    def _control(self, path):
        length = int(self.headers.get('Content-Length') or 0)
        data = self.rfile.read(length).decode('utf-8', 'replace').strip() if length else ''
        if path == '/stats/reset':
            self.server.stats.reset()
            reply = b'{"reset": true}'
        elif path == '/control/fault':
            from .inject import parse_spec
            try:
                if data in ('', 'none'):
                    self.server.injector.configure(None)
                else:
                    self.server.injector.configure(*parse_spec(data))
            except ValueError as exc:
                body = json.dumps({'error': str(exc)}).encode()
                self.send_response(400)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            reply = json.dumps(self.server.injector.describe()).encode()
        else:
            self.send_response(404)
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
