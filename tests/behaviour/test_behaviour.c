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
 * one process per row). `test_behaviour ROW psrp` runs rows 1-6 with the
 * PSSession speaking PowerShell remoting (a runspace pool in a PowerShell
 * shell, which the endpoint serves with a real pwsh; CIM operations run as
 * a Get-CimInstance pipeline there) instead of the cmd shell: the same
 * assertions, except where the protocols truly differ (row 4: what the
 * endpoint ran; row 5: input split over MaxEnvelopeSize; row 6: a target
 * with no PowerShell endpoint). Without pwsh that mode is skipped (exit
 * 77), in CI it fails.
 *
 * `test_behaviour ROW omi` runs rows 1-6 against the endpoint's OMI
 * personality (--personality omi, ../shared/protocol/omi.md), a Linux CIM
 * server: the CIM backend's side of each row holds there as on Windows.
 * OMI has no WinRS shell and no PowerShell endpoint, so the PSSession's
 * side of every row is the failure at creation a user gets from such a
 * target, with OMI's own fault (assert_no_shell_on_omi); row 6 is the row
 * about exactly that target. Row 7 does not apply (OMI is set up with
 * Basic only, omi.md).
 *
 * Every comparison record is also appended, as one JSON line tagged with
 * its test and the PSSession's protocol ("winrs", "psrp", or "omi" for the
 * OMI target), to behaviour-records.jsonl in the working directory:
 * docs/behaviour.md quotes the numbers of such a run.
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
#include "pwsh.h"
#include "remsess/remsess.h"

#define USER RMS_ENDPOINT_USER
#define PASSWORD RMS_ENDPOINT_PASSWORD

static const char *current_test = "";
/* The PSSession speaks PowerShell remoting (mode "psrp"), not the cmd shell. */
static bool psrp;
/* The target is the endpoint's OMI personality (mode "omi"). */
static bool omi;

static bool quick(void)
{
	return getenv("RMS_TEST_QUICK") != NULL; /* the valgrind pass */
}

static rms_endpoint_proc *start(const char *const *extra)
{
	const char *args[16];
	size_t n = 0;
	if (omi) {
		args[n++] = "--personality";
		args[n++] = "omi";
	}
	for (size_t i = 0; extra && extra[i] && n < 15; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	rms_endpoint_proc *ep = rms_endpoint_spawn(args);
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

/* The PSSession's options in this mode: ps, speaking PowerShell remoting
 * with "psrp" (a pool's first pipeline waits for pwsh to start). */
static rms_session_options ps_mode(rms_session_options ps)
{
	if (psrp) {
		ps.pssession_v2.protocol = RMS_PS_PROTOCOL_POWERSHELL;
		ps.operation_timeout_ms = 30000;
	}
	return ps;
}

static rms_target *target_with(const rms_session_options *cim, const rms_session_options *ps)
{
	rms_target *t = NULL;
	rms_session_options p = ps_mode(*ps);
	if (rms_target_new(&t, cim, &p))
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
		fprintf(f, "{\"test\":\"%s\",\"protocol\":\"%s\",\"record\":%s}\n",
		        current_test, omi ? "omi" : psrp ? "psrp" : "winrs", line);
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

/* The PSSession's side against OMI. OMI has no WinRS shell, no PowerShell
 * and no config resource: a shell's URI is a CIM class URI like any other,
 * and without a __cimnamespace selector OMI answers "The target namespace
 * does not exist", CIM status 3, a:DestinationUnreachable (omi.md,
 * Addressing). The session fails at creation with that fault, in the
 * remote phase; no shell is made and no command runs. */
static void assert_no_shell_on_omi(const rms_endpoint_proc *ep, const rms_side_report *b)
{
	assert_int_equal(b->status, RMS_E_FAULT);
	assert_true(b->failed_at_creation);
	assert_int_equal(b->items, 0);
	assert_int_equal(rms_error_phase(b->error), RMS_PHASE_REMOTE);
	assert_int_equal(rms_error_backend(b->error), RMS_BACKEND_PSSESSION);
	assert_string_equal(rms_error_fault_subcode(b->error), "a:DestinationUnreachable");
	assert_int_equal(rms_error_cim_status(b->error), 3);
	assert_int_equal(stat_of(ep, "shells_created"), 0);
	assert_int_equal(stat_of(ep, "commands_run"), 0);
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

/* A pwsh ends a moment after its shell's Delete was answered: wait (up
 * to 5 s) until the endpoint has seen it go. */
static void wait_pwsh_running(const rms_endpoint_proc *ep, int64_t want)
{
	for (int i = 0; i < 500 && stat_of(ep, "pwsh_running") != want; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	assert_int_equal(stat_of(ep, "pwsh_running"), want);
}

/* ---- row 1: when it connects ------------------------------------------------ */

/* Row 1's comparison record against OMI: the CIM side's one connection
 * belonged to the operation and is gone; the PSSession failed at creation,
 * holding nothing. */
static void row1_first_operation_on_omi(const rms_endpoint_proc *ep)
{
	rms_target *t = target_for(ep);
	assert_int_equal(rms_endpoint_reset(ep), 0);
	rms_request *req = enum_request("Win32_OperatingSystem");
	rms_comparison *c = compare(t, req);
	const rms_side_report *a = cim_side(c), *b = ps_side(c);
	assert_ok(a);
	assert_true(a->session_created);
	assert_int_equal(a->items, 1);
	assert_int_equal(a->traffic.connections_opened, 1);
	assert_int_equal(a->traffic.connections_open, 0);
	assert_int_equal(a->traffic.shells_opened, 0);
	assert_no_shell_on_omi(ep, b);
	assert_false(rms_comparison_equal(c));
	/* The CIM operation's connection and the PSSession's attempt. */
	assert_int_equal(stat_of(ep, "connections_accepted"), 2);
	wait_connections_closed(ep);
	rms_comparison_free(c);
	rms_request_free(req);
	rms_target_free(t);
}

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

	if (omi) {
		/* Creating the PSSession connects and fails there: OMI has no
		 * shell (assert_no_shell_on_omi); nothing is left open. */
		ps = NULL;
		assert_int_equal(rms_target_session(&ps, t, RMS_BACKEND_PSSESSION), RMS_E_FAULT);
		assert_null(ps);
		assert_int_equal(rms_error_phase(rms_error_last()), RMS_PHASE_REMOTE);
		assert_string_equal(rms_error_fault_subcode(rms_error_last()),
		                    "a:DestinationUnreachable");
		assert_int_equal(stat_of(ep, "connections_accepted"), 1);
		assert_int_equal(stat_of(ep, "shells_created"), 0);
		wait_connections_closed(ep);
		rms_target_free(t);
		row1_first_operation_on_omi(ep);
		stop(ep);
		return;
	}
	/* Creating the PSSession connects, authenticates and opens its shell. */
	assert_int_equal(rms_target_session(&ps, t, RMS_BACKEND_PSSESSION), 0);
	assert_int_equal(rms_session_stats(ps, &st), 0);
	assert_int_equal(st.connections_opened, 1);
	assert_int_equal(st.connections_open, 1);
	assert_int_equal(st.shells_open, 1);
	assert_int_equal(stat_of(ep, "connections_accepted"), 1);
	assert_int_equal(stat_of(ep, "connections_open"), 1);
	assert_int_equal(stat_of(ep, "shells_open"), 1);
	/* PowerShell remoting: the shell is a pwsh, running, its pool open. */
	if (psrp)
		assert_int_equal(stat_of(ep, "pwsh_running"), 1);
	rms_target_free(t);
	wait_connections_closed(ep);
	if (psrp)
		wait_pwsh_running(ep, 0);

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
	/* Freeing the target closed the PSSession: shell deleted (and with
	 * PowerShell remoting, its pwsh gone). */
	assert_int_equal(stat_of(ep, "shells_open"), 0);
	if (psrp)
		wait_pwsh_running(ep, 0);
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
	char differ[512] = "";
	for (int i = 0; i < 10; i++) {
		rms_comparison *c = compare(t, req);
		const rms_side_report *a = cim_side(c), *b = ps_side(c);
		assert_ok(a);
		if (omi) {
			/* CIM: one connection per operation, none held after
			 * it; the PSSession fails at creation each time, and
			 * holds nothing either. */
			assert_true(a->items > 0);
			assert_int_equal(a->traffic.connections_opened, 1);
			assert_int_equal(a->traffic.connections_open, 0);
			assert_no_shell_on_omi(ep, b);
			cim_conns += a->traffic.connections_opened;
			rms_comparison_free(c);
			wait_connections_open(ep, 0);
			continue;
		}
		assert_ok(b);
		/* Results equal: asserted after the connections (below). */
		if (!rms_comparison_equal(c) && !differ[0])
			snprintf(differ, sizeof differ, "operation %d: differ at %s: cim %s, pssession %s",
			         i + 1, rms_comparison_where(c), rms_comparison_cim_value(c),
			         rms_comparison_pssession_value(c));
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
	if (omi) {
		/* Each comparison tried the PSSession again: ten attempts, each
		 * on a connection of its own that did not stay. */
		assert_int_equal(stat_of(ep, "connections_accepted"), 20);
		assert_int_equal(stat_of(ep, "shells_created"), 0);
		rms_request_free(req);
		rms_target_free(t);
		stop(ep);
		return;
	}
	assert_int_equal(ps_conns, 1);
	assert_int_equal(ps_shells, 1);
	assert_int_equal(stat_of(ep, "connections_accepted"), 11);
	assert_int_equal(stat_of(ep, "shells_created"), 1);
	if (psrp)
		assert_int_equal(stat_of(ep, "pwsh_started"), 1);
	if (differ[0])
		fail_msg("%s", differ);
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
	rms_session_options p = ps_mode(o);
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_PSSESSION, &p), RMS_E_CONNECT);
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
	if (omi) {
		/* The CIM side's requests were all CIM requests the client
		 * built (GetClass for the schema, which OMI serves as Windows
		 * does, once, and the Enumerate) to the provider; there is
		 * nowhere else for the work to run. */
		assert_true(a->items > 10);
		assert_int_equal(stat_of(ep, "requests_by_kind.cim"), (int64_t)a->traffic.requests);
		assert_int_equal(stat_of(ep, "classes_served"), 1);
		assert_true(stat_of(ep, "requests_by_action.Enumerate") >= 1);
		assert_no_shell_on_omi(ep, b);
		assert_int_equal(stat_of(ep, "ps_cim_commands"), 0);
		rms_comparison_free(c);
		rms_request_free(req);
		rms_target_free(t);
		stop(ep);
		return;
	}
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
	assert_true(stat_of(ep, "requests_by_action.Enumerate") >= 1);
	assert_int_equal(stat_of(ep, "commands_run"), 1);
	if (!psrp) {
		/* The cmd shell: one remote script that did the CIM query. */
		assert_int_equal(stat_of(ep, "ps_cim_commands"), 1);
	} else {
		/* PowerShell remoting: the shell was a pwsh, the command one
		 * pipeline of its pool, and in it Get-CimInstance read the
		 * remote computer's CIM classes once; no script of the cmd
		 * shell ran. */
		assert_int_equal(stat_of(ep, "pwsh_started"), 1);
		assert_int_equal(stat_of(ep, "ps_pipelines"), 1);
		assert_int_equal(stat_of(ep, "ps_cim_feeds"), 1);
		assert_int_equal(stat_of(ep, "ps_cim_commands"), 0);
	}
	assert_int_equal(stat_of(ep, "ps_cim_instances"), (int64_t)b->items);
	assert_int_equal(stat_of(ep, "requests_by_kind.shell") +
	                     stat_of(ep, "requests_by_kind.identify") +
	                     stat_of(ep, "requests_by_kind.config"),
	                 (int64_t)b->traffic.requests);
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
	if (omi) {
		/* ...the PSSession never got as far as a cap. */
		assert_no_shell_on_omi(ep, b);
		rms_comparison_free(c);
		rms_request_free(req);
		rms_target_free(t);
		stop(ep);
		return;
	}
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

/* PowerShell remoting: input over MaxEnvelopeSize. A pipeline's input
 * (rms_request_add_input) several times the endpoint's 32 KB limit goes in
 * PSRP fragments cut to fit, over the Command and several Sends; no
 * request is over the limit, and all of it arrives. A PSSession-only
 * scenario (the CIM backend has no pipelines): its record is the
 * session's traffic for the pipeline, appended as the comparisons are. */
static void row5_input_over_max_envelope(void)
{
	static const char *const args[] = { "--max-envelope-kb", "32", NULL };
	rms_endpoint_proc *ep = start(args);
	rms_session_options o = ps_mode(opts_for(ep->url, PASSWORD));
	rms_session *s = NULL;
	if (rms_session_new(&s, RMS_BACKEND_PSSESSION, &o))
		fail_msg("PSSession: %s", rms_error_message(rms_error_last()));
	assert_int_equal(rms_endpoint_reset(ep), 0);
	rms_stats before = { .version = RMS_STATS_VERSION }, after = before;
	assert_int_equal(rms_session_stats(s, &before), 0);
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_POWERSHELL), 0);
	assert_int_equal(rms_request_set_script(req, "$input | ForEach-Object { $_.Length } | "
	                                             "Measure-Object -Sum | ForEach-Object Sum"),
	                 0);
	/* 40 strings of 4000 characters (160 KB; 16 under valgrind, 64 KB). */
	const int n = quick() ? 16 : 40;
	char big[4001];
	memset(big, 'x', 4000);
	big[4000] = '\0';
	for (int i = 0; i < n; i++) {
		rms_value *v;
		assert_int_equal(rms_value_new_string(&v, big), 0);
		assert_int_equal(rms_request_add_input(req, v), 0);
		rms_value_free(v);
	}
	uint64_t t0 = (uint64_t)time(NULL);
	rms_op *op = NULL;
	if (rms_op_start(&op, s, req))
		fail_msg("start: %s", rms_error_message(rms_error_last()));
	rms_ps_stream st;
	rms_value *v = NULL;
	int rc = rms_op_next_object(op, &st, &v);
	if (rc)
		fail_msg("the pipeline failed: %s", rms_error_message(rms_op_error(op)));
	double sum = 0; /* Measure-Object's Sum is a double */
	assert_int_equal(rms_value_get_real64(v, &sum), 0);
	assert_true(sum == 4000.0 * n);
	rms_value_free(v);
	while ((rc = rms_op_next_object(op, &st, &v)) == 0)
		rms_value_free(v);
	assert_int_equal(rc, RMS_ITEROVER);
	rms_op_free(op);
	rms_request_free(req);
	assert_int_equal(rms_session_stats(s, &after), 0);
	FILE *f = fopen("behaviour-records.jsonl", "a");
	if (f) {
		fprintf(f,
		        "{\"test\":\"%s\",\"protocol\":\"psrp\",\"pssession_only\":{\"operation\":"
		        "\"powershell\",\"input_bytes\":%d,\"max_envelope\":32768,\"requests\":%llu,"
		        "\"bytes_sent\":%llu,\"largest_request\":%llu,\"endpoint_sends\":%lld,"
		        "\"endpoint_largest_request_body\":%lld,\"seconds\":%llu}}\n",
		        current_test, 4000 * n, (unsigned long long)(after.requests - before.requests),
		        (unsigned long long)(after.bytes_sent - before.bytes_sent),
		        (unsigned long long)after.largest_request,
		        (long long)stat_of(ep, "requests_by_action.Send"),
		        (long long)stat_of(ep, "largest_request_body"),
		        (unsigned long long)((uint64_t)time(NULL) - t0));
		fclose(f);
	}
	/* The input is several envelopes' worth: it went over several Sends,
	 * none over the limit, as the endpoint saw it and as the session
	 * counts it. */
	assert_true(after.bytes_sent - before.bytes_sent > 4000u * (unsigned)n);
	assert_true(stat_of(ep, "requests_by_action.Send") >= (quick() ? 1 : 4));
	assert_int_equal(stat_of(ep, "envelopes_over_limit"), 0);
	assert_int_equal(stat_of(ep, "responses_over_limit"), 0);
	assert_true(stat_of(ep, "largest_request_body") <= 32 * 1024);
	assert_true(after.largest_request <= 32 * 1024);
	assert_true(stat_of(ep, "stdin_bytes") > 4000 * n);
	rms_session_free(s);
	stop(ep);
}

static void test_row5_size_over_max_envelope(void **state)
{
	(void)state;
	current_test = "row5_size_over_max_envelope";
	if (psrp) {
		row5_input_over_max_envelope();
		return;
	}
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
	assert_int_equal(rms_target_session(&s, t, RMS_BACKEND_PSSESSION), omi ? RMS_E_FAULT : 0);
	assert_int_equal(rms_endpoint_reset(ep), 0);
	rms_comparison *c = compare(t, req);
	const rms_side_report *a = cim_side(c), *b = ps_side(c);
	assert_ok(a);
	if (omi) {
		/* CIM pulled it in pages within OMI's MaxEnvelopeSize (omi.md:
		 * "MaxEnvelopeSize is respected"); the PSSession has no shell. */
		assert_int_equal(a->items, 200);
		assert_true(a->traffic.bytes_received > 4 * 32 * 1024);
		assert_true(stat_of(ep, "requests_by_action.Pull") >= 4);
		assert_int_equal(stat_of(ep, "envelopes_over_limit"), 0);
		assert_int_equal(stat_of(ep, "responses_over_limit"), 0);
		assert_true(a->traffic.largest_request <= 32 * 1024);
		assert_no_shell_on_omi(ep, b);
		rms_comparison_free(c);
		rms_request_free(req);
		rms_target_free(t);
		stop(ep);
		return;
	}
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
	/* With PowerShell remoting: a target that has the cmd shell but no
	 * PowerShell endpoint (no session configuration registered). */
	static const char *const no_shell[] = { "--no-shell", NULL };
	static const char *const no_powershell[] = { "--no-powershell", NULL };
	/* OMI is such a target as it is: CIM classes only. */
	rms_endpoint_proc *ep = start(omi ? NULL : psrp ? no_powershell : no_shell);
	rms_target *t = target_for(ep);
	rms_request *req = enum_request("Win32_Service");
	rms_comparison *c = compare(t, req);
	const rms_side_report *a = cim_side(c), *b = ps_side(c);
	/* The CIM backend needs only the CIM provider behind WS-Man. */
	assert_ok(a);
	assert_true(a->items > 10);
	/* The PSSession needs a shell endpoint, and says so at creation. */
	if (omi)
		assert_no_shell_on_omi(ep, b);
	assert_int_equal(b->status, RMS_E_FAULT);
	assert_true(b->failed_at_creation);
	assert_int_equal(rms_error_phase(b->error), RMS_PHASE_REMOTE);
	assert_string_equal(rms_error_fault_subcode(b->error), "a:DestinationUnreachable");
	if (psrp) {
		/* Windows' fault for a PowerShell resource with no session
		 * configuration behind it (0x80338012, what New-PSSession
		 * reports), naming the configuration. */
		assert_int_equal(rms_error_wsman_code(b->error), 2150858770u);
		assert_non_null(strstr(rms_error_message(b->error),
		                       "Cannot find the Microsoft.PowerShell session configuration"));
	}
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
	if (psrp || omi)
		skip(); /* rows 1-6 only (ctest registers no psrp_row7, omi_row7) */
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
	if (argc > 2 && strcmp(argv[2], "omi") == 0) {
		omi = true;
	} else if (argc > 2 && strcmp(argv[2], "psrp") == 0) {
		psrp = true;
		if (!rms_test_pwsh()) {
			if (getenv("CI")) {
				fprintf(stderr, "behaviour psrp: no pwsh in CI (scripts/deps.sh installs it)\n");
				return 1;
			}
			fprintf(stderr, "behaviour psrp: no pwsh (RMS_PWSH, ~/.dotnet/tools/pwsh or "
			                "PATH): the PowerShell-remoting rows are skipped\n");
			return 77; /* SKIP_RETURN_CODE in CMakeLists.txt */
		}
	} else if (argc > 2) {
		fprintf(stderr, "usage: test_behaviour [ROW [psrp|omi]]\n");
		return 2;
	}
	if (argc > 1) {
		static char pattern[128];
		snprintf(pattern, sizeof pattern, "*%s*", argv[1]);
		cmocka_set_test_filter(pattern);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
