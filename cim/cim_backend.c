/*
 * The CIM backend (New-CimSession semantics): creating a session opens
 * nothing; each operation will connect, run and disconnect. The operations
 * themselves need the WS-Management client, which a later milestone adds;
 * until then they say so.
 */
#include <stdio.h>

#include "backend.h"

static bool cim_supports(rms_op_kind kind)
{
	/* Everything a CIM provider serves; commands need a remote shell. */
	return kind != RMS_OP_RUN;
}

static int cim_open(rms_session *s)
{
	if (s->opts.cim.test_connection)
		return rms__not_implemented(RMS_BACKEND_CIM,
		                            "the CIM test connection (WS-Identify at session "
		                            "creation, which needs the WS-Management client)");
	/* Deliberately no connection: a CIM session holds none. */
	rms__log(&s->log, RMS_LOG_DEBUG, "%s: lazy CIM session, no connection opened", s->name);
	return 0;
}

static int cim_close(rms_session *s)
{
	(void)s;
	return 0;
}

static void cim_destroy(rms_session *s)
{
	(void)s;
}

static int cim_start(rms_op *op)
{
	char what[96];
	snprintf(what, sizeof what, "the CIM %s operation (it needs the WS-Management client)",
	         rms_op_kind_name(op->req->kind));
	return rms__not_implemented(RMS_BACKEND_CIM, what);
}

static int cim_next(rms_op *op, rms_instance **out)
{
	(void)out;
	return rms__not_implemented(RMS_BACKEND_CIM, rms_op_kind_name(op->req->kind));
}

static int cim_next_chunk(rms_op *op, rms_chunk *out)
{
	(void)op;
	(void)out;
	return rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_NONE,
	                      "the CIM backend cannot run commands; the PSSession backend can");
}

static void cim_op_free(rms_op *op)
{
	(void)op;
}

const struct rms_backend_ops rms__cim_backend = {
	.id = RMS_BACKEND_CIM,
	.name = "CIM",
	.supports = cim_supports,
	.open = cim_open,
	.close = cim_close,
	.destroy = cim_destroy,
	.start = cim_start,
	.next = cim_next,
	.next_chunk = cim_next_chunk,
	.op_free = cim_op_free,
};
