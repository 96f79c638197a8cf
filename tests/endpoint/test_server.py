"""The endpoint's HTTP side: startup, /stats, keep-alive, auth, TLS, limits, Identify,
header checks and the shape of generic faults."""

import http.client
import signal
import socket
import threading
import time
import unittest

from eptest import (NS, T, WMI, Endpoint, EndpointCase, action_of, envelope, fault_info,
                    identify_body)


class StartupTest(unittest.TestCase):
    def test_first_line_names_the_url_and_sigterm_exits_cleanly(self):
        ep = Endpoint()
        self.assertRegex(ep.url, r'^http://127\.0\.0\.1:\d+/wsman$')
        self.assertNotEqual(ep.port, 0)
        status, _h, _b = ep.raw(identify_body())
        self.assertEqual(status, 200)
        ep.proc.send_signal(signal.SIGTERM)
        self.assertEqual(ep.proc.wait(10), 0)
        ep.stop()

    def test_bad_option_is_refused(self):
        import subprocess
        from eptest import RUN
        res = subprocess.run([RUN, '--fault', 'nonsense'], capture_output=True, text=True)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn('unknown fault scenario', res.stderr)


class HttpTest(EndpointCase):
    def test_keep_alive_reuses_one_connection_and_stats_count_it(self):
        self.ep.control('/stats/reset')
        # connections_open is a level and survives the reset: connections other tests
        # of this class left open still count.
        before = self.ep.stats()['connections_open']
        conn = self.ep.connect()
        for _ in range(5):
            status, _h, _b = self.ep.raw(identify_body(), conn=conn)
            self.assertEqual(status, 200)
        stats = self.ep.stats()
        self.assertEqual(stats['connections_accepted'], 1)
        self.assertEqual(stats['connections_open'], before + 1)
        self.assertEqual(stats['requests_by_action']['Identify'], 5)
        conn.close()
        time.sleep(0.3)
        self.assertEqual(self.ep.stats()['connections_open'], before)

    def test_concurrent_connections_are_served(self):
        results = []

        def worker():
            conn = self.ep.connect()
            status, _h, _b = self.ep.raw(identify_body(), conn=conn)
            results.append(status)
            conn.close()
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [200] * 8)

    def test_server_header_and_content_type_like_windows(self):
        status, headers, _b = self.ep.raw(identify_body())
        self.assertEqual(headers['server'], 'Microsoft-HTTPAPI/2.0')
        self.assertEqual(headers['content-type'], 'application/soap+xml;charset=UTF-8')

    def test_identify_authenticated_shows_version(self):
        status, root = self.ep.soap(identify_body())
        self.assertEqual(status, 200)
        self.assertEqual(root.findtext('.//wsmid:ProductVendor', namespaces=NS), 'Microsoft Corporation')
        self.assertEqual(root.findtext('.//wsmid:ProductVersion', namespaces=NS),
                         'OS: 10.0.14393 SP: 0.0 Stack: 3.0')
        self.assertEqual(root.findtext('.//wsmid:ProtocolVersion', namespaces=NS),
                         'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd')

    def test_wrong_content_type_gets_415(self):
        status, _h, body = self.ep.raw(identify_body(), headers={'Content-Type': 'text/xml'})
        self.assertEqual(status, 415)
        self.assertEqual(body, b'')

    def test_malformed_xml_gets_empty_500(self):
        status, _h, body = self.ep.raw('<s:Envelope')
        self.assertEqual(status, 500)
        self.assertEqual(body, b'')

    def test_get_on_wsman_is_405_and_unknown_path_404(self):
        status, _h, _b = self.ep.raw('', method='GET')
        self.assertEqual(status, 405)
        status, _h, _b = self.ep.raw(identify_body(), path='/other')
        self.assertEqual(status, 404)

    def test_message_id_comes_back_as_relates_to(self):
        mid = 'uuid:0A1B2C3D-0000-4000-8000-123456789ABC'
        status, root = self.ep.soap(envelope(T + 'Get', WMI + 'Win32_OperatingSystem', message_id=mid))
        self.assertEqual(status, 200)
        self.assertEqual(root.findtext('s:Header/a:RelatesTo', namespaces=NS), mid)
        status, root = self.ep.soap(envelope(T + 'Bogus', WMI + 'Win32_OperatingSystem', message_id=mid))
        self.assertEqual(root.findtext('s:Header/a:RelatesTo', namespaces=NS), mid)

    def test_unknown_action_is_action_not_supported(self):
        status, root = self.ep.soap(envelope('http://example.com/NoSuchAction', WMI + 'Win32_Service'))
        self.assertEqual(fault_info(root)[:3], ('s:Sender', 'a:ActionNotSupported', '2150858771'))
        self.assertEqual(action_of(root), 'http://schemas.xmlsoap.org/ws/2004/08/addressing/fault')
        self.assertEqual(status, 500)

    def test_unknown_resource_is_destination_unreachable(self):
        status, root = self.ep.soap(envelope(T + 'Get', 'http://example.com/not/a/resource'))
        self.assertFault(status, root, 'a:DestinationUnreachable', 2150858770)

    def test_unregistered_powershell_configuration_is_not_available(self):
        status, root = self.ep.soap(envelope(T + 'Create', 'http://schemas.microsoft.com/powershell/NoSuch.Config',
                                             '<rsp:Shell/>'))
        self.assertFault(status, root, 'a:DestinationUnreachable', 2150858770)
        text = root.findtext('.//f:Message', namespaces=NS)
        self.assertIn('NoSuch.Config session configuration', text)

    def test_missing_message_id_is_invalid_header(self):
        body = envelope(T + 'Get', WMI + 'Win32_OperatingSystem').replace(
            '<a:MessageID>', '<a:Nothing>').replace('</a:MessageID>', '</a:Nothing>')
        status, root = self.ep.soap(body)
        self.assertFault(status, root, 'a:InvalidMessageInformationHeader', 2150858767)

    def test_negative_operation_timeout_is_invalid_header(self):
        status, root = self.ep.soap(envelope(T + 'Get', WMI + 'Win32_OperatingSystem', timeout='PT-1S'))
        self.assertFault(status, root, 'a:InvalidMessageInformationHeader', 2150858767)
        self.assertIn('PT-1S', root.findtext('.//s:Reason/s:Text', namespaces=NS))

    def test_tiny_max_envelope_size_is_encoding_limit(self):
        status, root = self.ep.soap(envelope(T + 'Get', WMI + 'Win32_OperatingSystem', max_env=4096))
        self.assertFault(status, root, 'w:EncodingLimit', 2150858878)

    def test_config_resource_reports_the_limits(self):
        status, root = self.ep.soap(envelope(T + 'Get', 'http://schemas.microsoft.com/wbem/wsman/1/config'))
        self.assertEqual(status, 200)
        cfg = '{http://schemas.microsoft.com/wbem/wsman/1/config}'
        self.assertEqual(root.find('.//%sMaxEnvelopeSizekb' % cfg).text, '500')
        self.assertEqual(root.find('.//%sMaxBatchItems' % cfg).text, '32000')

    def test_fault_detail_shape_matches_windows(self):
        status, root = self.ep.soap(envelope(T + 'Get', 'http://example.com/x'))
        fault = root.find('s:Body/s:Fault', NS)
        self.assertIsNotNone(fault.find('s:Reason/s:Text', NS))
        self.assertEqual(fault.find('s:Reason/s:Text', NS).get('{http://www.w3.org/XML/1998/namespace}lang'), 'en-US')
        wf = fault.find('s:Detail/f:WSManFault', NS)
        self.assertIsNotNone(wf.get('Machine'))
        self.assertIsNotNone(wf.find('f:Message', NS))


class LimitTest(EndpointCase):
    ARGS = ('--max-envelope-kb', '32')

    def test_request_over_the_limit_gets_413_and_an_empty_body(self):
        self.ep.control('/stats/reset')
        big = envelope(T + 'Get', WMI + 'Win32_OperatingSystem', extra_header='<p:Pad>%s</p:Pad>' % ('x' * 40000))
        status, headers, body = self.ep.raw(big)
        self.assertEqual(status, 413)
        self.assertEqual(body, b'')
        stats = self.ep.stats()
        self.assertEqual(stats['envelopes_over_limit'], 1)
        self.assertGreater(stats['largest_request_body'], 32 * 1024)
        # the connection stays usable
        status, _h, _b = self.ep.raw(identify_body())
        self.assertEqual(status, 200)

    def test_request_just_under_the_limit_is_served(self):
        body = envelope(T + 'Get', WMI + 'Win32_OperatingSystem')
        pad = 32 * 1024 - len(body.encode()) - len('<p:Pad></p:Pad>')
        body = envelope(T + 'Get', WMI + 'Win32_OperatingSystem', extra_header='<p:Pad>%s</p:Pad>' % ('x' * pad))
        self.assertEqual(len(body.encode()), 32 * 1024)
        status, _h, _b = self.ep.raw(body)
        self.assertEqual(status, 200)


class AuthTest(EndpointCase):
    ARGS = ('--auth', 'basic', '--user', 'alice', '--password', 's3cret')

    def test_missing_credentials_get_401_with_basic_challenge(self):
        self.ep.auth = None
        status, headers, body = self.ep.raw(envelope(T + 'Get', WMI + 'Win32_OperatingSystem'))
        self.assertEqual(status, 401)
        self.assertEqual(headers['www-authenticate'], 'Basic realm="WSMAN"')
        self.assertEqual(body, b'')

    def test_wrong_password_gets_401(self):
        self.ep.auth = 'alice:wrong'
        status, _h, _b = self.ep.raw(envelope(T + 'Get', WMI + 'Win32_OperatingSystem'))
        self.assertEqual(status, 401)
        self.assertGreaterEqual(self.ep.stats()['auth_failures'], 1)

    def test_right_password_is_served(self):
        self.ep.auth = 'alice:s3cret'
        status, _h, _b = self.ep.raw(envelope(T + 'Get', WMI + 'Win32_OperatingSystem'))
        self.assertEqual(status, 200)

    def test_unauthenticated_identify_hides_the_version(self):
        self.ep.auth = None
        status, root = self.ep.soap(identify_body(), headers={'WSMANIDENTIFY': 'unauthenticated'})
        self.assertEqual(status, 200)
        self.assertEqual(root.findtext('.//wsmid:ProductVersion', namespaces=NS), 'OS: 0.0.0 SP: 0.0 Stack: 1.0')
        self.assertIsNone(root.find('.//wsmid:SecurityProfiles', NS))

    def test_identify_without_the_header_needs_auth(self):
        self.ep.auth = None
        status, _h, _b = self.ep.raw(identify_body())
        self.assertEqual(status, 401)
        self.ep.auth = 'alice:s3cret'
        status, root = self.ep.soap(identify_body())
        self.assertEqual(root.findtext('.//wsmid:ProductVersion', namespaces=NS), 'OS: 10.0.14393 SP: 0.0 Stack: 3.0')
        names = [e.text for e in root.iterfind('.//wsmid:SecurityProfileName', NS)]
        self.assertIn('http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/basic', names)


class TlsTest(EndpointCase):
    ARGS = ('--tls',)

    def test_https_with_the_generated_certificate(self):
        self.assertTrue(self.ep.url.startswith('https://127.0.0.1:'))
        status, root = self.ep.soap(identify_body())
        self.assertEqual(status, 200)

    def test_plain_http_to_the_tls_port_fails(self):
        conn = http.client.HTTPConnection('127.0.0.1', self.ep.port, timeout=5)
        with self.assertRaises((ConnectionError, http.client.HTTPException, socket.timeout, OSError)):
            conn.request('POST', '/wsman', body=identify_body())
            conn.getresponse().read()
        conn.close()


class LatencyTest(EndpointCase):
    ARGS = ('--latency', '300')

    def test_answers_are_delayed(self):
        started = time.monotonic()
        status, _h, _b = self.ep.raw(envelope(T + 'Get', WMI + 'Win32_OperatingSystem'))
        self.assertEqual(status, 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.3)


if __name__ == '__main__':
    unittest.main()
