/*
 * The CIM backend against the test endpoint (tests/endpoint/run), which the
 * test starts on loopback: New-CimSession semantics (nothing opened at
 * creation, one connection per operation, none held between), every CIM
 * operation, paging within MaxEnvelopeSize, Release on early close, and
 * each failure as a clear error with its numbers.
 *
 * Operations are also driven by hand through the backend's engine
 * contract (start, step, next, rms__wait_block), as the engine drives them.
 *
 *   test_cim             the suite, against the endpoint's Windows personality
 *   test_cim --omi       the same suite against its OMI personality (an OMI
 *                        1.9.1 server, ../shared/protocol/omi.md): every
 *                        test, asserting OMI's documented answers where they
 *                        differ from Windows'
 *   test_cim --million   1,000,000 instances through bounded memory (slow)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <cmocka.h>

#include "backend.h"
#include "drain.h"
#include "endpoint.h"
#include "remsess/remsess.h"

#define opts_for rms_endpoint_session_options

/* test_cim --omi: the same suite against the endpoint's OMI personality
 * (--personality omi, ../shared/protocol/omi.md). Where OMI differs from
 * Windows the test asserts what OMI does, naming the omi.md point.
 *
 * OMI serves class schemas (GetClass in the CIM-XML form remsess sends, as
 * OMI's source does it: microsoft/omi Unix/wsman/wsman.c,
 * _ParseValidateProcessGetClassRequest; omi.md records no GetClass), so
 * values are typed by them as on Windows: OMI's value forms (omi.md,
 * Responses: TRUE/FALSE, char16 as a decimal number, intervals as P2000D)
 * must decode to the same typed values Windows' do. */
static bool omi;

static rms_endpoint_proc *start(const char *const *extra)
{
	const char *args[24];
	size_t n = 0;
	if (omi) {
		args[n++] = "--personality";
		args[n++] = "omi";
	}
	for (size_t i = 0; extra && extra[i] && n < 23; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	rms_endpoint_proc *ep = rms_endpoint_spawn(args);
	if (!ep)
		fail_msg("could not start the test endpoint");
	return ep;
}

static int setup(void **state)
{
	*state = start(NULL);
	return 0;
}

static int teardown(void **state)
{
	rms_endpoint_kill(*state);
	rms_error_clear();
	return 0;
}

static rms_session *cim_session(const rms_endpoint_proc *ep)
{
	rms_session_options o = opts_for(ep);
	rms_session *s;
	if (rms_session_new(&s, RMS_BACKEND_CIM, &o))
		fail_msg("session: %s", rms_error_message(rms_error_last()));
	return s;
}

static const char *str_prop(const rms_instance *inst, const char *name)
{
	const char *s = NULL;
	const rms_value *v = rms_instance_get(inst, name);
	if (!v || rms_value_get_string(v, &s))
		fail_msg("no string property %s", name);
	return s;
}

/* An unsigned number property or out-parameter, typed uint32 by the
 * declaration in the class schema (both servers serve schemas). */
static uint64_t number_prop(const rms_instance *inst, const char *name)
{
	const rms_value *v = rms_instance_get(inst, name);
	if (!v)
		fail_msg("no property %s", name);
	uint32_t n = 0;
	if (rms_value_get_uint32(v, &n))
		fail_msg("%s is not a uint32 (type %d)", name, (int)rms_value_type(v));
	return n;
}

static rms_ref *service_ref(const char *name)
{
	rms_ref *r;
	assert_int_equal(rms_ref_new(&r, "root/cimv2", "Win32_Service"), 0);
	assert_int_equal(rms_ref_add_selector(r, "Name", name), 0);
	return r;
}

/* The endpoint counts a connection closed when its reader sees the close,
 * a moment after the client closed it: poll briefly for the value. */
static int64_t settled_stat(rms_endpoint_proc *ep, const char *path, int64_t want)
{
	int64_t v = rms_endpoint_stat(ep, path);
	for (int i = 0; i < 40 && v != want; i++) {
		struct timespec ts = { .tv_nsec = 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		v = rms_endpoint_stat(ep, path);
	}
	return v;
}

/* ---- semantics --------------------------------------------------------- */

static void test_creation_opens_nothing_and_each_operation_one_connection(void **state)
{
	rms_endpoint_proc *ep = *state;
	assert_int_equal(rms_endpoint_reset(ep), 0);
	rms_session *s = cim_session(ep);
	assert_int_equal(rms_endpoint_stat(ep, "connections_accepted"), 0);

	for (int i = 1; i <= 5; i++) {
		rms_op *op;
		assert_int_equal(rms_enumerate(&op, s, NULL, "Win32_Service"), 0);
		assert_true(rms_test_drain(op) > 20);
		rms_op_free(op);
		rms_instance *inst;
		rms_ref *k = service_ref("WinRM");
		assert_int_equal(rms_get(&inst, s, k), 0);
		rms_instance_free(inst);
		rms_ref_free(k);
		/* Two operations, two connections; none left open. */
		assert_int_equal(rms_endpoint_stat(ep, "connections_accepted"), 2 * i);
		assert_int_equal(settled_stat(ep, "connections_open", 0), 0);
	}
	rms_stats st = { .version = RMS_STATS_VERSION };
	assert_int_equal(rms_session_stats(s, &st), 0);
	assert_int_equal(st.connections_opened, 10);
	assert_int_equal(st.connections_open, 0);
	assert_int_equal(st.operations, 10);
	assert_int_equal(st.shells_opened, 0);
	/* The work ran on the client as CIM requests: no shell, no command. */
	assert_int_equal(rms_endpoint_stat(ep, "shells_created"), 0);
	assert_int_equal(rms_endpoint_stat(ep, "requests_by_kind.cim"),
	                 rms_endpoint_stat(ep, "requests_total"));
	if (omi) {
		/* omi.md, Authentication and HTTP: credentials on every
		 * connection's first request (OMI sends no challenge, a request
		 * without them hangs), and no chunked request bodies. */
		assert_int_equal(rms_endpoint_stat(ep, "requests_without_credentials"), 0);
		assert_int_equal(rms_endpoint_stat(ep, "chunked_requests_refused"), 0);
	}
	rms_session_free(s);
}

static void test_wrong_password_shows_at_the_first_operation(void **state)
{
	rms_endpoint_proc *ep = *state;
	rms_session_options o = opts_for(ep);
	o.password = "wrong";
	rms_session *s;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	rms_op *op;
	rms_error *err = NULL;
	rms_error_clear();
	assert_int_equal(rms_enumerate(&op, s, NULL, "Win32_Service"), RMS_E_AUTH);
	err = rms_error_dup(rms_error_last());
	assert_int_equal(rms_error_phase(err), RMS_PHASE_AUTHENTICATE);
	assert_int_equal(rms_error_http_status(err), 401);
	assert_int_equal(rms_error_backend(err), RMS_BACKEND_CIM);
	rms_error_free(err);
	rms_session_free(s);
}

/* ---- operations -------------------------------------------------------- */

static void test_get_by_keys_and_by_a_returned_reference(void **state)
{
	rms_endpoint_proc *ep = *state;
	rms_session *s = cim_session(ep);
	/* Keys are case-insensitive on Windows; on OMI that is up to each
	 * provider (omi.md says nothing), so the key is given as it is. */
	rms_ref *k = service_ref(omi ? "WinRM" : "winrm");
	rms_instance *a;
	assert_int_equal(rms_get(&a, s, k), 0);
	assert_string_equal(rms_instance_class_name(a), "Win32_Service");
	assert_string_equal(str_prop(a, "Name"), "WinRM");
	rms_ref_free(k);

	/* An enumeration with EPRs gives each instance its reference; a Get
	 * with that reference gives the same instance. */
	rms_op *op;
	assert_int_equal(rms_enumerate(&op, s, NULL, "Win32_Service"), 0);
	rms_instance *first;
	assert_int_equal(rms_op_next(op, &first), 0);
	rms_op_free(op);
	const rms_ref *ref = rms_instance_ref(first);
	assert_non_null(ref);
	rms_instance *again;
	assert_int_equal(rms_get(&again, s, ref), 0);
	assert_true(rms_instance_equal(first, again));
	rms_instance_free(first);
	rms_instance_free(again);
	rms_instance_free(a);

	/* The singleton, without selectors. */
	rms_ref *os;
	assert_int_equal(rms_ref_new(&os, NULL, "Win32_OperatingSystem"), 0);
	assert_int_equal(rms_get(&a, s, os), 0);
	assert_non_null(rms_instance_get(a, "Caption"));
	rms_instance_free(a);
	rms_ref_free(os);
	rms_session_free(s);
}

static void test_query_filters_on_the_server(void **state)
{
	rms_endpoint_proc *ep = *state;
	rms_session *s = cim_session(ep);
	rms_op *op;
	assert_int_equal(rms_query(&op, s, "root\\cimv2",
	                           "SELECT Name, State FROM Win32_Service WHERE State = 'Running' "
	                           "AND Name LIKE 'W%'"),
	                 0);
	rms_instance *inst;
	int n = 0, rc;
	while ((rc = rms_op_next(op, &inst)) == 0) {
		assert_string_equal(str_prop(inst, "State"), "Running");
		assert_true(str_prop(inst, "Name")[0] == 'W' || str_prop(inst, "Name")[0] == 'w');
		rms_instance_free(inst);
		n++;
	}
	assert_int_equal(rc, RMS_ITEROVER);
	assert_true(n >= 1);
	rms_op_free(op);
	rms_session_free(s);
}

static void test_instance_and_static_methods(void **state)
{
	rms_endpoint_proc *ep = *state;
	rms_session *s = cim_session(ep);
	rms_ref *k = service_ref("Spooler");
	rms_instance *out;
	assert_int_equal(rms_invoke(&out, s, k, "StopService", NULL), 0);
	/* Typed by the method's declaration in the class schema (it came
	 * back as the text "0" before): uint32, on both servers. */
	assert_int_equal(number_prop(out, "ReturnValue"), 0);
	rms_instance_free(out);
	rms_instance *svc;
	assert_int_equal(rms_get(&svc, s, k), 0);
	assert_string_equal(str_prop(svc, "State"), "Stopped");
	rms_instance_free(svc);
	/* Stopping a stopped service: Windows' return code 5 ("cannot accept
	 * control"), not a fault. */
	assert_int_equal(rms_invoke(&out, s, k, "StopService", NULL), 0);
	assert_int_not_equal(number_prop(out, "ReturnValue"), 0);
	rms_instance_free(out);
	assert_int_equal(rms_invoke(&out, s, k, "StartService", NULL), 0);
	assert_int_equal(number_prop(out, "ReturnValue"), 0);
	rms_instance_free(out);
	rms_ref_free(k);

	/* A static method: Win32_Process.Create runs a real process. */
	rms_ref *cls;
	assert_int_equal(rms_ref_new(&cls, NULL, "Win32_Process"), 0);
	rms_instance *in;
	assert_int_equal(rms_instance_new(&in, NULL, "Win32_Process"), 0);
	rms_value *v;
	assert_int_equal(rms_value_new_string(&v, "true"), 0);
	assert_int_equal(rms_instance_set(in, "CommandLine", v, 0), 0);
	assert_int_equal(rms_invoke(&out, s, cls, "Create", in), 0);
	assert_int_equal(number_prop(out, "ReturnValue"), 0);
	assert_true(number_prop(out, "ProcessId") > 0);
	rms_instance_free(out);
	rms_instance_free(in);
	rms_ref_free(cls);
	rms_session_free(s);
}

static void test_create_modify_delete(void **state)
{
	rms_endpoint_proc *ep = *state;
	rms_session *s = cim_session(ep);
	rms_instance *w;
	assert_int_equal(rms_instance_new(&w, "root/cimv2", "X_Widget"), 0);
	rms_value *v;
	assert_int_equal(rms_value_new_string(&v, "w-test"), 0);
	assert_int_equal(rms_instance_set(w, "Id", v, RMS_PROP_KEY), 0);
	assert_int_equal(rms_value_new_string(&v, "delta"), 0);
	assert_int_equal(rms_instance_set(w, "Name", v, 0), 0);
	assert_int_equal(rms_value_new_uint32(&v, 42), 0);
	assert_int_equal(rms_instance_set(w, "Size", v, 0), 0);
	rms_ref *created;
	rms_error *err = NULL;
	if (rms_create(&created, s, w))
		fail_msg("create: %s", rms_error_message(rms_error_last()));
	assert_string_equal(rms_ref_selector(created, "Id"), "w-test");

	rms_instance *got;
	assert_int_equal(rms_get(&got, s, created), 0);
	assert_string_equal(str_prop(got, "Name"), "delta");
	assert_int_equal(number_prop(got, "Size"), 42);
	rms_instance_free(got);

	/* Creating it again: WMI's "already exists" as a fault; OMI's as
	 * OMI_Error with CIMStatusCode 11, ALREADY_EXISTS (omi.md, Faults:
	 * no wsman:FaultDetail, the CIM status is OMI_Error's CIMStatusCode). */
	rms_ref *twice = NULL;
	rms_error_clear();
	assert_int_equal(rms_create(&twice, s, w), RMS_E_FAULT);
	err = rms_error_dup(rms_error_last());
	assert_null(twice);
	if (omi) {
		assert_int_equal(rms_error_cim_status(err), 11);
		assert_int_equal(rms_error_wmi_code(err), 0);
	} else {
		assert_int_not_equal(rms_error_wmi_code(err), 0);
	}
	rms_error_free(err);

	assert_int_equal(rms_value_new_string(&v, "epsilon"), 0);
	assert_int_equal(rms_instance_set(w, "Name", v, 0), 0);
	rms_ref *key;
	assert_int_equal(rms_ref_new(&key, "root/cimv2", "X_Widget"), 0);
	assert_int_equal(rms_ref_add_selector(key, "Id", "w-test"), 0);
	assert_int_equal(rms_modify(NULL, s, key, w), 0);
	assert_int_equal(rms_get(&got, s, key), 0);
	assert_string_equal(str_prop(got, "Name"), "epsilon");
	rms_instance_free(got);

	assert_int_equal(rms_delete(s, key), 0);
	rms_error_clear();
	assert_int_equal(rms_get(&got, s, key), RMS_E_FAULT);
	err = rms_error_dup(rms_error_last());
	assert_int_equal(rms_error_phase(err), RMS_PHASE_REMOTE);
	if (omi) /* omi.md, Faults: 6 NOT_FOUND (Get of a missing key) */
		assert_int_equal(rms_error_cim_status(err), 6);
	rms_error_free(err);
	rms_ref_free(key);
	rms_ref_free(created);
	rms_instance_free(w);
	rms_session_free(s);
}

static void test_associators_and_references(void **state)
{
	rms_endpoint_proc *ep = *state;
	rms_session *s = cim_session(ep);
	rms_ref *src = service_ref("WinRM");
	rms_request *r;
	assert_int_equal(rms_request_new(&r, RMS_OP_ASSOCIATORS), 0);
	assert_int_equal(rms_request_set_ref(r, src), 0);
	assert_int_equal(rms_request_set_association(r, "Win32_DependentService", "Win32_Service",
	                                             NULL, NULL),
	                 0);
	rms_op *op;
	assert_int_equal(rms_op_start(&op, s, r), 0);
	rms_instance *inst;
	int n = 0;
	while (rms_op_next(op, &inst) == 0) {
		assert_string_equal(rms_instance_class_name(inst), "Win32_Service");
		assert_string_not_equal(str_prop(inst, "Name"), "WinRM");
		rms_instance_free(inst);
		n++;
	}
	assert_null(rms_op_error(op));
	assert_true(n >= 1);
	rms_op_free(op);
	rms_request_free(r);

	assert_int_equal(rms_request_new(&r, RMS_OP_REFERENCES), 0);
	assert_int_equal(rms_request_set_ref(r, src), 0);
	assert_int_equal(rms_op_start(&op, s, r), 0);
	n = 0;
	while (rms_op_next(op, &inst) == 0) {
		assert_string_equal(rms_instance_class_name(inst), "Win32_DependentService");
		const rms_value *ant = rms_instance_get(inst, "Antecedent");
		const rms_value *dep = rms_instance_get(inst, "Dependent");
		assert_true(ant && dep);
		assert_int_equal(rms_value_type(ant), RMS_TYPE_REFERENCE);
		rms_instance_free(inst);
		n++;
	}
	assert_null(rms_op_error(op));
	assert_true(n >= 1);
	rms_op_free(op);
	rms_request_free(r);
	rms_ref_free(src);
	rms_session_free(s);
}

static rms_instance *get_number(rms_session *s, const char *id)
{
	rms_ref *k;
	assert_int_equal(rms_ref_new(&k, NULL, "X_Number"), 0);
	assert_int_equal(rms_ref_add_selector(k, "Id", id), 0);
	rms_instance *inst;
	if (rms_get(&inst, s, k))
		fail_msg("get X_Number %s: %s", id, rms_error_message(rms_error_last()));
	rms_ref_free(k);
	return inst;
}

static void test_every_cim_type_decodes_typed_by_the_class_schema(void **state)
{
	rms_endpoint_proc *ep = *state;
	rms_session *s = cim_session(ep);
	assert_int_equal(rms_endpoint_reset(ep), 0);
	rms_instance *inst = get_number(s, "2");
	/* The session fetched X_Number's schema (GetClass) and typed every
	 * property by it: numbers range-checked into their widths. On OMI the
	 * same values arrive in OMI's forms (omi.md, Responses: Flag as TRUE,
	 * Letter as 67, Span as an interval without zero parts) and decode the
	 * same. */
	const rms_value *v;
	uint8_t u8;
	int8_t s8;
	uint64_t u64;
	int64_t s64;
	float r32;
	double r64;
	bool flag;
	uint16_t ch;
	assert_int_equal(rms_value_get_uint8(rms_instance_get(inst, "U8"), &u8), 0);
	assert_int_equal(u8, 2);
	assert_int_equal(rms_value_get_sint8(rms_instance_get(inst, "S8"), &s8), 0);
	assert_int_equal(s8, -126);
	assert_int_equal(rms_value_get_uint64(rms_instance_get(inst, "U64"), &u64), 0);
	assert_true(u64 == UINT64_MAX - 1);
	assert_int_equal(rms_value_get_sint64(rms_instance_get(inst, "S64"), &s64), 0);
	assert_true(s64 == INT64_MIN + 2);
	assert_int_equal(rms_value_get_real32(rms_instance_get(inst, "R32"), &r32), 0);
	assert_true(r32 == 0.5f);
	assert_int_equal(rms_value_get_real64(rms_instance_get(inst, "R64"), &r64), 0);
	assert_true(r64 > 0.666 && r64 < 0.667);
	assert_int_equal(rms_value_get_boolean(rms_instance_get(inst, "Flag"), &flag), 0);
	assert_true(flag);
	assert_int_equal(rms_value_get_char16(rms_instance_get(inst, "Letter"), &ch), 0);
	assert_int_equal(ch, 'C');
	assert_string_equal(str_prop(inst, "Text"), "number 2 <&> \"\xc3\xa9\xe4\xb8\xad\"");
	rms_datetime dt;
	assert_int_equal(rms_value_get_datetime(rms_instance_get(inst, "When"), &dt), 0);
	assert_false(dt.is_interval);
	assert_int_equal(rms_value_get_datetime(rms_instance_get(inst, "Span"), &dt), 0);
	assert_true(dt.is_interval);
	v = rms_instance_get(inst, "Squares");
	assert_int_equal(rms_value_type(v), RMS_TYPE_UINT32 | RMS_TYPE_ARRAY);
	assert_int_equal(rms_value_array_length(v), 2);
	uint32_t sq;
	assert_int_equal(rms_value_get_uint32(rms_value_array_at(v, 1), &sq), 0);
	assert_int_equal(sq, 9);
	assert_int_equal(rms_value_type(rms_instance_get(inst, "Words")),
	                 RMS_TYPE_STRING | RMS_TYPE_ARRAY);
	assert_int_equal(rms_value_type(rms_instance_get(inst, "Owner")), RMS_TYPE_REFERENCE);
	assert_int_equal(rms_value_type(rms_instance_get(inst, "Detail")), RMS_TYPE_INSTANCE);
	/* An embedded instance is typed by its own class's schema. */
	const rms_instance *detail;
	assert_int_equal(rms_value_get_instance(rms_instance_get(inst, "Detail"), &detail), 0);
	assert_int_equal(rms_value_type(rms_instance_get(detail, "Digits")), RMS_TYPE_UINT8);
	assert_int_equal(rms_value_type(rms_instance_get(detail, "Half")), RMS_TYPE_REAL64);
	assert_int_equal(rms_value_type(rms_instance_get(detail, "Parity")), RMS_TYPE_STRING);
	v = rms_instance_get(inst, "Nothing");
	assert_true(rms_value_is_null(v));
	assert_int_equal(rms_value_type(v), RMS_TYPE_STRING);
	/* The key flag comes from the schema too. */
	for (size_t i = 0; i < rms_instance_count(inst); i++) {
		const char *name;
		unsigned flags;
		rms_instance_at(inst, i, &name, NULL, &flags);
		assert_int_equal((flags & RMS_PROP_KEY) != 0, strcmp(name, "Id") == 0);
	}
	rms_instance_free(inst);

	/* An array of one element is still an array, by the schema. */
	inst = get_number(s, "1");
	assert_int_equal(rms_value_type(rms_instance_get(inst, "Squares")),
	                 RMS_TYPE_UINT32 | RMS_TYPE_ARRAY);
	assert_int_equal(rms_value_array_length(rms_instance_get(inst, "Squares")), 1);
	rms_instance_free(inst);
	/* One GetClass per class, however many instances follow: two Gets of
	 * instances, one GetClass of X_Number and one of X_NumberDetail (the
	 * embedded instances' class), each on its operation's one connection. */
	assert_int_equal(rms_endpoint_stat(ep, "requests_by_action.Get"), 4);
	assert_int_equal(rms_endpoint_stat(ep, "connections_accepted"), 2);
	if (omi) {
		/* The same data from both servers is the same instance: OMI's
		 * forms (TRUE, 67, P...D, no __cimnamespace in references)
		 * decode to what Windows' do, embedded instance and key flags
		 * included. */
		omi = false;
		rms_endpoint_proc *win = start(NULL);
		omi = true;
		rms_session *ws = cim_session(win);
		for (int id = 1; id <= 3; id++) {
			char key[4];
			snprintf(key, sizeof key, "%d", id);
			rms_instance *a = get_number(s, key), *b = get_number(ws, key);
			if (!rms_instance_equal(a, b))
				fail_msg("X_Number %d differs between OMI and Windows", id);
			rms_instance_free(a);
			rms_instance_free(b);
		}
		rms_session_free(ws);
		rms_endpoint_kill(win);
	}
	rms_session_free(s);
}

static void test_without_a_schema_values_decode_by_shape(void **state)
{
	rms_endpoint_proc *ep = *state;
	rms_session_options o = opts_for(ep);
	o.cim.no_schema = true;
	rms_session *s;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	assert_int_equal(rms_endpoint_reset(ep), 0);
	rms_instance *inst = get_number(s, "2");
	/* Shapes decide: datetimes, references, embedded instances, arrays
	 * and nulls come typed; numbers come as their text. */
	assert_int_equal(rms_value_type(rms_instance_get(inst, "When")), RMS_TYPE_DATETIME);
	assert_int_equal(rms_value_type(rms_instance_get(inst, "Owner")), RMS_TYPE_REFERENCE);
	assert_int_equal(rms_value_type(rms_instance_get(inst, "Detail")), RMS_TYPE_INSTANCE);
	assert_int_equal(rms_value_array_length(rms_instance_get(inst, "Squares")), 2);
	assert_true(rms_value_is_null(rms_instance_get(inst, "Nothing")));
	assert_string_equal(str_prop(inst, "U64"), "18446744073709551614");
	rms_instance_free(inst);
	/* One request: no GetClass. */
	assert_int_equal(rms_endpoint_stat(ep, "requests_total"), 1);
	rms_session_free(s);
}

/* A namespace that does not exist is that error, not "class schemas are
 * not supported by this server": on OMI its DestinationUnreachable is the
 * subcode a refused GetClass was taken to have, but CIM status 3,
 * INVALID_NAMESPACE (omi.md, Faults), says what is wrong. It said "not
 * supported" before. */
static void get_class_in_a_missing_namespace(rms_session *s, rms_request *r)
{
	rms_op *op = NULL;
	assert_int_equal(rms_request_set_namespace(r, "root/nope"), 0);
	rms_error_clear();
	assert_int_equal(rms_op_start(&op, s, r), RMS_E_FAULT);
	assert_null(op);
	const rms_error *err = rms_error_last();
	assert_null(strstr(rms_error_message(err), "not supported"));
	if (omi) /* INVALID_NAMESPACE */
		assert_int_equal(rms_error_cim_status(err), 3);
	else /* WBEM_E_INVALID_NAMESPACE */
		assert_int_equal(rms_error_wmi_code(err), 0x8004100Eu);
	assert_int_equal(rms_request_set_namespace(r, NULL), 0);
}

static void test_get_class_schema(void **state)
{
	rms_endpoint_proc *ep = *state;
	rms_session *s = cim_session(ep);
	rms_request *r;
	assert_int_equal(rms_request_new(&r, RMS_OP_GET_CLASS), 0);
	assert_int_equal(rms_request_set_class(r, "Win32_Service"), 0);
	rms_op *op;
	rms_error *err = NULL;
	if (rms_op_start(&op, s, r))
		fail_msg("get class: %s", rms_error_message(rms_error_last()));
	const rms_cim_class *c = rms_op_class(op);
	assert_non_null(c);
	assert_string_equal(rms_cim_class_name(c), "Win32_Service");
	assert_string_equal(rms_cim_class_superclass(c), "CIM_Service");
	bool saw_key = false;
	for (size_t i = 0; i < rms_cim_class_property_count(c); i++) {
		const char *name;
		rms_type t;
		unsigned flags;
		assert_int_equal(rms_cim_class_property_at(c, i, &name, &t, &flags), 0);
		if (strcmp(name, "Name") == 0) {
			assert_int_equal(t, RMS_TYPE_STRING);
			assert_true(flags & RMS_PROP_KEY);
			saw_key = true;
		}
		if (strcmp(name, "ProcessId") == 0)
			assert_int_equal(t, RMS_TYPE_UINT32);
	}
	assert_true(saw_key);
	bool saw_method = false;
	for (size_t i = 0; i < rms_cim_class_method_count(c); i++)
		saw_method |= strcmp(rms_cim_class_method_at(c, i), "StopService") == 0;
	assert_true(saw_method);
	rms_op_free(op);
	rms_request_free(r);

	assert_int_equal(rms_request_new(&r, RMS_OP_GET_CLASS), 0);
	assert_int_equal(rms_request_set_class(r, "Win32_NoSuchClass"), 0);
	rms_error_clear();
	assert_int_equal(rms_op_start(&op, s, r), RMS_E_FAULT);
	err = rms_error_dup(rms_error_last());
	/* A class that does not exist is that fault, not "class schemas are
	 * not supported by this server". */
	assert_null(strstr(rms_error_message(err), "not supported"));
	if (omi) {
		/* omi.md, Faults: INVALID_CLASS is a:DestinationUnreachable
		 * with CIMStatusCode 5 and no WMI number. It said "not
		 * supported by this server" before: the subcode is the one a
		 * refused GetClass was taken to have. */
		assert_string_equal(rms_error_fault_subcode(err), "a:DestinationUnreachable");
		assert_int_equal(rms_error_cim_status(err), 5);
	} else {
		assert_int_equal(rms_error_wmi_code(err), 0x80041010u);
	}
	rms_error_free(err);
	get_class_in_a_missing_namespace(s, r);
	rms_request_free(r);
	rms_session_free(s);
}

/* ---- paging and limits ------------------------------------------------- */

static void test_large_result_is_paged_within_the_envelope_limit(void **state)
{
	(void)state;
	const char *extra[] = { "--max-envelope-kb", "32", "--instances", "3000", NULL };
	rms_endpoint_proc *ep = start(extra);
	rms_session_options o = opts_for(ep);
	o.max_envelope_size = 32 * 1024;
	rms_session *s;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	rms_op *op;
	assert_int_equal(rms_enumerate(&op, s, NULL, "X_Number"), 0);
	rms_instance *inst;
	uint64_t n = 0;
	int rc;
	while ((rc = rms_op_next(op, &inst)) == 0) {
		uint64_t id = 0;
		assert_int_equal(rms_value_get_uint64(rms_instance_get(inst, "Id"), &id), 0);
		assert_true(id == n + 1); /* all, in order */
		rms_instance_free(inst);
		n++;
	}
	assert_int_equal(rc, RMS_ITEROVER);
	assert_int_equal(n, 3000);
	rms_op_free(op);
	/* Many envelopes, none over the limit, one connection. */
	assert_true(rms_endpoint_stat(ep, "pulls") > 10);
	assert_int_equal(rms_endpoint_stat(ep, "responses_over_limit"), 0);
	assert_int_equal(rms_endpoint_stat(ep, "envelopes_over_limit"), 0);
	assert_int_equal(rms_endpoint_stat(ep, "connections_accepted"), 1);
	rms_stats st = { .version = RMS_STATS_VERSION };
	rms_session_stats(s, &st);
	assert_true(st.largest_request <= 32 * 1024);
	rms_session_free(s);
	rms_endpoint_stop(ep);
	free(ep);
}

static void test_closing_early_releases_the_enumeration(void **state)
{
	(void)state;
	const char *extra[] = { "--max-batch", "10", "--instances", "500", NULL };
	rms_endpoint_proc *ep = start(extra);
	rms_session *s = cim_session(ep);
	rms_op *op;
	assert_int_equal(rms_enumerate(&op, s, NULL, "X_Number"), 0);
	for (int i = 0; i < 25; i++) {
		rms_instance *inst;
		assert_int_equal(rms_op_next(op, &inst), 0);
		rms_instance_free(inst);
	}
	rms_op_free(op);
	assert_int_equal(rms_endpoint_stat(ep, "releases"), 1);
	assert_int_equal(settled_stat(ep, "enumerations_open", 0), 0);
	assert_int_equal(settled_stat(ep, "connections_open", 0), 0);
	assert_int_equal(rms_endpoint_stat(ep, "connections_accepted"), 1);
	rms_session_free(s);
	rms_endpoint_stop(ep);
	free(ep);
}

static void test_request_over_the_envelope_limit_is_not_sent(void **state)
{
	rms_endpoint_proc *ep = *state;
	rms_session_options o = opts_for(ep);
	o.max_envelope_size = 8192;
	rms_session *s;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	rms_instance *in;
	assert_int_equal(rms_instance_new(&in, NULL, "Win32_Process"), 0);
	char *big = malloc(20000);
	memset(big, 'a', 19999);
	big[19999] = '\0';
	rms_value *v;
	assert_int_equal(rms_value_new_string(&v, big), 0);
	assert_int_equal(rms_instance_set(in, "CommandLine", v, 0), 0);
	rms_ref *cls;
	assert_int_equal(rms_ref_new(&cls, NULL, "Win32_Process"), 0);
	int64_t before = rms_endpoint_stat(ep, "requests_total");
	rms_instance *out;
	rms_error *err = NULL;
	rms_error_clear();
	assert_int_equal(rms_invoke(&out, s, cls, "Create", in), RMS_E_ENVELOPE_TOO_LARGE);
	err = rms_error_dup(rms_error_last());
	assert_int_equal(rms_error_limit_value(err), 8192);
	assert_true(rms_error_limit_actual(err) > 20000);
	assert_int_equal(rms_endpoint_stat(ep, "requests_total"), before);
	rms_error_free(err);
	free(big);
	rms_instance_free(in);
	rms_ref_free(cls);
	rms_session_free(s);
}

/* ---- failures ---------------------------------------------------------- */

static void test_server_faults_carry_their_numbers(void **state)
{
	rms_endpoint_proc *ep = *state;
	rms_session *s = cim_session(ep);
	rms_op *op;
	rms_error *err = NULL;
	rms_error_clear();
	assert_int_equal(rms_enumerate(&op, s, NULL, "Win32_NoSuchClass"), RMS_E_FAULT);
	err = rms_error_dup(rms_error_last());
	if (omi) {
		/* omi.md, Faults: DestinationUnreachable, no wsman:FaultDetail,
		 * OMI_Error's CIMStatusCode 5 INVALID_CLASS; with
		 * OptimizeEnumeration it comes at once (omi.md, Enumeration). */
		assert_string_equal(rms_error_fault_subcode(err), "a:DestinationUnreachable");
		assert_int_equal(rms_error_cim_status(err), 5);
		assert_int_equal(rms_error_wsman_code(err), 0);
	} else {
		assert_int_equal(rms_error_wmi_code(err), 0x80041010u); /* WBEM_E_INVALID_CLASS */
		assert_non_null(rms_error_fault_subcode(err));
	}
	rms_error_free(err);

	rms_error_clear();
	assert_int_equal(rms_query(&op, s, NULL, "SELEC * FROM Win32_Service"), RMS_E_FAULT);
	err = rms_error_dup(rms_error_last());
	if (omi) {
		/* omi.md, Faults: any other status is wsman:InternalError; the
		 * number is OMI_Error's CIMStatusCode, 15 INVALID_QUERY. */
		assert_string_equal(rms_error_fault_subcode(err), "w:InternalError");
		assert_int_equal(rms_error_cim_status(err), 15);
	} else {
		assert_string_equal(rms_error_fault_subcode(err), "n:CannotProcessFilter");
		assert_int_equal(rms_error_wsman_code(err), 2150858778u);
	}
	rms_error_free(err);

	rms_ref *k;
	assert_int_equal(rms_ref_new(&k, NULL, "Win32_Service"), 0);
	assert_int_equal(rms_ref_add_selector(k, "NoSuchKey", "x"), 0);
	rms_instance *inst;
	rms_error_clear();
	assert_int_equal(rms_get(&inst, s, k), RMS_E_FAULT);
	err = rms_error_dup(rms_error_last());
	/* OMI: a selector it cannot use is wsman:InternalError (omi.md,
	 * Addressing and Faults). */
	assert_string_equal(rms_error_fault_subcode(err),
	                    omi ? "w:InternalError" : "w:InvalidSelectors");
	rms_error_free(err);
	rms_ref_free(k);
	rms_session_free(s);
}

static void test_failures_between_pages_say_how_far_it_got(void **state)
{
	(void)state;
	static const char *const scenarios[] = { "lose-context:3", "drop:3" };
	static const int codes[] = { RMS_E_FAULT, RMS_E_CONNECTION_LOST };
	for (size_t i = 0; i < 2; i++) {
		const char *extra[] = { "--max-batch", "10", "--instances", "200", "--fault",
			                scenarios[i], NULL };
		rms_endpoint_proc *ep = start(extra);
		rms_session *s = cim_session(ep);
		rms_op *op;
		assert_int_equal(rms_enumerate(&op, s, NULL, "X_Number"), 0);
		rms_instance *inst;
		int rc;
		uint64_t n = 0;
		while ((rc = rms_op_next(op, &inst)) == 0) {
			rms_instance_free(inst);
			n++;
		}
		assert_int_equal(rc, codes[i]);
		const rms_error *e = rms_op_error(op);
		assert_true(n >= 10 && n < 200);
		assert_int_equal(rms_error_items_delivered(e), n);
		if (codes[i] == RMS_E_FAULT && omi) {
			/* omi.md, Enumeration: an unknown context is
			 * DestinationUnreachable, "Enumeration context not found". */
			assert_string_equal(rms_error_fault_subcode(e), "a:DestinationUnreachable");
			assert_non_null(strstr(rms_error_fault_reason(e),
			                       "Enumeration context not found"));
		} else if (codes[i] == RMS_E_FAULT) {
			assert_int_equal(rms_error_wsman_code(e), 2150858779u);
		}
		/* The op stays failed: asking again repeats the error. */
		assert_int_equal(rms_op_next(op, &inst), codes[i]);
		rms_op_free(op);
		/* The server lost the context, or the connection went: there is
		 * nothing to release. (On OMI a Release would only draw another
		 * "context not found"; it was sent before.) */
		assert_int_equal(rms_endpoint_stat(ep, "releases"), 0);
		rms_session_free(s);
		rms_endpoint_stop(ep);
		free(ep);
	}
}

static void test_a_server_that_stops_answering_times_out(void **state)
{
	(void)state;
	/* The Enumerate is answered, the first Pull never is: three requests
	 * are served (the Enumerate and the GetClass of X_Number and
	 * X_NumberDetail, which both servers serve), the fourth stalls. With stall:1
	 * it was the schema fetches that stalled, each for the HTTP wait's
	 * grace, and the test took 16 s. */
	const char *extra[] = { "--max-batch", "10", "--instances", "100", "--fault", "stall:3",
		                NULL };
	rms_endpoint_proc *ep = start(extra);
	rms_session_options o = opts_for(ep);
	o.operation_timeout_ms = 500;
	rms_session *s;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	rms_op *op;
	assert_int_equal(rms_enumerate(&op, s, NULL, "X_Number"), 0);
	rms_instance *inst;
	uint64_t n = 0;
	int rc;
	while ((rc = rms_op_next(op, &inst)) == 0) {
		rms_instance_free(inst);
		n++;
	}
	assert_int_equal(rc, RMS_E_TIMEOUT);
	assert_int_equal(n, 10);
	assert_int_equal(rms_error_phase(rms_op_error(op)), RMS_PHASE_RECEIVE);
	assert_int_equal(rms_error_items_delivered(rms_op_error(op)), 10);
	rms_op_free(op);
	rms_session_free(s);
	rms_endpoint_stop(ep);
	free(ep);
}

static void test_operation_time_limit_is_honoured(void **state)
{
	(void)state;
	const char *extra[] = { "--latency", "3000", NULL };
	rms_endpoint_proc *ep = start(extra);
	rms_session *s = cim_session(ep);
	rms_request *r;
	assert_int_equal(rms_request_new(&r, RMS_OP_ENUMERATE), 0);
	assert_int_equal(rms_request_set_class(r, "Win32_Service"), 0);
	assert_int_equal(rms_request_set_timeout(r, 500), 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rms_op *op;
	rms_error *err = NULL;
	rms_error_clear();
	assert_int_equal(rms_op_start(&op, s, r), RMS_E_TIMEOUT);
	err = rms_error_dup(rms_error_last());
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(secs < 2.5); /* not the server's 3 s */
	rms_error_free(err);
	rms_request_free(r);
	rms_session_free(s);
	rms_endpoint_stop(ep);
	free(ep);
}

static void test_a_cancelled_enumeration_is_still_released(void **state)
{
	(void)state;
	const char *extra[] = { "--max-batch", "10", "--instances", "200", NULL };
	rms_endpoint_proc *ep = start(extra);
	rms_session *s = cim_session(ep);
	rms_op *op;
	assert_int_equal(rms_enumerate(&op, s, NULL, "X_Number"), 0);
	rms_instance *inst;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(rms_op_next(op, &inst), 0);
		rms_instance_free(inst);
	}
	rms_op_cancel(op);
	assert_int_equal(rms_op_next(op, &inst), RMS_E_CANCELLED);
	rms_op_free(op);
	assert_int_equal(rms_endpoint_stat(ep, "releases"), 1);
	assert_int_equal(settled_stat(ep, "enumerations_open", 0), 0);
	rms_session_free(s);
	rms_endpoint_stop(ep);
	free(ep);
}

static void test_no_release_to_a_server_that_stopped_answering(void **state)
{
	(void)state;
	/* The first Pull stalls (see above). */
	const char *extra[] = { "--max-batch", "10", "--instances", "100", "--fault", "stall:3",
		                NULL };
	rms_endpoint_proc *ep = start(extra);
	rms_session_options o = opts_for(ep);
	o.operation_timeout_ms = 500;
	rms_session *s;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	rms_op *op;
	assert_int_equal(rms_enumerate(&op, s, NULL, "X_Number"), 0);
	rms_instance *inst;
	int rc;
	while ((rc = rms_op_next(op, &inst)) == 0)
		rms_instance_free(inst);
	assert_int_equal(rc, RMS_E_TIMEOUT);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rms_op_free(op);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 2); /* freeing does not wait again */
	rms_session_free(s);
	rms_endpoint_stop(ep);
	free(ep);
}

/* ---- driven by hand, as the engine drives an operation ----------------- */

static rms_request *enumerate_request(const char *class_name)
{
	rms_request *r;
	assert_int_equal(rms_request_new(&r, RMS_OP_ENUMERATE), 0);
	assert_int_equal(rms_request_set_class(r, class_name), 0);
	return r;
}

/* One step, waiting for what it waits on as the blocking API does: 0,
 * or the op's failure. Counts the steps that had to wait. */
static int step_until_ready(rms_op *op, unsigned *waited)
{
	rms_wait w;
	int rc;
	while ((rc = op->session->ops->step(op, &w)) == RMS_EAGAIN) {
		assert_true(w.nfds > 0 || w.deadline_ms > 0); /* never a wait on nothing */
		assert_int_equal(rms__wait_block(&w), 0);
		if (waited)
			(*waited)++;
	}
	return rc;
}

/* next until it has an item or the end, stepping where it says EAGAIN. */
static int next_by_hand(rms_op *op, rms_instance **out)
{
	int rc;
	while ((rc = op->session->ops->next(op, out)) == RMS_EAGAIN)
		if ((rc = step_until_ready(op, NULL)) != 0)
			return rc;
	return rc;
}

static void test_an_enumeration_driven_by_hand_gives_what_rms_op_next_gives(void **state)
{
	(void)state;
	const char *extra[] = { "--max-batch", "10", "--instances", "45", NULL };
	rms_endpoint_proc *ep = start(extra);
	rms_session *ref_s = cim_session(ep);
	rms_op *op;
	assert_int_equal(rms_enumerate(&op, ref_s, NULL, "X_Number"), 0);
	rms_instance *want[45];
	for (int i = 0; i < 45; i++)
		assert_int_equal(rms_op_next(op, &want[i]), 0);
	rms_instance *extra_inst;
	assert_int_equal(rms_op_next(op, &extra_inst), RMS_ITEROVER);
	rms_op_free(op);

	/* A new session, so the schemas are fetched again: as states of the
	 * hand-driven machine this time. */
	rms_session *s = cim_session(ep);
	assert_int_equal(rms_endpoint_reset(ep), 0);
	rms_request *r = enumerate_request("X_Number");
	assert_int_equal(rms__op_start_nb(&op, s, r, "test", true), 0);
	rms_request_free(r);
	assert_false(op->ended);
	/* The first page (10 items, in the Enumerate's answer) is read to
	 * its end without a Pull: none begins while items are left. */
	rms_instance *got;
	for (int i = 0; i < 10; i++) {
		assert_int_equal(next_by_hand(op, &got), 0);
		assert_true(rms_instance_equal(got, want[i]));
		rms_instance_free(got);
		/* An item buffered or not, a step fetches nothing more yet. */
		assert_int_equal(rms_endpoint_stat(ep, "pulls"), 0);
	}
	/* The page is used up: next says so, and the step begins the Pull. */
	assert_int_equal(op->session->ops->next(op, &got), RMS_EAGAIN);
	assert_int_equal(rms_endpoint_stat(ep, "pulls"), 0);
	assert_int_equal(step_until_ready(op, NULL), 0);
	assert_int_equal(rms_endpoint_stat(ep, "pulls"), 1);
	for (int i = 10; i < 45; i++) {
		assert_int_equal(next_by_hand(op, &got), 0);
		assert_true(rms_instance_equal(got, want[i]));
		rms_instance_free(got);
	}
	assert_int_equal(next_by_hand(op, &got), RMS_ITEROVER);
	assert_null(got);
	assert_true(op->ended);
	/* Typed the same way: X_Number's and X_NumberDetail's schemas were
	 * fetched once each, on the operation's one connection. */
	assert_int_equal(rms_endpoint_stat(ep, "requests_by_action.Get"), 2);
	assert_int_equal(rms_endpoint_stat(ep, "connections_accepted"), 1);
	assert_int_equal(settled_stat(ep, "connections_open", 0), 0);
	rms_op_free(op);
	assert_int_equal(rms_endpoint_stat(ep, "releases"), 0);
	for (int i = 0; i < 45; i++)
		rms_instance_free(want[i]);
	rms_session_free(s);
	rms_session_free(ref_s);
	rms_endpoint_stop(ep);
	free(ep);
}

static void test_a_get_driven_by_hand_ends_in_step_with_its_result(void **state)
{
	rms_endpoint_proc *ep = *state;
	rms_session *ref_s = cim_session(ep);
	rms_instance *want = get_number(ref_s, "2");

	rms_session *s = cim_session(ep);
	assert_int_equal(rms_endpoint_reset(ep), 0);
	rms_ref *k;
	assert_int_equal(rms_ref_new(&k, NULL, "X_Number"), 0);
	assert_int_equal(rms_ref_add_selector(k, "Id", "2"), 0);
	rms_request *r;
	assert_int_equal(rms_request_new(&r, RMS_OP_GET), 0);
	assert_int_equal(rms_request_set_ref(r, k), 0);
	rms_op *op;
	assert_int_equal(rms__op_start_nb(&op, s, r, "test", true), 0);
	/* Begun, not run: the result comes from step. */
	assert_false(op->ended);
	assert_null(op->result);
	assert_int_equal(step_until_ready(op, NULL), 0);
	assert_true(op->ended);
	assert_non_null(op->result);
	assert_true(rms_instance_equal(op->result, want));
	/* Typed by the schema, on both servers. */
	assert_int_equal(rms_value_type(rms_instance_get(op->result, "U8")), RMS_TYPE_UINT8);
	/* Stepping an ended op changes nothing. */
	rms_wait w;
	assert_int_equal(op->session->ops->step(op, &w), 0);
	/* The Get and the two GetClass its typing needed, one connection,
	 * closed when the op ended. */
	assert_int_equal(rms_endpoint_stat(ep, "requests_by_action.Get"), 3);
	assert_int_equal(rms_endpoint_stat(ep, "connections_accepted"), 1);
	assert_int_equal(settled_stat(ep, "connections_open", 0), 0);
	rms_op_free(op);

	/* A failure ends the op inside step too, with its error. */
	assert_int_equal(rms_ref_add_selector(k, "NoSuchKey", "x"), 0);
	assert_int_equal(rms_request_set_ref(r, k), 0);
	assert_int_equal(rms__op_start_nb(&op, s, r, "test", true), 0);
	assert_int_equal(step_until_ready(op, NULL), RMS_E_FAULT);
	assert_true(op->ended);
	assert_null(op->result);
	assert_string_equal(rms_error_fault_subcode(rms_error_last()),
	                    omi ? "w:InternalError" : "w:InvalidSelectors");
	rms_op_free(op);
	rms_request_free(r);
	rms_ref_free(k);
	rms_instance_free(want);
	rms_session_free(s);
	rms_session_free(ref_s);
}

static void test_a_step_waits_on_the_socket_not_in_the_call(void **state)
{
	(void)state;
	const char *extra[] = { "--latency", "1500", NULL };
	rms_endpoint_proc *ep = start(extra);
	rms_session *s = cim_session(ep);
	rms_ref *k = service_ref("WinRM");
	rms_request *r;
	assert_int_equal(rms_request_new(&r, RMS_OP_GET), 0);
	assert_int_equal(rms_request_set_ref(r, k), 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rms_op *op;
	assert_int_equal(rms__op_start_nb(&op, s, r, "test", true), 0);
	rms_wait w;
	int rc = op->session->ops->step(op, &w);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	/* The answer is 1.5 s away: start and step return at once, saying
	 * which descriptor to wait on. */
	assert_int_equal(rc, RMS_EAGAIN);
	assert_true(secs < 0.75);
	assert_true(w.nfds >= 1);
	assert_true(w.fds[0].fd >= 0);
	assert_false(op->ended);
	unsigned waited = 0;
	assert_int_equal(step_until_ready(op, &waited), 0);
	assert_true(waited >= 1);
	assert_true(op->ended);
	assert_string_equal(str_prop(op->result, "Name"), "WinRM");
	rms_op_free(op);
	rms_request_free(r);
	rms_ref_free(k);
	rms_session_free(s);
	rms_endpoint_stop(ep);
	free(ep);
}

static void test_a_time_limit_ends_a_waiting_step(void **state)
{
	(void)state;
	const char *extra[] = { "--latency", "3000", NULL };
	rms_endpoint_proc *ep = start(extra);
	rms_session *s = cim_session(ep);
	rms_request *r = enumerate_request("Win32_Service");
	assert_int_equal(rms_request_set_timeout(r, 400), 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rms_op *op;
	assert_int_equal(rms__op_start_nb(&op, s, r, "test", true), 0);
	assert_int_equal(step_until_ready(op, NULL), RMS_E_TIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(secs < 2.0); /* not the server's 3 s */
	assert_true(op->ended);
	rms_instance *inst;
	assert_int_equal(op->session->ops->next(op, &inst), RMS_E_TIMEOUT);
	rms_op_free(op);
	rms_request_free(r);
	rms_session_free(s);
	rms_endpoint_stop(ep);
	free(ep);
}

static void test_test_connection_identifies_once_and_closes(void **state)
{
	rms_endpoint_proc *ep = *state;
	assert_int_equal(rms_endpoint_reset(ep), 0);
	rms_session_options o = opts_for(ep);
	o.cim.test_connection = true;
	rms_session *s;
	rms_error *err = NULL;
	if (rms_session_new(&s, RMS_BACKEND_CIM, &o))
		fail_msg("session: %s", rms_error_message(rms_error_last()));
	assert_int_equal(rms_endpoint_stat(ep, "connections_accepted"), 1);
	assert_int_equal(rms_endpoint_stat(ep, "requests_total"), 1);
	assert_int_equal(settled_stat(ep, "connections_open", 0), 0);
	rms_session_free(s);
	o.password = "wrong";
	rms_error_clear();
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), RMS_E_AUTH);
	err = rms_error_dup(rms_error_last());
	assert_int_equal(rms_error_phase(err), RMS_PHASE_AUTHENTICATE);
	rms_error_free(err);
}

/* ---- scale ------------------------------------------------------------- */

static long rss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static void test_a_million_instances_stream_in_bounded_memory(void **state)
{
	(void)state;
	const char *extra[] = { "--instances", "1000000", NULL };
	rms_endpoint_proc *ep = start(extra);
	rms_session *s = cim_session(ep);
	rms_op *op;
	assert_int_equal(rms_enumerate(&op, s, NULL, "X_Number"), 0);
	long before = 0;
	uint64_t n = 0;
	rms_instance *inst;
	int rc;
	while ((rc = rms_op_next(op, &inst)) == 0) {
		rms_instance_free(inst);
		if (++n == 10000)
			before = rss_kb(); /* after the first pages: the steady state */
	}
	assert_int_equal(rc, RMS_ITEROVER);
	assert_int_equal(n, 1000000);
	long growth = rss_kb() - before;
	fprintf(stderr, "1,000,000 instances: peak RSS grew by %ld KB after the first 10,000\n",
	        growth);
	/* One envelope is 500 KB; a leak of even 100 bytes per instance would
	 * show as 100 MB. */
	assert_true(growth < 16 * 1024);
	rms_op_free(op);
	rms_session_free(s);
	rms_endpoint_stop(ep);
	free(ep);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--omi") == 0)
		omi = true;
	else if (argc > 1 && strcmp(argv[1], "--million") == 0) {
		const struct CMUnitTest slow[] = {
			cmocka_unit_test(test_a_million_instances_stream_in_bounded_memory),
		};
		return cmocka_run_group_tests(slow, NULL, NULL);
	}
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_creation_opens_nothing_and_each_operation_one_connection),
		T(test_wrong_password_shows_at_the_first_operation),
		T(test_get_by_keys_and_by_a_returned_reference),
		T(test_query_filters_on_the_server),
		T(test_instance_and_static_methods),
		T(test_create_modify_delete),
		T(test_associators_and_references),
		T(test_every_cim_type_decodes_typed_by_the_class_schema),
		T(test_without_a_schema_values_decode_by_shape),
		T(test_get_class_schema),
		cmocka_unit_test(test_large_result_is_paged_within_the_envelope_limit),
		cmocka_unit_test(test_closing_early_releases_the_enumeration),
		T(test_request_over_the_envelope_limit_is_not_sent),
		T(test_server_faults_carry_their_numbers),
		cmocka_unit_test(test_failures_between_pages_say_how_far_it_got),
		cmocka_unit_test(test_a_server_that_stops_answering_times_out),
		cmocka_unit_test(test_operation_time_limit_is_honoured),
		cmocka_unit_test(test_a_cancelled_enumeration_is_still_released),
		cmocka_unit_test(test_no_release_to_a_server_that_stopped_answering),
		cmocka_unit_test(test_an_enumeration_driven_by_hand_gives_what_rms_op_next_gives),
		T(test_a_get_driven_by_hand_ends_in_step_with_its_result),
		cmocka_unit_test(test_a_step_waits_on_the_socket_not_in_the_call),
		cmocka_unit_test(test_a_time_limit_ends_a_waiting_step),
		T(test_test_connection_identifies_once_and_closes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
