/*
 * The PSSession's SSH transport (libssh2): the command shell protocol as
 * plain commands, one "exec" channel per command, New-PSSession -HostName
 * semantics without PowerShell remoting. Caps, time limits, cancel,
 * callbacks, exit signals and Broken are the protocol layer's
 * (ps_backend.c, ps_transport.h).
 *
 * Creating a session connects (TCP, then the SSH handshake), verifies the
 * server's host key against a known_hosts file, and authenticates
 * (psremote/ssh_connect.c), and fails right there with the phase named.
 * The session then holds that one SSH connection for its whole life; every
 * command is an exec channel on it, and closing the session disconnects.
 *
 * The engine contract (core/api/backend.h): nothing here waits for the
 * network except cleanup. open begins connecting and open_step advances it;
 * begin starts a command and step advances it (channel open, exec, stdin,
 * output, the channel's close and exit status). Where libssh2 returns
 * LIBSSH2_ERROR_EAGAIN, a step returns RMS_EAGAIN with the socket in the
 * rms_wait, the directions libssh2_session_block_directions() gives, and
 * the deadline in force. Stopping a command (cancel, a cap, its time
 * limit) and closing a finished command's channel are cleanup: they may
 * wait, at most STOP_MS. Closing the session is stepped too (the disconnect
 * driven on EAGAIN, within RMS_CLEANUP_TIMEOUT_MS); only destroy, for a
 * session never closed, disconnects blocking.
 *
 * Several commands of one session are channels on one socket, and may be
 * stepped alternately from one thread. A step that reads the socket may
 * queue packets for another command's channel inside libssh2, where poll()
 * cannot see them: that step wakes the other commands (wake_others).
 *
 * Lost: a failure of the connection itself (socket closed or reset, an SSH
 * transport error) loses the session (rms__ps_session_lost, and a step says
 * so). A failure that belongs to one channel (the server refused the exec,
 * the channel was closed), or libssh2 refusing a call (BAD_USE, INVAL),
 * fails the command only.
 *
 * Half-sent packets: a libssh2 call that returns EAGAIN with the socket full
 * may have begun a packet that only the same call can finish; it is recorded
 * in the connection (ssh.h, enum ssh_pend_kind) with the command it belongs
 * to, and finished before any other send by the next step of any command,
 * stop or disconnect, which credits that command with what it sent.
 *
 * Output: each read from the channel (at most CHUNK bytes, one SSH packet)
 * is one batch for the protocol layer, so MaximumReceivedObjectSize applies
 * to one read: an exec channel carries bytes, not objects.
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "address.h"
#include "defaults.h"
#include "ps_limits.h"
#include "ps_transport.h"
#include "ssh.h"

/* The most one read from a channel returns; libssh2 packets carry at most
 * 32 KB, so a chunk is one packet or less. */
#define CHUNK 32768
/* How long stopping a command (signal, close) may take before the channel is
 * abandoned to the session. */
#define STOP_MS 3000u
/* How a command is stopped (stop_command), for messages. */
#if LIBSSH2_VERSION_NUM >= 0x010b00
#define STOP_HOW "signal TERM, channel closed"
#else
#define STOP_HOW "channel closed"
#endif

enum op_phase {
	OP_OPEN,  /* opening the channel */
	OP_EXEC,  /* sending the exec request, waiting for its answer */
	OP_RUN,   /* stdin out, output in */
	OP_CLOSE, /* output over: closing, waiting for the server's close */
	OP_DONE,  /* exit status known (or failed); channel freed or parked */
};

struct ssh_op {
	rms_ps_cmd *c;
	enum op_phase phase;
	LIBSSH2_CHANNEL *ch;
	char *line; /* the command line, until the exec is answered */
	/* Opening and exec: bounded by the operation timeout, or the
	 * request's time limit when shorter. */
	uint64_t start_deadline;
	uint32_t start_limit;
	uint64_t deadline_ms; /* the request's time limit; 0: none */
	uint64_t received;
	/* stdin: the bytes being written are in[in_off..in_len) */
	bool stdin_pending; /* more stdin (or its EOF) to send */
	bool stdin_cb_eof;  /* the callback said end of input */
	const unsigned char *in;
	size_t in_len, in_off;
	unsigned char *cbbuf; /* the callback's buffer */
	/* A stdin write stopped on a full socket: wait for POLLOUT too (the
	 * reads that follow leave libssh2 reporting only inbound). */
	bool write_blocked;
	/* output */
	bool out_eof, err_eof;
	bool prefer_err;      /* which stream is read first, alternating for fairness */
	unsigned zero_rounds; /* reads that gave 0 bytes without EOF, in a row */
	bool stopped;         /* a stop was attempted */
	/* A chunk read into buf that next_chunk has not handed out yet. */
	bool have_chunk;
	rms_stream chunk_stream;
	size_t chunk_len;
	/* The exit status, once the channel closed (phase OP_DONE). */
	bool exited;
	int exit_code;
	char signal[16]; /* exit-signal name, or "" */
	rms_chunk piece; /* the chunk reported from buf */
	char buf[CHUNK];
};

/* A command's transport state: every op this file is given was begun
 * here, so it has one. */
static struct ssh_op *sop(rms_op *op)
{
	return rms__ps_cmd_of(op)->t;
}

/* ---- libssh2 initialisation --------------------------------------------- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

static void init_libssh2(void)
{
	/* Reference-counted inside libssh2, so an rms_global_init() that also
	 * called it is fine; this one is never undone, as curl's. */
	init_rc = libssh2_init(0);
}

/* The connection is gone: the session turns Broken with the error just
 * raised as the reason. */
static void mark_broken(rms_session *s)
{
	struct ssh_conn *c = rms__ps_conn(s);
	rms__ps_session_lost(s);
	c->connected = false;
	if (c->counted) {
		c->counted = false;
		if (s->stats.connections_open)
			s->stats.connections_open--;
	}
}

/* A failure during a command. Only a failure of the connection itself (the
 * socket, the SSH transport) turns the session Broken; one that concerns a
 * channel, or libssh2 refusing a call (BAD_USE, INVAL), fails the command
 * only. */
static int conn_failed(rms_session *s, const char *what)
{
	struct ssh_conn *c = rms__ps_conn(s);
	int e = libssh2_session_last_errno(c->ssh);
	if (rms__ssh_channel_error(e))
		return rms__ssh_error(c, RMS_E_SSH, RMS_PHASE_REMOTE, what);
	if (!rms__ssh_transport_error(e))
		return rms__ssh_error(c, RMS_E_SSH, RMS_PHASE_REMOTE, what);
	int rc;
	if (rms__ssh_socket_error(e)) {
		char buf[160];
		snprintf(buf, sizeof buf, "the SSH connection to %s port %u was lost: %s", c->host,
		         c->port, what);
		rc = rms__ssh_error(c, RMS_E_CONNECTION_LOST, RMS_PHASE_RECEIVE, buf);
	} else {
		rc = rms__ssh_error(c, RMS_E_SSH, RMS_PHASE_RECEIVE, what);
	}
	mark_broken(s);
	return rc;
}

/* ---- a packet half sent ------------------------------------------------- */

/* After a libssh2 call returned EAGAIN: did it leave a packet half sent? */
static bool out_blocked(struct ssh_conn *c)
{
	return libssh2_session_block_directions(c->ssh) & LIBSSH2_SESSION_BLOCK_OUTBOUND;
}

/* Record the call that left a packet half sent (see enum ssh_pend_kind),
 * for op (NULL: a cleanup nobody waits for). 0, or RMS_E_NOMEM. */
static int set_pending(rms_session *s, rms_op *op, enum ssh_pend_kind kind, LIBSSH2_CHANNEL *ch,
                       const void *data, size_t len)
{
	struct ssh_conn *c = rms__ps_conn(s);
	rms__log(&s->log, RMS_LOG_DEBUG,
	         "%s: a packet is half sent (call %d); it is finished before any other", s->name,
	         (int)kind);
	c->pend = kind;
	c->pend_ch = ch;
	c->pend_op = op;
	c->pend_len = 0;
	if (kind == PEND_WRITE) {
		/* libssh2 sends at most one packet per write: its data fits. */
		c->pend_len = len < sizeof c->pend_buf ? len : sizeof c->pend_buf;
		memcpy(c->pend_buf, data, c->pend_len);
	} else if (kind == PEND_EXEC && !(c->pend_line = strdup(data))) {
		/* Without the line the exec cannot be repeated. */
		return rms__error_nomem();
	}
	return 0;
}

static void clear_pending(struct ssh_conn *c)
{
	c->pend = PEND_NONE;
	c->pend_ch = NULL;
	c->pend_op = NULL;
	free(c->pend_line);
	c->pend_line = NULL;
}

static void park_raw(struct ssh_conn *c, LIBSSH2_CHANNEL *ch);
static void count_stdin(rms_op *op, size_t n);
static int exec_done(rms_op *op);

/* The pending call is out (rc: its result): tell the command it belongs to
 * what became of it, when another step finished it. */
static void credit_owner(struct ssh_conn *c, ssize_t rc, LIBSSH2_CHANNEL *opened)
{
	rms_op *op = c->pend_op;
	struct ssh_op *p = op ? sop(op) : NULL;
	if (!p) {
		if (opened) /* nobody waits for it any more */
			park_raw(c, opened);
		return;
	}
	switch (c->pend) {
	case PEND_OPEN:
		if (opened && p->phase == OP_OPEN) {
			p->ch = opened;
			p->phase = OP_EXEC;
		} else if (opened) {
			park_raw(c, opened);
		}
		break;
	case PEND_EXEC:
		/* Answered already: the owner must not send a second exec. A
		 * failure there is only the lack of memory for stdin, which
		 * the owner then sends none of. */
		if (rc == 0 && p->phase == OP_EXEC && exec_done(op))
			p->stdin_pending = false;
		break;
	case PEND_WRITE:
		if (rc > 0)
			count_stdin(op, (size_t)rc);
		else if (rc < 0 && rc != LIBSSH2_ERROR_EAGAIN)
			p->stdin_pending = false; /* the command stopped reading */
		break;
	case PEND_EOF:
		p->stdin_pending = false;
		break;
	default:
		break;
	}
}

/* Repeat the pending call once, without waiting. 0 when the packet is out,
 * RMS_EAGAIN while it is not, or -1 (not RMS_EAGAIN) with libssh2's error
 * when the call failed. */
static int retry_pending(struct ssh_conn *c)
{
	ssize_t rc = 0;
	LIBSSH2_CHANNEL *opened = NULL;
	unsigned int window = 0;
	switch (c->pend) {
	case PEND_NONE:
		return 0;
	case PEND_OPEN:
		opened = libssh2_channel_open_session(c->ssh);
		rc = opened ? 0 : libssh2_session_last_errno(c->ssh);
		break;
	case PEND_EXEC:
		rc = libssh2_channel_exec(c->pend_ch, c->pend_line);
		break;
	case PEND_WRITE:
		rc = libssh2_channel_write(c->pend_ch, c->pend_buf, c->pend_len);
		break;
	case PEND_EOF:
		rc = libssh2_channel_send_eof(c->pend_ch);
		break;
	case PEND_ADJUST:
		/* A zero adjustment finishes the queued one and adds none. */
		rc = libssh2_channel_receive_window_adjust2(c->pend_ch, 0, 0, &window);
		break;
	case PEND_CLOSE:
		rc = libssh2_channel_close(c->pend_ch);
		break;
	case PEND_FREE:
		rc = libssh2_channel_free(c->pend_ch);
		if (rc == 0) {
			/* Freed: forget it among the parked channels. */
			for (size_t i = 0; i < c->nparked; i++)
				if (c->parked[i] == c->pend_ch)
					c->parked[i] = c->parked[--c->nparked];
		}
		break;
	}
	if (rc == LIBSSH2_ERROR_EAGAIN && out_blocked(c))
		return RMS_EAGAIN;
	/* Out (the call may still wait for the server's answer, which a later
	 * call of the same kind collects), or failed. */
	credit_owner(c, rc, opened);
	clear_pending(c);
	return rc < 0 && rc != LIBSSH2_ERROR_EAGAIN ? -1 : 0;
}

/* Cleanup: finish the pending send before another, waiting until deadline.
 * 0, or an error (RMS_E_TIMEOUT when the socket did not take it in time;
 * the session turns Broken if the connection failed). */
static int flush_pending(rms_session *s, uint64_t deadline, uint32_t limit, const char *what)
{
	struct ssh_conn *c = rms__ps_conn(s);
	while (c->pend != PEND_NONE) {
		int rc = retry_pending(c);
		if (rc == 0)
			return 0;
		if (rc != RMS_EAGAIN) {
			int e = libssh2_session_last_errno(c->ssh);
			if (rms__ssh_transport_error(e))
				return conn_failed(s, what);
			return 0; /* that call failed; nothing is pending now */
		}
		if ((rc = rms__ssh_block(c, deadline, limit, RMS_PHASE_SEND, what)))
			return rc;
	}
	return 0;
}

/* A step: finish the pending send first, whichever command it belongs to.
 * 0 when nothing is pending (any more), RMS_EAGAIN (w: the socket, to
 * write), or the connection's failure. */
static int step_pending(rms_session *s, rms_wait *w)
{
	struct ssh_conn *c = rms__ps_conn(s);
	if (c->pend == PEND_NONE)
		return 0;
	int rc = retry_pending(c);
	if (rc == RMS_EAGAIN) {
		rms__ssh_wait_fill(c, w, RMS_WAIT_OUT, 0);
		return RMS_EAGAIN;
	}
	if (rc < 0 && rms__ssh_transport_error(libssh2_session_last_errno(c->ssh)))
		return conn_failed(s, "finishing a half-sent packet");
	return 0;
}

/* ---- the session -------------------------------------------------------- */

static bool ssh_supports(const rms_session_options *o, rms_op_kind kind)
{
	(void)o;
	/* The same kinds as the PSSession over WinRM; CIM through the session
	 * is not built for SSH yet and says so. */
	return kind == RMS_OP_RUN || kind == RMS_OP_GET || kind == RMS_OP_ENUMERATE ||
	       kind == RMS_OP_QUERY;
}

static void opened(rms_session *s)
{
	struct ssh_conn *c = rms__ps_conn(s);
	rms__log(&s->log, RMS_LOG_INFO, "%s: SSH session open as %s on %s port %u", s->name,
	         s->opts.user, c->host, c->port);
}

/* Begins connecting (resolve, TCP connect); open_step does the rest. On
 * failure destroy frees what was made. */
static int ssh_open(rms_session *s)
{
	pthread_once(&init_once, init_libssh2);
	if (init_rc)
		return rms__error_set(RMS_E_INTERNAL, RMS_PHASE_NONE,
		                      "libssh2 initialisation failed (error %d)", init_rc);
	struct ssh_conn *c = calloc(1, sizeof *c);
	if (!c)
		return rms__error_nomem();
	c->fd = -1;
	rms__ps_set_conn(s, c);
	c->password = s->opts.password;
	rms_endpoint ep;
	int rc = rms__endpoint_resolve(&ep, &s->opts);
	if (rc)
		return rc;
	c->port = ep.port;
	rms__endpoint_free(&ep);
	if (!(c->host = strdup(s->computer_name)))
		return rms__error_nomem();
	uint32_t limit = s->opts.connect_timeout_ms ? s->opts.connect_timeout_ms
	                                            : RMS_DEFAULT_CONNECT_TIMEOUT_MS;
	rc = rms__ssh_connect_begin(s, c, limit);
	if (rc == 0)
		opened(s);
	return rc;
}

static int ssh_open_step(rms_session *s, rms_wait *w)
{
	int rc = rms__ssh_connect_step(s, rms__ps_conn(s), w);
	if (rc == 0)
		opened(s);
	return rc;
}

static void reap_parked(rms_session *s);

/* Free libssh2's session and the socket (after the polite disconnect, or
 * without it). */
static void disconnect_free(rms_session *s, struct ssh_conn *c)
{
	rms__ssh_connect_free(c);
	if (c->ssh) {
		/* With the socket shut down libssh2 sees the connection gone and
		 * frees channels without waiting for the server's close (a parked
		 * channel's would never come). The descriptor stays open until
		 * libssh2 is done with it, so its number cannot be reused under it. */
		if (c->fd >= 0)
			shutdown(c->fd, SHUT_RDWR);
		int rc, tries = 0;
		while ((rc = libssh2_session_free(c->ssh)) == LIBSSH2_ERROR_EAGAIN &&
		       ++tries < 1000)
			;
		if (rc)
			rms__log(&s->log, RMS_LOG_WARNING,
			         "%s: libssh2 could not free its session "
			         "(error %d)",
			         s->name, rc);
		c->ssh = NULL;
	}
	clear_pending(c); /* its channel went with libssh2's session */
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	if (c->counted) {
		c->counted = false;
		if (s->stats.connections_open)
			s->stats.connections_open--;
	}
	c->connected = false;
}

/* Whether the server is owed an SSH disconnect. */
static bool polite(const rms_session *s, const struct ssh_conn *c)
{
	return c->ssh && c->connected && c->handshaken && s->state == RMS_STATE_OPENED;
}

/* One try at the disconnect, a half-sent packet first (it must go out
 * before any other): RMS_EAGAIN when the socket must be waited on, else 0
 * (sent, or failed: either way nothing more is tried). */
static int disconnect_try(struct ssh_conn *c)
{
	if (c->pend != PEND_NONE && retry_pending(c) == RMS_EAGAIN)
		return RMS_EAGAIN;
	if (c->pend != PEND_NONE)
		return 0;
	return libssh2_session_disconnect(c->ssh, "remsess session closed") == LIBSSH2_ERROR_EAGAIN
	               ? RMS_EAGAIN
	               : 0;
}

/* Disconnect politely (bounded by RMS_CLEANUP_TIMEOUT_MS, blocking), then
 * free. For destroy: a close abandoned midway (c->closing) sends nothing
 * more. */
static void disconnect(rms_session *s, struct ssh_conn *c)
{
	rms__ssh_connect_free(c);
	if (polite(s, c) && !c->closing) {
		uint32_t limit = RMS_CLEANUP_TIMEOUT_MS;
		uint64_t deadline = rms__now_ms() + limit;
		struct rms_error *keep = rms__error_park();
		while (disconnect_try(c) == RMS_EAGAIN)
			if (rms__ssh_block(c, deadline, limit, RMS_PHASE_SEND, "SSH disconnect"))
				break;
		rms__error_unpark(keep);
	}
	disconnect_free(s, c);
}

/* The close is over: everything freed. */
static int close_end(rms_session *s, struct ssh_conn *c)
{
	disconnect_free(s, c);
	/* Their channels went with libssh2's session: each command's next
	 * step fails it, so have it stepped now rather than when its wait
	 * (the closed socket, a deadline) ends. */
	for (size_t i = 0; i < c->nactive; i++)
		rms__ps_op_wake(c->active[i]);
	return 0;
}

/* Begins closing; the disconnect goes out from close_step, driven on
 * EAGAIN with the socket in the wait, until RMS_CLEANUP_TIMEOUT_MS. */
static int ssh_close(rms_session *s)
{
	struct ssh_conn *c = rms__ps_conn(s);
	if (!c)
		return 0;
	reap_parked(s);
	rms__ssh_connect_free(c);
	c->closing = true;
	c->close_until = rms__now_ms() + RMS_CLEANUP_TIMEOUT_MS;
	return polite(s, c) ? RMS_EAGAIN : close_end(s, c);
}

static int ssh_close_step(rms_session *s, rms_wait *w)
{
	struct ssh_conn *c = rms__ps_conn(s);
	if (!c)
		return 0;
	if (polite(s, c)) {
		if (rms__now_ms() >= c->close_until) {
			rms__log(&s->log, RMS_LOG_WARNING,
			         "%s: the SSH disconnect did not go out within %u ms", s->name,
			         RMS_CLEANUP_TIMEOUT_MS);
		} else {
			struct rms_error *keep = rms__error_park();
			int rc = disconnect_try(c);
			rms__error_unpark(keep);
			if (rc == RMS_EAGAIN) {
				rms__ssh_wait_fill(c, w, 0, c->close_until);
				return RMS_EAGAIN;
			}
		}
	}
	return close_end(s, c);
}

static void ssh_destroy(rms_session *s)
{
	struct ssh_conn *c = rms__ps_conn(s);
	if (!c)
		return;
	disconnect(s, c);
	free(c->parked); /* the channels went with libssh2's session */
	free(c->active); /* ops outliving their session are the caller's error */
	free(c->pend_line);
	free(c->host);
	free(c);
	rms__ps_set_conn(s, NULL);
}

/* ---- commands ----------------------------------------------------------- */

/* The command line: the command and its arguments joined by single spaces,
 * as the WinRM shell gets them; the remote user's shell interprets it. */
static char *command_line(const rms_ps_cmd *r)
{
	rms_buf b;
	rms__buf_init(&b);
	rms__buf_puts(&b, r->command);
	for (size_t i = 0; i < r->argc; i++) {
		rms__buf_puts(&b, " ");
		rms__buf_puts(&b, r->argv[i]);
	}
	return rms__buf_take(&b);
}

/* ---- the commands with a channel on the connection ---------------------- */

static int add_active(struct ssh_conn *c, rms_op *op)
{
	if (c->nactive == c->capactive) {
		size_t cap = c->capactive ? c->capactive * 2 : 4;
		rms_op **n = realloc(c->active, cap * sizeof *n);
		if (!n)
			return rms__error_nomem();
		c->active = n;
		c->capactive = cap;
	}
	c->active[c->nactive++] = op;
	return 0;
}

static void remove_active(struct ssh_conn *c, rms_op *op)
{
	for (size_t i = 0; i < c->nactive; i++)
		if (c->active[i] == op) {
			c->active[i] = c->active[--c->nactive];
			return;
		}
}

/* A call made for op (a step, a stop, a release, a begin) read from the
 * socket (rx: c->rx_bytes before it): packets for the other commands may
 * now sit in libssh2's queue with nothing left for poll() to see, so each
 * is made due at once (rms__ps_op_wake). Every call that may read goes
 * through here: a command whose EOF and exit status were read while
 * another was being stopped would otherwise wait on a silent socket, with
 * no deadline, for ever. */
static void wake_others(struct ssh_conn *c, rms_op *op, uint64_t rx)
{
	if (c->rx_bytes == rx)
		return;
	for (size_t i = 0; i < c->nactive; i++)
		if (c->active[i] != op)
			rms__ps_op_wake(c->active[i]);
}

/* When op's cleanup must be over: STOP_MS from now, and never past the
 * deadline the protocol layer set for the op's whole cleanup (stop and
 * release together within RMS_CLEANUP_TIMEOUT_MS). */
static uint64_t cleanup_deadline(rms_op *op)
{
	uint64_t d = rms__now_ms() + STOP_MS;
	const rms_ps_cmd *cmd = rms__ps_cmd_of(op);
	if (cmd && cmd->cleanup_deadline_ms && cmd->cleanup_deadline_ms < d)
		d = cmd->cleanup_deadline_ms;
	return d;
}

/* ---- channels ----------------------------------------------------------- */

/* Cleanup: free op's channel, waiting for the server's close until deadline;
 * a channel not closed by then is parked (freed later, or with the
 * session). */
static void free_channel(rms_op *op, uint64_t deadline)
{
	struct ssh_op *p = sop(op);
	struct ssh_conn *c = rms__ps_conn(op->session);
	if (!p->ch)
		return;
	if (c->closing) {
		/* Freed with libssh2's session; nothing goes out under the
		 * disconnect. */
		p->ch = NULL;
		return;
	}
	if (c->connected && !flush_pending(op->session, deadline, STOP_MS, "closing the channel")) {
		int rc;
		while ((rc = libssh2_channel_free(p->ch)) == LIBSSH2_ERROR_EAGAIN)
			if (rms__ssh_block(c, deadline, STOP_MS, RMS_PHASE_SEND,
			                   "closing the channel"))
				break;
		if (rc == LIBSSH2_ERROR_EAGAIN) {
			if (out_blocked(c))
				set_pending(op->session, NULL, PEND_FREE, p->ch, NULL, 0);
			park_raw(c, p->ch);
			rms__log(&op->session->log, RMS_LOG_WARNING,
			         "%s: the server did not close a command's channel in time",
			         op->session->name);
		}
	} else if (c->connected) {
		/* A half-sent packet is in the way: free it later. */
		park_raw(c, p->ch);
	}
	/* On a dead connection libssh2_session_free frees every channel. */
	p->ch = NULL;
}

/* Free the parked channels whose close has arrived, without waiting. A
 * free that leaves its close packet half sent stops the round. */
static void reap_parked(rms_session *s)
{
	struct ssh_conn *c = rms__ps_conn(s);
	if (!c->connected) {
		c->nparked = 0;
		return;
	}
	if (c->pend != PEND_NONE && retry_pending(c) == RMS_EAGAIN)
		return;
	size_t kept = 0;
	for (size_t i = 0; i < c->nparked; i++) {
		LIBSSH2_CHANNEL *ch = c->parked[i];
		if (c->pend == PEND_NONE && libssh2_channel_free(ch) != LIBSSH2_ERROR_EAGAIN)
			continue;
		if (c->pend == PEND_NONE && out_blocked(c))
			set_pending(s, NULL, PEND_FREE, ch, NULL, 0);
		c->parked[kept++] = ch;
	}
	c->nparked = kept;
}

/* Keep a channel to be freed when the server has closed it; if memory runs
 * out, libssh2 frees it with the session. */
static void park_raw(struct ssh_conn *c, LIBSSH2_CHANNEL *ch)
{
	if (c->nparked == c->capparked) {
		size_t cap = c->capparked ? c->capparked * 2 : 8;
		LIBSSH2_CHANNEL **n = realloc(c->parked, cap * sizeof *n);
		if (!n)
			return;
		c->parked = n;
		c->capparked = cap;
	}
	c->parked[c->nparked++] = ch;
}

static void park_channel(rms_op *op)
{
	struct ssh_op *p = sop(op);
	park_raw(rms__ps_conn(op->session), p->ch);
	p->ch = NULL;
}

/*
 * Stop a running command, keeping the caller's error. Cleanup: it may wait,
 * at most STOP_MS, for the socket to take the signal and the close.
 *
 * The SSH way is the "signal" channel request (OpenSSH sends the signal to
 * the command's process group). libssh2 has it from 1.11
 * (libssh2_channel_signal_ex); 1.10, Debian 12's, cannot send any request on
 * a channel after exec. There the channel is closed: OpenSSH then closes the
 * command's stdout and stderr pipes and its stdin, so a command that writes
 * output dies of SIGPIPE and one that reads stdin sees its end, but a
 * command doing neither runs on until it ends by itself (OpenSSH keeps the
 * channel until then). The client does not wait for that: the channel is
 * parked and freed when the server closes it.
 */
static void stop_command(rms_op *op)
{
	struct ssh_op *p = sop(op);
	rms_session *s = op->session;
	struct ssh_conn *c = rms__ps_conn(s);
	if (!p || !p->ch || p->stopped || p->exited || !c->connected || c->closing)
		return;
	p->stopped = true;
	struct rms_error *keep = rms__error_park();
	uint64_t deadline = cleanup_deadline(op);
	int rc;
	/* A half-sent packet (a stdin write blocked on a full socket, say)
	 * must go out before the signal or the close. */
	if (flush_pending(s, deadline, STOP_MS, "finishing a half-sent packet")) {
		if (c->connected)
			park_channel(op);
		rms__log(&s->log, RMS_LOG_WARNING,
		         "%s: a half-sent packet did not go out within %u ms; the command's "
		         "channel is left open",
		         s->name, STOP_MS);
		rms__error_unpark(keep);
		return;
	}
#if LIBSSH2_VERSION_NUM >= 0x010b00
	while ((rc = libssh2_channel_signal_ex(p->ch, "TERM", 4)) == LIBSSH2_ERROR_EAGAIN)
		if (rms__ssh_block(c, deadline, STOP_MS, RMS_PHASE_SEND, "signalling the command"))
			break;
	if (rc)
		rms__log(&s->log, RMS_LOG_DEBUG, "%s: signal TERM failed (libssh2 error %d)",
		         s->name, rc);
#endif
	bool waiting = false;
	while ((rc = libssh2_channel_close(p->ch)) == LIBSSH2_ERROR_EAGAIN) {
		/* Blocked on input only: our close is sent, the server's is
		 * pending. */
		if (!out_blocked(c)) {
			waiting = true;
			break;
		}
		if (rms__ssh_block(c, deadline, STOP_MS, RMS_PHASE_SEND,
		                   "closing the command's channel"))
			break;
	}
	if (rc == 0) {
		free_channel(op, deadline);
	} else if (waiting) {
		park_channel(op);
		rms__log(&s->log, RMS_LOG_DEBUG,
		         "%s: command channel closed; the server closes it when the command "
		         "ends",
		         s->name);
	} else if (rc == LIBSSH2_ERROR_EAGAIN) {
		/* The close did not go out in time: it is finished before the
		 * next send. */
		if (out_blocked(c))
			set_pending(s, NULL, PEND_CLOSE, p->ch, NULL, 0);
		park_channel(op);
	} else {
		conn_failed(s, "closing the command's channel");
		if (c->connected)
			free_channel(op, deadline);
	}
	rms__error_unpark(keep);
}

/* ---- starting a command ------------------------------------------------- */

/* After EAGAIN while opening the channel or starting the command: wait, or
 * time out (phase send, as the request has not gone out). A packet left
 * half sent is recorded for the next step of any command. */
static int start_again(rms_op *op, rms_wait *w, enum ssh_pend_kind kind, const char *what)
{
	struct ssh_op *p = sop(op);
	struct ssh_conn *c = rms__ps_conn(op->session);
	if (out_blocked(c)) {
		int rc = set_pending(op->session, op, kind, p->ch, p->line, 0);
		if (rc)
			return rc;
	}
	if (rms__now_ms() >= p->start_deadline)
		return rms__error_set(RMS_E_TIMEOUT, RMS_PHASE_SEND, "%s did not complete within %u ms",
		                      what, p->start_limit);
	rms__ssh_wait_fill(c, w, 0, p->start_deadline);
	return RMS_EAGAIN;
}

static int open_channel(rms_op *op, rms_wait *w)
{
	struct ssh_op *p = sop(op);
	rms_session *s = op->session;
	struct ssh_conn *c = rms__ps_conn(s);
	if (!(p->ch = libssh2_channel_open_session(c->ssh))) {
		if (libssh2_session_last_errno(c->ssh) != LIBSSH2_ERROR_EAGAIN)
			return conn_failed(s, "opening an SSH channel");
		return start_again(op, w, PEND_OPEN, "opening an SSH channel");
	}
	p->phase = OP_EXEC;
	return 0;
}

/* The exec went through: count it, and get stdin ready. */
static int exec_done(rms_op *op)
{
	struct ssh_op *p = sop(op);
	rms_session *s = op->session;
	/* The channel open and the exec request, which carries the command
	 * line. */
	size_t linelen = strlen(p->line);
	s->stats.requests += 2;
	s->stats.round_trips += 2;
	s->stats.bytes_sent += linelen;
	if (linelen > s->stats.largest_request)
		s->stats.largest_request = linelen;
	rms__log(&s->log, RMS_LOG_DEBUG, "%s: command started: %s", s->name, p->line);
	free(p->line);
	p->line = NULL;
	if (op->req->stdin_fn) {
		if (!(p->cbbuf = malloc(CHUNK)))
			return rms__error_nomem();
		p->stdin_pending = true;
	} else if (op->req->has_stdin) {
		p->in = op->req->stdin_data;
		p->in_len = op->req->stdin_len;
		p->stdin_pending = true;
	}
	p->phase = OP_RUN;
	/* The request's time limit applies from here (before, the start
	 * deadline does). */
	p->c->started = true;
	return 0;
}

static int exec_command(rms_op *op, rms_wait *w)
{
	struct ssh_op *p = sop(op);
	int rc = libssh2_channel_exec(p->ch, p->line);
	if (rc == LIBSSH2_ERROR_EAGAIN)
		return start_again(op, w, PEND_EXEC, "starting the command");
	if (rc)
		return conn_failed(op->session, "starting the command (exec)");
	return exec_done(op);
}

/* Open the channel and exec the command: 0 when it runs (phase OP_RUN),
 * RMS_EAGAIN (w filled), or the failure. */
static int start_step(rms_op *op, rms_wait *w)
{
	struct ssh_op *p = sop(op);
	int rc;
	rms__wait_clear(w);
	if ((rc = step_pending(op->session, w)))
		return rc;
	if (p->phase == OP_OPEN && (rc = open_channel(op, w)))
		return rc;
	if (p->phase == OP_EXEC)
		return exec_command(op, w);
	return 0;
}

/* Only commands are begun here: the protocol layer runs no CIM over SSH
 * (cim_commands) and IDENTIFY is not supported. */
static int sshexec_begin(rms_ps_cmd *cmd)
{
	rms_op *op = cmd->op;
	rms_session *s = op->session;
	struct ssh_conn *c = rms__ps_conn(s);
	struct ssh_op *p = calloc(1, sizeof *p);
	if (!p)
		return rms__error_nomem();
	cmd->t = p;
	p->c = cmd;
	p->phase = OP_OPEN;
	if (!(p->line = command_line(cmd)))
		return rms__error_nomem();
	int rc = add_active(c, op);
	if (rc)
		return rc;
	uint64_t now = rms__now_ms();
	p->start_limit = s->opts.operation_timeout_ms ? s->opts.operation_timeout_ms
	                                              : RMS_DEFAULT_OPERATION_TIMEOUT_MS;
	p->start_deadline = now + p->start_limit;
	if (cmd->deadline_ms) {
		p->deadline_ms = cmd->deadline_ms;
		if (p->deadline_ms < p->start_deadline) {
			p->start_deadline = p->deadline_ms;
			p->start_limit = op->req->timeout_ms;
		}
	}
	uint64_t rx = c->rx_bytes;
	reap_parked(s);
	/* As far as it goes without waiting; step does the rest. A blocking
	 * caller's rms_op_start returns with the command running, or its
	 * failure, as it always has: that caller waits here. */
	rms_wait w;
	while ((rc = start_step(op, &w)) == RMS_EAGAIN && !op->nonblocking)
		if ((rc = rms__wait_block(&w)))
			break;
	wake_others(c, op, rx);
	return rc == RMS_EAGAIN ? 0 : rc;
}

/* ---- stdin -------------------------------------------------------------- */

static void count_stdin(rms_op *op, size_t n)
{
	struct ssh_op *p = sop(op);
	rms_stats *st = &op->session->stats;
	p->in_off += n;
	st->bytes_sent += n;
	if (n > st->largest_request)
		st->largest_request = n;
}

/* A stdin write failed (not EAGAIN). 0 when the command just stopped
 * reading (the rest is dropped, as a pipe to a process that exited drops
 * it), or the error. */
static int stdin_failed(rms_op *op, const char *what)
{
	struct ssh_op *p = sop(op);
	int e = libssh2_session_last_errno(((struct ssh_conn *)rms__ps_conn(op->session))->ssh);
	if (rms__ssh_channel_error(e) || libssh2_channel_eof(p->ch)) {
		p->stdin_pending = false;
		return 0;
	}
	return conn_failed(op->session, what);
}

/* Refill the stdin buffer from the request's callback when it is used up.
 * 0, or the cancel the callback asked for. */
static int refill_stdin(rms_op *op)
{
	struct ssh_op *p = sop(op);
	rms_request *r = op->req;
	if (p->in_off < p->in_len || !r->stdin_fn || p->stdin_cb_eof)
		return 0;
	long got = r->stdin_fn(p->cbbuf, CHUNK, r->stdin_userdata);
	if (got < 0)
		return rms__ps_cmd_cancelled(p->c, "the stdin callback aborted");
	if (got == 0)
		p->stdin_cb_eof = true;
	p->in = p->cbbuf;
	p->in_len = (size_t)got > CHUNK ? CHUNK : (size_t)got;
	p->in_off = 0;
	return 0;
}

/* Send what stdin can be sent without blocking. 0, or an error. */
static int pump_stdin(rms_op *op)
{
	struct ssh_op *p = sop(op);
	struct ssh_conn *c = rms__ps_conn(op->session);
	int rc;
	p->write_blocked = false;
	while (p->stdin_pending) {
		if ((rc = refill_stdin(op)))
			return rc;
		if (p->in_off < p->in_len) {
			ssize_t n = libssh2_channel_write(p->ch, (const char *)p->in + p->in_off,
			                                  p->in_len - p->in_off);
			/* 0: the server's window is full; its adjust arrives as input. */
			if (n == LIBSSH2_ERROR_EAGAIN || n == 0) {
				/* EAGAIN with the socket full: the packet is half
				 * sent and must be finished before anything else. */
				if (n == LIBSSH2_ERROR_EAGAIN && out_blocked(c)) {
					set_pending(op->session, op, PEND_WRITE, p->ch,
					            p->in + p->in_off, p->in_len - p->in_off);
					p->write_blocked = true;
				}
				return 0;
			}
			if (n < 0)
				return stdin_failed(op, "sending stdin");
			count_stdin(op, (size_t)n);
			continue;
		}
		/* Everything sent: end of input. */
		rc = libssh2_channel_send_eof(p->ch);
		if (rc == LIBSSH2_ERROR_EAGAIN) {
			if (out_blocked(c)) {
				set_pending(op->session, op, PEND_EOF, p->ch, NULL, 0);
				p->write_blocked = true;
			}
			return 0;
		}
		if (rc && !rms__ssh_channel_error(libssh2_session_last_errno(c->ssh)))
			return conn_failed(op->session, "sending end of stdin");
		p->stdin_pending = false;
	}
	return 0;
}

/* ---- output ------------------------------------------------------------- */

/* Read one piece of output into p->buf: 0 with a chunk (have_chunk set),
 * RMS_EAGAIN when none is there yet, or an error. Both streams at their
 * end: phase OP_CLOSE. */
static int read_output(rms_op *op)
{
	struct ssh_op *p = sop(op);
	struct ssh_conn *c = rms__ps_conn(op->session);
	for (int i = 0; i < 2; i++) {
		bool err = (i == 0) == p->prefer_err;
		if (err ? p->err_eof : p->out_eof)
			continue;
		ssize_t n = libssh2_channel_read_ex(p->ch, err ? SSH_EXTENDED_DATA_STDERR : 0,
		                                    p->buf, sizeof p->buf);
		if (n == LIBSSH2_ERROR_EAGAIN) {
			/* The read's window adjust is half sent. */
			if (out_blocked(c)) {
				set_pending(op->session, op, PEND_ADJUST, p->ch, NULL, 0);
				p->write_blocked = true;
				return RMS_EAGAIN;
			}
			continue;
		}
		if (n < 0)
			return conn_failed(op->session, "reading the command's output");
		if (n == 0) {
			/* 0 means the server sent EOF (or closed); a server that
			 * closes without EOF is taken as done after a few rounds. */
			if (libssh2_channel_eof(p->ch) || ++p->zero_rounds > 8) {
				if (err)
					p->err_eof = true;
				else
					p->out_eof = true;
			}
			continue;
		}
		p->zero_rounds = 0;
		p->prefer_err = !err;
		/* Received is received, whether or not a cap then refuses it. */
		op->session->stats.bytes_received += (uint64_t)n;
		p->have_chunk = true;
		p->chunk_stream = err ? RMS_STREAM_STDERR : RMS_STREAM_STDOUT;
		p->chunk_len = (size_t)n;
		return 0;
	}
	if (p->out_eof && p->err_eof)
		p->phase = OP_CLOSE;
	return RMS_EAGAIN;
}

/* Stdin out and output in, as far as possible without waiting: 0 with a
 * chunk read, RMS_EAGAIN (w filled, or the phase moved on to closing), or
 * an error. */
static int run_step(rms_op *op, rms_wait *w)
{
	struct ssh_op *p = sop(op);
	struct ssh_conn *c = rms__ps_conn(op->session);
	int rc;
	while (p->phase == OP_RUN) {
		if ((rc = step_pending(op->session, w)))
			return rc;
		if (p->stdin_pending && (rc = pump_stdin(op)))
			return rc;
		/* Nothing else may be sent while a packet is half out, and a
		 * read may send a window adjust. */
		if (c->pend != PEND_NONE)
			rc = RMS_EAGAIN;
		else
			rc = read_output(op);
		if (rc == RMS_EAGAIN && p->phase == OP_RUN) {
			rms__ssh_wait_fill(c, w, p->write_blocked ? RMS_WAIT_OUT : 0, p->deadline_ms);
			return RMS_EAGAIN;
		}
		if (rc && rc != RMS_EAGAIN)
			return rc;
		if (p->have_chunk)
			return 0;
	}
	return RMS_EAGAIN;
}

/* The output is over: close our side, wait for the server's close (which
 * follows its exit status), and read the exit status. 0 when the command
 * has ended, RMS_EAGAIN, or an error. */
static int close_step(rms_op *op, rms_wait *w)
{
	struct ssh_op *p = sop(op);
	rms_session *s = op->session;
	struct ssh_conn *c = rms__ps_conn(s);
	int rc = step_pending(s, w);
	if (rc)
		return rc;
	rc = libssh2_channel_close(p->ch);
	/* libssh2 waits for the server's close only after its EOF (else
	 * LIBSSH2_ERROR_INVAL): a server that closed without EOF has closed. */
	if (rc == 0 && libssh2_channel_eof(p->ch))
		rc = libssh2_channel_wait_closed(p->ch);
	if (rc == LIBSSH2_ERROR_INVAL)
		rc = 0;
	if (rc == LIBSSH2_ERROR_EAGAIN) {
		bool out = out_blocked(c);
		if (out)
			set_pending(s, op, PEND_CLOSE, p->ch, NULL, 0);
		rms__ssh_wait_fill(c, w, out ? RMS_WAIT_OUT : 0, p->deadline_ms);
		return RMS_EAGAIN;
	}
	if (rc)
		return conn_failed(s, "closing the command's channel");
	char *sig = NULL;
	size_t siglen = 0;
	libssh2_channel_get_exit_signal(p->ch, &sig, &siglen, NULL, NULL, NULL, NULL);
	if (sig && siglen)
		snprintf(p->signal, sizeof p->signal, "%.*s", (int)siglen, sig);
	else
		p->exit_code = libssh2_channel_get_exit_status(p->ch);
	if (sig)
		libssh2_free(c->ssh, sig);
	p->exited = true;
	p->phase = OP_DONE;
	struct rms_error *keep = rms__error_park();
	free_channel(op, rms__now_ms() + STOP_MS);
	rms__error_unpark(keep);
	return 0;
}

/* One step by phase. */
static int advance(rms_op *op, rms_wait *w)
{
	struct ssh_op *p = sop(op);
	int rc = 0;
	if (p->phase <= OP_EXEC && (rc = start_step(op, w)))
		return rc;
	if (p->phase == OP_RUN && (rc = run_step(op, w)) != RMS_EAGAIN)
		return rc;
	if (p->phase == OP_CLOSE) {
		rms__wait_clear(w);
		return close_step(op, w);
	}
	return rc;
}

/* What advance made: the chunk read, or the exit and the end. */
static void report(struct ssh_op *p, rms_ps_output *out)
{
	if (p->have_chunk) {
		p->have_chunk = false;
		p->piece.stream = p->chunk_stream;
		p->piece.data = p->buf;
		p->piece.len = p->chunk_len;
		out->pieces = &p->piece;
		out->npieces = 1;
		return;
	}
	out->exited = p->exited;
	out->exit_code = p->exit_code;
	out->signal = p->signal[0] ? p->signal : NULL;
	out->ended = true;
}

static int sshexec_step(rms_ps_cmd *cmd, rms_wait *w, rms_ps_output *out)
{
	rms_op *op = cmd->op;
	struct ssh_op *p = cmd->t;
	struct ssh_conn *c = rms__ps_conn(op->session);
	if (p->phase == OP_DONE) {
		report(p, out);
		return 0;
	}
	if (!c->connected || !c->ssh || c->closing) {
		/* The session was closed (libssh2's session freed, and every
		 * channel with it: p->ch dangles), is closing (the connection is
		 * the disconnect's; the channel goes with libssh2's session) or
		 * was lost: nothing of the command can be reached any more. */
		p->ch = NULL;
		p->phase = OP_DONE;
		int rc = rms__session_usable(op->session);
		if (!rc)
			rc = rms__error_set(RMS_E_CONNECTION_LOST, RMS_PHASE_RECEIVE,
			                    "the SSH connection to %s port %u is gone", c->host,
			                    c->port);
		/* A closing session is not lost: it closes. */
		out->lost = !c->closing;
		return rc;
	}
	uint64_t rx = c->rx_bytes;
	int rc = advance(op, w);
	wake_others(c, op, rx);
	if (rc == RMS_EAGAIN && !op->nonblocking)
		/* The blocking loop waits on this alone: notice a cancel from
		 * another thread within a slice. */
		rms__wait_until(w, rms__now_ms() + RMS_SSH_SLICE_MS);
	if (rms__is_failure(rc)) {
		p->phase = OP_DONE;
		out->lost = !c->connected;
		return rc;
	}
	if (rc == 0)
		report(p, out);
	return rc;
}

static void sshexec_stop(rms_ps_cmd *cmd, bool interrupt)
{
	(void)interrupt; /* SSH has no ctrl_c: TERM or the channel's close */
	if (!cmd->t)
		return;
	struct ssh_conn *c = rms__ps_conn(cmd->op->session);
	uint64_t rx = c->rx_bytes;
	stop_command(cmd->op);
	wake_others(c, cmd->op, rx);
}

static void sshexec_release(rms_ps_cmd *cmd)
{
	struct ssh_op *p = cmd->t;
	if (!p)
		return;
	rms_op *op = cmd->op;
	struct ssh_conn *c = rms__ps_conn(op->session);
	uint64_t rx = c->rx_bytes;
	if (p->ch && c->connected)
		free_channel(op, cleanup_deadline(op));
	if (!c->connected)
		p->ch = NULL; /* freed with libssh2's session, or about to be */
	if (c->pend_op == op)
		c->pend_op = NULL; /* the pending call still goes out, unowned */
	remove_active(c, op);
	wake_others(c, op, rx);
	free(p->line);
	free(p->cbbuf);
	free(p);
	cmd->t = NULL;
}

const struct rms_ps_transport rms__ps_sshexec_transport = {
	.name = "SSH",
	.default_object_cap = RMS_PS_DEFAULT_OBJECT_SSH,
	.stop_how = STOP_HOW,
	.cim_commands = false,
	.supports = ssh_supports,
	.open = ssh_open,
	.open_step = ssh_open_step,
	.close = ssh_close,
	.close_step = ssh_close_step,
	.destroy = ssh_destroy,
	.begin = sshexec_begin,
	.step = sshexec_step,
	.stop = sshexec_stop,
	.release = sshexec_release,
};
