/* CimInstances from a PowerShell-remoting PSSession (psremote/ps_cim_psrp.c):
 * the input decoded as CLIXML (one PSRP message body), then as a pipeline's
 * output object through rms__ps_cim_decode_object twice with one class
 * cache (the second time finds the classes the first learnt, as a stream's
 * later objects do), and as a failed pipeline's ErrorRecord; each instance
 * decoded is written out as JSON. */
#include "clixml.h"
#include "fuzz_common.h"
#include "ps_cim_psrp.h"

static void decode(const rms_value *v, rms_ps_cim_classes *classes)
{
	rms_instance *inst = NULL;
	if (rms__ps_cim_decode_object(&inst, v, classes) == 0) {
		char *s = NULL;
		if (rms_instance_to_json(&s, inst) == 0)
			rms_free(s);
		rms_instance_free(inst);
	}
	rms_error_clear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rms_clixml_limits lim = {.max_depth = 64, .max_values = 100000};
	rms_value *v = NULL;
	if (rms__clixml_decode(&v, (const char *)data, size, &lim, "fuzz input") == 0) {
		rms_ps_cim_classes classes = {0};
		decode(v, &classes);
		decode(v, &classes);
		rms__ps_cim_classes_free(&classes);
		rms__ps_cim_record_error(v, "fuzz pipeline");
		rms_value_free(v);
	}
	fuzz_done();
	return 0;
}
