/*
 * SOAP faults from WS-Management servers, decoded into the error model
 * (facts.md §1.8). Windows nests its details: s:Fault/s:Code/s:Subcode,
 * s:Reason/s:Text, s:Detail with w:FaultDetail, f:WSManFault (Code, Machine,
 * f:Message with text or f:ProviderFault, which may hold another
 * f:WSManFault and f:ExtendedError/__ExtendedStatus), or an MSFT_WmiError /
 * CIM_Error instance.
 */
#ifndef RMS_CORE_FAULT_H
#define RMS_CORE_FAULT_H

#include <libxml/tree.h>

#include "error_internal.h"

/* The WinRM error numbers the library acts on (decimal, as in Code=). */
#define RMS_WSMAN_ERR_TIMED_OUT 2150858793u            /* 0x80338029 w:TimedOut */
#define RMS_WSMAN_ERR_INVALID_ENUM_CONTEXT 2150858779u /* 0x8033801B */
#define RMS_WSMAN_ERR_REQUEST_TOO_LARGE 2150859025u    /* 0x80338111 (client side, HTTP 413) */

/*
 * Make `fault` (an s:Fault element) this thread's last error, with every
 * field filled in, and return its code:
 *   - w:TimedOut (subcode, or WSManFault code 2150858793): RMS_E_TIMEOUT,
 *     phase REMOTE, so a WinRS Receive loop can treat it as "no data yet";
 *   - w:EncodingLimit: RMS_E_ENVELOPE_TOO_LARGE, phase LIMIT;
 *   - anything else: RMS_E_FAULT, phase REMOTE.
 * The message reads like "the server refused the request: <reason>
 * (w:InvalidSelectors, WSManFault 2150858843, WMI error 0x80041002:
 * <provider message>)". Subcodes are reported with conventional prefixes:
 * s: SOAP, a: addressing, w: DMTF WS-Man, p: Microsoft WS-Man, n:
 * enumeration, x: transfer, b: CIM binding, whatever prefix the server used.
 * A malformed fault (no Code) is still an RMS_E_FAULT with what could be
 * read. http_status is recorded on the error.
 */
int rms__fault_raise(const xmlNode *fault, int http_status);

/* True when e is the w:TimedOut fault of a Receive or Pull with no data. */
bool rms__fault_is_timed_out(const rms_error *e);

#endif
