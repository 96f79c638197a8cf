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

/*
 * WinRM error numbers (the f:WSManFault Code, decimal as Windows writes
 * it; the HRESULT in hex beside it), each with the subcode Windows sends
 * it with. Compare rms_error_wsman_code() with these names, never with a
 * bare number. The first three the library acts on today; the rest are
 * the ones Windows answers the library's requests with, named so a
 * backend that starts to act on one has the name ready.
 */
/* 0x80338029 w:TimedOut */
#define RMS_WSMAN_ERR_TIMED_OUT 2150858793u
/* 0x8033801B n:InvalidEnumerationContext */
#define RMS_WSMAN_ERR_INVALID_ENUM_CONTEXT 2150858779u
/* 0x80338111, the client's own for HTTP 413 */
#define RMS_WSMAN_ERR_REQUEST_TOO_LARGE 2150859025u
/* 0x80338000 */
#define RMS_WSMAN_ERR_RESOURCE_NOT_FOUND 2150858752u
/* 0x8033800F a:InvalidMessageInformationHeader */
#define RMS_WSMAN_ERR_INVALID_HEADER 2150858767u
/* 0x80338012 a:DestinationUnreachable (also a missing session configuration) */
#define RMS_WSMAN_ERR_DESTINATION_UNREACHABLE 2150858770u
/* 0x80338013 a:ActionNotSupported */
#define RMS_WSMAN_ERR_ACTION_NOT_SUPPORTED 2150858771u
/* 0x8033801A n:CannotProcessFilter (a WQL query the provider refused) */
#define RMS_WSMAN_ERR_CANNOT_PROCESS_FILTER 2150858778u
/* 0x8033803F w:QuotaLimit */
#define RMS_WSMAN_ERR_QUOTA_LIMIT 2150858815u
/* 0x8033805B w:InvalidSelectors (ERROR_WSMAN_UNEXPECTED_SELECTORS): an
 * unknown ShellId and an unknown CommandId alike (pypsrp
 * test_winrs_bad_cmd_id.yml, test_psrp_is_alive_invalid_selectors.yml) */
#define RMS_WSMAN_ERR_INVALID_SELECTORS 2150858843u
/* 0x8033807E w:EncodingLimit */
#define RMS_WSMAN_ERR_ENCODING_LIMIT 2150858878u
/* 0x803381A5 w:QuotaLimit; Windows sends it as an MSFT_WmiError, so it
 * arrives as rms_error_wmi_code(), not as a WSManFault code. */
#define RMS_WSMAN_ERR_MAX_SHELLS_PER_USER 2150859173u

/*
 * Make `fault` (an s:Fault element) this thread's last error, with every
 * field filled in, and return its code:
 *   - w:TimedOut (subcode, or WSManFault code 2150858793): RMS_E_TIMEOUT,
 *     phase REMOTE, so a WinRS Receive loop can treat it as "no data yet";
 *   - w:EncodingLimit: RMS_E_ENVELOPE_TOO_LARGE, phase LIMIT;
 *   - w:QuotaLimit (or WSManFault 2150858815, or WMI error 0x803381A5, too
 *     many shells per user): RMS_E_QUOTA, phase REMOTE;
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
