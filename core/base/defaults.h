/*
 * Defaults and protocol constants, in one place. A default that a caller
 * can override is applied once, when a session's options are copied
 * (core/api/options.c); code below that reads the filled-in option and
 * never repeats the number. Protocol constants (sizes, code pages, fault
 * numbers) are named here so a number in the code always says what it is.
 */
#ifndef RMS_CORE_BASE_DEFAULTS_H
#define RMS_CORE_BASE_DEFAULTS_H

#include <stddef.h>
#include <stdint.h>

/* ---- timeouts (milliseconds) --------------------------------------------- */

/* TCP connect plus TLS or SSH handshake. */
#define RMS_DEFAULT_CONNECT_TIMEOUT_MS 30000u
/* One remote operation; WinRM's MaxTimeoutms default. */
#define RMS_DEFAULT_OPERATION_TIMEOUT_MS 60000u
/* How long creating a session may take (PowerShell's OpenTimeout). */
#define RMS_DEFAULT_OPEN_TIMEOUT_MS 180000u
/* What the HTTP timeout allows beyond the WS-Man OperationTimeout, so the
 * server's own w:TimedOut fault arrives before the client gives up. */
#define RMS_HTTP_TIMEOUT_GRACE_MS 5000u
/* How long a step's wait may last while a cancellation flag is set: a
 * cancel from another thread cannot wake a blocking caller's poll, so the
 * wait comes back this often to have the flag looked at
 * (curl_easy_perform looked every second). An engine's caller can wake its
 * poll at once instead (rms_multi_wakeup). */
#define RMS_CANCEL_CHECK_MS 500u
/* How long cleanup after a cancel or failure (a Release, a Signal) may
 * take before it is abandoned. */
#define RMS_CLEANUP_TIMEOUT_MS 5000u

/* ---- sizes ---------------------------------------------------------------- */

/* MaxEnvelopeSize when the caller sets none (WinRM 3.0+: 500 KB). */
#define RMS_DEFAULT_MAX_ENVELOPE 512000u
/* MaxEnvelopeSize of WinRM 2.0 (Identify's "Stack: 2.0"), as PowerShell
 * picks for such a server. */
#define RMS_WINRM2_MAX_ENVELOPE 153600u
/* The smallest MaxEnvelopeSize Windows accepts. */
#define RMS_MIN_MAX_ENVELOPE 8192u
/* Items asked for per Enumerate/Pull: Windows' default MaxBatchItems. */
#define RMS_DEFAULT_MAX_ELEMENTS 32000u
/* The largest HTTP response body the transport accepts by default. */
#define RMS_DEFAULT_MAX_RESPONSE ((size_t)64 << 20)

/* PowerShell's received-data caps (RMS_LIMIT_DEFAULT in the options):
 * MaximumReceivedDataSizePerCommand of the default session configuration,
 * and the client's MaximumReceivedObjectSize over WinRM and over SSH. */
#define RMS_DEFAULT_MAX_RECEIVED_PER_COMMAND 52428800ull   /* 50 MB */
#define RMS_DEFAULT_MAX_RECEIVED_OBJECT_WINRM 209715200ull /* 200 MB */
#define RMS_DEFAULT_MAX_RECEIVED_OBJECT_SSH 10485760ull    /* 10 MB */

/* PowerShell remoting: the most runspaces a pool may be asked for (a
 * bound on what the caller can make the server start), and the SSH
 * subsystem it runs in by default (PowerShell's own default name). */
#define RMS_MAX_RUNSPACES 1024u
#define RMS_DEFAULT_SSH_SUBSYSTEM "powershell"

/* ---- names ---------------------------------------------------------------- */

/* The CIM namespace of a call that names none, and of a session's options
 * that name none. */
#define RMS_DEFAULT_NAMESPACE "root/cimv2"
/* xml:lang of wsman:Locale (and wsmv:DataLocale) when the caller names none. */
#define RMS_DEFAULT_LOCALE "en-US"

/* ---- WinRS ---------------------------------------------------------------- */

/* The code page a shell is asked for when the caller names none: UTF-8. */
#define RMS_CODEPAGE_UTF8 65001u

#endif
