/*
 * The PSSession backend (New-PSSession semantics): the one backend table,
 * and the "command shell" protocol's command machinery above the transport
 * the options select (ps_transport.h: WinRS over WS-Man, or SSH exec
 * channels).
 *
 * Creating a session opens the transport's connection and shell and fails
 * right there. Every op is a command (or, for IDENTIFY, the transport's own
 * exchange); this file owns what every command has whatever carries it:
 *
 * - the received-data caps (PowerShell's MaximumReceivedDataSizePerCommand
 *   and MaximumReceivedObjectSize, ps_limits.c), checked when a batch of
 *   output arrives and before any of it is handed out; a batch is one
 *   "object" (a command shell has no objects), and for CIM operations each
 *   JSON line is one instead (ps_cim.c checks those);
 * - the request's time limit, cancel, and when a command is stopped: a cap,
 *   the limit, a cancel, an output or stdin callback asking to stop, and an
 *   op freed before its command exited;
 * - the output: pieces of one batch are handed out one by one by
 *   next_chunk, or given to the output callback from step; the transport is
 *   stepped again only when the batch is used up, so memory stays bounded
 *   by one batch;
 * - the exit code, op->ended, the op's failure given again by every later
 *   call, and the session turning Broken with the reason when a failure
 *   lost it (core/api/op.c then refuses later calls with RMS_E_STATE);
 * - CIM get / enumerate / query as a remote Get-CimInstance (ps_cim.c),
 *   decoded from the command's stdout.
 *
 * Whatever asks "can this session do X" asks the transport the options
 * select (transport_for); a session keeps the transport it was opened with
 * in its link (ps_transport.h), and every later call goes to that one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "defaults.h"
#include "ps_cim.h"
#include "ps_limits.h"
#include "ps_psrp.h"
#include "ps_transport.h"

/* Batches one step gives to an output callback before it lets other ops
 * run (it then asks to be stepped again at once). */
#define BATCHES_PER_STEP 64

struct ps_op {
	rms_ps_cmd cmd; /* shared with the transport */
	/* The batch the transport reported, handed out from next. */
	const rms_chunk *pieces;
	size_t npieces, next;
	bool exited; /* the exit code is known: nothing to stop */
	uint64_t received;
	/* The op's failure, given again by every later call. */
	int fail_rc;
	rms_error *fail;
	bool cim; /* a CIM operation: stdout is decoded by reader */
	rms_ps_cim_command cim_cmd;
	rms_ps_cim_reader reader;
	bool get_done; /* a get has its result */
};

/*
 * The transport for these options. The protocol is the command shell for
 * both; PSRP (ps_transport.h) will be chosen here too, from the options,
 * and the machinery below asks it instead of the command shell.
 */
static const struct rms_ps_transport *transport_for(const rms_session_options *o)
{
	return o && o->transport == RMS_TRANSPORT_SSH ? &rms__ps_sshexec_transport
	                                               : &rms__ps_winrs_transport;
}

/* The transport s was opened with. */
static const struct rms_ps_transport *ts(const rms_session *s)
{
	const struct rms_ps_link *l = s->priv;
	return l ? l->t : transport_for(&s->opts);
}

static const struct rms_ps_transport *tp(const rms_op *op)
{
	return ts(op->session);
}

/* ---- failures, Broken ------------------------------------------------------ */

void rms__ps_session_lost(rms_session *s)
{
	if (s->state != RMS_STATE_OPENED)
		return;
	const rms_error *e = rms_error_last();
	s->state = RMS_STATE_BROKEN;
	rms_error_free(s->broken_reason);
	s->broken_reason = rms_error_dup(e);
	rms__log(&s->log, RMS_LOG_ERROR, "%s: broken: %s", s->name, rms_error_message(e));
}

rms_ps_cmd *rms__ps_cmd_of(rms_op *op)
{
	return op->priv ? &((struct ps_op *)op->priv)->cmd : NULL;
}

/* The op failed with the last error: kept for later calls; nothing more
 * comes from the remote side. Returns rc. */
static int op_failed(rms_op *op, int rc)
{
	struct ps_op *p = op->priv;
	if (!p->fail_rc) {
		p->fail_rc = rc;
		p->fail = rms_error_dup(rms_error_last());
	}
	op->ended = true;
	return rc;
}

void rms__ps_op_wake(rms_op *op)
{
	/* A deadline of now: the engine lays out its poll from op->wait and
	 * steps an op whose deadline has passed; the blocking loop waits on
	 * op->wait too. */
	if (op && !op->ended)
		rms__wait_until(&op->wait, rms__now_ms());
}

int rms__ps_cmd_failed(rms_ps_cmd *c, int rc)
{
	return op_failed(c->op, rc);
}

static int failure(const struct ps_op *p)
{
	return p->fail ? rms__error_restore(p->fail) : p->fail_rc;
}

/* ---- stopping ---------------------------------------------------------------- */

static void stop(rms_op *op, bool interrupt)
{
	struct ps_op *p = op->priv;
	if (!p->exited)
		tp(op)->stop(&p->cmd, interrupt);
}

int rms__ps_cmd_cancelled(rms_ps_cmd *c, const char *why)
{
	stop(c->op, true);
	return op_failed(c->op, rms__error_set(RMS_E_CANCELLED, RMS_PHASE_NONE,
	                                       "the command was cancelled (%s)", why));
}

static int fail_timeout(rms_op *op)
{
	stop(op, true);
	return op_failed(op, rms__error_set(RMS_E_TIMEOUT, RMS_PHASE_LIMIT,
	                                    "the command did not finish within its time limit "
	                                    "of %u ms; it was stopped (%s)",
	                                    op->req->timeout_ms, tp(op)->stop_how));
}

/* ---- output pieces ------------------------------------------------------------ */

/* The next piece of the batch: 0 with *out (borrowed until the transport
 * is stepped again), RMS_EAGAIN when the batch is used up. */
static int take_piece(rms_op *op, rms_chunk *out)
{
	struct ps_op *p = op->priv;
	if (p->next >= p->npieces)
		return RMS_EAGAIN;
	*out = p->pieces[p->next++];
	return 0;
}

static bool have_piece(const struct ps_op *p)
{
	return p->next < p->npieces;
}

static int take_piece_cb(rms_op *op, rms_chunk *out)
{
	return take_piece(op, out);
}

static int cancelled_cb(rms_op *op, const char *why)
{
	return rms__ps_cmd_cancelled(rms__ps_cmd_of(op), why);
}

/* A batch arrived: the caps first, then it is what next hands out. */
static int take_batch(rms_op *op, const rms_ps_output *o)
{
	struct ps_op *p = op->priv;
	uint64_t size = 0;
	for (size_t i = 0; i < o->npieces; i++)
		size += o->pieces[i].len;
	const char *name;
	uint64_t cap, got;
	if (o->npieces &&
	    rms__ps_caps_check(&op->session->opts, tp(op)->default_object_cap, !p->cim,
	                       &p->received, size, &name, &cap, &got)) {
		stop(op, false);
		return op_failed(op, rms__ps_limit_error(name, cap, got, p->received, "bytes"));
	}
	p->pieces = o->pieces;
	p->npieces = o->npieces;
	p->next = 0;
	return 0;
}

/* Killed by a signal (RFC 4254 6.10 name, without "SIG"): the exit code a
 * POSIX shell reports for it, 128 + its number (128 for a name not there). */
static int signal_exit_code(const char *name)
{
	static const struct {
		const char *name;
		int num;
	} sigs[] = { { "HUP", 1 },   { "INT", 2 },   { "QUIT", 3 },  { "ILL", 4 },   { "ABRT", 6 },
		     { "FPE", 8 },   { "KILL", 9 },  { "USR1", 10 }, { "SEGV", 11 }, { "USR2", 12 },
		     { "PIPE", 13 }, { "ALRM", 14 }, { "TERM", 15 } };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		if (strcmp(sigs[i].name, name) == 0)
			return 128 + sigs[i].num;
	return 128;
}

static void take_exit(rms_op *op, const rms_ps_output *o)
{
	struct ps_op *p = op->priv;
	p->exited = true;
	op->have_exit_code = true;
	op->exit_code = o->exit_code;
	if (o->signal) {
		op->exit_code = signal_exit_code(o->signal);
		rms__log(&op->session->log, RMS_LOG_INFO,
		         "%s: the command was killed by signal %s (exit code %d)", op->session->name,
		         o->signal, op->exit_code);
	}
}

/* One transport step of op, after the checks every step shares: 0 when
 * something came (a batch, the exit, the end), RMS_EAGAIN with *w, or the
 * op's failure. */
static int pump(rms_op *op, rms_wait *w)
{
	struct ps_op *p = op->priv;
	const struct rms_ps_transport *t = tp(op);
	if (p->fail_rc)
		return failure(p);
	if (!p->exited && op->req->kind != RMS_OP_IDENTIFY) {
		if (atomic_load(&op->cancelled))
			return rms__ps_cmd_cancelled(&p->cmd, "rms_op_cancel");
		if (p->cmd.started && p->cmd.deadline_ms && rms__now_ms() >= p->cmd.deadline_ms)
			return fail_timeout(op);
	}
	rms_ps_output o;
	memset(&o, 0, sizeof o);
	p->pieces = NULL;
	p->npieces = p->next = 0;
	rms__wait_clear(w);
	int rc = t->step(&p->cmd, w, &o);
	if (rc == RMS_EAGAIN) {
		if (p->cmd.started && !p->exited)
			rms__wait_until(w, p->cmd.deadline_ms);
		return rc;
	}
	if (rc) {
		if (o.lost)
			rms__ps_session_lost(op->session);
		return op_failed(op, rc);
	}
	if (p->fail_rc) /* the transport recorded it on the way */
		return failure(p);
	if ((rc = take_batch(op, &o)))
		return rc;
	if (o.exited)
		take_exit(op, &o);
	if (o.ended)
		op->ended = true;
	return 0;
}

/* ---- CIM operations ------------------------------------------------------------ */

/* The next instance of a CIM operation from what is buffered: 0 with *out,
 * RMS_EAGAIN when more output is needed, RMS_ITEROVER at the end. */
static int cim_take(rms_op *op, rms_instance **out)
{
	struct ps_op *p = op->priv;
	for (;;) {
		int rc = rms__ps_cim_take(&p->reader, out);
		if (rc == RMS_E_LIMIT)
			stop(op, false);
		if (rc != RMS_EAGAIN)
			return rms__is_failure(rc) ? op_failed(op, rc) : rc;
		rms_chunk c;
		if (take_piece(op, &c) == 0) {
			if ((rc = rms__ps_cim_feed(&p->reader, c.stream, c.data, c.len))) {
				stop(op, false);
				return op_failed(op, rc);
			}
			continue;
		}
		if (p->fail_rc)
			return failure(p);
		if (!op->ended)
			return RMS_EAGAIN;
		rc = rms__ps_cim_end(&p->reader, op->exit_code, out);
		return rms__is_failure(rc) ? op_failed(op, rc) : rc;
	}
}

/* Feed the batch's pieces into the reader until it holds a whole line (the
 * rest stay for cim_take, so the reader buffers no more than it must).
 * 0, or the op's failure. */
static int cim_feed(rms_op *op)
{
	struct ps_op *p = op->priv;
	rms_chunk c;
	while (!rms__ps_cim_ready(&p->reader) && take_piece(op, &c) == 0) {
		int rc = rms__ps_cim_feed(&p->reader, c.stream, c.data, c.len);
		if (rc) {
			stop(op, false);
			return op_failed(op, rc);
		}
	}
	return 0;
}

/* A get's one instance, once the command has ended: 1 with op->result,
 * 0 when more output is needed, or the failure. */
static int get_result(rms_op *op)
{
	struct ps_op *p = op->priv;
	if (p->get_done)
		return 1;
	for (;;) {
		rms_instance *inst = NULL;
		int rc = cim_take(op, &inst);
		if (rc == RMS_EAGAIN)
			return 0;
		if (rc == 0 && op->result) {
			rms_instance_free(inst);
			return op_failed(op, rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                                    "the remote Get-CimInstance returned more "
			                                    "than one instance for one key"));
		}
		if (rc == 0) {
			op->result = inst;
			continue;
		}
		if (rc != RMS_ITEROVER)
			return rc;
		if (!op->result)
			return op_failed(op, rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                                    "the remote Get-CimInstance returned no "
			                                    "instance and no error"));
		p->get_done = true;
		op->finished = true;
		return 1;
	}
}

/* get, enumerate or query as a remote Get-CimInstance. */
static int prepare_cim(rms_op *op)
{
	struct ps_op *p = op->priv;
	const struct rms_ps_transport *t = tp(op);
	if (!t->cim_commands) {
		char what[96];
		snprintf(what, sizeof what, "the PSSession %s operation over %s",
		         rms_op_kind_name(op->req->kind), t->name);
		return rms__not_implemented(RMS_BACKEND_PSSESSION, what);
	}
	uint64_t obj = rms__ps_object_cap(&op->session->opts, t->default_object_cap);
	char *ns = rms__request_target_namespace(op->req, op->session);
	if (!ns)
		return rms__error_nomem();
	p->cim = true;
	int rc = rms__ps_cim_reader_init(&p->reader, obj == RMS_LIMIT_UNLIMITED ? 0 : obj, ns);
	if (!rc)
		rc = rms__ps_cim_command(&p->cim_cmd, op->req, ns);
	free(ns);
	if (rc)
		return rc;
	p->cmd.command = p->cim_cmd.command;
	p->cmd.argv = p->cim_cmd.argv;
	p->cmd.argc = p->cim_cmd.argc;
	return 0;
}

/* ---- the vtable --------------------------------------------------------------- */

static bool ps_supports(const rms_session_options *o, rms_op_kind kind)
{
	if (rms__psrp_wanted(o))
		return rms__psrp_supports(o, kind);
	return transport_for(o)->supports(o, kind);
}

/* A session speaking PowerShell remoting (ps_psrp.c) rather than the
 * command shell. */
static bool psrp(const rms_session *s)
{
	return rms__psrp_wanted(&s->opts);
}

int rms__ps_open_with(rms_session *s, const struct rms_ps_transport *t)
{
	struct rms_ps_link *l = calloc(1, sizeof *l);
	if (!l)
		return rms__error_nomem();
	l->t = t;
	s->priv = l;
	return t->open(s);
}

static int ps_open(rms_session *s)
{
	if (psrp(s))
		return rms__psrp_open(s);
	if (s->connect_shell_id) /* never a new command shell in its place */
		return rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_NONE,
		                      "only a PowerShell shell (pssession protocol POWERSHELL over "
		                      "WinRM) can be connected to; the command shell is not "
		                      "disconnected by remsess");
	return rms__ps_open_with(s, transport_for(&s->opts));
}

static int ps_open_step(rms_session *s, rms_wait *w)
{
	if (psrp(s))
		return rms__psrp_open_step(s, w);
	return ts(s)->open_step(s, w);
}

static int ps_close(rms_session *s)
{
	if (psrp(s))
		return rms__psrp_close(s);
	return s->priv ? ts(s)->close(s) : 0;
}

static int ps_close_step(rms_session *s, rms_wait *w)
{
	if (psrp(s))
		return rms__psrp_close_step(s, w);
	return s->priv && ts(s)->close_step ? ts(s)->close_step(s, w) : 0;
}

static void ps_destroy(rms_session *s)
{
	if (psrp(s)) {
		rms__psrp_destroy(s);
		return;
	}
	if (!s->priv)
		return;
	ts(s)->destroy(s);
	free(s->priv);
	s->priv = NULL;
}

static int ps_start(rms_op *op)
{
	if (psrp(op->session))
		return rms__psrp_start(op);
	struct ps_op *p = calloc(1, sizeof *p);
	if (!p)
		return rms__error_nomem();
	op->priv = p;
	p->cmd.op = op;
	const rms_request *r = op->req;
	int rc = 0;
	if (r->kind == RMS_OP_RUN) {
		p->cmd.command = r->command;
		p->cmd.argv = r->argv;
		p->cmd.argc = r->argc;
		p->cmd.has_stdin = r->has_stdin || r->stdin_fn;
	} else if (r->kind != RMS_OP_IDENTIFY) {
		rc = prepare_cim(op);
	}
	if (rc)
		return rc;
	if (r->kind != RMS_OP_IDENTIFY)
		p->cmd.deadline_ms = rms__request_deadline(r);
	return tp(op)->begin(&p->cmd);
}

/* Whether the caller has something from op: 1 yes (or it ended), 0 no,
 * <0 its failure. A run with an output callback gets its output here. */
static int ready(rms_op *op)
{
	struct ps_op *p = op->priv;
	int rc;
	switch (op->req->kind) {
	case RMS_OP_RUN:
		if (op->req->output_fn) {
			rc = rms__ps_drive_output(op, take_piece_cb, cancelled_cb);
			if (rms__is_failure(rc))
				return rc;
		} else if (have_piece(p)) {
			return 1;
		}
		break;
	case RMS_OP_GET:
		return get_result(op);
	case RMS_OP_IDENTIFY:
		if (op->ended && !p->fail_rc)
			op->finished = true;
		break;
	default:
		/* A piece may hold only part of a JSON line: ready only once a
		 * whole line is in the reader (next then has an instance or a
		 * line's error), so next never answers RMS_EAGAIN after a step
		 * said 0. */
		if ((rc = cim_feed(op)))
			return rc;
		if (rms__ps_cim_ready(&p->reader))
			return 1;
		break;
	}
	if (p->fail_rc)
		return failure(p);
	return op->ended ? 1 : 0;
}

static int ps_step(rms_op *op, rms_wait *w)
{
	if (psrp(op->session))
		return rms__psrp_step(op, w);
	rms__wait_clear(w);
	for (unsigned n = 0;; n++) {
		int rc = ready(op);
		if (rc)
			return rc > 0 ? 0 : rc;
		if (n == BATCHES_PER_STEP) {
			/* More may be buffered below, where poll() does not see
			 * it: come back at once. */
			rms__wait_until(w, rms__now_ms());
			return RMS_EAGAIN;
		}
		if ((rc = pump(op, w)))
			return rc;
	}
}

static int ps_next(rms_op *op, rms_instance **out)
{
	if (psrp(op->session))
		return rms__psrp_next(op, out);
	struct ps_op *p = op->priv;
	if (!p || !p->cim)
		return rms__not_implemented(RMS_BACKEND_PSSESSION, rms_op_kind_name(op->req->kind));
	return cim_take(op, out);
}

static int ps_next_chunk(rms_op *op, rms_chunk *out)
{
	if (psrp(op->session))
		return rms__not_implemented(RMS_BACKEND_PSSESSION, rms_op_kind_name(op->req->kind));
	struct ps_op *p = op->priv;
	if (!p || p->cim || op->req->kind != RMS_OP_RUN)
		return rms__not_implemented(RMS_BACKEND_PSSESSION, rms_op_kind_name(op->req->kind));
	/* With an output callback the output goes out from step. */
	if (!out)
		return op->ended ? (p->fail_rc ? failure(p) : RMS_ITEROVER) : RMS_EAGAIN;
	if (take_piece(op, out) == 0)
		return 0;
	if (p->fail_rc)
		return failure(p);
	return op->ended ? RMS_ITEROVER : RMS_EAGAIN;
}

static int ps_next_object(rms_op *op, rms_ps_stream *stream, rms_value **out)
{
	if (!psrp(op->session))
		return rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_NONE,
		                      "a PowerShell pipeline needs a PSSession that speaks PowerShell "
		                      "remoting (options pssession_v2.protocol)");
	return rms__psrp_next_object(op, stream, out);
}

static void ps_op_free(rms_op *op)
{
	if (psrp(op->session)) {
		rms__psrp_op_free(op);
		return;
	}
	struct ps_op *p = op->priv;
	if (!p)
		return;
	const struct rms_ps_transport *t = tp(op);
	/* The whole cleanup (stop, then release) within the contract's bound,
	 * not each call within it. */
	p->cmd.cleanup_deadline_ms = rms__now_ms() + RMS_CLEANUP_TIMEOUT_MS;
	/* An unfinished command (cancelled, abandoned or failed) is stopped. */
	if (op->req->kind != RMS_OP_IDENTIFY)
		stop(op, true);
	t->release(&p->cmd);
	if (p->cim) {
		rms__ps_cim_reader_free(&p->reader);
		rms__ps_cim_command_free(&p->cim_cmd);
	}
	rms_error_free(p->fail);
	free(p);
	op->priv = NULL;
}

static int ps_check(rms_session *s, rms_instance **info)
{
	if (psrp(s))
		return rms__psrp_check(s, info);
	const struct rms_ps_transport *t = ((const struct rms_ps_link *)s->priv)->t;
	if (!t->check)
		return rms__error_set(RMS_E_NOT_IMPLEMENTED, RMS_PHASE_NONE,
		                      "checking a PSSession's shell over %s is not built yet", t->name);
	return t->check(s, info);
}

/* Disconnect, reconnect, ids: PowerShell remoting only (ps_psrp.c says
 * what its carrier can do); the command shell says why not. */
static int cmd_shell_no_disconnect(rms_session *s)
{
	return rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_NONE,
	                      "%s runs a command shell (%s): remsess disconnects only PowerShell "
	                      "sessions (pssession protocol POWERSHELL over WinRM, as "
	                      "Disconnect-PSSession)",
	                      s->name, ts(s)->name);
}

static int ps_disconnect(rms_session *s, uint32_t idle_timeout_ms)
{
	if (psrp(s))
		return rms__psrp_disconnect(s, idle_timeout_ms);
	return cmd_shell_no_disconnect(s);
}

static int ps_reconnect(rms_session *s)
{
	if (psrp(s))
		return rms__psrp_reconnect(s);
	return cmd_shell_no_disconnect(s);
}

static const char *ps_shell_id(const rms_session *s)
{
	return psrp(s) ? rms__psrp_shell_id(s) : NULL;
}

static const char *ps_op_command_id(const rms_op *op)
{
	return psrp(op->session) ? rms__psrp_command_id(op) : NULL;
}

const struct rms_backend_ops rms__pssession_backend = {
	.id = RMS_BACKEND_PSSESSION,
	.name = "PSSession",
	.supports = ps_supports,
	.open = ps_open,
	.open_step = ps_open_step,
	.close = ps_close,
	.close_step = ps_close_step,
	.destroy = ps_destroy,
	.start = ps_start,
	.step = ps_step,
	.next = ps_next,
	.next_chunk = ps_next_chunk,
	.next_object = ps_next_object,
	.op_free = ps_op_free,
	.check = ps_check,
	.disconnect = ps_disconnect,
	.reconnect = ps_reconnect,
	.shell_id = ps_shell_id,
	.op_command_id = ps_op_command_id,
};
