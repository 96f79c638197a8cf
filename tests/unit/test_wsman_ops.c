/*
 * Operation bodies compared with the bodies real clients sent to Windows,
 * and decoders run on Windows' answers (jborean93/pypsrp recordings in
 * ../shared/fixtures/jborean93-pypsrp/responses). Comparison is
 * structural: namespace URIs and local names (never prefixes), attributes
 * and trimmed text, in order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/parser.h>

#include "fixture.h"
#include "wsman.h"
#include "wsman_ops.h"

static char *pypsrp(const char *file, const char *key, int index)
{
	return rms_fixture_pypsrp(file, key, index);
}

static xmlNode *body_child(xmlDoc *doc)
{
	xmlNode *env = xmlDocGetRootElement(doc);
	xmlNode *body = rms__xml_child(env, RMS_NS_SOAP, "Body");
	assert_non_null(body);
	return rms__xml_first(body);
}

/* Structural description of an element tree, one line per element. */
static void describe(rms_buf *b, const xmlNode *n, int depth)
{
	rms__buf_printf(b, "%*s{%s}%s", depth * 2, "", n->ns ? (const char *)n->ns->href : "",
	                n->name);
	for (const xmlAttr *a = n->properties; a; a = a->next) {
		xmlChar *v = xmlNodeListGetString(n->doc, a->children, 1);
		rms__buf_printf(b, " @%s=%s", a->name, v ? (const char *)v : "");
		xmlFree(v);
	}
	if (!rms__xml_first(n)) {
		char *t = rms__xml_text(n);
		rms__buf_printf(b, " = '%s'", t);
		free(t);
	}
	rms__buf_puts(b, "\n");
	for (xmlNode *c = rms__xml_first(n); c; c = rms__xml_next(c))
		describe(b, c, depth + 1);
}

static char *describe_body(const char *envelope)
{
	xmlDoc *doc = xmlReadMemory(envelope, (int)strlen(envelope), NULL, NULL, XML_PARSE_NONET);
	if (!doc)
		fail_msg("does not parse: %.200s", envelope);
	rms_buf b;
	rms__buf_init(&b);
	describe(&b, body_child(doc), 0);
	xmlFreeDoc(doc);
	return rms__buf_take(&b);
}

/* Our body inside a full envelope (for its namespace declarations). */
static char *wrap(const char *body, const char *extra_xmlns)
{
	rms_session_options o = RMS_SESSION_OPTIONS_INIT;
	o.host = "h";
	rms_wsman *w;
	assert_int_equal(rms__wsman_new(&w, &o, NULL, NULL, NULL, NULL), 0);
	rms_wsman_request req = { .action = "urn:a", .resource_uri = "urn:r", .body = body,
		                  .extra_xmlns = extra_xmlns };
	rms_buf b;
	rms__buf_init(&b);
	char mid[42];
	assert_int_equal(rms__wsman_build(&b, w, &req, mid), 0);
	rms__wsman_free(w);
	return rms__buf_take(&b);
}

static void assert_body_like(const char *file, int index, rms_buf *ours, const char *extra)
{
	char *rec = pypsrp(file, "request", index);
	char *env = wrap(ours->data, extra);
	char *want = describe_body(rec);
	char *got = describe_body(env);
	if (strcmp(want, got) != 0) {
		fprintf(stderr, "--- recorded (%s #%d)\n%s--- built\n%s", file, index, want, got);
		fail_msg("bodies differ");
	}
	free(rec);
	free(env);
	free(want);
	free(got);
	rms__buf_free(ours);
}

static void test_winrs_bodies_match_recordings(void **state)
{
	(void)state;
	rms_buf b;
	rms__buf_init(&b);
	rms_shell_params sp = { 0 };
	assert_int_equal(rms__body_shell_create(&b, &sp), 0);
	assert_body_like("test_winrs_standard.yml", 0, &b, RMS_XMLNS_RSP);

	const char *args[] = { "/c", "echo", "hi" };
	assert_int_equal(rms__body_command(&b, "cmd.exe", 3, args), 0);
	assert_body_like("test_winrs_standard.yml", 1, &b, RMS_XMLNS_RSP);

	assert_int_equal(rms__body_receive(&b, "CF84C20A-0A35-43FA-AF78-0B4711DA5F30",
	                                   "stdout stderr"),
	                 0);
	assert_body_like("test_winrs_standard.yml", 2, &b, RMS_XMLNS_RSP);

	assert_int_equal(rms__body_signal(&b, "CF84C20A-0A35-43FA-AF78-0B4711DA5F30",
	                                  RMS_SIGNAL_CTRL_C),
	                 0);
	assert_body_like("test_winrs_standard.yml", 3, &b, RMS_XMLNS_RSP);

	/* Environment variables, with every character that needs escaping. */
	const char *names[] = { "env1", "1234", "_-(){}[]<>*+-/\\?\"!@#$^&|;:i,.`~0" };
	const char *values[] = { "var1", "5678", "_-(){}[]<>*+-/\\?\"!@#$^&|;:i,.`~0" };
	rms_shell_params env = { .env_names = names, .env_values = values, .env_count = 3 };
	assert_int_equal(rms__body_shell_create(&b, &env), 0);
	assert_body_like("test_winrs_environment.yml", 0, &b, RMS_XMLNS_RSP);
}

static void test_send_body_matches_recording_and_encodes_base64(void **state)
{
	(void)state;
	/* pypsrp test_winrs_send.yml: two Sends of PowerShell text to stdin;
	 * the recording spells End "False"/"True", we write End only when it
	 * is true, so compare the data and the last one. */
	const char *text = "Write-Host \"output 2\";";
	rms_buf b;
	rms__buf_init(&b);
	assert_int_equal(rms__body_send(&b, "B0973E54-434E-4D99-B4BE-ADE584CE3BFB", "stdin", text,
	                                strlen(text), true),
	                 0);
	assert_non_null(strstr(b.data, ">V3JpdGUtSG9zdCAib3V0cHV0IDIiOw==</rsp:Stream>"));
	assert_non_null(strstr(b.data, "End=\"true\""));
	rms__buf_free(&b);
	/* Sizes: 3 bytes per 4 base64 characters. */
	assert_int_equal(rms__send_payload_max(4), 3);
	assert_int_equal(rms__send_payload_max(400003), 300000);
	/* Every length encodes to what a reference encoder gives. */
	for (size_t n = 0; n < 7; n++) {
		rms__buf_init(&b);
		assert_int_equal(rms__body_send(&b, "C", "stdin", "abcdefg", n, false), 0);
		static const char *const want[] = { "", "YQ==", "YWI=", "YWJj", "YWJjZA==",
			                            "YWJjZGU=", "YWJjZGVm" };
		char needle[64];
		snprintf(needle, sizeof needle, ">%s</rsp:Stream>", want[n]);
		assert_non_null(strstr(b.data, needle));
		rms__buf_free(&b);
	}
	/* The shell's own stream (a PowerShell pool's data, a host answer on
	 * pr): no CommandId at all. */
	rms__buf_init(&b);
	assert_int_equal(rms__body_send(&b, NULL, "pr", "abc", 3, false), 0);
	assert_string_equal(b.data, "<rsp:Send><rsp:Stream Name=\"pr\">YWJj</rsp:Stream></rsp:Send>");
	rms__buf_free(&b);
}

static void test_enumerate_body_with_selector_filter_matches_recording(void **state)
{
	(void)state;
	rms_ref *sel;
	assert_int_equal(rms_ref_new(&sel, NULL, NULL), 0);
	assert_int_equal(rms_ref_add_selector(sel, "ShellId",
	                                      "B6631D8E-65A0-49F2-9053-A1B156C95777"),
	                 0);
	rms_enum_params p = { .optimize = true, .max_elements = 32000,
		              .filter = RMS_FILTER_SELECTOR, .selectors = sel };
	rms_buf b;
	rms__buf_init(&b);
	assert_int_equal(rms__body_enumerate(&b, &p), 0);
	/* pypsrp enumerates the shells of a host this way. */
	char *rec = NULL;
	for (int i = 0; i < 40 && !rec; i++) {
		char *r = pypsrp("test_psrp_disconnect_runspaces.yml", "request", i);
		if (strstr(r, "SelectorFilter"))
			rec = r;
		else
			free(r);
	}
	assert_non_null(rec);
	char *env = wrap(b.data, NULL);
	char *want = describe_body(rec), *got = describe_body(env);
	assert_string_equal(want, got);
	free(rec);
	free(env);
	free(want);
	free(got);
	rms__buf_free(&b);
	rms_ref_free(sel);
}

static void test_enumerate_bodies_for_queries_and_associations(void **state)
{
	(void)state;
	rms_buf b;
	rms__buf_init(&b);
	rms_enum_params q = { .optimize = true, .max_elements = 32000, .object_and_epr = true,
		              .filter = RMS_FILTER_QUERY, .dialect = RMS_DIALECT_WQL,
		              .query = "SELECT * FROM Win32_Service WHERE Name<'M'" };
	assert_int_equal(rms__body_enumerate(&b, &q), 0);
	assert_non_null(strstr(b.data, "<w:EnumerationMode>EnumerateObjectAndEPR"));
	assert_non_null(strstr(b.data, "Name&lt;&apos;M&apos;</w:Filter>"));
	char *env = wrap(b.data, NULL);
	xmlDoc *doc = xmlReadMemory(env, (int)strlen(env), NULL, NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	xmlFreeDoc(doc);
	free(env);
	rms__buf_free(&b);

	rms_ref *src;
	assert_int_equal(rms_ref_new(&src, "root/cimv2", "Win32_Service"), 0);
	assert_int_equal(rms_ref_add_selector(src, "Name", "WinRM"), 0);
	rms_enum_params a = { .filter = RMS_FILTER_ASSOCIATORS, .selectors = src,
		              .association_class = "Win32_DependentService",
		              .result_class = "Win32_Service", .role = "Dependent" };
	assert_int_equal(rms__body_enumerate(&b, &a), 0);
	env = wrap(b.data, NULL);
	char *d = describe_body(env);
	assert_non_null(strstr(d, "{" RMS_NS_CIMBINDING "}AssociatedInstances"));
	assert_non_null(strstr(d, "{" RMS_NS_CIMBINDING "}AssociationClassName = "
	                          "'Win32_DependentService'"));
	assert_non_null(strstr(d, "@Name=__cimnamespace = 'root/cimv2'"));
	assert_non_null(strstr(d, "@Name=Name = 'WinRM'"));
	free(d);
	free(env);
	rms__buf_free(&b);
	/* References take no result class or role. */
	a.filter = RMS_FILTER_REFERENCES;
	assert_int_equal(rms__body_enumerate(&b, &a), 0);
	assert_non_null(strstr(b.data, "<b:AssociationInstances>"));
	assert_null(strstr(b.data, "ResultClassName"));
	rms__buf_free(&b);
	rms_ref_free(src);

	rms_enum_params bad = { .filter = RMS_FILTER_QUERY };
	assert_int_equal(rms__body_enumerate(&b, &bad), RMS_E_INVALID_ARG);
	rms__buf_free(&b);
}

static void test_pull_release_invoke_bodies(void **state)
{
	(void)state;
	rms_buf b;
	rms__buf_init(&b);
	assert_int_equal(rms__body_pull(&b, "uuid:ctx&1", 500), 0);
	assert_string_equal(b.data, "<n:Pull><n:EnumerationContext>uuid:ctx&amp;1"
	                            "</n:EnumerationContext><n:MaxElements>500</n:MaxElements>"
	                            "</n:Pull>");
	rms__buf_free(&b);
	assert_int_equal(rms__body_release(&b, "uuid:ctx"), 0);
	assert_string_equal(b.data, "<n:Release><n:EnumerationContext>uuid:ctx"
	                            "</n:EnumerationContext></n:Release>");
	rms__buf_free(&b);

	const char *uri = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service";
	char *action = rms__invoke_action(uri, "StopService");
	assert_string_equal(action, "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/"
	                            "Win32_Service/StopService");
	free(action);
	assert_int_equal(rms__body_invoke(&b, uri, "StopService", NULL), 0);
	assert_string_equal(b.data, "<p:StopService_INPUT xmlns:p=\"" "http://schemas.microsoft.com/"
	                            "wbem/wsman/1/wmi/root/cimv2/Win32_Service\"/>");
	rms__buf_free(&b);
	rms_instance *in;
	assert_int_equal(rms_instance_new(&in, "root/default", "StdRegProv"), 0);
	rms_value *v;
	assert_int_equal(rms_value_new_uint32(&v, 2147483650u), 0);
	assert_int_equal(rms_instance_set(in, "hDefKey", v, 0), 0);
	assert_int_equal(rms__body_invoke(&b, "http://x/StdRegProv", "EnumKey", in), 0);
	assert_non_null(strstr(b.data, "<p:EnumKey_INPUT"));
	assert_non_null(strstr(b.data, "<p:hDefKey>2147483650</p:hDefKey>"));
	rms__buf_free(&b);
	rms_instance_free(in);
}

static rms_soap_reader *reader_for(const char *env)
{
	rms_soap_reader *r;
	assert_int_equal(rms__soap_reader_open(&r, env, strlen(env), NULL, "test"), 0);
	return r;
}

static void test_receive_decodes_recorded_answer(void **state)
{
	(void)state;
	/* test_winrs_standard.yml response #2: "hi\r\n" on stdout, exit 0. */
	char *env = pypsrp("test_winrs_standard.yml", "response", 2);
	rms_soap_reader *r = reader_for(env);
	xmlNode *resp;
	assert_int_equal(rms__soap_reader_next(r, &resp), 0);
	rms_receive_result res;
	assert_int_equal(rms__decode_receive(&res, resp), 0);
	assert_true(res.done);
	assert_true(res.has_exit_code);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(res.nchunks, 3);
	assert_string_equal(res.chunks[0].stream, "stdout");
	assert_int_equal(res.chunks[0].len, 4);
	assert_memory_equal(res.chunks[0].data, "hi\r\n", 4);
	assert_true(res.chunks[1].end);
	assert_string_equal(res.chunks[2].stream, "stderr");
	rms__receive_result_free(&res);
	rms__soap_reader_free(r);
	free(env);

	/* test_winrs_stderr_rc.yml: a non-zero exit code and stderr text. */
	bool seen = false;
	for (int i = 0; i < 6 && !seen; i++) {
		env = pypsrp("test_winrs_stderr_rc.yml", "response", i);
		if (strstr(env, "ExitCode")) {
			r = reader_for(env);
			assert_int_equal(rms__soap_reader_next(r, &resp), 0);
			assert_int_equal(rms__decode_receive(&res, resp), 0);
			assert_true(res.has_exit_code);
			assert_int_not_equal(res.exit_code, 0);
			bool err = false;
			for (size_t c = 0; c < res.nchunks; c++)
				err |= strcmp(res.chunks[c].stream, "stderr") == 0 && res.chunks[c].len;
			assert_true(err);
			rms__receive_result_free(&res);
			rms__soap_reader_free(r);
			seen = true;
		}
		free(env);
	}
	assert_true(seen);
}

static void test_receive_rejects_bad_base64_and_exit_code(void **state)
{
	(void)state;
#define TMPL                                                                                       \
	"<s:Envelope xmlns:s=\"" RMS_NS_SOAP "\" xmlns:rsp=\"" RMS_NS_SHELL                       \
	"\"><s:Header/><s:Body><rsp:ReceiveResponse>%s</rsp:ReceiveResponse>"                    \
	"</s:Body></s:Envelope>"
	const char *bad[] = {
		"<rsp:Stream Name=\"stdout\">ab$c</rsp:Stream>",
		"<rsp:Stream Name=\"stdout\">YQ==YQ==</rsp:Stream>",
		"<rsp:Stream>YQ==</rsp:Stream>",
		"<rsp:CommandState State=\"" RMS_COMMAND_STATE_DONE
		"\"><rsp:ExitCode>zero</rsp:ExitCode></rsp:CommandState>",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *env = rms__asprintf(TMPL, bad[i]);
		rms_soap_reader *r = reader_for(env);
		xmlNode *resp;
		assert_int_equal(rms__soap_reader_next(r, &resp), 0);
		rms_receive_result res;
		assert_int_equal(rms__decode_receive(&res, resp), RMS_E_PROTOCOL);
		assert_null(res.chunks);
		rms__soap_reader_free(r);
		free(env);
	}
	/* A Windows exit code is a DWORD: 0xC0000005 keeps its bits. */
	char *env = rms__asprintf(TMPL, "<rsp:CommandState State=\"" RMS_COMMAND_STATE_DONE
	                                "\"><rsp:ExitCode>3221225477</rsp:ExitCode>"
	                                "</rsp:CommandState>");
	rms_soap_reader *r = reader_for(env);
	xmlNode *resp;
	assert_int_equal(rms__soap_reader_next(r, &resp), 0);
	rms_receive_result res;
	assert_int_equal(rms__decode_receive(&res, resp), 0);
	assert_int_equal((uint32_t)res.exit_code, 3221225477u);
	rms__receive_result_free(&res);
	rms__soap_reader_free(r);
	free(env);
}

static void test_shell_and_command_ids_from_recorded_answers(void **state)
{
	(void)state;
	char *env = pypsrp("test_winrs_standard.yml", "response", 0);
	rms_soap_reader *r = reader_for(env);
	xmlNode *first, *second = NULL;
	assert_int_equal(rms__soap_reader_next(r, &first), 0);
	/* first is borrowed only until the next call: decode it alone too. */
	char *id;
	assert_int_equal(rms__decode_shell_id(&id, first, NULL), 0);
	assert_string_equal(id, "4283CBDC-3706-415B-88BD-B385F3E51A53");
	free(id);
	assert_int_equal(rms__soap_reader_next(r, &second), 0);
	assert_int_equal(rms__decode_shell_id(&id, second, NULL), 0);
	assert_string_equal(id, "4283CBDC-3706-415B-88BD-B385F3E51A53");
	free(id);
	rms__soap_reader_free(r);
	free(env);

	env = pypsrp("test_winrs_standard.yml", "response", 1);
	r = reader_for(env);
	assert_int_equal(rms__soap_reader_next(r, &first), 0);
	assert_int_equal(rms__decode_command_id(&id, first), 0);
	assert_string_equal(id, "CF84C20A-0A35-43FA-AF78-0B4711DA5F30");
	free(id);
	rms__soap_reader_free(r);
	free(env);
}

static void test_enumeration_pages_from_recorded_answer(void **state)
{
	(void)state;
	/* pypsrp's shell enumeration: EnumerateResponse with w:Items of
	 * rsp:Shell and w:EndOfSequence, with an empty context. */
	char *env = NULL;
	for (int i = 0; i < 40 && !env; i++) {
		char *e = pypsrp("test_psrp_disconnect_runspaces.yml", "response", i);
		if (strstr(e, "EnumerateResponse"))
			env = e;
		else
			free(e);
	}
	assert_non_null(env);
	rms_soap_reader *r = reader_for(env);
	rms_enum_page page;
	assert_int_equal(rms__enum_begin(r, &page), 0);
	int n = 0;
	xmlNode *item;
	int rc;
	while ((rc = rms__soap_reader_next(r, &item)) == 0) {
		const xmlNode *obj, *epr;
		rms__enum_item_parts(item, &obj, &epr);
		assert_true(rms__xml_is(obj, RMS_NS_SHELL, "Shell"));
		/* Each shell's record as rms_session_shells gives it. */
		rms_instance *inst = NULL;
		assert_int_equal(rms__decode_shell_record(obj, &inst), 0);
		assert_string_equal(rms_instance_class_name(inst), "Shell");
		const char *text = NULL;
		assert_int_equal(rms_value_get_string(rms_instance_get(inst, "State"), &text), 0);
		assert_string_equal(text, "Disconnected");
		assert_int_equal(rms_value_get_string(rms_instance_get(inst, "ResourceUri"), &text),
		                 0);
		assert_string_equal(text, "http://schemas.microsoft.com/powershell/Microsoft.PowerShell");
		assert_int_equal(rms_value_get_string(rms_instance_get(inst, "Owner"), &text), 0);
		assert_string_equal(text, "WIN-NNMU24VVKJ0\\vagrant");
		uint32_t pid = 0;
		assert_int_equal(rms_value_get_uint32(rms_instance_get(inst, "ProcessId"), &pid), 0);
		assert_true(pid > 0);
		rms_datetime idle;
		assert_int_equal(rms_value_get_datetime(rms_instance_get(inst, "IdleTimeOut"), &idle), 0);
		assert_true(idle.is_interval);
		assert_int_equal(idle.days * 86400 + idle.hour * 3600 + idle.minute * 60 + idle.second,
		                 7200);
		rms_instance_free(inst);
		n++;
	}
	assert_int_equal(rc, RMS_ITEROVER);
	assert_true(n >= 1);
	assert_int_equal(rms__enum_finish(r, &page), 0);
	assert_true(page.end_of_sequence);
	assert_null(page.context);
	rms__enum_page_free(&page);
	rms__soap_reader_free(r);
	free(env);

	/* A Pull answer with n: Items, a context and no EndOfSequence, and
	 * an EnumerateObjectAndEPR item. */
	const char *pull =
		"<s:Envelope xmlns:s=\"" RMS_NS_SOAP "\" xmlns:n=\"" RMS_NS_ENUMERATION
		"\" xmlns:w=\"" RMS_NS_WSMAN_DMTF "\" xmlns:a=\"" RMS_NS_ADDRESSING "\">"
		"<s:Header/><s:Body><n:PullResponse><n:EnumerationContext>uuid:next"
		"</n:EnumerationContext><n:Items><w:Item><p:X xmlns:p=\"urn:x\"><p:K>1</p:K></p:X>"
		"<a:EndpointReference><a:Address>x</a:Address></a:EndpointReference></w:Item>"
		"</n:Items></n:PullResponse></s:Body></s:Envelope>";
	r = reader_for(pull);
	assert_int_equal(rms__enum_begin(r, &page), 0);
	assert_string_equal(page.context, "uuid:next");
	assert_int_equal(rms__soap_reader_next(r, &item), 0);
	const xmlNode *obj, *epr;
	rms__enum_item_parts(item, &obj, &epr);
	assert_true(rms__xml_is(obj, "urn:x", "X"));
	assert_true(rms__xml_is(epr, RMS_NS_ADDRESSING, "EndpointReference"));
	assert_int_equal(rms__soap_reader_next(r, &item), RMS_ITEROVER);
	assert_int_equal(rms__enum_finish(r, &page), 0);
	assert_false(page.end_of_sequence);
	rms__enum_page_free(&page);
	rms__soap_reader_free(r);

	const char *wrong = "<s:Envelope xmlns:s=\"" RMS_NS_SOAP "\"><s:Header/><s:Body>"
	                    "<x:Other xmlns:x=\"urn:x\"/></s:Body></s:Envelope>";
	r = reader_for(wrong);
	assert_int_equal(rms__enum_begin(r, &page), RMS_E_PROTOCOL);
	rms__enum_page_free(&page);
	rms__soap_reader_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_winrs_bodies_match_recordings),
		cmocka_unit_test(test_send_body_matches_recording_and_encodes_base64),
		cmocka_unit_test(test_enumerate_body_with_selector_filter_matches_recording),
		cmocka_unit_test(test_enumerate_bodies_for_queries_and_associations),
		cmocka_unit_test(test_pull_release_invoke_bodies),
		cmocka_unit_test(test_receive_decodes_recorded_answer),
		cmocka_unit_test(test_receive_rejects_bad_base64_and_exit_code),
		cmocka_unit_test(test_shell_and_command_ids_from_recorded_answers),
		cmocka_unit_test(test_enumeration_pages_from_recorded_answer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
