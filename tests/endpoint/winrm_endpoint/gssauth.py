"""Negotiate / Kerberos / NTLM logins and WinRM message encryption (MS-WSMV 2.2.9.1) for the
endpoint's --auth negotiate, through python3-gssapi (MIT krb5 for Kerberos, gss-ntlmssp for
NTLM, the mechglue's SPNEGO for Negotiate tokens).

One ConnectionAuth lives per TCP connection (the Handler instance of
http.server lives as long as its connection). It holds the acceptor context: the HTTP
handshake steps it, and once complete the connection is authenticated until it closes or
the client starts another handshake with a new Authorization header.

Encrypted body layout (both directions):

    --Encrypted Boundary\\r\\n
    \\tContent-Type: application/HTTP-SPNEGO-session-encrypted\\r\\n
    \\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=N\\r\\n
    --Encrypted Boundary\\r\\n
    \\tContent-Type: application/octet-stream\\r\\n
    <uint32 LE header length><header><sealed data>--Encrypted Boundary--\\r\\n

NTLM: header = the 16-byte NTLMSSP signature; gss_wrap gives signature || sealed and
gss_unwrap takes the same concatenation. Kerberos (RFC 4121): the reply is made with
gss_wrap_iov [HEADER, DATA, PADDING] (MIT puts the whole "trailer" in HEADER with RRC, 60
bytes for the aes*-cts-hmac-sha1-96 enctypes, no padding), so header || sealed is a
complete wrap token that gss_unwrap accepts; requests are unwrapped with gss_unwrap of
header || sealed, which takes both gss_wrap_iov and (split) gss_wrap output.
"""

import base64
import re

import gssapi
import gssapi.raw as graw
from gssapi.raw import IOV, IOVBufferType

KRB5_OIDS = ('1.2.840.113554.1.2.2', '1.2.840.48018.1.2.2', '1.3.5.1.5.2')
NTLM_OIDS = ('1.3.6.1.4.1.311.2.2.10',)

SPNEGO_PROTOCOL = 'application/HTTP-SPNEGO-session-encrypted'
KERBEROS_PROTOCOL = 'application/HTTP-Kerberos-session-encrypted'
PROTOCOLS = {SPNEGO_PROTOCOL.lower(): SPNEGO_PROTOCOL, KERBEROS_PROTOCOL.lower(): KERBEROS_PROTOCOL}
BOUNDARY = b'Encrypted Boundary'
SCHEMES = {'negotiate': 'Negotiate', 'kerberos': 'Kerberos'}
CHALLENGES = [('WWW-Authenticate', 'Negotiate'), ('WWW-Authenticate', 'Kerberos')]
NTLM_SIGNATURE_LEN = 16
# An encrypted request is a little larger than the envelope it carries: the read limit
# for bodies gets this much on top of MaxEnvelopeSize (the plaintext is checked exactly).
ENCRYPTION_OVERHEAD = 16 * 1024


class AuthError(Exception):
    pass


class UnwrapError(Exception):
    pass


def mech_label(oid):
    s = getattr(oid, 'dotted_form', None) or '' if oid is not None else ''
    if s in KRB5_OIDS:
        return 'kerberos'
    if s in NTLM_OIDS:
        return 'ntlm'
    return s or 'unknown'


def channel_bindings_for(cert_der):
    """RFC 5929 tls-server-end-point for a certificate signed with SHA-256 (the endpoint's
    generated one): application data b'tls-server-end-point:' || SHA-256(DER)."""
    import hashlib
    return graw.ChannelBindings(
        application_data=b'tls-server-end-point:' + hashlib.sha256(cert_der).digest())


def is_encrypted_content_type(ctype):
    return ctype.replace(' ', '').lower().startswith('multipart/encrypted')


def _is_initial_token(token):
    """A token that starts a handshake: a GSS InitialContextToken (SPNEGO negTokenInit or a
    raw krb5 AP-REQ, both tagged 0x60) or an NTLM NEGOTIATE_MESSAGE."""
    if token[:1] == b'\x60':
        return True
    return token[:12] == b'NTLMSSP\x00\x01\x00\x00\x00'


class AuthConfig:
    """Endpoint-wide settings: channel-binding mode and data."""

    def __init__(self, cbt='relaxed', cert_der=None, final_token='send'):
        self.cbt = cbt
        self.final_token = final_token   # send | omit | tamper (--final-token)
        self.bindings = None
        if cert_der is not None and cbt in ('relaxed', 'strict'):
            self.bindings = channel_bindings_for(cert_der)
        self.strict = cert_der is not None and cbt == 'strict'


class StepResult:
    def __init__(self, complete, token, scheme):
        self.complete = complete
        self.token = token
        self.scheme = scheme


class ConnectionAuth:
    def __init__(self, config):
        self.config = config
        self.ctx = None
        self.scheme = None
        self.complete = False
        self.user = None
        self.mech = None
        self.delegated = False
        self.handshakes = 0

    def reset(self):
        self.ctx = None
        self.complete = False
        self.user = None
        self.mech = None
        self.delegated = False

    # ---- handshake ------------------------------------------------------------------

    def step(self, header):
        """One Authorization header. Returns a StepResult; raises AuthError (the
        connection is then unauthenticated)."""
        scheme, _, b64 = header.strip().partition(' ')
        scheme = SCHEMES.get(scheme.lower())
        b64 = b64.strip()
        if scheme is None:
            self.reset()
            raise AuthError('scheme %r not offered' % header.split(' ', 1)[0])
        try:
            token = base64.b64decode(b64, validate=True)
        except ValueError:
            token = b''
        if not token:
            self.reset()
            raise AuthError('no token')
        if self.ctx is None or self.complete or scheme != self.scheme or _is_initial_token(token):
            self.reset()
            self.scheme = scheme
            self.ctx = gssapi.SecurityContext(creds=None, usage='accept',
                                              channel_bindings=self.config.bindings)
        try:
            out = self.ctx.step(token)
            # python-gssapi returns the error token of a failed step (a KRB-ERROR for bad
            # channel bindings, say) and raises the error on the next use of the context.
            complete = self.ctx.complete
        except gssapi.exceptions.GSSError as exc:
            self.reset()
            raise AuthError(str(exc).strip())
        if not complete:
            if not out:
                self.reset()
                raise AuthError('handshake stalled (no output token)')
            return StepResult(False, out, scheme)
        if self.config.strict:
            flags = int(self.ctx.actual_flags)
            if not flags & int(gssapi.RequirementFlag.channel_bound):
                self.reset()
                raise AuthError('client sent no channel bindings (CbtHardeningLevel strict)')
        self.complete = True
        self.handshakes += 1
        # A forwarded ticket (the client asked for delegation and the KDC
        # allowed it): what a second hop would use.
        try:
            self.delegated = bool(int(self.ctx.actual_flags) &
                                  int(gssapi.RequirementFlag.delegate_to_peer)) and \
                self.ctx.delegated_creds is not None
        except (gssapi.exceptions.GSSError, AttributeError):
            self.delegated = False
        try:
            self.mech = mech_label(self.ctx.mech)
        except gssapi.exceptions.GSSError:
            self.mech = 'unknown'
        try:
            self.user = str(self.ctx.initiator_name).rstrip('\x00')
        except gssapi.exceptions.GSSError:
            self.user = 'unknown'
        if out and self.config.final_token == 'omit':
            out = None
        elif out and self.config.final_token == 'tamper':
            # The last byte lies inside the sealed part of the AP-REP (inside
            # SPNEGO's responseToken for Negotiate): its check fails.
            out = out[:-1] + bytes([out[-1] ^ 0x01])
        return StepResult(True, out, scheme)

    # ---- message encryption ---------------------------------------------------------

    def unwrap(self, body, content_type):
        """The plaintext of an encrypted request, and the protocol string it used."""
        if not self.complete:
            raise UnwrapError('no authenticated context on this connection')
        m = re.search(r'protocol="?([^";]+)"?', content_type, re.I)
        protocol = PROTOCOLS.get(m.group(1).strip().lower()) if m else None
        if protocol is None:
            raise UnwrapError('unknown protocol in %r' % content_type)
        mb = re.search(r'boundary="?([^";]+)"?', content_type, re.I)
        boundary = mb.group(1).strip().encode('latin-1') if mb else BOUNDARY
        opener = b'--' + boundary + b'\r\n'
        if not body.startswith(opener):
            raise UnwrapError('body does not start with the boundary')
        second = body.find(opener, len(opener))
        if second < 0:
            raise UnwrapError('no second part')
        meta = body[len(opener):second].decode('latin-1')
        ml = re.search(r'Length=(\d+)', meta)
        if not ml:
            raise UnwrapError('no OriginalContent Length')
        length = int(ml.group(1))
        mp = re.search(r'Content-Type:\s*([^\r\n;]+)', meta, re.I)
        if not mp or mp.group(1).strip().lower() != protocol.lower():
            raise UnwrapError('part protocol %r does not match the header' %
                              (mp.group(1) if mp else None))
        rest = body[second + len(opener):]
        mo = re.match(rb'[ \t]*Content-Type:[ \t]*application/octet-stream\r\n', rest, re.I)
        if not mo:
            raise UnwrapError('no application/octet-stream part')
        payload = rest[mo.end():]
        closer = b'--' + boundary + b'--'
        end = payload.rfind(closer)
        if end < 0:
            raise UnwrapError('no closing boundary')
        payload = payload[:end]
        if len(payload) < 4:
            raise UnwrapError('short payload')
        hlen = int.from_bytes(payload[:4], 'little')
        if hlen > len(payload) - 4:
            raise UnwrapError('header length %d beyond the payload' % hlen)
        token = payload[4:]      # header || sealed: a whole wrap token for both mechanisms
        try:
            res = graw.unwrap(self.ctx, token)
        except gssapi.exceptions.GSSError as exc:
            raise UnwrapError('gss_unwrap: %s' % str(exc).strip())
        if not res.encrypted:
            raise UnwrapError('message was signed but not sealed')
        plain = res.message
        if len(plain) != length:
            raise UnwrapError('decrypted %d bytes, OriginalContent says %d' % (len(plain), length))
        return plain, protocol

    def wrap(self, plain, protocol):
        """(body, Content-Type) of an encrypted answer."""
        if self.mech == 'kerberos':
            iov = IOV(IOVBufferType.header, plain, IOVBufferType.padding, std_layout=False)
            graw.wrap_iov(self.ctx, iov, confidential=True)
            header = iov[0].value
            sealed = iov[1].value + (iov[2].value or b'')
            length = len(plain) + len(iov[2].value or b'')
        else:
            wrapped = graw.wrap(self.ctx, plain, True).message
            header, sealed = wrapped[:NTLM_SIGNATURE_LEN], wrapped[NTLM_SIGNATURE_LEN:]
            length = len(plain)
        return frame(protocol, header, sealed, length)


def frame(protocol, header, sealed, length):
    body = b''.join([
        b'--Encrypted Boundary\r\n',
        b'\tContent-Type: ', protocol.encode(), b'\r\n',
        b'\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=',
        str(length).encode(), b'\r\n',
        b'--Encrypted Boundary\r\n',
        b'\tContent-Type: application/octet-stream\r\n',
        len(header).to_bytes(4, 'little'), header, sealed,
        b'--Encrypted Boundary--\r\n',
    ])
    ctype = ('multipart/encrypted;protocol="%s";boundary="Encrypted Boundary"' % protocol)
    return body, ctype
