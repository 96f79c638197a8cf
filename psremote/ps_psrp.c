/*
 * The PSSession speaking PowerShell remoting over SSH (ps_psrp.h): one SSH
 * connection (ssh_connect.c), one channel on it running the `powershell`
 * subsystem (pwsh -sshs), OutOfProc packets on that channel (psrp_oop.c),
 * and the runspace pool with its pipelines (psrp_pool.c).
 *
 * Creating the session connects, authenticates, starts the subsystem and
 * opens the pool, failing right there with the phase: a refused login, a
 * subsystem the server does not have, a PowerShell that exits at once
 * (its stderr is quoted), a pool that breaks. Every pipeline then runs on
 * that one channel; up to max_runspaces at once.
 *
 * Flow control as PowerShell's own client keeps it: per stream (the pool,
 * each pipeline) one Data or Command packet is in flight until the server
 * acknowledges it (DataAck, CommandAck); a pipeline's Data waits for its
 * CommandAck. Signals go at once. The server's data needs no ack.
 *
 * The engine contract: nothing here waits except cleanup (closing the
 * session, bounded by RMS_CLEANUP_TIMEOUT_MS). A libssh2 call that returns
 * EAGAIN with a packet half sent is repeated, and nothing else is sent,
 * until that packet is out (ssh.h explains why).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "address.h"
#include "defaults.h"
#include "ps_cim_psrp.h"
#include "ps_limits.h"
#include "ps_psrp.h"
#include "ps_transport.h"
#include "psrp_oop.h"
#include "psrp_pool.h"
#include "psrp_winrm.h"
#include "ssh.h"

/* Reads per pump before other work gets a turn. */
#define READS_PER_PUMP 64
/* Bytes written per libssh2 call. */
#define WRITE_MAX 32768
/* How long a server that ended its output has to send its exit status. */
#define EXIT_GRACE_MS 1000
/* How much of the server's stderr is kept, for messages. */
#define STDERR_KEEP 600

/* PH_DISCONNECTED: over WinRM, the shell disconnected (rms_session_disconnect):
 * nothing moves until a reconnect, a close (the Delete) or the free. */
enum phase { PH_CONNECT, PH_CHANNEL, PH_SUBSYSTEM, PH_POOL, PH_OPEN, PH_CLOSING, PH_GONE,
	     PH_DISCONNECTED };

/* A call that left a packet half sent, to repeat before any other. */
enum pend { P_NONE, P_WRITE, P_ADJUST };

struct oop_item {
	rms_buf line;
	bool needs_ack;
};

/* Lines of one stream (the pool, or one pipeline) waiting for their turn. */
struct oop_queue {
	rms_guid guid;
	struct oop_item *items;
	size_t head, n, cap;
	bool waiting; /* a Data or Command is out and not acknowledged */
	bool started; /* its first line (a pipeline's Command) has gone out */
};

struct psrp_conn {
	struct ssh_conn ssh;
	LIBSSH2_CHANNEL *ch;
	enum phase phase;
	enum pend pend;
	size_t pend_len;
	rms_psrp_pool *pool;
	/* Over WinRM the pool rides WinRS instead (psrp_winrm.c), and the SSH
	 * fields below are unused. */
	struct psrp_winrm *wr;
	rms_oop_lines lines;
	rms_buf out; /* bytes on their way to the channel */
	size_t out_pos;
	struct oop_queue *qs;
	size_t nqs, qcap;
	/* Pipelines stopped before their Command went out: nothing of them is
	 * sent, their close included. */
	rms_guid *dropped;
	size_t ndropped, dropcap;
	char err[STDERR_KEEP + 1];
	size_t err_len;
	uint64_t deadline; /* of the open's pool phase, or the close */
	uint64_t eof_until; /* the server ended its output: wait for its exit until then */
	rms_op **ops;      /* ops with a pipeline, woken when another op read for them */
	size_t nops, opcap;
	char buf[16384];
};

struct psrp_op {
	rms_psrp_pipeline *pl;
	uint64_t deadline;
	bool we_stopped;
	bool gave_end;
	int fail_rc;
	rms_error *fail;
	/* The session was lost while this op still had events to hand out:
	 * they go out first, then this error. */
	rms_error *lost;
	/* A CIM get / enumerate / query run as Get-CimInstance (ps_cim_psrp.h):
	 * its pipeline, the classes learnt from its output, objects handed out. */
	bool cim;
	rms_ps_cim_pipeline cim_pl;
	rms_ps_cim_classes classes;
	uint64_t cim_items;
	char command_id[37]; /* the pipeline's id as WinRS spells it (upper case) */
};

static struct psrp_conn *pc(const rms_session *s)
{
	return s->priv;
}

/* ---- options ----------------------------------------------------------------- */

bool rms__psrp_wanted(const rms_session_options *o)
{
	return o && o->pssession_v2.protocol == RMS_PS_PROTOCOL_POWERSHELL;
}

static bool cim_kind(rms_op_kind kind)
{
	return kind == RMS_OP_GET || kind == RMS_OP_ENUMERATE || kind == RMS_OP_QUERY;
}

/* CIM get / enumerate / query run as a Get-CimInstance pipeline over either
 * carrier; a server without the CIM cmdlets (PowerShell on Linux) says so
 * when the pipeline runs. */
bool rms__psrp_supports(const rms_session_options *o, rms_op_kind kind)
{
	(void)o;
	return kind == RMS_OP_POWERSHELL || cim_kind(kind);
}

static const char *subsystem(const rms_session *s)
{
	return s->opts.pssession_v2.ssh_subsystem ? s->opts.pssession_v2.ssh_subsystem
	                                          : RMS_DEFAULT_SSH_SUBSYSTEM;
}

/* ---- failures ----------------------------------------------------------------- */

/* The server's stderr so far, for a message: "" or ": text". */
static const char *stderr_note(struct psrp_conn *c, char *buf, size_t size)
{
	size_t n = c->err_len;
	while (n && (c->err[n - 1] == '\n' || c->err[n - 1] == '\r' || c->err[n - 1] == ' '))
		n--;
	if (!n) {
		buf[0] = '\0';
		return buf;
	}
	snprintf(buf, size, "; it wrote: %.*s", (int)n, c->err);
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return buf;
}

/* The session is lost with the error just raised: the pool and its
 * pipelines fail with it, the session turns Broken. Returns rc. */
static int lost(rms_session *s, int rc)
{
	struct psrp_conn *c = pc(s);
	const rms_error *e = rms_error_last();
	struct rms_error *keep = rms__error_park();
	if (c->pool)
		rms__psrp_pool_lost(c->pool, e ? rms_error_message(e) : "the connection was lost");
	rms__error_unpark(keep);
	if (c->phase == PH_OPEN) {
		rms__ps_session_lost(s);
		if (s->stats.shells_open)
			s->stats.shells_open--;
	}
	c->phase = PH_GONE;
	for (size_t i = 0; i < c->nops; i++)
		rms__ps_op_wake(c->ops[i]);
	return rc;
}

static int ssh_failed(rms_session *s, const char *what)
{
	struct psrp_conn *c = pc(s);
	int e = libssh2_session_last_errno(c->ssh.ssh);
	int code = rms__ssh_socket_error(e) ? RMS_E_CONNECTION_LOST : RMS_E_SSH;
	return lost(s, rms__ssh_error(&c->ssh, code, RMS_PHASE_RECEIVE, what));
}

static void keep_stderr(struct psrp_conn *c, const char *data, size_t n);

/* The server closed the channel: PowerShell exited. */
static int server_gone(rms_session *s)
{
	struct psrp_conn *c = pc(s);
	char note[STDERR_KEEP + 32], how[64] = "";
	char *sig = NULL;
	/* What it wrote last on stderr may still be queued in libssh2. */
	ssize_t n;
	while (c->ch && (n = libssh2_channel_read_stderr(c->ch, c->buf, sizeof c->buf)) > 0)
		keep_stderr(c, c->buf, (size_t)n);
	if (c->ch && libssh2_channel_get_exit_signal(c->ch, &sig, NULL, NULL, NULL, NULL, NULL) == 0 &&
	    sig)
		snprintf(how, sizeof how, " (killed by signal %s)", sig);
	else if (c->ch && libssh2_channel_wait_closed(c->ch) == 0) {
		int st = libssh2_channel_get_exit_status(c->ch);
		/* 126 and 127: how a POSIX shell says the program would not run. */
		snprintf(how, sizeof how, " (exit status %d%s)", st,
		         st == 127   ? ": the subsystem's program was not found"
		         : st == 126 ? ": the subsystem's program could not be run"
		                     : "");
	}
	if (sig)
		libssh2_free(c->ssh.ssh, sig);
	return lost(s, rms__error_set(RMS_E_CONNECTION_LOST, RMS_PHASE_RECEIVE,
	                              "the PowerShell server (SSH subsystem '%s' on %s) ended "
	                              "the session%s%s",
	                              subsystem(s), c->ssh.host, how,
	                              stderr_note(c, note, sizeof note)));
}

/* ---- outgoing: packets in order, with flow control ------------------------------- */

static struct oop_queue *queue_for(struct psrp_conn *c, const rms_guid *g)
{
	for (size_t i = 0; i < c->nqs; i++)
		if (rms__guid_equal(&c->qs[i].guid, g))
			return &c->qs[i];
	if (rms__array_grow((void **)&c->qs, &c->qcap, c->nqs + 1, sizeof *c->qs))
		return NULL;
	struct oop_queue *q = &c->qs[c->nqs++];
	memset(q, 0, sizeof *q);
	q->guid = *g;
	return q;
}

static void queue_drop(struct psrp_conn *c, struct oop_queue *q)
{
	for (size_t i = q->head; i < q->n; i++)
		rms__buf_free(&q->items[i].line);
	free(q->items);
	*q = c->qs[--c->nqs];
}

static int queue_push(struct oop_queue *q, rms_buf *line, bool needs_ack)
{
	if (q->head && q->head == q->n)
		q->head = q->n = 0;
	if (rms__array_grow((void **)&q->items, &q->cap, q->n + 1, sizeof *q->items))
		return RMS_E_NOMEM;
	q->items[q->n].line = *line;
	q->items[q->n].needs_ack = needs_ack;
	q->n++;
	rms__buf_init(line);
	return 0;
}

/* Data lines for fragments frag[0..len): whole fragments, at most one
 * OutOfProc fragment's worth per line. */
static int push_data(struct oop_queue *q, const rms_guid *g, bool prompt, const char *frag,
                     size_t len)
{
	while (len) {
		size_t n = rms__psrp_fragments_prefix(frag, len, RMS_PSRP_OOP_FRAGMENT_MAX);
		if (!n)
			return rms__error_set(RMS_E_INTERNAL, RMS_PHASE_SEND,
			                      "a PSRP fragment is larger than %u bytes",
			                      RMS_PSRP_OOP_FRAGMENT_MAX);
		rms_buf line;
		rms__buf_init(&line);
		int rc = rms__oop_write_data(&line, g, prompt, frag, n);
		if (!rc && (rc = queue_push(q, &line, true)))
			rc = rms__error_nomem();
		rms__buf_free(&line);
		if (rc)
			return rc;
		frag += n;
		len -= n;
	}
	return 0;
}

static int push_packet(struct oop_queue *q, rms_oop_kind kind, bool needs_ack)
{
	rms_buf line;
	rms__buf_init(&line);
	int rc = rms__oop_write(&line, kind, &q->guid);
	if (!rc && queue_push(q, &line, needs_ack))
		rc = rms__error_nomem();
	rms__buf_free(&line);
	return rc;
}

/* What the pool wants sent, into the streams' queues (a Signal straight
 * out: it must not wait behind data). */
static int route_sends(struct psrp_conn *c)
{
	rms_psrp_send snd;
	while (rms__psrp_pool_take(c->pool, &snd) == 0) {
		int rc = 0;
		struct oop_queue *q = queue_for(c, &snd.guid);
		if (!q) {
			rms__psrp_send_clear(&snd);
			return rms__error_nomem();
		}
		bool was_dropped = false;
		for (size_t i = 0; i < c->ndropped; i++)
			if (rms__guid_equal(&c->dropped[i], &snd.guid)) {
				was_dropped = true;
				if (snd.kind == RMS_PSRP_SEND_CLOSE_PIPELINE)
					c->dropped[i] = c->dropped[--c->ndropped];
				break;
			}
		if (was_dropped) {
			/* Nothing of this pipeline reached the server. */
			rms__psrp_send_clear(&snd);
			if (q->head >= q->n)
				queue_drop(c, q);
			continue;
		}
		if (snd.kind == RMS_PSRP_SEND_STOP && !q->started && q->n > q->head) {
			/* Stopped before its Command went out: drop it whole rather
			 * than let the server start it after a Signal it would not
			 * know yet. */
			rms_guid g = snd.guid;
			rms__psrp_send_clear(&snd);
			queue_drop(c, q);
			if (rms__array_grow((void **)&c->dropped, &c->dropcap, c->ndropped + 1,
			                    sizeof *c->dropped))
				return RMS_E_NOMEM;
			c->dropped[c->ndropped++] = g;
			rms__psrp_pipeline_dropped(c->pool, &g,
			                           "the pipeline was stopped before it started");
			continue;
		}
		switch (snd.kind) {
		case RMS_PSRP_SEND_DATA:
			rc = push_data(q, &snd.guid, snd.prompt_response, snd.data.data, snd.data.len);
			break;
		case RMS_PSRP_SEND_CREATE:
			rc = push_packet(q, RMS_OOP_COMMAND, true);
			if (!rc)
				rc = push_data(q, &snd.guid, false, snd.data.data, snd.data.len);
			break;
		case RMS_PSRP_SEND_STOP:
			rc = rms__oop_write(&c->out, RMS_OOP_SIGNAL, &snd.guid);
			break;
		case RMS_PSRP_SEND_CLOSE_PIPELINE:
		case RMS_PSRP_SEND_CLOSE_POOL:
			rc = push_packet(q, RMS_OOP_CLOSE, false);
			break;
		case RMS_PSRP_SEND_ATTACH:
			/* rms__psrp_start refuses it over SSH before it gets here. */
			rc = rms__error_set(RMS_E_INTERNAL, RMS_PHASE_SEND,
			                    "an attached pipeline over OutOfProc");
			break;
		}
		rms__psrp_send_clear(&snd);
		if (rc)
			return rc;
	}
	return 0;
}

/* Lines whose turn has come, onto the outgoing bytes. */
static int release_lines(struct psrp_conn *c)
{
	for (size_t i = 0; i < c->nqs; i++) {
		struct oop_queue *q = &c->qs[i];
		while (!q->waiting && q->head < q->n) {
			struct oop_item *it = &q->items[q->head];
			if (rms__buf_append(&c->out, it->line.data, it->line.len))
				return rms__error_nomem();
			rms__buf_free(&it->line);
			q->waiting = it->needs_ack;
			q->started = true;
			q->head++;
		}
	}
	return 0;
}

/* ---- incoming ------------------------------------------------------------------ */

static int on_packet(rms_session *s, const rms_oop_packet *pk)
{
	struct psrp_conn *c = pc(s);
	struct oop_queue *q;
	switch (pk->kind) {
	case RMS_OOP_DATA:
		s->stats.bytes_received += pk->len;
		return rms__psrp_pool_feed(c->pool, pk->data, pk->len);
	case RMS_OOP_DATA_ACK:
	case RMS_OOP_COMMAND_ACK:
		for (size_t i = 0; i < c->nqs; i++) {
			q = &c->qs[i];
			if (rms__guid_equal(&q->guid, &pk->guid))
				q->waiting = false;
		}
		s->stats.round_trips++;
		return 0;
	case RMS_OOP_CLOSE_ACK:
		if (rms__guid_is_zero(&pk->guid)) {
			rms__psrp_pool_closed(c->pool);
		} else {
			for (size_t i = 0; i < c->nqs; i++)
				if (rms__guid_equal(&c->qs[i].guid, &pk->guid)) {
					queue_drop(c, &c->qs[i]);
					break;
				}
		}
		return 0;
	case RMS_OOP_SIGNAL_ACK:
		return 0;
	default:
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "the PowerShell server sent a %s packet, which only a "
		                      "client sends",
		                      rms__oop_kind_name(pk->kind));
	}
}

static int take_lines(rms_session *s)
{
	struct psrp_conn *c = pc(s);
	const char *line;
	size_t len;
	int rc;
	while ((rc = rms__oop_lines_next(&c->lines, &line, &len)) == 0) {
		rms_oop_packet pk;
		memset(&pk, 0, sizeof pk);
		if ((rc = rms__oop_parse(&pk, line, len)) == 0)
			rc = on_packet(s, &pk);
		rms__oop_packet_clear(&pk);
		if (rc)
			return rc;
	}
	return rc == RMS_ITEROVER ? 0 : rc;
}

/* ---- moving bytes ------------------------------------------------------------------ */

static bool out_blocked(struct psrp_conn *c)
{
	return libssh2_session_block_directions(c->ssh.ssh) & LIBSSH2_SESSION_BLOCK_OUTBOUND;
}

/* Repeat a half-sent call: 0 when out, RMS_EAGAIN, or the failure. */
static int finish_pending(rms_session *s)
{
	struct psrp_conn *c = pc(s);
	ssize_t rc = 0;
	unsigned int window = 0;
	if (c->pend == P_WRITE) {
		rc = libssh2_channel_write(c->ch, c->out.data + c->out_pos, c->pend_len);
		if (rc > 0) {
			c->out_pos += (size_t)rc;
			s->stats.bytes_sent += (uint64_t)rc;
		}
	} else if (c->pend == P_ADJUST) {
		rc = libssh2_channel_receive_window_adjust2(c->ch, 0, 0, &window);
	}
	if (rc == LIBSSH2_ERROR_EAGAIN && out_blocked(c))
		return RMS_EAGAIN;
	c->pend = P_NONE;
	if (rc < 0 && rc != LIBSSH2_ERROR_EAGAIN)
		return ssh_failed(s, "sending to the PowerShell server");
	return 0;
}

static int write_out(rms_session *s, bool *moved)
{
	struct psrp_conn *c = pc(s);
	while (c->out_pos < c->out.len) {
		size_t n = c->out.len - c->out_pos;
		if (n > WRITE_MAX)
			n = WRITE_MAX;
		ssize_t rc = libssh2_channel_write(c->ch, c->out.data + c->out_pos, n);
		if (rc == LIBSSH2_ERROR_EAGAIN || rc == 0) {
			/* Blocked outbound: the packet is half sent and must be
			 * finished first. Otherwise the server's window is full:
			 * its adjust comes in with the next read. */
			if (rc && out_blocked(c)) {
				c->pend = P_WRITE;
				c->pend_len = n;
			}
			return 0;
		}
		if (rc < 0)
			return ssh_failed(s, "sending to the PowerShell server");
		c->out_pos += (size_t)rc;
		s->stats.bytes_sent += (uint64_t)rc;
		*moved = true;
	}
	rms__buf_free(&c->out);
	rms__buf_init(&c->out);
	c->out_pos = 0;
	return 0;
}

static void keep_stderr(struct psrp_conn *c, const char *data, size_t n)
{
	if (n >= STDERR_KEEP) {
		data += n - STDERR_KEEP;
		n = STDERR_KEEP;
	}
	if (c->err_len + n > STDERR_KEEP) {
		size_t drop = c->err_len + n - STDERR_KEEP;
		memmove(c->err, c->err + drop, c->err_len - drop);
		c->err_len -= drop;
	}
	memcpy(c->err + c->err_len, data, n);
	c->err_len += n;
	c->err[c->err_len] = '\0';
}

static int read_in(rms_session *s, bool *moved)
{
	struct psrp_conn *c = pc(s);
	for (unsigned i = 0; i < READS_PER_PUMP; i++) {
		ssize_t n = libssh2_channel_read(c->ch, c->buf, sizeof c->buf);
		if (n == LIBSSH2_ERROR_EAGAIN) {
			if (out_blocked(c))
				c->pend = P_ADJUST;
			break;
		}
		if (n < 0)
			return ssh_failed(s, "reading from the PowerShell server");
		if (n == 0)
			break;
		*moved = true;
		int rc = rms__oop_lines_feed(&c->lines, c->buf, (size_t)n);
		if (!rc)
			rc = take_lines(s);
		if (rc)
			return lost(s, rc);
	}
	/* stderr only when libssh2 already holds some: asking for it otherwise
	 * is one more read of the socket that finds nothing. */
	while (c->pend == P_NONE && libssh2_poll_channel_read(c->ch, 1)) {
		ssize_t n = libssh2_channel_read_stderr(c->ch, c->buf, sizeof c->buf);
		if (n == LIBSSH2_ERROR_EAGAIN && out_blocked(c))
			c->pend = P_ADJUST;
		if (n <= 0)
			break;
		keep_stderr(c, c->buf, (size_t)n);
		*moved = true;
	}
	if (libssh2_channel_eof(c->ch) && c->phase != PH_CLOSING) {
		/* The exit status and the last of stderr follow the EOF: wait
		 * a moment for the channel's close, so the message can say how
		 * the server ended. */
		uint64_t now = rms__now_ms();
		if (!c->eof_until)
			c->eof_until = now + EXIT_GRACE_MS;
		int wc = libssh2_channel_wait_closed(c->ch);
		if (wc == LIBSSH2_ERROR_EAGAIN && now < c->eof_until)
			return 0;
		return server_gone(s);
	}
	return 0;
}

/*
 * Over SSH: the pool's sends out as OutOfProc lines, the server's data in.
 * 0 when something moved (events may be queued), RMS_EAGAIN with *w when
 * nothing could, or the session's failure (it is then lost).
 */
static int ssh_pump(rms_session *s, rms_wait *w, uint64_t deadline);

/* Move what can move over the session's carrier (SSH channel, or WinRS):
 * 0 when something moved, RMS_EAGAIN with *w, or the session's failure
 * (it is then lost). A pool the server broke or closed loses the session
 * either way. */
static int pump(rms_session *s, rms_wait *w, uint64_t deadline)
{
	struct psrp_conn *c = pc(s);
	if (c->phase == PH_DISCONNECTED)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE,
		                      "%s is disconnected: reconnect it (rms_session_reconnect) "
		                      "before reading its pipelines",
		                      s->name);
	if (c->phase == PH_GONE)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE, "%s is broken: %s", s->name,
		                      c->pool && rms__psrp_pool_reason(c->pool)
		                              ? rms__psrp_pool_reason(c->pool)
		                              : "the connection was lost");
	int rc;
	if (c->wr) {
		rms__wait_clear(w);
		rc = rms__psrp_winrm_pump(c->wr, s, c->pool, w, deadline);
		if (rc && rc != RMS_EAGAIN)
			return lost(s, rc);
		if (rc == 0) /* what came may be for any op's pipeline */
			for (size_t i = 0; i < c->nops; i++)
				rms__ps_op_wake(c->ops[i]);
	} else if ((rc = ssh_pump(s, w, deadline)) && rc != RMS_EAGAIN) {
		return rc;
	}
	rms_psrp_pool_state ps = rms__psrp_pool_state(c->pool);
	if (c->phase == PH_OPEN && (ps == RMS_PSRP_POOL_BROKEN || ps == RMS_PSRP_POOL_CLOSED))
		return lost(s, rms__error_set(RMS_E_CONNECTION_LOST, RMS_PHASE_REMOTE,
		                              "the runspace pool on %s is %s: %s", s->computer_name,
		                              rms__psrp_pool_state_name(ps),
		                              rms__psrp_pool_reason(c->pool)
		                                      ? rms__psrp_pool_reason(c->pool)
		                                      : "the server closed it"));
	return rc;
}

static int ssh_pump(rms_session *s, rms_wait *w, uint64_t deadline)
{
	struct psrp_conn *c = pc(s);
	bool moved = false;
	int rc;
	if (c->pend != P_NONE) {
		if ((rc = finish_pending(s)) == RMS_EAGAIN) {
			rms__ssh_wait_fill(&c->ssh, w, RMS_WAIT_OUT, deadline);
			return RMS_EAGAIN;
		}
		if (rc)
			return rc;
		moved = true;
	}
	uint64_t rx = c->ssh.rx_bytes;
	if ((rc = route_sends(c)) || (rc = release_lines(c)))
		return lost(s, rc);
	if ((rc = write_out(s, &moved)))
		return rc;
	if (c->pend == P_NONE && (rc = read_in(s, &moved)))
		return rc;
	if (c->ssh.rx_bytes != rx) {
		/* Packets for other pipelines may now be queued where poll()
		 * cannot see them. */
		for (size_t i = 0; i < c->nops; i++)
			rms__ps_op_wake(c->ops[i]);
	}
	if (moved)
		return 0;
	if (c->eof_until && (!deadline || c->eof_until < deadline))
		deadline = c->eof_until;
	/* Writable only matters when libssh2 is blocked on sending; bytes
	 * waiting for the server's window wait for a read. */
	rms__ssh_wait_fill(&c->ssh, w, 0, deadline);
	return RMS_EAGAIN;
}

/* ---- the session --------------------------------------------------------------------- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

static void init_libssh2(void)
{
	init_rc = libssh2_init(0);
}

/* The session's pool: its runspaces, the carrier's fragment size, and
 * MaximumReceivedObjectSize (the carrier's default unless the options set
 * one). */
static int new_pool(rms_session *s, struct psrp_conn *c, size_t max_fragment,
                    uint64_t default_object_cap)
{
	rms_psrp_pool_config cfg = {
		.min_runspaces = (int)s->opts.pssession_v2.min_runspaces,
		.max_runspaces = (int)s->opts.pssession_v2.max_runspaces,
		.max_fragment = max_fragment,
		.max_object = rms__ps_object_cap(&s->opts, default_object_cap),
	};
	if (cfg.max_object == RMS_LIMIT_UNLIMITED)
		cfg.max_object = UINT64_MAX;
	return rms__psrp_pool_new(&c->pool, &cfg);
}

/* A GUID as WinRS spells shell and command ids: upper case. */
static void id_upper(const rms_guid *g, char out[37])
{
	rms__guid_format(g, out);
	for (char *q = out; *q; q++)
		if (*q >= 'a' && *q <= 'f')
			*q = (char)(*q - 'a' + 'A');
}

/* Over WinRM: nothing to connect first (the Create carries the pool's
 * opening), so straight to the pool; rms_session_connect's session
 * connects its pool to the disconnected shell instead (the Connect carries
 * that). */
static int winrm_open(rms_session *s, struct psrp_conn *c)
{
	size_t frag = 0;
	rms_guid id;
	const char *shell = s->connect_shell_id;
	int rc = 0;
	if (shell && rms__guid_parse(&id, shell, strlen(shell), "shell id"))
		return rms__error_field(RMS_E_INVALID_ARG, "shell_id",
		                        "'%.60s' is not a shell id (a PowerShell shell's id is its "
		                        "runspace pool's GUID)",
		                        shell);
	char upper[37];
	if (shell)
		id_upper(&id, upper);
	if ((rc = rms__psrp_winrm_new(&c->wr, s, &frag, shell ? upper : NULL)))
		return rc;
	if ((rc = new_pool(s, c, frag, RMS_DEFAULT_MAX_RECEIVED_OBJECT_WINRM)) ||
	    (rc = shell ? rms__psrp_pool_connect(c->pool, &id) : rms__psrp_pool_open(c->pool)))
		return rc;
	c->deadline = rms__now_ms() + s->opts.operation_timeout_ms;
	c->phase = PH_POOL;
	return RMS_EAGAIN;
}

int rms__psrp_open(rms_session *s)
{
	if (s->connect_shell_id && s->opts.transport == RMS_TRANSPORT_SSH)
		return rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_NONE,
		                      "connecting to a disconnected shell needs WinRM: PowerShell "
		                      "remoting over SSH (OutOfProc) has no disconnected sessions");
	if (s->opts.transport != RMS_TRANSPORT_SSH) {
		struct psrp_conn *c = calloc(1, sizeof *c);
		if (!c)
			return rms__error_nomem();
		s->priv = c;
		c->ssh.fd = -1;
		rms__oop_lines_init(&c->lines, (size_t)4 << 20);
		rms__buf_init(&c->out);
		return winrm_open(s, c);
	}
	pthread_once(&init_once, init_libssh2);
	if (init_rc)
		return rms__error_set(RMS_E_INTERNAL, RMS_PHASE_NONE,
		                      "libssh2 initialisation failed (error %d)", init_rc);
	struct psrp_conn *c = calloc(1, sizeof *c);
	if (!c)
		return rms__error_nomem();
	s->priv = c;
	c->ssh.fd = -1;
	c->ssh.password = s->opts.password;
	rms__oop_lines_init(&c->lines, (size_t)4 << 20);
	rms__buf_init(&c->out);
	int rc = new_pool(s, c, RMS_PSRP_OOP_FRAGMENT_MAX, RMS_DEFAULT_MAX_RECEIVED_OBJECT_SSH);
	if (rc)
		return rc;
	rms_endpoint ep;
	if ((rc = rms__endpoint_resolve(&ep, &s->opts)))
		return rc;
	c->ssh.port = ep.port;
	rms__endpoint_free(&ep);
	if (!(c->ssh.host = strdup(s->computer_name)))
		return rms__error_nomem();
	rc = rms__ssh_connect_begin(s, &c->ssh, s->opts.connect_timeout_ms);
	if (rc == 0) {
		c->phase = PH_CHANNEL;
		c->deadline = rms__now_ms() + s->opts.connect_timeout_ms;
		return RMS_EAGAIN;
	}
	return rc;
}

static int open_failed(rms_session *s, int rc)
{
	struct psrp_conn *c = pc(s);
	c->phase = PH_GONE;
	return rc;
}

int rms__psrp_open_step(rms_session *s, rms_wait *w)
{
	struct psrp_conn *c = pc(s);
	int rc;
	for (;;) {
		switch (c->phase) {
		case PH_CONNECT:
			if ((rc = rms__ssh_connect_step(s, &c->ssh, w)))
				return rc;
			c->phase = PH_CHANNEL;
			c->deadline = rms__now_ms() + s->opts.connect_timeout_ms;
			break;
		case PH_CHANNEL:
			if (rms__now_ms() >= c->deadline)
				return open_failed(s, rms__error_set(RMS_E_TIMEOUT, RMS_PHASE_CONNECT,
				                                     "the SSH server did not open a channel "
				                                     "within %u ms",
				                                     s->opts.connect_timeout_ms));
			c->ch = libssh2_channel_open_session(c->ssh.ssh);
			if (!c->ch) {
				if (libssh2_session_last_errno(c->ssh.ssh) == LIBSSH2_ERROR_EAGAIN) {
					rms__ssh_wait_fill(&c->ssh, w, 0, c->deadline);
					return RMS_EAGAIN;
				}
				return open_failed(s, rms__ssh_error(&c->ssh, RMS_E_SSH, RMS_PHASE_REMOTE,
				                                     "opening an SSH channel"));
			}
			c->phase = PH_SUBSYSTEM;
			break;
		case PH_SUBSYSTEM:
			if (rms__now_ms() >= c->deadline)
				return open_failed(s, rms__error_set(RMS_E_TIMEOUT, RMS_PHASE_CONNECT,
				                                     "the SSH server did not answer the "
				                                     "request for the subsystem '%s' within "
				                                     "%u ms",
				                                     subsystem(s),
				                                     s->opts.connect_timeout_ms));
			rc = libssh2_channel_subsystem(c->ch, subsystem(s));
			if (rc == LIBSSH2_ERROR_EAGAIN) {
				rms__ssh_wait_fill(&c->ssh, w, 0, c->deadline);
				return RMS_EAGAIN;
			}
			if (rc) {
				char what[200];
				snprintf(what, sizeof what,
				         "starting the SSH subsystem '%s' (does the server's sshd_config "
				         "have 'Subsystem %s /path/to/pwsh -sshs'?)",
				         subsystem(s), subsystem(s));
				return open_failed(s, rms__ssh_error(&c->ssh, RMS_E_SSH, RMS_PHASE_REMOTE,
				                                     what));
			}
			if ((rc = rms__psrp_pool_open(c->pool)))
				return open_failed(s, rc);
			c->deadline = rms__now_ms() + s->opts.operation_timeout_ms;
			c->phase = PH_POOL;
			break;
		case PH_POOL: {
			rms_psrp_pool_state st = rms__psrp_pool_state(c->pool);
			if (st == RMS_PSRP_POOL_OPENED && (!c->wr || rms__psrp_winrm_ready(c->wr))) {
				c->phase = PH_OPEN;
				s->stats.shells_opened++;
				s->stats.shells_open++;
				if (c->wr)
					rms__log(&s->log, RMS_LOG_INFO,
					         "%s: runspace pool open on %s (WinRM shell %s, "
					         "protocol %s)",
					         s->name, s->computer_name,
					         rms__psrp_winrm_shell_id(c->wr),
					         rms__psrp_pool_server_protocol(c->pool)
					                 ? rms__psrp_pool_server_protocol(c->pool)
					                 : "?");
				else
					rms__log(&s->log, RMS_LOG_INFO,
					         "%s: runspace pool open on %s (SSH subsystem '%s', "
					         "protocol %s)",
					         s->name, c->ssh.host, subsystem(s),
					         rms__psrp_pool_server_protocol(c->pool)
					                 ? rms__psrp_pool_server_protocol(c->pool)
					                 : "?");
				return 0;
			}
			if (st == RMS_PSRP_POOL_BROKEN || st == RMS_PSRP_POOL_CLOSED)
				return open_failed(s, rms__error_set(RMS_E_FAULT, RMS_PHASE_REMOTE,
				                                     "the runspace pool did not open: %s",
				                                     rms__psrp_pool_reason(c->pool)
				                                             ? rms__psrp_pool_reason(c->pool)
				                                             : "it was closed"));
			if (rms__now_ms() >= c->deadline)
				return open_failed(s, rms__error_set(
				        RMS_E_TIMEOUT, RMS_PHASE_RECEIVE,
				        "the runspace pool did not open within %u ms (%s)",
				        s->opts.operation_timeout_ms,
				        c->wr ? "WinRM" : "SSH subsystem"));
			rc = pump(s, w, c->deadline);
			if (rc == RMS_EAGAIN)
				return rc;
			if (rc) {
				c->phase = PH_GONE;
				return rc;
			}
			break;
		}
		case PH_OPEN:
			return 0;
		default:
			return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE, "the session failed to open");
		}
	}
}

/* Bounded, blocking: the SSH disconnect and the frees. */
static void disconnect(rms_session *s, struct psrp_conn *c, bool polite)
{
	rms__ssh_connect_free(&c->ssh);
	if (!c->ssh.ssh)
		goto out;
	uint64_t deadline = rms__now_ms() + RMS_CLEANUP_TIMEOUT_MS;
	struct rms_error *keep = rms__error_park();
	if (polite && c->ssh.connected && c->pend == P_NONE) {
		while (libssh2_session_disconnect(c->ssh.ssh, "remsess session closed") ==
		       LIBSSH2_ERROR_EAGAIN)
			if (rms__ssh_block(&c->ssh, deadline, RMS_CLEANUP_TIMEOUT_MS, RMS_PHASE_SEND,
			                   "SSH disconnect"))
				break;
	}
	rms__error_unpark(keep);
	if (c->ssh.fd >= 0)
		shutdown(c->ssh.fd, SHUT_RDWR);
	int tries = 0;
	while (libssh2_session_free(c->ssh.ssh) == LIBSSH2_ERROR_EAGAIN && ++tries < 1000)
		;
	c->ssh.ssh = NULL;
	c->ch = NULL;
out:
	if (c->ssh.fd >= 0) {
		close(c->ssh.fd);
		c->ssh.fd = -1;
	}
	if (c->ssh.counted) {
		c->ssh.counted = false;
		if (s->stats.connections_open)
			s->stats.connections_open--;
	}
	c->ssh.connected = false;
}

int rms__psrp_close(rms_session *s)
{
	struct psrp_conn *c = pc(s);
	if (!c)
		return 0;
	if (c->phase == PH_DISCONNECTED) {
		/* As Remove-PSSession: the disconnected shell is deleted as it is
		 * (its pipelines end with it), without reconnecting first. */
		rms__psrp_winrm_delete_only(c->wr);
		rms__psrp_pool_close(c->pool);
		c->phase = PH_CLOSING;
		c->deadline = rms__now_ms() + RMS_CLEANUP_TIMEOUT_MS;
		return RMS_EAGAIN;
	}
	if (c->phase != PH_OPEN) {
		disconnect(s, c, false);
		c->phase = PH_GONE;
		return 0;
	}
	int rc = rms__psrp_pool_close(c->pool);
	if (rc) {
		if (s->stats.shells_open)
			s->stats.shells_open--;
		disconnect(s, c, true);
		c->phase = PH_GONE;
		return rc;
	}
	c->phase = PH_CLOSING;
	c->deadline = rms__now_ms() + RMS_CLEANUP_TIMEOUT_MS;
	return RMS_EAGAIN;
}

int rms__psrp_close_step(rms_session *s, rms_wait *w)
{
	struct psrp_conn *c = pc(s);
	if (!c || c->phase != PH_CLOSING)
		return 0;
	while (rms__psrp_pool_state(c->pool) != RMS_PSRP_POOL_CLOSED &&
	       rms__psrp_pool_state(c->pool) != RMS_PSRP_POOL_BROKEN) {
		if (rms__now_ms() >= c->deadline) {
			rms__log(&s->log, RMS_LOG_WARNING,
			         "%s: the runspace pool did not acknowledge its close within %u ms",
			         s->name, RMS_CLEANUP_TIMEOUT_MS);
			break;
		}
		struct rms_error *keep = rms__error_park();
		int rc = pump(s, w, c->deadline);
		rms__error_unpark(keep);
		if (rc == RMS_EAGAIN)
			return rc;
		if (rc)
			break;
	}
	if (s->stats.shells_open)
		s->stats.shells_open--;
	disconnect(s, c, true);
	c->phase = PH_GONE;
	for (size_t i = 0; i < c->nops; i++)
		rms__ps_op_wake(c->ops[i]);
	return 0;
}

void rms__psrp_destroy(rms_session *s)
{
	struct psrp_conn *c = pc(s);
	if (!c)
		return;
	rms__psrp_winrm_free(c->wr);
	disconnect(s, c, c->phase == PH_OPEN);
	rms__psrp_pool_free(c->pool);
	rms__oop_lines_free(&c->lines);
	rms__buf_free(&c->out);
	while (c->nqs)
		queue_drop(c, &c->qs[0]);
	free(c->qs);
	free(c->dropped);
	free(c->ops);
	free(c->ssh.host);
	free(c);
	s->priv = NULL;
}

/* ---- pipelines ------------------------------------------------------------------------ */

static struct psrp_op *pop_(const rms_op *op)
{
	return op->priv;
}

static int op_failed(rms_op *op, int rc)
{
	struct psrp_op *p = pop_(op);
	if (!p->fail_rc) {
		p->fail_rc = rc;
		p->fail = rms_error_dup(rms_error_last());
	}
	op->ended = true;
	return rc;
}

static int failure(const struct psrp_op *p)
{
	return p->fail ? rms__error_restore(p->fail) : p->fail_rc;
}

static void stop_pipeline(rms_op *op)
{
	struct psrp_op *p = pop_(op);
	if (p->pl && !rms__psrp_pipeline_done(p->pl)) {
		p->we_stopped = true;
		rms__psrp_pipeline_stop(p->pl);
	}
}

static int cim_start(rms_op *op, struct psrp_conn *c, struct psrp_op *p)
{
	char *ns = rms__request_target_namespace(op->req, op->session);
	if (!ns)
		return rms__error_nomem();
	p->cim = true;
	int rc = rms__ps_cim_pipeline(&p->cim_pl, op->req, ns);
	free(ns);
	if (rc)
		return rc;
	rms_psrp_pipeline_spec spec = { &p->cim_pl.cmd, 1, false };
	if ((rc = rms__psrp_pipeline_new(&p->pl, c->pool, &spec)))
		return rc;
	if ((rc = rms__array_grow((void **)&c->ops, &c->opcap, c->nops + 1, sizeof *c->ops)))
		return rc;
	c->ops[c->nops++] = op;
	p->deadline = rms__request_deadline(op->req);
	return 0;
}

/* rms_session_receive: the pipeline an earlier client (or this one, before
 * a free) started, by its command id; its output from where the server
 * kept it. */
static int attach_start(rms_op *op, struct psrp_conn *c, struct psrp_op *p)
{
	const char *id = op->session->attach_command_id;
	rms_guid g;
	if (!c->wr)
		return rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_NONE,
		                      "reading a pipeline by its command id needs WinRM: PowerShell "
		                      "remoting over SSH (OutOfProc) has no disconnected pipelines");
	if (rms__guid_parse(&g, id, strlen(id), "command id"))
		return rms__error_field(RMS_E_INVALID_ARG, "command_id",
		                        "'%.60s' is not a command id (a GUID)", id);
	int rc = rms__psrp_pipeline_attach(&p->pl, c->pool, &g);
	if (!rc)
		rc = rms__array_grow((void **)&c->ops, &c->opcap, c->nops + 1, sizeof *c->ops);
	if (rc)
		return rc;
	c->ops[c->nops++] = op;
	id_upper(&g, p->command_id);
	p->deadline = rms__request_deadline(op->req);
	return 0;
}

int rms__psrp_start(rms_op *op)
{
	rms_session *s = op->session;
	struct psrp_conn *c = pc(s);
	const rms_request *r = op->req;
	struct psrp_op *p = calloc(1, sizeof *p);
	if (!p)
		return rms__error_nomem();
	op->priv = p;
	if (c->phase == PH_DISCONNECTED)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE,
		                      "%s is disconnected: reconnect it (rms_session_reconnect) "
		                      "before starting a pipeline",
		                      s->name);
	if (s->attach_command_id)
		return attach_start(op, c, p);
	if (cim_kind(r->kind))
		return cim_start(op, c, p);
	rms_psrp_command *cmds = calloc(r->ps_ncmds, sizeof *cmds);
	size_t nparams = 0;
	for (size_t i = 0; i < r->ps_ncmds; i++)
		nparams += r->ps_cmds[i].nparams;
	rms_psrp_param *params = calloc(nparams ? nparams : 1, sizeof *params);
	if (!cmds || !params) {
		free(cmds);
		free(params);
		return rms__error_nomem();
	}
	size_t k = 0;
	for (size_t i = 0; i < r->ps_ncmds; i++) {
		const struct rms_ps_command *rc = &r->ps_cmds[i];
		cmds[i].text = rc->text;
		cmds[i].is_script = rc->is_script;
		cmds[i].merge_errors = rc->merge_errors;
		cmds[i].params = &params[k];
		cmds[i].nparams = rc->nparams;
		for (size_t j = 0; j < rc->nparams; j++, k++) {
			params[k].name = rc->params[j].name;
			params[k].value = rc->params[j].value;
		}
	}
	rms_psrp_pipeline_spec spec = { cmds, r->ps_ncmds, r->ps_ninput > 0 };
	int rc = rms__psrp_pipeline_new(&p->pl, c->pool, &spec);
	free(cmds);
	free(params);
	for (size_t i = 0; rc == 0 && i < r->ps_ninput; i++)
		rc = rms__psrp_pipeline_input(p->pl, r->ps_input[i]);
	if (rc == 0 && r->ps_ninput)
		rc = rms__psrp_pipeline_input_end(p->pl);
	if (rc == 0)
		rc = rms__array_grow((void **)&c->ops, &c->opcap, c->nops + 1, sizeof *c->ops);
	if (rc)
		return rc;
	c->ops[c->nops++] = op;
	id_upper(rms__psrp_pipeline_id(p->pl), p->command_id);
	p->deadline = rms__request_deadline(r);
	return 0;
}

/* The per-command cap (MaximumReceivedDataSizePerCommand). */
static int check_cap(rms_op *op)
{
	struct psrp_op *p = pop_(op);
	uint64_t cap = op->session->opts.pssession.max_received_per_command;
	uint64_t got = rms__psrp_pipeline_received(p->pl);
	if (cap == RMS_LIMIT_UNLIMITED || got <= cap)
		return 0;
	stop_pipeline(op);
	p->we_stopped = false;
	return op_failed(op, rms__ps_limit_error("MaximumReceivedDataSizePerCommand", cap, got,
	                                         op->delivered, "objects"));
}

/* The per-command cap of every pipeline of the session, as data arrives
 * (one op's pump reads for all of them): another op over it is stopped and
 * failed, and woken to say so. Returns op's own failure, or 0. */
static int check_caps(rms_op *op)
{
	struct psrp_conn *c = pc(op->session);
	for (size_t i = 0; i < c->nops; i++) {
		rms_op *o = c->ops[i];
		struct psrp_op *q = pop_(o);
		if (o == op || q->fail_rc || !q->pl)
			continue;
		struct rms_error *keep = rms__error_park();
		if (check_cap(o))
			rms__ps_op_wake(o);
		rms__error_unpark(keep);
	}
	return check_cap(op);
}

static int pipeline_step(rms_op *op, rms_wait *w)
{
	struct psrp_op *p = pop_(op);
	rms__wait_clear(w);
	for (;;) {
		if (p->fail_rc)
			return failure(p);
		if (rms__psrp_pipeline_has_event(p->pl) || p->gave_end)
			return 0;
		if (atomic_load(&op->cancelled)) {
			stop_pipeline(op);
			int rc = rms__error_set(RMS_E_CANCELLED, RMS_PHASE_NONE,
			                        "the pipeline was cancelled (rms_op_cancel); it was "
			                        "stopped on the remote computer");
			pump(op->session, w, 0);
			return op_failed(op, rc);
		}
		if (p->deadline && rms__now_ms() >= p->deadline) {
			stop_pipeline(op);
			int rc = rms__error_set(RMS_E_TIMEOUT, RMS_PHASE_LIMIT,
			                        "the pipeline did not finish within its time limit of "
			                        "%u ms; it was stopped",
			                        op->req->timeout_ms);
			pump(op->session, w, 0);
			return op_failed(op, rc);
		}
		int rc = pump(op->session, w, p->deadline);
		if (rc == RMS_EAGAIN)
			return rc;
		if (rc && rms__psrp_pipeline_has_event(p->pl)) {
			/* What arrived before the loss is handed out first; the
			 * pipeline's end then carries the loss. */
			if (!p->lost)
				p->lost = rms_error_dup(rms_error_last());
			return 0;
		}
		if (rc)
			return op_failed(op, rc);
		if ((rc = check_caps(op)))
			return rc;
	}
}

static bool is_decode_error(const rms_value *v)
{
	const rms_psobject *o = NULL;
	if (v && rms_value_type(v) == RMS_TYPE_OBJECT && !rms_value_is_null(v))
		rms_value_get_object(v, &o);
	return o && rms_psobject_type_name_count(o) &&
	       strcmp(rms_psobject_type_name_at(o, 0), "remsess.DecodeError") == 0;
}

/* One instance of a CIM op out of its pipeline's objects: 0, RMS_EAGAIN,
 * RMS_ITEROVER, RMS_E_SKIPPED for an object that did not decode (the op
 * goes on, as the CIM backend's enumeration does), or the op's failure. */
int rms__psrp_next(rms_op *op, rms_instance **out)
{
	struct psrp_op *p = pop_(op);
	*out = NULL;
	if (!p || !p->cim)
		return rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_NONE,
		                      "a %s operation has no stream of instances",
		                      rms_op_kind_name(op->req->kind));
	for (;;) {
		rms_ps_stream st;
		rms_value *v = NULL;
		int rc = rms__psrp_next_object(op, &st, &v);
		if (rc)
			return rc;
		if (st != RMS_PS_OUTPUT && st != RMS_PS_ERROR) {
			rms_value_free(v); /* warnings, verbose, progress: not CIM's */
			continue;
		}
		p->cim_items++;
		const char *why = NULL;
		if (st == RMS_PS_ERROR && !is_decode_error(v)) {
			/* -ErrorAction Stop makes every error of the cmdlet end the
			 * pipeline; an error record that does not is not the
			 * cmdlet's: the op fails with it all the same. */
			rc = rms__ps_cim_record_error(v, "an error record");
			rms_value_free(v);
			stop_pipeline(op);
			return op_failed(op, rc);
		}
		if (st == RMS_PS_OUTPUT) {
			rc = rms__ps_cim_decode_object(out, v, &p->classes);
			rms_value_free(v);
			if (rc == 0 && op->req->kind == RMS_OP_QUERY)
				rms__ps_cim_keep_selected(*out, op->req->query);
			if (rc == 0 || rc == RMS_E_NOMEM)
				return rc == 0 ? 0 : op_failed(op, rc);
		} else {
			const rms_psobject *o = NULL;
			rms_value_get_object(v, &o);
			why = rms_psobject_to_string(o);
		}
		const rms_error *e = rms_error_last();
		rms__error_set(RMS_E_SKIPPED, RMS_PHASE_DECODE,
		               "item %llu of the %s (%s) was skipped: %s; the operation goes on",
		               (unsigned long long)p->cim_items, rms_op_kind_name(op->req->kind),
		               op->req->class_name ? op->req->class_name
		               : op->req->ref      ? rms_ref_class_name(op->req->ref)
		                                   : "query",
		               why ? why : e ? rms_error_message(e) : "it did not decode");
		if (st == RMS_PS_ERROR)
			rms_value_free(v);
		return RMS_E_SKIPPED;
	}
}

/* A get: the pipeline's one instance on op->result, once it has ended. */
static int get_step(rms_op *op, rms_wait *w)
{
	for (;;) {
		rms_instance *inst = NULL;
		int rc = rms__psrp_next(op, &inst);
		if (rc == RMS_EAGAIN) {
			if ((rc = pipeline_step(op, w)))
				return rc;
			continue;
		}
		if (rc == 0 && op->result) {
			rms_instance_free(inst);
			stop_pipeline(op);
			return op_failed(op, rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                                    "the remote Get-CimInstance returned more "
			                                    "than one instance for one key"));
		}
		if (rc == 0) {
			op->result = inst;
			continue;
		}
		if (rc == RMS_E_SKIPPED) {
			/* The one instance of a get did not decode: the get fails. */
			char *msg = rms__strdup(rms_error_message(rms_error_last()));
			stop_pipeline(op);
			rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE, "%s",
			                    msg ? msg : "the instance did not decode");
			free(msg);
			return op_failed(op, rc);
		}
		if (rc != RMS_ITEROVER)
			return rc;
		if (!op->result) {
			/* -Filter selects; it finds nothing rather than failing: the
			 * CIM backend's Get fails with NOT_FOUND, and so does this. */
			rc = rms__error_set(RMS_E_FAULT, RMS_PHASE_REMOTE,
			                    "Get-CimInstance on the remote computer found no instance "
			                    "of %s with the keys given (CIM status 6, NOT_FOUND)",
			                    rms_ref_class_name(op->req->ref));
			struct rms_error *le = rms__error_last_mut();
			if (le)
				le->cim_status = 6;
			return op_failed(op, rc);
		}
		op->ended = true;
		op->finished = true;
		return 0;
	}
}

int rms__psrp_step(rms_op *op, rms_wait *w)
{
	struct psrp_op *p = pop_(op);
	if (p && p->cim && op->req->kind == RMS_OP_GET)
		return get_step(op, w);
	return pipeline_step(op, w);
}

int rms__psrp_next_object(rms_op *op, rms_ps_stream *stream, rms_value **out)
{
	struct psrp_op *p = pop_(op);
	if (p->fail_rc)
		return failure(p);
	rms_psrp_event ev;
	int rc = rms__psrp_pipeline_next(p->pl, &ev);
	if (rc == RMS_ITEROVER || rc == RMS_EAGAIN)
		return rc;
	if (rc)
		return op_failed(op, rc);
	if (!ev.done) {
		*stream = ev.stream;
		*out = ev.value;
		return 0;
	}
	p->gave_end = true;
	op->ended = true;
	if (ev.state == RMS_PSRP_PIPELINE_COMPLETED) {
		rms__psrp_event_clear(&ev);
		return RMS_ITEROVER;
	}
	rms_value_free(op->error_record);
	op->error_record = ev.value;
	ev.value = NULL;
	if (p->lost && ev.state == RMS_PSRP_PIPELINE_FAILED)
		rc = rms__error_restore(p->lost);
	else if (p->cim && ev.state == RMS_PSRP_PIPELINE_FAILED)
		rc = rms__ps_cim_record_error(op->error_record, ev.message);
	else if (ev.state == RMS_PSRP_PIPELINE_STOPPED && p->we_stopped)
		rc = rms__error_set(RMS_E_CANCELLED, RMS_PHASE_REMOTE, "the pipeline was stopped");
	else
		rc = rms__error_set(RMS_E_FAULT, RMS_PHASE_REMOTE, "the pipeline %s: %s",
		                    ev.state == RMS_PSRP_PIPELINE_STOPPED ? "was stopped" : "failed",
		                    ev.message ? ev.message : "no reason given");
	rms__psrp_event_clear(&ev);
	return op_failed(op, rc);
}

/*
 * For a blocking caller, which makes no further call that would pump: the
 * exchanges queued (a stopped pipeline's Signal, a closed one's terminate)
 * go out and are answered now, within limit_ms, so that nothing of an op
 * is left running on the server or in flight on the connection when its
 * call returns. Over WinRM only (an SSH write goes out at once); until
 * settled(), or done() when done is not NULL. Failures stay the pool's.
 */
static void settle(rms_session *s, uint32_t limit_ms, bool (*done)(const struct psrp_winrm *))
{
	struct psrp_conn *c = pc(s);
	if (!c || !c->wr || c->phase != PH_OPEN)
		return;
	if (!done)
		done = rms__psrp_winrm_settled;
	uint64_t deadline = rms__now_ms() + limit_ms;
	struct rms_error *keep = rms__error_park();
	for (;;) {
		rms_wait w;
		int rc = pump(s, &w, deadline);
		if ((rc && rc != RMS_EAGAIN) || c->phase != PH_OPEN || done(c->wr) ||
		    rms__now_ms() >= deadline)
			break;
		if (rc == RMS_EAGAIN && rms__wait_block(&w))
			break;
	}
	rms__error_unpark(keep);
}

void rms__psrp_op_free(rms_op *op)
{
	struct psrp_op *p = pop_(op);
	if (!p)
		return;
	struct psrp_conn *c = pc(op->session);
	if (c) {
		for (size_t i = 0; i < c->nops; i++)
			if (c->ops[i] == op) {
				c->ops[i] = c->ops[--c->nops];
				break;
			}
	}
	rms__psrp_pipeline_free(p->pl); /* queues its stop and close */
	if (c && c->phase == PH_OPEN && !op->nonblocking) {
		/* A blocking caller's pipeline is stopped and closed before its
		 * free returns (the close of a finished one too, so the next
		 * call finds the connection free). */
		settle(op->session, RMS_CLEANUP_TIMEOUT_MS, NULL);
	} else if (c && c->phase == PH_OPEN) {
		/* Send the stop and close now if the socket takes them; what it
		 * does not take goes with the next pump. */
		rms_wait w;
		rms__wait_clear(&w);
		struct rms_error *keep = rms__error_park();
		pump(op->session, &w, 0);
		rms__error_unpark(keep);
	}
	rms_error_free(p->fail);
	rms_error_free(p->lost);
	if (p->cim) {
		rms__ps_cim_pipeline_free(&p->cim_pl);
		rms__ps_cim_classes_free(&p->classes);
	}
	free(p);
	op->priv = NULL;
}

int rms__psrp_check(rms_session *s, rms_instance **info)
{
	struct psrp_conn *c = pc(s);
	if (c && c->wr && c->phase == PH_DISCONNECTED)
		return rms__psrp_winrm_check(c->wr, s, info);
	if (!c || c->phase != PH_OPEN)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE, "%s has no runspace pool open",
		                      s->name);
	if (!c->wr)
		return rms__error_set(RMS_E_NOT_IMPLEMENTED, RMS_PHASE_NONE,
		                      "checking a PowerShell session over SSH is not built yet "
		                      "(%s: the pool's channel is checked by its next pipeline)",
		                      s->name);
	/* The close of a pipeline that ended may still be in flight: it is
	 * answered first (a blocking caller has no pump of its own). */
	settle(s, s->opts.operation_timeout_ms ? s->opts.operation_timeout_ms
	                                       : RMS_DEFAULT_OPERATION_TIMEOUT_MS,
	       rms__psrp_winrm_idle);
	int rc = rms__psrp_winrm_check(c->wr, s, info);
	/* A check that broke the session (the shell gone, the connection
	 * lost) ends the pool as a pipeline's failure would: nothing more is
	 * sent, the close included. */
	if (rc && s->state == RMS_STATE_BROKEN)
		return lost(s, rc);
	return rc;
}

/* ---- disconnect, reconnect ------------------------------------------------------ */

/* The last error's message led by the call it ended (what), so a lost
 * connection or a fault says it was the Disconnect or the Reconnect (or
 * what went out before it); code, phase and fault fields kept. */
static int name_call(int rc, const char *what)
{
	struct rms_error *e = rms__error_last_mut();
	char *m = e && e->message ? rms__asprintf("%s: %s", what, e->message) : NULL;
	if (m) {
		free(e->message);
		e->message = m;
	}
	return rc;
}

/* Pump the carrier until its Disconnect or Reconnect (what) is answered. A
 * fault (the server refused) leaves the session as it was; anything else
 * (no answer, the connection lost) loses it. */
static int link_wait(rms_session *s, const char *what)
{
	struct psrp_conn *c = pc(s);
	uint32_t limit = s->opts.operation_timeout_ms ? s->opts.operation_timeout_ms
	                                              : RMS_DEFAULT_OPERATION_TIMEOUT_MS;
	uint64_t deadline = rms__now_ms() + limit;
	for (;;) {
		if (rms__psrp_winrm_link_settled(c->wr))
			return 0;
		if (rms__now_ms() >= deadline)
			return lost(s, name_call(rms__error_set(RMS_E_TIMEOUT, RMS_PHASE_RECEIVE,
			                                        "the server did not answer within %u ms",
			                                        limit),
			                         what));
		rms_wait w;
		rms__wait_clear(&w);
		int rc = rms__psrp_winrm_pump(c->wr, s, c->pool, &w, deadline);
		for (size_t i = 0; i < c->nops; i++)
			rms__ps_op_wake(c->ops[i]);
		if (rc == RMS_EAGAIN) {
			if ((rc = rms__wait_block(&w)))
				return lost(s, name_call(rc, what));
			continue;
		}
		if (rc == RMS_E_FAULT && rms__psrp_winrm_link_settled(c->wr))
			return name_call(rc, what);
		if (rc)
			return lost(s, name_call(rc, what));
	}
}

/* Why this session cannot be disconnected, raised; 0 when it can. */
static int can_disconnect(rms_session *s, struct psrp_conn *c)
{
	if (!c->wr)
		return rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_NONE,
		                      "%s speaks PowerShell remoting over SSH, which has no "
		                      "disconnected sessions (only WinRM shells can be disconnected)",
		                      s->name);
	if (!rms__psrp_pool_protocol_at_least(c->pool, 2, 2))
		return rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_NONE,
		                      "the server speaks PowerShell remoting protocol %s; disconnecting "
		                      "needs 2.2 or later (PowerShell 3.0, WinRM 3.0)",
		                      rms__psrp_pool_server_protocol(c->pool)
		                              ? rms__psrp_pool_server_protocol(c->pool)
		                              : "(unknown)");
	return 0;
}

int rms__psrp_disconnect(rms_session *s, uint32_t idle_timeout_ms)
{
	struct psrp_conn *c = pc(s);
	int rc = can_disconnect(s, c);
	if (rc)
		return rc;
	if (c->phase != PH_OPEN)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE, "%s has no runspace pool open",
		                      s->name);
	if ((rc = rms__psrp_winrm_disconnect(c->wr, idle_timeout_ms)) ||
	    (rc = link_wait(s, "the Disconnect (WinRS Disconnect)")))
		return rc;
	c->phase = PH_DISCONNECTED;
	rms__log(&s->log, RMS_LOG_INFO, "%s: disconnected from shell %s", s->name,
	         rms__psrp_winrm_shell_id(c->wr));
	return 0;
}

int rms__psrp_reconnect(rms_session *s)
{
	struct psrp_conn *c = pc(s);
	int rc = can_disconnect(s, c);
	if (rc)
		return rc;
	if (c->phase != PH_DISCONNECTED)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE, "%s is not disconnected",
		                      s->name);
	if ((rc = rms__psrp_winrm_reconnect(c->wr)))
		return rc;
	c->phase = PH_OPEN;
	if ((rc = link_wait(s, "the Reconnect (WinRS Reconnect)"))) {
		if (c->phase == PH_OPEN)
			c->phase = PH_DISCONNECTED; /* refused: still disconnected */
		return rc;
	}
	rms__log(&s->log, RMS_LOG_INFO, "%s: reconnected to shell %s", s->name,
	         rms__psrp_winrm_shell_id(c->wr));
	for (size_t i = 0; i < c->nops; i++)
		rms__ps_op_wake(c->ops[i]);
	return 0;
}

const char *rms__psrp_shell_id(const rms_session *s)
{
	const struct psrp_conn *c = pc(s);
	if (!c || !c->wr || !rms__psrp_winrm_shell_id(c->wr)[0])
		return NULL;
	return rms__psrp_winrm_shell_id(c->wr);
}

const char *rms__psrp_command_id(const rms_op *op)
{
	const struct psrp_op *p = pop_(op);
	const struct psrp_conn *c = pc(op->session);
	if (!p || !c || !c->wr || !p->command_id[0])
		return NULL;
	return p->command_id;
}
