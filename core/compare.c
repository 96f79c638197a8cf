/*
 * Side-by-side comparison. The record type and its getters are in place;
 * running both sides needs the two backends' operations, which later
 * milestones build, so rms_compare says so rather than invent a record.
 */
#include <stdlib.h>

#include "backend.h"

struct rms_comparison {
	bool equal;
	char *where;
	char *cim_value;
	char *ps_value;
	rms_side_report sides[2];
	rms_error *errors[2];
};

int rms_compare(rms_comparison **out, rms_target *t, const rms_request *req, rms_error **err)
{
	if (!out || !t || !req)
		return rms__error_out(err, rms__error_field(RMS_E_INVALID_ARG,
		                                           !out ? "out" : !t ? "target" : "request",
		                                           "NULL argument"));
	*out = NULL;
	return rms__error_out(err, rms__not_implemented(RMS_BACKEND_NONE,
	                                                "side-by-side comparison"));
}

void rms_comparison_free(rms_comparison *c)
{
	if (!c)
		return;
	free(c->where);
	free(c->cim_value);
	free(c->ps_value);
	rms_error_free(c->errors[0]);
	rms_error_free(c->errors[1]);
	free(c);
}

bool rms_comparison_equal(const rms_comparison *c) { return c && c->equal; }
const char *rms_comparison_where(const rms_comparison *c) { return c ? c->where : NULL; }
const char *rms_comparison_cim_value(const rms_comparison *c) { return c ? c->cim_value : NULL; }
const char *rms_comparison_pssession_value(const rms_comparison *c)
{
	return c ? c->ps_value : NULL;
}

const rms_side_report *rms_comparison_side(const rms_comparison *c, rms_backend backend)
{
	if (!c || (backend != RMS_BACKEND_CIM && backend != RMS_BACKEND_PSSESSION))
		return NULL;
	return &c->sides[backend == RMS_BACKEND_CIM ? 0 : 1];
}

int rms_comparison_to_json(char **out, const rms_comparison *c)
{
	if (!out || !c)
		return rms__error_field(RMS_E_INVALID_ARG, out ? "comparison" : "out", "NULL argument");
	*out = NULL;
	return rms__not_implemented(RMS_BACKEND_NONE, "the comparison record's JSON form");
}
