# Shared by the CLI test scripts (sourced, not run): the usage check, scratch
# files, PASS/FAIL counting and starting test endpoints on loopback.
# Before sourcing: NAME (for messages and scratch names) and "$@" as the
# script got it. Sets BIN (the remsess under test), EP_RUN, tmp, OUT, ERR.
# Scratch files are "$tmp".*; started endpoints die with the script.

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
	echo "usage: sh $NAME.sh /path/to/remsess" >&2
	exit 2
fi
BIN=$1
EP_RUN=$(dirname "$0")/../endpoint/run
if [ ! -x /usr/bin/python3 ] || [ ! -x "$EP_RUN" ]; then
	echo "SKIP: no /usr/bin/python3 or $EP_RUN"
	exit 0
fi

tmp=${TMPDIR:-/tmp}/remsess-$NAME.$$
OUT=$tmp.out
ERR=$tmp.err
EP_PIDS=""
cleanup() {
	for p in $EP_PIDS; do kill "$p" 2>/dev/null; done
	rm -f "$tmp".*
}
trap cleanup EXIT INT TERM

passed=0
failed=0

pass() {
	passed=$((passed + 1))
	echo "PASS $1"
}

fail() {
	failed=$((failed + 1))
	echo "FAIL $1: $2"
	echo "     stdout: $(head -c 600 "$OUT")"
	echo "     stderr: $(head -c 400 "$ERR")"
}

# start_endpoint NAME ARGS...: starts one with the account admin/cli-Pa55
# and ARGS, sets PORT.
start_endpoint() {
	name=$1
	shift
	"$EP_RUN" --port 0 --auth basic --user admin --password 'cli-Pa55' "$@" >"$tmp.ep$name" 2>&1 &
	EP_PIDS="$EP_PIDS $!"
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		grep -q listening "$tmp.ep$name" 2>/dev/null && break
		sleep 0.25
	done
	PORT=$(sed -n 's|^listening http://127.0.0.1:\([0-9]*\)/wsman$|\1|p' "$tmp.ep$name")
	if [ -z "$PORT" ]; then
		echo "FAIL could not start the endpoint: $(cat "$tmp.ep$name")"
		exit 1
	fi
}

# finish: the summary line; the script's exit status (1 on any failure).
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}
