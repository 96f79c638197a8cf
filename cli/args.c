/*
 * remsess CLI — command-line parsing, the password, and turning the parsed
 * arguments into library options and requests.
 *
 * Options are recognised anywhere before "--", before and after the command
 * name, with one exception: for `run`, everything from the remote COMMAND on
 * belongs to the remote command, so that `remsess run ls -l` passes "-l"
 * through. Validation here is syntax only (numbers, names, NAME=VALUE
 * shapes, what a command needs); whether a file exists or an option fits
 * the backend's rules is the library's call (rms_session_options_validate).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "args.h"

#define DEFAULT_NAMESPACE "root/cimv2"

/* ---- commands ---------------------------------------------------------- */

static const struct {
	const char *name;
	cli_command cmd;
} commands[] = {
	{"help", CLI_CMD_HELP},         {"info", CLI_CMD_INFO},       {"session", CLI_CMD_SESSION},
	{"identify", CLI_CMD_IDENTIFY}, {"get", CLI_CMD_GET},         {"enum", CLI_CMD_ENUM},
	{"query", CLI_CMD_QUERY},       {"invoke", CLI_CMD_INVOKE},   {"create", CLI_CMD_CREATE},
	{"set", CLI_CMD_SET},           {"delete", CLI_CMD_DELETE},   {"assoc", CLI_CMD_ASSOC},
	{"run", CLI_CMD_RUN},           {"compare", CLI_CMD_COMPARE}, {"ps", CLI_CMD_PS},
	{"getclass", CLI_CMD_GETCLASS}, {"sessions", CLI_CMD_SESSIONS},
	{"disconnect", CLI_CMD_DISCONNECT}, {"reconnect", CLI_CMD_RECONNECT},
};

const char *cli_command_name(cli_command cmd)
{
	if (cmd == CLI_CMD_VERSION)
		return "--version";
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (commands[i].cmd == cmd)
			return commands[i].name;
	return NULL;
}

static cli_command command_lookup(const char *name)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(commands[i].name, name) == 0)
			return commands[i].cmd;
	return CLI_CMD_NONE;
}

bool cli_command_needs_session(cli_command cmd)
{
	switch (cmd) {
	case CLI_CMD_NONE:
	case CLI_CMD_HELP:
	case CLI_CMD_VERSION:
	case CLI_CMD_INFO:
		return false;
	default:
		return true;
	}
}

/* ---- options ----------------------------------------------------------- */

typedef enum opt_id {
	O_HOST,
	O_PORT,
	O_HTTPS,
	O_USER,
	O_AUTH,
	O_CERT,
	O_KEY,
	O_CACERT,
	O_INSECURE,
	O_ALLOW_UNENCRYPTED,
	O_PROXY,
	O_TIMEOUT,
	O_MAX_ENVELOPE,
	O_NAMESPACE,
	O_BACKEND,
	O_TRANSPORT,
	O_PROTOCOL,
	O_IDENTITY,
	O_KNOWN_HOSTS,
	O_ACCEPT_NEW_HOST_KEY,
	O_SSH_AGENT,
	O_HOSTS,
	O_THROTTLE,
	O_TARGET_TIMEOUT,
	O_RUN_TIMEOUT,
	O_JSON,
	O_VERBOSE,
	O_VERSION,
	O_HELP,
	/* command options */
	O_ARG,
	O_PROP,
	O_ASSOC_CLASS,
	O_RESULT_CLASS,
	O_ROLE,
	O_RESULT_ROLE,
	O_REFERENCES,
	O_STDIN,
	O_NO_STDIN,
	O_PARAM,
	O_PS_COMMAND,
	O_FILE,
	O_SUBSYSTEM,
	O_CONFIGURATION,
	O_PROGRESS,
	O_ENCRYPTION,
	O_SPN_SERVICE,
	O_SPN_HOST,
	O_DELEGATE,
	O_KEYTAB,
	O_NO_CHANNEL_BINDING,
	O_DISCONNECTED,
	O_KEEP,
	O_IDLE_TIMEOUT
} opt_id;

/* ---- parsing helpers --------------------------------------------------- */

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
usage(cli_args *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->error, sizeof a->error, fmt, ap);
	va_end(ap);
	return CLI_EXIT_USAGE;
}

static int out_of_memory(cli_args *a)
{
	snprintf(a->error, sizeof a->error, "out of memory");
	return CLI_EXIT_REMOTE;
}

/* A decimal number of digits only (no sign, no spaces), at most max.
 * Returns 0, 1 (not a number) or 2 (too large). */
static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	if (!*s)
		return 1;
	unsigned long long v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return 1;
		unsigned d = (unsigned)(*p - '0');
		if (v > (max - d) / 10)
			return 2;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int parse_port(cli_args *a, const char *v)
{
	unsigned long long n = 0;
	int rc = parse_uint(v, 1000000, &n);
	if (rc == 1)
		return usage(a, "--port '%s' is not a number (expected 1..65535)", v);
	if (rc == 2 || n < 1 || n > 65535)
		return usage(a, "--port %s is out of range (expected 1..65535)", v);
	a->port = (unsigned)n;
	return 0;
}

/* Seconds as digits with an optional fraction ("30", "0.5"), for the
 * option named flag, into *out in milliseconds. */
static int parse_seconds(cli_args *a, const char *flag, const char *v, uint32_t *out)
{
	const char *p = v;
	if (*p == '-')
		return usage(a, "%s %s is negative (expected seconds, more than 0)", flag, v);
	size_t int_digits = strspn(p, "0123456789");
	p += int_digits;
	size_t frac_digits = 0;
	if (*p == '.') {
		frac_digits = strspn(p + 1, "0123456789");
		p += 1 + frac_digits;
	}
	if (*p || int_digits + frac_digits == 0)
		return usage(a, "%s '%s' is not a number of seconds", flag, v);
	double secs = strtod(v, NULL);
	if (secs > 4294967.0)
		return usage(a, "%s %s is too long (at most 4294967 seconds)", flag, v);
	double ms = secs * 1000.0 + 0.5;
	if (ms < 1.0)
		return usage(a, "%s %s is too short (expected more than 0 seconds)", flag, v);
	*out = (uint32_t)ms;
	return 0;
}

static int parse_timeout(cli_args *a, const char *v)
{
	return parse_seconds(a, "--timeout", v, &a->timeout_ms);
}

static int parse_target_timeout(cli_args *a, const char *v)
{
	return parse_seconds(a, "--target-timeout", v, &a->target_timeout_ms);
}

static int parse_run_timeout(cli_args *a, const char *v)
{
	return parse_seconds(a, "--run-timeout", v, &a->run_timeout_ms);
}

static int parse_idle_timeout(cli_args *a, const char *v)
{
	return parse_seconds(a, "--idle-timeout", v, &a->idle_timeout_ms);
}

static int parse_envelope_kb(cli_args *a, const char *v)
{
	unsigned long long n = 0;
	int rc = parse_uint(v, UINT32_MAX / 1024, &n);
	if (rc == 1)
		return usage(a, "--max-envelope-kb '%s' is not a number of kilobytes", v);
	if (rc == 2)
		return usage(a, "--max-envelope-kb %s is too large (at most %u)", v,
		             (unsigned)(UINT32_MAX / 1024));
	if (n < 8)
		return usage(a,
		             "--max-envelope-kb %s is below the minimum of 8 (8192 bytes, the "
		             "smallest MaxEnvelopeSize Windows accepts)",
		             v);
	a->max_envelope_size = (uint32_t)(n * 1024);
	return 0;
}

static int parse_backend(cli_args *a, const char *v)
{
	rms_backend b;
	if (rms_backend_parse(&b, v) != 0 || b == RMS_BACKEND_NONE)
		return usage(a, "--backend '%s' is not one of cim, pssession, auto", v);
	a->backend = b;
	return 0;
}

static int parse_auth(cli_args *a, const char *v)
{
	rms_auth au;
	if (rms_auth_parse(&au, v) != 0)
		return usage(a,
		             "--auth '%s' is not one of basic, ntlm, negotiate, kerberos, "
		             "certificate, none",
		             v);
	a->auth = au;
	return 0;
}

static int parse_encryption(cli_args *a, const char *v)
{
	rms_encryption e;
	if (rms_encryption_parse(&e, v) != 0)
		return usage(a, "--encryption '%s' is not one of auto, always, never", v);
	a->encryption = e;
	return 0;
}

static bool streq_nocase(const char *x, const char *y)
{
	for (; *x && *y; x++, y++) {
		char cx = (*x >= 'A' && *x <= 'Z') ? (char)(*x - 'A' + 'a') : *x;
		char cy = (*y >= 'A' && *y <= 'Z') ? (char)(*y - 'A' + 'a') : *y;
		if (cx != cy)
			return false;
	}
	return *x == *y;
}

static bool strncasecmp_ascii(const char *x, const char *y, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char cx = (x[i] >= 'A' && x[i] <= 'Z') ? (char)(x[i] - 'A' + 'a') : x[i];
		char cy = (y[i] >= 'A' && y[i] <= 'Z') ? (char)(y[i] - 'A' + 'a') : y[i];
		if (cx != cy)
			return false;
	}
	return true;
}

static int parse_transport(cli_args *a, const char *v)
{
	if (streq_nocase(v, "wsman"))
		a->transport = RMS_TRANSPORT_WSMAN;
	else if (streq_nocase(v, "ssh"))
		a->transport = RMS_TRANSPORT_SSH;
	else
		return usage(a, "--transport '%s' is not one of wsman, ssh", v);
	return 0;
}

/* --configuration NAME: a PowerShell session configuration over WinRM
 * (JEA endpoints have their own). */
static int parse_configuration(cli_args *a, const char *v)
{
	if (!*v || strpbrk(v, "/ \t\r\n?#%\"<>"))
		return usage(a, "--configuration '%s' is not a session configuration name (e.g. "
		                "Microsoft.PowerShell)",
		             v);
	free(a->ps_configuration_uri);
	size_t n = strlen("http://schemas.microsoft.com/powershell/") + strlen(v) + 1;
	if (!(a->ps_configuration_uri = malloc(n)))
		return out_of_memory(a);
	snprintf(a->ps_configuration_uri, n, "http://schemas.microsoft.com/powershell/%s", v);
	return 0;
}

static int parse_protocol(cli_args *a, const char *v)
{
	if (rms_ps_protocol_parse(&a->ps_protocol, v) != 0) {
		rms_error_clear();
		return usage(a, "--protocol '%s' is not one of shell, powershell", v);
	}
	a->ps_protocol_set = true;
	return 0;
}

/* NAME=VALUE into pairs; `what` names the source in messages ("--arg" or
 * "" for a positional). */
static int add_pair(cli_args *a, cli_pairs *pairs, const char *text, const char *what,
                    const char *shape)
{
	const char *eq = strchr(text, '=');
	if (!eq)
		return usage(a, "%s%s'%s' is not %s: there is no '='", what, *what ? " " : "", text,
		             shape);
	if (eq == text)
		return usage(a, "%s%s'%s' is not %s: the name before '=' is empty", what,
		             *what ? " " : "", text, shape);
	size_t len = (size_t)(eq - text);
	char *name = malloc(len + 1);
	if (!name)
		return out_of_memory(a);
	memcpy(name, text, len);
	name[len] = '\0';
	pairs->items[pairs->count].name = name;
	pairs->items[pairs->count].value = eq + 1;
	pairs->count++;
	return 0;
}

/* Which command a command option belongs to, checked once the command is
 * known (it may come after the option). */
typedef struct cmd_opt_use {
	bool arg, prop;
	const struct opt_def *assoc;     /* the first assoc option seen */
	const struct opt_def *stdin_opt; /* --stdin or --no-stdin, when given */
	const struct opt_def *ps_opt;    /* the first ps option seen */
} cmd_opt_use;

/* What an option does, the first of these that is set: parse its value
 * into `a`; take a command option (noting its use); store the value (an
 * option with one) or true (a flag) in the cli_args member at `field`.
 * None of them: parse_loop acts on it (--help, --version). */
typedef int (*opt_parse_fn)(cli_args *a, const char *value);
typedef int (*opt_command_fn)(cli_args *a, const struct opt_def *d, const char *value,
                              cmd_opt_use *use);

typedef struct opt_def {
	const char *name; /* long name without "--" */
	char short_name;  /* 0: none */
	bool has_value;
	opt_id id;
	opt_parse_fn parse;
	opt_command_fn command;
	size_t field; /* offsetof in cli_args; 0 (cli_args.command): none */
} opt_def;

static void store(cli_args *a, const opt_def *d, const char *value)
{
	char *member = (char *)a + d->field;
	if (d->has_value)
		*(const char **)(void *)member = value;
	else
		*(bool *)(void *)member = true;
}

/* ---- options with their own parsing ------------------------------------ */

void cli_args_set_host(cli_args *a, const char *entry)
{
	bool url = strstr(entry, "://") != NULL;
	a->url = url ? entry : NULL;
	a->host = url ? NULL : entry;
}

static void hosts_free(cli_args *a)
{
	for (size_t i = 0; i < a->host_count; i++)
		free(a->hosts[i]);
	free(a->hosts);
	a->hosts = NULL;
	a->host_count = 0;
}

/* Why s (len bytes) is not one fan-out entry, or NULL when it is. A list
 * entry is checked here, offline, because a typo in one line of a
 * thousand-host file should stop the run before it starts, not become one
 * odd connect error among many. A single -H is left to the library as
 * before. */
static const char *host_entry_problem(const char *s, size_t len)
{
	if (len == 0)
		return "it is empty";
	if (s[0] == '-')
		return "it starts with '-'";
	const char *sep = NULL;
	for (size_t i = 0; i + 2 < len; i++)
		if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/') {
			sep = s + i;
			break;
		}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == 0x7f)
			return "it contains a space or a control character";
		if (c == ',')
			return "it contains ','";
		if (!sep && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		              (c >= '0' && c <= '9') || strchr(".-_:[]%", c)))
			return "a host name has only letters, digits and . - _ : [ ] %";
	}
	if (sep) {
		size_t scheme = (size_t)(sep - s);
		bool http = scheme == 4 && strncasecmp_ascii(s, "http", 4);
		bool https = scheme == 5 && strncasecmp_ascii(s, "https", 5);
		if (!http && !https)
			return "a URL starts with http:// or https://";
		if ((size_t)(sep - s) + 3 == len)
			return "the URL has no host";
	}
	return NULL;
}

static int hosts_push(cli_args *a, const char *s, size_t len)
{
	char **grown = realloc(a->hosts, (a->host_count + 1) * sizeof *grown);
	if (!grown)
		return out_of_memory(a);
	a->hosts = grown;
	char *copy = malloc(len + 1);
	if (!copy)
		return out_of_memory(a);
	memcpy(copy, s, len);
	copy[len] = '\0';
	a->hosts[a->host_count++] = copy;
	return 0;
}

/* A -H with "://" is a URL; a -H with ',' is a list of hosts or URLs for
 * the fan-out. The last -H wins either way. */
static int set_host(cli_args *a, const char *value)
{
	hosts_free(a);
	if (!strchr(value, ',')) {
		cli_args_set_host(a, value);
		return 0;
	}
	a->host = a->url = NULL;
	for (const char *p = value;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *why = host_entry_problem(p, len);
		if (why)
			return usage(a, "-H '%s': entry %zu '%.*s' is not a host or URL: %s", value,
			             a->host_count + 1, (int)len, p, why);
		int rc = hosts_push(a, p, len);
		if (rc)
			return rc;
		if (!end)
			break;
		p = end + 1;
	}
	return 0;
}

/* --hosts FILE: one host or URL a line; blank lines and comments ('#' at
 * the start of a line or after a space) are skipped; surrounding spaces and
 * a CR (a file from Windows) are dropped. */
static int load_hosts_file(cli_args *a)
{
	const char *path = a->hosts_file;
	FILE *f = fopen(path, "r");
	if (!f)
		return usage(a, "--hosts %s: cannot read it: %s", path, strerror(errno));
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	unsigned long lineno = 0;
	int rc = 0;
	while (rc == 0 && (got = getline(&line, &cap, f)) >= 0) {
		lineno++;
		size_t len = (size_t)got;
		if (memchr(line, '\0', len)) {
			rc = usage(a, "--hosts %s line %lu: a NUL byte (is it a text file?)", path,
			           lineno);
			break;
		}
		for (size_t i = 0; i < len; i++)
			if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
				len = i;
				break;
			}
		size_t start = 0;
		while (start < len && strchr(" \t\r\n\v\f", line[start]))
			start++;
		while (len > start && strchr(" \t\r\n\v\f", line[len - 1]))
			len--;
		if (len == start)
			continue;
		const char *why = host_entry_problem(line + start, len - start);
		if (why) {
			int show = len - start > 80 ? 80 : (int)(len - start);
			rc = usage(a, "--hosts %s line %lu: '%.*s%s' is not a host or URL: %s", path,
			           lineno, show, line + start, len - start > 80 ? "..." : "", why);
			break;
		}
		rc = hosts_push(a, line + start, len - start);
	}
	if (rc == 0 && ferror(f))
		rc = usage(a, "--hosts %s: cannot read it: %s", path, strerror(errno));
	free(line);
	fclose(f);
	if (rc == 0 && a->host_count == 0)
		rc = usage(a, "--hosts %s has no hosts (only blank lines or comments)", path);
	return rc;
}

static int parse_throttle(cli_args *a, const char *v)
{
	unsigned long long n = 0;
	int rc = parse_uint(v, 1000000000, &n);
	if (rc == 1)
		return usage(a, "--throttle '%s' is not a number (expected 1..%u)", v,
		             CLI_THROTTLE_MAX);
	if (rc == 2 || n < 1 || n > CLI_THROTTLE_MAX)
		return usage(a, "--throttle %s is out of range (expected 1..%u)", v,
		             CLI_THROTTLE_MAX);
	a->throttle = (unsigned)n;
	return 0;
}

bool cli_is_fanout(const cli_args *a)
{
	return a->hosts != NULL;
}

static int set_namespace(cli_args *a, const char *value)
{
	if (!*value)
		return usage(a, "--namespace is empty (the default is %s)", DEFAULT_NAMESPACE);
	a->cim_namespace = value;
	return 0;
}

static int count_verbose(cli_args *a, const char *value)
{
	(void)value;
	a->verbose++;
	return 0;
}

/* ---- command options ----------------------------------------------------- */

static int take_pair(cli_args *a, const opt_def *d, const char *value, cmd_opt_use *use)
{
	bool arg = d->id == O_ARG;
	if (arg)
		use->arg = true;
	else
		use->prop = true;
	return add_pair(a, &a->props, value, arg ? "--arg" : "--prop", "NAME=VALUE");
}

static int take_assoc(cli_args *a, const opt_def *d, const char *value, cmd_opt_use *use)
{
	if (!use->assoc)
		use->assoc = d;
	if (d->has_value && !*value)
		return usage(a, "--%s is empty", d->name);
	store(a, d, value);
	return 0;
}

static int take_stdin(cli_args *a, const opt_def *d, const char *value, cmd_opt_use *use)
{
	(void)value;
	cli_stdin want = d->id == O_STDIN ? CLI_STDIN_ALWAYS : CLI_STDIN_NEVER;
	if (a->run_stdin != CLI_STDIN_AUTO && a->run_stdin != want)
		return usage(a, "--stdin and --no-stdin contradict each other");
	a->run_stdin = want;
	use->stdin_opt = d;
	return 0;
}

/* --param NAME=VALUE, or NAME alone: a switch (-Force). */
static int take_param(cli_args *a, const opt_def *d, const char *value, cmd_opt_use *use)
{
	if (!use->ps_opt)
		use->ps_opt = d;
	if (!*value)
		return usage(a, "--param is empty (expected NAME=VALUE, or NAME for a switch)");
	if (value[0] == '-')
		return usage(a,
		             "--param '%s': give the parameter's name without '-' (Name=VALUE, "
		             "not -Name=VALUE)",
		             value);
	if (strchr(value, '='))
		return add_pair(a, &a->props, value, "--param", "NAME=VALUE");
	char *name = strdup(value);
	if (!name)
		return out_of_memory(a);
	a->props.items[a->props.count].name = name;
	a->props.items[a->props.count].value = NULL;
	a->props.count++;
	return 0;
}

/* --command, --file, --subsystem (not empty) and --progress. */
static int take_ps(cli_args *a, const opt_def *d, const char *value, cmd_opt_use *use)
{
	if (!use->ps_opt)
		use->ps_opt = d;
	if (d->has_value && !*value)
		return usage(a, "--%s is empty", d->name);
	store(a, d, value);
	return 0;
}

/* ---- the table ----------------------------------------------------------- */

#define FIELD(member) .field = offsetof(cli_args, member)

static const opt_def options[] = {
	/* where and how to connect */
	{"host", 'H', true, O_HOST, .parse = set_host},
	{"hosts", 0, true, O_HOSTS, FIELD(hosts_file)},
	{"throttle", 0, true, O_THROTTLE, .parse = parse_throttle},
	{"target-timeout", 0, true, O_TARGET_TIMEOUT, .parse = parse_target_timeout},
	{"run-timeout", 0, true, O_RUN_TIMEOUT, .parse = parse_run_timeout},
	{"port", 0, true, O_PORT, .parse = parse_port},
	{"https", 0, false, O_HTTPS, FIELD(https)},
	{"user", 'u', true, O_USER, FIELD(user)},
	{"auth", 0, true, O_AUTH, .parse = parse_auth},
	{"cert", 0, true, O_CERT, FIELD(cert)},
	{"key", 0, true, O_KEY, FIELD(key)},
	{"cacert", 0, true, O_CACERT, FIELD(cacert)},
	{"insecure", 0, false, O_INSECURE, FIELD(insecure)},
	{"allow-unencrypted", 0, false, O_ALLOW_UNENCRYPTED, FIELD(allow_unencrypted)},
	{"encryption", 0, true, O_ENCRYPTION, .parse = parse_encryption},
	{"spn-service", 0, true, O_SPN_SERVICE, FIELD(spn_service)},
	{"spn-host", 0, true, O_SPN_HOST, FIELD(spn_host)},
	{"delegate", 0, false, O_DELEGATE, FIELD(delegate)},
	{"keytab", 0, true, O_KEYTAB, FIELD(keytab)},
	{"no-channel-binding", 0, false, O_NO_CHANNEL_BINDING, FIELD(no_channel_binding)},
	{"proxy", 0, true, O_PROXY, FIELD(proxy)},
	{"timeout", 0, true, O_TIMEOUT, .parse = parse_timeout},
	{"max-envelope-kb", 0, true, O_MAX_ENVELOPE, .parse = parse_envelope_kb},
	{"namespace", 'n', true, O_NAMESPACE, .parse = set_namespace},
	{"backend", 0, true, O_BACKEND, .parse = parse_backend},
	{"transport", 0, true, O_TRANSPORT, .parse = parse_transport},
	{"protocol", 0, true, O_PROTOCOL, .parse = parse_protocol},
	{"configuration", 0, true, O_CONFIGURATION, .parse = parse_configuration},
	/* SSH */
	{"identity", 'i', true, O_IDENTITY, FIELD(identity_file)},
	{"known-hosts", 0, true, O_KNOWN_HOSTS, FIELD(known_hosts)},
	{"accept-new-host-key", 0, false, O_ACCEPT_NEW_HOST_KEY, FIELD(accept_new_host_key)},
	{"ssh-agent", 0, false, O_SSH_AGENT, FIELD(ssh_agent)},
	/* output, and the tool itself */
	{"json", 0, false, O_JSON, FIELD(json)},
	{"verbose", 'v', false, O_VERBOSE, .parse = count_verbose},
	{"version", 0, false, O_VERSION, .parse = NULL}, /* parse_loop acts on it */
	{"help", 'h', false, O_HELP, .parse = NULL},
	/* command options */
	{"arg", 0, true, O_ARG, .command = take_pair},
	{"prop", 0, true, O_PROP, .command = take_pair},
	{"assoc-class", 0, true, O_ASSOC_CLASS, .command = take_assoc, FIELD(assoc_class)},
	{"result-class", 0, true, O_RESULT_CLASS, .command = take_assoc, FIELD(result_class)},
	{"role", 0, true, O_ROLE, .command = take_assoc, FIELD(role)},
	{"result-role", 0, true, O_RESULT_ROLE, .command = take_assoc, FIELD(result_role)},
	{"references", 0, false, O_REFERENCES, .command = take_assoc, FIELD(references)},
	{"stdin", 0, false, O_STDIN, .command = take_stdin},
	{"no-stdin", 0, false, O_NO_STDIN, .command = take_stdin},
	{"param", 0, true, O_PARAM, .command = take_param},
	{"command", 0, true, O_PS_COMMAND, .command = take_ps, FIELD(ps_command)},
	{"file", 'f', true, O_FILE, .command = take_ps, FIELD(ps_file)},
	{"subsystem", 0, true, O_SUBSYSTEM, .command = take_ps, FIELD(ps_subsystem)},
	{"progress", 0, false, O_PROGRESS, .command = take_ps, FIELD(ps_progress)},
	{"disconnected", 0, false, O_DISCONNECTED, FIELD(only_disconnected)},
	{"keep", 0, false, O_KEEP, FIELD(keep)},
	{"idle-timeout", 0, true, O_IDLE_TIMEOUT, .parse = parse_idle_timeout},
};

#undef FIELD

static const opt_def *option_long(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
		if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
			return &options[i];
	return NULL;
}

static const opt_def *option_short(char c)
{
	for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
		if (options[i].short_name == c)
			return &options[i];
	return NULL;
}

static int apply_option(cli_args *a, const opt_def *d, const char *value, cmd_opt_use *use)
{
	if (d->parse)
		return d->parse(a, value);
	if (d->command)
		return d->command(a, d, value, use);
	if (d->field)
		store(a, d, value);
	return 0;
}

static const char password_refused[] =
	"--password is refused: a password on the command line is visible to other users "
	"(ps, /proc) and saved in shell history; set REMSESS_PASSWORD or let remsess prompt "
	"for it";

/* ---- per-command checks ------------------------------------------------ */

static int need_class(cli_args *a, const char *cmd, const char *const *pos, size_t npos,
                      const char *what)
{
	if (npos == 0)
		return usage(a, "%s needs a CLASS%s", cmd, what);
	if (strchr(pos[0], '='))
		return usage(a, "%s needs a CLASS before any KEY=VALUE ('%s' is not a class name)",
		             cmd, pos[0]);
	if (pos[0][0] == '\0')
		return usage(a, "%s: the CLASS is empty", cmd);
	a->class_name = pos[0];
	return 0;
}

static int add_positional_pairs(cli_args *a, cli_pairs *pairs, const char *const *pos, size_t npos,
                                const char *shape)
{
	for (size_t i = 0; i < npos; i++) {
		int rc = add_pair(a, pairs, pos[i], "", shape);
		if (rc)
			return rc;
	}
	return 0;
}

static int check_command_args(cli_args *a, cli_command cmd, const char *const *pos, size_t npos)
{
	const char *name = cli_command_name(cmd);
	int rc;
	switch (cmd) {
	case CLI_CMD_NONE:
	case CLI_CMD_HELP:
	case CLI_CMD_VERSION:
		return 0;
	case CLI_CMD_INFO:
	case CLI_CMD_SESSION:
	case CLI_CMD_SESSIONS:
	case CLI_CMD_IDENTIFY:
		if (npos)
			return usage(a, "%s takes no arguments (unexpected '%s')", name, pos[0]);
		return 0;
	case CLI_CMD_ENUM:
	case CLI_CMD_GETCLASS:
		if ((rc = need_class(a, name, pos, npos, "")))
			return rc;
		if (npos > 1)
			return usage(a, "%s takes one CLASS (unexpected '%s')", name, pos[1]);
		return 0;
	case CLI_CMD_QUERY:
		if (npos == 0)
			return usage(
			    a, "query needs a WQL query, e.g. \"SELECT * FROM Win32_Service\"");
		if (npos > 1)
			return usage(
			    a, "query takes the WQL as one argument: quote it (unexpected '%s')",
			    pos[1]);
		if (!*pos[0])
			return usage(a, "query: the WQL query is empty");
		a->query = pos[0];
		return 0;
	case CLI_CMD_GET:
	case CLI_CMD_SET:
	case CLI_CMD_ASSOC:
		if ((rc = need_class(a, name, pos, npos,
		                     " (and KEY=VALUE selectors naming the instance)")))
			return rc;
		return add_positional_pairs(a, &a->keys, pos + 1, npos - 1, "KEY=VALUE");
	case CLI_CMD_DELETE:
		if ((rc = need_class(a, name, pos, npos, " and KEY=VALUE selectors")))
			return rc;
		if (npos < 2)
			return usage(
			    a, "delete needs at least one KEY=VALUE selector naming the instance");
		return add_positional_pairs(a, &a->keys, pos + 1, npos - 1, "KEY=VALUE");
	case CLI_CMD_INVOKE:
		if ((rc = need_class(a, name, pos, npos, " and a METHOD")))
			return rc;
		if (npos < 2)
			return usage(a, "invoke needs a METHOD after the CLASS");
		if (strchr(pos[1], '=') || !*pos[1])
			return usage(
			    a, "invoke needs a METHOD after the CLASS ('%s' is not a method name)",
			    pos[1]);
		a->method = pos[1];
		return add_positional_pairs(a, &a->keys, pos + 2, npos - 2, "KEY=VALUE");
	case CLI_CMD_CREATE:
		if ((rc = need_class(a, name, pos, npos, " and PROP=VALUE pairs")))
			return rc;
		if (npos < 2)
			return usage(a,
			             "create needs at least one PROP=VALUE for the new instance");
		return add_positional_pairs(a, &a->props, pos + 1, npos - 1, "PROP=VALUE");
	case CLI_CMD_RUN:
		if (!a->run_command)
			return usage(a, "run needs a COMMAND to run on the remote computer");
		if (!*a->run_command)
			return usage(a, "run: the COMMAND is empty");
		return 0;
	case CLI_CMD_COMPARE:
		/* The compared command's arguments; compare itself has none. */
		return check_command_args(a, a->compared, pos, npos);
	case CLI_CMD_DISCONNECT:
		if (npos > 1)
			return usage(a, "disconnect takes the SCRIPT as one argument: quote it "
			                "(unexpected '%s')",
			             pos[1]);
		if (npos && !*pos[0])
			return usage(a, "disconnect: the SCRIPT is empty");
		if (npos)
			a->ps_script = pos[0];
		return 0;
	case CLI_CMD_RECONNECT:
		if (npos == 0 || !*pos[0])
			return usage(a, "reconnect needs the SHELL-ID that disconnect printed");
		if (npos > 2)
			return usage(a, "reconnect takes a SHELL-ID and at most one COMMAND-ID "
			                "(unexpected '%s')",
			             pos[2]);
		if (npos > 1 && !*pos[1])
			return usage(a, "reconnect: the COMMAND-ID is empty (leave it out to read "
			                "every command of the shell)");
		a->shell_id = pos[0];
		a->command_id = npos > 1 ? pos[1] : NULL;
		return 0;
	case CLI_CMD_PS: {
		const char *given[3];
		size_t n = 0;
		if (npos)
			given[n++] = "a SCRIPT";
		if (a->ps_file)
			given[n++] = "--file";
		if (a->ps_command)
			given[n++] = "--command";
		if (n == 0)
			return usage(a, "ps needs a SCRIPT, --file FILE or --command NAME");
		if (n > 1)
			return usage(a, "ps runs one of a SCRIPT, --file or --command: give %s or %s, "
			                "not both",
			             given[0], given[1]);
		if (npos > 1)
			return usage(a, "ps takes the SCRIPT as one argument: quote it (unexpected '%s')",
			             pos[1]);
		if (npos && !*pos[0])
			return usage(a, "ps: the SCRIPT is empty");
		if (npos)
			a->ps_script = pos[0];
		return 0;
	}
	}
	return 0;
}

static int check_combinations(cli_args *a, const cmd_opt_use *use)
{
	cli_command c = a->command == CLI_CMD_COMPARE ? a->compared : a->command;
	if (use->arg && c != CLI_CMD_INVOKE)
		return usage(a, "--arg is only for the invoke command");
	if (use->prop && c != CLI_CMD_SET)
		return usage(a, "--prop is only for the set command (create takes PROP=VALUE)");
	if (use->assoc && c != CLI_CMD_ASSOC)
		return usage(a, "--%s is only for the assoc command", use->assoc->name);
	if (use->stdin_opt && a->command != CLI_CMD_RUN)
		return usage(a, "--%s is only for the run command", use->stdin_opt->name);
	/* --subsystem also names where any PSSession speaking PowerShell
	 * (--protocol powershell) runs; the others are ps's alone. */
	bool subsystem_only = use->ps_opt && strcmp(use->ps_opt->name, "subsystem") == 0 &&
	                      !a->ps_command && !a->ps_file && !a->ps_progress;
	if (use->ps_opt && a->command != CLI_CMD_PS &&
	    !(subsystem_only && a->ps_protocol_set && a->ps_protocol == RMS_PS_PROTOCOL_POWERSHELL))
		return usage(a, "--%s is only for the ps command%s", use->ps_opt->name,
		             subsystem_only ? " or with --protocol powershell" : "");
	if (c == CLI_CMD_SET && !use->prop)
		return usage(a, "set needs at least one --prop NAME=VALUE to change");
	if (a->ps_configuration_uri &&
	    !(a->command == CLI_CMD_PS ||
	      (a->ps_protocol_set && a->ps_protocol == RMS_PS_PROTOCOL_POWERSHELL)))
		return usage(a, "--configuration names a PowerShell session configuration: it "
		                "applies to ps and --protocol powershell");
	if (a->insecure && a->cacert)
		return usage(a, "--insecure turns certificate verification off, so --cacert would "
		                "be ignored: give one of them (--cacert to verify against your CA)");
	if (a->ps_configuration_uri && a->transport == RMS_TRANSPORT_SSH)
		return usage(a, "--configuration applies over WinRM; over SSH the subsystem "
		                "(--subsystem) picks what runs");
	if (a->transport == RMS_TRANSPORT_SSH && a->backend == RMS_BACKEND_CIM)
		return usage(a,
		             "--transport ssh needs --backend pssession or auto: the CIM backend "
		             "speaks WS-Management only");
	if (a->transport != RMS_TRANSPORT_SSH) {
		const char *ssh_only = a->identity_file         ? "--identity"
		                       : a->known_hosts         ? "--known-hosts"
		                       : a->accept_new_host_key ? "--accept-new-host-key"
		                       : a->ssh_agent           ? "--ssh-agent"
		                                                : NULL;
		if (ssh_only)
			return usage(a, "%s applies to --transport ssh only", ssh_only);
	}
	if (a->command == CLI_CMD_PS && a->backend == RMS_BACKEND_CIM)
		return usage(a, "ps runs PowerShell on the PSSession backend, not with --backend cim");
	if (a->only_disconnected && a->command != CLI_CMD_SESSIONS)
		return usage(a, "--disconnected is only for the sessions command");
	if (a->keep && a->command != CLI_CMD_RECONNECT)
		return usage(a, "--keep is only for the reconnect command");
	if (a->idle_timeout_ms && a->command != CLI_CMD_DISCONNECT)
		return usage(a, "--idle-timeout is only for the disconnect command");
	if ((a->command == CLI_CMD_DISCONNECT || a->command == CLI_CMD_RECONNECT) &&
	    (a->backend == RMS_BACKEND_CIM ||
	     (a->ps_protocol_set && a->ps_protocol != RMS_PS_PROTOCOL_POWERSHELL)))
		return usage(a, "%s works on a PowerShell session (PowerShell remoting over WinRM): "
		                "not with --backend cim or --protocol shell",
		             cli_command_name(a->command));
	if (a->command == CLI_CMD_PS && a->ps_protocol_set &&
	    a->ps_protocol != RMS_PS_PROTOCOL_POWERSHELL)
		return usage(a, "ps speaks PowerShell remoting: --protocol shell does not apply");
	if (a->ps_protocol_set && a->backend == RMS_BACKEND_CIM)
		return usage(a, "--protocol is the PSSession's: it does not apply to --backend cim");
	if (a->command == CLI_CMD_SESSION && a->backend == RMS_BACKEND_AUTO)
		return usage(a,
		             "session needs --backend cim or --backend pssession: a session is one "
		             "backend (auto chooses per call)");
	if (cli_command_needs_session(a->command) && !a->host && !a->url && !a->hosts)
		return usage(a, "%s needs a computer: give -H HOST or -H URL",
		             cli_command_name(a->command));
	if (!a->hosts && (a->target_timeout_ms || a->run_timeout_ms))
		return usage(a, "%s is a fan-out's (-H a,b or --hosts FILE); for one computer "
		                "--timeout bounds the whole call",
		             a->target_timeout_ms ? "--target-timeout" : "--run-timeout");
	if (a->hosts) {
		switch (a->command) {
		case CLI_CMD_GET:
		case CLI_CMD_ENUM:
		case CLI_CMD_QUERY:
		case CLI_CMD_INVOKE:
		case CLI_CMD_RUN:
		case CLI_CMD_PS:
		case CLI_CMD_COMPARE:
			break;
		default:
			return usage(a,
			             "%s over many hosts is not supported yet: a fan-out runs get, "
			             "enum, query, invoke, run, ps or compare (give one -H HOST for %s)",
			             cli_command_name(a->command), cli_command_name(a->command));
		}
		/* One input stream cannot feed many commands. */
		if (a->run_stdin == CLI_STDIN_ALWAYS)
			return usage(a, "--stdin cannot be used with many hosts: one input cannot "
			                "feed several remote commands");
	}
	return 0;
}

/* ---- the parser -------------------------------------------------------- */

static void args_init(cli_args *a)
{
	memset(a, 0, sizeof *a);
	a->backend = RMS_BACKEND_AUTO;
	a->transport = RMS_TRANSPORT_WSMAN;
	a->auth = RMS_AUTH_DEFAULT;
	a->cim_namespace = DEFAULT_NAMESPACE;
}

/* The command word, or for compare the compared command. */
static int take_command(cli_args *a, const char *word)
{
	if (a->command == CLI_CMD_COMPARE) {
		cli_command c = command_lookup(word);
		if (c != CLI_CMD_GET && c != CLI_CMD_ENUM && c != CLI_CMD_QUERY)
			return usage(a, "compare takes get, enum or query, not '%s'", word);
		a->compared = c;
		return 0;
	}
	cli_command c = command_lookup(word);
	if (c == CLI_CMD_NONE)
		return usage(a, "unknown command '%s'", word);
	a->command = c;
	return 0;
}

/* What a --help or --version returns through the option readers: parsing
 * stops there, successfully. Never an exit status. */
enum { PARSE_STOP = -1 };

/* "--name", "--name=value" or "--name value" at argv[*i]; *i moves past a
 * value taken from the next word. */
static int long_option(cli_args *a, int argc, char **argv, int *i, cmd_opt_use *use)
{
	const char *name = argv[*i] + 2;
	const char *eq = strchr(name, '=');
	size_t len = eq ? (size_t)(eq - name) : strlen(name);
	if (len == 8 && strncmp(name, "password", 8) == 0)
		return usage(a, "%s", password_refused);
	const opt_def *d = option_long(name, len);
	if (!d)
		return usage(a, "unknown option '--%.*s'", (int)len, name);
	if (eq && !d->has_value)
		return usage(a, "option '--%s' takes no value", d->name);
	const char *value = NULL;
	if (d->has_value) {
		if (eq)
			value = eq + 1;
		else if (*i + 1 < argc)
			value = argv[++*i];
		else
			return usage(a, "option '--%s' needs a value", d->name);
	}
	if (d->id == O_HELP || d->id == O_VERSION) {
		a->command = d->id == O_HELP ? CLI_CMD_HELP : CLI_CMD_VERSION;
		return PARSE_STOP;
	}
	return apply_option(a, d, value, use);
}

/* A cluster of short options at argv[*i]: flags, then at most one that
 * takes a value, either attached (-Hhost) or as the next word. */
static int short_options(cli_args *a, int argc, char **argv, int *i, cmd_opt_use *use)
{
	const char *arg = argv[*i];
	for (size_t j = 1; arg[j]; j++) {
		const opt_def *d = option_short(arg[j]);
		if (!d)
			return usage(a, "unknown option '-%c'", arg[j]);
		const char *value = NULL;
		if (d->has_value) {
			if (arg[j + 1])
				value = arg + j + 1;
			else if (*i + 1 < argc)
				value = argv[++*i];
			else
				return usage(a, "option '-%c' (--%s) needs a value", d->short_name,
				             d->name);
		}
		if (d->id == O_HELP) {
			a->command = CLI_CMD_HELP;
			return PARSE_STOP;
		}
		int rc = apply_option(a, d, value, use);
		if (rc || d->has_value)
			return rc;
	}
	return 0;
}

/* A word that is not an option: the command, the remote command of run
 * (which takes the rest of argv), or a positional argument. */
static int word(cli_args *a, int argc, char **argv, int i, const char **pos, size_t *npos)
{
	bool want_command = a->command == CLI_CMD_NONE ||
	                    (a->command == CLI_CMD_COMPARE && a->compared == CLI_CMD_NONE);
	if (want_command) {
		int rc = take_command(a, argv[i]);
		return rc ? rc : a->command == CLI_CMD_HELP ? PARSE_STOP : 0;
	}
	if (a->command == CLI_CMD_RUN) {
		/* The rest is the remote command, verbatim. */
		a->run_command = argv[i];
		a->run_argv = (const char *const *)&argv[i + 1];
		a->run_argc = (size_t)(argc - i - 1);
		return PARSE_STOP;
	}
	pos[(*npos)++] = argv[i];
	return 0;
}

static int parse_loop(cli_args *a, int argc, char **argv, const char **pos, size_t *npos,
                      cmd_opt_use *use)
{
	bool options_done = false;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		int rc;
		if (!options_done && strcmp(arg, "--") == 0) {
			options_done = true;
			continue;
		}
		if (options_done || arg[0] != '-' || arg[1] == '\0')
			rc = word(a, argc, argv, i, pos, npos);
		else if (arg[1] == '-')
			rc = long_option(a, argc, argv, &i, use);
		else
			rc = short_options(a, argc, argv, &i, use);
		if (rc == PARSE_STOP)
			return 0;
		if (rc)
			return rc;
	}
	return 0;
}

int cli_parse(cli_args *a, int argc, char **argv)
{
	args_init(a);
	if (argc < 1)
		argc = 1;
	size_t cap = (size_t)argc;
	const char **pos = calloc(cap, sizeof *pos);
	a->keys.items = calloc(cap, sizeof *a->keys.items);
	a->props.items = calloc(cap, sizeof *a->props.items);
	if (!pos || !a->keys.items || !a->props.items) {
		free(pos);
		return out_of_memory(a);
	}
	size_t npos = 0;
	cmd_opt_use use = {0};
	int rc = parse_loop(a, argc, argv, pos, &npos, &use);
	if (rc == 0 && (a->command == CLI_CMD_HELP || a->command == CLI_CMD_VERSION)) {
		free(pos);
		return 0;
	}
	if (rc == 0 && a->command == CLI_CMD_NONE)
		rc = usage(a, "no command given");
	if (rc == 0 && a->command == CLI_CMD_COMPARE && a->compared == CLI_CMD_NONE)
		rc = usage(a, "compare needs a command to compare: get, enum or query");
	if (rc == 0)
		rc = check_command_args(a, a->command, pos, npos);
	if (rc == 0 && a->hosts_file) {
		if (a->host || a->url || a->hosts)
			rc = usage(a, "give -H or --hosts, not both");
		else
			rc = load_hosts_file(a);
	}
	if (rc == 0)
		rc = check_combinations(a, &use);
	free(pos);
	return rc;
}

int cli_read_script(cli_args *a, FILE *in)
{
	if (a->command != CLI_CMD_PS || !a->ps_file)
		return 0;
	const char *path = a->ps_file;
	bool from_stdin = strcmp(path, "-") == 0;
	FILE *f = from_stdin ? in : fopen(path, "rb");
	if (!f)
		return usage(a, "--file %s: cannot read it: %s", path, strerror(errno));
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc = 0;
	for (;;) {
		if (cap - len < 4096) {
			size_t grown = cap ? cap * 2 : 8192;
			char *p = realloc(buf, grown);
			if (!p) {
				rc = out_of_memory(a);
				break;
			}
			buf = p;
			cap = grown;
		}
		/* One byte kept for the terminating NUL. */
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	if (rc == 0 && ferror(f))
		rc = usage(a, "--file %s: cannot read it: %s", path, strerror(errno));
	if (!from_stdin)
		fclose(f);
	if (rc) {
		free(buf);
		return rc;
	}
	buf[len] = '\0';
	const unsigned char *u = (const unsigned char *)buf;
	size_t skip = 0;
	if (len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF)))
		rc = usage(a, "--file %s is UTF-16 text: save it as UTF-8", path);
	else if (memchr(buf, '\0', len))
		rc = usage(a, "--file %s has a NUL byte (is it a text file?)", path);
	else if (len >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF)
		skip = 3; /* the BOM Windows editors write */
	if (rc == 0 && len == skip)
		rc = usage(a, "--file %s is empty", path);
	if (rc) {
		free(buf);
		return rc;
	}
	a->ps_script_owned = buf;
	a->ps_script = buf + skip;
	return 0;
}

static void wipe(void *mem, size_t n)
{
	/* volatile so the compiler cannot drop the stores before free(). */
	volatile unsigned char *p = mem;
	while (n--)
		*p++ = 0;
}

static void pairs_free(cli_pairs *p)
{
	if (!p->items)
		return;
	for (size_t i = 0; i < p->count; i++)
		free(p->items[i].name);
	free(p->items);
	p->items = NULL;
	p->count = 0;
}

void cli_args_free(cli_args *a)
{
	if (!a)
		return;
	pairs_free(&a->keys);
	pairs_free(&a->props);
	hosts_free(a);
	free(a->ps_script_owned);
	a->ps_script_owned = NULL;
	free(a->ps_configuration_uri);
	a->ps_configuration_uri = NULL;
	if (a->password)
		wipe(a->password, strlen(a->password));
	free(a->password);
	a->password = NULL;
}

/* ---- the password ------------------------------------------------------ */

static volatile sig_atomic_t prompt_signal;

static void on_prompt_signal(int sig)
{
	prompt_signal = sig;
}

int cli_tty_read_password(char *buf, size_t size, const char *prompt, void *userdata, char *errbuf,
                          size_t errsize)
{
	(void)userdata;
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return CLI_READ_NO_TTY;
	struct termios saved, quiet;
	if (tcgetattr(fd, &saved) != 0) {
		close(fd);
		return CLI_READ_NO_TTY;
	}
	/* Catch the signals a user sends at a prompt, so that echo is always
	 * switched back on before the default action runs. No SA_RESTART: the
	 * read must return with EINTR. */
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP};
	struct sigaction old[sizeof sigs / sizeof sigs[0]];
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_prompt_signal;
	sigemptyset(&sa.sa_mask);
	prompt_signal = 0;
	for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++)
		sigaction(sigs[k], &sa, &old[k]);

	quiet = saved;
	quiet.c_lflag &= (tcflag_t) ~(ECHO | ECHOE | ECHOK | ECHONL);
	quiet.c_lflag |= ICANON;
	int rc = 0;
	if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
		snprintf(errbuf, errsize, "cannot switch off echo on the terminal: %s",
		         strerror(errno));
		rc = CLI_READ_FAILED;
	} else {
		ssize_t wr = write(fd, prompt, strlen(prompt));
		(void)wr;
		size_t len = 0;
		bool too_long = false;
		for (;;) {
			char c;
			ssize_t n = read(fd, &c, 1);
			if (n < 0 && errno == EINTR && !prompt_signal)
				continue;
			if (n < 0) {
				if (!prompt_signal)
					snprintf(errbuf, errsize, "cannot read the password: %s",
					         strerror(errno));
				else
					snprintf(errbuf, errsize, "password prompt interrupted");
				rc = CLI_READ_FAILED;
				break;
			}
			if (n == 0 || c == '\n' || c == '\r')
				break;
			if (len + 1 < size)
				buf[len++] = c;
			else
				too_long = true;
		}
		buf[len] = '\0';
		if (too_long && rc == 0) {
			snprintf(errbuf, errsize, "the password is longer than %zu bytes",
			         size - 1);
			rc = CLI_READ_FAILED;
		}
		wr = write(fd, "\n", 1);
		(void)wr;
		tcsetattr(fd, TCSAFLUSH, &saved);
	}
	close(fd);
	for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++)
		sigaction(sigs[k], &old[k], NULL);
	if (prompt_signal)
		raise(prompt_signal);
	return rc;
}

static bool uses_password(const cli_args *a)
{
	if (!a->user)
		return false;
	if (a->auth == RMS_AUTH_CERTIFICATE || a->auth == RMS_AUTH_NONE)
		return false;
	if (a->keytab && (a->auth == RMS_AUTH_KERBEROS || a->auth == RMS_AUTH_NEGOTIATE))
		return false;
	if (a->transport == RMS_TRANSPORT_SSH && (a->identity_file || a->ssh_agent))
		return false;
	return true;
}

int cli_resolve_password(cli_args *a, cli_password_reader reader, void *userdata)
{
	if (!uses_password(a))
		return 0;
	const char *env = getenv("REMSESS_PASSWORD");
	if (env) {
		a->password = strdup(env);
		return a->password ? 0 : out_of_memory(a);
	}
	char prompt[300];
	const char *where = a->host ? a->host : a->url;
	if (a->hosts)
		snprintf(prompt, sizeof prompt, "Password for %s (all %zu hosts): ", a->user,
		         a->host_count);
	else
		snprintf(prompt, sizeof prompt, "Password for %s@%s: ", a->user,
		         where ? where : "?");
	char buf[1024] = "";
	char err[200] = "";
	int rc = reader(buf, sizeof buf, prompt, userdata, err, sizeof err);
	if (rc == CLI_READ_NO_TTY) {
		wipe(buf, sizeof buf);
		return usage(a,
		             "a password is needed for user '%s' and there is no terminal to ask "
		             "on: set REMSESS_PASSWORD",
		             a->user);
	}
	if (rc != 0) {
		wipe(buf, sizeof buf);
		return usage(a, "%s", err[0] ? err : "cannot read the password");
	}
	a->password = strdup(buf);
	wipe(buf, sizeof buf);
	return a->password ? 0 : out_of_memory(a);
}

/* ---- options and requests ---------------------------------------------- */

void cli_build_options(rms_session_options *o, const cli_args *a, rms_backend backend,
                       rms_log_fn log, void *log_userdata)
{
	*o = (rms_session_options)RMS_SESSION_OPTIONS_INIT;
	o->url = a->url;
	o->host = a->host;
	o->scheme = a->https ? RMS_SCHEME_HTTPS : RMS_SCHEME_DEFAULT;
	o->port = a->port;
	o->transport = backend == RMS_BACKEND_CIM ? RMS_TRANSPORT_WSMAN : a->transport;
	o->user = a->user;
	o->password = a->password;
	o->auth = a->auth;
	o->client_cert = a->cert;
	o->client_key = a->key;
	o->ca_file = a->cacert;
	o->tls_insecure = a->insecure;
	o->allow_unencrypted = a->allow_unencrypted;
	o->auth_v3.encryption = a->encryption;
	o->auth_v3.spn_service = a->spn_service;
	o->auth_v3.spn_host = a->spn_host;
	o->auth_v3.delegate = a->delegate;
	o->auth_v3.keytab = a->keytab;
	o->auth_v3.no_channel_binding = a->no_channel_binding;
	o->proxy = a->proxy;
	o->operation_timeout_ms = a->timeout_ms;
	/* --timeout bounds creating a session too (the whole call). */
	o->timeouts_v4.open_timeout_ms = a->timeout_ms;
	o->max_envelope_size = a->max_envelope_size;
	o->log = log;
	o->log_userdata = log_userdata;
	o->log_level = a->verbose <= 0   ? RMS_LOG_WARNING
	               : a->verbose == 1 ? RMS_LOG_INFO
	               : a->verbose == 2 ? RMS_LOG_DEBUG
	                                 : RMS_LOG_TRACE;
	o->cim.cim_namespace = a->cim_namespace;
	if ((a->command == CLI_CMD_PS || a->command == CLI_CMD_DISCONNECT ||
	     a->command == CLI_CMD_RECONNECT) &&
	    backend == RMS_BACKEND_PSSESSION) {
		o->pssession_v2.protocol = RMS_PS_PROTOCOL_POWERSHELL;
		o->pssession_v2.ssh_subsystem = a->ps_subsystem;
	} else if (a->ps_protocol_set && backend == RMS_BACKEND_PSSESSION) {
		o->pssession_v2.protocol = a->ps_protocol;
		o->pssession_v2.ssh_subsystem = a->ps_subsystem;
	}
	if (a->ps_configuration_uri && backend == RMS_BACKEND_PSSESSION)
		o->pssession.shell_uri = a->ps_configuration_uri;
	if (o->transport == RMS_TRANSPORT_SSH) {
		o->ssh.identity_file = a->identity_file;
		o->ssh.known_hosts = a->known_hosts;
		o->ssh.accept_new_host_key = a->accept_new_host_key;
		o->ssh.use_agent = a->ssh_agent;
	}
}

static int make_ref(rms_ref **out, const cli_args *a)
{
	rms_ref *ref = NULL;
	int rc = rms_ref_new(&ref, a->cim_namespace, a->class_name);
	for (size_t i = 0; rc == 0 && i < a->keys.count; i++)
		rc = rms_ref_add_selector(ref, a->keys.items[i].name, a->keys.items[i].value);
	if (rc) {
		rms_ref_free(ref);
		return rc;
	}
	*out = ref;
	return 0;
}

/* Every value is a string: the command line has no types, and the provider
 * (or the library, from the class schema) converts. */
static int make_instance(rms_instance **out, const cli_args *a)
{
	rms_instance *inst = NULL;
	int rc = rms_instance_new(&inst, a->cim_namespace, a->class_name);
	for (size_t i = 0; rc == 0 && i < a->props.count; i++) {
		rms_value *v = NULL;
		rc = rms_value_new_string(&v, a->props.items[i].value);
		if (rc == 0 && (rc = rms_instance_set(inst, a->props.items[i].name, v, 0)))
			rms_value_free(v);
	}
	if (rc) {
		rms_instance_free(inst);
		return rc;
	}
	*out = inst;
	return 0;
}

/* The script or the command, then the --param pairs, in order: strings,
 * or switches (no value). PowerShell converts a string to the
 * parameter's type, as it does for text typed at its prompt. */
static int add_ps_pipeline(rms_request *req, const cli_args *a)
{
	int rc = a->ps_command ? rms_request_add_command(req, a->ps_command)
	                       : rms_request_set_script(req, a->ps_script ? a->ps_script : "");
	for (size_t i = 0; rc == 0 && i < a->props.count; i++) {
		rms_value *v = NULL;
		const cli_pair *p = &a->props.items[i];
		if (p->value && (rc = rms_value_new_string(&v, p->value)))
			break;
		rc = rms_request_add_parameter(req, p->name, v);
		rms_value_free(v);
	}
	return rc;
}

static rms_op_kind kind_of(const cli_args *a, cli_command c)
{
	switch (c) {
	case CLI_CMD_DISCONNECT:
		return RMS_OP_POWERSHELL;
	case CLI_CMD_GET:
		return RMS_OP_GET;
	case CLI_CMD_ENUM:
		return RMS_OP_ENUMERATE;
	case CLI_CMD_QUERY:
		return RMS_OP_QUERY;
	case CLI_CMD_INVOKE:
		return RMS_OP_INVOKE;
	case CLI_CMD_CREATE:
		return RMS_OP_CREATE;
	case CLI_CMD_SET:
		return RMS_OP_MODIFY;
	case CLI_CMD_DELETE:
		return RMS_OP_DELETE;
	case CLI_CMD_ASSOC:
		return a->references ? RMS_OP_REFERENCES : RMS_OP_ASSOCIATORS;
	case CLI_CMD_RUN:
		return RMS_OP_RUN;
	case CLI_CMD_PS:
		return RMS_OP_POWERSHELL;
	case CLI_CMD_GETCLASS:
		return RMS_OP_GET_CLASS;
	default:
		return RMS_OP_IDENTIFY;
	}
}

static int fill_request(rms_request *req, const cli_args *a, cli_command c)
{
	rms_ref *ref = NULL;
	rms_instance *input = NULL;
	int rc = 0;
	if (c != CLI_CMD_IDENTIFY && c != CLI_CMD_RUN && c != CLI_CMD_PS && c != CLI_CMD_DISCONNECT)
		rc = rms_request_set_namespace(req, a->cim_namespace);
	switch (c) {
	case CLI_CMD_ENUM:
	case CLI_CMD_GETCLASS:
		if (rc == 0)
			rc = rms_request_set_class(req, a->class_name);
		break;
	case CLI_CMD_QUERY:
		if (rc == 0)
			rc = rms_request_set_query(req, NULL, a->query);
		break;
	case CLI_CMD_GET:
	case CLI_CMD_DELETE:
	case CLI_CMD_SET:
	case CLI_CMD_ASSOC:
		if (rc == 0 && (rc = make_ref(&ref, a)) == 0)
			rc = rms_request_set_ref(req, ref);
		if (rc == 0 && c == CLI_CMD_SET && (rc = make_instance(&input, a)) == 0)
			rc = rms_request_set_input(req, input);
		if (rc == 0 && c == CLI_CMD_ASSOC)
			rc = rms_request_set_association(req, a->assoc_class, a->result_class,
			                                 a->role, a->result_role);
		break;
	case CLI_CMD_INVOKE:
		/* No selectors: a static method on the class. */
		if (rc == 0)
			rc = rms_request_set_class(req, a->class_name);
		if (rc == 0 && a->keys.count && (rc = make_ref(&ref, a)) == 0)
			rc = rms_request_set_ref(req, ref);
		if (rc == 0)
			rc = rms_request_set_method(req, a->method);
		if (rc == 0 && a->props.count && (rc = make_instance(&input, a)) == 0)
			rc = rms_request_set_input(req, input);
		break;
	case CLI_CMD_CREATE:
		if (rc == 0 && (rc = rms_request_set_class(req, a->class_name)) == 0 &&
		    (rc = make_instance(&input, a)) == 0)
			rc = rms_request_set_input(req, input);
		break;
	case CLI_CMD_RUN:
		rc = rms_request_set_command(req, a->run_command, a->run_argc, a->run_argv);
		break;
	case CLI_CMD_PS:
	case CLI_CMD_DISCONNECT:
		rc = add_ps_pipeline(req, a);
		break;
	default:
		break;
	}
	rms_ref_free(ref);
	rms_instance_free(input);
	return rc;
}

int cli_build_request(rms_request **out, const cli_args *a)
{
	*out = NULL;
	cli_command c = a->command == CLI_CMD_COMPARE ? a->compared : a->command;
	rms_request *req = NULL;
	int rc = rms_request_new(&req, kind_of(a, c));
	if (rc == 0)
		rc = fill_request(req, a, c);
	/* --timeout is what the whole call may take, every request, page and
	 * retry of it included (it is also each request's OperationTimeout). */
	if (rc == 0 && a->timeout_ms)
		rc = rms_request_set_timeout(req, a->timeout_ms);
	if (rc) {
		rms_request_free(req);
		return rc;
	}
	*out = req;
	return 0;
}
