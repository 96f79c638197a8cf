/*
 * Persistence benchmark: N commands through the PSSession backend against
 * the test endpoint (started here on loopback, Basic authentication over
 * plain http), first all on one persistent session, then with a new
 * session per command (what a tool that connects per call pays: Identify,
 * shell Create, the command, shell Delete, and a new TCP connection each
 * time). For each mode: wall time, commands per second, the client's CPU
 * time per command (getrusage of this process), and the endpoint's
 * /stats: connections, shells and requests.
 *
 *   bench/commands [-n N] [-l MS] [COMMAND [ARGS...]]   (default: 200, echo hi)
 *   bench/commands URL N persistent|fresh               (a driver for ../shared/peers)
 *
 * -l MS gives the endpoint that latency before each answer (its --latency),
 * a stand-in for a network round trip.
 *
 * The endpoint is a Python program that starts a real process per
 * command, so wall time is mostly its; the client CPU per command is what
 * remsess controls.
 *
 * Given a URL first, it is instead the remsess driver of the peers'
 * side-by-side (../shared/peers/run_peers.sh: PEERS="... remsess=PATH"):
 * N x `echo hello` against that endpoint (Basic, WINRM_USER / WINRM_PASS,
 * default bench/bench), on one session or a session per command, each
 * stdout checked to start with "hello" and exit code 0, and one line in
 * the peers' format plus one with the client's own request count. With
 * RMS_BENCH_MAX_ENVELOPE set, the sessions are given that MaxEnvelopeSize
 * (as a caller who knows the server's does). This mode starts nothing, so
 * `valgrind --tool=callgrind` of it counts the client alone: the
 * difference between N and 2N commands is N commands' instructions.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "endpoint.h"
#include "measure.h"
#include "remsess/remsess.h"

struct bench {
	rms_endpoint_proc ep;
	rms_session_options o;
	const char *command;
	size_t argc;
	const char *const *argv;
	unsigned long n;
};

static int discard(rms_stream stream, const void *data, size_t len, void *userdata)
{
	(void)stream;
	(void)data;
	*(size_t *)userdata += len;
	return 0;
}

static int new_session(rms_session **s, const struct bench *b)
{
	if (rms_session_new(s, RMS_BACKEND_PSSESSION, &b->o)) {
		fprintf(stderr, "session: %s\n", rms_error_message(rms_error_last()));
		return -1;
	}
	return 0;
}

static int run_one(rms_session *s, const struct bench *b, size_t *out_bytes)
{
	int code = -1;
	if (rms_run(&code, s, b->command, b->argc, b->argv, discard, out_bytes)) {
		fprintf(stderr, "run: %s\n", rms_error_message(rms_error_last()));
		return -1;
	}
	if (code != 0) {
		fprintf(stderr, "run: exit code %d\n", code);
		return -1;
	}
	return 0;
}

static void report(const char *mode, const struct bench *b, double wall, double cpu,
                   size_t out_bytes)
{
	const rms_endpoint_proc *ep = &b->ep;
	printf("%-22s %6lu  %7.2f s  %7.1f/s  %8.0f us  %5lld  %5lld  %8.1f  %zu\n", mode, b->n,
	       wall, (double)b->n / wall, cpu / (double)b->n * 1e6,
	       (long long)rms_endpoint_stat(ep, "connections_accepted"),
	       (long long)rms_endpoint_stat(ep, "shells_created"),
	       (double)rms_endpoint_stat(ep, "requests_total") / (double)b->n, out_bytes);
}

static int persistent(struct bench *b)
{
	size_t out = 0;
	rms_endpoint_reset(&b->ep);
	double t0 = now_s(), c0 = cpu_s();
	rms_session *s;
	if (new_session(&s, b))
		return 1;
	int rc = 0;
	for (unsigned long i = 0; i < b->n && !rc; i++)
		rc = run_one(s, b, &out);
	rms_session_free(s);
	double wall = now_s() - t0, cpu = cpu_s() - c0;
	if (!rc)
		report("one persistent session", b, wall, cpu, out);
	return rc ? 1 : 0;
}

static int per_command(struct bench *b)
{
	size_t out = 0;
	rms_endpoint_reset(&b->ep);
	double t0 = now_s(), c0 = cpu_s();
	int rc = 0;
	for (unsigned long i = 0; i < b->n && !rc; i++) {
		rms_session *s;
		if (new_session(&s, b))
			return 1;
		rc = run_one(s, b, &out);
		rms_session_free(s);
	}
	double wall = now_s() - t0, cpu = cpu_s() - c0;
	if (!rc)
		report("a session per command", b, wall, cpu, out);
	return rc ? 1 : 0;
}

/* ---- the peers' driver ------------------------------------------------------ */

struct hello {
	char buf[64];
	size_t len;
};

static int collect(rms_stream st, const void *d, size_t n, void *u)
{
	struct hello *o = u;
	if (st == RMS_STREAM_STDOUT && o->len + n < sizeof o->buf) {
		memcpy(o->buf + o->len, d, n);
		o->len += n;
	}
	return 0;
}

static int hello_once(rms_session *s, unsigned long i)
{
	static const char *const argv[] = {"hello"};
	struct hello o = {.len = 0};
	int code = -1;
	if (rms_run(&code, s, "echo", 1, argv, collect, &o)) {
		fprintf(stderr, "commands: command %lu: %s\n", i,
		        rms_error_message(rms_error_last()));
		return -1;
	}
	o.buf[o.len] = 0;
	if (code != 0 || strncmp(o.buf, "hello", 5) != 0) {
		fprintf(stderr, "commands: command %lu: exit %d stdout '%s'\n", i, code, o.buf);
		return -1;
	}
	return 0;
}

static int open_peer_session(rms_session **s, const rms_session_options *o)
{
	if (rms_session_new(s, RMS_BACKEND_PSSESSION, o)) {
		fprintf(stderr, "commands: session: %s\n", rms_error_message(rms_error_last()));
		return -1;
	}
	return 0;
}

static uint64_t session_requests(const rms_session *s)
{
	rms_stats st = {.version = RMS_STATS_VERSION};
	return rms_session_stats(s, &st) == 0 ? st.requests : 0;
}

static int peer_driver(const char *url, const char *count, const char *mode)
{
	unsigned long n = strtoul(count, NULL, 10);
	bool fresh = strcmp(mode, "fresh") == 0;
	if (!n || (!fresh && strcmp(mode, "persistent") != 0)) {
		fprintf(stderr, "usage: commands URL N persistent|fresh\n");
		return 2;
	}
	rms_session_options o = RMS_SESSION_OPTIONS_INIT;
	o.url = url;
	o.user = getenv("WINRM_USER") ? getenv("WINRM_USER") : "bench";
	o.password = getenv("WINRM_PASS") ? getenv("WINRM_PASS") : "bench";
	o.auth = RMS_AUTH_BASIC;
	o.allow_unencrypted = true;
	const char *env = getenv("RMS_BENCH_MAX_ENVELOPE");
	if (env && *env)
		o.max_envelope_size = (uint32_t)strtoul(env, NULL, 10);
	rms_global_init();
	rms_session *s = NULL;
	uint64_t requests = 0;
	int rc = 0;
	double t0 = now_s(), c0 = cpu_s();
	if (!fresh && open_peer_session(&s, &o))
		return 1;
	for (unsigned long i = 0; i < n && !rc; i++) {
		if (fresh && open_peer_session(&s, &o))
			return 1;
		rc = hello_once(s, i);
		if (fresh) {
			rms_session_close(s);
			requests += session_requests(s);
			rms_session_free(s);
			s = NULL;
		}
	}
	if (s) {
		rms_session_close(s);
		requests += session_requests(s);
	}
	rms_session_free(s);
	double wall = now_s() - t0, cpu = cpu_s() - c0;
	rms_global_cleanup();
	if (rc)
		return 1;
	printf("remsess %s N=%lu wall_s=%.3f cpu_s=%.3f\n", mode, n, wall, cpu);
	fprintf(stderr, "remsess %s: %.2f requests per command (the client's count)\n", mode,
	        (double)requests / (double)n);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && (strncmp(argv[1], "http://", 7) == 0 || strncmp(argv[1], "https://", 8) == 0))
		return peer_driver(argv[1], argv[2], argv[3]);

	struct bench b = {.n = 200, .command = "echo"};
	static const char *const hi[] = {"hi"};
	b.argc = 1;
	b.argv = hi;
	const char *latency = NULL;
	int i = 1;
	for (; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "-n") == 0)
			b.n = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "-l") == 0)
			latency = argv[i + 1];
		else
			break;
	}
	if (b.n == 0) {
		fprintf(stderr, "usage: commands [-n N] [-l MS] [COMMAND [ARGS...]]\n");
		return 2;
	}
	if (i < argc) {
		b.command = argv[i];
		b.argc = (size_t)(argc - i - 1);
		b.argv = (const char *const *)&argv[i + 1];
	}
	const char *ep_args[] = {"--auth", "basic",     "--user", "bench", "--password",
	                         "b3nch",  "--latency", latency,  NULL};
	if (!latency)
		ep_args[6] = NULL;
	if (rms_endpoint_start(&b.ep, ep_args) != 0)
		return 1;
	rms_session_options o = RMS_SESSION_OPTIONS_INIT;
	o.url = b.ep.url;
	o.user = "bench";
	o.password = "b3nch";
	o.allow_unencrypted = true; /* loopback */
	b.o = o;
	rms_global_init();
	printf("%-22s %6s  %9s  %9s  %11s  %5s  %5s  %8s  %s\n", "mode", "cmds", "wall", "rate",
	       "client CPU", "conns", "shells", "requests", "output");
	printf("%-22s %6s  %9s  %9s  %11s  %5s  %5s  %8s  %s\n", "", "", "", "", "/command", "", "",
	       "/command", "bytes");
	int rc = persistent(&b);
	rc |= per_command(&b);
	rms_global_cleanup();
	rms_endpoint_stop(&b.ep);
	return rc;
}
