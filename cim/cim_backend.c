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
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "value_internal.h"
#include "cim_class.h"
#include "wsman.h"
#include "wsman_ops.h"

#define ANY_CLASS_DMTF "http://schemas.dmtf.org/wbem/wscim/1/*"

struct cim_op {
	rms_wsman *w;
	char *ns;            /* effective namespace, '/' separated */
	char *uri;           /* the enumeration's resource URI, for Pull and Release */
	bool dmtf;           /* that URI is of the DMTF form (needs __cimnamespace) */
	rms_wsman_reply reply; /* the page being read */
	rms_enum_page page;
	bool in_page;        /* reply holds a page whose items are being read */
	char *context;       /* for the next Pull / the Release */
	bool end;            /* EndOfSequence seen */
	uint32_t max_elements;
	unsigned empty_pages; /* Pull answers in a row with no items */
	unsigned page_items;  /* items read from the current page */
	uint64_t deadline;   /* monotonic ms by which the operation must end; 0: none */
};

/* A server answering Pull after Pull with no items and no end would keep
 * the client pulling forever; this many in a row is a protocol error. */
#define MAX_EMPTY_PAGES 100

/* Before each request of an operation with a time limit: fail when it has
 * passed, else cap the request's wait at what is left. */
static int check_deadline(rms_op *op, struct cim_op *c)
{
	if (!c->deadline)
		return 0;
	uint64_t now = rms__now_ms();
	if (now >= c->deadline) {
		rms__error_set(RMS_E_TIMEOUT, RMS_PHASE_LIMIT,
		               "the %s operation's time limit of %u ms passed after %llu instances",
		               rms_op_kind_name(op->req->kind), op->req->timeout_ms,
		               (unsigned long long)op->delivered);
		rms__error_set_limit("timeout_ms", op->req->timeout_ms, op->req->timeout_ms);
		return RMS_E_TIMEOUT;
	}
	rms__wsman_set_deadline(c->w, (uint32_t)(c->deadline - now));
	return 0;
}

/* Class schemas fetched in this session, by class name (case-insensitive);
 * cls NULL records that the server would not give it. */
struct schema_entry {
	char *name;
	rms_cim_class *cls;
};

struct cim_session {
	struct schema_entry *schemas;
	size_t nschemas;
};

static bool cim_supports(const rms_session_options *o, rms_op_kind kind)
{
	(void)o;
	/* Everything a CIM provider serves; commands need a remote shell. */
	return kind != RMS_OP_RUN;
}

static int client(rms_wsman **out, rms_session *s, atomic_bool *cancel)
{
	return rms__wsman_new(out, &s->opts, &s->stats, &s->log, cancel);
}

/* One WS-Identify on a connection of its own, closed before returning. */
static int identify(rms_session *s, atomic_bool *cancel, rms_instance **out)
{
	rms_wsman *w;
	int rc = client(&w, s, cancel);
	if (rc)
		return rc;
	rc = rms__wsman_identify(w, false, out);
	rms__wsman_free(w);
	return rc;
}

static int cim_open(rms_session *s)
{
	if (s->opts.cim.test_connection) {
		/* As New-CimSession does without -SkipTestConnection: one
		 * Identify proves the endpoint and the credentials, and the
		 * connection is closed again. */
		rms_instance *id = NULL;
		int rc = identify(s, NULL, &id);
		rms_instance_free(id);
		if (rc == 0)
			rms__log(&s->log, RMS_LOG_INFO, "%s: test connection to %s succeeded",
			         s->name, s->endpoint);
		return rc;
	}
	/* Deliberately no connection: a CIM session holds none. */
	rms__log(&s->log, RMS_LOG_DEBUG, "%s: lazy CIM session, no connection opened", s->name);
	return 0;
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
	free(cs);
	s->priv = NULL;
}

/* ---- class schemas ----------------------------------------------------- */

/* GetClass as the Windows MI client sends it (facts.md §1.6). A server
 * that does not offer class retrieval gets RMS_E_UNSUPPORTED. */
static int get_class(rms_wsman *w, const char *ns, const char *class_name, rms_cim_class **out)
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
		                  .selectors = sel, .cim_namespace = ns, .options = opts,
		                  .noptions = sizeof opts / sizeof opts[0] };
	rms_wsman_reply reply;
	if (!(rc = rms_ref_add_selector(sel, "ClassName", class_name)))
		rc = rms__wsman_send(w, &req, &reply);
	if (rc == RMS_E_FAULT) {
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
	if (!rc) {
		xmlNode *el;
		rc = rms__soap_reader_next(reply.reader, &el);
		if (rc == RMS_ITEROVER)
			rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                    "the GetClass answer for %s is empty", class_name);
		else if (!rc)
			rc = rms__decode_class(out, el);
		rms__wsman_reply_free(&reply);
	}
	rms_ref_free(sel);
	return rc;
}

/* The session's schema of a class, fetched on first use over the
 * operation's connection; NULL when unknown (no_schema, or the server
 * would not give it: then decoding goes by shape). */
static const rms_cim_class *schema_for(rms_session *s, rms_wsman *w, const char *ns,
                                       const char *class_name)
{
	if (s->opts.cim.no_schema || !class_name || !w)
		return NULL;
	struct cim_session *cs = s->priv;
	if (!cs && !(cs = s->priv = calloc(1, sizeof *cs)))
		return NULL;
	for (size_t i = 0; i < cs->nschemas; i++)
		if (rms__streq_nocase(cs->schemas[i].name, class_name))
			return cs->schemas[i].cls;
	rms_cim_class *cls = NULL;
	struct rms_error *keep = rms__error_park();
	if (get_class(w, ns, class_name, &cls))
		rms__log(&s->log, RMS_LOG_DEBUG, "%s: no schema for %s, decoding by shape: %s",
		         s->name, class_name, rms_error_message(rms_error_last()));
	rms__error_unpark(keep);
	struct schema_entry *grown = realloc(cs->schemas, (cs->nschemas + 1) * sizeof *grown);
	char *name = strdup(class_name);
	if (!grown || !name) {
		free(name);
		if (grown)
			cs->schemas = grown;
		rms_cim_class_free(cls);
		return NULL;
	}
	cs->schemas = grown;
	cs->schemas[cs->nschemas++] = (struct schema_entry){ name, cls };
	return cls;
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

static int type_instance(rms_session *s, rms_wsman *w, const char *ns, rms_instance *inst,
                         int depth);

/* A value decoded by shape as the schema's type t: texts converted, a lone
 * element of an array property made an array. NULL in *out (and 0) when
 * nothing needs to change or the shape cannot be retyped from text
 * (references and embedded instances come typed by their shape). */
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
			rc = rms_value_from_text(out, st, v->u.s);
	} else if (!(v->type & RMS_TYPE_ARRAY)) {
		/* One element: WS-Man cannot tell it from a scalar. */
		rms_value *e = NULL;
		if (v->type == RMS_TYPE_STRING && from_text)
			rc = rms_value_from_text(&e, st, v->u.s);
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
			rc = rms_value_from_text(&e, st, v->u.arr.items[i]->u.s);
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
static int type_embedded(rms_session *s, rms_wsman *w, const char *ns, rms_instance *inst,
                         int depth)
{
	if (depth > 16)
		return 0;
	for (size_t i = 0; i < inst->count; i++) {
		rms_value *v = inst->props[i].value;
		int rc = 0;
		if (v->type == RMS_TYPE_INSTANCE && !v->is_null)
			rc = type_instance(s, w, ns, v->u.inst, depth + 1);
		else if (v->type == (RMS_TYPE_INSTANCE | RMS_TYPE_ARRAY) && !v->is_null)
			for (size_t k = 0; k < v->u.arr.len && !rc; k++)
				rc = type_instance(s, w, ns, v->u.arr.items[k]->u.inst, depth + 1);
		if (rc)
			return rc;
	}
	return 0;
}

static int type_instance(rms_session *s, rms_wsman *w, const char *ns, rms_instance *inst,
                         int depth)
{
	const rms_cim_class *cls = schema_for(s, w, ns, inst->class_name);
	for (size_t i = 0; cls && i < inst->count; i++) {
		int t = schema_type(inst->props[i].name, (void *)(uintptr_t)cls);
		if (t < 0 || (rms_type)t == inst->props[i].value->type)
			continue;
		rms_value *nv = NULL;
		int rc = retype_value(&nv, inst->props[i].value, (rms_type)t, inst->props[i].name);
		if (rc)
			return rc;
		if (nv) {
			rms_value_free(inst->props[i].value);
			inst->props[i].value = nv;
		}
	}
	return type_embedded(s, w, ns, inst, depth);
}

/* Decode an instance element, typed by its class's schema when there is one;
 * key flags come from the schema too. */
static int read_typed(rms_instance **out, rms_session *s, rms_wsman *w, const xmlNode *el,
                      const char *ns)
{
	const char *cls_name = (const char *)el->name;
	const rms_cim_class *cls = schema_for(s, w, ns, cls_name);
	int rc = rms__wscim_read_instance(out, el, ns, cls ? schema_type : NULL,
	                                  (void *)(uintptr_t)cls);
	if (!rc && !s->opts.cim.no_schema)
		rc = type_embedded(s, w, ns, *out, 0);
	if (rc || !cls) {
		if (rc) {
			rms_instance_free(*out);
			*out = NULL;
		}
		return rc;
	}
	for (size_t i = 0; i < rms_cim_class_property_count(cls); i++) {
		const char *name;
		unsigned flags;
		rms_cim_class_property_at(cls, i, &name, NULL, &flags);
		const rms_value *v = (flags & RMS_PROP_KEY) ? rms_instance_get(*out, name) : NULL;
		if (v) {
			rms_value *copy;
			if ((rc = rms_value_dup(&copy, v)) ||
			    (rc = rms_instance_set(*out, name, copy, RMS_PROP_KEY)))
				break;
		}
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

static int first_body_element(rms_wsman_reply *reply, xmlNode **out, const char *what)
{
	int rc = rms__soap_reader_next(reply->reader, out);
	if (rc == RMS_ITEROVER)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "the answer to %s has an empty body", what);
	return rc;
}

static int decode_item(rms_instance **out, rms_session *s, rms_wsman *w, const xmlNode *item,
                       const char *ns)
{
	const xmlNode *obj, *epr;
	rms__enum_item_parts(item, &obj, &epr);
	if (!obj)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "an enumeration item holds no instance");
	int rc = read_typed(out, s, w, obj, ns);
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

/* ---- single-result operations ------------------------------------------ */

static int run_single(rms_op *op, struct cim_op *c)
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
	rms_wsman_reply reply;
	memset(&reply, 0, sizeof reply);
	if (!rc)
		rc = rms__wsman_send(c->w, &req, &reply);
	xmlNode *el = NULL;
	if (!rc && r->kind != RMS_OP_DELETE) {
		int got = rms__soap_reader_next(reply.reader, &el);
		if (got == RMS_ITEROVER)
			el = NULL;
		else if (got)
			rc = got;
	}
	if (!rc) {
		switch (r->kind) {
		case RMS_OP_GET:
			rc = el ? read_typed(&op->result, op->session, c->w, el, c->ns)
			        : first_body_element(&reply, &el, what);
			break;
		case RMS_OP_INVOKE:
			/* Out-parameters by shape: the schema holds no parameter types. */
			rc = el ? rms__wscim_read_instance(&op->result, el, c->ns, NULL, NULL)
			        : first_body_element(&reply, &el, what);
			break;
		case RMS_OP_MODIFY:
			/* Windows may or may not send the instance back (facts §7). */
			if (el)
				rc = read_typed(&op->result, op->session, c->w, el, c->ns);
			break;
		case RMS_OP_CREATE:
			rc = el ? rms__decode_created(&op->created, el)
			        : first_body_element(&reply, &el, what);
			break;
		default:
			break;
		}
	}
	rms__wsman_reply_free(&reply);
	rms__buf_free(&body);
	rms_ref_free(keys);
	free(action);
	free(uri);
	return rc;
}

/* ---- enumerations ------------------------------------------------------ */

static int start_enumeration(rms_op *op, struct cim_op *c)
{
	const rms_request *r = op->req;
	rms_enum_params p = { .optimize = true, .max_elements = c->max_elements,
		              .object_and_epr = true };
	rms_wsman_request req = { .action = RMS_ACTION_ENUMERATE };
	char *uri = NULL;
	rms_ref *src = NULL;
	int rc = 0;
	bool dmtf = true;
	switch (r->kind) {
	case RMS_OP_ENUMERATE:
		uri = rms__wscim_class_uri(NULL, r->class_name, RMS_URI_DMTF);
		break;
	case RMS_OP_QUERY:
		/* The namespace's "any class" URI; the query names the class. */
		uri = rms__wscim_class_uri(c->ns, "*", RMS_URI_WMI);
		dmtf = false;
		p.filter = RMS_FILTER_QUERY;
		p.dialect = r->dialect;
		p.query = r->query;
		break;
	case RMS_OP_ASSOCIATORS:
	case RMS_OP_REFERENCES:
		uri = strdup(ANY_CLASS_DMTF);
		p.filter = r->kind == RMS_OP_ASSOCIATORS ? RMS_FILTER_ASSOCIATORS
		                                         : RMS_FILTER_REFERENCES;
		/* The source instance, with its namespace for the EPR. */
		if (!(rc = rms_ref_dup(&src, r->ref)) && !rms_ref_namespace(src)) {
			rms_ref *withns;
			if (!(rc = rms_ref_new(&withns, c->ns, rms_ref_class_name(src)))) {
				for (size_t i = 0; !rc && i < rms_ref_selector_count(src); i++) {
					const char *n, *v;
					const rms_ref *nr;
					rms_ref_selector_at(src, i, &n, &v, &nr);
					rc = nr ? rms_ref_add_selector_ref(withns, n, nr)
					        : rms_ref_add_selector(withns, n, v);
				}
				rms_ref_free(src);
				src = withns;
			}
		}
		p.selectors = src;
		p.association_class = r->assoc_class;
		p.result_class = r->result_class;
		p.role = r->role;
		p.result_role = r->result_role;
		break;
	default:
		return rms__not_implemented(RMS_BACKEND_CIM, rms_op_kind_name(r->kind));
	}
	if (!rc && !uri)
		rc = rms__error_nomem();
	rms_buf body;
	rms__buf_init(&body);
	if (!rc)
		rc = rms__body_enumerate(&body, &p);
	req.resource_uri = uri;
	req.cim_namespace = dmtf ? c->ns : NULL;
	req.body = body.data;
	if (!rc)
		rc = check_deadline(op, c);
	if (!rc)
		rc = rms__wsman_send(c->w, &req, &c->reply);
	if (!rc) {
		rc = rms__enum_begin(c->reply.reader, &c->page);
		c->in_page = rc == 0;
		if (rc) {
			rms__enum_page_free(&c->page);
			rms__wsman_reply_free(&c->reply);
		}
	}
	rms__buf_free(&body);
	rms_ref_free(src);
	c->uri = uri;
	c->dmtf = dmtf;
	return rc;
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
	return rc;
}

static int pull(rms_op *op, struct cim_op *c)
{
	rms_buf body;
	rms__buf_init(&body);
	int rc = rms__body_pull(&body, c->context, c->max_elements);
	/* Pull and Release go to the resource the enumeration was made on. */
	rms_wsman_request req = { .action = RMS_ACTION_PULL, .resource_uri = c->uri,
		                  .cim_namespace = c->dmtf ? c->ns : NULL, .body = body.data };
	if (!rc)
		rc = check_deadline(op, c);
	if (!rc)
		rc = rms__wsman_send(c->w, &req, &c->reply);
	if (!rc) {
		rc = rms__enum_begin(c->reply.reader, &c->page);
		c->in_page = rc == 0;
		if (rc) {
			rms__enum_page_free(&c->page);
			rms__wsman_reply_free(&c->reply);
		}
	}
	rms__buf_free(&body);
	return rc;
}

static int cim_next(rms_op *op, rms_instance **out)
{
	struct cim_op *c = op->priv;
	for (;;) {
		if (atomic_load(&op->cancelled))
			return rms__error_set(RMS_E_CANCELLED, RMS_PHASE_NONE,
			                      "the enumeration was cancelled after %llu instances",
			                      (unsigned long long)op->delivered);
		if (c->in_page) {
			xmlNode *item;
			int rc = rms__soap_reader_next(c->reply.reader, &item);
			if (rc == 0) {
				c->page_items++;
				return decode_item(out, op->session, c->w, item, c->ns);
			}
			if (rc != RMS_ITEROVER)
				return rc;
			rc = end_page(c, c->page_items > 0);
			c->page_items = 0;
			if (rc)
				return rc;
			continue;
		}
		if (c->end) {
			/* Done: the operation's connection goes with it. */
			rms__wsman_free(c->w);
			c->w = NULL;
			return RMS_ITEROVER;
		}
		int rc = pull(op, c);
		if (rc)
			return rc;
	}
}

static int cim_start(rms_op *op)
{
	rms_session *s = op->session;
	if (op->req->kind == RMS_OP_IDENTIFY) {
		int rc = identify(s, &op->cancelled, &op->result);
		op->finished = true;
		return rc;
	}
	struct cim_op *c = calloc(1, sizeof *c);
	if (!c)
		return rms__error_nomem();
	op->priv = c;
	c->max_elements = s->opts.cim.max_elements ? s->opts.cim.max_elements : 32000;
	if (op->req->timeout_ms)
		c->deadline = rms__now_ms() + op->req->timeout_ms;
	if (!(c->ns = namespace_of(op)))
		return rms__error_nomem();
	int rc = client(&c->w, s, &op->cancelled);
	if (rc)
		return rc;
	if (op->req->kind == RMS_OP_GET_CLASS) {
		rc = get_class(c->w, c->ns, op->req->class_name, &op->cls);
		rms__wsman_free(c->w);
		c->w = NULL;
		op->finished = true;
		return rc;
	}
	bool stream = op->req->kind == RMS_OP_ENUMERATE || op->req->kind == RMS_OP_QUERY ||
	              op->req->kind == RMS_OP_ASSOCIATORS || op->req->kind == RMS_OP_REFERENCES;
	if (stream)
		return start_enumeration(op, c);
	rc = check_deadline(op, c);
	if (!rc)
		rc = run_single(op, c);
	/* A single request: its connection ends with it. */
	rms__wsman_free(c->w);
	c->w = NULL;
	op->finished = true;
	return rc;
}

static int cim_next_chunk(rms_op *op, rms_chunk *out)
{
	(void)op;
	(void)out;
	return rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_NONE,
	                      "the CIM backend cannot run commands; the PSSession backend can");
}

static void cim_op_free(rms_op *op)
{
	struct cim_op *c = op->priv;
	if (!c)
		return;
	if (c->in_page) {
		/* Freed in the middle of a page: the context that page carried
		 * (read before its items) is the one to release. */
		if (c->page.context) {
			free(c->context);
			c->context = c->page.context;
			c->page.context = NULL;
		}
		rms__enum_page_free(&c->page);
		rms__wsman_reply_free(&c->reply);
		c->in_page = false;
	}
	/* An enumeration closed early: tell the server to drop its context,
	 * on the same connection, before that connection goes. Not when the
	 * connection or the context is already gone (a timeout, a dropped
	 * connection, an invalid context): that would only wait on a server
	 * that stopped answering. A cancelled op still releases, briefly. */
	int failed = op->error ? rms_error_code(op->error) : 0;
	bool dead = failed == RMS_E_TIMEOUT || failed == RMS_E_CONNECTION_LOST ||
	            failed == RMS_E_CONNECT || failed == RMS_E_PROTOCOL ||
	            rms_error_wsman_code(op->error) == 2150858779u;
	if (c->w && c->context && !c->end && !dead) {
		rms__wsman_set_cancel(c->w, NULL);
		rms__wsman_set_deadline(c->w, 5000);
		rms_buf body;
		rms__buf_init(&body);
		if (rms__body_release(&body, c->context) == 0) {
			rms_wsman_request req = { .action = RMS_ACTION_RELEASE,
				                  .resource_uri = c->uri,
				                  .cim_namespace = c->dmtf ? c->ns : NULL,
				                  .body = body.data };
			rms_wsman_reply reply;
			if (rms__wsman_send(c->w, &req, &reply) == 0)
				rms__wsman_reply_free(&reply);
			else
				rms__log(&op->session->log, RMS_LOG_WARNING,
				         "%s: releasing an enumeration failed: %s",
				         op->session->name, rms_error_message(rms_error_last()));
		}
		rms__buf_free(&body);
	}
	rms__wsman_free(c->w);
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
	.close = cim_close,
	.destroy = cim_destroy,
	.start = cim_start,
	.next = cim_next,
	.next_chunk = cim_next_chunk,
	.op_free = cim_op_free,
};
