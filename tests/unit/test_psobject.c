/* PowerShell values and objects: the new scalar types, rms_psobject, and their
 * text, display and JSON forms. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "remsess/remsess.h"
#include "error_internal.h"
#include "value_internal.h"

/* rc must be `code` and the last error's message must contain `part`. */
#define assert_error(expr, code, part)                                                             \
	do {                                                                                       \
		int rc_ = (expr);                                                                  \
		assert_int_equal(rc_, (code));                                                     \
		const char *m_ = rms_error_message(rms_error_last());                              \
		assert_non_null(m_);                                                               \
		if (!strstr(m_, (part)))                                                           \
			fail_msg("message \"%s\" does not mention \"%s\"", m_, (part));            \
	} while (0)

/* ---- helpers --------------------------------------------------------------------- */

static rms_value *str(const char *s)
{
	rms_value *v;
	assert_int_equal(rms_value_new_string(&v, s), 0);
	return v;
}

static rms_value *i32(int32_t n)
{
	rms_value *v;
	assert_int_equal(rms_value_new_sint32(&v, n), 0);
	return v;
}

static rms_value *psnull(void)
{
	rms_value *v;
	assert_int_equal(rms_value_new_null(&v, RMS_TYPE_OBJECT), 0);
	return v;
}

static rms_value *text_value(rms_type t, const char *text)
{
	rms_value *v = NULL;
	int rc = rms_value_from_text(&v, t, text);
	if (rc)
		fail_msg("from_text(%s, \"%s\"): %s", rms_type_name(t), text,
		         rms_error_message(rms_error_last()));
	return v;
}

static rms_psobject *obj_new(void)
{
	rms_psobject *o;
	assert_int_equal(rms_psobject_new(&o), 0);
	return o;
}

/* Wraps o in a value (taking it). */
static rms_value *obj_value(rms_psobject *o)
{
	rms_value *v;
	assert_int_equal(rms_value_new_object(&v, o), 0);
	return v;
}

static rms_psobject *list_of(rms_value *a, rms_value *b, rms_value *c)
{
	rms_psobject *o = obj_new();
	assert_int_equal(rms_psobject_set_collection(o, RMS_PS_COLLECTION_LIST), 0);
	rms_value *items[] = { a, b, c };
	for (size_t i = 0; i < 3; i++)
		if (items[i])
			assert_int_equal(rms_psobject_append(o, items[i]), 0);
	return o;
}

static void set_prop(rms_psobject *o, const char *name, rms_value *v)
{
	assert_int_equal(rms_psobject_set(o, name, v, RMS_PS_PROP_EXTENDED), 0);
}

static void add_entry(rms_psobject *o, rms_value *k, rms_value *v)
{
	assert_int_equal(rms_psobject_append_entry(o, k, v), 0);
}

/* The text, display or JSON form of v equals want; v is freed. */
static void expect_text(rms_value *v, const char *want)
{
	char *t = NULL;
	assert_int_equal(rms_value_to_text(&t, v), 0);
	assert_string_equal(t, want);
	rms_free(t);
	rms_value_free(v);
}

static void expect_display(rms_value *v, const char *want)
{
	char *t = NULL;
	assert_int_equal(rms_value_to_display(&t, v), 0);
	assert_string_equal(t, want);
	rms_free(t);
	rms_value_free(v);
}

static void expect_json(rms_value *v, const char *want)
{
	char *t = NULL;
	assert_int_equal(rms_value_to_json(&t, v), 0);
	assert_string_equal(t, want);
	rms_free(t);
	rms_value_free(v);
}

/* to_text of v is `text` and reads back equal with from_text. */
static void assert_round_trip(const rms_value *v, const char *text)
{
	char *t = NULL;
	assert_int_equal(rms_value_to_text(&t, v), 0);
	assert_string_equal(t, text);
	rms_value *back = text_value(rms_value_type(v), t);
	assert_true(rms_value_equal(v, back));
	rms_value_free(back);
	rms_free(t);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* valgrind preloads its own libraries; it runs code some 50 times slower. */
static bool under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");
	return p && strstr(p, "vgpreload");
}

/* ---- type numbers and names ----------------------------------------------------------- */

static void test_powershell_types_have_names_and_no_array_form(void **state)
{
	(void)state;
	const char *names[] = { "decimal", "guid",        "timespan", "version", "uri",
		                "xml",     "scriptblock", "bytes",    "object" };
	for (unsigned i = 0; i < 9; i++) {
		rms_type t = (rms_type)(RMS_TYPE_DECIMAL + i);
		assert_true(RMS_TYPE_IS_POWERSHELL(t));
		assert_string_equal(rms_type_name(t), names[i]);
		rms_type back;
		assert_int_equal(rms_type_parse(&back, names[i]), 0);
		assert_int_equal(back, t);
		assert_null(rms_type_name((rms_type)(t | RMS_TYPE_ARRAY)));
		rms_value *v = NULL;
		assert_error(rms_value_new_array(&v, t), RMS_E_INVALID_ARG, "no array form");
		assert_null(v);
		char arr[32];
		snprintf(arr, sizeof arr, "%s[]", names[i]);
		assert_error(rms_type_parse(&back, arr), RMS_E_PARSE, arr);
		/* every one has a null, and it is distinct from any non-null */
		assert_int_equal(rms_value_new_null(&v, t), 0);
		assert_true(rms_value_is_null(v));
		assert_int_equal(rms_value_type(v), t);
		expect_text(v, "(null)");
	}
	assert_int_equal(rms_type_parse(&(rms_type){ 0 }, "ScriptBlock"), 0);
	assert_null(rms_type_name((rms_type)0x29));
	rms_value *v = NULL;
	assert_error(rms_value_new_null(&v, (rms_type)0x29), RMS_E_INVALID_ARG,
	             "not a CIM type number");
}

/* ---- decimal, guid, version, text types ---------------------------------------------- */

static void test_decimal_keeps_dotnet_text_and_refuses_other_shapes(void **state)
{
	(void)state;
	const char *good[] = { "0", "-12.50", "79228162514264337593543950335",
		               "-79228162514264337593543950335", "0.0000000000000000000000000001",
		               "-0", "007.10" };
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		rms_value *v;
		assert_int_equal(rms_value_new_decimal(&v, good[i]), 0);
		const char *t;
		assert_int_equal(rms_value_get_text(v, &t), 0);
		assert_string_equal(t, good[i]);
		assert_round_trip(v, good[i]);
		rms_value_free(v);
	}
	const char *bad[] = { "", "+1", "1e5", "1.", ".5", "1,000", " 1", "1 ", "--1", "1.2.3",
		              "0x10", "NaN", "1.5E+3", "\xC3\xA9" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		rms_value *v = NULL;
		char quoted[32];
		snprintf(quoted, sizeof quoted, "\"%s\" is not a valid decimal", bad[i]);
		assert_error(rms_value_new_decimal(&v, bad[i]), RMS_E_INVALID_ARG,
		             i == 13 ? "digits" : quoted);
		assert_null(v);
		assert_int_equal(rms_error_last()->code, RMS_E_INVALID_ARG);
		assert_error(rms_value_from_text(&v, RMS_TYPE_DECIMAL, bad[i]), RMS_E_PARSE,
		             "decimal");
	}
	rms_value *v = NULL;
	/* 30 significant digits; leading zeros do not count, trailing ones do */
	assert_error(rms_value_new_decimal(&v, "123456789012345678901234567890"),
	             RMS_E_INVALID_ARG, "29 significant digits");
	assert_error(rms_value_new_decimal(&v, "1.00000000000000000000000000000"),
	             RMS_E_INVALID_ARG, "29 significant digits");
	assert_int_equal(rms_value_new_decimal(&v, "0000000000001234567890123456789012345678.9"),
	                 0);
	rms_value_free(v);
	assert_error(rms_value_new_decimal(&v, NULL), RMS_E_INVALID_ARG, "NULL");
	assert_error(rms_value_new_decimal(NULL, "1"), RMS_E_INVALID_ARG, "out is NULL");
	/* the long text in the message is clipped */
	char longtext[300];
	memset(longtext, '7', sizeof longtext - 2);
	longtext[sizeof longtext - 2] = 'x';
	longtext[sizeof longtext - 1] = '\0';
	assert_error(rms_value_new_decimal(&v, longtext), RMS_E_INVALID_ARG, "...\"");
	/* exact text: numerically equal texts are different values */
	rms_value *a, *b;
	assert_int_equal(rms_value_new_decimal(&a, "1.5"), 0);
	assert_int_equal(rms_value_new_decimal(&b, "1.50"), 0);
	assert_false(rms_value_equal(a, b));
	rms_value_free(b);
	assert_int_equal(rms_value_new_decimal(&b, "1.5"), 0);
	assert_true(rms_value_equal(a, b));
	rms_value_free(a);
	rms_value_free(b);
}

static void test_guid_any_case_is_kept_lower_case(void **state)
{
	(void)state;
	rms_value *a, *b;
	assert_int_equal(rms_value_new_guid(&a, "0F8FAD5B-D9CB-469F-A165-70867728950E"), 0);
	assert_int_equal(rms_value_new_guid(&b, "0f8fad5b-d9cb-469f-a165-70867728950e"), 0);
	const char *t;
	assert_int_equal(rms_value_get_text(a, &t), 0);
	assert_string_equal(t, "0f8fad5b-d9cb-469f-a165-70867728950e");
	assert_true(rms_value_equal(a, b));
	assert_round_trip(a, "0f8fad5b-d9cb-469f-a165-70867728950e");
	rms_value *c = text_value(RMS_TYPE_GUID, "0F8FAD5B-D9CB-469F-A165-70867728950E");
	assert_true(rms_value_equal(a, c));
	rms_value_free(a);
	rms_value_free(b);
	rms_value_free(c);
	const char *bad[] = { "", "0f8fad5b-d9cb-469f-a165-70867728950",
		              "0f8fad5b-d9cb-469f-a165-70867728950e0",
		              "{0f8fad5b-d9cb-469f-a165-70867728950e}",
		              "0f8fad5bd-9cb-469f-a165-70867728950e",
		              "0f8fad5g-d9cb-469f-a165-70867728950e",
		              "0f8fad5b d9cb 469f a165 70867728950e",
		              "0f8fad5bd9cb469fa16570867728950e" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		rms_value *v = NULL;
		char quoted[64];
		snprintf(quoted, sizeof quoted, "\"%s\" is not a valid guid", bad[i]);
		assert_error(rms_value_new_guid(&v, bad[i]), RMS_E_INVALID_ARG, quoted);
		assert_null(v);
		assert_error(rms_value_from_text(&v, RMS_TYPE_GUID, bad[i]), RMS_E_PARSE, quoted);
	}
}

static void test_version_two_to_four_numbers_in_int32_range(void **state)
{
	(void)state;
	const char *good[] = { "1.2", "1.2.3", "10.0.17763.1", "2147483647.0", "0.0", "1.01" };
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		rms_value *v;
		assert_int_equal(rms_value_new_version(&v, good[i]), 0);
		assert_round_trip(v, good[i]);
		rms_value_free(v);
	}
	struct {
		const char *text, *why;
	} bad[] = {
		{ "1", "at least major.minor" },
		{ "1.2.3.4.5", "more than four components" },
		{ "-1.2", "major.minor" },
		{ "+1.2", "major.minor" },
		{ "1..2", "major.minor" },
		{ "1.2.", "major.minor" },
		{ ".1.2", "major.minor" },
		{ "2147483648.0", "larger than 2147483647" },
		{ "1.99999999999999999999999", "larger than 2147483647" },
		{ "a.b", "major.minor" },
		{ "", "major.minor" },
		{ "1.2 ", "major.minor" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		rms_value *v = NULL;
		char quoted[64];
		snprintf(quoted, sizeof quoted, "\"%s\" is not a valid version", bad[i].text);
		assert_error(rms_value_new_version(&v, bad[i].text), RMS_E_INVALID_ARG, quoted);
		assert_error(rms_value_new_version(&v, bad[i].text), RMS_E_INVALID_ARG, bad[i].why);
		assert_null(v);
		assert_error(rms_value_from_text(&v, RMS_TYPE_VERSION, bad[i].text), RMS_E_PARSE,
		             bad[i].why);
	}
	rms_value *a, *b;
	assert_int_equal(rms_value_new_version(&a, "1.2"), 0);
	assert_int_equal(rms_value_new_version(&b, "1.2.0"), 0);
	assert_false(rms_value_equal(a, b)); /* exact text, as System.Version does */
	rms_value_free(a);
	rms_value_free(b);
}

static void test_uri_xml_scriptblock_take_any_utf8_text(void **state)
{
	(void)state;
	int (*ctor[])(rms_value **, const char *) = { rms_value_new_uri, rms_value_new_xml,
		                                      rms_value_new_scriptblock };
	rms_type types[] = { RMS_TYPE_URI, RMS_TYPE_XML, RMS_TYPE_SCRIPTBLOCK };
	const char *texts[] = { "http://example.com/a?b=c", "<a x=\"1\">\xC3\xA9</a>",
		                " Get-Process | Where-Object { $_.CPU -gt 1 }\n" };
	for (size_t i = 0; i < 3; i++) {
		rms_value *v, *e;
		assert_int_equal(ctor[i](&v, texts[i]), 0);
		assert_int_equal(rms_value_type(v), types[i]);
		const char *t;
		assert_int_equal(rms_value_get_text(v, &t), 0);
		assert_string_equal(t, texts[i]);
		assert_round_trip(v, texts[i]);
		/* the same text in another type is another value */
		rms_value *s = str(texts[i]);
		assert_false(rms_value_equal(v, s));
		assert_error(rms_value_get_string(v, &t), RMS_E_TYPE, "not string");
		rms_value_free(s);
		rms_value_free(v);
		assert_int_equal(ctor[i](&e, ""), 0);
		assert_round_trip(e, "");
		rms_value_free(e);
		v = NULL;
		assert_error(ctor[i](&v, "a\xFF"), RMS_E_INVALID_ARG, "not valid UTF-8");
		assert_error(ctor[i](&v, NULL), RMS_E_INVALID_ARG, "NULL");
		assert_null(v);
	}
}

static void test_get_text_reads_every_text_type_and_only_those(void **state)
{
	(void)state;
	rms_value *s = str("hello");
	const char *t = NULL;
	assert_int_equal(rms_value_get_text(s, &t), 0);
	assert_string_equal(t, "hello");
	rms_value_free(s);
	rms_value *n;
	assert_int_equal(rms_value_new_null(&n, RMS_TYPE_DECIMAL), 0);
	assert_error(rms_value_get_text(n, &t), RMS_E_NOT_FOUND, "null decimal");
	rms_value_free(n);
	rms_value *u = i32(3);
	assert_error(rms_value_get_text(u, &t), RMS_E_TYPE, "sint32, not a text type");
	assert_error(rms_value_get_text(u, NULL), RMS_E_INVALID_ARG, "NULL");
	int64_t ticks;
	assert_error(rms_value_get_timespan(u, &ticks), RMS_E_TYPE, "not timespan");
	const void *data;
	size_t len;
	assert_error(rms_value_get_bytes(u, &data, &len), RMS_E_TYPE, "not bytes");
	const rms_psobject *o;
	assert_error(rms_value_get_object(u, &o), RMS_E_TYPE, "not object");
	rms_value_free(u);
}

/* ---- internal text constructor --------------------------------------------------------- */

static void test_text_take_validates_and_owns_the_text(void **state)
{
	(void)state;
	rms_value *v = NULL;
	assert_int_equal(rms__value_new_text_take(&v, RMS_TYPE_GUID,
	                                          strdup("ABCDEF01-2345-6789-ABCD-EF0123456789")),
	                 0);
	const char *t;
	assert_int_equal(rms_value_get_text(v, &t), 0);
	assert_string_equal(t, "abcdef01-2345-6789-abcd-ef0123456789");
	rms_value_free(v);
	assert_int_equal(rms__value_new_text_take(&v, RMS_TYPE_STRING, strdup("s")), 0);
	assert_int_equal(rms_value_type(v), RMS_TYPE_STRING);
	rms_value_free(v);
	/* refused text is freed (valgrind checks) */
	assert_error(rms__value_new_text_take(&v, RMS_TYPE_DECIMAL, strdup("1e3")),
	             RMS_E_INVALID_ARG, "\"1e3\" is not a valid decimal");
	assert_null(v);
	assert_error(rms__value_new_text_take(&v, RMS_TYPE_VERSION, strdup("1")),
	             RMS_E_INVALID_ARG, "version");
	assert_error(rms__value_new_text_take(&v, RMS_TYPE_XML, strdup("\xC0\x80")),
	             RMS_E_INVALID_ARG, "not valid UTF-8");
	assert_error(rms__value_new_text_take(&v, RMS_TYPE_UINT8, strdup("1")),
	             RMS_E_INVALID_ARG, "not a text type");
	unsigned char *b = malloc(2);
	b[0] = 1;
	b[1] = 2;
	assert_int_equal(rms__value_new_bytes_take(&v, b, 2), 0);
	const void *data;
	size_t len;
	assert_int_equal(rms_value_get_bytes(v, &data, &len), 0);
	assert_int_equal(len, 2);
	rms_value_free(v);
}

/* ---- timespan ---------------------------------------------------------------------------- */

static void test_timespan_constant_format_round_trips(void **state)
{
	(void)state;
	struct {
		int64_t ticks;
		const char *text;
	} cases[] = {
		{ 0, "00:00:00" },
		{ 1, "00:00:00.0000001" },
		{ -1, "-00:00:00.0000001" },
		{ 10000000, "00:00:01" },
		{ 36000000000LL, "01:00:00" },
		{ -36000000000LL, "-01:00:00" },
		{ 937845000000LL, "1.02:03:04.5000000" },
		{ 90269026, "00:00:09.0269026" },
		{ 864000000000LL * 365, "365.00:00:00" },
		{ INT64_MAX, "10675199.02:48:05.4775807" },
		{ INT64_MIN, "-10675199.02:48:05.4775808" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rms_value *v;
		assert_int_equal(rms_value_new_timespan(&v, cases[i].ticks), 0);
		int64_t back;
		assert_int_equal(rms_value_get_timespan(v, &back), 0);
		assert_true(back == cases[i].ticks);
		assert_round_trip(v, cases[i].text);
		rms_value_free(v);
	}
	/* other forms .NET reads in the constant format */
	struct {
		const char *text;
		int64_t ticks;
	} reads[] = {
		{ "1:02:03", 37230000000LL },
		{ "00:00:00.5", 5000000 },
		{ "-0.00:00:01", -10000000 },
		{ "3.4:05:06.0000007", 3 * 864000000000LL + 4 * 36000000000LL + 5 * 600000000LL +
		                               6 * 10000000LL + 7 },
	};
	for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
		rms_value *v = text_value(RMS_TYPE_TIMESPAN, reads[i].text);
		int64_t t;
		assert_int_equal(rms_value_get_timespan(v, &t), 0);
		assert_true(t == reads[i].ticks);
		rms_value_free(v);
	}
	const char *bad[] = { "", "1", "1:2:3", "001:00:00", "00:00", "00:00:00.",
		              "00:00:00.12345678", "abc", "1.2.00:00:00", " 00:00:00", "+00:00:00",
		              "00:00:00 " };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		rms_value *v = NULL;
		char quoted[64];
		snprintf(quoted, sizeof quoted, "\"%s\" is not a valid timespan", bad[i]);
		assert_error(rms_value_from_text(&v, RMS_TYPE_TIMESPAN, bad[i]), RMS_E_PARSE,
		             quoted);
		assert_null(v);
	}
	rms_value *v = NULL;
	assert_error(rms_value_from_text(&v, RMS_TYPE_TIMESPAN, "24:00:00"), RMS_E_RANGE,
	             "hours 0..23");
	assert_error(rms_value_from_text(&v, RMS_TYPE_TIMESPAN, "00:60:00"), RMS_E_RANGE,
	             "0..59");
	assert_error(rms_value_from_text(&v, RMS_TYPE_TIMESPAN, "10675199.02:48:05.4775808"),
	             RMS_E_RANGE, "out of range");
	assert_error(rms_value_from_text(&v, RMS_TYPE_TIMESPAN, "99999999999999999999.00:00:00"),
	             RMS_E_RANGE, "out of range");
}

static void test_timespan_xml_duration_form(void **state)
{
	(void)state;
	struct {
		const char *text;
		int64_t ticks;
	} ok[] = {
		{ "PT9.0269026S", 90269026 },
		{ "PT0S", 0 },
		{ "P1D", 864000000000LL },
		{ "-P1DT2H3M4.5S", -937845000000LL },
		{ "PT1H", 36000000000LL },
		{ "PT1M30S", 900000000LL },
		{ "PT0.123456789S", 1234567 }, /* digits past 100 ns dropped */
		{ "P10675199DT2H48M5.4775807S", INT64_MAX },
		{ "-P10675199DT2H48M5.4775808S", INT64_MIN },
		{ "PT90000S", 900000000000LL },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		int64_t t = 42;
		int rc = rms__timespan_parse_xs(&t, ok[i].text);
		if (rc)
			fail_msg("%s: %s", ok[i].text, rms_error_message(rms_error_last()));
		assert_true(t == ok[i].ticks);
	}
	const char *bad[] = { "", "P", "PT", "P1DT", "1D", "PT1D", "P1H", "PT1S2M", "PT1.5M",
		              "P-1D", "PT1.S", "+PT1S", "PT1SX" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t t;
		char quoted[48];
		snprintf(quoted, sizeof quoted, "\"%s\"", bad[i]);
		assert_error(rms__timespan_parse_xs(&t, bad[i]), RMS_E_PARSE, quoted);
	}
	int64_t t;
	assert_error(rms__timespan_parse_xs(&t, "P1Y"), RMS_E_RANGE, "years or months");
	assert_error(rms__timespan_parse_xs(&t, "P1M"), RMS_E_RANGE, "years or months");
	assert_error(rms__timespan_parse_xs(&t, "P10675199DT2H48M5.4775808S"), RMS_E_RANGE,
	             "out of range");
}

/* ---- bytes -------------------------------------------------------------------------------- */

static void test_bytes_copy_print_as_base64_and_read_back(void **state)
{
	(void)state;
	unsigned char raw[] = { 0, 1, 2, 255 };
	rms_value *v;
	assert_int_equal(rms_value_new_bytes(&v, raw, sizeof raw), 0);
	raw[0] = 9; /* the value holds its own copy */
	const void *data;
	size_t len;
	assert_int_equal(rms_value_get_bytes(v, &data, &len), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(data, "\x00\x01\x02\xff", 4);
	assert_round_trip(v, "AAEC/w==");
	rms_value *d;
	assert_int_equal(rms_value_dup(&d, v), 0);
	assert_true(rms_value_equal(v, d));
	rms_value_free(d);
	rms_value_free(v);

	struct {
		const char *bytes, *b64;
	} cases[] = { { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		      { "foobar", "Zm9vYmFy" } };
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(rms_value_new_bytes(&v, cases[i].bytes, strlen(cases[i].bytes)),
		                 0);
		assert_round_trip(v, cases[i].b64);
		rms_value_free(v);
	}
	assert_int_equal(rms_value_new_bytes(&v, NULL, 0), 0);
	assert_int_equal(rms_value_get_bytes(v, &data, &len), 0);
	assert_int_equal(len, 0);
	rms_value *e;
	assert_int_equal(rms_value_new_bytes(&e, "x", 0), 0);
	assert_true(rms_value_equal(v, e));
	rms_value_free(e);
	rms_value_free(v);
	v = NULL;
	assert_error(rms_value_new_bytes(&v, NULL, 3), RMS_E_INVALID_ARG, "data is NULL");
	/* whitespace is skipped, as in CLIXML */
	v = text_value(RMS_TYPE_BYTES, " Zm9v\r\nYmFy ");
	assert_int_equal(rms_value_get_bytes(v, &data, &len), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(data, "foobar", 6);
	rms_value_free(v);
	v = NULL;
	assert_error(rms_value_from_text(&v, RMS_TYPE_BYTES, "Zm9"), RMS_E_PARSE,
	             "not a multiple of 4");
	assert_error(rms_value_from_text(&v, RMS_TYPE_BYTES, "Zm9@"), RMS_E_PARSE,
	             "unexpected byte 0x40");
	assert_error(rms_value_from_text(&v, RMS_TYPE_BYTES, "Z=9v"), RMS_E_PARSE, "'='");
	assert_error(rms_value_from_text(&v, RMS_TYPE_BYTES, "Zg==Zg=="), RMS_E_PARSE, "'='");
	assert_null(v);
}

/* ---- objects: construction ------------------------------------------------------------ */

static void test_object_parts_set_and_read_back(void **state)
{
	(void)state;
	rms_psobject *o = obj_new();
	assert_int_equal(rms_psobject_type_name_count(o), 0);
	assert_null(rms_psobject_to_string(o));
	assert_null(rms_psobject_base(o));
	assert_int_equal(rms_psobject_collection(o), RMS_PS_COLLECTION_NONE);
	assert_int_equal(rms_psobject_length(o), 0);
	assert_int_equal(rms_psobject_count(o), 0);

	assert_int_equal(rms_psobject_add_type_name(o, "Deserialized.System.IO.FileInfo"), 0);
	assert_int_equal(rms_psobject_add_type_name(o, "Deserialized.System.Object"), 0);
	assert_int_equal(rms_psobject_type_name_count(o), 2);
	assert_string_equal(rms_psobject_type_name_at(o, 0), "Deserialized.System.IO.FileInfo");
	assert_string_equal(rms_psobject_type_name_at(o, 1), "Deserialized.System.Object");
	assert_null(rms_psobject_type_name_at(o, 2));
	assert_error(rms_psobject_add_type_name(o, ""), RMS_E_INVALID_ARG, "type name is empty");
	assert_error(rms_psobject_add_type_name(o, NULL), RMS_E_INVALID_ARG, "NULL");

	assert_int_equal(rms_psobject_set_to_string(o, "C:\\x.txt"), 0);
	assert_string_equal(rms_psobject_to_string(o), "C:\\x.txt");
	assert_int_equal(rms_psobject_set_to_string(o, "line 1\nline 2"), 0);
	assert_string_equal(rms_psobject_to_string(o), "line 1\nline 2");
	assert_error(rms_psobject_set_to_string(o, "\xFF"), RMS_E_INVALID_ARG, "UTF-8");
	assert_int_equal(rms_psobject_set_to_string(o, NULL), 0);
	assert_null(rms_psobject_to_string(o));

	assert_int_equal(rms_psobject_set_base(o, i32(5)), 0);
	assert_int_equal(rms_psobject_set_base(o, str("five")), 0); /* replaces, frees */
	const char *t;
	assert_int_equal(rms_value_get_string(rms_psobject_base(o), &t), 0);
	assert_string_equal(t, "five");
	assert_int_equal(rms_psobject_set_base(o, NULL), 0);
	assert_null(rms_psobject_base(o));

	assert_error(rms_psobject_set_collection(o, (rms_ps_collection)9), RMS_E_INVALID_ARG,
	             "not a collection kind");
	assert_int_equal(rms_psobject_set_collection(o, RMS_PS_COLLECTION_STACK), 0);
	assert_int_equal(rms_psobject_append(o, i32(1)), 0);
	assert_int_equal(rms_psobject_append(o, psnull()), 0);
	assert_int_equal(rms_psobject_length(o), 2);
	const rms_value *k = (const rms_value *)o, *v = NULL;
	assert_int_equal(rms_psobject_item_at(o, 1, &k, &v), 0);
	assert_null(k);
	assert_true(rms_value_is_null(v));
	assert_int_equal(rms_value_type(v), RMS_TYPE_OBJECT);
	assert_int_equal(rms_psobject_item_at(o, 0, NULL, NULL), 0);
	assert_error(rms_psobject_item_at(o, 2, &k, &v), RMS_E_NOT_FOUND, "past the end");
	assert_error(rms_psobject_set_collection(o, RMS_PS_COLLECTION_LIST), RMS_E_STATE,
	             "already holds 2 items");
	assert_error(rms_psobject_set_collection(o, RMS_PS_COLLECTION_STACK), RMS_E_STATE,
	             "already");
	rms_value *e = i32(1), *ev = i32(2);
	assert_error(rms_psobject_append_entry(o, e, ev), RMS_E_TYPE, "not a dictionary");
	assert_error(rms_psobject_append(o, NULL), RMS_E_INVALID_ARG, "item is NULL");
	rms_value_free(e);
	rms_value_free(ev);
	rms_psobject_free(o);
	rms_psobject_free(NULL);

	o = obj_new();
	rms_value *item = i32(1);
	assert_error(rms_psobject_append(o, item), RMS_E_TYPE, "collection is none");
	assert_int_equal(rms_psobject_set_collection(o, RMS_PS_COLLECTION_DICTIONARY), 0);
	assert_error(rms_psobject_append(o, item), RMS_E_TYPE, "rms_psobject_append_entry");
	rms_value_free(item);
	rms_psobject_free(o);

	assert_error(rms_psobject_new(NULL), RMS_E_INVALID_ARG, "out is NULL");
	assert_error(rms_psobject_set(NULL, "a", NULL, 0), RMS_E_INVALID_ARG, "obj is NULL");
	rms_value *ov = NULL;
	assert_error(rms_value_new_object(&ov, NULL), RMS_E_INVALID_ARG, "$null");
	assert_null(ov);
}

static void test_dictionary_keys_are_unique_and_not_null(void **state)
{
	(void)state;
	rms_psobject *o = obj_new();
	assert_int_equal(rms_psobject_set_collection(o, RMS_PS_COLLECTION_DICTIONARY), 0);
	add_entry(o, str("a"), i32(1));
	add_entry(o, str("A"), i32(2));  /* keys compare exactly */
	add_entry(o, i32(1), str("x"));  /* 1 and "1" are different keys */
	add_entry(o, str("1"), str("y"));
	rms_value *k = str("a"), *v = i32(9);
	assert_error(rms_psobject_append_entry(o, k, v), RMS_E_INVALID_ARG,
	             "duplicate dictionary key string \"a\"");
	rms_value_free(k);
	k = i32(1);
	assert_error(rms_psobject_append_entry(o, k, v), RMS_E_INVALID_ARG,
	             "duplicate dictionary key sint32 \"1\"");
	rms_value_free(k);
	k = psnull();
	assert_error(rms_psobject_append_entry(o, k, v), RMS_E_INVALID_ARG, "cannot be null");
	assert_error(rms_psobject_append_entry(o, NULL, v), RMS_E_INVALID_ARG, "key is NULL");
	assert_error(rms_psobject_append_entry(o, k, NULL), RMS_E_INVALID_ARG, "value is NULL");
	rms_value_free(k);
	rms_value_free(v);
	assert_int_equal(rms_psobject_length(o), 4);
	const rms_value *key, *val;
	assert_int_equal(rms_psobject_item_at(o, 2, &key, &val), 0);
	int32_t n;
	assert_int_equal(rms_value_get_sint32(key, &n), 0);
	assert_int_equal(n, 1);
	/* object keys: equal objects collide too */
	rms_psobject *inner = list_of(i32(1), i32(2), NULL);
	rms_psobject *inner2;
	assert_int_equal(rms_psobject_dup(&inner2, inner), 0);
	add_entry(o, obj_value(inner), str("list"));
	rms_value *ik = obj_value(inner2);
	v = str("again");
	assert_error(rms_psobject_append_entry(o, ik, v), RMS_E_INVALID_ARG,
	             "duplicate dictionary key object \"{1, 2}\"");
	rms_value_free(ik);
	rms_value_free(v);
	rms_psobject_free(o);
}

static void test_large_dictionary_detects_duplicates_fast(void **state)
{
	(void)state;
	const int n = 100000;
	double t0 = now_s();
	rms_psobject *o = obj_new();
	assert_int_equal(rms_psobject_set_collection(o, RMS_PS_COLLECTION_DICTIONARY), 0);
	char key[32];
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof key, "key%d", i);
		rms_value *k, *v;
		assert_int_equal(rms_value_new_string(&k, key), 0);
		assert_int_equal(rms_value_new_sint32(&v, i), 0);
		if (rms_psobject_append_entry(o, k, v) != 0)
			fail_msg("entry %d: %s", i, rms_error_message(rms_error_last()));
	}
	/* integer keys beside them: ints of the same digits are other keys */
	for (int i = 0; i < 1000; i++)
		add_entry(o, i32(i), i32(i));
	rms_value *dk = str("key99999"), *dv = i32(0);
	assert_error(rms_psobject_append_entry(o, dk, dv), RMS_E_INVALID_ARG, "\"key99999\"");
	rms_value_free(dk);
	dk = i32(999);
	assert_error(rms_psobject_append_entry(o, dk, dv), RMS_E_INVALID_ARG, "\"999\"");
	rms_value_free(dk);
	rms_value_free(dv);
	assert_int_equal(rms_psobject_length(o), (size_t)n + 1000);
	/* a copy and an equality check (entries as a set) stay linear too */
	rms_psobject *d;
	assert_int_equal(rms_psobject_dup(&d, o), 0);
	assert_true(rms_psobject_equal(o, d));
	double elapsed = now_s() - t0;
	rms_psobject_free(d);
	rms_psobject_free(o);
	/* Only worse than linear misses it (quadratic here is tens of
	 * seconds); wide enough for a loaded machine. */
	double limit = under_valgrind() ? 120.0 : 10.0;
	if (elapsed > limit)
		fail_msg("100,000 entries took %.3f s (limit %.1f s)", elapsed, limit);
}

static void test_properties_keep_order_and_match_names_case_insensitively(void **state)
{
	(void)state;
	rms_psobject *o = obj_new();
	assert_int_equal(rms_psobject_set(o, "Name", str("svc"), RMS_PS_PROP_ADAPTED), 0);
	assert_int_equal(rms_psobject_set(o, "Status", str("Running"), RMS_PS_PROP_ADAPTED), 0);
	assert_int_equal(rms_psobject_set(o, "Extra", i32(1), RMS_PS_PROP_EXTENDED), 0);
	assert_int_equal(rms_psobject_set(o, "STATUS", str("Stopped"), RMS_PS_PROP_EXTENDED), 0);
	assert_int_equal(rms_psobject_count(o), 3);
	const char *name;
	const rms_value *v;
	unsigned flags;
	assert_int_equal(rms_psobject_at(o, 1, &name, &v, &flags), 0);
	assert_string_equal(name, "Status"); /* first spelling, first position */
	assert_int_equal(flags, RMS_PS_PROP_EXTENDED);
	const char *t;
	assert_int_equal(rms_value_get_string(v, &t), 0);
	assert_string_equal(t, "Stopped");
	assert_ptr_equal(rms_psobject_get(o, "status"), v);
	assert_null(rms_psobject_get(o, "missing"));
	assert_null(rms_psobject_get(o, NULL));
	assert_int_equal(rms_psobject_at(o, 2, NULL, NULL, NULL), 0);
	assert_error(rms_psobject_at(o, 3, &name, &v, &flags), RMS_E_NOT_FOUND, "past the end");
	rms_value *x = i32(1);
	assert_error(rms_psobject_set(o, "", x, 0), RMS_E_INVALID_ARG, "property name is empty");
	assert_error(rms_psobject_set(o, NULL, x, 0), RMS_E_INVALID_ARG, "NULL");
	assert_error(rms_psobject_set(o, "a\tb", x, 0), RMS_E_INVALID_ARG, "control character");
	assert_error(rms_psobject_set(o, "ok", NULL, 0), RMS_E_INVALID_ARG, "value is NULL");
	rms_value_free(x);
	/* the decoder's path: same rules, name taken */
	assert_int_equal(rms__psobject_set_take(o, strdup("extra"), i32(2), 0), 0);
	assert_int_equal(rms__psobject_set_take(o, strdup("New"), i32(3), 0), 0);
	assert_int_equal(rms_psobject_count(o), 4);
	assert_int_equal(rms_psobject_at(o, 2, &name, &v, NULL), 0);
	assert_string_equal(name, "Extra");
	int32_t n;
	assert_int_equal(rms_value_get_sint32(v, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(rms__psobject_add_type_name_take(o, strdup("T")), 0);
	assert_int_equal(rms__psobject_set_to_string_take(o, strdup("s")), 0);
	assert_string_equal(rms_psobject_to_string(o), "s");
	rms_psobject_free(o);
}

static void test_many_properties_are_found_through_the_index(void **state)
{
	(void)state;
	rms_psobject *o = obj_new();
	char name[32];
	for (int i = 0; i < 500; i++) {
		snprintf(name, sizeof name, "Prop%d", i);
		set_prop(o, name, i32(i));
	}
	for (int i = 0; i < 500; i++) {
		snprintf(name, sizeof name, "PROP%d", i);
		int32_t n = -1;
		assert_int_equal(rms_value_get_sint32(rms_psobject_get(o, name), &n), 0);
		assert_int_equal(n, i);
	}
	set_prop(o, "prop250", i32(-1));
	assert_int_equal(rms_psobject_count(o), 500);
	const char *pn;
	assert_int_equal(rms_psobject_at(o, 250, &pn, NULL, NULL), 0);
	assert_string_equal(pn, "Prop250");
	rms_psobject_free(o);
}

/* ---- objects: dup and equality ---------------------------------------------------------- */

/* A service-like object with a nested list and a nested hashtable. */
static rms_psobject *sample(bool reversed)
{
	rms_psobject *o = obj_new();
	assert_int_equal(rms_psobject_add_type_name(o, "Deserialized.Svc"), 0);
	assert_int_equal(rms_psobject_add_type_name(o, "Deserialized.System.Object"), 0);
	rms_psobject *deps = list_of(str("RpcSs"), psnull(), NULL);
	rms_psobject *tbl = obj_new();
	assert_int_equal(rms_psobject_set_collection(tbl, RMS_PS_COLLECTION_DICTIONARY), 0);
	if (!reversed) {
		add_entry(tbl, str("x"), i32(1));
		add_entry(tbl, str("y"), obj_value(list_of(i32(2), i32(3), NULL)));
		set_prop(o, "Name", str("svc"));
		set_prop(o, "Deps", obj_value(deps));
		set_prop(o, "Table", obj_value(tbl));
	} else {
		add_entry(tbl, str("y"), obj_value(list_of(i32(2), i32(3), NULL)));
		add_entry(tbl, str("x"), i32(1));
		assert_int_equal(rms_psobject_set(o, "TABLE", obj_value(tbl), RMS_PS_PROP_ADAPTED),
		                 0);
		assert_int_equal(rms_psobject_set(o, "deps", obj_value(deps), 0), 0);
		assert_int_equal(rms_psobject_set(o, "name", str("svc"), RMS_PS_PROP_ADAPTED), 0);
	}
	return o;
}

static void test_equality_dictionary_as_set_properties_in_any_order(void **state)
{
	(void)state;
	rms_psobject *a = sample(false), *b = sample(true);
	assert_true(rms_psobject_equal(a, b));
	assert_true(rms_psobject_equal(b, a));
	rms_value *va = obj_value(a), *vb = obj_value(b);
	assert_true(rms_value_equal(va, vb));
	/* a dictionary of objects keyed by these objects still finds them */
	rms_value_free(va);
	rms_value_free(vb);

	struct {
		const char *what;
	} changes[] = { { "type name order" }, { "ToString" }, { "ToString empty vs none" },
		        { "base" },            { "kind" },     { "list order" },
		        { "property value" },  { "extra property" } };
	for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
		rms_psobject *x = sample(false), *y = sample(false);
		assert_true(rms_psobject_equal(x, y));
		switch (i) {
		case 0:
			rms_psobject_free(y);
			y = obj_new();
			assert_int_equal(
			    rms_psobject_add_type_name(y, "Deserialized.System.Object"), 0);
			assert_int_equal(rms_psobject_add_type_name(y, "Deserialized.Svc"), 0);
			set_prop(y, "Name", str("svc"));
			break;
		case 1: assert_int_equal(rms_psobject_set_to_string(y, "svc"), 0); break;
		case 2:
			assert_int_equal(rms_psobject_set_to_string(x, ""), 0);
			break;
		case 3: assert_int_equal(rms_psobject_set_base(y, str("svc")), 0); break;
		case 4:
			assert_int_equal(rms_psobject_set_collection(y, RMS_PS_COLLECTION_QUEUE),
			                 0);
			break;
		case 5:
			rms_psobject_free(x);
			rms_psobject_free(y);
			x = list_of(i32(1), i32(2), NULL);
			y = list_of(i32(2), i32(1), NULL);
			break;
		case 6: set_prop(y, "name", str("other")); break;
		case 7: set_prop(y, "More", i32(1)); break;
		}
		if (rms_psobject_equal(x, y) || rms_psobject_equal(y, x))
			fail_msg("objects differing in %s compare equal", changes[i].what);
		rms_psobject_free(x);
		rms_psobject_free(y);
	}
	/* flags are ignored */
	rms_psobject *x = obj_new(), *y = obj_new();
	assert_int_equal(rms_psobject_set(x, "A", i32(1), RMS_PS_PROP_ADAPTED), 0);
	assert_int_equal(rms_psobject_set(y, "a", i32(1), RMS_PS_PROP_EXTENDED), 0);
	assert_true(rms_psobject_equal(x, y));
	assert_true(rms_psobject_equal(x, x));
	assert_false(rms_psobject_equal(x, NULL));
	rms_psobject_free(x);
	rms_psobject_free(y);
	/* $null equals $null, not an empty object */
	rms_value *n1 = psnull(), *n2 = psnull(), *empty = obj_value(obj_new());
	assert_true(rms_value_equal(n1, n2));
	assert_false(rms_value_equal(n1, empty));
	rms_value_free(n1);
	rms_value_free(n2);
	rms_value_free(empty);
}

static void test_dup_is_deep_and_equal(void **state)
{
	(void)state;
	rms_psobject *a = sample(false);
	assert_int_equal(rms_psobject_set_to_string(a, "svc"), 0);
	assert_int_equal(rms_psobject_set_base(a, str("svc")), 0);
	rms_psobject *d;
	assert_int_equal(rms_psobject_dup(&d, a), 0);
	assert_true(rms_psobject_equal(a, d));
	/* changing the copy leaves the original */
	set_prop(d, "Name", str("changed"));
	assert_false(rms_psobject_equal(a, d));
	const char *t;
	assert_int_equal(rms_value_get_string(rms_psobject_get(a, "name"), &t), 0);
	assert_string_equal(t, "svc");
	rms_psobject_free(d);

	/* through rms_value_dup, with every new scalar type inside */
	rms_psobject *inner = a;
	set_prop(inner, "Dec", text_value(RMS_TYPE_DECIMAL, "1.50"));
	set_prop(inner, "Guid", text_value(RMS_TYPE_GUID, "0f8fad5b-d9cb-469f-a165-70867728950e"));
	set_prop(inner, "Ts", text_value(RMS_TYPE_TIMESPAN, "1.02:03:04"));
	set_prop(inner, "Ver", text_value(RMS_TYPE_VERSION, "1.2.3"));
	set_prop(inner, "Uri", text_value(RMS_TYPE_URI, "http://x/"));
	set_prop(inner, "Xml", text_value(RMS_TYPE_XML, "<a/>"));
	set_prop(inner, "Sb", text_value(RMS_TYPE_SCRIPTBLOCK, "{ 1 }"));
	set_prop(inner, "Bytes", text_value(RMS_TYPE_BYTES, "AQI="));
	rms_value *v = obj_value(a);
	rms_value *c;
	assert_int_equal(rms_value_dup(&c, v), 0);
	assert_true(rms_value_equal(v, c));
	const rms_psobject *co;
	assert_int_equal(rms_value_get_object(c, &co), 0);
	assert_ptr_not_equal(co, inner);
	rms_value_free(c);
	rms_value *nul = psnull();
	assert_int_equal(rms_value_dup(&c, nul), 0);
	assert_true(rms_value_is_null(c));
	assert_int_equal(rms_value_type(c), RMS_TYPE_OBJECT);
	const rms_psobject *none;
	assert_error(rms_value_get_object(c, &none), RMS_E_NOT_FOUND, "null object");
	rms_value_free(c);
	rms_value_free(nul);
	rms_value_free(v);
}

/* An object inside a CIM instance property prints, compares and copies. */
static void test_objects_nest_in_instances(void **state)
{
	(void)state;
	rms_instance *i1, *i2;
	assert_int_equal(rms_instance_new(&i1, "root/cimv2", "Win32_X"), 0);
	assert_int_equal(rms_instance_set(i1, "Obj", obj_value(sample(false)), 0), 0);
	assert_int_equal(rms_instance_set(i1, "Dec", text_value(RMS_TYPE_DECIMAL, "2.5"), 0), 0);
	assert_int_equal(rms_instance_dup(&i2, i1), 0);
	assert_true(rms_instance_equal(i1, i2));
	char *t;
	assert_int_equal(rms_instance_to_text(&t, i1), 0);
	assert_string_equal(t,
	                    "Obj : @{Name=svc; Deps={\"RpcSs\", (null)}; Table=@{x=1; y={2, 3}}}\n"
	                    "Dec : 2.5\n");
	rms_free(t);
	assert_int_equal(rms_instance_to_json(&t, i1), 0);
	assert_string_equal(t, "{\"class\":\"Win32_X\",\"namespace\":\"root/cimv2\",\"properties\":"
	                       "{\"Obj\":{\"Name\":\"svc\",\"Deps\":[\"RpcSs\",null],\"Table\":"
	                       "{\"x\":1,\"y\":[2,3]}},\"Dec\":2.5}}");
	rms_free(t);
	rms_instance_free(i1);
	rms_instance_free(i2);
}

/* ---- text, display, JSON ----------------------------------------------------------------- */

static void test_text_form_of_objects(void **state)
{
	(void)state;
	/* ToString wins */
	rms_psobject *o = sample(false);
	assert_int_equal(rms_psobject_set_to_string(o, "System.ServiceProcess.ServiceController"),
	                 0);
	expect_text(obj_value(o), "System.ServiceProcess.ServiceController");
	/* properties, as PowerShell shows a PSCustomObject */
	expect_text(obj_value(sample(false)),
	            "@{Name=svc; Deps={\"RpcSs\", (null)}; Table=@{x=1; y={2, 3}}}");
	/* a list: items quoted, PowerShell-typed ones too */
	expect_text(obj_value(list_of(text_value(RMS_TYPE_DECIMAL, "1.5"),
	                              text_value(RMS_TYPE_TIMESPAN, "00:01:00"),
	                              text_value(RMS_TYPE_BYTES, "AQI="))),
	            "{\"1.5\", 00:01:00, AQI=}");
	expect_text(obj_value(list_of(NULL, NULL, NULL)), "{}");
	/* a dictionary */
	o = obj_new();
	assert_int_equal(rms_psobject_set_collection(o, RMS_PS_COLLECTION_DICTIONARY), 0);
	add_entry(o, str("a b"), str("x y"));
	add_entry(o, i32(2), psnull());
	expect_text(obj_value(o), "@{a b=x y; 2=(null)}");
	/* the wrapped value, then nothing */
	o = obj_new();
	assert_int_equal(rms_psobject_set_base(o, text_value(RMS_TYPE_VERSION, "5.1.2")), 0);
	expect_text(obj_value(o), "5.1.2");
	expect_text(obj_value(obj_new()), "");
	expect_text(psnull(), "(null)");
	/* top-level text types are not quoted */
	expect_text(text_value(RMS_TYPE_SCRIPTBLOCK, "\"q\""), "\"q\"");
}

static void test_display_form(void **state)
{
	(void)state;
	rms_psobject *o = obj_new();
	set_prop(o, "Name", str("svc"));
	set_prop(o, "DisplayName", str("A service"));
	set_prop(o, "Started", text_value(RMS_TYPE_TIMESPAN, "00:00:05"));
	set_prop(o, "Note", str("two\nlines"));
	set_prop(o, "Nothing", psnull());
	expect_display(obj_value(o), "Name        : svc\n"
	                             "DisplayName : A service\n"
	                             "Started     : 00:00:05\n"
	                             "Note        : two\n"
	                             "              lines\n"
	                             "Nothing     : (null)\n");
	o = obj_new();
	assert_int_equal(rms_psobject_set_collection(o, RMS_PS_COLLECTION_DICTIONARY), 0);
	add_entry(o, str("a"), i32(1));
	add_entry(o, str("longer key"), str("v"));
	expect_display(obj_value(o), "Name       Value\n"
	                             "----       -----\n"
	                             "a          1\n"
	                             "longer key v\n");
	o = obj_new();
	assert_int_equal(rms_psobject_set_collection(o, RMS_PS_COLLECTION_DICTIONARY), 0);
	add_entry(o, str("k"), str("v"));
	expect_display(obj_value(o), "Name Value\n"
	                             "---- -----\n"
	                             "k    v\n");
	expect_display(obj_value(list_of(str("one"), i32(2), NULL)),
	               "one\n2\n");
	expect_display(obj_value(list_of(str("a"), obj_value(list_of(i32(1), i32(2), NULL)),
	                                 NULL)),
	               "a\n{1, 2}\n");
	expect_display(obj_value(list_of(NULL, NULL, NULL)), "");
	expect_display(obj_value(obj_new()), "");
	expect_display(str(""), "");
	expect_display(str("plain"), "plain\n");
	expect_display(psnull(), "(null)\n");
	expect_display(text_value(RMS_TYPE_DECIMAL, "-0.5"), "-0.5\n");
	o = obj_new();
	assert_int_equal(rms_psobject_set_to_string(o, "text"), 0);
	expect_display(obj_value(o), "text\n");
	char *t = NULL;
	assert_error(rms_value_to_display(&t, NULL), RMS_E_INVALID_ARG, "NULL");
	assert_error(rms_value_to_display(NULL, NULL), RMS_E_INVALID_ARG, "out is NULL");
}

static void test_json_form_matches_convertto_json(void **state)
{
	(void)state;
	expect_json(text_value(RMS_TYPE_DECIMAL, "1.50"), "1.5");
	expect_json(text_value(RMS_TYPE_DECIMAL, "-12"), "-12");
	expect_json(text_value(RMS_TYPE_DECIMAL, "0.1"), "0.1");
	expect_json(text_value(RMS_TYPE_DECIMAL, "123456789012345"), "123456789012345");
	expect_json(text_value(RMS_TYPE_DECIMAL, "1234567890.12345"), "1234567890.12345");
	expect_json(text_value(RMS_TYPE_DECIMAL, "79228162514264337593543950335"),
	            "\"79228162514264337593543950335\"");
	expect_json(text_value(RMS_TYPE_DECIMAL, "0.1234567890123456"), "\"0.1234567890123456\"");
	expect_json(text_value(RMS_TYPE_GUID, "0F8FAD5B-D9CB-469F-A165-70867728950E"),
	            "\"0f8fad5b-d9cb-469f-a165-70867728950e\"");
	expect_json(text_value(RMS_TYPE_VERSION, "1.2.3"), "\"1.2.3\"");
	expect_json(text_value(RMS_TYPE_URI, "http://x/"), "\"http://x/\"");
	expect_json(text_value(RMS_TYPE_XML, "<a>\"</a>"), "\"<a>\\\"</a>\"");
	expect_json(text_value(RMS_TYPE_SCRIPTBLOCK, "{ 1 }"), "\"{ 1 }\"");
	expect_json(text_value(RMS_TYPE_TIMESPAN, "-1.02:03:04.5000000"),
	            "\"-1.02:03:04.5000000\"");
	expect_json(text_value(RMS_TYPE_BYTES, "AAEC/w=="), "[0,1,2,255]");
	expect_json(text_value(RMS_TYPE_BYTES, ""), "[]");
	expect_json(psnull(), "null");
	expect_json(obj_value(sample(false)),
	            "{\"Name\":\"svc\",\"Deps\":[\"RpcSs\",null],\"Table\":{\"x\":1,\"y\":[2,3]}}");
	/* dictionary keys in their text form */
	rms_psobject *o = obj_new();
	assert_int_equal(rms_psobject_set_collection(o, RMS_PS_COLLECTION_DICTIONARY), 0);
	add_entry(o, i32(1), str("one"));
	add_entry(o, text_value(RMS_TYPE_GUID, "0f8fad5b-d9cb-469f-a165-70867728950e"),
	          text_value(RMS_TYPE_DECIMAL, "2.25"));
	expect_json(obj_value(o),
	            "{\"1\":\"one\",\"0f8fad5b-d9cb-469f-a165-70867728950e\":2.25}");
	/* a list beats ToString; a base value beats ToString; then ToString; then {} */
	o = list_of(i32(1), NULL, NULL);
	assert_int_equal(rms_psobject_set_to_string(o, "System.Object[]"), 0);
	expect_json(obj_value(o), "[1]");
	o = obj_new();
	assert_int_equal(rms_psobject_set_to_string(o, "Running"), 0);
	assert_int_equal(rms_psobject_set_base(o, i32(4)), 0);
	expect_json(obj_value(o), "4");
	o = obj_new();
	assert_int_equal(rms_psobject_set_to_string(o, "Running"), 0);
	expect_json(obj_value(o), "\"Running\"");
	expect_json(obj_value(obj_new()), "{}");
	expect_json(obj_value(list_of(NULL, NULL, NULL)), "[]");
	/* the internal builder agrees */
	o = sample(true);
	json_t *j = rms__psobject_json(o);
	assert_non_null(j);
	char *s = rms__json_dump(j);
	assert_string_equal(s, "{\"TABLE\":{\"y\":[2,3],\"x\":1},\"deps\":[\"RpcSs\",null],"
	                       "\"name\":\"svc\"}");
	rms_free(s);
	json_decref(j);
	rms_psobject_free(o);
}

static void test_from_text_round_trips_and_objects_have_none(void **state)
{
	(void)state;
	struct {
		rms_type type;
		const char *text;
	} cases[] = {
		{ RMS_TYPE_DECIMAL, "-3.1400" },
		{ RMS_TYPE_GUID, "00000000-0000-0000-0000-000000000000" },
		{ RMS_TYPE_TIMESPAN, "-10.00:00:00.0000010" },
		{ RMS_TYPE_VERSION, "4.0.30319.42000" },
		{ RMS_TYPE_URI, "file:///C:/x%20y" },
		{ RMS_TYPE_XML, "<?xml version=\"1.0\"?><r/>" },
		{ RMS_TYPE_SCRIPTBLOCK, "param($a) $a * 2" },
		{ RMS_TYPE_BYTES, "3q2+7w==" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rms_value *v = text_value(cases[i].type, cases[i].text);
		assert_int_equal(rms_value_type(v), cases[i].type);
		assert_round_trip(v, cases[i].text);
		rms_value *d;
		assert_int_equal(rms_value_dup(&d, v), 0);
		assert_true(rms_value_equal(v, d));
		rms_value_free(d);
		rms_value_free(v);
	}
	rms_value *v = NULL;
	assert_error(rms_value_from_text(&v, RMS_TYPE_OBJECT, "x"), RMS_E_UNSUPPORTED,
	             "object values have no text form");
	assert_null(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_powershell_types_have_names_and_no_array_form),
		cmocka_unit_test(test_decimal_keeps_dotnet_text_and_refuses_other_shapes),
		cmocka_unit_test(test_guid_any_case_is_kept_lower_case),
		cmocka_unit_test(test_version_two_to_four_numbers_in_int32_range),
		cmocka_unit_test(test_uri_xml_scriptblock_take_any_utf8_text),
		cmocka_unit_test(test_get_text_reads_every_text_type_and_only_those),
		cmocka_unit_test(test_text_take_validates_and_owns_the_text),
		cmocka_unit_test(test_timespan_constant_format_round_trips),
		cmocka_unit_test(test_timespan_xml_duration_form),
		cmocka_unit_test(test_bytes_copy_print_as_base64_and_read_back),
		cmocka_unit_test(test_object_parts_set_and_read_back),
		cmocka_unit_test(test_dictionary_keys_are_unique_and_not_null),
		cmocka_unit_test(test_large_dictionary_detects_duplicates_fast),
		cmocka_unit_test(test_properties_keep_order_and_match_names_case_insensitively),
		cmocka_unit_test(test_many_properties_are_found_through_the_index),
		cmocka_unit_test(test_equality_dictionary_as_set_properties_in_any_order),
		cmocka_unit_test(test_dup_is_deep_and_equal),
		cmocka_unit_test(test_objects_nest_in_instances),
		cmocka_unit_test(test_text_form_of_objects),
		cmocka_unit_test(test_display_form),
		cmocka_unit_test(test_json_form_matches_convertto_json),
		cmocka_unit_test(test_from_text_round_trips_and_objects_have_none),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
