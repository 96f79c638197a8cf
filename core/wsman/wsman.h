/*
 * The WS-Management client both backends talk through: builds SOAP 1.2
 * envelopes with WS-Addressing and the WS-Man / Microsoft headers Windows
 * clients send (facts.md §1.3), refuses to send one larger than the
 * effective MaxEnvelopeSize, posts it over the HTTP transport, and turns the
 * answer into a streaming reader or a clear error (HTTP status, SOAP fault,
 * malformed reply).
 */
#ifndef RMS_CORE_WSMAN_H
#define RMS_CORE_WSMAN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "defaults.h"
#include "http.h"
#include "log.h"
#include "remsess/remsess.h"
#include "util.h"
#include "wait.h"
#include "wscim.h"
#include "xml.h"

/* Action URIs (facts.md §1.4). */
#define RMS_ACTION_GET "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
#define RMS_ACTION_PUT "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put"
#define RMS_ACTION_CREATE "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
#define RMS_ACTION_DELETE "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
#define RMS_ACTION_ENUMERATE "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate"
#define RMS_ACTION_PULL "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull"
#define RMS_ACTION_RELEASE "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Release"
#define RMS_ACTION_COMMAND "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"
#define RMS_ACTION_SEND "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send"
#define RMS_ACTION_RECEIVE "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
#define RMS_ACTION_SIGNAL "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal"

#define RMS_URI_SHELL_CMD "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
/* The WinRM service configuration (winrm/config): administrators only. */
#define RMS_URI_CONFIG "http://schemas.microsoft.com/wbem/wsman/1/config"
#define RMS_DIALECT_SELECTOR "http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter"
#define RMS_DIALECT_ASSOCIATION "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter"

/* The default MaxEnvelopeSize when the caller sets none (WinRM 3.0+: 500 KB);
 * an older name for RMS_DEFAULT_MAX_ENVELOPE. */
#define RMS_WSMAN_DEFAULT_MAX_ENVELOPE RMS_DEFAULT_MAX_ENVELOPE

typedef struct rms_wsman rms_wsman;

/* One wsman:Option of the OptionSet. */
typedef struct rms_wsman_option {
	const char *name;
	const char *value;
	const char *type;  /* e.g. "xs:boolean"; NULL: no Type attribute */
	bool must_comply;
} rms_wsman_option;

/* What one request says; the client adds To, ReplyTo, MessageID,
 * MaxEnvelopeSize, OperationTimeout, Locale, DataLocale and SessionId. */
typedef struct rms_wsman_request {
	const char *action;        /* required */
	const char *resource_uri;  /* required */
	/* Key selectors (string or nested-reference values); NULL: none. */
	const rms_ref *selectors;
	/* Adds a __cimnamespace selector (the DMTF resource URI form). */
	const char *cim_namespace;
	const rms_wsman_option *options;
	size_t noptions;
	/* s:mustUnderstand="true" on the OptionSet, as pypsrp sends it for
	 * WinRS; the Windows MI client sends none. */
	bool options_must_understand;
	/* wsmv:OperationID / SequenceId, for the enhanced CIM operations
	 * Windows' MI client uses; NULL / 0: not sent. */
	const char *operation_id;
	unsigned sequence_id;
	/* Overrides the client's OperationTimeout (milliseconds); 0: default. */
	uint32_t timeout_ms;
	/* Send no OperationTimeout header (the server's default applies), as
	 * the Windows MI client does for CIM operations. */
	bool omit_timeout;
	/* xmlns declarations the body needs beyond s, a, w, p, xsi, cim, b, n
	 * (which every envelope declares), e.g. " xmlns:q=\"...\"". */
	const char *extra_xmlns;
	/* The body's content (already XML); NULL or "": an empty s:Body. */
	const char *body;
} rms_wsman_request;

/* An answer: the raw HTTP response (which the reader reads in place) and a
 * reader positioned at the Body's children. */
typedef struct rms_wsman_reply {
	rms_http_response http;
	rms_soap_reader *reader;
	size_t request_size; /* bytes sent */
} rms_wsman_reply;

/*
 * A client for one endpoint. stats, log and cancel are borrowed (the
 * session's) and must outlive the client. The password is borrowed too (it
 * lives in the session's locked copy of the options). cred: the session's
 * shared NTLM/Negotiate/Kerberos credentials (a reference is taken), NULL
 * for none. Opens nothing.
 */
int rms__wsman_new(rms_wsman **out, const rms_session_options *opts, rms_stats *stats,
                   const rms_logger *log, atomic_bool *cancel, struct rms_gss_cred *cred);
void rms__wsman_free(rms_wsman *w);
/* Drop the connection (the CIM backend does after every operation). */
void rms__wsman_close(rms_wsman *w);

/* Change the cancellation flag (NULL: none) for later requests. */
void rms__wsman_set_cancel(rms_wsman *w, atomic_bool *cancel);
/* Whether a step's wait also ends every RMS_CANCEL_CHECK_MS for the cancel
 * flag (rms__http_set_cancel_poll): off for an engine-driven owner. */
void rms__wsman_set_cancel_poll(rms_wsman *w, bool on);
/* Cap every later request's HTTP timeout at ms (0: no cap), for an
 * operation's own time limit. */
void rms__wsman_set_deadline(rms_wsman *w, uint32_t ms);

/* The MaxEnvelopeSize in force, in bytes, and a way to change it (when
 * the server's value has been learnt). */
uint32_t rms__wsman_max_envelope(const rms_wsman *w);
void rms__wsman_set_max_envelope(rms_wsman *w, uint32_t bytes);
/* The endpoint URL. */
const char *rms__wsman_url(const rms_wsman *w);

/*
 * Build the envelope for req into out (appending) and return its
 * MessageID in message_id ("uuid:" + upper-case GUID, 42 bytes with NUL;
 * each call makes a new one). Does not check the size.
 */
int rms__wsman_build(rms_buf *out, rms_wsman *w, const rms_wsman_request *req,
                     char message_id[42]);

/*
 * Build, check against MaxEnvelopeSize (RMS_E_ENVELOPE_TOO_LARGE, phase
 * SEND, naming both sizes, nothing sent), post, and interpret the answer:
 *   200 + SOAP envelope: *reply holds a reader at the Body; wsa:RelatesTo
 *       must match the MessageID (RMS_E_PROTOCOL otherwise);
 *   a SOAP Fault (500 or 400 with a fault body, or a fault in a 200): the
 *       decoded fault (rms__fault_raise: RMS_E_FAULT, or RMS_E_TIMEOUT for
 *       w:TimedOut, RMS_E_ENVELOPE_TOO_LARGE for w:EncodingLimit);
 *   401: RMS_E_AUTH, phase authenticate;
 *   413: RMS_E_ENVELOPE_TOO_LARGE, phase send, with the size sent;
 *   500 with an empty body, 400, 503, other statuses: RMS_E_HTTP;
 *   a body that is not XML or not SOAP 1.2, or a wrong Content-Type:
 *       RMS_E_PROTOCOL, phase decode;
 *   transport failures as rms__http_post reports them.
 * On failure *reply is empty (nothing to free).
 */
int rms__wsman_send(rms_wsman *w, const rms_wsman_request *req, rms_wsman_reply *reply);
void rms__wsman_reply_free(rms_wsman_reply *reply);

/*
 * The same exchange without blocking, for the engine: rms__wsman_start
 * builds the envelope into a buffer the client owns (req and what it points
 * to may be freed right after), checks it against MaxEnvelopeSize (the
 * error of rms__wsman_send, nothing sent, nothing in flight) and starts the
 * POST; nothing goes on the wire before the first step. rms__wsman_step
 * advances it and returns 0 with *reply filled (exactly what
 * rms__wsman_send would have returned), RMS_EAGAIN with *wait saying what
 * it waits on (the connection's socket and direction, and a deadline: see
 * rms__http_step), or the exchange's error; *reply is empty unless 0. Any
 * result but RMS_EAGAIN ends the exchange. One exchange at a time per
 * client: starting another while one is in flight is RMS_E_STATE, and so is
 * a step with none in flight. rms__wsman_send is rms__wsman_start plus a
 * loop of step and rms__wait_block. rms__wsman_abort drops an exchange in
 * flight (closing the connection, since the server may still answer it);
 * nothing happens when none is. rms__wsman_close and rms__wsman_free abort
 * one too.
 */
int rms__wsman_start(rms_wsman *w, const rms_wsman_request *req);
int rms__wsman_step(rms_wsman *w, rms_wait *wait, rms_wsman_reply *reply);
bool rms__wsman_busy(const rms_wsman *w);
void rms__wsman_abort(rms_wsman *w);

/*
 * WS-Identify (an envelope with an empty Header). unauthenticated adds the
 * WSMANIDENTIFY: unauthenticated HTTP header and sends no credentials, as
 * Windows allows. *out: an instance of class "IdentifyResponse" with string
 * properties ProtocolVersion, ProductVendor, ProductVersion and, when the
 * server lists them, SecurityProfiles (string array), plus any other element
 * the server added, in document order.
 */
int rms__wsman_identify(rms_wsman *w, bool unauthenticated, rms_instance **out);
/* The same without blocking: rms__wsman_identify_start begins the Identify
 * exchange (RMS_E_STATE while another is in flight), rms__wsman_step runs
 * it, and rms__wsman_identify_decode turns the reply step returned into the
 * instance (the caller still frees the reply). */
int rms__wsman_identify_start(rms_wsman *w, bool unauthenticated);
int rms__wsman_identify_decode(rms_wsman *w, rms_wsman_reply *reply, rms_instance **out);

/* xs:duration for a timeout in milliseconds, as Windows writes it
 * ("PT60.000S"); buf of at least 32 bytes. */
void rms__wsman_duration(char *buf, size_t size, uint32_t ms);

#endif
