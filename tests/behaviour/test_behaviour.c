/*
 * Behaviour tests: one test per row of the table in shared/design.md, each
 * running the same scenario on both backends of one target against the
 * test endpoint. The assertions read the library's own comparison record
 * (rms_compare) and the endpoint's /stats, so what remsess reports and what
 * the server saw cannot drift apart.
 *
 *   row 1  when it connects          test_row1_when_it_connects
 *   row 2  connection over time      test_row2_connection_over_time
 *   row 3  when failures show        test_row3_failures_unreachable,
 *                                    test_row3_failures_wrong_password
 *   row 4  where the work runs       test_row4_where_the_work_runs
 *   row 5  size limits               test_row5_size_per_command_cap,
 *                                    test_row5_size_over_max_envelope
 *   row 6  what the target needs     test_row6_target_without_a_shell
 *
 * `test_behaviour ROW` runs the tests whose names contain ROW (ctest runs
 * one process per row). Every comparison record is also appended, as one
 * JSON line tagged with its test, to behaviour-records.jsonl in the working
 * directory: docs/behaviour.md quotes the numbers of such a run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "endpoint.h"
#include "kdc.h"
#include "remsess/remsess.h"

#define USER RMS_ENDPOINT_USER
#define PASSWORD RMS_ENDPOINT_PASSWORD

static const char *current_test = "";

static rms_endpoint_proc *start(const char *const *extra)
{
	rms_endpoint_proc *ep = rms_endpoint_spawn(extra);
	if (!ep)
		fail_msg("could not start the test endpoint");
	return ep;
}

static void stop(rms_endpoint_proc *ep)
{
	rms_endpoint_kill(ep);
	rms_error_clear();
}

static rms_session_options opts_for(const char *url, const char *password)
{
	rms_session_options o = RMS_SESSION_OPTIONS_INIT;
	o.url = url;
	o.user = USER;
	o.password = password;
	o.allow_unencrypted = true; /* plain http to loopback */
	o.operation_timeout_ms = 10000;
	o.connect_timeout_ms = 5000;
	return o;
}

static rms_target *target_with(const rms_session_options *cim, const rms_session_options *ps)
{
	rms_target *t = NULL;
	if (rms_target_new(&t, cim, ps))
		fail_msg("target: %s", rms_error_message(rms_error_last()));
	return t;
}

static rms_target *target_for(const rms_endpoint_proc *ep)
{
	rms_session_options o = opts_for(ep->url, PASSWORD);
	return target_with(&o, &o);
}

static rms_request *enum_request(const char *cls)
{
	rms_request *r;
	assert_int_equal(rms_request_new(&r, RMS_OP_ENUMERATE), 0);
	assert_int_equal(rms_request_set_class(r, cls), 0);
	return r;
}

static rms_request *query_request(const char *wql)
{
	rms_request *r;
	assert_int_equal(rms_request_new(&r, RMS_OP_QUERY), 0);
	assert_int_equal(rms_request_set_query(r, NULL, wql), 0);
	return r;
}

/* Compare, log the record, and return it. */
static rms_comparison *compare(rms_target *t, const rms_request *req)
{
	rms_comparison *c = NULL;
	if (rms_compare(&c, t, req))
		fail_msg("compare: %s", rms_error_message(rms_error_last()));
	char *line = NULL;
	assert_int_equal(rms_comparison_to_json(&line, c), 0);
	FILE *f = fopen("behaviour-records.jsonl", "a");
	if (f) {
		fprintf(f, "{\"test\":\"%s\",\"record\":%s}\n", current_test, line);
		fclose(f);
	}
	rms_free(line);
	return c;
}

static const rms_side_report *cim_side(const rms_comparison *c)
{
	return rms_comparison_side(c, RMS_BACKEND_CIM);
}

static const rms_side_report *ps_side(const rms_comparison *c)
{
	return rms_comparison_side(c, RMS_BACKEND_PSSESSION);
}

static void assert_ok(const rms_side_report *r)
{
	if (r->status)
		fail_msg("%s side failed: %s", rms_backend_name(r->backend),
		         rms_error_message(r->error));
}

static int64_t stat_of(const rms_endpoint_proc *ep, const char *path)
{
	int64_t v = rms_endpoint_stat(ep, path);
	return v < 0 ? 0 : v; /* absent counters (nothing of that kind yet) are 0 */
}

/* The server notices a closed connection a moment after the client closed
 * it: wait (up to 5 s) until it has. */
static void wait_connections_open(const rms_endpoint_proc *ep, int64_t want)
{
	for (int i = 0; i < 500 && stat_of(ep, "connections_open") > want; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	assert_int_equal(stat_of(ep, "connections_open"), want);
}

static void wait_connections_closed(const rms_endpoint_proc *ep)
{
	wait_connections_open(ep, 0);
}

/* ---- row 1: when it connects ------------------------------------------------ */

static void test_row1_when_it_connects(void **state)
{
	(void)state;
	current_test = "row1_when_it_connects";
	rms_endpoint_proc *ep = start(NULL);
	rms_target *t = target_for(ep);
	assert_int_equal(rms_endpoint_reset(ep), 0);

	/* Creating the CIM session opens nothing. */
	rms_session *cim, *ps;
	assert_int_equal(rms_target_session(&cim, t, RMS_BACKEND_CIM), 0);
	rms_stats st = { .version = RMS_STATS_VERSION };
	assert_int_equal(rms_session_stats(cim, &st), 0);
	assert_int_equal(st.connections_opened, 0);
	assert_int_equal(stat_of(ep, "connections_accepted"), 0);
	assert_int_equal(stat_of(ep, "requests_total"), 0);

	/* Creating the PSSession connects, authenticates and opens its shell. */
	assert_int_equal(rms_target_session(&ps, t, RMS_BACKEND_PSSESSION), 0);
	assert_int_equal(rms_session_stats(ps, &st), 0);
	assert_int_equal(st.connections_opened, 1);
	assert_int_equal(st.connections_open, 1);
	assert_int_equal(st.shells_open, 1);
	assert_int_equal(stat_of(ep, "connections_accepted"), 1);
	assert_int_equal(stat_of(ep, "connections_open"), 1);
	assert_int_equal(stat_of(ep, "shells_open"), 1);
	rms_target_free(t);
	wait_connections_closed(ep);

	/* The comparison record of a first operation on a fresh target says the
	 * same: the PSSession's side made its connection and shell when the
	 * session was created and still holds them; the CIM side's one
	 * connection belonged to the operation and is gone. */
	t = target_for(ep);
	assert_int_equal(rms_endpoint_reset(ep), 0);
	rms_request *req = enum_request("Win32_OperatingSystem");
	rms_comparison *c = compare(t, req);
	const rms_side_report *a = cim_side(c), *b = ps_side(c);
	assert_ok(a);
	assert_ok(b);
	assert_true(a->session_created && b->session_created);
	assert_int_equal(a->traffic.connections_opened, 1);
	assert_int_equal(a->traffic.connections_open, 0);
	assert_int_equal(a->traffic.shells_opened, 0);
	assert_int_equal(b->traffic.connections_opened, 1);
	assert_int_equal(b->traffic.connections_open, 1);
	assert_int_equal(b->traffic.shells_opened, 1);
	assert_int_equal(b->traffic.shells_open, 1);
	assert_int_equal(stat_of(ep, "connections_accepted"), 2);
	wait_connections_open(ep, 1); /* the CIM side's close, once noticed */
	assert_int_equal(stat_of(ep, "shells_open"), 1);
	rms_comparison_free(c);
	rms_request_free(req);
	rms_target_free(t);
	/* Freeing the target closed the PSSession: shell deleted. */
	assert_int_equal(stat_of(ep, "shells_open"), 0);
	stop(ep);
}

/* ---- row 2: connection over time --------------------------------------------- */

static void test_row2_connection_over_time(void **state)
{
	(void)state;
	current_test = "row2_connection_over_time";
	rms_endpoint_proc *ep = start(NULL);
	rms_target *t = target_for(ep);
	assert_int_equal(rms_endpoint_reset(ep), 0);
	rms_request *req = query_request("SELECT Name, State FROM Win32_Service WHERE StartMode = 'Auto'");
	uint64_t cim_conns = 0, ps_conns = 0, ps_shells = 0;
	for (int i = 0; i < 10; i++) {
		rms_comparison *c = compare(t, req);
		const rms_side_report *a = cim_side(c), *b = ps_side(c);
		assert_ok(a);
		assert_ok(b);
		assert_true(rms_comparison_equal(c));
		/* CIM: one connection per operation, none held after it. */
		assert_int_equal(a->traffic.connections_opened, 1);
		assert_int_equal(a->traffic.connections_open, 0);
		/* PSSession: its one connection and shell, held throughout. */
		assert_int_equal(b->traffic.connections_open, 1);
		assert_int_equal(b->traffic.shells_open, 1);
		assert_int_equal(b->session_created, i == 0);
		cim_conns += a->traffic.connections_opened;
		ps_conns += b->traffic.connections_opened;
		ps_shells += b->traffic.shells_opened;
		rms_comparison_free(c);
		/* Between operations the server sees only the PSSession's
		 * (once it has noticed the CIM operation's close). */
		wait_connections_open(ep, 1);
	}
	assert_int_equal(cim_conns, 10);
	assert_int_equal(ps_conns, 1);
	assert_int_equal(ps_shells, 1);
	assert_int_equal(stat_of(ep, "connections_accepted"), 11);
	assert_int_equal(stat_of(ep, "shells_created"), 1);
	rms_request_free(req);
	rms_target_free(t);
	stop(ep);
}

/* ---- row 3: when failures show ------------------------------------------------ */

static void assert_failure_timing(const rms_comparison *c, int code, rms_phase phase)
{
	const rms_side_report *a = cim_side(c), *b = ps_side(c);
	/* The CIM session was created (nothing to check yet) and its first
	 * operation failed; the PSSession failed at creation. */
	assert_int_equal(a->status, code);
	assert_false(a->failed_at_creation);
	assert_int_equal(rms_error_phase(a->error), phase);
	assert_int_equal(b->status, code);
	assert_true(b->failed_at_creation);
	assert_int_equal(rms_error_phase(b->error), phase);
	assert_false(rms_comparison_equal(c));
	assert_null(rms_comparison_where(c));
}

static void test_row3_failures_unreachable(void **state)
{
	(void)state;
	current_test = "row3_failures_unreachable";
	/* Port 1 on loopback: nothing listens there. */
	rms_session_options o = opts_for("http://127.0.0.1:1/wsman", PASSWORD);
	rms_session *s = NULL;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	rms_session_free(s);
	s = NULL;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_PSSESSION, &o), RMS_E_CONNECT);
	assert_null(s);

	rms_target *t = target_with(&o, &o);
	rms_request *req = enum_request("Win32_Service");
	rms_comparison *c = compare(t, req);
	assert_failure_timing(c, RMS_E_CONNECT, RMS_PHASE_CONNECT);
	assert_true(cim_side(c)->session_created);
	rms_comparison_free(c);
	rms_request_free(req);
	rms_target_free(t);
}

static void test_row3_failures_wrong_password(void **state)
{
	(void)state;
	current_test = "row3_failures_wrong_password";
	rms_endpoint_proc *ep = start(NULL);
	rms_session_options o = opts_for(ep->url, "not-the-password");
	rms_target *t = target_with(&o, &o);
	assert_int_equal(rms_endpoint_reset(ep), 0);
	rms_session *s;
	/* The CIM session is created without a word to the server. */
	assert_int_equal(rms_target_session(&s, t, RMS_BACKEND_CIM), 0);
	assert_int_equal(stat_of(ep, "requests_total"), 0);
	rms_request *req = enum_request("Win32_Service");
	rms_comparison *c = compare(t, req);
	assert_failure_timing(c, RMS_E_AUTH, RMS_PHASE_AUTHENTICATE);
	assert_int_equal(rms_error_http_status(cim_side(c)->error), 401);
	assert_int_equal(rms_error_http_status(ps_side(c)->error), 401);
	assert_int_equal(stat_of(ep, "shells_created"), 0);
	rms_comparison_free(c);
	rms_request_free(req);
	rms_target_free(t);
	stop(ep);
}

/* ---- row 4: where the work runs ------------------------------------------------ */

static void test_row4_where_the_work_runs(void **state)
{
	(void)state;
	current_test = "row4_where_the_work_runs";
	rms_endpoint_proc *ep = start(NULL);
	rms_target *t = target_for(ep);
	assert_int_equal(rms_endpoint_reset(ep), 0);
	rms_request *req = enum_request("Win32_Service");
	rms_comparison *c = compare(t, req);
	const rms_side_report *a = cim_side(c), *b = ps_side(c);
	assert_ok(a);
	assert_ok(b);
	assert_true(rms_comparison_equal(c));
	assert_true(a->items > 10);
	assert_int_equal(a->items, b->items);
	/* Every request of the CIM side was a WS-Man CIM request the client
	 * built itself (GetClass for the schema, Enumerate, Pull); the
	 * PSSession sent shell requests only (plus its Identify and the
	 * winrm/config read at creation), and the
	 * endpoint ran one remote command that did the CIM query there. */
	assert_int_equal(stat_of(ep, "requests_by_kind.cim"), (int64_t)a->traffic.requests);
	assert_int_equal(stat_of(ep, "requests_by_kind.shell") +
	                     stat_of(ep, "requests_by_kind.identify") +
	                     stat_of(ep, "requests_by_kind.config"),
	                 (int64_t)b->traffic.requests);
	assert_true(stat_of(ep, "requests_by_action.Enumerate") >= 1);
	assert_int_equal(stat_of(ep, "commands_run"), 1);
	assert_int_equal(stat_of(ep, "ps_cim_commands"), 1);
	assert_int_equal(stat_of(ep, "ps_cim_instances"), (int64_t)b->items);
	rms_comparison_free(c);
	rms_request_free(req);
	rms_target_free(t);
	stop(ep);
}

/* ---- row 5: size limits -------------------------------------------------------- */

static void test_row5_size_per_command_cap(void **state)
{
	(void)state;
	current_test = "row5_size_per_command_cap";
	static const char *const args[] = { "--instances", "400", NULL };
	rms_endpoint_proc *ep = start(args);
	rms_session_options o = opts_for(ep->url, PASSWORD);
	rms_session_options p = o;
	p.pssession.max_received_per_command = 256 * 1024;
	rms_target *t = target_with(&o, &p);
	rms_request *req = enum_request("X_Number");
	rms_comparison *c = compare(t, req);
	const rms_side_report *a = cim_side(c), *b = ps_side(c);
	/* CIM returns all of it, more than twice the PSSession's cap... */
	assert_ok(a);
	assert_int_equal(a->items, 400);
	assert_true(a->traffic.bytes_received > 2 * 256 * 1024);
	/* ...the PSSession stops at its cap, and says which. */
	assert_int_equal(b->status, RMS_E_LIMIT);
	assert_non_null(b->limit_hit);
	assert_string_equal(b->limit_hit, "MaximumReceivedDataSizePerCommand");
	assert_int_equal(rms_error_limit_value(b->error), 256 * 1024);
	assert_true(rms_error_limit_actual(b->error) > 256 * 1024);
	assert_true(b->items < 400);
	assert_false(b->failed_at_creation);
	assert_false(rms_comparison_equal(c));
	/* The command was stopped on the remote side. */
	assert_true(stat_of(ep, "signals") >= 1);
	rms_comparison_free(c);
	rms_request_free(req);
	rms_target_free(t);
	stop(ep);
}

static void test_row5_size_over_max_envelope(void **state)
{
	(void)state;
	current_test = "row5_size_over_max_envelope";
	static const char *const args[] = { "--instances", "200", "--max-envelope-kb", "32", NULL };
	rms_endpoint_proc *ep = start(args);
	rms_target *t = target_for(ep);
	/* Every scalar property of X_Number (its arrays can be empty, which
	 * WS-Man cannot carry: see docs/behaviour.md). */
	rms_request *req = query_request(
	    "SELECT Id, U8, S8, U16, S16, U32, S32, U64, S64, R32, R64, Flag, Letter, Text, When, "
	    "Span, Owner, Detail, Nothing, Sometimes FROM X_Number");
	/* Create the sessions first, so the counts below are the query's. */
	rms_session *s;
	assert_int_equal(rms_target_session(&s, t, RMS_BACKEND_PSSESSION), 0);
	assert_int_equal(rms_endpoint_reset(ep), 0);
	rms_comparison *c = compare(t, req);
	const rms_side_report *a = cim_side(c), *b = ps_side(c);
	assert_ok(a);
	assert_ok(b);
	if (!rms_comparison_equal(c))
		fail_msg("differ at %s: %s / %s", rms_comparison_where(c),
		         rms_comparison_cim_value(c), rms_comparison_pssession_value(c));
	assert_int_equal(a->items, 200);
	assert_int_equal(b->items, 200);
	/* The result is several times MaxEnvelopeSize: CIM pulled it in pages,
	 * the PSSession received it in several envelopes; no message either
	 * way was over the limit. */
	assert_true(a->traffic.bytes_received > 4 * 32 * 1024);
	assert_true(stat_of(ep, "requests_by_action.Pull") >= 4);
	assert_true(stat_of(ep, "requests_by_action.Receive") >= 4);
	assert_int_equal(stat_of(ep, "envelopes_over_limit"), 0);
	assert_int_equal(stat_of(ep, "responses_over_limit"), 0);
	assert_true(a->traffic.largest_request <= 32 * 1024);
	assert_true(b->traffic.largest_request <= 32 * 1024);
	rms_comparison_free(c);
	rms_request_free(req);
	rms_target_free(t);
	stop(ep);
}

/* ---- row 6: what the target needs ------------------------------------------------ */

static void test_row6_target_without_a_shell(void **state)
{
	(void)state;
	current_test = "row6_target_without_a_shell";
	static const char *const args[] = { "--no-shell", NULL };
	rms_endpoint_proc *ep = start(args);
	rms_target *t = target_for(ep);
	rms_request *req = enum_request("Win32_Service");
	rms_comparison *c = compare(t, req);
	const rms_side_report *a = cim_side(c), *b = ps_side(c);
	/* The CIM backend needs only the CIM provider behind WS-Man. */
	assert_ok(a);
	assert_true(a->items > 10);
	/* The PSSession needs a shell endpoint, and says so at creation. */
	assert_int_equal(b->status, RMS_E_FAULT);
	assert_true(b->failed_at_creation);
	assert_int_equal(rms_error_phase(b->error), RMS_PHASE_REMOTE);
	assert_string_equal(rms_error_fault_subcode(b->error), "a:DestinationUnreachable");
	assert_int_equal(stat_of(ep, "shells_created"), 0);
	rms_comparison_free(c);
	rms_request_free(req);
	rms_target_free(t);
	stop(ep);
}

/* ---- row 7: rows 2 and 3 under real authentication ------------------------ */

/* A default Windows host's login: Kerberos from the suite's own KDC, every
 * message sealed (the endpoint refuses plaintext). The CIM backend logs in
 * on each operation's connection; the PSSession once, at creation. A wrong
 * password shows at the first operation for CIM, at creation for the
 * PSSession, both in the authenticate phase. */
static void test_row7_under_kerberos(void **state)
{
	(void)state;
	current_test = "row7_under_kerberos";
	rms_kdc kdc;
	if (rms_kdc_start(&kdc) != 0)
		fail_msg("could not start the KDC");
	rms_endpoint_proc *ep = start(rms_kdc_endpoint_args(&kdc));
	char url[160];
	snprintf(url, sizeof url, "http://localhost:%u/wsman", ep->port);
	rms_session_options o = opts_for(url, PASSWORD);
	o.user = USER "@REMSESS.TEST";
	o.auth = RMS_AUTH_KERBEROS;
	o.allow_unencrypted = false;
	rms_target *t = target_with(&o, &o);
	assert_int_equal(rms_endpoint_reset(ep), 0);
	rms_request *req = query_request("SELECT Name, State FROM Win32_Service WHERE StartMode = 'Auto'");
	for (int i = 0; i < 10; i++) {
		rms_comparison *c = compare(t, req);
		assert_ok(cim_side(c));
		assert_ok(ps_side(c));
		assert_true(rms_comparison_equal(c));
		rms_comparison_free(c);
	}
	/* Logins: one per CIM operation (10) and the PSSession's one. */
	assert_int_equal(stat_of(ep, "auth_handshakes"), 11);
	assert_int_equal(stat_of(ep, "auth_by_mech.kerberos"), 11);
	assert_int_equal(stat_of(ep, "plaintext_refused"), 0);
	assert_true(stat_of(ep, "encrypted_requests") >= 10 + 10 * 3);
	rms_request_free(req);
	rms_target_free(t);

	rms_session_options bad = o;
	bad.password = "not-the-password";
	rms_session *cim = NULL, *ps = NULL;
	assert_int_equal(rms_session_new(&cim, RMS_BACKEND_CIM, &bad), 0);
	rms_op *op = NULL;
	int rc = rms_enumerate(&op, cim, NULL, "Win32_Service");
	if (!rc) {
		rms_instance *inst = NULL;
		rc = rms_op_next(op, &inst);
		assert_int_equal(rc, RMS_E_AUTH);
		assert_int_equal(rms_error_phase(rms_op_error(op)), RMS_PHASE_AUTHENTICATE);
		rms_op_free(op);
	} else {
		assert_int_equal(rc, RMS_E_AUTH);
	}
	rms_session_free(cim);
	assert_int_equal(rms_session_new(&ps, RMS_BACKEND_PSSESSION, &bad), RMS_E_AUTH);
	assert_int_equal(rms_error_phase(rms_error_last()), RMS_PHASE_AUTHENTICATE);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "wrong password"));
	stop(ep);
	rms_kdc_stop(&kdc);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_row1_when_it_connects),
		cmocka_unit_test(test_row2_connection_over_time),
		cmocka_unit_test(test_row3_failures_unreachable),
		cmocka_unit_test(test_row3_failures_wrong_password),
		cmocka_unit_test(test_row4_where_the_work_runs),
		cmocka_unit_test(test_row5_size_per_command_cap),
		cmocka_unit_test(test_row5_size_over_max_envelope),
		cmocka_unit_test(test_row6_target_without_a_shell),
		cmocka_unit_test(test_row7_under_kerberos),
	};
	if (argc > 1) {
		static char pattern[128];
		snprintf(pattern, sizeof pattern, "*%s*", argv[1]);
		cmocka_set_test_filter(pattern);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
