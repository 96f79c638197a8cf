/*
 * Replay of recorded WinRS conversations with Windows: a real PSSession
 * (the WinRS transport, psremote/ps_winrs.c, plain http to 127.0.0.1,
 * Basic) is driven against the
 * loopback server of tests/support/httpd.c, which answers each request with
 * the next response of a recording. The test then checks that
 *
 *   - the client sent the recorded sequence of requests (wsa:Action, or
 *     Identify), and each request's payload matches the recorded one: shell
 *     streams and environment, the command line and every argument, stdin
 *     (decoded), the streams received, the signal code, and every WinRS
 *     option the recorded client sent with the same value;
 *   - every ShellId and CommandId the client sent is the one the recorded
 *     answers gave it (recorded requests carry their own ids, so ids, like
 *     message ids, are not compared with the recorded requests);
 *   - stdout, stderr and the exit code decode exactly to what the recording
 *     says (both as literal text and against this file's own decoding of
 *     the recorded rsp:Stream elements).
 *
 * Where remsess differs from the recorded client by design, the step says
 * so (the `why` of a step) and the difference is asserted, not skipped:
 *
 *   - remsess runs Identify when it creates the session (New-PSSession's
 *     connection test); recordings that start with Create get the Identify
 *     answer of WinRMSharp ProtocolIdentify.yml served first.
 *   - After CommandState Done remsess releases the command with Signal
 *     terminate ([MS-WSMV] 3.1.4.14, as WinRMSharp and masterzen do); pypsrp
 *     sent ctrl_c there. A command that did not finish is stopped with
 *     ctrl_c then terminate (WinRMSharp sent terminate only): the extra
 *     Signal gets the recording's SignalResponse again.
 *   - stdin given as a whole is sent in as few Sends as fit the envelope,
 *     the last with End="true": pypsrp's two Sends become one, and
 *     WinRMSharp's Send that left the stream open ends it.
 *   - remsess always sends WINRS_NOPROFILE and WINRS_CODEPAGE on Create and
 *     WINRS_CONSOLEMODE_STDIN on Command; options the recording does not
 *     have are extra, never different.
 *   - remsess has no setting for shell environment variables or for
 *     WINRS_SKIP_CMD_SHELL=TRUE: the recordings that use them are replayed
 *     with that difference named (test_winrs_environment,
 *     test_winrs_no_cmd_shell).
 *
 * Sources (../shared/fixtures):
 *   jborean93-pypsrp/responses/test_winrs_{standard,stderr_rc,send,
 *     operation_timeout,bad_cmd_id,no_cmd_shell,noprofile,environment}.yml
 *   adstep-WinRMSharp/src/WinRMSharp.Tests/Data/Sessions/{ProtocolIdentify,
 *     ClientRunCommand,ClientRunCommandWithArgs,ProtocolOpenCloseShell,
 *     ProtocolRunCommandWithUnicode,ProtocolRunCommandWithCommandInput,
 *     ProtocolRunCommandWithNoProfile,ProtocolRunCommandExceedingOperationTimeout,
 *     ProtocolRunCommandWithoutArgsAndCleanup,ProtocolGetCommandState}.yml
 *   masterzen-winrm/development/sample_requests.txt and
 *     masterzen-winrm/extracted-from-fixture_test.go/... (responses only
 *     in fixture_test.go; its Signal and Delete answers are pypsrp's)
 * Served as recorded except RelatesTo, which gets the client's MessageID
 * (the client checks it, as Windows echoes it).
 * Not replayed: WinRMSharp ProtocolGetCommandStateBeforeRun (a Receive for a
 * command never started, which remsess cannot send), the environment
 * sessions (remsess has no such setting; pypsrp's covers the output),
 * ProtocolRunCommandWithArgsAndCleanup and WithCommandTimeout (the same
 * exchanges as the replayed ones), and Client*File (PowerShell scripts).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "fixture.h"
#include "httpd.h"
#include "remsess/remsess.h"
#include "util.h"
#include "xml.h"

/* ---- where messages come from ------------------------------------------ */

typedef enum src_kind {
	SRC_NONE = 0,
	SRC_PYPSRP,     /* file, index: jborean93-pypsrp/responses/FILE */
	SRC_WINRMSHARP, /* file, index: adstep-WinRMSharp .../Sessions/FILE */
	SRC_MZ_FILE,    /* file: masterzen-winrm/extracted-from-fixture_test.go/FILE */
	SRC_MZ_SAMPLE   /* file = the action: the masterzen sample request with it */
} src_kind;

typedef struct msg {
	src_kind kind;
	const char *file;
	int index;
} msg;

#define PYPSRP(f, i)                                                                               \
	{                                                                                          \
		SRC_PYPSRP, "test_winrs_" f ".yml", i                                              \
	}
#define WRS(f, i)                                                                                  \
	{                                                                                          \
		SRC_WINRMSHARP, f ".yml", i                                                        \
	}
#define MZ(f)                                                                                      \
	{                                                                                          \
		SRC_MZ_FILE, f ".xml", 0                                                           \
	}
#define MZ_SAMPLE(a)                                                                               \
	{                                                                                          \
		SRC_MZ_SAMPLE, a, 0                                                                \
	}
#define IDENTIFY_REPLY WRS("ProtocolIdentify", 0)
#define WHY_IDENTIFY "remsess runs Identify when it creates the session"

/* One exchange: what the client must send and what it gets back. */
typedef struct step {
	const char *action; /* "Identify", "Create", "Command", "Send", ... */
	msg reply;          /* served back */
	msg recorded;       /* the recorded request compared with (NONE: not) */
	const char *drop;   /* fact lines of the recorded request remsess differs on */
	const char *add;    /* ... and what it sends instead ("\n"-separated) */
	const char *why;    /* set when the step or its difference is by design */
	unsigned delay_ms;  /* the answer is held this long (a server-side wait) */
} step;

static char *masterzen_sample(const char *action)
{
	char *all = rms_fixture("masterzen-winrm/development/sample_requests.txt", NULL);
	char needle[256];
	snprintf(needle, sizeof needle, "/%s</a:Action>", action);
	char *hit = strstr(all, needle);
	if (!hit)
		fail_msg("masterzen sample_requests.txt has no %s request", action);
	char *start = hit;
	while (start > all && strncmp(start, "<env:Envelope", 13) != 0)
		start--;
	char *end = strstr(hit, "</env:Envelope>");
	assert_non_null(end);
	char *out = rms__strndup(start, (size_t)(end + strlen("</env:Envelope>") - start));
	free(all);
	return out;
}

static char *load(const msg *m, const char *key)
{
	char rel[512];
	switch (m->kind) {
	case SRC_PYPSRP:
		return rms_fixture_pypsrp(
		    m->file, strcmp(key, "Request") == 0 ? "request" : "response", m->index);
	case SRC_WINRMSHARP:
		return rms_fixture_winrmsharp(m->file, key, m->index);
	case SRC_MZ_FILE:
		snprintf(rel, sizeof rel, "masterzen-winrm/extracted-from-fixture_test.go/%s",
		         m->file);
		return rms_fixture(rel, NULL);
	case SRC_MZ_SAMPLE:
		return masterzen_sample(m->file);
	case SRC_NONE:
		break;
	}
	return NULL;
}

/* ---- small decoders ------------------------------------------------------ */

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Appends the base64 text s decoded to b (whitespace and padding skipped). */
static void b64_append(rms_buf *b, const char *s)
{
	unsigned acc = 0;
	int bits = 0;
	for (; *s; s++) {
		int v = b64val(*s);
		if (v < 0)
			continue;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			unsigned char byte = (unsigned char)(acc >> bits);
			rms__buf_append(b, &byte, 1);
		}
	}
}

/* The text after the first `tag` (from the end of its start tag to the
 * next '<'), NULL when absent. */
static char *text_after(const char *xml, const char *tag)
{
	const char *p = strstr(xml, tag);
	if (!p || !(p = strchr(p, '>')))
		return NULL;
	p++;
	return rms__strndup(p, strcspn(p, "<"));
}

static xmlDoc *parse(const char *xml)
{
	/* WinRMSharp's recorded requests declare utf-16 but are stored as
	 * UTF-8 text: drop the declaration. */
	if (strncmp(xml, "<?xml", 5) == 0 && strstr(xml, "?>"))
		xml = strstr(xml, "?>") + 2;
	xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), NULL, "UTF-8",
	                            XML_PARSE_NONET | XML_PARSE_NOBLANKS);
	if (!doc)
		fail_msg("envelope does not parse: %.300s", xml);
	return doc;
}

static char *content(const xmlNode *n)
{
	xmlChar *v = xmlNodeGetContent(n);
	char *s = rms__strdup(v ? (const char *)v : "");
	xmlFree(v);
	/* collapse runs of white space (pretty-printed recordings) */
	char *w = s;
	for (char *r = s; *r; r++) {
		bool sp = *r == ' ' || *r == '\n' || *r == '\r' || *r == '\t';
		if (sp && (w == s || w[-1] == ' '))
			continue;
		*w++ = sp ? ' ' : *r;
	}
	while (w > s && w[-1] == ' ')
		w--;
	*w = '\0';
	return s;
}

static char *prop(const xmlNode *n, const char *name)
{
	xmlChar *v = xmlGetProp(n, BAD_CAST name);
	char *s = v ? rms__strdup((const char *)v) : NULL;
	xmlFree(v);
	return s;
}

static void lower(char *s)
{
	for (; s && *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* What a request says, as lines: "option NAME=value" (value lower-cased),
 * and payload lines; plus the action and the ids it names. */
typedef struct facts {
	char action[32];
	rms_buf lines;
	char *shell_id;
	char *command_id;
} facts;

static void note_command_id(facts *f, const xmlNode *n)
{
	char *id = prop(n, "CommandId");
	if (id && !f->command_id)
		f->command_id = id;
	else
		free(id);
}

static void body_facts(facts *f, const xmlNode *body)
{
	for (const xmlNode *e = rms__xml_first(body); e; e = rms__xml_next(e)) {
		if (rms__xml_is(e, RMS_NS_IDENTITY, "Identify")) {
			snprintf(f->action, sizeof f->action, "Identify");
		} else if (rms__xml_is(e, RMS_NS_SHELL, "Shell")) {
			for (const xmlNode *c = rms__xml_first(e); c; c = rms__xml_next(c)) {
				if (rms__xml_is(c, RMS_NS_SHELL, "Environment")) {
					for (const xmlNode *v = rms__xml_first(c); v;
					     v = rms__xml_next(v)) {
						char *name = prop(v, "Name");
						char *val = content(v);
						rms__buf_printf(&f->lines, "env %s=%s\n",
						                name ? name : "(no name)",
						                val ? val : "");
						free(name);
						free(val);
					}
				} else {
					char *val = content(c);
					rms__buf_printf(&f->lines, "shell %s=%s\n", c->name, val);
					free(val);
				}
			}
		} else if (rms__xml_is(e, RMS_NS_SHELL, "CommandLine")) {
			for (const xmlNode *c = rms__xml_first(e); c; c = rms__xml_next(c)) {
				char *val = content(c);
				rms__buf_printf(&f->lines, "%s=%s\n",
				                strcmp((const char *)c->name, "Command") == 0
				                    ? "command"
				                    : "arg",
				                val);
				free(val);
			}
		} else if (rms__xml_is(e, RMS_NS_SHELL, "Send")) {
			for (const xmlNode *c = rms__xml_first(e); c; c = rms__xml_next(c)) {
				note_command_id(f, c);
				char *name = prop(c, "Name");
				char *end = prop(c, "End");
				lower(end);
				xmlChar *v = xmlNodeGetContent(c);
				rms_buf data;
				rms__buf_init(&data);
				b64_append(&data, v ? (const char *)v : "");
				rms__buf_printf(&f->lines, "send %s end=%s data=%.*s\n", name,
				                end ? end : "false", (int)data.len,
				                data.data ? data.data : "");
				xmlFree(v);
				rms__buf_free(&data);
				free(name);
				free(end);
			}
		} else if (rms__xml_is(e, RMS_NS_SHELL, "Receive")) {
			for (const xmlNode *c = rms__xml_first(e); c; c = rms__xml_next(c)) {
				note_command_id(f, c);
				char *val = content(c);
				rms__buf_printf(&f->lines, "receive %s\n", val);
				free(val);
			}
		} else if (rms__xml_is(e, RMS_NS_SHELL, "Signal")) {
			note_command_id(f, e);
			const xmlNode *code = rms__xml_child(e, RMS_NS_SHELL, "Code");
			char *val = code ? content(code) : rms__strdup("(none)");
			rms__buf_printf(&f->lines, "signal %s\n",
			                strrchr(val, '/') ? strrchr(val, '/') + 1 : val);
			free(val);
		} else {
			rms__buf_printf(&f->lines, "body %s\n", e->name);
		}
	}
}

static void get_facts(facts *f, const char *xml)
{
	memset(f, 0, sizeof *f);
	rms__buf_init(&f->lines);
	xmlDoc *doc = parse(xml);
	xmlNode *env = xmlDocGetRootElement(doc);
	xmlNode *hdr = rms__xml_child(env, RMS_NS_SOAP, "Header");
	xmlNode *body = rms__xml_child(env, RMS_NS_SOAP, "Body");
	assert_non_null(body);
	for (xmlNode *h = hdr ? rms__xml_first(hdr) : NULL; h; h = rms__xml_next(h)) {
		if (rms__xml_is(h, RMS_NS_ADDRESSING, "Action")) {
			char *a = content(h);
			snprintf(f->action, sizeof f->action, "%s",
			         strrchr(a, '/') ? strrchr(a, '/') + 1 : a);
			free(a);
		} else if (strcmp((const char *)h->name, "OptionSet") == 0) {
			for (const xmlNode *o = rms__xml_first(h); o; o = rms__xml_next(o)) {
				char *name = prop(o, "Name");
				char *val = content(o);
				lower(val);
				rms__buf_printf(&f->lines, "option %s=%s\n", name, val);
				free(name);
				free(val);
			}
		} else if (strcmp((const char *)h->name, "SelectorSet") == 0) {
			for (const xmlNode *o = rms__xml_first(h); o; o = rms__xml_next(o)) {
				char *name = prop(o, "Name");
				if (name && strcmp(name, "ShellId") == 0 && !f->shell_id)
					f->shell_id = content(o);
				free(name);
			}
		}
	}
	body_facts(f, body);
	if (!f->action[0])
		snprintf(f->action, sizeof f->action, "(none)");
	if (!f->lines.data)
		rms__buf_puts(&f->lines, "");
	xmlFreeDoc(doc);
}

static void facts_free(facts *f)
{
	rms__buf_free(&f->lines);
	free(f->shell_id);
	free(f->command_id);
}

/* Does `lines` hold `line` (a whole line)? */
static bool has_line(const char *lines, const char *line, size_t len)
{
	for (const char *p = lines; p && *p;) {
		size_t n = strcspn(p, "\n");
		if (n == len && memcmp(p, line, len) == 0)
			return true;
		p += n + (p[n] == '\n');
	}
	return false;
}

/* The recorded request's lines minus `drop` plus `add`. */
static char *expected_lines(const char *recorded, const char *drop, const char *add)
{
	rms_buf out;
	rms__buf_init(&out);
	rms__buf_puts(&out, "");
	for (const char *p = recorded; *p;) {
		size_t n = strcspn(p, "\n");
		if (!drop || !has_line(drop, p, n)) {
			rms__buf_append(&out, p, n);
			rms__buf_puts(&out, "\n");
		} else {
			assert_true(n > 0);
		}
		p += n + (p[n] == '\n');
	}
	if (drop) /* every dropped line must have been in the recording */
		for (const char *p = drop; *p;) {
			size_t n = strcspn(p, "\n");
			if (!has_line(recorded, p, n))
				fail_msg("the step drops '%.*s', which the recorded request does "
				         "not have",
				         (int)n, p);
			p += n + (p[n] == '\n');
		}
	if (add)
		rms__buf_printf(&out, "%s%s", add, add[strlen(add) - 1] == '\n' ? "" : "\n");
	return rms__buf_take(&out);
}

/* Options: what is expected must be sent (extra options are allowed);
 * payload lines: the same set both ways. */
static void compare_lines(size_t i, const char *action, const char *want, const char *got)
{
	for (int pass = 0; pass < 2; pass++) {
		const char *a = pass ? got : want, *b = pass ? want : got;
		for (const char *p = a; *p;) {
			size_t n = strcspn(p, "\n");
			bool option = strncmp(p, "option ", 7) == 0;
			if (n && !(pass && option) && !has_line(b, p, n))
				fail_msg(
				    "request %zu (%s): %s '%.*s'\n--- expected\n%s--- sent\n%s",
				    i + 1, action,
				    pass ? "sent, but not in the recording:" : "missing:", (int)n,
				    p, want, got);
			p += n + (p[n] == '\n');
		}
	}
}

/* ---- the replaying server ------------------------------------------------ */

#define MAX_STEPS 24

typedef struct replay {
	const step *steps;
	size_t n;
	char *replies[MAX_STEPS];
	pthread_mutex_t mu;
	char *sent[MAX_STEPS + 4];
	bool basic[MAX_STEPS + 4];
	size_t nsent;
	rms_httpd *d;
	/* remsess reads winrm/config (MaxEnvelopeSizekb) right after Identify
	 * when it creates a session; the recordings have no such request, so
	 * the server answers it aside from the steps, with an administrator's
	 * answer recorded by pypsrp (test_wsman_update_envelope_size_500.yml:
	 * 500 KB, the default anyway), and notes when it came. */
	char *config_reply;
	size_t config_gets;
	size_t config_after; /* requests of the steps sent before it */
	size_t sessions_learning; /* sessions made without a MaxEnvelopeSize */
} replay;

static const char UNEXPECTED[] =
    "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
    "xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><s:Body><s:Fault><s:Code>"
    "<s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:InternalError</s:Value></s:Subcode>"
    "</s:Code><s:Reason><s:Text xml:lang=\"en-US\">replay: a request beyond the recording"
    "</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>";

static void handler(const rms_httpd_request *req, rms_httpd_response *resp, void *ud)
{
	replay *r = ud;
	/* The body is not NUL-terminated (it lies in the connection's buffer,
	 * which may hold older bytes after it): search a copy. */
	char *body = rms__strndup(req->body ? req->body : "", req->body_len);
	assert_non_null(body);
	bool config = strstr(body, "/transfer/Get</") &&
	              strstr(body, ">http://schemas.microsoft.com/wbem/wsman/1/config</");
	pthread_mutex_lock(&r->mu);
	if (config) {
		r->config_gets++;
		r->config_after = r->nsent;
		pthread_mutex_unlock(&r->mu);
		char *mid = text_after(body, "MessageID>");
		free(body);
		const char *rel = strstr(r->config_reply, "RelatesTo>");
		if (mid && rel) {
			rel += strlen("RelatesTo>");
			resp->body = rms__asprintf("%.*s%s%s", (int)(rel - r->config_reply),
			                           r->config_reply, mid, rel + strcspn(rel, "<"));
			resp->free_body = true;
		} else {
			resp->body = r->config_reply;
		}
		free(mid);
		resp->status = 200;
		return;
	}
	size_t i = r->nsent;
	if (i < sizeof r->sent / sizeof r->sent[0]) {
		r->sent[i] = body;
		body = NULL;
		r->basic[i] = req->headers && strstr(req->headers, "Authorization: Basic ") != NULL;
		r->nsent++;
	}
	pthread_mutex_unlock(&r->mu);
	free(body);
	if (i >= r->n) {
		resp->status = 500;
		resp->body = UNEXPECTED;
		return;
	}
	const step *st = &r->steps[i];
	if (st->delay_ms)
		nanosleep(&(struct timespec){.tv_sec = st->delay_ms / 1000,
		                             .tv_nsec = (long)(st->delay_ms % 1000) * 1000000L},
		          NULL);
	const char *reply = r->replies[i];
	/* Windows echoes the request's MessageID in RelatesTo, and the client
	 * checks it: put the new id where the recorded one was. */
	/* i < r->n <= MAX_STEPS: this thread stored sent[i] above. */
	char *mid = r->sent[i] ? text_after(r->sent[i], "MessageID>") : NULL;
	const char *rel = strstr(reply, "RelatesTo>");
	if (mid && rel) {
		rel += strlen("RelatesTo>");
		resp->body = rms__asprintf("%.*s%s%s", (int)(rel - reply), reply, mid,
		                           rel + strcspn(rel, "<"));
		resp->free_body = true;
	} else {
		resp->body = reply;
	}
	free(mid);
	resp->status = strstr(reply, ":Fault>") ? 500 : 200;
}

static replay *replay_start(const step *steps, size_t n)
{
	assert_true(n <= MAX_STEPS);
	replay *r = calloc(1, sizeof *r);
	assert_non_null(r);
	r->steps = steps;
	r->n = n;
	pthread_mutex_init(&r->mu, NULL);
	for (size_t i = 0; i < n; i++)
		r->replies[i] = load(&steps[i].reply, "Response");
	r->config_reply = rms_fixture_pypsrp("test_wsman_update_envelope_size_500.yml", "response", 0);
	rms_httpd_options ho = {.handler = handler, .userdata = r};
	assert_int_equal(rms_httpd_start(&r->d, &ho), 0);
	return r;
}

static rms_session_options replay_opts(replay *r)
{
	rms_session_options o = RMS_SESSION_OPTIONS_INIT;
	o.url = rms_httpd_url(r->d);
	o.user = "vagrant";
	o.password = "vagrant";
	o.allow_unencrypted = true; /* plain http to loopback */
	o.operation_timeout_ms = 5000;
	return o;
}

static rms_session *replay_session(replay *r, const rms_session_options *o)
{
	rms_session_options def = replay_opts(r);
	rms_session *s = NULL;
	if (!(o ? o : &def)->max_envelope_size)
		r->sessions_learning++;
	if (rms_session_new(&s, RMS_BACKEND_PSSESSION, o ? o : &def))
		fail_msg("session: %s", rms_error_message(rms_error_last()));
	return s;
}

/* The ids the client must use at step i: the ShellId of the served Create
 * answer, the CommandId of the last served Command answer. */
static void served_ids(replay *r, size_t i, char **shell, char **command)
{
	*shell = *command = NULL;
	for (size_t k = 0; k < i; k++) {
		if (strcmp(r->steps[k].action, "Create") == 0) {
			free(*shell);
			*shell = text_after(r->replies[k], "<rsp:ShellId");
		} else if (strcmp(r->steps[k].action, "Command") == 0 &&
		           strstr(r->replies[k], "CommandId>")) {
			free(*command);
			*command = text_after(r->replies[k], "<rsp:CommandId");
		}
	}
}

/* Stops the server and checks every request against the steps. */
static void replay_finish(replay *r)
{
	rms_httpd_stop(r->d);
	char order[512] = "";
	for (size_t i = 0; i < r->nsent; i++) {
		facts f;
		get_facts(&f, r->sent[i]);
		size_t len = strlen(order);
		snprintf(order + len, sizeof order - len, "%s%s", i ? " " : "", f.action);
		facts_free(&f);
	}
	if (r->nsent != r->n)
		fail_msg("the client sent %zu requests, the recording has %zu: %s", r->nsent, r->n,
		         order);
	for (size_t i = 0; i < r->n; i++) {
		const step *st = &r->steps[i];
		facts got;
		get_facts(&got, r->sent[i]);
		if (strcmp(got.action, st->action) != 0)
			fail_msg("request %zu is %s, the recording has %s here (sent: %s)", i + 1,
			         got.action, st->action, order);
		assert_true(r->basic[i]); /* pre-emptive Basic on every request */
		char *shell, *command;
		served_ids(r, i, &shell, &command);
		if (strcmp(st->action, "Identify") != 0 && strcmp(st->action, "Create") != 0) {
			assert_non_null(got.shell_id);
			assert_non_null(shell);
			assert_string_equal(got.shell_id, shell);
		}
		if (got.command_id) {
			assert_non_null(command);
			assert_string_equal(got.command_id, command);
		}
		free(shell);
		free(command);
		if (st->recorded.kind != SRC_NONE) {
			char *rec = load(&st->recorded, "Request");
			facts want;
			get_facts(&want, rec);
			assert_string_equal(want.action, st->action);
			char *exp = expected_lines(want.lines.data, st->drop, st->add);
			compare_lines(i, st->action, exp, got.lines.data);
			free(exp);
			facts_free(&want);
			free(rec);
		} else {
			/* a step with no recorded request is one remsess adds */
			assert_non_null(st->why);
		}
		facts_free(&got);
	}
	/* One winrm/config read per session that had no MaxEnvelopeSize given,
	 * right after Identify. */
	assert_int_equal(r->config_gets, r->sessions_learning);
	if (r->config_gets == 1)
		assert_int_equal(r->config_after, 1);
	free(r->config_reply);
	for (size_t i = 0; i < r->nsent; i++)
		free(r->sent[i]);
	for (size_t i = 0; i < r->n; i++)
		free(r->replies[i]);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* The recorded output of one stream in the answers of steps [first, last],
 * decoded by this file (not by remsess). */
static char *recorded_stream(replay *r, size_t first, size_t last, const char *stream, size_t *len)
{
	rms_buf b;
	rms__buf_init(&b);
	rms__buf_puts(&b, "");
	char tag[64];
	snprintf(tag, sizeof tag, "<rsp:Stream Name=\"%s\"", stream);
	for (size_t i = first; i <= last && i < r->n; i++) {
		for (const char *p = strstr(r->replies[i], tag); p; p = strstr(p + 1, tag)) {
			const char *gt = strchr(p, '>');
			if (gt[-1] == '/')
				continue;
			char *text = rms__strndup(gt + 1, strcspn(gt + 1, "<"));
			b64_append(&b, text);
			free(text);
		}
	}
	*len = b.len;
	return rms__buf_take(&b);
}

/* ---- running commands ---------------------------------------------------- */

typedef struct output {
	rms_buf out, err;
	int exit_code;
	bool has_exit;
} output;

static void output_free(output *o)
{
	rms__buf_free(&o->out);
	rms__buf_free(&o->err);
}

/* Runs command through the pull API; returns the rc of the start or of the
 * last next_chunk (0 when the command ended) with the error in *err. */
static int run(rms_session *s, const char *cmd, size_t argc, const char *const *argv,
               const char *in, size_t in_len, uint32_t timeout_ms, output *o, rms_error **err)
{
	memset(o, 0, sizeof *o);
	rms__buf_init(&o->out);
	rms__buf_init(&o->err);
	rms__buf_puts(&o->out, "");
	rms__buf_puts(&o->err, "");
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_RUN), 0);
	assert_int_equal(rms_request_set_command(req, cmd, argc, argv), 0);
	if (in)
		assert_int_equal(rms_request_set_stdin(req, in, in_len), 0);
	if (timeout_ms)
		assert_int_equal(rms_request_set_timeout(req, timeout_ms), 0);
	rms_op *op = NULL;
	*err = NULL;
	int rc = rms_op_start(&op, s, req);
	rms_request_free(req);
	if (rc) {
		*err = rms_error_dup(rms_error_last());
		return rc;
	}
	rms_chunk c;
	while ((rc = rms_op_next_chunk(op, &c)) == 0)
		rms__buf_append(c.stream == RMS_STREAM_STDOUT ? &o->out : &o->err, c.data, c.len);
	if (rc == RMS_ITEROVER) {
		assert_int_equal(rms_op_exit_code(op, &o->exit_code), 0);
		o->has_exit = true;
		rc = 0;
	} else {
		*err = rms_error_dup(rms_op_error(op));
	}
	rms_op_free(op);
	return rc;
}

static void assert_bytes(const rms_buf *got, const char *want, size_t want_len)
{
	if (got->len != want_len || memcmp(got->data, want, want_len) != 0)
		fail_msg("output differs: got %zu bytes '%.*s', want %zu bytes '%.*s'", got->len,
		         (int)(got->len > 300 ? 300 : got->len), got->data, want_len,
		         (int)(want_len > 300 ? 300 : want_len), want);
}

/* Output equal to the literal text and to the recording's streams in the
 * answers of steps [first, last]. */
static void assert_output(replay *r, const output *o, size_t first, size_t last, const char *out,
                          const char *err, int exit_code)
{
	size_t len;
	char *rec = recorded_stream(r, first, last, "stdout", &len);
	assert_bytes(&o->out, rec, len);
	if (out)
		assert_bytes(&o->out, out, strlen(out));
	free(rec);
	rec = recorded_stream(r, first, last, "stderr", &len);
	assert_bytes(&o->err, rec, len);
	if (err)
		assert_bytes(&o->err, err, strlen(err));
	free(rec);
	assert_true(o->has_exit);
	assert_int_equal(o->exit_code, exit_code);
}

/* The whole of a simple recording: session, one command, close. */
static void run_one(const step *steps, size_t n, const rms_session_options *o_in, const char *cmd,
                    size_t argc, const char *const *argv, const char *out, const char *err_text,
                    int exit_code)
{
	replay *r = replay_start(steps, n);
	rms_session_options o = replay_opts(r);
	if (o_in) {
		o.pssession = o_in->pssession;
		o.max_envelope_size = o_in->max_envelope_size;
	}
	rms_session *s = replay_session(r, &o);
	output res;
	rms_error *err = NULL;
	int rc = run(s, cmd, argc, argv, NULL, 0, 0, &res, &err);
	if (rc)
		fail_msg("run: %s", rms_error_message(err));
	size_t first = 0, last = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(steps[i].action, "Command") == 0)
			first = i;
		if (strcmp(steps[i].action, "Receive") == 0)
			last = i;
	}
	assert_output(r, &res, first, last, out, err_text, exit_code);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_OPENED);
	output_free(&res);
	rms_session_free(s);
	replay_finish(r);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define WHY_TERMINATE "remsess releases a finished command with terminate; pypsrp sent ctrl_c"

/* ---- pypsrp --------------------------------------------------------------- */

static void test_pypsrp_standard(void **state)
{
	(void)state;
	static const step steps[] = {
	    {.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},
	    {.action = "Create", .reply = PYPSRP("standard", 0), .recorded = PYPSRP("standard", 0)},
	    {.action = "Command",
	     .reply = PYPSRP("standard", 1),
	     .recorded = PYPSRP("standard", 1)},
	    {.action = "Receive",
	     .reply = PYPSRP("standard", 2),
	     .recorded = PYPSRP("standard", 2)},
	    {.action = "Signal",
	     .reply = PYPSRP("standard", 3),
	     .recorded = PYPSRP("standard", 3),
	     .drop = "signal ctrl_c",
	     .add = "signal terminate",
	     .why = WHY_TERMINATE},
	    {.action = "Delete", .reply = PYPSRP("standard", 4), .recorded = PYPSRP("standard", 4)},
	};
	const char *argv[] = {"/c", "echo", "hi"};
	run_one(steps, N(steps), NULL, "cmd.exe", 3, argv, "hi\r\n", "", 0);
}

static void test_pypsrp_stderr_and_exit_code(void **state)
{
	(void)state;
	static const step steps[] = {
	    {.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},
	    {.action = "Create",
	     .reply = PYPSRP("stderr_rc", 0),
	     .recorded = PYPSRP("stderr_rc", 0)},
	    {.action = "Command",
	     .reply = PYPSRP("stderr_rc", 1),
	     .recorded = PYPSRP("stderr_rc", 1)},
	    {.action = "Receive",
	     .reply = PYPSRP("stderr_rc", 2),
	     .recorded = PYPSRP("stderr_rc", 2)},
	    {.action = "Signal",
	     .reply = PYPSRP("stderr_rc", 3),
	     .recorded = PYPSRP("stderr_rc", 3),
	     .drop = "signal ctrl_c",
	     .add = "signal terminate",
	     .why = WHY_TERMINATE},
	    {.action = "Delete",
	     .reply = PYPSRP("stderr_rc", 4),
	     .recorded = PYPSRP("stderr_rc", 4)},
	};
	/* One argument holding the rest of the line, as pypsrp sent it. */
	const char *argv[] = {"/c echo out && echo err>&2 && exit 1"};
	run_one(steps, N(steps), NULL, "cmd.exe", 1, argv, "out \r\n", "err \r\n", 1);
}

static void test_pypsrp_send_stdin(void **state)
{
	(void)state;
	static const step steps[] = {
	    {.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},
	    {.action = "Create", .reply = PYPSRP("send", 0), .recorded = PYPSRP("send", 0)},
	    {.action = "Command", .reply = PYPSRP("send", 1), .recorded = PYPSRP("send", 1)},
	    /* pypsrp sent the two lines in two Sends (End False, then True);
	     * remsess sends stdin given as a whole in one Send that fits. */
	    {.action = "Send",
	     .reply = PYPSRP("send", 2),
	     .recorded = PYPSRP("send", 2),
	     .drop = "send stdin end=false data=Write-Host \"output 1\";",
	     .add = "send stdin end=true data=Write-Host \"output 1\";Write-Host \"output 2\";",
	     .why = "stdin given whole goes in as few Sends as fit, the last with End"},
	    {.action = "Receive", .reply = PYPSRP("send", 4), .recorded = PYPSRP("send", 4)},
	    {.action = "Signal",
	     .reply = PYPSRP("send", 5),
	     .recorded = PYPSRP("send", 5),
	     .drop = "signal ctrl_c",
	     .add = "signal terminate",
	     .why = WHY_TERMINATE},
	    {.action = "Delete", .reply = PYPSRP("send", 6), .recorded = PYPSRP("send", 6)},
	};
	replay *r = replay_start(steps, N(steps));
	rms_session *s = replay_session(r, NULL);
	const char *argv[] = {"-"};
	static const char in[] = "Write-Host \"output 1\";Write-Host \"output 2\";";
	output res;
	rms_error *err = NULL;
	if (run(s, "powershell.exe", 1, argv, in, strlen(in), 0, &res, &err))
		fail_msg("run: %s", rms_error_message(err));
	assert_output(r, &res, 3, 4, "output 1\noutput 2\n", "", 0);
	output_free(&res);
	rms_session_free(s);
	replay_finish(r);
}

/* Two w:TimedOut faults between the answers: "no output yet", so the
 * client asks again and the output of both answers arrives whole. */
static void test_pypsrp_operation_timeout(void **state)
{
	(void)state;
	static const step steps[] = {
	    {.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},
	    {.action = "Create",
	     .reply = PYPSRP("operation_timeout", 0),
	     .recorded = PYPSRP("operation_timeout", 0)},
	    {.action = "Command",
	     .reply = PYPSRP("operation_timeout", 1),
	     .recorded = PYPSRP("operation_timeout", 1)},
	    {.action = "Receive",
	     .reply = PYPSRP("operation_timeout", 2),
	     .recorded = PYPSRP("operation_timeout", 2)},
	    {.action = "Receive",
	     .reply = PYPSRP("operation_timeout", 3),
	     .recorded = PYPSRP("operation_timeout", 3)},
	    {.action = "Receive",
	     .reply = PYPSRP("operation_timeout", 4),
	     .recorded = PYPSRP("operation_timeout", 4)},
	    {.action = "Receive",
	     .reply = PYPSRP("operation_timeout", 5),
	     .recorded = PYPSRP("operation_timeout", 5)},
	    {.action = "Signal",
	     .reply = PYPSRP("operation_timeout", 6),
	     .recorded = PYPSRP("operation_timeout", 6),
	     .drop = "signal ctrl_c",
	     .add = "signal terminate",
	     .why = WHY_TERMINATE},
	    {.action = "Delete",
	     .reply = PYPSRP("operation_timeout", 7),
	     .recorded = PYPSRP("operation_timeout", 7)},
	};
	const char *argv[] = {"Write-Host hi; Start-Sleep 30; Write-Host hi again"};
	run_one(steps, N(steps), NULL, "powershell.exe", 1, argv, "hi\nhi again\n", "", 0);
}

/* The Receive names a command the shell does not know (pypsrp sent a wrong
 * CommandId; remsess sends the right one, so the recorded answer stands for
 * a command the server has already forgotten): the run fails with the
 * fault, but the shell is still there, so the session stays Opened, the
 * command is stopped and the shell deleted, as in the recording. */
static void test_pypsrp_bad_command_id(void **state)
{
	(void)state;
	static const step steps[] = {
	    {.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},
	    {.action = "Create",
	     .reply = PYPSRP("bad_cmd_id", 0),
	     .recorded = PYPSRP("bad_cmd_id", 0)},
	    {.action = "Command",
	     .reply = PYPSRP("bad_cmd_id", 1),
	     .recorded = PYPSRP("bad_cmd_id", 1)},
	    {.action = "Receive",
	     .reply = PYPSRP("bad_cmd_id", 2),
	     .recorded = PYPSRP("bad_cmd_id", 2)},
	    /* an unfinished command is stopped with ctrl_c, then terminate */
	    {.action = "Signal",
	     .reply = PYPSRP("bad_cmd_id", 3),
	     .recorded = PYPSRP("bad_cmd_id", 3)},
	    {.action = "Signal",
	     .reply = PYPSRP("bad_cmd_id", 3),
	     .recorded = PYPSRP("bad_cmd_id", 3),
	     .drop = "signal ctrl_c",
	     .add = "signal terminate",
	     .why = "an unfinished command gets terminate after ctrl_c"},
	    {.action = "Delete",
	     .reply = PYPSRP("bad_cmd_id", 4),
	     .recorded = PYPSRP("bad_cmd_id", 4)},
	};
	replay *r = replay_start(steps, N(steps));
	rms_session *s = replay_session(r, NULL);
	const char *argv[] = {"/c", "echo", "hi"};
	output res;
	rms_error *err = NULL;
	assert_int_equal(run(s, "cmd.exe", 3, argv, NULL, 0, 0, &res, &err), RMS_E_FAULT);
	assert_non_null(err);
	assert_string_equal(rms_error_fault_subcode(err), "w:InvalidSelectors");
	assert_int_equal(rms_error_wsman_code(err), 2150858843u);
	assert_non_null(
	    strstr(rms_error_wsman_message(err), "command identifier that does not exist"));
	assert_int_equal(res.out.len, 0);
	rms_error_free(err);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_OPENED);
	output_free(&res);
	rms_session_free(s);
	replay_finish(r);
}

/* The shell is gone while a command runs: the Receive gets the fault
 * Windows gives for an unknown ShellId (pypsrp
 * test_psrp_is_alive_invalid_selectors.yml: the same w:InvalidSelectors and
 * WSManFault code as an unknown CommandId, but reported through the shell's
 * f:ProviderFault). That structure, not the message's words, breaks the
 * session: nothing more is sent, not even the Signal or the Delete. */
static void test_pypsrp_shell_gone_during_a_command(void **state)
{
	(void)state;
	static const step steps[] = {
	    {.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},
	    {.action = "Create",
	     .reply = PYPSRP("bad_cmd_id", 0),
	     .recorded = PYPSRP("bad_cmd_id", 0)},
	    {.action = "Command",
	     .reply = PYPSRP("bad_cmd_id", 1),
	     .recorded = PYPSRP("bad_cmd_id", 1)},
	    {.action = "Receive",
	     .reply = {SRC_PYPSRP, "test_psrp_is_alive_invalid_selectors.yml", 4},
	     .why = "the answer pypsrp recorded for a shell the server no longer has"},
	};
	replay *r = replay_start(steps, N(steps));
	rms_session *s = replay_session(r, NULL);
	const char *argv[] = {"/c", "echo", "hi"};
	output res;
	rms_error *err = NULL;
	/* The shell is gone: its own code, the fault's numbers kept. */
	assert_int_equal(run(s, "cmd.exe", 3, argv, NULL, 0, 0, &res, &err), RMS_E_GONE);
	assert_non_null(err);
	assert_int_equal(rms_error_wsman_code(err), 2150858843u);
	assert_non_null(rms_error_provider(err));
	rms_error_free(err);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_BROKEN);
	output_free(&res);
	rms_session_free(s);
	replay_finish(r);
}

/* The first Command names a program Windows cannot find: the run fails with
 * the fault (w:InternalError, 2147942402), the session stays usable, and
 * the second command on the same shell runs. pypsrp sent
 * WINRS_SKIP_CMD_SHELL=True, which remsess has no setting for. */
static void test_pypsrp_no_cmd_shell(void **state)
{
	(void)state;
#define WHY_SKIP "remsess has no WINRS_SKIP_CMD_SHELL=TRUE setting"
	static const step steps[] = {
	    {.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},
	    {.action = "Create",
	     .reply = PYPSRP("no_cmd_shell", 0),
	     .recorded = PYPSRP("no_cmd_shell", 0)},
	    {.action = "Command",
	     .reply = PYPSRP("no_cmd_shell", 1),
	     .recorded = PYPSRP("no_cmd_shell", 1),
	     .drop = "option WINRS_SKIP_CMD_SHELL=true",
	     .add = "option WINRS_SKIP_CMD_SHELL=false",
	     .why = WHY_SKIP},
	    {.action = "Command",
	     .reply = PYPSRP("no_cmd_shell", 2),
	     .recorded = PYPSRP("no_cmd_shell", 2),
	     .drop = "option WINRS_SKIP_CMD_SHELL=true",
	     .add = "option WINRS_SKIP_CMD_SHELL=false",
	     .why = WHY_SKIP},
	    {.action = "Receive",
	     .reply = PYPSRP("no_cmd_shell", 3),
	     .recorded = PYPSRP("no_cmd_shell", 3)},
	    {.action = "Signal",
	     .reply = PYPSRP("no_cmd_shell", 4),
	     .recorded = PYPSRP("no_cmd_shell", 4),
	     .drop = "signal ctrl_c",
	     .add = "signal terminate",
	     .why = WHY_TERMINATE},
	    {.action = "Delete",
	     .reply = PYPSRP("no_cmd_shell", 5),
	     .recorded = PYPSRP("no_cmd_shell", 5)},
	};
	replay *r = replay_start(steps, N(steps));
	rms_session *s = replay_session(r, NULL);
	const char *argv[] = {"Write-Host", "hi"};
	output res;
	rms_error *err = NULL;
	assert_int_equal(run(s, "powershell.exe", 2, argv, NULL, 0, 0, &res, &err), RMS_E_FAULT);
	assert_string_equal(rms_error_fault_subcode(err), "w:InternalError");
	assert_int_equal(rms_error_wsman_code(err), 2147942402u);
	assert_non_null(
	    strstr(rms_error_message(err), "The system cannot find the file specified"));
	rms_error_free(err);
	output_free(&res);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_OPENED);
	if (run(s, "C:\\Windows\\system32\\WindowsPowerShell\\v1.0\\powershell.exe", 2, argv, NULL,
	        0, 0, &res, &err))
		fail_msg("run: %s", rms_error_message(err));
	assert_output(r, &res, 3, 4, "hi\n", "", 0);
	output_free(&res);
	rms_session_free(s);
	replay_finish(r);
}

static void test_pypsrp_noprofile(void **state)
{
	(void)state;
	static const step steps[] = {
	    {.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},
	    {.action = "Create",
	     .reply = PYPSRP("noprofile", 0),
	     .recorded = PYPSRP("noprofile", 0)},
	    {.action = "Command",
	     .reply = PYPSRP("noprofile", 1),
	     .recorded = PYPSRP("noprofile", 1)},
	    {.action = "Receive",
	     .reply = PYPSRP("noprofile", 2),
	     .recorded = PYPSRP("noprofile", 2)},
	    {.action = "Signal",
	     .reply = PYPSRP("noprofile", 3),
	     .recorded = PYPSRP("noprofile", 3),
	     .drop = "signal ctrl_c",
	     .add = "signal terminate",
	     .why = WHY_TERMINATE},
	    {.action = "Delete",
	     .reply = PYPSRP("noprofile", 4),
	     .recorded = PYPSRP("noprofile", 4)},
	};
	rms_session_options o = RMS_SESSION_OPTIONS_INIT;
	o.pssession.no_profile = true;
	const char *argv[] = {"/c", "set"};
	run_one(steps, N(steps), &o, "cmd.exe", 2, argv, NULL, "", 0);
}

/* The recorded Create carried three environment variables; remsess has no
 * environment setting, so its Create lacks them (named here), and the
 * recorded output, with its special characters, must decode exactly. */
static void test_pypsrp_environment_output(void **state)
{
	(void)state;
	static const step steps[] = {
	    {.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},
	    {.action = "Create",
	     .reply = PYPSRP("environment", 0),
	     .recorded = PYPSRP("environment", 0),
	     .drop = "env env1=var1\nenv 1234=5678\n"
	             "env _-(){}[]<>*+-/\\?\"!@#$^&|;:i,.`~0=_-(){}[]<>*+-/\\?\"!@#$^&|;:i,.`~0",
	     .add = NULL,
	     .why = "remsess has no shell environment setting"},
	    {.action = "Command",
	     .reply = PYPSRP("environment", 1),
	     .recorded = PYPSRP("environment", 1)},
	    {.action = "Receive",
	     .reply = PYPSRP("environment", 2),
	     .recorded = PYPSRP("environment", 2)},
	    {.action = "Signal",
	     .reply = PYPSRP("environment", 3),
	     .recorded = PYPSRP("environment", 3),
	     .drop = "signal ctrl_c",
	     .add = "signal terminate",
	     .why = WHY_TERMINATE},
	    {.action = "Delete",
	     .reply = PYPSRP("environment", 4),
	     .recorded = PYPSRP("environment", 4)},
	};
	const char *argv[] = {"/c", "set"};
	replay *r = replay_start(steps, N(steps));
	rms_session *s = replay_session(r, NULL);
	output res;
	rms_error *err = NULL;
	if (run(s, "cmd.exe", 2, argv, NULL, 0, 0, &res, &err))
		fail_msg("run: %s", rms_error_message(err));
	assert_output(r, &res, 3, 3, NULL, "", 0);
	assert_true(res.out.len > 1000);
	assert_memory_equal(
	    res.out.data, "1234=5678\r\nPROMPT=$P$G\r\n_-(){}[]<>*+-/\\?\"!@#$^&|;:i,.`~0=",
	    strlen("1234=5678\r\nPROMPT=$P$G\r\n_-(){}[]<>*+-/\\?\"!@#$^&|;:i,.`~0="));
	output_free(&res);
	rms_session_free(s);
	replay_finish(r);
}

/* ---- WinRMSharp ----------------------------------------------------------- */

#define WRS_SIMPLE(f)                                                                              \
	{.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},                      \
	    {.action = "Create", .reply = WRS(f, 0), .recorded = WRS(f, 0)},                       \
	    {.action = "Command", .reply = WRS(f, 1), .recorded = WRS(f, 1)},                      \
	    {.action = "Receive", .reply = WRS(f, 2), .recorded = WRS(f, 2)},                      \
	    {.action = "Signal", .reply = WRS(f, 3), .recorded = WRS(f, 3)},                       \
	{                                                                                          \
		.action = "Delete", .reply = WRS(f, 4), .recorded = WRS(f, 4)                      \
	}

static void test_winrmsharp_run_command(void **state)
{
	(void)state;
	static const step steps[] = {WRS_SIMPLE("ClientRunCommand")};
	run_one(steps, N(steps), NULL, "dir", 0, NULL, NULL, "", 0);
}

static void test_winrmsharp_run_command_with_args(void **state)
{
	(void)state;
	static const step steps[] = {WRS_SIMPLE("ClientRunCommandWithArgs")};
	const char *argv[] = {"abc"};
	run_one(steps, N(steps), NULL, "echo", 1, argv, "abc\r\n", "", 0);
}

static void test_winrmsharp_get_command_state(void **state)
{
	(void)state;
	static const step steps[] = {WRS_SIMPLE("ProtocolGetCommandState")};
	const char *argv[] = {"/all"};
	run_one(steps, N(steps), NULL, "ipconfig", 1, argv, NULL, "", 0);
}

static void test_winrmsharp_noprofile(void **state)
{
	(void)state;
	static const step steps[] = {WRS_SIMPLE("ProtocolRunCommandWithNoProfile")};
	rms_session_options o = RMS_SESSION_OPTIONS_INIT;
	o.pssession.no_profile = true;
	const char *argv[] = {"/c set"};
	run_one(steps, N(steps), &o, "cmd.exe", 1, argv, NULL, "", 0);
}

/* UTF-8 both ways: the argument in the request, the output decoded. */
static void test_winrmsharp_unicode(void **state)
{
	(void)state;
	static const step steps[] = {WRS_SIMPLE("ProtocolRunCommandWithUnicode")};
	rms_session_options o = RMS_SESSION_OPTIONS_INIT;
	o.pssession.codepage = 65001;
	const char *argv[] = {
	    "Write-Host \xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf"};
	run_one(steps, N(steps), &o, "powershell.exe", 1, argv,
	        "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf\n", "", 0);
}

static void test_winrmsharp_open_close_shell(void **state)
{
	(void)state;
	static const step steps[] = {
	    {.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},
	    {.action = "Create",
	     .reply = WRS("ProtocolOpenCloseShell", 0),
	     .recorded = WRS("ProtocolOpenCloseShell", 0)},
	    {.action = "Delete",
	     .reply = WRS("ProtocolOpenCloseShell", 1),
	     .recorded = WRS("ProtocolOpenCloseShell", 1)},
	};
	replay *r = replay_start(steps, N(steps));
	rms_session *s = replay_session(r, NULL);
	assert_int_equal(rms_session_close(s), 0);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_CLOSED);
	rms_session_free(s);
	replay_finish(r);
}

static void test_winrmsharp_command_input(void **state)
{
	(void)state;
#define WRS_IN "ProtocolRunCommandWithCommandInput"
	static const step steps[] = {
	    {.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},
	    {.action = "Create", .reply = WRS(WRS_IN, 0), .recorded = WRS(WRS_IN, 0)},
	    {.action = "Command", .reply = WRS(WRS_IN, 1), .recorded = WRS(WRS_IN, 1)},
	    /* WinRMSharp left stdin open; remsess ends what it was given */
	    {.action = "Send",
	     .reply = WRS(WRS_IN, 2),
	     .recorded = WRS(WRS_IN, 2),
	     .drop = "send stdin end=false data=echo \"hello world\" && exit\r\n",
	     .add = "send stdin end=true data=echo \"hello world\" && exit\r\n",
	     .why = "stdin given whole is ended with its last Send"},
	    {.action = "Receive", .reply = WRS(WRS_IN, 3), .recorded = WRS(WRS_IN, 3)},
	    {.action = "Signal", .reply = WRS(WRS_IN, 4), .recorded = WRS(WRS_IN, 4)},
	    {.action = "Delete", .reply = WRS(WRS_IN, 5), .recorded = WRS(WRS_IN, 5)},
	};
	replay *r = replay_start(steps, N(steps));
	rms_session *s = replay_session(r, NULL);
	static const char in[] = "echo \"hello world\" && exit\r\n";
	output res;
	rms_error *err = NULL;
	if (run(s, "cmd", 0, NULL, in, strlen(in), 0, &res, &err))
		fail_msg("run: %s", rms_error_message(err));
	assert_output(r, &res, 4, 4, NULL, "", 0);
	assert_non_null(strstr(res.out.data, "exit\r\n\"hello world\" \r\n"));
	output_free(&res);
	rms_session_free(s);
	replay_finish(r);
}

/* A command started and dropped without reading: remsess stops it
 * (ctrl_c, terminate) when the op is freed; WinRMSharp sent terminate. */
static void test_winrmsharp_command_cleanup(void **state)
{
	(void)state;
#define WRS_CL "ProtocolRunCommandWithoutArgsAndCleanup"
	static const step steps[] = {
	    {.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},
	    {.action = "Create", .reply = WRS(WRS_CL, 0), .recorded = WRS(WRS_CL, 0)},
	    {.action = "Command", .reply = WRS(WRS_CL, 1), .recorded = WRS(WRS_CL, 1)},
	    {.action = "Signal",
	     .reply = WRS(WRS_CL, 2),
	     .recorded = WRS(WRS_CL, 2),
	     .drop = "signal terminate",
	     .add = "signal ctrl_c",
	     .why = "an unfinished command gets ctrl_c before terminate"},
	    {.action = "Signal", .reply = WRS(WRS_CL, 2), .recorded = WRS(WRS_CL, 2)},
	    {.action = "Delete", .reply = WRS(WRS_CL, 3), .recorded = WRS(WRS_CL, 3)},
	};
	replay *r = replay_start(steps, N(steps));
	rms_session *s = replay_session(r, NULL);
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_RUN), 0);
	assert_int_equal(rms_request_set_command(req, "hostname", 0, NULL), 0);
	rms_op *op = NULL;
	assert_int_equal(rms_op_start(&op, s, req), 0);
	rms_request_free(req);
	rms_op_free(op);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_OPENED);
	rms_session_free(s);
	replay_finish(r);
}

/* w:TimedOut until the command's own time limit: the run fails with
 * RMS_E_TIMEOUT and the command is stopped. The answer is held 400 ms, as
 * Windows holds a Receive for its OperationTimeout. */
static void test_winrmsharp_command_time_limit(void **state)
{
	(void)state;
#define WRS_TO "ProtocolRunCommandExceedingOperationTimeout"
	static const step steps[] = {
	    {.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},
	    {.action = "Create", .reply = WRS(WRS_TO, 0), .recorded = WRS(WRS_TO, 0)},
	    {.action = "Command", .reply = WRS(WRS_TO, 1), .recorded = WRS(WRS_TO, 1)},
	    {.action = "Receive",
	     .reply = WRS(WRS_TO, 2),
	     .recorded = WRS(WRS_TO, 2),
	     .delay_ms = 400},
	    {.action = "Signal",
	     .reply = WRS(WRS_TO, 3),
	     .recorded = WRS(WRS_TO, 3),
	     .drop = "signal terminate",
	     .add = "signal ctrl_c",
	     .why = "an unfinished command gets ctrl_c before terminate"},
	    {.action = "Signal", .reply = WRS(WRS_TO, 3), .recorded = WRS(WRS_TO, 3)},
	    {.action = "Delete", .reply = WRS(WRS_TO, 4), .recorded = WRS(WRS_TO, 4)},
	};
	replay *r = replay_start(steps, N(steps));
	rms_session *s = replay_session(r, NULL);
	output res;
	rms_error *err = NULL;
	assert_int_equal(
	    run(s, "powershell -Command Start-Sleep -s 10", 0, NULL, NULL, 0, 300, &res, &err),
	    RMS_E_TIMEOUT);
	assert_int_equal(rms_error_phase(err), RMS_PHASE_LIMIT);
	rms_error_free(err);
	output_free(&res);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_OPENED);
	rms_session_free(s);
	replay_finish(r);
}

/* ---- masterzen/winrm ------------------------------------------------------ */

/* fixture_test.go's answers in the order a command sees them: output while
 * Running (stdout and stderr), w:TimedOut, Done with exit code 123. The
 * requests are compared with development/sample_requests.txt. */
static void test_masterzen_conversation(void **state)
{
	(void)state;
	static const step steps[] = {
	    {.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},
	    {.action = "Create",
	     .reply = MZ("createShellResponse"),
	     .recorded = MZ_SAMPLE("Create")},
	    {.action = "Command",
	     .reply = MZ("executeCommandResponse"),
	     .recorded = MZ_SAMPLE("Command")},
	    {.action = "Receive",
	     .reply = MZ("outputResponse"),
	     .recorded = MZ_SAMPLE("Receive"),
	     .drop = NULL,
	     .add = "option WSMAN_CMDSHELL_OPTION_KEEPALIVE=true",
	     .why = "remsess asks for keep-alive on Receive as pypsrp and PowerShell do"},
	    {.action = "Receive",
	     .reply = MZ("operationTimeoutResponse"),
	     .recorded = MZ_SAMPLE("Receive")},
	    {.action = "Receive",
	     .reply = MZ("doneCommandResponse"),
	     .recorded = MZ_SAMPLE("Receive")},
	    {.action = "Signal", .reply = PYPSRP("standard", 3), .recorded = MZ_SAMPLE("Signal")},
	    {.action = "Delete", .reply = PYPSRP("standard", 4), .recorded = MZ_SAMPLE("Delete")},
	};
	replay *r = replay_start(steps, N(steps));
	rms_session *s = replay_session(r, NULL);
	output res;
	rms_error *err = NULL;
	if (run(s, "\"powershell.exe -EncodedCommand ZGly\"", 0, NULL, NULL, 0, 0, &res, &err))
		fail_msg("run: %s", rms_error_message(err));
	assert_output(r, &res, 3, 5, "That's all folks!!!", "This is stderr, I'm pretty sure!",
	              123);
	output_free(&res);
	rms_session_free(s);
	replay_finish(r);
}

/* A Command fault (the command line too long for Windows) fails that run
 * only; the next command on the shell ends with exit code 0. */
static void test_masterzen_command_fault(void **state)
{
	(void)state;
	static const step steps[] = {
	    {.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},
	    {.action = "Create",
	     .reply = MZ("createShellResponse"),
	     .recorded = MZ_SAMPLE("Create")},
	    {.action = "Command",
	     .reply = MZ("executeCommandResponseWithError"),
	     .recorded = MZ_SAMPLE("Command")},
	    {.action = "Command",
	     .reply = MZ("executeCommandResponse"),
	     .recorded = MZ_SAMPLE("Command")},
	    {.action = "Receive",
	     .reply = MZ("doneCommandExitCode0Response"),
	     .recorded = MZ_SAMPLE("Receive"),
	     .drop = NULL,
	     .add = "option WSMAN_CMDSHELL_OPTION_KEEPALIVE=true",
	     .why = "remsess asks for keep-alive on Receive as pypsrp and PowerShell do"},
	    {.action = "Signal", .reply = PYPSRP("standard", 3), .recorded = MZ_SAMPLE("Signal")},
	    {.action = "Delete", .reply = PYPSRP("standard", 4), .recorded = MZ_SAMPLE("Delete")},
	};
	replay *r = replay_start(steps, N(steps));
	rms_session *s = replay_session(r, NULL);
	output res;
	rms_error *err = NULL;
	const char *cmd = "\"powershell.exe -EncodedCommand ZGly\"";
	assert_int_equal(run(s, cmd, 0, NULL, NULL, 0, 0, &res, &err), RMS_E_FAULT);
	assert_string_equal(rms_error_fault_subcode(err), "w:InternalError");
	assert_int_equal(rms_error_wsman_code(err), 2147942606u);
	assert_non_null(strstr(rms_error_message(err), "The filename or extension is too long"));
	rms_error_free(err);
	output_free(&res);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_OPENED);
	if (run(s, cmd, 0, NULL, NULL, 0, 0, &res, &err))
		fail_msg("run: %s", rms_error_message(err));
	assert_output(r, &res, 3, 4, "", "", 0);
	output_free(&res);
	rms_session_free(s);
	replay_finish(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pypsrp_standard),
	    cmocka_unit_test(test_pypsrp_stderr_and_exit_code),
	    cmocka_unit_test(test_pypsrp_send_stdin),
	    cmocka_unit_test(test_pypsrp_operation_timeout),
	    cmocka_unit_test(test_pypsrp_bad_command_id),
	    cmocka_unit_test(test_pypsrp_no_cmd_shell),
	    cmocka_unit_test(test_pypsrp_noprofile),
	    cmocka_unit_test(test_pypsrp_environment_output),
	    cmocka_unit_test(test_winrmsharp_run_command),
	    cmocka_unit_test(test_winrmsharp_run_command_with_args),
	    cmocka_unit_test(test_winrmsharp_get_command_state),
	    cmocka_unit_test(test_winrmsharp_noprofile),
	    cmocka_unit_test(test_winrmsharp_unicode),
	    cmocka_unit_test(test_winrmsharp_open_close_shell),
	    cmocka_unit_test(test_winrmsharp_command_input),
	    cmocka_unit_test(test_winrmsharp_command_cleanup),
	    cmocka_unit_test(test_pypsrp_shell_gone_during_a_command),
	    cmocka_unit_test(test_winrmsharp_command_time_limit),
	    cmocka_unit_test(test_masterzen_conversation),
	    cmocka_unit_test(test_masterzen_command_fault),
	};
	rms_global_init();
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rms_global_cleanup();
	return rc;
}
