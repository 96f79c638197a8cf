/*
 * The PSSession backend (New-PSSession semantics) over WinRM: creating a
 * session validates, connects, authenticates (Identify), learns the
 * MaxEnvelopeSize and opens one WinRS shell, and fails right there with the
 * phase. The session then holds that one WS-Management client (one
 * keep-alive connection) and that one shell for its whole life; every
 * command runs in the shell (Command, Send, Receive, Signal) and closing the
 * session deletes it.
 *
 * Engine contract (core/api/backend.h): opening and every command are state
 * machines over rms__wsman_start / rms__wsman_step; nothing waits except
 * the cleanup after a cancel or failure (Signal, shell Delete), which is
 * bounded by RMS_CLEANUP_TIMEOUT_MS.
 *
 * One exchange at a time: the session's connection carries one WS-Man
 * exchange, owned by ps_session.inflight. Stepping any op of the session
 * first advances the exchange in flight, whoever owns it; when it ends its
 * result (or failure) is recorded on its owner, and only then does the
 * stepping op start its own. So an op queued behind another waits on that
 * exchange's descriptor, never on nothing, and every op gets its turn.
 *
 * State: a transport failure, or the server saying the shell is gone, turns
 * the session Broken with the reason kept; core/api/op.c refuses later calls
 * with RMS_E_STATE naming it. A request that failed is not retried: a WinRS
 * request is not idempotent (a Command or Send may have reached the shell).
 * libcurl reopens, before sending, a keep-alive connection that the server
 * closed while idle, so that case needs nothing here.
 *
 * Received-data caps (PowerShell's MaximumReceivedDataSizePerCommand and
 * MaximumReceivedObjectSize): the cmd shell has no objects, so one Receive
 * answer's decoded output counts as one "object". A cap is checked before
 * any of an answer's data is delivered; when exceeded the command is
 * stopped remotely and the op fails. Nothing is truncated silently.
 *
 * CIM operations (get, enumerate, query) run on the remote computer as a
 * PowerShell command (ps_cim.c); its stdout is one JSON line per instance,
 * decoded into the same typed values the CIM backend gives. There each line
 * is one "object" for MaximumReceivedObjectSize.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "defaults.h"
#include "fault.h"
#include "ps_cim.h"
#include "ps_limits.h"
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

/* Creating the session, after Identify. */
enum open_phase { OPEN_CONFIG, OPEN_CREATE, OPEN_DONE };

/* The exchange an op has in flight. */
enum exchange { EX_NONE, EX_COMMAND, EX_SEND, EX_RECEIVE, EX_RELEASE };

/* Where a command is: each phase is one or more exchanges. */
enum phase { PH_COMMAND, PH_STDIN, PH_RECEIVE, PH_RELEASE, PH_ENDED };

struct ps_session {
	rms_wsman *w;
	char *shell_id;
	const char *shell_uri;
	rms_ref *selectors; /* ShellId */
	bool shell_gone;    /* the server said so: nothing to delete */
	enum open_phase open;
	char *version; /* Identify's ProductVersion, while opening */
	/* The op that owns the exchange in flight on w (NULL: none, or the
	 * session's own while it opens). */
	rms_op *inflight;
};

struct ps_op {
	char *command_id;
	enum phase phase;
	enum exchange ex; /* in flight (the session's inflight is this op) */
	char *command_body; /* the Command request's body until it is sent */
	bool done;    /* CommandState Done seen */
	bool stopped; /* signals sent (or the command released) */
	/* The op's failure, given again by every later call. */
	int fail_rc;
	rms_error *fail;
	rms_receive_result rr;
	bool have_rr;
	size_t next; /* next chunk of rr to deliver */
	uint64_t received;
	uint64_t deadline_ms; /* 0: none */
	/* stdin: bytes per Send, what was sent, the piece in flight */
	size_t room;
	size_t stdin_off;
	unsigned char *stdin_buf; /* a piece read from the stdin callback */
	size_t piece_len;
	bool piece_end;
	bool cim; /* a CIM operation: stdout is decoded by reader */
	rms_ps_cim_reader reader;
	bool get_done; /* a get has its result */
};

static bool ps_supports(const rms_session_options *o, rms_op_kind kind)
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

/* Whether a failed request says the shell is gone, from the fault's
 * structure: w:InvalidSelectors / ERROR_WSMAN_UNEXPECTED_SELECTORS names an
 * unknown selector, and the only selector is the ShellId; but WinRS gives
 * the same fault for an unknown CommandId (in the body), without a
 * provider. The shell plugin reports an unknown ShellId through an
 * f:ProviderFault. So: a request that names no command can only mean the
 * shell; one that does means the shell when a provider reported it. */
static bool shell_is_gone(const rms_error *e, bool names_command)
{
	const char *sub = rms_error_fault_subcode(e);
	bool selectors = rms_error_wsman_code(e) == RMS_WSMAN_ERR_INVALID_SELECTORS ||
	                 (sub && strcmp(sub, "w:InvalidSelectors") == 0);
	return selectors && (!names_command || rms_error_provider(e) != NULL);
}

/* After a failed request: decide whether the session is lost, and if so
 * mark it Broken with the error as the reason. Returns rc. */
static int check_broken(rms_session *s, int rc, bool names_command)
{
	struct ps_session *ps = s->priv;
	const rms_error *e = rms_error_last();
	bool lost = false;
	if (rc == RMS_E_CONNECTION_LOST || rc == RMS_E_CONNECT || rc == RMS_E_RESOLVE ||
	    rc == RMS_E_TLS)
		lost = true;
	else if (rc == RMS_E_TIMEOUT && !rms__fault_is_timed_out(e))
		lost = true;
	else if (rc == RMS_E_FAULT && e && shell_is_gone(e, names_command)) {
		lost = true;
		if (ps)
			ps->shell_gone = true;
	}
	if (lost && s->state == RMS_STATE_OPENED) {
		s->state = RMS_STATE_BROKEN;
		rms_error_free(s->broken_reason);
		s->broken_reason = rms_error_dup(e);
		rms__log(&s->log, RMS_LOG_ERROR, "%s: broken: %s", s->name, rms_error_message(e));
	}
	return rc;
}

/* The op failed with the last error: keep it for later calls; nothing more
 * comes from the remote side. Returns rc. */
static int op_failed(rms_op *op, int rc)
{
	struct ps_op *p = op->priv;
	if (!p->fail_rc) {
		p->fail_rc = rc;
		p->fail = rms_error_dup(rms_error_last());
	}
	p->phase = PH_ENDED;
	op->ended = true;
	return rc;
}

static int failure(const struct ps_op *p)
{
	return p->fail ? rms__error_restore(p->fail) : p->fail_rc;
}

static int first_element(rms_wsman_reply *reply, xmlNode **out, const char *what)
{
	int rc = rms__soap_reader_next(reply->reader, out);
	if (rc == RMS_ITEROVER)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE, "the %s answer is empty",
		                      what);
	return rc;
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

/* Begin op's exchange ex (the connection is free). */
static int start_exchange(rms_op *op, enum exchange ex, const char *action,
                          const rms_wsman_option *opts, size_t nopts, const char *body,
                          uint32_t timeout_ms)
{
	rms_session *s = op->session;
	struct ps_session *ps = s->priv;
	struct ps_op *p = op->priv;
	rms_wsman_request req = shell_request(ps, action, opts, nopts, body, timeout_ms);
	int rc = rms__wsman_start(ps->w, &req);
	if (rc)
		return check_broken(s, rc, ex != EX_COMMAND);
	ps->inflight = op;
	p->ex = ex;
	return 0;
}

static int complete(rms_op *op, enum exchange ex, int rc, rms_wsman_reply *reply);

/* Advance the exchange in flight: RMS_EAGAIN with *w, or its owner's result
 * once it ended (recorded on the owner, who may not be the caller). */
static int advance(rms_session *s, rms_wait *w)
{
	struct ps_session *ps = s->priv;
	rms_op *owner = ps->inflight;
	rms_wsman_reply reply;
	memset(&reply, 0, sizeof reply);
	int rc = rms__wsman_step(ps->w, w, &reply);
	if (rc == RMS_EAGAIN)
		return rc;
	struct ps_op *p = owner->priv;
	enum exchange ex = p->ex;
	ps->inflight = NULL;
	p->ex = EX_NONE;
	return complete(owner, ex, rc, &reply);
}

/* Drop the exchange in flight (the connection closes with it); an owner
 * other than self fails, since its request may or may not have run. */
static void abandon(rms_session *s, rms_op *self)
{
	struct ps_session *ps = s->priv;
	rms_op *owner = ps->inflight;
	rms__wsman_abort(ps->w);
	ps->inflight = NULL;
	if (!owner)
		return;
	((struct ps_op *)owner->priv)->ex = EX_NONE;
	if (owner != self)
		op_failed(owner, rms__error_set(RMS_E_TIMEOUT, RMS_PHASE_RECEIVE,
		                                "its request was abandoned after %u ms so that "
		                                "another operation of %s could clean up",
		                                RMS_CLEANUP_TIMEOUT_MS, s->name));
}

/* Free the connection for cleanup, blocking at most RMS_CLEANUP_TIMEOUT_MS:
 * the exchange in flight is finished, whoever owns it (self's own too, so
 * that a Command in flight gives the CommandId to stop), or dropped when it
 * takes longer. */
static void settle(rms_session *s, rms_op *self)
{
	struct ps_session *ps = s->priv;
	if (!ps->inflight && rms__wsman_busy(ps->w))
		abandon(s, self);
	uint64_t until = rms__now_ms() + RMS_CLEANUP_TIMEOUT_MS;
	while (ps->inflight) {
		rms_wait w;
		if (advance(s, &w) != RMS_EAGAIN)
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
	struct ps_session *ps = s->priv;
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
	int rc = first_element(reply, &el, "shell Create");
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

/*
 * The answer to the winrm/config Get: the server's MaxEnvelopeSizekb in
 * *kb. Windows answers it to administrators only (others get
 * w:AccessDenied); any failure other than a lost connection leaves *kb at
 * 0 and the caller falls back to the protocol version's default, as
 * PowerShell does.
 */
static int config_read(rms_session *s, int rc, rms_wsman_reply *reply, uint32_t *kb)
{
	*kb = 0;
	if (rc) {
		if (rc == RMS_E_CONNECTION_LOST || rc == RMS_E_CONNECT || rc == RMS_E_TLS ||
		    rc == RMS_E_AUTH || rc == RMS_E_CANCELLED ||
		    (rc == RMS_E_TIMEOUT && !rms__fault_is_timed_out(rms_error_last())))
			return rc;
		rms__log(&s->log, RMS_LOG_DEBUG, "%s: winrm/config not readable (%s)", s->name,
		         rms_error_message(rms_error_last()));
		rms_error_clear();
		return 0;
	}
	xmlNode *cfg;
	if (first_element(reply, &cfg, "Config") == 0) {
		xmlNode *el = rms__xml_child(cfg, RMS_NS_CONFIG, "MaxEnvelopeSizekb");
		char *text = el ? rms__xml_text(el) : NULL;
		char *end = NULL;
		unsigned long v = text ? strtoul(text, &end, 10) : 0;
		/* Windows accepts 32 and up; more than 4 GB is no envelope size. */
		if (text && end != text && *end == '\0' && v >= 32 && v <= 4194303)
			*kb = (uint32_t)v;
		else
			rms__log(&s->log, RMS_LOG_WARNING,
			         "%s: winrm/config has no usable MaxEnvelopeSizekb ('%.32s')",
			         s->name, text ? text : "");
		free(text);
	} else {
		rms_error_clear();
	}
	rms__wsman_reply_free(reply);
	return 0;
}

/* The MaxEnvelopeSize: the real value from winrm/config where the user may
 * read it (administrators); else by the protocol stack, as PowerShell
 * does. */
static void set_envelope(rms_session *s, struct ps_session *ps, uint32_t kb)
{
	const char *version = ps->version;
	uint32_t env = kb ? kb * 1024u
	                  : (version && strstr(version, "Stack: 2.0")) ? RMS_WINRM2_MAX_ENVELOPE
	                                                               : RMS_DEFAULT_MAX_ENVELOPE;
	rms__wsman_set_max_envelope(ps->w, env);
	rms__log(&s->log, RMS_LOG_DEBUG, "%s: server %s: MaxEnvelopeSize %u (%s)", s->name,
	         version ? version : "(no version)", env,
	         kb ? "winrm/config" : "protocol version default");
}

static int ps_open(rms_session *s)
{
	if (s->opts.transport == RMS_TRANSPORT_SSH)
		return rms__not_implemented(RMS_BACKEND_PSSESSION, "the PSSession over SSH");
	struct ps_session *ps = calloc(1, sizeof *ps);
	if (!ps)
		return rms__error_nomem();
	s->priv = ps;
	ps->shell_uri = s->opts.pssession.shell_uri ? s->opts.pssession.shell_uri
	                                            : RMS_URI_SHELL_CMD;
	int rc = rms__wsman_new(&ps->w, &s->opts, &s->stats, &s->log, NULL);
	if (rc)
		return rc;
	/* TRANSITIONAL: Identify blocks until core/wsman has a non-blocking
	 * form of it (rms__wsman_identify has its own envelope, which
	 * rms__wsman_start cannot send). */
	rms_instance *id = NULL;
	if ((rc = rms__wsman_identify(ps->w, false, &id)))
		return rc;
	const char *version = NULL;
	const rms_value *v = rms_instance_get(id, "ProductVersion");
	if (v && rms_value_get_string(v, &version) == 0 && version &&
	    !(ps->version = rms__strdup(version))) {
		rms_instance_free(id);
		return rms__error_nomem();
	}
	rms_instance_free(id);
	if (s->opts.max_envelope_size) {
		rc = start_create(s, ps);
	} else {
		ps->open = OPEN_CONFIG;
		rms_wsman_request req = { .action = RMS_ACTION_GET, .resource_uri = RMS_URI_CONFIG };
		rc = rms__wsman_start(ps->w, &req);
	}
	return rc ? rc : RMS_EAGAIN;
}

static int ps_open_step(rms_session *s, rms_wait *w)
{
	struct ps_session *ps = s->priv;
	for (;;) {
		rms_wsman_reply reply;
		memset(&reply, 0, sizeof reply);
		int rc = rms__wsman_step(ps->w, w, &reply);
		if (rc == RMS_EAGAIN)
			return rc;
		if (ps->open == OPEN_CREATE)
			return rc ? rc : created(s, ps, &reply);
		uint32_t kb;
		if ((rc = config_read(s, rc, &reply, &kb)))
			return rc;
		set_envelope(s, ps, kb);
		if ((rc = start_create(s, ps)))
			return rc;
	}
}

static int ps_close(rms_session *s)
{
	struct ps_session *ps = s->priv;
	if (!ps || !ps->w)
		return 0;
	rms_error *saved = error_save();
	settle(s, NULL);
	if (ps->shell_id && !ps->shell_gone &&
	    cleanup_send(s, RMS_ACTION_DELETE, NULL, false) != 0)
		rms__log(&s->log, RMS_LOG_WARNING, "%s: deleting shell %s failed: %s", s->name,
		         ps->shell_id, rms_error_message(rms_error_last()));
	error_put_back(saved);
	if (ps->shell_id && s->stats.shells_open)
		s->stats.shells_open--;
	free(ps->shell_id);
	ps->shell_id = NULL;
	rms__wsman_close(ps->w);
	return 0;
}

static void ps_destroy(rms_session *s)
{
	struct ps_session *ps = s->priv;
	if (!ps)
		return;
	/* A session whose open failed after creating the shell. */
	if (ps->shell_id && ps->w)
		ps_close(s);
	rms__wsman_free(ps->w);
	rms_ref_free(ps->selectors);
	free(ps->shell_id);
	free(ps->version);
	free(ps);
	s->priv = NULL;
}

/* ---- stopping a command --------------------------------------------------- */

static void send_signal(rms_op *op, const char *code)
{
	struct ps_op *p = op->priv;
	rms_session *s = op->session;
	rms_buf body;
	rms__buf_init(&body);
	int rc = rms__body_signal(&body, p->command_id, code);
	if (!rc)
		rc = cleanup_send(s, RMS_ACTION_SIGNAL, body.data, true);
	rms__buf_free(&body);
	if (rc)
		rms__log(&s->log, RMS_LOG_WARNING, "%s: signal %s to command %s failed: %s",
		         s->name, strrchr(code, '/') + 1, p->command_id,
		         rms_error_message(rms_error_last()));
}

/* Stop the command remotely (ctrl_c first when asked, then terminate),
 * keeping the caller's error. Blocks for a bounded cleanup. */
static void stop_command(rms_op *op, bool ctrl_c)
{
	struct ps_op *p = op->priv;
	if (!p || p->stopped)
		return;
	rms_error *saved = error_save();
	settle(op->session, op);
	/* A command whose Command request failed has no id: nothing to stop.
	 * (Settling may have stopped it already: a cap in its last answer.) */
	if (p->command_id && !p->stopped && op->session->state == RMS_STATE_OPENED) {
		p->stopped = true;
		if (ctrl_c)
			send_signal(op, RMS_SIGNAL_CTRL_C);
		if (op->session->state == RMS_STATE_OPENED)
			send_signal(op, RMS_SIGNAL_TERMINATE);
	}
	error_put_back(saved);
}

static bool timed_out(const struct ps_op *p)
{
	return p->deadline_ms && rms__now_ms() >= p->deadline_ms;
}

static int fail_timeout(rms_op *op)
{
	stop_command(op, true);
	return op_failed(op, rms__error_set(RMS_E_TIMEOUT, RMS_PHASE_LIMIT,
	                                    "the command did not finish within its time limit "
	                                    "of %u ms; it was stopped (ctrl_c, terminate)",
	                                    op->req->timeout_ms));
}

static int fail_cancelled(rms_op *op, const char *why)
{
	stop_command(op, true);
	return op_failed(op, rms__error_set(RMS_E_CANCELLED, RMS_PHASE_NONE,
	                                    "the command was cancelled (%s)", why));
}

/* ---- buffered output ------------------------------------------------------ */

static void drop_rr(struct ps_op *p)
{
	if (p->have_rr) {
		rms__receive_result_free(&p->rr);
		memset(&p->rr, 0, sizeof p->rr);
		p->have_rr = false;
	}
	p->next = 0;
}

/* Skip the pieces of rr that carry nothing for the caller; true when one
 * is left. */
static bool have_chunk(struct ps_op *p)
{
	while (p->have_rr && p->next < p->rr.nchunks) {
		const rms_receive_chunk *c = &p->rr.chunks[p->next];
		if (c->len && (strcmp(c->stream, "stdout") == 0 || strcmp(c->stream, "stderr") == 0))
			return true;
		p->next++;
	}
	return false;
}

/* The next buffered piece of output: 0 with *out, RMS_EAGAIN when none is
 * buffered. *out stays valid until the next Receive. */
static int take_chunk(rms_op *op, rms_chunk *out)
{
	struct ps_op *p = op->priv;
	if (!have_chunk(p))
		return RMS_EAGAIN;
	const rms_receive_chunk *c = &p->rr.chunks[p->next++];
	out->stream = strcmp(c->stream, "stdout") == 0 ? RMS_STREAM_STDOUT : RMS_STREAM_STDERR;
	out->data = c->data;
	out->len = c->len;
	return 0;
}

/* ---- the exchanges of a command -------------------------------------------- */

/* Bytes of stdin that fit in one Send: the limit minus an empty Send
 * envelope's size (and a margin), as base64. */
static int stdin_room(rms_op *op, size_t *out)
{
	struct ps_op *p = op->priv;
	struct ps_session *ps = op->session->priv;
	rms_buf body, env;
	rms__buf_init(&body);
	rms__buf_init(&env);
	char mid[42];
	int rc = rms__body_send(&body, p->command_id, "stdin", "", 0, true);
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

/* The next piece of stdin into *data / p->piece_len / p->piece_end: from
 * the request's buffer, or read from its callback until a Send is full (so
 * the number of Sends stays near the minimum where it gives less at a
 * time). */
static int next_stdin_piece(rms_op *op, const unsigned char **data)
{
	struct ps_op *p = op->priv;
	rms_request *r = op->req;
	if (!r->stdin_fn) {
		size_t left = r->stdin_len - p->stdin_off;
		p->piece_len = left < p->room ? left : p->room;
		p->piece_end = p->piece_len == left;
		*data = r->stdin_data + p->stdin_off;
		return 0;
	}
	if (!p->stdin_buf && !(p->stdin_buf = malloc(p->room)))
		return op_failed(op, rms__error_nomem());
	size_t have = 0;
	long got = 1;
	while (have < p->room &&
	       (got = r->stdin_fn(p->stdin_buf + have, p->room - have, r->stdin_userdata)) > 0)
		have += (size_t)got;
	if (got < 0)
		return fail_cancelled(op, "the stdin callback aborted");
	p->piece_len = have;
	p->piece_end = got == 0;
	*data = p->stdin_buf;
	return 0;
}

static int start_send(rms_op *op)
{
	struct ps_op *p = op->priv;
	int rc;
	if (!p->room && (rc = stdin_room(op, &p->room)))
		return op_failed(op, rc);
	const unsigned char *data = NULL;
	if ((rc = next_stdin_piece(op, &data)))
		return rc;
	rms_buf body;
	rms__buf_init(&body);
	rc = rms__body_send(&body, p->command_id, "stdin", data, p->piece_len, p->piece_end);
	if (!rc)
		rc = start_exchange(op, EX_SEND, RMS_ACTION_SEND, NULL, 0, body.data, 0);
	rms__buf_free(&body);
	return rc ? op_failed(op, rc) : 0;
}

static int start_receive(rms_op *op)
{
	struct ps_op *p = op->priv;
	rms_session *s = op->session;
	static const rms_wsman_option opts[] = {
		{ .name = "WSMAN_CMDSHELL_OPTION_KEEPALIVE", .value = "TRUE" },
	};
	/* Within the command's time limit, so the server's w:TimedOut comes
	 * back about when the limit is reached. */
	uint32_t wait = RECEIVE_POLL_MS;
	if (s->opts.operation_timeout_ms && s->opts.operation_timeout_ms < wait)
		wait = s->opts.operation_timeout_ms;
	if (p->deadline_ms) {
		uint64_t now = rms__now_ms();
		uint64_t left = p->deadline_ms > now ? p->deadline_ms - now : 0;
		if (left < wait)
			wait = left < RECEIVE_MIN_MS ? RECEIVE_MIN_MS : (uint32_t)left;
	}
	rms_buf body;
	rms__buf_init(&body);
	int rc = rms__body_receive(&body, p->command_id, "stdout stderr");
	if (!rc)
		rc = start_exchange(op, EX_RECEIVE, RMS_ACTION_RECEIVE, opts, 1, body.data, wait);
	rms__buf_free(&body);
	return rc ? op_failed(op, rc) : 0;
}

/* Release the ended command on the server, as WinRS clients do; its
 * failure is only logged. */
static int start_release(rms_op *op)
{
	struct ps_op *p = op->priv;
	p->phase = PH_RELEASE;
	if (!op->have_exit_code)
		return op_failed(op, rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                                    "the command ended without an exit code"));
	if (p->stopped || op->session->state != RMS_STATE_OPENED) {
		p->phase = PH_ENDED;
		op->ended = true;
		return 0;
	}
	p->stopped = true;
	rms_buf body;
	rms__buf_init(&body);
	int rc = rms__body_signal(&body, p->command_id, RMS_SIGNAL_TERMINATE);
	if (!rc)
		rc = start_exchange(op, EX_RELEASE, RMS_ACTION_SIGNAL, NULL, 0, body.data, 0);
	rms__buf_free(&body);
	if (rc) {
		rms__log(&op->session->log, RMS_LOG_WARNING, "%s: signal terminate to command %s "
		         "failed: %s", op->session->name, p->command_id,
		         rms_error_message(rms_error_last()));
		rms_error_clear();
		p->phase = PH_ENDED;
		op->ended = true;
	}
	return 0;
}

static int start_command(rms_op *op)
{
	struct ps_op *p = op->priv;
	static const rms_wsman_option opts[] = {
		{ .name = "WINRS_CONSOLEMODE_STDIN", .value = "TRUE" },
		{ .name = "WINRS_SKIP_CMD_SHELL", .value = "FALSE" },
	};
	int rc = start_exchange(op, EX_COMMAND, RMS_ACTION_COMMAND, opts, 2, p->command_body, 0);
	if (rc)
		return op_failed(op, rc);
	free(p->command_body);
	p->command_body = NULL;
	return 0;
}

/* Begin the exchange that comes next for op (the connection is free).
 * 0 also when none comes: the op has ended. */
static int start_next(rms_op *op)
{
	struct ps_op *p = op->priv;
	switch (p->phase) {
	case PH_COMMAND:
		return start_command(op);
	case PH_STDIN:
		return start_send(op);
	case PH_RECEIVE:
		drop_rr(p);
		if (!p->done)
			return start_receive(op);
		return start_release(op);
	case PH_RELEASE:
		return start_release(op);
	case PH_ENDED:
		break;
	}
	return 0;
}

static int check_caps(rms_op *op, uint64_t answer)
{
	struct ps_op *p = op->priv;
	const char *name;
	uint64_t cap, got;
	/* For CIM operations the reader checks each line (object) instead. */
	if (!rms__ps_caps_check(&op->session->opts, RMS_PS_DEFAULT_OBJECT_WINRM, !p->cim,
	                        &p->received, answer, &name, &cap, &got))
		return 0;
	stop_command(op, false);
	return op_failed(op, rms__ps_limit_error(name, cap, got, p->received));
}

/* A Receive answer: buffer it (caps checked first) and note Done. w:TimedOut
 * (no output within the OperationTimeout) is no answer: ask again. */
static int received(rms_op *op, int rc, rms_wsman_reply *reply)
{
	struct ps_op *p = op->priv;
	if (rc == RMS_E_TIMEOUT && rms__fault_is_timed_out(rms_error_last())) {
		rms_error_clear();
		return 0;
	}
	if (rc)
		return op_failed(op, check_broken(op->session, rc, true));
	xmlNode *el;
	drop_rr(p);
	if (!(rc = first_element(reply, &el, "Receive")))
		rc = rms__decode_receive(&p->rr, el);
	rms__wsman_reply_free(reply);
	if (rc) {
		rms__receive_result_free(&p->rr);
		memset(&p->rr, 0, sizeof p->rr);
		return op_failed(op, rc);
	}
	p->have_rr = true;
	uint64_t answer = 0;
	for (size_t i = 0; i < p->rr.nchunks; i++)
		answer += p->rr.chunks[i].len;
	if ((rc = check_caps(op, answer))) {
		drop_rr(p);
		return rc;
	}
	if (p->rr.done) {
		p->done = true;
		op->have_exit_code = p->rr.has_exit_code;
		op->exit_code = p->rr.exit_code;
	}
	return 0;
}

/* The end of op's exchange ex: rc and reply are rms__wsman_step's. Its
 * result goes onto op, its failure too (op_failed). */
static int complete(rms_op *op, enum exchange ex, int rc, rms_wsman_reply *reply)
{
	struct ps_op *p = op->priv;
	rms_session *s = op->session;
	xmlNode *el;
	switch (ex) {
	case EX_COMMAND:
		if (!rc) {
			if (!(rc = first_element(reply, &el, "Command")))
				rc = rms__decode_command_id(&p->command_id, el);
			rms__wsman_reply_free(reply);
			if (rc)
				return op_failed(op, rc);
		} else {
			return op_failed(op, check_broken(s, rc, false));
		}
		rms__log(&s->log, RMS_LOG_DEBUG, "%s: command %s started: %s", s->name,
		         p->command_id, p->cim ? "powershell.exe" : op->req->command);
		p->phase = !p->cim && (op->req->has_stdin || op->req->stdin_fn) ? PH_STDIN
		                                                                 : PH_RECEIVE;
		return 0;
	case EX_SEND:
		if (rc)
			return op_failed(op, check_broken(s, rc, true));
		rms__wsman_reply_free(reply);
		p->stdin_off += p->piece_len;
		if (p->piece_end)
			p->phase = PH_RECEIVE;
		return 0;
	case EX_RECEIVE:
		return received(op, rc, reply);
	case EX_RELEASE:
		if (rc) {
			check_broken(s, rc, true);
			rms__log(&s->log, RMS_LOG_WARNING, "%s: signal terminate to command %s "
			         "failed: %s", s->name, p->command_id,
			         rms_error_message(rms_error_last()));
			rms_error_clear();
		}
		rms__wsman_reply_free(reply);
		p->phase = PH_ENDED;
		op->ended = true;
		return 0;
	case EX_NONE:
		break;
	}
	rms__wsman_reply_free(reply);
	return rc;
}

/*
 * One exchange of op: wait for the connection (advancing the exchange in
 * flight, whoever owns it), start op's next exchange and advance it. 0 when
 * an exchange of op ended (its result is on op), RMS_EAGAIN with *w, or the
 * op's failure. The command's time limit is part of every wait.
 */
static int pump(rms_op *op, rms_wait *w)
{
	rms_session *s = op->session;
	struct ps_session *ps = s->priv;
	struct ps_op *p = op->priv;
	int rc;
	if (p->fail_rc)
		return failure(p);
	if (!p->done) {
		if (atomic_load(&op->cancelled))
			return fail_cancelled(op, "rms_op_cancel");
		if (timed_out(p))
			return fail_timeout(op);
	}
	if (ps->inflight && ps->inflight != op) {
		if ((rc = advance(s, w)) == RMS_EAGAIN) {
			rms__wait_until(w, p->deadline_ms);
			return rc;
		}
		/* Another op's exchange ended; its failure is its own. */
		if (rc)
			rms_error_clear();
	}
	if (!ps->inflight) {
		if (s->state != RMS_STATE_OPENED)
			return op_failed(op, rms__session_usable(s));
		if ((rc = start_next(op)) || !ps->inflight)
			return rc;
	}
	if ((rc = advance(s, w)) == RMS_EAGAIN)
		rms__wait_until(w, p->deadline_ms);
	return rc;
}

/* ---- CIM operations ------------------------------------------------------- */

/* The next instance of a CIM operation from what is buffered: 0 with *out,
 * RMS_EAGAIN when more output is needed, RMS_ITEROVER at the end. */
static int cim_take(rms_op *op, rms_instance **out)
{
	struct ps_op *p = op->priv;
	for (;;) {
		int rc = rms__ps_cim_take(&p->reader, out);
		if (rc == RMS_E_LIMIT)
			stop_command(op, false);
		if (rc != RMS_EAGAIN)
			return rms__is_failure(rc) ? op_failed(op, rc) : rc;
		rms_chunk c;
		if (take_chunk(op, &c) == 0) {
			if ((rc = rms__ps_cim_feed(&p->reader, c.stream, c.data, c.len))) {
				stop_command(op, false);
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
static int prepare_cim(rms_op *op, rms_buf *body)
{
	struct ps_op *p = op->priv;
	uint64_t obj = rms__ps_object_cap(&op->session->opts, RMS_PS_DEFAULT_OBJECT_WINRM);
	char *ns = rms__request_target_namespace(op->req, op->session);
	if (!ns)
		return rms__error_nomem();
	rms_ps_cim_command cmd;
	memset(&cmd, 0, sizeof cmd);
	p->cim = true;
	int rc = rms__ps_cim_reader_init(&p->reader, obj == RMS_LIMIT_UNLIMITED ? 0 : obj, ns);
	if (!rc)
		rc = rms__ps_cim_command(&cmd, op->req, ns);
	free(ns);
	if (!rc)
		rc = rms__body_command(body, cmd.command, cmd.argc, (const char *const *)cmd.argv);
	rms__ps_cim_command_free(&cmd);
	return rc;
}

/* ---- the vtable ------------------------------------------------------------- */

/* Run the Identify an IDENTIFY op asks for, once the connection is free. */
static int identify_step(rms_op *op, rms_wait *w)
{
	rms_session *s = op->session;
	struct ps_session *ps = s->priv;
	struct ps_op *p = op->priv;
	if (op->ended)
		return p->fail_rc ? failure(p) : 0;
	while (ps->inflight) {
		int rc = advance(s, w);
		if (rc == RMS_EAGAIN)
			return rc;
		if (rc)
			rms_error_clear();
	}
	if (s->state != RMS_STATE_OPENED)
		return op_failed(op, rms__session_usable(s));
	/* TRANSITIONAL: blocks until core/wsman has a non-blocking Identify. */
	int rc = rms__wsman_identify(ps->w, false, &op->result);
	if (rc)
		return op_failed(op, check_broken(s, rc, false));
	op->ended = op->finished = true;
	return 0;
}

static int ps_start(rms_op *op)
{
	rms_session *s = op->session;
	struct ps_session *ps = s->priv;
	struct ps_op *p = calloc(1, sizeof *p);
	if (!p)
		return rms__error_nomem();
	op->priv = p;
	if (op->req->kind == RMS_OP_IDENTIFY)
		return 0;
	if (op->req->timeout_ms)
		p->deadline_ms = rms__now_ms() + op->req->timeout_ms;
	rms_buf body;
	rms__buf_init(&body);
	int rc = op->req->kind != RMS_OP_RUN
	                 ? prepare_cim(op, &body)
	                 : rms__body_command(&body, op->req->command, op->req->argc,
	                                     (const char *const *)op->req->argv);
	if (!rc && !(p->command_body = rms__buf_take(&body)))
		rc = rms__error_nomem();
	rms__buf_free(&body);
	if (rc)
		return rc;
	/* Sent now when the connection is free, else when op is stepped. */
	if (!ps->inflight && !rms__wsman_busy(ps->w) && (rc = start_command(op)))
		return rc;
	return 0;
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
			rc = rms__ps_drive_output(op, take_chunk, fail_cancelled);
			if (rms__is_failure(rc))
				return rc;
		} else if (have_chunk(p)) {
			return 1;
		}
		break;
	case RMS_OP_GET:
		return get_result(op);
	default:
		if (have_chunk(p) || rms__ps_cim_ready(&p->reader))
			return 1;
		break;
	}
	if (p->fail_rc)
		return failure(p);
	return op->ended ? 1 : 0;
}

static int ps_step(rms_op *op, rms_wait *w)
{
	rms__wait_clear(w);
	if (op->req->kind == RMS_OP_IDENTIFY)
		return identify_step(op, w);
	for (;;) {
		int rc = ready(op);
		if (rc)
			return rc > 0 ? 0 : rc;
		if ((rc = pump(op, w)))
			return rc;
	}
}

static int ps_next(rms_op *op, rms_instance **out)
{
	struct ps_op *p = op->priv;
	if (!p || !p->cim)
		return rms__not_implemented(RMS_BACKEND_PSSESSION, rms_op_kind_name(op->req->kind));
	return cim_take(op, out);
}

static int ps_next_chunk(rms_op *op, rms_chunk *out)
{
	struct ps_op *p = op->priv;
	if (!p || p->cim)
		return rms__not_implemented(RMS_BACKEND_PSSESSION, rms_op_kind_name(op->req->kind));
	/* With an output callback the output goes out from step. */
	if (!out)
		return op->ended ? (p->fail_rc ? failure(p) : RMS_ITEROVER) : RMS_EAGAIN;
	if (take_chunk(op, out) == 0)
		return 0;
	if (p->fail_rc)
		return failure(p);
	return op->ended ? RMS_ITEROVER : RMS_EAGAIN;
}

static void ps_op_free(rms_op *op)
{
	struct ps_op *p = op->priv;
	if (!p)
		return;
	struct ps_session *ps = op->session->priv;
	/* An unfinished command (cancelled, abandoned or failed) is stopped;
	 * an exchange of op still in flight (its release) is finished first,
	 * since the session's connection must not point at a freed op. */
	if (ps && !p->done)
		stop_command(op, true);
	if (ps && ps->inflight == op) {
		rms_error *saved = error_save();
		settle(op->session, op);
		error_put_back(saved);
	}
	drop_rr(p);
	if (p->cim)
		rms__ps_cim_reader_free(&p->reader);
	rms_error_free(p->fail);
	free(p->stdin_buf);
	free(p->command_body);
	free(p->command_id);
	free(p);
	op->priv = NULL;
}

const struct rms_backend_ops rms__pssession_backend = {
	.id = RMS_BACKEND_PSSESSION,
	.name = "PSSession",
	.supports = ps_supports,
	.open = ps_open,
	.open_step = ps_open_step,
	.close = ps_close,
	.destroy = ps_destroy,
	.start = ps_start,
	.step = ps_step,
	.next = ps_next,
	.next_chunk = ps_next_chunk,
	.op_free = ps_op_free,
};
