/*
 * remsess — errors.
 *
 * Every public function that can fail returns an int: 0 on success or a
 * negative RMS_E_* code. Two codes are not failures: RMS_ITEROVER (an
 * iterator is exhausted) and RMS_EAGAIN (a non-blocking call has nothing
 * ready yet). RMS_E_SKIPPED is one item's failure, not its operation's: an
 * instance of an enumeration whose values did not decode is skipped, its
 * error is the last error, and the iterator goes on.
 *
 * One error channel: the return code says whether a call failed and how;
 * the details are in rms_error_last(), a structured rms_error for the last
 * failure on the calling thread (code, message, phase, backend, HTTP, WS-Man
 * fault, WMI and CIM numbers, limits, SSH). It is borrowed and valid until
 * the next remsess call on this thread fails; rms_error_dup() keeps a copy.
 * Thread-local, so another thread's failure never overwrites it. A call that
 * succeeds leaves it alone, so read it right after the failing call.
 *
 * Objects that end or break keep the error that ended them, as a record of
 * their state rather than a second channel: rms_op_error() (a finished
 * operation, also for operations an engine drives, which may fail long
 * after the call that started them), rms_session_broken_reason() (why a
 * session became Broken or failed to open) and a comparison's per-side
 * error (compare.h).
 */
#ifndef REMSESS_ERROR_H
#define REMSESS_ERROR_H

#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The one list of error codes: X(NAME, number, message). The numbers are
 * stable ABI: a code is never renumbered or reused. New codes take the next
 * free number.
 */
#define RMS_ERROR_LIST(X)                                                      \
	X(OK, 0, "success")                                                        \
	X(ITEROVER, -1, "no more items")                                           \
	X(EAGAIN, -2, "nothing ready yet, call again")                             \
	X(INVALID_ARG, -3, "invalid argument")                                     \
	X(OPTIONS, -4, "invalid option")                                           \
	X(NOMEM, -5, "out of memory")                                              \
	X(UNSUPPORTED, -6, "operation not supported by this backend")              \
	X(NOT_IMPLEMENTED, -7, "not implemented in this build")                    \
	X(RESOLVE, -8, "host name could not be resolved")                          \
	X(CONNECT, -9, "could not connect")                                        \
	X(TLS, -10, "TLS handshake or certificate verification failed")            \
	X(AUTH, -11, "authentication failed")                                      \
	X(TIMEOUT, -12, "timed out")                                               \
	X(CONNECTION_LOST, -13, "connection dropped")                              \
	X(HTTP, -14, "unexpected HTTP response")                                   \
	X(PROTOCOL, -15, "malformed or unexpected protocol message")               \
	X(FAULT, -16, "the remote side reported an error")                         \
	X(ENVELOPE_TOO_LARGE, -17, "message larger than MaxEnvelopeSize")          \
	X(LIMIT, -18, "received-data limit exceeded")                              \
	X(CANCELLED, -19, "cancelled")                                             \
	X(STATE, -20, "session is not open")                                       \
	X(TYPE, -21, "value has another type")                                     \
	X(RANGE, -22, "value out of range")                                        \
	X(PARSE, -23, "text could not be parsed")                                  \
	X(NOT_FOUND, -24, "not found")                                             \
	X(SSH, -25, "SSH error")                                                   \
	X(HOST_KEY, -26, "SSH host key not trusted")                               \
	X(IO, -27, "local input/output error")                                     \
	X(INTERNAL, -28, "internal error")                                         \
	X(SKIPPED, -29, "an item could not be decoded and was skipped; the operation goes on") \
	X(QUOTA, -30, "a server quota was reached (too many shells or operations)")       \
	X(GONE, -31, "the remote shell or command no longer exists")

enum rms_error_code {
#define RMS_X_(name, num, msg) RMS_E_##name = (num),
	RMS_ERROR_LIST(RMS_X_)
#undef RMS_X_
	/* Convenient aliases: these two are results, not failures. */
	RMS_ITEROVER = RMS_E_ITEROVER,
	RMS_EAGAIN = RMS_E_EAGAIN
};

/* Where a failure came from. */
typedef enum rms_phase {
	RMS_PHASE_NONE = 0,
	RMS_PHASE_OPTIONS,      /* offline validation of options or arguments */
	RMS_PHASE_RESOLVE,      /* name resolution */
	RMS_PHASE_CONNECT,      /* TCP connect */
	RMS_PHASE_TLS,          /* TLS handshake, certificate checks */
	RMS_PHASE_AUTHENTICATE, /* HTTP or SSH authentication */
	RMS_PHASE_SEND,         /* building or sending a request */
	RMS_PHASE_RECEIVE,      /* waiting for or reading a response */
	RMS_PHASE_DECODE,       /* the response could not be understood */
	RMS_PHASE_REMOTE,       /* the remote side answered with an error */
	RMS_PHASE_LIMIT         /* a size or time limit was reached */
} rms_phase;

/* The last failure on this thread, or NULL if none. Borrowed. */
RMS_EXTERN const rms_error *rms_error_last(void);
/* Forget the last failure on this thread. */
RMS_EXTERN void rms_error_clear(void);
/* An owned copy (or NULL on NULL / out of memory). Free with rms_error_free. */
RMS_EXTERN rms_error *rms_error_dup(const rms_error *e);
RMS_EXTERN void rms_error_free(rms_error *e);

/* Stable symbolic name ("RMS_E_TIMEOUT") and generic message of a code. */
RMS_EXTERN const char *rms_error_code_name(int code);
RMS_EXTERN const char *rms_error_code_message(int code);
/* "connect", "tls", ... ("none" for RMS_PHASE_NONE). */
RMS_EXTERN const char *rms_phase_name(rms_phase phase);

/*
 * Getters. All accept NULL (returning 0, NULL or RMS_PHASE_NONE). Strings are
 * borrowed from the error and NULL when the field does not apply.
 */
RMS_EXTERN int rms_error_code(const rms_error *e);
/* A sentence for people: what failed and why, with the numbers. Never NULL
 * for a non-NULL error. Never contains a password or token. */
RMS_EXTERN const char *rms_error_message(const rms_error *e);
RMS_EXTERN rms_phase rms_error_phase(const rms_error *e);
/* Which backend the failure belongs to (RMS_BACKEND_NONE for library-level
 * failures such as a bad argument). */
RMS_EXTERN rms_backend rms_error_backend(const rms_error *e);
/* For RMS_E_OPTIONS / RMS_E_INVALID_ARG: the option or argument at fault,
 * e.g. "port" or "credentials.user". */
RMS_EXTERN const char *rms_error_field(const rms_error *e);
/* HTTP status of the response that failed (0 if none). */
RMS_EXTERN int rms_error_http_status(const rms_error *e);
/* errno of a local system call that failed (0 if none). */
RMS_EXTERN int rms_error_os_errno(const rms_error *e);

/* The WS-Management SOAP fault, when the remote side sent one. */
/* SOAP Code value as a QName with the prefix resolved to a conventional one,
 * e.g. "s:Sender"; Subcode likewise, e.g. "w:InvalidSelectors". */
RMS_EXTERN const char *rms_error_fault_code(const rms_error *e);
RMS_EXTERN const char *rms_error_fault_subcode(const rms_error *e);
/* s:Reason/s:Text. */
RMS_EXTERN const char *rms_error_fault_reason(const rms_error *e);
/* w:FaultDetail URI, e.g. ".../faultDetail/InvalidValue". */
RMS_EXTERN const char *rms_error_fault_detail(const rms_error *e);
/* f:WSManFault@Code (decimal HRESULT or Win32 code; 0 if absent). */
RMS_EXTERN uint32_t rms_error_wsman_code(const rms_error *e);
/* f:WSManFault/f:Message text (the innermost provider message if nested). */
RMS_EXTERN const char *rms_error_wsman_message(const rms_error *e);
/* f:WSManFault@Machine. */
RMS_EXTERN const char *rms_error_machine(const rms_error *e);
/* MSFT_WmiError error_Code / Win32_ExtendedStatus / CIM_Error number
 * (0 if absent). */
RMS_EXTERN uint32_t rms_error_wmi_code(const rms_error *e);
/* CIM status code (CIM_ERR_*, 0 if absent). */
RMS_EXTERN uint32_t rms_error_cim_status(const rms_error *e);
/* Provider name (ProviderFault@provider or MSFT_WmiError ProviderName). */
RMS_EXTERN const char *rms_error_provider(const rms_error *e);

/* For RMS_E_LIMIT and RMS_E_ENVELOPE_TOO_LARGE: the limit's name (e.g.
 * "MaxEnvelopeSize", "MaximumReceivedDataSizePerCommand"), its value in
 * bytes, and how many bytes were sent or had arrived. */
RMS_EXTERN const char *rms_error_limit_name(const rms_error *e);
RMS_EXTERN uint64_t rms_error_limit_value(const rms_error *e);
RMS_EXTERN uint64_t rms_error_limit_actual(const rms_error *e);

/* For RMS_E_SSH / RMS_E_HOST_KEY / SSH-phase failures: libssh2's error
 * number (0 if none). */
RMS_EXTERN int rms_error_ssh_code(const rms_error *e);

/* For a failing iterator: how many items it had delivered before failing. */
RMS_EXTERN uint64_t rms_error_items_delivered(const rms_error *e);

#ifdef __cplusplus
}
#endif

#endif
