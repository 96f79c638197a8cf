#!/bin/sh
# `remsess run` forwards its stdin to the remote command: against the test
# endpoint (tests/endpoint/run, started here on loopback), whose WinRS shell
# runs real /bin/sh processes.
# Usage: sh run_stdin.sh /path/to/remsess
# Prints PASS/FAIL per check and "N passed, M failed"; exits 1 on any failure.
set -u

NAME=run_stdin
. "$(dirname "$0")/lib.sh"

# stat PORT KEY: a counter from the endpoint's /stats.
stat() {
	/usr/bin/python3 -c 'import json, sys, urllib.request
print(json.load(urllib.request.urlopen("http://127.0.0.1:%s/stats" % sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

# settled PORT KEY WANT: polls a counter the endpoint updates asynchronously
# (a killed process is reaped by a thread) for up to 5 s; prints its value.
settled() {
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		v=$(stat "$1" "$2")
		[ "$v" = "$3" ] && break
		sleep 0.25
	done
	echo "$v"
}

REMSESS_PASSWORD=cli-Pa55
export REMSESS_PASSWORD

start_endpoint main
E="-H 127.0.0.1 --port $PORT -u admin --allow-unencrypted"
MAIN=$PORT

# shellcheck disable=SC2086
printf 'hello\nworld' | "$BIN" $E run -- cat >"$OUT" 2>"$ERR"
st=$?
if [ $st -eq 0 ] && [ "$(cat "$OUT")" = "$(printf 'hello\nworld')" ]; then
	pass "a pipe reaches the remote command's stdin"
else
	fail "a pipe reaches the remote command's stdin" "exit $st"
fi

# shellcheck disable=SC2086
printf 'abc' | "$BIN" $E run -- 'read x; echo "got $x" >&2; exit 7' >"$OUT" 2>"$ERR"
st=$?
if [ $st -eq 7 ] && grep -q "got abc" "$ERR"; then
	pass "stdin, stderr and the remote exit code together"
else
	fail "stdin, stderr and the remote exit code together" "exit $st, expected 7"
fi

# shellcheck disable=SC2086
"$BIN" $E run -- wc -c <"/dev/null" >"$OUT" 2>"$ERR"
st=$?
if [ $st -eq 0 ] && [ "$(tr -d ' ' <"$OUT")" = "0" ]; then
	pass "/dev/null: end of input at once"
else
	fail "/dev/null: end of input at once" "exit $st"
fi

before=$(stat "$MAIN" stdin_bytes)
# shellcheck disable=SC2086
printf 'not sent' | "$BIN" $E run --no-stdin -- echo ok >"$OUT" 2>"$ERR"
st=$?
after=$(stat "$MAIN" stdin_bytes)
if [ $st -eq 0 ] && [ "$(cat "$OUT")" = "ok" ] && [ "$before" = "$after" ]; then
	pass "--no-stdin sends none of it"
else
	fail "--no-stdin sends none of it" "exit $st, stdin_bytes $before -> $after"
fi

# A stdin that cannot be read (a directory): exit 1, the reason named, the
# remote command stopped and the shell deleted.
# shellcheck disable=SC2086
"$BIN" $E run -- cat >"$OUT" 2>"$ERR" </
st=$?
if [ $st -eq 1 ] && grep -q "reading stdin: Is a directory" "$ERR" &&
	[ "$(settled "$MAIN" commands_running 0)" = 0 ] && [ "$(stat "$MAIN" shells_open)" = 0 ]; then
	pass "an unreadable stdin stops the command: exit 1, reason named"
else
	fail "an unreadable stdin stops the command" "exit $st"
fi

# shellcheck disable=SC2086
"$BIN" $E enum Win32_Service --stdin >"$OUT" 2>"$ERR" </dev/null
st=$?
if [ $st -eq 2 ] && grep -q -- "--stdin is only for the run command" "$ERR"; then
	pass "--stdin is for run only"
else
	fail "--stdin is for run only" "exit $st"
fi

# 2 MB through a 32 KB envelope limit: split into Sends that fit (none over
# the limit), streamed, and intact (same SHA-256 on the remote side).
start_endpoint small --max-envelope-kb 32
SMALL=$PORT
head -c 2097152 /dev/urandom >"$tmp.in"
want=$(sha256sum <"$tmp.in" | cut -d' ' -f1)
# shellcheck disable=SC2086
"$BIN" -H 127.0.0.1 --port "$SMALL" -u admin --allow-unencrypted --max-envelope-kb 32 \
	run -- sha256sum <"$tmp.in" >"$OUT" 2>"$ERR"
st=$?
got=$(cut -d' ' -f1 <"$OUT")
sends=$(/usr/bin/python3 -c 'import json, sys, urllib.request
s = json.load(urllib.request.urlopen("http://127.0.0.1:%s/stats" % sys.argv[1]))
print(s["requests_by_action"].get("Send", 0))' "$SMALL")
if [ $st -eq 0 ] && [ "$got" = "$want" ]; then
	pass "2 MB of stdin arrives intact ($sends Sends)"
else
	fail "2 MB of stdin arrives intact" "exit $st, sha256 $got, expected $want"
fi
if [ "$(stat "$SMALL" stdin_bytes)" = 2097152 ] && [ "$(stat "$SMALL" envelopes_over_limit)" = 0 ] &&
	[ "$sends" -gt 64 ]; then
	pass "every Send under the 32 KB limit, 2097152 bytes counted"
else
	fail "every Send under the 32 KB limit" "stdin_bytes $(stat "$SMALL" stdin_bytes), over $(stat "$SMALL" envelopes_over_limit), sends $sends"
fi
largest=$(stat "$SMALL" largest_request_body)
if [ "$largest" -le 32768 ]; then
	pass "largest request $largest bytes <= 32768"
else
	fail "largest request under the limit" "$largest bytes"
fi

unset REMSESS_PASSWORD
finish
