#!/usr/bin/env bash
# remsess against the peer WinRM clients (pywinrm, Go's masterzen/winrm), all
# three in every run of ../shared/peers/run_peers.sh, unpinned and pinned, and
# the median over the runs of each figure and of each run's ratios (the peers
# measured in the same minute are the fairest yardstick on a shared machine).
#
#   bench/peers.sh COMMANDS [RUNS] [N]     (defaults: 3 runs of 2000 commands)
#
# COMMANDS is bench/commands of a Release build (its peers'-driver form:
# URL N persistent|fresh). remsess runs twice per mode: given MaxEnvelopeSize
# (RMS_BENCH_MAX_ENVELOPE=512000, so a session sends 5 requests per command,
# as the peers do) and without it ("remsess-7": Identify and the winrm/config
# Get as well). The peers ignore that variable.
# Env: PEERS_DIR (default ../shared/peers beside this repository), PINS
# (default "0 1"), LOG (keep every run's output there; default a temp file).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cmds=${1:?usage: bench/peers.sh COMMANDS [RUNS] [N]}
runs=${2:-3}
n=${3:-2000}
peers_dir=${PEERS_DIR:-$here/../../shared/peers}
pins=${PINS:-0 1}
cmds=$(cd "$(dirname "$cmds")" && pwd)/$(basename "$cmds")
[ -x "$cmds" ] || { echo "peers.sh: $cmds is not executable" >&2; exit 2; }
[ -x "$peers_dir/run_peers.sh" ] || { echo "peers.sh: no $peers_dir/run_peers.sh" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=${LOG:-$tmp/log}
: >"$log"
# The same driver without the variable: a session learns MaxEnvelopeSize.
printf '#!/bin/sh\nexec env -u RMS_BENCH_MAX_ENVELOPE "%s" "$@"\n' "$cmds" >"$tmp/remsess7"
chmod +x "$tmp/remsess7"

names="pywinrm go remsess remsess-7"
modes="persistent fresh"
for pin in $pins; do
	for r in $(seq "$runs"); do
		load0=$(cut -d' ' -f1-3 /proc/loadavg)
		out=$(RMS_BENCH_MAX_ENVELOPE=512000 PIN=$pin MODES="$modes" \
			PEERS="pywinrm go remsess=$cmds remsess7=$tmp/remsess7" \
			"$peers_dir/run_peers.sh" auto "$n" 2>"$tmp/err") ||
			{ cat "$tmp/err" >&2; exit 1; }
		load1=$(cut -d' ' -f1-3 /proc/loadavg)
		{
			echo "## pin=$pin run=$r load before: $load0 after: $load1"
			echo "$out"
		} | tee -a "$log" >&2
		# One record per driver line, in run_peers.sh's order (peers, then modes).
		echo "$out" | awk -v pin="$pin" -v run="$r" -v names="$names" -v modes="$modes" \
			-v load="$load0 / $load1" '
			BEGIN { np = split(names, pn, " "); nm = split(modes, mn, " "); k = 0 }
			/^#   per command:/ {
				pre = "";
				for (i = 1; i <= NF; i++) {
					if ($i == "server:") pre = "server_";
					if (split($i, kv, "=") == 2) v[pre kv[1]] = kv[2];
				}
				p = pn[int(k / nm) + 1]; m = mn[k % nm + 1]; k++;
				print pin, run, p, m, v["cpu_us"], v["wall_us"], v["server_cpu_us"] + 0, v["server_requests"] + 0, load;
			}' >>"$tmp/records"
	done
done

# Records: pin run client mode cpu_us wall_us server_cpu_us requests load...
awk '
	{
		key = $1 " " $3 " " $4; c[key]++;
		cpu[key, c[key]] = $5; wall[key, c[key]] = $6; srv[key, c[key]] = $7; req[key] = $8;
		run_cpu[$1, $2, $3, $4] = $5;
	}
	function median(a, key, n,    i, j, t, x) {
		for (i = 1; i <= n; i++) x[i] = a[key, i];
		for (i = 2; i <= n; i++) for (j = i; j > 1 && x[j - 1] > x[j]; j--) { t = x[j]; x[j] = x[j - 1]; x[j - 1] = t }
		return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2;
	}
	END {
		printf "%-4s %-10s %-10s %10s %10s %10s %9s\n", "pin", "client", "mode", "cpu_us/cmd", "wall_us/cmd", "server_us", "requests";
		split("pywinrm go remsess remsess-7", pn, " "); split("persistent fresh", mn, " ");
		for (pin = 0; pin <= 1; pin++) for (i = 1; i <= 4; i++) for (j = 1; j <= 2; j++) {
			key = pin " " pn[i] " " mn[j];
			if (!(key in c)) continue;
			printf "%-4s %-10s %-10s %10.0f %10.0f %10.0f %9.2f\n", pin, pn[i], mn[j], median(cpu, key, c[key]),
			       median(wall, key, c[key]), median(srv, key, c[key]), req[key];
		}
		print "";
		print "ratios of client CPU per command, median over the runs of each run'"'"'s ratio:";
		for (pin = 0; pin <= 1; pin++) {
			for (j = 1; j <= 2; j++) {
				n = 0;
				for (r = 1; (pin, r, "remsess", mn[j]) in run_cpu; r++) {
					n++;
					rg[n] = run_cpu[pin, r, "remsess", mn[j]] / run_cpu[pin, r, "go", mn[j]];
					rp[n] = run_cpu[pin, r, "remsess", mn[j]] / run_cpu[pin, r, "pywinrm", mn[j]];
					r7[n] = run_cpu[pin, r, "remsess-7", mn[j]] / run_cpu[pin, r, "go", mn[j]];
				}
				if (!n) continue;
				for (r = 1; r <= n; r++) { g["x", r] = rg[r]; p["x", r] = rp[r]; s["x", r] = r7[r] }
				printf "pin=%d %-10s remsess/go %.3f  remsess/pywinrm %.3f  remsess-7/go %.3f  (runs: %d)\n",
				       pin, mn[j], median(g, "x", n), median(p, "x", n), median(s, "x", n), n;
			}
		}
	}' "$tmp/records"
echo "goals (issue 20): persistent remsess/go <= 0.200, remsess/pywinrm <= 0.050; fresh remsess/go <= 0.333"
[ -n "${LOG:-}" ] && echo "every run's output: $log"
exit 0
