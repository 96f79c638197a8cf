/*
 * HTTP transport (core/net/http.c) against the loopback test server
 * (tests/support/httpd.c): headers on the wire, keep-alive and the traffic
 * counters, authentication, TLS verification, timeouts, cancellation,
 * dropped connections, the response size limit; and the same requests
 * stepped without blocking (rms__http_start/step/abort). Nothing leaves
 * 127.0.0.1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "httpd.h"
#include "util.h"
#include "wait.h"
#include "remsess/error.h"

#define SOAP_CT "application/soap+xml;charset=UTF-8"

/* ---- helpers ----------------------------------------------------------- */

#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		const char *h_ = (hay);                                                            \
		if (!h_ || !strstr(h_, (needle)))                                                  \
			fail_msg("'%s' not found in '%s'", (needle), h_ ? h_ : "(null)");          \
	} while (0)

static const char *last_message(void)
{
	return rms_error_message(rms_error_last());
}

static void assert_error(int rc, int code, rms_phase phase)
{
	if (rc != code || rms_error_phase(rms_error_last()) != phase)
		fail_msg("got %s (phase %s), wanted %s (phase %s): %s", rms_error_code_name(rc),
		         rms_phase_name(rms_error_phase(rms_error_last())),
		         rms_error_code_name(code), rms_phase_name(phase), last_message());
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Servers a test started and has not stopped: a failing assertion skips
 * the test's own stop, so the teardown stops them (threads, temporary
 * certificate files). */
static rms_httpd *live[4];

static rms_httpd *start(const rms_httpd_options *o)
{
	rms_httpd *d = NULL;
	assert_int_equal(rms_httpd_start(&d, o), 0);
	for (size_t i = 0; i < sizeof live / sizeof live[0]; i++) {
		if (!live[i]) {
			live[i] = d;
			return d;
		}
	}
	fail_msg("too many test servers at once");
	return NULL;
}

static void stop(rms_httpd *d)
{
	for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
		if (live[i] == d)
			live[i] = NULL;
	rms_httpd_stop(d);
}

static int stop_leftover_servers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
		stop(live[i]);
	return 0;
}

static rms_httpd *start_script(const rms_httpd_response *script, size_t n)
{
	rms_httpd_options o = {.script = script, .script_len = n};
	return start(&o);
}

static rms_http *client(const rms_http_config *cfg)
{
	rms_http *h = NULL;
	int rc = rms__http_new(&h, cfg);
	if (rc)
		fail_msg("rms__http_new: %s", last_message());
	return h;
}

static void post_ok(rms_http *h, const char *body, rms_http_response *resp)
{
	int rc = rms__http_post(h, body, strlen(body), NULL, resp);
	if (rc)
		fail_msg("post failed: %s", last_message());
}

/* A port on 127.0.0.1 nobody listens on (bound, then released). */
static uint16_t closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static long peak_rss_kib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* Every log line, for the redaction and warning tests. */
struct lines {
	char *v[4096];
	size_t n;
};

static void collect(rms_log_level level, const char *message, void *userdata)
{
	(void)level;
	struct lines *l = userdata;
	if (l->n < sizeof l->v / sizeof l->v[0])
		l->v[l->n++] = strdup(message);
}

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	l->n = 0;
}

static bool lines_contain(const struct lines *l, const char *needle)
{
	for (size_t i = 0; i < l->n; i++)
		if (strstr(l->v[i], needle))
			return true;
	return false;
}

/* ---- what goes on the wire ----------------------------------------------------- */

static void test_post_sends_soap_headers_and_content_length(void **state)
{
	(void)state;
	rms_httpd_response r = {.body = "<ok/>"};
	rms_httpd *d = start_script(&r, 1);
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d)});
	rms_http_response resp;
	const char *body = "<s:Envelope/>";
	assert_int_equal(
	    rms__http_post(h, body, strlen(body), "WSMANIDENTIFY: unauthenticated", &resp), 0);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.body.data, "<ok/>");
	assert_int_equal(resp.body.len, 5);
	assert_string_equal(resp.content_type, SOAP_CT);

	char *line = rms_httpd_last_request_line(d);
	assert_string_equal(line, "POST /wsman HTTP/1.1");
	free(line);
	struct {
		const char *name, *value;
	} want[] = {
	    {"Content-Type", SOAP_CT},
	    {"Content-Length", "13"},
	    {"Accept-Encoding", "identity"},
	    {"WSMANIDENTIFY", "unauthenticated"},
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		char *v = rms_httpd_last_header(d, want[i].name);
		if (!v || strcmp(v, want[i].value) != 0)
			fail_msg("header %s: '%s', wanted '%s'", want[i].name, v ? v : "(absent)",
			         want[i].value);
		free(v);
	}
	char *ua = rms_httpd_last_header(d, "User-Agent");
	assert_non_null(ua);
	assert_true(strncmp(ua, "remsess/", 8) == 0);
	free(ua);
	const char *absent[] = {"Transfer-Encoding", "Expect", "Authorization"};
	for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
		char *v = rms_httpd_last_header(d, absent[i]);
		if (v)
			fail_msg("unexpected header %s: %s", absent[i], v);
	}
	size_t n;
	char *got = rms_httpd_last_body(d, &n);
	assert_int_equal(n, strlen(body));
	assert_memory_equal(got, body, n);
	free(got);
	rms__http_response_free(&resp);
	rms__http_free(h);
	stop(d);
}

/* curl would announce "Expect: 100-continue" for a body over 1 MiB and wait
 * for the server; the body must go out at once, whole, with its length. */
static void test_large_post_has_no_expect_and_arrives_whole(void **state)
{
	(void)state;
	rms_httpd *d = start_script(NULL, 0);
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d)});
	size_t len = (size_t)3 << 20;
	char *body = malloc(len);
	assert_non_null(body);
	for (size_t i = 0; i < len; i++)
		body[i] = (char)('a' + i % 26);
	rms_http_response resp;
	assert_int_equal(rms__http_post(h, body, len, NULL, &resp), 0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.body.len, 0);
	assert_non_null(resp.body.data);
	assert_string_equal(resp.body.data, "");
	char *expect = rms_httpd_last_header(d, "Expect");
	assert_null(expect);
	char *te = rms_httpd_last_header(d, "Transfer-Encoding");
	assert_null(te);
	char *cl = rms_httpd_last_header(d, "Content-Length");
	assert_string_equal(cl, "3145728");
	free(cl);
	size_t n;
	char *got = rms_httpd_last_body(d, &n);
	assert_int_equal(n, len);
	assert_memory_equal(got, body, len);
	free(got);
	free(body);
	rms__http_response_free(&resp);
	rms__http_free(h);
	stop(d);
}

static void test_extra_header_with_line_break_is_refused_unsent(void **state)
{
	(void)state;
	rms_httpd *d = start_script(NULL, 0);
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d)});
	rms_http_response resp;
	int rc = rms__http_post(h, "x", 1, "X-A: 1\r\nX-Injected: 2", &resp);
	assert_error(rc, RMS_E_INVALID_ARG, RMS_PHASE_SEND);
	assert_contains(last_message(), "X-A: 1");
	rc = rms__http_post(h, "x", 1, "no colon here", &resp);
	assert_error(rc, RMS_E_INVALID_ARG, RMS_PHASE_SEND);
	assert_int_equal(rms_httpd_requests(d), 0);
	rms__http_free(h);
	stop(d);
}

static void test_new_refuses_a_missing_or_foreign_url(void **state)
{
	(void)state;
	rms_http *h = (rms_http *)1;
	assert_int_equal(rms__http_new(&h, &(rms_http_config){.url = NULL}), RMS_E_INVALID_ARG);
	assert_null(h);
	assert_string_equal(rms_error_field(rms_error_last()), "url");
	assert_int_equal(rms__http_new(&h, &(rms_http_config){.url = "ftp://127.0.0.1/wsman"}),
	                 RMS_E_INVALID_ARG);
	assert_contains(last_message(), "ftp://127.0.0.1/wsman");
	assert_int_equal(rms__http_new(&h, NULL), RMS_E_INVALID_ARG);
}

/* ---- connections and counters ---------------------------------------------------- */

static void test_keep_alive_uses_one_connection_and_counts_traffic(void **state)
{
	(void)state;
	rms_httpd_response r[] = {{.body = "<a/>"}, {.body = "<bb/>"}, {.body = "<ccc/>"}};
	rms_httpd *d = start_script(r, 3);
	rms_stats st = {.version = RMS_STATS_VERSION};
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d), .stats = &st});
	const char *bodies[] = {"<one/>", "<second/>", "<3/>"};
	for (int i = 0; i < 3; i++) {
		rms_http_response resp;
		post_ok(h, bodies[i], &resp);
		assert_int_equal(resp.status, 200);
		rms__http_response_free(&resp);
	}
	assert_int_equal(rms_httpd_connections(d), 1);
	assert_int_equal(rms_httpd_requests(d), 3);
	assert_int_equal(st.connections_opened, 1);
	assert_int_equal(st.connections_open, 1);
	assert_int_equal(st.requests, 3);
	assert_int_equal(st.round_trips, 3);
	assert_int_equal(st.bytes_sent, 6 + 9 + 4);
	assert_int_equal(st.bytes_received, 4 + 5 + 6);
	assert_int_equal(st.largest_request, 9);
	rms__http_free(h);
	assert_int_equal(st.connections_open, 0);
	stop(d);
}

static void test_close_drops_the_connection_and_the_next_request_reconnects(void **state)
{
	(void)state;
	rms_httpd *d = start_script(NULL, 0);
	rms_stats st = {.version = RMS_STATS_VERSION};
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d), .stats = &st});
	rms_http_response resp;
	post_ok(h, "<a/>", &resp);
	rms__http_response_free(&resp);
	assert_int_equal(st.connections_open, 1);
	rms__http_close(h);
	assert_int_equal(st.connections_open, 0);
	rms__http_close(h); /* twice is harmless */
	assert_int_equal(st.connections_open, 0);
	post_ok(h, "<b/>", &resp);
	rms__http_response_free(&resp);
	assert_int_equal(rms_httpd_connections(d), 2);
	assert_int_equal(st.connections_opened, 2);
	assert_int_equal(st.connections_open, 1);
	assert_int_equal(st.requests, 2);
	rms__http_free(h);
	assert_int_equal(st.connections_open, 0);
	stop(d);
}

static void test_server_connection_close_is_not_counted_as_open(void **state)
{
	(void)state;
	rms_httpd_response r = {.body = "<a/>", .close = true};
	rms_httpd *d = start_script(&r, 1);
	rms_stats st = {.version = RMS_STATS_VERSION};
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d), .stats = &st});
	rms_http_response resp;
	post_ok(h, "<a/>", &resp);
	assert_string_equal(resp.body.data, "<a/>");
	rms__http_response_free(&resp);
	assert_int_equal(st.connections_open, 0);
	post_ok(h, "<b/>", &resp);
	rms__http_response_free(&resp);
	assert_int_equal(rms_httpd_connections(d), 2);
	assert_int_equal(st.connections_opened, 2);
	assert_int_equal(st.connections_open, 0);
	rms__http_free(h);
	stop(d);
}

/* The server drops a kept-alive connection just as a request arrives on it
 * (its idle timeout racing the client): curl resends on a new connection,
 * rewinding the body, and the counters show both attempts. */
static void test_request_on_a_dead_kept_alive_connection_is_resent(void **state)
{
	(void)state;
	rms_httpd_response r[] = {{.body = "<1/>"}, {.mode = RMS_HTTPD_CLOSE}, {.body = "<3/>"}};
	rms_httpd *d = start_script(r, 3);
	rms_stats st = {.version = RMS_STATS_VERSION};
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d), .stats = &st});
	rms_http_response resp;
	post_ok(h, "<first/>", &resp);
	rms__http_response_free(&resp);
	post_ok(h, "<second/>", &resp);
	assert_string_equal(resp.body.data, "<3/>");
	rms__http_response_free(&resp);
	size_t n;
	char *got = rms_httpd_last_body(d, &n);
	assert_string_equal(got, "<second/>");
	free(got);
	assert_int_equal(rms_httpd_requests(d), 3);
	assert_int_equal(rms_httpd_connections(d), 2);
	assert_int_equal(st.requests, 3);
	assert_int_equal(st.round_trips, 2);
	assert_int_equal(st.connections_opened, 2);
	assert_int_equal(st.bytes_sent, 8 + 9 + 9);
	rms__http_free(h);
	stop(d);
}

static void test_status_body_and_content_type_pass_through(void **state)
{
	(void)state;
	rms_httpd_response r[] = {
	    {.status = 200, .body = "<r/>"},
	    {.status = 401,
	     .content_type = "",
	     .headers = "WWW-Authenticate: Basic realm=\"WSMAN\"\r\n"},
	    {.status = 413, .content_type = ""},
	    {.status = 500, .body = "<s:Fault/>"},
	    {.status = 500, .content_type = "text/html", .body = "<html>oops</html>"},
	};
	rms_httpd *d = start_script(r, 5);
	rms_stats st = {.version = RMS_STATS_VERSION};
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d), .stats = &st});
	for (size_t i = 0; i < 5; i++) {
		rms_http_response resp;
		post_ok(h, "<x/>", &resp);
		assert_int_equal(resp.status, r[i].status);
		assert_non_null(resp.body.data);
		assert_string_equal(resp.body.data, r[i].body ? r[i].body : "");
		if (r[i].content_type && !*r[i].content_type)
			assert_null(resp.content_type);
		else
			assert_string_equal(resp.content_type,
			                    r[i].content_type ? r[i].content_type : SOAP_CT);
		rms__http_response_free(&resp);
	}
	assert_int_equal(st.round_trips, 5);
	assert_int_equal(rms_httpd_connections(d), 1);
	rms__http_free(h);
	stop(d);
}

/* ---- authentication and logging ------------------------------------------------- */

static void test_basic_credentials_go_on_the_first_request(void **state)
{
	(void)state;
	rms_httpd_response r = {.body = "<ok/>"};
	rms_httpd *d = start_script(&r, 1);
	rms_stats st = {.version = RMS_STATS_VERSION};
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d),
	                                        .auth = RMS_AUTH_BASIC,
	                                        .user = "alice",
	                                        .password = "S3cr3t-pass",
	                                        .stats = &st});
	rms_http_response resp;
	post_ok(h, "<a/>", &resp);
	assert_int_equal(resp.status, 200);
	rms__http_response_free(&resp);
	/* base64("alice:S3cr3t-pass") */
	char *auth = rms_httpd_last_header(d, "Authorization");
	assert_string_equal(auth, "Basic YWxpY2U6UzNjcjN0LXBhc3M=");
	free(auth);
	assert_int_equal(rms_httpd_requests(d), 1);
	assert_int_equal(st.requests, 1);
	rms__http_free(h);
	stop(d);
}

/* Basic was already sent: a 401 is the answer, handed up, not retried. */
static void test_basic_401_is_returned_not_retried(void **state)
{
	(void)state;
	rms_httpd_response r = {.status = 401,
	                        .content_type = "",
	                        .headers = "WWW-Authenticate: Basic realm=\"WSMAN\"\r\n"};
	rms_httpd *d = start_script(&r, 1);
	rms_http *h = client(&(rms_http_config){
	    .url = rms_httpd_url(d), .auth = RMS_AUTH_BASIC, .user = "alice", .password = "wrong"});
	rms_http_response resp;
	post_ok(h, "<a/>", &resp);
	assert_int_equal(resp.status, 401);
	rms__http_response_free(&resp);
	assert_int_equal(rms_httpd_requests(d), 1);
	rms__http_free(h);
	stop(d);
}

static void test_password_never_reaches_the_log(void **state)
{
	(void)state;
	rms_httpd_response r[] = {{.body = "<ok/>"}, {.status = 401, .content_type = ""}};
	rms_httpd *d = start_script(r, 2);
	struct lines l = {.n = 0};
	/* No secret given to the logger: the header redaction alone must do. */
	rms_logger lg = {.fn = collect, .userdata = &l, .level = RMS_LOG_TRACE};
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d),
	                                        .auth = RMS_AUTH_BASIC,
	                                        .user = "alice",
	                                        .password = "S3cr3t-pass",
	                                        .log = &lg});
	for (int i = 0; i < 2; i++) {
		rms_http_response resp;
		post_ok(h, "<a/>", &resp);
		rms__http_response_free(&resp);
	}
	rms__http_free(h);
	assert_true(l.n > 0);
	/* The request headers were logged, with the credential removed. */
	assert_true(lines_contain(&l, "Authorization: Basic [redacted]"));
	assert_true(lines_contain(&l, "POST /wsman"));
	for (size_t i = 0; i < l.n; i++) {
		if (strstr(l.v[i], "S3cr3t-pass") || strstr(l.v[i], "YWxpY2U6UzNjcjN0LXBhc3M"))
			fail_msg("credential in log line: %s", l.v[i]);
	}
	lines_free(&l);
	stop(d);
}

/* ---- network failures ----------------------------------------------------------- */

static void test_connection_refused_is_a_connect_error(void **state)
{
	(void)state;
	char url[80];
	uint16_t port = closed_port();
	snprintf(url, sizeof url, "http://127.0.0.1:%u/wsman", (unsigned)port);
	rms_stats st = {.version = RMS_STATS_VERSION};
	rms_http *h = client(&(rms_http_config){.url = url, .stats = &st});
	rms_http_response resp;
	int rc = rms__http_post(h, "<a/>", 4, NULL, &resp);
	assert_error(rc, RMS_E_CONNECT, RMS_PHASE_CONNECT);
	assert_contains(last_message(), url);
	assert_contains(last_message(), "refused");
	assert_int_equal(rms_error_os_errno(rms_error_last()), ECONNREFUSED);
	assert_null(resp.body.data);
	assert_int_equal(st.connections_opened, 0);
	assert_int_equal(st.connections_open, 0);
	assert_int_equal(st.requests, 0);
	assert_int_equal(st.bytes_sent, 0);
	rms__http_free(h);
}

/* Credentials in a URL never reach a message. */
static void test_messages_leave_url_credentials_out(void **state)
{
	(void)state;
	char url[96];
	snprintf(url, sizeof url, "http://bob:hunter2@127.0.0.1:%u/wsman", (unsigned)closed_port());
	rms_http *h = client(&(rms_http_config){.url = url});
	rms_http_response resp;
	assert_int_equal(rms__http_post(h, "<a/>", 4, NULL, &resp), RMS_E_CONNECT);
	assert_contains(last_message(), "http://127.0.0.1:");
	assert_null(strstr(last_message(), "hunter2"));
	assert_null(strstr(last_message(), "bob"));
	rms__http_free(h);
}

/* The name's first label is 64 characters, one more than DNS allows, so the
 * resolver rejects it without sending a query anywhere; and it is under the
 * reserved .invalid domain besides. */
static void test_unresolvable_name_is_a_resolve_error(void **state)
{
	(void)state;
	const char *url = "http://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	                  ".no-such-host.invalid:5985/wsman";
	rms_http *h = client(&(rms_http_config){.url = url, .connect_timeout_ms = 2000});
	rms_http_response resp;
	double t0 = now_s();
	int rc = rms__http_post(h, "<a/>", 4, NULL, &resp);
	assert_error(rc, RMS_E_RESOLVE, RMS_PHASE_RESOLVE);
	assert_true(now_s() - t0 < 5.0);
	assert_contains(last_message(), "no-such-host.invalid");
	rms__http_free(h);
}

static void test_stalled_server_times_out_in_receive(void **state)
{
	(void)state;
	rms_httpd_response r = {.mode = RMS_HTTPD_STALL};
	rms_httpd *d = start_script(&r, 1);
	rms_stats st = {.version = RMS_STATS_VERSION};
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d), .stats = &st});
	/* The per-request timeout as the WS-Man layer sets it. */
	rms__http_set_timeout(h, 300);
	rms_http_response resp;
	double t0 = now_s();
	int rc = rms__http_post(h, "<a/>", 4, NULL, &resp);
	double took = now_s() - t0;
	assert_error(rc, RMS_E_TIMEOUT, RMS_PHASE_RECEIVE);
	assert_true(took >= 0.25 && took < 5.0);
	assert_contains(last_message(), "no response from");
	assert_contains(last_message(), "300 ms");
	assert_int_equal(st.requests, 1);
	assert_int_equal(st.round_trips, 0);
	assert_int_equal(st.connections_open, 0);
	rms__http_free(h);
	stop(d);
}

/* A server answering a byte at a time cannot stretch a request past the
 * whole-request timeout. The head arrives (about 120 bytes, 0.6 s), the
 * body does not finish. */
static void test_dripping_server_hits_the_request_timeout(void **state)
{
	(void)state;
	static char body[401];
	memset(body, 'd', 400);
	rms_httpd_response r = {.mode = RMS_HTTPD_DRIP, .body = body, .delay_ms = 5};
	rms_httpd *d = start_script(&r, 1);
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d), .timeout_ms = 1000});
	rms_http_response resp;
	double t0 = now_s();
	int rc = rms__http_post(h, "<a/>", 4, NULL, &resp);
	assert_error(rc, RMS_E_TIMEOUT, RMS_PHASE_RECEIVE);
	assert_true(now_s() - t0 < 5.0);
	assert_contains(last_message(), "did not complete within 1000 ms");
	assert_contains(last_message(), "body bytes had arrived");
	rms__http_free(h);
	stop(d);
}

/* A listener whose accept queue is full drops new connection attempts, so
 * connecting hangs until the connect timeout. */
static void test_connect_timeout_is_phase_connect(void **state)
{
	(void)state;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(lfd, 0), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	int fill[4];
	for (int i = 0; i < 4; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM, 0);
		fcntl(fill[i], F_SETFL, O_NONBLOCK);
		connect(fill[i], (struct sockaddr *)&sa, sizeof sa);
	}
	sleep_ms(50);
	char url[80];
	snprintf(url, sizeof url, "http://127.0.0.1:%u/wsman", (unsigned)ntohs(sa.sin_port));
	rms_http *h =
	    client(&(rms_http_config){.url = url, .connect_timeout_ms = 300, .timeout_ms = 10000});
	rms_http_response resp;
	double t0 = now_s();
	int rc = rms__http_post(h, "<a/>", 4, NULL, &resp);
	double took = now_s() - t0;
	assert_error(rc, RMS_E_TIMEOUT, RMS_PHASE_CONNECT);
	assert_true(took >= 0.25 && took < 5.0);
	assert_contains(last_message(), "connecting to");
	assert_contains(last_message(), "300 ms");
	rms__http_free(h);
	for (int i = 0; i < 4; i++)
		close(fill[i]);
	close(lfd);
}

static void test_connection_dropped_mid_body_is_connection_lost(void **state)
{
	(void)state;
	rms_httpd_response r = {.mode = RMS_HTTPD_TRUNCATE, .body = "<partial", .missing = 1000};
	rms_httpd *d = start_script(&r, 1);
	rms_stats st = {.version = RMS_STATS_VERSION};
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d), .stats = &st});
	rms_http_response resp;
	int rc = rms__http_post(h, "<a/>", 4, NULL, &resp);
	assert_error(rc, RMS_E_CONNECTION_LOST, RMS_PHASE_RECEIVE);
	assert_contains(last_message(), "8 of 1008");
	assert_contains(last_message(), rms_httpd_url(d));
	assert_int_equal(rms_error_http_status(rms_error_last()), 200);
	assert_null(resp.body.data);
	assert_int_equal(st.round_trips, 0);
	assert_int_equal(st.bytes_received, 8);
	assert_int_equal(st.connections_open, 0);
	rms__http_free(h);
	stop(d);
}

static void test_close_without_answer_is_connection_lost(void **state)
{
	(void)state;
	rms_httpd_response r = {.mode = RMS_HTTPD_CLOSE};
	rms_httpd *d = start_script(&r, 1);
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d)});
	rms_http_response resp;
	int rc = rms__http_post(h, "<a/>", 4, NULL, &resp);
	assert_error(rc, RMS_E_CONNECTION_LOST, RMS_PHASE_RECEIVE);
	assert_contains(last_message(), "without answering");
	rms__http_free(h);
	stop(d);
}

static void test_garbage_reply_is_an_http_error(void **state)
{
	(void)state;
	rms_httpd_response r = {.mode = RMS_HTTPD_RAW, .body = "SSH-2.0-OpenSSH_9.2\r\n\r\n"};
	rms_httpd *d = start_script(&r, 1);
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d)});
	rms_http_response resp;
	int rc = rms__http_post(h, "<a/>", 4, NULL, &resp);
	assert_error(rc, RMS_E_HTTP, RMS_PHASE_RECEIVE);
	assert_contains(last_message(), rms_httpd_url(d));
	rms__http_free(h);
	stop(d);
}

/* ---- the response size limit ------------------------------------------------------ */

static void test_response_at_the_limit_passes_one_byte_more_fails(void **state)
{
	(void)state;
	static char big[1025];
	memset(big, 'z', 1024);
	rms_httpd_response r = {.body = big};
	rms_httpd *d = start_script(&r, 1);
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d), .max_response = 1024});
	rms_http_response resp;
	post_ok(h, "<a/>", &resp);
	assert_int_equal(resp.body.len, 1024);
	rms__http_response_free(&resp);
	rms__http_set_max_response(h, 1023);
	int rc = rms__http_post(h, "<a/>", 4, NULL, &resp);
	assert_error(rc, RMS_E_LIMIT, RMS_PHASE_RECEIVE);
	assert_string_equal(rms_error_limit_name(rms_error_last()), "response size");
	assert_int_equal(rms_error_limit_value(rms_error_last()), 1023);
	assert_int_equal(rms_error_limit_actual(rms_error_last()), 1024);
	assert_contains(last_message(), "1023");
	rms__http_free(h);
	stop(d);
}

/* A 1 GB body with its length announced is refused at the headers. */
static void test_huge_announced_body_is_refused_before_it_arrives(void **state)
{
	(void)state;
	rms_httpd_response r = {.mode = RMS_HTTPD_HUGE, .huge_len = (uint64_t)1 << 30};
	rms_httpd *d = start_script(&r, 1);
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d), .max_response = 1 << 20});
	rms_http_response resp;
	double t0 = now_s();
	int rc = rms__http_post(h, "<a/>", 4, NULL, &resp);
	assert_error(rc, RMS_E_LIMIT, RMS_PHASE_RECEIVE);
	assert_true(now_s() - t0 < 10.0);
	assert_contains(last_message(), "announces 1073741824 body bytes");
	assert_int_equal(rms_error_limit_value(rms_error_last()), 1 << 20);
	assert_int_equal(rms_error_limit_actual(rms_error_last()), (uint64_t)1 << 30);
	assert_null(resp.body.data);
	rms__http_free(h);
	stop(d);
}

/* A 1 GB body without a length is cut off as soon as it passes the limit;
 * memory stays near the limit, not the body. */
static void test_huge_streamed_body_stops_at_the_limit_in_bounded_memory(void **state)
{
	(void)state;
	rms_httpd_response r = {.mode = RMS_HTTPD_HUGE,
	                        .huge_len = (uint64_t)1 << 30,
	                        .no_length = true,
	                        .body = "<s:Envelope>",
	                        .fill = "<x>y</x>"};
	rms_httpd *d = start_script(&r, 1);
	rms_stats st = {.version = RMS_STATS_VERSION};
	rms_http *h = client(
	    &(rms_http_config){.url = rms_httpd_url(d), .max_response = 1 << 20, .stats = &st});
	long rss0 = peak_rss_kib();
	rms_http_response resp;
	double t0 = now_s();
	int rc = rms__http_post(h, "<a/>", 4, NULL, &resp);
	assert_error(rc, RMS_E_LIMIT, RMS_PHASE_RECEIVE);
	assert_true(now_s() - t0 < 20.0);
	uint64_t actual = rms_error_limit_actual(rms_error_last());
	assert_true(actual > (1u << 20) && actual <= (1u << 20) + (256u << 10));
	assert_int_equal(st.bytes_received, actual);
	assert_contains(last_message(), "larger than the limit of 1048576 bytes");
	long grew_kib = peak_rss_kib() - rss0;
	if (grew_kib > 32 * 1024)
		fail_msg("peak RSS grew by %ld KiB for a 1 MiB limit", grew_kib);
	rms__http_free(h);
	stop(d);
}

/* ---- TLS ------------------------------------------------------------------------- */

static void test_tls_self_signed_certificate_is_refused_with_the_reason(void **state)
{
	(void)state;
	rms_httpd_options o = {.tls = RMS_HTTPD_TLS_SELF_SIGNED};
	rms_httpd *d = start(&o);
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d)});
	rms_http_response resp;
	int rc = rms__http_post(h, "<a/>", 4, NULL, &resp);
	assert_error(rc, RMS_E_TLS, RMS_PHASE_TLS);
	assert_contains(last_message(),
	                "TLS certificate verification failed for https://127.0.0.1:");
	assert_contains(last_message(), "self-signed certificate (X509 error 18)");
	assert_int_equal(rms_httpd_requests(d), 0);
	rms__http_free(h);
	stop(d);
}

static void test_tls_host_name_mismatch_is_refused(void **state)
{
	(void)state;
	rms_httpd_options o = {.tls = RMS_HTTPD_TLS_WRONG_NAME};
	rms_httpd *d = start(&o);
	rms_http *h =
	    client(&(rms_http_config){.url = rms_httpd_url(d), .ca_file = rms_httpd_ca_file(d)});
	rms_http_response resp;
	int rc = rms__http_post(h, "<a/>", 4, NULL, &resp);
	assert_error(rc, RMS_E_TLS, RMS_PHASE_TLS);
	assert_contains(last_message(), "host name verification failed");
	assert_contains(last_message(), "127.0.0.1");
	assert_int_equal(rms_httpd_requests(d), 0);
	rms__http_free(h);
	stop(d);
}

static void test_tls_insecure_accepts_a_self_signed_server_and_warns(void **state)
{
	(void)state;
	rms_httpd_response r = {.body = "<ok/>"};
	rms_httpd_options o = {.tls = RMS_HTTPD_TLS_SELF_SIGNED, .script = &r, .script_len = 1};
	rms_httpd *d = start(&o);
	struct lines l = {.n = 0};
	rms_logger lg = {.fn = collect, .userdata = &l, .level = RMS_LOG_WARNING};
	rms_http *h =
	    client(&(rms_http_config){.url = rms_httpd_url(d), .tls_insecure = true, .log = &lg});
	assert_true(lines_contain(&l, "verification is OFF"));
	rms_http_response resp;
	post_ok(h, "<a/>", &resp);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.body.data, "<ok/>");
	rms__http_response_free(&resp);
	rms__http_free(h);
	lines_free(&l);
	stop(d);
}

static void test_tls_ca_file_verifies_the_server_and_keeps_alive(void **state)
{
	(void)state;
	rms_httpd_response r = {.body = "<ok/>"};
	rms_httpd_options o = {.tls = RMS_HTTPD_TLS_CA, .script = &r, .script_len = 1};
	rms_httpd *d = start(&o);
	rms_stats st = {.version = RMS_STATS_VERSION};
	rms_http *h = client(&(rms_http_config){
	    .url = rms_httpd_url(d), .ca_file = rms_httpd_ca_file(d), .stats = &st});
	for (int i = 0; i < 2; i++) {
		rms_http_response resp;
		post_ok(h, "<a/>", &resp);
		assert_string_equal(resp.body.data, "<ok/>");
		rms__http_response_free(&resp);
	}
	assert_int_equal(rms_httpd_connections(d), 1);
	assert_int_equal(st.connections_opened, 1);
	/* After a close the TLS session is resumed on a new connection. */
	rms__http_close(h);
	rms_http_response resp;
	post_ok(h, "<a/>", &resp);
	rms__http_response_free(&resp);
	assert_int_equal(rms_httpd_connections(d), 2);
	rms__http_free(h);
	stop(d);
}

static void test_tls_unreadable_ca_file_is_named(void **state)
{
	(void)state;
	rms_httpd_options o = {.tls = RMS_HTTPD_TLS_CA};
	rms_httpd *d = start(&o);
	rms_http *h =
	    client(&(rms_http_config){.url = rms_httpd_url(d), .ca_file = "/nonexistent/ca.pem"});
	rms_http_response resp;
	int rc = rms__http_post(h, "<a/>", 4, NULL, &resp);
	assert_error(rc, RMS_E_TLS, RMS_PHASE_TLS);
	assert_contains(last_message(), "/nonexistent/ca.pem");
	rms__http_free(h);
	stop(d);
}

static void test_client_certificate_is_presented(void **state)
{
	(void)state;
	rms_httpd_options o = {.tls = RMS_HTTPD_TLS_CA, .want_client_cert = true};
	rms_httpd *d = start(&o);
	/* Key in its own file, then in the certificate file. */
	const char *keys[2][2] = {
	    {rms_httpd_client_cert_file(d), rms_httpd_client_key_file(d)},
	    {rms_httpd_client_combined_file(d), NULL},
	};
	for (int i = 0; i < 2; i++) {
		rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d),
		                                        .ca_file = rms_httpd_ca_file(d),
		                                        .auth = RMS_AUTH_CERTIFICATE,
		                                        .client_cert = keys[i][0],
		                                        .client_key = keys[i][1]});
		rms_http_response resp;
		post_ok(h, "<a/>", &resp);
		assert_int_equal(resp.status, 200);
		rms__http_response_free(&resp);
		rms__http_free(h);
		char *subject = rms_httpd_client_subject(d);
		assert_contains(subject, "remsess test client");
		free(subject);
		char *auth = rms_httpd_last_header(d, "Authorization");
		assert_string_equal(
		    auth, "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual");
		free(auth);
	}
	stop(d);
}

/* https:// to a port where a plain HTTP server answers at once: the
 * handshake itself fails. */
static void test_tls_handshake_failure_is_a_tls_error(void **state)
{
	(void)state;
	rms_httpd_options o = {.banner = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"};
	rms_httpd *d = start(&o);
	char url[64];
	snprintf(url, sizeof url, "https://127.0.0.1:%u/wsman", (unsigned)rms_httpd_port(d));
	rms_http *h = client(&(rms_http_config){.url = url, .timeout_ms = 5000});
	rms_http_response resp;
	int rc = rms__http_post(h, "<a/>", 4, NULL, &resp);
	assert_error(rc, RMS_E_TLS, RMS_PHASE_TLS);
	assert_contains(last_message(), "TLS handshake with https://127.0.0.1:");
	rms__http_free(h);
	stop(d);
}

/* https:// to a plain HTTP server, which waits for a request that never
 * comes: the TCP connect worked, the TLS handshake times out. */
static void test_tls_handshake_timeout_is_told_from_a_connect_timeout(void **state)
{
	(void)state;
	rms_httpd *d = start_script(NULL, 0);
	char url[64];
	snprintf(url, sizeof url, "https://127.0.0.1:%u/wsman", (unsigned)rms_httpd_port(d));
	rms_http *h = client(&(rms_http_config){.url = url, .connect_timeout_ms = 400});
	rms_http_response resp;
	int rc = rms__http_post(h, "<a/>", 4, NULL, &resp);
	assert_error(rc, RMS_E_TIMEOUT, RMS_PHASE_CONNECT);
	assert_contains(last_message(), "the TLS handshake with https://127.0.0.1:");
	assert_contains(last_message(), "timed out after 400 ms");
	rms__http_free(h);
	stop(d);
}

static void test_unusable_client_certificate_is_named(void **state)
{
	(void)state;
	rms_httpd_options o = {.tls = RMS_HTTPD_TLS_CA, .want_client_cert = true};
	rms_httpd *d = start(&o);
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d),
	                                        .ca_file = rms_httpd_ca_file(d),
	                                        .auth = RMS_AUTH_CERTIFICATE,
	                                        .client_cert = "/nonexistent/client.pem"});
	rms_http_response resp;
	int rc = rms__http_post(h, "<a/>", 4, NULL, &resp);
	assert_error(rc, RMS_E_TLS, RMS_PHASE_TLS);
	assert_contains(last_message(), "client certificate '/nonexistent/client.pem'");
	rms__http_free(h);
	stop(d);
}

/* ---- proxies --------------------------------------------------------------------- */

static void test_environment_proxy_is_ignored(void **state)
{
	(void)state;
	rms_httpd *d = start_script(NULL, 0);
	char proxy[64];
	snprintf(proxy, sizeof proxy, "http://127.0.0.1:%u", (unsigned)closed_port());
	const char *vars[] = {"http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"};
	for (size_t i = 0; i < 5; i++)
		setenv(vars[i], proxy, 1);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d)});
	rms_http_response resp;
	int rc = rms__http_post(h, "<a/>", 4, NULL, &resp);
	for (size_t i = 0; i < 5; i++)
		unsetenv(vars[i]);
	if (rc)
		fail_msg("went through the environment's proxy: %s", last_message());
	char *line = rms_httpd_last_request_line(d);
	assert_string_equal(line, "POST /wsman HTTP/1.1");
	free(line);
	rms__http_response_free(&resp);
	rms__http_free(h);
	stop(d);
}

/* The test server stands in as the proxy: it sees the absolute URL, and the
 * target (a closed port) is never contacted. */
static void test_configured_proxy_is_used(void **state)
{
	(void)state;
	rms_httpd *d = start_script(NULL, 0);
	char proxy[64], url[64];
	snprintf(proxy, sizeof proxy, "http://127.0.0.1:%u", (unsigned)rms_httpd_port(d));
	snprintf(url, sizeof url, "http://127.0.0.1:%u/wsman", (unsigned)closed_port());
	rms_http *h = client(&(rms_http_config){.url = url, .proxy = proxy});
	rms_http_response resp;
	post_ok(h, "<a/>", &resp);
	rms__http_response_free(&resp);
	char *line = rms_httpd_last_request_line(d);
	char want[128];
	snprintf(want, sizeof want, "POST %s HTTP/1.1", url);
	assert_string_equal(line, want);
	free(line);
	rms__http_free(h);
	stop(d);
}

static void test_unreachable_proxy_is_named_without_its_credentials(void **state)
{
	(void)state;
	char proxy[96], url[64];
	snprintf(proxy, sizeof proxy, "http://pu:proxy-pw@127.0.0.1:%u", (unsigned)closed_port());
	snprintf(url, sizeof url, "http://127.0.0.1:%u/wsman", (unsigned)closed_port());
	rms_http *h = client(&(rms_http_config){.url = url, .proxy = proxy});
	rms_http_response resp;
	int rc = rms__http_post(h, "<a/>", 4, NULL, &resp);
	assert_error(rc, RMS_E_CONNECT, RMS_PHASE_CONNECT);
	assert_contains(last_message(), "through the proxy 'http://127.0.0.1:");
	assert_null(strstr(last_message(), "proxy-pw"));
	rms__http_free(h);
}

/* ---- cancellation --------------------------------------------------------------- */

static void *cancel_later(void *arg)
{
	sleep_ms(200);
	atomic_store((atomic_bool *)arg, true);
	return NULL;
}

static void test_cancel_from_another_thread_stops_a_stalled_request(void **state)
{
	(void)state;
	rms_httpd_response r = {.mode = RMS_HTTPD_STALL};
	rms_httpd *d = start_script(&r, 1);
	atomic_bool cancel;
	atomic_init(&cancel, false);
	rms_http *h = client(
	    &(rms_http_config){.url = rms_httpd_url(d), .cancel = &cancel, .timeout_ms = 30000});
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, cancel_later, &cancel), 0);
	rms_http_response resp;
	double t0 = now_s();
	int rc = rms__http_post(h, "<a/>", 4, NULL, &resp);
	double took = now_s() - t0;
	pthread_join(t, NULL);
	assert_error(rc, RMS_E_CANCELLED, RMS_PHASE_RECEIVE);
	assert_true(took >= 0.15 && took < 5.0);
	assert_contains(last_message(), "waiting for the response");
	rms__http_free(h);
	stop(d);
}

static void test_cancelled_before_sending_sends_nothing(void **state)
{
	(void)state;
	rms_httpd *d = start_script(NULL, 0);
	atomic_bool cancel;
	atomic_init(&cancel, true);
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d), .cancel = &cancel});
	rms_http_response resp;
	assert_int_equal(rms__http_post(h, "<a/>", 4, NULL, &resp), RMS_E_CANCELLED);
	assert_int_equal(rms_httpd_connections(d), 0);
	rms__http_free(h);
	stop(d);
}

/* ---- stepping without blocking --------------------------------------------------- */

/* The local port of the server end a socket is connected to, 0 if none. */
static uint16_t peer_port(int fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	if (getpeername(fd, (struct sockaddr *)&sa, &len) != 0 || sa.sin_family != AF_INET)
		return 0;
	return ntohs(sa.sin_port);
}

/* Steps h to its end, waiting on what each step names; counts the steps
 * and the longest one. */
struct drive {
	unsigned steps;
	double longest_step;
	bool saw_socket_in; /* a wait named a socket to the server, for reading */
	bool saw_deadline;
};

static int drive_to_end(rms_http *h, rms_http_response *resp, uint16_t port, struct drive *dr)
{
	for (;;) {
		rms_wait w;
		double t0 = now_s();
		int rc = rms__http_step(h, &w, resp);
		double took = now_s() - t0;
		dr->steps++;
		if (took > dr->longest_step)
			dr->longest_step = took;
		if (rc != RMS_EAGAIN)
			return rc;
		for (size_t i = 0; i < w.nfds; i++)
			if ((w.fds[i].events & RMS_WAIT_IN) && peer_port(w.fds[i].fd) == port)
				dr->saw_socket_in = true;
		if (w.deadline_ms)
			dr->saw_deadline = true;
		assert_int_equal(rms__wait_block(&w), 0);
	}
}

/* While a slow server thinks, a step comes straight back with the
 * connection's socket (waiting to read) and a deadline no later than the
 * request's time limit; the response arrives through later steps. */
static void test_step_returns_at_once_with_the_socket_and_a_deadline(void **state)
{
	(void)state;
	rms_httpd_response r = {.body = "<slow/>", .answer_after_ms = 600};
	rms_httpd *d = start_script(&r, 1);
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d), .timeout_ms = 10000});
	rms_http_response resp;
	assert_int_equal(rms__http_step(h, &(rms_wait){0}, &resp), RMS_E_STATE);
	assert_false(rms__http_busy(h));
	double t0 = now_s();
	assert_int_equal(rms__http_start(h, "<a/>", 4, NULL), 0);
	assert_true(rms__http_busy(h));
	/* One request at a time. */
	assert_int_equal(rms__http_start(h, "<b/>", 4, NULL), RMS_E_STATE);

	/* Step until the request is on the wire and the client waits to read. */
	rms_wait w;
	bool waiting_to_read = false;
	for (int i = 0; i < 100 && !waiting_to_read; i++) {
		double s0 = now_s();
		assert_int_equal(rms__http_step(h, &w, &resp), RMS_EAGAIN);
		assert_true(now_s() - s0 < 0.2);
		assert_true(w.deadline_ms > 0);
		assert_true(w.deadline_ms <= rms__now_ms() + 10000);
		for (size_t k = 0; k < w.nfds; k++)
			if ((w.fds[k].events & RMS_WAIT_IN) &&
			    peer_port(w.fds[k].fd) == rms_httpd_port(d))
				waiting_to_read = rms_httpd_requests(d) == 1;
		if (!waiting_to_read)
			assert_int_equal(rms__wait_block(&w), 0);
	}
	assert_true(waiting_to_read);
	assert_true(now_s() - t0 < 0.4); /* well before the answer */
	assert_null(resp.body.data);     /* nothing yet */

	struct drive dr = {0};
	assert_int_equal(drive_to_end(h, &resp, rms_httpd_port(d), &dr), 0);
	double took = now_s() - t0;
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.body.data, "<slow/>");
	assert_true(took >= 0.55);
	assert_true(dr.longest_step < 0.2);
	/* Woken by the socket, not by spinning. */
	if (dr.steps >= 50)
		fail_msg("%u steps: the waits did not hold", dr.steps);
	assert_false(rms__http_busy(h));
	rms__http_response_free(&resp);
	rms__http_free(h);
	stop(d);
}

static void slow_handler(const rms_httpd_request *req, rms_httpd_response *resp, void *ud)
{
	(void)ud;
	/* The request body says how long to think: "<ms/>". */
	resp->answer_after_ms = (unsigned)strtoul(req->body + 1, NULL, 10);
	resp->body = strndup(req->body, req->body_len);
	resp->free_body = true;
}

/* Two requests driven from one thread by step and one poll over both
 * waits run side by side: the whole takes about as long as the slower. */
static void test_two_handles_on_one_thread_finish_together(void **state)
{
	(void)state;
	rms_httpd *d = start(&(rms_httpd_options){.handler = slow_handler});
	rms_stats st[2] = {{.version = RMS_STATS_VERSION}, {.version = RMS_STATS_VERSION}};
	rms_http *h[2];
	const char *bodies[2] = {"<1000/>", "<1200/>"};
	rms_http_response resp[2];
	bool done[2] = {false, false};
	double t0 = now_s();
	for (int i = 0; i < 2; i++) {
		h[i] = client(&(rms_http_config){
		    .url = rms_httpd_url(d), .stats = &st[i], .timeout_ms = 10000});
		assert_int_equal(rms__http_start(h[i], bodies[i], strlen(bodies[i]), NULL), 0);
	}
	while (!done[0] || !done[1]) {
		rms_wait all;
		rms__wait_clear(&all);
		for (int i = 0; i < 2; i++) {
			if (done[i])
				continue;
			rms_wait w;
			int rc = rms__http_step(h[i], &w, &resp[i]);
			if (rc == 0) {
				done[i] = true;
				continue;
			}
			assert_int_equal(rc, RMS_EAGAIN);
			rms__wait_merge(&all, &w);
		}
		if (!done[0] || !done[1])
			assert_int_equal(rms__wait_block(&all), 0);
	}
	double took = now_s() - t0;
	for (int i = 0; i < 2; i++) {
		assert_string_equal(resp[i].body.data, bodies[i]);
		assert_int_equal(st[i].connections_opened, 1);
		assert_int_equal(st[i].round_trips, 1);
		rms__http_response_free(&resp[i]);
		rms__http_free(h[i]);
	}
	assert_int_equal(rms_httpd_connections(d), 2);
	/* The slower takes 1.2 s; one after the other would take 2.2 s. */
	assert_true(took >= 1.15);
	assert_true(took < 1.9);
	stop(d);
}

/* Step until the server has read the request. */
static void step_until_sent(rms_http *h, rms_httpd *d)
{
	for (int i = 0; i < 200 && rms_httpd_requests(d) < 1; i++) {
		rms_wait w;
		rms_http_response resp;
		assert_int_equal(rms__http_step(h, &w, &resp), RMS_EAGAIN);
		rms__wait_until(&w, rms__now_ms() + 20);
		assert_int_equal(rms__wait_block(&w), 0);
	}
	assert_int_equal(rms_httpd_requests(d), 1);
}

/* An abort mid-request drops its connection (the server may still answer
 * on it); the handle then runs a new request, on a new connection. */
static void test_abort_mid_request_leaves_the_handle_usable(void **state)
{
	(void)state;
	rms_httpd_response r[] = {{.mode = RMS_HTTPD_STALL}, {.body = "<2/>"}};
	rms_httpd *d = start_script(r, 2);
	rms_stats st = {.version = RMS_STATS_VERSION};
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d), .stats = &st});
	assert_int_equal(rms__http_start(h, "<first/>", 8, NULL), 0);
	step_until_sent(h, d);
	assert_int_equal(st.connections_open, 0); /* counted when a request ends */
	rms__http_abort(h);
	assert_false(rms__http_busy(h));
	assert_int_equal(st.connections_open, 0);
	assert_int_equal(st.requests, 1);
	assert_int_equal(st.round_trips, 0);
	rms__http_abort(h); /* none in flight: nothing happens */

	rms_http_response resp;
	post_ok(h, "<second/>", &resp);
	assert_string_equal(resp.body.data, "<2/>");
	rms__http_response_free(&resp);
	assert_int_equal(rms_httpd_connections(d), 2);
	assert_int_equal(st.connections_opened, 2);
	assert_int_equal(st.connections_open, 1);
	assert_int_equal(st.requests, 2);
	assert_int_equal(st.round_trips, 1);
	rms__http_free(h);
	stop(d);
}

/* The request's time limit ends it through step, without the caller
 * doing anything but wait on what step names: few steps, not a spin. */
static void test_time_limit_fires_through_step(void **state)
{
	(void)state;
	rms_httpd_response r = {.mode = RMS_HTTPD_STALL};
	rms_httpd *d = start_script(&r, 1);
	rms_http *h = client(&(rms_http_config){.url = rms_httpd_url(d)});
	rms__http_set_timeout(h, 300);
	rms_http_response resp;
	double t0 = now_s();
	assert_int_equal(rms__http_start(h, "<a/>", 4, NULL), 0);
	struct drive dr = {0};
	int rc = drive_to_end(h, &resp, rms_httpd_port(d), &dr);
	double took = now_s() - t0;
	assert_error(rc, RMS_E_TIMEOUT, RMS_PHASE_RECEIVE);
	assert_contains(last_message(), "no response from");
	assert_contains(last_message(), "300 ms");
	assert_true(took >= 0.25 && took < 5.0);
	assert_true(dr.saw_socket_in);
	assert_true(dr.saw_deadline);
	if (dr.steps >= 50)
		fail_msg("%u steps: the waits did not hold", dr.steps);
	assert_null(resp.body.data);
	assert_false(rms__http_busy(h));
	rms__http_free(h);
	stop(d);
}

/* A cancel between steps ends the request at the next step, and its
 * connection with it. */
static void test_cancel_is_seen_by_the_next_step(void **state)
{
	(void)state;
	rms_httpd_response r[] = {{.mode = RMS_HTTPD_STALL}, {.body = "<2/>"}};
	rms_httpd *d = start_script(r, 2);
	atomic_bool cancel;
	atomic_init(&cancel, false);
	rms_stats st = {.version = RMS_STATS_VERSION};
	rms_http *h = client(&(rms_http_config){
	    .url = rms_httpd_url(d), .cancel = &cancel, .stats = &st, .timeout_ms = 30000});
	assert_int_equal(rms__http_start(h, "<a/>", 4, NULL), 0);
	step_until_sent(h, d);
	/* Another thread's cancel cannot wake the caller's poll: the wait
	 * comes back within a second to have the flag looked at. */
	rms_wait w;
	rms_http_response resp;
	assert_int_equal(rms__http_step(h, &w, &resp), RMS_EAGAIN);
	assert_true(w.deadline_ms && w.deadline_ms <= rms__now_ms() + 1000);
	atomic_store(&cancel, true);
	double t0 = now_s();
	assert_error(rms__http_step(h, &w, &resp), RMS_E_CANCELLED, RMS_PHASE_RECEIVE);
	assert_true(now_s() - t0 < 0.2);
	assert_contains(last_message(), "waiting for the response");
	assert_false(rms__http_busy(h));
	assert_int_equal(st.connections_open, 0);
	atomic_store(&cancel, false);
	post_ok(h, "<b/>", &resp);
	rms__http_response_free(&resp);
	assert_int_equal(rms_httpd_connections(d), 2);
	rms__http_free(h);
	stop(d);
}

/* An engine-driven owner turns the cancel timer off: a waiting request's
 * wait then has no deadline of RMS_CANCEL_CHECK_MS (only the request's own
 * 30 s limit), and a cancel is still seen by the next step. */
static void test_cancel_poll_off_leaves_no_cancel_deadline(void **state)
{
	(void)state;
	rms_httpd_response r[] = {{.mode = RMS_HTTPD_STALL}};
	rms_httpd *d = start_script(r, 1);
	atomic_bool cancel;
	atomic_init(&cancel, false);
	rms_http *h = client(&(rms_http_config){
	    .url = rms_httpd_url(d), .cancel = &cancel, .timeout_ms = 30000});
	rms__http_set_cancel_poll(h, false);
	assert_int_equal(rms__http_start(h, "<a/>", 4, NULL), 0);
	step_until_sent(h, d);
	rms_wait w;
	rms_http_response resp;
	assert_int_equal(rms__http_step(h, &w, &resp), RMS_EAGAIN);
	assert_true(w.nfds > 0);
	/* curl may ask for a short timer of its own at first; once it has
	 * settled, the wait holds nothing sooner than the 30 s limit. */
	bool long_wait = false;
	for (double t0 = now_s(); !long_wait && now_s() - t0 < 3;) {
		uint64_t now = rms__now_ms();
		long_wait = !w.deadline_ms || w.deadline_ms > now + 10000;
		if (!long_wait) {
			assert_int_equal(rms__wait_block(&w), 0);
			assert_int_equal(rms__http_step(h, &w, &resp), RMS_EAGAIN);
		}
	}
	assert_true(long_wait);
	/* On again (the op's engine was freed): the timer is back. */
	rms__http_set_cancel_poll(h, true);
	assert_int_equal(rms__http_step(h, &w, &resp), RMS_EAGAIN);
	assert_true(w.deadline_ms && w.deadline_ms <= rms__now_ms() + 1000);
	rms__http_set_cancel_poll(h, false);
	atomic_store(&cancel, true);
	assert_error(rms__http_step(h, &w, &resp), RMS_E_CANCELLED, RMS_PHASE_RECEIVE);
	rms__http_free(h);
	stop(d);
}

#define T(test) cmocka_unit_test_teardown(test, stop_leftover_servers)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    /* First, while the process's peak RSS is still low. */
	    T(test_huge_streamed_body_stops_at_the_limit_in_bounded_memory),
	    T(test_post_sends_soap_headers_and_content_length),
	    T(test_large_post_has_no_expect_and_arrives_whole),
	    T(test_extra_header_with_line_break_is_refused_unsent),
	    T(test_new_refuses_a_missing_or_foreign_url),
	    T(test_keep_alive_uses_one_connection_and_counts_traffic),
	    T(test_close_drops_the_connection_and_the_next_request_reconnects),
	    T(test_server_connection_close_is_not_counted_as_open),
	    T(test_request_on_a_dead_kept_alive_connection_is_resent),
	    T(test_status_body_and_content_type_pass_through),
	    T(test_basic_credentials_go_on_the_first_request),
	    T(test_basic_401_is_returned_not_retried),
	    T(test_password_never_reaches_the_log),
	    T(test_connection_refused_is_a_connect_error),
	    T(test_messages_leave_url_credentials_out),
	    T(test_unresolvable_name_is_a_resolve_error),
	    T(test_stalled_server_times_out_in_receive),
	    T(test_dripping_server_hits_the_request_timeout),
	    T(test_connect_timeout_is_phase_connect),
	    T(test_connection_dropped_mid_body_is_connection_lost),
	    T(test_close_without_answer_is_connection_lost),
	    T(test_garbage_reply_is_an_http_error),
	    T(test_response_at_the_limit_passes_one_byte_more_fails),
	    T(test_huge_announced_body_is_refused_before_it_arrives),
	    T(test_tls_self_signed_certificate_is_refused_with_the_reason),
	    T(test_tls_host_name_mismatch_is_refused),
	    T(test_tls_insecure_accepts_a_self_signed_server_and_warns),
	    T(test_tls_ca_file_verifies_the_server_and_keeps_alive),
	    T(test_tls_unreadable_ca_file_is_named),
	    T(test_client_certificate_is_presented),
	    T(test_tls_handshake_failure_is_a_tls_error),
	    T(test_tls_handshake_timeout_is_told_from_a_connect_timeout),
	    T(test_unusable_client_certificate_is_named),
	    T(test_environment_proxy_is_ignored),
	    T(test_configured_proxy_is_used),
	    T(test_unreachable_proxy_is_named_without_its_credentials),
	    T(test_cancel_from_another_thread_stops_a_stalled_request),
	    T(test_cancelled_before_sending_sends_nothing),
	    T(test_step_returns_at_once_with_the_socket_and_a_deadline),
	    T(test_two_handles_on_one_thread_finish_together),
	    T(test_abort_mid_request_leaves_the_handle_usable),
	    T(test_time_limit_fires_through_step),
	    T(test_cancel_is_seen_by_the_next_step),
	    T(test_cancel_poll_off_leaves_no_cancel_deadline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
