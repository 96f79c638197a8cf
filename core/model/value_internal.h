/*
 * Internal layout of values, references and instances, shared by value.c,
 * ref.c, instance.c and json.c, plus the text and JSON helpers other modules
 * (the CLI, the comparison record, the WS-CIM writer) build on.
 */
#ifndef RMS_CORE_VALUE_INTERNAL_H
#define RMS_CORE_VALUE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "datetime_internal.h"
#include "remsess/value.h"
#include "util.h"

struct rms_selector {
	char *name;
	char *value;  /* a string selector, or NULL ... */
	rms_ref *ref; /* ... a nested reference (exactly one of the two is set) */
};

/*
 * Invariants: selector names are unique case-insensitively; selectors keep
 * insertion order (a replaced selector keeps its position). class_name and
 * cim_namespace are NULL when unknown, never "".
 */
struct rms_ref {
	char *cim_namespace;
	char *class_name;
	char *address;
	char *resource_uri;
	struct rms_selector *sel;
	size_t nsel;
	size_t cap;
};

/*
 * A typed value. When is_null is set the union is unused (and holds no
 * memory). Signed integer types live in u.i, unsigned ones in u.u, always
 * within the range of their declared width. An array holds non-null scalar
 * elements of type RMS_TYPE_SCALAR(type), each its own rms_value.
 */
struct rms_value {
	rms_type type;
	bool is_null;
	union {
		bool b;
		uint64_t u;
		int64_t i;
		float f32;
		double f64;
		uint16_t c16;
		rms_datetime dt;
		char *s;
		rms_ref *ref;
		rms_instance *inst;
		struct {
			rms_value **items;
			size_t len;
			size_t cap;
		} arr;
	} u;
};

struct rms_property {
	char *name;
	rms_value *value;
	unsigned flags;
	uint32_t hash; /* of the name, case-folded: lookups compare this first */
};

/* Properties in the order first added; names unique case-insensitively. */
struct rms_instance {
	char *cim_namespace;
	char *class_name;
	rms_ref *ref; /* own reference, or NULL */
	struct rms_property *props;
	size_t count;
	size_t cap;
};

/* Decoder fast paths, for text that libxml2 has already checked (well-formed
 * UTF-8, no NUL) and names the decoder has proven unique and valid.
 * new_string_take owns utf8 (a malloc'd string) from the call on, freeing
 * it on failure; instance_append takes the value on success and does not
 * look for an existing property of that name. */
int rms__value_new_string_take(rms_value **out, char *utf8);
int rms__instance_append(rms_instance *inst, const char *name, rms_value *value);

/* ---- text ---------------------------------------------------------------- */

/* Big enough for any real printed by rms__real_format ("-1.2345678901234567e-308"). */
#define RMS_REAL_TEXT_MAX 32

/*
 * The shortest decimal text that reads back (with strtof for real32, strtod
 * for real64) to exactly v, independent of the C locale; "NaN", "INF" and
 * "-INF" for the special values. buf must hold RMS_REAL_TEXT_MAX bytes.
 */
void rms__real_format(char *buf, double v, bool real32);

/*
 * strtod (or strtof, for real32) of text that uses '.' as the decimal point,
 * whatever LC_NUMERIC says. The caller has checked the syntax. Returns 0 or
 * RMS_E_NOMEM.
 */
int rms__real_parse(double *out, const char *text, bool real32);

/*
 * Append the text form of v (see rms_value_to_text). With nested set, strings
 * and char16 are written quoted ("a \"b\"" with \" and \\ escaped), as they
 * appear inside arrays, instances and references; at top level they are
 * written as they are.
 */
int rms__value_text_append(rms_buf *b, const rms_value *v, bool nested);
/* WMI object-path form: [namespace:]Class.Key="v",Other="w". */
int rms__ref_text_append(rms_buf *b, const rms_ref *ref);
/* "instance of Class { Name = value; ... }" on one line. */
int rms__instance_text_append(rms_buf *b, const rms_instance *inst);
/* Append s between double quotes with \" and \\ escaped. */
int rms__text_quote_append(rms_buf *b, const char *s);

/* CIM namespaces compare case-insensitively, with '\' and '/' alike and
 * leading or trailing separators ignored. NULL (unknown) matches any. */
bool rms__namespace_equal(const char *a, const char *b);

/* ---- JSON --------------------------------------------------------------- */

/* New references (caller json_decref's), NULL on out of memory (the error is
 * then set). The shapes are those of rms_value_to_json / rms_instance_to_json. */
json_t *rms__value_json(const rms_value *v);
json_t *rms__instance_json(const rms_instance *inst);
json_t *rms__ref_json(const rms_ref *ref);
/*
 * Serialise j the way every remsess JSON output is written: compact, one
 * line, UTF-8 unescaped, keys in insertion order, reals with 17 significant
 * digits. Returns a string to free with rms_free (malloc'd by remsess, not by
 * jansson's allocator), NULL on out of memory (the error is then set).
 */
char *rms__json_dump(const json_t *j);

#endif
