"""Every C object is freed exactly once; closed objects refuse further use."""

import gc

import pytest

import remsess


def live():
    gc.collect()
    return remsess._live_handles()


def test_sessions_and_operations_are_freed_once(endpoint, opts):
    before = live()
    s = remsess.Session(endpoint.url, **opts)
    stream = s.enumerate("Win32_Service")
    next(stream)
    assert live().get("op", 0) == before.get("op", 0) + 1
    stream.close()
    stream.close()  # idempotent
    assert live().get("op", 0) == before.get("op", 0)
    s.close()
    s.close()
    del s, stream
    assert live() == before


def test_an_exhausted_stream_frees_its_operation_at_once(cim):
    before = live().get("op", 0)
    stream = cim.enumerate("Win32_Service")
    list(stream)
    assert live().get("op", 0) == before
    with pytest.raises(StopIteration):
        next(stream)


def test_a_stream_abandoned_midway_is_released(cim):
    before = live().get("op", 0)
    stream = cim.enumerate("Win32_Service")
    next(stream)
    del stream
    assert live().get("op", 0) == before


def test_an_operation_keeps_its_session_alive(endpoint, opts):
    s = remsess.Session(endpoint.url, **opts)
    stream = s.enumerate("Win32_Service")
    del s
    gc.collect()
    assert len(list(stream)) > 10  # the session was not freed under the op


def test_using_a_closed_session_raises_state_error(endpoint, opts):
    s = remsess.Session(endpoint.url, **opts)
    s.close()
    assert s.state == "Closed"
    with pytest.raises(remsess.StateError):
        s.identify()
    with pytest.raises(remsess.StateError):
        list(s.enumerate("Win32_Service"))


def test_a_closed_operation_refuses_use(cim):
    op = cim.enumerate("Win32_Service")
    op.close()
    with pytest.raises(remsess.StateError):
        op.backend


def test_targets_are_freed_once(endpoint, opts):
    before = live()
    t = remsess.Target(endpoint.url, **opts)
    t.close()
    t.close()
    del t
    assert live() == before
