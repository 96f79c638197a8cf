/*
 * Operations: the backend-independent half. Checks a request is complete
 * for its kind, that the session can run it, dispatches to the backend
 * vtable, and keeps the op's own error so that it cannot be overwritten by
 * another operation's failure.
 */
#include <stdlib.h>
#include <string.h>

#include "backend.h"

int rms__op_fail(rms_op *op, int rc)
{
	if (!rms__is_failure(rc))
		return rc;
	struct rms_error *e = rms__error_last_mut();
	if (e) {
		if (e->backend == RMS_BACKEND_NONE)
			e->backend = op->backend;
		e->items_delivered = op->delivered;
	}
	rms_error_free(op->error);
	op->error = rms_error_dup(rms_error_last());
	return rc;
}

/* What each kind needs before it can start. */
int rms__request_check(const rms_request *r)
{
	const char *missing = NULL;
	switch (r->kind) {
	case RMS_OP_ENUMERATE:
	case RMS_OP_GET_CLASS:
		if (!r->class_name)
			missing = "class (rms_request_set_class)";
		break;
	case RMS_OP_QUERY:
		if (!r->query)
			missing = "query (rms_request_set_query)";
		break;
	case RMS_OP_GET:
	case RMS_OP_DELETE:
	case RMS_OP_ASSOCIATORS:
	case RMS_OP_REFERENCES:
		if (!r->ref)
			missing = "the instance's reference (rms_request_set_ref)";
		break;
	case RMS_OP_MODIFY:
		if (!r->ref)
			missing = "the instance's reference (rms_request_set_ref)";
		else if (!r->input)
			missing = "the new property values (rms_request_set_input)";
		break;
	case RMS_OP_INVOKE:
		if (!r->method)
			missing = "method (rms_request_set_method)";
		else if (!r->ref && !r->class_name)
			missing = "an instance reference or a class (rms_request_set_ref or "
			          "rms_request_set_class)";
		break;
	case RMS_OP_CREATE:
		if (!r->input)
			missing = "the new instance (rms_request_set_input)";
		break;
	case RMS_OP_RUN:
		if (!r->command)
			missing = "command (rms_request_set_command)";
		break;
	case RMS_OP_POWERSHELL:
		if (!r->ps_ncmds)
			missing = "a script or a command (rms_request_set_script or "
			          "rms_request_add_command)";
		break;
	case RMS_OP_IDENTIFY:
		break;
	}
	if (missing)
		return rms__error_field(RMS_E_INVALID_ARG, "request", "a %s request needs %s",
		                        rms_op_kind_name(r->kind), missing);
	return 0;
}

int rms__session_usable(const rms_session *s)
{
	if (s->opening)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE,
		                      "%s is still opening: start operations on it after its "
		                      "RMS_MSG_OPENED", s->name);
	if (s->closing)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE, "%s is closing", s->name);
	if (s->state == RMS_STATE_CLOSED)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE, "%s is closed", s->name);
	if (s->state == RMS_STATE_BROKEN)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE, "%s is broken: %s", s->name,
		                      s->broken_reason ? rms_error_message(s->broken_reason)
		                                       : "the connection was lost");
	return 0;
}

static bool streams(rms_op_kind k);
static int finish_start(rms_op *op);

static int op_start(rms_op **out, rms_session *s, const rms_request *req, const char *reason,
                    bool nonblocking, uint64_t origin_ms)
{
	int rc;
	if (!s)
		return rms__error_field(RMS_E_INVALID_ARG, "session", "session is NULL");
	if (!req)
		return rms__error_field(RMS_E_INVALID_ARG, "request", "request is NULL");
	if ((rc = rms__request_check(req)) || (rc = rms__session_usable(s)))
		return rc;
	if (!s->ops->supports(&s->opts, req->kind)) {
		/* The other backend as it would run with default settings. */
		rms_session_options dflt;
		rms_session_options_init(&dflt, RMS_SESSION_OPTIONS_VERSION);
		const struct rms_backend_ops *other =
			rms__backend_ops(s->ops->id == RMS_BACKEND_CIM ? RMS_BACKEND_PSSESSION
			                                               : RMS_BACKEND_CIM, &dflt);
		if (other->supports(&dflt, req->kind))
			rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_NONE,
			               "the %s backend cannot %s; the %s backend can", s->ops->name,
			               rms_op_kind_name(req->kind), other->name);
		else
			rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_NONE, "no backend can %s",
			               rms_op_kind_name(req->kind));
		rms__error_set_backend(s->ops->id);
		return RMS_E_UNSUPPORTED;
	}
	rms_op *op = calloc(1, sizeof *op);
	if (!op)
		return rms__error_nomem();
	op->session = s;
	op->backend = s->ops->id;
	op->reason = reason;
	op->nonblocking = nonblocking;
	atomic_init(&op->cancelled, false);
	if ((rc = rms__request_dup(&op->req, req))) {
		free(op);
		return rc;
	}
	op->req->origin_ms = origin_ms;
	s->stats.operations++;
	if ((rc = s->ops->start(op)) || (!nonblocking && (rc = finish_start(op)))) {
		rms__op_fail(op, rc);
		rms_op_free(op);
		return rc;
	}
	*out = op;
	return 0;
}

int rms__op_start_nb(rms_op **out, rms_session *s, const rms_request *req, const char *reason,
                     bool nonblocking)
{
	*out = NULL;
	int rc = op_start(out, s, req, reason, nonblocking, 0);
	if (rc && s)
		rms__error_default_backend(s->ops->id);
	return rc;
}

int rms__op_start(rms_op **out, rms_session *s, const rms_request *req, const char *reason)
{
	return rms__op_start_nb(out, s, req, reason, false);
}

int rms__op_start_since(rms_op **out, rms_session *s, const rms_request *req,
                        const char *reason, uint64_t origin_ms)
{
	*out = NULL;
	int rc = op_start(out, s, req, reason, false, origin_ms);
	if (rc && s)
		rms__error_default_backend(s->ops->id);
	return rc;
}

uint64_t rms__request_deadline(const rms_request *r)
{
	if (!r->timeout_ms)
		return 0;
	return (r->origin_ms ? r->origin_ms : rms__now_ms()) + r->timeout_ms;
}

int rms_op_start(rms_op **out, rms_session *s, const rms_request *req)
{
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "out is NULL");
	return rms__op_start(out, s, req, "the caller's session");
}

static int op_ready(rms_op *op)
{
	if (!op)
		return rms__error_field(RMS_E_INVALID_ARG, "op", "op is NULL");
	if (atomic_load(&op->cancelled))
		return rms__op_fail(op, rms__error_set(RMS_E_CANCELLED, RMS_PHASE_NONE,
		                                       "the %s operation was cancelled",
		                                       rms_op_kind_name(op->req->kind)));
	if (op->error)
		return rms__error_restore(op->error);
	return 0;
}

/* One step of op. 0: something for the caller (loop again); RMS_EAGAIN:
 * waiting, and the op is driven by an engine, so the caller returns it;
 * <0: failed. A blocking op waits here for what the step waits on. */
static int op_step(rms_op *op)
{
	int rc = op->session->ops->step(op, &op->wait);
	if (rc == RMS_EAGAIN) {
		/* Everything ready has been taken: an engine may post READY
		 * again when more comes. */
		op->ready = false;
		if (!op->nonblocking)
			return rms__wait_block(&op->wait);
	}
	return rc;
}

/* op_step for a caller that wants an item: a backend whose step says an
 * item is ready while its next finds none would spin here for ever; the
 * second time in a row is a bug in that backend, reported as one. */
static int op_step_for_item(rms_op *op, int *idle)
{
	int rc = op->session->ops->step(op, &op->wait);
	if (rc == 0 && !op->ended && ++*idle > 1)
		return rms__error_set(RMS_E_INTERNAL, RMS_PHASE_NONE,
		                      "the %s backend said a %s item was ready and then had none",
		                      op->session->ops->name, rms_op_kind_name(op->req->kind));
	if (rc == RMS_EAGAIN) {
		*idle = 0;
		op->ready = false;
		if (!op->nonblocking)
			return rms__wait_block(&op->wait);
	}
	return rc;
}

/* Single-result kinds (and a run with an output callback) end inside
 * step. */
static bool ends_in_step(const rms_op *op)
{
	return !streams(op->req->kind) && op->req->kind != RMS_OP_POWERSHELL &&
	       (op->req->kind != RMS_OP_RUN || op->req->output_fn);
}

/* What a blocking start has always done before returning: a single-result
 * kind runs to its end (its result is on the op right after rms_op_start).
 * How far a streaming kind or a run gets before start returns is the
 * backend's to say in its start when op->nonblocking is false (the CIM
 * backend waits for the Enumerate's answer, so rms_enumerate itself reports
 * a bad class; the PSSession sends the command), as it always has. */
static int finish_start(rms_op *op)
{
	if (!ends_in_step(op) || op->req->kind == RMS_OP_RUN || op->req->kind == RMS_OP_POWERSHELL)
		return 0;
	int rc = 0;
	while (!op->ended && rc == 0)
		rc = op_step(op);
	return rc;
}

static bool streams(rms_op_kind k)
{
	return k == RMS_OP_ENUMERATE || k == RMS_OP_QUERY || k == RMS_OP_ASSOCIATORS ||
	       k == RMS_OP_REFERENCES;
}

int rms_op_next(rms_op *op, rms_instance **out)
{
	int rc = op_ready(op);
	if (rc)
		return rc;
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "out is NULL");
	*out = NULL;
	if (!streams(op->req->kind))
		return rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_NONE,
		                      "a %s operation has no stream of instances; use rms_op_result",
		                      rms_op_kind_name(op->req->kind));
	if (op->finished)
		return RMS_ITEROVER;
	int idle = 0;
	while ((rc = op->session->ops->next(op, out)) == RMS_EAGAIN)
		if ((rc = op_step_for_item(op, &idle)) != 0)
			break;
	if (rc == 0)
		op->delivered++;
	else if (rc == RMS_ITEROVER)
		op->finished = true;
	else if (rc == RMS_E_SKIPPED)
		op->skipped++;
	return rms__op_fail(op, rc);
}

uint64_t rms_op_skipped(const rms_op *op)
{
	return op ? op->skipped : 0;
}

int rms_op_next_chunk(rms_op *op, rms_chunk *out)
{
	int rc = op_ready(op);
	if (rc)
		return rc;
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "out is NULL");
	memset(out, 0, sizeof *out);
	if (op->req->kind != RMS_OP_RUN)
		return rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_NONE,
		                      "a %s operation has no command output",
		                      rms_op_kind_name(op->req->kind));
	if (op->req->output_fn)
		return rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_NONE,
		                      "output goes to the request's output callback; use rms_op_wait");
	if (op->finished)
		return RMS_ITEROVER;
	int idle = 0;
	while ((rc = op->session->ops->next_chunk(op, out)) == RMS_EAGAIN)
		if ((rc = op_step_for_item(op, &idle)) != 0)
			break;
	if (rc == 0)
		op->delivered += out->len;
	else if (rc == RMS_ITEROVER)
		op->finished = true;
	return rms__op_fail(op, rc);
}

int rms_op_next_object(rms_op *op, rms_ps_stream *stream, rms_value **out)
{
	int rc = op_ready(op);
	if (rc)
		return rc;
	if (!out || !stream)
		return rms__error_field(RMS_E_INVALID_ARG, out ? "stream" : "out", "NULL argument");
	*out = NULL;
	*stream = RMS_PS_OUTPUT;
	if (op->req->kind != RMS_OP_POWERSHELL || !op->session->ops->next_object)
		return rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_NONE,
		                      "a %s operation has no PowerShell objects",
		                      rms_op_kind_name(op->req->kind));
	if (op->finished)
		return RMS_ITEROVER;
	int idle = 0;
	while ((rc = op->session->ops->next_object(op, stream, out)) == RMS_EAGAIN)
		if ((rc = op_step_for_item(op, &idle)) != 0)
			break;
	if (rc == 0)
		op->delivered++;
	else if (rc == RMS_ITEROVER)
		op->finished = true;
	return rms__op_fail(op, rc);
}

const rms_value *rms_op_error_record(const rms_op *op)
{
	return op ? op->error_record : NULL;
}

int rms_op_wait(rms_op *op)
{
	int rc = op_ready(op);
	if (rc)
		return rc;
	if (streams(op->req->kind)) {
		rms_instance *inst;
		while ((rc = rms_op_next(op, &inst)) == 0 || rc == RMS_E_SKIPPED)
			if (rc == 0)
				rms_instance_free(inst);
		return rc == RMS_ITEROVER ? 0 : rc;
	}
	if (ends_in_step(op)) {
		while (!op->ended && rc == 0)
			rc = op_step(op);
		if (rc == 0 && op->req->kind == RMS_OP_RUN)
			op->finished = true;
		return rms__op_fail(op, rc);
	}
	if (op->req->kind == RMS_OP_POWERSHELL && !op->finished) {
		rms_ps_stream st;
		rms_value *v;
		while ((rc = rms_op_next_object(op, &st, &v)) == 0)
			rms_value_free(v);
		return rc == RMS_ITEROVER ? 0 : rc;
	}
	if (op->req->kind == RMS_OP_RUN && !op->finished) {
		rms_chunk c;
		while ((rc = rms_op_next_chunk(op, &c)) == 0)
			;
		return rc == RMS_ITEROVER ? 0 : rc;
	}
	return 0;
}

const rms_instance *rms_op_result(const rms_op *op) { return op ? op->result : NULL; }
const rms_ref *rms_op_created(const rms_op *op) { return op ? op->created : NULL; }
const rms_cim_class *rms_op_class(const rms_op *op) { return op ? op->cls : NULL; }
const rms_error *rms_op_error(const rms_op *op) { return op ? op->error : NULL; }
rms_backend rms_op_backend(const rms_op *op) { return op ? op->backend : RMS_BACKEND_NONE; }
const char *rms_op_reason(const rms_op *op) { return op ? op->reason : NULL; }
uint64_t rms_op_delivered(const rms_op *op) { return op ? op->delivered : 0; }

int rms_op_exit_code(const rms_op *op, int *out)
{
	if (!op || !out)
		return rms__error_field(RMS_E_INVALID_ARG, op ? "out" : "op", "NULL argument");
	if (!op->have_exit_code)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE,
		                      op->req->kind == RMS_OP_RUN
		                              ? "the command has not ended yet"
		                              : "only a run operation has an exit code");
	*out = op->exit_code;
	return 0;
}

void rms_op_cancel(rms_op *op)
{
	if (op)
		atomic_store(&op->cancelled, true);
}

void rms_op_free(rms_op *op)
{
	if (!op)
		return;
	rms__multi_forget_op(op);
	if (op->session && op->session->ops->op_free) {
		struct rms_error *keep = rms__error_park();
		op->session->ops->op_free(op);
		rms__error_unpark(keep);
	}
	rms_request_free(op->req);
	rms_error_free(op->error);
	rms_instance_free(op->result);
	rms_value_free(op->error_record);
	rms_ref_free(op->created);
	rms_cim_class_free(op->cls);
	free(op);
}

/* ---- blocking wrappers ------------------------------------------------- */

/* Run a single-result request to its end; *op_out keeps the finished op. */
static int run_request(rms_op **op_out, rms_session *s, rms_request *req)
{
	int rc = rms__op_start(op_out, s, req, "the caller's session");
	rms_request_free(req);
	if (rc)
		return rc;
	if ((rc = rms_op_wait(*op_out))) {
		rms_op_free(*op_out);
		*op_out = NULL;
	}
	return rc;
}

static int take_result(rms_instance **out, rms_op *op)
{
	if (out) {
		*out = op->result;
		op->result = NULL;
	}
	rms_op_free(op);
	return 0;
}

static int new_request(rms_request **req, rms_op_kind kind, rms_session *s)
{
	if (!s)
		return rms__error_field(RMS_E_INVALID_ARG, "session", "session is NULL");
	return rms_request_new(req, kind);
}

int rms_identify(rms_instance **out, rms_session *s)
{
	rms_request *req;
	rms_op *op;
	int rc;
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "out is NULL");
	*out = NULL;
	if ((rc = new_request(&req, RMS_OP_IDENTIFY, s)) || (rc = run_request(&op, s, req)))
		return rc;
	return take_result(out, op);
}

int rms_get(rms_instance **out, rms_session *s, const rms_ref *key)
{
	rms_request *req;
	rms_op *op;
	int rc;
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "out is NULL");
	*out = NULL;
	if ((rc = new_request(&req, RMS_OP_GET, s)))
		return rc;
	if ((rc = rms_request_set_ref(req, key))) {
		rms_request_free(req);
		return rc;
	}
	if ((rc = run_request(&op, s, req)))
		return rc;
	return take_result(out, op);
}

static int start_stream(rms_op **out, rms_session *s, rms_request *req, int rc)
{
	if (!rc)
		rc = rms__op_start(out, s, req, "the caller's session");
	rms_request_free(req);
	return rc;
}

int rms_enumerate(rms_op **out, rms_session *s, const char *ns, const char *class_name)
{
	rms_request *req;
	int rc;
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "out is NULL");
	*out = NULL;
	if ((rc = new_request(&req, RMS_OP_ENUMERATE, s)))
		return rc;
	rc = rms_request_set_namespace(req, ns);
	if (!rc)
		rc = rms_request_set_class(req, class_name);
	return start_stream(out, s, req, rc);
}

int rms_query(rms_op **out, rms_session *s, const char *ns, const char *wql)
{
	rms_request *req;
	int rc;
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "out is NULL");
	*out = NULL;
	if ((rc = new_request(&req, RMS_OP_QUERY, s)))
		return rc;
	rc = rms_request_set_namespace(req, ns);
	if (!rc)
		rc = rms_request_set_query(req, RMS_DIALECT_WQL, wql);
	return start_stream(out, s, req, rc);
}

int rms_invoke(rms_instance **out, rms_session *s, const rms_ref *target, const char *method,
               const rms_instance *in)
{
	rms_request *req;
	rms_op *op;
	int rc;
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "out is NULL");
	*out = NULL;
	if ((rc = new_request(&req, RMS_OP_INVOKE, s)))
		return rc;
	rc = rms_request_set_ref(req, target);
	if (!rc)
		rc = rms_request_set_method(req, method);
	if (!rc && in)
		rc = rms_request_set_input(req, in);
	if (rc) {
		rms_request_free(req);
		return rc;
	}
	if ((rc = run_request(&op, s, req)))
		return rc;
	return take_result(out, op);
}

int rms_create(rms_ref **out, rms_session *s, const rms_instance *inst)
{
	rms_request *req;
	rms_op *op;
	int rc;
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "out is NULL");
	*out = NULL;
	if ((rc = new_request(&req, RMS_OP_CREATE, s)))
		return rc;
	if ((rc = rms_request_set_input(req, inst))) {
		rms_request_free(req);
		return rc;
	}
	if ((rc = run_request(&op, s, req)))
		return rc;
	*out = op->created;
	op->created = NULL;
	rms_op_free(op);
	return 0;
}

int rms_modify(rms_instance **out, rms_session *s, const rms_ref *key, const rms_instance *inst)
{
	rms_request *req;
	rms_op *op;
	int rc;
	if (out)
		*out = NULL;
	if ((rc = new_request(&req, RMS_OP_MODIFY, s)))
		return rc;
	rc = rms_request_set_ref(req, key);
	if (!rc)
		rc = rms_request_set_input(req, inst);
	if (rc) {
		rms_request_free(req);
		return rc;
	}
	if ((rc = run_request(&op, s, req)))
		return rc;
	return take_result(out, op);
}

int rms_delete(rms_session *s, const rms_ref *key)
{
	rms_request *req;
	rms_op *op;
	int rc;
	if ((rc = new_request(&req, RMS_OP_DELETE, s)))
		return rc;
	if ((rc = rms_request_set_ref(req, key))) {
		rms_request_free(req);
		return rc;
	}
	if ((rc = run_request(&op, s, req)))
		return rc;
	rms_op_free(op);
	return 0;
}

int rms_run(int *exit_code, rms_session *s, const char *command, size_t argc,
            const char *const *argv, rms_output_fn output, void *userdata)
{
	rms_request *req;
	rms_op *op;
	int rc;
	if (!exit_code)
		return rms__error_field(RMS_E_INVALID_ARG, "exit_code",
		                                           "exit_code is NULL");
	if ((rc = new_request(&req, RMS_OP_RUN, s)))
		return rc;
	rc = rms_request_set_command(req, command, argc, argv);
	if (!rc && output)
		rc = rms_request_set_output_fn(req, output, userdata);
	if (rc) {
		rms_request_free(req);
		return rc;
	}
	if ((rc = run_request(&op, s, req)))
		return rc;
	rc = rms_op_exit_code(op, exit_code);
	rms_op_free(op);
	return rc;
}
