/*
 * remsess — the command-line tool. Wiring only: args.c parses, output.c
 * prints, the library does the work. Every argument is checked before a
 * session or target exists.
 */
#include <errno.h>
#include <stdio.h>
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

/* A target with both backends configured; over SSH only the PSSession
 * exists, since the CIM backend speaks WS-Man only. */
static int new_target(rms_target **t, const cli_args *a)
{
	rms_session_options cim, ps;
	cli_build_options(&cim, a, RMS_BACKEND_CIM, cli_log_stderr, &verbosity);
	cli_build_options(&ps, a, RMS_BACKEND_PSSESSION, cli_log_stderr, &verbosity);
	int rc = rms_target_new(t, a->transport == RMS_TRANSPORT_SSH ? NULL : &cim, &ps);
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
	if ((rc = rms_global_init()))
		return report(a, "initialisation", rc);
	int status = a->command == CLI_CMD_SESSION ? cmd_session(a) : cmd_remote(a);
	rms_global_cleanup();
	return status;
}

int main(int argc, char **argv)
{
	cli_args a;
	int status = cli_parse(&a, argc, argv);
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
