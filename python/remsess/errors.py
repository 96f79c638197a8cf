"""remsess's exceptions: one class per kind of failure, all carrying the library's error record.

The C library reports failures through one structured record (error.h): a code, a message for
people, the phase and backend, HTTP, WS-Man fault, WMI/CIM numbers, limits. `Error` copies
every field of that record when it is raised, so it stays valid however many calls follow.
"""

from __future__ import annotations

import builtins
from typing import Optional

from . import _ffi
from ._ffi import lib, s

__all__ = [
    "Error", "UsageError", "OptionsError", "ConnectionError", "AuthenticationError",
    "TimeoutError", "LimitExceeded", "RemoteError", "ProtocolError", "CancelledError",
    "StateError", "UnsupportedError", "NotImplementedByLibrary", "SkippedInstanceWarning",
]

_PHASES = ("none", "options", "resolve", "connect", "tls", "authenticate", "send", "receive",
           "decode", "remote", "limit")


class Error(Exception):
    """A failure reported by libremsess.

    Attributes mirror the C error record (``rms_error_*`` getters); fields that do not apply
    are ``None`` (strings) or ``0`` (numbers).
    """

    code: int
    code_name: str
    message: str
    phase: str
    backend: str
    field: Optional[str]
    http_status: int
    os_errno: int
    fault_code: Optional[str]
    fault_subcode: Optional[str]
    fault_reason: Optional[str]
    fault_detail: Optional[str]
    wsman_code: int
    wsman_message: Optional[str]
    machine: Optional[str]
    wmi_code: int
    cim_status: int
    provider: Optional[str]
    limit_name: Optional[str]
    limit_value: int
    limit_actual: int
    ssh_code: int
    items_delivered: int

    def __init__(self, message: str, code: int = -28, **fields) -> None:
        super().__init__(message)
        self.code = code
        self.code_name = s(lib.rms_error_code_name(code)) or str(code)
        self.message = message
        self.phase = fields.pop("phase", "none")
        self.backend = fields.pop("backend", "none")
        for name in ("field", "fault_code", "fault_subcode", "fault_reason", "fault_detail",
                     "wsman_message", "machine", "provider", "limit_name"):
            setattr(self, name, fields.pop(name, None))
        for name in ("http_status", "os_errno", "wsman_code", "wmi_code", "cim_status",
                     "limit_value", "limit_actual", "ssh_code", "items_delivered"):
            setattr(self, name, fields.pop(name, 0))
        if fields:
            raise builtins.TypeError(f"unknown error fields: {sorted(fields)}")

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code_name}, {self.message!r})"

    def __reduce__(self):
        # Keep every field across pickling (multiprocessing, concurrent.futures).
        return (_rebuild, (type(self), self.message, self.code, self._fields()))

    def _fields(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("code", "code_name", "message")}


def _rebuild(cls, message, code, fields):
    e = cls.__new__(cls)
    Error.__init__(e, message, code)
    e.__dict__.update(fields)
    return e


class UsageError(Error, builtins.ValueError):
    """A bad argument (RMS_E_INVALID_ARG) or a value of the wrong type or range
    (RMS_E_TYPE, RMS_E_RANGE, RMS_E_PARSE)."""


class OptionsError(UsageError):
    """Session options the library refused (RMS_E_OPTIONS); ``field`` names the option."""


class ConnectionError(Error, builtins.ConnectionError):
    """Could not reach or stay connected to the computer (RESOLVE, CONNECT, TLS,
    CONNECTION_LOST, SSH, HOST_KEY)."""


class AuthenticationError(Error, builtins.PermissionError):
    """The login was refused (RMS_E_AUTH)."""


class TimeoutError(Error, builtins.TimeoutError):
    """A connect, operation or fan-out deadline passed (RMS_E_TIMEOUT)."""


class LimitExceeded(Error):
    """A size limit or a server quota was reached (RMS_E_LIMIT, RMS_E_ENVELOPE_TOO_LARGE,
    RMS_E_QUOTA); ``limit_name``, ``limit_value`` and ``limit_actual`` say which and by how
    much."""


class RemoteError(Error):
    """The remote side answered with an error (RMS_E_FAULT: a WS-Man fault, a failed
    pipeline) or the remote shell is gone (RMS_E_GONE)."""


class ProtocolError(Error):
    """An unexpected HTTP response or a malformed protocol message (RMS_E_HTTP,
    RMS_E_PROTOCOL)."""


class CancelledError(Error):
    """The operation was cancelled (RMS_E_CANCELLED)."""


class StateError(Error):
    """The session is not open (closed, broken, still opening) or the object is in the wrong
    state for the call (RMS_E_STATE)."""


class UnsupportedError(Error):
    """The backend cannot run this operation (RMS_E_UNSUPPORTED); the message names the one
    that can."""


class NotImplementedByLibrary(Error, builtins.NotImplementedError):
    """This build of the library does not implement it (RMS_E_NOT_IMPLEMENTED)."""


class SkippedInstanceWarning(UserWarning):
    """An instance of an enumeration did not decode and was skipped (RMS_E_SKIPPED)."""


_CLASSES: dict[int, type[Error]] = {
    -3: UsageError, -21: UsageError, -22: UsageError, -23: UsageError,
    -4: OptionsError,
    -6: UnsupportedError,
    -7: NotImplementedByLibrary,
    -8: ConnectionError, -9: ConnectionError, -10: ConnectionError, -13: ConnectionError,
    -25: ConnectionError, -26: ConnectionError,
    -11: AuthenticationError,
    -12: TimeoutError,
    -14: ProtocolError, -15: ProtocolError,
    -16: RemoteError, -31: RemoteError,
    -17: LimitExceeded, -18: LimitExceeded, -30: LimitExceeded,
    -19: CancelledError,
    -20: StateError,
}


def error_class(code: int) -> type[Error]:
    """The exception class for an RMS_E_* code."""
    return _CLASSES.get(code, Error)


def from_record(ptr: Optional[int], code: int, context: str = "") -> Error:
    """An exception built from a C rms_error (borrowed pointer; everything is copied).

    ``code`` is used when there is no record; otherwise the record's own code wins.
    """
    if ptr:
        code = lib.rms_error_code(ptr) or code
        phase = lib.rms_error_phase(ptr)
        fields = dict(
            phase=_PHASES[phase] if 0 <= phase < len(_PHASES) else str(phase),
            backend=s(lib.rms_backend_name(lib.rms_error_backend(ptr))) or "none",
            field=s(lib.rms_error_field(ptr)),
            http_status=lib.rms_error_http_status(ptr),
            os_errno=lib.rms_error_os_errno(ptr),
            fault_code=s(lib.rms_error_fault_code(ptr)),
            fault_subcode=s(lib.rms_error_fault_subcode(ptr)),
            fault_reason=s(lib.rms_error_fault_reason(ptr)),
            fault_detail=s(lib.rms_error_fault_detail(ptr)),
            wsman_code=lib.rms_error_wsman_code(ptr),
            wsman_message=s(lib.rms_error_wsman_message(ptr)),
            machine=s(lib.rms_error_machine(ptr)),
            wmi_code=lib.rms_error_wmi_code(ptr),
            cim_status=lib.rms_error_cim_status(ptr),
            provider=s(lib.rms_error_provider(ptr)),
            limit_name=s(lib.rms_error_limit_name(ptr)),
            limit_value=lib.rms_error_limit_value(ptr),
            limit_actual=lib.rms_error_limit_actual(ptr),
            ssh_code=lib.rms_error_ssh_code(ptr),
            items_delivered=lib.rms_error_items_delivered(ptr),
        )
        message = s(lib.rms_error_message(ptr)) or ""
    else:
        fields = {}
        message = s(lib.rms_error_code_message(code)) or f"error {code}"
    if context:
        message = f"{context}: {message}"
    return error_class(code)(message, code, **fields)


def last(code: int, context: str = "") -> Error:
    """The exception for a call that just returned ``code``: read rms_error_last() now, on
    this thread, before any other remsess call can replace it.

    A record whose code differs from ``code`` belongs to an older failure (a call that fails
    without recording one, which the C API should not do): the generic message is used then.
    """
    ptr = lib.rms_error_last()
    if ptr and lib.rms_error_code(ptr) != code:
        ptr = None
    return from_record(ptr, code, context)


def check(rc: int, context: str = "") -> int:
    """Raise the last error if ``rc`` is a failure code; return ``rc`` otherwise."""
    if rc < 0 and rc not in (_ffi.ITEROVER, _ffi.EAGAIN):
        raise last(rc, context)
    return rc


