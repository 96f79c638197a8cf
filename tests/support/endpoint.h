/*
 * Start and stop the test endpoint (tests/endpoint/run) from a C test, and
 * read its /stats counters. The endpoint runs on 127.0.0.1 with a port the
 * kernel picks; it is stopped with SIGTERM.
 */
#ifndef RMS_TEST_ENDPOINT_H
#define RMS_TEST_ENDPOINT_H

#include <stdint.h>
#include <sys/types.h>

#include "remsess/options.h"

typedef struct rms_endpoint_proc {
	pid_t pid;
	unsigned port;
	char url[128]; /* http://127.0.0.1:PORT/wsman */
} rms_endpoint_proc;

/* argv: extra options for tests/endpoint/run, NULL-terminated (may be
 * NULL). Returns 0, or -1 with the reason on stderr. */
int rms_endpoint_start(rms_endpoint_proc *ep, const char *const *argv);
void rms_endpoint_stop(rms_endpoint_proc *ep);

/* The account every integration test uses. */
#define RMS_ENDPOINT_USER "admin"
#define RMS_ENDPOINT_PASSWORD "Pa55-word"

/* Start an endpoint with Basic authentication for that account, plus the
 * extra options (NULL-terminated, may be NULL). A malloc'd handle, or NULL
 * with the reason on stderr. */
rms_endpoint_proc *rms_endpoint_spawn(const char *const *extra);
/* Stop it and free the handle; accepts NULL. */
void rms_endpoint_kill(rms_endpoint_proc *ep);
/* Session options for it: its URL, the account, plain http allowed (it is
 * loopback), a 10 s operation timeout. The strings live as long as ep. */
rms_session_options rms_endpoint_session_options(const rms_endpoint_proc *ep);

/* A counter from GET /stats, by a dotted path ("connections_accepted",
 * "requests_by_action.Pull"); -1 when absent or the endpoint did not
 * answer. */
int64_t rms_endpoint_stat(const rms_endpoint_proc *ep, const char *path);
/* POST /stats/reset. Returns 0 or -1. */
int rms_endpoint_reset(const rms_endpoint_proc *ep);

#endif
