/*
 * The runspace pool and its pipelines without I/O (psremote/psrp_pool.c):
 * what the client sends, checked by decoding it; what real PowerShell
 * 7.6.10 sent back, fed in from the recordings in
 * ../shared/fixtures/pwsh-7.6.10-ssh (traffic between a real PowerShell
 * 7.6.10 client and server over SSH), with the recorded pipeline ids
 * replaced by the ids of this client's pipelines; and hostile or broken
 * server messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "psremote/clixml.h"
#include "fixture.h"
#include "remsess/remsess.h"
#include "psremote/psrp_oop.h"
#include "psremote/psrp_pool.h"
#include "psremote/psrp_wire.h"

#define FIX "pwsh-7.6.10-ssh/"

/* ---- reading a recording ----------------------------------------------------- */

struct msg {
	uint32_t type;
	rms_guid pid;
	char *xml;
	size_t len;
};

struct msgs {
	struct msg *m;
	size_t n;
};

static void msgs_free(struct msgs *ms)
{
	for (size_t i = 0; i < ms->n; i++)
		free(ms->m[i].xml);
	free(ms->m);
	ms->m = NULL;
	ms->n = 0;
}

/* Every message the server wrote in a recording (its .out file). */
static struct msgs server_messages(const char *name)
{
	char path[256];
	snprintf(path, sizeof path, FIX "%s.out", name);
	size_t len = 0;
	char *data = rms_fixture(path, &len);
	assert_non_null(data);
	rms_oop_lines lines;
	rms__oop_lines_init(&lines, 1u << 20);
	assert_int_equal(rms__oop_lines_feed(&lines, data, len), 0);
	rms_psrp_defrag *d;
	assert_int_equal(rms__psrp_defrag_new(&d, UINT64_MAX), 0);
	struct msgs out = { 0 };
	const char *line;
	size_t ll;
	while (rms__oop_lines_next(&lines, &line, &ll) == 0) {
		rms_oop_packet pk;
		memset(&pk, 0, sizeof pk);
		if (rms__oop_parse(&pk, line, ll) != 0)
			continue; /* the last line: the server's __NamedPipeError__ */
		if (pk.kind == RMS_OOP_DATA) {
			assert_int_equal(rms__psrp_defrag_feed(d, pk.data, pk.len), 0);
			unsigned char *m;
			size_t ml;
			while (rms__psrp_defrag_next(d, &m, &ml) == 0) {
				rms_psrp_message msg;
				assert_int_equal(rms__psrp_message_unpack(&msg, m, ml), 0);
				out.m = realloc(out.m, (out.n + 1) * sizeof *out.m);
				struct msg *x = &out.m[out.n++];
				x->type = msg.type;
				x->pid = msg.pid;
				x->xml = malloc(msg.len + 1);
				memcpy(x->xml, msg.data, msg.len);
				x->xml[msg.len] = '\0';
				x->len = msg.len;
				free(m);
			}
		}
		rms__oop_packet_clear(&pk);
	}
	rms__psrp_defrag_free(d);
	rms__oop_lines_free(&lines);
	free(data);
	return out;
}

static rms_guid guid_of(const char *text)
{
	rms_guid g;
	assert_int_equal(rms__guid_parse(&g, text, strlen(text), "test"), 0);
	return g;
}

/* Feed one server message, for pid (the pool when NULL), as fragments. */
static int feed_as(rms_psrp_pool *p, uint32_t type, const rms_guid *pid, const char *xml,
                   size_t len)
{
	static const rms_guid zero;
	rms_buf m, f;
	rms__buf_init(&m);
	rms__buf_init(&f);
	assert_int_equal(rms__psrp_message_pack(&m, RMS_PSRP_DEST_CLIENT, type,
	                                        rms__psrp_pool_id(p), pid ? pid : &zero, xml, len),
	                 0);
	rms_psrp_fragmenter fr;
	rms__psrp_fragmenter_init(&fr, RMS_PSRP_OOP_FRAGMENT_MAX);
	fr.next_object_id = 1000;
	assert_int_equal(rms__psrp_fragment(&fr, &f, m.data, m.len, NULL), 0);
	int rc = rms__psrp_pool_feed(p, f.data, f.len);
	rms__buf_free(&m);
	rms__buf_free(&f);
	return rc;
}

/* Feed the recording's messages for recorded pipeline `from` (all pool
 * messages when from is NULL) as messages of pipeline `to`. */
static void replay(rms_psrp_pool *p, const struct msgs *ms, const char *from, const rms_guid *to)
{
	rms_guid g = from ? guid_of(from) : (rms_guid){ { 0 } };
	for (size_t i = 0; i < ms->n; i++) {
		if (!rms__guid_equal(&ms->m[i].pid, &g))
			continue;
		if (!from && ms->m[i].type == RMS_PSRP_RUNSPACEPOOL_STATE &&
		    strstr(ms->m[i].xml, ">2<") == NULL)
			continue; /* the pool's Closing and Closed at the end */
		assert_int_equal(feed_as(p, ms->m[i].type, to, ms->m[i].xml, ms->m[i].len), 0);
	}
}

/* ---- what the client sends ----------------------------------------------------- */

struct sent {
	uint32_t type[16];
	char *xml[16];
	size_t n;
};

static void sent_free(struct sent *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->xml[i]);
	s->n = 0;
}

static void unpack_sent(const rms_psrp_send *snd, struct sent *out)
{
	rms_psrp_defrag *d;
	assert_int_equal(rms__psrp_defrag_new(&d, UINT64_MAX), 0);
	assert_int_equal(rms__psrp_defrag_feed(d, snd->data.data, snd->data.len), 0);
	unsigned char *m;
	size_t ml;
	while (rms__psrp_defrag_next(d, &m, &ml) == 0) {
		rms_psrp_message msg;
		assert_int_equal(rms__psrp_message_unpack(&msg, m, ml), 0);
		assert_int_equal(msg.destination, RMS_PSRP_DEST_SERVER);
		assert_true(out->n < 16);
		out->type[out->n] = msg.type;
		/* msg.data is not NUL-terminated: copy exactly its bytes. */
		out->xml[out->n] = malloc(msg.len + 1);
		assert_non_null(out->xml[out->n]);
		memcpy(out->xml[out->n], msg.data, msg.len);
		out->xml[out->n][msg.len] = '\0';
		out->n++;
		free(m);
	}
	rms__psrp_defrag_free(d);
}

static rms_value *decode_ok(const char *xml)
{
	if (getenv("SHOWXML"))
		fprintf(stderr, "XML: %s\n", xml);
	rms_value *v = NULL;
	if (rms__clixml_decode(&v, xml, strlen(xml), NULL, "test"))
		fail_msg("the client's CLIXML does not decode: %s\n%s",
		         rms_error_message(rms_error_last()), xml);
	return v;
}

static const rms_value *get(const rms_value *v, const char *name)
{
	const rms_psobject *o = NULL;
	assert_int_equal(rms_value_get_object(v, &o), 0);
	const rms_value *x = rms_psobject_get(o, name);
	if (!x) {
		char *t = NULL;
		rms_value_to_json(&t, v);
		fail_msg("no property %s in %s", name, t);
		(void)0;
	}
	return x;
}

static int64_t get_int(const rms_value *v, const char *name)
{
	const rms_value *x = get(v, name);
	const rms_psobject *o = NULL;
	if (rms_value_get_object(x, &o) == 0 && o)
		x = rms_psobject_base(o);
	int64_t n = 0;
	assert_int_equal(rms_value_as_int64(x, &n), 0);
	return n;
}

static rms_psrp_pool *new_pool(uint64_t max_object)
{
	rms_psrp_pool_config cfg = { .max_fragment = RMS_PSRP_OOP_FRAGMENT_MAX,
		                     .max_object = max_object };
	rms_psrp_pool *p;
	assert_int_equal(rms__psrp_pool_new(&p, &cfg), 0);
	return p;
}

/* A pool opened with the server's answer recorded in conversation 01. */
static rms_psrp_pool *opened_pool(uint64_t max_object)
{
	rms_psrp_pool *p = new_pool(max_object);
	assert_int_equal(rms__psrp_pool_open(p), 0);
	rms_psrp_send snd;
	while (rms__psrp_pool_take(p, &snd) == 0)
		rms__psrp_send_clear(&snd);
	struct msgs ms = server_messages("01-a-range");
	replay(p, &ms, NULL, NULL);
	msgs_free(&ms);
	assert_int_equal(rms__psrp_pool_state(p), RMS_PSRP_POOL_OPENED);
	return p;
}

static rms_psrp_pipeline *script_pipeline(rms_psrp_pool *p, const char *script, bool input)
{
	rms_psrp_command c = { .text = script, .is_script = true };
	rms_psrp_pipeline_spec spec = { &c, 1, input };
	rms_psrp_pipeline *pl;
	assert_int_equal(rms__psrp_pipeline_new(&pl, p, &spec), 0);
	return pl;
}

static void drop_sends(rms_psrp_pool *p)
{
	rms_psrp_send snd;
	while (rms__psrp_pool_take(p, &snd) == 0)
		rms__psrp_send_clear(&snd);
}

/* ---- tests --------------------------------------------------------------------- */

static void test_open_sends_capability_and_init(void **state)
{
	(void)state;
	rms_psrp_pool *p = new_pool(UINT64_MAX);
	assert_int_equal(rms__psrp_pool_state(p), RMS_PSRP_POOL_OPENING);
	assert_int_equal(rms__psrp_pool_open(p), 0);
	rms_psrp_send snd;
	assert_int_equal(rms__psrp_pool_take(p, &snd), 0);
	assert_int_equal(snd.kind, RMS_PSRP_SEND_DATA);
	assert_true(rms__guid_is_zero(&snd.guid));
	/* Both in one Data packet, as PowerShell's client sends them. */
	assert_int_equal(rms__psrp_pool_take(p, &(rms_psrp_send){ 0 }), RMS_ITEROVER);
	struct sent s = { 0 };
	unpack_sent(&snd, &s);
	rms__psrp_send_clear(&snd);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.type[0], RMS_PSRP_SESSION_CAPABILITY);
	assert_int_equal(s.type[1], RMS_PSRP_INIT_RUNSPACEPOOL);
	rms_value *cap = decode_ok(s.xml[0]);
	const char *t;
	assert_int_equal(rms_value_get_text(get(cap, "protocolversion"), &t), 0);
	assert_string_equal(t, "2.3");
	assert_int_equal(rms_value_type(get(cap, "SerializationVersion")), RMS_TYPE_VERSION);
	rms_value_free(cap);
	rms_value *init = decode_ok(s.xml[1]);
	assert_int_equal(get_int(init, "MinRunspaces"), 1);
	assert_int_equal(get_int(init, "MaxRunspaces"), 1);
	assert_int_equal(get_int(init, "ApartmentState"), 2);
	bool b = false;
	assert_int_equal(rms_value_get_boolean(get(get(init, "HostInfo"), "_isHostNull"), &b), 0);
	assert_true(b);
	rms_value_free(init);
	sent_free(&s);
	rms__psrp_pool_free(p);
}

static void test_open_with_recorded_answer(void **state)
{
	(void)state;
	rms_psrp_pool *p = opened_pool(UINT64_MAX);
	assert_string_equal(rms__psrp_pool_server_protocol(p), "2.4");
	assert_non_null(rms__psrp_pool_private_data(p));
	rms__psrp_pool_free(p);
}

static void test_create_pipeline_message(void **state)
{
	(void)state;
	rms_psrp_pool *p = opened_pool(UINT64_MAX);
	rms_value *arg;
	assert_int_equal(rms_value_new_string(&arg, "C:\\x"), 0);
	rms_psrp_param params[] = { { "Path", arg }, { "Force", NULL } };
	rms_psrp_command cmds[] = {
		{ .text = "Get-ChildItem", .params = params, .nparams = 2, .merge_errors = true },
		{ .text = "Select-Object" },
	};
	rms_psrp_pipeline_spec spec = { cmds, 2, false };
	rms_psrp_pipeline *pl;
	assert_int_equal(rms__psrp_pipeline_new(&pl, p, &spec), 0);
	rms_value_free(arg);
	rms_psrp_send snd;
	assert_int_equal(rms__psrp_pool_take(p, &snd), 0);
	assert_int_equal(snd.kind, RMS_PSRP_SEND_CREATE);
	assert_true(rms__guid_equal(&snd.guid, rms__psrp_pipeline_id(pl)));
	struct sent s = { 0 };
	unpack_sent(&snd, &s);
	rms__psrp_send_clear(&snd);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.type[0], RMS_PSRP_CREATE_PIPELINE);
	rms_value *v = decode_ok(s.xml[0]);
	bool b = false;
	assert_int_equal(rms_value_get_boolean(get(v, "NoInput"), &b), 0);
	assert_true(b);
	const rms_value *cv = get(get(v, "PowerShell"), "Cmds");
	const rms_psobject *list = NULL;
	assert_int_equal(rms_value_get_object(cv, &list), 0);
	assert_int_equal(rms_psobject_length(list), 2);
	const rms_value *c0 = NULL;
	assert_int_equal(rms_psobject_item_at(list, 0, NULL, &c0), 0);
	const char *t;
	assert_int_equal(rms_value_get_text(get(c0, "Cmd"), &t), 0);
	assert_string_equal(t, "Get-ChildItem");
	assert_int_equal(get_int(c0, "MergeMyResult"), 2);
	assert_int_equal(get_int(c0, "MergeToResult"), 1);
	const rms_psobject *args = NULL;
	assert_int_equal(rms_value_get_object(get(c0, "Args"), &args), 0);
	assert_int_equal(rms_psobject_length(args), 2);
	const rms_value *a1 = NULL;
	assert_int_equal(rms_psobject_item_at(args, 1, NULL, &a1), 0);
	assert_int_equal(rms_value_get_text(get(a1, "N"), &t), 0);
	assert_string_equal(t, "Force");
	assert_int_equal(rms_value_get_boolean(get(a1, "V"), &b), 0);
	assert_true(b);
	rms_value_free(v);
	sent_free(&s);
	rms__psrp_pipeline_free(pl);
	/* Freeing an unfinished pipeline stops and closes it. */
	assert_int_equal(rms__psrp_pool_take(p, &snd), 0);
	assert_int_equal(snd.kind, RMS_PSRP_SEND_STOP);
	rms__psrp_send_clear(&snd);
	assert_int_equal(rms__psrp_pool_take(p, &snd), 0);
	assert_int_equal(snd.kind, RMS_PSRP_SEND_CLOSE_PIPELINE);
	rms__psrp_send_clear(&snd);
	rms__psrp_pool_free(p);
}

static void test_recorded_range(void **state)
{
	(void)state;
	rms_psrp_pool *p = opened_pool(UINT64_MAX);
	rms_psrp_pipeline *pl = script_pipeline(p, "1..3", false);
	drop_sends(p);
	struct msgs ms = server_messages("01-a-range");
	replay(p, &ms, "d5a50d91-c38e-4abd-83f5-60661ffce4c0", rms__psrp_pipeline_id(pl));
	msgs_free(&ms);
	rms_psrp_event ev;
	for (int i = 1; i <= 3; i++) {
		assert_int_equal(rms__psrp_pipeline_next(pl, &ev), 0);
		assert_false(ev.done);
		assert_int_equal(ev.stream, RMS_PS_OUTPUT);
		int32_t n;
		assert_int_equal(rms_value_get_sint32(ev.value, &n), 0);
		assert_int_equal(n, i);
		rms__psrp_event_clear(&ev);
	}
	assert_int_equal(rms__psrp_pipeline_next(pl, &ev), 0);
	assert_true(ev.done);
	assert_int_equal(ev.state, RMS_PSRP_PIPELINE_COMPLETED);
	rms__psrp_event_clear(&ev);
	assert_int_equal(rms__psrp_pipeline_next(pl, &ev), RMS_ITEROVER);
	rms__psrp_pipeline_free(pl);
	rms__psrp_pool_free(p);
}

static void test_recorded_streams(void **state)
{
	(void)state;
	rms_psrp_pool *p = opened_pool(UINT64_MAX);
	rms_psrp_pipeline *pl = script_pipeline(p, "streams", false);
	drop_sends(p);
	struct msgs ms = server_messages("02-b-streams");
	replay(p, &ms, "5390f4cb-4409-4723-b716-1bfabf05b2b5", rms__psrp_pipeline_id(pl));
	msgs_free(&ms);
	/* Host calls with call id -100 need no answer: the one send is the
	 * pipeline's close, queued when its end arrived (as PowerShell's
	 * client closes a finished pipeline). */
	rms_psrp_send snd;
	assert_int_equal(rms__psrp_pool_take(p, &snd), 0);
	assert_int_equal(snd.kind, RMS_PSRP_SEND_CLOSE_PIPELINE);
	assert_true(rms__guid_equal(&snd.guid, rms__psrp_pipeline_id(pl)));
	rms__psrp_send_clear(&snd);
	assert_false(rms__psrp_pool_has_sends(p));
	const rms_ps_stream want[] = { RMS_PS_OUTPUT,  RMS_PS_ERROR,       RMS_PS_WARNING,
		                       RMS_PS_VERBOSE, RMS_PS_DEBUG,       RMS_PS_INFORMATION,
		                       RMS_PS_INFORMATION, RMS_PS_PROGRESS, RMS_PS_PROGRESS,
		                       RMS_PS_OUTPUT };
	const char *msg[] = { NULL, "error-1", "warning-1", "verbose-1", "debug-1",
		              "information-1", "host-1", "activity-1", "activity-1", NULL };
	rms_psrp_event ev;
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		assert_int_equal(rms__psrp_pipeline_next(pl, &ev), 0);
		assert_false(ev.done);
		if (ev.stream != want[i])
			fail_msg("event %zu is on %s, expected %s", i, rms_ps_stream_name(ev.stream),
			         rms_ps_stream_name(want[i]));
		if (msg[i])
			assert_string_equal(rms_ps_record_message(ev.value), msg[i]);
		rms__psrp_event_clear(&ev);
	}
	assert_int_equal(rms__psrp_pipeline_next(pl, &ev), 0);
	assert_true(ev.done);
	rms__psrp_event_clear(&ev);
	rms__psrp_pipeline_free(pl);
	rms__psrp_pool_free(p);
}

static void test_recorded_stop(void **state)
{
	(void)state;
	rms_psrp_pool *p = opened_pool(UINT64_MAX);
	rms_psrp_pipeline *pl = script_pipeline(p, "slow", false);
	drop_sends(p);
	assert_int_equal(rms__psrp_pipeline_stop(pl), 0);
	rms_psrp_send snd;
	assert_int_equal(rms__psrp_pool_take(p, &snd), 0);
	assert_int_equal(snd.kind, RMS_PSRP_SEND_STOP);
	rms__psrp_send_clear(&snd);
	struct msgs ms = server_messages("05-e-stop");
	replay(p, &ms, "6e3aedd2-0d9a-4ddd-b789-a89e59a6ce36", rms__psrp_pipeline_id(pl));
	msgs_free(&ms);
	rms_psrp_event ev;
	int rc;
	size_t outputs = 0;
	while ((rc = rms__psrp_pipeline_next(pl, &ev)) == 0 && !ev.done) {
		outputs++;
		rms__psrp_event_clear(&ev);
	}
	assert_int_equal(rc, 0);
	assert_true(outputs > 0);
	assert_int_equal(ev.state, RMS_PSRP_PIPELINE_STOPPED);
	assert_non_null(ev.value); /* the PipelineStoppedException's record */
	assert_non_null(ev.message);
	rms__psrp_event_clear(&ev);
	rms__psrp_pipeline_free(pl);
	rms__psrp_pool_free(p);
}

static void test_recorded_big_object_and_cap(void **state)
{
	(void)state;
	struct msgs ms = server_messages("06-f-big");
	rms_psrp_pool *p = opened_pool(UINT64_MAX);
	rms_psrp_pipeline *pl = script_pipeline(p, "big", false);
	drop_sends(p);
	/* Find the user's pipeline: the one with a PIPELINE_OUTPUT. */
	const char *big = NULL;
	char id[37];
	for (size_t i = 0; i < ms.n; i++)
		if (ms.m[i].type == RMS_PSRP_PIPELINE_OUTPUT) {
			rms__guid_format(&ms.m[i].pid, id);
			big = id;
		}
	assert_non_null(big);
	replay(p, &ms, big, rms__psrp_pipeline_id(pl));
	rms_psrp_event ev;
	assert_int_equal(rms__psrp_pipeline_next(pl, &ev), 0);
	const char *t;
	assert_int_equal(rms_value_get_string(ev.value, &t), 0);
	assert_int_equal(strlen(t), 2u << 20);
	rms__psrp_event_clear(&ev);
	rms__psrp_pipeline_free(pl);
	rms__psrp_pool_free(p);

	/* Over MaximumReceivedObjectSize: a limit error, the pool Broken, the
	 * pipeline failed with the reason. */
	p = opened_pool(1u << 20);
	pl = script_pipeline(p, "big", false);
	drop_sends(p);
	rms_guid g = guid_of(big);
	int rc = 0;
	for (size_t i = 0; i < ms.n && rc == 0; i++)
		if (rms__guid_equal(&ms.m[i].pid, &g))
			rc = feed_as(p, ms.m[i].type, rms__psrp_pipeline_id(pl), ms.m[i].xml,
			             ms.m[i].len);
	assert_int_equal(rc, RMS_E_LIMIT);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "MaximumReceivedObjectSize"));
	assert_int_equal(rms__psrp_pool_state(p), RMS_PSRP_POOL_BROKEN);
	assert_int_equal(rms__psrp_pipeline_next(pl, &ev), 0);
	assert_true(ev.done);
	assert_int_equal(ev.state, RMS_PSRP_PIPELINE_FAILED);
	assert_non_null(strstr(ev.message, "MaximumReceivedObjectSize"));
	rms__psrp_event_clear(&ev);
	rms__psrp_pipeline_free(pl);
	rms__psrp_pool_free(p);
	msgs_free(&ms);
}

static void test_host_call_needing_an_answer_gets_an_error(void **state)
{
	(void)state;
	rms_psrp_pool *p = opened_pool(UINT64_MAX);
	rms_psrp_pipeline *pl = script_pipeline(p, "Read-Host", false);
	drop_sends(p);
	const char *call =
	        "<Obj RefId=\"0\"><MS><I64 N=\"ci\">7</I64><Obj N=\"mi\" RefId=\"1\"><TN RefId=\"0\">"
	        "<T>System.Management.Automation.Remoting.RemoteHostMethodId</T><T>System.Enum</T>"
	        "<T>System.ValueType</T><T>System.Object</T></TN><ToString>ReadLine</ToString>"
	        "<I32>11</I32></Obj><Obj N=\"mp\" RefId=\"2\"><TN RefId=\"1\">"
	        "<T>System.Collections.ArrayList</T><T>System.Object</T></TN><LST /></Obj></MS></Obj>";
	assert_int_equal(feed_as(p, RMS_PSRP_PIPELINE_HOST_CALL, rms__psrp_pipeline_id(pl), call,
	                         strlen(call)),
	                 0);
	rms_psrp_send snd;
	assert_int_equal(rms__psrp_pool_take(p, &snd), 0);
	assert_int_equal(snd.kind, RMS_PSRP_SEND_DATA);
	assert_true(snd.prompt_response);
	assert_true(rms__guid_equal(&snd.guid, rms__psrp_pipeline_id(pl)));
	struct sent s = { 0 };
	unpack_sent(&snd, &s);
	rms__psrp_send_clear(&snd);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.type[0], RMS_PSRP_PIPELINE_HOST_RESPONSE);
	rms_value *v = decode_ok(s.xml[0]);
	assert_int_equal(get_int(v, "ci"), 7);
	assert_int_equal(get_int(v, "mi"), 11);
	const char *m = rms_ps_record_message(get(v, "me"));
	assert_non_null(m);
	assert_non_null(strstr(m, "not interactive"));
	rms_value_free(v);
	sent_free(&s);
	rms__psrp_pipeline_free(pl);
	rms__psrp_pool_free(p);
}

static void test_undecodable_object_costs_only_itself(void **state)
{
	(void)state;
	rms_psrp_pool *p = opened_pool(UINT64_MAX);
	rms_psrp_pipeline *pl = script_pipeline(p, "x", false);
	drop_sends(p);
	const rms_guid *id = rms__psrp_pipeline_id(pl);
	assert_int_equal(feed_as(p, RMS_PSRP_PIPELINE_OUTPUT, id, "<I32>1</I32>", 12), 0);
	assert_int_equal(feed_as(p, RMS_PSRP_PIPELINE_OUTPUT, id, "<I32>x1</I32>", 13), 0);
	assert_int_equal(feed_as(p, RMS_PSRP_PIPELINE_OUTPUT, id, "<I32>3</I32>", 12), 0);
	rms_psrp_event ev;
	assert_int_equal(rms__psrp_pipeline_next(pl, &ev), 0);
	assert_int_equal(ev.stream, RMS_PS_OUTPUT);
	rms__psrp_event_clear(&ev);
	assert_int_equal(rms__psrp_pipeline_next(pl, &ev), 0);
	assert_int_equal(ev.stream, RMS_PS_ERROR);
	const rms_psobject *o = NULL;
	assert_int_equal(rms_value_get_object(ev.value, &o), 0);
	assert_string_equal(rms_psobject_type_name_at(o, 0), "remsess.DecodeError");
	assert_non_null(strstr(rms_ps_record_message(ev.value), "could not decode"));
	rms__psrp_event_clear(&ev);
	assert_int_equal(rms__psrp_pipeline_next(pl, &ev), 0);
	int32_t n;
	assert_int_equal(rms_value_get_sint32(ev.value, &n), 0);
	assert_int_equal(n, 3);
	rms__psrp_event_clear(&ev);
	assert_int_equal(rms__psrp_pool_state(p), RMS_PSRP_POOL_OPENED);
	rms__psrp_pipeline_free(pl);
	rms__psrp_pool_free(p);
}

static void test_unknown_message_type_breaks_pool(void **state)
{
	(void)state;
	rms_psrp_pool *p = opened_pool(UINT64_MAX);
	rms_psrp_pipeline *pl = script_pipeline(p, "x", false);
	drop_sends(p);
	int rc = feed_as(p, 0x00041077, rms__psrp_pipeline_id(pl), "<S>a</S>", 8);
	assert_int_equal(rc, RMS_E_PROTOCOL);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "41077"));
	assert_int_equal(rms__psrp_pool_state(p), RMS_PSRP_POOL_BROKEN);
	rms_psrp_event ev;
	assert_int_equal(rms__psrp_pipeline_next(pl, &ev), 0);
	assert_true(ev.done);
	assert_int_equal(ev.state, RMS_PSRP_PIPELINE_FAILED);
	rms__psrp_event_clear(&ev);
	/* A broken pool makes no pipelines. */
	rms_psrp_command c = { .text = "1", .is_script = true };
	rms_psrp_pipeline_spec spec = { &c, 1, false };
	rms_psrp_pipeline *pl2;
	assert_int_equal(rms__psrp_pipeline_new(&pl2, p, &spec), RMS_E_STATE);
	rms__psrp_pipeline_free(pl);
	rms__psrp_pool_free(p);
}

static void test_pool_broken_by_server(void **state)
{
	(void)state;
	rms_psrp_pool *p = new_pool(UINT64_MAX);
	assert_int_equal(rms__psrp_pool_open(p), 0);
	drop_sends(p);
	const char *xml = "<Obj RefId=\"0\"><MS><I32 N=\"RunspaceState\">5</I32>"
	                  "<Obj N=\"ExceptionAsErrorRecord\" RefId=\"1\"><ToString>no runspaces "
	                  "left</ToString></Obj></MS></Obj>";
	assert_int_equal(feed_as(p, RMS_PSRP_RUNSPACEPOOL_STATE, NULL, xml, strlen(xml)), 0);
	assert_int_equal(rms__psrp_pool_state(p), RMS_PSRP_POOL_BROKEN);
	assert_non_null(strstr(rms__psrp_pool_reason(p), "no runspaces left"));
	rms__psrp_pool_free(p);
}

static void test_set_max_runspaces(void **state)
{
	(void)state;
	rms_psrp_pool *p = opened_pool(UINT64_MAX);
	assert_int_equal(rms__psrp_pool_set_max_runspaces(p, 2), 0);
	rms_psrp_send snd;
	assert_int_equal(rms__psrp_pool_take(p, &snd), 0);
	struct sent s = { 0 };
	unpack_sent(&snd, &s);
	rms__psrp_send_clear(&snd);
	assert_int_equal(s.type[0], RMS_PSRP_SET_MAX_RUNSPACES);
	rms_value *v = decode_ok(s.xml[0]);
	assert_int_equal(get_int(v, "MaxRunspaces"), 2);
	assert_int_equal(get_int(v, "ci"), 1);
	rms_value_free(v);
	sent_free(&s);
	assert_int_equal(rms__psrp_pool_runspaces_answer(p), RMS_EAGAIN);
	/* The answer recorded in conversation 07 (call id 1). */
	struct msgs ms = server_messages("07-g-two-pipelines");
	for (size_t i = 0; i < ms.n; i++)
		if (ms.m[i].type == RMS_PSRP_RUNSPACE_AVAILABILITY)
			assert_int_equal(feed_as(p, ms.m[i].type, NULL, ms.m[i].xml, ms.m[i].len), 0);
	msgs_free(&ms);
	assert_int_equal(rms__psrp_pool_runspaces_answer(p), 1);
	rms__psrp_pool_free(p);
}

static void test_input_messages(void **state)
{
	(void)state;
	rms_psrp_pool *p = opened_pool(UINT64_MAX);
	rms_psrp_pipeline *pl = script_pipeline(p, "$input", true);
	for (int i = 1; i <= 3; i++) {
		rms_value *v;
		assert_int_equal(rms_value_new_sint32(&v, i), 0);
		assert_int_equal(rms__psrp_pipeline_input(pl, v), 0);
		rms_value_free(v);
	}
	assert_int_equal(rms__psrp_pipeline_input_end(pl), 0);
	rms_psrp_send snd;
	assert_int_equal(rms__psrp_pool_take(p, &snd), 0);
	assert_int_equal(snd.kind, RMS_PSRP_SEND_CREATE);
	struct sent s = { 0 };
	unpack_sent(&snd, &s);
	rms__psrp_send_clear(&snd);
	rms_value *v = decode_ok(s.xml[0]);
	bool b = true;
	assert_int_equal(rms_value_get_boolean(get(v, "NoInput"), &b), 0);
	assert_false(b);
	rms_value_free(v);
	sent_free(&s);
	/* The input travels together, as in the recording 04-d-input. */
	assert_int_equal(rms__psrp_pool_take(p, &snd), 0);
	assert_int_equal(snd.kind, RMS_PSRP_SEND_DATA);
	unpack_sent(&snd, &s);
	rms__psrp_send_clear(&snd);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.type[0], RMS_PSRP_PIPELINE_INPUT);
	assert_int_equal(s.type[3], RMS_PSRP_END_OF_PIPELINE_INPUT);
	v = decode_ok(s.xml[2]);
	int32_t n;
	assert_int_equal(rms_value_get_sint32(v, &n), 0);
	assert_int_equal(n, 3);
	rms_value_free(v);
	sent_free(&s);
	assert_int_equal(rms__psrp_pipeline_input(pl, NULL), RMS_E_STATE);
	rms__psrp_pipeline_free(pl);
	rms__psrp_pool_free(p);
}

/* Closing the pool stops and closes the pipelines still open first: the
 * server acknowledges the pool's close only when every command is closed. */
static void test_pool_close_closes_pipelines_first(void **state)
{
	(void)state;
	rms_psrp_pool *p = opened_pool(UINT64_MAX);
	rms_psrp_pipeline *pl = script_pipeline(p, "Start-Sleep 30", false);
	drop_sends(p);
	assert_int_equal(rms__psrp_pool_close(p), 0);
	assert_int_equal(rms__psrp_pool_state(p), RMS_PSRP_POOL_CLOSING);
	const rms_psrp_send_kind want[] = { RMS_PSRP_SEND_STOP, RMS_PSRP_SEND_CLOSE_PIPELINE,
		                            RMS_PSRP_SEND_CLOSE_POOL };
	for (size_t i = 0; i < 3; i++) {
		rms_psrp_send snd;
		assert_int_equal(rms__psrp_pool_take(p, &snd), 0);
		assert_int_equal(snd.kind, want[i]);
		rms__psrp_send_clear(&snd);
	}
	assert_false(rms__psrp_pool_has_sends(p));
	/* Freeing the pipeline afterwards sends nothing more. */
	rms__psrp_pipeline_free(pl);
	assert_false(rms__psrp_pool_has_sends(p));
	rms__psrp_pool_closed(p);
	assert_int_equal(rms__psrp_pool_state(p), RMS_PSRP_POOL_CLOSED);
	rms__psrp_pool_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_sends_capability_and_init),
		cmocka_unit_test(test_open_with_recorded_answer),
		cmocka_unit_test(test_create_pipeline_message),
		cmocka_unit_test(test_recorded_range),
		cmocka_unit_test(test_recorded_streams),
		cmocka_unit_test(test_recorded_stop),
		cmocka_unit_test(test_recorded_big_object_and_cap),
		cmocka_unit_test(test_host_call_needing_an_answer_gets_an_error),
		cmocka_unit_test(test_undecodable_object_costs_only_itself),
		cmocka_unit_test(test_unknown_message_type_breaks_pool),
		cmocka_unit_test(test_pool_broken_by_server),
		cmocka_unit_test(test_set_max_runspaces),
		cmocka_unit_test(test_input_messages),
		cmocka_unit_test(test_pool_close_closes_pipelines_first),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
