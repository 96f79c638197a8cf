/*
 * remsess — fan-out: one request over many computers from one thread.
 *
 * What Invoke-Command -ComputerName does with its ThrottleLimit, as a library
 * call: a fan-out holds one request and a list of targets (each an
 * rms_target with a per-target backend choice), keeps at most `throttle` of
 * them in flight, and hands back one result per target as each finishes.
 * It is built on the engine (remsess/engine.h): the PSSession of a target
 * is opened through rms_multi_open, CIM operations start at once (a CIM
 * session opens nothing), and nothing blocks while targets are in flight.
 *
 *   rms_fanout *f;
 *   rms_fanout_new(&f, req, NULL);
 *   for (...) rms_fanout_add(NULL, f, target[i], RMS_BACKEND_AUTO);
 *   rms_fanout_result *r;
 *   while ((rc = rms_fanout_next(&r, f)) != RMS_ITEROVER) {
 *       if (rc == RMS_EAGAIN) { rms_fanout_poll(f, -1); continue; }
 *       if (rc < 0) break;            (the fan-out itself failed)
 *       ... rms_fanout_result_status(r) ...; rms_fanout_result_free(r);
 *   }
 *   rms_fanout_free(f);
 *
 * Each target fails alone: one that is down, refuses the login or stalls
 * ends with its own error (rms_fanout_result_error) within its own deadline,
 * and the others go on. An embedder with its own event loop waits on
 * rms_fanout_waitset and calls rms_fanout_perform instead of
 * rms_fanout_poll.
 *
 * Sessions: the fan-out makes its own sessions from each target's settings
 * (it never uses the sessions the target made for itself) and closes each
 * as soon as its target's result is complete: a PSSession's shell is
 * deleted through the engine while the other targets go on (a host allows
 * a user few shells, 30 by default). Freeing the fan-out at any point stops
 * what is in flight and frees everything it made.
 *
 * Threads: a fan-out and the targets it runs on are used by one thread at a
 * time. The library creates no thread.
 */
#ifndef REMSESS_FANOUT_H
#define REMSESS_FANOUT_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "engine.h"
#include "operation.h"
#include "session.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rms_fanout rms_fanout;
typedef struct rms_fanout_result rms_fanout_result;

#define RMS_FANOUT_OPTIONS_VERSION 1
/* Invoke-Command's default ThrottleLimit. */
#define RMS_FANOUT_THROTTLE_DEFAULT 32

typedef struct rms_fanout_options {
	unsigned version;           /* RMS_FANOUT_OPTIONS_VERSION */
	unsigned throttle;          /* targets in flight at once; 0: 32 */
	/* Longest one target may take, from when it starts (opening its
	 * PSSession included) to its result; 0: no limit of the fan-out's own
	 * (the sessions' and the request's timeouts still apply). */
	uint32_t target_timeout_ms;
	/* Longest the whole run may take, from the first rms_fanout_perform (or
	 * poll or next); targets still in flight or not started then end with
	 * RMS_E_TIMEOUT. 0: none. */
	uint32_t run_timeout_ms;
} rms_fanout_options;

#define RMS_FANOUT_OPTIONS_INIT { RMS_FANOUT_OPTIONS_VERSION, RMS_FANOUT_THROTTLE_DEFAULT, 0, 0 }
RMS_EXTERN int rms_fanout_options_init(rms_fanout_options *opts, unsigned version);

/*
 * A fan-out of req (copied) with opts (NULL: the defaults). Free with
 * rms_fanout_free. (An incomplete request is not refused here yet: each
 * target's result then fails with RMS_E_INVALID_ARG.)
 */
RMS_EXTERN int rms_fanout_new(rms_fanout **out, const rms_request *req,
                              const rms_fanout_options *opts);

/*
 * Add another request (copied) for every target to run after the ones
 * added before, in order, on the target's one session: a PSSession is
 * opened once per target for all of them, as Invoke-Command reuses a
 * session. Each request has a result per target (rms_fanout_result_request
 * says which; the request given to rms_fanout_new is 0, the next 1, ...).
 * A request that fails leaves the next ones to run while the session is
 * usable; once it is lost (or the target's deadline passes) the requests
 * not run get results with that failure. Requests are added before the
 * first target (RMS_E_STATE after), and all of a target's requests must go
 * to one backend (rms_fanout_add says when they would not). *index (may be
 * NULL) gets the request's number.
 */
RMS_EXTERN int rms_fanout_add_request(size_t *index, rms_fanout *f, const rms_request *req);

/*
 * Add a target, to run the request on the backend `choice` selects (AUTO,
 * CIM or PSSESSION; the rule of target.h). The choice is made here, offline:
 * a target with no settings for a backend that could serve the request fails
 * here with the error rms_target_choose gives. t is borrowed and must
 * outlive the fan-out. *index (may be NULL) gets its position, 0 for the
 * first target added. Targets may be added while the run goes on.
 */
RMS_EXTERN int rms_fanout_add(size_t *index, rms_fanout *f, rms_target *t,
                              rms_backend choice);

/*
 * Add a comparison: the request runs on both backends of t at once (its
 * CIM session and its PSSession, each counting against the throttle), and
 * the result carries the comparison record rms_compare gives
 * (rms_fanout_result_comparison; the result's status is 0 when the record
 * was made, whatever each side did, as with rms_compare). t needs settings
 * for both backends and both must serve the request; a fan-out of one
 * request only, whose stdin is not a callback. *index (may be NULL) gets
 * its position: a comparison takes two (its sides), so the next target
 * added is at *index + 2.
 */
RMS_EXTERN int rms_fanout_add_compare(size_t *index, rms_fanout *f, rms_target *t);

/*
 * The next finished target's result, in the order they finish: 0 with *out
 * (the caller's, free with rms_fanout_result_free), RMS_EAGAIN when none has
 * finished yet (wait with rms_fanout_poll, or rms_fanout_waitset and
 * rms_fanout_perform), RMS_ITEROVER when every target added has had its
 * result (one per request; a target's come in request order). A failed target is a result with a failure status, not a failure
 * of this call; this call fails only for the fan-out itself (no memory).
 */
RMS_EXTERN int rms_fanout_next(rms_fanout_result **out, rms_fanout *f);

/* Like rms_multi_waitset, for the fan-out: its targets' descriptors, and a
 * timeout that also ends at the nearest target or run deadline (0 when
 * results are waiting or targets can start). */
RMS_EXTERN int rms_fanout_waitset(rms_fanout *f, rms_waitfd *fds, size_t cap, size_t *n,
                                  int *timeout_ms);
/* Advance every target that can move, start targets up to the throttle,
 * end those past their deadline. Never blocks (but see rms_fanout_free).
 * *running (may be NULL): targets started and not finished. */
RMS_EXTERN int rms_fanout_perform(rms_fanout *f, size_t *running);
/* Wait up to timeout_ms (-1: until something is due) then perform. Does
 * not wait while results are waiting to be read. */
RMS_EXTERN int rms_fanout_poll(rms_fanout *f, int timeout_ms, size_t *running);
/* The engine under the fan-out, borrowed: for rms_multi_wakeup from another
 * thread. Starting, removing or freeing things in it is not allowed. */
RMS_EXTERN rms_multi *rms_fanout_multi(rms_fanout *f);

/*
 * Stops the run and frees the fan-out: targets in flight are cancelled,
 * operations freed, sessions it opened closed (a PSSession whose shell is
 * still open, or whose Delete is still under way, is closed here: this may
 * block for a bounded cleanup per such shell). Results
 * already handed out stay the caller's. Accepts NULL.
 */
RMS_EXTERN void rms_fanout_free(rms_fanout *f);

/* ---- results --------------------------------------------------------------
 * Getters accept NULL. What they return is borrowed from the result. */

RMS_EXTERN void rms_fanout_result_free(rms_fanout_result *r);
/* The target's position (order of rms_fanout_add) and the target itself. */
RMS_EXTERN size_t rms_fanout_result_index(const rms_fanout_result *r);
/* Which request it is the result of (0: rms_fanout_new's; see
 * rms_fanout_add_request). */
RMS_EXTERN size_t rms_fanout_result_request(const rms_fanout_result *r);
/* A comparison's record (rms_fanout_add_compare), or NULL for a target's
 * result. Its sides' errors, traffic and times are in the record; the
 * result holds no instances or output of its own. */
RMS_EXTERN const rms_comparison *rms_fanout_result_comparison(const rms_fanout_result *r);
RMS_EXTERN rms_target *rms_fanout_result_target(const rms_fanout_result *r);
/* The backend that ran it and why (rms_op_reason's strings). */
RMS_EXTERN rms_backend rms_fanout_result_backend(const rms_fanout_result *r);
RMS_EXTERN const char *rms_fanout_result_reason(const rms_fanout_result *r);
/* 0 or the target's failure code; the error record (NULL on success). */
RMS_EXTERN int rms_fanout_result_status(const rms_fanout_result *r);
RMS_EXTERN const rms_error *rms_fanout_result_error(const rms_fanout_result *r);
/* Instances: every item of a streaming kind (enumerate, query,
 * associators, references), or the one result of get, modify, invoke and
 * identify. What was delivered before a failure is kept. */
RMS_EXTERN size_t rms_fanout_result_instance_count(const rms_fanout_result *r);
RMS_EXTERN const rms_instance *rms_fanout_result_instance(const rms_fanout_result *r,
                                                          size_t i);
/* powershell: every object the pipeline gave, on any stream, in the order
 * it gave them (*stream, may be NULL, gets the stream; NULL past the end),
 * and the ErrorRecord a failed pipeline ended with (NULL otherwise). What
 * came before a failure is kept. */
RMS_EXTERN size_t rms_fanout_result_object_count(const rms_fanout_result *r);
RMS_EXTERN const rms_value *rms_fanout_result_object(const rms_fanout_result *r, size_t i,
                                                     rms_ps_stream *stream);
RMS_EXTERN const rms_value *rms_fanout_result_error_record(const rms_fanout_result *r);
/* run: what the command wrote (not NUL-terminated; *len may be NULL; empty
 * when the request sends output to a callback) and its exit code
 * (RMS_E_STATE when the command did not end). */
RMS_EXTERN const void *rms_fanout_result_output(const rms_fanout_result *r, rms_stream stream,
                                                size_t *len);
RMS_EXTERN int rms_fanout_result_exit_code(const rms_fanout_result *r, int *out);
/* When it started and ended, in ms from the start of the run; its duration
 * is end - start. */
RMS_EXTERN uint64_t rms_fanout_result_started_ms(const rms_fanout_result *r);
RMS_EXTERN uint64_t rms_fanout_result_ended_ms(const rms_fanout_result *r);
/* The traffic of the target's session, opening included. */
RMS_EXTERN int rms_fanout_result_stats(const rms_fanout_result *r, rms_stats *out);

#ifdef __cplusplus
}
#endif

#endif
