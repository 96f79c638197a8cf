"""Ownership across the ctypes boundary on the paths where it splits: a conversion or a
request that fails half-built, a generator or stream abandoned midway, a callback that
raises. Each must free what it made in C exactly once. The handle counts check the Python
side here; tests/python/run-asan.sh runs this file (with the rest of the suite) under
LeakSanitizer, which checks the C side."""

import asyncio
import gc
import os
import subprocess
import sys

import pytest

import remsess
from remsess import PSObject, Request, typed
from remsess.values import Instance, to_c
from conftest import SANITIZER_ENV


def live():
    gc.collect()
    return remsess._live_handles()


def test_an_array_failing_at_its_third_element_frees_the_first_two():
    with pytest.raises(remsess.UsageError):
        to_c(typed("uint8[]", [1, 2, 300]))


def test_an_instance_failing_at_a_property_frees_the_ones_set():
    with pytest.raises(remsess.UsageError):
        Instance("X_Widget", {"Id": "w", "Size": 3, "Bad": object()})._to_c()


def test_a_dictionary_with_a_repeated_key_frees_both_halves():
    d = PSObject(type_names=["System.Collections.Hashtable"], collection="dictionary",
                 entries=[("a", 1), ("a", 2)])
    with pytest.raises(remsess.UsageError):
        to_c(d, ps=True)


def test_a_dictionary_entry_whose_value_fails_frees_its_key():
    d = PSObject(collection="dictionary", entries=[("k", ["x"]), ("k2", object())])
    with pytest.raises(remsess.UsageError):
        to_c(d, ps=True)


def test_a_request_failing_at_a_parameter_is_freed():
    req = Request.powershell("param($a, $b) $a", a=[1, {"x": 2}], b=object())
    with pytest.raises(remsess.UsageError):
        req.to_c()


def test_nested_references_and_objects_round_trip():
    inner = remsess.Reference("X_Inner", "root/x", Id="1")
    ref = remsess.Reference("X_Outer", "root/x", Inner=inner, Name="n")
    assert "X_Inner" in str(ref)
    obj = PSObject({"R": inner, "L": [1, "a", None]}, type_names=["T"], base="b")
    with to_c(obj, ps=True) as v:
        back = remsess.values.from_c(v.ptr)
    assert back["L"].to_python() == [1, "a", None] and back["R"] == inner


def test_a_stdin_iterable_raising_midway_frees_the_command(shell):
    before = live()

    def chunks():
        yield b"x" * 100
        raise RuntimeError("stdin broke")
    with pytest.raises(RuntimeError, match="stdin broke"):
        shell.run("cat", stdin=chunks())
    assert live() == before
    assert shell.run("echo", "ok").stdout == b"ok\n"  # the session goes on


def test_a_log_callback_raising_while_the_session_is_made_frees_it(spawn):
    # The session is made (and its shell opened) before the callback's exception can be
    # raised: Session() must free it, as no Python object will own it.
    endpoint = spawn()
    opts = endpoint.options()
    before = live()

    def log(level, message):
        raise ValueError("log sink broke")
    with pytest.raises(ValueError, match="log sink broke"):
        remsess.Session(endpoint.url, "pssession", log=log, log_level="trace", **opts)
    assert live() == before
    assert endpoint.stats()["shells_open"] == 0


def test_a_pipeline_abandoned_midway_is_freed(psession):
    before = live()
    it = psession.ps_iter("1..50 | ForEach-Object { $_ }")
    assert next(it) == ("output", 1)
    it.close()
    assert live() == before
    assert psession.ps("2+2").output == [4]


def test_a_fanout_abandoned_after_its_first_result_frees_everything(endpoint, opts):
    before = live()
    targets = [remsess.Target(endpoint.url, **opts) for _ in range(4)]
    it = remsess.fanout(targets, Request.run("echo", "hi"), throttle=2)
    first = next(it)
    assert first.error is None and first.stdout == b"hi\n"
    it.close()
    for t in targets:
        t.close()
    del targets, it, t
    assert live() == before


def test_an_async_stream_abandoned_midway_and_the_engine_are_freed(endpoint, opts):
    before = live()

    async def main():
        s = await remsess.open_async(endpoint.url, **opts)
        stream = s.enumerate_async("Win32_Service")
        first = await stream.__anext__()
        stream.close()
        p = await remsess.open_async(endpoint.url, "pssession", **opts)
        r = await p.run_async("echo", "a")
        await p.close_async()
        await s.close_async()
        return first, r
    first, r = asyncio.run(main())
    assert first.class_name == "Win32_Service" and r.stdout == b"a\n"
    assert live() == before


@pytest.mark.skipif(not SANITIZER_ENV, reason="only under tests/python/run-asan.sh")
def test_the_leak_check_sees_a_leak_across_the_boundary(tmp_path):
    # A value made in C and dropped from Python: LeakSanitizer must report it, or the
    # clean result of the run would mean nothing.
    env = dict(os.environ, **SANITIZER_ENV)
    env["ASAN_OPTIONS"] = ":".join(o for o in env.get("ASAN_OPTIONS", "").split(":")
                                   if not o.startswith("log_path="))
    code = ("import ctypes, remsess\nfrom remsess._ffi import lib\n"
            "v = ctypes.c_void_p()\nlib.rms_value_new_string(ctypes.byref(v), b'dropped')\n")
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert p.returncode != 0
    assert "LeakSanitizer: detected memory leaks" in p.stderr
    assert "rms_value_new_string" in p.stderr
