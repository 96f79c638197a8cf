"""Session options: keyword arguments to the C struct rms_session_options (version 3)."""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass, field, fields
from typing import Callable, Optional

from . import _ffi
from ._ffi import enc, lib
from .errors import OptionsError, check

__all__ = ["Options"]

_BACKENDS = {"cim": 1, "pssession": 2, "auto": 3}
_TRANSPORTS = {"wsman": 0, "ssh": 1}
_PROTOCOLS = {"shell": 0, "powershell": 1}
_AUTHS = {"default": 0, "none": 1, "basic": 2, "ntlm": 3, "negotiate": 4, "kerberos": 5,
          "certificate": 6}
_ENCRYPTIONS = {"auto": 0, "always": 1, "never": 2}
_LOG_LEVELS = {"error": 0, "warning": 1, "info": 2, "debug": 3, "trace": 4}
_PY_LOG = {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO, 3: logging.DEBUG, 4: logging.DEBUG}
UNLIMITED = 2**64 - 1

log = logging.getLogger("remsess")


def _choice(table: dict, value, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return table[str(value).lower()]
    except KeyError:
        raise OptionsError(f"{what} must be one of {', '.join(table)}, not {value!r}", -4,
                           field=what) from None


def _ms(seconds: Optional[float], what: str) -> int:
    if seconds is None:
        return 0
    if seconds <= 0:
        raise OptionsError(f"{what} must be positive seconds", -4, field=what)
    return max(1, int(round(seconds * 1000)))


@dataclass
class Options:
    """Everything a session (or a target's backend) is created with.

    ``host_or_url`` is a host ("server1", "192.0.2.10", "[::1]") or a full URL
    ("https://server1:5986/wsman"). Times are in seconds. ``None`` (or False) is the
    library's default for every option, which is always the secure choice.
    """

    host_or_url: str
    transport: str = "wsman"
    user: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    auth: Optional[str] = None
    https: Optional[bool] = None
    port: Optional[int] = None
    path: Optional[str] = None
    insecure: bool = False
    cacert: Optional[str] = None
    capath: Optional[str] = None
    client_cert: Optional[str] = None
    client_key: Optional[str] = None
    allow_unencrypted: bool = False
    proxy: Optional[str] = None
    connect_timeout: Optional[float] = None
    # Longest a PSSession's creation may take in all (options version 4; 0/None: 180 s).
    open_timeout: Optional[float] = None
    operation_timeout: Optional[float] = None
    max_envelope_size: Optional[int] = None
    locale: Optional[str] = None
    data_locale: Optional[str] = None
    # CIM
    namespace: Optional[str] = None
    test_connection: bool = False
    max_elements: Optional[int] = None
    no_schema: bool = False
    # PSSession
    protocol: str = "shell"
    max_received_per_command: Optional[int] = None
    max_received_object_size: Optional[int] = None
    shell_uri: Optional[str] = None
    working_directory: Optional[str] = None
    no_profile: bool = False
    codepage: Optional[int] = None
    idle_timeout: Optional[float] = None
    min_runspaces: Optional[int] = None
    max_runspaces: Optional[int] = None
    # SSH
    identity_file: Optional[str] = None
    known_hosts: Optional[str] = None
    accept_new_host_key: bool = False
    use_agent: bool = False
    ssh_subsystem: Optional[str] = None
    # Kerberos, NTLM, Negotiate
    encryption: Optional[str] = None
    spn_service: Optional[str] = None
    spn_host: Optional[str] = None
    delegate: bool = False
    keytab: Optional[str] = None
    no_channel_binding: bool = False
    # Logging: a callable(level: int (logging.*), message: str), or None for the "remsess"
    # logger; log_level is the most detailed level passed on.
    log: Optional[Callable[[int, str], None]] = field(default=None, repr=False)
    log_level: str = "warning"

    @classmethod
    def names(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    def replace(self, **changes) -> "Options":
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        kw.update(changes)
        return Options(**kw)

    def to_c(self) -> "COptions":
        """The C struct, with the callback and strings it points at kept alive."""
        o = _ffi.SessionOptions()
        check(lib.rms_session_options_init(ctypes.byref(o), _ffi.OPTIONS_VERSION))
        if "://" in self.host_or_url:
            o.url = enc(self.host_or_url)
        else:
            o.host = enc(self.host_or_url)
        if self.https is not None:
            o.scheme = 2 if self.https else 1
        o.port = self.port or 0
        o.path = enc(self.path)
        o.transport = _choice(_TRANSPORTS, self.transport, "transport")
        o.user = enc(self.user)
        o.password = enc(self.password)
        o.auth = _choice(_AUTHS, self.auth or "default", "auth")
        o.client_cert = enc(self.client_cert)
        o.client_key = enc(self.client_key)
        o.ca_file = enc(self.cacert)
        o.ca_path = enc(self.capath)
        o.tls_insecure = bool(self.insecure)
        o.allow_unencrypted = bool(self.allow_unencrypted)
        o.proxy = enc(self.proxy)
        o.connect_timeout_ms = _ms(self.connect_timeout, "connect_timeout")
        o.operation_timeout_ms = _ms(self.operation_timeout, "operation_timeout")
        o.max_envelope_size = self.max_envelope_size or 0
        o.locale = enc(self.locale)
        o.data_locale = enc(self.data_locale)
        o.cim.cim_namespace = enc(self.namespace)
        o.cim.test_connection = bool(self.test_connection)
        o.cim.max_elements = self.max_elements or 0
        o.cim.no_schema = bool(self.no_schema)
        o.pssession.max_received_per_command = self.max_received_per_command or 0
        o.pssession.max_received_object_size = self.max_received_object_size or 0
        o.pssession.shell_uri = enc(self.shell_uri)
        o.pssession.working_directory = enc(self.working_directory)
        o.pssession.no_profile = bool(self.no_profile)
        o.pssession.codepage = self.codepage or 0
        o.pssession.idle_timeout_ms = _ms(self.idle_timeout, "idle_timeout")
        o.ssh.identity_file = enc(self.identity_file)
        o.ssh.known_hosts = enc(self.known_hosts)
        o.ssh.accept_new_host_key = bool(self.accept_new_host_key)
        o.ssh.use_agent = bool(self.use_agent)
        o.pssession_v2.protocol = _choice(_PROTOCOLS, self.protocol, "protocol")
        o.pssession_v2.min_runspaces = self.min_runspaces or 0
        o.pssession_v2.max_runspaces = self.max_runspaces or 0
        o.pssession_v2.ssh_subsystem = enc(self.ssh_subsystem)
        o.auth_v3.encryption = _choice(_ENCRYPTIONS, self.encryption or "auto", "encryption")
        o.auth_v3.spn_service = enc(self.spn_service)
        o.auth_v3.spn_host = enc(self.spn_host)
        o.auth_v3.delegate = bool(self.delegate)
        o.auth_v3.keytab = enc(self.keytab)
        o.auth_v3.no_channel_binding = bool(self.no_channel_binding)
        if self.open_timeout is not None:
            if _ffi.OPTIONS_VERSION < 4:
                raise OptionsError("open_timeout needs a libremsess with session options "
                                   "version 4", -4, field="open_timeout")
            o.timeouts_v4.open_timeout_ms = _ms(self.open_timeout, "open_timeout")
        o.log_level = _choice(_LOG_LEVELS, self.log_level, "log_level")
        return COptions(o, self.log)


class COptions:
    """A filled rms_session_options and the log trampoline it points at.

    The trampoline must outlive every session made from these options (the C session keeps
    the function pointer), so sessions hold on to their COptions.
    """

    def __init__(self, struct: _ffi.SessionOptions, log_fn) -> None:
        self.struct = struct
        self.callback_errors: list[BaseException] = []
        sink = log_fn

        def trampoline(level: int, message: bytes, _userdata) -> None:
            # Runs inside a C call: an exception must not unwind through C.
            try:
                text = message.decode("utf-8", "replace") if message else ""
                if sink is None:
                    log.log(_PY_LOG.get(level, logging.DEBUG), "%s", text)
                else:
                    sink(_PY_LOG.get(level, logging.DEBUG), text)
            except BaseException as e:  # noqa: BLE001 - re-raised after the C call
                self.callback_errors.append(e)

        self._trampoline = _ffi.LOG_FN(trampoline)
        struct.log = self._trampoline

    def raise_callback_error(self) -> None:
        if self.callback_errors:
            e = self.callback_errors.pop(0)
            self.callback_errors.clear()
            raise e

    def validate(self, backend: str) -> None:
        check(lib.rms_session_options_validate(ctypes.byref(self.struct),
                                               _choice(_BACKENDS, backend, "backend")))
