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
	o.pssession.idle_timeout_ms = 75000;
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
	/* The IdleTimeOut the session asked for at the Create. */
	rms_datetime idle;
	assert_int_equal(rms_value_get_datetime(rms_instance_get(info, "IdleTimeOut"), &idle), 0);
	assert_true(idle.is_interval);
	assert_int_equal(idle.days * 86400 + idle.hour * 3600 + idle.minute * 60 + idle.second, 75);
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


/* ---- CIM operations as a Get-CimInstance pipeline ------------------------------------ */

#define MAX_INST 128

struct insts {
	rms_instance *v[MAX_INST];
	size_t n;
	int rc;
	uint64_t skipped;
};

static void insts_free(struct insts *r)
{
	for (size_t i = 0; i < r->n; i++)
		rms_instance_free(r->v[i]);
	r->n = 0;
}

/* All instances of an enumerate or query (req) on s. */
static void collect(rms_session *s, const rms_request *req, struct insts *r)
{
	memset(r, 0, sizeof *r);
	rms_op *op = NULL;
	if ((r->rc = rms_op_start(&op, s, req)))
		return;
	rms_instance *inst;
	while ((r->rc = rms_op_next(op, &inst)) == 0 || r->rc == RMS_E_SKIPPED) {
		if (r->rc == 0 && r->n < MAX_INST)
			r->v[r->n++] = inst;
		else if (r->rc == 0)
			rms_instance_free(inst);
	}
	r->skipped = rms_op_skipped(op);
	if (r->rc == RMS_ITEROVER)
		r->rc = 0;
	rms_op_free(op);
}

/* What WS-Management cannot carry (docs/behaviour.md): an empty array is no
 * element at all, so the CIM backend has no such property. Drops the empty
 * arrays of a, after checking b has none of them. */
static rms_instance *without_empty_arrays(const rms_instance *a, const rms_instance *b)
{
	rms_instance *out = NULL;
	assert_int_equal(rms_instance_new(&out, rms_instance_namespace(a),
	                                  rms_instance_class_name(a)), 0);
	for (size_t i = 0; i < rms_instance_count(a); i++) {
		const char *name;
		const rms_value *v;
		unsigned flags;
		rms_instance_at(a, i, &name, &v, &flags);
		if (RMS_TYPE_IS_ARRAY(rms_value_type(v)) && !rms_value_is_null(v) &&
		    rms_value_array_length(v) == 0 && !rms_instance_get(b, name))
			continue;
		rms_value *d = NULL;
		assert_int_equal(rms_value_dup(&d, v), 0);
		assert_int_equal(rms_instance_set(out, name, d, flags), 0);
	}
	return out;
}

/* Every PSSession instance equals a CIM backend instance (class, namespace
 * and typed properties), and the two sets have the same size. */
static void assert_same_instances(const struct insts *cim, const struct insts *ps,
                                  const char *what)
{
	if (cim->rc)
		fail_msg("%s through the CIM backend failed", what);
	if (ps->rc)
		fail_msg("%s through the PSRP PSSession failed: %s", what,
		         rms_error_message(rms_error_last()));
	assert_int_equal(ps->skipped, 0);
	if (cim->n != ps->n)
		fail_msg("%s: CIM backend %zu instances, PSRP PSSession %zu", what, cim->n, ps->n);
	assert_true(cim->n > 0);
	for (size_t i = 0; i < ps->n; i++) {
		bool found = false;
		for (size_t j = 0; j < cim->n && !found; j++) {
			rms_instance *trimmed = without_empty_arrays(ps->v[i], cim->v[j]);
			found = rms_instance_equal(cim->v[j], trimmed);
			rms_instance_free(trimmed);
		}
		if (!found) {
			char *t = NULL;
			rms_instance_to_json(&t, ps->v[i]);
			fail_msg("%s: no CIM backend instance equals the PSSession's %s", what, t);
		}
	}
}

static rms_session *open_cim(void)
{
	rms_session_options o = rms_endpoint_session_options(ep);
	rms_session *s = NULL;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	return s;
}

static rms_request *enum_req(const char *cls)
{
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_ENUMERATE), 0);
	assert_int_equal(rms_request_set_class(req, cls), 0);
	return req;
}

static rms_request *query_req(const char *q)
{
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_QUERY), 0);
	assert_int_equal(rms_request_set_query(req, NULL, q), 0);
	return req;
}

static void compare_req(rms_session *cim, rms_session *ps, rms_request *req, const char *what)
{
	struct insts a, b;
	collect(cim, req, &a);
	collect(ps, req, &b);
	assert_same_instances(&a, &b, what);
	insts_free(&a);
	insts_free(&b);
	rms_request_free(req);
}

/* enumerate and query through the PowerShell pipeline give what the CIM
 * backend gives against the same endpoint: every class of the endpoint's
 * provider (references, embedded instances, every CIM type, nulls, a
 * superclass whose instances are of its subclass), with the classes'
 * metadata sent once per pipeline. */
static void test_cim_enumerate_and_query_equal_the_cim_backend(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	rms_session *ps = open_ps(&o);
	rms_session *cim = open_cim();
	const char *classes[] = { "Win32_Service", "Win32_OperatingSystem", "X_Widget",
		                  "Win32_DependentService", "CIM_Service" };
	for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
		compare_req(cim, ps, enum_req(classes[i]), classes[i]);
	compare_req(cim, ps, query_req("SELECT * FROM X_Number WHERE Id <= 40"), "X_Number 1..40");
	compare_req(cim, ps, query_req("SELECT * FROM Win32_Service WHERE StartMode = 'Auto'"),
	            "a query of services");
	assert_true(rms_endpoint_stat(ep, "ps_cim_feeds") >= 7);
	rms_session_free(cim);
	rms_session_free(ps);
}

/* get: a filter on the keys, one instance, equal to the CIM backend's. */
static void test_cim_get_equals_the_cim_backend(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	rms_session *ps = open_ps(&o);
	rms_session *cim = open_cim();
	const char *keys[][3] = { { "Win32_Service", "Name", "WinRM" },
		                  { "X_Number", "Id", "7" },
		                  { "X_Widget", "Id", "w2" } };
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		rms_ref *ref;
		assert_int_equal(rms_ref_new(&ref, "root/cimv2", keys[i][0]), 0);
		assert_int_equal(rms_ref_add_selector(ref, keys[i][1], keys[i][2]), 0);
		rms_instance *a = NULL, *b = NULL;
		assert_int_equal(rms_get(&a, cim, ref), 0);
		if (rms_get(&b, ps, ref))
			fail_msg("get %s: %s", keys[i][0], rms_error_message(rms_error_last()));
		rms_instance *trimmed = without_empty_arrays(b, a);
		assert_true(rms_instance_equal(a, trimmed));
		rms_instance_free(trimmed);
		rms_instance_free(a);
		rms_instance_free(b);
		rms_ref_free(ref);
	}
	/* No such instance: NOT_FOUND on both sides. */
	rms_ref *ref;
	assert_int_equal(rms_ref_new(&ref, "root/cimv2", "Win32_Service"), 0);
	assert_int_equal(rms_ref_add_selector(ref, "Name", "No'Such\\Service"), 0);
	rms_instance *none = NULL;
	assert_int_equal(rms_get(&none, cim, ref), RMS_E_FAULT);
	uint32_t cim_status = rms_error_cim_status(rms_error_last());
	assert_int_equal(rms_get(&none, ps, ref), RMS_E_FAULT);
	assert_int_equal(rms_error_cim_status(rms_error_last()), 6);
	assert_int_equal(cim_status, 6);
	assert_null(none);
	rms_ref_free(ref);
	/* The session is still usable. */
	struct insts r;
	rms_request *req = enum_req("Win32_OperatingSystem");
	collect(ps, req, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.n, 1);
	insts_free(&r);
	rms_request_free(req);
	rms_session_free(cim);
	rms_session_free(ps);
}

/* A class that does not exist: the CIM error PowerShell's Get-CimInstance
 * gives (InvalidClass, HRESULT 0x80041010), with the CIM status the CIM
 * backend reports for the same class. */
static void test_cim_unknown_class_fails_with_the_cim_error(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	rms_session *ps = open_ps(&o);
	rms_session *cim = open_cim();
	rms_request *req = enum_req("X_NoSuchClass");
	struct insts a, b;
	collect(cim, req, &a);
	uint32_t cim_status = rms_error_cim_status(rms_error_last());
	collect(ps, req, &b);
	assert_int_equal(b.rc, RMS_E_FAULT);
	const rms_error *e = rms_error_last();
	assert_int_equal(rms_error_phase(e), RMS_PHASE_REMOTE);
	assert_int_equal(rms_error_cim_status(e), 5);
	assert_int_equal(rms_error_wmi_code(e), 0x80041010u);
	assert_non_null(strstr(rms_error_message(e), "Invalid class"));
	assert_int_equal(a.rc, RMS_E_FAULT);
	assert_int_equal(cim_status, 5);
	assert_int_equal(b.n, 0);
	rms_request_free(req);
	/* A query in a namespace that does not exist: INVALID_NAMESPACE. */
	req = query_req("SELECT * FROM Win32_Service");
	assert_int_equal(rms_request_set_namespace(req, "root/nowhere"), 0);
	collect(ps, req, &b);
	assert_int_equal(b.rc, RMS_E_FAULT);
	assert_int_equal(rms_error_cim_status(rms_error_last()), 3);
	rms_request_free(req);
	rms_session_free(cim);
	rms_session_free(ps);
}

/* Each CIM type the endpoint's classes have arrives with its type: the
 * integers, reals, boolean, char16, string, a timestamp (at the same
 * instant, in the remote computer's local time) and an interval, arrays,
 * a reference, an embedded instance, nulls; the key flagged. */
static void test_cim_every_type_decodes(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	rms_session *ps = open_ps(&o);
	rms_ref *ref;
	assert_int_equal(rms_ref_new(&ref, "root/cimv2", "X_Number"), 0);
	assert_int_equal(rms_ref_add_selector(ref, "Id", "5"), 0);
	rms_instance *x = NULL;
	if (rms_get(&x, ps, ref))
		fail_msg("get X_Number.Id=5: %s", rms_error_message(rms_error_last()));
	assert_string_equal(rms_instance_class_name(x), "X_Number");
	assert_string_equal(rms_instance_namespace(x), "root/cimv2");
	static const struct {
		const char *name;
		rms_type type;
	} want[] = {
		{ "Id", RMS_TYPE_UINT64 },     { "U8", RMS_TYPE_UINT8 },      { "S8", RMS_TYPE_SINT8 },
		{ "U16", RMS_TYPE_UINT16 },    { "S16", RMS_TYPE_SINT16 },    { "U32", RMS_TYPE_UINT32 },
		{ "S32", RMS_TYPE_SINT32 },    { "U64", RMS_TYPE_UINT64 },    { "S64", RMS_TYPE_SINT64 },
		{ "R32", RMS_TYPE_REAL32 },    { "R64", RMS_TYPE_REAL64 },    { "Flag", RMS_TYPE_BOOLEAN },
		{ "Letter", RMS_TYPE_CHAR16 }, { "Text", RMS_TYPE_STRING },   { "When", RMS_TYPE_DATETIME },
		{ "Span", RMS_TYPE_DATETIME }, { "Owner", RMS_TYPE_REFERENCE },
		{ "Detail", RMS_TYPE_INSTANCE }, { "Nothing", RMS_TYPE_STRING },
		{ "Sometimes", RMS_TYPE_UINT32 },
		{ "Squares", (rms_type)(RMS_TYPE_UINT32 | RMS_TYPE_ARRAY) },
		{ "Words", (rms_type)(RMS_TYPE_STRING | RMS_TYPE_ARRAY) },
	};
	assert_int_equal(rms_instance_count(x), sizeof want / sizeof want[0]);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const rms_value *v = rms_instance_get(x, want[i].name);
		if (!v || rms_value_type(v) != want[i].type)
			fail_msg("%s: type %s, expected %s", want[i].name,
			         v ? rms_type_name(rms_value_type(v)) : "(absent)",
			         rms_type_name(want[i].type));
	}
	unsigned flags = 0;
	rms_instance_at(x, 0, NULL, NULL, &flags);
	assert_true(flags & RMS_PROP_KEY);
	uint64_t u64;
	assert_int_equal(rms_value_get_uint64(rms_instance_get(x, "U64"), &u64), 0);
	assert_true(u64 == UINT64_MAX - 4);
	uint16_t c16;
	assert_int_equal(rms_value_get_char16(rms_instance_get(x, "Letter"), &c16), 0);
	assert_int_equal(c16, 'F');
	rms_datetime dt, want_dt;
	assert_int_equal(rms_value_get_datetime(rms_instance_get(x, "When"), &dt), 0);
	assert_int_equal(rms_datetime_parse_dmtf(&want_dt, "20240101020005.005000+120"), 0);
	assert_true(rms_datetime_equal(&dt, &want_dt));
	assert_int_equal(rms_value_get_datetime(rms_instance_get(x, "Span"), &dt), 0);
	assert_true(dt.is_interval);
	assert_int_equal(dt.second, 5);
	assert_int_equal(dt.nanoseconds, 500000000u);
	const rms_ref *owner;
	assert_int_equal(rms_value_get_reference(rms_instance_get(x, "Owner"), &owner), 0);
	assert_string_equal(rms_ref_class_name(owner), "Win32_Service");
	assert_int_equal(rms_ref_selector_count(owner), 1);
	assert_non_null(rms_ref_selector(owner, "Name"));
	const rms_instance *detail;
	assert_int_equal(rms_value_get_instance(rms_instance_get(x, "Detail"), &detail), 0);
	assert_string_equal(rms_instance_class_name(detail), "X_NumberDetail");
	uint8_t digits;
	assert_int_equal(rms_value_get_uint8(rms_instance_get(detail, "Digits"), &digits), 0);
	assert_int_equal(digits, 1);
	assert_true(rms_value_is_null(rms_instance_get(x, "Nothing")));
	assert_int_equal(rms_value_array_length(rms_instance_get(x, "Squares")), 1);
	rms_instance_free(x);
	rms_ref_free(ref);
	rms_session_free(ps);
}

/* rms_compare on a target whose PSSession speaks PowerShell: the record
 * says equal (classes without empty arrays, which WS-Management cannot
 * carry; SELECT *, since PowerShell's instances of a SELECT with a
 * property list carry every property of the class). */
static void test_cim_compare_record_equal(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options c = rms_endpoint_session_options(ep);
	rms_session_options p = ps_opts();
	rms_target *t;
	assert_int_equal(rms_target_new(&t, &c, &p), 0);
	const char *queries[] = { "SELECT * FROM Win32_Service WHERE Started = TRUE",
		                  "SELECT * FROM Win32_DependentService" };
	for (size_t i = 0; i < 2; i++) {
		rms_request *req = query_req(queries[i]);
		rms_comparison *cmp = NULL;
		assert_int_equal(rms_compare(&cmp, t, req), 0);
		if (!rms_comparison_equal(cmp))
			fail_msg("%s: differ at %s: cim %s, pssession %s", queries[i],
			         rms_comparison_where(cmp), rms_comparison_cim_value(cmp),
			         rms_comparison_pssession_value(cmp));
		const rms_side_report *ps = rms_comparison_side(cmp, RMS_BACKEND_PSSESSION);
		assert_int_equal(ps->status, 0);
		assert_true(ps->items > 0);
		rms_comparison_free(cmp);
		rms_request_free(req);
	}
	rms_target_free(t);
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
		cmocka_unit_test(test_cim_enumerate_and_query_equal_the_cim_backend),
		cmocka_unit_test(test_cim_get_equals_the_cim_backend),
		cmocka_unit_test(test_cim_unknown_class_fails_with_the_cim_error),
		cmocka_unit_test(test_cim_every_type_decodes),
		cmocka_unit_test(test_cim_compare_record_equal),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
