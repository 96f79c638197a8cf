/*
 * Session options: defaults, offline validation, deep copies.
 *
 * Validation never touches the network: it checks shapes and ranges, and
 * that local files named by the options can be read, so that a typo is
 * reported at once with the field it is in rather than as a confusing
 * connection failure later.
 */
#include <errno.h>
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

int rms_session_options_init(rms_session_options *opts, unsigned version)
{
	if (!opts)
		return rms__error_field(RMS_E_INVALID_ARG, "opts", "options pointer is NULL");
	if (version != RMS_SESSION_OPTIONS_VERSION)
		return rms__error_field(RMS_E_INVALID_ARG, "version",
		                        "options version %u is not supported by this library "
		                        "(it knows version %u)",
		                        version, RMS_SESSION_OPTIONS_VERSION);
	memset(opts, 0, sizeof *opts);
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

static int validate(const rms_session_options *o, rms_backend backend)
{
	int rc;
	if (!o)
		return rms__error_field(RMS_E_INVALID_ARG, "opts", "options pointer is NULL");
	if (o->version != RMS_SESSION_OPTIONS_VERSION)
		return rms__error_field(RMS_E_OPTIONS, "version",
		                        "options version %u is not supported (expected %u); "
		                        "initialise with RMS_SESSION_OPTIONS_INIT",
		                        o->version, RMS_SESSION_OPTIONS_VERSION);
	if (backend != RMS_BACKEND_CIM && backend != RMS_BACKEND_PSSESSION)
		return rms__error_field(RMS_E_INVALID_ARG, "backend",
		                        "a session needs the CIM or the PSSession backend, not '%s'",
		                        rms_backend_name(backend));
	if (o->transport != RMS_TRANSPORT_WSMAN && o->transport != RMS_TRANSPORT_SSH)
		return rms__error_field(RMS_E_OPTIONS, "transport", "unknown transport %d",
		                        (int)o->transport);
	bool ssh = o->transport == RMS_TRANSPORT_SSH;
	if (ssh && backend == RMS_BACKEND_CIM)
		return rms__error_field(RMS_E_OPTIONS, "transport",
		                        "the CIM backend speaks WS-Management only; SSH carries "
		                        "PSSessions");
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
	if ((rc = rms__endpoint_resolve(&ep, o)))
		return rc;
	bool https = ep.https;
	rms__endpoint_free(&ep);

	if (o->user && !*o->user)
		return rms__error_field(RMS_E_OPTIONS, "user", "user name is empty");
	if (o->user && has_control(o->user))
		return rms__error_field(RMS_E_OPTIONS, "user", "user name contains control characters");
	if (o->password && !o->user)
		return rms__error_field(RMS_E_OPTIONS, "password", "a password was given without a user");
	if ((unsigned)o->auth > RMS_AUTH_CERTIFICATE)
		return rms__error_field(RMS_E_OPTIONS, "auth", "unknown authentication mechanism %d",
		                        (int)o->auth);
	if (ssh) {
		if (!o->user)
			return rms__error_field(RMS_E_OPTIONS, "user", "SSH needs a user name");
		if (o->auth != RMS_AUTH_DEFAULT && o->auth != RMS_AUTH_BASIC)
			return rms__error_field(RMS_E_OPTIONS, "auth",
			                        "%s authentication is for WinRM; SSH uses keys, the "
			                        "agent or a password",
			                        rms_auth_name(o->auth));
		if (!o->password && !o->ssh.identity_file && !o->ssh.use_agent)
			return rms__error_field(RMS_E_OPTIONS, "ssh.identity_file",
			                        "SSH needs a way to authenticate: a key file, the agent "
			                        "or a password");
	} else {
		switch (o->auth) {
		case RMS_AUTH_DEFAULT:
		case RMS_AUTH_BASIC:
			if (o->auth == RMS_AUTH_BASIC && !o->user)
				return rms__error_field(RMS_E_OPTIONS, "user",
				                        "basic authentication needs a user name");
			if (o->user && !o->password)
				return rms__error_field(RMS_E_OPTIONS, "password",
				                        "basic authentication needs a password for user "
				                        "'%s'",
				                        o->user);
			if (o->user && !https && !o->allow_unencrypted)
				return rms__error_field(RMS_E_OPTIONS, "auth",
				                        "basic authentication over plain HTTP would send "
				                        "the password unencrypted; use https, or set "
				                        "allow_unencrypted to accept that");
			break;
		case RMS_AUTH_NONE:
			if (o->user)
				return rms__error_field(RMS_E_OPTIONS, "auth",
				                        "a user was given but authentication is 'none'");
			break;
		case RMS_AUTH_NTLM:
		case RMS_AUTH_NEGOTIATE:
		case RMS_AUTH_KERBEROS:
			if (!https)
				return rms__error_field(RMS_E_OPTIONS, "auth",
				                        "%s over plain HTTP needs WinRM message encryption, "
				                        "which this build does not have yet; use https so "
				                        "that nothing is sent unencrypted",
				                        rms_auth_name(o->auth));
			if (o->auth != RMS_AUTH_KERBEROS && !o->user)
				return rms__error_field(RMS_E_OPTIONS, "user",
				                        "%s authentication needs a user name",
				                        rms_auth_name(o->auth));
			break;
		case RMS_AUTH_CERTIFICATE:
			if (!https)
				return rms__error_field(RMS_E_OPTIONS, "auth",
				                        "certificate authentication needs https");
			if (!o->client_cert)
				return rms__error_field(RMS_E_OPTIONS, "client_cert",
				                        "certificate authentication needs a client "
				                        "certificate file");
			break;
		}
	}
	if (o->client_key && !o->client_cert)
		return rms__error_field(RMS_E_OPTIONS, "client_key",
		                        "a client key was given without a client certificate");
	if (o->client_cert && (rc = check_readable_file("client_cert", o->client_cert,
	                                                "client certificate")))
		return rc;
	if (o->client_key &&
	    (rc = check_readable_file("client_key", o->client_key, "client key")))
		return rc;
	if (o->ca_file && (rc = check_readable_file("ca_file", o->ca_file, "CA")))
		return rc;
	if (o->ca_path && (rc = check_directory("ca_path", o->ca_path, "CA")))
		return rc;
	if (o->proxy) {
		CURLU *u = curl_url();
		if (!u)
			return rms__error_nomem();
		CURLUcode uc = curl_url_set(u, CURLUPART_URL, o->proxy, CURLU_NON_SUPPORT_SCHEME);
		curl_url_cleanup(u);
		if (uc != CURLUE_OK || rms__has_space_or_control(o->proxy)) {
			char *shown = rms__url_for_message(o->proxy);
			if (!shown)
				return rms__error_nomem();
			rc = rms__error_field(RMS_E_OPTIONS, "proxy",
			                      "proxy '%s' is not a URL such as http://proxy:3128",
			                      shown);
			free(shown);
			return rc;
		}
	}
	if (o->max_envelope_size && o->max_envelope_size < 8192)
		return rms__error_field(RMS_E_OPTIONS, "max_envelope_size",
		                        "MaxEnvelopeSize %u is below 8192 bytes, the smallest "
		                        "WinRM accepts",
		                        o->max_envelope_size);
	if (o->locale && (rc = check_locale("locale", o->locale)))
		return rc;
	if (o->data_locale && (rc = check_locale("data_locale", o->data_locale)))
		return rc;
	if ((unsigned)o->log_level > RMS_LOG_TRACE)
		return rms__error_field(RMS_E_OPTIONS, "log_level", "unknown log level %d",
		                        (int)o->log_level);
	if (o->cim.cim_namespace && (!*o->cim.cim_namespace ||
	                             rms__has_space_or_control(o->cim.cim_namespace)))
		return rms__error_field(RMS_E_OPTIONS, "cim.cim_namespace",
		                        "namespace '%s' is empty or contains white space",
		                        o->cim.cim_namespace);
	if (o->pssession.shell_uri && strncmp(o->pssession.shell_uri, "http://", 7) != 0 &&
	    strncmp(o->pssession.shell_uri, "https://", 8) != 0)
		return rms__error_field(RMS_E_OPTIONS, "pssession.shell_uri",
		                        "shell resource '%s' is not a URI", o->pssession.shell_uri);
	if (o->ssh.identity_file &&
	    (rc = check_readable_file("ssh.identity_file", o->ssh.identity_file, "SSH key")))
		return rc;
	if (o->ssh.known_hosts && !o->ssh.accept_new_host_key &&
	    (rc = check_readable_file("ssh.known_hosts", o->ssh.known_hosts, "known_hosts")))
		return rc;
	return 0;
}

int rms_session_options_validate(const rms_session_options *opts, rms_backend backend,
                                 rms_error **err)
{
	return rms__error_out(err, validate(opts, backend));
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
	X(pssession.working_directory) X(ssh.identity_file) X(ssh.known_hosts)

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

int rms__options_copy(rms_session_options *dst, const rms_session_options *src)
{
	*dst = *src;
	bool ok = true;
#define COPY_FIELD(f)                                                                              \
	if (src->f && !(dst->f = strdup(src->f)))                                                   \
		ok = false;
	STRING_FIELDS(COPY_FIELD)
#undef COPY_FIELD
	if (src->password && !(dst->password = secret_dup(src->password)))
		ok = false;
	if (!ok) {
		/* Every field is now either our copy or NULL. */
		rms__options_free(dst);
		return rms__error_nomem();
	}
	return 0;
}
