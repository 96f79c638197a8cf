/*
 * Targets: one computer with settings for both backends, and the per-call
 * choice between them (the AUTO rule is documented in target.h).
 */
#include <stdlib.h>
#include <string.h>

#include "backend.h"

struct rms_target {
	bool has[3];                 /* indexed by rms_backend (CIM, PSSESSION) */
	rms_session_options opts[3]; /* deep copies */
	rms_session *sessions[3];    /* made on first use */
};

static bool configured(const rms_target *t, rms_backend b)
{
	return (b == RMS_BACKEND_CIM || b == RMS_BACKEND_PSSESSION) && t->has[b];
}

/* Whether backend b, with the settings this target holds for it (so the
 * transport it would really use), can run kind. */
static bool can(const rms_target *t, rms_backend b, rms_op_kind kind)
{
	const struct rms_backend_ops *ops = rms__backend_ops(b, &t->opts[b]);
	return ops && ops->supports(&t->opts[b], kind);
}

static const char *name_of(rms_backend b)
{
	return rms__backend_ops(b, NULL)->name;
}

int rms_target_new(rms_target **out, const rms_session_options *cim,
                   const rms_session_options *pssession)
{
	int rc;
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "out is NULL");
	*out = NULL;
	if (!cim && !pssession)
		return rms__error_field(RMS_E_INVALID_ARG, "options",
		                                           "a target needs options for at least "
		                                           "one backend");
	const rms_session_options *src[3] = { NULL, cim, pssession };
	for (int b = RMS_BACKEND_CIM; b <= RMS_BACKEND_PSSESSION; b++) {
		if (src[b] && (rc = rms_session_options_validate(src[b], (rms_backend)b))) {
			rms__error_set_backend((rms_backend)b);
			return rc;
		}
	}
	rms_target *t = calloc(1, sizeof *t);
	if (!t)
		return rms__error_nomem();
	for (int b = RMS_BACKEND_CIM; b <= RMS_BACKEND_PSSESSION; b++) {
		if (!src[b])
			continue;
		if ((rc = rms__options_copy(&t->opts[b], src[b]))) {
			rms_target_free(t);
			return rc;
		}
		t->has[b] = true;
	}
	*out = t;
	return 0;
}

void rms_target_free(rms_target *t)
{
	if (!t)
		return;
	for (int b = RMS_BACKEND_CIM; b <= RMS_BACKEND_PSSESSION; b++) {
		rms_session_free(t->sessions[b]);
		if (t->has[b])
			rms__options_free(&t->opts[b]);
	}
	free(t);
}

int rms_target_choose(rms_backend *out, const char **reason, const rms_target *t,
                      rms_backend choice, rms_op_kind kind)
{
	if (!out || !t)
		return rms__error_field(RMS_E_INVALID_ARG, t ? "out" : "target", "NULL argument");
	if ((unsigned)kind > RMS_OP_POWERSHELL)
		return rms__error_field(RMS_E_INVALID_ARG, "kind", "unknown operation kind %d",
		                        (int)kind);
	const char *why;
	rms_backend pick;
	if (choice == RMS_BACKEND_CIM || choice == RMS_BACKEND_PSSESSION) {
		pick = choice;
		why = "the caller chose this backend";
		if (!configured(t, pick))
			return rms__error_field(RMS_E_INVALID_ARG, "backend",
			                        "the target has no %s settings",
			                        name_of(pick));
		if (!can(t, pick, kind)) {
			rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_NONE,
			               "the %s backend cannot %s%s", name_of(pick),
			               rms_op_kind_name(kind),
			               kind == RMS_OP_RUN || kind == RMS_OP_POWERSHELL
			                       ? "; the PSSession backend can"
			                       : "");
			rms__error_set_backend(pick);
			return RMS_E_UNSUPPORTED;
		}
	} else if (choice == RMS_BACKEND_AUTO) {
		if (kind == RMS_OP_RUN || kind == RMS_OP_POWERSHELL) {
			pick = RMS_BACKEND_PSSESSION;
			why = "auto: commands run on the remote computer through the PSSession";
		} else {
			pick = RMS_BACKEND_CIM;
			why = "auto: CIM operations go to the CIM backend (no PowerShell needed on "
			      "the target, no WinRM data caps)";
		}
		if (!configured(t, pick)) {
			rms_backend other = pick == RMS_BACKEND_CIM ? RMS_BACKEND_PSSESSION
			                                            : RMS_BACKEND_CIM;
			if (!configured(t, other) || !can(t, other, kind))
				return rms__error_set(RMS_E_UNSUPPORTED, RMS_PHASE_NONE,
				                      "auto: %s needs the %s backend, which this "
				                      "target has no settings for",
				                      rms_op_kind_name(kind),
				                      name_of(pick));
			pick = other;
			why = other == RMS_BACKEND_PSSESSION
			              ? "auto: the target has no CIM settings, so the query runs "
			                "through the PSSession"
			              : "auto: the target has no PSSession settings";
		}
	} else {
		return rms__error_field(RMS_E_INVALID_ARG, "backend", "unknown backend %d",
		                        (int)choice);
	}
	*out = pick;
	if (reason)
		*reason = why;
	return 0;
}

/* The target's session for b, made now if it has none (*made says so);
 * limit_ms (0: none) bounds the making as well as the options' open
 * timeout: the time limit of the request it is made for. */
static int target_session_within(rms_session **out, bool *made, rms_target *t, rms_backend b,
                                 uint32_t limit_ms)
{
	if (made)
		*made = false;
	if (!configured(t, b))
		return rms__error_field(RMS_E_INVALID_ARG, "backend", "the target has no %s settings",
		                        rms_backend_name(b));
	if (!t->sessions[b]) {
		int rc = rms__session_new_within(&t->sessions[b], b, &t->opts[b], limit_ms);
		if (rc)
			return rc;
		if (made)
			*made = true;
	}
	*out = t->sessions[b];
	return 0;
}

static int target_session(rms_session **out, rms_target *t, rms_backend b)
{
	return target_session_within(out, NULL, t, b, 0);
}

/* A PSSession made by target_session connects and blocks; the fan-out
 * opens its own from these through the engine instead. */
const rms_session_options *rms__target_options(const rms_target *t, rms_backend b)
{
	return configured(t, b) ? &t->opts[b] : NULL;
}

rms_session *rms__target_peek(const rms_target *t, rms_backend b)
{
	return configured(t, b) ? t->sessions[b] : NULL;
}

int rms_target_session(rms_session **out, rms_target *t, rms_backend backend)
{
	if (!out || !t)
		return rms__error_field(RMS_E_INVALID_ARG, t ? "out" : "target",
		                                           "NULL argument");
	*out = NULL;
	return target_session(out, t, backend);
}

/*
 * AUTO does not retry a failed operation on the other backend, as
 * PowerShell's cmdlets do not (Get-CimInstance does not fall back to a
 * remote command, Invoke-Command not to CIM): the two differ in what they
 * need from the target and in their limits, so a silent switch would hide
 * the very difference the caller chose between. The error says so, and how
 * to ask for the other backend.
 */
static bool same_text(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Whether the other backend would meet the same failure: one of reaching
 * or logging in to the computer, when both backends go to the same place
 * the same way (WS-Man, the same URL or host and port, the same account).
 * Then naming it would only send the caller into the same wall. */
static bool other_fails_alike(const rms_target *t, rms_backend pick, rms_backend other, int code)
{
	switch (code) {
	case RMS_E_RESOLVE:
	case RMS_E_CONNECT:
	case RMS_E_TLS:
	case RMS_E_AUTH:
	case RMS_E_CONNECTION_LOST:
		break;
	default:
		return false;
	}
	const rms_session_options *a = &t->opts[pick], *b = &t->opts[other];
	return a->transport == b->transport && same_text(a->url, b->url) &&
	       same_text(a->host, b->host) && a->port == b->port && a->scheme == b->scheme &&
	       same_text(a->user, b->user) && a->auth == b->auth;
}

static void explain_no_fallback(const rms_target *t, rms_backend pick, rms_op_kind kind)
{
	rms_backend other = pick == RMS_BACKEND_CIM ? RMS_BACKEND_PSSESSION : RMS_BACKEND_CIM;
	struct rms_error *e = rms__error_last_mut();
	if (!e || !e->message || !configured(t, other) || !can(t, other, kind) ||
	    other_fails_alike(t, pick, other, e->code))
		return;
	char *msg = rms__asprintf("%s (auto chose the %s backend and does not retry on the %s "
	                          "backend; ask for it by name: RMS_BACKEND_%s, --backend %s)",
	                          e->message, name_of(pick),
	                          name_of(other),
	                          other == RMS_BACKEND_CIM ? "CIM" : "PSSESSION",
	                          other == RMS_BACKEND_CIM ? "cim" : "pssession");
	if (msg) {
		free(e->message);
		e->message = msg;
	}
}

int rms_target_start(rms_op **out, rms_target *t, rms_backend choice, const rms_request *req)
{
	if (!out || !t || !req)
		return rms__error_field(RMS_E_INVALID_ARG,
		                                           !out ? "out" : !t ? "target" : "request",
		                                           "NULL argument");
	*out = NULL;
	rms_backend pick;
	const char *why;
	rms_session *s = NULL;
	int rc = rms_target_choose(&pick, &why, t, choice, req->kind);
	if (rc)
		return rc;
	/* The request's time limit is the whole call's: a session made for
	 * it is made within it, and the making counts. */
	uint64_t origin = rms__now_ms();
	bool made = false;
	bool created = (rc = target_session_within(&s, &made, t, pick, req->timeout_ms)) == 0;
	if (created)
		rc = rms__op_start_since(out, s, req, why, made ? origin : 0);
	/* Only where the backend itself could not be reached or set up: not
	 * for a bad argument, a missing instance or a cancel. */
	if (rc && choice == RMS_BACKEND_AUTO &&
	    (!created || rc == RMS_E_RESOLVE || rc == RMS_E_CONNECT || rc == RMS_E_TLS ||
	     rc == RMS_E_AUTH || rc == RMS_E_CONNECTION_LOST))
		explain_no_fallback(t, pick, req->kind);
	return rc;
}
