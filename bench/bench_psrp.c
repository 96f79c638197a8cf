/*
 * PowerShell remoting (PSRP) over SSH: remsess against pwsh as the client,
 * on one warm PSSession each, against the same OpenSSH server started here
 * on loopback (tests/support/sshd.c) serving real PowerShell 7.6 as its
 * `powershell` subsystem (`pwsh -sshs -NoLogo -NoProfile`), in the same run.
 *
 *   bench/psrp [-r] [N]     (N: commands per side, default 200;
 *                            -r: the remsess side only, for a profiler)
 *
 * Per side, remsess first, then pwsh (each with its own server pwsh):
 * 1. Open one PSSession (runspace pool): wall time, and client CPU spent
 *    during the open.
 * 2. WARMUP pipelines `1`, not timed; then N pipelines `1` one after
 *    another on that session, each result checked: commands/s (wall) and
 *    client CPU per command.
 * 3. One untimed pipeline `1..10000`, then BIG_RUNS timed ones: objects/s
 *    and client CPU per object (the median of the runs; each run shown).
 * 4. Close it and open a second session, timed: the first open in a process
 *    also pays for loading code, and in pwsh for JIT-compiling it.
 *
 * remsess: this process, getrusage(RUSAGE_SELF) user + sys; libssh2 runs in
 * it, so its figures include the SSH encryption. pwsh: bench/psrp_client.ps1
 * run in a pwsh started here (Invoke-Command -Session $s { ... }), timed by
 * [Diagnostics.Stopwatch] and its own TotalProcessorTime (every thread of
 * the process: the .NET runtime's GC and background JIT included);
 * New-PSSession runs the system `ssh` as a child process that does the SSH
 * part, so its CPU is read apart (from /proc, by the script) and shown both
 * without and with it. After pwsh exits, getrusage(RUSAGE_CHILDREN) gives
 * the CPU of the whole pwsh process tree over its life (start-up, the
 * dotnet tool's launcher and ssh included), a check on the script's own
 * figures. The server side (sshd, the server's pwsh) is other processes
 * and counted in neither; for remsess's run its CPU is read from /proc (the
 * descendants of this sshd only), to say where the wall time goes.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "measure.h"
#include "pwsh.h"
#include "remsess/remsess.h"
#include "sshd.h"

#ifndef RMS_BENCH_DIR
#define RMS_BENCH_DIR "bench"
#endif

#define WARMUP 5
#define BIG 10000
#define BIG_RUNS 3 /* runs of 1..10000 per side; the median of each figure is shown */

static char pwsh_version[32] = "?"; /* as the client script reports it */

struct side {
	double open_wall, open_cpu; /* seconds */
	/* a second session, opened after the first was closed: the first in a
	 * process also pays for loading code (and, in pwsh, compiling it) */
	double open2_wall, open2_cpu, open2_ssh;
	double cmd_wall, cmd_cpu;          /* over the N commands */
	double cmd_sys, big_sys[BIG_RUNS]; /* the kernel's part of cmd_cpu, big_cpu */
	/* the 1..10000 pipeline, per run */
	double big_wall[BIG_RUNS], big_cpu[BIG_RUNS];
	/* pwsh only: its ssh child, apart */
	double open_ssh, cmd_ssh, big_ssh[BIG_RUNS];
	/* remsess only: the server side's CPU (sshd's descendants) */
	double srv_open, srv_cmd, srv_big[BIG_RUNS];
	/* remsess only: PSRP bytes (rms_session_stats) over the N commands */
	double cmd_sent, cmd_recv;
};

/* User plus system CPU seconds of process pid (all its threads), from
 * /proc; 0 where that cannot be read. */
static double proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	size_t len = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
	if (f)
		fclose(f);
	buf[len] = '\0';
	/* The command name may hold spaces: fields are counted after its ')'.
	 * utime and stime are fields 14 and 15, the 12th and 13th after it. */
	char *p = strrchr(buf, ')');
	unsigned long long ut, st;
	if (!p ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds of every living process descended from root (not root
 * itself): for the sshd listener, the server side of every connection (the
 * sshd session process, the `sh -c` it runs the subsystem with, and pwsh,
 * the dotnet tool's launcher and the dotnet process under it). Only
 * descendants count: other programs on the machine may run their own sshd
 * and pwsh. */
static double descendants_cpu_s(pid_t root)
{
	enum { MAXP = 32768 };
	static pid_t pids[MAXP], parents[MAXP];
	static bool in[MAXP];
	size_t np = 0;
	DIR *dir = opendir("/proc");
	struct dirent *e;
	while (dir && (e = readdir(dir)) && np < MAXP) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		char path[300], buf[512];
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		size_t len = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
		if (f)
			fclose(f);
		buf[len] = '\0';
		char *q = strrchr(buf, ')');
		int ppid;
		if (!q || sscanf(q + 1, " %*c %d", &ppid) != 1)
			continue;
		pids[np] = atoi(e->d_name);
		parents[np] = ppid;
		in[np] = false;
		np++;
	}
	if (dir)
		closedir(dir);
	/* Mark descendants until nothing changes (the table is small). */
	bool more = true;
	while (more) {
		more = false;
		for (size_t i = 0; i < np; i++) {
			if (in[i])
				continue;
			bool parent_in = parents[i] == root;
			for (size_t j = 0; j < np && !parent_in; j++)
				parent_in = in[j] && pids[j] == parents[i];
			if (parent_in)
				in[i] = more = true;
		}
	}
	double total = 0;
	for (size_t i = 0; i < np; i++)
		if (in[i])
			total += proc_cpu_s(pids[i]);
	return total;
}

/* System (kernel) CPU seconds of this process: the part of cpu_s() spent
 * in system calls (poll, read, write on the socket). */
static double sys_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double children_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Run script on s; every output object is counted and freed. want1: the
 * pipeline must give exactly the Int32 1. Returns the number of objects,
 * or -1 (reason on stderr). */
static long run(rms_session *s, const char *script, bool want1)
{
	rms_request *req = NULL;
	rms_op *op = NULL;
	if (rms_request_new(&req, RMS_OP_POWERSHELL) || rms_request_set_script(req, script) ||
	    rms_op_start(&op, s, req)) {
		fprintf(stderr, "remsess: starting `%s`: %s\n", script,
		        rms_error_message(rms_error_last()));
		rms_request_free(req);
		return -1;
	}
	rms_request_free(req);
	long n = 0;
	bool good = true;
	rms_ps_stream st;
	rms_value *v;
	int rc;
	while ((rc = rms_op_next_object(op, &st, &v)) == 0) {
		if (st != RMS_PS_OUTPUT) {
			good = false;
		} else if (want1) {
			int32_t x = 0;
			if (rms_value_get_sint32(v, &x) || x != 1)
				good = false;
		}
		n++;
		rms_value_free(v);
	}
	if (rc != RMS_ITEROVER)
		fprintf(stderr, "remsess: `%s`: %s\n", script, rms_error_message(rms_op_error(op)));
	rms_op_free(op);
	if (rc != RMS_ITEROVER)
		return -1;
	if (!good || (want1 && n != 1)) {
		fprintf(stderr, "remsess: `%s` gave something else (%ld objects)\n", script, n);
		return -1;
	}
	return n;
}

static int bench_remsess(const rms_sshd *d, int n, struct side *r)
{
	rms_session_options o = rms_sshd_session_options(d);
	o.pssession_v2.protocol = RMS_PS_PROTOCOL_POWERSHELL;
	rms_session *s = NULL;

	double t0 = now_s(), k0 = cpu_s();
	if (rms_session_new(&s, RMS_BACKEND_PSSESSION, &o)) {
		fprintf(stderr, "remsess: opening the session: %s\n",
		        rms_error_message(rms_error_last()));
		return -1;
	}
	r->open_wall = now_s() - t0;
	r->open_cpu = cpu_s() - k0;
	/* Read between the timed spans: reading /proc costs this process. */
	r->srv_open = descendants_cpu_s(d->pid);

	int rc = -1;
	for (int i = 0; i < WARMUP; i++)
		if (run(s, "1", true) < 0)
			goto out;
	rms_stats st0 = {.version = RMS_STATS_VERSION}, st1 = st0;
	rms_session_stats(s, &st0);
	double s0 = descendants_cpu_s(d->pid);
	t0 = now_s();
	k0 = cpu_s();
	double y0 = sys_s();
	for (int i = 0; i < n; i++)
		if (run(s, "1", true) < 0)
			goto out;
	r->cmd_wall = now_s() - t0;
	r->cmd_cpu = cpu_s() - k0;
	r->cmd_sys = sys_s() - y0;
	r->srv_cmd = descendants_cpu_s(d->pid) - s0;
	rms_session_stats(s, &st1);
	r->cmd_sent = (double)(st1.bytes_sent - st0.bytes_sent);
	r->cmd_recv = (double)(st1.bytes_received - st0.bytes_received);

	if (run(s, "1..10000", false) != BIG)
		goto out;
	for (int k = 0; k < BIG_RUNS; k++) {
		s0 = descendants_cpu_s(d->pid);
		t0 = now_s();
		k0 = cpu_s();
		y0 = sys_s();
		long got = run(s, "1..10000", false);
		r->big_wall[k] = now_s() - t0;
		r->big_cpu[k] = cpu_s() - k0;
		r->big_sys[k] = sys_s() - y0;
		r->srv_big[k] = descendants_cpu_s(d->pid) - s0;
		if (got != BIG) {
			fprintf(stderr, "remsess: 1..10000 gave %ld objects\n", got);
			goto out;
		}
	}
	rms_session_free(s);
	s = NULL;
	t0 = now_s();
	k0 = cpu_s();
	if (rms_session_new(&s, RMS_BACKEND_PSSESSION, &o)) {
		fprintf(stderr, "remsess: opening the second session: %s\n",
		        rms_error_message(rms_error_last()));
		goto out;
	}
	r->open2_wall = now_s() - t0;
	r->open2_cpu = cpu_s() - k0;
	rc = 0;
out:
	rms_session_free(s);
	return rc;
}

static double num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : -1;
}

/* The pwsh side: bench/psrp_client.ps1 in a pwsh started here. tree_cpu:
 * getrusage(RUSAGE_CHILDREN) over its life; self_total / ssh_total: what
 * the script read of its own process and of ssh at the end. */
static int bench_pwsh(const rms_sshd *d, int n, struct side *r, double *tree_cpu,
                      double *self_total, double *ssh_total, double *life_wall)
{
	const char *pwsh = rms_test_pwsh();
	char port[16], count[16], warm[16], runs[16];
	snprintf(port, sizeof port, "%u", d->port);
	snprintf(count, sizeof count, "%d", n);
	snprintf(warm, sizeof warm, "%d", WARMUP);
	snprintf(runs, sizeof runs, "%d", BIG_RUNS);
	/* execv takes char *const[]: writable copies of everything. */
	char exe[1024], script[] = RMS_BENCH_DIR "/psrp_client.ps1", user[sizeof d->user],
	                key[sizeof d->user_key], kh[sizeof d->known_hosts];
	char o_logo[] = "-NoLogo", o_prof[] = "-NoProfile", o_nonint[] = "-NonInteractive",
	     o_file[] = "-File", o_port[] = "-Port", o_user[] = "-User", o_key[] = "-Key",
	     o_kh[] = "-KnownHosts", o_n[] = "-N", o_warm[] = "-Warmup", o_runs[] = "-BigRuns";
	snprintf(exe, sizeof exe, "%s", pwsh);
	snprintf(user, sizeof user, "%s", d->user);
	snprintf(key, sizeof key, "%s", d->user_key);
	snprintf(kh, sizeof kh, "%s", d->known_hosts);
	char *argv[] = {exe,  o_logo, o_prof, o_nonint, o_file, script, o_port,
	                port, o_user, user,   o_key,    key,    o_kh,   kh,
	                o_n,  count,  o_warm, warm,     o_runs, runs,   NULL};
	int fds[2];
	if (pipe(fds))
		return -1;
	double c0 = children_cpu_s(), t0 = now_s();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		/* Nothing pwsh would do on the side during the run. */
		setenv("POWERSHELL_TELEMETRY_OPTOUT", "1", 1);
		setenv("POWERSHELL_UPDATECHECK", "Off", 1);
		execv(exe, argv);
		_exit(127);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	char line[8192], last[8192] = "";
	while (f && fgets(line, sizeof line, f)) {
		if (line[0] == '{')
			snprintf(last, sizeof last, "%s", line);
		else
			fputs(line, stderr);
	}
	if (f)
		fclose(f);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	*life_wall = now_s() - t0;
	*tree_cpu = children_cpu_s() - c0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !last[0]) {
		fprintf(stderr, "pwsh: the client script failed (status %d)\n", st);
		return -1;
	}
	json_error_t e;
	json_t *o = json_loads(last, 0, &e);
	if (!o) {
		fprintf(stderr, "pwsh: not JSON: %s\n", last);
		return -1;
	}
	r->open_wall = num(o, "open_wall_ms") / 1e3;
	r->open_cpu = num(o, "open_cpu_ms") / 1e3;
	r->open_ssh = num(o, "open_ssh_cpu_ms") / 1e3;
	r->open2_wall = num(o, "open2_wall_ms") / 1e3;
	r->open2_cpu = num(o, "open2_cpu_ms") / 1e3;
	r->open2_ssh = num(o, "open2_ssh_cpu_ms") / 1e3;
	r->cmd_wall = num(o, "cmd_wall_ms") / 1e3;
	r->cmd_cpu = num(o, "cmd_cpu_ms") / 1e3;
	r->cmd_sys = num(o, "cmd_sys_ms") / 1e3;
	r->cmd_ssh = num(o, "cmd_ssh_cpu_ms") / 1e3;
	json_t *bw = json_object_get(o, "big_wall_ms"), *bc = json_object_get(o, "big_cpu_ms"),
	       *bs = json_object_get(o, "big_ssh_cpu_ms"), *by = json_object_get(o, "big_sys_ms");
	if (json_array_size(bw) != BIG_RUNS || json_array_size(bc) != BIG_RUNS ||
	    json_array_size(bs) != BIG_RUNS || json_array_size(by) != BIG_RUNS) {
		fprintf(stderr, "pwsh: not %d runs of 1..10000: %s\n", BIG_RUNS, last);
		json_decref(o);
		return -1;
	}
	for (size_t k = 0; k < BIG_RUNS; k++) {
		r->big_wall[k] = json_number_value(json_array_get(bw, k)) / 1e3;
		r->big_cpu[k] = json_number_value(json_array_get(bc, k)) / 1e3;
		r->big_ssh[k] = json_number_value(json_array_get(bs, k)) / 1e3;
		r->big_sys[k] = json_number_value(json_array_get(by, k)) / 1e3;
	}
	*self_total = num(o, "self_total_cpu_ms") / 1e3;
	*ssh_total = num(o, "ssh_total_cpu_ms") / 1e3;
	bool found_ssh = num(o, "ssh_pid") > 0;
	const char *ver = json_string_value(json_object_get(o, "pwsh"));
	if (ver)
		snprintf(pwsh_version, sizeof pwsh_version, "%s", ver);
	json_decref(o);
	if (!found_ssh)
		fprintf(stderr, "pwsh: its ssh child was not found: ssh CPU reads 0\n");
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median of the BIG_RUNS figures v (plus w, when given, run by run). */
static double median(const double *v, const double *w)
{
	double x[BIG_RUNS];
	for (size_t k = 0; k < BIG_RUNS; k++)
		x[k] = v[k] + (w ? w[k] : 0);
	qsort(x, BIG_RUNS, sizeof x[0], cmp_double);
	return BIG_RUNS % 2 ? x[BIG_RUNS / 2] : (x[BIG_RUNS / 2 - 1] + x[BIG_RUNS / 2]) / 2;
}

/* "a b c": each run's figure (v, plus w when given) times scale. */
static const char *per_run(char *out, size_t size, const double *v, const double *w, double scale)
{
	size_t len = 0;
	out[0] = '\0';
	for (size_t k = 0; k < BIG_RUNS && len < size; k++)
		len += (size_t)snprintf(out + len, size - len, "%s%.1f", k ? " " : "",
		                        (v[k] + (w ? w[k] : 0)) * scale);
	return out;
}

/* One row: remsess, pwsh, pwsh + ssh (where has_ssh), and the ratios of
 * pwsh's figures to remsess's, with prec decimals. higher_better: a rate,
 * so the ratio is remsess / pwsh, the ratio of the cost per unit either way. */
static void row(const char *what, int prec, double rem, double ps, double ps_ssh, bool has_ssh,
                bool higher_better)
{
	char a[32], b[32], c[32] = "", ra[32], rb[32] = "";
	snprintf(a, sizeof a, "%.*f", prec, rem);
	snprintf(b, sizeof b, "%.*f", prec, ps);
	snprintf(ra, sizeof ra, "%.2f", higher_better ? rem / ps : ps / rem);
	if (has_ssh) {
		snprintf(c, sizeof c, "%.*f", prec, ps_ssh);
		snprintf(rb, sizeof rb, "%.2f", higher_better ? rem / ps_ssh : ps_ssh / rem);
	}
	printf("%-34s %12s %12s %12s %10s %10s\n", what, a, b, c, ra, rb);
}

int main(int argc, char **argv)
{
	/* -r: remsess only, no pwsh client (for profiling the remsess side
	 * under valgrind or perf). */
	bool remsess_only = argc > 1 && strcmp(argv[1], "-r") == 0;
	int a = remsess_only ? 2 : 1;
	int n = argc > a ? atoi(argv[a]) : 200;
	if (argc > a + 1 || n < 1) {
		fprintf(stderr,
		        "usage: %s [-r] [N]   (N commands per side, default 200; -r: remsess "
		        "only)\n",
		        argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	const char *sub = rms_test_pwsh_subsystem("powershell");
	if (!sub) {
		fprintf(stderr,
		        "no pwsh (set RMS_PWSH, or: dotnet tool install --global PowerShell "
		        "--version 7.6.10)\n");
		return 1;
	}
	rms_sshd d;
	if (rms_sshd_start(&d, sub) != 0)
		return 1;

	struct side rem = {0}, ps = {0};
	double tree = 0, self_total = 0, ssh_total = 0, life = 0;
	int rc = 1;
	if (bench_remsess(&d, n, &rem))
		goto out;
	double rem_big_wall = median(rem.big_wall, NULL), rem_big_cpu = median(rem.big_cpu, NULL);
	/* The remsess side alone: with -r, or when the pwsh side failed. */
	bool ps_ok =
	    !remsess_only && bench_pwsh(&d, n, &ps, &tree, &self_total, &ssh_total, &life) == 0;
	if (!ps_ok) {
		printf(
		    "remsess: open %.1f ms wall, %.1f ms CPU (second %.1f ms, %.1f ms); %d x `1`: "
		    "%.1f/s, %.0f us CPU/command; 1..10000 (median of %d): %.0f objects/s, "
		    "%.2f us CPU/object\n",
		    rem.open_wall * 1e3, rem.open_cpu * 1e3, rem.open2_wall * 1e3,
		    rem.open2_cpu * 1e3, n, n / rem.cmd_wall, rem.cmd_cpu / n * 1e6, BIG_RUNS,
		    BIG / rem_big_wall, rem_big_cpu / BIG * 1e6);
		rc = remsess_only ? 0 : 1;
		goto out;
	}
	double ps_big_wall = median(ps.big_wall, NULL), ps_big_cpu = median(ps.big_cpu, NULL),
	       ps_big_all = median(ps.big_cpu, ps.big_ssh);

	printf("PSRP over SSH, one warm PSSession per side, the same sshd on loopback serving "
	       "`pwsh -sshs`; client pwsh %s\n",
	       pwsh_version);
	printf("%d x `1` after %d untimed; %d x `1..10000` after 1 untimed (medians shown)\n\n", n,
	       WARMUP, BIG_RUNS);
	printf("%-34s %12s %12s %12s %10s %10s\n", "", "remsess", "pwsh", "pwsh + ssh", "pwsh/",
	       "(pwsh+ssh)/");
	printf("%-34s %12s %12s %12s %10s %10s\n", "", "", "process", "child", "remsess",
	       "remsess");
	row("session open, wall ms", 1, rem.open_wall * 1e3, ps.open_wall * 1e3, 0, false, false);
	row("session open, client CPU ms", 1, rem.open_cpu * 1e3, ps.open_cpu * 1e3,
	    (ps.open_cpu + ps.open_ssh) * 1e3, true, false);
	row("second session open, wall ms", 1, rem.open2_wall * 1e3, ps.open2_wall * 1e3, 0, false,
	    false);
	row("second session open, client CPU ms", 1, rem.open2_cpu * 1e3, ps.open2_cpu * 1e3,
	    (ps.open2_cpu + ps.open2_ssh) * 1e3, true, false);
	row("commands/s (wall)", 1, n / rem.cmd_wall, n / ps.cmd_wall, 0, false, true);
	row("wall ms/command", 2, rem.cmd_wall / n * 1e3, ps.cmd_wall / n * 1e3, 0, false, false);
	row("client CPU us/command", 0, rem.cmd_cpu / n * 1e6, ps.cmd_cpu / n * 1e6,
	    (ps.cmd_cpu + ps.cmd_ssh) / n * 1e6, true, false);
	row("1..10000: objects/s (wall)", 0, BIG / rem_big_wall, BIG / ps_big_wall, 0, false, true);
	row("1..10000: client CPU us/object", 2, rem_big_cpu / BIG * 1e6, ps_big_cpu / BIG * 1e6,
	    ps_big_all / BIG * 1e6, true, false);
	printf("\nratios: pwsh's cost over remsess's (rates: remsess's rate over pwsh's); "
	       "above 1, remsess spends less.\n");
	char b1[96], b2[96], b3[96];
	printf("1..10000 per run, client CPU us/object: remsess %s; pwsh %s; pwsh + ssh %s\n",
	       per_run(b1, sizeof b1, rem.big_cpu, NULL, 1e6 / BIG),
	       per_run(b2, sizeof b2, ps.big_cpu, NULL, 1e6 / BIG),
	       per_run(b3, sizeof b3, ps.big_cpu, ps.big_ssh, 1e6 / BIG));
	double sum_rem = 0, sum_rem_sys = 0, sum_ps = 0, sum_ps_sys = 0;
	for (size_t k = 0; k < BIG_RUNS; k++) {
		sum_rem += rem.big_cpu[k];
		sum_rem_sys += rem.big_sys[k];
		sum_ps += ps.big_cpu[k];
		sum_ps_sys += ps.big_sys[k];
	}
	printf("kernel (system) part of that client CPU: commands remsess %.0f%%, pwsh %.0f%%; "
	       "1..10000 (all runs) remsess %.0f%%, pwsh %.0f%%\n",
	       100 * rem.cmd_sys / rem.cmd_cpu, 100 * ps.cmd_sys / ps.cmd_cpu,
	       100 * sum_rem_sys / sum_rem, 100 * sum_ps_sys / sum_ps);
	printf("remsess per command: %.0f PSRP bytes sent, %.0f received (rms_session_stats)\n",
	       rem.cmd_sent / n, rem.cmd_recv / n);
	printf("server side during remsess's run (sshd session, sh, pwsh -sshs; /proc, 10 ms "
	       "ticks): open %.0f ms CPU, %.0f us/command, %.2f us/object\n",
	       rem.srv_open * 1e3, rem.srv_cmd / n * 1e6, median(rem.srv_big, NULL) / BIG * 1e6);
	printf("pwsh client, whole life (start-up, script, teardown): %.2f s wall; pwsh %.0f ms "
	       "CPU + ssh %.0f ms = %.0f ms; process tree by getrusage(RUSAGE_CHILDREN) %.0f ms\n",
	       life, self_total * 1e3, (ssh_total + ps.open2_ssh) * 1e3,
	       (self_total + ssh_total + ps.open2_ssh) * 1e3, tree * 1e3);
	printf("ssh child CPU (/proc, 10 ms ticks): open %.0f ms, commands %.0f ms, 1..10000 "
	       "runs %s ms, second open %.0f ms\n",
	       ps.open_ssh * 1e3, ps.cmd_ssh * 1e3, per_run(b1, sizeof b1, ps.big_ssh, NULL, 1e3),
	       ps.open2_ssh * 1e3);
	rc = 0;
out:
	rms_sshd_stop(&d);
	return rc;
}
