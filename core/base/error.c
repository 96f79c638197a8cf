#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "remsess/common.h"

/*
 * The thread's last error. Owned by the thread; replaced (and the old one
 * freed) by the next failure. Freed at thread exit by nobody: a thread that
 * ends with an error set leaks one small object, the usual trade-off of
 * thread-local error state without a destructor (rms_error_clear frees it).
 */
static _Thread_local struct rms_error *tls_last;

/* Returned when an error could not be allocated. Never freed; never mutated
 * (rms__error_last_mut hides it). */
static char nomem_message[] = "out of memory";
static struct rms_error nomem_error = {
	.code = RMS_E_NOMEM,
	.message = nomem_message,
};
static _Thread_local bool tls_last_is_nomem;

const char *rms_error_code_name(int code)
{
	switch (code) {
#define RMS_X_(name, num, msg)                                                                     \
	case num: return "RMS_E_" #name;
		RMS_ERROR_LIST(RMS_X_)
#undef RMS_X_
	}
	return "RMS_E_UNKNOWN";
}

const char *rms_error_code_message(int code)
{
	switch (code) {
#define RMS_X_(name, num, msg)                                                                     \
	case num: return msg;
		RMS_ERROR_LIST(RMS_X_)
#undef RMS_X_
	}
	return "unknown error code";
}

const char *rms_phase_name(rms_phase phase)
{
	static const char *const names[] = {
		[RMS_PHASE_NONE] = "none",
		[RMS_PHASE_OPTIONS] = "options",
		[RMS_PHASE_RESOLVE] = "resolve",
		[RMS_PHASE_CONNECT] = "connect",
		[RMS_PHASE_TLS] = "tls",
		[RMS_PHASE_AUTHENTICATE] = "authenticate",
		[RMS_PHASE_SEND] = "send",
		[RMS_PHASE_RECEIVE] = "receive",
		[RMS_PHASE_DECODE] = "decode",
		[RMS_PHASE_REMOTE] = "remote",
		[RMS_PHASE_LIMIT] = "limit",
	};
	if ((unsigned)phase < sizeof names / sizeof names[0] && names[phase])
		return names[phase];
	return "unknown";
}

void rms_error_free(rms_error *e)
{
	if (!e || e == &nomem_error)
		return;
	free(e->message);
	free(e->field);
	free(e->fault_code);
	free(e->fault_subcode);
	free(e->fault_reason);
	free(e->fault_detail);
	free(e->wsman_message);
	free(e->machine);
	free(e->provider);
	free(e->limit_name);
	free(e);
}

rms_error *rms_error_dup(const rms_error *e)
{
	if (!e)
		return NULL;
	struct rms_error *d = malloc(sizeof *d);
	if (!d)
		return NULL;
	*d = *e;
	char **fields[] = { &d->message,       &d->field,   &d->fault_code,   &d->fault_subcode,
		            &d->fault_reason,  &d->fault_detail, &d->wsman_message, &d->machine,
		            &d->provider,      &d->limit_name };
	bool ok = true;
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		if (*fields[i] && ok) {
			*fields[i] = strdup(*fields[i]);
			ok = *fields[i] != NULL;
		} else {
			*fields[i] = NULL;
		}
	}
	if (!ok) {
		rms_error_free(d);
		return NULL;
	}
	return d;
}

static void tls_replace(struct rms_error *e)
{
	if (!tls_last_is_nomem)
		rms_error_free(tls_last);
	tls_last = e;
	tls_last_is_nomem = false;
}

const rms_error *rms_error_last(void)
{
	return tls_last;
}

void rms_error_clear(void)
{
	tls_replace(NULL);
}

struct rms_error *rms__error_park(void)
{
	struct rms_error *e = tls_last;
	if (tls_last_is_nomem)
		e = &nomem_error;
	tls_last = NULL;
	tls_last_is_nomem = false;
	return e;
}

void rms__error_unpark(struct rms_error *parked)
{
	tls_replace(NULL);
	tls_last = parked;
	tls_last_is_nomem = parked == &nomem_error;
}

int rms__error_nomem(void)
{
	tls_replace(NULL);
	tls_last = &nomem_error;
	tls_last_is_nomem = true;
	return RMS_E_NOMEM;
}

struct rms_error *rms__error_last_mut(void)
{
	return tls_last_is_nomem ? NULL : tls_last;
}

static int error_setv(int code, rms_phase phase, const char *field, const char *fmt, va_list ap)
{
	if (code == RMS_E_NOMEM)
		return rms__error_nomem();
	struct rms_error *e = calloc(1, sizeof *e);
	if (!e)
		return rms__error_nomem();
	e->code = code;
	e->phase = phase;
	e->message = rms__vasprintf(fmt, ap);
	if (field)
		e->field = strdup(field);
	if (!e->message || (field && !e->field)) {
		rms_error_free(e);
		return rms__error_nomem();
	}
	tls_replace(e);
	return code;
}

int rms__error_set(int code, rms_phase phase, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = error_setv(code, phase, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

int rms__error_field(int code, const char *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = error_setv(code, RMS_PHASE_OPTIONS, field, fmt, ap);
	va_end(ap);
	return rc;
}

int rms__error_restore(const struct rms_error *e)
{
	if (!e) {
		rms_error_clear();
		return 0;
	}
	if (e == tls_last)
		return e->code;
	struct rms_error *d = rms_error_dup(e);
	if (!d)
		return rms__error_nomem();
	tls_replace(d);
	return d->code;
}

void rms__error_set_backend(rms_backend backend)
{
	struct rms_error *e = rms__error_last_mut();
	if (e)
		e->backend = backend;
}

void rms__error_default_backend(rms_backend backend)
{
	struct rms_error *e = rms__error_last_mut();
	if (e && e->backend == RMS_BACKEND_NONE)
		e->backend = backend;
}

void rms__error_set_http_status(int status)
{
	struct rms_error *e = rms__error_last_mut();
	if (e)
		e->http_status = status;
}

void rms__error_set_errno(int err)
{
	struct rms_error *e = rms__error_last_mut();
	if (e)
		e->os_errno = err;
}

void rms__error_set_limit(const char *name, uint64_t value, uint64_t actual)
{
	struct rms_error *e = rms__error_last_mut();
	if (!e)
		return;
	if (rms__set_str(&e->limit_name, name))
		return;
	e->limit_value = value;
	e->limit_actual = actual;
}

void rms__error_set_items(uint64_t delivered)
{
	struct rms_error *e = rms__error_last_mut();
	if (e)
		e->items_delivered = delivered;
}

void rms__error_set_ssh(int code)
{
	struct rms_error *e = rms__error_last_mut();
	if (e)
		e->ssh_code = code;
}

int rms__check_text(const char *field, const char *s, bool allow_null)
{
	if (!s)
		return allow_null ? 0 : rms__error_field(RMS_E_INVALID_ARG, field, "%s is NULL", field);
	if (!*s)
		return rms__error_field(RMS_E_INVALID_ARG, field, "%s is empty", field);
	if (!rms__utf8_valid(s, strlen(s)))
		return rms__error_field(RMS_E_INVALID_ARG, field, "%s is not valid UTF-8", field);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return rms__error_field(RMS_E_INVALID_ARG, field,
			                        "%s contains a control character (0x%02x)", field, *p);
	return 0;
}

/* DSP0004 identifiers: a letter, '_' or any non-ASCII character first, then
 * those or digits. */
static bool identifier_ok(const char *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
		if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

int rms__check_cim_name(const char *field, const char *s, bool allow_null)
{
	int rc = rms__check_text(field, s, allow_null);
	if (rc || !s)
		return rc;
	if (!identifier_ok(s, strlen(s)))
		return rms__error_field(RMS_E_INVALID_ARG, field,
		                        "%s '%.64s' is not a CIM name (letters, digits and '_', not "
		                        "starting with a digit)",
		                        field, s);
	return 0;
}

int rms__check_namespace(const char *field, const char *s, bool allow_null)
{
	int rc = rms__check_text(field, s, allow_null);
	if (rc || !s)
		return rc;
	/* A leading or trailing separator is tolerated ("/root/cimv2/"). */
	const char *p = s + (*s == '/' || *s == '\\');
	const char *end = p + strlen(p);
	if (end > p && (end[-1] == '/' || end[-1] == '\\'))
		end--;
	for (;;) {
		size_t n = strcspn(p, "/\\");
		if (p + n > end)
			n = (size_t)(end - p);
		if (!identifier_ok(p, n))
			return rms__error_field(RMS_E_INVALID_ARG, field,
			                        "%s '%.64s' is not a CIM namespace such as root/cimv2",
			                        field, s);
		if (p + n >= end)
			return 0;
		p += n + 1;
	}
}

/* ---- getters ----------------------------------------------------------- */

int rms_error_code(const rms_error *e) { return e ? e->code : 0; }
const char *rms_error_message(const rms_error *e) { return e ? e->message : NULL; }
rms_phase rms_error_phase(const rms_error *e) { return e ? e->phase : RMS_PHASE_NONE; }
rms_backend rms_error_backend(const rms_error *e) { return e ? e->backend : RMS_BACKEND_NONE; }
const char *rms_error_field(const rms_error *e) { return e ? e->field : NULL; }
int rms_error_http_status(const rms_error *e) { return e ? e->http_status : 0; }
int rms_error_os_errno(const rms_error *e) { return e ? e->os_errno : 0; }
const char *rms_error_fault_code(const rms_error *e) { return e ? e->fault_code : NULL; }
const char *rms_error_fault_subcode(const rms_error *e) { return e ? e->fault_subcode : NULL; }
const char *rms_error_fault_reason(const rms_error *e) { return e ? e->fault_reason : NULL; }
const char *rms_error_fault_detail(const rms_error *e) { return e ? e->fault_detail : NULL; }
uint32_t rms_error_wsman_code(const rms_error *e) { return e ? e->wsman_code : 0; }
const char *rms_error_wsman_message(const rms_error *e) { return e ? e->wsman_message : NULL; }
const char *rms_error_machine(const rms_error *e) { return e ? e->machine : NULL; }
uint32_t rms_error_wmi_code(const rms_error *e) { return e ? e->wmi_code : 0; }
uint32_t rms_error_cim_status(const rms_error *e) { return e ? e->cim_status : 0; }
const char *rms_error_provider(const rms_error *e) { return e ? e->provider : NULL; }
const char *rms_error_limit_name(const rms_error *e) { return e ? e->limit_name : NULL; }
uint64_t rms_error_limit_value(const rms_error *e) { return e ? e->limit_value : 0; }
uint64_t rms_error_limit_actual(const rms_error *e) { return e ? e->limit_actual : 0; }
int rms_error_ssh_code(const rms_error *e) { return e ? e->ssh_code : 0; }
uint64_t rms_error_items_delivered(const rms_error *e) { return e ? e->items_delivered : 0; }
