/*
 * The received-data caps both PSSession transports enforce (PowerShell's
 * MaximumReceivedDataSizePerCommand and MaximumReceivedObjectSize), and the
 * loop that hands a command's output to the caller's callback. One place,
 * so WinRM and SSH report a cap in the same words.
 */
#ifndef RMS_PSREMOTE_PS_LIMITS_H
#define RMS_PSREMOTE_PS_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"

#define RMS_PS_DEFAULT_PER_COMMAND 52428800ull   /* 50 MB */
#define RMS_PS_DEFAULT_OBJECT_WINRM 209715200ull /* 200 MB */
#define RMS_PS_DEFAULT_OBJECT_SSH 10485760ull    /* 10 MB: PowerShell's client over SSH */

/* The object cap in force: the option, or default_object for
 * RMS_LIMIT_DEFAULT (RMS_LIMIT_UNLIMITED stays as it is). */
uint64_t rms__ps_object_cap(const rms_session_options *o, uint64_t default_object);

/*
 * Whether `more` bytes (one object, when check_object) fit the caps after
 * *received bytes. Within them: *received grows by `more` and 0 is
 * returned. Over one: RMS_E_LIMIT, with *name, *cap and *got describing it
 * (the caller stops the command, then calls rms__ps_limit_error).
 */
int rms__ps_caps_check(const rms_session_options *o, uint64_t default_object, bool check_object,
                       uint64_t *received, uint64_t more, const char **name, uint64_t *cap,
                       uint64_t *got);
/* The RMS_E_LIMIT error for a cap that stopped a command after `delivered`
 * bytes had been handed over. Returns RMS_E_LIMIT. */
/* unit: what `delivered` counts ("bytes" of a command's output, "objects"
 * of a pipeline). */
int rms__ps_limit_error(const char *name, uint64_t cap, uint64_t got, uint64_t delivered,
                        const char *unit);

/*
 * A command's output through the request's output callback: next yields
 * the pieces (0, RMS_ITEROVER at the end, or an error); when the callback
 * asks to stop, cancelled(op, why) stops the command and gives the error.
 */
int rms__ps_drive_output(rms_op *op, int (*next)(rms_op *, rms_chunk *),
                         int (*cancelled)(rms_op *, const char *));

#endif
