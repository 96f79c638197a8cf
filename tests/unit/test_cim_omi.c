/*
 * The CIM backend against a non-Windows CIM server: the test endpoint's OMI
 * personality (--personality omi), which answers as OMI 1.9.1 does
 * (../shared/protocol/omi.md: Identify in the SOAP namespace, the
 * __cimnamespace selector required on every request, TRUE/FALSE, char16 as
 * a number, octet strings in base64, reference selectors without the
 * EndpointReference wrapper, OMI_Error details, a context returned with
 * EndOfSequence), and serves class schemas as OMI's source does (omi.md
 * records no GetClass), so its values are typed by them. Each test failed
 * before the fix it covers, or covers the rest of omi.md's Responses and
 * Faults (method answers, provider errors, derived classes) under the
 * schemas. The CIM backend's whole suite also runs against this
 * personality: test_cim --omi.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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

/* The class's declared type of a property, from rms_op_class. */
static rms_type declared(const rms_cim_class *c, const char *prop, unsigned *flags)
{
	for (size_t i = 0; i < rms_cim_class_property_count(c); i++) {
		const char *name;
		rms_type t;
		assert_int_equal(rms_cim_class_property_at(c, i, &name, &t, flags), 0);
		if (strcmp(name, prop) == 0)
			return t;
	}
	fail_msg("class %s declares no %s", rms_cim_class_name(c), prop);
	return RMS_TYPE_STRING;
}

/* GetClass on OMI: the CIM-XML CLASS its serializer writes (OMI's
 * Unix/wsman/wsman.c and Unix/xmlserializer; omi.md records no GetClass):
 * the derived class with its inherited properties (remsess asks for
 * them), the key from the qualifiers, the octet string as uint8[]; the
 * methods; an unknown class its INVALID_CLASS fault. */
static void test_class_schemas_are_served(void **state)
{
	(void)state;
	rms_session *s = cim_session();
	rms_request *r = NULL;
	assert_int_equal(rms_request_new(&r, RMS_OP_GET_CLASS), 0);
	assert_int_equal(rms_request_set_class(r, "Test_VirtualDisk"), 0);
	rms_op *op = NULL;
	if (rms_op_start(&op, s, r))
		fail_msg("get class: %s", rms_error_message(rms_error_last()));
	const rms_cim_class *c = rms_op_class(op);
	assert_non_null(c);
	assert_string_equal(rms_cim_class_name(c), "Test_VirtualDisk");
	assert_string_equal(rms_cim_class_superclass(c), "Test_PhysicalDisk");
	assert_int_equal(rms_cim_class_property_count(c), 8);
	unsigned flags = 0;
	assert_int_equal(declared(c, "DeviceID", &flags), RMS_TYPE_STRING);
	assert_true(flags & RMS_PROP_KEY);
	assert_int_equal(declared(c, "Removable", &flags), RMS_TYPE_BOOLEAN);
	assert_false(flags & RMS_PROP_KEY);
	assert_int_equal(declared(c, "DriveLetter", &flags), RMS_TYPE_CHAR16);
	assert_int_equal(declared(c, "PowerOnTime", &flags), RMS_TYPE_DATETIME);
	assert_int_equal(declared(c, "Temperature", &flags), RMS_TYPE_REAL32);
	assert_int_equal(declared(c, "Serial", &flags), RMS_TYPE_UINT8 | RMS_TYPE_ARRAY);
	assert_int_equal(declared(c, "Thin", &flags), RMS_TYPE_BOOLEAN);
	rms_op_free(op);

	assert_int_equal(rms_request_set_class(r, "X_SmallNumber"), 0);
	if (rms_op_start(&op, s, r))
		fail_msg("get class: %s", rms_error_message(rms_error_last()));
	c = rms_op_class(op);
	assert_int_equal(declared(c, "Number", &flags), RMS_TYPE_UINT64);
	assert_true(flags & RMS_PROP_KEY);
	assert_int_equal(rms_cim_class_method_count(c), 1);
	assert_string_equal(rms_cim_class_method_at(c, 0), "SpellNumber");
	rms_op_free(op);

	assert_int_equal(rms_request_set_class(r, "Test_NoSuchDisk"), 0);
	rms_error_clear();
	assert_int_equal(rms_op_start(&op, s, r), RMS_E_FAULT);
	assert_null(op);
	const rms_error *e = rms_error_last();
	assert_int_equal(rms_error_cim_status(e), 5);
	assert_string_equal(rms_error_fault_subcode(e), "a:DestinationUnreachable");
	assert_null(strstr(rms_error_message(e), "not supported"));
	rms_request_free(r);
	rms_session_free(s);
}

/* OMI's value forms (omi.md, Responses): TRUE/FALSE, char16 as a number,
 * an interval without its zero parts (P2000D), real32 with float noise, an
 * octet string as one base64 node (xsi:type cimBase64Binary), a nil. With
 * the class schema each decodes to its declared type, as Windows' forms
 * do; the octet string failed the whole Get before ("QUJD" is not a valid
 * uint8). */
static void test_values_in_omi_form(void **state)
{
	(void)state;
	rms_session *s = cim_session();
	rms_ref *k = disk("disk0");
	rms_instance *inst = NULL;
	if (rms_get(&inst, s, k))
		fail_msg("get: %s", rms_error_message(rms_error_last()));
	bool removable = true;
	assert_int_equal(rms_value_get_boolean(rms_instance_get(inst, "Removable"), &removable), 0);
	assert_false(removable);
	uint16_t letter = 0;
	assert_int_equal(rms_value_get_char16(rms_instance_get(inst, "DriveLetter"), &letter), 0);
	assert_int_equal(letter, 'C');
	rms_datetime dt;
	assert_int_equal(rms_value_get_datetime(rms_instance_get(inst, "PowerOnTime"), &dt), 0);
	assert_true(dt.is_interval);
	assert_int_equal(dt.days, 2000);
	assert_int_equal(dt.hour, 0);
	assert_int_equal(dt.minute, 0);
	assert_int_equal(dt.second, 0);
	float temp = 0;
	assert_int_equal(rms_value_get_real32(rms_instance_get(inst, "Temperature"), &temp), 0);
	assert_true(temp == 100.3f); /* the noise is the float's own digits */
	const rms_value *label = rms_instance_get(inst, "Label");
	assert_true(rms_value_is_null(label));
	assert_int_equal(rms_value_type(label), RMS_TYPE_STRING);
	const rms_value *serial = rms_instance_get(inst, "Serial");
	assert_non_null(serial);
	assert_int_equal(rms_value_type(serial), RMS_TYPE_UINT8 | RMS_TYPE_ARRAY);
	assert_int_equal(rms_value_array_length(serial), 3);
	static const uint8_t abc[] = { 0x41, 0x42, 0x43 };
	for (size_t i = 0; i < 3; i++) {
		uint8_t octet = 0;
		assert_int_equal(rms_value_get_uint8(rms_value_array_at(serial, i), &octet), 0);
		assert_int_equal(octet, abc[i]);
	}
	for (size_t i = 0; i < rms_instance_count(inst); i++) {
		const char *name;
		unsigned flags;
		rms_instance_at(inst, i, &name, NULL, &flags);
		assert_int_equal((flags & RMS_PROP_KEY) != 0, strcmp(name, "DeviceID") == 0);
	}
	rms_instance_free(inst);
	rms_ref_free(k);

	/* The other disk: TRUE, 68 ('D'), P12DT3H, bytes 00 ff 10. */
	k = disk("disk1");
	if (rms_get(&inst, s, k))
		fail_msg("get: %s", rms_error_message(rms_error_last()));
	assert_int_equal(rms_value_get_boolean(rms_instance_get(inst, "Removable"), &removable), 0);
	assert_true(removable);
	assert_int_equal(rms_value_get_char16(rms_instance_get(inst, "DriveLetter"), &letter), 0);
	assert_int_equal(letter, 'D');
	assert_int_equal(rms_value_get_datetime(rms_instance_get(inst, "PowerOnTime"), &dt), 0);
	assert_true(dt.is_interval);
	assert_int_equal(dt.days, 12);
	assert_int_equal(dt.hour, 3);
	serial = rms_instance_get(inst, "Serial");
	assert_int_equal(rms_value_array_length(serial), 3);
	uint8_t last = 0;
	assert_int_equal(rms_value_get_uint8(rms_value_array_at(serial, 1), &last), 0);
	assert_int_equal(last, 0xff);
	rms_instance_free(inst);
	rms_ref_free(k);
	rms_session_free(s);
}

/* OMI's forms inside an embedded instance, typed by the embedded class's
 * own schema: char16 as its decimal code unit ("65" for 'A', and "55" for
 * the digit '7', which must not be read as the character '5' or fail),
 * TRUE, an interval, an octet string. The char16 failed the whole Get
 * before: embedded values were converted by rms_value_from_text, which
 * wants the one character. */
static void test_omi_forms_inside_an_embedded_instance(void **state)
{
	(void)state;
	rms_session *s = cim_session();
	rms_ref *k = NULL;
	assert_int_equal(rms_ref_new(&k, "root/cimv2", "Test_DiskHealth"), 0);
	assert_int_equal(rms_ref_add_selector(k, "DeviceID", "disk0"), 0);
	rms_instance *inst = NULL;
	if (rms_get(&inst, s, k))
		fail_msg("get: %s", rms_error_message(rms_error_last()));
	const rms_instance *report = NULL;
	assert_int_equal(rms_value_get_instance(rms_instance_get(inst, "Report"), &report), 0);
	assert_string_equal(rms_instance_class_name(report), "Test_HealthReport");
	uint16_t ch = 0;
	assert_int_equal(rms_value_get_char16(rms_instance_get(report, "Grade"), &ch), 0);
	assert_int_equal(ch, 'A');
	assert_int_equal(rms_value_get_char16(rms_instance_get(report, "Code"), &ch), 0);
	assert_int_equal(ch, '7');
	bool healthy = false;
	assert_int_equal(rms_value_get_boolean(rms_instance_get(report, "Healthy"), &healthy), 0);
	assert_true(healthy);
	rms_datetime dt;
	assert_int_equal(rms_value_get_datetime(rms_instance_get(report, "Since"), &dt), 0);
	assert_true(dt.is_interval);
	assert_int_equal(dt.days, 3);
	const rms_value *sig = rms_instance_get(report, "Signature");
	assert_int_equal(rms_value_type(sig), RMS_TYPE_UINT8 | RMS_TYPE_ARRAY);
	assert_int_equal(rms_value_array_length(sig), 2);
	uint8_t b = 0;
	assert_int_equal(rms_value_get_uint8(rms_value_array_at(sig, 1), &b), 0);
	assert_int_equal(b, 'K');
	rms_instance_free(inst);
	rms_ref_free(k);
	rms_session_free(s);
}

/* A value that cannot be decoded under the schema costs its instance only:
 * disk9's embedded char16 is 70000; disk0 and disk1 arrive, typed. */
static void test_an_undecodable_value_costs_only_its_instance(void **state)
{
	(void)state;
	rms_session *s = cim_session();
	rms_op *op = NULL;
	if (rms_enumerate(&op, s, NULL, "Test_DiskHealth"))
		fail_msg("enumerate: %s", rms_error_message(rms_error_last()));
	rms_instance *inst = NULL;
	int rc, ok = 0, skipped = 0;
	while ((rc = rms_op_next(op, &inst)) != RMS_ITEROVER) {
		if (rc == RMS_E_SKIPPED) {
			skipped++;
			assert_non_null(strstr(rms_error_message(rms_error_last()), "Code"));
			continue;
		}
		if (rc)
			fail_msg("enumerate: %s", rms_error_message(rms_error_last()));
		const rms_instance *report = NULL;
		assert_int_equal(rms_value_get_instance(rms_instance_get(inst, "Report"), &report), 0);
		uint16_t code = 1;
		assert_int_equal(rms_value_get_char16(rms_instance_get(report, "Code"), &code), 0);
		assert_true(code == '7' || code == '0');
		rms_instance_free(inst);
		ok++;
	}
	assert_int_equal(ok, 2);
	assert_int_equal(skipped, 1);
	assert_int_equal(rms_op_skipped(op), 1);
	rms_op_free(op);
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
 * without the a:EndpointReference wrapper (omi.md, Responses); typed by
 * Test_DiskDependency's schema, the keys are references with the key flag
 * and Weight a uint16. */
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
		assert_string_equal(rms_instance_class_name(inst), "Test_DiskDependency");
		for (size_t i = 0; i < rms_instance_count(inst); i++) {
			const char *name;
			const rms_value *v;
			unsigned flags;
			rms_instance_at(inst, i, &name, &v, &flags);
			bool key = strcmp(name, "antecedent") == 0 || strcmp(name, "dependent") == 0;
			assert_int_equal((flags & RMS_PROP_KEY) != 0, key);
			assert_int_equal(rms_value_type(v), key ? RMS_TYPE_REFERENCE : RMS_TYPE_UINT16);
		}
		/* Its reference's keys are references too, read from the
		 * unwrapped selectors. */
		size_t nested = 0;
		for (size_t i = 0; i < rms_ref_selector_count(ref); i++) {
			const rms_ref *vr = NULL;
			assert_int_equal(rms_ref_selector_at(ref, i, NULL, NULL, &vr), 0);
			nested += vr != NULL;
		}
		assert_int_equal(nested, 2);
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

static uint32_t uint32_of(const rms_instance *inst, const char *name)
{
	uint32_t n = 0;
	if (rms_value_get_uint32(rms_instance_get(inst, name), &n))
		fail_msg("no uint32 %s", name);
	return n;
}

/* OMI's method answers: the output element is the provider's choice
 * (X_SmallNumber_OUTPUT for SpellNumber, <p:Add> in the URI .../Add for
 * Calc's Add), read as the first child of Body whatever its name; an
 * [OctetString] out-parameter comes as one base64 node (omi.md,
 * Responses), and arrives as its bytes. The out-parameters and
 * ReturnValue are typed by the method's declaration in the class schema,
 * as on Windows. */
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
	assert_int_equal(uint32_of(out, "ReturnValue"), 0);
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
	int64_t sum = 0;
	assert_int_equal(rms_value_get_sint64(rms_instance_get(out, "sum"), &sum), 0);
	assert_true(sum == -38);
	assert_int_equal(uint32_of(out, "ReturnValue"), 0);
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
	/* Typed by Test_VirtualDisk's own schema, inherited properties too. */
	bool thin = false;
	assert_int_equal(rms_value_get_boolean(rms_instance_get(virt, "Thin"), &thin), 0);
	assert_true(thin);
	rms_datetime dt;
	assert_int_equal(rms_value_get_datetime(rms_instance_get(virt, "PowerOnTime"), &dt), 0);
	assert_true(dt.is_interval); /* PT1H30M1.5S */
	assert_int_equal(dt.days, 0);
	assert_int_equal(dt.hour, 1);
	assert_int_equal(dt.minute, 30);
	assert_int_equal(dt.second, 1);
	assert_int_equal(dt.nanoseconds, 500000000u);
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
	    cmocka_unit_test(test_class_schemas_are_served),
	    cmocka_unit_test(test_values_in_omi_form),
	    cmocka_unit_test(test_omi_forms_inside_an_embedded_instance),
	    cmocka_unit_test(test_an_undecodable_value_costs_only_its_instance),
	    cmocka_unit_test(test_not_found_has_cim_status_6),
	    cmocka_unit_test(test_references_of_an_instance),
	    cmocka_unit_test(test_invoke_answers_in_omi_form),
	    cmocka_unit_test(test_provider_error_is_reported_with_its_status),
	    cmocka_unit_test(test_a_base_class_enumerates_its_derived_instances),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
