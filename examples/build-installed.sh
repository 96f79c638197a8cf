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
cc "$here/engine_poll.c" $(pkg-config --cflags --libs remsess) -o "$work/engine_poll_pc"

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

# engine_poll starts two enumerations through one rms_multi and drives them
# from its own poll(2) loop: each must end with its own connection error,
# and the program must say it failed.
for bin in "$work/cmake/engine_poll" "$work/cmake/engine_poll_static" "$work/engine_poll_pc"; do
	rc=0
	out=$(LD_LIBRARY_PATH="$libdir" REMSESS_PASSWORD=x "$bin" 127.0.0.1 admin \
		Win32_Service Win32_Process 2>&1) || rc=$?
	echo "$out" | sed 's/^/  /'
	[ "$rc" -ne 0 ] || { echo "example $bin exited 0 though nothing listens"; exit 1; }
	for class in Win32_Service Win32_Process; do
		echo "$out" | grep -q "^$class: failed in phase connect: could not connect" ||
			{ echo "example $bin did not report the connection error for $class"; exit 1; }
	done
done
rm -rf "$work"
echo "examples built and ran against the installed package"
