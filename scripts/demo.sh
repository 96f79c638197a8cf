#!/bin/sh
# The demo: install what is missing, build, and show what this build of
# remsess does. Every line below runs the real tool; nothing is canned.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
sh scripts/build.sh
rms=${RMS_BUILD_DIR:-build}/remsess

show() {
	printf '\n$ remsess %s\n' "$*"
	set +e
	"$rms" "$@"
	rc=$?
	set -e
	printf '(exit %d)\n' "$rc"
}

cat <<'TXT'
== remsess demo ==
remsess gives one remote-session interface over two backends: a CIM session
(New-CimSession: lazy, client-side CIM over WS-Man) and a PSSession
(New-PSSession: eager, one persistent remote shell).
TXT

echo; echo "-- what is built: version, features and the two backends"
show info

echo; echo "-- a CIM session opens nothing when it is created (note: 0 connections)"
show session --backend cim -H server1.example

echo; echo "-- a PSSession connects at creation, so it fails right there; this build has"
echo "   no WinRM transport yet, and says so instead of pretending"
show session --backend pssession -H 127.0.0.1

echo; echo "-- options are validated offline, each error names what is wrong"
show -H server1.example --port 70000 enum Win32_Service
REMSESS_PASSWORD=demo-only; export REMSESS_PASSWORD
show -H server1.example -u admin --auth ntlm enum Win32_Service
unset REMSESS_PASSWORD
show -H server1.example --password hunter2 enum Win32_Service

echo; echo "-- the per-call backend rule (AUTO): CIM work goes to the CIM backend,"
echo "   which reports honestly that its WS-Man client is not built yet"
show -H server1.example --json enum Win32_Service

echo
echo "Run the test suite with: sh scripts/check.sh"
