/*
 * Per-session logging with redaction. Every line goes through
 * rms__log_redact() before it reaches the caller's callback, so a password,
 * an Authorization header or a token can never be logged by accident, even
 * when a message body or a header dump is logged at TRACE level.
 */
#ifndef RMS_CORE_LOG_H
#define RMS_CORE_LOG_H

#include "remsess/options.h"
#include "util.h"

typedef struct rms_logger {
	rms_log_fn fn;
	void *userdata;
	rms_log_level level;
	/* A secret to scrub from every line as well (the session password);
	 * borrowed from the session's options copy. */
	const char *secret;
} rms_logger;

void rms__log(const rms_logger *lg, rms_log_level level, const char *fmt, ...) RMS_PRINTF(3, 4);

/*
 * Returns a malloc'd copy of line with credentials replaced by "[redacted]":
 * the values of Authorization / Proxy-Authorization / WWW-Authenticate
 * (token part) headers, "password=" style assignments, <…Password>…</…>
 * elements, the secret (when non-empty) wherever it appears, and
 * -----BEGIN … PRIVATE KEY----- blocks. NULL on out of memory.
 */
char *rms__log_redact(const char *line, const char *secret);

#endif
