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
#include "options_internal.h"

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

static bool has_space_or_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return true;
	return false;
}

bool rms__is_ipv6_literal(const char *host)
{
	struct in6_addr a;
	char buf[INET6_ADDRSTRLEN + 16];
	size_t n = strcspn(host, "%"); /* a zone id (fe80::1%eth0) is not part of it */
	if (n >= sizeof buf)
		return false;
	memcpy(buf, host, n);
	buf[n] = '\0';
	return inet_pton(AF_INET6, buf, &a) == 1;
}

/* Windows user names may contain spaces, but never control characters. */
static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* A host name, an IPv4 address, or an IPv6 address (bare or in brackets). */
static int check_host(const char *field, const char *host)
{
	if (!*host)
		return rms__error_field(RMS_E_OPTIONS, field, "host name is empty");
	if (strlen(host) > 255)
		return rms__error_field(RMS_E_OPTIONS, field, "host name is longer than 255 characters");
	size_t len = strlen(host);
	if (host[0] == '[') {
		if (host[len - 1] != ']' || len < 4)
			return rms__error_field(RMS_E_OPTIONS, field,
			                        "host '%s' opens an IPv6 bracket but does not close it",
			                        host);
		for (size_t i = 1; i < len - 1; i++) {
			char c = host[i];
			if (!(c == ':' || c == '.' || c == '%' || (c >= '0' && c <= '9') ||
			      (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
				return rms__error_field(RMS_E_OPTIONS, field,
				                        "host '%s' is not a valid IPv6 address", host);
		}
		return 0;
	}
	if (rms__is_ipv6_literal(host))
		return 0;
	for (const char *p = host; *p; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		          c == '-' || c == '.' || c == '_';
		if (ok)
			continue;
		/* Whatever stands before an '@' may be credentials: never echo. */
		if (strchr(host, '@'))
			return rms__error_field(RMS_E_OPTIONS, field,
			                        "host contains '@': give the user in 'user', not in "
			                        "the host");
		if (c == '/' || c == ':')
			return rms__error_field(RMS_E_OPTIONS, field,
			                        "host '%s' looks like a URL or has a port; put a URL "
			                        "in 'url' and a port in 'port'",
			                        host);
		return rms__error_field(RMS_E_OPTIONS, field,
		                        "host '%s' contains '%c', which is not allowed in a host "
		                        "name",
		                        host, c);
	}
	if (host[0] == '-' || host[0] == '.')
		return rms__error_field(RMS_E_OPTIONS, field, "host '%s' cannot start with '%c'",
		                        host, host[0]);
	return 0;
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

static int check_port_number(const char *field, unsigned long port, const char *shown)
{
	if (port == 0 || port > 65535)
		return rms__error_field(RMS_E_OPTIONS, field,
		                        "port %s is out of range: a port is 1..65535", shown);
	return 0;
}

void rms__endpoint_free(rms_endpoint *ep)
{
	free(ep->scheme);
	free(ep->host);
	free(ep->path);
	memset(ep, 0, sizeof *ep);
}

/* The URL as error messages may show it: any user:password part is
 * replaced, since messages end up in logs. Caller frees. */
static char *url_for_message(const char *url)
{
	const char *start = strstr(url, "://");
	start = start ? start + 3 : url;
	const char *at = NULL;
	for (const char *p = start; *p && *p != '/' && *p != '?' && *p != '#'; p++)
		if (*p == '@')
			at = p;
	if (!at)
		return strdup(url);
	return rms__asprintf("%.*s[credentials removed]%s", (int)(start - url), url, at);
}

/* Split and check opts->url. */
static int parse_url(const rms_session_options *o, rms_endpoint *ep)
{
	char *url = url_for_message(o->url);
	if (!url)
		return rms__error_nomem();
	int rc = 0;
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *user = NULL;
	if (!*url) {
		rc = rms__error_field(RMS_E_OPTIONS, "url", "URL is empty");
		goto out;
	}
	if (has_space_or_control(o->url)) {
		rc = rms__error_field(RMS_E_OPTIONS, "url",
		                      "URL '%s' contains white space or control characters", url);
		goto out;
	}
	if (!(u = curl_url())) {
		rc = rms__error_nomem();
		goto out;
	}
	CURLUcode uc = curl_url_set(u, CURLUPART_URL, o->url, CURLU_NON_SUPPORT_SCHEME);
	if (uc != CURLUE_OK) {
		rc = rms__error_field(RMS_E_OPTIONS, "url", "URL '%s' is not valid: %s", url,
		                      curl_url_strerror(uc));
		goto out;
	}
	curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	curl_url_get(u, CURLUPART_HOST, &host, 0);
	curl_url_get(u, CURLUPART_PORT, &port, 0);
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	curl_url_get(u, CURLUPART_USER, &user, 0);
	if (!scheme || !host || !*host) {
		rc = rms__error_field(RMS_E_OPTIONS, "url", "URL '%s' has no host", url);
		goto out;
	}
	bool ssh = o->transport == RMS_TRANSPORT_SSH;
	if (ssh ? strcmp(scheme, "ssh") != 0
	        : (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		rc = rms__error_field(RMS_E_OPTIONS, "url",
		                      "URL '%s' has scheme '%s'; %s", url, scheme,
		                      ssh ? "the SSH transport takes ssh://host[:port]"
		                          : "WS-Management takes http or https");
		goto out;
	}
	if (user) {
		rc = rms__error_field(RMS_E_OPTIONS, "url",
		                      "URL '%s' carries a user name; set 'user' (and the password) "
		                      "in the options instead, so they are never part of a URL that "
		                      "may be logged",
		                      url);
		goto out;
	}
	if (port) {
		char *end;
		errno = 0;
		unsigned long pn = strtoul(port, &end, 10);
		if ((rc = check_port_number("url", *end || errno ? 0 : pn, port)))
			goto out;
		ep->port = (unsigned)pn;
	}
	ep->scheme = scheme, scheme = NULL;
	ep->host = host, host = NULL;
	if (path && strcmp(path, "/") != 0)
		ep->path = path, path = NULL;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(user);
	curl_url_cleanup(u);
	free(url);
	return rc;
}

int rms__endpoint_resolve(rms_endpoint *ep, const rms_session_options *o)
{
	memset(ep, 0, sizeof *ep);
	bool ssh = o->transport == RMS_TRANSPORT_SSH;
	int rc;
	if (o->url) {
		if ((rc = parse_url(o, ep)))
			goto fail;
		/* curl gives malloc'd strings to curl_free; keep ours libc-owned. */
		char *s = strdup(ep->scheme), *h = strdup(ep->host);
		char *p = ep->path ? strdup(ep->path) : NULL;
		bool ok = s && h && (!ep->path || p);
		curl_free(ep->scheme);
		curl_free(ep->host);
		curl_free(ep->path);
		ep->scheme = s, ep->host = h, ep->path = p;
		if (!ok) {
			rc = rms__error_nomem();
			goto fail;
		}
		if (o->port && ep->port && o->port != ep->port) {
			rc = rms__error_field(RMS_E_OPTIONS, "port",
			                      "port %u conflicts with port %u in URL '%s'", o->port,
			                      ep->port, o->url);
			goto fail;
		}
		if (o->scheme != RMS_SCHEME_DEFAULT && !ssh &&
		    strcmp(ep->scheme, o->scheme == RMS_SCHEME_HTTPS ? "https" : "http") != 0) {
			rc = rms__error_field(RMS_E_OPTIONS, "scheme",
			                      "scheme %s conflicts with URL '%s'",
			                      o->scheme == RMS_SCHEME_HTTPS ? "https" : "http", o->url);
			goto fail;
		}
		if (o->path) {
			rc = rms__error_field(RMS_E_OPTIONS, "path",
			                      "set the path in the URL or in 'path', not both");
			goto fail;
		}
	} else {
		if ((rc = check_host("host", o->host)))
			goto fail;
		const char *scheme = ssh ? "ssh"
		                   : (o->scheme == RMS_SCHEME_HTTPS ||
		                      (o->scheme == RMS_SCHEME_DEFAULT && o->auth == RMS_AUTH_CERTIFICATE))
		                         ? "https"
		                         : "http";
		ep->scheme = strdup(scheme);
		/* A bare IPv6 address is bracketed, as URLs need it. */
		bool v6 = o->host[0] != '[' && rms__is_ipv6_literal(o->host);
		ep->host = v6 ? rms__asprintf("[%s]", o->host) : strdup(o->host);
		if (o->path)
			ep->path = strdup(o->path);
		if (!ep->scheme || !ep->host || (o->path && !ep->path)) {
			rc = rms__error_nomem();
			goto fail;
		}
	}
	if (o->port > 65535) {
		char shown[16];
		snprintf(shown, sizeof shown, "%u", o->port);
		rc = check_port_number("port", o->port, shown);
		goto fail;
	}
	if (!ep->port)
		ep->port = o->port ? o->port
		         : ssh     ? 22
		         : strcmp(ep->scheme, "https") == 0 ? 5986
		                                            : 5985;
	if (!ep->path && !ssh && !(ep->path = strdup("/wsman"))) {
		rc = rms__error_nomem();
		goto fail;
	}
	if (ep->path && !ssh) {
		if (ep->path[0] != '/' || has_space_or_control(ep->path)) {
			rc = rms__error_field(RMS_E_OPTIONS, o->url ? "url" : "path",
			                      "path '%s' must start with '/' and contain no white space",
			                      ep->path);
			goto fail;
		}
	}
	ep->https = strcmp(ep->scheme, "https") == 0;
	return 0;
fail:
	rms__endpoint_free(ep);
	return rc;
}

char *rms__endpoint_url(const rms_endpoint *ep, const char *user)
{
	if (strcmp(ep->scheme, "ssh") == 0)
		return user ? rms__asprintf("ssh://%s@%s:%u", user, ep->host, ep->port)
		            : rms__asprintf("ssh://%s:%u", ep->host, ep->port);
	return rms__asprintf("%s://%s:%u%s", ep->scheme, ep->host, ep->port, ep->path);
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
		if (uc != CURLUE_OK || has_space_or_control(o->proxy)) {
			char *shown = url_for_message(o->proxy);
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
	                             has_space_or_control(o->cim.cim_namespace)))
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
