/*
 * remsess — typed CIM values, references and instances.
 *
 * One model for both backends: an instance returned by the CIM backend and the
 * same instance deserialized from a remote PowerShell pipeline compare equal
 * with rms_instance_equal().
 *
 * Null is a state of a typed value: a null string is distinct from an empty
 * string, and a null array from an empty one.
 */
#ifndef REMSESS_VALUE_H
#define REMSESS_VALUE_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The CIM intrinsic types (DSP0004). An array type is the scalar type with
 * RMS_TYPE_ARRAY or'ed in. */
typedef enum rms_type {
	RMS_TYPE_BOOLEAN = 0,
	RMS_TYPE_UINT8 = 1,
	RMS_TYPE_SINT8 = 2,
	RMS_TYPE_UINT16 = 3,
	RMS_TYPE_SINT16 = 4,
	RMS_TYPE_UINT32 = 5,
	RMS_TYPE_SINT32 = 6,
	RMS_TYPE_UINT64 = 7,
	RMS_TYPE_SINT64 = 8,
	RMS_TYPE_REAL32 = 9,
	RMS_TYPE_REAL64 = 10,
	RMS_TYPE_CHAR16 = 11,
	RMS_TYPE_DATETIME = 12,  /* a timestamp or an interval */
	RMS_TYPE_STRING = 13,
	RMS_TYPE_REFERENCE = 14, /* an endpoint reference (rms_ref) */
	RMS_TYPE_INSTANCE = 15,  /* an embedded instance */
	RMS_TYPE_ARRAY = 0x10,
	/* PowerShell types: what a PowerShell pipeline returns (CLIXML) that
	 * CIM has no type for. They have no array form (RMS_TYPE_ARRAY is not
	 * or'ed into them): PowerShell's arrays and collections are objects
	 * holding a list (rms_psobject). */
	RMS_TYPE_DECIMAL = 0x20,     /* System.Decimal, kept as its exact text: "-12.50" */
	RMS_TYPE_GUID = 0x21,        /* System.Guid, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (lower case) */
	RMS_TYPE_TIMESPAN = 0x22,    /* System.TimeSpan: signed, in ticks of 100 ns */
	RMS_TYPE_VERSION = 0x23,     /* System.Version, "major.minor[.build[.revision]]" */
	RMS_TYPE_URI = 0x24,         /* System.Uri, its text */
	RMS_TYPE_XML = 0x25,         /* System.Xml.XmlDocument, its XML text */
	RMS_TYPE_SCRIPTBLOCK = 0x26, /* System.Management.Automation.ScriptBlock, its text */
	RMS_TYPE_BYTES = 0x27,       /* System.Byte[]: a byte string */
	RMS_TYPE_OBJECT = 0x28       /* a PowerShell object (rms_psobject); its null is
	                                PowerShell's $null (<Nil/>), which has no type */
} rms_type;

#define RMS_TYPE_IS_POWERSHELL(t) ((unsigned)(t) >= 0x20u && (unsigned)(t) <= 0x28u)

#define RMS_TYPE_SCALAR(t) ((rms_type)((t) & ~RMS_TYPE_ARRAY))
#define RMS_TYPE_IS_ARRAY(t) (((t) & RMS_TYPE_ARRAY) != 0)

/* CIM type names as DSP0004 spells them: "boolean", "uint8", ... "datetime",
 * "string", "ref", "instance"; arrays get "[]" appended ("uint32[]"). The
 * PowerShell types: "decimal", "guid", "timespan", "version", "uri", "xml",
 * "scriptblock", "bytes", "object". NULL for a number that is not a type. */
RMS_EXTERN const char *rms_type_name(rms_type type);
/* The inverse; returns 0 or RMS_E_PARSE. */
RMS_EXTERN int rms_type_parse(rms_type *out, const char *name);

/* ---- datetime ---------------------------------------------------------- */

/* Fields of a datetime that may be unknown ("*" in the DMTF form). */
enum {
	RMS_DT_WILD_YEAR = 1 << 0,   /* timestamp only */
	RMS_DT_WILD_MONTH = 1 << 1,  /* timestamp only */
	RMS_DT_WILD_DAY = 1 << 2,    /* day (timestamp) or days (interval) */
	RMS_DT_WILD_HOUR = 1 << 3,
	RMS_DT_WILD_MINUTE = 1 << 4,
	RMS_DT_WILD_SECOND = 1 << 5,
	RMS_DT_WILD_OFFSET = 1 << 6, /* timestamp's UTC offset ("+***") */
	/* Microsecond digits after the first frac_digits (0..5) are '*'
	 * ("123***"): the DMTF form's reduced precision. Without this bit the
	 * DMTF form prints all six digits. */
	RMS_DT_WILD_MICROSECOND = 1 << 7
};

/* How a timestamp's zone was written. */
typedef enum rms_tz_form {
	RMS_TZ_OFFSET = 0, /* "+08:00" / "-420" (minutes, DMTF) */
	RMS_TZ_UTC_Z = 1,  /* "Z" (xs:dateTime only); offset is 0 */
	RMS_TZ_NONE = 2    /* no zone given (xs:dateTime only): local time */
} rms_tz_form;

/*
 * A CIM datetime: a point in time or an interval. A plain struct, copied by
 * value. Equality (rms_datetime_equal) compares what the value means: the
 * same instant (timestamps are compared after applying their UTC offsets) or
 * the same length (intervals), the same wildcards; how it was written
 * (frac_digits, "Z" versus "+00:00") does not matter. A timestamp without a
 * zone equals only another without a zone and the same fields.
 *
 * The fraction is kept in nanoseconds with the number of digits written, so
 * each text form prints back exactly as it was parsed. The DMTF form carries
 * microseconds: a parsed DMTF value has frac_digits 6, or with
 * RMS_DT_WILD_MICROSECOND the count of significant (non-'*') digits, 0..5.
 */
typedef struct rms_datetime {
	bool is_interval;
	/* timestamp */
	int year;         /* 0..9999 */
	int month;        /* 1..12 */
	int day;          /* 1..31, checked against the month */
	/* interval */
	uint32_t days;    /* 0..99999999 */
	/* both */
	int hour;         /* 0..23 */
	int minute;       /* 0..59 */
	int second;       /* 0..59 (60 accepted for a leap second) */
	uint32_t nanoseconds; /* 0..999999999 */
	int frac_digits;  /* digits of the fraction as written: 0..9 */
	int utc_offset;   /* minutes east of UTC, -999..999 (timestamp) */
	rms_tz_form tz_form;
	unsigned wildcards; /* RMS_DT_WILD_* */
} rms_datetime;

/*
 * DMTF form (DSP0004): timestamp "yyyymmddHHMMSS.mmmmmmsUUU" (s is + or -,
 * UUU the offset in minutes), interval "ddddddddHHMMSS.mmmmmm:000". Fields
 * may be '*' (unknown); microsecond digits may be '*' from the right.
 * Returns 0, RMS_E_PARSE (wrong shape) or RMS_E_RANGE (a field out of
 * range), with the reason in rms_error_last().
 */
RMS_EXTERN int rms_datetime_parse_dmtf(rms_datetime *out, const char *text);
/* Writes the DMTF form (25 characters + NUL) into buf of size >= 26. */
RMS_EXTERN int rms_datetime_format_dmtf(const rms_datetime *dt, char *buf, size_t size);

/*
 * XML Schema forms: a timestamp as xs:dateTime ("2014-04-03T14:45:50.46875+08:00",
 * "…Z", or no zone), an interval as xs:duration ("P1DT2H3M4.5S"). Durations
 * with years or months are refused (RMS_E_RANGE: they have no fixed length),
 * as are negative durations (CIM intervals are not negative). Wildcards have
 * no xs form: formatting a datetime with wildcards fails with RMS_E_RANGE.
 * Intervals print as "PnDTnHnMn[.f]S" with every component, the form Windows
 * uses.
 */
RMS_EXTERN int rms_datetime_parse_xs(rms_datetime *out, const char *text);
/* buf of size >= RMS_DATETIME_XS_MAX. */
RMS_EXTERN int rms_datetime_format_xs(const rms_datetime *dt, char *buf, size_t size);
#define RMS_DATETIME_XS_MAX 64

RMS_EXTERN bool rms_datetime_equal(const rms_datetime *a, const rms_datetime *b);

/* ---- references (endpoint references) ---------------------------------- */

/*
 * A reference names one CIM instance: its class and namespace, the key
 * properties as selectors, and where known the WS-Man address and resource
 * URI it came with. It is what a CIM REF property holds, what Create returns
 * and what get/modify/delete/invoke and associators take.
 */
RMS_EXTERN int rms_ref_new(rms_ref **out, const char *cim_namespace, const char *class_name);
RMS_EXTERN void rms_ref_free(rms_ref *ref);
RMS_EXTERN int rms_ref_dup(rms_ref **out, const rms_ref *ref);

/* Add a key selector. A selector value is a string, or itself a reference
 * (nested EPR). Names are unique: adding an existing name replaces it. */
RMS_EXTERN int rms_ref_add_selector(rms_ref *ref, const char *name, const char *value);
RMS_EXTERN int rms_ref_add_selector_ref(rms_ref *ref, const char *name, const rms_ref *value);
RMS_EXTERN int rms_ref_set_address(rms_ref *ref, const char *address);
RMS_EXTERN int rms_ref_set_resource_uri(rms_ref *ref, const char *resource_uri);

/* Getters; strings borrowed, NULL where unknown. */
RMS_EXTERN const char *rms_ref_namespace(const rms_ref *ref);
RMS_EXTERN const char *rms_ref_class_name(const rms_ref *ref);
RMS_EXTERN const char *rms_ref_address(const rms_ref *ref);
RMS_EXTERN const char *rms_ref_resource_uri(const rms_ref *ref);
RMS_EXTERN size_t rms_ref_selector_count(const rms_ref *ref);
/* The i-th selector in insertion order: its name and either a string value
 * (*value_ref NULL) or a nested reference (*value NULL). Out-parameters may
 * be NULL. Returns RMS_E_NOT_FOUND past the end. */
RMS_EXTERN int rms_ref_selector_at(const rms_ref *ref, size_t i, const char **name,
                                   const char **value, const rms_ref **value_ref);
/* The string value of the named selector (case-insensitive, as CIM names
 * are), or NULL. */
RMS_EXTERN const char *rms_ref_selector(const rms_ref *ref, const char *name);

/* Same class (case-insensitive), namespace and selectors (any order, names
 * case-insensitive, values exact). Address and resource URI are ignored.
 * Namespaces compare case-insensitively with '\' and '/' alike; an unknown
 * (NULL) namespace matches any, since one side often does not carry it. */
RMS_EXTERN bool rms_ref_equal(const rms_ref *a, const rms_ref *b);

/* ---- values ------------------------------------------------------------ */

/* Constructors. Each returns an owned value. Strings must be valid UTF-8
 * (RMS_E_INVALID_ARG otherwise). */
RMS_EXTERN int rms_value_new_null(rms_value **out, rms_type type);
RMS_EXTERN int rms_value_new_boolean(rms_value **out, bool v);
RMS_EXTERN int rms_value_new_uint8(rms_value **out, uint8_t v);
RMS_EXTERN int rms_value_new_sint8(rms_value **out, int8_t v);
RMS_EXTERN int rms_value_new_uint16(rms_value **out, uint16_t v);
RMS_EXTERN int rms_value_new_sint16(rms_value **out, int16_t v);
RMS_EXTERN int rms_value_new_uint32(rms_value **out, uint32_t v);
RMS_EXTERN int rms_value_new_sint32(rms_value **out, int32_t v);
RMS_EXTERN int rms_value_new_uint64(rms_value **out, uint64_t v);
RMS_EXTERN int rms_value_new_sint64(rms_value **out, int64_t v);
RMS_EXTERN int rms_value_new_real32(rms_value **out, float v);
RMS_EXTERN int rms_value_new_real64(rms_value **out, double v);
/* A UTF-16 code unit (0..0xFFFF); surrogates alone are refused. */
RMS_EXTERN int rms_value_new_char16(rms_value **out, uint16_t v);
RMS_EXTERN int rms_value_new_string(rms_value **out, const char *utf8);
/* Same, from a buffer that need not be NUL-terminated; embedded NULs are
 * refused. */
RMS_EXTERN int rms_value_new_string_len(rms_value **out, const char *utf8, size_t len);
/* The datetime is validated (fields in range). */
RMS_EXTERN int rms_value_new_datetime(rms_value **out, const rms_datetime *v);
/* Copies the reference / instance. */
RMS_EXTERN int rms_value_new_reference(rms_value **out, const rms_ref *v);
RMS_EXTERN int rms_value_new_instance(rms_value **out, const rms_instance *v);
/*
 * PowerShell values. The text ones are checked and kept as text:
 * decimal "[-]digits[.digits]" (at most 29 significant digits, as
 * System.Decimal holds), a GUID in its 36-character form (any case; kept
 * lower case), a version "major.minor[.build[.revision]]" of numbers
 * 0..2147483647; a URI, an XML document and a script block are any valid
 * UTF-8 text. Bytes may be empty. RMS_E_INVALID_ARG with the reason for
 * text of the wrong shape.
 */
RMS_EXTERN int rms_value_new_decimal(rms_value **out, const char *text);
RMS_EXTERN int rms_value_new_guid(rms_value **out, const char *text);
RMS_EXTERN int rms_value_new_timespan(rms_value **out, int64_t ticks);
RMS_EXTERN int rms_value_new_version(rms_value **out, const char *text);
RMS_EXTERN int rms_value_new_uri(rms_value **out, const char *text);
RMS_EXTERN int rms_value_new_xml(rms_value **out, const char *text);
RMS_EXTERN int rms_value_new_scriptblock(rms_value **out, const char *text);
RMS_EXTERN int rms_value_new_bytes(rms_value **out, const void *data, size_t len);
/* Takes ownership of obj on success (on failure the caller keeps it). */
RMS_EXTERN int rms_value_new_object(rms_value **out, rms_psobject *obj);

/* An empty (not null) array of the given scalar type. */
RMS_EXTERN int rms_value_new_array(rms_value **out, rms_type element_type);
/* Appends an element, taking ownership of it on success (on failure the
 * caller keeps it). The element must be a non-null scalar of the array's
 * element type: CIM arrays have no null elements. */
RMS_EXTERN int rms_value_array_append(rms_value *array, rms_value *element);

/*
 * A value from its text form, as rms_value_to_text() writes it: booleans
 * "true"/"false" (any case; not "1"/"0"), integers in decimal with an
 * optional sign, '-' only for signed types (range-checked against the type:
 * RMS_E_RANGE), reals in decimal or exponent notation, "NaN", "INF", "-INF"
 * ("Infinity" too, any case); char16 as exactly one character of the BMP
 * (the empty text is U+0000); datetime in the DMTF form or an xs form;
 * strings as they are. No surrounding spaces. Arrays, references and
 * instances have no text form to parse from (RMS_E_UNSUPPORTED).
 * PowerShell types: decimal, GUID, version, URI, XML and script block as
 * their constructors take them (RMS_E_PARSE for the wrong shape); timespan
 * in .NET's constant form "[-][d.]hh:mm:ss[.fffffff]" (1 to 7 fraction
 * digits; RMS_E_RANGE beyond int64 ticks); bytes as base64 (whitespace
 * ignored). Objects have none (RMS_E_UNSUPPORTED).
 */
RMS_EXTERN int rms_value_from_text(rms_value **out, rms_type type, const char *text);

RMS_EXTERN void rms_value_free(rms_value *v);
RMS_EXTERN int rms_value_dup(rms_value **out, const rms_value *v);

RMS_EXTERN rms_type rms_value_type(const rms_value *v);
RMS_EXTERN bool rms_value_is_null(const rms_value *v);

/* Typed getters: RMS_E_TYPE if the value has another type or is an array,
 * RMS_E_NOT_FOUND if it is null. */
RMS_EXTERN int rms_value_get_boolean(const rms_value *v, bool *out);
RMS_EXTERN int rms_value_get_uint8(const rms_value *v, uint8_t *out);
RMS_EXTERN int rms_value_get_sint8(const rms_value *v, int8_t *out);
RMS_EXTERN int rms_value_get_uint16(const rms_value *v, uint16_t *out);
RMS_EXTERN int rms_value_get_sint16(const rms_value *v, int16_t *out);
RMS_EXTERN int rms_value_get_uint32(const rms_value *v, uint32_t *out);
RMS_EXTERN int rms_value_get_sint32(const rms_value *v, int32_t *out);
RMS_EXTERN int rms_value_get_uint64(const rms_value *v, uint64_t *out);
RMS_EXTERN int rms_value_get_sint64(const rms_value *v, int64_t *out);
RMS_EXTERN int rms_value_get_real32(const rms_value *v, float *out);
RMS_EXTERN int rms_value_get_real64(const rms_value *v, double *out);
RMS_EXTERN int rms_value_get_char16(const rms_value *v, uint16_t *out);
RMS_EXTERN int rms_value_get_datetime(const rms_value *v, rms_datetime *out);
/* Borrowed; valid while the value lives. */
RMS_EXTERN int rms_value_get_string(const rms_value *v, const char **out);
RMS_EXTERN int rms_value_get_reference(const rms_value *v, const rms_ref **out);
RMS_EXTERN int rms_value_get_instance(const rms_value *v, const rms_instance **out);
/* The text of a string, decimal, GUID, version, URI, XML or script-block
 * value (borrowed). */
RMS_EXTERN int rms_value_get_text(const rms_value *v, const char **out);
RMS_EXTERN int rms_value_get_timespan(const rms_value *v, int64_t *ticks);
/* Borrowed bytes (data may be NULL when len is 0). */
RMS_EXTERN int rms_value_get_bytes(const rms_value *v, const void **data, size_t *len);
RMS_EXTERN int rms_value_get_object(const rms_value *v, const rms_psobject **out);
/* Any integer type, converted when it fits (RMS_E_RANGE otherwise). */
RMS_EXTERN int rms_value_as_int64(const rms_value *v, int64_t *out);
RMS_EXTERN int rms_value_as_uint64(const rms_value *v, uint64_t *out);

/* Arrays: length (0 for null or a scalar) and borrowed elements. */
RMS_EXTERN size_t rms_value_array_length(const rms_value *v);
RMS_EXTERN const rms_value *rms_value_array_at(const rms_value *v, size_t i);

/*
 * Deep equality: same type, same nullness, equal contents. Reals compare
 * bitwise-equal after normalising -0/+0 (NaN equals NaN), strings by bytes,
 * datetimes with rms_datetime_equal, references with rms_ref_equal,
 * instances with rms_instance_equal, arrays element by element in order.
 * PowerShell types: decimal, GUID, version, URI, XML and script-block texts
 * exactly (a GUID is kept lower case, so any case given matches; "1.5" and
 * "1.50" differ), timespans by ticks, bytes by content, objects with
 * rms_psobject_equal; $null equals only $null.
 */
RMS_EXTERN bool rms_value_equal(const rms_value *a, const rms_value *b);

/*
 * Text form (caller frees with rms_free): what rms_value_from_text parses
 * back to an equal value for every scalar type. Reals print the shortest
 * text that reads back to the same number; datetimes print in the DMTF
 * form (the xs form for what DMTF cannot carry: no zone, or digits finer
 * than a microsecond); null prints as "(null)"; arrays as "{a, b}" (strings
 * and char16 inside quoted, with \" and \\ escaped), references as
 * "namespace:Class.Key=\"v\",..." (the WMI object-path form; no "namespace:"
 * when unknown), instances as "instance of Class { Name = value; ... }".
 * PowerShell types: decimal, GUID, version, URI, XML and script block as
 * their text (quoted inside arrays and objects, like strings); a timespan
 * in .NET's constant form "[-][d.]hh:mm:ss[.fffffff]" (the fraction only
 * when nonzero); bytes in base64; an object as its ToString text when it
 * has one, else a list as "{a, b}", a dictionary as "@{k=v; k2=v2}", an
 * object with properties as "@{Name=value; Other=value}" (PowerShell's look
 * of a PSCustomObject; keys and values unquoted), else its base value's
 * text, else "". A null object ($null) prints "(null)" like other nulls.
 */
RMS_EXTERN int rms_value_to_text(char **out, const rms_value *v);

/*
 * JSON form (caller frees with rms_free). null -> null; boolean -> true/false;
 * integers -> numbers (uint64 above 2^63-1 -> a decimal string); reals ->
 * numbers (NaN and infinities -> "NaN", "INF", "-INF"); char16 and string ->
 * strings; timestamps -> xs:dateTime strings, intervals -> xs:duration strings
 * (the DMTF string when there are wildcards or the UTC offset is beyond
 * xs:dateTime's +-14:00); references -> {"class", "namespace",
 * "selectors": {...}}; instances -> see rms_instance_to_json; arrays -> arrays.
 *
 * PowerShell types, as `ConvertTo-Json -Depth 10 -Compress` prints the same
 * deserialized value: decimal -> a number (an integer without a fraction;
 * a string when it has more than 15 significant digits, which a double
 * does not keep); guid, version ("1.2.3"), uri, xml, scriptblock ->
 * strings; timespan -> its constant-form string "1.02:03:04.5000000";
 * bytes -> an array of numbers 0..255; an object: a dictionary -> an object
 * (keys in their one-line text form), a list kind -> an array, an object
 * with properties -> an object of them (adapted and extended, in order),
 * else its base value's JSON, else its ToString as a string, else {};
 * $null -> null.
 */
RMS_EXTERN int rms_value_to_json(char **out, const rms_value *v);

/* ---- PowerShell objects ------------------------------------------------ */

/*
 * A PowerShell object as a pipeline returns it (a deserialized PSObject,
 * CLIXML <Obj>): its type names, its ToString text, the value it wraps
 * (an enum's number, a string with notes added), a collection (a list, or
 * a dictionary's entries) and its properties, adapted (the .NET object's
 * own, CLIXML <Props>) and extended (note properties and the like, <MS>).
 * Every part is optional. Values inside may be objects again; a null
 * element of a list is a null value of type RMS_TYPE_OBJECT ($null).
 */
typedef enum rms_ps_collection {
	RMS_PS_COLLECTION_NONE = 0,
	RMS_PS_COLLECTION_LIST = 1,       /* an array or a list (<LST>) */
	RMS_PS_COLLECTION_ENUMERABLE = 2, /* any other enumerable (<IE>) */
	RMS_PS_COLLECTION_STACK = 3,      /* <STK>, top first */
	RMS_PS_COLLECTION_QUEUE = 4,      /* <QUE>, head first */
	RMS_PS_COLLECTION_DICTIONARY = 5  /* key/value entries (<DCT>) */
} rms_ps_collection;

/* Property flags of an object's properties. */
enum {
	RMS_PS_PROP_ADAPTED = 1 << 1, /* the object's own property (<Props>) */
	RMS_PS_PROP_EXTENDED = 1 << 2 /* an added member, a note property (<MS>) */
};

RMS_EXTERN int rms_psobject_new(rms_psobject **out);
RMS_EXTERN void rms_psobject_free(rms_psobject *obj);
RMS_EXTERN int rms_psobject_dup(rms_psobject **out, const rms_psobject *obj);

/* Type names, most derived first ("Deserialized.System.IO.FileInfo", ...,
 * "Deserialized.System.Object", as a pipeline's objects carry them). */
RMS_EXTERN int rms_psobject_add_type_name(rms_psobject *obj, const char *name);
RMS_EXTERN size_t rms_psobject_type_name_count(const rms_psobject *obj);
/* NULL past the end. */
RMS_EXTERN const char *rms_psobject_type_name_at(const rms_psobject *obj, size_t i);

/* The object's ToString() text as the remote computer computed it, or NULL. */
RMS_EXTERN int rms_psobject_set_to_string(rms_psobject *obj, const char *text);
RMS_EXTERN const char *rms_psobject_to_string(const rms_psobject *obj);

/* The wrapped value (taken on success), or NULL for none. */
RMS_EXTERN int rms_psobject_set_base(rms_psobject *obj, rms_value *value);
RMS_EXTERN const rms_value *rms_psobject_base(const rms_psobject *obj);

/* The collection's kind; set once, before the first item (RMS_E_STATE
 * after). */
RMS_EXTERN int rms_psobject_set_collection(rms_psobject *obj, rms_ps_collection kind);
RMS_EXTERN rms_ps_collection rms_psobject_collection(const rms_psobject *obj);
/* Append an item to a list kind, or an entry to a dictionary, taking the
 * values on success (RMS_E_TYPE when the kind does not match). A
 * dictionary's keys are not null and unique (rms_value_equal): a key
 * given twice is RMS_E_INVALID_ARG. */
RMS_EXTERN int rms_psobject_append(rms_psobject *obj, rms_value *item);
RMS_EXTERN int rms_psobject_append_entry(rms_psobject *obj, rms_value *key, rms_value *value);
/* Items or entries, in order; *key is NULL for a list's item. Out-parameters
 * may be NULL; RMS_E_NOT_FOUND past the end. */
RMS_EXTERN size_t rms_psobject_length(const rms_psobject *obj);
RMS_EXTERN int rms_psobject_item_at(const rms_psobject *obj, size_t i, const rms_value **key,
                                    const rms_value **value);

/* Properties, adapted and extended, in the order first set; names are
 * matched case-insensitively (as PowerShell does) and setting an existing
 * name replaces its value and flags in place. Takes the value on success. */
RMS_EXTERN int rms_psobject_set(rms_psobject *obj, const char *name, rms_value *value,
                                unsigned flags);
RMS_EXTERN size_t rms_psobject_count(const rms_psobject *obj);
RMS_EXTERN int rms_psobject_at(const rms_psobject *obj, size_t i, const char **name,
                               const rms_value **value, unsigned *flags);
RMS_EXTERN const rms_value *rms_psobject_get(const rms_psobject *obj, const char *name);

/* Same type names (in order), ToString, base, collection kind and items (a
 * list's in order; a dictionary's as a set of entries) and properties (any
 * order, names case-insensitive, flags ignored). */
RMS_EXTERN bool rms_psobject_equal(const rms_psobject *a, const rms_psobject *b);

/*
 * Readable multi-line text, roughly as PowerShell's default formatting shows
 * the value (caller frees with rms_free): a dictionary object as a table
 * ("Name", "Value" headers, a "----" / "-----" row, one row per entry, the
 * Name column as wide as the longest key); a list object one item per line;
 * an object with properties one "Name : value" line per property, names
 * padded to the longest (as Format-List); anything else its one-line text
 * (rms_value_to_text). Values are in their one-line text form; every line
 * ends in '\n', and an empty display is "".
 */
RMS_EXTERN int rms_value_to_display(char **out, const rms_value *v);

/* ---- instances --------------------------------------------------------- */

/* Property flags. */
enum {
	RMS_PROP_KEY = 1 << 0 /* a key property (known from the class or a selector) */
};

RMS_EXTERN int rms_instance_new(rms_instance **out, const char *cim_namespace,
                                const char *class_name);
RMS_EXTERN void rms_instance_free(rms_instance *inst);
RMS_EXTERN int rms_instance_dup(rms_instance **out, const rms_instance *inst);

/* Borrowed; NULL where unknown. */
RMS_EXTERN const char *rms_instance_class_name(const rms_instance *inst);
RMS_EXTERN const char *rms_instance_namespace(const rms_instance *inst);
/* The instance's own reference when the server sent one (EnumerateObjectAndEPR)
 * or it was set; NULL otherwise. */
RMS_EXTERN const rms_ref *rms_instance_ref(const rms_instance *inst);
RMS_EXTERN int rms_instance_set_ref(rms_instance *inst, const rms_ref *ref);

/*
 * Add or replace a property, taking ownership of the value on success (on
 * failure the caller keeps it). Properties keep the order they were first
 * added in; names are matched case-insensitively, as CIM names are.
 */
RMS_EXTERN int rms_instance_set(rms_instance *inst, const char *name, rms_value *value,
                                unsigned flags);
RMS_EXTERN size_t rms_instance_count(const rms_instance *inst);
/* The i-th property; out-parameters may be NULL. RMS_E_NOT_FOUND past the end. */
RMS_EXTERN int rms_instance_at(const rms_instance *inst, size_t i, const char **name,
                               const rms_value **value, unsigned *flags);
/* Borrowed value of the named property, or NULL if there is none. */
RMS_EXTERN const rms_value *rms_instance_get(const rms_instance *inst, const char *name);

/*
 * Same class name and namespace (case-insensitive), the same set of
 * property names, and equal values; property order is ignored, because
 * neither WS-Man nor PowerShell serialization defines it. Namespaces compare
 * as in rms_ref_equal (NULL matches any). Property flags and the instance's
 * own reference are not compared.
 */
RMS_EXTERN bool rms_instance_equal(const rms_instance *a, const rms_instance *b);

/* One line of JSON, caller frees with rms_free:
 * {"class":"Win32_Service","namespace":"root/cimv2","properties":{...}}
 * with "ref" added when the instance has one. Key order is the property order. */
RMS_EXTERN int rms_instance_to_json(char **out, const rms_instance *inst);
/* Readable text, one "Name : value" line per property, as PowerShell's
 * Format-List shows an instance (names padded to the longest; values in
 * their rms_value_to_text form, so null shows as "(null)"). Caller frees
 * with rms_free. */
RMS_EXTERN int rms_instance_to_text(char **out, const rms_instance *inst);

#ifdef __cplusplus
}
#endif

#endif
