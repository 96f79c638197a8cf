/*
 * The PSSession backend over SSH (libssh2): New-PSSession -HostName
 * semantics with plain commands instead of PowerShell remoting.
 *
 * Creating a session connects (TCP, then the SSH handshake), verifies the
 * server's host key against a known_hosts file, and authenticates
 * (psremote/ssh_connect.c), and fails right there with the phase named.
 * The session then holds that one SSH connection for its whole life; every
 * command is an "exec" channel on it, and closing the session disconnects.
 *
 * libssh2 runs non-blocking. Every libssh2 call that would block returns
 * LIBSSH2_ERROR_EAGAIN; the blocking calls of the public API then wait with
 * poll() on the socket for the directions libssh2 reports
 * (libssh2_session_block_directions), in slices of at most 200 ms so that a
 * cancel from another thread, a command time limit or a connect deadline is
 * noticed. A command's progress is one non-blocking step (step()), which a
 * later event loop can call when the socket is ready instead of waiting here.
 *
 * State: a failure of the connection itself (socket closed or reset, an SSH
 * transport error) turns the session Broken with the reason kept; core/api/op.c
 * then refuses later calls with RMS_E_STATE naming it. A failure that belongs
 * to one channel (the server refused the exec, the channel was closed), or
 * libssh2 refusing a call (BAD_USE, INVAL), fails the command only.
 *
 * Half-sent packets: a libssh2 call that returns EAGAIN with the socket full
 * may have begun a packet that only the same call can finish; it is recorded
 * in the connection (ssh.h, enum ssh_pend_kind) and finished before any
 * other send, by the next step, command, stop or disconnect.
 *
 * Limits: WinRM's envelope limits do not exist on SSH. The received-data
 * caps do: MaximumReceivedDataSizePerCommand over all output of a command,
 * and MaximumReceivedObjectSize over one piece of output (one read from the
 * channel, at most CHUNK bytes: an exec channel carries bytes, not objects).
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "address.h"
#include "ps_limits.h"
#include "ssh.h"

#define DEFAULT_CONNECT_MS 30000u
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

struct ssh_op {
	LIBSSH2_CHANNEL *ch;
	uint64_t deadline_ms; /* 0: none */
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
	bool closed;          /* the remote closed the channel and we closed ours */
	bool done;            /* exit status known, channel freed */
	bool stopped;         /* a stop was attempted */
	char buf[CHUNK];
};

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
	struct ssh_conn *c = s->priv;
	if (s->state == RMS_STATE_OPENED) {
		s->state = RMS_STATE_BROKEN;
		rms_error_free(s->broken_reason);
		s->broken_reason = rms_error_dup(rms_error_last());
		rms__log(&s->log, RMS_LOG_ERROR, "%s: broken: %s", s->name,
		         rms_error_message(rms_error_last()));
	}
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
	struct ssh_conn *c = s->priv;
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

/* Record the call that left a packet half sent (see enum ssh_pend_kind). */
static void set_pending(rms_session *s, enum ssh_pend_kind kind, LIBSSH2_CHANNEL *ch,
                        const void *data, size_t len)
{
	struct ssh_conn *c = s->priv;
	rms__log(&s->log, RMS_LOG_DEBUG,
	         "%s: a packet is half sent (call %d); it is finished before any other", s->name,
	         (int)kind);
	c->pend = kind;
	c->pend_ch = ch;
	c->pend_len = 0;
	if (kind == PEND_WRITE) {
		/* libssh2 sends at most one packet per write: its data fits. */
		c->pend_len = len < sizeof c->pend_buf ? len : sizeof c->pend_buf;
		memcpy(c->pend_buf, data, c->pend_len);
	}
}

static void clear_pending(struct ssh_conn *c)
{
	c->pend = PEND_NONE;
	c->pend_ch = NULL;
	free(c->pend_line);
	c->pend_line = NULL;
}

static void park_raw(struct ssh_conn *c, LIBSSH2_CHANNEL *ch);

/* Repeat the pending call once, without waiting. 0 when the packet is out
 * (*wrote: the stdin bytes a pending write sent), RMS_EAGAIN while it is
 * not, or -1 (not RMS_EAGAIN) with libssh2's error when the call failed. */
static int retry_pending(struct ssh_conn *c, size_t *wrote)
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
		if (opened) /* nobody waits for it any more */
			park_raw(c, opened);
		break;
	case PEND_EXEC:
		rc = libssh2_channel_exec(c->pend_ch, c->pend_line);
		break;
	case PEND_WRITE:
		rc = libssh2_channel_write(c->pend_ch, c->pend_buf, c->pend_len);
		if (rc >= 0 && wrote)
			*wrote = (size_t)rc;
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
	clear_pending(c);
	return rc < 0 && rc != LIBSSH2_ERROR_EAGAIN ? -1 : 0;
}

/* Finish the pending send before another, waiting until deadline. 0, or an
 * error (RMS_E_TIMEOUT when the socket did not take it in time; the session
 * turns Broken if the connection failed). */
static int flush_pending(rms_session *s, uint64_t deadline, uint32_t limit, const char *what)
{
	struct ssh_conn *c = s->priv;
	while (c->pend != PEND_NONE) {
		int rc = retry_pending(c, NULL);
		if (rc == 0)
			return 0;
		if (rc != RMS_EAGAIN) {
			int e = libssh2_session_last_errno(c->ssh);
			if (rms__ssh_transport_error(e))
				return conn_failed(s, what);
			return 0; /* that call failed; nothing is pending now */
		}
		if ((rc = rms__ssh_again(c, deadline, limit, RMS_PHASE_SEND, what)))
			return rc;
	}
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
	s->priv = c;
	c->password = s->opts.password;
	rms_endpoint ep;
	int rc = rms__endpoint_resolve(&ep, &s->opts);
	if (rc)
		return rc;
	c->port = ep.port;
	rms__endpoint_free(&ep);
	if (!(c->host = strdup(s->computer_name)))
		return rms__error_nomem();
	uint32_t limit =
	    s->opts.connect_timeout_ms ? s->opts.connect_timeout_ms : DEFAULT_CONNECT_MS;
	if ((rc = rms__ssh_connect(s, c, limit)))
		return rc;
	rms__log(&s->log, RMS_LOG_INFO, "%s: SSH session open as %s on %s port %u", s->name,
	         s->opts.user, c->host, c->port);
	return 0;
}

static void reap_parked(rms_session *s);

/* Disconnect politely (bounded), then free libssh2's session and the socket. */
static void disconnect(rms_session *s, struct ssh_conn *c)
{
	if (c->ssh) {
		if (c->connected && c->handshaken && s->state == RMS_STATE_OPENED) {
			uint64_t deadline = rms__now_ms() + 1000;
			struct rms_error *keep = rms__error_park();
			/* A half-sent packet first; the disconnect only if it got
			 * out. */
			bool stuck = false;
			while (c->pend != PEND_NONE && !stuck)
				stuck = retry_pending(c, NULL) == RMS_EAGAIN &&
				        rms__ssh_again(c, deadline, 1000, RMS_PHASE_SEND,
				                       "SSH disconnect");
			while (!stuck &&
			       libssh2_session_disconnect(c->ssh, "remsess session closed") ==
			           LIBSSH2_ERROR_EAGAIN)
				if (rms__ssh_again(c, deadline, 1000, RMS_PHASE_SEND,
				                   "SSH disconnect"))
					break;
			rms__error_unpark(keep);
		}
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

static int ssh_close(rms_session *s)
{
	struct ssh_conn *c = s->priv;
	if (c) {
		reap_parked(s);
		disconnect(s, c);
	}
	return 0;
}

static void ssh_destroy(rms_session *s)
{
	struct ssh_conn *c = s->priv;
	if (!c)
		return;
	disconnect(s, c);
	free(c->parked); /* the channels went with libssh2's session */
	free(c->pend_line);
	free(c->host);
	free(c);
	s->priv = NULL;
}

/* ---- commands ----------------------------------------------------------- */

/* The command line: the command and its arguments joined by single spaces,
 * as the WinRM shell gets them; the remote user's shell interprets it. */
static char *command_line(const rms_request *r)
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

/* Map an exit-signal name (RFC 4254 6.10, without "SIG") to its number. */
static int signal_number(const char *name)
{
	static const struct {
		const char *name;
		int num;
	} sigs[] = {{"HUP", 1},   {"INT", 2},   {"QUIT", 3},  {"ILL", 4},   {"ABRT", 6},
	            {"FPE", 8},   {"KILL", 9},  {"USR1", 10}, {"SEGV", 11}, {"USR2", 12},
	            {"PIPE", 13}, {"ALRM", 14}, {"TERM", 15}};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		if (strcmp(sigs[i].name, name) == 0)
			return sigs[i].num;
	return 0;
}

static void free_channel(rms_op *op, uint64_t deadline)
{
	struct ssh_op *p = op->priv;
	struct ssh_conn *c = op->session->priv;
	if (!p->ch)
		return;
	if (c->connected && !flush_pending(op->session, deadline, STOP_MS, "closing the channel")) {
		int rc;
		while ((rc = libssh2_channel_free(p->ch)) == LIBSSH2_ERROR_EAGAIN)
			if (rms__ssh_again(c, deadline, STOP_MS, RMS_PHASE_SEND,
			                   "closing the channel"))
				break;
		if (rc == LIBSSH2_ERROR_EAGAIN) {
			/* Parked: freed later, or with libssh2's session. */
			if (out_blocked(c))
				set_pending(op->session, PEND_FREE, p->ch, NULL, 0);
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
	struct ssh_conn *c = s->priv;
	if (!c->connected) {
		c->nparked = 0;
		return;
	}
	if (c->pend != PEND_NONE && retry_pending(c, NULL) == RMS_EAGAIN)
		return;
	size_t kept = 0;
	for (size_t i = 0; i < c->nparked; i++) {
		LIBSSH2_CHANNEL *ch = c->parked[i];
		if (c->pend == PEND_NONE && libssh2_channel_free(ch) != LIBSSH2_ERROR_EAGAIN)
			continue;
		if (c->pend == PEND_NONE && out_blocked(c))
			set_pending(s, PEND_FREE, ch, NULL, 0);
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
	struct ssh_op *p = op->priv;
	park_raw(op->session->priv, p->ch);
	p->ch = NULL;
}

/*
 * Stop a running command, bounded by STOP_MS, keeping the caller's error.
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
	struct ssh_op *p = op->priv;
	rms_session *s = op->session;
	struct ssh_conn *c = s->priv;
	if (!p || !p->ch || p->stopped || p->done || !c->connected)
		return;
	p->stopped = true;
	struct rms_error *keep = rms__error_park();
	uint64_t deadline = rms__now_ms() + STOP_MS;
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
		if (rms__ssh_again(c, deadline, STOP_MS, RMS_PHASE_SEND, "signalling the command"))
			break;
	if (rc)
		rms__log(&s->log, RMS_LOG_DEBUG, "%s: signal TERM failed (libssh2 error %d)",
		         s->name, rc);
#endif
	bool waiting = false;
	while ((rc = libssh2_channel_close(p->ch)) == LIBSSH2_ERROR_EAGAIN) {
		/* Blocked on input only: our close is sent, the server's is
		 * pending. */
		if (!(libssh2_session_block_directions(c->ssh) & LIBSSH2_SESSION_BLOCK_OUTBOUND)) {
			waiting = true;
			break;
		}
		if (rms__ssh_again(c, deadline, STOP_MS, RMS_PHASE_SEND,
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
			set_pending(s, PEND_CLOSE, p->ch, NULL, 0);
		park_channel(op);
	} else {
		conn_failed(s, "closing the command's channel");
		if (c->connected)
			free_channel(op, deadline);
	}
	rms__error_unpark(keep);
}

static int fail_cancelled(rms_op *op, const char *why)
{
	stop_command(op);
	return rms__error_set(RMS_E_CANCELLED, RMS_PHASE_NONE, "the command was cancelled (%s)",
	                      why);
}

static int fail_timeout(rms_op *op)
{
	stop_command(op);
	return rms__error_set(RMS_E_TIMEOUT, RMS_PHASE_LIMIT,
	                      "the command did not finish within its time limit of %u ms; it was "
	                      "stopped (" STOP_HOW ")",
	                      op->req->timeout_ms);
}

static int ssh_start(rms_op *op)
{
	rms_session *s = op->session;
	struct ssh_conn *c = s->priv;
	if (op->req->kind != RMS_OP_RUN) {
		char what[96];
		snprintf(what, sizeof what, "the PSSession %s operation over SSH",
		         rms_op_kind_name(op->req->kind));
		return rms__not_implemented(RMS_BACKEND_PSSESSION, what);
	}
	struct ssh_op *p = calloc(1, sizeof *p);
	if (!p)
		return rms__error_nomem();
	op->priv = p;
	uint32_t limit = s->opts.operation_timeout_ms ? s->opts.operation_timeout_ms : 60000u;
	uint64_t deadline = rms__now_ms() + limit;
	reap_parked(s);
	if (op->req->timeout_ms) {
		p->deadline_ms = rms__now_ms() + op->req->timeout_ms;
		if (p->deadline_ms < deadline) {
			deadline = p->deadline_ms;
			limit = op->req->timeout_ms;
		}
	}
	int w = flush_pending(s, deadline, limit, "finishing an earlier half-sent packet");
	if (w)
		return w;
	while (!(p->ch = libssh2_channel_open_session(c->ssh))) {
		if (libssh2_session_last_errno(c->ssh) != LIBSSH2_ERROR_EAGAIN)
			return conn_failed(s, "opening an SSH channel");
		if ((w = rms__ssh_again(c, deadline, limit, RMS_PHASE_SEND,
		                        "opening an SSH channel"))) {
			/* Finished before the next send; a channel it yields
			 * is parked. */
			if (out_blocked(c))
				set_pending(s, PEND_OPEN, NULL, NULL, 0);
			return w;
		}
	}
	s->stats.requests++;
	s->stats.round_trips++;
	char *line = command_line(op->req);
	if (!line)
		return rms__error_nomem();
	int rc;
	while ((rc = libssh2_channel_exec(p->ch, line)) == LIBSSH2_ERROR_EAGAIN) {
		if ((w = rms__ssh_again(c, deadline, limit, RMS_PHASE_SEND,
		                        "starting the command"))) {
			if (out_blocked(c)) {
				set_pending(s, PEND_EXEC, p->ch, NULL, 0);
				c->pend_line = line; /* the same data next time */
			} else {
				free(line);
			}
			return w;
		}
	}
	if (rc) {
		free(line);
		return conn_failed(s, "starting the command (exec)");
	}
	/* The exec request is the message that carries the command line. */
	size_t linelen = strlen(line);
	s->stats.requests++;
	s->stats.round_trips++;
	s->stats.bytes_sent += linelen;
	if (linelen > s->stats.largest_request)
		s->stats.largest_request = linelen;
	rms__log(&s->log, RMS_LOG_DEBUG, "%s: command started: %s", s->name, line);
	free(line);
	if (op->req->stdin_fn) {
		if (!(p->cbbuf = malloc(CHUNK)))
			return rms__error_nomem();
		p->stdin_pending = true;
	} else if (op->req->has_stdin) {
		p->in = op->req->stdin_data;
		p->in_len = op->req->stdin_len;
		p->stdin_pending = true;
	}
	return 0;
}

static void count_stdin(rms_op *op, size_t n)
{
	struct ssh_op *p = op->priv;
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
	struct ssh_op *p = op->priv;
	int e = libssh2_session_last_errno(((struct ssh_conn *)op->session->priv)->ssh);
	if (rms__ssh_channel_error(e) || libssh2_channel_eof(p->ch)) {
		p->stdin_pending = false;
		return 0;
	}
	return conn_failed(op->session, what);
}

/* Send what stdin can be sent without blocking. 0, or an error. */
static int pump_stdin(rms_op *op)
{
	struct ssh_op *p = op->priv;
	rms_request *r = op->req;
	struct ssh_conn *c = op->session->priv;
	p->write_blocked = false;
	while (p->stdin_pending) {
		if (p->in_off == p->in_len && r->stdin_fn && !p->stdin_cb_eof) {
			long got = r->stdin_fn(p->cbbuf, CHUNK, r->stdin_userdata);
			if (got < 0)
				return fail_cancelled(op, "the stdin callback aborted");
			if (got == 0)
				p->stdin_cb_eof = true;
			p->in = p->cbbuf;
			p->in_len = (size_t)got > CHUNK ? CHUNK : (size_t)got;
			p->in_off = 0;
		}
		if (p->in_off < p->in_len) {
			ssize_t n = libssh2_channel_write(p->ch, (const char *)p->in + p->in_off,
			                                  p->in_len - p->in_off);
			/* 0: the server's window is full; its adjust arrives as input. */
			if (n == LIBSSH2_ERROR_EAGAIN || n == 0) {
				/* EAGAIN with the socket full: the packet is half
				 * sent and must be finished before anything else. */
				if (n == LIBSSH2_ERROR_EAGAIN && out_blocked(c)) {
					set_pending(op->session, PEND_WRITE, p->ch,
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
		int rc = libssh2_channel_send_eof(p->ch);
		if (rc == LIBSSH2_ERROR_EAGAIN) {
			if (out_blocked(c)) {
				set_pending(op->session, PEND_EOF, p->ch, NULL, 0);
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

static int check_caps(rms_op *op, uint64_t len)
{
	struct ssh_op *p = op->priv;
	const char *name;
	uint64_t cap, got;
	if (!rms__ps_caps_check(&op->session->opts, RMS_PS_DEFAULT_OBJECT_SSH, true, &p->received,
	                        len, &name, &cap, &got))
		return 0;
	stop_command(op);
	return rms__ps_limit_error(name, cap, got, p->received);
}

/* The command's output is over: close our side, wait for the server's
 * close (which follows its exit status), and read the exit status. */
static int finish(rms_op *op)
{
	struct ssh_op *p = op->priv;
	rms_session *s = op->session;
	struct ssh_conn *c = s->priv;
	int rc = libssh2_channel_close(p->ch);
	/* libssh2 waits for the server's close only after its EOF (else
	 * LIBSSH2_ERROR_INVAL): a server that closed without EOF has closed. */
	if (rc == 0 && libssh2_channel_eof(p->ch))
		rc = libssh2_channel_wait_closed(p->ch);
	if (rc == LIBSSH2_ERROR_INVAL)
		rc = 0;
	if (rc == LIBSSH2_ERROR_EAGAIN) {
		if (out_blocked(c)) {
			set_pending(s, PEND_CLOSE, p->ch, NULL, 0);
			p->write_blocked = true;
		}
		return RMS_EAGAIN;
	}
	if (rc)
		return conn_failed(s, "closing the command's channel");
	p->closed = true;
	char *sig = NULL;
	size_t siglen = 0;
	libssh2_channel_get_exit_signal(p->ch, &sig, &siglen, NULL, NULL, NULL, NULL);
	if (sig && siglen) {
		/* Killed by a signal: the exit code a POSIX shell reports for it,
		 * 128 + the signal number (0 for a name not in RFC 4254). */
		int n = signal_number(sig);
		op->exit_code = 128 + n;
		rms__log(&s->log, RMS_LOG_INFO,
		         "%s: the command was killed by signal %s (exit code "
		         "%d)",
		         s->name, sig, op->exit_code);
	} else {
		op->exit_code = libssh2_channel_get_exit_status(p->ch);
	}
	op->have_exit_code = true;
	if (sig)
		libssh2_free(((struct ssh_conn *)s->priv)->ssh, sig);
	p->done = true;
	struct rms_error *keep = rms__error_park();
	free_channel(op, rms__now_ms() + STOP_MS);
	rms__error_unpark(keep);
	return RMS_ITEROVER;
}

/* One round of non-blocking work: 0 with *out a chunk, RMS_ITEROVER when
 * the command has ended, RMS_EAGAIN when the socket must be waited for, or
 * an error. */
static int step(rms_op *op, rms_chunk *out)
{
	struct ssh_op *p = op->priv;
	struct ssh_conn *c = op->session->priv;
	int rc;
	if (c->pend != PEND_NONE) {
		/* A half-sent packet (this command's or another's) first. */
		bool mine = c->pend_ch == p->ch && (c->pend == PEND_WRITE || c->pend == PEND_EOF);
		enum ssh_pend_kind kind = c->pend;
		size_t wrote = 0;
		rc = retry_pending(c, &wrote);
		if (rc == RMS_EAGAIN) {
			p->write_blocked = true;
			return RMS_EAGAIN;
		}
		if (rc < 0) {
			if (mine)
				rc = stdin_failed(op, kind == PEND_EOF ? "sending end of stdin"
				                                       : "sending stdin");
			else if (rms__ssh_transport_error(libssh2_session_last_errno(c->ssh)))
				rc = conn_failed(op->session, "finishing a half-sent packet");
			else
				rc = 0;
			if (rc)
				return rc;
		} else if (mine && kind == PEND_WRITE) {
			count_stdin(op, wrote);
		} else if (mine) {
			p->stdin_pending = false;
		}
	}
	if (p->stdin_pending && (rc = pump_stdin(op)))
		return rc;
	/* Nothing else may be sent while a packet is half out, and a read may
	 * send a window adjust. */
	if (c->pend != PEND_NONE)
		return RMS_EAGAIN;
	for (int i = 0; i < 2; i++) {
		bool err = (i == 0) == p->prefer_err;
		if (err ? p->err_eof : p->out_eof)
			continue;
		ssize_t n = libssh2_channel_read_ex(p->ch, err ? SSH_EXTENDED_DATA_STDERR : 0,
		                                    p->buf, sizeof p->buf);
		if (n == LIBSSH2_ERROR_EAGAIN) {
			/* The read's window adjust is half sent. */
			if (out_blocked(c)) {
				set_pending(op->session, PEND_ADJUST, p->ch, NULL, 0);
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
		if ((rc = check_caps(op, (uint64_t)n)))
			return rc;
		out->stream = err ? RMS_STREAM_STDERR : RMS_STREAM_STDOUT;
		out->data = p->buf;
		out->len = (size_t)n;
		return 0;
	}
	if (p->out_eof && p->err_eof)
		return finish(op);
	return RMS_EAGAIN;
}

/* The next piece of output, waiting on the socket as needed. */
static int next_piece(rms_op *op, rms_chunk *out)
{
	struct ssh_op *p = op->priv;
	struct ssh_conn *c = op->session->priv;
	if (p->done)
		return RMS_ITEROVER;
	for (;;) {
		if (atomic_load(&op->cancelled))
			return fail_cancelled(op, "rms_op_cancel");
		uint64_t now = rms__now_ms();
		if (p->deadline_ms && now >= p->deadline_ms)
			return fail_timeout(op);
		int rc = step(op, out);
		if (rc != RMS_EAGAIN)
			return rc;
		int ms = RMS_SSH_SLICE_MS;
		if (p->deadline_ms && p->deadline_ms - now < (uint64_t)ms)
			ms = (int)(p->deadline_ms - now);
		if ((rc = rms__ssh_wait(c, ms, p->write_blocked ? POLLOUT : 0)))
			return rc;
	}
}

static int ssh_next(rms_op *op, rms_instance **out)
{
	(void)out;
	return rms__not_implemented(RMS_BACKEND_PSSESSION, rms_op_kind_name(op->req->kind));
}

static int ssh_next_chunk(rms_op *op, rms_chunk *out)
{
	if (!op->priv)
		return rms__not_implemented(RMS_BACKEND_PSSESSION, rms_op_kind_name(op->req->kind));
	if (out)
		return next_piece(op, out);
	return rms__ps_drive_output(op, next_piece, fail_cancelled);
}

static void ssh_op_free(rms_op *op)
{
	struct ssh_op *p = op->priv;
	if (!p)
		return;
	if (!p->done)
		stop_command(op);
	if (p->ch && ((struct ssh_conn *)op->session->priv)->connected)
		free_channel(op, rms__now_ms() + STOP_MS);
	free(p->cbbuf);
	free(p);
	op->priv = NULL;
}

const struct rms_backend_ops rms__pssession_ssh_backend = {
    .id = RMS_BACKEND_PSSESSION,
    .name = "PSSession",
    .supports = ssh_supports,
    .open = ssh_open,
    .close = ssh_close,
    .destroy = ssh_destroy,
    .start = ssh_start,
    .next = ssh_next,
    .next_chunk = ssh_next_chunk,
    .op_free = ssh_op_free,
};
