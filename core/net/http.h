/*
 * HTTP(S) transport on libcurl's multi interface: one handle per logical
 * connection, HTTP/1.1 keep-alive, TLS verified by default. A request is
 * started and then stepped without ever blocking (rms__http_start/step);
 * rms__http_post is the blocking loop over those. It carries bytes only: the
 * status code and body go up to the WS-Man layer (wsman.c), which decides
 * what a 401, 413 or 500 means. Failures here are the transport's own:
 * resolve, connect, TLS, timeouts, a dropped connection, a response larger
 * than allowed, cancellation.
 */
#ifndef RMS_CORE_HTTP_H
#define RMS_CORE_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "remsess/options.h"
#include "remsess/session.h"
#include "util.h"
#include "wait.h"

typedef struct rms_http rms_http;

typedef struct rms_http_config {
	const char *url;         /* full endpoint URL, e.g. http://host:5985/wsman */
	const char *user;        /* NULL: no authentication */
	const char *password;
	rms_auth auth;           /* NONE, BASIC, NTLM, NEGOTIATE, KERBEROS, CERTIFICATE
	                            (DEFAULT already resolved by the caller) */
	const char *client_cert; /* PEM */
	const char *client_key;  /* PEM; NULL: in client_cert */
	const char *ca_file;
	const char *ca_path;
	bool tls_insecure;       /* skip peer and host name verification */
	const char *proxy;       /* NULL: no proxy at all (environment ignored) */
	uint32_t connect_timeout_ms; /* 0: RMS_DEFAULT_CONNECT_TIMEOUT_MS */
	uint32_t timeout_ms;         /* whole request, 0: none */
	size_t max_response;     /* body bytes; more is an error,
	                            0: RMS_DEFAULT_MAX_RESPONSE (64 MiB) */
	const rms_logger *log;   /* may be NULL */
	rms_stats *stats;        /* counters to update; may be NULL */
	atomic_bool *cancel;     /* checked while a request runs; may be NULL */

	/* NTLM, Negotiate and Kerberos: remsess's own login through GSSAPI
	 * (gss.c), one per TCP connection, kept for its life. */
	bool encrypt;            /* seal every body (WinRM message encryption,
	                            MS-WSMV 2.2.9.1); the caller resolved "auto" */
	bool no_channel_binding; /* over https: do not bind the login to the
	                            server's certificate */
	const char *spn_service; /* NULL: "HTTP" */
	const char *spn_host;    /* NULL: the URL's host */
	const char *keytab;      /* client keytab; NULL: none */
	bool delegate;           /* forwardable ticket for a second hop */
	struct rms_gss_cred *cred; /* the session's shared credentials (gss.h);
	                              NULL: the handle's own */
} rms_http_config;

typedef struct rms_http_response {
	long status;             /* HTTP status */
	char *content_type;      /* NULL if none */
	char *location;          /* a redirect's Location (never followed); NULL if none */
	rms_buf body;            /* NUL-terminated; body.len bytes */
} rms_http_response;

/* Copies the strings it needs from cfg; log/stats/cancel are borrowed and
 * must outlive the handle. Opens nothing yet. */
int rms__http_new(rms_http **out, const rms_http_config *cfg);
/* Closes the connection (if open) and frees. Accepts NULL. */
void rms__http_free(rms_http *h);
/* Close the connection now (dropping a request in flight, as
 * rms__http_abort does); the next request opens a new one. */
void rms__http_close(rms_http *h);
/* Set the per-request timeout (ms, 0: none) for following requests. */
void rms__http_set_timeout(rms_http *h, uint32_t timeout_ms);
/* Set the response body limit (bytes, 0: 64 MiB) for following requests;
 * the handle copied cfg->max_response when it was made. */
void rms__http_set_max_response(rms_http *h, size_t max_response);
/* Change (or, with NULL, drop) the cancellation flag for later requests:
 * cleanup that must still go out after a cancel (a Release) drops it. */
void rms__http_set_cancel(rms_http *h, atomic_bool *cancel);
/* Whether a step's wait also ends every RMS_CANCEL_CHECK_MS while a cancel
 * flag is set (on by default): a blocking caller needs it to notice a
 * cancel from another thread, which cannot wake its poll. An engine-driven
 * owner turns it off: the engine looks at the flag on every perform and
 * rms_multi_wakeup wakes its poll, so the timer would only wake thousands
 * of idle requests twice a second for nothing. Read by every later step,
 * so the owner may change it between steps. */
void rms__http_set_cancel_poll(rms_http *h, bool on);

/*
 * POST body[0..len) with Content-Type application/soap+xml;charset=UTF-8,
 * a Content-Length (never chunked), Accept-Encoding identity, and the
 * optional extra header line (e.g. "WSMANIDENTIFY: unauthenticated"). Basic
 * credentials are sent on the first request, not after a 401 (some CIM
 * servers never challenge). Reuses the open connection when the server
 * kept it. On success *resp holds the status and body whatever the status
 * is (free with rms__http_response_free). Counts connections, requests,
 * round trips and body bytes in cfg->stats.
 * Errors (with phase): RMS_E_RESOLVE (resolve), RMS_E_CONNECT (connect),
 * RMS_E_TLS (tls: which check failed, e.g. the certificate's verification
 * result), RMS_E_TIMEOUT (connect or receive), RMS_E_CONNECTION_LOST
 * (send/receive: closed mid-request or mid-body, nothing/partial received),
 * RMS_E_LIMIT (receive: the response exceeded max_response), RMS_E_CANCELLED.
 *
 * With NTLM, Negotiate or Kerberos, one request may take several exchanges
 * on the connection: when the connection has no login yet (the first
 * request, or the server or a drop closed the one that had), empty POSTs
 * carry the login's tokens ("Authorization: Negotiate ..." / "Kerberos
 * ...") until the server accepts, checking its last token (mutual
 * authentication); over https with channel binding, one empty POST without
 * credentials comes first to see the server's certificate. Then the body
 * goes out, sealed when cfg->encrypt (multipart/encrypted), and a sealed
 * answer is unsealed: *resp then holds the plaintext and
 * "application/soap+xml;charset=UTF-8". A 401 to the body logs in again
 * once (the connection was new). More errors: RMS_E_AUTH (authenticate:
 * the login failed, with GSSAPI's reason in words; the server refused the
 * login, or refused the request after it), RMS_E_PROTOCOL (decode: an
 * answer that does not unseal or was plaintext where encryption was on).
 */
int rms__http_post(rms_http *h, const char *body, size_t len, const char *extra_header,
                   rms_http_response *resp);
void rms__http_response_free(rms_http_response *resp);

/*
 * The same request without blocking: rms__http_post is rms__http_start and
 * then rms__http_step and rms__wait_block in turn until step returns
 * something other than RMS_EAGAIN.
 *
 * rms__http_start checks the arguments (the same errors as rms__http_post,
 * and RMS_E_CANCELLED with nothing sent when the cancel flag is already
 * set), begins the request and returns at once; nothing is on the wire
 * before the first step. body is borrowed: it must stay unchanged until the
 * request ends (step returns anything but RMS_EAGAIN, or abort), because
 * curl may send it again (an authentication handshake, a retry on a
 * kept-alive connection the server had closed). extra_header is copied.
 * One request at a time per handle: RMS_E_STATE while one is in flight.
 */
int rms__http_start(rms_http *h, const char *body, size_t len, const char *extra_header);
/*
 * Advance the request; never waits. resp is overwritten (left empty unless
 * 0 is returned).
 *   0           done: *resp filled exactly as rms__http_post fills it;
 *   RMS_EAGAIN  *w holds curl's sockets with their directions and a
 *               deadline on the rms__now_ms() clock: the sooner of curl's
 *               own timer and the request's time limit, and, while a cancel
 *               flag is set, no more than half a second away (another
 *               thread's cancel cannot wake a poll); call again when one of
 *               the sockets is ready or the deadline has come (earlier is
 *               harmless);
 *   < 0         the request failed: the errors, phases and messages of
 *               rms__http_post. The cancel flag is looked at on every step;
 *               a cancelled request closes its connection.
 * Whatever the result other than RMS_EAGAIN, the request has ended and the
 * handle takes a new one. RMS_E_STATE when no request is in flight.
 */
int rms__http_step(rms_http *h, rms_wait *w, rms_http_response *resp);
/* Drop the request in flight, closing its connection (the server may still
 * answer it); the statistics count what went out. The next request opens a
 * new connection. Nothing happens when none is in flight. */
void rms__http_abort(rms_http *h);
/* Whether a request is in flight (started and not yet ended). */
bool rms__http_busy(const rms_http *h);

#endif
