#!/usr/bin/python3
"""remsess from Python against pywinrm: N `echo hello` on one persistent WinRS shell.

    /usr/bin/python3 bench/python/commands.py [-n N] [--runs R] [--build BUILD_DIR]
                                              [--server peers|endpoint|URL] [--pin] [--json]

The workload of ../shared/peers (its README, mode `persistent`), run in one invocation by
each client against the same loopback server:

  pywinrm   Debian's python3-winrm, exactly as shared/peers/pywinrm_bench.py drives it:
            Protocol.open_shell, N x (run_command "echo hello", get_command_output,
            cleanup_command), close_shell.
  remsess   the remsess package: Session(url, "pssession", ...), N x run("echo", "hello"),
            close.
  rms_run   for scale, the library without the package: rms_session_new, N x rms_run,
            close, each a ctypes call from a Python loop. remsess minus rms_run is what the
            Python package adds.

Each client runs in a child process of its own (/usr/bin/python3), so the CPU figures are
that process's own getrusage(RUSAGE_SELF), user + system, all threads: the Python
interpreter and everything it calls (for remsess: the binding, ctypes and libremsess).
Like the peers' drivers, the timed section is the session's creation, the N commands and
the close; interpreter start-up and imports are left out of it and reported separately
("process": the whole child, start-up included). Every command's stdout must be "hello"
with exit code 0, or the run fails.

Each client runs --runs times (default 3), in alternating order; the table shows the median
run of each (by client CPU) and the ratio remsess / pywinrm of client CPU per command. The
server's /stats (both servers have it) gives the WS-Man requests and, for the peers'
server, its own CPU per command around each run.

--server peers (default when ../shared/peers/winrs_server.py exists): the peers' loopback
WinRS server, which answers every command with "hello\\r\\n" and runs nothing.
--server endpoint: the suite's test endpoint (tests/endpoint/run), which runs each command
with /bin/sh. A URL: any WinRM endpoint taking Basic auth over http
(WINRM_USER / WINRM_PASS).

remsess is imported from the installed package, or with --build BUILD_DIR from this
tree's python/ with BUILD_DIR's libremsess.so.0 (REMSESS_LIBRARY). --pin runs the server on
CPU 0 and the clients on CPU 1 (taskset), as the peers' PIN=1. Output: a table, then one
JSON object per run and one per client summary (--json: the JSON lines only).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
PEERS = os.path.normpath(os.path.join(ROOT, "..", "shared", "peers"))
PY = "/usr/bin/python3"   # Debian's: python3-winrm is installed for it, not for pyenv's
CLIENTS = ("pywinrm", "remsess", "rms_run")


# ---- the clients (run in a child process: `commands.py --child CLIENT URL N`) ---------

def cpu_now() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def check(i: int, out: bytes, err: bytes, rc: int) -> None:
    # The peers' server answers "hello\r\n" (as cmd.exe would); the test endpoint's /bin/sh
    # "hello\n".
    if out.rstrip(b"\r\n") != b"hello" or rc != 0:
        raise SystemExit(f"command {i}: stdout={out!r} stderr={err!r} exit code={rc!r}")


def child_pywinrm(url: str, n: int, user: str, password: str) -> dict:
    import winrm
    cpu0, t0 = cpu_now(), time.perf_counter()
    proto = winrm.Session(url, auth=(user, password), transport="basic").protocol
    shell_id = proto.open_shell()
    for i in range(n):
        command_id = proto.run_command(shell_id, "echo hello")
        out, err, rc = proto.get_command_output(shell_id, command_id)
        proto.cleanup_command(shell_id, command_id)
        check(i, out, err, rc)
    proto.close_shell(shell_id)
    return {"wall_s": time.perf_counter() - t0, "cpu_s": cpu_now() - cpu0,
            "version": getattr(winrm, "__version__", None) or _deb_version("python3-winrm")}


def child_remsess(url: str, n: int, user: str, password: str) -> dict:
    import remsess
    cpu0, t0 = cpu_now(), time.perf_counter()
    with remsess.Session(url, "pssession", user=user, password=password,
                         allow_unencrypted=True) as s:
        for i in range(n):
            r = s.run("echo", "hello")
            check(i, r.stdout, r.stderr, r.exit_code)
        stats = s.stats
    wall, cpu = time.perf_counter() - t0, cpu_now() - cpu0
    return {"wall_s": wall, "cpu_s": cpu, "client_requests": stats.requests,
            "client_connections": stats.connections_opened,
            "version": remsess.library_version(), "library": remsess.library_path()}


def child_rms_run(url: str, n: int, user: str, password: str) -> dict:
    """The library alone, for scale: rms_session_new, N x rms_run, close, each one ctypes
    call from a Python loop (output counted by a C callback into Python)."""
    import ctypes
    from ctypes import POINTER, byref, c_char_p, c_int, c_size_t, c_void_p
    import remsess
    from remsess import _ffi
    from remsess._ffi import lib
    lib.rms_run.restype = c_int
    lib.rms_run.argtypes = (POINTER(c_int), c_void_p, c_char_p, c_size_t, POINTER(c_char_p),
                            _ffi.OUTPUT_FN, c_void_p)
    got = [0]

    def output(stream, data, length, _ud):
        got[0] += length
        return 0
    out_fn = _ffi.OUTPUT_FN(output)
    argv = (c_char_p * 1)(b"hello")
    code = c_int()
    cpu0, t0 = cpu_now(), time.perf_counter()
    copts = remsess.Options(url, user=user, password=password, allow_unencrypted=True).to_c()
    s = c_void_p()
    if lib.rms_session_new(byref(s), 2, byref(copts.struct)):
        raise SystemExit(f"rms_session_new: {remsess.errors.last(-28)}")
    for i in range(n):
        code.value = -1
        if lib.rms_run(byref(code), s, b"echo", 1, argv, out_fn, None) or code.value != 0:
            raise SystemExit(f"command {i}: rms_run failed or exit code {code.value}")
    lib.rms_session_close(s)
    lib.rms_session_free(s)
    wall, cpu = time.perf_counter() - t0, cpu_now() - cpu0
    if got[0] < n * len(b"hello\n"):
        raise SystemExit(f"only {got[0]} bytes of output for {n} commands")
    return {"wall_s": wall, "cpu_s": cpu, "version": remsess.library_version()}


def _deb_version(pkg: str):
    try:
        return subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], text=True,
                              capture_output=True, check=True).stdout or None
    except (OSError, subprocess.CalledProcessError):
        return None


def child(client: str, url: str, n: int) -> int:
    user = os.environ.get("WINRM_USER", "bench")
    password = os.environ.get("WINRM_PASS", "bench")
    fn = {"pywinrm": child_pywinrm, "remsess": child_remsess, "rms_run": child_rms_run}[client]
    rec = fn(url, n, user, password)
    rec["process_cpu_s"] = cpu_now()  # the whole child: start-up and imports included
    print(json.dumps(rec), flush=True)
    return 0


# ---- servers ---------------------------------------------------------------------------

class Server:
    """A loopback server started for the run (or a URL given), with its /stats."""

    def __init__(self, which: str, pin: bool) -> None:
        self.proc = None
        self.user = os.environ.get("WINRM_USER", "bench")
        self.password = os.environ.get("WINRM_PASS", "bench")
        taskset = ["taskset", "-c", "0"] if pin else []
        if which == "peers":
            self.name = "shared/peers/winrs_server.py"
            argv = [*taskset, PY, os.path.join(PEERS, "winrs_server.py"), "--port", "0"]
        elif which == "endpoint":
            self.name = "tests/endpoint/run"
            argv = [*taskset, os.path.join(ROOT, "tests", "endpoint", "run"), "--port", "0",
                    "--auth", "basic", "--user", self.user, "--password", self.password]
        else:
            self.name, self.url = which, which
            return
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "listening":
            self.stop()
            raise SystemExit(f"commands.py: {self.name} did not start: {line!r}")
        self.url = line[1]

    def stats(self) -> dict:
        try:
            with urllib.request.urlopen(urllib.parse.urljoin(self.url, "/stats"), timeout=10) as r:
                return json.load(r)
        except (OSError, ValueError):
            return {}

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.proc = None


# ---- the parent ------------------------------------------------------------------------

def run_one(client: str, server: Server, n: int, env: dict, pin: bool) -> dict:
    before = server.stats()
    argv = (["taskset", "-c", "1"] if pin else []) + [PY, os.path.abspath(__file__), "--child",
                                                      client, server.url, str(n)]
    p = subprocess.run(argv, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit(f"commands.py: {client} failed (exit {p.returncode})")
    rec = json.loads(p.stdout.strip().splitlines()[-1])
    after = server.stats()
    rec.update(client=client, n=n, cpu_us_per_cmd=rec["cpu_s"] / n * 1e6,
               wall_us_per_cmd=rec["wall_s"] / n * 1e6)
    if "requests_total" in before and "requests_total" in after:
        rec["requests_per_cmd"] = (after["requests_total"] - before["requests_total"]) / n
    if isinstance(after.get("requests"), dict):
        # per action (the peers' server): what the few requests beyond 3 per command are
        b = before.get("requests") or {}
        rec["requests"] = {k: v - b.get(k, 0) for k, v in after["requests"].items()
                           if v != b.get(k, 0)}
    if "cpu_s" in before and "cpu_s" in after:
        rec["server_cpu_us_per_cmd"] = (after["cpu_s"] - before["cpu_s"]) / n * 1e6
    return rec


def main(argv: list[str]) -> int:
    if len(argv) == 5 and argv[1] == "--child":
        return child(argv[2], argv[3], int(argv[4]))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=2000, help="commands per run (default 2000)")
    ap.add_argument("--runs", type=int, default=3, help="runs per client (default 3)")
    ap.add_argument("--build", help="a CMake build dir: use ./python with its libremsess.so.0")
    ap.add_argument("--server", default=None,
                    help="peers (default when ../shared/peers exists), endpoint, or a URL")
    ap.add_argument("--pin", action="store_true", help="server on CPU 0, clients on CPU 1")
    ap.add_argument("--json", action="store_true", help="JSON lines only")
    a = ap.parse_args(argv[1:])
    which = a.server or ("peers" if os.path.exists(os.path.join(PEERS, "winrs_server.py"))
                         else "endpoint")
    if a.pin and not shutil.which("taskset"):
        raise SystemExit("commands.py: --pin needs taskset (util-linux)")

    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    if a.build:
        lib = os.path.join(os.path.abspath(a.build), "libremsess.so.0")
        if not os.path.exists(lib):
            raise SystemExit(f"commands.py: {lib} not found: build the C library first")
        env["REMSESS_LIBRARY"] = lib
        env["PYTHONPATH"] = os.path.join(ROOT, "python")
    server = Server(which, a.pin)
    env.setdefault("WINRM_USER", server.user)
    env.setdefault("WINRM_PASS", server.password)
    load = os.getloadavg()
    runs: dict[str, list[dict]] = {c: [] for c in CLIENTS}
    try:
        for r in range(a.runs):
            order = CLIENTS if r % 2 == 0 else CLIENTS[::-1]
            for c in order:
                rec = run_one(c, server, a.n, env, a.pin)
                rec.update(run=r + 1, server=server.name)
                runs[c].append(rec)
                if a.json:
                    print(json.dumps(rec), flush=True)
    finally:
        server.stop()

    med = {c: sorted(rs, key=lambda x: x["cpu_s"])[len(rs) // 2] for c, rs in runs.items()}
    ratio = med["remsess"]["cpu_s"] / med["pywinrm"]["cpu_s"]
    python_share = 1 - med["rms_run"]["cpu_s"] / med["remsess"]["cpu_s"]
    summary = []
    for c in CLIENTS:
        m = med[c]
        summary.append({
            "summary": c, "n": a.n, "runs": a.runs, "server": server.name, "pin": a.pin,
            "cpu_us_per_cmd": round(m["cpu_us_per_cmd"], 1),
            "cpu_us_per_cmd_all": [round(x["cpu_us_per_cmd"], 1) for x in runs[c]],
            "wall_us_per_cmd": round(m["wall_us_per_cmd"], 1),
            "requests_per_cmd": m.get("requests_per_cmd"),
            "server_cpu_us_per_cmd": (round(m["server_cpu_us_per_cmd"], 1)
                                      if "server_cpu_us_per_cmd" in m else None),
            "process_cpu_s": round(m["process_cpu_s"], 3), "version": m.get("version"),
            "load_before": [round(x, 2) for x in load]})
    summary[1]["cpu_ratio_remsess_over_pywinrm"] = round(ratio, 3)
    summary[1]["python_share_of_remsess_cpu"] = round(python_share, 3)
    if not a.json:
        print(f"N={a.n} `echo hello` on one persistent shell; server {server.name}"
              f"{' (pinned: server CPU 0, clients CPU 1)' if a.pin else ''}; "
              f"median of {a.runs} runs by client CPU; load before "
              f"{' '.join(f'{x:.2f}' for x in load)}")
        print(f"{'client':<9} {'client CPU':>11} {'wall':>9} {'requests':>9} {'server CPU':>11} "
              f"{'process CPU':>12}  client CPU of each run")
        print(f"{'':<9} {'us/cmd':>11} {'us/cmd':>9} {'/cmd':>9} {'us/cmd':>11} "
              f"{'s, start-up':>12}  us/cmd")
        for s in summary:
            srv = s["server_cpu_us_per_cmd"]
            req = s["requests_per_cmd"]
            print(f"{s['summary']:<9} {s['cpu_us_per_cmd']:>11.0f} {s['wall_us_per_cmd']:>9.0f} "
                  f"{req if req is None else format(req, '.2f'):>9} "
                  f"{'-' if srv is None else format(srv, '.0f'):>11} {s['process_cpu_s']:>12.2f}  "
                  + " ".join(f"{x:.0f}" for x in s["cpu_us_per_cmd_all"]))
        print(f"client CPU per command, remsess / pywinrm: {ratio:.3f} "
              f"(goal: at most 0.2); rms_run (the library called directly) is "
              f"{1 - python_share:.0%} of remsess's")
        for c in CLIENTS:
            for rec in runs[c]:
                print(json.dumps(rec))
    for s in summary:
        print(json.dumps(s))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
