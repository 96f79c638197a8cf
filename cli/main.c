/*
 * remsess — the command-line tool. Wiring only: args.c parses, output.c
 * prints, the library does the work. Every argument is checked before a
 * session or target exists.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "output.h"

/* The -v count, for the log callback (options hold a non-const pointer). */
static int verbosity;

/* A failed call: its details are the thread's last error. */
static int report(const cli_args *a, const char *step, int rc)
{
	return cli_report_error(stdout, stderr, a->json, step, rc, rms_error_last());
}

static int cmd_session(const cli_args *a)
{
	rms_session_options o;
	cli_build_options(&o, a, a->backend, cli_log_stderr, &verbosity);
	rms_session *s = NULL;
	int rc = rms_session_new(&s, a->backend, &o);
	if (rc)
		return report(a, "session", rc);
	int status = cli_print_session(stdout, s, a->json);
	rms_session_free(s);
	return status;
}

/* The user's shells on the computer, from a CIM session (which opens
 * nothing else). */
static int cmd_sessions(const cli_args *a)
{
	rms_session_options o;
	cli_build_options(&o, a, RMS_BACKEND_CIM, cli_log_stderr, &verbosity);
	rms_session *s = NULL;
	int rc = rms_session_new(&s, RMS_BACKEND_CIM, &o);
	if (rc)
		return report(a, "session", rc);
	rms_instance **list = NULL;
	size_t n = 0;
	if ((rc = rms_session_shells(s, &list, &n))) {
		int st = report(a, "sessions", rc);
		rms_session_free(s);
		return st;
	}
	if (a->only_disconnected) {
		/* The ones a reconnect can take (State Disconnected). */
		size_t keep = 0;
		for (size_t i = 0; i < n; i++) {
			const char *state = NULL;
			rms_value_get_string(rms_instance_get(list[i], "State"), &state);
			if (state && strcmp(state, "Disconnected") == 0)
				list[keep++] = list[i];
			else
				rms_instance_free(list[i]);
		}
		n = keep;
	}
	int status = cli_print_shells(stdout, list, n, a->json);
	for (size_t i = 0; i < n; i++)
		rms_instance_free(list[i]);
	rms_free(list);
	rms_session_free(s);
	return status;
}

/* The ids a later reconnect needs, as "name: value" lines or one JSON
 * object (GUIDs: nothing to escape). */
static void print_ids(const cli_args *a, const char *shell, const char *command)
{
	if (a->json) {
		printf("{\"shell_id\":\"%s\"", shell ? shell : "");
		if (command)
			printf(",\"command_id\":\"%s\"", command);
		printf("}\n");
		return;
	}
	printf("shell-id: %s\n", shell ? shell : "");
	if (command)
		printf("command-id: %s\n", command);
}

/* Open a PowerShell session, start the script if one is given (without
 * reading it), disconnect, and leave: the shell, and the script, run on
 * for a later `reconnect`. */
static int cmd_disconnect(const cli_args *a)
{
	rms_session_options o;
	cli_build_options(&o, a, RMS_BACKEND_PSSESSION, cli_log_stderr, &verbosity);
	rms_session *s = NULL;
	int rc = rms_session_new(&s, RMS_BACKEND_PSSESSION, &o);
	if (rc)
		return report(a, "session", rc);
	rms_op *op = NULL;
	if (a->ps_script) {
		rms_request *req = NULL;
		if ((rc = cli_build_request(&req, a)) == 0)
			rc = rms_op_start(&op, s, req);
		rms_request_free(req);
		if (rc) {
			int st = report(a, "ps", rc);
			rms_session_free(s);
			return st;
		}
	}
	if ((rc = rms_session_disconnect(s, a->idle_timeout_ms))) {
		int st = report(a, "disconnect", rc);
		rms_op_free(op);
		rms_session_free(s);
		return st;
	}
	char *cmd = op && rms_op_command_id(op) ? strdup(rms_op_command_id(op)) : NULL;
	print_ids(a, rms_session_shell_id(s), cmd);
	free(cmd);
	/* Freeing a Disconnected session leaves its shell on the server. */
	rms_op_free(op);
	rms_session_free(s);
	return CLI_EXIT_OK;
}

/* What one pipeline of the connected shell wrote (meanwhile and until it
 * ends), printed as ps prints it. */
static int receive_one(const cli_args *a, rms_session *s, const char *command_id)
{
	rms_op *op = NULL;
	int rc = rms_session_receive(&op, s, command_id);
	int status = rc ? report(a, "receive", rc)
	                : cli_print_results(stdout, stderr, a, op, RMS_OP_POWERSHELL);
	rms_op_free(op);
	return status;
}

/* Connect to a disconnected shell; print what its pipelines wrote (the one
 * COMMAND-ID names, else every command the server lists for the shell, in
 * its order); then close the shell, or with --keep disconnect it again. */
static int cmd_reconnect(const cli_args *a)
{
	rms_session_options o;
	cli_build_options(&o, a, RMS_BACKEND_PSSESSION, cli_log_stderr, &verbosity);
	rms_session *s = NULL;
	int rc = rms_session_connect(&s, &o, a->shell_id);
	if (rc)
		return report(a, "reconnect", rc);
	int status = CLI_EXIT_OK;
	if (a->command_id) {
		status = receive_one(a, s, a->command_id);
	} else {
		rms_instance **cmds = NULL;
		size_t n = 0;
		if ((rc = rms_session_shell_commands(s, rms_session_shell_id(s), &cmds, &n)))
			status = report(a, "commands", rc);
		for (size_t i = 0; i < n; i++) {
			const char *id = NULL;
			rms_value_get_string(rms_instance_get(cmds[i], "CommandId"), &id);
			int st = id ? receive_one(a, s, id) : CLI_EXIT_OK;
			if (st > status)
				status = st;
			rms_instance_free(cmds[i]);
		}
		rms_free(cmds);
	}
	if (a->keep) {
		if ((rc = rms_session_disconnect(s, 0)) && !status)
			status = report(a, "disconnect", rc);
		else if (!rc)
			fprintf(stderr, "remsess: shell %s left disconnected (--keep)\n",
			        rms_session_shell_id(s));
	} else if ((rc = rms_session_close(s)) && !status) {
		status = report(a, "close", rc);
	}
	rms_session_free(s);
	return status;
}

/* A target with both backends configured; over SSH only the PSSession
 * exists, since the CIM backend speaks WS-Man only, and ps needs only the
 * PSSession (speaking PowerShell remoting). */
static int new_target(rms_target **t, const cli_args *a)
{
	rms_session_options cim, ps;
	cli_build_options(&cim, a, RMS_BACKEND_CIM, cli_log_stderr, &verbosity);
	cli_build_options(&ps, a, RMS_BACKEND_PSSESSION, cli_log_stderr, &verbosity);
	bool no_cim = a->transport == RMS_TRANSPORT_SSH || a->command == CLI_CMD_PS;
	int rc = rms_target_new(t, no_cim ? NULL : &cim, &ps);
	return rc ? report(a, "session", rc) : 0;
}

/* run's stdin: read as the library asks for each Send, so any amount
 * streams through in pieces of at most one envelope; end of input ends the
 * remote command's stdin. */
static long read_stdin(void *buf, size_t size, void *userdata)
{
	(void)userdata;
	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, size);
		if (n >= 0)
			return (long)n;
		if (errno != EINTR) {
			fprintf(stderr, "remsess: reading stdin: %s\n", strerror(errno));
			return -1;
		}
	}
}

static bool forward_stdin(const cli_args *a)
{
	if (a->command != CLI_CMD_RUN || a->run_stdin == CLI_STDIN_NEVER)
		return false;
	return a->run_stdin == CLI_STDIN_ALWAYS || !isatty(STDIN_FILENO);
}

static int cmd_remote(const cli_args *a)
{
	rms_request *req = NULL;
	int rc = cli_build_request(&req, a);
	if (rc == 0 && forward_stdin(a))
		rc = rms_request_set_stdin_fn(req, read_stdin, NULL);
	if (rc) {
		rms_request_free(req);
		return report(a, "request", rc);
	}
	rms_op_kind kind = rms_request_kind(req);
	rms_target *t = NULL;
	int status = new_target(&t, a);
	if (status) {
		rms_request_free(req);
		return status;
	}
	if (a->command == CLI_CMD_COMPARE) {
		rms_comparison *c = NULL;
		rc = rms_compare(&c, t, req);
		status = rc ? report(a, "compare", rc)
		            : cli_print_comparison(stdout, stderr, c, a->json);
		rms_comparison_free(c);
	} else {
		rms_op *op = NULL;
		rc = rms_target_start(&op, t, a->backend, req);
		if (rc) {
			status = report(a, rms_op_kind_name(kind), rc);
		} else {
			if (a->verbose)
				fprintf(stderr, "remsess: [info] %s runs on %s: %s\n",
				        rms_op_kind_name(kind),
				        rms_backend_name(rms_op_backend(op)),
				        rms_op_reason(op) ? rms_op_reason(op) : "as asked");
			status = cli_print_results(stdout, stderr, a, op, kind);
		}
		rms_op_free(op);
	}
	rms_target_free(t);
	rms_request_free(req);
	return status;
}

/* Targets for the fan-out, one per host, each with the settings a single
 * -H run would get. A host whose settings the library refuses is reported
 * at once as that host's result: one bad entry never stops the others. */
typedef struct fanout_run {
	rms_target **targets;
	size_t *host_of; /* fan-out index -> position in a->hosts */
	size_t done, failed, total;
	int worst;
} fanout_run;

static void fanout_note(fanout_run *run, int status)
{
	run->done++;
	if (status)
		run->failed++;
	/* "The worst one's": the highest status, so a connect failure (3) or
	 * a limit (4) outranks a remote failure (1). */
	if (status > run->worst)
		run->worst = status;
}

static int fanout_add_targets(fanout_run *run, const cli_args *a, rms_fanout *f, rms_op_kind kind)
{
	for (size_t i = 0; i < a->host_count; i++) {
		cli_args one = *a;
		cli_args_set_host(&one, a->hosts[i]);
		rms_session_options cim, ps;
		cli_build_options(&cim, &one, RMS_BACKEND_CIM, cli_log_stderr, &verbosity);
		cli_build_options(&ps, &one, RMS_BACKEND_PSSESSION, cli_log_stderr, &verbosity);
		rms_target *t = NULL;
		int rc = rms_target_new(&t, a->transport == RMS_TRANSPORT_SSH ? NULL : &cim, &ps);
		size_t index = 0;
		if (rc == 0 && (rc = a->command == CLI_CMD_COMPARE
		                         ? rms_fanout_add_compare(&index, f, t)
		                         : rms_fanout_add(&index, f, t, a->backend)) == 0) {
			run->targets[i] = t;
			run->host_of[index] = i;
			continue;
		}
		if (rc == RMS_E_NOMEM) {
			rms_target_free(t);
			return rc;
		}
		int st = cli_print_fanout_result(stdout, stderr, a, kind, a->hosts[i], i, NULL, rc,
		                                 rms_error_last());
		rms_target_free(t);
		fanout_note(run, st);
	}
	return 0;
}

/* One request over every host of a->hosts, at most --throttle in flight,
 * each result printed as its target finishes. */
static int cmd_fanout(const cli_args *a)
{
	rms_request *req = NULL;
	int rc = cli_build_request(&req, a);
	if (rc) {
		rms_request_free(req);
		return report(a, "request", rc);
	}
	rms_op_kind kind = rms_request_kind(req);
	rms_fanout_options fo = RMS_FANOUT_OPTIONS_INIT;
	if (a->throttle)
		fo.throttle = a->throttle;
	fo.target_timeout_ms = a->target_timeout_ms;
	fo.run_timeout_ms = a->run_timeout_ms;
	fanout_run run = {.total = a->host_count};
	run.targets = calloc(a->host_count, sizeof *run.targets);
	/* A comparison takes two fan-out positions. */
	run.host_of = calloc(2 * a->host_count, sizeof *run.host_of);
	rms_fanout *f = NULL;
	int status = 0;
	if (!run.targets || !run.host_of)
		rc = RMS_E_NOMEM;
	if (rc == 0)
		rc = rms_fanout_new(&f, req, &fo);
	if (rc == 0)
		rc = fanout_add_targets(&run, a, f, kind);
	if (rc)
		status = report(a, "fan-out", rc);

	cli_progress prog;
	cli_progress_start(&prog, stderr, isatty(STDERR_FILENO) == 1, cli_now_ms());
	size_t running = 0;
	while (rc == 0) {
		rms_fanout_result *r = NULL;
		rc = rms_fanout_next(&r, f);
		if (rc == RMS_ITEROVER) {
			rc = 0;
			break;
		}
		if (rc == RMS_EAGAIN) {
			/* On a terminal wake now and then to redraw the progress. */
			rc = rms_fanout_poll(f, prog.tty ? 500 : -1, &running);
			if (rc == RMS_EAGAIN)
				rc = 0;
			cli_fanout_progress(&prog, run.done, run.failed, running, run.total,
			                    cli_now_ms());
			continue;
		}
		if (rc) {
			break;
		}
		size_t i = run.host_of[rms_fanout_result_index(r)];
		cli_progress_clear(&prog);
		int st =
		    cli_print_fanout_result(stdout, stderr, a, kind, a->hosts[i], i, r, 0, NULL);
		rms_fanout_result_free(r);
		/* Each line out as soon as its target is done, for a pipeline
		 * reading the JSON lines while the run goes on. */
		fflush(stdout);
		fanout_note(&run, st);
		cli_fanout_progress(&prog, run.done, run.failed, running, run.total, cli_now_ms());
	}
	cli_progress_end(&prog);
	if (rc && status == 0)
		status = report(a, "fan-out", rc);
	rms_fanout_free(f);
	for (size_t i = 0; run.targets && i < a->host_count; i++)
		rms_target_free(run.targets[i]);
	free(run.targets);
	free(run.host_of);
	rms_request_free(req);
	return status ? status : run.worst;
}

static int dispatch(cli_args *a)
{
	switch (a->command) {
	case CLI_CMD_HELP:
		cli_print_help(stdout);
		return CLI_EXIT_OK;
	case CLI_CMD_VERSION:
		cli_print_version(stdout);
		return CLI_EXIT_OK;
	case CLI_CMD_INFO:
		return cli_print_info(stdout, a->json);
	default:
		break;
	}
	int rc = cli_resolve_password(a, cli_tty_read_password, NULL);
	if (rc) {
		fprintf(stderr, "remsess: %s\n", a->error);
		return rc;
	}
	verbosity = a->verbose;
	/* No rms_global_init(): this program has one thread, and each transport
	 * initialises what it needs on first use (libcurl and OpenSSL for WinRM,
	 * libssh2 for SSH), so a command pays only for its own. */
	int status = a->command == CLI_CMD_SESSION      ? cmd_session(a)
	             : a->command == CLI_CMD_SESSIONS   ? cmd_sessions(a)
	             : a->command == CLI_CMD_DISCONNECT ? cmd_disconnect(a)
	             : a->command == CLI_CMD_RECONNECT  ? cmd_reconnect(a)
	             : cli_is_fanout(a)                 ? cmd_fanout(a)
	                                                : cmd_remote(a);
	return status;
}

int main(int argc, char **argv)
{
	cli_args a;
	int status = cli_parse(&a, argc, argv);
	if (status == 0)
		status = cli_read_script(&a, stdin);
	if (status)
		cli_print_usage_error(stderr, a.error);
	else
		status = dispatch(&a);
	cli_args_free(&a);
	if (fflush(stdout) != 0 && status == 0) {
		perror("remsess: writing the output");
		status = CLI_EXIT_REMOTE;
	}
	return status;
}
