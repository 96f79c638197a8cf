"""Requests: what to do, independent of which session, target or fan-out runs it."""

from __future__ import annotations

from ctypes import byref, c_char_p, c_void_p
from typing import Any, Iterable, Optional, Union

from . import values
from ._ffi import enc, lib
from .errors import UsageError, check
from .values import Instance, Reference, _Owned

__all__ = ["Request"]

_KINDS = {"identify": 0, "get": 1, "enumerate": 2, "query": 3, "invoke": 4, "create": 5,
          "modify": 6, "delete": 7, "associators": 8, "references": 9, "get_class": 10,
          "run": 11, "powershell": 12}
ALIASES = {"enum": "enumerate", "getclass": "get_class", "ps": "powershell", "set": "modify"}
WQL = "http://schemas.microsoft.com/wbem/wsman/1/WQL"
CQL = "http://schemas.dmtf.org/wbem/cql/1/dsp0202.pdf"

Target = Union[str, Reference, Instance]


def as_ref(obj: Target, namespace: Optional[str] = None) -> Reference:
    """A reference from a class name, a Reference or an Instance."""
    if isinstance(obj, Reference):
        return obj
    if isinstance(obj, Instance):
        return obj.reference()
    if isinstance(obj, str):
        return Reference(obj, namespace)
    raise UsageError(f"expected a class name, Reference or Instance, not {type(obj).__name__}", -3)


class Request:
    """One operation's description (rms_request). Build one with the class methods
    (``Request.enumerate("Win32_Service")``) and run it with ``Session.start``,
    ``Target.compare`` or :func:`remsess.fanout`.
    """

    def __init__(self, kind: str) -> None:
        kind = ALIASES.get(kind, kind)
        if kind not in _KINDS:
            raise UsageError(f"unknown operation {kind!r} (one of {', '.join(_KINDS)})", -3)
        self.kind = kind
        self.namespace: Optional[str] = None
        self.class_name: Optional[str] = None
        self.ref: Optional[Reference] = None
        self.query: Optional[tuple[Optional[str], str]] = None
        self.method: Optional[str] = None
        self.input: Optional[Instance] = None
        self.association: Optional[tuple] = None
        self.command: Optional[tuple[str, list[str]]] = None
        self.stdin: Optional[bytes] = None
        self.script: Optional[str] = None
        self.commands: list[tuple[str, list[tuple[Optional[str], Any, bool]]]] = []
        self.merge_errors = False
        self.ps_input: list[Any] = []
        self.timeout: Optional[float] = None
        self._script_params: list[tuple[Optional[str], Any]] = []

    # ---- constructors ----------------------------------------------------------------

    @classmethod
    def identify(cls) -> "Request":
        return cls("identify")

    @classmethod
    def enumerate(cls, class_name: str, namespace: Optional[str] = None) -> "Request":
        r = cls("enumerate")
        r.class_name, r.namespace = class_name, namespace
        return r

    @classmethod
    def query_(cls, text: str, namespace: Optional[str] = None, dialect: str = "wql") -> "Request":
        r = cls("query")
        r.namespace = namespace
        r.query = ({"wql": WQL, "cql": CQL}.get(dialect.lower(), dialect), text)
        return r

    @classmethod
    def get(cls, target: Target, namespace: Optional[str] = None, **keys: Any) -> "Request":
        r = cls("get")
        ref = as_ref(target, namespace)
        if keys:
            ref = Reference(ref.class_name, namespace or ref.namespace, {**ref.selectors, **keys})
        r.ref, r.namespace = ref, namespace or ref.namespace
        return r

    @classmethod
    def invoke(cls, target: Target, method: str, namespace: Optional[str] = None,
               **params: Any) -> "Request":
        r = cls("invoke")
        ref = as_ref(target, namespace)
        r.namespace = namespace or ref.namespace
        r.class_name = ref.class_name
        if ref.selectors:
            r.ref = ref
        r.method = method
        if params:
            r.input = Instance(method, params, r.namespace)
        return r

    @classmethod
    def create(cls, class_name: str, namespace: Optional[str] = None, **props: Any) -> "Request":
        r = cls("create")
        r.class_name, r.namespace = class_name, namespace
        r.input = Instance(class_name, props, namespace)
        return r

    @classmethod
    def modify(cls, target: Target, namespace: Optional[str] = None, **props: Any) -> "Request":
        r = cls("modify")
        r.ref = as_ref(target, namespace)
        r.namespace = namespace or r.ref.namespace
        if not props and isinstance(target, Instance):
            props = {k: v for k, v in target.items() if not target.is_key(k)}
        r.input = Instance(r.ref.class_name, props, r.namespace)
        return r

    @classmethod
    def delete(cls, target: Target, namespace: Optional[str] = None) -> "Request":
        r = cls("delete")
        r.ref = as_ref(target, namespace)
        r.namespace = namespace or r.ref.namespace
        return r

    @classmethod
    def associators(cls, target: Target, association_class: Optional[str] = None,
                    result_class: Optional[str] = None, role: Optional[str] = None,
                    result_role: Optional[str] = None, namespace: Optional[str] = None,
                    references: bool = False) -> "Request":
        r = cls("references" if references else "associators")
        r.ref = as_ref(target, namespace)
        r.namespace = namespace or r.ref.namespace
        r.association = (association_class, result_class, role, result_role)
        return r

    @classmethod
    def get_class(cls, class_name: str, namespace: Optional[str] = None) -> "Request":
        r = cls("get_class")
        r.class_name, r.namespace = class_name, namespace
        return r

    @classmethod
    def run(cls, command: str, *args: str, stdin: Optional[bytes] = None) -> "Request":
        r = cls("run")
        r.command = (command, [str(a) for a in args])
        if stdin is not None:
            r.stdin = stdin.encode() if isinstance(stdin, str) else bytes(stdin)
        return r

    @classmethod
    def powershell(cls, script: Union[str, Iterable] = "", input: Optional[Iterable] = None,
                   merge_errors: bool = False, **parameters: Any) -> "Request":
        """A pipeline: a script (``"Get-Process | Select -First 3"``), or commands chained
        with '|' given as a list of ``"Command"`` or ``("Command", {"Param": value, ...})``
        (a parameter with value ``True`` and a name is a switch; a ``None`` name positional).
        Keyword ``parameters`` go to the script or the last command."""
        r = cls("powershell")
        if isinstance(script, str):
            r.script = script
            r._script_params = list(parameters.items())
        else:
            for item in script:
                name, params = (item, {}) if isinstance(item, str) else (item[0], dict(item[1]))
                r.commands.append((name, list(params.items())))
            if parameters:
                if not r.commands:
                    raise UsageError("parameters need a command", -3)
                r.commands[-1][1].extend(parameters.items())
        r.merge_errors = merge_errors
        r.ps_input = list(input) if input is not None else []
        return r

    # ---- to C ------------------------------------------------------------------------

    def to_c(self) -> _Owned:
        """A new rms_request (the caller owns it)."""
        out = c_void_p()
        check(lib.rms_request_new(byref(out), _KINDS[self.kind]), "request")
        req = _Owned(out.value, lib.rms_request_free)
        try:
            self._fill(req.ptr)
        except BaseException:
            req.close()
            raise
        return req

    def _fill(self, p: int) -> None:
        if self.namespace:
            check(lib.rms_request_set_namespace(p, enc(self.namespace)), "namespace")
        if self.class_name:
            check(lib.rms_request_set_class(p, enc(self.class_name)), "class")
        if self.ref is not None:
            with self.ref._to_c() as ref:
                check(lib.rms_request_set_ref(p, ref.ptr), "reference")
        if self.query:
            check(lib.rms_request_set_query(p, enc(self.query[0]), enc(self.query[1])), "query")
        if self.method:
            check(lib.rms_request_set_method(p, enc(self.method)), "method")
        if self.input is not None:
            with self.input._to_c() as inst:
                check(lib.rms_request_set_input(p, inst.ptr), "input")
        if self.association:
            check(lib.rms_request_set_association(p, *(enc(x) for x in self.association)))
        if self.command:
            cmd, args = self.command
            argv = (c_char_p * max(1, len(args)))(*[enc(a) for a in args])
            check(lib.rms_request_set_command(p, enc(cmd), len(args), argv), "command")
        if self.stdin is not None:
            check(lib.rms_request_set_stdin(p, self.stdin, len(self.stdin)), "stdin")
        if self.kind == "powershell":
            if self.commands:
                for name, params in self.commands:
                    check(lib.rms_request_add_command(p, enc(name)), "command")
                    self._add_params(p, params)
            else:
                check(lib.rms_request_set_script(p, enc(self.script or "")), "script")
                self._add_params(p, self._script_params)
            if self.merge_errors:
                check(lib.rms_request_merge_errors(p))
            for item in self.ps_input:
                with values.to_c(item, ps=True, context="input") as v:
                    check(lib.rms_request_add_input(p, v.ptr), "input")
        if self.timeout:
            check(lib.rms_request_set_timeout(p, max(1, int(self.timeout * 1000))))

    @staticmethod
    def _add_params(p: int, params) -> None:
        for name, value in params:
            if value is True and name is not None:
                check(lib.rms_request_add_parameter(p, enc(name), None), f"parameter {name}")
                continue
            with values.to_c(value, ps=True, context=f"parameter {name}") as v:
                check(lib.rms_request_add_parameter(p, enc(name), v.ptr), f"parameter {name}")


