"""Fault injection (--fault SCENARIO[:AFTER[:COUNT]]).

AFTER requests are served normally, then the next COUNT requests (default: all of
them) get the scenario. Only WS-Man POSTs count (not /stats or /control). For
lose-context only Pull requests count, so "lose-context:2" loses the context on the
third Pull of the run.
"""

import threading

SCENARIOS = {
    'drop': 'close the connection after reading the request, without answering',
    'drop-mid-body': 'send the headers and half of the response body, then close',
    'stall': 'read the request and never answer (until the client gives up or shutdown)',
    '500-empty': 'HTTP 500 with Content-Length: 0',
    '500-not-xml': 'HTTP 500 with an HTML body',
    'truncated-xml': 'HTTP 200 with the real envelope cut in half',
    '503': 'HTTP 503 Service Unavailable with an empty body',
    'slow-drip': 'the real response, 64 bytes every 50 ms',
    'wrong-content-type': 'the real response labelled text/html',
    'lose-context': 'forget the enumeration context before a Pull (InvalidEnumerationContext)',
    '401': 'HTTP 401 with WWW-Authenticate, as for a wrong password',
}


def parse_spec(spec):
    """'NAME[:AFTER[:COUNT]]' -> (name, after, count); raises ValueError."""
    parts = spec.split(':')
    name = parts[0].strip().lower()
    if name not in SCENARIOS:
        raise ValueError('unknown fault scenario %r (known: %s)' % (name, ', '.join(sorted(SCENARIOS))))
    after = int(parts[1]) if len(parts) > 1 and parts[1] != '' else 0
    count = int(parts[2]) if len(parts) > 2 and parts[2] != '' else None
    if after < 0 or (count is not None and count < 0):
        raise ValueError('fault AFTER and COUNT must be >= 0')
    return name, after, count


class Injector:
    def __init__(self):
        self._lock = threading.Lock()
        self.configure(None, 0, None)

    def configure(self, name, after=0, count=None):
        with self._lock:
            self.name = name
            self.after = after
            self.count = count
            self.seen = 0
            self.fired = 0

    def describe(self):
        with self._lock:
            return {'scenario': self.name, 'after': self.after, 'count': self.count,
                    'seen': self.seen, 'fired': self.fired}

    def _decide(self):
        self.seen += 1
        if self.seen <= self.after:
            return False
        if self.count is not None and self.fired >= self.count:
            return False
        self.fired += 1
        return True

    def for_request(self):
        """The transport-level scenario to apply to this WS-Man request, or None."""
        with self._lock:
            if self.name is None or self.name == 'lose-context':
                return None
            return self.name if self._decide() else None

    def lose_context_now(self):
        """Called for each Pull: True if this Pull should find its context gone."""
        with self._lock:
            if self.name != 'lose-context':
                return False
            return self._decide()
