/*
 * The PSSession speaking PowerShell remoting over SSH (psremote/ps_psrp.c,
 * psrp_pool.c, psrp_oop.c, psrp_wire.c, clixml.c) against real PowerShell
 * 7.6.10: the test's own OpenSSH server on loopback (tests/support/sshd.c)
 * serves `pwsh -sshs -NoLogo -NoProfile` as its `powershell` subsystem,
 * as a Linux host set up for PowerShell remoting over SSH does.
 *
 * What comes back is compared with what PowerShell itself says about the
 * same script (ConvertTo-Json in a local pwsh), and with PowerShell's types.
 * Without pwsh (RMS_PWSH, ~/.dotnet/tools/pwsh, PATH) the tests are skipped
 * with a message; .ci/run installs it.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "remsess/remsess.h"
#include "pwsh.h"
#include "sshd.h"

static rms_sshd sshd;
static bool have_pwsh;

static int group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	const char *sub = rms_test_pwsh_subsystem("powershell");
	if (!sub && getenv("CI"))
		fail_msg("psrp_ssh: no pwsh in CI: scripts/deps.sh installs it (dotnet tool install "
		         "--global PowerShell --version 7.6.10)");
	if (!sub) {
		fprintf(stderr, "psrp_ssh: no pwsh (set RMS_PWSH, or install it: dotnet tool install "
		                "--global PowerShell --version 7.6.10): tests skipped\n");
		return 0;
	}
	char extra[1400];
	/* A second subsystem whose program does not exist: sshd accepts the
	 * request, then the program cannot start. */
	snprintf(extra, sizeof extra,
	         "%s\nSubsystem broken /nonexistent/pwsh -sshs\nMaxSessions 50\nMaxStartups 50", sub);
	if (rms_sshd_start(&sshd, extra) != 0)
		fail_msg("could not start the test sshd");
	have_pwsh = true;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (have_pwsh)
		rms_sshd_stop(&sshd);
	return 0;
}

#define NEED_PWSH()                                                                                \
	do {                                                                                       \
		if (!have_pwsh)                                                                    \
			skip();                                                                    \
	} while (0)

static rms_session_options ps_opts(void)
{
	rms_session_options o = rms_sshd_session_options(&sshd);
	o.pssession_v2.protocol = RMS_PS_PROTOCOL_POWERSHELL;
	return o;
}

static rms_session *open_ps(const rms_session_options *o)
{
	rms_session *s = NULL;
	int rc = rms_session_new(&s, RMS_BACKEND_PSSESSION, o);
	if (rc)
		fail_msg("opening the PSRP session failed: %s", rms_error_message(rms_error_last()));
	return s;
}

/* One object of a pipeline's results. */
struct item {
	rms_ps_stream stream;
	rms_value *v;
};

struct result {
	struct item items[256];
	size_t n;
	int rc; /* RMS_ITEROVER when completed */
	char msg[512];
};

static void result_free(struct result *r)
{
	for (size_t i = 0; i < r->n; i++)
		rms_value_free(r->items[i].v);
	r->n = 0;
}

static void drain(rms_op *op, struct result *r)
{
	memset(r, 0, sizeof *r);
	rms_ps_stream st;
	rms_value *v;
	while ((r->rc = rms_op_next_object(op, &st, &v)) == 0) {
		if (r->n < 256)
			r->items[r->n++] = (struct item){ st, v };
		else
			rms_value_free(v);
	}
	if (r->rc != RMS_ITEROVER)
		snprintf(r->msg, sizeof r->msg, "%s", rms_error_message(rms_op_error(op)));
}

static void run_script(rms_session *s, const char *script, struct result *r)
{
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_POWERSHELL), 0);
	assert_int_equal(rms_request_set_script(req, script), 0);
	rms_op *op = NULL;
	int rc = rms_op_start(&op, s, req);
	rms_request_free(req);
	if (rc)
		fail_msg("start failed: %s", rms_error_message(rms_error_last()));
	drain(op, r);
	rms_op_free(op);
}

/* The outputs as one JSON array (rms_value_to_json of each). */
static json_t *outputs_json(const struct result *r)
{
	json_t *a = json_array();
	for (size_t i = 0; i < r->n; i++) {
		if (r->items[i].stream != RMS_PS_OUTPUT)
			continue;
		char *j = NULL;
		assert_int_equal(rms_value_to_json(&j, r->items[i].v), 0);
		json_error_t e;
		json_t *x = json_loads(j, JSON_DECODE_ANY, &e);
		if (!x)
			fail_msg("remsess wrote JSON that does not parse: %s", j);
		rms_free(j);
		json_array_append_new(a, x);
	}
	return a;
}

/* JSON equality with numbers compared by value (5 == 5.0). */
static bool json_same(json_t *a, json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	if (json_typeof(a) != json_typeof(b))
		return false;
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!json_same(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	}
	if (json_is_object(a)) {
		if (json_object_size(a) != json_object_size(b))
			return false;
		const char *k;
		json_t *v;
		json_object_foreach(a, k, v) {
			json_t *w = json_object_get(b, k);
			if (!w || !json_same(v, w))
				return false;
		}
		return true;
	}
	return json_equal(a, b);
}

/* ---- opening ----------------------------------------------------------------- */

static void test_open_and_range(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	rms_session *s = open_ps(&o);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_OPENED);
	rms_stats st = { .version = RMS_STATS_VERSION };
	assert_int_equal(rms_session_stats(s, &st), 0);
	assert_int_equal(st.shells_opened, 1);
	struct result r;
	run_script(s, "1..3", &r);
	assert_int_equal(r.rc, RMS_ITEROVER);
	assert_int_equal(r.n, 3);
	for (size_t i = 0; i < 3; i++) {
		int32_t n = 0;
		assert_int_equal(r.items[i].stream, RMS_PS_OUTPUT);
		assert_int_equal(rms_value_type(r.items[i].v), RMS_TYPE_SINT32);
		assert_int_equal(rms_value_get_sint32(r.items[i].v, &n), 0);
		assert_int_equal(n, (int32_t)i + 1);
	}
	result_free(&r);
	/* State kept in the pool across pipelines. */
	run_script(s, "$global:kept = 'still here'", &r);
	assert_int_equal(r.rc, RMS_ITEROVER);
	run_script(s, "$global:kept", &r);
	assert_int_equal(r.rc, RMS_ITEROVER);
	assert_int_equal(r.n, 1);
	const char *t = NULL;
	assert_int_equal(rms_value_get_string(r.items[0].v, &t), 0);
	assert_string_equal(t, "still here");
	result_free(&r);
	assert_int_equal(rms_session_close(s), 0);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_CLOSED);
	rms_session_free(s);
}

static void test_missing_subsystem_fails_at_creation(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	o.pssession_v2.ssh_subsystem = "no-such-subsystem";
	rms_session *s = NULL;
	int rc = rms_session_new(&s, RMS_BACKEND_PSSESSION, &o);
	assert_int_not_equal(rc, 0);
	assert_null(s);
	const char *m = rms_error_message(rms_error_last());
	assert_non_null(strstr(m, "no-such-subsystem"));
}

static void test_server_that_cannot_start_fails_at_creation(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	o.pssession_v2.ssh_subsystem = "broken";
	rms_session *s = NULL;
	int rc = rms_session_new(&s, RMS_BACKEND_PSSESSION, &o);
	assert_int_not_equal(rc, 0);
	assert_null(s);
	const char *m = rms_error_message(rms_error_last());
	/* sshd keeps a subsystem's stderr to itself: the exit status tells. */
	if (!strstr(m, "'broken'") || !strstr(m, "exit status 127") || !strstr(m, "not found"))
		fail_msg("unexpected message: %s", m);
}

static void test_wrong_key_fails_at_creation(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	o.ssh.identity_file = sshd.other_key;
	rms_session *s = NULL;
	int rc = rms_session_new(&s, RMS_BACKEND_PSSESSION, &o);
	assert_int_equal(rc, RMS_E_AUTH);
	assert_null(s);
	assert_int_equal(rms_error_phase(rms_error_last()), RMS_PHASE_AUTHENTICATE);
}

/* ---- objects as PowerShell has them ------------------------------------------ */

static void compare_with_local(rms_session *s, const char *script)
{
	struct result r;
	run_script(s, script, &r);
	if (r.rc != RMS_ITEROVER)
		fail_msg("'%s' failed: %s", script, r.msg);
	json_t *ours = outputs_json(&r);
	result_free(&r);
	char local_script[2048];
	snprintf(local_script, sizeof local_script,
	         "$r = @(& { %s }); ConvertTo-Json -InputObject $r -Depth 10 -Compress", script);
	char *out = rms_test_pwsh_run(local_script);
	assert_non_null(out);
	json_error_t e;
	json_t *theirs = json_loads(out, JSON_DECODE_ANY, &e);
	if (!theirs)
		fail_msg("pwsh's JSON does not parse: %s", out);
	char *a = json_dumps(ours, JSON_COMPACT | JSON_ENCODE_ANY);
	char *b = json_dumps(theirs, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!json_same(ours, theirs))
		fail_msg("'%s':\n remsess: %s\n pwsh:    %s", script, a, b);
	free(a);
	free(b);
	free(out);
	json_decref(ours);
	json_decref(theirs);
}

static void test_objects_equal_what_pwsh_says(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	rms_session *s = open_ps(&o);
	compare_with_local(s, "'text', 42, [long]1234567890123, 2.5, $true, $false");
	compare_with_local(s, "[pscustomobject]@{ Name = 'a'; N = 1; Nested = [pscustomobject]@{ "
	                      "X = 1.5; L = @(1, 'two', $null) } }");
	compare_with_local(s, "@{ a = 1 }");
	compare_with_local(s, "[ordered]@{ one = 1; two = @{ inner = 'x' }; three = @(1, 2) }");
	compare_with_local(s, ",@(1, @(2, 3), 'x')");
	compare_with_local(s, "[guid]'0f8fad5b-d9cb-469f-a165-70867728950e', [uri]'http://x/y'");
	compare_with_local(s, "\"line1`nline2`ttab _x000A_ \"");
	/* Get-Date's DateTime carries a DisplayHint note: still the date. */
	compare_with_local(s, "Get-Date -Date '2021-05-06T07:08:09.1234567'; "
	                      "[datetime]::new(2020, 1, 2, 3, 4, 5, [DateTimeKind]::Utc)");
	/* (A TimeSpan is its "c" text in remsess's JSON, not ConvertTo-Json's
	 * object of fields; test_types checks its ticks.) */
	compare_with_local(s, "[pscustomobject]@{ When = [datetime]'2020-02-03'; D = [decimal]'2.5' }");
	rms_session_free(s);
}

static void test_types(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	rms_session *s = open_ps(&o);
	struct result r;
	run_script(s,
	           "[char]'A'; [byte]7; [sbyte]-7; [int16]-300; [uint16]60000; [uint32]4000000000; "
	           "[uint64]18000000000000000000; [float]1.5; [decimal]::Parse('12.50', [cultureinfo]::InvariantCulture); "
	           "[datetime]::new(2020, 1, 2, 3, 4, 5, [DateTimeKind]::Utc); "
	           "[timespan]::FromSeconds(-90); [version]'1.2.3.4'; ,[byte[]](1, 2, 3); "
	           "[guid]'0f8fad5b-d9cb-469f-a165-70867728950e'; $null; "
	           "[System.IO.FileAttributes]::Hidden",
	           &r);
	assert_int_equal(r.rc, RMS_ITEROVER);
	/* $null is written as an output of its own (a null object). */
	assert_int_equal(r.n, 16);
	const rms_type want[] = { RMS_TYPE_CHAR16,   RMS_TYPE_UINT8,    RMS_TYPE_SINT8,
		                  RMS_TYPE_SINT16,   RMS_TYPE_UINT16,   RMS_TYPE_UINT32,
		                  RMS_TYPE_UINT64,   RMS_TYPE_REAL32,   RMS_TYPE_DECIMAL,
		                  RMS_TYPE_DATETIME, RMS_TYPE_TIMESPAN, RMS_TYPE_VERSION,
		                  RMS_TYPE_BYTES,    RMS_TYPE_GUID,     RMS_TYPE_OBJECT,
		                  RMS_TYPE_OBJECT };
	for (size_t i = 0; i < 16; i++)
		if (rms_value_type(r.items[i].v) != want[i])
			fail_msg("item %zu has type %s, expected %s", i,
			         rms_type_name(rms_value_type(r.items[i].v)), rms_type_name(want[i]));
	const char *t = NULL;
	assert_int_equal(rms_value_get_text(r.items[8].v, &t), 0);
	assert_string_equal(t, "12.50");
	int64_t ticks = 0;
	assert_int_equal(rms_value_get_timespan(r.items[10].v, &ticks), 0);
	assert_int_equal(ticks, -900000000LL);
	rms_datetime dt;
	assert_int_equal(rms_value_get_datetime(r.items[9].v, &dt), 0);
	assert_int_equal(dt.year, 2020);
	assert_int_equal(dt.hour, 3);
	assert_int_equal(dt.tz_form, RMS_TZ_UTC_Z);
	assert_true(rms_value_is_null(r.items[14].v));
	const void *bytes = NULL;
	size_t nbytes = 0;
	assert_int_equal(rms_value_get_bytes(r.items[12].v, &bytes, &nbytes), 0);
	assert_int_equal(nbytes, 3);
	assert_memory_equal(bytes, "\1\2\3", 3);
	/* An enum: an object with its type names, ToString and number. */
	const rms_psobject *en = NULL;
	assert_int_equal(rms_value_get_object(r.items[15].v, &en), 0);
	assert_string_equal(rms_psobject_to_string(en), "Hidden");
	assert_string_equal(rms_psobject_type_name_at(en, 0), "System.IO.FileAttributes");
	int64_t n = 0;
	assert_int_equal(rms_value_as_int64(rms_psobject_base(en), &n), 0);
	assert_int_equal(n, 2);
	result_free(&r);
	rms_session_free(s);
}

/* ---- streams ------------------------------------------------------------------ */

static void test_streams(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	rms_session *s = open_ps(&o);
	struct result r;
	run_script(s,
	           "$VerbosePreference = 'Continue'; $DebugPreference = 'Continue'; "
	           "'out-1'; Write-Error 'err-1'; Write-Warning 'warn-1'; Write-Verbose 'verb-1'; "
	           "Write-Debug 'debug-1'; Write-Information 'info-1'; Write-Host 'host-1'; "
	           "Write-Progress -Activity 'act-1' -Status 'st-1' -PercentComplete 50; 'out-2'",
	           &r);
	assert_int_equal(r.rc, RMS_ITEROVER);
	const struct {
		rms_ps_stream st;
		const char *msg;
	} want[] = { { RMS_PS_OUTPUT, "out-1" },         { RMS_PS_ERROR, "err-1" },
		     { RMS_PS_WARNING, "warn-1" },       { RMS_PS_VERBOSE, "verb-1" },
		     { RMS_PS_DEBUG, "debug-1" },        { RMS_PS_INFORMATION, "info-1" },
		     { RMS_PS_INFORMATION, "host-1" },   { RMS_PS_PROGRESS, "act-1" },
		     { RMS_PS_OUTPUT, "out-2" } };
	size_t k = 0;
	for (size_t i = 0; i < r.n && k < sizeof want / sizeof want[0]; i++) {
		if (r.items[i].stream != want[k].st)
			continue; /* e.g. a second progress record (Completed) */
		const char *m = NULL;
		if (want[k].st == RMS_PS_OUTPUT)
			assert_int_equal(rms_value_get_string(r.items[i].v, &m), 0);
		else
			m = rms_ps_record_message(r.items[i].v);
		assert_non_null(m);
		if (strcmp(m, want[k].msg) != 0)
			fail_msg("record %zu on %s: '%s', expected '%s'", i,
			         rms_ps_stream_name(want[k].st), m, want[k].msg);
		k++;
	}
	assert_int_equal(k, sizeof want / sizeof want[0]);
	result_free(&r);
	rms_session_free(s);
}

static void test_failed_pipeline(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	rms_session *s = open_ps(&o);
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_POWERSHELL), 0);
	assert_int_equal(rms_request_set_script(req, "'before'; throw 'boom happened'"), 0);
	rms_op *op;
	assert_int_equal(rms_op_start(&op, s, req), 0);
	struct result r;
	drain(op, &r);
	assert_int_equal(r.rc, RMS_E_FAULT);
	assert_int_equal(r.n, 1);
	assert_non_null(strstr(r.msg, "boom happened"));
	assert_non_null(rms_op_error_record(op));
	assert_string_equal(rms_ps_record_message(rms_op_error_record(op)), "boom happened");
	result_free(&r);
	rms_op_free(op);
	rms_request_free(req);
	/* The pool is still usable. */
	run_script(s, "'after'", &r);
	assert_int_equal(r.rc, RMS_ITEROVER);
	result_free(&r);
	rms_session_free(s);
}

/* Nothing a remote script runs can wait for a person: the session has no
 * interactive host, so Read-Host and a credential prompt fail at once. */
static void test_prompts_fail_instead_of_hanging(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	rms_session *s = open_ps(&o);
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_POWERSHELL), 0);
	assert_int_equal(rms_request_set_script(req, "$n = Read-Host 'name'; 'got ' + $n"), 0);
	assert_int_equal(rms_request_set_timeout(req, 20000), 0);
	rms_op *op;
	assert_int_equal(rms_op_start(&op, s, req), 0);
	struct result r;
	drain(op, &r);
	/* Not our time limit: the pipeline ended by itself, failing, or
	 * going on after an error record. */
	assert_int_not_equal(r.rc, RMS_E_TIMEOUT);
	bool errored = r.rc == RMS_E_FAULT;
	for (size_t i = 0; i < r.n; i++)
		errored = errored || r.items[i].stream == RMS_PS_ERROR;
	assert_true(errored);
	result_free(&r);
	rms_op_free(op);
	rms_request_free(req);
	run_script(s, "Get-Credential -UserName bob -Message 'pw?'", &r);
	assert_int_not_equal(r.rc, RMS_E_TIMEOUT);
	result_free(&r);
	/* The pool is still usable. */
	run_script(s, "'after prompts'", &r);
	assert_int_equal(r.rc, RMS_ITEROVER);
	result_free(&r);
	rms_session_free(s);
}

static void test_merge_errors(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	rms_session *s = open_ps(&o);
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_POWERSHELL), 0);
	assert_int_equal(rms_request_set_script(req, "Write-Error 'merged'; 'x'"), 0);
	assert_int_equal(rms_request_merge_errors(req), 0);
	rms_op *op;
	assert_int_equal(rms_op_start(&op, s, req), 0);
	struct result r;
	drain(op, &r);
	assert_int_equal(r.rc, RMS_ITEROVER);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.items[0].stream, RMS_PS_OUTPUT);
	assert_string_equal(rms_ps_record_message(r.items[0].v), "merged");
	result_free(&r);
	rms_op_free(op);
	rms_request_free(req);
	rms_session_free(s);
}

/* ---- commands, parameters, input ----------------------------------------------- */

static void test_command_with_parameters(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	rms_session *s = open_ps(&o);
	rms_request *req;
	rms_value *v;
	assert_int_equal(rms_request_new(&req, RMS_OP_POWERSHELL), 0);
	/* Write-Output -InputObject 'a','b','c' -NoEnumerate:$false | Select-Object -Last 2 */
	assert_int_equal(rms_request_add_command(req, "Write-Output"), 0);
	assert_int_equal(rms_value_new_string(&v, "hello"), 0);
	assert_int_equal(rms_request_add_parameter(req, "InputObject", v), 0);
	rms_value_free(v);
	assert_int_equal(rms_request_add_command(req, "ForEach-Object"), 0);
	assert_int_equal(rms_value_new_string(&v, "Length"), 0);
	assert_int_equal(rms_request_add_parameter(req, "MemberName", v), 0);
	rms_value_free(v);
	rms_op *op;
	assert_int_equal(rms_op_start(&op, s, req), 0);
	struct result r;
	drain(op, &r);
	if (r.rc != RMS_ITEROVER)
		fail_msg("failed: %s", r.msg);
	assert_int_equal(r.n, 1);
	int32_t n = 0;
	assert_int_equal(rms_value_get_sint32(r.items[0].v, &n), 0);
	assert_int_equal(n, 5);
	result_free(&r);
	rms_op_free(op);
	rms_request_free(req);
	/* A switch and a positional argument: Get-Variable -Name kept2 -ValueOnly */
	assert_int_equal(rms_request_new(&req, RMS_OP_POWERSHELL), 0);
	assert_int_equal(rms_request_add_command(req, "Get-Variable"), 0);
	assert_int_equal(rms_value_new_string(&v, "PSVersionTable"), 0);
	assert_int_equal(rms_request_add_parameter(req, NULL, v), 0);
	rms_value_free(v);
	assert_int_equal(rms_request_add_parameter(req, "ValueOnly", NULL), 0);
	assert_int_equal(rms_op_start(&op, s, req), 0);
	drain(op, &r);
	if (r.rc != RMS_ITEROVER)
		fail_msg("failed: %s", r.msg);
	assert_int_equal(r.n, 1);
	const rms_psobject *tbl = NULL;
	assert_int_equal(rms_value_get_object(r.items[0].v, &tbl), 0);
	assert_int_equal(rms_psobject_collection(tbl), RMS_PS_COLLECTION_DICTIONARY);
	result_free(&r);
	rms_op_free(op);
	rms_request_free(req);
	rms_session_free(s);
}

static void test_input_objects(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	rms_session *s = open_ps(&o);
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_POWERSHELL), 0);
	assert_int_equal(rms_request_set_script(req, "$input | ForEach-Object { $_ * 2 }"), 0);
	for (int i = 1; i <= 3; i++) {
		rms_value *v;
		assert_int_equal(rms_value_new_sint32(&v, i), 0);
		assert_int_equal(rms_request_add_input(req, v), 0);
		rms_value_free(v);
	}
	rms_op *op;
	assert_int_equal(rms_op_start(&op, s, req), 0);
	struct result r;
	drain(op, &r);
	if (r.rc != RMS_ITEROVER)
		fail_msg("failed: %s", r.msg);
	assert_int_equal(r.n, 3);
	for (int i = 0; i < 3; i++) {
		int32_t n = 0;
		assert_int_equal(rms_value_get_sint32(r.items[i].v, &n), 0);
		assert_int_equal(n, 2 * (i + 1));
	}
	result_free(&r);
	rms_op_free(op);
	rms_request_free(req);
	rms_session_free(s);
}

/* ---- stop, two at once, size ------------------------------------------------------ */

static void test_stop_leaves_pool_usable(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	rms_session *s = open_ps(&o);
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_POWERSHELL), 0);
	assert_int_equal(
	        rms_request_set_script(req, "while ($true) { 'tick'; Start-Sleep -Milliseconds 50 }"),
	        0);
	rms_op *op;
	assert_int_equal(rms_op_start(&op, s, req), 0);
	rms_ps_stream st;
	rms_value *v;
	assert_int_equal(rms_op_next_object(op, &st, &v), 0);
	rms_value_free(v);
	rms_op_cancel(op);
	int rc;
	while ((rc = rms_op_next_object(op, &st, &v)) == 0)
		rms_value_free(v);
	assert_int_equal(rc, RMS_E_CANCELLED);
	rms_op_free(op);
	rms_request_free(req);
	struct result r;
	run_script(s, "'after stop'", &r);
	assert_int_equal(r.rc, RMS_ITEROVER);
	assert_int_equal(r.n, 1);
	result_free(&r);
	rms_session_free(s);
}

static void test_two_pipelines_at_once(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	o.pssession_v2.max_runspaces = 2;
	rms_session *s = open_ps(&o);
	rms_request *slow, *fast;
	assert_int_equal(rms_request_new(&slow, RMS_OP_POWERSHELL), 0);
	/* Each pipeline reports the server's clock when it started and ended
	 * (ticks), so running at once is shown by the times, not by a timer
	 * here that a loaded machine would upset. */
	assert_int_equal(rms_request_set_script(slow, "[DateTime]::UtcNow.Ticks; "
	                                              "Start-Sleep -Milliseconds 1500; "
	                                              "[DateTime]::UtcNow.Ticks"),
	                 0);
	assert_int_equal(rms_request_new(&fast, RMS_OP_POWERSHELL), 0);
	assert_int_equal(rms_request_set_script(fast, "[DateTime]::UtcNow.Ticks"), 0);
	rms_op *a, *b;
	assert_int_equal(rms_op_start(&a, s, slow), 0);
	/* The slow one has started (its first value came) ... */
	rms_ps_stream st;
	rms_value *v;
	int64_t fast_at = 0, slow_start = 0, slow_end = 0;
	assert_int_equal(rms_op_next_object(a, &st, &v), 0);
	assert_int_equal(rms_value_as_int64(v, &slow_start), 0);
	rms_value_free(v);
	/* ... then the fast one runs to its end while it sleeps. */
	assert_int_equal(rms_op_start(&b, s, fast), 0);
	struct result r;
	drain(b, &r);
	assert_int_equal(r.rc, RMS_ITEROVER);
	assert_int_equal(r.n, 1);
	assert_int_equal(rms_value_as_int64(r.items[0].v, &fast_at), 0);
	result_free(&r);
	drain(a, &r);
	assert_int_equal(r.rc, RMS_ITEROVER);
	assert_int_equal(r.n, 1);
	assert_int_equal(rms_value_as_int64(r.items[0].v, &slow_end), 0);
	result_free(&r);
	/* The fast one ran while the slow one slept: in a second runspace. */
	assert_true(slow_start <= fast_at && fast_at < slow_end);
	rms_op_free(a);
	rms_op_free(b);
	rms_request_free(slow);
	rms_request_free(fast);
	rms_session_free(s);
}

static void test_big_string_and_caps(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	rms_session *s = open_ps(&o);
	struct result r;
	/* 2 MiB in one object: 65 fragments of 32 KiB. */
	run_script(s, "'x' * 2MB", &r);
	assert_int_equal(r.rc, RMS_ITEROVER);
	assert_int_equal(r.n, 1);
	const char *t = NULL;
	assert_int_equal(rms_value_get_string(r.items[0].v, &t), 0);
	assert_int_equal(strlen(t), 2u << 20);
	result_free(&r);
	rms_session_free(s);

	/* MaximumReceivedObjectSize: 1 MB refuses it, clearly. */
	o.pssession.max_received_object_size = 1u << 20;
	s = open_ps(&o);
	run_script(s, "'x' * 2MB", &r);
	assert_int_equal(r.rc, RMS_E_LIMIT);
	assert_non_null(strstr(r.msg, "MaximumReceivedObjectSize"));
	result_free(&r);
	rms_session_free(s);

	/* MaximumReceivedDataSizePerCommand: 64 KB over many small objects. */
	o.pssession.max_received_object_size = 0;
	o.pssession.max_received_per_command = 64u << 10;
	s = open_ps(&o);
	run_script(s, "1..5000 | ForEach-Object { 'item number ' + $_ }", &r);
	assert_int_equal(r.rc, RMS_E_LIMIT);
	assert_non_null(strstr(r.msg, "MaximumReceivedDataSizePerCommand"));
	result_free(&r);
	/* The session survives a per-command cap. */
	run_script(s, "'ok'", &r);
	assert_int_equal(r.rc, RMS_ITEROVER);
	result_free(&r);
	rms_session_free(s);
}

static void test_killed_server_breaks_session(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	rms_session *s = open_ps(&o);
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_POWERSHELL), 0);
	assert_int_equal(rms_request_set_script(req, "'first'; Start-Sleep -Seconds 30; 'never'"), 0);
	rms_op *op;
	assert_int_equal(rms_op_start(&op, s, req), 0);
	rms_ps_stream st;
	rms_value *v;
	assert_int_equal(rms_op_next_object(op, &st, &v), 0);
	rms_value_free(v);
	assert_true(rms_sshd_signal_sessions(&sshd, SIGKILL) > 0);
	int rc = rms_op_next_object(op, &st, &v);
	assert_true(rc < 0);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_BROKEN);
	assert_non_null(rms_session_broken_reason(s));
	rms_op_free(op);
	rms_request_free(req);
	rms_session_free(s);
}

/* Warnings the session logged about its close not being acknowledged
 * (the server's pool close waits for every command to be closed). */
static int unacknowledged_closes;

static void count_close_warnings(rms_log_level level, const char *message, void *userdata)
{
	(void)userdata;
	if (level == RMS_LOG_WARNING && strstr(message, "did not acknowledge its close"))
		unacknowledged_closes++;
}

/* Closing the session while an op is not freed yet: every pipeline is
 * closed first, so the server acknowledges the pool's close at once (it
 * waits for every command to be closed). */
static void test_close_before_freeing_ops_is_prompt(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	o.log = count_close_warnings;
	o.log_level = RMS_LOG_WARNING;
	unacknowledged_closes = 0;
	rms_session *s = open_ps(&o);
	rms_request *done_req, *running_req;
	assert_int_equal(rms_request_new(&done_req, RMS_OP_POWERSHELL), 0);
	assert_int_equal(rms_request_set_script(done_req, "'finished'"), 0);
	assert_int_equal(rms_request_new(&running_req, RMS_OP_POWERSHELL), 0);
	assert_int_equal(rms_request_set_script(running_req, "'one'; Start-Sleep -Seconds 30"), 0);
	rms_op *a, *b;
	assert_int_equal(rms_op_start(&a, s, done_req), 0);
	struct result r;
	drain(a, &r);
	assert_int_equal(r.rc, RMS_ITEROVER);
	result_free(&r);
	assert_int_equal(rms_op_start(&b, s, running_req), 0);
	rms_ps_stream st;
	rms_value *v;
	assert_int_equal(rms_op_next_object(b, &st, &v), 0);
	rms_value_free(v);
	assert_int_equal(rms_session_close(s), 0);
	assert_int_equal(unacknowledged_closes, 0);
	rms_op_free(a);
	rms_op_free(b);
	rms_request_free(done_req);
	rms_request_free(running_req);
	rms_session_free(s);
}

/* A pipeline cancelled (or freed) before it was ever stepped is not sent
 * at all: the pool goes on, and closes promptly. */
static void test_cancel_before_start_sends_nothing(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	o.log = count_close_warnings;
	o.log_level = RMS_LOG_WARNING;
	unacknowledged_closes = 0;
	rms_session *s = open_ps(&o);
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_POWERSHELL), 0);
	assert_int_equal(rms_request_set_script(req, "Start-Sleep -Seconds 30"), 0);
	rms_op *op;
	assert_int_equal(rms_op_start(&op, s, req), 0);
	rms_op_cancel(op);
	rms_ps_stream st;
	rms_value *v;
	assert_int_equal(rms_op_next_object(op, &st, &v), RMS_E_CANCELLED);
	rms_op_free(op);
	assert_int_equal(rms_op_start(&op, s, req), 0);
	rms_op_free(op); /* freed unstepped */
	rms_request_free(req);
	struct result r;
	run_script(s, "'still fine'", &r);
	assert_int_equal(r.rc, RMS_ITEROVER);
	assert_int_equal(r.n, 1);
	result_free(&r);
	assert_int_equal(rms_session_close(s), 0);
	assert_int_equal(unacknowledged_closes, 0);
	rms_session_free(s);
}

/* Output that arrived before the server went away is handed out, then the
 * loss. */
static void test_output_before_server_exit_is_kept(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	rms_session *s = open_ps(&o);
	struct result r;
	run_script(s, "'last words'; [Environment]::Exit(3)", &r);
	assert_true(r.rc < 0 && r.rc != RMS_ITEROVER);
	assert_int_equal(r.n, 1);
	const char *t = NULL;
	assert_int_equal(rms_value_get_string(r.items[0].v, &t), 0);
	assert_string_equal(t, "last words");
	assert_non_null(strstr(r.msg, "ended the session"));
	result_free(&r);
	assert_int_equal(rms_session_state_get(s), RMS_STATE_BROKEN);
	rms_stats stats = { .version = RMS_STATS_VERSION };
	assert_int_equal(rms_session_stats(s, &stats), 0);
	assert_int_equal(stats.shells_open, 0);
	rms_session_free(s);
}

/* One pipeline over four targets from one thread (Invoke-Command
 * -ComputerName): three PowerShell pools on the test sshd and one port
 * where nothing listens; each result on its own. */
static void test_fanout_pipeline_over_targets(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_session_options o = ps_opts();
	rms_session_options down = o;
	down.port = 1; /* nothing listens there */
	rms_target *t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(rms_target_new(&t[i], NULL, i == 3 ? &down : &o), 0);
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_POWERSHELL), 0);
	assert_int_equal(rms_request_set_script(req, "Write-Warning 'w'; 1..2; throw 'end'"), 0);
	rms_fanout *f;
	assert_int_equal(rms_fanout_new(&f, req, NULL), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(rms_fanout_add(NULL, f, t[i], RMS_BACKEND_AUTO), 0);
	int got = 0, down_seen = 0;
	rms_fanout_result *r;
	int rc;
	while ((rc = rms_fanout_next(&r, f)) != RMS_ITEROVER) {
		if (rc == RMS_EAGAIN) {
			assert_true(rms_fanout_poll(f, 5000, NULL) >= 0);
			continue;
		}
		assert_int_equal(rc, 0);
		got++;
		if (rms_fanout_result_index(r) == 3) {
			down_seen++;
			assert_int_not_equal(rms_fanout_result_status(r), 0);
		} else {
			/* The pipeline failed at its end: what came before is kept. */
			assert_int_equal(rms_fanout_result_status(r), RMS_E_FAULT);
			assert_int_equal(rms_fanout_result_object_count(r), 3);
			rms_ps_stream st;
			const rms_value *v = rms_fanout_result_object(r, 0, &st);
			assert_int_equal(st, RMS_PS_WARNING);
			assert_string_equal(rms_ps_record_message(v), "w");
			v = rms_fanout_result_object(r, 2, &st);
			assert_int_equal(st, RMS_PS_OUTPUT);
			int32_t n = 0;
			assert_int_equal(rms_value_get_sint32(v, &n), 0);
			assert_int_equal(n, 2);
			assert_null(rms_fanout_result_object(r, 3, NULL));
			assert_string_equal(rms_ps_record_message(rms_fanout_result_error_record(r)),
			                    "end");
		}
		rms_fanout_result_free(r);
	}
	assert_int_equal(got, 4);
	assert_int_equal(down_seen, 1);
	rms_fanout_free(f);
	rms_request_free(req);
	for (int i = 0; i < 4; i++)
		rms_target_free(t[i]);
}

/* Three PSRP sessions opened and three pipelines run through one engine
 * from this thread: the pipelines overlap (each sleeps 600 ms; together
 * they take well under the 1.8 s one after another would). */
static void test_engine_drives_psrp_sessions(void **state)
{
	(void)state;
	NEED_PWSH();
	enum { N = 3 };
	rms_multi *m;
	assert_int_equal(rms_multi_new(&m), 0);
	rms_session_options o = ps_opts();
	rms_session *s[N];
	for (int i = 0; i < N; i++)
		assert_int_equal(rms_multi_open(&s[i], m, RMS_BACKEND_PSSESSION, &o), 0);
	int opened = 0, done = 0, values = 0;
	rms_op *op[N] = { 0 };
	rms_request *req;
	assert_int_equal(rms_request_new(&req, RMS_OP_POWERSHELL), 0);
	/* Each reports the server's clock before and after its sleep: the
	 * three intervals overlap when the engine ran them at once (different
	 * pwsh processes on one machine share the clock). */
	assert_int_equal(rms_request_set_script(req, "$a = [DateTime]::UtcNow.Ticks; "
	                                             "Start-Sleep -Milliseconds 600; "
	                                             "$a; [DateTime]::UtcNow.Ticks"),
	                 0);
	int64_t latest_start = INT64_MIN, earliest_end = INT64_MAX;
	while (done < N) {
		size_t running = 0;
		assert_int_equal(rms_multi_perform(m, &running), 0);
		rms_msg msg;
		while (rms_multi_info_read(m, &msg) == 0) {
			if (msg.kind == RMS_MSG_OPENED) {
				if (msg.result)
					fail_msg("open failed: %s",
					         rms_error_message(rms_session_broken_reason(msg.session)));
				if (++opened == N)
					for (int i = 0; i < N; i++)
						assert_int_equal(rms_multi_start(&op[i], m, s[i], req), 0);
			} else if (msg.kind == RMS_MSG_READY || msg.kind == RMS_MSG_DONE) {
				rms_ps_stream st;
				rms_value *v;
				int rc;
				while ((rc = rms_op_next_object(msg.op, &st, &v)) == 0) {
					int64_t t = 0;
					assert_int_equal(rms_value_as_int64(v, &t), 0);
					/* Each op's first value is its start, the second its end. */
					values++;
					if (rms_op_delivered(msg.op) == 1) {
						if (t > latest_start)
							latest_start = t;
					} else if (t < earliest_end) {
						earliest_end = t;
					}
					rms_value_free(v);
				}
				assert_true(rc == RMS_EAGAIN || rc == RMS_ITEROVER);
				if (msg.kind == RMS_MSG_DONE) {
					assert_int_equal(msg.result, 0);
					done++;
				}
			}
		}
		if (done < N)
			assert_true(rms_multi_poll(m, 5000, NULL) >= 0);
	}
	assert_int_equal(values, 2 * N);
	if (!(latest_start < earliest_end))
		fail_msg("the pipelines did not run at once: last start %lld, first end %lld",
		         (long long)latest_start, (long long)earliest_end);
	for (int i = 0; i < N; i++) {
		rms_op_free(op[i]);
		rms_session_free(s[i]);
	}
	rms_request_free(req);
	rms_multi_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_and_range),
		cmocka_unit_test(test_missing_subsystem_fails_at_creation),
		cmocka_unit_test(test_server_that_cannot_start_fails_at_creation),
		cmocka_unit_test(test_wrong_key_fails_at_creation),
		cmocka_unit_test(test_objects_equal_what_pwsh_says),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_streams),
		cmocka_unit_test(test_failed_pipeline),
		cmocka_unit_test(test_prompts_fail_instead_of_hanging),
		cmocka_unit_test(test_merge_errors),
		cmocka_unit_test(test_command_with_parameters),
		cmocka_unit_test(test_input_objects),
		cmocka_unit_test(test_stop_leaves_pool_usable),
		cmocka_unit_test(test_two_pipelines_at_once),
		cmocka_unit_test(test_big_string_and_caps),
		cmocka_unit_test(test_killed_server_breaks_session),
		cmocka_unit_test(test_close_before_freeing_ops_is_prompt),
		cmocka_unit_test(test_cancel_before_start_sends_nothing),
		cmocka_unit_test(test_output_before_server_exit_is_kept),
		cmocka_unit_test(test_engine_drives_psrp_sessions),
		cmocka_unit_test(test_fanout_pipeline_over_targets),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
