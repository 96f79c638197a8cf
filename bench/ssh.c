/*
 * SSH benchmark: the PSSession backend over SSH against a real OpenSSH
 * server started here on loopback (tests/support/sshd.c, key
 * authentication).
 *
 *   bench/ssh [-n N] [-m MB]
 *
 * 1. N commands (default 200 x `true`) on one persistent session: one SSH
 *    connection, an exec channel per command.
 * 2. The same N commands with a new session per command (TCP, SSH
 *    handshake, host key check and authentication each time).
 * 3. MB megabytes (default 500) of stdout from `head -c`, pulled with
 *    rms_op_next_chunk: MB/s, and the client's peak RSS.
 *
 * Wall time includes creating and closing sessions. Client CPU is getrusage
 * of this process; sshd and the commands run in other processes. The sshd
 * log counts the connections it accepted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "remsess/remsess.h"
#include "measure.h"
#include "sshd.h"

static rms_session_options opts_for(const rms_sshd *d)
{
	rms_session_options o = rms_sshd_session_options(d);
	o.pssession.max_received_per_command = RMS_LIMIT_UNLIMITED;
	return o;
}

static int open_session(rms_session **s, const rms_sshd *d)
{
	rms_session_options o = opts_for(d);
	if (rms_session_new(s, RMS_BACKEND_PSSESSION, &o)) {
		fprintf(stderr, "session: %s\n", rms_error_message(rms_error_last()));
		return -1;
	}
	return 0;
}

static int run_one(rms_session *s)
{
	int code = -1;
	int rc = rms_run(&code, s, "true", 0, NULL, NULL, NULL);
	if (rc || code != 0) {
		fprintf(stderr, "command: %s\n", rc ? rms_error_message(rms_error_last()) : "non-zero exit");
		return -1;
	}
	return 0;
}

static void row(const char *mode, int n, double wall, double cpu, int conns)
{
	printf("%-24s %5d %8.2f s %8.1f/s %9.0f us %6d\n", mode, n, wall, n / wall, cpu / n * 1e6,
	       conns);
}

int main(int argc, char **argv)
{
	int n = 200;
	unsigned long mb = 500;
	int opt;
	while ((opt = getopt(argc, argv, "n:m:")) != -1) {
		if (opt == 'n')
			n = atoi(optarg);
		else if (opt == 'm')
			mb = strtoul(optarg, NULL, 10);
		else {
			fprintf(stderr, "usage: %s [-n COMMANDS] [-m MEGABYTES]\n", argv[0]);
			return 2;
		}
	}
	rms_sshd d;
	if (rms_sshd_start(&d, NULL) != 0)
		return 1;
	int rc = 1;
	rms_session *s = NULL;

	printf("%-24s %5s %10s %10s %12s %6s\n", "mode", "cmds", "wall", "rate", "client CPU",
	       "conns");
	printf("%-24s %5s %10s %10s %12s %6s\n", "", "", "", "", "/command", "");
	int c0 = rms_sshd_log_count(&d, "Connection from ");
	double t0 = now_s(), k0 = cpu_s();
	if (open_session(&s, &d))
		goto out;
	for (int i = 0; i < n; i++)
		if (run_one(s))
			goto out;
	rms_session_free(s);
	s = NULL;
	row("one persistent session", n, now_s() - t0, cpu_s() - k0,
	    rms_sshd_log_count(&d, "Connection from ") - c0);

	c0 = rms_sshd_log_count(&d, "Connection from ");
	t0 = now_s();
	k0 = cpu_s();
	for (int i = 0; i < n; i++) {
		if (open_session(&s, &d) || run_one(s))
			goto out;
		rms_session_free(s);
		s = NULL;
	}
	row("a session per command", n, now_s() - t0, cpu_s() - k0,
	    rms_sshd_log_count(&d, "Connection from ") - c0);

	if (open_session(&s, &d))
		goto out;
	char cmd[64];
	snprintf(cmd, sizeof cmd, "head -c %lu /dev/zero", mb << 20);
	rms_request *req;
	rms_op *op;
	rms_request_new(&req, RMS_OP_RUN);
	rms_request_set_command(req, cmd, 0, NULL);
	long rss0 = rss_kb();
	t0 = now_s();
	k0 = cpu_s();
	if (rms_op_start(&op, s, req)) {
		fprintf(stderr, "start: %s\n", rms_error_message(rms_error_last()));
		rms_request_free(req);
		goto out;
	}
	rms_chunk c;
	int r;
	unsigned long long total = 0, chunks = 0;
	while ((r = rms_op_next_chunk(op, &c)) == 0) {
		total += c.len;
		chunks++;
	}
	double wall = now_s() - t0, cpu = cpu_s() - k0;
	if (r != RMS_ITEROVER)
		fprintf(stderr, "stream: %s\n", rms_error_message(rms_op_error(op)));
	rms_op_free(op);
	rms_request_free(req);
	printf("\nstdout stream: %llu MB in %.2f s = %.1f MB/s, %llu chunks (%.1f KB average), "
	       "client CPU %.2f s, peak RSS %ld KB (%ld KB before)\n",
	       total >> 20, wall, (double)total / (1 << 20) / wall, chunks,
	       chunks ? (double)total / chunks / 1024 : 0.0, cpu, rss_kb(), rss0);
	rc = r == RMS_ITEROVER ? 0 : 1;
out:
	rms_session_free(s);
	rms_sshd_stop(&d);
	return rc;
}
