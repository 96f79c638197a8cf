#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "address.h"
#include "defaults.h"
#include "wsman.h"
#include "wsman_ops.h"
#include "gss.h"

/* Session ids count from 1 within the process, as PowerShell's do. */
static atomic_uint_fast32_t next_session_id = 1;

const struct rms_backend_ops *rms__backend_ops(rms_backend id, const rms_session_options *o)
{
	/* Each table asks its own options (the PSSession's transport) itself. */
	(void)o;
	switch (id) {
	case RMS_BACKEND_CIM: return &rms__cim_backend;
	case RMS_BACKEND_PSSESSION: return &rms__pssession_backend;
	default: return NULL;
	}
}

const char *rms_session_state_name(rms_session_state state)
{
	switch (state) {
	case RMS_STATE_OPENED: return "Opened";
	case RMS_STATE_BROKEN: return "Broken";
	case RMS_STATE_CLOSED: return "Closed";
	case RMS_STATE_OPENING: return "Opening";
	case RMS_STATE_DISCONNECTED: return "Disconnected";
	}
	return "Unknown";
}

int rms__not_implemented(rms_backend backend, const char *what)
{
	rms__error_set(RMS_E_NOT_IMPLEMENTED, RMS_PHASE_NONE,
	               "%s is not implemented in this build of remsess %s", what, rms_version());
	rms__error_set_backend(backend);
	return RMS_E_NOT_IMPLEMENTED;
}

static void session_destroy(rms_session *s)
{
	if (s->ops && s->ops->destroy)
		s->ops->destroy(s);
	rms__options_free(&s->opts);
	rms__gss_cred_unref(s->gss_cred);
	free(s->name);
	free(s->computer_name);
	free(s->endpoint);
	rms_error_free(s->broken_reason);
	free(s);
}

/* Everything of creation that needs no network: validate and copy the
 * options, name the session, resolve its endpoint offline. */
static int session_prepare(rms_session **out, rms_backend backend,
                           const rms_session_options *opts)
{
	int rc = rms_session_options_validate(opts, backend);
	if (rc)
		return rc;
	rms_session *s = calloc(1, sizeof *s);
	if (!s)
		return rms__error_nomem();
	s->ops = rms__backend_ops(backend, opts);
	if ((rc = rms__options_copy(&s->opts, opts))) {
		s->ops = NULL;
		session_destroy(s);
		return rc;
	}
	s->id = (uint32_t)atomic_fetch_add(&next_session_id, 1);
	s->name = rms__asprintf("%s%u", backend == RMS_BACKEND_CIM ? "CimSession" : "PSSession",
	                        s->id);
	rms_endpoint ep;
	if ((rc = rms__endpoint_resolve(&ep, &s->opts))) {
		session_destroy(s);
		return rc;
	}
	s->endpoint = rms__endpoint_url(&ep, s->opts.transport == RMS_TRANSPORT_SSH
	                                        ? s->opts.user
	                                        : NULL);
	/* The computer name as the caller wrote it, without URL brackets. */
	const char *h = ep.host;
	size_t hl = strlen(h);
	s->computer_name = (h[0] == '[' && hl > 2) ? rms__strndup(h + 1, hl - 2) : strdup(h);
	rms__endpoint_free(&ep);
	rms_auth a = s->opts.auth;
	if (s->opts.transport == RMS_TRANSPORT_WSMAN &&
	    (a == RMS_AUTH_NTLM || a == RMS_AUTH_NEGOTIATE || a == RMS_AUTH_KERBEROS) &&
	    !(s->gss_cred = rms__gss_cred_new())) {
		session_destroy(s);
		return rms__error_nomem();
	}
	if (!s->name || !s->endpoint || !s->computer_name) {
		session_destroy(s);
		return rms__error_nomem();
	}
	if ((rc = rms__guid(s->instance_id))) {
		session_destroy(s);
		return rms__error_set(rc, RMS_PHASE_NONE, "no random numbers for the session GUID");
	}
	s->log.fn = s->opts.log;
	s->log.userdata = s->opts.log_userdata;
	s->log.level = s->opts.log_level;
	s->log.secret = s->opts.password;
	/* Backends see an Opened session while they open it (they mark it
	 * Broken from that state); the public state says Opening until then. */
	s->state = RMS_STATE_OPENED;
	rms__log(&s->log, RMS_LOG_INFO, "%s: creating %s session %s for %s", s->name,
	         s->ops->name, s->instance_id, s->endpoint);
	*out = s;
	return 0;
}

int rms__session_prepare(rms_session **out, rms_backend backend, const rms_session_options *opts)
{
	*out = NULL;
	int rc = session_prepare(out, backend, opts);
	if (rc && (backend == RMS_BACKEND_CIM || backend == RMS_BACKEND_PSSESSION))
		rms__error_default_backend(backend);
	return rc;
}

/* The open timeout: the caller's (a target's request limit) when shorter
 * than the options', else the options' or the default. */
static uint32_t open_limit(const rms_session *s)
{
	uint32_t o = s->opts.timeouts_v4.open_timeout_ms ? s->opts.timeouts_v4.open_timeout_ms
	                                                 : RMS_DEFAULT_OPEN_TIMEOUT_MS;
	return s->open_limit_ms && s->open_limit_ms < o ? s->open_limit_ms : o;
}

/* The open timeout passed with the opening still under way: what the
 * backend had begun is left for destroy, as when a session is abandoned
 * while an engine opens it. */
static int open_timed_out(rms_session *s)
{
	uint32_t limit = open_limit(s);
	rms__error_set(RMS_E_TIMEOUT, RMS_PHASE_LIMIT,
	               "creating %s for %s took longer than its open timeout of %u ms "
	               "(open_timeout_ms)",
	               s->name, s->endpoint, limit);
	rms__error_set_limit("open_timeout_ms", limit, rms__now_ms() - (s->open_deadline - limit));
	return RMS_E_TIMEOUT;
}

int rms__session_open_step(rms_session *s, rms_wait *w)
{
	rms__wait_clear(w);
	int rc;
	if (!s->opening) {
		s->opening = true;
		s->open_deadline = rms__now_ms() + open_limit(s);
		rc = s->ops->open(s);
	} else if (rms__now_ms() >= s->open_deadline) {
		rc = open_timed_out(s);
	} else {
		rc = s->ops->open_step ? s->ops->open_step(s, w) : 0;
	}
	if (rc == RMS_EAGAIN) {
		/* An empty wait means "step again at once": it stays so. */
		if (w->nfds || w->deadline_ms)
			rms__wait_until(w, s->open_deadline);
		return rc;
	}
	s->opening = false;
	if (rc) {
		rms__error_set_backend(s->ops->id);
		rms__log(&s->log, RMS_LOG_ERROR, "%s: %s", s->name,
		         rms_error_message(rms_error_last()));
		/* Nothing remote is left to close: the backend cleaned up what
		 * it had begun, as rms_session_new relies on. */
		s->open_failed = true;
		s->state = RMS_STATE_BROKEN;
		rms_error_free(s->broken_reason);
		s->broken_reason = rms_error_dup(rms_error_last());
	}
	return rc;
}

static int session_new(rms_session **out, rms_backend backend, const rms_session_options *opts,
                       uint32_t limit_ms, const char *connect_shell_id)
{
	rms_session *s;
	int rc = session_prepare(&s, backend, opts);
	if (rc)
		return rc;
	s->open_limit_ms = limit_ms;
	s->connect_shell_id = connect_shell_id;
	rms_wait w;
	while ((rc = rms__session_open_step(s, &w)) == RMS_EAGAIN)
		if ((rc = rms__wait_block(&w)))
			break;
	s->connect_shell_id = NULL;
	if (rc) {
		/* Keep the error across the destroy, which may log or fail. */
		rms_error *keep = rms_error_dup(rms_error_last());
		session_destroy(s);
		if (keep) {
			rms__error_restore(keep);
			rms_error_free(keep);
		}
		return rc;
	}
	*out = s;
	return 0;
}

int rms_session_new(rms_session **out, rms_backend backend, const rms_session_options *opts)
{
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out",
		                                           "no place for the session (out is NULL)");
	*out = NULL;
	return rms__session_new_within(out, backend, opts, 0);
}

int rms__session_new_within(rms_session **out, rms_backend backend,
                            const rms_session_options *opts, uint32_t limit_ms)
{
	*out = NULL;
	int rc = session_new(out, backend, opts, limit_ms, NULL);
	if (rc && (backend == RMS_BACKEND_CIM || backend == RMS_BACKEND_PSSESSION))
		rms__error_default_backend(backend);
	return rc;
}

int rms_session_check(rms_session *s, rms_instance **info)
{
	if (info)
		*info = NULL;
	if (!s)
		return rms__error_field(RMS_E_INVALID_ARG, "session", "session is NULL");
	if (s->opening)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE, "%s is still opening", s->name);
	int rc = rms__session_usable(s);
	if (rc)
		return rc;
	if (!s->ops->check) {
		rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_NONE,
		               "%s holds nothing on the server to check (a %s session opens "
		               "nothing between operations); identify tests the computer",
		               s->name, s->ops->name);
		rms__error_set_backend(s->ops->id);
		return RMS_E_UNSUPPORTED;
	}
	rc = s->ops->check(s, info);
	if (rc)
		rms__error_default_backend(s->ops->id);
	return rc;
}

int rms__session_close_step(rms_session *s, rms_wait *w)
{
	rms__wait_clear(w);
	int rc;
	if (!s->closing) {
		s->closing = true;
		rc = s->ops->close ? s->ops->close(s) : 0;
	} else {
		rc = s->ops->close_step ? s->ops->close_step(s, w) : 0;
	}
	if (rc == RMS_EAGAIN)
		return rc;
	s->closing = false;
	s->state = RMS_STATE_CLOSED;
	rms__log(&s->log, RMS_LOG_INFO, "%s: closed", s->name);
	return rc;
}

int rms_session_close(rms_session *s)
{
	if (!s)
		return rms__error_field(RMS_E_INVALID_ARG, "session",
		                                           "session is NULL");
	if (s->state == RMS_STATE_CLOSED)
		return 0;
	if (s->opening) {
		/* Abandoned while an engine opens it: nothing is open to close;
		 * destroy frees what the backend had begun. */
		rms__multi_forget_session(s);
		s->opening = false;
		s->open_failed = true;
		s->state = RMS_STATE_CLOSED;
		rms__log(&s->log, RMS_LOG_INFO, "%s: closed while opening", s->name);
		return 0;
	}
	/* A close an engine began goes on here, blocking, without it. */
	rms__multi_forget_session(s);
	rms_wait w;
	int rc;
	while ((rc = rms__session_close_step(s, &w)) == RMS_EAGAIN) {
		if ((rc = rms__wait_block(&w))) {
			/* No way to wait: give the close up (destroy frees what it
			 * began, sending nothing more). */
			s->closing = false;
			s->state = RMS_STATE_CLOSED;
			break;
		}
	}
	return rc;
}

void rms_session_free(rms_session *s)
{
	if (!s)
		return;
	if (s->opening)
		rms_session_close(s);
	if (s->closing) {
		/* Freed while an engine closes it: the close is abandoned, and
		 * the backend's destroy sends nothing more (no blocking wait in
		 * a free the engine's caller made). */
		rms__multi_forget_session(s);
	} else if (s->state != RMS_STATE_CLOSED && s->state != RMS_STATE_DISCONNECTED &&
	           !s->open_failed) {
		/* Errors here have nowhere to go but the log; keep the caller's
		 * last error intact. */
		struct rms_error *keep = rms__error_park();
		if (rms_session_close(s))
			rms__log(&s->log, RMS_LOG_WARNING, "%s: close failed: %s", s->name,
			         rms_error_message(rms_error_last()));
		rms__error_unpark(keep);
	}
	/* An OPENED or CLOSED not read yet names it no more. */
	rms__multi_forget_session(s);
	session_destroy(s);
}

rms_backend rms_session_backend(const rms_session *s)
{
	return s ? s->ops->id : RMS_BACKEND_NONE;
}

rms_session_state rms_session_state_get(const rms_session *s)
{
	if (s && s->opening)
		return RMS_STATE_OPENING;
	return s ? s->state : RMS_STATE_CLOSED;
}

uint32_t rms_session_id(const rms_session *s) { return s ? s->id : 0; }
const char *rms_session_name(const rms_session *s) { return s ? s->name : NULL; }
const char *rms_session_instance_id(const rms_session *s) { return s ? s->instance_id : NULL; }
const char *rms_session_computer_name(const rms_session *s) { return s ? s->computer_name : NULL; }
const char *rms_session_endpoint(const rms_session *s) { return s ? s->endpoint : NULL; }
const rms_error *rms_session_broken_reason(const rms_session *s)
{
	return s ? s->broken_reason : NULL;
}

const char *rms_session_protocol(const rms_session *s)
{
	if (!s)
		return NULL;
	return s->opts.transport == RMS_TRANSPORT_SSH ? "SSH" : "WSMAN";
}

rms_ps_protocol rms_session_ps_protocol(const rms_session *s)
{
	return s ? s->opts.pssession_v2.protocol : RMS_PS_PROTOCOL_SHELL;
}

int rms_session_set_name(rms_session *s, const char *name)
{
	if (!s || !name || !*name)
		return rms__error_field(RMS_E_INVALID_ARG, "name", "a session name must not be empty");
	if (!rms__utf8_valid(name, strlen(name)))
		return rms__error_field(RMS_E_INVALID_ARG, "name", "session name is not valid UTF-8");
	return rms__set_str(&s->name, name) ? rms__error_nomem() : 0;
}

int rms_session_stats(const rms_session *s, rms_stats *out)
{
	if (!s || !out)
		return rms__error_field(RMS_E_INVALID_ARG, s ? "out" : "session",
		                        "rms_session_stats needs a session and a place for the result");
	if (out->version != RMS_STATS_VERSION)
		return rms__error_field(RMS_E_INVALID_ARG, "version",
		                        "rms_stats version %u is not supported (expected %u); set "
		                        "out->version = RMS_STATS_VERSION",
		                        out->version, RMS_STATS_VERSION);
	*out = s->stats;
	out->version = RMS_STATS_VERSION;
	return 0;
}

/* ---- the user's shells on the computer ---------------------------------- */

typedef int (*record_decoder)(const xmlNode *el, rms_instance **out);

static int shells_page(rms_wsman_reply *reply, record_decoder decode, rms_instance ***list,
                       size_t *n, size_t *cap, char **context, bool *end)
{
	rms_enum_page page;
	memset(&page, 0, sizeof page);
	int rc = rms__enum_begin(reply->reader, &page);
	xmlNode *el;
	while (!rc && page.in_items && (rc = rms__soap_reader_next(reply->reader, &el)) == 0) {
		rms_instance *inst;
		if ((rc = decode(el, &inst)))
			break;
		if ((rc = rms__array_grow((void **)list, cap, *n + 1, sizeof **list))) {
			rms_instance_free(inst);
			break;
		}
		(*list)[(*n)++] = inst;
	}
	if (rc == RMS_ITEROVER)
		rc = 0;
	if (!rc)
		rc = rms__enum_finish(reply->reader, &page);
	if (!rc) {
		*end = page.end_of_sequence || !page.context;
		*context = page.context;
		page.context = NULL;
	}
	rms__enum_page_free(&page);
	return rc;
}

/* A WS-Man enumeration of shell records (uri: the shells, or a shell's
 * commands), on a connection of its own, each item decoded. */
static int enumerate_records(rms_session *s, const char *uri, const rms_enum_params *p,
                             record_decoder decode, rms_instance ***out, size_t *count)
{
	int rc = rms__session_usable(s);
	if (rc)
		return rc;
	if (s->opts.transport == RMS_TRANSPORT_SSH)
		return rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_NONE,
		                      "%s is over SSH: there are no WinRM shells to list", s->name);
	rms_wsman *w = NULL;
	if ((rc = rms__wsman_new(&w, &s->opts, &s->stats, &s->log, NULL, s->gss_cred)))
		return rc;
	rms_instance **list = NULL;
	size_t n = 0, cap = 0;
	char *context = NULL;
	bool end = false;
	rms_buf body;
	rms__buf_init(&body);
	rc = rms__body_enumerate(&body, p);
	const char *action = RMS_ACTION_ENUMERATE;
	while (!rc) {
		rms_wsman_request req = {.action = action, .resource_uri = uri, .body = body.data};
		rms_wsman_reply reply;
		if ((rc = rms__wsman_send(w, &req, &reply)))
			break;
		free(context);
		context = NULL;
		rc = shells_page(&reply, decode, &list, &n, &cap, &context, &end);
		rms__wsman_reply_free(&reply);
		if (rc || end)
			break;
		rms__buf_free(&body);
		rms__buf_init(&body);
		rc = rms__body_pull(&body, context, 100);
		action = RMS_ACTION_PULL;
	}
	rms__buf_free(&body);
	if (rc && context) {
		/* Let the server drop what it keeps for the enumeration. */
		rms_buf rel;
		rms__buf_init(&rel);
		struct rms_error *keep = rms__error_park();
		if (!rms__body_release(&rel, context)) {
			rms_wsman_request req = {.action = RMS_ACTION_RELEASE, .resource_uri = uri,
			                         .body = rel.data};
			rms_wsman_reply reply;
			if (!rms__wsman_send(w, &req, &reply))
				rms__wsman_reply_free(&reply);
		}
		rms__error_unpark(keep);
		rms__buf_free(&rel);
	}
	free(context);
	rms__wsman_free(w);
	if (rc) {
		for (size_t i = 0; i < n; i++)
			rms_instance_free(list[i]);
		free(list);
		rms__error_default_backend(s->ops->id);
		return rc;
	}
	*out = list;
	*count = n;
	return 0;
}

int rms_session_shells(rms_session *s, rms_instance ***shells, size_t *count)
{
	if (!s || !shells || !count)
		return rms__error_field(RMS_E_INVALID_ARG, !s ? "session" : !shells ? "shells" : "count",
		                        "NULL argument");
	*shells = NULL;
	*count = 0;
	rms_enum_params p = {.optimize = true, .max_elements = 100};
	return enumerate_records(s, RMS_URI_SHELL_GENERIC, &p, rms__decode_shell_record, shells,
	                         count);
}

int rms_session_shell_commands(rms_session *s, const char *shell_id, rms_instance ***commands,
                               size_t *count)
{
	if (!s || !shell_id || !commands || !count)
		return rms__error_field(RMS_E_INVALID_ARG,
		                        !s ? "session" : !shell_id ? "shell_id" : "commands",
		                        "NULL argument");
	*commands = NULL;
	*count = 0;
	rms_ref *sel = NULL;
	int rc = rms_ref_new(&sel, NULL, NULL);
	if (!rc)
		rc = rms_ref_add_selector(sel, "ShellId", shell_id);
	/* As pypsrp asks Windows: a SelectorFilter on the shell's id. */
	rms_enum_params p = {.optimize = true,
	                     .max_elements = 32000,
	                     .filter = RMS_FILTER_SELECTOR,
	                     .selectors = sel};
	if (!rc)
		rc = enumerate_records(s, RMS_URI_SHELL_GENERIC "/Command", &p,
		                       rms__decode_command_record, commands, count);
	rms_ref_free(sel);
	return rc;
}

/* ---- disconnect and reconnect -------------------------------------------- */

/* The PSSession calls: RMS_E_UNSUPPORTED (naming why) where the backend
 * has no such call. */
static int no_disconnect(rms_session *s, const char *what)
{
	rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_NONE,
	               "%s cannot be %s: a %s session holds no remote shell (only a PSSession "
	               "speaking PowerShell remoting over WinRM can be disconnected)",
	               s->name, what, s->ops->name);
	rms__error_set_backend(s->ops->id);
	return RMS_E_UNSUPPORTED;
}

int rms_session_disconnect(rms_session *s, uint32_t idle_timeout_ms)
{
	if (!s)
		return rms__error_field(RMS_E_INVALID_ARG, "session", "session is NULL");
	if (!s->ops->disconnect)
		return no_disconnect(s, "disconnected");
	if (s->state == RMS_STATE_DISCONNECTED)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE, "%s is disconnected already",
		                      s->name);
	int rc = rms__session_usable(s);
	if (rc)
		return rc;
	if ((rc = s->ops->disconnect(s, idle_timeout_ms))) {
		rms__error_default_backend(s->ops->id);
		return rc;
	}
	s->state = RMS_STATE_DISCONNECTED;
	rms__log(&s->log, RMS_LOG_INFO, "%s: Disconnected", s->name);
	return 0;
}

int rms_session_reconnect(rms_session *s)
{
	if (!s)
		return rms__error_field(RMS_E_INVALID_ARG, "session", "session is NULL");
	if (!s->ops->reconnect)
		return no_disconnect(s, "reconnected");
	if (s->state != RMS_STATE_DISCONNECTED) {
		int rc = rms__session_usable(s);
		return rc ? rc
		          : rms__error_set(RMS_E_STATE, RMS_PHASE_NONE,
		                           "%s is not disconnected (it is %s)", s->name,
		                           rms_session_state_name(s->state));
	}
	/* Opened while it reconnects: a lost connection then breaks it. */
	s->state = RMS_STATE_OPENED;
	int rc = s->ops->reconnect(s);
	if (rc) {
		if (s->state == RMS_STATE_OPENED)
			s->state = RMS_STATE_DISCONNECTED; /* refused: as it was */
		rms__error_default_backend(s->ops->id);
		return rc;
	}
	rms__log(&s->log, RMS_LOG_INFO, "%s: Opened again (reconnected)", s->name);
	return 0;
}

int rms_session_connect(rms_session **out, const rms_session_options *opts,
                        const char *shell_id)
{
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "no place for the session (out is NULL)");
	*out = NULL;
	if (!shell_id || !*shell_id)
		return rms__error_field(RMS_E_INVALID_ARG, "shell_id",
		                        "connecting to a disconnected shell needs its id");
	/* No options are the defaults: the command shell's protocol. */
	if (!opts || opts->pssession_v2.protocol != RMS_PS_PROTOCOL_POWERSHELL) {
		rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_NONE,
		               "only a PowerShell shell (pssession protocol POWERSHELL over WinRM) "
		               "can be connected to; the command shell is not disconnected by remsess");
		rms__error_set_backend(RMS_BACKEND_PSSESSION);
		return RMS_E_UNSUPPORTED;
	}
	int rc = session_new(out, RMS_BACKEND_PSSESSION, opts, 0, shell_id);
	if (rc)
		rms__error_default_backend(RMS_BACKEND_PSSESSION);
	return rc;
}

int rms_session_receive(rms_op **out, rms_session *s, const char *command_id)
{
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "out is NULL");
	*out = NULL;
	if (!s)
		return rms__error_field(RMS_E_INVALID_ARG, "session", "session is NULL");
	if (!command_id || !*command_id)
		return rms__error_field(RMS_E_INVALID_ARG, "command_id",
		                        "reading a pipeline needs its command id");
	if (!s->ops->op_command_id) {
		rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_NONE,
		               "a %s session runs no PowerShell pipelines to read", s->ops->name);
		rms__error_set_backend(s->ops->id);
		return RMS_E_UNSUPPORTED;
	}
	if (!s->ops->supports(&s->opts, RMS_OP_POWERSHELL)) {
		/* Else the op's start would speak of the placeholder request ("no
		 * backend can run PowerShell"), not of reading a pipeline. */
		rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_NONE,
		               "%s runs a command shell: it has no PowerShell pipelines to read "
		               "(rms_session_receive needs pssession protocol POWERSHELL over WinRM)",
		               s->name);
		rms__error_set_backend(s->ops->id);
		return RMS_E_UNSUPPORTED;
	}
	rms_request *req = NULL;
	int rc = rms_request_new(&req, RMS_OP_POWERSHELL);
	/* The request only carries the kind through the op's start: the
	 * backend attaches to the pipeline instead of creating one, and never
	 * sends this script. */
	if (!rc)
		rc = rms_request_set_script(req, "(the pipeline of an earlier client)");
	if (!rc) {
		s->attach_command_id = command_id;
		rc = rms__op_start(out, s, req, "the caller's session (rms_session_receive)");
		s->attach_command_id = NULL;
	}
	rms_request_free(req);
	return rc;
}

const char *rms_session_shell_id(const rms_session *s)
{
	return s && s->ops->shell_id && s->priv ? s->ops->shell_id(s) : NULL;
}

const char *rms_op_command_id(const rms_op *op)
{
	return op && op->session && op->session->ops->op_command_id && op->priv
	               ? op->session->ops->op_command_id(op)
	               : NULL;
}
