/* Internal helpers: UTF-8, buffers, XML escaping, GUIDs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"

static void test_utf8_accepts_well_formed_text(void **state)
{
	(void)state;
	const char *ok[] = { "", "plain", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
		             "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf" };
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		assert_true(rms__utf8_valid(ok[i], strlen(ok[i])));
}

static void test_utf8_refuses_malformed_text(void **state)
{
	(void)state;
	const char *bad[] = {
		"\xc3",             /* truncated */
		"\xc0\xaf",         /* overlong '/' */
		"\xe0\x80\xaf",     /* overlong */
		"\xed\xa0\x80",     /* surrogate D800 */
		"\xf4\x90\x80\x80", /* above U+10FFFF */
		"\xff",             /* never valid */
		"\x80",             /* lone continuation */
		"ab\xe2\x82",       /* truncated at end */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (rms__utf8_valid(bad[i], strlen(bad[i])))
			fail_msg("accepted bad sequence %zu", i);
}

static void test_utf8_encode_decode_round_trip(void **state)
{
	(void)state;
	uint32_t cps[] = { 0x24, 0xA2, 0x20AC, 0x10348, 0xFFFF, 0x10FFFF };
	for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++) {
		char buf[4];
		size_t n = rms__utf8_encode(cps[i], buf);
		assert_true(n > 0);
		const char *p = buf;
		assert_int_equal(rms__utf8_decode(&p, buf + n), (int32_t)cps[i]);
		assert_ptr_equal(p, buf + n);
	}
	char buf[4];
	assert_int_equal(rms__utf8_encode(0xD800, buf), 0);
	assert_int_equal(rms__utf8_encode(0x110000, buf), 0);
}

static void test_buffer_grows_and_escapes_xml(void **state)
{
	(void)state;
	rms_buf b;
	rms__buf_init(&b);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(rms__buf_printf(&b, "%d,", i), 0);
	assert_int_equal(b.len, strlen(b.data));
	assert_memory_equal(b.data, "0,1,2,", 6);
	rms__buf_free(&b);

	assert_int_equal(rms__buf_put_xml_escaped(&b, "a<b>&\"c'\r\n\td"), 0);
	assert_string_equal(b.data, "a&lt;b&gt;&amp;&quot;c&apos;&#13;\n\td");
	char *taken = rms__buf_take(&b);
	assert_null(b.data);
	assert_string_equal(taken, "a&lt;b&gt;&amp;&quot;c&apos;&#13;\n\td");
	free(taken);
	/* Taking an empty buffer gives an empty string, not NULL. */
	taken = rms__buf_take(&b);
	assert_string_equal(taken, "");
	free(taken);
}

static void test_case_insensitive_compare(void **state)
{
	(void)state;
	assert_true(rms__streq_nocase("Win32_Service", "WIN32_SERVICE"));
	assert_false(rms__streq_nocase("Win32_Service", "Win32_Services"));
	assert_true(rms__strcasecmp(NULL, "a") < 0);
	assert_true(rms__strcasecmp("a", NULL) > 0);
	assert_int_equal(rms__strcasecmp(NULL, NULL), 0);
}

static void test_guid_is_random_version_4(void **state)
{
	(void)state;
	char a[37], b[37];
	assert_int_equal(rms__guid(a), 0);
	assert_int_equal(rms__guid(b), 0);
	assert_int_equal(strlen(a), 36);
	assert_int_equal(a[8], '-');
	assert_int_equal(a[14], '4');
	assert_non_null(strchr("89ab", a[19]));
	assert_string_not_equal(a, b);
}

/* The kernel's generator fills whole buffers, large ones too (getrandom(2)
 * may return fewer bytes than asked for past 256), and no two draws agree.
 * Each of the 256 byte values turns up in 64 KB (a stuck or short fill
 * would leave zeros behind). */
static void test_random_fills_the_whole_buffer(void **state)
{
	(void)state;
	assert_int_equal(rms__random(NULL, 0), 0);
	enum { N = 65536 };
	unsigned char *a = malloc(N), *b = malloc(N);
	assert_non_null(a);
	assert_non_null(b);
	memset(a, 0, N);
	memset(b, 0, N);
	assert_int_equal(rms__random(a, N), 0);
	assert_int_equal(rms__random(b, N), 0);
	assert_memory_not_equal(a, b, 32);
	bool seen[256] = {false};
	size_t zeros_at_end = 0;
	for (size_t i = 0; i < N; i++)
		seen[a[i]] = true;
	for (size_t i = N; i > 0 && a[i - 1] == 0; i--)
		zeros_at_end++;
	for (int v = 0; v < 256; v++)
		assert_true(seen[v]);
	assert_true(zeros_at_end < 8);
	free(a);
	free(b);
}

static void test_utf8_prefix_cuts_on_a_character_boundary(void **state)
{
	(void)state;
	const char *s = "a\xC3\xA9\xE2\x82\xAC"; /* a, e-acute (2 bytes), euro (3 bytes) */
	size_t n = strlen(s);
	assert_int_equal(rms__utf8_prefix(s, n, 10), n);
	assert_int_equal(rms__utf8_prefix(s, n, 5), 3); /* not inside the euro sign */
	assert_int_equal(rms__utf8_prefix(s, n, 3), 3);
	assert_int_equal(rms__utf8_prefix(s, n, 2), 1); /* not inside the e-acute */
	assert_int_equal(rms__utf8_prefix(s, n, 0), 0);
}

static void test_lossy_append_always_gives_valid_text(void **state)
{
	(void)state;
	rms_buf b;
	rms__buf_init(&b);
	/* ok, a lone continuation byte, a cut sequence, a NUL, an overlong */
	const char in[] = "ok\x80-\xE2\x82-\0-\xC0\xAF";
	assert_int_equal(rms__buf_append_utf8_lossy(&b, in, sizeof in - 1), 0);
	assert_true(rms__utf8_valid(b.data, b.len));
	assert_string_equal(b.data, "ok\xEF\xBF\xBD-\xEF\xBF\xBD\xEF\xBF\xBD-\xEF\xBF\xBD-"
	                            "\xEF\xBF\xBD\xEF\xBF\xBD");
	rms__buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_accepts_well_formed_text),
		cmocka_unit_test(test_utf8_refuses_malformed_text),
		cmocka_unit_test(test_utf8_encode_decode_round_trip),
		cmocka_unit_test(test_buffer_grows_and_escapes_xml),
		cmocka_unit_test(test_case_insensitive_compare),
		cmocka_unit_test(test_guid_is_random_version_4),
		cmocka_unit_test(test_random_fills_the_whole_buffer),
		cmocka_unit_test(test_utf8_prefix_cuts_on_a_character_boundary),
		cmocka_unit_test(test_lossy_append_always_gives_valid_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
