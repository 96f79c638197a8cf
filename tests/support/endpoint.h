/*
 * Start and stop the test endpoint (tests/endpoint/run) from a C test, and
 * read its /stats counters. The endpoint runs on 127.0.0.1 with a port the
 * kernel picks; it is stopped with SIGTERM.
 */
#ifndef RMS_TEST_ENDPOINT_H
#define RMS_TEST_ENDPOINT_H

#include <stdint.h>
#include <sys/types.h>

typedef struct rms_endpoint_proc {
	pid_t pid;
	unsigned port;
	char url[128]; /* http://127.0.0.1:PORT/wsman */
} rms_endpoint_proc;

/* argv: extra options for tests/endpoint/run, NULL-terminated (may be
 * NULL). Returns 0, or -1 with the reason on stderr. */
int rms_endpoint_start(rms_endpoint_proc *ep, const char *const *argv);
void rms_endpoint_stop(rms_endpoint_proc *ep);

/* A counter from GET /stats, by a dotted path ("connections_accepted",
 * "requests_by_action.Pull"); -1 when absent or the endpoint did not
 * answer. */
int64_t rms_endpoint_stat(const rms_endpoint_proc *ep, const char *path);
/* POST /stats/reset. Returns 0 or -1. */
int rms_endpoint_reset(const rms_endpoint_proc *ep);

#endif
