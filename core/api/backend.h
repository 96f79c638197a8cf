/*
 * The backend vtable, and the internal layout of sessions, requests and
 * operations that core/ shares with the backends.
 *
 * Arrows point down only: cim/ and psremote/ include this header (and the
 * rest of core/), never each other. core/ reaches a backend only through
 * its vtable.
 */
#ifndef RMS_CORE_BACKEND_H
#define RMS_CORE_BACKEND_H

#include <stdatomic.h>
#include <stdbool.h>

#include "remsess/remsess.h"
#include "error_internal.h"
#include "log.h"
#include "wait.h"

/*
 * The engine contract. Every call below returns without blocking: where a
 * backend would wait for the network it returns RMS_EAGAIN and fills an
 * rms_wait (core/base/wait.h) with the descriptors, their directions and
 * the deadline it waits on. The blocking API (rms_session_new, rms_op_next,
 * rms_op_wait, ...) is a loop of these steps and rms__wait_block(); the
 * public engine (core/api/engine.c, remsess/engine.h) merges the waits of
 * many operations of many sessions and steps whichever are ready.
 */
struct rms_backend_ops {
	rms_backend id;
	const char *name; /* "CIM", "PSSession" */
	/* Whether the backend can run this kind at all for a session with
	 * these options (their transport and protocol decide, not the backend
	 * alone); o may be a target's options before it made the session. */
	bool (*supports)(const rms_session_options *o, rms_op_kind kind);
	/* Called by rms_session_new after the options were validated and
	 * copied into s->opts: the CIM backend opens nothing, the PSSession
	 * backend begins connecting. 0: opened already; RMS_EAGAIN: call
	 * open_step until it returns 0; <0: failed. On failure the session is
	 * destroyed without calling close. */
	int (*open)(rms_session *s);
	/* Advance an open that returned RMS_EAGAIN: 0 when the session is
	 * open, RMS_EAGAIN with *w filled, <0 when opening failed. May be NULL
	 * for a backend whose open never returns RMS_EAGAIN. */
	int (*open_step)(rms_session *s, rms_wait *w);
	/* Release remote state (delete the shell); the session stays. 0:
	 * closed already; RMS_EAGAIN: begun, call close_step until it returns
	 * 0 or a failure (the session is Closed either way: a failure only
	 * says the remote side may keep what it held). Called once, on an
	 * Opened, Disconnected or Broken session; ops of the session that have not ended
	 * then fail at their next step. */
	int (*close)(rms_session *s);
	/* Advance a close that returned RMS_EAGAIN: 0 when done, RMS_EAGAIN
	 * with *w filled, <0 when it failed. The whole close stays within
	 * RMS_CLEANUP_TIMEOUT_MS per exchange, as a blocking close did. May be
	 * NULL for a backend whose close never returns RMS_EAGAIN. destroy
	 * may come in the middle (a close abandoned): it then sends nothing
	 * more and frees what the close began. */
	int (*close_step)(rms_session *s, rms_wait *w);
	/* Free backend-private state (s->priv). Always called once. */
	void (*destroy)(rms_session *s);
	/* Start op->req on op->session: check what can be checked offline and
	 * begin (build and start the first request). Does not wait. */
	int (*start)(rms_op *op);
	/* Advance op. Returns
	 *   0           the caller has something to do: an item or chunk is
	 *               buffered (next/next_chunk will not return RMS_EAGAIN),
	 *               or the op has ended (op->ended is set; single-result
	 *               kinds have their result on the op);
	 *   RMS_EAGAIN  nothing for the caller yet; *w says what it waits on;
	 *   < 0         the op failed (its error raised; it has ended).
	 * A streaming op whose buffered items the caller has not taken yet
	 * returns 0 at once and fetches nothing more: memory stays bounded by
	 * what the caller has not consumed. A run op with an output callback
	 * calls it from step and returns 0 only when it has ended. */
	int (*step)(rms_op *op, rms_wait *w);
	/* Take what step made ready: 0 with an item (chunk), RMS_ITEROVER at
	 * the end, RMS_EAGAIN when nothing is buffered (call step), <0 for the
	 * op's failure. With step set these never block. */
	int (*next)(rms_op *op, rms_instance **out);
	int (*next_chunk)(rms_op *op, rms_chunk *out);
	/* The same for a PowerShell pipeline's objects; NULL for a backend
	 * that runs none. */
	int (*next_object)(rms_op *op, rms_ps_stream *stream, rms_value **out);
	/* Release server-side state of an unfinished op and free op->priv.
	 * May block for a bounded cleanup (RMS_CLEANUP_TIMEOUT_MS). */
	void (*op_free)(rms_op *op);
	/* rms_session_check: the remote shell's record (*info may be NULL).
	 * NULL: the backend holds nothing remote to check. */
	int (*check)(rms_session *s, rms_instance **info);
	/* rms_session_disconnect / rms_session_reconnect, blocking (bounded
	 * by the operation timeout); session.c keeps the public state. NULL:
	 * the backend holds no shell to leave (RMS_E_UNSUPPORTED). */
	int (*disconnect)(rms_session *s, uint32_t idle_timeout_ms);
	int (*reconnect)(rms_session *s);
	/* The remote shell's id (rms_session_shell_id), a PowerShell op's
	 * command id (rms_op_command_id); NULL: none. */
	const char *(*shell_id)(const rms_session *s);
	const char *(*op_command_id)(const rms_op *op);
};

extern const struct rms_backend_ops rms__cim_backend;
/* The PSSession backend (psremote/ps_backend.c): one table over both of
 * its transports (WS-Man, SSH). supports asks the transport the options
 * select; a session's calls go to the transport it was opened with. */
extern const struct rms_backend_ops rms__pssession_backend;

/* The table that serves backend id for a session with options o (o may be
 * NULL). NULL for an unknown id. */
const struct rms_backend_ops *rms__backend_ops(rms_backend id, const rms_session_options *o);

struct rms_session {
	const struct rms_backend_ops *ops;
	rms_session_options opts; /* deep copy; strings owned */
	rms_session_state state;
	uint32_t id;
	char *name;
	char instance_id[37];
	char *computer_name;
	char *endpoint;
	rms_error *broken_reason;
	rms_stats stats;
	rms_logger log;
	/* Opening through rms__session_open_step (public state: Opening). */
	bool opening;
	/* When the opening must be over (rms__now_ms), set by its first step
	 * from the open timeout; open_limit_ms (0: the options') is that
	 * timeout, for messages; a target making the session for a request
	 * with a time limit lowers it first. */
	uint64_t open_deadline;
	uint32_t open_limit_ms;
	/* Opening failed: the backend cleaned up, so close is not called. */
	bool open_failed;
	/* Closing through rms__session_close_step (refuses new ops). */
	bool closing;
	/* The engine opening it (rms_multi_open) until OPENED, or closing it
	 * (rms_multi_close) until CLOSED. */
	struct rms_multi *multi;
	/* NTLM, Negotiate, Kerberos over WinRM: the credentials every login of
	 * the session uses, acquired by the first (core/net/gss.h). */
	struct rms_gss_cred *gss_cred;
	/* Set only while rms_session_connect opens the session: the shell (a
	 * disconnected one) its backend connects to instead of creating one. */
	const char *connect_shell_id;
	/* Set only while rms_session_receive starts its op: the pipeline the
	 * backend attaches the op to instead of starting one. */
	const char *attach_command_id;
	void *priv; /* the backend's */
};

/* One command of a PowerShell pipeline request (RMS_OP_POWERSHELL). */
struct rms_ps_param {
	char *name;       /* NULL: positional */
	rms_value *value; /* NULL: a switch */
};

struct rms_ps_command {
	char *text;
	bool is_script;
	bool merge_errors;
	struct rms_ps_param *params;
	size_t nparams, cap;
};

struct rms_request {
	rms_op_kind kind;
	char *cim_namespace;
	char *class_name;
	rms_ref *ref;
	char *dialect;
	char *query;
	char *method;
	rms_instance *input;
	char *assoc_class;
	char *result_class;
	char *role;
	char *result_role;
	char *command;
	char **argv;
	size_t argc;
	unsigned char *stdin_data;
	size_t stdin_len;
	bool has_stdin;
	rms_stdin_fn stdin_fn;
	void *stdin_userdata;
	rms_output_fn output_fn;
	void *output_userdata;
	uint32_t timeout_ms;
	/* When the time limit started to count (rms__now_ms), if before the
	 * op: a target that created the session for the call counts its
	 * creation. 0: from the start of the op. Not the caller's: set on an
	 * op's own copy. */
	uint64_t origin_ms;
	/* RMS_OP_POWERSHELL: the commands (one script, or a chain), and the
	 * input objects. */
	struct rms_ps_command *ps_cmds;
	size_t ps_ncmds, ps_cap;
	rms_value **ps_input;
	size_t ps_ninput, ps_input_cap;
};

struct rms_op {
	rms_session *session;
	rms_request *req; /* a private copy */
	rms_backend backend;
	const char *reason;
	atomic_bool cancelled;
	bool finished;
	rms_error *error;
	uint64_t delivered;
	uint64_t skipped; /* items that did not decode (RMS_E_SKIPPED) */
	rms_instance *result;
	rms_ref *created;
	rms_cim_class *cls;
	rms_value *error_record; /* a failed pipeline's ErrorRecord */
	bool have_exit_code;
	int exit_code;
	/* Set by the backend when nothing more will come from the remote side
	 * (success or failure); buffered items may still be waiting. */
	bool ended;
	/* Driven by an engine (rms_multi): public calls return RMS_EAGAIN
	 * instead of blocking. */
	bool nonblocking;
	struct rms_multi *multi;
	size_t multi_index; /* in multi's table */
	/* The engine posted READY and the caller has not read to RMS_EAGAIN
	 * yet: it is not stepped, so it buffers no more than one page. */
	bool ready;
	bool done_posted;
	size_t poll_at, poll_n; /* its slots in the engine's last poll */
	rms_wait wait; /* what the last step waits on */
	void *priv; /* the backend's */
};

/* Deep copies of option structs and requests. */
int rms__options_copy(rms_session_options *dst, const rms_session_options *src);
void rms__options_free(rms_session_options *opts);
int rms__request_dup(rms_request **out, const rms_request *req);

/* Session creation in two halves, for the engine: prepare checks and
 * copies the options (no network); open_step opens (first call: the
 * backend's open, then its open_step), 0 when Opened, RMS_EAGAIN with *w,
 * or the failure, after which the session is Broken with that reason and
 * rms_session_free only frees it. */
int rms__session_prepare(rms_session **out, rms_backend backend, const rms_session_options *opts);
/* rms_session_new, with creation bounded by limit_ms too when it is
 * shorter than the options' open timeout (0: the options' alone). */
int rms__session_new_within(rms_session **out, rms_backend backend,
                            const rms_session_options *opts, uint32_t limit_ms);
int rms__session_open_step(rms_session *s, rms_wait *w);
/* Closing in steps, for the engine and rms_session_close: the first call
 * begins (the backend's close), later ones go on (its close_step). 0 or
 * the failure when done, the session then Closed; RMS_EAGAIN with *w. */
int rms__session_close_step(rms_session *s, rms_wait *w);

/* Start a request on a session; reason says why this session ran it. */
int rms__op_start(rms_op **out, rms_session *s, const rms_request *req, const char *reason);
/* The same, for the engine when nonblocking: the op is only begun (a
 * single-result kind is not run to its end) and its calls return
 * RMS_EAGAIN instead of waiting. */
int rms__op_start_nb(rms_op **out, rms_session *s, const rms_request *req, const char *reason,
                     bool nonblocking);
/* One side of a comparison whose runs were made elsewhere (a fan-out ran
 * both backends at once): what it produced, borrowed. */
struct rms_compare_side {
	rms_backend backend;
	int status;
	const rms_error *error;
	uint64_t duration_us;
	rms_stats traffic;
	bool session_created;
	bool failed_at_creation;
	const rms_instance *const *items; /* streaming kinds, or the one result */
	size_t nitems;
	const void *out, *err; /* run */
	size_t out_len, err_len;
	bool have_exit_code;
	int exit_code;
};
/* The record rms_compare would give for these two sides (sides[0] CIM,
 * sides[1] PSSession) of a request of this kind. */
int rms__comparison_from(rms_comparison **out, rms_op_kind kind,
                         const struct rms_compare_side sides[2]);

/* rms__op_start, the request's time limit counting from origin_ms (a
 * target counts the creation of the session it made for the call). */
int rms__op_start_since(rms_op **out, rms_session *s, const rms_request *req,
                        const char *reason, uint64_t origin_ms);
/* When a request's time limit ends (rms__now_ms), for a backend beginning
 * an op; 0: it has none. */
uint64_t rms__request_deadline(const rms_request *r);
/* RMS_E_INVALID_ARG naming what a request of its kind lacks (a class, a
 * reference, a command, ...), before anything is sent. */
int rms__request_check(const rms_request *r);
/* RMS_E_STATE when the session is closed or broken (saying why). */
int rms__session_usable(const rms_session *s);

/* Take op out of the engine that drives it (if any), with its queued
 * messages; rms_op_free calls it. */
void rms__multi_forget_op(rms_op *op);
/* Take a session its engine is opening or closing out of that engine,
 * with its queued messages; rms_session_close and rms_session_free call
 * it. */
void rms__multi_forget_session(rms_session *s);

/* Record the last error as the op's own (and tag it with the backend);
 * returns rc. */
int rms__op_fail(rms_op *op, int rc);

/* The effective namespace of a request ("root/cimv2" by default), with
 * backslashes turned into slashes. Returned string is owned by the caller. */
char *rms__request_namespace(const rms_request *req, const rms_session *s);
/* The namespace an operation addresses: its reference's (or, for create,
 * its instance's) when that carries one and the request names none, else
 * rms__request_namespace. Both backends use this, so the same request
 * reaches the same namespace on either. */
char *rms__request_target_namespace(const rms_request *req, const rms_session *s);

/* The target's session for b if it has made one, else NULL (makes none). */
rms_session *rms__target_peek(const rms_target *t, rms_backend b);
/* The target's copied options for b, NULL when it has none (the fan-out
 * opens its own sessions from them through the engine). */
const rms_session_options *rms__target_options(const rms_target *t, rms_backend b);

/* Raise RMS_E_NOT_IMPLEMENTED for something a later milestone builds; the
 * message names what and which backend. */
int rms__not_implemented(rms_backend backend, const char *what);

#endif
