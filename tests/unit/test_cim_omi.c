/*
 * The CIM backend against a non-Windows CIM server: the test endpoint's OMI
 * personality (--personality omi), which answers as OMI 1.9.1 does
 * (../shared/protocol/omi.md: Identify in the SOAP namespace, the
 * __cimnamespace selector required on every request, TRUE/FALSE, char16 as
 * a number, octet strings in base64, reference selectors without the
 * EndpointReference wrapper, OMI_Error details, a context returned with
 * EndOfSequence). Each of the first six tests failed before the fix it
 * covers; the others cover the rest of omi.md's Responses and Faults
 * (method answers, provider errors, derived classes). The CIM backend's
 * whole suite also runs against this personality: test_cim --omi.
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
 * one base64 node, a nil. The personality serves no class schemas (an
 * assumption omi.md does not record: docs/cim.md), so values decode by
 * their shape: the boolean stays the text OMI sent, and
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

static rms_instance *invoke_static(rms_session *s, const char *cls, const char *method,
                                   rms_instance *in)
{
	rms_ref *c = NULL;
	assert_int_equal(rms_ref_new(&c, NULL, cls), 0);
	rms_instance *out = NULL;
	if (rms_invoke(&out, s, c, method, in))
		fail_msg("%s.%s: %s", cls, method, rms_error_message(rms_error_last()));
	rms_ref_free(c);
	return out;
}

static const char *text_of(const rms_instance *inst, const char *name)
{
	const char *t = NULL;
	if (rms_value_get_string(rms_instance_get(inst, name), &t))
		fail_msg("no text %s", name);
	return t;
}

/* OMI's method answers: the output element is the provider's choice
 * (X_SmallNumber_OUTPUT for SpellNumber, <p:Add> in the URI .../Add for
 * Calc's Add), read as the first child of Body whatever its name; an
 * [OctetString] out-parameter comes as one base64 node (omi.md,
 * Responses), and arrives as its bytes. */
static void test_invoke_answers_in_omi_form(void **state)
{
	(void)state;
	rms_session *s = cim_session();
	rms_instance *in = NULL;
	rms_value *v = NULL;
	assert_int_equal(rms_instance_new(&in, NULL, "X_SmallNumber"), 0);
	assert_int_equal(rms_value_new_uint64(&v, 123), 0);
	assert_int_equal(rms_instance_set(in, "num", v, 0), 0);
	rms_instance *out = invoke_static(s, "X_SmallNumber", "SpellNumber", in);
	rms_instance_free(in);
	static const char words[] = "one hundred twenty-three";
	assert_string_equal(text_of(out, "SpelledNumber"), words);
	assert_string_equal(text_of(out, "ReturnValue"), "0");
	const rms_value *octets = rms_instance_get(out, "Octets");
	assert_non_null(octets);
	assert_int_equal(rms_value_type(octets), RMS_TYPE_UINT8 | RMS_TYPE_ARRAY);
	assert_int_equal(rms_value_array_length(octets), strlen(words));
	for (size_t i = 0; i < strlen(words); i++) {
		uint8_t b = 0;
		assert_int_equal(rms_value_get_uint8(rms_value_array_at(octets, i), &b), 0);
		assert_int_equal(b, (uint8_t)words[i]);
	}
	rms_instance_free(out);

	assert_int_equal(rms_instance_new(&in, NULL, "TestClass_MethodProvider_Calc"), 0);
	assert_int_equal(rms_value_new_sint64(&v, -40), 0);
	assert_int_equal(rms_instance_set(in, "Left", v, 0), 0);
	assert_int_equal(rms_value_new_sint64(&v, 2), 0);
	assert_int_equal(rms_instance_set(in, "Right", v, 0), 0);
	out = invoke_static(s, "TestClass_MethodProvider_Calc", "Add", in);
	rms_instance_free(in);
	assert_string_equal(text_of(out, "sum"), "-38");
	assert_string_equal(text_of(out, "ReturnValue"), "0");
	rms_instance_free(out);
	rms_session_free(s);
}

/* A provider's own failure: CIM_Error in the OMI_Error URI, its
 * CIMStatusCode (1, FAILED) and message the error's (omi.md, Faults). */
static void test_provider_error_is_reported_with_its_status(void **state)
{
	(void)state;
	rms_session *s = cim_session();
	rms_ref *c = NULL;
	assert_int_equal(rms_ref_new(&c, NULL, "TestClass_MethodProvider_Calc"), 0);
	rms_instance *out = NULL;
	rms_error_clear();
	assert_int_equal(rms_invoke(&out, s, c, "HardError", NULL), RMS_E_FAULT);
	assert_null(out);
	const rms_error *e = rms_error_last();
	assert_int_equal(rms_error_cim_status(e), 1);
	assert_int_equal(rms_error_phase(e), RMS_PHASE_REMOTE);
	assert_string_equal(rms_error_fault_subcode(e), "w:InternalError");
	assert_non_null(strstr(rms_error_message(e), "the provider failed on purpose"));
	rms_ref_free(c);
	rms_session_free(s);
}

/* An enumeration of a base class holds the derived class's instances,
 * each under its own element and URI (omi.md, Responses): each keeps its
 * own class, properties and reference, and Get by that reference gives it
 * back. */
static void test_a_base_class_enumerates_its_derived_instances(void **state)
{
	(void)state;
	rms_session *s = cim_session();
	rms_op *op = NULL;
	if (rms_enumerate(&op, s, NULL, "Test_PhysicalDisk"))
		fail_msg("enumerate: %s", rms_error_message(rms_error_last()));
	rms_instance *inst = NULL, *virt = NULL;
	int n = 0, rc;
	while ((rc = rms_op_next(op, &inst)) == 0) {
		n++;
		if (strcmp(rms_instance_class_name(inst), "Test_VirtualDisk") == 0 && !virt) {
			virt = inst;
			continue;
		}
		assert_string_equal(rms_instance_class_name(inst), "Test_PhysicalDisk");
		assert_null(rms_instance_get(inst, "Thin"));
		rms_instance_free(inst);
	}
	if (rc != RMS_ITEROVER)
		fail_msg("enumerate failed: %s", rms_error_message(rms_op_error(op)));
	rms_op_free(op);
	assert_int_equal(n, 3);
	assert_non_null(virt);
	assert_string_equal(text_of(virt, "DeviceID"), "vdisk0");
	assert_string_equal(text_of(virt, "Thin"), "TRUE");
	const rms_ref *ref = rms_instance_ref(virt);
	assert_non_null(ref);
	assert_string_equal(rms_ref_class_name(ref), "Test_VirtualDisk");
	rms_instance *again = NULL;
	if (rms_get(&again, s, ref))
		fail_msg("get by its reference: %s", rms_error_message(rms_error_last()));
	assert_true(rms_instance_equal(virt, again));
	rms_instance_free(again);
	rms_instance_free(virt);
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
	    cmocka_unit_test(test_invoke_answers_in_omi_form),
	    cmocka_unit_test(test_provider_error_is_reported_with_its_status),
	    cmocka_unit_test(test_a_base_class_enumerates_its_derived_instances),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
