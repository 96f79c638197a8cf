/*
 * The CIM backend (New-CimSession semantics): creating a session opens
 * nothing; each operation connects, runs and disconnects. Identify (and the
 * optional test connection at creation) works; the CIM operations proper
 * come with the CIM backend milestone and say so until then.
 */
#include <stdio.h>

#include "backend.h"
#include "wsman.h"

/* One WS-Identify on a connection of its own, closed before returning:
 * a CIM session holds nothing between operations. */
static int identify(rms_session *s, atomic_bool *cancel, rms_instance **out)
{
	rms_wsman *w;
	int rc = rms__wsman_new(&w, &s->opts, &s->stats, &s->log, cancel);
	if (rc)
		return rc;
	rc = rms__wsman_identify(w, false, out);
	rms__wsman_free(w);
	return rc;
}

static bool cim_supports(rms_op_kind kind)
{
	/* Everything a CIM provider serves; commands need a remote shell. */
	return kind != RMS_OP_RUN;
}

static int cim_open(rms_session *s)
{
	if (s->opts.cim.test_connection) {
		/* As New-CimSession does without -SkipTestConnection: one
		 * Identify proves the endpoint and the credentials, and the
		 * connection is closed again. */
		rms_instance *id = NULL;
		int rc = identify(s, NULL, &id);
		rms_instance_free(id);
		if (rc == 0)
			rms__log(&s->log, RMS_LOG_INFO, "%s: test connection to %s succeeded",
			         s->name, s->endpoint);
		return rc;
	}
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
	if (op->req->kind == RMS_OP_IDENTIFY) {
		int rc = identify(op->session, &op->cancelled, &op->result);
		op->finished = true;
		return rc;
	}
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
