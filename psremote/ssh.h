/*
 * Internal: the SSH connection under the PSSession's SSH transport
 * (psremote/ps_sshexec.c), and how it is made (psremote/ssh_connect.c):
 * TCP connect, the SSH handshake, host key verification against
 * known_hosts, and authentication. libssh2 runs non-blocking throughout:
 * where it would wait, a step returns RMS_EAGAIN with the socket and the
 * directions libssh2 reports in an rms_wait (core/base/wait.h). Only
 * cleanup (stopping a command, closing a channel, disconnecting) waits
 * here, for at most a bounded time.
 */
#ifndef RMS_PSREMOTE_SSH_H
#define RMS_PSREMOTE_SSH_H

#include <stdbool.h>
#include <stdint.h>

#include <libssh2.h>

#include "backend.h"

/* Longest wait a blocking caller's step asks for: bounds how late a cancel
 * from another thread is noticed when the socket stays silent. */
#define RMS_SSH_SLICE_MS 200

struct ssh_connecting; /* a connection being made (ssh_connect.c) */

/* A packet libssh2 began to send but could not finish (a call returned
 * EAGAIN with the socket full). libssh2 has already encrypted it and taken
 * its sequence number, so the same call must be repeated, with the same data,
 * until it is out, before anything else is sent on the connection: libssh2
 * 1.10 refuses any other packet meanwhile (LIBSSH2_ERROR_BAD_USE). */
enum ssh_pend_kind {
	PEND_NONE,
	PEND_OPEN,   /* libssh2_channel_open_session */
	PEND_EXEC,   /* libssh2_channel_exec(ch, line) */
	PEND_WRITE,  /* libssh2_channel_write(ch, buf) */
	PEND_EOF,    /* libssh2_channel_send_eof(ch) */
	PEND_ADJUST, /* a window adjust sent by libssh2_channel_read_ex(ch) */
	PEND_CLOSE,  /* libssh2_channel_close(ch) */
	PEND_FREE,   /* libssh2_channel_free(ch) */
};

/* A keyboard-interactive answer (a copy of the password) libssh2 frees:
 * wiped first (the session's free function). */
struct ssh_secret {
	void *ptr;
	size_t len;
};

struct ssh_conn {
	int fd;
	LIBSSH2_SESSION *ssh;
	char *host; /* as the caller wrote it, IPv6 without brackets */
	unsigned port;
	const char *password; /* s->opts.password (locked memory), for kbd-interactive */
	unsigned kbd_prompts; /* prompts answered, to stop a server that keeps asking */
	bool connected;
	bool handshaken;
	bool counted; /* counted in stats.connections_open */
	struct ssh_secret secrets[4];
	/* Set while connecting (rms__ssh_connect_begin .. _step gives 0). */
	struct ssh_connecting *cx;
	/* Bytes read from the socket so far (libssh2's receive goes through
	 * ssh_connect.c): a step that read any may have queued packets for
	 * other channels, which poll() cannot see. */
	uint64_t rx_bytes;
	/* The run ops with a channel on this connection (ps_sshexec.c), so that a
	 * step that queued packets for another op's channel can wake it. */
	rms_op **active;
	size_t nactive, capactive;
	/* The pending send (see enum ssh_pend_kind). pend_buf holds a copy of
	 * a pending write's data, so that it outlives the command's buffer. */
	enum ssh_pend_kind pend;
	LIBSSH2_CHANNEL *pend_ch;
	rms_op *pend_op; /* the command it belongs to; NULL once that is freed */
	char *pend_line; /* PEND_EXEC: the command line (owned) */
	size_t pend_len;
	char pend_buf[32768];
	/* Channels of stopped commands that the server has not closed yet
	 * (see stop_command); freed as their close arrives, or with the
	 * session. */
	LIBSSH2_CHANNEL **parked;
	size_t nparked, capparked;
	/* Closing (ps_sshexec.c's close, for good): commands send nothing
	 * more; the disconnect is tried until close_until. */
	bool closing;
	uint64_t close_until;
};

/* libssh2 error numbers that mean the connection itself is gone, and those
 * that concern one channel only. */
bool rms__ssh_socket_error(int e);
bool rms__ssh_channel_error(int e);
/* Errors after which the connection cannot be used: the socket failed or
 * closed, or the SSH transport broke (MAC, decryption, protocol). Misuse
 * (LIBSSH2_ERROR_BAD_USE, INVAL) and channel errors are not among them. */
bool rms__ssh_transport_error(int e);
/* Raise `code` from libssh2's last error: "WHAT failed: its message"
 * (with rms_error_ssh_code set). Returns code. */
int rms__ssh_error(struct ssh_conn *c, int code, rms_phase phase, const char *what);
/* Fill w to wait for what libssh2 is blocked on (its block directions,
 * inbound when it names none), plus `extra` (RMS_WAIT_*), until deadline
 * (0: none). */
void rms__ssh_wait_fill(struct ssh_conn *c, rms_wait *w, short extra, uint64_t deadline);
/* Cleanup only: after EAGAIN, block until the socket is ready or deadline,
 * or fail with RMS_E_TIMEOUT (phase, "WHAT did not complete within LIMIT
 * ms") once it has passed. */
int rms__ssh_block(struct ssh_conn *c, uint64_t deadline, uint32_t limit_ms, rms_phase phase,
                   const char *what);

/*
 * Connect c (host, port and password set) for session s, as a state
 * machine: TCP, handshake, host key, authentication, each phase bounded by
 * limit ms. begin resolves the name (getaddrinfo, which blocks) and starts
 * the TCP connect; it and step return 0 when authenticated, RMS_EAGAIN
 * (step: with *w filled) to be stepped again, or the failure with its
 * phase. The connection is counted in s->stats once TCP is up. After a
 * failure c may hold a socket and a libssh2 session for the caller to free;
 * rms__ssh_connect_free drops what connecting holds (any time, twice is
 * fine).
 */
int rms__ssh_connect_begin(rms_session *s, struct ssh_conn *c, uint32_t limit);
int rms__ssh_connect_step(rms_session *s, struct ssh_conn *c, rms_wait *w);
void rms__ssh_connect_free(struct ssh_conn *c);

/* What load_known_hosts does with one known_hosts line (line[0..n), n
 * counting its newline): skip it (blank, comment), not understood
 * (@cert-authority), a known or a revoked host whose entry starts at
 * line[*at], or malformed in a way libssh2 must not see (a hashed host name
 * whose salt or hash is not 20 bytes: libssh2 1.10 leaks on it). Shared
 * with the known_hosts fuzz target. */
enum rms_kh_line { RMS_KH_SKIP, RMS_KH_UNSUPPORTED, RMS_KH_KNOWN, RMS_KH_REVOKED, RMS_KH_MALFORMED };
enum rms_kh_line rms__known_hosts_line(const char *line, size_t n, size_t *at);

#endif
