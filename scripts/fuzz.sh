#!/bin/sh
# Build the libFuzzer targets (tests/fuzz, clang, RMS_FUZZ=ON) in build-fuzz
# and run each for N seconds on a scratch copy of its checked-in corpus
# (tests/fuzz/corpus/<target>; new inputs stay in the scratch directory).
# Any crash, leak, sanitizer finding or timeout fails the run; the input is
# kept as an artifact and its path printed.
#
# Usage: scripts/fuzz.sh [--seconds N] [--keep] [TARGET...]
#   --seconds N   time per target (default 30; e.g. 3600 for a long run)
#   --keep        keep the scratch directory (grown corpora, logs)
#   TARGET        names without the fuzz_ prefix (default: all)
# Environment: CC (default clang-14), RMS_FUZZ_BUILD_DIR (default build-fuzz).
set -eu
cd "$(dirname "$0")/.."
seconds=30
keep=0
targets=""
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) seconds=$2; shift 2 ;;
	--seconds=*) seconds=${1#*=}; shift ;;
	--keep) keep=1; shift ;;
	-h|--help) sed -n '2,13p' "$0"; exit 0 ;;
	-*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
	*) targets="$targets $1"; shift ;;
	esac
done
CC=${CC:-clang-14}
build=${RMS_FUZZ_BUILD_DIR:-build-fuzz}
command -v "$CC" >/dev/null 2>&1 || { echo "fuzz.sh: $CC not found (sh scripts/deps.sh --ci)" >&2; exit 1; }

mkdir -p "$build"
# -O1 keeps the targets fast and the stack traces readable; asserts stay on.
CC=$CC cmake -S . -B "$build" -DRMS_FUZZ=ON -DRMS_BUILD_TESTS=OFF -DRMS_BUILD_BENCH=OFF \
	-DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-O1 -g" >"$build/fuzz-configure.log" 2>&1 ||
	{ cat "$build/fuzz-configure.log"; exit 1; }
cmake --build "$build" --target fuzz_all -j"$(nproc)" >"$build/fuzz-build.log" 2>&1 ||
	{ tail -60 "$build/fuzz-build.log"; exit 1; }

# The longest input each target is given: about the size of what it parses
# in practice, small enough to keep executions per second high.
max_len() {
	case "$1" in
	datetime) echo 64 ;;
	cli_args) echo 1024 ;;
	known_hosts) echo 4096 ;;
	ps_cim_line) echo 4096 ;;
	ps_cim_reader) echo 8192 ;;
	*) echo 16384 ;; # XML: envelopes, faults, items, classes
	esac
}

[ -n "$targets" ] || targets=$(ls tests/fuzz/fuzz_*.c | sed 's|.*/fuzz_||; s|\.c$||')
scratch=$(mktemp -d "${TMPDIR:-/tmp}/remsess-fuzz.XXXXXX")
[ "$keep" -eq 1 ] || trap 'rm -rf "$scratch"' EXIT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fails=0
summary=""
for t in $targets; do
	bin="$build/tests/fuzz/fuzz_$t"
	[ -x "$bin" ] || { echo "fuzz.sh: no target $t" >&2; exit 2; }
	mkdir -p "$scratch/$t/corpus" "$scratch/$t/artifacts"
	if [ -d "tests/fuzz/corpus/$t" ]; then
		cp tests/fuzz/corpus/"$t"/* "$scratch/$t/corpus/" 2>/dev/null || true
	fi
	dict=""
	[ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
	echo "fuzz: $t for ${seconds}s (max_len $(max_len "$t"))"
	rc=0
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 $dict \
		-artifact_prefix="$scratch/$t/artifacts/" "$scratch/$t/corpus" \
		>"$scratch/$t/log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/$t/log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$scratch/$t/log" | tail -1 | sed 's/cov: //')
	if [ "$rc" -ne 0 ]; then
		fails=$((fails + 1))
		echo "fuzz: $t FAILED (exit $rc)"
		grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$scratch/$t/log" | head -20
		tail -40 "$scratch/$t/log"
		for a in "$scratch/$t/artifacts"/*; do
			[ -f "$a" ] || continue
			mkdir -p "$build/findings"
			cp "$a" "$build/findings/$t-$(basename "$a")"
			echo "fuzz: input kept as $build/findings/$t-$(basename "$a")"
		done
		summary="$summary
$(printf '%-16s %12s %8s  FAILED' "$t" "${execs:-?}" "${cov:-?}")"
	else
		summary="$summary
$(printf '%-16s %12s %8s  ok' "$t" "${execs:-?}" "${cov:-?}")"
	fi
done
printf '\n%-16s %12s %8s\n' target executions coverage
echo "$summary" | sed '1d'
[ "$keep" -eq 1 ] && echo "fuzz: scratch kept in $scratch"
[ "$fails" -eq 0 ] || { echo "fuzz: $fails target(s) failed"; exit 1; }
echo "fuzz: all targets clean"
