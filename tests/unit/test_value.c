/* Typed values: construction, getters, text form, equality, arrays, type names. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "remsess/remsess.h"

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

/* to_text gives `text` (unless NULL), and from_text of it gives a value equal to v. */
static void assert_round_trip(const rms_value *v, const char *text)
{
	char *t = NULL;
	assert_int_equal(rms_value_to_text(&t, v), 0);
	assert_non_null(t);
	if (text)
		assert_string_equal(t, text);
	rms_value *back = NULL;
	int rc = rms_value_from_text(&back, rms_value_type(v), t);
	if (rc)
		fail_msg("from_text(\"%s\") failed: %s", t, rms_error_message(rms_error_last()));
	assert_true(rms_value_equal(v, back));
	assert_true(rms_value_equal(back, v));
	rms_value_free(back);
	rms_free(t);
}

/* from_text(type, text) succeeds and prints back as `printed`. */
static rms_value *parse_ok(rms_type type, const char *text)
{
	rms_value *v = NULL;
	int rc = rms_value_from_text(&v, type, text);
	if (rc)
		fail_msg("from_text(%s, \"%s\") failed: %s", rms_type_name(type), text,
		         rms_error_message(rms_error_last()));
	assert_non_null(v);
	assert_int_equal(rms_value_type(v), type);
	return v;
}

static char *text_of(const rms_value *v)
{
	char *t = NULL;
	assert_int_equal(rms_value_to_text(&t, v), 0);
	return t;
}

/* ---- type names ---------------------------------------------------------- */

static void test_type_names_print_and_parse_every_type(void **state)
{
	(void)state;
	for (unsigned t = 0; t < 0x20; t++) {
		const char *name = rms_type_name((rms_type)t);
		assert_non_null(name);
		rms_type back = (rms_type)99;
		assert_int_equal(rms_type_parse(&back, name), 0);
		assert_int_equal(back, t);
		assert_int_equal(RMS_TYPE_IS_ARRAY(t), strstr(name, "[]") != NULL);
	}
	const char *expect[] = { "boolean", "uint8",  "sint8",  "uint16",   "sint16", "uint32",
		                 "sint32",  "uint64", "sint64", "real32",   "real64", "char16",
		                 "datetime", "string", "ref",   "instance" };
	for (unsigned t = 0; t < 16; t++)
		assert_string_equal(rms_type_name((rms_type)t), expect[t]);
	assert_string_equal(rms_type_name((rms_type)(RMS_TYPE_UINT32 | RMS_TYPE_ARRAY)),
	                    "uint32[]");
	assert_string_equal(rms_type_name((rms_type)(RMS_TYPE_INSTANCE | RMS_TYPE_ARRAY)),
	                    "instance[]");
	assert_null(rms_type_name((rms_type)0x30)); /* 0x20..0x28: PowerShell types */
	assert_null(rms_type_name((rms_type)0x45));
}

static void test_type_parse_ignores_case(void **state)
{
	(void)state;
	rms_type t;
	assert_int_equal(rms_type_parse(&t, "UInt32"), 0);
	assert_int_equal(t, RMS_TYPE_UINT32);
	assert_int_equal(rms_type_parse(&t, "DATETIME[]"), 0);
	assert_int_equal(t, RMS_TYPE_DATETIME | RMS_TYPE_ARRAY);
}

static void test_type_parse_rejects_unknown_names(void **state)
{
	(void)state;
	rms_type t;
	const char *bad[] = { "int32", "", "uint32[", "[]", "string[][]", " uint8", "uint8 ",
		              "reference", "uint", "sint1\x16" /* not "sint16" */ };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char quoted[64];
		snprintf(quoted, sizeof quoted, "\"%s\"", bad[i]);
		assert_error(rms_type_parse(&t, bad[i]), RMS_E_PARSE, quoted);
	}
	assert_error(rms_type_parse(&t, NULL), RMS_E_INVALID_ARG, "NULL");
}

/* ---- common.h names -------------------------------------------------------- */

static void test_backend_names_and_parse(void **state)
{
	(void)state;
	assert_string_equal(rms_backend_name(RMS_BACKEND_NONE), "none");
	assert_string_equal(rms_backend_name(RMS_BACKEND_CIM), "cim");
	assert_string_equal(rms_backend_name(RMS_BACKEND_PSSESSION), "pssession");
	assert_string_equal(rms_backend_name(RMS_BACKEND_AUTO), "auto");
	rms_backend b = RMS_BACKEND_NONE;
	assert_int_equal(rms_backend_parse(&b, "CIM"), 0);
	assert_int_equal(b, RMS_BACKEND_CIM);
	assert_int_equal(rms_backend_parse(&b, "PSSession"), 0);
	assert_int_equal(b, RMS_BACKEND_PSSESSION);
	assert_int_equal(rms_backend_parse(&b, "auto"), 0);
	assert_int_equal(b, RMS_BACKEND_AUTO);
	assert_error(rms_backend_parse(&b, "wmi"), RMS_E_INVALID_ARG, "\"wmi\"");
	assert_string_equal(rms_error_field(rms_error_last()), "backend");
	assert_error(rms_backend_parse(&b, NULL), RMS_E_INVALID_ARG, "NULL");
	rms_free(NULL);
}

/* ---- booleans ---------------------------------------------------------------- */

static void test_boolean_construct_get_and_round_trip(void **state)
{
	(void)state;
	rms_value *t, *f;
	assert_int_equal(rms_value_new_boolean(&t, true), 0);
	assert_int_equal(rms_value_new_boolean(&f, false), 0);
	bool b = false;
	assert_int_equal(rms_value_get_boolean(t, &b), 0);
	assert_true(b);
	assert_int_equal(rms_value_get_boolean(f, &b), 0);
	assert_false(b);
	assert_false(rms_value_is_null(t));
	assert_round_trip(t, "true");
	assert_round_trip(f, "false");
	assert_false(rms_value_equal(t, f));
	uint8_t u;
	assert_error(rms_value_get_uint8(t, &u), RMS_E_TYPE, "value is boolean, not uint8");
	rms_value_free(t);
	rms_value_free(f);
}

static void test_boolean_from_text_any_case_only_true_false(void **state)
{
	(void)state;
	rms_value *v = parse_ok(RMS_TYPE_BOOLEAN, "TRUE");
	bool b = false;
	assert_int_equal(rms_value_get_boolean(v, &b), 0);
	assert_true(b);
	rms_value_free(v);
	v = parse_ok(RMS_TYPE_BOOLEAN, "False");
	assert_int_equal(rms_value_get_boolean(v, &b), 0);
	assert_false(b);
	rms_value_free(v);
	const char *bad[] = { "1", "0", "yes", "", "true ", "truth" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		v = (rms_value *)1;
		assert_error(rms_value_from_text(&v, RMS_TYPE_BOOLEAN, bad[i]), RMS_E_PARSE,
		             "not a valid boolean");
		assert_null(v);
	}
}

/* ---- integers ------------------------------------------------------------------ */

struct int_case {
	rms_type type;
	const char *min, *max, *below, *above, *range;
};

static const struct int_case int_cases[] = {
	{ RMS_TYPE_UINT8, "0", "255", "-1", "256", "(0..255)" },
	{ RMS_TYPE_SINT8, "-128", "127", "-129", "128", "(-128..127)" },
	{ RMS_TYPE_UINT16, "0", "65535", "-1", "65536", "(0..65535)" },
	{ RMS_TYPE_SINT16, "-32768", "32767", "-32769", "32768", "(-32768..32767)" },
	{ RMS_TYPE_UINT32, "0", "4294967295", "-1", "4294967296", "(0..4294967295)" },
	{ RMS_TYPE_SINT32, "-2147483648", "2147483647", "-2147483649", "2147483648",
	  "(-2147483648..2147483647)" },
	{ RMS_TYPE_UINT64, "0", "18446744073709551615", "-1", "18446744073709551616",
	  "(0..18446744073709551615)" },
	{ RMS_TYPE_SINT64, "-9223372036854775808", "9223372036854775807", "-9223372036854775809",
	  "9223372036854775808", "(-9223372036854775808..9223372036854775807)" },
};

static void test_integer_bounds_round_trip_and_one_past_is_range_error(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof int_cases / sizeof int_cases[0]; i++) {
		const struct int_case *c = &int_cases[i];
		const char *ok[] = { c->min, c->max, "0" };
		for (size_t k = 0; k < 3; k++) {
			rms_value *v = parse_ok(c->type, ok[k]);
			assert_round_trip(v, ok[k]);
			rms_value_free(v);
		}
		const char *bad[] = { c->below, c->above };
		for (size_t k = 0; k < 2; k++) {
			char want[128];
			snprintf(want, sizeof want, "%s is out of range for %s %s", bad[k],
			         rms_type_name(c->type), c->range);
			rms_value *v = NULL;
			assert_error(rms_value_from_text(&v, c->type, bad[k]), RMS_E_RANGE, want);
			assert_null(v);
		}
	}
}

static void test_integer_constructors_and_typed_getters(void **state)
{
	(void)state;
	rms_value *v[8];
	assert_int_equal(rms_value_new_uint8(&v[0], UINT8_MAX), 0);
	assert_int_equal(rms_value_new_sint8(&v[1], INT8_MIN), 0);
	assert_int_equal(rms_value_new_uint16(&v[2], UINT16_MAX), 0);
	assert_int_equal(rms_value_new_sint16(&v[3], INT16_MIN), 0);
	assert_int_equal(rms_value_new_uint32(&v[4], UINT32_MAX), 0);
	assert_int_equal(rms_value_new_sint32(&v[5], INT32_MIN), 0);
	assert_int_equal(rms_value_new_uint64(&v[6], UINT64_MAX), 0);
	assert_int_equal(rms_value_new_sint64(&v[7], INT64_MIN), 0);
	uint8_t u8;
	int8_t s8;
	uint16_t u16;
	int16_t s16;
	uint32_t u32;
	int32_t s32;
	uint64_t u64;
	int64_t s64;
	assert_int_equal(rms_value_get_uint8(v[0], &u8), 0);
	assert_int_equal(u8, UINT8_MAX);
	assert_int_equal(rms_value_get_sint8(v[1], &s8), 0);
	assert_int_equal(s8, INT8_MIN);
	assert_int_equal(rms_value_get_uint16(v[2], &u16), 0);
	assert_int_equal(u16, UINT16_MAX);
	assert_int_equal(rms_value_get_sint16(v[3], &s16), 0);
	assert_int_equal(s16, INT16_MIN);
	assert_int_equal(rms_value_get_uint32(v[4], &u32), 0);
	assert_int_equal(u32, UINT32_MAX);
	assert_int_equal(rms_value_get_sint32(v[5], &s32), 0);
	assert_int_equal(s32, INT32_MIN);
	assert_int_equal(rms_value_get_uint64(v[6], &u64), 0);
	assert_true(u64 == UINT64_MAX);
	assert_int_equal(rms_value_get_sint64(v[7], &s64), 0);
	assert_true(s64 == INT64_MIN);
	const char *names[] = { "uint8",  "sint8",  "uint16", "sint16",
		                "uint32", "sint32", "uint64", "sint64" };
	for (size_t i = 0; i < 8; i++) {
		assert_int_equal(rms_value_type(v[i]), (rms_type)(RMS_TYPE_UINT8 + i));
		assert_round_trip(v[i], NULL);
		/* every integer getter but its own refuses, naming both types */
		char want[64];
		snprintf(want, sizeof want, "value is %s, not %s", names[i],
		         i == 4 ? "uint16" : "uint32");
		uint32_t x;
		uint16_t y;
		int rc = i == 4 ? rms_value_get_uint16(v[i], &y) : rms_value_get_uint32(v[i], &x);
		assert_error(rc, RMS_E_TYPE, want);
		rms_value_free(v[i]);
	}
}

static void test_integer_from_text_rejects_bad_syntax(void **state)
{
	(void)state;
	const char *bad[] = { " 1", "1 ", "0x10", "1.0", "", "+", "-", "1e3", "--1", "+-1", "1_000",
		              "١" /* Arabic-Indic digit one */ };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		rms_value *v = NULL;
		int rc = rms_value_from_text(&v, RMS_TYPE_SINT32, bad[i]);
		if (rc != RMS_E_PARSE)
			fail_msg("\"%s\": expected RMS_E_PARSE, got %d", bad[i], rc);
		assert_non_null(strstr(rms_error_message(rms_error_last()), "not a valid sint32"));
		assert_null(v);
	}
}

static void test_integer_from_text_signs_and_leading_zeros(void **state)
{
	(void)state;
	rms_value *v = parse_ok(RMS_TYPE_UINT8, "+5");
	uint8_t u;
	assert_int_equal(rms_value_get_uint8(v, &u), 0);
	assert_int_equal(u, 5);
	rms_value_free(v);
	v = parse_ok(RMS_TYPE_UINT16, "007");
	char *t = text_of(v);
	assert_string_equal(t, "7");
	rms_free(t);
	rms_value_free(v);
	v = parse_ok(RMS_TYPE_SINT8, "-0");
	int8_t s;
	assert_int_equal(rms_value_get_sint8(v, &s), 0);
	assert_int_equal(s, 0);
	rms_value_free(v);
	/* unsigned text never carries '-', not even for zero */
	assert_error(rms_value_from_text(&v, RMS_TYPE_UINT32, "-0"), RMS_E_RANGE,
	             "-0 is out of range for uint32");
	/* more digits than any 64-bit number holds */
	assert_error(rms_value_from_text(&v, RMS_TYPE_SINT64, "123456789012345678901234567890"),
	             RMS_E_RANGE, "out of range for sint64");
	assert_error(rms_value_from_text(&v, RMS_TYPE_UINT64, "-99999999999999999999999"),
	             RMS_E_RANGE, "out of range for uint64");
}

static void test_integer_error_message_is_clipped_for_long_text(void **state)
{
	(void)state;
	char big[300];
	memset(big, '9', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	rms_value *v = NULL;
	assert_error(rms_value_from_text(&v, RMS_TYPE_UINT8, big), RMS_E_RANGE, "...");
	assert_true(strlen(rms_error_message(rms_error_last())) < 150);
}

static void test_as_int64_and_as_uint64_convert_any_integer(void **state)
{
	(void)state;
	rms_value *u64, *s8, *u16, *s64, *str, *nul;
	assert_int_equal(rms_value_new_uint64(&u64, UINT64_MAX), 0);
	assert_int_equal(rms_value_new_sint8(&s8, -5), 0);
	assert_int_equal(rms_value_new_uint16(&u16, 60000), 0);
	assert_int_equal(rms_value_new_sint64(&s64, INT64_MIN), 0);
	assert_int_equal(rms_value_new_string(&str, "12"), 0);
	assert_int_equal(rms_value_new_null(&nul, RMS_TYPE_UINT32), 0);
	int64_t i;
	uint64_t u;
	assert_int_equal(rms_value_as_int64(s8, &i), 0);
	assert_true(i == -5);
	assert_int_equal(rms_value_as_int64(u16, &i), 0);
	assert_true(i == 60000);
	assert_int_equal(rms_value_as_uint64(u16, &u), 0);
	assert_true(u == 60000);
	assert_int_equal(rms_value_as_int64(s64, &i), 0);
	assert_true(i == INT64_MIN);
	assert_int_equal(rms_value_as_uint64(u64, &u), 0);
	assert_true(u == UINT64_MAX);
	assert_error(rms_value_as_int64(u64, &i), RMS_E_RANGE,
	             "uint64 value 18446744073709551615 is out of range for sint64");
	assert_error(rms_value_as_uint64(s8, &u), RMS_E_RANGE,
	             "sint8 value -5 is out of range for uint64");
	assert_error(rms_value_as_int64(str, &i), RMS_E_TYPE, "value is string, not an integer");
	assert_error(rms_value_as_uint64(nul, &u), RMS_E_NOT_FOUND, "null uint32");
	rms_value *nul64;
	assert_int_equal(rms_value_new_uint64(&nul64, (uint64_t)INT64_MAX), 0);
	assert_int_equal(rms_value_as_int64(nul64, &i), 0);
	assert_true(i == INT64_MAX);
	rms_value_free(nul64);
	rms_value_free(u64);
	rms_value_free(s8);
	rms_value_free(u16);
	rms_value_free(s64);
	rms_value_free(str);
	rms_value_free(nul);
}

/* ---- reals ---------------------------------------------------------------------- */

static void test_real64_shortest_text_round_trips(void **state)
{
	(void)state;
	struct {
		double v;
		const char *text;
	} cases[] = {
		{ 0.1, "0.1" },         { 1.0, "1" },           { -2.5, "-2.5" },
		{ 1e-310, "1e-310" },   { 123456.789, "123456.789" },
		{ DBL_MAX, "1.7976931348623157e+308" },         { DBL_TRUE_MIN, "5e-324" },
		{ 1.0 / 3.0, "0.3333333333333333" },            { 0.0, "0" },
		{ NAN, "NaN" },         { INFINITY, "INF" },    { -INFINITY, "-INF" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rms_value *v;
		assert_int_equal(rms_value_new_real64(&v, cases[i].v), 0);
		assert_round_trip(v, cases[i].text);
		double d;
		assert_int_equal(rms_value_get_real64(v, &d), 0);
		if (isnan(cases[i].v))
			assert_true(isnan(d));
		else
			assert_true(d == cases[i].v);
		rms_value_free(v);
	}
}

static void test_real_negative_zero_keeps_its_sign_in_text(void **state)
{
	(void)state;
	rms_value *v;
	assert_int_equal(rms_value_new_real64(&v, -0.0), 0);
	assert_round_trip(v, "-0");
	rms_value_free(v);
	v = parse_ok(RMS_TYPE_REAL64, "-0");
	double d;
	assert_int_equal(rms_value_get_real64(v, &d), 0);
	assert_true(d == 0.0 && signbit(d));
	rms_value_free(v);
}

static void test_real32_shortest_text_round_trips(void **state)
{
	(void)state;
	struct {
		float v;
		const char *text;
	} cases[] = {
		{ 0.1f, "0.1" },
		{ FLT_MAX, "3.4028235e+38" },
		{ FLT_TRUE_MIN, "1e-45" },
		{ -1.5f, "-1.5" },
		{ 16777216.0f, "16777216" },
		{ NAN, "NaN" },
		{ INFINITY, "INF" },
		{ -INFINITY, "-INF" },
		{ -0.0f, "-0" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rms_value *v;
		assert_int_equal(rms_value_new_real32(&v, cases[i].v), 0);
		assert_round_trip(v, cases[i].text);
		float f;
		assert_int_equal(rms_value_get_real32(v, &f), 0);
		if (isnan(cases[i].v))
			assert_true(isnan(f));
		else
			assert_true(f == cases[i].v);
		rms_value_free(v);
	}
}

static void test_real_from_text_specials_in_any_case(void **state)
{
	(void)state;
	const char *texts[] = { "nan", "NaN", "inf", "+INF", "Infinity", "-infinity", "-Inf" };
	const int kind[] = { 0, 0, 1, 1, 1, -1, -1 };
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		for (int r = 0; r < 2; r++) {
			rms_type t = r ? RMS_TYPE_REAL32 : RMS_TYPE_REAL64;
			rms_value *v = parse_ok(t, texts[i]);
			double d;
			float f;
			if (r) {
				assert_int_equal(rms_value_get_real32(v, &f), 0);
				d = f;
			} else {
				assert_int_equal(rms_value_get_real64(v, &d), 0);
			}
			if (kind[i] == 0)
				assert_true(isnan(d));
			else
				assert_true(isinf(d) && (d > 0) == (kind[i] > 0));
			rms_value_free(v);
		}
	}
	rms_value *v = parse_ok(RMS_TYPE_REAL64, "1.5E+3");
	double d;
	assert_int_equal(rms_value_get_real64(v, &d), 0);
	assert_true(d == 1500.0);
	rms_value_free(v);
	v = parse_ok(RMS_TYPE_REAL64, ".5");
	assert_int_equal(rms_value_get_real64(v, &d), 0);
	assert_true(d == 0.5);
	rms_value_free(v);
}

static void test_real_from_text_rejects_bad_syntax_and_overflow(void **state)
{
	(void)state;
	rms_value *v = NULL;
	assert_error(rms_value_from_text(&v, RMS_TYPE_REAL64, "1e999"), RMS_E_RANGE,
	             "1e999 is out of range for real64");
	assert_error(rms_value_from_text(&v, RMS_TYPE_REAL32, "1e39"), RMS_E_RANGE,
	             "1e39 is out of range for real32");
	assert_error(rms_value_from_text(&v, RMS_TYPE_REAL32, "-3.5e38"), RMS_E_RANGE,
	             "out of range for real32");
	const char *bad[] = { "abc", "0x1p3", " 1", "1 ", "1.5x", "", ".", "e5", "1e", "1e+",
		              "nan(1)", "-nan", "1,5", "++1", "INFINITE" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = rms_value_from_text(&v, RMS_TYPE_REAL64, bad[i]);
		if (rc != RMS_E_PARSE)
			fail_msg("\"%s\": expected RMS_E_PARSE, got %d", bad[i], rc);
		assert_non_null(strstr(rms_error_message(rms_error_last()), "not a valid real64"));
		assert_null(v);
	}
}

static void test_real_equality_nan_equal_and_signed_zeros_equal(void **state)
{
	(void)state;
	rms_value *n1, *n2, *pz, *mz, *one, *f32;
	assert_int_equal(rms_value_new_real64(&n1, NAN), 0);
	assert_int_equal(rms_value_new_real64(&n2, -NAN), 0);
	assert_int_equal(rms_value_new_real64(&pz, 0.0), 0);
	assert_int_equal(rms_value_new_real64(&mz, -0.0), 0);
	assert_int_equal(rms_value_new_real64(&one, 1.0), 0);
	assert_int_equal(rms_value_new_real32(&f32, 1.0f), 0);
	assert_true(rms_value_equal(n1, n2));
	assert_true(rms_value_equal(pz, mz));
	assert_false(rms_value_equal(n1, one));
	assert_false(rms_value_equal(one, n1));
	assert_false(rms_value_equal(pz, one));
	assert_false(rms_value_equal(one, f32)); /* real64 vs real32 */
	rms_value_free(n1);
	rms_value_free(n2);
	rms_value_free(pz);
	rms_value_free(mz);
	rms_value_free(one);
	rms_value_free(f32);
}

/* ---- char16 ----------------------------------------------------------------------- */

static void test_char16_round_trips_ascii_and_non_ascii(void **state)
{
	(void)state;
	struct {
		uint16_t c;
		const char *text;
	} cases[] = { { 'A', "A" },
		      { 0xE9, "\xC3\xA9" /* é */ },
		      { 0x20AC, "\xE2\x82\xAC" /* € */ },
		      { 0xFFFD, "\xEF\xBF\xBD" },
		      { '"', "\"" } };
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rms_value *v;
		assert_int_equal(rms_value_new_char16(&v, cases[i].c), 0);
		assert_round_trip(v, cases[i].text);
		uint16_t c;
		assert_int_equal(rms_value_get_char16(v, &c), 0);
		assert_int_equal(c, cases[i].c);
		rms_value_free(v);
		v = parse_ok(RMS_TYPE_CHAR16, cases[i].text);
		assert_int_equal(rms_value_get_char16(v, &c), 0);
		assert_int_equal(c, cases[i].c);
		rms_value_free(v);
	}
}

static void test_char16_nul_prints_empty_and_reads_back(void **state)
{
	(void)state;
	rms_value *v;
	assert_int_equal(rms_value_new_char16(&v, 0), 0);
	assert_round_trip(v, "");
	rms_value_free(v);
}

static void test_char16_refuses_surrogates_and_bad_text(void **state)
{
	(void)state;
	rms_value *v = NULL;
	assert_error(rms_value_new_char16(&v, 0xD800), RMS_E_RANGE, "U+D800 is a UTF-16 surrogate");
	assert_null(v);
	assert_error(rms_value_new_char16(&v, 0xDFFF), RMS_E_RANGE, "U+DFFF");
	assert_int_equal(rms_value_new_char16(&v, 0xD7FF), 0);
	rms_value_free(v);
	assert_int_equal(rms_value_new_char16(&v, 0xE000), 0);
	rms_value_free(v);
	assert_error(rms_value_from_text(&v, RMS_TYPE_CHAR16, "ab"), RMS_E_PARSE,
	             "exactly one character");
	assert_error(rms_value_from_text(&v, RMS_TYPE_CHAR16, "\xF0\x9F\x98\x80" /* 😀 */),
	             RMS_E_RANGE, "U+1F600 is out of range for char16");
	assert_error(rms_value_from_text(&v, RMS_TYPE_CHAR16, "\xC3"), RMS_E_PARSE,
	             "not valid UTF-8");
	/* a surrogate written as (invalid) UTF-8 */
	assert_error(rms_value_from_text(&v, RMS_TYPE_CHAR16, "\xED\xA0\x80"), RMS_E_PARSE,
	             "not valid UTF-8");
	assert_null(v);
}

/* ---- strings ------------------------------------------------------------------------ */

static void test_string_unicode_round_trips(void **state)
{
	(void)state;
	const char *texts[] = { "WinRM", ("Gr\xC3\xBC\xC3\x9F" "e, \xE4\xB8\x96\xE7\x95\x8C"),
		                "\xF0\x9F\x98\x80 emoji", "", "(null)", "line1\nline2" };
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		rms_value *v;
		assert_int_equal(rms_value_new_string(&v, texts[i]), 0);
		const char *s;
		assert_int_equal(rms_value_get_string(v, &s), 0);
		assert_string_equal(s, texts[i]);
		assert_round_trip(v, texts[i]);
		rms_value_free(v);
	}
}

static void test_string_empty_and_null_are_distinct(void **state)
{
	(void)state;
	rms_value *empty, *nul, *nul2;
	assert_int_equal(rms_value_new_string(&empty, ""), 0);
	assert_int_equal(rms_value_new_null(&nul, RMS_TYPE_STRING), 0);
	assert_int_equal(rms_value_new_null(&nul2, RMS_TYPE_STRING), 0);
	assert_false(rms_value_is_null(empty));
	assert_true(rms_value_is_null(nul));
	assert_int_equal(rms_value_type(nul), RMS_TYPE_STRING);
	assert_false(rms_value_equal(empty, nul));
	assert_true(rms_value_equal(nul, nul2));
	const char *s = "untouched";
	assert_error(rms_value_get_string(nul, &s), RMS_E_NOT_FOUND, "null string");
	assert_string_equal(s, "untouched");
	char *t = text_of(nul);
	assert_string_equal(t, "(null)");
	rms_free(t);
	t = text_of(empty);
	assert_string_equal(t, "");
	rms_free(t);
	rms_value_free(empty);
	rms_value_free(nul);
	rms_value_free(nul2);
}

static void test_string_refuses_invalid_utf8_and_embedded_nul(void **state)
{
	(void)state;
	rms_value *v = NULL;
	const char *bad[] = { "\xC3\x28", "\xC0\xAF" /* overlong '/' */,
		              "\xED\xA0\x80" /* surrogate */, "ok\xFF", "\xF4\x90\x80\x80" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_error(rms_value_new_string(&v, bad[i]), RMS_E_INVALID_ARG,
		             "not valid UTF-8");
		assert_null(v);
		assert_error(rms_value_from_text(&v, RMS_TYPE_STRING, bad[i]), RMS_E_INVALID_ARG,
		             "not valid UTF-8");
	}
	assert_error(rms_value_new_string(&v, "ok\xFF"), RMS_E_INVALID_ARG, "offset 2");
	assert_error(rms_value_new_string_len(&v, "a\0b", 3), RMS_E_INVALID_ARG,
	             "NUL byte at offset 1");
	assert_error(rms_value_new_string(&v, NULL), RMS_E_INVALID_ARG, "NULL");
	assert_null(v);
	/* a buffer without terminator is fine */
	char buf[3] = { 'a', 'b', 'c' };
	assert_int_equal(rms_value_new_string_len(&v, buf, 2), 0);
	const char *s;
	assert_int_equal(rms_value_get_string(v, &s), 0);
	assert_string_equal(s, "ab");
	rms_value_free(v);
}

/* ---- datetime ------------------------------------------------------------------------- */

static void test_datetime_construct_validates_fields(void **state)
{
	(void)state;
	rms_datetime dt = { .year = 2014, .month = 4, .day = 3, .hour = 14, .minute = 45,
		            .second = 50, .nanoseconds = 468750000, .frac_digits = 6,
		            .utc_offset = 480, .tz_form = RMS_TZ_OFFSET };
	rms_value *v;
	assert_int_equal(rms_value_new_datetime(&v, &dt), 0);
	rms_datetime got;
	assert_int_equal(rms_value_get_datetime(v, &got), 0);
	assert_true(rms_datetime_equal(&got, &dt));
	assert_round_trip(v, "20140403144550.468750+480");
	rms_value_free(v);
	dt.month = 13;
	v = NULL;
	assert_error(rms_value_new_datetime(&v, &dt), RMS_E_RANGE, "month");
	assert_null(v);
	assert_error(rms_value_new_datetime(&v, NULL), RMS_E_INVALID_ARG, "NULL");
}

static void test_datetime_from_text_dmtf_and_xs_forms(void **state)
{
	(void)state;
	/* xs:dateTime as Windows sends it (shared/protocol/facts.md, datetime row) */
	rms_value *xs = parse_ok(RMS_TYPE_DATETIME, "2014-04-03T14:45:50.46875+08:00");
	rms_value *dmtf = parse_ok(RMS_TYPE_DATETIME, "20140403144550.468750+480");
	assert_true(rms_value_equal(xs, dmtf));
	char *t = text_of(xs);
	assert_string_equal(t, "20140403144550.468750+480");
	rms_free(t);
	assert_round_trip(xs, NULL);
	rms_value_free(xs);
	rms_value_free(dmtf);

	/* intervals in both forms */
	rms_value *iv = parse_ok(RMS_TYPE_DATETIME, "P1DT2H3M4.5S");
	rms_value *idm = parse_ok(RMS_TYPE_DATETIME, "00000001020304.500000:000");
	assert_true(rms_value_equal(iv, idm));
	assert_round_trip(iv, "00000001020304.500000:000");
	rms_value_free(iv);
	rms_value_free(idm);

	/* wildcards have only the DMTF form */
	rms_value *w = parse_ok(RMS_TYPE_DATETIME, "2014****144550.******+***");
	assert_round_trip(w, "2014****144550.******+***");
	rms_value_free(w);
}

static void test_datetime_text_falls_back_to_xs_where_dmtf_cannot_say_it(void **state)
{
	(void)state;
	/* no zone: local time has no DMTF form */
	rms_value *v = parse_ok(RMS_TYPE_DATETIME, "2014-04-03T14:45:50");
	assert_round_trip(v, "2014-04-03T14:45:50");
	rms_value_free(v);
	/* nanoseconds: finer than the DMTF microseconds */
	v = parse_ok(RMS_TYPE_DATETIME, "2014-04-03T14:45:50.123456789Z");
	assert_round_trip(v, "2014-04-03T14:45:50.123456789Z");
	rms_value_free(v);
}

static void test_datetime_from_text_reports_the_matching_form_error(void **state)
{
	(void)state;
	rms_value *v = NULL;
	/* DMTF-shaped with month 13: the DMTF range error, not an xs parse error */
	assert_int_equal(rms_value_from_text(&v, RMS_TYPE_DATETIME, "20141303144550.000000+000"),
	                 RMS_E_RANGE);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "month"));
	assert_int_equal(rms_value_from_text(&v, RMS_TYPE_DATETIME, "yesterday"), RMS_E_PARSE);
	assert_int_equal(rms_value_from_text(&v, RMS_TYPE_DATETIME, "P1Y"), RMS_E_RANGE);
	assert_null(v);
}

/* ---- arrays ----------------------------------------------------------------------------- */

static rms_value *u32_array(const uint32_t *items, size_t n)
{
	rms_value *a;
	assert_int_equal(rms_value_new_array(&a, RMS_TYPE_UINT32), 0);
	for (size_t i = 0; i < n; i++) {
		rms_value *e;
		assert_int_equal(rms_value_new_uint32(&e, items[i]), 0);
		assert_int_equal(rms_value_array_append(a, e), 0);
	}
	return a;
}

static void test_array_append_and_read_back(void **state)
{
	(void)state;
	const uint32_t items[] = { 1, 2, 4294967295u };
	rms_value *a = u32_array(items, 3);
	assert_int_equal(rms_value_type(a), RMS_TYPE_UINT32 | RMS_TYPE_ARRAY);
	assert_int_equal(rms_value_array_length(a), 3);
	for (size_t i = 0; i < 3; i++) {
		uint32_t x;
		assert_int_equal(rms_value_get_uint32(rms_value_array_at(a, i), &x), 0);
		assert_int_equal(x, items[i]);
	}
	assert_null(rms_value_array_at(a, 3));
	char *t = text_of(a);
	assert_string_equal(t, "{1, 2, 4294967295}");
	rms_free(t);
	uint32_t x;
	assert_error(rms_value_get_uint32(a, &x), RMS_E_TYPE, "value is uint32[], not uint32");
	rms_value *e;
	assert_int_equal(rms_value_new_uint32(&e, 1), 0);
	assert_int_equal(rms_value_array_length(e), 0);
	assert_null(rms_value_array_at(e, 0));
	rms_value_free(e);
	/* the array bit on the element type is accepted too */
	rms_value *b;
	assert_int_equal(rms_value_new_array(&b, RMS_TYPE_UINT32 | RMS_TYPE_ARRAY), 0);
	assert_int_equal(rms_value_type(b), RMS_TYPE_UINT32 | RMS_TYPE_ARRAY);
	rms_value_free(b);
	rms_value_free(a);
}

static void test_array_append_refuses_wrong_type_and_null_elements(void **state)
{
	(void)state;
	rms_value *a = u32_array(NULL, 0), *s, *nul, *u16, *scalar, *nul_arr, *inner;
	assert_int_equal(rms_value_new_string(&s, "x"), 0);
	assert_int_equal(rms_value_new_null(&nul, RMS_TYPE_UINT32), 0);
	assert_int_equal(rms_value_new_uint16(&u16, 1), 0);
	assert_int_equal(rms_value_new_uint32(&scalar, 1), 0);
	assert_int_equal(rms_value_new_null(&nul_arr, RMS_TYPE_UINT32 | RMS_TYPE_ARRAY), 0);
	assert_int_equal(rms_value_new_array(&inner, RMS_TYPE_UINT32), 0);
	assert_error(rms_value_array_append(a, s), RMS_E_TYPE,
	             "cannot append a string to a uint32[] array");
	assert_error(rms_value_array_append(a, u16), RMS_E_TYPE,
	             "cannot append a uint16 to a uint32[] array");
	assert_error(rms_value_array_append(a, nul), RMS_E_TYPE,
	             "cannot append a null uint32 to a uint32[] array");
	assert_error(rms_value_array_append(a, inner), RMS_E_TYPE,
	             "cannot append a uint32[] to a uint32[] array");
	assert_error(rms_value_array_append(scalar, u16), RMS_E_TYPE, "not an array");
	assert_error(rms_value_array_append(nul_arr, scalar), RMS_E_INVALID_ARG,
	             "null uint32[]");
	assert_error(rms_value_array_append(a, NULL), RMS_E_INVALID_ARG, "NULL");
	assert_int_equal(rms_value_array_length(a), 0);
	/* the caller kept every refused element: free them all */
	rms_value_free(s);
	rms_value_free(nul);
	rms_value_free(u16);
	rms_value_free(scalar);
	rms_value_free(nul_arr);
	rms_value_free(inner);
	rms_value_free(a);
}

static void test_array_empty_and_null_are_distinct(void **state)
{
	(void)state;
	rms_value *empty = u32_array(NULL, 0), *nul;
	assert_int_equal(rms_value_new_null(&nul, RMS_TYPE_UINT32 | RMS_TYPE_ARRAY), 0);
	assert_false(rms_value_is_null(empty));
	assert_true(rms_value_is_null(nul));
	assert_false(rms_value_equal(empty, nul));
	assert_int_equal(rms_value_array_length(nul), 0);
	char *t = text_of(empty);
	assert_string_equal(t, "{}");
	rms_free(t);
	t = text_of(nul);
	assert_string_equal(t, "(null)");
	rms_free(t);
	rms_value_free(empty);
	rms_value_free(nul);
}

static void test_array_equality_is_element_by_element_in_order(void **state)
{
	(void)state;
	const uint32_t a1[] = { 1, 2, 3 }, a2[] = { 1, 2, 3 }, a3[] = { 3, 2, 1 }, a4[] = { 1, 2 };
	rms_value *x = u32_array(a1, 3), *y = u32_array(a2, 3), *z = u32_array(a3, 3),
	          *w = u32_array(a4, 2);
	rms_value *s;
	assert_int_equal(rms_value_new_array(&s, RMS_TYPE_SINT32), 0);
	rms_value *e0;
	assert_int_equal(rms_value_new_array(&e0, RMS_TYPE_UINT32), 0);
	assert_true(rms_value_equal(x, y));
	assert_false(rms_value_equal(x, z));
	assert_false(rms_value_equal(x, w));
	assert_false(rms_value_equal(w, x));
	assert_false(rms_value_equal(e0, s)); /* both empty, other element types */
	rms_value_free(x);
	rms_value_free(y);
	rms_value_free(z);
	rms_value_free(w);
	rms_value_free(s);
	rms_value_free(e0);
}

static void test_array_text_quotes_and_escapes_strings(void **state)
{
	(void)state;
	rms_value *a, *e;
	assert_int_equal(rms_value_new_array(&a, RMS_TYPE_STRING), 0);
	const char *items[] = { "plain", "say \"hi\"", "C:\\Windows", "" };
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(rms_value_new_string(&e, items[i]), 0);
		assert_int_equal(rms_value_array_append(a, e), 0);
	}
	char *t = text_of(a);
	assert_string_equal(t, "{\"plain\", \"say \\\"hi\\\"\", \"C:\\\\Windows\", \"\"}");
	rms_free(t);
	rms_value_free(a);
	assert_int_equal(rms_value_new_array(&a, RMS_TYPE_CHAR16), 0);
	assert_int_equal(rms_value_new_char16(&e, ','), 0);
	assert_int_equal(rms_value_array_append(a, e), 0);
	t = text_of(a);
	assert_string_equal(t, "{\",\"}");
	rms_free(t);
	rms_value_free(a);
}

/* ---- references and instances as values ---------------------------------------------- */

static void test_reference_value_holds_a_deep_copy(void **state)
{
	(void)state;
	rms_ref *r;
	assert_int_equal(rms_ref_new(&r, "root/cimv2", "Win32_Service"), 0);
	assert_int_equal(rms_ref_add_selector(r, "Name", "WinRM"), 0);
	rms_value *v;
	assert_int_equal(rms_value_new_reference(&v, r), 0);
	assert_int_equal(rms_ref_add_selector(r, "Name", "changed"), 0);
	const rms_ref *got;
	assert_int_equal(rms_value_get_reference(v, &got), 0);
	assert_ptr_not_equal(got, r);
	assert_string_equal(rms_ref_selector(got, "name"), "WinRM");
	char *t = text_of(v);
	assert_string_equal(t, "root/cimv2:Win32_Service.Name=\"WinRM\"");
	rms_free(t);
	rms_ref_free(r);
	const rms_instance *inst;
	assert_error(rms_value_get_instance(v, &inst), RMS_E_TYPE, "value is ref, not instance");
	rms_value_free(v);
	assert_error(rms_value_new_reference(&v, NULL), RMS_E_INVALID_ARG, "NULL");
	assert_error(rms_value_from_text(&v, RMS_TYPE_REFERENCE, "X.a=\"b\""), RMS_E_UNSUPPORTED,
	             "ref");
	assert_null(v);
}

static void test_instance_value_holds_a_deep_copy(void **state)
{
	(void)state;
	rms_instance *inst;
	assert_int_equal(rms_instance_new(&inst, "root/cimv2", "Win32_Process"), 0);
	rms_value *p;
	assert_int_equal(rms_value_new_uint32(&p, 4), 0);
	assert_int_equal(rms_instance_set(inst, "ProcessId", p, RMS_PROP_KEY), 0);
	assert_int_equal(rms_value_new_string(&p, "System"), 0);
	assert_int_equal(rms_instance_set(inst, "Name", p, 0), 0);
	rms_value *v;
	assert_int_equal(rms_value_new_instance(&v, inst), 0);
	rms_instance_free(inst);
	const rms_instance *got;
	assert_int_equal(rms_value_get_instance(v, &got), 0);
	assert_int_equal(rms_instance_count(got), 2);
	char *t = text_of(v);
	assert_string_equal(t, "instance of Win32_Process { ProcessId = 4; Name = \"System\"; }");
	rms_free(t);
	rms_value *d;
	assert_int_equal(rms_value_dup(&d, v), 0);
	assert_true(rms_value_equal(d, v));
	rms_value_free(d);
	assert_error(rms_value_from_text(&d, RMS_TYPE_INSTANCE, "x"), RMS_E_UNSUPPORTED,
	             "instance");
	assert_error(rms_value_new_instance(&d, NULL), RMS_E_INVALID_ARG, "NULL");
	rms_value_free(v);
}

/* ---- dup, equality, misc ---------------------------------------------------------------- */

static void test_dup_is_deep_and_equal_for_every_kind(void **state)
{
	(void)state;
	rms_value *vals[8];
	assert_int_equal(rms_value_new_string(&vals[0], "s"), 0);
	assert_int_equal(rms_value_new_real64(&vals[1], NAN), 0);
	assert_int_equal(rms_value_new_null(&vals[2], RMS_TYPE_DATETIME), 0);
	const uint32_t items[] = { 7, 8 };
	vals[3] = u32_array(items, 2);
	assert_int_equal(rms_value_new_null(&vals[4], RMS_TYPE_STRING | RMS_TYPE_ARRAY), 0);
	assert_int_equal(rms_value_new_char16(&vals[5], 0x20AC), 0);
	assert_int_equal(rms_value_new_boolean(&vals[6], true), 0);
	rms_ref *r;
	assert_int_equal(rms_ref_new(&r, NULL, "C"), 0);
	assert_int_equal(rms_ref_add_selector(r, "K", "v"), 0);
	rms_value *ra;
	assert_int_equal(rms_value_new_array(&ra, RMS_TYPE_REFERENCE), 0);
	rms_value *rv;
	assert_int_equal(rms_value_new_reference(&rv, r), 0);
	assert_int_equal(rms_value_array_append(ra, rv), 0);
	vals[7] = ra;
	rms_ref_free(r);
	for (size_t i = 0; i < 8; i++) {
		rms_value *d = NULL;
		assert_int_equal(rms_value_dup(&d, vals[i]), 0);
		assert_ptr_not_equal(d, vals[i]);
		assert_true(rms_value_equal(d, vals[i]));
		assert_int_equal(rms_value_type(d), rms_value_type(vals[i]));
		assert_int_equal(rms_value_is_null(d), rms_value_is_null(vals[i]));
		rms_value_free(d);
	}
	/* changing the original array afterwards does not touch the copy */
	rms_value *d, *e;
	assert_int_equal(rms_value_dup(&d, vals[3]), 0);
	assert_int_equal(rms_value_new_uint32(&e, 9), 0);
	assert_int_equal(rms_value_array_append(vals[3], e), 0);
	assert_int_equal(rms_value_array_length(d), 2);
	assert_false(rms_value_equal(d, vals[3]));
	rms_value_free(d);
	for (size_t i = 0; i < 8; i++)
		rms_value_free(vals[i]);
}

static void test_equality_needs_same_type_and_nullness(void **state)
{
	(void)state;
	rms_value *u8, *u16, *n8, *n16, *n8b;
	assert_int_equal(rms_value_new_uint8(&u8, 1), 0);
	assert_int_equal(rms_value_new_uint16(&u16, 1), 0);
	assert_int_equal(rms_value_new_null(&n8, RMS_TYPE_UINT8), 0);
	assert_int_equal(rms_value_new_null(&n16, RMS_TYPE_UINT16), 0);
	assert_int_equal(rms_value_new_null(&n8b, RMS_TYPE_UINT8), 0);
	assert_false(rms_value_equal(u8, u16));
	assert_false(rms_value_equal(u8, n8));
	assert_false(rms_value_equal(n8, n16));
	assert_true(rms_value_equal(n8, n8b));
	assert_false(rms_value_equal(u8, NULL));
	assert_true(rms_value_equal(NULL, NULL));
	uint8_t x = 42;
	assert_error(rms_value_get_uint8(n8, &x), RMS_E_NOT_FOUND, "null uint8");
	assert_int_equal(x, 42);
	rms_value_free(u8);
	rms_value_free(u16);
	rms_value_free(n8);
	rms_value_free(n16);
	rms_value_free(n8b);
}

static void test_bad_arguments_are_reported(void **state)
{
	(void)state;
	rms_value *v = NULL;
	assert_error(rms_value_new_null(&v, (rms_type)0x40), RMS_E_INVALID_ARG,
	             "not a CIM type number");
	assert_error(rms_value_new_array(&v, (rms_type)0x40), RMS_E_INVALID_ARG,
	             "not a CIM type number");
	assert_error(rms_value_from_text(&v, (rms_type)0x40, "1"), RMS_E_INVALID_ARG,
	             "not a CIM type number");
	assert_error(rms_value_from_text(&v, RMS_TYPE_UINT8, NULL), RMS_E_INVALID_ARG,
	             "text is NULL");
	assert_error(rms_value_from_text(&v, RMS_TYPE_UINT8 | RMS_TYPE_ARRAY, "{1}"),
	             RMS_E_UNSUPPORTED, "uint8[] values have no text form");
	assert_error(rms_value_new_uint8(NULL, 1), RMS_E_INVALID_ARG, "out is NULL");
	assert_error(rms_value_dup(&v, NULL), RMS_E_INVALID_ARG, "NULL");
	assert_error(rms_value_to_text(NULL, NULL), RMS_E_INVALID_ARG, "out is NULL");
	char *t = NULL;
	assert_error(rms_value_to_text(&t, NULL), RMS_E_INVALID_ARG, "NULL");
	assert_null(t);
	bool b;
	assert_error(rms_value_get_boolean(NULL, &b), RMS_E_INVALID_ARG, "NULL");
	assert_int_equal(rms_value_new_boolean(&v, true), 0);
	assert_error(rms_value_get_boolean(v, NULL), RMS_E_INVALID_ARG, "NULL");
	rms_value_free(v);
	rms_value_free(NULL);
	assert_true(rms_value_is_null(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_names_print_and_parse_every_type),
		cmocka_unit_test(test_type_parse_ignores_case),
		cmocka_unit_test(test_type_parse_rejects_unknown_names),
		cmocka_unit_test(test_backend_names_and_parse),
		cmocka_unit_test(test_boolean_construct_get_and_round_trip),
		cmocka_unit_test(test_boolean_from_text_any_case_only_true_false),
		cmocka_unit_test(test_integer_bounds_round_trip_and_one_past_is_range_error),
		cmocka_unit_test(test_integer_constructors_and_typed_getters),
		cmocka_unit_test(test_integer_from_text_rejects_bad_syntax),
		cmocka_unit_test(test_integer_from_text_signs_and_leading_zeros),
		cmocka_unit_test(test_integer_error_message_is_clipped_for_long_text),
		cmocka_unit_test(test_as_int64_and_as_uint64_convert_any_integer),
		cmocka_unit_test(test_real64_shortest_text_round_trips),
		cmocka_unit_test(test_real_negative_zero_keeps_its_sign_in_text),
		cmocka_unit_test(test_real32_shortest_text_round_trips),
		cmocka_unit_test(test_real_from_text_specials_in_any_case),
		cmocka_unit_test(test_real_from_text_rejects_bad_syntax_and_overflow),
		cmocka_unit_test(test_real_equality_nan_equal_and_signed_zeros_equal),
		cmocka_unit_test(test_char16_round_trips_ascii_and_non_ascii),
		cmocka_unit_test(test_char16_nul_prints_empty_and_reads_back),
		cmocka_unit_test(test_char16_refuses_surrogates_and_bad_text),
		cmocka_unit_test(test_string_unicode_round_trips),
		cmocka_unit_test(test_string_empty_and_null_are_distinct),
		cmocka_unit_test(test_string_refuses_invalid_utf8_and_embedded_nul),
		cmocka_unit_test(test_datetime_construct_validates_fields),
		cmocka_unit_test(test_datetime_from_text_dmtf_and_xs_forms),
		cmocka_unit_test(test_datetime_text_falls_back_to_xs_where_dmtf_cannot_say_it),
		cmocka_unit_test(test_datetime_from_text_reports_the_matching_form_error),
		cmocka_unit_test(test_array_append_and_read_back),
		cmocka_unit_test(test_array_append_refuses_wrong_type_and_null_elements),
		cmocka_unit_test(test_array_empty_and_null_are_distinct),
		cmocka_unit_test(test_array_equality_is_element_by_element_in_order),
		cmocka_unit_test(test_array_text_quotes_and_escapes_strings),
		cmocka_unit_test(test_reference_value_holds_a_deep_copy),
		cmocka_unit_test(test_instance_value_holds_a_deep_copy),
		cmocka_unit_test(test_dup_is_deep_and_equal_for_every_kind),
		cmocka_unit_test(test_equality_needs_same_type_and_nullness),
		cmocka_unit_test(test_bad_arguments_are_reported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
