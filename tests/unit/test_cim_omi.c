/*
 * The CIM backend against a non-Windows CIM server: the test endpoint's OMI
 * personality (--personality omi), which answers as OMI 1.9.1 does
 * (../shared/protocol/omi.md: Identify in the SOAP namespace, the
 * __cimnamespace selector required on every request, TRUE/FALSE, char16 as
 * a number, octet strings in base64, reference selectors without the
 * EndpointReference wrapper, OMI_Error details, a context returned with
 * EndOfSequence). Each test here failed before the fix it covers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drain.h"
#include "endpoint.h"
#include "remsess/remsess.h"

static rms_endpoint_proc *ep;

static int group_setup(void **state)
{
	(void)state;
	static const char *const args[] = {"--personality", "omi", NULL};
	ep = rms_endpoint_spawn(args);
	return ep ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	rms_endpoint_kill(ep);
	return 0;
}

static rms_session *cim_session(void)
{
	rms_session_options o = rms_endpoint_session_options(ep);
	rms_session *s = NULL;
	if (rms_session_new(&s, RMS_BACKEND_CIM, &o))
		fail_msg("session: %s", rms_error_message(rms_error_last()));
	return s;
}

static int64_t stat_or_zero(const char *name)
{
	int64_t v = rms_endpoint_stat(ep, name);
	return v < 0 ? 0 : v;
}

/* remsess identify: OMI's IdentifyResponse is in the SOAP namespace. */
static void test_identify(void **state)
{
	(void)state;
	rms_session *s = cim_session();
	rms_instance *id = NULL;
	if (rms_identify(&id, s))
		fail_msg("identify: %s", rms_error_message(rms_error_last()));
	const char *v = NULL;
	assert_int_equal(rms_value_get_string(rms_instance_get(id, "ProductVendor"), &v), 0);
	assert_string_equal(v, "Open Management Infrastructure");
	rms_instance_free(id);
	rms_session_free(s);
}

/* Every request names its namespace; an enumeration that ended with a
 * context (OMI sends both) is never Released, read to the end or not. */
static void test_enumerate_and_no_release_after_the_end(void **state)
{
	(void)state;
	rms_endpoint_reset(ep);
	rms_session *s = cim_session();
	rms_op *op = NULL;
	if (rms_enumerate(&op, s, NULL, "X_SmallNumber"))
		fail_msg("enumerate: %s", rms_error_message(rms_error_last()));
	assert_int_equal(rms_test_drain(op), 1000);
	rms_op_free(op);
	assert_int_equal(stat_or_zero("requests_by_action.Release"), 0);
	/* Stopped after five of ten that came in one page, which also
	 * ended the enumeration: nothing to release. */
	assert_int_equal(rms_query(&op, s, NULL, "SELECT * FROM X_SmallNumber WHERE Number < 10"),
	                 0);
	rms_instance *inst = NULL;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(rms_op_next(op, &inst), 0);
		rms_instance_free(inst);
	}
	rms_op_free(op);
	assert_int_equal(stat_or_zero("requests_by_action.Release"), 0);
	/* Stopped after five of 1000 in several pages: the context is still
	 * live, and released. */
	assert_int_equal(rms_enumerate(&op, s, NULL, "X_SmallNumber"), 0);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(rms_op_next(op, &inst), 0);
		rms_instance_free(inst);
	}
	rms_op_free(op);
	rms_session_free(s);
	assert_int_equal(stat_or_zero("releases_after_end_of_sequence"), 0);
	assert_int_equal(stat_or_zero("requests_without_namespace"), 0);
}

/* WQL goes to the WMI "any class" URI, whose namespace OMI ignores: the
 * __cimnamespace selector carries it. */
static void test_query(void **state)
{
	(void)state;
	rms_endpoint_reset(ep);
	rms_session *s = cim_session();
	rms_op *op = NULL;
	if (rms_query(&op, s, NULL, "SELECT * FROM X_SmallNumber WHERE Number < 10"))
		fail_msg("query: %s", rms_error_message(rms_error_last()));
	assert_int_equal(rms_test_drain(op), 10);
	rms_op_free(op);
	rms_session_free(s);
	assert_int_equal(stat_or_zero("requests_without_namespace"), 0);
}

static rms_ref *disk(const char *id)
{
	rms_ref *k = NULL;
	assert_int_equal(rms_ref_new(&k, "root/cimv2", "Test_PhysicalDisk"), 0);
	assert_int_equal(rms_ref_add_selector(k, "DeviceID", id), 0);
	return k;
}

/* OMI's value forms: TRUE/FALSE, char16 as a number, an octet string as
 * one base64 node, a nil. OMI serves no class schemas over WS-Man, so
 * values decode by their shape: the boolean stays the text OMI sent, and
 * the octet string is known by its xsi:type (it failed the whole Get
 * before). */
static void test_values_in_omi_form(void **state)
{
	(void)state;
	rms_session *s = cim_session();
	rms_ref *k = disk("disk0");
	rms_instance *inst = NULL;
	if (rms_get(&inst, s, k))
		fail_msg("get: %s", rms_error_message(rms_error_last()));
	const char *text = NULL;
	assert_int_equal(rms_value_get_string(rms_instance_get(inst, "Removable"), &text), 0);
	assert_string_equal(text, "FALSE");
	assert_true(rms_value_is_null(rms_instance_get(inst, "Label")));
	const rms_value *serial = rms_instance_get(inst, "Serial");
	assert_non_null(serial);
	assert_int_equal(rms_value_array_length(serial), 3);
	uint8_t octet = 0;
	assert_int_equal(rms_value_get_uint8(rms_value_array_at(serial, 0), &octet), 0);
	assert_int_equal(octet, 0x41);
	rms_instance_free(inst);
	rms_ref_free(k);
	rms_session_free(s);
}

/* OMI's fault detail: the CIM status is OMI_Error's CIMStatusCode. */
static void test_not_found_has_cim_status_6(void **state)
{
	(void)state;
	rms_session *s = cim_session();
	rms_ref *k = disk("no-such-disk");
	rms_instance *inst = NULL;
	assert_int_equal(rms_get(&inst, s, k), RMS_E_FAULT);
	assert_int_equal(rms_error_cim_status(rms_error_last()), 6);
	rms_ref_free(k);
	rms_session_free(s);
}

/* Association instances: their reference-valued key selectors come
 * without the a:EndpointReference wrapper. */
static void test_references_of_an_instance(void **state)
{
	(void)state;
	rms_session *s = cim_session();
	rms_ref *k = disk("disk0");
	rms_request *r = NULL;
	assert_int_equal(rms_request_new(&r, RMS_OP_REFERENCES), 0);
	assert_int_equal(rms_request_set_ref(r, k), 0);
	rms_op *op = NULL;
	if (rms_op_start(&op, s, r))
		fail_msg("references: %s", rms_error_message(rms_error_last()));
	rms_instance *inst = NULL;
	uint64_t n = 0;
	int rc;
	while ((rc = rms_op_next(op, &inst)) == 0) {
		const rms_ref *ref = rms_instance_ref(inst);
		assert_non_null(ref);
		rms_instance_free(inst);
		n++;
	}
	if (rc != RMS_ITEROVER)
		fail_msg("references failed: %s", rms_error_message(rms_op_error(op)));
	assert_true(n >= 1);
	rms_op_free(op);
	rms_request_free(r);
	rms_ref_free(k);
	rms_session_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_identify),
	    cmocka_unit_test(test_enumerate_and_no_release_after_the_end),
	    cmocka_unit_test(test_query),
	    cmocka_unit_test(test_values_in_omi_form),
	    cmocka_unit_test(test_not_found_has_cim_status_6),
	    cmocka_unit_test(test_references_of_an_instance),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
