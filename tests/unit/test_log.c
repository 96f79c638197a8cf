/* Logging: credentials never reach the callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"

static void check(const char *in, const char *secret, const char *expect)
{
	char *out = rms__log_redact(in, secret);
	assert_non_null(out);
	if (strcmp(out, expect) != 0)
		fail_msg("redact(%s)\n  got    %s\n  wanted %s", in, out, expect);
	free(out);
}

static void test_authorization_headers_keep_scheme_lose_token(void **state)
{
	(void)state;
	check("Authorization: Basic YWRtaW46cGFzcw==", NULL, "Authorization: Basic [redacted]");
	check("> POST /wsman\r\nauthorization: Negotiate TlRMTVNTUAAB\r\nHost: x", NULL,
	      "> POST /wsman\r\nauthorization: Negotiate [redacted]\r\nHost: x");
	check("WWW-Authenticate: Negotiate oYG2MIGzoAMKAQChCwYJKoZIgvcSAQICooGe", NULL,
	      "WWW-Authenticate: Negotiate [redacted]");
	check("Proxy-Authorization: Basic abc", NULL, "Proxy-Authorization: Basic [redacted]");
	check("WWW-Authenticate: Basic", NULL, "WWW-Authenticate: Basic");
}

static void test_password_assignments_and_elements(void **state)
{
	(void)state;
	check("user=admin password=hunter2 host=x", NULL, "user=admin password=[redacted] host=x");
	check("{\"password\": \"hunter2\", \"user\": \"a\"}", NULL,
	      "{\"password\": \"[redacted]\", \"user\": \"a\"}");
	check("<w:Password>hunter2</w:Password>", NULL, "<w:Password>[redacted]</w:Password>");
	check("<UserPassword attr=\"1\">x</UserPassword>", NULL,
	      "<UserPassword attr=\"1\">[redacted]</UserPassword>");
	/* Keys match where a word ends in them ... */
	check("NewPassword=hunter2 db_password: x", NULL,
	      "NewPassword=[redacted] db_password: [redacted]");
	/* ... not where the word goes on. */
	check("passwordless login", NULL, "passwordless login");
	/* The library's own SSH reasons say "password login:", which is no
	 * key: the words after it stay. */
	check("key file: rejected; password login: the server offers neither password nor "
	      "keyboard-interactive",
	      NULL,
	      "key file: rejected; password login: the server offers neither password nor "
	      "keyboard-interactive");
}

static void test_the_session_secret_is_removed_anywhere(void **state)
{
	(void)state;
	check("connecting with s3cr3t! to host", "s3cr3t!", "connecting with [redacted] to host");
	check("no secret here", "s3cr3t!", "no secret here");
	check("empty secret ignored", "", "empty secret ignored");
	/* The XML-escaped form, as the secret would appear in a message body. */
	check("<p:Value>a&lt;b&amp;c</p:Value> and a<b&c", "a<b&c",
	      "<p:Value>[redacted]</p:Value> and [redacted]");
}

static void test_private_keys(void **state)
{
	(void)state;
	check("key: -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA\n-----END OPENSSH PRIVATE "
	      "KEY----- done",
	      NULL, "key: -----BEGIN PRIVATE KEY----- [redacted] done");
}

struct capture {
	int calls;
	char last[256];
	rms_log_level level;
};

static void capture_fn(rms_log_level level, const char *msg, void *ud)
{
	struct capture *c = ud;
	c->calls++;
	c->level = level;
	strncpy(c->last, msg, sizeof c->last - 1);
}

static void test_log_filters_by_level_and_redacts(void **state)
{
	(void)state;
	struct capture c = { 0 };
	rms_logger lg = { .fn = capture_fn, .userdata = &c, .level = RMS_LOG_INFO,
		          .secret = "pa55" };
	rms__log(&lg, RMS_LOG_DEBUG, "too detailed %d", 1);
	assert_int_equal(c.calls, 0);
	rms__log(&lg, RMS_LOG_INFO, "login with %s", "pa55");
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.level, RMS_LOG_INFO);
	assert_string_equal(c.last, "login with [redacted]");
	rms__log(NULL, RMS_LOG_ERROR, "no logger");
	rms_logger none = { 0 };
	rms__log(&none, RMS_LOG_ERROR, "no callback");
	assert_int_equal(c.calls, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_authorization_headers_keep_scheme_lose_token),
		cmocka_unit_test(test_password_assignments_and_elements),
		cmocka_unit_test(test_the_session_secret_is_removed_anywhere),
		cmocka_unit_test(test_private_keys),
		cmocka_unit_test(test_log_filters_by_level_and_redacts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
