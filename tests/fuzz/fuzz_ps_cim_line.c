/* The PSSession's CIM JSON lines (psremote/ps_cim.c): one line through
 * rms__ps_cim_decode_line, the instance written back as JSON and text. */
#include "fuzz_common.h"
#include "ps_cim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rms_instance *inst = NULL;
	if (rms__ps_cim_decode_line(&inst, (const char *)data, size, "root/cimv2") == 0) {
		char *s = NULL;
		if (rms_instance_to_json(&s, inst) == 0)
			free(s);
		rms_instance_free(inst);
	}
	fuzz_done();
	return 0;
}
