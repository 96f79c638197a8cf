/*
 * Start and stop the test endpoint (tests/endpoint/run) from a C test, and
 * read its /stats counters. The endpoint runs on 127.0.0.1 with a port the
 * kernel picks; it is stopped with SIGTERM.
 */
#ifndef RMS_TEST_ENDPOINT_H
#define RMS_TEST_ENDPOINT_H

#include <stddef.h>
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

/* ---- many listeners: one endpoint process playing many computers --------
 * (--listeners, --listener-behaviour; docs/testing.md). Listener i serves
 * its own port with its own behaviour and answers as computer RMS-L%07d. */

typedef struct rms_endpoint_listener {
	unsigned port;
	char behaviour[24]; /* healthy, down, stalling, wrong-password, slow:MS, quota */
	char url[64];
} rms_endpoint_listener;

typedef struct rms_endpoint_fleet {
	rms_endpoint_proc main; /* the main port (and /stats) */
	size_t n;
	rms_endpoint_listener *l;
} rms_endpoint_fleet;

/* Start an endpoint (Basic, the account above) with n listeners; spec is
 * --listener-behaviour's (NULL: all healthy); extra options as for
 * rms_endpoint_spawn. NULL with the reason on stderr. */
rms_endpoint_fleet *rms_endpoint_spawn_fleet(size_t n, const char *spec,
                                             const char *const *extra);
void rms_endpoint_fleet_kill(rms_endpoint_fleet *fl);
/* rms_endpoint_session_options for listener i. */
rms_session_options rms_endpoint_listener_options(const rms_endpoint_fleet *fl, size_t i);
/* One per-listener counter of /stats ("requests_total", ...) for every
 * listener, out[0..n), from one request; -1 in out[i] when absent. 0 or -1. */
int rms_endpoint_listener_counters(const rms_endpoint_proc *ep, const char *key, int64_t *out,
                                   size_t n);

#endif
