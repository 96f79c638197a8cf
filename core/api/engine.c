/*
 * The engine (remsess/engine.h): steps the operations and session openings
 * it carries when they can move, and tells the caller what to wait on.
 *
 * Invariants:
 * - An op is stepped only when it may progress: never stepped yet, a
 *   descriptor of its last wait is ready, its deadline has passed, or it was
 *   cancelled. Not while it is "ready" (the caller has items to read): a
 *   streaming op then holds one page at most, as in blocking use.
 * - One poll(2) with a zero timeout per perform finds the ready descriptors
 *   of every op, so a perform costs one system call plus the steps that can
 *   move, not a system call per op.
 * - A message names an op that is still alive: rms_op_free takes the op out
 *   of its multi and drops its queued messages; likewise a session, which
 *   rms_session_close and rms_session_free take out while it opens or
 *   closes.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "remsess/engine.h"

/* A session being opened, or closed (closing: its close is stepped, and
 * CLOSED, not OPENED, says when it is done). */
struct opening {
	rms_session *s;
	rms_wait wait;
	bool started;
	bool closing;
	size_t poll_at, poll_n; /* its slots in m->pfds at the last perform */
};

struct rms_multi {
	rms_op **ops;
	size_t nops, cap_ops;
	struct opening *open;
	size_t nopen, cap_open;
	rms_msg *msgs; /* a queue: [head, nmsgs) */
	size_t head, nmsgs, cap_msgs;
	struct pollfd *pfds; /* scratch for perform and poll */
	size_t cap_pfds;
	rms_waitfd *wfds; /* scratch for poll's waitset */
	size_t cap_wfds;
	/* rms_multi_wakeup's pipe (read end, write end); -1 until made. */
	int wake[2];
};

int rms_multi_new(rms_multi **out)
{
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "out is NULL");
	*out = calloc(1, sizeof **out);
	if (!*out)
		return rms__error_nomem();
	(*out)->wake[0] = (*out)->wake[1] = -1;
	if (pipe((*out)->wake) != 0) {
		int e = errno;
		free(*out);
		*out = NULL;
		rms__error_set(RMS_E_INTERNAL, RMS_PHASE_NONE, "no pipe for the engine's wake-up: %s",
		               strerror(e));
		rms__error_set_errno(e);
		return RMS_E_INTERNAL;
	}
	for (int i = 0; i < 2; i++) {
		fcntl((*out)->wake[i], F_SETFL, fcntl((*out)->wake[i], F_GETFL) | O_NONBLOCK);
		fcntl((*out)->wake[i], F_SETFD, FD_CLOEXEC);
	}
	return 0;
}

int rms_multi_wakeup(rms_multi *m)
{
	if (!m)
		return rms__error_field(RMS_E_INVALID_ARG, "multi", "multi is NULL");
	/* A full pipe already holds a wake-up: EAGAIN is success. */
	ssize_t n;
	while ((n = write(m->wake[1], "", 1)) < 0 && errno == EINTR)
		;
	return 0;
}

static int post(rms_multi *m, rms_msg_kind kind, rms_op *op, rms_session *s, int result)
{
	if (m->head == m->nmsgs)
		m->head = m->nmsgs = 0;
	int rc = rms__array_grow((void **)&m->msgs, &m->cap_msgs, m->nmsgs + 1, sizeof *m->msgs);
	if (rc)
		return rc;
	m->msgs[m->nmsgs++] = (rms_msg){.kind = kind, .op = op, .session = s, .result = result};
	return 0;
}

/* Take op out of m's table and drop its queued messages. */
static void forget(rms_multi *m, rms_op *op)
{
	size_t i = op->multi_index;
	m->ops[i] = m->ops[--m->nops];
	m->ops[i]->multi_index = i;
	size_t k = m->head;
	for (size_t j = m->head; j < m->nmsgs; j++)
		if (m->msgs[j].op != op)
			m->msgs[k++] = m->msgs[j];
	m->nmsgs = k;
	op->multi = NULL;
	op->nonblocking = false;
}

void rms__multi_forget_session(rms_session *s)
{
	rms_multi *m = s ? s->multi : NULL;
	if (!m)
		return;
	size_t kept = 0;
	for (size_t i = 0; i < m->nopen; i++)
		if (m->open[i].s != s)
			m->open[kept++] = m->open[i];
	m->nopen = kept;
	/* Its own OPENED or CLOSED; an op's messages go with the op. */
	size_t k = m->head;
	for (size_t j = m->head; j < m->nmsgs; j++)
		if (m->msgs[j].session != s || m->msgs[j].op)
			m->msgs[k++] = m->msgs[j];
	m->nmsgs = k;
	s->multi = NULL;
}

void rms__multi_forget_op(rms_op *op)
{
	if (op && op->multi)
		forget(op->multi, op);
}

int rms_multi_remove(rms_multi *m, rms_op *op)
{
	if (!m || !op || op->multi != m)
		return rms__error_field(RMS_E_INVALID_ARG, "op", "the op is not carried by this multi");
	forget(m, op);
	return 0;
}

void rms_multi_free(rms_multi *m)
{
	if (!m)
		return;
	/* The ops stay the caller's, as ordinary blocking ops from now on. */
	while (m->nops)
		forget(m, m->ops[m->nops - 1]);
	/* Sessions with a message unread point here no more. */
	for (size_t j = m->head; j < m->nmsgs; j++)
		if (m->msgs[j].session && m->msgs[j].session->multi == m)
			m->msgs[j].session->multi = NULL;
	/* The reasons below are raised as errors; the caller's last error
	 * must survive a free. */
	rms_error *keep = m->nopen ? rms_error_dup(rms_error_last()) : NULL;
	bool raised = false;
	for (size_t i = 0; i < m->nopen; i++) {
		rms_session *s = m->open[i].s;
		s->multi = NULL;
		/* A half-closed one stays closing: rms_session_close finishes the
		 * close blocking, rms_session_free abandons it. */
		if (m->open[i].closing)
			continue;
		/* A half-open session: the backend's destroy frees what it began,
		 * as after a failed open. */
		s->opening = false;
		s->open_failed = true;
		s->state = RMS_STATE_BROKEN;
		raised = true;
		rms__error_set(RMS_E_CANCELLED, RMS_PHASE_CONNECT,
		               "%s was still opening when its engine was freed", s->name);
		rms_error_free(s->broken_reason);
		s->broken_reason = rms_error_dup(rms_error_last());
	}
	if (keep) {
		rms__error_restore(keep);
		rms_error_free(keep);
	} else if (raised) {
		rms_error_clear();
	}
	close(m->wake[0]);
	close(m->wake[1]);
	free(m->ops);
	free(m->open);
	free(m->msgs);
	free(m->pfds);
	free(m->wfds);
	free(m);
}

int rms_multi_start(rms_op **out, rms_multi *m, rms_session *s, const rms_request *req)
{
	if (!out || !m)
		return rms__error_field(RMS_E_INVALID_ARG, out ? "multi" : "out",
		                                           "NULL argument");
	*out = NULL;
	int rc = rms__array_grow((void **)&m->ops, &m->cap_ops, m->nops + 1, sizeof *m->ops);
	if (!rc)
		rc = rms__op_start_nb(out, s, req, "the caller's session", true);
	if (rc)
		return rc;
	rms_op *op = *out;
	op->multi = m;
	op->multi_index = m->nops;
	m->ops[m->nops++] = op;
	rms__wait_clear(&op->wait); /* empty: step it at the next perform */
	return 0;
}

static int open_once(rms_multi *m, struct opening *o)
{
	int rc = o->closing ? rms__session_close_step(o->s, &o->wait)
	                    : rms__session_open_step(o->s, &o->wait);
	o->started = true;
	if (rc == RMS_EAGAIN)
		return rc;
	return post(m, o->closing ? RMS_MSG_CLOSED : RMS_MSG_OPENED, NULL, o->s, rc) ? RMS_E_NOMEM
	                                                                              : 0;
}

int rms_multi_open(rms_session **out, rms_multi *m, rms_backend backend,
                   const rms_session_options *opts)
{
	if (!out || !m)
		return rms__error_field(RMS_E_INVALID_ARG, out ? "multi" : "out",
		                                           "NULL argument");
	*out = NULL;
	int rc = rms__array_grow((void **)&m->open, &m->cap_open, m->nopen + 1, sizeof *m->open);
	if (!rc)
		rc = rms__array_grow((void **)&m->msgs, &m->cap_msgs, m->nmsgs + 1, sizeof *m->msgs);
	if (!rc)
		rc = rms__session_prepare(out, backend, opts);
	if (rc)
		return rc;
	struct opening *o = &m->open[m->nopen];
	memset(o, 0, sizeof *o);
	o->s = *out;
	/* The first step begins connecting (it does not wait); a backend
	 * that opens nothing is done here and OPENED is already queued. */
	if (open_once(m, o) == RMS_EAGAIN)
		m->nopen++;
	/* Until its OPENED is read, so that a free drops the message. */
	o->s->multi = m;
	return 0;
}

int rms_multi_close(rms_multi *m, rms_session *s)
{
	if (!m || !s)
		return rms__error_field(RMS_E_INVALID_ARG, m ? "session" : "multi",
		                        "NULL argument");
	if (s->opening || s->closing)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE,
		                      "%s is still %s: close it with rms_session_close, or after "
		                      "its message", s->name, s->opening ? "opening" : "closing");
	size_t nfail = 0;
	for (size_t i = 0; i < m->nops; i++)
		nfail += m->ops[i]->session == s && !m->ops[i]->done_posted;
	if (m->head == m->nmsgs)
		m->head = m->nmsgs = 0;
	int rc = rms__array_grow((void **)&m->open, &m->cap_open, m->nopen + 1, sizeof *m->open);
	if (!rc)
		rc = rms__array_grow((void **)&m->msgs, &m->cap_msgs, m->nmsgs + nfail + 1, sizeof *m->msgs);
	if (rc)
		return rc;
	struct opening *o = &m->open[m->nopen];
	memset(o, 0, sizeof *o);
	o->s = s;
	o->closing = true;
	if (s->state == RMS_STATE_CLOSED) {
		post(m, RMS_MSG_CLOSED, NULL, s, 0);
		s->multi = m;
		return 0;
	}
	/* Its ops this engine carries end now, with their DONE before the
	 * CLOSED, as a blocking close leaves them (failing with RMS_E_STATE
	 * at their next step). The caller's last error is kept: this call
	 * succeeds. */
	struct rms_error *keep = rms__error_park();
	for (size_t i = 0; i < m->nops; i++) {
		rms_op *op = m->ops[i];
		if (op->session != s || op->done_posted)
			continue;
		if (!op->ended && !op->error) {
			rms__error_set(RMS_E_STATE, RMS_PHASE_NONE,
			               "%s was closed before the %s operation ended", s->name,
			               rms_op_kind_name(op->req->kind));
			rms__op_fail(op, RMS_E_STATE);
			op->ended = true;
		}
		op->done_posted = true;
		post(m, RMS_MSG_DONE, op, s, op->error ? rms_error_code(op->error) : 0);
	}
	/* The first step begins (the backend's close does not wait); one that
	 * holds nothing remote (CIM) is done here and CLOSED is queued. */
	if (open_once(m, o) == RMS_EAGAIN)
		m->nopen++;
	/* Until its CLOSED is read, so that a free drops the message. */
	s->multi = m;
	rms__error_unpark(keep);
	return 0;
}

static bool waiting(const rms_op *op)
{
	return !op->ended && !op->error && !op->ready;
}

static bool cancelled(const rms_op *op)
{
	return atomic_load(&op->cancelled) && !op->ended && !op->error;
}

/* Whether a wait is over: no descriptor nor deadline (never stepped), a
 * deadline passed, or one of its slots in pfds ready. */
static bool wait_over(const rms_wait *w, const struct pollfd *pfd, size_t n, uint64_t now)
{
	if (!w->nfds && !w->deadline_ms)
		return true;
	if (w->deadline_ms && w->deadline_ms <= now)
		return true;
	for (size_t i = 0; i < n; i++)
		if (pfd[i].revents)
			return true;
	return false;
}

static void lay_out(rms_multi *m, const rms_wait *w, size_t *at, size_t *n, size_t *k)
{
	*at = *k;
	*n = w->nfds;
	for (size_t j = 0; j < w->nfds; j++, (*k)++) {
		m->pfds[*k].fd = w->fds[j].fd;
		m->pfds[*k].events = (short)((w->fds[j].events & RMS_WAIT_IN ? POLLIN : 0) |
		                             (w->fds[j].events & RMS_WAIT_OUT ? POLLOUT : 0));
		m->pfds[*k].revents = 0;
	}
}

/* One zero-timeout poll over every waiting op's and opening's descriptors.
 * Each records where its slots are, so what a step does to other ops (end
 * them, say) cannot shift anyone's results. */
static int poll_ready(rms_multi *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->nops; i++)
		n += m->ops[i]->wait.nfds;
	for (size_t i = 0; i < m->nopen; i++)
		n += m->open[i].wait.nfds;
	int rc = rms__array_grow((void **)&m->pfds, &m->cap_pfds, n + 2, sizeof *m->pfds);
	if (rc)
		return rc;
	size_t k = 0;
	for (size_t i = 0; i < m->nops; i++) {
		rms_op *op = m->ops[i];
		if (waiting(op))
			lay_out(m, &op->wait, &op->poll_at, &op->poll_n, &k);
		else
			op->poll_at = op->poll_n = 0;
	}
	for (size_t i = 0; i < m->nopen; i++)
		lay_out(m, &m->open[i].wait, &m->open[i].poll_at, &m->open[i].poll_n, &k);
	while (k && poll(m->pfds, (nfds_t)k, 0) < 0) {
		if (errno != EINTR) {
			int e = errno;
			rms__error_set(RMS_E_INTERNAL, RMS_PHASE_NONE, "poll failed: %s", strerror(e));
			rms__error_set_errno(e);
			return RMS_E_INTERNAL;
		}
	}
	return 0;
}

/* A waiting op's wait is over. One added during this perform (no slots
 * laid out for it) is due only if it has never been stepped. */
static bool due(const rms_multi *m, const rms_op *op, uint64_t now)
{
	if (op->poll_n != op->wait.nfds)
		return !op->wait.nfds && !op->wait.deadline_ms;
	return wait_over(&op->wait, &m->pfds[op->poll_at], op->poll_n, now);
}

/* Step one op and post what came of it (room for the message was made
 * before: posting cannot fail here). */
static void step_op(rms_multi *m, rms_op *op)
{
	int rc = op->session->ops->step(op, &op->wait);
	if (rc == RMS_EAGAIN)
		return;
	if (rc < 0) {
		rms__op_fail(op, rc);
		op->ended = true;
	} else if (!op->ended) {
		op->ready = true;
		post(m, RMS_MSG_READY, op, op->session, 0);
	}
}

/* A cancelled op whose items the caller is not reading: it will not be
 * stepped (it holds a page), so the engine ends it; its op_free releases
 * what the server holds. */
static void end_cancelled(rms_op *op)
{
	rms__error_set(RMS_E_CANCELLED, RMS_PHASE_NONE, "the %s operation was cancelled",
	               rms_op_kind_name(op->req->kind));
	rms__op_fail(op, RMS_E_CANCELLED);
	op->ended = true;
}

int rms_multi_perform(rms_multi *m, size_t *running)
{
	if (running)
		*running = 0;
	if (!m)
		return rms__error_field(RMS_E_INVALID_ARG, "multi", "multi is NULL");
	/* Room for every message this perform may post (each op READY or
	 * DONE, each opening OPENED), so none is lost to a failed allocation. */
	if (m->head == m->nmsgs)
		m->head = m->nmsgs = 0;
	int rc = rms__array_grow((void **)&m->msgs, &m->cap_msgs, m->nmsgs + m->nops + m->nopen + 1,
	              sizeof *m->msgs);
	if (rc || (rc = poll_ready(m)))
		return rc;
	uint64_t now = rms__now_ms();
	/* The table as it is now: callbacks run from steps may add ops (they
	 * wait for the next perform) but must not free or remove others. */
	size_t nops = m->nops;
	for (size_t i = 0; i < nops && i < m->nops; i++) {
		rms_op *op = m->ops[i];
		if (cancelled(op) && op->ready)
			end_cancelled(op);
		else if (waiting(op) && (cancelled(op) || due(m, op, now)))
			step_op(m, op);
		if ((op->ended || op->error) && !op->done_posted) {
			op->done_posted = true;
			post(m, RMS_MSG_DONE, op, op->session, op->error ? rms_error_code(op->error) : 0);
		}
	}
	size_t kept = 0;
	for (size_t i = 0; i < m->nopen; i++) {
		struct opening *o = &m->open[i];
		bool go = wait_over(&o->wait, &m->pfds[o->poll_at], o->poll_n, now);
		if (go && open_once(m, o) != RMS_EAGAIN)
			continue; /* done: OPENED or CLOSED posted, dropped from the table */
		m->open[kept++] = *o;
	}
	m->nopen = kept;
	if (running) {
		for (size_t i = 0; i < m->nops; i++)
			*running += !m->ops[i]->done_posted;
		*running += m->nopen;
	}
	return 0;
}

int rms_multi_waitset(rms_multi *m, rms_waitfd *fds, size_t cap, size_t *n, int *timeout_ms)
{
	if (!m || !n || !timeout_ms || (cap && !fds))
		return rms__error_field(RMS_E_INVALID_ARG, !m ? "multi" : "fds", "NULL argument");
	rms_wait all;
	rms__wait_clear(&all);
	size_t count = 0;
	bool now = false;
	for (size_t i = 0; i < m->nops + m->nopen; i++) {
		const rms_wait *w;
		if (i < m->nops) {
			rms_op *op = m->ops[i];
			if (((op->ended || op->error) && !op->done_posted) || cancelled(op))
				now = true;
			if (!waiting(op))
				continue;
			w = &op->wait;
		} else {
			w = &m->open[i - m->nops].wait;
		}
		if (!w->nfds && !w->deadline_ms)
			now = true;
		rms__wait_until(&all, w->deadline_ms);
		for (size_t j = 0; j < w->nfds; j++, count++)
			if (count < cap) {
				fds[count].fd = w->fds[j].fd;
				fds[count].events = (short)((w->fds[j].events & RMS_WAIT_IN ? RMS_POLL_IN : 0) |
				                            (w->fds[j].events & RMS_WAIT_OUT ? RMS_POLL_OUT : 0));
			}
	}
	*n = count;
	*timeout_ms = now ? 0 : rms__wait_timeout(&all);
	return 0;
}

int rms_multi_poll(rms_multi *m, int timeout_ms, size_t *running)
{
	size_t n;
	int t;
	int rc = rms_multi_waitset(m, NULL, 0, &n, &t);
	if (rc)
		return rc;
	if ((rc = rms__array_grow((void **)&m->pfds, &m->cap_pfds, n + 2, sizeof *m->pfds)))
		return rc;
	/* Kept between calls: a poll loop allocates nothing once warm. */
	if ((rc = rms__array_grow((void **)&m->wfds, &m->cap_wfds, n + 1, sizeof *m->wfds)))
		return rc;
	rms_waitfd *fds = m->wfds;
	if (!(rc = rms_multi_waitset(m, fds, n, &n, &t))) {
		for (size_t i = 0; i < n; i++) {
			m->pfds[i].fd = fds[i].fd;
			m->pfds[i].events = (short)((fds[i].events & RMS_POLL_IN ? POLLIN : 0) |
			                            (fds[i].events & RMS_POLL_OUT ? POLLOUT : 0));
			m->pfds[i].revents = 0;
		}
		if (timeout_ms >= 0 && (t < 0 || timeout_ms < t))
			t = timeout_ms;
		/* Messages not read yet: the caller has work now. */
		if (m->head < m->nmsgs)
			t = 0;
		m->pfds[n].fd = m->wake[0];
		m->pfds[n].events = POLLIN;
		m->pfds[n].revents = 0;
		/* Nothing to wait on and no deadline: return rather than sleep
		 * for ever. */
		if (n || t >= 0)
			while (poll(m->pfds, (nfds_t)n + 1, t) < 0 && errno == EINTR)
				;
		char drain[64];
		while (read(m->wake[0], drain, sizeof drain) > 0)
			;
	}
	return rc ? rc : rms_multi_perform(m, running);
}

int rms_multi_info_read(rms_multi *m, rms_msg *out)
{
	if (!m || !out)
		return rms__error_field(RMS_E_INVALID_ARG, m ? "out" : "multi", "NULL argument");
	if (m->head == m->nmsgs)
		return RMS_ITEROVER;
	*out = m->msgs[m->head++];
	/* Its last message read, a session done opening or closing is no
	 * longer m's (a free then has nothing to drop here). */
	rms_session *s = out->session;
	if ((out->kind == RMS_MSG_OPENED || out->kind == RMS_MSG_CLOSED) && s->multi == m &&
	    !s->opening && !s->closing) {
		bool more = false;
		for (size_t j = m->head; j < m->nmsgs && !more; j++)
			more = m->msgs[j].session == s;
		if (!more)
			s->multi = NULL;
	}
	return 0;
}
