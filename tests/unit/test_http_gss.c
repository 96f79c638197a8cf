/*
 * The HTTP transport's own login (core/net/http.c with gss.c, http_gss.c
 * and winrm_enc.c) against a loopback server (tests/support/httpd.c) whose
 * handler is a real GSSAPI acceptor: NTLM from gss-ntlmssp, with its
 * NTLM_USER_FILE, answering as WinRM does (401 with Negotiate and Kerberos
 * challenges, the login per connection, sealed bodies both ways). What
 * remsess owns is checked here: the legs on one connection, the login
 * kept for the connection's life and done again on a new one, sealing and
 * unsealing, and refusing what must be refused (a wrong password, an answer
 * in plaintext or tampered with, a server without our scheme). Kerberos
 * against a real KDC is in the integration tests (unit.gss_endpoint).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gssapi/gssapi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gss.h"
#include "http.h"
#include "http_gss.h"
#include "httpd.h"
#include "util.h"
#include "winrm_enc.h"
#include "remsess/error.h"

#define USER "REMSESS\\alice"
#define PASSWORD "S3cr3t-pass"

/* ---- the acceptor ---------------------------------------------------------- */

#define MAX_CONN 32

typedef struct server {
	pthread_mutex_t lock;
	gss_ctx_id_t ctx[MAX_CONN + 1]; /* by connection number */
	bool authed[MAX_CONN + 1];
	unsigned logins;
	unsigned sealed_requests;
	unsigned plaintext_requests;
	bool answer_plain;  /* answer a sealed request in plaintext */
	bool tamper;        /* flip a byte of the sealed answer */
	bool close_after;   /* close the connection after each sealed answer */
	bool only_basic;    /* challenge with Basic only */
	bool refuse_plain;  /* AllowUnencrypted=false: 401 to a plaintext body */
	char last_plain[4096];
} server;

static char *b64(const void *data, size_t len)
{
	rms_buf b;
	rms__buf_init(&b);
	rms__base64_append(&b, data, len);
	return rms__buf_take(&b);
}

static void challenge(rms_httpd_response *resp, const server *s)
{
	resp->status = 401;
	resp->content_type = "";
	resp->headers = s->only_basic ? "WWW-Authenticate: Basic realm=\"WSMAN\"\r\n"
	                              : "WWW-Authenticate: Negotiate\r\nWWW-Authenticate: Kerberos\r\n";
}

/* One leg of the login; resp set. */
static void accept_leg(server *s, unsigned conn, const char *b64tok, rms_httpd_response *resp)
{
	unsigned char *tok = NULL;
	size_t len = 0;
	OM_uint32 minor, major;
	if (rms__base64_decode(&tok, &len, b64tok, strcspn(b64tok, "\r\n"))) {
		challenge(resp, s);
		return;
	}
	if (s->ctx[conn] != GSS_C_NO_CONTEXT && s->authed[conn]) {
		gss_delete_sec_context(&minor, &s->ctx[conn], GSS_C_NO_BUFFER);
		s->ctx[conn] = GSS_C_NO_CONTEXT;
		s->authed[conn] = false;
	}
	gss_buffer_desc in = {len, tok}, out = GSS_C_EMPTY_BUFFER;
	major = gss_accept_sec_context(&minor, &s->ctx[conn], GSS_C_NO_CREDENTIAL, &in,
	                               GSS_C_NO_CHANNEL_BINDINGS, NULL, NULL, &out, NULL, NULL,
	                               NULL);
	free(tok);
	if (GSS_ERROR(major)) {
		if (s->ctx[conn] != GSS_C_NO_CONTEXT)
			gss_delete_sec_context(&minor, &s->ctx[conn], GSS_C_NO_BUFFER);
		s->ctx[conn] = GSS_C_NO_CONTEXT;
		challenge(resp, s);
		return;
	}
	static __thread char headers[8192];
	char *t = out.length ? b64(out.value, out.length) : NULL;
	if (t)
		snprintf(headers, sizeof headers, "WWW-Authenticate: Negotiate %s\r\n", t);
	free(t);
	gss_release_buffer(&minor, &out);
	if (major == GSS_S_CONTINUE_NEEDED) {
		resp->status = 401;
		resp->content_type = "";
		resp->headers = headers;
		return;
	}
	s->authed[conn] = true;
	s->logins++;
	resp->content_type = "";
	resp->headers = out.length ? headers : NULL;
}

static void sealed_request(server *s, const rms_httpd_request *req, rms_httpd_response *resp)
{
	const char *ct = strstr(req->headers, "Content-Type: ");
	char ctype[256] = "";
	if (ct)
		snprintf(ctype, sizeof ctype, "%.*s", (int)strcspn(ct + 14, "\r\n"), ct + 14);
	rms_enc_part part;
	OM_uint32 minor;
	unsigned conn = req->connection;
	if (rms__enc_parse(ctype, req->body, req->body_len, &part)) {
		resp->status = 400;
		return;
	}
	rms_buf tok;
	rms__buf_init(&tok);
	rms__buf_append(&tok, part.header, part.header_len);
	rms__buf_append(&tok, part.sealed, part.sealed_len);
	gss_buffer_desc in = {tok.len, tok.data}, out = GSS_C_EMPTY_BUFFER;
	OM_uint32 major = gss_unwrap(&minor, s->ctx[conn], &in, &out, NULL, NULL);
	rms__buf_free(&tok);
	if (GSS_ERROR(major) || out.length != part.length) {
		resp->status = 400;
		gss_release_buffer(&minor, &out);
		return;
	}
	s->sealed_requests++;
	snprintf(s->last_plain, sizeof s->last_plain, "%.*s", (int)out.length, (char *)out.value);
	char *answer = rms__asprintf("<echo>%.*s</echo>", (int)out.length, (char *)out.value);
	gss_release_buffer(&minor, &out);
	if (s->answer_plain) {
		resp->body = answer;
		resp->free_body = true;
		return;
	}
	gss_buffer_desc pin = {strlen(answer), answer};
	int conf = 0;
	gss_wrap(&minor, s->ctx[conn], 1, GSS_C_QOP_DEFAULT, &pin, &conf, &out);
	rms_buf wire;
	rms__buf_init(&wire);
	if (s->tamper)
		((unsigned char *)out.value)[out.length - 1] ^= 0x55;
	rms__enc_frame(&wire, RMS_ENC_SPNEGO, out.value, 16, (const uint8_t *)out.value + 16,
	               out.length - 16, strlen(answer));
	gss_release_buffer(&minor, &out);
	free(answer);
	resp->content_type = "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-"
	                     "encrypted\";boundary=\"Encrypted Boundary\"";
	resp->body_len = wire.len;
	resp->body = rms__buf_take(&wire);
	resp->free_body = true;
	resp->close = s->close_after;
}

static void handler(const rms_httpd_request *req, rms_httpd_response *resp, void *userdata)
{
	server *s = userdata;
	unsigned conn = req->connection;
	pthread_mutex_lock(&s->lock);
	const char *auth = strstr(req->headers, "Authorization: ");
	if (conn > MAX_CONN) {
		resp->status = 503;
	} else if (s->only_basic) {
		challenge(resp, s);
	} else if (auth && strncmp(auth + 15, "Negotiate ", 10) == 0) {
		accept_leg(s, conn, auth + 25, resp);
	} else if (!s->authed[conn]) {
		challenge(resp, s);
	} else if (strstr(req->headers, "multipart/encrypted")) {
		sealed_request(s, req, resp);
	} else if (s->refuse_plain && req->body_len) {
		challenge(resp, s);
		resp->headers = NULL;
	} else {
		s->plaintext_requests++;
		resp->body = req->body_len ? "<plain/>" : NULL;
	}
	pthread_mutex_unlock(&s->lock);
}

/* ---- fixtures ------------------------------------------------------------ */

typedef struct fixture {
	server srv;
	rms_httpd *d;
	rms_stats st;
} fixture;

static char user_file[64];

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	pthread_mutex_init(&f->srv.lock, NULL);
	rms_httpd_options o = {.handler = handler, .userdata = &f->srv};
	if (rms_httpd_start(&f->d, &o) != 0)
		return -1;
	f->st.version = RMS_STATS_VERSION;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	rms_httpd_stop(f->d);
	OM_uint32 minor;
	for (int i = 0; i <= MAX_CONN; i++)
		if (f->srv.ctx[i] != GSS_C_NO_CONTEXT)
			gss_delete_sec_context(&minor, &f->srv.ctx[i], GSS_C_NO_BUFFER);
	pthread_mutex_destroy(&f->srv.lock);
	free(f);
	return 0;
}

static rms_http *client(fixture *f, const char *user, const char *password, bool encrypt)
{
	rms_http *h = NULL;
	rms_http_config c = {.url = rms_httpd_url(f->d),
	                     .auth = RMS_AUTH_NTLM,
	                     .user = user,
	                     .password = password,
	                     .encrypt = encrypt,
	                     .stats = &f->st,
	                     .timeout_ms = 10000};
	if (rms__http_new(&h, &c) != 0)
		fail_msg("rms__http_new: %s", rms_error_message(rms_error_last()));
	return h;
}

static void post_ok(rms_http *h, const char *body, rms_http_response *resp)
{
	int rc = rms__http_post(h, body, strlen(body), NULL, resp);
	if (rc != 0)
		fail_msg("post failed: %s", rms_error_message(rms_error_last()));
}

static void expect_fail(rms_http *h, const char *body, int code, rms_phase phase,
                        const char *needle)
{
	rms_http_response resp;
	int rc = rms__http_post(h, body, strlen(body), NULL, &resp);
	const rms_error *e = rms_error_last();
	if (rc != code || rms_error_phase(e) != phase || !strstr(rms_error_message(e), needle))
		fail_msg("got %s (%s): '%s'; wanted %s (%s) with '%s'", rms_error_code_name(rc),
		         rms_phase_name(rms_error_phase(e)), rms_error_message(e),
		         rms_error_code_name(code), rms_phase_name(phase), needle);
	rms__http_response_free(&resp);
}

/* ---- tests --------------------------------------------------------------- */

/* Three legs as WinRM's Negotiate with raw NTLMSSP takes them (NEGOTIATE,
 * CHALLENGE, AUTHENTICATE with empty bodies), then the sealed body; the
 * second request goes sealed on the same connection with no login. */
static void test_ntlm_login_then_sealed_bodies(void **state)
{
	fixture *f = *state;
	rms_http *h = client(f, USER, PASSWORD, true);
	rms_http_response resp;
	post_ok(h, "<first/>", &resp);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.body.data, "<echo><first/></echo>");
	assert_string_equal(resp.content_type, "application/soap+xml;charset=UTF-8");
	rms__http_response_free(&resp);
	assert_string_equal(f->srv.last_plain, "<first/>");
	assert_int_equal(f->srv.logins, 1);
	assert_int_equal(f->st.round_trips, 3); /* two legs and the body */
	post_ok(h, "<second/>", &resp);
	assert_string_equal(resp.body.data, "<echo><second/></echo>");
	rms__http_response_free(&resp);
	assert_int_equal(f->srv.logins, 1);
	assert_int_equal(f->srv.sealed_requests, 2);
	assert_int_equal(f->srv.plaintext_requests, 0);
	assert_int_equal(f->st.round_trips, 4);
	assert_int_equal(f->st.connections_opened, 1);
	assert_int_equal(rms_httpd_connections(f->d), 1);
	/* What went on the wire was never the plaintext. */
	size_t n;
	char *last = rms_httpd_last_body(f->d, &n);
	for (size_t i = 0; i + 9 <= n; i++)
		if (memcmp(last + i, "<second/>", 9) == 0)
			fail_msg("the plaintext went on the wire");
	free(last);
	rms__http_free(h);
}

/* A large body (300 KB) is sealed and unsealed whole. */
static void test_large_body_is_sealed_whole(void **state)
{
	fixture *f = *state;
	rms_http *h = client(f, USER, PASSWORD, true);
	size_t len = 300 * 1024;
	char *body = malloc(len + 1);
	for (size_t i = 0; i < len; i++)
		body[i] = (char)('a' + i % 26);
	body[len] = '\0';
	rms_http_response resp;
	post_ok(h, body, &resp);
	assert_int_equal(resp.body.len, len + strlen("<echo></echo>"));
	assert_memory_equal(resp.body.data + 6, body, len);
	rms__http_response_free(&resp);
	free(body);
	rms__http_free(h);
}

/* The server closes the connection after an answer: the next request's
 * connection is a new one, so the login is done again on it. */
static void test_new_connection_logs_in_again(void **state)
{
	fixture *f = *state;
	f->srv.close_after = true;
	rms_http *h = client(f, USER, PASSWORD, true);
	rms_http_response resp;
	for (int i = 0; i < 3; i++) {
		post_ok(h, "<again/>", &resp);
		assert_string_equal(resp.body.data, "<echo><again/></echo>");
		rms__http_response_free(&resp);
	}
	assert_int_equal(f->srv.logins, 3);
	assert_int_equal(rms_httpd_connections(f->d), 3);
	assert_int_equal(f->srv.sealed_requests, 3);
	rms__http_free(h);
}

/* rms__http_close drops the connection and its login with it. */
static void test_close_drops_the_login(void **state)
{
	fixture *f = *state;
	rms_http *h = client(f, USER, PASSWORD, true);
	rms_http_response resp;
	post_ok(h, "<a/>", &resp);
	rms__http_response_free(&resp);
	rms__http_close(h);
	post_ok(h, "<b/>", &resp);
	assert_string_equal(resp.body.data, "<echo><b/></echo>");
	rms__http_response_free(&resp);
	assert_int_equal(f->srv.logins, 2);
	rms__http_free(h);
}

static void test_wrong_password_is_refused(void **state)
{
	fixture *f = *state;
	rms_http *h = client(f, USER, "not-the-password", true);
	expect_fail(h, "<x/>", RMS_E_AUTH, RMS_PHASE_AUTHENTICATE, "wrong user name");
	assert_int_equal(rms_error_http_status(rms_error_last()), 401);
	assert_int_equal(f->srv.logins, 0);
	assert_int_equal(f->srv.sealed_requests + f->srv.plaintext_requests, 0);
	rms__http_free(h);
}

static void test_server_without_our_scheme(void **state)
{
	fixture *f = *state;
	f->srv.only_basic = true;
	rms_http *h = client(f, USER, PASSWORD, true);
	expect_fail(h, "<x/>", RMS_E_AUTH, RMS_PHASE_AUTHENTICATE, "offers: Basic");
	rms__http_free(h);
}

/* A plaintext answer where encryption is on is refused, never taken. */
static void test_plaintext_answer_is_refused(void **state)
{
	fixture *f = *state;
	f->srv.answer_plain = true;
	rms_http *h = client(f, USER, PASSWORD, true);
	expect_fail(h, "<x/>", RMS_E_PROTOCOL, RMS_PHASE_DECODE, "plaintext");
	rms__http_free(h);
}

/* A sealed answer that fails its check is an error, not retried as
 * plaintext; the connection is dropped and the next request logs in on a
 * new one. */
static void test_tampered_answer_fails_its_check(void **state)
{
	fixture *f = *state;
	f->srv.tamper = true;
	rms_http *h = client(f, USER, PASSWORD, true);
	expect_fail(h, "<x/>", RMS_E_PROTOCOL, RMS_PHASE_DECODE, "failed to unseal");
	f->srv.tamper = false;
	rms_http_response resp;
	post_ok(h, "<y/>", &resp);
	assert_string_equal(resp.body.data, "<echo><y/></echo>");
	rms__http_response_free(&resp);
	assert_int_equal(rms_httpd_connections(f->d), 2);
	assert_int_equal(f->srv.logins, 2);
	rms__http_free(h);
}

/* Without encryption (as over https) the body goes in plaintext after the
 * login; a server that refuses plaintext (AllowUnencrypted=false) gets a
 * second login and then a clear error. */
static void test_unencrypted_body_and_its_refusal(void **state)
{
	fixture *f = *state;
	rms_http *h = client(f, USER, PASSWORD, false);
	rms_http_response resp;
	post_ok(h, "<p/>", &resp);
	assert_string_equal(resp.body.data, "<plain/>");
	rms__http_response_free(&resp);
	f->srv.refuse_plain = true;
	expect_fail(h, "<p/>", RMS_E_AUTH, RMS_PHASE_AUTHENTICATE, "AllowUnencrypted");
	rms__http_free(h);
}

/* The stepped interface goes through the same legs without blocking. */
static void test_stepped_login(void **state)
{
	fixture *f = *state;
	rms_http *h = client(f, USER, PASSWORD, true);
	assert_int_equal(rms__http_start(h, "<s/>", 4, NULL), 0);
	rms_http_response resp;
	int rc, steps = 0;
	rms_wait w;
	while ((rc = rms__http_step(h, &w, &resp)) == RMS_EAGAIN) {
		steps++;
		assert_int_equal(rms__wait_block(&w), 0);
	}
	if (rc)
		fail_msg("%s", rms_error_message(rms_error_last()));
	assert_true(steps >= 3);
	assert_string_equal(resp.body.data, "<echo><s/></echo>");
	rms__http_response_free(&resp);
	rms__http_free(h);
}

struct lines {
	char *v[2048];
	size_t n;
};

static void collect(rms_log_level level, const char *message, void *userdata)
{
	(void)level;
	struct lines *l = userdata;
	if (l->n < sizeof l->v / sizeof l->v[0])
		l->v[l->n++] = strdup(message);
}

/* At TRACE, curl's header lines go through the logger: the Authorization
 * and WWW-Authenticate values are redacted, and neither the password nor
 * a token appears anywhere. */
static void test_tokens_and_password_never_logged(void **state)
{
	fixture *f = *state;
	struct lines l = {.n = 0};
	rms_logger lg = {.fn = collect, .userdata = &l, .level = RMS_LOG_TRACE};
	rms_http *h = NULL;
	rms_http_config c = {.url = rms_httpd_url(f->d),
	                     .auth = RMS_AUTH_NTLM,
	                     .user = USER,
	                     .password = PASSWORD,
	                     .encrypt = true,
	                     .log = &lg};
	assert_int_equal(rms__http_new(&h, &c), 0);
	rms_http_response resp;
	post_ok(h, "<logged/>", &resp);
	rms__http_response_free(&resp);
	rms__http_free(h);
	bool saw_auth = false;
	for (size_t i = 0; i < l.n; i++) {
		if (strstr(l.v[i], "Authorization: Negotiate [redacted]"))
			saw_auth = true;
		/* "TlRMTVNTUA" is base64 of "NTLMSSP": any token. */
		if (strstr(l.v[i], PASSWORD) || strstr(l.v[i], "TlRMTVNTUA"))
			fail_msg("a credential in log line: %s", l.v[i]);
		free(l.v[i]);
	}
	assert_true(saw_auth);
}

/* ---- pure helpers -------------------------------------------------------- */

static void test_challenges_are_read_by_scheme(void **state)
{
	(void)state;
	rms_buf tok;
	rms__buf_init(&tok);
	bool offered = false;
	const char *ch = "Basic realm=\"x\"\nnegotiate TlRMTVNTUAAC\nKerberos\n";
	assert_int_equal(rms__auth_challenge(ch, "Negotiate", &offered, &tok), 0);
	assert_true(offered);
	assert_int_equal(tok.len, 9);
	assert_memory_equal(tok.data, "NTLMSSP\0\2", 9);
	assert_int_equal(rms__auth_challenge(ch, "Kerberos", &offered, &tok), 0);
	assert_true(offered);
	assert_int_equal(tok.len, 0);
	assert_int_equal(rms__auth_challenge(ch, "NTLM", &offered, &tok), 0);
	assert_false(offered);
	assert_int_equal(rms__auth_challenge("Negotiate !!!\n", "Negotiate", &offered, &tok),
	                 RMS_E_PROTOCOL);
	char buf[64];
	rms__auth_offered(ch, buf, sizeof buf);
	assert_string_equal(buf, "Basic, negotiate, Kerberos");
	rms__auth_offered("", buf, sizeof buf);
	assert_string_equal(buf, "none");
	/* Challenges a proxy folded into one header, with a quoted comma. */
	const char *folded = "Basic realm=\"a, b\", charset=\"UTF-8\", Negotiate TlRMTVNTUAAC, "
	                     "Kerberos\n";
	assert_int_equal(rms__auth_challenge(folded, "Negotiate", &offered, &tok), 0);
	assert_true(offered);
	assert_int_equal(tok.len, 9);
	assert_int_equal(rms__auth_challenge(folded, "Basic", &offered, &tok), 0);
	assert_true(offered);
	assert_int_equal(tok.len, 0); /* auth-params, no token */
	rms__auth_offered(folded, buf, sizeof buf);
	assert_string_equal(buf, "Basic, Negotiate, Kerberos");
	/* A stale token from an earlier response is never read. */
	assert_int_equal(rms__auth_challenge("Kerberos\n", "Negotiate", &offered, &tok), 0);
	assert_false(offered);
	assert_int_equal(tok.len, 0);
	rms__buf_free(&tok);
}

int main(void)
{
	/* gss-ntlmssp's acceptor reads its users from this file. */
	snprintf(user_file, sizeof user_file, "/tmp/remsess-ntlm-users-%d", (int)getpid());
	FILE *fp = fopen(user_file, "w");
	if (!fp)
		return 1;
	fprintf(fp, "REMSESS:alice:%s\n", PASSWORD);
	fclose(fp);
	setenv("NTLM_USER_FILE", user_file, 1);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_ntlm_login_then_sealed_bodies),
	    T(test_large_body_is_sealed_whole),
	    T(test_new_connection_logs_in_again),
	    T(test_close_drops_the_login),
	    T(test_wrong_password_is_refused),
	    T(test_server_without_our_scheme),
	    T(test_plaintext_answer_is_refused),
	    T(test_tampered_answer_fails_its_check),
	    T(test_unencrypted_body_and_its_refusal),
	    T(test_stepped_login),
	    T(test_tokens_and_password_never_logged),
	    cmocka_unit_test(test_challenges_are_read_by_scheme),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(user_file);
	return rc;
}
