/* References and instances: selectors, properties, equality, text forms. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "remsess/remsess.h"

#define assert_error(expr, code, part)                                                             \
	do {                                                                                       \
		int rc_ = (expr);                                                                  \
		assert_int_equal(rc_, (code));                                                     \
		const char *m_ = rms_error_message(rms_error_last());                              \
		assert_non_null(m_);                                                               \
		if (!strstr(m_, (part)))                                                           \
			fail_msg("message \"%s\" does not mention \"%s\"", m_, (part));            \
	} while (0)

static rms_ref *make_ref(const char *ns, const char *cls, const char *k1, const char *v1,
                         const char *k2, const char *v2)
{
	rms_ref *r = NULL;
	assert_int_equal(rms_ref_new(&r, ns, cls), 0);
	if (k1)
		assert_int_equal(rms_ref_add_selector(r, k1, v1), 0);
	if (k2)
		assert_int_equal(rms_ref_add_selector(r, k2, v2), 0);
	return r;
}

static char *ref_text(const rms_ref *r)
{
	rms_value *v;
	assert_int_equal(rms_value_new_reference(&v, r), 0);
	char *t = NULL;
	assert_int_equal(rms_value_to_text(&t, v), 0);
	rms_value_free(v);
	return t;
}

static void set_string(rms_instance *inst, const char *name, const char *s, unsigned flags)
{
	rms_value *v;
	assert_int_equal(rms_value_new_string(&v, s), 0);
	assert_int_equal(rms_instance_set(inst, name, v, flags), 0);
}

static void set_uint32(rms_instance *inst, const char *name, uint32_t x)
{
	rms_value *v;
	assert_int_equal(rms_value_new_uint32(&v, x), 0);
	assert_int_equal(rms_instance_set(inst, name, v, 0), 0);
}

/* ---- references ---------------------------------------------------------- */

static void test_ref_keeps_class_namespace_and_selectors_in_order(void **state)
{
	(void)state;
	rms_ref *r = make_ref("root/cimv2", "Win32_GroupUser", "GroupComponent", "g",
	                      "PartComponent", "p");
	assert_string_equal(rms_ref_class_name(r), "Win32_GroupUser");
	assert_string_equal(rms_ref_namespace(r), "root/cimv2");
	assert_null(rms_ref_address(r));
	assert_null(rms_ref_resource_uri(r));
	assert_int_equal(rms_ref_selector_count(r), 2);
	const char *name, *value;
	const rms_ref *nested = (const rms_ref *)r;
	assert_int_equal(rms_ref_selector_at(r, 0, &name, &value, &nested), 0);
	assert_string_equal(name, "GroupComponent");
	assert_string_equal(value, "g");
	assert_null(nested);
	assert_int_equal(rms_ref_selector_at(r, 1, &name, NULL, NULL), 0);
	assert_string_equal(name, "PartComponent");
	assert_error(rms_ref_selector_at(r, 2, &name, &value, NULL), RMS_E_NOT_FOUND,
	             "index 2 is past the end");
	assert_string_equal(rms_ref_selector(r, "partcomponent"), "p");
	assert_null(rms_ref_selector(r, "Missing"));
	assert_int_equal(rms_ref_set_address(r, "http://host:5985/wsman"), 0);
	assert_int_equal(rms_ref_set_resource_uri(
	                         r, "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/"
	                            "Win32_GroupUser"),
	                 0);
	assert_string_equal(rms_ref_address(r), "http://host:5985/wsman");
	assert_non_null(strstr(rms_ref_resource_uri(r), "Win32_GroupUser"));
	assert_int_equal(rms_ref_set_address(r, NULL), 0);
	assert_null(rms_ref_address(r));
	rms_ref_free(r);
}

static void test_ref_adding_an_existing_name_replaces_in_place(void **state)
{
	(void)state;
	rms_ref *r = make_ref(NULL, "C", "A", "1", "B", "2");
	assert_int_equal(rms_ref_add_selector(r, "a", "3"), 0);
	assert_int_equal(rms_ref_selector_count(r), 2);
	const char *name, *value;
	assert_int_equal(rms_ref_selector_at(r, 0, &name, &value, NULL), 0);
	assert_string_equal(name, "A");
	assert_string_equal(value, "3");
	/* a string selector replaced by a nested reference, and back */
	rms_ref *inner = make_ref(NULL, "D", "K", "v", NULL, NULL);
	assert_int_equal(rms_ref_add_selector_ref(r, "B", inner), 0);
	const rms_ref *nested;
	assert_int_equal(rms_ref_selector_at(r, 1, NULL, &value, &nested), 0);
	assert_null(value);
	assert_true(rms_ref_equal(nested, inner));
	assert_null(rms_ref_selector(r, "B"));
	assert_int_equal(rms_ref_add_selector(r, "B", "plain"), 0);
	assert_int_equal(rms_ref_selector_at(r, 1, NULL, &value, &nested), 0);
	assert_string_equal(value, "plain");
	assert_null(nested);
	rms_ref_free(inner);
	rms_ref_free(r);
}

static void test_ref_nested_selector_is_a_deep_copy(void **state)
{
	(void)state;
	rms_ref *group = make_ref("root/cimv2", "Win32_Group", "Domain", "HOST", "Name", "Admins");
	rms_ref *r = make_ref("root/cimv2", "Win32_GroupUser", NULL, NULL, NULL, NULL);
	assert_int_equal(rms_ref_add_selector_ref(r, "GroupComponent", group), 0);
	assert_int_equal(rms_ref_add_selector(group, "Name", "Changed"), 0);
	rms_ref_free(group);
	const rms_ref *nested;
	assert_int_equal(rms_ref_selector_at(r, 0, NULL, NULL, &nested), 0);
	assert_string_equal(rms_ref_selector(nested, "Name"), "Admins");
	/* a reference may take itself as a selector value */
	assert_int_equal(rms_ref_add_selector_ref(r, "Self", r), 0);
	assert_int_equal(rms_ref_selector_count(r), 2);
	rms_ref_free(r);
}

static void test_ref_refuses_bad_names_and_values(void **state)
{
	(void)state;
	rms_ref *r = NULL;
	assert_error(rms_ref_new(&r, "root/cimv2", ""), RMS_E_INVALID_ARG, "class_name is empty");
	assert_error(rms_ref_new(&r, "", "C"), RMS_E_INVALID_ARG, "cim_namespace is empty");
	assert_error(rms_ref_new(&r, NULL, "\xC3\x28"), RMS_E_INVALID_ARG, "not valid UTF-8");
	assert_null(r);
	assert_int_equal(rms_ref_new(&r, NULL, NULL), 0); /* class unknown ("*" URI) */
	assert_null(rms_ref_class_name(r));
	assert_error(rms_ref_add_selector(r, "", "v"), RMS_E_INVALID_ARG, "selector name is empty");
	assert_error(rms_ref_add_selector(r, NULL, "v"), RMS_E_INVALID_ARG,
	             "selector name is NULL");
	assert_error(rms_ref_add_selector(r, "K", NULL), RMS_E_INVALID_ARG, "selector K");
	assert_error(rms_ref_add_selector(r, "K", "\xFF"), RMS_E_INVALID_ARG, "not valid UTF-8");
	assert_error(rms_ref_add_selector_ref(r, "K", NULL), RMS_E_INVALID_ARG, "selector K");
	assert_error(rms_ref_set_address(r, ""), RMS_E_INVALID_ARG, "address is empty");
	assert_error(rms_ref_add_selector(NULL, "K", "v"), RMS_E_INVALID_ARG, "ref is NULL");
	assert_int_equal(rms_ref_selector_count(r), 0);
	rms_ref_free(r);
	rms_ref_free(NULL);
	assert_int_equal(rms_ref_selector_count(NULL), 0);
	assert_null(rms_ref_class_name(NULL));
}

static void test_ref_equality_ignores_order_name_case_address_and_uri(void **state)
{
	(void)state;
	rms_ref *a = make_ref("root/cimv2", "Win32_Group", "Domain", "HOST", "Name", "Admins");
	rms_ref *b = make_ref("ROOT\\CIMV2", "win32_group", "name", "Admins", "DOMAIN", "HOST");
	assert_int_equal(rms_ref_set_address(b, "http://elsewhere/wsman"), 0);
	assert_int_equal(rms_ref_set_resource_uri(b, "http://schemas.dmtf.org/x"), 0);
	assert_true(rms_ref_equal(a, b));
	assert_true(rms_ref_equal(b, a));
	rms_ref_free(b);

	/* values are exact */
	b = make_ref("root/cimv2", "Win32_Group", "Domain", "HOST", "Name", "admins");
	assert_false(rms_ref_equal(a, b));
	rms_ref_free(b);
	/* one selector fewer / more */
	b = make_ref("root/cimv2", "Win32_Group", "Domain", "HOST", NULL, NULL);
	assert_false(rms_ref_equal(a, b));
	assert_false(rms_ref_equal(b, a));
	rms_ref_free(b);
	/* other class, other namespace */
	b = make_ref("root/cimv2", "Win32_Account", "Domain", "HOST", "Name", "Admins");
	assert_false(rms_ref_equal(a, b));
	rms_ref_free(b);
	b = make_ref("root/standardcimv2", "Win32_Group", "Domain", "HOST", "Name", "Admins");
	assert_false(rms_ref_equal(a, b));
	rms_ref_free(b);
	/* an unknown namespace matches any; leading/trailing separators don't count */
	b = make_ref(NULL, "Win32_Group", "Domain", "HOST", "Name", "Admins");
	assert_true(rms_ref_equal(a, b));
	rms_ref_free(b);
	b = make_ref("/root/cimv2/", "Win32_Group", "Domain", "HOST", "Name", "Admins");
	assert_true(rms_ref_equal(a, b));
	rms_ref_free(b);
	assert_false(rms_ref_equal(a, NULL));
	assert_true(rms_ref_equal(NULL, NULL));
	rms_ref_free(a);
}

static void test_ref_equality_compares_nested_references(void **state)
{
	(void)state;
	rms_ref *g1 = make_ref("root/cimv2", "Win32_Group", "Domain", "H", "Name", "A");
	rms_ref *g2 = make_ref("root/cimv2", "Win32_Group", "Name", "A", "Domain", "H");
	rms_ref *g3 = make_ref("root/cimv2", "Win32_Group", "Name", "B", "Domain", "H");
	rms_ref *a, *b, *c, *s;
	assert_int_equal(rms_ref_new(&a, "root/cimv2", "Win32_GroupUser"), 0);
	assert_int_equal(rms_ref_new(&b, "root/cimv2", "Win32_GroupUser"), 0);
	assert_int_equal(rms_ref_new(&c, "root/cimv2", "Win32_GroupUser"), 0);
	assert_int_equal(rms_ref_add_selector_ref(a, "GroupComponent", g1), 0);
	assert_int_equal(rms_ref_add_selector_ref(b, "groupcomponent", g2), 0);
	assert_int_equal(rms_ref_add_selector_ref(c, "GroupComponent", g3), 0);
	s = make_ref("root/cimv2", "Win32_GroupUser", "GroupComponent", "A", NULL, NULL);
	assert_true(rms_ref_equal(a, b));
	assert_false(rms_ref_equal(a, c));
	assert_false(rms_ref_equal(a, s)); /* nested reference vs string */
	assert_false(rms_ref_equal(s, a));
	rms_ref_free(g1);
	rms_ref_free(g2);
	rms_ref_free(g3);
	rms_ref_free(a);
	rms_ref_free(b);
	rms_ref_free(c);
	rms_ref_free(s);
}

static void test_ref_dup_is_equal_and_independent(void **state)
{
	(void)state;
	rms_ref *r = make_ref("root/cimv2", "Win32_Service", "Name", "WinRM", NULL, NULL);
	assert_int_equal(rms_ref_set_address(r, "http://h/wsman"), 0);
	rms_ref *inner = make_ref(NULL, "X", "K", "v", NULL, NULL);
	assert_int_equal(rms_ref_add_selector_ref(r, "Inner", inner), 0);
	rms_ref_free(inner);
	rms_ref *d;
	assert_int_equal(rms_ref_dup(&d, r), 0);
	assert_true(rms_ref_equal(d, r));
	assert_string_equal(rms_ref_address(d), "http://h/wsman");
	assert_int_equal(rms_ref_add_selector(r, "Name", "Other"), 0);
	assert_string_equal(rms_ref_selector(d, "Name"), "WinRM");
	assert_false(rms_ref_equal(d, r));
	rms_ref_free(d);
	rms_ref_free(r);
	assert_error(rms_ref_dup(&d, NULL), RMS_E_INVALID_ARG, "NULL");
	assert_null(d);
}

static void test_ref_text_is_the_wmi_object_path(void **state)
{
	(void)state;
	rms_ref *r = make_ref("root/cimv2", "Win32_Service", "Name", "WinRM", NULL, NULL);
	char *t = ref_text(r);
	assert_string_equal(t, "root/cimv2:Win32_Service.Name=\"WinRM\"");
	rms_free(t);
	rms_ref_free(r);

	r = make_ref(NULL, "Win32_Group", "Domain", "HOST", "Name", "Say \"hi\" \\o/");
	t = ref_text(r);
	assert_string_equal(t, "Win32_Group.Domain=\"HOST\",Name=\"Say \\\"hi\\\" \\\\o/\"");
	rms_free(t);

	/* a nested path is quoted and escaped as a whole */
	rms_ref *gu = make_ref("root/cimv2", "Win32_GroupUser", NULL, NULL, NULL, NULL);
	assert_int_equal(rms_ref_add_selector_ref(gu, "GroupComponent", r), 0);
	t = ref_text(gu);
	assert_string_equal(t, "root/cimv2:Win32_GroupUser.GroupComponent="
	                       "\"Win32_Group.Domain=\\\"HOST\\\",Name=\\\"Say \\\\\\\"hi\\\\\\\" "
	                       "\\\\\\\\o/\\\"\"");
	rms_free(t);
	rms_ref_free(gu);
	rms_ref_free(r);

	/* a class reference has no selectors */
	r = make_ref("root/cimv2", "Win32_Process", NULL, NULL, NULL, NULL);
	t = ref_text(r);
	assert_string_equal(t, "root/cimv2:Win32_Process");
	rms_free(t);
	rms_ref_free(r);
}

/* ---- instances ------------------------------------------------------------ */

static rms_instance *service(void)
{
	rms_instance *inst;
	assert_int_equal(rms_instance_new(&inst, "root/cimv2", "Win32_Service"), 0);
	set_string(inst, "Name", "WinRM", RMS_PROP_KEY);
	set_string(inst, "State", "Running", 0);
	set_uint32(inst, "ProcessId", 1234);
	return inst;
}

static void test_instance_keeps_properties_in_order(void **state)
{
	(void)state;
	rms_instance *inst = service();
	assert_string_equal(rms_instance_class_name(inst), "Win32_Service");
	assert_string_equal(rms_instance_namespace(inst), "root/cimv2");
	assert_null(rms_instance_ref(inst));
	assert_int_equal(rms_instance_count(inst), 3);
	const char *want[] = { "Name", "State", "ProcessId" };
	for (size_t i = 0; i < 3; i++) {
		const char *name;
		const rms_value *v;
		unsigned flags = 99;
		assert_int_equal(rms_instance_at(inst, i, &name, &v, &flags), 0);
		assert_string_equal(name, want[i]);
		assert_non_null(v);
		assert_int_equal(flags, i == 0 ? RMS_PROP_KEY : 0);
	}
	assert_error(rms_instance_at(inst, 3, NULL, NULL, NULL), RMS_E_NOT_FOUND,
	             "index 3 is past the end");
	rms_instance_free(inst);
}

static void test_instance_set_replaces_in_place_and_get_ignores_case(void **state)
{
	(void)state;
	rms_instance *inst = service();
	set_string(inst, "STATE", "Stopped", RMS_PROP_KEY);
	assert_int_equal(rms_instance_count(inst), 3);
	const char *name;
	const rms_value *v;
	unsigned flags;
	assert_int_equal(rms_instance_at(inst, 1, &name, &v, &flags), 0);
	assert_string_equal(name, "State");
	assert_int_equal(flags, RMS_PROP_KEY);
	const char *s;
	assert_int_equal(rms_value_get_string(v, &s), 0);
	assert_string_equal(s, "Stopped");
	assert_ptr_equal(rms_instance_get(inst, "state"), v);
	assert_ptr_equal(rms_instance_get(inst, "STATE"), v);
	assert_null(rms_instance_get(inst, "Status"));
	rms_instance_free(inst);
}

static void test_instance_set_refuses_bad_arguments_and_caller_keeps_value(void **state)
{
	(void)state;
	rms_instance *inst = NULL;
	assert_error(rms_instance_new(&inst, NULL, ""), RMS_E_INVALID_ARG, "class_name is empty");
	assert_null(inst);
	assert_int_equal(rms_instance_new(&inst, NULL, "C"), 0);
	rms_value *v;
	assert_int_equal(rms_value_new_uint8(&v, 1), 0);
	assert_error(rms_instance_set(inst, "", v, 0), RMS_E_INVALID_ARG, "property name is empty");
	assert_error(rms_instance_set(inst, "\xC3", v, 0), RMS_E_INVALID_ARG, "not valid UTF-8");
	assert_error(rms_instance_set(inst, "P", NULL, 0), RMS_E_INVALID_ARG, "property P");
	assert_error(rms_instance_set(NULL, "P", v, 0), RMS_E_INVALID_ARG, "inst is NULL");
	assert_int_equal(rms_instance_count(inst), 0);
	rms_value_free(v); /* still ours after every refusal */
	rms_instance_free(inst);
	rms_instance_free(NULL);
	assert_int_equal(rms_instance_count(NULL), 0);
	assert_null(rms_instance_get(NULL, "x"));
}

static void test_instance_equality_ignores_order_and_case(void **state)
{
	(void)state;
	rms_instance *a = service(), *b;
	assert_int_equal(rms_instance_new(&b, "ROOT\\CimV2", "win32_service"), 0);
	set_uint32(b, "processid", 1234);
	set_string(b, "name", "WinRM", 0); /* flags are not compared */
	set_string(b, "STATE", "Running", 0);
	assert_true(rms_instance_equal(a, b));
	assert_true(rms_instance_equal(b, a));
	/* an instance's own reference is not compared either */
	rms_ref *r = make_ref("root/cimv2", "Win32_Service", "Name", "WinRM", NULL, NULL);
	assert_int_equal(rms_instance_set_ref(a, r), 0);
	rms_ref_free(r);
	assert_true(rms_instance_equal(a, b));
	rms_instance_free(b);
	rms_instance_free(a);
}

static void test_instance_equality_sees_one_differing_value(void **state)
{
	(void)state;
	rms_instance *a = service(), *b = service();
	assert_true(rms_instance_equal(a, b));
	set_uint32(b, "ProcessId", 1235);
	assert_false(rms_instance_equal(a, b));
	rms_instance_free(b);
	/* same value but another type */
	b = service();
	rms_value *v;
	assert_int_equal(rms_value_new_uint64(&v, 1234), 0);
	assert_int_equal(rms_instance_set(b, "ProcessId", v, 0), 0);
	assert_false(rms_instance_equal(a, b));
	rms_instance_free(b);
	/* one property more */
	b = service();
	set_string(b, "Extra", "x", 0);
	assert_false(rms_instance_equal(a, b));
	assert_false(rms_instance_equal(b, a));
	rms_instance_free(b);
	/* same count, another name */
	b = service();
	rms_instance *c;
	assert_int_equal(rms_instance_new(&c, "root/cimv2", "Win32_Service"), 0);
	set_string(c, "Name", "WinRM", 0);
	set_string(c, "State", "Running", 0);
	set_uint32(c, "ProcessID2", 1234);
	assert_false(rms_instance_equal(b, c));
	rms_instance_free(c);
	/* other class / namespace; unknown namespace matches */
	assert_int_equal(rms_instance_new(&c, "root/cimv2", "Win32_Process"), 0);
	assert_false(rms_instance_equal(a, c));
	rms_instance_free(c);
	rms_instance *d;
	assert_int_equal(rms_instance_new(&d, "root/other", "Win32_Service"), 0);
	rms_instance *e;
	assert_int_equal(rms_instance_new(&e, NULL, "Win32_Service"), 0);
	rms_instance *f;
	assert_int_equal(rms_instance_new(&f, "root/cimv2", "Win32_Service"), 0);
	assert_false(rms_instance_equal(d, f));
	assert_true(rms_instance_equal(e, f));
	assert_true(rms_instance_equal(e, d));
	rms_instance_free(d);
	rms_instance_free(e);
	rms_instance_free(f);
	rms_instance_free(b);
	rms_instance_free(a);
}

static void test_instance_dup_is_deep(void **state)
{
	(void)state;
	rms_instance *a = service();
	rms_ref *r = make_ref("root/cimv2", "Win32_Service", "Name", "WinRM", NULL, NULL);
	assert_int_equal(rms_instance_set_ref(a, r), 0);
	rms_ref_free(r);
	rms_instance *d;
	assert_int_equal(rms_instance_dup(&d, a), 0);
	assert_true(rms_instance_equal(a, d));
	assert_non_null(rms_instance_ref(d));
	assert_ptr_not_equal(rms_instance_ref(d), rms_instance_ref(a));
	assert_true(rms_ref_equal(rms_instance_ref(d), rms_instance_ref(a)));
	unsigned flags;
	assert_int_equal(rms_instance_at(d, 0, NULL, NULL, &flags), 0);
	assert_int_equal(flags, RMS_PROP_KEY);
	set_string(a, "State", "Stopped", 0);
	assert_false(rms_instance_equal(a, d));
	assert_int_equal(rms_instance_set_ref(a, NULL), 0);
	assert_null(rms_instance_ref(a));
	assert_non_null(rms_instance_ref(d));
	rms_instance_free(d);
	rms_instance_free(a);
	assert_error(rms_instance_dup(&d, NULL), RMS_E_INVALID_ARG, "NULL");
}

static void test_instance_to_text_is_format_list_layout(void **state)
{
	(void)state;
	rms_instance *inst = service();
	rms_value *v;
	assert_int_equal(rms_value_new_null(&v, RMS_TYPE_STRING), 0);
	assert_int_equal(rms_instance_set(inst, "Description", v, 0), 0);
	assert_int_equal(rms_value_new_array(&v, RMS_TYPE_STRING), 0);
	rms_value *e;
	assert_int_equal(rms_value_new_string(&e, "RPCSS"), 0);
	assert_int_equal(rms_value_array_append(v, e), 0);
	assert_int_equal(rms_value_new_string(&e, "HTTP"), 0);
	assert_int_equal(rms_value_array_append(v, e), 0);
	assert_int_equal(rms_instance_set(inst, "DependsOn", v, 0), 0);
	set_string(inst, "Path", "two\nlines", 0);
	set_string(inst, "Empty", "", 0);
	char *t = NULL;
	assert_int_equal(rms_instance_to_text(&t, inst), 0);
	assert_string_equal(t, "Name        : WinRM\n"
	                       "State       : Running\n"
	                       "ProcessId   : 1234\n"
	                       "Description : (null)\n"
	                       "DependsOn   : {\"RPCSS\", \"HTTP\"}\n"
	                       "Path        : two\n"
	                       "              lines\n"
	                       "Empty       : \n");
	rms_free(t);
	rms_instance_free(inst);

	assert_int_equal(rms_instance_new(&inst, NULL, "Empty"), 0);
	assert_int_equal(rms_instance_to_text(&t, inst), 0);
	assert_string_equal(t, "");
	rms_free(t);
	assert_error(rms_instance_to_text(&t, NULL), RMS_E_INVALID_ARG, "NULL");
	rms_instance_free(inst);
}

static void test_instance_to_text_pads_by_characters_not_bytes(void **state)
{
	(void)state;
	rms_instance *inst;
	assert_int_equal(rms_instance_new(&inst, NULL, "C"), 0);
	set_string(inst, "Gr\xC3\xB6\xC3\x9F" "e", "a", 0); /* 5 characters, 7 bytes */
	set_string(inst, "Nummer", "b", 0);
	char *t = NULL;
	assert_int_equal(rms_instance_to_text(&t, inst), 0);
	assert_string_equal(t, "Gr\xC3\xB6\xC3\x9F" "e  : a\nNummer : b\n");
	rms_free(t);
	rms_instance_free(inst);
}

static void test_embedded_instance_text_nests(void **state)
{
	(void)state;
	rms_instance *inner, *outer;
	assert_int_equal(rms_instance_new(&inner, NULL, "MSFT_Inner"), 0);
	set_string(inner, "S", "q\"uote", 0);
	rms_value *arr;
	assert_int_equal(rms_value_new_array(&arr, RMS_TYPE_UINT8), 0);
	assert_int_equal(rms_instance_set(inner, "Bytes", arr, 0), 0);
	assert_int_equal(rms_instance_new(&outer, NULL, "MSFT_Outer"), 0);
	rms_value *v;
	assert_int_equal(rms_value_new_instance(&v, inner), 0);
	assert_int_equal(rms_instance_set(outer, "Inner", v, 0), 0);
	rms_ref *r = make_ref(NULL, "Win32_Service", "Name", "WinRM", NULL, NULL);
	assert_int_equal(rms_value_new_reference(&v, r), 0);
	assert_int_equal(rms_instance_set(outer, "Svc", v, 0), 0);
	char *t = NULL;
	assert_int_equal(rms_instance_to_text(&t, outer), 0);
	assert_string_equal(t, "Inner : instance of MSFT_Inner { S = \"q\\\"uote\"; Bytes = {}; }\n"
	                       "Svc   : Win32_Service.Name=\"WinRM\"\n");
	rms_free(t);
	rms_ref_free(r);
	rms_instance_free(inner);
	rms_instance_free(outer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_keeps_class_namespace_and_selectors_in_order),
		cmocka_unit_test(test_ref_adding_an_existing_name_replaces_in_place),
		cmocka_unit_test(test_ref_nested_selector_is_a_deep_copy),
		cmocka_unit_test(test_ref_refuses_bad_names_and_values),
		cmocka_unit_test(test_ref_equality_ignores_order_name_case_address_and_uri),
		cmocka_unit_test(test_ref_equality_compares_nested_references),
		cmocka_unit_test(test_ref_dup_is_equal_and_independent),
		cmocka_unit_test(test_ref_text_is_the_wmi_object_path),
		cmocka_unit_test(test_instance_keeps_properties_in_order),
		cmocka_unit_test(test_instance_set_replaces_in_place_and_get_ignores_case),
		cmocka_unit_test(test_instance_set_refuses_bad_arguments_and_caller_keeps_value),
		cmocka_unit_test(test_instance_equality_ignores_order_and_case),
		cmocka_unit_test(test_instance_equality_sees_one_differing_value),
		cmocka_unit_test(test_instance_dup_is_deep),
		cmocka_unit_test(test_instance_to_text_is_format_list_layout),
		cmocka_unit_test(test_instance_to_text_pads_by_characters_not_bytes),
		cmocka_unit_test(test_embedded_instance_text_nests),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
