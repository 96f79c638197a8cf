/*
 * remsess — types and conventions shared by every public header.
 *
 * Conventions (they hold for the whole API):
 *   - Outputs come first, as pointer-to-pointer; the return value is 0 or a
 *     negative RMS_E_* code (see error.h).
 *   - Every object type has exactly one rms_<type>_free(), which accepts NULL.
 *   - What a call returns through an out-parameter, the caller owns and frees.
 *     What a getter returns is borrowed and lives as long as its parent.
 *   - Free an operation before the session (or target) it runs on.
 *   - Strings are UTF-8 and NUL-terminated. Strings passed in are copied by
 *     the callee unless the function says otherwise.
 *   - Threads: objects are not locked. One session (with its operations) is
 *     used by one thread at a time; different sessions may be used from
 *     different threads at once. rms_op_cancel() is the one call that may
 *     be made from another thread.
 *   - No global mutable state, except the optional one-time rms_global_init().
 */
#ifndef REMSESS_COMMON_H
#define REMSESS_COMMON_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(RMS_STATIC)
#define RMS_EXTERN extern
#elif defined(__GNUC__) && __GNUC__ >= 4
#define RMS_EXTERN extern __attribute__((visibility("default")))
#else
#define RMS_EXTERN extern
#endif

/* The two backends, and AUTO for calls that may choose (see target.h). */
typedef enum rms_backend {
	RMS_BACKEND_NONE = 0,
	RMS_BACKEND_CIM = 1,       /* like New-CimSession: lazy, client-side CIM */
	RMS_BACKEND_PSSESSION = 2, /* like New-PSSession: eager, persistent shell */
	RMS_BACKEND_AUTO = 3       /* per call, by the rules in target.h */
} rms_backend;

/* "cim", "pssession", "auto" ("none" for RMS_BACKEND_NONE). */
RMS_EXTERN const char *rms_backend_name(rms_backend backend);
/* Parse "cim" / "pssession" / "auto" (case-insensitive). Returns 0 or
 * RMS_E_INVALID_ARG. */
RMS_EXTERN int rms_backend_parse(rms_backend *out, const char *name);

/* Free memory that remsess handed out as a plain buffer or string (text and
 * JSON forms, for example). Accepts NULL. */
RMS_EXTERN void rms_free(void *ptr);

/* Opaque handles. */
typedef struct rms_session rms_session;
typedef struct rms_target rms_target;
typedef struct rms_request rms_request;
typedef struct rms_op rms_op;
typedef struct rms_instance rms_instance;
typedef struct rms_value rms_value;
typedef struct rms_ref rms_ref;
typedef struct rms_psobject rms_psobject;
typedef struct rms_cim_class rms_cim_class;
typedef struct rms_comparison rms_comparison;
typedef struct rms_error rms_error;

#ifdef __cplusplus
}
#endif

#endif
