"""CIM over WS-Man: Get, Enumerate/Pull/Release, filters, Invoke, Create/Put/Delete, faults."""

import os
import time
import unittest

from eptest import DMTF, E, NS, T, WMI, EndpointCase, envelope, fault_info

P_NS = lambda cls, base=WMI: '{%s%s}' % (base, cls)  # noqa: E731


def enum_body(max_elements=None, optimize=True, mode=None, filt=''):
    parts = '<n:Enumerate>'
    if optimize:
        parts += '<w:OptimizeEnumeration/>'
    if max_elements:
        parts += '<w:MaxElements>%d</w:MaxElements>' % max_elements
    if mode:
        parts += '<w:EnumerationMode>%s</w:EnumerationMode>' % mode
    return parts + filt + '</n:Enumerate>'


def wql_filter(query):
    return ('<w:Filter Dialect="http://schemas.microsoft.com/wbem/wsman/1/WQL">%s</w:Filter>'
            % query.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;'))


class CimCase(EndpointCase):
    ARGS = ('--instances', '2500')

    def enumerate_all(self, resource, body, max_elements=32000, selectors=(), max_env=512000):
        """Enumerate + Pull to the end; returns (items elements, responses)."""
        status, root = self.ep.soap(envelope(E + 'Enumerate', resource, body, selectors=selectors,
                                             max_env=max_env))
        self.assertEqual(status, 200, fault_info(root))
        responses = [root]
        items = list(root.find('.//n:EnumerateResponse/w:Items', NS) or [])
        done = root.find('.//w:EndOfSequence', NS) is not None
        ctx = root.findtext('.//n:EnumerationContext', namespaces=NS)
        while not done:
            status, root = self.ep.soap(envelope(
                E + 'Pull', resource, '<n:Pull><n:EnumerationContext>%s</n:EnumerationContext>'
                '<n:MaxElements>%d</n:MaxElements></n:Pull>' % (ctx, max_elements), selectors=selectors,
                max_env=max_env))
            self.assertEqual(status, 200, fault_info(root))
            responses.append(root)
            items.extend(list(root.find('.//n:PullResponse/n:Items', NS)))
            done = root.find('.//n:PullResponse/n:EndOfSequence', NS) is not None
            ctx = root.findtext('.//n:EnumerationContext', namespaces=NS)
        return items, responses


class GetTest(CimCase):
    def test_get_singleton_without_selectors(self):
        status, root = self.ep.soap(envelope(T + 'Get', WMI + 'Win32_OperatingSystem'))
        self.assertEqual(status, 200)
        inst = root.find('s:Body/%sWin32_OperatingSystem' % P_NS('Win32_OperatingSystem'), NS)
        self.assertIsNotNone(inst)
        self.assertEqual(inst.get('{%s}type' % NS['xsi']), 'p:Win32_OperatingSystem_Type')
        boot = inst.find('%sLastBootUpTime/cim:Datetime' % P_NS('Win32_OperatingSystem'), NS)
        self.assertRegex(boot.text, r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d')

    def test_get_service_by_name_in_dmtf_form(self):
        status, root = self.ep.soap(envelope(T + 'Get', DMTF + 'Win32_Service',
                                             selectors=[('Name', 'winrm'), ('__cimnamespace', 'root/cimv2')]))
        self.assertEqual(status, 200)
        p = P_NS('Win32_Service', DMTF)
        self.assertEqual(root.findtext('.//%sName' % p), 'WinRM')
        self.assertEqual(root.findtext('.//%sState' % p), 'Running')

    def test_dmtf_form_without_cimnamespace_is_root_hardware(self):
        status, root = self.ep.soap(envelope(T + 'Get', DMTF + 'Win32_Service', selectors=[('Name', 'WinRM')]))
        info = self.assertFault(status, root, 'w:InvalidParameter')
        self.assertEqual(info[3], str(0x8004100E))

    def test_missing_key_selector(self):
        status, root = self.ep.soap(envelope(T + 'Get', WMI + 'Win32_Service'))
        self.assertFault(status, root, 'w:InvalidSelectors', 2150859002)

    def test_unexpected_selector(self):
        status, root = self.ep.soap(envelope(T + 'Get', WMI + 'Win32_Service', selectors=[('Colour', 'red')]))
        self.assertFault(status, root, 'w:InvalidSelectors', 2150858813)

    def test_instance_not_found_carries_msft_wmierror(self):
        status, root = self.ep.soap(envelope(T + 'Get', WMI + 'Win32_Service', selectors=[('Name', 'nosuch')]))
        info = self.assertFault(status, root, 'w:InvalidSelectors')
        self.assertEqual(info[3], str(0x80041002))
        err = root.find('.//msft:MSFT_WmiError', NS)
        self.assertEqual(err.get('{%s}IsCIM_Error' % NS['b']), 'true')
        self.assertEqual(err.findtext('msft:CIMStatusCode', namespaces=NS), '6')

    def test_bad_selector_type(self):
        status, root = self.ep.soap(envelope(T + 'Get', WMI + 'X_Number', selectors=[('Id', 'abc')]))
        self.assertFault(status, root, 'w:InvalidSelectors', 2150858813)

    def test_unknown_class_and_namespace(self):
        status, root = self.ep.soap(envelope(T + 'Get', WMI + 'Win32_NoSuchClass'))
        info = self.assertFault(status, root, 'w:InvalidParameter')
        self.assertEqual(info[3], str(0x80041010))
        status, root = self.ep.soap(envelope(T + 'Get', 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/nowhere/X'))
        self.assertEqual(fault_info(root)[3], str(0x8004100E))

    def test_every_cim_type_in_x_number(self):
        status, root = self.ep.soap(envelope(T + 'Get', WMI + 'X_Number', selectors=[('Id', '10')]))
        self.assertEqual(status, 200)
        p = P_NS('X_Number')
        inst = root.find('s:Body/%sX_Number' % p, NS)
        self.assertEqual(inst.findtext(p + 'U64'), str(2**64 - 10))
        self.assertEqual(inst.findtext(p + 'S64'), str(-2**63 + 10))
        self.assertEqual(inst.findtext(p + 'Flag'), 'true')
        self.assertEqual(inst.findtext(p + 'Text'), 'number 10 <&> "\u00e9\u4e2d"')
        self.assertEqual(inst.find(p + 'When/cim:Datetime', NS).text, '2024-01-01T00:00:10.010000+00:00')
        self.assertEqual(inst.find(p + 'Span/cim:Interval', NS).text, 'P0DT0H0M10S')
        self.assertEqual([e.text for e in inst.findall(p + 'Squares')], ['100', '121'])
        self.assertEqual([e.text for e in inst.findall(p + 'Words')], ['w0'])
        owner = inst.find(p + 'Owner')
        self.assertEqual(owner.findtext('a:ReferenceParameters/w:ResourceURI', namespaces=NS), WMI + 'Win32_Service')
        detail = inst.find(p + 'Detail')
        self.assertEqual(detail.get('{%s}type' % NS['xsi']).split(':')[1], 'X_NumberDetail_Type')
        self.assertEqual(detail.findtext(P_NS('X_NumberDetail') + 'Parity'), 'even')
        self.assertEqual(inst.find(p + 'Nothing').get('{%s}nil' % NS['xsi']), 'true')
        self.assertEqual(inst.find(p + 'Sometimes').get('{%s}nil' % NS['xsi']), 'true')


class EnumerateTest(CimCase):
    def test_enumerate_pull_all_services_in_batches_of_7(self):
        items, responses = self.enumerate_all(WMI + 'Win32_Service', enum_body(7), max_elements=7)
        names = [i.findtext(P_NS('Win32_Service') + 'Name') for i in items]
        self.assertEqual(len(names), 40)
        self.assertEqual(len(set(names)), 40)
        counts = [len(r.find('.//n:EnumerateResponse/w:Items', NS) if i == 0 else r.find('.//n:Items', NS))
                  for i, r in enumerate(responses)]
        self.assertEqual(counts, [7, 7, 7, 7, 7, 5])
        self.assertEqual(len(responses), 6)

    def test_enumerate_namespaces_w_in_enumerate_n_in_pull(self):
        status, root = self.ep.soap(envelope(E + 'Enumerate', WMI + 'Win32_Service', enum_body(5)))
        self.assertIsNotNone(root.find('.//n:EnumerateResponse/w:Items', NS))
        ctx = root.findtext('.//n:EnumerationContext', namespaces=NS)
        status, root = self.ep.soap(envelope(E + 'Pull', WMI + 'Win32_Service',
                                             '<n:Pull><n:EnumerationContext>%s</n:EnumerationContext>'
                                             '<n:MaxElements>100</n:MaxElements></n:Pull>' % ctx))
        self.assertIsNotNone(root.find('.//n:PullResponse/n:Items', NS))
        self.assertIsNotNone(root.find('.//n:PullResponse/n:EndOfSequence', NS))

    def test_without_optimize_the_first_items_come_from_pull(self):
        status, root = self.ep.soap(envelope(E + 'Enumerate', WMI + 'Win32_Service', enum_body(optimize=False)))
        self.assertIsNone(root.find('.//w:Items', NS))
        ctx = root.findtext('.//n:EnumerationContext', namespaces=NS)
        status, root = self.ep.soap(envelope(E + 'Pull', WMI + 'Win32_Service',
                                             '<n:Pull><n:EnumerationContext>%s</n:EnumerationContext></n:Pull>' % ctx))
        self.assertEqual(len(root.find('.//n:Items', NS)), 1)

    def test_object_and_epr_and_epr_only_modes(self):
        items, _r = self.enumerate_all(WMI + 'Win32_Service', enum_body(100, mode='EnumerateObjectAndEPR'))
        first = items[0]
        self.assertEqual(first.tag, '{%s}Item' % NS['w'])
        self.assertEqual(first[0].tag, P_NS('Win32_Service') + 'Win32_Service')
        self.assertEqual(first[1].tag, '{%s}EndpointReference' % NS['a'])
        items, _r = self.enumerate_all(DMTF + 'Win32_Service', enum_body(100, mode='EnumerateEPR'),
                                       selectors=[('__cimnamespace', 'root/cimv2')])
        self.assertEqual(items[0].tag, '{%s}EndpointReference' % NS['a'])
        sels = {s.get('Name'): s.text for s in items[0].iterfind('.//w:Selector', NS)}
        self.assertEqual(sels['__cimnamespace'], 'root/cimv2')
        self.assertIn('Name', sels)

    def test_large_class_is_batched_under_the_envelope_limit(self):
        items, responses = self.enumerate_all(WMI + 'X_Number', enum_body(32000), max_env=153600)
        ids = [int(i.findtext(P_NS('X_Number') + 'Id')) for i in items]
        self.assertEqual(ids, list(range(1, 2501)))
        self.assertGreater(len(responses), 5)
        self.assertEqual(self.ep.stats()['responses_over_limit'], 0)

    def test_unknown_context_fault(self):
        status, root = self.ep.soap(envelope(E + 'Pull', WMI + 'Win32_Service',
                                             '<n:Pull><n:EnumerationContext>uuid:nope</n:EnumerationContext></n:Pull>'))
        self.assertFault(status, root, 'n:InvalidEnumerationContext', 2150858779)
        self.assertEqual(root.findtext('s:Header/a:Action', namespaces=NS),
                         'http://schemas.xmlsoap.org/ws/2004/09/enumeration/fault')

    def test_release_ends_the_context(self):
        before = self.ep.stats()['releases']
        status, root = self.ep.soap(envelope(E + 'Enumerate', WMI + 'X_Number', enum_body(3)))
        ctx = root.findtext('.//n:EnumerationContext', namespaces=NS)
        body = '<n:Release><n:EnumerationContext>%s</n:EnumerationContext></n:Release>' % ctx
        status, root = self.ep.soap(envelope(E + 'Release', WMI + 'X_Number', body))
        self.assertEqual(status, 200)
        self.assertEqual(root.findtext('s:Header/a:Action', namespaces=NS),
                         'http://schemas.xmlsoap.org/ws/2004/09/enumeration/ReleaseResponse')
        status, root = self.ep.soap(envelope(E + 'Release', WMI + 'X_Number', body))
        self.assertFault(status, root, 'n:InvalidEnumerationContext', 2150858779)
        self.assertEqual(self.ep.stats()['releases'], before + 2)


class FilterTest(CimCase):
    def names(self, query, resource=WMI + '*'):
        items, _r = self.enumerate_all(resource, enum_body(32000, filt=wql_filter(query)))
        return [i.findtext(P_NS('Win32_Service') + 'Name') for i in items], items

    def test_wql_equality_and_case_insensitivity(self):
        names, _i = self.names("SELECT * FROM Win32_Service WHERE Name = 'winrm'")
        self.assertEqual(names, ['WinRM'])

    def test_wql_and_or_not_like(self):
        names, _i = self.names("SELECT * FROM Win32_Service WHERE State = 'Stopped' AND NOT StartMode = 'Manual'")
        self.assertEqual(names, ['RemoteRegistry'])
        names, _i = self.names("SELECT * FROM Win32_Service WHERE Name LIKE 'Win%' OR Name LIKE '_32Time'")
        self.assertEqual(sorted(names), ['W32Time', 'WinHttpAutoProxySvc', 'WinRM', 'Winmgmt'])
        names, _i = self.names("SELECT * FROM Win32_Service WHERE Name LIKE '[a-b]%'")
        self.assertEqual(sorted(names), ['Afd', 'AppIDSvc', 'Appinfo', 'AudioEndpointBuilder', 'AudioSrv',
                                         'BFE', 'BITS', 'Bowser'])

    def test_wql_numbers_comparisons_and_is_null(self):
        items, _r = self.enumerate_all(WMI + 'X_Number', enum_body(32000, filt=wql_filter(
            'SELECT Id FROM X_Number WHERE Id >= 95 AND Id < 105 AND Sometimes IS NULL')))
        ids = [int(i.findtext(P_NS('X_Number') + 'Id')) for i in items]
        self.assertEqual(ids, [100])
        items, _r = self.enumerate_all(WMI + 'X_Number', enum_body(32000, filt=wql_filter(
            'SELECT Id FROM X_Number WHERE Id <= 3 OR Id > 2498')))
        self.assertEqual([int(i.findtext(P_NS('X_Number') + 'Id')) for i in items], [1, 2, 3, 2499, 2500])

    def test_wql_projection_keeps_selected_and_key_properties(self):
        _n, items = self.names("SELECT State FROM Win32_Service WHERE Name = 'Spooler'")
        props = [c.tag.split('}')[1] for c in items[0]]
        self.assertEqual(props, ['Name', 'State'])

    def test_bad_wql_is_cannot_process_filter(self):
        status, root = self.ep.soap(envelope(E + 'Enumerate', WMI + '*', enum_body(10, filt=wql_filter(
            'SELECT * FROM Win32_Service WHERE'))))
        self.assertFault(status, root, 'n:CannotProcessFilter', 2150858778)
        status, root = self.ep.soap(envelope(E + 'Enumerate', WMI + '*', enum_body(10, filt=wql_filter(
            'Select * from Win32_Processa where name="sshd.exe"'))))
        self.assertFault(status, root, 'n:CannotProcessFilter', 2150858778)
        self.assertEqual(root.findtext('.//f:ProviderFault/f:WSManFault/f:Message', namespaces=NS),
                         'The specified class does not exist in the given namespace. ')
        self.assertIsNotNone(root.find('.//f:ExtendedError', NS))
        status, root = self.ep.soap(envelope(E + 'Enumerate', WMI + '*', enum_body(10, filt=wql_filter(
            'SELECT Colour FROM Win32_Service'))))
        self.assertFault(status, root, 'n:CannotProcessFilter', 2150858778)

    def test_selector_filter(self):
        filt = ('<w:Filter Dialect="http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter"><w:SelectorSet>'
                '<w:Selector Name="StartMode">Disabled</w:Selector></w:SelectorSet></w:Filter>')
        items, _r = self.enumerate_all(WMI + 'Win32_Service', enum_body(100, filt=filt))
        self.assertEqual([i.findtext(P_NS('Win32_Service') + 'Name') for i in items], ['RemoteRegistry'])

    def assoc(self, kind, name, extra=''):
        obj = ('<b:Object><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address>'
               '<a:ReferenceParameters><w:ResourceURI>%sWin32_Service</w:ResourceURI><w:SelectorSet>'
               '<w:Selector Name="Name">%s</w:Selector></w:SelectorSet></a:ReferenceParameters></b:Object>'
               % (DMTF, name))
        filt = ('<w:Filter Dialect="http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter">'
                '<b:%s>%s%s</b:%s></w:Filter>' % (kind, obj, extra, kind))
        items, _r = self.enumerate_all('http://schemas.dmtf.org/wbem/wscim/1/*', enum_body(100, filt=filt),
                                       selectors=[('__cimnamespace', 'root/cimv2')])
        return items

    def test_associators_with_roles(self):
        items = self.assoc('AssociatedInstances', 'WinRM')
        names = sorted(i.findtext(P_NS('Win32_Service', DMTF) + 'Name') for i in items)
        self.assertEqual(names, ['HTTP', 'RpcSS'])
        items = self.assoc('AssociatedInstances', 'HTTP',
                           '<b:AssociationClassName>Win32_DependentService</b:AssociationClassName>'
                           '<b:Role>Antecedent</b:Role><b:ResultRole>Dependent</b:ResultRole>'
                           '<b:ResultClassName>Win32_Service</b:ResultClassName>')
        self.assertEqual(sorted(i.findtext(P_NS('Win32_Service', DMTF) + 'Name') for i in items),
                         ['Spooler', 'WinRM'])
        self.assertEqual(self.assoc('AssociatedInstances', 'HTTP', '<b:Role>Dependent</b:Role>'), [])

    def test_references(self):
        items = self.assoc('AssociationInstances', 'WinRM',
                           '<b:ResultClassName>Win32_DependentService</b:ResultClassName>')
        self.assertEqual(len(items), 2)
        self.assertEqual(items[0].tag, P_NS('Win32_DependentService', DMTF) + 'Win32_DependentService')


class MethodTest(CimCase):
    def invoke(self, cls, method, selectors=(), params='', resource=None):
        resource = resource or WMI + cls
        body = '<p:%s_INPUT xmlns:p="%s">%s</p:%s_INPUT>' % (method, resource, params, method)
        status, root = self.ep.soap(envelope(resource + '/' + method, resource, body, selectors=selectors))
        return status, root

    def test_start_and_stop_service_return_windows_codes(self):
        sel = [('Name', 'wuauserv')]
        status, root = self.invoke('Win32_Service', 'StartService', sel)
        self.assertEqual(status, 200)
        self.assertEqual(root.findtext('s:Header/a:Action', namespaces=NS), WMI + 'Win32_Service/StartServiceResponse')
        out = root.find('s:Body/%sStartService_OUTPUT' % P_NS('Win32_Service'), NS)
        self.assertEqual(out.findtext(P_NS('Win32_Service') + 'ReturnValue'), '0')
        status, root = self.invoke('Win32_Service', 'StartService', sel)
        self.assertEqual(root.findtext('.//%sReturnValue' % P_NS('Win32_Service')), '10')
        status, root = self.ep.soap(envelope(T + 'Get', WMI + 'Win32_Service', selectors=sel))
        self.assertEqual(root.findtext('.//%sState' % P_NS('Win32_Service')), 'Running')
        status, root = self.invoke('Win32_Service', 'StopService', sel)
        self.assertEqual(root.findtext('.//%sReturnValue' % P_NS('Win32_Service')), '0')
        status, root = self.invoke('Win32_Service', 'StopService', sel)
        self.assertEqual(root.findtext('.//%sReturnValue' % P_NS('Win32_Service')), '5')
        status, root = self.invoke('Win32_Service', 'StopService', [('Name', 'HTTP')])
        self.assertEqual(root.findtext('.//%sReturnValue' % P_NS('Win32_Service')), '3')
        status, root = self.invoke('Win32_Service', 'StartService', [('Name', 'RemoteRegistry')])
        self.assertEqual(root.findtext('.//%sReturnValue' % P_NS('Win32_Service')), '14')

    def test_instance_method_needs_selectors_and_unknown_method_faults(self):
        status, root = self.invoke('Win32_Service', 'StopService')
        self.assertFault(status, root, 'w:InvalidSelectors', 2150859002)
        status, root = self.invoke('Win32_Service', 'Explode', [('Name', 'WinRM')])
        info = self.assertFault(status, root, 'w:InvalidParameter')
        self.assertEqual(info[3], str(0x8004102E))

    def test_process_create_runs_a_real_process_and_terminate_stops_it(self):
        marker = os.path.join(os.environ.get('TMPDIR', '/tmp'), 'rms-ep-%d' % os.getpid())
        status, root = self.invoke('Win32_Process', 'Create',
                                   params='<p:CommandLine>echo created &gt; %s; exec sleep 30</p:CommandLine>' % marker)
        self.assertEqual(status, 200, fault_info(root))
        p = P_NS('Win32_Process')
        out = root.find('s:Body/%sCreate_OUTPUT' % p, NS)
        self.assertEqual([c.tag.split('}')[1] for c in out], ['ProcessId', 'ReturnValue'])
        self.assertEqual(out.findtext(p + 'ReturnValue'), '0')
        pid = out.findtext(p + 'ProcessId')
        # The shell creates the file before echo writes into it: wait for
        # the whole line, not for the file (a loaded machine shows the gap).
        text = ''
        for _ in range(200):
            if os.path.exists(marker):
                with open(marker) as fh:
                    text = fh.read()
                if text.endswith('\n'):
                    break
            time.sleep(0.05)
        self.assertEqual(text, 'created\n')
        os.unlink(marker)
        status, root = self.ep.soap(envelope(T + 'Get', WMI + 'Win32_Process', selectors=[('Handle', pid)]))
        self.assertEqual(status, 200)
        status, root = self.invoke('Win32_Process', 'Terminate', [('Handle', pid)], '<p:Reason>0</p:Reason>')
        self.assertEqual(root.findtext('.//%sReturnValue' % p), '0')
        status, root = self.ep.soap(envelope(T + 'Get', WMI + 'Win32_Process', selectors=[('Handle', pid)]))
        self.assertEqual(status, 500)

    def test_process_create_bad_directory_and_missing_command(self):
        status, root = self.invoke('Win32_Process', 'Create',
                                   params='<p:CommandLine>true</p:CommandLine><p:CurrentDirectory>/no/such/dir</p:CurrentDirectory>')
        self.assertEqual(root.findtext('.//%sReturnValue' % P_NS('Win32_Process')), '9')
        status, root = self.invoke('Win32_Process', 'Create')
        self.assertEqual(root.findtext('.//%sReturnValue' % P_NS('Win32_Process')), '21')
        status, root = self.invoke('Win32_Process', 'Terminate', [('Handle', '4')])
        self.assertEqual(root.findtext('.//%sReturnValue' % P_NS('Win32_Process')), '2')


class WidgetTest(CimCase):
    def widget(self, wid, name, size, tags=()):
        return ('<p:X_Widget xmlns:p="%sX_Widget" xmlns:cim="%s"><p:Id>%s</p:Id><p:Name>%s</p:Name>'
                '<p:Size>%d</p:Size>%s<p:Created><cim:Datetime>2025-05-01T10:00:00Z</cim:Datetime></p:Created>'
                '</p:X_Widget>' % (WMI, NS['cim'], wid, name, size,
                                   ''.join('<p:Tags>%s</p:Tags>' % t for t in tags)))

    def test_create_get_put_delete(self):
        p = P_NS('X_Widget')
        status, root = self.ep.soap(envelope(T + 'Create', WMI + 'X_Widget', self.widget('new1', 'delta', 7, ['a', 'b'])))
        self.assertEqual(status, 200, fault_info(root))
        self.assertEqual(root.findtext('.//x:ResourceCreated//w:Selector[@Name="Id"]', namespaces=NS), 'new1')
        status, root = self.ep.soap(envelope(T + 'Get', WMI + 'X_Widget', selectors=[('Id', 'new1')]))
        self.assertEqual([t.text for t in root.iterfind('.//%sTags' % p)], ['a', 'b'])
        self.assertEqual(root.find('.//%sCreated/cim:Datetime' % p, NS).text, '2025-05-01T10:00:00+00:00')
        status, root = self.ep.soap(envelope(T + 'Put', WMI + 'X_Widget', self.widget('new1', 'epsilon', 9),
                                             selectors=[('Id', 'new1')]))
        self.assertEqual(status, 200)
        self.assertEqual(root.findtext('.//%sName' % p), 'epsilon')
        status, root = self.ep.soap(envelope(T + 'Create', WMI + 'X_Widget', self.widget('new1', 'x', 1)))
        self.assertEqual(fault_info(root)[3], str(0x80041019))
        status, root = self.ep.soap(envelope(T + 'Delete', WMI + 'X_Widget', selectors=[('Id', 'new1')]))
        self.assertEqual(status, 200)
        status, root = self.ep.soap(envelope(T + 'Get', WMI + 'X_Widget', selectors=[('Id', 'new1')]))
        self.assertFault(status, root, 'w:InvalidSelectors')

    def test_bad_representation(self):
        body = self.widget('w9', 'x', 1).replace('<p:Size>1</p:Size>', '<p:Size>-5</p:Size>')
        status, root = self.ep.soap(envelope(T + 'Create', WMI + 'X_Widget', body))
        self.assertFault(status, root, 'x:InvalidRepresentation', 2150858773)
        status, root = self.ep.soap(envelope(T + 'Put', WMI + 'Win32_Service',
                                             '<p:Win32_Service xmlns:p="%sWin32_Service"/>' % WMI,
                                             selectors=[('Name', 'WinRM')]))
        self.assertEqual(status, 500)


class ExpiryTest(EndpointCase):
    ARGS = ('--enum-timeout', '0.5')

    def test_idle_context_expires(self):
        status, root = self.ep.soap(envelope(E + 'Enumerate', WMI + 'Win32_Service', enum_body(2)))
        ctx = root.findtext('.//n:EnumerationContext', namespaces=NS)
        time.sleep(1.0)
        status, root = self.ep.soap(envelope(E + 'Pull', WMI + 'Win32_Service',
                                             '<n:Pull><n:EnumerationContext>%s</n:EnumerationContext></n:Pull>' % ctx))
        self.assertFault(status, root, 'n:InvalidEnumerationContext', 2150858779)
        self.assertGreaterEqual(self.ep.stats()['enumerations_expired'], 1)


class MillionTest(EndpointCase):
    ARGS = ('--instances', '1000000')

    def test_million_instances_stream_without_being_held(self):
        started = time.monotonic()
        status, root = self.ep.soap(envelope(E + 'Enumerate', WMI + 'X_Number', enum_body(500)))
        self.assertEqual(status, 200)
        self.assertLess(time.monotonic() - started, 5)
        ctx = root.findtext('.//n:EnumerationContext', namespaces=NS)
        status, root = self.ep.soap(envelope(E + 'Pull', WMI + 'X_Number',
                                             '<n:Pull><n:EnumerationContext>%s</n:EnumerationContext>'
                                             '<n:MaxElements>500</n:MaxElements></n:Pull>' % ctx))
        ids = [int(i.findtext(P_NS('X_Number') + 'Id')) for i in root.find('.//n:Items', NS)]
        self.assertGreater(ids[0], 1)
        self.assertEqual(ids, list(range(ids[0], ids[0] + len(ids))))
        status, root = self.ep.soap(envelope(T + 'Get', WMI + 'X_Number', selectors=[('Id', '1000000')]))
        self.assertEqual(status, 200)
        status, root = self.ep.soap(envelope(T + 'Get', WMI + 'X_Number', selectors=[('Id', '1000001')]))
        self.assertEqual(status, 500)
        with open('/proc/%d/status' % self.ep.proc.pid) as fh:
            rss_kb = int([line for line in fh if line.startswith('VmRSS')][0].split()[1])
        self.assertLess(rss_kb, 200 * 1024, 'the endpoint holds too much memory')


if __name__ == '__main__':
    unittest.main()
