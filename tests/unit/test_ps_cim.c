/*
 * CIM operations through the PSSession (psremote/ps_cim.c): the remote
 * script and its command line, the decoding of its output lines into typed
 * values, the line reader and its per-object cap; then, against the test
 * endpoint, get / enumerate / query through a PSSession giving instances
 * equal to the CIM backend's, remote errors with their CIM status, and the
 * received-data caps applied to query output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "backend.h"
#include "endpoint.h"
#include "error_internal.h"
#include "psremote/ps_cim.h"
#include "remsess/remsess.h"

/* ---- the script ---------------------------------------------------------- */

/* UTF-16LE base64 back to UTF-8 (ASCII and BMP are enough here). */
static char *decode_encoded_command(const char *b64)
{
	size_t n = strlen(b64);
	unsigned char *raw = malloc(n);
	assert_non_null(raw);
	int len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
	assert_true(len > 0);
	while (n && b64[n - 1] == '=') {
		len--;
		n--;
	}
	assert_int_equal(len % 2, 0);
	char *out = malloc((size_t)len * 2 + 1);
	assert_non_null(out);
	size_t k = 0;
	for (int i = 0; i < len; i += 2) {
		unsigned cu = raw[i] | (unsigned)raw[i + 1] << 8;
		if (cu < 0x80) {
			out[k++] = (char)cu;
		} else if (cu < 0x800) {
			out[k++] = (char)(0xC0 | cu >> 6);
			out[k++] = (char)(0x80 | (cu & 0x3F));
		} else {
			out[k++] = (char)(0xE0 | cu >> 12);
			out[k++] = (char)(0x80 | ((cu >> 6) & 0x3F));
			out[k++] = (char)(0x80 | (cu & 0x3F));
		}
	}
	out[k] = '\0';
	free(raw);
	return out;
}

static void test_command_is_powershell_with_the_encoded_script(void **state)
{
	(void)state;
	rms_request *r;
	assert_int_equal(rms_request_new(&r, RMS_OP_QUERY), 0);
	assert_int_equal(rms_request_set_query(r, "http://schemas.microsoft.com/wbem/wsman/1/wql",
	                                       "SELECT * FROM Win32_Service WHERE Name = 'O''Brien \xC3\xA9'"),
	                 0);
	rms_ps_cim_command c;
	assert_int_equal(rms__ps_cim_command(&c, r, "root/cimv2"), 0);
	assert_string_equal(c.command, "powershell.exe");
	assert_int_equal(c.argc, 7);
	assert_string_equal(c.argv[0], "-NoLogo");
	assert_string_equal(c.argv[5], "-EncodedCommand");
	char *script = decode_encoded_command(c.argv[6]);
	/* The parameters are one JSON line in a single-quoted string: quotes
	 * doubled, the WQL dialect URI named as Get-CimInstance wants it, and
	 * non-ASCII text escaped in the JSON. */
	assert_non_null(strstr(script, "$r = ConvertFrom-Json '{\"op\":\"query\","
	                                "\"namespace\":\"root/cimv2\",\"dialect\":\"WQL\","
	                                "\"query\":\"SELECT * FROM Win32_Service WHERE Name = "
	                                "''O''''Brien \\u00E9''\"}'\n"));
	assert_non_null(strstr(script, "Get-CimInstance -Namespace $r.namespace -Query $r.query"));
	assert_non_null(strstr(script, "$ErrorActionPreference='Stop'"));
	free(script);
	rms__ps_cim_command_free(&c);
	rms_request_free(r);
}

/* PowerShell ends a single-quoted string at U+2018..U+201B as well as at
 * ': none of them may reach the script raw, or a query could run code. */
static void test_typographic_quotes_cannot_end_the_request_string(void **state)
{
	(void)state;
	rms_request *r;
	assert_int_equal(rms_request_new(&r, RMS_OP_QUERY), 0);
	assert_int_equal(rms_request_set_query(r, NULL,
	                                       "SELECT * FROM Win32_Service WHERE Name = "
	                                       "'\xE2\x80\x99;Write-Host pwned;#\xE2\x80\x98'"),
	                 0);
	char *script;
	assert_int_equal(rms__ps_cim_script(&script, r, "root/cimv2"), 0);
	for (const char *p = script; *p; p++)
		assert_true((unsigned char)*p < 0x80);
	assert_non_null(strstr(script, "\\u2019;Write-Host pwned;#\\u2018"));
	free(script);
	rms_request_free(r);
}

static void test_get_script_carries_the_keys(void **state)
{
	(void)state;
	rms_request *r;
	rms_ref *ref;
	assert_int_equal(rms_ref_new(&ref, NULL, "Win32_Service"), 0);
	assert_int_equal(rms_ref_add_selector(ref, "Name", "WinRM"), 0);
	assert_int_equal(rms_request_new(&r, RMS_OP_GET), 0);
	assert_int_equal(rms_request_set_ref(r, ref), 0);
	char *script;
	assert_int_equal(rms__ps_cim_script(&script, r, "root/cimv2"), 0);
	assert_non_null(strstr(script, "{\"op\":\"get\",\"namespace\":\"root/cimv2\",\"class\":"
	                               "\"Win32_Service\",\"keys\":[{\"name\":\"Name\",\"value\":"
	                               "\"WinRM\"}]}"));
	free(script);
	rms_request_free(r);
	rms_ref_free(ref);
}

static void test_too_long_a_query_is_refused_before_sending(void **state)
{
	(void)state;
	char q[4096];
	int n = snprintf(q, sizeof q, "SELECT * FROM Win32_Service WHERE Name = '");
	memset(q + n, 'x', sizeof q - (size_t)n - 3);
	memcpy(q + sizeof q - 3, "'", 2);
	rms_request *r;
	assert_int_equal(rms_request_new(&r, RMS_OP_QUERY), 0);
	assert_int_equal(rms_request_set_query(r, NULL, q), 0);
	rms_ps_cim_command c;
	assert_int_equal(rms__ps_cim_command(&c, r, "root/cimv2"), RMS_E_INVALID_ARG);
	const char *msg = rms_error_message(rms_error_last());
	assert_non_null(strstr(msg, "cmd.exe takes at most 8191"));
	assert_non_null(strstr(msg, "use the CIM backend"));
	rms_request_free(r);
}

/* ---- decoding lines ---------------------------------------------------------- */

static rms_instance *decode(const char *line)
{
	rms_instance *inst = NULL;
	int rc = rms__ps_cim_decode_line(&inst, line, strlen(line), "root/cimv2");
	if (rc)
		fail_msg("decode: %s", rms_error_message(rms_error_last()));
	return inst;
}

static int decode_fails(const char *line)
{
	rms_instance *inst = NULL;
	int rc = rms__ps_cim_decode_line(&inst, line, strlen(line), "root/cimv2");
	assert_null(inst);
	assert_int_not_equal(rc, 0);
	return rc;
}

#define P(name, type, value) "{\"name\":\"" name "\",\"type\":\"" type "\",\"array\":false,\"value\":" value "}"
#define A(name, type, value) "{\"name\":\"" name "\",\"type\":\"" type "\",\"array\":true,\"value\":" value "}"

static void test_every_type_decodes(void **state)
{
	(void)state;
	rms_instance *inst = decode(
	    "{\"class\":\"X_Number\",\"namespace\":\"root/cimv2\",\"props\":["
	    P("B", "Boolean", "\"true\"") "," P("U8", "UInt8", "\"255\"") ","
	    P("S8", "SInt8", "\"-128\"") "," P("U64", "UInt64", "\"18446744073709551615\"") ","
	    P("S64", "SInt64", "\"-9223372036854775808\"") "," P("R32", "Real32", "\"0.1\"") ","
	    P("R64", "Real64", "\"-Infinity\"") "," P("C", "Char16", "\"\xC3\xA9\"") ","
	    P("When", "DateTime", "\"2024-03-01T06:30:00.1250000+01:00\"") ","
	    P("Dmtf", "DateTime", "\"20240301063000.125000+060\"") ","
	    P("Span", "DateTime", "\"P1DT2H3M4.5S\"") "," P("S", "String", "\"a \\\"b\\\" \xE2\x82\xAC\"") ","
	    P("Nothing", "UInt32", "null") "," A("Sq", "UInt32", "[\"1\",\"4\"]") ","
	    A("NoArr", "String", "null") ","
	    P("Owner", "Reference", "{\"class\":\"Win32_Service\",\"namespace\":\"root/cimv2\","
	                            "\"keys\":[" P("Name", "String", "\"WinRM\"") "]}") ","
	    P("Detail", "Instance", "{\"class\":\"X_NumberDetail\",\"props\":["
	                            P("Digits", "UInt8", "\"3\"") "]}") ","
	    P("Any", "Unknown", "\"text\"") "]}");
	assert_string_equal(rms_instance_class_name(inst), "X_Number");
	bool b;
	assert_int_equal(rms_value_get_boolean(rms_instance_get(inst, "B"), &b), 0);
	assert_true(b);
	uint8_t u8;
	assert_int_equal(rms_value_get_uint8(rms_instance_get(inst, "U8"), &u8), 0);
	assert_int_equal(u8, 255);
	int8_t s8;
	assert_int_equal(rms_value_get_sint8(rms_instance_get(inst, "S8"), &s8), 0);
	assert_int_equal(s8, -128);
	uint64_t u64;
	assert_int_equal(rms_value_get_uint64(rms_instance_get(inst, "U64"), &u64), 0);
	assert_true(u64 == UINT64_MAX);
	int64_t s64;
	assert_int_equal(rms_value_get_sint64(rms_instance_get(inst, "S64"), &s64), 0);
	assert_true(s64 == INT64_MIN);
	float f;
	assert_int_equal(rms_value_get_real32(rms_instance_get(inst, "R32"), &f), 0);
	assert_true(f == 0.1f);
	double d;
	assert_int_equal(rms_value_get_real64(rms_instance_get(inst, "R64"), &d), 0);
	assert_true(d < 0 && d * 0.5 == d);
	uint16_t c;
	assert_int_equal(rms_value_get_char16(rms_instance_get(inst, "C"), &c), 0);
	assert_int_equal(c, 0xE9);
	/* The same instant in ISO 8601 and DMTF forms compares equal. */
	rms_datetime w, dm, sp;
	assert_int_equal(rms_value_get_datetime(rms_instance_get(inst, "When"), &w), 0);
	assert_int_equal(rms_value_get_datetime(rms_instance_get(inst, "Dmtf"), &dm), 0);
	assert_true(rms_datetime_equal(&w, &dm));
	assert_int_equal(rms_value_get_datetime(rms_instance_get(inst, "Span"), &sp), 0);
	assert_true(sp.is_interval);
	const char *s;
	assert_int_equal(rms_value_get_string(rms_instance_get(inst, "S"), &s), 0);
	assert_string_equal(s, "a \"b\" \xE2\x82\xAC");
	assert_true(rms_value_is_null(rms_instance_get(inst, "Nothing")));
	assert_int_equal(rms_value_type(rms_instance_get(inst, "Nothing")), RMS_TYPE_UINT32);
	assert_int_equal(rms_value_type(rms_instance_get(inst, "Sq")),
	                 RMS_TYPE_UINT32 | RMS_TYPE_ARRAY);
	assert_int_equal(rms_value_array_length(rms_instance_get(inst, "Sq")), 2);
	assert_true(rms_value_is_null(rms_instance_get(inst, "NoArr")));
	assert_int_equal(rms_value_type(rms_instance_get(inst, "NoArr")),
	                 RMS_TYPE_STRING | RMS_TYPE_ARRAY);
	const rms_ref *ref;
	assert_int_equal(rms_value_get_reference(rms_instance_get(inst, "Owner"), &ref), 0);
	assert_string_equal(rms_ref_class_name(ref), "Win32_Service");
	assert_string_equal(rms_ref_selector(ref, "Name"), "WinRM");
	const rms_instance *detail;
	assert_int_equal(rms_value_get_instance(rms_instance_get(inst, "Detail"), &detail), 0);
	assert_int_equal(rms_value_get_uint8(rms_instance_get(detail, "Digits"), &u8), 0);
	assert_int_equal(u8, 3);
	assert_int_equal(rms_value_type(rms_instance_get(inst, "Any")), RMS_TYPE_STRING);
	rms_instance_free(inst);
}

static void test_malformed_lines_are_protocol_errors(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"not json",
		"[1,2]",
		"{\"props\":[]}",
		"{\"class\":\"X\",\"props\":{}}",
		"{\"class\":\"X\",\"props\":[" P("A", "UInt8", "\"256\"") "]}",
		"{\"class\":\"X\",\"props\":[" P("A", "Float", "\"1\"") "]}",
		"{\"class\":\"X\",\"props\":[" P("A", "Boolean", "\"yes\"") "]}",
		"{\"class\":\"X\",\"props\":[" P("A", "UInt8", "7") "]}",
		"{\"class\":\"X\",\"props\":[" P("A", "Char16", "\"ab\"") "]}",
		"{\"class\":\"X\",\"props\":[" A("A", "UInt8", "\"1\"") "]}",
		"{\"class\":\"X\",\"props\":[" A("A", "UInt8", "[null]") "]}",
		"{\"class\":\"X\",\"props\":[" P("A", "String", "\"1\"") "," P("a", "String", "\"2\"") "]}",
		"{\"class\":\"X\",\"props\":[" P("A", "Reference", "\"x\"") "]}",
		"{\"class\":\"X\",\"props\":[{\"type\":\"String\",\"value\":\"x\"}]}",
		"{\"class\":\"X\",\"class\":\"Y\",\"props\":[]}",
		"{\"class\":\"bad name!\",\"props\":[]}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = decode_fails(bad[i]);
		if (rc != RMS_E_PROTOCOL)
			fail_msg("line %zu: %s gave %s", i, bad[i], rms_error_code_name(rc));
		assert_int_equal(rms_error_phase(rms_error_last()), RMS_PHASE_DECODE);
	}
	/* Nesting is bounded. */
	char deep[8192] = "";
	size_t n = 0;
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(deep + n, sizeof deep - n,
		                      "{\"class\":\"X\",\"props\":[{\"name\":\"E\",\"type\":"
		                      "\"Instance\",\"array\":false,\"value\":");
	n += (size_t)snprintf(deep + n, sizeof deep - n, "null");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(deep + n, sizeof deep - n, "}]}");
	assert_int_equal(decode_fails(deep), RMS_E_PROTOCOL);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "nested deeper"));
}

static void test_a_failure_that_is_not_a_cim_one_has_no_cim_status(void **state)
{
	(void)state;
	int rc = decode_fails("{\"error\":{\"message\":\"Get-CimInstance is not available\","
	                      "\"status\":0,\"missing\":\"Get-CimInstance\"}}");
	assert_int_equal(rc, RMS_E_FAULT);
	const rms_error *e = rms_error_last();
	assert_int_equal(rms_error_cim_status(e), 0);
	assert_non_null(strstr(rms_error_message(e), "has no CIM cmdlets"));
}

/* The missing cmdlets are told by the script's marker, never by the words
 * of PowerShell's (localized) message. */
static void test_missing_cmdlets_are_told_by_the_marker_not_the_text(void **state)
{
	(void)state;
	int rc = decode_fails("{\"error\":{\"message\":\"The term 'Get-CimInstance' is not "
	                      "recognized as the name of a cmdlet\",\"status\":0}}");
	assert_int_equal(rc, RMS_E_FAULT);
	const char *m = rms_error_message(rms_error_last());
	assert_null(strstr(m, "has no CIM cmdlets"));
	assert_non_null(strstr(m, "the remote CIM script failed"));
	assert_int_equal(decode_fails("{\"error\":{\"message\":\"Le terme Get-CimInstance "
	                              "n'est pas reconnu\",\"status\":0,\"missing\":"
	                              "\"Get-CimInstance\"}}"),
	                 RMS_E_FAULT);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "has no CIM cmdlets"));
	/* The script writes that marker itself, before it reads its
	 * parameters (which PowerShell 2.0 could not). */
	rms_request *r;
	assert_int_equal(rms_request_new(&r, RMS_OP_ENUMERATE), 0);
	assert_int_equal(rms_request_set_class(r, "Win32_Service"), 0);
	char *script = NULL;
	assert_int_equal(rms__ps_cim_script(&script, r, "root/cimv2"), 0);
	const char *check = strstr(script, "Get-Command Get-CimInstance");
	const char *marker = strstr(script, "\"missing\":\"Get-CimInstance\"");
	const char *params = strstr(script, "$r = ConvertFrom-Json");
	assert_non_null(check);
	assert_non_null(marker);
	assert_non_null(params);
	assert_true(check < marker && marker < params);
	free(script);
	rms_request_free(r);
}

static void test_error_line_is_a_remote_fault_with_cim_status(void **state)
{
	(void)state;
	int rc = decode_fails("{\"error\":{\"message\":\"Invalid class \",\"status\":5}}");
	assert_int_equal(rc, RMS_E_FAULT);
	const rms_error *e = rms_error_last();
	assert_int_equal(rms_error_phase(e), RMS_PHASE_REMOTE);
	assert_int_equal(rms_error_cim_status(e), 5);
	assert_non_null(strstr(rms_error_message(e), "Invalid class (CIM status 5, INVALID_CLASS)"));
}

/* ---- the reader -------------------------------------------------------------- */

#define LINE1 "{\"class\":\"X\",\"props\":[" P("A", "UInt8", "\"1\"") "]}"
#define LINE2 "{\"class\":\"X\",\"props\":[" P("A", "UInt8", "\"2\"") "]}"

static void test_reader_splits_lines_across_chunks(void **state)
{
	(void)state;
	const char all[] = LINE1 "\r\n\r\n" LINE2 "\r\n";
	rms_ps_cim_reader r;
	assert_int_equal(rms__ps_cim_reader_init(&r, 0, "root/cimv2"), 0);
	rms_instance *inst = NULL;
	uint8_t got[2];
	int k = 0;
	/* One byte at a time: every split point. */
	for (size_t i = 0; i < sizeof all - 1; i++) {
		assert_int_equal(rms__ps_cim_feed(&r, RMS_STREAM_STDOUT, all + i, 1), 0);
		int rc;
		while ((rc = rms__ps_cim_take(&r, &inst)) == 0) {
			assert_true(k < 2);
			assert_int_equal(rms_value_get_uint8(rms_instance_get(inst, "A"), &got[k++]), 0);
			rms_instance_free(inst);
		}
		assert_int_equal(rc, RMS_EAGAIN);
	}
	assert_int_equal(k, 2);
	assert_int_equal(got[0], 1);
	assert_int_equal(got[1], 2);
	assert_int_equal(rms__ps_cim_end(&r, 0, &inst), RMS_ITEROVER);
	rms__ps_cim_reader_free(&r);
}

/* Found by tests/fuzz/fuzz_ps_cim_reader (corpus/ps_cim_reader/
 * blank-lines-ready): with only blank lines buffered, ready said a line was
 * there and take then returned RMS_EAGAIN. */
static void test_reader_is_not_ready_on_blank_lines(void **state)
{
	(void)state;
	rms_ps_cim_reader r;
	assert_int_equal(rms__ps_cim_reader_init(&r, 0, "root/cimv2"), 0);
	rms_instance *inst = NULL;
	assert_int_equal(rms__ps_cim_feed(&r, RMS_STREAM_STDOUT, "\n\r\n \r\n", 6), 0);
	assert_false(rms__ps_cim_ready(&r));
	assert_int_equal(rms__ps_cim_take(&r, &inst), RMS_EAGAIN);
	assert_false(rms__ps_cim_ready(&r));
	const char line[] = "\n" LINE2;
	assert_int_equal(rms__ps_cim_feed(&r, RMS_STREAM_STDOUT, line, sizeof line - 1), 0);
	assert_false(rms__ps_cim_ready(&r));
	assert_int_equal(rms__ps_cim_feed(&r, RMS_STREAM_STDOUT, "\r\n", 2), 0);
	assert_true(rms__ps_cim_ready(&r));
	assert_int_equal(rms__ps_cim_take(&r, &inst), 0);
	rms_instance_free(inst);
	assert_false(rms__ps_cim_ready(&r));
	rms__ps_cim_reader_free(&r);
}

static void test_reader_decodes_an_unterminated_last_line(void **state)
{
	(void)state;
	rms_ps_cim_reader r;
	assert_int_equal(rms__ps_cim_reader_init(&r, 0, NULL), 0);
	assert_int_equal(rms__ps_cim_feed(&r, RMS_STREAM_STDOUT, LINE1, strlen(LINE1)), 0);
	rms_instance *inst = NULL;
	assert_int_equal(rms__ps_cim_take(&r, &inst), RMS_EAGAIN);
	assert_int_equal(rms__ps_cim_end(&r, 0, &inst), 0);
	assert_non_null(inst);
	rms_instance_free(inst);
	assert_int_equal(rms__ps_cim_end(&r, 0, &inst), RMS_ITEROVER);
	rms__ps_cim_reader_free(&r);
}

static void test_reader_caps_one_line_at_the_object_size(void **state)
{
	(void)state;
	rms_ps_cim_reader r;
	assert_int_equal(rms__ps_cim_reader_init(&r, 100, NULL), 0);
	/* A line of 99 bytes and its break pass; one byte more per line does
	 * not, even when it arrives in pieces. */
	char line[100];
	memset(line, ' ', 99);
	line[99] = '\n';
	assert_int_equal(rms__ps_cim_feed(&r, RMS_STREAM_STDOUT, line, 100), 0);
	rms_instance *inst = NULL;
	assert_int_equal(rms__ps_cim_take(&r, &inst), RMS_EAGAIN);
	assert_int_equal(rms__ps_cim_feed(&r, RMS_STREAM_STDOUT, line, 60), 0);
	assert_int_equal(rms__ps_cim_feed(&r, RMS_STREAM_STDOUT, line, 41), RMS_E_LIMIT);
	const rms_error *e = rms_error_last();
	assert_string_equal(rms_error_limit_name(e), "MaximumReceivedObjectSize");
	assert_int_equal(rms_error_limit_value(e), 100);
	assert_int_equal(rms_error_limit_actual(e), 101);
	rms__ps_cim_reader_free(&r);
}

/* Every line of a chunk is held to the cap, not just its first, and so is
 * an unterminated last line. */
static void test_reader_caps_every_line_of_a_chunk(void **state)
{
	(void)state;
	rms_ps_cim_reader r;
	char chunk[300];
	memset(chunk, 'x', sizeof chunk);
	chunk[10] = '\n';  /* a line of 10 */
	chunk[250] = '\n'; /* then one of 239: over 100 */
	assert_int_equal(rms__ps_cim_reader_init(&r, 100, NULL), 0);
	assert_int_equal(rms__ps_cim_feed(&r, RMS_STREAM_STDOUT, chunk, sizeof chunk), RMS_E_LIMIT);
	assert_int_equal(rms_error_limit_actual(rms_error_last()), 239);
	rms__ps_cim_reader_free(&r);
	/* A partial line is checked when the output ends, too. */
	assert_int_equal(rms__ps_cim_reader_init(&r, 0, NULL), 0);
	assert_int_equal(rms__ps_cim_feed(&r, RMS_STREAM_STDOUT, chunk, 200), 0);
	r.max_line = 100;
	rms_instance *inst = NULL;
	assert_int_equal(rms__ps_cim_end(&r, 0, &inst), RMS_E_LIMIT);
	rms__ps_cim_reader_free(&r);
}

/* A failed command's last line: an instance is still delivered, then the
 * failure; a malformed one gives way to the exit code's explanation. */
static void test_reader_end_of_a_failed_command_with_a_last_line(void **state)
{
	(void)state;
	rms_ps_cim_reader r;
	rms_instance *inst = NULL;
	assert_int_equal(rms__ps_cim_reader_init(&r, 0, NULL), 0);
	assert_int_equal(rms__ps_cim_feed(&r, RMS_STREAM_STDOUT, LINE1, strlen(LINE1)), 0);
	assert_int_equal(rms__ps_cim_end(&r, 1, &inst), 0);
	assert_non_null(inst);
	rms_instance_free(inst);
	assert_int_equal(rms__ps_cim_end(&r, 1, &inst), RMS_E_FAULT);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "(exit code 1)"));
	rms__ps_cim_reader_free(&r);

	assert_int_equal(rms__ps_cim_reader_init(&r, 0, NULL), 0);
	assert_int_equal(rms__ps_cim_feed(&r, RMS_STREAM_STDOUT, "{\"class\":", 10), 0);
	/* stderr in an OEM codepage, cut inside nothing valid: shown as text */
	assert_int_equal(rms__ps_cim_feed(&r, RMS_STREAM_STDERR, "Zugriff verweigert \x84", 20), 0);
	assert_int_equal(rms__ps_cim_end(&r, 5, &inst), RMS_E_FAULT);
	const char *m = rms_error_message(rms_error_last());
	assert_non_null(strstr(m, "(exit code 5): Zugriff verweigert \xEF\xBF\xBD"));
	assert_true(rms__utf8_valid(m, strlen(m)));
	rms__ps_cim_reader_free(&r);
}

static void test_reader_end_explains_a_failed_command(void **state)
{
	(void)state;
	rms_ps_cim_reader r;
	rms_instance *inst = NULL;
	assert_int_equal(rms__ps_cim_reader_init(&r, 0, NULL), 0);
	const char *msg = "'powershell.exe' is not recognized as an internal or external command,\r\n";
	assert_int_equal(rms__ps_cim_feed(&r, RMS_STREAM_STDERR, msg, strlen(msg)), 0);
	assert_int_equal(rms__ps_cim_end(&r, 9009, &inst), RMS_E_FAULT);
	const char *m = rms_error_message(rms_error_last());
	assert_non_null(strstr(m, "PowerShell is not available on the remote computer"));
	assert_non_null(strstr(m, "(exit code 9009): 'powershell.exe' is not recognized"));
	rms__ps_cim_reader_free(&r);

	/* The exit code decides, not the (localized) words on stderr. */
	assert_int_equal(rms__ps_cim_reader_init(&r, 0, NULL), 0);
	assert_int_equal(rms__ps_cim_feed(&r, RMS_STREAM_STDERR, msg, strlen(msg)), 0);
	assert_int_equal(rms__ps_cim_end(&r, 1, &inst), RMS_E_FAULT);
	m = rms_error_message(rms_error_last());
	assert_null(strstr(m, "PowerShell is not available"));
	assert_non_null(strstr(m, "the remote CIM script failed (exit code 1)"));
	rms__ps_cim_reader_free(&r);

	/* Another failure keeps the start of stderr, and says it was cut. */
	assert_int_equal(rms__ps_cim_reader_init(&r, 0, NULL), 0);
	char big[5000];
	memset(big, 'e', sizeof big);
	assert_int_equal(rms__ps_cim_feed(&r, RMS_STREAM_STDERR, big, sizeof big), 0);
	assert_int_equal(rms__ps_cim_end(&r, 2, &inst), RMS_E_FAULT);
	m = rms_error_message(rms_error_last());
	assert_non_null(strstr(m, "the remote CIM script failed (exit code 2): eee"));
	assert_non_null(strstr(m, "[stderr cut]"));
	rms__ps_cim_reader_free(&r);
}

/* ---- against the endpoint ------------------------------------------------------- */

#define opts_for rms_endpoint_session_options

static int setup(void **state)
{
	static const char *const args[] = { "--instances", "300", NULL };
	if (!(*state = rms_endpoint_spawn(args)))
		fail_msg("could not start the test endpoint");
	return 0;
}

static int teardown(void **state)
{
	rms_endpoint_kill(*state);
	rms_error_clear();
	return 0;
}

static rms_session *session(const rms_session_options *o, rms_backend b)
{
	rms_session *s = NULL;
	if (rms_session_new(&s, b, o))
		fail_msg("session: %s", rms_error_message(rms_error_last()));
	return s;
}

/* All instances of an op, in order. */
static size_t drain(rms_op *op, rms_instance **out, size_t max)
{
	size_t n = 0;
	rms_instance *inst;
	int rc;
	while ((rc = rms_op_next(op, &inst)) == 0) {
		assert_true(n < max);
		out[n++] = inst;
	}
	if (rc != RMS_ITEROVER)
		fail_msg("next: %s", rms_error_message(rms_error_last()));
	return n;
}

static void free_all(rms_instance **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rms_instance_free(v[i]);
}

/*
 * WS-Management cannot carry an empty array: an array property with no
 * elements has no element in the XML, so the CIM backend sees no property,
 * while the remote Get-CimInstance sees an empty array. That is the one
 * known difference between the two paths; the comparison record reports it
 * (see docs/behaviour.md). Here it is taken out of the PSSession side so
 * everything else is compared exactly.
 */
static rms_instance *drop_empty_arrays(rms_instance *inst, const rms_instance *cim)
{
	rms_instance *keep;
	assert_int_equal(rms_instance_new(&keep, rms_instance_namespace(inst),
	                                  rms_instance_class_name(inst)),
	                 0);
	for (size_t k = 0; k < rms_instance_count(inst); k++) {
		const char *name;
		const rms_value *v;
		unsigned flags;
		rms_instance_at(inst, k, &name, &v, &flags);
		if ((rms_value_type(v) & RMS_TYPE_ARRAY) && !rms_value_is_null(v) &&
		    rms_value_array_length(v) == 0 && !rms_instance_get(cim, name))
			continue;
		rms_value *copy;
		assert_int_equal(rms_value_dup(&copy, v), 0);
		assert_int_equal(rms_instance_set(keep, name, copy, flags), 0);
	}
	rms_instance_free(inst);
	return keep;
}

/* Fails naming the first property that differs, with both values. */
static void report_difference(size_t i, const rms_instance *x, const rms_instance *y)
{
	for (size_t k = 0; k < rms_instance_count(x); k++) {
		const char *name;
		const rms_value *vx;
		rms_instance_at(x, k, &name, &vx, NULL);
		const rms_value *vy = rms_instance_get(y, name);
		if (vy && rms_value_equal(vx, vy))
			continue;
		char *tx = NULL, *ty = NULL;
		rms_value_to_text(&tx, vx);
		if (vy)
			rms_value_to_text(&ty, vy);
		print_error("instance %zu (%s), property %s: CIM %s (%s), PSSession %s (%s)\n", i,
		            rms_instance_class_name(x), name, tx ? tx : "?",
		            rms_type_name(rms_value_type(vx)), ty ? ty : "(missing)",
		            vy ? rms_type_name(rms_value_type(vy)) : "-");
		rms_free(tx);
		rms_free(ty);
		fail();
	}
	fail_msg("instance %zu: same properties of CIM's, but %zu against %zu properties", i,
	         rms_instance_count(x), rms_instance_count(y));
}

static void assert_same_results(rms_op *a, rms_op *b)
{
	enum { MAX = 400 };
	rms_instance *x[MAX], *y[MAX];
	size_t nx = drain(a, x, MAX), ny = drain(b, y, MAX);
	assert_true(nx > 0);
	assert_int_equal(nx, ny);
	for (size_t i = 0; i < nx; i++) {
		y[i] = drop_empty_arrays(y[i], x[i]);
		if (!rms_instance_equal(x[i], y[i]))
			report_difference(i, x[i], y[i]);
	}
	free_all(x, nx);
	free_all(y, ny);
}

static void test_enumerate_through_the_pssession_equals_cim(void **state)
{
	rms_endpoint_proc *ep = *state;
	rms_session_options o = opts_for(ep);
	rms_session *cim = session(&o, RMS_BACKEND_CIM);
	rms_session *ps = session(&o, RMS_BACKEND_PSSESSION);
	static const char *const classes[] = { "Win32_Service", "X_Number",
		                               "Win32_DependentService", "Win32_Process" };
	for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
		rms_op *a, *b;
		assert_int_equal(rms_enumerate(&a, cim, NULL, classes[i]), 0);
		assert_int_equal(rms_enumerate(&b, ps, NULL, classes[i]), 0);
		assert_int_equal(rms_op_backend(b), RMS_BACKEND_PSSESSION);
		assert_same_results(a, b);
		rms_op_free(a);
		rms_op_free(b);
	}
	/* The PSSession's work ran remotely as commands in its one shell: no
	 * WS-Man CIM request came from it. */
	assert_int_equal(rms_endpoint_reset(ep), 0);
	rms_op *b;
	assert_int_equal(rms_enumerate(&b, ps, NULL, "Win32_Service"), 0);
	rms_instance *inst;
	while (rms_op_next(b, &inst) == 0)
		rms_instance_free(inst);
	rms_op_free(b);
	assert_int_equal(rms_endpoint_stat(ep, "ps_cim_commands"), 1);
	assert_int_equal(rms_endpoint_stat(ep, "commands_run"), 1);
	assert_true(rms_endpoint_stat(ep, "requests_by_kind.cim") <= 0);
	assert_int_equal(rms_endpoint_stat(ep, "connections_accepted"), 0);
	rms_session_free(ps);
	rms_session_free(cim);
}

static void test_query_and_get_through_the_pssession_equal_cim(void **state)
{
	rms_endpoint_proc *ep = *state;
	rms_session_options o = opts_for(ep);
	rms_session *cim = session(&o, RMS_BACKEND_CIM);
	rms_session *ps = session(&o, RMS_BACKEND_PSSESSION);
	const char *wql = "SELECT Name, State FROM Win32_Service WHERE StartMode = 'Auto'";
	rms_op *a, *b;
	assert_int_equal(rms_query(&a, cim, NULL, wql), 0);
	assert_int_equal(rms_query(&b, ps, NULL, wql), 0);
	assert_same_results(a, b);
	rms_op_free(a);
	rms_op_free(b);

	rms_ref *key;
	assert_int_equal(rms_ref_new(&key, NULL, "X_Number"), 0);
	assert_int_equal(rms_ref_add_selector(key, "Id", "42"), 0);
	rms_instance *x = NULL, *y = NULL;
	assert_int_equal(rms_get(&x, cim, key), 0);
	assert_int_equal(rms_get(&y, ps, key), 0);
	/* Key flags come across as the CIM backend has them from the schema. */
	for (size_t k = 0; k < rms_instance_count(y); k++) {
		const char *name;
		unsigned fx = 0, fy;
		rms_instance_at(y, k, &name, NULL, &fy);
		for (size_t m = 0; m < rms_instance_count(x); m++) {
			const char *nx;
			unsigned f;
			rms_instance_at(x, m, &nx, NULL, &f);
			if (strcmp(nx, name) == 0)
				fx = f;
		}
		assert_int_equal(fy & RMS_PROP_KEY, fx & RMS_PROP_KEY);
		assert_int_equal((fy & RMS_PROP_KEY) != 0, strcmp(name, "Id") == 0);
	}
	/* X_Number 42 has an empty Words array: absent from CIM's answer. */
	const rms_value *words = rms_instance_get(y, "Words");
	assert_non_null(words);
	assert_int_equal(rms_value_array_length(words), 0);
	assert_null(rms_instance_get(x, "Words"));
	y = drop_empty_arrays(y, x);
	assert_true(rms_instance_equal(x, y));
	rms_instance_free(x);
	rms_instance_free(y);
	rms_ref_free(key);
	rms_session_free(ps);
	rms_session_free(cim);
}

static void test_remote_errors_carry_their_cim_status(void **state)
{
	rms_endpoint_proc *ep = *state;
	rms_session_options o = opts_for(ep);
	rms_session *ps = session(&o, RMS_BACKEND_PSSESSION);
	rms_op *op;
	rms_instance *inst = NULL;
	rms_error *err = NULL;
	/* An unknown class. */
	assert_int_equal(rms_enumerate(&op, ps, NULL, "Win32_NoSuchClass"), 0);
	assert_int_equal(rms_op_next(op, &inst), RMS_E_FAULT);
	assert_int_equal(rms_error_cim_status(rms_error_last()), 5);
	assert_int_equal(rms_error_backend(rms_error_last()), RMS_BACKEND_PSSESSION);
	rms_op_free(op);
	/* No instance with that key. */
	rms_ref *key;
	assert_int_equal(rms_ref_new(&key, NULL, "Win32_Service"), 0);
	assert_int_equal(rms_ref_add_selector(key, "Name", "NoSuchService"), 0);
	rms_error_clear();
	assert_int_equal(rms_get(&inst, ps, key), RMS_E_FAULT);
	err = rms_error_dup(rms_error_last());
	assert_int_equal(rms_error_cim_status(err), 6);
	assert_non_null(strstr(rms_error_message(err), "NOT_FOUND"));
	rms_error_free(err);
	rms_ref_free(key);
	/* A bad query. */
	assert_int_equal(rms_query(&op, ps, NULL, "SELECT FROM"), 0);
	assert_int_equal(rms_op_next(op, &inst), RMS_E_FAULT);
	assert_int_equal(rms_error_cim_status(rms_error_last()), 15);
	rms_op_free(op);
	/* The session is still fine: remote errors are not transport errors. */
	assert_int_equal(rms_session_state_get(ps), RMS_STATE_OPENED);
	assert_int_equal(rms_enumerate(&op, ps, NULL, "Win32_OperatingSystem"), 0);
	assert_int_equal(rms_op_next(op, &inst), 0);
	rms_instance_free(inst);
	rms_op_free(op);
	rms_session_free(ps);
}

static void test_query_output_is_capped_per_command_and_per_object(void **state)
{
	rms_endpoint_proc *ep = *state;
	rms_session_options o = opts_for(ep);
	/* Every X_Number line is some 1.5 KB: 300 of them are far over 64 KB. */
	o.pssession.max_received_per_command = 64 * 1024;
	rms_session *ps = session(&o, RMS_BACKEND_PSSESSION);
	rms_op *op;
	rms_instance *inst;
	assert_int_equal(rms_enumerate(&op, ps, NULL, "X_Number"), 0);
	int rc;
	uint64_t n = 0;
	while ((rc = rms_op_next(op, &inst)) == 0) {
		rms_instance_free(inst);
		n++;
	}
	assert_int_equal(rc, RMS_E_LIMIT);
	const rms_error *e = rms_error_last();
	assert_string_equal(rms_error_limit_name(e), "MaximumReceivedDataSizePerCommand");
	assert_int_equal(rms_error_limit_value(e), 64 * 1024);
	/* Stopped before the end; what was delivered stayed within the cap. */
	assert_true(n < 300);
	assert_true(n * 1000 <= 64 * 1024);
	assert_true(rms_error_limit_actual(e) > 64 * 1024);
	rms_op_free(op);
	rms_session_free(ps);

	o.pssession.max_received_per_command = RMS_LIMIT_DEFAULT;
	o.pssession.max_received_object_size = 512; /* smaller than one instance */
	ps = session(&o, RMS_BACKEND_PSSESSION);
	assert_int_equal(rms_enumerate(&op, ps, NULL, "X_Number"), 0);
	assert_int_equal(rms_op_next(op, &inst), RMS_E_LIMIT);
	assert_string_equal(rms_error_limit_name(rms_error_last()), "MaximumReceivedObjectSize");
	rms_op_free(op);
	/* The command was stopped and the session is usable. */
	assert_int_equal(rms_session_state_get(ps), RMS_STATE_OPENED);
	rms_session_free(ps);
}


/* A step that waits says on what: a descriptor or a deadline. */
static void wait_for(const rms_wait *w)
{
	assert_true(w->nfds > 0 || w->deadline_ms != 0);
	assert_int_equal(rms__wait_block(w), 0);
}

/* All instances of a non-blocking op, through next and step by hand. */
static size_t drain_by_hand(rms_op *op, rms_instance **out, size_t max)
{
	size_t n = 0;
	for (;;) {
		rms_instance *inst = NULL;
		int rc = op->session->ops->next(op, &inst);
		if (rc == 0) {
			assert_true(n < max);
			out[n++] = inst;
			continue;
		}
		if (rc == RMS_ITEROVER)
			break;
		assert_int_equal(rc, RMS_EAGAIN);
		rms_wait w;
		while ((rc = op->session->ops->step(op, &w)) == RMS_EAGAIN)
			wait_for(&w);
		assert_int_equal(rc, 0);
	}
	assert_true(op->ended);
	return n;
}

static void test_cim_operations_stepped_by_hand_equal_the_blocking_ones(void **state)
{
	rms_endpoint_proc *ep = *state;
	rms_session_options o = opts_for(ep);
	rms_session *ps = session(&o, RMS_BACKEND_PSSESSION);
	enum { MAX = 400 };
	rms_instance *x[MAX], *y[MAX];
	const char *wql = "SELECT Name, State FROM Win32_Service WHERE StartMode = 'Auto'";
	rms_op *a;
	assert_int_equal(rms_query(&a, ps, NULL, wql), 0);
	size_t nx = drain(a, x, MAX);
	rms_op_free(a);
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_QUERY), 0);
	assert_int_equal(rms_request_set_query(req, NULL, wql), 0);
	rms_op *b = NULL;
	assert_int_equal(rms__op_start_nb(&b, ps, req, "test", true), 0);
	rms_request_free(req);
	size_t ny = drain_by_hand(b, y, MAX);
	rms_op_free(b);
	assert_true(nx > 0);
	assert_int_equal(nx, ny);
	for (size_t i = 0; i < nx; i++)
		assert_true(rms_instance_equal(x[i], y[i]));
	free_all(x, nx);
	free_all(y, ny);

	/* A get: step until it has ended, with its one result on the op. */
	rms_ref *key;
	assert_int_equal(rms_ref_new(&key, NULL, "X_Number"), 0);
	assert_int_equal(rms_ref_add_selector(key, "Id", "42"), 0);
	rms_instance *want = NULL;
	assert_int_equal(rms_get(&want, ps, key), 0);
	assert_int_equal(rms_request_new(&req, RMS_OP_GET), 0);
	assert_int_equal(rms_request_set_ref(req, key), 0);
	assert_int_equal(rms__op_start_nb(&b, ps, req, "test", true), 0);
	rms_request_free(req);
	rms_wait w;
	int rc;
	while ((rc = b->session->ops->step(b, &w)) == RMS_EAGAIN || (rc == 0 && !b->ended))
		if (rc == RMS_EAGAIN)
			wait_for(&w);
	assert_int_equal(rc, 0);
	assert_non_null(b->result);
	assert_true(rms_instance_equal(want, b->result));
	rms_op_free(b);
	rms_instance_free(want);
	rms_ref_free(key);
	rms_session_free(ps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command_is_powershell_with_the_encoded_script),
		cmocka_unit_test(test_typographic_quotes_cannot_end_the_request_string),
		cmocka_unit_test(test_get_script_carries_the_keys),
		cmocka_unit_test(test_too_long_a_query_is_refused_before_sending),
		cmocka_unit_test(test_every_type_decodes),
		cmocka_unit_test(test_malformed_lines_are_protocol_errors),
		cmocka_unit_test(test_error_line_is_a_remote_fault_with_cim_status),
		cmocka_unit_test(test_a_failure_that_is_not_a_cim_one_has_no_cim_status),
		cmocka_unit_test(test_missing_cmdlets_are_told_by_the_marker_not_the_text),
		cmocka_unit_test(test_reader_splits_lines_across_chunks),
		cmocka_unit_test(test_reader_is_not_ready_on_blank_lines),
		cmocka_unit_test(test_reader_decodes_an_unterminated_last_line),
		cmocka_unit_test(test_reader_caps_one_line_at_the_object_size),
		cmocka_unit_test(test_reader_caps_every_line_of_a_chunk),
		cmocka_unit_test(test_reader_end_of_a_failed_command_with_a_last_line),
		cmocka_unit_test(test_reader_end_explains_a_failed_command),
		cmocka_unit_test_setup_teardown(test_enumerate_through_the_pssession_equals_cim, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_query_and_get_through_the_pssession_equal_cim,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_remote_errors_carry_their_cim_status, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_query_output_is_capped_per_command_and_per_object,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_cim_operations_stepped_by_hand_equal_the_blocking_ones, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
