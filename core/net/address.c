/*
 * Where a session's remote computer is: the endpoint an options struct
 * names (url, or host/scheme/port/path), resolved offline into scheme,
 * host, port and path with the defaults of each scheme. The net layer owns
 * it because both transports (HTTP, SSH) address the same way; options
 * validation (core/api) and the WS-Man client call down into it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <curl/curl.h>

#include "address.h"
#include "error_internal.h"

bool rms__has_space_or_control(const char *s)
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
char *rms__url_for_message(const char *url)
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
	char *url = rms__url_for_message(o->url);
	if (!url)
		return rms__error_nomem();
	int rc = 0;
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *user = NULL;
	if (!*url) {
		rc = rms__error_field(RMS_E_OPTIONS, "url", "URL is empty");
		goto out;
	}
	if (rms__has_space_or_control(o->url)) {
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
		if (ep->path[0] != '/' || rms__has_space_or_control(ep->path)) {
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
