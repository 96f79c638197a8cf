"""remsess: one remote-session interface over two backends, for Python.

A CIM session (``Session(host, "cim")``, like New-CimSession) runs WS-Management CIM
operations; a PSSession (``Session(host, "pssession")``, like New-PSSession) holds one WinRM
shell, PowerShell runspace pool or SSH connection and runs commands and pipelines there.
This package binds the C library libremsess with ctypes; see docs/python.md.
"""

from __future__ import annotations

from . import _ffi
from ._handle import live as _live_handles
from .aio import AsyncInstanceStream, Engine, engine, open_async
from .errors import (AuthenticationError, CancelledError, ConnectionError, Error, LimitExceeded,
                     NotImplementedByLibrary, OptionsError, ProtocolError, RemoteError,
                     SkippedInstanceWarning, StateError, TimeoutError, UnsupportedError,
                     UsageError)
from .options import UNLIMITED, Options
from .request import Request
from .session import (CimClass, InstanceStream, Operation, Pipeline, PSRecord, PSResult,
                      RunResult, Session, Stats)
from .target import Comparison, FanoutResult, Target, compare, fanout
from .values import (CimDatetime, Instance, PSObject, Reference, ScriptBlock, Typed, Uri,
                     Version, Xml, typed)

__version__ = "0.1.0"

__all__ = [
    "Session", "Options", "Request", "Operation", "InstanceStream", "Pipeline", "RunResult",
    "PSResult",
    "PSRecord", "CimClass", "Stats", "Target", "Comparison", "compare", "fanout",
    "FanoutResult", "open_async", "engine", "Engine", "AsyncInstanceStream", "Instance",
    "Reference", "PSObject", "CimDatetime", "Version", "Uri", "Xml", "ScriptBlock", "Typed",
    "typed", "Error", "UsageError", "OptionsError", "ConnectionError", "AuthenticationError",
    "TimeoutError", "LimitExceeded", "RemoteError", "ProtocolError", "CancelledError",
    "StateError", "UnsupportedError", "NotImplementedByLibrary", "SkippedInstanceWarning",
    "UNLIMITED", "library_version", "library_path", "features",
]


def library_version() -> str:
    """The C library's version ("0.1.0")."""
    return _ffi.lib.rms_version().decode()


def library_path() -> str:
    """Where the C library was loaded from."""
    return _ffi.LIBRARY_PATH


def features() -> list[str]:
    """What this build of the C library implements ("cim", "pssession-winrm", ...)."""
    out, arr, i = [], _ffi.lib.rms_features(), 0
    while arr[i]:
        out.append(arr[i].decode())
        i += 1
    return out
