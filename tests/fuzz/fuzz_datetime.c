/* DMTF and XML Schema datetimes (core/model/datetime.c): both parsers, and
 * for what parses, the round trip the unit tests promise: format, parse the
 * text again, and get an equal value; rms__datetime_validate must accept
 * whatever a parser returned. */
#include <stdio.h>

#include "datetime_internal.h"
#include "fuzz_common.h"

static void check(int (*parse)(rms_datetime *, const char *),
                  int (*format)(const rms_datetime *, char *, size_t), const char *text)
{
	rms_datetime dt, again;
	if (parse(&dt, text) != 0)
		return;
	if (rms__datetime_validate(&dt) != 0) {
		fprintf(stderr, "parsed \"%s\" but it does not validate\n", text);
		abort();
	}
	char buf[128];
	if (format(&dt, buf, sizeof buf) != 0)
		return;
	if (parse(&again, buf) != 0 || !rms_datetime_equal(&dt, &again)) {
		fprintf(stderr, "\"%s\" -> \"%s\" does not parse back equal\n", text, buf);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	check(rms_datetime_parse_dmtf, rms_datetime_format_dmtf, text);
	check(rms_datetime_parse_xs, rms_datetime_format_xs, text);
	/* Each as the other's form too: a DMTF value written as xs and back. */
	rms_datetime dt;
	char buf[128];
	if (rms_datetime_parse_dmtf(&dt, text) == 0 && rms_datetime_format_xs(&dt, buf, sizeof buf) == 0)
		check(rms_datetime_parse_xs, rms_datetime_format_xs, buf);
	if (rms_datetime_parse_xs(&dt, text) == 0 && rms_datetime_format_dmtf(&dt, buf, sizeof buf) == 0)
		check(rms_datetime_parse_dmtf, rms_datetime_format_dmtf, buf);
	free(text);
	fuzz_done();
	return 0;
}
