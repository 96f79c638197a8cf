/* PSRP fragments (psremote/psrp_wire.c): the input after its first byte is
 * fed to a defragmenter in 1 to 3 pieces cut on whole fragments
 * (rms__psrp_fragments_prefix), and every message it completes goes
 * through rms__psrp_message_unpack. The first byte chooses the number of
 * pieces, where they are cut and whether a 4 KiB MaximumReceivedObjectSize
 * applies. */
#include "fuzz_common.h"
#include "psrp_wire.h"

static void drain(rms_psrp_defrag *d)
{
	unsigned char *msg;
	size_t len;
	while (rms__psrp_defrag_next(d, &msg, &len) == 0) {
		rms_psrp_message m;
		if (rms__psrp_message_unpack(&m, msg, len) == 0 &&
		    (m.data < (const char *)msg || m.data + m.len > (const char *)msg + len))
			abort();
		free(msg);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	unsigned b = data[0];
	const uint8_t *p = data + 1;
	size_t left = size - 1;
	rms_psrp_defrag *d = NULL;
	if (rms__psrp_defrag_new(&d, (b & 0x80) ? 4096 : UINT64_MAX))
		abort();
	unsigned pieces = 1 + b % 3;
	for (unsigned i = 0; i < pieces; i++) {
		size_t n = left;
		if (i + 1 < pieces) {
			/* up to a fraction (1/8 .. 8/8) of what is left */
			size_t max = left / 8 * (((b >> (2 + 2 * i)) & 7) + 1);
			n = rms__psrp_fragments_prefix(p, left, max);
			if (n > max || n > left)
				abort();
		}
		int rc = rms__psrp_defrag_feed(d, p, n);
		/* The memory held is bounded by what was fed: a buffer per
		 * object of at most twice its size, or one byte when empty
		 * (and every object took a 21-byte header). */
		if (rms__psrp_defrag_held(d) > 2 * size + size / 21 + 1)
			abort();
		drain(d);
		if (rc)
			break;
		p += n;
		left -= n;
	}
	rms__psrp_defrag_free(d);
	fuzz_done();
	return 0;
}
