/*
 * A PowerShell runspace pool and its pipelines, the client side of MS-PSRP,
 * without I/O (psrp_pool.h). Messages are built as values (objects with
 * extended properties, enums as objects wrapping an I32) and written with
 * the CLIXML writer, so RefIds and TNRefs are numbered in one place.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clixml.h"
#include "error_internal.h"
#include "psrp_pool.h"

/* Runspace pool states (MS-PSRP 2.2.3.4) and pipeline states (2.2.3.5). */
enum { RS_OPENED = 2, RS_CLOSED = 3, RS_CLOSING = 4, RS_BROKEN = 5 };

/* The call id of a host call that needs no answer. */
#define HOST_CALL_NO_ANSWER (-100)

struct pl_queue {
	rms_psrp_event *ev;
	size_t head, n, cap;
};

struct rms_psrp_pipeline {
	rms_psrp_pool *pool; /* NULL once the pool is gone */
	rms_guid id;
	struct pl_queue q;
	rms_psrp_pipeline_state state;
	bool done;       /* the end event is queued */
	bool done_given; /* ... and was taken */
	bool stop_queued;
	bool close_queued;
	bool has_input;
	bool input_ended;
	uint64_t received;
};

struct rms_psrp_pool {
	rms_guid id;
	rms_psrp_pool_state state;
	rms_psrp_pool_config cfg;
	rms_psrp_fragmenter frag;
	rms_psrp_defrag *defrag;
	rms_psrp_send *sends;
	size_t shead, nsends, scap;
	char *reason;
	char *server_protocol;
	rms_value *private_data;
	bool open_queued;
	bool connecting; /* a connect, not an open: Opened by RUNSPACEPOOL_INIT_DATA */
	int init_max;    /* RUNSPACEPOOL_INIT_DATA's MaxRunspaces */
	int64_t next_ci;
	int64_t pending_ci;
	int answer; /* -1 none pending or unanswered, 0 no, 1 yes */
	rms_psrp_pipeline **pls;
	size_t npls, plcap;
};

/* ---- building values ------------------------------------------------------------ */

/* A tiny builder: every call after the first failure does nothing, so a
 * message is built straight through and checked once. */
struct mk {
	int rc;
};

/* Record rc (a constructor's result); the value it made, or NULL. The
 * constructor is called before this (a separate statement: the order in
 * which a call's arguments are evaluated is unspecified). */
static rms_value *mk_take(struct mk *m, int rc, rms_value *v)
{
	if (rc && !m->rc)
		m->rc = rc;
	return rc ? NULL : v;
}

static rms_value *mk_i32(struct mk *m, int32_t n)
{
	rms_value *v = NULL;
	if (m->rc)
		return NULL;
	int rc = rms_value_new_sint32(&v, n);
	return mk_take(m, rc, v);
}

static rms_value *mk_i64(struct mk *m, int64_t n)
{
	rms_value *v = NULL;
	if (m->rc)
		return NULL;
	int rc = rms_value_new_sint64(&v, n);
	return mk_take(m, rc, v);
}

static rms_value *mk_bool(struct mk *m, bool b)
{
	rms_value *v = NULL;
	if (m->rc)
		return NULL;
	int rc = rms_value_new_boolean(&v, b);
	return mk_take(m, rc, v);
}

static rms_value *mk_str(struct mk *m, const char *s)
{
	rms_value *v = NULL;
	if (m->rc)
		return NULL;
	int rc = rms_value_new_string(&v, s);
	return mk_take(m, rc, v);
}

static rms_value *mk_version(struct mk *m, const char *s)
{
	rms_value *v = NULL;
	if (m->rc)
		return NULL;
	int rc = rms_value_new_version(&v, s);
	return mk_take(m, rc, v);
}

static rms_value *mk_nil(struct mk *m)
{
	rms_value *v = NULL;
	if (m->rc)
		return NULL;
	int rc = rms_value_new_null(&v, RMS_TYPE_OBJECT);
	return mk_take(m, rc, v);
}

static rms_value *mk_copy(struct mk *m, const rms_value *src)
{
	rms_value *v = NULL;
	if (m->rc)
		return NULL;
	int rc = rms_value_dup(&v, src);
	return mk_take(m, rc, v);
}

/* An object value around a new psobject; *obj gets the psobject. */
static rms_value *mk_obj(struct mk *m, rms_psobject **obj)
{
	*obj = NULL;
	if (m->rc)
		return NULL;
	rms_psobject *o = NULL;
	rms_value *v = NULL;
	int rc = rms_psobject_new(&o);
	if (!rc && (rc = rms_value_new_object(&v, o)))
		rms_psobject_free(o);
	if (rc) {
		m->rc = rc;
		return NULL;
	}
	/* The value owns o now; o stays valid (and ours to fill) while the
	 * value lives. */
	*obj = o;
	return v;
}

/* Set an extended property, taking v (freed on failure). */
static void mk_set(struct mk *m, rms_psobject *o, const char *name, rms_value *v)
{
	if (m->rc || !o || !v) {
		rms_value_free(v);
		return;
	}
	int rc = rms_psobject_set(o, name, v, RMS_PS_PROP_EXTENDED);
	if (rc) {
		rms_value_free(v);
		m->rc = rc;
	}
}

static void mk_append(struct mk *m, rms_psobject *o, rms_value *v)
{
	if (m->rc || !o || !v) {
		rms_value_free(v);
		return;
	}
	int rc = rms_psobject_append(o, v);
	if (rc) {
		rms_value_free(v);
		m->rc = rc;
	}
}

static void mk_type_names(struct mk *m, rms_psobject *o, const char *const *names)
{
	for (; !m->rc && o && *names; names++)
		if ((m->rc = rms_psobject_add_type_name(o, *names)))
			return;
}

/* An enum value as PowerShell serializes one: its type names, its name as
 * ToString and its number. */
static rms_value *mk_enum(struct mk *m, const char *type, const char *to_string, int32_t n)
{
	rms_psobject *o;
	rms_value *v = mk_obj(m, &o);
	const char *names[] = { type, "System.Enum", "System.ValueType", "System.Object", NULL };
	mk_type_names(m, o, names);
	if (!m->rc)
		m->rc = rms_psobject_set_to_string(o, to_string);
	rms_value *base = mk_i32(m, n);
	if (!m->rc && (m->rc = rms_psobject_set_base(o, base)))
		rms_value_free(base);
	if (m->rc) {
		rms_value_free(v);
		return NULL;
	}
	return v;
}

/* A list object with the given type names. */
static rms_value *mk_list(struct mk *m, rms_psobject **o, const char *const *names)
{
	rms_value *v = mk_obj(m, o);
	mk_type_names(m, *o, names);
	if (!m->rc && (m->rc = rms_psobject_set_collection(*o, RMS_PS_COLLECTION_LIST)))
		*o = NULL;
	return v;
}

/* A null host (MS-PSRP 2.2.3.14): the server runs without a UI, so nothing
 * it runs can prompt a person. */
static rms_value *mk_null_host(struct mk *m)
{
	rms_psobject *o;
	rms_value *v = mk_obj(m, &o);
	mk_set(m, o, "_isHostNull", mk_bool(m, true));
	mk_set(m, o, "_isHostUINull", mk_bool(m, true));
	mk_set(m, o, "_isHostRawUINull", mk_bool(m, true));
	mk_set(m, o, "_useRunspaceHost", mk_bool(m, true));
	return v;
}

/* ---- the send queue ------------------------------------------------------------ */

void rms__psrp_send_clear(rms_psrp_send *s)
{
	if (!s)
		return;
	rms__buf_free(&s->data);
	memset(s, 0, sizeof *s);
}

static rms_psrp_send *push_send(rms_psrp_pool *p, rms_psrp_send_kind kind, const rms_guid *guid)
{
	if (p->shead && p->shead == p->nsends)
		p->shead = p->nsends = 0;
	if (rms__array_grow((void **)&p->sends, &p->scap, p->nsends + 1, sizeof *p->sends))
		return NULL;
	rms_psrp_send *s = &p->sends[p->nsends++];
	memset(s, 0, sizeof *s);
	s->kind = kind;
	s->guid = *guid;
	rms__buf_init(&s->data);
	return s;
}

/* The message (type, for pipeline pid or the pool) with v's CLIXML (NULL:
 * no data) as fragments appended to a DATA send for guid, or to the send
 * given. */
static int queue_message(rms_psrp_pool *p, rms_psrp_send *into, uint32_t type, const rms_guid *pid,
                         const rms_value *v, bool prompt_response)
{
	rms_buf xml, msg;
	rms__buf_init(&xml);
	rms__buf_init(&msg);
	int rc = v ? rms__clixml_encode(&xml, v) : 0;
	if (!rc)
		rc = rms__psrp_message_pack(&msg, RMS_PSRP_DEST_SERVER, type, &p->id, pid, xml.data,
		                            xml.len);
	rms__buf_free(&xml);
	if (!rc && !into) {
		/* Consecutive messages for the same stream travel together. */
		rms_psrp_send *last = p->nsends > p->shead ? &p->sends[p->nsends - 1] : NULL;
		if (last && last->kind == RMS_PSRP_SEND_DATA && rms__guid_equal(&last->guid, pid) &&
		    last->prompt_response == prompt_response)
			into = last;
		else if (!(into = push_send(p, RMS_PSRP_SEND_DATA, pid)))
			rc = RMS_E_NOMEM;
		else
			into->prompt_response = prompt_response;
	}
	if (!rc)
		rc = rms__psrp_fragment(&p->frag, &into->data, msg.data, msg.len, NULL);
	rms__buf_free(&msg);
	return rc;
}

int rms__psrp_pool_take(rms_psrp_pool *p, rms_psrp_send *out)
{
	if (p->shead >= p->nsends)
		return RMS_ITEROVER;
	*out = p->sends[p->shead];
	memset(&p->sends[p->shead], 0, sizeof p->sends[p->shead]);
	p->shead++;
	return 0;
}

bool rms__psrp_pool_has_sends(const rms_psrp_pool *p)
{
	return p->shead < p->nsends;
}

/* ---- the pool ----------------------------------------------------------------- */

static const rms_guid zero_guid;

int rms__psrp_pool_new(rms_psrp_pool **out, const rms_psrp_pool_config *cfg)
{
	*out = NULL;
	rms_psrp_pool *p = calloc(1, sizeof *p);
	if (!p)
		return rms__error_nomem();
	p->cfg = *cfg;
	if (p->cfg.min_runspaces <= 0)
		p->cfg.min_runspaces = 1;
	if (p->cfg.max_runspaces < p->cfg.min_runspaces)
		p->cfg.max_runspaces = p->cfg.min_runspaces;
	if (!p->cfg.protocol_version)
		p->cfg.protocol_version = "2.3";
	p->answer = -1;
	p->next_ci = 1;
	rms__psrp_fragmenter_init(&p->frag, cfg->max_fragment);
	int rc = rms__guid_random(&p->id);
	if (!rc)
		rc = rms__psrp_defrag_new(&p->defrag, cfg->max_object);
	if (rc) {
		rms__psrp_pool_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

static void pipeline_detach(rms_psrp_pipeline *pl);
static rms_psrp_pipeline *find_pipeline(rms_psrp_pool *p, const rms_guid *id);
static int pipeline_end(rms_psrp_pipeline *pl, rms_psrp_pipeline_state st, rms_value *record,
                        const char *message);

void rms__psrp_pool_free(rms_psrp_pool *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->npls; i++)
		p->pls[i]->pool = NULL;
	free(p->pls);
	for (size_t i = p->shead; i < p->nsends; i++)
		rms__psrp_send_clear(&p->sends[i]);
	free(p->sends);
	rms__psrp_defrag_free(p->defrag);
	free(p->reason);
	free(p->server_protocol);
	rms_value_free(p->private_data);
	free(p);
}

const rms_guid *rms__psrp_pool_id(const rms_psrp_pool *p) { return &p->id; }
rms_psrp_pool_state rms__psrp_pool_state(const rms_psrp_pool *p) { return p->state; }
const char *rms__psrp_pool_reason(const rms_psrp_pool *p) { return p->reason; }
const char *rms__psrp_pool_server_protocol(const rms_psrp_pool *p) { return p->server_protocol; }
const rms_value *rms__psrp_pool_private_data(const rms_psrp_pool *p) { return p->private_data; }

const char *rms__psrp_pool_state_name(rms_psrp_pool_state st)
{
	switch (st) {
	case RMS_PSRP_POOL_OPENING: return "Opening";
	case RMS_PSRP_POOL_OPENED: return "Opened";
	case RMS_PSRP_POOL_CLOSING: return "Closing";
	case RMS_PSRP_POOL_CLOSED: return "Closed";
	case RMS_PSRP_POOL_BROKEN: return "Broken";
	}
	return "unknown";
}

void rms__psrp_pool_set_max_fragment(rms_psrp_pool *p, size_t max_fragment)
{
	p->cfg.max_fragment = max_fragment;
	p->frag.max_fragment = max_fragment;
}

int rms__psrp_pool_open(rms_psrp_pool *p)
{
	if (p->open_queued)
		return 0;
	struct mk m = { 0 };
	rms_psobject *cap, *init;
	rms_value *vcap = mk_obj(&m, &cap);
	mk_set(&m, cap, "protocolversion", mk_version(&m, p->cfg.protocol_version));
	mk_set(&m, cap, "PSVersion", mk_version(&m, "2.0"));
	mk_set(&m, cap, "SerializationVersion", mk_version(&m, "1.1.0.1"));
	rms_value *vinit = mk_obj(&m, &init);
	mk_set(&m, init, "MinRunspaces", mk_i32(&m, p->cfg.min_runspaces));
	mk_set(&m, init, "MaxRunspaces", mk_i32(&m, p->cfg.max_runspaces));
	mk_set(&m, init, "PSThreadOptions",
	       mk_enum(&m, "System.Management.Automation.Runspaces.PSThreadOptions", "Default", 0));
	mk_set(&m, init, "ApartmentState",
	       mk_enum(&m, "System.Threading.ApartmentState", "Unknown", 2));
	mk_set(&m, init, "HostInfo", mk_null_host(&m));
	mk_set(&m, init, "ApplicationArguments", mk_nil(&m));
	int rc = m.rc;
	if (!rc)
		rc = queue_message(p, NULL, RMS_PSRP_SESSION_CAPABILITY, &zero_guid, vcap, false);
	if (!rc)
		rc = queue_message(p, NULL, RMS_PSRP_INIT_RUNSPACEPOOL, &zero_guid, vinit, false);
	rms_value_free(vcap);
	rms_value_free(vinit);
	if (rc)
		return rms_error_last() ? rc : rms__error_nomem();
	p->open_queued = true;
	return 0;
}

int rms__psrp_pool_connect(rms_psrp_pool *p, const rms_guid *id)
{
	if (p->open_queued)
		return 0;
	p->id = *id;
	struct mk m = { 0 };
	rms_psobject *cap, *con;
	rms_value *vcap = mk_obj(&m, &cap);
	mk_set(&m, cap, "protocolversion", mk_version(&m, p->cfg.protocol_version));
	mk_set(&m, cap, "PSVersion", mk_version(&m, "2.0"));
	mk_set(&m, cap, "SerializationVersion", mk_version(&m, "1.1.0.1"));
	/* MS-PSRP 2.2.2.29: an empty string is the default pool (1 and 1), as
	 * pypsrp sends it to Windows; other sizes as the optional properties. */
	rms_value *vcon = NULL;
	if (p->cfg.min_runspaces == 1 && p->cfg.max_runspaces == 1) {
		vcon = mk_str(&m, "");
	} else {
		vcon = mk_obj(&m, &con);
		mk_set(&m, con, "MinRunspaces", mk_i32(&m, p->cfg.min_runspaces));
		mk_set(&m, con, "MaxRunspaces", mk_i32(&m, p->cfg.max_runspaces));
	}
	int rc = m.rc;
	if (!rc)
		rc = queue_message(p, NULL, RMS_PSRP_SESSION_CAPABILITY, &zero_guid, vcap, false);
	if (!rc)
		rc = queue_message(p, NULL, RMS_PSRP_CONNECT_RUNSPACEPOOL, &zero_guid, vcon, false);
	rms_value_free(vcap);
	rms_value_free(vcon);
	if (rc)
		return rms_error_last() ? rc : rms__error_nomem();
	p->open_queued = true;
	p->connecting = true;
	return 0;
}

int rms__psrp_pool_max_runspaces(const rms_psrp_pool *p)
{
	return p->init_max;
}

bool rms__psrp_pool_protocol_at_least(const rms_psrp_pool *p, int major, int minor)
{
	int a = 0, b = 0;
	if (!p->server_protocol || sscanf(p->server_protocol, "%d.%d", &a, &b) < 1)
		return false;
	return a > major || (a == major && b >= minor);
}

static void fail_pipelines(rms_psrp_pool *p, const char *why);

int rms__psrp_pool_close(rms_psrp_pool *p)
{
	if (p->state == RMS_PSRP_POOL_CLOSED || p->state == RMS_PSRP_POOL_BROKEN)
		return 0;
	/* Pipelines still open are stopped and closed first: the server
	 * acknowledges the pool's close only when every command is closed. */
	for (size_t i = 0; i < p->npls; i++) {
		rms_psrp_pipeline *pl = p->pls[i];
		if (!pl->done && rms__psrp_pipeline_stop(pl))
			return rms__error_nomem();
		if (!pl->close_queued) {
			if (!push_send(p, RMS_PSRP_SEND_CLOSE_PIPELINE, &pl->id))
				return rms__error_nomem();
			pl->close_queued = true;
		}
	}
	if (!push_send(p, RMS_PSRP_SEND_CLOSE_POOL, &zero_guid))
		return rms__error_nomem();
	p->state = RMS_PSRP_POOL_CLOSING;
	return 0;
}

void rms__psrp_pool_closed(rms_psrp_pool *p)
{
	if (p->state != RMS_PSRP_POOL_BROKEN)
		p->state = RMS_PSRP_POOL_CLOSED;
	fail_pipelines(p, "the runspace pool was closed");
}

static void set_reason(rms_psrp_pool *p, const char *reason)
{
	if (p->reason)
		return;
	p->reason = strdup(reason ? reason : "the runspace pool broke");
}

void rms__psrp_pipeline_dropped(rms_psrp_pool *p, const rms_guid *id, const char *why)
{
	rms_psrp_pipeline *pl = find_pipeline(p, id);
	if (pl) {
		pipeline_end(pl, RMS_PSRP_PIPELINE_STOPPED, NULL, why);
		pl->close_queued = true; /* nothing of it reached the server */
	}
}

void rms__psrp_pipeline_ended_by_carrier(rms_psrp_pool *p, const rms_guid *id, const char *why)
{
	rms_psrp_pipeline *pl = find_pipeline(p, id);
	if (pl && !pl->done)
		pipeline_end(pl, RMS_PSRP_PIPELINE_FAILED, NULL, why);
}

void rms__psrp_pool_lost(rms_psrp_pool *p, const char *reason)
{
	if (p->state == RMS_PSRP_POOL_CLOSED)
		return;
	p->state = RMS_PSRP_POOL_BROKEN;
	set_reason(p, reason);
	fail_pipelines(p, p->reason);
}

static int set_runspaces(rms_psrp_pool *p, uint32_t type, const char *name, int n)
{
	if (p->state != RMS_PSRP_POOL_OPENED)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE,
		                      "the runspace pool is %s, not Opened",
		                      rms__psrp_pool_state_name(p->state));
	struct mk m = { 0 };
	rms_psobject *o;
	rms_value *v = mk_obj(&m, &o);
	int64_t ci = p->next_ci++;
	mk_set(&m, o, name, mk_i32(&m, n));
	mk_set(&m, o, "ci", mk_i64(&m, ci));
	int rc = m.rc ? m.rc : queue_message(p, NULL, type, &zero_guid, v, false);
	rms_value_free(v);
	if (rc)
		return rc;
	p->pending_ci = ci;
	p->answer = -1;
	return 0;
}

int rms__psrp_pool_set_max_runspaces(rms_psrp_pool *p, int n)
{
	return set_runspaces(p, RMS_PSRP_SET_MAX_RUNSPACES, "MaxRunspaces", n);
}

int rms__psrp_pool_set_min_runspaces(rms_psrp_pool *p, int n)
{
	return set_runspaces(p, RMS_PSRP_SET_MIN_RUNSPACES, "MinRunspaces", n);
}

int rms__psrp_pool_runspaces_answer(const rms_psrp_pool *p)
{
	return p->answer < 0 ? RMS_EAGAIN : p->answer;
}

/* ---- reading messages ------------------------------------------------------------ */

/* A property of a decoded message object (NULL when it has none). */
static const rms_value *prop(const rms_value *v, const char *name)
{
	const rms_psobject *o = NULL;
	if (!v || rms_value_get_object(v, &o) != 0 || !o)
		return NULL;
	return rms_psobject_get(o, name);
}

/* An integer property, through an enum object's base value too. */
static bool prop_int(const rms_value *v, const char *name, int64_t *out)
{
	const rms_value *x = prop(v, name);
	const rms_psobject *o = NULL;
	if (x && rms_value_get_object(x, &o) == 0 && o)
		x = rms_psobject_base(o);
	return x && rms_value_as_int64(x, out) == 0;
}

static int decode(rms_value **out, const rms_psrp_message *msg)
{
	char what[96];
	const char *name = rms__psrp_message_name(msg->type);
	snprintf(what, sizeof what, "a %s message", name ? name : "PSRP");
	if (!msg->len) {
		*out = NULL;
		return 0;
	}
	return rms__clixml_decode(out, msg->data, msg->len, NULL, what);
}

/* ---- pipelines: events -------------------------------------------------------------- */

void rms__psrp_event_clear(rms_psrp_event *ev)
{
	if (!ev)
		return;
	rms_value_free(ev->value);
	free(ev->message);
	memset(ev, 0, sizeof *ev);
}

static int push_event(rms_psrp_pipeline *pl, const rms_psrp_event *ev)
{
	struct pl_queue *q = &pl->q;
	if (q->head && q->head == q->n)
		q->head = q->n = 0;
	if (q->n == q->cap && q->head > q->cap / 2) {
		memmove(q->ev, q->ev + q->head, (q->n - q->head) * sizeof *q->ev);
		q->n -= q->head;
		q->head = 0;
	}
	if (rms__array_grow((void **)&q->ev, &q->cap, q->n + 1, sizeof *q->ev))
		return RMS_E_NOMEM;
	q->ev[q->n++] = *ev;
	return 0;
}

/* Queue the pipeline's end (once). message may be NULL. */
static int pipeline_end(rms_psrp_pipeline *pl, rms_psrp_pipeline_state st, rms_value *record,
                        const char *message)
{
	if (pl->done) {
		rms_value_free(record);
		return 0;
	}
	rms_psrp_event ev = { .stream = RMS_PS_ERROR, .value = record, .done = true, .state = st };
	if (message && !(ev.message = strdup(message))) {
		rms_value_free(record);
		return rms__error_nomem();
	}
	int rc = push_event(pl, &ev);
	if (rc) {
		rms__psrp_event_clear(&ev);
		return rms__error_nomem();
	}
	pl->done = true;
	pl->state = st;
	return 0;
}

static void fail_pipelines(rms_psrp_pool *p, const char *why)
{
	for (size_t i = 0; i < p->npls; i++)
		pipeline_end(p->pls[i], RMS_PSRP_PIPELINE_FAILED, NULL, why);
}

static rms_psrp_pipeline *find_pipeline(rms_psrp_pool *p, const rms_guid *id)
{
	for (size_t i = 0; i < p->npls; i++)
		if (rms__guid_equal(&p->pls[i]->id, id))
			return p->pls[i];
	return NULL;
}

/* An object that could not be decoded costs that object only: the
 * pipeline gets an error record saying so in its place. */
static int undecodable(rms_psrp_pipeline *pl, const char *what)
{
	const rms_error *e = rms_error_last();
	char *text = rms__asprintf("remsess could not decode %s: %s", what,
	                           e ? rms_error_message(e) : "malformed CLIXML");
	struct mk m = { 0 };
	rms_psobject *o;
	rms_value *v = mk_obj(&m, &o);
	const char *names[] = { "remsess.DecodeError", "System.Object", NULL };
	mk_type_names(&m, o, names);
	if (!text)
		m.rc = RMS_E_NOMEM;
	if (!m.rc)
		m.rc = rms_psobject_set_to_string(o, text);
	mk_set(&m, o, "Message", mk_str(&m, text ? text : ""));
	free(text);
	if (m.rc) {
		rms_value_free(v);
		return rms__error_nomem();
	}
	rms_psrp_event ev = { .stream = RMS_PS_ERROR, .value = v };
	if (push_event(pl, &ev)) {
		rms_value_free(v);
		return rms__error_nomem();
	}
	return 0;
}

/* A host call: one with call id -100 needs no answer; any other is
 * answered at once with an error, since nobody is there to answer it. */
static int host_call(rms_psrp_pool *p, const rms_guid *pid, const rms_value *call, bool pool_level)
{
	int64_t ci = 0;
	if (!prop_int(call, "ci", &ci))
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "a host call from the server has no call id (ci)");
	if (ci == HOST_CALL_NO_ANSWER)
		return 0;
	const rms_value *mi = prop(call, "mi");
	const char *method = NULL;
	const rms_psobject *mo = NULL;
	if (mi && rms_value_get_object(mi, &mo) == 0 && mo)
		method = rms_psobject_to_string(mo);
	char *text = rms__asprintf("The remote command called the host's %s, which needs a person "
	                           "to answer; this session (remsess) is not interactive.",
	                           method ? method : "method");
	struct mk m = { 0 };
	if (!text)
		m.rc = RMS_E_NOMEM;
	rms_psobject *r, *er, *ex;
	rms_value *vr = mk_obj(&m, &r);
	mk_set(&m, r, "ci", mk_i64(&m, ci));
	if (mi)
		mk_set(&m, r, "mi", mk_copy(&m, mi));
	rms_value *ver = mk_obj(&m, &er);
	const char *ern[] = { "System.Management.Automation.ErrorRecord", "System.Object", NULL };
	mk_type_names(&m, er, ern);
	if (!m.rc)
		m.rc = rms_psobject_set_to_string(er, text);
	rms_value *vex = mk_obj(&m, &ex);
	const char *exn[] = { "System.Management.Automation.PSInvalidOperationException",
		              "System.InvalidOperationException", "System.SystemException",
		              "System.Exception", "System.Object", NULL };
	mk_type_names(&m, ex, exn);
	if (!m.rc)
		m.rc = rms_psobject_set_to_string(ex, text);
	if (!m.rc && ex) {
		rms_value *msgv = mk_str(&m, text);
		if (msgv && (m.rc = rms_psobject_set(ex, "Message", msgv, RMS_PS_PROP_ADAPTED)))
			rms_value_free(msgv);
	}
	mk_set(&m, er, "Exception", vex);
	mk_set(&m, er, "TargetObject", mk_nil(&m));
	mk_set(&m, er, "FullyQualifiedErrorId", mk_str(&m, "HostFunctionNotImplemented"));
	mk_set(&m, er, "InvocationInfo", mk_nil(&m));
	mk_set(&m, er, "ErrorCategory_Category", mk_i32(&m, 11)); /* NotImplemented */
	mk_set(&m, er, "ErrorCategory_Activity", mk_str(&m, method ? method : ""));
	mk_set(&m, er, "ErrorCategory_Reason", mk_str(&m, "PSInvalidOperationException"));
	mk_set(&m, er, "ErrorCategory_TargetName", mk_str(&m, ""));
	mk_set(&m, er, "ErrorCategory_TargetType", mk_str(&m, ""));
	mk_set(&m, er, "ErrorCategory_Message", mk_str(&m, text));
	mk_set(&m, er, "SerializeExtendedInfo", mk_bool(&m, false));
	mk_set(&m, r, "me", ver);
	free(text);
	int rc = m.rc;
	if (!rc)
		rc = queue_message(p, NULL,
		                   pool_level ? RMS_PSRP_RUNSPACEPOOL_HOST_RESPONSE
		                              : RMS_PSRP_PIPELINE_HOST_RESPONSE,
		                   pid, vr, true);
	rms_value_free(vr);
	return rc;
}

static int pipeline_message(rms_psrp_pool *p, const rms_psrp_message *msg)
{
	rms_psrp_pipeline *pl = find_pipeline(p, &msg->pid);
	if (!pl)
		return 0; /* a pipeline the caller has freed */
	pl->received += msg->len;
	rms_ps_stream stream;
	switch (msg->type) {
	case RMS_PSRP_PIPELINE_OUTPUT: stream = RMS_PS_OUTPUT; break;
	case RMS_PSRP_ERROR_RECORD: stream = RMS_PS_ERROR; break;
	case RMS_PSRP_WARNING_RECORD: stream = RMS_PS_WARNING; break;
	case RMS_PSRP_VERBOSE_RECORD: stream = RMS_PS_VERBOSE; break;
	case RMS_PSRP_DEBUG_RECORD: stream = RMS_PS_DEBUG; break;
	case RMS_PSRP_INFORMATION_RECORD: stream = RMS_PS_INFORMATION; break;
	case RMS_PSRP_PROGRESS_RECORD: stream = RMS_PS_PROGRESS; break;
	case RMS_PSRP_PIPELINE_STATE: {
		rms_value *v = NULL;
		int rc = decode(&v, msg);
		int64_t st = 0;
		if (rc || !prop_int(v, "PipelineState", &st)) {
			rms_value_free(v);
			return rc ? rc
			          : rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                           "a PIPELINE_STATE message has no PipelineState");
		}
		if (st != RMS_PSRP_PIPELINE_COMPLETED && st != RMS_PSRP_PIPELINE_FAILED &&
		    st != RMS_PSRP_PIPELINE_STOPPED) {
			rms_value_free(v);
			return 0; /* Running, Stopping: not an end */
		}
		rms_value *rec = NULL;
		const rms_value *x = prop(v, "ExceptionAsErrorRecord");
		if (x && !rms_value_is_null(x) && rms_value_dup(&rec, x)) {
			rms_value_free(v);
			return rms__error_nomem();
		}
		rms_value_free(v);
		const char *why = rec ? rms_ps_record_message(rec) : NULL;
		if (st == RMS_PSRP_PIPELINE_FAILED && !why)
			why = "the pipeline failed (the server gave no reason)";
		if (st == RMS_PSRP_PIPELINE_STOPPED && !why)
			why = "the pipeline was stopped";
		rc = pipeline_end(pl, (rms_psrp_pipeline_state)st, rec, why);
		/* Done with on the server too, as PowerShell's client closes a
		 * pipeline when its end arrives (the server's pool close waits
		 * for every command to be closed). */
		if (!rc && !pl->close_queued) {
			if (!push_send(p, RMS_PSRP_SEND_CLOSE_PIPELINE, &pl->id))
				return rms__error_nomem();
			pl->close_queued = true;
		}
		return rc;
	}
	case RMS_PSRP_PIPELINE_HOST_CALL: {
		rms_value *v = NULL;
		int rc = decode(&v, msg);
		if (!rc)
			rc = host_call(p, &pl->id, v, false);
		rms_value_free(v);
		return rc;
	}
	default:
		/* Known types that have no business on a pipeline are ignored
		 * as PowerShell's client does with what it does not expect. */
		return 0;
	}
	rms_value *v = NULL;
	if (decode(&v, msg)) {
		char what[64];
		snprintf(what, sizeof what, "an object on the %s stream", rms_ps_stream_name(stream));
		return undecodable(pl, what);
	}
	if (!v && rms_value_new_null(&v, RMS_TYPE_OBJECT))
		return rms__error_nomem();
	rms_psrp_event ev = { .stream = stream, .value = v };
	if (push_event(pl, &ev)) {
		rms_value_free(v);
		return rms__error_nomem();
	}
	return 0;
}

static int pool_state_message(rms_psrp_pool *p, const rms_value *v)
{
	int64_t st;
	if (!prop_int(v, "RunspaceState", &st))
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "a RUNSPACEPOOL_STATE message has no RunspaceState");
	switch (st) {
	case RS_OPENED:
		if (p->state == RMS_PSRP_POOL_OPENING)
			p->state = RMS_PSRP_POOL_OPENED;
		break;
	case RS_CLOSING:
		if (p->state == RMS_PSRP_POOL_OPENED || p->state == RMS_PSRP_POOL_OPENING)
			p->state = RMS_PSRP_POOL_CLOSING;
		break;
	case RS_CLOSED:
		rms__psrp_pool_closed(p);
		break;
	case RS_BROKEN: {
		const rms_value *rec = prop(v, "ExceptionAsErrorRecord");
		const char *why = rms_ps_record_message(rec);
		char *text = rms__asprintf("the runspace pool on the remote computer broke: %s",
		                           why ? why : "no reason given");
		rms__psrp_pool_lost(p, text ? text : "the runspace pool broke");
		free(text);
		break;
	}
	default:
		break;
	}
	return 0;
}

static int pool_message(rms_psrp_pool *p, const rms_psrp_message *msg)
{
	rms_value *v = NULL;
	int rc;
	switch (msg->type) {
	case RMS_PSRP_SESSION_CAPABILITY:
	case RMS_PSRP_APPLICATION_PRIVATE_DATA:
	case RMS_PSRP_RUNSPACEPOOL_STATE:
	case RMS_PSRP_RUNSPACE_AVAILABILITY:
	case RMS_PSRP_RUNSPACEPOOL_HOST_CALL:
	case RMS_PSRP_RUNSPACEPOOL_INIT_DATA:
		if ((rc = decode(&v, msg)))
			return rc;
		break;
	case RMS_PSRP_PUBLIC_KEY_REQUEST:
		fail_pipelines(p, "the remote computer asked for a session key to send a "
		                  "SecureString; remsess does not exchange session keys "
		                  "(see docs/pssession.md)");
		return 0;
	default:
		return 0; /* USER_EVENT and the like: nothing for a client without events */
	}
	rc = 0;
	switch (msg->type) {
	case RMS_PSRP_SESSION_CAPABILITY: {
		const rms_value *x = prop(v, "protocolversion");
		const char *t = NULL;
		if (!x || rms_value_get_text(x, &t) != 0 || !t)
			rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                    "the server's SESSION_CAPABILITY has no protocolversion");
		else {
			free(p->server_protocol);
			if (!(p->server_protocol = strdup(t)))
				rc = rms__error_nomem();
		}
		break;
	}
	case RMS_PSRP_RUNSPACEPOOL_INIT_DATA: {
		/* The answer to CONNECT_RUNSPACEPOOL (MS-PSRP 2.2.2.32): the pool is
		 * there, with these runspaces. */
		int64_t n = 0;
		if (!prop_int(v, "MaxRunspaces", &n))
			rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                    "the server's RUNSPACEPOOL_INIT_DATA has no MaxRunspaces");
		else if (n < 1 || n > INT32_MAX) /* an I32 of at least 1 (MS-PSRP 2.2.2.32) */
			rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                    "the server's RUNSPACEPOOL_INIT_DATA has MaxRunspaces %lld "
			                    "(expected 1 to %d)",
			                    (long long)n, INT32_MAX);
		else {
			p->init_max = (int)n;
			if (p->connecting && p->state == RMS_PSRP_POOL_OPENING)
				p->state = RMS_PSRP_POOL_OPENED;
		}
		break;
	}
	case RMS_PSRP_APPLICATION_PRIVATE_DATA:
		rms_value_free(p->private_data);
		p->private_data = v;
		v = NULL;
		break;
	case RMS_PSRP_RUNSPACEPOOL_STATE:
		rc = pool_state_message(p, v);
		break;
	case RMS_PSRP_RUNSPACE_AVAILABILITY: {
		int64_t ci = 0;
		const rms_value *x = prop(v, "SetMinMaxRunspacesResponse");
		bool yes = false;
		if (prop_int(v, "ci", &ci) && ci == p->pending_ci && x &&
		    rms_value_get_boolean(x, &yes) == 0)
			p->answer = yes ? 1 : 0;
		break;
	}
	case RMS_PSRP_RUNSPACEPOOL_HOST_CALL:
		rc = host_call(p, &zero_guid, v, true);
		break;
	}
	rms_value_free(v);
	return rc;
}

static int handle(rms_psrp_pool *p, const rms_psrp_message *msg)
{
	if (msg->destination != RMS_PSRP_DEST_CLIENT)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "the server sent a %s message addressed to the server",
		                      rms__psrp_message_name(msg->type));
	if (!rms__guid_is_zero(&msg->pid))
		return pipeline_message(p, msg);
	return pool_message(p, msg);
}

int rms__psrp_pool_feed(rms_psrp_pool *p, const void *data, size_t len)
{
	if (p->state == RMS_PSRP_POOL_BROKEN)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE, "the runspace pool is Broken: %s",
		                      p->reason ? p->reason : "");
	int rc = rms__psrp_defrag_feed(p->defrag, data, len);
	unsigned char *m = NULL;
	size_t mlen = 0;
	while (rc == 0 && (rc = rms__psrp_defrag_next(p->defrag, &m, &mlen)) == 0) {
		rms_psrp_message msg;
		rc = rms__psrp_message_unpack(&msg, m, mlen);
		if (!rc)
			rc = handle(p, &msg);
		free(m);
	}
	if (rc == RMS_ITEROVER)
		return 0;
	/* The stream cannot be trusted after this: every pipeline fails. */
	const rms_error *e = rms_error_last();
	char *why = rms__asprintf("the server's PowerShell remoting data could not be read: %s",
	                          e ? rms_error_message(e) : "malformed");
	struct rms_error *keep = rms__error_park();
	rms__psrp_pool_lost(p, why ? why : "malformed data from the server");
	rms__error_unpark(keep);
	free(why);
	return rc;
}

/* ---- pipelines ---------------------------------------------------------------------- */

static const char *const list_of_psobject[] = {
	"System.Collections.Generic.List`1[[System.Management.Automation.PSObject, "
	"System.Management.Automation, Version=3.0.0.0, Culture=neutral, "
	"PublicKeyToken=31bf3856ad364e35]]",
	"System.Object", NULL
};

#define RESULT_TYPES "System.Management.Automation.Runspaces.PipelineResultTypes"

static rms_value *mk_command(struct mk *m, const rms_psrp_command *c)
{
	rms_psobject *o, *args;
	rms_value *v = mk_obj(m, &o);
	mk_set(m, o, "Cmd", mk_str(m, c->text));
	mk_set(m, o, "IsScript", mk_bool(m, c->is_script));
	mk_set(m, o, "UseLocalScope", c->use_local_scope ? mk_bool(m, true) : mk_nil(m));
	/* 2>&1: the legacy pair and, for protocol 2.2 and later, MergeError. */
	mk_set(m, o, "MergeMyResult",
	       c->merge_errors ? mk_enum(m, RESULT_TYPES, "Error", 2) : mk_enum(m, RESULT_TYPES, "None", 0));
	mk_set(m, o, "MergeToResult",
	       c->merge_errors ? mk_enum(m, RESULT_TYPES, "Output", 1) : mk_enum(m, RESULT_TYPES, "None", 0));
	mk_set(m, o, "MergePreviousResults", mk_enum(m, RESULT_TYPES, "None", 0));
	mk_set(m, o, "MergeError",
	       c->merge_errors ? mk_enum(m, RESULT_TYPES, "Output", 1) : mk_enum(m, RESULT_TYPES, "None", 0));
	static const char *const others[] = { "MergeWarning", "MergeVerbose", "MergeDebug",
		                              "MergeInformation" };
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
		mk_set(m, o, others[i], mk_enum(m, RESULT_TYPES, "None", 0));
	rms_value *vargs = mk_list(m, &args, list_of_psobject);
	for (size_t i = 0; i < c->nparams; i++) {
		const rms_psrp_param *pa = &c->params[i];
		rms_psobject *a;
		rms_value *va = mk_obj(m, &a);
		mk_set(m, a, "N", pa->name ? mk_str(m, pa->name) : mk_nil(m));
		/* A switch is the parameter with the value true, as
		 * PowerShell's AddParameter(name) sends it. */
		mk_set(m, a, "V", pa->value ? mk_copy(m, pa->value) : mk_bool(m, true));
		mk_append(m, args, va);
	}
	mk_set(m, o, "Args", vargs);
	return v;
}

static rms_value *mk_create_pipeline(struct mk *m, const rms_psrp_pipeline_spec *spec)
{
	rms_psobject *o, *ps, *cmds;
	rms_value *v = mk_obj(m, &o);
	rms_value *vps = mk_obj(m, &ps);
	rms_value *vcmds = mk_list(m, &cmds, list_of_psobject);
	for (size_t i = 0; i < spec->ncommands; i++)
		mk_append(m, cmds, mk_command(m, &spec->commands[i]));
	mk_set(m, ps, "Cmds", vcmds);
	mk_set(m, ps, "IsNested", mk_bool(m, false));
	mk_set(m, ps, "History", mk_nil(m));
	mk_set(m, ps, "RedirectShellErrorOutputPipe", mk_bool(m, true));
	mk_set(m, o, "PowerShell", vps);
	mk_set(m, o, "NoInput", mk_bool(m, !spec->has_input));
	mk_set(m, o, "ApartmentState", mk_enum(m, "System.Threading.ApartmentState", "Unknown", 2));
	mk_set(m, o, "RemoteStreamOptions",
	       mk_enum(m, "System.Management.Automation.RemoteStreamOptions", "0", 0));
	mk_set(m, o, "AddToHistory", mk_bool(m, false));
	mk_set(m, o, "HostInfo", mk_null_host(m));
	mk_set(m, o, "IsNested", mk_bool(m, false));
	return v;
}

int rms__psrp_pipeline_new(rms_psrp_pipeline **out, rms_psrp_pool *p,
                           const rms_psrp_pipeline_spec *spec)
{
	*out = NULL;
	if (p->state != RMS_PSRP_POOL_OPENED)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE,
		                      "the runspace pool is %s, not Opened%s%s",
		                      rms__psrp_pool_state_name(p->state), p->reason ? ": " : "",
		                      p->reason ? p->reason : "");
	if (!spec->ncommands)
		return rms__error_field(RMS_E_INVALID_ARG, "pipeline", "a pipeline needs a command");
	rms_psrp_pipeline *pl = calloc(1, sizeof *pl);
	if (!pl)
		return rms__error_nomem();
	pl->pool = p;
	pl->state = RMS_PSRP_PIPELINE_RUNNING;
	pl->has_input = spec->has_input;
	int rc = rms__guid_random(&pl->id);
	struct mk m = { 0 };
	rms_value *v = rc ? NULL : mk_create_pipeline(&m, spec);
	if (!rc)
		rc = m.rc;
	rms_psrp_send *s = NULL;
	if (!rc && !(s = push_send(p, RMS_PSRP_SEND_CREATE, &pl->id)))
		rc = RMS_E_NOMEM;
	if (!rc)
		rc = queue_message(p, s, RMS_PSRP_CREATE_PIPELINE, &pl->id, v, false);
	rms_value_free(v);
	if (!rc)
		rc = rms__array_grow((void **)&p->pls, &p->plcap, p->npls + 1, sizeof *p->pls);
	if (rc) {
		if (s) {
			/* Take the half-made create back off the queue. */
			rms__psrp_send_clear(&p->sends[--p->nsends]);
		}
		free(pl);
		return rms_error_last() ? rc : rms__error_nomem();
	}
	p->pls[p->npls++] = pl;
	*out = pl;
	return 0;
}

int rms__psrp_pipeline_attach(rms_psrp_pipeline **out, rms_psrp_pool *p, const rms_guid *id)
{
	*out = NULL;
	if (p->state != RMS_PSRP_POOL_OPENED)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE,
		                      "the runspace pool is %s, not Opened",
		                      rms__psrp_pool_state_name(p->state));
	if (find_pipeline(p, id))
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE,
		                      "the pipeline is read by another operation of this session");
	rms_psrp_pipeline *pl = calloc(1, sizeof *pl);
	if (!pl)
		return rms__error_nomem();
	pl->pool = p;
	pl->id = *id;
	pl->state = RMS_PSRP_PIPELINE_RUNNING;
	if (rms__array_grow((void **)&p->pls, &p->plcap, p->npls + 1, sizeof *p->pls) ||
	    !push_send(p, RMS_PSRP_SEND_ATTACH, id)) {
		free(pl);
		return rms__error_nomem();
	}
	p->pls[p->npls++] = pl;
	*out = pl;
	return 0;
}

static void pipeline_detach(rms_psrp_pipeline *pl)
{
	rms_psrp_pool *p = pl->pool;
	if (!p)
		return;
	for (size_t i = 0; i < p->npls; i++) {
		if (p->pls[i] == pl) {
			p->pls[i] = p->pls[--p->npls];
			break;
		}
	}
	pl->pool = NULL;
}

void rms__psrp_pipeline_free(rms_psrp_pipeline *pl)
{
	if (!pl)
		return;
	rms_psrp_pool *p = pl->pool;
	if (p && (p->state == RMS_PSRP_POOL_OPENED || p->state == RMS_PSRP_POOL_OPENING)) {
		if (!pl->done && !pl->stop_queued)
			rms__psrp_pipeline_stop(pl);
		if (!pl->close_queued && push_send(p, RMS_PSRP_SEND_CLOSE_PIPELINE, &pl->id))
			pl->close_queued = true;
	}
	pipeline_detach(pl);
	for (size_t i = pl->q.head; i < pl->q.n; i++)
		rms__psrp_event_clear(&pl->q.ev[i]);
	free(pl->q.ev);
	free(pl);
}

const rms_guid *rms__psrp_pipeline_id(const rms_psrp_pipeline *pl) { return &pl->id; }
uint64_t rms__psrp_pipeline_received(const rms_psrp_pipeline *pl) { return pl->received; }
bool rms__psrp_pipeline_done(const rms_psrp_pipeline *pl) { return pl->done; }

bool rms__psrp_pipeline_has_event(const rms_psrp_pipeline *pl)
{
	return pl->q.head < pl->q.n || (!pl->done_given && !pl->pool);
}

static int pipeline_usable(const rms_psrp_pipeline *pl, const char *what)
{
	if (!pl->pool)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE,
		                      "cannot %s: the runspace pool is gone", what);
	if (pl->done)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE,
		                      "cannot %s: the pipeline has ended", what);
	return 0;
}

int rms__psrp_pipeline_input(rms_psrp_pipeline *pl, const rms_value *v)
{
	int rc = pipeline_usable(pl, "send input");
	if (rc)
		return rc;
	if (!pl->has_input || pl->input_ended)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE,
		                      pl->has_input ? "the pipeline's input has ended"
		                                    : "the pipeline was created without input");
	return queue_message(pl->pool, NULL, RMS_PSRP_PIPELINE_INPUT, &pl->id, v, false);
}

int rms__psrp_pipeline_input_end(rms_psrp_pipeline *pl)
{
	int rc = pipeline_usable(pl, "end the input");
	if (rc)
		return rc;
	if (!pl->has_input || pl->input_ended)
		return 0;
	if ((rc = queue_message(pl->pool, NULL, RMS_PSRP_END_OF_PIPELINE_INPUT, &pl->id, NULL,
	                        false)))
		return rc;
	pl->input_ended = true;
	return 0;
}

int rms__psrp_pipeline_stop(rms_psrp_pipeline *pl)
{
	if (!pl->pool || pl->done || pl->stop_queued)
		return 0;
	if (!push_send(pl->pool, RMS_PSRP_SEND_STOP, &pl->id))
		return RMS_E_NOMEM;
	pl->stop_queued = true;
	pl->state = RMS_PSRP_PIPELINE_STOPPING;
	return 0;
}

int rms__psrp_pipeline_next(rms_psrp_pipeline *pl, rms_psrp_event *ev)
{
	memset(ev, 0, sizeof *ev);
	struct pl_queue *q = &pl->q;
	if (q->head < q->n) {
		*ev = q->ev[q->head];
		memset(&q->ev[q->head], 0, sizeof q->ev[q->head]);
		q->head++;
		if (ev->done)
			pl->done_given = true;
		return 0;
	}
	if (pl->done_given)
		return RMS_ITEROVER;
	if (!pl->pool)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE,
		                      "the runspace pool of this pipeline is gone");
	return RMS_EAGAIN;
}
