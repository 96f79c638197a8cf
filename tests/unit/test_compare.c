/*
 * rms_compare's record when the two sides differ: a target whose CIM
 * settings point at one test endpoint and whose PSSession settings point at
 * another, so each difference can be made on purpose: an instance only one
 * side has, a property value that differs, a command only one backend can
 * run. The behaviour tests (tests/behaviour) cover the records of equal
 * results and of failures on one computer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "endpoint.h"
#include "remsess/remsess.h"

struct two {
	rms_endpoint_proc *a, *b; /* CIM side, PSSession side */
	rms_target *t;
};

static int setup(void **state)
{
	static const char *const five[] = { "--instances", "5", NULL };
	static const char *const six[] = { "--instances", "6", NULL };
	struct two *w = calloc(1, sizeof *w);
	if (!w || !(w->a = rms_endpoint_spawn(five)) || !(w->b = rms_endpoint_spawn(six)))
		fail_msg("could not start the test endpoints");
	rms_session_options oa = rms_endpoint_session_options(w->a);
	rms_session_options ob = rms_endpoint_session_options(w->b);
	if (rms_target_new(&w->t, &oa, &ob))
		fail_msg("target: %s", rms_error_message(rms_error_last()));
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct two *w = *state;
	rms_target_free(w->t);
	rms_endpoint_kill(w->a);
	rms_endpoint_kill(w->b);
	free(w);
	rms_error_clear();
	return 0;
}

static rms_comparison *compare(rms_target *t, rms_request *req)
{
	rms_comparison *c = NULL;
	if (rms_compare(&c, t, req))
		fail_msg("compare: %s", rms_error_message(rms_error_last()));
	rms_request_free(req);
	return c;
}

static rms_request *query(const char *wql)
{
	rms_request *r;
	assert_int_equal(rms_request_new(&r, RMS_OP_QUERY), 0);
	assert_int_equal(rms_request_set_query(r, NULL, wql), 0);
	return r;
}

static void test_an_instance_only_one_side_has(void **state)
{
	struct two *w = *state;
	rms_comparison *c = compare(w->t, query("SELECT Id, Text FROM X_Number"));
	assert_false(rms_comparison_equal(c));
	/* Matched by key, X_Number 6 is the one the CIM side lacks. */
	assert_string_equal(rms_comparison_where(c), "[X_Number.Id=6]");
	assert_string_equal(rms_comparison_cim_value(c), "(absent)");
	assert_string_equal(rms_comparison_pssession_value(c), "present");
	assert_int_equal(rms_comparison_side(c, RMS_BACKEND_CIM)->items, 5);
	assert_int_equal(rms_comparison_side(c, RMS_BACKEND_PSSESSION)->items, 6);

	/* The record as JSON says the same. */
	char *line = NULL;
	assert_int_equal(rms_comparison_to_json(&line, c), 0);
	json_error_t je;
	json_t *j = json_loads(line, 0, &je);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "operation")), "query");
	assert_true(json_is_false(json_object_get(j, "equal")));
	json_t *d = json_object_get(j, "difference");
	assert_string_equal(json_string_value(json_object_get(d, "where")), "[X_Number.Id=6]");
	json_t *ps = json_object_get(json_object_get(j, "sides"), "pssession");
	assert_int_equal(json_integer_value(json_object_get(ps, "items")), 6);
	assert_true(json_is_true(json_object_get(ps, "ok")));
	assert_true(json_is_null(json_object_get(ps, "error")));
	json_decref(j);
	rms_free(line);
	rms_comparison_free(c);
}

static void test_a_property_that_differs_is_named_with_both_values(void **state)
{
	struct two *w = *state;
	/* The same widget, named differently on each computer. */
	rms_session *s;
	const char *names[2] = { "on A", "on B" };
	rms_endpoint_proc *eps[2] = { w->a, w->b };
	for (int k = 0; k < 2; k++) {
		rms_session_options o = rms_endpoint_session_options(eps[k]);
		assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
		rms_instance *inst;
		rms_value *v;
		assert_int_equal(rms_instance_new(&inst, NULL, "X_Widget"), 0);
		assert_int_equal(rms_value_new_string(&v, "cmp1"), 0);
		assert_int_equal(rms_instance_set(inst, "Id", v, RMS_PROP_KEY), 0);
		assert_int_equal(rms_value_new_string(&v, names[k]), 0);
		assert_int_equal(rms_instance_set(inst, "Name", v, 0), 0);
		rms_ref *created = NULL;
		if (rms_create(&created, s, inst))
			fail_msg("create: %s", rms_error_message(rms_error_last()));
		rms_ref_free(created);
		rms_instance_free(inst);
		rms_session_free(s);
	}
	rms_request *r;
	rms_ref *key;
	assert_int_equal(rms_request_new(&r, RMS_OP_GET), 0);
	assert_int_equal(rms_ref_new(&key, NULL, "X_Widget"), 0);
	assert_int_equal(rms_ref_add_selector(key, "Id", "cmp1"), 0);
	assert_int_equal(rms_request_set_ref(r, key), 0);
	rms_ref_free(key);
	rms_comparison *c = compare(w->t, r);
	assert_false(rms_comparison_equal(c));
	assert_string_equal(rms_comparison_where(c), "Name");
	assert_string_equal(rms_comparison_cim_value(c), "on A");
	assert_string_equal(rms_comparison_pssession_value(c), "on B");
	rms_comparison_free(c);
}

static void test_a_command_only_the_pssession_can_run(void **state)
{
	struct two *w = *state;
	rms_request *r;
	assert_int_equal(rms_request_new(&r, RMS_OP_RUN), 0);
	assert_int_equal(rms_request_set_command(r, "echo hi; exit 4", 0, NULL), 0);
	rms_comparison *c = compare(w->t, r);
	const rms_side_report *a = rms_comparison_side(c, RMS_BACKEND_CIM);
	const rms_side_report *b = rms_comparison_side(c, RMS_BACKEND_PSSESSION);
	/* The CIM backend cannot run commands and says which backend can. */
	assert_int_equal(a->status, RMS_E_UNSUPPORTED);
	assert_non_null(strstr(rms_error_message(a->error), "PSSession"));
	assert_int_equal(b->status, 0);
	assert_int_equal(b->items, 3); /* "hi\n" */
	assert_false(rms_comparison_equal(c));
	assert_null(rms_comparison_where(c));
	rms_comparison_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_an_instance_only_one_side_has, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_property_that_differs_is_named_with_both_values,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_command_only_the_pssession_can_run, setup,
		                                teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
