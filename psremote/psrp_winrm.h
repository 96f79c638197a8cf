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
 *   disconnect / reconnect   Disconnect (what was queued goes out first),
 *                            Reconnect (MS-PSRP 3.1.5.3.16-17)
 *   connect (another client) Connect, connectXml = the pool's SESSION_CAPABILITY
 *                            and CONNECT_RUNSPACEPOOL, its answer's
 *                            connectResponseXml fed to the pool, then one
 *                            Receive on the pool; a pipeline started before:
 *                            Connect CommandId=, then Receives on it
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
int rms__psrp_winrm_new(struct psrp_winrm **out, rms_session *s, size_t *max_fragment,
                        const char *connect_shell_id);
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

/* Begin a Disconnect (idle_ms: its IdleTimeOut, 0 none) or a Reconnect;
 * pump until link_settled, then disconnected() says where it ended (a
 * refused one leaves the link as it was and its pump fails). */
int rms__psrp_winrm_disconnect(struct psrp_winrm *x, uint32_t idle_ms);
int rms__psrp_winrm_reconnect(struct psrp_winrm *x);
bool rms__psrp_winrm_disconnected(const struct psrp_winrm *x);
bool rms__psrp_winrm_link_settled(const struct psrp_winrm *x);
/* The shell exists for this client: created, or connected and its one
 * Receive on the pool done. */
bool rms__psrp_winrm_ready(const struct psrp_winrm *x);
/* Close of a disconnected shell: nothing queued goes out, only a Delete
 * (Remove-PSSession deletes a disconnected session as it is). */
void rms__psrp_winrm_delete_only(struct psrp_winrm *x);

/* The shell the pool lives in ("" before the Create was answered). */
const char *rms__psrp_winrm_shell_id(const struct psrp_winrm *x);

#endif
