/*
 * Sessions, requests, operations and targets at the level this build has:
 * CIM sessions are lazy (proved with a real listening socket that sees no
 * connection), PSSession creation is eager and fails honestly until its
 * transport exists, and the per-call backend rule picks as documented.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "remsess/remsess.h"

/* A loopback listener that counts connections it was offered. */
struct listener {
	int fd;
	unsigned port;
};

static int listener_open(void **state)
{
	struct listener *l = calloc(1, sizeof *l);
	l->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(l->fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(l->fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(l->fd, 8), 0);
	socklen_t len = sizeof a;
	assert_int_equal(getsockname(l->fd, (struct sockaddr *)&a, &len), 0);
	l->port = ntohs(a.sin_port);
	fcntl(l->fd, F_SETFL, O_NONBLOCK);
	*state = l;
	return 0;
}

static int listener_close(void **state)
{
	struct listener *l = *state;
	close(l->fd);
	free(l);
	rms_error_clear();
	return 0;
}

static int connections_waiting(struct listener *l)
{
	int n = 0, c;
	while ((c = accept(l->fd, NULL, NULL)) >= 0) {
		close(c);
		n++;
	}
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	return n;
}

static rms_session_options loopback(unsigned port)
{
	rms_session_options o = RMS_SESSION_OPTIONS_INIT;
	o.host = "127.0.0.1";
	o.port = port;
	o.user = "admin";
	o.password = "Secret-Pa55";
	o.allow_unencrypted = true; /* plain http to loopback */
	return o;
}

static void test_cim_session_creation_opens_no_connection(void **state)
{
	struct listener *l = *state;
	rms_session_options o = loopback(l->port);
	rms_session *s = NULL;
	rms_error *err = NULL;
	rms_error_clear();
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	err = rms_error_dup(rms_error_last());
	assert_null(err);
	assert_int_equal(connections_waiting(l), 0);
	rms_stats st = { .version = RMS_STATS_VERSION };
	assert_int_equal(rms_session_stats(s, &st), 0);
	assert_int_equal(st.connections_opened, 0);
	assert_int_equal(st.connections_open, 0);
	assert_int_equal(st.requests, 0);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_OPENED);
	rms_session_free(s);
	assert_int_equal(connections_waiting(l), 0);
}

static void test_cim_session_properties_like_new_cimsession(void **state)
{
	struct listener *l = *state;
	rms_session_options o = loopback(l->port);
	rms_session *a, *b;
	assert_int_equal(rms_session_new(&a, RMS_BACKEND_CIM, &o), 0);
	assert_int_equal(rms_session_new(&b, RMS_BACKEND_CIM, &o), 0);
	assert_int_equal(rms_session_id(b), rms_session_id(a) + 1);
	char name[32];
	snprintf(name, sizeof name, "CimSession%u", rms_session_id(a));
	assert_string_equal(rms_session_name(a), name);
	assert_int_equal(strlen(rms_session_instance_id(a)), 36);
	assert_string_not_equal(rms_session_instance_id(a), rms_session_instance_id(b));
	assert_string_equal(rms_session_computer_name(a), "127.0.0.1");
	assert_string_equal(rms_session_protocol(a), "WSMAN");
	assert_int_equal(rms_session_backend(a), RMS_BACKEND_CIM);
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%u/wsman", l->port);
	assert_string_equal(rms_session_endpoint(a), url);
	assert_int_equal(rms_session_set_name(a, "prod-dc1"), 0);
	assert_string_equal(rms_session_name(a), "prod-dc1");
	assert_int_equal(rms_session_set_name(a, ""), RMS_E_INVALID_ARG);
	rms_session_free(a);
	rms_session_free(b);
	rms_session_free(NULL);
}

static void test_session_needs_valid_options_first(void **state)
{
	(void)state;
	rms_session_options o = loopback(70000);
	rms_session *s = (rms_session *)1;
	rms_error *err = NULL;
	rms_error_clear();
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_PSSESSION, &o), RMS_E_OPTIONS);
	err = rms_error_dup(rms_error_last());
	assert_null(s);
	assert_string_equal(rms_error_field(err), "port");
	assert_int_equal(rms_error_backend(err), RMS_BACKEND_PSSESSION);
	rms_error_free(err);
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_AUTO, &o), RMS_E_INVALID_ARG);
	assert_int_equal(rms_session_new(NULL, RMS_BACKEND_CIM, &o), RMS_E_INVALID_ARG);
}

static void test_pssession_creation_fails_at_creation_without_transport(void **state)
{
	/* The PSSession is eager: it connects and sends Identify at creation.
	 * The listener accepts but never answers, so creation times out. */
	struct listener *l = *state;
	rms_session_options o = loopback(l->port);
	o.operation_timeout_ms = 500;
	rms_session *s = (rms_session *)1;
	rms_error *err = NULL;
	rms_error_clear();
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_PSSESSION, &o), RMS_E_TIMEOUT);
	err = rms_error_dup(rms_error_last());
	assert_null(s);
	assert_int_equal(rms_error_backend(err), RMS_BACKEND_PSSESSION);
	assert_null(strstr(rms_error_message(err), "Secret-Pa55"));
	rms_error_free(err);
	assert_true(connections_waiting(l) >= 1);
}

static void test_cim_test_connection_really_connects(void **state)
{
	(void)state;
	/* A port nobody listens on: bind one, note it, close it. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t len = sizeof a;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	rms_session_options o = loopback(ntohs(a.sin_port));
	o.cim.test_connection = true;
	rms_session *s = (rms_session *)1;
	rms_error *err = NULL;
	/* Without the option the same session is created (lazily) ... */
	o.cim.test_connection = false;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	rms_session_free(s);
	/* ... with it, creation fails there, as New-CimSession's does. */
	o.cim.test_connection = true;
	rms_error_clear();
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), RMS_E_CONNECT);
	err = rms_error_dup(rms_error_last());
	assert_null(s);
	assert_int_equal(rms_error_phase(err), RMS_PHASE_CONNECT);
	assert_int_equal(rms_error_backend(err), RMS_BACKEND_CIM);
	rms_error_free(err);
}

/* A loopback port nobody listens on. */
static unsigned closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t len = sizeof a;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void test_cim_operations_connect_when_they_run(void **state)
{
	(void)state;
	rms_session_options o = loopback(closed_port());
	rms_session *s;
	/* Creation succeeds: nothing is contacted ... */
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	rms_op *op = (rms_op *)1;
	rms_error *err = NULL;
	rms_error_clear();
	/* ... the operation is where an unreachable host shows. */
	assert_int_equal(rms_enumerate(&op, s, NULL, "Win32_Service"), RMS_E_CONNECT);
	err = rms_error_dup(rms_error_last());
	assert_null(op);
	assert_int_equal(rms_error_backend(err), RMS_BACKEND_CIM);
	assert_int_equal(rms_error_phase(err), RMS_PHASE_CONNECT);
	rms_error_free(err);
	rms_stats st = { .version = RMS_STATS_VERSION };
	assert_int_equal(rms_session_stats(s, &st), 0);
	assert_int_equal(st.connections_open, 0);
	assert_int_equal(st.operations, 1);

	/* Every kind connects at the operation, a class schema too. */
	rms_request *r;
	assert_int_equal(rms_request_new(&r, RMS_OP_GET_CLASS), 0);
	assert_int_equal(rms_request_set_class(r, "Win32_Service"), 0);
	rms_error_clear();
	assert_int_equal(rms_op_start(&op, s, r), RMS_E_CONNECT);
	err = rms_error_dup(rms_error_last());
	assert_int_equal(rms_error_backend(err), RMS_BACKEND_CIM);
	rms_error_free(err);
	rms_request_free(r);

	/* Commands are not a CIM operation: the error names who can. */
	int code = -1;
	rms_error_clear();
	assert_int_equal(rms_run(&code, s, "hostname", 0, NULL, NULL, NULL),
	                 RMS_E_UNSUPPORTED);
	err = rms_error_dup(rms_error_last());
	assert_non_null(strstr(rms_error_message(err), "PSSession"));
	rms_error_free(err);
	rms_session_free(s);
}

static void test_last_error_survives_freeing_the_session(void **state)
{
	(void)state;
	rms_session_options o = loopback(closed_port());
	rms_session *s;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	rms_op *op;
	assert_int_equal(rms_enumerate(&op, s, NULL, "Win32_Service"), RMS_E_CONNECT);
	const rms_error *e = rms_error_last();
	char *msg = strdup(rms_error_message(e));
	/* Freeing succeeds, so the pointer must stay valid (error.h). */
	rms_session_free(s);
	assert_ptr_equal(rms_error_last(), e);
	assert_string_equal(rms_error_message(e), msg);
	free(msg);
}

static void test_closed_session_refuses_operations(void **state)
{
	struct listener *l = *state;
	rms_session_options o = loopback(l->port);
	rms_session *s;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	assert_int_equal(rms_session_close(s), 0);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_CLOSED);
	assert_string_equal(rms_session_state_name(RMS_STATE_CLOSED), "Closed");
	assert_int_equal(rms_session_close(s), 0);
	rms_op *op;
	assert_int_equal(rms_enumerate(&op, s, NULL, "Win32_Service"), RMS_E_STATE);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "closed"));
	rms_session_free(s);
}

static void test_requests_check_fields_against_their_kind(void **state)
{
	(void)state;
	rms_request *r;
	assert_int_equal(rms_request_new(&r, RMS_OP_ENUMERATE), 0);
	assert_int_equal(rms_request_kind(r), RMS_OP_ENUMERATE);
	const char *argv[] = { "-c", "1" };
	assert_int_equal(rms_request_set_command(r, "ping", 2, argv), RMS_E_INVALID_ARG);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "enumerate"));
	assert_int_equal(rms_request_set_method(r, "StopService"), RMS_E_INVALID_ARG);
	assert_int_equal(rms_request_set_class(r, ""), RMS_E_INVALID_ARG);
	assert_int_equal(rms_request_set_class(r, "Win32_Service"), 0);
	assert_int_equal(rms_request_set_namespace(r, "root\\cimv2"), 0);
	/* Names are CIM identifiers: nothing that could smuggle markup, a
	 * terminal escape or a path into a resource URI. */
	assert_int_equal(rms_request_set_class(r, "Win32 Service"), RMS_E_INVALID_ARG);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "not a CIM name"));
	assert_int_equal(rms_request_set_class(r, "1Service"), RMS_E_INVALID_ARG);
	assert_int_equal(rms_request_set_class(r, "Win32_Service?x=1"), RMS_E_INVALID_ARG);
	assert_int_equal(rms_request_set_namespace(r, "root\ncimv2"), RMS_E_INVALID_ARG);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "control character"));
	assert_int_equal(rms_request_set_namespace(r, "root//cimv2"), RMS_E_INVALID_ARG);
	assert_int_equal(rms_request_set_namespace(r, "root/StandardCimv2"), 0);
	rms_request_free(r);

	/* A query may span lines, but not carry other control characters. */
	assert_int_equal(rms_request_new(&r, RMS_OP_QUERY), 0);
	assert_int_equal(rms_request_set_query(r, NULL, "SELECT *\n  FROM Win32_Service\r\n"), 0);
	assert_int_equal(rms_request_set_query(r, NULL, "SELECT \x1b[2J"), RMS_E_INVALID_ARG);
	rms_request_free(r);

	assert_int_equal(rms_request_new(&r, RMS_OP_RUN), 0);
	assert_int_equal(rms_request_set_command(r, "ping", 2, argv), 0);
	assert_int_equal(rms_request_set_stdin(r, "abc", 3), 0);
	assert_int_equal(rms_request_set_stdin(r, NULL, 3), RMS_E_INVALID_ARG);
	const char *holes[] = { "a", NULL };
	assert_int_equal(rms_request_set_command(r, "x", 2, holes), RMS_E_INVALID_ARG);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "argument 1"));
	rms_request_free(r);
	assert_int_equal(rms_request_new(&r, (rms_op_kind)99), RMS_E_INVALID_ARG);
	assert_string_equal(rms_op_kind_name(RMS_OP_ASSOCIATORS), "associators");
}

static void test_incomplete_request_is_refused_before_the_backend(void **state)
{
	struct listener *l = *state;
	rms_session_options o = loopback(l->port);
	rms_session *s;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	rms_request *r;
	assert_int_equal(rms_request_new(&r, RMS_OP_INVOKE), 0);
	rms_op *op;
	assert_int_equal(rms_op_start(&op, s, r), RMS_E_INVALID_ARG);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "method"));
	rms_request_free(r);
	assert_int_equal(rms_request_new(&r, RMS_OP_QUERY), 0);
	assert_int_equal(rms_op_start(&op, s, r), RMS_E_INVALID_ARG);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "query"));
	rms_request_free(r);
	rms_session_free(s);
}

static void test_auto_sends_cim_work_to_cim_and_commands_to_pssession(void **state)
{
	struct listener *l = *state;
	rms_session_options o = loopback(l->port);
	rms_target *t;
	assert_int_equal(rms_target_new(&t, &o, &o), 0);
	rms_backend b;
	const char *why;
	assert_int_equal(rms_target_choose(&b, &why, t, RMS_BACKEND_AUTO, RMS_OP_ENUMERATE), 0);
	assert_int_equal(b, RMS_BACKEND_CIM);
	assert_non_null(strstr(why, "CIM"));
	assert_int_equal(rms_target_choose(&b, &why, t, RMS_BACKEND_AUTO, RMS_OP_INVOKE), 0);
	assert_int_equal(b, RMS_BACKEND_CIM);
	assert_int_equal(rms_target_choose(&b, &why, t, RMS_BACKEND_AUTO, RMS_OP_RUN), 0);
	assert_int_equal(b, RMS_BACKEND_PSSESSION);
	assert_int_equal(rms_target_choose(&b, &why, t, RMS_BACKEND_PSSESSION, RMS_OP_QUERY), 0);
	assert_int_equal(b, RMS_BACKEND_PSSESSION);
	assert_string_equal(why, "the caller chose this backend");
	assert_int_equal(rms_target_choose(&b, &why, t, RMS_BACKEND_CIM, RMS_OP_RUN),
	                 RMS_E_UNSUPPORTED);
	assert_int_equal(rms_target_choose(&b, &why, t, RMS_BACKEND_PSSESSION, RMS_OP_CREATE),
	                 RMS_E_UNSUPPORTED);

	rms_target_free(t);

	/* Through the target, the enumeration reaches the CIM backend: the
	 * target's CIM session is made (opening nothing) and the operation
	 * then tries its own connection. */
	rms_session_options closed = loopback(closed_port());
	assert_int_equal(rms_target_new(&t, &closed, &closed), 0);
	rms_request *r;
	assert_int_equal(rms_request_new(&r, RMS_OP_ENUMERATE), 0);
	assert_int_equal(rms_request_set_class(r, "Win32_Service"), 0);
	rms_op *op;
	rms_error *err = NULL;
	rms_error_clear();
	assert_int_equal(rms_target_start(&op, t, RMS_BACKEND_AUTO, r), RMS_E_CONNECT);
	err = rms_error_dup(rms_error_last());
	assert_int_equal(rms_error_backend(err), RMS_BACKEND_CIM);
	/* No silent retry on the PSSession; and no hint to ask for it either,
	 * since it goes to the same closed port the same way and would fail
	 * alike. */
	assert_null(strstr(rms_error_message(err), "auto chose"));
	rms_error_free(err);
	/* A PSSession set to go elsewhere (another port) could serve: the
	 * error says how to ask for it. */
	unsigned other_port = closed_port();
	if (other_port == closed.port)
		other_port++;
	rms_session_options elsewhere = loopback(other_port);
	rms_target *t2;
	assert_int_equal(rms_target_new(&t2, &closed, &elsewhere), 0);
	rms_error_clear();
	assert_int_equal(rms_target_start(&op, t2, RMS_BACKEND_AUTO, r), RMS_E_CONNECT);
	assert_non_null(strstr(rms_error_message(rms_error_last()),
	                       "auto chose the CIM backend and does not retry on the PSSession "
	                       "backend; ask for it by name: RMS_BACKEND_PSSESSION, --backend "
	                       "pssession"));
	rms_target_free(t2);
	/* Not for an operation that could not start for its own reasons. */
	rms_request *bad;
	assert_int_equal(rms_request_new(&bad, RMS_OP_ENUMERATE), 0);
	rms_error_clear();
	assert_int_not_equal(rms_target_start(&op, t, RMS_BACKEND_AUTO, bad), 0);
	err = rms_error_dup(rms_error_last());
	assert_null(strstr(rms_error_message(err), "auto chose"));
	rms_error_free(err);
	rms_request_free(bad);
	rms_error_clear();
	/* Asked by name, the PSSession fails at its creation, on its own. */
	assert_int_equal(rms_target_start(&op, t, RMS_BACKEND_PSSESSION, r), RMS_E_CONNECT);
	err = rms_error_dup(rms_error_last());
	assert_int_equal(rms_error_backend(err), RMS_BACKEND_PSSESSION);
	assert_null(strstr(rms_error_message(err), "auto chose"));
	rms_error_free(err);
	rms_request_free(r);
	rms_target_free(t);
}

static void test_auto_falls_back_only_to_a_backend_that_can_serve(void **state)
{
	struct listener *l = *state;
	rms_session_options o = loopback(l->port);
	rms_target *only_ps, *only_cim;
	assert_int_equal(rms_target_new(&only_ps, NULL, &o), 0);
	assert_int_equal(rms_target_new(&only_cim, &o, NULL), 0);
	rms_backend b;
	const char *why;
	assert_int_equal(rms_target_choose(&b, &why, only_ps, RMS_BACKEND_AUTO, RMS_OP_QUERY), 0);
	assert_int_equal(b, RMS_BACKEND_PSSESSION);
	assert_non_null(strstr(why, "no CIM settings"));
	assert_int_equal(rms_target_choose(&b, &why, only_ps, RMS_BACKEND_AUTO, RMS_OP_DELETE),
	                 RMS_E_UNSUPPORTED);
	assert_int_equal(rms_target_choose(&b, &why, only_cim, RMS_BACKEND_AUTO, RMS_OP_RUN),
	                 RMS_E_UNSUPPORTED);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "PSSession"));
	assert_int_equal(rms_target_choose(&b, &why, only_cim, RMS_BACKEND_PSSESSION,
	                                   RMS_OP_RUN),
	                 RMS_E_INVALID_ARG);
	rms_target_free(only_ps);
	rms_target_free(only_cim);

	rms_target *t;
	assert_int_equal(rms_target_new(&t, NULL, NULL), RMS_E_INVALID_ARG);
	rms_session_options bad = loopback(70000);
	assert_int_equal(rms_target_new(&t, &o, &bad), RMS_E_OPTIONS);
	assert_int_equal(rms_error_backend(rms_error_last()), RMS_BACKEND_PSSESSION);
}

static long no_stdin(void *buf, size_t len, void *userdata)
{
	(void)buf;
	(void)len;
	(void)userdata;
	return 0;
}

/* What a comparison cannot do is refused before anything runs; the side
 * by side runs themselves are the behaviour tests (tests/behaviour). */
static void test_comparison_refuses_what_it_cannot_do(void **state)
{
	struct listener *l = *state;
	rms_session_options o = loopback(l->port);
	rms_target *t;
	assert_int_equal(rms_target_new(&t, &o, &o), 0);
	rms_request *r;
	assert_int_equal(rms_request_new(&r, RMS_OP_RUN), 0);
	assert_int_equal(rms_request_set_command(r, "cmd", 0, NULL), 0);
	assert_int_equal(rms_request_set_stdin_fn(r, no_stdin, NULL), 0);
	rms_comparison *c = (rms_comparison *)1;
	rms_error *err = NULL;
	rms_error_clear();
	assert_int_equal(rms_compare(&c, t, r), RMS_E_INVALID_ARG);
	err = rms_error_dup(rms_error_last());
	assert_null(c);
	assert_non_null(strstr(rms_error_message(err), "runs the command twice"));
	rms_error_free(err);
	assert_int_equal(rms_compare(NULL, t, r), RMS_E_INVALID_ARG);
	assert_int_equal(rms_compare(&c, NULL, r), RMS_E_INVALID_ARG);
	assert_int_equal(rms_compare(&c, t, NULL), RMS_E_INVALID_ARG);
	/* Nothing was opened: no session was even made. */
	assert_int_equal(connections_waiting(l), 0);
	rms_request_free(r);
	rms_target_free(t);
}

static void test_version_and_features(void **state)
{
	(void)state;
	assert_string_equal(rms_version(), RMS_VERSION_STRING);
	const char *const *f = rms_features();
	int n = 0;
	for (; f[n]; n++)
		assert_true(strlen(f[n]) > 0);
	assert_true(n >= 1);
	assert_int_equal(rms_global_init(), 0);
	rms_global_cleanup();
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, listener_open, listener_close)
	const struct CMUnitTest tests[] = {
		T(test_cim_session_creation_opens_no_connection),
		T(test_cim_session_properties_like_new_cimsession),
		T(test_session_needs_valid_options_first),
		T(test_pssession_creation_fails_at_creation_without_transport),
		T(test_cim_test_connection_really_connects),
		T(test_cim_operations_connect_when_they_run),
		T(test_last_error_survives_freeing_the_session),
		T(test_closed_session_refuses_operations),
		T(test_requests_check_fields_against_their_kind),
		T(test_incomplete_request_is_refused_before_the_backend),
		T(test_auto_sends_cim_work_to_cim_and_commands_to_pssession),
		T(test_auto_falls_back_only_to_a_backend_that_can_serve),
		T(test_comparison_refuses_what_it_cannot_do),
		T(test_version_and_features),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
