/* WinRS answers (core/wsman/wsman_ops.c): the first Body children of an
 * envelope through rms__decode_receive, rms__decode_shell_id,
 * rms__decode_command_id, rms__decode_created, rms__decode_shell_record
 * (a shell's record, as a Get or each item of an Enumerate gives it) and
 * rms__decode_command_record (an item of an Enumerate of a shell's
 * commands). */
#include <libxml/tree.h>

#include "fuzz_common.h"
#include "wsman_ops.h"
#include "xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	xmlDoc *doc = NULL;
	if (rms__xml_parse(&doc, (const char *)data, size, NULL, "fuzz WinRS answer") == 0) {
		const xmlNode *env = xmlDocGetRootElement(doc);
		const xmlNode *body = rms__xml_child(env, RMS_NS_SOAP, "Body");
		const xmlNode *first = rms__xml_first(body ? body : env);
		const xmlNode *second = rms__xml_next(first);

		rms_receive_result res;
		memset(&res, 0, sizeof res);
		if (first && rms__decode_receive(&res, first) == 0)
			rms__receive_result_free(&res);
		char *id = NULL;
		if (rms__decode_shell_id(&id, first, second) == 0)
			free(id);
		id = NULL;
		if (first && rms__decode_command_id(&id, first) == 0)
			free(id);
		rms_ref *ref = NULL;
		if (first && rms__decode_created(&ref, first) == 0)
			rms_ref_free(ref);
		rms_instance *shell = NULL;
		if (first && rms__decode_shell_record(first, &shell) == 0)
			rms_instance_free(shell);
		rms_instance *command = NULL;
		if (first && rms__decode_command_record(first, &command) == 0)
			rms_instance_free(command);
		xmlFreeDoc(doc);
	}
	fuzz_done();
	return 0;
}
