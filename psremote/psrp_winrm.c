/*
 * PowerShell remoting over WinRS (psrp_winrm.h): the pool's sends as
 * WS-Management exchanges, one in flight at a time, and Receives when
 * nothing is to be sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "defaults.h"
#include "fault.h"
#include "psrp_winrm.h"
#include "value_internal.h"
#include "wsman.h"
#include "winrm_setup.h"
#include "wsman_ops.h"

#define PS_URI_PREFIX "http://schemas.microsoft.com/powershell/"
#define PS_DEFAULT_URI PS_URI_PREFIX "Microsoft.PowerShell"
/* The stop signal's code, exactly as PowerShell's client, pypsrp and
 * psrpcore send it: relative, and spelt crtl_c; the server compares it
 * as a string and takes any other code for a close. */
#define PS_SIGNAL_STOP "powershell/signal/crtl_c"
#define PS_NS "http://schemas.microsoft.com/powershell"
/* WinRS' disconnect family (MS-WSMV 3.1.4.15-3.1.4.17), on PowerShell
 * shells only. */
#define ACTION_DISCONNECT "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Disconnect"
#define ACTION_RECONNECT "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Reconnect"
#define ACTION_CONNECT "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Connect"
/* Room in an envelope for everything but the base64 of the fragments
 * (pypsrp's formula: 2048 bytes of headers and markup). */
#define ENVELOPE_OVERHEAD 2048u
/* OperationTimeout of a Receive: with several streams to read, short, so
 * each gets its turn; with one, longer. */
#define RECEIVE_SHARED_MS 500u
/* Also how long a stop, a close or the next command may wait behind an
 * idle Receive (one exchange is in flight at a time). */
#define RECEIVE_ALONE_MS 1000u

enum act_kind { A_SEND, A_COMMAND, A_STOP, A_TERMINATE, A_DELETE, A_CONNECT_COMMAND };

struct action {
	enum act_kind kind;
	rms_guid guid; /* zero: the pool */
	bool prompt;
	rms_buf data;
};

/* A stream to Receive from: the pool (zero guid) or a pipeline. */
struct stream {
	rms_guid guid;
	bool done; /* CommandState Done, or closed */
};

enum exchange { X_NONE, X_IDENTIFY, X_CONFIG, X_CREATE, X_CONNECT, X_ACTION, X_RECEIVE, X_LINK };

/* The shell's connection (psrp_winrm.h). */
enum link { L_OPEN, L_DISCONNECTING, L_DISCONNECTED, L_RECONNECTING };

/* Before the shell: Identify (the server's stack, and the login checked),
 * then winrm/config for MaxEnvelopeSize unless the options set one. */
enum setup { S_IDENTIFY, S_CONFIG, S_READY };

struct psrp_winrm {
	rms_wsman *w;
	enum setup setup;
	char *version; /* Identify's ProductVersion */
	char *uri;
	char shell_id[37];
	rms_ref *selectors;
	bool created;
	bool deleted;
	rms_buf creation; /* the pool's first fragments, for the Create */
	struct action *acts;
	size_t head, nacts, cap;
	struct stream *streams;
	size_t nstreams, scap, next; /* next: round robin */
	bool last_action;  /* the last exchange started was an action, not a Receive */
	rms_guid *dropped; /* pipelines dropped unsent, until their close comes */
	size_t ndropped, dcap;
	size_t room; /* bytes of fragments per Send or Command */
	enum exchange ex;
	struct action cur;  /* the action in flight */
	rms_guid receiving; /* the stream of the Receive in flight */
	uint32_t idle_ms;   /* the shell's IdleTimeOut asked for; 0: the server's */
	enum link link;
	uint32_t disconnect_idle_ms; /* the Disconnect's IdleTimeOut; 0: none */
	bool connect_mode;  /* Connect to shell_id (a disconnected shell), not Create */
	bool pool_receive_once; /* after a Connect: one Receive on the pool */
	bool deleting;      /* only the Delete goes out (close of a disconnected shell) */
};

static void guid_upper(const rms_guid *g, char out[37])
{
	rms__guid_format(g, out);
	for (char *p = out; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
}

int rms__psrp_winrm_new(struct psrp_winrm **out, rms_session *s, size_t *max_fragment,
                        const char *connect_shell_id)
{
	*out = NULL;
	struct psrp_winrm *x = calloc(1, sizeof *x);
	if (!x)
		return rms__error_nomem();
	rms__buf_init(&x->creation);
	x->idle_ms = s->opts.pssession.idle_timeout_ms;
	if (connect_shell_id) {
		x->connect_mode = true;
		snprintf(x->shell_id, sizeof x->shell_id, "%s", connect_shell_id);
	}
	const char *uri = s->opts.pssession.shell_uri;
	if (!uri || strncmp(uri, PS_URI_PREFIX, strlen(PS_URI_PREFIX)) != 0)
		uri = PS_DEFAULT_URI;
	int rc = (x->uri = strdup(uri)) ? 0 : rms__error_nomem();
	if (!rc)
		rc = rms__wsman_new(&x->w, &s->opts, &s->stats, &s->log, NULL, s->gss_cred);
	if (rc) {
		rms__psrp_winrm_free(x);
		return rc;
	}
	uint32_t env = s->opts.max_envelope_size ? s->opts.max_envelope_size
	                                         : RMS_DEFAULT_MAX_ENVELOPE;
	rms__wsman_set_max_envelope(x->w, env);
	x->room = (env - ENVELOPE_OVERHEAD) / 4 * 3;
	*max_fragment = x->room;
	*out = x;
	return 0;
}

/* Identify's answer, then the configuration's: the envelope size, and the
 * pool's fragments cut to fit it. */
static int setup_done(struct psrp_winrm *x, rms_session *s, rms_psrp_pool *pool,
                      enum exchange ex, int rc, rms_wsman_reply *reply)
{
	if (ex == X_IDENTIFY) {
		if (rc || (rc = rms__winrm_identified(x->w, reply, &x->version)))
			return rc;
		if (!s->opts.max_envelope_size) {
			x->setup = S_CONFIG;
			return 0;
		}
		x->setup = S_READY;
		return 0;
	}
	uint32_t kb = 0;
	if ((rc = rms__winrm_config_read(s, rc, reply, &kb)))
		return rc;
	uint32_t env = rms__winrm_envelope(s, x->version, kb);
	rms__wsman_set_max_envelope(x->w, env);
	x->room = (env - ENVELOPE_OVERHEAD) / 4 * 3;
	rms__psrp_pool_set_max_fragment(pool, x->room);
	x->setup = S_READY;
	return 0;
}

static void action_clear(struct action *a)
{
	rms__buf_free(&a->data);
	memset(a, 0, sizeof *a);
}

void rms__psrp_winrm_free(struct psrp_winrm *x)
{
	if (!x)
		return;
	rms__wsman_free(x->w);
	free(x->version);
	free(x->uri);
	rms_ref_free(x->selectors);
	rms__buf_free(&x->creation);
	for (size_t i = x->head; i < x->nacts; i++)
		action_clear(&x->acts[i]);
	free(x->acts);
	action_clear(&x->cur);
	free(x->streams);
	free(x->dropped);
	free(x);
}

const char *rms__psrp_winrm_shell_id(const struct psrp_winrm *x)
{
	return x->shell_id;
}

/* ---- queues -------------------------------------------------------------- */

static struct action *push_action(struct psrp_winrm *x, enum act_kind kind, const rms_guid *g)
{
	if (x->head && x->head == x->nacts)
		x->head = x->nacts = 0;
	if (rms__array_grow((void **)&x->acts, &x->cap, x->nacts + 1, sizeof *x->acts))
		return NULL;
	struct action *a = &x->acts[x->nacts++];
	memset(a, 0, sizeof *a);
	a->kind = kind;
	a->guid = *g;
	rms__buf_init(&a->data);
	return a;
}

static struct stream *find_stream(struct psrp_winrm *x, const rms_guid *g)
{
	for (size_t i = 0; i < x->nstreams; i++)
		if (rms__guid_equal(&x->streams[i].guid, g))
			return &x->streams[i];
	return NULL;
}

static int add_stream(struct psrp_winrm *x, const rms_guid *g)
{
	if (find_stream(x, g))
		return 0;
	if (rms__array_grow((void **)&x->streams, &x->scap, x->nstreams + 1, sizeof *x->streams))
		return RMS_E_NOMEM;
	x->streams[x->nstreams].guid = *g;
	x->streams[x->nstreams].done = false;
	x->nstreams++;
	return 0;
}

/* A pipeline whose Command has not gone out yet is stopped or closed: none
 * of it is sent (its Command, Sends, stop or close), and the pool ends it.
 * Returns whether it was such a pipeline. */
static bool drop_unsent(struct psrp_winrm *x, rms_psrp_pool *pool, const rms_guid *g)
{
	bool unsent = false;
	for (size_t i = x->head; i < x->nacts; i++)
		if (x->acts[i].kind == A_COMMAND && rms__guid_equal(&x->acts[i].guid, g))
			unsent = true;
	if (!unsent)
		return false;
	size_t keep = x->head;
	for (size_t i = x->head; i < x->nacts; i++) {
		if (rms__guid_equal(&x->acts[i].guid, g))
			action_clear(&x->acts[i]);
		else
			x->acts[keep++] = x->acts[i];
	}
	x->nacts = keep;
	if (!rms__array_grow((void **)&x->dropped, &x->dcap, x->ndropped + 1, sizeof *x->dropped))
		x->dropped[x->ndropped++] = *g;
	rms__psrp_pipeline_dropped(pool, g, "the pipeline was stopped before it started");
	return true;
}

/* Whether g's pipeline was dropped unsent (its close then sends nothing). */
static bool was_dropped(struct psrp_winrm *x, const rms_guid *g)
{
	for (size_t i = 0; i < x->ndropped; i++)
		if (rms__guid_equal(&x->dropped[i], g)) {
			x->dropped[i] = x->dropped[--x->ndropped];
			return true;
		}
	return false;
}

/* The pool's sends, as actions (the pool's data before the shell exists
 * goes into its Create). */
static int route(struct psrp_winrm *x, rms_psrp_pool *pool)
{
	rms_psrp_send snd;
	while (rms__psrp_pool_take(pool, &snd) == 0) {
		int rc = 0;
		struct action *a = NULL;
		bool pool_stream = rms__guid_is_zero(&snd.guid);
		if (x->deleting) {
			/* The shell goes whole: nothing of its pipelines is sent. */
			rms__psrp_send_clear(&snd);
			continue;
		}
		switch (snd.kind) {
		case RMS_PSRP_SEND_DATA:
			if (pool_stream && !x->created && !snd.prompt_response) {
				rc = rms__buf_append(&x->creation, snd.data.data, snd.data.len);
				break;
			}
			if (!(a = push_action(x, A_SEND, &snd.guid)))
				rc = RMS_E_NOMEM;
			else {
				a->prompt = snd.prompt_response;
				a->data = snd.data;
				rms__buf_init(&snd.data);
			}
			break;
		case RMS_PSRP_SEND_CREATE:
			if (!(a = push_action(x, A_COMMAND, &snd.guid)))
				rc = RMS_E_NOMEM;
			else {
				a->data = snd.data;
				rms__buf_init(&snd.data);
			}
			break;
		case RMS_PSRP_SEND_STOP:
			if (drop_unsent(x, pool, &snd.guid))
				break;
			rc = push_action(x, A_STOP, &snd.guid) ? 0 : RMS_E_NOMEM;
			break;
		case RMS_PSRP_SEND_CLOSE_PIPELINE: {
			if (drop_unsent(x, pool, &snd.guid) || was_dropped(x, &snd.guid))
				break;
			struct stream *st = find_stream(x, &snd.guid);
			if (st)
				st->done = true;
			rc = push_action(x, A_TERMINATE, &snd.guid) ? 0 : RMS_E_NOMEM;
			break;
		}
		case RMS_PSRP_SEND_CLOSE_POOL:
			rc = push_action(x, A_DELETE, &snd.guid) ? 0 : RMS_E_NOMEM;
			break;
		case RMS_PSRP_SEND_ATTACH:
			rc = push_action(x, A_CONNECT_COMMAND, &snd.guid) ? 0 : RMS_E_NOMEM;
			break;
		}
		rms__psrp_send_clear(&snd);
		if (rc)
			return rms__error_nomem();
	}
	return 0;
}

/* ---- requests -------------------------------------------------------------- */

static rms_wsman_request shell_req(const struct psrp_winrm *x, const char *action,
                                   const char *body, uint32_t timeout_ms)
{
	rms_wsman_request req = { .action = action,
		                  .resource_uri = x->uri,
		                  .selectors = x->selectors,
		                  .timeout_ms = timeout_ms,
		                  .extra_xmlns = RMS_XMLNS_RSP,
		                  .body = body };
	return req;
}

/* Start req as exchange ex: rc is the building of its body b so far (an
 * allocation b failed to make counts too); b is freed either way. */
static int send_body(struct psrp_winrm *x, int rc, rms_buf *b, const rms_wsman_request *req,
                     enum exchange ex)
{
	if (!rc && b->failed)
		rc = rms__error_nomem();
	if (!rc)
		rc = rms__wsman_start(x->w, req);
	rms__buf_free(b);
	if (!rc)
		x->ex = ex;
	return rc;
}

static int start_create(struct psrp_winrm *x, rms_psrp_pool *pool)
{
	char id[37];
	guid_upper(rms__psrp_pool_id(pool), id);
	rms_buf b;
	rms__buf_init(&b);
	rms__buf_printf(&b, "<rsp:Shell ShellId=\"%s\"><rsp:InputStreams>stdin pr</rsp:InputStreams>"
	                    "<rsp:OutputStreams>stdout</rsp:OutputStreams>",
	                id);
	/* Where pypsrp puts it (its recordings of Windows), as WinRS has it. */
	if (x->idle_ms)
		rms__buf_printf(&b, "<rsp:IdleTimeOut>PT%u.%03uS</rsp:IdleTimeOut>", x->idle_ms / 1000,
		                x->idle_ms % 1000);
	rms__buf_puts(&b, "<creationXml xmlns=\"" PS_NS "\">");
	rms__base64_append(&b, x->creation.data, x->creation.len);
	rms__buf_puts(&b, "</creationXml></rsp:Shell>");
	static const rms_wsman_option opts[] = {
		{ "protocolversion", "2.3", NULL, true },
	};
	rms_wsman_request req = { .action = RMS_ACTION_CREATE,
		                  .resource_uri = x->uri,
		                  .options = opts,
		                  .noptions = 1,
		                  .options_must_understand = true,
		                  .extra_xmlns = RMS_XMLNS_RSP,
		                  .body = b.data };
	return send_body(x, 0, &b, &req, X_CREATE);
}

/* What of a's data did not fit (from byte n on) goes in a Send of its own,
 * next in line, before anything queued after a. */
static int push_rest(struct psrp_winrm *x, const struct action *a, size_t n)
{
	struct action *rest = push_action(x, A_SEND, &a->guid);
	if (!rest || rms__buf_append(&rest->data, a->data.data + n, a->data.len - n))
		return rms__error_nomem();
	rest->prompt = a->prompt;
	if (x->nacts - x->head > 1) {
		struct action tmp = x->acts[x->nacts - 1];
		memmove(&x->acts[x->head + 1], &x->acts[x->head],
		        (x->nacts - 1 - x->head) * sizeof *x->acts);
		x->acts[x->head] = tmp;
	}
	return 0;
}

/* Whether every queued action is cleanup (a finished pipeline's terminate,
 * the Delete): such actions alternate with Receives while a pipeline is
 * being read, so a command's output does not wait behind the previous
 * command's release, and the release is not put off for long. */
static bool only_cleanup(const struct psrp_winrm *x)
{
	for (size_t i = x->head; i < x->nacts; i++)
		if (x->acts[i].kind != A_TERMINATE)
			return false;
	return true;
}

static bool has_active(const struct psrp_winrm *x)
{
	static const rms_guid zero;
	for (size_t i = 0; i < x->nstreams; i++)
		if (!x->streams[i].done && !rms__guid_equal(&x->streams[i].guid, &zero))
			return true;
	return false;
}

/* A finished pipeline's terminate can wait: move the first action that is
 * neither a terminate nor the Delete to the head, so the next command's
 * result comes after its own Command and Receive, not also behind the
 * previous one's close. Actions of one pipeline keep their order (a
 * pipeline's own terminate comes after its Sends). */
static void prefer_work(struct psrp_winrm *x)
{
	size_t i = x->head;
	while (i < x->nacts && (x->acts[i].kind == A_TERMINATE || x->acts[i].kind == A_DELETE))
		i++;
	if (i == x->head || i == x->nacts)
		return;
	for (size_t k = x->head; k < i; k++)
		if (x->acts[k].kind == A_DELETE || rms__guid_equal(&x->acts[k].guid, &x->acts[i].guid))
			return;
	struct action tmp = x->acts[i];
	memmove(&x->acts[x->head + 1], &x->acts[x->head], (i - x->head) * sizeof *x->acts);
	x->acts[x->head] = tmp;
}

/* Begin the next action (cur owns it while in flight). */
static int start_action(struct psrp_winrm *x)
{
	x->cur = x->acts[x->head];
	memset(&x->acts[x->head], 0, sizeof x->acts[x->head]);
	x->head++;
	struct action *a = &x->cur;
	char cid[37];
	guid_upper(&a->guid, cid);
	bool pool = rms__guid_is_zero(&a->guid);
	rms_buf b;
	rms__buf_init(&b);
	const char *verb = RMS_ACTION_SEND;
	int rc = 0;
	switch (a->kind) {
	case A_SEND: {
		/* At most one envelope's worth: the rest goes in the next Send. */
		size_t n = rms__psrp_fragments_prefix(a->data.data, a->data.len, x->room);
		if (!n)
			return rms__error_set(RMS_E_INTERNAL, RMS_PHASE_SEND,
			                      "a PSRP fragment is larger than a Send can carry");
		rc = rms__body_send(&b, pool ? NULL : cid, a->prompt ? "pr" : "stdin", a->data.data,
		                    n, false);
		if (!rc && n < a->data.len)
			rc = push_rest(x, a, n);
		break;
	}
	case A_COMMAND: {
		verb = RMS_ACTION_COMMAND;
		size_t n = rms__psrp_fragments_prefix(a->data.data, a->data.len, x->room);
		rms__buf_printf(&b, "<rsp:CommandLine CommandId=\"%s\"><rsp:Command> </rsp:Command>"
		                    "<rsp:Arguments>",
		                cid);
		rms__base64_append(&b, a->data.data, n);
		rms__buf_puts(&b, "</rsp:Arguments></rsp:CommandLine>");
		if (n < a->data.len)
			rc = push_rest(x, a, n);
		break;
	}
	case A_STOP:
		verb = RMS_ACTION_SIGNAL;
		rc = rms__body_signal(&b, cid, PS_SIGNAL_STOP);
		break;
	case A_TERMINATE:
		verb = RMS_ACTION_SIGNAL;
		rc = rms__body_signal(&b, cid, RMS_SIGNAL_TERMINATE);
		break;
	case A_DELETE:
		verb = RMS_ACTION_DELETE;
		break;
	case A_CONNECT_COMMAND:
		/* A pipeline an earlier client started: Receive on it from here
		 * (pypsrp's recording of Windows). */
		verb = ACTION_CONNECT;
		rms__buf_printf(&b, "<rsp:Connect CommandId=\"%s\"/>", cid);
		break;
	}
	rms_wsman_request req = shell_req(x, verb, b.data, 0);
	return send_body(x, rc, &b, &req, X_ACTION);
}

/* The next stream to Receive from, round robin; NULL when none. */
static const struct stream *next_stream(struct psrp_winrm *x, size_t *active)
{
	*active = 0;
	for (size_t i = 0; i < x->nstreams; i++)
		*active += !x->streams[i].done;
	for (size_t k = 0; k < x->nstreams; k++) {
		size_t i = (x->next + k) % x->nstreams;
		if (!x->streams[i].done) {
			x->next = i + 1;
			return &x->streams[i];
		}
	}
	return NULL;
}

static int start_receive(struct psrp_winrm *x, const struct stream *st, size_t active)
{
	char cid[37];
	guid_upper(&st->guid, cid);
	rms_buf b;
	rms__buf_init(&b);
	/* As the cmd shell's Receive, pypsrp's and WinRb's PSRP Receives. */
	static const rms_wsman_option opts[] = {
		{ .name = "WSMAN_CMDSHELL_OPTION_KEEPALIVE", .value = "TRUE" },
	};
	int rc = rms__body_receive(&b, rms__guid_is_zero(&st->guid) ? NULL : cid, "stdout");
	rms_wsman_request req = shell_req(x, RMS_ACTION_RECEIVE, b.data,
	                                  active > 1 ? RECEIVE_SHARED_MS : RECEIVE_ALONE_MS);
	req.options = opts;
	req.noptions = 1;
	if (!(rc = send_body(x, rc, &b, &req, X_RECEIVE)))
		x->receiving = st->guid;
	return rc;
}

/* A Connect to a shell another client left disconnected: the pool's
 * SESSION_CAPABILITY and CONNECT_RUNSPACEPOOL in connectXml (MS-PSRP
 * 3.1.5.3.14), the protocol version as the Create's. */
static int start_connect(struct psrp_winrm *x)
{
	rms_buf b;
	rms__buf_init(&b);
	rms__buf_puts(&b, "<rsp:Connect><connectXml xmlns=\"" PS_NS "\">");
	rms__base64_append(&b, x->creation.data, x->creation.len);
	rms__buf_puts(&b, "</connectXml></rsp:Connect>");
	int rc = 0;
	if (!x->selectors && (rc = rms_ref_new(&x->selectors, NULL, NULL)) == 0)
		rc = rms_ref_add_selector(x->selectors, "ShellId", x->shell_id);
	static const rms_wsman_option opts[] = {
		{ "protocolversion", "2.3", NULL, true },
	};
	rms_wsman_request req = shell_req(x, ACTION_CONNECT, b.data, 0);
	req.options = opts;
	req.noptions = 1;
	req.options_must_understand = true;
	return send_body(x, rc, &b, &req, X_CONNECT);
}

/* Disconnect or Reconnect, as the link asks. */
static int start_link(struct psrp_winrm *x)
{
	rms_buf b;
	rms__buf_init(&b);
	const char *action = ACTION_RECONNECT;
	if (x->link == L_DISCONNECTING) {
		action = ACTION_DISCONNECT;
		/* MS-PSRP 3.1.5.3.16: an optional IdleTimeOut replaces the
		 * Create's while nobody is connected. */
		if (x->disconnect_idle_ms)
			rms__buf_printf(&b, "<rsp:Disconnect><rsp:IdleTimeOut>PT%u.%03uS"
			                    "</rsp:IdleTimeOut></rsp:Disconnect>",
			                x->disconnect_idle_ms / 1000, x->disconnect_idle_ms % 1000);
		else
			rms__buf_puts(&b, "<rsp:Disconnect/>");
	}
	rms_wsman_request req = shell_req(x, action, b.data, 0);
	return send_body(x, 0, &b, &req, X_LINK);
}

/* ---- answers --------------------------------------------------------------- */


static int created(struct psrp_winrm *x, rms_session *s, rms_psrp_pool *pool,
                   rms_wsman_reply *reply)
{
	xmlNode *el;
	char *id = NULL;
	/* Windows answers x:ResourceCreated, then rsp:Shell with the ShellId
	 * (the one asked for: the pool's id). */
	int rc = rms__winrm_first_element(reply, &el, "PowerShell shell Create");
	while (!rc && !rms__xml_is(el, RMS_NS_SHELL, "Shell"))
		rc = rms__soap_reader_next(reply->reader, &el);
	if (!rc)
		rc = rms__decode_shell_id(&id, el, NULL);
	if (rc == RMS_ITEROVER) {
		char want[37];
		guid_upper(rms__psrp_pool_id(pool), want);
		rc = (id = strdup(want)) ? 0 : rms__error_nomem();
	}
	if (!rc && strlen(id) >= sizeof x->shell_id)
		rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                    "the server's ShellId '%.60s' is not a GUID", id);
	if (!rc) {
		snprintf(x->shell_id, sizeof x->shell_id, "%s", id);
		if (!(rc = rms_ref_new(&x->selectors, NULL, NULL)))
			rc = rms_ref_add_selector(x->selectors, "ShellId", x->shell_id);
	}
	free(id);
	if (rc)
		return rc;
	x->created = true;
	static const rms_guid zero;
	if ((rc = add_stream(x, &zero)))
		return rms__error_nomem();
	rms__log(&s->log, RMS_LOG_INFO, "%s: PowerShell shell %s created", s->name, x->shell_id);
	return 0;
}

static int connected(struct psrp_winrm *x, rms_session *s, rms_psrp_pool *pool,
                     rms_wsman_reply *reply)
{
	xmlNode *el;
	int rc = rms__winrm_first_element(reply, &el, "PowerShell shell Connect");
	if (rc)
		return rc;
	xmlNode *cx = rms__xml_is(el, RMS_NS_SHELL, "ConnectResponse")
	                      ? rms__xml_child(el, PS_NS, "connectResponseXml")
	                      : NULL;
	/* MS-PSRP 3.1.5.3.15: without the server's SESSION_CAPABILITY there,
	 * the pool is Broken. */
	if (!cx)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "the Connect answer has no connectResponseXml (the server's "
		                      "SESSION_CAPABILITY)");
	char *text = rms__xml_text(cx);
	unsigned char *data = NULL;
	size_t len = 0;
	if (!text)
		return rms__error_nomem();
	rc = rms__base64_decode(&data, &len, text, strlen(text));
	free(text);
	if (rc)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "the Connect answer's connectResponseXml is not base64");
	rc = rms__psrp_pool_feed(pool, data, len);
	free(data);
	if (rc)
		return rc;
	if (!x->selectors) {
		if ((rc = rms_ref_new(&x->selectors, NULL, NULL)) ||
		    (rc = rms_ref_add_selector(x->selectors, "ShellId", x->shell_id)))
			return rc;
	}
	x->created = true;
	x->pool_receive_once = true;
	static const rms_guid zero;
	if (add_stream(x, &zero))
		return rms__error_nomem();
	rms__log(&s->log, RMS_LOG_INFO, "%s: connected to PowerShell shell %s", s->name,
	         x->shell_id);
	return 0;
}

static int received(struct psrp_winrm *x, rms_psrp_pool *pool, rms_wsman_reply *reply)
{
	xmlNode *el;
	rms_receive_result rr;
	memset(&rr, 0, sizeof rr);
	int rc = rms__winrm_first_element(reply, &el, "Receive");
	if (!rc)
		rc = rms__decode_receive(&rr, el);
	for (size_t i = 0; !rc && i < rr.nchunks; i++)
		if (rr.chunks[i].len)
			rc = rms__psrp_pool_feed(pool, rr.chunks[i].data, rr.chunks[i].len);
	if (!rc && rr.done) {
		struct stream *st = find_stream(x, &x->receiving);
		if (st)
			st->done = true;
		/* Done must follow the pipeline's final state; if it did not
		 * come, the pipeline would wait for nothing. */
		if (!rms__guid_is_zero(&x->receiving))
			rms__psrp_pipeline_ended_by_carrier(
			        pool, &x->receiving,
			        "the server ended the command (CommandState Done) without the "
			        "pipeline's final state");
	}
	rms__receive_result_free(&rr);
	return rc;
}

static int action_done(struct psrp_winrm *x, rms_psrp_pool *pool)
{
	struct action *a = &x->cur;
	int rc = 0;
	switch (a->kind) {
	case A_COMMAND:
		rc = add_stream(x, &a->guid) ? rms__error_nomem() : 0;
		break;
	case A_TERMINATE: {
		/* The command is gone on the server: never Receive on it again
		 * (its Command may have been answered after its close was
		 * queued). */
		struct stream *st = find_stream(x, &a->guid);
		if (st)
			st->done = true;
		break;
	}
	case A_DELETE:
		x->deleted = true;
		rms__psrp_pool_closed(pool);
		break;
	case A_CONNECT_COMMAND:
		rc = add_stream(x, &a->guid) ? rms__error_nomem() : 0;
		break;
	default:
		break;
	}
	action_clear(a);
	return rc;
}

/* The exchange in flight ended with rc and reply. */
static int complete(struct psrp_winrm *x, rms_session *s, rms_psrp_pool *pool, int rc,
                    rms_wsman_reply *reply)
{
	enum exchange ex = x->ex;
	x->ex = X_NONE;
	if (ex == X_IDENTIFY || ex == X_CONFIG)
		return setup_done(x, s, pool, ex, rc, reply); /* it frees the reply */
	if (ex == X_RECEIVE && rms__guid_is_zero(&x->receiving))
		x->pool_receive_once = false;
	if (ex == X_RECEIVE && rc == RMS_E_TIMEOUT && rms__fault_is_timed_out(rms_error_last())) {
		rms_error_clear(); /* nothing yet */
		return 0;
	}
	if (ex == X_LINK) {
		if (!rc)
			x->link = x->link == L_DISCONNECTING ? L_DISCONNECTED : L_OPEN;
		else /* refused: the shell stays as it was */
			x->link = x->link == L_DISCONNECTING ? L_OPEN : L_DISCONNECTED;
		if (!rc)
			rms__wsman_reply_free(reply);
		return rc;
	}
	if (ex == X_ACTION && rc && x->cur.kind == A_CONNECT_COMMAND) {
		/* The server has no such pipeline for us: that op fails, the
		 * session goes on. */
		const rms_error *e = rms_error_last();
		char *why = rms__asprintf("the server did not connect to the pipeline: %s",
		                          e ? rms_error_message(e) : "refused");
		rms__psrp_pipeline_ended_by_carrier(pool, &x->cur.guid,
		                                    why ? why : "the server refused the pipeline");
		free(why);
		rms_error_clear();
		action_clear(&x->cur);
		return 0;
	}
	if (ex == X_ACTION && rc && x->cur.kind == A_TERMINATE) {
		/* The pipeline is done with either way. */
		rms__log(&s->log, RMS_LOG_WARNING, "%s: closing a pipeline failed: %s", s->name,
		         rms_error_message(rms_error_last()));
		rms_error_clear();
		rc = 0;
	}
	if (rc) {
		if (ex == X_ACTION)
			action_clear(&x->cur);
		return rc;
	}
	switch (ex) {
	case X_CREATE:
		rc = created(x, s, pool, reply);
		break;
	case X_CONNECT:
		rc = connected(x, s, pool, reply);
		break;
	case X_RECEIVE:
		rc = received(x, pool, reply);
		break;
	case X_ACTION:
		rc = action_done(x, pool);
		break;
	case X_IDENTIFY:
	case X_CONFIG:
	case X_LINK:
	case X_NONE:
		break;
	}
	rms__wsman_reply_free(reply);
	return rc;
}

int rms__psrp_winrm_pump(struct psrp_winrm *x, rms_session *s, rms_psrp_pool *pool, rms_wait *w,
                         uint64_t deadline)
{
	int rc = route(x, pool);
	if (rc)
		return rc;
	for (unsigned rounds = 0; rounds < 8; rounds++) {
		if (x->ex != X_NONE) {
			rms_wsman_reply reply;
			memset(&reply, 0, sizeof reply);
			rc = rms__wsman_step(x->w, w, &reply);
			if (rc == RMS_EAGAIN) {
				if (deadline && (!w->deadline_ms || deadline < w->deadline_ms))
					rms__wait_until(w, deadline);
				return rounds ? 0 : RMS_EAGAIN;
			}
			if ((rc = complete(x, s, pool, rc, &reply)))
				return rc;
			if ((rc = route(x, pool)))
				return rc;
			continue;
		}
		if (x->deleted)
			return rounds ? 0 : RMS_EAGAIN;
		if (x->setup == S_IDENTIFY) {
			if (!(rc = rms__wsman_identify_start(x->w, false)))
				x->ex = X_IDENTIFY;
		} else if (x->setup == S_CONFIG) {
			rms_wsman_request req = { .action = RMS_ACTION_GET,
				                  .resource_uri = RMS_URI_CONFIG };
			if (!(rc = rms__wsman_start(x->w, &req)))
				x->ex = X_CONFIG;
		} else if (!x->created) {
			if (!x->creation.len)
				return rounds ? 0 : RMS_EAGAIN;
			rc = x->connect_mode ? start_connect(x) : start_create(x, pool);
		} else if (x->link == L_DISCONNECTED) {
			/* Nothing goes out until a Reconnect (or the Delete). */
			rms__wait_clear(w);
			rms__wait_until(w, deadline ? deadline : rms__now_ms() + RECEIVE_ALONE_MS);
			return rounds ? 0 : RMS_EAGAIN;
		} else if (x->link == L_RECONNECTING ||
		           (x->link == L_DISCONNECTING && x->head >= x->nacts)) {
			/* Everything queued went out first (WSManDisconnectShell's
			 * rule); no Receive is begun meanwhile. */
			rc = start_link(x);
		} else if (x->link == L_DISCONNECTING) {
			rc = start_action(x);
			x->last_action = true;
		} else if (x->head < x->nacts && !(only_cleanup(x) && x->last_action && has_active(x))) {
			prefer_work(x);
			rc = start_action(x);
			x->last_action = true;
		} else {
			/* The pool's own stream only while it opens. */
			static const rms_guid zero;
			struct stream *ps = find_stream(x, &zero);
			if (ps && rms__psrp_pool_state(pool) != RMS_PSRP_POOL_OPENING &&
			    !x->pool_receive_once)
				ps->done = true;
			size_t active;
			const struct stream *st = next_stream(x, &active);
			x->last_action = false;
			if (!st && x->head < x->nacts) {
				/* Only cleanup left and nothing to read: send it. */
				rc = start_action(x);
				x->last_action = true;
			} else if (!st) {
				/* Nothing to send or read: whoever waits, waits for its
				 * own deadline (a caller's next request starts here). */
				rms__wait_clear(w);
				rms__wait_until(w, deadline ? deadline : rms__now_ms() + RECEIVE_ALONE_MS);
				return rounds ? 0 : RMS_EAGAIN;
			} else {
				rc = start_receive(x, st, active);
			}
		}
		if (rc)
			return rc;
	}
	return 0;
}

int rms__psrp_winrm_check(struct psrp_winrm *x, rms_session *s, rms_instance **info)
{
	if (!x->created || x->deleted || !x->selectors)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE, "%s has no shell open to check",
		                      s->name);
	bool gone;
	int rc = rms__winrm_shell_check(s, x->w, x->selectors, x->shell_id, info, &gone);
	if (gone)
		x->deleted = true; /* nothing to Delete at close */
	return rc;
}

bool rms__psrp_winrm_settled(const struct psrp_winrm *x)
{
	return x->head >= x->nacts && x->ex != X_ACTION;
}

bool rms__psrp_winrm_idle(const struct psrp_winrm *x)
{
	return x->ex == X_NONE;
}

int rms__psrp_winrm_disconnect(struct psrp_winrm *x, uint32_t idle_ms)
{
	if (x->link != L_OPEN || !x->created || x->deleted)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE,
		                      "the shell is not connected, so it cannot be disconnected");
	x->link = L_DISCONNECTING;
	x->disconnect_idle_ms = idle_ms;
	return 0;
}

int rms__psrp_winrm_reconnect(struct psrp_winrm *x)
{
	if (x->link != L_DISCONNECTED)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE, "the shell is not disconnected");
	x->link = L_RECONNECTING;
	return 0;
}

bool rms__psrp_winrm_disconnected(const struct psrp_winrm *x)
{
	return x->link == L_DISCONNECTED;
}

bool rms__psrp_winrm_link_settled(const struct psrp_winrm *x)
{
	return (x->link == L_OPEN || x->link == L_DISCONNECTED) && x->ex == X_NONE;
}

bool rms__psrp_winrm_ready(const struct psrp_winrm *x)
{
	return x->created && !x->pool_receive_once;
}

void rms__psrp_winrm_delete_only(struct psrp_winrm *x)
{
	for (size_t i = x->head; i < x->nacts; i++)
		action_clear(&x->acts[i]);
	x->head = x->nacts = 0;
	x->deleting = true;
	x->link = L_OPEN;
	for (size_t i = 0; i < x->nstreams; i++)
		x->streams[i].done = true;
	static const rms_guid zero;
	push_action(x, A_DELETE, &zero);
}
