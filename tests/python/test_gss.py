"""Kerberos, NTLM and Negotiate from Python, against the suite's own MIT KDC
(tests/endpoint/kdc, realm REMSESS.TEST) and the endpoint in the shape of a default Windows
host (--auth negotiate: Negotiate and Kerberos offered, unencrypted bodies refused over http,
answers sealed). tests/unit/test_gss_endpoint.c checks the library from C; this checks that
the binding's options reach it and its errors come back as the right classes, with the
endpoint's /stats as the witness of what went over the wire."""

import os
import subprocess

import pytest

import remsess
from conftest import ROOT, USER, PASSWORD, Endpoint, free_port

KDC = os.path.join(ROOT, "tests", "endpoint", "kdc")
KRB_USER = f"{USER}@REMSESS.TEST"
NTLM_USER = f"REMSESS\\{USER}"


def _have_gss_side():
    """krb5kdc and python3-gssapi (the endpoint's acceptor) are there."""
    if not os.access("/usr/sbin/krb5kdc", os.X_OK):
        return "krb5kdc is not installed (Debian krb5-kdc)"
    r = subprocess.run(["/usr/bin/python3", "-c", "import gssapi"], capture_output=True)
    if r.returncode != 0:
        return "python3-gssapi is not installed"
    return None


@pytest.fixture(scope="module")
def kdc(tmp_path_factory):
    why = _have_gss_side()
    if why:
        if os.environ.get("CI"):
            pytest.fail(why + " (scripts/deps.sh installs it)")
        pytest.skip(why)
    d = tmp_path_factory.mktemp("kdc") / "realm"
    proc = subprocess.Popen([KDC, "--dir", str(d)], stdout=subprocess.PIPE, text=True)
    info = {}
    for line in proc.stdout:
        line = line.strip()
        if line == "ready":
            break
        k, _, v = line.partition("=")
        info[k] = v
    else:
        proc.wait(10)
        pytest.fail("the test KDC did not start")
    # The library reads these when it logs in; the endpoint started below
    # inherits KRB5_CONFIG. Nothing reads or writes the user's ticket cache.
    saved = {k: os.environ.get(k) for k in ("KRB5_CONFIG", "KRB5CCNAME")}
    os.environ["KRB5_CONFIG"] = info["KRB5_CONFIG"]
    os.environ["KRB5CCNAME"] = "MEMORY:remsess-python-test"
    yield info
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    proc.terminate()
    proc.wait(10)
    proc.stdout.close()


@pytest.fixture(scope="module")
def host(kdc):
    ep = Endpoint("--auth", "negotiate", "--keytab", kdc["KRB5_KTNAME"],
                  "--ntlm-user-file", kdc["NTLM_USER_FILE"])
    # The service principal is HTTP/localhost: the URL names the host so.
    ep.gss_url = f"http://localhost:{ep.port}/wsman"
    yield ep
    ep.stop()


def gss_opts(auth, user=KRB_USER, password=PASSWORD, **more):
    o = dict(user=user, password=password, auth=auth, operation_timeout=30)
    o.update(more)
    return o


def delta(before, after, key):
    return after[key] - before[key]


def test_kerberos_pssession_logs_in_once_and_seals_every_request(host):
    before = host.stats()
    with remsess.Session(host.gss_url, "pssession", **gss_opts("kerberos")) as s:
        for word in ("one", "two", "three"):
            r = s.run("cmd", "/c", "echo", word)
            assert r.exit_code == 0 and word in r.stdout.decode()
    after = host.stats()
    assert delta(before, after, "auth_handshakes") == 1
    assert after["auth_by_mech"]["kerberos"] - before["auth_by_mech"]["kerberos"] == 1
    # Every request after the login went sealed; none in the clear.
    assert delta(before, after, "encrypted_requests") >= 3 * 3
    assert delta(before, after, "encrypted_responses") == delta(before, after,
                                                               "encrypted_requests")
    assert delta(before, after, "plaintext_refused") == 0


def test_ntlm_cim_session_logs_in_per_operation(host):
    before = host.stats()
    with remsess.Session(host.gss_url, "cim", **gss_opts("ntlm", user=NTLM_USER)) as s:
        for _ in range(3):
            svc = s.get("Win32_Service", Name="WinRM")
            assert svc["Name"] == "WinRM"
    after = host.stats()
    # New-CimSession semantics: a connection, so a login, per operation.
    assert delta(before, after, "auth_handshakes") == 3
    assert after["auth_by_mech"]["ntlm"] - before["auth_by_mech"]["ntlm"] == 3
    # The Gets, and the class schema the first one fetched on its connection
    # (once per class per session).
    assert delta(before, after, "encrypted_requests") == 3 + 1
    assert delta(before, after, "plaintext_refused") == 0


def test_negotiate_settles_on_kerberos(host):
    before = host.stats()
    with remsess.Session(host.gss_url, "cim", **gss_opts("negotiate")) as s:
        assert len(list(s.enumerate("Win32_Service"))) > 20
    after = host.stats()
    assert after["auth_by_mech"]["kerberos"] - before["auth_by_mech"]["kerberos"] == 1


def test_wrong_kerberos_password_is_an_authentication_error(host):
    with pytest.raises(remsess.AuthenticationError) as e:
        remsess.Session(host.gss_url, "pssession", **gss_opts("kerberos", password="nope"))
    err = e.value
    assert err.code_name == "RMS_E_AUTH" and err.phase == "authenticate"
    assert "wrong password" in str(err) and "nope" not in str(err)


def test_an_ip_address_names_the_spn_and_spn_host_fixes_it(host):
    ip_url = f"http://127.0.0.1:{host.port}/wsman"
    with remsess.Session(ip_url, "cim", **gss_opts("kerberos")) as s:
        with pytest.raises(remsess.AuthenticationError) as e:
            s.get("Win32_Service", Name="WinRM")
    assert "HTTP/127.0.0.1" in str(e.value)
    with remsess.Session(ip_url, "cim", **gss_opts("kerberos", spn_host="localhost")) as s:
        assert s.get("Win32_Service", Name="WinRM")["Name"] == "WinRM"


def test_encryption_never_is_refused_by_the_host(host):
    with pytest.raises(remsess.AuthenticationError) as e:
        remsess.Session(host.gss_url, "pssession",
                        **gss_opts("kerberos", encryption="never", allow_unencrypted=True))
    assert "encrypted" in str(e.value)


def test_unreachable_kdc_is_said_in_words(host, kdc, tmp_path, monkeypatch):
    conf = tmp_path / "dead-krb5.conf"
    conf.write_text("[libdefaults]\n default_realm = REMSESS.TEST\n dns_lookup_kdc = false\n"
                    " rdns = false\n udp_preference_limit = 1\n"
                    f"[realms]\n REMSESS.TEST = {{\n  kdc = 127.0.0.1:{free_port()}\n }}\n")
    monkeypatch.setenv("KRB5_CONFIG", str(conf))
    with pytest.raises(remsess.AuthenticationError) as e:
        remsess.Session(host.gss_url, "pssession", **gss_opts("kerberos"))
    assert "no KDC of the realm answered" in str(e.value)
