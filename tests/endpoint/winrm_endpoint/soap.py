"""SOAP 1.2 / WS-Management envelope parsing and building, shaped like Windows WinRM.

Requests are parsed with ElementTree (namespace URIs, never prefixes). Responses are
written as text so that the prefixes and namespace declarations are exactly the ones
Windows uses (s, a, x, w, p, n, e, rsp, b), which ElementTree cannot control.
"""

import re
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape as _escape

NS = {
    's': 'http://www.w3.org/2003/05/soap-envelope',
    'a': 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
    'x': 'http://schemas.xmlsoap.org/ws/2004/09/transfer',
    'e': 'http://schemas.xmlsoap.org/ws/2004/08/eventing',
    'n': 'http://schemas.xmlsoap.org/ws/2004/09/enumeration',
    'w': 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd',
    'p': 'http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd',
    'b': 'http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd',
    'rsp': 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell',
    'f': 'http://schemas.microsoft.com/wbem/wsman/1/wsmanfault',
    'cim': 'http://schemas.dmtf.org/wbem/wscim/1/common',
    'xsi': 'http://www.w3.org/2001/XMLSchema-instance',
    'wsmid': 'http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd',
    'cfg': 'http://schemas.microsoft.com/wbem/wsman/1/config',
}

ANONYMOUS = 'http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous'
XML_NS = 'http://www.w3.org/XML/1998/namespace'

A_TRANSFER = 'http://schemas.xmlsoap.org/ws/2004/09/transfer/'
A_ENUM = 'http://schemas.xmlsoap.org/ws/2004/09/enumeration/'
A_SHELL = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/'


def q(prefix, local):
    """ElementTree qualified name for prefix:local."""
    return '{%s}%s' % (NS[prefix], local)


def esc(text):
    return _escape(str(text))


def esc_attr(text):
    return _escape(str(text), {'"': '&quot;'})


def new_uuid():
    return str(uuid.uuid4()).upper()


def local_name(tag):
    return tag.rsplit('}', 1)[-1]


class BadRequest(Exception):
    """The body is not a SOAP envelope this endpoint can read."""


class Request:
    """The parts of a WS-Man request the handlers need."""

    def __init__(self, root):
        self.root = root
        header = root.find(q('s', 'Header'))
        self.body = root.find(q('s', 'Body'))
        if self.body is None:
            raise BadRequest('no s:Body')
        self.header = header if header is not None else ET.Element(q('s', 'Header'))
        self.action = self._text('a', 'Action')
        self.message_id = self._text('a', 'MessageID')
        self.to = self._text('a', 'To')
        self.resource_uri = self._text('w', 'ResourceURI')
        self.operation_timeout = self._text('w', 'OperationTimeout')
        self.max_envelope = self._text('w', 'MaxEnvelopeSize')
        self.operation_id = self._text('p', 'OperationID')
        self.selectors = {}
        self.selector_elems = []
        sset = self.header.find(q('w', 'SelectorSet'))
        if sset is not None:
            for sel in sset.findall(q('w', 'Selector')):
                self.selectors[sel.get('Name', '')] = (sel.text or '').strip()
                self.selector_elems.append(sel)
        self.options = {}
        self.option_flags = {}
        oset = self.header.find(q('w', 'OptionSet'))
        if oset is not None:
            for opt in oset.findall(q('w', 'Option')):
                name = opt.get('Name', '')
                self.options[name] = (opt.text or '').strip()
                self.option_flags[name] = (opt.get('MustComply') or '').lower() == 'true'

    def _text(self, prefix, local):
        el = self.header.find(q(prefix, local))
        if el is None:
            return None
        return (el.text or '').strip()

    def body_child(self):
        for child in self.body:
            return child
        return None

    def selector(self, name):
        """Case-insensitive selector lookup (Windows treats selector names so)."""
        for key, value in self.selectors.items():
            if key.lower() == name.lower():
                return value
        return None

    def option_true(self, name):
        value = self.options.get(name)
        return value is not None and value.strip().lower() in ('true', '1')


def parse_request(data):
    """Parse a request body; raises BadRequest if it is not a SOAP 1.2 envelope."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        # Some clients declare encoding="utf-16" but send UTF-8 bytes; Windows reads them.
        text = data.decode('utf-8', 'replace') if isinstance(data, bytes) else data
        stripped = re.sub(r'^\s*<\?xml[^>]*\?>', '', text)
        if stripped == text:
            raise BadRequest(str(exc)) from exc
        try:
            root = ET.fromstring(stripped.encode('utf-8'))
        except ET.ParseError as exc2:
            raise BadRequest(str(exc2)) from exc2
    if root.tag != q('s', 'Envelope'):
        raise BadRequest('root element is %s, not a SOAP 1.2 Envelope' % root.tag)
    return Request(root)


# Namespace declarations Windows puts on the Envelope, per response family
# (copied in shape from the recorded responses).
ENV_PREFIXES = {
    'shell': ('a', 'x', 'w', 'rsp', 'p'),
    'receive': ('a', 'w', 'rsp', 'p'),
    'transfer': ('a', 'x', 'w', 'p'),
    'delete': ('a', 'w', 'p'),
    'enum': ('a', 'n', 'w', 'p'),
    'invoke': ('a', 'x', 'w', 'p'),
    'fault': ('a', 'x', 'e', 'n', 'w', 'p'),
}


def envelope(action, relates_to, body, family='transfer', extra_headers=''):
    """A response envelope: Action, MessageID, To (anonymous), RelatesTo, then the body."""
    decls = ' '.join('xmlns:%s="%s"' % (p, NS[p]) for p in ('s',) + ENV_PREFIXES[family])
    header = '<a:Action>%s</a:Action><a:MessageID>uuid:%s</a:MessageID>' % (esc(action), new_uuid())
    header += extra_headers
    header += '<a:To>%s</a:To>' % ANONYMOUS
    if relates_to:
        header += '<a:RelatesTo>%s</a:RelatesTo>' % esc(relates_to)
    return ('<s:Envelope xml:lang="en-US" %s><s:Header>%s</s:Header><s:Body>%s</s:Body>'
            '</s:Envelope>' % (decls, header, body))


def selector_set(selectors):
    """<w:SelectorSet> from an ordered list of (name, value); a value may be raw XML (EPR)."""
    out = '<w:SelectorSet>'
    for name, value in selectors:
        if isinstance(value, RawXML):
            out += '<w:Selector Name="%s">%s</w:Selector>' % (esc_attr(name), value)
        else:
            out += '<w:Selector Name="%s">%s</w:Selector>' % (esc_attr(name), esc(value))
    return out + '</w:SelectorSet>'


class RawXML(str):
    """Text that is already XML and must not be escaped."""


def epr(address, resource_uri, selectors, wrapper=None):
    """An endpoint reference: a:Address + a:ReferenceParameters (ResourceURI, SelectorSet)."""
    inner = '<a:Address>%s</a:Address><a:ReferenceParameters><w:ResourceURI>%s</w:ResourceURI>%s' \
            '</a:ReferenceParameters>' % (esc(address), esc(resource_uri), selector_set(selectors))
    if wrapper:
        return '<%s>%s</%s>' % (wrapper, inner, wrapper)
    return inner


_DURATION = re.compile(
    r'^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d*)?|\.\d+)S)?)?$')


def parse_duration(text):
    """xs:duration to seconds (float); None if invalid or negative."""
    if text is None:
        return None
    text = text.strip()
    m = _DURATION.match(text)
    if not m or text in ('P', 'PT') or text.endswith('T'):
        return None
    years, months, days, hours, minutes, seconds = m.groups()
    total = 0.0
    total += int(years or 0) * 365 * 86400
    total += int(months or 0) * 30 * 86400
    total += int(days or 0) * 86400
    total += int(hours or 0) * 3600
    total += int(minutes or 0) * 60
    total += float(seconds or 0)
    return total


def format_seconds_ms(seconds):
    """PT7200.000S, the form Windows echoes for shell timeouts."""
    return 'PT%.3fS' % seconds


def format_interval(seconds):
    """P0DT0H0M0S, the form Windows uses for ShellRunTime / ShellInactivity."""
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return 'P%dDT%dH%dM%dS' % (days, hours, minutes, secs)
