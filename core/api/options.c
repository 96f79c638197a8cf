/*
 * Session options: versions, offline validation, deep copies with the
 * defaults filled in.
 *
 * Validation never touches the network: it checks shapes and ranges, and
 * that local files named by the options can be read, so that a typo is
 * reported at once with the field it is in rather than as a confusing
 * connection failure later.
 *
 * A caller's struct may be of any version up to ours; everything here
 * first widens it into a current struct (its own bytes, zeros after), so
 * no check and no copy reads past the end of what the caller has.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "backend.h"
#include "address.h"
#include "defaults.h"
#include "options_internal.h"
#include "wsman.h"

static const char *const auth_names[] = {
	[RMS_AUTH_DEFAULT] = "default",   [RMS_AUTH_NONE] = "none",
	[RMS_AUTH_BASIC] = "basic",       [RMS_AUTH_NTLM] = "ntlm",
	[RMS_AUTH_NEGOTIATE] = "negotiate", [RMS_AUTH_KERBEROS] = "kerberos",
	[RMS_AUTH_CERTIFICATE] = "certificate",
};

const char *rms_auth_name(rms_auth auth)
{
	if ((unsigned)auth < sizeof auth_names / sizeof auth_names[0])
		return auth_names[auth];
	return NULL;
}

int rms_auth_parse(rms_auth *out, const char *name)
{
	if (!out || !name)
		return rms__error_field(RMS_E_INVALID_ARG, "auth", "no authentication mechanism given");
	for (unsigned i = 0; i < sizeof auth_names / sizeof auth_names[0]; i++) {
		if (rms__streq_nocase(name, auth_names[i])) {
			*out = (rms_auth)i;
			return 0;
		}
	}
	return rms__error_field(RMS_E_INVALID_ARG, "auth",
	                        "unknown authentication mechanism '%s' (expected basic, ntlm, "
	                        "negotiate, kerberos or certificate)",
	                        name);
}

static const char *const encryption_names[] = {
	[RMS_ENCRYPTION_AUTO] = "auto",
	[RMS_ENCRYPTION_ALWAYS] = "always",
	[RMS_ENCRYPTION_NEVER] = "never",
};

const char *rms_encryption_name(rms_encryption e)
{
	if ((unsigned)e < sizeof encryption_names / sizeof encryption_names[0])
		return encryption_names[e];
	return NULL;
}

int rms_encryption_parse(rms_encryption *out, const char *name)
{
	if (!out || !name)
		return rms__error_field(RMS_E_INVALID_ARG, "auth_v3.encryption",
		                        "no encryption mode given");
	for (unsigned i = 0; i < sizeof encryption_names / sizeof encryption_names[0]; i++) {
		if (rms__streq_nocase(name, encryption_names[i])) {
			*out = (rms_encryption)i;
			return 0;
		}
	}
	return rms__error_field(RMS_E_INVALID_ARG, "auth_v3.encryption",
	                        "unknown encryption mode '%s' (expected auto, always or never)",
	                        name);
}

static const char *const protocol_names[] = {
	[RMS_PS_PROTOCOL_SHELL] = "shell",
	[RMS_PS_PROTOCOL_POWERSHELL] = "powershell",
};

const char *rms_ps_protocol_name(rms_ps_protocol protocol)
{
	if ((unsigned)protocol < sizeof protocol_names / sizeof protocol_names[0])
		return protocol_names[protocol];
	return NULL;
}

int rms_ps_protocol_parse(rms_ps_protocol *out, const char *name)
{
	if (!out || !name)
		return rms__error_field(RMS_E_INVALID_ARG, "protocol", "no PSSession protocol given");
	for (unsigned i = 0; i < sizeof protocol_names / sizeof protocol_names[0]; i++) {
		if (rms__streq_nocase(name, protocol_names[i])) {
			*out = (rms_ps_protocol)i;
			return 0;
		}
	}
	return rms__error_field(RMS_E_INVALID_ARG, "protocol",
	                        "unknown PSSession protocol '%s' (expected shell or powershell)",
	                        name);
}

/* ---- versions ---------------------------------------------------------- */

/* Bytes of the caller's struct each version holds. The struct only grows
 * at its end (the rule in remsess/options.h), so version v's struct is the
 * first version_size[v] bytes of ours. When version 2 arrives, [1] becomes
 * offsetof(rms_session_options, <the first field of version 2>). */
static const size_t version_size[] = {
	[1] = offsetof(rms_session_options, pssession_v2),
	[2] = offsetof(rms_session_options, auth_v3),
	[3] = offsetof(rms_session_options, timeouts_v4),
	[4] = sizeof(rms_session_options),
};

_Static_assert(sizeof version_size / sizeof version_size[0] == RMS_SESSION_OPTIONS_VERSION + 1,
               "every options version up to the current one has its size");

size_t rms__options_size(unsigned version)
{
	if (version < 1 || version > RMS_SESSION_OPTIONS_VERSION)
		return 0;
	return version_size[version];
}

static int version_error(int code, unsigned version)
{
	return rms__error_field(code, "version",
	                        "options version %u is not supported: this library knows "
	                        "versions 1 to %u; initialise with RMS_SESSION_OPTIONS_INIT",
	                        version, RMS_SESSION_OPTIONS_VERSION);
}

/* A current struct from a caller's struct of `size` bytes: the fields it
 * has, zero (the default) for the fields of later versions. Shallow: the
 * strings are still the caller's. */
static void widen(rms_session_options *dst, const void *src, size_t size)
{
	if (size > sizeof *dst)
		size = sizeof *dst;
	memset(dst, 0, sizeof *dst);
	memcpy(dst, src, size);
	dst->version = RMS_SESSION_OPTIONS_VERSION;
}

int rms_session_options_init(rms_session_options *opts, unsigned version)
{
	if (!opts)
		return rms__error_field(RMS_E_INVALID_ARG, "opts", "options pointer is NULL");
	size_t size = rms__options_size(version);
	if (!size)
		return version_error(RMS_E_INVALID_ARG, version);
	/* Only the bytes of the caller's version exist. */
	memset(opts, 0, size);
	opts->version = version;
	return 0;
}

/* ---- field checks ------------------------------------------------------ */


/* Windows user names may contain spaces, but never control characters. */
static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}


static int check_readable_file(const char *field, const char *path, const char *what)
{
	if (!*path)
		return rms__error_field(RMS_E_OPTIONS, field, "%s file name is empty", what);
	FILE *f = fopen(path, "rb");
	if (!f) {
		int e = errno;
		rms__error_field(RMS_E_OPTIONS, field, "%s file '%s' cannot be read: %s", what, path,
		                 strerror(e));
		rms__error_set_errno(e);
		return RMS_E_OPTIONS;
	}
	struct stat st;
	int dir = fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode);
	fclose(f);
	if (dir)
		return rms__error_field(RMS_E_OPTIONS, field, "%s file '%s' is a directory", what,
		                        path);
	return 0;
}

static int check_directory(const char *field, const char *path, const char *what)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		int e = errno;
		rms__error_field(RMS_E_OPTIONS, field, "%s directory '%s' cannot be used: %s", what,
		                 path, strerror(e));
		rms__error_set_errno(e);
		return RMS_E_OPTIONS;
	}
	if (!S_ISDIR(st.st_mode))
		return rms__error_field(RMS_E_OPTIONS, field, "%s '%s' is not a directory", what,
		                        path);
	return 0;
}


static int check_locale(const char *field, const char *loc)
{
	if (!*loc)
		return rms__error_field(RMS_E_OPTIONS, field, "locale is empty");
	for (const char *p = loc; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return rms__error_field(RMS_E_OPTIONS, field,
			                        "locale '%s' is not a language tag such as en-US", loc);
	}
	return 0;
}

/* ---- validation, one topic a function ------------------------------------ */

/* The backend, and the transport it can use. */
static int check_backend(const rms_session_options *o, rms_backend backend)
{
	if (backend != RMS_BACKEND_CIM && backend != RMS_BACKEND_PSSESSION)
		return rms__error_field(RMS_E_INVALID_ARG, "backend",
		                        "a session needs the CIM or the PSSession backend, not '%s'",
		                        rms_backend_name(backend));
	if (o->transport != RMS_TRANSPORT_WSMAN && o->transport != RMS_TRANSPORT_SSH)
		return rms__error_field(RMS_E_OPTIONS, "transport", "unknown transport %d",
		                        (int)o->transport);
	if (o->transport == RMS_TRANSPORT_SSH && backend == RMS_BACKEND_CIM)
		return rms__error_field(RMS_E_OPTIONS, "transport",
		                        "the CIM backend speaks WS-Management only; SSH carries "
		                        "PSSessions");
	return 0;
}

/* Where to connect: url or host, scheme, port and path. *https tells the
 * credential checks whether the connection will be encrypted. */
static int check_where(const rms_session_options *o, bool *https)
{
	bool ssh = o->transport == RMS_TRANSPORT_SSH;
	if ((unsigned)o->scheme > RMS_SCHEME_HTTPS)
		return rms__error_field(RMS_E_OPTIONS, "scheme", "unknown scheme %d", (int)o->scheme);
	if (ssh && o->scheme != RMS_SCHEME_DEFAULT)
		return rms__error_field(RMS_E_OPTIONS, "scheme",
		                        "http/https does not apply to the SSH transport");
	if (o->url && o->host)
		return rms__error_field(RMS_E_OPTIONS, "url", "set either url or host, not both");
	if (!o->url && !o->host)
		return rms__error_field(RMS_E_OPTIONS, "host", "no computer given: set host or url");
	rms_endpoint ep;
	int rc = rms__endpoint_resolve(&ep, o);
	if (rc)
		return rc;
	*https = ep.https;
	rms__endpoint_free(&ep);
	return 0;
}

/* The user name and password on their own, whatever the mechanism. */
static int check_user(const rms_session_options *o)
{
	if (o->user && !*o->user)
		return rms__error_field(RMS_E_OPTIONS, "user", "user name is empty");
	if (o->user && has_control(o->user))
		return rms__error_field(RMS_E_OPTIONS, "user", "user name contains control characters");
	if (o->password && !o->user)
		return rms__error_field(RMS_E_OPTIONS, "password", "a password was given without a user");
	if ((unsigned)o->auth > RMS_AUTH_CERTIFICATE)
		return rms__error_field(RMS_E_OPTIONS, "auth", "unknown authentication mechanism %d",
		                        (int)o->auth);
	return 0;
}

static int check_ssh_auth(const rms_session_options *o)
{
	if (!o->user)
		return rms__error_field(RMS_E_OPTIONS, "user", "SSH needs a user name");
	if (o->auth != RMS_AUTH_DEFAULT && o->auth != RMS_AUTH_BASIC)
		return rms__error_field(RMS_E_OPTIONS, "auth",
		                        "%s authentication is for WinRM; SSH uses keys, the agent or "
		                        "a password",
		                        rms_auth_name(o->auth));
	if (!o->password && !o->ssh.identity_file && !o->ssh.use_agent)
		return rms__error_field(RMS_E_OPTIONS, "ssh.identity_file",
		                        "SSH needs a way to authenticate: a key file, the agent or a "
		                        "password");
	return 0;
}

/* Basic, named or by default (a user given, no mechanism named). */
static int check_basic_auth(const rms_session_options *o, bool https)
{
	if (o->auth == RMS_AUTH_BASIC && !o->user)
		return rms__error_field(RMS_E_OPTIONS, "user", "basic authentication needs a user name");
	if (o->user && !o->password)
		return rms__error_field(RMS_E_OPTIONS, "password",
		                        "basic authentication needs a password for user '%s'",
		                        o->user);
	if (o->user && !https && !o->allow_unencrypted)
		return rms__error_field(RMS_E_OPTIONS, "auth",
		                        "basic authentication over plain HTTP would send the password "
		                        "unencrypted; use https, or set allow_unencrypted to accept "
		                        "that");
	return 0;
}

/* NTLM, Negotiate and Kerberos: GSSAPI mechanisms, with message
 * encryption over http. Kerberos and Negotiate may use the credential
 * cache or a keytab instead of a password. */
static int check_gss_auth(const rms_session_options *o, bool https)
{
	if (o->auth == RMS_AUTH_NTLM && !o->user)
		return rms__error_field(RMS_E_OPTIONS, "user", "ntlm authentication needs a user name");
	if (o->auth == RMS_AUTH_NTLM && !o->password)
		return rms__error_field(RMS_E_OPTIONS, "password",
		                        "ntlm authentication needs the password of user '%s'",
		                        o->user);
	if (o->auth == RMS_AUTH_NTLM && o->auth_v3.keytab)
		return rms__error_field(RMS_E_OPTIONS, "auth_v3.keytab",
		                        "a keytab holds Kerberos keys; ntlm cannot use it");
	if (!https && o->auth_v3.encryption == RMS_ENCRYPTION_NEVER && !o->allow_unencrypted)
		return rms__error_field(RMS_E_OPTIONS, "auth_v3.encryption",
		                        "encryption never over plain HTTP would send every message "
		                        "readable by anyone on the path; use https or encryption "
		                        "auto, or set allow_unencrypted to accept that");
	return 0;
}

static int check_wsman_auth(const rms_session_options *o, bool https)
{
	if ((unsigned)o->auth_v3.encryption > RMS_ENCRYPTION_NEVER)
		return rms__error_field(RMS_E_OPTIONS, "auth_v3.encryption",
		                        "unknown encryption mode %d (expected auto, always or never)",
		                        (int)o->auth_v3.encryption);
	bool gss = o->auth == RMS_AUTH_NTLM || o->auth == RMS_AUTH_NEGOTIATE ||
	           o->auth == RMS_AUTH_KERBEROS;
	if (o->auth_v3.encryption == RMS_ENCRYPTION_ALWAYS && !gss)
		return rms__error_field(RMS_E_OPTIONS, "auth_v3.encryption",
		                        "message encryption needs an ntlm, negotiate or kerberos "
		                        "login (auth is %s)",
		                        rms_auth_name(o->auth) ? rms_auth_name(o->auth) : "unknown");
	if (!gss && (o->auth_v3.keytab || o->auth_v3.spn_service || o->auth_v3.spn_host ||
	             o->auth_v3.delegate))
		return rms__error_field(RMS_E_OPTIONS,
		                        o->auth_v3.keytab         ? "auth_v3.keytab"
		                        : o->auth_v3.spn_service  ? "auth_v3.spn_service"
		                        : o->auth_v3.spn_host     ? "auth_v3.spn_host"
		                                                  : "auth_v3.delegate",
		                        "keytabs, service principals and delegation belong to a "
		                        "kerberos, negotiate or ntlm login (auth is %s)",
		                        rms_auth_name(o->auth) ? rms_auth_name(o->auth) : "unknown");
	const char *spn[] = {o->auth_v3.spn_service, o->auth_v3.spn_host};
	const char *spn_field[] = {"auth_v3.spn_service", "auth_v3.spn_host"};
	for (int i = 0; i < 2; i++)
		if (spn[i] && (!*spn[i] || rms__has_space_or_control(spn[i]) || strchr(spn[i], '@') ||
		               strchr(spn[i], '/')))
			return rms__error_field(RMS_E_OPTIONS, spn_field[i],
			                        "'%s' is empty or has white space, '@' or '/' (the "
			                        "service principal is SERVICE/HOST; give each part "
			                        "alone)",
			                        spn[i]);
	int rc;
	if (o->auth_v3.keytab &&
	    (rc = check_readable_file("auth_v3.keytab", o->auth_v3.keytab, "keytab")))
		return rc;
	switch (o->auth) {
	case RMS_AUTH_DEFAULT:
	case RMS_AUTH_BASIC:
		return check_basic_auth(o, https);
	case RMS_AUTH_NONE:
		if (o->user)
			return rms__error_field(RMS_E_OPTIONS, "auth",
			                        "a user was given but authentication is 'none'");
		return 0;
	case RMS_AUTH_NTLM:
	case RMS_AUTH_NEGOTIATE:
	case RMS_AUTH_KERBEROS:
		return check_gss_auth(o, https);
	case RMS_AUTH_CERTIFICATE:
		if (!https)
			return rms__error_field(RMS_E_OPTIONS, "auth",
			                        "certificate authentication needs https");
		if (!o->client_cert)
			return rms__error_field(RMS_E_OPTIONS, "client_cert",
			                        "certificate authentication needs a client certificate "
			                        "file");
		return 0;
	}
	return 0; /* out of range: check_user refused it */
}

static int check_credentials(const rms_session_options *o, bool https)
{
	int rc = check_user(o);
	if (rc)
		return rc;
	return o->transport == RMS_TRANSPORT_SSH ? check_ssh_auth(o) : check_wsman_auth(o, https);
}

/* The client certificate and key, and the CAs to trust. */
static int check_tls_files(const rms_session_options *o)
{
	int rc = 0;
	if (o->client_key && !o->client_cert)
		return rms__error_field(RMS_E_OPTIONS, "client_key",
		                        "a client key was given without a client certificate");
	if (o->client_cert &&
	    (rc = check_readable_file("client_cert", o->client_cert, "client certificate")))
		return rc;
	if (o->client_key && (rc = check_readable_file("client_key", o->client_key, "client key")))
		return rc;
	if (o->ca_file && (rc = check_readable_file("ca_file", o->ca_file, "CA")))
		return rc;
	if (o->ca_path && (rc = check_directory("ca_path", o->ca_path, "CA")))
		return rc;
	return 0;
}

static int check_proxy(const rms_session_options *o)
{
	if (!o->proxy)
		return 0;
	CURLU *u = curl_url();
	if (!u)
		return rms__error_nomem();
	CURLUcode uc = curl_url_set(u, CURLUPART_URL, o->proxy, CURLU_NON_SUPPORT_SCHEME);
	curl_url_cleanup(u);
	if (uc == CURLUE_OK && !rms__has_space_or_control(o->proxy))
		return 0;
	/* The proxy URL may carry a password: never shown. */
	char *shown = rms__url_for_message(o->proxy);
	if (!shown)
		return rms__error_nomem();
	int rc = rms__error_field(RMS_E_OPTIONS, "proxy",
	                          "proxy '%s' is not a URL such as http://proxy:3128", shown);
	free(shown);
	return rc;
}

/* What goes into every WS-Man message, and logging. */
static int check_protocol(const rms_session_options *o)
{
	int rc;
	if (o->max_envelope_size && o->max_envelope_size < RMS_MIN_MAX_ENVELOPE)
		return rms__error_field(RMS_E_OPTIONS, "max_envelope_size",
		                        "MaxEnvelopeSize %u is below %u bytes, the smallest WinRM "
		                        "accepts",
		                        o->max_envelope_size, RMS_MIN_MAX_ENVELOPE);
	if (o->locale && (rc = check_locale("locale", o->locale)))
		return rc;
	if (o->data_locale && (rc = check_locale("data_locale", o->data_locale)))
		return rc;
	if ((unsigned)o->log_level > RMS_LOG_TRACE)
		return rms__error_field(RMS_E_OPTIONS, "log_level", "unknown log level %d",
		                        (int)o->log_level);
	return 0;
}

/* The .cim, .pssession and .ssh parts. */
static int check_backend_parts(const rms_session_options *o)
{
	int rc;
	const char *ns = o->cim.cim_namespace;
	if (ns && (!*ns || rms__has_space_or_control(ns)))
		return rms__error_field(RMS_E_OPTIONS, "cim.cim_namespace",
		                        "namespace '%s' is empty or contains white space", ns);
	const char *shell = o->pssession.shell_uri;
	if (shell && strncmp(shell, "http://", 7) != 0 && strncmp(shell, "https://", 8) != 0)
		return rms__error_field(RMS_E_OPTIONS, "pssession.shell_uri",
		                        "shell resource '%s' is not a URI", shell);
	if ((unsigned)o->pssession_v2.protocol > RMS_PS_PROTOCOL_POWERSHELL)
		return rms__error_field(RMS_E_OPTIONS, "pssession_v2.protocol",
		                        "unknown PSSession protocol %d (expected shell or powershell)",
		                        (int)o->pssession_v2.protocol);
	if (o->pssession_v2.max_runspaces && o->pssession_v2.min_runspaces > o->pssession_v2.max_runspaces)
		return rms__error_field(RMS_E_OPTIONS, "pssession_v2.min_runspaces",
		                        "min_runspaces %u is more than max_runspaces %u",
		                        o->pssession_v2.min_runspaces, o->pssession_v2.max_runspaces);
	if (o->pssession_v2.max_runspaces > RMS_MAX_RUNSPACES)
		return rms__error_field(RMS_E_OPTIONS, "pssession_v2.max_runspaces",
		                        "max_runspaces %u is more than %u",
		                        o->pssession_v2.max_runspaces, RMS_MAX_RUNSPACES);
	const char *sub = o->pssession_v2.ssh_subsystem;
	if (sub && (!*sub || rms__has_space_or_control(sub)))
		return rms__error_field(RMS_E_OPTIONS, "pssession_v2.ssh_subsystem",
		                        "SSH subsystem name '%s' is empty or contains white space", sub);
	if (o->ssh.identity_file &&
	    (rc = check_readable_file("ssh.identity_file", o->ssh.identity_file, "SSH key")))
		return rc;
	/* A known_hosts file that does not exist yet is created when a new
	 * key may be accepted. */
	if (o->ssh.known_hosts && !o->ssh.accept_new_host_key &&
	    (rc = check_readable_file("ssh.known_hosts", o->ssh.known_hosts, "known_hosts")))
		return rc;
	return 0;
}

int rms__options_validate_sized(const void *opts, size_t size, rms_backend backend)
{
	rms_session_options o;
	widen(&o, opts, size);
	bool https = false;
	int rc;
	if ((rc = check_backend(&o, backend)) || (rc = check_where(&o, &https)) ||
	    (rc = check_credentials(&o, https)) || (rc = check_tls_files(&o)) ||
	    (rc = check_proxy(&o)) || (rc = check_protocol(&o)) || (rc = check_backend_parts(&o)))
		return rc;
	return 0;
}

static int validate(const rms_session_options *o, rms_backend backend)
{
	if (!o)
		return rms__error_field(RMS_E_INVALID_ARG, "opts", "options pointer is NULL");
	size_t size = rms__options_size(o->version);
	if (!size)
		return version_error(RMS_E_OPTIONS, o->version);
	return rms__options_validate_sized(o, size, backend);
}

int rms_session_options_validate(const rms_session_options *opts, rms_backend backend)
{
	return validate(opts, backend);
}

/* ---- copies ------------------------------------------------------------ */

/* The password lives in memory that is locked (kept out of swap where the
 * system allows) and wiped before it is freed. */
static char *secret_dup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	(void)mlock(p, n);
	return p;
}

static void secret_free(const char *secret)
{
	if (!secret)
		return;
	union {
		const char *c;
		char *m;
	} u = { .c = secret };
	size_t n = strlen(secret) + 1;
	OPENSSL_cleanse(u.m, n);
	(void)munlock(u.m, n);
	free(u.m);
}

#define STRING_FIELDS(X)                                                                           \
	X(url) X(host) X(path) X(user) X(client_cert) X(client_key) X(ca_file) X(ca_path)          \
	X(proxy) X(locale) X(data_locale) X(cim.cim_namespace) X(pssession.shell_uri)              \
	X(pssession.working_directory) X(ssh.identity_file) X(ssh.known_hosts)                    \
	X(pssession_v2.ssh_subsystem) X(auth_v3.spn_service) X(auth_v3.spn_host) X(auth_v3.keytab)

void rms__options_free(rms_session_options *o)
{
	if (!o)
		return;
#define FREE_FIELD(f) rms__free_const(o->f);
	STRING_FIELDS(FREE_FIELD)
#undef FREE_FIELD
	secret_free(o->password);
	memset(o, 0, sizeof *o);
}

/* A string option's default, owned by the copy like the caller's strings. */
static bool fill_string(const char **field, const char *def)
{
	if (*field)
		return true;
	return (*field = strdup(def)) != NULL;
}

/*
 * Every defaulted field of a session's copy gets its default here, once,
 * so the code below reads the option and never repeats the number. Left
 * as the caller set them, on purpose:
 *   - scheme, port and path: the endpoint (core/net/address.c) resolves
 *     them together with the URL, and the session keeps the result;
 *   - max_envelope_size: 0 is how the PSSession knows the caller set none,
 *     and so may pick WinRM 2.0's smaller size for such a server; a reader
 *     that needs a number takes RMS_DEFAULT_MAX_ENVELOPE for 0;
 *   - ssh.known_hosts: ~/.ssh/known_hosts depends on the environment at
 *     connect time, and a named file must exist where a default need not;
 *   - idle_timeout_ms: 0 leaves it to the server; there is no number.
 * What applies to WinRM only (the mechanism, the shell and its code page)
 * is filled for the WS-Man transport only. The result still validates as
 * the caller's options did (a target validates its copy again).
 */
static bool fill_defaults(rms_session_options *o)
{
	bool wsman = o->transport == RMS_TRANSPORT_WSMAN;
	if (!o->connect_timeout_ms)
		o->connect_timeout_ms = RMS_DEFAULT_CONNECT_TIMEOUT_MS;
	if (!o->operation_timeout_ms)
		o->operation_timeout_ms = RMS_DEFAULT_OPERATION_TIMEOUT_MS;
	if (wsman && o->auth == RMS_AUTH_DEFAULT)
		o->auth = o->user ? RMS_AUTH_BASIC : RMS_AUTH_NONE;
	if (!o->cim.max_elements)
		o->cim.max_elements = RMS_DEFAULT_MAX_ELEMENTS;
	if (o->pssession.max_received_per_command == RMS_LIMIT_DEFAULT)
		o->pssession.max_received_per_command = RMS_DEFAULT_MAX_RECEIVED_PER_COMMAND;
	if (o->pssession.max_received_object_size == RMS_LIMIT_DEFAULT)
		o->pssession.max_received_object_size = wsman ? RMS_DEFAULT_MAX_RECEIVED_OBJECT_WINRM
		                                              : RMS_DEFAULT_MAX_RECEIVED_OBJECT_SSH;
	if (!o->pssession_v2.min_runspaces)
		o->pssession_v2.min_runspaces = 1;
	if (!o->pssession_v2.max_runspaces)
		o->pssession_v2.max_runspaces =
		        o->pssession_v2.min_runspaces > 1 ? o->pssession_v2.min_runspaces : 1;
	if (wsman && !o->pssession.codepage)
		o->pssession.codepage = RMS_CODEPAGE_UTF8;
	return fill_string(&o->locale, RMS_DEFAULT_LOCALE) &&
	       fill_string(&o->data_locale, o->locale) &&
	       fill_string(&o->cim.cim_namespace, RMS_DEFAULT_NAMESPACE) &&
	       (!wsman || fill_string(&o->pssession.shell_uri, RMS_URI_SHELL_CMD)) &&
	       fill_string(&o->pssession_v2.ssh_subsystem, RMS_DEFAULT_SSH_SUBSYSTEM);
}

int rms__options_copy_sized(rms_session_options *dst, const void *src, size_t size)
{
	rms_session_options from;
	widen(&from, src, size);
	*dst = from;
	bool ok = true;
#define COPY_FIELD(f)                                                                              \
	if (from.f && !(dst->f = strdup(from.f)))                                                   \
		ok = false;
	STRING_FIELDS(COPY_FIELD)
#undef COPY_FIELD
	if (from.password && !(dst->password = secret_dup(from.password)))
		ok = false;
	if (!ok || !fill_defaults(dst)) {
		/* Every string field is now either our copy or NULL. */
		rms__options_free(dst);
		return rms__error_nomem();
	}
	return 0;
}

int rms__options_copy(rms_session_options *dst, const rms_session_options *src)
{
	memset(dst, 0, sizeof *dst);
	size_t size = rms__options_size(src->version);
	if (!size)
		return version_error(RMS_E_OPTIONS, src->version);
	return rms__options_copy_sized(dst, src, size);
}
