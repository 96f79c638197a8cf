"""The value model: CIM and PowerShell values as Python objects, both ways.

C to Python (what operations return):

=====================  ===========================================================
CIM / PowerShell type  Python
=====================  ===========================================================
boolean                bool
uint8 ... sint64       int
real32, real64         float (NaN and infinities kept)
char16                 str of length 1
string                 str
datetime (timestamp)   datetime.datetime, aware (tzinfo from the UTC offset); naive
                       when the value has no zone; fraction truncated to microseconds;
                       CimDatetime when it has wildcards or does not fit datetime
datetime (interval)    datetime.timedelta; CimDatetime when it has wildcards
reference              Reference
embedded instance      Instance
arrays (``T[]``)       list (uint8[] too: a list of int, as CIM has no byte string)
null of any type       None
decimal                decimal.Decimal (exact)
guid                   uuid.UUID
timespan               datetime.timedelta (ticks of 100 ns truncated to microseconds)
version, uri, xml,     Version, Uri, Xml, ScriptBlock: str subclasses, so their type
scriptblock            survives a round trip
bytes                  bytes
object                 PSObject ($null is None)
=====================  ===========================================================

Python to C (method parameters, created and modified properties, PowerShell parameters and
input) is the reverse, with these rules: ``bool`` before ``int``; an ``int`` becomes sint64
(uint64 above 2**63-1) for CIM, and Int32, Int64 or UInt64 (the first that fits, as
PowerShell types a literal) for PowerShell; a ``float`` real64; ``bytes`` a uint8[] for CIM
and a byte[] (``BA``) for PowerShell; a ``list`` a CIM array of the elements' common type, or
a PowerShell ``Object[]``; a ``dict`` a PowerShell hashtable (CIM has no such type: use
Instance). WS-Management carries values as text, so the server types CIM values by its own
schema; where the exact CIM type matters, say it with ``typed("uint8", 5)``.
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import decimal
import math
import uuid
from collections.abc import Iterator, Mapping
from ctypes import byref, c_bool, c_char_p, c_double, c_float, c_int64, c_size_t, c_uint, c_uint16, c_uint64, c_void_p
from typing import Any, Optional, Union

from . import _ffi
from ._ffi import enc, lib, s
from .errors import UsageError, check

__all__ = [
    "Reference", "Instance", "PSObject", "CimDatetime", "Version", "Uri", "Xml", "ScriptBlock",
    "Typed", "typed", "CIM_TYPES",
]

# rms_type numbers
BOOLEAN, UINT8, SINT8, UINT16, SINT16, UINT32, SINT32, UINT64, SINT64 = range(9)
REAL32, REAL64, CHAR16, DATETIME, STRING, REFERENCE, INSTANCE = range(9, 16)
ARRAY = 0x10
DECIMAL, GUID, TIMESPAN, VERSION, URI, XML, SCRIPTBLOCK, BYTES, OBJECT = range(0x20, 0x29)

PROP_KEY = 1
PS_PROP_ADAPTED, PS_PROP_EXTENDED = 2, 4
TZ_OFFSET, TZ_UTC_Z, TZ_NONE = 0, 1, 2

CIM_TYPES = ("boolean", "uint8", "sint8", "uint16", "sint16", "uint32", "sint32", "uint64",
             "sint64", "real32", "real64", "char16", "datetime", "string", "ref", "instance")

_SIGNED = {SINT8, SINT16, SINT32, SINT64}
_UNSIGNED = {UINT8, UINT16, UINT32, UINT64}
_INT_RANGE = {UINT8: (0, 2**8 - 1), SINT8: (-2**7, 2**7 - 1), UINT16: (0, 2**16 - 1),
              SINT16: (-2**15, 2**15 - 1), UINT32: (0, 2**32 - 1), SINT32: (-2**31, 2**31 - 1),
              UINT64: (0, 2**64 - 1), SINT64: (-2**63, 2**63 - 1)}
_TICKS_PER_US = 10
_COLLECTIONS = {0: None, 1: "list", 2: "enumerable", 3: "stack", 4: "queue", 5: "dictionary"}
_COLLECTION_NUMBERS = {v: k for k, v in _COLLECTIONS.items() if v}


# ---- small value types -----------------------------------------------------------------

class Version(str):
    """A PowerShell System.Version, as its text ("7.6.0")."""


class Uri(str):
    """A PowerShell System.Uri, as its text."""


class Xml(str):
    """A PowerShell XmlDocument, as its XML text."""


class ScriptBlock(str):
    """A PowerShell ScriptBlock, as its text."""


class CimDatetime:
    """A CIM datetime that no datetime/timedelta holds: one with wildcards ("unknown"
    fields), a year 0, a leap second. ``text`` is its DMTF form (DSP0004)."""

    __slots__ = ("text", "is_interval")

    def __init__(self, text: str) -> None:
        dt = _ffi.Datetime()
        check(lib.rms_datetime_parse_dmtf(byref(dt), enc(text)), "CimDatetime")
        self.text = text
        self.is_interval = bool(dt.is_interval)

    def __repr__(self) -> str:
        return f"CimDatetime({self.text!r})"

    def __str__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CimDatetime):
            return NotImplemented
        a, b = _ffi.Datetime(), _ffi.Datetime()
        lib.rms_datetime_parse_dmtf(byref(a), enc(self.text))
        lib.rms_datetime_parse_dmtf(byref(b), enc(other.text))
        return bool(lib.rms_datetime_equal(byref(a), byref(b)))

    def __hash__(self) -> int:
        return hash(self.text)


class Typed:
    """A Python value with the CIM or PowerShell type it is to have (see :func:`typed`)."""

    __slots__ = ("type", "value")

    def __init__(self, type_name: str, value: Any) -> None:
        t = ctypes.c_int()
        if lib.rms_type_parse(byref(t), enc(type_name)) != 0:
            raise UsageError(f"unknown type name {type_name!r} (CIM names such as 'uint8', "
                             f"'string[]', or PowerShell ones such as 'decimal')", -3)
        self.type = t.value
        self.value = value

    def __repr__(self) -> str:
        return f"typed({s(lib.rms_type_name(self.type))!r}, {self.value!r})"


def typed(type_name: str, value: Any) -> Typed:
    """Give ``value`` an explicit type: ``typed("uint8", 5)``, ``typed("uint16[]", [1, 2])``,
    ``typed("datetime", None)`` (a typed null), ``typed("decimal", "1.50")``."""
    return Typed(type_name, value)


# ---- references ------------------------------------------------------------------------

def _ns_key(ns: Optional[str]) -> Optional[str]:
    return ns.replace("\\", "/").lower() if ns else None


class Reference:
    """A reference to one CIM instance: class, namespace and key selectors (str values or
    nested references). With no selectors it names the class (static method calls).

    Equality follows rms_ref_equal: class and selector names case-insensitive, values exact,
    an unknown namespace matching any; address and resource URI are ignored.
    """

    __slots__ = ("class_name", "namespace", "selectors", "address", "resource_uri")

    def __init__(self, class_name: str, namespace: Optional[str] = None,
                 selectors: Optional[Mapping[str, Union[str, "Reference", Any]]] = None,
                 address: Optional[str] = None, resource_uri: Optional[str] = None,
                 **keys: Any) -> None:
        self.class_name = class_name
        self.namespace = namespace
        sel: dict[str, Union[str, Reference]] = {}
        for name, value in list((selectors or {}).items()) + list(keys.items()):
            sel[name] = value if isinstance(value, Reference) else _selector_text(value)
        self.selectors = sel
        self.address = address
        self.resource_uri = resource_uri

    def __repr__(self) -> str:
        sel = ",".join(f"{k}={v!r}" for k, v in self.selectors.items())
        ns = f"{self.namespace}:" if self.namespace else ""
        return f"<Reference {ns}{self.class_name}" + (f".{sel}" if sel else "") + ">"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Reference):
            return NotImplemented
        if self.class_name.lower() != other.class_name.lower():
            return False
        if self.namespace and other.namespace and _ns_key(self.namespace) != _ns_key(other.namespace):
            return False
        a = {k.lower(): v for k, v in self.selectors.items()}
        b = {k.lower(): v for k, v in other.selectors.items()}
        return a == b

    def __hash__(self) -> int:
        return hash((self.class_name.lower(), frozenset(
            (k.lower(), v) for k, v in self.selectors.items())))

    @classmethod
    def _from_c(cls, ptr: int) -> "Reference":
        sel: dict[str, Union[str, Reference]] = {}
        for i in range(lib.rms_ref_selector_count(ptr)):
            name, value, vref = c_char_p(), c_char_p(), c_void_p()
            check(lib.rms_ref_selector_at(ptr, i, byref(name), byref(value), byref(vref)))
            sel[s(name.value)] = Reference._from_c(vref.value) if vref.value else s(value.value)
        return cls(s(lib.rms_ref_class_name(ptr)) or "", s(lib.rms_ref_namespace(ptr)), sel,
                   s(lib.rms_ref_address(ptr)), s(lib.rms_ref_resource_uri(ptr)))

    def _to_c(self) -> "_Owned":
        out = c_void_p()
        check(lib.rms_ref_new(byref(out), enc(self.namespace), enc(self.class_name)), "reference")
        ref = _Owned(out.value, lib.rms_ref_free)
        for name, value in self.selectors.items():
            if isinstance(value, Reference):
                with value._to_c() as nested:
                    check(lib.rms_ref_add_selector_ref(ref.ptr, enc(name), nested.ptr), "selector")
            else:
                check(lib.rms_ref_add_selector(ref.ptr, enc(name), enc(value)), "selector")
        if self.address:
            check(lib.rms_ref_set_address(ref.ptr, enc(self.address)))
        if self.resource_uri:
            check(lib.rms_ref_set_resource_uri(ref.ptr, enc(self.resource_uri)))
        return ref

    def __str__(self) -> str:
        """The WMI object-path form, as rms_value_to_text writes it."""
        with self._to_c() as ref, _value(lib.rms_value_new_reference, ref.ptr) as v:
            return _text(v.ptr)


def _selector_text(value: Any) -> str:
    """Selectors travel as text; Python values are written as the CIM text of their type."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (float, _dt.datetime, _dt.timedelta, uuid.UUID, decimal.Decimal)):
        with to_c(value) as v:
            return _text(v.ptr)
    raise UsageError(f"a key selector must be a str, int, bool or a Reference, "
                     f"not {type(value).__name__}", -3)


# ---- instances -------------------------------------------------------------------------

class Instance(Mapping):
    """A CIM instance: a read-only mapping of property name (case-insensitive, as CIM names
    are; iteration keeps the original spelling and order) to Python value.

    ``class_name``, ``namespace``, ``ref`` (its own Reference when the server sent one, else
    None) and ``keys`` (names of the key properties) describe it. Build one for
    create/modify/invoke as ``Instance("X_Widget", {"Id": "w9", "Size": 5}, keys={"Id"})``.
    """

    __slots__ = ("class_name", "namespace", "ref", "keys_", "_props")

    def __init__(self, class_name: str, properties: Optional[Mapping[str, Any]] = None,
                 namespace: Optional[str] = None, ref: Optional[Reference] = None,
                 keys: Any = ()) -> None:
        self.class_name = class_name
        self.namespace = namespace
        self.ref = ref
        self._props: dict[str, tuple[str, Any]] = {}
        for name, value in (properties or {}).items():
            self._props[name.lower()] = (name, value)
        self.keys_ = frozenset(k.lower() for k in keys)

    @property
    def key_names(self) -> list[str]:
        """Names of the key properties, in property order."""
        return [n for k, (n, _) in self._props.items() if k in self.keys_]

    def is_key(self, name: str) -> bool:
        """Whether ``name`` is a key property."""
        return name.lower() in self.keys_

    def __getitem__(self, name: str) -> Any:
        return self._props[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (n for n, _ in self._props.values())

    def __len__(self) -> int:
        return len(self._props)

    def __getattr__(self, name: str) -> Any:
        # Properties as attributes too (svc.State), as PowerShell shows them.
        try:
            return self._props[name.lower()][1]
        except KeyError:
            raise AttributeError(f"{self.class_name} has no property {name!r}") from None

    def __repr__(self) -> str:
        keys = ", ".join(f"{n}={self[n]!r}" for n in self.key_names)
        return f"<Instance {self.class_name}" + (f" {keys}" if keys else "") + f" ({len(self)} properties)>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Instance):
            return (self.class_name.lower() == other.class_name.lower()
                    and {k: v for k, (_, v) in self._props.items()}
                    == {k: v for k, (_, v) in other._props.items()})
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def reference(self) -> Reference:
        """This instance's reference: its own when it has one, else one made from its key
        properties (which must be known)."""
        if self.ref is not None:
            return self.ref
        if not self.keys_:
            raise UsageError(f"this {self.class_name} instance has no reference and no key "
                             f"properties to make one", -3)
        return Reference(self.class_name, self.namespace, {n: self[n] for n in self.key_names})

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of the properties (nested instances stay Instance)."""
        return dict(self.items())

    @classmethod
    def _from_c(cls, ptr: int) -> "Instance":
        props: dict[str, Any] = {}
        keys = []
        name, value, flags = c_char_p(), c_void_p(), c_uint()
        for i in range(lib.rms_instance_count(ptr)):
            check(lib.rms_instance_at(ptr, i, byref(name), byref(value), byref(flags)))
            pname = s(name.value)
            props[pname] = from_c(value.value)
            if flags.value & PROP_KEY:
                keys.append(pname)
        ref = lib.rms_instance_ref(ptr)
        return cls(s(lib.rms_instance_class_name(ptr)) or "", props,
                   s(lib.rms_instance_namespace(ptr)), Reference._from_c(ref) if ref else None,
                   keys)

    def _to_c(self, ps: bool = False) -> "_Owned":
        return instance_to_c(self.class_name, self.namespace, self.items(), self.keys_,
                             self.ref, ps)


def instance_to_c(class_name: Optional[str], namespace: Optional[str], props, keys=(),
                  ref: Optional[Reference] = None, ps: bool = False) -> "_Owned":
    """A new C instance from (name, value) pairs; the caller owns the result."""
    out = c_void_p()
    check(lib.rms_instance_new(byref(out), enc(namespace), enc(class_name)), "instance")
    inst = _Owned(out.value, lib.rms_instance_free)
    try:
        for pname, pvalue in props:
            v = to_c(pvalue, ps=ps, context=f"property {pname}")
            flags = PROP_KEY if pname.lower() in keys else 0
            rc = lib.rms_instance_set(inst.ptr, enc(pname), v.ptr, flags)
            if rc == 0:
                v.release()
            else:
                v.close()
                check(rc, f"property {pname}")
        if ref is not None:
            with ref._to_c() as r:
                check(lib.rms_instance_set_ref(inst.ptr, r.ptr))
    except BaseException:
        inst.close()
        raise
    return inst


# ---- PowerShell objects ----------------------------------------------------------------

class PSObject(Mapping):
    """A deserialized PowerShell object: a read-only mapping of its properties (adapted and
    extended, names case-insensitive, in order), plus

    - ``type_names``: most derived first ("Deserialized.System.Diagnostics.Process", ...)
    - ``to_string``: its ToString() as the remote computer computed it, or None
    - ``base``: the value it wraps (an enum's number, a string with notes), or None
    - ``collection``: None, "list", "enumerable", "stack", "queue" or "dictionary"
    - ``elements``: a list kind's items; ``entries``: a dictionary's (key, value) pairs
    - ``extended``: names of the extended (note) properties

    :meth:`to_python` gives the plainest Python value: a list, a dict, the base value, or a
    dict of the properties.
    """

    __slots__ = ("type_names", "to_string", "base", "collection", "elements", "entries",
                 "_props", "extended")

    def __init__(self, properties: Optional[Mapping[str, Any]] = None, *,
                 type_names: Optional[list[str]] = None, to_string: Optional[str] = None,
                 base: Any = None, collection: Optional[str] = None,
                 elements: Optional[list] = None, entries: Optional[list[tuple]] = None,
                 extended: Any = ()) -> None:
        if collection is not None and collection not in _COLLECTION_NUMBERS:
            raise UsageError(f"collection must be one of {sorted(_COLLECTION_NUMBERS)}", -3)
        self.type_names = list(type_names or [])
        self.to_string = to_string
        self.base = base
        self.collection = collection
        self.elements = list(elements or [])
        self.entries = list(entries or [])
        self._props = {k.lower(): (k, v) for k, v in (properties or {}).items()}
        self.extended = frozenset(e.lower() for e in extended)

    def __getitem__(self, name: str) -> Any:
        return self._props[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (n for n, _ in self._props.values())

    def __len__(self) -> int:
        return len(self._props)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._props[name.lower()][1]
        except KeyError:
            raise AttributeError(f"PSObject has no property {name!r}") from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PSObject):
            return NotImplemented
        return (self.type_names == other.type_names and self.to_string == other.to_string
                and self.base == other.base and self.collection == other.collection
                and self.elements == other.elements and self.entries == other.entries
                and {k: v for k, (_, v) in self._props.items()}
                == {k: v for k, (_, v) in other._props.items()})

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        if self.to_string is not None:
            return self.to_string
        return repr(self)

    def __repr__(self) -> str:
        t = self.type_names[0] if self.type_names else "PSObject"
        if self.collection == "dictionary":
            return f"<PSObject {t} {dict(self.entries)!r}>"
        if self.collection:
            return f"<PSObject {t} {self.elements!r}>"
        if self._props:
            return f"<PSObject {t} {self.to_dict()!r}>"
        return f"<PSObject {t} {self.to_string if self.to_string is not None else self.base!r}>"

    def to_dict(self) -> dict[str, Any]:
        """The properties as a plain dict."""
        return dict(self.items())

    def to_python(self) -> Any:
        """The plainest Python form: a list kind's items as a list, a dictionary as a dict
        (keys made plain too), a wrapped value, the properties as a dict, or the ToString."""
        def plain(v: Any) -> Any:
            return v.to_python() if isinstance(v, PSObject) else v
        if self.collection == "dictionary":
            return {plain(k): plain(v) for k, v in self.entries}
        if self.collection:
            return [plain(v) for v in self.elements]
        # A wrapped value with only notes added (Get-Date's DateTime and DisplayHint) is
        # that value; an object with properties of its own is a dict of them.
        only_notes = all(k in self.extended for k in self._props)
        if self.base is not None and only_notes:
            return plain(self.base)
        if self._props:
            return {k: plain(v) for k, v in self.items()}
        return self.to_string

    @classmethod
    def _from_c(cls, ptr: int) -> "PSObject":
        names = [s(lib.rms_psobject_type_name_at(ptr, i))
                 for i in range(lib.rms_psobject_type_name_count(ptr))]
        base = lib.rms_psobject_base(ptr)
        kind = _COLLECTIONS.get(lib.rms_psobject_collection(ptr))
        elements, entries = [], []
        k, v = c_void_p(), c_void_p()
        for i in range(lib.rms_psobject_length(ptr)):
            check(lib.rms_psobject_item_at(ptr, i, byref(k), byref(v)))
            if kind == "dictionary":
                entries.append((from_c(k.value), from_c(v.value)))
            else:
                elements.append(from_c(v.value))
        props, extended = {}, []
        name, flags = c_char_p(), c_uint()
        for i in range(lib.rms_psobject_count(ptr)):
            check(lib.rms_psobject_at(ptr, i, byref(name), byref(v), byref(flags)))
            pname = s(name.value)
            props[pname] = from_c(v.value)
            if flags.value & PS_PROP_EXTENDED:
                extended.append(pname)
        return cls(props, type_names=names, to_string=s(lib.rms_psobject_to_string(ptr)),
                   base=from_c(base) if base else None, collection=kind, elements=elements,
                   entries=entries, extended=extended)

    def _to_c(self) -> "_Owned":
        out = c_void_p()
        check(lib.rms_psobject_new(byref(out)), "PSObject")
        obj = _Owned(out.value, lib.rms_psobject_free)
        try:
            for t in self.type_names:
                check(lib.rms_psobject_add_type_name(obj.ptr, enc(t)))
            if self.to_string is not None:
                check(lib.rms_psobject_set_to_string(obj.ptr, enc(self.to_string)))
            if self.base is not None:
                _give(lambda p: lib.rms_psobject_set_base(obj.ptr, p), to_c(self.base, ps=True))
            if self.collection:
                check(lib.rms_psobject_set_collection(obj.ptr, _COLLECTION_NUMBERS[self.collection]))
            if self.collection == "dictionary":
                for key, value in self.entries:
                    kv, vv = to_c(key, ps=True), to_c(value, ps=True)
                    rc = lib.rms_psobject_append_entry(obj.ptr, kv.ptr, vv.ptr)
                    if rc == 0:
                        kv.release()
                        vv.release()
                    else:
                        kv.close()
                        vv.close()
                        check(rc, "dictionary entry")
            elif self.collection:
                for item in self.elements:
                    _give(lambda p: lib.rms_psobject_append(obj.ptr, p), to_c(item, ps=True))
            for pname, pvalue in self.items():
                flags = PS_PROP_EXTENDED if pname.lower() in self.extended else PS_PROP_ADAPTED
                _give(lambda p: lib.rms_psobject_set(obj.ptr, enc(pname), p, flags),
                      to_c(pvalue, ps=True))
        except BaseException:
            obj.close()
            raise
        return obj


# ---- ownership helpers -----------------------------------------------------------------

class _Owned:
    """One C object this process owns, freed exactly once (close, or release to C)."""

    __slots__ = ("ptr", "_free")

    def __init__(self, ptr: Optional[int], free) -> None:
        self.ptr = ptr
        self._free = free

    def release(self) -> Optional[int]:
        """Ownership passed to the library: never free it here."""
        ptr, self.ptr = self.ptr, None
        return ptr

    def close(self) -> None:
        ptr, self.ptr = self.ptr, None
        if ptr:
            self._free(ptr)

    def __enter__(self) -> "_Owned":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _give(call, value: _Owned) -> None:
    """Hand a value to a C call that takes it on success (and leaves it ours on failure)."""
    rc = call(value.ptr)
    if rc == 0:
        value.release()
    else:
        value.close()
        check(rc)


def _value(ctor, *args) -> _Owned:
    out = c_void_p()
    check(ctor(byref(out), *args))
    return _Owned(out.value, lib.rms_value_free)


def _text(vptr: int) -> str:
    out = c_void_p()
    check(lib.rms_value_to_text(byref(out), vptr))
    return _ffi.take_string(out)


# ---- C to Python -----------------------------------------------------------------------

def _datetime_to_py(dt: _ffi.Datetime) -> Union[_dt.datetime, _dt.timedelta, CimDatetime]:
    if dt.wildcards:
        return _cim_datetime(dt)
    us = dt.nanoseconds // 1000
    if dt.is_interval:
        return _dt.timedelta(days=dt.days, hours=dt.hour, minutes=dt.minute,
                             seconds=dt.second, microseconds=us)
    try:
        if dt.tz_form == TZ_NONE:
            tz = None
        elif dt.tz_form == TZ_UTC_Z or dt.utc_offset == 0:
            tz = _dt.timezone.utc
        else:
            tz = _dt.timezone(_dt.timedelta(minutes=dt.utc_offset))
        return _dt.datetime(dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, us, tz)
    except ValueError:  # year 0, a leap second
        return _cim_datetime(dt)


def _cim_datetime(dt: _ffi.Datetime) -> CimDatetime:
    buf = ctypes.create_string_buffer(32)
    check(lib.rms_datetime_format_dmtf(byref(dt), buf, len(buf)))
    return CimDatetime(buf.value.decode())


def _scalar(t: int, v: int) -> Any:
    if t in _SIGNED:
        out = c_int64()
        check(lib.rms_value_as_int64(v, byref(out)))
        return out.value
    if t in _UNSIGNED:
        out = c_uint64()
        check(lib.rms_value_as_uint64(v, byref(out)))
        return out.value
    if t == BOOLEAN:
        b = c_bool()
        check(lib.rms_value_get_boolean(v, byref(b)))
        return b.value
    if t == REAL32:
        f = c_float()
        check(lib.rms_value_get_real32(v, byref(f)))
        return f.value
    if t == REAL64:
        d = c_double()
        check(lib.rms_value_get_real64(v, byref(d)))
        return d.value
    if t == CHAR16:
        c = c_uint16()
        check(lib.rms_value_get_char16(v, byref(c)))
        return chr(c.value)
    if t == STRING:
        p = c_void_p()
        check(lib.rms_value_get_string(v, byref(p)))
        return ctypes.string_at(p.value).decode("utf-8") if p.value else ""
    if t == DATETIME:
        dt = _ffi.Datetime()
        check(lib.rms_value_get_datetime(v, byref(dt)))
        return _datetime_to_py(dt)
    if t == REFERENCE:
        r = c_void_p()
        check(lib.rms_value_get_reference(v, byref(r)))
        return Reference._from_c(r.value)
    if t == INSTANCE:
        i = c_void_p()
        check(lib.rms_value_get_instance(v, byref(i)))
        return Instance._from_c(i.value)
    if t in (DECIMAL, GUID, VERSION, URI, XML, SCRIPTBLOCK):
        p = c_void_p()
        check(lib.rms_value_get_text(v, byref(p)))
        text = ctypes.string_at(p.value).decode("utf-8") if p.value else ""
        if t == DECIMAL:
            return decimal.Decimal(text)
        if t == GUID:
            return uuid.UUID(text)
        return {VERSION: Version, URI: Uri, XML: Xml, SCRIPTBLOCK: ScriptBlock}[t](text)
    if t == TIMESPAN:
        ticks = c_int64()
        check(lib.rms_value_get_timespan(v, byref(ticks)))
        # int() truncates toward zero for negative spans too
        return _dt.timedelta(microseconds=int(ticks.value / _TICKS_PER_US)
                             if abs(ticks.value) < 2**53 else ticks.value // _TICKS_PER_US)
    if t == BYTES:
        data, n = c_void_p(), c_size_t()
        check(lib.rms_value_get_bytes(v, byref(data), byref(n)))
        return ctypes.string_at(data.value, n.value) if n.value else b""
    if t == OBJECT:
        o = c_void_p()
        check(lib.rms_value_get_object(v, byref(o)))
        return PSObject._from_c(o.value)
    raise UsageError(f"value of unknown type {t}", -21)


def from_c(v: Optional[int]) -> Any:
    """The Python form of a C rms_value (borrowed pointer; nothing is kept)."""
    if not v or lib.rms_value_is_null(v):
        return None
    t = lib.rms_value_type(v)
    if t & ARRAY and t < DECIMAL:
        st = t & ~ARRAY
        return [_scalar(st, lib.rms_value_array_at(v, i))
                for i in range(lib.rms_value_array_length(v))]
    return _scalar(t, v)


def type_of(v: int) -> str:
    """The CIM/PowerShell type name of a C value ("uint32[]")."""
    return s(lib.rms_type_name(lib.rms_value_type(v))) or "?"


# ---- Python to C -----------------------------------------------------------------------

def _py_datetime(value: _dt.datetime) -> _ffi.Datetime:
    dt = _ffi.Datetime()
    dt.is_interval = False
    dt.year, dt.month, dt.day = value.year, value.month, value.day
    dt.hour, dt.minute, dt.second = value.hour, value.minute, value.second
    dt.nanoseconds = value.microsecond * 1000
    dt.frac_digits = 6 if value.microsecond else 0
    off = value.utcoffset()
    if off is None:
        dt.tz_form = TZ_NONE
    else:
        minutes, rest = divmod(off, _dt.timedelta(minutes=1))
        if rest:
            raise UsageError("a datetime's UTC offset must be whole minutes", -22)
        dt.utc_offset = minutes
        dt.tz_form = TZ_UTC_Z if value.tzinfo is _dt.timezone.utc else TZ_OFFSET
    return dt


def _py_interval(value: _dt.timedelta) -> _ffi.Datetime:
    if value < _dt.timedelta(0):
        raise UsageError("a CIM interval cannot be negative", -22)
    dt = _ffi.Datetime()
    dt.is_interval = True
    dt.days = value.days
    dt.hour, rest = divmod(value.seconds, 3600)
    dt.minute, dt.second = divmod(rest, 60)
    dt.nanoseconds = value.microseconds * 1000
    dt.frac_digits = 6
    return dt


def _int_type(value: int, ps: bool) -> int:
    if ps and -2**31 <= value < 2**31:
        return SINT32
    if -2**63 <= value < 2**63:
        return SINT64
    if 0 <= value < 2**64:
        return UINT64
    raise UsageError(f"integer {value} does not fit in 64 bits", -22)


_INT_CTORS = {UINT8: "uint8", SINT8: "sint8", UINT16: "uint16", SINT16: "sint16",
              UINT32: "uint32", SINT32: "sint32", UINT64: "uint64", SINT64: "sint64"}


def _typed_scalar(t: int, value: Any, ps: bool) -> _Owned:
    """A C scalar of type t from a Python value."""
    if value is None:
        return _value(lib.rms_value_new_null, t)
    if t in _INT_CTORS:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str):
                return _value(lib.rms_value_from_text, t, enc(value))
            raise UsageError(f"{_INT_CTORS[t]} needs an int, not {type(value).__name__}", -21)
        lo, hi = _INT_RANGE[t]
        if not lo <= value <= hi:
            raise UsageError(f"{value} is out of range for {_INT_CTORS[t]} ({lo}..{hi})", -22)
        return _value(getattr(lib, f"rms_value_new_{_INT_CTORS[t]}"), value)
    if t == BOOLEAN:
        if not isinstance(value, bool):
            raise UsageError(f"boolean needs a bool, not {type(value).__name__}", -21)
        return _value(lib.rms_value_new_boolean, value)
    if t in (REAL32, REAL64):
        if isinstance(value, str):
            return _value(lib.rms_value_from_text, t, enc(value))
        ctor = lib.rms_value_new_real32 if t == REAL32 else lib.rms_value_new_real64
        return _value(ctor, float(value))
    if t == CHAR16:
        if not isinstance(value, str) or len(value) != 1 or ord(value) > 0xFFFF:
            raise UsageError("char16 needs a str of one character of the BMP", -21)
        return _value(lib.rms_value_new_char16, ord(value))
    if t == STRING:
        return _value(lib.rms_value_new_string, enc(str(value)))
    if t == DATETIME:
        if isinstance(value, _dt.datetime):
            return _value(lib.rms_value_new_datetime, byref(_py_datetime(value)))
        if isinstance(value, _dt.timedelta):
            return _value(lib.rms_value_new_datetime, byref(_py_interval(value)))
        if isinstance(value, (str, CimDatetime)):
            return _value(lib.rms_value_from_text, DATETIME, enc(str(value)))
        raise UsageError(f"datetime needs a datetime or timedelta, not {type(value).__name__}", -21)
    if t == REFERENCE:
        if isinstance(value, Instance):
            value = value.reference()
        if not isinstance(value, Reference):
            raise UsageError(f"ref needs a Reference, not {type(value).__name__}", -21)
        with value._to_c() as r:
            return _value(lib.rms_value_new_reference, r.ptr)
    if t == INSTANCE:
        if not isinstance(value, Instance):
            raise UsageError(f"instance needs an Instance, not {type(value).__name__}", -21)
        with value._to_c(ps) as i:
            return _value(lib.rms_value_new_instance, i.ptr)
    if t == TIMESPAN:
        if isinstance(value, _dt.timedelta):
            ticks = (value.days * 86400 + value.seconds) * 10**7 + value.microseconds * 10
            return _value(lib.rms_value_new_timespan, ticks)
        if isinstance(value, int) and not isinstance(value, bool):
            return _value(lib.rms_value_new_timespan, value)
        return _value(lib.rms_value_from_text, t, enc(str(value)))
    if t == BYTES:
        if isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
            return _value(lib.rms_value_new_bytes, data, len(data))
        return _value(lib.rms_value_from_text, t, enc(str(value)))
    if t in (DECIMAL, GUID, VERSION, URI, XML, SCRIPTBLOCK):
        return _value(lib.rms_value_from_text, t, enc(str(value)))
    if t == OBJECT:
        if isinstance(value, PSObject):
            with value._to_c() as o:
                v = _value(lib.rms_value_new_object, o.ptr)
                o.release()  # taken by rms_value_new_object on success
                return v
        return to_c(value, ps=True)
    raise UsageError(f"cannot make a value of type {s(lib.rms_type_name(t))}", -21)


def _infer(value: Any, ps: bool) -> int:
    """The type a Python value gets without an explicit one."""
    if isinstance(value, Typed):
        return value.type
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return _int_type(value, ps)
    if isinstance(value, float):
        return REAL64
    if isinstance(value, (Version, Uri, Xml, ScriptBlock)):
        return {Version: VERSION, Uri: URI, Xml: XML, ScriptBlock: SCRIPTBLOCK}[type(value)]
    if isinstance(value, str):
        return STRING
    if isinstance(value, (_dt.datetime, CimDatetime)):
        return DATETIME
    if isinstance(value, _dt.timedelta):
        return TIMESPAN if ps else DATETIME
    if isinstance(value, Reference):
        return REFERENCE
    if isinstance(value, Instance):
        return INSTANCE
    if isinstance(value, decimal.Decimal):
        return DECIMAL
    if isinstance(value, uuid.UUID):
        return GUID
    if isinstance(value, (bytes, bytearray, memoryview)):
        return BYTES if ps else UINT8 | ARRAY
    if isinstance(value, PSObject):
        return OBJECT
    if isinstance(value, (list, tuple)):
        return OBJECT if ps else ARRAY
    if isinstance(value, dict) and ps:
        return OBJECT
    raise UsageError(f"no {'PowerShell' if ps else 'CIM'} type for a Python "
                     f"{type(value).__name__}", -21)


def _array(elem_type: Optional[int], items: list, ps: bool) -> _Owned:
    if elem_type is None:
        types = {_infer(x.value if isinstance(x, Typed) else x, False) if not isinstance(x, Typed)
                 else x.type for x in items if x is not None}
        if not items or not types:
            elem_type = STRING
        elif len(types) == 1:
            elem_type = types.pop()
        elif types <= {SINT64, UINT64}:
            elem_type = UINT64 if all(x >= 0 for x in items) else SINT64
        else:
            raise UsageError("a CIM array's elements must have one type; use typed() for a "
                             "mixed list", -21)
    if elem_type & ARRAY or elem_type >= DECIMAL:
        raise UsageError(f"no CIM array of {s(lib.rms_type_name(elem_type))}", -21)
    arr = _value(lib.rms_value_new_array, elem_type)
    try:
        for x in items:
            if x is None:
                raise UsageError("CIM arrays have no null elements", -3)
            elem = _typed_scalar(elem_type, x.value if isinstance(x, Typed) else x, ps)
            _give(lambda p: lib.rms_value_array_append(arr.ptr, p), elem)
    except BaseException:
        arr.close()
        raise
    return arr


def _ps_list(items, type_name: str = "System.Object[]") -> PSObject:
    return PSObject(type_names=[type_name, "System.Array", "System.Object"],
                    collection="list", elements=list(items))


def to_c(value: Any, ps: bool = False, context: str = "") -> _Owned:
    """A new C value (owned by the caller) from a Python value.

    ``ps`` selects the PowerShell mapping (parameters and pipeline input) over the CIM one.
    """
    try:
        if isinstance(value, Typed):
            t = value.type
            if t & ARRAY and t < DECIMAL:
                if value.value is None:
                    return _value(lib.rms_value_new_null, t)
                return _array(t & ~ARRAY, list(value.value), ps)
            return _typed_scalar(t, value.value, ps)
        if value is None:
            return _value(lib.rms_value_new_null, OBJECT if ps else STRING)
        if ps and isinstance(value, (list, tuple)):
            return _typed_scalar(OBJECT, _ps_list(value), ps)
        if ps and isinstance(value, dict):
            return _typed_scalar(OBJECT, PSObject(
                type_names=["System.Collections.Hashtable", "System.Object"],
                collection="dictionary", entries=list(value.items())), ps)
        if not ps and isinstance(value, (list, tuple)):
            return _array(None, list(value), ps)
        if not ps and isinstance(value, (bytes, bytearray, memoryview)):
            return _array(UINT8, list(bytes(value)), ps)
        if isinstance(value, float) and math.isnan(value):
            return _value(lib.rms_value_new_real64, value)
        return _typed_scalar(_infer(value, ps), value, ps)
    except UsageError as e:
        if context and not str(e).startswith(context):
            raise type(e)(f"{context}: {e}", e.code) from None
        raise
