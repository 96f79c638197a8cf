/*
 * Replay of PowerShell remoting (MS-PSRP over WinRS) conversations that
 * pypsrp recorded with Windows: a real PSSession (RMS_PS_PROTOCOL_POWERSHELL,
 * WS-Man over plain http to 127.0.0.1, Basic) is driven through the public
 * API against the loopback server of tests/support/httpd.c, which answers
 * each request with the next recorded response. The test then checks that
 *
 *   - the client sent the recorded sequence of requests (wsa:Action), each
 *     with the recorded action URI, ResourceURI (the configuration: Microsoft.PowerShell,
 *     or JEARole through pssession.shell_uri), options (protocolversion
 *     2.3 MustComply on Create, keep-alive on Receive), shell streams,
 *     ShellId selector, CommandIds, Send stream names and End, Signal
 *     codes, and PSRP messages: the fragments of creationXml, Command
 *     Arguments and Send streams are put back together across requests
 *     (each fragment's id checked) and every message is compared by its
 *     type, destination, header GUIDs (named "shell"/"cmdN" by the ids of
 *     its own side's Create and Commands: remsess's must be in .NET byte
 *     order, the recording's are in plain order) and every CLIXML fact
 *     (path, primitive type, value; RefIds, type names and ToString left
 *     out, _xHHHH_ escapes undone) in the order they were completed;
 *   - every request carries the MaxEnvelopeSize the session learnt (or was
 *     given) and is no larger than it (Identify and the winrm/config Get,
 *     sent before it is known, excepted);
 *   - remsess decodes Windows' answers to what pypsrp's own tests expect
 *     (tests/tests_pypsrp/test_powershell.py at the commit of SOURCE.txt):
 *     output objects, records of every stream with their messages, the
 *     failing ErrorRecord, the pool's and session's state, and (is_alive)
 *     rms_session_check's answer: the rsp:Shell record decoded, its code,
 *     the session's state.
 *
 * Most recordings predate pypsrp's GUID byte-order fix: the pool and
 * pipeline GUIDs in their message headers are in plain (big-endian) order;
 * the is_alive ones came after it and are in .NET order. The order is read
 * from each recording's Create (its first message names the ShellId).
 * Served answers are rewritten where the protocol carries the client's own
 * ids: the ShellId (the pool id remsess chose) and CommandIds (its pipeline
 * ids) in the WS-Man XML, the RPID/PID in every PSRP message header (the
 * recorded bytes replaced by remsess's ids in .NET order, as Windows
 * echoes what the client sent), and RelatesTo (the client's MessageID).
 * A recorded response None with http_error (pypsrp's fake transport raised
 * requests' ConnectionError) is served as a hang-up: the server reads the
 * request and closes the connection without a byte, and stays down (every
 * later request gets the same, kept aside for the test).
 *
 * Where remsess differs from pypsrp by design, the step says so (the `why`
 * of a step) and the difference is asserted, not skipped:
 *
 *   - remsess runs Identify when it creates the session (the answer of
 *     WinRMSharp's ProtocolIdentify.yml), then reads winrm/config for
 *     MaxEnvelopeSizekb (answered aside with pypsrp's
 *     test_wsman_update_envelope_size_500.yml, 500 KB; in
 *     test_psrp_small_msg_size the recording's own Get, 32 KB, is a step
 *     and compared). Every request then carries what it learnt: pypsrp
 *     started at 153600 and raised it to 512000 after the server's
 *     SESSION_CAPABILITY, which remsess does not do.
 *   - After a pipeline's end remsess releases it with Signal terminate, as
 *     PowerShell's client does (no PSRP recording has a SignalResponse:
 *     pypsrp's test_winrs_standard.yml one is served); pypsrp left the
 *     pipelines to the shell's Delete. The code and CommandId are asserted.
 *   - The Command: no WINRS_SKIP_CMD_SHELL option (a cmd-shell option),
 *     the command text " " (pypsrp's is empty), and CREATE_PIPELINE as
 *     PowerShell 7.6's own client writes it (pwsh-7.6.10-ssh recordings):
 *     RemoteStreamOptions 0 (pypsrp asked for invocation info, 15),
 *     RedirectShellErrorOutputPipe true, no ExtraCmds.
 *   - remsess has no statements (AddStatement): in the JEA recording it
 *     sends the first of pypsrp's two statements; in
 *     test_psrp_multiple_commands (ten statements, a SecureString
 *     parameter) its own pipeline, compared for type and ids only.
 *   - remsess exchanges no session key (PUBLIC_KEY; protocol 2.4
 *     deprecates it): test_psrp_multiple_commands' key exchange (requests
 *     4 and 5) is not sent, and the SecureString in the output stays an
 *     opaque System.Security.SecureString (pypsrp decrypted it to "abc").
 *   - The is_alive recordings: pypsrp opened the pool with idle_timeout=60;
 *     remsess's PowerShell Create sends no IdleTimeOut
 *     (pssession.idle_timeout_ms is a WinRS setting), the line is dropped.
 *     When the server holds the shell as Disconnected, remsess's close
 *     deletes it (a Delete pypsrp's recording has not: answered with
 *     test_psrp_open_runspace's DeleteResponse); pypsrp's is_alive marked
 *     the pool Closed and left the shell to the server. When the server
 *     hangs up on the Get, libcurl sends it once more, byte for byte, on a
 *     new connection (asserted) before the check fails.
 *
 * Found while writing this (fixed in psremote/psrp_winrm.c): remsess's
 * PSRP Receive lacked WSMAN_CMDSHELL_OPTION_KEEPALIVE, which its cmd-shell
 * Receive, pypsrp and WinRb send.
 * Found with the is_alive recordings and fixed: a check that breaks a
 * PowerShell session ends its pool as a pipeline's loss does, so after
 * RMS_E_GONE the close neither sends nor waits (it waited the 5 s cleanup
 * for a pool close that could not come), and after a lost connection it
 * sends no Delete to the server that is down. Both asserted.
 *
 * Disconnect and connect (test_psrp_disconnect_runspaces,
 * test_psrp_disconnected_commands): each pypsrp client is a remsess session
 * (rms_session_new, then rms_session_connect for the new clients, given
 * the ShellIds and CommandIds the first sessions chose, as a second
 * process would be), the list of shells and of each shell's commands a CIM
 * session's rms_session_shells and rms_session_shell_commands (the
 * command ids the new clients read come from that list). By design:
 *   - every session runs its Identify; they are given MaxEnvelopeSize
 *     512000 (pypsrp's after its first answer), so none reads winrm/config;
 *   - after its Connect pypsrp sent Reconnect before its Delete; a
 *     connected remsess session is Opened and its close is the Delete
 *     alone;
 *   - a pipeline read to its end is released with Signal terminate (as
 *     everywhere above).
 *
 * Replayed (jborean93-pypsrp/responses/): test_psrp_open_runspace,
 * test_psrp_multiple_commands, test_psrp_with_input, test_psrp_error_failed,
 * test_psrp_stream_output_invocation, test_psrp_run_protocol_version_2.3,
 * test_psrp_small_msg_size (the envelope learnt, and given),
 * test_psrp_with_jea_configuration, test_psrp_is_alive_state_disconnected,
 * test_psrp_is_alive_invalid_selectors, test_psrp_is_alive_http_error,
 * test_psrp_disconnect_runspaces and test_psrp_disconnected_commands (see
 * "Disconnect and connect" below for how those differ by design).
 * Not replayed, and why:
 *   - test_psrp_set_runspaces, test_psrp_reset_runspace_state(_fail):
 *     remsess has no API to change a pool's runspaces after it opened, to
 *     ask for the available runspaces, or to reset the runspace state
 *     (SET_MIN/MAX_RUNSPACES, GET_AVAILABLE_RUNSPACES, RESET_RUNSPACE_STATE).
 *   - test_psrp_pshost_methods, test_psrp_pshost_*_mocked_methods: remsess
 *     is a null host; these answer host calls with an interactive host's
 *     values.
 *   - test_psrp_key_exchange_timeout: no key exchange (see above).
 *   - test_psrp_is_alive_other_wsman_error: pypsrp runs it against a live
 *     server only (an OperationTimeout of -1 s to provoke a fault); there
 *     is no recording of it.
 *   - test_psrp_receive_failure, test_psrp_long_running_cmdlet,
 *     test_psrp_get_command_metadata, test_psrp_application_args,
 *     test_psrp_no_profile, test_psrp_with_no_history: not in this task's
 *     list (GET_COMMAND_METADATA and application arguments have no remsess
 *     API; the others are for later).
 *
 * REPLAY_DEBUG=1 in the environment prints every request and the answer
 * served.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "fixture.h"
#include "httpd.h"
#include "remsess/remsess.h"
#include "util.h"
#include "xml.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- where messages come from ------------------------------------------ */

typedef enum src_kind {
	SRC_NONE = 0,
	SRC_PYPSRP,    /* file, index: jborean93-pypsrp/responses/FILE */
	SRC_WINRMSHARP /* file, index: adstep-WinRMSharp .../Sessions/FILE */
} src_kind;

typedef struct msg {
	src_kind kind;
	const char *file;
	int index;
} msg;

/* R(i): exchange i of the test's recording (REC, defined before each
 * test's steps). */
#define R(i)                                                                                       \
	{                                                                                          \
		SRC_PYPSRP, REC, i                                                                 \
	}
#define IDENTIFY_REPLY                                                                             \
	{                                                                                          \
		SRC_WINRMSHARP, "ProtocolIdentify.yml", 0                                          \
	}
/* No PSRP recording has a SignalResponse: the one pypsrp recorded for a
 * cmd shell's Signal (the same rsp:SignalResponse Windows gives any shell). */
#define SIGNAL_REPLY                                                                               \
	{                                                                                          \
		SRC_PYPSRP, "test_winrs_standard.yml", 3                                           \
	}
/* A DeleteResponse, for a Delete the recording has not (an empty body). */
#define DELETE_REPLY                                                                               \
	{                                                                                          \
		SRC_PYPSRP, "test_psrp_open_runspace.yml", 3                                       \
	}
#define WHY_DELETE_DISCONNECTED                                                                    \
	"the server still holds a Disconnected shell: remsess's close deletes it; pypsrp's "       \
	"is_alive marked the pool Closed and left the shell to the server"
#define WHY_IDENTIFY "remsess runs Identify when it creates the session"
#define WHY_TERMINATE                                                                              \
	"remsess releases a finished pipeline with Signal terminate, as PowerShell's client "      \
	"does; pypsrp left it to the shell's Delete"

/* One exchange: what the client must send and what it gets back. */
typedef struct step {
	const char *action; /* "Identify", "Create", "Command", "Send", ... */
	msg reply;          /* served back (ids rewritten) */
	msg recorded;       /* the recorded request compared with (NONE: not) */
	const char *drop;   /* fact lines of the recorded request remsess differs on */
	const char *add;    /* ... and what it sends instead ("\n"-separated) */
	const char *why;    /* set when the step or its difference is by design */
	const char *expect; /* no recording: the lines the request must have */
	/* No answer: the server reads the request and closes the connection
	 * (a recorded response None with http_error: pypsrp's fake transport
	 * raised requests' ConnectionError there). From then on the server is
	 * down: every later request is read, kept aside (replay.down) and
	 * answered the same way. */
	bool hang_up;
} step;

static char *load(const msg *m, const char *key)
{
	switch (m->kind) {
	case SRC_PYPSRP:
		return rms_fixture_pypsrp(m->file, key, m->index);
	case SRC_WINRMSHARP:
		return rms_fixture_winrmsharp(
		    m->file, strcmp(key, "request") == 0 ? "Request" : "Response", m->index);
	case SRC_NONE:
		break;
	}
	return NULL;
}

/* ---- small helpers ---------------------------------------------------------- */

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

/* The value of the first attribute `name="..."` after `from` in xml. */
static char *attr_after(const char *xml, const char *from, const char *name)
{
	const char *p = strstr(xml, from);
	if (!p)
		return NULL;
	char pat[64];
	snprintf(pat, sizeof pat, " %s=\"", name);
	const char *end = strchr(p, '>');
	p = strstr(p, pat);
	if (!p || (end && p > end))
		return NULL;
	p += strlen(pat);
	return rms__strndup(p, strcspn(p, "\""));
}

static xmlDoc *parse(const char *xml, size_t len)
{
	if (len >= 5 && strncmp(xml, "<?xml", 5) == 0 && strstr(xml, "?>")) {
		const char *body = strstr(xml, "?>") + 2;
		len -= (size_t)(body - xml);
		xml = body;
	}
	return xmlReadMemory(xml, (int)len, NULL, "UTF-8", XML_PARSE_NONET | XML_PARSE_NOBLANKS);
}

static char *content(const xmlNode *n)
{
	xmlChar *v = xmlNodeGetContent(n);
	char *s = rms__strdup(v ? (const char *)v : "");
	xmlFree(v);
	return s;
}

static char *prop(const xmlNode *n, const char *name)
{
	xmlChar *v = xmlGetProp(n, BAD_CAST name);
	char *s = v ? rms__strdup((const char *)v) : NULL;
	xmlFree(v);
	return s;
}

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * A GUID's 16 bytes as a PSRP message header carries it: .NET's
 * Guid.ToByteArray() order (the first three groups little-endian), as
 * MS-PSRP 2.2.1 says; or, `plain`, in the order the text is written, as
 * pypsrp wrote them before its byte-order fix (these recordings). The test
 * computes both itself, not with remsess's code.
 */
static bool guid_bytes(const char *text, bool plain, unsigned char out[16])
{
	unsigned char b[16];
	size_t k = 0;
	for (const char *p = text; *p && k < 16; p++) {
		if (*p == '-')
			continue;
		int hi = hexv(p[0]), lo = p[1] ? hexv(p[1]) : -1;
		if (hi < 0 || lo < 0)
			return false;
		b[k++] = (unsigned char)(hi << 4 | lo);
		p++;
	}
	if (k != 16)
		return false;
	memcpy(out, b, 16);
	if (!plain) {
		static const int order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
		for (int i = 0; i < 16; i++)
			out[i] = b[order[i]];
	}
	return true;
}

static void utf8_put(rms_buf *b, uint32_t cp)
{
	unsigned char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xC0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xE0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xF0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	rms__buf_append(b, u, n);
}

/* CLIXML's _xHHHH_ escapes (UTF-16 units, surrogate pairs joined) undone,
 * so two serializers that escape differently compare by meaning. */
static int esc_unit(const char *p)
{
	if (p[0] != '_' || p[1] != 'x' || p[6] != '_')
		return -1;
	int v = 0;
	for (int i = 2; i < 6; i++) {
		int h = hexv(p[i]);
		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

static char *unescape(const char *s)
{
	rms_buf b;
	rms__buf_init(&b);
	rms__buf_puts(&b, "");
	for (const char *p = s; *p;) {
		size_t avail = strnlen(p, 14);
		int u = avail >= 7 ? esc_unit(p) : -1;
		if (u < 0) {
			rms__buf_append(&b, p, 1);
			p++;
			continue;
		}
		p += 7;
		int lo = (u >= 0xD800 && u < 0xDC00 && strnlen(p, 7) >= 7) ? esc_unit(p) : -1;
		if (lo >= 0xDC00 && lo < 0xE000) {
			utf8_put(&b, 0x10000u + (((uint32_t)u - 0xD800u) << 10) +
			                 ((uint32_t)lo - 0xDC00u));
			p += 7;
		} else {
			utf8_put(&b, (uint32_t)u);
		}
	}
	return rms__buf_take(&b);
}

/* ---- what a request says, as lines ---------------------------------------- */

/*
 * A conversation as one side wrote it: the ids it chose (the ShellId of
 * its Create, the CommandId of each Command), named "shell", "cmd1",
 * "cmd2" in the lines so both sides compare, and the PSRP fragments of its
 * requests put back together across requests (a message may start in a
 * Command and end in a Send).
 */
#define MAX_CMDS 8
#define MAX_PARTIAL 8

typedef struct conv {
	bool plain_guids; /* pypsrp's old byte order */
	char shell[40];
	char shell2[40]; /* a second Create's (the disconnect recordings) */
	char cmds[MAX_CMDS][40];
	size_t ncmds;
	struct partial {
		uint64_t object;
		uint64_t next_fragment;
		rms_buf data;
	} parts[MAX_PARTIAL];
	size_t nparts;
} conv;

static void conv_free(conv *c)
{
	for (size_t i = 0; i < c->nparts; i++)
		rms__buf_free(&c->parts[i].data);
	c->nparts = 0;
}

static const char *id_name(const conv *c, const char *id, char buf[48])
{
	if (!id)
		return "(none)";
	if (c->shell[0] && strcasecmp(id, c->shell) == 0)
		return "shell";
	if (c->shell2[0] && strcasecmp(id, c->shell2) == 0)
		return "shell2";
	for (size_t i = 0; i < c->ncmds; i++)
		if (strcasecmp(id, c->cmds[i]) == 0) {
			snprintf(buf, 48, "cmd%zu", i + 1);
			return buf;
		}
	snprintf(buf, 48, "?%.40s", id);
	return buf;
}

/* A header GUID named as the conversation's ids, in its byte order. */
static const char *guid_name(const conv *c, const unsigned char g[16], char buf[48])
{
	static const unsigned char zero[16];
	unsigned char want[16];
	if (memcmp(g, zero, 16) == 0)
		return "0";
	if (c->shell[0] && guid_bytes(c->shell, c->plain_guids, want) && memcmp(g, want, 16) == 0)
		return "shell";
	if (c->shell2[0] && guid_bytes(c->shell2, c->plain_guids, want) && memcmp(g, want, 16) == 0)
		return "shell2";
	for (size_t i = 0; i < c->ncmds; i++)
		if (guid_bytes(c->cmds[i], c->plain_guids, want) && memcmp(g, want, 16) == 0) {
			snprintf(buf, 48, "cmd%zu", i + 1);
			return buf;
		}
	snprintf(buf, 48, "?%02x%02x%02x%02x...", g[0], g[1], g[2], g[3]);
	return buf;
}

static const char *type_name(uint32_t t)
{
	static const struct {
		uint32_t t;
		const char *name;
	} names[] = {
	    {0x00010002, "SESSION_CAPABILITY"},      {0x00010003, "CLOSE_SESSION"},
	    {0x00010004, "INIT_RUNSPACEPOOL"},       {0x00010005, "PUBLIC_KEY"},
	    {0x00010006, "ENCRYPTED_SESSION_KEY"},   {0x00010007, "PUBLIC_KEY_REQUEST"},
	    {0x00010008, "CONNECT_RUNSPACEPOOL"},    {0x00021002, "SET_MAX_RUNSPACES"},
	    {0x00021003, "SET_MIN_RUNSPACES"},       {0x00021006, "CREATE_PIPELINE"},
	    {0x00021007, "GET_AVAILABLE_RUNSPACES"}, {0x0002100A, "GET_COMMAND_METADATA"},
	    {0x0002100C, "RESET_RUNSPACE_STATE"},    {0x00021101, "RUNSPACEPOOL_HOST_RESPONSE"},
	    {0x00041002, "PIPELINE_INPUT"},          {0x00041003, "END_OF_PIPELINE_INPUT"},
	    {0x00041101, "PIPELINE_HOST_RESPONSE"},
	};
	for (size_t i = 0; i < N(names); i++)
		if (names[i].t == t)
			return names[i].name;
	return "UNKNOWN";
}

/* One CLIXML element as lines "PREFIX PATH TAG=value" (RefIds, type names
 * and ToString left out: serializers differ there without a difference in
 * meaning; an object's presence is its own "Obj" line). */
static void clixml_lines(rms_buf *out, const char *prefix, const char *path, const xmlNode *n)
{
	const char *tag = (const char *)n->name;
	if (strcmp(tag, "Obj") == 0) {
		rms__buf_printf(out, "%s %s Obj\n", prefix, path);
		for (const xmlNode *c = rms__xml_first(n); c; c = rms__xml_next(c)) {
			const char *ct = (const char *)c->name;
			if (!strcmp(ct, "TN") || !strcmp(ct, "TNRef") || !strcmp(ct, "ToString"))
				continue;
			if (!strcmp(ct, "MS") || !strcmp(ct, "Props")) {
				for (const xmlNode *m = rms__xml_first(c); m;
				     m = rms__xml_next(m)) {
					char *name = prop(m, "N");
					char *sub = rms__asprintf("%s.%s", path, name ? name : "?");
					clixml_lines(out, prefix, sub, m);
					free(sub);
					free(name);
				}
			} else if (!strcmp(ct, "LST") || !strcmp(ct, "IE") || !strcmp(ct, "STK") ||
			           !strcmp(ct, "QUE")) {
				size_t i = 0;
				rms__buf_printf(out, "%s %s %s\n", prefix, path, ct);
				for (const xmlNode *m = rms__xml_first(c); m;
				     m = rms__xml_next(m), i++) {
					char *sub = rms__asprintf("%s[%zu]", path, i);
					clixml_lines(out, prefix, sub, m);
					free(sub);
				}
			} else if (!strcmp(ct, "DCT")) {
				rms__buf_printf(out, "%s %s DCT\n", prefix, path);
				for (const xmlNode *en = rms__xml_first(c); en;
				     en = rms__xml_next(en)) {
					const xmlNode *k = NULL, *v = NULL;
					for (const xmlNode *m = rms__xml_first(en); m;
					     m = rms__xml_next(m)) {
						char *name = prop(m, "N");
						if (name && !strcmp(name, "Key"))
							k = m;
						else if (name && !strcmp(name, "Value"))
							v = m;
						free(name);
					}
					char *kt = k ? content(k) : rms__strdup("?");
					char *ku = unescape(kt);
					char *sub = rms__asprintf("%s[%s]", path, ku);
					if (v)
						clixml_lines(out, prefix, sub, v);
					free(sub);
					free(ku);
					free(kt);
				}
			} else {
				clixml_lines(out, prefix, path, c); /* the base value */
			}
		}
		return;
	}
	if (!strcmp(tag, "Ref") || !strcmp(tag, "SS") || !strcmp(tag, "Nil")) {
		rms__buf_printf(out, "%s %s %s\n", prefix, path, tag);
		return;
	}
	char *raw = content(n);
	char *text = unescape(raw);
	size_t len = strlen(text);
	if (len > 200) {
		uint32_t h = 2166136261u;
		for (size_t i = 0; i < len; i++)
			h = (h ^ (unsigned char)text[i]) * 16777619u;
		rms__buf_printf(out, "%s %s %s=<%zu bytes, fnv %08x>\n", prefix, path, tag, len, h);
	} else {
		/* one line per fact: line breaks shown as \n */
		rms__buf_printf(out, "%s %s %s=", prefix, path, tag);
		for (const char *p = text; *p; p++) {
			if (*p == '\n')
				rms__buf_puts(out, "\\n");
			else if (*p == '\r')
				rms__buf_puts(out, "\\r");
			else
				rms__buf_append(out, p, 1);
		}
		rms__buf_puts(out, "\n");
	}
	free(text);
	free(raw);
}

/* Per request: the messages completed in it, in order, counted per type. */
typedef struct msgs {
	rms_buf order;
	struct {
		uint32_t type;
		unsigned n;
	} seen[16];
	size_t nseen;
} msgs;

static void message_lines(const conv *c, msgs *m, rms_buf *out, const unsigned char *d, size_t len)
{
	if (len < 40) {
		rms__buf_printf(out, "message shorter than its header (%zu bytes)\n", len);
		return;
	}
	uint32_t dest =
	    (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
	uint32_t type =
	    (uint32_t)d[4] | (uint32_t)d[5] << 8 | (uint32_t)d[6] << 16 | (uint32_t)d[7] << 24;
	unsigned nth = 0;
	size_t k;
	for (k = 0; k < m->nseen && m->seen[k].type != type; k++)
		;
	if (k == m->nseen && k < N(m->seen)) {
		m->seen[k].type = type;
		m->seen[k].n = 0;
		m->nseen++;
	}
	if (k < N(m->seen))
		nth = ++m->seen[k].n;
	char prefix[64];
	if (nth > 1)
		snprintf(prefix, sizeof prefix, "%s#%u", type_name(type), nth);
	else
		snprintf(prefix, sizeof prefix, "%s", type_name(type));
	rms__buf_printf(&m->order, " %s", type_name(type));
	char b1[48], b2[48];
	rms__buf_printf(out, "%s destination=%u rpid=%s pid=%s\n", prefix, dest,
	                guid_name(c, d + 8, b1), guid_name(c, d + 24, b2));
	const unsigned char *x = d + 40;
	size_t xl = len - 40;
	if (xl >= 3 && x[0] == 0xEF && x[1] == 0xBB && x[2] == 0xBF) {
		rms__buf_printf(out, "%s has a byte-order mark\n", prefix);
		x += 3;
		xl -= 3;
	}
	if (!xl)
		return;
	xmlDoc *doc = parse((const char *)x, xl);
	if (!doc) {
		rms__buf_printf(out, "%s CLIXML does not parse\n", prefix);
		return;
	}
	clixml_lines(out, prefix, "$", xmlDocGetRootElement(doc));
	xmlFreeDoc(doc);
}

/* Base64 text of fragments: each one checked (its length, its id in
 * sequence), messages completed go to lines. */
static void fragment_lines(conv *c, msgs *m, rms_buf *out, const char *b64)
{
	unsigned char *data = NULL;
	size_t len = 0;
	if (rms__base64_decode(&data, &len, b64, strlen(b64))) {
		rms__buf_puts(out, "fragments: bad base64\n");
		rms_error_clear();
		return;
	}
	size_t off = 0;
	while (off < len) {
		if (len - off < 21) {
			rms__buf_puts(out, "fragment cut short\n");
			break;
		}
		const unsigned char *h = data + off;
		uint64_t obj = 0, frag = 0;
		for (int i = 0; i < 8; i++) {
			obj = obj << 8 | h[i];
			frag = frag << 8 | h[8 + i];
		}
		unsigned flags = h[16];
		uint32_t blen =
		    (uint32_t)h[17] << 24 | (uint32_t)h[18] << 16 | (uint32_t)h[19] << 8 | h[20];
		if (blen > len - off - 21) {
			rms__buf_puts(out, "fragment longer than the data\n");
			break;
		}
		size_t i;
		for (i = 0; i < c->nparts && c->parts[i].object != obj; i++)
			;
		if (flags & 1) {
			if (i < c->nparts || frag != 0 || c->nparts == MAX_PARTIAL) {
				rms__buf_printf(out, "object %llu started wrongly\n",
				                (unsigned long long)obj);
				break;
			}
			c->parts[i].object = obj;
			c->parts[i].next_fragment = 0;
			rms__buf_init(&c->parts[i].data);
			c->nparts++;
		} else if (i == c->nparts) {
			rms__buf_printf(out, "fragment of object %llu without its start\n",
			                (unsigned long long)obj);
			break;
		}
		if (frag != c->parts[i].next_fragment) {
			rms__buf_printf(out, "object %llu: fragment %llu out of order\n",
			                (unsigned long long)obj, (unsigned long long)frag);
			break;
		}
		c->parts[i].next_fragment++;
		rms__buf_append(&c->parts[i].data, h + 21, blen);
		if (flags & 2) {
			message_lines(c, m, out, (const unsigned char *)c->parts[i].data.data,
			              c->parts[i].data.len);
			rms__buf_free(&c->parts[i].data);
			c->parts[i] = c->parts[--c->nparts];
		}
		off += 21 + blen;
	}
	free(data);
}

typedef struct facts {
	char action[32];
	rms_buf lines;
	unsigned long envelope; /* wsman:MaxEnvelopeSize */
} facts;

static void body_facts(conv *c, facts *f, msgs *m, const xmlNode *body)
{
	char b1[48];
	for (const xmlNode *e = rms__xml_first(body); e; e = rms__xml_next(e)) {
		if (rms__xml_is(e, RMS_NS_IDENTITY, "Identify")) {
			snprintf(f->action, sizeof f->action, "Identify");
		} else if (rms__xml_is(e, RMS_NS_SHELL, "Shell")) {
			char *id = prop(e, "ShellId");
			if (id && strlen(id) < sizeof c->shell && !c->shell[0])
				snprintf(c->shell, sizeof c->shell, "%s", id);
			else if (id && strlen(id) < sizeof c->shell2 && strcasecmp(id, c->shell))
				snprintf(c->shell2, sizeof c->shell2, "%s", id);
			rms__buf_printf(&f->lines, "shell ShellId=%s\n", id_name(c, id, b1));
			free(id);
			for (const xmlNode *s = rms__xml_first(e); s; s = rms__xml_next(s)) {
				char *val = content(s);
				if (strcmp((const char *)s->name, "creationXml") == 0)
					fragment_lines(c, m, &f->lines, val);
				else
					rms__buf_printf(&f->lines, "shell %s=%s\n", s->name, val);
				free(val);
			}
		} else if (rms__xml_is(e, RMS_NS_SHELL, "CommandLine")) {
			char *id = prop(e, "CommandId");
			if (id && c->ncmds < MAX_CMDS && strlen(id) < sizeof c->cmds[0])
				snprintf(c->cmds[c->ncmds++], sizeof c->cmds[0], "%s", id);
			rms__buf_printf(&f->lines, "command CommandId=%s\n", id_name(c, id, b1));
			free(id);
			for (const xmlNode *s = rms__xml_first(e); s; s = rms__xml_next(s)) {
				char *val = content(s);
				if (strcmp((const char *)s->name, "Arguments") == 0)
					fragment_lines(c, m, &f->lines, val);
				else
					rms__buf_printf(&f->lines, "command %s=%s\n", s->name, val);
				free(val);
			}
		} else if (rms__xml_is(e, RMS_NS_SHELL, "Send")) {
			for (const xmlNode *s = rms__xml_first(e); s; s = rms__xml_next(s)) {
				char *name = prop(s, "Name");
				char *id = prop(s, "CommandId");
				char *end = prop(s, "End");
				rms__buf_printf(&f->lines, "send %s CommandId=%s end=%s\n", name,
				                id ? id_name(c, id, b1) : "(pool)",
				                end ? end : "false");
				char *val = content(s);
				fragment_lines(c, m, &f->lines, val);
				free(val);
				free(name);
				free(id);
				free(end);
			}
		} else if (rms__xml_is(e, RMS_NS_SHELL, "Receive")) {
			for (const xmlNode *s = rms__xml_first(e); s; s = rms__xml_next(s)) {
				char *id = prop(s, "CommandId");
				char *val = content(s);
				rms__buf_printf(&f->lines, "receive %s CommandId=%s\n", val,
				                id ? id_name(c, id, b1) : "(pool)");
				free(val);
				free(id);
			}
		} else if (rms__xml_is(e, RMS_NS_SHELL, "Connect")) {
			/* A new client's: the pool's messages in connectXml; or a
			 * pipeline's, by CommandId. */
			char *id = prop(e, "CommandId");
			rms__buf_printf(&f->lines, "connect CommandId=%s\n",
			                id ? id_name(c, id, b1) : "(pool)");
			free(id);
			for (const xmlNode *s = rms__xml_first(e); s; s = rms__xml_next(s)) {
				char *val = content(s);
				if (strcmp((const char *)s->name, "connectXml") == 0)
					fragment_lines(c, m, &f->lines, val);
				else
					rms__buf_printf(&f->lines, "connect %s=%s\n", s->name, val);
				free(val);
			}
		} else if (rms__xml_is(e, RMS_NS_ENUMERATION, "Enumerate")) {
			/* The shape, and a selector filter's selectors (a shell's
			 * commands). */
			rms__buf_puts(&f->lines, "body Enumerate\n");
			for (const xmlNode *x = rms__xml_first(e); x; x = rms__xml_next(x)) {
				rms__buf_printf(&f->lines, "enumerate %s\n", x->name);
				if (strcmp((const char *)x->name, "Filter") != 0)
					continue;
				char *dialect = prop(x, "Dialect");
				rms__buf_printf(&f->lines, "enumerate filter %s\n", dialect);
				free(dialect);
				const xmlNode *set = rms__xml_first(x);
				for (const xmlNode *o = set ? rms__xml_first(set) : NULL; o;
				     o = rms__xml_next(o)) {
					char *sn = prop(o, "Name");
					char *val = content(o);
					rms__buf_printf(&f->lines, "enumerate selector %s=%s\n", sn,
					                id_name(c, val, b1));
					free(sn);
					free(val);
				}
			}
		} else if (rms__xml_is(e, RMS_NS_SHELL, "Signal")) {
			char *id = prop(e, "CommandId");
			const xmlNode *code = rms__xml_child(e, RMS_NS_SHELL, "Code");
			char *val = code ? content(code) : rms__strdup("(none)");
			rms__buf_printf(&f->lines, "signal %s CommandId=%s\n", val,
			                id_name(c, id, b1));
			free(val);
			free(id);
		} else {
			rms__buf_printf(&f->lines, "body %s\n", e->name);
		}
	}
}

/* The lines of one request, in the context of its conversation. */
static void get_facts(conv *c, facts *f, const char *xml)
{
	memset(f, 0, sizeof *f);
	rms__buf_init(&f->lines);
	rms__buf_puts(&f->lines, "");
	xmlDoc *doc = parse(xml, strlen(xml));
	if (!doc)
		fail_msg("a request does not parse: %.300s", xml);
	msgs m;
	memset(&m, 0, sizeof m);
	rms__buf_init(&m.order);
	rms__buf_puts(&m.order, "");
	xmlNode *env = xmlDocGetRootElement(doc);
	xmlNode *hdr = rms__xml_child(env, RMS_NS_SOAP, "Header");
	xmlNode *body = rms__xml_child(env, RMS_NS_SOAP, "Body");
	assert_non_null(body);
	char b1[48];
	for (xmlNode *h = hdr ? rms__xml_first(hdr) : NULL; h; h = rms__xml_next(h)) {
		const char *name = (const char *)h->name;
		if (rms__xml_is(h, RMS_NS_ADDRESSING, "Action")) {
			char *a = content(h);
			snprintf(f->action, sizeof f->action, "%s",
			         strrchr(a, '/') ? strrchr(a, '/') + 1 : a);
			rms__buf_printf(&f->lines, "action %s\n", a);
			free(a);
		} else if (strcmp(name, "ResourceURI") == 0) {
			char *v = content(h);
			rms__buf_printf(&f->lines, "resource %s\n", v);
			free(v);
		} else if (strcmp(name, "MaxEnvelopeSize") == 0) {
			char *v = content(h);
			f->envelope = strtoul(v, NULL, 10);
			free(v);
		} else if (strcmp(name, "OptionSet") == 0) {
			for (const xmlNode *o = rms__xml_first(h); o; o = rms__xml_next(o)) {
				char *on = prop(o, "Name");
				char *val = content(o);
				char *mc = prop(o, "MustComply");
				for (char *p = val; *p; p++)
					if (*p >= 'A' && *p <= 'Z')
						*p = (char)(*p - 'A' + 'a');
				rms__buf_printf(&f->lines, "option %s=%s%s\n", on, val,
				                mc && !strcasecmp(mc, "true") ? " (MustComply)"
				                                              : "");
				free(on);
				free(val);
				free(mc);
			}
		} else if (strcmp(name, "SelectorSet") == 0) {
			for (const xmlNode *o = rms__xml_first(h); o; o = rms__xml_next(o)) {
				char *sn = prop(o, "Name");
				char *val = content(o);
				rms__buf_printf(&f->lines, "selector %s=%s\n", sn,
				                strcmp(sn, "ShellId") == 0 ? id_name(c, val, b1)
				                                           : val);
				free(sn);
				free(val);
			}
		}
	}
	body_facts(c, f, &m, body);
	if (m.order.len)
		rms__buf_printf(&f->lines, "messages%s\n", m.order.data);
	rms__buf_free(&m.order);
	if (!f->action[0])
		snprintf(f->action, sizeof f->action, "(none)");
	xmlFreeDoc(doc);
}

/* Does `lines` hold `line` (a whole line)? A line of `lines` ending in '*'
 * matches every line it begins. */
static bool has_line(const char *lines, const char *line, size_t len, bool wild)
{
	for (const char *p = lines; p && *p;) {
		size_t n = strcspn(p, "\n");
		if (n == len && memcmp(p, line, len) == 0)
			return true;
		if (wild && n > 0 && p[n - 1] == '*' && len >= n - 1 && memcmp(p, line, n - 1) == 0)
			return true;
		p += n + (p[n] == '\n');
	}
	return false;
}

/* The recorded request's lines minus `drop` plus `add`. A drop line ending
 * in '*' drops every recorded line it begins (at least one). */
static char *expected_lines(const char *recorded, const char *drop, const char *add)
{
	rms_buf out;
	rms__buf_init(&out);
	rms__buf_puts(&out, "");
	for (const char *p = recorded; *p;) {
		size_t n = strcspn(p, "\n");
		if (!drop || !has_line(drop, p, n, true)) {
			rms__buf_append(&out, p, n);
			rms__buf_puts(&out, "\n");
		}
		p += n + (p[n] == '\n');
	}
	if (drop) /* every dropped line must have been in the recording */
		for (const char *p = drop; *p;) {
			size_t n = strcspn(p, "\n");
			bool found = false;
			for (const char *q = recorded; *q && n;) {
				size_t m = strcspn(q, "\n");
				if ((m == n && memcmp(p, q, n) == 0) ||
				    (p[n - 1] == '*' && m >= n - 1 && memcmp(p, q, n - 1) == 0))
					found = true;
				q += m + (q[m] == '\n');
			}
			if (n && !found)
				fail_msg("the step drops '%.*s', which the recorded request does "
				         "not have",
				         (int)n, p);
			p += n + (p[n] == '\n');
		}
	if (add)
		rms__buf_printf(&out, "%s%s", add, add[strlen(add) - 1] == '\n' ? "" : "\n");
	return rms__buf_take(&out);
}

/* The same lines both ways; an expected line ending in '*' stands for any
 * number (at least one) of sent lines it begins. Every difference is
 * listed. */
static void compare_lines(size_t i, const char *action, const char *want, const char *got)
{
	rms_buf diff;
	rms__buf_init(&diff);
	for (int pass = 0; pass < 2; pass++) {
		const char *a = pass ? got : want, *b = pass ? want : got;
		for (const char *p = a; *p;) {
			size_t n = strcspn(p, "\n");
			bool ok;
			if (!pass && n && p[n - 1] == '*') {
				ok = false;
				for (const char *q = got; *q && !ok;) {
					size_t m = strcspn(q, "\n");
					ok = m >= n - 1 && memcmp(p, q, n - 1) == 0;
					q += m + (q[m] == '\n');
				}
			} else {
				ok = !n || has_line(b, p, n, pass == 1);
			}
			if (!ok)
				rms__buf_printf(
				    &diff, "%s %.*s\n",
				    pass ? "sent, not recorded:" : "recorded, not sent:", (int)n,
				    p);
			p += n + (p[n] == '\n');
		}
	}
	if (diff.len) {
		/* whole, on stderr: cmocka cuts long failure messages */
		fprintf(stderr, "request %zu (%s) differs from the recording:\n%s", i + 1, action,
		        diff.data);
		fail_msg("request %zu (%s) differs from the recording", i + 1, action);
	}
	rms__buf_free(&diff);
}

/* ---- the replaying server ------------------------------------------------ */

#define MAX_STEPS 32

typedef struct idmap {
	char rec[40]; /* the id in the recording */
	char cli[40]; /* the one remsess chose */
} idmap;

typedef struct replay {
	const step *steps;
	size_t n;
	char *replies[MAX_STEPS];
	pthread_mutex_t mu;
	char *sent[MAX_STEPS + 4];
	size_t sent_len[MAX_STEPS + 4];
	bool basic[MAX_STEPS + 4];
	bool config[MAX_STEPS + 4]; /* the winrm/config Get (sent before any learning) */
	size_t nsent;
	/* After a hang_up step: the requests the client sent to the server
	 * that was down, in order (not steps: the test asserts them). */
	bool is_down;
	char *down[4];
	size_t ndown;
	rms_httpd *d;
	idmap ids[MAX_CMDS + 1];
	size_t nids;
	/* remsess reads winrm/config (MaxEnvelopeSizekb) right after Identify
	 * when no MaxEnvelopeSize is given; a recording without that Get gets
	 * it answered aside from the steps with an administrator's answer
	 * pypsrp recorded (test_wsman_update_envelope_size_500.yml: 500 KB). */
	char *config_reply;
	size_t config_gets;
	size_t config_after;
	bool config_step;       /* the recording's own winrm/config Get was a step */
	bool plain;             /* the recording's header GUIDs in plain order */
	bool learning;          /* a session made without a MaxEnvelopeSize */
	unsigned long envelope; /* the MaxEnvelopeSize every request must carry */
} replay;

static const char UNEXPECTED[] =
    "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
    "xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><s:Body><s:Fault><s:Code>"
    "<s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:InternalError</s:Value></s:Subcode>"
    "</s:Code><s:Reason><s:Text xml:lang=\"en-US\">replay: a request beyond the recording"
    "</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>";

/* s with every `from` (any case) replaced by `to`. */
static char *replace_all(const char *s, const char *from, const char *to)
{
	rms_buf b;
	rms__buf_init(&b);
	rms__buf_puts(&b, "");
	size_t fl = strlen(from);
	for (const char *p = s; *p;) {
		if (fl && strncasecmp(p, from, fl) == 0) {
			rms__buf_puts(&b, to);
			p += fl;
		} else {
			rms__buf_append(&b, p, 1);
			p++;
		}
	}
	return rms__buf_take(&b);
}

/* The recorded message headers name the recorded pool and pipelines in
 * plain byte order; remsess's own ids go in, in .NET order (what remsess
 * sends, and what a Windows host echoes). */
static void patch_fragments(const replay *r, unsigned char *d, size_t len)
{
	size_t off = 0;
	while (len - off >= 21) {
		unsigned char *h = d + off;
		uint32_t blen =
		    (uint32_t)h[17] << 24 | (uint32_t)h[18] << 16 | (uint32_t)h[19] << 8 | h[20];
		if (blen > len - off - 21)
			break;
		if ((h[16] & 1) && blen >= 40)
			for (int g = 0; g < 2; g++) {
				unsigned char *at = h + 21 + 8 + 16 * g, rec[16];
				for (size_t k = 0; k < r->nids; k++)
					if (guid_bytes(r->ids[k].rec, r->plain, rec) &&
					    memcmp(at, rec, 16) == 0) {
						guid_bytes(r->ids[k].cli, false, at);
						break;
					}
			}
		off += 21 + blen;
	}
}

static char *rewrite_in(const replay *r, const char *xml, const char *tag)
{
	rms_buf b;
	rms__buf_init(&b);
	rms__buf_puts(&b, "");
	const char *p = xml;
	for (const char *s; (s = strstr(p, tag));) {
		const char *gt = strchr(s, '>');
		if (!gt)
			break;
		rms__buf_append(&b, p, (size_t)(gt + 1 - p));
		p = gt + 1;
		if (gt[-1] == '/')
			continue;
		size_t tl = strcspn(p, "<");
		unsigned char *data = NULL;
		size_t len = 0;
		if (tl && rms__base64_decode(&data, &len, p, tl) == 0) {
			patch_fragments(r, data, len);
			rms__base64_append(&b, data, len);
			free(data);
		} else {
			rms_error_clear();
			rms__buf_append(&b, p, tl);
		}
		p += tl;
	}
	rms__buf_puts(&b, p);
	return rms__buf_take(&b);
}

/* The fragments of the receive streams and of a Connect's answer. */
static char *rewrite_streams(const replay *r, const char *xml)
{
	char *t = rewrite_in(r, xml, "<rsp:Stream");
	char *u = rewrite_in(r, t, "<connectResponseXml");
	free(t);
	return u;
}

/* The recorded reply for request i, made the answer to what remsess sent:
 * RelatesTo its MessageID, its ShellId and CommandIds for the recorded. */
static char *answer(replay *r, size_t i, const char *reply, const char *body)
{
	const char *action = i < r->n ? r->steps[i].action : "";
	char *rec = NULL, *cli = NULL;
	if (strcmp(action, "Create") == 0) {
		rec = text_after(reply, "<rsp:ShellId");
		cli = attr_after(body, "<rsp:Shell", "ShellId");
	} else if (strcmp(action, "Command") == 0) {
		rec = text_after(reply, "<rsp:CommandId");
		cli = attr_after(body, "<rsp:CommandLine", "CommandId");
	}
	if (rec && cli && r->nids < N(r->ids) && strlen(rec) < 40 && strlen(cli) < 40) {
		snprintf(r->ids[r->nids].rec, 40, "%s", rec);
		snprintf(r->ids[r->nids].cli, 40, "%s", cli);
		r->nids++;
	}
	free(rec);
	free(cli);
	char *out = rms__strdup(reply);
	char *mid = text_after(body, "MessageID>");
	const char *rel = strstr(out, "RelatesTo>");
	if (mid && rel) {
		rel += strlen("RelatesTo>");
		char *t =
		    rms__asprintf("%.*s%s%s", (int)(rel - out), out, mid, rel + strcspn(rel, "<"));
		free(out);
		out = t;
	}
	free(mid);
	for (size_t k = 0; k < r->nids; k++) {
		char *t = replace_all(out, r->ids[k].rec, r->ids[k].cli);
		free(out);
		out = t;
	}
	char *t = rewrite_streams(r, out);
	free(out);
	return t;
}

static void handler(const rms_httpd_request *req, rms_httpd_response *resp, void *ud)
{
	replay *r = ud;
	/* The body is not NUL-terminated (it lies in the connection's buffer):
	 * search a copy. */
	char *body = rms__strndup(req->body ? req->body : "", req->body_len);
	bool config = strstr(body, "/transfer/Get</") &&
	              strstr(body, ">http://schemas.microsoft.com/wbem/wsman/1/config</");
	pthread_mutex_lock(&r->mu);
	size_t i = r->nsent;
	if (r->is_down) {
		if (r->ndown < N(r->down))
			r->down[r->ndown++] = body;
		else
			free(body);
		pthread_mutex_unlock(&r->mu);
		resp->mode = RMS_HTTPD_CLOSE;
		return;
	}
	if (config && !(i < r->n && strcmp(r->steps[i].action, "Get") == 0)) {
		r->config_gets++;
		r->config_after = r->nsent;
		resp->body = answer(r, (size_t)-1, r->config_reply, body);
		resp->free_body = true;
		pthread_mutex_unlock(&r->mu);
		free(body);
		return;
	}
	if (i < N(r->sent)) {
		r->sent_len[i] = req->body_len;
		r->basic[i] = req->headers && strstr(req->headers, "Authorization: Basic ") != NULL;
		r->config[i] = config;
		r->config_step |= config;
		r->nsent++;
	}
	if (i >= r->n) {
		if (i < N(r->sent))
			r->sent[i] = body;
		else
			free(body);
		pthread_mutex_unlock(&r->mu);
		resp->status = 500;
		resp->body = UNEXPECTED;
		return;
	}
	if (r->steps[i].hang_up) {
		if (getenv("REPLAY_DEBUG"))
			fprintf(stderr, "--- request %zu\n%s\n--- hung up\n", i + 1, body);
		r->is_down = true;
		r->sent[i] = body;
		pthread_mutex_unlock(&r->mu);
		resp->mode = RMS_HTTPD_CLOSE;
		return;
	}
	resp->body = answer(r, i, r->replies[i], body);
	resp->free_body = true;
	if (getenv("REPLAY_DEBUG"))
		fprintf(stderr, "--- request %zu\n%s\n--- answer\n%s\n", i + 1, body, resp->body);
	resp->status = strstr(r->replies[i], ":Fault>") ? 500 : 200;
	r->sent[i] = body;
	pthread_mutex_unlock(&r->mu);
}

/* The byte order of the GUIDs in the recorded message headers (see the
 * header): the recorded Create's ShellId is the pool's id, and the first
 * message of its creationXml names the pool; in plain order or in .NET's.
 * Neither fails the test. */
static bool recorded_plain(const step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(steps[i].action, "Create") != 0 || steps[i].recorded.kind != SRC_PYPSRP)
			continue;
		char *xml = load(&steps[i].recorded, "request");
		char *id = attr_after(xml, "<rsp:Shell", "ShellId");
		char *b64 = text_after(xml, "creationXml");
		unsigned char *data = NULL, want[16];
		size_t len = 0;
		int order = -1; /* 1 plain, 0 .NET */
		if (id && b64 && rms__base64_decode(&data, &len, b64, strlen(b64)) == 0 &&
		    len >= 21 + 24)
			for (int plain = 1; plain >= 0 && order < 0; plain--)
				if (guid_bytes(id, plain, want) &&
				    memcmp(data + 21 + 8, want, 16) == 0)
					order = plain;
		free(data);
		free(b64);
		free(id);
		free(xml);
		if (order < 0)
			fail_msg("%s: the Create's first message does not name its ShellId",
			         steps[i].recorded.file);
		return order == 1;
	}
	return true;
}

static replay *replay_start(const step *steps, size_t n)
{
	assert_true(n <= MAX_STEPS);
	replay *r = calloc(1, sizeof *r);
	assert_non_null(r);
	r->steps = steps;
	r->n = n;
	r->envelope = 512000;
	r->plain = recorded_plain(steps, n);
	pthread_mutex_init(&r->mu, NULL);
	for (size_t i = 0; i < n; i++)
		r->replies[i] = load(&steps[i].reply, "response");
	r->config_reply =
	    rms_fixture_pypsrp("test_wsman_update_envelope_size_500.yml", "response", 0);
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
	o.pssession_v2.protocol = RMS_PS_PROTOCOL_POWERSHELL;
	return o;
}

static rms_session *replay_session(replay *r, const rms_session_options *o)
{
	rms_session_options def = replay_opts(r);
	if (!o)
		o = &def;
	rms_session *s = NULL;
	r->learning = !o->max_envelope_size;
	if (o->max_envelope_size)
		r->envelope = o->max_envelope_size;
	if (rms_session_new(&s, RMS_BACKEND_PSSESSION, o))
		fail_msg("session: %s", rms_error_message(rms_error_last()));
	assert_int_equal(rms_session_state_get(s), RMS_STATE_OPENED);
	return s;
}

/* The recorded requests of one file, read in order as one conversation. */
typedef struct recorded {
	const char *file;
	conv c;
	char *lines[MAX_STEPS];
	char action[MAX_STEPS][32];
	int upto;
} recorded;

static void recorded_read(recorded *rc, const char *file, int upto, bool plain)
{
	memset(rc, 0, sizeof *rc);
	rc->file = file;
	rc->c.plain_guids = plain;
	rc->upto = upto;
	assert_true(upto < MAX_STEPS);
	for (int k = 0; k <= upto; k++) {
		msg m = {SRC_PYPSRP, file, k};
		char *xml = load(&m, "request");
		facts f;
		get_facts(&rc->c, &f, xml);
		rc->lines[k] = rms__buf_take(&f.lines);
		snprintf(rc->action[k], sizeof rc->action[k], "%s", f.action);
		free(xml);
	}
}

static void recorded_free(recorded *rc)
{
	for (int k = 0; k <= rc->upto; k++)
		free(rc->lines[k]);
	conv_free(&rc->c);
}

/* Stops the server and checks every request against the steps. */
static void replay_finish(replay *r)
{
	rms_httpd_stop(r->d);
	conv sent = {.plain_guids = false};
	facts got[MAX_STEPS + 4];
	char order[512] = "";
	for (size_t i = 0; i < r->nsent; i++) {
		get_facts(&sent, &got[i], r->sent[i]);
		size_t len = strlen(order);
		snprintf(order + len, sizeof order - len, "%s%s", i ? " " : "", got[i].action);
	}
	if (r->nsent != r->n)
		fail_msg("the client sent %zu requests, the recording has %zu: %s", r->nsent, r->n,
		         order);
	/* the recordings the steps compare with, each read once */
	recorded recs[2];
	size_t nrecs = 0;
	for (size_t i = 0; i < r->n; i++) {
		const msg *m = &r->steps[i].recorded;
		if (m->kind != SRC_PYPSRP)
			continue;
		size_t k;
		for (k = 0; k < nrecs && strcmp(recs[k].file, m->file) != 0; k++)
			;
		if (k == nrecs) {
			int upto = 0;
			for (size_t j = 0; j < r->n; j++)
				if (r->steps[j].recorded.kind == SRC_PYPSRP &&
				    strcmp(r->steps[j].recorded.file, m->file) == 0 &&
				    r->steps[j].recorded.index > upto)
					upto = r->steps[j].recorded.index;
			assert_true(nrecs < N(recs));
			recorded_read(&recs[nrecs++], m->file, upto, r->plain);
		}
	}
	for (size_t i = 0; i < r->n; i++) {
		const step *st = &r->steps[i];
		if (strcmp(got[i].action, st->action) != 0)
			fail_msg("request %zu is %s, the recording has %s here (sent: %s)", i + 1,
			         got[i].action, st->action, order);
		assert_true(r->basic[i]); /* pre-emptive Basic on every request */
		/* Every request carries the envelope size the session learnt
		 * (or was given), and none is larger. */
		if (strcmp(st->action, "Identify") != 0 && !r->config[i]) {
			if (got[i].envelope != r->envelope)
				fail_msg("request %zu (%s) has MaxEnvelopeSize %lu, not %lu", i + 1,
				         st->action, got[i].envelope, r->envelope);
			if (r->sent_len[i] > r->envelope)
				fail_msg("request %zu (%s) is %zu bytes, over MaxEnvelopeSize %lu",
				         i + 1, st->action, r->sent_len[i], r->envelope);
		}
		if (st->recorded.kind == SRC_PYPSRP) {
			recorded *rc = NULL;
			for (size_t k = 0; k < nrecs; k++)
				if (strcmp(recs[k].file, st->recorded.file) == 0)
					rc = &recs[k];
			if (!rc)
				fail_msg("step %zu: recording %s not read", i + 1, st->recorded.file);
			assert_string_equal(rc->action[st->recorded.index], st->action);
			char *exp =
			    expected_lines(rc->lines[st->recorded.index], st->drop, st->add);
			compare_lines(i, st->action, exp, got[i].lines.data);
			free(exp);
		} else {
			/* a step with no recorded request is one remsess adds */
			assert_non_null(st->why);
			for (const char *p = st->expect ? st->expect : ""; *p;) {
				size_t n = strcspn(p, "\n");
				if (!has_line(got[i].lines.data, p, n, false))
					fail_msg("request %zu (%s) lacks '%.*s':\n%s", i + 1,
					         st->action, (int)n, p, got[i].lines.data);
				p += n + (p[n] == '\n');
			}
		}
	}
	for (size_t i = 0; i < r->nsent; i++)
		rms__buf_free(&got[i].lines);
	for (size_t k = 0; k < nrecs; k++)
		recorded_free(&recs[k]);
	conv_free(&sent);
	/* One winrm/config read when the session had no MaxEnvelopeSize,
	 * right after Identify (unless the recording has it as a step). */
	assert_int_equal(r->config_gets, r->learning && !r->config_step ? 1 : 0);
	if (r->config_gets == 1)
		assert_int_equal(r->config_after, 1);
	free(r->config_reply);
	for (size_t i = 0; i < r->nsent; i++)
		free(r->sent[i]);
	for (size_t i = 0; i < r->ndown; i++)
		free(r->down[i]);
	for (size_t i = 0; i < r->n; i++)
		free(r->replies[i]);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* ---- running pipelines ---------------------------------------------------- */

#define MAX_ITEMS 32

typedef struct result {
	rms_ps_stream st[MAX_ITEMS];
	rms_value *v[MAX_ITEMS];
	size_t n;
	int rc;
	char *error;       /* the failure's message */
	rms_value *record; /* the ErrorRecord a failed pipeline ended with */
} result;

static void result_free(result *res)
{
	for (size_t i = 0; i < res->n; i++)
		rms_value_free(res->v[i]);
	free(res->error);
	rms_value_free(res->record);
	memset(res, 0, sizeof *res);
}

/* Runs req to its end on s; every object in order, with its stream. */
static void invoke(rms_session *s, rms_request *req, result *res)
{
	memset(res, 0, sizeof *res);
	rms_op *op = NULL;
	if (rms_op_start(&op, s, req))
		fail_msg("start: %s", rms_error_message(rms_error_last()));
	rms_ps_stream st;
	rms_value *v;
	while ((res->rc = rms_op_next_object(op, &st, &v)) == 0) {
		assert_true(res->n < MAX_ITEMS);
		res->st[res->n] = st;
		res->v[res->n++] = v;
	}
	if (res->rc != RMS_ITEROVER) {
		res->error = rms__strdup(rms_error_message(rms_op_error(op)));
		if (rms_op_error_record(op))
			assert_int_equal(rms_value_dup(&res->record, rms_op_error_record(op)), 0);
	}
	rms_op_free(op);
}

static void assert_completed(const result *res)
{
	if (res->rc != RMS_ITEROVER)
		fail_msg("the pipeline ended with %d: %s", res->rc, res->error ? res->error : "");
}

static rms_value *str(const char *s)
{
	rms_value *v;
	assert_int_equal(rms_value_new_string(&v, s), 0);
	return v;
}

static rms_value *i32(int32_t n)
{
	rms_value *v;
	assert_int_equal(rms_value_new_sint32(&v, n), 0);
	return v;
}

/* A PowerShell object of the given collection kind and type names. */
static rms_psobject *pso(rms_ps_collection kind, const char *const *types)
{
	rms_psobject *o;
	assert_int_equal(rms_psobject_new(&o), 0);
	for (; *types; types++)
		assert_int_equal(rms_psobject_add_type_name(o, *types), 0);
	assert_int_equal(rms_psobject_set_collection(o, kind), 0);
	return o;
}

static rms_value *obj(rms_psobject *o)
{
	rms_value *v;
	assert_int_equal(rms_value_new_object(&v, o), 0);
	return v;
}

static void add_input(rms_request *req, rms_value *v)
{
	assert_int_equal(rms_request_add_input(req, v), 0);
	rms_value_free(v);
}

static void assert_json(const rms_value *v, const char *want)
{
	char *j = NULL;
	assert_int_equal(rms_value_to_json(&j, v), 0);
	if (strcmp(j, want) != 0)
		fail_msg("value is %s, want %s", j, want);
	rms_free(j);
}

/* An object of stream st at position i, with the record message (or, for
 * output, the JSON) given. */
static void assert_item(const result *res, size_t i, rms_ps_stream st, const char *want)
{
	if (i >= res->n)
		fail_msg("only %zu objects, wanted one at %zu (%s)", res->n, i, want);
	if (res->st[i] != st)
		fail_msg("object %zu is on stream %s, not %s", i, rms_ps_stream_name(res->st[i]),
		         rms_ps_stream_name(st));
	if (st == RMS_PS_OUTPUT) {
		assert_json(res->v[i], want);
		return;
	}
	const char *m = rms_ps_record_message(res->v[i]);
	if (!m || strcmp(m, want) != 0)
		fail_msg("record %zu (%s) says '%s', want '%s'", i, rms_ps_stream_name(st),
		         m ? m : "(null)", want);
}

/* The object's property (adapted or extended) as text: a string's, an
 * object's ToString (an enum's name); "(none)" when it has none. */
static const char *psprop(const rms_value *v, const char *name)
{
	const rms_psobject *o = NULL, *po = NULL;
	if (rms_value_get_object(v, &o) || !o)
		return "(none)";
	const rms_value *p = rms_psobject_get(o, name);
	const char *s = NULL;
	if (p && rms_value_get_text(p, &s) == 0 && s)
		return s;
	if (p && rms_value_get_object(p, &po) == 0 && po && rms_psobject_to_string(po))
		return rms_psobject_to_string(po);
	return "(none)";
}

/* ---- the recordings --------------------------------------------------------- */

/* Creation and the pool's opening, as every recording has them: Identify
 * (remsess's), Create with the pool's first messages, then Receives on the
 * shell until RUNSPACEPOOL_STATE Opened. */
#define OPEN_STEPS                                                                                 \
	{.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},                      \
	    {.action = "Create",                                                                   \
	     .reply = R(0),                                                                        \
	     .recorded = R(0),                                                                     \
	     .drop = CREATE_DROP,                                                                  \
	     .add = CREATE_ADD,                                                                    \
	     .why = WHY_CREATE},                                                                   \
	    {.action = "Receive", .reply = R(1), .recorded = R(1)},                                \
	{                                                                                          \
		.action = "Receive", .reply = R(2), .recorded = R(2)                               \
	}
/* How remsess's Command differs from pypsrp's in every recording: no
 * WINRS_SKIP_CMD_SHELL (a cmd-shell option; PowerShell shells ignore it),
 * the command text " " instead of an empty one, and CREATE_PIPELINE as
 * PowerShell 7.6's own client writes it (../shared/fixtures/pwsh-7.6.10-ssh):
 * no invocation info asked for on records (RemoteStreamOptions 0, not
 * AddInvocationInfo 15), no ExtraCmds (remsess has no statements), and
 * RedirectShellErrorOutputPipe true. */
#define COMMAND_WS_DROP                                                                            \
	"option WINRS_SKIP_CMD_SHELL=false\n"                                                      \
	"command Command=\n"
#define COMMAND_WS_ADD "command Command= \n"
#define PIPELINE_DROP                                                                              \
	"CREATE_PIPELINE $.RemoteStreamOptions I32=15\n"                                           \
	"CREATE_PIPELINE $.PowerShell.ExtraCmds Nil\n"                                             \
	"CREATE_PIPELINE $.PowerShell.RedirectShellErrorOutputPipe B=false\n"
#define PIPELINE_ADD                                                                               \
	"CREATE_PIPELINE $.RemoteStreamOptions I32=0\n"                                            \
	"CREATE_PIPELINE $.PowerShell.RedirectShellErrorOutputPipe B=true\n"
#define COMMAND_DROP COMMAND_WS_DROP PIPELINE_DROP
#define COMMAND_ADD COMMAND_WS_ADD PIPELINE_ADD
#define WHY_COMMAND                                                                                \
	"remsess writes CREATE_PIPELINE as PowerShell 7.6's client does, and no cmd-shell option"
#define CREATE_DROP NULL
#define CREATE_ADD NULL
#define WHY_CREATE NULL

/* One pipeline after the pool opened, released, then the close: the steps
 * of the recordings with a Command, its Receive(s) and the Delete. */
#define COMMAND_STEP(i)                                                                            \
	{                                                                                          \
		.action = "Command", .reply = R(i), .recorded = R(i), .drop = COMMAND_DROP,        \
		.add = COMMAND_ADD, .why = WHY_COMMAND                                             \
	}
#define TERMINATE(cmd)                                                                             \
	{                                                                                          \
		.action = "Signal", .reply = SIGNAL_REPLY, .why = WHY_TERMINATE,                   \
		.expect = "selector ShellId=shell\n"                                               \
		          "signal http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/" \
		          "terminate CommandId=" cmd "\n"                                          \
	}
#define TERMINATE_STEP TERMINATE("cmd1")

static void test_open_runspace(void **state)
{
	(void)state;
#define REC "test_psrp_open_runspace.yml"
	static const step steps[] = {
	    OPEN_STEPS,
	    {.action = "Delete", .reply = R(3), .recorded = R(3)},
	};
	replay *r = replay_start(steps, N(steps));
	rms_session *s = replay_session(r, NULL);
	assert_int_equal(rms_session_close(s), 0);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_CLOSED);
	rms_session_free(s);
	replay_finish(r);
#undef REC
}

static void test_with_input(void **state)
{
	(void)state;
#define REC "test_psrp_with_input.yml"
	static const step steps[] = {
	    OPEN_STEPS,
	    {.action = "Command",
	     .reply = R(3),
	     .recorded = R(3),
	     .drop = COMMAND_DROP,
	     .add = COMMAND_ADD,
	     .why = WHY_COMMAND},
	    {.action = "Send", .reply = R(4), .recorded = R(4)},
	    {.action = "Receive", .reply = R(5), .recorded = R(5)},
	    TERMINATE_STEP,
	    {.action = "Delete", .reply = R(6), .recorded = R(6)},
	};
	replay *r = replay_start(steps, N(steps));
	rms_session *s = replay_session(r, NULL);
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_POWERSHELL), 0);
	assert_int_equal(rms_request_set_script(req,
	                                        "begin {\n"
	                                        "                $DebugPreference = 'Continue'\n"
	                                        "                Write-Debug \"Start Block\"\n"
	                                        "            }\n"
	                                        "            process {\n"
	                                        "                $input\n"
	                                        "            }\n"
	                                        "            end {\n"
	                                        "                Write-Debug \"End Block\"\n"
	                                        "            }"),
	                 0);
	add_input(req, str("1"));
	add_input(req, i32(2));
	static const char *const ht[] = {"System.Collections.Hashtable", "System.Object", NULL};
	rms_psobject *h = pso(RMS_PS_COLLECTION_DICTIONARY, ht);
	assert_int_equal(rms_psobject_append_entry(h, str("a"), str("b")), 0);
	add_input(req, obj(h));
	static const char *const arr[] = {"System.Object[]", "System.Array", "System.Object", NULL};
	rms_psobject *l = pso(RMS_PS_COLLECTION_LIST, arr);
	assert_int_equal(rms_psobject_append(l, str("a")), 0);
	assert_int_equal(rms_psobject_append(l, str("b")), 0);
	add_input(req, obj(l));
	result res;
	invoke(s, req, &res);
	rms_request_free(req);
	assert_completed(&res);
	assert_item(&res, 0, RMS_PS_PROGRESS, "Preparing modules for first use.");
	assert_item(&res, 1, RMS_PS_DEBUG, "Start Block");
	assert_item(&res, 2, RMS_PS_OUTPUT, "\"1\"");
	assert_item(&res, 3, RMS_PS_OUTPUT, "2");
	assert_item(&res, 4, RMS_PS_OUTPUT, "{\"a\":\"b\"}");
	assert_item(&res, 5, RMS_PS_OUTPUT, "[\"a\",\"b\"]");
	assert_item(&res, 6, RMS_PS_DEBUG, "End Block");
	assert_int_equal(res.n, 7);
	result_free(&res);
	assert_int_equal(rms_session_close(s), 0);
	rms_session_free(s);
	replay_finish(r);
#undef REC
}

static rms_request *script_request(const char *script)
{
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_POWERSHELL), 0);
	assert_int_equal(rms_request_set_script(req, script), 0);
	return req;
}

/* $ErrorActionPreference = 'Stop' makes Write-Error terminating: "before"
 * comes out, then the pipeline fails with the error (pypsrp: state Failed,
 * output ["before"], one error "error"). */
static void test_error_failed(void **state)
{
	(void)state;
#define REC "test_psrp_error_failed.yml"
	static const step steps[] = {
	    OPEN_STEPS,
	    COMMAND_STEP(3),
	    {.action = "Receive", .reply = R(4), .recorded = R(4)},
	    TERMINATE_STEP,
	    {.action = "Delete", .reply = R(5), .recorded = R(5)},
	};
	replay *r = replay_start(steps, N(steps));
	rms_session *s = replay_session(r, NULL);
	rms_request *req = script_request(
	    "$ErrorActionPreference = 'Stop'; Write-Output before; Write-Error error; "
	    "Write-Output after");
	result res;
	invoke(s, req, &res);
	rms_request_free(req);
	assert_item(&res, 0, RMS_PS_PROGRESS, "Preparing modules for first use.");
	assert_item(&res, 1, RMS_PS_OUTPUT, "\"before\"");
	assert_int_equal(res.n, 2);
	assert_int_equal(res.rc, RMS_E_FAULT);
	assert_non_null(strstr(res.error, "error"));
	/* the ErrorRecord the pipeline failed with */
	assert_non_null(res.record);
	assert_string_equal(rms_ps_record_message(res.record), "error");
	const rms_psobject *o = NULL;
	assert_int_equal(rms_value_get_object(res.record, &o), 0);
	assert_string_equal(rms_psobject_type_name_at(o, 0),
	                    "System.Management.Automation.ErrorRecord");
	result_free(&res);
	/* the pool is usable after a failed pipeline */
	assert_int_equal(rms_session_state_get(s), RMS_STATE_OPENED);
	assert_int_equal(rms_session_close(s), 0);
	rms_session_free(s);
	replay_finish(r);
#undef REC
}

#define STREAMS_SCRIPT                                                                             \
	"$DebugPreference = 'Continue'\n"                                                          \
	"            $VerbosePreference = 'Continue'\n"                                            \
	"            Write-Debug 'debug stream'\n"                                                 \
	"            Write-Verbose 'verbose stream'\n"                                             \
	"            Write-Error 'error stream'\n"                                                 \
	"            Write-Output 'output stream'\n"                                               \
	"            Write-Warning 'warning stream'\n"                                             \
	"            Write-Information 'information stream'\n"                                     \
	"            "

/* Every stream once, in the order Windows wrote them; the pipeline
 * completes (a non-terminating error does not fail it). pypsrp: output
 * ["output stream"], one record on each other stream, the progress record
 * of type Completed. */
static void test_stream_output_invocation(void **state)
{
	(void)state;
#define REC "test_psrp_stream_output_invocation.yml"
	static const step steps[] = {
	    OPEN_STEPS,
	    COMMAND_STEP(3),
	    {.action = "Receive", .reply = R(4), .recorded = R(4)},
	    TERMINATE_STEP,
	    {.action = "Delete", .reply = R(5), .recorded = R(5)},
	};
	replay *r = replay_start(steps, N(steps));
	rms_session *s = replay_session(r, NULL);
	rms_request *req = script_request(STREAMS_SCRIPT);
	result res;
	invoke(s, req, &res);
	rms_request_free(req);
	assert_completed(&res);
	assert_item(&res, 0, RMS_PS_PROGRESS, "Preparing modules for first use.");
	assert_string_equal(psprop(res.v[0], "Type"), "Completed");
	assert_item(&res, 1, RMS_PS_DEBUG, "debug stream");
	assert_item(&res, 2, RMS_PS_VERBOSE, "verbose stream");
	assert_item(&res, 3, RMS_PS_ERROR, "error stream");
	assert_item(&res, 4, RMS_PS_OUTPUT, "\"output stream\"");
	assert_item(&res, 5, RMS_PS_WARNING, "warning stream");
	assert_item(&res, 6, RMS_PS_INFORMATION, "information stream");
	assert_string_equal(psprop(res.v[6], "Source"), "Write-Information");
	assert_int_equal(res.n, 7);
	result_free(&res);
	assert_int_equal(rms_session_close(s), 0);
	rms_session_free(s);
	replay_finish(r);
#undef REC
}

/* A protocol 2.3 server; errors merged into the output (2>&1) and input of
 * three objects. pypsrp: output [ErrorRecord "error", "message 1", 2,
 * ["3", 3]], two debug records, completed with no error stream. */
static void test_run_protocol_version_2_3(void **state)
{
	(void)state;
#define REC "test_psrp_run_protocol_version_2.3.yml"
	static const step steps[] = {
	    OPEN_STEPS,
	    COMMAND_STEP(3),
	    {.action = "Send", .reply = R(4), .recorded = R(4)},
	    {.action = "Receive", .reply = R(5), .recorded = R(5)},
	    TERMINATE_STEP,
	    {.action = "Delete", .reply = R(6), .recorded = R(6)},
	};
	replay *r = replay_start(steps, N(steps));
	rms_session *s = replay_session(r, NULL);
	rms_request *req = script_request("begin {\n"
	                                  "    $DebugPreference = 'Continue'\n"
	                                  "    Write-Debug \"Start Block\"\n"
	                                  "    Write-Error \"error\"\n"
	                                  "}\n"
	                                  "process {\n"
	                                  "    $input\n"
	                                  "}\n"
	                                  "end {\n"
	                                  "    Write-Debug \"End Block\"\n"
	                                  "}");
	assert_int_equal(rms_request_merge_errors(req), 0);
	add_input(req, str("message 1"));
	add_input(req, i32(2));
	static const char *const arr[] = {"System.Object[]", "System.Array", "System.Object", NULL};
	rms_psobject *l = pso(RMS_PS_COLLECTION_LIST, arr);
	assert_int_equal(rms_psobject_append(l, str("3")), 0);
	assert_int_equal(rms_psobject_append(l, i32(3)), 0);
	add_input(req, obj(l));
	result res;
	invoke(s, req, &res);
	rms_request_free(req);
	assert_completed(&res);
	assert_item(&res, 0, RMS_PS_PROGRESS, "Preparing modules for first use.");
	assert_item(&res, 1, RMS_PS_DEBUG, "Start Block");
	/* the merged error arrives as an output object: an ErrorRecord */
	assert_int_equal(res.st[2], RMS_PS_OUTPUT);
	assert_string_equal(rms_ps_record_message(res.v[2]), "error");
	const rms_psobject *o = NULL;
	assert_int_equal(rms_value_get_object(res.v[2], &o), 0);
	assert_string_equal(rms_psobject_type_name_at(o, 0),
	                    "System.Management.Automation.ErrorRecord");
	assert_item(&res, 3, RMS_PS_OUTPUT, "\"message 1\"");
	assert_item(&res, 4, RMS_PS_OUTPUT, "2");
	assert_item(&res, 5, RMS_PS_OUTPUT, "[\"3\",3]");
	assert_item(&res, 6, RMS_PS_DEBUG, "End Block");
	assert_int_equal(res.n, 7);
	result_free(&res);
	assert_int_equal(rms_session_close(s), 0);
	rms_session_free(s);
	replay_finish(r);
#undef REC
}

/* The script of test_psrp_small_msg_size: 30,000 "a"s in it. */
static char *big_script(void)
{
	char *a = malloc(30001);
	assert_non_null(a);
	memset(a, 'a', 30000);
	a[30000] = '\0';
	char *script = rms__asprintf("begin {\n"
	                             "    $big_var = '%s'\n"
	                             "} process {\n"
	                             "    $input\n"
	                             "} end {\n"
	                             "    $big_var[0..19999] -join \"\"\n"
	                             "    $big_var[20000..30000] -join \"\"\n"
	                             "}",
	                             a);
	free(a);
	return script;
}

/* pypsrp: output ["input", 20,000 "a"s, 10,000 "a"s]. */
static void run_small_msg_size(rms_session *s)
{
	char *script = big_script();
	rms_request *req = script_request(script);
	free(script);
	add_input(req, str("input"));
	result res;
	invoke(s, req, &res);
	rms_request_free(req);
	assert_completed(&res);
	assert_int_equal(res.n, 3);
	assert_item(&res, 0, RMS_PS_OUTPUT, "\"input\"");
	for (size_t i = 1; i < 3; i++) {
		const char *t = NULL;
		assert_int_equal(res.st[i], RMS_PS_OUTPUT);
		assert_int_equal(rms_value_get_string(res.v[i], &t), 0);
		assert_int_equal(strlen(t), i == 1 ? 20000 : 10000);
		assert_int_equal(strspn(t, "a"), strlen(t));
	}
	result_free(&res);
	assert_int_equal(rms_session_close(s), 0);
	rms_session_free(s);
}

/* A 32 KB MaxEnvelopeSize, learnt from the recording's own winrm/config
 * answer (MaxEnvelopeSizekb 32): CREATE_PIPELINE (over 32 KB) goes in the
 * Command and a Send, the input in another Send, as pypsrp sent them; the
 * output comes in two Receives. No request is over 32,768 bytes. */
static void test_small_msg_size(void **state)
{
	(void)state;
#define REC "test_psrp_small_msg_size.yml"
#undef OPEN_STEPS
#define OPEN_STEPS                                                                                 \
	{.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},                      \
	    {.action = "Get", .reply = R(0), .recorded = R(0)},                                    \
	    {.action = "Create", .reply = R(1), .recorded = R(1)},                                 \
	    {.action = "Receive", .reply = R(2), .recorded = R(2)},                                \
	{                                                                                          \
		.action = "Receive", .reply = R(3), .recorded = R(3)                               \
	}
/* CREATE_PIPELINE ends in the Send: its differences are named there. */
#define SMALL_REST                                                                                 \
	{.action = "Command",                                                                      \
	 .reply = R(4),                                                                            \
	 .recorded = R(4),                                                                         \
	 .drop = COMMAND_WS_DROP,                                                                  \
	 .add = COMMAND_WS_ADD,                                                                    \
	 .why = WHY_COMMAND},                                                                      \
	    {.action = "Send",                                                                     \
	     .reply = R(5),                                                                        \
	     .recorded = R(5),                                                                     \
	     .drop = PIPELINE_DROP,                                                                \
	     .add = PIPELINE_ADD,                                                                  \
	     .why = WHY_COMMAND},                                                                  \
	    {.action = "Send", .reply = R(6), .recorded = R(6)},                                   \
	    {.action = "Receive", .reply = R(7), .recorded = R(7)},                                \
	    {.action = "Receive", .reply = R(8), .recorded = R(8)}, TERMINATE_STEP,                \
	{                                                                                          \
		.action = "Delete", .reply = R(9), .recorded = R(9)                                \
	}
	static const step steps[] = {OPEN_STEPS, SMALL_REST};
	replay *r = replay_start(steps, N(steps));
	rms_session *s = replay_session(r, NULL);
	r->envelope = 32768; /* what the Get said */
	run_small_msg_size(s);
	replay_finish(r);
}

/* The same with the size given (max_envelope_size 32768): no Get. */
static void test_small_msg_size_given(void **state)
{
	(void)state;
#undef OPEN_STEPS
#define OPEN_STEPS                                                                                 \
	{.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},                      \
	    {.action = "Create", .reply = R(1), .recorded = R(1)},                                 \
	    {.action = "Receive", .reply = R(2), .recorded = R(2)},                                \
	{                                                                                          \
		.action = "Receive", .reply = R(3), .recorded = R(3)                               \
	}
	static const step steps[] = {OPEN_STEPS, SMALL_REST};
	replay *r = replay_start(steps, N(steps));
	rms_session_options o = replay_opts(r);
	o.max_envelope_size = 32768;
	rms_session *s = replay_session(r, &o);
	run_small_msg_size(s);
	replay_finish(r);
#undef REC
}

static rms_request *command_request(const char *command, const char *param, const char *value)
{
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_POWERSHELL), 0);
	assert_int_equal(rms_request_add_command(req, command), 0);
	rms_value *v = str(value);
	assert_int_equal(rms_request_add_parameter(req, param, v), 0);
	rms_value_free(v);
	return req;
}

/* A JEA endpoint (configuration JEARole: Get-Item and the WSMan provider
 * only, no language), taken through pssession.shell_uri. */
static void test_with_jea_configuration(void **state)
{
	(void)state;
#define REC "test_psrp_with_jea_configuration.yml"
	static const step steps[] = {
	    {.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},
	    {.action = "Create", .reply = R(0), .recorded = R(0)},
	    {.action = "Receive", .reply = R(1), .recorded = R(1)},
	    {.action = "Receive", .reply = R(2), .recorded = R(2)},
	    {.action = "Receive", .reply = R(3), .recorded = R(3)},
	    COMMAND_STEP(4),
	    {.action = "Receive", .reply = R(5), .recorded = R(5)},
	    TERMINATE_STEP,
	    /* pypsrp sent two statements: Cmds has the first, ExtraCmds both */
	    {.action = "Command",
	     .reply = R(6),
	     .recorded = R(6),
	     .drop = COMMAND_WS_DROP
	     "CREATE_PIPELINE $.RemoteStreamOptions I32=15\n"
	     "CREATE_PIPELINE $.PowerShell.ExtraCmds*\n"
	     "CREATE_PIPELINE $.PowerShell.RedirectShellErrorOutputPipe B=false\n",
	     .add = COMMAND_ADD,
	     .why = WHY_COMMAND "; remsess has no statements (PowerShell.AddStatement): it sends "
	                        "the first, Get-Item -Path C:\\Windows, and not the second"},
	    {.action = "Receive", .reply = R(7), .recorded = R(7)},
	    TERMINATE("cmd2"),
	    {.action = "Delete", .reply = R(8), .recorded = R(8)},
	};
	replay *r = replay_start(steps, N(steps));
	rms_session_options o = replay_opts(r);
	o.pssession.shell_uri = "http://schemas.microsoft.com/powershell/JEARole";
	rms_session *s = replay_session(r, &o);
	rms_request *req =
	    command_request("Get-Item", "Path", "WSMan:\\localhost\\Service\\AllowUnencrypted");
	result res;
	invoke(s, req, &res);
	rms_request_free(req);
	assert_completed(&res);
	assert_int_equal(res.n, 1);
	assert_int_equal(res.st[0], RMS_PS_OUTPUT);
	const rms_psobject *o1 = NULL;
	assert_int_equal(rms_value_get_object(res.v[0], &o1), 0);
	assert_string_equal(rms_psobject_to_string(o1),
	                    "Microsoft.WSMan.Management.WSManConfigLeafElement");
	/* the leaf element itself is the wrapped (base) object, with its
	 * adapted properties (pypsrp's property_sets[0]) */
	const rms_value *base = rms_psobject_base(o1);
	assert_non_null(base);
	assert_string_equal(psprop(base, "Value"), "true");
	assert_string_equal(psprop(base, "Name"), "AllowUnencrypted");
	assert_string_equal(psprop(res.v[0], "PSChildName"), "AllowUnencrypted");
	result_free(&res);

	/* pypsrp: no output, two errors: one record, and the one the pipeline
	 * failed with (no language mode refuses the script statement) */
	req = command_request("Get-Item", "Path", "C:\\Windows");
	invoke(s, req, &res);
	rms_request_free(req);
	assert_int_equal(res.n, 1);
	assert_item(&res, 0, RMS_PS_ERROR, "Cannot find a provider with the name 'FileSystem'.");
	assert_int_equal(res.rc, RMS_E_FAULT);
	assert_non_null(res.record);
	assert_string_equal(rms_ps_record_message(res.record),
	                    "The syntax is not supported by this runspace. This can occur if the "
	                    "runspace is in no-language mode.");
	result_free(&res);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_OPENED);
	assert_int_equal(rms_session_close(s), 0);
	rms_session_free(s);
	replay_finish(r);
#undef REC
}

/* pypsrp's statements (a SecureString variable read back, a string with
 * CJK characters, an escaped-looking "_x000A_", a line break and a
 * character outside the BMP, a native command, whoami, an integer and a
 * service object) after a session-key exchange. remsess exchanges no key
 * (protocol 2.4 deprecates it) and has no statements, so it sends no
 * PUBLIC_KEY and a pipeline of its own in the Command; Windows' answer is
 * replayed as recorded and must decode to what pypsrp's test expects, the
 * SecureString excepted (remsess has no key to decrypt it: it stays an
 * opaque SecureString). */
static void test_multiple_commands(void **state)
{
	(void)state;
#define REC "test_psrp_multiple_commands.yml"
#undef OPEN_STEPS
#define OPEN_STEPS                                                                                 \
	{.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},                      \
	    {.action = "Create", .reply = R(0), .recorded = R(0)},                                 \
	    {.action = "Receive", .reply = R(1), .recorded = R(1)},                                \
	{                                                                                          \
		.action = "Receive", .reply = R(2), .recorded = R(2)                               \
	}
	static const step steps[] = {
	    OPEN_STEPS,
	    /* R(3), R(4): pypsrp's PUBLIC_KEY and the ENCRYPTED_SESSION_KEY
	     * answer: remsess sends none */
	    {.action = "Command",
	     .reply = R(5),
	     .recorded = R(5),
	     .drop = COMMAND_WS_DROP "CREATE_PIPELINE $*\n",
	     .add = COMMAND_WS_ADD "CREATE_PIPELINE $*\n",
	     .why = "remsess has no statements and no SecureString parameter without a session "
	            "key: its CREATE_PIPELINE (one script) is compared for its type and ids only"},
	    {.action = "Receive", .reply = R(6), .recorded = R(6)},
	    TERMINATE_STEP,
	    {.action = "Delete", .reply = R(7), .recorded = R(7)},
	};
	replay *r = replay_start(steps, N(steps));
	rms_session *s = replay_session(r, NULL);
	rms_request *req =
	    script_request("$sec_string; 'abc' | ConvertTo-SecureString -AsPlainText "
	                   "-Force; $unicode_string; cmd.exe /c echo hi; whoami.exe; "
	                   "$integer; Get-Service -Name winrm");
	result res;
	invoke(s, req, &res);
	rms_request_free(req);
	assert_completed(&res);
	assert_int_equal(res.n, 7);
	assert_item(&res, 0, RMS_PS_OUTPUT, "\"Hello World\"");
	/* the SecureString: no key, so opaque */
	const rms_psobject *o = NULL;
	assert_int_equal(res.st[1], RMS_PS_OUTPUT);
	assert_int_equal(rms_value_get_object(res.v[1], &o), 0);
	assert_string_equal(rms_psobject_type_name_at(o, 0), "System.Security.SecureString");
	/* "_x000A_" written by the user stays as it is; U+10437 came as a
	 * surrogate pair */
	const char *t = NULL;
	assert_int_equal(rms_value_get_string(res.v[2], &t), 0);
	assert_string_equal(t, "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf"
	                       " - actual_x000A_string\nnewline: \xf0\x90\x90\xb7");
	assert_item(&res, 3, RMS_PS_OUTPUT, "\"hi\\\"\"");
	assert_item(&res, 4, RMS_PS_OUTPUT, "\"win-nnmu24vvkj0\\\\vagrant\"");
	assert_item(&res, 5, RMS_PS_OUTPUT, "123");
	/* Get-Service winrm: a deserialized service object */
	assert_int_equal(res.st[6], RMS_PS_OUTPUT);
	assert_int_equal(rms_value_get_object(res.v[6], &o), 0);
	assert_string_equal(rms_psobject_to_string(o), "winrm");
	assert_string_equal(psprop(res.v[6], "DisplayName"),
	                    "Windows Remote Management (WS-Management)");
	assert_string_equal(psprop(res.v[6], "ServiceName"), "winrm");
	assert_string_equal(psprop(res.v[6], "Name"), "winrm");
	unsigned flags = 0;
	bool name_extended = false, display_adapted = false;
	for (size_t i = 0; i < rms_psobject_count(o); i++) {
		const char *pn;
		const rms_value *pv;
		assert_int_equal(rms_psobject_at(o, i, &pn, &pv, &flags), 0);
		if (!strcmp(pn, "Name"))
			name_extended = (flags & RMS_PS_PROP_EXTENDED) != 0;
		if (!strcmp(pn, "DisplayName"))
			display_adapted = (flags & RMS_PS_PROP_ADAPTED) != 0;
	}
	assert_true(name_extended);   /* pypsrp: extended_properties["Name"] */
	assert_true(display_adapted); /* pypsrp: adapted_properties["DisplayName"] */
	result_free(&res);
	assert_int_equal(rms_session_close(s), 0);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_CLOSED);
	rms_session_free(s);
	replay_finish(r);
#undef REC
}

/* ---- is the shell alive (rms_session_check) --------------------------------- */

/* pypsrp opened the pool with idle_timeout=60 (the Create's IdleTimeOut);
 * remsess sends none in a PowerShell session's Create. */
#define ALIVE_OPEN_STEPS                                                                           \
	{.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},                      \
	    {.action = "Create",                                                                   \
	     .reply = R(0),                                                                        \
	     .recorded = R(0),                                                                     \
	     .drop = "shell IdleTimeOut=PT60S\n",                                                  \
	     .why = "remsess sends no IdleTimeOut in a PowerShell shell's Create "                 \
	            "(pssession.idle_timeout_ms is a WinRS setting); the server's default"},       \
	    {.action = "Receive", .reply = R(1), .recorded = R(1)},                                \
	{                                                                                          \
		.action = "Receive", .reply = R(2), .recorded = R(2)                               \
	}
/* pypsrp's RunspacePool.is_alive: a WS-Man Get of the generic shell
 * resource with the ShellId selector, no body. The recorded request is
 * compared as every other (action, ResourceURI, the ShellId selector naming
 * the client's own shell, no options, an empty body). */
#define ALIVE_GET(i)                                                                               \
	{                                                                                          \
		.action = "Get", .reply = R(i), .recorded = R(i)                                   \
	}

/* The client's shell id (its Create's ShellId). */
static const char *client_shell(const replay *r)
{
	assert_true(r->nids >= 1);
	return r->ids[0].cli;
}

/* The length of an interval property, in milliseconds. */
static uint64_t interval_ms(const rms_instance *info, const char *name)
{
	const rms_value *v = rms_instance_get(info, name);
	if (!v)
		fail_msg("the Shell record has no %s", name);
	if (rms_value_type(v) != RMS_TYPE_DATETIME)
		fail_msg("%s is of type %d, not a datetime", name, (int)rms_value_type(v));
	rms_datetime dt;
	assert_int_equal(rms_value_get_datetime(v, &dt), 0);
	assert_true(dt.is_interval);
	return (((uint64_t)dt.days * 24 + (uint64_t)dt.hour) * 60 + (uint64_t)dt.minute) * 60000 +
	       (uint64_t)dt.second * 1000 + dt.nanoseconds / 1000000;
}

static const char *shell_text(const rms_instance *info, const char *name)
{
	const rms_value *v = rms_instance_get(info, name);
	const char *t = NULL;
	if (!v || rms_value_type(v) != RMS_TYPE_STRING || rms_value_get_string(v, &t) || !t)
		fail_msg("the Shell record's %s is not a string", name);
	return t;
}

static uint32_t shell_u32(const rms_instance *info, const char *name)
{
	const rms_value *v = rms_instance_get(info, name);
	uint32_t n = 0;
	if (!v || rms_value_type(v) != RMS_TYPE_UINT32 || rms_value_get_uint32(v, &n))
		fail_msg("the Shell record's %s is not a uint32", name);
	return n;
}

/* rsp:Shell as Windows answered it, decoded: the ids are the client's,
 * counts are numbers, times are intervals, the rest text. */
static void assert_shell(const replay *r, const rms_instance *info, const char *state, uint32_t pid,
                         uint64_t run_time_s)
{
	assert_non_null(info);
	assert_string_equal(rms_instance_class_name(info), "Shell");
	assert_string_equal(shell_text(info, "State"), state);
	if (strcasecmp(shell_text(info, "ShellId"), client_shell(r)) != 0)
		fail_msg("ShellId %s, the client's shell is %s", shell_text(info, "ShellId"),
		         client_shell(r));
	assert_string_equal(shell_text(info, "ResourceUri"),
	                    "http://schemas.microsoft.com/powershell/Microsoft.PowerShell");
	assert_string_equal(shell_text(info, "Owner"), "vagrant");
	assert_string_equal(shell_text(info, "ClientIP"), "fdc3:d46:8e06:cfa8:f075:80ff:fe33:2fc8");
	assert_string_equal(shell_text(info, "InputStreams"), "stdin pr");
	assert_string_equal(shell_text(info, "BufferMode"), "Block");
	assert_int_equal(shell_u32(info, "ProcessId"), pid);
	assert_int_equal(shell_u32(info, "ChildProcesses"), 0);
	assert_int_equal(interval_ms(info, "IdleTimeOut"), 60000);
	assert_int_equal(interval_ms(info, "MaxIdleTimeOut"), 2147483647);
	assert_int_equal(interval_ms(info, "ShellRunTime"), run_time_s * 1000);
	assert_int_equal(interval_ms(info, "ShellInactivity"), run_time_s * 1000);
}

/* The first check: the shell is Connected, asked over the connection the
 * session already has. */
static void check_connected(replay *r, rms_session *s, uint32_t pid)
{
	unsigned conns = rms_httpd_connections(r->d);
	rms_instance *info = NULL;
	if (rms_session_check(s, &info))
		fail_msg("check: %s", rms_error_message(rms_error_last()));
	assert_shell(r, info, "Connected", pid, 0);
	rms_instance_free(info);
	assert_int_equal(rms_httpd_connections(r->d), conns);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_OPENED);
}

/* The requests the down server read, as "Action Action ..." (last URI
 * segments). */
static char *down_actions(replay *r)
{
	rms_buf b;
	rms__buf_init(&b);
	rms__buf_puts(&b, "");
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->ndown; i++) {
		conv c = {.plain_guids = false};
		facts f;
		get_facts(&c, &f, r->down[i]);
		rms__buf_printf(&b, "%s%s", i ? " " : "", f.action);
		rms__buf_free(&f.lines);
		conv_free(&c);
	}
	pthread_mutex_unlock(&r->mu);
	return rms__buf_take(&b);
}

/* pypsrp: is_alive True, then (the recording's second Get answered with the
 * shell in State Disconnected: the server's idle timeout, 60 s, had passed
 * with no client) False. remsess: 0, then RMS_E_STATE with the record. */
static void test_is_alive_state_disconnected(void **state)
{
	(void)state;
#define REC "test_psrp_is_alive_state_disconnected.yml"
	static const step steps[] = {
	    ALIVE_OPEN_STEPS,
	    ALIVE_GET(3),
	    ALIVE_GET(4),
	    {.action = "Delete",
	     .reply = DELETE_REPLY,
	     .why = WHY_DELETE_DISCONNECTED,
	     .expect = "action http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete\n"
	               "resource http://schemas.microsoft.com/powershell/Microsoft.PowerShell\n"
	               "selector ShellId=shell\n"},
	};
	replay *r = replay_start(steps, N(steps));
	rms_session *s = replay_session(r, NULL);
	check_connected(r, s, 2852);
	rms_instance *info = NULL;
	assert_int_equal(rms_session_check(s, &info), RMS_E_STATE);
	assert_int_equal(rms_error_code(rms_error_last()), RMS_E_STATE);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "Disconnected"));
	assert_shell(r, info, "Disconnected", 2852, 62);
	rms_instance_free(info);
	/* the shell is still on the server: the session is not Broken, and
	 * its close deletes the shell */
	assert_int_equal(rms_session_state_get(s), RMS_STATE_OPENED);
	assert_int_equal(rms_session_close(s), 0);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_CLOSED);
	rms_session_free(s);
	replay_finish(r);
#undef REC
}

/* pypsrp: is_alive True, then False on the fault w:InvalidSelectors
 * (ERROR_WSMAN_UNEXPECTED_SELECTORS, 0x8033805B): the server reaped the
 * shell. remsess: 0, then RMS_E_GONE, the session Broken, and its close
 * sends nothing (the recording ends with the second Get). */
static void test_is_alive_invalid_selectors(void **state)
{
	(void)state;
#define REC "test_psrp_is_alive_invalid_selectors.yml"
	static const step steps[] = {ALIVE_OPEN_STEPS, ALIVE_GET(3), ALIVE_GET(4)};
	replay *r = replay_start(steps, N(steps));
	rms_session *s = replay_session(r, NULL);
	check_connected(r, s, 4384);
	rms_instance *info = NULL;
	assert_int_equal(rms_session_check(s, &info), RMS_E_GONE);
	assert_null(info);
	const rms_error *e = rms_error_last();
	assert_int_equal(rms_error_code(e), RMS_E_GONE);
	assert_int_equal(rms_error_wsman_code(e), 2150858843u);
	assert_string_equal(rms_error_fault_subcode(e), "w:InvalidSelectors");
	assert_int_equal(rms_error_http_status(e), 500);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_BROKEN);
	const rms_error *why = rms_session_broken_reason(s);
	assert_int_equal(rms_error_code(why), RMS_E_GONE);
	assert_int_equal(rms_error_wsman_code(why), 2150858843u);
	/* a Broken session is not asked again */
	assert_int_equal(rms_session_check(s, &info), RMS_E_STATE);
	assert_null(info);
	/* The pool ended with the shell: the close has nothing to wait for. */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(rms_session_close(s), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9 < 2.0);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_CLOSED);
	rms_session_free(s);
	replay_finish(r); /* no request after the second Get: no Delete */
#undef REC
}

/* pypsrp: is_alive True, then False: its fake transport raised requests'
 * ConnectionError for the second Get (response None, http_error: the test
 * stands for the WinRM service stopped meanwhile). Here the server reads
 * that Get and closes the connection without a byte, and stays down. */
static void test_is_alive_http_error(void **state)
{
	(void)state;
#define REC "test_psrp_is_alive_http_error.yml"
	static const step steps[] = {
	    ALIVE_OPEN_STEPS,
	    ALIVE_GET(3),
	    {.action = "Get", .recorded = R(4), .hang_up = true},
	};
	replay *r = replay_start(steps, N(steps));
	rms_session *s = replay_session(r, NULL);
	check_connected(r, s, 6888);
	rms_instance *info = NULL;
	assert_int_equal(rms_session_check(s, &info), RMS_E_CONNECTION_LOST);
	assert_null(info);
	const rms_error *e = rms_error_last();
	assert_int_equal(rms_error_code(e), RMS_E_CONNECTION_LOST);
	assert_int_equal(rms_error_phase(e), RMS_PHASE_RECEIVE);
	assert_int_equal(rms_error_backend(e), RMS_BACKEND_PSSESSION);
	/* a lost connection breaks the session, as a pipeline's would */
	assert_int_equal(rms_session_state_get(s), RMS_STATE_BROKEN);
	assert_int_equal(rms_error_code(rms_session_broken_reason(s)), RMS_E_CONNECTION_LOST);
	/* The Get went out once more, by libcurl (a request on a kept-alive
	 * connection that closed without a byte is sent again on a new one,
	 * the same bytes): not a second check. */
	char *down = down_actions(r);
	assert_string_equal(down, "Get");
	free(down);
	pthread_mutex_lock(&r->mu);
	assert_int_equal(r->nsent, N(steps));
	assert_string_equal(r->down[0], r->sent[N(steps) - 1]);
	pthread_mutex_unlock(&r->mu);
	assert_int_equal(rms_session_check(s, &info), RMS_E_STATE);
	/* The pool ended with the connection: the close sends nothing more
	 * to the server that is down (no Delete). */
	assert_int_equal(rms_session_close(s), 0);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_CLOSED);
	rms_session_free(s);
	pthread_mutex_lock(&r->mu);
	assert_int_equal(r->nsent, N(steps));
	pthread_mutex_unlock(&r->mu);
	down = down_actions(r);
	assert_string_equal(down, "Get");
	free(down);
	replay_finish(r);
#undef REC
}

/* ---- disconnect, reconnect, connect -------------------------------------------- */

#define WHY_NO_RECONNECT "a connected remsess session is Opened: its close is the Delete alone"

/* The options of every session of these replays (see the header). */
static rms_session_options disconnect_opts(replay *r)
{
	rms_session_options o = replay_opts(r);
	o.max_envelope_size = 512000;
	r->envelope = 512000;
	r->learning = false;
	return o;
}

static rms_session *disconnect_session(replay *r, const char *connect_to)
{
	rms_session_options o = disconnect_opts(r);
	rms_session *s = NULL;
	int rc = connect_to ? rms_session_connect(&s, &o, connect_to)
	                    : rms_session_new(&s, RMS_BACKEND_PSSESSION, &o);
	if (rc)
		fail_msg("%s: %s", connect_to ? "connect" : "session",
		         rms_error_message(rms_error_last()));
	assert_int_equal(rms_session_state_get(s), RMS_STATE_OPENED);
	return s;
}

/* The commands of shell as a CIM session lists them: none, or one running
 * (whose id goes to cmd). */
static void list_commands(replay *r, const char *shell, char *cmd)
{
	rms_session_options o = disconnect_opts(r);
	rms_session *cim = NULL;
	assert_int_equal(rms_session_new(&cim, RMS_BACKEND_CIM, &o), 0);
	rms_instance **list = NULL;
	size_t n = 0;
	if (rms_session_shell_commands(cim, shell, &list, &n))
		fail_msg("commands: %s", rms_error_message(rms_error_last()));
	assert_int_equal(n, cmd ? 1 : 0);
	for (size_t i = 0; i < n; i++) {
		snprintf(cmd, 40, "%s", shell_text(list[i], "CommandId"));
		assert_string_equal(shell_text(list[i], "CommandState"), "Running");
		assert_string_equal(rms_instance_class_name(list[i]), "Command");
		rms_instance_free(list[i]);
	}
	rms_free(list);
	rms_session_free(cim);
}

/* The user's shells as a CIM session lists them: the State of each of the
 * two ids, in order. */
static void assert_listed(replay *r, const char *a, const char *b, const char *state)
{
	rms_session_options o = disconnect_opts(r);
	rms_session *cim = NULL;
	assert_int_equal(rms_session_new(&cim, RMS_BACKEND_CIM, &o), 0);
	rms_instance **list = NULL;
	size_t n = 0;
	if (rms_session_shells(cim, &list, &n))
		fail_msg("shells: %s", rms_error_message(rms_error_last()));
	assert_int_equal(n, 2);
	const char *ids[2] = {a, b};
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(shell_text(list[i], "ShellId"), ids[i]);
		assert_string_equal(shell_text(list[i], "State"), state);
		assert_string_equal(shell_text(list[i], "BufferMode"), "Block");
		rms_instance_free(list[i]);
	}
	rms_free(list);
	rms_session_free(cim);
}

#define CONNECT_STEPS(i)                                                                           \
	{.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},                      \
	{                                                                                          \
		.action = "Connect", .reply = R(i), .recorded = R(i)                               \
	}

static void test_disconnect_runspaces(void **state)
{
	(void)state;
#define REC "test_psrp_disconnect_runspaces.yml"
	static const step steps[] = {
	    OPEN_STEPS,
	    {.action = "Receive", .reply = R(3), .recorded = R(3)},
	    {.action = "Disconnect", .reply = R(4), .recorded = R(4)},
	    {.action = "Reconnect", .reply = R(5), .recorded = R(5)},
	    {.action = "Disconnect", .reply = R(6), .recorded = R(6)},
	    {.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},
	    {.action = "Create", .reply = R(7), .recorded = R(7)},
	    {.action = "Receive", .reply = R(8), .recorded = R(8)},
	    {.action = "Receive", .reply = R(9), .recorded = R(9)},
	    {.action = "Disconnect", .reply = R(10), .recorded = R(10)},
	    {.action = "Enumerate", .reply = R(11), .recorded = R(11)},
	    {.action = "Enumerate", .reply = R(12), .recorded = R(12)},
	    {.action = "Enumerate", .reply = R(13), .recorded = R(13)},
	    CONNECT_STEPS(14),
	    {.action = "Receive", .reply = R(15), .recorded = R(15)},
	    CONNECT_STEPS(16),
	    {.action = "Receive", .reply = R(17), .recorded = R(17)},
	    {.action = "Delete", .reply = R(18), .recorded = R(18)},
	    {.action = "Delete", .reply = R(19), .recorded = R(19)},
	};
	replay *r = replay_start(steps, N(steps));
	rms_session *s1 = disconnect_session(r, NULL);
	char a[40], b[40];
	snprintf(a, sizeof a, "%s", rms_session_shell_id(s1));
	assert_int_equal(rms_session_disconnect(s1, 0), 0);
	assert_int_equal(rms_session_state_get(s1), RMS_STATE_DISCONNECTED);
	assert_int_equal(rms_session_reconnect(s1), 0);
	assert_int_equal(rms_session_state_get(s1), RMS_STATE_OPENED);
	assert_int_equal(rms_session_disconnect(s1, 0), 0);
	rms_session *s2 = disconnect_session(r, NULL);
	snprintf(b, sizeof b, "%s", rms_session_shell_id(s2));
	assert_int_equal(rms_session_disconnect(s2, 0), 0);
	/* Both processes end: their shells stay. */
	rms_session_free(s1);
	rms_session_free(s2);
	assert_listed(r, a, b, "Disconnected");
	list_commands(r, a, NULL);
	list_commands(r, b, NULL);
	rms_session *s3 = disconnect_session(r, a);
	assert_string_equal(rms_session_shell_id(s3), a);
	rms_session *s4 = disconnect_session(r, b);
	assert_int_equal(rms_session_close(s3), 0);
	assert_int_equal(rms_session_close(s4), 0);
	rms_session_free(s3);
	rms_session_free(s4);
	replay_finish(r);
#undef REC
}

#define DISCONNECTED_SCRIPT "Write-Output 'a'; Start-Sleep -Seconds 5; Write-Output 'b'"

/* A pipeline started and left running, and its session disconnected. */
static rms_session *start_and_leave(replay *r, char shell[40], char cmd[40])
{
	rms_session *s = disconnect_session(r, NULL);
	rms_request *req = script_request(DISCONNECTED_SCRIPT);
	rms_op *op = NULL;
	assert_int_equal(rms_op_start(&op, s, req), 0);
	rms_request_free(req);
	snprintf(shell, 40, "%s", rms_session_shell_id(s));
	snprintf(cmd, 40, "%s", rms_op_command_id(op));
	assert_int_equal(rms_session_disconnect(s, 0), 0);
	rms_op_free(op); /* nothing is sent for it while disconnected */
	return s;
}

/* Connect to shell and read its pipeline cmd: what it wrote while nobody
 * was connected, then its end. */
static rms_session *connect_and_read(replay *r, const char *shell, const char *cmd)
{
	rms_session *s = disconnect_session(r, shell);
	rms_op *op = NULL;
	if (rms_session_receive(&op, s, cmd))
		fail_msg("receive: %s", rms_error_message(rms_error_last()));
	result res;
	memset(&res, 0, sizeof res);
	rms_ps_stream st;
	rms_value *v;
	while ((res.rc = rms_op_next_object(op, &st, &v)) == 0 && res.n < MAX_ITEMS) {
		res.st[res.n] = st;
		res.v[res.n++] = v;
	}
	assert_int_equal(res.rc, RMS_ITEROVER);
	assert_item(&res, 0, RMS_PS_PROGRESS, "Preparing modules for first use.");
	assert_item(&res, 1, RMS_PS_OUTPUT, "\"a\"");
	assert_item(&res, 2, RMS_PS_OUTPUT, "\"b\"");
	assert_int_equal(res.n, 3);
	result_free(&res);
	rms_op_free(op);
	return s;
}

#define TERMINATE_IN(shell, cmd)                                                                   \
	{                                                                                          \
		.action = "Signal", .reply = SIGNAL_REPLY, .why = WHY_TERMINATE,                   \
		.expect = "selector ShellId=" shell "\n"                                           \
		          "signal http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/" \
		          "terminate CommandId=" cmd "\n"                                          \
	}

static void test_disconnected_commands(void **state)
{
	(void)state;
#define REC "test_psrp_disconnected_commands.yml"
	static const step steps[] = {
	    OPEN_STEPS,
	    COMMAND_STEP(3),
	    {.action = "Disconnect", .reply = R(4), .recorded = R(4)},
	    {.action = "Identify", .reply = IDENTIFY_REPLY, .why = WHY_IDENTIFY},
	    {.action = "Create", .reply = R(5), .recorded = R(5)},
	    {.action = "Receive", .reply = R(6), .recorded = R(6)},
	    {.action = "Receive", .reply = R(7), .recorded = R(7)},
	    COMMAND_STEP(8),
	    {.action = "Disconnect", .reply = R(9), .recorded = R(9)},
	    {.action = "Enumerate", .reply = R(10), .recorded = R(10)},
	    {.action = "Enumerate", .reply = R(11), .recorded = R(11)},
	    {.action = "Enumerate", .reply = R(12), .recorded = R(12)},
	    CONNECT_STEPS(13),
	    {.action = "Receive", .reply = R(14), .recorded = R(14)},
	    {.action = "Connect", .reply = R(15), .recorded = R(15)},
	    {.action = "Receive", .reply = R(16), .recorded = R(16)},
	    {.action = "Receive", .reply = R(17), .recorded = R(17)},
	    TERMINATE_IN("shell2", "cmd2"),
	    CONNECT_STEPS(18),
	    {.action = "Receive", .reply = R(19), .recorded = R(19)},
	    {.action = "Connect", .reply = R(20), .recorded = R(20)},
	    {.action = "Receive", .reply = R(21), .recorded = R(21)},
	    {.action = "Receive", .reply = R(22), .recorded = R(22)},
	    TERMINATE_IN("shell", "cmd1"),
	    /* (23, 25: WHY_NO_RECONNECT) */
	    {.action = "Delete", .reply = R(24), .recorded = R(24)},
	    {.action = "Delete", .reply = R(26), .recorded = R(26)},
	};
	replay *r = replay_start(steps, N(steps));
	char a[40], b[40], ca[40], cb[40];
	rms_session *s1 = start_and_leave(r, a, ca);
	rms_session *s2 = start_and_leave(r, b, cb);
	rms_session_free(s1);
	rms_session_free(s2);
	/* Windows lists them newest first; each with the pipeline left running
	 * (the ids a new client reads, as the first clients knew them). */
	assert_listed(r, b, a, "Disconnected");
	char lb[40], la[40];
	list_commands(r, b, lb);
	list_commands(r, a, la);
	assert_string_equal(lb, cb);
	assert_string_equal(la, ca);
	rms_session *s3 = connect_and_read(r, b, lb);
	rms_session *s4 = connect_and_read(r, a, la);
	assert_int_equal(rms_session_close(s3), 0);
	assert_int_equal(rms_session_close(s4), 0);
	rms_session_free(s3);
	rms_session_free(s4);
	replay_finish(r);
#undef REC
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open_runspace),
	    cmocka_unit_test(test_multiple_commands),
	    cmocka_unit_test(test_with_input),
	    cmocka_unit_test(test_error_failed),
	    cmocka_unit_test(test_stream_output_invocation),
	    cmocka_unit_test(test_run_protocol_version_2_3),
	    cmocka_unit_test(test_small_msg_size),
	    cmocka_unit_test(test_small_msg_size_given),
	    cmocka_unit_test(test_with_jea_configuration),
	    cmocka_unit_test(test_is_alive_state_disconnected),
	    cmocka_unit_test(test_is_alive_invalid_selectors),
	    cmocka_unit_test(test_is_alive_http_error),
	    cmocka_unit_test(test_disconnect_runspaces),
	    cmocka_unit_test(test_disconnected_commands),
	};
	rms_global_init();
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rms_global_cleanup();
	return rc;
}
