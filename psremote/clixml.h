/*
 * Internal: CLIXML, PowerShell's serialization (MS-PSRP 2.2.5; facts.md
 * §3.5), read into remsess's values and written from them. Without I/O.
 *
 * Reading maps each element to a typed value, never to a flattened string:
 *   S -> string, C -> char16, B -> boolean, DT -> datetime (Utc kind "Z",
 *   Local an offset, Unspecified no zone), D -> decimal, Db -> real64,
 *   Sg -> real32, By/SB/U16/I16/U32/I32/U64/I64 -> the integer types,
 *   G -> guid, TS -> timespan, URI -> uri, Version -> version, XD -> xml,
 *   SBK -> scriptblock, BA -> bytes, Nil -> null object, Obj -> object
 *   (TN/TNRef type names, ToString, a base value (a primitive, or an Obj
 *   as Windows PowerShell writes a wrapped object), Props/MS properties,
 *   LST/IE/STK/QUE/DCT collections), Ref -> a copy of the object it names,
 *   or, for an object still being decoded (a cycle: real PowerShell output
 *   has them, e.g. a hashtable holding itself, Get-PSDrive 3 levels deep),
 *   a stub of it: its type names and ToString only.
 * Strings lose their `_xHHHH_` escapes (UTF-16 code units; surrogate
 * pairs joined; a lone surrogate is an error). SS (SecureString) is
 * encrypted with a session key remsess does not exchange (protocol 2.4
 * deprecates the exchange; docs/pssession.md): it becomes an opaque
 * object (type System.Security.SecureString, no content), so the object
 * holding it is kept.
 *
 * Every failure is RMS_E_PROTOCOL, phase DECODE, naming the element and
 * what is wrong: malformed XML, an unknown tag, a number out of range, a
 * Ref or TNRef to nothing, nesting deeper than the limit, a reference bomb
 * (copies through Ref beyond max_values values in all), a lone surrogate
 * or U+0000 escaped in text (PowerShell's strings hold them, UTF-8 text
 * cannot). The XML is parsed with core/wsman/xml.h's safe settings (no
 * DTD, no entities, no network).
 */
#ifndef RMS_PSREMOTE_CLIXML_H
#define RMS_PSREMOTE_CLIXML_H

#include <stddef.h>

#include "remsess/value.h"
#include "util.h"

typedef struct rms_clixml_limits {
	unsigned max_depth; /* element nesting; 0: 100 (libxml2 stops at 256) */
	size_t max_values;  /* values built in all, Ref copies included; 0: 1,000,000 */
} rms_clixml_limits;

/*
 * Decode one CLIXML element: a PSRP message's body (one <Obj>, or the bare
 * value of PIPELINE_OUTPUT / PIPELINE_INPUT such as "<I32>1</I32>"), with
 * or without a UTF-8 byte-order mark and an XML declaration. limits may be
 * NULL. `what` names the document in errors ("a PIPELINE_OUTPUT message").
 */
int rms__clixml_decode(rms_value **out, const char *xml, size_t len,
                       const rms_clixml_limits *limits, const char *what);

/*
 * Decode an <Objs Version="1.1.0.1" xmlns="...">...</Objs> document (what
 * Export-Clixml writes): its values in order, in a new list object.
 */
int rms__clixml_decode_objs(rms_value **out, const char *xml, size_t len,
                            const rms_clixml_limits *limits, const char *what);

/*
 * Writer. One rms_clixml_writer per message: it numbers Obj RefIds and TN
 * RefIds from 0 and writes a type-name list seen before as <TNRef>.
 */
typedef struct rms_clixml_writer {
	rms_buf *out;
	unsigned next_ref;
	/* type-name lists already written (their joined names), for TNRef */
	char **tn_keys;
	size_t ntn;
	size_t tn_cap;
} rms_clixml_writer;

void rms__clixml_writer_init(rms_clixml_writer *w, rms_buf *out);
void rms__clixml_writer_free(rms_clixml_writer *w);

/*
 * Append v as one element, with N="name" when name is not NULL. Every
 * value type is written (the CIM-only ones as PowerShell would receive
 * them: a reference as its object-path string, an instance as an object
 * with its properties, a CIM array as a list object); strings get
 * `_xHHHH_` escapes where CLIXML needs them. A null value of any type is
 * <Nil/>.
 */
int rms__clixml_write(rms_clixml_writer *w, const rms_value *v, const char *name);

/* Convenience: the whole of v as one document into out (a fresh writer). */
int rms__clixml_encode(rms_buf *out, const rms_value *v);

/* The `_xHHHH_` escaping alone, for the writer and its tests. */
int rms__clixml_escape(rms_buf *out, const char *utf8, size_t len);
/* Decode escapes in text[0..len) into a new string (caller frees). */
int rms__clixml_unescape(char **out, const char *text, size_t len);

#endif
