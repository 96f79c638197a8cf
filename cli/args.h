/*
 * remsess CLI — the command line, parsed into a struct.
 *
 * Parsing is offline and does no I/O: every usage error is found before a
 * session exists, and is reported through cli_args.error for the caller to
 * print. The one interactive step, asking for a password, is a separate
 * call with a replaceable reader so that tests can drive it.
 *
 * Strings in cli_args point into argv (which lives as long as the program)
 * except the password, the KEY=VALUE names, the fan-out host list and a
 * script read from a file, which cli_args_free releases.
 *
 * One exception to "no I/O": --hosts FILE is read by cli_parse, so that a
 * bad line is a usage error (naming the file and line) before anything
 * connects, like every other usage error.
 */
#ifndef REMSESS_CLI_ARGS_H
#define REMSESS_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "remsess/remsess.h"

/* Exit statuses of the tool (see cli_exit_code in output.h). */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_REMOTE = 1,  /* the remote side (or the run) failed */
	CLI_EXIT_USAGE = 2,   /* bad command line, invalid option, not implemented */
	CLI_EXIT_CONNECT = 3, /* connection, TLS or authentication failure */
	CLI_EXIT_LIMIT = 4    /* a size or time limit was exceeded */
};

typedef enum cli_command {
	CLI_CMD_NONE = 0,
	CLI_CMD_HELP,
	CLI_CMD_VERSION,
	CLI_CMD_INFO,
	CLI_CMD_SESSION,
	CLI_CMD_IDENTIFY,
	CLI_CMD_GET,
	CLI_CMD_ENUM,
	CLI_CMD_QUERY,
	CLI_CMD_INVOKE,
	CLI_CMD_CREATE,
	CLI_CMD_SET,
	CLI_CMD_DELETE,
	CLI_CMD_ASSOC,
	CLI_CMD_RUN,
	CLI_CMD_COMPARE,
	CLI_CMD_PS,
	CLI_CMD_GETCLASS,
	CLI_CMD_SESSIONS,
	CLI_CMD_DISCONNECT, /* open a PowerShell session, maybe start a script, disconnect */
	CLI_CMD_RECONNECT   /* connect to a disconnected shell, read a pipeline */
} cli_command;

/* The command's name as typed ("enum"), or NULL. */
const char *cli_command_name(cli_command cmd);

/* NAME=VALUE: everything after the first '=' is the value, taken
 * literally (quotes are not special). The name is owned, the value points
 * into argv. ps's --param NAME without '=' is a switch: value NULL. */
typedef struct cli_pair {
	char *name;
	const char *value;
} cli_pair;

typedef struct cli_pairs {
	cli_pair *items;
	size_t count;
} cli_pairs;

#define CLI_ERROR_MAX 512

/* Whether run forwards the tool's stdin to the remote command. AUTO: when
 * stdin is not a terminal (a pipe, a file, /dev/null). */
typedef enum cli_stdin {
	CLI_STDIN_AUTO = 0,
	CLI_STDIN_ALWAYS, /* --stdin: also from a terminal, until end of input */
	CLI_STDIN_NEVER   /* --no-stdin */
} cli_stdin;

typedef struct cli_args {
	cli_command command;
	/* For compare: which of get / enum / query it compares. */
	cli_command compared;

	/* Global options. */
	const char *host; /* -H without "://" */
	const char *url;  /* -H with "://" */
	unsigned port;    /* 0: the default for the scheme / transport */
	bool https;
	const char *user;
	char *password; /* from REMSESS_PASSWORD or the prompt; owned, wiped on free */
	rms_auth auth;
	const char *cert;
	const char *key;
	const char *cacert;
	bool insecure;
	bool allow_unencrypted;
	/* NTLM, Negotiate, Kerberos (docs/auth.md) */
	rms_encryption encryption; /* --encryption; auto by default */
	const char *spn_service;   /* --spn-service */
	const char *spn_host;      /* --spn-host */
	bool delegate;             /* --delegate */
	const char *keytab;        /* --keytab */
	bool no_channel_binding;   /* --no-channel-binding */
	const char *proxy;
	uint32_t timeout_ms;        /* 0: the library's default */
	uint32_t max_envelope_size; /* bytes; 0: the library's default */
	const char *cim_namespace;  /* never NULL after a successful parse */
	rms_backend backend;        /* RMS_BACKEND_AUTO unless --backend */
	rms_transport transport;
	rms_ps_protocol ps_protocol; /* --protocol (ps implies powershell) */
	bool ps_protocol_set;
	const char *identity_file;
	const char *known_hosts;
	bool accept_new_host_key;
	bool ssh_agent;
	bool json;
	int verbose;

	/* Fan-out: set when -H holds a comma-separated list or --hosts FILE is
	 * given (even with one line, so that a split host file always gives the
	 * same JSON lines). Each entry is a host or a URL, owned. NULL for a
	 * single -H, which keeps the one-computer path. host and url are then
	 * NULL. */
	char **hosts;
	size_t host_count;
	const char *hosts_file;
	unsigned throttle; /* --throttle; 0: RMS_FANOUT_THROTTLE_DEFAULT */
	uint32_t target_timeout_ms; /* --target-timeout: one host's whole time; 0: none */
	uint32_t run_timeout_ms;    /* --run-timeout: the fan-out's whole time; 0: none */

	/* Command arguments. */
	const char *class_name;
	const char *method;
	const char *query;
	cli_pairs keys;  /* KEY=VALUE selectors (get, set, delete, invoke, assoc) */
	cli_pairs props; /* create's PROP=VALUE, set's --prop, invoke's --arg,
	                    ps's --param */
	const char *assoc_class;
	const char *result_class;
	const char *role;
	const char *result_role;
	bool references;
	const char *run_command;
	const char *const *run_argv; /* the arguments after run_command */
	size_t run_argc;
	cli_stdin run_stdin; /* --stdin / --no-stdin */

	/* ps runs exactly one of: the SCRIPT argument, the script in --file
	 * (read by cli_read_script into ps_script_owned; ps_script then
	 * points there), or --command with its --param pairs (in props). */
	const char *ps_script;
	const char *ps_file; /* "-": stdin */
	char *ps_script_owned;
	const char *ps_command;
	const char *ps_subsystem; /* --subsystem; NULL: the library's "powershell" */
	/* --configuration NAME: the shell resource
	 * http://schemas.microsoft.com/powershell/NAME (owned); NULL: the
	 * library's Microsoft.PowerShell. */
	char *ps_configuration_uri;
	bool ps_progress;         /* --progress: print progress records */
	/* disconnect / reconnect / sessions */
	bool only_disconnected;   /* sessions --disconnected */
	bool keep;                /* reconnect --keep: leave the shell disconnected again */
	uint32_t idle_timeout_ms; /* disconnect --idle-timeout; 0: the shell's own */
	const char *shell_id;     /* reconnect SHELL-ID */
	const char *command_id;   /* reconnect SHELL-ID [COMMAND-ID] */

	/* Why parsing failed: one line, without the "remsess: " prefix. */
	char error[CLI_ERROR_MAX];
} cli_args;

/*
 * Parse argv (argv[0] is the program name). Returns 0, CLI_EXIT_USAGE with
 * a->error saying what is wrong, or CLI_EXIT_REMOTE on out of memory. The
 * struct is always initialised: call cli_args_free afterwards either way.
 * Does not read the environment or the terminal.
 */
int cli_parse(cli_args *a, int argc, char **argv);
void cli_args_free(cli_args *a);

/*
 * ps --file: read the script from a->ps_file (from `in` for "-") into
 * a->ps_script. Nothing to do for other commands or without --file. A
 * UTF-8 byte-order mark is dropped. Returns 0, CLI_EXIT_USAGE with
 * a->error (the file cannot be read, is empty, has a NUL byte or is
 * UTF-16) or CLI_EXIT_REMOTE on out of memory. Kept out of cli_parse so
 * that parsing never reads stdin; main calls it right after.
 */
int cli_read_script(cli_args *a, FILE *in);

/* Whether this run goes through the fan-out (see cli_args.hosts). */
bool cli_is_fanout(const cli_args *a);

/* The largest --throttle accepted: each target in flight holds descriptors,
 * and more than this per process is better split across processes
 * (docs/fanout.md). */
#define CLI_THROTTLE_MAX 10000

/* Point a's host or url at one fan-out entry (a URL when it has "://"), as
 * a single -H would. */
void cli_args_set_host(cli_args *a, const char *entry);

/* Whether the command talks to a computer (and so needs options, a
 * password and a session). */
bool cli_command_needs_session(cli_command cmd);

/*
 * Reads a password without echo: writes `prompt`, fills buf (NUL-terminated,
 * without the newline). Returns 0, CLI_READ_NO_TTY when there is no terminal
 * to ask on, or CLI_READ_FAILED (message in errbuf).
 */
enum { CLI_READ_NO_TTY = 1, CLI_READ_FAILED = 2 };
typedef int (*cli_password_reader)(char *buf, size_t size, const char *prompt, void *userdata,
                                   char *errbuf, size_t errsize);

/* The real reader: /dev/tty with echo off (termios), so it works when
 * stdin is a pipe; the terminal is restored on every path, including a
 * signal during the prompt. */
int cli_tty_read_password(char *buf, size_t size, const char *prompt, void *userdata, char *errbuf,
                          size_t errsize);

/*
 * Fill a->password: from REMSESS_PASSWORD when it is set, else from `reader`
 * when a user is given and the chosen authentication uses a password
 * (not a client certificate, not an SSH key or agent). Returns 0,
 * CLI_EXIT_USAGE (no terminal: a->error says to set REMSESS_PASSWORD, or
 * the read failed) or CLI_EXIT_REMOTE (out of memory).
 */
int cli_resolve_password(cli_args *a, cli_password_reader reader, void *userdata);

/*
 * Session options for `backend` from the parsed arguments. Strings are
 * borrowed from `a`, so `a` must outlive the options' use. `log` receives
 * the library's log lines at the level -v asked for.
 */
void cli_build_options(rms_session_options *o, const cli_args *a, rms_backend backend,
                       rms_log_fn log, void *log_userdata);

/* The request for a.command (or a.compared for compare). Returns 0 or an
 * RMS_E_* code with the details in rms_error_last(). */
int cli_build_request(rms_request **out, const cli_args *a);

#endif
