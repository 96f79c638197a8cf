"""Sessions and the blocking operations on them."""

from __future__ import annotations

import ctypes
import threading
import warnings
from ctypes import byref, c_char_p, c_int, c_uint, c_void_p
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Iterable, Iterator, Optional, Union

from . import _ffi, errors
from ._ffi import enc, lib, s
from ._handle import Handle
from .errors import Error, SkippedInstanceWarning, check
from .options import Options, _BACKENDS
from .request import Request, Target
from .values import Instance, Reference, from_c

__all__ = ["Session", "Operation", "InstanceStream", "Pipeline", "RunResult", "PSResult",
           "PSRecord", "CimClass", "Stats"]

_STATES = {0: "Opened", 1: "Broken", 2: "Closed", 3: "Opening", 4: "Disconnected"}
_STREAMS = {1: "stdout", 2: "stderr"}
PS_STREAMS = ("output", "error", "warning", "verbose", "debug", "information", "progress")


@dataclass(frozen=True)
class Stats:
    """Traffic since the session was created (rms_stats)."""
    connections_opened: int
    connections_open: int
    requests: int
    round_trips: int
    bytes_sent: int
    bytes_received: int
    largest_request: int
    shells_opened: int
    shells_open: int
    operations: int

    @classmethod
    def _from_c(cls, st: _ffi.Stats) -> "Stats":
        return cls(*(getattr(st, f) for f, _ in _ffi.Stats._fields_[1:]))


@dataclass
class RunResult:
    """What a command wrote and how it ended (like subprocess.CompletedProcess)."""
    command: list[str]
    exit_code: int
    stdout: bytes = b""
    stderr: bytes = b""

    @property
    def returncode(self) -> int:
        return self.exit_code


@dataclass
class PSRecord:
    """A record of one of PowerShell's streams other than output: ``message`` is the text
    (an error's or warning's message, an information record's data, a progress record's
    activity and status), ``value`` the deserialized record."""
    stream: str
    message: Optional[str]
    value: Any

    def __str__(self) -> str:
        return self.message if self.message is not None else str(self.value)


@dataclass
class PSResult:
    """A pipeline's output objects and its other streams, in the order they came."""
    output: list = field(default_factory=list)
    error: list[PSRecord] = field(default_factory=list)
    warning: list[PSRecord] = field(default_factory=list)
    verbose: list[PSRecord] = field(default_factory=list)
    debug: list[PSRecord] = field(default_factory=list)
    information: list[PSRecord] = field(default_factory=list)
    progress: list[PSRecord] = field(default_factory=list)
    records: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def had_errors(self) -> bool:
        """True when the pipeline wrote non-terminating errors (as $? is False)."""
        return bool(self.error)

    def _add(self, stream: str, value: Any) -> None:
        getattr(self, stream).append(value)
        self.records.append((stream, value))


@dataclass(frozen=True)
class CimProperty:
    name: str
    type: str
    key: bool


@dataclass(frozen=True)
class CimClass:
    """A class schema (Get-CimClass)."""
    name: str
    superclass: Optional[str]
    properties: tuple[CimProperty, ...]
    methods: tuple[str, ...]

    @property
    def key_names(self) -> list[str]:
        return [p.name for p in self.properties if p.key]

    @classmethod
    def _from_c(cls, p: int) -> "CimClass":
        props = []
        name, t, flags = c_char_p(), c_int(), c_uint()
        for i in range(lib.rms_cim_class_property_count(p)):
            check(lib.rms_cim_class_property_at(p, i, byref(name), byref(t), byref(flags)))
            props.append(CimProperty(s(name.value), s(lib.rms_type_name(t.value)) or "?",
                                     bool(flags.value & 1)))
        return cls(s(lib.rms_cim_class_name(p)), s(lib.rms_cim_class_superclass(p)), tuple(props),
                   tuple(s(lib.rms_cim_class_method_at(p, i))
                         for i in range(lib.rms_cim_class_method_count(p))))


def ps_value(stream: int, vptr: int) -> tuple[str, Any]:
    """(stream name, Python value) of one pipeline object; takes nothing."""
    name = PS_STREAMS[stream] if 0 <= stream < len(PS_STREAMS) else str(stream)
    if stream == 0:
        return name, from_c(vptr)
    return name, PSRecord(name, s(lib.rms_ps_record_message(vptr)), from_c(vptr))


class _Callbacks:
    """Exceptions raised inside C callbacks: caught there, re-raised after the C call."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    def guard(self, fn: Callable, failure: int) -> Callable:
        def wrapper(*args):
            try:
                return fn(*args)
            except BaseException as e:  # noqa: BLE001 - never unwind through C
                self.errors.append(e)
                return failure
        return wrapper

    def reraise(self) -> None:
        if self.errors:
            e = self.errors[0]
            self.errors.clear()
            raise e


def make_output_fn(cb: _Callbacks, on_output: Callable[[str, bytes], Any]):
    def output(stream: int, data: int, length: int, _ud) -> int:
        # A truthy return from on_output cancels the command, as the C callback does.
        return 1 if on_output(_STREAMS.get(stream, str(stream)),
                              ctypes.string_at(data, length) if length else b"") else 0
    return _ffi.OUTPUT_FN(cb.guard(output, 1))


def make_stdin_fn(cb: _Callbacks, source: Union[IO[bytes], Iterable[bytes]]):
    """A C stdin callback reading a file-like object (.read) or an iterable of bytes."""
    pending = bytearray()
    it = None if hasattr(source, "read") else iter(source)

    def stdin(buf: int, size: int, _ud) -> int:
        nonlocal it
        while not pending:
            chunk = source.read(size) if it is None else next(it, b"")
            if isinstance(chunk, str):
                chunk = chunk.encode()
            if not chunk:
                return 0
            pending.extend(chunk)
        n = min(size, len(pending))
        ctypes.memmove(buf, bytes(pending[:n]), n)
        del pending[:n]
        return n
    return _ffi.STDIN_FN(cb.guard(stdin, -1))


class Operation:
    """A started operation (rms_op). Free it with close() or a ``with`` block; an unfinished
    enumeration is Released, a running command terminated."""

    def __init__(self, session: "Session", ptr: int, request: Request, keep: tuple = ()) -> None:
        self.session = session
        self.request = request
        # The op holds the session (and any callbacks) until it is freed: C requires an op
        # to be freed before its session.
        self._h = Handle(self, "op", ptr, lib.rms_op_free, session, *keep)
        self._ptr = ptr

    @property
    def ptr(self) -> int:
        if self._h.ptr is None:
            raise errors.StateError("this operation is closed", -20)
        return self._h.ptr

    def close(self) -> None:
        """Free the operation (idempotent)."""
        with self.session._lock:
            self._h.free()

    def cancel(self) -> None:
        """Stop the operation; safe from another thread (rms_op_cancel)."""
        p = self._h.ptr
        if p:
            lib.rms_op_cancel(p)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def backend(self) -> str:
        return s(lib.rms_backend_name(lib.rms_op_backend(self.ptr)))

    @property
    def reason(self) -> Optional[str]:
        return s(lib.rms_op_reason(self.ptr))

    @property
    def delivered(self) -> int:
        return lib.rms_op_delivered(self.ptr)

    @property
    def skipped(self) -> int:
        return lib.rms_op_skipped(self.ptr)

    @property
    def error(self) -> Optional[Error]:
        e = lib.rms_op_error(self.ptr)
        return errors.from_record(e, -28) if e else None

    def _fail(self, rc: int) -> Error:
        e = lib.rms_op_error(self.ptr)
        return errors.from_record(e, rc) if e else errors.last(rc)


class InstanceStream(Operation, Iterator[Instance]):
    """The instances of an enumeration, query, associators or references call, one at a time.

    Memory stays bounded by one page however large the result: each instance is converted
    and its C copy freed before the next is read. An instance that does not decode is
    skipped (the C library's RMS_E_SKIPPED): ``on_skip(error)`` is called with it when given,
    otherwise a :class:`SkippedInstanceWarning` is issued; ``skipped`` counts them. The
    operation is freed when the iterator is exhausted, fails or is closed.
    """

    def __init__(self, session: "Session", ptr: int, request: Request,
                 on_skip: Optional[Callable[[Error], Any]] = None) -> None:
        super().__init__(session, ptr, request)
        self.on_skip = on_skip
        self._skipped = 0
        self._delivered = 0
        self._done = False

    def __iter__(self) -> "InstanceStream":
        return self

    def __next__(self) -> Instance:
        while True:
            if self._done:
                raise StopIteration
            out = c_void_p()
            with self.session._lock:
                rc = lib.rms_op_next(self.ptr, byref(out))
                if rc == 0:
                    try:
                        inst = Instance._from_c(out.value)
                    finally:
                        lib.rms_instance_free(out.value)
                    self._delivered += 1
                    return inst
                if rc == -29:  # RMS_E_SKIPPED: one instance's failure
                    err = errors.last(rc)
                    self._skipped = lib.rms_op_skipped(self.ptr)
                else:
                    err = None if rc == _ffi.ITEROVER else self._fail(rc)
                    self._skipped = lib.rms_op_skipped(self.ptr)
                    self._done = True
                    self._h.free()
            self.session._after_call()
            if err is None:
                raise StopIteration
            if rc != -29:
                raise err
            if self.on_skip is not None:
                self.on_skip(err)
            else:
                warnings.warn(SkippedInstanceWarning(str(err)), stacklevel=2)

    @property
    def skipped(self) -> int:
        return self._skipped if self._h.ptr is None else lib.rms_op_skipped(self._h.ptr)

    @property
    def delivered(self) -> int:
        return self._delivered


class Pipeline(Operation):
    """A PowerShell pipeline running on a PSSession (:meth:`Session.ps_start`,
    :meth:`Session.receive`). Iterate it for ``(stream, value)`` as objects arrive (output
    objects on "output", PSRecord on the other streams); :meth:`result` collects the rest.
    ``command_id`` names it for :meth:`Session.receive` after a disconnect. A terminating
    error raises RemoteError with ``error_record``. Closing it stops it if it still runs."""

    @property
    def command_id(self) -> Optional[str]:
        return s(lib.rms_op_command_id(self.ptr))

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        session = self.session
        stream, v = c_int(), c_void_p()
        while True:
            with session._lock:
                rc = lib.rms_op_next_object(self.ptr, byref(stream), byref(v))
                if rc == 0:
                    try:
                        item = ps_value(stream.value, v.value)
                    finally:
                        lib.rms_value_free(v.value)
                elif rc != _ffi.ITEROVER:
                    err = self._fail(rc)
                    rec = lib.rms_op_error_record(self.ptr)
                    err.error_record = from_c(rec) if rec else None
            session._after_call()
            if rc == _ffi.ITEROVER:
                return
            if rc:
                raise err
            yield item

    def result(self) -> "PSResult":
        """Read the pipeline to its end: its output objects and the other streams'
        records (what was read before by iterating is not in it)."""
        result = PSResult()
        try:
            for stream, value in self:
                result._add(stream, value)
        except Error as e:
            e.result = result
            raise
        return result


class Session:
    """One computer through one backend, like New-CimSession (``backend="cim"``: opens
    nothing until an operation) or New-PSSession (``backend="pssession"``: connects and
    opens the remote shell or runspace pool right here, raising if that fails).

    Keyword options are those of :class:`remsess.Options` (user, password, auth, https,
    port, insecure, cacert, allow_unencrypted, protocol, operation_timeout, namespace, ...).
    Use it as a context manager: the session is closed on exit; its C object is freed exactly
    once, when the Session is collected. One thread at a time uses a session (calls are
    serialised by a lock; different sessions run in parallel, the GIL released in C).
    """

    def __init__(self, host_or_url: Union[str, Options], backend: str = "cim", *,
                 name: Optional[str] = None, **options: Any) -> None:
        opts = _options(host_or_url, options)
        b = _BACKENDS_checked(backend)
        self.options = opts
        ptr, copts = _make(opts, lambda out, c: lib.rms_session_new(out, b, c), "")
        self._init(ptr, copts, name)

    def _init(self, ptr: int, copts, name: Optional[str]) -> None:
        self._copts = copts
        self._lock = threading.RLock()
        self._h = Handle(self, "session", ptr, lib.rms_session_free, copts)
        if name is not None:
            self.name = name

    @classmethod
    def _adopt(cls, ptr: int, options: Options, copts) -> "Session":
        self = cls.__new__(cls)
        self.options = options
        self._init(ptr, copts, None)
        return self

    @property
    def ptr(self) -> int:
        if self._h.ptr is None:
            raise errors.StateError("this session has been freed", -20)
        return self._h.ptr

    def _after_call(self) -> None:
        self._copts.raise_callback_error()

    # ---- lifetime --------------------------------------------------------------------

    def close(self) -> None:
        """Close: a PSSession deletes its remote shell and disconnects; a CIM session only
        changes state. Closing twice is fine; operations afterwards raise StateError."""
        with self._lock:
            p = self._h.ptr
            if p is None:
                return
            rc = lib.rms_session_close(p)
            err = errors.last(rc) if rc else None
        self._after_call()
        if err:
            raise err

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        # A session disconnected on purpose keeps its shell on the server for a later
        # Session.connect: it is only freed (close() would delete the shell).
        if self._h.ptr is not None and self.state == "Disconnected":
            with self._lock:
                self._h.free()
            return
        self.close()

    def __repr__(self) -> str:
        try:
            return (f"<remsess.Session {self.name} {self.backend} {self.computer_name} "
                    f"{self.state}>")
        except Error:
            return "<remsess.Session (freed)>"

    # ---- properties (Get-PSSession / Get-CimSession) ---------------------------------

    @property
    def id(self) -> int:
        return lib.rms_session_id(self.ptr)

    @property
    def name(self) -> str:
        return s(lib.rms_session_name(self.ptr))

    @name.setter
    def name(self, value: str) -> None:
        check(lib.rms_session_set_name(self.ptr, enc(value)), "name")

    @property
    def instance_id(self) -> str:
        return s(lib.rms_session_instance_id(self.ptr))

    @property
    def state(self) -> str:
        """"Opened", "Broken", "Closed" or "Opening"."""
        return _STATES.get(lib.rms_session_state_get(self.ptr), "?")

    @property
    def backend(self) -> str:
        return s(lib.rms_backend_name(lib.rms_session_backend(self.ptr)))

    @property
    def computer_name(self) -> str:
        return s(lib.rms_session_computer_name(self.ptr))

    @property
    def protocol(self) -> str:
        """"WSMAN" or "SSH" (the transport, as Get-PSSession's Transport)."""
        return s(lib.rms_session_protocol(self.ptr))

    @property
    def ps_protocol(self) -> str:
        """What a PSSession speaks: "shell" or "powershell"."""
        return s(lib.rms_ps_protocol_name(lib.rms_session_ps_protocol(self.ptr)))

    @property
    def endpoint(self) -> str:
        return s(lib.rms_session_endpoint(self.ptr))

    @property
    def broken_reason(self) -> Optional[Error]:
        e = lib.rms_session_broken_reason(self.ptr)
        return errors.from_record(e, -20) if e else None

    @property
    def stats(self) -> Stats:
        st = _ffi.Stats(version=_ffi.STATS_VERSION)
        check(lib.rms_session_stats(self.ptr, byref(st)))
        return Stats._from_c(st)

    def check(self) -> Instance:
        """Is the PSSession's remote shell alive? (rms_session_check)

        Asks the server for its record of the shell over the session's own connection
        (a WS-Man Get of the shell, as pypsrp's ``is_alive``) and returns it as an
        ``Instance`` of class ``Shell`` (ShellId, State, Owner, ProcessId, IdleTimeOut, ...).
        Raises ``RemoteError`` (code ``RMS_E_GONE``) when the server no longer has the shell
        (the session is Broken then), ``Error`` with ``RMS_E_STATE`` when it holds the shell
        as Disconnected (the record is on the exception as ``info``), ``Error`` with
        ``RMS_E_UNSUPPORTED`` for a CIM session, and the exchange's error otherwise.
        """
        out = c_void_p()
        with self._lock:
            rc = lib.rms_session_check(self.ptr, byref(out))
            err = errors.last(rc, "check") if rc else None
            info = None
            if out.value:
                try:
                    info = Instance._from_c(out.value)
                finally:
                    lib.rms_instance_free(out.value)
        self._after_call()
        if err:
            err.info = info
            raise err
        return info

    def shells(self) -> list[Instance]:
        """The user's shells on this session's computer (Get-PSSession -ComputerName;
        rms_session_shells): each shell's record, as :meth:`check` gives it (ShellId,
        ResourceUri, State "Connected" or "Disconnected", Owner, ClientIP, ...). An
        Enumerate on a connection of its own; a CIM session opens nothing else."""
        return self._instances("shells", lib.rms_session_shells)

    def _instances(self, what: str, fn: Callable) -> list[Instance]:
        """A C call that hands back an array of instances (rms_free'd), as Instances."""
        arr = c_void_p()
        n = ctypes.c_size_t()
        with self._lock:
            rc = fn(self.ptr, byref(arr), byref(n))
            err = errors.last(rc, what) if rc else None
            out: list[Instance] = []
            if not rc and arr.value:
                items = ctypes.cast(arr.value, ctypes.POINTER(c_void_p))
                try:
                    for i in range(n.value):
                        out.append(Instance._from_c(items[i]))
                finally:
                    for i in range(n.value):
                        lib.rms_instance_free(items[i])
                    lib.rms_free(arr.value)
        self._after_call()
        if err:
            raise err
        return out

    # ---- running requests ------------------------------------------------------------

    def _start(self, request: Request, keep: tuple = (), setup=None) -> int:
        """rms_op_start under the lock; returns the op pointer (the caller wraps it)."""
        with request.to_c() as req:
            if setup:
                setup(req.ptr)
            out = c_void_p()
            with self._lock:
                rc = lib.rms_op_start(byref(out), self.ptr, req.ptr)
                err = errors.last(rc, f"{request.kind}") if rc else None
        self._after_call()
        if err:
            raise err
        return out.value

    def start(self, request: Request) -> Operation:
        """Start any request; streaming kinds return an InstanceStream."""
        ptr = self._start(request)
        if request.kind in ("enumerate", "query", "associators", "references"):
            return InstanceStream(self, ptr, request)
        return Operation(self, ptr, request)

    def _single(self, request: Request, result: Callable[[int], Any]) -> Any:
        op = Operation(self, self._start(request), request)
        with op:
            with self._lock:
                return result(op.ptr)

    def _result_instance(self, op: int) -> Optional[Instance]:
        p = lib.rms_op_result(op)
        return Instance._from_c(p) if p else None

    def _stream(self, request: Request, on_skip) -> InstanceStream:
        return InstanceStream(self, self._start(request), request, on_skip)

    # ---- CIM operations --------------------------------------------------------------

    def identify(self, *, timeout: Optional[float] = None) -> Instance:
        """WS-Identify: protocol version, vendor, product (Test-WSMan)."""
        return self._single(_timed(Request.identify(), timeout), self._result_instance)

    def enumerate(self, class_name: str, namespace: Optional[str] = None, *,
                  on_skip: Optional[Callable[[Error], Any]] = None,
                  timeout: Optional[float] = None) -> InstanceStream:
        """All instances of a class, streamed (Get-CimInstance -ClassName). ``timeout``
        (seconds) limits the whole operation."""
        return self._stream(_timed(Request.enumerate(class_name, namespace), timeout), on_skip)

    def query(self, query: str, namespace: Optional[str] = None, *, dialect: str = "wql",
              on_skip: Optional[Callable[[Error], Any]] = None,
              timeout: Optional[float] = None) -> InstanceStream:
        """Instances a WQL (or CQL) query selects, streamed (Get-CimInstance -Query)."""
        return self._stream(_timed(Request.query_(query, namespace, dialect), timeout), on_skip)

    def get(self, target: Target, namespace: Optional[str] = None, *,
            keys: Optional[dict] = None, timeout: Optional[float] = None,
            **key_values: Any) -> Instance:
        """One instance by its keys: ``get("Win32_Service", Name="WinRM")``, or by a
        Reference or Instance. ``keys={...}`` for key names that clash with arguments."""
        req = _timed(Request.get(target, namespace, **{**(keys or {}), **key_values}), timeout)
        return self._single(req, self._result_instance)

    def invoke(self, target: Target, method: str, namespace: Optional[str] = None, *,
               params: Optional[dict] = None, timeout: Optional[float] = None,
               **kw_params: Any) -> Instance:
        """Call a method (Invoke-CimMethod): static on a class name, or on an instance
        (Reference or Instance). Returns the out-parameters and ReturnValue
        (``params={...}`` for parameter names that clash with arguments)."""
        req = _timed(Request.invoke(target, method, namespace,
                                    **{**(params or {}), **kw_params}), timeout)
        return self._single(req, self._result_instance)

    def create(self, class_name: str, namespace: Optional[str] = None, *,
               properties: Optional[dict] = None, **props: Any) -> Reference:
        """Create an instance (New-CimInstance); returns its reference."""
        req = Request.create(class_name, namespace, **{**(properties or {}), **props})

        def created(op: int) -> Reference:
            p = lib.rms_op_created(op)
            if not p:
                raise errors.ProtocolError("the server created the instance but returned no "
                                           "reference", -15)
            return Reference._from_c(p)
        return self._single(req, created)

    def modify(self, target: Target, namespace: Optional[str] = None, *,
               properties: Optional[dict] = None, **props: Any) -> Optional[Instance]:
        """Set properties (Set-CimInstance). Given an Instance and no properties, its
        non-key properties are sent. Returns the instance as the server returned it, if it
        did."""
        req = Request.modify(target, namespace, **{**(properties or {}), **props})
        return self._single(req, self._result_instance)

    def delete(self, target: Target, namespace: Optional[str] = None) -> None:
        """Delete an instance (Remove-CimInstance)."""
        self._single(Request.delete(target, namespace), lambda op: None)

    def associators(self, target: Target, association_class: Optional[str] = None,
                    result_class: Optional[str] = None, role: Optional[str] = None,
                    result_role: Optional[str] = None, namespace: Optional[str] = None, *,
                    on_skip=None) -> InstanceStream:
        """Instances associated with one (Get-CimAssociatedInstance), streamed."""
        return self._stream(Request.associators(target, association_class, result_class, role,
                                                result_role, namespace), on_skip)

    def references(self, target: Target, association_class: Optional[str] = None,
                   role: Optional[str] = None, namespace: Optional[str] = None, *,
                   on_skip=None) -> InstanceStream:
        """Association instances that refer to one, streamed."""
        return self._stream(Request.associators(target, association_class, None, role, None,
                                                namespace, references=True), on_skip)

    def get_class(self, class_name: str, namespace: Optional[str] = None) -> CimClass:
        """A class schema (Get-CimClass)."""
        return self._single(Request.get_class(class_name, namespace),
                            lambda op: CimClass._from_c(lib.rms_op_class(op)))

    # ---- commands --------------------------------------------------------------------

    def run(self, command: str, *args: str,
            stdin: Union[bytes, str, IO[bytes], Iterable[bytes], None] = None,
            on_output: Optional[Callable[[str, bytes], Any]] = None,
            timeout: Optional[float] = None) -> RunResult:
        """Run a command on the remote computer (a PSSession with protocol "shell").

        ``stdin``: bytes (or str, UTF-8), a binary file, or an iterable of bytes, streamed.
        ``on_output(stream, data)`` (stream "stdout"/"stderr") receives output as it arrives
        instead of collecting it; return a true value from it to cancel the command. A
        non-zero exit code is not an exception: check ``exit_code``.
        """
        req = Request.run(command, *args,
                          stdin=stdin if isinstance(stdin, (bytes, bytearray, str)) else None)
        req.timeout = timeout
        cb = _Callbacks()
        keep: list = []

        def setup(p: int) -> None:
            if stdin is not None and not isinstance(stdin, (bytes, bytearray, str)):
                fn = make_stdin_fn(cb, stdin)
                keep.append(fn)
                check(lib.rms_request_set_stdin_fn(p, fn, None))
            if on_output is not None:
                fn = make_output_fn(cb, on_output)
                keep.append(fn)
                check(lib.rms_request_set_output_fn(p, fn, None))

        try:
            ptr = self._start(req, setup=setup)
        except Error:
            cb.reraise()
            raise
        op = Operation(self, ptr, req, tuple(keep))
        out = {1: bytearray(), 2: bytearray()}
        with op:
            with self._lock:
                if on_output is not None:
                    rc = lib.rms_op_wait(op.ptr)
                else:
                    chunk = _ffi.Chunk()
                    while (rc := lib.rms_op_next_chunk(op.ptr, byref(chunk))) == 0:
                        if chunk.len:
                            out.setdefault(chunk.stream, bytearray()).extend(
                                ctypes.string_at(chunk.data, chunk.len))
                err = op._fail(rc) if rc not in (0, _ffi.ITEROVER) else None
                code = c_int()
                if err is None:
                    rc2 = lib.rms_op_exit_code(op.ptr, byref(code))
                    if rc2:
                        err = errors.last(rc2, "exit code")
            cb.reraise()
            self._after_call()
            if err:
                raise err
        return RunResult([command, *args], code.value, bytes(out[1]), bytes(out[2]))

    # ---- PowerShell ------------------------------------------------------------------

    def ps_iter(self, script: Union[str, Iterable] = "", input: Optional[Iterable] = None, *,
                merge_errors: bool = False, timeout: Optional[float] = None,
                **parameters: Any) -> Iterator[tuple[str, Any]]:
        """Run a pipeline and yield ``(stream, value)`` as objects arrive: output objects on
        "output", PSRecord on the other streams. Raises RemoteError (with
        ``error_record``) when the pipeline fails with a terminating error."""
        with self.ps_start(script, input, merge_errors=merge_errors, timeout=timeout,
                           **parameters) as pipeline:
            yield from pipeline

    def ps_start(self, script: Union[str, Iterable] = "", input: Optional[Iterable] = None, *,
                 merge_errors: bool = False, timeout: Optional[float] = None,
                 **parameters: Any) -> Pipeline:
        """Start a pipeline and return it unread (:class:`Pipeline`): iterate it, or take
        its ``command_id`` and :meth:`disconnect` while it runs on."""
        req = Request.powershell(script, input, merge_errors, **parameters)
        req.timeout = timeout
        return Pipeline(self, self._start(req), req)

    # ---- disconnect and reconnect (PowerShell remoting over WinRM) --------------------

    @property
    def shell_id(self) -> Optional[str]:
        """The remote shell's id as the server knows it (for :meth:`connect`); None for a
        CIM session or a PSSession over SSH."""
        return s(lib.rms_session_shell_id(self.ptr))

    def _call(self, what: str, fn: Callable[[int], int]) -> None:
        with self._lock:
            rc = fn(self.ptr)
            err = errors.last(rc, what) if rc else None
        self._after_call()
        if err:
            raise err

    def disconnect(self, idle_timeout: Optional[float] = None) -> None:
        """Disconnect-PSSession: leave the shell and its pipelines running on the server
        without a client (``idle_timeout``: how long the server keeps it so, seconds;
        None: the shell's own). The state becomes "Disconnected"; leaving a ``with`` block
        then keeps the shell for a later :meth:`connect` (``close()`` would delete it).
        A PowerShell-remoting PSSession over WinRM only (UnsupportedError otherwise)."""
        from .options import _ms
        ms = _ms(idle_timeout, "idle_timeout")
        self._call("disconnect", lambda p: lib.rms_session_disconnect(p, ms))

    def reconnect(self) -> None:
        """Take the disconnected shell back in this process: Opened again, pipelines
        started before read on (what they wrote meanwhile first)."""
        self._call("reconnect", lib.rms_session_reconnect)

    @classmethod
    def connect(cls, host_or_url: Union[str, Options], shell_id: str, *,
                name: Optional[str] = None, **options: Any) -> "Session":
        """Connect-PSSession: a new PSSession holding a disconnected shell by its id (from
        this or another process; :meth:`shells` lists them). Options as the constructor's;
        ``protocol`` is "powershell"."""
        opts = _options(host_or_url, options)
        if opts.protocol != "powershell":
            opts = opts.replace(protocol="powershell")
        ptr, copts = _make(opts, lambda out, c: lib.rms_session_connect(out, c, enc(shell_id)),
                           "connect")
        self = cls._adopt(ptr, opts, copts)
        if name is not None:
            self.name = name
        return self

    def receive(self, command_id: str) -> Pipeline:
        """Receive-PSSession: the pipeline started before a disconnect, by its command id
        (:attr:`Pipeline.command_id`, or :meth:`shell_commands`), read from where the
        server kept its output."""
        out = c_void_p()
        with self._lock:
            rc = lib.rms_session_receive(byref(out), self.ptr, enc(command_id))
            err = errors.last(rc, "receive") if rc else None
        self._after_call()
        if err:
            raise err
        return Pipeline(self, out.value, None)

    def shell_commands(self, shell_id: str) -> list[Instance]:
        """The commands (pipelines) of one of the user's shells, as the server lists them:
        ``Command`` instances with CommandId, CommandLine, CommandState."""
        return self._instances("shell_commands", lambda p, arr, n: lib.rms_session_shell_commands(
            p, enc(shell_id), arr, n))

    def ps(self, script: Union[str, Iterable] = "", input: Optional[Iterable] = None, *,
           merge_errors: bool = False, timeout: Optional[float] = None,
           **parameters: Any) -> PSResult:
        """Run PowerShell (a PSSession with protocol "powershell"), like Invoke-Command.

        ``script`` is PowerShell text, or a list of commands piped together
        (``["Get-Service", ("Where-Object", {"Property": "Status", "EQ": True, "Value":
        "Running"})]``); keyword ``parameters`` go to the script or the last command;
        ``input`` objects are the pipeline's $input. Returns the output objects and the other
        streams' records. A terminating error raises RemoteError whose ``error_record`` is the
        ErrorRecord and ``result`` what had come before it.
        """
        result = PSResult()
        try:
            for stream, value in self.ps_iter(script, input, merge_errors=merge_errors,
                                              timeout=timeout, **parameters):
                result._add(stream, value)
        except Error as e:
            e.result = result
            raise
        return result


def _options(host_or_url: Union[str, Options], options: dict) -> Options:
    """A Session's options: from a host or URL and keywords, or an Options with keywords
    replacing its fields."""
    if isinstance(host_or_url, Options):
        return host_or_url.replace(**options) if options else host_or_url
    return Options(host_or_url, **options)


def _make(opts: Options, call: Callable[[Any, Any], int], what: str) -> tuple[int, Any]:
    """Make a C session with call(out, c_options): its pointer and the C options that must
    live as long as it. Raises the library's error, or what the log callback raised while
    the session was made (the session is then not handed out, so it is freed here: a
    PSSession's shell is deleted)."""
    copts = opts.to_c()
    out = c_void_p()
    rc = call(byref(out), byref(copts.struct))
    err = errors.last(rc, what) if rc else None
    try:
        copts.raise_callback_error()
    except BaseException:
        if out.value:
            lib.rms_session_free(out.value)
        raise
    if err:
        raise err
    return out.value, copts


def _timed(request: Request, timeout: Optional[float]) -> Request:
    request.timeout = timeout
    return request


def _BACKENDS_checked(backend: str) -> int:
    b = _BACKENDS.get(str(backend).lower())
    if b not in (1, 2):
        raise errors.UsageError(f"backend must be 'cim' or 'pssession', not {backend!r}", -3,
                                field="backend")
    return b


