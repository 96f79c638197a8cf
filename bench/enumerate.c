/*
 * Enumeration benchmark: enumerate N instances of X_Number from the test
 * endpoint (started here on loopback) through the CIM backend, and report
 * wall time, instances per second, the client's CPU time per instance and
 * its peak RSS, for each N given (default 10^4 10^5 10^6).
 *
 *   bench/enumerate [N...]
 *
 * The endpoint is a Python program in another process: wall time and
 * instances per second are mostly its; CPU per instance and peak RSS are the
 * client's own (getrusage of this process), which is what remsess controls.
 * Cost must grow linearly in time and stay flat in memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "endpoint.h"
#include "measure.h"
#include "remsess/remsess.h"

static int run(unsigned long n)
{
	char count[32];
	snprintf(count, sizeof count, "%lu", n);
	const char *args[] = { "--instances", count, NULL };
	rms_endpoint_proc ep;
	if (rms_endpoint_start(&ep, args) != 0)
		return 1;
	rms_session_options o = RMS_SESSION_OPTIONS_INIT;
	o.url = ep.url;
	rms_session *s;
	rms_op *op;
	double t0 = now_s(), c0 = cpu_s();
	if (rms_session_new(&s, RMS_BACKEND_CIM, &o) ||
	    rms_enumerate(&op, s, NULL, "X_Number")) {
		fprintf(stderr, "%s\n", rms_error_message(rms_error_last()));
		rms_endpoint_stop(&ep);
		return 1;
	}
	unsigned long got = 0;
	rms_instance *inst;
	int rc;
	while ((rc = rms_op_next(op, &inst)) == 0) {
		rms_instance_free(inst);
		got++;
	}
	double wall = now_s() - t0, cpu = cpu_s() - c0;
	if (rc != RMS_ITEROVER)
		fprintf(stderr, "failed after %lu: %s\n", got, rms_error_message(rms_op_error(op)));
	rms_op_free(op);
	rms_session_free(s);
	rms_endpoint_stop(&ep);
	printf("%10lu  %8.1f s  %9.0f/s  %7.2f us  %8ld KB\n", got, wall, (double)got / wall,
	       cpu / (double)got * 1e6, rss_kb());
	return rc == RMS_ITEROVER ? 0 : 1;
}

int main(int argc, char **argv)
{
	unsigned long sizes[8] = { 10000, 100000, 1000000 };
	int n = 3;
	if (argc > 1) {
		n = 0;
		for (int i = 1; i < argc && n < 8; i++)
			sizes[n++] = strtoul(argv[i], NULL, 10);
	}
	printf("%10s  %10s  %11s  %10s  %11s\n", "instances", "wall", "rate", "client CPU",
	       "peak RSS");
	printf("%10s  %10s  %11s  %10s  %11s\n", "", "", "", "/instance", "(client)");
	int rc = 0;
	for (int i = 0; i < n; i++)
		rc |= run(sizes[i]);
	return rc;
}
