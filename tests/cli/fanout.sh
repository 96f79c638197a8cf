#!/bin/sh
# `remsess` over many hosts (-H a,b,c and --hosts FILE): one JSON line per
# target, attributed and independent, and the exit status of the worst
# target. Two test endpoints (tests/endpoint/run, started here on loopback)
# and a closed port (loopback port 1).
# Usage: sh fanout.sh /path/to/remsess
# Prints PASS/FAIL per check and "N passed, M failed"; exits 1 on any failure.
set -u

NAME=fanout
. "$(dirname "$0")/lib.sh"

# json_check PYTHON-EXPR: evaluates the expression over `lines` (the JSON
# lines of stdout, parsed) and `by` (them by host); passes when true.
json_check() {
	/usr/bin/python3 -c 'import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {l["host"]: l for l in lines}
sys.exit(0 if eval(sys.argv[2]) else 1)' "$OUT" "$1"
}

REMSESS_PASSWORD=cli-Pa55
export REMSESS_PASSWORD

start_endpoint a
A=http://127.0.0.1:$PORT/wsman
start_endpoint b
B=http://127.0.0.1:$PORT/wsman
DOWN=http://127.0.0.1:1/wsman
C="-u admin --allow-unencrypted"

# shellcheck disable=SC2086
"$BIN" -H "$A,$B,$DOWN" $C --json enum Win32_Service >"$OUT" 2>"$ERR" </dev/null
st=$?
if [ $st -eq 3 ]; then
	pass "enum over three hosts exits 3, the connect failure's status"
else
	fail "enum over three hosts exits 3" "exit $st"
fi
if json_check 'len(lines) == 3 and set(by) == {"'"$A"'", "'"$B"'", "'"$DOWN"'"}'; then
	pass "three JSON lines, one per host"
else
	fail "three JSON lines, one per host" "see stdout"
fi
if json_check 'all(by[h]["status"] == "ok" and by[h]["exit_status"] == 0 and by[h]["backend"] == "cim" and len(by[h]["instances"]) > 0 and all(i["class"] == "Win32_Service" for i in by[h]["instances"]) and "error" not in by[h] for h in ("'"$A"'", "'"$B"'"))'; then
	pass "the two endpoints: ok, cim, their Win32_Service instances"
else
	fail "the two endpoints: ok, cim, their instances" "see stdout"
fi
if json_check 'by["'"$DOWN"'"]["status"] == "RMS_E_CONNECT" and by["'"$DOWN"'"]["exit_status"] == 3 and by["'"$DOWN"'"]["error"]["phase"] == "connect" and "127.0.0.1" in by["'"$DOWN"'"]["error"]["message"] and by["'"$DOWN"'"]["instances"] == []'; then
	pass "the closed port: its own connect error, phase and message"
else
	fail "the closed port: its own connect error" "see stdout"
fi

# The same from a host file, with comments, blank lines and CRs, as text.
printf '# the fleet\n\n%s\r\n  %s   # second\n%s\n' "$A" "$B" "$DOWN" >"$tmp.hosts"
# shellcheck disable=SC2086
"$BIN" --hosts "$tmp.hosts" $C --throttle 2 enum Win32_Service >"$OUT" 2>"$ERR" </dev/null
st=$?
if [ $st -eq 3 ] && [ "$(grep -c ': ok, [0-9]* instances$' "$OUT")" = 2 ] &&
	grep -q "^$DOWN: failed RMS_E_CONNECT (exit status 3): connect failed: " "$OUT"; then
	pass "--hosts FILE, text: a line per host, exit 3"
else
	fail "--hosts FILE, text: a line per host, exit 3" "exit $st"
fi

# run over the two good hosts: their output, exit 0.
# shellcheck disable=SC2086
"$BIN" -H "$A,$B" $C --json run -- echo hello >"$OUT" 2>"$ERR" </dev/null
st=$?
if [ $st -eq 0 ] && json_check 'len(lines) == 2 and all(l["status"] == "ok" and l["backend"] == "pssession" and l["stdout"] == "hello\n" and l["exit_code"] == 0 for l in lines)'; then
	pass "run over two hosts, --json: their output, exit 0"
else
	fail "run over two hosts, --json: their output, exit 0" "exit $st"
fi
# shellcheck disable=SC2086
"$BIN" -H "$A,$B" $C run -- echo hello >"$OUT" 2>"$ERR" </dev/null
st=$?
if [ $st -eq 0 ] && grep -qx "$A: hello" "$OUT" && grep -qx "$B: hello" "$OUT" &&
	grep -qx "$A: ok, exit code 0" "$OUT" && grep -qx "$B: ok, exit code 0" "$OUT"; then
	pass "run over two hosts, text: output lines prefixed by host, exit 0"
else
	fail "run over two hosts, text" "exit $st"
fi

# A remote exit code is that target's status; the worst one is the tool's.
# shellcheck disable=SC2086
"$BIN" -H "$A,$B" $C --json run -- 'exit 5' >"$OUT" 2>"$ERR" </dev/null
st=$?
if [ $st -eq 5 ] && json_check 'all(l["status"] == "ok" and l["exit_code"] == 5 and l["exit_status"] == 5 for l in lines)'; then
	pass "run exiting 5 everywhere: exit 5"
else
	fail "run exiting 5 everywhere: exit 5" "exit $st"
fi

# --target-timeout ends a host that stalls at its own deadline; the others
# are not held up; --run-timeout ends the whole run.
start_endpoint stall --fault stall
S=http://127.0.0.1:$PORT/wsman
t0=$(date +%s.%N)
# shellcheck disable=SC2086
"$BIN" -H "$A,$S" $C --json --target-timeout 1.5 enum Win32_Service >"$OUT" 2>"$ERR" </dev/null
st=$?
took=$(echo "$(date +%s.%N) - $t0" | bc)
if [ $st -eq 4 ] && json_check 'by["'"$A"'"]["status"] == "ok" and by["'"$S"'"]["status"] == "RMS_E_TIMEOUT"' &&
	[ "$(echo "$took < 6" | bc)" -eq 1 ]; then
	pass "--target-timeout: the stalled host times out alone (exit 4, ${took}s)"
else
	fail "--target-timeout: the stalled host times out alone" "exit $st, ${took}s"
fi
t0=$(date +%s.%N)
# shellcheck disable=SC2086
printf '%s\n' "$S" >"$tmp.hosts"
# shellcheck disable=SC2086
"$BIN" --hosts "$tmp.hosts" $C --json --run-timeout 1 enum Win32_Service >"$OUT" 2>"$ERR" </dev/null
st=$?
took=$(echo "$(date +%s.%N) - $t0" | bc)
if [ $st -eq 4 ] && json_check 'by["'"$S"'"]["status"] == "RMS_E_TIMEOUT"' &&
	[ "$(echo "$took < 5" | bc)" -eq 1 ]; then
	pass "--run-timeout: the run ends with the stalled host's timeout (${took}s)"
else
	fail "--run-timeout: the run ends with the stalled host's timeout" "exit $st, ${took}s"
fi
"$BIN" -H "$A,$B" --target-timeout 0 enum X >"$OUT" 2>"$ERR" </dev/null
st=$?
if [ $st -eq 2 ] && grep -q -- "--target-timeout 0 is too short" "$ERR"; then
	pass "--target-timeout 0: a usage error"
else
	fail "--target-timeout 0: a usage error" "exit $st"
fi
"$BIN" -H "$A" --run-timeout 5 enum X >"$OUT" 2>"$ERR" </dev/null
st=$?
if [ $st -eq 2 ] && grep -q -- "--run-timeout is a fan-out's" "$ERR"; then
	pass "--run-timeout with one host: a usage error pointing to --timeout"
else
	fail "--run-timeout with one host: a usage error" "exit $st"
fi

# Usage errors come before anything connects.
printf '%s\nnot a host\n' "$A" >"$tmp.hosts"
"$BIN" --hosts "$tmp.hosts" enum X >"$OUT" 2>"$ERR" </dev/null
st=$?
if [ $st -eq 2 ] && grep -qF -- "--hosts $tmp.hosts line 2: 'not a host'" "$ERR"; then
	pass "a bad line in --hosts: usage error naming the file and line"
else
	fail "a bad line in --hosts" "exit $st"
fi
# compare over many hosts: a comparison record per host, the two backends
# of each at once; a host that cannot be reached compares nothing.
# shellcheck disable=SC2086
"$BIN" -H "$A,$B,$DOWN" $C --json compare enum Win32_Service >"$OUT" 2>"$ERR" </dev/null
st=$?
if [ $st -eq 3 ] && json_check 'len(lines) == 3 and all(by[h]["comparison"]["equal"] and by[h]["exit_status"] == 0 for h in ("'"$A"'", "'"$B"'")) and not by["'"$DOWN"'"]["comparison"]["equal"] and by["'"$DOWN"'"]["exit_status"] == 3'; then
	pass "compare over three hosts: a record each, equal where reachable, exit 3"
else
	fail "compare over three hosts: a record each" "exit $st"
fi
# shellcheck disable=SC2086
"$BIN" -H "$A,$B" $C compare enum Win32_Service >"$OUT" 2>"$ERR" </dev/null
st=$?
if [ $st -eq 0 ] && grep -q "^$A: equal (" "$OUT" && grep -q "^$B: equal (" "$OUT"; then
	pass "compare over two hosts as text: one line each, equal"
else
	fail "compare over two hosts as text" "exit $st"
fi

unset REMSESS_PASSWORD
finish
