/*
 * The public engine (remsess/engine.h, core/api/engine.c): many operations
 * of many sessions, CIM and PSSession, over WS-Man (the test endpoint) and
 * SSH (a real sshd), driven from one thread, each ending with what the
 * blocking call gives.
 *
 * "No operation waits on another" is proved without timing: every remote
 * command waits at a barrier until all commands of the run have started and
 * every CIM operation has ended (the test lays a marker file when the last
 * CIM op is done). An engine that ran one operation at a time, or let one
 * wait for another, would never get there; the run's deadline would fail
 * the test. "No thread" is read from /proc/self/status after every step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "endpoint.h"
#include "remsess/remsess.h"
#include "sshd.h"

static long threads_now(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	assert_non_null(f);
	char line[256];
	long n = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Threads: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

static bool quick(void)
{
	return getenv("RMS_TEST_QUICK") != NULL;
}

/* ---- what a finished op gave --------------------------------------------- */

typedef struct result {
	int rc;
	char out[256];
	size_t out_len;
	int exit_code;
	rms_instance **items;
	size_t nitems;
} result;

static void result_free(result *r)
{
	for (size_t i = 0; i < r->nitems; i++)
		rms_instance_free(r->items[i]);
	free(r->items);
	memset(r, 0, sizeof *r);
}

static void add_item(result *r, rms_instance *inst)
{
	r->items = realloc(r->items, (r->nitems + 1) * sizeof *r->items);
	assert_non_null(r->items);
	r->items[r->nitems++] = inst;
}

static void add_output(result *r, const rms_chunk *c)
{
	assert_true(r->out_len + c->len < sizeof r->out);
	memcpy(r->out + r->out_len, c->data, c->len);
	r->out_len += c->len;
	r->out[r->out_len] = '\0';
}

/* Read what op has ready without waiting; RMS_EAGAIN means "later". */
static int drain(rms_op *op, rms_op_kind kind, result *r)
{
	int rc;
	if (kind == RMS_OP_RUN) {
		rms_chunk c;
		while ((rc = rms_op_next_chunk(op, &c)) == 0)
			if (c.stream == RMS_STREAM_STDOUT)
				add_output(r, &c);
		if (rc == RMS_ITEROVER)
			assert_int_equal(rms_op_exit_code(op, &r->exit_code), 0);
	} else {
		rms_instance *inst;
		while ((rc = rms_op_next(op, &inst)) == 0)
			add_item(r, inst);
	}
	return rc;
}

static void assert_same(const result *a, const result *b)
{
	assert_int_equal(a->rc, b->rc);
	assert_int_equal(a->exit_code, b->exit_code);
	assert_int_equal(a->out_len, b->out_len);
	assert_memory_equal(a->out, b->out, a->out_len);
	assert_int_equal(a->nitems, b->nitems);
	for (size_t i = 0; i < a->nitems; i++)
		assert_true(rms_instance_equal(a->items[i], b->items[i]));
}

/* The blocking call's result for req on s. */
static void blocking(rms_session *s, const rms_request *req, result *r)
{
	rms_op *op;
	memset(r, 0, sizeof *r);
	assert_int_equal(rms_op_start(&op, s, req), 0);
	r->rc = drain(op, rms_request_kind(req), r) == RMS_ITEROVER ? 0 : -1;
	rms_op_free(op);
}

/* ---- the run --------------------------------------------------------------- */

typedef struct slot {
	rms_backend backend;
	rms_session_options opts;
	rms_session *s;
	bool opened;
	const rms_request *req;
	rms_op *op;
	bool done;
	result got;
} slot;

typedef struct fixture {
	rms_endpoint_proc *ep;
	rms_sshd sshd;
	bool have_sshd;
	char dir[256]; /* the barrier's directory */
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->ep = rms_endpoint_spawn(NULL);
	assert_non_null(f->ep);
	/* Many logins at once: sshd's default MaxStartups (10:30:100) would
	 * drop some of them at random. */
	f->have_sshd = rms_sshd_start(&f->sshd, "MaxStartups 200\nMaxSessions 200") == 0;
	assert_true(f->have_sshd);
	snprintf(f->dir, sizeof f->dir, "%s/engine-barrier-XXXXXX", RMS_TEST_BUILD_DIR);
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	rms_endpoint_kill(f->ep);
	if (f->have_sshd)
		rms_sshd_stop(&f->sshd);
	free(f);
	return 0;
}

static rms_request *run_req(const char *cmd)
{
	rms_request *r;
	assert_int_equal(rms_request_new(&r, RMS_OP_RUN), 0);
	assert_int_equal(rms_request_set_command(r, cmd, 0, NULL), 0);
	return r;
}

static void test_fifty_operations_on_fifty_sessions_from_one_thread(void **state)
{
	fixture *f = *state;
	const size_t ncim = quick() ? 4 : 20, nwinrs = quick() ? 3 : 15, nssh = quick() ? 3 : 15;
	const size_t n = ncim + nwinrs + nssh, ncmd = nwinrs + nssh;

	/* Commands: mark "started", wait until every command has started and
	 * the CIM ops are all done, then answer. */
	char barrier[1024], marker[300];
	snprintf(marker, sizeof marker, "%s/cim-done", f->dir);
	/* Counted with a glob and a builtin: thirty waiting shells must not
	 * fork their way through a 2-core machine that runs other tests. */
	snprintf(barrier, sizeof barrier,
	         "d='%s'; : > \"$d/started.$$\"; i=0; "
	         "while set -- \"$d\"/started.*; [ $# -lt %zu ] || [ ! -e \"$d/cim-done\" ]; "
	         "do sleep 0.2; i=$((i+1)); [ $i -gt 1000 ] && exit 99; done; echo released; exit 3",
	         f->dir, ncmd);
	rms_request *cmd = run_req(barrier);
	rms_request *enumerate;
	assert_int_equal(rms_request_new(&enumerate, RMS_OP_ENUMERATE), 0);
	assert_int_equal(rms_request_set_class(enumerate, "Win32_Service"), 0);

	rms_session_options cim_o = rms_endpoint_session_options(f->ep);
	rms_session_options ps_o = rms_endpoint_session_options(f->ep);
	rms_session_options ssh_o = rms_sshd_session_options(&f->sshd);

	/* What the blocking calls give (the barrier is open for them: a
	 * throw-away directory with the marker and enough "started" files). */
	result want_cim, want_cmd;
	{
		char open_dir[300], c[1100];
		snprintf(open_dir, sizeof open_dir, "%s/open", f->dir);
		assert_int_equal(mkdir(open_dir, 0700), 0);
		snprintf(c, sizeof c, "cd '%s' && : > cim-done && for i in $(seq %zu); do : > started.$i; done",
		         open_dir, ncmd);
		assert_int_equal(system(c), 0);
		char open_barrier[1024];
		snprintf(open_barrier, sizeof open_barrier,
		         "d='%s'; while set -- \"$d\"/started.*; [ $# -lt %zu ] || [ ! -e \"$d/cim-done\" ]; "
		         "do sleep 0.2; done; echo released; exit 3",
		         open_dir, ncmd);
		rms_request *open_cmd = run_req(open_barrier);
		rms_session *s;
		assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &cim_o), 0);
		blocking(s, enumerate, &want_cim);
		rms_session_free(s);
		assert_int_equal(rms_session_new(&s, RMS_BACKEND_PSSESSION, &ps_o), 0);
		blocking(s, open_cmd, &want_cmd);
		rms_session_free(s);
		result via_ssh;
		assert_int_equal(rms_session_new(&s, RMS_BACKEND_PSSESSION, &ssh_o), 0);
		blocking(s, open_cmd, &via_ssh);
		rms_session_free(s);
		assert_same(&via_ssh, &want_cmd);
		result_free(&via_ssh);
		rms_request_free(open_cmd);
		assert_true(want_cim.nitems > 0);
		assert_string_equal(want_cmd.out, "released\n");
		assert_int_equal(want_cmd.exit_code, 3);
	}

	long threads_before = threads_now();
	slot *slots = calloc(n, sizeof *slots);
	assert_non_null(slots);
	rms_multi *m;
	assert_int_equal(rms_multi_new(&m), 0);
	for (size_t i = 0; i < n; i++) {
		slot *sl = &slots[i];
		sl->backend = i < ncim ? RMS_BACKEND_CIM : RMS_BACKEND_PSSESSION;
		sl->opts = i < ncim ? cim_o : i < ncim + nwinrs ? ps_o : ssh_o;
		sl->req = i < ncim ? enumerate : cmd;
		/* Every session opens through the engine too. */
		assert_int_equal(rms_multi_open(&sl->s, m, sl->backend, &sl->opts), 0);
	}

	size_t opened = 0, done = 0, cim_done = 0, msgs = 0;
	long threads_max = threads_before;
	time_t give_up = time(NULL) + 240; /* loaded CI machines, valgrind */
	while (done < n) {
		if (time(NULL) >= give_up)
			fail_msg("after 240 s: %zu of %zu sessions opened, %zu of %zu ops done", opened, n,
			         done, n);
		size_t running;
		assert_int_equal(rms_multi_poll(m, 1000, &running), 0);
		long t = threads_now();
		if (t > threads_max)
			threads_max = t;
		rms_msg msg;
		while (rms_multi_info_read(m, &msg) == 0) {
			msgs++;
			slot *sl = NULL;
			for (size_t i = 0; i < n && !sl; i++)
				if (slots[i].s == msg.session)
					sl = &slots[i];
			assert_non_null(sl);
			if (msg.kind == RMS_MSG_OPENED) {
				if (msg.result)
					fail_msg("session %zu did not open: %s", (size_t)(sl - slots),
					         rms_error_message(rms_session_broken_reason(sl->s)));
				assert_int_equal(rms_session_state_get(sl->s), RMS_STATE_OPENED);
				sl->opened = true;
				opened++;
				assert_int_equal(rms_multi_start(&sl->op, m, sl->s, sl->req), 0);
				continue;
			}
			assert_ptr_equal(msg.op, sl->op);
			int rc = drain(sl->op, rms_request_kind(sl->req), &sl->got);
			if (msg.kind == RMS_MSG_DONE) {
				if (msg.result)
					fail_msg("op %zu failed: %s", (size_t)(sl - slots),
					         rms_error_message(rms_op_error(sl->op)));
				if (rc != RMS_ITEROVER)
					fail_msg("op %zu ended, but reading it gave %d: %s", (size_t)(sl - slots),
					         rc, rms_error_message(rms_op_error(sl->op)));
				sl->done = true;
				done++;
				if (sl->backend == RMS_BACKEND_CIM && ++cim_done == ncim) {
					FILE *mk = fopen(marker, "w");
					assert_non_null(mk);
					fclose(mk);
				}
			} else {
				assert_int_equal(msg.kind, RMS_MSG_READY);
				if (rc != RMS_EAGAIN && rc != RMS_ITEROVER)
					fail_msg("op %zu failed while being read: %s", (size_t)(sl - slots),
					         rms_error_message(rms_op_error(sl->op)));
			}
		}
	}
	assert_int_equal(opened, n);
	/* Nothing in the library started a thread along the way. */
	if (threads_max != threads_before)
		fail_msg("threads: %ld before the run, up to %ld during it", threads_before, threads_max);
	for (size_t i = 0; i < n; i++) {
		slot *sl = &slots[i];
		assert_same(&sl->got, sl->backend == RMS_BACKEND_CIM ? &want_cim : &want_cmd);
		result_free(&sl->got);
		rms_op_free(sl->op);
		rms_session_free(sl->s);
	}
	rms_multi_free(m);
	free(slots);
	result_free(&want_cim);
	result_free(&want_cmd);
	rms_request_free(cmd);
	rms_request_free(enumerate);
	assert_true(msgs >= 2 * n);
}

/* An operation is refused on a session still opening, and a session that
 * cannot be reached opens to a failure message, not a blocked call. */
static void test_open_failure_is_a_message_and_opening_refuses_ops(void **state)
{
	fixture *f = *state;
	rms_session_options o = rms_endpoint_session_options(f->ep);
	o.url = NULL;
	o.host = "127.0.0.1";
	o.port = 1; /* nothing listens there */
	rms_multi *m;
	assert_int_equal(rms_multi_new(&m), 0);
	rms_session *s;
	assert_int_equal(rms_multi_open(&s, m, RMS_BACKEND_PSSESSION, &o), 0);
	rms_request *req = run_req("echo hi");
	rms_op *op = NULL;
	if (rms_session_state_get(s) == RMS_STATE_OPENING) {
		assert_int_equal(rms_multi_start(&op, m, s, req), RMS_E_STATE);
		assert_null(op);
	}
	rms_msg msg;
	int got = 0;
	for (int i = 0; i < 200 && !got; i++) {
		assert_int_equal(rms_multi_poll(m, 100, NULL), 0);
		while (rms_multi_info_read(m, &msg) == 0) {
			assert_int_equal(msg.kind, RMS_MSG_OPENED);
			assert_ptr_equal(msg.session, s);
			assert_int_equal(msg.result, RMS_E_CONNECT);
			got = 1;
		}
	}
	assert_true(got);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_BROKEN);
	assert_int_equal(rms_error_code(rms_session_broken_reason(s)), RMS_E_CONNECT);
	assert_int_equal(rms_multi_start(&op, m, s, req), RMS_E_STATE);
	rms_request_free(req);
	rms_session_free(s);
	rms_multi_free(m);
}

/* Freeing an op removes it and its messages from the engine; freeing the
 * engine leaves the ops it carried usable as blocking ops. */
static void test_free_while_carried(void **state)
{
	fixture *f = *state;
	rms_session_options o = rms_endpoint_session_options(f->ep);
	rms_session *s;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_ENUMERATE), 0);
	assert_int_equal(rms_request_set_class(req, "Win32_Service"), 0);
	rms_multi *m;
	assert_int_equal(rms_multi_new(&m), 0);
	rms_op *a, *b;
	assert_int_equal(rms_multi_start(&a, m, s, req), 0);
	assert_int_equal(rms_multi_start(&b, m, s, req), 0);
	/* Until a's first page is in. */
	rms_msg msg;
	bool a_ready = false;
	for (int i = 0; i < 200 && !a_ready; i++) {
		assert_int_equal(rms_multi_poll(m, 100, NULL), 0);
		while (rms_multi_info_read(m, &msg) == 0)
			if (msg.op == a)
				a_ready = true;
	}
	assert_true(a_ready);
	rms_op_free(a);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(rms_multi_poll(m, 10, NULL), 0);
		while (rms_multi_info_read(m, &msg) == 0)
			assert_ptr_equal(msg.op, b);
	}
	rms_multi_free(m);
	/* b is an ordinary, blocking op now. */
	result r;
	memset(&r, 0, sizeof r);
	assert_int_equal(drain(b, RMS_OP_ENUMERATE, &r), RMS_ITEROVER);
	result want;
	blocking(s, req, &want);
	assert_same(&r, &want);
	result_free(&r);
	result_free(&want);
	rms_op_free(b);
	rms_request_free(req);
	rms_session_free(s);
}

/* A cancelled op whose items the caller is not reading ends with
 * RMS_E_CANCELLED (it is not stepped while it holds a page, so the engine
 * ends it); a session freed while the engine opens it leaves the engine
 * and sends no message. */
static void test_cancel_unread_op_and_free_opening_session(void **state)
{
	fixture *f = *state;
	rms_session_options o = rms_endpoint_session_options(f->ep);
	rms_multi *m;
	assert_int_equal(rms_multi_new(&m), 0);
	rms_session *cim, *ps, *gone;
	assert_int_equal(rms_multi_open(&cim, m, RMS_BACKEND_CIM, &o), 0);
	assert_int_equal(rms_multi_open(&ps, m, RMS_BACKEND_PSSESSION, &o), 0);
	assert_int_equal(rms_multi_open(&gone, m, RMS_BACKEND_PSSESSION, &o), 0);
	assert_int_equal(rms_session_state_get(gone), RMS_STATE_OPENING);
	rms_session_free(gone);
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_ENUMERATE), 0);
	assert_int_equal(rms_request_set_class(req, "Win32_Service"), 0);
	rms_op *op = NULL;
	bool ps_open = false, ready = false;
	int done = 1;
	rms_msg msg;
	for (int i = 0; i < 400 && done == 1; i++) {
		assert_int_equal(rms_multi_poll(m, 100, NULL), 0);
		while (rms_multi_info_read(m, &msg) == 0) {
			if (msg.kind == RMS_MSG_OPENED) {
				assert_int_equal(msg.result, 0);
				assert_true(msg.session == cim || msg.session == ps);
				if (msg.session == cim)
					assert_int_equal(rms_multi_start(&op, m, cim, req), 0);
				else
					ps_open = true;
			} else if (msg.kind == RMS_MSG_READY) {
				/* Not read: cancelled instead. */
				assert_ptr_equal(msg.op, op);
				ready = true;
				rms_op_cancel(op);
			} else {
				assert_int_equal(msg.kind, RMS_MSG_DONE);
				done = msg.result;
			}
		}
	}
	assert_true(ready);
	assert_int_equal(done, RMS_E_CANCELLED);
	assert_int_equal(rms_error_code(rms_op_error(op)), RMS_E_CANCELLED);
	for (int i = 0; i < 100 && !ps_open; i++) {
		assert_int_equal(rms_multi_poll(m, 100, NULL), 0);
		while (rms_multi_info_read(m, &msg) == 0) {
			assert_ptr_equal(msg.session, ps);
			ps_open = true;
		}
	}
	assert_true(ps_open);
	size_t running = 99;
	assert_int_equal(rms_multi_perform(m, &running), 0);
	assert_int_equal(running, 0);
	rms_op_free(op);
	rms_request_free(req);
	rms_session_free(cim);
	rms_session_free(ps);
	rms_multi_free(m);
}

struct canceller {
	rms_multi *m;
	rms_op *op;
};

static void *cancel_later(void *arg)
{
	struct canceller *c = arg;
	nanosleep(&(struct timespec){.tv_nsec = 200000000}, NULL);
	rms_op_cancel(c->op);
	rms_multi_wakeup(c->m);
	return NULL;
}

/* A cancel from another thread reaches an op the engine is waiting on at
 * once through rms_multi_wakeup, not when the op's own wait ends. */
static void test_cancel_from_another_thread_wakes_the_poll(void **state)
{
	fixture *f = *state;
	rms_session_options o = rms_sshd_session_options(&f->sshd);
	rms_session *s;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_PSSESSION, &o), 0);
	rms_request *req = run_req("sleep 30");
	rms_multi *m;
	assert_int_equal(rms_multi_new(&m), 0);
	rms_op *op;
	assert_int_equal(rms_multi_start(&op, m, s, req), 0);
	struct canceller c = {m, op};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, cancel_later, &c), 0);
	time_t t0 = time(NULL);
	rms_msg msg;
	int outcome = 1;
	while (outcome == 1 && time(NULL) - t0 < 20) {
		/* One long wait: only the wake-up can end it early. */
		assert_int_equal(rms_multi_poll(m, 60000, NULL), 0);
		while (rms_multi_info_read(m, &msg) == 0)
			if (msg.kind == RMS_MSG_DONE)
				outcome = msg.result;
	}
	pthread_join(th, NULL);
	assert_int_equal(outcome, RMS_E_CANCELLED);
	assert_true(time(NULL) - t0 < 10);
	rms_op_free(op);
	rms_multi_free(m);
	rms_request_free(req);
	rms_session_free(s);
}

/* Poll m until op's DONE (or 20 s); its result, 1 when none came. Other
 * ops' messages are ignored. */
/* Poll m until op's DONE: its result (1 if none came in 20 s). The messages
 * of another op that is still running (may be NULL) are acted on, not
 * dropped: its output is read into other_got and its DONE's result goes to
 * *other_done. (READY comes once until the op is read dry: an op whose
 * READY were dropped would never be heard of again.) */
static int until_done_with(rms_multi *m, rms_op *op, double *took, rms_op *other,
                           int *other_done, result *other_got)
{
	time_t t0 = time(NULL);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	rms_msg msg;
	int outcome = 1;
	while (outcome == 1 && time(NULL) - t0 < 20) {
		assert_int_equal(rms_multi_poll(m, 60000, NULL), 0);
		while (rms_multi_info_read(m, &msg) == 0) {
			if (msg.kind == RMS_MSG_DONE && msg.op == op)
				outcome = msg.result;
			if (other && msg.op == other) {
				if (msg.kind == RMS_MSG_DONE)
					*other_done = msg.result;
				drain(other, RMS_OP_RUN, other_got);
			}
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (took)
		*took = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	return outcome;
}

static int until_done(rms_multi *m, rms_op *op, double *took)
{
	return until_done_with(m, op, took, NULL, NULL, NULL);
}

/* An SSH command in flight when its session is closed: the close frees
 * libssh2's session and every channel with it, so the command's next step
 * and next_chunk must not touch its channel (ASan sees it if they do): the
 * op ends with RMS_E_STATE, the session's "closed". */
static void test_ssh_command_after_its_session_closed(void **state)
{
	fixture *f = *state;
	rms_session_options o = rms_sshd_session_options(&f->sshd);
	rms_request *req = run_req("echo started; sleep 30");
	for (int round = 0; round < 2; round++) {
		rms_session *s;
		assert_int_equal(rms_session_new(&s, RMS_BACKEND_PSSESSION, &o), 0);
		rms_multi *m;
		assert_int_equal(rms_multi_new(&m), 0);
		rms_op *op;
		assert_int_equal(rms_multi_start(&op, m, s, req), 0);
		/* Until its output is in: the channel is open and the command
		 * runs. */
		bool ready = false;
		rms_msg msg;
		for (int i = 0; i < 200 && !ready; i++) {
			assert_int_equal(rms_multi_poll(m, 100, NULL), 0);
			while (rms_multi_info_read(m, &msg) == 0)
				ready |= msg.kind == RMS_MSG_READY;
		}
		assert_true(ready);
		rms_chunk c;
		while (rms_op_next_chunk(op, &c) == 0)
			;
		assert_int_equal(rms_session_close(s), 0);
		if (round == 0) {
			/* The caller asks first. */
			assert_int_equal(rms_op_next_chunk(op, &c), RMS_E_STATE);
			assert_non_null(strstr(rms_error_message(rms_error_last()), "closed"));
		} else {
			/* The engine steps it first. */
			double took;
			assert_int_equal(until_done(m, op, &took), RMS_E_STATE);
			assert_true(took < 2);
			assert_int_equal(rms_op_next_chunk(op, &c), RMS_E_STATE);
		}
		rms_op_free(op);
		rms_multi_free(m);
		rms_session_free(s);
	}
	rms_request_free(req);
}

/* Two commands on one SSH session in an engine, B with no time limit: A is
 * cancelled and freed while B's output and exit are on their way. A's
 * stop and release read the socket, and libssh2 queues B's packets where
 * poll() cannot see them: B must be woken and end with its output and exit
 * code, not wait on a silent socket for ever. */
static void test_ssh_command_outlives_another_stopped_on_its_session(void **state)
{
	fixture *f = *state;
	rms_session_options o = rms_sshd_session_options(&f->sshd);
	rms_session *s;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_PSSESSION, &o), 0);
	rms_request *ra = run_req("echo a; sleep 30");
	/* B's whole output and exit come while A is being stopped. */
	rms_request *rb = run_req("sleep 0.5; echo bee; exit 3");
	for (int round = 0; round < 3; round++) {
		rms_multi *m;
		assert_int_equal(rms_multi_new(&m), 0);
		rms_op *a, *b;
		assert_int_equal(rms_multi_start(&a, m, s, ra), 0);
		assert_int_equal(rms_multi_start(&b, m, s, rb), 0);
		bool a_ready = false;
		rms_msg msg;
		result rb_got;
		memset(&rb_got, 0, sizeof rb_got);
		int b_done = 1;
		for (int i = 0; i < 200 && !a_ready; i++) {
			assert_int_equal(rms_multi_poll(m, 100, NULL), 0);
			while (rms_multi_info_read(m, &msg) == 0) {
				if (msg.op == a && msg.kind == RMS_MSG_READY)
					a_ready = true;
				if (msg.op == b && msg.kind == RMS_MSG_DONE)
					b_done = msg.result;
				/* On a loaded machine B may have output before A
				 * does: READY comes once until B is read dry, so
				 * B is read now (else it waits for ever). */
				if (msg.op == b)
					drain(b, RMS_OP_RUN, &rb_got);
			}
		}
		assert_true(a_ready);
		/* Until B's output is about to come, then A goes. */
		nanosleep(&(struct timespec){.tv_nsec = 450000000}, NULL);
		if (round == 1) {
			/* Cancelled first, stopped by its step. */
			rms_op_cancel(a);
			assert_int_equal(until_done_with(m, a, NULL, b, &b_done, &rb_got),
			                 RMS_E_CANCELLED);
		}
		/* Its free stops it (round 0) and releases its channel, up to
		 * seconds of cleanup while B's packets arrive. */
		if (round == 2)
			nanosleep(&(struct timespec){.tv_nsec = 300000000}, NULL);
		rms_op_free(a);
		time_t t0 = time(NULL);
		while (b_done == 1 && time(NULL) - t0 < 15) {
			assert_int_equal(rms_multi_poll(m, 60000, NULL), 0);
			while (rms_multi_info_read(m, &msg) == 0) {
				assert_ptr_equal(msg.op, b);
				if (msg.kind == RMS_MSG_DONE)
					b_done = msg.result;
				drain(b, RMS_OP_RUN, &rb_got);
			}
		}
		assert_int_equal(b_done, 0);
		assert_true(time(NULL) - t0 < 6);
		assert_int_equal(drain(b, RMS_OP_RUN, &rb_got), RMS_ITEROVER);
		assert_string_equal(rb_got.out, "bee\n");
		assert_int_equal(rb_got.exit_code, 3);
		rms_op_free(b);
		rms_multi_free(m);
	}
	assert_int_equal(rms_session_state_get(s), RMS_STATE_OPENED);
	rms_request_free(ra);
	rms_request_free(rb);
	rms_session_free(s);
}

/* Two commands on one WinRS session in an engine: one is cancelled while
 * the other's exchange is in flight on the session's one connection. The
 * cancel's cleanup finishes that exchange for its owner, whose socket then
 * stays silent: the owner must be stepped at once, not when its old HTTP
 * deadline ends, and finish promptly. */
static void test_winrs_command_finishes_after_another_cancelled(void **state)
{
	fixture *f = *state;
	rms_session_options o = rms_endpoint_session_options(f->ep);
	rms_session *s;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_PSSESSION, &o), 0);
	rms_request *ra = run_req("echo a; sleep 30");
	rms_request *rb = run_req("echo bee; exit 4");
	rms_multi *m;
	assert_int_equal(rms_multi_new(&m), 0);
	rms_op *a, *b;
	assert_int_equal(rms_multi_start(&a, m, s, ra), 0);
	bool a_ready = false;
	rms_msg msg;
	for (int i = 0; i < 200 && !a_ready; i++) {
		assert_int_equal(rms_multi_poll(m, 100, NULL), 0);
		while (rms_multi_info_read(m, &msg) == 0)
			a_ready |= msg.op == a && msg.kind == RMS_MSG_READY;
	}
	assert_true(a_ready);
	rms_chunk c;
	while (rms_op_next_chunk(a, &c) == 0)
		;
	/* A waits in a long-poll Receive; B is queued behind it, then gets
	 * the connection for its Command while A is cancelled. */
	assert_int_equal(rms_multi_start(&b, m, s, rb), 0);
	rms_op_cancel(a);
	double took;
	result got;
	memset(&got, 0, sizeof got);
	int b_done = 1;
	assert_int_equal(until_done_with(m, a, NULL, b, &b_done, &got), RMS_E_CANCELLED);
	rms_op_free(a);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 200 && b_done == 1; i++) {
		assert_int_equal(rms_multi_poll(m, 60000, NULL), 0);
		while (rms_multi_info_read(m, &msg) == 0) {
			assert_ptr_equal(msg.op, b);
			if (msg.kind == RMS_MSG_DONE)
				b_done = msg.result;
			drain(b, RMS_OP_RUN, &got);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_int_equal(b_done, 0);
	assert_true(took < 3);
	assert_int_equal(drain(b, RMS_OP_RUN, &got), RMS_ITEROVER);
	assert_string_equal(got.out, "bee\n");
	assert_int_equal(got.exit_code, 4);
	rms_op_free(b);
	rms_multi_free(m);
	rms_request_free(ra);
	rms_request_free(rb);
	rms_session_free(s);
}

/* Poll m until s's CLOSED: its result (1 if none came in 20 s). The DONE of
 * op (may be NULL) must come before it; its result goes to *done. */
static int until_closed(rms_multi *m, rms_session *s, rms_op *op, int *done)
{
	time_t t0 = time(NULL);
	rms_msg msg;
	int closed = 1;
	while (closed == 1 && time(NULL) - t0 < 20) {
		assert_int_equal(rms_multi_poll(m, 1000, NULL), 0);
		while (rms_multi_info_read(m, &msg) == 0) {
			if (msg.kind == RMS_MSG_DONE && op && msg.op == op) {
				assert_int_equal(closed, 1);
				*done = msg.result;
			}
			if (msg.kind == RMS_MSG_CLOSED && msg.session == s)
				closed = msg.result;
		}
	}
	return closed;
}

/* A session closed through the engine, with a command in flight: the close
 * begins and returns (no CLOSED queued, WinRS's Delete waiting on a
 * descriptor after one perform), the command ends with RMS_E_STATE before
 * CLOSED, new ops are refused as "closing", CLOSED comes with 0, the shell
 * is gone on the endpoint (WinRS) and the connection closed (SSH). Then a
 * session freed while its close is in flight: no message, nothing leaks. */
static void close_through_engine(fixture *f, bool ssh)
{
	rms_session_options o = ssh ? rms_sshd_session_options(&f->sshd)
	                            : rms_endpoint_session_options(f->ep);
	rms_request *req = run_req("echo started; sleep 30");
	rms_session *s;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_PSSESSION, &o), 0);
	int64_t shells = ssh ? 0 : rms_endpoint_stat(f->ep, "shells_open");
	assert_true(ssh || shells >= 1);
	rms_multi *m;
	assert_int_equal(rms_multi_new(&m), 0);
	rms_op *op;
	assert_int_equal(rms_multi_start(&op, m, s, req), 0);
	bool ready = false;
	rms_msg msg;
	for (int i = 0; i < 200 && !ready; i++) {
		assert_int_equal(rms_multi_poll(m, 100, NULL), 0);
		while (rms_multi_info_read(m, &msg) == 0)
			ready |= msg.kind == RMS_MSG_READY && msg.op == op;
	}
	assert_true(ready);

	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(rms_multi_close(m, s), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	/* Begun, not waited for: no network round trip in the call. */
	assert_true((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 200);
	bool closed_now = false;
	int done = 1;
	while (rms_multi_info_read(m, &msg) == 0) {
		closed_now |= msg.kind == RMS_MSG_CLOSED;
		if (msg.kind == RMS_MSG_DONE && msg.op == op)
			done = msg.result;
	}
	assert_false(closed_now);
	/* The op in flight ended with RMS_E_STATE, its DONE already queued. */
	assert_int_equal(done, RMS_E_STATE);
	rms_chunk c;
	assert_int_equal(rms_op_next_chunk(op, &c), RMS_E_STATE);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_OPENED);
	/* New operations are refused at once. */
	rms_op *late = NULL;
	assert_int_equal(rms_multi_start(&late, m, s, req), RMS_E_STATE);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "closing"));
	assert_null(late);
	if (!ssh) {
		/* The first step sends the Delete and waits on its socket. */
		size_t running, n;
		int t;
		assert_int_equal(rms_multi_perform(m, &running), 0);
		assert_int_equal(rms_multi_info_read(m, &msg), RMS_ITEROVER);
		assert_int_equal(running, 1);
		assert_int_equal(rms_multi_waitset(m, NULL, 0, &n, &t), 0);
		assert_true(n >= 1);
	}
	done = 1;
	assert_int_equal(until_closed(m, s, NULL, &done), 0);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_CLOSED);
	rms_stats st = { .version = RMS_STATS_VERSION };
	assert_int_equal(rms_session_stats(s, &st), 0);
	assert_int_equal(st.connections_open, 0);
	if (!ssh) {
		assert_int_equal(st.shells_open, 0);
		assert_int_equal(rms_endpoint_stat(f->ep, "shells_open"), shells - 1);
	}
	rms_op_free(op);
	rms_session_free(s);

	/* Freed while its close is in flight: the close is abandoned. */
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_PSSESSION, &o), 0);
	assert_int_equal(rms_multi_close(m, s), 0);
	size_t running;
	assert_int_equal(rms_multi_perform(m, &running), 0);
	rms_session_free(s);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(rms_multi_perform(m, &running), 0);
		assert_int_equal(running, 0);
		assert_int_equal(rms_multi_info_read(m, &msg), RMS_ITEROVER);
	}
	rms_multi_free(m);
	rms_request_free(req);
}

static void test_winrs_session_closed_through_the_engine(void **state)
{
	close_through_engine(*state, false);
}

static void test_ssh_session_closed_through_the_engine(void **state)
{
	close_through_engine(*state, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fifty_operations_on_fifty_sessions_from_one_thread),
	    cmocka_unit_test(test_open_failure_is_a_message_and_opening_refuses_ops),
	    cmocka_unit_test(test_free_while_carried),
	    cmocka_unit_test(test_cancel_from_another_thread_wakes_the_poll),
	    cmocka_unit_test(test_cancel_unread_op_and_free_opening_session),
	    cmocka_unit_test(test_ssh_command_after_its_session_closed),
	    cmocka_unit_test(test_ssh_command_outlives_another_stopped_on_its_session),
	    cmocka_unit_test(test_winrs_command_finishes_after_another_cancelled),
	    cmocka_unit_test(test_winrs_session_closed_through_the_engine),
	    cmocka_unit_test(test_ssh_session_closed_through_the_engine),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
