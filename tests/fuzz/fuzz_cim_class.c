/* GetClass answers (rms__decode_class in core/wsman/wsman_ops.c, building
 * core/model/cim_class.c): the first Body element of the envelope, as the
 * CIM backend decodes it, then the schema read back. */
#include <libxml/tree.h>

#include "cim_class.h"
#include "fuzz_common.h"
#include "wsman_ops.h"
#include "xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rms_soap_reader *r = NULL;
	if (rms__soap_reader_open(&r, (const char *)data, size, NULL, "fuzz GetClass") == 0) {
		xmlNode *el;
		rms_cim_class *cls = NULL;
		if (rms__soap_reader_next(r, &el) == 0 && rms__decode_class(&cls, el) == 0) {
			(void)rms_cim_class_name(cls);
			(void)rms_cim_class_superclass(cls);
			for (size_t i = 0; i < rms_cim_class_property_count(cls); i++) {
				const char *name;
				rms_type t;
				unsigned flags;
				if (rms_cim_class_property_at(cls, i, &name, &t, &flags) == 0 && !name)
					abort();
			}
			for (size_t i = 0; i < rms_cim_class_method_count(cls); i++) {
				const char *m = rms_cim_class_method_at(cls, i);
				if (!m)
					abort();
				/* Its answer's schema: out-parameters, ReturnValue. */
				const rms_cim_class *o = rms__cim_class_method_output(cls, m);
				for (size_t j = 0; o && j < rms_cim_class_property_count(o); j++) {
					const char *pn;
					if (rms_cim_class_property_at(o, j, &pn, NULL, NULL) || !pn)
						abort();
				}
			}
			rms_cim_class_free(cls);
		}
		rms__soap_reader_free(r);
	}
	fuzz_done();
	return 0;
}
