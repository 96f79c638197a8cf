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

static const char *const ps_names[9] = {
	"decimal", "guid", "timespan", "version", "uri", "xml", "scriptblock", "bytes", "object",
};

/* Every number 0..0x1F is a type: 16 scalars, each with or without the array
 * bit; 0x20..0x28 are the PowerShell types, which have no array form. */
static bool type_valid(rms_type t)
{
	return ((unsigned)t & ~0x1Fu) == 0 || RMS_TYPE_IS_POWERSHELL(t);
}

const char *rms_type_name(rms_type type)
{
	if (!type_valid(type))
		return NULL;
	if (RMS_TYPE_IS_POWERSHELL(type))
		return ps_names[(unsigned)type - 0x20u];
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
	for (unsigned i = 0; i < 9; i++) {
		if (rms__streq_nocase(name, ps_names[i])) {
			*out = (rms_type)(0x20u + i);
			return 0;
		}
	}
	return rms__error_set(RMS_E_PARSE, RMS_PHASE_NONE,
	                      "unknown type \"%.64s\" (expected a DSP0004 name such as "
	                      "\"uint32\", \"string\" or \"datetime[]\", or a PowerShell type "
	                      "such as \"decimal\" or \"object\", which have no array form)",
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

/* ---- PowerShell values ------------------------------------------------------- */

/*
 * Shape checks of the text types: NULL when text fits, else the reason. The
 * caller reports it with the clipped text, as RMS_E_INVALID_ARG from a
 * constructor or RMS_E_PARSE from rms_value_from_text.
 */
static const char *decimal_problem(const char *s)
{
	const char *p = s;
	if (*p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return "expected [-]digits[.digits]";
	size_t significant = 0;
	bool leading = true;
	for (bool frac = false;; p++) {
		if (*p >= '0' && *p <= '9') {
			if (*p != '0')
				leading = false;
			if (!leading)
				significant++;
		} else if (*p == '.' && !frac && p[1] >= '0' && p[1] <= '9') {
			frac = true;
		} else if (*p == '\0') {
			break;
		} else {
			return "expected [-]digits[.digits] (no exponent, spaces or grouping)";
		}
	}
	if (significant > 29)
		return "more than 29 significant digits (System.Decimal holds 28 to 29)";
	return NULL;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static const char *guid_problem(const char *s)
{
	size_t n = strlen(s);
	if (n != 36)
		return "expected 36 characters, xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	for (size_t i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !is_hex(s[i]))
			return "expected hex digits in the form "
			       "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	}
	return NULL;
}

static const char *version_problem(const char *s)
{
	int parts = 0;
	const char *p = s;
	for (;;) {
		if (*p < '0' || *p > '9')
			return "expected major.minor[.build[.revision]], each a number "
			       "0..2147483647";
		uint64_t n = 0;
		while (*p >= '0' && *p <= '9') {
			n = n * 10 + (uint64_t)(*p++ - '0');
			if (n > 2147483647u)
				return "a component is larger than 2147483647";
		}
		parts++;
		if (*p == '\0')
			break;
		if (*p != '.' || parts == 4)
			return parts == 4 ? "more than four components"
			                  : "expected major.minor[.build[.revision]], each a "
			                    "number 0..2147483647";
		p++;
	}
	return parts < 2 ? "expected at least major.minor" : NULL;
}

static const char *text_problem(rms_type type, const char *s)
{
	size_t len = strlen(s), bad = utf8_bad_offset(s, len);
	if (bad < len)
		return "not valid UTF-8";
	switch (type) {
	case RMS_TYPE_DECIMAL: return decimal_problem(s);
	case RMS_TYPE_GUID: return guid_problem(s);
	case RMS_TYPE_VERSION: return version_problem(s);
	default: return NULL;
	}
}

static int text_invalid(int code, rms_type type, const char *s, const char *why)
{
	char cl[72];
	if (strcmp(why, "not valid UTF-8") == 0)
		return code == RMS_E_INVALID_ARG
		               ? rms__error_field(code, "text", "%s text is not valid UTF-8",
		                                  rms_type_name(type))
		               : rms__error_set(code, RMS_PHASE_NONE,
		                                "%s text is not valid UTF-8", rms_type_name(type));
	if (code == RMS_E_INVALID_ARG)
		return rms__error_field(code, "text", "\"%s\" is not a valid %s: %s", clip(cl, s),
		                        rms_type_name(type), why);
	return rms__error_set(code, RMS_PHASE_NONE, "\"%s\" is not a valid %s: %s", clip(cl, s),
	                      rms_type_name(type), why);
}

int rms__value_new_text_take(rms_value **out, rms_type type, char *owned_text)
{
	*out = NULL;
	if (!RMS_TYPE_IS_TEXT(type)) {
		free(owned_text);
		return rms__error_field(RMS_E_INVALID_ARG, "type", "%s is not a text type",
		                        rms_type_name(type) ? rms_type_name(type) : "(bad type)");
	}
	if (!owned_text)
		return rms__error_field(RMS_E_INVALID_ARG, "text", "%s text is NULL (a null %s is "
		                        "rms_value_new_null)",
		                        rms_type_name(type), rms_type_name(type));
	const char *why = text_problem(type, owned_text);
	if (why) {
		int rc = text_invalid(RMS_E_INVALID_ARG, type, owned_text, why);
		free(owned_text);
		return rc;
	}
	if (type == RMS_TYPE_GUID)
		for (char *p = owned_text; *p; p++)
			if (*p >= 'A' && *p <= 'F')
				*p = (char)(*p - 'A' + 'a');
	int rc = value_new(out, type);
	if (rc) {
		free(owned_text);
		return rc;
	}
	(*out)->u.s = owned_text;
	return 0;
}

static int new_text(rms_value **out, rms_type type, const char *text)
{
	CHECK_OUT(out);
	if (!text)
		return rms__error_field(RMS_E_INVALID_ARG, "text",
		                        "%s text is NULL (a null %s is rms_value_new_null(%s))",
		                        rms_type_name(type), rms_type_name(type),
		                        rms_type_name(type));
	/* Checked before copying, so a refusal costs no allocation. */
	const char *why = text_problem(type, text);
	if (why)
		return text_invalid(RMS_E_INVALID_ARG, type, text, why);
	char *copy = strdup(text);
	if (!copy)
		return rms__error_nomem();
	return rms__value_new_text_take(out, type, copy);
}

int rms_value_new_decimal(rms_value **out, const char *text)
{
	return new_text(out, RMS_TYPE_DECIMAL, text);
}

int rms_value_new_guid(rms_value **out, const char *text)
{
	return new_text(out, RMS_TYPE_GUID, text);
}

int rms_value_new_version(rms_value **out, const char *text)
{
	return new_text(out, RMS_TYPE_VERSION, text);
}

int rms_value_new_uri(rms_value **out, const char *text)
{
	return new_text(out, RMS_TYPE_URI, text);
}

int rms_value_new_xml(rms_value **out, const char *text)
{
	return new_text(out, RMS_TYPE_XML, text);
}

int rms_value_new_scriptblock(rms_value **out, const char *text)
{
	return new_text(out, RMS_TYPE_SCRIPTBLOCK, text);
}

int rms_value_new_timespan(rms_value **out, int64_t ticks)
{
	CHECK_OUT(out);
	return new_signed(out, RMS_TYPE_TIMESPAN, ticks);
}

int rms__value_new_bytes_take(rms_value **out, unsigned char *data, size_t len)
{
	int rc = value_new(out, RMS_TYPE_BYTES);
	if (rc) {
		free(data);
		return rc;
	}
	if (len == 0) {
		free(data);
		data = NULL;
	}
	(*out)->u.bytes.data = data;
	(*out)->u.bytes.len = len;
	return 0;
}

int rms_value_new_bytes(rms_value **out, const void *data, size_t len)
{
	CHECK_OUT(out);
	if (!data && len)
		return rms__error_field(RMS_E_INVALID_ARG, "data",
		                        "bytes: data is NULL with length %zu", len);
	unsigned char *copy = NULL;
	if (len) {
		copy = malloc(len);
		if (!copy)
			return rms__error_nomem();
		memcpy(copy, data, len);
	}
	return rms__value_new_bytes_take(out, copy, len);
}

int rms_value_new_object(rms_value **out, rms_psobject *obj)
{
	CHECK_OUT(out);
	if (!obj)
		return rms__error_field(RMS_E_INVALID_ARG, "obj",
		                        "object is NULL (PowerShell's $null is rms_value_new_null("
		                        "RMS_TYPE_OBJECT))");
	int rc = value_new(out, RMS_TYPE_OBJECT);
	if (rc == 0)
		(*out)->u.obj = obj;
	return rc;
}

/* element_type may be given with or without the array bit ("uint32" or "uint32[]"). */
int rms_value_new_array(rms_value **out, rms_type element_type)
{
	CHECK_OUT(out);
	if (!type_valid(element_type))
		return rms__error_field(RMS_E_INVALID_ARG, "element_type",
		                        "%d is not a CIM type number", (int)element_type);
	if (RMS_TYPE_IS_POWERSHELL(element_type))
		return rms__error_field(RMS_E_INVALID_ARG, "element_type",
		                        "%s has no array form (a PowerShell array is an object "
		                        "holding a list: rms_psobject)",
		                        rms_type_name(element_type));
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
	if (RMS_TYPE_IS_ARRAY(type) || type == RMS_TYPE_REFERENCE ||
	    type == RMS_TYPE_INSTANCE || type == RMS_TYPE_OBJECT)
		return rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_NONE,
		                      "%s values have no text form to parse from",
		                      rms_type_name(type));
	if (RMS_TYPE_IS_TEXT(type) && type != RMS_TYPE_STRING) {
		const char *why = text_problem(type, text);
		if (why)
			return text_invalid(RMS_E_PARSE, type, text, why);
		return new_text(out, type, text);
	}
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
	case RMS_TYPE_TIMESPAN: {
		int64_t ticks;
		int rc = rms__timespan_parse_c(&ticks, text);
		return rc ? rc : rms_value_new_timespan(out, ticks);
	}
	case RMS_TYPE_BYTES: {
		unsigned char *data;
		size_t len;
		int rc = rms__base64_decode(&data, &len, text, strlen(text));
		return rc ? rc : rms__value_new_bytes_take(out, data, len);
	}
	default: return parse_integer(out, type, text);
	}
}

int rms__value_from_wire_text(rms_value **out, rms_type type, const char *text)
{
	CHECK_OUT(out);
	if (!text || type != RMS_TYPE_CHAR16)
		return rms_value_from_text(out, type, text);
	size_t n = strlen(text);
	bool decimal = n > 0 && n <= 5;
	for (size_t i = 0; decimal && i < n; i++)
		decimal = text[i] >= '0' && text[i] <= '9';
	if (!decimal)
		return parse_char16(out, text);
	unsigned long x = strtoul(text, NULL, 10);
	if (x > 0xFFFF)
		return rms__error_set(RMS_E_RANGE, RMS_PHASE_NONE,
		                      "char16 code unit %s is out of range 0..65535", text);
	return rms_value_new_char16(out, (uint16_t)x);
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
		} else if (RMS_TYPE_IS_TEXT(v->type)) {
			free(v->u.s);
		} else if (v->type == RMS_TYPE_REFERENCE) {
			rms_ref_free(v->u.ref);
		} else if (v->type == RMS_TYPE_INSTANCE) {
			rms_instance_free(v->u.inst);
		} else if (v->type == RMS_TYPE_BYTES) {
			free(v->u.bytes.data);
		} else if (v->type == RMS_TYPE_OBJECT) {
			rms_psobject_free(v->u.obj);
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
	if (RMS_TYPE_IS_TEXT(v->type)) {
		/* Checked when made: copied as it is. */
		char *copy = strdup(v->u.s);
		if (!copy)
			return rms__error_nomem();
		int rc = value_new(out, v->type);
		if (rc)
			free(copy);
		else
			(*out)->u.s = copy;
		return rc;
	}
	switch (v->type) {
	case RMS_TYPE_REFERENCE: return rms_value_new_reference(out, v->u.ref);
	case RMS_TYPE_INSTANCE: return rms_value_new_instance(out, v->u.inst);
	case RMS_TYPE_BYTES: return rms_value_new_bytes(out, v->u.bytes.data, v->u.bytes.len);
	case RMS_TYPE_OBJECT: {
		rms_psobject *o;
		int rc = rms_psobject_dup(&o, v->u.obj);
		if (rc == 0 && (rc = rms_value_new_object(out, o)) != 0)
			rms_psobject_free(o);
		return rc;
	}
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

GETTER(rms_value_get_timespan, int64_t, RMS_TYPE_TIMESPAN, v->u.i)
GETTER(rms_value_get_object, const rms_psobject *, RMS_TYPE_OBJECT, v->u.obj)

int rms_value_get_text(const rms_value *v, const char **out)
{
	if (!v || !out)
		return rms__error_field(RMS_E_INVALID_ARG, v ? "out" : "v",
		                        "reading a text value: %s is NULL", v ? "out" : "value");
	if (!RMS_TYPE_IS_TEXT(v->type))
		return rms__error_set(RMS_E_TYPE, RMS_PHASE_NONE,
		                      "value is %s, not a text type (string, decimal, guid, "
		                      "version, uri, xml or scriptblock)",
		                      rms_type_name(v->type));
	if (v->is_null)
		return rms__error_set(RMS_E_NOT_FOUND, RMS_PHASE_NONE, "value is a null %s",
		                      rms_type_name(v->type));
	*out = v->u.s;
	return 0;
}

int rms_value_get_bytes(const rms_value *v, const void **data, size_t *len)
{
	int rc = check_get(v, data, RMS_TYPE_BYTES);
	if (rc == 0 && !len)
		rc = rms__error_field(RMS_E_INVALID_ARG, "len", "reading bytes: len is NULL");
	if (rc == 0) {
		*data = v->u.bytes.data;
		*len = v->u.bytes.len;
	}
	return rc;
}

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
	case RMS_TYPE_DECIMAL:
	case RMS_TYPE_GUID:
	case RMS_TYPE_VERSION:
	case RMS_TYPE_URI:
	case RMS_TYPE_XML:
	case RMS_TYPE_SCRIPTBLOCK: return strcmp(a->u.s, b->u.s) == 0;
	case RMS_TYPE_TIMESPAN: return a->u.i == b->u.i;
	case RMS_TYPE_BYTES:
		return a->u.bytes.len == b->u.bytes.len &&
		       (a->u.bytes.len == 0 ||
		        memcmp(a->u.bytes.data, b->u.bytes.data, a->u.bytes.len) == 0);
	case RMS_TYPE_OBJECT: return rms_psobject_equal(a->u.obj, b->u.obj);
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
	case RMS_TYPE_DECIMAL:
	case RMS_TYPE_GUID:
	case RMS_TYPE_VERSION:
	case RMS_TYPE_URI:
	case RMS_TYPE_XML:
	case RMS_TYPE_SCRIPTBLOCK:
		return nested ? rms__text_quote_append(b, v->u.s)
		              : (rms__buf_puts(b, v->u.s) ? rms__error_nomem() : 0);
	case RMS_TYPE_TIMESPAN: {
		char ts[RMS_TIMESPAN_TEXT_MAX];
		rms__timespan_format_c(ts, v->u.i);
		rc = rms__buf_puts(b, ts);
		break;
	}
	case RMS_TYPE_BYTES: rc = rms__base64_append(b, v->u.bytes.data, v->u.bytes.len); break;
	case RMS_TYPE_OBJECT: return rms__psobject_text_append(b, v->u.obj);
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


/* ---- TimeSpan texts ------------------------------------------------------------------- */

#define TICKS_PER_SECOND 10000000ULL
#define TICKS_PER_DAY (86400ULL * TICKS_PER_SECOND)

void rms__timespan_format_c(char buf[RMS_TIMESPAN_TEXT_MAX], int64_t ticks)
{
	/* The magnitude of INT64_MIN does not fit int64: work unsigned. */
	uint64_t mag = ticks < 0 ? (uint64_t)0 - (uint64_t)ticks : (uint64_t)ticks;
	uint64_t days = mag / TICKS_PER_DAY, rem = mag % TICKS_PER_DAY;
	unsigned h = (unsigned)(rem / (3600 * TICKS_PER_SECOND));
	unsigned m = (unsigned)(rem / (60 * TICKS_PER_SECOND) % 60);
	unsigned sec = (unsigned)(rem / TICKS_PER_SECOND % 60);
	unsigned frac = (unsigned)(rem % TICKS_PER_SECOND);
	int n = snprintf(buf, RMS_TIMESPAN_TEXT_MAX, "%s", ticks < 0 ? "-" : "");
	if (days)
		n += snprintf(buf + n, RMS_TIMESPAN_TEXT_MAX - (size_t)n, "%" PRIu64 ".", days);
	n += snprintf(buf + n, RMS_TIMESPAN_TEXT_MAX - (size_t)n, "%02u:%02u:%02u", h, m, sec);
	if (frac)
		snprintf(buf + n, RMS_TIMESPAN_TEXT_MAX - (size_t)n, ".%07u", frac);
}

/* ticks = sign * (days, hours, minutes, seconds, frac) with overflow checked
 * against int64 (the negative side reaches one tick further). */
static int timespan_total(int64_t *out, bool neg, uint64_t days, uint64_t hours,
                          uint64_t minutes, uint64_t seconds, uint64_t frac, const char *text)
{
	uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	uint64_t parts[4] = { days, hours, minutes, seconds };
	uint64_t unit[4] = { TICKS_PER_DAY, 3600 * TICKS_PER_SECOND, 60 * TICKS_PER_SECOND,
		             TICKS_PER_SECOND };
	uint64_t total = frac;
	bool over = total > limit;
	for (int i = 0; i < 4 && !over; i++) {
		if (parts[i] > (limit - total) / unit[i])
			over = true;
		else
			total += parts[i] * unit[i];
	}
	if (over) {
		char cl[72];
		return rms__error_set(RMS_E_RANGE, RMS_PHASE_NONE,
		                      "timespan \"%s\" is out of range (about +-10675199 days, "
		                      "int64 ticks of 100 ns)",
		                      clip(cl, text));
	}
	*out = neg ? (int64_t)(0 - total) : (int64_t)total;
	return 0;
}

/* Digits at *p into *n, at most max_digits of them (0: any); false if none.
 * A number too large saturates at UINT64_MAX, for the range check to report. */
static bool read_uint(const char **p, uint64_t *n, int max_digits)
{
	const char *s = *p;
	uint64_t v = 0;
	int k = 0;
	while (*s >= '0' && *s <= '9' && (max_digits == 0 || k < max_digits)) {
		unsigned d = (unsigned)(*s - '0');
		v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
		s++, k++;
	}
	if (k == 0)
		return false;
	*p = s;
	*n = v;
	return true;
}

/* A fraction of a second ("5" is 5000000 ticks); digits past 7 are dropped
 * when keep_extra, refused otherwise. Returns the count read, -1 if bad. */
static int read_fraction(const char **p, uint64_t *ticks, bool keep_extra)
{
	const char *s = *p;
	uint64_t v = 0;
	int k = 0;
	while (*s >= '0' && *s <= '9') {
		if (k < 7)
			v = v * 10 + (uint64_t)(*s - '0');
		else if (!keep_extra)
			return -1;
		s++, k++;
	}
	for (int i = k; i < 7; i++)
		v *= 10;
	*p = s;
	*ticks = v;
	return k;
}

int rms__timespan_parse_c(int64_t *ticks, const char *text)
{
	char cl[72];
	const char *p = text;
	bool neg = *p == '-';
	if (neg)
		p++;
	uint64_t days = 0, h, m, sec, frac = 0;
	/* A leading number followed by '.' is days; by ':' it is hours. */
	const char *q = p;
	uint64_t first;
	bool ok = read_uint(&q, &first, 0);
	if (ok && *q == '.') {
		days = first;
		p = q + 1;
	}
	const char *hs = p;
	ok = ok && read_uint(&p, &h, 2) && p - hs >= 1 && *p == ':';
	if (ok) {
		p++;
		const char *ms = p;
		ok = read_uint(&p, &m, 2) && p - ms == 2 && *p == ':';
	}
	if (ok) {
		p++;
		const char *ss = p;
		ok = read_uint(&p, &sec, 2) && p - ss == 2;
	}
	if (ok && *p == '.') {
		p++;
		int k = read_fraction(&p, &frac, false);
		ok = k >= 1;
	}
	if (!ok || *p != '\0')
		return rms__error_set(RMS_E_PARSE, RMS_PHASE_NONE,
		                      "\"%s\" is not a valid timespan: expected "
		                      "[-][d.]hh:mm:ss[.fffffff]",
		                      clip(cl, text));
	if (h > 23 || m > 59 || sec > 59)
		return rms__error_set(RMS_E_RANGE, RMS_PHASE_NONE,
		                      "\"%s\" is not a valid timespan: hours 0..23, minutes and "
		                      "seconds 0..59",
		                      clip(cl, text));
	return timespan_total(ticks, neg, days, h, m, sec, frac, text);
}

int rms__timespan_parse_xs(int64_t *ticks, const char *text)
{
	char cl[72];
	const char *p = text;
	bool neg = *p == '-';
	if (neg)
		p++;
	uint64_t part[4] = { 0, 0, 0, 0 }, frac = 0; /* D, H, M, S */
	bool ok = *p++ == 'P', any = false, time = false;
	int next = 0; /* components come in order D, H, M, S */
	while (ok && *p) {
		if (*p == 'T' && !time) {
			time = true;
			p++;
			ok = *p != '\0';
			next = 1;
			continue;
		}
		uint64_t n;
		if (!read_uint(&p, &n, 0)) {
			ok = false;
			break;
		}
		if (time && *p == '.') {
			p++;
			ok = read_fraction(&p, &frac, true) >= 1 && *p == 'S';
		}
		int which = !time ? (*p == 'D' ? 0 : *p == 'Y' || *p == 'M' ? -2 : -1)
		                  : (*p == 'H' ? 1 : *p == 'M' ? 2 : *p == 'S' ? 3 : -1);
		if (which == -2) {
			return rms__error_set(RMS_E_RANGE, RMS_PHASE_NONE,
			                      "timespan \"%s\" has years or months, which have no "
			                      "fixed length",
			                      clip(cl, text));
		}
		if (!ok || which < next) {
			ok = false;
			break;
		}
		part[which] = n;
		next = which + 1;
		any = true;
		p++;
	}
	if (!ok || !any)
		return rms__error_set(RMS_E_PARSE, RMS_PHASE_NONE,
		                      "\"%s\" is not a valid xs:duration timespan: expected "
		                      "[-]P[nD][T[nH][nM][n[.f]S]]",
		                      clip(cl, text));
	return timespan_total(ticks, neg, part[0], part[1], part[2], part[3], frac, text);
}
