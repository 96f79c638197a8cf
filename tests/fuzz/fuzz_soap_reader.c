/* The streaming SOAP reader (core/wsman/xml.c): open an envelope, then walk
 * the body with peek / enter / next as the enumeration and GetClass decoders
 * do; the input's first byte chooses when to enter instead of expanding. */
#include <libxml/tree.h>

#include "fuzz_common.h"
#include "xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned plan = data[0];
	data++, size--;
	rms_soap_reader *r = NULL;
	rms_xml_limits lim = { .max_bytes = 1 << 20, .max_depth = 64, .max_text = 1 << 16 };
	if (rms__soap_reader_open(&r, (const char *)data, size, &lim, "fuzz input") == 0) {
		const rms_soap_headers *h = rms__soap_reader_headers(r);
		(void)h;
		for (unsigned step = 0; step < 4096; step++) {
			const char *ns, *local;
			int rc = rms__soap_reader_peek(r, &ns, &local);
			if (rc == RMS_ITEROVER) {
				/* The end of an entered element is reported once. */
				xmlNode *n;
				if (rms__soap_reader_next(r, &n) == RMS_ITEROVER &&
				    rms__soap_reader_next(r, &n) == RMS_ITEROVER)
					break;
				continue;
			}
			if (rc)
				break;
			if ((plan >> (step % 8)) & 1) {
				if (rms__soap_reader_enter(r, ns, local))
					break;
			} else {
				xmlNode *n;
				if (rms__soap_reader_next(r, &n))
					break;
			}
		}
		rms__soap_reader_free(r);
	}
	fuzz_done();
	return 0;
}
