#!/bin/sh
# The Python test suite with an AddressSanitizer + UBSan build of libremsess.so.0 loaded into
# Debian's /usr/bin/python3: a leak check (LeakSanitizer) and a memory-error check of the C
# library as the binding drives it, every C object kind included (sessions, operations,
# requests, instances, values, references, PSObjects, errors, comparisons, fan-outs, the
# engine).
#
# Usage: tests/python/run-asan.sh BUILD_DIR [pytest args...]
#   BUILD_DIR: cmake -S . -B BUILD_DIR -DRMS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
#
# How: python3 itself is not instrumented, so the sanitizer runtime the library was linked
# against (the libasan.so.N that `ldd` shows for it) is preloaded; the package is imported
# from ./python with REMSESS_LIBRARY naming the ASan library. PYTHONMALLOC=malloc makes
# CPython allocate every object with malloc, so that LeakSanitizer sees (and scans) them:
# with pymalloc's mmap'd arenas a C handle held only by a Python object would look leaked.
# conftest.py drops the preload from the environment of the servers the tests start.
#
# Fails when pytest fails, when ASan or UBSan reports an error (abort_on_error), or when
# LeakSanitizer reports any leak that is not suppressed. Suppressions: tests/lsan.supp (the
# system's GSSAPI mechanisms, as the C suite under ASan) and tests/python/lsan-python.supp
# (CPython's own allocations kept until exit; each entry names a CPython function, never a
# remsess one). Reports are written to BUILD_DIR/python-asan/ and shown on failure, each
# marked with whether libremsess is in its stack.
set -eu
if [ $# -lt 1 ]; then
	echo "usage: $0 BUILD_DIR [pytest args...]" >&2
	exit 2
fi
build=$(cd "$1" && pwd)
shift
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py=/usr/bin/python3
lib="$build/libremsess.so.0"
if [ ! -e "$lib" ]; then
	echo "$0: $lib not found: build the C library first" >&2
	exit 2
fi
asan=$(ldd "$lib" | awk '/libasan\.so/ { print $3; exit }')
if [ -z "$asan" ]; then
	echo "$0: $lib is not an AddressSanitizer build (configure with -DRMS_SANITIZE=ON)" >&2
	exit 2
fi
out="$build/python-asan"
rm -rf "$out"
mkdir -p "$out"
# LSAN_OPTIONS takes one suppressions file: the C suite's and the CPython ones together.
cat "$root/tests/lsan.supp" "$here/lsan-python.supp" >"$out/lsan.supp"

start=$(date +%s)
status=0
cd "$build"
# Allocation stacks are unwound by frame pointers (fast): libremsess has them, CPython,
# libffi and libcurl do not, so a stack stops at the first frame below the library's own,
# and an allocation made inside libcurl for the library may show no libremsess frame.
# REMSESS_ASAN_OPTIONS=fast_unwind_on_malloc=0 gives whole stacks (slower); anything in
# REMSESS_ASAN_OPTIONS is appended to ASAN_OPTIONS.
env LD_PRELOAD="$asan" \
	ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:suppressions=$root/tests/asan.supp:log_path=$out/asan${REMSESS_ASAN_OPTIONS:+:$REMSESS_ASAN_OPTIONS}" \
	LSAN_OPTIONS="suppressions=$out/lsan.supp:print_suppressions=0" \
	UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$out/ubsan" \
	PYTHONMALLOC=malloc REMSESS_ASAN_RUN=1 REMSESS_LIBRARY="$lib" REMSESS_BUILD_DIR="$build" \
	PYTHONPATH="$root/python" PYTHONDONTWRITEBYTECODE=1 \
	"$py" -m pytest -p no:cacheprovider -q --rootdir "$here" "$here" "$@" || status=$?

reports=$(find "$out" -name 'asan.*' -o -name 'ubsan.*' | sort)
for r in $reports; do
	if grep -q 'libremsess\|/core/\|/psremote/\|/cim/' "$r"; then
		echo "=== $r (libremsess in the stack)"
	else
		echo "=== $r (no libremsess frame: CPython or a system library)"
	fi
	cat "$r"
done
echo "run-asan: $(( $(date +%s) - start )) s; pytest exit $status; $(echo "$reports" | grep -c . || true) sanitizer report(s) in $out"
if [ "$status" -ne 0 ] || [ -n "$reports" ]; then
	exit 1
fi
