/*
 * remsess — targets: one computer, both backends, a backend chosen per call.
 *
 * A target holds the settings of both backends for one computer. Sessions
 * are made on demand: the CIM session when a call first goes to CIM (which
 * opens nothing by itself), the PSSession when a call first goes to the
 * PSSession (which connects right then, and stays open for the target's
 * life).
 *
 * RMS_BACKEND_AUTO follows PowerShell's guidance (about_CimSession):
 *   - operations a CIM provider serves (get, enumerate, query, invoke, create,
 *     modify, delete, associators, references, get class, identify) go to the
 *     CIM backend: it needs no PowerShell on the target and imposes no WinRM
 *     data caps;
 *   - running a command goes to the PSSession.
 * When the chosen backend is not configured (NULL options), AUTO uses the
 * other one if it can serve the operation, and the op's reason says so. A
 * backend that fails is not silently replaced (PowerShell's cmdlets do not
 * switch either): the error is returned. With AUTO, when the chosen
 * backend could not be reached or its session not created, the message of
 * rms_target_start's error says that no retry was made on the other
 * backend and how to ask for it.
 */
#ifndef REMSESS_TARGET_H
#define REMSESS_TARGET_H

#include "common.h"
#include "operation.h"
#include "options.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Either options pointer may be NULL: that backend is then not available
 * for this target. Both are validated offline and copied; nothing connects. */
RMS_EXTERN int rms_target_new(rms_target **out, const rms_session_options *cim,
                              const rms_session_options *pssession);
/* Frees the target and the sessions it made. Accepts NULL. */
RMS_EXTERN void rms_target_free(rms_target *t);

/*
 * Which backend a call with `choice` runs on for an operation of `kind`, and
 * why (a static string such as "auto: CIM operations go to the CIM backend").
 * Pure: opens nothing. Fails with RMS_E_UNSUPPORTED when no configured
 * backend can serve the kind.
 */
RMS_EXTERN int rms_target_choose(rms_backend *out, const char **reason, const rms_target *t,
                                 rms_backend choice, rms_op_kind kind);

/* Start a request on the backend `choice` selects; rms_op_backend() and
 * rms_op_reason() of the op tell which ran it and why. */
RMS_EXTERN int rms_target_start(rms_op **out, rms_target *t, rms_backend choice,
                                const rms_request *req);

/* The target's session for a backend (CIM or PSSESSION), made on first use.
 * Borrowed: it lives as long as the target. */
RMS_EXTERN int rms_target_session(rms_session **out, rms_target *t, rms_backend backend);

#ifdef __cplusplus
}
#endif

#endif
