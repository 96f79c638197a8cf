/*
 * The WS-Management envelope layer.
 *
 * Envelopes remsess builds are compared, semantically, with requests that
 * real clients sent to real Windows hosts (../shared/fixtures): same
 * action, the same headers with the same values and mustUnderstand flags,
 * the same selectors and options; message ids, the session id and the
 * target address are ignored, and so is order.
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

#include "fault.h"
#include "fixture.h"
#include "httpd.h"
#include "wsman.h"

/* ---- reading recorded requests ----------------------------------------- */

static char *pypsrp_request(const char *name, int index)
{
	return rms_fixture_pypsrp(name, "request", index);
}

/* ---- semantic comparison ----------------------------------------------- */

static bool ignored_header(const xmlNode *n)
{
	static const char *const ids[] = { "MessageID", "SessionId", "OperationID", "To" };
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
		if (strcmp((const char *)n->name, ids[i]) == 0)
			return true;
	return false;
}

static char *attr(const xmlNode *n, const char *ns, const char *name)
{
	xmlChar *v = ns ? xmlGetNsProp(n, BAD_CAST name, BAD_CAST ns)
	                : xmlGetNoNsProp(n, BAD_CAST name);
	return (char *)v;
}

static int cmp_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One line per meaningful fact of a header element, so two envelopes can be
 * compared as sorted sets of lines. */
static void describe(rms_buf *out, const xmlNode *h)
{
	const char *ns = h->ns ? (const char *)h->ns->href : "";
	char *mu = attr(h, RMS_NS_SOAP, "mustUnderstand");
	char *lang = attr(h, "http://www.w3.org/XML/1998/namespace", "lang");
	if (strcmp((const char *)h->name, "SelectorSet") == 0 ||
	    strcmp((const char *)h->name, "OptionSet") == 0) {
		rms__buf_printf(out, "%s %s mu=%s\n", ns, h->name, mu ? mu : "-");
		/* Selectors and options are sets: their order does not matter. */
		char *items[64];
		size_t n = 0;
		for (xmlNode *c = h->children; c && n < 64; c = c->next) {
			if (c->type != XML_ELEMENT_NODE)
				continue;
			char *name = attr(c, NULL, "Name");
			char *type = attr(c, NULL, "Type");
			char *mc = attr(c, NULL, "MustComply");
			xmlChar *v = xmlNodeGetContent(c);
			items[n++] = rms__asprintf("  %s %s=%s type=%s mustcomply=%s\n", c->name,
			                           name ? name : "?", v, type ? type : "-",
			                           mc ? mc : "-");
			xmlFree(name);
			xmlFree(type);
			xmlFree(mc);
			xmlFree(v);
		}
		qsort(items, n, sizeof items[0], cmp_lines);
		for (size_t i = 0; i < n; i++) {
			rms__buf_puts(out, items[i]);
			free(items[i]);
		}
	} else if (strcmp((const char *)h->name, "ReplyTo") == 0) {
		const xmlNode *a = h->children;
		while (a && a->type != XML_ELEMENT_NODE)
			a = a->next;
		char *amu = a ? attr(a, RMS_NS_SOAP, "mustUnderstand") : NULL;
		xmlChar *v = xmlNodeGetContent(h);
		char *trimmed = (char *)v;
		while (*trimmed == ' ' || *trimmed == '\n')
			trimmed++;
		trimmed[strcspn(trimmed, " \n")] = '\0';
		rms__buf_printf(out, "%s ReplyTo Address mu=%s %s\n", ns, amu ? amu : "-", trimmed);
		xmlFree(amu);
		xmlFree(v);
	} else if (strcmp((const char *)h->name, "OperationTimeout") == 0) {
		/* PT20S and PT20.000S are the same duration */
		xmlChar *v = xmlNodeGetContent(h);
		rms_datetime d;
		assert_int_equal(rms_datetime_parse_xs(&d, (const char *)v), 0);
		rms__buf_printf(out, "%s OperationTimeout mu=%s %ud%uh%um%us%uns\n", ns,
		                mu ? mu : "-", d.days, d.hour, d.minute, d.second, d.nanoseconds);
		xmlFree(v);
	} else {
		xmlChar *v = xmlNodeGetContent(h);
		rms__buf_printf(out, "%s %s mu=%s lang=%s value=%s\n", ns, h->name, mu ? mu : "-",
		                lang ? lang : "-", v);
		xmlFree(v);
	}
	xmlFree(mu);
	xmlFree(lang);
}

/* Sorted fact lines of an envelope's header (ids ignored). Caller frees. */
static char *header_facts(const char *xml)
{
	xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL,
	                            XML_PARSE_NONET | XML_PARSE_NOBLANKS);
	if (!doc)
		fail_msg("envelope does not parse: %.200s", xml);
	xmlNode *env = xmlDocGetRootElement(doc);
	assert_non_null(env);
	xmlNode *hdr = rms__xml_child(env, RMS_NS_SOAP, "Header");
	if (!hdr)
		fail_msg("envelope has no Header");
	rms_buf all;
	rms__buf_init(&all);
	for (xmlNode *h = hdr->children; h; h = h->next)
		if (h->type == XML_ELEMENT_NODE && !ignored_header(h))
			describe(&all, h);
	xmlFreeDoc(doc);
	/* sort the top-level lines, keeping each block's indented lines with it */
	char *lines[256];
	size_t n = 0;
	char *save = NULL;
	for (char *l = strtok_r(all.data, "\n", &save); l && n < 256; l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	/* group: a line starting with two spaces belongs to the previous one */
	rms_buf groups[256];
	size_t g = 0;
	for (size_t i = 0; i < n; i++) {
		if (lines[i][0] == ' ' && g) {
			rms__buf_printf(&groups[g - 1], "\n%s", lines[i]);
		} else {
			rms__buf_init(&groups[g]);
			rms__buf_puts(&groups[g++], lines[i]);
		}
	}
	char *ptrs[256];
	for (size_t i = 0; i < g; i++)
		ptrs[i] = groups[i].data;
	qsort(ptrs, g, sizeof ptrs[0], cmp_lines);
	rms_buf out;
	rms__buf_init(&out);
	for (size_t i = 0; i < g; i++)
		rms__buf_printf(&out, "%s\n", ptrs[i]);
	for (size_t i = 0; i < g; i++)
		rms__buf_free(&groups[i]);
	rms__buf_free(&all);
	return rms__buf_take(&out);
}

static rms_wsman *client(uint32_t max_envelope, uint32_t timeout_ms)
{
	rms_session_options o = RMS_SESSION_OPTIONS_INIT;
	o.host = "192.168.56.11";
	o.max_envelope_size = max_envelope;
	o.operation_timeout_ms = timeout_ms;
	rms_wsman *w;
	assert_int_equal(rms__wsman_new(&w, &o, NULL, NULL, NULL, NULL), 0);
	return w;
}

static void assert_same_headers(const char *recorded, rms_wsman *w,
                                const rms_wsman_request *req)
{
	rms_buf built;
	rms__buf_init(&built);
	char mid[42];
	assert_int_equal(rms__wsman_build(&built, w, req, mid), 0);
	assert_int_equal(strncmp(mid, "uuid:", 5), 0);
	assert_non_null(strstr(built.data, mid));
	char *want = header_facts(recorded);
	char *got = header_facts(built.data);
	if (strcmp(want, got) != 0) {
		fprintf(stderr, "headers differ\n--- recorded\n%s--- built\n%s", want, got);
		fail_msg("headers differ (see above)");
	}
	free(want);
	free(got);
	rms__buf_free(&built);
}

/* pypsrp test_winrs_standard.yml: the WinRS sequence pypsrp sent to Windows
 * Server (Create shell, Command, Receive, Signal, Delete). */
static void test_winrs_headers_match_recorded_pypsrp_requests(void **state)
{
	(void)state;
	rms_wsman *w = client(153600, 20000);
	rms_ref *shell;
	assert_int_equal(rms_ref_new(&shell, NULL, NULL), 0);
	assert_int_equal(rms_ref_add_selector(shell, "ShellId",
	                                      "4283CBDC-3706-415B-88BD-B385F3E51A53"),
	                 0);

	char *r = pypsrp_request("test_winrs_standard.yml", 0);
	rms_wsman_request create = { .action = RMS_ACTION_CREATE,
		                     .resource_uri = RMS_URI_SHELL_CMD };
	assert_same_headers(r, w, &create);
	free(r);

	r = pypsrp_request("test_winrs_standard.yml", 1);
	rms_wsman_option skip = { .name = "WINRS_SKIP_CMD_SHELL", .value = "False" };
	rms_wsman_request command = { .action = RMS_ACTION_COMMAND,
		                      .resource_uri = RMS_URI_SHELL_CMD,
		                      .selectors = shell,
		                      .options = &skip,
		                      .noptions = 1,
		                      .options_must_understand = true };
	assert_same_headers(r, w, &command);
	free(r);

	r = pypsrp_request("test_winrs_standard.yml", 2);
	rms_wsman_option keepalive = { .name = "WSMAN_CMDSHELL_OPTION_KEEPALIVE",
		                       .value = "True" };
	rms_wsman_request receive = { .action = RMS_ACTION_RECEIVE,
		                      .resource_uri = RMS_URI_SHELL_CMD,
		                      .selectors = shell,
		                      .options = &keepalive,
		                      .noptions = 1,
		                      .options_must_understand = true };
	assert_same_headers(r, w, &receive);
	free(r);

	r = pypsrp_request("test_winrs_standard.yml", 3);
	rms_wsman_request signal = { .action = RMS_ACTION_SIGNAL,
		                     .resource_uri = RMS_URI_SHELL_CMD,
		                     .selectors = shell };
	assert_same_headers(r, w, &signal);
	free(r);

	r = pypsrp_request("test_winrs_standard.yml", 4);
	rms_wsman_request del = { .action = RMS_ACTION_DELETE,
		                  .resource_uri = RMS_URI_SHELL_CMD,
		                  .selectors = shell };
	assert_same_headers(r, w, &del);
	free(r);

	rms_ref_free(shell);
	rms__wsman_free(w);
}

/* OMI's tests: GetClass requests as a Windows MI (CIM) client sent them
 * (samples/omi-windows-mi-client-requests): typed options, OperationID and
 * SequenceId, the __cimnamespace selector, no OperationTimeout. */
static void test_cim_get_class_headers_match_recorded_mi_client(void **state)
{
	(void)state;
	char *recorded =
		rms_fixture("samples/omi-windows-mi-client-requests/windows_mi_client_request_00.xml", NULL);
	rms_wsman *w = client(1048576, 0);
	rms_ref *sel;
	assert_int_equal(rms_ref_new(&sel, NULL, NULL), 0);
	assert_int_equal(rms_ref_add_selector(sel, "ClassName", "InvalidClass"), 0);
	rms_wsman_option opts[] = {
		{ .name = "IncludeInheritanceHierarchy", .value = "true", .type = "xs:boolean" },
		{ .name = "IncludeInheritedElements", .value = "true", .type = "xs:boolean" },
		{ .name = "IncludeQualifiers", .value = "true", .type = "xs:boolean" },
		{ .name = "msftwinrm:UsePreciseArrays", .value = "true", .type = "xs:boolean" },
	};
	rms_wsman_request get = {
		.action = RMS_ACTION_GET,
		.resource_uri = "http://schemas.dmtf.org/wbem/cim-xml/2/cim-schema/2/*",
		.selectors = sel,
		.cim_namespace = "test/cpp",
		.options = opts,
		.noptions = 4,
		.operation_id = "uuid:48E05E94-2337-474E-8D6C-22484C00940A",
		.sequence_id = 1,
		.omit_timeout = true,
	};
	assert_same_headers(recorded, w, &get);

	/* A difference is caught: the comparison is not vacuous. */
	get.cim_namespace = "root/cimv2";
	rms_buf built;
	rms__buf_init(&built);
	char mid[42];
	assert_int_equal(rms__wsman_build(&built, w, &get, mid), 0);
	char *a = header_facts(recorded), *b = header_facts(built.data);
	assert_string_not_equal(a, b);
	free(a);
	free(b);
	rms__buf_free(&built);
	rms_ref_free(sel);
	rms__wsman_free(w);
	free(recorded);
}

static void test_envelope_is_well_formed_and_escapes_values(void **state)
{
	(void)state;
	rms_wsman *w = client(0, 0);
	assert_int_equal(rms__wsman_max_envelope(w), RMS_WSMAN_DEFAULT_MAX_ENVELOPE);
	rms_ref *sel;
	assert_int_equal(rms_ref_new(&sel, NULL, NULL), 0);
	assert_int_equal(rms_ref_add_selector(sel, "Name", "a<b>&\"c\""), 0);
	rms_wsman_request req = { .action = RMS_ACTION_GET,
		                  .resource_uri = "http://x/y?a=1&b=2",
		                  .selectors = sel };
	rms_buf b;
	rms__buf_init(&b);
	char mid[42];
	assert_int_equal(rms__wsman_build(&b, w, &req, mid), 0);
	xmlDoc *doc = xmlReadMemory(b.data, (int)b.len, NULL, NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	xmlFreeDoc(doc);
	assert_non_null(strstr(b.data, "a&lt;b&gt;&amp;&quot;c&quot;"));
	assert_non_null(strstr(b.data, "<w:OperationTimeout>PT60.000S</w:OperationTimeout>"));
	assert_non_null(strstr(b.data, "<s:Body/>"));
	rms__buf_free(&b);
	rms_ref_free(sel);
	rms__wsman_free(w);
}

/* Every envelope gets its own MessageID, a canonical upper-case version 4
 * GUID; two clients' IDs differ too (issue 20: one random draw per
 * client, then a counter, instead of one draw per request). */
static void test_message_ids_are_unique_version_4_guids(void **state)
{
	(void)state;
	rms_wsman *w[2] = {client(0, 0), client(0, 0)};
	rms_wsman_request req = {.action = RMS_ACTION_GET, .resource_uri = "http://x/y"};
	enum { N = 600 };
	static char ids[2 * N][42];
	for (size_t i = 0; i < 2 * N; i++) {
		rms_buf b;
		rms__buf_init(&b);
		assert_int_equal(rms__wsman_build(&b, w[i % 2], &req, ids[i]), 0);
		char tag[80];
		snprintf(tag, sizeof tag, "<a:MessageID>%.41s</a:MessageID>", ids[i]);
		assert_non_null(strstr(b.data, tag));
		rms__buf_free(&b);
		const char *g = ids[i] + 5;
		assert_int_equal(strncmp(ids[i], "uuid:", 5), 0);
		assert_int_equal(strlen(g), 36);
		for (size_t k = 0; k < 36; k++) {
			if (k == 8 || k == 13 || k == 18 || k == 23)
				assert_int_equal(g[k], '-');
			else
				assert_non_null(strchr("0123456789ABCDEF", g[k]));
		}
		assert_int_equal(g[14], '4');
		assert_non_null(strchr("89AB", g[19]));
		for (size_t j = 0; j < i; j++)
			if (strcmp(ids[j], ids[i]) == 0)
				fail_msg("MessageID %s made twice (%zu and %zu)", ids[i], j, i);
	}
	rms__wsman_free(w[0]);
	rms__wsman_free(w[1]);
}

static void test_duration_format(void **state)
{
	(void)state;
	char buf[32];
	rms__wsman_duration(buf, sizeof buf, 20000);
	assert_string_equal(buf, "PT20.000S");
	rms__wsman_duration(buf, sizeof buf, 1500);
	assert_string_equal(buf, "PT1.500S");
	rms__wsman_duration(buf, sizeof buf, 0);
	assert_string_equal(buf, "PT0.000S");
}


/* ---- against a loopback server ----------------------------------------- */

static char *winrmsharp_response(const char *name)
{
	return rms_fixture_winrmsharp_response(name);
}

static char *fixture(const char *rel)
{
	return rms_fixture(rel, NULL);
}

/* A reply whose RelatesTo echoes the request's MessageID, as Windows does. */
static void echo_handler(const rms_httpd_request *req, rms_httpd_response *resp, void *ud)
{
	const char *relates = ud ? ud : NULL;
	char mid[64] = "uuid:none";
	const char *m = req->body ? strstr(req->body, "<a:MessageID>") : NULL;
	if (m)
		sscanf(m + strlen("<a:MessageID>"), "%63[^<]", mid);
	resp->body = rms__asprintf(
		"<s:Envelope xmlns:s=\"" RMS_NS_SOAP "\" xmlns:a=\"" RMS_NS_ADDRESSING "\">"
		"<s:Header><a:Action>" RMS_ACTION_GET "Response</a:Action>"
		"<a:RelatesTo>%s</a:RelatesTo></s:Header><s:Body>"
		"<p:Thing xmlns:p=\"urn:x\"><p:Name>ok</p:Name></p:Thing></s:Body></s:Envelope>",
		relates ? relates : mid);
	resp->free_body = true;
}

static rms_session_options loop_opts(rms_httpd *d)
{
	rms_session_options o = RMS_SESSION_OPTIONS_INIT;
	o.url = rms_httpd_url(d);
	o.user = "admin";
	o.password = "Sup3r-Secret!";
	o.allow_unencrypted = true;
	o.operation_timeout_ms = 3000;
	o.connect_timeout_ms = 2000;
	return o;
}

static rms_httpd *serve(const rms_httpd_response *script, size_t n)
{
	rms_httpd_options ho = { .script = script, .script_len = n };
	rms_httpd *d;
	assert_int_equal(rms_httpd_start(&d, &ho), 0);
	return d;
}

static rms_wsman *loop_client(rms_httpd *d, rms_stats *st, const rms_logger *lg)
{
	rms_session_options o = loop_opts(d);
	rms_wsman *w;
	assert_int_equal(rms__wsman_new(&w, &o, st, lg, NULL, NULL), 0);
	return w;
}

static const rms_wsman_request get_req = { .action = RMS_ACTION_GET,
	                                   .resource_uri = "http://x/y" };

/* Sends get_req to a server answering `resp`; returns the code and leaves
 * the error in rms_error_last(). */
static int exchange(const rms_httpd_response *resp)
{
	rms_httpd *d = serve(resp, 1);
	rms_wsman *w = loop_client(d, NULL, NULL);
	rms_wsman_reply r;
	int rc = rms__wsman_send(w, &get_req, &r);
	if (rc == 0)
		rms__wsman_reply_free(&r);
	rms__wsman_free(w);
	rms_httpd_stop(d);
	return rc;
}

static void assert_msg(const char *part)
{
	const char *m = rms_error_message(rms_error_last());
	if (!m || !strstr(m, part))
		fail_msg("message '%s' lacks '%s'", m ? m : "(none)", part);
}

static void test_identify_decodes_recorded_windows_answer(void **state)
{
	(void)state;
	char *body = winrmsharp_response("ProtocolIdentify.yml");
	rms_httpd_response resp = { .body = body };
	rms_httpd *d = serve(&resp, 1);
	rms_wsman *w = loop_client(d, NULL, NULL);
	rms_instance *id = NULL;
	assert_int_equal(rms__wsman_identify(w, false, &id), 0);
	const char *s;
	assert_int_equal(rms_value_get_string(rms_instance_get(id, "ProductVendor"), &s), 0);
	assert_string_equal(s, "Microsoft Corporation");
	assert_int_equal(rms_value_get_string(rms_instance_get(id, "ProductVersion"), &s), 0);
	assert_string_equal(s, "OS: 10.0.14393 SP: 0.0 Stack: 3.0");
	assert_int_equal(rms_value_get_string(rms_instance_get(id, "ProtocolVersion"), &s), 0);
	assert_string_equal(s, "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd");
	const rms_value *prof = rms_instance_get(id, "SecurityProfiles");
	assert_int_equal(rms_value_array_length(prof), 2);
	assert_int_equal(rms_value_get_string(rms_value_array_at(prof, 0), &s), 0);
	assert_string_equal(s, "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/basic");
	rms_instance_free(id);

	/* What went out: an Identify with an empty header, as DSP0226 has it. */
	size_t len;
	char *sent = rms_httpd_last_body(d, &len);
	assert_non_null(strstr(sent, "<s:Header/><s:Body><wsmid:Identify/></s:Body>"));
	free(sent);
	char *ct = rms_httpd_last_header(d, "Content-Type");
	assert_string_equal(ct, "application/soap+xml;charset=UTF-8");
	free(ct);
	char *auth = rms_httpd_last_header(d, "Authorization");
	assert_non_null(auth); /* Basic, sent pre-emptively */
	free(auth);
	rms__wsman_free(w);
	rms_httpd_stop(d);
	free(body);
}

/* OMI 1.9.1 answers with IdentifyResponse in the SOAP envelope's
 * namespace, its children wsmid: (../shared/protocol/omi.md). */
static void test_identify_decodes_omi_answer(void **state)
{
	(void)state;
	rms_httpd_response resp = {
	    .body = "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://www.w3.org/2003/05/soap-envelope\" "
	            "xmlns:wsmid=\"http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd\" "
	            "xmlns:wsmb=\"http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xml\">"
	            "<SOAP-ENV:Header/><SOAP-ENV:Body><SOAP-ENV:IdentifyResponse>"
	            "<wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	            "</wsmid:ProtocolVersion><wsmid:ProductVendor>Open Management "
	            "Infrastructure</wsmid:ProductVendor><wsmid:ProductVersion>1.9.1-0"
	            "</wsmid:ProductVersion></SOAP-ENV:IdentifyResponse></SOAP-ENV:Body>"
	            "</SOAP-ENV:Envelope>"};
	rms_httpd *d = serve(&resp, 1);
	rms_wsman *w = loop_client(d, NULL, NULL);
	rms_instance *id = NULL;
	if (rms__wsman_identify(w, false, &id) != 0)
		fail_msg("%s", rms_error_message(rms_error_last()));
	const char *s;
	assert_int_equal(rms_value_get_string(rms_instance_get(id, "ProductVendor"), &s), 0);
	assert_string_equal(s, "Open Management Infrastructure");
	assert_int_equal(rms_value_get_string(rms_instance_get(id, "ProductVersion"), &s), 0);
	assert_string_equal(s, "1.9.1-0");
	rms_instance_free(id);
	rms__wsman_free(w);
	rms_httpd_stop(d);
}

static void test_unauthenticated_identify_sends_no_credentials(void **state)
{
	(void)state;
	char *body = winrmsharp_response("ProtocolIdentify.yml");
	rms_httpd_response resp = { .body = body };
	rms_httpd *d = serve(&resp, 1);
	rms_wsman *w = loop_client(d, NULL, NULL);
	rms_instance *id = NULL;
	assert_int_equal(rms__wsman_identify(w, true, &id), 0);
	rms_instance_free(id);
	char *h = rms_httpd_last_header(d, "WSMANIDENTIFY");
	assert_string_equal(h, "unauthenticated");
	free(h);
	assert_null(rms_httpd_last_header(d, "Authorization"));
	rms__wsman_free(w);
	rms_httpd_stop(d);
	free(body);
}

static void test_cim_identify_opens_one_connection_and_closes_it(void **state)
{
	(void)state;
	char *body = winrmsharp_response("ProtocolIdentify.yml");
	rms_httpd_response resp = { .body = body };
	rms_httpd *d = serve(&resp, 1);
	rms_session_options o = loop_opts(d);
	rms_session *s;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	assert_int_equal(rms_httpd_connections(d), 0); /* lazy */
	for (int i = 1; i <= 3; i++) {
		rms_instance *id = NULL;
		assert_int_equal(rms_identify(&id, s), 0);
		rms_instance_free(id);
		rms_stats st = { .version = RMS_STATS_VERSION };
		assert_int_equal(rms_session_stats(s, &st), 0);
		/* One connection per operation, none held afterwards. */
		assert_int_equal(st.connections_opened, (uint64_t)i);
		assert_int_equal(st.connections_open, 0);
		assert_int_equal(st.round_trips, (uint64_t)i);
		assert_int_equal(rms_httpd_connections(d), (unsigned)i);
	}
	rms_session_free(s);
	rms_httpd_stop(d);
	free(body);
}

static void test_test_connection_identifies_at_creation(void **state)
{
	(void)state;
	char *body = winrmsharp_response("ProtocolIdentify.yml");
	rms_httpd_response script[] = { { .status = 401, .body = "" }, { .body = body } };
	rms_httpd *d = serve(script, 2);
	rms_session_options o = loop_opts(d);
	o.cim.test_connection = true;
	rms_session *s = NULL;
	rms_error *err = NULL;
	rms_error_clear();
	/* First answer 401: the wrong password shows at creation. */
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), RMS_E_AUTH);
	err = rms_error_dup(rms_error_last());
	assert_null(s);
	assert_int_equal(rms_error_phase(err), RMS_PHASE_AUTHENTICATE);
	assert_int_equal(rms_error_http_status(err), 401);
	assert_non_null(strstr(rms_error_message(err), "admin"));
	assert_null(strstr(rms_error_message(err), "Sup3r-Secret!"));
	rms_error_free(err);
	/* Then 200: the session is created, having connected once. */
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	rms_stats st = { .version = RMS_STATS_VERSION };
	assert_int_equal(rms_session_stats(s, &st), 0);
	assert_int_equal(st.connections_opened, 1);
	assert_int_equal(st.connections_open, 0);
	rms_session_free(s);
	rms_httpd_stop(d);
	free(body);
}

static void test_oversized_request_is_not_sent(void **state)
{
	(void)state;
	rms_httpd_response resp = { .body = "" };
	rms_httpd *d = serve(&resp, 1);
	rms_session_options o = loop_opts(d);
	o.max_envelope_size = 8192;
	rms_wsman *w;
	assert_int_equal(rms__wsman_new(&w, &o, NULL, NULL, NULL, NULL), 0);
	char *big = malloc(10000);
	memset(big, 'x', 9999);
	big[9999] = '\0';
	char *body = rms__asprintf("<p:Data xmlns:p=\"urn:x\">%s</p:Data>", big);
	rms_wsman_request req = { .action = RMS_ACTION_PUT, .resource_uri = "http://x/y",
		                  .body = body };
	rms_wsman_reply r;
	assert_int_equal(rms__wsman_send(w, &req, &r), RMS_E_ENVELOPE_TOO_LARGE);
	const rms_error *e = rms_error_last();
	assert_int_equal(rms_error_phase(e), RMS_PHASE_SEND);
	assert_string_equal(rms_error_limit_name(e), "MaxEnvelopeSize");
	assert_int_equal(rms_error_limit_value(e), 8192);
	assert_true(rms_error_limit_actual(e) > 8192);
	assert_msg("8192");
	assert_int_equal(rms_httpd_requests(d), 0); /* nothing went out */
	free(big);
	free(body);
	rms__wsman_free(w);
	rms_httpd_stop(d);
}

static void test_http_413_names_the_size_sent(void **state)
{
	(void)state;
	rms_httpd_response resp = { .status = 413, .content_type = "" };
	assert_int_equal(exchange(&resp), RMS_E_ENVELOPE_TOO_LARGE);
	const rms_error *e = rms_error_last();
	assert_int_equal(rms_error_http_status(e), 413);
	assert_int_equal(rms_error_phase(e), RMS_PHASE_SEND);
	assert_true(rms_error_limit_actual(e) > 1000);
	assert_msg("413");
}

/* A small request refused as too large: no WinRM limit is that small, so
 * the message does not send the user to max_envelope_size. */
static void test_http_413_for_a_small_request_blames_what_is_in_front(void **state)
{
	(void)state;
	rms_httpd_response resp = {.status = 413, .content_type = ""};
	assert_int_equal(exchange(&resp), RMS_E_ENVELOPE_TOO_LARGE);
	const char *m = rms_error_message(rms_error_last());
	if (!strstr(m, "small") || !strstr(m, "cannot help") || strstr(m, "set max_envelope_size"))
		fail_msg("413 for a small request: %s", m);
}

/* A redirect is named with its target, not followed (credentials go
 * nowhere else). */
static void test_redirect_is_named_not_followed(void **state)
{
	(void)state;
	rms_httpd_response resp = {.status = 302,
	                           .content_type = "",
	                           .headers = "Location: https://other.example/wsman\r\n"};
	assert_int_equal(exchange(&resp), RMS_E_HTTP);
	assert_int_equal(rms_error_http_status(rms_error_last()), 302);
	assert_msg("redirects");
	assert_msg("https://other.example/wsman");
	assert_msg("follows no redirect");
}

static void test_recorded_faults_become_errors(void **state)
{
	(void)state;
	/* pywinrm's test_wsman_fault_with_wsmanfault.xml */
	char *f = fixture("diyan-pywinrm/extracted-from-winrm-tests-test_exceptions.py/"
	                  "test_wsman_fault_with_wsmanfault.xml");
	rms_httpd_response resp = { .status = 500, .body = f };
	assert_int_equal(exchange(&resp), RMS_E_FAULT);
	const rms_error *e = rms_error_last();
	assert_int_equal(rms_error_http_status(e), 500);
	assert_int_equal(rms_error_phase(e), RMS_PHASE_REMOTE);
	assert_string_equal(rms_error_fault_subcode(e), "w:SchemaValidationError");
	assert_int_equal(rms_error_wsman_code(e), 2150858817u);
	assert_string_equal(rms_error_machine(e), "SERVER2008.domain.local");
	free(f);

	/* masterzen/winrm's operationTimeoutResponse.xml: "no data yet". */
	f = fixture("masterzen-winrm/extracted-from-fixture_test.go/operationTimeoutResponse.xml");
	resp.body = f;
	assert_int_equal(exchange(&resp), RMS_E_TIMEOUT);
	assert_true(rms__fault_is_timed_out(rms_error_last()));
	free(f);
}

static void test_http_failures_are_classified(void **state)
{
	(void)state;
	rms_httpd_response r500 = { .status = 500, .content_type = "" };
	assert_int_equal(exchange(&r500), RMS_E_HTTP);
	assert_int_equal(rms_error_http_status(rms_error_last()), 500);
	assert_msg("empty body");

	rms_httpd_response r503 = { .status = 503, .content_type = "text/html",
		                    .body = "<html>busy</html>" };
	assert_int_equal(exchange(&r503), RMS_E_HTTP);
	assert_int_equal(rms_error_http_status(rms_error_last()), 503);
	assert_msg("503");

	rms_httpd_response r400 = { .status = 400, .content_type = "" };
	assert_int_equal(exchange(&r400), RMS_E_HTTP);
	assert_int_equal(rms_error_http_status(rms_error_last()), 400);

	rms_httpd_response r401 = { .status = 401, .content_type = "",
		                    .headers = "WWW-Authenticate: Basic realm=\"WSMAN\"\r\n" };
	assert_int_equal(exchange(&r401), RMS_E_AUTH);
	assert_int_equal(rms_error_phase(rms_error_last()), RMS_PHASE_AUTHENTICATE);

	rms_httpd_response html = { .content_type = "text/html", .body = "<html/>" };
	assert_int_equal(exchange(&html), RMS_E_PROTOCOL);
	assert_msg("text/html");

	rms_httpd_response notxml = { .body = "this is not XML" };
	assert_int_equal(exchange(&notxml), RMS_E_PROTOCOL);
	assert_int_equal(rms_error_phase(rms_error_last()), RMS_PHASE_DECODE);

	rms_httpd_response cut = { .body = "<s:Envelope xmlns:s=\"" RMS_NS_SOAP
		                           "\"><s:Header></s:Header><s:Body><p:X" };
	assert_int_equal(exchange(&cut), RMS_E_PROTOCOL);

	rms_httpd_response empty = { .body = "" };
	assert_int_equal(exchange(&empty), RMS_E_PROTOCOL);
	assert_msg("empty body");

	rms_httpd_response dropped = { .mode = RMS_HTTPD_CLOSE };
	assert_int_equal(exchange(&dropped), RMS_E_CONNECTION_LOST);

	rms_httpd_response half = { .mode = RMS_HTTPD_TRUNCATE, .body = "<s:Envelope" };
	assert_int_equal(exchange(&half), RMS_E_CONNECTION_LOST);
}

static void test_reply_must_relate_to_the_request(void **state)
{
	(void)state;
	rms_httpd_options ho = { .handler = echo_handler };
	rms_httpd *d;
	assert_int_equal(rms_httpd_start(&d, &ho), 0);
	rms_wsman *w = loop_client(d, NULL, NULL);
	rms_wsman_reply r;
	assert_int_equal(rms__wsman_send(w, &get_req, &r), 0);
	xmlNode *thing;
	assert_int_equal(rms__soap_reader_next(r.reader, &thing), 0);
	assert_true(rms__xml_is(thing, "urn:x", "Thing"));
	assert_string_equal(rms__soap_reader_headers(r.reader)->action, RMS_ACTION_GET "Response");
	rms__wsman_reply_free(&r);
	rms__wsman_free(w);
	rms_httpd_stop(d);

	ho.userdata = (void *)"uuid:00000000-0000-0000-0000-000000000000";
	assert_int_equal(rms_httpd_start(&d, &ho), 0);
	w = loop_client(d, NULL, NULL);
	assert_int_equal(rms__wsman_send(w, &get_req, &r), RMS_E_PROTOCOL);
	assert_msg("RelatesTo");
	rms__wsman_free(w);
	rms_httpd_stop(d);
}

/* ---- the same exchange, stepped ------------------------------------------ */

/* Runs req by start, then step and a wait on what step names, as the
 * engine does; counts the steps that had to wait. */
static int stepped(rms_wsman *w, const rms_wsman_request *req, rms_wsman_reply *r,
                   unsigned *waits)
{
	int rc = rms__wsman_start(w, req);
	if (rc)
		return rc;
	assert_true(rms__wsman_busy(w));
	for (;;) {
		rms_wait wt;
		rc = rms__wsman_step(w, &wt, r);
		if (rc != RMS_EAGAIN) {
			assert_false(rms__wsman_busy(w));
			return rc;
		}
		(*waits)++;
		assert_true(wt.nfds > 0);
		assert_true(wt.deadline_ms > 0);
		assert_int_equal(rms__wait_block(&wt), 0);
	}
}

/* What one way of running an exchange gave. */
typedef struct outcome {
	int rc;
	rms_error *err;
	size_t request_size;
	char *action;     /* the reply's, on success */
	char *first;      /* its first Body element, on success */
} outcome;

static void outcome_of(outcome *o, int rc, rms_wsman_reply *r)
{
	memset(o, 0, sizeof *o);
	o->rc = rc;
	if (rc) {
		o->err = rms_error_dup(rms_error_last());
		assert_null(r->reader); /* nothing to free */
		assert_null(r->http.body.data);
		return;
	}
	o->request_size = r->request_size;
	o->action = strdup(rms__soap_reader_headers(r->reader)->action);
	xmlNode *n;
	assert_int_equal(rms__soap_reader_next(r->reader, &n), 0);
	o->first = strdup((const char *)n->name);
	rms__wsman_reply_free(r);
}

static void assert_same_outcome(const outcome *a, const outcome *b)
{
	assert_int_equal(a->rc, b->rc);
	if (a->rc) {
		const char *ma = rms_error_message(a->err), *mb = rms_error_message(b->err);
		assert_int_equal(rms_error_phase(a->err), rms_error_phase(b->err));
		assert_int_equal(rms_error_http_status(a->err), rms_error_http_status(b->err));
		assert_int_equal(rms_error_wsman_code(a->err), rms_error_wsman_code(b->err));
		const char *sa = rms_error_fault_subcode(a->err), *sb = rms_error_fault_subcode(b->err);
		assert_string_equal(sa ? sa : "-", sb ? sb : "-");
		/* The same words, but for the message ids a RelatesTo error names. */
		if (!strstr(ma, "uuid:"))
			assert_string_equal(ma, mb);
		else
			assert_int_equal(strcspn(ma, ":"), strcspn(mb, ":"));
	} else {
		assert_int_equal(a->request_size, b->request_size);
		assert_string_equal(a->action, b->action);
		assert_string_equal(a->first, b->first);
	}
}

static void outcome_free(outcome *o)
{
	rms_error_free(o->err);
	free(o->action);
	free(o->first);
}

/* Each answer, after 150 ms of thought, given to the same request sent
 * once by rms__wsman_send and once by start + step: the same reply or
 * the same error, and the stepped one waited instead of blocking. */
struct slow_answer {
	rms_httpd_response resp; /* .body == NULL: echo_handler's reply */
	const char *relates;
};

static void slow_handler(const rms_httpd_request *req, rms_httpd_response *resp, void *ud)
{
	const struct slow_answer *a = ud;
	if (a->resp.body) {
		*resp = a->resp;
		resp->free_body = false;
	} else {
		char relates[64];
		snprintf(relates, sizeof relates, "%s", a->relates ? a->relates : "");
		echo_handler(req, resp, a->relates ? relates : NULL);
	}
	resp->answer_after_ms = 150;
}

static void test_stepped_exchange_gives_what_send_gives(void **state)
{
	(void)state;
	char *wsfault = fixture("diyan-pywinrm/extracted-from-winrm-tests-test_exceptions.py/"
	                        "test_wsman_fault_with_wsmanfault.xml");
	char *timedout =
	    fixture("masterzen-winrm/extracted-from-fixture_test.go/operationTimeoutResponse.xml");
	struct slow_answer answers[] = {
	    {.resp = {.body = NULL}},
	    {.resp = {.status = 500, .body = wsfault}},
	    {.resp = {.status = 500, .body = timedout}},
	    {.resp = {.status = 401, .content_type = "", .body = ""}},
	    {.resp = {.status = 413, .content_type = "", .body = ""}},
	    {.resp = {.content_type = "text/html", .body = "<html/>"}},
	    {.resp = {.body = "this is not XML"}},
	    {.resp = {.body = NULL}, .relates = "uuid:00000000-0000-0000-0000-000000000000"},
	};
	for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
		rms_httpd_options ho = {.handler = slow_handler, .userdata = &answers[i]};
		rms_httpd *d;
		assert_int_equal(rms_httpd_start(&d, &ho), 0);
		rms_wsman *w = loop_client(d, NULL, NULL);
		rms_wsman_reply r;
		outcome sent, step;
		outcome_of(&sent, rms__wsman_send(w, &get_req, &r), &r);
		unsigned waits = 0;
		outcome_of(&step, stepped(w, &get_req, &r, &waits), &r);
		assert_same_outcome(&sent, &step);
		assert_true(waits > 0);
		outcome_free(&sent);
		outcome_free(&step);
		rms__wsman_free(w);
		rms_httpd_stop(d);
	}
	free(wsfault);
	free(timedout);
}

/* Over MaxEnvelopeSize: start refuses with send's error, nothing goes
 * out, nothing is left in flight. */
static void test_oversized_request_fails_at_start_with_nothing_sent(void **state)
{
	(void)state;
	rms_httpd_response resp = {.body = ""};
	rms_httpd *d = serve(&resp, 1);
	rms_session_options o = loop_opts(d);
	o.max_envelope_size = 8192;
	rms_wsman *w;
	assert_int_equal(rms__wsman_new(&w, &o, NULL, NULL, NULL, NULL), 0);
	char *body = malloc(10000);
	memset(body, 'x', 9999);
	body[9999] = '\0';
	rms_wsman_request req = {.action = RMS_ACTION_PUT, .resource_uri = "http://x/y",
	                         .body = body};
	assert_int_equal(rms__wsman_start(w, &req), RMS_E_ENVELOPE_TOO_LARGE);
	const rms_error *e = rms_error_last();
	assert_int_equal(rms_error_phase(e), RMS_PHASE_SEND);
	assert_string_equal(rms_error_limit_name(e), "MaxEnvelopeSize");
	assert_int_equal(rms_error_limit_value(e), 8192);
	assert_true(rms_error_limit_actual(e) > 8192);
	assert_msg("it was not sent");
	assert_false(rms__wsman_busy(w));
	rms_wait wt;
	rms_wsman_reply r;
	assert_int_equal(rms__wsman_step(w, &wt, &r), RMS_E_STATE);
	assert_int_equal(rms_httpd_connections(d), 0);
	assert_int_equal(rms_httpd_requests(d), 0);
	free(body);
	rms__wsman_free(w);
	rms_httpd_stop(d);
}

/* One exchange at a time: a second start (or an Identify) while one is in
 * flight is RMS_E_STATE and disturbs nothing; an abort frees the client,
 * whose next exchange goes out on a new connection. The request may be
 * freed right after start. */
static void test_start_while_busy_is_refused(void **state)
{
	(void)state;
	struct slow_answer echo = {.resp = {.body = NULL}};
	rms_httpd_options ho = {.handler = slow_handler, .userdata = &echo};
	rms_httpd *d;
	assert_int_equal(rms_httpd_start(&d, &ho), 0);
	rms_wsman *w = loop_client(d, NULL, NULL);

	rms_wsman_request *req = malloc(sizeof *req);
	char *uri = strdup("http://x/y");
	*req = get_req;
	req->resource_uri = uri;
	assert_int_equal(rms__wsman_start(w, req), 0);
	free(uri);
	free(req);
	assert_int_equal(rms__wsman_start(w, &get_req), RMS_E_STATE);
	assert_int_equal(rms_error_phase(rms_error_last()), RMS_PHASE_SEND);
	assert_int_equal(rms__wsman_identify_start(w, false), RMS_E_STATE);
	assert_true(rms__wsman_busy(w));
	rms_wsman_reply r;
	for (;;) {
		rms_wait wt;
		int rc = rms__wsman_step(w, &wt, &r);
		if (rc != RMS_EAGAIN) {
			assert_int_equal(rc, 0);
			break;
		}
		assert_int_equal(rms__wait_block(&wt), 0);
	}
	char *sent = rms_httpd_last_body(d, &(size_t){0});
	assert_non_null(strstr(sent, "http://x/y</w:ResourceURI>"));
	free(sent);
	rms__wsman_reply_free(&r);
	assert_int_equal(rms_httpd_connections(d), 1);

	/* Aborted in flight: the next exchange opens a new connection. */
	assert_int_equal(rms__wsman_start(w, &get_req), 0);
	rms_wait wt;
	assert_int_equal(rms__wsman_step(w, &wt, &r), RMS_EAGAIN);
	rms__wsman_abort(w);
	assert_false(rms__wsman_busy(w));
	rms__wsman_abort(w); /* none in flight: nothing happens */
	assert_int_equal(rms__wsman_send(w, &get_req, &r), 0);
	rms__wsman_reply_free(&r);
	assert_int_equal(rms_httpd_connections(d), 2);
	rms__wsman_free(w);
	rms_httpd_stop(d);
}

/* Identify stepped: the same instance rms__wsman_identify decodes. */
static void test_identify_stepped(void **state)
{
	(void)state;
	char *body = winrmsharp_response("ProtocolIdentify.yml");
	rms_httpd_response resp = {.body = body, .answer_after_ms = 100};
	rms_httpd *d = serve(&resp, 1);
	rms_wsman *w = loop_client(d, NULL, NULL);
	assert_int_equal(rms__wsman_identify_start(w, true), 0);
	rms_wsman_reply r;
	unsigned waits = 0;
	int rc;
	for (;;) {
		rms_wait wt;
		if ((rc = rms__wsman_step(w, &wt, &r)) != RMS_EAGAIN)
			break;
		waits++;
		assert_int_equal(rms__wait_block(&wt), 0);
	}
	assert_int_equal(rc, 0);
	assert_true(waits > 0);
	rms_instance *id = NULL;
	assert_int_equal(rms__wsman_identify_decode(w, &r, &id), 0);
	rms__wsman_reply_free(&r);
	const char *s;
	assert_int_equal(rms_value_get_string(rms_instance_get(id, "ProductVendor"), &s), 0);
	assert_string_equal(s, "Microsoft Corporation");
	rms_instance_free(id);
	char *h = rms_httpd_last_header(d, "WSMANIDENTIFY");
	assert_string_equal(h, "unauthenticated");
	free(h);
	assert_null(rms_httpd_last_header(d, "Authorization"));
	rms__wsman_free(w);
	rms_httpd_stop(d);
	free(body);
}

#define UNSUPPORTED_FAULT                                                                          \
	"<s:Envelope xmlns:s=\"" RMS_NS_SOAP "\" xmlns:w=\"" RMS_NS_WSMAN_DMTF "\"><s:Header/>"     \
	"<s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>"                \
	"w:UnsupportedFeature</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang=\"en-US\">" \
	"The feature is not supported.</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>"

static void test_a_server_without_class_schemas(void **state)
{
	(void)state;
	/* GetClass refused: RMS_E_UNSUPPORTED saying the server lacks it. */
	rms_httpd_response refuse = { .status = 500, .body = UNSUPPORTED_FAULT };
	rms_httpd *d = serve(&refuse, 1);
	rms_session_options o = loop_opts(d);
	rms_session *s;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	rms_request *r;
	assert_int_equal(rms_request_new(&r, RMS_OP_GET_CLASS), 0);
	assert_int_equal(rms_request_set_class(r, "Win32_Service"), 0);
	rms_op *op;
	rms_error *err = NULL;
	rms_error_clear();
	assert_int_equal(rms_op_start(&op, s, r), RMS_E_UNSUPPORTED);
	err = rms_error_dup(rms_error_last());
	assert_non_null(strstr(rms_error_message(err), "not supported by this server"));
	assert_string_equal(rms_error_fault_subcode(err), "w:UnsupportedFeature");
	rms_error_free(err);
	rms_request_free(r);
	rms_session_free(s);
	rms_httpd_stop(d);

	/* A Get still works: the instance decodes by shape when the schema
	 * is refused (the GetClass follows the Get on its connection). */
#define SERVICE_ENVELOPE                                                                           \
	"<s:Envelope xmlns:s=\"" RMS_NS_SOAP "\"><s:Header/><s:Body>"                               \
	"<p:Win32_Service xmlns:p=\"" RMS_URI_WMI_PREFIX "root/cimv2/Win32_Service\">"              \
	"<p:Name>WinRM</p:Name><p:ProcessId>744</p:ProcessId></p:Win32_Service>"                  \
	"</s:Body></s:Envelope>"
	rms_httpd_response script[3] = {
		{ .body = SERVICE_ENVELOPE },
		{ .status = 500, .body = UNSUPPORTED_FAULT },
		{ .body = SERVICE_ENVELOPE },
	};
	d = serve(script, 3);
	o = loop_opts(d);
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	rms_ref *k;
	assert_int_equal(rms_ref_new(&k, NULL, "Win32_Service"), 0);
	assert_int_equal(rms_ref_add_selector(k, "Name", "WinRM"), 0);
	rms_instance *inst;
	assert_int_equal(rms_get(&inst, s, k), 0);
	const char *pid;
	assert_int_equal(rms_value_get_string(rms_instance_get(inst, "ProcessId"), &pid), 0);
	assert_string_equal(pid, "744");
	assert_int_equal(rms_httpd_requests(d), 2);
	assert_int_equal(rms_httpd_connections(d), 1);
	rms_instance_free(inst);
	/* The refusal is remembered: no second GetClass for the class. */
	assert_int_equal(rms_get(&inst, s, k), 0);
	assert_int_equal(rms_httpd_requests(d), 3);
	rms_instance_free(inst);
	rms_ref_free(k);
	rms_session_free(s);
	rms_httpd_stop(d);
}

#define ENUM_ENV(action, body)                                                                     \
	"<s:Envelope xmlns:s=\"" RMS_NS_SOAP "\" xmlns:n=\"" RMS_NS_ENUMERATION "\" xmlns:w=\""      \
	RMS_NS_WSMAN_DMTF "\"><s:Header/><s:Body><n:" action ">" body "</n:" action ">"              \
	"</s:Body></s:Envelope>"

static int enumerate_against(const rms_httpd_response *script, size_t n, uint64_t *items,
                             unsigned *requests)
{
	rms_httpd *d = serve(script, n);
	rms_session_options o = loop_opts(d);
	o.cim.no_schema = true;
	rms_session *s;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	rms_op *op;
	int rc = rms_enumerate(&op, s, NULL, "Win32_Service");
	*items = 0;
	if (rc == 0) {
		rms_instance *inst;
		while ((rc = rms_op_next(op, &inst)) == 0) {
			rms_instance_free(inst);
			(*items)++;
		}
		rms_op_free(op);
	}
	*requests = rms_httpd_requests(d);
	rms_session_free(s);
	rms_httpd_stop(d);
	return rc;
}

#define ITEM "<p:Win32_Service xmlns:p=\"urn:s\"><p:Name>a</p:Name></p:Win32_Service>"

/* One instance whose value does not decode (here a datetime that is not
 * one) costs that instance only: rms_op_next says RMS_E_SKIPPED naming it
 * and the property, the iterator goes on to the rest, and the op counts
 * it. */
static void test_an_undecodable_instance_is_skipped_not_the_result(void **state)
{
	(void)state;
	rms_httpd_response script[] = {
	    {.body = ENUM_ENV("EnumerateResponse",
	                      "<w:Items>" ITEM
	                      "<p:Win32_Service xmlns:p=\"urn:s\" xmlns:cim=\""
	                      "http://schemas.dmtf.org/wbem/wscim/1/common\"><p:Name>b</p:Name>"
	                      "<p:InstallDate><cim:Datetime>not-a-date</cim:Datetime>"
	                      "</p:InstallDate></p:Win32_Service>" ITEM
	                      "</w:Items><w:EndOfSequence/>")},
	};
	rms_httpd *d = serve(script, 1);
	rms_session_options o = loop_opts(d);
	o.cim.no_schema = true;
	rms_session *s;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	rms_op *op;
	assert_int_equal(rms_enumerate(&op, s, NULL, "Win32_Service"), 0);
	rms_instance *inst = NULL;
	assert_int_equal(rms_op_next(op, &inst), 0);
	rms_instance_free(inst);
	assert_int_equal(rms_op_next(op, &inst), RMS_E_SKIPPED);
	assert_null(inst);
	const char *m = rms_error_message(rms_error_last());
	if (!strstr(m, "item 2") || !strstr(m, "Win32_Service") || !strstr(m, "InstallDate"))
		fail_msg("the skip does not name the item and property: %s", m);
	assert_int_equal(rms_error_phase(rms_error_last()), RMS_PHASE_DECODE);
	assert_int_equal(rms_op_next(op, &inst), 0);
	rms_instance_free(inst);
	assert_int_equal(rms_op_next(op, &inst), RMS_ITEROVER);
	assert_int_equal(rms_op_delivered(op), 2);
	assert_int_equal(rms_op_skipped(op), 1);
	assert_null(rms_op_error(op)); /* the operation did not fail */
	rms_op_free(op);
	rms_session_free(s);
	rms_httpd_stop(d);

	/* The first item bad: found while the enumeration starts (inside a
	 * step), reported by the first next all the same. */
	rms_httpd_response first_bad[] = {
	    {.body = ENUM_ENV("EnumerateResponse",
	                      "<w:Items><p:Win32_Service xmlns:p=\"urn:s\" xmlns:cim=\""
	                      "http://schemas.dmtf.org/wbem/wscim/1/common\"><p:InstallDate>"
	                      "<cim:Datetime>x</cim:Datetime></p:InstallDate></p:Win32_Service>"
	                      ITEM "</w:Items><w:EndOfSequence/>")},
	};
	d = serve(first_bad, 1);
	o = loop_opts(d);
	o.cim.no_schema = true;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	assert_int_equal(rms_enumerate(&op, s, NULL, "Win32_Service"), 0);
	assert_int_equal(rms_op_next(op, &inst), RMS_E_SKIPPED);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "item 1"));
	assert_int_equal(rms_op_next(op, &inst), 0);
	rms_instance_free(inst);
	assert_int_equal(rms_op_next(op, &inst), RMS_ITEROVER);
	assert_int_equal(rms_op_skipped(op), 1);
	rms_op_free(op);
	rms_session_free(s);
	rms_httpd_stop(d);
}

static void test_enumeration_answers_that_never_end_are_refused(void **state)
{
	(void)state;
	uint64_t items;
	unsigned requests;
	/* Pull after Pull with a context, no items and no end. */
	rms_httpd_response forever[] = {
		{ .body = ENUM_ENV("EnumerateResponse", "<n:EnumerationContext>c</n:EnumerationContext>"
		                                        "<w:Items>" ITEM "</w:Items>") },
		{ .body = ENUM_ENV("PullResponse", "<n:EnumerationContext>c</n:EnumerationContext>"
		                                   "<n:Items/>") },
	};
	assert_int_equal(enumerate_against(forever, 2, &items, &requests), RMS_E_PROTOCOL);
	assert_int_equal(items, 1);
	assert_true(requests >= 100 && requests < 110);

	/* Neither a context nor EndOfSequence: the result may be cut short. */
	rms_httpd_response cut[] = {
		{ .body = ENUM_ENV("EnumerateResponse", "<w:Items>" ITEM ITEM "</w:Items>") },
	};
	assert_int_equal(enumerate_against(cut, 1, &items, &requests), RMS_E_PROTOCOL);
	assert_int_equal(items, 2);

	/* An answer that is not an enumeration answer (and nothing leaks). */
	rms_httpd_response wrong[] = {
		{ .body = ENUM_ENV("ReleaseResponse", "") },
	};
	assert_int_equal(enumerate_against(wrong, 1, &items, &requests), RMS_E_PROTOCOL);
	assert_int_equal(items, 0);

	/* A proper end: EndOfSequence with an empty context. */
	rms_httpd_response done[] = {
		{ .body = ENUM_ENV("EnumerateResponse", "<n:EnumerationContext/>"
		                                        "<w:Items>" ITEM "</w:Items><w:EndOfSequence/>") },
	};
	assert_int_equal(enumerate_against(done, 1, &items, &requests), RMS_ITEROVER);
	assert_int_equal(items, 1);
	assert_int_equal(requests, 1);
}

struct logbook {
	int lines;
	int leaked;
	int auth_lines;
};

static void log_fn(rms_log_level level, const char *msg, void *ud)
{
	(void)level;
	struct logbook *b = ud;
	b->lines++;
	if (strstr(msg, "Sup3r-Secret!") || strstr(msg, "YWRtaW46U3VwM3ItU2VjcmV0IQ"))
		b->leaked++;
	if (strstr(msg, "Authorization"))
		b->auth_lines++;
}

static void test_trace_log_never_shows_the_password(void **state)
{
	(void)state;
	rms_httpd_options ho = { .handler = echo_handler };
	rms_httpd *d;
	assert_int_equal(rms_httpd_start(&d, &ho), 0);
	struct logbook book = { 0 };
	rms_logger lg = { .fn = log_fn, .userdata = &book, .level = RMS_LOG_TRACE,
		          .secret = "Sup3r-Secret!" };
	rms_wsman *w = loop_client(d, NULL, &lg);
	rms_wsman_reply r;
	assert_int_equal(rms__wsman_send(w, &get_req, &r), 0);
	rms__wsman_reply_free(&r);
	rms__wsman_free(w);
	rms_httpd_stop(d);
	/* The request was logged in full, headers included, and still no
	 * password nor its Basic encoding got through. */
	assert_true(book.lines >= 3);
	assert_int_equal(book.leaked, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_winrs_headers_match_recorded_pypsrp_requests),
		cmocka_unit_test(test_cim_get_class_headers_match_recorded_mi_client),
		cmocka_unit_test(test_envelope_is_well_formed_and_escapes_values),
		cmocka_unit_test(test_message_ids_are_unique_version_4_guids),
		cmocka_unit_test(test_duration_format),
		cmocka_unit_test(test_identify_decodes_recorded_windows_answer),
		cmocka_unit_test(test_identify_decodes_omi_answer),
		cmocka_unit_test(test_unauthenticated_identify_sends_no_credentials),
		cmocka_unit_test(test_cim_identify_opens_one_connection_and_closes_it),
		cmocka_unit_test(test_test_connection_identifies_at_creation),
		cmocka_unit_test(test_oversized_request_is_not_sent),
		cmocka_unit_test(test_http_413_names_the_size_sent),
		cmocka_unit_test(test_http_413_for_a_small_request_blames_what_is_in_front),
		cmocka_unit_test(test_redirect_is_named_not_followed),
		cmocka_unit_test(test_recorded_faults_become_errors),
		cmocka_unit_test(test_http_failures_are_classified),
		cmocka_unit_test(test_reply_must_relate_to_the_request),
		cmocka_unit_test(test_trace_log_never_shows_the_password),
		cmocka_unit_test(test_a_server_without_class_schemas),
		cmocka_unit_test(test_enumeration_answers_that_never_end_are_refused),
		cmocka_unit_test(test_an_undecodable_instance_is_skipped_not_the_result),
		cmocka_unit_test(test_stepped_exchange_gives_what_send_gives),
		cmocka_unit_test(test_oversized_request_fails_at_start_with_nothing_sent),
		cmocka_unit_test(test_start_while_busy_is_refused),
		cmocka_unit_test(test_identify_stepped),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	xmlCleanupParser();
	return rc;
}
