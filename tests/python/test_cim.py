"""Every CIM operation against the test endpoint, through the blocking API."""

import datetime

import pytest

import remsess
from remsess import Instance, Reference


def test_a_cim_session_opens_nothing_and_has_get_cimsession_properties(endpoint, opts):
    with remsess.Session(endpoint.url, **opts) as s:
        assert s.state == "Opened" and s.backend == "cim" and s.protocol == "WSMAN"
        assert s.name == f"CimSession{s.id}"
        assert s.computer_name == "127.0.0.1" and s.endpoint == endpoint.url
        assert s.stats.connections_opened == 0  # lazy, like New-CimSession
        s.name = "mine"
        assert s.name == "mine"
    assert s.state == "Closed"


def test_enumerate_streams_every_service(cim):
    stream = cim.enumerate("Win32_Service")
    first = next(stream)
    assert isinstance(first, Instance) and first.class_name == "Win32_Service"
    rest = list(stream)
    names = {first["Name"]} | {i["Name"] for i in rest}
    assert "WinRM" in names and len(names) == 1 + len(rest)
    assert stream.delivered == 1 + len(rest) and stream.skipped == 0
    assert first.key_names == ["Name"] and first.is_key("name")


def test_get_by_keyword_keys_returns_typed_values(cim):
    w = cim.get("Win32_Service", Name="WinRM")
    assert w["name"] == "WinRM" and w.State in ("Running", "Stopped")
    assert isinstance(w["ProcessId"], int) and isinstance(w["Started"], bool)
    assert w.reference() == Reference("Win32_Service", "root/cimv2", Name="WinRM")


def test_get_of_a_missing_instance_is_a_remote_error_with_fault_details(cim):
    with pytest.raises(remsess.RemoteError) as e:
        cim.get("Win32_Service", Name="NoSuchService")
    err = e.value
    assert err.code_name == "RMS_E_FAULT" and err.backend == "cim" and err.phase == "remote"
    assert err.fault_subcode == "w:InvalidSelectors" and err.wmi_code == 0x80041002


def test_an_invalid_class_names_the_wmi_error(cim):
    with pytest.raises(remsess.RemoteError) as e:
        list(cim.enumerate("Win32_NoSuchClass"))
    assert e.value.wmi_code == 0x80041010 or e.value.wsman_code != 0


def test_query_selects_with_wql(cim):
    running = list(cim.query("SELECT * FROM Win32_Service WHERE State = 'Running'"))
    assert running and all(i.State == "Running" for i in running)
    every = list(cim.enumerate("Win32_Service"))
    assert len(running) == sum(1 for i in every if i.State == "Running")


def test_invoke_instance_method_with_parameters(cim):
    r = cim.invoke(Reference("Win32_Service", Name="Spooler"), "ChangeStartMode",
                   StartMode="Manual")
    assert r["ReturnValue"] == 0
    assert cim.get("Win32_Service", Name="Spooler").StartMode == "Manual"
    r = cim.invoke(cim.get("Win32_Service", Name="Spooler"), "ChangeStartMode",
                   StartMode="Automatic")
    assert r.ReturnValue == 0
    assert cim.get("Win32_Service", Name="Spooler").StartMode in ("Auto", "Automatic")


def test_invoke_static_method_on_a_class(cim):
    r = cim.invoke("Win32_Process", "Create", CommandLine="sleep 0")
    assert r["ReturnValue"] == 0 and isinstance(r["ProcessId"], int) and r["ProcessId"] > 0


def test_create_modify_delete_round_trip(cim):
    created = datetime.datetime(2025, 6, 1, 8, 30, 15, 250000,
                                tzinfo=datetime.timezone(datetime.timedelta(hours=-5)))
    ref = cim.create("X_Widget", Id="py1", Name="from python", Size=42, Enabled=True,
                     Ratio=0.25, Tags=["x", "y"], Created=created)
    try:
        assert isinstance(ref, Reference) and ref.selectors == {"Id": "py1"}
        w = cim.get(ref)
        assert (w.Name, w.Size, w.Enabled, w.Ratio, w.Tags) == ("from python", 42, True, 0.25,
                                                              ["x", "y"])
        assert w.Created == created and w.Created.utcoffset() == datetime.timedelta(hours=-5)
        cim.modify(ref, Size=43, Tags=["z"])
        w = cim.get("X_Widget", Id="py1")
        assert w.Size == 43 and w.Tags == ["z"]
    finally:
        cim.delete(ref)
    with pytest.raises(remsess.RemoteError):
        cim.get(ref)


def test_modify_given_an_instance_sends_its_properties(cim):
    w = cim.get("X_Widget", Id="w3")
    changed = Instance("X_Widget", {**w, "Size": 777}, w.namespace, keys={"Id"})
    cim.modify(changed)
    assert cim.get("X_Widget", Id="w3").Size == 777


def test_associators_and_references(cim):
    winrm = cim.get("Win32_Service", Name="WinRM")
    assoc = list(cim.associators(winrm, "Win32_DependentService"))
    assert assoc and all(a.class_name == "Win32_Service" for a in assoc)
    refs = list(cim.references(winrm, "Win32_DependentService"))
    assert len(refs) == len(assoc)
    for r in refs:
        ends = {r.Antecedent["Name"] if False else r.Antecedent.selectors["Name"],
                r.Dependent.selectors["Name"]}
        assert "WinRM" in ends
    only = list(cim.associators(winrm, "Win32_DependentService", result_role="Antecedent"))
    assert len(only) <= len(assoc)


def test_get_class_gives_the_schema(cim):
    c = cim.get_class("X_Number")
    types = {p.name: p.type for p in c.properties}
    assert c.name == "X_Number" and c.key_names == ["Id"]
    assert types["U8"] == "uint8" and types["Squares"] == "uint32[]"
    assert types["Owner"] == "ref" and types["When"] == "datetime"
    assert "StartService" in cim.get_class("Win32_Service").methods


def test_identify(cim):
    ident = cim.identify()
    assert "wsman" in ident["ProtocolVersion"] and ident["ProductVendor"]


def test_cim_cannot_run_commands(cim):
    with pytest.raises(remsess.UnsupportedError) as e:
        cim.run("echo", "x")
    assert "pssession" in str(e.value).lower()
