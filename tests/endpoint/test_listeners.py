"""Extra listeners (--listeners, --listener-behaviour): one process playing many computers,
each port with its own behaviour, counted per listener and together in /stats."""

import base64
import http.client
import socket
import subprocess
import threading
import time
import unittest

from eptest import (NS, RUN, SH, T, WMI, CMD, Endpoint, EndpointCase, envelope, fault_info,
                    identify_body, run_command, shell_create, shell_id_of)

ARGS = ('--auth', 'basic', '--user', 'admin', '--password', 'pw', '--listeners', '8',
        '--listener-behaviour', 'down,stalling,wrong-password,slow:300',
        '--listener-behaviour', 'quota*2')


class ListenersTest(EndpointCase):
    ARGS = ARGS

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ep.auth = 'admin:pw'
        head = cls.ep.proc.stdout.readline().split()
        assert head[0] == 'listeners', head
        cls.listeners = []
        for _ in range(int(head[1])):
            word, index, port, behaviour = cls.ep.proc.stdout.readline().split()
            assert word == 'listener'
            cls.listeners.append((int(index), int(port), behaviour))

    def conn(self, i, timeout=10):
        return http.client.HTTPConnection('127.0.0.1', self.listeners[i][1], timeout=timeout)

    def post(self, i, body, auth='admin:pw', timeout=10):
        c = self.conn(i, timeout)
        try:
            headers = {'Content-Type': 'application/soap+xml;charset=UTF-8'}
            if auth:
                headers['Authorization'] = 'Basic ' + base64.b64encode(auth.encode()).decode()
            c.request('POST', '/wsman', body=body.encode(), headers=headers)
            resp = c.getresponse()
            return resp.status, resp.read()
        finally:
            c.close()

    def listener_stats(self, i):
        return self.ep.stats()['listeners'][i]

    def test_every_listener_is_reported_in_order_with_its_behaviour(self):
        self.assertEqual([b for _i, _p, b in self.listeners],
                         ['down', 'stalling', 'wrong-password', 'slow:300', 'quota', 'quota',
                          'healthy', 'healthy'])
        self.assertEqual([i for i, _p, _b in self.listeners], list(range(8)))
        ports = [p for _i, p, _b in self.listeners] + [self.ep.port]
        self.assertEqual(len(set(ports)), 9)
        stats = self.ep.stats()['listeners']
        self.assertEqual([(e['index'], e['port'], e['behaviour']) for e in stats], self.listeners)

    def test_down_refuses_at_once_and_keeps_its_port(self):
        t0 = time.monotonic()
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(('127.0.0.1', self.listeners[0][1]), timeout=5)
        self.assertLess(time.monotonic() - t0, 1)
        s = socket.socket()
        with self.assertRaises(OSError):
            s.bind(('127.0.0.1', self.listeners[0][1]))
        s.close()

    def test_stalling_accepts_and_never_answers_and_counts_the_request_in_flight(self):
        self.ep.control('/stats/reset')
        s = socket.create_connection(('127.0.0.1', self.listeners[1][1]), timeout=0.5)
        body = identify_body().encode()
        s.sendall(b'POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n'
                  b'Content-Type: application/soap+xml\r\n\r\n%s' % (len(body), body))
        with self.assertRaises(socket.timeout):
            s.recv(100)
        st = self.listener_stats(1)
        self.assertEqual(st['requests_in_flight'], 1)
        self.assertEqual(st['requests_stalled'], 1)
        self.assertEqual(st['connections_open'], 1)
        s.close()
        for _ in range(50):
            if self.listener_stats(1)['connections_open'] == 0:
                break
            time.sleep(0.05)
        st = self.listener_stats(1)
        self.assertEqual((st['connections_open'], st['requests_in_flight']), (0, 0))
        self.assertEqual(self.ep.stats()['requests_in_flight'], 0)

    def test_wrong_password_refuses_the_configured_account(self):
        status, _ = self.post(2, envelope(T + 'Get', WMI + 'Win32_OperatingSystem'))
        self.assertEqual(status, 401)
        status, _ = self.post(6, envelope(T + 'Get', WMI + 'Win32_OperatingSystem'))
        self.assertEqual(status, 200)
        self.assertEqual(self.listener_stats(2)['http_status'].get('401'), 1)

    def test_slow_waits_before_each_answer(self):
        t0 = time.monotonic()
        status, _ = self.post(3, identify_body())
        self.assertEqual(status, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        t0 = time.monotonic()
        self.post(6, identify_body())
        self.assertLess(time.monotonic() - t0, 0.3)

    def test_quota_sends_the_windows_quota_faults_but_answers_identify(self):
        import xml.etree.ElementTree as ET
        status, _ = self.post(4, identify_body())
        self.assertEqual(status, 200)
        status, body = self.post(4, envelope(T + 'Get', WMI + 'Win32_OperatingSystem'))
        self.assertEqual(status, 500)
        self.assertEqual(fault_info(ET.fromstring(body))[1:3], ('w:QuotaLimit', '2150859174'))
        status, body = self.post(5, envelope(
            T + 'Create', CMD, '<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams>'
            '<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>'))
        self.assertEqual(status, 500)
        info = fault_info(ET.fromstring(body))
        self.assertEqual((info[1], info[3]), ('w:QuotaLimit', '2150859173'))

    def test_each_listener_answers_with_its_own_computer_name(self):
        import xml.etree.ElementTree as ET
        for i in (6, 7):
            status, body = self.post(i, envelope(T + 'Get', WMI + 'Win32_OperatingSystem'))
            self.assertEqual(status, 200)
            self.assertIn(b'>RMS-L%07d<' % i, body)
            self.assertNotIn(b'REMSESS-TEST', body)
        status, root = self.ep.soap(envelope(T + 'Get', WMI + 'Win32_OperatingSystem'))
        self.assertIn(b'REMSESS-TEST', ET.tostring(root))

    def test_a_shell_through_a_listener_has_its_computername(self):
        # The main port's helpers, pointed at listener 7.
        ep = Endpoint.__new__(Endpoint)
        ep.port, ep.tls, ep.auth, ep._conn = self.listeners[7][1], False, 'admin:pw', None
        status, root = shell_create(ep)
        self.assertEqual(status, 200)
        out, _err, code, _n, _cid = run_command(ep, shell_id_of(root), 'echo $COMPUTERNAME')
        self.assertEqual((out, code), (b'RMS-L0000007\n', 0))
        ep._conn.close()

    def test_stats_give_the_peak_of_requests_in_flight_across_listeners(self):
        self.ep.control('/stats/reset')
        statuses = []

        def one(i):
            statuses.append(self.post(i, identify_body())[0])
        # Four on the slow listener and one on a healthy one, at once.
        threads = [threading.Thread(target=one, args=(i,)) for i in (3, 3, 3, 3, 6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(statuses, [200] * 5)
        stats = self.ep.stats()
        self.assertEqual(stats['requests_in_flight'], 0)
        # The healthy answer may come before the last slow request arrives.
        self.assertIn(stats['requests_in_flight_max'], (4, 5))
        slow = stats['listeners'][3]
        self.assertEqual(slow['requests_in_flight_max'], 4)
        self.assertEqual(slow['requests_total'], 4)
        self.assertEqual(slow['connections_accepted'], 4)
        self.assertEqual(stats['listeners'][6]['requests_total'], 1)
        self.assertEqual(stats['requests_total'], 5)


class OptionsTest(unittest.TestCase):
    def refused(self, *args):
        res = subprocess.run([RUN, '--port', '0'] + list(args), capture_output=True, text=True,
                             timeout=20)
        self.assertEqual(res.returncode, 2, res.stdout)
        return res.stderr

    def test_bad_specs_are_refused(self):
        self.assertIn('BEHAVIOUR', self.refused('--listeners', '2', '--listener-behaviour', 'sulky'))
        self.assertIn('names 3', self.refused('--listeners', '2', '--listener-behaviour',
                                              'down*3'))
        self.assertIn('only slow', self.refused('--listeners', '1', '--listener-behaviour',
                                                'down:5'))
        self.assertIn('goes with', self.refused('--listener-behaviour', 'down'))

    def test_without_listeners_the_first_line_is_all(self):
        ep = Endpoint()
        try:
            self.assertNotIn('listeners', ep.stats())
            ep.proc.stdout.close()
        finally:
            ep.proc.terminate()
            ep.proc.wait(10)
            ep.proc.stderr.close()


if __name__ == '__main__':
    unittest.main()
