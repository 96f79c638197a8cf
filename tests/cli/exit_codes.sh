#!/bin/sh
# The remsess tool driven as a user would: exit statuses and messages.
# Usage: sh exit_codes.sh /path/to/remsess
# Prints PASS/FAIL per check and "N passed, M failed"; exits 1 on any failure.
set -u

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
	echo "usage: sh exit_codes.sh /path/to/remsess" >&2
	exit 2
fi
BIN=$1
unset REMSESS_PASSWORD

tmp=${TMPDIR:-/tmp}/remsess-cli-test.$$
OUT=$tmp.out
ERR=$tmp.err
trap 'rm -f "$OUT" "$ERR"' EXIT INT TERM

passed=0
failed=0
STATUS=0

run() {
	"$BIN" "$@" >"$OUT" 2>"$ERR" </dev/null
	STATUS=$?
}

pass() {
	passed=$((passed + 1))
	echo "PASS $1"
}

fail() {
	failed=$((failed + 1))
	echo "FAIL $1: $2"
	echo "     stdout: $(head -c 400 "$OUT")"
	echo "     stderr: $(head -c 400 "$ERR")"
}

# check NAME STATUS [out|err PATTERN]... -- ARGS...
# Runs the tool with ARGS; passes when it exits with STATUS and each
# stream contains its fixed-string PATTERN.
check() {
	name=$1
	want=$2
	shift 2
	conds=""
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		conds="$conds$1
$2
"
		shift 2
	done
	shift # the --
	run "$@"
	if [ "$STATUS" -ne "$want" ]; then
		fail "$name" "exit status $STATUS, expected $want"
		return
	fi
	# Read the stream/pattern pairs back, one per line.
	why=""
	stream=""
	while IFS= read -r line; do
		if [ -z "$stream" ]; then
			stream=$line
			continue
		fi
		if [ "$stream" = out ]; then file=$OUT; else file=$ERR; fi
		if ! grep -qF -- "$line" "$file"; then
			why="std$stream lacks '$line'"
			break
		fi
		stream=""
	done <<EOF
$conds
EOF
	if [ -n "$why" ]; then
		fail "$name" "$why"
	else
		pass "$name"
	fi
}

# check_not NAME STREAM PATTERN: the last run's STREAM does not contain PATTERN.
check_not() {
	if [ "$2" = out ]; then file=$OUT; else file=$ERR; fi
	if grep -qF -- "$3" "$file"; then
		fail "$1" "std$2 contains '$3'"
	else
		pass "$1"
	fi
}

# ---- offline basics ---------------------------------------------------------
check "version exits 0 and prints the version" 0 out "remsess " -- --version
if grep -Eq '^remsess [0-9]+\.[0-9]+\.[0-9]+$' "$OUT"; then
	pass "version has the form MAJOR.MINOR.PATCH"
else
	fail "version has the form MAJOR.MINOR.PATCH" "got '$(cat "$OUT")'"
fi
check "help exits 0" 0 out "Usage: remsess" out "Exit status" -- --help
check "-h is help" 0 out "Usage: remsess" -- -h
check "no arguments is a usage error" 2 err "no command" err "Try 'remsess --help'." --
check "unknown command" 2 err "unknown command 'frobnicate'" -- frobnicate -H h
check "unknown option" 2 err "unknown option '--frob'" -- --frob enum X
check "missing option value" 2 err "needs a value" -- enum X --port

# ---- option syntax ------------------------------------------------------------
check "port 70000 is refused" 2 err "port" err "70000" -- --port 70000 enum X
check "port 0 is refused" 2 err "--port 0" -- --port 0 enum X -H h
check "port abc is refused" 2 err "--port 'abc' is not a number" -- --port abc enum X -H h
check "negative timeout is refused" 2 err "--timeout -1 is negative" -- --timeout -1 enum X -H h
check "non-numeric timeout is refused" 2 err "--timeout 'soon'" -- --timeout=soon enum X -H h
check "envelope below 8 KB is refused" 2 err "below the minimum of 8" -- --max-envelope-kb 4 enum X -H h
check "bogus backend is refused" 2 err "--backend 'bogus'" -- --backend bogus enum X -H h
check "bogus auth is refused" 2 err "--auth 'bogus'" -- --auth bogus enum X -H h
check "ssh with the CIM backend is refused" 2 err "--transport ssh needs" -- --transport ssh --backend cim enum X -H h
check "KEY without '=' is refused" 2 err "there is no '='" -- get Win32_Service Name -H h
check "empty key is refused" 2 err "the name before '=' is empty" -- get Win32_Service =x -H h
check "missing CLASS is refused" 2 err "enum needs a CLASS" -- enum -H h
check "run needs a command" 2 err "run needs a COMMAND" -- run -H h
check "a computer is required" 2 err "needs a computer" -- enum X

# ---- passwords ------------------------------------------------------------------
check "--password is refused with the reason" 2 err "--password is refused" err "REMSESS_PASSWORD" -- --password x
check "--password=x is refused" 2 err "--password is refused" -- -H h -u admin --password=x enum X
if command -v setsid >/dev/null 2>&1; then
	# No controlling terminal: nowhere to prompt, so say what to do.
	setsid -w "$BIN" -H h -u admin session --backend cim >"$OUT" 2>"$ERR" </dev/null
	STATUS=$?
	if [ "$STATUS" -eq 2 ] && grep -qF "set REMSESS_PASSWORD" "$ERR"; then
		pass "no terminal and no REMSESS_PASSWORD is a usage error"
	else
		fail "no terminal and no REMSESS_PASSWORD is a usage error" "exit $STATUS"
	fi
else
	echo "SKIP no terminal and no REMSESS_PASSWORD (setsid not available)"
fi
REMSESS_PASSWORD=s3cr3t-Pw-77
export REMSESS_PASSWORD
check "REMSESS_PASSWORD is used" 0 out "CimSession" -- -H h -u admin --https session --backend cim
check "Basic over plain http is refused" 2 err "unencrypted" -- -H h -u admin session --backend cim
# The message names the flag the user types, not the library's field.
check "messages name flags, not fields" 2 err "set --allow-unencrypted to accept that" -- -H h -u admin session --backend cim
check_not "no library field name" err "set allow_unencrypted"
check "--allow-unencrypted accepts it" 0 out "CimSession" -- -H h -u admin --allow-unencrypted session --backend cim
check_not "the password is never printed" out "s3cr3t-Pw-77"
unset REMSESS_PASSWORD

# ---- offline commands -------------------------------------------------------------
check "info shows both backends" 0 out "cim" out "pssession" out "when it connects" -- info
check "info --json is one object" 0 out '{"version":' out '"backends":{"cim":' -- info --json
check "session (CIM) opens nothing" 0 out "CimSession" out "connections opened: 0" out "Protocol     : WSMAN" -- session --backend cim -H server1.example
check "session --json" 0 out '"Backend":"cim"' out '"connections_opened":0' -- --json session --backend cim -H server1.example
check "session needs one backend" 2 err "session needs --backend cim or --backend pssession" -- session -H server1.example
check "session with a bad option names it" 2 err "invalid option ca_file (--cacert)" -- session --backend cim -H h --cacert /nonexistent/ca.pem

# ---- remote operations -------------------------------------------------------------
# A PSSession connects at creation: nothing listens on loopback port 1.
check "PSSession creation fails at creation, phase connect" 3 err "connect" -- session --backend pssession -H 127.0.0.1 --port 1
check "run fails at session creation, phase connect" 3 err "connect" -- run -H 127.0.0.1 --port 1 ipconfig /all
# Port 1 on loopback: nothing listens there. The CIM session is created, the
# operation fails to connect: exit 3, the phase named.
check "unreachable host: exit 3 at the operation" 3 err "connect" -- enum Win32_Service -H 127.0.0.1 --port 1 --backend cim
check "compare an unreachable host: the PSSession failed at creation" 3 out "session created       yes                       failed" err "pssession side failed" -- compare enum Win32_Service -H 127.0.0.1 --port 1
check_not "nothing made up on stdout" out "Win32_Service"
check "--json error object" 3 out '{"error":{"code":-9,"name":"RMS_E_CONNECT"' err "connect" -- --json enum Win32_Service -H 127.0.0.1 --port 1

# Against the test endpoint (tests/endpoint/run), started here on loopback.
EP_RUN=$(dirname "$0")/../endpoint/run
if [ -x /usr/bin/python3 ] && [ -x "$EP_RUN" ]; then
	EP_OUT=$tmp.ep
	"$EP_RUN" --port 0 --auth basic --user admin --password 'cli-Pa55' >"$EP_OUT" 2>&1 &
	EP_PID=$!
	trap 'kill $EP_PID 2>/dev/null; rm -f "$OUT" "$ERR" "$EP_OUT"' EXIT INT TERM
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		grep -q listening "$EP_OUT" 2>/dev/null && break
		sleep 0.25
	done
	EP_PORT=$(sed -n 's|^listening http://127.0.0.1:\([0-9]*\)/wsman$|\1|p' "$EP_OUT")
	E="-H 127.0.0.1 --port $EP_PORT -u admin --allow-unencrypted"
	REMSESS_PASSWORD=cli-Pa55
	export REMSESS_PASSWORD
	# shellcheck disable=SC2086
	check "identify" 0 out "ProductVendor    : Microsoft Corporation" -- $E identify
	# shellcheck disable=SC2086
	check "enum (CIM, auto)" 0 out "Name                    : WinRM" -- $E enum Win32_Service
	# shellcheck disable=SC2086
	check "enum --json streams one object per line" 0 out '{"class":"Win32_Service","namespace":"root/cimv2"' -- $E --json enum Win32_Service
	lines=$(wc -l <"$OUT")
	if [ "$lines" -ge 20 ]; then pass "one line per instance ($lines)"; else fail "one line per instance" "$lines lines"; fi
	# shellcheck disable=SC2086
	check "get by key" 0 out "Name                    : WinRM" -- $E get Win32_Service Name=WinRM
	# shellcheck disable=SC2086
	check "query" 0 out "State : Running" -- $E query "SELECT Name, State FROM Win32_Service WHERE State = 'Running'"
	# shellcheck disable=SC2086
	check "invoke an instance method" 0 out "ReturnValue : 0" -- $E invoke Win32_Service StopService Name=Spooler
	# shellcheck disable=SC2086
	check "invoke a static method" 0 out "ProcessId" -- $E invoke Win32_Process Create --arg CommandLine=true
	# shellcheck disable=SC2086
	check "create" 0 out "X_Widget" -- $E create X_Widget Id=cli1 Name=one
	# shellcheck disable=SC2086
	check "set" 0 -- $E set X_Widget Id=cli1 --prop Name=two
	# shellcheck disable=SC2086
	check "the change is there" 0 out "two" -- $E get X_Widget Id=cli1
	# shellcheck disable=SC2086
	check "delete" 0 -- $E delete X_Widget Id=cli1
	# shellcheck disable=SC2086
	check "assoc" 0 out "Win32_Service" -- $E assoc Win32_Service Name=WinRM --assoc-class Win32_DependentService
	# shellcheck disable=SC2086
	check "a server fault: exit 1 with its numbers" 1 err "0x80041010" -- $E enum Win32_NoSuchClass
	# shellcheck disable=SC2086
	check "a bad query: exit 1" 1 err "CannotProcessFilter" -- $E query "SELEC x"
	# shellcheck disable=SC2086
	check "query through the PSSession" 0 out "State : Running" -- $E --backend pssession query "SELECT Name, State FROM Win32_Service WHERE State = 'Running'"
	# shellcheck disable=SC2086
	check "get through the PSSession" 0 out "Name                    : WinRM" -- $E --backend pssession get Win32_Service Name=WinRM
	# shellcheck disable=SC2086
	check "a remote CIM error through the PSSession: exit 1" 1 err "CIM status 5, INVALID_CLASS" -- $E --backend pssession enum Win32_NoSuchClass
	# shellcheck disable=SC2086
	check "compare: equal results exit 0" 0 out "results: equal" out "shells opened" out "session created       yes                       yes" -- $E compare enum Win32_Service
	# shellcheck disable=SC2086
	check "compare: a difference exits 1 and is named" 1 out "differ at [X_Number.Id=3].Words: cim (absent), pssession {}" -- $E compare query "SELECT * FROM X_Number WHERE Id < 5"
	# shellcheck disable=SC2086
	check "compare --json: one record" 0 out '{"operation":"get","equal":true,"difference":null,"sides":{"cim":{"backend":"cim","ok":true' -- $E --json compare get Win32_Service Name=WinRM
	# shellcheck disable=SC2086
	check "getclass: the schema" 0 out "class Win32_Service : CIM_Service" out "[key]" -- $E getclass Win32_Service
	# sessions: the user's shells on the computer, one held open by a command
	# running meanwhile (and none once it is done).
	# shellcheck disable=SC2086
	"$BIN" $E run "sleep 3" >/dev/null 2>&1 &
	RUN_PID=$!
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		/usr/bin/python3 -c "import json, sys, urllib.request; sys.exit(0 if json.load(urllib.request.urlopen('http://127.0.0.1:$EP_PORT/stats'))['shells_open'] == 1 else 1)" && break
		sleep 0.1
	done
	# shellcheck disable=SC2086
	check "sessions --json: the open shell" 0 out '{"class":"Shell","namespace":null' out '"State":"Connected"' out '"ResourceUri":"http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"' -- $E --json sessions
	# shellcheck disable=SC2086
	check "sessions as text" 0 out "State" out "Connected" -- $E sessions
	wait "$RUN_PID"
	# shellcheck disable=SC2086
	check "sessions when none is open: nothing" 0 -- $E sessions
	if [ -s "$OUT" ]; then fail "sessions when none is open prints nothing" "$(head -c 200 "$OUT")"; else pass "sessions when none is open prints nothing"; fi
	# A stalled server: --timeout is the whole call's limit, not that plus a
	# grace (it said 7000 ms for --timeout 2 before).
	/usr/bin/python3 -c "import urllib.request; urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:$EP_PORT/control/fault', data=b'stall'))"
	# shellcheck disable=SC2086
	check "--timeout bounds the whole call" 4 err "time limit of 2000 ms passed" -- $E --timeout 2 enum Win32_Service
	/usr/bin/python3 -c "import urllib.request; urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:$EP_PORT/control/fault', data=b'none'))"
	REMSESS_PASSWORD=wrong
	# shellcheck disable=SC2086
	check "compare with a wrong password: both sides fail, exit 3 (the CIM side's)" 3 err "pssession side failed" -- $E compare enum Win32_Service
	# shellcheck disable=SC2086
	check "wrong password: exit 3 at the first operation" 3 err "authenticate" -- $E enum Win32_Service
	check_not "the password is not shown" err "wrong"
	unset REMSESS_PASSWORD
	kill "$EP_PID" 2>/dev/null
	wait "$EP_PID" 2>/dev/null
else
	echo "SKIP endpoint checks: no /usr/bin/python3 or $EP_RUN"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
