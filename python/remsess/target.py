"""Targets (one computer, both backends), side-by-side comparison and fan-out."""

from __future__ import annotations

import ctypes
import json
from ctypes import byref, c_int, c_size_t, c_void_p
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Optional, Union

from . import _ffi, errors
from ._ffi import lib, s
from ._handle import Handle
from .errors import Error, check
from .options import Options, _BACKENDS
from .request import Request
from .session import PSResult, Session, Stats, ps_value
from .values import Instance

__all__ = ["Target", "Comparison", "compare", "fanout", "FanoutResult"]


class Target:
    """One computer with settings for both backends; each call picks a backend (``"auto"``:
    CIM operations go to CIM, commands to the PSSession, as target.h describes).

    ``Target("server1", user=..., password=...)`` configures both backends with the same
    options; ``cim=False`` or ``pssession=False`` leaves one out, and ``cim={...}`` /
    ``pssession={...}`` override options for one (``pssession={"protocol": "powershell"}``).
    Sessions are made on demand and freed with the target.
    """

    def __init__(self, host_or_url: Union[str, Options], *,
                 cim: Union[bool, dict] = True, pssession: Union[bool, dict] = True,
                 **options: Any) -> None:
        base = host_or_url if isinstance(host_or_url, Options) else Options(host_or_url, **options)
        if isinstance(host_or_url, Options) and options:
            base = base.replace(**options)
        self.options = base
        self.cim_options = base.replace(**cim) if isinstance(cim, dict) else (base if cim else None)
        self.ps_options = (base.replace(**pssession) if isinstance(pssession, dict)
                           else (base if pssession else None))
        c1 = self.cim_options.to_c() if self.cim_options else None
        c2 = self.ps_options.to_c() if self.ps_options else None
        out = c_void_p()
        rc = lib.rms_target_new(byref(out), byref(c1.struct) if c1 else None,
                                byref(c2.struct) if c2 else None)
        if rc:
            raise errors.last(rc, "target")
        self._copts = (c1, c2)
        self._h = Handle(self, "target", out.value, lib.rms_target_free, c1, c2)
        self._sessions: dict[str, Session] = {}

    @property
    def ptr(self) -> int:
        if self._h.ptr is None:
            raise errors.StateError("this target is closed", -20)
        return self._h.ptr

    def close(self) -> None:
        """Free the target and the sessions it made (idempotent)."""
        self._h.free()

    def __enter__(self) -> "Target":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<remsess.Target {self.options.host_or_url}>"

    def choose(self, kind: str, backend: str = "auto") -> tuple[str, str]:
        """Which backend a call of ``kind`` ("enumerate", "run", ...) with ``backend`` runs on,
        and why; opens nothing."""
        req = Request(kind)
        out, reason = c_int(), ctypes.c_char_p()
        from .request import _KINDS
        check(lib.rms_target_choose(byref(out), byref(reason), self.ptr,
                                    _BACKENDS[backend], _KINDS[req.kind]))
        return s(lib.rms_backend_name(out.value)), s(reason.value)

    def compare(self, kind: Union[str, Request], *args: Any, **kwargs: Any) -> "Comparison":
        """Run one request on both backends and compare (rms_compare):
        ``target.compare("enumerate", "Win32_Service")``, ``compare("run", "hostname")``,
        or ``compare(Request...)``."""
        return compare(self, kind if isinstance(kind, Request) else _request(kind, *args, **kwargs))


def _request(kind: str, *args: Any, **kwargs: Any) -> Request:
    from .request import ALIASES
    kind = ALIASES.get(kind, kind)
    ctor = {"query": Request.query_}.get(kind) or getattr(Request, kind, None)
    if ctor is None or kind not in ("identify", "get", "enumerate", "query", "invoke", "create",
                                    "modify", "delete", "associators", "get_class", "run",
                                    "powershell", "references"):
        raise errors.UsageError(f"unknown operation {kind!r}", -3)
    if kind == "references":
        return Request.associators(*args, references=True, **kwargs)
    return ctor(*args, **kwargs)


@dataclass
class Comparison:
    """The record of one comparison: ``equal``, ``where`` the first difference is and each
    side's value there, and ``record``, the whole record as rms_comparison_to_json gives it
    (per side: backend, status, error, duration, traffic, items, limit hit)."""
    equal: bool
    where: Optional[str]
    cim_value: Optional[str]
    pssession_value: Optional[str]
    record: dict
    cim_error: Optional[Error] = None
    pssession_error: Optional[Error] = None

    def __getitem__(self, key: str) -> Any:
        return self.record[key]


def compare(target: Target, request: Request) -> Comparison:
    """Run ``request`` on both backends of ``target`` and compare the results."""
    out = c_void_p()
    with request.to_c() as req:
        rc = lib.rms_compare(byref(out), target.ptr, req.ptr)
        if rc:
            raise errors.last(rc, "compare")
    c = out.value
    try:
        return _comparison(c)
    finally:
        lib.rms_comparison_free(c)


def _comparison(c: int) -> Comparison:
    """A Comparison from an rms_comparison (borrowed)."""
    js = c_void_p()
    check(lib.rms_comparison_to_json(byref(js), c))
    record = json.loads(_ffi.take_string(js))
    side_errors = []
    for backend in (1, 2):
        side = lib.rms_comparison_side(c, backend)
        e = side.contents.error if side else None
        side_errors.append(errors.from_record(e, side.contents.status) if e else None)
    return Comparison(bool(lib.rms_comparison_equal(c)), s(lib.rms_comparison_where(c)),
                      s(lib.rms_comparison_cim_value(c)),
                      s(lib.rms_comparison_pssession_value(c)), record, *side_errors)


# ---- fan-out ---------------------------------------------------------------------------

@dataclass
class FanoutResult:
    """One target's result: ``error`` is None on success. ``instances`` for CIM kinds (and
    the single result of get/invoke/identify), ``ps`` for a pipeline, ``stdout``,
    ``stderr`` and ``exit_code`` for a command. ``request`` says which of the fan-out's
    requests it is the result of (0 for the first); ``comparison`` is the record of a
    fan-out run with ``compare=True`` (both backends of the target at once)."""
    index: int
    target: Target
    backend: str
    reason: Optional[str]
    error: Optional[Error]
    instances: list[Instance] = field(default_factory=list)
    ps: Optional[PSResult] = None
    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: Optional[int] = None
    started_ms: int = 0
    ended_ms: int = 0
    stats: Optional[Stats] = None
    request: int = 0
    comparison: Optional[Comparison] = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _fanout_result(r: int, targets: list[Target], index_of: dict) -> FanoutResult:
    idx = index_of[lib.rms_fanout_result_index(r)]
    status = lib.rms_fanout_result_status(r)
    eptr = lib.rms_fanout_result_error(r)
    err = errors.from_record(eptr, status) if (status or eptr) else None
    insts = [Instance._from_c(lib.rms_fanout_result_instance(r, i))
             for i in range(lib.rms_fanout_result_instance_count(r))]
    ps = None
    n = lib.rms_fanout_result_object_count(r)
    if n:
        ps = PSResult()
        st = c_int()
        for i in range(n):
            v = lib.rms_fanout_result_object(r, i, byref(st))
            ps._add(*ps_value(st.value, v))
    outs = []
    for stream in (1, 2):
        ln = c_size_t()
        p = lib.rms_fanout_result_output(r, stream, byref(ln))
        outs.append(ctypes.string_at(p, ln.value) if p and ln.value else b"")
    code = c_int()
    exit_code = code.value if lib.rms_fanout_result_exit_code(r, byref(code)) == 0 else None
    stats = _ffi.Stats(version=_ffi.STATS_VERSION)
    have_stats = lib.rms_fanout_result_stats(r, byref(stats)) == 0
    cmp = lib.rms_fanout_result_comparison(r)
    return FanoutResult(idx, targets[idx], s(lib.rms_backend_name(lib.rms_fanout_result_backend(r))),
                        s(lib.rms_fanout_result_reason(r)), err, insts, ps, outs[0], outs[1],
                        exit_code, lib.rms_fanout_result_started_ms(r),
                        lib.rms_fanout_result_ended_ms(r),
                        Stats._from_c(stats) if have_stats else None,
                        lib.rms_fanout_result_request(r),
                        _comparison(cmp) if cmp else None)


def fanout(targets: Iterable[Target], request: Union[Request, Iterable[Request]], *,
           throttle: int = 32, backend: str = "auto", target_timeout: Optional[float] = None,
           run_timeout: Optional[float] = None, compare: bool = False) -> Iterator[FanoutResult]:
    """Run ``request`` on every target, at most ``throttle`` at a time, from this thread
    (Invoke-Command -ComputerName -ThrottleLimit). Yields one FanoutResult per target in the
    order they finish; a failed target is a result with ``error`` set, not an exception.

    A list of requests runs them in order on each target's one session (one result per
    target and request; ``result.request`` says which). ``compare=True`` runs the one
    request on both backends of each target at once and gives each result its
    ``comparison`` (the record ``compare`` gives)."""
    targets = list(targets)
    requests = [request] if isinstance(request, Request) else list(request)
    if not requests:
        raise ValueError("fanout needs at least one request")
    if compare and len(requests) != 1:
        raise ValueError("compare=True runs one request")
    request = requests[0]
    fo = _ffi.FanoutOptions()
    check(lib.rms_fanout_options_init(byref(fo), _ffi.FANOUT_OPTIONS_VERSION))
    fo.throttle = throttle
    fo.target_timeout_ms = int(target_timeout * 1000) if target_timeout else 0
    fo.run_timeout_ms = int(run_timeout * 1000) if run_timeout else 0
    out = c_void_p()
    with request.to_c() as req:
        check(lib.rms_fanout_new(byref(out), req.ptr, byref(fo)), "fanout")
    f = out.value
    index_of: dict[int, int] = {}
    try:
        for more in requests[1:]:
            with more.to_c() as req:
                check(lib.rms_fanout_add_request(None, f, req.ptr), "fanout request")
        for i, t in enumerate(targets):
            pos = c_size_t()
            if compare:
                check(lib.rms_fanout_add_compare(byref(pos), f, t.ptr), "fanout target")
            else:
                check(lib.rms_fanout_add(byref(pos), f, t.ptr, _BACKENDS[backend]),
                      "fanout target")
            index_of[pos.value] = i
        r = c_void_p()
        while True:
            rc = lib.rms_fanout_next(byref(r), f)
            if rc == _ffi.ITEROVER:
                return
            if rc == _ffi.EAGAIN:
                check(lib.rms_fanout_poll(f, -1, None))
                continue
            check(rc, "fanout")
            try:
                result = _fanout_result(r.value, targets, index_of)
            finally:
                lib.rms_fanout_result_free(r.value)
            yield result
    finally:
        # Targets are borrowed by the fan-out: they stay alive (the list above) until here.
        lib.rms_fanout_free(f)
