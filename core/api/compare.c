/*
 * Side-by-side comparison: one request on both backends of a target, one
 * after the other (CIM first), and a record of how each side did and
 * whether their results are equal.
 *
 * Results are held in memory for the comparison (it is meant for behaviour
 * tests and diagnostics, not for million-instance classes). Enumerations
 * and queries have no defined order (WS-Enumeration leaves it to the
 * provider), so their instances are matched by key: class name and key
 * properties (or the whole instance when no key is known), sorted. Arrays,
 * command output and single results compare in order.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "value_internal.h"

/* Longest value text kept in the record for a difference. */
#define VALUE_TEXT_MAX 512

typedef struct item {
	char *key; /* sort key */
	rms_instance *inst;
} item;

/* What one side produced. */
typedef struct side_result {
	item *items;
	size_t n, cap;
	rms_instance *single; /* get / modify / invoke / identify */
	rms_ref *created;     /* create */
	rms_buf out, err;     /* run */
	int exit_code;
	bool have_exit_code;
} side_result;

struct rms_comparison {
	rms_op_kind kind;
	bool equal;
	char *where;
	char *cim_value;
	char *ps_value;
	rms_side_report sides[2];
	rms_error *errors[2];
};

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void result_free(side_result *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->items[i].key);
		rms_instance_free(r->items[i].inst);
	}
	free(r->items);
	rms_instance_free(r->single);
	rms_ref_free(r->created);
	rms__buf_free(&r->out);
	rms__buf_free(&r->err);
	memset(r, 0, sizeof *r);
}

static size_t key_count(const rms_instance *inst)
{
	size_t keys = 0;
	for (size_t i = 0; i < inst->count; i++)
		keys += (inst->props[i].flags & RMS_PROP_KEY) != 0;
	return keys;
}

/* Class and properties in name order: Class.A="x",B="y". With by_key, the
 * key properties only; otherwise all of them (the same instance gives the
 * same text whatever order its properties came in). */
static char *sort_key(const rms_instance *inst, bool by_key)
{
	rms_buf b;
	rms__buf_init(&b);
	rms__buf_puts(&b, inst->class_name ? inst->class_name : "");
	size_t keys = by_key ? key_count(inst) : inst->count;
	/* Selection in name order (names are unique case-insensitively). */
	const char *last = NULL;
	for (size_t k = 0; k < keys; k++) {
		const struct rms_property *best = NULL;
		for (size_t i = 0; i < inst->count; i++) {
			const struct rms_property *p = &inst->props[i];
			if ((by_key && !(p->flags & RMS_PROP_KEY)) ||
			    (last && rms__strcasecmp(p->name, last) <= 0))
				continue;
			if (!best || rms__strcasecmp(p->name, best->name) < 0)
				best = p;
		}
		if (!best)
			break;
		rms__buf_puts(&b, k ? "," : ".");
		rms__buf_puts(&b, best->name);
		rms__buf_puts(&b, "=");
		if (rms__value_text_append(&b, best->value, true)) {
			rms__buf_free(&b);
			return NULL;
		}
		last = best->name;
	}
	return rms__buf_take(&b);
}

static int add_item(side_result *r, rms_instance *inst)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		item *grown = realloc(r->items, cap * sizeof *grown);
		if (!grown)
			return rms__error_nomem();
		r->items = grown;
		r->cap = cap;
	}
	r->items[r->n++] = (item){ NULL, inst };
	return 0;
}

static int item_cmp(const void *a, const void *b)
{
	return strcmp(((const item *)a)->key, ((const item *)b)->key);
}

/* Sort keys for both sides: by key properties when every instance of both
 * has them (a schema-less side has none), else by all properties. */
static int sort_both(side_result *a, side_result *b)
{
	bool by_key = true;
	for (size_t i = 0; i < a->n && by_key; i++)
		by_key = key_count(a->items[i].inst) > 0;
	for (size_t i = 0; i < b->n && by_key; i++)
		by_key = key_count(b->items[i].inst) > 0;
	side_result *sides[2] = { a, b };
	for (int k = 0; k < 2; k++) {
		side_result *r = sides[k];
		for (size_t i = 0; i < r->n; i++) {
			free(r->items[i].key);
			if (!(r->items[i].key = sort_key(r->items[i].inst, by_key)))
				return rms__error_nomem();
		}
		qsort(r->items, r->n, sizeof *r->items, item_cmp);
	}
	return 0;
}

static bool streams(rms_op_kind k)
{
	return k == RMS_OP_ENUMERATE || k == RMS_OP_QUERY || k == RMS_OP_ASSOCIATORS ||
	       k == RMS_OP_REFERENCES;
}

/* Run the op to its end, keeping what it produced. */
static int collect(rms_op *op, side_result *r, uint64_t *items)
{
	int rc = 0;
	rms_op_kind kind = op->req->kind;
	if (streams(kind)) {
		rms_instance *inst;
		/* An instance that did not decode costs itself only (the
		 * comparison then shows it missing on this side). */
		while ((rc = rms_op_next(op, &inst)) == 0 || rc == RMS_E_SKIPPED) {
			if (rc == RMS_E_SKIPPED)
				continue;
			if ((rc = add_item(r, inst))) {
				rms_instance_free(inst);
				return rc;
			}
			(*items)++;
		}
		return rc == RMS_ITEROVER ? 0 : rc;
	}
	if (kind == RMS_OP_RUN) {
		rms_chunk c;
		while ((rc = rms_op_next_chunk(op, &c)) == 0) {
			rms_buf *dst = c.stream == RMS_STREAM_STDERR ? &r->err : &r->out;
			if (rms__buf_append(dst, c.data, c.len))
				return rms__error_nomem();
			*items += c.len;
		}
		if (rc != RMS_ITEROVER)
			return rc;
		r->have_exit_code = rms_op_exit_code(op, &r->exit_code) == 0;
		return 0;
	}
	if ((rc = rms_op_wait(op)))
		return rc;
	if (rms_op_result(op)) {
		if ((rc = rms_instance_dup(&r->single, rms_op_result(op))))
			return rc;
		*items = 1;
	}
	if (rms_op_created(op)) {
		if ((rc = rms_ref_dup(&r->created, rms_op_created(op))))
			return rc;
		*items = 1;
	}
	return 0;
}

static void stats_delta(rms_stats *d, const rms_stats *before, const rms_stats *after)
{
	memset(d, 0, sizeof *d);
	d->version = RMS_STATS_VERSION;
#define DELTA(f) d->f = after->f >= before->f ? after->f - before->f : 0
	DELTA(connections_opened);
	DELTA(requests);
	DELTA(round_trips);
	DELTA(bytes_sent);
	DELTA(bytes_received);
	DELTA(shells_opened);
	DELTA(operations);
#undef DELTA
	/* Levels, not counts: how things stand when the side ended. */
	d->connections_open = after->connections_open;
	d->shells_open = after->shells_open;
	d->largest_request = after->largest_request;
}

/* One side: session (made now if the target had none), op, results. */
static void run_side(rms_comparison *c, int idx, rms_backend b, rms_target *t,
                     const rms_request *req, side_result *r)
{
	rms_side_report *rep = &c->sides[idx];
	rep->backend = b;
	uint64_t t0 = now_us();
	rms_session *s = rms__target_peek(t, b);
	rep->session_created = s == NULL;
	rms_stats before = { .version = RMS_STATS_VERSION }, after = before;
	if (s)
		rms_session_stats(s, &before);
	int rc = rms_target_session(&s, t, b);
	if (rc) {
		rep->failed_at_creation = true;
	} else {
		rms_op *op = NULL;
		const char *why = b == RMS_BACKEND_CIM ? "compare: the CIM side"
		                                       : "compare: the PSSession side";
		if (!(rc = rms__op_start(&op, s, req, why)))
			rc = collect(op, r, &rep->items);
		if (rc && op && !rms_op_error(op))
			rms__op_fail(op, rc);
		rms_op_free(op);
		if (rc)
			rms__error_set_backend(b);
		rms_session_stats(s, &after);
	}
	rep->duration_us = now_us() - t0;
	stats_delta(&rep->traffic, &before, &after);
	if (rc) {
		rep->status = rc;
		c->errors[idx] = rms_error_dup(rms_error_last());
		rep->error = c->errors[idx];
		if (rc == RMS_E_LIMIT)
			rep->limit_hit = rms_error_limit_name(rep->error);
	}
}

/* ---- the difference ---------------------------------------------------------- */

static char *text_of(const rms_value *v)
{
	char *t = NULL;
	if (!v)
		return rms__strdup("(absent)");
	if (rms_value_to_text(&t, v))
		return NULL;
	size_t n = strlen(t);
	if (n > VALUE_TEXT_MAX) {
		n = rms__utf8_prefix(t, n, VALUE_TEXT_MAX - 3);
		memcpy(t + n, "...", 4);
	}
	return t;
}

static int set_difference(rms_comparison *c, char *where, char *cim, char *ps)
{
	if (!where || !cim || !ps) {
		free(where);
		free(cim);
		free(ps);
		return rms__error_nomem();
	}
	c->where = where;
	c->cim_value = cim;
	c->ps_value = ps;
	c->equal = false;
	return 0;
}

/* The first property (in CIM's order, then PSSession-only ones) whose
 * values differ; prefix names the instance. */
static int instance_difference(rms_comparison *c, const char *prefix, const rms_instance *a,
                               const rms_instance *b)
{
	if (!rms__streq_nocase(a->class_name, b->class_name))
		return set_difference(c, rms__asprintf("%sclass", prefix),
		                      rms__strdup(a->class_name ? a->class_name : "(none)"),
		                      rms__strdup(b->class_name ? b->class_name : "(none)"));
	for (size_t i = 0; i < a->count; i++) {
		const rms_value *vb = rms_instance_get(b, a->props[i].name);
		if (vb && rms_value_equal(a->props[i].value, vb))
			continue;
		return set_difference(c, rms__asprintf("%s%s", prefix, a->props[i].name),
		                      text_of(a->props[i].value), text_of(vb));
	}
	for (size_t i = 0; i < b->count; i++)
		if (!rms_instance_get(a, b->props[i].name))
			return set_difference(c, rms__asprintf("%s%s", prefix, b->props[i].name),
			                      text_of(NULL), text_of(b->props[i].value));
	if (!rms__namespace_equal(a->cim_namespace, b->cim_namespace))
		return set_difference(c, rms__asprintf("%snamespace", prefix),
		                      rms__strdup(a->cim_namespace), rms__strdup(b->cim_namespace));
	return 0;
}

static int stream_difference(rms_comparison *c, const side_result *a, const side_result *b)
{
	size_t i = 0, j = 0;
	while (i < a->n && j < b->n) {
		int k = strcmp(a->items[i].key, b->items[j].key);
		if (k == 0) {
			if (!rms_instance_equal(a->items[i].inst, b->items[j].inst)) {
				char *prefix = rms__asprintf("[%s].", a->items[i].key);
				if (!prefix)
					return rms__error_nomem();
				int rc = instance_difference(c, prefix, a->items[i].inst,
				                             b->items[j].inst);
				free(prefix);
				return rc;
			}
			i++;
			j++;
			continue;
		}
		/* An instance only one side has. */
		const char *key = k < 0 ? a->items[i].key : b->items[j].key;
		return set_difference(c, rms__asprintf("[%s]", key),
		                      rms__strdup(k < 0 ? "present" : "(absent)"),
		                      rms__strdup(k < 0 ? "(absent)" : "present"));
	}
	/* What is left on one side only: its first instance. */
	if (i < a->n)
		return set_difference(c, rms__asprintf("[%s]", a->items[i].key),
		                      rms__strdup("present"), rms__strdup("(absent)"));
	if (j < b->n)
		return set_difference(c, rms__asprintf("[%s]", b->items[j].key),
		                      rms__strdup("(absent)"), rms__strdup("present"));
	return 0;
}

/* Output as text for the record: the first bytes from offset at. */
static char *excerpt(const rms_buf *b, size_t at)
{
	size_t n = b->len > at ? b->len - at : 0;
	if (n > 80)
		n = 80;
	rms_buf o;
	rms__buf_init(&o);
	rms__buf_printf(&o, "%zu bytes", b->len);
	if (n) {
		rms__buf_printf(&o, ", from byte %zu: \"", at);
		for (size_t i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)b->data[at + i];
			if (ch >= 0x20 && ch < 0x7F && ch != '"' && ch != '\\')
				rms__buf_append(&o, &ch, 1);
			else
				rms__buf_printf(&o, "\\x%02X", ch);
		}
		rms__buf_puts(&o, "\"");
	}
	return rms__buf_take(&o);
}

static int bytes_difference(rms_comparison *c, const char *name, const rms_buf *a,
                            const rms_buf *b)
{
	size_t n = a->len < b->len ? a->len : b->len, at = 0;
	while (at < n && a->data[at] == b->data[at])
		at++;
	if (at == n && a->len == b->len)
		return 0;
	return set_difference(c, rms__strdup(name), excerpt(a, at), excerpt(b, at));
}

static int compare_results(rms_comparison *c, side_result *a, side_result *b)
{
	c->equal = true;
	if (streams(c->kind)) {
		int rc = sort_both(a, b);
		return rc ? rc : stream_difference(c, a, b);
	}
	if (c->kind == RMS_OP_RUN) {
		if (a->have_exit_code != b->have_exit_code || a->exit_code != b->exit_code)
			return set_difference(c, rms__strdup("exit_code"),
			                      rms__asprintf("%d", a->exit_code),
			                      rms__asprintf("%d", b->exit_code));
		int rc = bytes_difference(c, "stdout", &a->out, &b->out);
		if (!rc && c->equal)
			rc = bytes_difference(c, "stderr", &a->err, &b->err);
		return rc;
	}
	if (a->single || b->single) {
		if (!a->single || !b->single)
			return set_difference(c, rms__strdup("result"),
			                      rms__strdup(a->single ? "an instance" : "(none)"),
			                      rms__strdup(b->single ? "an instance" : "(none)"));
		if (!rms_instance_equal(a->single, b->single))
			return instance_difference(c, "", a->single, b->single);
	}
	if ((a->created || b->created) && !rms_ref_equal(a->created, b->created)) {
		char *ta = NULL, *tb = NULL;
		rms_value *va = NULL, *vb = NULL;
		if (a->created && !rms_value_new_reference(&va, a->created))
			ta = text_of(va);
		if (b->created && !rms_value_new_reference(&vb, b->created))
			tb = text_of(vb);
		rms_value_free(va);
		rms_value_free(vb);
		return set_difference(c, rms__strdup("created"), ta ? ta : rms__strdup("(none)"),
		                      tb ? tb : rms__strdup("(none)"));
	}
	return 0;
}

/* ---- public ------------------------------------------------------------------ */

int rms_compare(rms_comparison **out, rms_target *t, const rms_request *req)
{
	if (!out || !t || !req)
		return rms__error_field(RMS_E_INVALID_ARG,
		                                           !out ? "out" : !t ? "target" : "request",
		                                           "NULL argument");
	*out = NULL;
	if (req->stdin_fn)
		return rms__error_field(RMS_E_INVALID_ARG, "request",
		                                           "a comparison runs the command twice, "
		                                           "so its stdin must be a buffer "
		                                           "(rms_request_set_stdin), not a "
		                                           "callback");
	/* The op reads its output through the pull API here. */
	rms_request *copy;
	int rc = rms__request_dup(&copy, req);
	if (rc)
		return rc;
	copy->output_fn = NULL;
	copy->output_userdata = NULL;
	rms_comparison *c = calloc(1, sizeof *c);
	if (!c) {
		rms_request_free(copy);
		return rms__error_nomem();
	}
	c->kind = req->kind;
	side_result res[2];
	memset(res, 0, sizeof res);
	rms__buf_init(&res[0].out);
	rms__buf_init(&res[0].err);
	rms__buf_init(&res[1].out);
	rms__buf_init(&res[1].err);
	run_side(c, 0, RMS_BACKEND_CIM, t, copy, &res[0]);
	run_side(c, 1, RMS_BACKEND_PSSESSION, t, copy, &res[1]);
	rc = 0;
	if (c->sides[0].status == 0 && c->sides[1].status == 0)
		rc = compare_results(c, &res[0], &res[1]);
	result_free(&res[0]);
	result_free(&res[1]);
	rms_request_free(copy);
	if (rc) {
		rms_comparison_free(c);
		return rc;
	}
	*out = c;
	rms_error_clear();
	return 0;
}

int rms__comparison_from(rms_comparison **out, rms_op_kind kind,
                         const struct rms_compare_side sides[2])
{
	*out = NULL;
	rms_comparison *c = calloc(1, sizeof *c);
	if (!c)
		return rms__error_nomem();
	c->kind = kind;
	side_result res[2];
	memset(res, 0, sizeof res);
	int rc = 0;
	for (int k = 0; k < 2 && !rc; k++) {
		const struct rms_compare_side *in = &sides[k];
		side_result *r = &res[k];
		rms__buf_init(&r->out);
		rms__buf_init(&r->err);
		rms_side_report *rep = &c->sides[k];
		rep->backend = in->backend;
		rep->status = in->status;
		rep->duration_us = in->duration_us;
		rep->traffic = in->traffic;
		rep->session_created = in->session_created;
		rep->failed_at_creation = in->failed_at_creation;
		if (in->status) {
			if (in->error && !(c->errors[k] = rms_error_dup(in->error)))
				rc = rms__error_nomem();
			rep->error = c->errors[k];
			if (in->status == RMS_E_LIMIT && rep->error)
				rep->limit_hit = rms_error_limit_name(rep->error);
		}
		if (kind == RMS_OP_RUN) {
			if ((in->out_len && rms__buf_append(&r->out, in->out, in->out_len)) ||
			    (in->err_len && rms__buf_append(&r->err, in->err, in->err_len)))
				rc = rms__error_nomem();
			r->have_exit_code = in->have_exit_code;
			r->exit_code = in->exit_code;
			rep->items = in->out_len + in->err_len;
			continue;
		}
		for (size_t i = 0; i < in->nitems && !rc; i++) {
			rms_instance *dup;
			if ((rc = rms_instance_dup(&dup, in->items[i])))
				break;
			if (!streams(kind)) {
				r->single = dup;
				break;
			}
			if ((rc = add_item(r, dup)))
				rms_instance_free(dup);
		}
		rep->items = in->nitems;
	}
	if (!rc && c->sides[0].status == 0 && c->sides[1].status == 0)
		rc = compare_results(c, &res[0], &res[1]);
	result_free(&res[0]);
	result_free(&res[1]);
	if (rc) {
		rms_comparison_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void rms_comparison_free(rms_comparison *c)
{
	if (!c)
		return;
	free(c->where);
	free(c->cim_value);
	free(c->ps_value);
	rms_error_free(c->errors[0]);
	rms_error_free(c->errors[1]);
	free(c);
}

bool rms_comparison_equal(const rms_comparison *c) { return c && c->equal; }
const char *rms_comparison_where(const rms_comparison *c) { return c ? c->where : NULL; }
const char *rms_comparison_cim_value(const rms_comparison *c) { return c ? c->cim_value : NULL; }
const char *rms_comparison_pssession_value(const rms_comparison *c)
{
	return c ? c->ps_value : NULL;
}

const rms_side_report *rms_comparison_side(const rms_comparison *c, rms_backend backend)
{
	if (!c || (backend != RMS_BACKEND_CIM && backend != RMS_BACKEND_PSSESSION))
		return NULL;
	return &c->sides[backend == RMS_BACKEND_CIM ? 0 : 1];
}

static json_t *side_json(const rms_side_report *r)
{
	json_t *j = json_object();
	json_t *tr = json_object();
	if (!j || !tr) {
		json_decref(j);
		json_decref(tr);
		return NULL;
	}
	int bad = 0;
	bad |= json_object_set_new(j, "backend", json_string(rms_backend_name(r->backend)));
	bad |= json_object_set_new(j, "ok", json_boolean(r->status == 0));
	bad |= json_object_set_new(j, "session_created", json_boolean(r->session_created));
	bad |= json_object_set_new(j, "duration_us", json_integer((json_int_t)r->duration_us));
	bad |= json_object_set_new(j, "items", json_integer((json_int_t)r->items));
	bad |= json_object_set_new(j, "limit_hit",
	                           r->limit_hit ? json_string(r->limit_hit) : json_null());
#define TR(f) bad |= json_object_set_new(tr, #f, json_integer((json_int_t)r->traffic.f))
	TR(connections_opened);
	TR(connections_open);
	TR(requests);
	TR(round_trips);
	TR(bytes_sent);
	TR(bytes_received);
	TR(largest_request);
	TR(shells_opened);
	TR(shells_open);
	TR(operations);
#undef TR
	bad |= json_object_set_new(j, "traffic", tr);
	if (r->status) {
		json_t *e = json_object();
		bad |= json_object_set_new(j, "error", e);
		if (e) {
			bad |= json_object_set_new(e, "code", json_string(rms_error_code_name(r->status)));
			bad |= json_object_set_new(
			    e, "phase", json_string(rms_phase_name(rms_error_phase(r->error))));
			bad |= json_object_set_new(e, "at_creation",
			                           json_boolean(r->failed_at_creation));
			bad |= json_object_set_new(e, "message",
			                           json_string(r->error ? rms_error_message(r->error)
			                                                : rms_error_code_message(r->status)));
			if (r->limit_hit)
				bad |= json_object_set_new(
				    e, "limit", json_integer((json_int_t)rms_error_limit_value(r->error)));
		}
	} else {
		bad |= json_object_set_new(j, "error", json_null());
	}
	if (bad) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int rms_comparison_to_json(char **out, const rms_comparison *c)
{
	if (!out || !c)
		return rms__error_field(RMS_E_INVALID_ARG, out ? "comparison" : "out", "NULL argument");
	*out = NULL;
	json_t *j = json_object();
	json_t *sides = json_object();
	json_t *cim = side_json(&c->sides[0]), *ps = side_json(&c->sides[1]);
	int bad = !j || !sides || !cim || !ps;
	if (!bad) {
		bad |= json_object_set_new(j, "operation", json_string(rms_op_kind_name(c->kind)));
		bad |= json_object_set_new(j, "equal", json_boolean(c->equal));
		json_t *diff = json_null();
		if (c->where) {
			diff = json_object();
			if (diff) {
				bad |= json_object_set_new(diff, "where", json_string(c->where));
				bad |= json_object_set_new(diff, "cim", json_string(c->cim_value));
				bad |= json_object_set_new(diff, "pssession", json_string(c->ps_value));
			}
		}
		bad |= json_object_set_new(j, "difference", diff);
		bad |= json_object_set_new(sides, "cim", cim);
		bad |= json_object_set_new(sides, "pssession", ps);
		cim = ps = NULL;
		bad |= json_object_set_new(j, "sides", sides);
		sides = NULL;
	}
	json_decref(cim);
	json_decref(ps);
	json_decref(sides);
	if (bad) {
		json_decref(j);
		return rms__error_nomem();
	}
	*out = rms__json_dump(j);
	json_decref(j);
	return *out ? 0 : RMS_E_NOMEM;
}
