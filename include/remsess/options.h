/*
 * remsess — session options.
 *
 * One options struct serves both backends; fields that apply to one backend
 * only are grouped under .cim, .pssession and .ssh. Initialise it with
 * RMS_SESSION_OPTIONS_INIT or rms_session_options_init(), then set what you
 * need. Zero (or NULL) means "the default" for every field, as each field's
 * comment says, so the secure choice is always the zero one (TLS
 * verification on, no plaintext NTLM).
 *
 * Strings are borrowed only for the duration of the call that takes the
 * options: rms_session_new() and rms_target_new() copy what they keep.
 *
 * Versions. The struct carries the version of the header the caller was
 * built against, and the library reads only the bytes that version's
 * struct holds: every version from 1 up to this header's
 * RMS_SESSION_OPTIONS_VERSION is accepted, a newer one is RMS_E_OPTIONS.
 * That holds because whoever changes this struct follows one rule:
 *   - it only ever grows at its end. No field is removed, reordered,
 *     resized or inserted before the end, and that includes the insides of
 *     .cim, .pssession and .ssh, which are frozen as they are;
 *   - fields added in version N go at the end. A backend's new fields go
 *     in a new sub-struct named for the backend and the version
 *     (`struct { ... } cim_v2;`), so every backend's part can still grow;
 *   - a new field's zero means what the library did before the field
 *     existed, so an older caller's struct, read and padded with zeros,
 *     behaves as it always did;
 *   - RMS_SESSION_OPTIONS_VERSION goes up by one, and core/api/options.c
 *     records how many bytes the previous version's struct holds.
 */
#ifndef REMSESS_OPTIONS_H
#define REMSESS_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rms_transport {
	RMS_TRANSPORT_WSMAN = 0, /* WS-Management over HTTP(S) (default) */
	RMS_TRANSPORT_SSH = 1    /* SSH (PSSession backend only) */
} rms_transport;

typedef enum rms_scheme {
	RMS_SCHEME_DEFAULT = 0, /* http, unless a client certificate asks for https */
	RMS_SCHEME_HTTP = 1,
	RMS_SCHEME_HTTPS = 2
} rms_scheme;

typedef enum rms_auth {
	RMS_AUTH_DEFAULT = 0, /* basic when a user is given, else none */
	RMS_AUTH_NONE,
	RMS_AUTH_BASIC,
	RMS_AUTH_NTLM,
	RMS_AUTH_NEGOTIATE,
	RMS_AUTH_KERBEROS,
	RMS_AUTH_CERTIFICATE
} rms_auth;

/* "basic", "ntlm", ... Parse is case-insensitive; RMS_E_INVALID_ARG for an
 * unknown name. */
RMS_EXTERN const char *rms_auth_name(rms_auth auth);
RMS_EXTERN int rms_auth_parse(rms_auth *out, const char *name);

/* WinRM message encryption (MS-WSMV 2.2.9.1) with an NTLM, Negotiate or
 * Kerberos login: every body sealed with the login's security context, as
 * a default Windows host (AllowUnencrypted=false) requires over http. */
typedef enum rms_encryption {
	RMS_ENCRYPTION_AUTO = 0, /* on over http, off over https (TLS protects it) */
	RMS_ENCRYPTION_ALWAYS,   /* over https too */
	RMS_ENCRYPTION_NEVER     /* over http only with allow_unencrypted */
} rms_encryption;

/* "auto", "always", "never"; parse is case-insensitive, RMS_E_INVALID_ARG
 * for another name. */
RMS_EXTERN const char *rms_encryption_name(rms_encryption e);
RMS_EXTERN int rms_encryption_parse(rms_encryption *out, const char *name);

typedef enum rms_log_level {
	RMS_LOG_ERROR = 0,
	RMS_LOG_WARNING = 1,
	RMS_LOG_INFO = 2,
	RMS_LOG_DEBUG = 3,  /* one line per request and response */
	RMS_LOG_TRACE = 4   /* message bodies, with credentials removed */
} rms_log_level;

/* A log line for people. Passwords, tokens, Authorization headers and
 * private keys never reach it. Called on the thread that drives the session. */
typedef void (*rms_log_fn)(rms_log_level level, const char *message, void *userdata);

/* Special values of the received-data caps. */
#define RMS_LIMIT_DEFAULT 0u           /* PowerShell's default, see below */
#define RMS_LIMIT_UNLIMITED UINT64_MAX

/* What a PSSession speaks to the remote computer. */
typedef enum rms_ps_protocol {
	/* A command shell: cmd.exe over WinRS, the login shell over an SSH
	 * exec channel. Commands return text. The default (as before options
	 * version 2). */
	RMS_PS_PROTOCOL_SHELL = 0,
	/* PowerShell remoting (MS-PSRP): a runspace pool on the remote
	 * computer; pipelines return typed objects and PowerShell's streams.
	 * Over SSH: the `powershell` subsystem (pwsh -sshs). Over WinRM: a
	 * PowerShell shell (pssession.shell_uri naming a configuration
	 * http://schemas.microsoft.com/powershell/NAME, default
	 * Microsoft.PowerShell). */
	RMS_PS_PROTOCOL_POWERSHELL = 1
} rms_ps_protocol;

/* "shell", "powershell"; parse is case-insensitive, RMS_E_INVALID_ARG for
 * another name. */
RMS_EXTERN const char *rms_ps_protocol_name(rms_ps_protocol protocol);
RMS_EXTERN int rms_ps_protocol_parse(rms_ps_protocol *out, const char *name);

#define RMS_SESSION_OPTIONS_VERSION 4

typedef struct rms_session_options {
	unsigned version; /* RMS_SESSION_OPTIONS_VERSION; 0 is refused */

	/* Where: either a full URL ("https://host:5986/wsman"), or a host with
	 * optional scheme, port and path. Not both. The host may be a name, an
	 * IPv4 address or a bracketed IPv6 address. */
	const char *url;
	const char *host;
	rms_scheme scheme; /* RMS_SCHEME_DEFAULT: http, https for a certificate */
	unsigned port;     /* 0: 5985 (http), 5986 (https), 22 (ssh) */
	const char *path;  /* NULL: "/wsman" */
	rms_transport transport; /* RMS_TRANSPORT_WSMAN (0) by default */

	/* Credentials. The password is copied into locked-down memory and wiped
	 * when the session is freed; it is never logged. */
	const char *user;     /* NULL: none (no authentication over WinRM) */
	const char *password; /* NULL: none (SSH then needs a key or the agent) */
	rms_auth auth;        /* RMS_AUTH_DEFAULT: basic with a user, else none */
	const char *client_cert; /* PEM file, for RMS_AUTH_CERTIFICATE; NULL: none */
	const char *client_key;  /* PEM file; NULL: the key is in client_cert */

	/* TLS. Certificates are verified (chain and host name) unless
	 * tls_insecure is set, which must be an explicit choice. NULL CA file
	 * and path: the system's trusted certificates. */
	const char *ca_file;
	const char *ca_path;
	bool tls_insecure;

	/* Allow Basic authentication over plain http, which puts the password
	 * on the wire readable by anyone on the path. Off by default, as
	 * WinRM's own client (AllowUnencrypted=false) has it: use https, or set
	 * this as an explicit choice (a lab, a loopback test endpoint). */
	bool allow_unencrypted;

	/* HTTP proxy, e.g. "http://proxy:3128"; NULL: none (environment proxies
	 * are not used unless named here). */
	const char *proxy;

	/* Timeouts in milliseconds; 0: defaults (connect 30 s, operation 60 s,
	 * which is WinRM's MaxTimeoutms). The operation timeout is each
	 * request's WS-Man OperationTimeout: the server answers within it (a
	 * w:TimedOut fault at worst) and the client waits that long plus 5 s
	 * of network allowance for the answer. To bound a whole call, give the
	 * request a time limit (rms_request_set_timeout); to bound creating a
	 * session, timeouts_v4.open_timeout_ms. */
	uint32_t connect_timeout_ms;
	uint32_t operation_timeout_ms;

	/* MaxEnvelopeSize in bytes; 0: 512000 (500 KB, Windows Server 2012 and
	 * later), except that a PSSession picks 153600 for a WinRM 2.0 server
	 * (Identify's "Stack: 2.0"), as PowerShell does. Reading the server's own
	 * value (winrm/config) needs admin rights, so remsess does not; set this
	 * to the server's MaxEnvelopeSizekb x 1024 when it is smaller, or a large
	 * request gets HTTP 413 instead of remsess's own error before sending.
	 * Must be at least 8192, the smallest Windows accepts. */
	uint32_t max_envelope_size;

	/* xml:lang of wsman:Locale and wsmv:DataLocale; NULL locale: "en-US",
	 * NULL data_locale: the locale. */
	const char *locale;
	const char *data_locale;

	/* Logging: the callback (NULL: no logging) and the most detailed level
	 * it receives (RMS_LOG_ERROR, 0, gives errors only). */
	rms_log_fn log;
	void *log_userdata;
	rms_log_level log_level;

	struct {
		/* CIM namespace for calls that name none; NULL: "root/cimv2". */
		const char *cim_namespace;
		/* Run one WS-Identify at session creation, as New-CimSession does
		 * unless -SkipTestConnection is given. Off by default: a CIM
		 * session opens nothing until its first operation. */
		bool test_connection;
		/* Items asked for per Enumerate/Pull; 0: 32000 (Windows' default
		 * MaxBatchItems). The server still caps a batch to fit one
		 * envelope. */
		uint32_t max_elements;
		/* WS-Man carries no property types, so the CIM backend fetches
		 * each class's schema (GetClass) once per session, the first
		 * time it decodes that class, and types every property by it.
		 * Set this to skip that round trip: properties then decode by
		 * their shape, and numbers come as strings. */
		bool no_schema;
	} cim;

	struct {
		/* Received-data caps (PowerShell's MaximumReceivedDataSizePerCommand
		 * and MaximumReceivedObjectSize), in bytes. RMS_LIMIT_DEFAULT gives
		 * 50 MB per command (the session configuration default that a
		 * default PSSession runs into) and 200 MB per object over WinRM,
		 * 10 MB per object over SSH (PowerShell's client defaults);
		 * RMS_LIMIT_UNLIMITED turns a cap off. They apply to the PSSession
		 * backend only: CIM sessions impose no such caps. */
		uint64_t max_received_per_command;
		uint64_t max_received_object_size;
		/* Shell resource; NULL: the cmd shell,
		 * "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd". */
		const char *shell_uri;
		/* Shell creation settings (WinRS). NULL working directory: the
		 * server's choice. */
		const char *working_directory;
		bool no_profile;
		uint32_t codepage;        /* 0: 65001 (UTF-8), so output is text */
		uint32_t idle_timeout_ms; /* 0: the server's */
	} pssession;

	struct {
		const char *identity_file;   /* private key file; NULL: none */
		const char *known_hosts;     /* NULL: ~/.ssh/known_hosts */
		/* Accept and record a host key seen for the first time. A key
		 * that differs from the recorded one is refused regardless. */
		bool accept_new_host_key;
		bool use_agent;              /* try ssh-agent identities */
	} ssh;

	/* Version 2. */
	struct {
		rms_ps_protocol protocol; /* RMS_PS_PROTOCOL_SHELL (0) by default */
		/* PowerShell remoting: runspaces the pool opens at least and at
		 * most, so up to max_runspaces pipelines run at once; 0: 1. */
		uint32_t min_runspaces;
		uint32_t max_runspaces;
		/* The SSH subsystem PowerShell remoting runs in; NULL:
		 * "powershell" (sshd_config: Subsystem powershell /path/pwsh -sshs). */
		const char *ssh_subsystem;
	} pssession_v2;

	/* Version 3: the NTLM, Negotiate and Kerberos logins over WinRM
	 * (docs/auth.md). */
	struct {
		rms_encryption encryption; /* RMS_ENCRYPTION_AUTO by default */
		/* The service principal is spn_service@spn_host ("HTTP/host" in
		 * Kerberos' spelling). NULL service: "HTTP", as Windows' WinRM
		 * client asks for; NULL host: the endpoint's host name as given
		 * (an IP address or a DNS alias is rarely a registered name). */
		const char *spn_service;
		const char *spn_host;
		/* Ask for a forwardable Kerberos ticket, so the remote side can
		 * reach a second computer as the user (CredSSP-free double hop;
		 * the account and the server must be trusted for delegation). */
		bool delegate;
		/* Kerberos: log in with the keys of this keytab (user names the
		 * principal, or its first one) instead of a password or the
		 * credential cache (KRB5CCNAME, used when neither is given). */
		const char *keytab;
		/* Over https, the login is bound to the server's certificate
		 * (RFC 5929 tls-server-end-point), as hardened hosts require
		 * (CbtHardeningLevel Strict). Set this to leave it out. */
		bool no_channel_binding;
	} auth_v3;

	/* Version 4. */
	struct {
		/* The longest creating the session may take, in milliseconds:
		 * connecting, logging in and opening the remote shell or runspace
		 * pool of a PSSession, the connection test of a CIM session that
		 * asks for one (cim.test_connection), all together, whatever each
		 * request's own timeout (PowerShell's PSSessionOption
		 * OpenTimeout). When it passes, creation fails with RMS_E_TIMEOUT
		 * (a WinRM shell whose Create was answered may stay on the
		 * server until its idle timeout). A session a target makes for a
		 * request with a time limit (rms_request_set_timeout) is also
		 * bounded by that limit, and the request's limit counts its
		 * creation: the whole call takes at most that long. 0: 180000
		 * (3 minutes, PowerShell's default). */
		uint32_t open_timeout_ms;
	} timeouts_v4;
	/* Fields of later versions go here, and only here (see "Versions"). */
} rms_session_options;

#define RMS_SESSION_OPTIONS_INIT { .version = RMS_SESSION_OPTIONS_VERSION }

/* Initialise opts as the given version's struct (the caller's header's:
 * RMS_SESSION_OPTIONS_VERSION): every field zero, version set. Only that
 * version's bytes are written. Returns 0, or RMS_E_INVALID_ARG when version
 * is not one this library knows (0, or newer than the library). */
RMS_EXTERN int rms_session_options_init(rms_session_options *opts, unsigned version);

/*
 * Offline validation for a backend (RMS_BACKEND_CIM or RMS_BACKEND_PSSESSION):
 * no name is resolved and nothing is connected. On failure returns
 * RMS_E_OPTIONS and the error names the field (rms_error_field) and says
 * what is wrong with it. Checked: version (1 up to the library's); url
 * XOR host; URL syntax and scheme; port 1..65535; path; transport against
 * backend (SSH is PSSession-only); an empty user; a password without a
 * user; auth against credentials (certificate needs https and a client
 * certificate; Basic over plain http needs allow_unencrypted; NTLM needs
 * a user; NTLM, Negotiate and Kerberos over plain http need message
 * encryption, or allow_unencrypted for encryption never; encryption
 * always needs one of them); client certificate, keytab,
 * key and CA files exist and are readable; max_envelope_size >= 8192.
 */
RMS_EXTERN int rms_session_options_validate(const rms_session_options *opts, rms_backend backend);

#ifdef __cplusplus
}
#endif

#endif
