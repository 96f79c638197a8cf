/*
 * JSON forms of values, references and instances, built and written with
 * jansson.
 */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "value_internal.h"

/* Each builder returns 0 or an error code (already raised); *out is a new
 * reference on success. */
static int value_json(json_t **out, const rms_value *v);
static int ref_json(json_t **out, const rms_ref *ref);
static int instance_json(json_t **out, const rms_instance *inst);
static int psobject_json(json_t **out, const rms_psobject *o);

/* jansson returns NULL only when it cannot allocate (the inputs are checked
 * UTF-8), so a NULL from it is out of memory. */
static int ok_or_nomem(json_t *j)
{
	return j ? 0 : rms__error_nomem();
}

/* Set o[key] = v, consuming v even on failure, as json_object_set_new does. */
static int put(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v) ? rms__error_nomem() : 0;
}

static json_t *string_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static int ref_json(json_t **out, const rms_ref *ref)
{
	json_t *o = json_object(), *sel = json_object();
	int rc = ok_or_nomem(o && sel ? o : NULL);
	if (rc == 0)
		rc = put(o, "class", string_or_null(ref->class_name));
	if (rc == 0)
		rc = put(o, "namespace", string_or_null(ref->cim_namespace));
	if (rc == 0)
		rc = put(o, "selectors", json_incref(sel));
	for (size_t i = 0; i < ref->nsel && rc == 0; i++) {
		const struct rms_selector *s = &ref->sel[i];
		json_t *val = NULL;
		if (s->ref)
			rc = ref_json(&val, s->ref);
		else
			rc = ok_or_nomem(val = json_string(s->value));
		if (rc == 0)
			rc = put(sel, s->name, val);
	}
	if (rc == 0 && ref->address)
		rc = put(o, "address", json_string(ref->address));
	if (rc == 0 && ref->resource_uri)
		rc = put(o, "resource_uri", json_string(ref->resource_uri));
	json_decref(sel);
	if (rc) {
		json_decref(o);
		return rc;
	}
	*out = o;
	return 0;
}

static int instance_json(json_t **out, const rms_instance *inst)
{
	json_t *o = json_object(), *props = json_object();
	int rc = ok_or_nomem(o && props ? o : NULL);
	if (rc == 0)
		rc = put(o, "class", string_or_null(inst->class_name));
	if (rc == 0)
		rc = put(o, "namespace", string_or_null(inst->cim_namespace));
	if (rc == 0)
		rc = put(o, "properties", json_incref(props));
	for (size_t i = 0; i < inst->count && rc == 0; i++) {
		json_t *val = NULL;
		rc = value_json(&val, inst->props[i].value);
		if (rc == 0)
			rc = put(props, inst->props[i].name, val);
	}
	if (rc == 0 && inst->ref) {
		json_t *r = NULL;
		rc = ref_json(&r, inst->ref);
		if (rc == 0)
			rc = put(o, "ref", r);
	}
	json_decref(props);
	if (rc) {
		json_decref(o);
		return rc;
	}
	*out = o;
	return 0;
}

/* NaN and the infinities have no JSON number; they become strings. A real32
 * goes through its shortest decimal text, so 0.1f is written 0.1 rather than
 * the double nearest to the float (0.10000000149011612). */
static int real_json(json_t **out, double d, bool real32)
{
	char text[RMS_REAL_TEXT_MAX];
	if (isnan(d) || isinf(d)) {
		rms__real_format(text, d, real32);
		return ok_or_nomem(*out = json_string(text));
	}
	if (real32) {
		rms__real_format(text, d, true);
		int rc = rms__real_parse(&d, text, false);
		if (rc)
			return rc;
	}
	return ok_or_nomem(*out = json_real(d));
}

/* The xs form, or the DMTF form for what xs cannot write: wildcards, and UTC
 * offsets beyond xs:dateTime's +-14:00 (DMTF allows +-999 minutes). */
static int datetime_json(json_t **out, const rms_datetime *dt)
{
	char text[RMS_DATETIME_XS_MAX];
	int rc = dt->wildcards ? RMS_E_RANGE : rms_datetime_format_xs(dt, text, sizeof text);
	if (rc)
		rc = rms_datetime_format_dmtf(dt, text, sizeof text);
	if (rc)
		return rc;
	return ok_or_nomem(*out = json_string(text));
}

/* A number as ConvertTo-Json writes a decimal, as far as a double carries it:
 * an integer when there is no fraction, else a real; text with more than 15
 * significant digits (what a double keeps exactly) stays a string. */
static int decimal_json(json_t **out, const char *text)
{
	size_t significant = 0, int_digits = 0;
	bool leading = true, frac = false;
	for (const char *p = text; *p; p++) {
		if (*p == '.') {
			frac = true;
		} else if (*p >= '0' && *p <= '9') {
			leading = leading && *p == '0';
			significant += !leading;
			int_digits += !frac;
		}
	}
	if (significant > 15)
		return ok_or_nomem(*out = json_string(text));
	if (!frac && int_digits <= 18) {
		long long n = strtoll(text, NULL, 10);
		return ok_or_nomem(*out = json_integer((json_int_t)n));
	}
	double d;
	int rc = rms__real_parse(&d, text, false);
	if (rc)
		return rc;
	return ok_or_nomem(*out = json_real(d));
}

static int bytes_json(json_t **out, const unsigned char *data, size_t len)
{
	json_t *a = json_array();
	int rc = ok_or_nomem(a);
	for (size_t i = 0; i < len && rc == 0; i++)
		if (json_array_append_new(a, json_integer(data[i])))
			rc = rms__error_nomem();
	if (rc) {
		json_decref(a);
		return rc;
	}
	*out = a;
	return 0;
}

/* What ConvertTo-Json makes of the deserialized object: a dictionary an
 * object (keys in their one-line text form; keys whose texts coincide keep
 * the last value), a list an array, a wrapped value that value (Get-Date's
 * DateTime with its DisplayHint note is the date), an object with
 * properties an object of them, else the ToString text, else {}. */
static int psobject_json(json_t **out, const rms_psobject *o)
{
	*out = NULL;
	int rc = 0;
	if (o->kind == RMS_PS_COLLECTION_NONE && o->base)
		return value_json(out, o->base);
	if (o->kind == RMS_PS_COLLECTION_DICTIONARY ||
	    (o->kind == RMS_PS_COLLECTION_NONE && o->nprops)) {
		bool dict = o->kind == RMS_PS_COLLECTION_DICTIONARY;
		size_t n = dict ? o->nitems : o->nprops;
		json_t *obj = json_object();
		rms_buf key;
		rms__buf_init(&key);
		rc = ok_or_nomem(obj);
		for (size_t i = 0; i < n && rc == 0; i++) {
			const char *name = dict ? NULL : o->props[i].name;
			if (dict) {
				key.len = 0;
				rc = rms__value_text_append(&key, o->items[i].key, false);
				name = key.data ? key.data : "";
			}
			json_t *val = NULL;
			if (rc == 0)
				rc = value_json(&val, dict ? o->items[i].value : o->props[i].value);
			if (rc == 0)
				rc = put(obj, name, val);
		}
		rms__buf_free(&key);
		if (rc) {
			json_decref(obj);
			return rc;
		}
		*out = obj;
		return 0;
	}
	if (o->kind != RMS_PS_COLLECTION_NONE) {
		json_t *a = json_array();
		rc = ok_or_nomem(a);
		for (size_t i = 0; i < o->nitems && rc == 0; i++) {
			json_t *e;
			rc = value_json(&e, o->items[i].value);
			if (rc == 0 && json_array_append_new(a, e))
				rc = rms__error_nomem();
		}
		if (rc) {
			json_decref(a);
			return rc;
		}
		*out = a;
		return 0;
	}
	if (o->base)
		return value_json(out, o->base);
	if (o->to_string)
		return ok_or_nomem(*out = json_string(o->to_string));
	return ok_or_nomem(*out = json_object());
}

static int value_json(json_t **out, const rms_value *v)
{
	*out = NULL;
	if (v->is_null)
		return ok_or_nomem(*out = json_null());
	if (RMS_TYPE_IS_ARRAY(v->type)) {
		json_t *a = json_array();
		int rc = ok_or_nomem(a);
		for (size_t i = 0; i < v->u.arr.len && rc == 0; i++) {
			json_t *e;
			rc = value_json(&e, v->u.arr.items[i]);
			if (rc == 0 && json_array_append_new(a, e))
				rc = rms__error_nomem();
		}
		if (rc) {
			json_decref(a);
			return rc;
		}
		*out = a;
		return 0;
	}
	char buf[8];
	switch (v->type) {
	case RMS_TYPE_BOOLEAN: return ok_or_nomem(*out = json_boolean(v->u.b));
	case RMS_TYPE_UINT8:
	case RMS_TYPE_UINT16:
	case RMS_TYPE_UINT32:
	case RMS_TYPE_UINT64:
		if (v->u.u > (uint64_t)INT64_MAX) {
			char num[24];
			snprintf(num, sizeof num, "%" PRIu64, v->u.u);
			return ok_or_nomem(*out = json_string(num));
		}
		return ok_or_nomem(*out = json_integer((json_int_t)v->u.u));
	case RMS_TYPE_SINT8:
	case RMS_TYPE_SINT16:
	case RMS_TYPE_SINT32:
	case RMS_TYPE_SINT64: return ok_or_nomem(*out = json_integer((json_int_t)v->u.i));
	case RMS_TYPE_REAL32: return real_json(out, v->u.f32, true);
	case RMS_TYPE_REAL64: return real_json(out, v->u.f64, false);
	case RMS_TYPE_CHAR16:
		/* json_stringn so that U+0000 is kept (written \u0000). */
		return ok_or_nomem(*out = json_stringn(buf, rms__utf8_encode(v->u.c16, buf)));
	case RMS_TYPE_DATETIME: return datetime_json(out, &v->u.dt);
	case RMS_TYPE_STRING: return ok_or_nomem(*out = json_string(v->u.s));
	case RMS_TYPE_REFERENCE: return ref_json(out, v->u.ref);
	case RMS_TYPE_INSTANCE: return instance_json(out, v->u.inst);
	case RMS_TYPE_DECIMAL: return decimal_json(out, v->u.s);
	case RMS_TYPE_GUID:
	case RMS_TYPE_VERSION:
	case RMS_TYPE_URI:
	case RMS_TYPE_XML:
	case RMS_TYPE_SCRIPTBLOCK: return ok_or_nomem(*out = json_string(v->u.s));
	case RMS_TYPE_TIMESPAN: {
		char ts[RMS_TIMESPAN_TEXT_MAX];
		rms__timespan_format_c(ts, v->u.i);
		return ok_or_nomem(*out = json_string(ts));
	}
	case RMS_TYPE_BYTES: return bytes_json(out, v->u.bytes.data, v->u.bytes.len);
	case RMS_TYPE_OBJECT: return psobject_json(out, v->u.obj);
	default:
		return rms__error_set(RMS_E_INTERNAL, RMS_PHASE_NONE, "value of bad type %d",
		                      (int)v->type);
	}
}

json_t *rms__value_json(const rms_value *v)
{
	json_t *j = NULL;
	return v && value_json(&j, v) == 0 ? j : NULL;
}

json_t *rms__instance_json(const rms_instance *inst)
{
	json_t *j = NULL;
	return inst && instance_json(&j, inst) == 0 ? j : NULL;
}

json_t *rms__ref_json(const rms_ref *ref)
{
	json_t *j = NULL;
	return ref && ref_json(&j, ref) == 0 ? j : NULL;
}

json_t *rms__psobject_json(const rms_psobject *obj)
{
	json_t *j = NULL;
	return obj && psobject_json(&j, obj) == 0 ? j : NULL;
}

/* Significant digits a real needs for jansson's "%.*g" to print it so that
 * it reads back exactly and, for integral values, without an exponent. */
static int real_digits(double d)
{
	int p = 1;
	char buf[40];
	for (; p < 17; p++) {
		snprintf(buf, sizeof buf, "%.*g", p, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	double mag = fabs(d);
	if (mag >= 1 && mag < 1e17) {
		int int_digits = (int)floor(log10(mag)) + 1;
		if (int_digits > p)
			p = int_digits;
	}
	return p;
}

/* jansson takes one precision for a whole dump: the most any real in the
 * tree needs, so a lone 0.1 prints as 0.1, not 0.10000000000000001. */
static int needed_precision(const json_t *j)
{
	int p = 1;
	if (json_is_real(j)) {
		p = real_digits(json_real_value(j));
	} else if (json_is_object(j)) {
		const char *k;
		const json_t *v;
		json_object_foreach((json_t *)(uintptr_t)j, k, v) {
			int q = needed_precision(v);
			p = q > p ? q : p;
		}
	} else if (json_is_array(j)) {
		for (size_t i = 0; i < json_array_size(j); i++) {
			int q = needed_precision(json_array_get(j, i));
			p = q > p ? q : p;
		}
	}
	return p;
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
	return rms__buf_append(data, buffer, size) ? -1 : 0;
}

char *rms__json_dump(const json_t *j)
{
	rms_buf b;
	rms__buf_init(&b);
	/* Compact output escapes newlines inside strings, so the result is one
	 * line; JSON_ENCODE_ANY lets a bare scalar (a null, a number) through. */
	size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
	               JSON_REAL_PRECISION(needed_precision(j));
	if (json_dump_callback(j, dump_cb, &b, flags) != 0) {
		rms__buf_free(&b);
		rms__error_nomem();
		return NULL;
	}
	char *s = rms__buf_take(&b);
	if (!s)
		rms__error_nomem();
	return s;
}

static int dump_out(char **out, json_t *j)
{
	*out = rms__json_dump(j);
	json_decref(j);
	return *out ? 0 : RMS_E_NOMEM;
}

int rms_value_to_json(char **out, const rms_value *v)
{
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "rms_value_to_json: out is NULL");
	*out = NULL;
	if (!v)
		return rms__error_field(RMS_E_INVALID_ARG, "v", "rms_value_to_json: value is NULL");
	json_t *j;
	int rc = value_json(&j, v);
	return rc ? rc : dump_out(out, j);
}

int rms_instance_to_json(char **out, const rms_instance *inst)
{
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out",
		                        "rms_instance_to_json: out is NULL");
	*out = NULL;
	if (!inst)
		return rms__error_field(RMS_E_INVALID_ARG, "inst",
		                        "rms_instance_to_json: inst is NULL");
	json_t *j;
	int rc = instance_json(&j, inst);
	return rc ? rc : dump_out(out, j);
}
