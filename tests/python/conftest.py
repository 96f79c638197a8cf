"""Fixtures: the suite's test endpoint (tests/endpoint/run) started on a free port, and
session options for it, as tests/support/endpoint.c's rms_endpoint_session_options has them."""

import os
import shutil
import socket
import subprocess

import pytest

# tests/python/run-asan.sh preloads the sanitizer runtime into this Python only: the
# endpoint, pwsh and compilers the tests start must not inherit it.
# What was taken out is kept in SANITIZER_ENV for test_boundary.py's check that a leak
# would be seen.
SANITIZER_ENV = {}
if os.environ.get("REMSESS_ASAN_RUN"):
    for _k in ("LD_PRELOAD", "ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS", "PYTHONMALLOC"):
        if _k in os.environ:
            SANITIZER_ENV[_k] = os.environ.pop(_k)

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
RUN = os.path.join(ROOT, "tests", "endpoint", "run")
USER, PASSWORD = "admin", "Pa55-word"


def find_pwsh():
    """$RMS_PWSH, else ~/.dotnet/tools/pwsh, else pwsh on PATH (as tests/support/pwsh.c)."""
    for p in (os.environ.get("RMS_PWSH"), os.path.expanduser("~/.dotnet/tools/pwsh"),
              shutil.which("pwsh")):
        if p and os.access(p, os.X_OK):
            return p
    return None


class Endpoint:
    """A running tests/endpoint/run process on 127.0.0.1, port 0."""

    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [RUN, "--port", "0", "--auth", "basic", "--user", USER, "--password", PASSWORD,
             *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError(f"the test endpoint did not start: {line!r}")
        self.url = line.split(" ", 1)[1]
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])

    def options(self, **overrides):
        o = dict(user=USER, password=PASSWORD, allow_unencrypted=True, operation_timeout=30)
        o.update(overrides)
        return o

    def stats(self):
        """The endpoint's GET /stats (requests, shells_open, commands_open, ...)."""
        import json
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=10) as r:
            return json.load(r)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture(scope="session")
def endpoint():
    ep = Endpoint()
    yield ep
    ep.stop()


@pytest.fixture
def spawn():
    """Start an endpoint with extra arguments; stopped after the test."""
    started = []

    def start(*args):
        ep = Endpoint(*args)
        started.append(ep)
        return ep
    yield start
    for ep in started:
        ep.stop()


@pytest.fixture(scope="session")
def opts(endpoint):
    return endpoint.options()


@pytest.fixture
def cim(endpoint, opts):
    import remsess
    with remsess.Session(endpoint.url, "cim", **opts) as s:
        yield s


@pytest.fixture
def shell(endpoint, opts):
    import remsess
    with remsess.Session(endpoint.url, "pssession", **opts) as s:
        yield s


@pytest.fixture(scope="session")
def pwsh():
    p = find_pwsh()
    if not p:
        pytest.skip("pwsh is not installed (scripts/deps.sh installs it as "
                    "~/.dotnet/tools/pwsh): PowerShell remoting tests skipped")
    return p


@pytest.fixture
def psession(endpoint, opts, pwsh):
    import remsess
    with remsess.Session(endpoint.url, "pssession", protocol="powershell", **opts) as s:
        yield s


def free_port():
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
