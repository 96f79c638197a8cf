"""An in-tree PEP 517 build backend for the remsess Python package, in pure Python.

It needs nothing from the network: a wheel is a zip of remsess/*.py, the C library copied
from the CMake build directory (REMSESS_BUILD_DIR, default ../build from this directory) into
remsess/_lib/libremsess.so.0, and the METADATA, WHEEL and RECORD files of the wheel format
(PEP 427, PEP 376 hashes). The tag is py3-none-<platform>, since the package holds a native
library but no extension module.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sysconfig
import tarfile
import zipfile

NAME = "remsess"
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # python/
PACKAGE_DIR = os.path.join(HERE, NAME)
SONAME = "libremsess.so.0"

__all__ = ["build_wheel", "build_sdist", "get_requires_for_build_wheel",
           "get_requires_for_build_sdist", "prepare_metadata_for_build_wheel"]


def _version() -> str:
    with open(os.path.join(HERE, "pyproject.toml"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("version"):
                return line.split("=", 1)[1].strip().strip('"')
    raise RuntimeError("pyproject.toml has no version")


def _default_build_dir() -> str:
    with open(os.path.join(HERE, "pyproject.toml"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("default-build-dir"):
                return os.path.join(HERE, line.split("=", 1)[1].strip().strip('"'))
    return os.path.join(HERE, "..", "build")


def _library(config_settings) -> str:
    build_dir = ((config_settings or {}).get("build-dir") or os.environ.get("REMSESS_BUILD_DIR")
                 or _default_build_dir())
    path = os.path.realpath(os.path.join(build_dir, SONAME))
    if not os.path.isfile(path):
        raise RuntimeError(
            f"remsess: {SONAME} not found in the build directory {os.path.abspath(build_dir)}; "
            f"build the C library first (cmake -S . -B build && cmake --build build) or set "
            f"REMSESS_BUILD_DIR to the CMake build directory")
    return path


def _tag() -> str:
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"py3-none-{plat}"


def _metadata() -> str:
    readme = os.path.join(HERE, "README.md")
    text = open(readme, encoding="utf-8").read() if os.path.exists(readme) else ""
    return (f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {_version()}\n"
            "Summary: Python binding of libremsess: CIM sessions and PSSessions "
            "(WinRM, PowerShell remoting, SSH)\nRequires-Python: >=3.9\n"
            "Description-Content-Type: text/markdown\n\n" + text)


def _package_files() -> list[tuple[str, str]]:
    """(path inside the wheel, path on disk) of the package's Python files."""
    out = []
    for name in sorted(os.listdir(PACKAGE_DIR)):
        if name.endswith(".py") or name == "py.typed":
            out.append((f"{NAME}/{name}", os.path.join(PACKAGE_DIR, name)))
    return out


def _record_line(arcname: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def _dist_info() -> str:
    return f"{NAME}-{_version()}.dist-info"


def get_requires_for_build_wheel(config_settings=None) -> list[str]:
    return []


def get_requires_for_build_sdist(config_settings=None) -> list[str]:
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None) -> str:
    d = os.path.join(metadata_directory, _dist_info())
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata())
    with open(os.path.join(d, "WHEEL"), "w", encoding="utf-8") as f:
        f.write(_wheel_file())
    return _dist_info()


def _wheel_file() -> str:
    return (f"Wheel-Version: 1.0\nGenerator: remsess_build\nRoot-Is-Purelib: false\n"
            f"Tag: {_tag()}\n")


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None) -> str:
    lib = _library(config_settings)
    filename = f"{NAME}-{_version()}-{_tag()}.whl"
    records = []
    dist = _dist_info()
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w",
                         zipfile.ZIP_DEFLATED) as zf:
        def add(arcname: str, data: bytes, mode: int = 0o644) -> None:
            info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
            records.append(_record_line(arcname, data))

        for arcname, path in _package_files():
            with open(path, "rb") as f:
                add(arcname, f.read())
        with open(lib, "rb") as f:
            add(f"{NAME}/_lib/{SONAME}", f.read(), 0o755)
        add(f"{dist}/METADATA", _metadata().encode())
        add(f"{dist}/WHEEL", _wheel_file().encode())
        add(f"{dist}/top_level.txt", f"{NAME}\n".encode())
        records.append(f"{dist}/RECORD,,")
        info = zipfile.ZipInfo(f"{dist}/RECORD", date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o100644 << 16
        zf.writestr(info, "\n".join(records) + "\n")
    return filename


def build_sdist(sdist_directory, config_settings=None) -> str:
    """The python/ tree (without the C library: an sdist is built against a build dir)."""
    base = f"{NAME}-{_version()}"
    filename = f"{base}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz") as tf:
        for rel in ["pyproject.toml", "README.md", "_build/remsess_build.py"] + [
                a for a, _ in _package_files()]:
            path = os.path.join(HERE, rel)
            if os.path.exists(path):
                tf.add(path, f"{base}/{rel}")
        pkg_info = _metadata().encode()
        ti = tarfile.TarInfo(f"{base}/PKG-INFO")
        ti.size = len(pkg_info)
        tf.addfile(ti, io.BytesIO(pkg_info))
    return filename
