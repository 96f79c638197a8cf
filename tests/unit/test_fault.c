/*
 * SOAP fault decoding (core/wsman/fault.c) over faults recorded from Windows and
 * other WS-Man servers, plus one table-driven pass over every document in
 * RMS_FIXTURES_DIR: each envelope opens with the streaming SOAP reader
 * (core/wsman/xml.c), its headers and body elements read, and each fault decodes
 * to the outcome named in a table.
 *
 * Fixture folders and the projects they come from:
 *   WinRb-WinRM/          WinRM Ruby gem (WinRb/WinRM) test stubs
 *   adstep-WinRMSharp/    WinRMSharp (adstep/WinRMSharp) recorded sessions
 *   diyan-pywinrm/        pywinrm (diyan/pywinrm) test constants
 *   jborean93-pypsrp/     pypsrp (jborean93/pypsrp) recorded conversations
 *   masterzen-winrm/      Go winrm (masterzen/winrm) test constants
 *   samples/              OMI (microsoft/omi) MI client requests and an
 *                         openwsman (Openwsman/openwsman) Invoke response
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "fixture.h"
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "error_internal.h"
#include "fault.h"
#include "remsess/error.h"
#include "util.h"
#include "xml.h"

#define WINRB "WinRb-WinRM/tests/spec/stubs/responses/"
#define DIYAN "diyan-pywinrm/extracted-from-winrm-tests-test_exceptions.py/"
#define MASTERZEN "masterzen-winrm/extracted-from-fixture_test.go/"
#define PYPSRP "jborean93-pypsrp/responses/"
#define ADSTEP "adstep-WinRMSharp/src/WinRMSharp.Tests/Data/Sessions/"

/* ---- helpers ------------------------------------------------------------ */

static const char *last_msg(void)
{
	const char *m = rms_error_message(rms_error_last());
	return m ? m : "(no error)";
}

static void assert_msg_has(const char *needle)
{
	const char *m = last_msg();
	if (!strstr(m, needle))
		fail_msg("error message \"%s\" does not mention \"%s\"", m, needle);
}

static void assert_str_or_null(const char *got, const char *want)
{
	if (!want) {
		if (got)
			fail_msg("expected NULL, got \"%s\"", got);
		return;
	}
	if (!got)
		fail_msg("expected \"%s\", got NULL", want);
	assert_string_equal(got, want);
}

/* No control characters, at most the cap plus "…". */
static void assert_clean(const char *s)
{
	if (!s)
		return;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			fail_msg("control character 0x%02x in \"%s\"", *p, s);
}

static char *read_fixture(const char *rel, size_t *len)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", RMS_FIXTURES_DIR, rel);
	return rms_fixture_file(path, len);
}

/* One line of text at *p (not including '\n'); advances *p. */
static bool next_line(const char **p, const char **line, size_t *len)
{
	if (!**p)
		return false;
	const char *nl = strchr(*p, '\n');
	*line = *p;
	*len = nl ? (size_t)(nl - *p) : strlen(*p);
	*p = nl ? nl + 1 : *p + *len;
	return true;
}

static bool starts(const char *line, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && strncmp(line, prefix, n) == 0;
}

/*
 * pypsrp conversation files: "  response: <envelope>" lines (YAML plain
 * scalars, continued on further-indented lines whose breaks fold into
 * spaces), optionally followed by "  transport_error:" with "    code: N".
 * Calls fn for each response; "null" responses are passed as NULL.
 */
typedef void (*yml_fn)(void *ctx, int index, const char *body, int http_status);

static int pypsrp_each(const char *text, yml_fn fn, void *ctx)
{
	const char *p = text, *line;
	size_t len;
	rms_buf cur;
	rms__buf_init(&cur);
	int index = -1, status = 200;
	bool in_value = false, have = false;
	while (next_line(&p, &line, &len)) {
		if (in_value && starts(line, len, "   ")) {
			size_t i = 0;
			while (i < len && line[i] == ' ')
				i++;
			rms__buf_puts(&cur, " ");
			rms__buf_append(&cur, line + i, len - i);
			continue;
		}
		in_value = false;
		if (starts(line, len, "    code: ") && have)
			status = atoi(line + 10);
		if (starts(line, len, "  response: ") || starts(line, len, "- request: ")) {
			if (have) {
				assert_false(cur.failed);
				fn(ctx, index, strcmp(cur.data, "null") ? cur.data : NULL, status);
				have = false;
			}
		}
		if (starts(line, len, "  response: ")) {
			rms__buf_free(&cur);
			rms__buf_init(&cur);
			rms__buf_append(&cur, line + 12, len - 12);
			index++;
			status = 200;
			have = in_value = true;
		}
	}
	if (have)
		fn(ctx, index, strcmp(cur.data, "null") ? cur.data : NULL, status);
	rms__buf_free(&cur);
	return index + 1;
}

/*
 * WinRMSharp recordings: "  Response:" then "    StatusCode: N" and
 * "    Body: >-" with the body as a folded block scalar indented by six
 * spaces. Folding as YAML does it: a break between two lines that are not
 * indented further becomes a space, other breaks stay, an empty line is a
 * break of its own.
 */
static int winrmsharp_each(const char *text, yml_fn fn, void *ctx)
{
	const char *p = text, *line;
	size_t len;
	int index = -1, status = 0;
	bool in_response = false;
	while (next_line(&p, &line, &len)) {
		if (starts(line, len, "  Response:")) {
			in_response = true;
			index++;
			continue;
		}
		if (starts(line, len, "- Request:"))
			in_response = false;
		if (!in_response)
			continue;
		if (starts(line, len, "    StatusCode: "))
			status = atoi(line + 16);
		if (!starts(line, len, "    Body: >-"))
			continue;
		rms_buf body;
		rms__buf_init(&body);
		enum { NONE, NORMAL, MORE, EMPTY } prev = NONE;
		const char *q = p;
		while (next_line(&q, &line, &len)) {
			if (len && !starts(line, len, "      "))
				break;
			p = q;
			if (!len) {
				rms__buf_puts(&body, "\n");
				prev = EMPTY;
				continue;
			}
			const char *t = line + 6;
			size_t tl = len - 6;
			bool more = tl && (t[0] == ' ' || t[0] == '\t');
			if (prev == NORMAL && !more)
				rms__buf_puts(&body, " ");
			else if (prev == NORMAL || prev == MORE)
				rms__buf_puts(&body, "\n");
			rms__buf_append(&body, t, tl);
			prev = more ? MORE : NORMAL;
		}
		/* ">-": no final line breaks. */
		while (body.len && body.data[body.len - 1] == '\n')
			body.data[--body.len] = '\0';
		assert_false(body.failed);
		fn(ctx, index, body.data ? body.data : "", status);
		rms__buf_free(&body);
		in_response = false;
	}
	return index + 1;
}

/* ERB templates rendered with a dummy (base64 "dummy") for every tag. */
static char *render_erb(const char *text)
{
	rms_buf b;
	rms__buf_init(&b);
	const char *p = text, *tag;
	while ((tag = strstr(p, "<%=")) != NULL) {
		rms__buf_append(&b, p, (size_t)(tag - p));
		rms__buf_puts(&b, "ZHVtbXk=");
		const char *end = strstr(tag, "%>");
		assert_non_null(end);
		p = end + 2;
	}
	rms__buf_puts(&b, p);
	return rms__buf_take(&b);
}

/* Decode the first body element of an envelope as a fault. */
static int raise_from_envelope(const char *env, size_t len, int http_status)
{
	rms_soap_reader *r;
	int rc = rms__soap_reader_open(&r, env, len, NULL, "the fault envelope");
	if (rc)
		fail_msg("the envelope does not open: %s", last_msg());
	xmlNode *fault;
	assert_int_equal(rms__soap_reader_next(r, &fault), 0);
	assert_true(rms__xml_is(fault, RMS_NS_SOAP, "Fault"));
	rc = rms__fault_raise(fault, http_status);
	rms__soap_reader_free(r);
	assert_clean(last_msg());
	return rc;
}

static int raise_fixture(const char *rel, int http_status)
{
	size_t len;
	char *env = read_fixture(rel, &len);
	int rc = raise_from_envelope(env, len, http_status);
	free(env);
	return rc;
}

typedef struct pick {
	int want;
	char *body;
	int status;
} pick;

static void pick_one(void *ctx, int index, const char *body, int status)
{
	pick *p = ctx;
	if (index == p->want && body) {
		p->body = strdup(body);
		p->status = status;
	}
}

static int raise_pypsrp(const char *file, int index, int *status)
{
	size_t len;
	char *text = read_fixture(file, &len);
	pick p = {.want = index};
	pypsrp_each(text, pick_one, &p);
	free(text);
	if (!p.body)
		fail_msg("%s has no response #%d", file, index);
	*status = p.status;
	int rc = raise_from_envelope(p.body, strlen(p.body), p.status);
	free(p.body);
	return rc;
}

/* A fault body in an envelope declaring the usual prefixes. */
static int raise_body(const char *fault_xml, int http_status)
{
	char *env =
	    rms__asprintf("<s:Envelope xmlns:s=\"" RMS_NS_SOAP "\" xmlns:w=\"" RMS_NS_WSMAN_DMTF
	                  "\" xmlns:f=\"" RMS_NS_WSMANFAULT "\" xmlns:xsi=\"" RMS_NS_XSI_URI
	                  "\"><s:Body>%s</s:Body></s:Envelope>",
	                  fault_xml);
	assert_non_null(env);
	int rc = raise_from_envelope(env, strlen(env), http_status);
	free(env);
	return rc;
}

/* ---- recorded faults ---------------------------------------------------- */

static void test_winrb_wmi_error_v2_decodes_msft_wmierror(void **state)
{
	(void)state;
	/* Too many shells for the user: a quota, its own code. */
	assert_int_equal(raise_fixture(WINRB "wmi_error_v2.xml", 500), RMS_E_QUOTA);
	const rms_error *e = rms_error_last();
	assert_int_equal(rms_error_phase(e), RMS_PHASE_REMOTE);
	assert_string_equal(rms_error_fault_code(e), "s:Sender");
	assert_string_equal(rms_error_fault_subcode(e), "w:QuotaLimit");
	assert_string_equal(rms_error_fault_reason(e),
	                    "The WS-Management service cannot process the request. The maximum "
	                    "number of concurrent shells for this user has been exceeded. Close "
	                    "existing shells or raise the quota for this user.");
	assert_int_equal(rms_error_wmi_code(e), 2150859173u);
	assert_int_equal(rms_error_cim_status(e), 27);
	assert_int_equal(rms_error_wsman_code(e), 0);
	assert_int_equal(rms_error_http_status(e), 500);
	assert_non_null(
	    strstr(rms_error_wsman_message(e), "maximum number of 30 concurrent shells"));
	assert_null(rms_error_provider(e));
	assert_null(rms_error_machine(e));
	assert_null(rms_error_fault_detail(e));
	assert_msg_has("the server refused the request: The WS-Management service");
	assert_msg_has("(w:QuotaLimit, WMI error 0x803381A5: ");
	assert_msg_has("30 concurrent shells");
	assert_false(rms__fault_is_timed_out(e));
}

static void test_winrb_soap_fault_v1_takes_innermost_message_and_provider(void **state)
{
	(void)state;
	assert_int_equal(raise_fixture(WINRB "soap_fault_v1.xml", 500), RMS_E_FAULT);
	const rms_error *e = rms_error_last();
	assert_string_equal(rms_error_fault_code(e), "s:Sender");
	assert_string_equal(rms_error_fault_subcode(e), "n:CannotProcessFilter");
	/* Pretty-printed across lines on the wire: one line here. */
	assert_string_equal(rms_error_fault_reason(e),
	                    "The data source could not process the filter. The filter might be "
	                    "missing or it might be invalid. Change the filter and try the request "
	                    "again.");
	assert_int_equal(rms_error_wsman_code(e), 2150858778u);
	assert_string_equal(rms_error_wsman_message(e),
	                    "The specified class does not exist in the given namespace.");
	assert_string_equal(rms_error_provider(e), "WMIv1 plugin for Windows Remote Management");
	assert_null(rms_error_machine(e)); /* Machine='' at both levels */
	assert_int_equal(rms_error_wmi_code(e), 0);
	assert_int_equal(rms_error_http_status(e), 500);
	assert_msg_has("(n:CannotProcessFilter, WSManFault 2150858778, provider 'WMIv1 plugin for "
	               "Windows Remote Management': The specified class does not exist");
}

static void test_winrb_soap_fault_v2_reads_extended_status(void **state)
{
	(void)state;
	assert_int_equal(raise_fixture(WINRB "soap_fault_v2.xml", 500), RMS_E_FAULT);
	const rms_error *e = rms_error_last();
	assert_string_equal(rms_error_fault_subcode(e), "n:CannotProcessFilter");
	assert_int_equal(rms_error_wsman_code(e), 2150858778u);
	assert_string_equal(rms_error_machine(e), "localhost");
	assert_string_equal(rms_error_provider(e), "WMI Provider");
	assert_string_equal(rms_error_wsman_message(e),
	                    "The specified class does not exist in the given namespace.");
	/* __ExtendedStatus has StatusCode xsi:nil: no WMI number. */
	assert_int_equal(rms_error_wmi_code(e), 0);
}

static void test_winrb_omi_fault_uses_conventional_prefixes(void **state)
{
	(void)state;
	/* OMI writes SOAP-ENV: and wsman: prefixes. */
	assert_int_equal(raise_fixture(WINRB "soap_fault_omi.xml", 500), RMS_E_FAULT);
	const rms_error *e = rms_error_last();
	assert_string_equal(rms_error_fault_code(e), "s:Receiver");
	assert_string_equal(rms_error_fault_subcode(e), "w:InternalError");
	assert_string_equal(rms_error_fault_reason(e),
	                    "get-instance: instance name parameter is missing");
	assert_int_equal(rms_error_wsman_code(e), 0);
	assert_msg_has("the server failed to process the request: get-instance");
}

static void test_pywinrm_timed_out_fault_is_a_timeout(void **state)
{
	(void)state;
	assert_int_equal(raise_fixture(DIYAN "test_wsman_fault_known_fault.xml", 500),
	                 RMS_E_TIMEOUT);
	const rms_error *e = rms_error_last();
	assert_int_equal(rms_error_phase(e), RMS_PHASE_REMOTE);
	assert_string_equal(rms_error_fault_subcode(e), "w:TimedOut");
	assert_int_equal(rms_error_wsman_code(e), RMS_WSMAN_ERR_TIMED_OUT);
	assert_string_equal(rms_error_machine(e), "server2022.domain.test");
	assert_true(rms__fault_is_timed_out(e));
	/* The Message repeats the reason: said once. */
	const char *m = last_msg();
	const char *first = strstr(m, "OperationTimeout");
	assert_non_null(first);
	assert_null(strstr(first + 1, "OperationTimeout"));
}

static void test_pywinrm_must_understand_fault_has_code_only(void **state)
{
	(void)state;
	assert_int_equal(raise_fixture(DIYAN "test_wsman_fault_must_understand.xml", 500),
	                 RMS_E_FAULT);
	const rms_error *e = rms_error_last();
	assert_string_equal(rms_error_fault_code(e), "s:MustUnderstand");
	assert_null(rms_error_fault_subcode(e));
	assert_string_equal(rms_error_fault_reason(e), "Test reason.");
	assert_int_equal(rms_error_wsman_code(e), 0);
	assert_null(rms_error_wsman_message(e));
	assert_msg_has("Test reason. (s:MustUnderstand)");
}

static void test_pywinrm_fault_without_reason_says_so(void **state)
{
	(void)state;
	assert_int_equal(raise_fixture(DIYAN "test_wsman_fault_no_reason.xml", 500), RMS_E_FAULT);
	const rms_error *e = rms_error_last();
	assert_string_equal(rms_error_fault_code(e), "s:Unknown");
	assert_null(rms_error_fault_reason(e));
	assert_msg_has("no reason given (s:Unknown)");
}

static void test_pywinrm_fault_with_wsmanfault(void **state)
{
	(void)state;
	assert_int_equal(raise_fixture(DIYAN "test_wsman_fault_with_wsmanfault.xml", 500),
	                 RMS_E_FAULT);
	const rms_error *e = rms_error_last();
	assert_string_equal(rms_error_fault_subcode(e), "w:SchemaValidationError");
	assert_int_equal(rms_error_wsman_code(e), 2150858817u);
	assert_string_equal(rms_error_machine(e), "SERVER2008.domain.local");
	assert_string_equal(rms_error_fault_reason(e), "Reason text.");
	assert_string_equal(rms_error_wsman_message(e), "Detail message.");
	assert_msg_has("Reason text. (w:SchemaValidationError, WSManFault 2150858817: "
	               "Detail message.)");
}

static void test_pywinrm_fault_with_wmi_error_detail(void **state)
{
	(void)state;
	assert_int_equal(raise_fixture(DIYAN "test_wsman_fault_wmi_error_detail.xml", 500),
	                 RMS_E_FAULT);
	const rms_error *e = rms_error_last();
	assert_string_equal(rms_error_fault_code(e), "s:Receiver");
	assert_string_equal(rms_error_fault_subcode(e), "w:InternalError");
	assert_int_equal(rms_error_wmi_code(e), 2150859174u);
	assert_int_equal(rms_error_cim_status(e), 27);
	assert_string_equal(rms_error_wsman_message(e), "WMI Message.");
	assert_msg_has("WMI error 0x803381A6: WMI Message.");
}

static void test_pypsrp_bad_shell_id_is_invalid_selectors(void **state)
{
	(void)state;
	/* A Get of a shell that no longer exists (pypsrp's is-alive check). */
	int status;
	assert_int_equal(
	    raise_pypsrp(PYPSRP "test_psrp_is_alive_invalid_selectors.yml", 4, &status),
	    RMS_E_FAULT);
	assert_int_equal(status, 500);
	const rms_error *e = rms_error_last();
	assert_string_equal(rms_error_fault_code(e), "s:Sender");
	assert_string_equal(rms_error_fault_subcode(e), "w:InvalidSelectors");
	assert_string_equal(rms_error_fault_detail(e),
	                    "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/"
	                    "UnexpectedSelectors");
	assert_int_equal(rms_error_wsman_code(e), 2150858843u);
	assert_string_equal(rms_error_machine(e), "127.0.0.1");
	assert_string_equal(rms_error_provider(e), "Shell provider");
	assert_non_null(strstr(rms_error_wsman_message(e), "invalid selectors"));
	assert_int_equal(rms_error_http_status(e), 500);
	assert_msg_has("(w:InvalidSelectors, WSManFault 2150858843, provider 'Shell provider')");
	assert_false(rms__fault_is_timed_out(e));
}

static void test_provider_fault_text_is_the_message(void **state)
{
	(void)state;
	/* masterzen: a ProviderFault holding text instead of a WSManFault. */
	assert_int_equal(raise_fixture(MASTERZEN "executeCommandResponseWithError.xml", 500),
	                 RMS_E_FAULT);
	const rms_error *e = rms_error_last();
	assert_int_equal(rms_error_wsman_code(e), 2147942606u);
	assert_string_equal(rms_error_provider(e), "Shell cmd plugin");
	assert_string_equal(rms_error_wsman_message(e), "The filename or extension is too long.");
	assert_string_equal(rms_error_machine(e), "52.12.219.136");
}

static void test_receive_timed_out_fault_is_distinct(void **state)
{
	(void)state;
	assert_int_equal(raise_fixture(MASTERZEN "operationTimeoutResponse.xml", 500),
	                 RMS_E_TIMEOUT);
	const rms_error *e = rms_error_last();
	assert_int_equal(rms_error_code(e), RMS_E_TIMEOUT);
	assert_int_equal(rms_error_phase(e), RMS_PHASE_REMOTE);
	assert_true(rms__fault_is_timed_out(e));
	assert_string_equal(rms_error_machine(e), "127.0.0.1");
	assert_int_equal(rms_error_http_status(e), 500);
	assert_msg_has("the operation timed out on the server");
	/* Survives copying, as an operation keeps its own error. */
	rms_error *copy = rms_error_dup(e);
	assert_true(rms__fault_is_timed_out(copy));
	rms_error_free(copy);
	/* The same through pypsrp's recording of a WinRS Receive. */
	int status;
	assert_int_equal(raise_pypsrp(PYPSRP "test_winrs_operation_timeout.yml", 3, &status),
	                 RMS_E_TIMEOUT);
	assert_true(rms__fault_is_timed_out(rms_error_last()));
}

static void test_timed_out_is_recognised_by_code_alone(void **state)
{
	(void)state;
	assert_int_equal(raise_body("<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code>"
	                            "<s:Detail><f:WSManFault Code=\"2150858793\"/></s:Detail>"
	                            "</s:Fault>",
	                            500),
	                 RMS_E_TIMEOUT);
	assert_true(rms__fault_is_timed_out(rms_error_last()));
	/* Any prefix for the DMTF namespace. */
	assert_int_equal(raise_body("<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode>"
	                            "<s:Value xmlns:wsman=\"" RMS_NS_WSMAN_DMTF "\">wsman:TimedOut"
	                            "</s:Value></s:Subcode></s:Code></s:Fault>",
	                            500),
	                 RMS_E_TIMEOUT);
	assert_string_equal(rms_error_fault_subcode(rms_error_last()), "w:TimedOut");
	/* "w" bound to another namespace is not w:TimedOut. */
	assert_int_equal(raise_body("<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode>"
	                            "<s:Value xmlns:w=\"urn:other\">w:TimedOut</s:Value>"
	                            "</s:Subcode></s:Code></s:Fault>",
	                            500),
	                 RMS_E_FAULT);
	assert_false(rms__fault_is_timed_out(rms_error_last()));
}

static void test_is_timed_out_is_false_for_other_errors(void **state)
{
	(void)state;
	assert_false(rms__fault_is_timed_out(NULL));
	rms__error_set(RMS_E_TIMEOUT, RMS_PHASE_RECEIVE, "operation timed out after 30 s");
	assert_false(rms__fault_is_timed_out(rms_error_last()));
	assert_int_equal(raise_fixture(DIYAN "test_wsman_fault_with_wsmanfault.xml", 500),
	                 RMS_E_FAULT);
	assert_false(rms__fault_is_timed_out(rms_error_last()));
}

static void test_malformed_fault_is_still_a_fault(void **state)
{
	(void)state;
	assert_int_equal(raise_body("<s:Fault><s:Reason><s:Text>broken server</s:Text></s:Reason>"
	                            "</s:Fault>",
	                            500),
	                 RMS_E_FAULT);
	const rms_error *e = rms_error_last();
	assert_null(rms_error_fault_code(e));
	assert_string_equal(rms_error_fault_reason(e), "broken server");
	assert_int_equal(rms_error_phase(e), RMS_PHASE_REMOTE);
	assert_int_equal(rms_error_http_status(e), 500);
	assert_msg_has("malformed SOAP fault (no s:Code): broken server (no fault code)");

	assert_int_equal(raise_body("<s:Fault/>", 400), RMS_E_FAULT);
	assert_msg_has("no s:Code");
	assert_msg_has("no reason given");
	assert_int_equal(rms_error_http_status(rms_error_last()), 400);

	/* Only a WSManFault: its message stands in for the reason. */
	assert_int_equal(raise_body("<s:Fault><s:Detail><f:WSManFault Code=\"5\" Machine=\"m\">"
	                            "<f:Message>Access is denied.</f:Message></f:WSManFault>"
	                            "</s:Detail></s:Fault>",
	                            500),
	                 RMS_E_FAULT);
	assert_msg_has("(no s:Code): Access is denied. (no fault code, WSManFault 5)");
	assert_int_equal(rms_error_wsman_code(rms_error_last()), 5);

	/* Not even a Fault element, or none at all. */
	xmlDoc *doc;
	assert_int_equal(rms__xml_parse(&doc, "<x/>", 4, NULL, "x"), 0);
	assert_int_equal(rms__fault_raise(xmlDocGetRootElement(doc), 500), RMS_E_FAULT);
	assert_msg_has("no s:Fault element");
	xmlFreeDoc(doc);
	assert_int_equal(rms__fault_raise(NULL, 0), RMS_E_FAULT);
	assert_msg_has("no s:Fault element");
}

static void test_unparsable_numbers_and_codes_are_kept_as_text(void **state)
{
	(void)state;
	assert_int_equal(raise_body("<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode>"
	                            "<s:Value>zz:Undeclared</s:Value></s:Subcode></s:Code>"
	                            "<s:Detail><f:WSManFault Code=\"not a number\"/></s:Detail>"
	                            "</s:Fault>",
	                            500),
	                 RMS_E_FAULT);
	const rms_error *e = rms_error_last();
	/* The fault, not the QName failure, is the error. */
	assert_string_equal(rms_error_fault_subcode(e), "zz:Undeclared");
	assert_int_equal(rms_error_wsman_code(e), 0);
	assert_msg_has("(zz:Undeclared)");
	/* An unknown namespace keeps the server's prefix; an oversized code
	 * is not a number. */
	assert_int_equal(raise_body("<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode>"
	                            "<s:Value xmlns:e=\"http://schemas.xmlsoap.org/ws/2004/08/"
	                            "eventing\">e:DeliveryModeRequestedUnavailable</s:Value>"
	                            "</s:Subcode></s:Code><s:Detail><f:WSManFault "
	                            "Code=\"4294967296\"/></s:Detail></s:Fault>",
	                            500),
	                 RMS_E_FAULT);
	assert_string_equal(rms_error_fault_subcode(rms_error_last()),
	                    "e:DeliveryModeRequestedUnavailable");
	assert_int_equal(rms_error_wsman_code(rms_error_last()), 0);
}

static void test_encoding_limit_is_envelope_too_large(void **state)
{
	(void)state;
	assert_int_equal(raise_body("<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode>"
	                            "<s:Value>w:EncodingLimit</s:Value></s:Subcode></s:Code>"
	                            "<s:Reason><s:Text>The envelope is too big.</s:Text></s:Reason>"
	                            "<s:Detail><w:FaultDetail>http://schemas.dmtf.org/wbem/wsman/1/"
	                            "wsman/faultDetail/MaxEnvelopeSize</w:FaultDetail>"
	                            "<f:WSManFault Code=\"2150858805\"/></s:Detail></s:Fault>",
	                            500),
	                 RMS_E_ENVELOPE_TOO_LARGE);
	const rms_error *e = rms_error_last();
	assert_int_equal(rms_error_phase(e), RMS_PHASE_LIMIT);
	assert_string_equal(rms_error_limit_name(e), "MaxEnvelopeSize");
	assert_int_equal(rms_error_wsman_code(e), 2150858805u);
	assert_string_equal(rms_error_fault_subcode(e), "w:EncodingLimit");
	assert_int_equal(rms_error_http_status(e), 500);
	assert_msg_has("too large: The envelope is too big. (w:EncodingLimit");
}

static void test_wmi_error_inside_provider_fault_and_win32_extended_status(void **state)
{
	(void)state;
	/* MSFT_WmiError under f:ExtendedError, number only in MessageID. */
	assert_int_equal(
	    raise_body("<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>"
	               "w:InvalidParameter</s:Value></s:Subcode></s:Code><s:Reason><s:Text>"
	               "The parameter is incorrect.</s:Text></s:Reason><s:Detail>"
	               "<f:WSManFault Code=\"2150858810\"><f:Message><f:ProviderFault>"
	               "<f:ExtendedError><q:MSFT_WmiError xmlns:q=\"urn:wmi/MSFT_WmiError\">"
	               "<q:CIMStatusCode>4</q:CIMStatusCode>"
	               "<q:Message>Invalid parameter </q:Message>"
	               "<q:MessageID>HRESULT 0x80041008</q:MessageID>"
	               "<q:ProviderName>CIMWin32</q:ProviderName>"
	               "</q:MSFT_WmiError></f:ExtendedError></f:ProviderFault></f:Message>"
	               "</f:WSManFault></s:Detail></s:Fault>",
	               500),
	    RMS_E_FAULT);
	const rms_error *e = rms_error_last();
	assert_int_equal(rms_error_wsman_code(e), 2150858810u);
	assert_int_equal(rms_error_wmi_code(e), 0x80041008u);
	assert_int_equal(rms_error_cim_status(e), 4);
	assert_string_equal(rms_error_provider(e), "CIMWin32");
	assert_string_equal(rms_error_wsman_message(e), "Invalid parameter");
	assert_msg_has("WMI error 0x80041008, provider 'CIMWin32': Invalid parameter)");

	assert_int_equal(
	    raise_body("<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code><s:Detail>"
	               "<f:WSManFault Code=\"2150858752\"><f:Message><f:ProviderFault "
	               "provider=\"WMI\"><f:WSManFault Code=\"2150858752\"><f:Message>Not "
	               "found</f:Message></f:WSManFault><f:ExtendedError><p:Win32_ExtendedStatus "
	               "xmlns:p=\"urn:x/Win32_ExtendedStatus\"><p:StatusCode>2147749890"
	               "</p:StatusCode><p:Description xsi:nil=\"true\"/></p:Win32_ExtendedStatus>"
	               "</f:ExtendedError></f:ProviderFault></f:Message></f:WSManFault>"
	               "</s:Detail></s:Fault>",
	               500),
	    RMS_E_FAULT);
	e = rms_error_last();
	assert_int_equal(rms_error_wmi_code(e), 2147749890u);
	assert_string_equal(rms_error_provider(e), "WMI");
	assert_string_equal(rms_error_wsman_message(e), "Not found");
}

/* OMI's fault (../shared/protocol/omi.md, observed against OMI 1.9.1): no
 * wsman:FaultDetail, the CIM status in an OMI_Error object. The status is
 * OMI's, not 0. */
static void test_omi_error_gives_the_cim_status(void **state)
{
	(void)state;
	assert_int_equal(
	    raise_body("<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>"
	               "wsa:DestinationUnreachable</s:Value></s:Subcode></s:Code><s:Reason>"
	               "<s:Text xml:lang=\"en-US\">CIM ERROR:NOT_FOUND: The requested object "
	               "could not be found</s:Text></s:Reason><s:Detail><p:OMI_Error "
	               "xmlns:p=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/OMI_Error\" "
	               "xmlns:wsmb=\"http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd\" "
	               "wsmb:IsCIM_Error=\"true\"><p:OwningEntity>OMI:CIMOM</p:OwningEntity>"
	               "<p:MessageID>OMI:MI_Result:6</p:MessageID><p:Message>The requested "
	               "object could not be found</p:Message><p:MessageArguments/>"
	               "<p:PerceivedSeverity>7</p:PerceivedSeverity><p:ProbableCause>0"
	               "</p:ProbableCause><p:CIMStatusCode>6</p:CIMStatusCode><p:OMI_Code>6"
	               "</p:OMI_Code><p:OMI_Category>11</p:OMI_Category><p:OMI_Type>MI"
	               "</p:OMI_Type><p:OMI_ErrorMessage>The requested object could not be "
	               "found</p:OMI_ErrorMessage></p:OMI_Error></s:Detail></s:Fault>",
	               500),
	    RMS_E_FAULT);
	const rms_error *e = rms_error_last();
	assert_int_equal(rms_error_cim_status(e), 6);
	assert_msg_has("CIM status 6");
}

static void test_texts_are_cleaned_and_capped(void **state)
{
	(void)state;
	rms_buf b;
	rms__buf_init(&b);
	rms__buf_puts(&b, "<s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code><s:Reason><s:Text>"
	                  "  line one&#x9;&#xA;\n   line&#x7F;two&#xC2;\xc2\x85"
	                  "end ");
	for (int i = 0; i < 500; i++)
		rms__buf_puts(&b, "\xc3\xa9x"); /* "éx": 3 bytes each */
	rms__buf_puts(&b, "</s:Text></s:Reason></s:Fault>");
	char *fault = rms__buf_take(&b);
	assert_int_equal(raise_body(fault, 500), RMS_E_FAULT);
	free(fault);
	const char *reason = rms_error_fault_reason(rms_error_last());
	assert_clean(reason);
	/* C1 control U+0085 (NEL) goes too; U+00C2 is a letter and stays. */
	assert_int_equal(strncmp(reason, "line one line two\xc3\x82 end \xc3\xa9x", 24), 0);
	size_t len = strlen(reason);
	assert_true(len <= 1003);
	assert_true(len >= 990);
	assert_string_equal(reason + len - 3, "\xe2\x80\xa6");
	/* Cut on a character boundary: what precedes "…" is whole. */
	assert_true(rms__utf8_valid(reason, len));
	assert_clean(last_msg());
}

/* ---- every fixture ------------------------------------------------------ */

typedef struct expect {
	const char *name; /* path under RMS_FIXTURES_DIR, "#n" for the n-th response */
	int rc;           /* 0: not a fault; else rms__fault_raise's result */
	const char *code;
	const char *subcode;
	uint32_t wsman_code;
	const char *first_body; /* for rc 0: local name of the first body element */
	int seen;
} expect;

#define FAULT(n, r, c, s, w)                                                                       \
	{                                                                                          \
		n, r, c, s, w, NULL, 0                                                             \
	}
#define BODY(n, b)                                                                                 \
	{                                                                                          \
		n, 0, NULL, NULL, 0, b, 0                                                          \
	}

static expect expectations[] = {
    FAULT(MASTERZEN "executeCommandResponseWithError.xml", RMS_E_FAULT, "s:Receiver",
          "w:InternalError", 2147942606u),
    FAULT(MASTERZEN "operationTimeoutResponse.xml", RMS_E_TIMEOUT, "s:Receiver", "w:TimedOut",
          2150858793u),
    FAULT(DIYAN "test_wsman_fault_known_fault.xml", RMS_E_TIMEOUT, "s:Receiver", "w:TimedOut",
          2150858793u),
    FAULT(DIYAN "test_wsman_fault_must_understand.xml", RMS_E_FAULT, "s:MustUnderstand", NULL, 0),
    FAULT(DIYAN "test_wsman_fault_no_reason.xml", RMS_E_FAULT, "s:Unknown", NULL, 0),
    FAULT(DIYAN "test_wsman_fault_with_wsmanfault.xml", RMS_E_FAULT, "s:Sender",
          "w:SchemaValidationError", 2150858817u),
    FAULT(DIYAN "test_wsman_fault_wmi_error_detail.xml", RMS_E_FAULT, "s:Receiver",
          "w:InternalError", 0),
    FAULT(PYPSRP "test_psrp_is_alive_invalid_selectors.yml#4", RMS_E_FAULT, "s:Sender",
          "w:InvalidSelectors", 2150858843u),
    FAULT(PYPSRP "test_psrp_long_running_cmdlet.yml#4", RMS_E_TIMEOUT, "s:Receiver", "w:TimedOut",
          2150858793u),
    FAULT(PYPSRP "test_psrp_long_running_cmdlet.yml#5", RMS_E_TIMEOUT, "s:Receiver", "w:TimedOut",
          2150858793u),
    FAULT(PYPSRP "test_psrp_receive_failure.yml#3", RMS_E_FAULT, "s:Sender", "w:InvalidSelectors",
          2150858843u),
    FAULT(PYPSRP "test_winrs_bad_cmd_id.yml#2", RMS_E_FAULT, "s:Sender", "w:InvalidSelectors",
          2150858843u),
    FAULT(PYPSRP "test_winrs_no_cmd_shell.yml#1", RMS_E_FAULT, "s:Receiver", "w:InternalError",
          2147942402u),
    FAULT(PYPSRP "test_winrs_operation_timeout.yml#3", RMS_E_TIMEOUT, "s:Receiver", "w:TimedOut",
          2150858793u),
    FAULT(PYPSRP "test_winrs_operation_timeout.yml#4", RMS_E_TIMEOUT, "s:Receiver", "w:TimedOut",
          2150858793u),
    FAULT(ADSTEP "ProtocolGetCommandStateBeforeRun.yml#1", RMS_E_FAULT, "s:Sender",
          "w:InvalidSelectors", 2150858843u),
    FAULT(ADSTEP "ProtocolRunCommandExceedingOperationTimeout.yml#2", RMS_E_TIMEOUT, "s:Receiver",
          "w:TimedOut", 2150858793u),
    FAULT(WINRB "get_omi_config_response.xml", RMS_E_FAULT, "s:Receiver", "w:InternalError", 0),
    FAULT(WINRB "soap_fault_omi.xml", RMS_E_FAULT, "s:Receiver", "w:InternalError", 0),
    FAULT(WINRB "soap_fault_v1.xml", RMS_E_FAULT, "s:Sender", "n:CannotProcessFilter", 2150858778u),
    FAULT(WINRB "soap_fault_v2.xml", RMS_E_FAULT, "s:Sender", "n:CannotProcessFilter", 2150858778u),
    FAULT(WINRB "wmi_error_v2.xml", RMS_E_QUOTA, "s:Sender", "w:QuotaLimit", 0),
    BODY(ADSTEP "ProtocolIdentify.yml#0", "IdentifyResponse"),
    BODY(ADSTEP "ClientIdentify.yml#0", "IdentifyResponse"),
    BODY(WINRB "open_shell_v1.xml", "ResourceCreated"),
    BODY(WINRB "open_shell_v2.xml", "ResourceCreated"),
    BODY(WINRB "open_shell_omi.xml", "ResourceCreated"),
    BODY("samples/openwsman/StdRegProv_EnumKey_OUTPUT_response.xml", "EnumKey_OUTPUT"),
    BODY(PYPSRP "test_psrp_disconnect_runspaces.yml#11", "EnumerateResponse"),
    BODY(PYPSRP "test_wsman_update_envelope_size_500.yml#0", "Config"),
    BODY(PYPSRP "test_winrs_standard.yml#0", "ResourceCreated"),
    BODY(PYPSRP "test_winrs_standard.yml#2", "ReceiveResponse"),
};

/* What one folder holds: files visited (*.xml, *.erb, *.yml) and XML
 * documents checked in them (envelopes, plus CLIXML that is not one). */
typedef struct folder_count {
	const char *folder;
	size_t files;
	size_t documents;
	size_t got_files;
	size_t got_documents;
} folder_count;

static folder_count folders[] = {
    {"WinRb-WinRM", 18, 18, 0, 0},        /* 8 .xml, 10 .erb (2 CLIXML) */
    {"adstep-WinRMSharp", 21, 133, 0, 0}, /* recorded responses */
    {"diyan-pywinrm", 26, 26, 0, 0},      /* requests and responses */
    {"jborean93-pypsrp", 49, 398, 0, 0},  /* 47 .yml (one template), 2 CLIXML */
    {"masterzen-winrm", 8, 8, 0, 0},
    /* PSRP over SSH: fragments and CLIXML on the wire, no SOAP envelopes. */
    {"pwsh-7.6.10-ssh", 0, 0, 0, 0},
    {"samples", 14, 14, 0, 0}, /* 13 MI client requests, 1 response */
    /* Encrypted WinRM bodies (binary captures), not readable envelopes. */
    {"winrm-encrypted", 0, 0, 0, 0},
};

typedef struct walk {
	folder_count *folder;
	const char *rel;
	size_t faults;
	size_t envelopes;
	size_t nulls;
	size_t elements;
} walk;

static expect *find_expect(const char *name)
{
	for (size_t i = 0; i < sizeof expectations / sizeof expectations[0]; i++)
		if (strcmp(expectations[i].name, name) == 0)
			return &expectations[i];
	return NULL;
}

static void check_clixml(walk *w, const char *name, const char *xml)
{
	/* pypsrp's CLIXML samples carry PowerShell's "#< CLIXML" line. */
	if (strncmp(xml, "#< CLIXML\n", 10) == 0)
		xml += 10;
	xmlDoc *doc;
	if (rms__xml_parse(&doc, xml, strlen(xml), NULL, name))
		fail_msg("%s: %s", name, last_msg());
	/* Objs (with its namespace) in pypsrp's, a bare Obj in WinRb's. */
	xmlNode *root = xmlDocGetRootElement(doc);
	assert_true(rms__xml_is(root, "http://schemas.microsoft.com/powershell/2004/04", "Objs") ||
	            rms__xml_is(root, NULL, "Obj"));
	xmlFreeDoc(doc);
	w->folder->got_documents++;
}

static void check_envelope(walk *w, const char *name, const char *env, int http_status)
{
	w->folder->got_documents++;
	w->envelopes++;
	rms_soap_reader *r;
	if (rms__soap_reader_open(&r, env, strlen(env), NULL, name))
		fail_msg("%s: %s", name, last_msg());
	const rms_soap_headers *h = rms__soap_reader_headers(r);
	if (h->action && !*h->action)
		fail_msg("%s: empty wsa:Action", name);
	expect *x = find_expect(name);
	const char *ns, *local;
	int rc = rms__soap_reader_peek(r, &ns, &local);
	if (rc && rc != RMS_ITEROVER)
		fail_msg("%s: %s", name, last_msg());
	if (!rc && strcmp(local, "Fault") == 0 && ns && strcmp(ns, RMS_NS_SOAP) == 0) {
		if (!x || !x->rc)
			fail_msg("%s: an unexpected fault", name);
		xmlNode *fault;
		assert_int_equal(rms__soap_reader_next(r, &fault), 0);
		rc = rms__fault_raise(fault, http_status);
		const rms_error *e = rms_error_last();
		if (rc != x->rc)
			fail_msg("%s: %s, expected %s (%s)", name, rms_error_code_name(rc),
			         rms_error_code_name(x->rc), last_msg());
		assert_str_or_null(rms_error_fault_code(e), x->code);
		assert_str_or_null(rms_error_fault_subcode(e), x->subcode);
		assert_int_equal(rms_error_wsman_code(e), x->wsman_code);
		assert_int_equal(rms_error_http_status(e), http_status);
		assert_int_equal(rms__fault_is_timed_out(e), rc == RMS_E_TIMEOUT);
		assert_clean(last_msg());
		xmlNode *n;
		assert_int_equal(rms__soap_reader_next(r, &n), RMS_ITEROVER);
		x->seen++;
		w->faults++;
	} else {
		if (x && x->rc)
			fail_msg("%s: expected a fault", name);
		if (http_status != 200 && http_status != 0)
			fail_msg("%s: HTTP %d without a fault", name, http_status);
		if (x) {
			if (rc || strcmp(local, x->first_body) != 0)
				fail_msg("%s: body starts with %s, expected %s", name,
				         rc ? "nothing" : local, x->first_body);
			x->seen++;
		}
		xmlNode *n;
		while ((rc = rms__soap_reader_next(r, &n)) == 0)
			w->elements++;
		if (rc != RMS_ITEROVER)
			fail_msg("%s: %s", name, last_msg());
	}
	rms__soap_reader_free(r);
}

static void on_yml_response(void *ctx, int index, const char *body, int status)
{
	walk *w = ctx;
	char name[1024];
	snprintf(name, sizeof name, "%s#%d", w->rel, index);
	if (!body) {
		w->nulls++; /* pypsrp: no answer, the connection drops instead */
		return;
	}
	check_envelope(w, name, body, status);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void visit_file(walk *w, const char *rel, const char *path)
{
	bool xml = ends_with(rel, ".xml"), erb = ends_with(rel, ".erb"),
	     yml = ends_with(rel, ".yml");
	if (!xml && !erb && !yml)
		return;
	w->folder->got_files++;
	size_t len;
	char *text = rms_fixture_file(path, &len);
	w->rel = rel;
	if (ends_with(rel, "/_template.yml")) {
		/* pypsrp's description of the format, not a conversation. */
	} else if (yml && strncmp(rel, "jborean93-pypsrp/", 17) == 0) {
		pypsrp_each(text, on_yml_response, w);
	} else if (yml) {
		winrmsharp_each(text, on_yml_response, w);
	} else {
		char *doc = erb ? render_erb(text) : strdup(text);
		assert_non_null(doc);
		if (strstr(rel, "/clixml/"))
			check_clixml(w, rel, doc);
		else
			check_envelope(w, rel, doc, 0);
		free(doc);
	}
	free(text);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void visit_dir(walk *w, const char *rel)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", RMS_FIXTURES_DIR, rel);
	DIR *d = opendir(path);
	if (!d)
		fail_msg("cannot read %s", path);
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		names = realloc(names, (n + 1) * sizeof *names);
		assert_non_null(names);
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp_names);
	for (size_t i = 0; i < n; i++) {
		char child_rel[1024], child[1200];
		snprintf(child_rel, sizeof child_rel, "%s%s%s", rel, *rel ? "/" : "", names[i]);
		snprintf(child, sizeof child, "%s/%s", RMS_FIXTURES_DIR, child_rel);
		struct stat st;
		assert_int_equal(stat(child, &st), 0);
		if (!*rel) {
			/* A top-level folder: one of the known sources. */
			if (!S_ISDIR(st.st_mode)) {
				free(names[i]);
				continue;
			}
			w->folder = NULL;
			for (size_t f = 0; f < sizeof folders / sizeof folders[0]; f++)
				if (strcmp(folders[f].folder, names[i]) == 0)
					w->folder = &folders[f];
			if (!w->folder)
				fail_msg("fixture folder %s is not in the table", names[i]);
		}
		if (S_ISDIR(st.st_mode))
			visit_dir(w, child_rel);
		else
			visit_file(w, child_rel, child);
		free(names[i]);
	}
	free(names);
}

static void test_every_fixture_parses_or_decodes_to_its_expected_fault(void **state)
{
	(void)state;
	walk w;
	memset(&w, 0, sizeof w);
	visit_dir(&w, "");
	for (size_t f = 0; f < sizeof folders / sizeof folders[0]; f++) {
		const folder_count *c = &folders[f];
		if (c->got_files != c->files || c->got_documents != c->documents)
			fail_msg(
			    "%s: %zu files / %zu documents visited, %zu / %zu expected: update "
			    "the table for new fixtures",
			    c->folder, c->got_files, c->got_documents, c->files, c->documents);
	}
	for (size_t i = 0; i < sizeof expectations / sizeof expectations[0]; i++)
		if (expectations[i].seen != 1)
			fail_msg("%s was checked %d times, expected once", expectations[i].name,
			         expectations[i].seen);
	assert_int_equal(w.faults, 22);
	assert_int_equal(w.nulls, 1);
	assert_int_equal(w.envelopes, 593);
	/* Body elements read outside faults (some bodies are empty). */
	assert_int_equal(w.elements, 553);
}

int main(void)
{
	xmlInitParser();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_winrb_wmi_error_v2_decodes_msft_wmierror),
	    cmocka_unit_test(test_winrb_soap_fault_v1_takes_innermost_message_and_provider),
	    cmocka_unit_test(test_winrb_soap_fault_v2_reads_extended_status),
	    cmocka_unit_test(test_winrb_omi_fault_uses_conventional_prefixes),
	    cmocka_unit_test(test_pywinrm_timed_out_fault_is_a_timeout),
	    cmocka_unit_test(test_pywinrm_must_understand_fault_has_code_only),
	    cmocka_unit_test(test_pywinrm_fault_without_reason_says_so),
	    cmocka_unit_test(test_pywinrm_fault_with_wsmanfault),
	    cmocka_unit_test(test_pywinrm_fault_with_wmi_error_detail),
	    cmocka_unit_test(test_pypsrp_bad_shell_id_is_invalid_selectors),
	    cmocka_unit_test(test_provider_fault_text_is_the_message),
	    cmocka_unit_test(test_receive_timed_out_fault_is_distinct),
	    cmocka_unit_test(test_timed_out_is_recognised_by_code_alone),
	    cmocka_unit_test(test_is_timed_out_is_false_for_other_errors),
	    cmocka_unit_test(test_malformed_fault_is_still_a_fault),
	    cmocka_unit_test(test_unparsable_numbers_and_codes_are_kept_as_text),
	    cmocka_unit_test(test_encoding_limit_is_envelope_too_large),
	    cmocka_unit_test(test_wmi_error_inside_provider_fault_and_win32_extended_status),
	    cmocka_unit_test(test_omi_error_gives_the_cim_status),
	    cmocka_unit_test(test_texts_are_cleaned_and_capped),
	    cmocka_unit_test(test_every_fixture_parses_or_decodes_to_its_expected_fault),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	rms_error_clear();
	xmlCleanupParser();
	return failed;
}
