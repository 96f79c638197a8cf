/*
 * The PSSession backend (New-PSSession semantics): creating a session
 * validates, connects, authenticates and opens the remote shell, and fails
 * right there. The transports (WinRM shells, SSH) are later milestones;
 * until they land, creation fails after offline validation with a clear
 * "not implemented" error, never with a pretend session.
 */
#include <stdio.h>

#include "backend.h"

static bool ps_supports(rms_op_kind kind)
{
	/* Commands, and the CIM queries that can run as a remote command. */
	return kind == RMS_OP_RUN || kind == RMS_OP_GET || kind == RMS_OP_ENUMERATE ||
	       kind == RMS_OP_QUERY || kind == RMS_OP_IDENTIFY;
}

static int ps_open(rms_session *s)
{
	return rms__not_implemented(RMS_BACKEND_PSSESSION,
	                            s->opts.transport == RMS_TRANSPORT_SSH
	                                    ? "the PSSession over SSH"
	                                    : "the PSSession over WinRM (remote shell)");
}

static int ps_close(rms_session *s)
{
	(void)s;
	return 0;
}

static void ps_destroy(rms_session *s)
{
	(void)s;
}

static int ps_start(rms_op *op)
{
	char what[96];
	snprintf(what, sizeof what, "the PSSession %s operation", rms_op_kind_name(op->req->kind));
	return rms__not_implemented(RMS_BACKEND_PSSESSION, what);
}

static int ps_next(rms_op *op, rms_instance **out)
{
	(void)out;
	return rms__not_implemented(RMS_BACKEND_PSSESSION, rms_op_kind_name(op->req->kind));
}

static int ps_next_chunk(rms_op *op, rms_chunk *out)
{
	(void)out;
	return rms__not_implemented(RMS_BACKEND_PSSESSION, rms_op_kind_name(op->req->kind));
}

static void ps_op_free(rms_op *op)
{
	(void)op;
}

const struct rms_backend_ops rms__pssession_backend = {
	.id = RMS_BACKEND_PSSESSION,
	.name = "PSSession",
	.supports = ps_supports,
	.open = ps_open,
	.close = ps_close,
	.destroy = ps_destroy,
	.start = ps_start,
	.next = ps_next,
	.next_chunk = ps_next_chunk,
	.op_free = ps_op_free,
};
