"""PowerShell remoting over WinRM: the endpoint hands each PowerShell shell to a real pwsh."""

import datetime
import decimal
import uuid

import pytest

import remsess
from remsess import PSObject


def test_a_powershell_session_has_its_properties(psession):
    assert psession.ps_protocol == "powershell" and psession.state == "Opened"


def test_output_objects_are_typed(psession):
    r = psession.ps("1; 'two'; [decimal]'12.50'; [guid]'12345678-1234-5678-1234-567812345678'; "
                    "[timespan]'1.02:03:04.5'; ,[byte[]](1,2,255); $true; [datetime]::new(2024,1,2,3,4,5,[DateTimeKind]::Utc)")
    out = r.output
    assert out[:7] == [1, "two", decimal.Decimal("12.50"),
                       uuid.UUID("12345678-1234-5678-1234-567812345678"),
                       datetime.timedelta(days=1, hours=2, minutes=3, seconds=4.5),
                       b"\x01\x02\xff", True]
    assert out[7] == datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)


def test_objects_carry_type_names_and_properties(psession):
    r = psession.ps("[pscustomobject]@{Name='x'; Count=3}; @{a=1}; ,@(1,2)")
    obj, table, arr = r.output
    assert isinstance(obj, PSObject) and obj["Name"] == "x" and obj.Count == 3
    assert "System.Management.Automation.PSCustomObject" in " ".join(obj.type_names)
    assert table.collection == "dictionary" and table.to_python() == {"a": 1}
    assert arr.collection == "list" and arr.to_python() == [1, 2]


def test_other_streams_are_kept_apart(psession):
    r = psession.ps("Write-Warning 'careful'; Write-Error 'bad thing'; Write-Verbose 'v' -Verbose; "
                    "Write-Information 'info'; 'out'")
    assert r.output == ["out"]
    assert [w.message for w in r.warning] == ["careful"]
    assert len(r.error) == 1 and "bad thing" in r.error[0].message and r.had_errors
    assert [v.message for v in r.verbose] == ["v"]
    assert r.information and "info" in str(r.information[0])
    assert [s for s, _ in r.records][-1] == "output"


def test_a_terminating_error_raises_with_the_error_record(psession):
    with pytest.raises(remsess.RemoteError) as e:
        psession.ps("'before'; throw 'it broke'")
    assert "it broke" in str(e.value)
    assert isinstance(e.value.error_record, PSObject)
    assert e.value.result.output == ["before"]


def test_input_and_parameters_go_over_typed(psession):
    r = psession.ps("$input | ForEach-Object { $_.GetType().Name }",
                    input=[1, "s", 2.5, decimal.Decimal("1.1"), {"k": 1}, [1]])
    # a list travels as a CLIXML <LST>, which PowerShell rehydrates as an ArrayList
    assert r.output == ["Int32", "String", "Double", "Decimal", "Hashtable", "ArrayList"]
    r = psession.ps("param($A, $B) \"$A-$($B.GetType().Name)\"", A="x", B=uuid.uuid4())
    assert r.output == ["x-Guid"]


def test_commands_are_piped_with_parameters(psession):
    r = psession.ps([("Get-Item", {"Path": "env:PATH"}), ("Select-Object", {"ExpandProperty": "Name"})])
    assert r.output == ["PATH"]


def test_ps_iter_streams_in_order(psession):
    items = list(psession.ps_iter("1..3 | ForEach-Object { $_; Write-Warning \"w$_\" }"))
    assert [s for s, _ in items] == ["output", "warning"] * 3
