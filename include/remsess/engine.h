/*
 * remsess — the engine: many operations of many sessions, both backends,
 * driven from one thread without blocking.
 *
 * It has the shape embedders know from curl's multi interface. A multi
 * handle carries operations (and sessions being opened); the caller asks it
 * which descriptors and timeout to wait on (rms_multi_waitset), waits with
 * whatever loop it has (poll, epoll, libuv, Python's asyncio), then calls
 * rms_multi_perform, which advances every operation that can move and never
 * blocks. What happened comes back as messages (rms_multi_info_read): an
 * operation has items or output ready, an operation has ended, a session
 * has opened or failed to. rms_multi_poll does the waiting itself for a
 * caller with nothing else to wait on.
 *
 * remsess creates no thread. (libcurl may resolve a host name on a thread
 * of its own, as it does under its multi interface; a target given as an
 * address resolves without one.)
 *
 * Operations started through a multi handle are non-blocking: rms_op_next
 * and rms_op_next_chunk return RMS_EAGAIN when nothing is ready instead of
 * waiting, and rms_op_wait returns RMS_EAGAIN until the op has ended. The
 * blocking calls of operation.h are a loop over the same machinery, so an
 * op gives the same results either way.
 *
 * Threads: a multi handle, its operations and their sessions are used by
 * one thread at a time; rms_op_cancel and rms_multi_wakeup may be called
 * from any thread. Callbacks (output, stdin, log) run inside
 * rms_multi_perform: they may cancel operations, never free, remove or
 * start them nor call into the engine.
 */
#ifndef REMSESS_ENGINE_H
#define REMSESS_ENGINE_H

#include <stddef.h>

#include "common.h"
#include "error.h"
#include "operation.h"
#include "options.h"
#include "session.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rms_multi rms_multi;

/* Directions of a descriptor, with poll(2)'s values (POLLIN, POLLOUT). */
#define RMS_POLL_IN 0x1
#define RMS_POLL_OUT 0x4

/* One descriptor to wait on. Several entries may name the same descriptor
 * (two operations never share a connection, but a caller may merge them). */
typedef struct rms_waitfd {
	int fd;
	short events; /* RMS_POLL_IN | RMS_POLL_OUT */
} rms_waitfd;

typedef enum rms_msg_kind {
	/* The op has items (rms_op_next) or output (rms_op_next_chunk) ready.
	 * Sent once; after the caller has read until RMS_EAGAIN, the next
	 * readiness sends it again. */
	RMS_MSG_READY = 1,
	/* The op has ended: it will never return RMS_EAGAIN again. Items or
	 * output still buffered can be read without waiting; single-result
	 * kinds have their result on the op (rms_op_result, ...). result is 0
	 * or the op's failure code (details: rms_op_error). */
	RMS_MSG_DONE = 2,
	/* A session started with rms_multi_open has finished opening: result
	 * 0 (it is Opened) or the failure code (it is Broken; details:
	 * rms_session_broken_reason). */
	RMS_MSG_OPENED = 3,
	/* A session given to rms_multi_close is closed (RMS_STATE_CLOSED):
	 * result 0, or the failure code of the close (the remote side may keep
	 * what the session held, such as a WinRM shell until its idle
	 * timeout). */
	RMS_MSG_CLOSED = 4
} rms_msg_kind;

typedef struct rms_msg {
	rms_msg_kind kind;
	rms_op *op;           /* READY, DONE */
	rms_session *session; /* OPENED, CLOSED; for READY and DONE the op's session */
	int result;
} rms_msg;

/* A new, empty multi handle. Free with rms_multi_free. */
RMS_EXTERN int rms_multi_new(rms_multi **out);
/* Stops driving every operation and session it carries and frees the
 * handle. The operations stay the caller's, as ordinary blocking ops (an op
 * in flight goes on when it is next read or waited for; free it to stop
 * it); a session still opening is left Broken, saying so (as when it is
 * closed while opening); a session still closing stays so (rms_session_close
 * finishes its close, blocking; rms_session_free abandons it). Accepts
 * NULL. */
RMS_EXTERN void rms_multi_free(rms_multi *m);

/*
 * Start req on session s, driven by m. Returns at once: the request is
 * checked and its first message begun; errors that need no network (an
 * incomplete request, a closed session, a kind the backend cannot run) are
 * returned here, as rms_op_start returns them. *out is the caller's (free
 * with rms_op_free, which also removes it from m).
 */
RMS_EXTERN int rms_multi_start(rms_op **out, rms_multi *m, rms_session *s,
                               const rms_request *req);

/*
 * Create a session and open it through m: the options are checked at once
 * (errors returned here), the connecting, authenticating and shell opening
 * of a PSSession happen in rms_multi_perform, and RMS_MSG_OPENED says how it
 * went. A CIM session opens nothing, so its RMS_MSG_OPENED is queued before
 * this call returns. Until then the session's state is RMS_STATE_OPENING and
 * an operation started on it fails with RMS_E_STATE. *out is the caller's:
 * closing or freeing it while it opens abandons the opening (no message
 * follows; a WinRM shell whose creation was already answered may stay on
 * the server until its idle timeout).
 */
RMS_EXTERN int rms_multi_open(rms_session **out, rms_multi *m, rms_backend backend,
                              const rms_session_options *opts);

/*
 * Close session s through m: returns at once, the close (a PSSession's shell
 * Delete over WinRM, its SSH disconnect) goes on in rms_multi_perform, and
 * RMS_MSG_CLOSED says when it is done; a session that holds nothing remote
 * (CIM, or one already closed) has its CLOSED queued before this call
 * returns. The operations of s this engine carries that have not ended fail
 * at once with RMS_E_STATE (their RMS_MSG_DONE comes before the CLOSED), as a
 * blocking close leaves them; from this call on s refuses new operations
 * (RMS_E_STATE, closing). RMS_E_STATE for a session still opening or already
 * closing. rms_session_close on s finishes the close blocking;
 * rms_session_free abandons it (no message follows, nothing more is sent: a
 * WinRM shell whose Delete was not answered may stay on the server until its
 * idle timeout). s stays the caller's.
 */
RMS_EXTERN int rms_multi_close(rms_multi *m, rms_session *s);

/*
 * What to wait on before the next rms_multi_perform: up to cap descriptors
 * into fds, how many there are in *n (when *n > cap, call again with room
 * for *n), and the longest the caller may wait in *timeout_ms (-1: no
 * deadline, 0: perform now). With nothing in flight *n is 0 and
 * *timeout_ms is -1.
 */
RMS_EXTERN int rms_multi_waitset(rms_multi *m, rms_waitfd *fds, size_t cap, size_t *n,
                                 int *timeout_ms);

/*
 * Advance every operation and session that can move (a descriptor ready, a
 * deadline passed, its items consumed, a cancel) and queue messages.
 * Never blocks. *running (may be NULL): how many operations, openings and
 * closings have not ended yet.
 */
RMS_EXTERN int rms_multi_perform(rms_multi *m, size_t *running);

/* Wait up to timeout_ms (-1: as long as the waitset says) for m's
 * descriptors, then rms_multi_perform. Does not wait while messages are
 * queued. For callers with no loop of their own. */
RMS_EXTERN int rms_multi_poll(rms_multi *m, int timeout_ms, size_t *running);

/* Make a rms_multi_poll that is waiting (or the next one) return at once.
 * The one engine call that may be made from another thread: after
 * rms_op_cancel from another thread, it makes the cancel take effect now
 * rather than when the op's wait ends. (A caller with its own loop wakes
 * that loop its own way; the cancel is acted on at the next perform.) */
RMS_EXTERN int rms_multi_wakeup(rms_multi *m);

/* The next message: 0 with *out filled, RMS_ITEROVER when there is none. */
RMS_EXTERN int rms_multi_info_read(rms_multi *m, rms_msg *out);

/* Stop driving op (it stays the caller's and keeps its state; its calls
 * block again). RMS_E_INVALID_ARG when op is not m's. */
RMS_EXTERN int rms_multi_remove(rms_multi *m, rms_op *op);

#ifdef __cplusplus
}
#endif

#endif
