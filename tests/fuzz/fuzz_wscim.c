/* WS-CIM values (core/wsman/wscim.c): the document's root element decoded
 * as an instance, typed by a lookup the input's first byte seeds (so the
 * typed decoders of every CIM type are reached), then written back as
 * XML and JSON; each child also through rms__wscim_read_property and
 * rms__wscim_read_ref. */
#include <libxml/tree.h>

#include "fuzz_common.h"
#include "wscim.h"
#include "xml.h"

static int type_of(const char *property, void *userdata)
{
	unsigned seed = (unsigned)(uintptr_t)userdata;
	unsigned h = seed;
	for (const char *p = property; *p; p++)
		h = h * 31u + (unsigned char)*p;
	if (h % 5 == 0)
		return -1;
	int t = (int)(h % 16);
	return (h & 0x20) ? (t | RMS_TYPE_ARRAY) : t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned seed = data[0];
	data++, size--;
	xmlDoc *doc = NULL;
	if (rms__xml_parse(&doc, (const char *)data, size, NULL, "fuzz WS-CIM") == 0) {
		const xmlNode *root = xmlDocGetRootElement(doc);
		rms_instance *inst = NULL;
		if (rms__wscim_read_instance(&inst, root, "root/cimv2", seed & 1 ? type_of : NULL,
		                             (void *)(uintptr_t)seed) == 0) {
			rms_buf b;
			rms__buf_init(&b);
			(void)rms__wscim_write_instance(&b, inst,
			                                "http://schemas.microsoft.com/wbem/wsman/1/wmi/"
			                                "root/cimv2/X",
			                                NULL);
			rms__buf_free(&b);
			char *s = NULL;
			if (rms_instance_to_json(&s, inst) == 0)
				free(s);
			s = NULL;
			if (rms_instance_to_text(&s, inst) == 0)
				free(s);
			rms_instance_free(inst);
		}
		rms_error_clear();
		for (const xmlNode *c = rms__xml_first(root); c; c = rms__xml_next(c)) {
			rms_value *v = NULL;
			int t = type_of((const char *)c->name, (void *)(uintptr_t)seed);
			if (rms__wscim_read_property(&v, c, 1, t) == 0)
				rms_value_free(v);
			rms_ref *ref = NULL;
			if (rms__wscim_read_ref(&ref, c) == 0)
				rms_ref_free(ref);
			rms_error_clear();
		}
		char *ns = NULL, *cls = NULL;
		char *uri = rms__xml_attr(root, NULL, "uri");
		if (uri && rms__wscim_parse_uri(uri, &ns, &cls) == 0) {
			free(ns);
			free(cls);
		}
		free(uri);
		xmlFreeDoc(doc);
	}
	fuzz_done();
	return 0;
}
