/*
 * remsess CLI — what the tool prints. All JSON is built with jansson, or
 * comes ready-made from the library (rms_instance_to_json and friends, which
 * use jansson too); none is put together by hand.
 */
#include <ctype.h>
#include <inttypes.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "output.h"

/* ---- exit status ------------------------------------------------------- */

int cli_exit_code(int rms_code)
{
	switch (rms_code) {
	case RMS_E_OK:
		return CLI_EXIT_OK;
	case RMS_E_INVALID_ARG:
	case RMS_E_OPTIONS:
	case RMS_E_UNSUPPORTED:
	case RMS_E_NOT_IMPLEMENTED:
		return CLI_EXIT_USAGE;
	case RMS_E_RESOLVE:
	case RMS_E_CONNECT:
	case RMS_E_TLS:
	case RMS_E_AUTH:
	case RMS_E_CONNECTION_LOST:
	case RMS_E_SSH:
	case RMS_E_HOST_KEY:
		return CLI_EXIT_CONNECT;
	case RMS_E_TIMEOUT:
	case RMS_E_ENVELOPE_TOO_LARGE:
	case RMS_E_LIMIT:
		return CLI_EXIT_LIMIT;
	default:
		/* RMS_E_FAULT, HTTP, PROTOCOL, NOT_FOUND, STATE, CANCELLED, the
		 * value errors of a reply that could not be decoded, local I/O and
		 * memory: the operation failed. ITEROVER/EAGAIN never reach here as
		 * failures; if they did, failing is the honest answer. */
		return CLI_EXIT_REMOTE;
	}
}

/* ---- help and version -------------------------------------------------- */

void cli_print_version(FILE *out)
{
	fprintf(out, "remsess %s\n", rms_version());
}

void cli_print_help(FILE *out)
{
	fputs("Usage: remsess [OPTIONS] COMMAND [ARGS] [OPTIONS]\n"
	      "\n"
	      "One remote-session interface over two backends: CIM (like New-CimSession)\n"
	      "and PSSession (like New-PSSession).\n"
	      "\n"
	      "Commands:\n"
	      "  info                          version, features and the two backends (offline)\n"
	      "  session                       create a session (--backend cim|pssession)\n"
	      "                                and show its properties and traffic\n"
	      "  sessions                      the user's shells on the computer, connected\n"
	      "                                or disconnected (Get-PSSession -ComputerName);\n"
	      "                                --disconnected: only the disconnected ones\n"
	      "  disconnect [SCRIPT] [--idle-timeout SECONDS]\n"
	      "                                open a PowerShell session, start SCRIPT,\n"
	      "                                disconnect, print the shell id and command id\n"
	      "  reconnect SHELL-ID [COMMAND-ID] [--keep]\n"
	      "                                connect to a disconnected shell, print what\n"
	      "                                the command (default: each of the shell's)\n"
	      "                                wrote meanwhile and until it ends, then close\n"
	      "                                the shell (--keep: disconnect again)\n"
	      "  identify                      WS-Identify the computer\n"
	      "  get CLASS [KEY=VALUE...]      one instance, by its keys\n"
	      "  enum CLASS                    all instances of a class\n"
	      "  getclass CLASS                the class schema: properties, types, keys, methods\n"
	      "  query WQL                     instances a WQL query selects\n"
	      "  invoke CLASS METHOD [KEY=VALUE...] [--arg NAME=VALUE...]\n"
	      "                                call a method (no KEY=VALUE: a static method)\n"
	      "  create CLASS PROP=VALUE...    create an instance\n"
	      "  set CLASS [KEY=VALUE...] --prop NAME=VALUE...\n"
	      "                                change properties of an instance\n"
	      "  delete CLASS KEY=VALUE...     delete an instance\n"
	      "  assoc CLASS [KEY=VALUE...] [--assoc-class C] [--result-class C]\n"
	      "        [--role R] [--result-role R] [--references]\n"
	      "                                associated instances (--references: the\n"
	      "                                association instances themselves)\n"
	      "  run [--stdin|--no-stdin] [--] COMMAND [ARGS...]\n"
	      "                                run a command on the computer; stdin is\n"
	      "                                forwarded to it unless it is a terminal\n"
	      "                                (--stdin: forward that too, until end of\n"
	      "                                input; --no-stdin: never)\n"
	      "  compare get|enum|query ARGS...\n"
	      "                                run on both backends and compare\n"
	      "  ps SCRIPT | -f FILE | --command NAME [--param NAME=VALUE...]\n"
	      "                                run PowerShell on the computer (PowerShell\n"
	      "                                remoting over WinRM, or over SSH with\n"
	      "                                --transport ssh); output\n"
	      "                                objects on stdout, the other streams on\n"
	      "                                stderr as \"WARNING: ...\"\n"
	      "\n",
	      out);
	/* In pieces: one literal would pass the 4095 bytes C99 promises. */
	fputs("Connection options:\n"
	      "  -H, --host HOST|URL       the computer: a name, an address, or a URL\n"
	      "                            (containing \"://\", e.g. https://h:5986/wsman)\n"
	      "                            A comma-separated list runs get, enum, query,\n"
	      "                            invoke or run on every one (a fan-out)\n"
	      "      --hosts FILE          fan-out over the hosts or URLs in FILE, one a line\n"
	      "                            (blank lines and # comments skipped)\n"
	      "      --throttle N          fan-out: at most N hosts in flight (1..10000,\n"
	      "                            default 32)\n"
	      "      --target-timeout SECONDS  fan-out: the longest one host may take, its\n"
	      "                            session's creation included (default: none)\n"
	      "      --run-timeout SECONDS fan-out: the longest the whole run may take; hosts\n"
	      "                            not done by then fail with a timeout\n"
	      "      --port N              1..65535 (default 5985 http, 5986 https, 22 ssh)\n"
	      "      --https               use HTTPS\n"
	      "  -u, --user USER           user; the password comes from REMSESS_PASSWORD or a\n"
	      "                            prompt on the terminal, never from the command line\n"
	      "      --auth MECH           basic, ntlm, negotiate, kerberos, certificate, none\n"
	      "      --cert FILE           client certificate (PEM), for --auth certificate\n"
	      "      --key FILE            its private key (PEM), if not in --cert\n"
	      "      --cacert FILE         CA certificates to verify the server with\n"
	      "      --insecure            do not verify the server's certificate\n"
	      "      --allow-unencrypted   allow Basic authentication over plain http\n"
	      "      --encryption MODE     auto (over http), always, never: WinRM message\n"
	      "                            encryption with ntlm, negotiate, kerberos\n"
	      "      --spn-service NAME    Kerberos service of the SPN (default HTTP)\n"
	      "      --spn-host NAME       host of the SPN (default: the host given)\n"
	      "      --delegate            forwardable Kerberos ticket (second hop)\n"
	      "      --keytab FILE         Kerberos login with a keytab, no password\n"
	      "      --no-channel-binding  over https, do not bind the login to the\n"
	      "                            server's certificate\n"
	      "      --proxy URL           HTTP proxy\n"
	      "      --timeout SECONDS     operation timeout (default 60)\n"
	      "      --max-envelope-kb N   MaxEnvelopeSize in KB, at least 8 (default: the\n"
	      "                            server's, else 500)\n"
	      "  -n, --namespace NS        CIM namespace (default root/cimv2)\n"
	      "      --backend B           cim, pssession or auto (default auto: CIM\n"
	      "                            operations go to CIM, run goes to the PSSession)\n"
	      "      --transport T         wsman (default) or ssh (PSSession only)\n"
	      "      --protocol P          what a PSSession speaks: shell (default) or\n"
	      "                            powershell (PowerShell remoting; ps implies it)\n"
	      "      --configuration NAME  PowerShell session configuration over WinRM\n"
	      "                            (default Microsoft.PowerShell)\n"
	      "  -i, --identity FILE       SSH private key\n"
	      "      --known-hosts FILE    SSH known hosts (default ~/.ssh/known_hosts)\n"
	      "      --accept-new-host-key record an SSH host key seen for the first time\n"
	      "      --ssh-agent           try ssh-agent identities\n"
	      "\n",
	      out);
	fputs("ps options:\n"
	      "  -f, --file FILE           the script from FILE (\"-\": stdin), UTF-8\n"
	      "      --command NAME        run one command instead of a script\n"
	      "      --param NAME=VALUE    a parameter of the command or script, as a string;\n"
	      "                            --param NAME alone is a switch (-NAME); repeatable\n"
	      "      --subsystem NAME      the SSH subsystem (default powershell)\n"
	      "      --progress            print progress records too (\"PROGRESS: ...\")\n"
	      "\n"
	      "sessions, disconnect, reconnect options:\n"
	      "      --disconnected        sessions: only the disconnected shells\n"
	      "      --idle-timeout SECONDS  disconnect: how long the server keeps the shell\n"
	      "      --keep                reconnect: disconnect the shell again, not close it\n"
	      "\n"
	      "Output options:\n"
	      "      --json                JSON lines on stdout\n"
	      "  -v, --verbose             log to stderr; repeat for more (-vv, -vvv)\n"
	      "  -h, --help                this help\n"
	      "      --version             the version\n"
	      "\n"
	      "Options may come before or after the command name (for run: before the\n"
	      "remote COMMAND). Forms: --opt VALUE, --opt=VALUE, -H VALUE, -HVALUE.\n"
	      "\n"
	      "Exit status: 0 success; 1 the remote side reported an error; 2 usage error,\n"
	      "invalid option, or not implemented in this build; 3 connection, TLS or\n"
	      "authentication failure; 4 a size or time limit was exceeded; run exits with\n"
	      "the remote command's status; ps exits 0 when the pipeline completed (even\n"
	      "after non-terminating errors), 1 when it failed. Over many hosts: 0 when\n"
	      "every host succeeded, else the highest status of one host.\n",
	      out);
}

void cli_print_usage_error(FILE *err, const char *message)
{
	fprintf(err, "remsess: %s\nTry 'remsess --help'.\n", message);
}

/* ---- JSON helpers ------------------------------------------------------ */

/* Print a jansson value as one line and release it. Returns 0 or -1. */
static int print_json(FILE *out, json_t *j)
{
	if (!j)
		return -1;
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (!s)
		return -1;
	fprintf(out, "%s\n", s);
	free(s);
	return 0;
}

static json_t *json_str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* jansson integers are signed 64-bit; larger values go as decimal strings,
 * as the library's own JSON does. */
static json_t *json_u64(uint64_t v)
{
	if (v <= (uint64_t)INT64_MAX)
		return json_integer((json_int_t)v);
	char buf[32];
	snprintf(buf, sizeof buf, "%" PRIu64, v);
	return json_string(buf);
}

/* Set and check in one place: json_object_set_new steals the value even
 * on failure. Returns nonzero if anything failed so far. */
static int jset(json_t *obj, const char *key, json_t *value, int *failed)
{
	if (!value || json_object_set_new(obj, key, value) != 0)
		*failed = 1;
	return *failed;
}

/* A library JSON line (owned by the library, freed here) parsed back so it
 * can be nested in an object of ours. */
static json_t *json_from_library(char *text)
{
	if (!text)
		return NULL;
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
	rms_free(text);
	return j;
}

/* ---- info -------------------------------------------------------------- */

static const struct {
	const char *label;
	const char *key;
	const char *cim;
	const char *pssession;
} backend_rows[] = {
	{"modelled on", "modelled_on", "New-CimSession", "New-PSSession"},
	{"when it connects", "when_it_connects", "lazily: at each operation",
	 "eagerly: at session creation"},
	{"connection held", "connection_held", "none between operations",
	 "one, for the session's life"},
	{"where the work runs", "where_the_work_runs", "on the client (CIM requests)",
	 "on the remote computer"},
	{"what the target needs", "what_the_target_needs", "a CIM provider behind WS-Man",
	 "a PowerShell or command endpoint"},
	{"size limits", "size_limits", "none: results pulled in pages",
	 "WinRM envelope and data caps"},
	{"transports", "transports", "WS-Man over HTTP/HTTPS", "WinRM over HTTP/HTTPS, SSH"},
};
#define BACKEND_ROWS (sizeof backend_rows / sizeof backend_rows[0])

static int info_json(FILE *out)
{
	int failed = 0;
	json_t *root = json_object();
	json_t *features = json_array();
	json_t *backends = json_object();
	json_t *cim = json_object();
	json_t *ps = json_object();
	if (!root || !features || !backends || !cim || !ps) {
		json_decref(root);
		json_decref(features);
		json_decref(backends);
		json_decref(cim);
		json_decref(ps);
		return CLI_EXIT_REMOTE;
	}
	for (const char *const *f = rms_features(); f && *f; f++) {
		json_t *s = json_string(*f);
		if (!s || json_array_append_new(features, s) != 0)
			failed = 1;
	}
	for (size_t i = 0; i < BACKEND_ROWS; i++) {
		jset(cim, backend_rows[i].key, json_string(backend_rows[i].cim), &failed);
		jset(ps, backend_rows[i].key, json_string(backend_rows[i].pssession), &failed);
	}
	jset(root, "version", json_string(rms_version()), &failed);
	jset(root, "features", features, &failed);
	jset(backends, "cim", cim, &failed);
	jset(backends, "pssession", ps, &failed);
	jset(root, "backends", backends, &failed);
	if (failed) {
		json_decref(root);
		return CLI_EXIT_REMOTE;
	}
	return print_json(out, root) ? CLI_EXIT_REMOTE : CLI_EXIT_OK;
}

int cli_print_info(FILE *out, bool json)
{
	if (json)
		return info_json(out);
	fprintf(out, "remsess %s\n", rms_version());
	fputs("features:", out);
	const char *sep = " ";
	for (const char *const *f = rms_features(); f && *f; f++) {
		fprintf(out, "%s%s", sep, *f);
		sep = ", ";
	}
	fputs("\n\n", out);
	int w0 = 0, w1 = (int)strlen("cim");
	for (size_t i = 0; i < BACKEND_ROWS; i++) {
		int l0 = (int)strlen(backend_rows[i].label), l1 = (int)strlen(backend_rows[i].cim);
		w0 = l0 > w0 ? l0 : w0;
		w1 = l1 > w1 ? l1 : w1;
	}
	fprintf(out, "%-*s  %-*s  %s\n", w0, "", w1, "cim", "pssession");
	for (size_t i = 0; i < BACKEND_ROWS; i++)
		fprintf(out, "%-*s  %-*s  %s\n", w0, backend_rows[i].label, w1, backend_rows[i].cim,
		        backend_rows[i].pssession);
	return CLI_EXIT_OK;
}

/* ---- sessions ---------------------------------------------------------- */

static const struct {
	const char *label;
	const char *key;
	size_t offset;
} stat_rows[] = {
	{"connections opened", "connections_opened", offsetof(rms_stats, connections_opened)},
	{"connections open", "connections_open", offsetof(rms_stats, connections_open)},
	{"requests", "requests", offsetof(rms_stats, requests)},
	{"round trips", "round_trips", offsetof(rms_stats, round_trips)},
	{"bytes sent", "bytes_sent", offsetof(rms_stats, bytes_sent)},
	{"bytes received", "bytes_received", offsetof(rms_stats, bytes_received)},
	{"largest request", "largest_request", offsetof(rms_stats, largest_request)},
	{"shells opened", "shells_opened", offsetof(rms_stats, shells_opened)},
	{"shells open", "shells_open", offsetof(rms_stats, shells_open)},
	{"operations", "operations", offsetof(rms_stats, operations)},
};
#define STAT_ROWS (sizeof stat_rows / sizeof stat_rows[0])

static uint64_t stat_at(const rms_stats *st, size_t i)
{
	uint64_t v;
	memcpy(&v, (const char *)st + stat_rows[i].offset, sizeof v);
	return v;
}

static int stats_json(json_t **out, const rms_stats *st)
{
	int failed = 0;
	json_t *o = json_object();
	if (!o)
		return -1;
	for (size_t i = 0; i < STAT_ROWS; i++)
		jset(o, stat_rows[i].key, json_u64(stat_at(st, i)), &failed);
	if (failed) {
		json_decref(o);
		return -1;
	}
	*out = o;
	return 0;
}

static int print_instance(FILE *out, const rms_instance *inst, bool json, bool *first);

int cli_print_shells(FILE *out, rms_instance *const *shells, size_t n, bool json)
{
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		int rc = print_instance(out, shells[i], json, &first);
		if (rc)
			return cli_report_error(out, stderr, json, "output", rc, rms_error_last());
	}
	return CLI_EXIT_OK;
}

int cli_print_session(FILE *out, const rms_session *s, bool json)
{
	rms_stats st = {.version = RMS_STATS_VERSION};
	int rc = rms_session_stats(s, &st);
	if (rc)
		return cli_report_error(out, stderr, json, "session", rc, rms_error_last());
	const char *backend = rms_backend_name(rms_session_backend(s));
	const char *state = rms_session_state_name(rms_session_state_get(s));
	if (json) {
		int failed = 0;
		json_t *o = json_object();
		json_t *traffic = NULL;
		if (!o || stats_json(&traffic, &st)) {
			json_decref(o);
			return CLI_EXIT_REMOTE;
		}
		jset(o, "Id", json_integer(rms_session_id(s)), &failed);
		jset(o, "Name", json_str_or_null(rms_session_name(s)), &failed);
		jset(o, "InstanceId", json_str_or_null(rms_session_instance_id(s)), &failed);
		jset(o, "ComputerName", json_str_or_null(rms_session_computer_name(s)), &failed);
		jset(o, "Protocol", json_str_or_null(rms_session_protocol(s)), &failed);
		jset(o, "Backend", json_str_or_null(backend), &failed);
		if (rms_session_backend(s) == RMS_BACKEND_PSSESSION)
			jset(o, "Speaks",
			     json_str_or_null(rms_ps_protocol_name(rms_session_ps_protocol(s))),
			     &failed);
		jset(o, "State", json_str_or_null(state), &failed);
		jset(o, "Endpoint", json_str_or_null(rms_session_endpoint(s)), &failed);
		jset(o, "traffic", traffic, &failed);
		if (failed) {
			json_decref(o);
			return CLI_EXIT_REMOTE;
		}
		return print_json(out, o) ? CLI_EXIT_REMOTE : CLI_EXIT_OK;
	}
	fprintf(out, "Id           : %" PRIu32 "\n", rms_session_id(s));
	fprintf(out, "Name         : %s\n", rms_session_name(s));
	fprintf(out, "InstanceId   : %s\n", rms_session_instance_id(s));
	fprintf(out, "ComputerName : %s\n", rms_session_computer_name(s));
	fprintf(out, "Protocol     : %s\n", rms_session_protocol(s));
	fprintf(out, "Backend      : %s\n", backend);
	if (rms_session_backend(s) == RMS_BACKEND_PSSESSION)
		fprintf(out, "Speaks       : %s\n",
		        rms_ps_protocol_name(rms_session_ps_protocol(s)));
	fprintf(out, "State        : %s\n", state);
	fprintf(out, "Endpoint     : %s\n", rms_session_endpoint(s));
	fputs("\n", out);
	/* "label: value", the values aligned one space after the longest label. */
	size_t w = 0;
	for (size_t i = 0; i < STAT_ROWS; i++)
		w = strlen(stat_rows[i].label) > w ? strlen(stat_rows[i].label) : w;
	for (size_t i = 0; i < STAT_ROWS; i++)
		fprintf(out, "%s: %*s%" PRIu64 "\n", stat_rows[i].label,
		        (int)(w - strlen(stat_rows[i].label)), "", stat_at(&st, i));
	return CLI_EXIT_OK;
}

/* ---- errors ------------------------------------------------------------ */

/* The command-line spelling of a library option field, so the message
 * points at what the user typed. */
static const char *option_for_field(const char *field)
{
	static const struct {
		const char *field, *option;
	} map[] = {
	    {"host", "-H"},
	    {"url", "-H"},
	    {"path", "-H"},
	    {"port", "--port"},
	    {"scheme", "--https"},
	    {"user", "--user"},
	    {"password", "REMSESS_PASSWORD"},
	    {"auth", "--auth"},
	    {"client_cert", "--cert"},
	    {"client_key", "--key"},
	    {"ca_file", "--cacert"},
	    {"tls_insecure", "--insecure"},
	    {"allow_unencrypted", "--allow-unencrypted"},
	    {"proxy", "--proxy"},
	    {"operation_timeout_ms", "--timeout"},
	    {"timeouts_v4.open_timeout_ms", "--timeout"},
	    {"max_envelope_size", "--max-envelope-kb"},
	    {"transport", "--transport"},
	    {"pssession_v2.protocol", "--protocol"},
	    {"pssession.shell_uri", "--configuration"},
	    {"cim.cim_namespace", "--namespace"},
	    {"ssh.identity_file", "--identity"},
	    {"ssh.known_hosts", "--known-hosts"},
	};
	if (!field)
		return NULL;
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(map[i].field, field) == 0)
			return map[i].option;
	return NULL;
}

/* The members of the error object, shared by {"error":{...}} and the
 * fan-out's per-target lines. NULL on out of memory. */
static json_t *error_object(int rc, const rms_error *e)
{
	int code = e ? rms_error_code(e) : rc;
	int failed = 0;
	json_t *o = json_object();
	if (!o)
		return NULL;
	jset(o, "code", json_integer(code), &failed);
	jset(o, "name", json_str_or_null(rms_error_code_name(code)), &failed);
	jset(o, "phase", json_string(rms_phase_name(rms_error_phase(e))), &failed);
	jset(o, "backend", json_string(rms_backend_name(rms_error_backend(e))), &failed);
	jset(o, "message", json_string(e ? rms_error_message(e) : rms_error_code_message(code)),
	     &failed);
	jset(o, "exit_status", json_integer(cli_exit_code(code)), &failed);
	jset(o, "field", json_str_or_null(rms_error_field(e)), &failed);
	jset(o, "http_status", json_integer(rms_error_http_status(e)), &failed);
	jset(o, "os_errno", json_integer(rms_error_os_errno(e)), &failed);
	jset(o, "fault_code", json_str_or_null(rms_error_fault_code(e)), &failed);
	jset(o, "fault_subcode", json_str_or_null(rms_error_fault_subcode(e)), &failed);
	jset(o, "fault_reason", json_str_or_null(rms_error_fault_reason(e)), &failed);
	jset(o, "fault_detail", json_str_or_null(rms_error_fault_detail(e)), &failed);
	jset(o, "wsman_code", json_integer(rms_error_wsman_code(e)), &failed);
	jset(o, "wsman_message", json_str_or_null(rms_error_wsman_message(e)), &failed);
	jset(o, "machine", json_str_or_null(rms_error_machine(e)), &failed);
	jset(o, "wmi_code", json_integer(rms_error_wmi_code(e)), &failed);
	jset(o, "cim_status", json_integer(rms_error_cim_status(e)), &failed);
	jset(o, "provider", json_str_or_null(rms_error_provider(e)), &failed);
	jset(o, "limit_name", json_str_or_null(rms_error_limit_name(e)), &failed);
	jset(o, "limit_value", json_u64(rms_error_limit_value(e)), &failed);
	jset(o, "limit_actual", json_u64(rms_error_limit_actual(e)), &failed);
	jset(o, "ssh_code", json_integer(rms_error_ssh_code(e)), &failed);
	jset(o, "items_delivered", json_u64(rms_error_items_delivered(e)), &failed);
	if (failed) {
		json_decref(o);
		return NULL;
	}
	return o;
}

char *cli_error_json(int rc, const rms_error *e)
{
	int failed = 0;
	json_t *o = error_object(rc, e);
	json_t *root = json_object();
	if (!o || !root) {
		json_decref(o);
		json_decref(root);
		return NULL;
	}
	jset(root, "error", o, &failed);
	char *s = failed ? NULL : json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	return s;
}

/* The library's messages name its option fields ("set allow_unencrypted",
 * "ssh.accept_new_host_key", "max_envelope_size"); the user typed flags.
 * Each field name standing as a word is written as its flag (malloc'd;
 * NULL: use msg as it is). */
static char *flags_for_fields(const char *msg)
{
	static const struct {
		const char *field, *flag;
	} words[] = {
	    {"ssh.accept_new_host_key", "--accept-new-host-key"},
	    {"ssh.known_hosts", "--known-hosts"},
	    {"ssh.identity_file", "--identity"},
	    {"auth_v3.encryption", "--encryption"},
	    {"auth_v3.spn_host", "--spn-host"},
	    {"auth_v3.spn_service", "--spn-service"},
	    {"auth_v3.keytab", "--keytab"},
	    {"auth_v3.no_channel_binding", "--no-channel-binding"},
	    {"allow_unencrypted", "--allow-unencrypted"},
	    {"max_envelope_size", "--max-envelope-kb"},
	    {"tls_insecure", "--insecure"},
	    {"spn_host", "--spn-host"},
	    {"spn_service", "--spn-service"},
	    {"no_channel_binding", "--no-channel-binding"},
	    {"accept_new_host_key", "--accept-new-host-key"},
	    {"operation_timeout_ms", "--timeout"},
	    {"open_timeout_ms", "--timeout"},
	};
	if (!msg)
		return NULL;
	size_t cap = strlen(msg) * 2 + 64, n = 0;
	char *outs = malloc(cap);
	if (!outs)
		return NULL;
	for (const char *p = msg; *p;) {
		bool word_start = p == msg || !(isalnum((unsigned char)p[-1]) || p[-1] == '_' ||
		                                p[-1] == '.' || p[-1] == '-');
		size_t k = 0;
		for (; word_start && k < sizeof words / sizeof words[0]; k++) {
			size_t fl = strlen(words[k].field);
			/* p holds the whole field before its next byte is read. */
			if (strncmp(p, words[k].field, fl) == 0 &&
			    !(isalnum((unsigned char)p[fl]) || p[fl] == '_'))
				break;
		}
		if (word_start && k < sizeof words / sizeof words[0]) {
			size_t gl = strlen(words[k].flag);
			if (n + gl + 1 > cap)
				break;
			memcpy(outs + n, words[k].flag, gl);
			n += gl;
			p += strlen(words[k].field);
		} else {
			if (n + 2 > cap)
				break;
			outs[n++] = *p++;
		}
	}
	outs[n] = '\0';
	return outs;
}

int cli_report_error(FILE *out, FILE *err, bool json, const char *step, int rc, const rms_error *e)
{
	int code = e ? rms_error_code(e) : rc;
	if (code == 0)
		code = rc ? rc : RMS_E_INTERNAL;
	char *flagged = flags_for_fields(e ? rms_error_message(e) : NULL);
	const char *msg = flagged ? flagged : e ? rms_error_message(e) : rms_error_code_message(code);
	const char *field = rms_error_field(e);
	if (code == RMS_E_NOT_IMPLEMENTED) {
		/* The library's message usually says so itself; say it once. */
		if (msg && strstr(msg, "not implemented in this build"))
			fprintf(err, "remsess: %s\n", msg);
		else
			fprintf(err, "remsess: not implemented in this build: %s\n", msg);
	} else if ((code == RMS_E_OPTIONS || code == RMS_E_INVALID_ARG) && field) {
		const char *opt = option_for_field(field);
		if (opt)
			fprintf(err, "remsess: invalid %s %s (%s): %s\n",
			        code == RMS_E_OPTIONS ? "option" : "argument", field, opt, msg);
		else
			fprintf(err, "remsess: invalid %s %s: %s\n",
			        code == RMS_E_OPTIONS ? "option" : "argument", field, msg);
	} else {
		rms_phase ph = rms_error_phase(e);
		const char *phase = ph != RMS_PHASE_NONE ? rms_phase_name(ph) : step;
		fprintf(err, "remsess: %s failed: %s\n", phase ? phase : "operation", msg);
	}
	free(flagged);
	if (json) {
		char *line = cli_error_json(code, e);
		if (line) {
			fprintf(out, "%s\n", line);
			free(line);
		}
	}
	return cli_exit_code(code);
}

void cli_log_stderr(rms_log_level level, const char *message, void *userdata)
{
	static const char *const names[] = {"error", "warning", "info", "debug", "trace"};
	const int *verbose = userdata;
	/* Without -v an error line would only repeat the message the tool
	 * prints when the failing call returns. */
	if (level == RMS_LOG_ERROR && (!verbose || *verbose == 0))
		return;
	const char *name = (unsigned)level < sizeof names / sizeof names[0] ? names[level] : "log";
	fprintf(stderr, "remsess: [%s] %s\n", name, message);
}

/* ---- results ----------------------------------------------------------- */

static int print_instance(FILE *out, const rms_instance *inst, bool json, bool *first)
{
	char *text = NULL;
	int rc = json ? rms_instance_to_json(&text, inst) : rms_instance_to_text(&text, inst);
	if (rc)
		return rc;
	if (!json && !*first)
		fputs("\n", out);
	*first = false;
	size_t len = strlen(text);
	fputs(text, out);
	if (len == 0 || text[len - 1] != '\n')
		fputs("\n", out);
	rms_free(text);
	return 0;
}

/* Length of the valid sequence at p (1..4), 0 if invalid; *partial when
 * the bytes so far are a valid start cut off by the end of the buffer. */
static size_t utf8_seq(const unsigned char *p, size_t avail, bool *partial)
{
	*partial = false;
	unsigned char c = p[0];
	size_t need;
	unsigned char lo = 0x80, hi = 0xBF;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		need = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		need = 3;
		if (c == 0xE0)
			lo = 0xA0;
		if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 4;
		if (c == 0xF0)
			lo = 0x90;
		if (c == 0xF4)
			hi = 0x8F;
	} else {
		return 0;
	}
	for (size_t k = 1; k < need; k++) {
		if (k >= avail) {
			*partial = true;
			return 0;
		}
		unsigned char lim_lo = k == 1 ? lo : 0x80, lim_hi = k == 1 ? hi : 0xBF;
		if (p[k] < lim_lo || p[k] > lim_hi)
			return 0;
	}
	return need;
}

char *cli_utf8_clean(cli_utf8_carry *carry, const void *data, size_t len, bool final,
                     size_t *out_len)
{
	size_t total = carry->len + len;
	unsigned char *in = malloc(total ? total : 1);
	/* Each input byte becomes at most 3 output bytes (U+FFFD). */
	char *out = malloc(total * 3 + 1);
	if (!in || !out) {
		free(in);
		free(out);
		return NULL;
	}
	memcpy(in, carry->bytes, carry->len);
	if (len)
		memcpy(in + carry->len, data, len);
	carry->len = 0;
	size_t o = 0;
	for (size_t i = 0; i < total;) {
		bool partial;
		size_t n = utf8_seq(in + i, total - i, &partial);
		if (n) {
			memcpy(out + o, in + i, n);
			o += n;
			i += n;
		} else if (partial && !final) {
			memcpy(carry->bytes, in + i, total - i);
			carry->len = total - i;
			break;
		} else {
			memcpy(out + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
		}
	}
	free(in);
	out[o] = '\0';
	*out_len = o;
	return out;
}

static int print_chunk_json(FILE *out, rms_stream stream, cli_utf8_carry *carry, const void *data,
                            size_t len, bool final)
{
	size_t n;
	char *clean = cli_utf8_clean(carry, data, len, final, &n);
	if (!clean)
		return -1;
	if (n == 0) {
		free(clean);
		return 0;
	}
	int failed = 0;
	json_t *o = json_object();
	if (!o) {
		free(clean);
		return -1;
	}
	jset(o, "stream", json_string(stream == RMS_STREAM_STDERR ? "stderr" : "stdout"), &failed);
	jset(o, "data", json_stringn(clean, n), &failed);
	free(clean);
	if (failed) {
		json_decref(o);
		return -1;
	}
	int rc = print_json(out, o);
	fflush(out);
	return rc;
}

/* Called right after the failing call, whose details are the thread's
 * last error (an op's failure is that too: rms_op_error keeps the record). */
static int op_failure(FILE *out, FILE *err, const cli_args *a, rms_op_kind kind, int rc)
{
	return cli_report_error(out, err, a->json, rms_op_kind_name(kind), rc, rms_error_last());
}

static int print_run(FILE *out, FILE *err, const cli_args *a, rms_op *op)
{
	cli_utf8_carry carry[3] = {{{0}, 0}, {{0}, 0}, {{0}, 0}};
	rms_chunk chunk;
	int rc;
	while ((rc = rms_op_next_chunk(op, &chunk)) == 0) {
		unsigned si = chunk.stream == RMS_STREAM_STDERR ? 2 : 1;
		if (a->json) {
			if (print_chunk_json(out, chunk.stream, &carry[si], chunk.data, chunk.len,
			                     false))
				return cli_report_error(out, err, a->json, "run", RMS_E_NOMEM,
				                        NULL);
		} else {
			FILE *f = si == 2 ? err : out;
			fwrite(chunk.data, 1, chunk.len, f);
			fflush(f);
		}
	}
	if (rc != RMS_ITEROVER)
		return op_failure(out, err, a, RMS_OP_RUN, rc);
	int code = 0;
	if ((rc = rms_op_exit_code(op, &code)))
		return op_failure(out, err, a, RMS_OP_RUN, rc);
	if (a->json) {
		for (unsigned si = 1; si <= 2; si++)
			if (carry[si].len &&
			    print_chunk_json(out, si == 2 ? RMS_STREAM_STDERR : RMS_STREAM_STDOUT,
			                     &carry[si], NULL, 0, true))
				return cli_report_error(out, err, a->json, "run", RMS_E_NOMEM,
				                        NULL);
		int failed = 0;
		json_t *o = json_object();
		if (o && jset(o, "exit_code", json_integer(code), &failed)) {
			json_decref(o);
			o = NULL;
		}
		if (print_json(out, o))
			return cli_report_error(out, err, a->json, "run", RMS_E_NOMEM, NULL);
	}
	if (code >= 0 && code <= 255)
		return code;
	/* An exit status has 8 bits; a Windows code such as 0xC0000005 or -1
	 * would wrap, possibly to 0. Keep it a failure and say what it was. */
	fprintf(err,
	        "remsess: the remote command exited with %d, which does not fit in an exit "
	        "status; exiting with 1\n",
	        code);
	return 1;
}

static int print_created(FILE *out, FILE *err, const cli_args *a, const rms_ref *ref)
{
	if (!ref)
		return CLI_EXIT_OK;
	rms_value *v = NULL;
	char *text = NULL;
	int rc = rms_value_new_reference(&v, ref);
	if (rc == 0)
		rc = a->json ? rms_value_to_json(&text, v) : rms_value_to_text(&text, v);
	rms_value_free(v);
	if (rc)
		return cli_report_error(out, err, a->json, "create", rc, rms_error_last());
	if (!a->json) {
		fprintf(out, "created: %s\n", text);
		rms_free(text);
		return CLI_EXIT_OK;
	}
	int failed = 0;
	json_t *o = json_object();
	json_t *r = json_from_library(text);
	if (!o || !r) {
		json_decref(o);
		json_decref(r);
		return cli_report_error(out, err, a->json, "create", RMS_E_NOMEM, NULL);
	}
	jset(o, "created", r, &failed);
	if (failed || print_json(out, o)) {
		if (failed)
			json_decref(o);
		return cli_report_error(out, err, a->json, "create", RMS_E_NOMEM, NULL);
	}
	return CLI_EXIT_OK;
}

/* ---- PowerShell pipelines ---------------------------------------------- */

void cli_ps_out_init(cli_ps_out *p, FILE *out, FILE *err, bool json, bool progress)
{
	*p = (cli_ps_out){ .out = out, .err = err, .json = json, .progress = progress };
}

static int ps_output_text(cli_ps_out *p, const rms_value *v)
{
	if (rms_value_is_null(v))
		return 0;
	char *text = NULL;
	int rc = rms_value_to_display(&text, v);
	if (rc)
		return rc;
	size_t len = strlen(text);
	bool object = rms_value_type(v) == RMS_TYPE_OBJECT;
	/* An empty object (@{}) shows nothing; an empty string is a line. */
	if (len == 0 && object) {
		rms_free(text);
		return 0;
	}
	const char *nl = memchr(text, '\n', len);
	bool block = object && nl && (size_t)(nl - text) + 1 < len;
	if (p->printed && (block || p->last_block))
		fputc('\n', p->out);
	fputs(text, p->out);
	if (len == 0 || text[len - 1] != '\n')
		fputc('\n', p->out);
	rms_free(text);
	p->printed = true;
	p->last_block = block;
	return 0;
}

/* A property's text: a string's (or another text type's), or an object's
 * ToString. NULL when it has neither. */
static const char *ps_prop_text(const rms_psobject *o, const char *name)
{
	const rms_value *v = rms_psobject_get(o, name);
	const rms_psobject *inner = NULL;
	const char *s = NULL;
	if (!v || rms_value_is_null(v))
		return NULL;
	if (rms_value_get_object(v, &inner) == 0)
		return rms_psobject_to_string(inner);
	return rms_value_get_text(v, &s) == 0 ? s : NULL;
}

static bool ps_prop_int(const rms_psobject *o, const char *name, int64_t *out)
{
	const rms_value *v = rms_psobject_get(o, name);
	const rms_psobject *inner = NULL;
	if (v && rms_value_get_object(v, &inner) == 0 && inner)
		v = rms_psobject_base(inner);
	return v && rms_value_as_int64(v, out) == 0;
}

/* "Activity: status (42%)", from a ProgressRecord's properties. */
static void print_progress(FILE *err, const rms_value *v)
{
	const rms_psobject *o = NULL;
	const char *activity = NULL;
	if (rms_value_get_object(v, &o) == 0 && o)
		activity = ps_prop_text(o, "Activity");
	if (!activity) {
		const char *msg = rms_ps_record_message(v);
		fprintf(err, "PROGRESS: %s\n", msg ? msg : "");
		return;
	}
	/* ProgressRecordType: Processing (0) or Completed (1), as an enum
	 * object (ToString and base) or its name. */
	const char *type = ps_prop_text(o, "Type");
	int64_t t = 0;
	bool completed = (type && strcmp(type, "Completed") == 0) ||
	                 (!type && ps_prop_int(o, "Type", &t) && t == 1);
	const char *status = ps_prop_text(o, "StatusDescription");
	int64_t pct = -1;
	fprintf(err, "PROGRESS: %s", activity);
	if (completed)
		fputs(": completed", err);
	else if (status && *status)
		fprintf(err, ": %s", status);
	if (!completed && ps_prop_int(o, "PercentComplete", &pct) && pct >= 0)
		fprintf(err, " (%" PRId64 "%%)", pct);
	fputc('\n', err);
}

/* Every line of the message with the prefix; a trailing newline and the CR
 * of a CRLF are dropped. */
static void print_record_lines(FILE *err, const char *label, const char *msg)
{
	size_t len = strlen(msg);
	while (len && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
		len--;
	size_t start = 0;
	do {
		const char *nl = memchr(msg + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - msg) : len;
		size_t cut = end > start && msg[end - 1] == '\r' ? end - 1 : end;
		fprintf(err, "%s: %.*s\n", label, (int)(cut - start), msg + start);
		start = end + 1;
	} while (start < len);
}

static int ps_record_json(cli_ps_out *p, rms_ps_stream stream, const rms_value *v,
                          bool terminating)
{
	char *text = NULL;
	int rc = rms_value_to_json(&text, v);
	if (rc)
		return rc;
	json_t *record = json_from_library(text);
	json_t *o = json_object();
	if (!record || !o) {
		json_decref(record);
		json_decref(o);
		return RMS_E_NOMEM;
	}
	int failed = 0;
	jset(o, "stream", json_string(rms_ps_stream_name(stream)), &failed);
	jset(o, "message", json_str_or_null(rms_ps_record_message(v)), &failed);
	jset(o, "record", record, &failed);
	if (terminating)
		jset(o, "terminating", json_true(), &failed);
	if (failed) {
		json_decref(o);
		return RMS_E_NOMEM;
	}
	return print_json(p->err, o) ? RMS_E_NOMEM : 0;
}

static int ps_record_text(cli_ps_out *p, rms_ps_stream stream, const rms_value *v)
{
	if (stream == RMS_PS_PROGRESS) {
		print_progress(p->err, v);
		return 0;
	}
	char label[16];
	const char *name = rms_ps_stream_name(stream);
	size_t i = 0;
	for (; name && name[i] && i + 1 < sizeof label; i++)
		label[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 'a' + 'A' : name[i]);
	label[i] = '\0';
	const char *msg = rms_ps_record_message(v);
	if (msg) {
		print_record_lines(p->err, label, msg);
		return 0;
	}
	/* No message: the record as text, so it is not lost. */
	char *text = NULL;
	int rc = rms_value_to_text(&text, v);
	if (rc)
		return rc;
	print_record_lines(p->err, label, text);
	rms_free(text);
	return 0;
}

int cli_print_ps_object(cli_ps_out *p, rms_ps_stream stream, const rms_value *v)
{
	int rc = 0;
	if (stream == RMS_PS_OUTPUT) {
		if (!p->json)
			return ps_output_text(p, v);
		char *text = NULL;
		if ((rc = rms_value_to_json(&text, v)))
			return rc;
		fprintf(p->out, "%s\n", text);
		rms_free(text);
		return 0;
	}
	if (stream == RMS_PS_PROGRESS && !p->progress)
		return 0;
	/* What was printed on out comes first where both are one terminal. */
	fflush(p->out);
	rc = p->json ? ps_record_json(p, stream, v, false) : ps_record_text(p, stream, v);
	fflush(p->err);
	return rc;
}

int cli_print_ps_end(cli_ps_out *p, int rc, const rms_error *e, const rms_value *record)
{
	if (rc == RMS_ITEROVER || rc == 0)
		return CLI_EXIT_OK;
	fflush(p->out);
	if (p->json && record)
		(void)ps_record_json(p, RMS_PS_ERROR, record, true);
	return cli_report_error(p->out, p->err, p->json, rms_op_kind_name(RMS_OP_POWERSHELL), rc,
	                        e);
}

static int print_ps(FILE *out, FILE *err, const cli_args *a, rms_op *op)
{
	cli_ps_out p;
	cli_ps_out_init(&p, out, err, a->json, a->ps_progress);
	rms_ps_stream stream;
	rms_value *v = NULL;
	int rc;
	while ((rc = rms_op_next_object(op, &stream, &v)) == 0) {
		int prc = cli_print_ps_object(&p, stream, v);
		rms_value_free(v);
		v = NULL;
		if (prc)
			return cli_report_error(out, err, a->json, "output", prc, rms_error_last());
		/* Each object out as it comes: a pipeline may run for long. */
		fflush(out);
	}
	const rms_error *e = rms_op_error(op);
	return cli_print_ps_end(&p, rc, e ? e : rms_error_last(), rms_op_error_record(op));
}

uint64_t cli_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void cli_progress_start(cli_progress *p, FILE *err, bool tty, uint64_t now_ms)
{
	*p = (cli_progress){ .err = err, .tty = tty, .start_ms = now_ms, .last_ms = now_ms };
}

void cli_progress_clear(cli_progress *p)
{
	if (p->shown) {
		fputs("\r\033[K", p->err);
		fflush(p->err);
		p->shown = false;
	}
}

void cli_progress_tick(cli_progress *p, uint64_t now_ms)
{
	p->count++;
	if (!p->tty || now_ms - p->start_ms < 1000 || (p->shown && now_ms - p->last_ms < 500))
		return;
	double secs = (double)(now_ms - p->start_ms) / 1000.0;
	fprintf(p->err, "\r\033[K%" PRIu64 " instances, %.0f/s", p->count,
	        secs > 0 ? (double)p->count / secs : 0.0);
	fflush(p->err);
	p->shown = true;
	p->last_ms = now_ms;
}

void cli_progress_end(cli_progress *p)
{
	cli_progress_clear(p);
}

/* A class schema: its properties with their types (keys marked), and its
 * methods; with json one object. */
static int print_class(FILE *out, bool json, const rms_cim_class *cls)
{
	if (!cls)
		return CLI_EXIT_OK;
	size_t np = rms_cim_class_property_count(cls), nm = rms_cim_class_method_count(cls);
	const char *super = rms_cim_class_superclass(cls);
	if (json) {
		int failed = 0;
		json_t *o = json_object(), *props = json_array(), *methods = json_array();
		if (!o || !props || !methods) {
			json_decref(o);
			json_decref(props);
			json_decref(methods);
			return cli_report_error(out, stderr, true, "output", RMS_E_NOMEM, NULL);
		}
		jset(o, "ClassName", json_str_or_null(rms_cim_class_name(cls)), &failed);
		jset(o, "SuperClass", json_str_or_null(super), &failed);
		for (size_t i = 0; i < np; i++) {
			const char *name;
			rms_type type;
			unsigned flags;
			rms_cim_class_property_at(cls, i, &name, &type, &flags);
			json_t *p = json_object();
			if (!p) {
				failed = 1;
				break;
			}
			jset(p, "Name", json_str_or_null(name), &failed);
			jset(p, "Type", json_str_or_null(rms_type_name(type)), &failed);
			jset(p, "Key", json_boolean(flags & RMS_PROP_KEY), &failed);
			if (json_array_append_new(props, p))
				failed = 1;
		}
		for (size_t i = 0; i < nm; i++)
			if (json_array_append_new(methods,
			                          json_str_or_null(rms_cim_class_method_at(cls, i))))
				failed = 1;
		jset(o, "Properties", props, &failed);
		jset(o, "Methods", methods, &failed);
		char *line = failed ? NULL : json_dumps(o, JSON_COMPACT);
		json_decref(o);
		if (!line)
			return cli_report_error(out, stderr, true, "output", RMS_E_NOMEM, NULL);
		fprintf(out, "%s\n", line);
		free(line);
		return CLI_EXIT_OK;
	}
	fprintf(out, "class %s", rms_cim_class_name(cls));
	if (super)
		fprintf(out, " : %s", super);
	fputs("\n", out);
	for (size_t i = 0; i < np; i++) {
		const char *name;
		rms_type type;
		unsigned flags;
		rms_cim_class_property_at(cls, i, &name, &type, &flags);
		fprintf(out, "  %-12s %s%s\n", rms_type_name(type), name,
		        flags & RMS_PROP_KEY ? "  [key]" : "");
	}
	for (size_t i = 0; i < nm; i++)
		fprintf(out, "  method       %s()\n", rms_cim_class_method_at(cls, i));
	return CLI_EXIT_OK;
}

int cli_print_results(FILE *out, FILE *err, const cli_args *a, rms_op *op, rms_op_kind kind)
{
	bool first = true;
	int rc;
	switch (kind) {
	case RMS_OP_ENUMERATE:
	case RMS_OP_QUERY:
	case RMS_OP_ASSOCIATORS:
	case RMS_OP_REFERENCES: {
		rms_instance *inst;
		cli_progress prog;
		cli_progress_start(&prog, err, isatty(fileno(err)) == 1, cli_now_ms());
		while ((rc = rms_op_next(op, &inst)) == 0 || rc == RMS_E_SKIPPED) {
			cli_progress_clear(&prog);
			if (rc == RMS_E_SKIPPED) {
				/* That instance only: said on stderr, the rest goes on. */
				fprintf(err, "remsess: warning: %s\n",
				        rms_error_message(rms_error_last()));
				continue;
			}
			int prc = print_instance(out, inst, a->json, &first);
			rms_instance_free(inst);
			if (prc) {
				cli_progress_end(&prog);
				return cli_report_error(out, err, a->json, "output", prc,
				                        rms_error_last());
			}
			if (prog.tty)
				fflush(out); /* the result before the progress line */
			cli_progress_tick(&prog, cli_now_ms());
		}
		cli_progress_end(&prog);
		if (rc != RMS_ITEROVER)
			return op_failure(out, err, a, kind, rc);
		if (rms_op_skipped(op)) {
			/* Everything else was printed; the result is not whole. */
			fprintf(err, "remsess: %llu instance%s could not be decoded and %s skipped\n",
			        (unsigned long long)rms_op_skipped(op),
			        rms_op_skipped(op) == 1 ? "" : "s",
			        rms_op_skipped(op) == 1 ? "was" : "were");
			return CLI_EXIT_REMOTE;
		}
		return CLI_EXIT_OK;
	}
	case RMS_OP_RUN:
		return print_run(out, err, a, op);
	case RMS_OP_POWERSHELL:
		return print_ps(out, err, a, op);
	case RMS_OP_CREATE:
		return print_created(out, err, a, rms_op_created(op));
	case RMS_OP_DELETE:
		return CLI_EXIT_OK;
	case RMS_OP_GET_CLASS:
		return print_class(out, a->json, rms_op_class(op));
	default: {
		/* get, modify, invoke, identify: one instance, if the server
		 * returned one. */
		const rms_instance *inst = rms_op_result(op);
		if (inst && (rc = print_instance(out, inst, a->json, &first)))
			return cli_report_error(out, err, a->json, "output", rc, rms_error_last());
		return CLI_EXIT_OK;
	}
	}
}

/* ---- comparison -------------------------------------------------------- */

static void print_side_status(FILE *err, const rms_side_report *r)
{
	if (r && r->status)
		fprintf(err, "remsess: %s side failed: %s\n", rms_backend_name(r->backend),
		        r->error ? rms_error_message(r->error) : rms_error_code_message(r->status));
}

/* A comparison's exit status: 0 when equal; when both sides failed, the
 * CIM side's failure's (the computer could not be reached either way);
 * otherwise a remote failure (1). */
static int comparison_status(const rms_comparison *c)
{
	const rms_side_report *cim = rms_comparison_side(c, RMS_BACKEND_CIM);
	const rms_side_report *ps = rms_comparison_side(c, RMS_BACKEND_PSSESSION);
	if (rms_comparison_equal(c))
		return CLI_EXIT_OK;
	if (cim && ps && cim->status && ps->status)
		return cli_exit_code(cim->status);
	return CLI_EXIT_REMOTE;
}

int cli_print_comparison(FILE *out, FILE *err, const rms_comparison *c, bool json)
{
	const rms_side_report *cim = rms_comparison_side(c, RMS_BACKEND_CIM);
	const rms_side_report *ps = rms_comparison_side(c, RMS_BACKEND_PSSESSION);
	bool equal = rms_comparison_equal(c);
	if (json) {
		char *line = NULL;
		int rc = rms_comparison_to_json(&line, c);
		if (rc)
			return cli_report_error(out, err, json, "compare", rc, rms_error_last());
		fprintf(out, "%s\n", line);
		rms_free(line);
	} else {
		if (equal)
			fputs("results: equal\n", out);
		else if (rms_comparison_where(c))
			fprintf(out, "results: differ at %s: cim %s, pssession %s\n",
			        rms_comparison_where(c), rms_comparison_cim_value(c),
			        rms_comparison_pssession_value(c));
		else
			fputs("results: not compared (a side failed)\n", out);
		fprintf(out, "\n%-20s  %-24s  %s\n", "", "cim", "pssession");
		fprintf(out, "%-20s  %-24s  %s\n", "status",
		        cim ? (cim->status ? rms_error_code_name(cim->status) : "ok") : "-",
		        ps ? (ps->status ? rms_error_code_name(ps->status) : "ok") : "-");
		fprintf(out, "%-20s  %-24.3f  %.3f\n", "duration (ms)",
		        cim ? (double)cim->duration_us / 1000.0 : 0.0,
		        ps ? (double)ps->duration_us / 1000.0 : 0.0);
		fprintf(out, "%-20s  %-24" PRIu64 "  %" PRIu64 "\n", "items", cim ? cim->items : 0,
		        ps ? ps->items : 0);
		/* A session made by this call: its creation is in the figures. */
		fprintf(out, "%-20s  %-24s  %s\n", "session created",
		        cim && cim->session_created ? "yes" : "no",
		        ps && ps->session_created ? (ps->failed_at_creation ? "failed" : "yes")
		                                  : "no");
		for (size_t i = 0; i < STAT_ROWS; i++)
			fprintf(out, "%-20s  %-24" PRIu64 "  %" PRIu64 "\n", stat_rows[i].label,
			        cim ? stat_at(&cim->traffic, i) : 0,
			        ps ? stat_at(&ps->traffic, i) : 0);
		fprintf(out, "%-20s  %-24s  %s\n", "limit hit",
		        cim && cim->limit_hit ? cim->limit_hit : "-",
		        ps && ps->limit_hit ? ps->limit_hit : "-");
	}
	print_side_status(err, cim);
	print_side_status(err, ps);
	return comparison_status(c);
}

/* ---- fan-out ----------------------------------------------------------- */

/* A run's exit status in 8 bits: a code outside 0..255 (a Windows
 * 0xC0000005, -1) would wrap, possibly to 0, so it counts as 1. */
static int run_status(int code)
{
	return code >= 0 && code <= 255 ? code : 1;
}

static bool kind_streams(rms_op_kind kind)
{
	return kind == RMS_OP_ENUMERATE || kind == RMS_OP_QUERY || kind == RMS_OP_ASSOCIATORS ||
	       kind == RMS_OP_REFERENCES;
}

/* stdout or stderr of a run as a JSON string (bytes that are not UTF-8
 * become U+FFFD, as in the single-host --json output). */
static json_t *output_json(const rms_fanout_result *r, rms_stream stream)
{
	size_t len = 0;
	const void *data = rms_fanout_result_output(r, stream, &len);
	cli_utf8_carry carry = {{0}, 0};
	size_t n;
	char *clean = cli_utf8_clean(&carry, data, data ? len : 0, true, &n);
	if (!clean)
		return NULL;
	json_t *j = json_stringn(clean, n);
	free(clean);
	return j;
}

static int fanout_json(FILE *out, const char *host, size_t index, rms_op_kind kind,
                       const rms_fanout_result *r, int status, const rms_error *e, int exit_status)
{
	int failed = 0;
	json_t *o = json_object();
	if (!o)
		return -1;
	jset(o, "host", json_string(host), &failed);
	jset(o, "index", json_u64(index), &failed);
	jset(o, "backend", json_string(rms_backend_name(r ? rms_fanout_result_backend(r)
	                                                  : RMS_BACKEND_NONE)),
	     &failed);
	jset(o, "reason", json_str_or_null(r ? rms_fanout_result_reason(r) : NULL), &failed);
	jset(o, "status", json_string(status ? rms_error_code_name(status) : "ok"), &failed);
	jset(o, "exit_status", json_integer(exit_status), &failed);
	if (r) {
		uint64_t t0 = rms_fanout_result_started_ms(r), t1 = rms_fanout_result_ended_ms(r);
		jset(o, "duration_ms", json_u64(t1 >= t0 ? t1 - t0 : 0), &failed);
	}
	if (status)
		jset(o, "error", error_object(status, e), &failed);
	const rms_comparison *cmp = r ? rms_fanout_result_comparison(r) : NULL;
	if (cmp) {
		char *text = NULL;
		json_t *j = NULL;
		if (rms_comparison_to_json(&text, cmp) != 0 || !(j = json_from_library(text)))
			failed = 1;
		else
			jset(o, "comparison", j, &failed);
	} else if (r && kind == RMS_OP_POWERSHELL) {
		/* Every object of every stream, in order, with its stream. */
		json_t *arr = json_array();
		size_t n = rms_fanout_result_object_count(r);
		for (size_t i = 0; arr && !failed && i < n; i++) {
			rms_ps_stream st;
			const rms_value *v = rms_fanout_result_object(r, i, &st);
			char *text = NULL;
			if (rms_value_to_json(&text, v) != 0) {
				failed = 1;
				break;
			}
			json_t *item = json_object(), *val = json_from_library(text);
			if (!item || !val) {
				json_decref(item);
				json_decref(val);
				failed = 1;
				break;
			}
			jset(item, "stream", json_string(rms_ps_stream_name(st)), &failed);
			if (st != RMS_PS_OUTPUT)
				jset(item, "message", json_str_or_null(rms_ps_record_message(v)), &failed);
			jset(item, "value", val, &failed);
			if (json_array_append_new(arr, item) != 0)
				failed = 1;
		}
		jset(o, "objects", arr, &failed);
		const rms_value *rec = rms_fanout_result_error_record(r);
		char *text = NULL;
		if (rec && !failed) {
			if (rms_value_to_json(&text, rec) != 0)
				failed = 1;
			else
				jset(o, "error_record", json_from_library(text), &failed);
		}
	} else if (r && kind == RMS_OP_RUN) {
		jset(o, "stdout", output_json(r, RMS_STREAM_STDOUT), &failed);
		jset(o, "stderr", output_json(r, RMS_STREAM_STDERR), &failed);
		int code;
		if (rms_fanout_result_exit_code(r, &code) == 0)
			jset(o, "exit_code", json_integer(code), &failed);
	} else if (r) {
		/* What was delivered before a failure is kept, as the library
		 * keeps it. */
		json_t *arr = json_array();
		size_t n = rms_fanout_result_instance_count(r);
		for (size_t i = 0; arr && !failed && i < n; i++) {
			char *text = NULL;
			if (rms_instance_to_json(&text, rms_fanout_result_instance(r, i)) != 0) {
				failed = 1;
				break;
			}
			json_t *inst = json_from_library(text);
			if (!inst || json_array_append_new(arr, inst) != 0)
				failed = 1;
		}
		jset(o, "instances", arr, &failed);
	}
	if (failed) {
		json_decref(o);
		return -1;
	}
	return print_json(out, o);
}

/* Every line of a run's stream, prefixed with the host so that output
 * from many computers stays attributable when interleaved or grepped. */
static void print_prefixed(FILE *f, const char *host, const char *data, size_t len)
{
	size_t start = 0;
	while (start < len) {
		const char *nl = memchr(data + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - data) : len;
		fprintf(f, "%s: ", host);
		fwrite(data + start, 1, end - start, f);
		fputc('\n', f);
		start = end + 1;
	}
}

/* A pipeline's objects from one of many hosts, each line prefixed with the
 * host: output on out as `ps` shows it, records on err with their stream
 * (progress only with --progress). */
static void print_ps_prefixed(FILE *out, FILE *err, const cli_args *a, const char *host,
                              const rms_fanout_result *r)
{
	size_t n = rms_fanout_result_object_count(r);
	for (size_t i = 0; i < n; i++) {
		rms_ps_stream st;
		const rms_value *v = rms_fanout_result_object(r, i, &st);
		if (st == RMS_PS_PROGRESS && !a->ps_progress)
			continue;
		char *text = NULL;
		if (st == RMS_PS_OUTPUT) {
			if (rms_value_is_null(v) || rms_value_to_display(&text, v) != 0)
				continue;
			size_t len = strlen(text);
			while (len && text[len - 1] == '\n')
				len--;
			print_prefixed(out, host, text, len);
			rms_free(text);
			continue;
		}
		const char *name = rms_ps_stream_name(st);
		const char *msg = rms_ps_record_message(v);
		if (!msg && rms_value_to_text(&text, v) == 0)
			msg = text;
		char *line = NULL;
		size_t cap = strlen(name) + strlen(msg ? msg : "") + 4;
		if ((line = malloc(cap)) != NULL) {
			size_t k = 0;
			for (; name[k]; k++)
				line[k] = (char)(name[k] >= 'a' && name[k] <= 'z' ? name[k] - 'a' + 'A'
				                                                    : name[k]);
			snprintf(line + k, cap - k, ": %s", msg ? msg : "");
			print_prefixed(err, host, line, strlen(line));
			free(line);
		}
		rms_free(text);
	}
}

int cli_print_fanout_result(FILE *out, FILE *err, const cli_args *a, rms_op_kind kind,
                            const char *host, size_t index, const rms_fanout_result *r,
                            int status, const rms_error *e)
{
	if (r) {
		status = rms_fanout_result_status(r);
		e = rms_fanout_result_error(r);
	}
	if (status && e && rms_error_code(e))
		status = rms_error_code(e);
	int code = 0;
	const rms_comparison *cmp = r ? rms_fanout_result_comparison(r) : NULL;
	bool ran = r && !cmp && kind == RMS_OP_RUN && rms_fanout_result_exit_code(r, &code) == 0;
	int exit_status = status ? cli_exit_code(status)
	                  : cmp  ? comparison_status(cmp)
	                  : ran  ? run_status(code)
	                         : CLI_EXIT_OK;
	if (a->json) {
		if (fanout_json(out, host, index, kind, r, status, e, exit_status) != 0) {
			fprintf(err, "remsess: %s: out of memory printing the result\n", host);
			return exit_status ? exit_status : CLI_EXIT_REMOTE;
		}
		return exit_status;
	}
	if (cmp && !status) {
		const rms_side_report *cs = rms_comparison_side(cmp, RMS_BACKEND_CIM);
		const rms_side_report *ps = rms_comparison_side(cmp, RMS_BACKEND_PSSESSION);
		if (rms_comparison_equal(cmp))
			fprintf(out, "%s: equal (%" PRIu64 " item%s)\n", host, cs->items,
			        cs->items == 1 ? "" : "s");
		else if (rms_comparison_where(cmp))
			fprintf(out, "%s: differ at %s: cim %s, pssession %s\n", host,
			        rms_comparison_where(cmp), rms_comparison_cim_value(cmp),
			        rms_comparison_pssession_value(cmp));
		else
			fprintf(out, "%s: not compared: cim %s, pssession %s\n", host,
			        cs->status ? rms_error_code_name(cs->status) : "ok",
			        ps->status ? rms_error_code_name(ps->status) : "ok");
		const rms_side_report *side[2] = {cs, ps};
		for (int k = 0; k < 2; k++)
			if (side[k]->status)
				fprintf(err, "%s: %s side failed: %s\n", host,
				        rms_backend_name(side[k]->backend),
				        side[k]->error ? rms_error_message(side[k]->error)
				                       : rms_error_code_message(side[k]->status));
		return exit_status;
	}
	if (r && kind == RMS_OP_POWERSHELL)
		print_ps_prefixed(out, err, a, host, r);
	if (r && kind == RMS_OP_RUN) {
		size_t len = 0;
		const char *d = rms_fanout_result_output(r, RMS_STREAM_STDOUT, &len);
		if (d)
			print_prefixed(out, host, d, len);
		d = rms_fanout_result_output(r, RMS_STREAM_STDERR, &len);
		if (d)
			print_prefixed(err, host, d, len);
	}
	if (status) {
		rms_phase ph = rms_error_phase(e);
		fprintf(out, "%s: failed %s (exit status %d): %s failed: %s\n", host,
		        rms_error_code_name(status), exit_status,
		        ph != RMS_PHASE_NONE ? rms_phase_name(ph) : "operation",
		        e ? rms_error_message(e) : rms_error_code_message(status));
	} else if (kind == RMS_OP_RUN) {
		fprintf(out, "%s: ok, exit code %d\n", host, code);
	} else if (kind == RMS_OP_POWERSHELL) {
		size_t n = 0, total = rms_fanout_result_object_count(r);
		for (size_t i = 0; i < total; i++) {
			rms_ps_stream st;
			rms_fanout_result_object(r, i, &st);
			n += st == RMS_PS_OUTPUT;
		}
		fprintf(out, "%s: ok, %zu object%s\n", host, n, n == 1 ? "" : "s");
	} else if (kind_streams(kind)) {
		size_t n = rms_fanout_result_instance_count(r);
		fprintf(out, "%s: ok, %zu instance%s\n", host, n, n == 1 ? "" : "s");
	} else {
		fprintf(out, "%s: ok, %s\n", host,
		        rms_fanout_result_instance_count(r) ? "1 result" : "no result");
	}
	return exit_status;
}

void cli_fanout_progress(cli_progress *p, size_t done, size_t failed, size_t running,
                         size_t total, uint64_t now_ms)
{
	/* Twice a second at most: a terminal redrawn per result would cost
	 * more than the results with thousands of fast targets. */
	if (!p->tty || (p->shown && now_ms - p->last_ms < 500))
		return;
	fprintf(p->err, "\r\033[K%zu/%zu done, %zu failed, %zu running", done, total, failed,
	        running);
	fflush(p->err);
	p->shown = true;
	p->last_ms = now_ms;
}
