/*
 * The backend vtable, and the internal layout of sessions, requests and
 * operations that core/ shares with the backends.
 *
 * Arrows point down only: cim/ and psremote/ include this header (and the
 * rest of core/), never each other. core/ reaches a backend only through
 * its vtable.
 */
#ifndef RMS_CORE_BACKEND_H
#define RMS_CORE_BACKEND_H

#include <stdatomic.h>
#include <stdbool.h>

#include "remsess/remsess.h"
#include "error_internal.h"
#include "log.h"

struct rms_backend_ops {
	rms_backend id;
	const char *name; /* "CIM", "PSSession" */
	/* Whether the backend can run this kind at all. */
	bool (*supports)(rms_op_kind kind);
	/* Called by rms_session_new after the options were validated and
	 * copied into s->opts: the CIM backend opens nothing, the PSSession
	 * backend connects and opens its shell. On failure the session is
	 * destroyed without calling close. */
	int (*open)(rms_session *s);
	/* Release remote state (delete the shell); the session stays. */
	int (*close)(rms_session *s);
	/* Free backend-private state (s->priv). Always called once. */
	void (*destroy)(rms_session *s);
	/* Start op->req on op->session. */
	int (*start)(rms_op *op);
	int (*next)(rms_op *op, rms_instance **out);
	int (*next_chunk)(rms_op *op, rms_chunk *out);
	/* Release server-side state of an unfinished op and free op->priv. */
	void (*op_free)(rms_op *op);
};

extern const struct rms_backend_ops rms__cim_backend;
extern const struct rms_backend_ops rms__pssession_backend;
/* The PSSession backend over SSH (psremote/ps_ssh.c): same id and name,
 * chosen by rms_session_new when opts.transport is RMS_TRANSPORT_SSH. */
extern const struct rms_backend_ops rms__pssession_ssh_backend;

const struct rms_backend_ops *rms__backend_ops(rms_backend id);

struct rms_session {
	const struct rms_backend_ops *ops;
	rms_session_options opts; /* deep copy; strings owned */
	rms_session_state state;
	uint32_t id;
	char *name;
	char instance_id[37];
	char *computer_name;
	char *endpoint;
	rms_error *broken_reason;
	rms_stats stats;
	rms_logger log;
	void *priv; /* the backend's */
};

struct rms_request {
	rms_op_kind kind;
	char *cim_namespace;
	char *class_name;
	rms_ref *ref;
	char *dialect;
	char *query;
	char *method;
	rms_instance *input;
	char *assoc_class;
	char *result_class;
	char *role;
	char *result_role;
	char *command;
	char **argv;
	size_t argc;
	unsigned char *stdin_data;
	size_t stdin_len;
	bool has_stdin;
	rms_stdin_fn stdin_fn;
	void *stdin_userdata;
	rms_output_fn output_fn;
	void *output_userdata;
	uint32_t timeout_ms;
};

struct rms_op {
	rms_session *session;
	rms_request *req; /* a private copy */
	rms_backend backend;
	const char *reason;
	atomic_bool cancelled;
	bool finished;
	rms_error *error;
	uint64_t delivered;
	rms_instance *result;
	rms_ref *created;
	rms_cim_class *cls;
	bool have_exit_code;
	int exit_code;
	void *priv; /* the backend's */
};

/* Deep copies of option structs and requests. */
int rms__options_copy(rms_session_options *dst, const rms_session_options *src);
void rms__options_free(rms_session_options *opts);
int rms__request_dup(rms_request **out, const rms_request *req);

/* Start a request on a session; reason says why this session ran it. */
int rms__op_start(rms_op **out, rms_session *s, const rms_request *req, const char *reason);
/* RMS_E_STATE when the session is closed or broken (saying why). */
int rms__session_usable(const rms_session *s);

/* Record the last error as the op's own (and tag it with the backend);
 * returns rc. */
int rms__op_fail(rms_op *op, int rc);

/* The effective namespace of a request ("root/cimv2" by default), with
 * backslashes turned into slashes. Returned string is owned by the caller. */
char *rms__request_namespace(const rms_request *req, const rms_session *s);
/* The namespace an operation addresses: its reference's (or, for create,
 * its instance's) when that carries one and the request names none, else
 * rms__request_namespace. Both backends use this, so the same request
 * reaches the same namespace on either. */
char *rms__request_target_namespace(const rms_request *req, const rms_session *s);

/* The target's session for b if it has made one, else NULL (makes none). */
rms_session *rms__target_peek(const rms_target *t, rms_backend b);

/* Raise RMS_E_NOT_IMPLEMENTED for something a later milestone builds; the
 * message names what and which backend. */
int rms__not_implemented(rms_backend backend, const char *what);

#endif
