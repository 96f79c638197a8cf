#!/bin/sh
# The demo: install what is missing, build, start the bundled test endpoint
# (a WinRM-compatible server on loopback) and show what remsess does against
# it. Every line below runs the real tool; nothing is canned.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
sh scripts/build.sh
rms=${RMS_BUILD_DIR:-build}/remsess

ep_out=$(mktemp)
tests/endpoint/run --port 0 --auth basic --user demo --password demo-Pa55 >"$ep_out" 2>&1 &
ep_pid=$!
ps_dir="" # the demo's private sshd (PowerShell part), when started
kdc_pid="" # the demo's own KDC and its Windows-like endpoint (login part), when started
gss_pid=""
kdc_dir=""
cleanup() {
	kill "$ep_pid" 2>/dev/null || :
	rm -f "$ep_out"
	[ -z "$gss_pid" ] || kill "$gss_pid" 2>/dev/null || :
	[ -z "$kdc_pid" ] || kill "$kdc_pid" 2>/dev/null || :
	[ -z "$kdc_dir" ] || { sleep 0.2; rm -rf "$kdc_dir" "$kdc_dir.out" "$kdc_dir.ep"; }
	if [ -n "$ps_dir" ]; then
		if [ -s "$ps_dir/sshd.pid" ]; then kill "$(cat "$ps_dir/sshd.pid")" 2>/dev/null || :; fi
		rm -rf "$ps_dir"
	fi
}
trap 'cleanup' EXIT
trap 'exit 130' INT TERM
i=0
until grep -q listening "$ep_out" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 40 ] || { echo "the test endpoint did not start:"; cat "$ep_out"; exit 1; }
	sleep 0.25
done
url=$(sed -n 's/^listening //p' "$ep_out")
port=$(echo "$url" | sed 's|.*:\([0-9]*\)/wsman|\1|')
REMSESS_PASSWORD=demo-Pa55
export REMSESS_PASSWORD
ep="-H 127.0.0.1 --port $port -u demo --allow-unencrypted"

# An argument as a shell would need it typed: quoted when it has spaces,
# quotes or other special characters.
quote() {
	case $1 in
	*[!A-Za-z0-9_./:=,@%+-]* | '') ;;
	*) printf '%s' "$1"; return ;;
	esac
	case $1 in
	*\'*) ;;
	*) printf "'%s'" "$1"; return ;;
	esac
	case $1 in
	*[\"\$\`\\!]*) printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")" ;;
	*) printf '"%s"' "$1" ;;
	esac
}

show() {
	printf '\n$ remsess'
	for arg in "$@"; do printf ' %s' "$(quote "$arg")"; done
	printf '\n'
	set +e
	# shellcheck disable=SC2086
	"$rms" "$@"
	rc=$?
	set -e
	printf '(exit %d)\n' "$rc"
}

stats() {
	# The endpoint's own counters: what it saw on the wire.
	/usr/bin/python3 -c "import json,sys,urllib.request
d=json.load(urllib.request.urlopen('http://127.0.0.1:$port/stats'))
print('   endpoint saw: %d connections, %d requests, %d open now, %d shells' % (
    d['connections_accepted'], d['requests_total'], d['connections_open'], d['shells_created']))"
}

cat <<TXT
== remsess demo ==
remsess gives one remote-session interface over two backends: a CIM session
(New-CimSession: lazy, client-side CIM over WS-Man) and a PSSession
(New-PSSession: eager, one persistent remote shell).
The bundled test endpoint plays a Windows host at $url
TXT

echo; echo "-- what is built: version, features and the two backends"
show info

echo; echo "-- a CIM session opens nothing when it is created"
# shellcheck disable=SC2086
show $ep session --backend cim
stats

echo; echo "-- WS-Identify, then CIM operations: each connects, runs, and closes"
# shellcheck disable=SC2086
show $ep identify
# shellcheck disable=SC2086
show $ep query "SELECT Name, State, StartMode FROM Win32_Service WHERE Name LIKE 'Win%'"
# shellcheck disable=SC2086
show $ep --json get Win32_Service Name=WinRM
# shellcheck disable=SC2086
show $ep invoke Win32_Service StopService Name=Spooler
stats

echo; echo "-- a large class is pulled in pages (here 1000 instances), memory stays flat"
# shellcheck disable=SC2086
printf '\n$ remsess %s | wc -l\n' "$ep --json enum X_Number"
# shellcheck disable=SC2086
"$rms" $ep --json enum X_Number | wc -l
stats

echo; echo "-- server errors keep their numbers"
# shellcheck disable=SC2086
show $ep enum Win32_NoSuchClass

echo; echo "-- a PSSession connects, authenticates and opens its remote shell at creation,"
echo "   and keeps that one connection and shell; commands run on the remote computer"
# shellcheck disable=SC2086
show $ep session --backend pssession
# shellcheck disable=SC2086
show $ep run -- 'echo hello from the remote shell; uname -s; exit 3'
stats

echo; echo "-- New-PSSession over WinRM: a PSSession speaking PowerShell remoting opens a runspace"
echo "   pool in a PowerShell shell at creation (the endpoint hands each such shell to a real"
echo "   pwsh 7.6, as Windows hands it to wsmprovhost.exe); a pipeline returns typed objects"
if grep -q "pwsh" "$ep_out" 2>/dev/null || [ -x "${RMS_PWSH:-/nonexistent}" ] || [ -x "$HOME/.dotnet/tools/pwsh" ] || command -v pwsh >/dev/null 2>&1; then
	# shellcheck disable=SC2086
	show $ep --protocol powershell session --backend pssession
	# shellcheck disable=SC2086
	show $ep ps --json '[pscustomobject]@{ Name = "WinRM"; Status = "Running"; Since = [datetime]"2026-12-01T08:00:00Z"; Pid = 1234 }; Write-Warning "a warning, on stderr"'
	stats
else
	echo "   (skipped: no pwsh here; scripts/deps.sh installs it when the .NET SDK is present)"
fi

echo; echo "-- the same kind of query through the PSSession: it runs on the remote computer as a"
echo "   Get-CimInstance command (the target needs PowerShell), only its output comes back"
# shellcheck disable=SC2086
show $ep --backend pssession query "SELECT Name, State FROM Win32_Service WHERE Name LIKE 'Win%'"

echo; echo "-- side by side: one query on both backends of the target, and the comparison record"
# shellcheck disable=SC2086
show $ep compare query "SELECT Name, State, StartMode FROM Win32_Service WHERE StartMode = 'Auto'"
stats

echo; echo "-- many computers from one thread: the same query on three targets at once (two"
echo "   reach the endpoint, one is down); one line per target as it finishes, exit status"
echo "   of the worst"
show -H "http://127.0.0.1:$port/wsman,http://localhost:$port/wsman,http://127.0.0.1:1/wsman" -u demo --allow-unencrypted --throttle 2 query "SELECT Name FROM Win32_Service WHERE Name LIKE 'Win%'"

echo; echo "-- an unreachable computer fails the PSSession right at creation (a CIM session"; echo "   would be created, and fail at its first operation)"
show -H 127.0.0.1 --port 1 session --backend pssession

echo; echo "-- a default Windows host: Kerberos or NTLM, every message encrypted (it refuses"
echo "   plaintext). A KDC of the demo's own (realm REMSESS.TEST, MIT krb5) and the endpoint"
echo "   in that shape; remsess logs in through GSSAPI and seals each body"
if command -v krb5kdc >/dev/null 2>&1 || [ -x /usr/sbin/krb5kdc ]; then
	kdc_dir=$(mktemp -u /tmp/remsess-demo-kdc.XXXXXX)
	tests/endpoint/kdc --dir "$kdc_dir" >"$kdc_dir.out" 2>&1 &
	kdc_pid=$!
	i=0
	until grep -q '^ready' "$kdc_dir.out" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 40 ] || { echo "the KDC did not start:"; cat "$kdc_dir.out"; exit 1; }
		sleep 0.25
	done
	KRB5_CONFIG=$(sed -n 's/^KRB5_CONFIG=//p' "$kdc_dir.out")
	KRB5CCNAME=MEMORY:remsess-demo
	export KRB5_CONFIG KRB5CCNAME
	tests/endpoint/run --port 0 --auth negotiate --keytab "$kdc_dir/http.keytab" \
		--ntlm-user-file "$kdc_dir/ntlm_users" >"$kdc_dir.ep" 2>&1 &
	gss_pid=$!
	i=0
	until grep -q listening "$kdc_dir.ep" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 40 ] || { echo "the endpoint did not start:"; cat "$kdc_dir.ep"; exit 1; }
		sleep 0.25
	done
	gss_port=$(sed -n 's|^listening http://127.0.0.1:\([0-9]*\)/wsman|\1|p' "$kdc_dir.ep")
	REMSESS_PASSWORD=Pa55-word
	show -H localhost --port "$gss_port" -u admin@REMSESS.TEST --auth kerberos identify
	show -H localhost --port "$gss_port" -u 'REMSESS\admin' --auth ntlm --backend pssession run -- 'echo sealed both ways'
	echo; echo "-- the host given as an IP address: no service principal is registered under it"
	show -H 127.0.0.1 --port "$gss_port" -u admin@REMSESS.TEST --auth kerberos identify
	/usr/bin/python3 -c "import json,urllib.request
d=json.load(urllib.request.urlopen('http://127.0.0.1:$gss_port/stats'))
print('   endpoint saw: %d logins (%s), %d encrypted requests, %d refused as plaintext' % (
    d.get('auth_handshakes', 0), ', '.join('%s %d' % kv for kv in sorted(d.get('auth_by_mech', {}).items())),
    d.get('encrypted_requests', 0), d.get('plaintext_refused', 0)))"
	REMSESS_PASSWORD=demo-Pa55
else
	echo "   (skipped: no krb5-kdc here; scripts/deps.sh installs it)"
fi

echo; echo "-- options are validated offline, each error names what is wrong"
show -H server1.example --port 70000 enum Win32_Service
show -H server1.example -u admin enum Win32_Service
show -H server1.example --password hunter2 enum Win32_Service

echo; echo "-- PowerShell remoting over SSH: a PSSession to a real PowerShell 7.6, running as the"
echo "   SSH server's powershell subsystem; a pipeline returns typed objects"
pwsh=""
if [ -n "${RMS_PWSH:-}" ] && [ -x "$RMS_PWSH" ]; then
	pwsh=$RMS_PWSH
elif [ -x "$HOME/.dotnet/tools/pwsh" ]; then
	pwsh=$HOME/.dotnet/tools/pwsh
elif command -v pwsh >/dev/null 2>&1; then
	pwsh=$(command -v pwsh)
fi
if [ -z "$pwsh" ]; then
	echo "   the PowerShell part is skipped: PowerShell 7.6 (pwsh) is not installed;"
	echo "   scripts/deps.sh installs it when the .NET SDK is there (RMS_PWSH names another)"
elif [ "$(id -u)" -ne 0 ]; then
	echo "   the PowerShell part is skipped: the demo's private sshd must run as root to"
	echo "   log a user in, and this demo runs as $(id -un)"
else
	ps_dir=$(mktemp -d /tmp/remsess-demo.XXXXXX)
	ps_port=$(sh scripts/demo-sshd.sh "$ps_dir" "$pwsh")
	echo "   a private sshd listens on 127.0.0.1:$ps_port (Subsystem powershell $pwsh -sshs),"
	echo "   with generated host and user keys; remsess checks the host key against the"
	echo "   known_hosts file given"
	ps_ssh="--transport ssh -H 127.0.0.1 --port $ps_port -u $(id -un) -i $ps_dir/id_ed25519 --known-hosts $ps_dir/known_hosts"

	echo; echo "-- the PSSession is eager: creating it connects, checks the host key, authenticates,"
	echo "   starts the subsystem and opens a runspace pool, before anything runs (-v shows"
	echo "   each step); one without that subsystem fails right there, exit 3"
	# shellcheck disable=SC2086
	show $ps_ssh --protocol powershell -v session --backend pssession
	# shellcheck disable=SC2086
	show $ps_ssh ps '1..3'
	# shellcheck disable=SC2086
	show $ps_ssh ps --subsystem nosuch '1..3'

	echo; echo "-- typed objects: with --json each output object is one JSON line, its numbers,"
	echo "   dates and lists kept"
	# shellcheck disable=SC2086
	show $ps_ssh ps --json 'Get-Item /etc/hostname | Select-Object Name, Length, LastWriteTime'
	# shellcheck disable=SC2086
	show $ps_ssh ps --json '[pscustomobject]@{ Name = "disk"; SizeGB = [decimal]12.5; When = [datetime]"2026-12-07"; Tags = @("a","b") }'

	echo; echo "-- the other streams go to stderr, each record with its stream's prefix; a"
	echo "   non-terminating error does not stop the pipeline (exit 0), a terminating one"
	echo "   fails it (exit 1)"
	# shellcheck disable=SC2086
	show $ps_ssh ps 'Write-Warning "low disk"; Write-Error "oops"; "still running"'
	# shellcheck disable=SC2086
	show $ps_ssh ps 'throw "boom"'
fi

echo
echo "Run the test suite with: sh scripts/check.sh"
