"""CIM instances in the WS-CIM XML form Windows emits (facts.md 1.7), and back.

Python values: bool, int, float, str (also char16), datetime.datetime (cim:Datetime,
always with a UTC offset), datetime.timedelta (cim:Interval), Ref (a CIM reference,
written as an EPR), Embedded (an embedded instance, written with xsi:type), None (null,
xsi:nil), list (array: the element repeated).
"""

import base64
import datetime
import re

from . import faults
from .soap import ANONYMOUS, NS, RawXML, epr, esc, local_name, q

WMI_PREFIX = 'http://schemas.microsoft.com/wbem/wsman/1/wmi/'
DMTF_PREFIX = 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/'

INT_RANGES = {
    'uint8': (0, 2**8 - 1), 'sint8': (-2**7, 2**7 - 1),
    'uint16': (0, 2**16 - 1), 'sint16': (-2**15, 2**15 - 1),
    'uint32': (0, 2**32 - 1), 'sint32': (-2**31, 2**31 - 1),
    'uint64': (0, 2**64 - 1), 'sint64': (-2**63, 2**63 - 1),
}


class Prop:
    def __init__(self, name, cimtype, array=False, key=False, ref_class=None, embedded=None):
        self.name = name
        self.type = cimtype           # boolean, uintN/sintN, real32/64, char16, string,
        self.array = array            # datetime, reference, instance
        self.key = key
        self.ref_class = ref_class
        self.embedded = embedded


class Ref:
    """A reference to an instance: class name and ordered key values."""

    def __init__(self, class_name, keys):
        self.class_name = class_name
        self.keys = list(keys)

    def key_dict(self):
        return {k.lower(): v for k, v in self.keys}

    def __eq__(self, other):
        return (isinstance(other, Ref) and self.class_name.lower() == other.class_name.lower()
                and {k.lower(): str(v) for k, v in self.keys}
                == {k.lower(): str(v) for k, v in other.keys})

    def __hash__(self):
        return hash((self.class_name.lower(), tuple(sorted((k.lower(), str(v)) for k, v in self.keys))))


class Embedded:
    def __init__(self, class_name, values):
        self.class_name = class_name
        self.values = values          # ordered dict of name -> value


class UriStyle:
    """How the client addressed the class: WMI path form or DMTF form (+ __cimnamespace)."""

    def __init__(self, dmtf, namespace='root/cimv2'):
        self.dmtf = dmtf
        self.namespace = namespace

    def class_uri(self, class_name):
        if self.dmtf:
            return DMTF_PREFIX + class_name
        return WMI_PREFIX + self.namespace + '/' + class_name

    def selectors(self, keys):
        # A reference-valued key (an association's) is a nested endpoint reference.
        sels = [(k, RawXML(epr(ANONYMOUS, self.class_uri(v.class_name), self.selectors(v.keys),
                               wrapper='a:EndpointReference')) if isinstance(v, Ref) else v)
                for k, v in keys]
        if self.dmtf:
            sels.append(('__cimnamespace', self.namespace))
        return sels

    # Hooks a personality may override (omi.py); these are the Windows forms.
    def ref_selectors(self, keys):
        """Selectors of the EPR of a reference-valued property."""
        return self.selectors(keys)

    def format_value(self, prop, value):
        return format_scalar(prop, value)

    def format_interval(self, value):
        return format_interval(value)


# ---- writing ---------------------------------------------------------------------------

def format_datetime(value):
    text = value.isoformat()
    if value.tzinfo is None:
        text += 'Z'
    return text


def format_interval(value):
    total_us = value.days * 86400 * 10**6 + value.seconds * 10**6 + value.microseconds
    days, rest = divmod(total_us, 86400 * 10**6)
    hours, rest = divmod(rest, 3600 * 10**6)
    minutes, rest = divmod(rest, 60 * 10**6)
    secs, micro = divmod(rest, 10**6)
    sec_text = '%d' % secs if not micro else ('%d.%06d' % (secs, micro)).rstrip('0')
    return 'P%dDT%dH%dM%sS' % (days, hours, minutes, sec_text)


def scalar_text(ptype, value, infinity='INF'):
    """The text of a scalar (not escaped): booleans true/false, real64 with 17 significant
    digits as repr gives, real32 with 9, infinities as `infinity` and -`infinity`."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, float):
        if value != value:
            return 'NaN'
        if value in (float('inf'), float('-inf')):
            return infinity if value > 0 else '-' + infinity
        return repr(value) if ptype == 'real64' else '%.9g' % value
    return str(value)


def format_scalar(prop, value):
    return esc(scalar_text(prop.type, value))


def value_xml(prefix, prop, value, style, nsdecl_counter):
    """The element(s) for one property value (an array gives one element per item)."""
    tag = '%s:%s' % (prefix, prop.name)
    if value is None:
        return '<%s xsi:nil="true"/>' % tag
    if isinstance(value, bytes):
        # An [OctetString] uint8[]: one base64 text node (only the OMI classes have these).
        return '<%s xsi:type="cim:cimBase64Binary">%s</%s>' % (
            tag, base64.b64encode(value).decode('ascii'), tag)
    if isinstance(value, list):
        return ''.join(value_xml(prefix, prop, v, style, nsdecl_counter) for v in value)
    if isinstance(value, datetime.datetime):
        return '<%s><cim:Datetime>%s</cim:Datetime></%s>' % (tag, format_datetime(value), tag)
    if isinstance(value, datetime.timedelta):
        return '<%s><cim:Interval>%s</cim:Interval></%s>' % (tag, style.format_interval(value), tag)
    if isinstance(value, Ref):
        return '<%s>%s</%s>' % (tag, epr(ANONYMOUS, style.class_uri(value.class_name),
                                         style.ref_selectors(value.keys)), tag)
    if isinstance(value, Embedded):
        nsdecl_counter[0] += 1
        eprefix = 'q%d' % nsdecl_counter[0]
        from .cimclasses import REGISTRY
        ecls = REGISTRY.get(value.class_name)
        inner = ''
        for eprop in ecls.props:
            inner += value_xml(eprefix, eprop, value.values.get(eprop.name), style, nsdecl_counter)
        return '<%s xmlns:%s="%s" xsi:type="%s:%s_Type">%s</%s>' % (
            tag, eprefix, style.class_uri(value.class_name), eprefix, value.class_name, inner, tag)
    return '<%s>%s</%s>' % (tag, style.format_value(prop, value), tag)


def instance_xml(cls, inst, style, only=None):
    """<p:Class xmlns:p=... xsi:type="p:Class_Type">props</p:Class> in schema order.

    only: set of lower-case property names to include (WQL projection); keys always stay."""
    counter = [0]
    parts = []
    for prop in cls.props:
        if only is not None and prop.name.lower() not in only and not prop.key:
            continue
        parts.append(value_xml('p', prop, inst.get(prop.name), style, counter))
    return ('<p:%s xmlns:p="%s" xmlns:xsi="%s" xmlns:cim="%s" xsi:type="p:%s_Type" '
            'xml:lang="en-US">%s</p:%s>' % (cls.name, style.class_uri(cls.name), NS['xsi'], NS['cim'],
                                           cls.name, ''.join(parts), cls.name))


def instance_epr(cls, inst, style, wrapper='a:EndpointReference'):
    keys = [(p.name, inst.get(p.name)) for p in cls.props if p.key]
    return epr(ANONYMOUS, style.class_uri(cls.name), style.selectors(keys), wrapper=wrapper)


# ---- reading ---------------------------------------------------------------------------

_DT = re.compile(r'^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$')
_IV = re.compile(r'^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$')
_DMTF = re.compile(r'^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)\.(\d{6})([+-])(\d{3})$')
_DMTF_IV = re.compile(r'^(\d{8})(\d\d)(\d\d)(\d\d)\.(\d{6}):000$')


def parse_datetime_text(text):
    text = text.strip()
    m = _DT.match(text)
    if m:
        frac = m.group(7) or ''
        micro = int((frac[1:] + '000000')[:6]) if frac else 0
        tz = m.group(8)
        if tz in (None, 'Z'):
            tzinfo = datetime.timezone.utc
        else:
            sign = 1 if tz[0] == '+' else -1
            tzinfo = datetime.timezone(sign * datetime.timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
        return datetime.datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)),
                                 int(m.group(5)), int(m.group(6)), micro, tzinfo)
    m = _IV.match(text)
    if m and text not in ('P', 'PT'):
        days, hours, minutes, secs = m.groups()
        return datetime.timedelta(days=int(days or 0), hours=int(hours or 0),
                                  minutes=int(minutes or 0), seconds=float(secs or 0))
    m = _DMTF.match(text)
    if m:
        g = m.groups()
        offset = datetime.timedelta(minutes=int(g[8])) * (1 if g[7] == '+' else -1)
        return datetime.datetime(int(g[0]), int(g[1]), int(g[2]), int(g[3]), int(g[4]), int(g[5]),
                                 int(g[6]), datetime.timezone(offset))
    m = _DMTF_IV.match(text)
    if m:
        g = m.groups()
        return datetime.timedelta(days=int(g[0]), hours=int(g[1]), minutes=int(g[2]),
                                  seconds=int(g[3]), microseconds=int(g[4]))
    raise ValueError('not a CIM datetime: %r' % text)


def convert_text(prop, text, what):
    """Text of a property / selector / parameter to the Python value of its CIM type."""
    t = prop.type
    try:
        if t == 'boolean':
            low = text.strip().lower()
            if low in ('true', '1'):
                return True
            if low in ('false', '0'):
                return False
            raise ValueError('not a boolean')
        if t in INT_RANGES:
            value = int(text.strip())
            lo, hi = INT_RANGES[t]
            if not lo <= value <= hi:
                raise ValueError('%d out of range %d..%d' % (value, lo, hi))
            return value
        if t in ('real32', 'real64'):
            return float(text.strip())
        if t == 'char16':
            if len(text) != 1:
                raise ValueError('char16 needs exactly one character')
            return text
        if t == 'datetime':
            return parse_datetime_text(text)
        return text
    except ValueError as exc:
        raise faults.invalid_representation(
            'The %s %s has a value that is not valid for CIM type %s: %s (%s) '
            % (what, prop.name, t, text, exc))


def parse_epr_element(el):
    """(resource_uri, {selector: value}) from an element holding a:ReferenceParameters."""
    rp = el.find(q('a', 'ReferenceParameters'))
    if rp is None:
        rp = el
    uri_el = rp.find(q('w', 'ResourceURI'))
    sels = {}
    sset = rp.find(q('w', 'SelectorSet'))
    if sset is not None:
        for sel in sset.findall(q('w', 'Selector')):
            nested = sel.find(q('a', 'EndpointReference'))
            sels[sel.get('Name', '')] = nested if nested is not None else (sel.text or '').strip()
    return ((uri_el.text or '').strip() if uri_el is not None else ''), sels


def element_value(prop, el):
    """The value of one property element (a CIM reference, datetime, embedded, or text)."""
    if el.get(q('xsi', 'nil'), '').lower() == 'true':
        return None
    if prop.type == 'reference':
        uri, sels = parse_epr_element(el)
        cls_name = uri.rstrip('/').rsplit('/', 1)[-1]
        return Ref(cls_name, [(k, v) for k, v in sels.items() if k != '__cimnamespace'])
    if prop.type == 'datetime':
        for child in el:
            if local_name(child.tag) in ('Datetime', 'Interval', 'Date', 'Time', 'CIM_DateTime'):
                return convert_text(prop, child.text or '', 'property')
    if prop.type == 'instance':
        from .cimclasses import REGISTRY
        ecls = REGISTRY.get(prop.embedded)
        return Embedded(prop.embedded, parse_values(ecls, el, 'embedded property'))
    return convert_text(prop, el.text or '', 'property')


def parse_values(cls, parent, what):
    """Children of parent (an instance or Method_INPUT element) as {PropName: value}."""
    by_name = {p.name.lower(): p for p in cls.props}
    values = {}
    for child in parent:
        name = local_name(child.tag)
        prop = by_name.get(name.lower())
        if prop is None:
            raise faults.invalid_representation(
                'The %s contains %s, which is not a property of %s. ' % (what, name, cls.name))
        value = element_value(prop, child)
        if prop.array:
            values.setdefault(prop.name, [])
            if value is not None:
                values[prop.name].append(value)
        else:
            values[prop.name] = value
    return values
