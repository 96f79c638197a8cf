/*
 * Internal side of the error model: how modules raise errors.
 *
 * A module raises an error with rms__error_set() (or a helper below), which
 * replaces this thread's last error and returns the code, so a failure path
 * reads `return rms__error_set(RMS_E_RANGE, RMS_PHASE_OPTIONS, "...")`.
 * Further details (HTTP status, fault fields) are then added to the same
 * thread-local error with the rms__error_last_mut() setters. That error is
 * what the caller reads with rms_error_last() (the one error channel,
 * remsess/error.h).
 */
#ifndef RMS_CORE_ERROR_INTERNAL_H
#define RMS_CORE_ERROR_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "remsess/error.h"
#include "util.h"

struct rms_error {
	int code;
	rms_phase phase;
	rms_backend backend;
	char *message;
	char *field;
	int http_status;
	int os_errno;
	char *fault_code;
	char *fault_subcode;
	char *fault_reason;
	char *fault_detail;
	uint32_t wsman_code;
	char *wsman_message;
	char *machine;
	uint32_t wmi_code;
	uint32_t cim_status;
	char *provider;
	char *limit_name;
	uint64_t limit_value;
	uint64_t limit_actual;
	int ssh_code;
	uint64_t items_delivered;
};

/* Replace this thread's last error with a new one; returns code. */
int rms__error_set(int code, rms_phase phase, const char *fmt, ...) RMS_PRINTF(3, 4);
/* The same, naming the option or argument at fault. */
int rms__error_field(int code, const char *field, const char *fmt, ...) RMS_PRINTF(3, 4);
/* Out of memory: a preallocated-style error that needs no allocation. */
int rms__error_nomem(void);
/* This thread's last error, for adding details; NULL if none. */
struct rms_error *rms__error_last_mut(void);
/* Replace this thread's last error with a copy of e (e.g. an op's own). */
int rms__error_restore(const struct rms_error *e);

/*
 * For cleanup that runs inside a call that succeeds (freeing a session or an
 * op): park the caller's last error, do the work (whose failures only get
 * logged), then put the very same object back, so a pointer the caller got
 * from rms_error_last() stays valid as error.h promises.
 */
struct rms_error *rms__error_park(void);
void rms__error_unpark(struct rms_error *parked);

/* Detail setters on the last error; each ignores a NULL error. */
void rms__error_set_backend(rms_backend backend);
/* The same, unless the last error already names a backend (a lower layer's
 * own, kept). */
void rms__error_default_backend(rms_backend backend);
void rms__error_set_http_status(int status);
void rms__error_set_errno(int err);
void rms__error_set_limit(const char *name, uint64_t value, uint64_t actual);
void rms__error_set_items(uint64_t delivered);
void rms__error_set_ssh(int code);

/* A name or text argument: NULL allowed only when allow_null, otherwise
 * non-empty, valid UTF-8 without control characters. RMS_E_INVALID_ARG
 * naming `field` when not. */
int rms__check_text(const char *field, const char *s, bool allow_null);
/* The same, and a CIM name (class, property, method, role: DSP0004
 * identifier), or a namespace (identifiers separated by '/' or '\'). */
int rms__check_cim_name(const char *field, const char *s, bool allow_null);
int rms__check_namespace(const char *field, const char *s, bool allow_null);

/* True for codes that are failures. RMS_E_SKIPPED is one item's, not the
 * operation's: the operation goes on. */
static inline int rms__is_failure(int rc)
{
	return rc < 0 && rc != RMS_E_ITEROVER && rc != RMS_E_EAGAIN && rc != RMS_E_SKIPPED;
}

#endif
