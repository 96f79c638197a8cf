/* The remsess command line: the parser (every option in each form, every
 * usage error), the password rules, options and requests built from the
 * arguments, the exit-status table, and the printers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "args.h"
#include "backend.h"
#include "error_internal.h"
#include "output.h"
#include "remsess/remsess.h"

/* ---- helpers ----------------------------------------------------------- */

#define MAX_ARGS 64

/* argv copies live here as long as the parsed args point into them. */
typedef struct parsed {
	cli_args a;
	char *argv[MAX_ARGS + 1];
	int argc;
	int rc;
} parsed;

static parsed *parse_list(const char *first, va_list ap)
{
	parsed *p = calloc(1, sizeof *p);
	assert_non_null(p);
	p->argv[p->argc++] = strdup("remsess");
	for (const char *s = first; s; s = va_arg(ap, const char *)) {
		assert_true(p->argc < MAX_ARGS);
		p->argv[p->argc++] = strdup(s);
	}
	p->rc = cli_parse(&p->a, p->argc, p->argv);
	return p;
}

static void done(parsed *p)
{
	cli_args_free(&p->a);
	for (int i = 0; i < p->argc; i++)
		free(p->argv[i]);
	free(p);
}

/* OK("enum", "X", ...): the arguments after the program name parse
 * without error, or the test fails showing why. */
static parsed *ok_args(const char *first, ...)
{
	va_list ap;
	va_start(ap, first);
	parsed *p = parse_list(first, ap);
	va_end(ap);
	if (p->rc != 0)
		fail_msg("unexpected usage error: %s", p->a.error);
	return p;
}
#define OK(...) ok_args(__VA_ARGS__, (const char *)NULL)

/* Fails as a usage error whose message contains `needle`. */
static void bad_args(const char *needle, const char *first, ...)
{
	va_list ap;
	va_start(ap, first);
	parsed *p = parse_list(first, ap);
	va_end(ap);
	if (p->rc != CLI_EXIT_USAGE)
		fail_msg("expected a usage error naming '%s', got rc %d", needle, p->rc);
	if (!strstr(p->a.error, needle))
		fail_msg("message '%s' lacks '%s'", p->a.error, needle);
	/* One line: it is printed after "remsess: ". */
	assert_null(strchr(p->a.error, '\n'));
	done(p);
}
#define BAD(needle, ...) bad_args(needle, __VA_ARGS__, (const char *)NULL)

/* ---- global options ---------------------------------------------------- */

static void test_every_value_option_in_separate_form(void **state)
{
	(void)state;
	parsed *p =
	    OK("-H", "server1.example", "--port", "5986", "--https", "-u", "admin", "--auth",
	       "ntlm", "--cert", "c.pem", "--key", "k.pem", "--cacert", "ca.pem",
	       "--proxy", "http://proxy:3128", "--timeout", "30", "--max-envelope-kb", "500", "-n",
	       "root/standardcimv2", "--backend", "cim", "--json", "-v", "enum", "Win32_Service");
	cli_args *a = &p->a;
	assert_int_equal(a->command, CLI_CMD_ENUM);
	assert_string_equal(a->host, "server1.example");
	assert_null(a->url);
	assert_int_equal(a->port, 5986);
	assert_true(a->https);
	assert_string_equal(a->user, "admin");
	assert_int_equal(a->auth, RMS_AUTH_NTLM);
	assert_string_equal(a->cert, "c.pem");
	assert_string_equal(a->key, "k.pem");
	assert_string_equal(a->cacert, "ca.pem");
	assert_false(a->insecure); /* --insecure with --cacert is refused */
	assert_string_equal(a->proxy, "http://proxy:3128");
	assert_int_equal(a->timeout_ms, 30000);
	assert_int_equal(a->max_envelope_size, 500 * 1024);
	assert_string_equal(a->cim_namespace, "root/standardcimv2");
	assert_int_equal(a->backend, RMS_BACKEND_CIM);
	assert_true(a->json);
	assert_int_equal(a->verbose, 1);
	assert_string_equal(a->class_name, "Win32_Service");
	done(p);
}

static void test_every_value_option_in_equals_form(void **state)
{
	(void)state;
	parsed *p = OK("--host=server1.example", "--port=5986", "--user=admin", "--auth=kerberos",
	               "--cert=c.pem", "--key=k.pem", "--cacert=ca.pem", "--proxy=http://p:1",
	               "--timeout=0.5", "--max-envelope-kb=8", "--namespace=root/wmi",
	               "--backend=pssession", "enum", "X");
	cli_args *a = &p->a;
	assert_string_equal(a->host, "server1.example");
	assert_int_equal(a->port, 5986);
	assert_string_equal(a->user, "admin");
	assert_int_equal(a->auth, RMS_AUTH_KERBEROS);
	assert_string_equal(a->cert, "c.pem");
	assert_string_equal(a->key, "k.pem");
	assert_string_equal(a->cacert, "ca.pem");
	assert_string_equal(a->proxy, "http://p:1");
	assert_int_equal(a->timeout_ms, 500);
	assert_int_equal(a->max_envelope_size, 8192);
	assert_string_equal(a->cim_namespace, "root/wmi");
	assert_int_equal(a->backend, RMS_BACKEND_PSSESSION);
	done(p);
}

static void test_ssh_options_in_both_forms(void **state)
{
	(void)state;
	parsed *p = OK("--transport", "ssh", "-i", "id_ed25519", "--known-hosts", "kh",
	               "--accept-new-host-key", "--ssh-agent", "-H", "h", "-u", "bob", "run", "ls");
	assert_int_equal(p->a.transport, RMS_TRANSPORT_SSH);
	assert_string_equal(p->a.identity_file, "id_ed25519");
	assert_string_equal(p->a.known_hosts, "kh");
	assert_true(p->a.accept_new_host_key);
	assert_true(p->a.ssh_agent);
	done(p);
	p = OK("--transport=SSH", "--identity=key", "-ikey2", "--known-hosts=kh2", "-Hh", "run",
	       "ls");
	assert_int_equal(p->a.transport, RMS_TRANSPORT_SSH);
	assert_string_equal(p->a.identity_file, "key2"); /* the last one wins */
	assert_string_equal(p->a.known_hosts, "kh2");
	done(p);
	p = OK("--transport", "wsman", "-H", "h", "identify");
	assert_int_equal(p->a.transport, RMS_TRANSPORT_WSMAN);
	done(p);
}

static void test_protocol_option(void **state)
{
	(void)state;
	parsed *p = OK("--transport", "ssh", "--protocol", "PowerShell", "-H", "h", "session",
	               "--backend", "pssession");
	assert_true(p->a.ps_protocol_set);
	assert_int_equal(p->a.ps_protocol, RMS_PS_PROTOCOL_POWERSHELL);
	rms_session_options o;
	cli_build_options(&o, &p->a, RMS_BACKEND_PSSESSION, NULL, NULL);
	assert_int_equal(o.pssession_v2.protocol, RMS_PS_PROTOCOL_POWERSHELL);
	done(p);
	p = OK("--protocol=shell", "-H", "h", "run", "ls");
	cli_build_options(&o, &p->a, RMS_BACKEND_PSSESSION, NULL, NULL);
	assert_int_equal(o.pssession_v2.protocol, RMS_PS_PROTOCOL_SHELL);
	done(p);
	/* Without it, the command shell, as before. */
	p = OK("-H", "h", "run", "ls");
	cli_build_options(&o, &p->a, RMS_BACKEND_PSSESSION, NULL, NULL);
	assert_int_equal(o.pssession_v2.protocol, RMS_PS_PROTOCOL_SHELL);
	done(p);
	BAD("--protocol 'psrp' is not one of shell, powershell", "--protocol", "psrp", "-H", "h",
	    "run", "ls");
	BAD("ps speaks PowerShell remoting: --protocol shell does not apply", "--protocol",
	    "shell", "--transport", "ssh", "-H", "h", "ps", "1");
	BAD("--protocol is the PSSession's", "--protocol", "powershell", "--backend", "cim", "-H",
	    "h", "enum", "X");
	/* --configuration: a PowerShell configuration over WinRM. */
	p = OK("--configuration", "JEARole", "-H", "h", "ps", "1");
	cli_build_options(&o, &p->a, RMS_BACKEND_PSSESSION, NULL, NULL);
	assert_string_equal(o.pssession.shell_uri, "http://schemas.microsoft.com/powershell/JEARole");
	done(p);
	BAD("--configuration 'a/b' is not a session configuration name", "--configuration", "a/b",
	    "-H", "h", "ps", "1");
	BAD("--configuration names a PowerShell session configuration", "--configuration", "X",
	    "-H", "h", "run", "ls");
	BAD("--configuration applies over WinRM", "--configuration", "X", "--transport", "ssh",
	    "-H", "h", "ps", "1");
}

static void test_short_options_attached_and_separate(void **state)
{
	(void)state;
	parsed *p = OK("-Hserver1.example", "-uadmin", "-nroot/wmi", "enum", "X");
	assert_string_equal(p->a.host, "server1.example");
	assert_string_equal(p->a.user, "admin");
	assert_string_equal(p->a.cim_namespace, "root/wmi");
	done(p);
	/* Flags bundle, and a value option may end a bundle. */
	p = OK("-vvH", "h", "enum", "X");
	assert_int_equal(p->a.verbose, 2);
	assert_string_equal(p->a.host, "h");
	done(p);
	p = OK("-v", "--verbose", "-vv", "-H", "h", "enum", "X");
	assert_int_equal(p->a.verbose, 4);
	done(p);
}

static void test_defaults(void **state)
{
	(void)state;
	parsed *p = OK("-H", "h", "enum", "X");
	assert_int_equal(p->a.backend, RMS_BACKEND_AUTO);
	assert_int_equal(p->a.transport, RMS_TRANSPORT_WSMAN);
	assert_int_equal(p->a.auth, RMS_AUTH_DEFAULT);
	assert_string_equal(p->a.cim_namespace, "root/cimv2");
	assert_int_equal(p->a.port, 0);
	assert_int_equal(p->a.timeout_ms, 0);
	assert_int_equal(p->a.max_envelope_size, 0);
	assert_false(p->a.json);
	assert_false(p->a.https);
	assert_null(p->a.password);
	done(p);
}

static void test_host_with_scheme_is_a_url(void **state)
{
	(void)state;
	parsed *p = OK("-H", "https://server1.example:5986/wsman", "identify");
	assert_string_equal(p->a.url, "https://server1.example:5986/wsman");
	assert_null(p->a.host);
	done(p);
	/* A later -H replaces an earlier one of the other kind. */
	p = OK("-H", "http://a/wsman", "-H", "b", "identify");
	assert_null(p->a.url);
	assert_string_equal(p->a.host, "b");
	done(p);
}

static void test_options_may_follow_the_command(void **state)
{
	(void)state;
	parsed *p =
	    OK("enum", "Win32_Service", "-H", "server1.example", "--backend", "cim", "--json");
	assert_int_equal(p->a.command, CLI_CMD_ENUM);
	assert_string_equal(p->a.class_name, "Win32_Service");
	assert_string_equal(p->a.host, "server1.example");
	assert_int_equal(p->a.backend, RMS_BACKEND_CIM);
	assert_true(p->a.json);
	done(p);
}

static void test_help_and_version_anywhere(void **state)
{
	(void)state;
	parsed *p = OK("--help");
	assert_int_equal(p->a.command, CLI_CMD_HELP);
	done(p);
	p = OK("-h");
	assert_int_equal(p->a.command, CLI_CMD_HELP);
	done(p);
	p = OK("help");
	assert_int_equal(p->a.command, CLI_CMD_HELP);
	done(p);
	p = OK("enum", "--help");
	assert_int_equal(p->a.command, CLI_CMD_HELP);
	done(p);
	p = OK("--version");
	assert_int_equal(p->a.command, CLI_CMD_VERSION);
	done(p);
	/* Offline commands need no computer. */
	p = OK("info", "--json");
	assert_int_equal(p->a.command, CLI_CMD_INFO);
	assert_false(cli_command_needs_session(p->a.command));
	done(p);
}

/* ---- commands ---------------------------------------------------------- */

static void test_key_value_keeps_everything_after_the_first_equals(void **state)
{
	(void)state;
	parsed *p = OK("-H", "h", "get", "Win32_Service", "Name=a=b", "Path=\"C:\\x y\"", "Empty=");
	cli_args *a = &p->a;
	assert_int_equal(a->keys.count, 3);
	assert_string_equal(a->keys.items[0].name, "Name");
	assert_string_equal(a->keys.items[0].value, "a=b");
	/* Quotes are not special: they are part of the value. */
	assert_string_equal(a->keys.items[1].name, "Path");
	assert_string_equal(a->keys.items[1].value, "\"C:\\x y\"");
	assert_string_equal(a->keys.items[2].name, "Empty");
	assert_string_equal(a->keys.items[2].value, "");
	done(p);
}

static void test_each_command_takes_its_arguments(void **state)
{
	(void)state;
	parsed *p = OK("-H", "h", "identify");
	assert_int_equal(p->a.command, CLI_CMD_IDENTIFY);
	done(p);

	p = OK("-H", "h", "getclass", "Win32_Service");
	assert_int_equal(p->a.command, CLI_CMD_GETCLASS);
	assert_string_equal(p->a.class_name, "Win32_Service");
	done(p);

	p = OK("-H", "h", "query", "SELECT * FROM Win32_Service WHERE State='Running'");
	assert_string_equal(p->a.query, "SELECT * FROM Win32_Service WHERE State='Running'");
	done(p);

	p = OK("-H", "h", "invoke", "Win32_Service", "StopService", "Name=WinRM");
	assert_string_equal(p->a.class_name, "Win32_Service");
	assert_string_equal(p->a.method, "StopService");
	assert_int_equal(p->a.keys.count, 1);
	assert_int_equal(p->a.props.count, 0);
	done(p);

	p = OK("-H", "h", "invoke", "Win32_Process", "Create", "--arg", "CommandLine=notepad.exe",
	       "--arg=CurrentDirectory=C:\\");
	assert_int_equal(p->a.keys.count, 0);
	assert_int_equal(p->a.props.count, 2);
	assert_string_equal(p->a.props.items[1].name, "CurrentDirectory");
	assert_string_equal(p->a.props.items[1].value, "C:\\");
	done(p);

	p = OK("-H", "h", "create", "Win32_Environment", "Name=X", "VariableValue=1", "UserName=u");
	assert_int_equal(p->a.props.count, 3);
	assert_int_equal(p->a.keys.count, 0);
	done(p);

	p = OK("-H", "h", "set", "Win32_Service", "Name=WinRM", "--prop", "StartMode=Manual");
	assert_int_equal(p->a.keys.count, 1);
	assert_int_equal(p->a.props.count, 1);
	assert_string_equal(p->a.props.items[0].value, "Manual");
	done(p);

	p = OK("-H", "h", "delete", "Win32_Environment", "Name=X", "UserName=u");
	assert_int_equal(p->a.keys.count, 2);
	done(p);

	p = OK("-H", "h", "assoc", "Win32_Service", "Name=WinRM", "--assoc-class",
	       "Win32_DependentService", "--result-class", "Win32_Service", "--role", "Dependent",
	       "--result-role", "Antecedent", "--references");
	assert_string_equal(p->a.assoc_class, "Win32_DependentService");
	assert_string_equal(p->a.result_class, "Win32_Service");
	assert_string_equal(p->a.role, "Dependent");
	assert_string_equal(p->a.result_role, "Antecedent");
	assert_true(p->a.references);
	done(p);

	/* A singleton: get with no keys. */
	p = OK("-H", "h", "get", "Win32_WMISetting");
	assert_int_equal(p->a.keys.count, 0);
	done(p);

	p = OK("-H", "h", "compare", "get", "Win32_Service", "Name=WinRM");
	assert_int_equal(p->a.command, CLI_CMD_COMPARE);
	assert_int_equal(p->a.compared, CLI_CMD_GET);
	assert_string_equal(p->a.class_name, "Win32_Service");
	assert_int_equal(p->a.keys.count, 1);
	done(p);

	p = OK("-H", "h", "session", "--backend", "pssession");
	assert_int_equal(p->a.command, CLI_CMD_SESSION);
	done(p);
}

static void test_run_takes_the_rest_verbatim(void **state)
{
	(void)state;
	parsed *p = OK("-H", "h", "run", "--json", "ls", "-l", "--json", "-H", "x");
	cli_args *a = &p->a;
	assert_true(a->json); /* before the remote command: ours */
	assert_string_equal(a->host, "h");
	assert_string_equal(a->run_command, "ls");
	assert_int_equal(a->run_argc, 4);
	assert_string_equal(a->run_argv[0], "-l");
	assert_string_equal(a->run_argv[1], "--json");
	assert_string_equal(a->run_argv[2], "-H");
	assert_string_equal(a->run_argv[3], "x");
	done(p);

	p = OK("run", "-H", "h", "--", "-dash", "Name=x");
	assert_string_equal(p->a.run_command, "-dash");
	assert_int_equal(p->a.run_argc, 1);
	assert_string_equal(p->a.run_argv[0], "Name=x");
	assert_int_equal(p->a.run_stdin, CLI_STDIN_AUTO);
	done(p);
}

static void test_run_stdin_options(void **state)
{
	(void)state;
	parsed *p = OK("-H", "h", "run", "--stdin", "cat", "--no-stdin");
	assert_int_equal(p->a.run_stdin, CLI_STDIN_ALWAYS);
	assert_string_equal(p->a.run_argv[0], "--no-stdin"); /* the remote command's */
	done(p);
	p = OK("--no-stdin", "-H", "h", "--no-stdin", "run", "cat");
	assert_int_equal(p->a.run_stdin, CLI_STDIN_NEVER);
	done(p);
	BAD("--stdin and --no-stdin contradict each other", "-H", "h", "run", "--stdin",
	    "--no-stdin", "cat");
	BAD("--stdin is only for the run command", "-H", "h", "enum", "X", "--stdin");
	BAD("--no-stdin is only for the run command", "-H", "h", "--no-stdin", "identify");
}

static void test_double_dash_ends_options(void **state)
{
	(void)state;
	parsed *p = OK("-H", "h", "get", "X", "--", "--Name=1");
	assert_int_equal(p->a.keys.count, 1);
	assert_string_equal(p->a.keys.items[0].name, "--Name");
	assert_string_equal(p->a.keys.items[0].value, "1");
	done(p);
}

/* ---- usage errors ------------------------------------------------------ */

static void test_usage_errors_for_commands(void **state)
{
	(void)state;
	BAD("no command", "-H", "h");
	bad_args("no command", (const char *)NULL); /* no arguments at all */
	BAD("unknown command 'enumerate'", "-H", "h", "enumerate", "X");
	BAD("enum needs a CLASS", "-H", "h", "enum");
	BAD("getclass needs a CLASS", "-H", "h", "getclass");
	BAD("--insecure turns certificate verification off, so --cacert would be ignored",
	    "-H", "h", "--https", "--insecure", "--cacert", "/etc/hostname", "identify");
	BAD("getclass takes one CLASS (unexpected 'B')", "-H", "h", "getclass", "A", "B");
	BAD("get needs a CLASS", "-H", "h", "get");
	BAD("get needs a CLASS before any KEY=VALUE", "-H", "h", "get", "Name=x");
	BAD("create needs a CLASS", "-H", "h", "create");
	BAD("delete needs a CLASS", "-H", "h", "delete");
	BAD("invoke needs a CLASS", "-H", "h", "invoke");
	BAD("assoc needs a CLASS", "-H", "h", "assoc");
	BAD("set needs a CLASS", "-H", "h", "set", "--prop", "A=1");
	BAD("enum takes one CLASS (unexpected 'Y')", "-H", "h", "enum", "X", "Y");
	BAD("query needs a WQL query", "-H", "h", "query");
	BAD("quote it", "-H", "h", "query", "SELECT", "*");
	BAD("invoke needs a METHOD", "-H", "h", "invoke", "Win32_Service");
	BAD("'Name=x' is not a method name", "-H", "h", "invoke", "Win32_Service", "Name=x");
	BAD("create needs at least one PROP=VALUE", "-H", "h", "create", "X");
	BAD("delete needs at least one KEY=VALUE", "-H", "h", "delete", "X");
	BAD("set needs at least one --prop", "-H", "h", "set", "X", "Name=1");
	BAD("run needs a COMMAND", "-H", "h", "run");
	BAD("compare needs a command to compare", "-H", "h", "compare");
	BAD("compare takes get, enum or query, not 'delete'", "-H", "h", "compare", "delete", "X",
	    "K=1");
	BAD("enum needs a CLASS", "-H", "h", "compare", "enum");
	BAD("identify takes no arguments (unexpected 'x')", "-H", "h", "identify", "x");
	BAD("info takes no arguments", "info", "x");
	BAD("enum needs a computer", "enum", "X");
	BAD("-H HOST", "identify");
}

static void test_usage_errors_for_key_value(void **state)
{
	(void)state;
	BAD("'Name' is not KEY=VALUE: there is no '='", "-H", "h", "get", "X", "Name");
	BAD("'=x' is not KEY=VALUE: the name before '=' is empty", "-H", "h", "get", "X", "=x");
	BAD("'Name' is not PROP=VALUE", "-H", "h", "create", "X", "Name");
	BAD("--arg 'CommandLine' is not NAME=VALUE: there is no '='", "-H", "h", "invoke", "X", "M",
	    "--arg", "CommandLine");
	BAD("--prop '=1' is not NAME=VALUE: the name before '=' is empty", "-H", "h", "set", "X",
	    "--prop", "=1");
}

static void test_usage_errors_for_options(void **state)
{
	(void)state;
	BAD("unknown option '--frobnicate'", "--frobnicate", "enum", "X");
	BAD("unknown option '--frob'", "--frob=1", "enum", "X");
	BAD("unknown option '-x'", "-x", "enum", "X");
	BAD("unknown option '-q'", "-vq", "enum", "X");
	BAD("option '--port' needs a value", "enum", "X", "--port");
	BAD("option '-H' (--host) needs a value", "enum", "X", "-H");
	BAD("option '--json' takes no value", "--json=yes", "enum", "X");
	BAD("--port 0 is out of range", "--port", "0", "enum", "X");
	BAD("--port 70000 is out of range", "--port", "70000", "enum", "X");
	BAD("--port 99999999999999999999 is out of range", "--port=99999999999999999999", "enum",
	    "X");
	BAD("--port 'abc' is not a number", "--port", "abc", "enum", "X");
	BAD("--port '-1' is not a number", "--port=-1", "enum", "X");
	BAD("--port '' is not a number", "--port=", "enum", "X");
	BAD("--timeout -1 is negative", "--timeout", "-1", "enum", "X");
	BAD("--timeout 'abc' is not a number of seconds", "--timeout", "abc", "enum", "X");
	BAD("--timeout '1e3' is not a number of seconds", "--timeout", "1e3", "enum", "X");
	BAD("--timeout '.' is not a number of seconds", "--timeout", ".", "enum", "X");
	BAD("--timeout 0 is too short", "--timeout", "0", "enum", "X");
	BAD("--timeout 5000000 is too long", "--timeout", "5000000", "enum", "X");
	BAD("--max-envelope-kb 7 is below the minimum of 8 (8192 bytes", "--max-envelope-kb", "7",
	    "enum", "X");
	BAD("--max-envelope-kb 'lots' is not a number", "--max-envelope-kb", "lots", "enum", "X");
	BAD("--max-envelope-kb 4194304 is too large", "--max-envelope-kb", "4194304", "enum", "X");
	BAD("--backend 'bogus' is not one of cim, pssession, auto", "--backend", "bogus", "enum",
	    "X");
	BAD("--backend 'none' is not one of", "--backend", "none", "enum", "X");
	BAD("--auth 'bogus' is not one of basic, ntlm", "--auth", "bogus", "enum", "X");
	BAD("--transport 'telnet' is not one of wsman, ssh", "--transport", "telnet", "enum", "X");
	BAD("--transport ssh needs --backend pssession or auto", "-H", "h", "--transport", "ssh",
	    "--backend", "cim", "enum", "X");
	BAD("--identity applies to --transport ssh only", "-H", "h", "-i", "key", "enum", "X");
	BAD("--known-hosts applies to --transport ssh only", "-H", "h", "--known-hosts", "kh",
	    "enum", "X");
	BAD("--namespace is empty", "-n", "", "enum", "X");
	BAD("--assoc-class is empty", "-H", "h", "assoc", "X", "--assoc-class", "");
	BAD("session needs --backend cim or --backend pssession", "-H", "h", "session");
	BAD("session needs --backend cim or --backend pssession", "-H", "h", "session", "--backend",
	    "auto");
	BAD("--prop is only for the set command", "-H", "h", "create", "X", "A=1", "--prop", "B=2");
	BAD("--arg is only for the invoke command", "-H", "h", "--arg", "A=1", "enum", "X");
	BAD("--references is only for the assoc command", "-H", "h", "enum", "X", "--references");
	BAD("--result-class is only for the assoc command", "-H", "h", "get", "X", "--result-class",
	    "Y");
	/* The message names the assoc option, even after another command
	 * option that is right for the command. */
	BAD("--role is only for the assoc command", "-H", "h", "invoke", "X", "M", "--arg", "A=1",
	    "--role", "R");
}

static void test_password_is_never_taken_from_argv(void **state)
{
	(void)state;
	BAD("--password is refused", "-H", "h", "-u", "admin", "--password", "secret", "enum", "X");
	BAD("REMSESS_PASSWORD", "-H", "h", "-u", "admin", "--password=secret", "enum", "X");
	BAD("--password is refused", "enum", "X", "--password");
	/* No short form either. */
	BAD("unknown option '-p'", "-H", "h", "-p", "secret", "enum", "X");
	/* A parse that succeeds holds no password: only the environment or
	 * the prompt provide one. */
	parsed *p = OK("-H", "h", "-u", "admin", "enum", "X");
	assert_null(p->a.password);
	done(p);
}

/* ---- the password ------------------------------------------------------ */

typedef struct fake_reader {
	int calls;
	int result;
	const char *typed;
	char prompt[300];
} fake_reader;

static int read_fake(char *buf, size_t size, const char *prompt, void *userdata, char *errbuf,
                     size_t errsize)
{
	fake_reader *f = userdata;
	f->calls++;
	snprintf(f->prompt, sizeof f->prompt, "%s", prompt);
	if (f->result == CLI_READ_FAILED)
		snprintf(errbuf, errsize, "cannot read the password: Input/output error");
	if (f->result == 0)
		snprintf(buf, size, "%s", f->typed);
	return f->result;
}

static void test_password_from_environment(void **state)
{
	(void)state;
	assert_int_equal(setenv("REMSESS_PASSWORD", "from-env", 1), 0);
	parsed *p = OK("-H", "server1.example", "-u", "admin", "enum", "X");
	fake_reader f = {0, 0, "typed", ""};
	assert_int_equal(cli_resolve_password(&p->a, read_fake, &f), 0);
	assert_string_equal(p->a.password, "from-env");
	assert_int_equal(f.calls, 0);
	done(p);
	unsetenv("REMSESS_PASSWORD");
}

static void test_password_prompted_when_no_environment(void **state)
{
	(void)state;
	unsetenv("REMSESS_PASSWORD");
	parsed *p = OK("-H", "server1.example", "-u", "admin", "enum", "X");
	fake_reader f = {0, 0, "typed-secret", ""};
	assert_int_equal(cli_resolve_password(&p->a, read_fake, &f), 0);
	assert_int_equal(f.calls, 1);
	assert_string_equal(p->a.password, "typed-secret");
	assert_non_null(strstr(f.prompt, "admin@server1.example"));
	done(p);
}

static void test_no_terminal_is_a_usage_error_naming_the_variable(void **state)
{
	(void)state;
	unsetenv("REMSESS_PASSWORD");
	parsed *p = OK("-H", "h", "-u", "admin", "enum", "X");
	fake_reader f = {0, CLI_READ_NO_TTY, NULL, ""};
	assert_int_equal(cli_resolve_password(&p->a, read_fake, &f), CLI_EXIT_USAGE);
	assert_non_null(strstr(p->a.error, "no terminal"));
	assert_non_null(strstr(p->a.error, "set REMSESS_PASSWORD"));
	assert_null(p->a.password);
	done(p);

	p = OK("-H", "h", "-u", "admin", "enum", "X");
	f.result = CLI_READ_FAILED;
	assert_int_equal(cli_resolve_password(&p->a, read_fake, &f), CLI_EXIT_USAGE);
	assert_non_null(strstr(p->a.error, "cannot read the password"));
	done(p);
}

static void test_no_password_asked_without_a_user_or_for_keys(void **state)
{
	(void)state;
	assert_int_equal(setenv("REMSESS_PASSWORD", "unused", 1), 0);
	fake_reader f = {0, 0, "typed", ""};
	/* No user: nothing to authenticate with a password, even if set. */
	parsed *p = OK("-H", "h", "enum", "X");
	assert_int_equal(cli_resolve_password(&p->a, read_fake, &f), 0);
	assert_null(p->a.password);
	done(p);
	unsetenv("REMSESS_PASSWORD");
	/* Certificate authentication and SSH keys need no password. */
	p = OK("-H", "h", "-u", "admin", "--auth", "certificate", "enum", "X");
	assert_int_equal(cli_resolve_password(&p->a, read_fake, &f), 0);
	assert_null(p->a.password);
	done(p);
	p = OK("-H", "h", "-u", "admin", "--transport", "ssh", "-i", "key", "run", "ls");
	assert_int_equal(cli_resolve_password(&p->a, read_fake, &f), 0);
	assert_null(p->a.password);
	done(p);
	assert_int_equal(f.calls, 0);
}

/* ---- options and requests built from the arguments --------------------- */

static void log_nothing(rms_log_level level, const char *message, void *userdata)
{
	(void)level;
	(void)message;
	(void)userdata;
}

static void test_options_built_from_arguments(void **state)
{
	(void)state;
	assert_int_equal(setenv("REMSESS_PASSWORD", "pw", 1), 0);
	parsed *p = OK("-H", "server1.example", "--port", "5986", "--https", "-u", "admin",
	               "--auth", "basic", "--insecure", "--timeout", "2.5",
	               "--max-envelope-kb", "150", "-n", "root/wmi", "-vv", "enum", "X");
	assert_int_equal(cli_resolve_password(&p->a, read_fake, NULL), 0);
	int tag = 0;
	rms_session_options o;
	cli_build_options(&o, &p->a, RMS_BACKEND_CIM, log_nothing, &tag);
	assert_int_equal(o.version, RMS_SESSION_OPTIONS_VERSION);
	assert_string_equal(o.host, "server1.example");
	assert_null(o.url);
	assert_int_equal(o.port, 5986);
	assert_int_equal(o.scheme, RMS_SCHEME_HTTPS);
	assert_string_equal(o.user, "admin");
	assert_string_equal(o.password, "pw");
	assert_int_equal(o.auth, RMS_AUTH_BASIC);
	assert_null(o.ca_file);
	assert_true(o.tls_insecure);
	assert_int_equal(o.operation_timeout_ms, 2500);
	assert_int_equal(o.max_envelope_size, 150 * 1024);
	assert_string_equal(o.cim.cim_namespace, "root/wmi");
	assert_ptr_equal(o.log, log_nothing);
	assert_ptr_equal(o.log_userdata, &tag);
	assert_int_equal(o.log_level, RMS_LOG_DEBUG);
	assert_int_equal(o.transport, RMS_TRANSPORT_WSMAN);
	done(p);
	unsetenv("REMSESS_PASSWORD");

	p = OK("-H", "h", "-u", "bob", "--transport", "ssh", "-i", "key", "--known-hosts", "kh",
	       "--accept-new-host-key", "run", "ls");
	cli_build_options(&o, &p->a, RMS_BACKEND_PSSESSION, NULL, NULL);
	assert_int_equal(o.transport, RMS_TRANSPORT_SSH);
	assert_string_equal(o.ssh.identity_file, "key");
	assert_string_equal(o.ssh.known_hosts, "kh");
	assert_true(o.ssh.accept_new_host_key);
	assert_int_equal(o.log_level, RMS_LOG_WARNING);
	/* The CIM side of a target always speaks WS-Man. */
	cli_build_options(&o, &p->a, RMS_BACKEND_CIM, NULL, NULL);
	assert_int_equal(o.transport, RMS_TRANSPORT_WSMAN);
	assert_null(o.ssh.identity_file);
	done(p);

	p = OK("-H", "http://h:5985/wsman", "-vvvv", "identify");
	cli_build_options(&o, &p->a, RMS_BACKEND_CIM, NULL, NULL);
	assert_string_equal(o.url, "http://h:5985/wsman");
	assert_null(o.host);
	assert_int_equal(o.scheme, RMS_SCHEME_DEFAULT);
	assert_int_equal(o.log_level, RMS_LOG_TRACE);
	done(p);
}

/* The library checks what the CLI leaves to it: its verdict names the
 * field, which the error report turns into the option the user typed. */
static void test_library_option_errors_name_the_field(void **state)
{
	(void)state;
	parsed *p = OK("-H", "h", "--cacert", "/nonexistent/ca.pem", "enum", "X");
	rms_session_options o;
	cli_build_options(&o, &p->a, RMS_BACKEND_CIM, NULL, NULL);
	rms_error *err = NULL;
	rms_error_clear();
	int rc = rms_session_options_validate(&o, RMS_BACKEND_CIM);
	err = rms_error_dup(rms_error_last());
	assert_int_equal(rc, RMS_E_OPTIONS);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(cli_report_error(stdout, f, false, "session", rc, err), CLI_EXIT_USAGE);
	fclose(f);
	assert_non_null(strstr(text, "remsess: invalid option ca_file (--cacert): "));
	assert_non_null(strstr(text, "/nonexistent/ca.pem"));
	free(text);
	rms_error_free(err);
	done(p);
}

static const char *selector(const rms_request *r, const char *name)
{
	return rms_ref_selector(r->ref, name);
}

static const char *input_string(const rms_request *r, const char *name)
{
	const char *s = NULL;
	const rms_value *v = rms_instance_get(r->input, name);
	if (!v || rms_value_get_string(v, &s) != 0)
		return NULL;
	return s;
}

static rms_request *request_for(parsed *p)
{
	rms_request *r = NULL;
	int rc = cli_build_request(&r, &p->a);
	if (rc)
		fail_msg("request failed: %s", rms_error_message(rms_error_last()));
	return r;
}

static void test_requests_built_from_arguments(void **state)
{
	(void)state;
	parsed *p = OK("-H", "h", "-n", "root/wmi", "enum", "Win32_Service");
	rms_request *r = request_for(p);
	assert_int_equal(rms_request_kind(r), RMS_OP_ENUMERATE);
	assert_string_equal(r->class_name, "Win32_Service");
	assert_string_equal(r->cim_namespace, "root/wmi");
	rms_request_free(r);
	done(p);

	p = OK("-H", "h", "get", "Win32_Service", "Name=a=b");
	r = request_for(p);
	assert_int_equal(rms_request_kind(r), RMS_OP_GET);
	assert_string_equal(rms_ref_class_name(r->ref), "Win32_Service");
	assert_string_equal(rms_ref_namespace(r->ref), "root/cimv2");
	assert_string_equal(selector(r, "Name"), "a=b");
	rms_request_free(r);
	done(p);

	p = OK("-H", "h", "query", "SELECT * FROM X");
	r = request_for(p);
	assert_int_equal(rms_request_kind(r), RMS_OP_QUERY);
	assert_string_equal(r->query, "SELECT * FROM X");
	rms_request_free(r);
	done(p);

	/* Static method: a class and no reference; values go as strings. */
	p = OK("-H", "h", "invoke", "Win32_Process", "Create", "--arg", "CommandLine=cmd /c x=1");
	r = request_for(p);
	assert_int_equal(rms_request_kind(r), RMS_OP_INVOKE);
	assert_string_equal(r->class_name, "Win32_Process");
	assert_null(r->ref);
	assert_string_equal(r->method, "Create");
	assert_string_equal(input_string(r, "CommandLine"), "cmd /c x=1");
	rms_request_free(r);
	done(p);

	/* Instance method: the keys make the reference; no --arg, no input. */
	p = OK("-H", "h", "invoke", "Win32_Service", "StopService", "Name=WinRM");
	r = request_for(p);
	assert_string_equal(selector(r, "Name"), "WinRM");
	assert_null(r->input);
	rms_request_free(r);
	done(p);

	p = OK("-H", "h", "create", "Win32_Environment", "Name=X", "VariableValue=1");
	r = request_for(p);
	assert_int_equal(rms_request_kind(r), RMS_OP_CREATE);
	assert_string_equal(rms_instance_class_name(r->input), "Win32_Environment");
	assert_string_equal(input_string(r, "VariableValue"), "1");
	assert_int_equal(rms_instance_count(r->input), 2);
	rms_request_free(r);
	done(p);

	p = OK("-H", "h", "set", "Win32_Service", "Name=WinRM", "--prop", "StartMode=Manual");
	r = request_for(p);
	assert_int_equal(rms_request_kind(r), RMS_OP_MODIFY);
	assert_string_equal(selector(r, "Name"), "WinRM");
	assert_string_equal(input_string(r, "StartMode"), "Manual");
	assert_null(rms_instance_get(r->input, "Name"));
	rms_request_free(r);
	done(p);

	p = OK("-H", "h", "delete", "Win32_Environment", "Name=X");
	r = request_for(p);
	assert_int_equal(rms_request_kind(r), RMS_OP_DELETE);
	assert_string_equal(selector(r, "Name"), "X");
	rms_request_free(r);
	done(p);

	p = OK("-H", "h", "assoc", "Win32_Service", "Name=WinRM", "--assoc-class", "A",
	       "--result-class", "B");
	r = request_for(p);
	assert_int_equal(rms_request_kind(r), RMS_OP_ASSOCIATORS);
	assert_string_equal(r->assoc_class, "A");
	assert_string_equal(r->result_class, "B");
	assert_null(r->role);
	rms_request_free(r);
	done(p);

	p = OK("-H", "h", "assoc", "Win32_Service", "Name=WinRM", "--references");
	r = request_for(p);
	assert_int_equal(rms_request_kind(r), RMS_OP_REFERENCES);
	rms_request_free(r);
	done(p);

	p = OK("-H", "h", "run", "ipconfig", "/all", "x");
	r = request_for(p);
	assert_int_equal(rms_request_kind(r), RMS_OP_RUN);
	assert_string_equal(r->command, "ipconfig");
	assert_int_equal(r->argc, 2);
	assert_string_equal(r->argv[0], "/all");
	rms_request_free(r);
	done(p);

	p = OK("-H", "h", "identify");
	r = request_for(p);
	assert_int_equal(rms_request_kind(r), RMS_OP_IDENTIFY);
	assert_null(r->cim_namespace);
	rms_request_free(r);
	done(p);

	/* compare builds the compared command's request. */
	p = OK("-H", "h", "compare", "enum", "Win32_Service");
	r = request_for(p);
	assert_int_equal(rms_request_kind(r), RMS_OP_ENUMERATE);
	rms_request_free(r);
	done(p);
}

static void test_request_rejects_what_the_library_rejects(void **state)
{
	(void)state;
	/* Not valid UTF-8: the library refuses it, and the CLI reports it as
	 * an invalid argument (exit 2), naming the field. */
	parsed *p = OK("-H", "h", "get", "Win32_Service", "Name=\xff\xfe");
	rms_request *r = (rms_request *)1;
	int rc = cli_build_request(&r, &p->a);
	assert_int_equal(rc, RMS_E_INVALID_ARG);
	assert_null(r);
	assert_int_equal(cli_exit_code(rc), CLI_EXIT_USAGE);
	done(p);
}

/* ---- exit status ------------------------------------------------------- */

static const struct {
	int code;
	int status;
} exit_table[] = {
	{RMS_E_OK, 0},          {RMS_E_ITEROVER, 1},
	{RMS_E_EAGAIN, 1},      {RMS_E_INVALID_ARG, 2},
	{RMS_E_OPTIONS, 2},     {RMS_E_NOMEM, 1},
	{RMS_E_UNSUPPORTED, 2}, {RMS_E_NOT_IMPLEMENTED, 2},
	{RMS_E_RESOLVE, 3},     {RMS_E_CONNECT, 3},
	{RMS_E_TLS, 3},         {RMS_E_AUTH, 3},
	{RMS_E_TIMEOUT, 4},     {RMS_E_CONNECTION_LOST, 3},
	{RMS_E_HTTP, 1},        {RMS_E_PROTOCOL, 1},
	{RMS_E_FAULT, 1},       {RMS_E_ENVELOPE_TOO_LARGE, 4},
	{RMS_E_LIMIT, 4},       {RMS_E_CANCELLED, 1},
	{RMS_E_STATE, 1},       {RMS_E_TYPE, 1},
	{RMS_E_RANGE, 1},       {RMS_E_PARSE, 1},
	{RMS_E_NOT_FOUND, 1},   {RMS_E_SSH, 3},
	{RMS_E_HOST_KEY, 3},    {RMS_E_IO, 1},
	{RMS_E_INTERNAL, 1},    {RMS_E_SKIPPED, 1}, /* a result that is not whole */
	{RMS_E_QUOTA, 1},       {RMS_E_GONE, 1},
};

static void test_exit_status_for_every_error_code(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof exit_table / sizeof exit_table[0]; i++) {
		int got = cli_exit_code(exit_table[i].code);
		if (got != exit_table[i].status)
			fail_msg("%s: exit %d, expected %d",
			         rms_error_code_name(exit_table[i].code), got,
			         exit_table[i].status);
	}
	/* The table above covers the whole error list: a new code must be
	 * placed deliberately. */
#define CHECK_LISTED(name, num, msg)                                                               \
	do {                                                                                       \
		bool found = false;                                                                \
		for (size_t i = 0; i < sizeof exit_table / sizeof exit_table[0]; i++)              \
			found = found || exit_table[i].code == (num);                              \
		if (!found)                                                                        \
			fail_msg("RMS_E_%s has no expected exit status in this test", #name);      \
	} while (0);
	RMS_ERROR_LIST(CHECK_LISTED)
#undef CHECK_LISTED
	/* An unknown code is a failure, never success. */
	assert_int_equal(cli_exit_code(-999), 1);
}

/* ---- error reports ----------------------------------------------------- */

static char *capture_report(int *status, bool json, const char *step, int rc, char **json_out)
{
	char *errtext = NULL, *outtext = NULL;
	size_t elen = 0, olen = 0;
	FILE *err = open_memstream(&errtext, &elen);
	FILE *out = open_memstream(&outtext, &olen);
	assert_non_null(err);
	assert_non_null(out);
	*status = cli_report_error(out, err, json, step, rc, rms_error_last());
	fclose(err);
	fclose(out);
	if (json_out)
		*json_out = outtext;
	else
		free(outtext);
	return errtext;
}

static void test_not_implemented_is_passed_through(void **state)
{
	(void)state;
	rms__error_set(RMS_E_NOT_IMPLEMENTED, RMS_PHASE_NONE,
	               "the CIM enumerate operation is not implemented in this build");
	rms__error_set_backend(RMS_BACKEND_CIM);
	int status;
	char *out = NULL;
	char *err = capture_report(&status, false, "enumerate", RMS_E_NOT_IMPLEMENTED, &out);
	assert_int_equal(status, 2);
	assert_string_equal(err, "remsess: the CIM enumerate operation is not implemented in this "
	                         "build\n");
	assert_string_equal(out, ""); /* no made-up result, no JSON without --json */
	free(err);
	free(out);

	/* A message that does not say it gets the prefix. */
	rms__error_set(RMS_E_NOT_IMPLEMENTED, RMS_PHASE_NONE, "message encryption");
	err = capture_report(&status, false, "enumerate", RMS_E_NOT_IMPLEMENTED, &out);
	assert_int_equal(status, 2);
	assert_string_equal(err, "remsess: not implemented in this build: message encryption\n");
	free(err);
	free(out);
}

static void test_failure_names_phase_or_step(void **state)
{
	(void)state;
	rms__error_set(RMS_E_CONNECT, RMS_PHASE_CONNECT, "could not connect to h:5985: refused");
	int status;
	char *err = capture_report(&status, false, "enumerate", RMS_E_CONNECT, NULL);
	assert_int_equal(status, 3);
	assert_string_equal(err, "remsess: connect failed: could not connect to h:5985: refused\n");
	free(err);

	rms__error_set(RMS_E_STATE, RMS_PHASE_NONE, "session is closed");
	err = capture_report(&status, false, "enumerate", RMS_E_STATE, NULL);
	assert_int_equal(status, 1);
	assert_string_equal(err, "remsess: enumerate failed: session is closed\n");
	free(err);

	/* Without an error object: the code's generic message. */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_int_equal(cli_report_error(stdout, f, false, "run", RMS_E_NOMEM, NULL), 1);
	fclose(f);
	assert_string_equal(text, "remsess: run failed: out of memory\n");
	free(text);
}

static void test_json_error_object(void **state)
{
	(void)state;
	rms__error_set(RMS_E_LIMIT, RMS_PHASE_LIMIT, "received 60 MB, over the 50 MB cap");
	rms__error_set_backend(RMS_BACKEND_PSSESSION);
	rms__error_set_http_status(500);
	rms__error_set_limit("MaximumReceivedDataSizePerCommand", 52428800, 62914560);
	rms__error_set_items(7);
	int status;
	char *out = NULL;
	char *err = capture_report(&status, true, "run", RMS_E_LIMIT, &out);
	assert_int_equal(status, 4);
	assert_non_null(strstr(err, "remsess: limit failed: received 60 MB"));
	/* One line of JSON on stdout. */
	size_t n = strlen(out);
	assert_true(n > 0 && out[n - 1] == '\n');
	assert_null(memchr(out, '\n', n - 1));
	json_error_t jerr;
	json_t *j = json_loads(out, 0, &jerr);
	if (!j)
		fail_msg("not JSON: %s: %s", jerr.text, out);
	json_t *e = json_object_get(j, "error");
	assert_non_null(e);
	assert_int_equal(json_integer_value(json_object_get(e, "code")), RMS_E_LIMIT);
	assert_string_equal(json_string_value(json_object_get(e, "name")), "RMS_E_LIMIT");
	assert_string_equal(json_string_value(json_object_get(e, "phase")), "limit");
	assert_string_equal(json_string_value(json_object_get(e, "backend")), "pssession");
	assert_string_equal(json_string_value(json_object_get(e, "message")),
	                    "received 60 MB, over the 50 MB cap");
	assert_int_equal(json_integer_value(json_object_get(e, "http_status")), 500);
	assert_int_equal(json_integer_value(json_object_get(e, "exit_status")), 4);
	assert_string_equal(json_string_value(json_object_get(e, "limit_name")),
	                    "MaximumReceivedDataSizePerCommand");
	assert_int_equal(json_integer_value(json_object_get(e, "limit_value")), 52428800);
	assert_int_equal(json_integer_value(json_object_get(e, "limit_actual")), 62914560);
	assert_int_equal(json_integer_value(json_object_get(e, "items_delivered")), 7);
	assert_true(json_is_null(json_object_get(e, "fault_code")));
	assert_true(json_is_integer(json_object_get(e, "wsman_code")));
	json_decref(j);
	free(out);
	free(err);
}

/* ---- printers ---------------------------------------------------------- */

static void test_info_shows_both_backends(void **state)
{
	(void)state;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_int_equal(cli_print_info(f, false), 0);
	fclose(f);
	assert_non_null(strstr(text, rms_version()));
	assert_non_null(strstr(text, "cim"));
	assert_non_null(strstr(text, "pssession"));
	assert_non_null(strstr(text, "when it connects"));
	assert_non_null(strstr(text, "size limits"));
	assert_non_null(strstr(text, rms_features()[0]));
	free(text);

	f = open_memstream(&text, &len);
	assert_int_equal(cli_print_info(f, true), 0);
	fclose(f);
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "version")), rms_version());
	assert_true(json_is_array(json_object_get(j, "features")));
	json_t *b = json_object_get(j, "backends");
	assert_non_null(json_object_get(json_object_get(b, "cim"), "when_it_connects"));
	assert_non_null(json_object_get(json_object_get(b, "pssession"), "size_limits"));
	json_decref(j);
	free(text);
}

static void test_session_shows_properties_and_no_connection(void **state)
{
	(void)state;
	parsed *p = OK("-H", "server1.example", "session", "--backend", "cim");
	rms_session_options o;
	cli_build_options(&o, &p->a, RMS_BACKEND_CIM, NULL, NULL);
	rms_session *s = NULL;
	if (rms_session_new(&s, RMS_BACKEND_CIM, &o))
		fail_msg("session: %s", rms_error_message(rms_error_last()));
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_int_equal(cli_print_session(f, s, false), 0);
	fclose(f);
	assert_non_null(strstr(text, "Name         : CimSession"));
	assert_non_null(strstr(text, "ComputerName : server1.example"));
	assert_non_null(strstr(text, "Protocol     : WSMAN"));
	assert_non_null(strstr(text, "Backend      : cim"));
	assert_non_null(strstr(text, "State        : Opened"));
	assert_non_null(strstr(text, "\nconnections opened: 0\n"));
	free(text);

	f = open_memstream(&text, &len);
	assert_int_equal(cli_print_session(f, s, true), 0);
	fclose(f);
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "Backend")), "cim");
	assert_int_equal(json_integer_value(json_object_get(j, "Id")), rms_session_id(s));
	assert_int_equal(json_integer_value(
	                     json_object_get(json_object_get(j, "traffic"), "connections_opened")),
	                 0);
	json_decref(j);
	free(text);
	rms_session_free(s);
	done(p);
}

static void test_utf8_cleaning_of_command_output(void **state)
{
	(void)state;
	cli_utf8_carry c = {{0}, 0};
	size_t n;
	/* "é" (C3 A9) split across two chunks comes out whole, once. */
	char *s = cli_utf8_clean(&c, "ab\xc3", 3, false, &n);
	assert_int_equal(n, 2);
	assert_memory_equal(s, "ab", 2);
	free(s);
	s = cli_utf8_clean(&c, "\xa9z", 2, false, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(s, "\xc3\xa9z", 3);
	free(s);
	/* A byte that is never UTF-8 becomes U+FFFD; NUL bytes survive. */
	s = cli_utf8_clean(&c, "x\xff\0y", 4, false, &n);
	assert_int_equal(n, 6);
	assert_memory_equal(s, "x\xef\xbf\xbd\0y", 6);
	free(s);
	/* Overlong and surrogate forms are not valid UTF-8. */
	s = cli_utf8_clean(&c, "\xc0\xaf\xed\xa0\x80", 5, false, &n);
	assert_int_equal(n, 15);
	free(s);
	/* A tail still incomplete at the end is replaced, not dropped. */
	s = cli_utf8_clean(&c, "\xe2\x82", 2, false, &n);
	assert_int_equal(n, 0);
	free(s);
	s = cli_utf8_clean(&c, NULL, 0, true, &n);
	assert_int_equal(n, 6);
	assert_memory_equal(s, "\xef\xbf\xbd\xef\xbf\xbd", 6);
	free(s);
	assert_int_equal(c.len, 0);
}

static void test_help_mentions_every_command_and_no_password_option(void **state)
{
	(void)state;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cli_print_help(f);
	fclose(f);
	static const char *const cmds[] = {
	    "info",      "session",     "identify",        "get",   "enum", "query",   "invoke",
	    "create",    "set",         "delete",          "assoc", "run",  "compare", "--json",
	    "--backend", "--transport", "REMSESS_PASSWORD", "--stdin", "--no-stdin",
	    "--hosts",   "--throttle", "ps SCRIPT", "--file", "--command", "--param",
	    "--subsystem", "--progress"};
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (!strstr(text, cmds[i]))
			fail_msg("help lacks '%s'", cmds[i]);
	assert_null(strstr(text, "--password"));
	free(text);
}

static char *progress_run(bool tty, const uint64_t *times, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cli_progress p;
	cli_progress_start(&p, f, tty, 0);
	for (size_t i = 0; i < n; i++) {
		cli_progress_clear(&p);
		cli_progress_tick(&p, times[i]);
	}
	cli_progress_end(&p);
	fclose(f);
	return buf;
}

static void test_progress_line_only_on_a_terminal(void **state)
{
	(void)state;
	uint64_t times[3000];
	for (size_t i = 0; i < 3000; i++)
		times[i] = i; /* 1000 instances a second for 3 s */
	char *text = progress_run(false, times, 3000);
	assert_string_equal(text, ""); /* never when stderr is not a terminal */
	free(text);
	text = progress_run(true, times, 3000);
	/* Nothing in the first second, then count and rate, cleared at the end. */
	const char *first = "\r\033[K1001 instances, 1001/s";
	assert_memory_equal(text, first, strlen(first));
	assert_non_null(strstr(text, "2501 instances"));
	size_t n = strlen(text);
	assert_true(n > 4 && strcmp(text + n - 4, "\r\033[K") == 0);
	free(text);
	/* A short enumeration shows nothing at all. */
	text = progress_run(true, times, 500);
	assert_string_equal(text, "");
	free(text);
}

/* ---- fan-out ------------------------------------------------------------ */

static void test_host_list_is_a_fanout(void **state)
{
	(void)state;
	parsed *p = OK("enum", "X", "-H", "a.example,https://b.example:5986/wsman,10.0.0.3");
	assert_true(cli_is_fanout(&p->a));
	assert_int_equal(p->a.host_count, 3);
	assert_string_equal(p->a.hosts[0], "a.example");
	assert_string_equal(p->a.hosts[1], "https://b.example:5986/wsman");
	assert_string_equal(p->a.hosts[2], "10.0.0.3");
	assert_null(p->a.host);
	assert_null(p->a.url);
	assert_int_equal(p->a.throttle, 0); /* the library's default, 32 */
	/* Each entry becomes host or url as a single -H would. */
	cli_args one = p->a;
	cli_args_set_host(&one, p->a.hosts[1]);
	assert_null(one.host);
	assert_string_equal(one.url, "https://b.example:5986/wsman");
	cli_args_set_host(&one, p->a.hosts[2]);
	assert_string_equal(one.host, "10.0.0.3");
	assert_null(one.url);
	done(p);

	/* A single -H keeps the one-computer path; the last -H wins. */
	p = OK("-H", "a,b", "-H", "c", "enum", "X");
	assert_false(cli_is_fanout(&p->a));
	assert_string_equal(p->a.host, "c");
	done(p);
	p = OK("-H", "c", "-Ha,b", "get", "X", "K=1", "--throttle", "7");
	assert_true(cli_is_fanout(&p->a));
	assert_int_equal(p->a.host_count, 2);
	assert_int_equal(p->a.throttle, 7);
	done(p);
	p = OK("-H", "a,b", "run", "--", "echo", "x,y");
	assert_true(cli_is_fanout(&p->a));
	assert_string_equal(p->a.run_command, "echo");
	done(p);

	BAD("entry 2 '' is not a host or URL: it is empty", "-H", "a,,b", "enum", "X");
	BAD("entry 2 ' b' is not a host or URL", "-H", "a, b", "enum", "X");
	BAD("a URL starts with http:// or https://", "-H", "a,ftp://b", "enum", "X");
	BAD("entry 2 'b/c'", "-H", "a,b/c", "enum", "X");
	p = OK("-H", "a,b", "compare", "enum", "X");
	assert_true(cli_is_fanout(&p->a));
	done(p);
	p = OK("-H", "a,b", "--target-timeout", "2.5", "--run-timeout", "60", "enum", "X");
	assert_int_equal(p->a.target_timeout_ms, 2500);
	assert_int_equal(p->a.run_timeout_ms, 60000);
	done(p);
	BAD("--run-timeout is a fan-out's", "-H", "a", "--run-timeout", "60", "enum", "X");
	BAD("--target-timeout 'x' is not a number of seconds", "-H", "a,b", "--target-timeout", "x",
	    "enum", "X");
	BAD("session over many hosts", "-H", "a,b", "session", "--backend", "cim");
	BAD("delete over many hosts", "-H", "a,b", "delete", "X", "K=1");
	BAD("--stdin cannot be used with many hosts", "-H", "a,b", "run", "--stdin", "cat");
}

static void test_throttle_bounds(void **state)
{
	(void)state;
	parsed *p = OK("-H", "a,b", "enum", "X", "--throttle", "1");
	assert_int_equal(p->a.throttle, 1);
	done(p);
	p = OK("-H", "a,b", "enum", "X", "--throttle=10000");
	assert_int_equal(p->a.throttle, 10000);
	done(p);
	/* Accepted with one host too, so scripts pass it whatever the size. */
	p = OK("-H", "a", "enum", "X", "--throttle", "5");
	assert_int_equal(p->a.throttle, 5);
	done(p);
	BAD("--throttle 0 is out of range (expected 1..10000)", "-H", "a,b", "enum", "X",
	    "--throttle", "0");
	BAD("--throttle 10001 is out of range", "-H", "a,b", "enum", "X", "--throttle", "10001");
	BAD("--throttle 99999999999999999999 is out of range", "-H", "a,b", "enum", "X",
	    "--throttle", "99999999999999999999");
	BAD("--throttle '-3' is not a number", "-H", "a,b", "enum", "X", "--throttle", "-3");
	BAD("--throttle 'x' is not a number", "-H", "a,b", "enum", "X", "--throttle", "x");
	BAD("option '--throttle' needs a value", "-H", "a,b", "enum", "X", "--throttle");
}

/* Writes text to a fresh temporary file; returns its path (caller frees
 * and unlinks). */
static char *hosts_file(const char *text)
{
	char *path = strdup("/tmp/remsess-test-hosts.XXXXXX");
	assert_non_null(path);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_hosts_file(void **state)
{
	(void)state;
	char *path = hosts_file("# the fleet\n"
	                        "\n"
	                        "web1.example\n"
	                        "   web2.example   # the second\r\n"
	                        "\t\n"
	                        "https://db1.example:5986/wsman\r\n"
	                        "  # indented comment\n"
	                        "[fe80::1%eth0]"); /* no newline at the end */
	parsed *p = OK("--hosts", path, "query", "SELECT * FROM Win32_OperatingSystem");
	assert_true(cli_is_fanout(&p->a));
	assert_int_equal(p->a.host_count, 4);
	assert_string_equal(p->a.hosts[0], "web1.example");
	assert_string_equal(p->a.hosts[1], "web2.example");
	assert_string_equal(p->a.hosts[2], "https://db1.example:5986/wsman");
	assert_string_equal(p->a.hosts[3], "[fe80::1%eth0]");
	done(p);
	unlink(path);
	free(path);

	/* One line is still a fan-out: the same JSON lines for every chunk of
	 * a split host file. */
	path = hosts_file("only.example\n");
	p = OK("enum", "X", "--hosts=" "/dev/null", "--hosts", path);
	assert_true(cli_is_fanout(&p->a));
	assert_int_equal(p->a.host_count, 1);
	done(p);
	BAD("give -H or --hosts, not both", "--hosts", path, "-H", "a", "enum", "X");
	unlink(path);
	free(path);

	char needle[200];
	path = hosts_file("good.example\n# fine\nbad host name\nlater.example\n");
	snprintf(needle, sizeof needle,
	         "--hosts %s line 3: 'bad host name' is not a host or URL: it contains a "
	         "space",
	         path);
	BAD(needle, "--hosts", path, "enum", "X");
	unlink(path);
	free(path);

	path = hosts_file("a\nb,c\n");
	snprintf(needle, sizeof needle, "--hosts %s line 2: 'b,c'", path);
	BAD(needle, "--hosts", path, "enum", "X");
	unlink(path);
	free(path);

	path = hosts_file("# nothing here\n\n");
	snprintf(needle, sizeof needle, "--hosts %s has no hosts", path);
	BAD(needle, "--hosts", path, "enum", "X");
	unlink(path);
	free(path);

	BAD("--hosts /nonexistent/hosts: cannot read it: No such file", "--hosts",
	    "/nonexistent/hosts", "enum", "X");
	path = hosts_file("a\nb\n");
	BAD("assoc over many hosts", "--hosts", path, "assoc", "X", "K=1");
	unlink(path);
	free(path);
}

static void test_fanout_result_lines(void **state)
{
	(void)state;
	/* A target refused before it ran (r NULL): its line and status. */
	parsed *p = OK("--json", "-H", "a,b", "enum", "X");
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int st = cli_print_fanout_result(f, stderr, &p->a, RMS_OP_ENUMERATE, "b", 1, NULL,
	                                 RMS_E_CONNECT, NULL);
	fclose(f);
	assert_int_equal(st, CLI_EXIT_CONNECT);
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "host")), "b");
	assert_int_equal(json_integer_value(json_object_get(j, "index")), 1);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "RMS_E_CONNECT");
	assert_int_equal(json_integer_value(json_object_get(j, "exit_status")), 3);
	assert_non_null(json_object_get(json_object_get(j, "error"), "message"));
	json_decref(j);
	free(text);
	done(p);

	p = OK("-H", "a,b", "enum", "X");
	text = NULL;
	f = open_memstream(&text, &len);
	st = cli_print_fanout_result(f, stderr, &p->a, RMS_OP_ENUMERATE, "b", 1, NULL,
	                             RMS_E_AUTH, NULL);
	fclose(f);
	assert_int_equal(st, CLI_EXIT_CONNECT);
	assert_non_null(strstr(text, "b: failed RMS_E_AUTH (exit status 3): "));
	free(text);
	done(p);
}

static void test_fanout_progress_only_on_a_terminal(void **state)
{
	(void)state;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cli_progress p;
	cli_progress_start(&p, f, false, 0);
	cli_fanout_progress(&p, 1, 0, 2, 3, 1000);
	fflush(f);
	assert_int_equal(len, 0);
	cli_progress_start(&p, f, true, 0);
	cli_fanout_progress(&p, 1, 1, 32, 500, 10);
	cli_fanout_progress(&p, 2, 1, 32, 500, 20); /* too soon: not redrawn */
	cli_fanout_progress(&p, 3, 1, 32, 500, 600);
	cli_progress_end(&p);
	fclose(f);
	assert_string_equal(text, "\r\033[K1/500 done, 1 failed, 32 running"
	                          "\r\033[K3/500 done, 1 failed, 32 running\r\033[K");
	free(text);
}

/* ---- ps ---------------------------------------------------------------- */

static void test_ps_takes_a_script_a_file_or_a_command(void **state)
{
	(void)state;
	parsed *p = OK("-H", "h", "--transport", "ssh", "ps", "1..3; 'x'");
	cli_args *a = &p->a;
	assert_int_equal(a->command, CLI_CMD_PS);
	assert_string_equal(cli_command_name(a->command), "ps");
	assert_string_equal(a->ps_script, "1..3; 'x'");
	assert_null(a->ps_file);
	assert_null(a->ps_command);
	assert_null(a->ps_subsystem);
	assert_false(a->ps_progress);
	assert_int_equal(a->props.count, 0);
	done(p);

	/* Options after the script, in both forms. */
	p = OK("-H", "h", "ps", "Get-Date", "--json", "--progress", "--subsystem", "pwsh7");
	assert_string_equal(p->a.ps_script, "Get-Date");
	assert_true(p->a.json);
	assert_true(p->a.ps_progress);
	assert_string_equal(p->a.ps_subsystem, "pwsh7");
	done(p);
	p = OK("-H", "h", "ps", "--subsystem=pwsh7", "1");
	assert_string_equal(p->a.ps_subsystem, "pwsh7");
	done(p);

	p = OK("-H", "h", "ps", "-f", "s.ps1");
	assert_string_equal(p->a.ps_file, "s.ps1");
	assert_null(p->a.ps_script); /* until cli_read_script */
	done(p);
	p = OK("-H", "h", "ps", "--file=s.ps1");
	assert_string_equal(p->a.ps_file, "s.ps1");
	done(p);
	p = OK("-H", "h", "ps", "-fs.ps1");
	assert_string_equal(p->a.ps_file, "s.ps1");
	done(p);
	p = OK("-H", "h", "ps", "--file", "-");
	assert_string_equal(p->a.ps_file, "-");
	done(p);

	/* A command with parameters: everything after the first '=' is the
	 * value; a name alone is a switch. */
	p = OK("-H", "h", "ps", "--command", "Get-ChildItem", "--param", "Path=/tmp/a=b",
	       "--param=Force", "--param", "Filter=");
	assert_string_equal(p->a.ps_command, "Get-ChildItem");
	assert_null(p->a.ps_script);
	assert_int_equal(p->a.props.count, 3);
	assert_string_equal(p->a.props.items[0].name, "Path");
	assert_string_equal(p->a.props.items[0].value, "/tmp/a=b");
	assert_string_equal(p->a.props.items[1].name, "Force");
	assert_null(p->a.props.items[1].value);
	assert_string_equal(p->a.props.items[2].name, "Filter");
	assert_string_equal(p->a.props.items[2].value, "");
	done(p);

	/* A script's own parameters (param($Name)) take --param too. */
	p = OK("-H", "h", "ps", "param($Name) \"hi $Name\"", "--param", "Name=you");
	assert_int_equal(p->a.props.count, 1);
	done(p);

	/* A script that starts with '-' comes after "--". */
	p = OK("-H", "h", "ps", "--", "-not $true");
	assert_string_equal(p->a.ps_script, "-not $true");
	done(p);
}

static void test_ps_usage_errors(void **state)
{
	(void)state;
	BAD("ps needs a SCRIPT, --file FILE or --command NAME", "-H", "h", "ps");
	BAD("ps needs a SCRIPT, --file FILE or --command NAME", "-H", "h", "ps", "--param", "A=1");
	BAD("ps runs one of a SCRIPT, --file or --command: give a SCRIPT or --file, not both", "-H",
	    "h", "ps", "1", "-f", "s.ps1");
	BAD("give a SCRIPT or --command, not both", "-H", "h", "ps", "1", "--command", "Get-Date");
	BAD("give --file or --command, not both", "-H", "h", "ps", "-f", "s.ps1", "--command",
	    "Get-Date");
	BAD("ps takes the SCRIPT as one argument: quote it (unexpected 'b')", "-H", "h", "ps", "a",
	    "b");
	BAD("ps: the SCRIPT is empty", "-H", "h", "ps", "");
	BAD("--file is empty", "-H", "h", "ps", "--file=");
	BAD("--command is empty", "-H", "h", "ps", "--command", "");
	BAD("--subsystem is empty", "-H", "h", "ps", "1", "--subsystem=");
	BAD("option '--file' needs a value", "-H", "h", "ps", "--file");
	BAD("option '-f' (--file) needs a value", "-H", "h", "ps", "-f");
	BAD("option '--progress' takes no value", "-H", "h", "ps", "1", "--progress=yes");
	BAD("--param is empty (expected NAME=VALUE, or NAME for a switch)", "-H", "h", "ps", "1",
	    "--param", "");
	BAD("--param '-Path=x': give the parameter's name without '-' (Name=VALUE, not "
	    "-Name=VALUE)",
	    "-H", "h", "ps", "--command", "Get-Item", "--param", "-Path=x");
	BAD("--param '=x' is not NAME=VALUE: the name before '=' is empty", "-H", "h", "ps", "1",
	    "--param", "=x");
	BAD("--param is only for the ps command", "-H", "h", "enum", "X", "--param", "A=1");
	BAD("--command is only for the ps command", "-H", "h", "get", "X", "--command", "Y");
	BAD("--file is only for the ps command", "-H", "h", "-f", "x", "run", "ls");
	BAD("--subsystem is only for the ps command", "-H", "h", "--transport", "ssh",
	    "--subsystem", "powershell", "run", "ls");
	BAD("--progress is only for the ps command", "-H", "h", "--progress", "enum", "X");
	BAD("ps runs PowerShell on the PSSession backend, not with --backend cim", "-H", "h",
	    "--backend", "cim", "ps", "1");
	BAD("ps needs a computer: give -H HOST or -H URL", "ps", "1");
	/* ps runs over many hosts (a fan-out). */
	parsed *many = OK("-H", "a,b", "--transport", "ssh", "ps", "1");
	assert_int_equal(many->a.host_count, 2);
	done(many);
	BAD("compare takes get, enum or query, not 'ps'", "-H", "h", "compare", "ps", "1");
}

/* A file with `content` (len bytes); its path, to unlink and free. */
static char *script_file(const char *content, size_t len)
{
	char *path = strdup("/tmp/remsess_test_ps_XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
	return path;
}

/* cli_read_script on `ps -f PATH`: its status, and the error or script. */
static int read_script(const char *path, FILE *in, char *msg, size_t msgsize)
{
	parsed *p = OK("-H", "h", "ps", "-f", path);
	int rc = cli_read_script(&p->a, in);
	if (rc)
		snprintf(msg, msgsize, "%s", p->a.error);
	else
		snprintf(msg, msgsize, "%s", p->a.ps_script);
	done(p);
	return rc;
}

static void test_ps_script_from_a_file(void **state)
{
	(void)state;
	char msg[600];
	/* The text as it is, and what the request gets. */
	char *path = script_file("Get-Date\n'two'\n", 15);
	parsed *p = OK("-H", "h", "ps", "--file", path);
	assert_int_equal(cli_read_script(&p->a, stdin), 0);
	assert_string_equal(p->a.ps_script, "Get-Date\n'two'\n");
	done(p);
	unlink(path);
	free(path);
	path = script_file("Get-Date", 8);
	p = OK("-H", "h", "ps", "--file", path);
	assert_int_equal(cli_read_script(&p->a, stdin), 0);
	rms_request *r = request_for(p);
	assert_int_equal(r->ps_ncmds, 1);
	assert_true(r->ps_cmds[0].is_script);
	assert_string_equal(r->ps_cmds[0].text, "Get-Date");
	rms_request_free(r);
	done(p);
	unlink(path);
	free(path);

	/* A UTF-8 byte-order mark is dropped. */
	path = script_file("\xEF\xBB\xBF" "1+1", 6);
	assert_int_equal(read_script(path, stdin, msg, sizeof msg), 0);
	assert_string_equal(msg, "1+1");
	unlink(path);
	free(path);

	/* Larger than one read. */
	size_t big = 100000;
	char *text = malloc(big + 1);
	memset(text, '#', big);
	text[big] = '\0';
	path = script_file(text, big);
	p = OK("-H", "h", "ps", "-f", path);
	assert_int_equal(cli_read_script(&p->a, stdin), 0);
	assert_int_equal(strlen(p->a.ps_script), big);
	done(p);
	unlink(path);
	free(path);
	free(text);

	/* "-": the stream given (stdin in main). */
	char in_text[] = "$PSVersionTable";
	FILE *in = fmemopen(in_text, strlen(in_text), "r");
	assert_int_equal(read_script("-", in, msg, sizeof msg), 0);
	fclose(in);
	assert_string_equal(msg, "$PSVersionTable");

	/* What cannot be a script is a usage error naming the file. */
	path = script_file("", 0);
	assert_int_equal(read_script(path, stdin, msg, sizeof msg), CLI_EXIT_USAGE);
	assert_non_null(strstr(msg, " is empty"));
	assert_non_null(strstr(msg, path));
	unlink(path);
	free(path);
	path = script_file("\xEF\xBB\xBF", 3);
	assert_int_equal(read_script(path, stdin, msg, sizeof msg), CLI_EXIT_USAGE);
	assert_non_null(strstr(msg, " is empty"));
	unlink(path);
	free(path);
	path = script_file("1\0002", 3);
	assert_int_equal(read_script(path, stdin, msg, sizeof msg), CLI_EXIT_USAGE);
	assert_non_null(strstr(msg, "has a NUL byte (is it a text file?)"));
	unlink(path);
	free(path);
	path = script_file("\xFF\xFE" "1\0", 4);
	assert_int_equal(read_script(path, stdin, msg, sizeof msg), CLI_EXIT_USAGE);
	assert_non_null(strstr(msg, "is UTF-16 text: save it as UTF-8"));
	unlink(path);
	free(path);
	assert_int_equal(read_script("/nonexistent/s.ps1", stdin, msg, sizeof msg),
	                 CLI_EXIT_USAGE);
	assert_string_equal(msg, "--file /nonexistent/s.ps1: cannot read it: No such file or "
	                         "directory");

	/* Nothing to read for a script argument or another command. */
	p = OK("-H", "h", "ps", "1");
	assert_int_equal(cli_read_script(&p->a, NULL), 0);
	assert_string_equal(p->a.ps_script, "1");
	done(p);
	p = OK("-H", "h", "enum", "X");
	assert_int_equal(cli_read_script(&p->a, NULL), 0);
	done(p);
}

static void test_ps_options_and_request(void **state)
{
	(void)state;
	parsed *p = OK("-H", "h", "--transport", "ssh", "-i", "key", "ps", "1", "--subsystem",
	               "pwsh7");
	rms_session_options o;
	cli_build_options(&o, &p->a, RMS_BACKEND_PSSESSION, NULL, NULL);
	assert_int_equal(o.pssession_v2.protocol, RMS_PS_PROTOCOL_POWERSHELL);
	assert_string_equal(o.pssession_v2.ssh_subsystem, "pwsh7");
	assert_int_equal(o.transport, RMS_TRANSPORT_SSH);
	assert_string_equal(o.ssh.identity_file, "key");
	rms_request *r = request_for(p);
	assert_int_equal(rms_request_kind(r), RMS_OP_POWERSHELL);
	assert_null(r->cim_namespace);
	assert_int_equal(r->ps_ncmds, 1);
	assert_true(r->ps_cmds[0].is_script);
	assert_string_equal(r->ps_cmds[0].text, "1");
	assert_int_equal(r->ps_cmds[0].nparams, 0);
	rms_request_free(r);
	done(p);

	/* Without --subsystem the library's default; over WinRM the options
	 * are the same (the library says it cannot do that yet). */
	p = OK("-H", "h", "ps", "1");
	cli_build_options(&o, &p->a, RMS_BACKEND_PSSESSION, NULL, NULL);
	assert_int_equal(o.pssession_v2.protocol, RMS_PS_PROTOCOL_POWERSHELL);
	assert_null(o.pssession_v2.ssh_subsystem);
	assert_int_equal(o.transport, RMS_TRANSPORT_WSMAN);
	done(p);

	/* run keeps the command shell. */
	p = OK("-H", "h", "run", "ls");
	cli_build_options(&o, &p->a, RMS_BACKEND_PSSESSION, NULL, NULL);
	assert_int_equal(o.pssession_v2.protocol, RMS_PS_PROTOCOL_SHELL);
	done(p);

	/* A command: string parameters and a switch, in order. */
	p = OK("-H", "h", "ps", "--command", "Get-ChildItem", "--param", "Path=/tmp",
	       "--param", "Force", "--param", "Depth=2");
	r = request_for(p);
	assert_int_equal(r->ps_ncmds, 1);
	const struct rms_ps_command *c = &r->ps_cmds[0];
	assert_false(c->is_script);
	assert_string_equal(c->text, "Get-ChildItem");
	assert_int_equal(c->nparams, 3);
	const char *s = NULL;
	assert_string_equal(c->params[0].name, "Path");
	assert_int_equal(rms_value_get_string(c->params[0].value, &s), 0);
	assert_string_equal(s, "/tmp");
	assert_string_equal(c->params[1].name, "Force");
	assert_null(c->params[1].value);
	assert_string_equal(c->params[2].name, "Depth");
	assert_int_equal(rms_value_get_string(c->params[2].value, &s), 0);
	assert_string_equal(s, "2");
	rms_request_free(r);
	done(p);
}

/* Captures what a cli_ps_out prints. */
typedef struct ps_capture {
	char *out, *err;
	size_t olen, elen;
	FILE *fo, *fe;
	cli_ps_out p;
} ps_capture;

static void ps_capture_start(ps_capture *c, bool json, bool progress)
{
	memset(c, 0, sizeof *c);
	c->fo = open_memstream(&c->out, &c->olen);
	c->fe = open_memstream(&c->err, &c->elen);
	assert_non_null(c->fo);
	assert_non_null(c->fe);
	cli_ps_out_init(&c->p, c->fo, c->fe, json, progress);
}

static void ps_capture_end(ps_capture *c)
{
	fclose(c->fo);
	fclose(c->fe);
}

static void ps_capture_free(ps_capture *c)
{
	free(c->out);
	free(c->err);
}

/* Print v (taken) on stream. */
static void ps_put(ps_capture *c, rms_ps_stream stream, rms_value *v)
{
	assert_non_null(v);
	assert_int_equal(cli_print_ps_object(&c->p, stream, v), 0);
	rms_value_free(v);
}

static rms_value *v_str(const char *s)
{
	rms_value *v = NULL;
	assert_int_equal(rms_value_new_string(&v, s), 0);
	return v;
}

static rms_value *v_int(int32_t n)
{
	rms_value *v = NULL;
	assert_int_equal(rms_value_new_sint32(&v, n), 0);
	return v;
}

static rms_value *v_obj(rms_psobject *o)
{
	rms_value *v = NULL;
	assert_int_equal(rms_value_new_object(&v, o), 0);
	return v;
}

static rms_psobject *new_obj(const char *type_name)
{
	rms_psobject *o = NULL;
	assert_int_equal(rms_psobject_new(&o), 0);
	if (type_name)
		assert_int_equal(rms_psobject_add_type_name(o, type_name), 0);
	return o;
}

static void obj_set(rms_psobject *o, const char *name, rms_value *v)
{
	assert_int_equal(rms_psobject_set(o, name, v, RMS_PS_PROP_EXTENDED), 0);
}

/* @{a=1; bb=2} as a pipeline returns it. */
static rms_value *v_hashtable(void)
{
	rms_psobject *o = new_obj("System.Collections.Hashtable");
	assert_int_equal(rms_psobject_set_collection(o, RMS_PS_COLLECTION_DICTIONARY), 0);
	assert_int_equal(rms_psobject_append_entry(o, v_str("a"), v_int(1)), 0);
	assert_int_equal(rms_psobject_append_entry(o, v_str("bb"), v_int(2)), 0);
	return v_obj(o);
}

/* [pscustomobject]@{Name='svc'; Status='Running'} */
static rms_value *v_custom(void)
{
	rms_psobject *o = new_obj("System.Management.Automation.PSCustomObject");
	obj_set(o, "Name", v_str("svc"));
	obj_set(o, "Status", v_str("Running"));
	return v_obj(o);
}

/* A warning, verbose or debug record: its message in
 * InformationalRecord_Message, as PowerShell serializes them. */
static rms_value *v_informational(const char *type, const char *msg)
{
	rms_psobject *o = new_obj(type);
	obj_set(o, "InformationalRecord_Message", v_str(msg));
	return v_obj(o);
}

static rms_value *v_error_record(const char *msg)
{
	rms_psobject *o = new_obj("System.Management.Automation.ErrorRecord");
	assert_int_equal(rms_psobject_set_to_string(o, msg), 0);
	obj_set(o, "FullyQualifiedErrorId", v_str("Microsoft.PowerShell.Commands.WriteErrorException"));
	return v_obj(o);
}

/* Write-Host's record: MessageData a HostInformationMessage. */
static rms_value *v_information(const char *msg)
{
	rms_psobject *data = new_obj("System.Management.Automation.HostInformationMessage");
	assert_int_equal(rms_psobject_set_to_string(data, msg), 0);
	obj_set(data, "Message", v_str(msg));
	rms_psobject *o = new_obj("System.Management.Automation.InformationRecord");
	obj_set(o, "MessageData", v_obj(data));
	return v_obj(o);
}

/* A ProgressRecord; Type an enum object (ToString and base) as PSRP
 * sends it. */
static rms_value *v_progress(const char *activity, const char *status, int pct, bool completed)
{
	rms_psobject *type = new_obj("System.Management.Automation.ProgressRecordType");
	assert_int_equal(rms_psobject_set_to_string(type, completed ? "Completed" : "Processing"),
	                 0);
	assert_int_equal(rms_psobject_set_base(type, v_int(completed ? 1 : 0)), 0);
	rms_psobject *o = new_obj(NULL);
	obj_set(o, "Activity", v_str(activity));
	obj_set(o, "ActivityId", v_int(0));
	obj_set(o, "StatusDescription", v_str(status));
	obj_set(o, "PercentComplete", v_int(pct));
	obj_set(o, "SecondsRemaining", v_int(-1));
	obj_set(o, "Type", v_obj(type));
	return v_obj(o);
}

static void test_ps_output_objects_as_text(void **state)
{
	(void)state;
	ps_capture c;
	ps_capture_start(&c, false, false);
	ps_put(&c, RMS_PS_OUTPUT, v_int(1));
	ps_put(&c, RMS_PS_OUTPUT, v_int(2));
	ps_put(&c, RMS_PS_OUTPUT, v_str("x"));
	ps_put(&c, RMS_PS_OUTPUT, v_hashtable());
	ps_put(&c, RMS_PS_OUTPUT, v_custom());
	ps_put(&c, RMS_PS_OUTPUT, v_str("after"));
	rms_value *null = NULL;
	assert_int_equal(rms_value_new_null(&null, RMS_TYPE_OBJECT), 0);
	ps_put(&c, RMS_PS_OUTPUT, null); /* $null: nothing, as at a prompt */
	ps_put(&c, RMS_PS_OUTPUT, v_str("")); /* an empty string: an empty line */
	ps_put(&c, RMS_PS_OUTPUT, v_obj(new_obj(NULL))); /* an empty object: nothing */
	ps_put(&c, RMS_PS_OUTPUT, v_str("two\nlines"));
	ps_capture_end(&c);
	/* A blank line around each object that takes several lines. */
	assert_string_equal(c.out, "1\n"
	                           "2\n"
	                           "x\n"
	                           "\n"
	                           "Name Value\n"
	                           "---- -----\n"
	                           "a    1\n"
	                           "bb   2\n"
	                           "\n"
	                           "Name   : svc\n"
	                           "Status : Running\n"
	                           "\n"
	                           "after\n"
	                           "\n"
	                           "two\n"
	                           "lines\n");
	assert_string_equal(c.err, "");
	ps_capture_free(&c);
}

static void test_ps_output_objects_as_json_lines(void **state)
{
	(void)state;
	ps_capture c;
	ps_capture_start(&c, true, false);
	ps_put(&c, RMS_PS_OUTPUT, v_int(1));
	ps_put(&c, RMS_PS_OUTPUT, v_str("x"));
	ps_put(&c, RMS_PS_OUTPUT, v_hashtable());
	ps_put(&c, RMS_PS_OUTPUT, v_custom());
	rms_value *null = NULL;
	assert_int_equal(rms_value_new_null(&null, RMS_TYPE_OBJECT), 0);
	ps_put(&c, RMS_PS_OUTPUT, null);
	ps_capture_end(&c);
	assert_string_equal(c.out, "1\n"
	                           "\"x\"\n"
	                           "{\"a\":1,\"bb\":2}\n"
	                           "{\"Name\":\"svc\",\"Status\":\"Running\"}\n"
	                           "null\n");
	assert_string_equal(c.err, "");
	ps_capture_free(&c);
}

static void test_ps_records_go_to_stderr_with_their_stream(void **state)
{
	(void)state;
	ps_capture c;
	ps_capture_start(&c, false, false);
	ps_put(&c, RMS_PS_WARNING,
	       v_informational("System.Management.Automation.WarningRecord", "w1"));
	ps_put(&c, RMS_PS_OUTPUT, v_int(5));
	ps_put(&c, RMS_PS_ERROR, v_error_record("e1"));
	ps_put(&c, RMS_PS_VERBOSE,
	       v_informational("System.Management.Automation.VerboseRecord", "v1\r\nv2\n"));
	ps_put(&c, RMS_PS_DEBUG, v_informational("System.Management.Automation.DebugRecord", "d1"));
	ps_put(&c, RMS_PS_INFORMATION, v_information("from Write-Host"));
	/* Progress is left out unless asked for (--progress). */
	ps_put(&c, RMS_PS_PROGRESS, v_progress("Copying", "3 of 10", 30, false));
	/* A record without a message still shows. */
	rms_psobject *bare = new_obj(NULL);
	obj_set(bare, "Something", v_str("else"));
	ps_put(&c, RMS_PS_WARNING, v_obj(bare));
	ps_capture_end(&c);
	assert_string_equal(c.out, "5\n");
	assert_string_equal(c.err, "WARNING: w1\n"
	                           "ERROR: e1\n"
	                           "VERBOSE: v1\n"
	                           "VERBOSE: v2\n"
	                           "DEBUG: d1\n"
	                           "INFORMATION: from Write-Host\n"
	                           "WARNING: @{Something=else}\n");
	ps_capture_free(&c);

	ps_capture_start(&c, false, true);
	ps_put(&c, RMS_PS_PROGRESS, v_progress("Copying", "3 of 10", 30, false));
	ps_put(&c, RMS_PS_PROGRESS, v_progress("Copying", "", -1, false));
	ps_put(&c, RMS_PS_PROGRESS, v_progress("Copying", "done", 100, true));
	ps_capture_end(&c);
	assert_string_equal(c.out, "");
	assert_string_equal(c.err, "PROGRESS: Copying: 3 of 10 (30%)\n"
	                           "PROGRESS: Copying\n"
	                           "PROGRESS: Copying: completed\n");
	ps_capture_free(&c);
}

static void test_ps_records_as_json_lines(void **state)
{
	(void)state;
	ps_capture c;
	ps_capture_start(&c, true, false);
	ps_put(&c, RMS_PS_WARNING,
	       v_informational("System.Management.Automation.WarningRecord", "w1"));
	ps_put(&c, RMS_PS_PROGRESS, v_progress("Copying", "3 of 10", 30, false)); /* left out */
	rms_psobject *bare = new_obj(NULL);
	obj_set(bare, "Something", v_str("else"));
	ps_put(&c, RMS_PS_DEBUG, v_obj(bare));
	ps_capture_end(&c);
	assert_string_equal(c.out, "");
	assert_string_equal(c.err,
	                    "{\"stream\":\"warning\",\"message\":\"w1\",\"record\":"
	                    "{\"InformationalRecord_Message\":\"w1\"}}\n"
	                    "{\"stream\":\"debug\",\"message\":null,\"record\":"
	                    "{\"Something\":\"else\"}}\n");
	ps_capture_free(&c);

	ps_capture_start(&c, true, true);
	ps_put(&c, RMS_PS_PROGRESS, v_progress("Copying", "3 of 10", 30, false));
	ps_capture_end(&c);
	json_t *j = json_loads(c.err, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "stream")), "progress");
	assert_string_equal(json_string_value(json_object_get(j, "message")), "Copying");
	json_t *rec = json_object_get(j, "record");
	assert_int_equal(json_integer_value(json_object_get(rec, "PercentComplete")), 30);
	assert_string_equal(json_string_value(json_object_get(rec, "StatusDescription")),
	                    "3 of 10");
	json_decref(j);
	ps_capture_free(&c);
}

static void test_ps_end_gives_the_exit_status(void **state)
{
	(void)state;
	/* Completed, also after non-terminating errors: 0, nothing more. */
	ps_capture c;
	ps_capture_start(&c, false, false);
	ps_put(&c, RMS_PS_ERROR, v_error_record("e1"));
	assert_int_equal(cli_print_ps_end(&c.p, RMS_ITEROVER, NULL, NULL), CLI_EXIT_OK);
	ps_capture_end(&c);
	assert_string_equal(c.out, "");
	assert_string_equal(c.err, "ERROR: e1\n");
	ps_capture_free(&c);

	/* Failed (a terminating error): 1, the message as for any remote
	 * failure. */
	rms__error_set(RMS_E_FAULT, RMS_PHASE_REMOTE, "boom");
	rms_value *record = v_error_record("boom");
	ps_capture_start(&c, false, false);
	assert_int_equal(cli_print_ps_end(&c.p, RMS_E_FAULT, rms_error_last(), record),
	                 CLI_EXIT_REMOTE);
	ps_capture_end(&c);
	assert_string_equal(c.out, "");
	assert_string_equal(c.err, "remsess: remote failed: boom\n");
	ps_capture_free(&c);

	/* With --json: the ErrorRecord on stderr, marked terminating, and the
	 * error object on stdout. */
	rms__error_set(RMS_E_FAULT, RMS_PHASE_REMOTE, "boom");
	ps_capture_start(&c, true, false);
	assert_int_equal(cli_print_ps_end(&c.p, RMS_E_FAULT, rms_error_last(), record),
	                 CLI_EXIT_REMOTE);
	ps_capture_end(&c);
	char *nl = strchr(c.err, '\n');
	assert_non_null(nl);
	*nl = '\0';
	assert_string_equal(c.err, "{\"stream\":\"error\",\"message\":\"boom\",\"record\":"
	                           "{\"FullyQualifiedErrorId\":"
	                           "\"Microsoft.PowerShell.Commands.WriteErrorException\"},"
	                           "\"terminating\":true}");
	assert_string_equal(nl + 1, "remsess: remote failed: boom\n");
	json_t *j = json_loads(c.out, 0, NULL);
	assert_non_null(j);
	json_t *e = json_object_get(j, "error");
	assert_string_equal(json_string_value(json_object_get(e, "name")), "RMS_E_FAULT");
	assert_string_equal(json_string_value(json_object_get(e, "message")), "boom");
	assert_int_equal(json_integer_value(json_object_get(e, "exit_status")), 1);
	json_decref(j);
	ps_capture_free(&c);
	rms_value_free(record);

	/* Stopped, a lost connection, PowerShell remoting over WinRM, a limit. */
	static const struct {
		int rc;
		int status;
		const char *err;
	} ends[] = {
	    {RMS_E_CANCELLED, CLI_EXIT_REMOTE, "remsess: powershell failed: the pipeline was stopped\n"},
	    {RMS_E_CONNECTION_LOST, CLI_EXIT_CONNECT, "remsess: powershell failed: gone\n"},
	    {RMS_E_NOT_IMPLEMENTED, CLI_EXIT_USAGE,
	     "remsess: not implemented in this build: PowerShell remoting over WinRM\n"},
	    {RMS_E_LIMIT, CLI_EXIT_LIMIT, "remsess: powershell failed: too big\n"},
	};
	static const char *const msgs[] = {"the pipeline was stopped", "gone",
	                                   "PowerShell remoting over WinRM", "too big"};
	for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
		rms__error_set(ends[i].rc, RMS_PHASE_NONE, "%s", msgs[i]);
		ps_capture_start(&c, false, false);
		assert_int_equal(cli_print_ps_end(&c.p, ends[i].rc, rms_error_last(), NULL),
		                 ends[i].status);
		ps_capture_end(&c);
		assert_string_equal(c.err, ends[i].err);
		ps_capture_free(&c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_list_is_a_fanout),
		cmocka_unit_test(test_throttle_bounds),
		cmocka_unit_test(test_hosts_file),
		cmocka_unit_test(test_fanout_result_lines),
		cmocka_unit_test(test_fanout_progress_only_on_a_terminal),
		cmocka_unit_test(test_progress_line_only_on_a_terminal),
	    cmocka_unit_test(test_every_value_option_in_separate_form),
	    cmocka_unit_test(test_every_value_option_in_equals_form),
	    cmocka_unit_test(test_ssh_options_in_both_forms),
	    cmocka_unit_test(test_protocol_option),
	    cmocka_unit_test(test_short_options_attached_and_separate),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_host_with_scheme_is_a_url),
	    cmocka_unit_test(test_options_may_follow_the_command),
	    cmocka_unit_test(test_help_and_version_anywhere),
	    cmocka_unit_test(test_key_value_keeps_everything_after_the_first_equals),
	    cmocka_unit_test(test_each_command_takes_its_arguments),
	    cmocka_unit_test(test_run_takes_the_rest_verbatim),
	    cmocka_unit_test(test_run_stdin_options),
	    cmocka_unit_test(test_double_dash_ends_options),
	    cmocka_unit_test(test_usage_errors_for_commands),
	    cmocka_unit_test(test_usage_errors_for_key_value),
	    cmocka_unit_test(test_usage_errors_for_options),
	    cmocka_unit_test(test_password_is_never_taken_from_argv),
	    cmocka_unit_test(test_password_from_environment),
	    cmocka_unit_test(test_password_prompted_when_no_environment),
	    cmocka_unit_test(test_no_terminal_is_a_usage_error_naming_the_variable),
	    cmocka_unit_test(test_no_password_asked_without_a_user_or_for_keys),
	    cmocka_unit_test(test_options_built_from_arguments),
	    cmocka_unit_test(test_library_option_errors_name_the_field),
	    cmocka_unit_test(test_requests_built_from_arguments),
	    cmocka_unit_test(test_request_rejects_what_the_library_rejects),
	    cmocka_unit_test(test_exit_status_for_every_error_code),
	    cmocka_unit_test(test_not_implemented_is_passed_through),
	    cmocka_unit_test(test_failure_names_phase_or_step),
	    cmocka_unit_test(test_json_error_object),
	    cmocka_unit_test(test_info_shows_both_backends),
	    cmocka_unit_test(test_session_shows_properties_and_no_connection),
	    cmocka_unit_test(test_utf8_cleaning_of_command_output),
	    cmocka_unit_test(test_help_mentions_every_command_and_no_password_option),
	    cmocka_unit_test(test_ps_takes_a_script_a_file_or_a_command),
	    cmocka_unit_test(test_ps_usage_errors),
	    cmocka_unit_test(test_ps_script_from_a_file),
	    cmocka_unit_test(test_ps_options_and_request),
	    cmocka_unit_test(test_ps_output_objects_as_text),
	    cmocka_unit_test(test_ps_output_objects_as_json_lines),
	    cmocka_unit_test(test_ps_records_go_to_stderr_with_their_stream),
	    cmocka_unit_test(test_ps_records_as_json_lines),
	    cmocka_unit_test(test_ps_end_gives_the_exit_status),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
