"""Disconnect, reconnect and connect of a PowerShell session over WinRM from Python
(Disconnect-PSSession, Connect-PSSession, Receive-PSSession), against the endpoint's
PowerShell plugin and real pwsh: what tests/unit/test_psrp_disconnect.c checks from C, through
the binding."""

import time

import pytest

import remsess


def ps_session(endpoint, opts):
    return remsess.Session(endpoint.url, "pssession", protocol="powershell", **opts)


def outputs(pipeline):
    return [v for stream, v in pipeline if stream == "output"]


def test_output_written_while_disconnected_is_read_after_reconnect(endpoint, opts, pwsh):
    with ps_session(endpoint, opts) as s:
        assert s.shell_id
        p = s.ps_start("'early'; Start-Sleep -Milliseconds 1500; 'late'")
        assert p.command_id
        s.disconnect()
        assert s.state == "Disconnected"
        # Nothing runs on a disconnected session.
        with pytest.raises(remsess.StateError):
            s.ps("1")
        records = {i["ShellId"]: i["State"] for i in s.shells()}
        assert records[s.shell_id] == "Disconnected"
        time.sleep(2.5)
        s.reconnect()
        assert s.state == "Opened"
        with p:
            assert outputs(p) == ["early", "late"]
        assert s.ps("2").output == [2]


def test_another_session_connects_by_shell_id_and_receives_the_pipeline(endpoint, opts, pwsh):
    with ps_session(endpoint, opts) as first:
        p = first.ps_start("Start-Sleep -Milliseconds 800; 'written'; 'meanwhile'")
        shell_id, command_id = first.shell_id, p.command_id
        first.disconnect()
        p.close()  # disconnected: only the local op goes; the pipeline runs on the server
    # Leaving the block freed the disconnected session and kept its shell.
    time.sleep(1.2)
    with remsess.Session.connect(endpoint.url, shell_id, **opts) as second:
        assert second.state == "Opened" and second.shell_id == shell_id
        ids = [c["CommandId"] for c in second.shell_commands(shell_id)]
        assert command_id in ids
        with second.receive(command_id) as again:
            assert again.result().output == ["written", "meanwhile"]
        assert second.ps("'still usable'").output == ["still usable"]
    # Closing the connected session deleted the shell.
    with ps_session(endpoint, opts) as probe:
        assert shell_id not in [i["ShellId"] for i in probe.shells()]


def test_close_of_a_disconnected_session_deletes_its_shell(endpoint, opts, pwsh):
    s = ps_session(endpoint, opts)
    shell_id = s.shell_id
    s.disconnect()
    s.close()
    assert s.state == "Closed"
    with ps_session(endpoint, opts) as probe:
        assert shell_id not in [i["ShellId"] for i in probe.shells()]


def test_what_cannot_disconnect_says_why(endpoint, opts):
    with remsess.Session(endpoint.url, "cim", **opts) as cim:
        with pytest.raises(remsess.UnsupportedError):
            cim.disconnect()
    with remsess.Session(endpoint.url, "pssession", **opts) as shell:
        with pytest.raises(remsess.UnsupportedError) as e:
            shell.disconnect()
        assert "shell" in str(e.value)


def test_connect_to_a_shell_that_does_not_exist_fails(endpoint, opts, pwsh):
    with pytest.raises(remsess.Error) as e:
        remsess.Session.connect(endpoint.url, "11111111-2222-3333-4444-555555555555", **opts)
    assert e.value.phase in ("remote", "connect", "authenticate") or e.value.code_name
