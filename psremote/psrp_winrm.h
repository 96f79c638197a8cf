/*
 * Internal: PowerShell remoting carried by WinRS over WS-Management
 * (MS-PSRP 3.1.5.3; facts.md §3.6), for ps_psrp.c. The runspace pool's
 * sends (psrp_pool.h) become WS-Man exchanges, one in flight at a time on
 * the session's one WS-Man client:
 *
 *   the pool's first data    Create of a PowerShell shell, ShellId = the pool
 *                            id, creationXml = the fragments
 *   pool data                Send stdin (no CommandId)
 *   a pipeline's creation    Command, CommandId = the pipeline id,
 *                            Arguments = its first fragments (the rest Send)
 *   pipeline data            Send stdin (host answers: pr) with its CommandId
 *   stop                     Signal powershell/signal/crtl_c (the protocol's
 *                            spelling)
 *   a pipeline's close       Signal terminate
 *   the pool's close         Delete of the shell
 *
 * and, when nothing is to be sent, Receive on the pool (until it is
 * Opened) and on each pipeline in turn, their data fed to the pool;
 * w:TimedOut is "nothing yet".
 */
#ifndef RMS_PSREMOTE_PSRP_WINRM_H
#define RMS_PSREMOTE_PSRP_WINRM_H

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"
#include "psrp_pool.h"

struct psrp_winrm;

/* A carrier for session s (its options: the endpoint, credentials, the
 * configuration in pssession.shell_uri when it names a PowerShell one).
 * *max_fragment gets the PSRP fragment size that keeps every Send and
 * Command within the session's MaxEnvelopeSize. Opens nothing. */
int rms__psrp_winrm_new(struct psrp_winrm **out, rms_session *s, size_t *max_fragment);
void rms__psrp_winrm_free(struct psrp_winrm *x);

/* Move the pool's sends out and the server's data in, without blocking:
 * 0 when something moved, RMS_EAGAIN with *w (the connection, and at the
 * latest deadline when not 0), or a failure (raised): the server refused a
 * request, or the connection failed. */
int rms__psrp_winrm_pump(struct psrp_winrm *x, rms_session *s, rms_psrp_pool *pool, rms_wait *w,
                         uint64_t deadline);

/* Nothing queued to send and no exchange in flight but, at most, a Receive
 * (what a blocking caller waits for before it leaves: a stopped or closed
 * pipeline's Signal has gone out and been answered). */
bool rms__psrp_winrm_settled(const struct psrp_winrm *x);
/* No exchange in flight at all. */
bool rms__psrp_winrm_idle(const struct psrp_winrm *x);

/* rms_session_check for the pool's shell (winrm_setup.h). */
int rms__psrp_winrm_check(struct psrp_winrm *x, rms_session *s, rms_instance **info);

/* The shell the pool lives in ("" before the Create was answered). */
const char *rms__psrp_winrm_shell_id(const struct psrp_winrm *x);

#endif
