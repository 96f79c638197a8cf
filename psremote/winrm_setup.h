/*
 * Internal: what opening a PSSession over WinRM learns before its shell
 * (winrm_setup.c), for both protocols over WinRM.
 */
#ifndef RMS_PSREMOTE_WINRM_SETUP_H
#define RMS_PSREMOTE_WINRM_SETUP_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "wsman.h"

/* The first element of an answer's Body; RMS_E_PROTOCOL ("the WHAT answer
 * is empty") when there is none. */
int rms__winrm_first_element(rms_wsman_reply *reply, xmlNode **out, const char *what);

/*
 * The answer to the winrm/config Get (rc and reply are rms__wsman_step's;
 * the reply is freed): the server's MaxEnvelopeSizekb in *kb. Windows
 * answers it to administrators only (others get w:AccessDenied); any
 * failure other than a lost connection, a refused login or a cancel leaves
 * *kb at 0 and returns 0, and the caller falls back to the protocol
 * version's default, as PowerShell does.
 */
int rms__winrm_config_read(rms_session *s, int rc, rms_wsman_reply *reply, uint32_t *kb);
/* The MaxEnvelopeSize to keep to: winrm/config's (kb), else 153,600 for a
 * WinRM 2.0 stack (Identify's "Stack: 2.0"), else 512,000. Logged. */
uint32_t rms__winrm_envelope(rms_session *s, const char *version, uint32_t kb);
/* Identify's answer (freed): *version gets its ProductVersion (caller
 * frees; NULL when absent). */
int rms__winrm_identified(rms_wsman *w, rms_wsman_reply *reply, char **version);

/*
 * After a failed request on a shell (rc, the last error): *lost when the
 * session is lost with it (a connection failure, no answer, the shell
 * gone), *gone when the server said the shell is gone, and then the
 * error's code becomes RMS_E_GONE (the fault's numbers stay on it).
 * Returns the code. names_command: the request named a command too.
 */
int rms__winrm_failure(int rc, bool names_command, bool *lost, bool *gone);

/*
 * rms_session_check over WinRM, for both protocols: a Get of the shell
 * (resource .../windows/shell, selectors: its ShellId) on w, blocking for
 * the one exchange. 0 when the server says Connected; *info (may be NULL)
 * gets its record as a "Shell" instance. RMS_E_STATE when an exchange is in
 * flight on w or the shell is Disconnected; RMS_E_GONE (and *gone) when
 * the server has no such shell. A failure that loses the session (gone, a
 * lost connection, no answer) has it marked Broken.
 */
int rms__winrm_shell_check(rms_session *s, rms_wsman *w, const rms_ref *selectors,
                           const char *shell_id, rms_instance **info, bool *gone);

#endif
