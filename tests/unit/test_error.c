/* The error model: one generated list of codes, thread-local last error,
 * owned copies through the optional out-parameter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "error_internal.h"
#include "remsess/remsess.h"

static void test_every_code_has_a_stable_name_and_message(void **state)
{
	(void)state;
	/* The numbers are ABI: spot-check that they did not move. */
	assert_int_equal(RMS_E_OK, 0);
	assert_int_equal(RMS_ITEROVER, -1);
	assert_int_equal(RMS_EAGAIN, -2);
	assert_int_equal(RMS_E_NOT_IMPLEMENTED, -7);
	assert_int_equal(RMS_E_FAULT, -16);
	assert_int_equal(RMS_E_INTERNAL, -28);
	assert_int_equal(RMS_E_SKIPPED, -29);
	assert_int_equal(RMS_E_QUOTA, -30);
	assert_int_equal(RMS_E_GONE, -31);
	int seen = 0;
#define CHECK(name, num, msg)                                                                      \
	assert_string_equal(rms_error_code_name(num), "RMS_E_" #name);                             \
	assert_string_equal(rms_error_code_message(num), msg);                                     \
	assert_true(strlen(msg) > 3);                                                              \
	seen++;
	RMS_ERROR_LIST(CHECK)
#undef CHECK
	assert_int_equal(seen, 32);
	assert_string_equal(rms_error_code_name(-9999), "RMS_E_UNKNOWN");
	assert_string_equal(rms_error_code_message(12345), "unknown error code");
}

static void test_phase_names(void **state)
{
	(void)state;
	assert_string_equal(rms_phase_name(RMS_PHASE_CONNECT), "connect");
	assert_string_equal(rms_phase_name(RMS_PHASE_AUTHENTICATE), "authenticate");
	assert_string_equal(rms_phase_name(RMS_PHASE_LIMIT), "limit");
	assert_string_equal(rms_phase_name(RMS_PHASE_NONE), "none");
	assert_string_equal(rms_phase_name((rms_phase)99), "unknown");
}

static void test_set_replaces_last_and_dup_gives_an_owned_copy(void **state)
{
	(void)state;
	assert_int_equal(rms__error_set(RMS_E_TIMEOUT, RMS_PHASE_RECEIVE, "no answer in %d s", 60),
	                 RMS_E_TIMEOUT);
	rms__error_set_http_status(500);
	rms__error_set_limit("MaxEnvelopeSize", 512000, 600000);
	rms__error_set_backend(RMS_BACKEND_PSSESSION);
	const rms_error *last = rms_error_last();
	assert_int_equal(rms_error_code(last), RMS_E_TIMEOUT);
	assert_int_equal(rms_error_phase(last), RMS_PHASE_RECEIVE);
	assert_string_equal(rms_error_message(last), "no answer in 60 s");
	assert_int_equal(rms_error_http_status(last), 500);
	assert_int_equal(rms_error_backend(last), RMS_BACKEND_PSSESSION);
	assert_string_equal(rms_error_limit_name(last), "MaxEnvelopeSize");
	assert_int_equal(rms_error_limit_value(last), 512000);
	assert_int_equal(rms_error_limit_actual(last), 600000);

	rms_error *mine = rms_error_dup(last);
	assert_non_null(mine);
	assert_ptr_not_equal(mine, last);
	assert_int_equal(rms_error_limit_actual(mine), 600000);
	/* A later failure replaces the thread's last error but not our copy. */
	rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE, "other");
	assert_string_equal(rms_error_message(mine), "no answer in 60 s");
	assert_string_equal(rms_error_message(rms_error_last()), "other");
	rms_error_free(mine);
	rms_error_clear();
	assert_null(rms_error_last());
}

static void test_getters_accept_null(void **state)
{
	(void)state;
	assert_int_equal(rms_error_code(NULL), 0);
	assert_null(rms_error_message(NULL));
	assert_null(rms_error_fault_subcode(NULL));
	assert_int_equal(rms_error_wsman_code(NULL), 0);
	assert_null(rms_error_dup(NULL));
	rms_error_free(NULL);
}

static void test_field_errors_name_the_field(void **state)
{
	(void)state;
	rms__error_field(RMS_E_OPTIONS, "port", "port %u is out of range", 70000u);
	assert_string_equal(rms_error_field(rms_error_last()), "port");
	assert_int_equal(rms_error_phase(rms_error_last()), RMS_PHASE_OPTIONS);
	rms_error *copy = rms_error_dup(rms_error_last());
	assert_string_equal(rms_error_field(copy), "port");
	rms_error_free(copy);
	rms_error_clear();
}

static void test_nomem_error_needs_no_allocation(void **state)
{
	(void)state;
	assert_int_equal(rms__error_nomem(), RMS_E_NOMEM);
	assert_int_equal(rms_error_code(rms_error_last()), RMS_E_NOMEM);
	assert_string_equal(rms_error_message(rms_error_last()), "out of memory");
	/* Details cannot be added to the shared no-memory error. */
	assert_null(rms__error_last_mut());
	rms__error_set_http_status(500);
	assert_int_equal(rms_error_http_status(rms_error_last()), 0);
	rms_error *e = rms_error_dup(rms_error_last());
	assert_int_equal(rms_error_code(e), RMS_E_NOMEM);
	rms_error_free(e);
	rms_error_clear();
}

static void *other_thread(void *arg)
{
	(void)arg;
	rms__error_set(RMS_E_AUTH, RMS_PHASE_AUTHENTICATE, "thread B");
	void *r = (void *)(intptr_t)(rms_error_code(rms_error_last()) == RMS_E_AUTH);
	rms_error_clear();
	return r;
}

static void test_last_error_is_per_thread(void **state)
{
	(void)state;
	rms__error_set(RMS_E_CONNECT, RMS_PHASE_CONNECT, "thread A");
	pthread_t t;
	void *ok;
	assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
	assert_int_equal(pthread_join(t, &ok), 0);
	assert_true(ok != NULL);
	assert_string_equal(rms_error_message(rms_error_last()), "thread A");
	rms_error_clear();
}

static void test_restore_copies_an_ops_error_back(void **state)
{
	(void)state;
	rms__error_set(RMS_E_FAULT, RMS_PHASE_REMOTE, "fault");
	rms_error *kept = rms_error_dup(rms_error_last());
	rms_error_clear();
	assert_int_equal(rms__error_restore(kept), RMS_E_FAULT);
	assert_string_equal(rms_error_message(rms_error_last()), "fault");
	assert_ptr_not_equal(rms_error_last(), kept);
	rms_error_free(kept);
	assert_int_equal(rms__error_restore(NULL), 0);
	assert_null(rms_error_last());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_code_has_a_stable_name_and_message),
		cmocka_unit_test(test_phase_names),
		cmocka_unit_test(test_set_replaces_last_and_dup_gives_an_owned_copy),
		cmocka_unit_test(test_getters_accept_null),
		cmocka_unit_test(test_field_errors_name_the_field),
		cmocka_unit_test(test_nomem_error_needs_no_allocation),
		cmocka_unit_test(test_last_error_is_per_thread),
		cmocka_unit_test(test_restore_copies_an_ops_error_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
