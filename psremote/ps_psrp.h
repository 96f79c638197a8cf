/*
 * Internal: the PSSession speaking PowerShell remoting (PSRP), the second
 * protocol of the PSSession backend beside the command shell
 * (ps_transport.h). ps_backend.c hands a session whose options ask for
 * RMS_PS_PROTOCOL_POWERSHELL to these calls, which have the backend
 * table's meaning (core/api/backend.h). The runspace pool and its
 * pipelines are psrp_pool.c's, without I/O; this layer moves their bytes
 * over the session's one connection: today OutOfProc packets on an SSH
 * channel running the `powershell` subsystem (ps_psrp.c); WinRS over
 * WS-Man is the next carrier (issue 18).
 */
#ifndef RMS_PSREMOTE_PS_PSRP_H
#define RMS_PSREMOTE_PS_PSRP_H

#include <stdbool.h>

#include "backend.h"

bool rms__psrp_wanted(const rms_session_options *o);
bool rms__psrp_supports(const rms_session_options *o, rms_op_kind kind);
int rms__psrp_open(rms_session *s);
int rms__psrp_open_step(rms_session *s, rms_wait *w);
int rms__psrp_close(rms_session *s);
int rms__psrp_close_step(rms_session *s, rms_wait *w);
void rms__psrp_destroy(rms_session *s);
int rms__psrp_start(rms_op *op);
int rms__psrp_step(rms_op *op, rms_wait *w);
int rms__psrp_next_object(rms_op *op, rms_ps_stream *stream, rms_value **out);
/* CIM get / enumerate / query on the pool: the next instance of a
 * Get-CimInstance pipeline (ps_cim_psrp.h). */
int rms__psrp_next(rms_op *op, rms_instance **out);
void rms__psrp_op_free(rms_op *op);
int rms__psrp_check(rms_session *s, rms_instance **info);
/* rms_session_disconnect / _reconnect (over WinRM, protocol 2.2+), the
 * shell id and a pipeline's command id (NULL over SSH). */
int rms__psrp_disconnect(rms_session *s, uint32_t idle_timeout_ms);
int rms__psrp_reconnect(rms_session *s);
const char *rms__psrp_shell_id(const rms_session *s);
const char *rms__psrp_command_id(const rms_op *op);

#endif
