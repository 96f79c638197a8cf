/*
 * The test suite's HTTP/1.1 server (see httpd.h).
 *
 * One acceptor thread; one thread per connection. Every socket is
 * non-blocking and every wait is a poll() that also watches a "stop" pipe,
 * so rms_httpd_stop() ends a stalled, dripping or streaming connection at
 * once. Plain and TLS connections share the same two I/O helpers.
 */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HEAD ((size_t)1 << 20)
#define MAX_BODY ((size_t)256 << 20)
#define DEFAULT_CT "application/soap+xml;charset=UTF-8"

struct conn {
	rms_httpd *d;
	int fd;
	SSL *ssl;
	unsigned number;
	pthread_t thread;
	atomic_bool done;
	struct conn *next;
	char *buf; /* bytes read and not yet consumed */
	size_t len;
	size_t cap;
};

struct rms_httpd {
	rms_httpd_options opt;
	int listen_fd;
	int wake[2]; /* written once by stop; readable from then on */
	uint16_t port;
	char url[64];
	SSL_CTX *ctx;
	char dir[256];
	char ca_file[300];
	char client_cert[300];
	char client_key[300];
	char client_combined[300];
	pthread_t acceptor;
	bool acceptor_running;
	struct conn *conns; /* the acceptor's alone */

	pthread_mutex_t mu; /* guards what follows */
	unsigned connections;
	unsigned requests;
	char *last_line;
	char *last_headers;
	char *last_body;
	size_t last_body_len;
	char *client_subject;
};

struct request {
	char *line;   /* "POST /wsman HTTP/1.1" */
	char *method; /* split copy of line */
	char *target;
	char *headers; /* header lines, NUL-terminated */
	size_t body_off;
	size_t body_len;
	bool client_close;
	bool chunked;
};

static char *aprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *aprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	char *s = malloc((size_t)n + 1);
	if (!s)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

static void free_const(const void *p)
{
	union {
		const void *c;
		void *m;
	} u = {.c = p};
	free(u.m);
}

/* ---- waiting and I/O ------------------------------------------------------ */

/* Waits for events on fd (fd < 0: just sleep) up to ms (-1: no limit):
 * 1 ready, 0 time up, -1 the server is stopping or poll failed. */
static int wait_fd(rms_httpd *d, int fd, short events, int ms)
{
	struct pollfd p[2] = {{.fd = d->wake[0], .events = POLLIN}, {.fd = fd, .events = events}};
	for (;;) {
		int n = poll(p, 2, ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || p[0].revents)
			return -1;
		return n > 0;
	}
}

static bool send_all(struct conn *c, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		short ev = POLLOUT;
		if (c->ssl) {
			ERR_clear_error();
			int r = SSL_write(c->ssl, p, len > INT_MAX ? INT_MAX : (int)len);
			if (r > 0) {
				p += r;
				len -= (size_t)r;
				continue;
			}
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ)
				ev = POLLIN;
			else if (e != SSL_ERROR_WANT_WRITE)
				return false;
		} else {
			ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
			if (n > 0) {
				p += n;
				len -= (size_t)n;
				continue;
			}
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				return false;
		}
		if (wait_fd(c->d, c->fd, ev, -1) < 0)
			return false;
	}
	return true;
}

/* Appends what arrives to c->buf, waiting for at least one byte:
 * 1 data, 0 the client closed, -1 error or stopping. */
static int recv_some(struct conn *c)
{
	if (c->cap - c->len < 16384) {
		size_t cap = c->cap ? c->cap * 2 : 65536;
		char *b = realloc(c->buf, cap);
		if (!b)
			return -1;
		c->buf = b;
		c->cap = cap;
	}
	size_t room = c->cap - c->len - 1;
	for (;;) {
		short ev = POLLIN;
		if (c->ssl) {
			ERR_clear_error();
			int r =
			    SSL_read(c->ssl, c->buf + c->len, room > INT_MAX ? INT_MAX : (int)room);
			if (r > 0) {
				c->len += (size_t)r;
				return 1;
			}
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_WRITE)
				ev = POLLOUT;
			else if (e != SSL_ERROR_WANT_READ)
				return e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ? 0
				                                                            : -1;
		} else {
			ssize_t n = recv(c->fd, c->buf + c->len, room, 0);
			if (n > 0) {
				c->len += (size_t)n;
				return 1;
			}
			if (n == 0)
				return 0;
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				return -1;
		}
		if (wait_fd(c->d, c->fd, ev, -1) < 0)
			return -1;
	}
}

/* ---- requests -------------------------------------------------------------- */

static const char *find_seq(const char *buf, size_t len, const char *seq)
{
	size_t n = strlen(seq);
	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(buf + i, seq, n) == 0)
			return buf + i;
	return NULL;
}

static char *header_value(const char *headers, const char *name)
{
	size_t n = strlen(name);
	const char *p = headers;
	while (p && *p) {
		const char *eol = strstr(p, "\r\n");
		size_t linelen = eol ? (size_t)(eol - p) : strlen(p);
		if (linelen > n && p[n] == ':' && strncasecmp(p, name, n) == 0) {
			const char *v = p + n + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t vl = (size_t)(p + linelen - v);
			while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
				vl--;
			return strndup(v, vl);
		}
		p = eol ? eol + 2 : NULL;
	}
	return NULL;
}

static void request_free(struct request *r)
{
	free(r->line);
	free(r->method);
	free(r->headers);
	memset(r, 0, sizeof *r);
}

/* Reads one whole request (head and Content-Length body) into c->buf:
 * 1 done, 0 the client closed between requests, -1 anything else. */
static int read_request(struct conn *c, struct request *r)
{
	memset(r, 0, sizeof *r);
	const char *end;
	while (!(end = find_seq(c->buf, c->len, "\r\n\r\n"))) {
		if (c->len > MAX_HEAD)
			return -1;
		int rc = recv_some(c);
		if (rc <= 0)
			return rc == 0 && c->len == 0 ? 0 : -1;
	}
	size_t head = (size_t)(end - c->buf) + 4;
	const char *eol = find_seq(c->buf, head, "\r\n");
	r->line = strndup(c->buf, (size_t)(eol - c->buf));
	r->method = strndup(c->buf, (size_t)(eol - c->buf));
	r->headers = strndup(eol + 2, head - (size_t)(eol + 2 - c->buf));
	if (!r->line || !r->method || !r->headers) {
		request_free(r);
		return -1;
	}
	char *sp = strchr(r->method, ' ');
	if (sp) {
		*sp = '\0';
		r->target = sp + 1;
		if ((sp = strchr(r->target, ' ')))
			*sp = '\0';
	} else {
		r->target = r->method + strlen(r->method);
	}
	char *v = header_value(r->headers, "content-length");
	unsigned long long clen = v ? strtoull(v, NULL, 10) : 0;
	free(v);
	v = header_value(r->headers, "connection");
	r->client_close = v && strcasecmp(v, "close") == 0;
	free(v);
	v = header_value(r->headers, "transfer-encoding");
	r->chunked = v != NULL;
	free(v);
	if (clen > MAX_BODY || r->chunked)
		clen = 0;
	while (c->len < head + clen) {
		if (recv_some(c) <= 0) {
			request_free(r);
			return -1;
		}
	}
	r->body_off = head;
	r->body_len = (size_t)clen;
	return 1;
}

static void consume(struct conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

static void record(rms_httpd *d, const struct request *r, const char *body, unsigned *number)
{
	char *line = strdup(r->line), *headers = strdup(r->headers);
	char *copy = malloc(r->body_len + 1);
	if (copy) {
		memcpy(copy, body, r->body_len);
		copy[r->body_len] = '\0';
	}
	pthread_mutex_lock(&d->mu);
	*number = ++d->requests;
	free(d->last_line);
	free(d->last_headers);
	free(d->last_body);
	d->last_line = line;
	d->last_headers = headers;
	d->last_body = copy;
	d->last_body_len = copy ? r->body_len : 0;
	pthread_mutex_unlock(&d->mu);
}

/* ---- responses ------------------------------------------------------------- */

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 411:
		return "Length Required";
	case 413:
		return "Request Entity Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Status";
	}
}

static char *response_head(const rms_httpd_response *r, bool length, uint64_t clen, bool close)
{
	int status = r->status ? r->status : 200;
	const char *ct = r->content_type ? r->content_type : DEFAULT_CT;
	char cl[64] = "";
	if (length)
		snprintf(cl, sizeof cl, "Content-Length: %" PRIu64 "\r\n", clen);
	return aprintf("HTTP/1.1 %d %s\r\nServer: rms-test-httpd\r\n%s%s%s%s%s%s\r\n", status,
	               reason(status), *ct ? "Content-Type: " : "", ct, *ct ? "\r\n" : "", cl,
	               close ? "Connection: close\r\n" : "", r->headers ? r->headers : "");
}

static bool send_head(struct conn *c, const rms_httpd_response *r, bool length, uint64_t clen,
                      bool close)
{
	char *head = response_head(r, length, clen, close);
	bool ok = head && send_all(c, head, strlen(head));
	free(head);
	return ok;
}

static bool stream_fill(struct conn *c, const rms_httpd_response *r, uint64_t left)
{
	const char *fill = r->fill && *r->fill ? r->fill : "x";
	size_t plen = strlen(fill);
	size_t chunk_len = plen > 65536 ? plen : 65536 / plen * plen;
	char *chunk = malloc(chunk_len);
	if (!chunk)
		return false;
	for (size_t i = 0; i < chunk_len; i += plen)
		memcpy(chunk + i, fill, plen);
	bool ok = true;
	while (ok && left) {
		size_t n = left < chunk_len ? (size_t)left : chunk_len;
		ok = send_all(c, chunk, n);
		left -= n;
	}
	free(chunk);
	return ok;
}

/* Acts out r. Returns true when the connection stays open for another
 * request; *orderly tells whether a close is a clean one. */
static bool respond(struct conn *c, const rms_httpd_response *r, bool client_close, bool *orderly)
{
	const char *body = r->body ? r->body : "";
	size_t blen = r->body ? (r->body_len ? r->body_len : strlen(r->body)) : 0;
	bool close = r->close || client_close;
	*orderly = false;
	if (r->answer_after_ms && wait_fd(c->d, -1, 0, (int)r->answer_after_ms) < 0)
		return false;
	switch (r->mode) {
	case RMS_HTTPD_CLOSE:
		return false;
	case RMS_HTTPD_TRUNCATE:
		if (send_head(c, r, true, blen + (r->missing ? r->missing : 1000), false))
			send_all(c, body, blen);
		return false;
	case RMS_HTTPD_STALL:
		/* Read (and drop) whatever comes until the client gives up. */
		while (recv_some(c) > 0)
			c->len = 0;
		return false;
	case RMS_HTTPD_RAW:
		send_all(c, body, blen);
		*orderly = true;
		return false;
	case RMS_HTTPD_DRIP: {
		char *head = response_head(r, true, blen, close);
		bool ok = head != NULL;
		size_t hlen = head ? strlen(head) : 0;
		unsigned delay = r->delay_ms ? r->delay_ms : 20;
		for (size_t i = 0; ok && i < hlen + blen; i++) {
			ok = send_all(c, i < hlen ? head + i : body + (i - hlen), 1) &&
			     wait_fd(c->d, -1, 0, (int)delay) == 0;
		}
		free(head);
		*orderly = ok;
		return ok && !close;
	}
	case RMS_HTTPD_HUGE: {
		uint64_t total = r->huge_len > blen ? r->huge_len : blen;
		close = close || r->no_length;
		bool ok = send_head(c, r, !r->no_length, total, close) && send_all(c, body, blen) &&
		          stream_fill(c, r, total - blen);
		*orderly = ok;
		return ok && !close;
	}
	case RMS_HTTPD_RESPOND:
	default: {
		bool ok = send_head(c, r, true, blen, close) && send_all(c, body, blen);
		*orderly = ok;
		return ok && !close;
	}
	}
}

/* ---- connections ------------------------------------------------------------ */

static bool tls_accept(struct conn *c)
{
	rms_httpd *d = c->d;
	c->ssl = SSL_new(d->ctx);
	if (!c->ssl || !SSL_set_fd(c->ssl, c->fd))
		return false;
	for (;;) {
		ERR_clear_error();
		int r = SSL_accept(c->ssl);
		if (r == 1)
			break;
		int e = SSL_get_error(c->ssl, r);
		short ev = e == SSL_ERROR_WANT_READ    ? POLLIN
		           : e == SSL_ERROR_WANT_WRITE ? POLLOUT
		                                       : 0;
		if (!ev || wait_fd(d, c->fd, ev, -1) < 0)
			return false;
	}
	X509 *peer = SSL_get0_peer_certificate(c->ssl);
	char *subject = NULL;
	if (peer) {
		char *s = X509_NAME_oneline(X509_get_subject_name(peer), NULL, 0);
		subject = s ? strdup(s) : NULL;
		OPENSSL_free(s);
	}
	pthread_mutex_lock(&d->mu);
	free(d->client_subject);
	d->client_subject = subject;
	pthread_mutex_unlock(&d->mu);
	return true;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	rms_httpd *d = c->d;
	bool orderly = false;
	if (d->opt.banner) {
		send_all(c, d->opt.banner, strlen(d->opt.banner));
		goto out;
	}
	if (d->ctx && !tls_accept(c))
		goto out;
	for (;;) {
		struct request r;
		int rc = read_request(c, &r);
		if (rc <= 0) {
			orderly = rc == 0;
			break;
		}
		rms_httpd_request req = {
		    .connection = c->number,
		    .method = r.method,
		    .target = r.target,
		    .headers = r.headers,
		    .body = c->buf + r.body_off,
		    .body_len = r.body_len,
		};
		record(d, &r, req.body, &req.number);
		rms_httpd_response resp = {0};
		if (r.chunked) {
			resp = (rms_httpd_response){
			    .status = 411,
			    .close = true,
			    .content_type = "text/plain",
			    .body = "chunked request bodies are not accepted\n"};
		} else if (d->opt.handler) {
			d->opt.handler(&req, &resp, d->opt.userdata);
		} else if (d->opt.script_len) {
			size_t i = req.number - 1 < d->opt.script_len ? req.number - 1
			                                              : d->opt.script_len - 1;
			resp = d->opt.script[i];
			resp.free_body = false;
		}
		consume(c, r.body_off + r.body_len);
		bool keep = respond(c, &resp, r.client_close, &orderly);
		if (resp.free_body)
			free_const(resp.body);
		request_free(&r);
		if (!keep)
			break;
	}
out:
	if (c->ssl) {
		if (orderly)
			SSL_shutdown(c->ssl); /* close_notify; the reply is not awaited */
		SSL_free(c->ssl);
	}
	close(c->fd);
	free(c->buf);
	atomic_store(&c->done, true);
	return NULL;
}

static void reap(rms_httpd *d, bool all)
{
	struct conn **pp = &d->conns;
	while (*pp) {
		struct conn *c = *pp;
		if (all || atomic_load(&c->done)) {
			pthread_join(c->thread, NULL);
			*pp = c->next;
			free(c);
		} else {
			pp = &c->next;
		}
	}
}

static void *acceptor_main(void *arg)
{
	rms_httpd *d = arg;
	while (wait_fd(d, d->listen_fd, POLLIN, -1) >= 0) {
		int fd = accept(d->listen_fd, NULL, NULL);
		if (fd < 0)
			continue;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		struct conn *c = calloc(1, sizeof *c);
		if (!c) {
			close(fd);
			continue;
		}
		c->d = d;
		c->fd = fd;
		atomic_init(&c->done, false);
		pthread_mutex_lock(&d->mu);
		c->number = ++d->connections;
		pthread_mutex_unlock(&d->mu);
		reap(d, false);
		if (pthread_create(&c->thread, NULL, conn_main, c) != 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = d->conns;
		d->conns = c;
	}
	reap(d, true);
	return NULL;
}

/* ---- certificates ------------------------------------------------------------ */

static bool add_ext(X509 *cert, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
	if (!ext)
		return false;
	bool ok = X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok;
}

/* A certificate for key: self-signed when issuer is NULL. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *san, bool ca, X509 *issuer,
                       EVP_PKEY *issuer_key, long serial)
{
	X509 *x = X509_new();
	if (!x)
		return NULL;
	X509_NAME *name = X509_get_subject_name(x);
	bool ok = X509_set_version(x, 2) && ASN1_INTEGER_set(X509_get_serialNumber(x), serial) &&
	          X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
	          X509_gmtime_adj(X509_getm_notAfter(x), 86400) && X509_set_pubkey(x, key) &&
	          X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn,
	                                     -1, -1, 0) &&
	          X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	ok =
	    ok &&
	    add_ext(x, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE") &&
	    add_ext(x, &v3, NID_key_usage,
	            ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") &&
	    add_ext(x, &v3, NID_subject_key_identifier, "hash") &&
	    (!issuer || add_ext(x, &v3, NID_authority_key_identifier, "keyid:always")) &&
	    (ca || add_ext(x, &v3, NID_ext_key_usage, "serverAuth,clientAuth")) &&
	    (!san || add_ext(x, &v3, NID_subject_alt_name, san)) &&
	    X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static bool write_pem(const char *path, X509 *cert, EVP_PKEY *key)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return false;
	bool ok = (!cert || PEM_write_X509(f, cert)) &&
	          (!key || PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL));
	return fclose(f) == 0 && ok;
}

/* Any client certificate is accepted: tests only look at which one came. */
static int accept_any_cert(int preverify_ok, X509_STORE_CTX *store)
{
	(void)preverify_ok, (void)store;
	return 1;
}

static int setup_tls(rms_httpd *d)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(d->dir, sizeof d->dir, "%s/rms_httpd.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(d->dir)) {
		fprintf(stderr, "httpd: mkdtemp %s: %s\n", d->dir, strerror(errno));
		d->dir[0] = '\0';
		return -1;
	}
	snprintf(d->ca_file, sizeof d->ca_file, "%s/ca.pem", d->dir);
	snprintf(d->client_cert, sizeof d->client_cert, "%s/client-cert.pem", d->dir);
	snprintf(d->client_key, sizeof d->client_key, "%s/client-key.pem", d->dir);
	snprintf(d->client_combined, sizeof d->client_combined, "%s/client.pem", d->dir);

	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *srv_key = EVP_EC_gen("P-256"),
	         *cli_key = EVP_EC_gen("P-256");
	X509 *ca = NULL, *srv = NULL, *cli = NULL;
	int rc = -1;
	if (!ca_key || !srv_key || !cli_key)
		goto out;
	ca = make_cert(ca_key, "remsess test CA", NULL, true, NULL, NULL, 1);
	if (!ca)
		goto out;
	switch (d->opt.tls) {
	case RMS_HTTPD_TLS_SELF_SIGNED:
		srv = make_cert(srv_key, "127.0.0.1", "IP:127.0.0.1", false, NULL, NULL, 2);
		break;
	case RMS_HTTPD_TLS_WRONG_NAME:
		srv =
		    make_cert(srv_key, "wrong.invalid", "DNS:wrong.invalid", false, ca, ca_key, 3);
		break;
	default:
		srv = make_cert(srv_key, "127.0.0.1", "IP:127.0.0.1", false, ca, ca_key, 4);
		break;
	}
	cli = make_cert(cli_key, "remsess test client", NULL, false, ca, ca_key, 5);
	if (!srv || !cli || !write_pem(d->ca_file, ca, NULL) ||
	    !write_pem(d->client_cert, cli, NULL) || !write_pem(d->client_key, NULL, cli_key) ||
	    !write_pem(d->client_combined, cli, cli_key))
		goto out;
	d->ctx = SSL_CTX_new(TLS_server_method());
	if (!d->ctx || SSL_CTX_use_certificate(d->ctx, srv) != 1 ||
	    SSL_CTX_use_PrivateKey(d->ctx, srv_key) != 1)
		goto out;
	/* Needed for session resumption once client certificates are
	 * asked for; harmless otherwise. */
	SSL_CTX_set_session_id_context(d->ctx, (const unsigned char *)"rms_httpd", 9);
	if (d->opt.want_client_cert)
		SSL_CTX_set_verify(d->ctx, SSL_VERIFY_PEER, accept_any_cert);
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "httpd: TLS set-up failed\n");
	X509_free(ca);
	X509_free(srv);
	X509_free(cli);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(srv_key);
	EVP_PKEY_free(cli_key);
	return rc;
}

/* ---- the server ----------------------------------------------------------------- */

int rms_httpd_start(rms_httpd **out, const rms_httpd_options *opts)
{
	*out = NULL;
	rms_httpd *d = calloc(1, sizeof *d);
	if (!d)
		return -1;
	if (opts)
		d->opt = *opts;
	d->listen_fd = d->wake[0] = d->wake[1] = -1;
	pthread_mutex_init(&d->mu, NULL);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t salen = sizeof sa;
	int one = 1;
	if (pipe(d->wake) != 0 || (d->listen_fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(d->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(d->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    listen(d->listen_fd, 64) != 0 ||
	    getsockname(d->listen_fd, (struct sockaddr *)&sa, &salen) != 0 ||
	    fcntl(d->listen_fd, F_SETFL, fcntl(d->listen_fd, F_GETFL) | O_NONBLOCK) != 0) {
		fprintf(stderr, "httpd: cannot listen on 127.0.0.1: %s\n", strerror(errno));
		rms_httpd_stop(d);
		return -1;
	}
	d->port = ntohs(sa.sin_port);
	if (d->opt.tls != RMS_HTTPD_PLAIN && setup_tls(d) != 0) {
		rms_httpd_stop(d);
		return -1;
	}
	snprintf(d->url, sizeof d->url, "%s://127.0.0.1:%u/wsman",
	         d->opt.tls != RMS_HTTPD_PLAIN ? "https" : "http", (unsigned)d->port);
	/* OpenSSL writes with write(), so a client that hangs up would raise
	 * SIGPIPE and kill the test. The server's threads (the acceptor and,
	 * inheriting its mask, each connection) block it and see EPIPE; the
	 * test process's own handling is left alone. */
	sigset_t pipe_set, old_set;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
	int rc = pthread_create(&d->acceptor, NULL, acceptor_main, d);
	pthread_sigmask(SIG_SETMASK, &old_set, NULL);
	if (rc != 0) {
		rms_httpd_stop(d);
		return -1;
	}
	d->acceptor_running = true;
	*out = d;
	return 0;
}

void rms_httpd_stop(rms_httpd *d)
{
	if (!d)
		return;
	if (d->wake[1] >= 0 && write(d->wake[1], "x", 1) != 1)
		fprintf(stderr, "httpd: cannot signal the threads to stop\n");
	if (d->acceptor_running)
		pthread_join(d->acceptor, NULL);
	if (d->listen_fd >= 0)
		close(d->listen_fd);
	for (int i = 0; i < 2; i++)
		if (d->wake[i] >= 0)
			close(d->wake[i]);
	SSL_CTX_free(d->ctx);
	if (d->dir[0]) {
		unlink(d->ca_file);
		unlink(d->client_cert);
		unlink(d->client_key);
		unlink(d->client_combined);
		rmdir(d->dir);
	}
	free(d->last_line);
	free(d->last_headers);
	free(d->last_body);
	free(d->client_subject);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

uint16_t rms_httpd_port(const rms_httpd *d)
{
	return d->port;
}

const char *rms_httpd_url(const rms_httpd *d)
{
	return d->url;
}

const char *rms_httpd_ca_file(const rms_httpd *d)
{
	return d->dir[0] ? d->ca_file : NULL;
}

const char *rms_httpd_client_cert_file(const rms_httpd *d)
{
	return d->dir[0] ? d->client_cert : NULL;
}

const char *rms_httpd_client_key_file(const rms_httpd *d)
{
	return d->dir[0] ? d->client_key : NULL;
}

const char *rms_httpd_client_combined_file(const rms_httpd *d)
{
	return d->dir[0] ? d->client_combined : NULL;
}

unsigned rms_httpd_connections(rms_httpd *d)
{
	pthread_mutex_lock(&d->mu);
	unsigned n = d->connections;
	pthread_mutex_unlock(&d->mu);
	return n;
}

unsigned rms_httpd_requests(rms_httpd *d)
{
	pthread_mutex_lock(&d->mu);
	unsigned n = d->requests;
	pthread_mutex_unlock(&d->mu);
	return n;
}

static char *copy_locked(rms_httpd *d, char *const *field)
{
	pthread_mutex_lock(&d->mu);
	char *s = *field ? strdup(*field) : NULL;
	pthread_mutex_unlock(&d->mu);
	return s;
}

char *rms_httpd_last_request_line(rms_httpd *d)
{
	return copy_locked(d, &d->last_line);
}

char *rms_httpd_last_headers(rms_httpd *d)
{
	return copy_locked(d, &d->last_headers);
}

char *rms_httpd_client_subject(rms_httpd *d)
{
	return copy_locked(d, &d->client_subject);
}

char *rms_httpd_last_body(rms_httpd *d, size_t *len)
{
	pthread_mutex_lock(&d->mu);
	char *s = NULL;
	size_t n = d->last_body_len;
	if (d->last_body && (s = malloc(n + 1))) {
		memcpy(s, d->last_body, n + 1);
	}
	pthread_mutex_unlock(&d->mu);
	if (len)
		*len = s ? n : 0;
	return s;
}

char *rms_httpd_last_header(rms_httpd *d, const char *name)
{
	pthread_mutex_lock(&d->mu);
	char *v = d->last_headers ? header_value(d->last_headers, name) : NULL;
	pthread_mutex_unlock(&d->mu);
	return v;
}
