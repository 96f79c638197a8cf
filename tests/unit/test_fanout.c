/*
 * Fan-out (remsess/fanout.h, core/api/fanout.c): one request over a mixed
 * list of targets from one thread, against test endpoints this test starts:
 * a healthy one, a slow one (300 ms before each answer) and one that never
 * answers, plus targets with a wrong password and a closed port.
 *
 * What is proved: every target gets exactly one result, attributed to it
 * and correct for what it points at; the throttle is never exceeded (from
 * the results' own start and end times, and from the slow endpoint's
 * connections_open_max); the run takes about as long as its slowest target,
 * not the sum; a stalled target ends on its own deadline while the others
 * succeed; freeing a fan-out halfway leaks nothing (valgrind, ASan).
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

typedef struct fixture {
	rms_endpoint_proc *healthy, *slow, *stall;
	size_t want_n; /* Win32_Service instances, from a blocking call */
	rms_instance **want;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	/* One endpoint plays many computers, with a host's default quota (30
	 * shells per user): each PSSession target's shell is deleted as the
	 * target finishes, so the throttle bounds the shells open at once. */
	const char *slow[] = { "--latency", "300", NULL };
	const char *stall[] = { "--fault", "stall", NULL };
	f->healthy = rms_endpoint_spawn(NULL);
	f->slow = rms_endpoint_spawn(slow);
	f->stall = rms_endpoint_spawn(stall);
	assert_non_null(f->healthy);
	assert_non_null(f->slow);
	assert_non_null(f->stall);
	rms_session_options o = rms_endpoint_session_options(f->healthy);
	rms_session *s;
	rms_op *op;
	rms_instance *inst;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	assert_int_equal(rms_enumerate(&op, s, NULL, "Win32_Service"), 0);
	while (rms_op_next(op, &inst) == 0) {
		f->want = realloc(f->want, (f->want_n + 1) * sizeof *f->want);
		assert_non_null(f->want);
		f->want[f->want_n++] = inst;
	}
	assert_null(rms_op_error(op));
	assert_true(f->want_n > 0);
	rms_op_free(op);
	rms_session_free(s);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	for (size_t i = 0; i < f->want_n; i++)
		rms_instance_free(f->want[i]);
	free(f->want);
	rms_endpoint_kill(f->healthy);
	rms_endpoint_kill(f->slow);
	rms_endpoint_kill(f->stall);
	free(f);
	return 0;
}

/* enumerate Win32_Service */
static rms_request *enum_request(void)
{
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_ENUMERATE), 0);
	assert_int_equal(rms_request_set_class(req, "Win32_Service"), 0);
	return req;
}

/* What each target is, by its index. */
enum kind { HEALTHY_CIM, HEALTHY_PS, SLOW_CIM, WRONG_PASSWORD, DOWN, STALL_CIM, STALL_PS };

static enum kind kind_of(size_t i, size_t n)
{
	/* Two stalled targets (one per backend), the rest in a fixed mix. */
	if (i == n / 3)
		return STALL_CIM;
	if (i == 2 * n / 3)
		return STALL_PS;
	static const enum kind mix[] = { HEALTHY_CIM, HEALTHY_PS, SLOW_CIM, HEALTHY_CIM,
		                         WRONG_PASSWORD, DOWN, SLOW_CIM };
	return mix[i % (sizeof mix / sizeof *mix)];
}

static rms_target *make_target(const fixture *f, enum kind k)
{
	const rms_endpoint_proc *ep = k == SLOW_CIM ? f->slow
	                            : (k == STALL_CIM || k == STALL_PS) ? f->stall
	                                                                : f->healthy;
	rms_session_options o = rms_endpoint_session_options(ep);
	if (k == WRONG_PASSWORD)
		o.password = "not-the-password";
	if (k == DOWN) {
		o.url = NULL;
		o.host = "127.0.0.1";
		o.port = 1; /* nothing listens there */
	}
	rms_target *t;
	assert_int_equal(rms_target_new(&t, &o, &o), 0);
	return t;
}

static bool is_ps(enum kind k)
{
	return k == HEALTHY_PS || k == STALL_PS;
}

/* The most targets whose [started, ended) overlap at any instant. */
static size_t max_overlap(const uint64_t *start, const uint64_t *end, size_t n)
{
	size_t best = 0;
	for (size_t i = 0; i < n; i++) {
		size_t at = 0; /* in flight at start[i] */
		for (size_t j = 0; j < n; j++)
			at += start[j] <= start[i] && start[i] < end[j];
		if (at > best)
			best = at;
	}
	return best;
}

static void test_mixed_targets_each_get_their_own_result_under_the_throttle(void **state)
{
	fixture *f = *state;
	const size_t n = quick() ? 14 : 42;
	const unsigned throttle = quick() ? 4 : 8;
	/* Long enough for a slow target under valgrind, short for the test. */
	const uint32_t deadline = quick() ? 6000 : 3000;
	rms_target **targets = calloc(n, sizeof *targets);
	uint64_t *start = calloc(n, sizeof *start), *end = calloc(n, sizeof *end);
	bool *seen = calloc(n, sizeof *seen);
	assert_true(targets && start && end && seen);

	rms_request *req = enum_request();
	rms_fanout_options o = RMS_FANOUT_OPTIONS_INIT;
	assert_int_equal(o.throttle, 32); /* Invoke-Command's default */
	o.throttle = throttle;
	o.target_timeout_ms = deadline;
	rms_fanout *fo;
	assert_int_equal(rms_fanout_new(&fo, req, &o), 0);
	rms_request_free(req); /* copied */
	for (size_t i = 0; i < n; i++) {
		enum kind k = kind_of(i, n);
		targets[i] = make_target(f, k);
		size_t at;
		assert_int_equal(rms_fanout_add(&at, fo, targets[i],
		                                is_ps(k) ? RMS_BACKEND_PSSESSION : RMS_BACKEND_AUTO),
		                 0);
		assert_int_equal(at, i);
	}
	assert_int_equal(rms_endpoint_reset(f->slow), 0);

	uint64_t t0 = now_ms(), sum = 0, slowest = 0;
	size_t got = 0;
	rms_fanout_result *r;
	int rc;
	while ((rc = rms_fanout_next(&r, fo)) != RMS_ITEROVER) {
		assert_true(now_ms() - t0 < 120000);
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
		enum kind k = kind_of(i, n);
		start[i] = rms_fanout_result_started_ms(r);
		end[i] = rms_fanout_result_ended_ms(r);
		assert_true(end[i] >= start[i]);
		sum += end[i] - start[i];
		if (end[i] - start[i] > slowest)
			slowest = end[i] - start[i];
		assert_int_equal(rms_fanout_result_backend(r),
		                 is_ps(k) ? RMS_BACKEND_PSSESSION : RMS_BACKEND_CIM);
		assert_non_null(rms_fanout_result_reason(r));
		int status = rms_fanout_result_status(r);
		const rms_error *err = rms_fanout_result_error(r);
		rms_stats st = { .version = RMS_STATS_VERSION };
		assert_int_equal(rms_fanout_result_stats(r, &st), 0);
		switch (k) {
		case HEALTHY_CIM:
		case SLOW_CIM:
		case HEALTHY_PS:
			if (status)
				fail_msg("target %zu (kind %d) failed: %s", i, (int)k,
				         rms_error_message(err));
			assert_null(err);
			assert_int_equal(rms_fanout_result_instance_count(r), f->want_n);
			/* The CIM backend reads the very instances a blocking call
			 * gives; through the PSSession they are decoded from a
			 * remote pipeline, and the count is what must agree. */
			if (k != HEALTHY_PS)
				for (size_t j = 0; j < f->want_n; j++)
					assert_true(rms_instance_equal(rms_fanout_result_instance(r, j),
					                               f->want[j]));
			assert_true(st.bytes_received > 0);
			assert_true(st.round_trips > 0);
			if (k == HEALTHY_PS)
				assert_int_equal(st.shells_opened, 1);
			if (k == SLOW_CIM)
				assert_true(end[i] - start[i] >= 300);
			break;
		case WRONG_PASSWORD:
			assert_int_equal(status, RMS_E_AUTH);
			assert_int_equal(rms_error_code(err), RMS_E_AUTH);
			assert_int_equal(rms_error_backend(err), RMS_BACKEND_CIM);
			break;
		case DOWN:
			assert_int_equal(status, RMS_E_CONNECT);
			assert_int_equal(rms_error_phase(err), RMS_PHASE_CONNECT);
			break;
		case STALL_CIM:
		case STALL_PS:
			/* Its own deadline, not another target's nor the run's. */
			assert_int_equal(status, RMS_E_TIMEOUT);
			assert_int_equal(rms_error_backend(err),
			                 k == STALL_PS ? RMS_BACKEND_PSSESSION : RMS_BACKEND_CIM);
			assert_true(end[i] - start[i] >= deadline);
			assert_true(end[i] - start[i] < deadline + 2000);
			assert_int_equal(rms_fanout_result_instance_count(r), 0);
			break;
		}
		rms_fanout_result_free(r);
	}
	uint64_t wall = now_ms() - t0;
	assert_int_equal(got, n);
	/* The throttle, from the results' own timing... */
	size_t peak = max_overlap(start, end, n);
	assert_true(peak <= throttle);
	assert_true(peak > 1);
	/* ...and from the slow endpoint, which only CIM targets reach: one
	 * connection per operation, so never more than the throttle. */
	int64_t conns = rms_endpoint_stat(f->slow, "connections_open_max");
	assert_true(conns >= 1 && conns <= (int64_t)throttle);
	/* Closer to the slowest target than to the sum of them all. */
	fprintf(stderr, "fan-out of %zu targets: wall %llu ms, slowest %llu ms, sum %llu ms\n", n,
	        (unsigned long long)wall, (unsigned long long)slowest, (unsigned long long)sum);
	assert_true(wall - slowest < sum - wall);
	assert_int_equal(rms_fanout_next(&r, fo), RMS_ITEROVER);
	/* Each PSSession's shell is deleted as its target finishes, not in
	 * rms_fanout_free: polling on drives the last closes to their end. */
	for (int k = 0; k < 200 && rms_endpoint_stat(f->healthy, "shells_open") != 0; k++)
		assert_int_equal(rms_fanout_poll(fo, 50, NULL), 0);
	assert_int_equal(rms_endpoint_stat(f->healthy, "shells_open"), 0);
	assert_true(rms_endpoint_stat(f->healthy, "shells_deleted") > 0);
	rms_fanout_free(fo);
	for (size_t i = 0; i < n; i++)
		rms_target_free(targets[i]);
	free(targets);
	free(start);
	free(end);
	free(seen);
}

/* A command over PSSession targets: output and exit code per target. */
static void test_run_collects_each_targets_output_and_exit_code(void **state)
{
	fixture *f = *state;
	const size_t n = quick() ? 3 : 6;
	rms_session_options so = rms_endpoint_session_options(f->healthy);
	rms_target *t;
	assert_int_equal(rms_target_new(&t, &so, &so), 0);
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_RUN), 0);
	assert_int_equal(rms_request_set_command(req, "echo fanned; echo oops >&2; exit 4", 0, NULL),
	                 0);
	rms_fanout *fo;
	assert_int_equal(rms_fanout_new(&fo, req, NULL), 0);
	rms_request_free(req);
	/* The same computer several times: a target may appear more than once. */
	for (size_t i = 0; i < n; i++)
		assert_int_equal(rms_fanout_add(NULL, fo, t, RMS_BACKEND_AUTO), 0);
	size_t got = 0;
	rms_fanout_result *r;
	int rc;
	uint64_t t0 = now_ms();
	while ((rc = rms_fanout_next(&r, fo)) != RMS_ITEROVER) {
		assert_true(now_ms() - t0 < 60000);
		if (rc == RMS_EAGAIN) {
			assert_int_equal(rms_fanout_poll(fo, -1, NULL), 0);
			continue;
		}
		got++;
		if (rms_fanout_result_status(r))
			fail_msg("%s", rms_error_message(rms_fanout_result_error(r)));
		assert_int_equal(rms_fanout_result_backend(r), RMS_BACKEND_PSSESSION);
		size_t len;
		const char *out = rms_fanout_result_output(r, RMS_STREAM_STDOUT, &len);
		assert_int_equal(len, 7);
		assert_memory_equal(out, "fanned\n", 7);
		out = rms_fanout_result_output(r, RMS_STREAM_STDERR, &len);
		assert_int_equal(len, 5);
		assert_memory_equal(out, "oops\n", 5);
		int code;
		assert_int_equal(rms_fanout_result_exit_code(r, &code), 0);
		assert_int_equal(code, 4);
		rms_fanout_result_free(r);
	}
	assert_int_equal(got, n);
	rms_fanout_free(fo);
	rms_target_free(t);
}

static rms_request *run_request(const char *cmd)
{
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_RUN), 0);
	assert_int_equal(rms_request_set_command(req, cmd, 0, NULL), 0);
	return req;
}

/* Several requests per target (rms_fanout_add_request): each target runs
 * them in order on one PSSession (one shell per target, not per command),
 * a failing command leaves the next to run, each result names its request,
 * and a target that cannot be reached gets a failed result for each. */
static void test_several_requests_share_each_targets_session(void **state)
{
	fixture *f = *state;
	rms_session_options so = rms_endpoint_session_options(f->healthy);
	rms_session_options down = so;
	down.url = NULL;
	down.host = "127.0.0.1";
	down.port = 1;
	rms_target *t, *tdown;
	assert_int_equal(rms_target_new(&t, &so, &so), 0);
	assert_int_equal(rms_target_new(&tdown, NULL, &down), 0);
	static const char *const cmds[] = {"echo one", "echo two >&2; exit 3", "echo three"};
	rms_request *req = run_request(cmds[0]);
	rms_fanout *fo;
	assert_int_equal(rms_fanout_new(&fo, req, NULL), 0);
	rms_request_free(req);
	for (size_t j = 1; j < 3; j++) {
		size_t idx = 99;
		req = run_request(cmds[j]);
		assert_int_equal(rms_fanout_add_request(&idx, fo, req), 0);
		assert_int_equal(idx, j);
		rms_request_free(req);
	}
	/* The same computer twice, and one that is down. */
	assert_int_equal(rms_fanout_add(NULL, fo, t, RMS_BACKEND_AUTO), 0);
	assert_int_equal(rms_fanout_add(NULL, fo, t, RMS_BACKEND_AUTO), 0);
	assert_int_equal(rms_fanout_add(NULL, fo, tdown, RMS_BACKEND_AUTO), 0);
	/* Requests come before targets. */
	req = run_request("true");
	assert_int_equal(rms_fanout_add_request(NULL, fo, req), RMS_E_STATE);
	rms_request_free(req);
	assert_int_equal(rms_endpoint_reset(f->healthy), 0);
	size_t next[3] = {0, 0, 0}, got = 0;
	rms_fanout_result *r;
	int rc;
	uint64_t t0 = now_ms();
	while ((rc = rms_fanout_next(&r, fo)) != RMS_ITEROVER) {
		assert_true(now_ms() - t0 < 60000);
		if (rc == RMS_EAGAIN) {
			assert_int_equal(rms_fanout_poll(fo, -1, NULL), 0);
			continue;
		}
		got++;
		size_t ti = rms_fanout_result_index(r), j = rms_fanout_result_request(r);
		assert_true(ti < 3);
		/* A target's results come in request order. */
		assert_int_equal(j, next[ti]);
		next[ti]++;
		if (ti == 2) {
			assert_int_equal(rms_fanout_result_status(r), RMS_E_CONNECT);
			assert_non_null(rms_fanout_result_error(r));
			rms_fanout_result_free(r);
			continue;
		}
		if (rms_fanout_result_status(r))
			fail_msg("target %zu request %zu: %s", ti, j,
			         rms_error_message(rms_fanout_result_error(r)));
		size_t len;
		const char *out = rms_fanout_result_output(r, j == 1 ? RMS_STREAM_STDERR
		                                                     : RMS_STREAM_STDOUT, &len);
		const char *want = j == 0 ? "one\n" : j == 1 ? "two\n" : "three\n";
		assert_int_equal(len, strlen(want));
		assert_memory_equal(out, want, len);
		int code;
		assert_int_equal(rms_fanout_result_exit_code(r, &code), 0);
		assert_int_equal(code, j == 1 ? 3 : 0);
		assert_true(rms_fanout_result_ended_ms(r) >= rms_fanout_result_started_ms(r));
		rms_fanout_result_free(r);
	}
	assert_int_equal(got, 9);
	rms_fanout_free(fo);
	/* One shell per target, each command in it. */
	assert_int_equal(rms_endpoint_stat(f->healthy, "shells_created"), 2);
	assert_int_equal(rms_endpoint_stat(f->healthy, "requests_by_action.Command"), 6);
	rms_target_free(t);
	rms_target_free(tdown);
}

/* All of a target's requests go to one session: requests that would go to
 * different backends are refused when the target is added. */
static void test_requests_for_different_backends_are_refused(void **state)
{
	fixture *f = *state;
	rms_session_options so = rms_endpoint_session_options(f->healthy);
	rms_target *t;
	assert_int_equal(rms_target_new(&t, &so, &so), 0);
	rms_request *req = enum_request();
	rms_fanout *fo;
	assert_int_equal(rms_fanout_new(&fo, req, NULL), 0);
	rms_request_free(req);
	req = run_request("true");
	assert_int_equal(rms_fanout_add_request(NULL, fo, req), 0);
	rms_request_free(req);
	/* auto: enumerate goes to CIM, run to the PSSession. */
	assert_int_equal(rms_fanout_add(NULL, fo, t, RMS_BACKEND_AUTO), RMS_E_INVALID_ARG);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "one session per target"));
	/* Both on the PSSession: accepted. */
	assert_int_equal(rms_fanout_add(NULL, fo, t, RMS_BACKEND_PSSESSION), 0);
	rms_fanout_free(fo);
	rms_target_free(t);
}

/* Comparisons over many targets (rms_fanout_add_compare): each target's
 * request runs on both backends at once, and its one result carries the
 * record rms_compare gives: equal for a healthy computer, the PSSession
 * side failed at creation (and not equal) where only that side's password
 * is wrong; ordinary targets alongside keep their own results. */
static void test_comparisons_per_target(void **state)
{
	fixture *f = *state;
	rms_session_options so = rms_endpoint_session_options(f->healthy);
	rms_session_options bad = so;
	bad.password = "not-the-password";
	rms_target *good, *half, *cim_only;
	assert_int_equal(rms_target_new(&good, &so, &so), 0);
	assert_int_equal(rms_target_new(&half, &so, &bad), 0);
	assert_int_equal(rms_target_new(&cim_only, &so, NULL), 0);
	rms_request *req = enum_request();
	rms_fanout *fo;
	assert_int_equal(rms_fanout_new(&fo, req, NULL), 0);
	rms_request_free(req);
	size_t i_good, i_half, i_plain;
	assert_int_equal(rms_fanout_add_compare(&i_good, fo, good), 0);
	assert_int_equal(rms_fanout_add_compare(&i_half, fo, half), 0);
	assert_int_equal(i_half, i_good + 2); /* a comparison takes two positions */
	assert_int_equal(rms_fanout_add(&i_plain, fo, good, RMS_BACKEND_CIM), 0);
	/* A target without PSSession settings cannot be compared. */
	assert_int_equal(rms_fanout_add_compare(NULL, fo, cim_only), RMS_E_INVALID_ARG);
	size_t got = 0;
	rms_fanout_result *r;
	int rc;
	uint64_t t0 = now_ms();
	while ((rc = rms_fanout_next(&r, fo)) != RMS_ITEROVER) {
		assert_true(now_ms() - t0 < 60000);
		if (rc == RMS_EAGAIN) {
			assert_int_equal(rms_fanout_poll(fo, -1, NULL), 0);
			continue;
		}
		got++;
		size_t i = rms_fanout_result_index(r);
		const rms_comparison *c = rms_fanout_result_comparison(r);
		if (i == i_plain) {
			assert_null(c);
			assert_int_equal(rms_fanout_result_status(r), 0);
			assert_int_equal(rms_fanout_result_instance_count(r), f->want_n);
			rms_fanout_result_free(r);
			continue;
		}
		assert_non_null(c);
		assert_int_equal(rms_fanout_result_status(r), 0);
		assert_int_equal(rms_fanout_result_instance_count(r), 0);
		const rms_side_report *cs = rms_comparison_side(c, RMS_BACKEND_CIM);
		const rms_side_report *ps = rms_comparison_side(c, RMS_BACKEND_PSSESSION);
		assert_int_equal(cs->status, 0);
		assert_int_equal(cs->items, f->want_n);
		assert_true(cs->traffic.round_trips > 0);
		if (i == i_good) {
			if (!rms_comparison_equal(c))
				fail_msg("not equal at %s: cim %s, pssession %s", rms_comparison_where(c),
				         rms_comparison_cim_value(c), rms_comparison_pssession_value(c));
			assert_int_equal(ps->status, 0);
			assert_int_equal(ps->items, f->want_n);
			assert_true(ps->traffic.shells_opened == 1);
		} else {
			assert_int_equal(i, i_half);
			assert_false(rms_comparison_equal(c));
			assert_null(rms_comparison_where(c));
			assert_int_equal(ps->status, RMS_E_AUTH);
			assert_true(ps->failed_at_creation);
			assert_non_null(ps->error);
		}
		char *json = NULL;
		assert_int_equal(rms_comparison_to_json(&json, c), 0);
		assert_non_null(strstr(json, "\"equal\""));
		rms_free(json);
		rms_fanout_result_free(r);
	}
	assert_int_equal(got, 3);
	rms_fanout_free(fo);
	rms_target_free(good);
	rms_target_free(half);
	rms_target_free(cim_only);
}

/* Checked before anything runs: a request a target cannot serve, a bad
 * options version; and the caller's last error survives a fan-out's work. */
static void test_offline_errors(void **state)
{
	fixture *f = *state;
	rms_session_options so = rms_endpoint_session_options(f->healthy);
	rms_target *cim_only;
	assert_int_equal(rms_target_new(&cim_only, &so, NULL), 0);
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_RUN), 0);
	rms_fanout *fo;
	assert_int_equal(rms_request_set_command(req, "true", 0, NULL), 0);
	rms_fanout_options o = RMS_FANOUT_OPTIONS_INIT;
	o.version = 99;
	assert_int_equal(rms_fanout_new(&fo, req, &o), RMS_E_INVALID_ARG);
	assert_int_equal(rms_fanout_options_init(&o, RMS_FANOUT_OPTIONS_VERSION), 0);
	assert_int_equal(rms_fanout_new(&fo, req, &o), 0);
	assert_int_equal(rms_fanout_add(NULL, fo, cim_only, RMS_BACKEND_AUTO), RMS_E_UNSUPPORTED);
	rms_fanout_result *r;
	assert_int_equal(rms_fanout_next(&r, fo), RMS_ITEROVER);
	rms_fanout_free(fo);
	rms_fanout_free(NULL);
	rms_fanout_result_free(NULL);
	rms_request_free(req);
	/* An incomplete request is refused once, before any target. */
	assert_int_equal(rms_request_new(&req, RMS_OP_ENUMERATE), 0);
	assert_int_equal(rms_fanout_new(&fo, req, NULL), RMS_E_INVALID_ARG);
	assert_null(fo);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "class"));
	rms_request_free(req);
	rms_target_free(cim_only);
}

/* Stopping halfway: targets opening, running and finished, and results not
 * read yet, all freed (valgrind and ASan see no leak), without waiting for
 * the stalled ones. */
static void test_free_halfway_leaks_nothing(void **state)
{
	fixture *f = *state;
	const size_t n = quick() ? 10 : 24;
	rms_target **targets = calloc(n, sizeof *targets);
	assert_non_null(targets);
	rms_request *req = enum_request();
	rms_fanout_options o = RMS_FANOUT_OPTIONS_INIT;
	o.throttle = 6;
	o.target_timeout_ms = 500; /* some stalled ops end in the grave */
	rms_fanout *fo;
	assert_int_equal(rms_fanout_new(&fo, req, &o), 0);
	rms_request_free(req);
	for (size_t i = 0; i < n; i++) {
		enum kind k = kind_of(i, n);
		if (k == STALL_PS || k == WRONG_PASSWORD)
			k = i % 2 ? STALL_CIM : HEALTHY_PS;
		targets[i] = make_target(f, k);
		assert_int_equal(rms_fanout_add(NULL, fo, targets[i],
		                                is_ps(k) ? RMS_BACKEND_PSSESSION : RMS_BACKEND_AUTO),
		                 0);
	}
	size_t got = 0;
	rms_fanout_result *r;
	uint64_t t0 = now_ms();
	while (got < n / 2 && now_ms() - t0 < 60000) {
		int rc = rms_fanout_next(&r, fo);
		if (rc == RMS_EAGAIN) {
			assert_int_equal(rms_fanout_poll(fo, 100, NULL), 0);
			continue;
		}
		assert_int_equal(rc, 0);
		rms_fanout_result_free(r);
		got++;
	}
	assert_true(got >= n / 2);
	/* More results may be queued unread, targets in flight. */
	assert_int_equal(rms_fanout_poll(fo, 50, NULL), 0);
	rms_error_clear();
	uint64_t t1 = now_ms();
	rms_fanout_free(fo);
	assert_null(rms_error_last()); /* freeing leaves the last error alone */
	fprintf(stderr, "freeing halfway took %llu ms\n", (unsigned long long)(now_ms() - t1));
	for (size_t i = 0; i < n; i++)
		rms_target_free(targets[i]);
	free(targets);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offline_errors),
		cmocka_unit_test(test_mixed_targets_each_get_their_own_result_under_the_throttle),
		cmocka_unit_test(test_run_collects_each_targets_output_and_exit_code),
		cmocka_unit_test(test_several_requests_share_each_targets_session),
		cmocka_unit_test(test_requests_for_different_backends_are_refused),
		cmocka_unit_test(test_comparisons_per_target),
		cmocka_unit_test(test_free_halfway_leaks_nothing),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
