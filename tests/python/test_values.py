"""The value model, both ways: every CIM type read from the endpoint's X_Number, and Python
values converted to C and back without a server."""

import datetime as dt
import decimal
import math
import uuid

import pytest

import remsess
from remsess import CimDatetime, Instance, PSObject, Reference, typed
from remsess.values import from_c, to_c, type_of

UTC = dt.timezone.utc
PLUS_TWO = dt.timezone(dt.timedelta(hours=2))
EPOCH = dt.datetime(2024, 1, 1, tzinfo=UTC)


def expected_number(i):
    """tests/endpoint/winrm_endpoint/cimclasses.py Number.make(i)."""
    return {
        "Id": i, "U8": i % 256, "S8": i % 256 - 128, "U16": i % 65536, "S16": i % 65536 - 32768,
        "U32": (i * 2654435761) % 2**32, "S32": -i, "U64": 2**64 - i, "S64": -2**63 + i,
        "R64": i / 3.0, "Flag": i % 2 == 0, "Letter": chr(ord("A") + i % 26),
        "Text": 'number %d <&> "\u00e9\u4e2d"' % i,
        "Squares": [(i + k) ** 2 % 2**32 for k in range(i % 4)],
        "Words": ["w%d" % k for k in range(i % 3)], "Nothing": None,
        "Sometimes": None if i % 10 == 0 else i,
    }


@pytest.mark.parametrize("i", [1, 2, 3, 10, 999])
def test_every_cim_type_arrives_as_its_python_type(cim, i):
    n = cim.get("X_Number", Id=i)
    for name, want in expected_number(i).items():
        # WS-CIM has no form for an empty array: such a property does not appear at all.
        got = n.get(name, [] if want == [] else "absent")
        assert got == want and type(got) is type(want), name
    assert n["R32"] == pytest.approx(i / 4.0) and isinstance(n["R32"], float)
    when = (EPOCH + dt.timedelta(seconds=i, microseconds=(i % 1000) * 1000))
    assert n["When"] == when and n["When"].utcoffset() == (PLUS_TWO if i % 2 else UTC).utcoffset(None)
    assert n["Span"] == dt.timedelta(days=i // 86400, seconds=i % 86400,
                                     microseconds=500000 if i % 2 else 0)
    assert isinstance(n["Owner"], Reference) and n["Owner"].class_name == "Win32_Service"
    detail = n["Detail"]
    assert isinstance(detail, Instance) and detail.class_name == "X_NumberDetail"
    assert detail.to_dict() == {"Parity": "odd" if i % 2 else "even", "Digits": len(str(i)),
                                "Half": i / 2.0}
    assert n.key_names == ["Id"]


@pytest.mark.parametrize("value,ctype", [
    (True, "boolean"), (0, "sint64"), (-2**63, "sint64"), (2**64 - 1, "uint64"),
    (1.5, "real64"), (math.inf, "real64"), ("\u00e9\U0001F600", "string"),
    (dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=dt.timezone(dt.timedelta(minutes=-330))), "datetime"),
    (dt.datetime(2024, 1, 1, 0, 0, tzinfo=UTC), "datetime"),
    (dt.datetime(2024, 1, 1, 12, 0), "datetime"),
    (dt.timedelta(days=12345, hours=23, microseconds=1), "datetime"),
    ([1, 2, 3], "sint64[]"), ([2**64 - 1, 0], "uint64[]"), (["a", "b"], "string[]"),
    ([True, False], "boolean[]"), ([], "string[]"),
    (Reference("Win32_Service", "root/cimv2", Name="WinRM"), "ref"),
    (Instance("X_NumberDetail", {"Parity": "odd", "Digits": 1, "Half": 0.5}), "instance"),
])
def test_python_values_round_trip_through_c(value, ctype):
    with to_c(value) as v:
        assert type_of(v.ptr) == ctype
        back = from_c(v.ptr)
    assert back == value and type(back) is type(value)
    if isinstance(value, dt.datetime):
        assert back.utcoffset() == value.utcoffset()


@pytest.mark.parametrize("name,value", [
    ("uint8", 255), ("sint8", -128), ("uint16", 65535), ("sint16", -32768),
    ("uint32", 2**32 - 1), ("sint32", -2**31), ("uint64", 2**64 - 1), ("sint64", 2**63 - 1),
    ("real32", 0.5), ("char16", "\u4e2d"), ("uint8[]", [0, 255]), ("char16[]", ["a", "b"]),
    ("datetime[]", [dt.timedelta(seconds=1), dt.timedelta(0)]),
])
def test_typed_gives_every_cim_type(name, value):
    with to_c(typed(name, value)) as v:
        assert type_of(v.ptr) == name
        assert from_c(v.ptr) == value


def test_typed_checks_range_and_null_is_typed():
    with pytest.raises(remsess.UsageError):
        to_c(typed("uint8", 256))
    with pytest.raises(remsess.UsageError):
        to_c(typed("sint8", -129))
    with to_c(typed("datetime", None)) as v:
        assert type_of(v.ptr) == "datetime" and from_c(v.ptr) is None


def test_wildcard_datetimes_keep_their_dmtf_text():
    with to_c(typed("datetime", "20231010******.******+000")) as v:
        back = from_c(v.ptr)
    assert isinstance(back, CimDatetime) and back.text == "20231010******.******+000"


def test_negative_interval_is_refused_for_cim():
    with pytest.raises(remsess.UsageError):
        to_c(dt.timedelta(seconds=-1))


@pytest.mark.parametrize("value,pstype", [
    (decimal.Decimal("-12.50"), "decimal"), (uuid.UUID("12345678-1234-5678-1234-567812345678"), "guid"),
    (dt.timedelta(days=-1, microseconds=5), "timespan"), (b"\x00\xffbytes", "bytes"),
    (remsess.Version("7.6.0"), "version"), (remsess.Uri("http://x/y"), "uri"),
    (remsess.Xml("<a>1</a>"), "xml"), (remsess.ScriptBlock("Get-Date"), "scriptblock"),
    (1, "sint32"), (2**40, "sint64"), (2**63, "uint64"), (None, "object"),
])
def test_powershell_values_round_trip(value, pstype):
    with to_c(value, ps=True) as v:
        assert type_of(v.ptr) == pstype
        back = from_c(v.ptr)
    assert back == value and type(back) is type(value)


def test_python_lists_and_dicts_become_powershell_collections():
    with to_c([1, "two", [3.0]], ps=True) as v:
        obj = from_c(v.ptr)
    assert isinstance(obj, PSObject) and obj.collection == "list"
    assert obj.type_names[0] == "System.Object[]"
    assert obj.to_python() == [1, "two", [3.0]]
    with to_c({"a": 1, "b": [True]}, ps=True) as v:
        obj = from_c(v.ptr)
    assert obj.collection == "dictionary" and obj.to_python() == {"a": 1, "b": [True]}


def test_psobject_round_trips_properties_and_type_names():
    o = PSObject({"Name": "x", "Count": 3}, type_names=["My.Type", "System.Object"],
                 to_string="x!", extended={"Count"})
    with to_c(o, ps=True) as v:
        back = from_c(v.ptr)
    assert back == o and back["name"] == "x" and back.extended == frozenset({"count"})
    assert str(back) == "x!"


def test_mixed_cim_arrays_need_typed():
    with pytest.raises(remsess.UsageError):
        to_c([1, "a"])


def test_reference_text_is_the_wmi_object_path():
    r = Reference("Win32_Service", "root/cimv2", Name="WinRM")
    assert str(r) == 'root/cimv2:Win32_Service.Name="WinRM"'
    assert r == Reference("win32_service", "ROOT\\cimv2", {"name": "WinRM"})
    assert r != Reference("Win32_Service", "root/cimv2", Name="winrm")
