/*
 * CLIXML (psremote/clixml.c): decoding every message recorded by pypsrp
 * against Windows PowerShell 5.1 (RMS_FIXTURES_DIR/jborean93-pypsrp/decoded,
 * the line after each "Destination=" line) and its Export-Clixml samples
 * (jborean93-pypsrp/clixml), round trips of every value type through the
 * writer, hostile input, speed on large documents, and both directions
 * against a real PowerShell (pwsh 7.6.10: $RMS_PWSH, ~/.dotnet/tools/pwsh or
 * pwsh on PATH; skipped when none is installed).
 */
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "psremote/clixml.h"
#include "error_internal.h"
#include "fixture.h"
#include "remsess/error.h"
#include "remsess/value.h"
#include "util.h"
#include "value_internal.h"

#define WHAT "the test message"

/* ---- helpers -------------------------------------------------------------- */

static rms_value *decode_len(const char *xml, size_t len)
{
	rms_value *v = NULL;
	int rc = rms__clixml_decode(&v, xml, len, NULL, WHAT);
	if (rc)
		fail_msg("decoding %.200s failed: %s", xml, rms_error_message(rms_error_last()));
	assert_non_null(v);
	return v;
}

static rms_value *decode(const char *xml)
{
	return decode_len(xml, strlen(xml));
}

/* Decoding fails with RMS_E_PROTOCOL in the decode phase, naming the
 * document and containing each of the NULL-terminated needles. */
static void expect_error_lim(const char *xml, size_t len, const rms_clixml_limits *lim, ...)
{
	rms_value *v = NULL;
	int rc = rms__clixml_decode(&v, xml, len, lim, WHAT);
	if (rc == 0) {
		char *t = NULL;
		rms_value_to_text(&t, v);
		fail_msg("decoding %.120s succeeded (%s); expected an error", xml, t ? t : "?");
	}
	assert_null(v);
	const rms_error *e = rms_error_last();
	assert_int_equal(rc, RMS_E_PROTOCOL);
	assert_int_equal(rms_error_code(e), RMS_E_PROTOCOL);
	assert_int_equal(rms_error_phase(e), RMS_PHASE_DECODE);
	const char *msg = rms_error_message(e);
	if (!strstr(msg, WHAT))
		fail_msg("error \"%s\" does not name the document", msg);
	va_list ap;
	va_start(ap, lim);
	for (const char *needle; (needle = va_arg(ap, const char *));)
		if (!strstr(msg, needle))
			fail_msg("error \"%s\" lacks \"%s\"", msg, needle);
	va_end(ap);
}

#define expect_error(xml, ...) expect_error_lim((xml), strlen(xml), NULL, __VA_ARGS__, NULL)

static char *encode(const rms_value *v)
{
	rms_buf b;
	rms__buf_init(&b);
	int rc = rms__clixml_encode(&b, v);
	if (rc)
		fail_msg("encoding failed: %s", rms_error_message(rms_error_last()));
	rms__buf_append(&b, "", 0);
	return rms__buf_take(&b);
}

static void assert_roundtrip(const rms_value *v)
{
	char *xml = encode(v);
	rms_value *back = decode(xml);
	if (!rms_value_equal(v, back)) {
		char *a = NULL, *b = NULL;
		rms_value_to_json(&a, v);
		rms_value_to_json(&b, back);
		fail_msg("round trip changed the value:\n  in:  %s\n  xml: %s\n  out: %s", a, xml, b);
	}
	rms_value_free(back);
	free(xml);
}

static const rms_psobject *obj_of(const rms_value *v)
{
	const rms_psobject *o = NULL;
	assert_non_null(v);
	if (rms_value_get_object(v, &o) != 0)
		fail_msg("value of type %s is not an object", rms_type_name(rms_value_type(v)));
	return o;
}

/* The value of a dictionary entry whose key is the string k. */
static const rms_value *dict_get(const rms_value *v, const char *k)
{
	const rms_psobject *o = obj_of(v);
	assert_int_equal(rms_psobject_collection(o), RMS_PS_COLLECTION_DICTIONARY);
	for (size_t i = 0; i < rms_psobject_length(o); i++) {
		const rms_value *key, *val;
		const char *s;
		assert_int_equal(rms_psobject_item_at(o, i, &key, &val), 0);
		if (rms_value_get_string(key, &s) == 0 && strcmp(s, k) == 0)
			return val;
	}
	fail_msg("no key %s", k);
	return NULL;
}

static const char *text_of(const rms_value *v)
{
	const char *s = NULL;
	if (rms_value_get_text(v, &s) != 0)
		fail_msg("value of type %s has no text", rms_type_name(rms_value_type(v)));
	return s;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* Timing checks mean nothing under valgrind (it preloads vgpreload_*) or
 * the sanitizers. */
static bool timing_meaningful(void)
{
	const char *p = getenv("LD_PRELOAD");
	return !SANITIZED && !(p && strstr(p, "vgpreload"));
}

/* ---- recorded traffic (pypsrp, Windows PowerShell 5.1) ---------------------- */

typedef struct msg_cb_state {
	size_t decoded;
	size_t reencoded;
	size_t secure; /* holding a SecureString (kept opaque) */
} msg_cb_state;

/* Every message body of one decoded conversation: decoded, then written
 * back and decoded again to an equal value. */
static void decode_conversation(const char *file, msg_cb_state *st)
{
	char rel[512];
	snprintf(rel, sizeof rel, "jborean93-pypsrp/decoded/%s", file);
	char *all = rms_fixture(rel, NULL);
	int line = 1;
	for (char *p = all; *p;) {
		char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		bool dest = strncmp(p, "Destination=", 12) == 0;
		p += n + (eol ? 1 : 0);
		line++;
		if (!dest || !*p)
			continue;
		eol = strchr(p, '\n');
		n = eol ? (size_t)(eol - p) : strlen(p);
		if (n == 0) /* a message without a body (END_OF_PIPELINE_INPUT) */
			continue;
		rms_value *v = NULL;
		char what[600];
		snprintf(what, sizeof what, "%s line %d", file, line);
		char *body = rms__strndup(p, n);
		bool secure = strstr(body, "<SS") != NULL;
		free(body);
		int rc = rms__clixml_decode(&v, p, n, NULL, what);
		/* A SecureString (a host prompt's answer, a PSCredential) is
		 * encrypted with the session key: it becomes an opaque
		 * SecureString object, and the rest of the message is kept. */
		if (secure)
			st->secure++;
		if (rc)
			fail_msg("%s", rms_error_message(rms_error_last()));
		st->decoded++;
		char *xml = encode(v);
		rms_value *back = NULL;
		if (rms__clixml_decode(&back, xml, strlen(xml), NULL, what))
			fail_msg("re-encoded %s: %s", what, rms_error_message(rms_error_last()));
		if (!rms_value_equal(v, back))
			fail_msg("%s: re-encoding changed the value", what);
		st->reencoded++;
		rms_value_free(back);
		rms_value_free(v);
		free(xml);
	}
	free(all);
}

/* A SecureString cannot be read without the session key: an opaque object
 * in its place, the object holding it kept (a PSCredential's UserName). */
static void test_securestring_is_opaque(void **state)
{
	(void)state;
	const char *xml = "<Obj RefId=\"0\"><TN RefId=\"0\"><T>System.Management.Automation."
	                  "PSCredential</T><T>System.Object</T></TN><Props><S N=\"UserName\">bob"
	                  "</S><SS N=\"Password\">AQIDBA==</SS></Props></Obj>";
	rms_value *v = NULL;
	assert_int_equal(rms__clixml_decode(&v, xml, strlen(xml), NULL, "test"), 0);
	const rms_psobject *o = NULL;
	assert_int_equal(rms_value_get_object(v, &o), 0);
	const char *user = NULL;
	assert_int_equal(rms_value_get_text(rms_psobject_get(o, "UserName"), &user), 0);
	assert_string_equal(user, "bob");
	const rms_psobject *pw = NULL;
	assert_int_equal(rms_value_get_object(rms_psobject_get(o, "Password"), &pw), 0);
	assert_string_equal(rms_psobject_type_name_at(pw, 0), "System.Security.SecureString");
	assert_string_equal(rms_psobject_to_string(pw), "System.Security.SecureString");
	assert_int_equal(rms_psobject_count(pw), 0);
	rms_value_free(v);
}

static void test_every_recorded_pypsrp_message_decodes(void **state)
{
	(void)state;
	char dir[1024];
	snprintf(dir, sizeof dir, "%s/jborean93-pypsrp/decoded", RMS_FIXTURES_DIR);
	DIR *d = opendir(dir);
	if (!d)
		fail_msg("cannot open %s", dir);
	msg_cb_state st = {0};
	size_t files = 0;
	for (struct dirent *e; (e = readdir(d));) {
		size_t n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 4, ".txt") != 0)
			continue;
		decode_conversation(e->d_name, &st);
		files++;
	}
	closedir(d);
	assert_true(files >= 30);
	/* 40 conversations, 569 messages with a body when this was written. */
	print_message("%zu messages decoded and re-encoded, %zu of them with a SecureString\n",
	              st.decoded, st.secure);
	assert_true(st.decoded >= 500);
	assert_int_equal(st.reencoded, st.decoded);
	assert_int_equal(st.secure, 6);
}

/* The body of the first message of type `type` in a decoded conversation. */
static char *recorded_message(const char *file, const char *type)
{
	char rel[512];
	snprintf(rel, sizeof rel, "jborean93-pypsrp/decoded/%s", file);
	char *all = rms_fixture(rel, NULL);
	char needle[128];
	snprintf(needle, sizeof needle, " %s ", type);
	for (char *p = all; (p = strstr(p, "Destination="));) {
		char *eol = strchr(p, '\n');
		if (!eol)
			break;
		char *line = rms__strndup(p, (size_t)(eol - p));
		bool match = strstr(line, needle) != NULL;
		free(line);
		p = eol + 1;
		if (match) {
			char *body = rms__strndup(p, strcspn(p, "\n"));
			free(all);
			return body;
		}
	}
	free(all);
	fail_msg("%s has no %s message", file, type);
	return NULL;
}

static void test_application_private_data_has_psversion_5_1(void **state)
{
	(void)state;
	char *xml = recorded_message("test_psrp_multiple_commands.txt", "APPLICATION_PRIVATE_DATA");
	rms_value *v = decode(xml);
	const rms_value *apd = rms_psobject_get(obj_of(v), "ApplicationPrivateData");
	assert_non_null(apd);
	const rms_psobject *apdo = obj_of(apd);
	assert_string_equal(rms_psobject_type_name_at(apdo, 0),
	                    "System.Management.Automation.PSPrimitiveDictionary");
	const rms_value *table = dict_get(apd, "PSVersionTable");
	/* <TNRef RefId="0" /> gave the nested table the same type names. */
	assert_int_equal(rms_psobject_type_name_count(obj_of(table)), 3);
	assert_string_equal(rms_psobject_type_name_at(obj_of(table), 1),
	                    "System.Collections.Hashtable");
	const rms_value *ver = dict_get(table, "PSVersion");
	assert_int_equal(rms_value_type(ver), RMS_TYPE_VERSION);
	assert_string_equal(text_of(ver), "5.1.14393.2248");
	assert_string_equal(text_of(dict_get(table, "PSEdition")), "Desktop");
	const rms_psobject *compat = obj_of(dict_get(table, "PSCompatibleVersions"));
	assert_int_equal(rms_psobject_collection(compat), RMS_PS_COLLECTION_LIST);
	assert_int_equal(rms_psobject_length(compat), 6);
	assert_string_equal(rms_psobject_type_name_at(compat, 0), "System.Version[]");
	const rms_value *last;
	assert_int_equal(rms_psobject_item_at(compat, 5, NULL, &last), 0);
	assert_string_equal(text_of(last), "5.1.14393.2248");
	rms_value_free(v);
	free(xml);
}

static void test_runspacepool_state_is_an_int32(void **state)
{
	(void)state;
	char *xml = recorded_message("test_psrp_open_runspace.txt", "RUNSPACEPOOL_STATE");
	rms_value *v = decode(xml);
	const rms_value *s = rms_psobject_get(obj_of(v), "RunspaceState");
	assert_non_null(s);
	assert_int_equal(rms_value_type(s), RMS_TYPE_SINT32);
	int32_t n = 0;
	assert_int_equal(rms_value_get_sint32(s, &n), 0);
	assert_int_equal(n, 2); /* Opened */
	unsigned flags = 0;
	assert_int_equal(rms_psobject_at(obj_of(v), 0, NULL, NULL, &flags), 0);
	assert_int_equal(flags, RMS_PS_PROP_EXTENDED);
	rms_value_free(v);
	free(xml);
}

static void test_init_runspacepool_enums_and_nil(void **state)
{
	(void)state;
	char *xml = recorded_message("test_psrp_multiple_commands.txt", "INIT_RUNSPACEPOOL");
	rms_value *v = decode(xml);
	const rms_psobject *o = obj_of(v);
	const rms_psobject *apt = obj_of(rms_psobject_get(o, "ApartmentState"));
	assert_string_equal(rms_psobject_to_string(apt), "UNKNOWN");
	assert_string_equal(rms_psobject_type_name_at(apt, 0),
	                    "System.Management.Automation.Runspaces.ApartmentState");
	int32_t n = 0;
	assert_int_equal(rms_value_get_sint32(rms_psobject_base(apt), &n), 0);
	assert_int_equal(n, 2);
	const rms_value *args = rms_psobject_get(o, "ApplicationArguments");
	assert_non_null(args);
	assert_true(rms_value_is_null(args));
	assert_int_equal(rms_value_type(args), RMS_TYPE_OBJECT);
	bool b = false;
	const rms_psobject *host = obj_of(rms_psobject_get(o, "HostInfo"));
	assert_int_equal(rms_value_get_boolean(rms_psobject_get(host, "_isHostNull"), &b), 0);
	assert_true(b);
	rms_value_free(v);
	free(xml);
}

/* The recorded PIPELINE_OUTPUT with a non-BMP character (facts.md §3.5). */
static void test_recorded_surrogate_pair_joins(void **state)
{
	(void)state;
	char *all = rms_fixture("jborean93-pypsrp/decoded/test_psrp_multiple_commands.txt", NULL);
	char *at = strstr(all, "<S>\xE3\x81\x93"); /* the PIPELINE_OUTPUT <S>こ... */
	assert_non_null(at);
	char *start = at;
	while (start > all && start[-1] != '\n')
		start--;
	rms_value *v = decode_len(start, strcspn(start, "\n"));
	char *json = NULL;
	assert_int_equal(rms_value_to_json(&json, v), 0);
	/* "actual_x005F_x000A_string_x000A_newline: _xD801__xDC37_" */
	assert_non_null(strstr(json, "actual_x000A_string\\nnewline: \xF0\x90\x90\xB7"));
	free(json);
	rms_value_free(v);
	free(all);
}

/* Export-Clixml documents with progress records (<PR>) and error streams. */
static void test_export_clixml_samples_decode(void **state)
{
	(void)state;
	const char *files[] = {"test_sanitise_clixml_with_error.xml",
	                       "test_sanitise_clixml_with_no_errors.xml"};
	for (size_t f = 0; f < 2; f++) {
		char rel[256];
		snprintf(rel, sizeof rel, "jborean93-pypsrp/clixml/%s", files[f]);
		char *all = rms_fixture(rel, NULL);
		char *doc = strstr(all, "<Objs");
		assert_non_null(doc);
		rms_value *v = NULL;
		if (rms__clixml_decode_objs(&v, doc, strlen(doc), NULL, files[f]))
			fail_msg("%s", rms_error_message(rms_error_last()));
		const rms_psobject *list = obj_of(v);
		assert_int_equal(rms_psobject_collection(list), RMS_PS_COLLECTION_LIST);
		assert_true(rms_psobject_length(list) >= 2);
		const rms_value *first;
		assert_int_equal(rms_psobject_item_at(list, 0, NULL, &first), 0);
		const rms_value *rec = rms_psobject_get(obj_of(first), "Record");
		const rms_psobject *pr = obj_of(rec);
		assert_string_equal(rms_psobject_type_name_at(pr, 0),
		                    "System.Management.Automation.ProgressRecord");
		assert_string_equal(text_of(rms_psobject_get(pr, "Activity")),
		                    "Preparing modules for first use.");
		assert_string_equal(text_of(rms_psobject_get(pr, "RecordType")), "Completed");
		assert_true(rms_value_is_null(rms_psobject_get(pr, "CurrentOperation")));
		int32_t pc = 0;
		assert_int_equal(rms_value_get_sint32(rms_psobject_get(pr, "PercentComplete"), &pc), 0);
		assert_int_equal(pc, -1);
		if (f == 0) {
			/* An error line: text with CR LF escapes. */
			bool found = false;
			for (size_t i = 0; i < rms_psobject_length(list) && !found; i++) {
				const rms_value *it;
				rms_psobject_item_at(list, i, NULL, &it);
				const char *s;
				if (rms_value_get_string(it, &s) == 0 && strstr(s, "At line:1 char:1\r\n"))
					found = true;
			}
			assert_true(found);
		}
		rms_value_free(v);
		free(all);
	}
}

/* ---- recorded traffic (pwsh 7.6.10 over SSH, both ends real) --------------- */

/* One message being reassembled from its fragments (facts.md §3.1). */
typedef struct pending_msg {
	uint64_t object_id;
	rms_buf blob;
	bool open;
} pending_msg;

static uint64_t be64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

typedef struct pwsh_stats {
	size_t messages;
	size_t with_body;
	bool saw_big_string;
	bool saw_dictionary;
} pwsh_stats;

static void check_pwsh_message(const char *where, const unsigned char *blob, size_t len,
                               pwsh_stats *st)
{
	assert_true(len >= 40);
	st->messages++;
	const char *xml = (const char *)blob + 40;
	size_t n = len - 40;
	if (n == 0 || (n == 3 && memcmp(xml, "\xEF\xBB\xBF", 3) == 0))
		return; /* END_OF_PIPELINE_INPUT and the like carry nothing */
	rms_value *v = NULL;
	if (rms__clixml_decode(&v, xml, n, NULL, where))
		fail_msg("%s", rms_error_message(rms_error_last()));
	st->with_body++;
	char *again = encode(v);
	rms_value *back = decode(again);
	if (!rms_value_equal(v, back))
		fail_msg("%s: re-encoding changed the value", where);
	const char *s;
	if (rms_value_get_string(v, &s) == 0 && strlen(s) >= 2 * 1024 * 1024)
		st->saw_big_string = true;
	const rms_psobject *o;
	if (rms_value_get_object(v, &o) == 0 &&
	    rms_psobject_collection(o) == RMS_PS_COLLECTION_DICTIONARY)
		st->saw_dictionary = true;
	rms_value_free(back);
	rms_value_free(v);
	free(again);
}

/* Every <Data> line of one direction: base64 of fragments, reassembled by
 * ObjectId into messages. */
static void decode_pwsh_stream(const char *file, pwsh_stats *st)
{
	char rel[256];
	snprintf(rel, sizeof rel, "pwsh-7.6.10-ssh/%s", file);
	char *all = rms_fixture(rel, NULL);
	pending_msg pend[8] = {{0}};
	int line = 0;
	for (char *p = all; *p;) {
		char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		line++;
		char *open = strncmp(p, "<Data ", 6) == 0 ? memchr(p, '>', n) : NULL;
		char *close = open ? strstr(open, "</Data>") : NULL;
		if (open && close && close < p + n) {
			unsigned char *frag = NULL;
			size_t flen = 0;
			assert_int_equal(rms__base64_decode(&frag, &flen, open + 1,
			                                    (size_t)(close - open - 1)),
			                 0);
			for (size_t off = 0; off + 21 <= flen;) {
				uint64_t oid = be64(frag + off);
				unsigned flags = frag[off + 16];
				uint32_t blen = (uint32_t)frag[off + 17] << 24 |
				                (uint32_t)frag[off + 18] << 16 |
				                (uint32_t)frag[off + 19] << 8 | frag[off + 20];
				assert_true(off + 21 + blen <= flen);
				pending_msg *m = NULL;
				for (int k = 0; k < 8 && !m; k++)
					if (pend[k].open && pend[k].object_id == oid)
						m = &pend[k];
				for (int k = 0; k < 8 && !m; k++)
					if (!pend[k].open)
						m = &pend[k];
				assert_non_null(m);
				if (flags & 1) {
					m->open = true;
					m->object_id = oid;
					m->blob.len = 0;
				}
				rms__buf_append(&m->blob, frag + off + 21, blen);
				if (flags & 2) {
					char where[300];
					snprintf(where, sizeof where, "%s line %d (object %" PRIu64 ")",
					         file, line, oid);
					check_pwsh_message(where, (const unsigned char *)m->blob.data,
					                   m->blob.len, st);
					m->open = false;
				}
				off += 21 + blen;
			}
			free(frag);
		}
		p += n + (eol ? 1 : 0);
	}
	for (int k = 0; k < 8; k++)
		rms__buf_free(&pend[k].blob);
	free(all);
}

static void test_every_recorded_pwsh_7_6_message_decodes(void **state)
{
	(void)state;
	char dir[1024];
	snprintf(dir, sizeof dir, "%s/pwsh-7.6.10-ssh", RMS_FIXTURES_DIR);
	DIR *d = opendir(dir);
	if (!d)
		fail_msg("cannot open %s", dir);
	pwsh_stats st = {0};
	size_t files = 0;
	for (struct dirent *e; (e = readdir(d));) {
		size_t n = strlen(e->d_name);
		if (n > 3 && (strcmp(e->d_name + n - 3, ".in") == 0 ||
		              (n > 4 && strcmp(e->d_name + n - 4, ".out") == 0))) {
			decode_pwsh_stream(e->d_name, &st);
			files++;
		}
	}
	closedir(d);
	print_message("%zu pwsh 7.6.10 messages, %zu with CLIXML, all decoded and re-encoded\n",
	              st.messages, st.with_body);
	assert_int_equal(files, 16);
	assert_true(st.with_body >= 100);
	assert_true(st.saw_big_string); /* 06-f-big: one 2 MiB string in 65 fragments */
	assert_true(st.saw_dictionary); /* 03-c-complex: a nested hashtable */
}

/* ---- types --------------------------------------------------------------- */

static void test_primitives_decode_to_typed_values(void **state)
{
	(void)state;
	static const struct {
		const char *xml;
		rms_type type;
		const char *text; /* rms_value_to_text of the value */
	} cases[] = {
		{"<S>a b</S>", RMS_TYPE_STRING, "a b"},
		{"<S />", RMS_TYPE_STRING, ""},
		{"<S>  keep  spaces \n</S>", RMS_TYPE_STRING, "  keep  spaces \n"},
		{"<S><![CDATA[x<y]]><!--c-->z</S>", RMS_TYPE_STRING, "x<yz"},
		{"<C>65</C>", RMS_TYPE_CHAR16, "A"},
		{"<B>true</B>", RMS_TYPE_BOOLEAN, "true"},
		{"<B> 0 </B>", RMS_TYPE_BOOLEAN, "false"},
		{"<By>255</By>", RMS_TYPE_UINT8, "255"},
		{"<SB>-128</SB>", RMS_TYPE_SINT8, "-128"},
		{"<SB>+5</SB>", RMS_TYPE_SINT8, "5"},
		{"<U16>65535</U16>", RMS_TYPE_UINT16, "65535"},
		{"<I16>-32768</I16>", RMS_TYPE_SINT16, "-32768"},
		{"<U32>4294967295</U32>", RMS_TYPE_UINT32, "4294967295"},
		{"<I32>\n -2147483648 \n</I32>", RMS_TYPE_SINT32, "-2147483648"},
		{"<I32>007</I32>", RMS_TYPE_SINT32, "7"},
		{"<U64>18446744073709551615</U64>", RMS_TYPE_UINT64, "18446744073709551615"},
		{"<I64>-9223372036854775808</I64>", RMS_TYPE_SINT64, "-9223372036854775808"},
		{"<Sg>1.5</Sg>", RMS_TYPE_REAL32, "1.5"},
		{"<Db>0.1</Db>", RMS_TYPE_REAL64, "0.1"},
		{"<Db>1E+300</Db>", RMS_TYPE_REAL64, NULL},
		{"<Db>.5</Db>", RMS_TYPE_REAL64, "0.5"},
		{"<Db>INF</Db>", RMS_TYPE_REAL64, "INF"},
		{"<Db>-INF</Db>", RMS_TYPE_REAL64, "-INF"},
		{"<Db>Infinity</Db>", RMS_TYPE_REAL64, "INF"},
		{"<Sg>NaN</Sg>", RMS_TYPE_REAL32, "NaN"},
		{"<Db>1E400</Db>", RMS_TYPE_REAL64, "INF"}, /* .NET reads overflow as infinity */
		{"<D>-12.50</D>", RMS_TYPE_DECIMAL, "-12.50"},
		{"<D> +0001.50 </D>", RMS_TYPE_DECIMAL, "1.50"},
		{"<D>.5</D>", RMS_TYPE_DECIMAL, "0.5"},
		{"<D>-.1250</D>", RMS_TYPE_DECIMAL, "-0.1250"}, /* found by fuzz_clixml */
		{"<D>5.</D>", RMS_TYPE_DECIMAL, "5"},
		{"<D>-0.00</D>", RMS_TYPE_DECIMAL, "0.00"},
		{"<D>79228162514264337593543950335</D>", RMS_TYPE_DECIMAL,
		 "79228162514264337593543950335"},
		{"<D>0.0000000000000000000000000001</D>", RMS_TYPE_DECIMAL,
		 "0.0000000000000000000000000001"},
		{"<G>0F8FAD5B-D9CB-469F-A165-70867728950E</G>", RMS_TYPE_GUID,
		 "0f8fad5b-d9cb-469f-a165-70867728950e"},
		{"<G>{0f8fad5b-d9cb-469f-a165-70867728950e}</G>", RMS_TYPE_GUID,
		 "0f8fad5b-d9cb-469f-a165-70867728950e"},
		{"<G>0f8fad5bd9cb469fa16570867728950e</G>", RMS_TYPE_GUID,
		 "0f8fad5b-d9cb-469f-a165-70867728950e"},
		{"<URI> http://x/y?a=1&amp;b=2 </URI>", RMS_TYPE_URI, "http://x/y?a=1&b=2"},
		{"<Version>5.1.14393.2248</Version>", RMS_TYPE_VERSION, "5.1.14393.2248"},
		{"<Version> 01.+2 </Version>", RMS_TYPE_VERSION, "1.2"},
		{"<XD>&lt;a b=\"1\"&gt;t&lt;/a&gt;</XD>", RMS_TYPE_XML, "<a b=\"1\">t</a>"},
		{"<SBK> echo 1_x000A_ </SBK>", RMS_TYPE_SCRIPTBLOCK, " echo 1\n "},
		{"<BA>AQID</BA>", RMS_TYPE_BYTES, NULL},
		{"<BA>\n AQ\tID \n</BA>", RMS_TYPE_BYTES, NULL},
		{"<BA></BA>", RMS_TYPE_BYTES, NULL},
		{"<TS>PT0S</TS>", RMS_TYPE_TIMESPAN, NULL},
		{"<DT>2024-01-02T03:04:05.1234567Z</DT>", RMS_TYPE_DATETIME, NULL},
		{"<Nil />", RMS_TYPE_OBJECT, "(null)"},
		{"<Nil N=\"x\">ignored</Nil>", RMS_TYPE_OBJECT, "(null)"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rms_value *v = decode(cases[i].xml);
		if (rms_value_type(v) != cases[i].type)
			fail_msg("%s: type %s, expected %s", cases[i].xml,
			         rms_type_name(rms_value_type(v)), rms_type_name(cases[i].type));
		if (cases[i].text) {
			char *t = NULL;
			assert_int_equal(rms_value_to_text(&t, v), 0);
			if (strcmp(t, cases[i].text) != 0)
				fail_msg("%s: text \"%s\", expected \"%s\"", cases[i].xml, t,
				         cases[i].text);
			free(t);
		}
		rms_value_free(v);
	}
	/* Bytes, with white space anywhere in the base64. */
	rms_value *v = decode("<BA>\n AQ\tID \n</BA>");
	const void *data;
	size_t len;
	assert_int_equal(rms_value_get_bytes(v, &data, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(data, "\1\2\3", 3);
	rms_value_free(v);
	/* -0 stays negative zero. */
	v = decode("<Db>-0</Db>");
	double d = 1;
	assert_int_equal(rms_value_get_real64(v, &d), 0);
	assert_true(d == 0 && signbit(d));
	rms_value_free(v);
}

static int64_t ticks_of(const char *xml)
{
	rms_value *v = decode(xml);
	int64_t t = 0;
	assert_int_equal(rms_value_get_timespan(v, &t), 0);
	rms_value_free(v);
	return t;
}

static void test_timespan_is_xs_duration_in_ticks(void **state)
{
	(void)state;
	assert_int_equal(ticks_of("<TS>PT0S</TS>"), 0);
	assert_int_equal(ticks_of("<TS>PT0.0000001S</TS>"), 1);
	assert_int_equal(ticks_of("<TS>P1DT2H3M4.0050007S</TS>"), 937840050007LL);
	assert_int_equal(ticks_of("<TS>-P1DT2H3M4.005S</TS>"), -937840050000LL);
	assert_int_equal(ticks_of("<TS>P10675199DT2H48M5.4775807S</TS>"), INT64_MAX);
	assert_int_equal(ticks_of("<TS>-P10675199DT2H48M5.4775808S</TS>"), INT64_MIN);
	/* XmlConvert: a year is 365 days, a month 30; digits past the 7th of
	 * the fraction are dropped; components may exceed their range. */
	assert_int_equal(ticks_of("<TS>P1Y2M3DT4H5M6.7S</TS>"), 369939067000000LL);
	assert_int_equal(ticks_of("<TS>PT0.99999999S</TS>"), 9999999);
	assert_int_equal(ticks_of("<TS>PT36H</TS>"), 36LL * 3600 * 10000000);
	assert_int_equal(ticks_of("<TS> PT.5S </TS>"), 5000000);
	assert_int_equal(ticks_of("<TS>PT1.S</TS>"), 10000000);
}

static rms_datetime dt_of(const char *xml)
{
	rms_value *v = decode(xml);
	rms_datetime dt;
	assert_int_equal(rms_value_get_datetime(v, &dt), 0);
	rms_value_free(v);
	return dt;
}

static void test_datetime_kinds(void **state)
{
	(void)state;
	/* Utc kind: "Z"; the fraction's 7 digits are kept. */
	rms_datetime dt = dt_of("<DT>2024-01-02T03:04:05.1234567Z</DT>");
	assert_int_equal(dt.tz_form, RMS_TZ_UTC_Z);
	assert_int_equal(dt.year, 2024);
	assert_int_equal(dt.second, 5);
	assert_int_equal(dt.nanoseconds, 123456700);
	assert_int_equal(dt.frac_digits, 7);
	/* Local kind: PowerShell writes the sender's UTC offset. */
	dt = dt_of("<DT>2024-01-02T03:04:05.5+05:30</DT>");
	assert_int_equal(dt.tz_form, RMS_TZ_OFFSET);
	assert_int_equal(dt.utc_offset, 330);
	assert_int_equal(dt.nanoseconds, 500000000);
	dt = dt_of("<DT>0001-01-01T00:00:00-05:00</DT>");
	assert_int_equal(dt.utc_offset, -300);
	/* Unspecified kind: no zone at all. */
	dt = dt_of("<DT>2024-01-02T03:04:05</DT>");
	assert_int_equal(dt.tz_form, RMS_TZ_NONE);
	assert_int_equal(dt.frac_digits, 0);
	/* An xs:date, as XmlConvert also reads it; a lower-case z. */
	dt = dt_of("<DT> 2024-02-29z </DT>");
	assert_int_equal(dt.day, 29);
	assert_int_equal(dt.hour, 0);
	assert_int_equal(dt.tz_form, RMS_TZ_UTC_Z);
	/* More than 7 fraction digits round to .NET's ticks, carrying over. */
	dt = dt_of("<DT>2024-01-02T03:04:05.12345675Z</DT>");
	assert_int_equal(dt.nanoseconds, 123456800);
	dt = dt_of("<DT>2024-12-31T23:59:59.99999999Z</DT>");
	assert_int_equal(dt.year, 2025);
	assert_int_equal(dt.month, 1);
	assert_int_equal(dt.day, 1);
	assert_int_equal(dt.hour, 0);
	assert_int_equal(dt.second, 0);
	assert_int_equal(dt.nanoseconds, 0);
}

static void test_object_parts(void **state)
{
	(void)state;
	rms_value *v = decode(
	    "<Obj RefId=\"0\"><TN RefId=\"0\"><T>System.ConsoleColor</T><T>System.Enum</T>"
	    "<T>System.ValueType</T><T>System.Object</T></TN><ToString>Red</ToString>"
	    "<I32>12</I32></Obj>");
	const rms_psobject *o = obj_of(v);
	assert_int_equal(rms_psobject_type_name_count(o), 4);
	assert_string_equal(rms_psobject_type_name_at(o, 0), "System.ConsoleColor");
	assert_string_equal(rms_psobject_to_string(o), "Red");
	int32_t n = 0;
	assert_int_equal(rms_value_get_sint32(rms_psobject_base(o), &n), 0);
	assert_int_equal(n, 12);
	char *json = NULL;
	assert_int_equal(rms_value_to_json(&json, v), 0);
	assert_string_equal(json, "12");
	free(json);
	rms_value_free(v);

	/* Props and MS (flags), a Ref copy, TNRef, a dictionary, a stack, a
	 * repeated name (the last wins, as in PowerShell), pretty-printing. */
	v = decode("<Obj RefId=\"0\">\n"
	           "  <TN RefId=\"0\"><T>A_x005F_x</T><T>System.Object</T></TN>\n"
	           "  <Props><S N=\"Name\">n</S><I32 N=\"Dup\">1</I32></Props>\n"
	           "  <MS>\n"
	           "    <Obj N=\"Inner\" RefId=\"1\"><TNRef RefId=\"0\" />"
	           "<STK><I32>2</I32><I32>1</I32></STK></Obj>\n"
	           "    <Ref N=\"Again\" RefId=\"1\" />\n"
	           "    <Obj N=\"D\" RefId=\"2\"><DCT><En><S N=\"Key\">k</S><Nil N=\"Value\" /></En>"
	           "<En><I32 N=\"Key\">3</I32><S N=\"Value\">x</S></En></DCT></Obj>\n"
	           "    <S N=\"dup\">2</S>\n"
	           "    <S N=\"a b_x000A_\">esc</S>\n"
	           "  </MS>\n"
	           "</Obj>");
	o = obj_of(v);
	assert_int_equal(rms_psobject_count(o), 6);
	assert_string_equal(rms_psobject_type_name_at(o, 0), "A_x");
	unsigned flags = 0;
	const char *name;
	assert_int_equal(rms_psobject_at(o, 0, &name, NULL, &flags), 0);
	assert_string_equal(name, "Name");
	assert_int_equal(flags, RMS_PS_PROP_ADAPTED);
	const rms_value *dup = rms_psobject_get(o, "DUP");
	assert_string_equal(text_of(dup), "2");
	const rms_psobject *inner = obj_of(rms_psobject_get(o, "Inner"));
	assert_int_equal(rms_psobject_collection(inner), RMS_PS_COLLECTION_STACK);
	assert_string_equal(rms_psobject_type_name_at(inner, 0), "A_x");
	assert_true(rms_value_equal(rms_psobject_get(o, "Inner"), rms_psobject_get(o, "Again")));
	assert_ptr_not_equal(rms_psobject_get(o, "Inner"), rms_psobject_get(o, "Again"));
	const rms_value *dct = rms_psobject_get(o, "D");
	assert_true(rms_value_is_null(dict_get(dct, "k")));
	assert_string_equal(text_of(rms_psobject_get(o, "a b\n")), "esc");
	rms_value_free(v);

	/* A later <Obj> with the same RefId takes the id over from its start,
	 * as PowerShell does; the outer one then keeps no id. */
	v = decode("<Obj RefId=\"0\"><LST><Obj RefId=\"0\"><S>a</S></Obj><Ref RefId=\"0\"/></LST>"
	           "</Obj>");
	assert_int_equal(rms_psobject_length(obj_of(v)), 2);
	rms_value_free(v);

	/* A property that is superseded still holds objects a later Ref names. */
	v = decode("<Obj RefId=\"0\"><MS><Obj N=\"a\" RefId=\"1\"><S>x</S></Obj><S N=\"A\">y</S>"
	           "<Ref N=\"b\" RefId=\"1\"/></MS></Obj>");
	o = obj_of(v);
	assert_int_equal(rms_psobject_count(o), 2);
	assert_string_equal(text_of(rms_psobject_get(o, "a")), "y");
	assert_string_equal(text_of(rms_psobject_base(obj_of(rms_psobject_get(o, "b")))), "x");
	rms_value_free(v);
}

static void test_decode_objs_document(void **state)
{
	(void)state;
	const char *doc = "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	                  "<Objs Version=\"1.1.0.1\" "
	                  "xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">\n"
	                  "  <I32>1</I32>\n  <S>two</S>\n  <Nil />\n</Objs>";
	rms_value *v = NULL;
	assert_int_equal(rms__clixml_decode_objs(&v, doc, strlen(doc), NULL, WHAT), 0);
	const rms_psobject *o = obj_of(v);
	assert_int_equal(rms_psobject_length(o), 3);
	rms_value_free(v);
	/* One value wanted, a document given, and the other way round. */
	expect_error(doc, "Export-Clixml");
	assert_int_equal(rms__clixml_decode_objs(&v, "<I32>1</I32>", 12, NULL, WHAT),
	                 RMS_E_PROTOCOL);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "<Objs>"));
}

/* ---- escapes ------------------------------------------------------------------- */

static char *escaped(const char *s)
{
	rms_buf b;
	rms__buf_init(&b);
	assert_int_equal(rms__clixml_escape(&b, s, strlen(s)), 0);
	rms__buf_append(&b, "", 0);
	return rms__buf_take(&b);
}

static void test_escape_as_powershell_writes(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"a\nb", "a_x000A_b"},
		{"\xF0\x90\x90\xB7", "_xD801__xDC37_"}, /* U+10437 */
		{"_x", "_x005F_x"},
		{"_X", "_x005F_X"},
		{"__x0041_", "__x005F_x0041_"},
		{"_ x_ _y", "_ x_ _y"},
		{"\t\r\x1f\x7f", "_x0009__x000D__x001F__x007F_"},
		{"\xC2\x85\xC2\x9F\xC2\xA0", "_x0085__x009F_\xC2\xA0"}, /* C1 escaped, NBSP not */
		{"\xEF\xBF\xBE", "_xFFFE_"},
		{"<&>\"'", "<&>\"'"}, /* XML escaping is the writer's, not this */
		{"", ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *e = escaped(cases[i].in);
		assert_string_equal(e, cases[i].out);
		char *u = NULL;
		assert_int_equal(rms__clixml_unescape(&u, e, strlen(e)), 0);
		assert_string_equal(u, cases[i].in);
		free(u);
		free(e);
	}
	rms_buf b;
	rms__buf_init(&b);
	assert_int_equal(rms__clixml_escape(&b, "\xC3", 1), RMS_E_INVALID_ARG);
	rms__buf_free(&b);
}

static void test_unescape_keeps_what_is_not_an_escape(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"_x000a_", "\n"},  {"_X000A_", "\n"},        {"_x00A_", "_x00A_"},
		{"_x000G_", "_x000G_"}, {"_x00410_", "_x00410_"}, {"_x0041", "_x0041"},
		{"_x005F_x0041_", "_x0041_"}, {"_x0041__x0042_", "AB"}, {"__", "__"},
		{"_x00e9_", "\xC3\xA9"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *u = NULL;
		assert_int_equal(rms__clixml_unescape(&u, cases[i].in, strlen(cases[i].in)), 0);
		assert_string_equal(u, cases[i].out);
		free(u);
	}
	const char *bad[] = {"_xD801_", "_xDC37_", "_xD801__x0041_", "_xDC37__xD801_", "a_x0000_"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *u = NULL;
		assert_int_equal(rms__clixml_unescape(&u, bad[i], strlen(bad[i])), RMS_E_PROTOCOL);
		assert_null(u);
	}
}

/* ---- round trips --------------------------------------------------------------- */

static rms_value *str_v(const char *s)
{
	rms_value *v = NULL;
	assert_int_equal(rms_value_new_string(&v, s), 0);
	return v;
}

static rms_value *i32_v(int32_t n)
{
	rms_value *v = NULL;
	assert_int_equal(rms_value_new_sint32(&v, n), 0);
	return v;
}

static rms_value *null_v(void)
{
	rms_value *v = NULL;
	assert_int_equal(rms_value_new_null(&v, RMS_TYPE_OBJECT), 0);
	return v;
}

static rms_value *obj_v(rms_psobject *o)
{
	rms_value *v = NULL;
	assert_int_equal(rms_value_new_object(&v, o), 0);
	return v;
}

static rms_datetime ts_dt(int y, int mo, int d, int h, int mi, int s, uint32_t ns, int digits,
                          rms_tz_form tz, int off)
{
	rms_datetime dt = {.year = y, .month = mo, .day = d, .hour = h, .minute = mi,
	                   .second = s, .nanoseconds = ns, .frac_digits = digits,
	                   .tz_form = tz, .utc_offset = off};
	return dt;
}

/* A value of every scalar type the writer can send and read back as the
 * same type; n counts them. */
static rms_value **all_scalars(size_t *n)
{
	rms_value **v = calloc(64, sizeof *v);
	size_t k = 0;
	rms_datetime dt;
	assert_int_equal(rms_value_new_boolean(&v[k++], true), 0);
	assert_int_equal(rms_value_new_boolean(&v[k++], false), 0);
	assert_int_equal(rms_value_new_uint8(&v[k++], 200), 0);
	assert_int_equal(rms_value_new_sint8(&v[k++], -128), 0);
	assert_int_equal(rms_value_new_uint16(&v[k++], 65535), 0);
	assert_int_equal(rms_value_new_sint16(&v[k++], -300), 0);
	assert_int_equal(rms_value_new_uint32(&v[k++], 4000000000u), 0);
	assert_int_equal(rms_value_new_sint32(&v[k++], INT32_MIN), 0);
	assert_int_equal(rms_value_new_uint64(&v[k++], UINT64_MAX), 0);
	assert_int_equal(rms_value_new_sint64(&v[k++], INT64_MIN), 0);
	assert_int_equal(rms_value_new_real32(&v[k++], 0.1f), 0);
	assert_int_equal(rms_value_new_real32(&v[k++], -0.0f), 0);
	assert_int_equal(rms_value_new_real32(&v[k++], 3.4028235e38f), 0);
	assert_int_equal(rms_value_new_real64(&v[k++], 1e300), 0);
	assert_int_equal(rms_value_new_real64(&v[k++], 5e-324), 0);
	assert_int_equal(rms_value_new_real64(&v[k++], NAN), 0);
	assert_int_equal(rms_value_new_real64(&v[k++], -HUGE_VAL), 0);
	assert_int_equal(rms_value_new_char16(&v[k++], 0xe9), 0);
	assert_int_equal(rms_value_new_char16(&v[k++], 0x1f), 0);
	assert_int_equal(rms_value_new_char16(&v[k++], 0), 0);
	dt = ts_dt(2024, 1, 2, 3, 4, 5, 123456700, 7, RMS_TZ_UTC_Z, 0);
	assert_int_equal(rms_value_new_datetime(&v[k++], &dt), 0);
	dt = ts_dt(2024, 2, 29, 23, 59, 59, 0, 0, RMS_TZ_OFFSET, 330);
	assert_int_equal(rms_value_new_datetime(&v[k++], &dt), 0);
	dt = ts_dt(1, 1, 1, 0, 0, 0, 0, 0, RMS_TZ_OFFSET, -300);
	assert_int_equal(rms_value_new_datetime(&v[k++], &dt), 0);
	dt = ts_dt(9999, 12, 31, 23, 59, 59, 999999900, 7, RMS_TZ_NONE, 0);
	assert_int_equal(rms_value_new_datetime(&v[k++], &dt), 0);
	v[k++] = str_v("plain");
	v[k++] = str_v("");
	v[k++] = str_v("  spaces  \n\ttab\r\n_x0041_ _X _x005F_ <&>\"' \xC2\x85 \xF0\x90\x90\xB7 "
	               "\xF0\x9F\x98\x80 \xEF\xBF\xBE");
	assert_int_equal(rms_value_new_decimal(&v[k++], "-12.50"), 0);
	assert_int_equal(rms_value_new_decimal(&v[k++], "79228162514264337593543950335"), 0);
	assert_int_equal(rms_value_new_guid(&v[k++], "0f8fad5b-d9cb-469f-a165-70867728950e"), 0);
	assert_int_equal(rms_value_new_timespan(&v[k++], 0), 0);
	assert_int_equal(rms_value_new_timespan(&v[k++], -937840050007LL), 0);
	assert_int_equal(rms_value_new_timespan(&v[k++], INT64_MAX), 0);
	assert_int_equal(rms_value_new_timespan(&v[k++], INT64_MIN), 0);
	assert_int_equal(rms_value_new_timespan(&v[k++], 864000000000LL), 0);
	assert_int_equal(rms_value_new_version(&v[k++], "1.2.3.4"), 0);
	assert_int_equal(rms_value_new_version(&v[k++], "10.0"), 0);
	assert_int_equal(rms_value_new_uri(&v[k++], "http://x/y?a=1&b=2#f"), 0);
	assert_int_equal(rms_value_new_xml(&v[k++], "<a b=\"1\">t&amp;u</a>"), 0);
	assert_int_equal(rms_value_new_scriptblock(&v[k++], " Get-Item $x\n| % { $_ } "), 0);
	assert_int_equal(rms_value_new_bytes(&v[k++], "\0\1\377", 3), 0);
	assert_int_equal(rms_value_new_bytes(&v[k++], NULL, 0), 0);
	v[k++] = null_v();
	*n = k;
	return v;
}

static void free_all(rms_value **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rms_value_free(v[i]);
	free(v);
}

static void test_roundtrip_every_scalar(void **state)
{
	(void)state;
	size_t n;
	rms_value **v = all_scalars(&n);
	for (size_t i = 0; i < n; i++)
		assert_roundtrip(v[i]);
	free_all(v, n);
}

/* An object like a PowerShell pipeline's: type names, every collection
 * kind, nested objects, named properties with escapes, every scalar as a
 * property and as a dictionary key. */
static rms_value *rich_object(void)
{
	rms_psobject *o = NULL;
	assert_int_equal(rms_psobject_new(&o), 0);
	assert_int_equal(rms_psobject_add_type_name(o, "Deserialized.My.Type"), 0);
	assert_int_equal(rms_psobject_add_type_name(o, "System.Object"), 0);
	assert_int_equal(rms_psobject_set_to_string(o, "line1\nline2"), 0);
	size_t n;
	rms_value **sc = all_scalars(&n);
	/* every scalar as a property, alternately adapted and extended */
	for (size_t i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof name, "p%zu", i);
		assert_int_equal(rms_psobject_set(o, name, sc[i], i % 2 ? RMS_PS_PROP_ADAPTED
		                                                         : RMS_PS_PROP_EXTENDED),
		                 0);
		sc[i] = NULL;
	}
	free(sc);
	assert_int_equal(rms_psobject_set(o, "odd name _x0041_ <&> \xF0\x90\x90\xB7", str_v("v"),
	                                  RMS_PS_PROP_EXTENDED),
	                 0);
	/* each list kind, with nested objects and $null */
	static const rms_ps_collection kinds[] = {RMS_PS_COLLECTION_LIST,
	                                          RMS_PS_COLLECTION_ENUMERABLE,
	                                          RMS_PS_COLLECTION_STACK, RMS_PS_COLLECTION_QUEUE};
	for (size_t k = 0; k < 4; k++) {
		rms_psobject *l = NULL;
		assert_int_equal(rms_psobject_new(&l), 0);
		assert_int_equal(rms_psobject_add_type_name(l, "System.Object[]"), 0);
		assert_int_equal(rms_psobject_set_collection(l, kinds[k]), 0);
		assert_int_equal(rms_psobject_append(l, i32_v((int32_t)k)), 0);
		assert_int_equal(rms_psobject_append(l, null_v()), 0);
		rms_psobject *inner = NULL;
		assert_int_equal(rms_psobject_new(&inner), 0);
		assert_int_equal(rms_psobject_set(inner, "X", i32_v(1), RMS_PS_PROP_EXTENDED), 0);
		assert_int_equal(rms_psobject_append(l, obj_v(inner)), 0);
		char name[16];
		snprintf(name, sizeof name, "list%zu", k);
		assert_int_equal(rms_psobject_set(o, name, obj_v(l), RMS_PS_PROP_EXTENDED), 0);
	}
	/* a dictionary keyed by every scalar but null */
	rms_psobject *dct = NULL;
	assert_int_equal(rms_psobject_new(&dct), 0);
	assert_int_equal(rms_psobject_add_type_name(dct, "System.Collections.Hashtable"), 0);
	assert_int_equal(rms_psobject_set_collection(dct, RMS_PS_COLLECTION_DICTIONARY), 0);
	sc = all_scalars(&n);
	for (size_t i = 0; i < n; i++) {
		if (rms_value_is_null(sc[i]))
			continue;
		if (rms_psobject_append_entry(dct, sc[i], i32_v((int32_t)i)) == 0)
			sc[i] = NULL;
	}
	free_all(sc, n);
	assert_true(rms_psobject_length(dct) > 30);
	assert_int_equal(rms_psobject_set(o, "dict", obj_v(dct), RMS_PS_PROP_ADAPTED), 0);
	/* an enum-like object with a base value */
	rms_psobject *e = NULL;
	assert_int_equal(rms_psobject_new(&e), 0);
	assert_int_equal(rms_psobject_add_type_name(e, "System.ConsoleColor"), 0);
	assert_int_equal(rms_psobject_set_to_string(e, "Red"), 0);
	assert_int_equal(rms_psobject_set_base(e, i32_v(12)), 0);
	assert_int_equal(rms_psobject_set(o, "enum", obj_v(e), RMS_PS_PROP_EXTENDED), 0);
	/* an empty object, an object with an empty ToString */
	rms_psobject *empty = NULL;
	assert_int_equal(rms_psobject_new(&empty), 0);
	assert_int_equal(rms_psobject_set(o, "empty", obj_v(empty), RMS_PS_PROP_EXTENDED), 0);
	rms_psobject *es = NULL;
	assert_int_equal(rms_psobject_new(&es), 0);
	assert_int_equal(rms_psobject_set_to_string(es, ""), 0);
	assert_int_equal(rms_psobject_set(o, "emptystr", obj_v(es), RMS_PS_PROP_EXTENDED), 0);
	return obj_v(o);
}

static void test_roundtrip_nested_objects(void **state)
{
	(void)state;
	rms_value *v = rich_object();
	assert_roundtrip(v);
	/* Inside another list, twice: the writer's RefIds and TNRefs are per
	 * message and still decode to equal values. */
	rms_psobject *outer = NULL;
	assert_int_equal(rms_psobject_new(&outer), 0);
	assert_int_equal(rms_psobject_set_collection(outer, RMS_PS_COLLECTION_LIST), 0);
	rms_value *copy = NULL;
	assert_int_equal(rms_value_dup(&copy, v), 0);
	assert_int_equal(rms_psobject_append(outer, v), 0);
	assert_int_equal(rms_psobject_append(outer, copy), 0);
	rms_value *ov = obj_v(outer);
	char *xml = encode(ov);
	/* Repeated type-name lists went out as <TNRef>. */
	assert_non_null(strstr(xml, "<TNRef RefId=\"0\" />"));
	assert_non_null(strstr(xml, "N=\"odd name _x005F_x0041_ &lt;&amp;&gt; _xD801__xDC37_\""));
	free(xml);
	assert_roundtrip(ov);
	rms_value_free(ov);
}

/* The CIM-only types go out as PowerShell would see them. */
static void test_cim_types_written_as_powershell_sees_them(void **state)
{
	(void)state;
	rms_datetime iv = {.is_interval = true, .days = 1, .hour = 2, .minute = 3, .second = 4,
	                   .nanoseconds = 5000700, .frac_digits = 9};
	rms_value *v = NULL;
	assert_int_equal(rms_value_new_datetime(&v, &iv), 0);
	char *xml = encode(v);
	assert_string_equal(xml, "<TS>P1DT2H3M4.0050007S</TS>"); /* 100 ns ticks */
	free(xml);
	rms_value_free(v);

	rms_instance *inst = NULL;
	assert_int_equal(rms_instance_new(&inst, "root\\cimv2", "Win32_Service"), 0);
	rms_value *pv = str_v("WinRM");
	assert_int_equal(rms_instance_set(inst, "Name", pv, RMS_PROP_KEY), 0);
	rms_value *arr = NULL;
	assert_int_equal(rms_value_new_array(&arr, RMS_TYPE_UINT8), 0);
	rms_value *b = NULL;
	assert_int_equal(rms_value_new_uint8(&b, 7), 0);
	assert_int_equal(rms_value_array_append(arr, b), 0);
	assert_int_equal(rms_instance_set(inst, "Bytes", arr, 0), 0);
	assert_int_equal(rms_value_new_array(&arr, RMS_TYPE_STRING), 0);
	assert_int_equal(rms_value_array_append(arr, str_v("a")), 0);
	assert_int_equal(rms_instance_set(inst, "Names", arr, 0), 0);
	rms_ref *ref = NULL;
	assert_int_equal(rms_ref_new(&ref, "root/cimv2", "Win32_Service"), 0);
	assert_int_equal(rms_ref_add_selector(ref, "Name", "WinRM"), 0);
	rms_value *rv = NULL;
	assert_int_equal(rms_value_new_reference(&rv, ref), 0);
	assert_int_equal(rms_instance_set(inst, "Self", rv, 0), 0);
	rms_ref_free(ref);
	assert_int_equal(rms_value_new_instance(&v, inst), 0);
	rms_instance_free(inst);
	xml = encode(v);
	rms_value *back = decode(xml);
	const rms_psobject *o = obj_of(back);
	assert_string_equal(rms_psobject_type_name_at(o, 0),
	                    "Microsoft.Management.Infrastructure.CimInstance#root/cimv2/"
	                    "Win32_Service");
	assert_string_equal(text_of(rms_psobject_get(o, "Name")), "WinRM");
	assert_int_equal(rms_value_type(rms_psobject_get(o, "Bytes")), RMS_TYPE_BYTES);
	const rms_psobject *names = obj_of(rms_psobject_get(o, "Names"));
	assert_string_equal(rms_psobject_type_name_at(names, 0), "System.String[]");
	assert_int_equal(rms_psobject_length(names), 1);
	assert_int_equal(rms_value_type(rms_psobject_get(o, "Self")), RMS_TYPE_STRING);
	assert_non_null(strstr(text_of(rms_psobject_get(o, "Self")), "Win32_Service.Name=\"WinRM\""));
	rms_value_free(back);
	rms_value_free(v);
	free(xml);

	/* A null of any type is <Nil />; what CLIXML cannot say is refused. */
	assert_int_equal(rms_value_new_null(&v, RMS_TYPE_STRING), 0);
	rms_clixml_writer w;
	rms_buf out;
	rms__buf_init(&out);
	rms__clixml_writer_init(&w, &out);
	assert_int_equal(rms__clixml_write(&w, v, "a\tb"), 0);
	assert_string_equal(out.data, "<Nil N=\"a_x0009_b\" />");
	rms__clixml_writer_free(&w);
	rms__buf_free(&out);
	rms_value_free(v);
	rms_datetime wild = ts_dt(2024, 1, 2, 3, 4, 5, 0, 0, RMS_TZ_UTC_Z, 0);
	wild.wildcards = RMS_DT_WILD_SECOND;
	assert_int_equal(rms_value_new_datetime(&v, &wild), 0);
	rms__buf_init(&out);
	assert_int_equal(rms__clixml_encode(&out, v), RMS_E_RANGE);
	rms__buf_free(&out);
	rms_value_free(v);
}

/* ---- hostile input ------------------------------------------------------------ */

static void test_hostile_input_fails_cleanly(void **state)
{
	(void)state;
	expect_error("<I32>1</I33>", "not well-formed");
	expect_error("<Foo>1</Foo>", "<Foo>", "unknown");
	expect_error("<Obj RefId=\"0\"><MS><Bar N=\"x\"/></MS></Obj>", "<Bar>");
	expect_error("<I32>12x</I32>", "<I32>", "\"12x\"");
	expect_error("<I32>2147483648</I32>", "<I32>", "2147483648", "out of range");
	expect_error("<I32>-2147483649</I32>", "out of range");
	expect_error("<I32></I32>", "<I32>");
	expect_error("<I32>5.0</I32>", "5.0");
	expect_error("<By>256</By>", "<By>", "256", "out of range");
	expect_error("<By>-0</By>", "<By>", "no sign");
	expect_error("<U64>18446744073709551616</U64>", "out of range");
	expect_error("<C>65536</C>", "<C>");
	expect_error("<C>55297</C>", "surrogate");
	expect_error("<B>True</B>", "<B>", "True");
	expect_error("<Db>1,5</Db>", "<Db>", "1,5");
	expect_error("<D>1e3</D>", "<D>", "1e3");
	expect_error("<D>79228162514264337593543950336</D>", "range");
	expect_error("<D>0.00000000000000000000000000001</D>", "28 digits");
	expect_error("<BA>AQI</BA>", "<BA>", "base64");
	expect_error("<BA>A===</BA>", "<BA>");
	expect_error("<BA>-_8=</BA>", "<BA>");
	expect_error("<G>0f8fad5b-d9cb-469f-a165-70867728950</G>", "<G>", "GUID");
	expect_error("<G>zf8fad5b-d9cb-469f-a165-70867728950e</G>", "<G>");
	expect_error("<Version>1</Version>", "<Version>");
	expect_error("<Version>1.2.3.4.5</Version>", "<Version>");
	expect_error("<Version>1.2147483648</Version>", "2147483647");
	expect_error("<DT>2024-13-01T00:00:00Z</DT>", "<DT>", "2024-13-01");
	expect_error("<DT>2024-02-30T00:00:00Z</DT>", "<DT>");
	expect_error("<DT>2024-01-02T24:00:00Z</DT>", "<DT>");
	expect_error("<DT>0000-01-02T03:04:05Z</DT>", "<DT>");
	expect_error("<DT>2024-01-02T03:04Z</DT>", "<DT>");
	expect_error("<DT>2024-01-02T03:04:05+0100</DT>", "<DT>");
	expect_error("<DT>9999-12-31T23:59:59.99999999Z</DT>", "9999");
	expect_error("<TS>P</TS>", "<TS>");
	expect_error("<TS>PT</TS>", "<TS>");
	expect_error("<TS>P1DT</TS>", "<TS>");
	expect_error("<TS>PT1S2M</TS>", "<TS>");
	expect_error("<TS>P0.5D</TS>", "<TS>");
	expect_error("<TS>PT2147483648S</TS>", "2147483647");
	expect_error("<TS>P10675200D</TS>", "range");
	expect_error("<Ref RefId=\"7\" />", "<Ref>", "RefId \"7\"");
	expect_error("<Ref />", "<Ref>", "RefId");
	expect_error("<Obj RefId=\"0\"><TNRef RefId=\"3\" /></Obj>", "<TNRef>", "RefId \"3\"");
	expect_error("<Obj RefId=\"0\"><TN RefId=\"0\"><T>A</T><X/></TN></Obj>", "<X>");
	expect_error("<S>_xD801_</S>", "<S>", "surrogate");
	expect_error("<S>_xDC37__xD801_</S>", "surrogate");
	expect_error("<S>a_x0000_b</S>", "U+0000");
	expect_error("<Obj><MS><I32 N=\"_xD800_\">1</I32></MS></Obj>", "surrogate");
	expect_error("<S>a<x/>b</S>", "<S>", "<x>");
	expect_error("<Obj RefId=\"0\">text</Obj>", "<Obj>", "text");
	expect_error("<Obj RefId=\"0\"><Nil/></Obj>", "<Nil>");
	expect_error("<Obj RefId=\"0\"><Ref RefId=\"0\"/></Obj>", "<Ref>", "inside <Obj>");
	expect_error("<Obj RefId=\"0\"><Obj RefId=\"1\"/><Obj RefId=\"2\"/></Obj>",
	             "second base value");
	expect_error("<Obj RefId=\"0\"><MS><I32>1</I32></MS></Obj>", "no N attribute");
	expect_error("<Obj RefId=\"0\"><LST/><LST/></Obj>", "second collection");
	expect_error("<Obj RefId=\"0\"><I32>1</I32><S>x</S></Obj>", "second base value");
	expect_error("<Obj RefId=\"0\"><ToString>a</ToString><ToString>b</ToString></Obj>",
	             "second <ToString>");
	expect_error("<Obj RefId=\"0\"><TN><T>a</T></TN><TNRef RefId=\"0\"/></Obj>",
	             "second type-name list");
	expect_error("<Obj RefId=\"0\"><DCT><En><S N=\"Key\">a</S></En></DCT></Obj>", "Value");
	expect_error("<Obj RefId=\"0\"><DCT><En><S N=\"Value\">a</S><S N=\"Key\">k</S></En>"
	             "</DCT></Obj>",
	             "N=\"Key\"");
	expect_error("<Obj RefId=\"0\"><DCT><En><Nil N=\"Key\"/><S N=\"Value\">1</S></En></DCT>"
	             "</Obj>",
	             "null dictionary key");
	expect_error("<Obj RefId=\"0\"><DCT><En><S N=\"Key\">a</S><S N=\"Value\">1</S></En>"
	             "<En><S N=\"Key\">a</S><S N=\"Value\">2</S></En></DCT></Obj>",
	             "duplicate");
	expect_error("<Obj RefId=\"0\"><DCT><X/></DCT></Obj>", "<X>", "<En>");
	expect_error("<Obj RefId=\"0\"><DCT><En><S N=\"Key\">k</S><S N=\"Value\">1</S>"
	             "<S N=\"Other\">1</S></En></DCT></Obj>",
	             "third element");
	expect_error("<LST><I32>1</I32></LST>", "<LST>");
	expect_error("<x:S xmlns:x=\"urn:other\">a</x:S>", "namespace", "urn:other");
	expect_error("<!DOCTYPE S [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>"
	             "<S>&b;</S>",
	             "DOCTYPE");
	expect_error("<!DOCTYPE S SYSTEM \"file:///etc/passwd\"><S>x</S>", "DOCTYPE");
	expect_error("<Obj RefId=\"0\"><MS><I32 N=\"a\">1</I3", "truncated");
	expect_error("<Obj RefId=\"0\"><MS>", "truncated");
	expect_error("<I32>1</I32><I32>2</I32>", "well-formed");
	expect_error("<PR><XX>1</XX></PR>", "<XX>");
	expect_error_lim("", 0, NULL, "empty", NULL);
	expect_error_lim("<S>\xC3</S>", 8, NULL, "UTF-8", NULL);
}

static void test_deep_nesting_is_refused(void **state)
{
	(void)state;
	/* 10,000 levels: libxml2 (256) and the limit (100) refuse it. */
	rms_buf b;
	rms__buf_init(&b);
	for (int i = 0; i < 5000; i++)
		rms__buf_puts(&b, "<Obj><LST>");
	for (int i = 0; i < 5000; i++)
		rms__buf_puts(&b, "</LST></Obj>");
	expect_error_lim(b.data, b.len, NULL, "deeper than the limit", NULL);
	rms__buf_free(&b);
	/* A document 60 levels deep decodes, and fails under a limit of 50. */
	rms__buf_init(&b);
	for (int i = 0; i < 30; i++)
		rms__buf_puts(&b, "<Obj><LST>");
	for (int i = 0; i < 30; i++)
		rms__buf_puts(&b, "</LST></Obj>");
	rms_value *v = decode_len(b.data, b.len);
	rms_value_free(v);
	rms_clixml_limits lim = {.max_depth = 50};
	expect_error_lim(b.data, b.len, &lim, "50", NULL);
	rms__buf_free(&b);
}

/* A Ref to an object still open is cut with a stub of it, however often it
 * comes, as real PowerShell output needs (see clixml.c). */
static void test_cycles_become_stubs(void **state)
{
	(void)state;
	rms_value *v = decode("<Obj RefId=\"0\"><TN RefId=\"0\"><T>A</T><T>System.Object</T></TN>"
	                      "<ToString>me</ToString><LST><Ref RefId=\"0\"/><I32>1</I32>"
	                      "<Obj RefId=\"1\"><MS><Ref N=\"up\" RefId=\"0\"/><Ref N=\"self\" "
	                      "RefId=\"1\"/></MS></Obj></LST></Obj>");
	const rms_psobject *o = obj_of(v);
	assert_int_equal(rms_psobject_length(o), 3);
	const rms_value *first;
	assert_int_equal(rms_psobject_item_at(o, 0, NULL, &first), 0);
	const rms_psobject *stub = obj_of(first);
	assert_int_equal(rms_psobject_type_name_count(stub), 2);
	assert_string_equal(rms_psobject_type_name_at(stub, 0), "A");
	assert_string_equal(rms_psobject_to_string(stub), "me");
	assert_int_equal(rms_psobject_length(stub), 0);
	const rms_value *third;
	assert_int_equal(rms_psobject_item_at(o, 2, NULL, &third), 0);
	const rms_psobject *inner = obj_of(rms_psobject_get(obj_of(third), "self"));
	assert_int_equal(rms_psobject_type_name_count(inner), 0);
	assert_int_equal(rms_psobject_count(inner), 0);
	rms_value_free(v);
	/* Once the object is complete, a Ref is a full copy again. */
	v = decode("<Obj><LST><Obj RefId=\"0\"><MS><Ref N=\"me\" RefId=\"0\"/></MS></Obj>"
	           "<Ref RefId=\"0\"/></LST></Obj>");
	const rms_value *a, *b;
	assert_int_equal(rms_psobject_item_at(obj_of(v), 0, NULL, &a), 0);
	assert_int_equal(rms_psobject_item_at(obj_of(v), 1, NULL, &b), 0);
	assert_true(rms_value_equal(a, b));
	assert_non_null(rms_psobject_get(obj_of(b), "me"));
	rms_value_free(v);
	/* An object wrapping an object (Windows PowerShell's Get-Item output):
	 * the inner one is the base value, and is written back the same way. */
	v = decode("<Obj RefId=\"0\"><TN RefId=\"0\"><T>Outer</T></TN><Obj RefId=\"1\">"
	           "<TNRef RefId=\"0\"/><Props><S N=\"a\">1</S></Props></Obj><MS><S N=\"n\">2</S>"
	           "</MS></Obj>");
	o = obj_of(v);
	const rms_psobject *base = obj_of(rms_psobject_base(o));
	assert_string_equal(text_of(rms_psobject_get(base, "a")), "1");
	assert_string_equal(rms_psobject_type_name_at(base, 0), "Outer");
	assert_roundtrip(v);
	rms_value_free(v);
}

/* Each object names the one before twice: 2^60 values if copied naively. */
static void test_reference_bomb_fails_fast(void **state)
{
	(void)state;
	rms_buf b;
	rms__buf_init(&b);
	rms__buf_puts(&b, "<Obj RefId=\"x\"><LST><Obj RefId=\"0\"><S>0123456789</S></Obj>");
	for (int i = 1; i <= 60; i++)
		rms__buf_printf(&b, "<Obj RefId=\"%d\"><LST><Ref RefId=\"%d\"/><Ref RefId=\"%d\"/>"
		                    "</LST></Obj>",
		                i, i - 1, i - 1);
	rms__buf_puts(&b, "</LST></Obj>");
	double t0 = now_s();
	expect_error_lim(b.data, b.len, NULL, "max_values", "1000000", NULL);
	double dt = now_s() - t0;
	assert_int_equal(rms_error_limit_value(rms_error_last()), 1000000);
	print_message("reference bomb refused after %.3f s\n", dt);
	/* Refused long before the 2^60 copies a bomb asks for: a bound only
	 * a decoder that builds them would miss, wide for a loaded machine. */
	if (timing_meaningful() && dt > 10.0) {
		rms__buf_free(&b);
		fail_msg("the reference bomb took %.2f s to refuse", dt);
	}
	/* A small budget stops it sooner. */
	rms_clixml_limits lim = {.max_values = 1000};
	expect_error_lim(b.data, b.len, &lim, "max_values", NULL);
	/* Big text copied through Refs weighs too: 1 MiB named 1,000 times. */
	rms__buf_free(&b);
	rms__buf_init(&b);
	rms__buf_puts(&b, "<Obj RefId=\"x\"><LST><Obj RefId=\"0\"><S>");
	for (int i = 0; i < 1024 * 1024 / 16; i++)
		rms__buf_puts(&b, "0123456789abcdef");
	rms__buf_puts(&b, "</S></Obj>");
	for (int i = 0; i < 1000; i++)
		rms__buf_puts(&b, "<Ref RefId=\"0\"/>");
	rms__buf_puts(&b, "</LST></Obj>");
	lim.max_values = 100000;
	expect_error_lim(b.data, b.len, &lim, "max_values", NULL);
	rms__buf_free(&b);
	/* Type names copied through TNRef count as values. */
	rms__buf_init(&b);
	rms__buf_puts(&b, "<Obj><LST><Obj><TN RefId=\"0\">");
	for (int i = 0; i < 1000; i++)
		rms__buf_puts(&b, "<T>T</T>");
	rms__buf_puts(&b, "</TN></Obj>");
	for (int i = 0; i < 200; i++)
		rms__buf_puts(&b, "<Obj><TNRef RefId=\"0\"/></Obj>");
	rms__buf_puts(&b, "</LST></Obj>");
	expect_error_lim(b.data, b.len, &lim, "max_values", NULL);
	rms__buf_free(&b);
}

/* ---- speed ------------------------------------------------------------------- */

static void test_large_documents_decode_in_linear_time(void **state)
{
	(void)state;
	/* A 2 MiB string with escapes spread through it. */
	rms_buf b;
	rms__buf_init(&b);
	rms__buf_puts(&b, "<S>");
	for (int i = 0; i < 2 * 1024 * 1024 / 64; i++)
		rms__buf_puts(&b, "abcdefghijklmnopqrstuvwxyz0123456789 _ ABCDEFGHIJKLMNOPQR_x000A_");
	rms__buf_puts(&b, "</S>");
	double t0 = now_s();
	rms_value *v = decode_len(b.data, b.len);
	double t_str = now_s() - t0;
	const char *s;
	assert_int_equal(rms_value_get_string(v, &s), 0);
	assert_int_equal(strlen(s), (size_t)(2 * 1024 * 1024 / 64) * 58);
	char *xml = encode(v);
	assert_int_equal(strlen(xml), b.len);
	free(xml);
	rms_value_free(v);
	rms__buf_free(&b);

	/* A list of 100,000 items, then a dictionary and an object of 100,000
	 * entries and properties (duplicate detection must not be quadratic). */
	rms__buf_init(&b);
	rms__buf_puts(&b, "<Obj RefId=\"0\"><TN RefId=\"0\"><T>System.Object[]</T></TN><LST>");
	for (int i = 0; i < 100000; i++)
		rms__buf_printf(&b, "<I32>%d</I32>", i);
	rms__buf_puts(&b, "</LST></Obj>");
	t0 = now_s();
	v = decode_len(b.data, b.len);
	double t_list = now_s() - t0;
	assert_int_equal(rms_psobject_length(obj_of(v)), 100000);
	t0 = now_s();
	xml = encode(v);
	double t_enc = now_s() - t0;
	assert_int_equal(strlen(xml), b.len);
	free(xml);
	rms_value_free(v);
	rms__buf_free(&b);

	rms__buf_init(&b);
	rms__buf_puts(&b, "<Obj RefId=\"0\"><DCT>");
	for (int i = 0; i < 100000; i++)
		rms__buf_printf(&b, "<En><S N=\"Key\">k%d</S><I32 N=\"Value\">%d</I32></En>", i, i);
	rms__buf_puts(&b, "</DCT><MS>");
	for (int i = 0; i < 100000; i++)
		rms__buf_printf(&b, "<I32 N=\"p%d\">%d</I32>", i, i);
	rms__buf_puts(&b, "<I32 N=\"P5\">-5</I32></MS></Obj>");
	t0 = now_s();
	v = decode_len(b.data, b.len);
	double t_dict = now_s() - t0;
	assert_int_equal(rms_psobject_length(obj_of(v)), 100000);
	assert_int_equal(rms_psobject_count(obj_of(v)), 100000);
	int32_t n = 0;
	assert_int_equal(rms_value_get_sint32(rms_psobject_get(obj_of(v), "p5"), &n), 0);
	assert_int_equal(n, -5);
	rms_value_free(v);
	rms__buf_free(&b);

	print_message("2 MiB string %.3f s, 100,000-item list %.3f s (encode %.3f s), "
	              "100,000 entries + properties %.3f s\n",
	              t_str, t_list, t_enc, t_dict);
	/* Bounds that only a decoder worse than linear misses (quadratic in
	 * 100,000 items is tens of seconds), wide enough for a loaded
	 * machine: the speed itself is bench/'s to measure, not a test's. */
	if (timing_meaningful()) {
		assert_true(t_str < 5.0);
		assert_true(t_list < 5.0);
		assert_true(t_enc < 5.0);
		assert_true(t_dict < 10.0);
	}
}

/* ---- against real PowerShell ---------------------------------------------------- */

static char *find_pwsh(void)
{
	const char *env = getenv("RMS_PWSH");
	if (env && *env)
		return access(env, X_OK) == 0 ? rms__strdup(env) : NULL;
	const char *home = getenv("HOME");
	if (home) {
		char *p = rms__asprintf("%s/.dotnet/tools/pwsh", home);
		if (p && access(p, X_OK) == 0)
			return p;
		free(p);
	}
	const char *path = getenv("PATH");
	for (const char *d = path; d && *d;) {
		size_t n = strcspn(d, ":");
		char *p = rms__asprintf("%.*s/pwsh", (int)n, d);
		if (p && access(p, X_OK) == 0)
			return p;
		free(p);
		d += n + (d[n] == ':');
	}
	return NULL;
}

/* Run pwsh on a script (and an argument); its standard output, or NULL
 * with a failed test. */
static char *run_pwsh(const char *pwsh, const char *script, const char *arg)
{
	/* pwsh -File wants a .ps1 name: the script goes in a fresh directory. */
	char dir[] = "/tmp/rms-clixml-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *spath = rms__asprintf("%s/script.ps1", dir);
	FILE *f = fopen(spath, "w");
	assert_non_null(f);
	fputs(script, f);
	fclose(f);
	char *cmd = rms__asprintf("'%s' -NoLogo -NoProfile -NonInteractive -File '%s' '%s' 2>&1",
	                          pwsh, spath, arg ? arg : "");
	FILE *p = popen(cmd, "r");
	free(cmd);
	assert_non_null(p);
	rms_buf out;
	rms__buf_init(&out);
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
		rms__buf_append(&out, chunk, n);
	int status = pclose(p);
	unlink(spath);
	rmdir(dir);
	free(spath);
	rms__buf_append(&out, "", 0);
	if (status != 0 && getenv("RMS_TEST_KEEP")) {
		FILE *k = fopen("/tmp/rms-clixml-pwsh.out", "w");
		fputs(out.data, k);
		fputs(script, k);
		fclose(k);
	}
	if (status != 0)
		fail_msg("pwsh failed (status %d), its output ends: %s", status,
		         out.data + (out.len > 3000 ? out.len - 3000 : 0));
	return rms__buf_take(&out);
}

/* Structural JSON equality; numbers compare as numbers (to float precision
 * when either side is a real, since real32 values print shorter). */
static bool json_same(json_t *a, json_t *b)
{
	if (json_is_number(a) && json_is_number(b)) {
		if (json_is_integer(a) && json_is_integer(b))
			return json_integer_value(a) == json_integer_value(b);
		double x = json_number_value(a), y = json_number_value(b);
		return x == y || fabs(x - y) <= 1e-7 * fmax(fabs(x), fabs(y));
	}
	if (json_typeof(a) != json_typeof(b))
		return false;
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!json_same(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	}
	if (json_is_object(a)) {
		if (json_object_size(a) != json_object_size(b))
			return false;
		const char *k;
		json_t *va;
		json_object_foreach(a, k, va)
		{
			json_t *vb = json_object_get(b, k);
			if (!vb || !json_same(va, vb))
				return false;
		}
		return true;
	}
	return json_equal(a, b);
}

/* Sections of pwsh's output: "@@CASE name" then the CLIXML, "@@JSON" then
 * one line of JSON (or @@NOJSON), "@@END". */
typedef struct ps_case {
	const char *name;
	const char *expr;      /* PowerShell expression */
	int type;              /* expected rms_type of the decoded value; -1: expect an error */
	bool json;             /* compare rms_value_to_json with ConvertTo-Json */
	const char *text;      /* expected rms_value_to_text, or NULL */
} ps_case;

static const ps_case ps_cases[] = {
	{"char", "[char]'A'", RMS_TYPE_CHAR16, true, "A"},
	{"char_ctrl", "[char]0x1F", RMS_TYPE_CHAR16, true, NULL},
	{"byte", "[byte]200", RMS_TYPE_UINT8, true, "200"},
	{"sbyte", "[sbyte]-5", RMS_TYPE_SINT8, true, "-5"},
	{"int16", "[int16]-300", RMS_TYPE_SINT16, true, "-300"},
	{"uint16", "[uint16]65535", RMS_TYPE_UINT16, true, "65535"},
	{"int", "[int]::MinValue", RMS_TYPE_SINT32, true, "-2147483648"},
	{"uint32", "[uint32]4000000000", RMS_TYPE_UINT32, true, "4000000000"},
	{"long", "[long]::MinValue", RMS_TYPE_SINT64, true, "-9223372036854775808"},
	{"uint64", "[uint64]::MaxValue", RMS_TYPE_UINT64, false, "18446744073709551615"},
	{"float", "[float]0.1", RMS_TYPE_REAL32, true, "0.1"},
	{"double", "[double]0.30000000000000004", RMS_TYPE_REAL64, true, "0.30000000000000004"},
	{"double_inf", "[double]::NegativeInfinity", RMS_TYPE_REAL64, false, "-INF"},
	{"double_nan", "[double]::NaN", RMS_TYPE_REAL64, false, "NaN"},
	{"decimal", "[decimal]::Parse('-12.50', [cultureinfo]::InvariantCulture)",
	 RMS_TYPE_DECIMAL, true, "-12.50"},
	{"decimal_max", "[decimal]::MaxValue", RMS_TYPE_DECIMAL, false,
	 "79228162514264337593543950335"},
	{"dt_utc", "[datetime]::new(2024,1,2,3,4,5,[DateTimeKind]::Utc).AddTicks(1234567)", RMS_TYPE_DATETIME,
	 true, NULL},
	{"dt_local", "[datetime]::new(2024,1,2,3,4,5,[DateTimeKind]::Local).AddTicks(5)", RMS_TYPE_DATETIME,
	 true, NULL},
	{"dt_unspecified", "[datetime]::new(2024,1,2,3,4,5,[DateTimeKind]::Unspecified)", RMS_TYPE_DATETIME,
	 true, NULL},
	{"dt_min", "[datetime]::MinValue", RMS_TYPE_DATETIME, true, NULL},
	{"ts_negative", "[timespan]::new(-1,-2,-3,-4,-5) - [timespan]::FromTicks(7)",
	 RMS_TYPE_TIMESPAN, false, NULL},
	{"ts_positive", "[timespan]::new(10,2,3,4,5)", RMS_TYPE_TIMESPAN, false, NULL},
	{"ts_max", "[timespan]::MaxValue", RMS_TYPE_TIMESPAN, false, NULL},
	{"ts_min", "[timespan]::MinValue", RMS_TYPE_TIMESPAN, false, NULL},
	{"guid", "[guid]'0F8FAD5B-D9CB-469F-A165-70867728950E'", RMS_TYPE_GUID, true,
	 "0f8fad5b-d9cb-469f-a165-70867728950e"},
	{"uri", "[uri]'http://x/y?a=1&b=2'", RMS_TYPE_URI, true, "http://x/y?a=1&b=2"},
	{"version", "[version]'1.2.3.4'", RMS_TYPE_VERSION, false, "1.2.3.4"},
	{"xml", "[xml]'<a b=\"1\">t&amp;u</a>'", RMS_TYPE_XML, false, "<a b=\"1\">t&amp;u</a>"},
	{"scriptblock", "[scriptblock]::Create(\" Get-Item `$x`n| % { `$_ } \")",
	 RMS_TYPE_SCRIPTBLOCK, false,
	 " Get-Item $x\n| % { $_ } "},
	{"bytes", ",[byte[]](0,1,255)", RMS_TYPE_BYTES, true, NULL},
	{"null", "$null", RMS_TYPE_OBJECT, true, "(null)"},
	{"str_ctrl", "\"tab`tnl`ncr`r`u{1}del`u{7f}c1`u{85}nbsp`u{a0}end\"", RMS_TYPE_STRING, true,
	 "tab\tnl\ncr\r\x01" "del\x7f" "c1\xC2\x85nbsp\xC2\xA0" "end"},
	{"str_nonbmp", "\"x`u{10437}y`u{1F600}\"", RMS_TYPE_STRING, true,
	 "x\xF0\x90\x90\xB7y\xF0\x9F\x98\x80"},
	{"str_escapes", "'_x0041_ _X _x005F_ __x <&>\"'''", RMS_TYPE_STRING, true,
	 "_x0041_ _X _x005F_ __x <&>\"'"},
	{"str_spaces", "'  lead and trail  '", RMS_TYPE_STRING, true, "  lead and trail  "},
	{"hashtable", "@{ a = 1; b = 'two'; c = $null; d = @(1, 'x') }", RMS_TYPE_OBJECT, true,
	 NULL},
	{"ordered", "[ordered]@{ z = 1; y = @(1,2); x = @{ n = 'm' }; '3' = 'three' }",
	 RMS_TYPE_OBJECT, true, NULL},
	/* ConvertTo-Json refuses keys that are not strings */
	{"dict_typed_keys", "[ordered]@{ 3 = 'int'; [guid]::Empty = 'guid'; 'x' = 1 }",
	 RMS_TYPE_OBJECT, false, NULL},
	{"nested_arrays", ",@(@(1,2),@(3,@(4,5)),@(),'s')", RMS_TYPE_OBJECT, true, NULL},
	{"pscustomobject",
	 "[pscustomobject]@{ Name='n'; 'odd name`t_x'=1; Inner=[pscustomobject]@{ X=1; "
	 "Y=@('a','b') }; When=[datetime]::new(2020,5,6,7,8,9,[DateTimeKind]::Utc); N=$null }",
	 RMS_TYPE_OBJECT, true, NULL},
	{"enum", "[ConsoleColor]::Red", RMS_TYPE_OBJECT, true, "Red"},
	{"list_generic", ",[System.Collections.Generic.List[int]]@(4,5)", RMS_TYPE_OBJECT, true,
	 NULL},
	{"stack", "$s = [System.Collections.Stack]::new(); $s.Push(1); $s.Push('two'); ,$s",
	 RMS_TYPE_OBJECT, true, NULL},
	{"queue", "$q = [System.Collections.Queue]::new(); $q.Enqueue(1); $q.Enqueue(2); ,$q",
	 RMS_TYPE_OBJECT, true, NULL},
	{"get_date", "Get-Date -Date '2024-01-02T03:04:05Z'", RMS_TYPE_OBJECT, false, NULL},
	{"get_item", "Get-Item -LiteralPath $file", RMS_TYPE_OBJECT, false, NULL},
	{"psversiontable", "$PSVersionTable", RMS_TYPE_OBJECT, false, NULL},
	{"self_reference", "$h = @{ a = 1 }; $h.self = $h; $h", RMS_TYPE_OBJECT, false, NULL},
	{"psdrive_deep", "Get-PSDrive -Name Temp", RMS_TYPE_OBJECT, false, NULL},
	{"str_nul", "\"a`0b\"", -1, false, "U+0000"},
	{"str_lone_surrogate", "\"a$([char]0xD801)b\"", -1, false, "surrogate"},
	{"securestring", "ConvertTo-SecureString -String 'p' -AsPlainText -Force", RMS_TYPE_OBJECT,
	 false, "System.Security.SecureString"},
};

static const char ps_forward_prologue[] =
	"$ErrorActionPreference = 'Stop'\n"
	"$tmp = Join-Path ([IO.Path]::GetTempPath()) ('rms-clixml-' + [guid]::NewGuid())\n"
	"Set-Content -LiteralPath $tmp -Value 'hello' -NoNewline\n"
	"$file = $tmp\n"
	"function Emit([string]$name, [int]$depth, [scriptblock]$make) {\n"
	"  $x = & $make\n"
	"  \"@@CASE $name\"\n"
	"  [System.Management.Automation.PSSerializer]::Serialize($x, $depth)\n"
	"  '@@JSON'\n"
	"  try { ConvertTo-Json -InputObject $x -Depth $depth -Compress -WarningAction Ignore }\n"
	"  catch { '@@NOJSON' }\n"
	"  '@@END'\n"
	"}\n";

/* The text between "@@CASE name\n" and the next marker line. */
static char *section(const char *out, const char *name, const char *marker, const char **after)
{
	char head[128];
	snprintf(head, sizeof head, "@@CASE %s\n", name);
	const char *p = strstr(out, head);
	if (!p)
		return NULL;
	p += strlen(head);
	if (marker) {
		const char *m = strstr(p, marker);
		if (!m)
			return NULL;
		p = m + strlen(marker);
	}
	const char *end = strstr(p, "\n@@");
	if (!end)
		return NULL;
	if (after)
		*after = end + 1;
	return rms__strndup(p, (size_t)(end - p));
}

static void check_forward_case(const ps_case *c, const char *out)
{
	char *xml = section(out, c->name, NULL, NULL);
	if (!xml)
		fail_msg("%s: no CLIXML in pwsh's output:\n%.3000s", c->name, out);
	rms_value *list = NULL;
	char what[128];
	snprintf(what, sizeof what, "pwsh's CLIXML for %s", c->name);
	int rc = rms__clixml_decode_objs(&list, xml, strlen(xml), NULL, what);
	if (c->type < 0) {
		if (rc == 0)
			fail_msg("%s: decoded, expected an error containing \"%s\"", c->name, c->text);
		if (!strstr(rms_error_message(rms_error_last()), c->text))
			fail_msg("%s: error \"%s\" lacks \"%s\"", c->name,
			         rms_error_message(rms_error_last()), c->text);
		free(xml);
		return;
	}
	if (rc)
		fail_msg("%s: %s\n%s", c->name, rms_error_message(rms_error_last()), xml);
	const rms_value *v = NULL;
	assert_int_equal(rms_psobject_length(obj_of(list)), 1);
	assert_int_equal(rms_psobject_item_at(obj_of(list), 0, NULL, &v), 0);
	if ((int)rms_value_type(v) != c->type)
		fail_msg("%s: type %s, expected %s", c->name, rms_type_name(rms_value_type(v)),
		         rms_type_name((rms_type)c->type));
	if (c->text) {
		char *t = NULL;
		assert_int_equal(rms_value_to_text(&t, v), 0);
		if (strcmp(t, c->text) != 0)
			fail_msg("%s: text \"%s\", expected \"%s\"", c->name, t, c->text);
		free(t);
	}
	char *pj = section(out, c->name, "@@JSON\n", NULL);
	assert_non_null(pj);
	if (c->json) {
		char *mine = NULL;
		assert_int_equal(rms_value_to_json(&mine, v), 0);
		json_error_t je;
		json_t *a = json_loads(mine, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
		json_t *b = json_loads(pj, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
		if (!a || !b)
			fail_msg("%s: unparsable JSON: ours %s, pwsh's %s", c->name, mine, pj);
		if (!json_same(a, b))
			fail_msg("%s: JSON differs\n  ours: %s\n  pwsh: %s", c->name, mine, pj);
		json_decref(a);
		json_decref(b);
		free(mine);
	}
	/* Per-case checks of what JSON does not show the same way. */
	json_error_t je;
	json_t *pjson = json_loads(pj, JSON_DECODE_ANY, &je);
	if (strncmp(c->name, "ts_", 3) == 0) {
		int64_t ticks = 0;
		assert_int_equal(rms_value_get_timespan(v, &ticks), 0);
		json_t *jt = json_object_get(pjson, "Ticks");
		assert_non_null(jt);
		if (ticks != (int64_t)json_integer_value(jt))
			fail_msg("%s: %" PRId64 " ticks, pwsh says %" PRId64, c->name, ticks,
			         (int64_t)json_integer_value(jt));
	} else if (strcmp(c->name, "version") == 0) {
		assert_int_equal(json_integer_value(json_object_get(pjson, "Revision")), 4);
	} else if (strcmp(c->name, "double_nan") == 0) {
		double d = 0;
		assert_int_equal(rms_value_get_real64(v, &d), 0);
		assert_true(isnan(d));
	} else if (strcmp(c->name, "enum") == 0) {
		const rms_psobject *o = obj_of(v);
		assert_string_equal(rms_psobject_type_name_at(o, 0), "System.ConsoleColor");
		assert_int_equal(rms_value_type(rms_psobject_base(o)), RMS_TYPE_SINT32);
	} else if (strcmp(c->name, "get_date") == 0) {
		const rms_psobject *o = obj_of(v);
		assert_int_equal(rms_value_type(rms_psobject_base(o)), RMS_TYPE_DATETIME);
		assert_non_null(rms_psobject_get(o, "DisplayHint"));
	} else if (strcmp(c->name, "get_item") == 0) {
		const rms_psobject *o = obj_of(v);
		assert_string_equal(rms_psobject_type_name_at(o, 0), "System.IO.FileInfo");
		int64_t len = 0;
		assert_int_equal(rms_value_as_int64(rms_psobject_get(o, "Length"), &len), 0);
		assert_int_equal(len, 5);
		assert_non_null(strstr(text_of(rms_psobject_get(o, "Name")), "rms-clixml-"));
		assert_int_equal(rms_value_type(rms_psobject_get(o, "LastWriteTimeUtc")),
		                 RMS_TYPE_DATETIME);
	} else if (strcmp(c->name, "dict_typed_keys") == 0) {
		const rms_value *k;
		assert_int_equal(rms_psobject_item_at(obj_of(v), 0, &k, NULL), 0);
		assert_int_equal(rms_value_type(k), RMS_TYPE_SINT32);
		assert_int_equal(rms_psobject_item_at(obj_of(v), 1, &k, NULL), 0);
		assert_int_equal(rms_value_type(k), RMS_TYPE_GUID);
	} else if (strcmp(c->name, "self_reference") == 0) {
		/* The hashtable in itself: a stub with its type names. */
		const rms_value *self = dict_get(v, "self");
		const rms_psobject *so = obj_of(self);
		assert_string_equal(rms_psobject_type_name_at(so, 0), "System.Collections.Hashtable");
		assert_int_equal(rms_psobject_length(so), 0);
		int32_t one = 0;
		assert_int_equal(rms_value_get_sint32(dict_get(v, "a"), &one), 0);
		assert_int_equal(one, 1);
	} else if (strcmp(c->name, "psversiontable") == 0) {
		const rms_value *pv = dict_get(v, "PSVersion");
		assert_int_equal(rms_value_type(pv), RMS_TYPE_OBJECT); /* SemanticVersion */
		assert_non_null(strstr(rms_psobject_to_string(obj_of(pv)), "7."));
	}
	json_decref(pjson);
	free(pj);
	rms_value_free(list);
	free(xml);
}

static void test_decode_what_real_powershell_writes(void **state)
{
	(void)state;
	char *pwsh = find_pwsh();
	if (!pwsh) {
		print_message("SKIPPED: no PowerShell (set RMS_PWSH, or `dotnet tool install "
		              "--global PowerShell --version 7.6.10`)\n");
		skip();
	}
	rms_buf script;
	rms__buf_init(&script);
	rms__buf_puts(&script, ps_forward_prologue);
	rms__buf_puts(&script, "try {\n");
	for (size_t i = 0; i < sizeof ps_cases / sizeof ps_cases[0]; i++)
		/* A FileInfo 10 levels deep takes pwsh more memory than it has;
		 * remoting itself serializes 1 or 2 levels. */
		rms__buf_printf(&script, "Emit '%s' %d { %s }\n", ps_cases[i].name,
		                strcmp(ps_cases[i].name, "get_item") == 0       ? 2
		                : strcmp(ps_cases[i].name, "psdrive_deep") == 0 ? 3
		                                                                : 10,
		                ps_cases[i].expr);
	rms__buf_puts(&script, "} finally { Remove-Item -LiteralPath $tmp }\n");
	rms__buf_append(&script, "", 0);
	char *out = run_pwsh(pwsh, script.data, NULL);
	for (size_t i = 0; i < sizeof ps_cases / sizeof ps_cases[0]; i++)
		check_forward_case(&ps_cases[i], out);
	free(out);
	rms__buf_free(&script);
	free(pwsh);
}

/* What pwsh does with each line of the input file: deserialize it, print
 * the .NET type, serialize it again and convert it to JSON. */
static const char ps_reverse_script[] =
	"$ErrorActionPreference = 'Stop'\n"
	"$i = 0\n"
	"foreach ($l in [IO.File]::ReadAllLines($args[0], [Text.Encoding]::UTF8)) {\n"
	"  \"@@CASE $i\"; $i++\n"
	"  try {\n"
	"    $doc = '<Objs Version=\"1.1.0.1\" "
	"xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">' + $l + '</Objs>'\n"
	"    $v = [System.Management.Automation.PSSerializer]::Deserialize($doc)\n"
	"    if ($null -eq $v) { '@@TYPE null' } else { '@@TYPE ' + $v.GetType().FullName }\n"
	"    '@@CLIXML'\n"
	/* pwsh reads U+FFFE but cannot write it back: then only JSON */
	"    try { [System.Management.Automation.PSSerializer]::Serialize($v, 10) }\n"
	"    catch { '@@NOECHO' }\n"
	"    '@@JSON'\n"
	"    try { ConvertTo-Json -InputObject $v -Depth 10 -Compress -WarningAction Ignore }\n"
	"    catch { '@@NOJSON' }\n"
	"  } catch { '@@ERROR ' + $_.Exception.InnerException.Message + $_.Exception.Message }\n"
	"  '@@END'\n"
	"}\n";

static const char *dotnet_type(const rms_value *v)
{
	if (rms_value_is_null(v))
		return "null";
	switch (rms_value_type(v)) {
	case RMS_TYPE_BOOLEAN: return "System.Boolean";
	case RMS_TYPE_UINT8: return "System.Byte";
	case RMS_TYPE_SINT8: return "System.SByte";
	case RMS_TYPE_UINT16: return "System.UInt16";
	case RMS_TYPE_SINT16: return "System.Int16";
	case RMS_TYPE_UINT32: return "System.UInt32";
	case RMS_TYPE_SINT32: return "System.Int32";
	case RMS_TYPE_UINT64: return "System.UInt64";
	case RMS_TYPE_SINT64: return "System.Int64";
	case RMS_TYPE_REAL32: return "System.Single";
	case RMS_TYPE_REAL64: return "System.Double";
	case RMS_TYPE_CHAR16: return "System.Char";
	case RMS_TYPE_DATETIME: return "System.DateTime";
	case RMS_TYPE_STRING: return "System.String";
	case RMS_TYPE_DECIMAL: return "System.Decimal";
	case RMS_TYPE_GUID: return "System.Guid";
	case RMS_TYPE_TIMESPAN: return "System.TimeSpan";
	case RMS_TYPE_VERSION: return "System.Version";
	case RMS_TYPE_URI: return "System.Uri";
	case RMS_TYPE_XML: return "System.Xml.XmlDocument";
	case RMS_TYPE_SCRIPTBLOCK: return "System.String"; /* PowerShell deserializes it so */
	case RMS_TYPE_BYTES: return "System.Byte[]";
	default: return NULL; /* objects: checked through JSON */
	}
}

static void check_reverse_case(size_t i, const rms_value *orig, const char *xml, const char *out)
{
	char name[32];
	snprintf(name, sizeof name, "%zu", i);
	char head[64];
	snprintf(head, sizeof head, "@@CASE %zu\n", i);
	const char *p = strstr(out, head);
	if (!p)
		fail_msg("case %zu: missing from pwsh's output", i);
	p += strlen(head);
	if (strncmp(p, "@@ERROR", 7) == 0)
		fail_msg("case %zu: pwsh could not read it: %.*s\n  sent: %.3000s", i,
		         (int)strcspn(p, "\n"), p, xml);
	assert_true(strncmp(p, "@@TYPE ", 7) == 0);
	p += 7;
	size_t tl = strcspn(p, "\n");
	const char *want = dotnet_type(orig);
	if (want && (strlen(want) != tl || strncmp(p, want, tl) != 0))
		fail_msg("case %zu: pwsh read %s as %.*s, expected %s", i, xml, (int)tl, p, want);
	char *back_xml = section(out, name, "@@CLIXML\n", NULL);
	assert_non_null(back_xml);
	if (strcmp(back_xml, "@@NOECHO") == 0) {
		char *pj = section(out, name, "@@JSON\n", NULL);
		char *mine = NULL;
		assert_int_equal(rms_value_to_json(&mine, orig), 0);
		json_error_t je;
		json_t *a = json_loads(mine, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
		json_t *b = pj ? json_loads(pj, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je) : NULL;
		if (!a || !b || !json_same(a, b))
			fail_msg("case %zu: sent %s\n  ours: %s\n  pwsh: %s", i, xml, mine,
			         pj ? pj : "(none)");
		json_decref(a);
		json_decref(b);
		free(mine);
		free(pj);
		free(back_xml);
		return;
	}
	rms_value *list = NULL;
	if (rms__clixml_decode_objs(&list, back_xml, strlen(back_xml), NULL, "pwsh's echo"))
		fail_msg("case %zu: %s", i, rms_error_message(rms_error_last()));
	const rms_value *back = NULL;
	assert_int_equal(rms_psobject_item_at(obj_of(list), 0, NULL, &back), 0);
	rms_type t = rms_value_type(orig);
	if (rms_value_is_null(orig)) {
		assert_true(rms_value_is_null(back));
	} else if (t == RMS_TYPE_SCRIPTBLOCK) {
		assert_string_equal(text_of(back), text_of(orig));
	} else if (t == RMS_TYPE_XML) {
		/* pwsh re-serializes its XmlDocument's OuterXml */
		assert_int_equal(rms_value_type(back), RMS_TYPE_XML);
		assert_string_equal(text_of(back), text_of(orig));
	} else if (t != RMS_TYPE_OBJECT) {
		if (!rms_value_equal(orig, back)) {
			char *a = NULL, *b = NULL;
			rms_value_to_text(&a, orig);
			rms_value_to_text(&b, back);
			fail_msg("case %zu: sent %s (%s), pwsh echoed %s (%.300s)", i, a, xml, b, back_xml);
		}
	} else {
		/* Objects come back with PowerShell's own type names; what they
		 * hold must be the same. */
		char *a = NULL, *b = NULL;
		assert_int_equal(rms_value_to_json(&a, orig), 0);
		assert_int_equal(rms_value_to_json(&b, back), 0);
		json_error_t je;
		json_t *ja = json_loads(a, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
		json_t *jb = json_loads(b, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
		if (!ja || !jb || !json_same(ja, jb))
			fail_msg("case %zu:\n  ours: %s\n  echo: %s\n  sent: %.500s", i, a, b, xml);
		json_decref(ja);
		json_decref(jb);
		free(a);
		free(b);
	}
	rms_value_free(list);
	free(back_xml);
}

static void test_real_powershell_reads_what_we_write(void **state)
{
	(void)state;
	char *pwsh = find_pwsh();
	if (!pwsh) {
		print_message("SKIPPED: no PowerShell (set RMS_PWSH, or `dotnet tool install "
		              "--global PowerShell --version 7.6.10`)\n");
		skip();
	}
	size_t n;
	rms_value **sc = all_scalars(&n);
	/* and objects: a hashtable, a list, a custom object, an enum-like one */
	rms_value **v = calloc(n + 8, sizeof *v);
	memcpy(v, sc, n * sizeof *v);
	free(sc);
	rms_value *rich = rich_object();
	const rms_psobject *ro = obj_of(rich);
	const char *pick[] = {"list0", "list1", "list2", "list3", "enum"};
	for (size_t k = 0; k < 5; k++)
		assert_int_equal(rms_value_dup(&v[n++], rms_psobject_get(ro, pick[k])), 0);
	/* A hashtable keyed by every scalar pwsh can write back and whose text
	 * (the JSON key) is unique. */
	rms_psobject *dct = NULL;
	assert_int_equal(rms_psobject_new(&dct), 0);
	assert_int_equal(rms_psobject_add_type_name(dct, "System.Collections.Hashtable"), 0);
	assert_int_equal(rms_psobject_set_collection(dct, RMS_PS_COLLECTION_DICTIONARY), 0);
	size_t nk;
	rms_value **keys = all_scalars(&nk);
	rms_buf seen;
	rms__buf_init(&seen);
	rms__buf_puts(&seen, "\n");
	for (size_t i = 0; i < nk; i++) {
		char *t = NULL;
		assert_int_equal(rms_value_to_text(&t, keys[i]), 0);
		char *probe = rms__asprintf("\n%s\n", t);
		/* (a datetime with an offset comes back in pwsh's own zone: the
		 * same instant, another text) */
		rms_datetime kdt;
		bool shifts = rms_value_get_datetime(keys[i], &kdt) == 0 &&
		              kdt.tz_form == RMS_TZ_OFFSET;
		bool skip_key = rms_value_is_null(keys[i]) || strstr(t, "\xEF\xBF\xBE") ||
		                strstr(seen.data, probe) || shifts;
		if (!skip_key) {
			rms__buf_printf(&seen, "%s\n", t);
			assert_int_equal(rms_psobject_append_entry(dct, keys[i], i32_v((int32_t)i)), 0);
			keys[i] = NULL;
		}
		free(probe);
		free(t);
	}
	rms__buf_free(&seen);
	free_all(keys, nk);
	v[n++] = obj_v(dct);
	rms_psobject *pso = NULL;
	assert_int_equal(rms_psobject_new(&pso), 0);
	assert_int_equal(rms_psobject_set(pso, "plain", i32_v(1), RMS_PS_PROP_EXTENDED), 0);
	/* (the public setter refuses a tab in a name; decoded ones may have it) */
	assert_int_equal(rms__psobject_set_take(pso, rms__strdup("odd name\t_x0041_ <&>\xF0\x90\x90\xB7"),
	                                        str_v("v\n"), RMS_PS_PROP_EXTENDED),
	                 0);
	rms_value *nested = NULL;
	assert_int_equal(rms_value_dup(&nested, v[n - 1]), 0);
	assert_int_equal(rms_psobject_set(pso, "nested", nested, RMS_PS_PROP_EXTENDED), 0);
	v[n++] = obj_v(pso);
	rms_value_free(rich);

	char ipath[] = "/tmp/rms-clixml-in-XXXXXX";
	int fd = mkstemp(ipath);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	char **xml = calloc(n, sizeof *xml);
	for (size_t i = 0; i < n; i++) {
		xml[i] = encode(v[i]);
		assert_null(strchr(xml[i], '\n')); /* one line each */
		fprintf(f, "%s\n", xml[i]);
	}
	fclose(f);
	char *out = run_pwsh(pwsh, ps_reverse_script, ipath);
	unlink(ipath);
	for (size_t i = 0; i < n; i++)
		check_reverse_case(i, v[i], xml[i], out);
	free(out);
	for (size_t i = 0; i < n; i++)
		free(xml[i]);
	free(xml);
	free_all(v, n);
	free(pwsh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_recorded_pypsrp_message_decodes),
		cmocka_unit_test(test_securestring_is_opaque),
		cmocka_unit_test(test_application_private_data_has_psversion_5_1),
		cmocka_unit_test(test_runspacepool_state_is_an_int32),
		cmocka_unit_test(test_init_runspacepool_enums_and_nil),
		cmocka_unit_test(test_recorded_surrogate_pair_joins),
		cmocka_unit_test(test_export_clixml_samples_decode),
		cmocka_unit_test(test_every_recorded_pwsh_7_6_message_decodes),
		cmocka_unit_test(test_primitives_decode_to_typed_values),
		cmocka_unit_test(test_timespan_is_xs_duration_in_ticks),
		cmocka_unit_test(test_datetime_kinds),
		cmocka_unit_test(test_object_parts),
		cmocka_unit_test(test_decode_objs_document),
		cmocka_unit_test(test_escape_as_powershell_writes),
		cmocka_unit_test(test_unescape_keeps_what_is_not_an_escape),
		cmocka_unit_test(test_roundtrip_every_scalar),
		cmocka_unit_test(test_roundtrip_nested_objects),
		cmocka_unit_test(test_cim_types_written_as_powershell_sees_them),
		cmocka_unit_test(test_hostile_input_fails_cleanly),
		cmocka_unit_test(test_deep_nesting_is_refused),
		cmocka_unit_test(test_cycles_become_stubs),
		cmocka_unit_test(test_reference_bomb_fails_fast),
		cmocka_unit_test(test_large_documents_decode_in_linear_time),
		cmocka_unit_test(test_decode_what_real_powershell_writes),
		cmocka_unit_test(test_real_powershell_reads_what_we_write),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
