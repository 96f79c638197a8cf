/* CLIXML (psremote/clixml.c): the input decoded as one PSRP message body
 * (and as an Export-Clixml document when it starts with "<Objs"); what
 * decodes is written back and decoded again, and must come back equal. The
 * `_xHHHH_` escaping alone must round-trip any text too. */
#include <stdio.h>

#include "clixml.h"
#include "fuzz_common.h"
#include "util.h"

static void roundtrip(const rms_value *v)
{
	rms_buf b;
	rms__buf_init(&b);
	if (rms__clixml_encode(&b, v) != 0) {
		fprintf(stderr, "a decoded value did not encode: %s\n",
		        rms_error_message(rms_error_last()));
		abort();
	}
	rms_value *back = NULL;
	/* Ref copies written out in full may nest deeper than the input did;
	 * that, and only that, may fail the second decode. */
	rms_clixml_limits lim = {.max_depth = 256};
	if (rms__clixml_decode(&back, b.data, b.len, &lim, "fuzz re-encoded") != 0) {
		const char *msg = rms_error_message(rms_error_last());
		if (!strstr(msg, "deeper than the limit")) {
			fprintf(stderr, "re-encoded value did not decode: %s\n%s\n", msg, b.data);
			abort();
		}
	} else if (!rms_value_equal(v, back)) {
		fprintf(stderr, "re-encoding changed the value:\n%s\n", b.data);
		abort();
	}
	rms_value_free(back);
	rms__buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *xml = (const char *)data;
	rms_clixml_limits lim = {.max_depth = 64, .max_values = 100000};
	rms_value *v = NULL;
	if (rms__clixml_decode(&v, xml, size, &lim, "fuzz input") == 0) {
		roundtrip(v);
		rms_value_free(v);
	}
	rms_error_clear();
	if (size >= 5 && memcmp(data, "<Objs", 5) == 0 &&
	    rms__clixml_decode_objs(&v, xml, size, &lim, "fuzz document") == 0) {
		roundtrip(v);
		rms_value_free(v);
	}
	rms_error_clear();

	/* escape then unescape is the identity on text without NULs */
	if (size < 4096 && rms__utf8_valid(xml, size) && !memchr(data, '\0', size)) {
		rms_buf e;
		rms__buf_init(&e);
		if (rms__clixml_escape(&e, xml, size) != 0)
			abort();
		char *u = NULL;
		if (rms__clixml_unescape(&u, e.data ? e.data : "", e.len) != 0 || strlen(u) != size ||
		    memcmp(u, xml, size) != 0) {
			fprintf(stderr, "escape/unescape changed the text\n");
			abort();
		}
		free(u);
		rms__buf_free(&e);
	}
	/* unescape of anything: no crash, no leak */
	char *u = NULL;
	if (rms__clixml_unescape(&u, xml, size) == 0)
		free(u);
	fuzz_done();
	return 0;
}
