/*
 * The PSSession's WinRS transport: the command shell over WS-Management
 * (WinRM). Opening: Identify, the winrm/config Get for MaxEnvelopeSize,
 * the shell Create (only the Create when the options give the size); the session then holds one WS-Management client (one
 * keep-alive connection) and that one shell for its whole life. A command
 * is Command, stdin Sends, a Receive loop and Signals in that shell;
 * closing deletes the shell. Caps, time limits, cancel, callbacks and
 * Broken are the protocol layer's (ps_backend.c, ps_transport.h).
 *
 * Engine contract (core/api/backend.h): opening and every command are state
 * machines over rms__wsman_start / rms__wsman_step, and so is closing (the
 * exchange in flight settled, then the shell Delete); nothing waits except
 * the cleanup after a cancel or failure (Signal), which is bounded by
 * RMS_CLEANUP_TIMEOUT_MS.
 *
 * One exchange at a time: the session's connection carries one WS-Man
 * exchange, owned by ps_session.inflight. Stepping any command of the
 * session first advances the exchange in flight, whoever owns it; when it
 * ends its result (or failure) is recorded on its owner, and only then does
 * the stepping command start its own. So a command queued behind another
 * waits on that exchange's descriptor, never on nothing, and every command
 * gets its turn.
 *
 * Lost: a transport failure, or the server saying the shell is gone, turns
 * the session Broken at once (rms__ps_session_lost), since the other
 * commands queued on it must see that before they send. A request that
 * failed is not retried: a WinRS request is not idempotent (a Command or
 * Send may have reached the shell). libcurl reopens, before sending, a
 * keep-alive connection that the server closed while idle, so that case
 * needs nothing here.
 *
 * Output: one Receive answer's decoded stdout and stderr pieces are one
 * batch for the protocol layer (one "object" for the caps).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "defaults.h"
#include "fault.h"
#include "ps_limits.h"
#include "ps_transport.h"
#include "winrm_setup.h"
#include "wsman.h"
#include "wsman_ops.h"

/* Headroom left in a Send envelope beyond its measured size. */
#define SEND_MARGIN 256u
/* Longest OperationTimeout of one Receive: bounds how late a cancel from
 * another thread is noticed, and how long another op of the session waits
 * for its turn on the connection. */
#define RECEIVE_POLL_MS 5000u
/* Shortest OperationTimeout of a Receive near the command's time limit. */
#define RECEIVE_MIN_MS 200u

/* Creating the session. */
enum open_phase { OPEN_IDENTIFY, OPEN_CONFIG, OPEN_CREATE, OPEN_DONE };

/* The exchange a command has in flight. */
enum exchange { EX_NONE, EX_COMMAND, EX_SEND, EX_RECEIVE, EX_RELEASE, EX_IDENTIFY };

/* Where a command is: each phase is one or more exchanges. */
enum phase { PH_COMMAND, PH_STDIN, PH_RECEIVE, PH_RELEASE, PH_IDENTIFY, PH_ENDED };

struct winrs_cmd;

struct ps_session {
	rms_wsman *w;
	char *shell_id;
	const char *shell_uri;
	rms_ref *selectors; /* ShellId */
	bool shell_gone;    /* the server said so: nothing to delete */
	enum open_phase open;
	char *version; /* Identify's ProductVersion, while opening */
	/* The command that owns the exchange in flight on w (NULL: none, or
	 * the session's own while it opens or cleans up). */
	struct winrs_cmd *inflight;
	/* Closing (from winrs_close on, for good): commands send nothing
	 * more; the exchange in flight is settled until close_until, then
	 * the Delete runs (deleting) on the connection. */
	bool closing;
	bool deleting;
	uint64_t close_until;
};

struct winrs_cmd {
	rms_ps_cmd *c;
	char *command_id;
	enum phase phase;
	enum exchange ex; /* in flight (the session's inflight is this one) */
	char *command_body; /* the Command request's body until it is sent */
	bool done;    /* CommandState Done seen */
	bool has_exit_code; /* and it gave the exit code */
	bool stopped; /* signals sent (or the command released) */
	int fail_rc;  /* failed (recorded with the protocol layer) */
	rms_receive_result rr;
	bool have_rr;
	bool rr_new;      /* rr arrived and is not reported yet */
	rms_chunk *pieces; /* rr's stdout and stderr pieces, as reported */
	/* stdin: bytes per Send, what was sent, the piece in flight */
	size_t room;
	size_t stdin_off;
	unsigned char *stdin_buf; /* a piece read from the stdin callback */
	size_t piece_len;
	bool piece_end;
};

static rms_session *session_of(const struct winrs_cmd *x)
{
	return x->c->op->session;
}

static bool winrs_supports(const rms_session_options *o, rms_op_kind kind)
{
	(void)o;
	/* Commands, and the CIM queries that can run as a remote command. */
	return kind == RMS_OP_RUN || kind == RMS_OP_GET || kind == RMS_OP_ENUMERATE ||
	       kind == RMS_OP_QUERY || kind == RMS_OP_IDENTIFY;
}

/* ---- errors ------------------------------------------------------------- */

/* Cleanup leaves the caller's last error as it found it. */
static rms_error *error_save(void)
{
	const rms_error *e = rms_error_last();
	return e ? rms_error_dup(e) : NULL;
}

static void error_put_back(rms_error *saved)
{
	if (saved) {
		rms__error_restore(saved);
		rms_error_free(saved);
	} else {
		rms_error_clear();
	}
}

/* After a failed request: decide whether the session is lost, and if so
 * have it marked Broken with the error as the reason. Returns rc, which is
 * RMS_E_GONE when the server said the shell is gone. */
static int check_broken(rms_session *s, int rc, bool names_command)
{
	struct ps_session *ps = rms__ps_conn(s);
	bool lost, gone;
	rc = rms__winrm_failure(rc, names_command, &lost, &gone);
	if (gone && ps)
		ps->shell_gone = true;
	if (lost)
		rms__ps_session_lost(s);
	return rc;
}

/* x failed with the last error: recorded with the protocol layer (whoever
 * is stepping); nothing more comes. Returns rc. */
static int cmd_failed(struct winrs_cmd *x, int rc)
{
	x->phase = PH_ENDED;
	if (!x->fail_rc)
		x->fail_rc = rc;
	return rms__ps_cmd_failed(x->c, rc);
}


/* ---- the connection: one exchange at a time ------------------------------ */

static rms_wsman_request shell_request(const struct ps_session *ps, const char *action,
                                       const rms_wsman_option *opts, size_t nopts,
                                       const char *body, uint32_t timeout_ms)
{
	rms_wsman_request req = { .action = action,
		                  .resource_uri = ps->shell_uri,
		                  .selectors = ps->selectors,
		                  .options = opts,
		                  .noptions = nopts,
		                  .options_must_understand = nopts > 0,
		                  .timeout_ms = timeout_ms,
		                  .extra_xmlns = RMS_XMLNS_RSP,
		                  .body = body };
	return req;
}

/* x's exchange ex has begun (the connection was free). */
static void owns(struct winrs_cmd *x, enum exchange ex)
{
	struct ps_session *ps = rms__ps_conn(session_of(x));
	ps->inflight = x;
	x->ex = ex;
}

/* Begin x's exchange ex (the connection is free). */
static int start_exchange(struct winrs_cmd *x, enum exchange ex, const char *action,
                          const rms_wsman_option *opts, size_t nopts, const char *body,
                          uint32_t timeout_ms)
{
	rms_session *s = session_of(x);
	struct ps_session *ps = rms__ps_conn(s);
	rms_wsman_request req = shell_request(ps, action, opts, nopts, body, timeout_ms);
	int rc = rms__wsman_start(ps->w, &req);
	if (rc)
		return check_broken(s, rc, ex != EX_COMMAND);
	owns(x, ex);
	return 0;
}

static int complete(struct winrs_cmd *x, enum exchange ex, int rc, rms_wsman_reply *reply);

/* Advance the exchange in flight for self (the command being stepped or
 * cleaned up; NULL: the session): RMS_EAGAIN with *w, or its owner's
 * result once it ended (recorded on the owner, who may not be self). */
static int advance(rms_session *s, struct winrs_cmd *self, rms_wait *w)
{
	struct ps_session *ps = rms__ps_conn(s);
	struct winrs_cmd *owner = ps->inflight;
	rms_wsman_reply reply;
	memset(&reply, 0, sizeof reply);
	int rc = rms__wsman_step(ps->w, w, &reply);
	if (rc == RMS_EAGAIN)
		return rc;
	enum exchange ex = owner->ex;
	ps->inflight = NULL;
	owner->ex = EX_NONE;
	rc = complete(owner, ex, rc, &reply);
	/* The owner still waits on the connection's socket, now idle, with
	 * its exchange's old deadline (up to a Receive's OperationTimeout
	 * away): have it stepped now, to report the result and go on. */
	if (owner != self)
		rms__ps_op_wake(owner->c->op);
	return rc;
}

/* Drop the exchange in flight (the connection closes with it); an owner
 * other than self fails, since its request may or may not have run. */
static void abandon(rms_session *s, struct winrs_cmd *self)
{
	struct ps_session *ps = rms__ps_conn(s);
	struct winrs_cmd *owner = ps->inflight;
	rms__wsman_abort(ps->w);
	ps->inflight = NULL;
	if (!owner)
		return;
	owner->ex = EX_NONE;
	if (owner != self) {
		cmd_failed(owner, rms__error_set(RMS_E_TIMEOUT, RMS_PHASE_RECEIVE,
		                                 "its request was abandoned after %u ms so that "
		                                 "another operation of %s could clean up",
		                                 RMS_CLEANUP_TIMEOUT_MS, s->name));
		rms__ps_op_wake(owner->c->op); /* to report it */
	}
}

/* Free the connection for cleanup, blocking at most RMS_CLEANUP_TIMEOUT_MS:
 * the exchange in flight is finished, whoever owns it (self's own too, so
 * that a Command in flight gives the CommandId to stop), or dropped when it
 * takes longer. */
static void settle(rms_session *s, struct winrs_cmd *self)
{
	struct ps_session *ps = rms__ps_conn(s);
	if (!ps->inflight && rms__wsman_busy(ps->w))
		abandon(s, self);
	uint64_t until = rms__now_ms() + RMS_CLEANUP_TIMEOUT_MS;
	while (ps->inflight) {
		rms_wait w;
		if (advance(s, self, &w) != RMS_EAGAIN)
			continue;
		if (rms__now_ms() >= until) {
			abandon(s, self);
			break;
		}
		rms__wait_until(&w, until);
		if (rms__wait_block(&w))
			abandon(s, self);
	}
}

/* A cleanup request on the shell, sent at once and bounded. */
static int cleanup_send(rms_session *s, const char *action, const char *body, bool names_command)
{
	struct ps_session *ps = rms__ps_conn(s);
	rms_wsman_request req = shell_request(ps, action, NULL, 0, body, 0);
	rms_wsman_reply reply;
	rms__wsman_set_deadline(ps->w, RMS_CLEANUP_TIMEOUT_MS);
	int rc = rms__wsman_send(ps->w, &req, &reply);
	rms__wsman_set_deadline(ps->w, 0);
	if (rc)
		return check_broken(s, rc, names_command);
	rms__wsman_reply_free(&reply);
	return 0;
}

/* ---- the session -------------------------------------------------------- */

static int start_create(rms_session *s, struct ps_session *ps)
{
	char codepage[16];
	snprintf(codepage, sizeof codepage, "%u",
	         s->opts.pssession.codepage ? s->opts.pssession.codepage : RMS_CODEPAGE_UTF8);
	const rms_wsman_option opts[] = {
		{ .name = "WINRS_NOPROFILE", .value = s->opts.pssession.no_profile ? "TRUE" : "FALSE" },
		{ .name = "WINRS_CODEPAGE", .value = codepage },
	};
	rms_shell_params p = { .working_directory = s->opts.pssession.working_directory,
		               .idle_timeout_ms = s->opts.pssession.idle_timeout_ms };
	rms_buf body;
	rms__buf_init(&body);
	int rc = rms__body_shell_create(&body, &p);
	if (!rc) {
		rms_wsman_request req = { .action = RMS_ACTION_CREATE,
			                  .resource_uri = ps->shell_uri,
			                  .options = opts,
			                  .noptions = 2,
			                  .options_must_understand = true,
			                  .extra_xmlns = RMS_XMLNS_RSP,
			                  .body = body.data };
		rc = rms__wsman_start(ps->w, &req);
	}
	rms__buf_free(&body);
	ps->open = OPEN_CREATE;
	return rc;
}

static int created(rms_session *s, struct ps_session *ps, rms_wsman_reply *reply)
{
	xmlNode *el;
	int rc = rms__winrm_first_element(reply, &el, "shell Create");
	if (!rc) {
		/* The ShellId is in rsp:Shell or in x:ResourceCreated, whichever
		 * comes first; each element is only valid until the next read. */
		rc = rms__decode_shell_id(&ps->shell_id, el, NULL);
		if (rc == RMS_E_PROTOCOL && rms__soap_reader_next(reply->reader, &el) == 0)
			rc = rms__decode_shell_id(&ps->shell_id, el, NULL);
	}
	rms__wsman_reply_free(reply);
	if (rc)
		return rc;
	if ((rc = rms_ref_new(&ps->selectors, NULL, NULL)) ||
	    (rc = rms_ref_add_selector(ps->selectors, "ShellId", ps->shell_id)))
		return rc;
	s->stats.shells_opened++;
	s->stats.shells_open++;
	ps->open = OPEN_DONE;
	rms__log(&s->log, RMS_LOG_INFO, "%s: shell %s opened", s->name, ps->shell_id);
	return 0;
}

/* The MaxEnvelopeSize: the real value from winrm/config where the user may
 * read it (administrators); else by the protocol stack, as PowerShell
 * does (winrm_setup.c). */
static void set_envelope(rms_session *s, struct ps_session *ps, uint32_t kb)
{
	rms__wsman_set_max_envelope(ps->w, rms__winrm_envelope(s, ps->version, kb));
}

/* Identify's answer: the ProductVersion, for the envelope default. */
static int identified(struct ps_session *ps, rms_wsman_reply *reply)
{
	return rms__winrm_identified(ps->w, reply, &ps->version);
}

/* After Identify: read winrm/config unless the options fix the size. */
static int start_config(rms_session *s, struct ps_session *ps)
{
	if (s->opts.max_envelope_size)
		return start_create(s, ps);
	ps->open = OPEN_CONFIG;
	rms_wsman_request req = { .action = RMS_ACTION_GET, .resource_uri = RMS_URI_CONFIG };
	return rms__wsman_start(ps->w, &req);
}

static int winrs_open(rms_session *s)
{
	struct ps_session *ps = calloc(1, sizeof *ps);
	if (!ps)
		return rms__error_nomem();
	rms__ps_set_conn(s, ps);
	ps->shell_uri = s->opts.pssession.shell_uri ? s->opts.pssession.shell_uri
	                                            : RMS_URI_SHELL_CMD;
	int rc = rms__wsman_new(&ps->w, &s->opts, &s->stats, &s->log, NULL, s->gss_cred);
	if (rc)
		return rc;
	if (s->opts.max_envelope_size) {
		/* Identify would only tell the envelope's default, and the
		 * caller gave the size: the Create comes first, as it does from
		 * pywinrm and Go's winrm (so a session per command sends as many
		 * requests as theirs). A wrong password fails there just the
		 * same, in the authenticate phase (a 401: no shell was made). */
		rc = start_create(s, ps);
	} else {
		ps->open = OPEN_IDENTIFY;
		rc = rms__wsman_identify_start(ps->w, false);
	}
	return rc ? rc : RMS_EAGAIN;
}

static int winrs_open_step(rms_session *s, rms_wait *w)
{
	struct ps_session *ps = rms__ps_conn(s);
	for (;;) {
		rms_wsman_reply reply;
		memset(&reply, 0, sizeof reply);
		int rc = rms__wsman_step(ps->w, w, &reply);
		if (rc == RMS_EAGAIN)
			return rc;
		if (ps->open == OPEN_CREATE)
			return rc ? rc : created(s, ps, &reply);
		if (ps->open == OPEN_IDENTIFY) {
			if (rc || (rc = identified(ps, &reply)) || (rc = start_config(s, ps)))
				return rc;
			continue;
		}
		uint32_t kb;
		if ((rc = rms__winrm_config_read(s, rc, &reply, &kb)))
			return rc;
		set_envelope(s, ps, kb);
		if ((rc = start_create(s, ps)))
			return rc;
	}
}

/* The shell is deleted (or given up): the connection goes. */
static int close_done(rms_session *s, struct ps_session *ps)
{
	if (ps->shell_id && s->stats.shells_open)
		s->stats.shells_open--;
	free(ps->shell_id);
	ps->shell_id = NULL;
	rms__wsman_close(ps->w);
	return 0;
}

/* The close's machine: settle the exchange in flight (whoever owns it, as
 * settle does, within close_until, abandoned after), then the Delete, whose
 * HTTP timeout is capped at RMS_CLEANUP_TIMEOUT_MS. A failed Delete is
 * logged, not returned: the session is closed either way. */
static int close_advance(rms_session *s, struct ps_session *ps, rms_wait *w)
{
	while (ps->inflight) {
		struct winrs_cmd *owner = ps->inflight;
		if (owner->c->op->ended) {
			/* Its op has ended (an engine's close failed it): nobody
			 * waits for the answer, so it is dropped, not waited for
			 * (a long-poll Receive could take seconds). */
			rms__wsman_abort(ps->w);
			ps->inflight = NULL;
			owner->ex = EX_NONE;
			break;
		}
		rms__wait_clear(w);
		if (advance(s, NULL, w) != RMS_EAGAIN)
			continue;
		if (rms__now_ms() >= ps->close_until) {
			abandon(s, NULL);
			break;
		}
		rms__wait_until(w, ps->close_until);
		return RMS_EAGAIN;
	}
	int rc;
	if (!ps->deleting) {
		if (!ps->shell_id || ps->shell_gone)
			return close_done(s, ps);
		rms_wsman_request req = shell_request(ps, RMS_ACTION_DELETE, NULL, 0, NULL, 0);
		rms__wsman_set_deadline(ps->w, RMS_CLEANUP_TIMEOUT_MS);
		rc = rms__wsman_start(ps->w, &req);
		rms__wsman_set_deadline(ps->w, 0);
		if (rc) {
			check_broken(s, rc, false);
			goto failed;
		}
		ps->deleting = true;
	}
	rms_wsman_reply reply;
	memset(&reply, 0, sizeof reply);
	rms__wait_clear(w);
	rc = rms__wsman_step(ps->w, w, &reply);
	if (rc == RMS_EAGAIN)
		return rc;
	ps->deleting = false;
	if (rc) {
		check_broken(s, rc, false);
		goto failed;
	}
	rms__wsman_reply_free(&reply);
	return close_done(s, ps);
failed:
	rms__log(&s->log, RMS_LOG_WARNING, "%s: deleting shell %s failed: %s", s->name,
	         ps->shell_id, rms_error_message(rms_error_last()));
	return close_done(s, ps);
}

/* Begins closing: nothing is sent here (the first step does). */
static int winrs_close(rms_session *s)
{
	struct ps_session *ps = rms__ps_conn(s);
	if (!ps || !ps->w)
		return 0;
	ps->closing = true;
	ps->close_until = rms__now_ms() + RMS_CLEANUP_TIMEOUT_MS;
	rms_error *saved = error_save();
	/* An exchange nobody owns (a cleanup's, cut off) cannot be finished. */
	if (!ps->inflight && rms__wsman_busy(ps->w))
		abandon(s, NULL);
	int rc = ps->inflight || (ps->shell_id && !ps->shell_gone) ? RMS_EAGAIN
	                                                           : close_done(s, ps);
	error_put_back(saved);
	return rc;
}

static int winrs_close_step(rms_session *s, rms_wait *w)
{
	struct ps_session *ps = rms__ps_conn(s);
	if (!ps || !ps->w)
		return 0;
	rms_error *saved = error_save();
	int rc = close_advance(s, ps, w);
	error_put_back(saved);
	return rc;
}

static void winrs_destroy(rms_session *s)
{
	struct ps_session *ps = rms__ps_conn(s);
	if (!ps)
		return;
	/* A session whose open failed after creating the shell: closed here,
	 * blocking (bounded). A close abandoned midway (ps->closing) sends
	 * nothing more: freeing the client drops its exchange. */
	if (ps->shell_id && ps->w && !ps->closing) {
		rms_wait w;
		rms__wait_clear(&w);
		int rc = winrs_close(s);
		while (rc == RMS_EAGAIN && rms__wait_block(&w) == 0)
			rc = winrs_close_step(s, &w);
	}
	rms__wsman_free(ps->w);
	rms_ref_free(ps->selectors);
	free(ps->shell_id);
	free(ps->version);
	free(ps);
	rms__ps_set_conn(s, NULL);
}

/* ---- stopping a command --------------------------------------------------- */

static void send_signal(struct winrs_cmd *x, const char *code)
{
	rms_session *s = session_of(x);
	rms_buf body;
	rms__buf_init(&body);
	int rc = rms__body_signal(&body, x->command_id, code);
	if (!rc)
		rc = cleanup_send(s, RMS_ACTION_SIGNAL, body.data, true);
	rms__buf_free(&body);
	if (rc)
		rms__log(&s->log, RMS_LOG_WARNING, "%s: signal %s to command %s failed: %s",
		         s->name, strrchr(code, '/') + 1, x->command_id,
		         rms_error_message(rms_error_last()));
}

/* Stop the command remotely (ctrl_c first when asked, then terminate),
 * keeping the caller's error. Blocks for a bounded cleanup. */
static void winrs_stop(rms_ps_cmd *c, bool ctrl_c)
{
	struct winrs_cmd *x = c->t;
	if (!x || x->stopped || x->phase == PH_IDENTIFY)
		return;
	rms_session *s = session_of(x);
	struct ps_session *ps = rms__ps_conn(s);
	if (ps->closing) {
		/* The shell is being deleted, which ends its commands; the
		 * connection is the close's. */
		x->stopped = true;
		x->phase = PH_ENDED;
		return;
	}
	if (!x->command_id && ps->inflight != x) {
		/* Only queued (its Command not sent) or its Command failed:
		 * nothing runs remotely to stop, so nothing to wait for. Settling
		 * here would block on another command's long-poll Receive, and
		 * might abandon that healthy exchange. It never sends now. */
		x->stopped = true;
		x->phase = PH_ENDED;
		return;
	}
	rms_error *saved = error_save();
	settle(s, x);
	/* A command whose Command request failed has no id: nothing to stop.
	 * (Settling may have stopped it already.) */
	if (x->command_id && !x->stopped && s->state == RMS_STATE_OPENED) {
		x->stopped = true;
		if (ctrl_c)
			send_signal(x, RMS_SIGNAL_CTRL_C);
		if (s->state == RMS_STATE_OPENED)
			send_signal(x, RMS_SIGNAL_TERMINATE);
	}
	error_put_back(saved);
}

/* ---- buffered output ------------------------------------------------------ */

static void drop_rr(struct winrs_cmd *x)
{
	if (x->have_rr) {
		rms__receive_result_free(&x->rr);
		memset(&x->rr, 0, sizeof x->rr);
		x->have_rr = false;
	}
	x->rr_new = false;
	free(x->pieces);
	x->pieces = NULL;
}

/* Report the Receive answer that arrived: its stdout and stderr pieces
 * with data (borrowed from rr until the next Receive), and the exit code
 * when it says Done. */
static int report(struct winrs_cmd *x, rms_ps_output *out)
{
	x->rr_new = false;
	if (x->rr.nchunks && !(x->pieces = calloc(x->rr.nchunks, sizeof *x->pieces)))
		return cmd_failed(x, rms__error_nomem());
	size_t n = 0;
	for (size_t i = 0; i < x->rr.nchunks; i++) {
		const rms_receive_chunk *rc = &x->rr.chunks[i];
		bool out_ = strcmp(rc->stream, "stdout") == 0;
		if (!rc->len || (!out_ && strcmp(rc->stream, "stderr") != 0))
			continue;
		x->pieces[n].stream = out_ ? RMS_STREAM_STDOUT : RMS_STREAM_STDERR;
		x->pieces[n].data = rc->data;
		x->pieces[n++].len = rc->len;
	}
	out->pieces = x->pieces;
	out->npieces = n;
	if (x->rr.done) {
		x->done = true;
		x->has_exit_code = x->rr.has_exit_code;
		out->exited = x->rr.has_exit_code;
		out->exit_code = x->rr.exit_code;
	}
	return 0;
}

/* ---- the exchanges of a command -------------------------------------------- */

/* Bytes of stdin that fit in one Send: the limit minus an empty Send
 * envelope's size (and a margin), as base64. */
static int stdin_room(struct winrs_cmd *x, size_t *out)
{
	struct ps_session *ps = rms__ps_conn(session_of(x));
	rms_buf body, env;
	rms__buf_init(&body);
	rms__buf_init(&env);
	char mid[42];
	int rc = rms__body_send(&body, x->command_id, "stdin", "", 0, true);
	if (!rc) {
		rms_wsman_request req = shell_request(ps, RMS_ACTION_SEND, NULL, 0, body.data, 0);
		rc = rms__wsman_build(&env, ps->w, &req, mid);
	}
	size_t limit = rms__wsman_max_envelope(ps->w);
	size_t used = env.len + SEND_MARGIN;
	rms__buf_free(&body);
	rms__buf_free(&env);
	if (rc)
		return rc;
	*out = used < limit ? rms__send_payload_max(limit - used) : 0;
	if (*out == 0)
		return rms__error_set(RMS_E_ENVELOPE_TOO_LARGE, RMS_PHASE_LIMIT,
		                      "MaxEnvelopeSize %zu leaves no room for stdin data (an empty "
		                      "Send is %zu bytes)",
		                      limit, used);
	return 0;
}

/* The next piece of stdin into *data / x->piece_len / x->piece_end: from
 * the request's buffer, or read from its callback until a Send is full (so
 * the number of Sends stays near the minimum where it gives less at a
 * time). */
static int next_stdin_piece(struct winrs_cmd *x, const unsigned char **data)
{
	rms_request *r = x->c->op->req;
	if (!r->stdin_fn) {
		size_t left = r->stdin_len - x->stdin_off;
		x->piece_len = left < x->room ? left : x->room;
		x->piece_end = x->piece_len == left;
		*data = r->stdin_data + x->stdin_off;
		return 0;
	}
	if (!x->stdin_buf && !(x->stdin_buf = malloc(x->room)))
		return cmd_failed(x, rms__error_nomem());
	size_t have = 0;
	long got = 1;
	while (have < x->room &&
	       (got = r->stdin_fn(x->stdin_buf + have, x->room - have, r->stdin_userdata)) > 0)
		have += (size_t)got;
	if (got < 0)
		return cmd_failed(x, rms__ps_cmd_cancelled(x->c, "the stdin callback aborted"));
	x->piece_len = have;
	x->piece_end = got == 0;
	*data = x->stdin_buf;
	return 0;
}

static int start_send(struct winrs_cmd *x)
{
	int rc;
	if (!x->room && (rc = stdin_room(x, &x->room)))
		return cmd_failed(x, rc);
	const unsigned char *data = NULL;
	if ((rc = next_stdin_piece(x, &data)))
		return rc;
	rms_buf body;
	rms__buf_init(&body);
	rc = rms__body_send(&body, x->command_id, "stdin", data, x->piece_len, x->piece_end);
	if (!rc)
		rc = start_exchange(x, EX_SEND, RMS_ACTION_SEND, NULL, 0, body.data, 0);
	rms__buf_free(&body);
	return rc ? cmd_failed(x, rc) : 0;
}

static int start_receive(struct winrs_cmd *x)
{
	rms_session *s = session_of(x);
	static const rms_wsman_option opts[] = {
		{ .name = "WSMAN_CMDSHELL_OPTION_KEEPALIVE", .value = "TRUE" },
	};
	/* Within the command's time limit, so the server's w:TimedOut comes
	 * back about when the limit is reached. */
	uint32_t wait = RECEIVE_POLL_MS;
	if (s->opts.operation_timeout_ms && s->opts.operation_timeout_ms < wait)
		wait = s->opts.operation_timeout_ms;
	if (x->c->deadline_ms) {
		uint64_t now = rms__now_ms();
		uint64_t left = x->c->deadline_ms > now ? x->c->deadline_ms - now : 0;
		if (left < wait)
			wait = left < RECEIVE_MIN_MS ? RECEIVE_MIN_MS : (uint32_t)left;
	}
	rms_buf body;
	rms__buf_init(&body);
	int rc = rms__body_receive(&body, x->command_id, "stdout stderr");
	if (!rc)
		rc = start_exchange(x, EX_RECEIVE, RMS_ACTION_RECEIVE, opts, 1, body.data, wait);
	rms__buf_free(&body);
	return rc ? cmd_failed(x, rc) : 0;
}

/* Release the ended command on the server, as WinRS clients do; its
 * failure is only logged. */
static int start_release(struct winrs_cmd *x)
{
	rms_session *s = session_of(x);
	x->phase = PH_RELEASE;
	if (!x->has_exit_code) {
		x->stopped = true; /* Done was said: nothing to stop */
		return cmd_failed(x, rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                                    "the command ended without an exit code"));
	}
	if (x->stopped || s->state != RMS_STATE_OPENED) {
		x->phase = PH_ENDED;
		return 0;
	}
	x->stopped = true;
	rms_buf body;
	rms__buf_init(&body);
	int rc = rms__body_signal(&body, x->command_id, RMS_SIGNAL_TERMINATE);
	if (!rc)
		rc = start_exchange(x, EX_RELEASE, RMS_ACTION_SIGNAL, NULL, 0, body.data, 0);
	rms__buf_free(&body);
	if (rc) {
		rms__log(&s->log, RMS_LOG_WARNING, "%s: signal terminate to command %s failed: %s",
		         s->name, x->command_id, rms_error_message(rms_error_last()));
		rms_error_clear();
		x->phase = PH_ENDED;
	}
	return 0;
}

static int start_command(struct winrs_cmd *x)
{
	static const rms_wsman_option opts[] = {
		{ .name = "WINRS_CONSOLEMODE_STDIN", .value = "TRUE" },
		{ .name = "WINRS_SKIP_CMD_SHELL", .value = "FALSE" },
	};
	int rc = start_exchange(x, EX_COMMAND, RMS_ACTION_COMMAND, opts, 2, x->command_body, 0);
	if (rc)
		return cmd_failed(x, rc);
	free(x->command_body);
	x->command_body = NULL;
	return 0;
}

static int start_identify(struct winrs_cmd *x)
{
	rms_session *s = session_of(x);
	struct ps_session *ps = rms__ps_conn(s);
	int rc = rms__wsman_identify_start(ps->w, false);
	if (rc)
		return cmd_failed(x, check_broken(s, rc, false));
	owns(x, EX_IDENTIFY);
	return 0;
}

/* Begin the exchange that comes next for x (the connection is free).
 * 0 also when none comes: x has ended. */
static int start_next(struct winrs_cmd *x)
{
	switch (x->phase) {
	case PH_COMMAND:
		return start_command(x);
	case PH_STDIN:
		return start_send(x);
	case PH_RECEIVE:
		drop_rr(x);
		if (!x->done)
			return start_receive(x);
		return start_release(x);
	case PH_RELEASE:
		return start_release(x);
	case PH_IDENTIFY:
		return start_identify(x);
	case PH_ENDED:
		break;
	}
	return 0;
}

/* A Receive answer: kept for the next report, Done noted. w:TimedOut (no
 * output within the OperationTimeout) is no answer: ask again. */
static int received(struct winrs_cmd *x, int rc, rms_wsman_reply *reply)
{
	if (rc == RMS_E_TIMEOUT && rms__fault_is_timed_out(rms_error_last())) {
		rms_error_clear();
		return 0;
	}
	if (rc)
		return cmd_failed(x, check_broken(session_of(x), rc, true));
	xmlNode *el;
	drop_rr(x);
	if (!(rc = rms__winrm_first_element(reply, &el, "Receive")))
		rc = rms__decode_receive(&x->rr, el);
	rms__wsman_reply_free(reply);
	if (rc) {
		rms__receive_result_free(&x->rr);
		memset(&x->rr, 0, sizeof x->rr);
		return cmd_failed(x, rc);
	}
	x->have_rr = x->rr_new = true;
	return 0;
}

static int command_sent(struct winrs_cmd *x, int rc, rms_wsman_reply *reply)
{
	rms_session *s = session_of(x);
	xmlNode *el;
	if (rc)
		return cmd_failed(x, check_broken(s, rc, false));
	if (!(rc = rms__winrm_first_element(reply, &el, "Command")))
		rc = rms__decode_command_id(&x->command_id, el);
	rms__wsman_reply_free(reply);
	if (rc)
		return cmd_failed(x, rc);
	rms__log(&s->log, RMS_LOG_DEBUG, "%s: command %s started: %s", s->name, x->command_id,
	         x->c->command);
	x->phase = x->c->has_stdin ? PH_STDIN : PH_RECEIVE;
	return 0;
}

static int identify_done(struct winrs_cmd *x, int rc, rms_wsman_reply *reply)
{
	rms_session *s = session_of(x);
	struct ps_session *ps = rms__ps_conn(s);
	if (rc)
		return cmd_failed(x, check_broken(s, rc, false));
	rc = rms__wsman_identify_decode(ps->w, reply, &x->c->op->result);
	rms__wsman_reply_free(reply);
	if (rc)
		return cmd_failed(x, rc);
	x->phase = PH_ENDED;
	return 0;
}

/* The end of x's exchange ex: rc and reply are rms__wsman_step's. Its
 * result goes onto x, its failure too (cmd_failed). */
static int complete(struct winrs_cmd *x, enum exchange ex, int rc, rms_wsman_reply *reply)
{
	rms_session *s = session_of(x);
	switch (ex) {
	case EX_COMMAND:
		return command_sent(x, rc, reply);
	case EX_SEND:
		if (rc)
			return cmd_failed(x, check_broken(s, rc, true));
		rms__wsman_reply_free(reply);
		x->stdin_off += x->piece_len;
		if (x->piece_end)
			x->phase = PH_RECEIVE;
		return 0;
	case EX_RECEIVE:
		return received(x, rc, reply);
	case EX_RELEASE:
		if (rc) {
			check_broken(s, rc, true);
			rms__log(&s->log, RMS_LOG_WARNING, "%s: signal terminate to command %s "
			         "failed: %s", s->name, x->command_id,
			         rms_error_message(rms_error_last()));
			rms_error_clear();
		}
		rms__wsman_reply_free(reply);
		x->phase = PH_ENDED;
		return 0;
	case EX_IDENTIFY:
		return identify_done(x, rc, reply);
	case EX_NONE:
		break;
	}
	rms__wsman_reply_free(reply);
	return rc;
}

/*
 * One exchange of x: wait for the connection (advancing the exchange in
 * flight, whoever owns it), start x's next exchange and advance it. 0 when
 * an exchange of x ended (its result is on x), RMS_EAGAIN with *w, or x's
 * failure.
 */
static int pump(struct winrs_cmd *x, rms_wait *w)
{
	rms_session *s = session_of(x);
	struct ps_session *ps = rms__ps_conn(s);
	int rc;
	if (ps->inflight && ps->inflight != x) {
		if ((rc = advance(s, x, w)) == RMS_EAGAIN)
			return rc;
		/* Another command's exchange ended; its failure is its own. */
		if (rc)
			rms_error_clear();
	}
	if (x->fail_rc)
		return x->fail_rc;
	if (!ps->inflight) {
		/* Closing: the connection carries the Delete now. */
		if (s->state != RMS_STATE_OPENED || ps->closing)
			return cmd_failed(x, rms__session_usable(s));
		if ((rc = start_next(x)) || !ps->inflight)
			return rc;
	}
	return advance(s, x, w);
}

/* ---- the transport's command calls ------------------------------------------ */

static int winrs_begin(rms_ps_cmd *c)
{
	rms_session *s = c->op->session;
	struct ps_session *ps = rms__ps_conn(s);
	struct winrs_cmd *x = calloc(1, sizeof *x);
	if (!x)
		return rms__error_nomem();
	c->t = x;
	x->c = c;
	/* The time limit counts from here, the Command waiting its turn
	 * included. */
	c->started = true;
	if (c->op->req->kind == RMS_OP_IDENTIFY) {
		x->phase = PH_IDENTIFY;
		return 0;
	}
	rms_buf body;
	rms__buf_init(&body);
	int rc = rms__body_command(&body, c->command, c->argc, (const char *const *)c->argv);
	if (!rc && !(x->command_body = rms__buf_take(&body)))
		rc = rms__error_nomem();
	rms__buf_free(&body);
	if (rc)
		return rc;
	/* Sent now when the connection is free, else when x is stepped. */
	if (!ps->inflight && !rms__wsman_busy(ps->w) && (rc = start_command(x)))
		return rc;
	return 0;
}

static int winrs_step(rms_ps_cmd *c, rms_wait *w, rms_ps_output *out)
{
	struct winrs_cmd *x = c->t;
	for (;;) {
		if (x->fail_rc)
			return x->fail_rc;
		if (x->rr_new)
			return report(x, out);
		if (x->phase == PH_ENDED) {
			out->ended = true;
			return 0;
		}
		int rc = pump(x, w);
		if (rc) {
			out->lost = session_of(x)->state == RMS_STATE_BROKEN;
			return rc;
		}
	}
}

static void winrs_release(rms_ps_cmd *c)
{
	struct winrs_cmd *x = c->t;
	if (!x)
		return;
	struct ps_session *ps = rms__ps_conn(session_of(x));
	/* An exchange of x still in flight (its release) is finished first,
	 * since the session's connection must not point at freed state. */
	if (ps && ps->inflight == x) {
		rms_error *saved = error_save();
		/* While the session closes, waiting here would block the caller
		 * of an engine: dropped instead (the close goes on without it). */
		if (ps->closing)
			abandon(session_of(x), x);
		else
			settle(session_of(x), x);
		error_put_back(saved);
	}
	drop_rr(x);
	free(x->stdin_buf);
	free(x->command_body);
	free(x->command_id);
	free(x);
	c->t = NULL;
}

static int winrs_check(rms_session *s, rms_instance **info)
{
	struct ps_session *ps = rms__ps_conn(s);
	if (!ps || !ps->shell_id || ps->closing)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE, "%s has no shell open to check",
		                      s->name);
	if (ps->inflight)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE,
		                      "%s: a command's exchange is in flight on the connection; "
		                      "check the shell between operations",
		                      s->name);
	bool gone;
	int rc = rms__winrm_shell_check(s, ps->w, ps->selectors, ps->shell_id, info, &gone);
	if (gone)
		ps->shell_gone = true; /* nothing to Delete at close */
	return rc;
}

const struct rms_ps_transport rms__ps_winrs_transport = {
	.name = "WinRM",
	.default_object_cap = RMS_PS_DEFAULT_OBJECT_WINRM,
	.stop_how = "ctrl_c, terminate",
	.cim_commands = true,
	.supports = winrs_supports,
	.open = winrs_open,
	.open_step = winrs_open_step,
	.close = winrs_close,
	.close_step = winrs_close_step,
	.destroy = winrs_destroy,
	.begin = winrs_begin,
	.step = winrs_step,
	.stop = winrs_stop,
	.release = winrs_release,
	.check = winrs_check,
};
