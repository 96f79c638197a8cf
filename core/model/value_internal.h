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
 *
 * PowerShell types: the text ones (RMS_TYPE_IS_TEXT) keep their checked
 * text in u.s (a GUID lower case), a timespan its ticks in u.i, bytes an
 * owned buffer in u.bytes (data NULL when len is 0), an object its
 * rms_psobject in u.obj.
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
		rms_psobject *obj;
		struct {
			unsigned char *data;
			size_t len;
		} bytes;
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

/* Types whose value is a string in u.s: string and the PowerShell text types. */
#define RMS_TYPE_IS_TEXT(t)                                                                       \
	((t) == RMS_TYPE_STRING || (t) == RMS_TYPE_DECIMAL || (t) == RMS_TYPE_GUID ||             \
	 (t) == RMS_TYPE_VERSION || (t) == RMS_TYPE_URI || (t) == RMS_TYPE_XML ||                 \
	 (t) == RMS_TYPE_SCRIPTBLOCK)

/* Decoder fast paths, for text that libxml2 has already checked (well-formed
 * UTF-8, no NUL) and names the decoder has proven unique and valid.
 * new_string_take owns utf8 (a malloc'd string) from the call on, freeing
 * it on failure; instance_append takes the value on success and does not
 * look for an existing property of that name. */
int rms__value_new_string_take(rms_value **out, char *utf8);
/* A scalar from its text as WS-Man carries it: a char16 is its decimal code
 * unit ("67" for 'C', as OMI writes every char16; a lone digit is a code
 * unit too, as core/wsman/wscim.c reads it) or else the one character;
 * every other type as rms_value_from_text (booleans in any case, OMI's
 * TRUE included). */
int rms__value_from_wire_text(rms_value **out, rms_type type, const char *text);
int rms__instance_append(rms_instance *inst, const char *name, rms_value *value);

/* ---- PowerShell values and objects ----------------------------------------- */

/*
 * A text value of type string, decimal, GUID, version, URI, XML or script
 * block, from a malloc'd string owned from the call on (freed on failure,
 * kept by the value on success, a GUID lower-cased in place). Checked as the
 * public constructors check it: valid UTF-8, and the shape of a decimal,
 * GUID or version (RMS_E_INVALID_ARG with the reason).
 */
int rms__value_new_text_take(rms_value **out, rms_type type, char *owned_text);
/* Bytes from a malloc'd buffer owned from the call on (freed on failure);
 * data may be NULL when len is 0. */
int rms__value_new_bytes_take(rms_value **out, unsigned char *data, size_t len);

/* Base64 (RFC 4648, with '=' padding). The decoder skips XML whitespace
 * (space, tab, CR, LF) anywhere and refuses anything else outside the
 * alphabet, and bad padding: RMS_E_PARSE. *out is malloc'd (NULL when
 * *len is 0). */

/*
 * TimeSpan texts. The constant ("c") form is "[-][d.]hh:mm:ss[.fffffff]"
 * (the fraction only when nonzero, always 7 digits when written; 1..7 read).
 * The XML form is what .NET's XmlConvert writes for a TimeSpan (CLIXML <TS>):
 * "[-]P[nD][T[nH][nM][n[.f]S]]" (digits past the 7th of the fraction are
 * dropped; no years or months). Parsers: 0, RMS_E_PARSE or RMS_E_RANGE
 * (beyond int64 ticks), with the reason raised.
 */
#define RMS_TIMESPAN_TEXT_MAX 32
void rms__timespan_format_c(char buf[RMS_TIMESPAN_TEXT_MAX], int64_t ticks);
int rms__timespan_parse_c(int64_t *ticks, const char *text);
int rms__timespan_parse_xs(int64_t *ticks, const char *text);

/* Open-addressing index over an array's positions: slot holds position + 1,
 * 0 for empty; cap is a power of two (0 while unused). */
struct rms_ps_index {
	size_t *slots;
	size_t cap;
};

/* An item of a list (key NULL), or an entry of a dictionary. hash is the
 * key's rms__value_hash (0 for a list item). */
struct rms_ps_item {
	rms_value *key;
	rms_value *value;
	uint32_t hash;
};

/*
 * Invariants: type names non-empty; to_string NULL when absent; base NULL
 * or a value; kind set before the first item and fixed from then on; a
 * list's items have key NULL, a dictionary's keys are non-null values
 * unique by rms_value_equal, found through keys (built once a dictionary
 * has more than a few entries); property names unique case-insensitively,
 * kept in the order first set, found through props_index likewise.
 */
struct rms_psobject {
	char **type_names;
	size_t ntype_names;
	size_t type_names_cap;
	char *to_string;
	rms_value *base;
	rms_ps_collection kind;
	struct rms_ps_item *items;
	size_t nitems;
	size_t items_cap;
	struct rms_ps_index keys;
	struct rms_property *props;
	size_t nprops;
	size_t props_cap;
	struct rms_ps_index props_index;
};

/* A hash of v consistent with rms_value_equal: equal values hash equal. */
uint32_t rms__value_hash(const rms_value *v);
/* FNV-1a of the ASCII-lower-cased name, as rms_property.hash holds. */
uint32_t rms__name_hash(const char *name);

/*
 * Decoder fast paths for objects. The *_take forms own their malloc'd
 * string from the call on (freed on failure, or when set_take replaces an
 * existing property, which keeps the first spelling). Values are taken on
 * success only, as the public setters do. The strings must not be NULL
 * (to_string excepted: NULL removes it) and are not checked further: the
 * decoder passes text libxml2 has checked. set_take matches names as
 * rms_psobject_set does (case-insensitively, replacing in place).
 */
int rms__psobject_add_type_name_take(rms_psobject *o, char *name_owned);
int rms__psobject_set_to_string_take(rms_psobject *o, char *text_owned);
int rms__psobject_set_take(rms_psobject *o, char *name_owned, rms_value *v, unsigned flags);

/* One-line text of an object (see rms_value_to_text) and its JSON. */
int rms__psobject_text_append(rms_buf *b, const rms_psobject *o);

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
json_t *rms__psobject_json(const rms_psobject *obj);
/*
 * Serialise j the way every remsess JSON output is written: compact, one
 * line, UTF-8 unescaped, keys in insertion order, reals with 17 significant
 * digits. Returns a string to free with rms_free (malloc'd by remsess, not by
 * jansson's allocator), NULL on out of memory (the error is then set).
 */
char *rms__json_dump(const json_t *j);

#endif
