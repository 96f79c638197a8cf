/*
 * CIM datetimes: DMTF and XML Schema forms, validation, equality.
 *
 * Sample values seen from Windows: "2014-04-03T14:45:50.46875+08:00" (a
 * cim:Datetime from Win32_OperatingSystem over WinRM), "P0DT0H1M40S" (a
 * cim:Interval), "19990929195959.000000-420" (DSP0004's example shape) and
 * "20231010******.******+000" (a wildcarded CIM_DateTime).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "datetime_internal.h"
#include "remsess/error.h"
#include "remsess/value.h"

/* The call failed with code and the last error's message contains needle. */
static void check_error(int rc, int code, const char *needle)
{
	assert_int_equal(rc, code);
	const char *msg = rms_error_message(rms_error_last());
	assert_non_null(msg);
	if (!strstr(msg, needle))
		fail_msg("message \"%s\" does not mention \"%s\"", msg, needle);
}

static rms_datetime dmtf(const char *text)
{
	rms_datetime dt;
	int rc = rms_datetime_parse_dmtf(&dt, text);
	if (rc != 0)
		fail_msg("parse_dmtf(\"%s\") = %d: %s", text, rc,
		         rms_error_message(rms_error_last()));
	return dt;
}

static rms_datetime xs(const char *text)
{
	rms_datetime dt;
	int rc = rms_datetime_parse_xs(&dt, text);
	if (rc != 0)
		fail_msg("parse_xs(\"%s\") = %d: %s", text, rc,
		         rms_error_message(rms_error_last()));
	return dt;
}

static void assert_dmtf_prints(const rms_datetime *dt, const char *expected)
{
	char buf[26];
	int rc = rms_datetime_format_dmtf(dt, buf, sizeof buf);
	if (rc != 0)
		fail_msg("format_dmtf for \"%s\" = %d: %s", expected, rc,
		         rms_error_message(rms_error_last()));
	assert_string_equal(buf, expected);
}

static void assert_xs_prints(const rms_datetime *dt, const char *expected)
{
	char buf[RMS_DATETIME_XS_MAX];
	int rc = rms_datetime_format_xs(dt, buf, sizeof buf);
	if (rc != 0)
		fail_msg("format_xs for \"%s\" = %d: %s", expected, rc,
		         rms_error_message(rms_error_last()));
	assert_string_equal(buf, expected);
}

/* ---- DMTF round trips -------------------------------------------------- */

static void test_dmtf_round_trips_exactly(void **state)
{
	(void)state;
	static const char *const texts[] = {
		"19990929195959.000000-420", /* negative offset */
		"20140403144550.468750+480", /* positive offset, microseconds */
		"20231010101010.000000+000", /* zero offset */
		"20240229000000.000000+000", /* leap day */
		"20161231235960.999999+000", /* leap second */
		"00000101000000.000000+000", /* first year */
		"99991231235959.999999-999", /* extremes */
		"20231010******.******+000", /* wildcard time */
		"********000000.000000+***", /* wildcard date and offset */
		"20231010101010.123***+060", /* partial microseconds */
		"20231010101010.12345*-060",
		"20231010101010.******+060",
		"****02**101010.000000+000",
		"00000001000000.000000:000", /* intervals */
		"00000000000140.000000:000",
		"99999999235959.999999:000",
		"********12****.******:000",
		"00000000000000.5*****:000",
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		rms_datetime dt = dmtf(texts[i]);
		assert_dmtf_prints(&dt, texts[i]);
	}
}

static void test_parse_dmtf_timestamp_fields(void **state)
{
	(void)state;
	rms_datetime dt = dmtf("19990929195959.123456-420");
	assert_false(dt.is_interval);
	assert_int_equal(dt.year, 1999);
	assert_int_equal(dt.month, 9);
	assert_int_equal(dt.day, 29);
	assert_int_equal(dt.hour, 19);
	assert_int_equal(dt.minute, 59);
	assert_int_equal(dt.second, 59);
	assert_int_equal(dt.nanoseconds, 123456000);
	assert_int_equal(dt.frac_digits, 6);
	assert_int_equal(dt.utc_offset, -420);
	assert_int_equal(dt.tz_form, RMS_TZ_OFFSET);
	assert_int_equal(dt.wildcards, 0);
}

static void test_parse_dmtf_interval_fields(void **state)
{
	(void)state;
	rms_datetime dt = dmtf("12345678010203.040000:000");
	assert_true(dt.is_interval);
	assert_int_equal(dt.days, 12345678);
	assert_int_equal(dt.hour, 1);
	assert_int_equal(dt.minute, 2);
	assert_int_equal(dt.second, 3);
	assert_int_equal(dt.nanoseconds, 40000000);
	assert_int_equal(dt.wildcards, 0);
}

static void test_parse_dmtf_wildcards_set_bits_and_zero_fields(void **state)
{
	(void)state;
	rms_datetime dt = dmtf("20231010******.******+000");
	assert_int_equal(dt.wildcards, RMS_DT_WILD_HOUR | RMS_DT_WILD_MINUTE |
	                                       RMS_DT_WILD_SECOND | RMS_DT_WILD_MICROSECOND);
	assert_int_equal(dt.hour, 0);
	assert_int_equal(dt.minute, 0);
	assert_int_equal(dt.second, 0);
	assert_int_equal(dt.frac_digits, 0);
	assert_int_equal(dt.day, 10);

	dt = dmtf("**************.******+***");
	assert_int_equal(dt.wildcards, RMS_DT_WILD_YEAR | RMS_DT_WILD_MONTH | RMS_DT_WILD_DAY |
	                                       RMS_DT_WILD_HOUR | RMS_DT_WILD_MINUTE |
	                                       RMS_DT_WILD_SECOND | RMS_DT_WILD_MICROSECOND |
	                                       RMS_DT_WILD_OFFSET);
}

static void test_parse_dmtf_partial_microseconds(void **state)
{
	(void)state;
	rms_datetime dt = dmtf("20231010101010.123***+060");
	assert_int_equal(dt.frac_digits, 3);
	assert_int_equal(dt.nanoseconds, 123000000);
	assert_int_equal(dt.wildcards, RMS_DT_WILD_MICROSECOND);

	dt = dmtf("20231010101010.123000+060");
	assert_int_equal(dt.frac_digits, 6);
	assert_int_equal(dt.wildcards, 0);
}

static void test_parse_dmtf_all_wild_offset(void **state)
{
	(void)state;
	rms_datetime dt = dmtf("20231010101010.000000+***");
	assert_int_equal(dt.wildcards, RMS_DT_WILD_OFFSET);
	assert_int_equal(dt.utc_offset, 0);
}

static void test_parse_dmtf_leap_day_only_in_leap_years(void **state)
{
	(void)state;
	rms_datetime dt = dmtf("20240229120000.000000+000");
	assert_int_equal(dt.day, 29);
	dt = dmtf("20000229120000.000000+000"); /* divisible by 400 */
	check_error(rms_datetime_parse_dmtf(&dt, "20230229120000.000000+000"), RMS_E_RANGE,
	            "day 29");
	check_error(rms_datetime_parse_dmtf(&dt, "19000229120000.000000+000"), RMS_E_RANGE,
	            "day 29");
	check_error(rms_datetime_parse_dmtf(&dt, "20230431120000.000000+000"), RMS_E_RANGE,
	            "day 31");
	/* Unknown year: 29 February may exist. */
	dt = dmtf("****0229120000.000000+000");
	check_error(rms_datetime_parse_dmtf(&dt, "****0230120000.000000+000"), RMS_E_RANGE,
	            "day 30");
}

/* ---- DMTF rejections --------------------------------------------------- */

static void test_parse_dmtf_rejects_wrong_length(void **state)
{
	(void)state;
	rms_datetime dt;
	check_error(rms_datetime_parse_dmtf(&dt, "20231010101010.000000+00"), RMS_E_PARSE,
	            "24 characters");
	check_error(rms_datetime_parse_dmtf(&dt, ""), RMS_E_PARSE, "0 characters");
	check_error(rms_datetime_parse_dmtf(&dt, "2023-10-10T10:10:10Z"), RMS_E_PARSE,
	            "2023-10-10T10:10:10Z");
}

static void test_parse_dmtf_rejects_four_digit_offset(void **state)
{
	(void)state;
	rms_datetime dt;
	check_error(rms_datetime_parse_dmtf(&dt, "20231010101010.000000+1000"), RMS_E_PARSE,
	            "26 characters");
}

static void test_parse_dmtf_rejects_letters(void **state)
{
	(void)state;
	rms_datetime dt;
	check_error(rms_datetime_parse_dmtf(&dt, "2023101a101010.000000+000"), RMS_E_PARSE,
	            "day \"1a\"");
	check_error(rms_datetime_parse_dmtf(&dt, "x0231010101010.000000+000"), RMS_E_PARSE,
	            "year");
	check_error(rms_datetime_parse_dmtf(&dt, "20231010101010.00000a+000"), RMS_E_PARSE,
	            "microseconds");
	check_error(rms_datetime_parse_dmtf(&dt, "20231010101010.000000+0a0"), RMS_E_PARSE,
	            "UTC offset \"+0a0\"");
	check_error(rms_datetime_parse_dmtf(&dt, "0000000a000000.000000:000"), RMS_E_PARSE,
	            "interval days");
}

static void test_parse_dmtf_rejects_partial_star_fields(void **state)
{
	(void)state;
	rms_datetime dt;
	check_error(rms_datetime_parse_dmtf(&dt, "20**1010101010.000000+000"), RMS_E_PARSE,
	            "year \"20**\"");
	check_error(rms_datetime_parse_dmtf(&dt, "20231010101*10.000000+000"), RMS_E_PARSE,
	            "minute");
	check_error(rms_datetime_parse_dmtf(&dt, "20231010101010.000000+*00"), RMS_E_PARSE,
	            "UTC offset");
}

static void test_parse_dmtf_rejects_microsecond_stars_not_from_right(void **state)
{
	(void)state;
	rms_datetime dt;
	check_error(rms_datetime_parse_dmtf(&dt, "20231010101010.1*3***+000"), RMS_E_PARSE,
	            "microseconds \"1*3***\"");
	check_error(rms_datetime_parse_dmtf(&dt, "20231010101010.*12345+000"), RMS_E_PARSE,
	            "from the right");
}

static void test_parse_dmtf_rejects_bad_separators(void **state)
{
	(void)state;
	rms_datetime dt;
	check_error(rms_datetime_parse_dmtf(&dt, "20231010101010,000000+000"), RMS_E_PARSE,
	            "'.'");
	check_error(rms_datetime_parse_dmtf(&dt, "20231010101010.000000*000"), RMS_E_PARSE,
	            "position 22");
	check_error(rms_datetime_parse_dmtf(&dt, "00000001000000.000000:001"), RMS_E_PARSE,
	            "\":000\"");
	check_error(rms_datetime_parse_dmtf(&dt, "00000001000000.000000:***"), RMS_E_PARSE,
	            "\":000\"");
}

static void test_parse_dmtf_rejects_month_13(void **state)
{
	(void)state;
	rms_datetime dt;
	check_error(rms_datetime_parse_dmtf(&dt, "20231310101010.000000+000"), RMS_E_RANGE,
	            "month 13");
	check_error(rms_datetime_parse_dmtf(&dt, "20230010101010.000000+000"), RMS_E_RANGE,
	            "month 0");
	/* The message quotes the input. */
	check_error(rms_datetime_parse_dmtf(&dt, "20231310101010.000000+000"), RMS_E_RANGE,
	            "\"20231310101010.000000+000\"");
}

static void test_parse_dmtf_rejects_out_of_range_fields(void **state)
{
	(void)state;
	rms_datetime dt;
	check_error(rms_datetime_parse_dmtf(&dt, "20231032101010.000000+000"), RMS_E_RANGE,
	            "day 32");
	check_error(rms_datetime_parse_dmtf(&dt, "20231000101010.000000+000"), RMS_E_RANGE,
	            "day 0");
	check_error(rms_datetime_parse_dmtf(&dt, "20231010241010.000000+000"), RMS_E_RANGE,
	            "hour 24");
	check_error(rms_datetime_parse_dmtf(&dt, "20231010106010.000000+000"), RMS_E_RANGE,
	            "minute 60");
	check_error(rms_datetime_parse_dmtf(&dt, "20231010101061.000000+000"), RMS_E_RANGE,
	            "second 61");
	/* A leap second has no place in a length of time. */
	check_error(rms_datetime_parse_dmtf(&dt, "00000001000060.000000:000"), RMS_E_RANGE,
	            "second 60");
	check_error(rms_datetime_parse_dmtf(&dt, "00000001240000.000000:000"), RMS_E_RANGE,
	            "hour 24");
}

static void test_parse_dmtf_failure_leaves_out_untouched(void **state)
{
	(void)state;
	rms_datetime dt = dmtf("20231010101010.000000+000");
	rms_datetime before = dt;
	assert_int_equal(rms_datetime_parse_dmtf(&dt, "20231310101010.000000+000"), RMS_E_RANGE);
	assert_memory_equal(&dt, &before, sizeof dt);
}

static void test_parse_dmtf_quotes_long_input_cut_short(void **state)
{
	(void)state;
	char text[300];
	memset(text, '7', sizeof text - 1);
	text[sizeof text - 1] = '\0';
	rms_datetime dt;
	check_error(rms_datetime_parse_dmtf(&dt, text), RMS_E_PARSE, "299 characters");
	assert_true(strlen(rms_error_message(rms_error_last())) < 300);
}

/* ---- DMTF formatting --------------------------------------------------- */

static void test_format_dmtf_needs_26_bytes(void **state)
{
	(void)state;
	rms_datetime dt = dmtf("19990929195959.000000-420");
	char buf[26];
	memset(buf, 'x', sizeof buf);
	check_error(rms_datetime_format_dmtf(&dt, buf, 25), RMS_E_INVALID_ARG, "too small");
	assert_int_equal(buf[0], 'x');
	assert_int_equal(rms_datetime_format_dmtf(&dt, buf, 26), 0);
	assert_string_equal(buf, "19990929195959.000000-420");
}

static void test_format_dmtf_refuses_zoneless_timestamp(void **state)
{
	(void)state;
	rms_datetime dt = xs("2023-10-10T10:00:00");
	char buf[26];
	check_error(rms_datetime_format_dmtf(&dt, buf, sizeof buf), RMS_E_RANGE, "without a zone");
}

static void test_format_dmtf_refuses_offset_beyond_999(void **state)
{
	(void)state;
	rms_datetime dt = dmtf("20231010101010.000000+999");
	dt.utc_offset = 1000;
	char buf[26];
	check_error(rms_datetime_format_dmtf(&dt, buf, sizeof buf), RMS_E_RANGE,
	            "UTC offset 1000");
	dt.utc_offset = -1000;
	check_error(rms_datetime_format_dmtf(&dt, buf, sizeof buf), RMS_E_RANGE,
	            "UTC offset -1000");
}

static void test_format_dmtf_refuses_invalid_fields(void **state)
{
	(void)state;
	rms_datetime dt = dmtf("20231010101010.000000+000");
	dt.month = 13;
	char buf[26];
	check_error(rms_datetime_format_dmtf(&dt, buf, sizeof buf), RMS_E_RANGE, "month 13");
}

/* ---- xs round trips ---------------------------------------------------- */

static void test_xs_round_trips_exactly(void **state)
{
	(void)state;
	static const char *const texts[] = {
		"2014-04-03T14:45:50.46875+08:00",
		"2023-10-10T10:00:00Z",
		"2023-10-10T10:00:00",
		"2023-10-10T10:00:00+00:00",
		"2023-10-10T10:00:00-05:30",
		"2023-10-10T10:00:00.1Z",
		"2023-10-10T10:00:00.12Z",
		"2023-10-10T10:00:00.123-01:00",
		"2023-10-10T10:00:00.1234+01:00",
		"2023-10-10T10:00:00.12345",
		"2023-10-10T10:00:00.123456Z",
		"2023-10-10T10:00:00.1234567Z",
		"2023-10-10T10:00:00.12345678Z",
		"2023-10-10T10:00:00.123456789Z",
		"2023-10-10T10:00:00.000Z",
		"2024-02-29T12:00:00+14:00",
		"2016-12-31T23:59:60Z",
		"0000-01-01T00:00:00-14:00",
		"9999-12-31T23:59:59.999999999Z",
		"P0DT0H1M40S",
		"P1DT2H3M4.5S",
		"P0DT0H0M0S",
		"P0DT0H0M0.000S",
		"P0DT0H0M0.000000001S",
		"P99999999DT23H59M59.999999999S",
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		rms_datetime dt = xs(texts[i]);
		assert_xs_prints(&dt, texts[i]);
	}
}

static void test_parse_xs_sample_timestamp_fields(void **state)
{
	(void)state;
	rms_datetime dt = xs("2014-04-03T14:45:50.46875+08:00");
	assert_false(dt.is_interval);
	assert_int_equal(dt.year, 2014);
	assert_int_equal(dt.month, 4);
	assert_int_equal(dt.day, 3);
	assert_int_equal(dt.hour, 14);
	assert_int_equal(dt.minute, 45);
	assert_int_equal(dt.second, 50);
	assert_int_equal(dt.nanoseconds, 468750000);
	assert_int_equal(dt.frac_digits, 5);
	assert_int_equal(dt.utc_offset, 480);
	assert_int_equal(dt.tz_form, RMS_TZ_OFFSET);

	dt = xs("2023-10-10T10:00:00Z");
	assert_int_equal(dt.tz_form, RMS_TZ_UTC_Z);
	assert_int_equal(dt.utc_offset, 0);
	dt = xs("2023-10-10T10:00:00");
	assert_int_equal(dt.tz_form, RMS_TZ_NONE);
	dt = xs("2023-10-10T10:00:00-05:30");
	assert_int_equal(dt.utc_offset, -330);
}

static void test_parse_xs_duration_fields(void **state)
{
	(void)state;
	rms_datetime dt = xs("P0DT0H1M40S");
	assert_true(dt.is_interval);
	assert_int_equal(dt.days, 0);
	assert_int_equal(dt.hour, 0);
	assert_int_equal(dt.minute, 1);
	assert_int_equal(dt.second, 40);
	assert_int_equal(dt.nanoseconds, 0);
	assert_int_equal(dt.frac_digits, 0);

	dt = xs("P1DT2H3M4.5S");
	assert_int_equal(dt.days, 1);
	assert_int_equal(dt.hour, 2);
	assert_int_equal(dt.minute, 3);
	assert_int_equal(dt.second, 4);
	assert_int_equal(dt.nanoseconds, 500000000);
	assert_int_equal(dt.frac_digits, 1);
}

static void test_parse_xs_duration_normalises_components(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"PT100S", "P0DT0H1M40S"},
		{"PT90M", "P0DT1H30M0S"},
		{"PT25H", "P1DT1H0M0S"},
		{"P1D", "P1DT0H0M0S"},
		{"PT0.5S", "P0DT0H0M0.5S"},
		{"PT36H61M3661.25S", "P1DT14H2M1.25S"},
		{"P0Y0M1DT1S", "P1DT0H0M1S"},
		{"PT8639999999999S", "P99999999DT23H59M59S"},
		{"P00000000000000000000001D", "P1DT0H0M0S"},
		{"PT60.0000000000S", "P0DT0H1M0.000000000S"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rms_datetime dt = xs(cases[i].in);
		assert_xs_prints(&dt, cases[i].out);
	}
	rms_datetime a = xs("PT100S"), b = xs("P0DT0H1M40S");
	assert_true(rms_datetime_equal(&a, &b));
}

static void test_parse_xs_accepts_zero_padding_beyond_nanoseconds(void **state)
{
	(void)state;
	rms_datetime dt = xs("2023-10-10T10:00:00.1234567890Z");
	assert_int_equal(dt.nanoseconds, 123456789);
	assert_int_equal(dt.frac_digits, 9);
	assert_xs_prints(&dt, "2023-10-10T10:00:00.123456789Z");
}

/* ---- xs rejections ----------------------------------------------------- */

static void test_parse_xs_rejects_years_and_months(void **state)
{
	(void)state;
	rms_datetime dt;
	check_error(rms_datetime_parse_xs(&dt, "P1Y"), RMS_E_RANGE, "years and months");
	check_error(rms_datetime_parse_xs(&dt, "P2M"), RMS_E_RANGE, "\"2M\"");
	check_error(rms_datetime_parse_xs(&dt, "P1Y2M3DT4H"), RMS_E_RANGE, "no fixed length");
}

static void test_parse_xs_rejects_negative_duration(void **state)
{
	(void)state;
	rms_datetime dt;
	check_error(rms_datetime_parse_xs(&dt, "-P1D"), RMS_E_RANGE, "cannot be negative");
	check_error(rms_datetime_parse_xs(&dt, "-PT0S"), RMS_E_RANGE, "cannot be negative");
}

static void test_parse_xs_rejects_empty_duration(void **state)
{
	(void)state;
	rms_datetime dt;
	check_error(rms_datetime_parse_xs(&dt, "P"), RMS_E_PARSE, "at least one");
	check_error(rms_datetime_parse_xs(&dt, "PT"), RMS_E_PARSE, "'T' must be followed");
	check_error(rms_datetime_parse_xs(&dt, "P1DT"), RMS_E_PARSE, "'T' must be followed");
}

static void test_parse_xs_rejects_malformed_duration(void **state)
{
	(void)state;
	rms_datetime dt;
	check_error(rms_datetime_parse_xs(&dt, "P1H"), RMS_E_PARSE, "unexpected \"1H\"");
	check_error(rms_datetime_parse_xs(&dt, "PT1S2M"), RMS_E_PARSE, "in that order");
	check_error(rms_datetime_parse_xs(&dt, "PT1M1M"), RMS_E_PARSE, "each part once");
	check_error(rms_datetime_parse_xs(&dt, "P1D2D"), RMS_E_PARSE, "unexpected \"2D\"");
	check_error(rms_datetime_parse_xs(&dt, "PT1.5M"), RMS_E_PARSE, "only seconds");
	check_error(rms_datetime_parse_xs(&dt, "P1.5D"), RMS_E_PARSE, "only seconds");
	check_error(rms_datetime_parse_xs(&dt, "PTS"), RMS_E_PARSE, "expected a number");
	check_error(rms_datetime_parse_xs(&dt, "PT5"), RMS_E_PARSE, "no unit letter");
	check_error(rms_datetime_parse_xs(&dt, "PT1.S"), RMS_E_PARSE, "digits of a fraction");
	check_error(rms_datetime_parse_xs(&dt, "PT1TS"), RMS_E_PARSE, "unexpected \"1T\"");
	check_error(rms_datetime_parse_xs(&dt, "P1DT1H "), RMS_E_PARSE, "expected a number");
}

static void test_parse_xs_rejects_too_long_duration(void **state)
{
	(void)state;
	rms_datetime dt;
	check_error(rms_datetime_parse_xs(&dt, "P100000000D"), RMS_E_RANGE,
	            "100000000 days exceed");
	check_error(rms_datetime_parse_xs(&dt, "PT8640000000000S"), RMS_E_RANGE,
	            "longest CIM interval");
	check_error(rms_datetime_parse_xs(&dt, "P99999999DT24H"), RMS_E_RANGE,
	            "longest CIM interval");
	check_error(rms_datetime_parse_xs(&dt, "PT99999999999999999999999999S"), RMS_E_RANGE,
	            "longest CIM interval");
}

static void test_parse_xs_rejects_fraction_beyond_nanoseconds(void **state)
{
	(void)state;
	rms_datetime dt;
	check_error(rms_datetime_parse_xs(&dt, "2023-10-10T10:00:00.1234567891Z"), RMS_E_RANGE,
	            "more precision than nanoseconds");
	check_error(rms_datetime_parse_xs(&dt, "PT1.0000000001S"), RMS_E_RANGE,
	            "\".0000000001\"");
}

static void test_parse_xs_rejects_hour_24(void **state)
{
	(void)state;
	rms_datetime dt;
	check_error(rms_datetime_parse_xs(&dt, "2023-10-10T24:00:00Z"), RMS_E_RANGE, "hour 24");
}

static void test_parse_xs_rejects_years_outside_0000_9999(void **state)
{
	(void)state;
	rms_datetime dt;
	check_error(rms_datetime_parse_xs(&dt, "-0001-01-01T00:00:00Z"), RMS_E_RANGE,
	            "year -0001");
	check_error(rms_datetime_parse_xs(&dt, "10000-01-01T00:00:00Z"), RMS_E_RANGE,
	            "year 10000");
	check_error(rms_datetime_parse_xs(&dt, "999-01-01T00:00:00Z"), RMS_E_PARSE,
	            "year is not 4 digits");
}

static void test_parse_xs_rejects_out_of_range_fields(void **state)
{
	(void)state;
	rms_datetime dt;
	check_error(rms_datetime_parse_xs(&dt, "2023-13-01T00:00:00Z"), RMS_E_RANGE, "month 13");
	check_error(rms_datetime_parse_xs(&dt, "2023-02-29T00:00:00Z"), RMS_E_RANGE, "day 29");
	check_error(rms_datetime_parse_xs(&dt, "2023-01-32T00:00:00Z"), RMS_E_RANGE, "day 32");
	check_error(rms_datetime_parse_xs(&dt, "2023-01-01T00:60:00Z"), RMS_E_RANGE, "minute 60");
	check_error(rms_datetime_parse_xs(&dt, "2023-01-01T00:00:61Z"), RMS_E_RANGE, "second 61");
	check_error(rms_datetime_parse_xs(&dt, "2023-01-01T00:00:00+14:01"), RMS_E_RANGE,
	            "UTC offset +14:01");
	check_error(rms_datetime_parse_xs(&dt, "2023-01-01T00:00:00-15:00"), RMS_E_RANGE,
	            "UTC offset -15:00");
	check_error(rms_datetime_parse_xs(&dt, "2023-01-01T00:00:00+01:60"), RMS_E_RANGE,
	            "UTC offset");
}

static void test_parse_xs_rejects_malformed_timestamp(void **state)
{
	(void)state;
	rms_datetime dt;
	check_error(rms_datetime_parse_xs(&dt, "2023-10-10 10:00:00"), RMS_E_PARSE,
	            "expected 'T' after the day");
	check_error(rms_datetime_parse_xs(&dt, "2023-10-10T10:00"), RMS_E_PARSE,
	            "expected ':' after the minute");
	check_error(rms_datetime_parse_xs(&dt, "2023-10-10T10:00:0"), RMS_E_PARSE,
	            "second is not 2 digits");
	check_error(rms_datetime_parse_xs(&dt, "2023-1-10T10:00:00"), RMS_E_PARSE,
	            "month is not 2 digits");
	check_error(rms_datetime_parse_xs(&dt, "2023-10-10T10:00:00."), RMS_E_PARSE,
	            "digits of a fraction");
	check_error(rms_datetime_parse_xs(&dt, "2023-10-10T10:00:00+0100"), RMS_E_PARSE,
	            "time zone \"+0100\"");
	check_error(rms_datetime_parse_xs(&dt, "2023-10-10T10:00:00+01:00x"), RMS_E_PARSE,
	            "time zone");
	check_error(rms_datetime_parse_xs(&dt, "2023-10-10T10:00:00Zjunk"), RMS_E_PARSE,
	            "unexpected \"Zjunk\"");
	check_error(rms_datetime_parse_xs(&dt, ""), RMS_E_PARSE, "year is not 4 digits");
	check_error(rms_datetime_parse_xs(&dt, "19990929195959.000000-420"), RMS_E_PARSE,
	            "expected '-' after the year");
}

/* ---- xs formatting ----------------------------------------------------- */

static void test_format_xs_refuses_wildcards(void **state)
{
	(void)state;
	char buf[RMS_DATETIME_XS_MAX];
	rms_datetime dt = dmtf("20231010******.******+000");
	check_error(rms_datetime_format_xs(&dt, buf, sizeof buf), RMS_E_RANGE, "wildcard");
	dt = dmtf("20231010101010.123***+000");
	check_error(rms_datetime_format_xs(&dt, buf, sizeof buf), RMS_E_RANGE, "wildcard");
	dt = dmtf("********000000.000000:000");
	check_error(rms_datetime_format_xs(&dt, buf, sizeof buf), RMS_E_RANGE, "wildcard");
}

static void test_format_xs_refuses_offset_beyond_14_hours(void **state)
{
	(void)state;
	char buf[RMS_DATETIME_XS_MAX];
	rms_datetime dt = dmtf("20231010101010.000000+900");
	check_error(rms_datetime_format_xs(&dt, buf, sizeof buf), RMS_E_RANGE,
	            "UTC offset 900 minutes");
}

static void test_format_xs_too_small_buffer(void **state)
{
	(void)state;
	rms_datetime dt = xs("2023-10-10T10:00:00Z");
	char buf[21];
	check_error(rms_datetime_format_xs(&dt, buf, 20), RMS_E_INVALID_ARG, "too small");
	assert_int_equal(rms_datetime_format_xs(&dt, buf, 21), 0);
	assert_string_equal(buf, "2023-10-10T10:00:00Z");
	dt = xs("P0DT0H1M40S");
	check_error(rms_datetime_format_xs(&dt, buf, 11), RMS_E_INVALID_ARG, "too small");
}

static void test_format_xs_prints_hand_built_precision(void **state)
{
	(void)state;
	/* More significant digits than frac_digits says are not dropped. */
	rms_datetime dt = {.is_interval = true, .second = 1, .nanoseconds = 250000000};
	assert_xs_prints(&dt, "P0DT0H0M1.25S");
}

/* ---- conversions ------------------------------------------------------- */

static void test_xs_timestamp_to_dmtf(void **state)
{
	(void)state;
	rms_datetime dt = xs("2014-04-03T14:45:50.46875+08:00");
	assert_dmtf_prints(&dt, "20140403144550.468750+480");
	dt = xs("2023-10-10T10:00:00Z");
	assert_dmtf_prints(&dt, "20231010100000.000000+000");
	dt = xs("2023-10-10T10:00:00.123456789-05:30");
	assert_dmtf_prints(&dt, "20231010100000.123456-330");
	dt = xs("2023-10-10T10:00:00+00:00");
	assert_dmtf_prints(&dt, "20231010100000.000000+000");
}

static void test_dmtf_timestamp_to_xs(void **state)
{
	(void)state;
	rms_datetime dt = dmtf("19990929195959.000000-420");
	assert_xs_prints(&dt, "1999-09-29T19:59:59.000000-07:00");
	dt = dmtf("20140403144550.468750+480");
	assert_xs_prints(&dt, "2014-04-03T14:45:50.468750+08:00");
}

static void test_intervals_convert_both_ways(void **state)
{
	(void)state;
	rms_datetime dt = xs("P0DT0H1M40S");
	assert_dmtf_prints(&dt, "00000000000140.000000:000");
	dt = xs("P12DT3H4M5.0000009S");
	assert_dmtf_prints(&dt, "00000012030405.000000:000");
	dt = dmtf("00000001020304.500000:000");
	assert_xs_prints(&dt, "P1DT2H3M4.500000S");
	dt = dmtf("99999999235959.999999:000");
	assert_xs_prints(&dt, "P99999999DT23H59M59.999999S");
}

/* ---- equality ---------------------------------------------------------- */

static void assert_equal_texts(bool expected, rms_datetime a, rms_datetime b)
{
	assert_int_equal(rms_datetime_equal(&a, &b), expected);
	assert_int_equal(rms_datetime_equal(&b, &a), expected);
}

static void test_equal_compares_instants_across_offsets(void **state)
{
	(void)state;
	assert_equal_texts(true, xs("2023-10-10T10:00:00+01:00"), xs("2023-10-10T09:00:00Z"));
	assert_equal_texts(true, xs("2023-10-10T00:30:00+01:00"), xs("2023-10-09T23:30:00Z"));
	assert_equal_texts(true, xs("2024-03-01T00:30:00+01:00"),
	                   xs("2024-02-29T23:30:00+00:00"));
	assert_equal_texts(true, xs("2024-01-01T05:00:00+05:00"),
	                   xs("2023-12-31T19:00:00-05:00"));
	assert_equal_texts(true, dmtf("20231010100000.000000+060"), xs("2023-10-10T09:00:00Z"));
	assert_equal_texts(true, dmtf("19990929195959.000000-420"),
	                   xs("1999-09-30T02:59:59.000000Z"));
	assert_equal_texts(false, xs("2023-10-10T10:00:00+01:00"), xs("2023-10-10T10:00:00Z"));
	assert_equal_texts(false, xs("2023-10-10T10:00:00.1Z"), xs("2023-10-10T10:00:00.2Z"));
	assert_equal_texts(false, xs("2023-03-01T00:30:00+01:00"), xs("2023-03-01T00:30:00Z"));
}

static void test_equal_ignores_written_form(void **state)
{
	(void)state;
	assert_equal_texts(true, xs("2023-10-10T10:00:00Z"), xs("2023-10-10T10:00:00+00:00"));
	assert_equal_texts(true, xs("2023-10-10T10:00:00.5Z"), xs("2023-10-10T10:00:00.500Z"));
	assert_equal_texts(true, xs("2014-04-03T14:45:50.46875+08:00"),
	                   dmtf("20140403144550.468750+480"));
}

static void test_equal_zoneless_only_matches_zoneless(void **state)
{
	(void)state;
	assert_equal_texts(true, xs("2023-10-10T10:00:00"), xs("2023-10-10T10:00:00"));
	assert_equal_texts(false, xs("2023-10-10T10:00:00"), xs("2023-10-10T10:00:00Z"));
	assert_equal_texts(false, xs("2023-10-10T10:00:00"), xs("2023-10-10T10:00:01"));
	assert_equal_texts(false, xs("2023-10-10T10:00:00"), dmtf("20231010100000.000000+000"));
}

static void test_equal_leap_second_is_its_own_instant(void **state)
{
	(void)state;
	assert_equal_texts(false, xs("2016-12-31T23:59:60Z"), xs("2017-01-01T00:00:00Z"));
	assert_equal_texts(true, xs("2016-12-31T23:59:60Z"), xs("2017-01-01T00:59:60+01:00"));
}

static void test_equal_intervals_compare_length(void **state)
{
	(void)state;
	assert_equal_texts(true, xs("PT100S"), xs("P0DT0H1M40S"));
	assert_equal_texts(true, xs("PT24H"), dmtf("00000001000000.000000:000"));
	assert_equal_texts(true, xs("PT0.5S"), xs("PT0.500000S"));
	assert_equal_texts(false, xs("PT1S"), xs("PT2S"));
	assert_equal_texts(false, xs("PT0.5S"), xs("PT0.25S"));
	/* Hand-built intervals out of normal form still compare by length. */
	rms_datetime a = {.is_interval = true, .minute = 1, .second = 40};
	rms_datetime b = {.is_interval = true, .second = 100};
	assert_true(rms_datetime_equal(&a, &b));
}

static void test_equal_timestamp_never_equals_interval(void **state)
{
	(void)state;
	assert_equal_texts(false, dmtf("00000101000000.000000+000"),
	                   dmtf("00000000000000.000000:000"));
	rms_datetime a = {0}, b = {.is_interval = true};
	assert_false(rms_datetime_equal(&a, &b));
}

static void test_equal_wildcards_compare_field_by_field(void **state)
{
	(void)state;
	assert_equal_texts(true, dmtf("20231010******.******+000"),
	                   dmtf("20231010******.******+000"));
	assert_equal_texts(false, dmtf("20231010******.******+000"),
	                   dmtf("20231010000000.000000+000"));
	assert_equal_texts(false, dmtf("20231010******.******+060"),
	                   dmtf("20231010******.******+000"));
	assert_equal_texts(false, dmtf("20231011******.******+000"),
	                   dmtf("20231010******.******+000"));
	assert_equal_texts(true, dmtf("********101010.000000+***"),
	                   dmtf("********101010.000000+***"));
	assert_equal_texts(false, dmtf("20231010101010.123***+000"),
	                   dmtf("20231010101010.123000+000"));
	assert_equal_texts(false, dmtf("20231010101010.120***+000"),
	                   dmtf("20231010101010.12****+000"));
	assert_equal_texts(true, dmtf("********12****.******:000"),
	                   dmtf("********12****.******:000"));
	assert_equal_texts(false, dmtf("********12****.******:000"),
	                   dmtf("********13****.******:000"));
	/* Values hidden under a wildcard do not count. */
	rms_datetime a = dmtf("20231010******.******+000"), b = a;
	b.hour = 5;
	assert_true(rms_datetime_equal(&a, &b));
}

static void test_equal_null_arguments(void **state)
{
	(void)state;
	rms_datetime a = xs("PT1S");
	assert_true(rms_datetime_equal(NULL, NULL));
	assert_false(rms_datetime_equal(&a, NULL));
	assert_false(rms_datetime_equal(NULL, &a));
}

/* ---- validation -------------------------------------------------------- */

static void test_validate_accepts_parsed_values(void **state)
{
	(void)state;
	rms_datetime a = dmtf("20231010******.******+000"), b = xs("P0DT0H1M40S"),
	             c = xs("2023-10-10T10:00:00"), d = {.year = 2023, .month = 1, .day = 1};
	assert_int_equal(rms__datetime_validate(&a), 0);
	assert_int_equal(rms__datetime_validate(&b), 0);
	assert_int_equal(rms__datetime_validate(&c), 0);
	assert_int_equal(rms__datetime_validate(&d), 0);
}

static void test_validate_names_the_bad_field(void **state)
{
	(void)state;
	const rms_datetime ok = {.year = 2023, .month = 1, .day = 1};
	rms_datetime dt;
#define CHECK(assignment, needle)                                                                  \
	do {                                                                                       \
		dt = ok;                                                                           \
		assignment;                                                                        \
		check_error(rms__datetime_validate(&dt), RMS_E_RANGE, needle);                     \
	} while (0)
	CHECK(dt.year = 10000, "year 10000");
	CHECK(dt.year = -1, "year -1");
	CHECK(dt.month = 0, "month 0");
	CHECK(dt.day = 0, "day 0");
	CHECK((dt.month = 2, dt.day = 29), "day 29 out of range 1..28 for 2023-02");
	CHECK(dt.hour = -1, "hour -1");
	CHECK(dt.minute = 60, "minute 60");
	CHECK(dt.second = 61, "second 61");
	CHECK(dt.nanoseconds = 1000000000, "nanoseconds 1000000000");
	CHECK(dt.frac_digits = 10, "frac_digits 10");
	CHECK(dt.frac_digits = -1, "frac_digits -1");
	CHECK(dt.utc_offset = 1000, "UTC offset 1000");
	CHECK((dt.tz_form = RMS_TZ_UTC_Z, dt.utc_offset = 60), "UTC offset 60 with zone form Z");
	CHECK((dt.tz_form = RMS_TZ_NONE, dt.wildcards = RMS_DT_WILD_OFFSET), "zone form none");
	CHECK(dt.tz_form = (rms_tz_form)3, "tz_form 3");
	CHECK(dt.wildcards = 1u << 12, "unknown bits");
	CHECK((dt.wildcards = RMS_DT_WILD_MICROSECOND, dt.frac_digits = 6), "frac_digits 6");
	CHECK((dt.wildcards = RMS_DT_WILD_MICROSECOND, dt.frac_digits = 2,
	       dt.nanoseconds = 123000000),
	      "nanoseconds 123000000");
	CHECK((dt.is_interval = true, dt.days = 100000000), "interval days 100000000");
	CHECK((dt.is_interval = true, dt.second = 60), "second 60");
	CHECK((dt.is_interval = true, dt.wildcards = RMS_DT_WILD_YEAR), "an interval has no year");
#undef CHECK
	/* Wildcard fields are not checked. */
	dt = ok;
	dt.month = 99;
	dt.wildcards = RMS_DT_WILD_MONTH;
	assert_int_equal(rms__datetime_validate(&dt), 0);
}

/* ---- NULL arguments ---------------------------------------------------- */

static void test_null_arguments_are_invalid(void **state)
{
	(void)state;
	rms_datetime dt = xs("PT1S");
	char buf[RMS_DATETIME_XS_MAX];
	check_error(rms_datetime_parse_dmtf(NULL, "20231010101010.000000+000"), RMS_E_INVALID_ARG,
	            "out is NULL");
	check_error(rms_datetime_parse_dmtf(&dt, NULL), RMS_E_INVALID_ARG, "text is NULL");
	check_error(rms_datetime_parse_xs(NULL, "PT1S"), RMS_E_INVALID_ARG, "out is NULL");
	check_error(rms_datetime_parse_xs(&dt, NULL), RMS_E_INVALID_ARG, "text is NULL");
	check_error(rms_datetime_format_dmtf(NULL, buf, sizeof buf), RMS_E_INVALID_ARG,
	            "dt is NULL");
	check_error(rms_datetime_format_dmtf(&dt, NULL, 26), RMS_E_INVALID_ARG, "buf is NULL");
	check_error(rms_datetime_format_xs(NULL, buf, sizeof buf), RMS_E_INVALID_ARG,
	            "dt is NULL");
	check_error(rms_datetime_format_xs(&dt, NULL, 64), RMS_E_INVALID_ARG, "buf is NULL");
	check_error(rms__datetime_validate(NULL), RMS_E_INVALID_ARG, "dt is NULL");
}

static int teardown(void **state)
{
	(void)state;
	rms_error_clear();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dmtf_round_trips_exactly),
		cmocka_unit_test(test_parse_dmtf_timestamp_fields),
		cmocka_unit_test(test_parse_dmtf_interval_fields),
		cmocka_unit_test(test_parse_dmtf_wildcards_set_bits_and_zero_fields),
		cmocka_unit_test(test_parse_dmtf_partial_microseconds),
		cmocka_unit_test(test_parse_dmtf_all_wild_offset),
		cmocka_unit_test(test_parse_dmtf_leap_day_only_in_leap_years),
		cmocka_unit_test(test_parse_dmtf_rejects_wrong_length),
		cmocka_unit_test(test_parse_dmtf_rejects_four_digit_offset),
		cmocka_unit_test(test_parse_dmtf_rejects_letters),
		cmocka_unit_test(test_parse_dmtf_rejects_partial_star_fields),
		cmocka_unit_test(test_parse_dmtf_rejects_microsecond_stars_not_from_right),
		cmocka_unit_test(test_parse_dmtf_rejects_bad_separators),
		cmocka_unit_test(test_parse_dmtf_rejects_month_13),
		cmocka_unit_test(test_parse_dmtf_rejects_out_of_range_fields),
		cmocka_unit_test(test_parse_dmtf_failure_leaves_out_untouched),
		cmocka_unit_test(test_parse_dmtf_quotes_long_input_cut_short),
		cmocka_unit_test(test_format_dmtf_needs_26_bytes),
		cmocka_unit_test(test_format_dmtf_refuses_zoneless_timestamp),
		cmocka_unit_test(test_format_dmtf_refuses_offset_beyond_999),
		cmocka_unit_test(test_format_dmtf_refuses_invalid_fields),
		cmocka_unit_test(test_xs_round_trips_exactly),
		cmocka_unit_test(test_parse_xs_sample_timestamp_fields),
		cmocka_unit_test(test_parse_xs_duration_fields),
		cmocka_unit_test(test_parse_xs_duration_normalises_components),
		cmocka_unit_test(test_parse_xs_accepts_zero_padding_beyond_nanoseconds),
		cmocka_unit_test(test_parse_xs_rejects_years_and_months),
		cmocka_unit_test(test_parse_xs_rejects_negative_duration),
		cmocka_unit_test(test_parse_xs_rejects_empty_duration),
		cmocka_unit_test(test_parse_xs_rejects_malformed_duration),
		cmocka_unit_test(test_parse_xs_rejects_too_long_duration),
		cmocka_unit_test(test_parse_xs_rejects_fraction_beyond_nanoseconds),
		cmocka_unit_test(test_parse_xs_rejects_hour_24),
		cmocka_unit_test(test_parse_xs_rejects_years_outside_0000_9999),
		cmocka_unit_test(test_parse_xs_rejects_out_of_range_fields),
		cmocka_unit_test(test_parse_xs_rejects_malformed_timestamp),
		cmocka_unit_test(test_format_xs_refuses_wildcards),
		cmocka_unit_test(test_format_xs_refuses_offset_beyond_14_hours),
		cmocka_unit_test(test_format_xs_too_small_buffer),
		cmocka_unit_test(test_format_xs_prints_hand_built_precision),
		cmocka_unit_test(test_xs_timestamp_to_dmtf),
		cmocka_unit_test(test_dmtf_timestamp_to_xs),
		cmocka_unit_test(test_intervals_convert_both_ways),
		cmocka_unit_test(test_equal_compares_instants_across_offsets),
		cmocka_unit_test(test_equal_ignores_written_form),
		cmocka_unit_test(test_equal_zoneless_only_matches_zoneless),
		cmocka_unit_test(test_equal_leap_second_is_its_own_instant),
		cmocka_unit_test(test_equal_intervals_compare_length),
		cmocka_unit_test(test_equal_timestamp_never_equals_interval),
		cmocka_unit_test(test_equal_wildcards_compare_field_by_field),
		cmocka_unit_test(test_equal_null_arguments),
		cmocka_unit_test(test_validate_accepts_parsed_values),
		cmocka_unit_test(test_validate_names_the_bad_field),
		cmocka_unit_test(test_null_arguments_are_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
