/*
 * Typed CIM values: construction, getters, equality, the text form, and the
 * few shared names of common.h (backend names, rms_free).
 */
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "value_internal.h"

/* ---- common.h -------------------------------------------------------------- */

const char *rms_backend_name(rms_backend backend)
{
	switch (backend) {
	case RMS_BACKEND_NONE: return "none";
	case RMS_BACKEND_CIM: return "cim";
	case RMS_BACKEND_PSSESSION: return "pssession";
	case RMS_BACKEND_AUTO: return "auto";
	}
	return "unknown";
}

int rms_backend_parse(rms_backend *out, const char *name)
{
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "rms_backend_parse: out is NULL");
	if (!name)
		return rms__error_field(RMS_E_INVALID_ARG, "backend", "backend name is NULL");
	static const rms_backend choices[] = { RMS_BACKEND_CIM, RMS_BACKEND_PSSESSION,
		                               RMS_BACKEND_AUTO };
	for (size_t i = 0; i < sizeof choices / sizeof choices[0]; i++) {
		if (rms__streq_nocase(name, rms_backend_name(choices[i]))) {
			*out = choices[i];
			return 0;
		}
	}
	return rms__error_field(RMS_E_INVALID_ARG, "backend",
	                        "unknown backend \"%.64s\" (expected cim, pssession or auto)",
	                        name);
}

void rms_free(void *ptr)
{
	free(ptr);
}

/* ---- type names -------------------------------------------------------------- */

static const char *const scalar_names[16] = {
	"boolean", "uint8",  "sint8",  "uint16", "sint16",   "uint32", "sint32", "uint64",
	"sint64",  "real32", "real64", "char16", "datetime", "string", "ref",    "instance",
};

static const char *const array_names[16] = {
	"boolean[]", "uint8[]",  "sint8[]",  "uint16[]", "sint16[]",   "uint32[]",
	"sint32[]",  "uint64[]", "sint64[]", "real32[]", "real64[]",   "char16[]",
	"datetime[]", "string[]", "ref[]",   "instance[]",
};

/* Every number 0..0x1F is a type: 16 scalars, each with or without the array bit. */
static bool type_valid(rms_type t)
{
	return ((unsigned)t & ~0x1Fu) == 0;
}

const char *rms_type_name(rms_type type)
{
	if (!type_valid(type))
		return NULL;
	unsigned s = (unsigned)RMS_TYPE_SCALAR(type);
	return RMS_TYPE_IS_ARRAY(type) ? array_names[s] : scalar_names[s];
}

int rms_type_parse(rms_type *out, const char *name)
{
	if (!out || !name)
		return rms__error_field(RMS_E_INVALID_ARG, out ? "name" : "out",
		                        "rms_type_parse: %s is NULL", out ? "name" : "out");
	size_t len = strlen(name);
	bool array = len > 2 && name[len - 2] == '[' && name[len - 1] == ']';
	size_t base = array ? len - 2 : len;
	for (unsigned i = 0; i < 16; i++) {
		const char *n = scalar_names[i];
		if (strlen(n) != base)
			continue;
		size_t k = 0;
		while (k < base) {
			char c = name[k];
			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			if (c != n[k])
				break;
			k++;
		}
		if (k == base) {
			*out = (rms_type)(i | (array ? (unsigned)RMS_TYPE_ARRAY : 0u));
			return 0;
		}
	}
	return rms__error_set(RMS_E_PARSE, RMS_PHASE_NONE,
	                      "unknown CIM type \"%.64s\" (expected a DSP0004 name such as "
	                      "\"uint32\", \"string\" or \"datetime[]\")",
	                      name);
}

/* ---- helpers ----------------------------------------------------------------- */

/* Offset of the first byte that is not well-formed UTF-8, or len. */
static size_t utf8_bad_offset(const char *s, size_t len)
{
	const char *p = s, *end = s + len;
	while (p < end) {
		const char *at = p;
		if (rms__utf8_decode(&p, end) < 0)
			return (size_t)(at - s);
	}
	return len;
}

static int value_new(rms_value **out, rms_type type)
{
	*out = calloc(1, sizeof **out);
	if (!*out)
		return rms__error_nomem();
	(*out)->type = type;
	return 0;
}

#define CHECK_OUT(out)                                                                             \
	do {                                                                                       \
		if (!(out))                                                                        \
			return rms__error_field(RMS_E_INVALID_ARG, "out", "%s: out is NULL",       \
			                        __func__);                                         \
		*(out) = NULL;                                                                     \
	} while (0)

/* ---- constructors ------------------------------------------------------------ */

int rms_value_new_null(rms_value **out, rms_type type)
{
	CHECK_OUT(out);
	if (!type_valid(type))
		return rms__error_field(RMS_E_INVALID_ARG, "type", "%d is not a CIM type number",
		                        (int)type);
	int rc = value_new(out, type);
	if (rc == 0)
		(*out)->is_null = true;
	return rc;
}

int rms_value_new_boolean(rms_value **out, bool v)
{
	CHECK_OUT(out);
	int rc = value_new(out, RMS_TYPE_BOOLEAN);
	if (rc == 0)
		(*out)->u.b = v;
	return rc;
}

static int new_unsigned(rms_value **out, rms_type t, uint64_t v)
{
	int rc = value_new(out, t);
	if (rc == 0)
		(*out)->u.u = v;
	return rc;
}

static int new_signed(rms_value **out, rms_type t, int64_t v)
{
	int rc = value_new(out, t);
	if (rc == 0)
		(*out)->u.i = v;
	return rc;
}

int rms_value_new_uint8(rms_value **out, uint8_t v)
{
	CHECK_OUT(out);
	return new_unsigned(out, RMS_TYPE_UINT8, v);
}

int rms_value_new_sint8(rms_value **out, int8_t v)
{
	CHECK_OUT(out);
	return new_signed(out, RMS_TYPE_SINT8, v);
}

int rms_value_new_uint16(rms_value **out, uint16_t v)
{
	CHECK_OUT(out);
	return new_unsigned(out, RMS_TYPE_UINT16, v);
}

int rms_value_new_sint16(rms_value **out, int16_t v)
{
	CHECK_OUT(out);
	return new_signed(out, RMS_TYPE_SINT16, v);
}

int rms_value_new_uint32(rms_value **out, uint32_t v)
{
	CHECK_OUT(out);
	return new_unsigned(out, RMS_TYPE_UINT32, v);
}

int rms_value_new_sint32(rms_value **out, int32_t v)
{
	CHECK_OUT(out);
	return new_signed(out, RMS_TYPE_SINT32, v);
}

int rms_value_new_uint64(rms_value **out, uint64_t v)
{
	CHECK_OUT(out);
	return new_unsigned(out, RMS_TYPE_UINT64, v);
}

int rms_value_new_sint64(rms_value **out, int64_t v)
{
	CHECK_OUT(out);
	return new_signed(out, RMS_TYPE_SINT64, v);
}

int rms_value_new_real32(rms_value **out, float v)
{
	CHECK_OUT(out);
	int rc = value_new(out, RMS_TYPE_REAL32);
	if (rc == 0)
		(*out)->u.f32 = v;
	return rc;
}

int rms_value_new_real64(rms_value **out, double v)
{
	CHECK_OUT(out);
	int rc = value_new(out, RMS_TYPE_REAL64);
	if (rc == 0)
		(*out)->u.f64 = v;
	return rc;
}

int rms_value_new_char16(rms_value **out, uint16_t v)
{
	CHECK_OUT(out);
	if (v >= 0xD800 && v <= 0xDFFF)
		return rms__error_set(RMS_E_RANGE, RMS_PHASE_NONE,
		                      "char16 value U+%04X is a UTF-16 surrogate; a lone surrogate "
		                      "is not a character",
		                      (unsigned)v);
	int rc = value_new(out, RMS_TYPE_CHAR16);
	if (rc == 0)
		(*out)->u.c16 = v;
	return rc;
}

int rms_value_new_string_len(rms_value **out, const char *utf8, size_t len)
{
	CHECK_OUT(out);
	if (!utf8)
		return rms__error_field(RMS_E_INVALID_ARG, "utf8",
		                        "string is NULL (a null string is rms_value_new_null("
		                        "RMS_TYPE_STRING))");
	const char *nul = memchr(utf8, '\0', len);
	if (nul)
		return rms__error_field(RMS_E_INVALID_ARG, "utf8",
		                        "string contains a NUL byte at offset %zu",
		                        (size_t)(nul - utf8));
	size_t bad = utf8_bad_offset(utf8, len);
	if (bad < len)
		return rms__error_field(RMS_E_INVALID_ARG, "utf8",
		                        "string is not valid UTF-8 (byte 0x%02X at offset %zu)",
		                        (unsigned)(unsigned char)utf8[bad], bad);
	char *copy = rms__strndup(utf8, len);
	if (!copy)
		return rms__error_nomem();
	int rc = value_new(out, RMS_TYPE_STRING);
	if (rc) {
		free(copy);
		return rc;
	}
	(*out)->u.s = copy;
	return 0;
}

int rms__value_new_string_take(rms_value **out, char *utf8)
{
	int rc = value_new(out, RMS_TYPE_STRING);
	if (rc) {
		free(utf8);
		return rc;
	}
	(*out)->u.s = utf8;
	return 0;
}

int rms_value_new_string(rms_value **out, const char *utf8)
{
	return rms_value_new_string_len(out, utf8, utf8 ? strlen(utf8) : 0);
}

int rms_value_new_datetime(rms_value **out, const rms_datetime *v)
{
	CHECK_OUT(out);
	if (!v)
		return rms__error_field(RMS_E_INVALID_ARG, "v", "datetime is NULL");
	int rc = rms__datetime_validate(v);
	if (rc)
		return rc;
	rc = value_new(out, RMS_TYPE_DATETIME);
	if (rc == 0)
		(*out)->u.dt = *v;
	return rc;
}

int rms_value_new_reference(rms_value **out, const rms_ref *v)
{
	CHECK_OUT(out);
	if (!v)
		return rms__error_field(RMS_E_INVALID_ARG, "v",
		                        "reference is NULL (a null reference is rms_value_new_null("
		                        "RMS_TYPE_REFERENCE))");
	rms_ref *copy;
	int rc = rms_ref_dup(&copy, v);
	if (rc)
		return rc;
	rc = value_new(out, RMS_TYPE_REFERENCE);
	if (rc) {
		rms_ref_free(copy);
		return rc;
	}
	(*out)->u.ref = copy;
	return 0;
}

int rms_value_new_instance(rms_value **out, const rms_instance *v)
{
	CHECK_OUT(out);
	if (!v)
		return rms__error_field(RMS_E_INVALID_ARG, "v",
		                        "instance is NULL (a null instance is rms_value_new_null("
		                        "RMS_TYPE_INSTANCE))");
	rms_instance *copy;
	int rc = rms_instance_dup(&copy, v);
	if (rc)
		return rc;
	rc = value_new(out, RMS_TYPE_INSTANCE);
	if (rc) {
		rms_instance_free(copy);
		return rc;
	}
	(*out)->u.inst = copy;
	return 0;
}

/* element_type may be given with or without the array bit ("uint32" or "uint32[]"). */
int rms_value_new_array(rms_value **out, rms_type element_type)
{
	CHECK_OUT(out);
	if (!type_valid(element_type))
		return rms__error_field(RMS_E_INVALID_ARG, "element_type",
		                        "%d is not a CIM type number", (int)element_type);
	return value_new(out, (rms_type)(RMS_TYPE_SCALAR(element_type) | RMS_TYPE_ARRAY));
}

int rms_value_array_append(rms_value *array, rms_value *element)
{
	if (!array || !element)
		return rms__error_field(RMS_E_INVALID_ARG, array ? "element" : "array",
		                        "rms_value_array_append: %s is NULL",
		                        array ? "element" : "array");
	const char *an = rms_type_name(array->type), *en = rms_type_name(element->type);
	if (!RMS_TYPE_IS_ARRAY(array->type))
		return rms__error_set(RMS_E_TYPE, RMS_PHASE_NONE,
		                      "cannot append a %s to a %s value: it is not an array", en,
		                      an);
	if (array->is_null)
		return rms__error_field(RMS_E_INVALID_ARG, "array",
		                        "cannot append to a null %s (make an empty one with "
		                        "rms_value_new_array)",
		                        an);
	if (element->type != RMS_TYPE_SCALAR(array->type))
		return rms__error_set(RMS_E_TYPE, RMS_PHASE_NONE,
		                      "cannot append a %s to a %s array", en, an);
	if (element->is_null)
		return rms__error_set(RMS_E_TYPE, RMS_PHASE_NONE,
		                      "cannot append a null %s to a %s array: CIM arrays have no "
		                      "null elements",
		                      en, an);
	if (array->u.arr.len == array->u.arr.cap) {
		size_t cap = array->u.arr.cap ? array->u.arr.cap * 2 : 4;
		if (cap > SIZE_MAX / sizeof(rms_value *))
			return rms__error_nomem();
		rms_value **items = realloc(array->u.arr.items, cap * sizeof *items);
		if (!items)
			return rms__error_nomem();
		array->u.arr.items = items;
		array->u.arr.cap = cap;
	}
	array->u.arr.items[array->u.arr.len++] = element;
	return 0;
}

/* ---- from text --------------------------------------------------------------- */

/* Copy at most 64 bytes of s for an error message, not cutting a UTF-8
 * sequence, with "..." when shortened. */
static const char *clip(char out[72], const char *s)
{
	size_t n = strlen(s);
	if (n <= 64)
		return s;
	n = 64;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	memcpy(out, s, n);
	memcpy(out + n, "...", 4);
	return out;
}

struct int_limits {
	bool is_signed;
	int64_t min;
	uint64_t max;
};

static struct int_limits int_limits(rms_type t)
{
	switch (t) {
	case RMS_TYPE_UINT8: return (struct int_limits){ false, 0, UINT8_MAX };
	case RMS_TYPE_SINT8: return (struct int_limits){ true, INT8_MIN, INT8_MAX };
	case RMS_TYPE_UINT16: return (struct int_limits){ false, 0, UINT16_MAX };
	case RMS_TYPE_SINT16: return (struct int_limits){ true, INT16_MIN, INT16_MAX };
	case RMS_TYPE_UINT32: return (struct int_limits){ false, 0, UINT32_MAX };
	case RMS_TYPE_SINT32: return (struct int_limits){ true, INT32_MIN, INT32_MAX };
	case RMS_TYPE_UINT64: return (struct int_limits){ false, 0, UINT64_MAX };
	default: return (struct int_limits){ true, INT64_MIN, INT64_MAX };
	}
}

static bool is_integer_type(rms_type t)
{
	return t >= RMS_TYPE_UINT8 && t <= RMS_TYPE_SINT64;
}

/*
 * Decimal digits with an optional '+', or '-' for signed types; no spaces, no
 * other bases. Unsigned types take no '-' at all: "-0" is refused along with
 * "-1", as out of range, so the text of an unsigned value never has a sign.
 */
static int parse_integer(rms_value **out, rms_type t, const char *text)
{
	struct int_limits lim = int_limits(t);
	const char *name = rms_type_name(t);
	char cl[72];
	const char *p = text;
	bool neg = false;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (*p < '0' || *p > '9')
		return rms__error_set(RMS_E_PARSE, RMS_PHASE_NONE,
		                      "\"%s\" is not a valid %s: expected decimal digits",
		                      clip(cl, text), name);
	uint64_t mag = 0;
	bool overflow = false;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return rms__error_set(RMS_E_PARSE, RMS_PHASE_NONE,
			                      "\"%s\" is not a valid %s: unexpected '%c' (only "
			                      "decimal digits allowed)",
			                      clip(cl, text), name, *p);
		unsigned d = (unsigned)(*p - '0');
		if (mag > (UINT64_MAX - d) / 10)
			overflow = true;
		else
			mag = mag * 10 + d;
	}
	uint64_t neg_max = lim.is_signed ? (uint64_t)(-(lim.min + 1)) + 1 : 0;
	bool bad = overflow || (neg && (!lim.is_signed || mag > neg_max)) ||
	           (!neg && mag > lim.max);
	if (bad) {
		if (lim.is_signed)
			return rms__error_set(RMS_E_RANGE, RMS_PHASE_NONE,
			                      "%s is out of range for %s (%" PRId64 "..%" PRIu64
			                      ")",
			                      clip(cl, text), name, lim.min, lim.max);
		return rms__error_set(RMS_E_RANGE, RMS_PHASE_NONE,
		                      "%s is out of range for %s (0..%" PRIu64 ")", clip(cl, text),
		                      name, lim.max);
	}
	if (!lim.is_signed)
		return new_unsigned(out, t, mag);
	int64_t v = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag)
	                : (int64_t)mag;
	return new_signed(out, t, v);
}

/* [+-]? (digits [. digits*] | . digits) ([eE] [+-]? digits)? — what strtod
 * would also read, minus hex, "nan(...)" and leading spaces. */
static bool real_syntax_ok(const char *s)
{
	if (*s == '+' || *s == '-')
		s++;
	size_t int_digits = 0, frac_digits = 0;
	while (*s >= '0' && *s <= '9')
		s++, int_digits++;
	if (*s == '.') {
		s++;
		while (*s >= '0' && *s <= '9')
			s++, frac_digits++;
	}
	if (int_digits + frac_digits == 0)
		return false;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (*s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

int rms__real_parse(double *out, const char *text, bool real32)
{
	const char *dp = localeconv()->decimal_point;
	char *tmp = NULL;
	const char *s = text;
	const char *dot = strchr(text, '.');
	if (dot && dp && strcmp(dp, ".") != 0) {
		size_t n = strlen(text), dl = strlen(dp);
		tmp = malloc(n + dl);
		if (!tmp)
			return rms__error_nomem();
		size_t pre = (size_t)(dot - text);
		memcpy(tmp, text, pre);
		memcpy(tmp + pre, dp, dl);
		memcpy(tmp + pre + dl, dot + 1, n - pre);
		s = tmp;
	}
	*out = real32 ? (double)strtof(s, NULL) : strtod(s, NULL);
	free(tmp);
	return 0;
}

static int parse_real(rms_value **out, rms_type t, const char *text)
{
	bool real32 = t == RMS_TYPE_REAL32;
	const char *name = rms_type_name(t);
	char cl[72];
	double d;
	const char *mag = text + (*text == '+' || *text == '-');
	if (rms__streq_nocase(text, "nan")) {
		d = NAN;
	} else if (rms__streq_nocase(mag, "inf") || rms__streq_nocase(mag, "infinity")) {
		d = *text == '-' ? -INFINITY : INFINITY;
	} else if (!real_syntax_ok(text)) {
		return rms__error_set(RMS_E_PARSE, RMS_PHASE_NONE,
		                      "\"%s\" is not a valid %s: expected a decimal number such as "
		                      "\"-1.5e3\", or NaN, INF, -INF",
		                      clip(cl, text), name);
	} else {
		int rc = rms__real_parse(&d, text, real32);
		if (rc)
			return rc;
		if (isinf(d))
			return rms__error_set(RMS_E_RANGE, RMS_PHASE_NONE,
			                      "%s is out of range for %s (largest magnitude %s)",
			                      clip(cl, text), name,
			                      real32 ? "3.40282347e+38"
			                             : "1.7976931348623157e+308");
	}
	if (real32)
		return rms_value_new_real32(out, (float)d);
	return rms_value_new_real64(out, d);
}

/* Exactly one character of the BMP. The empty text stands for U+0000, which a
 * NUL-terminated string cannot hold otherwise (rms_value_to_text writes it so). */
static int parse_char16(rms_value **out, const char *text)
{
	char cl[72];
	const char *p = text, *end = text + strlen(text);
	if (p == end)
		return rms_value_new_char16(out, 0);
	int32_t cp = rms__utf8_decode(&p, end);
	if (cp < 0)
		return rms__error_set(RMS_E_PARSE, RMS_PHASE_NONE,
		                      "char16 text is not valid UTF-8 (byte 0x%02X)",
		                      (unsigned)(unsigned char)*text);
	if (p != end)
		return rms__error_set(RMS_E_PARSE, RMS_PHASE_NONE,
		                      "\"%s\" is not a valid char16: expected exactly one "
		                      "character",
		                      clip(cl, text));
	if (cp > 0xFFFF)
		return rms__error_set(RMS_E_RANGE, RMS_PHASE_NONE,
		                      "U+%04" PRIX32 " is out of range for char16: it lies outside "
		                      "the Basic Multilingual Plane (one UTF-16 code unit)",
		                      (uint32_t)cp);
	return rms_value_new_char16(out, (uint16_t)cp);
}

/* The DMTF form has a fixed shape; when the text has that shape its own error
 * is the one worth reporting, otherwise the xs one. */
static bool dmtf_shaped(const char *text)
{
	return strlen(text) == 25 && text[14] == '.' &&
	       (text[21] == '+' || text[21] == '-' || text[21] == ':');
}

static int parse_datetime(rms_value **out, const char *text)
{
	rms_datetime dt;
	int rc = rms_datetime_parse_dmtf(&dt, text);
	if (rc && rc != RMS_E_NOT_IMPLEMENTED && !dmtf_shaped(text))
		rc = rms_datetime_parse_xs(&dt, text);
	if (rc)
		return rc;
	return rms_value_new_datetime(out, &dt);
}

int rms_value_from_text(rms_value **out, rms_type type, const char *text)
{
	CHECK_OUT(out);
	if (!text)
		return rms__error_field(RMS_E_INVALID_ARG, "text", "text is NULL");
	if (!type_valid(type))
		return rms__error_field(RMS_E_INVALID_ARG, "type", "%d is not a CIM type number",
		                        (int)type);
	if (RMS_TYPE_IS_ARRAY(type) || type == RMS_TYPE_REFERENCE || type == RMS_TYPE_INSTANCE)
		return rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_NONE,
		                      "%s values have no text form to parse from",
		                      rms_type_name(type));
	switch (type) {
	case RMS_TYPE_BOOLEAN:
		if (rms__streq_nocase(text, "true") || rms__streq_nocase(text, "false"))
			return rms_value_new_boolean(out, (text[0] | 0x20) == 't');
		char cl[72];
		return rms__error_set(RMS_E_PARSE, RMS_PHASE_NONE,
		                      "\"%s\" is not a valid boolean: expected true or false",
		                      clip(cl, text));
	case RMS_TYPE_REAL32:
	case RMS_TYPE_REAL64: return parse_real(out, type, text);
	case RMS_TYPE_CHAR16: return parse_char16(out, text);
	case RMS_TYPE_DATETIME: return parse_datetime(out, text);
	case RMS_TYPE_STRING: return rms_value_new_string(out, text);
	default: return parse_integer(out, type, text);
	}
}

/* ---- lifetime ----------------------------------------------------------------- */

void rms_value_free(rms_value *v)
{
	if (!v)
		return;
	if (!v->is_null) {
		if (RMS_TYPE_IS_ARRAY(v->type)) {
			for (size_t i = 0; i < v->u.arr.len; i++)
				rms_value_free(v->u.arr.items[i]);
			free(v->u.arr.items);
		} else if (v->type == RMS_TYPE_STRING) {
			free(v->u.s);
		} else if (v->type == RMS_TYPE_REFERENCE) {
			rms_ref_free(v->u.ref);
		} else if (v->type == RMS_TYPE_INSTANCE) {
			rms_instance_free(v->u.inst);
		}
	}
	free(v);
}

int rms_value_dup(rms_value **out, const rms_value *v)
{
	CHECK_OUT(out);
	if (!v)
		return rms__error_field(RMS_E_INVALID_ARG, "v", "rms_value_dup: value is NULL");
	if (v->is_null)
		return rms_value_new_null(out, v->type);
	if (RMS_TYPE_IS_ARRAY(v->type)) {
		rms_value *a;
		int rc = rms_value_new_array(&a, v->type);
		if (rc)
			return rc;
		for (size_t i = 0; i < v->u.arr.len; i++) {
			rms_value *e;
			rc = rms_value_dup(&e, v->u.arr.items[i]);
			if (rc == 0 && (rc = rms_value_array_append(a, e)) != 0)
				rms_value_free(e);
			if (rc) {
				rms_value_free(a);
				return rc;
			}
		}
		*out = a;
		return 0;
	}
	switch (v->type) {
	case RMS_TYPE_STRING: return rms_value_new_string(out, v->u.s);
	case RMS_TYPE_REFERENCE: return rms_value_new_reference(out, v->u.ref);
	case RMS_TYPE_INSTANCE: return rms_value_new_instance(out, v->u.inst);
	default: break;
	}
	/* Everything else is plain data. */
	int rc = value_new(out, v->type);
	if (rc == 0)
		(*out)->u = v->u;
	return rc;
}

/* ---- getters ------------------------------------------------------------------ */

/* A NULL value reads as a null boolean. */
rms_type rms_value_type(const rms_value *v)
{
	return v ? v->type : RMS_TYPE_BOOLEAN;
}

bool rms_value_is_null(const rms_value *v)
{
	return !v || v->is_null;
}

static int check_get(const rms_value *v, const void *out, rms_type want)
{
	if (!v || !out)
		return rms__error_field(RMS_E_INVALID_ARG, v ? "out" : "v",
		                        "reading a %s: %s is NULL", rms_type_name(want),
		                        v ? "out" : "value");
	if (v->type != want)
		return rms__error_set(RMS_E_TYPE, RMS_PHASE_NONE, "value is %s, not %s",
		                      rms_type_name(v->type), rms_type_name(want));
	if (v->is_null)
		return rms__error_set(RMS_E_NOT_FOUND, RMS_PHASE_NONE, "value is a null %s",
		                      rms_type_name(want));
	return 0;
}

#define GETTER(fn, ctype, tag, expr)                                                               \
	int fn(const rms_value *v, ctype *out)                                                     \
	{                                                                                          \
		int rc = check_get(v, out, tag);                                                   \
		if (rc == 0)                                                                       \
			*out = (ctype)(expr);                                                      \
		return rc;                                                                         \
	}

GETTER(rms_value_get_boolean, bool, RMS_TYPE_BOOLEAN, v->u.b)
GETTER(rms_value_get_uint8, uint8_t, RMS_TYPE_UINT8, v->u.u)
GETTER(rms_value_get_sint8, int8_t, RMS_TYPE_SINT8, v->u.i)
GETTER(rms_value_get_uint16, uint16_t, RMS_TYPE_UINT16, v->u.u)
GETTER(rms_value_get_sint16, int16_t, RMS_TYPE_SINT16, v->u.i)
GETTER(rms_value_get_uint32, uint32_t, RMS_TYPE_UINT32, v->u.u)
GETTER(rms_value_get_sint32, int32_t, RMS_TYPE_SINT32, v->u.i)
GETTER(rms_value_get_uint64, uint64_t, RMS_TYPE_UINT64, v->u.u)
GETTER(rms_value_get_sint64, int64_t, RMS_TYPE_SINT64, v->u.i)
GETTER(rms_value_get_real32, float, RMS_TYPE_REAL32, v->u.f32)
GETTER(rms_value_get_real64, double, RMS_TYPE_REAL64, v->u.f64)
GETTER(rms_value_get_char16, uint16_t, RMS_TYPE_CHAR16, v->u.c16)
GETTER(rms_value_get_string, const char *, RMS_TYPE_STRING, v->u.s)
GETTER(rms_value_get_reference, const rms_ref *, RMS_TYPE_REFERENCE, v->u.ref)
GETTER(rms_value_get_instance, const rms_instance *, RMS_TYPE_INSTANCE, v->u.inst)

int rms_value_get_datetime(const rms_value *v, rms_datetime *out)
{
	int rc = check_get(v, out, RMS_TYPE_DATETIME);
	if (rc == 0)
		*out = v->u.dt;
	return rc;
}

static int check_integer(const rms_value *v, const void *out)
{
	if (!v || !out)
		return rms__error_field(RMS_E_INVALID_ARG, v ? "out" : "v",
		                        "reading an integer: %s is NULL", v ? "out" : "value");
	if (!is_integer_type(v->type))
		return rms__error_set(RMS_E_TYPE, RMS_PHASE_NONE, "value is %s, not an integer",
		                      rms_type_name(v->type));
	if (v->is_null)
		return rms__error_set(RMS_E_NOT_FOUND, RMS_PHASE_NONE, "value is a null %s",
		                      rms_type_name(v->type));
	return 0;
}

int rms_value_as_int64(const rms_value *v, int64_t *out)
{
	int rc = check_integer(v, out);
	if (rc)
		return rc;
	if (!int_limits(v->type).is_signed) {
		if (v->u.u > (uint64_t)INT64_MAX)
			return rms__error_set(RMS_E_RANGE, RMS_PHASE_NONE,
			                      "%s value %" PRIu64
			                      " is out of range for sint64 (%" PRId64 "..%" PRId64
			                      ")",
			                      rms_type_name(v->type), v->u.u, INT64_MIN, INT64_MAX);
		*out = (int64_t)v->u.u;
	} else {
		*out = v->u.i;
	}
	return 0;
}

int rms_value_as_uint64(const rms_value *v, uint64_t *out)
{
	int rc = check_integer(v, out);
	if (rc)
		return rc;
	if (int_limits(v->type).is_signed) {
		if (v->u.i < 0)
			return rms__error_set(RMS_E_RANGE, RMS_PHASE_NONE,
			                      "%s value %" PRId64
			                      " is out of range for uint64 (0..%" PRIu64 ")",
			                      rms_type_name(v->type), v->u.i, UINT64_MAX);
		*out = (uint64_t)v->u.i;
	} else {
		*out = v->u.u;
	}
	return 0;
}

size_t rms_value_array_length(const rms_value *v)
{
	if (!v || v->is_null || !RMS_TYPE_IS_ARRAY(v->type))
		return 0;
	return v->u.arr.len;
}

const rms_value *rms_value_array_at(const rms_value *v, size_t i)
{
	if (i >= rms_value_array_length(v))
		return NULL;
	return v->u.arr.items[i];
}

/* ---- equality ----------------------------------------------------------------- */

static bool real_equal(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b);
	return a == b; /* -0 == +0 */
}

bool rms_value_equal(const rms_value *a, const rms_value *b)
{
	if (a == b)
		return true;
	if (!a || !b || a->type != b->type || a->is_null != b->is_null)
		return false;
	if (a->is_null)
		return true;
	if (RMS_TYPE_IS_ARRAY(a->type)) {
		if (a->u.arr.len != b->u.arr.len)
			return false;
		for (size_t i = 0; i < a->u.arr.len; i++)
			if (!rms_value_equal(a->u.arr.items[i], b->u.arr.items[i]))
				return false;
		return true;
	}
	switch (a->type) {
	case RMS_TYPE_BOOLEAN: return a->u.b == b->u.b;
	case RMS_TYPE_UINT8:
	case RMS_TYPE_UINT16:
	case RMS_TYPE_UINT32:
	case RMS_TYPE_UINT64: return a->u.u == b->u.u;
	case RMS_TYPE_SINT8:
	case RMS_TYPE_SINT16:
	case RMS_TYPE_SINT32:
	case RMS_TYPE_SINT64: return a->u.i == b->u.i;
	case RMS_TYPE_REAL32: return real_equal(a->u.f32, b->u.f32);
	case RMS_TYPE_REAL64: return real_equal(a->u.f64, b->u.f64);
	case RMS_TYPE_CHAR16: return a->u.c16 == b->u.c16;
	case RMS_TYPE_DATETIME: return rms_datetime_equal(&a->u.dt, &b->u.dt);
	case RMS_TYPE_STRING: return strcmp(a->u.s, b->u.s) == 0;
	case RMS_TYPE_REFERENCE: return rms_ref_equal(a->u.ref, b->u.ref);
	case RMS_TYPE_INSTANCE: return rms_instance_equal(a->u.inst, b->u.inst);
	default: return false;
	}
}

/* ---- text form ------------------------------------------------------------------ */

/* Rewrite the locale's decimal point in s (from printf) as '.'. */
static void to_c_decimal(char *s)
{
	const char *dp = localeconv()->decimal_point;
	if (!dp || !*dp || strcmp(dp, ".") == 0)
		return;
	char *at = strstr(s, dp);
	if (!at)
		return;
	size_t dl = strlen(dp);
	*at = '.';
	memmove(at + 1, at + dl, strlen(at + dl) + 1);
}

void rms__real_format(char *buf, double v, bool real32)
{
	if (isnan(v)) {
		memcpy(buf, "NaN", 4);
		return;
	}
	if (isinf(v)) {
		memcpy(buf, v > 0 ? "INF" : "-INF", v > 0 ? 4 : 5);
		return;
	}
	/* printf and strtod both follow LC_NUMERIC, so the read-back test is
	 * consistent; the decimal point is made '.' afterwards. */
	int maxp = real32 ? 9 : 17;
	int p = 1;
	for (; p <= maxp; p++) {
		snprintf(buf, RMS_REAL_TEXT_MAX, "%.*g", p, v);
		bool same = real32 ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v;
		if (same)
			break;
	}
	/* %g switches to exponent notation early (100 -> "1e+02"); plain
	 * decimal reads better whenever it is not longer. */
	const char *e = strpbrk(buf, "eE");
	if (e) {
		int exp10 = atoi(e + 1);
		int decimals = p - 1 - exp10;
		char fixed[RMS_REAL_TEXT_MAX];
		if (decimals < 0)
			decimals = 0;
		int n = snprintf(fixed, sizeof fixed, "%.*f", decimals, v);
		bool same = real32 ? strtof(fixed, NULL) == (float)v : strtod(fixed, NULL) == v;
		if (n > 0 && (size_t)n <= strlen(buf) && same)
			memcpy(buf, fixed, (size_t)n + 1);
	}
	to_c_decimal(buf);
}

int rms__text_quote_append(rms_buf *b, const char *s)
{
	rms__buf_puts(b, "\"");
	const char *run = s;
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			rms__buf_append(b, run, (size_t)(p - run));
			rms__buf_append(b, "\\", 1);
			run = p;
		}
	}
	rms__buf_puts(b, run);
	/* a failed append makes the later ones no-ops and sets b->failed */
	return rms__buf_puts(b, "\"") ? rms__error_nomem() : 0;
}

/* Timestamps without a zone and fractions finer than a microsecond have no
 * DMTF form; they are written in the xs form, which reads back equal. */
static int datetime_text(char buf[RMS_DATETIME_XS_MAX], const rms_datetime *dt)
{
	bool xs = !dt->wildcards &&
	          ((!dt->is_interval && dt->tz_form == RMS_TZ_NONE) || dt->nanoseconds % 1000);
	if (!xs) {
		int rc = rms_datetime_format_dmtf(dt, buf, RMS_DATETIME_XS_MAX);
		if (rc == 0 || dt->wildcards || rc == RMS_E_NOT_IMPLEMENTED)
			return rc;
	}
	return rms_datetime_format_xs(dt, buf, RMS_DATETIME_XS_MAX);
}

int rms__value_text_append(rms_buf *b, const rms_value *v, bool nested)
{
	if (v->is_null)
		return rms__buf_puts(b, "(null)") ? rms__error_nomem() : 0;
	if (RMS_TYPE_IS_ARRAY(v->type)) {
		rms__buf_puts(b, "{");
		for (size_t i = 0; i < v->u.arr.len; i++) {
			if (i)
				rms__buf_puts(b, ", ");
			int rc = rms__value_text_append(b, v->u.arr.items[i], true);
			if (rc)
				return rc;
		}
		return rms__buf_puts(b, "}") ? rms__error_nomem() : 0;
	}
	char num[RMS_DATETIME_XS_MAX > RMS_REAL_TEXT_MAX ? RMS_DATETIME_XS_MAX : RMS_REAL_TEXT_MAX];
	int rc = 0;
	switch (v->type) {
	case RMS_TYPE_BOOLEAN: rc = rms__buf_puts(b, v->u.b ? "true" : "false"); break;
	case RMS_TYPE_UINT8:
	case RMS_TYPE_UINT16:
	case RMS_TYPE_UINT32:
	case RMS_TYPE_UINT64: rc = rms__buf_printf(b, "%" PRIu64, v->u.u); break;
	case RMS_TYPE_SINT8:
	case RMS_TYPE_SINT16:
	case RMS_TYPE_SINT32:
	case RMS_TYPE_SINT64: rc = rms__buf_printf(b, "%" PRId64, v->u.i); break;
	case RMS_TYPE_REAL32:
	case RMS_TYPE_REAL64:
		rms__real_format(num,
		                 v->type == RMS_TYPE_REAL32 ? (double)v->u.f32 : v->u.f64,
		                 v->type == RMS_TYPE_REAL32);
		rc = rms__buf_puts(b, num);
		break;
	case RMS_TYPE_CHAR16:
		/* U+0000 prints as nothing: a C string cannot carry it. */
		num[rms__utf8_encode(v->u.c16, num)] = '\0';
		return nested ? rms__text_quote_append(b, num)
		              : (rms__buf_puts(b, num) ? rms__error_nomem() : 0);
	case RMS_TYPE_DATETIME:
		rc = datetime_text(num, &v->u.dt);
		if (rc)
			return rc;
		rc = rms__buf_puts(b, num);
		break;
	case RMS_TYPE_STRING:
		return nested ? rms__text_quote_append(b, v->u.s)
		              : (rms__buf_puts(b, v->u.s) ? rms__error_nomem() : 0);
	case RMS_TYPE_REFERENCE: return rms__ref_text_append(b, v->u.ref);
	case RMS_TYPE_INSTANCE: return rms__instance_text_append(b, v->u.inst);
	default: return rms__error_set(RMS_E_INTERNAL, RMS_PHASE_NONE, "value of bad type %d",
		                       (int)v->type);
	}
	return rc ? rms__error_nomem() : 0;
}

int rms_value_to_text(char **out, const rms_value *v)
{
	CHECK_OUT(out);
	if (!v)
		return rms__error_field(RMS_E_INVALID_ARG, "v", "rms_value_to_text: value is NULL");
	rms_buf b;
	rms__buf_init(&b);
	int rc = rms__value_text_append(&b, v, false);
	if (rc) {
		rms__buf_free(&b);
		return rc;
	}
	*out = rms__buf_take(&b);
	return *out ? 0 : rms__error_nomem();
}
