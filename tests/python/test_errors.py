"""Every error class, each from a real failure against the endpoint (or a closed port)."""

import time

import pytest

import remsess
from conftest import USER, free_port


def test_wrong_password_is_an_authentication_error(endpoint, opts):
    with remsess.Session(endpoint.url, **{**opts, "password": "wrong"}) as s:
        with pytest.raises(remsess.AuthenticationError) as e:
            s.identify()
    err = e.value
    assert err.code == -11 and err.code_name == "RMS_E_AUTH" and err.phase == "authenticate"
    assert err.http_status == 401 and isinstance(err, PermissionError)
    assert "wrong" not in str(err)  # the password never appears


def test_wrong_password_fails_a_pssession_at_creation(endpoint, opts):
    with pytest.raises(remsess.AuthenticationError):
        remsess.Session(endpoint.url, "pssession", **{**opts, "password": "wrong"})


def test_closed_port_is_a_connection_error(opts):
    with remsess.Session(f"http://127.0.0.1:{free_port()}/wsman", **opts) as s:
        with pytest.raises(remsess.ConnectionError) as e:
            list(s.enumerate("Win32_Service"))
    assert e.value.code_name == "RMS_E_CONNECT" and e.value.phase == "connect"
    assert isinstance(e.value, ConnectionError)  # the builtin too


def test_a_slow_server_is_a_timeout(spawn):
    ep = spawn("--latency", "3000")
    t0 = time.monotonic()
    with remsess.Session(ep.url, **ep.options()) as s:
        with pytest.raises(remsess.TimeoutError) as e:
            list(s.enumerate("Win32_Service", timeout=0.5))
    assert time.monotonic() - t0 < 2.8  # not the server's 3 s
    assert e.value.code_name == "RMS_E_TIMEOUT" and isinstance(e.value, TimeoutError)


def test_an_input_larger_than_max_envelope_size_is_refused_before_sending(cim):
    with remsess.Session(cim.endpoint, user=USER, password="Pa55-word", allow_unencrypted=True,
                         max_envelope_size=8192) as s:
        with pytest.raises(remsess.LimitExceeded) as e:
            s.invoke("Win32_Process", "Create", CommandLine="x" * 20000)
    err = e.value
    assert err.code_name == "RMS_E_ENVELOPE_TOO_LARGE" and err.phase == "send"
    assert err.limit_name == "MaxEnvelopeSize" and err.limit_value == 8192
    assert err.limit_actual > 8192


def test_received_data_cap_per_command_is_a_limit(endpoint, opts):
    with remsess.Session(endpoint.url, "pssession", max_received_per_command=10000,
                         **opts) as s:
        with pytest.raises(remsess.LimitExceeded) as e:
            s.run("head -c 200000 /dev/zero")
    err = e.value
    assert err.code_name == "RMS_E_LIMIT" and err.phase == "limit"
    assert err.limit_name == "MaximumReceivedDataSizePerCommand" and err.limit_value == 10000


def test_a_wsman_fault_is_a_remote_error_with_its_numbers(cim):
    with pytest.raises(remsess.RemoteError) as e:
        cim.get("X_Widget", Id="no-such-widget")
    err = e.value
    assert err.fault_code and err.fault_subcode and err.fault_reason
    assert err.wmi_code == 0x80041002 and err.backend == "cim"


def test_invalid_query_is_a_remote_error_with_wsman_code(cim):
    with pytest.raises(remsess.RemoteError) as e:
        list(cim.query("SELEC nonsense"))
    assert e.value.wsman_code != 0 or e.value.wmi_code != 0


def test_bad_options_are_options_errors_naming_the_field():
    with pytest.raises(remsess.OptionsError) as e:
        remsess.Session("127.0.0.1", user="u", password="p")  # basic over http
    assert e.value.code_name == "RMS_E_OPTIONS" and isinstance(e.value, ValueError)
    assert e.value.field
    with pytest.raises(remsess.OptionsError) as e:
        remsess.Session("127.0.0.1", port=70000)
    assert e.value.field == "port"
    with pytest.raises(remsess.UsageError):
        remsess.Session("127.0.0.1", backend="nope")


def test_a_missing_host_is_a_connection_error_at_resolve(opts):
    with remsess.Session("no-such-host.invalid", **opts) as s:
        with pytest.raises(remsess.ConnectionError) as e:
            s.identify()
    assert e.value.code_name == "RMS_E_RESOLVE"


def test_errors_survive_pickling(cim):
    import pickle
    with pytest.raises(remsess.RemoteError) as e:
        cim.get("X_Widget", Id="nope")
    again = pickle.loads(pickle.dumps(e.value))
    assert type(again) is remsess.RemoteError
    assert (again.code, again.wmi_code, str(again)) == (e.value.code, e.value.wmi_code, str(e.value))


def test_the_error_hierarchy():
    for cls in (remsess.UsageError, remsess.OptionsError, remsess.ConnectionError,
                remsess.AuthenticationError, remsess.TimeoutError, remsess.LimitExceeded,
                remsess.RemoteError, remsess.StateError, remsess.CancelledError):
        assert issubclass(cls, remsess.Error)
    assert issubclass(remsess.OptionsError, remsess.UsageError)
