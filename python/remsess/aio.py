"""asyncio support, driven by the library's engine (engine.h) on the event loop's thread.

One engine (an rms_multi) per event loop: its descriptors are registered with
loop.add_reader/add_writer, its timeout with loop.call_later, and rms_multi_perform runs when
one is due. Nothing blocks the loop and no thread is made, so hundreds of sessions and
operations run concurrently on one thread.
"""

from __future__ import annotations

import asyncio
import ctypes
import weakref
from ctypes import byref, c_int, c_size_t, c_void_p
from typing import Any, Callable, Iterable, Optional, Union

from . import _ffi, errors
from ._ffi import lib
from ._handle import Handle

from .options import Options
from .request import Request, Target
from .session import (Operation, PSResult, RunResult, Session, _BACKENDS_checked,
                      ps_value)
from .values import Instance

__all__ = ["Engine", "engine", "open_async", "AsyncInstanceStream"]

_MSG_READY, _MSG_DONE, _MSG_OPENED, _MSG_CLOSED = 1, 2, 3, 4


_engines: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Engine]" = weakref.WeakKeyDictionary()


def engine(loop: Optional[asyncio.AbstractEventLoop] = None) -> "Engine":
    """The engine of ``loop`` (the running loop by default), made on first use."""
    loop = loop or asyncio.get_running_loop()
    e = _engines.get(loop)
    if e is None or e.closed:
        e = _engines[loop] = Engine(loop)
    return e


class _AsyncOp(Operation):
    """An operation the engine drives: non-blocking, woken by READY and DONE messages."""

    def __init__(self, eng: "Engine", session: Session, ptr: int, request: Request,
                 keep: tuple = ()) -> None:
        super().__init__(session, ptr, request, (eng, *keep))
        self.engine = eng
        self.done_rc: Optional[int] = None
        self._wake: asyncio.Event = asyncio.Event()
        eng._ops[ptr] = self

    def _message(self, kind: int, result: int) -> None:
        if kind == _MSG_DONE:
            self.done_rc = result
        self._wake.set()

    async def _wait(self) -> None:
        """Wait for the next READY or DONE (after reading until RMS_EAGAIN)."""
        self._wake.clear()
        self.engine._kick()  # items consumed: the engine may move the op on
        await self._wake.wait()

    async def wait_done(self) -> int:
        while self.done_rc is None:
            await self._wait()
        return self.done_rc

    def close(self) -> None:
        p = self._h.ptr
        if p is not None:
            self.engine._ops.pop(p, None)
        super().close()


class AsyncInstanceStream(_AsyncOp):
    """Instances of an enumeration, query, associators or references call, as an async
    iterator (``async for inst in session.enumerate_async(...)``); awaiting it gives a list.
    Instances are read one at a time as the consumer asks, so memory stays bounded."""

    def __init__(self, *args, on_skip=None, **kw) -> None:
        super().__init__(*args, **kw)
        self.on_skip = on_skip
        self._finished = False
        self._skipped = 0
        self._delivered = 0

    def __aiter__(self) -> "AsyncInstanceStream":
        return self

    async def __anext__(self) -> Instance:
        while not self._finished:
            out = c_void_p()
            rc = lib.rms_op_next(self.ptr, byref(out))
            if rc == 0:
                try:
                    inst = Instance._from_c(out.value)
                finally:
                    lib.rms_instance_free(out.value)
                self._delivered += 1
                return inst
            if rc == _ffi.EAGAIN:
                await self._wait()
                continue
            if rc == -29:
                err = errors.last(rc)
                if self.on_skip:
                    self.on_skip(err)
                else:
                    import warnings
                    warnings.warn(errors.SkippedInstanceWarning(str(err)), stacklevel=2)
                continue
            self._skipped = lib.rms_op_skipped(self.ptr)
            err = None if rc == _ffi.ITEROVER else self._fail(rc)
            self._finished = True
            self.close()
            if err:
                raise err
        raise StopAsyncIteration

    @property
    def skipped(self) -> int:
        return self._skipped if self._h.ptr is None else lib.rms_op_skipped(self._h.ptr)

    @property
    def delivered(self) -> int:
        return self._delivered

    async def collect(self) -> list[Instance]:
        return [inst async for inst in self]

    def __await__(self):
        return self.collect().__await__()


class Engine:
    """An rms_multi on an asyncio loop. Use :func:`engine` to get the loop's one engine."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        out = c_void_p()
        errors.check(lib.rms_multi_new(byref(out)), "engine")
        self._h = Handle(self, "engine", out.value, lib.rms_multi_free)
        self._loop_ref = weakref.ref(loop)
        self._ops: dict[int, _AsyncOp] = {}
        self._opening: dict[int, tuple[asyncio.Future, Session]] = {}
        self._closing: dict[int, asyncio.Future] = {}
        self._readers: set[int] = set()
        self._writers: set[int] = set()
        self._timer: Optional[asyncio.TimerHandle] = None
        self._scheduled = False
        self._fds = (_ffi.WaitFd * 64)()

    @property
    def closed(self) -> bool:
        return self._h.ptr is None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop_ref()
        if loop is None:
            raise errors.StateError("the engine's event loop is gone", -20)
        return loop

    @property
    def ptr(self) -> int:
        if self._h.ptr is None:
            raise errors.StateError("this engine is closed", -20)
        return self._h.ptr

    # ---- driving ---------------------------------------------------------------------

    def _kick(self) -> None:
        if not self._scheduled and not self.closed:
            self._scheduled = True
            self.loop.call_soon(self._perform)

    def _perform(self) -> None:
        self._scheduled = False
        if self.closed:
            return
        lib.rms_multi_perform(self.ptr, None)
        msg = _ffi.Msg()
        while lib.rms_multi_info_read(self.ptr, byref(msg)) == 0:
            self._dispatch(msg.kind, msg.op, msg.session, msg.result)
        self._update()

    def _dispatch(self, kind: int, op: Optional[int], session: Optional[int], result: int) -> None:
        if kind in (_MSG_READY, _MSG_DONE):
            target = self._ops.get(op)
            if target is not None:
                target._message(kind, result)
        elif kind == _MSG_OPENED:
            fut, _s = self._opening.pop(session, (None, None))
            if fut is not None and not fut.done():
                fut.set_result(result)
        elif kind == _MSG_CLOSED:
            fut = self._closing.pop(session, None)
            if fut is not None and not fut.done():
                fut.set_result(result)

    def _update(self) -> None:
        n, timeout = c_size_t(), c_int()
        while True:
            errors.check(lib.rms_multi_waitset(self.ptr, self._fds, len(self._fds), byref(n),
                                               byref(timeout)))
            if n.value <= len(self._fds):
                break
            self._fds = (_ffi.WaitFd * (n.value * 2))()
        loop = self.loop
        readers = {self._fds[i].fd for i in range(n.value) if self._fds[i].events & _ffi.POLL_IN}
        writers = {self._fds[i].fd for i in range(n.value) if self._fds[i].events & _ffi.POLL_OUT}
        # Re-register every descriptor each time: a socket closed and another opened under
        # the same number inside one perform would otherwise be silently dropped by epoll
        # (which forgets closed descriptors) while asyncio still thinks it is registered.
        for fd in self._readers:
            loop.remove_reader(fd)
        for fd in self._writers:
            loop.remove_writer(fd)
        for fd in readers:
            loop.add_reader(fd, self._kick)
        for fd in writers:
            loop.add_writer(fd, self._kick)
        self._readers, self._writers = readers, writers
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if timeout.value == 0:
            self._kick()
        elif timeout.value > 0:
            self._timer = loop.call_later(timeout.value / 1000.0, self._kick)

    def close(self) -> None:
        """Stop driving and free the engine (operations it carries must be closed first)."""
        if self.closed:
            return
        loop = self._loop_ref()
        if loop is not None and not loop.is_closed():
            for fd in self._readers:
                loop.remove_reader(fd)
            for fd in self._writers:
                loop.remove_writer(fd)
        if self._timer is not None:
            self._timer.cancel()
        self._h.free()

    # ---- starting things ---------------------------------------------------------------

    async def open(self, host_or_url: Union[str, Options], backend: str = "cim", *,
                   name: Optional[str] = None, **options: Any) -> Session:
        opts = host_or_url if isinstance(host_or_url, Options) else Options(host_or_url, **options)
        if isinstance(host_or_url, Options) and options:
            opts = opts.replace(**options)
        copts = opts.to_c()
        out = c_void_p()
        rc = lib.rms_multi_open(byref(out), self.ptr, _BACKENDS_checked(backend),
                                byref(copts.struct))
        if rc:
            raise errors.last(rc, "open")
        session = Session._adopt(out.value, opts, copts)
        fut = self.loop.create_future()
        self._opening[out.value] = (fut, session)
        self._kick()
        try:
            result = await fut
        except BaseException:
            self._opening.pop(out.value, None)
            session._h.free()  # abandons the opening (engine.h)
            raise
        copts.raise_callback_error()
        if result:
            reason = session.broken_reason
            session.close()
            raise reason if reason is not None else errors.error_class(result)(
                errors.last(result).message, result)
        if name is not None:
            session.name = name
        return session

    async def close_session(self, session: Session) -> None:
        """Close a session without blocking the loop (a PSSession's shell is deleted)."""
        if session._h.ptr is None or session.state == "Closed":
            return
        rc = lib.rms_multi_close(self.ptr, session.ptr)
        if rc:
            raise errors.last(rc, "close")
        fut = self.loop.create_future()
        self._closing[session.ptr] = fut
        self._kick()
        result = await fut
        if result:
            raise errors.error_class(result)(f"closing the session failed "
                                             f"({errors.error_class(result).__name__})", result)

    def start(self, session: Session, request: Request, cls=_AsyncOp, setup=None,
              keep: tuple = (), **kw) -> _AsyncOp:
        with request.to_c() as req:
            if setup:
                setup(req.ptr)
            out = c_void_p()
            rc = lib.rms_multi_start(byref(out), self.ptr, session.ptr, req.ptr)
            if rc:
                raise errors.last(rc, request.kind)
        op = cls(self, session, out.value, request, keep, **kw)
        self._kick()
        return op


async def open_async(host_or_url: Union[str, Options], backend: str = "cim", *,
                     name: Optional[str] = None, **options: Any) -> Session:
    """Create and open a session without blocking the event loop (a PSSession connects,
    logs in and opens its shell in the engine). Raises what Session() would."""
    return await engine().open(host_or_url, backend, name=name, **options)

# ---- the async methods of Session ----------------------------------------------------


def _enumerate_async(self: Session, class_name: str, namespace: Optional[str] = None, *,
                     on_skip=None) -> AsyncInstanceStream:
    """All instances of a class as an async iterator (await it for a list)."""
    return engine().start(self, Request.enumerate(class_name, namespace), AsyncInstanceStream,
                          on_skip=on_skip)


def _query_async(self: Session, query: str, namespace: Optional[str] = None, *,
                 dialect: str = "wql", on_skip=None) -> AsyncInstanceStream:
    """A query's instances as an async iterator (await it for a list)."""
    return engine().start(self, Request.query_(query, namespace, dialect), AsyncInstanceStream,
                          on_skip=on_skip)


async def _single_async(self: Session, request: Request, result: Callable[[int], Any]) -> Any:
    op = engine().start(self, request)
    with op:
        rc = await op.wait_done()
        if rc:
            raise op._fail(rc)
        return result(op.ptr)


async def _get_async(self: Session, target: Target, namespace: Optional[str] = None, *,
                     keys: Optional[dict] = None, **key_values: Any) -> Instance:
    """Session.get, without blocking the loop."""
    return await _single_async(self, Request.get(target, namespace, **{**(keys or {}), **key_values}),
                               self._result_instance)


async def _invoke_async(self: Session, target: Target, method: str,
                        namespace: Optional[str] = None, *, params: Optional[dict] = None,
                        **kw_params: Any) -> Instance:
    """Session.invoke, without blocking the loop."""
    req = Request.invoke(target, method, namespace, **{**(params or {}), **kw_params})
    return await _single_async(self, req, self._result_instance)


async def _identify_async(self: Session) -> Instance:
    return await _single_async(self, Request.identify(), self._result_instance)


async def _run_async(self: Session, command: str, *args: str,
                     stdin: Union[bytes, str, None] = None,
                     on_output: Optional[Callable[[str, bytes], Any]] = None,
                     timeout: Optional[float] = None) -> RunResult:
    """Session.run without blocking the loop; ``on_output(stream, data)`` is called on the
    loop's thread as output arrives."""
    req = Request.run(command, *args, stdin=stdin)
    req.timeout = timeout
    op = engine().start(self, req)
    out = {1: bytearray(), 2: bytearray()}
    names = {1: "stdout", 2: "stderr"}
    with op:
        chunk = _ffi.Chunk()
        while True:
            rc = lib.rms_op_next_chunk(op.ptr, byref(chunk))
            if rc == 0:
                data = ctypes.string_at(chunk.data, chunk.len) if chunk.len else b""
                if on_output is not None:
                    if on_output(names.get(chunk.stream, str(chunk.stream)), data):
                        op.cancel()
                else:
                    out.setdefault(chunk.stream, bytearray()).extend(data)
                continue
            if rc == _ffi.EAGAIN:
                await op._wait()
                continue
            if rc != _ffi.ITEROVER:
                raise op._fail(rc)
            break
        code = c_int()
        errors.check(lib.rms_op_exit_code(op.ptr, byref(code)), "exit code")
    return RunResult([command, *args], code.value, bytes(out[1]), bytes(out[2]))


async def _ps_async(self: Session, script: Union[str, Iterable] = "",
                    input: Optional[Iterable] = None, *, merge_errors: bool = False,
                    timeout: Optional[float] = None, **parameters: Any) -> PSResult:
    """Session.ps without blocking the loop."""
    req = Request.powershell(script, input, merge_errors, **parameters)
    req.timeout = timeout
    op = engine().start(self, req)
    result = PSResult()
    with op:
        stream, v = c_int(), c_void_p()
        while True:
            rc = lib.rms_op_next_object(op.ptr, byref(stream), byref(v))
            if rc == 0:
                try:
                    result._add(*ps_value(stream.value, v.value))
                finally:
                    lib.rms_value_free(v.value)
                continue
            if rc == _ffi.EAGAIN:
                await op._wait()
                continue
            if rc != _ffi.ITEROVER:
                err = op._fail(rc)
                rec = lib.rms_op_error_record(op.ptr)
                from .values import from_c
                err.error_record = from_c(rec) if rec else None
                err.result = result
                raise err
            return result


async def _close_async(self: Session) -> None:
    """Close without blocking the loop."""
    await engine().close_session(self)


Session.enumerate_async = _enumerate_async
Session.query_async = _query_async
Session.get_async = _get_async
Session.invoke_async = _invoke_async
Session.identify_async = _identify_async
Session.run_async = _run_async
Session.ps_async = _ps_async
Session.close_async = _close_async

