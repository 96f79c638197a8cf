/*
 * Bodies of the WS-Management operations, and decoders for their answers
 * (facts.md §1.6, §2). The envelope around them is wsman.c's.
 *
 * Builders append XML to a buffer using the prefixes every remsess envelope
 * declares (s, a, w, p, xsi, cim, b, n); the WinRS ones use rsp, which the
 * request must declare with RMS_XMLNS_RSP in extra_xmlns.
 */
#ifndef RMS_CORE_WSMAN_OPS_H
#define RMS_CORE_WSMAN_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include <libxml/tree.h>

#include "remsess/remsess.h"
#include "util.h"
#include "wscim.h"
#include "xml.h"

#define RMS_XMLNS_RSP " xmlns:rsp=\"" RMS_NS_SHELL "\""

/* ---- enumeration ------------------------------------------------------- */

typedef enum rms_enum_filter {
	RMS_FILTER_NONE = 0,
	RMS_FILTER_QUERY,       /* dialect + query text (WQL, CQL) */
	RMS_FILTER_SELECTOR,    /* w:SelectorSet of the selectors */
	RMS_FILTER_ASSOCIATORS, /* b:AssociatedInstances */
	RMS_FILTER_REFERENCES   /* b:AssociationInstances */
} rms_enum_filter;

typedef struct rms_enum_params {
	bool optimize;        /* w:OptimizeEnumeration: first batch in the answer */
	uint32_t max_elements; /* 0: none sent */
	bool object_and_epr;  /* w:EnumerationMode EnumerateObjectAndEPR */
	rms_enum_filter filter;
	const char *dialect;  /* QUERY */
	const char *query;    /* QUERY */
	const rms_ref *selectors; /* SELECTOR: the selectors; ASSOCIATORS/REFERENCES:
	                             the source instance */
	const char *association_class; /* ASSOCIATORS/REFERENCES; each may be NULL */
	const char *result_class;
	const char *role;
	const char *result_role;
} rms_enum_params;

int rms__body_enumerate(rms_buf *b, const rms_enum_params *p);
int rms__body_pull(rms_buf *b, const char *context, uint32_t max_elements);
int rms__body_release(rms_buf *b, const char *context);

/* An Enumerate or Pull answer, decoded as a stream: the reader is left in
 * the Items element, so the caller takes items one at a time with
 * rms__soap_reader_next() until RMS_ITEROVER, then calls
 * rms__enum_finish() for the context and EndOfSequence. */
typedef struct rms_enum_page {
	char *context;         /* NULL when none was sent (or it was empty) */
	bool end_of_sequence;
	bool in_items;         /* the reader is inside Items */
} rms_enum_page;

/* Reads up to the items of an EnumerateResponse or PullResponse (whichever
 * the body holds). */
int rms__enum_begin(rms_soap_reader *r, rms_enum_page *page);
/* After the items: reads the rest (context, EndOfSequence in either the w:
 * or the n: namespace). */
int rms__enum_finish(rms_soap_reader *r, rms_enum_page *page);
void rms__enum_page_free(rms_enum_page *page);

/* An item of EnumerateObjectAndEPR (w:Item holding the object and an EPR)
 * or a plain object: *object is the instance element, *epr the EPR element
 * or NULL. */
void rms__enum_item_parts(const xmlNode *item, const xmlNode **object, const xmlNode **epr);

/* ---- transfer and invoke ----------------------------------------------- */

/* Put / Create: the instance element in the class's namespace. */
int rms__body_instance(rms_buf *b, const rms_instance *inst, const char *resource_uri);
/* Invoke: <p:METHOD_INPUT xmlns:p="resource_uri"> with the parameters. The
 * action is resource_uri + "/" + method (rms__invoke_action). */
int rms__body_invoke(rms_buf *b, const char *resource_uri, const char *method,
                     const rms_instance *in);
char *rms__invoke_action(const char *resource_uri, const char *method);

/* x:ResourceCreated (or any EPR-holding element) -> reference. */
int rms__decode_created(rms_ref **out, const xmlNode *resource_created);

/* ---- class schemas ---------------------------------------------------- */

/* The resource GetClass goes to (with __cimnamespace and ClassName
 * selectors), and the options the Windows MI client sends with it. */
#define RMS_URI_CIMXML_ANY "http://schemas.dmtf.org/wbem/cim-xml/2/cim-schema/2/*"

/* A CIM-XML (DSP0201) CLASS element -> class schema: properties with their
 * declared types (PROPERTY.ARRAY -> array types, PROPERTY.REFERENCE ->
 * reference, an EmbeddedInstance/EmbeddedObject qualifier -> instance), the
 * Key qualifier as RMS_PROP_KEY, and the method names. */
int rms__decode_class(rms_cim_class **out, const xmlNode *class_elem);

/* ---- WinRS ------------------------------------------------------------- */

typedef struct rms_shell_params {
	const char *input_streams;  /* NULL: "stdin" */
	const char *output_streams; /* NULL: "stdout stderr" */
	const char *working_directory;
	const char *const *env_names; /* env_count name/value pairs */
	const char *const *env_values;
	size_t env_count;
	uint32_t idle_timeout_ms;   /* 0: not sent */
} rms_shell_params;

int rms__body_shell_create(rms_buf *b, const rms_shell_params *p);
/* ShellId from the Create answer (rsp:Shell/rsp:ShellId, else the
 * ResourceCreated selector). Caller frees. */
int rms__decode_shell_id(char **out, const xmlNode *body_first, const xmlNode *body_second);
/* The generic shell resource: a Get of one shell (ShellId selector), an
 * Enumerate of the user's shells. */
#define RMS_URI_SHELL_GENERIC "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
/* rsp:Shell, as a Get of a shell or an Enumerate of shells answers it, into
 * a "Shell" instance: ProcessId and ChildProcesses uint32, IdleTimeOut,
 * MaxIdleTimeOut, ShellRunTime and ShellInactivity intervals, the rest
 * text (a value that does not parse as its type is kept as text). */
int rms__decode_shell_record(const xmlNode *shell, rms_instance **out);
/* rsp:Command, as an Enumerate of a shell's commands answers it, into a
 * "Command" instance: its children (CommandId, CommandLine, CommandState,
 * ...) as text. */
int rms__decode_command_record(const xmlNode *command, rms_instance **out);

int rms__body_command(rms_buf *b, const char *command, size_t argc, const char *const *argv);
int rms__decode_command_id(char **out, const xmlNode *command_response);

/* rsp:Send with data[0..len) base64-encoded on the stream (End when end);
 * command_id NULL: the shell's own stream (no CommandId). */
int rms__body_send(rms_buf *b, const char *command_id, const char *stream, const void *data,
                   size_t len, bool end);
/* Bytes of data that fit in a Send envelope given the space left for the
 * base64 text (the formula of facts.md §4.3: 3 bytes per 4 characters). */
size_t rms__send_payload_max(size_t base64_room);

int rms__body_receive(rms_buf *b, const char *command_id, const char *streams);

/* One rsp:Stream of a ReceiveResponse, decoded. */
typedef struct rms_receive_chunk {
	char *stream;       /* "stdout", "stderr", ... */
	unsigned char *data;
	size_t len;
	bool end;
} rms_receive_chunk;

typedef struct rms_receive_result {
	rms_receive_chunk *chunks;
	size_t nchunks;
	bool done;          /* CommandState Done */
	bool has_exit_code;
	int exit_code;
	char *state;        /* the CommandState URI, NULL if none */
} rms_receive_result;

/* Decode a rsp:ReceiveResponse element. */
int rms__decode_receive(rms_receive_result *out, const xmlNode *receive_response);
void rms__receive_result_free(rms_receive_result *r);

#define RMS_SIGNAL_CTRL_C "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_c"
#define RMS_SIGNAL_TERMINATE                                                                       \
	"http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate"
#define RMS_COMMAND_STATE_DONE                                                                     \
	"http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"

int rms__body_signal(rms_buf *b, const char *command_id, const char *code);

#endif
