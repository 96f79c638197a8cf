/*
 * A small HTTP/1.1 server for the test suite, on 127.0.0.1 and a port the
 * kernel picks: real sockets, one thread per connection, keep-alive, and
 * TLS with certificates made when it starts. A test scripts the answers
 * (a handler, or a list of canned responses) and can make the server
 * misbehave: answer late, close without answering, cut a body short, stall,
 * drip, or stream a huge body generated on the fly.
 *
 * It counts the connections it accepted and the requests it read, and keeps
 * the last request (line, headers, body) for the test to inspect.
 */
#ifndef RMS_TEST_HTTPD_H
#define RMS_TEST_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rms_httpd rms_httpd;

typedef enum rms_httpd_mode {
	RMS_HTTPD_RESPOND = 0, /* a normal response: status, headers, body */
	RMS_HTTPD_CLOSE,       /* read the request, close without a byte of answer */
	RMS_HTTPD_TRUNCATE,    /* announce body_len + missing bytes, send body_len, close */
	RMS_HTTPD_STALL,       /* read the request, never answer; close when the client
	                          does or the server stops */
	RMS_HTTPD_DRIP,        /* the whole response, one byte every delay_ms */
	RMS_HTTPD_HUGE,        /* body, then fill repeated up to huge_len body bytes,
	                          generated as it is sent (never held in memory) */
	RMS_HTTPD_RAW          /* body sent as it is (no status line added), then close */
} rms_httpd_mode;

typedef struct rms_httpd_response {
	rms_httpd_mode mode;
	int status;               /* 0: 200 */
	const char *content_type; /* NULL: application/soap+xml;charset=UTF-8; "": none */
	const char *headers;      /* extra header lines, each ending in "\r\n" */
	const char *body;         /* NULL: empty */
	size_t body_len;          /* 0: strlen(body) */
	bool free_body;           /* the server frees body when sent (handlers' malloc) */
	bool close;               /* send "Connection: close" and close afterwards */
	uint64_t huge_len;        /* HUGE: total body bytes, body included */
	bool no_length;           /* HUGE: no Content-Length; the body ends at the close */
	const char *fill;         /* HUGE: the repeated pattern; NULL: "x" */
	size_t missing;           /* TRUNCATE: announced but never sent; 0: 1000 */
	unsigned delay_ms;        /* DRIP: pause between bytes; 0: 20 */
	/* Any mode: wait this long after reading the request before acting
	 * (a slow server: the client sees nothing meanwhile); 0: at once. */
	unsigned answer_after_ms;
} rms_httpd_response;

typedef struct rms_httpd_request {
	unsigned number;     /* 1 for the first request the server read */
	unsigned connection; /* 1 for the first connection it accepted */
	const char *method;
	const char *target;  /* as sent: "/wsman", or absolute through a proxy */
	const char *headers; /* "Name: value\r\n" lines */
	const char *body;
	size_t body_len;
} rms_httpd_request;

/* Fills resp (zeroed before the call) for req. Runs on the connection's
 * thread: with several connections at once, calls may overlap. */
typedef void (*rms_httpd_handler)(const rms_httpd_request *req, rms_httpd_response *resp,
                                  void *userdata);

typedef enum rms_httpd_tls {
	RMS_HTTPD_PLAIN = 0,
	RMS_HTTPD_TLS_SELF_SIGNED, /* a self-signed certificate for IP 127.0.0.1 */
	RMS_HTTPD_TLS_CA,          /* for IP 127.0.0.1, issued by the test CA */
	RMS_HTTPD_TLS_WRONG_NAME   /* issued by the test CA for "wrong.invalid" only */
} rms_httpd_tls;

typedef struct rms_httpd_options {
	rms_httpd_tls tls;
	bool want_client_cert; /* ask for a client certificate (any is accepted) */
	/* How to answer: the handler when set; otherwise request n gets
	 * script[n - 1] (the last entry repeating); otherwise 200, empty.
	 * Borrowed: must outlive the server. */
	rms_httpd_handler handler;
	void *userdata;
	const rms_httpd_response *script;
	size_t script_len;
	/* When set, every connection gets these bytes as soon as it is
	 * accepted (before any TLS) and is then closed: something that is not
	 * the expected server, e.g. an SSH banner or a plain-HTTP error on a
	 * port the client expects TLS on. */
	const char *banner;
} rms_httpd_options;

/* 0, or -1 with the reason on stderr. Stop with rms_httpd_stop(). */
int rms_httpd_start(rms_httpd **out, const rms_httpd_options *opts);
/* Stops the threads, closes every connection, removes the temporary
 * files and frees. Accepts NULL. */
void rms_httpd_stop(rms_httpd *d);

uint16_t rms_httpd_port(const rms_httpd *d);
/* "http://127.0.0.1:PORT/wsman" or "https://...". */
const char *rms_httpd_url(const rms_httpd *d);
/* PEM files in a temporary directory (TLS modes; NULL otherwise): the test
 * CA's certificate, and a client certificate it issued with its key
 * separately and both in one file. */
const char *rms_httpd_ca_file(const rms_httpd *d);
const char *rms_httpd_client_cert_file(const rms_httpd *d);
const char *rms_httpd_client_key_file(const rms_httpd *d);
const char *rms_httpd_client_combined_file(const rms_httpd *d);

unsigned rms_httpd_connections(rms_httpd *d);
unsigned rms_httpd_requests(rms_httpd *d);
/* Copies (free them) from the last request; NULL if there was none. */
char *rms_httpd_last_request_line(rms_httpd *d);
char *rms_httpd_last_headers(rms_httpd *d);
char *rms_httpd_last_body(rms_httpd *d, size_t *len);
/* The value of the last request's header `name` (any case), NULL if absent. */
char *rms_httpd_last_header(rms_httpd *d, const char *name);
/* Subject of the client certificate of the last TLS connection, NULL if
 * none was presented. */
char *rms_httpd_client_subject(rms_httpd *d);

#endif
