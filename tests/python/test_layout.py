"""The ctypes Structures against the C headers: sizes and every field's offset, as a C
compiler lays them out, and the library accepting the options struct."""

import ctypes
import os
import shutil
import subprocess

import pytest

import remsess
from remsess import _ffi

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

STRUCTS = {
    "rms_session_options": _ffi.SessionOptions,
    "rms_datetime": _ffi.Datetime,
    "rms_stats": _ffi.Stats,
    "rms_chunk": _ffi.Chunk,
    "rms_msg": _ffi.Msg,
    "rms_waitfd": _ffi.WaitFd,
    "rms_side_report": _ffi.SideReport,
    "rms_fanout_options": _ffi.FanoutOptions,
}
NESTED = {"cim": _ffi._Cim, "pssession": _ffi._PSSession, "ssh": _ffi._Ssh,
          "pssession_v2": _ffi._PSSessionV2, "auth_v3": _ffi._AuthV3,
          "timeouts_v4": _ffi._TimeoutsV4}


def _version_include():
    """The directory holding the generated remsess/version.h (the CMake build's include/)."""
    for d in (os.environ.get("REMSESS_BUILD_DIR"), os.path.join(ROOT, "build")):
        if d and os.path.exists(os.path.join(d, "include", "remsess", "version.h")):
            return os.path.join(d, "include")
    return None


def _fields(struct, prefix=""):
    for name, ftype, *_ in struct._fields_:
        yield prefix + name, getattr(struct, name).offset, ctypes.sizeof(ftype)


@pytest.fixture(scope="module")
def c_layout(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    inc = _version_include()
    if not cc or not inc:
        pytest.fail("the layout test needs cc and a build dir with include/remsess/version.h "
                    "(set REMSESS_BUILD_DIR)")
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include <remsess/remsess.h>',
             'int main(void) {']
    for cname, st in STRUCTS.items():
        lines.append(f'printf("{cname} sizeof %zu\\n", sizeof({cname}));')
        for fname, _off, _size in _fields(st):
            lines.append(f'printf("{cname} {fname} %zu %zu\\n", offsetof({cname}, {fname}), '
                         f'sizeof((({cname} *)0)->{fname}));')
    for sub, st in NESTED.items():
        lines.append(f'printf("rms_session_options.{sub} sizeof %zu\\n", '
                     f'sizeof(((rms_session_options *)0)->{sub}));')
        for fname, _off, _size in _fields(st):
            lines.append(f'printf("rms_session_options.{sub} {fname} %zu %zu\\n", '
                         f'offsetof(rms_session_options, {sub}.{fname}) - '
                         f'offsetof(rms_session_options, {sub}), '
                         f'sizeof(((rms_session_options *)0)->{sub}.{fname}));')
    lines.append('printf("version %d\\n", RMS_SESSION_OPTIONS_VERSION); return 0; }')
    d = tmp_path_factory.mktemp("layout")
    src, exe = d / "layout.c", d / "layout"
    src.write_text("\n".join(lines))
    subprocess.run([cc, "-std=c11", "-I", os.path.join(ROOT, "include"), "-I", inc, "-o",
                    str(exe), str(src)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    table = {}
    for line in out.splitlines():
        parts = line.split()
        table[tuple(parts[:2])] = tuple(int(x) for x in parts[2:])
    return table


@pytest.mark.parametrize("cname", sorted(STRUCTS))
def test_struct_matches_the_c_layout(c_layout, cname):
    st = STRUCTS[cname]
    assert c_layout[(cname, "sizeof")] == (ctypes.sizeof(st),)
    for fname, off, size in _fields(st):
        assert c_layout[(cname, fname)] == (off, size), f"{cname}.{fname}"


@pytest.mark.parametrize("sub", sorted(NESTED))
def test_nested_options_structs_match(c_layout, sub):
    st = NESTED[sub]
    assert c_layout[(f"rms_session_options.{sub}", "sizeof")] == (ctypes.sizeof(st),)
    for fname, off, size in _fields(st):
        assert c_layout[(f"rms_session_options.{sub}", fname)] == (off, size), f"{sub}.{fname}"


def test_options_version_is_the_headers(c_layout):
    # The binding knows the headers' newest version (a header that grew without the binding
    # following fails here and in the sizeof check above).
    versions = [k[1] for k in c_layout if k[0] == "version"]
    assert versions == [str(_ffi.SESSION_OPTIONS_VERSION)]


def test_library_validates_the_struct_and_reads_the_last_fields():
    # A field of the last version's sub-struct is read at the right place: a keytab that
    # does not exist is refused naming auth_v3's field.
    o = remsess.Options("server1", user="alice", auth="kerberos", keytab="/nonexistent/kt")
    with pytest.raises(remsess.OptionsError) as e:
        o.to_c().validate("cim")
    assert e.value.code_name == "RMS_E_OPTIONS"
    assert "keytab" in (e.value.field or "")
    # and a valid struct is accepted
    remsess.Options("server1", https=True, user="a", password="b").to_c().validate("pssession")


def test_library_reads_the_nested_pssession_v2_field():
    with pytest.raises(remsess.OptionsError) as e:
        remsess.Options("server1", transport="ssh").to_c().validate("cim")
    assert e.value.field == "transport"
