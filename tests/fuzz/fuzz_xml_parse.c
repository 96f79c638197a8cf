/* rms__xml_parse (core/wsman/xml.c): a whole document from the wire, then
 * every element walked with the helpers decoders use (text, attributes,
 * QName resolution of text and xsi:type). */
#include <libxml/tree.h>

#include "fuzz_common.h"
#include "xml.h"

static void walk(const xmlNode *n, unsigned depth)
{
	for (const xmlNode *c = rms__xml_first(n); c; c = rms__xml_next(c)) {
		char *t = rms__xml_text(c);
		if (t) {
			const char *ns, *local;
			if (strchr(t, ':'))
				(void)rms__xml_qname(c, t, &ns, &local);
			free(t);
		}
		char *ty = rms__xml_attr(c, RMS_NS_XSI_URI, "type");
		if (ty) {
			const char *ns, *local;
			(void)rms__xml_qname(c, ty, &ns, &local);
			free(ty);
		}
		free(rms__xml_attr(c, NULL, "Name"));
		(void)rms__xml_child(c, RMS_NS_SOAP, "Body");
		if (depth < 300)
			walk(c, depth + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	xmlDoc *doc = NULL;
	rms_xml_limits lim = { .max_bytes = 1 << 20, .max_depth = 64, .max_text = 1 << 16 };
	if (rms__xml_parse(&doc, (const char *)data, size, &lim, "fuzz input") == 0) {
		walk((const xmlNode *)doc, 0);
		xmlFreeDoc(doc);
	}
	fuzz_done();
	return 0;
}
