/* JSON forms of values, references and instances, read back with jansson. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "remsess/remsess.h"
#include "value_internal.h"

#define assert_error(expr, code, part)                                                             \
	do {                                                                                       \
		int rc_ = (expr);                                                                  \
		assert_int_equal(rc_, (code));                                                     \
		const char *m_ = rms_error_message(rms_error_last());                              \
		assert_non_null(m_);                                                               \
		if (!strstr(m_, (part)))                                                           \
			fail_msg("message \"%s\" does not mention \"%s\"", m_, (part));            \
	} while (0)

/* Parse one line of JSON output, checking it is one line. */
static json_t *parse(const char *text)
{
	assert_non_null(text);
	assert_null(strchr(text, '\n'));
	assert_null(strchr(text, '\r'));
	json_error_t err;
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	if (!j)
		fail_msg("output is not JSON (%s): %s", err.text, text);
	return j;
}

/* JSON of v, parsed; v is freed. */
static json_t *value_json(rms_value *v)
{
	char *out = NULL;
	assert_int_equal(rms_value_to_json(&out, v), 0);
	json_t *j = parse(out);
	rms_free(out);
	rms_value_free(v);
	return j;
}

static json_t *instance_json(const rms_instance *inst, char **raw)
{
	char *out = NULL;
	assert_int_equal(rms_instance_to_json(&out, inst), 0);
	json_t *j = parse(out);
	if (raw)
		*raw = out;
	else
		rms_free(out);
	return j;
}

static rms_value *str(const char *s)
{
	rms_value *v;
	assert_int_equal(rms_value_new_string(&v, s), 0);
	return v;
}

static rms_value *dt(const char *text)
{
	rms_value *v;
	assert_int_equal(rms_value_from_text(&v, RMS_TYPE_DATETIME, text), 0);
	return v;
}

static void assert_json_string(json_t *j, const char *want)
{
	assert_true(json_is_string(j));
	assert_string_equal(json_string_value(j), want);
}

/* ---- scalars ------------------------------------------------------------- */

static void test_integers_are_numbers_and_big_uint64_a_string(void **state)
{
	(void)state;
	rms_value *v;
	assert_int_equal(rms_value_new_uint64(&v, UINT64_MAX), 0);
	json_t *j = value_json(v);
	assert_json_string(j, "18446744073709551615");
	json_decref(j);

	assert_int_equal(rms_value_new_uint64(&v, (uint64_t)INT64_MAX), 0);
	j = value_json(v);
	assert_true(json_is_integer(j));
	assert_true(json_integer_value(j) == INT64_MAX);
	json_decref(j);

	assert_int_equal(rms_value_new_uint64(&v, (uint64_t)INT64_MAX + 1), 0);
	j = value_json(v);
	assert_json_string(j, "9223372036854775808");
	json_decref(j);

	assert_int_equal(rms_value_new_sint64(&v, INT64_MIN), 0);
	j = value_json(v);
	assert_true(json_is_integer(j));
	assert_true(json_integer_value(j) == INT64_MIN);
	json_decref(j);

	assert_int_equal(rms_value_new_sint8(&v, -128), 0);
	j = value_json(v);
	assert_true(json_is_integer(j));
	assert_int_equal(json_integer_value(j), -128);
	json_decref(j);

	assert_int_equal(rms_value_new_uint32(&v, UINT32_MAX), 0);
	j = value_json(v);
	assert_true(json_integer_value(j) == UINT32_MAX);
	json_decref(j);
}

static void test_booleans_and_nulls(void **state)
{
	(void)state;
	rms_value *v;
	assert_int_equal(rms_value_new_boolean(&v, true), 0);
	json_t *j = value_json(v);
	assert_true(json_is_true(j));
	json_decref(j);
	assert_int_equal(rms_value_new_boolean(&v, false), 0);
	j = value_json(v);
	assert_true(json_is_false(j));
	json_decref(j);
	assert_int_equal(rms_value_new_null(&v, RMS_TYPE_STRING), 0);
	char *out;
	assert_int_equal(rms_value_to_json(&out, v), 0);
	assert_string_equal(out, "null");
	rms_free(out);
	rms_value_free(v);
}

static void test_reals_round_trip_and_specials_are_strings(void **state)
{
	(void)state;
	const double cases[] = { 0.1, 1e-310, DBL_MAX, -2.5, 1.0 / 3.0, 1.0, -0.0 };
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rms_value *v;
		assert_int_equal(rms_value_new_real64(&v, cases[i]), 0);
		json_t *j = value_json(v);
		assert_true(json_is_real(j)); /* 1.0 stays a real, not an integer */
		assert_true(json_real_value(j) == cases[i]);
		json_decref(j);
	}
	const struct {
		double d;
		const char *s;
	} specials[] = { { NAN, "NaN" }, { INFINITY, "INF" }, { -INFINITY, "-INF" } };
	for (size_t i = 0; i < 3; i++) {
		rms_value *v;
		assert_int_equal(rms_value_new_real64(&v, specials[i].d), 0);
		json_t *j = value_json(v);
		assert_json_string(j, specials[i].s);
		json_decref(j);
		assert_int_equal(rms_value_new_real32(&v, (float)specials[i].d), 0);
		j = value_json(v);
		assert_json_string(j, specials[i].s);
		json_decref(j);
	}
}

static void test_real32_is_written_as_its_shortest_decimal(void **state)
{
	(void)state;
	rms_value *v;
	assert_int_equal(rms_value_new_real32(&v, 0.1f), 0);
	json_t *j = value_json(v);
	assert_true(json_is_real(j));
	assert_true(json_real_value(j) == 0.1); /* not 0.10000000149011612 */
	assert_true((float)json_real_value(j) == 0.1f);
	json_decref(j);
	assert_int_equal(rms_value_new_real32(&v, FLT_MAX), 0);
	j = value_json(v);
	assert_true((float)json_real_value(j) == FLT_MAX);
	json_decref(j);

	/* The written text, not just the in-memory number, is the shortest. */
	static const struct {
		double d;
		bool real32;
		const char *text;
	} cases[] = {
		{ 0.1, false, "0.1" },   { 0.1, true, "0.1" },  { 100.0, false, "100.0" },
		{ 1500.0, false, "1500.0" }, { 2.5, true, "2.5" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *out = NULL;
		if (cases[i].real32)
			assert_int_equal(rms_value_new_real32(&v, (float)cases[i].d), 0);
		else
			assert_int_equal(rms_value_new_real64(&v, cases[i].d), 0);
		assert_int_equal(rms_value_to_json(&out, v), 0);
		assert_string_equal(out, cases[i].text);
		rms_free(out);
		rms_value_free(v);
	}
	/* Several reals in one object: each still reads back exactly. */
	rms_instance *inst;
	assert_int_equal(rms_instance_new(&inst, NULL, "X"), 0);
	assert_int_equal(rms_value_new_real64(&v, 0.1), 0);
	assert_int_equal(rms_instance_set(inst, "A", v, 0), 0);
	assert_int_equal(rms_value_new_real64(&v, 1.0 / 3.0), 0);
	assert_int_equal(rms_instance_set(inst, "B", v, 0), 0);
	char *out = NULL;
	assert_int_equal(rms_instance_to_json(&out, inst), 0);
	j = parse(out);
	json_t *props = json_object_get(j, "properties");
	assert_true(json_real_value(json_object_get(props, "A")) == 0.1);
	assert_true(json_real_value(json_object_get(props, "B")) == 1.0 / 3.0);
	json_decref(j);
	rms_free(out);
	rms_instance_free(inst);
}

static void test_strings_and_char16_stay_utf8_on_one_line(void **state)
{
	(void)state;
	const char *s = "line1\nline2 \"q\" \\ \xE2\x82\xAC \xF0\x9F\x98\x80\t";
	char *out = NULL;
	rms_value *v = str(s);
	assert_int_equal(rms_value_to_json(&out, v), 0);
	rms_value_free(v);
	/* UTF-8 is written as is, not as \u escapes */
	assert_non_null(strstr(out, "\xE2\x82\xAC"));
	json_t *j = parse(out);
	assert_json_string(j, s);
	json_decref(j);
	rms_free(out);

	assert_int_equal(rms_value_new_char16(&v, 0x20AC), 0);
	j = value_json(v);
	assert_json_string(j, "\xE2\x82\xAC");
	json_decref(j);

	assert_int_equal(rms_value_new_char16(&v, 0), 0);
	j = value_json(v);
	assert_true(json_is_string(j));
	assert_int_equal(json_string_length(j), 1);
	assert_int_equal(json_string_value(j)[0], '\0');
	json_decref(j);

	j = value_json(str(""));
	assert_json_string(j, "");
	json_decref(j);
}

static void test_datetimes_are_xs_strings_or_dmtf_with_wildcards(void **state)
{
	(void)state;
	json_t *j = value_json(dt("20140403144550.468750+480"));
	assert_json_string(j, "2014-04-03T14:45:50.468750+08:00");
	json_decref(j);
	j = value_json(dt("2014-04-03T14:45:50.46875Z"));
	assert_json_string(j, "2014-04-03T14:45:50.46875Z");
	json_decref(j);
	j = value_json(dt("2014-04-03T14:45:50"));
	assert_json_string(j, "2014-04-03T14:45:50");
	json_decref(j);
	j = value_json(dt("00000001020304.500000:000"));
	assert_json_string(j, "P1DT2H3M4.500000S");
	json_decref(j);
	j = value_json(dt("2014****144550.******+***"));
	assert_json_string(j, "2014****144550.******+***");
	json_decref(j);
	/* +900 minutes is valid DMTF but beyond xs:dateTime's +14:00 */
	j = value_json(dt("20140403144550.000000+900"));
	assert_json_string(j, "20140403144550.000000+900");
	json_decref(j);
}

/* ---- arrays -------------------------------------------------------------- */

static void test_arrays_are_arrays_and_null_array_is_null(void **state)
{
	(void)state;
	rms_value *a, *e;
	assert_int_equal(rms_value_new_array(&a, RMS_TYPE_UINT64), 0);
	assert_int_equal(rms_value_new_uint64(&e, 1), 0);
	assert_int_equal(rms_value_array_append(a, e), 0);
	assert_int_equal(rms_value_new_uint64(&e, UINT64_MAX), 0);
	assert_int_equal(rms_value_array_append(a, e), 0);
	json_t *j = value_json(a);
	assert_true(json_is_array(j));
	assert_int_equal(json_array_size(j), 2);
	assert_int_equal(json_integer_value(json_array_get(j, 0)), 1);
	assert_json_string(json_array_get(j, 1), "18446744073709551615");
	json_decref(j);

	assert_int_equal(rms_value_new_array(&a, RMS_TYPE_STRING), 0);
	char *out;
	assert_int_equal(rms_value_to_json(&out, a), 0);
	assert_string_equal(out, "[]");
	rms_free(out);
	rms_value_free(a);
	assert_int_equal(rms_value_new_null(&a, RMS_TYPE_STRING | RMS_TYPE_ARRAY), 0);
	j = value_json(a);
	assert_true(json_is_null(j));
	json_decref(j);
}

/* ---- references ------------------------------------------------------------ */

static void test_reference_object_with_selectors_in_order(void **state)
{
	(void)state;
	rms_ref *g, *r;
	assert_int_equal(rms_ref_new(&g, "root/cimv2", "Win32_Group"), 0);
	assert_int_equal(rms_ref_add_selector(g, "Name", "Admins"), 0);
	assert_int_equal(rms_ref_add_selector(g, "Domain", "HOST"), 0);
	assert_int_equal(rms_ref_new(&r, "root/cimv2", "Win32_GroupUser"), 0);
	assert_int_equal(rms_ref_add_selector_ref(r, "GroupComponent", g), 0);
	assert_int_equal(rms_ref_add_selector(r, "Zeta", "z"), 0);
	assert_int_equal(rms_ref_add_selector(r, "Alpha", "a"), 0);
	rms_value *v;
	assert_int_equal(rms_value_new_reference(&v, r), 0);
	json_t *j = value_json(v);
	assert_true(json_is_object(j));
	assert_json_string(json_object_get(j, "class"), "Win32_GroupUser");
	assert_json_string(json_object_get(j, "namespace"), "root/cimv2");
	assert_null(json_object_get(j, "address"));
	assert_null(json_object_get(j, "resource_uri"));
	json_t *sel = json_object_get(j, "selectors");
	assert_true(json_is_object(sel));
	assert_int_equal(json_object_size(sel), 3);
	/* insertion order */
	const char *want[] = { "GroupComponent", "Zeta", "Alpha" };
	size_t i = 0;
	for (void *it = json_object_iter(sel); it; it = json_object_iter_next(sel, it))
		assert_string_equal(json_object_iter_key(it), want[i++]);
	json_t *nested = json_object_get(sel, "GroupComponent");
	assert_json_string(json_object_get(nested, "class"), "Win32_Group");
	assert_json_string(json_object_get(json_object_get(nested, "selectors"), "Domain"),
	                   "HOST");
	json_decref(j);

	/* address and resource URI appear when known; an unknown namespace is null */
	rms_ref *k;
	assert_int_equal(rms_ref_new(&k, NULL, "Win32_Service"), 0);
	assert_int_equal(rms_ref_set_address(k, "http://h:5985/wsman"), 0);
	assert_int_equal(rms_ref_set_resource_uri(k, "http://schemas.microsoft.com/wbem/wsman/1/"
	                                             "wmi/root/cimv2/Win32_Service"),
	                 0);
	assert_int_equal(rms_value_new_reference(&v, k), 0);
	j = value_json(v);
	assert_true(json_is_null(json_object_get(j, "namespace")));
	assert_json_string(json_object_get(j, "address"), "http://h:5985/wsman");
	assert_non_null(strstr(json_string_value(json_object_get(j, "resource_uri")), "/wmi/"));
	assert_int_equal(json_object_size(json_object_get(j, "selectors")), 0);
	json_decref(j);
	rms_ref_free(k);
	rms_ref_free(g);
	rms_ref_free(r);
}

/* ---- instances ------------------------------------------------------------- */

static void test_instance_object_keeps_property_order_and_nests(void **state)
{
	(void)state;
	rms_instance *inner, *inst;
	assert_int_equal(rms_instance_new(&inner, NULL, "MSFT_Inner"), 0);
	assert_int_equal(rms_instance_set(inner, "Note", str("hi"), 0), 0);
	assert_int_equal(rms_instance_new(&inst, "root/cimv2", "Win32_Service"), 0);
	assert_int_equal(rms_instance_set(inst, "Name", str("WinRM"), RMS_PROP_KEY), 0);
	rms_value *v;
	assert_int_equal(rms_value_new_uint32(&v, 1234), 0);
	assert_int_equal(rms_instance_set(inst, "ProcessId", v, 0), 0);
	assert_int_equal(rms_value_new_null(&v, RMS_TYPE_STRING), 0);
	assert_int_equal(rms_instance_set(inst, "Description", v, 0), 0);
	assert_int_equal(rms_instance_set(inst, "Started", dt("2014-04-03T14:45:50Z"), 0), 0);
	assert_int_equal(rms_value_new_instance(&v, inner), 0);
	assert_int_equal(rms_instance_set(inst, "Embedded", v, 0), 0);
	rms_value *arr;
	assert_int_equal(rms_value_new_array(&arr, RMS_TYPE_INSTANCE), 0);
	assert_int_equal(rms_value_new_instance(&v, inner), 0);
	assert_int_equal(rms_value_array_append(arr, v), 0);
	assert_int_equal(rms_instance_set(inst, "List", arr, 0), 0);
	assert_int_equal(rms_value_new_array(&arr, RMS_TYPE_STRING), 0);
	assert_int_equal(rms_instance_set(inst, "EmptyList", arr, 0), 0);

	char *raw;
	json_t *j = instance_json(inst, &raw);
	/* the documented head of the object, byte for byte */
	assert_true(strncmp(raw, "{\"class\":\"Win32_Service\",\"namespace\":\"root/cimv2\","
	                         "\"properties\":{\"Name\":\"WinRM\",\"ProcessId\":1234,",
	                    strlen("{\"class\":\"Win32_Service\",\"namespace\":\"root/cimv2\","
	                           "\"properties\":{\"Name\":\"WinRM\",\"ProcessId\":1234,")) == 0);
	rms_free(raw);
	assert_null(json_object_get(j, "ref"));
	json_t *props = json_object_get(j, "properties");
	const char *want[] = { "Name",     "ProcessId", "Description", "Started",
		               "Embedded", "List",      "EmptyList" };
	size_t i = 0;
	for (void *it = json_object_iter(props); it; it = json_object_iter_next(props, it))
		assert_string_equal(json_object_iter_key(it), want[i++]);
	assert_int_equal(i, 7);
	assert_true(json_is_null(json_object_get(props, "Description")));
	assert_json_string(json_object_get(props, "Started"), "2014-04-03T14:45:50Z");
	json_t *emb = json_object_get(props, "Embedded");
	assert_json_string(json_object_get(emb, "class"), "MSFT_Inner");
	assert_true(json_is_null(json_object_get(emb, "namespace")));
	assert_json_string(json_object_get(json_object_get(emb, "properties"), "Note"), "hi");
	json_t *list = json_object_get(props, "List");
	assert_int_equal(json_array_size(list), 1);
	assert_json_string(json_object_get(json_array_get(list, 0), "class"), "MSFT_Inner");
	assert_true(json_is_array(json_object_get(props, "EmptyList")));
	assert_int_equal(json_array_size(json_object_get(props, "EmptyList")), 0);
	json_decref(j);

	/* "ref" appears once the instance has one */
	rms_ref *r;
	assert_int_equal(rms_ref_new(&r, "root/cimv2", "Win32_Service"), 0);
	assert_int_equal(rms_ref_add_selector(r, "Name", "WinRM"), 0);
	assert_int_equal(rms_instance_set_ref(inst, r), 0);
	j = instance_json(inst, NULL);
	json_t *ref = json_object_get(j, "ref");
	assert_json_string(json_object_get(ref, "class"), "Win32_Service");
	assert_json_string(json_object_get(json_object_get(ref, "selectors"), "Name"), "WinRM");
	json_decref(j);
	rms_ref_free(r);
	rms_instance_free(inner);
	rms_instance_free(inst);
}

static void test_internal_builders_embed_in_larger_objects(void **state)
{
	(void)state;
	rms_instance *inst;
	assert_int_equal(rms_instance_new(&inst, NULL, "C"), 0);
	assert_int_equal(rms_instance_set(inst, "P", str("x"), 0), 0);
	json_t *record = json_object();
	json_object_set_new(record, "instance", rms__instance_json(inst));
	rms_value *v = str("y");
	json_object_set_new(record, "value", rms__value_json(v));
	char *out = rms__json_dump(record);
	assert_string_equal(out, "{\"instance\":{\"class\":\"C\",\"namespace\":null,"
	                         "\"properties\":{\"P\":\"x\"}},\"value\":\"y\"}");
	rms_free(out);
	json_decref(record);
	assert_null(rms__value_json(NULL));
	assert_null(rms__instance_json(NULL));
	rms_value_free(v);
	rms_instance_free(inst);
}

static void test_json_bad_arguments(void **state)
{
	(void)state;
	char *out = (char *)"untouched";
	assert_error(rms_value_to_json(&out, NULL), RMS_E_INVALID_ARG, "NULL");
	assert_null(out);
	assert_error(rms_instance_to_json(&out, NULL), RMS_E_INVALID_ARG, "NULL");
	assert_error(rms_value_to_json(NULL, NULL), RMS_E_INVALID_ARG, "out is NULL");
	assert_error(rms_instance_to_json(NULL, NULL), RMS_E_INVALID_ARG, "out is NULL");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integers_are_numbers_and_big_uint64_a_string),
		cmocka_unit_test(test_booleans_and_nulls),
		cmocka_unit_test(test_reals_round_trip_and_specials_are_strings),
		cmocka_unit_test(test_real32_is_written_as_its_shortest_decimal),
		cmocka_unit_test(test_strings_and_char16_stay_utf8_on_one_line),
		cmocka_unit_test(test_datetimes_are_xs_strings_or_dmtf_with_wildcards),
		cmocka_unit_test(test_arrays_are_arrays_and_null_array_is_null),
		cmocka_unit_test(test_reference_object_with_selectors_in_order),
		cmocka_unit_test(test_instance_object_keeps_property_order_and_nests),
		cmocka_unit_test(test_internal_builders_embed_in_larger_objects),
		cmocka_unit_test(test_json_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
