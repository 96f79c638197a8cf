/* Enumeration and Pull answers (core/wsman/wsman_ops.c): rms__enum_begin,
 * each item split by rms__enum_item_parts and decoded as an instance and an
 * EPR with the WS-CIM readers (as the CIM backend does), rms__enum_finish. */
#include <libxml/tree.h>

#include "fuzz_common.h"
#include "wscim.h"
#include "wsman_ops.h"
#include "xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rms_soap_reader *r = NULL;
	if (rms__soap_reader_open(&r, (const char *)data, size, NULL, "fuzz enumeration") == 0) {
		rms_enum_page page;
		memset(&page, 0, sizeof page);
		if (rms__enum_begin(r, &page) == 0) {
			xmlNode *item;
			int rc;
			unsigned n = 0;
			while (n++ < 10000 && (rc = rms__soap_reader_next(r, &item)) == 0) {
				const xmlNode *obj = NULL, *epr = NULL;
				rms__enum_item_parts(item, &obj, &epr);
				rms_instance *inst = NULL;
				if (obj && rms__wscim_read_instance(&inst, obj, "root/cimv2", NULL, NULL) == 0)
					rms_instance_free(inst);
				rms_ref *ref = NULL;
				if (epr && rms__wscim_read_ref(&ref, epr) == 0)
					rms_ref_free(ref);
			}
			if (rc == RMS_ITEROVER)
				(void)rms__enum_finish(r, &page);
		}
		rms__enum_page_free(&page);
		rms__soap_reader_free(r);
	}
	fuzz_done();
	return 0;
}
