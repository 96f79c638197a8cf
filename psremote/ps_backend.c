/*
 * The PSSession backend (New-PSSession semantics) over WinRM: creating a
 * session validates, connects, authenticates (Identify), learns the
 * MaxEnvelopeSize and opens one WinRS shell, and fails right there with the
 * phase. The session then holds that one WS-Management client (one
 * keep-alive connection) and that one shell for its whole life; every
 * command runs in the shell (Command, Send, Receive, Signal) and closing the
 * session deletes it.
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
#include <time.h>

#include "backend.h"
#include "fault.h"
#include "ps_cim.h"
#include "ps_limits.h"
#include "wsman.h"
#include "wsman_ops.h"

#define STACK_2_ENVELOPE 153600u          /* WinRM 2.0 servers (facts.md §4) */
/* Headroom left in a Send envelope beyond its measured size. */
#define SEND_MARGIN 256u
/* Longest OperationTimeout of one Receive: bounds how late a cancel from
 * another thread or a command timeout is noticed. */
#define RECEIVE_POLL_MS 5000u

struct ps_session {
	rms_wsman *w;
	char *shell_id;
	const char *shell_uri;
	rms_ref *selectors; /* ShellId */
	bool shell_gone;    /* the server said so: nothing to delete */
};

struct ps_op {
	char *command_id;
	bool done;    /* CommandState Done seen */
	bool stopped; /* signals sent (or the command released) */
	rms_receive_result rr;
	bool have_rr;
	size_t next; /* next chunk of rr to deliver */
	uint64_t received;
	uint64_t deadline_ms; /* 0: none */
	bool cim;             /* a CIM operation: stdout is decoded by reader */
	rms_ps_cim_reader reader;
};

static bool ps_supports(const rms_session_options *o, rms_op_kind kind)
{
	(void)o;
	/* Commands, and the CIM queries that can run as a remote command. */
	return kind == RMS_OP_RUN || kind == RMS_OP_GET || kind == RMS_OP_ENUMERATE ||
	       kind == RMS_OP_QUERY || kind == RMS_OP_IDENTIFY;
}

/* After a failed request: decide whether the session is lost, and if so
 * mark it Broken with the error as the reason. Returns rc. */
static int check_broken(rms_session *s, int rc)
{
	struct ps_session *ps = s->priv;
	const rms_error *e = rms_error_last();
	bool lost = false;
	if (rc == RMS_E_CONNECTION_LOST || rc == RMS_E_CONNECT || rc == RMS_E_RESOLVE ||
	    rc == RMS_E_TLS)
		lost = true;
	else if (rc == RMS_E_TIMEOUT && !rms__fault_is_timed_out(e))
		lost = true;
	else if (rc == RMS_E_FAULT) {
		const char *sub = rms_error_fault_subcode(e);
		const char *msg = rms_error_message(e);
		const char *wmsg = rms_error_wsman_message(e);
		/* The same fault names an unknown CommandId (pypsrp
		 * test_winrs_bad_cmd_id.yml): that command is gone, the
		 * shell is not. */
		bool command_only = wmsg && strstr(wmsg, "command identifier that does not exist");
		if (!command_only && ((sub && strcmp(sub, "w:InvalidSelectors") == 0) ||
		                      (msg && strstr(msg, "the shell was not found")))) {
			lost = true;
			if (ps)
				ps->shell_gone = true;
		}
	}
	if (lost && s->state == RMS_STATE_OPENED) {
		s->state = RMS_STATE_BROKEN;
		rms_error_free(s->broken_reason);
		s->broken_reason = rms_error_dup(e);
		rms__log(&s->log, RMS_LOG_ERROR, "%s: broken: %s", s->name, rms_error_message(e));
	}
	return rc;
}

/* One WinRS request on the session's shell (selectors: ShellId). */
static int shell_send(rms_session *s, const char *action, const rms_wsman_option *opts,
                      size_t nopts, const char *body, uint32_t timeout_ms, rms_wsman_reply *reply)
{
	struct ps_session *ps = s->priv;
	rms_wsman_request req = { .action = action,
		                  .resource_uri = ps->shell_uri,
		                  .selectors = ps->selectors,
		                  .options = opts,
		                  .noptions = nopts,
		                  .options_must_understand = nopts > 0,
		                  .timeout_ms = timeout_ms,
		                  .extra_xmlns = RMS_XMLNS_RSP,
		                  .body = body };
	int rc = rms__wsman_send(ps->w, &req, reply);
	if (rc)
		return check_broken(s, rc);
	return 0;
}

static int first_element(rms_wsman_reply *reply, xmlNode **out, const char *what)
{
	int rc = rms__soap_reader_next(reply->reader, out);
	if (rc == RMS_ITEROVER)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE, "the %s answer is empty",
		                      what);
	return rc;
}

/* ---- the session -------------------------------------------------------- */

static int create_shell(rms_session *s, struct ps_session *ps)
{
	char codepage[16];
	snprintf(codepage, sizeof codepage, "%u",
	         s->opts.pssession.codepage ? s->opts.pssession.codepage : 65001u);
	const rms_wsman_option opts[] = {
		{ .name = "WINRS_NOPROFILE", .value = s->opts.pssession.no_profile ? "TRUE" : "FALSE" },
		{ .name = "WINRS_CODEPAGE", .value = codepage },
	};
	rms_shell_params p = { .working_directory = s->opts.pssession.working_directory,
		               .idle_timeout_ms = s->opts.pssession.idle_timeout_ms };
	rms_buf body;
	rms__buf_init(&body);
	int rc = rms__body_shell_create(&body, &p);
	if (rc) {
		rms__buf_free(&body);
		return rc;
	}
	rms_wsman_request req = { .action = RMS_ACTION_CREATE,
		                  .resource_uri = ps->shell_uri,
		                  .options = opts,
		                  .noptions = 2,
		                  .options_must_understand = true,
		                  .extra_xmlns = RMS_XMLNS_RSP,
		                  .body = body.data };
	rms_wsman_reply reply;
	rc = rms__wsman_send(ps->w, &req, &reply);
	rms__buf_free(&body);
	if (rc)
		return rc;
	xmlNode *el;
	if (!(rc = first_element(&reply, &el, "shell Create"))) {
		/* The ShellId is in rsp:Shell or in x:ResourceCreated, whichever
		 * comes first; each element is only valid until the next read. */
		rc = rms__decode_shell_id(&ps->shell_id, el, NULL);
		if (rc == RMS_E_PROTOCOL && rms__soap_reader_next(reply.reader, &el) == 0)
			rc = rms__decode_shell_id(&ps->shell_id, el, NULL);
	}
	rms__wsman_reply_free(&reply);
	if (rc)
		return rc;
	if ((rc = rms_ref_new(&ps->selectors, NULL, NULL)) ||
	    (rc = rms_ref_add_selector(ps->selectors, "ShellId", ps->shell_id)))
		return rc;
	s->stats.shells_opened++;
	s->stats.shells_open++;
	rms__log(&s->log, RMS_LOG_INFO, "%s: shell %s opened", s->name, ps->shell_id);
	return 0;
}

/*
 * The server's MaxEnvelopeSizekb from the winrm/config resource. Windows
 * answers it to administrators only (others get w:AccessDenied); any
 * failure other than a lost connection leaves *kb at 0 and the caller
 * falls back to the protocol version's default, as PowerShell does.
 */
static int read_config_envelope(rms_session *s, struct ps_session *ps, uint32_t *kb)
{
	*kb = 0;
	rms_wsman_request req = { .action = RMS_ACTION_GET, .resource_uri = RMS_URI_CONFIG };
	rms_wsman_reply reply;
	int rc = rms__wsman_send(ps->w, &req, &reply);
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
	if (first_element(&reply, &cfg, "Config") == 0) {
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
	rms__wsman_reply_free(&reply);
	return 0;
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
	rms_instance *id = NULL;
	if ((rc = rms__wsman_identify(ps->w, false, &id)))
		return rc;
	if (!s->opts.max_envelope_size) {
		/* The real value from winrm/config where the user may read it
		 * (administrators); else by the protocol stack as PowerShell
		 * does. */
		uint32_t kb = 0;
		if ((rc = read_config_envelope(s, ps, &kb))) {
			rms_instance_free(id);
			return rc;
		}
		const char *version = NULL;
		const rms_value *v = rms_instance_get(id, "ProductVersion");
		if (v)
			rms_value_get_string(v, &version);
		uint32_t env = kb ? kb * 1024u
		                  : (version && strstr(version, "Stack: 2.0")) ? STACK_2_ENVELOPE
		                                                               : RMS_WSMAN_DEFAULT_MAX_ENVELOPE;
		rms__wsman_set_max_envelope(ps->w, env);
		rms__log(&s->log, RMS_LOG_DEBUG, "%s: server %s: MaxEnvelopeSize %u (%s)", s->name,
		         version ? version : "(no version)", env,
		         kb ? "winrm/config" : "protocol version default");
	}
	rms_instance_free(id);
	rc = create_shell(s, ps);
	return rc;
}

static int ps_close(rms_session *s)
{
	struct ps_session *ps = s->priv;
	if (!ps || !ps->w)
		return 0;
	if (ps->shell_id && !ps->shell_gone) {
		rms_wsman_reply reply;
		struct rms_error *keep = rms__error_park();
		if (shell_send(s, RMS_ACTION_DELETE, NULL, 0, NULL, 0, &reply) == 0)
			rms__wsman_reply_free(&reply);
		else
			rms__log(&s->log, RMS_LOG_WARNING, "%s: deleting shell %s failed: %s",
			         s->name, ps->shell_id, rms_error_message(rms_error_last()));
		rms__error_unpark(keep);
	}
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
	free(ps);
	s->priv = NULL;
}

/* ---- commands ----------------------------------------------------------- */

static int send_signal(rms_op *op, const char *code)
{
	struct ps_op *p = op->priv;
	rms_session *s = op->session;
	rms_buf body;
	rms__buf_init(&body);
	int rc = rms__body_signal(&body, p->command_id, code);
	if (!rc) {
		rms_wsman_reply reply;
		if (!(rc = shell_send(s, RMS_ACTION_SIGNAL, NULL, 0, body.data, 0, &reply)))
			rms__wsman_reply_free(&reply);
	}
	rms__buf_free(&body);
	if (rc)
		rms__log(&s->log, RMS_LOG_WARNING, "%s: signal %s to command %s failed: %s",
		         s->name, strrchr(code, '/') + 1, p->command_id,
		         rms_error_message(rms_error_last()));
	return rc;
}

/* Stop the command remotely (ctrl_c unless it is done, then terminate),
 * keeping the caller's error. */
static void stop_command(rms_op *op, bool ctrl_c)
{
	struct ps_op *p = op->priv;
	if (!p || !p->command_id || p->stopped || op->session->state != RMS_STATE_OPENED)
		return;
	p->stopped = true;
	struct rms_error *keep = rms__error_park();
	if (ctrl_c)
		send_signal(op, RMS_SIGNAL_CTRL_C);
	if (op->session->state == RMS_STATE_OPENED)
		send_signal(op, RMS_SIGNAL_TERMINATE);
	rms__error_unpark(keep);
}

static bool timed_out(const struct ps_op *p)
{
	return p->deadline_ms && rms__now_ms() >= p->deadline_ms;
}

static int fail_timeout(rms_op *op)
{
	stop_command(op, true);
	return rms__error_set(RMS_E_TIMEOUT, RMS_PHASE_LIMIT,
	                      "the command did not finish within its time limit of %u ms; it was "
	                      "stopped (ctrl_c, terminate)",
	                      op->req->timeout_ms);
}

static int fail_cancelled(rms_op *op, const char *why)
{
	stop_command(op, true);
	return rms__error_set(RMS_E_CANCELLED, RMS_PHASE_NONE, "the command was cancelled (%s)",
	                      why);
}

static int send_stdin_piece(rms_op *op, const void *data, size_t len, bool end)
{
	struct ps_op *p = op->priv;
	rms_buf body;
	rms__buf_init(&body);
	int rc = rms__body_send(&body, p->command_id, "stdin", data, len, end);
	if (!rc) {
		rms_wsman_reply reply;
		if (!(rc = shell_send(op->session, RMS_ACTION_SEND, NULL, 0, body.data, 0, &reply)))
			rms__wsman_reply_free(&reply);
	}
	rms__buf_free(&body);
	return rc;
}

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
		rms_wsman_request req = { .action = RMS_ACTION_SEND,
			                  .resource_uri = ps->shell_uri,
			                  .selectors = ps->selectors,
			                  .extra_xmlns = RMS_XMLNS_RSP,
			                  .body = body.data };
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

static int send_stdin(rms_op *op)
{
	struct ps_op *p = op->priv;
	rms_request *r = op->req;
	size_t room;
	int rc = stdin_room(op, &room);
	if (rc)
		return rc;
	if (!r->stdin_fn) {
		size_t off = 0;
		do {
			if (atomic_load(&op->cancelled))
				return fail_cancelled(op, "rms_op_cancel");
			if (timed_out(p))
				return fail_timeout(op);
			size_t n = r->stdin_len - off < room ? r->stdin_len - off : room;
			if ((rc = send_stdin_piece(op, r->stdin_data + off, n, off + n == r->stdin_len)))
				return rc;
			off += n;
		} while (off < r->stdin_len);
		return 0;
	}
	unsigned char *buf = malloc(room);
	if (!buf)
		return rms__error_nomem();
	for (;;) {
		if (atomic_load(&op->cancelled)) {
			rc = fail_cancelled(op, "rms_op_cancel");
			break;
		}
		if (timed_out(p)) {
			rc = fail_timeout(op);
			break;
		}
		/* Fill a whole piece where the callback gives less at a time, so
		 * the number of Sends stays near the minimum. */
		size_t have = 0;
		long got = 1;
		while (have < room && (got = r->stdin_fn(buf + have, room - have,
		                                         r->stdin_userdata)) > 0)
			have += (size_t)got;
		if (got < 0) {
			rc = fail_cancelled(op, "the stdin callback aborted");
			break;
		}
		if ((rc = send_stdin_piece(op, buf, have, got == 0)) || got == 0)
			break;
	}
	free(buf);
	return rc;
}

static int start_command(rms_op *op, const char *command, size_t argc, const char *const *argv);
static int start_cim(rms_op *op);

static int ps_start(rms_op *op)
{
	rms_session *s = op->session;
	struct ps_session *ps = s->priv;
	if (op->req->kind == RMS_OP_IDENTIFY) {
		int rc = rms__wsman_identify(ps->w, false, &op->result);
		op->finished = true;
		return rc ? check_broken(s, rc) : 0;
	}
	struct ps_op *p = calloc(1, sizeof *p);
	if (!p)
		return rms__error_nomem();
	op->priv = p;
	if (op->req->timeout_ms)
		p->deadline_ms = rms__now_ms() + op->req->timeout_ms;
	if (op->req->kind != RMS_OP_RUN)
		return start_cim(op);
	return start_command(op, op->req->command, op->req->argc,
	                     (const char *const *)op->req->argv);
}

/* The WinRS Command request, then stdin if the request has any. */
static int start_command(rms_op *op, const char *command, size_t argc, const char *const *argv)
{
	rms_session *s = op->session;
	struct ps_op *p = op->priv;
	static const rms_wsman_option opts[] = {
		{ .name = "WINRS_CONSOLEMODE_STDIN", .value = "TRUE" },
		{ .name = "WINRS_SKIP_CMD_SHELL", .value = "FALSE" },
	};
	rms_buf body;
	rms__buf_init(&body);
	int rc = rms__body_command(&body, command, argc, argv);
	rms_wsman_reply reply;
	if (!rc && !(rc = shell_send(s, RMS_ACTION_COMMAND, opts, 2, body.data, 0, &reply))) {
		xmlNode *el;
		if (!(rc = first_element(&reply, &el, "Command")))
			rc = rms__decode_command_id(&p->command_id, el);
		rms__wsman_reply_free(&reply);
	}
	rms__buf_free(&body);
	if (rc)
		return rc;
	rms__log(&s->log, RMS_LOG_DEBUG, "%s: command %s started: %s", s->name, p->command_id,
	         command);
	if (!p->cim && (op->req->has_stdin || op->req->stdin_fn))
		return send_stdin(op);
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
	return rms__ps_limit_error(name, cap, got, p->received);
}

/* One Receive: 0 with p->rr holding the answer, or an error. w:TimedOut
 * (no output within the OperationTimeout) comes back as RMS_EAGAIN. */
static int receive(rms_op *op)
{
	struct ps_op *p = op->priv;
	rms_session *s = op->session;
	static const rms_wsman_option opts[] = {
		{ .name = "WSMAN_CMDSHELL_OPTION_KEEPALIVE", .value = "TRUE" },
	};
	uint32_t wait = RECEIVE_POLL_MS;
	if (s->opts.operation_timeout_ms && s->opts.operation_timeout_ms < wait)
		wait = s->opts.operation_timeout_ms;
	if (p->deadline_ms) {
		uint64_t now = rms__now_ms();
		uint64_t left = p->deadline_ms > now ? p->deadline_ms - now : 0;
		if (left < wait)
			wait = left < 200 ? 200 : (uint32_t)left;
	}
	rms_buf body;
	rms__buf_init(&body);
	int rc = rms__body_receive(&body, p->command_id, "stdout stderr");
	rms_wsman_reply reply;
	if (!rc && !(rc = shell_send(s, RMS_ACTION_RECEIVE, opts, 1, body.data, wait, &reply))) {
		xmlNode *el;
		if (!(rc = first_element(&reply, &el, "Receive")))
			rc = rms__decode_receive(&p->rr, el);
		rms__wsman_reply_free(&reply);
		if (!rc)
			p->have_rr = true;
	} else if (rc == RMS_E_TIMEOUT && rms__fault_is_timed_out(rms_error_last())) {
		rms_error_clear();
		rc = RMS_EAGAIN;
	}
	rms__buf_free(&body);
	if (rc || !p->have_rr)
		return rc;
	p->next = 0;
	uint64_t answer = 0;
	for (size_t i = 0; i < p->rr.nchunks; i++)
		answer += p->rr.chunks[i].len;
	if ((rc = check_caps(op, answer)))
		return rc;
	if (p->rr.done) {
		p->done = true;
		op->have_exit_code = p->rr.has_exit_code;
		op->exit_code = p->rr.exit_code;
	}
	return 0;
}

static void drop_rr(struct ps_op *p)
{
	if (p->have_rr) {
		rms__receive_result_free(&p->rr);
		memset(&p->rr, 0, sizeof p->rr);
		p->have_rr = false;
	}
}

/* The next piece of output: 0 with *out set, RMS_ITEROVER after Done. */
static int next_piece(rms_op *op, rms_chunk *out)
{
	struct ps_op *p = op->priv;
	for (;;) {
		while (p->have_rr && p->next < p->rr.nchunks) {
			const rms_receive_chunk *c = &p->rr.chunks[p->next++];
			if (c->len == 0)
				continue;
			if (strcmp(c->stream, "stdout") == 0)
				out->stream = RMS_STREAM_STDOUT;
			else if (strcmp(c->stream, "stderr") == 0)
				out->stream = RMS_STREAM_STDERR;
			else
				continue;
			out->data = c->data;
			out->len = c->len;
			return 0;
		}
		drop_rr(p);
		if (p->done) {
			if (!op->have_exit_code)
				return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
				                      "the command ended without an exit code");
			/* Release the command on the server, as WinRS clients do. */
			struct rms_error *keep = rms__error_park();
			if (!p->stopped && op->session->state == RMS_STATE_OPENED) {
				p->stopped = true;
				send_signal(op, RMS_SIGNAL_TERMINATE);
			}
			rms__error_unpark(keep);
			return RMS_ITEROVER;
		}
		if (atomic_load(&op->cancelled))
			return fail_cancelled(op, "rms_op_cancel");
		if (timed_out(p))
			return fail_timeout(op);
		int rc = receive(op);
		if (rc == RMS_EAGAIN)
			continue;
		if (rc)
			return rc;
	}
}

/* The next instance of a CIM operation: decoded lines of stdout. */
static int cim_next(rms_op *op, rms_instance **out)
{
	struct ps_op *p = op->priv;
	for (;;) {
		int rc = rms__ps_cim_take(&p->reader, out);
		if (rc == RMS_E_LIMIT)
			stop_command(op, false);
		if (rc != RMS_EAGAIN)
			return rc;
		rms_chunk c;
		rc = next_piece(op, &c);
		if (rc == RMS_ITEROVER)
			return rms__ps_cim_end(&p->reader, op->exit_code, out);
		if (rc)
			return rc;
		if ((rc = rms__ps_cim_feed(&p->reader, c.stream, c.data, c.len))) {
			stop_command(op, false);
			return rc;
		}
	}
}

/* get, enumerate or query as a remote Get-CimInstance; a get reads its one
 * instance right away. */
static int start_cim(rms_op *op)
{
	struct ps_op *p = op->priv;
	uint64_t obj = rms__ps_object_cap(&op->session->opts, RMS_PS_DEFAULT_OBJECT_WINRM);
	char *ns = rms__request_target_namespace(op->req, op->session);
	if (!ns)
		return rms__error_nomem();
	rms_ps_cim_command cmd;
	p->cim = true;
	int rc = rms__ps_cim_reader_init(&p->reader, obj == RMS_LIMIT_UNLIMITED ? 0 : obj, ns);
	if (!rc)
		rc = rms__ps_cim_command(&cmd, op->req, ns);
	free(ns);
	if (rc)
		return rc;
	rc = start_command(op, cmd.command, cmd.argc, (const char *const *)cmd.argv);
	rms__ps_cim_command_free(&cmd);
	if (rc || op->req->kind != RMS_OP_GET)
		return rc;
	rms_instance *inst = NULL, *more = NULL;
	rc = cim_next(op, &inst);
	if (rc == RMS_ITEROVER)
		rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                    "the remote Get-CimInstance returned no instance and no error");
	if (!rc) {
		rc = cim_next(op, &more);
		if (rc == RMS_ITEROVER)
			rc = 0;
		else if (!rc)
			rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                    "the remote Get-CimInstance returned more than one "
			                    "instance for one key");
		rms_instance_free(more);
	}
	if (rc) {
		rms_instance_free(inst);
		return rc;
	}
	op->result = inst;
	op->finished = true;
	return 0;
}

static int ps_next(rms_op *op, rms_instance **out)
{
	if (!op->priv || !((struct ps_op *)op->priv)->cim)
		return rms__not_implemented(RMS_BACKEND_PSSESSION, rms_op_kind_name(op->req->kind));
	return cim_next(op, out);
}

static int ps_next_chunk(rms_op *op, rms_chunk *out)
{
	if (!op->priv || ((struct ps_op *)op->priv)->cim)
		return rms__not_implemented(RMS_BACKEND_PSSESSION, rms_op_kind_name(op->req->kind));
	if (out)
		return next_piece(op, out);
	return rms__ps_drive_output(op, next_piece, fail_cancelled);
}

static void ps_op_free(rms_op *op)
{
	struct ps_op *p = op->priv;
	if (!p)
		return;
	/* An unfinished command (cancelled, abandoned or failed): stop it. */
	if (!p->done)
		stop_command(op, true);
	drop_rr(p);
	if (p->cim)
		rms__ps_cim_reader_free(&p->reader);
	free(p->command_id);
	free(p);
	op->priv = NULL;
}

const struct rms_backend_ops rms__pssession_backend = {
	.id = RMS_BACKEND_PSSESSION,
	.name = "PSSession",
	.supports = ps_supports,
	.open = ps_open,
	.close = ps_close,
	.destroy = ps_destroy,
	.start = ps_start,
	.next = ps_next,
	.next_chunk = ps_next_chunk,
	.op_free = ps_op_free,
};
