/* Internal: the endpoint an options struct names, resolved offline. */
#ifndef RMS_CORE_NET_ADDRESS_H
#define RMS_CORE_NET_ADDRESS_H

#include <stdbool.h>

#include "remsess/options.h"

typedef struct rms_endpoint {
	char *scheme; /* "http", "https" or "ssh" */
	char *host;   /* as in a URL: IPv6 in brackets */
	unsigned port;
	char *path;   /* "/wsman" by default; NULL for ssh */
	bool https;
} rms_endpoint;

/* Fill ep from url or host/scheme/port/path (defaults applied). Raises
 * RMS_E_OPTIONS naming the field on bad input. */
int rms__endpoint_resolve(rms_endpoint *ep, const rms_session_options *opts);
void rms__endpoint_free(rms_endpoint *ep);
/* "http://host:5985/wsman" or "ssh://user@host:22". Caller frees. */
char *rms__endpoint_url(const rms_endpoint *ep, const char *user);

/* True for an IPv6 address literal without brackets (a zone id allowed). */
bool rms__is_ipv6_literal(const char *host);
/* True when s holds a space, a control character or DEL. */
bool rms__has_space_or_control(const char *s);
/* The URL as error messages may show it: any user:password part is
 * replaced, since messages end up in logs. Caller frees. */
char *rms__url_for_message(const char *url);

#endif
