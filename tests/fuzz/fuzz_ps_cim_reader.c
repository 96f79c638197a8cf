/* The PSSession's CIM line reader (psremote/ps_cim.c): the input is split
 * into stdout and stderr pieces (a control byte each: stream, length) fed
 * in order with instances taken between, then the end with an exit code,
 * under a small per-line cap. */
#include "fuzz_common.h"
#include "ps_cim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rms_ps_cim_reader r;
	if (size < 2)
		return 0;
	uint64_t max_line = data[0] & 1 ? 0 : 64u + data[1] * 16u;
	int exit_code = data[1] & 3;
	data += 2, size -= 2;
	if (rms__ps_cim_reader_init(&r, max_line, "root/cimv2") != 0)
		abort();
	int rc = 0;
	while (size > 0 && rc == 0) {
		unsigned ctl = data[0];
		data++, size--;
		size_t n = (ctl & 0x7f) + 1;
		if (n > size)
			n = size;
		rc = rms__ps_cim_feed(&r, ctl & 0x80 ? RMS_STREAM_STDERR : RMS_STREAM_STDOUT, data, n);
		data += n, size -= n;
		while (rc == 0 && rms__ps_cim_ready(&r)) {
			rms_instance *inst = NULL;
			int t = rms__ps_cim_take(&r, &inst);
			if (t == 0)
				rms_instance_free(inst);
			else if (t == RMS_EAGAIN)
				abort(); /* ready said a whole line is there */
			rms_error_clear();
		}
	}
	if (rc == 0) {
		rms_instance *inst = NULL;
		for (int i = 0; i < 4; i++) {
			int e = rms__ps_cim_end(&r, exit_code, &inst);
			if (e != 0)
				break;
			rms_instance_free(inst);
			inst = NULL;
		}
	}
	rms__ps_cim_reader_free(&r);
	fuzz_done();
	return 0;
}
