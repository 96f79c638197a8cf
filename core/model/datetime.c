/*
 * CIM datetimes: the DMTF text form (DSP0004), the XML Schema forms
 * (xs:dateTime, xs:duration), range checks and equality.
 *
 * Parsers fill a local value and copy it out only on success, so *out is
 * untouched by a failure. Formatters write into a local buffer first and
 * copy it out only when it fits.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datetime_internal.h"
#include "error_internal.h"

#define DMTF_LEN 25
#define MAX_DAYS 99999999u
#define XS_MAX_OFFSET (14 * 60) /* xs:dateTime zones are at most ±14:00 */
#define SECONDS_PER_DAY 86400u
#define DIGITS "0123456789"
#define DURATION_SHAPE "P[nD][T[nH][nM][n[.f]S]]"

#define WILD_ALL                                                                                   \
	(RMS_DT_WILD_YEAR | RMS_DT_WILD_MONTH | RMS_DT_WILD_DAY | RMS_DT_WILD_HOUR |               \
	 RMS_DT_WILD_MINUTE | RMS_DT_WILD_SECOND | RMS_DT_WILD_OFFSET | RMS_DT_WILD_MICROSECOND)

static const uint32_t pow10_u32[10] = {1,      10,      100,      1000,      10000,
                                       100000, 1000000, 10000000, 100000000, 1000000000};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* n decimal digits at s into *out; false at the first non-digit, which is
 * also what stops it at the end of a short string. */
static bool read_digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* A fixed-width DMTF field: 1 for n digits, 0 for n '*' (*out = 0), -1 otherwise. */
static int dmtf_field(const char *s, int n, int *out)
{
	if (read_digits(s, n, out))
		return 1;
	for (int i = 0; i < n; i++)
		if (s[i] != '*')
			return -1;
	*out = 0;
	return 0;
}

/* Writes v as exactly width digits (or width '*'); returns the end. */
static char *put_field(char *p, int width, uint32_t v, bool wild)
{
	for (int i = width - 1; i >= 0; i--) {
		p[i] = wild ? '*' : (char)('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

/* ".ddd": at least `digits` digits, more when nanoseconds holds significant
 * digits beyond them (a hand-built value), nothing when that leaves none. */
static char *put_fraction(char *p, uint32_t nanoseconds, int digits)
{
	char d[9];
	int n = 9;
	put_field(d, 9, nanoseconds, false);
	while (n > digits && d[n - 1] == '0')
		n--;
	if (n == 0)
		return p;
	*p++ = '.';
	memcpy(p, d, (size_t)n);
	return p + n;
}

/* An error about a text: "<form> "<text>": <detail>", the text cut at 64
 * characters so a hostile input cannot flood the message. */
static int text_error(int code, const char *form, const char *text, const char *fmt, ...)
	RMS_PRINTF(4, 5);
static int text_error(int code, const char *form, const char *text, const char *fmt, ...)
{
	char detail[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	return rms__error_set(code, RMS_PHASE_NONE, "%s \"%.64s%s\": %s", form, text,
	                      strlen(text) > 64 ? "..." : "", detail);
}

static int null_arg(const char *field, const char *func)
{
	return rms__error_field(RMS_E_INVALID_ARG, field, "%s: %s is NULL", func, field);
}

/* ---- validation -------------------------------------------------------- */

/* Describes the first field out of range into why and returns true, or
 * returns false when every field is in range. */
static bool range_problem(const rms_datetime *dt, char *why, size_t size)
{
	unsigned w = dt->wildcards;

#define BAD(...)                                                                                   \
	do {                                                                                       \
		snprintf(why, size, __VA_ARGS__);                                                  \
		return true;                                                                       \
	} while (0)
	if (w & ~(unsigned)WILD_ALL)
		BAD("wildcards 0x%x has unknown bits", w);
	if (dt->is_interval) {
		if (w & (RMS_DT_WILD_YEAR | RMS_DT_WILD_MONTH | RMS_DT_WILD_OFFSET))
			BAD("an interval has no year, month or UTC offset to mark as wildcard");
		if (!(w & RMS_DT_WILD_DAY) && dt->days > MAX_DAYS)
			BAD("interval days %" PRIu32 " out of range 0..%u", dt->days, MAX_DAYS);
	} else {
		if (!(w & RMS_DT_WILD_YEAR) && (dt->year < 0 || dt->year > 9999))
			BAD("year %d out of range 0000..9999", dt->year);
		if (!(w & RMS_DT_WILD_MONTH) && (dt->month < 1 || dt->month > 12))
			BAD("month %d out of range 1..12", dt->month);
		if (!(w & RMS_DT_WILD_DAY)) {
			/* With an unknown year, 29 February may exist; with an
			 * unknown month, any day up to 31. */
			int max = (w & RMS_DT_WILD_MONTH) ? 31
			          : (w & RMS_DT_WILD_YEAR) ? days_in_month(2000, dt->month)
			                                   : days_in_month(dt->year, dt->month);
			if (dt->day < 1 || dt->day > max) {
				if (w & (RMS_DT_WILD_YEAR | RMS_DT_WILD_MONTH))
					BAD("day %d out of range 1..%d", dt->day, max);
				BAD("day %d out of range 1..%d for %04d-%02d", dt->day, max,
				    dt->year, dt->month);
			}
		}
		if (dt->tz_form != RMS_TZ_OFFSET && dt->tz_form != RMS_TZ_UTC_Z &&
		    dt->tz_form != RMS_TZ_NONE)
			BAD("tz_form %d is not a zone form", (int)dt->tz_form);
		if (dt->tz_form != RMS_TZ_OFFSET &&
		    (dt->utc_offset != 0 || (w & RMS_DT_WILD_OFFSET)))
			BAD("UTC offset %d with zone form %s (must be 0, not wildcard)",
			    dt->utc_offset, dt->tz_form == RMS_TZ_UTC_Z ? "Z" : "none");
		if (!(w & RMS_DT_WILD_OFFSET) && (dt->utc_offset < -999 || dt->utc_offset > 999))
			BAD("UTC offset %d minutes out of range -999..999", dt->utc_offset);
	}
	if (!(w & RMS_DT_WILD_HOUR) && (dt->hour < 0 || dt->hour > 23))
		BAD("hour %d out of range 0..23", dt->hour);
	if (!(w & RMS_DT_WILD_MINUTE) && (dt->minute < 0 || dt->minute > 59))
		BAD("minute %d out of range 0..59", dt->minute);
	/* A leap second belongs to a moment, not to a length of time. */
	int max_second = dt->is_interval ? 59 : 60;
	if (!(w & RMS_DT_WILD_SECOND) && (dt->second < 0 || dt->second > max_second))
		BAD("second %d out of range 0..%d", dt->second, max_second);
	if (dt->nanoseconds >= pow10_u32[9])
		BAD("nanoseconds %" PRIu32 " out of range 0..999999999", dt->nanoseconds);
	if (dt->frac_digits < 0 || dt->frac_digits > 9)
		BAD("frac_digits %d out of range 0..9", dt->frac_digits);
	if (w & RMS_DT_WILD_MICROSECOND) {
		if (dt->frac_digits > 5)
			BAD("frac_digits %d with wildcard microseconds (must be 0..5)",
			    dt->frac_digits);
		if (dt->nanoseconds % pow10_u32[9 - dt->frac_digits] != 0)
			BAD("nanoseconds %" PRIu32 " has digits in the wildcard microseconds "
			    "after the first %d",
			    dt->nanoseconds, dt->frac_digits);
	}
#undef BAD
	return false;
}

int rms__datetime_validate(const rms_datetime *dt)
{
	char why[128];
	if (!dt)
		return null_arg("dt", "rms__datetime_validate");
	if (range_problem(dt, why, sizeof why))
		return rms__error_set(RMS_E_RANGE, RMS_PHASE_NONE, "datetime: %s", why);
	return 0;
}

/* Copies the formatted text out when buf can hold it and its NUL. */
static int copy_out(const char *s, char *buf, size_t size, const char *form)
{
	size_t len = strlen(s);
	if (size <= len)
		return rms__error_field(RMS_E_INVALID_ARG, "size",
		                        "buffer of %zu bytes is too small for the %s form \"%s\" "
		                        "(needs %zu)",
		                        size, form, s, len + 1);
	memcpy(buf, s, len + 1);
	return 0;
}

/* ---- DMTF form --------------------------------------------------------- */

int rms_datetime_parse_dmtf(rms_datetime *out, const char *text)
{
	static const char form[] = "DMTF datetime";
	if (!out)
		return null_arg("out", "rms_datetime_parse_dmtf");
	if (!text)
		return null_arg("text", "rms_datetime_parse_dmtf");

	size_t len = strlen(text);
	if (len != DMTF_LEN)
		return text_error(RMS_E_PARSE, form, text,
		                  "has %zu characters, expected 25 (yyyymmddHHMMSS.mmmmmmsUUU or "
		                  "ddddddddHHMMSS.mmmmmm:000)",
		                  len);
	if (text[14] != '.')
		return text_error(RMS_E_PARSE, form, text,
		                  "expected '.' after the seconds at position 15, found '%c'",
		                  text[14]);
	if (text[21] != '+' && text[21] != '-' && text[21] != ':')
		return text_error(RMS_E_PARSE, form, text,
		                  "expected the UTC offset sign '+' or '-' (timestamp) or ':' "
		                  "(interval) at position 22, found '%c'",
		                  text[21]);

	rms_datetime dt = {.is_interval = text[21] == ':', .tz_form = RMS_TZ_OFFSET};
	int days = 0;
	struct field {
		const char *name;
		int pos, len;
		unsigned wild;
		int *dst;
	};
	const struct field timestamp[] = {
		{"year", 0, 4, RMS_DT_WILD_YEAR, &dt.year},
		{"month", 4, 2, RMS_DT_WILD_MONTH, &dt.month},
		{"day", 6, 2, RMS_DT_WILD_DAY, &dt.day},
		{"hour", 8, 2, RMS_DT_WILD_HOUR, &dt.hour},
		{"minute", 10, 2, RMS_DT_WILD_MINUTE, &dt.minute},
		{"second", 12, 2, RMS_DT_WILD_SECOND, &dt.second},
	};
	const struct field interval[] = {
		{"interval days", 0, 8, RMS_DT_WILD_DAY, &days},
		{"hour", 8, 2, RMS_DT_WILD_HOUR, &dt.hour},
		{"minute", 10, 2, RMS_DT_WILD_MINUTE, &dt.minute},
		{"second", 12, 2, RMS_DT_WILD_SECOND, &dt.second},
	};
	const struct field *f = dt.is_interval ? interval : timestamp;
	size_t nfields = dt.is_interval ? 4 : 6;
	for (size_t i = 0; i < nfields; i++) {
		int rc = dmtf_field(text + f[i].pos, f[i].len, f[i].dst);
		if (rc < 0)
			return text_error(RMS_E_PARSE, form, text,
			                  "%s \"%.*s\" is neither %d digits nor all '*'", f[i].name,
			                  f[i].len, text + f[i].pos, f[i].len);
		if (rc == 0)
			dt.wildcards |= f[i].wild;
	}
	dt.days = (uint32_t)days;

	const char *micro = text + 15;
	int sig = 0, value = 0;
	while (sig < 6 && is_digit(micro[sig]))
		sig++;
	for (int i = sig; i < 6; i++)
		if (micro[i] != '*')
			return text_error(RMS_E_PARSE, form, text,
			                  "microseconds \"%.6s\" must be 6 digits, with '*' "
			                  "allowed only from the right",
			                  micro);
	read_digits(micro, sig, &value);
	dt.nanoseconds = (uint32_t)value * pow10_u32[9 - sig];
	dt.frac_digits = sig;
	if (sig < 6)
		dt.wildcards |= RMS_DT_WILD_MICROSECOND;

	const char *offset = text + 22;
	if (dt.is_interval) {
		if (memcmp(offset, "000", 3) != 0)
			return text_error(RMS_E_PARSE, form, text,
			                  "an interval (':' at position 22) must end in \":000\", "
			                  "not \":%.3s\"",
			                  offset);
	} else {
		int minutes, rc = dmtf_field(offset, 3, &minutes);
		if (rc < 0)
			return text_error(RMS_E_PARSE, form, text,
			                  "UTC offset \"%.4s\" is neither a sign and 3 digits of "
			                  "minutes nor \"+***\"",
			                  offset - 1);
		/* "-000" and "-***" mean the same as "+000" and "+***" and
		 * print back with '+': the sign is not kept apart. */
		if (rc == 0)
			dt.wildcards |= RMS_DT_WILD_OFFSET;
		dt.utc_offset = text[21] == '-' ? -minutes : minutes;
	}

	char why[128];
	if (range_problem(&dt, why, sizeof why))
		return text_error(RMS_E_RANGE, form, text, "%s", why);
	*out = dt;
	return 0;
}

int rms_datetime_format_dmtf(const rms_datetime *dt, char *buf, size_t size)
{
	if (!dt)
		return null_arg("dt", "rms_datetime_format_dmtf");
	if (!buf)
		return null_arg("buf", "rms_datetime_format_dmtf");
	int rc = rms__datetime_validate(dt);
	if (rc)
		return rc;
	if (!dt->is_interval && dt->tz_form == RMS_TZ_NONE)
		return rms__error_set(RMS_E_RANGE, RMS_PHASE_NONE,
		                      "a timestamp without a zone (local time) has no DMTF form: "
		                      "the DMTF form needs a UTC offset");

	unsigned w = dt->wildcards;
	char tmp[DMTF_LEN + 1];
	char *p = tmp;
	if (dt->is_interval) {
		p = put_field(p, 8, dt->days, w & RMS_DT_WILD_DAY);
	} else {
		p = put_field(p, 4, (uint32_t)dt->year, w & RMS_DT_WILD_YEAR);
		p = put_field(p, 2, (uint32_t)dt->month, w & RMS_DT_WILD_MONTH);
		p = put_field(p, 2, (uint32_t)dt->day, w & RMS_DT_WILD_DAY);
	}
	p = put_field(p, 2, (uint32_t)dt->hour, w & RMS_DT_WILD_HOUR);
	p = put_field(p, 2, (uint32_t)dt->minute, w & RMS_DT_WILD_MINUTE);
	p = put_field(p, 2, (uint32_t)dt->second, w & RMS_DT_WILD_SECOND);
	*p++ = '.';
	/* Microseconds truncated: a finer xs fraction has no DMTF digits. */
	put_field(p, 6, dt->nanoseconds / 1000, false);
	if (w & RMS_DT_WILD_MICROSECOND)
		memset(p + dt->frac_digits, '*', (size_t)(6 - dt->frac_digits));
	p += 6;
	if (dt->is_interval) {
		memcpy(p, ":000", 4);
	} else if (w & RMS_DT_WILD_OFFSET) {
		memcpy(p, "+***", 4);
	} else {
		*p = dt->utc_offset < 0 ? '-' : '+';
		put_field(p + 1, 3, (uint32_t)abs(dt->utc_offset), false);
	}
	tmp[DMTF_LEN] = '\0';
	return copy_out(tmp, buf, size, "DMTF");
}

/* ---- XML Schema forms -------------------------------------------------- */

/*
 * The digits of a fraction at *pp (after the '.') into nanoseconds and
 * frac_digits. Digits past the ninth are accepted only when they are zeros:
 * the value is then still exact, and prints back with 9 digits. A nonzero
 * one would be silently lost, so it is RMS_E_RANGE.
 */
static int read_fraction(const char **pp, uint32_t *nanoseconds, int *frac_digits,
                         const char *form, const char *text)
{
	const char *p = *pp;
	size_t n = strspn(p, DIGITS);
	if (n == 0)
		return text_error(RMS_E_PARSE, form, text,
		                  "'.' is not followed by the digits of a fraction of a second");
	if (n > 9 && strspn(p + 9, "0") < n - 9)
		return text_error(RMS_E_RANGE, form, text,
		                  "fraction of a second \".%.*s\" has more precision than "
		                  "nanoseconds (9 digits)",
		                  (int)(n < 40 ? n : 40), p);
	int digits = n < 9 ? (int)n : 9, value = 0;
	read_digits(p, digits, &value);
	*nanoseconds = (uint32_t)value * pow10_u32[9 - digits];
	*frac_digits = digits;
	*pp = p + n;
	return 0;
}

static int parse_date_time(rms_datetime *out, const char *text)
{
	static const char form[] = "xs:dateTime";
	size_t neg = text[0] == '-';
	size_t year_len = strspn(text + neg, DIGITS);
	if (neg && year_len > 0)
		return text_error(RMS_E_RANGE, form, text,
		                  "year -%.*s is before 0000 (CIM years are 0000..9999)",
		                  (int)year_len, text + 1);
	if (year_len > 4 && text[year_len] == '-')
		return text_error(RMS_E_RANGE, form, text,
		                  "year %.*s has more than 4 digits (CIM years are 0000..9999)",
		                  (int)year_len, text);

	rms_datetime dt = {.tz_form = RMS_TZ_NONE};
	const struct {
		const char *name;
		int pos, len;
		char sep; /* what must follow, '\0' for the last */
		int *dst;
	} f[] = {
		{"year", 0, 4, '-', &dt.year},
		{"month", 5, 2, '-', &dt.month},
		{"day", 8, 2, 'T', &dt.day},
		{"hour", 11, 2, ':', &dt.hour},
		{"minute", 14, 2, ':', &dt.minute},
		{"second", 17, 2, '\0', &dt.second},
	};
	/* Each check stops at the first mismatch, so nothing is read past the
	 * NUL of a short text. */
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		if (!read_digits(text + f[i].pos, f[i].len, f[i].dst))
			return text_error(RMS_E_PARSE, form, text,
			                  "%s is not %d digits (expected "
			                  "YYYY-MM-DDTHH:MM:SS[.fraction][Z|+HH:MM|-HH:MM])",
			                  f[i].name, f[i].len);
		if (f[i].sep && text[f[i].pos + f[i].len] != f[i].sep)
			return text_error(RMS_E_PARSE, form, text, "expected '%c' after the %s",
			                  f[i].sep, f[i].name);
	}

	const char *p = text + 19;
	if (*p == '.') {
		p++;
		int rc = read_fraction(&p, &dt.nanoseconds, &dt.frac_digits, form, text);
		if (rc)
			return rc;
	}
	if (*p == 'Z' && p[1] == '\0') {
		dt.tz_form = RMS_TZ_UTC_Z;
	} else if (*p == '+' || *p == '-') {
		int hours, minutes;
		if (!read_digits(p + 1, 2, &hours) || p[3] != ':' ||
		    !read_digits(p + 4, 2, &minutes) || p[6] != '\0')
			return text_error(RMS_E_PARSE, form, text,
			                  "time zone \"%.16s\" is not Z, +HH:MM or -HH:MM", p);
		if (minutes > 59 || hours * 60 + minutes > XS_MAX_OFFSET)
			return text_error(RMS_E_RANGE, form, text,
			                  "UTC offset %s out of range -14:00..+14:00", p);
		dt.tz_form = RMS_TZ_OFFSET;
		dt.utc_offset = (*p == '-' ? -1 : 1) * (hours * 60 + minutes);
	} else if (*p != '\0') {
		return text_error(RMS_E_PARSE, form, text,
		                  "unexpected \"%.16s\" after the seconds (expected a fraction, Z, "
		                  "+HH:MM or -HH:MM)",
		                  p);
	}

	char why[128];
	if (range_problem(&dt, why, sizeof why))
		return text_error(RMS_E_RANGE, form, text, "%s", why);
	*out = dt;
	return 0;
}

/*
 * "P[nD][T[nH][nM][n[.f]S]]". Components may exceed their natural range
 * (PT100S) and are normalised into days, hours, minutes and seconds. Years
 * and months are refused unless zero: a zero has a fixed length, and some
 * writers put "P0Y0M" in front of everything.
 */
static int parse_duration(rms_datetime *out, const char *text)
{
	static const char form[] = "xs:duration";
	if (text[0] == '-')
		return text_error(RMS_E_RANGE, form, text, "CIM intervals cannot be negative");

	/* Anything above this alone exceeds MAX_DAYS in any unit, and keeps
	 * the sum below far from overflowing. */
	const uint64_t cap = 10000000000000ull;
	static const uint64_t date_unit[] = {0, 0, SECONDS_PER_DAY}; /* Y, M: refused */
	static const uint64_t time_unit[] = {3600, 60, 1};
	uint64_t total = 0; /* seconds */
	rms_datetime dt = {.is_interval = true, .tz_form = RMS_TZ_OFFSET};
	const char *p = text + 1, *units = "YMD";
	int last = -1, components = 0;
	bool in_time = false;
	while (*p) {
		if (*p == 'T' && !in_time) {
			in_time = true;
			units = "HMS";
			last = -1;
			if (*++p == '\0')
				return text_error(RMS_E_PARSE, form, text,
				                  "'T' must be followed by hours, minutes or "
				                  "seconds");
			continue;
		}
		const char *start = p;
		if (!is_digit(*p))
			return text_error(RMS_E_PARSE, form, text,
			                  "expected a number at \"%.16s\" (" DURATION_SHAPE ")", p);
		uint64_t v = 0;
		for (; is_digit(*p); p++)
			v = v > cap ? v : v * 10 + (uint64_t)(*p - '0');
		bool fraction = *p == '.';
		if (fraction) {
			p++;
			int rc = read_fraction(&p, &dt.nanoseconds, &dt.frac_digits, form, text);
			if (rc)
				return rc;
		}
		/* The component as written, for messages. */
		int shown = p + 1 - start < 32 ? (int)(p + 1 - start) : 32;
		if (*p == '\0')
			return text_error(RMS_E_PARSE, form, text,
			                  "\"%s\" at the end has no unit letter (D, H, M or S)",
			                  start);
		const char *unit = strchr(units, *p);
		if (!unit || unit - units <= last)
			return text_error(RMS_E_PARSE, form, text,
			                  "unexpected \"%.*s\" (expected " DURATION_SHAPE
			                  " with each part once, in that order)",
			                  shown, start);
		if (fraction && !(in_time && *unit == 'S'))
			return text_error(RMS_E_PARSE, form, text,
			                  "only seconds may have a fraction, not \"%.*s\"", shown,
			                  start);
		if (!in_time && *unit != 'D' && v != 0)
			return text_error(RMS_E_RANGE, form, text,
			                  "years and months have no fixed length, so \"%.*s\" "
			                  "cannot be a CIM interval",
			                  shown, start);
		if (v > cap)
			return text_error(RMS_E_RANGE, form, text,
			                  "\"%.16s...\" is longer than the longest CIM interval "
			                  "(%u days)",
			                  start, MAX_DAYS);
		last = (int)(unit - units);
		total += v * (in_time ? time_unit[last] : date_unit[last]);
		components++;
		p++;
	}
	if (components == 0)
		return text_error(RMS_E_PARSE, form, text,
		                  "a duration needs at least one of nD, nH, nM, nS");
	if (total / SECONDS_PER_DAY > MAX_DAYS)
		return text_error(RMS_E_RANGE, form, text,
		                  "%" PRIu64 " days exceed the longest CIM interval (%u days)",
		                  total / SECONDS_PER_DAY, MAX_DAYS);
	dt.days = (uint32_t)(total / SECONDS_PER_DAY);
	dt.hour = (int)(total % SECONDS_PER_DAY / 3600);
	dt.minute = (int)(total % 3600 / 60);
	dt.second = (int)(total % 60);
	*out = dt;
	return 0;
}

int rms_datetime_parse_xs(rms_datetime *out, const char *text)
{
	if (!out)
		return null_arg("out", "rms_datetime_parse_xs");
	if (!text)
		return null_arg("text", "rms_datetime_parse_xs");
	if (text[0] == 'P' || (text[0] == '-' && text[1] == 'P'))
		return parse_duration(out, text);
	return parse_date_time(out, text);
}

int rms_datetime_format_xs(const rms_datetime *dt, char *buf, size_t size)
{
	if (!dt)
		return null_arg("dt", "rms_datetime_format_xs");
	if (!buf)
		return null_arg("buf", "rms_datetime_format_xs");
	int rc = rms__datetime_validate(dt);
	if (rc)
		return rc;
	if (dt->wildcards)
		return rms__error_set(RMS_E_RANGE, RMS_PHASE_NONE,
		                      "a datetime with wildcard ('*') fields has no XML Schema "
		                      "form; use the DMTF form");

	/* Validated fields bound the length well below the buffer. */
	char tmp[RMS_DATETIME_XS_MAX + 32];
	char *p = tmp;
	if (dt->is_interval)
		p += sprintf(p, "P%" PRIu32 "DT%dH%dM%d", dt->days, dt->hour, dt->minute,
		             dt->second);
	else
		p += sprintf(p, "%04d-%02d-%02dT%02d:%02d:%02d", dt->year, dt->month, dt->day,
		             dt->hour, dt->minute, dt->second);
	p = put_fraction(p, dt->nanoseconds, dt->frac_digits);
	if (dt->is_interval) {
		*p++ = 'S';
	} else if (dt->tz_form == RMS_TZ_UTC_Z) {
		*p++ = 'Z';
	} else if (dt->tz_form == RMS_TZ_OFFSET) {
		int off = abs(dt->utc_offset);
		if (off > XS_MAX_OFFSET)
			return rms__error_set(RMS_E_RANGE, RMS_PHASE_NONE,
			                      "UTC offset %d minutes is beyond xs:dateTime's "
			                      "-14:00..+14:00",
			                      dt->utc_offset);
		p += sprintf(p, "%c%02d:%02d", dt->utc_offset < 0 ? '-' : '+', off / 60, off % 60);
	}
	*p = '\0';
	return copy_out(tmp, buf, size, "XML Schema");
}

/* ---- equality ---------------------------------------------------------- */

static bool zoneless(const rms_datetime *dt)
{
	return !dt->is_interval && dt->tz_form == RMS_TZ_NONE;
}

static int zone_offset(const rms_datetime *dt)
{
	return dt->tz_form == RMS_TZ_OFFSET ? dt->utc_offset : 0;
}

/* Minutes from 0000-01-01T00:00 UTC (proleptic Gregorian). */
static int64_t utc_minutes(const rms_datetime *dt)
{
	static const int before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
	int64_t y = dt->year;
	int m = dt->month >= 1 && dt->month <= 12 ? dt->month : 1;
	/* Leap years in [0, y): multiples of 4, less of 100, plus of 400. */
	int64_t days = 365 * y + (y + 3) / 4 - (y + 99) / 100 + (y + 399) / 400;
	days += before[m - 1] + (m > 2 && is_leap(dt->year)) + dt->day - 1;
	return (days * 24 + dt->hour) * 60 + dt->minute - zone_offset(dt);
}

static uint64_t interval_seconds(const rms_datetime *dt)
{
	return (uint64_t)dt->days * SECONDS_PER_DAY + (uint64_t)dt->hour * 3600 +
	       (uint64_t)dt->minute * 60 + (uint64_t)dt->second;
}

/* Field by field as written, skipping wildcard fields (both share a mask). */
static bool fields_equal(const rms_datetime *a, const rms_datetime *b)
{
	unsigned w = a->wildcards;
#define SAME(bit, f) ((w & (bit)) || a->f == b->f)
	if (a->is_interval) {
		if (!SAME(RMS_DT_WILD_DAY, days))
			return false;
	} else {
		if (!SAME(RMS_DT_WILD_YEAR, year) || !SAME(RMS_DT_WILD_MONTH, month) ||
		    !SAME(RMS_DT_WILD_DAY, day))
			return false;
		if (!(w & RMS_DT_WILD_OFFSET) &&
		    (zoneless(a) != zoneless(b) || zone_offset(a) != zone_offset(b)))
			return false;
	}
	if (!SAME(RMS_DT_WILD_HOUR, hour) || !SAME(RMS_DT_WILD_MINUTE, minute) ||
	    !SAME(RMS_DT_WILD_SECOND, second))
		return false;
#undef SAME
	/* Reduced microsecond precision is part of what is known. */
	if ((w & RMS_DT_WILD_MICROSECOND) && a->frac_digits != b->frac_digits)
		return false;
	return a->nanoseconds == b->nanoseconds;
}

bool rms_datetime_equal(const rms_datetime *a, const rms_datetime *b)
{
	if (!a || !b)
		return a == b;
	if (a->is_interval != b->is_interval || a->wildcards != b->wildcards)
		return false;
	if (a->wildcards || zoneless(a) || zoneless(b))
		return fields_equal(a, b);
	if (a->nanoseconds != b->nanoseconds)
		return false;
	if (a->is_interval)
		return interval_seconds(a) == interval_seconds(b);
	/* Offsets are whole minutes, so instants compare as (minute, second);
	 * a leap second 60 stays distinct from the next minute's 00. */
	return utc_minutes(a) == utc_minutes(b) && a->second == b->second;
}
