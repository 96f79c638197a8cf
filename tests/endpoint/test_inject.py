"""Fault injection: every --fault scenario does what docs/testing.md says."""

import http.client
import socket
import time
import unittest

from eptest import E, NS, T, WMI, Endpoint, EndpointCase, envelope, fault_info

GET_OS = envelope(T + 'Get', WMI + 'Win32_OperatingSystem')


class InjectTest(EndpointCase):
    """One endpoint; the scenario is switched with POST /control/fault between tests."""

    def setUp(self):
        self.ep.control('/control/fault', 'none')

    def tearDown(self):
        self.ep.control('/control/fault', 'none')

    def fresh(self, timeout=5):
        return self.ep.connect(timeout=timeout)

    def once(self, timeout=5):
        """GET_OS on a new connection, closed afterwards."""
        conn = self.fresh(timeout)
        try:
            return self.ep.raw(GET_OS, conn=conn)
        finally:
            conn.close()

    def test_drop_after_n_requests(self):
        self.ep.control('/control/fault', 'drop:2:1')
        conn = self.fresh()
        for _ in range(2):
            self.assertEqual(self.ep.raw(GET_OS, conn=conn)[0], 200)
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            self.ep.raw(GET_OS, conn=conn)
        conn.close()
        self.assertEqual(self.once()[0], 200)   # COUNT 1: only once

    def test_drop_mid_body(self):
        self.ep.control('/control/fault', 'drop-mid-body')
        conn = self.fresh()
        with self.assertRaises(http.client.IncompleteRead):
            self.ep.raw(GET_OS, conn=conn)
        conn.close()

    def test_stall(self):
        self.ep.control('/control/fault', 'stall::1')
        conn = self.fresh(timeout=0.5)
        with self.assertRaises(socket.timeout):
            self.ep.raw(GET_OS, conn=conn)
        conn.close()

    def test_status_scenarios(self):
        for spec, status, ctype, body_check in (
                ('500-empty', 500, None, lambda b: b == b''),
                ('500-not-xml', 500, 'text/html', lambda b: b.startswith(b'<html>')),
                ('503', 503, None, lambda b: b == b''),
                ('401', 401, None, lambda b: b == b'')):
            self.ep.control('/control/fault', spec)
            got, headers, body = self.once()
            self.assertEqual(got, status, spec)
            self.assertEqual(headers.get('content-type'), ctype, spec)
            self.assertTrue(body_check(body), spec)
        self.assertEqual(headers['www-authenticate'], 'Basic realm="WSMAN"')

    def test_401_after_n_successes(self):
        self.ep.control('/control/fault', '401:3')
        conn = self.fresh()
        codes = [self.ep.raw(GET_OS, conn=conn)[0] for _ in range(5)]
        conn.close()
        self.assertEqual(codes, [200, 200, 200, 401, 401])

    def test_truncated_xml(self):
        self.ep.control('/control/fault', 'truncated-xml')
        status, headers, body = self.once()
        self.assertEqual(status, 200)
        self.assertEqual(int(headers['content-length']), len(body))
        self.assertTrue(body.startswith(b'<s:Envelope'))
        self.assertFalse(body.rstrip().endswith(b'</s:Envelope>'))

    def test_slow_drip(self):
        self.ep.control('/control/fault', 'slow-drip')
        started = time.monotonic()
        status, _h, body = self.once(timeout=30)
        self.assertEqual(status, 200)
        self.assertTrue(body.endswith(b'</s:Envelope>'))
        self.assertGreater(time.monotonic() - started, 0.05 * (len(body) // 64) * 0.8)

    def test_wrong_content_type(self):
        self.ep.control('/control/fault', 'wrong-content-type')
        status, headers, body = self.once()
        self.assertEqual(status, 200)
        self.assertEqual(headers['content-type'], 'text/html')
        self.assertTrue(body.endswith(b'</s:Envelope>'))

    def test_lose_context_between_pulls(self):
        self.ep.control('/control/fault', 'lose-context:1')
        status, root = self.ep.soap(envelope(E + 'Enumerate', WMI + 'Win32_Service',
                                             '<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>5'
                                             '</w:MaxElements></n:Enumerate>'))
        ctx = root.findtext('.//n:EnumerationContext', namespaces=NS)
        pull = envelope(E + 'Pull', WMI + 'Win32_Service', '<n:Pull><n:EnumerationContext>%s'
                        '</n:EnumerationContext><n:MaxElements>5</n:MaxElements></n:Pull>' % ctx)
        status, root = self.ep.soap(pull)
        self.assertEqual(status, 200)
        status, root = self.ep.soap(pull)
        self.assertEqual(fault_info(root)[1:3], ('n:InvalidEnumerationContext', '2150858779'))

    def test_control_rejects_unknown_scenarios(self):
        status, body = self.ep.control('/control/fault', 'explode')
        self.assertEqual(status, 400)
        self.assertIn(b'unknown fault scenario', body)


class CommandLineFaultTest(unittest.TestCase):
    def test_fault_option_applies_from_the_start(self):
        ep = Endpoint('--fault', '503:1')
        try:
            self.assertEqual(ep.raw(GET_OS)[0], 200)
            self.assertEqual(ep.raw(GET_OS)[0], 503)
            self.assertEqual(ep.stats()['fault']['fired'], 1)
        finally:
            ep.stop()


if __name__ == '__main__':
    unittest.main()
