/*
 * CIM instances: an ordered set of named, typed properties with a class, a
 * namespace and optionally the instance's own reference.
 */
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "value_internal.h"

int rms_instance_new(rms_instance **out, const char *cim_namespace, const char *class_name)
{
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "rms_instance_new: out is NULL");
	*out = NULL;
	int rc = rms__check_namespace("cim_namespace", cim_namespace, true);
	if (rc == 0)
		rc = rms__check_cim_name("class_name", class_name, true);
	if (rc)
		return rc;
	rms_instance *inst = calloc(1, sizeof *inst);
	if (!inst)
		return rms__error_nomem();
	if (rms__set_str(&inst->cim_namespace, cim_namespace) ||
	    rms__set_str(&inst->class_name, class_name)) {
		rms_instance_free(inst);
		return rms__error_nomem();
	}
	*out = inst;
	return 0;
}

void rms_instance_free(rms_instance *inst)
{
	if (!inst)
		return;
	for (size_t i = 0; i < inst->count; i++) {
		free(inst->props[i].name);
		rms_value_free(inst->props[i].value);
	}
	free(inst->props);
	rms_ref_free(inst->ref);
	free(inst->cim_namespace);
	free(inst->class_name);
	free(inst);
}

int rms_instance_dup(rms_instance **out, const rms_instance *inst)
{
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "rms_instance_dup: out is NULL");
	*out = NULL;
	if (!inst)
		return rms__error_field(RMS_E_INVALID_ARG, "inst",
		                        "rms_instance_dup: inst is NULL");
	rms_instance *d;
	int rc = rms_instance_new(&d, inst->cim_namespace, inst->class_name);
	if (rc)
		return rc;
	if (inst->ref)
		rc = rms_instance_set_ref(d, inst->ref);
	for (size_t i = 0; i < inst->count && rc == 0; i++) {
		rms_value *v;
		rc = rms_value_dup(&v, inst->props[i].value);
		if (rc == 0 && (rc = rms_instance_set(d, inst->props[i].name, v,
		                                      inst->props[i].flags)) != 0)
			rms_value_free(v);
	}
	if (rc) {
		rms_instance_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

const char *rms_instance_class_name(const rms_instance *inst)
{
	return inst ? inst->class_name : NULL;
}

const char *rms_instance_namespace(const rms_instance *inst)
{
	return inst ? inst->cim_namespace : NULL;
}

const rms_ref *rms_instance_ref(const rms_instance *inst)
{
	return inst ? inst->ref : NULL;
}

/* A NULL ref removes the instance's reference. */
int rms_instance_set_ref(rms_instance *inst, const rms_ref *ref)
{
	if (!inst)
		return rms__error_field(RMS_E_INVALID_ARG, "inst",
		                        "rms_instance_set_ref: inst is NULL");
	rms_ref *copy = NULL;
	if (ref) {
		int rc = rms_ref_dup(&copy, ref);
		if (rc)
			return rc;
	}
	rms_ref_free(inst->ref);
	inst->ref = copy;
	return 0;
}

/* FNV-1a over the ASCII-lower-cased name. Decoding an instance looks up
 * every property it adds, so lookups must not cost a string compare each. */
static struct rms_property *find_property(const rms_instance *inst, const char *name)
{
	uint32_t h = rms__name_hash(name);
	for (size_t i = 0; i < inst->count; i++)
		if (inst->props[i].hash == h && rms__streq_nocase(inst->props[i].name, name))
			return &inst->props[i];
	return NULL;
}

int rms_instance_set(rms_instance *inst, const char *name, rms_value *value, unsigned flags)
{
	if (!inst)
		return rms__error_field(RMS_E_INVALID_ARG, "inst",
		                        "rms_instance_set: inst is NULL");
	int rc = rms__check_text("property name", name, false);
	if (rc)
		return rc;
	if (!value)
		return rms__error_field(RMS_E_INVALID_ARG, "value",
		                        "property %s: value is NULL (use rms_value_new_null for a "
		                        "null value)",
		                        name);
	struct rms_property *p = find_property(inst, name);
	if (p) {
		/* Replacing keeps the position and the first spelling of the name. */
		if (p->value != value)
			rms_value_free(p->value);
		p->value = value;
		p->flags = flags;
		return 0;
	}
	if ((rc = rms__instance_append(inst, name, value)))
		return rc;
	inst->props[inst->count - 1].flags = flags;
	return 0;
}

int rms__instance_append(rms_instance *inst, const char *name, rms_value *value)
{
	if (inst->count == inst->cap) {
		size_t cap = inst->cap ? inst->cap * 2 : 8;
		struct rms_property *props = realloc(inst->props, cap * sizeof *props);
		if (!props)
			return rms__error_nomem();
		inst->props = props;
		inst->cap = cap;
	}
	char *n = strdup(name);
	if (!n)
		return rms__error_nomem();
	inst->props[inst->count++] = (struct rms_property){ n, value, 0, rms__name_hash(n) };
	return 0;
}

size_t rms_instance_count(const rms_instance *inst)
{
	return inst ? inst->count : 0;
}

int rms_instance_at(const rms_instance *inst, size_t i, const char **name,
                    const rms_value **value, unsigned *flags)
{
	if (!inst)
		return rms__error_field(RMS_E_INVALID_ARG, "inst", "rms_instance_at: inst is NULL");
	if (i >= inst->count)
		return rms__error_set(RMS_E_NOT_FOUND, RMS_PHASE_NONE,
		                      "property index %zu is past the end (the instance has %zu)",
		                      i, inst->count);
	if (name)
		*name = inst->props[i].name;
	if (value)
		*value = inst->props[i].value;
	if (flags)
		*flags = inst->props[i].flags;
	return 0;
}

const rms_value *rms_instance_get(const rms_instance *inst, const char *name)
{
	if (!inst || !name)
		return NULL;
	const struct rms_property *p = find_property(inst, name);
	return p ? p->value : NULL;
}

/*
 * Flags and the instance's own reference are not compared: they say how the
 * instance was obtained, not what it is, and differ between backends. An
 * unknown (NULL) namespace matches any (see rms__namespace_equal).
 */
bool rms_instance_equal(const rms_instance *a, const rms_instance *b)
{
	if (a == b)
		return true;
	if (!a || !b || !rms__streq_nocase(a->class_name, b->class_name) ||
	    !rms__namespace_equal(a->cim_namespace, b->cim_namespace) || a->count != b->count)
		return false;
	/* Unique names and equal counts: every name of a found in b means the same set. */
	for (size_t i = 0; i < a->count; i++) {
		const struct rms_property *pb = find_property(b, a->props[i].name);
		if (!pb || !rms_value_equal(a->props[i].value, pb->value))
			return false;
	}
	return true;
}

int rms__instance_text_append(rms_buf *b, const rms_instance *inst)
{
	rms__buf_puts(b, "instance of ");
	rms__buf_puts(b, inst->class_name ? inst->class_name : "(unknown class)");
	rms__buf_puts(b, " {");
	for (size_t i = 0; i < inst->count; i++) {
		rms__buf_puts(b, " ");
		rms__buf_puts(b, inst->props[i].name);
		rms__buf_puts(b, " = ");
		int rc = rms__value_text_append(b, inst->props[i].value, true);
		if (rc)
			return rc;
		rms__buf_puts(b, ";");
	}
	return rms__buf_puts(b, " }") ? rms__error_nomem() : 0;
}

/* Characters, not bytes, so non-ASCII names line up. */
static size_t utf8_width(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/*
 * Like Format-List: names padded to the longest, " : ", the value's text
 * (strings as they are, null as "(null)" so it stays distinct from ""); the
 * lines of a multi-line value after the first are indented under the value
 * column. Every line ends in '\n'; an instance without properties gives "".
 */
int rms_instance_to_text(char **out, const rms_instance *inst)
{
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out",
		                        "rms_instance_to_text: out is NULL");
	*out = NULL;
	if (!inst)
		return rms__error_field(RMS_E_INVALID_ARG, "inst",
		                        "rms_instance_to_text: inst is NULL");
	size_t width = 0;
	for (size_t i = 0; i < inst->count; i++) {
		size_t w = utf8_width(inst->props[i].name);
		if (w > width)
			width = w;
	}
	rms_buf b, val;
	rms__buf_init(&b);
	rms__buf_init(&val);
	int rc = 0;
	for (size_t i = 0; i < inst->count && rc == 0; i++) {
		const char *name = inst->props[i].name;
		rms__buf_puts(&b, name);
		rms__buf_printf(&b, "%*s : ", (int)(width - utf8_width(name)), "");
		val.len = 0;
		rc = rms__value_text_append(&val, inst->props[i].value, false);
		if (rc)
			break;
		const char *line = val.data ? val.data : "";
		for (;;) {
			const char *nl = strchr(line, '\n');
			if (!nl) {
				rms__buf_puts(&b, line);
				rms__buf_puts(&b, "\n");
				break;
			}
			rms__buf_append(&b, line, (size_t)(nl + 1 - line));
			rms__buf_printf(&b, "%*s", (int)(width + 3), "");
			line = nl + 1;
		}
		if (b.failed || val.failed)
			rc = rms__error_nomem();
	}
	rms__buf_free(&val);
	if (rc) {
		rms__buf_free(&b);
		return rc;
	}
	*out = rms__buf_take(&b);
	return *out ? 0 : rms__error_nomem();
}
