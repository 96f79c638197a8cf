/*
 * PowerShell remoting over WinRM (psremote/psrp_winrm.c under ps_psrp.c,
 * opening through psremote/winrm_setup.c: Identify and winrm/config)
 * against the test endpoint's PowerShell plugin, which serves each
 * PowerShell shell with a real pwsh 7.6.10 (tests/endpoint, docs/testing.md):
 * the pool opened in a WinRS shell at session creation, pipelines as
 * Command / Send / Receive / Signal, the shell deleted at close, input and
 * output across many envelopes under a small MaxEnvelopeSize. Skipped
 * without pwsh (fails in CI).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "endpoint.h"
#include "pwsh.h"
#include "remsess/remsess.h"

static rms_endpoint_proc *ep;

static int group_setup(void **state)
{
	(void)state;
	if (!rms_test_pwsh()) {
		if (getenv("CI"))
			fail_msg("psrp_winrm: no pwsh in CI (scripts/deps.sh installs it)");
		fprintf(stderr, "psrp_winrm: no pwsh: tests skipped\n");
		return 0;
	}
	ep = rms_endpoint_spawn(NULL);
	if (!ep)
		fail_msg("could not start the test endpoint");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	rms_endpoint_kill(ep);
	return 0;
}

#define NEED_PWSH()                                                                                \
	do {                                                                                       \
		if (!ep)                                                                           \
			skip();                                                                    \
	} while (0)

static rms_session_options ps_opts(void)
{
	rms_session_options o = rms_endpoint_session_options(ep);
	o.pssession_v2.protocol = RMS_PS_PROTOCOL_POWERSHELL;
	o.operation_timeout_ms = 30000;
	return o;
}

static rms_session *open_ps(const rms_session_options *o)
{
	rms_session *s = NULL;
	if (rms_session_new(&s, RMS_BACKEND_PSSESSION, o))
		fail_msg("opening the PSRP session over WinRM failed: %s",
		         rms_error_message(rms_error_last()));
	return s;
}

struct result {
	rms_ps_stream st[64];
	rms_value *v[64];
	size_t n;
	int rc;
	char msg[512];
};

static void run(rms_session *s, rms_request *req, struct result *r)
{
	memset(r, 0, sizeof *r);
	rms_op *op = NULL;
	if (rms_op_start(&op, s, req))
		fail_msg("start failed: %s", rms_error_message(rms_error_last()));
	rms_ps_stream st;
	rms_value *v;
	while ((r->rc = rms_op_next_object(op, &st, &v)) == 0) {
		if (r->n < 64) {
			r->st[r->n] = st;
			r->v[r->n++] = v;
		} else {
			rms_value_free(v);
		}
	}
	if (r->rc != RMS_ITEROVER)
		snprintf(r->msg, sizeof r->msg, "%s", rms_error_message(rms_op_error(op)));
	rms_op_free(op);
}

static void run_script(rms_session *s, const char *script, struct result *r)
{
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_POWERSHELL), 0);
	assert_int_equal(rms_request_set_script(req, script), 0);
	run(s, req, r);
	rms_request_free(req);
}

static void result_free(struct result *r)
{
	for (size_t i = 0; i < r->n; i++)
		rms_value_free(r->v[i]);
	r->n = 0;
}

static void test_open_run_close(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_endpoint_reset(ep);
	rms_session_options o = ps_opts();
	rms_session *s = open_ps(&o);
	/* Eager: the shell and its pwsh exist at creation. */
	assert_int_equal(rms_endpoint_stat(ep, "shells_created"), 1);
	assert_int_equal(rms_endpoint_stat(ep, "pwsh_running"), 1);
	struct result r;
	run_script(s, "1..3", &r);
	if (r.rc != RMS_ITEROVER)
		fail_msg("1..3 failed: %s", r.msg);
	assert_int_equal(r.n, 3);
	for (int i = 0; i < 3; i++) {
		int32_t n = 0;
		assert_int_equal(rms_value_get_sint32(r.v[i], &n), 0);
		assert_int_equal(n, i + 1);
	}
	result_free(&r);
	/* Streams, and a failure leaving the pool usable. */
	run_script(s, "Write-Warning 'w1'; 'out'; throw 'boom'", &r);
	assert_int_equal(r.rc, RMS_E_FAULT);
	assert_non_null(strstr(r.msg, "boom"));
	assert_int_equal(r.n, 2);
	assert_int_equal(r.st[0], RMS_PS_WARNING);
	assert_string_equal(rms_ps_record_message(r.v[0]), "w1");
	result_free(&r);
	run_script(s, "$global:x = 41; $x + 1", &r);
	assert_int_equal(r.rc, RMS_ITEROVER);
	int32_t n = 0;
	assert_int_equal(rms_value_get_sint32(r.v[0], &n), 0);
	assert_int_equal(n, 42);
	result_free(&r);
	/* One shell for all of it; closing deletes it and ends pwsh. */
	assert_int_equal(rms_endpoint_stat(ep, "shells_created"), 1);
	assert_int_equal(rms_session_close(s), 0);
	assert_int_equal(rms_endpoint_stat(ep, "pwsh_running"), 0);
	rms_session_free(s);
}

/* rms_session_check on a PowerShell pool: the server's record of the
 * shell over the session's own connection (no new connection, no new
 * shell), and the pool runs pipelines after it as before. */
static void test_check_reads_the_shell_record(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_endpoint_reset(ep);
	rms_session_options o = ps_opts();
	rms_session *s = open_ps(&o);
	rms_stats before = {.version = RMS_STATS_VERSION}, after = {.version = RMS_STATS_VERSION};
	assert_int_equal(rms_session_stats(s, &before), 0);
	/* The creation's own Get (winrm/config) is counted already. */
	int64_t gets = rms_endpoint_stat(ep, "requests_by_action.Get");
	rms_instance *info = NULL;
	if (rms_session_check(s, &info))
		fail_msg("check failed: %s", rms_error_message(rms_error_last()));
	assert_non_null(info);
	assert_string_equal(rms_instance_class_name(info), "Shell");
	const char *text = NULL;
	assert_int_equal(rms_value_get_string(rms_instance_get(info, "State"), &text), 0);
	assert_string_equal(text, "Connected");
	assert_int_equal(rms_value_get_string(rms_instance_get(info, "ResourceUri"), &text), 0);
	assert_string_equal(text, "http://schemas.microsoft.com/powershell/Microsoft.PowerShell");
	assert_int_equal(rms_value_get_string(rms_instance_get(info, "Owner"), &text), 0);
	assert_string_equal(text, RMS_ENDPOINT_USER);
	rms_instance_free(info);
	assert_int_equal(rms_session_check(s, NULL), 0);
	assert_int_equal(rms_session_stats(s, &after), 0);
	assert_int_equal(after.connections_opened, before.connections_opened);
	assert_int_equal(after.shells_opened, before.shells_opened);
	assert_int_equal(after.round_trips, before.round_trips + 2);
	assert_int_equal(rms_endpoint_stat(ep, "requests_by_action.Get"), gets + 2);
	struct result r;
	run_script(s, "'still here'", &r);
	assert_int_equal(r.rc, RMS_ITEROVER);
	assert_int_equal(r.n, 1);
	assert_int_equal(rms_value_get_string(r.v[0], &text), 0);
	assert_string_equal(text, "still here");
	result_free(&r);
	rms_session_free(s);
}

static void test_input_and_big_output_in_small_envelopes(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	o.max_envelope_size = 8192;
	rms_session *s = open_ps(&o);
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_POWERSHELL), 0);
	assert_int_equal(
	        rms_request_set_script(req, "$input | ForEach-Object { $_.Length } | Measure-Object -Sum | "
	                                    "ForEach-Object Sum"),
	        0);
	/* 20 strings of 3000 characters: far more than one 8 KB envelope. */
	char big[3001];
	memset(big, 'y', 3000);
	big[3000] = '\0';
	for (int i = 0; i < 20; i++) {
		rms_value *v;
		assert_int_equal(rms_value_new_string(&v, big), 0);
		assert_int_equal(rms_request_add_input(req, v), 0);
		rms_value_free(v);
	}
	struct result r;
	run(s, req, &r);
	rms_request_free(req);
	if (r.rc != RMS_ITEROVER)
		fail_msg("input failed: %s", r.msg);
	assert_int_equal(r.n, 1);
	double sum = 0; /* Measure-Object's Sum is a double */
	assert_int_equal(rms_value_get_real64(r.v[0], &sum), 0);
	assert_true(sum == 60000.0);
	result_free(&r);
	/* 100,000 characters back, in many Receive answers. */
	run_script(s, "'z' * 100000", &r);
	assert_int_equal(r.rc, RMS_ITEROVER);
	const char *t = NULL;
	assert_int_equal(rms_value_get_string(r.v[0], &t), 0);
	assert_int_equal(strlen(t), 100000);
	result_free(&r);
	rms_stats st = { .version = RMS_STATS_VERSION };
	assert_int_equal(rms_session_stats(s, &st), 0);
	assert_true(st.largest_request <= 8192);
	rms_session_free(s);
}

static void test_stop_over_winrm(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	rms_session *s = open_ps(&o);
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_POWERSHELL), 0);
	assert_int_equal(rms_request_set_script(req, "'first'; Start-Sleep -Seconds 60; 'never'"), 0);
	rms_op *op;
	assert_int_equal(rms_op_start(&op, s, req), 0);
	rms_ps_stream st;
	rms_value *v;
	assert_int_equal(rms_op_next_object(op, &st, &v), 0);
	rms_value_free(v);
	rms_op_cancel(op);
	int rc;
	while ((rc = rms_op_next_object(op, &st, &v)) == 0)
		rms_value_free(v);
	assert_int_equal(rc, RMS_E_CANCELLED);
	rms_op_free(op);
	rms_request_free(req);
	struct result r;
	run_script(s, "'after'", &r);
	assert_int_equal(r.rc, RMS_ITEROVER);
	result_free(&r);
	rms_session_free(s);
}

static void test_unknown_configuration_fails_at_creation(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	o.pssession.shell_uri = "http://schemas.microsoft.com/powershell/NoSuchConfig";
	rms_session *s = NULL;
	int rc = rms_session_new(&s, RMS_BACKEND_PSSESSION, &o);
	assert_int_not_equal(rc, 0);
	assert_null(s);
	assert_int_equal(rms_error_wsman_code(rms_error_last()), 2150858770u);
}

/* An op freed right after it started: its pipeline is dropped unsent (no
 * Receive on a command about to be terminated), and the pool goes on. A
 * time limit stops a pipeline; closing with one running deletes the shell
 * (pwsh gone). */
static void test_free_early_time_limit_and_close_while_running(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_endpoint_reset(ep);
	rms_session_options o = ps_opts();
	rms_session *s = open_ps(&o);
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_POWERSHELL), 0);
	assert_int_equal(rms_request_set_script(req, "Start-Sleep -Seconds 3; 1"), 0);
	rms_op *op;
	assert_int_equal(rms_op_start(&op, s, req), 0);
	rms_op_free(op);
	struct result r;
	run_script(s, "1..3", &r);
	if (r.rc != RMS_ITEROVER)
		fail_msg("after an early free: %s", r.msg);
	assert_int_equal(r.n, 3);
	result_free(&r);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_OPENED);
	/* A time limit stops the pipeline; the next one runs. */
	assert_int_equal(rms_request_set_script(req, "Start-Sleep -Seconds 60"), 0);
	assert_int_equal(rms_request_set_timeout(req, 1000), 0);
	run(s, req, &r);
	assert_int_equal(r.rc, RMS_E_TIMEOUT);
	result_free(&r);
	run_script(s, "'next'", &r);
	assert_int_equal(r.rc, RMS_ITEROVER);
	result_free(&r);
	/* Closing while a pipeline runs: the shell is deleted all the same. */
	assert_int_equal(rms_request_set_script(req, "'a'; Start-Sleep -Seconds 60"), 0);
	assert_int_equal(rms_request_set_timeout(req, 0), 0);
	assert_int_equal(rms_op_start(&op, s, req), 0);
	rms_ps_stream st;
	rms_value *v;
	assert_int_equal(rms_op_next_object(op, &st, &v), 0);
	rms_value_free(v);
	assert_int_equal(rms_session_close(s), 0);
	assert_int_equal(rms_endpoint_stat(ep, "pwsh_running"), 0);
	rms_op_free(op);
	rms_request_free(req);
	rms_session_free(s);
}

/* A wrong password fails the session at creation, in the authenticate
 * phase, before any shell exists. */
static void test_wrong_password_fails_at_creation(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_endpoint_reset(ep);
	rms_session_options o = ps_opts();
	o.password = "not-the-password";
	rms_session *s = NULL;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_PSSESSION, &o), RMS_E_AUTH);
	assert_null(s);
	assert_int_equal(rms_error_phase(rms_error_last()), RMS_PHASE_AUTHENTICATE);
	assert_int_equal(rms_endpoint_stat(ep, "shells_created"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_run_close),
		cmocka_unit_test(test_check_reads_the_shell_record),
		cmocka_unit_test(test_input_and_big_output_in_small_envelopes),
		cmocka_unit_test(test_stop_over_winrm),
		cmocka_unit_test(test_unknown_configuration_fails_at_creation),
		cmocka_unit_test(test_wrong_password_fails_at_creation),
		cmocka_unit_test(test_free_early_time_limit_and_close_while_running),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
