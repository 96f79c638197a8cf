"""Routes one WS-Man request: Identify, the config resource, WinRS shells, CIM classes.

Header checks common to every request happen here (MessageID, Action, MaxEnvelopeSize,
OperationTimeout) before the resource URI chooses the handler.
"""

from . import faults
from .faults import WsmanFault
from .soap import NS, BadRequest, envelope, esc, parse_request, parse_duration, q

IDENTIFY_VERSION = 'OS: 10.0.14393 SP: 0.0 Stack: 3.0'
IDENTIFY_HIDDEN_VERSION = 'OS: 0.0.0 SP: 0.0 Stack: 1.0'
MAX_TIMEOUT_S = 60.0          # cfg:MaxTimeoutms
MIN_ENVELOPE = 8192

CONFIG_URI = 'http://schemas.microsoft.com/wbem/wsman/1/config'
SHELL_PREFIX = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell'
POWERSHELL_PREFIX = 'http://schemas.microsoft.com/powershell/'


class Result:
    def __init__(self, status, body, action_label, kind, limit=0, fault_subcode=None):
        self.status = status
        self.body = body
        self.action_label = action_label
        self.kind = kind
        self.limit = limit
        self.fault_subcode = fault_subcode


class Call:
    """What a resource handler gets: the parsed request plus the per-request limits."""

    def __init__(self, req, ctx, limit, timeout):
        self.req = req
        self.ctx = ctx
        self.limit = limit          # bytes the response envelope may take
        self.timeout = timeout      # OperationTimeout in seconds, clamped


def action_label(action):
    if not action:
        return 'None'
    return action.rstrip('/').rsplit('/', 1)[-1]


class App:
    def __init__(self, cfg, stats, injector):
        from .cimops import CimService
        from .winrs import WinRS
        self.cfg = cfg
        self.stats = stats
        self.cim = CimService(cfg, stats, injector)
        self.winrs = None if cfg.no_shell else WinRS(cfg, stats)
        if self.winrs is not None:
            self.winrs.cim = self.cim

    def close(self):
        if self.winrs is not None:
            self.winrs.close()
        self.cim.close()

    def live_counts(self):
        out = self.cim.live_counts()
        if self.winrs is not None:
            out.update(self.winrs.live_counts())
        return out

    def handle(self, data, ctx):
        try:
            req = parse_request(data)
        except BadRequest:
            # Windows answers an unreadable body with an empty 500 (facts.md 1.1).
            return Result(500, b'', 'Malformed', 'other')
        child = req.body_child()
        if child is not None and child.tag == q('wsmid', 'Identify'):
            return Result(200, self.identify(ctx).encode('utf-8'), 'Identify', 'identify')
        server_limit = self.cfg.max_envelope_kb * 1024
        label = action_label(req.action)
        kind = self.kind_of(req.resource_uri)
        try:
            limit, timeout = self.check_headers(req, server_limit)
            call = Call(req, ctx, limit, timeout)
            action, body, family = self.route(call, kind)
            text = envelope(action, req.message_id, body, family=family)
            if req.action and req.action.startswith(req.resource_uri or '\0') and kind == 'cim':
                label = 'Invoke'
            return Result(200, text.encode('utf-8'), label, kind, limit)
        except WsmanFault as fault:
            return Result(500, fault.envelope(req.message_id).encode('utf-8'), label, kind,
                          server_limit, fault.subcode)

    @staticmethod
    def kind_of(uri):
        uri = uri or ''
        if uri.startswith(SHELL_PREFIX) or uri.lower().startswith(POWERSHELL_PREFIX):
            return 'shell'
        if uri == CONFIG_URI:
            return 'config'
        return 'cim'

    def check_headers(self, req, server_limit):
        if not req.action:
            raise faults.invalid_header('the wsa:Action header is missing.')
        if not req.message_id:
            raise faults.invalid_header('the wsa:MessageID header is missing.')
        limit = server_limit
        if req.max_envelope is not None:
            try:
                requested = int(req.max_envelope)
            except ValueError:
                raise faults.invalid_header('MaxEnvelopeSize %r is not a number.' % req.max_envelope)
            if requested < MIN_ENVELOPE:
                raise faults.encoding_limit(
                    faults.MIN_ENVELOPE_SIZE,
                    'The WS-Management service cannot process the request because the requested '
                    'MaxEnvelopeSize %d is below the minimum of %d bytes. ' % (requested, MIN_ENVELOPE))
            limit = min(limit, requested)
        timeout = MAX_TIMEOUT_S
        if req.operation_timeout is not None:
            seconds = parse_duration(req.operation_timeout)
            if seconds is None:
                raise faults.invalid_timeout(req.operation_timeout)
            timeout = min(seconds, MAX_TIMEOUT_S)
        return limit, timeout

    def route(self, call, kind):
        uri = call.req.resource_uri
        if not uri:
            raise faults.invalid_header('the wsman:ResourceURI header is missing.')
        if uri.lower().startswith(POWERSHELL_PREFIX):
            # Windows' answer for a configuration that is not registered; without pwsh (or with
            # --no-shell / --no-powershell) no configuration is.
            plugin = self.winrs.powershell if self.winrs is not None else None
            if plugin is None or not plugin.serves(uri):
                raise faults.no_session_configuration(uri[len(POWERSHELL_PREFIX):])
            return self.winrs.handle(call)
        if kind == 'shell':
            if self.winrs is None:
                raise faults.resource_not_in_catalog(uri)
            return self.winrs.handle(call)
        if kind == 'config':
            if call.req.action != 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Get':
                raise faults.action_not_supported(call.req.action)
            if self.cfg.config_access_denied:
                raise faults.access_denied()
            return ('http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse',
                    self.config_body(), 'transfer')
        return self.cim.handle(call)

    def identify(self, ctx):
        if ctx.get('identify_unauth'):
            inner = ('<wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd'
                     '</wsmid:ProtocolVersion><wsmid:ProductVendor>Microsoft Corporation'
                     '</wsmid:ProductVendor><wsmid:ProductVersion>%s</wsmid:ProductVersion>'
                     % IDENTIFY_HIDDEN_VERSION)
        else:
            profiles = ['http/spnego-kerberos']
            if self.cfg.auth == 'basic':
                profiles.insert(0, 'http/basic')
            inner = ('<wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd'
                     '</wsmid:ProtocolVersion><wsmid:ProductVendor>Microsoft Corporation'
                     '</wsmid:ProductVendor><wsmid:ProductVersion>%s</wsmid:ProductVersion>'
                     '<wsmid:SecurityProfiles>%s</wsmid:SecurityProfiles>'
                     % (IDENTIFY_VERSION, ''.join(
                         '<wsmid:SecurityProfileName>http://schemas.dmtf.org/wbem/wsman/1/wsman/'
                         'secprofile/%s</wsmid:SecurityProfileName>' % p for p in profiles)))
        # Identify responses carry an empty header (WinRMSharp ProtocolIdentify.yml).
        return ('<s:Envelope xml:lang="en-US" xmlns:s="%s"><s:Header></s:Header><s:Body>'
                '<wsmid:IdentifyResponse xmlns:wsmid="%s">%s</wsmid:IdentifyResponse></s:Body>'
                '</s:Envelope>' % (NS['s'], NS['wsmid'], inner))

    def config_body(self):
        """cfg:Config as in pypsrp test_wsman_update_envelope_size_500.yml, with our limits."""
        cfg = self.cfg
        basic = 'true' if cfg.auth == 'basic' else 'false'
        shells = cfg.max_shells_per_user

        def el(name, value):
            return '<cfg:%s>%s</cfg:%s>' % (name, esc(value), name)
        return (
            '<cfg:Config xmlns:cfg="%s">' % NS['cfg']
            + el('MaxEnvelopeSizekb', cfg.max_envelope_kb) + el('MaxTimeoutms', int(MAX_TIMEOUT_S * 1000))
            + el('MaxBatchItems', cfg.max_batch) + el('MaxProviderRequests', 4294967295)
            + '<cfg:Client>' + el('NetworkDelayms', 5000) + el('URLPrefix', cfg.path.strip('/'))
            + el('AllowUnencrypted', 'false') + '<cfg:Auth>' + el('Basic', 'true') + el('Digest', 'true')
            + el('Kerberos', 'true') + el('Negotiate', 'true') + el('Certificate', 'true')
            + el('CredSSP', 'false') + '</cfg:Auth><cfg:DefaultPorts>' + el('HTTP', 5985)
            + el('HTTPS', 5986) + '</cfg:DefaultPorts>' + el('TrustedHosts', '') + '</cfg:Client>'
            + '<cfg:Service>' + el('RootSDDL', 'O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;IU)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)')
            + el('MaxConcurrentOperations', 4294967295) + el('MaxConcurrentOperationsPerUser', 1500)
            + el('EnumerationTimeoutms', int(cfg.enum_timeout * 1000)) + el('MaxConnections', 300)
            + el('MaxPacketRetrievalTimeSeconds', 120) + el('AllowUnencrypted', 'true')
            + '<cfg:Auth>' + el('Basic', basic) + el('Kerberos', 'true') + el('Negotiate', 'true')
            + el('Certificate', 'false') + el('CredSSP', 'false') + el('CbtHardeningLevel', 'Relaxed')
            + '</cfg:Auth><cfg:DefaultPorts>' + el('HTTP', 5985) + el('HTTPS', 5986)
            + '</cfg:DefaultPorts>' + el('IPv4Filter', '*') + el('IPv6Filter', '*')
            + el('EnableCompatibilityHttpListener', 'false') + el('EnableCompatibilityHttpsListener', 'false')
            + el('CertificateThumbprint', '') + el('AllowRemoteAccess', 'true') + '</cfg:Service>'
            + '<cfg:Winrs>' + el('AllowRemoteShellAccess', 'false' if cfg.no_shell else 'true')
            + el('IdleTimeout', int(cfg.shell_idle_timeout * 1000)) + el('MaxConcurrentUsers', 2147483647)
            + el('MaxShellRunTime', 2147483647) + el('MaxProcessesPerShell', cfg.max_commands)
            + el('MaxMemoryPerShellMB', 2147483647) + el('MaxShellsPerUser', shells)
            + '</cfg:Winrs></cfg:Config>')
