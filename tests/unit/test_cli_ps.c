/*
 * `remsess ps` end to end: the built tool (RMS_CLI_PATH) against real
 * PowerShell, served by the test's own OpenSSH server on loopback
 * (tests/support/sshd.c) as its `powershell` subsystem (pwsh -sshs), as a
 * Linux host set up for PowerShell remoting over SSH is. What the tool
 * prints (stdout, stderr) and its exit status are checked as a user or a
 * script would see them. The printers themselves are unit-tested on
 * hand-made objects in test_cli.c.
 *
 * Without pwsh (RMS_PWSH, ~/.dotnet/tools/pwsh, PATH) the tests are
 * skipped with a message (and fail in CI, where it is installed).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "endpoint.h"
#include "pwsh.h"
#include "sshd.h"

static rms_sshd sshd;
static bool have_pwsh;

static int group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	const char *pwsh = rms_test_pwsh();
	if (!pwsh && getenv("CI"))
		fail_msg("cli_ps: no pwsh in CI (dotnet tool install --global PowerShell)");
	if (!pwsh) {
		fprintf(stderr, "cli_ps: no pwsh (set RMS_PWSH, or install it: dotnet tool install "
		                "--global PowerShell): tests skipped\n");
		return 0;
	}
	/* The default subsystem name, and a second one for --subsystem. */
	char extra[2600];
	snprintf(extra, sizeof extra,
	         "Subsystem powershell %s -sshs -NoLogo -NoProfile\n"
	         "Subsystem pwsh-other %s -sshs -NoLogo -NoProfile",
	         pwsh, pwsh);
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

typedef struct cli_result {
	int status;
	char out[16384];
	char err[16384];
} cli_result;

static void slurp(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/*
 * Run the tool as `remsess [SSH options for the test sshd] ARGS...` with
 * stdin from stdin_text; ssh false leaves out the SSH options (WinRM).
 */
static void run_cli(cli_result *r, bool ssh, const char *stdin_text, ...)
{
	char *argv[64]; /* copies: execv takes char *const[] */
	int argc = 0;
	char port[16];
	snprintf(port, sizeof port, "%u", sshd.port);
	argv[argc++] = strdup("remsess");
	if (ssh) {
		const char *opts[] = {"--transport", "ssh",           "-H",
		                      "127.0.0.1",   "--port",        port,
		                      "-u",          sshd.user,       "-i",
		                      sshd.user_key, "--known-hosts", sshd.known_hosts};
		for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
			argv[argc++] = strdup(opts[i]);
	}
	va_list ap;
	va_start(ap, stdin_text);
	for (const char *s; (s = va_arg(ap, const char *)) != NULL;) {
		assert_true(argc < 62);
		argv[argc++] = strdup(s);
	}
	va_end(ap);
	argv[argc] = NULL;

	char in_path[600], out_path[600], err_path[600];
	rms_sshd_path(&sshd, "cli_ps.in", in_path, sizeof in_path);
	rms_sshd_path(&sshd, "cli_ps.out", out_path, sizeof out_path);
	rms_sshd_path(&sshd, "cli_ps.err", err_path, sizeof err_path);
	FILE *f = fopen(in_path, "w");
	assert_non_null(f);
	fputs(stdin_text ? stdin_text : "", f);
	fclose(f);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (!freopen(in_path, "r", stdin) || !freopen(out_path, "w", stdout) ||
		    !freopen(err_path, "w", stderr))
			_exit(126);
		execv(RMS_CLI_PATH, argv);
		_exit(127);
	}
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	r->status = WEXITSTATUS(st);
	slurp(out_path, r->out, sizeof r->out);
	slurp(err_path, r->err, sizeof r->err);
}

#define RUN(r, ...) run_cli(r, true, NULL, __VA_ARGS__, (const char *)NULL)

static void expect_status(const cli_result *r, int status)
{
	if (r->status != status)
		fail_msg("exit status %d, expected %d\nstdout: %s\nstderr: %s", r->status, status,
		         r->out, r->err);
}

static void test_json_lines_of_output_objects(void **state)
{
	(void)state;
	NEED_PWSH();
	static cli_result r;
	RUN(&r, "ps", "--json", "1..3; \"x\"; @{a=1}");
	expect_status(&r, 0);
	assert_string_equal(r.out, "1\n2\n3\n\"x\"\n{\"a\":1}\n");
	assert_string_equal(r.err, "");
}

static void test_text_output(void **state)
{
	(void)state;
	NEED_PWSH();
	static cli_result r;
	RUN(&r, "ps", "1..3; \"x\"; [pscustomobject]@{Name='svc'; Status='Running'}; 'end'");
	expect_status(&r, 0);
	assert_string_equal(r.out, "1\n2\n3\nx\n\nName   : svc\nStatus : Running\n\nend\n");
	assert_string_equal(r.err, "");
}

static void test_terminating_error_exits_1(void **state)
{
	(void)state;
	NEED_PWSH();
	static cli_result r;
	RUN(&r, "ps", "throw \"boom\"");
	expect_status(&r, 1);
	assert_string_equal(r.out, "");
	if (!strstr(r.err, "boom"))
		fail_msg("stderr lacks boom: %s", r.err);
	assert_non_null(strstr(r.err, "remsess: "));

	/* With --json: the ErrorRecord on stderr, the error object on stdout. */
	RUN(&r, "ps", "--json", "'before'; throw \"boom\"");
	expect_status(&r, 1);
	char *nl = strchr(r.out, '\n');
	assert_non_null(nl);
	*nl = '\0';
	assert_string_equal(r.out, "\"before\"");
	json_t *j = json_loads(nl + 1, JSON_DISABLE_EOF_CHECK, NULL);
	assert_non_null(j);
	json_t *e = json_object_get(j, "error");
	assert_int_equal(json_integer_value(json_object_get(e, "exit_status")), 1);
	assert_non_null(strstr(json_string_value(json_object_get(e, "message")), "boom"));
	json_decref(j);
	j = json_loads(r.err, JSON_DISABLE_EOF_CHECK, NULL);
	if (!j)
		fail_msg("stderr does not start with a JSON line: %s", r.err);
	assert_string_equal(json_string_value(json_object_get(j, "stream")), "error");
	assert_true(json_is_true(json_object_get(j, "terminating")));
	assert_non_null(strstr(json_string_value(json_object_get(j, "message")), "boom"));
	json_decref(j);
}

static void test_warning_on_stderr_output_on_stdout(void **state)
{
	(void)state;
	NEED_PWSH();
	static cli_result r;
	RUN(&r, "ps", "Write-Warning w1; 5");
	expect_status(&r, 0);
	assert_string_equal(r.out, "5\n");
	assert_string_equal(r.err, "WARNING: w1\n");
}

static void test_every_stream_has_its_prefix(void **state)
{
	(void)state;
	NEED_PWSH();
	static cli_result r;
	/* A non-terminating error does not fail the run. */
	RUN(&r, "ps",
	    "Write-Error e1; Write-Verbose v1 -Verbose; Write-Debug d1 -Debug; "
	    "Write-Information i1; Write-Host h1; Write-Progress -Activity A -Status S "
	    "-PercentComplete 40; 7");
	expect_status(&r, 0);
	assert_string_equal(r.out, "7\n");
	static const char *const want[] = {"ERROR: e1\n", "VERBOSE: v1\n", "DEBUG: d1\n",
	                                   "INFORMATION: i1\n", "INFORMATION: h1\n"};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		if (!strstr(r.err, want[i]))
			fail_msg("stderr lacks '%s': %s", want[i], r.err);
	assert_null(strstr(r.err, "PROGRESS"));

	RUN(&r, "ps", "--progress", "Write-Progress -Activity A -Status S -PercentComplete 40");
	expect_status(&r, 0);
	if (!strstr(r.err, "PROGRESS: A: S (40%)\n"))
		fail_msg("no progress line: %s", r.err);

	/* --json: one JSON line per record. */
	RUN(&r, "ps", "--json", "Write-Warning w1");
	expect_status(&r, 0);
	assert_string_equal(r.out, "");
	json_t *j = json_loads(r.err, 0, NULL);
	if (!j)
		fail_msg("stderr is not one JSON line: %s", r.err);
	assert_string_equal(json_string_value(json_object_get(j, "stream")), "warning");
	assert_string_equal(json_string_value(json_object_get(j, "message")), "w1");
	assert_true(json_is_object(json_object_get(j, "record")));
	json_decref(j);
}

static void test_command_with_parameters(void **state)
{
	(void)state;
	NEED_PWSH();
	static cli_result r;
	RUN(&r, "ps", "--command", "Write-Output", "--param", "InputObject=a=b", "--param",
	    "NoEnumerate");
	expect_status(&r, 0);
	assert_string_equal(r.out, "a=b\n");
	/* PowerShell converts the string to the parameter's type. */
	RUN(&r, "ps", "--json", "--command", "Get-Random", "--param", "Minimum=4", "--param",
	    "Maximum=5");
	expect_status(&r, 0);
	assert_string_equal(r.out, "4\n");
	/* A script's own parameters. */
	RUN(&r, "ps", "param($Name) \"hi $Name\"", "--param", "Name=you");
	expect_status(&r, 0);
	assert_string_equal(r.out, "hi you\n");
}

static void test_script_from_stdin_and_subsystem(void **state)
{
	(void)state;
	NEED_PWSH();
	static cli_result r;
	run_cli(&r, true, "2+3", "ps", "-f", "-", (const char *)NULL);
	expect_status(&r, 0);
	assert_string_equal(r.out, "5\n");
	RUN(&r, "ps", "--subsystem", "pwsh-other", "'other'");
	expect_status(&r, 0);
	assert_string_equal(r.out, "other\n");
	/* A subsystem the server does not have. */
	RUN(&r, "ps", "--subsystem", "nope", "1");
	if (r.status == 0)
		fail_msg("a missing subsystem succeeded: %s", r.out);
	assert_string_equal(r.out, "");
	assert_non_null(strstr(r.err, "remsess: "));
}

static void test_multi_line_script_from_a_file(void **state)
{
	(void)state;
	NEED_PWSH();
	char path[600];
	rms_sshd_path(&sshd, "cli_ps_script.ps1", path, sizeof path);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("\xEF\xBB\xBF# a comment\r\n$x = 20\r\n\t$x + 1\n@\"\nhere\n\"@\n", f);
	fclose(f);
	static cli_result r;
	RUN(&r, "ps", "--file", path);
	expect_status(&r, 0);
	assert_string_equal(r.out, "21\nhere\n");
}

/* One pipeline over several hosts: a JSON line per host, with every object
 * and its stream; a host that fails (here: its name is not in known_hosts)
 * fails alone, and the exit status is the worst host's. */
static void test_fanout_over_hosts(void **state)
{
	(void)state;
	NEED_PWSH();
	static cli_result r;
	RUN(&r, "-H", "127.0.0.1,localhost", "ps", "--json", "Write-Warning 'w1'; 7");
	expect_status(&r, 3);
	char *ok = strstr(r.out, "\"host\":\"127.0.0.1\"");
	char *bad = strstr(r.out, "\"host\":\"localhost\"");
	if (!ok || !bad)
		fail_msg("stdout: %s\nstderr: %s", r.out, r.err);
	assert_non_null(strstr(r.out, "\"objects\":[{\"stream\":\"warning\",\"message\":\"w1\""));
	assert_non_null(strstr(r.out, "{\"stream\":\"output\",\"value\":7}"));
	assert_non_null(strstr(r.out, "RMS_E_HOST_KEY"));
	/* Text: lines prefixed with their host. */
	RUN(&r, "-H", "127.0.0.1,127.0.0.1", "ps", "Write-Warning 'w2'; 'line'");
	expect_status(&r, 0);
	assert_non_null(strstr(r.out, "127.0.0.1: line\n"));
	assert_non_null(strstr(r.out, "127.0.0.1: ok, 1 object\n"));
	assert_non_null(strstr(r.err, "127.0.0.1: WARNING: w2\n"));
}

/* session --protocol powershell opens a runspace pool at once (New-PSSession)
 * and says what it speaks. */
static void test_session_speaking_powershell(void **state)
{
	(void)state;
	NEED_PWSH();
	static cli_result r;
	RUN(&r, "--protocol", "powershell", "session", "--backend", "pssession");
	expect_status(&r, 0);
	assert_non_null(strstr(r.out, "Speaks       : powershell\n"));
	assert_non_null(strstr(r.out, "State        : Opened\n"));
	/* A subsystem the server lacks fails at creation. */
	RUN(&r, "--protocol", "powershell", "session", "--backend", "pssession", "--subsystem",
	    "nosuch");
	expect_status(&r, 3);
	assert_non_null(strstr(r.err, "'nosuch'"));
}

/* ps over WinRM: the test endpoint's PowerShell plugin serves real pwsh
 * in a WinRS shell, as Windows hands one to wsmprovhost. */
static void test_over_winrm(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_endpoint_proc *ep = rms_endpoint_spawn(NULL);
	assert_non_null(ep);
	char port[16];
	snprintf(port, sizeof port, "%u", ep->port);
	setenv("REMSESS_PASSWORD", RMS_ENDPOINT_PASSWORD, 1);
	static cli_result r;
	run_cli(&r, false, NULL, "-H", "127.0.0.1", "--port", port, "-u", RMS_ENDPOINT_USER,
	        "--allow-unencrypted", "ps", "--json", "Write-Warning 'ww'; 1..2",
	        (const char *)NULL);
	expect_status(&r, 0);
	assert_string_equal(r.out, "1\n2\n");
	assert_non_null(strstr(r.err, "\"warning\""));
	run_cli(&r, false, NULL, "-H", "127.0.0.1", "--port", port, "-u", RMS_ENDPOINT_USER,
	        "--allow-unencrypted", "ps", "throw 'winrm boom'", (const char *)NULL);
	expect_status(&r, 1);
	assert_non_null(strstr(r.err, "winrm boom"));
	/* A configuration the server does not have: Windows' fault, at creation. */
	run_cli(&r, false, NULL, "-H", "127.0.0.1", "--port", port, "-u", RMS_ENDPOINT_USER,
	        "--allow-unencrypted", "--configuration", "NoSuchRole", "ps", "1",
	        (const char *)NULL);
	assert_int_not_equal(r.status, 0);
	if (!strstr(r.err, "NoSuchRole"))
		fail_msg("stderr: %s", r.err);
	unsetenv("REMSESS_PASSWORD");
	rms_endpoint_kill(ep);
}

/* The value after "NAME: " on its own line of text, copied into out. */
static void field(const char *text, const char *name, char *out, size_t size)
{
	const char *p = strstr(text, name);
	if (!p)
		fail_msg("no '%s' in: %s", name, text);
	p += strlen(name);
	size_t n = strcspn(p, "\n");
	snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), p);
}

/* disconnect, sessions --disconnected, reconnect: one process starts a
 * script and leaves, another reads what it wrote meanwhile. */
static void test_disconnect_and_reconnect_over_winrm(void **state)
{
	(void)state;
	NEED_PWSH();
	rms_endpoint_proc *ep = rms_endpoint_spawn(NULL);
	assert_non_null(ep);
	char port[16];
	snprintf(port, sizeof port, "%u", ep->port);
	setenv("REMSESS_PASSWORD", RMS_ENDPOINT_PASSWORD, 1);
	static cli_result r;
#define WINRM "-H", "127.0.0.1", "--port", port, "-u", RMS_ENDPOINT_USER, "--allow-unencrypted"
	run_cli(&r, false, NULL, WINRM, "disconnect", "Start-Sleep -Milliseconds 700; 'meanwhile'",
	        (const char *)NULL);
	expect_status(&r, 0);
	char shell[64], cmd[64];
	field(r.out, "shell-id: ", shell, sizeof shell);
	field(r.out, "command-id: ", cmd, sizeof cmd);
	assert_int_equal(strlen(shell), 36);
	assert_int_equal(strlen(cmd), 36);
	assert_int_equal(rms_endpoint_stat(ep, "shells_disconnected"), 1);
	run_cli(&r, false, NULL, WINRM, "sessions", "--disconnected", (const char *)NULL);
	expect_status(&r, 0);
	assert_non_null(strstr(r.out, shell));
	assert_non_null(strstr(r.out, "Disconnected"));
	run_cli(&r, false, NULL, WINRM, "reconnect", shell, cmd, "--keep", (const char *)NULL);
	expect_status(&r, 0);
	assert_string_equal(r.out, "meanwhile\n");
	assert_non_null(strstr(r.err, "left disconnected"));
	/* Kept: still there, disconnected; the next reconnect closes it. */
	run_cli(&r, false, NULL, WINRM, "--json", "sessions", "--disconnected", (const char *)NULL);
	expect_status(&r, 0);
	assert_non_null(strstr(r.out, shell));
	run_cli(&r, false, NULL, WINRM, "reconnect", shell, (const char *)NULL);
	expect_status(&r, 0);
	assert_int_equal(rms_endpoint_stat(ep, "shells_deleted"), 1);
	/* Without a COMMAND-ID: every command the server lists for the shell. */
	run_cli(&r, false, NULL, WINRM, "disconnect", "Start-Sleep -Milliseconds 300; 'listed'",
	        (const char *)NULL);
	expect_status(&r, 0);
	char shell2[64];
	field(r.out, "shell-id: ", shell2, sizeof shell2);
	run_cli(&r, false, NULL, WINRM, "reconnect", shell2, (const char *)NULL);
	expect_status(&r, 0);
	assert_string_equal(r.out, "listed\n");
	assert_int_equal(rms_endpoint_stat(ep, "shells_deleted"), 2);
	run_cli(&r, false, NULL, WINRM, "sessions", "--disconnected", (const char *)NULL);
	expect_status(&r, 0);
	assert_null(strstr(r.out, shell));
	/* JSON ids, and a shell that is not there any more. */
	run_cli(&r, false, NULL, WINRM, "--json", "disconnect", (const char *)NULL);
	expect_status(&r, 0);
	assert_non_null(strstr(r.out, "{\"shell_id\":\""));
	assert_null(strstr(r.out, "command_id"));
	run_cli(&r, false, NULL, WINRM, "reconnect", shell, (const char *)NULL);
	assert_int_not_equal(r.status, 0);
	/* Usage: what the commands take. */
	run_cli(&r, false, NULL, WINRM, "reconnect", (const char *)NULL);
	expect_status(&r, 2);
	assert_non_null(strstr(r.err, "SHELL-ID"));
	/* An empty COMMAND-ID is a mistake, not "every command". */
	run_cli(&r, false, NULL, WINRM, "reconnect", shell, "", (const char *)NULL);
	expect_status(&r, 2);
	assert_non_null(strstr(r.err, "COMMAND-ID is empty"));
	run_cli(&r, false, NULL, WINRM, "--backend", "cim", "disconnect", (const char *)NULL);
	expect_status(&r, 2);
	run_cli(&r, false, NULL, WINRM, "ps", "--keep", "1", (const char *)NULL);
	expect_status(&r, 2);
	/* Over SSH there is no disconnect: the library says why. */
	run_cli(&r, true, NULL, "disconnect", (const char *)NULL);
	assert_int_not_equal(r.status, 0);
	assert_non_null(strstr(r.err, "SSH"));
#undef WINRM
	unsetenv("REMSESS_PASSWORD");
	rms_endpoint_kill(ep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_lines_of_output_objects),
	    cmocka_unit_test(test_text_output),
	    cmocka_unit_test(test_terminating_error_exits_1),
	    cmocka_unit_test(test_warning_on_stderr_output_on_stdout),
	    cmocka_unit_test(test_every_stream_has_its_prefix),
	    cmocka_unit_test(test_command_with_parameters),
	    cmocka_unit_test(test_script_from_stdin_and_subsystem),
	    cmocka_unit_test(test_multi_line_script_from_a_file),
	    cmocka_unit_test(test_fanout_over_hosts),
	    cmocka_unit_test(test_session_speaking_powershell),
	    cmocka_unit_test(test_over_winrm),
	    cmocka_unit_test(test_disconnect_and_reconnect_over_winrm),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
