"""PSSessions over SSH through the Python package, against a private sshd on
loopback (key login; the C suite's tests/support/sshd.c does the same with
passwords too): commands, and PowerShell remoting to pwsh's subsystem."""

import getpass
import os
import shutil
import socket
import subprocess
import time

import pytest

import remsess
from conftest import find_pwsh

SSHD = "/usr/sbin/sshd"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    pwsh = find_pwsh()
    if not os.path.exists(SSHD) or not shutil.which("ssh-keygen"):
        if os.environ.get("CI"):
            pytest.fail("no sshd or ssh-keygen in CI (scripts/deps.sh installs openssh-server)")
        pytest.skip("no sshd or ssh-keygen")
    d = tmp_path_factory.mktemp("sshd")
    for name in ("host_ed25519", "user_ed25519"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)],
                       check=True)
    (d / "authorized_keys").write_text((d / "user_ed25519.pub").read_text())
    port = _free_port()
    host_pub = (d / "host_ed25519.pub").read_text().split()
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    subsystem = f"Subsystem powershell {pwsh} -sshs -NoLogo -NoProfile\n" if pwsh else ""
    (d / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1:{port}\nHostKey {d / 'host_ed25519'}\nPidFile none\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nStrictModes no\nUsePAM no\n"
        "PermitRootLogin yes\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUseDNS no\nPrintMotd no\nLogLevel VERBOSE\n"
        + subsystem)
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")],
                            stdout=subprocess.DEVNULL, stderr=open(d / "sshd.log", "w"))
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("sshd did not start: " + (d / "sshd.log").read_text())
    yield {"port": port, "dir": d, "pwsh": pwsh}
    proc.terminate()
    proc.wait(10)


def _opts(sshd, **more):
    d = sshd["dir"]
    o = dict(port=sshd["port"], transport="ssh", user=getpass.getuser(),
             identity_file=str(d / "user_ed25519"), known_hosts=str(d / "known_hosts"))
    o.update(more)
    return o


def test_run_over_ssh(sshd):
    with remsess.Session("127.0.0.1", "pssession", **_opts(sshd)) as s:
        assert s.protocol == "SSH" and s.state == "Opened"
        r = s.run("echo out; echo err >&2; exit 5")
        assert (r.stdout, r.stderr, r.exit_code) == (b"out\n", b"err\n", 5)
        assert s.run("cat", stdin=b"piped").stdout == b"piped"


def test_an_unknown_host_key_is_refused(sshd, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(remsess.ConnectionError) as e:
        remsess.Session("127.0.0.1", "pssession", **_opts(sshd, known_hosts=str(empty)))
    assert e.value.code_name == "RMS_E_HOST_KEY"


def test_a_key_the_server_does_not_accept_fails_at_creation(sshd, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")],
                   check=True)
    with pytest.raises(remsess.AuthenticationError):
        remsess.Session("127.0.0.1", "pssession", **_opts(sshd, identity_file=str(tmp_path / "k")))


def test_powershell_remoting_over_ssh(sshd):
    if not sshd["pwsh"]:
        pytest.skip("no pwsh")
    with remsess.Session("127.0.0.1", "pssession", protocol="powershell", **_opts(sshd)) as s:
        r = s.ps("1..3 | ForEach-Object { $_ * 2 }; Write-Warning 'careful'")
        assert r.output == [2, 4, 6]
        assert [w.message for w in r.warning] == ["careful"]
