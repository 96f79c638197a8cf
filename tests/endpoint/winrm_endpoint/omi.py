"""The OMI personality (--personality omi): the endpoint answers as an OMI 1.9.1 server
(Open Management Infrastructure, the CIM server of Linux and appliances) does, point by
point as written down in shared/protocol/omi.md. The HTTP side (no challenge without
credentials, three challenges for a wrong password, no chunked requests, no 100-continue,
no Server / Date headers) is in httpserver.py; everything WS-Man is here:

* Identify: SOAP-ENV:IdentifyResponse (the SOAP envelope namespace) with wsmid: children,
  vendor "Open Management Infrastructure", version "1.9.1-0", wsmb declared as
  .../cimbinding.xml.
* Every CIM request needs the __cimnamespace selector (taken verbatim, never trimmed); the
  class is the last path segment of the ResourceURI (the namespace of a WMI URI is ignored).
  There is no WinRS, PowerShell or config resource: their URIs are CIM URIs like any other.
* Invoke: the Action must be http://<anything>/wbem/wscim/1/cim-schema/2/<Class>/<Method>
  (anything else: wsman:InternalError, empty Reason, no RelatesTo); the answer's Action is
  the request's; the output element is the class's choice (X_SmallNumber_OUTPUT, Add, or
  <Class>_OUTPUT).
* Values: TRUE/FALSE, char16 as a decimal number, intervals as P2000D, octet strings as
  base64 with xsi:type="cim:cimBase64Binary", real32 with float noise; instances without
  xsi:type; reference properties without __cimnamespace; reference-valued selectors hold
  wsa:Address + wsa:ReferenceParameters directly (no wsa:EndpointReference wrapper).
* Enumeration: wsman:Items always in the EnumerateResponse, decimal contexts returned also
  with EndOfSequence (and dead then), "Enumeration context not found" for dead contexts,
  errors of a non-optimized Enumerate deferred to the first Pull.
* Faults: wsa:DestinationUnreachable / wsman:UnsupportedFeature / wsman:InternalError, no
  wsman:FaultDetail, p:OMI_Error in the Detail.
* GetClass (class schemas): served in the CIM-XML form, refused in the WS-CIM form, as OMI's
  source does it (omi.md records no GetClass; see get_class below).

Response prefixes are OMI's style (SOAP-ENV, wsa, wsman, wsen, wxf, wsmb), not Windows'.
"""

import collections
import itertools
import re
import struct
import time

from . import faults
from .cimops import A_ENUM, A_TRANSFER, CimService, EnumContext, Target, ENVELOPE_SLACK
from .cimxml import DMTF_PREFIX, UriStyle, Ref, convert_text, format_scalar, instance_epr, \
    parse_epr_element, parse_values, value_xml, Prop
from .dispatch import App, Call, Result, action_label
from .faults import WsmanFault
from .omiclasses import OMI_CLASSES, ProviderError
from .soap import ANONYMOUS, NS, BadRequest, RawXML, epr, esc, new_uuid, parse_request, q

OMI_VENDOR = 'Open Management Infrastructure'
OMI_VERSION = '1.9.1-0'
OMI_NAMESPACE = 'root/cimv2'
CIMBINDING_XML = 'http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xml'
OMI_ERROR_URI = DMTF_PREFIX + 'OMI_Error'
# The two class-schema resources OMI knows (microsoft/omi Unix/wsman/wstags.txt), matched
# as exact strings: the CIM-XML one is served, the WS-CIM one refused.
CIMXML_SCHEMA_URI = 'http://schemas.dmtf.org/wbem/cim-xml/2/cim-schema/2/*'
WSCIM_SCHEMA_URI = 'http://schemas.dmtf.org/wbem/ws-cim/1/cim-schema/2/*'
_CLASS_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')

OMI_NS = collections.OrderedDict([
    ('SOAP-ENV', NS['s']),
    ('wsa', NS['a']),
    ('wsen', NS['n']),
    ('wsman', NS['w']),
    ('wsmb', NS['b']),
    ('wxf', NS['x']),
    ('xsi', NS['xsi']),
    ('cim', NS['cim']),
])

# Windows response prefix -> OMI prefix (for XML the shared code writes).
PREFIXES = {'s': 'SOAP-ENV', 'a': 'wsa', 'w': 'wsman', 'n': 'wsen', 'x': 'wxf', 'b': 'wsmb'}
_TAG = re.compile(r'<(/?)(s|a|w|n|x|b):')
_QNAME = re.compile(r'^(s|a|w|n|x|b):')
_INVOKE_ACTION = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*://.*?/wbem/wscim/1/cim-schema/2/([^/]+)/([^/]+)$')
_INTEGER = re.compile(r'^[+-]?[0-9]+$')

CIM_STATUS_NAMES = {
    1: 'FAILED', 2: 'ACCESS_DENIED', 3: 'INVALID_NAMESPACE', 4: 'INVALID_PARAMETER',
    5: 'INVALID_CLASS', 6: 'NOT_FOUND', 7: 'NOT_SUPPORTED', 8: 'CLASS_HAS_CHILDREN',
    9: 'CLASS_HAS_INSTANCES', 10: 'INVALID_SUPERCLASS', 11: 'ALREADY_EXISTS',
    12: 'NO_SUCH_PROPERTY', 13: 'TYPE_MISMATCH', 14: 'QUERY_LANGUAGE_NOT_SUPPORTED',
    15: 'INVALID_QUERY', 16: 'METHOD_NOT_AVAILABLE', 17: 'METHOD_NOT_FOUND',
}

# CIM status of a Windows-shaped fault the shared code raised, by its subcode.
SUBCODE_STATUS = {
    'w:InvalidSelectors': 4, 'x:InvalidRepresentation': 4, 'w:InvalidParameter': 4,
    'n:CannotProcessFilter': 15, 'w:FilterDialectRequestedUnavailable': 14,
    'w:UnsupportedFeature': 7, 'a:ActionNotSupported': 7, 'w:AlreadyExists': 11,
}


def omi_prefixes(text):
    """XML written with the Windows prefixes (a:, w:, n:, x:, b:) in OMI's prefixes."""
    return _TAG.sub(lambda m: '<%s%s:' % (m.group(1), PREFIXES[m.group(2)]), text)


def omi_envelope(action, relates_to, body):
    decls = ' '.join('xmlns:%s="%s"' % kv for kv in OMI_NS.items())
    header = ('<wsa:To>%s</wsa:To><wsa:Action>%s</wsa:Action><wsa:MessageID>uuid:%s</wsa:MessageID>'
              % (ANONYMOUS, esc(action), new_uuid()))
    if relates_to:
        header += '<wsa:RelatesTo>%s</wsa:RelatesTo>' % esc(relates_to)
    return ('<SOAP-ENV:Envelope %s><SOAP-ENV:Header>%s</SOAP-ENV:Header><SOAP-ENV:Body>%s'
            '</SOAP-ENV:Body></SOAP-ENV:Envelope>' % (decls, header, body))


def identify_envelope():
    return ('<SOAP-ENV:Envelope xmlns:SOAP-ENV="%s" xmlns:wsmid="%s" xmlns:wsmb="%s">'
            '<SOAP-ENV:Header/><SOAP-ENV:Body><SOAP-ENV:IdentifyResponse>'
            '<wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd</wsmid:ProtocolVersion>'
            '<wsmid:ProductVendor>%s</wsmid:ProductVendor>'
            '<wsmid:ProductVersion>%s</wsmid:ProductVersion>'
            '</SOAP-ENV:IdentifyResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>'
            % (NS['s'], NS['wsmid'], CIMBINDING_XML, OMI_VENDOR, OMI_VERSION))


# ---- values ------------------------------------------------------------------------------

def real32_text(value):
    """A real32 as OMI prints it: the float32 value with 15 significant digits, so 100.3
    becomes 100.300003051758."""
    if value != value:
        return 'NaN'
    if value in (float('inf'), float('-inf')):
        return 'INF' if value > 0 else '-INF'
    f32 = struct.unpack('<f', struct.pack('<f', value))[0]
    return '%.15g' % f32


def interval_text(value):
    """An interval with its zero parts left out: P2000D, P12DT3H, PT1H30M1.5S."""
    total_us = value.days * 86400 * 10**6 + value.seconds * 10**6 + value.microseconds
    days, rest = divmod(total_us, 86400 * 10**6)
    hours, rest = divmod(rest, 3600 * 10**6)
    minutes, rest = divmod(rest, 60 * 10**6)
    secs, micro = divmod(rest, 10**6)
    text = 'P'
    if days:
        text += '%dD' % days
    time_part = ''
    if hours:
        time_part += '%dH' % hours
    if minutes:
        time_part += '%dM' % minutes
    if secs or micro:
        time_part += ('%d' % secs if not micro else ('%d.%06d' % (secs, micro)).rstrip('0')) + 'S'
    if time_part:
        text += 'T' + time_part
    return text if text != 'P' else 'PT0S'


class OmiStyle(UriStyle):
    """DMTF URIs, __cimnamespace on instance EPRs only, OMI's value forms."""

    def __init__(self, namespace=OMI_NAMESPACE):
        super().__init__(True, namespace)

    def class_uri(self, class_name):
        return DMTF_PREFIX + class_name

    def _keys(self, keys):
        # A reference-valued key: wsa:Address and wsa:ReferenceParameters directly inside the
        # selector, no wsa:EndpointReference wrapper (omi.md).
        return [(k, RawXML(epr(ANONYMOUS, self.class_uri(v.class_name), self.ref_selectors(v.keys)))
                 if isinstance(v, Ref) else v) for k, v in keys]

    def selectors(self, keys):
        return self._keys(keys) + [('__cimnamespace', self.namespace)]

    def ref_selectors(self, keys):
        return self._keys(keys)

    def format_value(self, prop, value):
        if isinstance(value, bool):
            return 'TRUE' if value else 'FALSE'
        if prop.type == 'char16' and isinstance(value, str) and len(value) == 1:
            return str(ord(value))
        if prop.type == 'real32' and isinstance(value, float):
            return real32_text(value)
        return format_scalar(prop, value)

    def format_interval(self, value):
        return interval_text(value)


def omi_instance_xml(cls, inst, style, only=None):
    """<p:Class xmlns:p=".../cim-schema/2/Class"> (xsi and cim are declared on the envelope)."""
    counter = [0]
    parts = []
    for prop in cls.props:
        if only is not None and prop.name.lower() not in only and not prop.key:
            continue
        parts.append(value_xml('p', prop, inst.get(prop.name), style, counter))
    return omi_prefixes('<p:%s xmlns:p="%s">%s</p:%s>' % (
        cls.name, style.class_uri(cls.name), ''.join(parts), cls.name))


# ---- class declarations (GetClass) -------------------------------------------------------
#
# OMI answers a CIM-XML GetClass with its XML serializer's CLASS element (microsoft/omi
# Unix/xmlserializer/xmlserializer.c, WriteBuffer_SerializeClass), put verbatim in the SOAP
# Body of a transfer GetResponse. What the serializer writes depends on the request's
# options (Unix/wsman/wsmanparser.c; all false unless the User-Agent is WinRM's, which turns
# IncludeClassOrigin on):
#   IncludeInheritanceHierarchy  DERIVATION="Super,SuperSuper" on CLASS
#   IncludeInheritedElements     inherited properties too, marked PROPAGATED="true"
#                                (without it only the class's own)
#   IncludeQualifiers            QUALIFIER children: the declared ones (OctetString,
#                                EmbeddedInstance) and the flags as lower-case boolean
#                                qualifiers (key, in, out, static)
#   IncludeClassOrigin           CLASSORIGIN="Class" on PROPERTY and METHOD
# Types are CIM-XML's; an embedded instance is TYPE="string" (with EmbeddedInstance), a
# reference PROPERTY.REFERENCE / PARAMETER.REFERENCE with REFERENCECLASS. A method is
# <METHOD NAME TYPE="uint32"> whose PARAMETERs are the in and out parameters (the return
# value is the METHOD's TYPE, not a parameter).

def _flag_qualifier(name):
    return '<QUALIFIER NAME="%s" TYPE="boolean"><VALUE>true</VALUE></QUALIFIER>' % name


def _decl_qualifiers(p, flags):
    quals = ''
    if getattr(p, 'octet', False):
        quals += _flag_qualifier('OctetString')
    if p.type == 'instance':
        quals += ('<QUALIFIER NAME="EmbeddedInstance" TYPE="string"><VALUE>%s</VALUE></QUALIFIER>'
                  % esc(p.embedded or ''))
    return quals + ''.join(_flag_qualifier(f) for f in flags)


def _decl_type(p):
    return 'string' if p.type == 'instance' else p.type


def _property_decl(p, opts, origin, propagated):
    attrs = ' NAME="%s"' % esc(p.name)
    if p.type == 'reference':
        tag = 'PROPERTY.REFERENCE'
        if p.ref_class:
            attrs += ' REFERENCECLASS="%s"' % esc(p.ref_class)
    else:
        tag = 'PROPERTY.ARRAY' if p.array else 'PROPERTY'
        attrs += ' TYPE="%s"' % _decl_type(p)
    if opts.get('IncludeClassOrigin'):
        attrs += ' CLASSORIGIN="%s"' % esc(origin)
    if propagated:
        attrs += ' PROPAGATED="true"'
    quals = _decl_qualifiers(p, ['key'] if p.key else []) if opts.get('IncludeQualifiers') else ''
    return '<%s%s>%s</%s>' % (tag, attrs, quals, tag)


def _parameter_decl(p, direction, opts):
    attrs = ' NAME="%s"' % esc(p.name)
    if p.type == 'reference':
        tag = 'PARAMETER.REFARRAY' if p.array else 'PARAMETER.REFERENCE'
        if p.ref_class:
            attrs += ' REFERENCECLASS="%s"' % esc(p.ref_class)
    else:
        tag = 'PARAMETER.ARRAY' if p.array else 'PARAMETER'
        attrs += ' TYPE="%s"' % _decl_type(p)
    quals = _decl_qualifiers(p, [direction]) if opts.get('IncludeQualifiers') else ''
    return '<%s%s>%s</%s>' % (tag, attrs, quals, tag)


def _lineage(cls, registry):
    """[(class, its own property names)] from cls up through its registered superclasses."""
    chain = []
    seen = set()
    klass = cls
    while klass is not None and klass.name.lower() not in seen:
        seen.add(klass.name.lower())
        chain.append(klass)
        klass = registry.get(klass.superclass) if klass.superclass else None
    return chain


def omi_class_xml(cls, registry, opts):
    """The CLASS element OMI writes for cls, given the request's options (a dict of
    IncludeQualifiers, IncludeInheritedElements, IncludeInheritanceHierarchy,
    IncludeClassOrigin: bool)."""
    chain = _lineage(cls, registry)

    def origin_of(name):
        # The highest class in the chain that declares the property.
        origin = cls.name
        for klass in chain:
            if klass.prop(name) is not None:
                origin = klass.name
        return origin

    attrs = ' NAME="%s"' % esc(cls.name)
    if cls.superclass:
        attrs += ' SUPERCLASS="%s"' % esc(cls.superclass)
        if opts.get('IncludeInheritanceHierarchy'):
            supers = [k.name for k in chain[1:]]
            last = chain[-1]
            if last.superclass:              # not served here: the chain ends with its name
                supers.append(last.superclass)
            attrs += ' DERIVATION="%s"' % esc(','.join(supers))
    parts = ['<CLASS%s>' % attrs]
    if opts.get('IncludeQualifiers') and cls.association:
        parts.append(_flag_qualifier('association'))
    for p in cls.props:
        origin = origin_of(p.name)
        propagated = origin.lower() != cls.name.lower()
        if propagated and not opts.get('IncludeInheritedElements'):
            continue
        parts.append(_property_decl(p, opts, origin, propagated))
    for m in cls.methods.values():
        mattrs = ' NAME="%s" TYPE="uint32"' % esc(m.name)
        if opts.get('IncludeClassOrigin'):
            mattrs += ' CLASSORIGIN="%s"' % esc(cls.name)
        parts.append('<METHOD%s>' % mattrs)
        if opts.get('IncludeQualifiers') and m.static:
            parts.append(_flag_qualifier('static'))
        parts.extend(_parameter_decl(p, 'in', opts) for p in m.params)
        parts.extend(_parameter_decl(p, 'out', opts) for p in m.outs)
        parts.append('</METHOD>')
    parts.append('</CLASS>')
    return ''.join(parts)


GETCLASS_OPTIONS = ('IncludeQualifiers', 'IncludeInheritedElements',
                    'IncludeInheritanceHierarchy', 'IncludeClassOrigin')


# ---- faults ------------------------------------------------------------------------------

class OmiFault(WsmanFault):
    """A fault in OMI's shape: SOAP-ENV prefixes, no wsman:FaultDetail, OMI_Error detail."""

    def __init__(self, value, subcode, reason, detail='', action=faults.ACTION_ADDRESSING,
                 relates=True, cim_status=None):
        super().__init__(value, subcode, reason, detail, action)
        self.relates = relates
        self.cim_status = cim_status

    def body(self):
        detail = '<SOAP-ENV:Detail>%s</SOAP-ENV:Detail>' % self.detail if self.detail else ''
        return ('<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>%s</SOAP-ENV:Value><SOAP-ENV:Subcode>'
                '<SOAP-ENV:Value>%s</SOAP-ENV:Value></SOAP-ENV:Subcode></SOAP-ENV:Code><SOAP-ENV:Reason>'
                '<SOAP-ENV:Text xml:lang="en-US">%s</SOAP-ENV:Text></SOAP-ENV:Reason>%s</SOAP-ENV:Fault>'
                % (self.value, self.subcode, esc(self.reason), detail))

    def envelope(self, relates_to):
        return omi_envelope(self.action, relates_to if self.relates else None, self.body())


def omi_error_xml(status, message, element='OMI_Error'):
    """p:OMI_Error (or a provider's p:CIM_Error, declared in the OMI_Error URI)."""
    def prop(name, value, cimtype):
        return '<p:%s xsi:type="cim:%s">%s</p:%s>' % (name, cimtype, esc(value), name)
    props = [
        prop('OwningEntity', 'OMI:CIMOM', 'cimString'),
        prop('MessageID', 'OMI:MI_Result:%d' % status, 'cimString'),
        prop('Message', message, 'cimString'),
        prop('PerceivedSeverity', 7, 'cimUnsignedShort'),
        prop('ProbableCause', 0, 'cimUnsignedShort'),
        prop('ProbableCauseDescription', 'Unknown', 'cimString'),
        prop('CIMStatusCode', status, 'cimUnsignedInt'),
    ]
    if element == 'OMI_Error':
        props += [prop('OMI_Code', status, 'cimUnsignedInt'), prop('OMI_Type', 'MI', 'cimString'),
                  prop('OMI_ErrorMessage', message, 'cimString')]
    return ('<p:%s xmlns:p="%s" xsi:type="p:%s_Type" wsmb:IsCIM_Error="true">%s</p:%s>'
            % (element, OMI_ERROR_URI, element, ''.join(props), element))


def cim_fault(status, message, action=faults.ACTION_ADDRESSING, plain_reason=False,
              element='OMI_Error'):
    """A CIM error: subcode by status, Reason "CIM ERROR:NAME: message" (or the message)."""
    if status in (3, 5, 6):
        subcode = 'wsa:DestinationUnreachable'
    elif status == 7:
        subcode = 'wsman:UnsupportedFeature'
    else:
        subcode = 'wsman:InternalError'
    value = 'SOAP-ENV:Receiver' if status == 1 else 'SOAP-ENV:Sender'
    name = CIM_STATUS_NAMES.get(status, str(status))
    reason = message if plain_reason else 'CIM ERROR:%s: %s' % (name, message)
    return OmiFault(value, subcode, reason, omi_error_xml(status, message, element), action,
                    cim_status=status)


def no_namespace():
    return cim_fault(3, 'The target namespace does not exist.', plain_reason=True)


def invalid_class(name):
    return cim_fault(5, 'The specified class does not exist: %s' % name)


def not_found():
    return cim_fault(6, 'The requested object could not be found')


def ws_cim_get_class():
    """GetClass in the WS-CIM form: OMI refuses it (wsman.c, _ParseValidateProcessGetRequest)."""
    return OmiFault('SOAP-ENV:Sender', 'wsman:UnsupportedFeature',
                    'GetClass not Supported in WS-CIM format', '', faults.ACTION_WSMAN)


def internal_error(action=faults.ACTION_ADDRESSING, relates=True):
    """wsman:InternalError with an empty Reason and no detail."""
    return OmiFault('SOAP-ENV:Receiver', 'wsman:InternalError', '', '', action, relates)


def context_not_found():
    return OmiFault('SOAP-ENV:Sender', 'wsa:DestinationUnreachable',
                    'Enumeration context not found', '')


def parse_fault():
    return OmiFault('SOAP-ENV:Sender', 'wsman:InternalError', '', '', faults.ACTION_WSMAN,
                    relates=False)


def to_omi(fault):
    """A fault the shared (Windows) code raised, in OMI's shape."""
    if isinstance(fault, OmiFault):
        return fault
    status = getattr(fault, 'cim_status', None) or SUBCODE_STATUS.get(fault.subcode)
    if status is not None:
        return cim_fault(status, fault.reason.strip())
    value = fault.value.replace('s:', 'SOAP-ENV:', 1)
    subcode = _QNAME.sub(lambda m: PREFIXES[m.group(1)] + ':', fault.subcode)
    return OmiFault(value, subcode, fault.reason, '', fault.action)


# ---- CIM ---------------------------------------------------------------------------------

def _raw_selectors(req):
    """[(name, element)] of the request's SelectorSet, values not trimmed."""
    return [(el.get('Name', ''), el) for el in req.selector_elems]


class OmiCimService(CimService):
    MAX_ENDED = 100000

    def __init__(self, cfg, stats, injector):
        super().__init__(cfg, stats, injector)
        for klass in OMI_CLASSES:
            self.registry.add(klass(self.provider))
        self.style = OmiStyle()
        self.ids = itertools.count(1)
        self.ended = collections.OrderedDict()     # contexts that reached EndOfSequence

    # ---- addressing ----------------------------------------------------------------------

    def check_namespace_selector(self, req):
        for name, el in _raw_selectors(req):
            if name.lower() == '__cimnamespace':
                # Verbatim: " root/cimv2" is another (unknown) namespace.
                if (el.text or '').lower() != OMI_NAMESPACE:
                    raise no_namespace()
                return
        self.stats.add('requests_without_namespace')
        raise no_namespace()

    @staticmethod
    def class_segment(req):
        return (req.resource_uri or '').rstrip('/').rsplit('/', 1)[-1]

    def omi_class(self, name):
        cls = self.registry.get(name)
        if cls is None:
            raise invalid_class(name)
        return cls

    def key_values(self, cls, req, required=True):
        if not hasattr(req, 'selector_elems'):
            # The association filter's b:Object (cimops.association_items).
            return super().key_values(cls, req, required)
        by_name = {p.name.lower(): p for p in cls.key_props()}
        keys = {}
        for name, el in _raw_selectors(req):
            if name.lower() == '__cimnamespace':
                continue
            prop = by_name.get(name.lower())
            if prop is None:
                if cls.singleton:
                    continue
                raise internal_error()
            keys[prop.name.lower()] = self.selector_value(prop, el)
        return keys

    def selector_value(self, prop, el):
        if prop.type == 'reference':
            node = el.find(q('a', 'EndpointReference'))
            if node is None and (el.find(q('a', 'ReferenceParameters')) is not None
                                 or el.find(q('a', 'Address')) is not None):
                node = el           # OMI's own form: no wrapper
            if node is None:
                raise internal_error()
            uri, nested = parse_epr_element(node)
            return Ref(uri.rstrip('/').rsplit('/', 1)[-1],
                       [(k, v) for k, v in nested.items() if k.lower() != '__cimnamespace'])
        text = el.text or ''
        if len(el):
            raise internal_error()
        if prop.type in ('uint8', 'sint8', 'uint16', 'sint16', 'uint32', 'sint32', 'uint64',
                         'sint64') and not _INTEGER.match(text):
            raise internal_error()       # "\n7" is not a number to OMI
        if prop.type == 'boolean' and text.lower() not in ('true', 'false'):
            raise internal_error()
        try:
            return convert_text(prop, text, 'selector')
        except WsmanFault:
            raise internal_error()

    def find(self, cls, req):
        keys = self.key_values(cls, req)
        if not cls.singleton and any(p.name.lower() not in keys for p in cls.key_props()):
            raise not_found()
        inst = cls.get(keys)
        if inst is None:
            raise not_found()
        return inst

    # ---- dispatch ------------------------------------------------------------------------

    def handle(self, call):
        req = call.req
        action = req.action or ''
        if action == A_ENUM + 'Pull':
            return self.pull(call)
        if action == A_ENUM + 'Release':
            return self.release(call)
        if action == A_ENUM + 'Enumerate':
            return self.enumerate(call, None)
        if action == A_TRANSFER + 'Get':
            uri = (req.resource_uri or '').strip()
            if uri == CIMXML_SCHEMA_URI:
                return self.get_class(call)
            if uri == WSCIM_SCHEMA_URI:
                raise ws_cim_get_class()
        if action in (A_TRANSFER + 'Get', A_TRANSFER + 'Put', A_TRANSFER + 'Create',
                      A_TRANSFER + 'Delete'):
            self.check_namespace_selector(req)
            cls = self.omi_class(self.class_segment(req))
            return self.transfer(call, cls, action)
        m = _INVOKE_ACTION.match(action)
        if m is None:
            # A WMI-style method action (or any other): InternalError, empty Reason,
            # wsman fault action, no RelatesTo.
            raise internal_error(faults.ACTION_WSMAN, relates=False)
        try:
            self.check_namespace_selector(req)
            cls = self.omi_class(self.class_segment(req))
            return self.omi_invoke(call, cls, m.group(2))
        except WsmanFault as fault:
            fault = to_omi(fault)
            fault.action = faults.ACTION_WSMAN
            raise fault

    def get_class(self, call):
        """GetClass as OMI serves it (microsoft/omi Unix/wsman/wsman.c,
        _ParseValidateProcessGetClassRequest; the dispatcher's _HandleGetClassReq in
        Unix/disp/disp.c): the class is the ClassName selector (the URI's last segment, "*",
        without one; a name that is not a CIM name makes the request unparsable); "*" is
        INVALID_CLASS, then the namespace must exist, then the class (INVALID_CLASS)."""
        req = call.req
        name = '*'
        for sel_name, el in _raw_selectors(req):
            if sel_name == 'ClassName':
                name = el.text or ''
                if len(el) or not _CLASS_NAME.match(name):
                    raise parse_fault()
        if name == '*':
            raise invalid_class(name)
        self.check_namespace_selector(req)
        cls = self.omi_class(name)
        opts = {o: req.option_true(o) for o in GETCLASS_OPTIONS}
        self.stats.add('classes_served')
        return A_TRANSFER + 'GetResponse', omi_class_xml(cls, self.registry, opts), 'transfer'

    def transfer(self, call, cls, action):
        req = call.req
        style = self.style
        if action == A_TRANSFER + 'Get':
            inst = self.find(cls, req)
            return A_TRANSFER + 'GetResponse', omi_instance_xml(cls, inst, style), 'transfer'
        if action == A_TRANSFER + 'Put':
            keys = self.key_values(cls, req)
            values = self.body_instance(req, cls)
            inst = cls.put(keys, values)
            return A_TRANSFER + 'PutResponse', omi_instance_xml(cls, inst, style), 'transfer'
        if action == A_TRANSFER + 'Create':
            values = self.body_instance(req, cls)
            inst = cls.create(values)
            body = '<x:ResourceCreated>%s</x:ResourceCreated>' % instance_epr(cls, inst, style, wrapper=None)
            return A_TRANSFER + 'CreateResponse', omi_prefixes(body), 'transfer'
        cls.delete(self.key_values(cls, req))
        return A_TRANSFER + 'DeleteResponse', '', 'delete'

    def omi_invoke(self, call, cls, method_name):
        req = call.req
        method = cls.methods.get(method_name.lower())
        if method is None:
            raise cim_fault(17, 'The requested method is not found: %s' % method_name)
        inst = None if method.static else self.find(cls, req)
        el = req.body_child()
        args = {}
        if el is not None:
            # Parse the first child of Body whatever its name (OMI does not insist on
            # <Method>_INPUT).
            class _Params:
                name = method.name + '_INPUT'
                props = method.params
            args = parse_values(_Params, el, 'method input')
        self.stats.add('invokes')
        try:
            ret, outs = method.func(inst, args)
        except ProviderError as exc:
            raise cim_fault(exc.status, exc.message, element='CIM_Error')
        counter = [0]
        parts = ''.join(value_xml('p', p, outs.get(p.name), self.style, counter)
                        for p in method.outs if outs.get(p.name) is not None)
        parts += value_xml('p', Prop('ReturnValue', 'uint32'), ret, self.style, counter)
        if hasattr(cls, 'output_element'):
            element, uri_name = cls.output_element(method)
        else:
            element, uri_name = cls.name + '_OUTPUT', cls.name
        body = '<p:%s xmlns:p="%s">%s</p:%s>' % (element, DMTF_PREFIX + uri_name, parts, element)
        # The response Action echoes the request's, without a Response suffix.
        return req.action, omi_prefixes(body), 'invoke'

    # ---- enumeration ---------------------------------------------------------------------

    def enumerate(self, call, _target):
        req = call.req
        body = req.body.find(q('n', 'Enumerate'))
        if body is None:
            raise faults.schema_validation('The Enumerate body is missing n:Enumerate. ')
        optimize = body.find(q('w', 'OptimizeEnumeration')) is not None
        max_el = self.max_elements(body.find(q('w', 'MaxElements')))
        mode_el = body.find(q('w', 'EnumerationMode'))
        mode = (mode_el.text or '').strip() if mode_el is not None else ''
        if mode not in ('', 'EnumerateEPR', 'EnumerateObjectAndEPR'):
            raise cim_fault(7, 'The EnumerationMode %s is not supported' % mode)
        filt = body.find(q('w', 'Filter'))
        error = None
        items = only = None
        try:
            self.check_namespace_selector(req)
            name = self.class_segment(req)
            if name == '*' and filt is not None:
                target = Target(self.style, None, any_class=True)
            else:
                target = Target(self.style, self.omi_class(name).name)
            items, only = self.filtered_items(target, filt)
        except WsmanFault as fault:
            if optimize:
                raise
            # Not optimized: the Enumerate succeeds, the first Pull gets the error.
            error = to_omi(fault)
        ctx = EnumContext(items, mode, self.style, only)
        ctx.error = error
        cid = str(next(self.ids))
        self.stats.add('enumerations_started')
        self.expire_contexts()
        if not optimize:
            with self.lock:
                self.contexts[cid] = ctx
            return (A_ENUM + 'EnumerateResponse',
                    '<wsen:EnumerateResponse><wsen:EnumerationContext>%s</wsen:EnumerationContext>'
                    '<wsman:Items></wsman:Items></wsen:EnumerateResponse>' % cid, 'enum')
        skeleton = omi_envelope(A_ENUM + 'EnumerateResponse', req.message_id,
                                '<wsen:EnumerateResponse><wsen:EnumerationContext>%s'
                                '</wsen:EnumerationContext><wsman:Items></wsman:Items>'
                                '<wsman:EndOfSequence/></wsen:EnumerateResponse>' % cid)
        batch, done = self.fill(ctx, max_el, call.limit - len(skeleton.encode()) - ENVELOPE_SLACK)
        if done:
            self.mark_ended(cid)
            end = '<wsman:EndOfSequence/>'
        else:
            with self.lock:
                self.contexts[cid] = ctx
            end = ''
        return (A_ENUM + 'EnumerateResponse',
                '<wsen:EnumerateResponse><wsen:EnumerationContext>%s</wsen:EnumerationContext>'
                '<wsman:Items>%s</wsman:Items>%s</wsen:EnumerateResponse>' % (cid, batch, end), 'enum')

    def mark_ended(self, cid):
        with self.lock:
            self.ended[cid] = True
            while len(self.ended) > self.MAX_ENDED:
                self.ended.popitem(last=False)

    def context_id(self, req, what):
        body = req.body.find(q('n', what))
        cid_el = body.find(q('n', 'EnumerationContext')) if body is not None else None
        return ((cid_el.text or '').strip() if cid_el is not None else ''), body

    def pull(self, call):
        req = call.req
        self.stats.add('pulls')
        cid, body = self.context_id(req, 'Pull')
        self.expire_contexts()
        with self.lock:
            ctx = self.contexts.get(cid)
            ended = cid in self.ended
        if ctx is None:
            if ended:
                self.stats.add('pulls_after_end_of_sequence')
            raise context_not_found()
        if ctx.error is not None:
            with self.lock:
                self.contexts.pop(cid, None)
            raise ctx.error
        if self.injector.lose_context_now():
            with self.lock:
                self.contexts.pop(cid, None)
            raise context_not_found()
        max_el = self.max_elements(body.find(q('n', 'MaxElements')))
        skeleton = omi_envelope(A_ENUM + 'PullResponse', req.message_id,
                                '<wsen:PullResponse><wsen:EnumerationContext>%s</wsen:EnumerationContext>'
                                '<wsen:Items></wsen:Items><wsen:EndOfSequence/></wsen:PullResponse>' % cid)
        with ctx.lock:
            batch, done = self.fill(ctx, max_el, call.limit - len(skeleton.encode()) - ENVELOPE_SLACK)
            ctx.last_used = time.monotonic()
        end = ''
        if done:
            with self.lock:
                self.contexts.pop(cid, None)
            self.mark_ended(cid)
            end = '<wsen:EndOfSequence/>'
        return (A_ENUM + 'PullResponse',
                '<wsen:PullResponse><wsen:EnumerationContext>%s</wsen:EnumerationContext>'
                '<wsen:Items>%s</wsen:Items>%s</wsen:PullResponse>' % (cid, batch, end), 'enum')

    def release(self, call):
        self.stats.add('releases')
        cid, _body = self.context_id(call.req, 'Release')
        with self.lock:
            ctx = self.contexts.pop(cid, None)
            ended = cid in self.ended
        if ctx is None:
            if ended:
                # The client released a context the server had already closed with
                # EndOfSequence: OMI answers "not found"; a client should send none.
                self.stats.add('releases_after_end_of_sequence')
            raise context_not_found()
        return A_ENUM + 'ReleaseResponse', '', 'enum'

    def item_xml(self, ctx, cls, inst):
        if ctx.mode == 'EnumerateEPR':
            return omi_prefixes(instance_epr(cls, inst, ctx.style))
        obj = omi_instance_xml(cls, inst, ctx.style, ctx.only)
        if ctx.mode == 'EnumerateObjectAndEPR':
            return omi_prefixes('<w:Item>%s%s</w:Item>' % (obj, instance_epr(cls, inst, ctx.style)))
        return obj


# ---- the application ---------------------------------------------------------------------

class OmiApp(App):
    """dispatch.App as OMI: CIM only, OMI's envelopes and faults."""

    def __init__(self, cfg, stats, injector):
        self.cfg = cfg
        self.stats = stats
        self.cim = OmiCimService(cfg, stats, injector)
        self.winrs = None

    def handle(self, data, ctx):
        try:
            req = parse_request(data)
        except BadRequest:
            fault = parse_fault()
            return Result(500, fault.envelope(None).encode('utf-8'), 'Malformed', 'other', 0,
                          fault.subcode)
        child = req.body_child()
        if child is not None and child.tag == q('wsmid', 'Identify'):
            return Result(200, identify_envelope().encode('utf-8'), 'Identify', 'identify')
        server_limit = self.cfg.max_envelope_kb * 1024
        label = action_label(req.action)
        kind = self.kind_of(req.resource_uri)
        try:
            limit, timeout = self.check_headers(req, server_limit)
            call = Call(req, ctx, limit, timeout)
            action, body, family = self.cim.handle(call)
            if family == 'invoke':
                label = 'Invoke'
            text = omi_envelope(action, req.message_id, body)
            return Result(200, text.encode('utf-8'), label, kind, limit)
        except WsmanFault as fault:
            fault = to_omi(fault)
            return Result(500, fault.envelope(req.message_id).encode('utf-8'), label, kind,
                          server_limit, fault.subcode)
