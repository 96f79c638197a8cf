/*
 * The engine against the blocking API: N operations of one kind, run (a)
 * one after another with the blocking calls, each on its own session, and
 * (b) all at once through one rms_multi from this one thread, the sessions
 * opened through it (rms_multi_open). Against the test endpoint started
 * here with a latency before every answer (default 20 ms), so waiting on
 * the network dominates as it does over a WAN and (b) can overlap it.
 *
 *   bench/engine [-l MS] [-n N[,N...]] [-k cim|ps]
 *                (default: 20 ms; N = 1,10,50,200; both kinds)
 *
 * Kinds: "cim", an enumeration of Win32_Service (a few dozen instances) on
 * CIM sessions; "ps", the command `echo hi` on PSSessions over WinRM, one
 * shell each (skipped when that backend cannot be driven by the engine).
 *
 * Per run: wall time, operations per second, this process's CPU per
 * operation and peak RSS (reset before each run where Linux allows), the
 * TCP connections and requests the endpoint counted, the endpoint's own
 * CPU, and the speed-up of (b) over (a). Session teardown (a PSSession
 * deletes its shell) is left out of both timings. Every operation's result
 * is checked against one blocking run made before timing, as it arrives
 * (the same cost in (a) and (b)): the same instances in the same order, or
 * the same output and exit code; the bench exits 1 saying what differed.
 *
 * The endpoint is a threaded Python server on the same machine (two cores
 * here, shared with the client): past some N it, not remsess, caps the
 * rate, so the speed-up flattens well below N. Its GIL serialises the work
 * of every answer (only the latency sleeps overlap; "srv CPU" near 100%
 * says it is the limit), and with ~200 clients connecting at once its
 * listen queue overflows and TCP retries a second later (a note says when).
 * Time spent inside rms_multi_open is shown too: an open that blocks
 * serialises (b) however well the rest overlaps.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#endif

#include "endpoint.h"
#include "measure.h"
#include "remsess/remsess.h"

#define MAX_SIZES 16
#define OUT_MAX 256

enum kind { KIND_CIM, KIND_PS };

/* What one operation must give: the reference, taken blocking. */
struct want {
	rms_instance **items;
	size_t nitems;
	char out[OUT_MAX];
	size_t out_len;
	int exit_code;
};

/* One operation of a run, checked as its results arrive so that nothing
 * is kept: memory stays that of the operations in flight. */
struct slot {
	rms_session *s;
	rms_op *op;
	size_t nitems;
	char out[OUT_MAX];
	size_t out_len;
	bool done;
	char why[512]; /* empty while the op agrees with the reference */
};

struct figures {
	double wall, cpu;
	double srv_cpu; /* the endpoint's CPU seconds over the run */
	double open_s;  /* inside the rms_multi_open calls (engine runs) */
	long rss_kb;
	int64_t conns, requests;
	int64_t overflows; /* the machine's TCP listen-queue overflows over the run */
};

/* Linux resets the peak RSS (VmHWM) to the current RSS when 5 is written
 * to clear_refs, so each run gets its own peak; getrusage's ru_maxrss is
 * not reset with it. The heap freed by the last run is handed back first,
 * or it would count as this run's. Where either is refused, the figure is
 * the peak so far. */
static void rss_reset(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
	FILE *f = fopen("/proc/self/clear_refs", "w");
	if (f) {
		fputs("5", f);
		fclose(f);
	}
}

static long rss_peak_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb > 0 ? kb : rss_kb();
}

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

/* TcpExt ListenOverflows from /proc/net/netstat (the whole machine), -1
 * where it cannot be read. Counted because the Python endpoint accepts
 * slower than 200 clients connect at once: its listen queue (128) fills,
 * the kernel drops the SYNs, and each client waits for TCP's one-second
 * retry, which the wall time would otherwise hide. */
static int64_t listen_overflows(void)
{
	FILE *f = fopen("/proc/net/netstat", "r");
	static char names[4096], values[4096];
	int64_t v = -1;
	while (f && fgets(names, sizeof names, f) && fgets(values, sizeof values, f)) {
		if (strncmp(names, "TcpExt:", 7) != 0)
			continue;
		char *sn, *sv;
		char *n = strtok_r(names, " \n", &sn), *x = strtok_r(values, " \n", &sv);
		for (; n && x; n = strtok_r(NULL, " \n", &sn), x = strtok_r(NULL, " \n", &sv))
			if (strcmp(n, "ListenOverflows") == 0)
				v = strtoll(x, NULL, 10);
		break;
	}
	if (f)
		fclose(f);
	return v;
}

/* The first difference of an op is the one reported. */
static void disagree(struct slot *sl, const char *fmt, ...)
{
	if (sl->why[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sl->why, sizeof sl->why, fmt, ap);
	va_end(ap);
}

/* Read what op has ready; RMS_EAGAIN (engine) means "later". Each instance
 * is compared with the reference at its position and freed. */
static int drain(struct slot *sl, enum kind k, const struct want *w)
{
	int rc;
	if (k == KIND_PS) {
		rms_chunk c;
		while ((rc = rms_op_next_chunk(sl->op, &c)) == 0) {
			if (c.stream != RMS_STREAM_STDOUT)
				continue;
			if (sl->out_len + c.len >= OUT_MAX) {
				disagree(sl, "more output than the reference");
				continue;
			}
			memcpy(sl->out + sl->out_len, c.data, c.len);
			sl->out_len += c.len;
			sl->out[sl->out_len] = '\0';
		}
		return rc;
	}
	rms_instance *inst;
	while ((rc = rms_op_next(sl->op, &inst)) == 0) {
		if (sl->nitems >= w->nitems || !rms_instance_equal(inst, w->items[sl->nitems]))
			disagree(sl, "instance %zu differs from the reference", sl->nitems);
		sl->nitems++;
		rms_instance_free(inst);
	}
	return rc;
}

/* The op has ended with rc (RMS_ITEROVER when it went through). */
static void finish(struct slot *sl, enum kind k, const struct want *w, int rc)
{
	sl->done = true;
	if (rc != RMS_ITEROVER) {
		const rms_error *e = rms_op_error(sl->op);
		disagree(sl, "failed: %s: %s", rms_error_code_name(rc),
		         e ? rms_error_message(e) : "");
		return;
	}
	if (k == KIND_CIM) {
		if (sl->nitems != w->nitems)
			disagree(sl, "%zu instances, the reference has %zu", sl->nitems, w->nitems);
		return;
	}
	int code = -1;
	rms_op_exit_code(sl->op, &code);
	if (sl->out_len != w->out_len || memcmp(sl->out, w->out, w->out_len) != 0)
		disagree(sl, "output \"%s\", the reference gave \"%s\"", sl->out, w->out);
	else if (code != w->exit_code)
		disagree(sl, "exit code %d, the reference's is %d", code, w->exit_code);
}

static rms_backend backend_of(enum kind k)
{
	return k == KIND_CIM ? RMS_BACKEND_CIM : RMS_BACKEND_PSSESSION;
}

/* (a): one after another, blocking. */
static int run_blocking(struct slot *slots, size_t n, enum kind k, const rms_request *req,
                        const rms_session_options *o, const struct want *w)
{
	for (size_t i = 0; i < n; i++) {
		struct slot *sl = &slots[i];
		if (rms_session_new(&sl->s, backend_of(k), o) ||
		    rms_op_start(&sl->op, sl->s, req)) {
			/* Reported with the others' differences. */
			disagree(sl, "failed: %s", rms_error_message(rms_error_last()));
			sl->done = true;
			continue;
		}
		finish(sl, k, w, drain(sl, k, w));
	}
	return 0;
}

static struct slot *by_session(struct slot *slots, size_t n, const rms_session *s)
{
	/* A linear search: at these N it costs microseconds, and the public
	 * API carries no user pointer on a session. */
	for (size_t i = 0; i < n; i++)
		if (slots[i].s == s)
			return &slots[i];
	return NULL;
}

/* (b): all at once through one multi, from this thread. */
static int run_engine(struct slot *slots, size_t n, enum kind k, const rms_request *req,
                      const rms_session_options *o, const struct want *w, double *open_s)
{
	rms_multi *m;
	int rc = 0;
	if (rms_multi_new(&m))
		return 1;
	/* Meant to return at once; timed, because an open that blocks
	 * serialises the run however well the rest overlaps. */
	double t0 = now_s();
	for (size_t i = 0; i < n && !rc; i++)
		if (rms_multi_open(&slots[i].s, m, backend_of(k), o)) {
			fprintf(stderr, "rms_multi_open %zu: %s\n", i, rms_error_message(rms_error_last()));
			rc = 1;
		}
	*open_s = now_s() - t0;
	size_t done = 0;
	time_t give_up = time(NULL) + 300;
	while (!rc && done < n) {
		if (time(NULL) > give_up) {
			fprintf(stderr, "engine run of %zu did not end in 300 s (%zu done)\n", n,
			        done);
			rc = 1;
			break;
		}
		/* Messages first: rms_multi_open may have queued OPENED already
		 * (a CIM session opens nothing), and a poll with only messages
		 * pending would sleep its whole timeout. */
		rms_msg msg;
		while (rms_multi_info_read(m, &msg) == 0) {
			struct slot *sl = by_session(slots, n, msg.session);
			if (!sl || sl->done)
				continue;
			if (msg.kind == RMS_MSG_OPENED) {
				if (msg.result) {
					const rms_error *e = rms_session_broken_reason(sl->s);
					disagree(sl, "did not open: %s",
					         e ? rms_error_message(e) : "?");
					sl->done = true;
					done++;
				} else if (rms_multi_start(&sl->op, m, sl->s, req)) {
					disagree(sl, "rms_multi_start: %s", rms_error_message(rms_error_last()));
					sl->done = true;
					done++;
				}
				continue;
			}
			int r = drain(sl, k, w);
			if (msg.kind == RMS_MSG_DONE) {
				finish(sl, k, w, r);
				done++;
			}
		}
		if (done < n && (rc = rms_multi_poll(m, 1000, NULL)))
			fprintf(stderr, "rms_multi_poll: %s\n",
			        rms_error_message(rms_error_last()));
	}
	/* Ops and sessions stay ours; the multi only stops driving them. */
	rms_multi_free(m);
	return rc;
}

static void free_slots(struct slot *slots, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		rms_op_free(slots[i].op);
		rms_session_free(slots[i].s);
	}
	memset(slots, 0, n * sizeof *slots);
}

/* One mode at one N: its figures, or 1 with what went wrong on stderr. */
static int measure(struct figures *f, bool engine, size_t n, enum kind k, const rms_request *req,
                   const rms_endpoint_proc *ep, const rms_session_options *o, const struct want *w)
{
	struct slot *slots = calloc(n, sizeof *slots);
	if (!slots)
		return 1;
	rms_endpoint_reset(ep);
	rss_reset();
	f->open_s = 0;
	int64_t lo = listen_overflows();
	double t0 = now_s(), c0 = cpu_s(), s0 = proc_cpu_s(ep->pid);
	int rc = engine ? run_engine(slots, n, k, req, o, w, &f->open_s)
	                : run_blocking(slots, n, k, req, o, w);
	f->wall = now_s() - t0;
	f->cpu = cpu_s() - c0;
	f->srv_cpu = proc_cpu_s(ep->pid) - s0;
	f->overflows = lo < 0 ? 0 : listen_overflows() - lo;
	f->rss_kb = rss_peak_kb();
	f->conns = rms_endpoint_stat(ep, "connections_accepted");
	f->requests = rms_endpoint_stat(ep, "requests_total");
	for (size_t i = 0; i < n && !rc; i++)
		if (slots[i].why[0] || !slots[i].done) {
			fprintf(stderr, "%s, N=%zu, op %zu: %s\n", engine ? "engine" : "blocking",
			        n, i, slots[i].why[0] ? slots[i].why : "never ended");
			rc = 1;
		}
	free_slots(slots, n);
	free(slots);
	return rc;
}

static void row(const char *kind, size_t n, const char *how, const struct figures *f,
                double speedup)
{
	printf("%-5s %5zu  %-8s  %8.3f s  %8.1f  %8.2f ms  %7ld KB  %6" PRId64 "  %6" PRId64
	       "  %6.0f%%",
	       kind, n, how, f->wall, (double)n / f->wall, f->cpu / (double)n * 1e3, f->rss_kb,
	       f->conns, f->requests, f->srv_cpu / f->wall * 100);
	if (speedup > 0)
		printf("  %7.1fx", speedup);
	printf("\n");
	if (f->open_s > f->wall / 20)
		printf("%-5s %5zu  (the %zu rms_multi_open calls themselves took %.3f s of it)\n",
		       kind, n, n, f->open_s);
	if (f->overflows > 0)
		printf("%-5s %5zu  (%" PRId64 " connection attempts on this machine found a listen "
		       "queue full; TCP retries them a second later)\n",
		       kind, n, f->overflows);
}

/* The reference: one blocking run. For "ps" it also finds out whether the
 * engine can drive the backend at all: 1 when it cannot, -1 on failure. */
static int reference(struct want *w, enum kind k, const rms_request *req,
                     const rms_session_options *o)
{
	struct slot sl = {0};
	int rc = -1;
	memset(w, 0, sizeof *w);
	if (rms_session_new(&sl.s, backend_of(k), o) ||
	    rms_op_start(&sl.op, sl.s, req)) {
		fprintf(stderr, "reference run: %s\n", rms_error_message(rms_error_last()));
		goto out;
	}
	rms_instance *inst;
	int r;
	if (k == KIND_CIM) {
		while ((r = rms_op_next(sl.op, &inst)) == 0) {
			rms_instance **p = realloc(w->items, (w->nitems + 1) * sizeof *p);
			if (!p) {
				rms_instance_free(inst);
				goto out;
			}
			w->items = p;
			w->items[w->nitems++] = inst;
		}
	} else {
		r = drain(&sl, k, w);
		memcpy(w->out, sl.out, sizeof w->out);
		w->out_len = sl.out_len;
		rms_op_exit_code(sl.op, &w->exit_code);
	}
	if (r != RMS_ITEROVER) {
		fprintf(stderr, "reference run: %s\n", rms_error_message(rms_op_error(sl.op)));
		goto out;
	}
	rc = 0;
	/* Whether rms_multi_start takes this backend (RMS_E_UNSUPPORTED while
	 * it has no step). */
	rms_multi *m;
	rms_op *probe = NULL;
	if (k == KIND_PS && rms_multi_new(&m) == 0) {
		if (rms_multi_start(&probe, m, sl.s, req) == RMS_E_UNSUPPORTED)
			rc = 1;
		rms_op_free(probe);
		rms_multi_free(m);
	}
out:
	rms_op_free(sl.op);
	rms_session_free(sl.s);
	return rc;
}

static void want_free(struct want *w)
{
	for (size_t i = 0; i < w->nitems; i++)
		rms_instance_free(w->items[i]);
	free(w->items);
}

static int run_kind(enum kind k, const size_t *sizes, int nsizes, const char *latency)
{
	const char *name = k == KIND_CIM ? "cim" : "ps";
	/* 200 PSSessions mean 200 shells of one user at once: lift the
	 * endpoint's per-user cap (30, as Windows' MaxShellsPerUser). */
	const char *args[] = {"--latency", latency, "--max-shells-per-user", "1000", NULL};
	rms_endpoint_proc *ep = rms_endpoint_spawn(args);
	if (!ep)
		return 1;
	rms_session_options o = rms_endpoint_session_options(ep);
	/* A generous limit: with 200 operations the one Python server
	 * answers slowly, and a timeout here would say nothing of remsess. */
	o.operation_timeout_ms = 120000;
	rms_request *req;
	rms_request_new(&req, k == KIND_CIM ? RMS_OP_ENUMERATE : RMS_OP_RUN);
	if (k == KIND_CIM)
		rms_request_set_class(req, "Win32_Service");
	else
		rms_request_set_command(req, "echo hi", 0, NULL);
	struct want w;
	int rc = reference(&w, k, req, &o);
	if (rc == 1) {
		printf("%-5s  skipped: backend not converted (the engine refuses it)\n", name);
		rc = 0;
	} else if (rc == 0) {
		for (int i = 0; i < nsizes && !rc; i++) {
			struct figures a, b;
			rc = measure(&a, false, sizes[i], k, req, ep, &o, &w);
			if (!rc)
				rc = measure(&b, true, sizes[i], k, req, ep, &o, &w);
			if (!rc) {
				row(name, sizes[i], "blocking", &a, 0);
				row(name, sizes[i], "engine", &b, a.wall / b.wall);
				fflush(stdout);
			}
		}
		if (!rc && k == KIND_CIM)
			printf("%-5s  each op: %zu instances, equal to the reference\n", name,
			       w.nitems);
		else if (!rc)
			printf("%-5s  each op: output %zu bytes, exit code %d, equal to the "
			       "reference\n",
			       name, w.out_len, w.exit_code);
	} else {
		rc = 1;
	}
	want_free(&w);
	rms_request_free(req);
	rms_endpoint_kill(ep);
	return rc;
}

static int parse_sizes(size_t *sizes, int *n, char *list)
{
	for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
		char *end;
		unsigned long v = strtoul(tok, &end, 10);
		if (*end || v == 0 || *n >= MAX_SIZES)
			return -1;
		sizes[(*n)++] = v;
	}
	return 0;
}

int main(int argc, char **argv)
{
	size_t sizes[MAX_SIZES] = {1, 10, 50, 200};
	int nsizes = 4, user_sizes = 0;
	const char *latency = "20";
	bool cim = true, ps = true;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-l") == 0 && i + 1 < argc) {
			latency = argv[++i];
		} else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			if (!user_sizes)
				nsizes = 0;
			user_sizes = 1;
			if (parse_sizes(sizes, &nsizes, argv[++i])) {
				fprintf(stderr, "-n takes positive counts, up to %d\n", MAX_SIZES);
				return 2;
			}
		} else if (strcmp(argv[i], "-k") == 0 && i + 1 < argc) {
			i++;
			cim = strcmp(argv[i], "cim") == 0;
			ps = strcmp(argv[i], "ps") == 0;
			if (!cim && !ps) {
				fprintf(stderr, "-k takes cim or ps\n");
				return 2;
			}
		} else {
			fprintf(stderr, "usage: %s [-l MS] [-n N[,N...]] [-k cim|ps]\n", argv[0]);
			return 2;
		}
	}
	rms_global_init();
	printf("endpoint latency %s ms per answer. CPU/op, peak RSS: this process. srv CPU: the\n"
	       "endpoint's (100%% = one core). conns, reqs: as the endpoint counted them.\n",
	       latency);
	printf("%-5s %5s  %-8s  %10s  %8s  %11s  %10s  %6s  %6s  %7s  %8s\n", "kind", "N", "how",
	       "wall", "ops/s", "CPU/op", "peak RSS", "conns", "reqs", "srv CPU", "speed-up");
	int rc = 0;
	if (cim)
		rc = run_kind(KIND_CIM, sizes, nsizes, latency);
	if (ps && !rc)
		rc = run_kind(KIND_PS, sizes, nsizes, latency);
	rms_global_cleanup();
	return rc;
}
