"""Commands on a PSSession (WinRS cmd shell) of the test endpoint."""

import pytest

import remsess


def test_a_pssession_connects_at_creation_and_closes(endpoint, opts):
    s = remsess.Session(endpoint.url, "pssession", **opts)
    assert s.state == "Opened" and s.backend == "pssession" and s.ps_protocol == "shell"
    assert s.stats.shells_open == 1 and s.name == f"PSSession{s.id}"
    s.close()
    assert s.state == "Closed" and s.stats.shells_open == 0
    s.close()  # twice is fine
    with pytest.raises(remsess.StateError):
        s.run("echo", "x")


def test_run_returns_stdout_stderr_and_exit_code(shell):
    r = shell.run("echo out; echo err >&2; exit 7")
    assert (r.stdout, r.stderr, r.exit_code) == (b"out\n", b"err\n", 7)


def test_run_passes_arguments(shell):
    assert shell.run("printf", "%s-%s", "a", "b").stdout == b"a-b"


def test_run_sends_stdin_bytes_and_iterables(shell):
    assert shell.run("cat", stdin=b"abc\x00def").stdout == b"abc\x00def"
    chunks = [b"x" * 70000, b"y" * 5]
    r = shell.run("wc", "-c", stdin=iter(chunks))
    assert int(r.stdout) == 70005


def test_run_streams_output_to_a_callback(shell):
    seen = []
    r = shell.run("echo one; echo two >&2", on_output=lambda st, data: seen.append((st, data)))
    assert r.stdout == b"" and r.exit_code == 0
    assert b"".join(d for st, d in seen if st == "stdout") == b"one\n"
    assert b"".join(d for st, d in seen if st == "stderr") == b"two\n"


def test_a_true_return_from_on_output_cancels_the_command(shell):
    with pytest.raises(remsess.CancelledError):
        shell.run("while true; do echo y; sleep 0.05; done", on_output=lambda st, d: True)


def test_an_exception_in_a_callback_is_raised_after_the_call(shell):
    class Boom(Exception):
        pass

    def bad(stream, data):
        raise Boom("from the callback")
    with pytest.raises(Boom):
        shell.run("echo x", on_output=bad)
    # the session is still usable
    assert shell.run("echo ok").stdout == b"ok\n"

    def bad_stdin():
        yield b"a"
        raise Boom("stdin")
    with pytest.raises(Boom):
        shell.run("cat", stdin=bad_stdin())


def test_pssession_enumerates_like_the_cim_backend(shell, cim):
    # A PSSession runs Get-CimInstance remotely (docs/pssession.md); same typed instances.
    via_shell = {i["Name"]: i for i in shell.enumerate("Win32_Service")}
    via_cim = {i["Name"]: i for i in cim.enumerate("Win32_Service")}
    assert via_shell.keys() == via_cim.keys()
    assert via_shell["WinRM"]["ProcessId"] == via_cim["WinRM"]["ProcessId"]


def test_pssession_cannot_create_instances(shell):
    with pytest.raises(remsess.UnsupportedError) as e:
        shell.create("X_Widget", Id="nope")
    assert "cim" in str(e.value).lower()


def test_check_reads_the_shell_record_on_the_sessions_connection(shell, cim):
    before = shell.stats
    info = shell.check()
    assert info.class_name == "Shell"
    assert info["State"] == "Connected" and info["Owner"] == "admin"
    assert isinstance(info["ProcessId"], int)
    after = shell.stats
    assert after.connections_opened == before.connections_opened
    assert after.shells_opened == before.shells_opened
    assert shell.run("echo ok").stdout == b"ok\n"
    with pytest.raises(remsess.Error) as e:
        cim.check()
    assert e.value.code_name == "RMS_E_UNSUPPORTED"


def test_check_of_a_shell_the_server_dropped_breaks_the_session(spawn):
    import time
    ep = spawn("--shell-idle-timeout", "1")
    s = remsess.Session(ep.url, "pssession", **ep.options())
    time.sleep(2.5)  # the endpoint ends the idle shell after 1 s
    with pytest.raises(remsess.RemoteError) as e:
        s.check()
    assert e.value.code_name == "RMS_E_GONE"
    assert s.state == "Broken"
    s.close()


def test_shells_lists_the_users_shells(spawn):
    ep = spawn()
    o = ep.options()
    with remsess.Session(ep.url, "pssession", **o) as a, \
            remsess.Session(ep.url, "pssession", **o) as b, remsess.Session(ep.url, **o) as cim:
        shells = cim.shells()
        assert len(shells) == 2 and all(s.class_name == "Shell" for s in shells)
        assert all(s["State"] == "Connected" for s in shells)
        assert len({s["ShellId"] for s in shells}) == 2
        a.close()
        assert [s["ShellId"] for s in b.shells()] == [b.check()["ShellId"]]
