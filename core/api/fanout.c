/*
 * Fan-out (remsess/fanout.h): one request over many targets, on the public
 * engine.
 *
 * Invariants:
 * - A target is queued, live (its session opening or its op running) or
 *   finished; only live ones count against the throttle, and `live` lists
 *   them, so a message from the engine is matched against at most
 *   `throttle` targets, not all of them.
 * - Nothing here waits on the network while targets are in flight. A
 *   finished op is freed at once (it holds nothing on the server); a
 *   session still opening is abandoned at once (nothing to close); an open
 *   PSSession is closed through the engine (rms_multi_close) as soon as its
 *   target's result is complete, since a host allows a user few shells (30
 *   by default on Windows), and freed on its CLOSED; an op cut off at its
 *   deadline, which might need a blocking cleanup, is kept until
 *   rms_fanout_free (and so is its session, closed or not, since the op
 *   must not outlive it). rms_fanout_free finishes closes still in flight,
 *   blocking for a bounded time, as closing them all there did.
 * - Every target gets exactly one result per request, and failures of a
 *   target are recorded on its results, never raised by the fan-out's own
 *   calls. A target runs the requests in order on its one session; its
 *   results are allocated when it starts (rs), closed in order (ri: the
 *   first not closed), so recording an end cannot fail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "remsess/fanout.h"

struct rms_fanout_result {
	size_t index;
	size_t request; /* which of the fan-out's requests */
	rms_target *target;
	rms_backend backend;
	const char *reason;
	int status;
	rms_error *error;
	rms_instance **items;
	size_t nitems, cap_items;
	struct {
		char *data;
		size_t len, cap;
	} out[2]; /* stdout, stderr */
	bool has_exit_code;
	int exit_code;
	/* powershell: every object, with its stream, and the ErrorRecord a
	 * failed pipeline ended with. */
	struct fan_obj {
		rms_ps_stream stream;
		rms_value *v;
	} *objs;
	size_t nobjs, cap_objs;
	rms_value *error_record;
	uint64_t started, ended; /* ms from the run's start */
	rms_stats stats;
	bool opened; /* its session opened (a side that failed at creation did not) */
	rms_comparison *cmp; /* a comparison's result: the record */
};

enum tstate { T_QUEUED, T_OPENING, T_RUNNING, T_DONE };

struct tgt {
	rms_target *t;
	rms_backend backend;
	const char *reason;
	enum tstate state;
	rms_session *s;
	rms_op *op;
	uint64_t deadline; /* rms__now_ms() clock; 0: none */
	/* One result per request, from its start; rs[ri] is the running
	 * request's (ri == nreq: all closed). */
	rms_fanout_result **rs;
	size_t ri;
	bool closing; /* s is being closed by the engine (in `closing`) */
	bool graved;  /* its op is in `grave`: s is freed with the fan-out */
	bool opened;  /* its session opened */
	/* A comparison (rms_fanout_add_compare) is two targets, its CIM side
	 * (cmp 1) and its PSSession side (cmp 2), each the other's `other`;
	 * a side's result is held until both have one. */
	int cmp;
	size_t other;
	rms_fanout_result *held;
};

struct rms_fanout {
	rms_request *req;    /* reqs[0] */
	rms_request **reqs;  /* every request, run in order on each target */
	size_t nreq, cap_req;
	rms_fanout_options o;
	rms_multi *m;
	struct tgt *tg;
	size_t n, cap;
	size_t next_queued; /* targets start in the order they were added */
	size_t *live;
	size_t nlive;
	rms_fanout_result **ready; /* a queue: [head, nready) */
	size_t head, nready, cap_ready;
	size_t handed_out;
	size_t expected; /* results to hand out in all */
	uint64_t t0, run_deadline;
	/* Ops cut off at a deadline: freeing one may wait for a bounded
	 * cleanup on a server that stalls, so not while others are in flight. */
	rms_op **grave;
	size_t ngrave, cap_grave;
	/* Targets whose session the engine is closing: a CLOSED is matched
	 * against these only. */
	size_t *closing;
	size_t nclosing, cap_closing;
};

int rms_fanout_options_init(rms_fanout_options *opts, unsigned version)
{
	if (!opts)
		return rms__error_field(RMS_E_INVALID_ARG, "opts", "opts is NULL");
	if (version != RMS_FANOUT_OPTIONS_VERSION)
		return rms__error_field(RMS_E_INVALID_ARG, "version",
		                        "fan-out options version %u is not known to this build (%u)",
		                        version, RMS_FANOUT_OPTIONS_VERSION);
	*opts = (rms_fanout_options)RMS_FANOUT_OPTIONS_INIT;
	return 0;
}

int rms_fanout_new(rms_fanout **out, const rms_request *req, const rms_fanout_options *opts)
{
	if (!out || !req)
		return rms__error_field(RMS_E_INVALID_ARG, out ? "request" : "out", "NULL argument");
	*out = NULL;
	/* An incomplete request fails here once, not once per target. */
	int rc = rms__request_check(req);
	if (rc)
		return rc;
	rms_fanout_options o = RMS_FANOUT_OPTIONS_INIT;
	if (opts) {
		if (opts->version != RMS_FANOUT_OPTIONS_VERSION)
			return rms__error_field(RMS_E_INVALID_ARG, "version",
			                        "fan-out options version %u is not known to this "
			                        "build (%u)", opts->version,
			                        RMS_FANOUT_OPTIONS_VERSION);
		o = *opts;
	}
	if (!o.throttle)
		o.throttle = RMS_FANOUT_THROTTLE_DEFAULT;
	rms_fanout *f = calloc(1, sizeof *f);
	if (!f)
		return rms__error_nomem();
	f->o = o;
	rc = rms__request_dup(&f->req, req);
	if (!rc && !(rc = rms__array_grow((void **)&f->reqs, &f->cap_req, 1, sizeof *f->reqs)))
		f->reqs[f->nreq++] = f->req;
	if (!rc)
		rc = rms_multi_new(&f->m);
	if (!rc && !(f->live = calloc(o.throttle, sizeof *f->live)))
		rc = rms__error_nomem();
	if (rc) {
		rms_fanout_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

int rms_fanout_add_request(size_t *index, rms_fanout *f, const rms_request *req)
{
	if (!f || !req)
		return rms__error_field(RMS_E_INVALID_ARG, f ? "request" : "fanout", "NULL argument");
	if (f->n || f->t0)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE,
		                      "requests are added before the first target (the backend of "
		                      "each target is chosen for all of them)");
	int rc = rms__request_check(req);
	rms_request *copy = NULL;
	if (rc || (rc = rms__array_grow((void **)&f->reqs, &f->cap_req, f->nreq + 1,
	                                sizeof *f->reqs)) ||
	    (rc = rms__request_dup(&copy, req)))
		return rc;
	if (index)
		*index = f->nreq;
	f->reqs[f->nreq++] = copy;
	return 0;
}

int rms_fanout_add(size_t *index, rms_fanout *f, rms_target *t, rms_backend choice)
{
	if (!f || !t)
		return rms__error_field(RMS_E_INVALID_ARG, f ? "target" : "fanout", "NULL argument");
	rms_backend pick;
	const char *why;
	int rc = rms_target_choose(&pick, &why, t, choice, f->req->kind);
	/* Every request runs on the one session the target gets. */
	for (size_t j = 1; !rc && j < f->nreq; j++) {
		rms_backend other;
		if ((rc = rms_target_choose(&other, NULL, t, choice, f->reqs[j]->kind)))
			break;
		if (other != pick)
			rc = rms__error_field(RMS_E_INVALID_ARG, "choice",
			                      "request %zu (%s) would run on the %s backend and request "
			                      "0 (%s) on the %s backend: a fan-out runs all its requests "
			                      "on one session per target",
			                      j, rms_op_kind_name(f->reqs[j]->kind),
			                      rms_backend_name(other), rms_op_kind_name(f->req->kind),
			                      rms_backend_name(pick));
	}
	if (rc || (rc = rms__array_grow((void **)&f->tg, &f->cap, f->n + 1, sizeof *f->tg)))
		return rc;
	f->tg[f->n] = (struct tgt){.t = t, .backend = pick, .reason = why, .state = T_QUEUED};
	if (index)
		*index = f->n;
	f->n++;
	f->expected += f->nreq;
	return 0;
}

int rms_fanout_add_compare(size_t *index, rms_fanout *f, rms_target *t)
{
	if (!f || !t)
		return rms__error_field(RMS_E_INVALID_ARG, f ? "target" : "fanout", "NULL argument");
	if (f->nreq != 1)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE,
		                      "a fan-out of several requests runs no comparisons");
	if (f->req->stdin_fn)
		return rms__error_field(RMS_E_INVALID_ARG, "request",
		                        "a comparison runs the command twice, so its stdin must be "
		                        "a buffer (rms_request_set_stdin), not a callback");
	rms_backend cim, ps;
	const char *why_cim, *why_ps;
	int rc = rms_target_choose(&cim, &why_cim, t, RMS_BACKEND_CIM, f->req->kind);
	if (!rc)
		rc = rms_target_choose(&ps, &why_ps, t, RMS_BACKEND_PSSESSION, f->req->kind);
	if (rc || (rc = rms__array_grow((void **)&f->tg, &f->cap, f->n + 2, sizeof *f->tg)))
		return rc;
	f->tg[f->n] = (struct tgt){.t = t, .backend = cim, .reason = why_cim, .state = T_QUEUED,
	                           .cmp = 1, .other = f->n + 1};
	f->tg[f->n + 1] = (struct tgt){.t = t, .backend = ps, .reason = why_ps,
	                               .state = T_QUEUED, .cmp = 2, .other = f->n};
	if (index)
		*index = f->n;
	f->n += 2;
	f->expected++;
	return 0;
}

rms_multi *rms_fanout_multi(rms_fanout *f)
{
	return f ? f->m : NULL;
}

static uint64_t since_start(const rms_fanout *f, uint64_t now)
{
	return now >= f->t0 ? now - f->t0 : 0;
}

/* Target g's results, one per request. */
static int new_results(struct tgt *g, size_t index, size_t nreq)
{
	if (!(g->rs = calloc(nreq, sizeof *g->rs)))
		return rms__error_nomem();
	for (size_t j = 0; j < nreq; j++) {
		rms_fanout_result *r = calloc(1, sizeof *r);
		if (!r) {
			for (size_t k = 0; k < j; k++)
				free(g->rs[k]);
			free(g->rs);
			g->rs = NULL;
			return rms__error_nomem();
		}
		r->index = index;
		r->request = j;
		r->target = g->t;
		r->backend = g->backend;
		r->reason = g->reason;
		g->rs[j] = r;
	}
	g->ri = 0;
	return 0;
}

/* Collect what the op has ready, without waiting. Returns the iterator's
 * code: RMS_EAGAIN, RMS_ITEROVER, or the op's failure. */
static int collect(rms_fanout_result *r, rms_op *op, rms_op_kind kind)
{
	int rc;
	if (kind != RMS_OP_RUN && kind != RMS_OP_ENUMERATE && kind != RMS_OP_QUERY &&
	    kind != RMS_OP_ASSOCIATORS && kind != RMS_OP_REFERENCES && kind != RMS_OP_POWERSHELL)
		return RMS_ITEROVER; /* a single result, read from the op when it is done */
	if (kind == RMS_OP_POWERSHELL) {
		rms_ps_stream st;
		rms_value *v;
		while ((rc = rms_op_next_object(op, &st, &v)) == 0) {
			if (rms__array_grow((void **)&r->objs, &r->cap_objs, r->nobjs + 1,
			                    sizeof *r->objs)) {
				rms_value_free(v);
				return RMS_E_NOMEM;
			}
			r->objs[r->nobjs].stream = st;
			r->objs[r->nobjs].v = v;
			r->nobjs++;
		}
		const rms_value *rec = rms_op_error_record(op);
		if (rc != RMS_EAGAIN && rec && !r->error_record &&
		    rms_value_dup(&r->error_record, rec))
			return RMS_E_NOMEM;
		return rc;
	}
	if (kind == RMS_OP_RUN) {
		rms_chunk c;
		while ((rc = rms_op_next_chunk(op, &c)) == 0) {
			int k = c.stream == RMS_STREAM_STDERR;
			if (rms__array_grow((void **)&r->out[k].data, &r->out[k].cap, r->out[k].len + c.len + 1, 1))
				return RMS_E_NOMEM;
			memcpy(r->out[k].data + r->out[k].len, c.data, c.len);
			r->out[k].len += c.len;
		}
		if (rc == RMS_ITEROVER && rms_op_exit_code(op, &r->exit_code) == 0)
			r->has_exit_code = true;
		return rc;
	}
	rms_instance *inst;
	while ((rc = rms_op_next(op, &inst)) == 0 || rc == RMS_E_SKIPPED) {
		if (rc == RMS_E_SKIPPED)
			continue; /* that instance only; rms_op_skipped counts it */
		if (rms__array_grow((void **)&r->items, &r->cap_items, r->nitems + 1, sizeof *r->items)) {
			rms_instance_free(inst);
			return RMS_E_NOMEM;
		}
		r->items[r->nitems++] = inst;
	}
	return rc;
}

static void drop_live(rms_fanout *f, size_t i)
{
	for (size_t k = 0; k < f->nlive; k++)
		if (f->live[k] == i) {
			f->live[k] = f->live[--f->nlive];
			return;
		}
}

static struct rms_compare_side side_of(const rms_fanout_result *r, rms_backend b)
{
	struct rms_compare_side s = {
		.backend = b,
		.status = r->status,
		.error = r->error,
		.duration_us = (r->ended >= r->started ? r->ended - r->started : 0) * 1000u,
		.traffic = r->stats,
		.session_created = true, /* the fan-out makes its own sessions */
		.failed_at_creation = r->status && !r->opened,
		.items = (const rms_instance *const *)r->items,
		.nitems = r->nitems,
		.out = r->out[0].data,
		.out_len = r->out[0].len,
		.err = r->out[1].data,
		.err_len = r->out[1].len,
		.have_exit_code = r->has_exit_code,
		.exit_code = r->exit_code,
	};
	s.traffic.version = RMS_STATS_VERSION;
	return s;
}

/* A comparison's side has its result: held until the other side has one,
 * then both become one result carrying the record (the CIM side's, its
 * index the comparison's). */
static void hold_side(rms_fanout *f, size_t i, rms_fanout_result *r)
{
	struct tgt *g = &f->tg[i], *o = &f->tg[g->other];
	g->held = r;
	if (!o->held)
		return;
	rms_fanout_result *cim = g->cmp == 1 ? g->held : o->held;
	rms_fanout_result *ps = g->cmp == 1 ? o->held : g->held;
	struct rms_compare_side sides[2] = {side_of(cim, RMS_BACKEND_CIM),
	                                    side_of(ps, RMS_BACKEND_PSSESSION)};
	rms_fanout_result *c = calloc(1, sizeof *c);
	struct rms_error *keep = rms__error_park();
	int rc = c ? rms__comparison_from(&c->cmp, f->req->kind, sides) : RMS_E_NOMEM;
	if (c) {
		c->index = cim->index;
		c->target = cim->target;
		c->backend = RMS_BACKEND_NONE;
		c->reason = "compare: both backends";
		c->started = cim->started < ps->started ? cim->started : ps->started;
		c->ended = cim->ended > ps->ended ? cim->ended : ps->ended;
		if (rc) {
			c->status = rc;
			c->error = rms_error_dup(rms_error_last());
		}
		rms_fanout_result_free(cim);
		rms_fanout_result_free(ps);
	} else {
		/* No memory for the carrier: the CIM side's result stands for
		 * the comparison, failed. */
		c = cim;
		c->status = RMS_E_NOMEM;
		rms_fanout_result_free(ps);
	}
	rms__error_unpark(keep);
	g->held = o->held = NULL;
	f->ready[f->nready++] = c;
}

/*
 * Record the end of target i's running request: status and error (err, or
 * the last error when rc fails), traffic, and queue the result. Room in
 * `ready` was made when the target started, so this cannot fail.
 */
static void close_result(rms_fanout *f, size_t i, int rc, const rms_error *err)
{
	struct tgt *g = &f->tg[i];
	rms_fanout_result *r = g->rs[g->ri];
	uint64_t now = since_start(f, rms__now_ms());
	if (!r->started && g->state != T_QUEUED && g->ri)
		r->started = now; /* a request never begun: it starts and ends here */
	r->status = rc;
	if (rc)
		r->error = rms_error_dup(err ? err : rms_error_last());
	r->ended = now;
	if (g->s) {
		r->stats.version = RMS_STATS_VERSION;
		rms_session_stats(g->s, &r->stats);
	}
	r->opened = g->opened;
	g->rs[g->ri++] = NULL;
	if (g->cmp)
		hold_side(f, i, r);
	else
		f->ready[f->nready++] = r;
}

/* Target i ends: its running request and every one not run yet end with
 * rc and err (the last error when err is NULL and rc fails). */
static void finish(rms_fanout *f, size_t i, int rc, const rms_error *err)
{
	struct tgt *g = &f->tg[i];
	if (g->state == T_DONE)
		return;
	/* The same record for each: held apart from the last error, which
	 * the first dup would otherwise be the only one to see. */
	rms_error *e = rc ? rms_error_dup(err ? err : rms_error_last()) : NULL;
	while (g->ri < f->nreq)
		close_result(f, i, rc, e);
	rms_error_free(e);
	free(g->rs);
	g->rs = NULL;
	if (g->state != T_QUEUED)
		drop_live(f, i);
	g->state = T_DONE;
}

/* After its op is freed or cut off (or none was started): a CIM session
 * holds nothing between operations and a session that never opened has
 * nothing to close, so they go now; an open PSSession is closed through the
 * engine now, and freed on its CLOSED (on_closed). */
static void release_session(rms_fanout *f, size_t i)
{
	struct tgt *g = &f->tg[i];
	if (!g->s || g->op || g->closing)
		return;
	if (g->backend == RMS_BACKEND_CIM || rms_session_state_get(g->s) != RMS_STATE_OPENED) {
		if (!g->graved) {
			rms_session_free(g->s);
			g->s = NULL;
		}
		return;
	}
	/* If this fails (no memory) the session is closed with the fan-out. */
	struct rms_error *keep = rms__error_park();
	if (!rms__array_grow((void **)&f->closing, &f->cap_closing, f->nclosing + 1, sizeof *f->closing) &&
	    !rms_multi_close(f->m, g->s)) {
		g->closing = true;
		f->closing[f->nclosing++] = i;
	}
	rms__error_unpark(keep);
}

/* The engine has closed a session: free it (unless an op cut off at its
 * deadline still needs it). Whether the close succeeded changes nothing:
 * the target's result is complete. */
static void on_closed(rms_fanout *f, const rms_session *s)
{
	for (size_t k = 0; k < f->nclosing; k++) {
		struct tgt *g = &f->tg[f->closing[k]];
		if (g->s != s)
			continue;
		f->closing[k] = f->closing[--f->nclosing];
		g->closing = false;
		if (!g->graved) {
			rms_session_free(g->s);
			g->s = NULL;
		}
		return;
	}
}

/* Failures of targets are raised only to be recorded on their result; the
 * caller's last error must not change under a call that succeeds. */
static void fail_target(rms_fanout *f, size_t i, int code, const char *why)
{
	struct rms_error *keep = rms__error_park();
	rms__error_set(code, RMS_PHASE_LIMIT, "%s", why);
	rms__error_set_backend(f->tg[i].backend);
	finish(f, i, code, NULL);
	rms__error_unpark(keep);
}

/* A failure returned by a call made for target i (not by the run). */
static void target_failed(rms_fanout *f, size_t i, int rc)
{
	struct rms_error *e = rms__error_last_mut();
	if (e && e->backend == RMS_BACKEND_NONE)
		e->backend = f->tg[i].backend;
	finish(f, i, rc, NULL);
	release_session(f, i);
}

static void start_target(rms_fanout *f, size_t i, uint64_t now)
{
	struct tgt *g = &f->tg[i];
	g->rs[0]->started = since_start(f, now);
	g->state = T_OPENING;
	f->live[f->nlive++] = i;
	if (f->o.target_timeout_ms)
		g->deadline = now + f->o.target_timeout_ms;
	struct rms_error *keep = rms__error_park();
	int rc = rms_multi_open(&g->s, f->m, g->backend, rms__target_options(g->t, g->backend));
	if (rc)
		target_failed(f, i, rc);
	rms__error_unpark(keep);
}

/* Start queued targets while the throttle allows (and the run's deadline
 * has not passed: then they end unstarted). */
static int start_more(rms_fanout *f, uint64_t now)
{
	bool late = f->run_deadline && now >= f->run_deadline;
	while (f->next_queued < f->n && (late || f->nlive < f->o.throttle)) {
		size_t i = f->next_queued;
		/* Every live target and this one will queue a result: room for
		 * all of them now, so that finish cannot fail. */
		if (f->head) {
			memmove(f->ready, f->ready + f->head, (f->nready - f->head) * sizeof *f->ready);
			f->nready -= f->head;
			f->head = 0;
		}
		int rc = rms__array_grow((void **)&f->ready, &f->cap_ready,
		                         f->nready + (f->nlive + 1) * f->nreq, sizeof *f->ready);
		if (rc || (rc = new_results(&f->tg[i], i, f->nreq)))
			return rc;
		f->next_queued++;
		if (late)
			fail_target(f, i, RMS_E_TIMEOUT,
			            "the fan-out's deadline passed before this target started");
		else
			start_target(f, i, now);
	}
	return 0;
}

static size_t find_live(const rms_fanout *f, const rms_session *s)
{
	for (size_t k = 0; k < f->nlive; k++)
		if (f->tg[f->live[k]].s == s)
			return f->live[k];
	return SIZE_MAX;
}

/* The target's next request, on its session if that is still usable; a
 * session lost on the last one ends the rest with its reason. */
static void next_request(rms_fanout *f, size_t i)
{
	struct tgt *g = &f->tg[i];
	if (rms_session_state_get(g->s) != RMS_STATE_OPENED) {
		const rms_error *why = rms_session_broken_reason(g->s);
		finish(f, i, why ? rms_error_code(why) : RMS_E_STATE, why);
		return;
	}
	g->rs[g->ri]->started = since_start(f, rms__now_ms());
	int rc = rms_multi_start(&g->op, f->m, g->s, f->reqs[g->ri]);
	if (rc)
		finish(f, i, rc, NULL);
}

static void op_done(rms_fanout *f, size_t i)
{
	struct tgt *g = &f->tg[i];
	rms_fanout_result *r = g->rs[g->ri];
	int rc = collect(r, g->op, f->reqs[g->ri]->kind);
	const rms_instance *one = rms_op_result(g->op);
	if (one && r->nitems == 0 &&
	    !rms__array_grow((void **)&r->items, &r->cap_items, 1, sizeof *r->items) &&
	    rms_instance_dup(&r->items[0], one) == 0)
		r->nitems = 1;
	if (rc == RMS_ITEROVER || rc == RMS_EAGAIN)
		rc = 0;
	const rms_error *err = rms_op_error(g->op);
	if (!rc && err)
		rc = rms_error_code(err);
	if (g->ri + 1 == f->nreq) {
		finish(f, i, rc, err);
	} else {
		close_result(f, i, rc, err);
	}
	/* It has ended: freeing it sends nothing. */
	rms_op_free(g->op);
	g->op = NULL;
	if (g->state != T_DONE)
		next_request(f, i);
	release_session(f, i);
}

static void on_msg(rms_fanout *f, const rms_msg *msg)
{
	if (msg->kind == RMS_MSG_CLOSED) {
		on_closed(f, msg->session);
		return;
	}
	size_t i = find_live(f, msg->session);
	if (i == SIZE_MAX)
		return;
	struct tgt *g = &f->tg[i];
	struct rms_error *keep = rms__error_park();
	if (msg->kind == RMS_MSG_OPENED) {
		int rc = msg->result;
		if (rc) {
			finish(f, i, rc, rms_session_broken_reason(g->s));
			release_session(f, i);
		} else if ((g->opened = true, rc = rms_multi_start(&g->op, f->m, g->s, f->reqs[0])))
			target_failed(f, i, rc);
		else
			g->state = T_RUNNING;
	} else if (msg->op == g->op) {
		if (msg->kind == RMS_MSG_DONE)
			op_done(f, i);
		else if (collect(g->rs[g->ri], g->op, f->reqs[g->ri]->kind) == RMS_E_NOMEM)
			finish(f, i, RMS_E_NOMEM, NULL);
	}
	rms__error_unpark(keep);
}

/* End live targets past their own deadline or the run's. */
static int expire(rms_fanout *f, uint64_t now)
{
	bool run_over = f->run_deadline && now >= f->run_deadline;
	for (size_t k = f->nlive; k-- > 0;) {
		size_t i = f->live[k];
		struct tgt *g = &f->tg[i];
		if (!run_over && !(g->deadline && now >= g->deadline))
			continue;
		if (g->op) {
			int rc = rms__array_grow((void **)&f->grave, &f->cap_grave, f->ngrave + 1,
			              sizeof *f->grave);
			if (rc)
				return rc;
			rms_op_cancel(g->op);
			rms_multi_remove(f->m, g->op);
			f->grave[f->ngrave++] = g->op;
			/* Its session outlives it: closed below, freed with the
			 * fan-out. */
			g->graved = true;
		} else if (g->s) {
			/* Still opening: abandoning it sends nothing. */
			rms_session_free(g->s);
			g->s = NULL;
		}
		char why[200];
		snprintf(why, sizeof why, "%s: the target did not finish within %s (%s)",
		         g->op ? "running" : "opening",
		         run_over ? "the fan-out's deadline" : "its deadline",
		         rms_backend_name(g->backend));
		g->op = NULL;
		fail_target(f, i, RMS_E_TIMEOUT, why);
		release_session(f, i);
	}
	return 0;
}

int rms_fanout_perform(rms_fanout *f, size_t *running)
{
	if (running)
		*running = 0;
	if (!f)
		return rms__error_field(RMS_E_INVALID_ARG, "fanout", "fanout is NULL");
	uint64_t now = rms__now_ms();
	if (!f->t0) {
		f->t0 = now;
		if (f->o.run_timeout_ms)
			f->run_deadline = now + f->o.run_timeout_ms;
	}
	if (f->head == f->nready)
		f->head = f->nready = 0;
	int rc = start_more(f, now);
	/* Twice round: targets started or slots freed by the first round's
	 * messages get their OPENED (queued at once for CIM) handled now. */
	for (int round = 0; !rc && round < 2; round++) {
		if ((rc = rms_multi_perform(f->m, NULL)))
			break;
		rms_msg msg;
		while (rms_multi_info_read(f->m, &msg) == 0)
			on_msg(f, &msg);
		now = rms__now_ms();
		if (!(rc = expire(f, now)))
			rc = start_more(f, now);
	}
	if (running)
		*running = f->nlive;
	return rc;
}

int rms_fanout_waitset(rms_fanout *f, rms_waitfd *fds, size_t cap, size_t *n, int *timeout_ms)
{
	if (!f)
		return rms__error_field(RMS_E_INVALID_ARG, "fanout", "fanout is NULL");
	int rc = rms_multi_waitset(f->m, fds, cap, n, timeout_ms);
	if (rc)
		return rc;
	if (f->head < f->nready || !f->t0 ||
	    (f->next_queued < f->n && f->nlive < f->o.throttle)) {
		*timeout_ms = 0;
		return 0;
	}
	rms_wait w;
	rms__wait_clear(&w);
	for (size_t k = 0; k < f->nlive; k++)
		rms__wait_until(&w, f->tg[f->live[k]].deadline);
	if (f->nlive || f->next_queued < f->n)
		rms__wait_until(&w, f->run_deadline);
	int t = rms__wait_timeout(&w);
	if (t >= 0 && (*timeout_ms < 0 || t < *timeout_ms))
		*timeout_ms = t;
	return 0;
}

int rms_fanout_poll(rms_fanout *f, int timeout_ms, size_t *running)
{
	size_t n;
	int t;
	int rc = rms_fanout_waitset(f, NULL, 0, &n, &t);
	if (rc)
		return rc;
	if (timeout_ms >= 0 && (t < 0 || timeout_ms < t))
		t = timeout_ms;
	/* rms_multi_poll waits on the engine's descriptors (and its wake-up)
	 * for at most t; with t < 0 and nothing to wait on it returns. */
	if (t != 0 && (rc = rms_multi_poll(f->m, t, NULL)))
		return rc;
	return rms_fanout_perform(f, running);
}

int rms_fanout_next(rms_fanout_result **out, rms_fanout *f)
{
	if (!out || !f)
		return rms__error_field(RMS_E_INVALID_ARG, out ? "fanout" : "out", "NULL argument");
	*out = NULL;
	if (f->head < f->nready) {
		*out = f->ready[f->head++];
		f->handed_out++;
		return 0;
	}
	return f->handed_out == f->expected ? RMS_ITEROVER : RMS_EAGAIN;
}

void rms_fanout_free(rms_fanout *f)
{
	if (!f)
		return;
	struct rms_error *keep = rms__error_park();
	/* Ops before the sessions they run on. */
	for (size_t i = 0; i < f->n; i++)
		rms_op_free(f->tg[i].op);
	for (size_t i = 0; i < f->ngrave; i++)
		rms_op_free(f->grave[i]);
	for (size_t i = 0; i < f->n; i++) {
		/* A close the engine began is finished here (bounded), not
		 * abandoned: a shell left behind counts against the host's
		 * quota until its idle timeout. */
		if (f->tg[i].closing)
			rms_session_close(f->tg[i].s);
		rms_session_free(f->tg[i].s);
		if (f->tg[i].rs)
			for (size_t j = f->tg[i].ri; j < f->nreq; j++)
				rms_fanout_result_free(f->tg[i].rs[j]);
		free(f->tg[i].rs);
		rms_fanout_result_free(f->tg[i].held);
	}
	for (size_t i = f->head; i < f->nready; i++)
		rms_fanout_result_free(f->ready[i]);
	rms_multi_free(f->m);
	for (size_t j = 0; j < f->nreq; j++)
		rms_request_free(f->reqs[j]);
	if (!f->nreq)
		rms_request_free(f->req);
	free(f->reqs);
	free(f->tg);
	free(f->live);
	free(f->ready);
	free(f->grave);
	free(f->closing);
	free(f);
	rms__error_unpark(keep);
}

/* ---- results ------------------------------------------------------------ */

void rms_fanout_result_free(rms_fanout_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nitems; i++)
		rms_instance_free(r->items[i]);
	free(r->items);
	for (size_t i = 0; i < r->nobjs; i++)
		rms_value_free(r->objs[i].v);
	free(r->objs);
	rms_value_free(r->error_record);
	rms_comparison_free(r->cmp);
	free(r->out[0].data);
	free(r->out[1].data);
	rms_error_free(r->error);
	free(r);
}

size_t rms_fanout_result_index(const rms_fanout_result *r) { return r ? r->index : 0; }
size_t rms_fanout_result_request(const rms_fanout_result *r) { return r ? r->request : 0; }
const rms_comparison *rms_fanout_result_comparison(const rms_fanout_result *r)
{
	return r ? r->cmp : NULL;
}
rms_target *rms_fanout_result_target(const rms_fanout_result *r) { return r ? r->target : NULL; }
rms_backend rms_fanout_result_backend(const rms_fanout_result *r)
{
	return r ? r->backend : RMS_BACKEND_NONE;
}
const char *rms_fanout_result_reason(const rms_fanout_result *r) { return r ? r->reason : NULL; }
int rms_fanout_result_status(const rms_fanout_result *r) { return r ? r->status : 0; }
const rms_error *rms_fanout_result_error(const rms_fanout_result *r)
{
	return r ? r->error : NULL;
}
size_t rms_fanout_result_instance_count(const rms_fanout_result *r)
{
	return r ? r->nitems : 0;
}
const rms_instance *rms_fanout_result_instance(const rms_fanout_result *r, size_t i)
{
	return r && i < r->nitems ? r->items[i] : NULL;
}

size_t rms_fanout_result_object_count(const rms_fanout_result *r)
{
	return r ? r->nobjs : 0;
}

const rms_value *rms_fanout_result_object(const rms_fanout_result *r, size_t i,
                                          rms_ps_stream *stream)
{
	if (!r || i >= r->nobjs)
		return NULL;
	if (stream)
		*stream = r->objs[i].stream;
	return r->objs[i].v;
}

const rms_value *rms_fanout_result_error_record(const rms_fanout_result *r)
{
	return r ? r->error_record : NULL;
}

const void *rms_fanout_result_output(const rms_fanout_result *r, rms_stream stream, size_t *len)
{
	if (len)
		*len = 0;
	if (!r || (stream != RMS_STREAM_STDOUT && stream != RMS_STREAM_STDERR))
		return NULL;
	int k = stream == RMS_STREAM_STDERR;
	if (len)
		*len = r->out[k].len;
	return r->out[k].data ? (const void *)r->out[k].data : (const void *)"";
}

int rms_fanout_result_exit_code(const rms_fanout_result *r, int *out)
{
	if (!r || !out)
		return rms__error_field(RMS_E_INVALID_ARG, r ? "out" : "result", "NULL argument");
	if (!r->has_exit_code)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE,
		                      "target %zu has no exit code: its command did not end",
		                      r->index);
	*out = r->exit_code;
	return 0;
}

uint64_t rms_fanout_result_started_ms(const rms_fanout_result *r) { return r ? r->started : 0; }
uint64_t rms_fanout_result_ended_ms(const rms_fanout_result *r) { return r ? r->ended : 0; }

int rms_fanout_result_stats(const rms_fanout_result *r, rms_stats *out)
{
	if (!r || !out)
		return rms__error_field(RMS_E_INVALID_ARG, r ? "out" : "result", "NULL argument");
	if (out->version != RMS_STATS_VERSION)
		return rms__error_field(RMS_E_INVALID_ARG, "version", "unknown rms_stats version %u",
		                        out->version);
	*out = r->stats;
	return 0;
}
