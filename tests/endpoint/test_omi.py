"""--personality omi: the endpoint as an OMI 1.9.1 server (shared/protocol/omi.md), checked
with raw HTTP; and the default personality unchanged."""

import base64
import io
import re
import socket
import time
import unittest
import xml.etree.ElementTree as ET

from eptest import DMTF, E, NS, T, WMI, Endpoint, EndpointCase, envelope, identify_body

SOAP = NS['s']
WSA = NS['a']
WSMAN = NS['w']
WSEN = NS['n']
XSI = NS['xsi']
OMI_ERROR = DMTF + 'OMI_Error'
A_WSMAN_FAULT = 'http://schemas.dmtf.org/wbem/wsman/1/wsman/fault'
A_ADDR_FAULT = 'http://schemas.xmlsoap.org/ws/2004/08/addressing/fault'
NSSEL = ('__cimnamespace', 'root/cimv2')
DELAY = 0.6


def parse(payload):
    """(root, {prefix: uri}) keeping the prefixes, to resolve QName values."""
    prefixes = {}
    for _event, (prefix, uri) in ET.iterparse(io.BytesIO(payload), events=('start-ns',)):
        prefixes[prefix] = uri
    return ET.fromstring(payload), prefixes


def qname(prefixes, text):
    prefix, _, local = (text or '').partition(':')
    return '{%s}%s' % (prefixes.get(prefix, '?' + prefix), local)


def body_child(root):
    body = root.find('{%s}Body' % SOAP)
    return body[0] if len(body) else None


class Fault:
    def __init__(self, payload):
        self.root, prefixes = parse(payload)
        fault = self.root.find('{%(s)s}Body/{%(s)s}Fault' % {'s': SOAP})
        assert fault is not None, payload
        self.code = qname(prefixes, fault.findtext('{%(s)s}Code/{%(s)s}Value' % {'s': SOAP}))
        self.subcode = qname(prefixes, fault.findtext(
            '{%(s)s}Code/{%(s)s}Subcode/{%(s)s}Value' % {'s': SOAP}))
        self.reason = fault.findtext('{%(s)s}Reason/{%(s)s}Text' % {'s': SOAP})
        self.action = self.root.findtext('{%s}Header/{%s}Action' % (SOAP, WSA))
        self.relates_to = self.root.find('{%s}Header/{%s}RelatesTo' % (SOAP, WSA))
        self.fault_detail = fault.find('.//{%s}FaultDetail' % WSMAN)
        detail = fault.find('{%s}Detail' % SOAP)
        self.error = detail[0] if detail is not None and len(detail) else None

    def prop(self, name):
        return self.error.findtext('{%s}%s' % (OMI_ERROR, name))

    @property
    def status(self):
        return int(self.prop('CIMStatusCode'))


class OmiCase(EndpointCase):
    ARGS = ('--personality', 'omi', '--auth', 'basic', '--omi-noauth-delay', str(DELAY))

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ep.auth = 'vagrant:vagrant'

    def post(self, body, **kw):
        status, headers, payload = self.ep.raw(body, **kw)
        return status, headers, payload

    def ok(self, body, **kw):
        status, _h, payload = self.post(body, **kw)
        self.assertEqual(status, 200, payload[:2000])
        return parse(payload)[0]

    def fault(self, body, status=500, **kw):
        code, _h, payload = self.post(body, **kw)
        self.assertEqual(code, status, payload[:2000])
        return Fault(payload)

    def assertCimFault(self, f, status, subcode, code='Sender'):
        self.assertEqual(f.code, '{%s}%s' % (SOAP, code))
        self.assertEqual(f.subcode, subcode)
        self.assertIsNone(f.fault_detail, 'OMI sends no wsman:FaultDetail')
        self.assertIsNotNone(f.error)
        self.assertEqual(f.error.get('{%s}IsCIM_Error' % NS['b']), 'true')
        self.assertEqual(f.status, status)
        return f

    def enum(self, resource, optimize=True, max_elements=None, mode=None, filt='',
             selectors=(NSSEL,), max_env=512000):
        parts = '<n:Enumerate>'
        if optimize:
            parts += '<w:OptimizeEnumeration/>'
        if max_elements:
            parts += '<w:MaxElements>%d</w:MaxElements>' % max_elements
        if mode:
            parts += '<w:EnumerationMode>%s</w:EnumerationMode>' % mode
        parts += filt + '</n:Enumerate>'
        return envelope(E + 'Enumerate', resource, parts, selectors=selectors, max_env=max_env)

    def pull(self, resource, ctx, max_elements=None, max_env=512000):
        me = '<n:MaxElements>%d</n:MaxElements>' % max_elements if max_elements else ''
        return envelope(E + 'Pull', resource, '<n:Pull><n:EnumerationContext>%s</n:EnumerationContext>%s'
                        '</n:Pull>' % (ctx, me), max_env=max_env)

    def release(self, resource, ctx):
        return envelope(E + 'Release', resource, '<n:Release><n:EnumerationContext>%s'
                        '</n:EnumerationContext></n:Release>' % ctx)

    def enumerate_all(self, resource, max_elements=32000, max_env=512000, **kw):
        """Optimized Enumerate + Pulls to EndOfSequence: (items, payload sizes, last context)."""
        status, _h, payload = self.post(self.enum(resource, max_elements=max_elements,
                                                  max_env=max_env, **kw))
        self.assertEqual(status, 200, payload[:2000])
        sizes = [len(payload)]
        root = parse(payload)[0]
        resp = root.find('.//{%s}EnumerateResponse' % WSEN)
        items = list(resp.find('{%s}Items' % WSMAN))
        batches = [len(items)]
        ctx = resp.findtext('{%s}EnumerationContext' % WSEN)
        done = resp.find('{%s}EndOfSequence' % WSMAN) is not None
        while not done:
            status, _h, payload = self.post(self.pull(resource, ctx, max_elements, max_env))
            self.assertEqual(status, 200, payload[:2000])
            sizes.append(len(payload))
            resp = parse(payload)[0].find('.//{%s}PullResponse' % WSEN)
            batch = list(resp.find('{%s}Items' % WSEN))
            batches.append(len(batch))
            items.extend(batch)
            ctx = resp.findtext('{%s}EnumerationContext' % WSEN)
            done = resp.find('{%s}EndOfSequence' % WSEN) is not None
        return items, sizes, ctx, batches


def raw_request(body, auth=True, extra=b'', chunked=False):
    head = b'POST /wsman HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/soap+xml;charset=UTF-8\r\n'
    if auth:
        head += b'Authorization: Basic ' + base64.b64encode(b'vagrant:vagrant') + b'\r\n'
    if chunked:
        data = body.encode()
        return head + extra + b'Transfer-Encoding: chunked\r\n\r\n' + (
            b'%x\r\n' % len(data)) + data + b'\r\n0\r\n\r\n'
    return head + extra + b'Content-Length: %d\r\n\r\n' % len(body.encode()) + body.encode()


def read_all(sock):
    out = b''
    while True:
        data = sock.recv(65536)
        if not data:
            return out
        out += data


# ---- HTTP and authentication ------------------------------------------------------------

class HttpTest(OmiCase):
    def test_identify(self):
        status, headers, payload = self.post(identify_body())
        self.assertEqual(status, 200)
        root, _p = parse(payload)
        child = body_child(root)
        self.assertEqual(child.tag, '{%s}IdentifyResponse' % SOAP)
        self.assertEqual(child.findtext('{%s}ProductVendor' % NS['wsmid']),
                         'Open Management Infrastructure')
        self.assertEqual(child.findtext('{%s}ProductVersion' % NS['wsmid']), '1.9.1-0')
        self.assertEqual(child.findtext('{%s}ProtocolVersion' % NS['wsmid']),
                         'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd')
        self.assertIn(b'xmlns:wsmb="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xml"', payload)

    def test_response_headers(self):
        for body, want in ((identify_body(), 200),
                           (envelope(T + 'Get', DMTF + 'X_SmallNumber', selectors=[('Number', '1')]), 500)):
            status, headers, payload = self.post(body)
            self.assertEqual(status, want)
            self.assertEqual(headers['content-length'], str(len(payload)))
            self.assertEqual(headers['connection'], 'Keep-Alive')
            self.assertEqual(headers['content-type'], 'application/soap+xml;charset=UTF-8')
            self.assertNotIn('server', headers)
            self.assertNotIn('date', headers)
            self.assertNotIn('transfer-encoding', headers)

    def test_no_credentials_no_challenge_connection_closed_after_delay(self):
        before = self.ep.stats()['requests_without_credentials']
        sock = socket.create_connection(('127.0.0.1', self.ep.port), timeout=10)
        start = time.monotonic()
        sock.sendall(raw_request(identify_body(), auth=False))
        data = read_all(sock)
        elapsed = time.monotonic() - start
        sock.close()
        self.assertEqual(data, b'')
        self.assertGreaterEqual(elapsed, DELAY - 0.1)
        self.assertEqual(self.ep.stats()['requests_without_credentials'], before + 1)

    def test_wrong_password_three_challenges(self):
        conn = self.ep.connect()
        conn.request('POST', '/wsman', body=identify_body().encode(), headers={
            'Content-Type': 'application/soap+xml;charset=UTF-8',
            'Authorization': 'Basic ' + base64.b64encode(b'vagrant:wrong').decode()})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 401)
        self.assertEqual(resp.read(), b'')
        self.assertEqual(resp.msg.get_all('WWW-Authenticate'),
                         ['Basic realm="WSMAN"', 'Negotiate', 'Kerberos'])
        conn.close()

    def test_authentication_kept_per_connection(self):
        conn = self.ep.connect()
        ep = Endpoint.__new__(Endpoint)
        ep.auth = 'vagrant:vagrant'
        status, _h, _b = Endpoint.raw(ep, identify_body(), conn=conn)
        self.assertEqual(status, 200)
        ep.auth = None
        for _ in range(2):
            status, _h, _b = Endpoint.raw(ep, envelope(T + 'Get', DMTF + 'X_SmallNumber',
                                                       selectors=[('Number', '3'), NSSEL]), conn=conn)
            self.assertEqual(status, 200)
        conn.close()
        # A new connection is not authenticated.
        sock = socket.create_connection(('127.0.0.1', self.ep.port), timeout=10)
        sock.sendall(raw_request(identify_body(), auth=False))
        self.assertEqual(read_all(sock), b'')
        sock.close()

    def test_chunked_request_closes_without_answer(self):
        before = self.ep.stats()['chunked_requests_refused']
        sock = socket.create_connection(('127.0.0.1', self.ep.port), timeout=10)
        start = time.monotonic()
        sock.sendall(raw_request(identify_body(), chunked=True))
        self.assertEqual(read_all(sock), b'')
        self.assertLess(time.monotonic() - start, DELAY)
        sock.close()
        self.assertEqual(self.ep.stats()['chunked_requests_refused'], before + 1)

    def test_expect_100_continue_ignored(self):
        body = identify_body().encode()
        head = raw_request(identify_body(), extra=b'Expect: 100-continue\r\n')
        head = head[:len(head) - len(body)]
        sock = socket.create_connection(('127.0.0.1', self.ep.port), timeout=0.5)
        sock.sendall(head)
        with self.assertRaises(socket.timeout):
            sock.recv(100)        # no "HTTP/1.1 100 Continue"
        sock.settimeout(10)
        sock.sendall(body)
        data = b''
        while b'</SOAP-ENV:Envelope>' not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        sock.close()
        self.assertTrue(data.startswith(b'HTTP/1.1 200 '), data[:100])
        self.assertNotIn(b'100 Continue', data)

    def test_text_xml_accepted(self):
        status, _h, _b = self.post(identify_body(), headers={'Content-Type': 'text/xml'})
        self.assertEqual(status, 200)

    def test_parse_error_is_a_wsman_fault(self):
        f = self.fault('this is not xml')
        self.assertEqual(f.action, A_WSMAN_FAULT)
        self.assertEqual(f.subcode, '{%s}InternalError' % WSMAN)


# ---- addressing ------------------------------------------------------------------------

class AddressingTest(OmiCase):
    def test_namespace_mandatory_on_every_cim_request(self):
        before = self.ep.stats()['requests_without_namespace']
        sel = [('Number', '7')]
        requests = [
            envelope(T + 'Get', DMTF + 'X_SmallNumber', selectors=sel),
            envelope(T + 'Get', WMI + 'X_SmallNumber', selectors=sel),
            envelope(T + 'Put', DMTF + 'X_Widget', '<p:X_Widget xmlns:p="%sX_Widget"/>' % DMTF,
                     selectors=[('Id', 'a')]),
            envelope(T + 'Create', DMTF + 'X_Widget', '<p:X_Widget xmlns:p="%sX_Widget"><p:Id>z</p:Id>'
                     '</p:X_Widget>' % DMTF),
            envelope(T + 'Delete', DMTF + 'X_Widget', selectors=[('Id', 'a')]),
            self.enum(DMTF + 'X_SmallNumber', selectors=()),
            self.enum(WMI + '*', selectors=(), filt='<w:Filter Dialect="http://schemas.microsoft.com/'
                      'wbem/wsman/1/WQL">SELECT * FROM X_SmallNumber</w:Filter>'),
            envelope(DMTF + 'X_SmallNumber/SpellNumber', DMTF + 'X_SmallNumber',
                     '<p:SpellNumber_INPUT xmlns:p="%sX_SmallNumber"><p:num>3</p:num>'
                     '</p:SpellNumber_INPUT>' % DMTF),
        ]
        for body in requests:
            f = self.fault(body)
            self.assertCimFault(f, 3, '{%s}DestinationUnreachable' % WSA)
            self.assertIn('The target namespace does not exist', f.reason)
        self.assertEqual(self.ep.stats()['requests_without_namespace'], before + len(requests))

    def test_class_is_last_segment_and_wmi_namespace_ignored(self):
        for uri in (WMI + 'X_SmallNumber', 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/nowhere/'
                    'X_SmallNumber', 'http://example.com/anything/X_SmallNumber'):
            root = self.ok(envelope(T + 'Get', uri, selectors=[('Number', '7'), NSSEL]))
            inst = body_child(root)
            self.assertEqual(inst.tag, '{%sX_SmallNumber}X_SmallNumber' % DMTF)
            self.assertEqual(inst.findtext('{%sX_SmallNumber}SpelledNumber' % DMTF), 'seven')

    def test_selector_values_not_trimmed(self):
        f = self.fault(envelope(T + 'Get', DMTF + 'X_SmallNumber', selectors=[('Number', '\n7'), NSSEL]))
        self.assertEqual(f.subcode, '{%s}InternalError' % WSMAN)
        f = self.fault(envelope(T + 'Get', DMTF + 'X_SmallNumber',
                                selectors=[('Number', '7'), ('__cimnamespace', ' root/cimv2 ')]))
        self.assertCimFault(f, 3, '{%s}DestinationUnreachable' % WSA)
        # Whitespace between elements and an XML declaration are fine.
        body = envelope(T + 'Get', DMTF + 'X_SmallNumber', selectors=[('Number', '7'), NSSEL])
        body = '<?xml version="1.0" encoding="utf-8"?>\n' + body.replace('><', '>\n  <')
        self.ok(body)

    def test_shell_resources_are_unknown(self):
        cmd = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd'
        shell = ('<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout'
                 '</rsp:OutputStreams></rsp:Shell>')
        f = self.fault(envelope(T + 'Create', cmd, shell))
        self.assertCimFault(f, 3, '{%s}DestinationUnreachable' % WSA)
        f = self.fault(envelope(T + 'Create', cmd, shell, selectors=[NSSEL]))
        self.assertCimFault(f, 5, '{%s}DestinationUnreachable' % WSA)
        f = self.fault(envelope(T + 'Create', 'http://schemas.microsoft.com/powershell/Microsoft.PowerShell',
                                shell, selectors=[NSSEL]))
        self.assertCimFault(f, 5, '{%s}DestinationUnreachable' % WSA)
        self.assertEqual(self.ep.stats()['shells_created'], 0)


# ---- values and instances ---------------------------------------------------------------

class ValuesTest(OmiCase):
    def test_value_forms(self):
        root = self.ok(envelope(T + 'Get', DMTF + 'Test_PhysicalDisk', selectors=[('DeviceID', 'disk0'), NSSEL]))
        inst = body_child(root)
        p = '{%sTest_PhysicalDisk}' % DMTF
        self.assertEqual(inst.tag, p + 'Test_PhysicalDisk')
        self.assertIsNone(inst.get('{%s}type' % XSI))
        self.assertEqual(inst.findtext(p + 'Removable'), 'FALSE')
        self.assertEqual(inst.findtext(p + 'DriveLetter'), '67')
        self.assertEqual(inst.findtext(p + 'PowerOnTime/{%s}Interval' % NS['cim']), 'P2000D')
        self.assertEqual(inst.findtext(p + 'Temperature'), '100.300003051758')
        serial = inst.find(p + 'Serial')
        self.assertEqual(serial.get('{%s}type' % XSI), 'cim:cimBase64Binary')
        self.assertEqual(serial.text, 'QUJD')
        self.assertEqual(inst.find(p + 'Label').get('{%s}nil' % XSI), 'true')
        root = self.ok(envelope(T + 'Get', DMTF + 'Test_PhysicalDisk', selectors=[('DeviceID', 'disk1'), NSSEL]))
        inst = body_child(root)
        self.assertEqual(inst.findtext(p + 'Removable'), 'TRUE')
        self.assertEqual(inst.findtext(p + 'PowerOnTime/{%s}Interval' % NS['cim']), 'P12DT3H')
        self.assertEqual(base64.b64decode(inst.findtext(p + 'Serial')), b'\x00\xff\x10')

    def test_reference_property_without_cimnamespace(self):
        root = self.ok(envelope(T + 'Get', DMTF + 'X_Number', selectors=[('Id', '5'), NSSEL]))
        owner = root.find('.//{%sX_Number}Owner' % DMTF)
        names = [s.get('Name') for s in owner.iter('{%s}Selector' % WSMAN)]
        self.assertEqual(names, ['Name'])
        self.assertEqual(root.findtext('.//{%sX_Number}Flag' % DMTF), 'FALSE')

    def test_enumerating_base_class_gives_derived_instances(self):
        items, _s, _c, _b = self.enumerate_all(DMTF + 'Test_PhysicalDisk')
        tags = sorted(i.tag for i in items)
        self.assertEqual(tags, ['{%sTest_PhysicalDisk}Test_PhysicalDisk' % DMTF] * 2
                         + ['{%sTest_VirtualDisk}Test_VirtualDisk' % DMTF])

    def test_association_epr_without_endpointreference_wrapper(self):
        items, _s, _c, _b = self.enumerate_all(DMTF + 'Test_DiskDependency', mode='EnumerateObjectAndEPR')
        self.assertEqual(len(items), 2)
        for item in items:
            self.assertEqual(item.tag, '{%s}Item' % WSMAN)
            epr = item.find('{%s}EndpointReference' % WSA)
            sels = {s.get('Name'): s for s in epr.find('{%s}ReferenceParameters/{%s}SelectorSet' % (WSA, WSMAN))}
            self.assertEqual(sorted(sels), ['__cimnamespace', 'antecedent', 'dependent'])
            ante = sels['antecedent']
            self.assertEqual([c.tag for c in ante], ['{%s}Address' % WSA, '{%s}ReferenceParameters' % WSA])
            self.assertIsNone(ante.find('{%s}EndpointReference' % WSA))
            nested = [s.get('Name') for s in ante.iter('{%s}Selector' % WSMAN) if s is not ante]
            self.assertEqual(nested, ['DeviceID'])
        # Get by those reference selectors, written as OMI writes them.
        ref = ('<a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address>'
               '<a:ReferenceParameters><w:ResourceURI>%s%s</w:ResourceURI><w:SelectorSet>'
               '<w:Selector Name="DeviceID">%s</w:Selector></w:SelectorSet></a:ReferenceParameters>')
        root = self.ok(envelope(T + 'Get', DMTF + 'Test_DiskDependency', selectors=[
            ('antecedent', ref % (DMTF, 'Test_PhysicalDisk', 'disk1')),
            ('dependent', ref % (DMTF, 'Test_VirtualDisk', 'vdisk0')), NSSEL]))
        self.assertEqual(root.findtext('.//{%sTest_DiskDependency}Weight' % DMTF), '100')
        # The Windows association too.
        items, _s, _c, _b = self.enumerate_all(DMTF + 'Win32_DependentService', mode='EnumerateEPR',
                                               max_elements=3)
        sel = items[0].find('.//{%s}Selector[@Name="Antecedent"]' % WSMAN)
        self.assertIsNotNone(sel.find('{%s}Address' % WSA))
        self.assertIsNone(sel.find('{%s}EndpointReference' % WSA))


# ---- methods ----------------------------------------------------------------------------

class InvokeTest(OmiCase):
    def test_output_element_is_class_output_with_octet_string(self):
        action = 'http://example.org/wbem/wscim/1/cim-schema/2/X_SmallNumber/SpellNumber'
        status, _h, payload = self.post(envelope(
            action, DMTF + 'X_SmallNumber', '<p:SpellNumber_INPUT xmlns:p="%sX_SmallNumber"><p:num>123'
            '</p:num></p:SpellNumber_INPUT>' % DMTF, selectors=[NSSEL]))
        self.assertEqual(status, 200, payload)
        root = parse(payload)[0]
        self.assertEqual(root.findtext('{%s}Header/{%s}Action' % (SOAP, WSA)), action)
        out = body_child(root)
        p = '{%sX_SmallNumber}' % DMTF
        self.assertEqual(out.tag, p + 'X_SmallNumber_OUTPUT')
        self.assertEqual(out.findtext(p + 'ReturnValue'), '0')
        self.assertEqual(out.findtext(p + 'SpelledNumber'), 'one hundred twenty-three')
        octets = out.find(p + 'Octets')
        self.assertEqual(octets.get('{%s}type' % XSI), 'cim:cimBase64Binary')
        self.assertEqual(base64.b64decode(octets.text), b'one hundred twenty-three')

    def test_calc_add_output_named_after_the_method(self):
        action = DMTF + 'TestClass_MethodProvider_Calc/Add'
        root = self.ok(envelope(action, DMTF + 'TestClass_MethodProvider_Calc',
                                '<p:Add_INPUT xmlns:p="%sTestClass_MethodProvider_Calc"><p:Left>40</p:Left>'
                                '<p:Right>2</p:Right></p:Add_INPUT>' % DMTF, selectors=[NSSEL]))
        out = body_child(root)
        self.assertEqual(out.tag, '{%sAdd}Add' % DMTF)
        self.assertEqual(out.findtext('{%sAdd}sum' % DMTF), '42')

    def test_wmi_style_action_is_internal_error(self):
        f = self.fault(envelope(WMI + 'X_SmallNumber/SpellNumber', WMI + 'X_SmallNumber',
                                '<p:SpellNumber_INPUT xmlns:p="%sX_SmallNumber"><p:num>3</p:num>'
                                '</p:SpellNumber_INPUT>' % WMI, selectors=[NSSEL]))
        self.assertEqual(f.subcode, '{%s}InternalError' % WSMAN)
        self.assertEqual(f.reason or '', '')
        self.assertEqual(f.action, A_WSMAN_FAULT)
        self.assertIsNone(f.relates_to)

    def test_provider_error_is_cim_error(self):
        f = self.fault(envelope(DMTF + 'TestClass_MethodProvider_Calc/HardError',
                                DMTF + 'TestClass_MethodProvider_Calc', selectors=[NSSEL]))
        self.assertEqual(f.error.tag, '{%s}CIM_Error' % OMI_ERROR)
        self.assertEqual(f.status, 1)
        self.assertEqual(f.code, '{%s}Receiver' % SOAP)
        self.assertEqual(f.action, A_WSMAN_FAULT)


# ---- enumeration ------------------------------------------------------------------------

class EnumerationTest(OmiCase):
    def test_not_optimized_enumerate_has_empty_items_and_pull_gives_one(self):
        root = self.ok(self.enum(DMTF + 'X_SmallNumber', optimize=False))
        resp = root.find('.//{%s}EnumerateResponse' % WSEN)
        items = resp.find('{%s}Items' % WSMAN)
        self.assertIsNotNone(items)
        self.assertEqual(len(items), 0)
        ctx = resp.findtext('{%s}EnumerationContext' % WSEN)
        self.assertRegex(ctx, r'^[0-9]+$')
        root = self.ok(self.pull(DMTF + 'X_SmallNumber', ctx))
        resp = root.find('.//{%s}PullResponse' % WSEN)
        self.assertEqual(len(resp.find('{%s}Items' % WSEN)), 1)
        self.ok(self.release(DMTF + 'X_SmallNumber', ctx))

    def test_optimized_without_max_elements_gives_one(self):
        root = self.ok(self.enum(DMTF + 'X_SmallNumber'))
        resp = root.find('.//{%s}EnumerateResponse' % WSEN)
        self.assertEqual(len(resp.find('{%s}Items' % WSMAN)), 1)
        self.ok(self.release(DMTF + 'X_SmallNumber', resp.findtext('{%s}EnumerationContext' % WSEN)))

    def test_context_with_end_of_sequence_and_release_after_it(self):
        stats = self.ep.stats()
        root = self.ok(self.enum(DMTF + 'Test_PhysicalDisk', max_elements=100))
        resp = root.find('.//{%s}EnumerateResponse' % WSEN)
        self.assertIsNotNone(resp.find('{%s}EndOfSequence' % WSMAN))
        ctx = resp.findtext('{%s}EnumerationContext' % WSEN)
        self.assertRegex(ctx, r'^[0-9]+$')
        for body in (self.release(DMTF + 'Test_PhysicalDisk', ctx), self.pull(DMTF + 'Test_PhysicalDisk', ctx)):
            f = self.fault(body)
            self.assertEqual(f.subcode, '{%s}DestinationUnreachable' % WSA)
            self.assertEqual(f.reason, 'Enumeration context not found')
        after = self.ep.stats()
        self.assertEqual(after['releases_after_end_of_sequence'], stats['releases_after_end_of_sequence'] + 1)
        self.assertEqual(after['pulls_after_end_of_sequence'], stats['pulls_after_end_of_sequence'] + 1)
        # The same at the end of Pulls, and for a context that never existed (not counted).
        items, _s, ctx, _b = self.enumerate_all(DMTF + 'X_SmallNumber', max_elements=400)
        self.assertEqual(len(items), 1000)
        self.assertRegex(ctx, r'^[0-9]+$')
        self.fault(self.release(DMTF + 'X_SmallNumber', ctx))
        f = self.fault(self.release(DMTF + 'X_SmallNumber', '987654321'))
        self.assertEqual(f.reason, 'Enumeration context not found')
        self.assertEqual(self.ep.stats()['releases_after_end_of_sequence'],
                         stats['releases_after_end_of_sequence'] + 2)

    def test_errors_at_first_pull_unless_optimized(self):
        for resource, selectors, status in ((DMTF + 'X_NoSuchClass', (NSSEL,), 5),
                                            (DMTF + 'X_SmallNumber', (('__cimnamespace', 'root/nowhere'),), 3),
                                            (DMTF + 'X_SmallNumber', (), 3)):
            root = self.ok(self.enum(resource, optimize=False, selectors=selectors))
            ctx = root.findtext('.//{%s}EnumerationContext' % WSEN)
            f = self.fault(self.pull(resource, ctx))
            self.assertCimFault(f, status, '{%s}DestinationUnreachable' % WSA)
            f = self.fault(self.enum(resource, selectors=selectors))
            self.assertCimFault(f, status, '{%s}DestinationUnreachable' % WSA)

    def test_max_envelope_size_and_alternating_order(self):
        orders = []
        for _ in range(2):
            items, sizes, _c, batches = self.enumerate_all(DMTF + 'X_SmallNumber', max_env=20000)
            self.assertTrue(all(s <= 20000 for s in sizes), sizes)
            self.assertTrue(80 <= batches[0] <= 100, batches)
            numbers = [int(i.findtext('{%sX_SmallNumber}Number' % DMTF)) for i in items]
            self.assertEqual(sorted(numbers), list(range(1000)))
            orders.append(numbers)
        self.assertNotEqual(orders[0], orders[1])

    def test_wql_on_wmi_uri(self):
        items, _s, _c, _b = self.enumerate_all(WMI + '*', filt=(
            '<w:Filter Dialect="http://schemas.microsoft.com/wbem/wsman/1/WQL">SELECT * FROM '
            'X_SmallNumber WHERE Number &lt; 5</w:Filter>'))
        self.assertEqual(len(items), 5)


# ---- GetClass ----------------------------------------------------------------------------
#
# omi.md records no GetClass; the personality answers it as OMI's source does
# (microsoft/omi Unix/wsman/wsman.c _ParseValidateProcessGetRequest and
# _ParseValidateProcessGetClassRequest, Unix/disp/disp.c _HandleGetClassReq, the CLASS from
# Unix/xmlserializer/xmlserializer.c): the CIM-XML resource is served, the WS-CIM one refused.

CIMXML_ANY = 'http://schemas.dmtf.org/wbem/cim-xml/2/cim-schema/2/*'
WSCIM_ANY = 'http://schemas.dmtf.org/wbem/ws-cim/1/cim-schema/2/*'
ALL_OPTIONS = (('IncludeInheritanceHierarchy', 'true'), ('IncludeInheritedElements', 'true'),
               ('IncludeQualifiers', 'true'))


def get_class(name, options=ALL_OPTIONS, selectors=None, resource=CIMXML_ANY, **kw):
    sels = [NSSEL, ('ClassName', name)] if selectors is None else selectors
    return envelope(T + 'Get', resource, selectors=sels, options=options, **kw)


def qualifiers(el):
    return {q.get('NAME'): q.findtext('VALUE') for q in el.findall('QUALIFIER')}


class GetClassTest(OmiCase):
    def test_cim_xml_class_in_the_body(self):
        mid = 'uuid:AAAAAAAA-2222-3333-4444-555555555555'
        status, _h, payload = self.post(get_class('Test_VirtualDisk', message_id=mid))
        self.assertEqual(status, 200, payload[:2000])
        root = parse(payload)[0]
        self.assertEqual(root.findtext('{%s}Header/{%s}Action' % (SOAP, WSA)), T + 'GetResponse')
        self.assertEqual(root.findtext('{%s}Header/{%s}RelatesTo' % (SOAP, WSA)), mid)
        cls = body_child(root)
        self.assertEqual(cls.tag, 'CLASS')         # CIM-XML: no namespace, no wrapper
        self.assertEqual(cls.get('NAME'), 'Test_VirtualDisk')
        self.assertEqual(cls.get('SUPERCLASS'), 'Test_PhysicalDisk')
        self.assertEqual(cls.get('DERIVATION'), 'Test_PhysicalDisk')
        props = {p.get('NAME'): p for p in cls if p.tag.startswith('PROPERTY')}
        self.assertEqual(sorted(props), sorted(['DeviceID', 'Removable', 'DriveLetter',
                                                'PowerOnTime', 'Temperature', 'Serial',
                                                'Label', 'Thin']))
        self.assertEqual(props['DeviceID'].get('TYPE'), 'string')
        self.assertEqual(qualifiers(props['DeviceID']), {'key': 'true'})
        self.assertEqual(props['DeviceID'].get('PROPAGATED'), 'true')
        self.assertIsNone(props['Thin'].get('PROPAGATED'))
        self.assertEqual(props['Serial'].tag, 'PROPERTY.ARRAY')
        self.assertEqual(props['Serial'].get('TYPE'), 'uint8')
        self.assertEqual(qualifiers(props['Serial']), {'OctetString': 'true'})
        self.assertEqual(props['DriveLetter'].get('TYPE'), 'char16')
        self.assertEqual(props['PowerOnTime'].get('TYPE'), 'datetime')

    def test_options_decide_what_is_written(self):
        # No options (OMI's defaults for a client that is not WinRM): the class's own
        # properties only, no qualifiers, no DERIVATION.
        cls = body_child(self.ok(get_class('Test_VirtualDisk', options=())))
        self.assertIsNone(cls.get('DERIVATION'))
        self.assertEqual([p.get('NAME') for p in cls], ['Thin'])
        self.assertEqual(cls.findall('.//QUALIFIER'), [])
        cls = body_child(self.ok(get_class('Test_PhysicalDisk', options=(
            ('IncludeClassOrigin', 'true'),))))
        self.assertEqual({p.get('CLASSORIGIN') for p in cls}, {'Test_PhysicalDisk'})

    def test_methods_references_and_embedded_instances(self):
        cls = body_child(self.ok(get_class('X_SmallNumber')))
        method = cls.find('METHOD')
        self.assertEqual((method.get('NAME'), method.get('TYPE')), ('SpellNumber', 'uint32'))
        self.assertEqual(qualifiers(method), {'static': 'true'})
        params = {p.get('NAME'): p for p in method if p.tag.startswith('PARAMETER')}
        self.assertEqual(qualifiers(params['num']), {'in': 'true'})
        self.assertEqual(params['Octets'].tag, 'PARAMETER.ARRAY')
        self.assertEqual(qualifiers(params['Octets']), {'OctetString': 'true', 'out': 'true'})
        self.assertNotIn('ReturnValue', params)
        cls = body_child(self.ok(get_class('Test_DiskDependency')))
        self.assertEqual(qualifiers(cls), {'association': 'true'})
        ref = cls.find('PROPERTY.REFERENCE')
        self.assertEqual(ref.get('REFERENCECLASS'), 'Test_PhysicalDisk')
        self.assertEqual(qualifiers(ref), {'key': 'true'})
        cls = body_child(self.ok(get_class('Test_DiskHealth')))
        report = [p for p in cls if p.get('NAME') == 'Report'][0]
        self.assertEqual(report.get('TYPE'), 'string')
        self.assertEqual(qualifiers(report), {'EmbeddedInstance': 'Test_HealthReport'})

    def test_faults(self):
        f = self.fault(get_class('X_Nothing'))
        self.assertCimFault(f, 5, '{%s}DestinationUnreachable' % WSA)
        self.assertTrue(f.reason.startswith('CIM ERROR:INVALID_CLASS'), f.reason)
        f = self.fault(get_class('X_SmallNumber', selectors=[('__cimnamespace', 'root/nope'),
                                                              ('ClassName', 'X_SmallNumber')]))
        self.assertCimFault(f, 3, '{%s}DestinationUnreachable' % WSA)
        # Without ClassName the class is the URI's last segment, "*": INVALID_CLASS.
        self.assertCimFault(self.fault(get_class('', selectors=[NSSEL])), 5,
                            '{%s}DestinationUnreachable' % WSA)
        # A ClassName that is not a CIM name: the request does not parse.
        f = self.fault(get_class('X-Small'))
        self.assertEqual(f.subcode, '{%s}InternalError' % WSMAN)
        self.assertEqual(f.action, A_WSMAN_FAULT)
        # The WS-CIM form is refused.
        f = self.fault(get_class('X_SmallNumber', resource=WSCIM_ANY))
        self.assertEqual(f.subcode, '{%s}UnsupportedFeature' % WSMAN)
        self.assertEqual(f.reason, 'GetClass not Supported in WS-CIM format')
        self.assertEqual(f.action, A_WSMAN_FAULT)
        self.assertIsNone(f.error)


# ---- faults -----------------------------------------------------------------------------

class FaultTest(OmiCase):
    def test_not_found(self):
        body = envelope(T + 'Get', DMTF + 'X_SmallNumber', selectors=[('Number', '5000'), NSSEL],
                        message_id='uuid:11111111-2222-3333-4444-555555555555')
        status, _h, payload = self.post(body)
        self.assertEqual(status, 500)
        self.assertNotIn(b'FaultDetail', payload)
        f = self.assertCimFault(Fault(payload), 6, '{%s}DestinationUnreachable' % WSA)
        self.assertTrue(f.reason.startswith('CIM ERROR:NOT_FOUND: '), f.reason)
        self.assertEqual(f.prop('OMI_Code'), '6')
        self.assertTrue(f.prop('Message'))
        self.assertEqual(f.action, A_ADDR_FAULT)
        self.assertEqual(f.relates_to.text, 'uuid:11111111-2222-3333-4444-555555555555')

    def test_invalid_class(self):
        f = self.fault(envelope(T + 'Get', DMTF + 'X_Nothing', selectors=[('Id', '1'), NSSEL]))
        self.assertCimFault(f, 5, '{%s}DestinationUnreachable' % WSA)
        self.assertTrue(f.reason.startswith('CIM ERROR:INVALID_CLASS'))

    def test_not_supported(self):
        f = self.fault(envelope(T + 'Delete', DMTF + 'Win32_Service', selectors=[('Name', 'WinRM'), NSSEL]))
        self.assertCimFault(f, 7, '{%s}UnsupportedFeature' % WSMAN)

    def test_invoke_fault_action(self):
        f = self.fault(envelope(DMTF + 'X_SmallNumber/NoSuchMethod', DMTF + 'X_SmallNumber', selectors=[NSSEL]))
        self.assertEqual(f.action, A_WSMAN_FAULT)
        self.assertEqual(f.status, 17)


# ---- the default personality ------------------------------------------------------------

class DefaultPersonalityTest(EndpointCase):
    def test_windows_unchanged(self):
        status, headers, payload = self.ep.raw(identify_body())
        self.assertEqual(status, 200)
        self.assertEqual(headers['server'], 'Microsoft-HTTPAPI/2.0')
        self.assertIn(b'Microsoft Corporation', payload)
        status, headers, payload = self.ep.raw(envelope(T + 'Get', DMTF + 'Win32_Service',
                                                        selectors=[('Name', 'WinRM')]))
        self.assertEqual(status, 500)     # root/hardware, as Windows
        self.assertIn(b'MSFT_WmiError', payload)
        self.assertNotIn('X_SmallNumber', payload.decode())
        status, _h, payload = self.ep.raw(envelope(T + 'Get', WMI + 'X_SmallNumber',
                                                   selectors=[('Number', '1')]))
        self.assertEqual(status, 500)     # the OMI classes exist only in OMI mode
        self.assertTrue(re.search(rb'Invalid class X_SmallNumber', payload))


if __name__ == '__main__':
    unittest.main()
