/*
 * The PSSession's command machinery (psremote/ps_backend.c) over a fake
 * transport that plays a script of step results, no network: output
 * batches queued and handed out piece by piece, output callback delivery,
 * the received-data caps failing the op with RMS_E_LIMIT naming the cap,
 * a failure that loses the session turning it Broken so that later ops
 * fail with RMS_E_STATE, cancel and the time limit stopping the command.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend.h"
#include "psremote/ps_transport.h"
#include "remsess/remsess.h"

/* One scripted step result. */
struct event {
	const char *pieces[3]; /* "o:text" stdout, "e:text" stderr */
	bool exited, ended;
	int exit_code;
	int fail;  /* a failure code to raise */
	bool lost; /* with fail: the session is lost */
	bool again; /* RMS_EAGAIN, no progress */
};

/* What the fake saw; one command at a time. */
static struct fake {
	const struct event *script;
	size_t nevents, at;
	int steps, stops, releases, opens, closes, destroys;
	bool stop_interrupt;
	rms_chunk chunks[3];
} fk;

static bool fake_supports(const rms_session_options *o, rms_op_kind kind)
{
	(void)o;
	return kind == RMS_OP_RUN;
}

static int fake_open(rms_session *s)
{
	fk.opens++;
	rms__ps_set_conn(s, &fk);
	return 0;
}

static int fake_open_step(rms_session *s, rms_wait *w)
{
	(void)s;
	(void)w;
	return 0;
}

static int fake_close(rms_session *s)
{
	(void)s;
	fk.closes++;
	return 0;
}

static void fake_destroy(rms_session *s)
{
	(void)s;
	fk.destroys++;
}

static int fake_begin(rms_ps_cmd *c)
{
	c->t = &fk;
	c->started = true;
	return 0;
}

static int fake_step(rms_ps_cmd *c, rms_wait *w, rms_ps_output *out)
{
	(void)c;
	(void)w;
	fk.steps++;
	assert_true(fk.at < fk.nevents);
	const struct event *e = &fk.script[fk.at++];
	if (e->again)
		return RMS_EAGAIN;
	if (e->fail) {
		out->lost = e->lost;
		return rms__error_set(e->fail, RMS_PHASE_RECEIVE, "scripted failure");
	}
	size_t n = 0;
	for (; n < 3 && e->pieces[n]; n++) {
		fk.chunks[n].stream = e->pieces[n][0] == 'o' ? RMS_STREAM_STDOUT : RMS_STREAM_STDERR;
		fk.chunks[n].data = e->pieces[n] + 2;
		fk.chunks[n].len = strlen(e->pieces[n] + 2);
	}
	out->pieces = fk.chunks;
	out->npieces = n;
	out->exited = e->exited;
	out->exit_code = e->exit_code;
	out->ended = e->ended;
	return 0;
}

static void fake_stop(rms_ps_cmd *c, bool interrupt)
{
	(void)c;
	if (!fk.stops)
		fk.stop_interrupt = interrupt;
	fk.stops++;
}

static void fake_release(rms_ps_cmd *c)
{
	c->t = NULL;
	fk.releases++;
}

static const struct rms_ps_transport fake = {
	.name = "fake",
	.default_object_cap = 1000,
	.stop_how = "fake stop",
	.supports = fake_supports,
	.open = fake_open,
	.open_step = fake_open_step,
	.close = fake_close,
	.destroy = fake_destroy,
	.begin = fake_begin,
	.step = fake_step,
	.stop = fake_stop,
	.release = fake_release,
};

#define SCRIPT(...)                                                                  \
	do {                                                                         \
		static const struct event ev_[] = { __VA_ARGS__ };                   \
		memset(&fk, 0, sizeof fk);                                           \
		fk.script = ev_;                                                     \
		fk.nevents = sizeof ev_ / sizeof ev_[0];                             \
	} while (0)

static rms_session *fake_session(uint64_t per_command, uint64_t per_object)
{
	rms_session_options o = RMS_SESSION_OPTIONS_INIT;
	o.host = "fake.example";
	o.pssession.max_received_per_command = per_command;
	o.pssession.max_received_object_size = per_object;
	rms_session *s = calloc(1, sizeof *s);
	assert_non_null(s);
	s->ops = &rms__pssession_backend;
	assert_int_equal(rms__options_copy(&s->opts, &o), 0);
	s->name = strdup("FakeSession");
	s->state = RMS_STATE_OPENED;
	assert_int_equal(rms__ps_open_with(s, &fake), 0);
	assert_int_equal(fk.opens, 1);
	return s;
}

static void fake_session_free(rms_session *s)
{
	s->ops->close(s);
	s->ops->destroy(s);
	assert_null(s->priv);
	rms__options_free(&s->opts);
	rms_error_free(s->broken_reason);
	free(s->name);
	free(s);
}

static rms_op *start(rms_session *s, rms_output_fn fn, void *ud, uint32_t timeout_ms)
{
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_RUN), 0);
	assert_int_equal(rms_request_set_command(req, "anything", 0, NULL), 0);
	if (fn)
		assert_int_equal(rms_request_set_output_fn(req, fn, ud), 0);
	if (timeout_ms)
		assert_int_equal(rms_request_set_timeout(req, timeout_ms), 0);
	rms_op *op = NULL;
	int rc = rms_op_start(&op, s, req);
	rms_request_free(req);
	assert_int_equal(rc, 0);
	return op;
}

static void expect_chunk(rms_op *op, rms_stream stream, const char *text)
{
	rms_chunk c;
	assert_int_equal(rms_op_next_chunk(op, &c), 0);
	assert_int_equal(c.stream, stream);
	assert_int_equal(c.len, strlen(text));
	assert_memory_equal(c.data, text, c.len);
}

static void test_pieces_are_queued_and_handed_out_in_order(void **state)
{
	(void)state;
	SCRIPT({ .pieces = { "o:a", "e:b" } }, { .again = true }, { .pieces = { "o:c" } },
	       { .exited = true, .exit_code = 3, .ended = true });
	rms_session *s = fake_session(RMS_LIMIT_DEFAULT, RMS_LIMIT_DEFAULT);
	rms_op *op = start(s, NULL, NULL, 0);
	expect_chunk(op, RMS_STREAM_STDOUT, "a");
	/* The batch is not used up: the transport is not stepped again. */
	assert_int_equal(fk.steps, 1);
	expect_chunk(op, RMS_STREAM_STDERR, "b");
	assert_int_equal(fk.steps, 1);
	expect_chunk(op, RMS_STREAM_STDOUT, "c");
	rms_chunk c;
	assert_int_equal(rms_op_next_chunk(op, &c), RMS_ITEROVER);
	int code = -1;
	assert_int_equal(rms_op_exit_code(op, &code), 0);
	assert_int_equal(code, 3);
	assert_int_equal(rms_op_delivered(op), 3);
	rms_op_free(op);
	/* It exited: nothing to stop; its state is released once. */
	assert_int_equal(fk.stops, 0);
	assert_int_equal(fk.releases, 1);
	fake_session_free(s);
	assert_int_equal(fk.destroys, 1);
}

struct seen {
	char text[64];
	int calls;
	int stop_after; /* nonzero: ask to stop at this call */
};

static int collect(rms_stream stream, const void *data, size_t len, void *ud)
{
	struct seen *sn = ud;
	size_t have = strlen(sn->text);
	sn->text[have] = stream == RMS_STREAM_STDOUT ? 'O' : 'E';
	memcpy(sn->text + have + 1, data, len);
	sn->text[have + 1 + len] = '\0';
	return ++sn->calls == sn->stop_after;
}

static void test_output_callback_gets_every_piece_from_step(void **state)
{
	(void)state;
	SCRIPT({ .pieces = { "o:a", "e:b" } }, { .pieces = { "o:c" } },
	       { .exited = true, .exit_code = 0, .ended = true });
	rms_session *s = fake_session(RMS_LIMIT_DEFAULT, RMS_LIMIT_DEFAULT);
	struct seen sn = { .stop_after = 0 };
	rms_op *op = start(s, collect, &sn, 0);
	assert_int_equal(rms_op_wait(op), 0);
	assert_string_equal(sn.text, "OaEbOc");
	int code = -1;
	assert_int_equal(rms_op_exit_code(op, &code), 0);
	assert_int_equal(code, 0);
	rms_op_free(op);
	fake_session_free(s);
}

static void test_output_callback_asking_to_stop_cancels_the_command(void **state)
{
	(void)state;
	SCRIPT({ .pieces = { "o:a", "e:b" } }, { .pieces = { "o:c" } });
	rms_session *s = fake_session(RMS_LIMIT_DEFAULT, RMS_LIMIT_DEFAULT);
	struct seen sn = { .stop_after = 1 };
	rms_op *op = start(s, collect, &sn, 0);
	assert_int_equal(rms_op_wait(op), RMS_E_CANCELLED);
	assert_string_equal(sn.text, "Oa");
	assert_true(fk.stops >= 1);
	assert_true(fk.stop_interrupt);
	rms_op_free(op);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_OPENED);
	fake_session_free(s);
}

static void test_per_command_cap_fails_with_limit_naming_it(void **state)
{
	(void)state;
	SCRIPT({ .pieces = { "o:ab" } }, { .pieces = { "o:cd" } });
	rms_session *s = fake_session(3, RMS_LIMIT_DEFAULT);
	rms_op *op = start(s, NULL, NULL, 0);
	expect_chunk(op, RMS_STREAM_STDOUT, "ab");
	rms_chunk c;
	/* Refused whole: nothing of the batch over the cap is handed out. */
	assert_int_equal(rms_op_next_chunk(op, &c), RMS_E_LIMIT);
	const rms_error *e = rms_op_error(op);
	assert_non_null(e);
	assert_string_equal(rms_error_limit_name(e), "MaximumReceivedDataSizePerCommand");
	assert_int_equal(rms_error_phase(e), RMS_PHASE_LIMIT);
	assert_int_equal(fk.stops, 1);
	assert_false(fk.stop_interrupt);
	/* Later calls give the same failure. */
	assert_int_equal(rms_op_next_chunk(op, &c), RMS_E_LIMIT);
	rms_op_free(op);
	fake_session_free(s);
}

static void test_object_cap_counts_one_batch(void **state)
{
	(void)state;
	SCRIPT({ .pieces = { "o:ab", "e:c" } });
	rms_session *s = fake_session(RMS_LIMIT_DEFAULT, 2);
	rms_op *op = start(s, NULL, NULL, 0);
	rms_chunk c;
	assert_int_equal(rms_op_next_chunk(op, &c), RMS_E_LIMIT);
	assert_string_equal(rms_error_limit_name(rms_op_error(op)), "MaximumReceivedObjectSize");
	rms_op_free(op);
	fake_session_free(s);
}

static void test_lost_session_turns_broken_and_refuses_later_ops(void **state)
{
	(void)state;
	SCRIPT({ .pieces = { "o:a" } }, { .fail = RMS_E_CONNECTION_LOST, .lost = true });
	rms_session *s = fake_session(RMS_LIMIT_DEFAULT, RMS_LIMIT_DEFAULT);
	rms_op *op = start(s, NULL, NULL, 0);
	expect_chunk(op, RMS_STREAM_STDOUT, "a");
	rms_chunk c;
	assert_int_equal(rms_op_next_chunk(op, &c), RMS_E_CONNECTION_LOST);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_BROKEN);
	assert_int_equal(rms_error_code(rms_session_broken_reason(s)), RMS_E_CONNECTION_LOST);
	rms_op_free(op);
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_RUN), 0);
	assert_int_equal(rms_request_set_command(req, "more", 0, NULL), 0);
	rms_op *again = NULL;
	assert_int_equal(rms_op_start(&again, s, req), RMS_E_STATE);
	assert_null(again);
	rms_request_free(req);
	fake_session_free(s);
}

static void test_failure_that_keeps_the_session_fails_the_op_only(void **state)
{
	(void)state;
	SCRIPT({ .fail = RMS_E_SSH });
	rms_session *s = fake_session(RMS_LIMIT_DEFAULT, RMS_LIMIT_DEFAULT);
	rms_op *op = start(s, NULL, NULL, 0);
	rms_chunk c;
	assert_int_equal(rms_op_next_chunk(op, &c), RMS_E_SSH);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_OPENED);
	rms_op_free(op);
	/* Not exited: stopped when freed. */
	assert_int_equal(fk.stops, 1);
	fake_session_free(s);
}

static void test_cancel_stops_the_command(void **state)
{
	(void)state;
	SCRIPT({ .pieces = { "o:a" } }, { .again = true });
	rms_session *s = fake_session(RMS_LIMIT_DEFAULT, RMS_LIMIT_DEFAULT);
	rms_op *op = start(s, NULL, NULL, 0);
	expect_chunk(op, RMS_STREAM_STDOUT, "a");
	rms_op_cancel(op);
	/* The step notices (as the engine steps it): the command is stopped
	 * there, not only when the op is freed. */
	rms_wait w;
	assert_int_equal(s->ops->step(op, &w), RMS_E_CANCELLED);
	assert_int_equal(fk.stops, 1);
	assert_true(fk.stop_interrupt);
	/* The transport was not stepped after the cancel. */
	assert_int_equal(fk.steps, 1);
	rms_chunk c;
	assert_int_equal(rms_op_next_chunk(op, &c), RMS_E_CANCELLED);
	rms_op_free(op);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_OPENED);
	fake_session_free(s);
}

static void test_time_limit_stops_the_command(void **state)
{
	(void)state;
	SCRIPT({ .again = true }, { .again = true }, { .again = true }, { .again = true },
	       { .again = true }, { .again = true }, { .again = true }, { .again = true });
	rms_session *s = fake_session(RMS_LIMIT_DEFAULT, RMS_LIMIT_DEFAULT);
	rms_op *op = start(s, NULL, NULL, 20);
	rms_chunk c;
	/* The scripted steps wait on nothing; the limit is the deadline the
	 * machinery adds, so the blocking loop sleeps until it. */
	assert_int_equal(rms_op_next_chunk(op, &c), RMS_E_TIMEOUT);
	assert_int_equal(rms_error_phase(rms_op_error(op)), RMS_PHASE_LIMIT);
	assert_true(fk.stop_interrupt);
	assert_true(fk.steps <= 2);
	rms_op_free(op);
	fake_session_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pieces_are_queued_and_handed_out_in_order),
		cmocka_unit_test(test_output_callback_gets_every_piece_from_step),
		cmocka_unit_test(test_output_callback_asking_to_stop_cancels_the_command),
		cmocka_unit_test(test_per_command_cap_fails_with_limit_naming_it),
		cmocka_unit_test(test_object_cap_counts_one_batch),
		cmocka_unit_test(test_lost_session_turns_broken_and_refuses_later_ops),
		cmocka_unit_test(test_failure_that_keeps_the_session_fails_the_op_only),
		cmocka_unit_test(test_cancel_stops_the_command),
		cmocka_unit_test(test_time_limit_stops_the_command),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
