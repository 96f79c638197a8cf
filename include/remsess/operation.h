/*
 * remsess — operations.
 *
 * An operation is described by a request (what to do) and run by a session
 * or a target (who does it). The same request runs on either backend, which
 * is what makes per-call backend choice and side-by-side comparison possible.
 *
 *   rms_request *req;
 *   rms_request_new(&req, RMS_OP_ENUMERATE);
 *   rms_request_set_class(req, "Win32_Service");
 *   rms_op *op;
 *   if (rms_op_start(&op, session, req) == 0) {
 *       rms_instance *inst;
 *       while ((rc = rms_op_next(op, &inst)) == 0) { ...; rms_instance_free(inst); }
 *       if (rc != RMS_ITEROVER) report(rms_op_error(op));
 *       rms_op_free(op);   (an enumeration closed early is Released)
 *   }
 *
 * Results stream: rms_op_next() returns one instance at a time and pulls the
 * next page only when the previous one is used up, so memory is bounded by
 * one page however large the result.
 *
 * Blocking convenience wrappers for the common calls follow at the end.
 */
#ifndef REMSESS_OPERATION_H
#define REMSESS_OPERATION_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rms_op_kind {
	RMS_OP_IDENTIFY = 0,  /* WS-Identify: protocol version, vendor, product */
	RMS_OP_GET,           /* one instance by its key (a reference) */
	RMS_OP_ENUMERATE,     /* all instances of a class (stream) */
	RMS_OP_QUERY,         /* a WQL or CQL query (stream) */
	RMS_OP_INVOKE,        /* a static (class reference) or instance method */
	RMS_OP_CREATE,        /* create an instance; result: its reference */
	RMS_OP_MODIFY,        /* replace an instance's properties (Put) */
	RMS_OP_DELETE,        /* delete an instance */
	RMS_OP_ASSOCIATORS,   /* instances associated with one (stream) */
	RMS_OP_REFERENCES,    /* association instances that refer to one (stream) */
	RMS_OP_GET_CLASS,     /* the class schema */
	RMS_OP_RUN,           /* a command on the remote computer (PSSession) */
	RMS_OP_POWERSHELL     /* a PowerShell pipeline (a PSSession speaking PowerShell
	                         remoting): typed objects and PowerShell's streams */
} rms_op_kind;

/* "identify", "get", "enumerate", ... */
RMS_EXTERN const char *rms_op_kind_name(rms_op_kind kind);

/* The WQL and CQL query dialect URIs. */
#define RMS_DIALECT_WQL "http://schemas.microsoft.com/wbem/wsman/1/WQL"
#define RMS_DIALECT_CQL "http://schemas.dmtf.org/wbem/cql/1/dsp0202.pdf"

typedef enum rms_stream {
	RMS_STREAM_STDOUT = 1,
	RMS_STREAM_STDERR = 2
} rms_stream;

/* The streams of a PowerShell pipeline (RMS_OP_POWERSHELL). */
typedef enum rms_ps_stream {
	RMS_PS_OUTPUT = 0,      /* the pipeline's output objects */
	RMS_PS_ERROR = 1,       /* ErrorRecord objects (Write-Error, non-terminating errors) */
	RMS_PS_WARNING = 2,     /* WarningRecord */
	RMS_PS_VERBOSE = 3,     /* VerboseRecord */
	RMS_PS_DEBUG = 4,       /* DebugRecord */
	RMS_PS_INFORMATION = 5, /* InformationRecord (Write-Information, Write-Host) */
	RMS_PS_PROGRESS = 6     /* ProgressRecord */
} rms_ps_stream;

/* "output", "error", "warning", "verbose", "debug", "information",
 * "progress"; NULL for another number. */
RMS_EXTERN const char *rms_ps_stream_name(rms_ps_stream stream);

/* The message of a record of any stream but output: an error's or a
 * warning's text, an information record's message data, a progress
 * record's activity and status. Borrowed from the record; NULL when it
 * has none. */
RMS_EXTERN const char *rms_ps_record_message(const rms_value *record);

/* Supplies stdin: fill up to `size` bytes of buf and return how many, 0 at
 * end of input, or a negative number to abort the command. */
typedef long (*rms_stdin_fn)(void *buf, size_t size, void *userdata);
/* Receives command output as it arrives; return nonzero to cancel the
 * command. `data` is valid only during the call. */
typedef int (*rms_output_fn)(rms_stream stream, const void *data, size_t len, void *userdata);

/* ---- requests ---------------------------------------------------------- */

RMS_EXTERN int rms_request_new(rms_request **out, rms_op_kind kind);
RMS_EXTERN void rms_request_free(rms_request *req);
RMS_EXTERN rms_op_kind rms_request_kind(const rms_request *req);

/* The CIM namespace (NULL: the session's, default "root/cimv2"). Either
 * '/' or '\' separates its parts. */
RMS_EXTERN int rms_request_set_namespace(rms_request *req, const char *cim_namespace);
/* The class for enumerate, get class, create, and static invoke. */
RMS_EXTERN int rms_request_set_class(rms_request *req, const char *class_name);
/* The instance (or, with no selectors, the class) for get, modify, delete,
 * invoke, associators and references. Copied. */
RMS_EXTERN int rms_request_set_ref(rms_request *req, const rms_ref *ref);
/* For query; dialect NULL means WQL. */
RMS_EXTERN int rms_request_set_query(rms_request *req, const char *dialect, const char *text);
/* For invoke. */
RMS_EXTERN int rms_request_set_method(rms_request *req, const char *method);
/* Method in-parameters (invoke), the new instance (create) or the new
 * property values (modify). Copied. */
RMS_EXTERN int rms_request_set_input(rms_request *req, const rms_instance *input);
/* Filters for associators and references; each may be NULL. */
RMS_EXTERN int rms_request_set_association(rms_request *req, const char *association_class,
                                           const char *result_class, const char *role,
                                           const char *result_role);
/* For run: the command and its arguments (copied). */
RMS_EXTERN int rms_request_set_command(rms_request *req, const char *command, size_t argc,
                                       const char *const *argv);
/* For run: stdin from a buffer (copied) or a callback; default none. */
RMS_EXTERN int rms_request_set_stdin(rms_request *req, const void *data, size_t len);
RMS_EXTERN int rms_request_set_stdin_fn(rms_request *req, rms_stdin_fn fn, void *userdata);
/* For run: deliver output to a callback instead of rms_op_next_chunk(). */
RMS_EXTERN int rms_request_set_output_fn(rms_request *req, rms_output_fn fn, void *userdata);
/*
 * For powershell: what the pipeline runs. Either one script
 * (rms_request_set_script: any PowerShell text, as Invoke-Command
 * -ScriptBlock runs it), or commands chained with '|'
 * (rms_request_add_command), each with its parameters. Setting a script
 * replaces the commands and adding a command replaces a script.
 */
RMS_EXTERN int rms_request_set_script(rms_request *req, const char *script);
RMS_EXTERN int rms_request_add_command(rms_request *req, const char *command);
/* A parameter of the last command added (RMS_E_STATE when there is none;
 * a script takes positional arguments too): named, or positional when
 * name is NULL; a named parameter with a NULL value is a switch (-Force).
 * The value is copied. */
RMS_EXTERN int rms_request_add_parameter(rms_request *req, const char *name,
                                         const rms_value *value);
/* The last command's (or the script's) errors go to its output, as 2>&1. */
RMS_EXTERN int rms_request_merge_errors(rms_request *req);
/* Input objects for the pipeline ($input), copied, in order. Without any
 * the pipeline runs with no input. */
RMS_EXTERN int rms_request_add_input(rms_request *req, const rms_value *value);

/* A time limit for the whole operation in milliseconds (0: none). */
RMS_EXTERN int rms_request_set_timeout(rms_request *req, uint32_t timeout_ms);

/* ---- running operations ------------------------------------------------ */

/*
 * Start a request on a session. For streaming kinds this sends the first
 * message and returns; results come from rms_op_next / rms_op_next_chunk.
 * For single-result kinds it runs to completion. A backend that cannot run
 * the kind fails with RMS_E_UNSUPPORTED, naming the backend that can.
 */
RMS_EXTERN int rms_op_start(rms_op **out, rms_session *s, const rms_request *req);

/* Next instance (owned by the caller): 0 with *out set, RMS_ITEROVER at the
 * end, or an error (then rms_op_error tells what, and how many instances
 * had been delivered). RMS_E_SKIPPED is one instance's: a value in it did
 * not decode (the last error names the instance and the property); the
 * operation goes on, so call again for the next. rms_op_skipped counts
 * them. */
RMS_EXTERN int rms_op_next(rms_op *op, rms_instance **out);

/* A piece of command output. `data` is borrowed until the next call. */
typedef struct rms_chunk {
	rms_stream stream;
	const void *data;
	size_t len;
} rms_chunk;

/* Next output chunk of a run: 0, RMS_ITEROVER when the command has ended
 * (then rms_op_exit_code is known), or an error. */
RMS_EXTERN int rms_op_next_chunk(rms_op *op, rms_chunk *out);

/*
 * Next object of a PowerShell pipeline, from whichever stream it came on,
 * in the order the remote computer wrote them: 0 with *stream and *out
 * (owned by the caller), RMS_ITEROVER when the pipeline completed, or an
 * error: RMS_E_FAULT when the pipeline failed (a terminating error: the
 * error's message is the remote error's, and rms_op_error_record gives the
 * ErrorRecord), RMS_E_CANCELLED when it was stopped, a limit, a broken
 * session. Non-terminating errors are RMS_PS_ERROR records and do not end
 * the pipeline.
 */
RMS_EXTERN int rms_op_next_object(rms_op *op, rms_ps_stream *stream, rms_value **out);
/* The ErrorRecord a failed pipeline ended with (borrowed), or NULL. */
RMS_EXTERN const rms_value *rms_op_error_record(const rms_op *op);

/* Run the operation to its end (a callback-driven run, or draining a stream
 * whose items are not wanted). */
RMS_EXTERN int rms_op_wait(rms_op *op);

/* Results of finished single-result operations; borrowed from the op.
 * get / modify / invoke (out-parameters and ReturnValue) / identify: */
RMS_EXTERN const rms_instance *rms_op_result(const rms_op *op);
/* create: the new instance's reference. */
RMS_EXTERN const rms_ref *rms_op_created(const rms_op *op);
/* get class: */
RMS_EXTERN const rms_cim_class *rms_op_class(const rms_op *op);
/* run: the remote exit code, once the command has ended (else RMS_E_STATE). */
RMS_EXTERN int rms_op_exit_code(const rms_op *op, int *out);

/* Stop the operation. Safe to call from another thread or from a callback;
 * the op's calls then fail with RMS_E_CANCELLED. A running command is
 * signalled (ctrl_c, then terminate). */
RMS_EXTERN void rms_op_cancel(rms_op *op);

/* The op's own error (borrowed), NULL if it has not failed. */
RMS_EXTERN const rms_error *rms_op_error(const rms_op *op);
/* Which backend ran it, and why that one (see target.h). */
RMS_EXTERN rms_backend rms_op_backend(const rms_op *op);
RMS_EXTERN const char *rms_op_reason(const rms_op *op);
/* Instances or output bytes delivered so far. */
RMS_EXTERN uint64_t rms_op_delivered(const rms_op *op);
/* Instances that did not decode and were skipped (RMS_E_SKIPPED). */
RMS_EXTERN uint64_t rms_op_skipped(const rms_op *op);

/* Releases what the op holds on the server (an unfinished enumeration is
 * Released, a running command terminated) and frees it. Accepts NULL. */
RMS_EXTERN void rms_op_free(rms_op *op);

/* ---- class schema ------------------------------------------------------ */

RMS_EXTERN void rms_cim_class_free(rms_cim_class *cls);
RMS_EXTERN const char *rms_cim_class_name(const rms_cim_class *cls);
RMS_EXTERN const char *rms_cim_class_superclass(const rms_cim_class *cls);
RMS_EXTERN size_t rms_cim_class_property_count(const rms_cim_class *cls);
/* Name, declared type and flags (RMS_PROP_KEY) of the i-th property. */
RMS_EXTERN int rms_cim_class_property_at(const rms_cim_class *cls, size_t i, const char **name,
                                         rms_type *type, unsigned *flags);
RMS_EXTERN size_t rms_cim_class_method_count(const rms_cim_class *cls);
RMS_EXTERN const char *rms_cim_class_method_at(const rms_cim_class *cls, size_t i);

/* ---- blocking convenience wrappers ------------------------------------- */

RMS_EXTERN int rms_identify(rms_instance **out, rms_session *s);
RMS_EXTERN int rms_get(rms_instance **out, rms_session *s, const rms_ref *key);
RMS_EXTERN int rms_enumerate(rms_op **out, rms_session *s, const char *cim_namespace,
                             const char *class_name);
RMS_EXTERN int rms_query(rms_op **out, rms_session *s, const char *cim_namespace,
                         const char *wql);
/* `target` names the instance (instance method) or the class (no selectors:
 * static method). `in` may be NULL. *out gets the out-parameters and
 * ReturnValue. */
RMS_EXTERN int rms_invoke(rms_instance **out, rms_session *s, const rms_ref *target,
                          const char *method, const rms_instance *in);
RMS_EXTERN int rms_create(rms_ref **out, rms_session *s, const rms_instance *inst);
/* *out (may be NULL) gets the instance as the server returned it, if it did. */
RMS_EXTERN int rms_modify(rms_instance **out, rms_session *s, const rms_ref *key,
                          const rms_instance *inst);
RMS_EXTERN int rms_delete(rms_session *s, const rms_ref *key);
/* Run a command; output goes to `output` (may be NULL to discard it),
 * *exit_code gets the remote exit code. */
RMS_EXTERN int rms_run(int *exit_code, rms_session *s, const char *command, size_t argc,
                       const char *const *argv, rms_output_fn output, void *userdata);

#ifdef __cplusplus
}
#endif

#endif
