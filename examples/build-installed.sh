#!/bin/bash
# Build and run the examples against a remsess installed under PREFIX, both
# through CMake's find_package and through pkg-config.
set -euo pipefail
prefix=${1:?usage: build-installed.sh PREFIX}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
libdir=$(ls -d "$prefix"/lib*/ | head -n1)
libdir=${libdir%/}
[ -d "$libdir/x86_64-linux-gnu" ] && libdir="$libdir/x86_64-linux-gnu"

echo "find_package(remsess):"
cmake -S "$here" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake" >/dev/null
echo "pkg-config remsess:"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
pkg-config --modversion remsess
cc "$here/cim_session.c" $(pkg-config --cflags --libs remsess) -o "$work/cim_session_pc"

# Each binary runs against 127.0.0.1, where nothing listens on 5986: the
# session is created (opening nothing), then the enumeration fails to
# connect and says so. A missing library or ABI break would fail before
# the first line.
for bin in "$work/cmake/cim_session" "$work/cmake/cim_session_static" "$work/cim_session_pc"; do
	out=$(LD_LIBRARY_PATH="$libdir" REMSESS_PASSWORD=x "$bin" 127.0.0.1 admin 2>&1 || true)
	echo "$out" | sed 's/^/  /'
	echo "$out" | grep -q "CimSession.*0 connections opened" ||
		{ echo "example $bin did not create a lazy CIM session"; exit 1; }
done
rm -rf "$work"
echo "examples built and ran against the installed package"
