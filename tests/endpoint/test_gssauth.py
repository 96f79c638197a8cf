"""--auth negotiate: Negotiate / Kerberos / NTLM logins and WinRM message encryption,
against a real MIT KDC (tests/endpoint/kdc) and gss-ntlmssp, with python3-gssapi as the
client on one keep-alive connection per login."""

import hashlib
import http.client
import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import unittest
import xml.etree.ElementTree as ET

from eptest import FIXTURES, HERE, NS, SOAP_CT, Endpoint, identify_body

try:
    import gssapi
    import gssapi.raw as graw
    from gssapi.raw import IOV, IOVBufferType
except ImportError:     # pragma: no cover
    gssapi = None

KDC = os.path.join(HERE, 'kdc')
USER = 'admin'
PASSWORD = 'Pa55-word'
NTLM_USER = 'REMSESS\\admin'
SPNEGO_PROTOCOL = 'application/HTTP-SPNEGO-session-encrypted'
KERBEROS_PROTOCOL = 'application/HTTP-Kerberos-session-encrypted'

if gssapi is not None:
    KRB5 = gssapi.OID.from_int_seq('1.2.840.113554.1.2.2')
    NTLM = gssapi.OID.from_int_seq('1.3.6.1.4.1.311.2.2.10')
    SPNEGO = gssapi.OID.from_int_seq('1.3.6.1.5.5.2')

_kdc = None


class KdcProcess:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='remsess-kdc-')
        os.rmdir(self.dir)
        self.proc = subprocess.Popen([KDC, '--dir', self.dir], stdout=subprocess.PIPE, text=True)
        self.env = {}
        for line in self.proc.stdout:
            line = line.strip()
            if line == 'ready':
                break
            key, _, value = line.partition('=')
            self.env[key] = value
        else:
            raise RuntimeError('tests/endpoint/kdc did not start')

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(10)
        self.proc.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return code


def setUpModule():
    global _kdc
    if gssapi is None:
        raise unittest.SkipTest('python3-gssapi not installed')
    if not os.path.exists('/usr/sbin/krb5kdc'):
        raise unittest.SkipTest('krb5-kdc not installed')
    _kdc = KdcProcess()
    # The client side (this process) and every endpoint started from here.
    os.environ['KRB5_CONFIG'] = _kdc.env['KRB5_CONFIG']
    os.environ['KRB5CCNAME'] = 'MEMORY:remsess-test'


def tearDownModule():
    if _kdc is not None:
        _kdc.stop()


def endpoint(*extra):
    return Endpoint('--auth', 'negotiate', '--keytab', _kdc.env['KRB5_KTNAME'],
                    '--ntlm-user-file', _kdc.env['NTLM_USER_FILE'], *extra)


class GssClient:
    """A WinRM client on one connection: HTTP Negotiate / Kerberos handshake with a gssapi
    initiator, then pywinrm's message framing."""

    def __init__(self, ep, mech, user=USER, password=PASSWORD, scheme='Negotiate',
                 target='HTTP@localhost', bindings=None, cert_bindings=False):
        self.ep = ep
        self.conn = ep.connect()
        self.scheme = scheme
        name = gssapi.Name(user, gssapi.NameType.user)
        spnego = isinstance(mech, str)      # 'spnego' (krb5 inside) or 'spnego-ntlm'
        inner = (NTLM if mech == 'spnego-ntlm' else KRB5) if spnego else mech
        ctx_mech = SPNEGO if spnego else mech
        creds = graw.acquire_cred_with_password(
            name, password.encode(), usage='initiate', mechs=[SPNEGO if spnego else inner]).creds
        if spnego:
            graw.set_neg_mechs(creds, [inner])
        self.creds = gssapi.Credentials(creds)
        self.target = gssapi.Name(target, gssapi.NameType.hostbased_service)
        self.ctx_mech = ctx_mech
        self.bindings = bindings
        self.cert_bindings = cert_bindings
        self.ctx = None
        self.protocol = KERBEROS_PROTOCOL if scheme == 'Kerberos' else SPNEGO_PROTOCOL

    def post(self, body=b'', headers=None):
        hdrs = {'Content-Type': SOAP_CT}
        hdrs.update(headers or {})
        self.conn.request('POST', '/wsman', body=body, headers=hdrs)
        resp = self.conn.getresponse()
        data = resp.read()
        return resp, data

    def _new_context(self):
        bindings = self.bindings
        if self.cert_bindings:
            der = self.conn.sock.getpeercert(binary_form=True)
            bindings = graw.ChannelBindings(
                application_data=b'tls-server-end-point:' + hashlib.sha256(der).digest())
        flags = (gssapi.RequirementFlag.integrity | gssapi.RequirementFlag.confidentiality |
                 gssapi.RequirementFlag.mutual_authentication |
                 gssapi.RequirementFlag.out_of_sequence_detection)
        self.ctx = gssapi.SecurityContext(name=self.target, creds=self.creds, usage='initiate',
                                          mech=self.ctx_mech, flags=flags,
                                          channel_bindings=bindings)

    def login(self, probe=True):
        """The handshake pywinrm does: an empty POST, then one per token. Returns the list
        of (status, WWW-Authenticate values) seen."""
        seen = []
        if probe:
            resp, _ = self.post()
            seen.append((resp.status, resp.headers.get_all('WWW-Authenticate') or []))
            if resp.status != 401:
                return seen
        if self.ctx is None or self.ctx.complete:
            if self.conn.sock is None:
                self.conn.connect()
            self._new_context()
        token = self.ctx.step()
        import base64
        while True:
            resp, _ = self.post(headers={'Authorization': '%s %s' % (
                self.scheme, base64.b64encode(token).decode())})
            values = resp.headers.get_all('WWW-Authenticate') or []
            seen.append((resp.status, values))
            mine = [v for v in values if v.split(' ')[0] == self.scheme and ' ' in v]
            if resp.status == 401 and mine:
                token = self.ctx.step(base64.b64decode(mine[0].split(' ', 1)[1]))
                continue
            if resp.status == 200 and mine and not self.ctx.complete:
                self.ctx.step(base64.b64decode(mine[0].split(' ', 1)[1]))
            return seen

    # ---- pywinrm's framing ---------------------------------------------------------

    def seal(self, plain):
        if self.ctx.mech == KRB5:
            iov = IOV(IOVBufferType.header, plain, IOVBufferType.padding, std_layout=False)
            graw.wrap_iov(self.ctx, iov, confidential=True)
            header, sealed = iov[0].value, iov[1].value + (iov[2].value or b'')
            length = len(plain) + len(iov[2].value or b'')
        else:
            w = graw.wrap(self.ctx, plain, True).message
            header, sealed, length = w[:16], w[16:], len(plain)
        body = (b'--Encrypted Boundary\r\n\tContent-Type: ' + self.protocol.encode() + b'\r\n'
                b'\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=' +
                str(length).encode() + b'\r\n--Encrypted Boundary\r\n'
                b'\tContent-Type: application/octet-stream\r\n' +
                len(header).to_bytes(4, 'little') + header + sealed + b'--Encrypted Boundary--\r\n')
        ctype = 'multipart/encrypted;protocol="%s";boundary="Encrypted Boundary"' % self.protocol
        return body, ctype

    def unseal(self, body):
        parts = body.split(b'--Encrypted Boundary\r\n')
        length = int(re.search(rb'Length=(\d+)', parts[1]).group(1))
        payload = parts[2][len(b'\tContent-Type: application/octet-stream\r\n'):]
        payload = payload[:payload.rindex(b'--Encrypted Boundary--')]
        hlen = int.from_bytes(payload[:4], 'little')
        res = graw.unwrap(self.ctx, payload[4:])
        assert res.encrypted
        assert len(res.message) == length, (len(res.message), length)
        return res.message, hlen

    def call(self, xml):
        """An encrypted request; returns (response, plaintext or raw body, header length)."""
        body, ctype = self.seal(xml.encode() if isinstance(xml, str) else xml)
        resp, data = self.post(body, {'Content-Type': ctype})
        if resp.headers.get('Content-Type', '').startswith('multipart/encrypted'):
            plain, hlen = self.unseal(data)
            return resp, plain, hlen
        return resp, data, None

    def close(self):
        self.conn.close()


def is_identify_response(plain):
    root = ET.fromstring(plain)
    return root.find('s:Body/wsmid:IdentifyResponse', NS) is not None


class NegotiateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ep = endpoint()

    @classmethod
    def tearDownClass(cls):
        cls.ep.stop()

    def setUp(self):
        self.ep.control('/stats/reset')

    def test_challenge_without_authorization(self):
        conn = self.ep.connect()
        conn.request('POST', '/wsman', body=identify_body().encode(), headers={'Content-Type': SOAP_CT})
        resp = conn.getresponse()
        self.assertEqual(resp.read(), b'')
        self.assertEqual(resp.status, 401)
        self.assertEqual(resp.headers.get_all('WWW-Authenticate'), ['Negotiate', 'Kerberos'])
        self.assertEqual(resp.headers['Content-Length'], '0')
        self.assertFalse(resp.will_close)
        conn.close()
        self.assertEqual(self.ep.stats()['auth_failures'], 0)

    def test_unauthenticated_identify_is_allowed(self):
        conn = self.ep.connect()
        conn.request('POST', '/wsman', body=identify_body().encode(),
                     headers={'Content-Type': SOAP_CT, 'WSMANIDENTIFY': 'unauthenticated'})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertTrue(is_identify_response(resp.read()))
        conn.close()

    def _check_login(self, client, legs):
        seen = client.login()
        self.assertEqual(seen[0], (401, ['Negotiate', 'Kerberos']))
        self.assertEqual(len(seen), legs + 1, seen)
        for status, values in seen[1:-1]:
            self.assertEqual(status, 401)
            self.assertEqual(len(values), 1)
            self.assertTrue(values[0].startswith(client.scheme + ' '))
        self.assertEqual(seen[-1][0], 200)
        self.assertTrue(client.ctx.complete)
        return seen

    def test_ntlm_raw_tokens_then_encrypted_identify(self):
        c = GssClient(self.ep, NTLM, user=NTLM_USER)
        seen = self._check_login(c, 2)
        self.assertEqual(seen[-1][1], [])          # raw NTLM: no final token
        for _ in range(3):
            resp, plain, hlen = c.call(identify_body())
            self.assertEqual(resp.status, 200)
            self.assertEqual(resp.headers['Content-Type'],
                             'multipart/encrypted;protocol="%s";boundary="Encrypted Boundary"'
                             % SPNEGO_PROTOCOL)
            self.assertEqual(hlen, 16)
            self.assertTrue(is_identify_response(plain))
        c.close()
        st = self.ep.stats()
        self.assertEqual(st['auth_handshakes'], 1)
        self.assertEqual(st['auth_legs'], 2)
        self.assertEqual(st['auth_by_mech'], {'kerberos': 0, 'ntlm': 1})
        self.assertEqual(st['encrypted_requests'], 3)
        self.assertEqual(st['encrypted_responses'], 3)
        self.assertEqual(st['auth_failures'], 0)

    def test_ntlm_user_name_forms(self):
        for user in ('REMSESS\\admin', 'admin@REMSESS', 'admin'):
            c = GssClient(self.ep, NTLM, user=user)
            self.assertEqual(c.login()[-1][0], 200, user)
            resp, plain, _h = c.call(identify_body())
            self.assertTrue(is_identify_response(plain), user)
            c.close()

    def test_kerberos_scheme_uses_the_kerberos_protocol(self):
        c = GssClient(self.ep, KRB5, scheme='Kerberos')
        seen = self._check_login(c, 1)
        final = seen[-1][1]
        self.assertEqual(len(final), 1)
        self.assertTrue(final[0].startswith('Kerberos '))   # mutual auth: the AP-REP
        resp, plain, hlen = c.call(identify_body())
        self.assertEqual(resp.status, 200)
        self.assertIn('protocol="%s"' % KERBEROS_PROTOCOL, resp.headers['Content-Type'])
        self.assertEqual(hlen, 60)   # aes256-cts-hmac-sha1-96 wrap token header with RRC
        self.assertTrue(is_identify_response(plain))
        c.close()
        st = self.ep.stats()
        self.assertEqual(st['auth_by_mech']['kerberos'], 1)

    def test_raw_krb5_token_in_negotiate(self):
        c = GssClient(self.ep, KRB5)
        seen = self._check_login(c, 1)
        self.assertTrue(seen[-1][1][0].startswith('Negotiate '))
        resp, plain, _h = c.call(identify_body())
        self.assertIn('protocol="%s"' % SPNEGO_PROTOCOL, resp.headers['Content-Type'])
        self.assertTrue(is_identify_response(plain))
        c.close()

    def test_spnego_kerberos(self):
        c = GssClient(self.ep, 'spnego')
        self._check_login(c, 1)
        resp, plain, hlen = c.call(identify_body())
        self.assertEqual(hlen, 60)
        self.assertTrue(is_identify_response(plain))
        c.close()
        self.assertEqual(self.ep.stats()['auth_by_mech']['kerberos'], 1)

    def test_spnego_ntlm(self):
        c = GssClient(self.ep, 'spnego-ntlm', user=NTLM_USER)
        seen = self._check_login(c, 2)
        self.assertTrue(seen[-1][1][0].startswith('Negotiate '))   # mechListMIC
        resp, plain, hlen = c.call(identify_body())
        self.assertEqual(hlen, 16)
        self.assertTrue(is_identify_response(plain))
        c.close()
        self.assertEqual(self.ep.stats()['auth_by_mech']['ntlm'], 1)

    def test_encrypted_faults_and_shell_user(self):
        from eptest import CMD, T, envelope
        c = GssClient(self.ep, KRB5, scheme='Kerberos')
        c.login()
        resp, plain, _h = c.call(envelope(T + 'Get', 'http://example.invalid/nothing'))
        self.assertEqual(resp.status, 500)
        self.assertIsNotNone(ET.fromstring(plain).find('s:Body/s:Fault', NS))
        resp, plain, _h = c.call(envelope(
            T + 'Create', CMD, '<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams>'
            '<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>'))
        self.assertEqual(resp.status, 200, plain)
        owner = ET.fromstring(plain).findtext('.//rsp:Owner', namespaces=NS)
        self.assertEqual(owner, 'admin@REMSESS.TEST')
        c.close()

    def test_plaintext_is_refused_over_http(self):
        c = GssClient(self.ep, NTLM, user=NTLM_USER)
        c.login()
        resp, data = c.post(identify_body().encode())
        self.assertEqual(resp.status, 401)
        self.assertEqual(data, b'')
        self.assertEqual(resp.headers.get_all('WWW-Authenticate'), ['Negotiate', 'Kerberos'])
        # the connection stays authenticated: an encrypted request still works
        resp, plain, _h = c.call(identify_body())
        self.assertTrue(is_identify_response(plain))
        c.close()
        st = self.ep.stats()
        self.assertEqual(st['plaintext_refused'], 1)
        self.assertEqual(st['auth_failures'], 0)

    def test_wrong_password_is_refused(self):
        c = GssClient(self.ep, NTLM, user=NTLM_USER, password='wrong')
        seen = c.login()
        self.assertEqual(seen[-1], (401, ['Negotiate', 'Kerberos']))
        c.close()
        self.assertEqual(self.ep.stats()['auth_failures'], 1)
        # Kerberos: the KDC refuses the password before the endpoint sees anything.
        with self.assertRaises(gssapi.exceptions.GSSError):
            GssClient(self.ep, KRB5, password='wrong')

    def test_no_principal_for_127_0_0_1(self):
        c = GssClient(self.ep, KRB5, target='HTTP@127.0.0.1')
        with self.assertRaises(gssapi.exceptions.GSSError) as cm:
            c.login()
        self.assertIn('not found in Kerberos database', str(cm.exception))
        c.close()

    def test_garbage_token_is_an_auth_failure(self):
        conn = self.ep.connect()
        conn.request('POST', '/wsman', body=b'', headers={'Authorization': 'Negotiate AAAAAAAA'})
        resp = conn.getresponse()
        resp.read()
        self.assertEqual(resp.status, 401)
        self.assertEqual(resp.headers.get_all('WWW-Authenticate'), ['Negotiate', 'Kerberos'])
        conn.close()
        self.assertEqual(self.ep.stats()['auth_failures'], 1)

    def test_second_connection_and_second_handshake(self):
        a = GssClient(self.ep, NTLM, user=NTLM_USER)
        a.login()
        b = GssClient(self.ep, KRB5, scheme='Kerberos')
        b.login()
        for c in (a, b):
            resp, plain, _h = c.call(identify_body())
            self.assertTrue(is_identify_response(plain))
        st = self.ep.stats()
        self.assertEqual(st['auth_handshakes'], 2)
        self.assertEqual(st['handshakes_per_connection_max'], 1)
        # A new Authorization header on an authenticated connection: a fresh context.
        a.login(probe=False)
        resp, plain, _h = a.call(identify_body())
        self.assertTrue(is_identify_response(plain))
        st = self.ep.stats()
        self.assertEqual(st['auth_handshakes'], 3)
        self.assertEqual(st['handshakes_per_connection_max'], 2)
        a.close()
        b.close()

    def test_unwrap_failure_is_400(self):
        c = GssClient(self.ep, KRB5, scheme='Kerberos')
        c.login()
        body, ctype = c.seal(identify_body().encode())
        i = body.index(b'--Encrypted Boundary--') - 10
        bad = body[:i] + bytes([body[i] ^ 0xff]) + body[i + 1:]
        resp, data = c.post(bad, {'Content-Type': ctype})
        self.assertEqual(resp.status, 400)
        self.assertEqual(data, b'')
        self.assertIsNone(resp.headers.get('Content-Type'))
        # garbage framing as well
        resp, data = c.post(b'not multipart', {'Content-Type': ctype})
        self.assertEqual(resp.status, 400)
        st = self.ep.stats()
        self.assertEqual(st['unwrap_failures'], 2)
        c.close()

    def test_encrypted_envelope_over_the_limit_is_413(self):
        c = GssClient(self.ep, KRB5, scheme='Kerberos')
        c.login()
        big = identify_body().replace('<s:Header/>', '<s:Header><x>%s</x></s:Header>'
                                      % ('a' * (500 * 1024)))
        resp, data, _h = c.call(big)
        self.assertEqual(resp.status, 413)
        c.close()

    def test_stats_has_the_auth_counters(self):
        st = self.ep.stats()
        for key in ('auth_handshakes', 'auth_legs', 'auth_failures', 'handshakes_per_connection_max',
                    'encrypted_requests', 'encrypted_responses', 'plaintext_refused',
                    'unwrap_failures'):
            self.assertIn(key, st)
        self.assertEqual(set(st['auth_by_mech']), {'kerberos', 'ntlm'})


class AllowUnencryptedTest(unittest.TestCase):
    def test_plaintext_accepted_with_allow_unencrypted(self):
        ep = endpoint('--allow-unencrypted')
        try:
            c = GssClient(ep, NTLM, user=NTLM_USER)
            c.login()
            resp, data = c.post(identify_body().encode())
            self.assertEqual(resp.status, 200)
            self.assertTrue(is_identify_response(data))
            resp, plain, _h = c.call(identify_body())   # encrypted still fine
            self.assertTrue(is_identify_response(plain))
            c.close()
        finally:
            ep.stop()


class TlsCbtTest(unittest.TestCase):
    def _run(self, args, cases):
        ep = endpoint('--tls', *args)
        try:
            for mech, user, kw, expect in cases:
                c = GssClient(ep, mech, user=user, **kw)
                seen = c.login()
                self.assertEqual(seen[-1][0], expect, (args, mech, kw, seen))
                if expect == 200:
                    # plaintext is fine over TLS, and so is an encrypted body
                    resp, data = c.post(identify_body().encode())
                    self.assertEqual(resp.status, 200)
                    self.assertTrue(is_identify_response(data))
                    resp, plain, _h = c.call(identify_body())
                    self.assertTrue(is_identify_response(plain))
                c.close()
            return ep.stats()
        finally:
            ep.stop()

    def test_strict_requires_bindings(self):
        wrong = graw.ChannelBindings(application_data=b'tls-server-end-point:' + b'\0' * 32)
        st = self._run(('--cbt', 'strict'), [
            (NTLM, NTLM_USER, {'cert_bindings': True}, 200),
            (KRB5, USER, {'cert_bindings': True}, 200),
            ('spnego', USER, {'cert_bindings': True}, 200),
            (NTLM, NTLM_USER, {}, 401),
            (KRB5, USER, {}, 401),
            ('spnego', USER, {}, 401),
            (NTLM, NTLM_USER, {'bindings': wrong}, 401),
            (KRB5, USER, {'bindings': wrong}, 401),
        ])
        self.assertEqual(st['auth_handshakes'], 3)
        self.assertEqual(st['auth_failures'], 5)

    def test_relaxed_accepts_missing_but_not_wrong_bindings(self):
        wrong = graw.ChannelBindings(application_data=b'tls-server-end-point:' + b'\0' * 32)
        self._run(('--cbt', 'relaxed'), [
            (NTLM, NTLM_USER, {}, 200),
            (KRB5, USER, {}, 200),
            (NTLM, NTLM_USER, {'cert_bindings': True}, 200),
            (KRB5, USER, {'cert_bindings': True}, 200),
            (NTLM, NTLM_USER, {'bindings': wrong}, 401),
            (KRB5, USER, {'bindings': wrong}, 401),
        ])


class FixtureFramingTest(unittest.TestCase):
    """The endpoint's encrypted answers have the structure of the recorded ones."""

    DIR = os.path.join(FIXTURES, 'winrm-encrypted')

    @staticmethod
    def skeleton(body):
        """The framing of an encrypted body with lengths and sealed bytes abstracted."""
        m = re.match(rb'(--Encrypted Boundary\r\n'
                     rb'\tContent-Type: (application/HTTP-[A-Za-z]+-session-encrypted)\r\n'
                     rb'\tOriginalContent: type=application/soap\+xml;charset=UTF-8;Length=)(\d+)'
                     rb'(\r\n--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n)'
                     rb'(.{4})(.*)(--Encrypted Boundary--\r\n)$', body, re.S)
        if not m:
            return None
        hlen = int.from_bytes(m.group(5), 'little')
        rest = m.group(6)
        return {
            'prefix': m.group(1), 'middle': m.group(4), 'suffix': m.group(7),
            'protocol': m.group(2).decode(), 'header_len': hlen,
            'sealed_is_length': len(rest) - hlen == int(m.group(3)),
            'crlf_before_close': rest.endswith(b'\r\n'),
        }

    @staticmethod
    def responses(raw):
        """(headers text, body) of each HTTP response in a byte stream."""
        out = []
        pos = 0
        while True:
            end = raw.find(b'\r\n\r\n', pos)
            if end < 0:
                return out
            head = raw[pos:end].decode('latin-1')
            n = int(re.search(r'(?im)^Content-Length:\s*(\d+)', head).group(1))
            out.append((head, raw[end + 4:end + 4 + n]))
            pos = end + 4 + n

    def test_endpoint_framing_matches_the_recording(self):
        path = os.path.join(self.DIR, 'ntlm-encrypted.s2c.bin')
        if not os.path.exists(path):
            self.skipTest('fixture %s absent' % path)
        with open(path, 'rb') as f:
            recorded = [(h, b) for h, b in self.responses(f.read())
                        if 'multipart/encrypted' in h]
        self.assertGreater(len(recorded), 0)
        with open(os.path.join(self.DIR, 'ntlm-encrypted.txt'), encoding='utf-8') as f:
            text = f.read()
        ctype = ('multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";'
                 'boundary="Encrypted Boundary"')
        self.assertIn('<<< 200 Content-Type: ' + ctype, text)
        rec = self.skeleton(recorded[0][1])
        self.assertIsNotNone(rec)
        self.assertIn('Content-Type: ' + ctype, recorded[0][0])

        ep = endpoint()
        try:
            c = GssClient(ep, NTLM, user=NTLM_USER)
            c.login()
            body, sctype = c.seal(identify_body().encode())
            resp, data = c.post(body, {'Content-Type': sctype})
            self.assertEqual(resp.status, 200)
            self.assertEqual(resp.headers['Content-Type'], ctype)
            mine = self.skeleton(data)
            self.assertIsNotNone(mine, data[:300])
            self.assertEqual(mine, rec)
            self.assertFalse(mine['crlf_before_close'])
            self.assertTrue(mine['sealed_is_length'])
            self.assertEqual(mine['header_len'], 16)
            self.assertTrue(is_identify_response(c.unseal(data)[0]))
            c.close()
        finally:
            ep.stop()


class KdcScriptTest(unittest.TestCase):
    def test_kdc_output_and_files(self):
        for key in ('KRB5_CONFIG', 'KRB5_KTNAME', 'NTLM_USER_FILE', 'REALM', 'KDC'):
            self.assertIn(key, _kdc.env)
        self.assertEqual(_kdc.env['REALM'], 'REMSESS.TEST')
        self.assertRegex(_kdc.env['KDC'], r'^127\.0\.0\.1:\d+$')
        with open(_kdc.env['NTLM_USER_FILE']) as f:
            self.assertIn('REMSESS:admin:Pa55-word\n', f.read())
        with open(_kdc.env['KRB5_CONFIG']) as f:
            conf = f.read()
        self.assertIn('kdc = ' + _kdc.env['KDC'], conf)

    def test_refuses_a_non_empty_directory_and_stops_on_sigterm(self):
        d = tempfile.mkdtemp(prefix='remsess-kdc-')
        try:
            open(os.path.join(d, 'x'), 'w').close()
            res = subprocess.run([KDC, '--dir', d], capture_output=True, text=True, timeout=10)
            self.assertNotEqual(res.returncode, 0)
        finally:
            shutil.rmtree(d)
        k = KdcProcess()
        pid = k.proc.pid
        kids = subprocess.run(['pgrep', '-P', str(pid)], capture_output=True, text=True).stdout.split()
        self.assertEqual(len(kids), 1)
        self.assertEqual(k.stop(), 0)
        for kid in kids:
            self.assertFalse(os.path.exists('/proc/%s' % kid) and
                             'krb5kdc' in open('/proc/%s/cmdline' % kid).read())


if __name__ == '__main__':
    unittest.main()
