/* Received-data caps and the output callback loop of the PSSession (see
 * ps_limits.h). */
#include "ps_limits.h"

uint64_t rms__ps_object_cap(const rms_session_options *o, uint64_t default_object)
{
	uint64_t obj = o->pssession.max_received_object_size;
	return obj == RMS_LIMIT_DEFAULT ? default_object : obj;
}

int rms__ps_caps_check(const rms_session_options *o, uint64_t default_object, bool check_object,
                       uint64_t *received, uint64_t more, const char **name, uint64_t *cap,
                       uint64_t *got)
{
	uint64_t obj = rms__ps_object_cap(o, default_object);
	uint64_t cmd = o->pssession.max_received_per_command;
	if (cmd == RMS_LIMIT_DEFAULT)
		cmd = RMS_PS_DEFAULT_PER_COMMAND;
	if (check_object && obj != RMS_LIMIT_UNLIMITED && more > obj) {
		*name = "MaximumReceivedObjectSize";
		*cap = obj;
		*got = more;
		return RMS_E_LIMIT;
	}
	if (cmd != RMS_LIMIT_UNLIMITED && *received + more > cmd) {
		*name = "MaximumReceivedDataSizePerCommand";
		*cap = cmd;
		*got = *received + more;
		return RMS_E_LIMIT;
	}
	*received += more;
	return 0;
}

int rms__ps_limit_error(const char *name, uint64_t cap, uint64_t got, uint64_t delivered,
                        const char *unit)
{
	rms__error_set(RMS_E_LIMIT, RMS_PHASE_LIMIT,
	               "%s exceeded: %llu bytes received, the limit is %llu; the command was "
	               "stopped (%llu %s had been delivered)",
	               name, (unsigned long long)got, (unsigned long long)cap,
	               (unsigned long long)delivered, unit);
	rms__error_set_limit(name, cap, got);
	return RMS_E_LIMIT;
}

int rms__ps_drive_output(rms_op *op, int (*next)(rms_op *, rms_chunk *),
                         int (*cancelled)(rms_op *, const char *))
{
	rms_chunk c;
	int rc;
	while ((rc = next(op, &c)) == 0) {
		op->delivered += c.len;
		if (op->req->output_fn(c.stream, c.data, c.len, op->req->output_userdata))
			return cancelled(op, "the output callback asked to stop");
	}
	return rc;
}
