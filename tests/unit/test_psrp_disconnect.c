/*
 * Disconnect and reconnect of a PowerShell session over WinRM
 * (rms_session_disconnect / _reconnect / _connect / _receive; ps_psrp.c,
 * psrp_winrm.c, the pool's CONNECT_RUNSPACEPOOL in psrp_pool.c) against the
 * test endpoint's PowerShell plugin with a real pwsh 7.6.10, which keeps
 * running, and writing, while no client is connected: output produced
 * while disconnected read after a reconnect in the same session and after
 * a Connect from a second session (as another process would), the shell
 * listed as Disconnected, the idle timeout of a disconnected shell, and the
 * errors for wrong states and for sessions that cannot disconnect. Skipped
 * without pwsh (fails in CI).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "endpoint.h"
#include "psremote/psrp_pool.h"
#include "psremote/psrp_wire.h"
#include "pwsh.h"
#include "remsess/remsess.h"

static rms_endpoint_proc *ep;

static int group_setup(void **state)
{
	(void)state;
	if (!rms_test_pwsh()) {
		if (getenv("CI"))
			fail_msg("psrp_disconnect: no pwsh in CI (scripts/deps.sh installs it)");
		fprintf(stderr, "psrp_disconnect: no pwsh: tests skipped\n");
		return 0;
	}
	ep = rms_endpoint_spawn(NULL);
	if (!ep)
		fail_msg("could not start the test endpoint");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	rms_endpoint_kill(ep);
	return 0;
}

#define NEED_PWSH()                                                                                \
	do {                                                                                       \
		if (!ep)                                                                           \
			skip();                                                                    \
	} while (0)

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0)
		;
}

static rms_session_options ps_opts(void)
{
	rms_session_options o = rms_endpoint_session_options(ep);
	o.pssession_v2.protocol = RMS_PS_PROTOCOL_POWERSHELL;
	o.operation_timeout_ms = 30000;
	return o;
}

static rms_session *open_ps(void)
{
	rms_session_options o = ps_opts();
	rms_session *s = NULL;
	if (rms_session_new(&s, RMS_BACKEND_PSSESSION, &o))
		fail_msg("opening the PSRP session over WinRM failed: %s",
		         rms_error_message(rms_error_last()));
	return s;
}

static rms_op *start_script(rms_session *s, const char *script)
{
	rms_request *req;
	rms_op *op = NULL;
	assert_int_equal(rms_request_new(&req, RMS_OP_POWERSHELL), 0);
	assert_int_equal(rms_request_set_script(req, script), 0);
	if (rms_op_start(&op, s, req))
		fail_msg("start failed: %s", rms_error_message(rms_error_last()));
	rms_request_free(req);
	return op;
}

/* The op's output strings joined with ',' (other streams skipped); its end
 * code. */
static int read_all(rms_op *op, char *out, size_t size)
{
	out[0] = '\0';
	rms_ps_stream st;
	rms_value *v;
	int rc;
	while ((rc = rms_op_next_object(op, &st, &v)) == 0) {
		const char *t = NULL;
		if (st == RMS_PS_OUTPUT && rms_value_get_string(v, &t) == 0 && t) {
			size_t n = strlen(out);
			snprintf(out + n, size - n, "%s%s", n ? "," : "", t);
		}
		rms_value_free(v);
	}
	return rc;
}

/* The State of shell id in the user's list of shells, or "" if absent. */
static void listed_state(rms_session *s, const char *id, char *out, size_t size)
{
	rms_instance **list = NULL;
	size_t n = 0;
	out[0] = '\0';
	if (rms_session_shells(s, &list, &n))
		fail_msg("listing the shells failed: %s", rms_error_message(rms_error_last()));
	for (size_t i = 0; i < n; i++) {
		const char *sid = NULL, *state = NULL;
		rms_value_get_string(rms_instance_get(list[i], "ShellId"), &sid);
		rms_value_get_string(rms_instance_get(list[i], "State"), &state);
		if (sid && state && strcmp(sid, id) == 0)
			snprintf(out, size, "%s", state);
		rms_instance_free(list[i]);
	}
	rms_free(list);
}

static void test_reconnect_reads_output_produced_while_disconnected(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_endpoint_reset(ep);
	rms_session *s = open_ps();
	char id[64];
	assert_non_null(rms_session_shell_id(s));
	snprintf(id, sizeof id, "%s", rms_session_shell_id(s));
	/* Output comes only after the disconnect. */
	rms_op *op = start_script(s, "Start-Sleep -Milliseconds 1200; 'late'; 'later'");
	assert_non_null(rms_op_command_id(op));
	if (rms_session_disconnect(s, 0))
		fail_msg("disconnect failed: %s", rms_error_message(rms_error_last()));
	assert_int_equal(rms_session_state_get(s), RMS_STATE_DISCONNECTED);
	assert_string_equal(rms_session_state_name(rms_session_state_get(s)), "Disconnected");
	assert_int_equal(rms_endpoint_stat(ep, "shells_disconnected"), 1);
	char st[32];
	listed_state(s, id, st, sizeof st);
	assert_string_equal(st, "Disconnected");
	/* The server's record says so too. */
	rms_instance *info = NULL;
	assert_int_equal(rms_session_check(s, &info), RMS_E_STATE);
	assert_non_null(info);
	const char *text = NULL;
	assert_int_equal(rms_value_get_string(rms_instance_get(info, "State"), &text), 0);
	assert_string_equal(text, "Disconnected");
	rms_instance_free(info);
	/* Nothing else runs meanwhile. */
	rms_request *req;
	rms_op *other = NULL;
	assert_int_equal(rms_request_new(&req, RMS_OP_POWERSHELL), 0);
	assert_int_equal(rms_request_set_script(req, "'no'"), 0);
	assert_int_equal(rms_op_start(&other, s, req), RMS_E_STATE);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "disconnected"));
	rms_request_free(req);
	assert_int_equal(rms_session_disconnect(s, 0), RMS_E_STATE);
	sleep_ms(1600); /* pwsh writes while nobody is connected */
	if (rms_session_reconnect(s))
		fail_msg("reconnect failed: %s", rms_error_message(rms_error_last()));
	assert_int_equal(rms_session_state_get(s), RMS_STATE_OPENED);
	assert_int_equal(rms_endpoint_stat(ep, "shells_reconnected"), 1);
	assert_int_equal(rms_session_reconnect(s), RMS_E_STATE);
	char out[256];
	int rc = read_all(op, out, sizeof out);
	if (rc != RMS_ITEROVER)
		fail_msg("reading after the reconnect failed: %s", rms_error_message(rms_op_error(op)));
	assert_string_equal(out, "late,later");
	rms_op_free(op);
	/* And the session goes on as before. */
	op = start_script(s, "'again'");
	assert_int_equal(read_all(op, out, sizeof out), RMS_ITEROVER);
	assert_string_equal(out, "again");
	rms_op_free(op);
	listed_state(s, id, st, sizeof st);
	assert_string_equal(st, "Connected");
	assert_int_equal(rms_session_close(s), 0);
	assert_int_equal(rms_endpoint_stat(ep, "shells_deleted"), 1);
	rms_session_free(s);
}

static void test_second_session_connects_and_receives_by_command_id(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_endpoint_reset(ep);
	rms_session *s = open_ps();
	rms_op *op = start_script(s, "Start-Sleep -Milliseconds 800; 1..3 | ForEach-Object { \"n$_\" }");
	char shell[64], cmd[64];
	snprintf(shell, sizeof shell, "%s", rms_session_shell_id(s));
	snprintf(cmd, sizeof cmd, "%s", rms_op_command_id(op));
	if (rms_session_disconnect(s, 0))
		fail_msg("disconnect failed: %s", rms_error_message(rms_error_last()));
	/* This process goes away: the op and session are freed, and the shell
	 * stays (a Disconnected session is not closed by its free). */
	rms_op_free(op);
	rms_session_free(s);
	assert_int_equal(rms_endpoint_stat(ep, "shells_deleted"), 0);
	assert_int_equal(rms_endpoint_stat(ep, "pwsh_running"), 1);
	sleep_ms(1200);
	/* The server lists the shell's command: the pipeline, still running. */
	rms_session_options co = rms_endpoint_session_options(ep);
	rms_session *cim = NULL;
	assert_int_equal(rms_session_new(&cim, RMS_BACKEND_CIM, &co), 0);
	rms_instance **cmds = NULL;
	size_t ncmds = 0;
	if (rms_session_shell_commands(cim, shell, &cmds, &ncmds))
		fail_msg("listing the commands failed: %s", rms_error_message(rms_error_last()));
	assert_int_equal(ncmds, 1);
	const char *text = NULL;
	assert_int_equal(rms_value_get_string(rms_instance_get(cmds[0], "CommandId"), &text), 0);
	assert_string_equal(text, cmd);
	rms_instance_free(cmds[0]);
	rms_free(cmds);
	assert_int_equal(rms_session_shell_commands(cim, "0D4F6A35-9B1C-4E8A-A3C2-7D5E6F708192", &cmds,
	                                            &ncmds),
	                 RMS_E_FAULT);
	assert_string_equal(rms_error_fault_subcode(rms_error_last()), "w:InvalidSelectors");
	rms_session_free(cim);
	rms_session_options o = ps_opts();
	rms_session *s2 = NULL;
	if (rms_session_connect(&s2, &o, shell))
		fail_msg("connect failed: %s", rms_error_message(rms_error_last()));
	assert_int_equal(rms_session_state_get(s2), RMS_STATE_OPENED);
	assert_string_equal(rms_session_shell_id(s2), shell);
	assert_int_equal(rms_endpoint_stat(ep, "shells_connected"), 1);
	assert_int_equal(rms_endpoint_stat(ep, "shells_created"), 1);
	rms_op *got = NULL;
	if (rms_session_receive(&got, s2, cmd))
		fail_msg("receive failed: %s", rms_error_message(rms_error_last()));
	assert_string_equal(rms_op_command_id(got), cmd);
	char out[256];
	int rc = read_all(got, out, sizeof out);
	if (rc != RMS_ITEROVER)
		fail_msg("reading the pipeline failed: %s", rms_error_message(rms_op_error(got)));
	assert_string_equal(out, "n1,n2,n3");
	rms_op_free(got);
	/* The connected pool runs new pipelines too. */
	op = start_script(s2, "'from the second client'");
	assert_int_equal(read_all(op, out, sizeof out), RMS_ITEROVER);
	assert_string_equal(out, "from the second client");
	rms_op_free(op);
	/* A connected shell can be disconnected again by its new client. */
	assert_int_equal(rms_session_disconnect(s2, 0), 0);
	assert_int_equal(rms_session_reconnect(s2), 0);
	assert_int_equal(rms_session_close(s2), 0);
	assert_int_equal(rms_endpoint_stat(ep, "shells_deleted"), 1);
	rms_session_free(s2);
}

static void test_wrong_states_and_sessions_that_cannot_disconnect(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_endpoint_reset(ep);
	rms_session *s = open_ps();
	char shell[64];
	snprintf(shell, sizeof shell, "%s", rms_session_shell_id(s));
	rms_session_options o = ps_opts();
	rms_session *s2 = NULL;
	/* A connected shell is not connected to by another client. */
	assert_int_not_equal(rms_session_connect(&s2, &o, shell), 0);
	assert_null(s2);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "connected"));
	/* Nor is a shell that does not exist, or a shell id that is no GUID. */
	assert_int_not_equal(rms_session_connect(&s2, &o, "0D4F6A35-9B1C-4E8A-A3C2-7D5E6F708192"), 0);
	assert_null(s2);
	assert_int_equal(rms_session_connect(&s2, &o, "not-a-shell"), RMS_E_INVALID_ARG);
	/* Reading a pipeline nobody started. */
	rms_op *op = NULL;
	assert_int_not_equal(rms_session_receive(&op, s, "5C4B3A29-1807-4F6E-9D5C-4B3A29180706"),
	                     RMS_E_INVALID_ARG);
	/* (the endpoint refuses the Connect CommandId: the op fails) */
	if (op) {
		char out[64];
		assert_int_not_equal(read_all(op, out, sizeof out), RMS_ITEROVER);
		rms_op_free(op);
	}
	assert_int_equal(rms_session_reconnect(s), RMS_E_STATE);
	/* A disconnected session closed: its shell is deleted as it is. */
	assert_int_equal(rms_session_disconnect(s, 0), 0);
	assert_int_equal(rms_session_close(s), 0);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_CLOSED);
	assert_int_equal(rms_endpoint_stat(ep, "shells_deleted"), 1);
	assert_int_equal(rms_session_disconnect(s, 0), RMS_E_STATE);
	rms_session_free(s);
	/* The command shell (WinRS cmd) and a CIM session cannot. */
	rms_session_options co = rms_endpoint_session_options(ep);
	rms_session *cmd = NULL;
	if (rms_session_new(&cmd, RMS_BACKEND_PSSESSION, &co))
		fail_msg("opening the cmd shell failed: %s", rms_error_message(rms_error_last()));
	assert_int_equal(rms_session_disconnect(cmd, 0), RMS_E_UNSUPPORTED);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "command shell"));
	assert_int_equal(rms_session_state_get(cmd), RMS_STATE_OPENED);
	/* Nor does it read a pipeline by command id: no op (nothing run in
	 * its place). */
	assert_int_equal(rms_session_receive(&op, cmd, "5C4B3A29-1807-4F6E-9D5C-4B3A29180706"),
	                 RMS_E_UNSUPPORTED);
	assert_null(op);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "command shell"));
	assert_null(rms_op_command_id(op));
	rms_session_free(cmd);
	rms_session *cim = NULL;
	assert_int_equal(rms_session_new(&cim, RMS_BACKEND_CIM, &co), 0);
	assert_int_equal(rms_session_disconnect(cim, 0), RMS_E_UNSUPPORTED);
	assert_int_equal(rms_session_reconnect(cim), RMS_E_UNSUPPORTED);
	assert_null(rms_session_shell_id(cim));
	rms_session_free(cim);
	assert_int_equal(rms_session_connect(&s2, &co, shell), RMS_E_UNSUPPORTED);
	/* Default options are the command shell's too: no Connect, and no new
	 * shell opened in its place. */
	assert_int_equal(rms_session_connect(&s2, NULL, shell), RMS_E_UNSUPPORTED);
	assert_null(s2);
}

static void test_disconnected_shell_ends_at_its_idle_timeout(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_endpoint_reset(ep);
	rms_session *s = open_ps();
	char shell[64];
	snprintf(shell, sizeof shell, "%s", rms_session_shell_id(s));
	/* The Disconnect's IdleTimeOut replaces the shell's. */
	assert_int_equal(rms_session_disconnect(s, 1000), 0);
	rms_session_free(s);
	for (int i = 0; i < 40 && rms_endpoint_stat(ep, "shells_expired") < 1; i++)
		sleep_ms(100);
	assert_int_equal(rms_endpoint_stat(ep, "shells_expired"), 1);
	rms_session_options o = ps_opts();
	rms_session *s2 = NULL;
	assert_int_not_equal(rms_session_connect(&s2, &o, shell), 0);
	assert_null(s2);
	/* The same process reconnecting after the server ended its shell: the
	 * server's refusal leaves it Disconnected (docs), then its close and
	 * free end it without leaks, whatever the Delete gets. */
	s = open_ps();
	snprintf(shell, sizeof shell, "%s", rms_session_shell_id(s));
	rms_op *op = start_script(s, "Start-Sleep -Seconds 30");
	assert_int_equal(rms_session_disconnect(s, 1000), 0);
	for (int i = 0; i < 40 && rms_endpoint_stat(ep, "shells_expired") < 2; i++)
		sleep_ms(100);
	assert_int_equal(rms_endpoint_stat(ep, "shells_expired"), 2);
	int rc = rms_session_reconnect(s);
	assert_int_not_equal(rc, 0);
	/* The refusal names the call it answered. */
	assert_non_null(strstr(rms_error_message(rms_error_last()), "the Reconnect"));
	assert_int_equal(rms_session_state_get(s), RMS_STATE_DISCONNECTED);
	assert_int_equal(rms_op_next_object(op, &(rms_ps_stream){0}, &(rms_value *){NULL}),
	                 RMS_E_STATE);
	rms_op_free(op);
	rms_session_close(s);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_CLOSED);
	rms_session_free(s);
}

/* The server gone while a pipeline runs: the Disconnect cannot be sent, the
 * session is Broken (not Disconnected), saying so; the op, the session and
 * a reconnect attempt end cleanly. */
static void test_disconnect_with_the_server_gone(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_endpoint_proc *gone = rms_endpoint_spawn(NULL);
	assert_non_null(gone);
	rms_session_options o = rms_endpoint_session_options(gone);
	o.pssession_v2.protocol = RMS_PS_PROTOCOL_POWERSHELL;
	o.operation_timeout_ms = 5000;
	rms_session *s = NULL;
	if (rms_session_new(&s, RMS_BACKEND_PSSESSION, &o))
		fail_msg("open: %s", rms_error_message(rms_error_last()));
	rms_op *op = start_script(s, "Start-Sleep -Seconds 30");
	rms_endpoint_kill(gone);
	int rc = rms_session_disconnect(s, 0);
	assert_int_not_equal(rc, 0);
	assert_int_not_equal(rc, RMS_E_STATE);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "Disconnect"));
	assert_int_equal(rms_session_state_get(s), RMS_STATE_BROKEN);
	assert_int_equal(rms_session_reconnect(s), RMS_E_STATE);
	assert_int_not_equal(rms_op_next_object(op, &(rms_ps_stream){0}, &(rms_value *){NULL}), 0);
	rms_op_free(op);
	rms_session_free(s);
}

/* ---- the pool's side, without I/O (psrp_pool.c) ---------------------------------------- */

/* One server message for the pool (pid NULL) or a pipeline, as one fragment. */
static int feed(rms_psrp_pool *p, uint32_t type, const rms_guid *pid, const char *xml)
{
	static const rms_guid zero;
	rms_buf m, f;
	rms__buf_init(&m);
	rms__buf_init(&f);
	assert_int_equal(rms__psrp_message_pack(&m, RMS_PSRP_DEST_CLIENT, type, rms__psrp_pool_id(p),
	                                        pid ? pid : &zero, xml, strlen(xml)),
	                 0);
	rms_psrp_fragmenter fr;
	rms__psrp_fragmenter_init(&fr, RMS_PSRP_OOP_FRAGMENT_MAX);
	fr.next_object_id = 500;
	assert_int_equal(rms__psrp_fragment(&fr, &f, m.data, m.len, NULL), 0);
	int rc = rms__psrp_pool_feed(p, f.data, f.len);
	rms__buf_free(&m);
	rms__buf_free(&f);
	return rc;
}

static uint32_t le32(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

#define CAPABILITY(v)                                                                              \
	"<Obj RefId=\"0\"><MS><Version N=\"protocolversion\">" v "</Version><Version "               \
	"N=\"PSVersion\">2.0</Version><Version N=\"SerializationVersion\">1.1.0.1</Version></MS></Obj>"

static void test_pool_connects_by_id_and_attaches_pipelines(void **state)
{
	(void)state;
	rms_psrp_pool_config cfg = {.max_fragment = 32768, .max_object = UINT64_MAX};
	rms_psrp_pool *p = NULL;
	assert_int_equal(rms__psrp_pool_new(&p, &cfg), 0);
	rms_guid id, cmd;
	const char *text = "B6631D8E-65A0-49F2-9053-A1B156C95777";
	assert_int_equal(rms__guid_parse(&id, text, strlen(text), "test"), 0);
	assert_int_equal(rms__psrp_pool_connect(p, &id), 0);
	assert_true(rms__guid_equal(rms__psrp_pool_id(p), &id));
	/* What goes into connectXml: SESSION_CAPABILITY, then CONNECT_RUNSPACEPOOL with
	 * an empty string (the default pool, MS-PSRP 2.2.2.29), object ids 1 and 2. */
	rms_psrp_send snd;
	assert_int_equal(rms__psrp_pool_take(p, &snd), 0);
	assert_int_equal(snd.kind, RMS_PSRP_SEND_DATA);
	assert_true(rms__guid_is_zero(&snd.guid));
	const unsigned char *d = (const unsigned char *)snd.data.data;
	size_t off = 0;
	uint32_t types[2];
	for (int i = 0; i < 2; i++) {
		assert_true(snd.data.len - off > 21 + 40);
		assert_int_equal(d[off + 7], i + 1); /* ObjectId */
		uint32_t blen = (uint32_t)d[off + 17] << 24 | (uint32_t)d[off + 18] << 16 |
		                (uint32_t)d[off + 19] << 8 | d[off + 20];
		types[i] = le32(d + off + 21 + 4);
		if (i == 1) {
			char body[64];
			snprintf(body, sizeof body, "%.*s", (int)(blen - 40), (const char *)d + off + 61);
			assert_non_null(strstr(body, "<S"));
		}
		off += 21 + blen;
	}
	assert_int_equal(off, snd.data.len);
	assert_int_equal(types[0], RMS_PSRP_SESSION_CAPABILITY);
	assert_int_equal(types[1], RMS_PSRP_CONNECT_RUNSPACEPOOL);
	rms__psrp_send_clear(&snd);
	assert_int_equal(rms__psrp_pool_take(p, &snd), RMS_ITEROVER);
	/* The server's answer (connectResponseXml): its capability and the pool's
	 * runspaces; the pool is Opened by the latter. */
	assert_int_equal(feed(p, RMS_PSRP_SESSION_CAPABILITY, NULL, CAPABILITY("2.1")), 0);
	assert_int_equal(rms__psrp_pool_state(p), RMS_PSRP_POOL_OPENING);
	assert_false(rms__psrp_pool_protocol_at_least(p, 2, 2));
	assert_int_equal(feed(p, RMS_PSRP_SESSION_CAPABILITY, NULL, CAPABILITY("2.3")), 0);
	assert_true(rms__psrp_pool_protocol_at_least(p, 2, 2));
	assert_int_equal(feed(p, RMS_PSRP_RUNSPACEPOOL_INIT_DATA, NULL,
	                      "<Obj RefId=\"0\"><MS><I32 N=\"MinRunspaces\">1</I32><I32 "
	                      "N=\"MaxRunspaces\">3</I32></MS></Obj>"),
	                 0);
	assert_int_equal(rms__psrp_pool_state(p), RMS_PSRP_POOL_OPENED);
	assert_int_equal(rms__psrp_pool_max_runspaces(p), 3);
	/* A pipeline an earlier client started: no CREATE_PIPELINE, an ATTACH; its
	 * output and end come as any pipeline's. */
	text = "DB4E8DCF-51CC-423F-A7DF-5D0EA0D6FA08";
	assert_int_equal(rms__guid_parse(&cmd, text, strlen(text), "test"), 0);
	rms_psrp_pipeline *pl = NULL, *again = NULL;
	assert_int_equal(rms__psrp_pipeline_attach(&pl, p, &cmd), 0);
	assert_int_equal(rms__psrp_pipeline_attach(&again, p, &cmd), RMS_E_STATE);
	assert_null(again);
	assert_int_equal(rms__psrp_pool_take(p, &snd), 0);
	assert_int_equal(snd.kind, RMS_PSRP_SEND_ATTACH);
	assert_true(rms__guid_equal(&snd.guid, &cmd));
	rms__psrp_send_clear(&snd);
	assert_int_equal(feed(p, RMS_PSRP_PIPELINE_OUTPUT, &cmd, "<S>a</S>"), 0);
	assert_int_equal(feed(p, RMS_PSRP_PIPELINE_STATE, &cmd,
	                      "<Obj RefId=\"0\"><MS><I32 N=\"PipelineState\">4</I32></MS></Obj>"),
	                 0);
	rms_psrp_event ev;
	assert_int_equal(rms__psrp_pipeline_next(pl, &ev), 0);
	const char *t = NULL;
	assert_int_equal(rms_value_get_string(ev.value, &t), 0);
	assert_string_equal(t, "a");
	rms__psrp_event_clear(&ev);
	assert_int_equal(rms__psrp_pipeline_next(pl, &ev), 0);
	assert_true(ev.done);
	assert_int_equal(ev.state, RMS_PSRP_PIPELINE_COMPLETED);
	rms__psrp_event_clear(&ev);
	rms__psrp_pipeline_free(pl);
	rms__psrp_pool_free(p);
	/* Another pool size goes as MinRunspaces/MaxRunspaces. */
	cfg.min_runspaces = 1;
	cfg.max_runspaces = 4;
	assert_int_equal(rms__psrp_pool_new(&p, &cfg), 0);
	assert_int_equal(rms__psrp_pool_connect(p, &id), 0);
	assert_int_equal(rms__psrp_pool_take(p, &snd), 0);
	static const char want[] = "N=\"MaxRunspaces\">4</I32>";
	bool found = false;
	for (size_t i = 0; i + sizeof want - 1 <= snd.data.len; i++)
		if (memcmp(snd.data.data + i, want, sizeof want - 1) == 0)
			found = true;
	assert_true(found);
	rms__psrp_send_clear(&snd);
	rms__psrp_pool_free(p);
	/* MaxRunspaces from the wire is checked: below 1, or beyond an I32, is
	 * refused (the pool does not open, with a count that makes no sense). */
	static const char *const bad_max[] = {
		"<Obj RefId=\"0\"><MS><I32 N=\"MinRunspaces\">1</I32><I32 "
		"N=\"MaxRunspaces\">0</I32></MS></Obj>",
		"<Obj RefId=\"0\"><MS><I32 N=\"MinRunspaces\">1</I32><I32 "
		"N=\"MaxRunspaces\">-5</I32></MS></Obj>",
		"<Obj RefId=\"0\"><MS><I32 N=\"MinRunspaces\">1</I32><I64 "
		"N=\"MaxRunspaces\">4294967297</I64></MS></Obj>",
	};
	for (size_t i = 0; i < sizeof bad_max / sizeof *bad_max; i++) {
		assert_int_equal(rms__psrp_pool_new(&p, &cfg), 0);
		assert_int_equal(rms__psrp_pool_connect(p, &id), 0);
		assert_int_equal(rms__psrp_pool_take(p, &snd), 0);
		rms__psrp_send_clear(&snd);
		assert_int_equal(feed(p, RMS_PSRP_SESSION_CAPABILITY, NULL, CAPABILITY("2.3")), 0);
		assert_int_equal(feed(p, RMS_PSRP_RUNSPACEPOOL_INIT_DATA, NULL, bad_max[i]),
		                 RMS_E_PROTOCOL);
		assert_non_null(strstr(rms_error_message(rms_error_last()), "MaxRunspaces"));
		assert_int_not_equal(rms__psrp_pool_state(p), RMS_PSRP_POOL_OPENED);
		assert_int_equal(rms__psrp_pool_max_runspaces(p), 0);
		rms__psrp_pool_free(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_connects_by_id_and_attaches_pipelines),
		cmocka_unit_test(test_reconnect_reads_output_produced_while_disconnected),
		cmocka_unit_test(test_second_session_connects_and_receives_by_command_id),
		cmocka_unit_test(test_wrong_states_and_sessions_that_cannot_disconnect),
		cmocka_unit_test(test_disconnected_shell_ends_at_its_idle_timeout),
		cmocka_unit_test(test_disconnect_with_the_server_gone),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
