"""Counters served as JSON on GET /stats (read by the endpoint and behaviour tests).

Connections whose first request is a /stats or /control request are "control"
connections: they are not counted in connections_accepted / connections_open, so a
test reading /stats does not disturb the numbers it reads.

Extra listeners (--listeners, listeners.py) count into these totals and into their own
entry of `listeners`. requests_in_flight is the number of WS-Man requests read and not yet
answered on every port together (a stalled one until its client closes); its peak,
requests_in_flight_max, is what a fan-out test compares with its throttle. A request is
counted once its headers are read (the client has sent it) and uncounted before the first
byte of its answer is written (the client has not seen it), so the peak never exceeds the
requests the client had outstanding.
"""

import threading
import time


class Stats:
    def __init__(self):
        self._lock = threading.Lock()
        self.listeners = []
        self.reset()

    def reset(self):
        # Levels (connections_open, pwsh_running) keep their value across a reset.
        with getattr(self, '_lock', threading.Lock()):
            # connections_open is a level, not a count: it survives a reset, so a
            # connection that closes after the reset does not take it below zero.
            still_open = self.c['connections_open'] if hasattr(self, 'c') else 0
            pwsh_running = self.c['pwsh_running'] if hasattr(self, 'c') else 0
            in_flight = self.c['requests_in_flight'] if hasattr(self, 'c') else 0
            for entry in getattr(self, 'listeners', ()):
                self._reset_listener(entry)
            self.started = time.time()
            self.c = {
                'tcp_connections_accepted': 0,
                'control_connections': 0,
                'connections_accepted': 0,
                'connections_open': still_open,
                'connections_open_max': still_open,
                'requests_in_flight': in_flight,
                'requests_in_flight_max': in_flight,
                'quota_faults': 0,
                'requests_total': 0,
                'requests_by_action': {},
                'requests_by_kind': {},
                'http_status': {},
                'faults_by_subcode': {},
                'bytes_in': 0,
                'bytes_out': 0,
                'largest_request_body': 0,
                'largest_response_body': 0,
                'envelopes_over_limit': 0,
                'responses_over_limit': 0,
                'auth_failures': 0,
                # --auth negotiate (gssauth.py)
                'auth_challenges': 0,
                'auth_legs': 0,
                'auth_handshakes': 0,
                'auth_by_mech': {'kerberos': 0, 'ntlm': 0},
                'handshakes_per_connection_max': 0,
                'encrypted_requests': 0,
                'encrypted_responses': 0,
                'plaintext_refused': 0,
                'unwrap_failures': 0,
                'shells_created': 0,
                'shells_open': 0,
                'shells_deleted': 0,
                'shells_expired': 0,
                'shells_disconnected': 0,
                'shells_reconnected': 0,
                'shells_connected': 0,
                'commands_run': 0,
                'ps_cim_commands': 0,
                'ps_cim_instances': 0,
                'commands_running': 0,
                'signals': 0,
                'stdin_bytes': 0,
                'stdout_bytes': 0,
                'stderr_bytes': 0,
                'enumerations_started': 0,
                'enumerations_open': 0,
                'enumerations_expired': 0,
                'pulls': 0,
                'releases': 0,
                'items_sent': 0,
                'invokes': 0,
                # --personality omi (omi.py, httpserver.py)
                'requests_without_namespace': 0,
                'releases_after_end_of_sequence': 0,
                'pulls_after_end_of_sequence': 0,
                'requests_without_credentials': 0,
                'chunked_requests_refused': 0,
                'processes_created': 0,
                'ps_pipelines': 0,
                'pwsh_started': 0,
                'pwsh_running': pwsh_running,
                'pwsh_died': 0,
            }

    @staticmethod
    def _reset_listener(entry):
        entry.update({
            'tcp_connections_accepted': 0,
            'connections_accepted': 0,
            'connections_open_max': entry.get('connections_open', 0),
            'requests_total': 0,
            'requests_in_flight_max': entry.get('requests_in_flight', 0),
            'requests_stalled': 0,
            'http_status': {},
        })
        entry.setdefault('connections_open', 0)
        entry.setdefault('requests_in_flight', 0)

    def add_listener(self, index, port, behaviour):
        with self._lock:
            entry = {'index': index, 'port': port, 'behaviour': behaviour}
            self._reset_listener(entry)
            self.listeners.append(entry)

    def listener_add(self, index, key, n=1):
        if index is None:
            return
        with self._lock:
            entry = self.listeners[index]
            entry[key] = entry.get(key, 0) + n

    def listener_count_in(self, index, key, sub):
        if index is None:
            return
        with self._lock:
            table = self.listeners[index].setdefault(key, {})
            table[sub] = table.get(sub, 0) + 1

    def _level(self, table, key, n):
        table[key] += n
        if table[key] > table[key + '_max']:
            table[key + '_max'] = table[key]

    def request_started(self, index=None):
        with self._lock:
            self._level(self.c, 'requests_in_flight', 1)
            if index is not None:
                self._level(self.listeners[index], 'requests_in_flight', 1)
                self.listeners[index]['requests_total'] += 1

    def request_ended(self, index=None):
        with self._lock:
            self.c['requests_in_flight'] -= 1
            if index is not None:
                self.listeners[index]['requests_in_flight'] -= 1

    def add(self, key, n=1):
        with self._lock:
            self.c[key] = self.c.get(key, 0) + n

    def set(self, key, value):
        with self._lock:
            self.c[key] = value

    def maximum(self, key, value):
        with self._lock:
            if value > self.c.get(key, 0):
                self.c[key] = value

    def count_in(self, key, sub, n=1):
        with self._lock:
            table = self.c.setdefault(key, {})
            table[sub] = table.get(sub, 0) + n

    def connection_opened(self, index=None):
        with self._lock:
            self.c['connections_accepted'] += 1
            self._level(self.c, 'connections_open', 1)
            if index is not None:
                self.listeners[index]['connections_accepted'] += 1
                self._level(self.listeners[index], 'connections_open', 1)

    def connection_closed(self, index=None):
        with self._lock:
            self.c['connections_open'] -= 1
            if index is not None:
                self.listeners[index]['connections_open'] -= 1

    def snapshot(self):
        with self._lock:
            out = {}
            for key, value in self.c.items():
                out[key] = dict(value) if isinstance(value, dict) else value
            if self.listeners:
                out['listeners'] = [dict(e, http_status=dict(e['http_status']))
                                    for e in self.listeners]
        out['uptime_seconds'] = round(time.time() - self.started, 3)
        return out
