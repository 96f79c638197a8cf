/*
 * PowerShell remoting over WinRM: WS-Man round trips, bytes and client CPU
 * per small command, against the test endpoint started here on loopback
 * (Basic authentication over plain http) whose PowerShell plugin serves
 * each PowerShell shell with a real pwsh 7.6 (docs/testing.md).
 *
 *   bench/psrp_winrm [-n N] [-s S] [-l MS]
 *
 * Three ways to run a small command:
 * 1. N pipelines `1` on one warm PSSession speaking PowerShell remoting
 *    (pssession_v2.protocol = RMS_PS_PROTOCOL_POWERSHELL: a runspace pool
 *    in a WinRS shell), each result checked to be the Int32 1;
 * 2. N `echo 1` (RMS_OP_RUN) on one warm PSSession with the cmd shell
 *    (WinRS), each exit code and output checked;
 * 3. S times: open a PSRP session, run `1`, close it (default 10: each open
 *    starts a pwsh on the endpoint, half a second or more).
 * The warm modes run WARMUP untimed commands first.
 *
 * Per command: WS-Man round trips and requests (rms_session_stats deltas:
 * completed exchanges, and messages sent), message bytes sent and received
 * (headers excluded), client CPU (getrusage(RUSAGE_SELF) user + sys of this
 * process, which drives libcurl) and wall time; and, from the endpoint's
 * /stats (read between the timed spans), the requests it answered by
 * action, to say what each round trip is. -l MS makes the endpoint wait that
 * long before every answer (its --latency), a stand-in for a network round
 * trip: then wall time per command shows the round trips.
 *
 * The endpoint is a Python program with pwsh behind it, so wall time is
 * mostly the endpoint's; the round trips and the client CPU are remsess's.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "measure.h"
#include "pwsh.h"
#include "remsess/remsess.h"

#define WARMUP 5

/* The WS-Man actions the endpoint counts (requests_by_action). */
static const char *const actions[] = {"Identify", "Get",     "Create", "Command",
                                      "Send",     "Receive", "Signal", "Delete"};
#define NACT (sizeof actions / sizeof actions[0])

struct span {
	double wall, cpu; /* seconds */
	uint64_t round_trips, requests, sent, received;
};

struct mode {
	const char *name;
	unsigned long n;
	struct span all;
	/* session per command only: its three parts */
	struct span open, run, close;
	int64_t by_action[NACT]; /* the endpoint's count over the timed commands */
	int64_t shells, connections;
};

static void span_add(struct span *to, double wall, double cpu, const rms_stats *a,
                     const rms_stats *b)
{
	to->wall += wall;
	to->cpu += cpu;
	to->round_trips += b->round_trips - a->round_trips;
	to->requests += b->requests - a->requests;
	to->sent += b->bytes_sent - a->bytes_sent;
	to->received += b->bytes_received - a->bytes_received;
}

static int stats(const rms_session *s, rms_stats *st)
{
	memset(st, 0, sizeof *st);
	st->version = RMS_STATS_VERSION;
	return rms_session_stats(s, st);
}

static void endpoint_counts(const rms_endpoint_proc *ep, struct mode *m)
{
	char path[64];
	for (size_t i = 0; i < NACT; i++) {
		snprintf(path, sizeof path, "requests_by_action.%s", actions[i]);
		m->by_action[i] = rms_endpoint_stat(ep, path);
	}
	m->shells = rms_endpoint_stat(ep, "shells_created");
	m->connections = rms_endpoint_stat(ep, "connections_accepted");
}

static rms_session *open_session(const rms_session_options *o)
{
	rms_session *s = NULL;
	if (rms_session_new(&s, RMS_BACKEND_PSSESSION, o)) {
		fprintf(stderr, "opening the session: %s\n", rms_error_message(rms_error_last()));
		return NULL;
	}
	return s;
}

/* The pipeline `1`: exactly one Int32 1 on the output stream, or -1. */
static int ps_one(rms_session *s, const rms_request *req)
{
	rms_op *op = NULL;
	if (rms_op_start(&op, s, req)) {
		fprintf(stderr, "starting `1`: %s\n", rms_error_message(rms_error_last()));
		return -1;
	}
	int n = 0;
	bool good = true;
	rms_ps_stream st;
	rms_value *v;
	int rc;
	while ((rc = rms_op_next_object(op, &st, &v)) == 0) {
		int32_t x = 0;
		if (st != RMS_PS_OUTPUT || rms_value_get_sint32(v, &x) || x != 1)
			good = false;
		n++;
		rms_value_free(v);
	}
	if (rc != RMS_ITEROVER)
		fprintf(stderr, "`1`: %s\n", rms_error_message(rms_op_error(op)));
	rms_op_free(op);
	if (rc == RMS_ITEROVER && (!good || n != 1))
		fprintf(stderr, "`1` gave something else (%d objects)\n", n);
	return rc == RMS_ITEROVER && good && n == 1 ? 0 : -1;
}

struct out {
	char text[16];
	size_t len;
};

static int keep(rms_stream stream, const void *data, size_t len, void *userdata)
{
	struct out *o = userdata;
	if (stream == RMS_STREAM_STDOUT) {
		size_t n = len < sizeof o->text - 1 - o->len ? len : sizeof o->text - 1 - o->len;
		memcpy(o->text + o->len, data, n);
		o->len += n;
		o->text[o->len] = '\0';
	}
	return 0;
}

/* `echo 1` in the cmd shell: exit code 0 and "1" on stdout, or -1. */
static int cmd_one(rms_session *s)
{
	static const char *const args[] = {"1"};
	struct out o = {.len = 0};
	int code = -1;
	if (rms_run(&code, s, "echo", 1, args, keep, &o)) {
		fprintf(stderr, "echo 1: %s\n", rms_error_message(rms_error_last()));
		return -1;
	}
	if (code != 0 || strncmp(o.text, "1", 1) != 0) {
		fprintf(stderr, "echo 1: exit code %d, output '%s'\n", code, o.text);
		return -1;
	}
	return 0;
}

/* Modes 1 and 2: n commands on one session opened (and warmed) first. */
static int warm(const rms_endpoint_proc *ep, const rms_session_options *o, bool ps,
                struct mode *m)
{
	rms_session *s = open_session(o);
	if (!s)
		return -1;
	rms_request *req = NULL;
	if (ps && (rms_request_new(&req, RMS_OP_POWERSHELL) || rms_request_set_script(req, "1"))) {
		fprintf(stderr, "request: %s\n", rms_error_message(rms_error_last()));
		rms_request_free(req);
		rms_session_free(s);
		return -1;
	}
	int rc = 0;
	for (int i = 0; i < WARMUP && !rc; i++)
		rc = ps ? ps_one(s, req) : cmd_one(s);
	rms_stats a, b;
	if (!rc) {
		rms_endpoint_reset(ep);
		stats(s, &a);
		double t0 = now_s(), c0 = cpu_s();
		for (unsigned long i = 0; i < m->n && !rc; i++)
			rc = ps ? ps_one(s, req) : cmd_one(s);
		double wall = now_s() - t0, cpu = cpu_s() - c0;
		stats(s, &b);
		span_add(&m->all, wall, cpu, &a, &b);
		endpoint_counts(ep, m);
	}
	rms_request_free(req);
	rms_session_free(s);
	return rc;
}

/* Mode 3: open, `1`, close, n times; each part timed on its own. */
static int per_command(const rms_endpoint_proc *ep, const rms_session_options *o,
                       struct mode *m)
{
	rms_request *req = NULL;
	if (rms_request_new(&req, RMS_OP_POWERSHELL) || rms_request_set_script(req, "1")) {
		rms_request_free(req);
		return -1;
	}
	static const rms_stats zero = {.version = RMS_STATS_VERSION};
	rms_endpoint_reset(ep);
	int rc = 0;
	for (unsigned long i = 0; i < m->n && !rc; i++) {
		double t0 = now_s(), c0 = cpu_s();
		rms_session *s = open_session(o);
		if (!s) {
			rc = -1;
			break;
		}
		double t1 = now_s(), c1 = cpu_s();
		rms_stats st1, st2, st3;
		stats(s, &st1);
		rc = ps_one(s, req);
		double t2 = now_s(), c2 = cpu_s();
		stats(s, &st2);
		if (!rc && rms_session_close(s)) {
			fprintf(stderr, "closing: %s\n", rms_error_message(rms_error_last()));
			rc = -1;
		}
		stats(s, &st3);
		rms_session_free(s);
		double t4 = now_s(), c4 = cpu_s();
		span_add(&m->open, t1 - t0, c1 - c0, &zero, &st1);
		span_add(&m->run, t2 - t1, c2 - c1, &st1, &st2);
		span_add(&m->close, t4 - t2, c4 - c2, &st2, &st3);
		span_add(&m->all, t4 - t0, c4 - c0, &zero, &st3);
	}
	rms_request_free(req);
	if (!rc)
		endpoint_counts(ep, m);
	return rc;
}

static void row(const char *what, unsigned long n, const struct span *p)
{
	double k = (double)n;
	printf("%-36s %5lu %8.2f %8.0f %6.2f %6.2f %8.0f %8.0f\n", what, n, p->wall / k * 1e3,
	       p->cpu / k * 1e6, (double)p->round_trips / k, (double)p->requests / k,
	       (double)p->sent / k, (double)p->received / k);
}

static void actions_row(const struct mode *m)
{
	printf("  %-34s", m->name);
	for (size_t i = 0; i < NACT; i++)
		printf(" %8.2f", (double)m->by_action[i] / (double)m->n);
	printf("   %lld shell(s), %lld connection(s)\n", (long long)m->shells,
	       (long long)m->connections);
}

int main(int argc, char **argv)
{
	unsigned long n = 100, sessions = 10;
	const char *latency = NULL;
	int i = 1;
	for (; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "-n") == 0)
			n = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "-s") == 0)
			sessions = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "-l") == 0)
			latency = argv[i + 1];
		else
			break;
	}
	if (i < argc || n == 0 || sessions == 0) {
		fprintf(stderr, "usage: %s [-n N] [-s S] [-l MS]   (N commands on each warm "
		                "session, default 100; S sessions opened, default 10; MS: the "
		                "endpoint's latency per answer)\n",
		        argv[0]);
		return 2;
	}
	if (!rms_test_pwsh()) {
		fprintf(stderr, "no pwsh (set RMS_PWSH, or: dotnet tool install --global PowerShell "
		                "--version 7.6.10)\n");
		return 1;
	}
	const char *extra[] = {"--latency", latency, NULL};
	rms_global_init();
	rms_endpoint_proc *ep = rms_endpoint_spawn(latency ? extra : NULL);
	if (!ep)
		return 1;
	rms_session_options ps = rms_endpoint_session_options(ep);
	ps.pssession_v2.protocol = RMS_PS_PROTOCOL_POWERSHELL;
	ps.operation_timeout_ms = 30000;
	rms_session_options cmd = rms_endpoint_session_options(ep);

	struct mode m_ps = {.name = "PSRP, warm PSSession, `1`", .n = n};
	struct mode m_cmd = {.name = "cmd shell, warm PSSession, echo 1", .n = n};
	struct mode m_new = {.name = "PSRP, open + `1` + close", .n = sessions};
	int rc = 1;
	if (warm(ep, &ps, true, &m_ps) || warm(ep, &cmd, false, &m_cmd) ||
	    per_command(ep, &ps, &m_new))
		goto out;

	printf("PowerShell remoting over WinRM, the test endpoint on loopback (Python; real pwsh "
	       "behind each PowerShell shell), Basic over http%s%s%s\n",
	       latency ? ", " : "", latency ? latency : "", latency ? " ms latency per answer" : "");
	printf("warm sessions: %d untimed commands first; figures per command\n\n", WARMUP);
	printf("%-36s %5s %8s %8s %6s %6s %8s %8s\n", "", "cmds", "wall", "client", "round",
	       "reqs", "bytes", "bytes");
	printf("%-36s %5s %8s %8s %6s %6s %8s %8s\n", "", "", "ms", "CPU us", "trips", "", "sent",
	       "received");
	row(m_ps.name, m_ps.n, &m_ps.all);
	row(m_cmd.name, m_cmd.n, &m_cmd.all);
	row(m_new.name, m_new.n, &m_new.all);
	row("  of which: open", m_new.n, &m_new.open);
	row("  of which: `1`", m_new.n, &m_new.run);
	row("  of which: close", m_new.n, &m_new.close);
	printf("\nrequests the endpoint answered, per command, by WS-Man action:\n");
	printf("  %-34s", "");
	for (size_t k = 0; k < NACT; k++)
		printf(" %8s", actions[k]);
	printf("\n");
	actions_row(&m_ps);
	actions_row(&m_cmd);
	actions_row(&m_new);
	rc = 0;
out:
	rms_endpoint_kill(ep);
	rms_global_cleanup();
	return rc;
}
