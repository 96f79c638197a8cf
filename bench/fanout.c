/*
 * The fan-out (remsess/fanout.h) on one thread: one request over many
 * computers, each a listener of its own on one test endpoint (--listeners,
 * the way unit.fanout_fleet builds its fleet), with the endpoint waiting a
 * latency before every answer (default 20 ms, `--latency` for every
 * listener) as a WAN round trip would.
 *
 *   bench/fanout [-n N] [--throttle T[,T...]] [--scale N[,N...]] [--seq N]
 *                [-l MS] [-k cim|ps] [--listeners L] [--quick]
 *
 *   defaults: -n 1000 --throttle 32,256,1000 --scale 10,100,1000,10000
 *             --seq 50 -l 20; both kinds; a listener per target, up to
 *             1000 (--listeners: up to 20000)
 *   --quick:  -n 100 --throttle 8,32,100 --scale 10,100 --seq 10
 *
 * Kinds: "cim", a CIM Get of Win32_OperatingSystem (its class schema first:
 * a CIM session fetches it once, and each target is a session of its own,
 * so 2 round trips a target); "ps", `run` of `echo $COMPUTERNAME` over the
 * WinRM cmd shell (a PSSession each: Identify, shell Create, Command,
 * Receive, Signal, then its shell Delete after the result).
 *
 * Three parts:
 *  1. "one after another": the first --seq targets at throttle 1, and the
 *     time of N of them extrapolated linearly from it (said in the output).
 *  2. N targets at each --throttle.
 *  3. the CIM Get over --scale target counts at one throttle (the largest
 *     --throttle not above 256, or the first). When a count exceeds the
 *     listeners, targets reuse them round-robin (target i on listener
 *     i % L), several targets per computer; the output says so.
 *
 * Figures per run, all of this process (the endpoint is another process):
 * wall time from rms_fanout_new to the last result; the slowest
 * target and the sum of all targets' times (the fan-out's own
 * started/ended); client CPU per target (getrusage user+sys, less the time
 * spent counting descriptors); peak targets in flight (rms_fanout_poll's
 * `running`); peak RSS over the baseline taken just before the run (VmHWM
 * reset through /proc/self/clear_refs, after malloc_trim), divided by that
 * peak in flight; open descriptors (/proc/self/fd) at the peak, sampled at
 * most every 50 ms while the most targets are in flight; round trips per
 * target (the results' stats); rms_fanout_poll calls per target ("waits");
 * the endpoint's CPU (100% = one core: near
 * it, the Python endpoint and not remsess sets the pace). Each result is
 * checked: its own computer's name (CSName, or COMPUTERNAME in the
 * command's output); a failed or wrong target is counted, shown, and makes
 * the exit status 1. rms_fanout_free (for "ps": waiting for the last shell
 * Deletes) is timed apart.
 *
 * The descriptor limit: the soft RLIMIT_NOFILE is raised to the hard one at
 * start (the endpoint, a child, inherits it) and both are printed; a
 * throttle whose descriptors (this process's, and the endpoint's sockets,
 * listeners and shell pipes) would not fit is refused before anything runs.
 *
 * Output: the table, then one JSON line per measurement (lines starting
 * with '{': `grep '^{'`).
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#endif

#include "endpoint.h"
#include "measure.h"
#include "remsess/remsess.h"

#define MAX_LIST 16
#define JSON_MAX 256
/* Descriptors this process holds per target in flight, for the limit
 * check, as measured: its connection and the socketpair of the libcurl
 * multi handle its transport has (curl_multi_wakeup's, libcurl 7.68 and
 * later); a PSSession one more, as a finished target's shell Delete runs
 * outside the throttle. */
#define FDS_PER_CIM_TARGET 3
#define FDS_PER_PS_TARGET 4
/* The endpoint's per connection: the socket, and for a command its
 * /bin/sh's three pipes. */
#define EP_FDS_PER_TARGET 5

enum kind { KIND_CIM, KIND_PS };

static const char *kind_name(enum kind k)
{
	return k == KIND_CIM ? "cim" : "ps";
}

struct figures {
	size_t n, listeners;
	unsigned throttle;
	double wall, cpu, srv_cpu, free_s;
	double slowest, sum; /* target times, s */
	size_t peak_live;
	long rss_base_kb, rss_peak_kb;
	long fds_base, fds_peak;
	double trips; /* round trips per target */
	size_t waits; /* rms_fanout_poll calls that found no result ready */
	size_t failed;
	char first_failure[256];
};

/* ---- this process ------------------------------------------------------- */

static long status_kb(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	size_t len = strlen(key);
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, key, len) == 0 && sscanf(line + len, " %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* Hand back the heap freed by the last run and make the peak RSS (VmHWM)
 * the current RSS, so that each run has its own peak. Returns the RSS. */
static long rss_reset(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
	FILE *f = fopen("/proc/self/clear_refs", "w");
	if (f) {
		fputs("5", f);
		fclose(f);
	}
	return status_kb("VmRSS:");
}

static long count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	long n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static double proc_cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* User plus system CPU seconds of process pid, from /proc; 0 when that
 * cannot be read. */
static double pid_cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	size_t len = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
	if (f)
		fclose(f);
	buf[len] = '\0';
	char *p = strrchr(buf, ')');
	unsigned long long ut, st;
	if (!p ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- one run ------------------------------------------------------------- */

struct bench {
	enum kind kind;
	rms_endpoint_fleet *fleet;
	rms_request *req;
	rms_target **targets; /* one per listener and kind, made once */
	char **json;
	size_t njson, cap_json;
};

static void failure(struct figures *fg, const char *fmt, ...)
{
	if (fg->failed++)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(fg->first_failure, sizeof fg->first_failure, fmt, ap);
	va_end(ap);
}

/* Whether the result is its own computer's (listener l's) answer. */
static void check(struct figures *fg, const struct bench *b, const rms_fanout_result *r, size_t l)
{
	char want[32];
	int st = rms_fanout_result_status(r);
	if (st) {
		failure(fg, "target %zu: %s: %s", rms_fanout_result_index(r), rms_error_code_name(st),
		        rms_error_message(rms_fanout_result_error(r)));
		return;
	}
	if (b->kind == KIND_CIM) {
		snprintf(want, sizeof want, "RMS-L%07zu", l);
		const char *name = NULL;
		if (rms_fanout_result_instance_count(r) != 1 ||
		    rms_value_get_string(rms_instance_get(rms_fanout_result_instance(r, 0), "CSName"),
		                         &name) != 0 ||
		    strcmp(name, want) != 0)
			failure(fg, "target %zu: not %s's answer (CSName %s)", rms_fanout_result_index(r),
			        want, name ? name : "missing");
		return;
	}
	snprintf(want, sizeof want, "RMS-L%07zu\n", l);
	size_t len;
	const char *out = rms_fanout_result_output(r, RMS_STREAM_STDOUT, &len);
	int code = -1;
	if (len != strlen(want) || memcmp(out, want, len) != 0 ||
	    rms_fanout_result_exit_code(r, &code) != 0 || code != 0)
		failure(fg, "target %zu: output \"%.*s\", exit code %d, not %s's",
		        rms_fanout_result_index(r), (int)(len > 40 ? 40 : len), out, code, want);
}

/* n targets, target i on listener i % listeners, at throttle. Returns 0,
 * or 1 when the fan-out itself failed. */
static int run(struct figures *fg, struct bench *b, size_t n, size_t listeners, unsigned throttle)
{
	memset(fg, 0, sizeof *fg);
	fg->n = n;
	fg->listeners = listeners;
	fg->throttle = throttle;
	rms_endpoint_reset(&b->fleet->main);
	fg->fds_base = count_fds();
	fg->rss_base_kb = rss_reset();
	double t0 = now_s(), c0 = cpu_s(), s0 = pid_cpu_s(b->fleet->main.pid);
	double counting = 0, last_count = 0;

	rms_fanout_options o = RMS_FANOUT_OPTIONS_INIT;
	o.throttle = throttle;
	rms_fanout *f;
	if (rms_fanout_new(&f, b->req, &o)) {
		fprintf(stderr, "rms_fanout_new: %s\n", rms_error_message(rms_error_last()));
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		if (rms_fanout_add(NULL, f, b->targets[i % listeners],
		                   b->kind == KIND_CIM ? RMS_BACKEND_CIM : RMS_BACKEND_PSSESSION)) {
			fprintf(stderr, "rms_fanout_add: %s\n", rms_error_message(rms_error_last()));
			rms_fanout_free(f);
			return 1;
		}
	size_t got = 0, running = 0;
	uint64_t trips = 0, slowest = 0, sum = 0;
	int rc;
	rms_fanout_result *r;
	double give_up = t0 + 600;
	while ((rc = rms_fanout_next(&r, f)) != RMS_ITEROVER) {
		if (rc == RMS_EAGAIN) {
			if (now_s() > give_up) {
				fprintf(stderr, "%zu targets did not end in 600 s (%zu done)\n", n, got);
				rc = -1;
				break;
			}
			fg->waits++;
			if ((rc = rms_fanout_poll(f, 1000, &running))) {
				fprintf(stderr, "rms_fanout_poll: %s\n",
				        rms_error_message(rms_error_last()));
				break;
			}
			/* Descriptors while the most targets are in flight; the
			 * counting's own CPU is taken out of the client's. */
			if (running >= fg->peak_live && running > 0) {
				double t = now_s();
				if (running > fg->peak_live || t - last_count > 0.05) {
					double k0 = proc_cpu_now();
					long fds = count_fds();
					counting += proc_cpu_now() - k0;
					last_count = t;
					if (fds > fg->fds_peak)
						fg->fds_peak = fds;
				}
				fg->peak_live = running;
			}
			continue;
		}
		if (rc < 0) {
			fprintf(stderr, "rms_fanout_next: %s\n", rms_error_message(rms_error_last()));
			break;
		}
		got++;
		size_t i = rms_fanout_result_index(r);
		check(fg, b, r, i % listeners);
		uint64_t took = rms_fanout_result_ended_ms(r) - rms_fanout_result_started_ms(r);
		sum += took;
		if (took > slowest)
			slowest = took;
		rms_stats st = {.version = RMS_STATS_VERSION};
		if (rms_fanout_result_stats(r, &st) == 0)
			trips += st.round_trips;
		rms_fanout_result_free(r);
	}
	fg->wall = now_s() - t0;
	double fr0 = now_s();
	rms_fanout_free(f);
	fg->free_s = now_s() - fr0;
	fg->cpu = cpu_s() - c0 - counting;
	fg->srv_cpu = pid_cpu_s(b->fleet->main.pid) - s0;
	fg->rss_peak_kb = status_kb("VmHWM:");
	fg->slowest = (double)slowest / 1e3;
	fg->sum = (double)sum / 1e3;
	fg->trips = got ? (double)trips / (double)got : 0;
	if (got != n && rc != RMS_ITEROVER)
		failure(fg, "%zu of %zu targets had no result", n - got, n);
	return rc == RMS_ITEROVER ? 0 : 1;
}

/* ---- output -------------------------------------------------------------- */

static bool bench_push(struct bench *b, char *line);

static double rss_per_target_kb(const struct figures *fg)
{
	long grow = fg->rss_peak_kb - fg->rss_base_kb;
	return fg->peak_live ? (double)(grow > 0 ? grow : 0) / (double)fg->peak_live : 0;
}

static double fds_per_target(const struct figures *fg)
{
	return fg->peak_live ? (double)(fg->fds_peak - fg->fds_base) / (double)fg->peak_live : 0;
}

static void header(void)
{
	printf("%-4s %-6s %6s %8s  %9s  %9s  %10s  %9s  %7s  %9s  %9s  %6s  %5s  %7s  %5s  %s\n",
	       "kind", "part", "N", "throttle", "wall", "slowest", "sum", "CPU", "peak", "RSS",
	       "RSS", "fds", "fds", "srv", "trips", "waits");
	printf("%-4s %-6s %6s %8s  %9s  %9s  %10s  %9s  %7s  %9s  %9s  %6s  %5s  %7s  %5s  %s\n", "",
	       "", "", "", "", "target", "of targets", "/target", "flight", "growth", "/flight",
	       "peak", "/flt", "CPU", "/tgt", "/tgt");
}

static void row(struct bench *b, const char *part, const struct figures *fg, double seq_wall)
{
	printf("%-4s %-6s %6zu %8u  %7.2f s  %7.3f s  %8.1f s  %6.0f us  %7zu  %6ld KB  %6.1f KB  "
	       "%6ld  %5.2f  %6.0f%%  %5.2f  %.1f\n",
	       kind_name(b->kind), part, fg->n, fg->throttle, fg->wall, fg->slowest, fg->sum,
	       fg->cpu / (double)fg->n * 1e6, fg->peak_live, fg->rss_peak_kb - fg->rss_base_kb,
	       rss_per_target_kb(fg), fg->fds_peak, fds_per_target(fg),
	       fg->srv_cpu / fg->wall * 100, fg->trips, (double)fg->waits / (double)fg->n);
	if (seq_wall > 0)
		printf("%-4s %-6s %6zu %8s  one after another: %.1f s (extrapolated), %.1fx "
		       "faster\n",
		       "", "", fg->n, "", seq_wall, seq_wall / fg->wall);
	if (fg->free_s > 0.05)
		printf("%-4s %-6s %6zu %8s  rms_fanout_free: %.2f s more\n", "", "", fg->n, "",
		       fg->free_s);
	if (fg->listeners < fg->n)
		printf("%-4s %-6s %6zu %8s  (%zu listeners reused round-robin: %zu targets each)\n",
		       "", "", fg->n, "", fg->listeners,
		       (fg->n + fg->listeners - 1) / fg->listeners);
	if (fg->failed)
		printf("%-4s %-6s %6zu %8s  %zu targets FAILED; the first: %s\n", "", "", fg->n, "",
		       fg->failed, fg->first_failure);
	fflush(stdout);

	char *j = malloc(JSON_MAX * 2);
	if (!j)
		return;
	snprintf(j, JSON_MAX * 2,
	         "{\"bench\":\"fanout\",\"kind\":\"%s\",\"part\":\"%s\",\"targets\":%zu,"
	         "\"listeners\":%zu,\"throttle\":%u,\"wall_s\":%.3f,\"slowest_s\":%.3f,"
	         "\"sum_s\":%.3f,\"sequential_s\":%.3f,\"sequential_extrapolated\":%s,"
	         "\"cpu_us_per_target\":%.1f,\"peak_in_flight\":%zu,\"rss_base_kb\":%ld,"
	         "\"rss_growth_kb\":%ld,\"rss_kb_per_in_flight\":%.2f,\"fds_base\":%ld,"
	         "\"fds_peak\":%ld,\"server_cpu_pct\":%.0f,\"round_trips_per_target\":%.2f,"
	         "\"waits_per_target\":%.2f,\"free_s\":%.3f,\"failed\":%zu}",
	         kind_name(b->kind), part, fg->n, fg->listeners, fg->throttle, fg->wall,
	         fg->slowest, fg->sum, seq_wall, seq_wall > 0 ? "true" : "false",
	         fg->cpu / (double)fg->n * 1e6, fg->peak_live, fg->rss_base_kb,
	         fg->rss_peak_kb - fg->rss_base_kb, rss_per_target_kb(fg), fg->fds_base,
	         fg->fds_peak, fg->srv_cpu / fg->wall * 100, fg->trips,
	         (double)fg->waits / (double)fg->n, fg->free_s, fg->failed);
	if (!bench_push(b, j))
		free(j);
}

/* ---- set-up -------------------------------------------------------------- */

static int parse_list(size_t *out, int *n, const char *arg)
{
	char *copy = strdup(arg), *save = NULL;
	*n = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long v = strtoul(tok, &end, 10);
		if (*end || v == 0 || *n >= MAX_LIST) {
			free(copy);
			return -1;
		}
		out[(*n)++] = v;
	}
	free(copy);
	return *n ? 0 : -1;
}

/* Raise the soft descriptor limit to the hard one; print both. */
static rlim_t raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024;
	rlim_t soft = rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit up = {rl.rlim_max, rl.rlim_max};
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl.rlim_cur = rl.rlim_max;
	}
	printf("descriptor limit (RLIMIT_NOFILE): soft %llu (was %llu), hard %llu\n",
	       (unsigned long long)rl.rlim_cur, (unsigned long long)soft,
	       (unsigned long long)rl.rlim_max);
	return rl.rlim_cur;
}

static bool bench_push(struct bench *b, char *line)
{
	if (b->njson == b->cap_json) {
		size_t cap = b->cap_json ? b->cap_json * 2 : 16;
		char **p = realloc(b->json, cap * sizeof *p);
		if (!p)
			return false;
		b->json = p;
		b->cap_json = cap;
	}
	b->json[b->njson++] = line;
	return true;
}

static int make_targets(struct bench *b, size_t listeners)
{
	b->targets = calloc(listeners, sizeof *b->targets);
	if (!b->targets)
		return 1;
	for (size_t i = 0; i < listeners; i++) {
		rms_session_options so = rms_endpoint_listener_options(b->fleet, i);
		/* Generous: a loaded Python endpoint answers slowly, and a
		 * timeout would say nothing of remsess. */
		so.operation_timeout_ms = 120000;
		so.connect_timeout_ms = 60000;
		int rc = b->kind == KIND_CIM ? rms_target_new(&b->targets[i], &so, NULL)
		                             : rms_target_new(&b->targets[i], NULL, &so);
		if (rc) {
			fprintf(stderr, "rms_target_new: %s\n", rms_error_message(rms_error_last()));
			return 1;
		}
	}
	return 0;
}

static void free_targets(struct bench *b, size_t listeners)
{
	for (size_t i = 0; b->targets && i < listeners; i++)
		rms_target_free(b->targets[i]);
	free(b->targets);
	b->targets = NULL;
}

static int make_request(struct bench *b)
{
	if (b->kind == KIND_PS) {
		return rms_request_new(&b->req, RMS_OP_RUN) ||
		       rms_request_set_command(b->req, "echo $COMPUTERNAME", 0, NULL);
	}
	rms_ref *ref;
	if (rms_request_new(&b->req, RMS_OP_GET) ||
	    rms_ref_new(&ref, "root/cimv2", "Win32_OperatingSystem"))
		return 1;
	int rc = rms_request_set_ref(b->req, ref);
	rms_ref_free(ref);
	return rc;
}

/* Parts 1 and 2 for one kind; part 3 too for "cim". */
static int bench_kind(struct bench *b, size_t n, const size_t *throttles, int nthrottles,
                      const size_t *scale, int nscale, size_t seq_n, size_t listeners,
                      unsigned scale_throttle)
{
	int rc = make_request(b) || make_targets(b, listeners);
	struct figures fg;
	double seq_wall = 0;
	if (!rc) {
		size_t m = seq_n < n ? seq_n : n;
		rc = run(&fg, b, m, listeners, 1);
		seq_wall = fg.wall / (double)m * (double)n;
		row(b, "seq", &fg, 0);
		printf("%-4s %-6s %6s %8s  (throttle 1; its time for %zu targets, %.1f s, is %zu x "
		       "this run's)\n",
		       "", "", "", "", n, seq_wall, n / m);
	}
	for (int i = 0; i < nthrottles && !rc; i++) {
		rc = run(&fg, b, n, listeners, (unsigned)throttles[i]);
		row(b, "fanout", &fg, seq_wall);
	}
	for (int i = 0; i < nscale && !rc && b->kind == KIND_CIM; i++) {
		rc = run(&fg, b, scale[i], listeners, scale_throttle);
		row(b, "scale", &fg, 0);
	}
	free_targets(b, listeners);
	rms_request_free(b->req);
	b->req = NULL;
	return rc;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
	        "usage: %s [-n N] [--throttle T[,T...]] [--scale N[,N...]] [--seq N] [-l MS]\n"
	        "          [-k cim|ps] [--listeners L] [--quick]\n",
	        argv0);
}

int main(int argc, char **argv)
{
	size_t n = 1000, seq_n = 50, listeners = 0;
	size_t throttles[MAX_LIST] = {32, 256, 1000}, scale[MAX_LIST] = {10, 100, 1000, 10000};
	int nthrottles = 3, nscale = 4;
	bool set_n = false, set_t = false, set_s = false, set_q = false;
	const char *latency = "20";
	bool cim = true, ps = true;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		size_t one[MAX_LIST];
		int k;
		if (strcmp(a, "--quick") == 0) {
			if (!set_n)
				n = 100;
			if (!set_t)
				throttles[0] = 8, throttles[1] = 32, throttles[2] = 100, nthrottles = 3;
			if (!set_s)
				scale[0] = 10, scale[1] = 100, nscale = 2;
			if (!set_q)
				seq_n = 10;
		} else if (!v) {
			usage(argv[0]);
			return 2;
		} else if (strcmp(a, "-n") == 0) {
			if (parse_list(one, &k, v) || k != 1)
				goto bad;
			n = one[0];
			set_n = true;
			i++;
		} else if (strcmp(a, "--throttle") == 0) {
			if (parse_list(throttles, &nthrottles, v))
				goto bad;
			set_t = true;
			i++;
		} else if (strcmp(a, "--scale") == 0) {
			if (parse_list(scale, &nscale, v))
				goto bad;
			set_s = true;
			i++;
		} else if (strcmp(a, "--seq") == 0) {
			if (parse_list(one, &k, v) || k != 1)
				goto bad;
			seq_n = one[0];
			set_q = true;
			i++;
		} else if (strcmp(a, "--listeners") == 0) {
			if (parse_list(one, &k, v) || k != 1 || one[0] > 20000)
				goto bad;
			listeners = one[0];
			i++;
		} else if (strcmp(a, "-l") == 0) {
			latency = v;
			i++;
		} else if (strcmp(a, "-k") == 0) {
			cim = strcmp(v, "cim") == 0;
			ps = strcmp(v, "ps") == 0;
			if (!cim && !ps)
				goto bad;
			i++;
		} else {
			usage(argv[0]);
			return 2;
		}
		continue;
	bad:
		fprintf(stderr, "%s: bad value \"%s\" (counts are positive; at most %d in a list; "
		                "--listeners at most 20000)\n", a, v, MAX_LIST);
		return 2;
	}
	/* One listener per target up to 1000 by default; beyond, reuse. */
	if (!listeners) {
		listeners = n;
		for (int i = 0; cim && i < nscale; i++)
			if (scale[i] > listeners)
				listeners = scale[i];
		if (listeners > 1000)
			listeners = 1000;
	}
	unsigned scale_throttle = (unsigned)throttles[0];
	for (int i = 0; i < nthrottles; i++)
		if (throttles[i] <= 256 && throttles[i] > scale_throttle)
			scale_throttle = (unsigned)throttles[i];

	rlim_t limit = raise_nofile();
	/* What a throttle needs, here and in the endpoint (which inherits the
	 * limit): refused now rather than failing mid-run with EMFILE. */
	long open_now = count_fds();
	size_t tmax = 1;
	for (int i = 0; i < nthrottles; i++)
		if (throttles[i] > tmax)
			tmax = throttles[i];
	int per = ps ? FDS_PER_PS_TARGET : FDS_PER_CIM_TARGET;
	unsigned long long need = (unsigned long long)open_now + 64 + tmax * (unsigned)per;
	unsigned long long ep_need = 64 + listeners + tmax * (ps ? EP_FDS_PER_TARGET : 1);
	if (need > limit || ep_need > limit) {
		fprintf(stderr,
		        "throttle %zu cannot be carried by a descriptor limit of %llu: it needs about "
		        "%llu here (%d per target in flight, %ld open now, 64 spare) and %llu in the "
		        "endpoint (%zu listeners, %d per target in flight). Raise the hard limit "
		        "(ulimit -Hn, limits.conf) or give a smaller --throttle.\n",
		        tmax, (unsigned long long)limit, need, per, open_now, ep_need,
		        listeners, ps ? EP_FDS_PER_TARGET : 1);
		return 2;
	}

	rms_global_init();
	double load[3] = {0};
	FILE *lf = fopen("/proc/loadavg", "r");
	if (lf) {
		if (fscanf(lf, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
			load[0] = -1;
		fclose(lf);
	}
	printf("load average at start: %.2f %.2f %.2f on %ld CPUs\n", load[0], load[1], load[2],
	       sysconf(_SC_NPROCESSORS_ONLN));
	char shells[32];
	snprintf(shells, sizeof shells, "%zu", tmax * 2 + 16);
	/* Every listener answers after `latency` ms; the shells of all
	 * listeners count against one user's quota, lifted above the
	 * throttle (a finished target's shell may still be deleting). */
	const char *extra[] = {"--latency", latency, "--max-shells-per-user", shells, NULL};
	struct bench b = {0};
	b.fleet = rms_endpoint_spawn_fleet(listeners, NULL, extra);
	if (!b.fleet)
		return 1;
	printf("endpoint: one process, %zu listeners (each its own computer and port), "
	       "%s ms before every answer.\n"
	       "seq: throttle 1 over the first %zu targets. CPU, RSS, fds: this process only; "
	       "srv CPU: the endpoint's (100%% = one core).\n"
	       "RSS growth: peak over the RSS before the run; /flight: per target at the peak in "
	       "flight. fds peak: open at the peak in flight (base before the run: %ld).\n",
	       listeners, latency, seq_n, count_fds());
	header();
	int rc = 0;
	if (cim) {
		b.kind = KIND_CIM;
		rc = bench_kind(&b, n, throttles, nthrottles, scale, nscale, seq_n, listeners,
		                scale_throttle);
	}
	if (ps && !rc) {
		b.kind = KIND_PS;
		rc = bench_kind(&b, n, throttles, nthrottles, NULL, 0, seq_n, listeners, 0);
	}
	printf("\n");
	for (size_t i = 0; i < b.njson; i++) {
		printf("%s\n", b.json[i]);
		if (strstr(b.json[i], "\"failed\":0}") == NULL)
			rc = rc ? rc : 1;
		free(b.json[i]);
	}
	free(b.json);
	rms_endpoint_fleet_kill(b.fleet);
	rms_global_cleanup();
	return rc;
}
