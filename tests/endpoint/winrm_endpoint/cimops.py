"""WS-Man CIM operations over the classes in cimclasses: Get, Put, Create, Delete,
Invoke, Enumerate / Pull / Release with contexts, filters (WQL, selector, association).

Enumeration contexts hold a lazy iterator, so a million-instance class streams in
batches that each fit the envelope limit, never held in memory at once.
"""

import threading
import time
import uuid

from . import faults, wql
from .cimclasses import Provider
from .cimxml import DMTF_PREFIX, WMI_PREFIX, UriStyle, convert_text, instance_epr, instance_xml, \
    parse_epr_element, parse_values, Ref
from .soap import A_ENUM, A_TRANSFER, envelope, esc, local_name, q

DMTF_ANY = 'http://schemas.dmtf.org/wbem/wscim/1/*'
CIMXML_PREFIX = 'http://schemas.dmtf.org/wbem/cim-xml/2/cim-schema/2/'
DIALECT_WQL = 'http://schemas.microsoft.com/wbem/wsman/1/wql'
DIALECT_SELECTOR = 'http://schemas.dmtf.org/wbem/wsman/1/wsman/selectorfilter'
DIALECT_ASSOC = 'http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationfilter'
SUPPORTED_NS = 'root/cimv2'
DEFAULT_DMTF_NS = 'root/hardware'    # MS-WSMV 3.1.4.1.1: DMTF URIs without __cimnamespace

# The fixed part of an EnumerateResponse / PullResponse plus a safety margin; the batch
# fills what is left of the envelope limit.
ENVELOPE_SLACK = 256


def normalize_ns(ns):
    return ns.replace('\\', '/').strip('/').lower()


class Target:
    """What a CIM resource URI (+ selectors) designates."""

    def __init__(self, style, class_name, any_class=False, schema=False):
        self.style = style
        self.class_name = class_name
        self.any_class = any_class
        self.schema = schema          # the cim-xml resource: class declarations (GetClass)


class EnumContext:
    def __init__(self, items, mode, style, only):
        self.items = items            # iterator of (cls, inst)
        self.pending = None           # an item that did not fit the previous batch
        self.mode = mode
        self.style = style
        self.only = only              # WQL projection or None
        self.last_used = time.monotonic()
        self.lock = threading.Lock()


class CimService:
    def __init__(self, cfg, stats, injector):
        self.cfg = cfg
        self.stats = stats
        self.injector = injector
        self.provider = Provider(cfg, stats)
        self.registry = self.provider.registry
        self.contexts = {}
        self.lock = threading.Lock()

    def close(self):
        self.provider.close()

    def live_counts(self):
        self.expire_contexts()
        with self.lock:
            return {'enumerations_open': len(self.contexts)}

    # ---- resource resolution -----------------------------------------------------------

    def resolve(self, req):
        uri = req.resource_uri
        low = uri.lower()
        if low.startswith(WMI_PREFIX):
            path = uri[len(WMI_PREFIX):].strip('/')
            ns, _, cls = path.rpartition('/')
            if not ns:
                raise faults.resource_not_in_catalog(uri)
            self.check_namespace(ns)
            style = UriStyle(False, normalize_ns(ns))
            if cls == '*':
                return Target(style, None, any_class=True)
            return Target(style, self.lookup_class(cls).name)
        if low.startswith(CIMXML_PREFIX.lower()):
            # GetClass as the Windows MI client sends it: .../cim-xml/2/cim-schema/2/* with
            # __cimnamespace and ClassName selectors; the answer is a CIM-XML CLASS.
            ns = req.selector('__cimnamespace')
            self.check_namespace(DEFAULT_DMTF_NS if ns is None else ns)
            name = req.selector('ClassName')
            if not name:
                raise faults.unsupported_feature(
                    'Class enumeration (EnumerateClasses) is not supported by this test '
                    'endpoint; give a ClassName selector. ')
            return Target(UriStyle(True, normalize_ns(ns or SUPPORTED_NS)),
                          self.lookup_class(name).name, schema=True)
        if low == DMTF_ANY or low.startswith(DMTF_PREFIX.lower()):
            ns = req.selector('__cimnamespace')
            ns = DEFAULT_DMTF_NS if ns is None else ns
            self.check_namespace(ns)
            style = UriStyle(True, normalize_ns(ns))
            if low == DMTF_ANY or uri.endswith('/*'):
                return Target(style, None, any_class=True)
            return Target(style, self.lookup_class(uri[len(DMTF_PREFIX):]).name)
        raise faults.resource_not_in_catalog(uri)

    def check_namespace(self, ns):
        if normalize_ns(ns) != SUPPORTED_NS:
            raise faults.wmi_invalid_namespace(ns)

    def lookup_class(self, name):
        cls = self.registry.get(name)
        if cls is None:
            raise faults.wmi_invalid_class(name)
        return cls

    def key_values(self, cls, req, required=True):
        """Typed key values from the request's selectors ({lower name: value})."""
        sels = {k: v for k, v in req.selectors.items() if k.lower() != '__cimnamespace'}
        key_props = cls.key_props()
        known = {p.name.lower() for p in key_props}
        unexpected = [k for k in sels if k.lower() not in known]
        if unexpected:
            raise faults.unexpected_selectors(unexpected)
        if cls.singleton:
            return {k.lower(): v for k, v in sels.items()}
        missing = [p.name for p in key_props if p.name.lower() not in {k.lower() for k in sels}]
        if missing and required:
            raise faults.missing_selectors(cls.name)
        keys = {}
        for prop in key_props:
            for name, value in sels.items():
                if name.lower() == prop.name.lower():
                    if prop.type == 'reference':
                        if isinstance(value, str):
                            raise faults.invalid_selector_value(name, value)
                        uri, nested = parse_epr_element(value)
                        keys[prop.name.lower()] = Ref(uri.rstrip('/').rsplit('/', 1)[-1],
                                                      [(k, v) for k, v in nested.items()
                                                       if k != '__cimnamespace'])
                        continue
                    try:
                        keys[prop.name.lower()] = convert_text(prop, value, 'selector')
                    except faults.WsmanFault:
                        raise faults.invalid_selector_value(name, value)
        return keys

    def find(self, cls, req):
        keys = self.key_values(cls, req)
        inst = cls.get(keys)
        if inst is None:
            raise faults.wmi_not_found()
        return inst

    # ---- dispatch ----------------------------------------------------------------------

    def handle(self, call):
        req = call.req
        action = req.action
        if action == A_ENUM + 'Pull':
            return self.pull(call)
        if action == A_ENUM + 'Release':
            return self.release(call)
        target = self.resolve(req)
        if target.schema:
            if action != A_TRANSFER + 'Get':
                raise faults.action_not_supported(action)
            return A_TRANSFER + 'GetResponse', class_declaration(self.registry.get(target.class_name)), 'transfer'
        if action == A_ENUM + 'Enumerate':
            return self.enumerate(call, target)
        if target.any_class:
            raise faults.action_not_supported(action)
        cls = self.registry.get(target.class_name)
        if action == A_TRANSFER + 'Get':
            inst = self.find(cls, req)
            return A_TRANSFER + 'GetResponse', instance_xml(cls, inst, target.style), 'transfer'
        if action == A_TRANSFER + 'Put':
            return self.put(call, cls, target)
        if action == A_TRANSFER + 'Create':
            return self.create(call, cls, target)
        if action == A_TRANSFER + 'Delete':
            cls.delete(self.key_values(cls, req))
            return A_TRANSFER + 'DeleteResponse', '', 'delete'
        prefix = req.resource_uri.rstrip('/') + '/'
        if action.startswith(prefix) and '/' not in action[len(prefix):]:
            return self.invoke(call, cls, target, action[len(prefix):])
        raise faults.action_not_supported(action)

    def body_instance(self, req, cls):
        el = req.body_child()
        if el is None or local_name(el.tag).lower() != cls.name.lower():
            raise faults.invalid_representation(
                'The body must hold one %s instance element. ' % cls.name)
        return parse_values(cls, el, '%s instance' % cls.name)

    def put(self, call, cls, target):
        keys = self.key_values(cls, call.req)
        values = self.body_instance(call.req, cls)
        inst = cls.put(keys, values)
        return A_TRANSFER + 'PutResponse', instance_xml(cls, inst, target.style), 'transfer'

    def create(self, call, cls, target):
        values = self.body_instance(call.req, cls)
        inst = cls.create(values)
        body = '<x:ResourceCreated>%s</x:ResourceCreated>' % instance_epr(cls, inst, target.style, wrapper=None)
        return A_TRANSFER + 'CreateResponse', body, 'transfer'

    def invoke(self, call, cls, target, method_name):
        method = cls.methods.get(method_name.lower())
        if method is None:
            raise faults.wmi_invalid_method(method_name)
        inst = None
        if not method.static:
            inst = self.find(cls, call.req)
        el = call.req.body_child()
        args = {}
        if el is not None:
            if local_name(el.tag).lower() != (method.name + '_INPUT').lower():
                raise faults.invalid_representation(
                    'The body of a %s invocation must be %s_INPUT. ' % (method.name, method.name))

            class _Params:
                name = method.name + '_INPUT'
                props = method.params
            try:
                args = parse_values(_Params, el, 'method input')
            except faults.WsmanFault as fault:
                raise faults.wmi_invalid_method_parameters(fault.reason.strip())
        self.stats.add('invokes')
        ret, outs = method.func(inst, args)
        counter = [0]
        from .cimxml import value_xml, Prop
        parts = ''.join(value_xml('p', p, outs.get(p.name), target.style, counter)
                        for p in method.outs if outs.get(p.name) is not None)
        parts += value_xml('p', Prop('ReturnValue', 'uint32'), ret, target.style, counter)
        body = '<p:%s_OUTPUT xmlns:p="%s">%s</p:%s_OUTPUT>' % (
            method.name, target.style.class_uri(cls.name), parts, method.name)
        return call.req.action + 'Response', body, 'invoke'

    # ---- enumeration -------------------------------------------------------------------

    def expire_contexts(self):
        now = time.monotonic()
        with self.lock:
            dead = [cid for cid, ctx in self.contexts.items() if now - ctx.last_used > self.cfg.enum_timeout]
            for cid in dead:
                del self.contexts[cid]
        if dead:
            self.stats.add('enumerations_expired', len(dead))

    def enumerate(self, call, target):
        req = call.req
        body = req.body.find(q('n', 'Enumerate'))
        if body is None:
            raise faults.schema_validation('The Enumerate body is missing n:Enumerate. ')
        optimize = body.find(q('w', 'OptimizeEnumeration')) is not None
        max_el = self.max_elements(body.find(q('w', 'MaxElements')))
        mode_el = body.find(q('w', 'EnumerationMode'))
        mode = (mode_el.text or '').strip() if mode_el is not None else ''
        if mode not in ('', 'EnumerateEPR', 'EnumerateObjectAndEPR'):
            raise faults.invalid_parameter('The EnumerationMode %s is not supported. ' % mode)
        filt = body.find(q('w', 'Filter'))
        items, only = self.filtered_items(target, filt)
        ctx = EnumContext(items, mode, target.style, only)
        self.stats.add('enumerations_started')
        self.expire_contexts()
        cid = 'uuid:' + str(uuid.uuid4()).upper()
        if not optimize:
            with self.lock:
                self.contexts[cid] = ctx
            return (A_ENUM + 'EnumerateResponse',
                    '<n:EnumerateResponse><n:EnumerationContext>%s</n:EnumerationContext>'
                    '</n:EnumerateResponse>' % cid, 'enum')
        skeleton = envelope(A_ENUM + 'EnumerateResponse', req.message_id,
                            '<n:EnumerateResponse><n:EnumerationContext>%s</n:EnumerationContext>'
                            '<w:Items></w:Items><w:EndOfSequence/></n:EnumerateResponse>' % cid, 'enum')
        batch, done = self.fill(ctx, max_el, call.limit - len(skeleton.encode()) - ENVELOPE_SLACK)
        if done:
            return (A_ENUM + 'EnumerateResponse',
                    '<n:EnumerateResponse><n:EnumerationContext></n:EnumerationContext>'
                    '<w:Items>%s</w:Items><w:EndOfSequence/></n:EnumerateResponse>' % batch, 'enum')
        with self.lock:
            self.contexts[cid] = ctx
        return (A_ENUM + 'EnumerateResponse',
                '<n:EnumerateResponse><n:EnumerationContext>%s</n:EnumerationContext>'
                '<w:Items>%s</w:Items></n:EnumerateResponse>' % (cid, batch), 'enum')

    def max_elements(self, el):
        if el is None:
            return 1
        try:
            value = int((el.text or '').strip())
        except ValueError:
            raise faults.invalid_parameter('MaxElements %r is not a number. ' % el.text)
        if value < 1:
            raise faults.invalid_parameter('MaxElements must be at least 1. ')
        return min(value, self.cfg.max_batch)

    def take_context(self, req, what):
        body = req.body.find(q('n', what))
        cid_el = body.find(q('n', 'EnumerationContext')) if body is not None else None
        cid = (cid_el.text or '').strip() if cid_el is not None else ''
        self.expire_contexts()
        with self.lock:
            ctx = self.contexts.get(cid)
        if ctx is None:
            raise faults.invalid_enumeration_context()
        return cid, ctx, body

    def pull(self, call):
        req = call.req
        self.stats.add('pulls')
        cid, ctx, body = self.take_context(req, 'Pull')
        if self.injector.lose_context_now():
            with self.lock:
                self.contexts.pop(cid, None)
            raise faults.invalid_enumeration_context()
        max_el = self.max_elements(body.find(q('n', 'MaxElements')))
        skeleton = envelope(A_ENUM + 'PullResponse', req.message_id,
                            '<n:PullResponse><n:EnumerationContext>%s</n:EnumerationContext>'
                            '<n:Items></n:Items><n:EndOfSequence/></n:PullResponse>' % cid, 'enum')
        with ctx.lock:
            batch, done = self.fill(ctx, max_el, call.limit - len(skeleton.encode()) - ENVELOPE_SLACK)
            ctx.last_used = time.monotonic()
        if done:
            with self.lock:
                self.contexts.pop(cid, None)
            return (A_ENUM + 'PullResponse',
                    '<n:PullResponse><n:Items>%s</n:Items><n:EndOfSequence/></n:PullResponse>' % batch,
                    'enum')
        return (A_ENUM + 'PullResponse',
                '<n:PullResponse><n:EnumerationContext>%s</n:EnumerationContext><n:Items>%s</n:Items>'
                '</n:PullResponse>' % (cid, batch), 'enum')

    def release(self, call):
        self.stats.add('releases')
        cid, _ctx, _body = self.take_context(call.req, 'Release')
        with self.lock:
            self.contexts.pop(cid, None)
        return A_ENUM + 'ReleaseResponse', '', 'enum'

    def item_xml(self, ctx, cls, inst):
        if ctx.mode == 'EnumerateEPR':
            return instance_epr(cls, inst, ctx.style)
        obj = instance_xml(cls, inst, ctx.style, ctx.only)
        if ctx.mode == 'EnumerateObjectAndEPR':
            return '<w:Item>%s%s</w:Item>' % (obj, instance_epr(cls, inst, ctx.style))
        return obj

    def fill(self, ctx, max_elements, room):
        """Up to max_elements items whose XML fits in room bytes. Returns (xml, exhausted)."""
        parts = []
        used = 0
        while len(parts) < max_elements:
            if ctx.pending is not None:
                text = ctx.pending
                ctx.pending = None
            else:
                try:
                    cls, inst = next(ctx.items)
                except StopIteration:
                    self.stats.add('items_sent', len(parts))
                    return ''.join(parts), True
                except wql.WqlError as exc:
                    raise faults.cannot_process_filter('Invalid query: %s ' % exc, '')
                text = self.item_xml(ctx, cls, inst)
            size = len(text.encode('utf-8'))
            if used + size > room:
                if not parts:
                    raise faults.encoding_limit(
                        faults.MAX_ENVELOPE_SIZE_EXCEEDED,
                        'The response that the WS-Management service computed exceeds the maximum '
                        'envelope size that is allowed (MaxEnvelopeSize). ')
                ctx.pending = text
                break
            parts.append(text)
            used += size
        self.stats.add('items_sent', len(parts))
        if ctx.pending is None:
            # Look ahead so the last batch carries EndOfSequence instead of needing one more Pull.
            try:
                cls, inst = next(ctx.items)
                ctx.pending = self.item_xml(ctx, cls, inst)
            except StopIteration:
                return ''.join(parts), True
        return ''.join(parts), False

    # ---- filters -----------------------------------------------------------------------

    def filtered_items(self, target, filt):
        """(iterator of (cls, inst), projection) for the Enumerate's resource and filter."""
        if filt is None:
            if target.any_class:
                raise faults.cannot_process_filter(
                    'A filter is required to enumerate all classes. ', '')
            return self.registry.get(target.class_name).items(), None
        dialect = (filt.get('Dialect') or DIALECT_WQL).lower()
        if dialect == DIALECT_WQL:
            return self.wql_items(filt.text or '')
        if dialect == DIALECT_SELECTOR:
            if target.any_class:
                raise faults.cannot_process_filter('A selector filter needs a class resource URI. ', '')
            return self.selector_items(target, filt), None
        if dialect == DIALECT_ASSOC:
            return self.association_items(target, filt), None
        raise faults.WsmanFault('s:Sender', 'w:FilterDialectRequestedUnavailable',
                                'The requested filtering dialect is not supported. ',
                                faults.wsman_fault_detail(faults.UNSUPPORTED_FEATURE,
                                                          esc('The filter dialect %s is not supported. '
                                                              % filt.get('Dialect'))))

    def wql_items(self, text):
        try:
            query = wql.parse(text)
        except wql.WqlError as exc:
            raise faults.cannot_process_filter('The WQL query is invalid: %s. ' % exc, text)
        cls = self.registry.get(query.class_name)
        if cls is None:
            raise faults.cannot_process_filter(
                'The specified class does not exist in the given namespace. ', text)
        for name in (query.props or []) + wql.properties_used(query.where, []):
            if cls.prop(name) is None:
                raise faults.cannot_process_filter(
                    'The WQL query is invalid: %s is not a property of %s. ' % (name, cls.name), text)
        only = None if query.props is None else {p.lower() for p in query.props}
        names = {p.name.lower(): p.name for p in cls.props}

        def gen():
            for item_cls, inst in cls.items():
                if wql.evaluate(query.where, lambda n: inst.get(names[n.lower()])):
                    yield item_cls, inst
        return gen(), only

    def selector_items(self, target, filt):
        cls = self.registry.get(target.class_name)
        sset = filt.find(q('w', 'SelectorSet'))
        wanted = []
        if sset is not None:
            for sel in sset.findall(q('w', 'Selector')):
                name = sel.get('Name', '')
                if name.lower() == '__cimnamespace':
                    continue
                prop = cls.prop(name)
                if prop is None:
                    raise faults.unexpected_selectors([name])
                wanted.append((prop, convert_text(prop, (sel.text or '').strip(), 'selector')))

        def gen():
            for item_cls, inst in cls.items():
                if all(_same(inst.get(p.name), v) for p, v in wanted):
                    yield item_cls, inst
        return gen()

    def association_items(self, target, filt):
        node = filt.find(q('b', 'AssociatedInstances'))
        references = False
        if node is None:
            node = filt.find(q('b', 'AssociationInstances'))
            references = True
        if node is None:
            raise faults.cannot_process_filter(
                'The association filter needs b:AssociatedInstances or b:AssociationInstances. ', '')
        obj = node.find(q('b', 'Object'))
        if obj is None:
            raise faults.cannot_process_filter('The association filter has no b:Object. ', '')
        uri, sels = parse_epr_element(obj)
        src_cls = self.lookup_class(uri.rstrip('/').rsplit('/', 1)[-1])

        class _Sel:
            selectors = {k: v for k, v in sels.items()}
        src = src_cls.get(self.key_values(src_cls, _Sel))
        if src is None:
            raise faults.wmi_not_found()
        src_ref = src_cls.ref(src)

        def text_of(name):
            el = node.find(q('b', name))
            return (el.text or '').strip().lower() if el is not None and (el.text or '').strip() else None
        assoc_name = text_of('AssociationClassName')
        result_name = text_of('ResultClassName')
        role = text_of('Role')
        result_role = text_of('ResultRole')

        def gen():
            seen = set()
            for acls in self.provider.associations():
                if references:
                    if result_name and acls.name.lower() != result_name:
                        continue
                elif assoc_name and acls.name.lower() != assoc_name:
                    continue
                for ainst in acls.instances():
                    for rname, _rclass in acls.roles():
                        if role and rname.lower() != role:
                            continue
                        if ainst.get(rname) != src_ref:
                            continue
                        if references:
                            yield acls, ainst
                            break
                        for oname, oclass in acls.roles():
                            if oname == rname or (result_role and oname.lower() != result_role):
                                continue
                            other = ainst[oname]
                            if result_name and other.class_name.lower() != result_name:
                                continue
                            if other in seen:
                                continue
                            seen.add(other)
                            ocls = self.registry.get(other.class_name)
                            oinst = ocls.get(other.key_dict())
                            if oinst is not None:
                                yield ocls, oinst
        return gen()


def _same(a, b):
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return a == b


# ---- class declarations (CIM-XML, DSP0201) ------------------------------------------------

def _qualifier_key():
    return '<QUALIFIER NAME="Key" TYPE="boolean" PROPAGATED="false"><VALUE>true</VALUE></QUALIFIER>'


def _property_xml(p):
    """A PROPERTY, PROPERTY.ARRAY or PROPERTY.REFERENCE element for a Prop."""
    key = _qualifier_key() if p.key else ''
    if p.type == 'reference':
        return '<PROPERTY.REFERENCE NAME="%s" REFERENCECLASS="%s">%s</PROPERTY.REFERENCE>' % (
            esc(p.name), esc(p.ref_class or ''), key)
    if p.type == 'instance':
        # An embedded instance is a string property with the EmbeddedInstance qualifier.
        qual = '<QUALIFIER NAME="EmbeddedInstance" TYPE="string"><VALUE>%s</VALUE></QUALIFIER>' % esc(
            p.embedded or '')
        tag = 'PROPERTY.ARRAY' if p.array else 'PROPERTY'
        return '<%s NAME="%s" TYPE="string">%s%s</%s>' % (tag, esc(p.name), key, qual, tag)
    tag = 'PROPERTY.ARRAY' if p.array else 'PROPERTY'
    return '<%s NAME="%s" TYPE="%s">%s</%s>' % (tag, esc(p.name), p.type, key, tag)


def class_declaration(cls):
    parts = ['<CLASS NAME="%s"' % esc(cls.name)]
    if cls.superclass:
        parts.append(' SUPERCLASS="%s"' % esc(cls.superclass))
    parts.append('>')
    parts.extend(_property_xml(p) for p in cls.props)
    for m in cls.methods.values():
        parts.append('<METHOD NAME="%s" TYPE="uint32">' % esc(m.name))
        for p in m.params:
            parts.append('<PARAMETER NAME="%s" TYPE="%s"><QUALIFIER NAME="In" TYPE="boolean">'
                         '<VALUE>true</VALUE></QUALIFIER></PARAMETER>' % (esc(p.name), p.type))
        for p in m.outs:
            parts.append('<PARAMETER NAME="%s" TYPE="%s"><QUALIFIER NAME="Out" TYPE="boolean">'
                         '<VALUE>true</VALUE></QUALIFIER></PARAMETER>' % (esc(p.name), p.type))
        parts.append('</METHOD>')
    parts.append('</CLASS>')
    return ''.join(parts)
