/*
 * Fan-out over a fleet (remsess/fanout.h): 500 computers (50 with
 * RMS_TEST_QUICK), each a listener of its own on one test endpoint
 * (--listeners: tests/support/endpoint.h), healthy or failing in each way
 * a fleet fails: down (connection refused), stalling (accepts, never
 * answers), a wrong password, slow, and a WS-Man quota fault.
 *
 * What is proved: every target gets exactly one result, with the error
 * class its computer's behaviour gives and, when healthy, the data of its
 * own computer (each listener answers with its own computer name); each
 * healthy computer saw exactly one request; the throttle is never exceeded,
 * from the endpoint's own count of requests in flight across all its
 * listeners; the run lasts about as long as its slowest target (a stalled
 * one, ended at its deadline), not the sum. Then a `run` over PSSession
 * targets, over WinRM listeners and over SSH (a private sshd) in one
 * fan-out, each with its own output, exit code or error.
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
#include "remsess/remsess.h"
#include "sshd.h"

static void log_to_stderr(rms_log_level level, const char *message, void *userdata)
{
	(void)userdata;
	fprintf(stderr, "[remsess %d] %s\n", (int)level, message);
}

static bool quick(void)
{
	return getenv("RMS_TEST_QUICK") != NULL;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

enum kind { HEALTHY, SLOW, DOWN, STALLING, WRONG_PASSWORD, QUOTA };
static const char *const spec_of[] = { "healthy", "slow:250", "down",
	                               "stalling", "wrong-password", "quota" };
#define SLOW_MS 250

/* A fixed mix, 20 in a cycle: 11 healthy, 2 slow and 2 down, 1 stalling, 2
 * with a wrong password, 2 over quota. The last target stalls, so the run
 * cannot end before it does. */
static enum kind kind_of(size_t i, size_t n)
{
	static const enum kind mix[20] = {
		HEALTHY, DOWN,    HEALTHY, WRONG_PASSWORD, HEALTHY, SLOW,     HEALTHY,
		QUOTA,   HEALTHY, HEALTHY, STALLING,       HEALTHY, DOWN,     HEALTHY,
		SLOW,    HEALTHY, QUOTA,   HEALTHY,        WRONG_PASSWORD,    HEALTHY,
	};
	return i == n - 1 ? STALLING : mix[i % 20];
}

typedef struct fixture {
	size_t n;
	rms_endpoint_fleet *fleet;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->n = quick() ? 50 : 500;
	char *spec = calloc(f->n, 16);
	assert_non_null(spec);
	for (size_t i = 0; i < f->n; i++) {
		if (i)
			strcat(spec, ",");
		strcat(spec, spec_of[kind_of(i, f->n)]);
	}
	f->fleet = rms_endpoint_spawn_fleet(f->n, spec, NULL);
	free(spec);
	assert_non_null(f->fleet);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	rms_endpoint_fleet_kill(f->fleet);
	free(f);
	return 0;
}

static void expect_name(const rms_instance *inst, size_t i)
{
	char want[32];
	snprintf(want, sizeof want, "RMS-L%07zu", i);
	const char *name = NULL;
	assert_non_null(inst);
	assert_int_equal(rms_value_get_string(rms_instance_get(inst, "CSName"), &name), 0);
	assert_string_equal(name, want);
}

static void test_a_fleet_of_mixed_computers_each_gets_its_own_result(void **state)
{
	fixture *f = *state;
	const size_t n = f->n;
	const unsigned throttle = quick() ? 12 : 64;
	/* A stalled target's deadline: long enough for a healthy one under
	 * valgrind, which never gets near it. */
	const uint32_t deadline = quick() ? 8000 : 3000;
	rms_target **targets = calloc(n, sizeof *targets);
	bool *seen = calloc(n, sizeof *seen);
	int64_t *trips = calloc(n, sizeof *trips);
	assert_true(targets && seen && trips);

	rms_request *req;
	rms_ref *ref;
	assert_int_equal(rms_request_new(&req, RMS_OP_GET), 0);
	assert_int_equal(rms_ref_new(&ref, "root/cimv2", "Win32_OperatingSystem"), 0);
	assert_int_equal(rms_request_set_ref(req, ref), 0);
	rms_ref_free(ref);
	rms_fanout_options o = RMS_FANOUT_OPTIONS_INIT;
	o.throttle = throttle;
	o.target_timeout_ms = deadline;
	rms_fanout *fo;
	assert_int_equal(rms_fanout_new(&fo, req, &o), 0);
	rms_request_free(req);
	for (size_t i = 0; i < n; i++) {
		rms_session_options so = rms_endpoint_listener_options(f->fleet, i);
		assert_int_equal(rms_target_new(&targets[i], &so, NULL), 0);
		assert_int_equal(rms_fanout_add(NULL, fo, targets[i], RMS_BACKEND_AUTO), 0);
	}
	assert_int_equal(rms_endpoint_reset(&f->fleet->main), 0);

	uint64_t t0 = now_ms(), sum = 0, slowest = 0;
	size_t got = 0, count[6] = { 0 };
	rms_fanout_result *r;
	int rc;
	while ((rc = rms_fanout_next(&r, fo)) != RMS_ITEROVER) {
		assert_true(now_ms() - t0 < 240000);
		if (rc == RMS_EAGAIN) {
			size_t running;
			assert_int_equal(rms_fanout_poll(fo, 1000, &running), 0);
			assert_true(running <= throttle);
			continue;
		}
		assert_int_equal(rc, 0);
		size_t i = rms_fanout_result_index(r);
		assert_true(i < n);
		assert_false(seen[i]);
		seen[i] = true;
		got++;
		assert_ptr_equal(rms_fanout_result_target(r), targets[i]);
		assert_int_equal(rms_fanout_result_backend(r), RMS_BACKEND_CIM);
		uint64_t took = rms_fanout_result_ended_ms(r) - rms_fanout_result_started_ms(r);
		sum += took;
		if (took > slowest)
			slowest = took;
		enum kind k = kind_of(i, n);
		count[k]++;
		rms_stats st = { .version = RMS_STATS_VERSION };
		assert_int_equal(rms_fanout_result_stats(r, &st), 0);
		trips[i] = (int64_t)st.round_trips;
		int status = rms_fanout_result_status(r);
		const rms_error *err = rms_fanout_result_error(r);
		if (k == HEALTHY || k == SLOW) {
			if (status)
				fail_msg("target %zu (%s) failed: %s", i, spec_of[k],
				         rms_error_message(err));
			assert_int_equal(rms_fanout_result_instance_count(r), 1);
			/* Its own computer's answer, not a neighbour's. */
			expect_name(rms_fanout_result_instance(r, 0), i);
			if (k == SLOW)
				assert_true(took >= SLOW_MS);
			assert_int_equal(trips[i], 2);
		} else {
			if (!status)
				fail_msg("target %zu (%s) succeeded", i, spec_of[k]);
			assert_non_null(err);
			assert_int_equal(rms_error_code(err), status);
			assert_int_equal(rms_error_backend(err), RMS_BACKEND_CIM);
			assert_int_equal(rms_fanout_result_instance_count(r), 0);
		}
		switch (k) {
		case HEALTHY:
		case SLOW:
			break;
		case DOWN:
			assert_int_equal(status, RMS_E_CONNECT);
			assert_int_equal(rms_error_phase(err), RMS_PHASE_CONNECT);
			break;
		case STALLING:
			assert_int_equal(status, RMS_E_TIMEOUT);
			assert_true(took >= deadline);
			assert_true(took < deadline + 3000);
			break;
		case WRONG_PASSWORD:
			assert_int_equal(status, RMS_E_AUTH);
			assert_int_equal(rms_error_http_status(err), 401);
			break;
		case QUOTA:
			assert_int_equal(status, RMS_E_QUOTA);
			assert_string_equal(rms_error_fault_subcode(err), "w:QuotaLimit");
			assert_int_equal(rms_error_wsman_code(err), 2150859174u);
			assert_int_equal(trips[i], 1);
			break;
		}
		rms_fanout_result_free(r);
	}
	uint64_t wall = now_ms() - t0;
	assert_int_equal(got, n);
	for (int k = HEALTHY; k <= QUOTA; k++)
		assert_true(count[k] > 0);

	/* The throttle, from the endpoint: requests read and not yet answered
	 * (a stalled one until its client lets go) on all listeners at once. */
	int64_t peak = rms_endpoint_stat(&f->fleet->main, "requests_in_flight_max");
	int64_t conns = rms_endpoint_stat(&f->fleet->main, "connections_open_max");
	fprintf(stderr,
	        "fleet of %zu: wall %llu ms, slowest %llu ms, sum %llu ms; throttle %u, peak "
	        "requests in flight %lld, connections %lld\n",
	        n, (unsigned long long)wall, (unsigned long long)slowest, (unsigned long long)sum,
	        throttle, (long long)peak, (long long)conns);
	assert_true(peak <= (int64_t)throttle);
	/* It did run targets side by side: stalled ones alone overlap. */
	assert_true(peak >= 4);

	/* Each computer saw the requests its own target made (no request sent
	 * to the wrong one): for a healthy one the instance and its class's
	 * schema, for a quota one the first, refused; a stalled one saw one and
	 * held it; a computer that is down, none. */
	int64_t *reqs = calloc(n, sizeof *reqs);
	int64_t *stalled = calloc(n, sizeof *stalled);
	assert_true(reqs && stalled);
	assert_int_equal(rms_endpoint_listener_counters(&f->fleet->main, "requests_total", reqs, n), 0);
	assert_int_equal(
	        rms_endpoint_listener_counters(&f->fleet->main, "requests_stalled", stalled, n), 0);
	for (size_t i = 0; i < n; i++) {
		enum kind k = kind_of(i, n);
		if (k == DOWN)
			assert_int_equal(reqs[i], 0);
		else if (k == STALLING)
			assert_int_equal(stalled[i], 1);
		else if (k != WRONG_PASSWORD && reqs[i] != trips[i])
			fail_msg("listener %zu (%s) saw %lld requests, its target made %lld", i,
			         spec_of[k], (long long)reqs[i], (long long)trips[i]);
	}
	free(reqs);
	free(stalled);

	/* About as long as the slowest target, not the sum: half the rest on
	 * top of the slowest is generous on a loaded machine and still far
	 * below what running them one after another takes. */
	assert_true(slowest >= deadline);
	assert_true(wall <= slowest + (sum - slowest) / 2);
	rms_fanout_free(fo);
	for (size_t i = 0; i < n; i++)
		rms_target_free(targets[i]);
	free(targets);
	free(seen);
	free(trips);
}

/* `run` over PSSession targets, WinRM listeners and SSH together. */
enum ps_kind { PS_WINRM, PS_SSH, PS_WINRM_QUOTA, PS_WINRM_WRONG_PASSWORD, PS_SSH_WRONG_KEY,
	       PS_SSH_DOWN };

static void test_run_over_winrm_and_ssh_targets(void **state)
{
	fixture *f = *state;
	rms_sshd d;
	assert_int_equal(rms_sshd_start(&d, NULL), 0);
	/* Listeners of the fleet by behaviour; a port of a down listener for
	 * SSH too (bound, never listening). */
	size_t healthy[4], nh = 0, quota = SIZE_MAX, wrong = SIZE_MAX, down = SIZE_MAX;
	for (size_t i = 0; i < f->n; i++) {
		enum kind k = kind_of(i, f->n);
		if (k == HEALTHY && nh < 4)
			healthy[nh++] = i;
		else if (k == QUOTA && quota == SIZE_MAX)
			quota = i;
		else if (k == WRONG_PASSWORD && wrong == SIZE_MAX)
			wrong = i;
		else if (k == DOWN && down == SIZE_MAX)
			down = i;
	}
	assert_true(nh == 4 && quota != SIZE_MAX && wrong != SIZE_MAX && down != SIZE_MAX);
	static const enum ps_kind plan[] = { PS_WINRM, PS_SSH,           PS_WINRM, PS_WINRM_QUOTA,
		                             PS_SSH,   PS_WINRM_WRONG_PASSWORD, PS_WINRM, PS_SSH_WRONG_KEY,
		                             PS_SSH,   PS_SSH_DOWN,      PS_WINRM };
	const size_t n = quick() ? 7 : sizeof plan / sizeof *plan;
	rms_target *targets[sizeof plan / sizeof *plan];
	size_t listener[sizeof plan / sizeof *plan];

	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_RUN), 0);
	assert_int_equal(
	        rms_request_set_command(req, "echo ${COMPUTERNAME:-ssh}; echo err >&2; exit 3", 0, NULL),
	        0);
	rms_fanout_options o = RMS_FANOUT_OPTIONS_INIT;
	o.throttle = 4;
	o.target_timeout_ms = 30000;
	rms_fanout *fo;
	assert_int_equal(rms_fanout_new(&fo, req, &o), 0);
	rms_request_free(req);
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		rms_session_options so;
		listener[i] = SIZE_MAX;
		switch (plan[i]) {
		case PS_WINRM:
			listener[i] = healthy[w++ % nh];
			so = rms_endpoint_listener_options(f->fleet, listener[i]);
			break;
		case PS_WINRM_QUOTA:
			so = rms_endpoint_listener_options(f->fleet, quota);
			break;
		case PS_WINRM_WRONG_PASSWORD:
			so = rms_endpoint_listener_options(f->fleet, wrong);
			break;
		default:
			so = rms_sshd_session_options(&d);
			if (plan[i] == PS_SSH_WRONG_KEY)
				so.ssh.identity_file = d.other_key;
			if (plan[i] == PS_SSH_DOWN)
				so.port = f->fleet->l[down].port;
			break;
		}
		if (getenv("RMS_TEST_LOG")) { /* for a person debugging a failure */
			so.log = log_to_stderr;
			so.log_level = RMS_LOG_DEBUG;
		}
		assert_int_equal(rms_target_new(&targets[i], NULL, &so), 0);
		assert_int_equal(rms_fanout_add(NULL, fo, targets[i], RMS_BACKEND_PSSESSION), 0);
	}
	size_t got = 0;
	rms_fanout_result *r;
	int rc;
	uint64_t t0 = now_ms();
	while ((rc = rms_fanout_next(&r, fo)) != RMS_ITEROVER) {
		assert_true(now_ms() - t0 < 120000);
		if (rc == RMS_EAGAIN) {
			assert_int_equal(rms_fanout_poll(fo, -1, NULL), 0);
			continue;
		}
		assert_int_equal(rc, 0);
		size_t i = rms_fanout_result_index(r);
		assert_true(i < n);
		got++;
		assert_int_equal(rms_fanout_result_backend(r), RMS_BACKEND_PSSESSION);
		int status = rms_fanout_result_status(r);
		const rms_error *err = rms_fanout_result_error(r);
		if ((plan[i] == PS_WINRM || plan[i] == PS_SSH) && status)
			fail_msg("target %zu failed: %s", i, rms_error_message(err));
		char want[32];
		size_t len;
		const char *out;
		int code;
		switch (plan[i]) {
		case PS_WINRM:
		case PS_SSH:
			if (plan[i] == PS_WINRM)
				snprintf(want, sizeof want, "RMS-L%07zu\n", listener[i]);
			else
				snprintf(want, sizeof want, "ssh\n");
			out = rms_fanout_result_output(r, RMS_STREAM_STDOUT, &len);
			assert_int_equal(len, strlen(want));
			assert_memory_equal(out, want, len);
			out = rms_fanout_result_output(r, RMS_STREAM_STDERR, &len);
			assert_int_equal(len, 4);
			assert_memory_equal(out, "err\n", 4);
			assert_int_equal(rms_fanout_result_exit_code(r, &code), 0);
			assert_int_equal(code, 3);
			break;
		case PS_WINRM_QUOTA: /* the shell Create refused: the session's opening */
			assert_int_equal(status, RMS_E_QUOTA);
			assert_int_equal(rms_error_wmi_code(err), 2150859173u);
			break;
		case PS_WINRM_WRONG_PASSWORD:
		case PS_SSH_WRONG_KEY:
			assert_int_equal(status, RMS_E_AUTH);
			break;
		case PS_SSH_DOWN:
			if (status != RMS_E_CONNECT)
				fail_msg("%s: %s", rms_error_code_name(status), rms_error_message(err));
			break;
		}
		if (status)
			assert_int_equal(rms_fanout_result_exit_code(r, &code), RMS_E_STATE);
		rms_fanout_result_free(r);
	}
	assert_int_equal(got, n);
	/* Each WinRM shell is deleted as its target finishes. */
	for (int k = 0; k < 200 && rms_endpoint_stat(&f->fleet->main, "shells_open") != 0; k++)
		assert_int_equal(rms_fanout_poll(fo, 50, NULL), 0);
	assert_int_equal(rms_endpoint_stat(&f->fleet->main, "shells_open"), 0);
	rms_fanout_free(fo);
	/* Every SSH login that succeeded was one connection of its own. */
	size_t nssh = 0;
	for (size_t i = 0; i < n; i++)
		nssh += plan[i] == PS_SSH;
	assert_int_equal(rms_sshd_log_count(&d, "Accepted publickey"), (int)nssh);
	for (size_t i = 0; i < n; i++)
		rms_target_free(targets[i]);
	rms_sshd_stop(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_fleet_of_mixed_computers_each_gets_its_own_result),
		cmocka_unit_test(test_run_over_winrm_and_ssh_targets),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
