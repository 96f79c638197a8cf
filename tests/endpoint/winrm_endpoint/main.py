"""Command line, startup and shutdown of the test endpoint."""

import argparse
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading

from .inject import Injector, SCENARIOS, parse_spec
from .stats import Stats


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog='tests/endpoint/run',
        description='WinRM-compatible test endpoint (WS-Man CIM, WinRS cmd shell, PowerShell '
                    'plugin with real pwsh) on 127.0.0.1.',
        epilog='fault scenarios: ' + '; '.join('%s: %s' % kv for kv in sorted(SCENARIOS.items())))
    ap.add_argument('--port', type=int, default=0, help='TCP port (0 = pick a free one)')
    ap.add_argument('--path', default='/wsman', help='URL path (default /wsman)')
    ap.add_argument('--tls', action='store_true', help='HTTPS with a self-signed certificate')
    ap.add_argument('--cert', help='PEM certificate for --tls (default: generated)')
    ap.add_argument('--key', help='PEM private key for --tls')
    ap.add_argument('--auth', choices=('none', 'basic', 'negotiate'), default='none',
                    help='negotiate: Negotiate (SPNEGO or raw NTLM / krb5 tokens) and Kerberos '
                         'logins through GSSAPI, with WinRM message encryption, like a default '
                         'Windows host; KRB5_CONFIG comes from the environment')
    ap.add_argument('--keytab', metavar='PATH',
                    help='--auth negotiate: keytab with the HTTP/<host> key (sets KRB5_KTNAME)')
    ap.add_argument('--ntlm-user-file', metavar='PATH',
                    help='--auth negotiate: gss-ntlmssp user file, DOMAIN:USER:PASSWORD lines '
                         '(sets NTLM_USER_FILE)')
    ap.add_argument('--allow-unencrypted', action='store_true',
                    help='--auth negotiate: accept plaintext envelopes from authenticated clients '
                         'over http (AllowUnencrypted=true); default: 401')
    ap.add_argument('--cbt', choices=('none', 'relaxed', 'strict'), default='relaxed',
                    help='--auth negotiate with --tls: channel binding (CbtHardeningLevel); '
                         'relaxed checks bindings a client sends, strict also refuses clients '
                         'that send none')
    ap.add_argument('--final-token', choices=('send', 'omit', 'tamper'), default='send',
                    help='--auth negotiate: the token that completes a login (Kerberos\' AP-REP, '
                         'which proves the server to the client): sent as Windows sends it, '
                         'left out, or sent with one byte changed (mutual-authentication tests)')
    ap.add_argument('--user', default='vagrant')
    ap.add_argument('--password', default='vagrant')
    ap.add_argument('--max-envelope-kb', type=int, default=500,
                    help='MaxEnvelopeSizekb: larger requests get 413, responses are batched to fit')
    ap.add_argument('--max-batch', type=int, default=32000, help='MaxBatchItems per Enumerate/Pull')
    ap.add_argument('--instances', type=int, default=1000, help='instances of the X_Number class')
    ap.add_argument('--config-access-denied', action='store_true',
                    help='answer the winrm/config resource with w:AccessDenied, as Windows does '
                         'for a user who is not an administrator')
    ap.add_argument('--no-shell', action='store_true',
                    help='no WinRS / PowerShell endpoint (CIM only)')
    ap.add_argument('--pwsh', metavar='PATH',
                    help='pwsh for the PowerShell plugin (default: $RMS_PWSH, ~/.dotnet/tools/pwsh, '
                         'pwsh on PATH; none found = no PowerShell endpoint)')
    ap.add_argument('--no-powershell', action='store_true',
                    help='no PowerShell endpoint even if pwsh is installed')
    ap.add_argument('--ps-configuration', action='append', dest='ps_configurations', metavar='NAME',
                    help='a session configuration served by the PowerShell plugin '
                         '(repeatable; default Microsoft.PowerShell)')
    ap.add_argument('--latency', type=int, default=0, metavar='MS', help='delay before each answer')
    ap.add_argument('--fault', metavar='SCENARIO[:AFTER[:COUNT]]', help='fault injection')
    ap.add_argument('--enum-timeout', type=float, default=240.0,
                    help='seconds an enumeration context lives between Pulls (EnumerationTimeoutms)')
    ap.add_argument('--shell-idle-timeout', type=float, default=7200.0,
                    help='default shell IdleTimeOut in seconds')
    ap.add_argument('--max-shells-per-user', type=int, default=30)
    ap.add_argument('--max-commands', type=int, default=25,
                    help='maximum concurrent commands per shell')
    ap.add_argument('--codepage', type=int, default=437,
                    help='codepage a shell uses when the client sends no WINRS_CODEPAGE')
    ap.add_argument('--personality', choices=('windows', 'omi'), default='windows',
                    help='windows (default): a Windows WinRM host; omi: an OMI 1.9.1 CIM server '
                         '(CIM only, __cimnamespace mandatory, OMI envelopes and faults; '
                         'shared/protocol/omi.md)')
    ap.add_argument('--omi-noauth-delay', type=float, default=2.0, metavar='S',
                    help='--personality omi with --auth basic: seconds before a request without '
                         'credentials is answered by closing the connection (OMI: about 60)')
    ap.add_argument('--listeners', type=int, default=0, metavar='N',
                    help='N more ports on 127.0.0.1, each playing a computer of its own '
                         '(listeners.py); after the first line, stdout gives "listeners N" '
                         'then one "listener INDEX PORT BEHAVIOUR" line each')
    ap.add_argument('--listener-behaviour', action='append', dest='listener_specs',
                    metavar='SPEC',
                    help='behaviours of the --listeners in order, comma-separated '
                         'BEHAVIOUR[:MS][*COUNT] (healthy, down, stalling, wrong-password, '
                         'slow[:MS], quota); repeatable; the rest are healthy')
    ap.add_argument('--verbose', action='store_true', help='log requests on stderr')
    cfg = ap.parse_args(argv)
    if not cfg.path.startswith('/'):
        cfg.path = '/' + cfg.path
    cfg.path = cfg.path.lower()
    cfg.latency_ms = cfg.latency
    if cfg.max_envelope_kb < 32:
        ap.error('--max-envelope-kb must be at least 32 (the WinRM minimum)')
    if cfg.max_batch < 1:
        ap.error('--max-batch must be at least 1')
    if cfg.instances < 0:
        ap.error('--instances must be >= 0')
    if bool(cfg.cert) != bool(cfg.key):
        ap.error('--cert and --key go together')
    if cfg.auth != 'negotiate' and (cfg.keytab or cfg.ntlm_user_file):
        ap.error('--keytab and --ntlm-user-file go with --auth negotiate')
    for path in (cfg.keytab, cfg.ntlm_user_file):
        if path and not os.path.isfile(path):
            ap.error('%s: no such file' % path)
    if cfg.personality == 'omi':
        if cfg.auth == 'negotiate':
            ap.error('--personality omi supports --auth none or basic')
        # OMI serves CIM only: no WinRS, no PowerShell plugin.
        cfg.no_shell = True
        cfg.no_powershell = True
    if cfg.omi_noauth_delay < 0:
        ap.error('--omi-noauth-delay must be >= 0')
    if cfg.listeners < 0 or cfg.listeners > 20000:
        ap.error('--listeners must be between 0 and 20000')
    if cfg.listener_specs and not cfg.listeners:
        ap.error('--listener-behaviour goes with --listeners')
    from .listeners import parse_behaviours
    try:
        cfg.listener_behaviours = parse_behaviours(cfg.listener_specs, cfg.listeners)
    except ValueError as exc:
        ap.error(str(exc))
    if cfg.auth == 'negotiate' and any(b == 'wrong-password' for b, _ in cfg.listener_behaviours):
        ap.error('wrong-password listeners need --auth basic or none')
    cfg.fault_spec = None
    if cfg.fault:
        try:
            cfg.fault_spec = parse_spec(cfg.fault)
        except ValueError as exc:
            ap.error(str(exc))
    return cfg


def make_certificate(tmpdir):
    cert = os.path.join(tmpdir, 'cert.pem')
    key = os.path.join(tmpdir, 'key.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key,
                    '-out', cert, '-days', '2', '-subj', '/CN=localhost',
                    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def main(argv):
    cfg = parse_args(argv)
    if cfg.personality == 'omi':
        from .omi import OmiApp as App
    else:
        from .dispatch import App
    from .httpserver import EndpointServer

    tmpdir = tempfile.mkdtemp(prefix='remsess-endpoint-')
    cfg.workdir = tmpdir
    if cfg.auth == 'negotiate':
        # Read by MIT krb5 and gss-ntlmssp when the acceptor runs; the replay cache goes
        # into our own directory rather than /var/tmp.
        if cfg.keytab:
            os.environ['KRB5_KTNAME'] = os.path.abspath(cfg.keytab)
        if cfg.ntlm_user_file:
            os.environ['NTLM_USER_FILE'] = os.path.abspath(cfg.ntlm_user_file)
        os.environ.setdefault('KRB5RCACHEDIR', tmpdir)
    stats = Stats()
    injector = Injector()
    if cfg.fault_spec:
        injector.configure(*cfg.fault_spec)
    app = App(cfg, stats, injector)
    ssl_context = None
    if cfg.tls:
        cert, key = (cfg.cert, cfg.key) if cfg.cert else make_certificate(tmpdir)
        ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_context.load_cert_chain(cert, key)
        cfg.cert_path = cert
    auth_config = None
    if cfg.auth == 'negotiate':
        from .gssauth import AuthConfig
        cert_der = None
        if cfg.tls:
            with open(cfg.cert_path) as f:
                pem = f.read()
            end = '-----END CERTIFICATE-----'
            first = pem[pem.index('-----BEGIN CERTIFICATE-----'):pem.index(end) + len(end)]
            cert_der = ssl.PEM_cert_to_DER_cert(first)
        auth_config = AuthConfig(cfg.cbt, cert_der, cfg.final_token)
    server = EndpointServer(('127.0.0.1', cfg.port), cfg, app, stats, injector, ssl_context,
                            auth_config)
    port = server.server_address[1]
    listeners = None
    if cfg.listeners:
        from .listeners import Listeners
        listeners = Listeners(server, cfg.listener_behaviours)
    scheme = 'https' if cfg.tls else 'http'
    # One write: a launcher may read the first line and close its end (a
    # second write would then die of a broken pipe).
    banner = 'listening %s://127.0.0.1:%d%s\n' % (scheme, port, cfg.path)
    if cfg.tls:
        banner += 'certificate %s\n' % cfg.cert_path
    if listeners is not None:
        banner += listeners.banner()
        listeners.start()
    try:
        sys.stdout.write(banner)
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    # Nothing more goes to stdout; whatever would is dropped, not fatal.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)

    def stop(signum, frame):
        server.stopping.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.stopping.set()
        server.server_close()
        if listeners is not None:
            listeners.close()
        app.close()
        shutil.rmtree(tmpdir, ignore_errors=True)
    return 0
