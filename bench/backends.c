/*
 * The two backends on the same query: what each costs, from the library's
 * own comparison record (rms_compare). Against the test endpoint (started
 * here on loopback, Basic authentication over plain http), for a few result
 * sizes: X_Number instances selected by a WQL query, run R times on one
 * target (the PSSession made once, by the first run, and reused), and the
 * median of each side's wall time, with its requests and bytes. The first
 * run's creation costs are shown on their own line.
 *
 *   bench/backends [-r RUNS] [-l MS] [N ...]     (default: 5 runs; 10 100 1000)
 *
 * -l MS gives the endpoint that latency before each answer (its --latency).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "measure.h"
#include "remsess/remsess.h"

#define MAX_RUNS 101

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct side {
	uint64_t us[MAX_RUNS];
	rms_stats last;
	uint64_t items;
	int status;
};

static void record(struct side *s, const rms_side_report *r, int i)
{
	s->us[i] = r->duration_us;
	s->last = r->traffic;
	s->items = r->items;
	if (r->status)
		s->status = r->status;
}

static void row(const char *what, unsigned long n, struct side *s, int runs)
{
	qsort(s->us, (size_t)runs, sizeof s->us[0], cmp_u64);
	printf("%-10s %7lu  %9.2f ms  %7" PRIu64 "  %8" PRIu64 "  %10" PRIu64 "  %10" PRIu64 "  %s\n",
	       what, n, (double)s->us[runs / 2] / 1000.0, s->items, s->last.requests,
	       s->last.bytes_sent, s->last.bytes_received,
	       s->status ? rms_error_code_name(s->status) : "ok");
}

static int run_size(unsigned long n, int runs, const char *latency)
{
	char count[32];
	snprintf(count, sizeof count, "%lu", n);
	const char *args[] = { "--instances", count, "--latency", latency, NULL };
	if (!latency)
		args[2] = NULL;
	rms_endpoint_proc *ep = rms_endpoint_spawn(args);
	if (!ep)
		return 1;
	rms_session_options o = rms_endpoint_session_options(ep);
	rms_target *t;
	if (rms_target_new(&t, &o, &o)) {
		fprintf(stderr, "%s\n", rms_error_message(rms_error_last()));
		rms_endpoint_kill(ep);
		return 1;
	}
	/* Scalar properties only: empty arrays are the one known difference. */
	rms_request *req;
	rms_request_new(&req, RMS_OP_QUERY);
	rms_request_set_query(req, NULL,
	                      "SELECT Id, U8, S8, U16, S16, U32, S32, U64, S64, R32, R64, Flag, "
	                      "Letter, Text, When, Span, Owner, Detail FROM X_Number");
	struct side cim = { 0 }, ps = { 0 };
	int rc = 0;
	double c0 = cpu_s();
	for (int i = 0; i <= runs && !rc; i++) {
		rms_comparison *c;
		if (rms_compare(&c, t, req)) {
			fprintf(stderr, "%s\n", rms_error_message(rms_error_last()));
			rc = 1;
			break;
		}
		const rms_side_report *a = rms_comparison_side(c, RMS_BACKEND_CIM);
		const rms_side_report *b = rms_comparison_side(c, RMS_BACKEND_PSSESSION);
		if (i == 0) {
			/* The first run creates the PSSession: shown apart. */
			printf("%-10s %7lu  %9.2f ms  %7s  %8" PRIu64 "  %10" PRIu64 "  %10" PRIu64
			       "  (with session creation: %" PRIu64 " connection, %" PRIu64 " shell)\n",
			       "pssession1", n, (double)b->duration_us / 1000.0, "", b->traffic.requests,
			       b->traffic.bytes_sent, b->traffic.bytes_received,
			       b->traffic.connections_opened, b->traffic.shells_opened);
		} else {
			record(&cim, a, i - 1);
			record(&ps, b, i - 1);
			if (!rms_comparison_equal(c) && rms_comparison_where(c))
				fprintf(stderr, "results differ at %s\n", rms_comparison_where(c));
		}
		rms_comparison_free(c);
	}
	double cpu = cpu_s() - c0;
	if (!rc) {
		row("cim", n, &cim, runs);
		row("pssession", n, &ps, runs);
		printf("%-10s %7lu  client CPU for both sides, all runs: %.3f s\n", "", n, cpu);
	}
	rms_request_free(req);
	rms_target_free(t);
	rms_endpoint_kill(ep);
	return rc;
}

int main(int argc, char **argv)
{
	int runs = 5;
	const char *latency = NULL;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (strcmp(argv[i], "-l") == 0 && i + 1 < argc)
			latency = argv[++i];
		else {
			fprintf(stderr, "usage: %s [-r RUNS] [-l MS] [N ...]\n", argv[0]);
			return 2;
		}
	}
	if (runs < 1 || runs >= MAX_RUNS) {
		fprintf(stderr, "-r takes 1..%d\n", MAX_RUNS - 1);
		return 2;
	}
	rms_global_init();
	printf("%-10s %7s  %12s  %7s  %8s  %10s  %10s\n", "backend", "objects", "median wall",
	       "items", "requests", "bytes sent", "bytes recv");
	static const char *const defaults[] = { "10", "100", "1000" };
	int rc = 0;
	if (i < argc)
		for (; i < argc && !rc; i++)
			rc = run_size(strtoul(argv[i], NULL, 10), runs, latency);
	else
		for (size_t k = 0; k < 3 && !rc; k++)
			rc = run_size(strtoul(defaults[k], NULL, 10), runs, latency);
	rms_global_cleanup();
	return rc;
}
