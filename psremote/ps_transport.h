/*
 * Internal: the layers of the PSSession backend (psremote/).
 *
 *   ps_backend.c   the one backend table (rms__pssession_backend): the
 *                  session and op life cycle and the "command shell"
 *                  protocol's command machinery, once: caps (ps_limits),
 *                  the time limit, cancel and stop policy, output pieces
 *                  handed out by next_chunk or given to the output
 *                  callback from step, the exit code, failures, Broken,
 *                  and CIM through PowerShell (ps_cim) on top of commands.
 *   a transport    moves one command's bytes: WinRS over WS-Man
 *                  (ps_winrs.c) or an exec channel over SSH
 *                  (ps_sshexec.c, ssh_connect.c). It knows nothing of
 *                  caps, time limits or callbacks.
 *
 * The PowerShell remoting protocol (PSRP: runspace pool, pipelines, CLIXML)
 * comes next as a second protocol beside the command shell: a protocol core
 * with no I/O (bytes in, messages out, as psrpcore) that ps_backend.c
 * selects from the options (a PowerShell shell_uri, or the SSH powershell
 * subsystem), fed by the same two connections through byte-moving calls
 * that each transport then adds to this table. Nothing of it is built.
 *
 * Invariants: a transport's command calls are made by ps_backend.c only,
 * one command at a time per call, never re-entered for the same command
 * except through the cleanup calls named below. Pieces a step reports stay
 * valid until the next call for that command.
 */
#ifndef RMS_PSREMOTE_PS_TRANSPORT_H
#define RMS_PSREMOTE_PS_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"

/* One command as the protocol layer hands it to its transport. */
typedef struct rms_ps_cmd {
	rms_op *op;
	const char *command; /* program and arguments, joined or not by the transport */
	char *const *argv;
	size_t argc;
	bool has_stdin;       /* the request's stdin (buffer or callback) is sent */
	uint64_t deadline_ms; /* the request's time limit; 0: none */
	/* Set by the transport once the time limit applies (the command is
	 * under way; before that its own start deadline rules). */
	bool started;
	/* Set by the protocol layer while it frees the op: the command's stop
	 * and release together end by then (RMS_CLEANUP_TIMEOUT_MS from the
	 * free). 0: each cleanup call is bounded on its own. */
	uint64_t cleanup_deadline_ms;
	void *t; /* the transport's own state */
} rms_ps_cmd;

/* What one step of a command reports. */
typedef struct rms_ps_output {
	/* Output that arrived together (one WinRS Receive answer, one read of
	 * an SSH channel): one "object" for MaximumReceivedObjectSize. Only
	 * stdout and stderr pieces with data. */
	const rms_chunk *pieces;
	size_t npieces;
	bool exited;        /* the exit code is known: nothing left to stop */
	int exit_code;
	const char *signal; /* exited by this signal (SSH exit-signal), or NULL */
	bool ended;         /* nothing more will come: the step is not called again */
	bool lost;          /* with a failure: the session is lost (Broken) */
} rms_ps_output;

struct rms_ps_transport {
	const char *name;            /* "WinRM", "SSH": for messages */
	uint64_t default_object_cap; /* MaximumReceivedObjectSize by default */
	const char *stop_how;        /* how a command is stopped, for messages */
	bool cim_commands;           /* CIM runs as a remote PowerShell command */
	bool (*supports)(const rms_session_options *o, rms_op_kind kind);
	/* The connection and the shell, as the backend table's calls of the
	 * same names (s->priv is the transport's). close_step may be NULL
	 * for a transport whose close never returns RMS_EAGAIN. */
	int (*open)(rms_session *s);
	int (*open_step)(rms_session *s, rms_wait *w);
	int (*close)(rms_session *s);
	int (*close_step)(rms_session *s, rms_wait *w);
	void (*destroy)(rms_session *s);
	/* Begin c (c->op's kind is RUN, a CIM kind run as a command, or an
	 * IDENTIFY the transport answers itself, leaving op->result). Does not
	 * wait, except where the transport documents it. */
	int (*begin)(rms_ps_cmd *c);
	/* Advance c: 0 with *out filled, RMS_EAGAIN with *w, or a failure
	 * (raised; out->lost says whether the session is lost). */
	int (*step)(rms_ps_cmd *c, rms_wait *w, rms_ps_output *out);
	/* Stop c remotely (interrupt: ctrl_c first where the protocol has
	 * one), keeping the caller's error; bounded cleanup. Safe to call
	 * twice and before the command started. */
	void (*stop)(rms_ps_cmd *c, bool interrupt);
	/* Free c's transport state (a command still in flight is finished or
	 * abandoned within RMS_CLEANUP_TIMEOUT_MS). */
	void (*release)(rms_ps_cmd *c);
	/* rms_session_check for a session over this transport; NULL: not
	 * built for it (RMS_E_NOT_IMPLEMENTED). */
	int (*check)(rms_session *s, rms_instance **info);
};

extern const struct rms_ps_transport rms__ps_winrs_transport;
extern const struct rms_ps_transport rms__ps_sshexec_transport;

/* A PSSession's s->priv: the transport it was opened with (so every call
 * asks the transport the session really uses) and that transport's own
 * connection state. */
struct rms_ps_link {
	const struct rms_ps_transport *t;
	void *conn;
};

/* A transport is only called while its session has the link (from open
 * to destroy), so the link is not checked here. */
static inline void *rms__ps_conn(const rms_session *s)
{
	return ((const struct rms_ps_link *)s->priv)->conn;
}

static inline void rms__ps_set_conn(rms_session *s, void *conn)
{
	((struct rms_ps_link *)s->priv)->conn = conn;
}

/* Open s (options copied, s->priv NULL) over transport t instead of the
 * one its options select: the backend's open for a given transport, for
 * tests with a fake one. Same results as the table's open. */
int rms__ps_open_with(rms_session *s, const struct rms_ps_transport *t);

/* ---- what ps_backend.c offers its transports ---- */

/* The session is lost: Broken, with the last error as the reason (only
 * from Opened; later calls keep the first reason). A transport calls it
 * at once from cleanup, where no step can report it. */
void rms__ps_session_lost(rms_session *s);
/* The protocol command an op carries (for a transport that completed an
 * exchange another op owns). */
rms_ps_cmd *rms__ps_cmd_of(rms_op *op);
/* Make op due at once: a transport that moved op's state while serving
 * another op (completed its exchange, read its packets into a queue poll()
 * cannot see) calls it, so the engine or the blocking loop steps op now
 * instead of when its old wait ends. Nothing for an op that has ended. */
void rms__ps_op_wake(rms_op *op);
/* Record c's failure (the last error) now, as its step would: for a
 * transport that learned it while stepping another command. Returns rc. */
int rms__ps_cmd_failed(rms_ps_cmd *c, int rc);
/* The request's stdin callback asked to abort: stop the command, record
 * and raise RMS_E_CANCELLED. */
int rms__ps_cmd_cancelled(rms_ps_cmd *c, const char *why);

#endif
