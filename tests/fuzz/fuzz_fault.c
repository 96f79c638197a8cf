/* SOAP faults (core/wsman/fault.c): the envelope through the streaming
 * reader as wsman.c reads an error answer, and the first Body child given
 * to rms__fault_raise; the error it records is read back whole. */
#include <libxml/tree.h>

#include "fault.h"
#include "fuzz_common.h"
#include "xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rms_soap_reader *r = NULL;
	if (rms__soap_reader_open(&r, (const char *)data, size, NULL, "fuzz fault") == 0) {
		xmlNode *n;
		if (rms__soap_reader_next(r, &n) == 0) {
			(void)rms__fault_raise(n, 500);
			const rms_error *e = rms_error_last();
			if (e) {
				(void)rms__fault_is_timed_out(e);
				(void)rms_error_fault_subcode(e);
				(void)rms_error_wsman_code(e);
				(void)rms_error_wmi_code(e);
				rms_error *copy = rms_error_dup(e);
				const char *m = rms_error_message(e);
				if (m && strlen(m) > (1u << 24))
					abort();
				(void)rms_error_fault_code(e);
				(void)rms_error_fault_reason(e);
				rms_error_free(copy);
			}
		}
		rms__soap_reader_free(r);
	}
	fuzz_done();
	return 0;
}
