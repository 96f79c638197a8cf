/*
 * remsess — sessions.
 *
 * A session is one backend's connection to one computer, with the semantics
 * of the PowerShell object it is modelled on:
 *
 *   RMS_BACKEND_CIM (New-CimSession): rms_session_new() validates the options
 *   offline and opens nothing (unless options.cim.test_connection asks for
 *   one WS-Identify, as New-CimSession does without -SkipTestConnection).
 *   Each operation connects, runs and closes its connection when it
 *   finishes; nothing is held between operations. Failures such as a wrong
 *   password show at the first operation.
 *
 *   RMS_BACKEND_PSSESSION (New-PSSession): rms_session_new() validates,
 *   connects, authenticates, runs Identify, learns MaxEnvelopeSize and opens
 *   the remote shell; any failure is returned right there, with its phase.
 *   The session then holds that one connection and shell until it is closed.
 *
 * A session and its operations are used by one thread at a time.
 */
#ifndef REMSESS_SESSION_H
#define REMSESS_SESSION_H

#include <stdint.h>

#include "common.h"
#include "options.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rms_session_state {
	RMS_STATE_OPENED = 0, /* usable */
	RMS_STATE_BROKEN = 1, /* the connection or remote shell was lost; every
	                         further call fails with RMS_E_STATE saying what
	                         happened (rms_session_broken_reason) */
	RMS_STATE_CLOSED = 2, /* closed by rms_session_close() */
	RMS_STATE_OPENING = 3, /* being opened through an engine (rms_multi_open);
	                          operations wait for RMS_MSG_OPENED */
	RMS_STATE_DISCONNECTED = 4 /* rms_session_disconnect: the remote shell
	                              runs on without a client; operations fail
	                              with RMS_E_STATE until rms_session_reconnect */
} rms_session_state;

/* "Opened", "Broken", "Closed", "Opening", "Disconnected" (PowerShell's
 * spelling). */
RMS_EXTERN const char *rms_session_state_name(rms_session_state state);

/*
 * Create a session for `backend` (RMS_BACKEND_CIM or RMS_BACKEND_PSSESSION;
 * AUTO is a per-call choice, see target.h). The options are validated first
 * (rms_session_options_validate) and copied. On failure *out is NULL and
 * rms_error_last() says what failed, in which phase. Free the session with
 * rms_session_free().
 */
RMS_EXTERN int rms_session_new(rms_session **out, rms_backend backend,
                               const rms_session_options *opts);

/*
 * Close the session: a PSSession deletes its remote shell and drops its
 * connection; a CIM session has nothing open and only changes state. The
 * session stays allocated (state Closed) until rms_session_free(). Closing a
 * closed session is a no-op returning 0. A Disconnected session's shell is
 * deleted as it is, without reconnecting (as Remove-PSSession does): its
 * pipelines end and what they wrote meanwhile is lost.
 */
RMS_EXTERN int rms_session_close(rms_session *s);

/* Closes (ignoring errors, which are logged) and frees. Accepts NULL. A
 * Disconnected session is only freed: its shell stays on the server for a
 * later rms_session_connect (until its idle timeout ends it). */
RMS_EXTERN void rms_session_free(rms_session *s);

/* Properties, as Get-CimSession / Get-PSSession show them. Strings are
 * borrowed from the session. */
RMS_EXTERN rms_backend rms_session_backend(const rms_session *s);
RMS_EXTERN rms_session_state rms_session_state_get(const rms_session *s);
/* A number unique within this process, counting from 1 (the one piece of
 * process-wide state: an atomic counter). */
RMS_EXTERN uint32_t rms_session_id(const rms_session *s);
/* "CimSession<Id>" or "PSSession<Id>" unless set. */
RMS_EXTERN const char *rms_session_name(const rms_session *s);
RMS_EXTERN int rms_session_set_name(rms_session *s, const char *name);
/* A random GUID, "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx". */
RMS_EXTERN const char *rms_session_instance_id(const rms_session *s);
/* The host as given. */
RMS_EXTERN const char *rms_session_computer_name(const rms_session *s);
/* "WSMAN" or "SSH". */
RMS_EXTERN const char *rms_session_protocol(const rms_session *s);
/* What a PSSession speaks: RMS_PS_PROTOCOL_POWERSHELL (a runspace pool,
 * PowerShell remoting) or RMS_PS_PROTOCOL_SHELL (a command shell); a CIM
 * session says RMS_PS_PROTOCOL_SHELL and has neither. */
RMS_EXTERN rms_ps_protocol rms_session_ps_protocol(const rms_session *s);
/* The endpoint URL ("http://host:5985/wsman", "ssh://user@host:22"). */
RMS_EXTERN const char *rms_session_endpoint(const rms_session *s);
/* Why the session is Broken; NULL otherwise. */
RMS_EXTERN const rms_error *rms_session_broken_reason(const rms_session *s);

/*
 * Traffic counters since the session was created. The comparison record and
 * the behaviour tests read these; they count what actually happened on the
 * wire, not what was planned.
 */
#define RMS_STATS_VERSION 1
typedef struct rms_stats {
	unsigned version;              /* RMS_STATS_VERSION: set by the caller */
	uint64_t connections_opened;   /* TCP (or SSH) connections established */
	uint64_t connections_open;     /* open right now */
	uint64_t requests;             /* messages sent */
	uint64_t round_trips;          /* request/response exchanges completed */
	uint64_t bytes_sent;           /* message bytes, headers excluded */
	uint64_t bytes_received;
	uint64_t largest_request;      /* the largest message sent, in bytes */
	uint64_t shells_opened;        /* remote shells / runspace pools created */
	uint64_t shells_open;
	uint64_t operations;           /* operations started */
} rms_stats;

RMS_EXTERN int rms_session_stats(const rms_session *s, rms_stats *out);

/*
 * Is the session's remote shell alive? Asks the server for its record of
 * the shell (a WS-Management Get of the shell by its ShellId, over the
 * session's own connection: no new session, no new shell), as pypsrp's
 * is_alive and PowerShell's state refresh do. Blocks for one exchange
 * (bounded by the session's operation timeout).
 *
 * 0: the server holds the shell and says it is Connected. *info (may be
 * NULL; the caller frees it) gets the record as an instance of class
 * "Shell": ShellId, ResourceUri, Owner, ClientIP, ProcessId, State,
 * IdleTimeOut, MaxIdleTimeOut, ShellRunTime and ShellInactivity
 * (intervals), MemoryUsed, ChildProcesses, Locale, ... as the server
 * sends them (uint32 for the counts, datetime intervals for the times,
 * strings otherwise). Failures:
 *   RMS_E_GONE   the server has no such shell any more (deleted, or ended
 *                by its idle timeout or a restart): the session is Broken
 *                with this as the reason;
 *   RMS_E_STATE  the session is not Opened, or the server holds the shell
 *                as Disconnected (*info is filled then), or an exchange of
 *                one of its operations is in flight on the connection
 *                (ask between operations);
 *   RMS_E_UNSUPPORTED  a CIM session (it holds nothing on the server);
 *   RMS_E_NOT_IMPLEMENTED  a PSSession over SSH;
 *   or the error of the exchange (a connection failure, a timeout), which
 *   breaks the session as a command's would.
 */
RMS_EXTERN int rms_session_check(rms_session *s, rms_instance **info);

/*
 * The user's shells on the session's computer, as the server lists them
 * (Get-PSSession -ComputerName): a WS-Management Enumerate of the shell
 * resource, on a connection of its own (a CIM session or a PSSession over
 * WinRM alike; the PSSession's own shell is among them). Each a "Shell"
 * instance as rms_session_check gives it (ShellId, ResourceUri: the cmd
 * shell or a PowerShell configuration, State: Connected or Disconnected,
 * Owner, ClientIP, IdleTimeOut, ...). *shells (free each with
 * rms_instance_free and the array with rms_free) gets *count of them.
 * Blocks for the Enumerate and its Pulls. RMS_E_UNSUPPORTED over SSH.
 */
RMS_EXTERN int rms_session_shells(rms_session *s, rms_instance ***shells, size_t *count);

/*
 * The commands of one of the user's shells (shell_id: a ShellId of
 * rms_session_shells), as the server lists them: a WS-Management Enumerate
 * of the shell's commands (resource .../windows/shell/Command, a selector
 * filter on ShellId), as pypsrp asks Windows before it connects to a
 * disconnected shell. Each a "Command" instance with string properties
 * CommandId, CommandLine and CommandState ("Running", "Done"); a pipeline
 * of a PowerShell shell is a command whose id is the pipeline's (for
 * rms_session_receive). Ownership and failures as rms_session_shells'.
 */
RMS_EXTERN int rms_session_shell_commands(rms_session *s, const char *shell_id,
                                          rms_instance ***commands, size_t *count);

/*
 * Disconnect and reconnect (Disconnect-PSSession, Connect-PSSession,
 * Receive-PSSession): a PSSession speaking PowerShell remoting over WinRM
 * (RMS_PS_PROTOCOL_POWERSHELL, a server of protocol 2.2 or later: WinRM
 * 3.0, PowerShell 3.0) can leave its shell running on the server without
 * a client. Its pipelines run on; the server keeps their output (up to
 * its buffer: then, in its default Block mode, they wait for a client).
 * Everything else gets RMS_E_UNSUPPORTED saying why: a CIM session (it
 * holds nothing), the command shell (WinRS cmd shells are not
 * disconnected by remsess), PowerShell over SSH (OutOfProc has no
 * disconnect), an older server. See docs/pssession.md.
 *
 * rms_session_disconnect: what was queued to send goes out first, then a
 * WinRS Disconnect (with idle_timeout_ms as its IdleTimeOut: how long the
 * server keeps the shell without a client; 0: the shell's own). The
 * session is then Disconnected: starting or reading operations fails with
 * RMS_E_STATE (reading one fails that op), rms_session_check and
 * rms_session_shells still work. Blocks for the exchanges, bounded by the
 * operation timeout. RMS_E_STATE when the session is not Opened.
 *
 * rms_session_reconnect: the same session (this process) takes its shell
 * back (WinRS Reconnect): Opened again, and ops started before the
 * disconnect read on, output produced meanwhile first. RMS_E_STATE when
 * it is not Disconnected. A refusal by the server leaves it Disconnected;
 * a lost connection makes it Broken.
 */
RMS_EXTERN int rms_session_disconnect(rms_session *s, uint32_t idle_timeout_ms);
RMS_EXTERN int rms_session_reconnect(rms_session *s);

/*
 * Connect to a disconnected shell, from this or another process, by its id
 * (rms_session_shell_id of the session that disconnected it, or ShellId
 * of an rms_session_shells record whose State is Disconnected): a new
 * PSSession (options as rms_session_new's, RMS_PS_PROTOCOL_POWERSHELL
 * over WinRM) that sends WinRS Connect with the runspace pool's
 * SESSION_CAPABILITY and CONNECT_RUNSPACEPOOL instead of creating a shell.
 * On success it is Opened, holding that shell (closing it deletes the
 * shell). Failures as rms_session_new's, and the server's refusal (a shell
 * that is gone, connected to a client, or another user's) as a fault.
 * Free with rms_session_free().
 */
RMS_EXTERN int rms_session_connect(rms_session **out, const rms_session_options *opts,
                                   const char *shell_id);

/*
 * An op for a pipeline started before a disconnect, by its command id
 * (rms_op_command_id of the op that started it): Receive-PSSession. The
 * op gives the pipeline's objects from where the server kept them (what
 * it wrote while nobody was connected), then its end, as a pipeline's op
 * does (rms_op_next_object, rms_op_wait, rms_op_error_record). s is an
 * Opened PSSession over WinRM, typically one rms_session_connect made.
 * The pipeline is read by one op of the session at a time. Free with
 * rms_op_free (which stops the pipeline if it has not ended).
 */
RMS_EXTERN int rms_session_receive(rms_op **out, rms_session *s, const char *command_id);

/* The id of the session's remote shell, as the server knows it (a
 * PowerShell session's is its runspace pool's id, upper case); NULL for a
 * CIM session, a PSSession over SSH, or before the shell exists.
 * Borrowed. */
RMS_EXTERN const char *rms_session_shell_id(const rms_session *s);

/* The command id of a PowerShell op (the pipeline's id, upper case, as
 * WinRS names the command) of a PSSession over WinRM, for
 * rms_session_receive; NULL otherwise. Borrowed from the op. */
RMS_EXTERN const char *rms_op_command_id(const rms_op *op);

#ifdef __cplusplus
}
#endif

#endif
