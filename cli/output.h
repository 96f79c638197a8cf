/*
 * remsess CLI — everything the tool prints: help, info, sessions, results,
 * comparisons and errors, in text or (with --json) as JSON lines made with
 * jansson. Each printer takes its streams, so the tests can capture them.
 */
#ifndef REMSESS_CLI_OUTPUT_H
#define REMSESS_CLI_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "args.h"
#include "remsess/remsess.h"

/*
 * The exit status for a library result code: 0 for 0; 1 for a failure the
 * remote side reported or anything else that went wrong while running;
 * 2 for bad arguments or options and for what this build or backend cannot
 * do (RMS_E_NOT_IMPLEMENTED, RMS_E_UNSUPPORTED); 3 for connection, TLS and
 * authentication failures; 4 when a size or time limit was exceeded.
 * (`run` exits with the remote command's status instead, when it ran.)
 */
int cli_exit_code(int rms_code);

void cli_print_help(FILE *out);
void cli_print_version(FILE *out);
/* "remsess: <message>" and the hint to --help. */
void cli_print_usage_error(FILE *err, const char *message);

/* Version, features and the two-backend table. Returns an exit status. */
int cli_print_info(FILE *out, bool json);

/* A session's properties and traffic counters. Returns an exit status. */
int cli_print_session(FILE *out, const rms_session *s, bool json);
/* The records of rms_session_shells: one JSON line each, or "Name : value"
 * blocks. */
int cli_print_shells(FILE *out, rms_instance *const *shells, size_t n, bool json);

/*
 * Report a failure and return its exit status. On `err` one line:
 *   "remsess: not implemented in this build: <message>"  (RMS_E_NOT_IMPLEMENTED)
 *   "remsess: invalid option <field> (<cli option>): <message>"  (RMS_E_OPTIONS)
 *   "remsess: <phase> failed: <message>"  otherwise; the phase is the
 *   error's, or `step` (what the tool was doing) when the error has none.
 * With json, also one line {"error":{...}} on `out`. `e` may be NULL (then
 * the generic message of rc is used).
 */
int cli_report_error(FILE *out, FILE *err, bool json, const char *step, int rc, const rms_error *e);

/* The {"error":{...}} object as one line (caller frees with free()), or
 * NULL on out of memory. */
char *cli_error_json(int rc, const rms_error *e);

/* Library log lines to stderr: "remsess: [debug] ...". userdata points
 * to the -v count (an int); without -v, error lines are left out because
 * the failure is reported when the call returns. */
void cli_log_stderr(rms_log_level level, const char *message, void *userdata);

/*
 * Drain a started operation and print what it produced: instances (text
 * with a blank line between, or one JSON object a line), the created
 * reference, or a command's output streamed to out / err. Returns the exit
 * status: the remote exit code for run.
 */
int cli_print_results(FILE *out, FILE *err, const cli_args *a, rms_op *op, rms_op_kind kind);

/*
 * The progress line of a long enumeration: "12000 instances, 5400/s" on
 * stderr, rewritten in place, only when stderr is a terminal (tty), shown
 * from one second in and updated twice a second; cleared before each
 * result line goes to the same terminal and at the end. now_ms is a
 * monotonic clock in milliseconds (injectable for tests).
 */
typedef struct cli_progress {
	FILE *err;
	bool tty;
	bool shown;      /* a line is on the screen now */
	uint64_t count;
	uint64_t start_ms;
	uint64_t last_ms;
} cli_progress;

void cli_progress_start(cli_progress *p, FILE *err, bool tty, uint64_t now_ms);
/* Before a result line is printed. */
void cli_progress_clear(cli_progress *p);
/* After an instance: count it and redraw when due. */
void cli_progress_tick(cli_progress *p, uint64_t now_ms);
void cli_progress_end(cli_progress *p);
uint64_t cli_now_ms(void);

/*
 * Command output in JSON strings must be valid UTF-8. A chunk may end in the
 * middle of a character, so an incomplete sequence at its end is kept in
 * `carry` for the next chunk of the same stream (start with {0}); bytes that
 * are not UTF-8 become U+FFFD, and so does a tail still incomplete when
 * `final`. Returns a NUL-terminated buffer (caller frees with free()) and
 * its length in *out_len (it may contain NUL bytes), or NULL on out of
 * memory.
 */
typedef struct cli_utf8_carry {
	unsigned char bytes[4];
	size_t len;
} cli_utf8_carry;
char *cli_utf8_clean(cli_utf8_carry *carry, const void *data, size_t len, bool final,
                     size_t *out_len);

/*
 * One fan-out target's result, as it finishes: with --json one line on
 * `out` ({"host", "index", "backend", "reason", "status", "exit_status",
 * "duration_ms", then "error" when it failed, and "instances" or "stdout",
 * "stderr", "exit_code" for run}); otherwise "HOST: ok, N instances",
 * "HOST: ok, exit code N" or "HOST: failed NAME (exit status N): <phase>
 * failed: <message>", with a run's output lines before it, each prefixed
 * "HOST: " (stderr's on err). r is NULL for a target that failed before it
 * could run (its settings refused): then status and e describe that.
 * Returns the target's exit status: cli_exit_code of its failure, else the
 * run's exit code (1 when outside 0..255), else 0.
 */
int cli_print_fanout_result(FILE *out, FILE *err, const cli_args *a, rms_op_kind kind,
                            const char *host, size_t index, const rms_fanout_result *r,
                            int status, const rms_error *e);

/* The fan-out's progress line on a terminal: "12/500 done, 3 failed, 32
 * running", redrawn at most twice a second; nothing when p->tty is false.
 * Clear it with cli_progress_clear before printing a result. */
void cli_fanout_progress(cli_progress *p, size_t done, size_t failed, size_t running,
                         size_t total, uint64_t now_ms);

/*
 * A PowerShell pipeline's objects (ps), as they arrive.
 *
 * Output objects go to `out`: without json, rms_value_to_display (a
 * scalar as its text, an object as a list of "Name : value" lines or a
 * table), with a blank line before and after an object that takes several
 * lines; $null prints nothing, as at a PowerShell prompt. With json, one
 * rms_value_to_json line each ($null: null).
 *
 * Records of the other streams go to `err`, each line of the message
 * prefixed with the stream in upper case: "ERROR: ", "WARNING: ",
 * "VERBOSE: ", "DEBUG: ", "INFORMATION: " (Write-Host's text too, so that
 * the streams stay apart), and with progress only, "PROGRESS: Activity:
 * status (42%)" ("Activity: completed" for the last record of an
 * activity). With json, one line each: {"stream":"warning","message":
 * "...","record":{...}} (message null when the record has none).
 */
typedef struct cli_ps_out {
	FILE *out, *err;
	bool json;
	bool progress;   /* print progress records (--progress) */
	bool printed;    /* an output object has been printed */
	bool last_block; /* and it took several lines */
} cli_ps_out;

void cli_ps_out_init(cli_ps_out *p, FILE *out, FILE *err, bool json, bool progress);
/* One object from rms_op_next_object. Returns 0 or an RMS_E_* code (the
 * value could not be turned into text or JSON). */
int cli_print_ps_object(cli_ps_out *p, rms_ps_stream stream, const rms_value *v);
/*
 * The end of a pipeline: rc is rms_op_next_object's last result, e and
 * record the op's error and ErrorRecord (rms_op_error_record). Returns the
 * exit status: 0 when the pipeline completed (RMS_ITEROVER), even after
 * non-terminating errors; otherwise the failure is reported as by
 * cli_report_error (a failed pipeline, RMS_E_FAULT: 1), after, with json,
 * the ErrorRecord as a record line on err with "terminating":true.
 */
int cli_print_ps_end(cli_ps_out *p, int rc, const rms_error *e, const rms_value *record);

/* A comparison record. Returns 0 when both sides succeeded with equal
 * results, 1 when they differ or one side failed, and the failure's exit
 * status when both sides failed. */
int cli_print_comparison(FILE *out, FILE *err, const rms_comparison *c, bool json);

#endif
