/*
 * The CIM backend (New-CimSession semantics).
 *
 * Creating a session opens nothing. Each operation makes its own
 * WS-Management client, which connects on its first request; a streaming
 * operation keeps that one connection across its Pulls, and every
 * operation closes its connection when it finishes (or is freed), so no
 * connection outlives an operation. The requests are built here, on the
 * client, and go straight to the remote CIM provider: the target needs no
 * PowerShell.
 *
 * Classes are addressed the way the Windows MI client (PowerShell's CIM
 * cmdlets) addresses them: the DMTF resource URI with a __cimnamespace
 * selector; queries use the WMI "any class" URI of the namespace.
 *
 * No MaximumReceived* caps apply here: an enumeration of any size streams,
 * one envelope at a time. Each single envelope still respects
 * MaxEnvelopeSize (wsman.c refuses to send a larger one).
 *
 * An operation is a state machine (the engine contract, core/api/
 * backend.h) with at most one WS-Man exchange in flight: start builds and
 * begins the first request, step advances the exchange and decides what
 * comes next, next hands out what step decoded. Class schemas, which type
 * the properties of what the server sends, are exchanges of the same
 * machine: an element whose class (or an embedded instance's class) has no
 * schema in the session yet is held undecoded while GetClass runs on the
 * operation's connection, and decoded once it has answered.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cim_class.h"
#include "defaults.h"
#include "fault.h"
#include "value_internal.h"
#include "wsman.h"
#include "wsman_ops.h"

#define ANY_CLASS_DMTF "http://schemas.dmtf.org/wbem/wscim/1/*"

/* A server answering Pull after Pull with no items and no end would keep
 * the client pulling forever; this many in a row is a protocol error. */
#define MAX_EMPTY_PAGES 100

/* Internal results, positive so they are never taken for failures. */
#define NEED_SCHEMA 1 /* an element waits for the schema named in need_class */
#define BEGAN 2       /* an exchange was begun: advance it */

/* What the exchange in flight is for. */
enum exchange {
	EX_NONE,
	EX_MAIN,     /* the single-result request (or the op's own GetClass) */
	EX_PAGE,     /* an Enumerate or a Pull */
	EX_SCHEMA,   /* GetClass of need_class, to type what is held */
	EX_IDENTIFY, /* WS-Identify */
};

struct cim_op {
	rms_wsman *w;        /* NULL once the operation's connection is gone */
	char *ns;            /* effective namespace, '/' separated */
	char *uri;           /* the enumeration's resource URI, for Pull and Release */
	/* Send the __cimnamespace selector with the enumeration's requests: the
	 * DMTF form needs it, and so does a WQL query on a WMI "any class" URI
	 * for OMI, which takes the namespace only from the selector (Windows
	 * reads the same namespace from either). */
	bool dmtf;
	bool stream;         /* an enumeration (items through next) */
	enum exchange pending;
	/* The answer being read: a page (in_page) or a single-result answer
	 * (have_answer). held is an element of it still to decode, borrowed
	 * from the reader: valid as long as the reader is not advanced, which
	 * nothing does while a schema is fetched. */
	rms_wsman_reply reply;
	bool have_answer;
	const xmlNode *held;
	char *need_class;    /* the schema the held element waits for */
	rms_enum_page page;
	bool in_page;
	rms_instance *ready; /* decoded, not yet taken by next: at most one */
	/* An item that did not decode, not yet reported by next (as ready). */
	rms_error *skipped;
	uint64_t items;      /* items of the enumeration read so far */
	char *context;       /* for the next Pull / the Release */
	bool end;            /* EndOfSequence seen */
	uint32_t max_elements;
	unsigned empty_pages; /* Pull answers in a row with no items */
	unsigned page_items;  /* items read from the current page */
	uint64_t deadline;   /* rms__now_ms() by which the operation must end; 0: none */
	int failed;          /* the code the op failed with; 0: not failed */
	rms_error *error;    /* that failure, to repeat */
};

/* Class schemas fetched in this session, by class name (case-insensitive);
 * cls NULL records that the server would not give it. */
struct schema_entry {
	char *name;
	rms_cim_class *cls;
};

struct cim_session {
	struct schema_entry *schemas;
	size_t nschemas;
	rms_wsman *opening; /* the test connection's client while open runs */
};

static bool streams(rms_op_kind k)
{
	return k == RMS_OP_ENUMERATE || k == RMS_OP_QUERY || k == RMS_OP_ASSOCIATORS ||
	       k == RMS_OP_REFERENCES;
}

static int time_limit_passed(const rms_op *op)
{
	rms__error_set(RMS_E_TIMEOUT, RMS_PHASE_LIMIT,
	               "the %s operation's time limit of %u ms passed after %llu instances",
	               rms_op_kind_name(op->req->kind), op->req->timeout_ms,
	               (unsigned long long)op->delivered);
	rms__error_set_limit("timeout_ms", op->req->timeout_ms, op->req->timeout_ms);
	return RMS_E_TIMEOUT;
}

/* Before each request of an operation with a time limit: fail when it has
 * passed, else cap the request's HTTP wait at what is left. */
static int check_deadline(rms_op *op, struct cim_op *c)
{
	if (!c->deadline)
		return 0;
	uint64_t now = rms__now_ms();
	if (now >= c->deadline)
		return time_limit_passed(op);
	rms__wsman_set_deadline(c->w, (uint32_t)(c->deadline - now));
	return 0;
}

static bool cim_supports(const rms_session_options *o, rms_op_kind kind)
{
	(void)o;
	/* Everything a CIM provider serves; commands need a remote shell. */
	return kind != RMS_OP_RUN;
}

static int client(rms_wsman **out, rms_session *s, atomic_bool *cancel)
{
	return rms__wsman_new(out, &s->opts, &s->stats, &s->log, cancel, s->gss_cred);
}

static struct cim_session *session_priv(rms_session *s)
{
	if (!s->priv)
		s->priv = calloc(1, sizeof(struct cim_session));
	return s->priv;
}

/* WS-Identify on w (its envelope has no headers, so it has its own start);
 * the identify operation and open's test connection both go through here. */
static int identify_step(rms_wsman *w, rms_wait *wait, rms_instance **out)
{
	rms_wsman_reply reply;
	int rc = rms__wsman_step(w, wait, &reply);
	if (rc)
		return rc;
	rc = rms__wsman_identify_decode(w, &reply, out);
	rms__wsman_reply_free(&reply);
	return rc;
}

static int cim_open(rms_session *s)
{
	if (!s->opts.cim.test_connection) {
		/* Deliberately no connection: a CIM session holds none. */
		rms__log(&s->log, RMS_LOG_DEBUG, "%s: lazy CIM session, no connection opened",
		         s->name);
		return 0;
	}
	/* As New-CimSession does without -SkipTestConnection: one Identify
	 * proves the endpoint and the credentials, on a connection of its
	 * own that is closed again (open_step). */
	struct cim_session *cs = session_priv(s);
	if (!cs)
		return rms__error_nomem();
	int rc = client(&cs->opening, s, NULL);
	if (!rc && (rc = rms__wsman_identify_start(cs->opening, false))) {
		/* A failed open leaves nothing begun (the session may live on,
		 * broken, in an engine). */
		rms__wsman_free(cs->opening);
		cs->opening = NULL;
	}
	return rc ? rc : RMS_EAGAIN;
}

static int cim_open_step(rms_session *s, rms_wait *w)
{
	struct cim_session *cs = s->priv;
	rms_instance *id = NULL;
	int rc = identify_step(cs->opening, w, &id);
	if (rc == RMS_EAGAIN)
		return rc;
	rms_instance_free(id);
	rms__wsman_free(cs->opening);
	cs->opening = NULL;
	if (rc == 0)
		rms__log(&s->log, RMS_LOG_INFO, "%s: test connection to %s succeeded", s->name,
		         s->endpoint);
	return rc;
}

static int cim_close(rms_session *s)
{
	(void)s;
	return 0;
}

static void cim_destroy(rms_session *s)
{
	struct cim_session *cs = s->priv;
	if (!cs)
		return;
	for (size_t i = 0; i < cs->nschemas; i++) {
		free(cs->schemas[i].name);
		rms_cim_class_free(cs->schemas[i].cls);
	}
	free(cs->schemas);
	rms__wsman_free(cs->opening);
	free(cs);
	s->priv = NULL;
}

/* ---- class schemas ----------------------------------------------------- */

static int begin(rms_op *op, struct cim_op *c, const rms_wsman_request *req, enum exchange what);

/* Begin GetClass as the Windows MI client sends it (facts.md §1.6). */
static int begin_get_class(rms_op *op, struct cim_op *c, const char *class_name,
                           enum exchange what)
{
	rms_ref *sel;
	int rc = rms_ref_new(&sel, NULL, NULL);
	if (rc)
		return rc;
	static const rms_wsman_option opts[] = {
		{ .name = "IncludeInheritanceHierarchy", .value = "true", .type = "xs:boolean" },
		{ .name = "IncludeInheritedElements", .value = "true", .type = "xs:boolean" },
		{ .name = "IncludeQualifiers", .value = "true", .type = "xs:boolean" },
	};
	rms_wsman_request req = { .action = RMS_ACTION_GET, .resource_uri = RMS_URI_CIMXML_ANY,
		                  .selectors = sel, .cim_namespace = c->ns, .options = opts,
		                  .noptions = sizeof opts / sizeof opts[0] };
	if (!(rc = rms_ref_add_selector(sel, "ClassName", class_name)))
		rc = begin(op, c, &req, what);
	rms_ref_free(sel);
	return rc;
}

/* CIM status INVALID_NAMESPACE and INVALID_CLASS (DSP0004). */
#define CIM_ERR_INVALID_NAMESPACE 3
#define CIM_ERR_INVALID_CLASS 5

/* The outcome of a GetClass exchange (rc, and the reply when rc is 0,
 * which this frees). A server that does not offer class retrieval gets
 * RMS_E_UNSUPPORTED. A fault that carries CIM status INVALID_NAMESPACE or
 * INVALID_CLASS answered the request: the namespace or the class does not
 * exist, and it stays the fault it is. OMI says both with
 * a:DestinationUnreachable (omi.md, Faults), the subcode a server without
 * the schema resource may also give. */
static int class_answer(int rc, rms_wsman_reply *reply, const char *class_name,
                        rms_cim_class **out)
{
	int status = rc == RMS_E_FAULT ? rms_error_cim_status(rms_error_last()) : 0;
	if (rc == RMS_E_FAULT && status != CIM_ERR_INVALID_NAMESPACE &&
	    status != CIM_ERR_INVALID_CLASS) {
		const char *sub = rms_error_fault_subcode(rms_error_last());
		if (sub && (strcmp(sub, "w:UnsupportedFeature") == 0 ||
		            strcmp(sub, "a:ActionNotSupported") == 0 ||
		            strcmp(sub, "a:DestinationUnreachable") == 0)) {
			struct rms_error *e = rms__error_last_mut();
			char *msg = rms__asprintf("class schemas (GetClass) are not supported by this "
			                          "server: %s",
			                          e->message);
			if (msg) {
				free(e->message);
				e->message = msg;
			}
			e->code = rc = RMS_E_UNSUPPORTED;
		}
	}
	if (rc)
		return rc;
	xmlNode *el;
	rc = rms__soap_reader_next(reply->reader, &el);
	if (rc == RMS_ITEROVER)
		rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                    "the GetClass answer for %s is empty", class_name);
	else if (!rc)
		rc = rms__decode_class(out, el);
	rms__wsman_reply_free(reply);
	return rc;
}

/* Record the session's schema of a class (cls owned; NULL: none). */
static int schema_remember(rms_session *s, const char *class_name, rms_cim_class *cls)
{
	struct cim_session *cs = session_priv(s);
	struct schema_entry *grown =
		cs ? realloc(cs->schemas, (cs->nschemas + 1) * sizeof *grown) : NULL;
	char *name = strdup(class_name);
	if (grown)
		cs->schemas = grown;
	if (!grown || !name) {
		free(name);
		rms_cim_class_free(cls);
		return rms__error_nomem();
	}
	cs->schemas[cs->nschemas++] = (struct schema_entry){ name, cls };
	return 0;
}

/* What typing an element needs: the session's schemas, and where to say
 * which class's schema is missing. */
struct typing {
	rms_session *s;
	const char *ns;
	char **need;
};

/* 0 with *cls the session's schema of class_name (NULL when there is none
 * to type by: no_schema, no class, or the server would not give it), or
 * NEED_SCHEMA with *t->need naming the class to fetch first. */
static int schema_lookup(const struct typing *t, const char *class_name,
                         const rms_cim_class **cls)
{
	*cls = NULL;
	if (t->s->opts.cim.no_schema || !class_name)
		return 0;
	struct cim_session *cs = t->s->priv;
	for (size_t i = 0; cs && i < cs->nschemas; i++)
		if (rms__streq_nocase(cs->schemas[i].name, class_name)) {
			*cls = cs->schemas[i].cls;
			return 0;
		}
	free(*t->need);
	if (!(*t->need = strdup(class_name)))
		return rms__error_nomem();
	return NEED_SCHEMA;
}

/* rms_wscim_type_fn over a class schema. */
static int schema_type(const char *property, void *userdata)
{
	const rms_cim_class *cls = userdata;
	for (size_t i = 0; i < rms_cim_class_property_count(cls); i++) {
		const char *name;
		rms_type t;
		rms_cim_class_property_at(cls, i, &name, &t, NULL);
		if (rms__streq_nocase(name, property))
			return (int)t;
	}
	return -1;
}

static int type_instance(const struct typing *t, rms_instance *inst, int depth);

/* A value decoded by shape as the schema's type t: texts converted (in
 * their wire forms, as the top level's are: OMI's char16 is its decimal
 * code unit), a lone element of an array property made an array. NULL in
 * *out (and 0) when nothing needs to change or the shape cannot be retyped
 * from text (references and embedded instances come typed by their
 * shape). */
static int retype_value(rms_value **out, const rms_value *v, rms_type t, const char *prop)
{
	rms_type st = RMS_TYPE_SCALAR(t);
	bool from_text = st != RMS_TYPE_STRING && st != RMS_TYPE_REFERENCE && st != RMS_TYPE_INSTANCE;
	int rc = 0;
	*out = NULL;
	if (v->is_null)
		return v->type == t ? 0 : rms_value_new_null(out, t);
	if (!(t & RMS_TYPE_ARRAY)) {
		if (v->type == RMS_TYPE_STRING && from_text)
			rc = rms__value_from_wire_text(out, st, v->u.s);
	} else if (!(v->type & RMS_TYPE_ARRAY)) {
		/* One element: WS-Man cannot tell it from a scalar. */
		rms_value *e = NULL;
		if (v->type == RMS_TYPE_STRING && from_text)
			rc = rms__value_from_wire_text(&e, st, v->u.s);
		else if (v->type == st)
			rc = rms_value_dup(&e, v);
		else
			return 0;
		if (!rc && !(rc = rms_value_new_array(out, st)) &&
		    !(rc = rms_value_array_append(*out, e)))
			e = NULL;
		rms_value_free(e);
	} else if (v->type == (RMS_TYPE_STRING | RMS_TYPE_ARRAY) && from_text) {
		if ((rc = rms_value_new_array(out, st)))
			return rc;
		for (size_t i = 0; i < v->u.arr.len && !rc; i++) {
			rms_value *e = NULL;
			rc = rms__value_from_wire_text(&e, st, v->u.arr.items[i]->u.s);
			if (!rc && (rc = rms_value_array_append(*out, e)))
				rms_value_free(e);
		}
	}
	if (rc) {
		rms_value_free(*out);
		*out = NULL;
		if (rc != RMS_E_NOMEM)
			rc = rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE, "embedded property %s: %s",
			                    prop, rms_error_message(rms_error_last()));
	}
	return rc;
}

/* Embedded instances are decoded by shape (their XML names no schema);
 * type their properties with their own class's schema, as the top level
 * is, so they compare equal with the same values from anywhere else. */
static int type_embedded(const struct typing *t, rms_instance *inst, int depth)
{
	if (depth > 16)
		return 0;
	for (size_t i = 0; i < inst->count; i++) {
		rms_value *v = inst->props[i].value;
		int rc = 0;
		if (v->type == RMS_TYPE_INSTANCE && !v->is_null)
			rc = type_instance(t, v->u.inst, depth + 1);
		else if (v->type == (RMS_TYPE_INSTANCE | RMS_TYPE_ARRAY) && !v->is_null)
			for (size_t k = 0; k < v->u.arr.len && !rc; k++)
				rc = type_instance(t, v->u.arr.items[k]->u.inst, depth + 1);
		if (rc)
			return rc;
	}
	return 0;
}

static int type_instance(const struct typing *t, rms_instance *inst, int depth)
{
	const rms_cim_class *cls;
	int rc = schema_lookup(t, inst->class_name, &cls);
	if (rc)
		return rc;
	for (size_t i = 0; cls && i < inst->count; i++) {
		int pt = schema_type(inst->props[i].name, (void *)(uintptr_t)cls);
		if (pt < 0 || (rms_type)pt == inst->props[i].value->type)
			continue;
		rms_value *nv = NULL;
		if ((rc = retype_value(&nv, inst->props[i].value, (rms_type)pt, inst->props[i].name)))
			return rc;
		if (nv) {
			rms_value_free(inst->props[i].value);
			inst->props[i].value = nv;
		}
	}
	return type_embedded(t, inst, depth);
}

/* Decode an instance element, typed by its class's schema when there is one;
 * key flags come from the schema too. NEED_SCHEMA (nothing in *out) when a
 * schema it needs has not been fetched yet: the same element decodes again
 * once it has. */
static int read_typed(rms_instance **out, const struct typing *t, const xmlNode *el)
{
	const rms_cim_class *cls;
	*out = NULL;
	int rc = schema_lookup(t, (const char *)el->name, &cls);
	if (rc)
		return rc;
	rc = rms__wscim_read_instance(out, el, t->ns, cls ? schema_type : NULL,
	                              (void *)(uintptr_t)cls);
	if (!rc && !t->s->opts.cim.no_schema)
		rc = type_embedded(t, *out, 0);
	for (size_t i = 0; !rc && cls && i < rms_cim_class_property_count(cls); i++) {
		const char *name;
		unsigned flags;
		rms_cim_class_property_at(cls, i, &name, NULL, &flags);
		const rms_value *v = (flags & RMS_PROP_KEY) ? rms_instance_get(*out, name) : NULL;
		rms_value *copy;
		if (v && !(rc = rms_value_dup(&copy, v)) &&
		    (rc = rms_instance_set(*out, name, copy, RMS_PROP_KEY)))
			rms_value_free(copy);
	}
	if (rc) {
		rms_instance_free(*out);
		*out = NULL;
	}
	return rc;
}

/* ---- helpers ----------------------------------------------------------- */

/* The class a request is about: from the reference when there is one. */
static const char *class_of(const rms_request *r)
{
	if (r->ref && rms_ref_class_name(r->ref))
		return rms_ref_class_name(r->ref);
	if (!r->class_name && r->input && r->kind == RMS_OP_CREATE)
		return rms_instance_class_name(r->input);
	return r->class_name;
}

/* The namespace: the reference's when it carries one, else the request's
 * or the session's. */
static char *namespace_of(const rms_op *op)
{
	return rms__request_target_namespace(op->req, op->session);
}

/* The resource URI for the request's class, or the reference's own. A
 * reference from the server (an EPR) keeps the URI it came with. */
static char *resource_uri_of(const rms_request *r, const char *ns, bool *dmtf)
{
	const char *own = r->ref ? rms_ref_resource_uri(r->ref) : NULL;
	if (own) {
		*dmtf = strncmp(own, RMS_URI_WMI_PREFIX, strlen(RMS_URI_WMI_PREFIX)) != 0;
		return strdup(own);
	}
	*dmtf = true;
	(void)ns;
	return rms__wscim_class_uri(NULL, class_of(r), RMS_URI_DMTF);
}

/* The key selectors of the request's reference, without a __cimnamespace
 * the reference may carry (the envelope adds its own). */
static int key_selectors(rms_ref **out, const rms_request *r)
{
	*out = NULL;
	if (!r->ref)
		return 0;
	rms_ref *k;
	int rc = rms_ref_new(&k, NULL, NULL);
	for (size_t i = 0; !rc && i < rms_ref_selector_count(r->ref); i++) {
		const char *name, *value;
		const rms_ref *nested;
		rms_ref_selector_at(r->ref, i, &name, &value, &nested);
		if (rms__streq_nocase(name, "__cimnamespace"))
			continue;
		rc = nested ? rms_ref_add_selector_ref(k, name, nested)
		            : rms_ref_add_selector(k, name, value);
	}
	if (rc) {
		rms_ref_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

static struct typing typing_of(rms_op *op, struct cim_op *c)
{
	return (struct typing){ .s = op->session, .ns = c->ns, .need = &c->need_class };
}

static int empty_answer(const char *what)
{
	return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
	                      "the answer to %s has an empty body", what);
}

static int decode_item(rms_instance **out, const struct typing *t, const xmlNode *item)
{
	const xmlNode *obj, *epr;
	rms__enum_item_parts(item, &obj, &epr);
	if (!obj)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "an enumeration item holds no instance");
	int rc = read_typed(out, t, obj);
	if (rc || !epr)
		return rc;
	rms_ref *ref;
	if ((rc = rms__wscim_read_ref(&ref, epr)) == 0) {
		rc = rms_instance_set_ref(*out, ref);
		rms_ref_free(ref);
	}
	if (rc) {
		rms_instance_free(*out);
		*out = NULL;
	}
	return rc;
}

/* ---- exchanges --------------------------------------------------------- */

/* Every request of an operation starts here: one exchange at a time. */
static int begin(rms_op *op, struct cim_op *c, const rms_wsman_request *req, enum exchange what)
{
	int rc = check_deadline(op, c);
	if (!rc)
		rc = rms__wsman_start(c->w, req);
	if (!rc)
		c->pending = what;
	return rc;
}

static int begin_single(rms_op *op, struct cim_op *c)
{
	const rms_request *r = op->req;
	bool dmtf;
	char *uri = resource_uri_of(r, c->ns, &dmtf);
	char *action = NULL;
	rms_ref *keys = NULL;
	rms_buf body;
	rms__buf_init(&body);
	int rc = uri ? key_selectors(&keys, r) : rms__error_nomem();
	rms_wsman_request req = { .resource_uri = uri, .selectors = keys,
		                  .cim_namespace = dmtf ? c->ns : NULL };
	const char *what = rms_op_kind_name(r->kind);
	switch (r->kind) {
	case RMS_OP_GET:
		req.action = RMS_ACTION_GET;
		break;
	case RMS_OP_DELETE:
		req.action = RMS_ACTION_DELETE;
		break;
	case RMS_OP_MODIFY:
		req.action = RMS_ACTION_PUT;
		if (!rc)
			rc = rms__body_instance(&body, r->input, uri);
		break;
	case RMS_OP_CREATE:
		req.action = RMS_ACTION_CREATE;
		req.selectors = NULL;
		if (!rc)
			rc = rms__body_instance(&body, r->input, uri);
		break;
	case RMS_OP_INVOKE:
		if (!rc && !(action = rms__invoke_action(uri, r->method)))
			rc = rms__error_nomem();
		req.action = action;
		if (!rc)
			rc = rms__body_invoke(&body, uri, r->method, r->input);
		break;
	default:
		rc = rms__not_implemented(RMS_BACKEND_CIM, what);
	}
	if (!rc && !class_of(r))
		rc = rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_OPTIONS,
		                    "the %s request names no class", what);
	req.body = body.data;
	if (!rc)
		rc = begin(op, c, &req, EX_MAIN);
	rms__buf_free(&body);
	rms_ref_free(keys);
	free(action);
	free(uri);
	return rc;
}

/* The source instance of an associators/references request, with the
 * operation's namespace for its EPR when it carries none. */
static int association_source(rms_ref **out, const rms_ref *ref, const char *ns)
{
	int rc = rms_ref_dup(out, ref);
	if (rc || rms_ref_namespace(*out))
		return rc;
	rms_ref *withns;
	if ((rc = rms_ref_new(&withns, ns, rms_ref_class_name(*out))))
		return rc;
	for (size_t i = 0; !rc && i < rms_ref_selector_count(*out); i++) {
		const char *n, *v;
		const rms_ref *nr;
		rms_ref_selector_at(*out, i, &n, &v, &nr);
		rc = nr ? rms_ref_add_selector_ref(withns, n, nr) : rms_ref_add_selector(withns, n, v);
	}
	rms_ref_free(*out);
	*out = withns;
	return rc;
}

static int begin_enumerate(rms_op *op, struct cim_op *c)
{
	const rms_request *r = op->req;
	rms_enum_params p = { .optimize = true, .max_elements = c->max_elements,
		              .object_and_epr = true };
	rms_wsman_request req = { .action = RMS_ACTION_ENUMERATE };
	rms_ref *src = NULL;
	int rc = 0;
	c->dmtf = true;
	switch (r->kind) {
	case RMS_OP_ENUMERATE:
		c->uri = rms__wscim_class_uri(NULL, r->class_name, RMS_URI_DMTF);
		break;
	case RMS_OP_QUERY:
		/* The namespace's "any class" URI; the query names the class. */
		c->uri = rms__wscim_class_uri(c->ns, "*", RMS_URI_WMI);
		p.filter = RMS_FILTER_QUERY;
		p.dialect = r->dialect;
		p.query = r->query;
		break;
	default: /* associators, references */
		c->uri = strdup(ANY_CLASS_DMTF);
		p.filter = r->kind == RMS_OP_ASSOCIATORS ? RMS_FILTER_ASSOCIATORS
		                                         : RMS_FILTER_REFERENCES;
		rc = association_source(&src, r->ref, c->ns);
		p.selectors = src;
		p.association_class = r->assoc_class;
		p.result_class = r->result_class;
		p.role = r->role;
		p.result_role = r->result_role;
		break;
	}
	if (!rc && !c->uri)
		rc = rms__error_nomem();
	rms_buf body;
	rms__buf_init(&body);
	if (!rc)
		rc = rms__body_enumerate(&body, &p);
	req.resource_uri = c->uri;
	req.cim_namespace = c->dmtf ? c->ns : NULL;
	req.body = body.data;
	if (!rc)
		rc = begin(op, c, &req, EX_PAGE);
	rms__buf_free(&body);
	rms_ref_free(src);
	return rc;
}

static int begin_pull(rms_op *op, struct cim_op *c)
{
	rms_buf body;
	rms__buf_init(&body);
	int rc = rms__body_pull(&body, c->context, c->max_elements);
	/* Pull and Release go to the resource the enumeration was made on. */
	rms_wsman_request req = { .action = RMS_ACTION_PULL, .resource_uri = c->uri,
		                  .cim_namespace = c->dmtf ? c->ns : NULL, .body = body.data };
	if (!rc)
		rc = begin(op, c, &req, EX_PAGE);
	rms__buf_free(&body);
	return rc;
}

/* ---- answers ----------------------------------------------------------- */

/* A single-result op has ended (either way): its connection goes. */
static void end_single(rms_op *op, struct cim_op *c)
{
	if (c->have_answer) {
		rms__wsman_reply_free(&c->reply);
		c->have_answer = false;
	}
	c->held = NULL;
	rms__wsman_free(c->w);
	c->w = NULL;
	op->ended = true;
	op->finished = true;
}

static int page_answered(struct cim_op *c, rms_wsman_reply *reply)
{
	c->reply = *reply;
	int rc = rms__enum_begin(c->reply.reader, &c->page);
	if (rc) {
		rms__enum_page_free(&c->page);
		rms__wsman_reply_free(&c->reply);
		return rc;
	}
	c->in_page = true;
	c->page_items = 0;
	return 0;
}

/* Finish the current page: its context and EndOfSequence. */
static int end_page(struct cim_op *c, bool had_items)
{
	int rc = rms__enum_finish(c->reply.reader, &c->page);
	if (!rc) {
		free(c->context);
		c->context = c->page.context;
		c->page.context = NULL;
		c->end = c->page.end_of_sequence;
		c->empty_pages = had_items ? 0 : c->empty_pages + 1;
		if (!c->end && !c->context)
			rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                    "the enumeration answer has neither a context to pull "
			                    "more with nor EndOfSequence: the result may be "
			                    "incomplete");
		else if (!c->end && c->empty_pages >= MAX_EMPTY_PAGES)
			rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                    "the server answered %u Pulls in a row with no items and "
			                    "no end of the enumeration",
			                    c->empty_pages);
	}
	rms__enum_page_free(&c->page);
	rms__wsman_reply_free(&c->reply);
	c->in_page = false;
	c->page_items = 0;
	return rc;
}

/* The op's own request answered: keep the answer and its element for
 * decoding (which may have to wait for schemas); GetClass ends here. */
static int main_answered(rms_op *op, struct cim_op *c, int rc, rms_wsman_reply *reply)
{
	if (op->req->kind == RMS_OP_GET_CLASS) {
		rc = class_answer(rc, reply, op->req->class_name, &op->cls);
		end_single(op, c);
		return rc;
	}
	if (rc)
		return rc;
	c->reply = *reply;
	c->have_answer = true;
	if (op->req->kind == RMS_OP_DELETE)
		return 0;
	xmlNode *el;
	rc = rms__soap_reader_next(c->reply.reader, &el);
	if (rc == RMS_ITEROVER)
		return 0;
	if (!rc)
		c->held = el;
	return rc;
}

/* A schema answered (or the server would not give it: then what needs it
 * decodes by shape, and the session does not ask again). Only running out
 * of memory fails the op. */
static int schema_answered(rms_op *op, struct cim_op *c, int rc, rms_wsman_reply *reply)
{
	rms_session *s = op->session;
	rms_cim_class *cls = NULL;
	/* Not the server's answer: the transport saw the op's own cancel
	 * flag, which advance checks next, so nothing is remembered. */
	if (rc == RMS_E_CANCELLED)
		return 0;
	if (class_answer(rc, reply, c->need_class, &cls))
		rms__log(&s->log, RMS_LOG_DEBUG, "%s: no schema for %s, decoding by shape: %s",
		         s->name, c->need_class, rms_error_message(rms_error_last()));
	rc = schema_remember(s, c->need_class, cls);
	free(c->need_class);
	c->need_class = NULL;
	return rc;
}

/* The exchange in flight is past its wait when the op's time limit has
 * passed: it is dropped and the op fails. */
static int wait_or_time_out(rms_op *op, struct cim_op *c, rms_wait *w)
{
	if (!c->deadline)
		return RMS_EAGAIN;
	if (rms__now_ms() >= c->deadline) {
		rms__wsman_abort(c->w);
		c->pending = EX_NONE;
		return time_limit_passed(op);
	}
	rms__wait_until(w, c->deadline);
	return RMS_EAGAIN;
}

static int step_schema(rms_op *op, struct cim_op *c, rms_wait *w)
{
	/* A schema the server refuses is not the caller's failure: its error
	 * must not replace the caller's last error. */
	struct rms_error *keep = rms__error_park();
	rms_wsman_reply reply;
	int rc = rms__wsman_step(c->w, w, &reply);
	if (rc != RMS_EAGAIN) {
		c->pending = EX_NONE;
		rc = schema_answered(op, c, rc, &reply);
	}
	rms__error_unpark(keep);
	if (rc == RMS_E_NOMEM)
		return rms__error_nomem();
	return rc == RMS_EAGAIN ? wait_or_time_out(op, c, w) : rc;
}

/* Advance the exchange in flight: RMS_EAGAIN while it waits, 0 when its
 * answer has been taken in (c->pending is then EX_NONE), or a failure. */
static int step_exchange(rms_op *op, struct cim_op *c, rms_wait *w)
{
	enum exchange what = c->pending;
	if (what == EX_SCHEMA)
		return step_schema(op, c, w);
	rms_wsman_reply reply;
	int rc = what == EX_IDENTIFY ? identify_step(c->w, w, &op->result)
	                             : rms__wsman_step(c->w, w, &reply);
	if (rc == RMS_EAGAIN)
		return wait_or_time_out(op, c, w);
	c->pending = EX_NONE;
	/* The HTTP wait was cut to the operation's time limit: say it is that
	 * limit which passed, as the caller set it, not the wait's remainder. */
	if (rc == RMS_E_TIMEOUT && c->deadline && rms__now_ms() + 100 >= c->deadline)
		return time_limit_passed(op); /* a failed step leaves no reply */
	switch (what) {
	case EX_IDENTIFY:
		end_single(op, c);
		return rc;
	case EX_PAGE:
		return rc ? rc : page_answered(c, &reply);
	default:
		return main_answered(op, c, rc, &reply);
	}
}

/* ---- the machine ------------------------------------------------------- */

/* The next item of the page being read, decoded without the network: 0
 * with *out; NEED_SCHEMA (the item is held, need_class names the class);
 * RMS_ITEROVER when the page is used up (it is finished: in_page false);
 * or a failure. */
/* An item whose values did not decode costs itself only: its error,
 * naming the item and the property, is kept for next to report as
 * RMS_E_SKIPPED, and the enumeration goes on. */
static int skip_item(rms_op *op, struct cim_op *c, const char *element)
{
	char *why = rms__strdup(rms_error_message(rms_error_last()));
	rms__error_set(RMS_E_SKIPPED, RMS_PHASE_DECODE,
	               "item %llu of the %s (%s) was skipped: %s; the operation goes on",
	               (unsigned long long)c->items, rms_op_kind_name(op->req->kind),
	               element ? element : "?", why ? why : "a value did not decode");
	free(why);
	rms__log(&op->session->log, RMS_LOG_WARNING, "%s: %s", op->session->name,
	         rms_error_message(rms_error_last()));
	rms_error_free(c->skipped);
	c->skipped = rms_error_dup(rms_error_last());
	return RMS_E_SKIPPED;
}

static int next_item(rms_op *op, struct cim_op *c, rms_instance **out)
{
	if (!c->held) {
		xmlNode *item;
		int rc = rms__soap_reader_next(c->reply.reader, &item);
		if (rc == RMS_ITEROVER)
			return (rc = end_page(c, c->page_items > 0)) ? rc : RMS_ITEROVER;
		if (rc)
			return rc;
		c->page_items++;
		c->items++;
		c->held = item;
	}
	struct typing t = typing_of(op, c);
	int rc = decode_item(out, &t, c->held);
	if (rc == NEED_SCHEMA)
		return rc;
	const xmlNode *item = c->held;
	c->held = NULL;
	if (rc && rc != RMS_E_NOMEM && rc != RMS_E_INTERNAL && rms__is_failure(rc)) {
		/* The element's own name: the class, or w:Item around it. */
		const xmlNode *obj, *epr;
		rms__enum_item_parts(item, &obj, &epr);
		return skip_item(op, c, (const char *)(obj ? obj : item)->name);
	}
	return rc;
}

/* With nothing in flight: 0 when an item is ready or the enumeration has
 * ended, BEGAN when an exchange was begun, or a failure. A Pull begins only
 * once the caller has taken every item of the page before. */
static int stream_advance(rms_op *op, struct cim_op *c)
{
	int rc;
	if (c->in_page) {
		rc = next_item(op, c, &c->ready);
		if (rc == NEED_SCHEMA)
			return (rc = begin_get_class(op, c, c->need_class, EX_SCHEMA)) ? rc : BEGAN;
		if (rc == RMS_E_SKIPPED)
			return 0; /* next reports it, as an item */
		if (rc != RMS_ITEROVER)
			return rc; /* an item is ready, or a failure */
	}
	if (!c->end)
		return (rc = begin_pull(op, c)) ? rc : BEGAN;
	/* Done: the operation's connection goes with it. */
	rms__wsman_free(c->w);
	c->w = NULL;
	op->ended = true;
	return 0;
}

/* With nothing in flight: decode the answer (0, the op has ended), or
 * BEGAN a schema fetch it needs first, or a failure. */
static int single_advance(rms_op *op, struct cim_op *c)
{
	const xmlNode *el = c->held;
	const char *what = rms_op_kind_name(op->req->kind);
	struct typing t = typing_of(op, c);
	int rc = 0;
	if (!c->have_answer)
		return rms__error_set(RMS_E_INTERNAL, RMS_PHASE_NONE,
		                      "the %s operation has no answer to decode", what);
	switch (op->req->kind) {
	case RMS_OP_GET:
		rc = el ? read_typed(&op->result, &t, el) : empty_answer(what);
		break;
	case RMS_OP_INVOKE: {
		/* Out-parameters and ReturnValue typed by the method's
		 * declaration in the class schema; by shape when there is none
		 * (no_schema, or a server that serves none, as OMI). */
		const rms_cim_class *cls = NULL, *output = NULL;
		if (!el) {
			rc = empty_answer(what);
			break;
		}
		rc = schema_lookup(&t, class_of(op->req), &cls);
		if (rc)
			break;
		output = rms__cim_class_method_output(cls, op->req->method);
		rc = rms__wscim_read_instance(&op->result, el, c->ns, output ? schema_type : NULL,
		                              (void *)(uintptr_t)output);
		break;
	}
	case RMS_OP_MODIFY:
		/* Windows may or may not send the instance back (facts §7). */
		if (el)
			rc = read_typed(&op->result, &t, el);
		break;
	case RMS_OP_CREATE:
		rc = el ? rms__decode_created(&op->created, el) : empty_answer(what);
		break;
	default:
		break;
	}
	if (rc == NEED_SCHEMA)
		return (rc = begin_get_class(op, c, c->need_class, EX_SCHEMA)) ? rc : BEGAN;
	end_single(op, c);
	return rc;
}

static int cancelled(const rms_op *op)
{
	if (streams(op->req->kind))
		return rms__error_set(RMS_E_CANCELLED, RMS_PHASE_NONE,
		                      "the enumeration was cancelled after %llu instances",
		                      (unsigned long long)op->delivered);
	return rms__error_set(RMS_E_CANCELLED, RMS_PHASE_NONE, "the %s operation was cancelled",
	                      rms_op_kind_name(op->req->kind));
}

/* The op has failed: it ends, keeping its error to repeat. A stream keeps
 * its connection and context for op_free's Release. */
static int fail(rms_op *op, struct cim_op *c, int rc)
{
	if (c->pending != EX_NONE) {
		rms__wsman_abort(c->w);
		c->pending = EX_NONE;
	}
	rms_error_free(c->error);
	c->error = rms_error_dup(rms_error_last());
	c->failed = rc;
	if (!c->stream)
		end_single(op, c);
	op->ended = true;
	return rc;
}

static int advance(rms_op *op, struct cim_op *c, rms_wait *w)
{
	for (;;) {
		if (atomic_load(&op->cancelled))
			return cancelled(op);
		int rc;
		if (c->pending != EX_NONE) {
			if ((rc = step_exchange(op, c, w)))
				return rc;
			if (op->ended)
				return 0;
			continue;
		}
		rc = c->stream ? stream_advance(op, c) : single_advance(op, c);
		if (rc != BEGAN)
			return rc;
	}
}

static int cim_step(rms_op *op, rms_wait *w)
{
	struct cim_op *c = op->priv;
	rms__wait_clear(w);
	if (c->failed)
		return c->error ? rms__error_restore(c->error) : c->failed;
	if (c->ready || c->skipped || op->ended)
		return 0;
	/* Driven by an engine, a cancel is seen on every perform and
	 * rms_multi_wakeup wakes its poll: no timer for it. Decided per step,
	 * since an op whose engine is freed turns blocking. */
	rms__wsman_set_cancel_poll(c->w, !op->nonblocking);
	int rc = advance(op, c, w);
	return rms__is_failure(rc) ? fail(op, c, rc) : rc;
}

static int cim_next(rms_op *op, rms_instance **out)
{
	struct cim_op *c = op->priv;
	*out = NULL;
	if (c->ready) {
		*out = c->ready;
		c->ready = NULL;
		return 0;
	}
	if (c->skipped) {
		rms__error_restore(c->skipped);
		rms_error_free(c->skipped);
		c->skipped = NULL;
		return RMS_E_SKIPPED;
	}
	if (c->failed)
		return c->error ? rms__error_restore(c->error) : c->failed;
	if (op->ended)
		return RMS_ITEROVER;
	if (atomic_load(&op->cancelled))
		return fail(op, c, cancelled(op));
	/* The rest of a page decodes without the network; step takes over
	 * where a schema or the next page is needed. */
	if (c->in_page && c->pending == EX_NONE && !c->need_class) {
		int rc = next_item(op, c, out);
		if (rc == RMS_E_SKIPPED) {
			/* Reported now (the last error is skip_item's), not
			 * again. */
			rms_error_free(c->skipped);
			c->skipped = NULL;
			return rc;
		}
		if (rc == 0 || rms__is_failure(rc))
			return rc ? fail(op, c, rc) : 0;
	}
	return RMS_EAGAIN;
}

/* A blocking enumeration waits in start for the Enumerate's answer and its
 * first item, so that rms_enumerate itself reports a bad class, a wrong
 * password or a passed time limit, as its callers have always found. An
 * engine-driven one (op->nonblocking) returns at once. */
static int wait_first_item(rms_op *op)
{
	int rc;
	while ((rc = cim_step(op, &op->wait)) == RMS_EAGAIN)
		if ((rc = rms__wait_block(&op->wait)))
			return rc;
	return rc;
}

static int cim_start(rms_op *op)
{
	rms_session *s = op->session;
	const rms_request *r = op->req;
	struct cim_op *c = calloc(1, sizeof *c);
	if (!c)
		return rms__error_nomem();
	op->priv = c;
	c->stream = streams(r->kind);
	c->max_elements = s->opts.cim.max_elements; /* the default filled in by options.c */
	c->deadline = rms__request_deadline(r);
	if (!(c->ns = namespace_of(op)))
		return rms__error_nomem();
	int rc = client(&c->w, s, &op->cancelled);
	if (rc)
		return rc;
	if (r->kind == RMS_OP_IDENTIFY) {
		if (!(rc = check_deadline(op, c)) && !(rc = rms__wsman_identify_start(c->w, false)))
			c->pending = EX_IDENTIFY;
	} else if (r->kind == RMS_OP_GET_CLASS) {
		rc = begin_get_class(op, c, r->class_name, EX_MAIN);
	} else {
		rc = c->stream ? begin_enumerate(op, c) : begin_single(op, c);
	}
	if (!rc && c->stream && !op->nonblocking)
		rc = wait_first_item(op);
	return rc;
}

static int cim_next_chunk(rms_op *op, rms_chunk *out)
{
	(void)op;
	(void)out;
	return rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_NONE,
	                      "the CIM backend cannot run commands; the PSSession backend can");
}

/* An enumeration closed early: tell the server to drop its context, on
 * the same connection, before that connection goes. Blocking, for at most
 * RMS_CLEANUP_TIMEOUT_MS. */
static void release(rms_op *op, struct cim_op *c)
{
	rms__wsman_set_cancel(c->w, NULL);
	rms__wsman_set_deadline(c->w, RMS_CLEANUP_TIMEOUT_MS);
	rms_buf body;
	rms__buf_init(&body);
	if (rms__body_release(&body, c->context) == 0) {
		rms_wsman_request req = { .action = RMS_ACTION_RELEASE, .resource_uri = c->uri,
			                  .cim_namespace = c->dmtf ? c->ns : NULL,
			                  .body = body.data };
		rms_wsman_reply reply;
		if (rms__wsman_send(c->w, &req, &reply) == 0)
			rms__wsman_reply_free(&reply);
		else
			rms__log(&op->session->log, RMS_LOG_WARNING,
			         "%s: releasing an enumeration failed: %s", op->session->name,
			         rms_error_message(rms_error_last()));
	}
	rms__buf_free(&body);
}

/* The server no longer has the enumeration's context: Windows says so with
 * InvalidEnumerationContext; OMI with DestinationUnreachable, "Enumeration
 * context not found" (omi.md, Enumeration), which on a Pull (the resource
 * was found by the Enumerate) can mean nothing else. */
static bool context_gone(const rms_error *e)
{
	const char *sub = rms_error_fault_subcode(e);
	return rms_error_wsman_code(e) == RMS_WSMAN_ERR_INVALID_ENUM_CONTEXT ||
	       (sub && (strcmp(sub, "n:InvalidEnumerationContext") == 0 ||
	                strcmp(sub, "a:DestinationUnreachable") == 0));
}

static void cim_op_free(rms_op *op)
{
	struct cim_op *c = op->priv;
	if (!c)
		return;
	if (c->pending != EX_NONE) {
		/* Freed with an answer outstanding: that connection is dropped
		 * (a Release below goes on a new one). */
		rms__wsman_abort(c->w);
		c->pending = EX_NONE;
	}
	if (c->in_page) {
		/* Freed in the middle of a page: the context that page carried
		 * (read before its items) is the one to release, unless the
		 * page also ended the enumeration. EndOfSequence follows the
		 * items, so the rest of the page (received already) is read
		 * for it: a context that came with EndOfSequence is over, and
		 * releasing it only draws a fault (OMI sends both). */
		rms_error *kept = rms_error_dup(rms_error_last()); /* the caller's */
		if (c->page.in_items) {
			xmlNode *rest;
			while (rms__soap_reader_next(c->reply.reader, &rest) == 0)
				;
		}
		if (rms__enum_finish(c->reply.reader, &c->page) == 0 && c->page.end_of_sequence)
			c->end = true;
		if (kept)
			rms__error_restore(kept);
		else
			rms_error_clear();
		rms_error_free(kept);
		if (c->page.context) {
			free(c->context);
			c->context = c->page.context;
			c->page.context = NULL;
		}
		rms__enum_page_free(&c->page);
		rms__wsman_reply_free(&c->reply);
		c->in_page = false;
	}
	if (c->have_answer)
		rms__wsman_reply_free(&c->reply);
	/* Not when the connection or the context is already gone (a timeout,
	 * a dropped connection, an invalid context): that would only wait on
	 * a server that stopped answering. A cancelled op still releases,
	 * briefly. */
	const rms_error *e = op->error ? op->error : c->error;
	int failed = e ? rms_error_code(e) : c->failed;
	bool dead = failed == RMS_E_TIMEOUT || failed == RMS_E_CONNECTION_LOST ||
	            failed == RMS_E_CONNECT || failed == RMS_E_PROTOCOL ||
	            context_gone(e);
	if (c->w && c->context && !c->end && !dead)
		release(op, c);
	rms__wsman_free(c->w);
	rms_instance_free(c->ready);
	rms_error_free(c->skipped);
	rms_error_free(c->error);
	free(c->need_class);
	free(c->uri);
	free(c->context);
	free(c->ns);
	free(c);
	op->priv = NULL;
}

const struct rms_backend_ops rms__cim_backend = {
	.id = RMS_BACKEND_CIM,
	.name = "CIM",
	.supports = cim_supports,
	.open = cim_open,
	.open_step = cim_open_step,
	.close = cim_close,
	.destroy = cim_destroy,
	.start = cim_start,
	.step = cim_step,
	.next = cim_next,
	.next_chunk = cim_next_chunk,
	.op_free = cim_op_free,
};
