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
 * transport error) turns the session Broken with the reason kept; core/op.c
 * then refuses later calls with RMS_E_STATE naming it. A failure that belongs
 * to one channel (the server refused the exec, the channel was closed) fails
 * the command only.
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

#include "options_internal.h"
#include "ssh.h"

#define DEFAULT_CONNECT_MS 30000u
#define DEFAULT_PER_COMMAND 52428800ull /* 50 MB */
#define DEFAULT_OBJECT_SSH 10485760ull  /* 10 MB: PowerShell's client over SSH */
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

/* A failure during a command: the connection is lost (Broken, reason kept)
 * unless libssh2 says it concerns the channel only. */
static int conn_failed(rms_session *s, const char *what)
{
	struct ssh_conn *c = s->priv;
	int e = libssh2_session_last_errno(c->ssh);
	int rc;
	if (rms__ssh_channel_error(e))
		return rms__ssh_error(c, RMS_E_SSH, RMS_PHASE_REMOTE, what);
	if (rms__ssh_socket_error(e)) {
		char buf[160];
		snprintf(buf, sizeof buf, "the SSH connection to %s port %u was lost: %s", c->host,
		         c->port, what);
		rc = rms__ssh_error(c, RMS_E_CONNECTION_LOST, RMS_PHASE_RECEIVE, buf);
	} else {
		rc = rms__ssh_error(c, RMS_E_SSH, RMS_PHASE_RECEIVE, what);
	}
	if (s->state == RMS_STATE_OPENED) {
		s->state = RMS_STATE_BROKEN;
		rms_error_free(s->broken_reason);
		s->broken_reason = rms_error_dup(rms_error_last());
		rms__log(&s->log, RMS_LOG_ERROR, "%s: broken: %s", s->name,
		         rms_error_message(rms_error_last()));
	}
	c->connected = false;
	return rc;
}

/* ---- the session -------------------------------------------------------- */

static bool ssh_supports(rms_op_kind kind)
{
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

static void reap_parked(struct ssh_conn *c);

/* Disconnect politely (bounded), then free libssh2's session and the socket. */
static void disconnect(rms_session *s, struct ssh_conn *c)
{
	if (c->ssh) {
		if (c->connected && c->handshaken && s->state == RMS_STATE_OPENED) {
			uint64_t deadline = rms__now_ms() + 1000;
			struct rms_error *keep = rms__error_park();
			while (libssh2_session_disconnect(c->ssh, "remsess session closed") ==
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
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
		if (s->stats.connections_open)
			s->stats.connections_open--;
	}
	c->connected = false;
}

static int ssh_close(rms_session *s)
{
	struct ssh_conn *c = s->priv;
	if (c) {
		reap_parked(c);
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
	if (c->connected) {
		int rc;
		while ((rc = libssh2_channel_free(p->ch)) == LIBSSH2_ERROR_EAGAIN)
			if (rms__ssh_again(c, deadline, STOP_MS, RMS_PHASE_SEND,
			                   "closing the channel"))
				break;
		if (rc == LIBSSH2_ERROR_EAGAIN)
			/* Left to libssh2, which frees it with the session. */
			rms__log(&op->session->log, RMS_LOG_WARNING,
			         "%s: the server did not close a command's channel in time",
			         op->session->name);
	}
	/* On a dead connection libssh2_session_free frees every channel. */
	p->ch = NULL;
}

/* Free the parked channels whose close has arrived, without waiting. */
static void reap_parked(struct ssh_conn *c)
{
	size_t kept = 0;
	for (size_t i = 0; i < c->nparked; i++)
		if (c->connected && libssh2_channel_free(c->parked[i]) == LIBSSH2_ERROR_EAGAIN)
			c->parked[kept++] = c->parked[i];
	c->nparked = c->connected ? kept : 0;
}

static void park_channel(rms_op *op)
{
	struct ssh_op *p = op->priv;
	struct ssh_conn *c = op->session->priv;
	if (c->nparked == c->capparked) {
		size_t cap = c->capparked ? c->capparked * 2 : 8;
		LIBSSH2_CHANNEL **n = realloc(c->parked, cap * sizeof *n);
		if (!n)
			return; /* p->ch stays; op_free leaves it to the session */
		c->parked = n;
		c->capparked = cap;
	}
	c->parked[c->nparked++] = p->ch;
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
	} else if (rc != LIBSSH2_ERROR_EAGAIN) {
		conn_failed(s, "closing the command's channel");
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
	reap_parked(c);
	if (op->req->timeout_ms) {
		p->deadline_ms = rms__now_ms() + op->req->timeout_ms;
		if (p->deadline_ms < deadline) {
			deadline = p->deadline_ms;
			limit = op->req->timeout_ms;
		}
	}
	while (!(p->ch = libssh2_channel_open_session(c->ssh))) {
		if (libssh2_session_last_errno(c->ssh) != LIBSSH2_ERROR_EAGAIN)
			return conn_failed(s, "opening an SSH channel");
		int w =
		    rms__ssh_again(c, deadline, limit, RMS_PHASE_SEND, "opening an SSH channel");
		if (w)
			return w;
	}
	char *line = command_line(op->req);
	if (!line)
		return rms__error_nomem();
	int rc;
	while ((rc = libssh2_channel_exec(p->ch, line)) == LIBSSH2_ERROR_EAGAIN) {
		int w = rms__ssh_again(c, deadline, limit, RMS_PHASE_SEND, "starting the command");
		if (w) {
			free(line);
			return w;
		}
	}
	if (rc) {
		free(line);
		return conn_failed(s, "starting the command (exec)");
	}
	s->stats.requests += 2;
	s->stats.round_trips += 2;
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

/* Send what stdin can be sent without blocking. 0, or an error. */
static int pump_stdin(rms_op *op)
{
	struct ssh_op *p = op->priv;
	rms_request *r = op->req;
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
				p->write_blocked =
				    n == LIBSSH2_ERROR_EAGAIN &&
				    (libssh2_session_block_directions(
				         ((struct ssh_conn *)op->session->priv)->ssh) &
				     LIBSSH2_SESSION_BLOCK_OUTBOUND);
				return 0;
			}
			if (n < 0) {
				int e = libssh2_session_last_errno(
				    ((struct ssh_conn *)op->session->priv)->ssh);
				if (rms__ssh_channel_error(e) || libssh2_channel_eof(p->ch)) {
					/* The command no longer reads: the rest is dropped, as a
					 * pipe to a process that exited drops it. */
					p->stdin_pending = false;
					return 0;
				}
				return conn_failed(op->session, "sending stdin");
			}
			p->in_off += (size_t)n;
			op->session->stats.bytes_sent += (uint64_t)n;
			continue;
		}
		/* Everything sent: end of input. */
		int rc = libssh2_channel_send_eof(p->ch);
		if (rc == LIBSSH2_ERROR_EAGAIN) {
			p->write_blocked = true;
			return 0;
		}
		if (rc && !rms__ssh_channel_error(libssh2_session_last_errno(
		              ((struct ssh_conn *)op->session->priv)->ssh)))
			return conn_failed(op->session, "sending end of stdin");
		p->stdin_pending = false;
	}
	return 0;
}

static int check_caps(rms_op *op, uint64_t len)
{
	struct ssh_op *p = op->priv;
	const rms_session_options *o = &op->session->opts;
	uint64_t obj = o->pssession.max_received_object_size;
	uint64_t cmd = o->pssession.max_received_per_command;
	if (obj == RMS_LIMIT_DEFAULT)
		obj = DEFAULT_OBJECT_SSH;
	if (cmd == RMS_LIMIT_DEFAULT)
		cmd = DEFAULT_PER_COMMAND;
	const char *name = NULL;
	uint64_t cap = 0, got = 0;
	if (obj != RMS_LIMIT_UNLIMITED && len > obj) {
		name = "MaximumReceivedObjectSize";
		cap = obj;
		got = len;
	} else if (cmd != RMS_LIMIT_UNLIMITED && p->received + len > cmd) {
		name = "MaximumReceivedDataSizePerCommand";
		cap = cmd;
		got = p->received + len;
	}
	if (!name) {
		p->received += len;
		return 0;
	}
	stop_command(op);
	rms__error_set(RMS_E_LIMIT, RMS_PHASE_LIMIT,
	               "%s exceeded: %llu bytes received, the limit is %llu; the command was "
	               "stopped (%llu bytes had been delivered)",
	               name, (unsigned long long)got, (unsigned long long)cap,
	               (unsigned long long)p->received);
	rms__error_set_limit(name, cap, got);
	return RMS_E_LIMIT;
}

/* The command's output is over: close our side, wait for the server's
 * close (which follows its exit status), and read the exit status. */
static int finish(rms_op *op)
{
	struct ssh_op *p = op->priv;
	rms_session *s = op->session;
	int rc = libssh2_channel_close(p->ch);
	if (rc == 0)
		rc = libssh2_channel_wait_closed(p->ch);
	if (rc == LIBSSH2_ERROR_EAGAIN)
		return RMS_EAGAIN;
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
	int rc;
	if (p->stdin_pending && (rc = pump_stdin(op)))
		return rc;
	for (int i = 0; i < 2; i++) {
		bool err = (i == 0) == p->prefer_err;
		if (err ? p->err_eof : p->out_eof)
			continue;
		ssize_t n = libssh2_channel_read_ex(p->ch, err ? SSH_EXTENDED_DATA_STDERR : 0,
		                                    p->buf, sizeof p->buf);
		if (n == LIBSSH2_ERROR_EAGAIN)
			continue;
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
		if ((rc = check_caps(op, (uint64_t)n)))
			return rc;
		op->session->stats.bytes_received += (uint64_t)n;
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
	rms_chunk ch;
	int rc;
	while ((rc = next_piece(op, &ch)) == 0) {
		op->delivered += ch.len;
		if (op->req->output_fn(ch.stream, ch.data, ch.len, op->req->output_userdata))
			return fail_cancelled(op, "the output callback asked to stop");
	}
	return rc;
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
