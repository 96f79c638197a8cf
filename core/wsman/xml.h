/*
 * Safe XML for everything that comes off the wire.
 *
 * Every response is parsed with network access off, no entity substitution,
 * no DTD loading, and any DOCTYPE refused outright (SOAP 1.2 forbids one, and
 * it is where entity bombs and external entities live). Depth, size and
 * text-node limits are enforced, and malformed UTF-8 is an error. Elements
 * are matched by namespace URI, never by prefix.
 *
 * Two ways in:
 *   - rms__xml_parse(): a whole document as a DOM, for small responses
 *     (one envelope is bounded by MaxEnvelopeSize);
 *   - rms__soap_reader_*: a streaming reader over one envelope that decodes
 *     the header, then hands up the body's items one subtree at a time,
 *     so memory is bounded by one item plus libxml2's reader window, not by
 *     the envelope's DOM.
 */
#ifndef RMS_CORE_XML_H
#define RMS_CORE_XML_H

#include <stdbool.h>
#include <stddef.h>

#include <libxml/tree.h>

#include "remsess/error.h"

/* Namespace URIs (facts.md §1.2). */
#define RMS_NS_SOAP "http://www.w3.org/2003/05/soap-envelope"
#define RMS_NS_ADDRESSING "http://schemas.xmlsoap.org/ws/2004/08/addressing"
#define RMS_NS_WSMAN_DMTF "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
#define RMS_NS_WSMAN_MS "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
#define RMS_NS_ENUMERATION "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
#define RMS_NS_TRANSFER "http://schemas.xmlsoap.org/ws/2004/09/transfer"
#define RMS_NS_CIMBINDING "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd"
#define RMS_NS_SHELL "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
#define RMS_NS_WSMANFAULT "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
#define RMS_NS_IDENTITY "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"
#define RMS_NS_CONFIG "http://schemas.microsoft.com/wbem/wsman/1/config"
#define RMS_NS_XSI_URI "http://www.w3.org/2001/XMLSchema-instance"

/* Limits for documents from the wire. libxml2 itself (XML_PARSE_HUGE is
 * never set) refuses nesting beyond 256 elements and text nodes over
 * 10,000,000 bytes, so values above those change nothing. */
typedef struct rms_xml_limits {
	size_t max_bytes;     /* whole document; 0: no limit beyond the caller's */
	unsigned max_depth;   /* element nesting; 0: 256 */
	size_t max_text;      /* one text node or attribute value; 0: 64 MiB */
} rms_xml_limits;

/*
 * Parse a whole document. `what` names it in errors ("the Identify
 * response"). Failures: RMS_E_PROTOCOL, phase DECODE, with libxml2's reason
 * and the line, or the limit that was hit. Free with xmlFreeDoc().
 */
int rms__xml_parse(xmlDoc **out, const char *buf, size_t len, const rms_xml_limits *limits,
                   const char *what);

/* Element helpers; all NULL-safe, matching namespace URI + local name. */
bool rms__xml_is(const xmlNode *n, const char *ns_uri, const char *local);
/* First element child (any name), and the next element sibling. */
xmlNode *rms__xml_first(const xmlNode *parent);
xmlNode *rms__xml_next(const xmlNode *node);
/* First element child / next sibling with this name. */
xmlNode *rms__xml_child(const xmlNode *parent, const char *ns_uri, const char *local);
xmlNode *rms__xml_next_named(const xmlNode *node, const char *ns_uri, const char *local);
/* Text content, trimmed of XML white space at both ends; malloc'd (caller
 * frees with free()); NULL only on out of memory (empty element -> ""). */
char *rms__xml_text(const xmlNode *n);
/* Attribute value (ns_uri NULL: an attribute with no namespace); malloc'd,
 * NULL if absent. */
char *rms__xml_attr(const xmlNode *n, const char *ns_uri, const char *name);
/* Resolve a QName value written in element content or an attribute
 * ("w:InvalidSelectors") against the namespaces in scope at `context`.
 * On success *ns_uri and *local are borrowed: ns_uri from the document,
 * local points into qname. RMS_E_PROTOCOL if the prefix is not declared. */
int rms__xml_qname(const xmlNode *context, const char *qname, const char **ns_uri,
                   const char **local);

/* ---- streaming over one SOAP envelope ---------------------------------- */

typedef struct rms_soap_reader rms_soap_reader;

/* Headers of a response envelope, decoded as the reader passes them. */
typedef struct rms_soap_headers {
	char *action;      /* wsa:Action */
	char *message_id;  /* wsa:MessageID */
	char *relates_to;  /* wsa:RelatesTo */
	char *operation_id; /* wsmv:OperationID echo, if any */
} rms_soap_headers;

/*
 * Start reading an envelope held in buf[0..len) (not copied: it must live as
 * long as the reader). Reads up to and including the Header, checks the
 * root is a SOAP 1.2 Envelope, and stops at the first element inside Body.
 */
int rms__soap_reader_open(rms_soap_reader **out, const char *buf, size_t len,
                          const rms_xml_limits *limits, const char *what);
void rms__soap_reader_free(rms_soap_reader *r);

/*
 * A place to keep one libxml2 reader between envelopes, so that a client
 * reading answer after answer makes its parser context once, not once per
 * answer. A reader opened with a pool goes back to it when freed (its
 * document and input dropped), and the next open takes it up again,
 * reset; after RMS_XML_POOL_USES uses it is freed instead, so what libxml2
 * keeps between documents (its name dictionary) stays bounded. The
 * options, limits and checks are those of a new reader, every time. The
 * pool is reference counted: each reader opened with it holds it, so
 * rms__xml_pool_release may come before the readers' frees. Not locked:
 * one thread at a time, as its client.
 */
typedef struct rms_xml_pool rms_xml_pool;
#define RMS_XML_POOL_USES 64
/* NULL on out of memory (then readers are simply not pooled). */
rms_xml_pool *rms__xml_pool_new(void);
void rms__xml_pool_release(rms_xml_pool *pool);
/* rms__soap_reader_open with a pool (NULL: none). */
int rms__soap_reader_open_pooled(rms_soap_reader **out, rms_xml_pool *pool, const char *buf,
                                 size_t len, const rms_xml_limits *limits, const char *what);
const rms_soap_headers *rms__soap_reader_headers(const rms_soap_reader *r);

/*
 * The body's next element at the reader's current depth, expanded into a
 * small DOM subtree (borrowed: valid until the next call on the reader).
 * Returns 0 with *node set, RMS_ITEROVER when the enclosing element ends,
 * or an error. Start: the Body's children. rms__soap_reader_enter() moves
 * into the current node's children instead of expanding it (used to walk
 * Body -> EnumerateResponse -> Items -> each item without expanding the
 * whole EnumerateResponse). The end of an entered element is reported once,
 * by peek or next, and the reader is then back at the parent's level; the
 * end of the Body is reported on every call.
 */
int rms__soap_reader_next(rms_soap_reader *r, xmlNode **node);
/* Position on the current (unexpanded) element's children. The current
 * element's name is checked: RMS_E_PROTOCOL if it is not ns_uri:local. */
int rms__soap_reader_enter(rms_soap_reader *r, const char *ns_uri, const char *local);
/* Peek at the current element's name without expanding it: 0 and the
 * borrowed namespace URI / local name, or RMS_ITEROVER at the end of the
 * enclosing element. */
int rms__soap_reader_peek(rms_soap_reader *r, const char **ns_uri, const char **local);

#endif
