/*
 * HTTP(S) transport on libcurl's multi interface; the contract is in http.h.
 *
 * Connection model: one easy handle and a multi handle of its own, whose
 * connection cache holds at most one connection (CURLMOPT_MAXCONNECTS 1).
 * The easy handle is added to the multi for each request and removed when
 * the request ends, and the connection the server kept alive stays in the
 * multi's cache for the next request. rms__http_close() destroys both
 * handles, which closes that connection at once; the next request builds
 * fresh ones. A share object outlives them and keeps the DNS results and
 * TLS sessions, so a reconnect can resume the TLS session.
 *
 * Nothing here blocks: curl tells on_socket which sockets it waits on and
 * on_timer when it wants to run again; a step learns which of those
 * sockets are ready with a zero-timeout poll, hands them to
 * curl_multi_socket_action, runs curl's timer when it is due, and
 * otherwise returns what it waits on. The library never calls
 * curl_easy_perform.
 *
 * The request body goes through a read callback (with a size, so curl sends
 * a Content-Length and never chunks): curl may send it more than once (an
 * NTLM or Negotiate handshake, a retry on a kept-alive connection the server
 * had closed), and the callback sees every byte that goes out, which is what
 * the counters must report.
 */
#include "http.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <libxml/parser.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "defaults.h"
#include "error_internal.h"
#include "gss.h"
#include "http_gss.h"
#include "remsess/version.h"
#include "winrm_enc.h"

#define FIRST_BODY_ALLOC ((size_t)16 << 10)

/* The sockets curl may watch at once for one transfer: two addresses tried
 * in parallel (happy eyeballs), the threaded resolver's wake-up pipe and a
 * proxy's. More than this is an internal error, never a silent loss. */
#define MAX_SOCKETS 8

/* A wait that would hold neither a socket nor a deadline (curl gave
 * neither) comes back after this long rather than never. */
#define IDLE_RECHECK_MS 100u

/* WS-Management's marker for client-certificate authentication over HTTPS
 * (the server maps the TLS client certificate to an account). */
#define CERT_AUTH_HEADER                                                                           \
	"Authorization: http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"

#define SOAP_CONTENT_TYPE "application/soap+xml;charset=UTF-8"
#define SOAP_CONTENT_TYPE_HEADER "Content-Type: " SOAP_CONTENT_TYPE
#define USER_AGENT_HEADER "User-Agent: remsess/" RMS_VERSION_STRING

/* The WWW-Authenticate values one response may bring, at most. */
#define MAX_CHALLENGES ((size_t)64 << 10)

/* The exchanges of one request with a GSSAPI login (see http.h). */
enum stage {
	STAGE_DIRECT,  /* no login of ours: the request is the one exchange */
	STAGE_PROBE,   /* an empty POST to see the server's certificate */
	STAGE_LEG,     /* an empty POST carrying a login token */
	STAGE_REQUEST, /* the body, sealed when encrypting */
};

/* State of one request (rms__http_start to its end), reset before each. */
struct xfer {
	const char *body; /* request body and how far curl has read it */
	size_t len;
	size_t pos;
	uint64_t sent;         /* body bytes handed to curl, every attempt counted */
	bool body_done;        /* the whole body went out at least once */
	rms_buf reply;         /* the response body, the transfer's until it ends */
	uint64_t received;     /* body bytes of the current response */
	uint64_t received_all; /* body bytes of every response in this call */
	curl_off_t announced;  /* Content-Length of the current response, -1 if none */
	unsigned attempts;     /* requests curl started on a connection */
	unsigned responses;    /* final (non-1xx) status lines seen */
	bool connected;        /* a connection was up and a request about to go out */
	bool new_connection;   /* curl made a socket for a new connection */
	bool tcp_connected;    /* a socket curl closed had connected (see on_close) */
	bool over_limit;
	bool cancelled;
	bool nomem;
	char location[1024];   /* the final response's Location header, cut to fit */
};

struct rms_http {
	/* Both NULL after a close, until the next request. curl is in multi
	 * exactly while busy. */
	CURL *curl;
	CURLM *multi;
	CURLSH *share;
	char *url;
	char *shown_url; /* url without any user:password@ part, for messages */
	char *user;
	char *password;
	char *client_cert;
	char *client_key;
	char *ca_file;
	char *ca_path;
	char *proxy;
	char *shown_proxy;
	rms_auth auth;
	bool tls_insecure;
	uint32_t connect_timeout_ms;
	uint32_t timeout_ms;
	size_t max_response;
	const rms_logger *log;
	rms_stats *stats;
	atomic_bool *cancel;
	bool no_cancel_poll; /* rms__http_set_cancel_poll(h, false) */
	bool https;
	bool conn_open; /* what this handle contributes to stats->connections_open */
	struct xfer x;
	char errbuf[CURL_ERROR_SIZE];

	/* The request in flight (rms__http_start until step ends it). */
	bool busy;
	struct curl_slist *headers; /* the request's; curl points at them */
	/* The header lines of a plain request (a SOAP body, no extra line, no
	 * login token), made once and kept for the handle's life: headers is
	 * this list, not a copy, when headers_kept. With Basic, basic_line is
	 * the Authorization line they carry, made once too (curl would format
	 * user:password and its base64 again for every request). Both are
	 * wiped before they are freed. */
	struct curl_slist *plain_headers;
	bool headers_kept;
	char *basic_line;
	/* The request's own time limit, 0: none (or not yet known). curl
	 * starts its clock on the first step; this is set then, a millisecond
	 * later than curl's, so curl's timer (which names the error) fires
	 * first. */
	uint64_t deadline_ms;
	bool stepped;
	/* What curl asked for: the sockets it watches (on_socket) and when
	 * its timer is due (on_timer; 0: no timer). */
	struct {
		curl_socket_t fd;
		short events; /* RMS_WAIT_IN | RMS_WAIT_OUT */
	} socks[MAX_SOCKETS];
	size_t nsocks;
	bool socks_overflow;
	uint64_t timer_at;

	/* NTLM, Negotiate, Kerberos: our own login (NULL otherwise). */
	rms_gss *gss;
	bool encrypt;
	bool channel_binding;
	const char *scheme;       /* "Negotiate" or "Kerberos" */
	rms_enc_protocol enc_protocol;
	uint8_t cbt[RMS_CBT_MAX]; /* the binding, once the certificate was seen */
	size_t cbt_len;
	/* The socket the established login belongs to: when curl closes it,
	 * the login is gone with it. CURL_SOCKET_BAD: none. */
	curl_socket_t auth_sock;
	curl_socket_t last_sock;  /* the kept socket after the last exchange */
	rms_buf challenges;       /* WWW-Authenticate values of this response */
	bool challenges_over;
	curl_socket_t leg_sock;   /* the connection the login's legs went on */
	bool cbt_changed;         /* the connection's certificate is not cbt's */
	bool cbt_rebound;         /* this request bound the login anew once */
	bool drop_after;          /* close the connection once the answer is taken */
	bool conn_changed;        /* the body was about to go to a new connection */
	/* The request in flight over its exchanges. */
	enum stage stage;
	const char *req_body;
	size_t req_len;
	char *req_extra;
	bool relogged;            /* logged in again during this request */
	unsigned legs;
	rms_buf wire;             /* the sealed body */
	rms_buf token;
	char *auth_line;          /* "Authorization: <scheme> <token>" */
};

/*
 * libcurl needs curl_global_init() once before any handle. rms_global_init()
 * does it for programs that want it done up front; everyone else gets it
 * here, once, from whichever thread makes the first handle. libcurl counts
 * its initialisations, so doing it here as well after rms_global_init() is
 * harmless (the global state then simply lives until the process exits).
 * Nothing else pays for it: a program that never makes an HTTP transport
 * (SSH only, or no session at all) never initialises libcurl.
 *
 * libxml2's own first initialisation is not thread-safe either, and every
 * WS-Man answer is XML read after a transport like this one exists; so it
 * is done under the same once, and WS-Man sessions started on many threads
 * at once without rms_global_init() never race inside libxml2.
 */
static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;
static bool tls_is_openssl; /* CURLINFO_SSL_VERIFYRESULT is an X509_V_* code */

static void global_init_once(void)
{
	xmlInitParser();
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	tls_is_openssl = v && v->ssl_version && strncmp(v->ssl_version, "OpenSSL", 7) == 0;
}

static void set_open(rms_http *h, bool open)
{
	if (open == h->conn_open)
		return;
	h->conn_open = open;
	if (!h->stats)
		return;
	if (open)
		h->stats->connections_open++;
	else if (h->stats->connections_open)
		h->stats->connections_open--;
}

/* ---- callbacks ---------------------------------------------------------- */

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
	struct xfer *x = ud;
	size_t room = size * nitems;
	size_t n = x->len - x->pos < room ? x->len - x->pos : room;
	if (n)
		memcpy(buf, x->body + x->pos, n);
	x->pos += n;
	x->sent += n;
	if (x->pos == x->len)
		x->body_done = true;
	return n;
}

/* curl rewinds to resend the body (auth handshakes, retries). */
static int on_seek(void *ud, curl_off_t offset, int origin)
{
	struct xfer *x = ud;
	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > x->len)
		return CURL_SEEKFUNC_CANTSEEK;
	x->pos = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}

static bool header_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);
	if (len <= n || line[n] != ':')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = line[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != name[i])
			return false;
	}
	return true;
}

/* The value of a header line header_is matched: after the colon, without
 * the white space around it or the line end. */
static const char *header_value(const char *line, size_t len, size_t *vlen)
{
	const char *colon = memchr(line, ':', len);
	size_t i = colon ? (size_t)(colon - line) + 1 : len;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	size_t end = len;
	while (end > i && (line[end - 1] == '\r' || line[end - 1] == '\n' ||
	                   line[end - 1] == ' ' || line[end - 1] == '\t'))
		end--;
	*vlen = end - i;
	return line + i;
}

/* Grows the body buffer, never past limit + 1 bytes (the NUL). */
static bool body_reserve(rms_buf *b, size_t extra, size_t limit, curl_off_t announced)
{
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return true;
	size_t cap;
	if (!b->cap && announced >= 0 && (uint64_t)announced <= limit)
		cap = (size_t)announced + 1;
	else if (!b->cap)
		cap = extra ? FIRST_BODY_ALLOC : 1;
	else
		cap = b->cap;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (limit < SIZE_MAX && cap > limit + 1)
		cap = limit + 1;
	char *d = realloc(b->data, cap);
	if (!d)
		return false;
	b->data = d;
	b->cap = cap;
	return true;
}

/* Empty a scratch buffer for reuse: its text too (the readers of
 * challenges read a C string) and any earlier allocation failure. */
static void buf_reset(rms_buf *b)
{
	b->len = 0;
	b->failed = false;
	if (b->data)
		b->data[0] = '\0';
}

/* The channel binding of the certificate of the connection curl is on,
 * read while the TLS connection is up (curl hands out its SSL object only
 * then); 0 when there is none to read. */
static size_t connection_cbt(rms_http *h, uint8_t *out)
{
	struct curl_tlssessioninfo *info = NULL;
	if (curl_easy_getinfo(h->curl, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK || !info ||
	    info->backend != CURLSSLBACKEND_OPENSSL || !info->internals)
		return 0;
	X509 *cert = SSL_get1_peer_certificate((SSL *)info->internals);
	if (!cert)
		return 0;
	unsigned char *der = NULL;
	int n = i2d_X509(cert, &der);
	size_t len = n > 0 ? rms__cbt_from_der(der, (size_t)n, out) : 0;
	OPENSSL_free(der);
	X509_free(cert);
	return len;
}

/* The binding for the first login, from the probe's answer. */
static void note_certificate(rms_http *h)
{
	h->cbt_len = connection_cbt(h, h->cbt);
}

static size_t on_header(char *line, size_t size, size_t nitems, void *ud)
{
	rms_http *h = ud;
	struct xfer *x = &h->x;
	size_t len = size * nitems;
	if (len > 9 && memcmp(line, "HTTP/", 5) == 0) {
		const char *sp = memchr(line, ' ', len);
		long code = sp ? strtol(sp + 1, NULL, 10) : 0;
		if (code >= 200) {
			/* A new final response: whatever an earlier one (an
			 * auth challenge) left is not part of the answer. */
			if (h->gss) {
				buf_reset(&h->challenges);
				h->challenges_over = false;
				if (h->https && h->channel_binding && !h->cbt_len)
					note_certificate(h);
			}
			x->responses++;
			x->received = 0;
			x->announced = -1;
			x->location[0] = '\0';
			if (x->reply.data) {
				x->reply.len = 0;
				x->reply.data[0] = '\0';
			}
		}
	} else if (h->gss && header_is(line, len, "www-authenticate")) {
		size_t vlen;
		const char *v = header_value(line, len, &vlen);
		if (h->challenges.len + vlen + 1 > MAX_CHALLENGES)
			h->challenges_over = true;
		else if (rms__buf_append(&h->challenges, v, vlen) ||
		         rms__buf_append(&h->challenges, "\n", 1))
			x->nomem = true;
	} else if (header_is(line, len, "location")) {
		size_t vlen;
		const char *v = header_value(line, len, &vlen);
		size_t n = vlen < sizeof x->location - 1 ? vlen : sizeof x->location - 1;
		memcpy(x->location, v, n);
		x->location[n] = '\0';
	} else if (header_is(line, len, "content-length")) {
		char tmp[32];
		size_t n = len - 15 < sizeof tmp - 1 ? len - 15 : sizeof tmp - 1;
		memcpy(tmp, line + 15, n);
		tmp[n] = '\0';
		char *end;
		unsigned long long v = strtoull(tmp, &end, 10);
		if (end != tmp) {
			x->announced =
			    v > (unsigned long long)INT64_MAX ? INT64_MAX : (curl_off_t)v;
			/* Refuse before a byte of an oversized body arrives. */
			if ((uint64_t)x->announced > h->max_response) {
				x->over_limit = true;
				return 0;
			}
		}
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t nitems, void *ud)
{
	rms_http *h = ud;
	struct xfer *x = &h->x;
	size_t len = size * nitems;
	x->received += len;
	x->received_all += len;
	if (x->received > h->max_response) {
		x->over_limit = true;
		return CURL_WRITEFUNC_ERROR;
	}
	if (!body_reserve(&x->reply, len, h->max_response, x->announced)) {
		x->nomem = true;
		return CURL_WRITEFUNC_ERROR;
	}
	memcpy(x->reply.data + x->reply.len, data, len);
	x->reply.len += len;
	x->reply.data[x->reply.len] = '\0';
	return len;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	rms_http *h = ud;
	if (h->cancel && atomic_load(h->cancel)) {
		h->x.cancelled = true;
		return 1;
	}
	return 0;
}

/* Called when a connection is up (new or reused), before each request
 * curl sends: once per handshake round or retry too. */
static int on_prereq(void *ud, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
	(void)primary_ip, (void)local_ip, (void)primary_port, (void)local_port;
	rms_http *h = ud;
	struct xfer *x = &h->x;
	x->connected = true;
	x->attempts++;
	/* A login token bound to one certificate goes to no connection with
	 * another (a renewed certificate, another server behind the name, or
	 * someone in the middle when verification is off): this request stops
	 * before a byte is sent, and the login binds anew. */
	if (h->gss && h->stage == STAGE_LEG && h->channel_binding && h->cbt_len) {
		uint8_t now[RMS_CBT_MAX];
		size_t n = connection_cbt(h, now);
		if (n != h->cbt_len || memcmp(now, h->cbt, n) != 0) {
			h->cbt_changed = true;
			x->attempts--;
			return CURL_PREREQFUNC_ABORT;
		}
	}
	/* The body goes only to the connection the login authenticated: when
	 * curl had to open a new one (the server closed the kept one), the
	 * request stops before a byte is sent and the login is made on it
	 * first. */
	if (h->gss && h->stage == STAGE_REQUEST && x->new_connection) {
		h->conn_changed = true;
		x->attempts--;
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}

/* curl made a socket for a new connection (not a reused one). */
static int on_sockopt(void *ud, curl_socket_t fd, curlsocktype purpose)
{
	(void)fd;
	rms_http *h = ud;
	if (purpose == CURLSOCKTYPE_IPCXN)
		h->x.new_connection = true;
	return CURL_SOCKOPT_OK;
}

/* curl closes its sockets through this. A socket that had connected tells a
 * TLS handshake that timed out from a TCP connect that did. */
static int on_close(void *ud, curl_socket_t s)
{
	rms_http *h = ud;
	struct xfer *x = &h->x;
	if (s == h->auth_sock) {
		h->auth_sock = CURL_SOCKET_BAD;
		if (h->gss)
			rms__log(h->log, RMS_LOG_DEBUG,
			         "the connection of the %s login to %s closed; the next request "
			         "logs in again", h->scheme, h->shown_url);
	}
	struct sockaddr_storage peer;
	socklen_t len = sizeof peer;
	if (!x->connected && getpeername(s, (struct sockaddr *)&peer, &len) == 0)
		x->tcp_connected = true;
	return close(s);
}

/* curl's account of the sockets it waits on: what a step polls and what
 * its wait lists. */
static int on_socket(CURL *e, curl_socket_t s, int what, void *ud, void *socketp)
{
	(void)e, (void)socketp;
	rms_http *h = ud;
	size_t i = 0;
	while (i < h->nsocks && h->socks[i].fd != s)
		i++;
	if (what == CURL_POLL_REMOVE) {
		if (i < h->nsocks)
			h->socks[i] = h->socks[--h->nsocks];
		return 0;
	}
	if (i == h->nsocks) {
		if (i == MAX_SOCKETS) {
			h->socks_overflow = true;
			return 0;
		}
		h->nsocks++;
		h->socks[i].fd = s;
	}
	h->socks[i].events = (short)((what & CURL_POLL_IN ? RMS_WAIT_IN : 0) |
	                             (what & CURL_POLL_OUT ? RMS_WAIT_OUT : 0));
	return 0;
}

/* curl's timer: -1 none, 0 at once, else in ms. */
static int on_timer(CURLM *m, long ms, void *ud)
{
	(void)m;
	rms_http *h = ud;
	if (ms < 0) {
		h->timer_at = 0;
		return 0;
	}
	uint64_t at = rms__now_ms() + (uint64_t)ms;
	h->timer_at = at ? at : 1; /* 0 means none */
	return 0;
}

/* curl's own account of the exchange, line by line at TRACE. Bodies are
 * left out (the WS-Man layer logs them); header lines go through the
 * logger, whose redaction removes Authorization values. */
static int on_debug(CURL *c, curl_infotype type, char *data, size_t size, void *ud)
{
	(void)c;
	const rms_http *h = ud;
	const char *tag;
	switch (type) {
	case CURLINFO_TEXT:
		tag = "*";
		break;
	case CURLINFO_HEADER_IN:
		tag = "<";
		break;
	case CURLINFO_HEADER_OUT:
		tag = ">";
		break;
	default:
		return 0;
	}
	const char *p = data, *end = data + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		size_t n = (size_t)(stop - p);
		if (n && p[n - 1] == '\r')
			n--;
		if (n)
			rms__log(h->log, RMS_LOG_TRACE, "curl %s %.*s", tag,
			         (int)(n > 4096 ? 4096 : n), p);
		p = nl ? nl + 1 : end;
	}
	return 0;
}

/* ---- set-up -------------------------------------------------------------- */

static int setup_failed(CURL *c, CURLcode cc, const char *what)
{
	curl_easy_cleanup(c);
	if (cc == CURLE_OUT_OF_MEMORY)
		return rms__error_nomem();
	return rms__error_set(RMS_E_INTERNAL, RMS_PHASE_SEND, "libcurl refused the %s setting: %s",
	                      what, curl_easy_strerror(cc));
}

/* The multi handle that carries c: its cache keeps one connection. */
static int setup_multi(rms_http *h, CURL *c)
{
	CURLM *m = curl_multi_init();
	if (!m) {
		curl_easy_cleanup(c);
		return rms__error_nomem();
	}
	CURLMcode mc = curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, 1L);
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket);
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(m, CURLMOPT_SOCKETDATA, h);
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timer);
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(m, CURLMOPT_TIMERDATA, h);
	if (mc != CURLM_OK) {
		curl_multi_cleanup(m);
		curl_easy_cleanup(c);
		return mc == CURLM_OUT_OF_MEMORY
		           ? rms__error_nomem()
		           : rms__error_set(RMS_E_INTERNAL, RMS_PHASE_SEND,
		                            "libcurl refused a multi handle setting: %s",
		                            curl_multi_strerror(mc));
	}
	h->curl = c;
	h->multi = m;
	h->nsocks = 0;
	h->socks_overflow = false;
	h->timer_at = 0;
	return 0;
}

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		CURLcode cc_ = curl_easy_setopt(c, opt, val);                                      \
		if (cc_ != CURLE_OK)                                                               \
			return setup_failed(c, cc_, #opt);                                         \
	} while (0)

static int setup_handle(rms_http *h)
{
	CURL *c = curl_easy_init();
	if (!c)
		return rms__error_nomem();
	SET(CURLOPT_URL, h->url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	/* Signals are process-wide; timeouts must not use them in a library
	 * that runs in threads. */
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_FORBID_REUSE, 0L);
	SET(CURLOPT_SHARE, h->share);
	/* Long WinRS Receive calls sit idle for up to OperationTimeout. */
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_TCP_KEEPIDLE, 30L);
	SET(CURLOPT_TCP_KEEPINTVL, 15L);
	/* User-Agent is one of our header lines (USER_AGENT_HEADER), made
	 * once: set here, curl would format it anew for every request. */
	SET(CURLOPT_ERRORBUFFER, h->errbuf);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)h->connect_timeout_ms);

	SET(CURLOPT_POST, 1L);
	SET(CURLOPT_READFUNCTION, on_read);
	SET(CURLOPT_READDATA, &h->x);
	SET(CURLOPT_SEEKFUNCTION, on_seek);
	SET(CURLOPT_SEEKDATA, &h->x);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, h);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, h);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, h);
	SET(CURLOPT_PREREQFUNCTION, on_prereq);
	SET(CURLOPT_PREREQDATA, h);
	SET(CURLOPT_SOCKOPTFUNCTION, on_sockopt);
	SET(CURLOPT_SOCKOPTDATA, h);
	SET(CURLOPT_CLOSESOCKETFUNCTION, on_close);
	SET(CURLOPT_CLOSESOCKETDATA, h);

	/* Without a configured proxy, none at all: an http_proxy variable in
	 * the environment must not divert (or leak) the traffic. */
	SET(CURLOPT_PROXY, h->proxy ? h->proxy : "");
	if (!h->proxy)
		SET(CURLOPT_NOPROXY, "*");

	SET(CURLOPT_SSL_VERIFYPEER, h->tls_insecure ? 0L : 1L);
	SET(CURLOPT_SSL_VERIFYHOST, h->tls_insecure ? 0L : 2L);
	if (h->ca_file)
		SET(CURLOPT_CAINFO, h->ca_file);
	if (h->ca_path)
		SET(CURLOPT_CAPATH, h->ca_path);
	if (h->client_cert) {
		SET(CURLOPT_SSLCERT, h->client_cert);
		SET(CURLOPT_SSLCERTTYPE, "PEM");
		/* Without a key file curl takes the key from the cert file. */
		if (h->client_key)
			SET(CURLOPT_SSLKEY, h->client_key);
	}

	/* Basic goes out as our own Authorization line on every request, from
	 * the first (some CIM servers never challenge): basic_line. NTLM,
	 * Negotiate and Kerberos are our own login (gss.c). */

	if (h->log && h->log->fn && h->log->level >= RMS_LOG_TRACE) {
		SET(CURLOPT_DEBUGFUNCTION, on_debug);
		SET(CURLOPT_DEBUGDATA, h);
		SET(CURLOPT_VERBOSE, 1L);
	}
	return setup_multi(h, c);
}

#undef SET

/* The URL as messages may show it: no user:password@ part. */
static char *shown_url(const char *url)
{
	const char *auth = strstr(url, "://");
	auth = auth ? auth + 3 : url;
	size_t hostpart = strcspn(auth, "/?#");
	const char *at = memchr(auth, '@', hostpart);
	if (!at)
		return rms__strdup(url);
	return rms__asprintf("%.*s%s", (int)(auth - url), url, at + 1);
}

/* The host part of an http(s) URL (IPv6 without its brackets), for the
 * service principal; NULL when it has none. */
static char *url_host(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL, *out = NULL;
	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host) {
		size_t n = strlen(host);
		if (n > 2 && host[0] == '[' && host[n - 1] == ']')
			out = rms__asprintf("%.*s", (int)(n - 2), host + 1);
		else
			out = rms__strdup(host);
	}
	curl_free(host);
	curl_url_cleanup(u);
	return out;
}

static bool is_gss_auth(rms_auth a)
{
	return a == RMS_AUTH_NTLM || a == RMS_AUTH_NEGOTIATE || a == RMS_AUTH_KERBEROS;
}

/* The login of NTLM, Negotiate and Kerberos (gss.c). */
static int setup_gss(rms_http *h, const rms_http_config *cfg)
{
	char *host = cfg->spn_host ? NULL : url_host(h->url);
	if (!cfg->spn_host && !host)
		return rms__error_field(RMS_E_INVALID_ARG, "url",
		                        "no host name in %s for the service principal",
		                        h->shown_url);
	rms_gss_config g = {
	    .auth = h->auth,
	    .user = cfg->user,
	    .password = cfg->password,
	    .keytab = cfg->keytab,
	    .spn_service = cfg->spn_service,
	    .spn_host = cfg->spn_host ? cfg->spn_host : host,
	    .delegate = cfg->delegate,
	    .log = cfg->log,
	    .cred = cfg->cred,
	};
	int rc = rms__gss_new(&h->gss, &g);
	free(host);
	if (rc)
		return rc;
	h->encrypt = cfg->encrypt;
	h->channel_binding = h->https && !cfg->no_channel_binding;
	h->scheme = rms__gss_scheme(h->gss);
	h->enc_protocol = strcmp(h->scheme, "Kerberos") == 0 ? RMS_ENC_KERBEROS : RMS_ENC_SPNEGO;
	return 0;
}

int rms__http_new(rms_http **out, const rms_http_config *cfg)
{
	if (out)
		*out = NULL;
	if (!out || !cfg)
		return rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_NONE,
		                      "rms__http_new needs an output pointer and a configuration");
	if (!cfg->url || !*cfg->url)
		return rms__error_field(RMS_E_INVALID_ARG, "url",
		                        "no endpoint URL for the HTTP transport");
	if (strncmp(cfg->url, "http://", 7) != 0 && strncmp(cfg->url, "https://", 8) != 0)
		return rms__error_field(RMS_E_INVALID_ARG, "url",
		                        "endpoint URL '%s' is neither http:// nor https://",
		                        cfg->url);
	pthread_once(&global_once, global_init_once);
	if (global_rc != CURLE_OK)
		return rms__error_set(RMS_E_INTERNAL, RMS_PHASE_NONE,
		                      "libcurl initialisation failed: %s",
		                      curl_easy_strerror(global_rc));

	rms_http *h = calloc(1, sizeof *h);
	if (!h)
		return rms__error_nomem();
	h->url = rms__strdup(cfg->url);
	h->shown_url = h->url ? shown_url(h->url) : NULL;
	h->user = rms__strdup(cfg->user);
	h->password = rms__strdup(cfg->password);
	h->client_cert = rms__strdup(cfg->client_cert);
	h->client_key = rms__strdup(cfg->client_key);
	h->ca_file = rms__strdup(cfg->ca_file);
	h->ca_path = rms__strdup(cfg->ca_path);
	h->proxy = rms__strdup(cfg->proxy);
	h->shown_proxy = h->proxy ? shown_url(h->proxy) : NULL;
	h->share = curl_share_init();
	if (!h->url || !h->shown_url || (cfg->user && !h->user) ||
	    (cfg->password && !h->password) || (cfg->client_cert && !h->client_cert) ||
	    (cfg->client_key && !h->client_key) || (cfg->ca_file && !h->ca_file) ||
	    (cfg->ca_path && !h->ca_path) || (cfg->proxy && !h->shown_proxy) || !h->share ||
	    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
	    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) !=
	        CURLSHE_OK) {
		rms__http_free(h);
		return rms__error_nomem();
	}
	h->auth = cfg->auth;
	if (h->auth == RMS_AUTH_DEFAULT)
		h->auth = cfg->user ? RMS_AUTH_BASIC : RMS_AUTH_NONE;
	h->tls_insecure = cfg->tls_insecure;
	h->connect_timeout_ms =
	    cfg->connect_timeout_ms ? cfg->connect_timeout_ms : RMS_DEFAULT_CONNECT_TIMEOUT_MS;
	h->timeout_ms = cfg->timeout_ms;
	h->max_response = cfg->max_response ? cfg->max_response : RMS_DEFAULT_MAX_RESPONSE;
	h->log = cfg->log;
	h->stats = cfg->stats;
	h->cancel = cfg->cancel;
	h->https = strncmp(h->url, "https://", 8) == 0;
	h->auth_sock = CURL_SOCKET_BAD;
	h->last_sock = CURL_SOCKET_BAD;
	rms__buf_init(&h->challenges);
	rms__buf_init(&h->wire);
	rms__buf_init(&h->token);
	if (h->auth == RMS_AUTH_BASIC) {
		/* "user:password" in base64, as curl would send it. */
		rms_buf pair, line;
		rms__buf_init(&pair);
		rms__buf_init(&line);
		rms__buf_puts(&pair, h->user ? h->user : "");
		rms__buf_puts(&pair, ":");
		rms__buf_puts(&pair, h->password ? h->password : "");
		rms__buf_puts(&line, "Authorization: Basic ");
		if (!pair.failed)
			rms__base64_append(&line, pair.data, pair.len);
		if (pair.data)
			OPENSSL_cleanse(pair.data, pair.cap);
		rms__buf_free(&pair);
		if (line.failed || pair.failed || !(h->basic_line = rms__buf_take(&line))) {
			if (line.data)
				OPENSSL_cleanse(line.data, line.cap);
			rms__buf_free(&line);
			rms__http_free(h);
			return rms__error_nomem();
		}
	}
	if (is_gss_auth(h->auth)) {
		int rc = setup_gss(h, cfg);
		if (rc) {
			rms__http_free(h);
			return rc;
		}
	}
	if (h->tls_insecure && strncmp(h->url, "https://", 8) == 0)
		rms__log(h->log, RMS_LOG_WARNING,
		         "TLS certificate and host name verification is OFF for %s (tls_insecure): "
		         "the server's identity is not checked",
		         h->shown_url);
	*out = h;
	return 0;
}

static void drop_transfer(rms_http *h);
static void free_headers(struct curl_slist *list);

void rms__http_close(rms_http *h)
{
	if (!h)
		return;
	if (h->busy)
		drop_transfer(h);
	/* The multi's cache holds the connection: cleaning the multi up
	 * closes it (through on_close, while h is still alive). */
	if (h->multi) {
		curl_multi_cleanup(h->multi);
		h->multi = NULL;
	}
	if (h->curl) {
		curl_easy_cleanup(h->curl);
		h->curl = NULL;
	}
	h->nsocks = 0;
	h->timer_at = 0;
	set_open(h, false);
}

void rms__http_free(rms_http *h)
{
	if (!h)
		return;
	rms__http_close(h);
	curl_share_cleanup(h->share);
	free(h->url);
	free(h->shown_url);
	free(h->user);
	rms__free_secret(h->password);
	free(h->client_cert);
	free(h->client_key);
	free(h->ca_file);
	free(h->ca_path);
	rms__free_secret(h->proxy); /* may hold proxy credentials */
	free(h->shown_proxy);
	rms__gss_free(h->gss);
	rms__buf_free(&h->challenges);
	rms__buf_free(&h->wire);
	rms__buf_free(&h->token);
	free(h->req_extra);
	free(h->auth_line);
	free_headers(h->plain_headers);
	rms__free_secret(h->basic_line);
	free(h);
}

void rms__http_set_timeout(rms_http *h, uint32_t timeout_ms)
{
	if (h)
		h->timeout_ms = timeout_ms;
}

void rms__http_set_cancel(rms_http *h, atomic_bool *cancel)
{
	if (h)
		h->cancel = cancel;
}

void rms__http_set_cancel_poll(rms_http *h, bool on)
{
	if (h)
		h->no_cancel_poll = !on;
}

void rms__http_set_max_response(rms_http *h, size_t max_response)
{
	if (h)
		h->max_response = max_response ? max_response : RMS_DEFAULT_MAX_RESPONSE;
}

void rms__http_response_free(rms_http_response *resp)
{
	if (!resp)
		return;
	free(resp->content_type);
	free(resp->location);
	rms__buf_free(&resp->body);
	resp->content_type = NULL;
	resp->location = NULL;
	resp->status = 0;
}

/* ---- one request ------------------------------------------------------- */

/* Wipe the Authorization lines (Basic's credentials, a login's token),
 * then free the list. */
static void free_headers(struct curl_slist *list)
{
	for (struct curl_slist *l = list; l; l = l->next)
		if (strncasecmp(l->data, "Authorization:", 14) == 0)
			OPENSSL_cleanse(l->data, strlen(l->data));
	curl_slist_free_all(list);
}

static struct curl_slist *build_headers(const rms_http *h, const char *content_type,
                                        const char *authorization, const char *extra)
{
	const char *lines[] = {
	    content_type,
	    "Accept-Encoding: identity",
	    "Expect:", /* no 100-continue round trip */
	    h->auth == RMS_AUTH_CERTIFICATE ? CERT_AUTH_HEADER
	    : authorization                 ? authorization
	                                    : h->basic_line,
	    /* NTLM and Negotiate logins belong to the connection. */
	    h->gss ? "Connection: Keep-Alive" : NULL,
	    USER_AGENT_HEADER,
	    extra,
	};
	struct curl_slist *list = NULL;
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		if (!lines[i])
			continue;
		struct curl_slist *n = curl_slist_append(list, lines[i]);
		if (!n) {
			free_headers(list);
			return NULL;
		}
		list = n;
	}
	return list;
}

/* The request's header lines into h->headers: the kept list for a plain
 * request, a new one otherwise. */
static int take_headers(rms_http *h, const char *content_type, const char *authorization,
                        const char *extra)
{
	bool plain = !authorization && !extra && strcmp(content_type, SOAP_CONTENT_TYPE_HEADER) == 0;
	if (plain && !h->plain_headers &&
	    !(h->plain_headers = build_headers(h, content_type, NULL, NULL)))
		return rms__error_nomem();
	h->headers_kept = plain;
	h->headers = plain ? h->plain_headers : build_headers(h, content_type, authorization, extra);
	return h->headers ? 0 : rms__error_nomem();
}

/* The request is over with its header lines: curl must not point at them
 * any more, and a list of its own goes. */
static void drop_headers(rms_http *h)
{
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
	if (!h->headers_kept)
		free_headers(h->headers);
	h->headers = NULL;
	h->headers_kept = false;
}

/* Must run while the easy handle is still in the multi: curl finds the
 * kept connection's socket through the multi's cache. */
static void count_traffic(rms_http *h, CURLcode cc)
{
	long connects = 0;
	curl_easy_getinfo(h->curl, CURLINFO_NUM_CONNECTS, &connects);
	curl_socket_t sock = CURL_SOCKET_BAD;
	/* After a transfer curl reports a socket only for a connection it
	 * kept for reuse: gone when the server said "Connection: close" or
	 * the transfer broke. */
	bool open = cc == CURLE_OK &&
	            curl_easy_getinfo(h->curl, CURLINFO_ACTIVESOCKET, &sock) == CURLE_OK &&
	            sock != CURL_SOCKET_BAD;
	h->last_sock = open ? sock : CURL_SOCKET_BAD;
	set_open(h, open);
	if (connects > 0)
		rms__log(h->log, RMS_LOG_DEBUG, "opened a connection to %s", h->shown_url);
	rms_stats *st = h->stats;
	if (!st)
		return;
	const struct xfer *x = &h->x;
	st->connections_opened += connects > 0 ? (uint64_t)connects : 0;
	st->requests += x->attempts;
	/* A response cut off by the failure is not a completed exchange. */
	unsigned done = x->responses;
	if (cc != CURLE_OK && done)
		done--;
	st->round_trips += done;
	st->bytes_sent += x->sent;
	/* Bodies curl reads and drops itself (those of the 401 challenges in
	 * an NTLM or Negotiate handshake) never reach on_body and are not
	 * counted; they are empty or a few bytes. */
	st->bytes_received += x->received_all;
	if (x->attempts && (x->body_done || x->len == 0) && x->len > st->largest_request)
		st->largest_request = x->len;
}

/* ---- what went wrong ----------------------------------------------------- */

static const char *curl_detail(const rms_http *h, CURLcode cc)
{
	return h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc);
}

static long info_long(const rms_http *h, CURLINFO what)
{
	long v = 0;
	curl_easy_getinfo(h->curl, what, &v);
	return v;
}

/* Adds the response's status, when one had arrived, to the error just
 * raised; returns rc. */
static int with_status(const rms_http *h, int rc)
{
	long status = info_long(h, CURLINFO_RESPONSE_CODE);
	if (status)
		rms__error_set_http_status((int)status);
	return rc;
}

static int with_errno(const rms_http *h, int rc)
{
	rms__error_set_errno((int)info_long(h, CURLINFO_OS_ERRNO));
	return rc;
}

static int timeout_error(rms_http *h, CURLcode cc)
{
	const struct xfer *x = &h->x;
	const char *url = h->shown_url;
	if (!x->connected) {
		uint32_t ms = h->connect_timeout_ms;
		if (h->timeout_ms && h->timeout_ms < ms)
			ms = h->timeout_ms;
		const char *what = strncmp(h->errbuf, "Resolving", 9) == 0
		                       ? "resolving the host name of"
		                   : x->tcp_connected ? "the TLS handshake with"
		                                      : "connecting to";
		return rms__error_set(RMS_E_TIMEOUT, RMS_PHASE_CONNECT,
		                      "%s %s timed out after %" PRIu32 " ms (%s)", what, url, ms,
		                      curl_detail(h, cc));
	}
	if (!x->body_done && x->len)
		return rms__error_set(RMS_E_TIMEOUT, RMS_PHASE_SEND,
		                      "sending the request to %s timed out after %" PRIu32
		                      " ms (%zu of %zu body bytes sent)",
		                      url, h->timeout_ms, x->pos, x->len);
	if (x->responses)
		return rms__error_set(RMS_E_TIMEOUT, RMS_PHASE_RECEIVE,
		                      "the response from %s did not complete within %" PRIu32
		                      " ms (%" PRIu64 " body bytes had arrived)",
		                      url, h->timeout_ms, x->received);
	return rms__error_set(RMS_E_TIMEOUT, RMS_PHASE_RECEIVE,
	                      "no response from %s within %" PRIu32 " ms", url, h->timeout_ms);
}

static int tls_verify_error(rms_http *h, CURLcode cc)
{
	long result = info_long(h, CURLINFO_SSL_VERIFYRESULT);
	/* curl checks the name itself, after the chain passed ("... does not
	 * match target host name", "no alternative certificate subject name
	 * matches target host name"), and then reports no useful X509 code. */
	if (strstr(h->errbuf, "target host name"))
		return rms__error_set(RMS_E_TLS, RMS_PHASE_TLS,
		                      "TLS host name verification failed for %s: %s", h->shown_url,
		                      h->errbuf);
	if (result != 0 && tls_is_openssl)
		return rms__error_set(
		    RMS_E_TLS, RMS_PHASE_TLS,
		    "TLS certificate verification failed for %s: %s (X509 error %ld)", h->shown_url,
		    X509_verify_cert_error_string(result), result);
	if (result != 0)
		return rms__error_set(RMS_E_TLS, RMS_PHASE_TLS,
		                      "TLS certificate verification failed for %s: %s (result %ld)",
		                      h->shown_url, curl_detail(h, cc), result);
	return rms__error_set(RMS_E_TLS, RMS_PHASE_TLS, "TLS certificate check failed for %s: %s",
	                      h->shown_url, curl_detail(h, cc));
}

static int cancelled_error(rms_http *h)
{
	const struct xfer *x = &h->x;
	return rms__error_set(RMS_E_CANCELLED,
	                      !x->connected             ? RMS_PHASE_CONNECT
	                      : x->body_done || !x->len ? RMS_PHASE_RECEIVE
	                                                : RMS_PHASE_SEND,
	                      "request to %s cancelled while %s", h->shown_url,
	                      !x->connected             ? "connecting"
	                      : x->body_done || !x->len ? "waiting for the response"
	                                                : "sending the request");
}

/* The response went over max_response: refused on its Content-Length
 * before a byte arrived, or stopped as the body grew past it. */
static int limit_error(rms_http *h)
{
	const struct xfer *x = &h->x;
	uint64_t actual = x->received;
	int rc;
	if (!actual && x->announced >= 0) {
		rc = rms__error_set(RMS_E_LIMIT, RMS_PHASE_RECEIVE,
		                    "the response from %s announces %" CURL_FORMAT_CURL_OFF_T
		                    " body bytes, more than the limit of %zu",
		                    h->shown_url, x->announced, h->max_response);
		actual = (uint64_t)x->announced;
	} else {
		rc = rms__error_set(RMS_E_LIMIT, RMS_PHASE_RECEIVE,
		                    "the response from %s is larger than the limit of %zu bytes "
		                    "(%" PRIu64 " had arrived when the transfer was stopped)",
		                    h->shown_url, h->max_response, actual);
	}
	rms__error_set_limit("response size", h->max_response, actual);
	return with_status(h, rc);
}

/* The server (or proxy) was not found or not reached; 0 for other codes. */
static int reach_error(rms_http *h, CURLcode cc)
{
	const char *url = h->shown_url;
	int os_errno = (int)info_long(h, CURLINFO_OS_ERRNO);
	const char *os = os_errno ? strerror(os_errno) : "";
	const char *sep = os_errno ? "; " : "";
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
		return rms__error_set(RMS_E_RESOLVE, RMS_PHASE_RESOLVE,
		                      "could not resolve the host name of %s: %s", url,
		                      curl_detail(h, cc));
	case CURLE_COULDNT_RESOLVE_PROXY:
		return rms__error_set(RMS_E_RESOLVE, RMS_PHASE_RESOLVE,
		                      "could not resolve the proxy '%s' for %s: %s", h->shown_proxy,
		                      url, curl_detail(h, cc));
	case CURLE_COULDNT_CONNECT:
		if (h->proxy)
			rms__error_set(RMS_E_CONNECT, RMS_PHASE_CONNECT,
			               "could not connect to %s through the proxy '%s': %s%s%s",
			               url, h->shown_proxy, os, sep, curl_detail(h, cc));
		else
			rms__error_set(RMS_E_CONNECT, RMS_PHASE_CONNECT,
			               "could not connect to %s: %s%s%s", url, os, sep,
			               curl_detail(h, cc));
		return with_errno(h, RMS_E_CONNECT);
	case CURLE_PROXY:
		return rms__error_set(RMS_E_CONNECT, RMS_PHASE_CONNECT,
		                      "the proxy '%s' did not connect us to %s: %s", h->shown_proxy,
		                      url, curl_detail(h, cc));
	default:
		return 0;
	}
}

/* TLS set-up, handshake and verification; 0 for other codes. */
static int tls_error(rms_http *h, CURLcode cc)
{
	const char *url = h->shown_url;
	switch (cc) {
	case CURLE_PEER_FAILED_VERIFICATION:
		return tls_verify_error(h, cc);
	case CURLE_SSL_CACERT_BADFILE:
		return rms__error_set(
		    RMS_E_TLS, RMS_PHASE_TLS,
		    "the trusted CA certificates from %s could not be loaded for %s: %s",
		    h->ca_file   ? h->ca_file
		    : h->ca_path ? h->ca_path
		                 : "the system's default store",
		    url, curl_detail(h, cc));
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CLIENTCERT:
		return rms__error_set(RMS_E_TLS, RMS_PHASE_TLS,
		                      "the client certificate '%s' could not be used with %s: %s",
		                      h->client_cert ? h->client_cert : "(none)", url,
		                      curl_detail(h, cc));
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_USE_SSL_FAILED:
		return rms__error_set(RMS_E_TLS, RMS_PHASE_TLS, "TLS handshake with %s failed: %s",
		                      url, curl_detail(h, cc));
	default:
		return 0;
	}
}

/* The connection went away mid-exchange; 0 for other codes. */
static int lost_error(rms_http *h, CURLcode cc)
{
	const struct xfer *x = &h->x;
	const char *url = h->shown_url;
	switch (cc) {
	case CURLE_GOT_NOTHING:
		return rms__error_set(RMS_E_CONNECTION_LOST, RMS_PHASE_RECEIVE,
		                      "%s closed the connection without answering", url);
	case CURLE_SEND_ERROR:
		rms__error_set(RMS_E_CONNECTION_LOST, RMS_PHASE_SEND,
		               "the connection to %s dropped while sending the request "
		               "(%zu of %zu body bytes sent): %s",
		               url, x->pos, x->len, curl_detail(h, cc));
		return with_errno(h, RMS_E_CONNECTION_LOST);
	case CURLE_RECV_ERROR:
		rms__error_set(RMS_E_CONNECTION_LOST, RMS_PHASE_RECEIVE,
		               "the connection to %s dropped while receiving the response "
		               "(%" PRIu64 " body bytes had arrived): %s",
		               url, x->received, curl_detail(h, cc));
		return with_status(h, with_errno(h, RMS_E_CONNECTION_LOST));
	case CURLE_PARTIAL_FILE:
		if (x->announced >= 0)
			rms__error_set(RMS_E_CONNECTION_LOST, RMS_PHASE_RECEIVE,
			               "the connection to %s closed after %" PRIu64
			               " of %" CURL_FORMAT_CURL_OFF_T " announced body bytes",
			               url, x->received, x->announced);
		else
			rms__error_set(RMS_E_CONNECTION_LOST, RMS_PHASE_RECEIVE,
			               "the connection to %s closed mid-response after %" PRIu64
			               " body bytes: %s",
			               url, x->received, curl_detail(h, cc));
		return with_status(h, RMS_E_CONNECTION_LOST);
	default:
		return 0;
	}
}

/* The exchange happened but could not be used: authentication that could
 * not proceed, an unusable URL or answer, or a code we do not expect. */
static int exchange_error(rms_http *h, CURLcode cc)
{
	const char *url = h->shown_url;
	rms_phase phase = h->x.connected ? RMS_PHASE_RECEIVE : RMS_PHASE_CONNECT;
	switch (cc) {
	case CURLE_AUTH_ERROR:
	case CURLE_LOGIN_DENIED:
		return rms__error_set(RMS_E_AUTH, RMS_PHASE_AUTHENTICATE,
		                      "HTTP authentication with %s could not proceed: %s", url,
		                      curl_detail(h, cc));
	case CURLE_URL_MALFORMAT:
		return rms__error_field(RMS_E_INVALID_ARG, "url",
		                        "endpoint URL %s is not usable: %s", url,
		                        curl_detail(h, cc));
	case CURLE_UNSUPPORTED_PROTOCOL: /* also an HTTP/0.9 answer */
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_BAD_CONTENT_ENCODING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_TOO_MANY_REDIRECTS:
	case CURLE_HTTP_RETURNED_ERROR:
		rms__error_set(RMS_E_HTTP, phase, "unusable HTTP response from %s: %s", url,
		               curl_detail(h, cc));
		return with_status(h, RMS_E_HTTP);
	default:
		return rms__error_set(RMS_E_INTERNAL, phase,
		                      "HTTP request to %s failed: %s (curl error %d)", url,
		                      curl_detail(h, cc), (int)cc);
	}
}

/* Raise the error for a transfer curl ended with cc (not CURLE_OK). What
 * our callbacks saw comes first: they stopped the transfer, and curl's
 * code then only says that they did. */
static int transfer_error(rms_http *h, CURLcode cc)
{
	const struct xfer *x = &h->x;
	if (x->cancelled)
		return cancelled_error(h);
	if (x->over_limit)
		return limit_error(h);
	if (x->nomem || cc == CURLE_OUT_OF_MEMORY)
		return rms__error_nomem();
	if (cc == CURLE_OPERATION_TIMEDOUT)
		return timeout_error(h, cc);
	int rc;
	if ((rc = reach_error(h, cc)) || (rc = tls_error(h, cc)) || (rc = lost_error(h, cc)))
		return rc;
	return exchange_error(h, cc);
}

/* ---- driving a request ------------------------------------------------- */

static int start_failed(rms_http *h, CURLcode cc, CURLMcode mc)
{
	drop_headers(h);
	if (cc == CURLE_OUT_OF_MEMORY || mc == CURLM_OUT_OF_MEMORY)
		return rms__error_nomem();
	return rms__error_set(RMS_E_INTERNAL, RMS_PHASE_SEND,
	                      "libcurl refused to start the request: %s",
	                      cc != CURLE_OK ? curl_easy_strerror(cc) : curl_multi_strerror(mc));
}

static int check_start(const rms_http *h, const char *body, size_t len, const char *extra)
{
	if (!h || (!body && len))
		return rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_SEND,
		                      "an HTTP request needs a handle and a body");
	if (extra && (!*extra || extra[strcspn(extra, "\r\n")] || !strchr(extra, ':')))
		return rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_SEND,
		                      "extra HTTP header '%.60s' is not one 'Name: value' line",
		                      extra);
	if (len > (size_t)INT64_MAX)
		return rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_SEND,
		                      "request body of %zu bytes is too large", len);
	if (h->busy)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_SEND,
		                      "a request to %s is already in flight on this handle",
		                      h->shown_url);
	if (h->cancel && atomic_load(h->cancel))
		return rms__error_set(RMS_E_CANCELLED, RMS_PHASE_SEND,
		                      "request to %s cancelled before it was sent", h->shown_url);
	return 0;
}

/* Put one exchange on the multi: body[0..len) with the given header
 * lines. Its time limit is what is left of the request's. */
static int begin_exchange(rms_http *h, const char *body, size_t len, const char *content_type,
                          const char *authorization, const char *extra)
{
	int rc = take_headers(h, content_type, authorization, extra);
	if (rc)
		return rc;
	h->x = (struct xfer){.body = body, .len = len, .announced = -1};
	rms__buf_init(&h->x.reply);
	h->errbuf[0] = '\0';
	buf_reset(&h->challenges);
	h->challenges_over = false;
	long timeout = (long)h->timeout_ms;
	if (h->deadline_ms) {
		uint64_t now = rms__now_ms();
		timeout = h->deadline_ms > now + 1 ? (long)(h->deadline_ms - now - 1) : 1;
	}
	CURLcode cc = curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, timeout);
	CURLMcode mc = cc == CURLE_OK ? curl_multi_add_handle(h->multi, h->curl) : CURLM_OK;
	if (cc != CURLE_OK || mc != CURLM_OK)
		return start_failed(h, cc, mc);
	return 0;
}

/* ---- the GSSAPI login and message encryption ------------------------------ */

/* The request's body, sealed when encrypting. */
static int send_request(rms_http *h)
{
	h->stage = STAGE_REQUEST;
	if (!h->encrypt)
		return begin_exchange(h, h->req_body, h->req_len, SOAP_CONTENT_TYPE_HEADER, NULL,
		                      h->req_extra);
	int rc = rms__seal_body(h->gss, h->enc_protocol, h->req_body, h->req_len, &h->wire);
	if (rc)
		return rc;
	return begin_exchange(h, h->wire.data, h->wire.len,
	                      rms__enc_content_type_header(h->enc_protocol), NULL, h->req_extra);
}

/* An empty POST carrying the login's next token (in h->token). */
static int send_leg(rms_http *h)
{
	free(h->auth_line);
	rms_buf line;
	rms__buf_init(&line);
	if (rms__buf_printf(&line, "Authorization: %s ", h->scheme) ||
	    rms__base64_append(&line, h->token.data, h->token.len) ||
	    !(h->auth_line = rms__buf_take(&line))) {
		rms__buf_free(&line);
		h->auth_line = NULL;
		return rms__error_nomem();
	}
	h->stage = STAGE_LEG;
	h->legs++;
	return begin_exchange(h, "", 0, SOAP_CONTENT_TYPE_HEADER, h->auth_line, NULL);
}

/* A new login on the connection the next exchange uses. Over https with
 * channel binding, the server's certificate must be known first. A login
 * made for this request is its one: a 401 to the body afterwards is not
 * answered by logging in yet again. */
static int start_login(rms_http *h)
{
	h->auth_sock = CURL_SOCKET_BAD;
	h->leg_sock = CURL_SOCKET_BAD;
	h->relogged = true;
	if (h->channel_binding && !h->cbt_len) {
		h->stage = STAGE_PROBE;
		return begin_exchange(h, "", 0, SOAP_CONTENT_TYPE_HEADER, NULL, NULL);
	}
	int rc = rms__gss_begin(h->gss, h->cbt_len ? h->cbt : NULL, h->cbt_len);
	bool done = false;
	buf_reset(&h->token);
	if (!rc)
		rc = rms__gss_step(h->gss, NULL, 0, &h->token, &done);
	if (rc)
		return rc;
	return send_leg(h);
}

/* The server refused the login (a 401 without a token to go on with). */
static int login_refused(rms_http *h)
{
	char offered[128];
	rms__auth_offered(h->challenges.data, offered, sizeof offered);
	bool ours = false;
	rms_buf tmp;
	rms__buf_init(&tmp);
	rms__auth_challenge(h->challenges.data, h->scheme, &ours, &tmp);
	rms__buf_free(&tmp);
	const char *user = h->user ? h->user : "the default principal";
	/* Over https the binding to the certificate may be what it refused. */
	const char *cbt = !h->https          ? ""
	                  : h->channel_binding ? "; or its certificate is not the one the "
	                                         "login was bound to (a TLS-inspecting proxy?)"
	                                       : "; or it requires channel binding "
	                                         "(CbtHardeningLevel Strict), which is off";
	if (!ours && h->challenges.len)
		rms__error_set(RMS_E_AUTH, RMS_PHASE_AUTHENTICATE,
		               "%s does not accept the %s scheme of a %s login (it offers: %s)",
		               h->shown_url, h->scheme, rms_auth_name(h->auth), offered);
	else if (h->auth == RMS_AUTH_KERBEROS)
		/* The KDC took the password: what the server refused is the
		 * ticket. */
		rms__error_set(RMS_E_AUTH, RMS_PHASE_AUTHENTICATE,
		               "%s refused the Kerberos ticket of '%s' for %s (HTTP 401): the "
		               "server's key for that service principal may differ from the "
		               "KDC's, or the account may not log on to it%s",
		               h->shown_url, user, rms__gss_spn(h->gss), cbt);
	else
		rms__error_set(RMS_E_AUTH, RMS_PHASE_AUTHENTICATE,
		               "%s refused the %s login of '%s' (HTTP 401): wrong user name, domain "
		               "or password, or the account may not log on to it%s",
		               h->shown_url, rms_auth_name(h->auth), user, cbt);
	rms__error_set_http_status(401);
	return RMS_E_AUTH;
}

/* A login answered with neither a challenge nor an acceptance. */
static int login_answer_error(rms_http *h, long status, const char *what)
{
	rms__error_set(RMS_E_HTTP, RMS_PHASE_AUTHENTICATE,
	               "%s answered %s with HTTP %ld, neither a challenge (401) nor an "
	               "acceptance (2xx)",
	               h->shown_url, what, status);
	rms__error_set_http_status((int)status);
	return RMS_E_HTTP;
}

/* The legs of one login go on one connection: it is the connection that
 * the login authenticates. */
static int check_leg_connection(rms_http *h)
{
	if (h->last_sock != CURL_SOCKET_BAD &&
	    (h->leg_sock == CURL_SOCKET_BAD || h->leg_sock == h->last_sock)) {
		h->leg_sock = h->last_sock;
		return 0;
	}
	return rms__error_set(RMS_E_CONNECTION_LOST, RMS_PHASE_AUTHENTICATE,
	                      "%s closed the connection in the middle of the %s login, which "
	                      "belongs to one connection",
	                      h->shown_url, rms_auth_name(h->auth));
}

/* The login's next step with the server's token (in h->token), whose
 * answer replaces it there. */
static int step_with_token(rms_http *h, bool *done)
{
	rms_buf in = h->token;
	rms__buf_init(&h->token);
	int rc = rms__gss_step(h->gss, (const uint8_t *)in.data, in.len, &h->token, done);
	rms__buf_free(&in);
	return rc;
}

/* The answer to a login leg: the next leg, or the login done and the
 * request's body next. */
static int after_leg(rms_http *h, long status)
{
	bool offered = false;
	int rc = rms__auth_challenge(h->challenges.data, h->scheme, &offered, &h->token);
	if (rc)
		return rc;
	bool done = rms__gss_established(h->gss);
	if (status == 401) {
		if (!h->token.len || done)
			return login_refused(h);
		if ((rc = check_leg_connection(h)) || (rc = step_with_token(h, &done)))
			return rc;
		if (!h->token.len)
			return rms__error_set(RMS_E_AUTH, RMS_PHASE_AUTHENTICATE,
			                      "the %s login to %s had nothing to answer the "
			                      "server's challenge with",
			                      rms_auth_name(h->auth), h->shown_url);
		return send_leg(h);
	}
	if (status < 200 || status > 299)
		return login_answer_error(h, status, "a login");
	/* Accepted. Kerberos proves the server with this last token. */
	if (!done) {
		if (!h->token.len)
			return rms__error_set(RMS_E_AUTH, RMS_PHASE_AUTHENTICATE,
			                      "%s accepted the %s login (HTTP %ld) without proving "
			                      "its own identity (no final token for mutual "
			                      "authentication)",
			                      h->shown_url, rms_auth_name(h->auth), status);
		if ((rc = step_with_token(h, &done)))
			return rc;
		if (!done)
			return rms__error_set(RMS_E_AUTH, RMS_PHASE_AUTHENTICATE,
			                      "%s accepted the %s login before it was complete",
			                      h->shown_url, rms_auth_name(h->auth));
	}
	if (h->last_sock == CURL_SOCKET_BAD)
		return rms__error_set(RMS_E_CONNECTION_LOST, RMS_PHASE_AUTHENTICATE,
		                      "%s closed the connection right after the %s login, which "
		                      "belongs to that connection",
		                      h->shown_url, rms_auth_name(h->auth));
	if ((rc = check_leg_connection(h)))
		return rc;
	h->auth_sock = h->last_sock;
	rms__log(h->log, RMS_LOG_DEBUG, "logged in to %s with %s (%s) in %u leg%s%s",
	         h->shown_url, rms_auth_name(h->auth),
	         rms__gss_is_kerberos(h->gss) ? "Kerberos" : "NTLM", h->legs,
	         h->legs == 1 ? "" : "s", h->encrypt ? ", messages encrypted" : "");
	return send_request(h);
}

/* The answer to the body: unsealed into resp, or a login again when the
 * server no longer knew ours. *next says another exchange began. */
static int after_request(rms_http *h, long status, rms_http_response *resp, bool *next)
{
	if (status == 401) {
		if (!h->relogged) {
			/* The connection was logged in by an earlier request, and
			 * it is a new one now (curl replaced a kept one the
			 * server had closed), or the server dropped the login:
			 * once more, from the start. */
			rms__log(h->log, RMS_LOG_DEBUG,
			         "%s answered 401 to a request on a logged-in connection; logging "
			         "in again", h->shown_url);
			rms__http_response_free(resp);
			*next = true;
			return start_login(h);
		}
		rms__error_set(RMS_E_AUTH, RMS_PHASE_AUTHENTICATE,
		               "%s refused the request after the %s login of '%s' succeeded "
		               "(HTTP 401): %s",
		               h->shown_url, rms_auth_name(h->auth),
		               h->user ? h->user : "the default principal",
		               h->encrypt ? "the account may not use WinRM (on Windows: "
		                            "Administrators or Remote Management Users)"
		                          : "it requires encrypted messages (AllowUnencrypted is "
		                            "false): use encryption auto or always");
		rms__error_set_http_status(401);
		return RMS_E_AUTH;
	}
	bool sealed = rms__enc_is_encrypted(resp->content_type);
	if (!sealed) {
		if (h->encrypt && resp->body.len) {
			rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			               "%s answered in plaintext (HTTP %ld, Content-Type %s) although "
			               "messages are encrypted: refused",
			               h->shown_url, status,
			               resp->content_type ? resp->content_type : "none");
			rms__error_set_http_status((int)status);
			return RMS_E_PROTOCOL;
		}
		/* An empty plaintext refusal (a 413 from the HTTP stack that never
		 * read the sealed body): the two sides' sealing may now be out of
		 * step, so this connection's login is not used again. */
		if (h->encrypt && (status < 200 || status > 299))
			h->drop_after = true;
		return 0;
	}
	rms_buf plain;
	rms__buf_init(&plain);
	int rc = rms__unseal_body(h->gss, resp->content_type, resp->body.data, resp->body.len,
	                          &plain);
	if (!rc && !plain.data && rms__buf_append(&plain, "", 0))
		rc = rms__error_nomem();
	char *ctype = rc ? NULL : rms__strdup(SOAP_CONTENT_TYPE);
	if (!rc && !ctype)
		rc = rms__error_nomem();
	if (rc) {
		rms__buf_free(&plain);
		return rc;
	}
	rms__buf_free(&resp->body);
	free(resp->content_type);
	resp->body = plain;
	resp->content_type = ctype;
	return 0;
}

int rms__http_start(rms_http *h, const char *body, size_t len, const char *extra_header)
{
	int rc = check_start(h, body, len, extra_header);
	if (rc || (!h->curl && (rc = setup_handle(h))))
		return rc;
	h->deadline_ms = 0;
	h->req_body = body ? body : "";
	h->req_len = len;
	free(h->req_extra);
	h->req_extra = NULL;
	if (extra_header && !(h->req_extra = rms__strdup(extra_header)))
		return rms__error_nomem();
	h->relogged = false;
	h->cbt_rebound = false;
	h->cbt_changed = false;
	h->conn_changed = false;
	h->drop_after = false;
	h->legs = 0;
	if (!h->gss) {
		h->stage = STAGE_DIRECT;
		rc = begin_exchange(h, h->req_body, len, SOAP_CONTENT_TYPE_HEADER, NULL, h->req_extra);
	} else if (rms__gss_established(h->gss) && h->auth_sock != CURL_SOCKET_BAD) {
		rc = send_request(h);
	} else {
		rc = start_login(h);
	}
	if (rc)
		return rc;
	h->busy = true;
	h->stepped = false;
	return 0;
}

/* Take the easy handle out of the multi and forget the request's own
 * state. Taken out mid-transfer, curl closes the connection. */
static void detach(rms_http *h)
{
	curl_multi_remove_handle(h->multi, h->curl);
	/* The list dies here (or waits for the next request, kept); the
	 * handle must not keep pointing at it. */
	drop_headers(h);
	h->busy = false;
	h->deadline_ms = 0;
}

/* A transfer that ends without curl finishing it: counted as far as it got,
 * its response discarded. The caller closes the connection. */
static void drop_transfer(rms_http *h)
{
	count_traffic(h, CURLE_ABORTED_BY_CALLBACK);
	detach(h);
	rms__buf_free(&h->x.reply);
}

void rms__http_abort(rms_http *h)
{
	if (h && h->busy)
		rms__http_close(h);
}

bool rms__http_busy(const rms_http *h)
{
	return h && h->busy;
}

/* curl's poll(2) readings, as curl itself turns them into CURL_CSELECT
 * bits: a hang-up or error reads as readable (and writable), so curl
 * meets the EOF or error on its own read or write and names it. */
static int cselect_bits(short revents)
{
	int bits = 0;
	if (revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))
		bits |= CURL_CSELECT_IN;
	if (revents & (POLLOUT | POLLERR))
		bits |= CURL_CSELECT_OUT;
	if (revents & POLLPRI)
		bits |= CURL_CSELECT_ERR;
	return bits;
}

/* Let curl act on whichever of its sockets are ready now and on its
 * timer when due. Never waits. */
static void drive(rms_http *h)
{
	struct pollfd p[MAX_SOCKETS];
	size_t n = h->nsocks;
	for (size_t i = 0; i < n; i++)
		p[i] = (struct pollfd){
		    .fd = h->socks[i].fd,
		    .events = (short)((h->socks[i].events & RMS_WAIT_IN ? POLLIN : 0) |
		                      (h->socks[i].events & RMS_WAIT_OUT ? POLLOUT : 0))};
	int running;
	/* On_socket may change h->socks during an action: p is a copy. An
	 * EINTR simply leaves the sockets for the next step. */
	if (n && poll(p, (nfds_t)n, 0) > 0)
		for (size_t i = 0; i < n; i++)
			if (p[i].revents)
				curl_multi_socket_action(h->multi, p[i].fd,
				                         cselect_bits(p[i].revents), &running);
	if (h->timer_at && h->timer_at <= rms__now_ms()) {
		/* Cleared first: after a timeout action curl always calls
		 * on_timer again when it has any timer left, and never when it
		 * has none. */
		h->timer_at = 0;
		curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
}

/* Whether curl finished the transfer, and with what. */
static bool transfer_done(rms_http *h, CURLcode *cc)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(h->multi, &left)))
		if (m->msg == CURLMSG_DONE && m->easy_handle == h->curl) {
			*cc = m->data.result;
			return true;
		}
	return false;
}

/* What the transfer waits on: curl's sockets, and the sooner of curl's
 * timer and the request's own time limit. */
static void fill_wait(const rms_http *h, rms_wait *w)
{
	uint64_t now = rms__now_ms();
	bool all = true;
	for (size_t i = 0; i < h->nsocks; i++)
		all = rms__wait_fd(w, (int)h->socks[i].fd, h->socks[i].events) && all;
	rms__wait_until(w, h->timer_at);
	/* Past its own limit the request waits for curl's timer to end it; a
	 * deadline already gone would only make the caller spin. */
	if (h->deadline_ms)
		rms__wait_until(w, h->deadline_ms > now ? h->deadline_ms : now + 1);
	/* Sockets the wait could not hold are still polled by every step. */
	if (!all)
		rms__wait_until(w, now + IDLE_RECHECK_MS);
	if (h->cancel && !h->no_cancel_poll)
		rms__wait_until(w, now + RMS_CANCEL_CHECK_MS);
	if (!w->nfds && !w->deadline_ms)
		rms__wait_until(w, now + IDLE_RECHECK_MS);
}

/* The response of a finished transfer, moved into resp. */
static int take_response(rms_http *h, rms_http_response *resp)
{
	long status = info_long(h, CURLINFO_RESPONSE_CODE);
	const char *ctype = NULL;
	curl_easy_getinfo(h->curl, CURLINFO_CONTENT_TYPE, &ctype);
	resp->status = status;
	resp->body = h->x.reply;
	rms__buf_init(&h->x.reply);
	if ((h->x.location[0] && !(resp->location = rms__strdup(h->x.location))) ||
	    (ctype && !(resp->content_type = rms__strdup(ctype))) ||
	    (!resp->body.data && !body_reserve(&resp->body, 0, h->max_response, -1))) {
		rms__http_response_free(resp);
		return rms__error_nomem();
	}
	resp->body.data[resp->body.len] = '\0';
	return 0;
}

/* What a finished exchange of a request with our login leads to: the
 * request's answer in resp (0, *next false), another exchange begun (0,
 * *next true), or an error. */
static int gss_after(rms_http *h, rms_http_response *resp, bool *next)
{
	long status = resp->status;
	if (h->challenges_over)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_AUTHENTICATE,
		                      "%s sent more than %zu bytes of WWW-Authenticate headers",
		                      h->shown_url, MAX_CHALLENGES);
	switch (h->stage) {
	case STAGE_PROBE:
		rms__http_response_free(resp);
		if (status != 401 && (status < 200 || status > 299))
			return login_answer_error(h, status, "an empty request before the login");
		if (!h->cbt_len)
			return rms__error_set(RMS_E_TLS, RMS_PHASE_AUTHENTICATE,
			                      "could not read the certificate of %s for channel "
			                      "binding (turn channel binding off if the server does "
			                      "not need it)",
			                      h->shown_url);
		*next = true;
		return start_login(h);
	case STAGE_LEG:
		rms__http_response_free(resp);
		*next = true;
		return after_leg(h, status);
	case STAGE_REQUEST:
		return after_request(h, status, resp, next);
	case STAGE_DIRECT:
		break;
	}
	return 0;
}

/* curl ended the transfer with cc. *next: another exchange of the same
 * request began (our login's). */
static int finish(rms_http *h, CURLcode cc, rms_http_response *resp, bool *next)
{
	*next = false;
	uint64_t deadline = h->deadline_ms;
	count_traffic(h, cc);
	detach(h);
	bool rebind = h->cbt_changed && !h->cbt_rebound;
	bool relogin = h->conn_changed && !h->relogged;
	if (cc != CURLE_OK && h->gss && (rebind || relogin)) {
		/* Nothing was sent on this connection. Its certificate is not
		 * the one the login was bound to: bind to the one it has (a
		 * probe, then the login), once per request. Or the body was
		 * about to go to a new connection: log in on it first. */
		rms__buf_free(&h->x.reply);
		if (rebind) {
			h->cbt_rebound = true;
			h->cbt_len = 0;
			rms__log(h->log, RMS_LOG_INFO,
			         "the certificate of %s changed since the login was bound to it; "
			         "binding the login to the new one",
			         h->shown_url);
		} else {
			rms__log(h->log, RMS_LOG_DEBUG,
			         "the connection to %s was closed after the login; logging in on "
			         "the new one before the request goes out",
			         h->shown_url);
		}
		h->cbt_changed = h->conn_changed = false;
		rms__http_close(h);
		h->busy = true;
		h->deadline_ms = deadline;
		int rc = setup_handle(h);
		if (!rc)
			rc = start_login(h);
		if (rc) {
			h->busy = false;
			h->deadline_ms = 0;
			return rc;
		}
		*next = true;
		return 0;
	}
	if (cc != CURLE_OK) {
		int rc = h->cbt_changed
		             ? rms__error_set(RMS_E_TLS, RMS_PHASE_AUTHENTICATE,
		                              "the certificate of %s changed again during the "
		                              "login: refusing to send a login bound to another",
		                              h->shown_url)
		         : h->conn_changed
		             ? rms__error_set(RMS_E_CONNECTION_LOST, RMS_PHASE_SEND,
		                              "%s closed the connection again right after the "
		                              "login: the request was not sent",
		                              h->shown_url)
		             : transfer_error(h, cc);
		rms__buf_free(&h->x.reply);
		if (h->gss && h->stage == STAGE_REQUEST)
			rms__http_close(h);
		return rc;
	}
	int rc = take_response(h, resp);
	if (rc && h->gss && h->stage == STAGE_REQUEST)
		rms__http_close(h);
	if (rc || !h->gss)
		return rc;
	/* Busy, and on the same clock, until the request's last exchange
	 * ends. */
	h->busy = true;
	h->deadline_ms = deadline;
	rc = gss_after(h, resp, next);
	if (rc || !*next) {
		h->busy = false;
		h->deadline_ms = 0;
		if (!rc && h->drop_after)
			rms__http_close(h);
		if (rc) {
			rms__http_response_free(resp);
			/* A broken login or seal leaves nothing on this
			 * connection worth keeping. */
			if (!rms__gss_established(h->gss) || h->stage == STAGE_REQUEST)
				rms__http_close(h);
		}
	}
	return rc;
}

int rms__http_step(rms_http *h, rms_wait *w, rms_http_response *resp)
{
	if (w)
		rms__wait_clear(w);
	if (resp) {
		memset(resp, 0, sizeof *resp);
		rms__buf_init(&resp->body);
	}
	if (!h || !w || !resp)
		return rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_RECEIVE,
		                      "rms__http_step needs a handle, a wait and a response");
	if (!h->busy)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_RECEIVE,
		                      "no HTTP request in flight to %s", h->shown_url);
	if (h->cancel && atomic_load(h->cancel)) {
		h->x.cancelled = true;
		int rc = cancelled_error(h);
		rms__http_abort(h); /* the server may still answer: a new connection next */
		return rc;
	}
	drive(h);
	if (!h->stepped) {
		h->stepped = true;
		h->deadline_ms = h->timeout_ms ? rms__now_ms() + h->timeout_ms + 1 : 0;
	}
	CURLcode cc;
	while (transfer_done(h, &cc)) {
		bool next = false;
		int rc = finish(h, cc, resp, &next);
		if (rc || !next)
			return rc;
		/* The next exchange of our login: set it going now. */
		drive(h);
	}
	if (h->socks_overflow) {
		int rc =
		    rms__error_set(RMS_E_INTERNAL, RMS_PHASE_CONNECT,
		                   "libcurl watches more than %d sockets for one request to %s",
		                   MAX_SOCKETS, h->shown_url);
		rms__http_abort(h);
		return rc;
	}
	fill_wait(h, w);
	return RMS_EAGAIN;
}

int rms__http_post(rms_http *h, const char *body, size_t len, const char *extra_header,
                   rms_http_response *resp)
{
	if (resp) {
		memset(resp, 0, sizeof *resp);
		rms__buf_init(&resp->body);
	}
	if (!h || !resp)
		return rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_SEND,
		                      "rms__http_post needs a handle, a body and a response");
	int rc = rms__http_start(h, body, len, extra_header);
	while (!rc) {
		rms_wait w;
		rc = rms__http_step(h, &w, resp);
		if (rc != RMS_EAGAIN)
			return rc;
		if ((rc = rms__wait_block(&w)))
			rms__http_abort(h);
	}
	return rc;
}
