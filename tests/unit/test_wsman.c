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

#include "wsman.h"

/* ---- reading recorded requests ----------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open fixture %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

/* The index-th "- request: <...>" line of a pypsrp conversation file
 * (jborean93/pypsrp tests/tests_pypsrp/responses/NAME.yml: each request is the
 * exact one-line envelope the client sent). Caller frees. */
static char *pypsrp_request(const char *name, int index)
{
	char path[512];
	snprintf(path, sizeof path, "%s/jborean93-pypsrp/responses/%s", RMS_FIXTURES_DIR, name);
	char *all = slurp(path, NULL);
	char *p = all;
	for (int i = 0;; i++) {
		p = strstr(p, "- request: ");
		if (!p)
			fail_msg("%s has no request %d", name, index);
		p += strlen("- request: ");
		if (i == index)
			break;
	}
	size_t n = strcspn(p, "\n");
	char *r = strndup(p, n);
	free(all);
	return r;
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
	assert_int_equal(rms__wsman_new(&w, &o, NULL, NULL, NULL), 0);
	return w;
}

static void assert_same_headers(const char *recorded, const rms_wsman *w,
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
	char path[512];
	snprintf(path, sizeof path,
	         "%s/samples/omi-windows-mi-client-requests/windows_mi_client_request_00.xml",
	         RMS_FIXTURES_DIR);
	char *recorded = slurp(path, NULL);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_winrs_headers_match_recorded_pypsrp_requests),
		cmocka_unit_test(test_cim_get_class_headers_match_recorded_mi_client),
		cmocka_unit_test(test_envelope_is_well_formed_and_escapes_values),
		cmocka_unit_test(test_duration_format),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	xmlCleanupParser();
	return rc;
}
