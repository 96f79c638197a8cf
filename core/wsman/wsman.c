/*
 * WS-Management client: envelopes out, readers or errors back.
 *
 * Invariant: nothing larger than the effective MaxEnvelopeSize is ever
 * handed to the transport. The check is on the exact bytes that would be
 * sent, after the envelope is complete, so no estimate can be wrong.
 *
 * Every exchange, blocking or not, is an exchange started on the client
 * (the envelope in a buffer the client owns, the HTTP request begun) and
 * stepped until the HTTP response is complete, then interpreted. The
 * blocking calls (rms__wsman_send, rms__wsman_identify) step it and wait
 * with rms__wait_block in between.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


#include "address.h"
#include "defaults.h"
#include "fault.h"
#include "wsman.h"

/* The exchange started and not yet ended. */
struct exchange {
	bool busy;
	rms_http *http;      /* the client's, or anon (an unauthenticated Identify) */
	rms_http *anon;      /* owned; NULL unless such an Identify is in flight */
	rms_buf env;         /* what the HTTP request reads until it ends */
	char message_id[42]; /* "": no RelatesTo check (Identify) */
	char *action;        /* names the request in messages */
};

struct rms_wsman {
	rms_http *http;
	rms_http_config http_cfg; /* borrowed strings, from the session's options */
	char *url;
	uint32_t max_envelope;
	uint32_t timeout_ms;      /* OperationTimeout */
	char *locale;
	char *data_locale;
	char session_id[42];      /* uuid:GUID, one per client */
	/* MessageIDs: 16 random bytes drawn once per client, and how many
	 * MessageIDs were made from them (next_message_id). */
	unsigned char mid_base[16];
	uint64_t mid_count;
	/* The envelope's parts that are the same on every request, escaped
	 * and formatted once (make_templates): from the end of the Envelope's
	 * start tag to the ResourceURI's text, and the Locale, DataLocale and
	 * SessionId headers; and the OperationTimeout header for timeout_ms. */
	rms_xml_pool *xml_pool;   /* the answers' reader, kept between them */
	rms_buf tpl_to;
	rms_buf tpl_locale;
	char tpl_timeout[80];
	const rms_logger *log;
	rms_stats *stats;
	uint32_t deadline_ms;     /* cap on each request's HTTP timeout; 0: none */
	struct exchange x;
};

#define ENVELOPE_XMLNS                                                                             \
	" xmlns:s=\"" RMS_NS_SOAP "\" xmlns:a=\"" RMS_NS_ADDRESSING "\" xmlns:w=\"" RMS_NS_WSMAN_DMTF \
	"\" xmlns:p=\"" RMS_NS_WSMAN_MS "\" xmlns:xsi=\"" RMS_NS_XSI_URI "\" xmlns:cim=\"" RMS_NS_CIM \
	"\" xmlns:b=\"" RMS_NS_CIMBINDING "\" xmlns:n=\"" RMS_NS_ENUMERATION "\""

static void upper(char *s)
{
	for (; *s; s++)
		*s = (char)toupper((unsigned char)*s);
}

/* "uuid:" + an upper-case GUID, as every Windows client writes it. */
static int new_uuid(char out[42])
{
	char g[37];
	int rc = rms__guid(g);
	if (rc)
		return rms__error_set(rc, RMS_PHASE_SEND, "no random numbers for a message id");
	upper(g);
	snprintf(out, 42, "uuid:%s", g);
	return 0;
}

/*
 * The next MessageID: "uuid:" + an upper-case version 4 GUID, as Windows
 * clients write it, made from the client's 16 random bytes with the count
 * of MessageIDs so far added into the last 48 bits. So the IDs of one
 * client are all different (for 2^48 requests) and those of different
 * clients differ in 74 random bits, with one draw of random bytes per client instead
 * of one per request. A MessageID need only be unique (WS-Addressing): it
 * is what the answer's RelatesTo names, nothing more. It is no secret and
 * no defence: whoever could forge an answer on the connection (plain http)
 * can read the request's MessageID on it too, and over TLS or a sealed
 * connection no one can forge an answer at all; the session's SessionId
 * and the connection's login are what bind requests to a client.
 */
static void next_message_id(rms_wsman *w, char out[42])
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char g[16];
	memcpy(g, w->mid_base, sizeof g);
	uint64_t add = w->mid_count++, carry = 0;
	for (int i = 15; i >= 10; i--) {
		uint64_t v = (uint64_t)g[i] + (add & 0xff) + carry;
		g[i] = (unsigned char)v;
		carry = v >> 8;
		add >>= 8;
	}
	memcpy(out, "uuid:", 5);
	char *o = out + 5;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hex[g[i] >> 4];
		*o++ = hex[g[i] & 15];
	}
	*o = '\0';
}

void rms__wsman_duration(char *buf, size_t size, uint32_t ms)
{
	snprintf(buf, size, "PT%u.%03uS", ms / 1000, ms % 1000);
}

static int put_text(rms_buf *b, const char *s)
{
	return rms__buf_put_xml_escaped(b, s);
}

static int make_templates(rms_wsman *w)
{
	rms_buf *b = &w->tpl_to;
	rms__buf_puts(b, "><s:Header><a:To>");
	put_text(b, w->url);
	rms__buf_puts(b, "</a:To><w:ResourceURI s:mustUnderstand=\"true\">");
	b = &w->tpl_locale;
	rms__buf_puts(b, "<w:Locale xml:lang=\"");
	put_text(b, w->locale);
	rms__buf_puts(b, "\" s:mustUnderstand=\"false\"/><p:DataLocale xml:lang=\"");
	put_text(b, w->data_locale);
	rms__buf_puts(b, "\" s:mustUnderstand=\"false\"/><p:SessionId s:mustUnderstand=\"false\">");
	rms__buf_puts(b, w->session_id);
	rms__buf_puts(b, "</p:SessionId>");
	char timeout[32];
	rms__wsman_duration(timeout, sizeof timeout, w->timeout_ms);
	snprintf(w->tpl_timeout, sizeof w->tpl_timeout,
	         "<w:OperationTimeout>%s</w:OperationTimeout>", timeout);
	return w->tpl_to.failed || w->tpl_locale.failed ? rms__error_nomem() : 0;
}

static rms_auth effective_auth(const rms_session_options *o)
{
	if (o->auth != RMS_AUTH_DEFAULT)
		return o->auth;
	return o->user ? RMS_AUTH_BASIC : RMS_AUTH_NONE;
}

int rms__wsman_new(rms_wsman **out, const rms_session_options *o, rms_stats *stats,
                   const rms_logger *log, atomic_bool *cancel, struct rms_gss_cred *cred)
{
	*out = NULL;
	rms_wsman *w = calloc(1, sizeof *w);
	if (!w)
		return rms__error_nomem();
	rms_endpoint ep;
	int rc = rms__endpoint_resolve(&ep, o);
	if (rc) {
		free(w);
		return rc;
	}
	w->url = rms__endpoint_url(&ep, NULL);
	rms__endpoint_free(&ep);
	w->locale = strdup(o->locale ? o->locale : "en-US");
	w->data_locale = strdup(o->data_locale ? o->data_locale : (o->locale ? o->locale : "en-US"));
	if (!w->url || !w->locale || !w->data_locale) {
		rms__wsman_free(w);
		return rms__error_nomem();
	}
	w->max_envelope = o->max_envelope_size ? o->max_envelope_size
	                                       : RMS_DEFAULT_MAX_ENVELOPE;
	w->timeout_ms = o->operation_timeout_ms ? o->operation_timeout_ms
	                                        : RMS_DEFAULT_OPERATION_TIMEOUT_MS;
	w->log = log;
	w->stats = stats;
	/* Without it (out of memory) each answer simply gets a new reader. */
	w->xml_pool = rms__xml_pool_new();
	w->http_cfg = (rms_http_config){
		.url = w->url,
		.user = o->user,
		.password = o->password,
		.auth = effective_auth(o),
		.client_cert = o->client_cert,
		.client_key = o->client_key,
		.ca_file = o->ca_file,
		.ca_path = o->ca_path,
		.tls_insecure = o->tls_insecure,
		.proxy = o->proxy,
		.connect_timeout_ms = o->connect_timeout_ms,
		/* The server answers within OperationTimeout (a w:TimedOut fault
		 * at worst); allow for the network on top, as WinRM's own client
		 * does with NetworkDelayms. */
		.timeout_ms = w->timeout_ms + RMS_HTTP_TIMEOUT_GRACE_MS,
		/* One envelope is bounded by MaxEnvelopeSize; allow the headroom
		 * a server may take, and refuse anything wildly larger. */
		.max_response = (size_t)w->max_envelope * 4 + 65536,
		.log = log,
		.stats = stats,
		.cancel = cancel,
		.encrypt = o->auth_v3.encryption == RMS_ENCRYPTION_ALWAYS ||
		           (o->auth_v3.encryption == RMS_ENCRYPTION_AUTO &&
		            strncmp(w->url, "https://", 8) != 0),
		.no_channel_binding = o->auth_v3.no_channel_binding,
		.spn_service = o->auth_v3.spn_service,
		.spn_host = o->auth_v3.spn_host,
		.keytab = o->auth_v3.keytab,
		.delegate = o->auth_v3.delegate,
		.cred = cred,
	};
	if (rms__random(w->mid_base, sizeof w->mid_base)) {
		rms__wsman_free(w);
		return rms__error_set(RMS_E_INTERNAL, RMS_PHASE_SEND,
		                      "no random numbers for message ids");
	}
	/* Version 4, RFC 4122 variant: the counter never reaches these. */
	w->mid_base[6] = (unsigned char)((w->mid_base[6] & 0x0F) | 0x40);
	w->mid_base[8] = (unsigned char)((w->mid_base[8] & 0x3F) | 0x80);
	if ((rc = new_uuid(w->session_id)) || (rc = make_templates(w)) ||
	    (rc = rms__http_new(&w->http, &w->http_cfg))) {
		rms__wsman_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

void rms__wsman_free(rms_wsman *w)
{
	if (!w)
		return;
	rms__wsman_abort(w);
	rms__http_free(w->http);
	free(w->url);
	free(w->locale);
	free(w->data_locale);
	rms__xml_pool_release(w->xml_pool);
	rms__buf_free(&w->tpl_to);
	rms__buf_free(&w->tpl_locale);
	rms__buf_free(&w->x.env);
	free(w);
}

void rms__wsman_close(rms_wsman *w)
{
	if (!w)
		return;
	rms__wsman_abort(w);
	rms__http_close(w->http);
}

uint32_t rms__wsman_max_envelope(const rms_wsman *w)
{
	return w->max_envelope;
}

void rms__wsman_set_max_envelope(rms_wsman *w, uint32_t bytes)
{
	w->max_envelope = bytes;
	w->http_cfg.max_response = (size_t)bytes * 4 + 65536;
	rms__http_set_max_response(w->http, w->http_cfg.max_response);
}

const char *rms__wsman_url(const rms_wsman *w)
{
	return w->url;
}

/* <w:OptionSet>: Windows' MI client types its options (Type="xs:…"); WinRS
 * options are plain and marked MustComply where the shell requires. */
static int put_options(rms_buf *b, const rms_wsman_request *req)
{
	if (!req->noptions)
		return 0;
	rms__buf_puts(b, req->options_must_understand ? "<w:OptionSet s:mustUnderstand=\"true\">"
	                                              : "<w:OptionSet>");
	for (size_t i = 0; i < req->noptions; i++) {
		const rms_wsman_option *o = &req->options[i];
		if (!o->name || !*o->name)
			return rms__error_field(RMS_E_INVALID_ARG, "options", "option %zu has no name",
			                        i);
		rms__buf_puts(b, "<w:Option Name=\"");
		put_text(b, o->name);
		rms__buf_puts(b, "\"");
		if (o->must_comply)
			rms__buf_puts(b, " MustComply=\"true\"");
		if (o->type) {
			rms__buf_puts(b, " Type=\"");
			put_text(b, o->type);
			rms__buf_puts(b, "\"");
		}
		rms__buf_puts(b, ">");
		put_text(b, o->value ? o->value : "");
		rms__buf_puts(b, "</w:Option>");
	}
	rms__buf_puts(b, "</w:OptionSet>");
	return b->failed ? rms__error_nomem() : 0;
}

int rms__wsman_build(rms_buf *b, rms_wsman *w, const rms_wsman_request *req,
                     char message_id[42])
{
	if (!req->action || !req->resource_uri)
		return rms__error_set(RMS_E_INTERNAL, RMS_PHASE_SEND,
		                      "a WS-Man request needs an action and a resource URI");
	next_message_id(w, message_id);
	/* One allocation at most: room for the fixed parts, the variable
	 * ones and the body (escaping may still grow it). */
	size_t body_len = req->body ? strlen(req->body) : 0;
	if (rms__buf_reserve(b, 1024 + w->tpl_to.len + w->tpl_locale.len + body_len +
	                            strlen(req->resource_uri) + strlen(req->action) +
	                            (req->extra_xmlns ? strlen(req->extra_xmlns) : 0)))
		return rms__error_nomem();

	rms__buf_puts(b, "<s:Envelope" ENVELOPE_XMLNS);
	if (req->extra_xmlns)
		rms__buf_puts(b, req->extra_xmlns);
	rms__buf_append(b, w->tpl_to.data, w->tpl_to.len);
	put_text(b, req->resource_uri);
	rms__buf_puts(b, "</w:ResourceURI><a:ReplyTo><a:Address s:mustUnderstand=\"true\">"
	                 RMS_WSA_ANONYMOUS "</a:Address></a:ReplyTo>"
	                 "<a:Action s:mustUnderstand=\"true\">");
	put_text(b, req->action);
	rms__buf_puts(b, "</a:Action><w:MaxEnvelopeSize s:mustUnderstand=\"true\">");
	rms__buf_put_uint(b, w->max_envelope);
	rms__buf_puts(b, "</w:MaxEnvelopeSize><a:MessageID>");
	rms__buf_append(b, message_id, 41);
	rms__buf_puts(b, "</a:MessageID>");
	rms__buf_append(b, w->tpl_locale.data, w->tpl_locale.len);
	if (req->operation_id) {
		rms__buf_puts(b, "<p:OperationID s:mustUnderstand=\"false\">");
		put_text(b, req->operation_id);
		rms__buf_puts(b, "</p:OperationID><p:SequenceId s:mustUnderstand=\"false\">");
		rms__buf_put_uint(b, req->sequence_id ? req->sequence_id : 1);
		rms__buf_puts(b, "</p:SequenceId>");
	}
	if (!req->omit_timeout && req->timeout_ms) {
		char timeout[32];
		rms__wsman_duration(timeout, sizeof timeout, req->timeout_ms);
		rms__buf_puts(b, "<w:OperationTimeout>");
		rms__buf_puts(b, timeout);
		rms__buf_puts(b, "</w:OperationTimeout>");
	} else if (!req->omit_timeout) {
		rms__buf_puts(b, w->tpl_timeout);
	}
	int rc;
	if (req->selectors || req->cim_namespace) {
		rms_ref *none = NULL;
		const rms_ref *sel = req->selectors;
		if (!sel) {
			if ((rc = rms_ref_new(&none, NULL, NULL)))
				return rc;
			sel = none;
		}
		rc = rms__wscim_write_selectors(b, sel, RMS_URI_DMTF, req->cim_namespace);
		rms_ref_free(none);
		if (rc)
			return rc;
	}
	if ((rc = put_options(b, req)))
		return rc;
	rms__buf_puts(b, "</s:Header>");
	if (body_len) {
		rms__buf_puts(b, "<s:Body>");
		rms__buf_append(b, req->body, body_len);
		rms__buf_puts(b, "</s:Body>");
	} else {
		rms__buf_puts(b, "<s:Body/>");
	}
	rms__buf_puts(b, "</s:Envelope>");
	return b->failed ? rms__error_nomem() : 0;
}

static bool soap_content_type(const char *ct)
{
	/* "application/soap+xml;charset=UTF-8" and variants; Windows also
	 * answers faults with it. */
	return ct && strncasecmp(ct, "application/soap+xml", 20) == 0;
}

static const char *status_text(long status)
{
	switch (status) {
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Request Entity Too Large";
	case 415: return "Unsupported Media Type";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "";
	}
}

/* The body's first element is a SOAP Fault: decode it as the error. */
static int raise_fault_if_any(rms_soap_reader *r, long status, bool *was_fault)
{
	const char *ns, *local;
	*was_fault = false;
	int rc = rms__soap_reader_peek(r, &ns, &local);
	if (rc == RMS_ITEROVER)
		return 0;
	if (rc)
		return rc;
	if (!(ns && strcmp(ns, RMS_NS_SOAP) == 0 && strcmp(local, "Fault") == 0))
		return 0;
	xmlNode *fault;
	if ((rc = rms__soap_reader_next(r, &fault)))
		return rc;
	*was_fault = true;
	return rms__fault_raise(fault, (int)status);
}

static int interpret(rms_wsman *w, const char *what, const char *message_id,
                     rms_wsman_reply *reply)
{
	rms_http_response *h = &reply->http;
	bool has_body = h->body.len > 0;
	if (h->status == 401) {
		rms__error_set(RMS_E_AUTH, RMS_PHASE_AUTHENTICATE,
		               "%s refused the credentials%s%s%s (HTTP 401)", w->url,
		               w->http_cfg.user ? " of user '" : "",
		               w->http_cfg.user ? w->http_cfg.user : "",
		               w->http_cfg.user ? "'" : " (none were sent)");
		rms__error_set_http_status(401);
		return RMS_E_AUTH;
	}
	if (h->status >= 300 && h->status < 400 && h->status != 304) {
		/* Not followed: the credentials and the session belong to the
		 * URL the caller gave. */
		rms__error_set(RMS_E_HTTP, RMS_PHASE_RECEIVE,
		               "%s redirects %s to %s (HTTP %ld %s): remsess follows no redirect "
		               "and sends credentials nowhere else; if that is the service, give "
		               "its URL",
		               w->url, what, h->location ? h->location : "(no Location given)",
		               h->status, status_text(h->status));
		rms__error_set_http_status((int)h->status);
		return RMS_E_HTTP;
	}
	if (h->status == 413 && reply->request_size <= RMS_MIN_MAX_ENVELOPE) {
		/* No MaxEnvelopeSize is that small: the limit is not WinRM's. */
		rms__error_set(RMS_E_ENVELOPE_TOO_LARGE, RMS_PHASE_SEND,
		               "%s refused a small %zu-byte request as too large (HTTP 413): no "
		               "WinRM MaxEnvelopeSize is that small, so something in front of the "
		               "service (a proxy, the HTTP stack) limits request bodies; "
		               "max_envelope_size cannot help",
		               w->url, reply->request_size);
		rms__error_set_http_status(413);
		rms__error_set_limit("request body", 0, reply->request_size);
		return RMS_E_ENVELOPE_TOO_LARGE;
	}
	if (h->status == 413) {
		rms__error_set(RMS_E_ENVELOPE_TOO_LARGE, RMS_PHASE_SEND,
		               "%s rejected a %zu-byte request as larger than its MaxEnvelopeSize "
		               "(HTTP 413); the client's limit was %u bytes, so the server's "
		               "MaxEnvelopeSizekb is smaller: set max_envelope_size to match",
		               w->url, reply->request_size, w->max_envelope);
		rms__error_set_http_status(413);
		rms__error_set_limit("MaxEnvelopeSize", w->max_envelope, reply->request_size);
		return RMS_E_ENVELOPE_TOO_LARGE;
	}
	bool soap = soap_content_type(h->content_type);
	if (h->status != 200 && (!has_body || !soap)) {
		if (!has_body)
			rms__error_set(RMS_E_HTTP, RMS_PHASE_RECEIVE,
			               "%s answered HTTP %ld %s with an empty body to %s", w->url,
			               h->status, status_text(h->status), what);
		else
			rms__error_set(RMS_E_HTTP, RMS_PHASE_RECEIVE,
			               "%s answered HTTP %ld %s with a %s body to %s", w->url,
			               h->status, status_text(h->status),
			               h->content_type ? h->content_type : "untyped", what);
		rms__error_set_http_status((int)h->status);
		return RMS_E_HTTP;
	}
	if (h->status == 200 && !soap) {
		rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		               "%s answered %s with Content-Type '%s', not application/soap+xml",
		               w->url, what, h->content_type ? h->content_type : "(none)");
		rms__error_set_http_status(200);
		return RMS_E_PROTOCOL;
	}
	if (!has_body) {
		rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		               "%s answered %s with HTTP 200 and an empty body", w->url, what);
		rms__error_set_http_status(200);
		return RMS_E_PROTOCOL;
	}
	rms_xml_limits lim = { .max_bytes = w->http_cfg.max_response };
	char label[160];
	snprintf(label, sizeof label, "the response to %s", what);
	int rc = rms__soap_reader_open_pooled(&reply->reader, w->xml_pool, h->body.data,
	                                      h->body.len, &lim, label);
	if (rc) {
		rms__error_set_http_status((int)h->status);
		return rc;
	}
	bool was_fault;
	if ((rc = raise_fault_if_any(reply->reader, h->status, &was_fault)))
		return rc;
	if (h->status != 200) {
		/* A SOAP body that is not a fault, on an error status. */
		rms__error_set(RMS_E_HTTP, RMS_PHASE_RECEIVE,
		               "%s answered HTTP %ld %s to %s without a SOAP fault", w->url,
		               h->status, status_text(h->status), what);
		rms__error_set_http_status((int)h->status);
		return RMS_E_HTTP;
	}
	const rms_soap_headers *hd = rms__soap_reader_headers(reply->reader);
	if (*message_id && hd->relates_to && strcasecmp(hd->relates_to, message_id) != 0) {
		rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		               "%s answered with RelatesTo %s, but the request was %s", w->url,
		               hd->relates_to, message_id);
		return RMS_E_PROTOCOL;
	}
	return 0;
}

void rms__wsman_reply_free(rms_wsman_reply *reply)
{
	if (!reply)
		return;
	rms__soap_reader_free(reply->reader);
	rms__http_response_free(&reply->http);
	memset(reply, 0, sizeof *reply);
}

void rms__wsman_set_cancel(rms_wsman *w, atomic_bool *cancel)
{
	rms__http_set_cancel(w->http, cancel);
}

void rms__wsman_set_cancel_poll(rms_wsman *w, bool on)
{
	if (w)
		rms__http_set_cancel_poll(w->http, on);
}

void rms__wsman_set_deadline(rms_wsman *w, uint32_t ms)
{
	w->deadline_ms = ms;
}

/* The HTTP timeout of one request: the server answers within its
 * OperationTimeout (a w:TimedOut fault at worst), so the client waits that
 * long plus WinRM's NetworkDelayms; a header-less request (the server's
 * default, up to MaxTimeoutms) likewise. A caller's deadline caps it. */
static uint32_t http_timeout(const rms_wsman *w, const rms_wsman_request *req)
{
	uint32_t op = req->omit_timeout ? RMS_DEFAULT_OPERATION_TIMEOUT_MS
	              : req->timeout_ms ? req->timeout_ms
	                                : w->timeout_ms;
	uint32_t t = op > UINT32_MAX - RMS_HTTP_TIMEOUT_GRACE_MS ? UINT32_MAX
	                                                         : op + RMS_HTTP_TIMEOUT_GRACE_MS;
	if (w->deadline_ms && w->deadline_ms < t)
		t = w->deadline_ms;
	return t;
}

/* Forget the exchange; its HTTP request has ended or been dropped. The
 * envelope's buffer is kept, emptied, for the next one. */
static void end_exchange(rms_wsman *w)
{
	rms__http_free(w->x.anon);
	free(w->x.action);
	rms_buf env = w->x.env;
	memset(&w->x, 0, sizeof w->x);
	w->x.env = env;
	rms__buf_clear(&w->x.env);
}

/* Start posting w->x.env on http. w->x.anon may already hold the handle
 * http is. */
static int begin(rms_wsman *w, rms_http *http, const char *message_id, const char *action,
                 const char *extra, uint32_t timeout_ms)
{
	struct exchange *x = &w->x;
	x->http = http;
	memcpy(x->message_id, message_id, strlen(message_id) + 1);
	if (!(x->action = rms__strdup(action))) {
		end_exchange(w);
		return rms__error_nomem();
	}
	rms__log(w->log, RMS_LOG_DEBUG, "-> %s %s (%zu bytes)", w->url, action, x->env.len);
	rms__log(w->log, RMS_LOG_TRACE, "-> %s", x->env.data);
	rms__http_set_timeout(http, timeout_ms);
	int rc = rms__http_start(http, x->env.data, x->env.len, extra);
	if (rc) {
		end_exchange(w);
		return rc;
	}
	x->busy = true;
	return 0;
}

static int refuse_busy(void)
{
	return rms__error_set(RMS_E_STATE, RMS_PHASE_SEND,
	                      "a WS-Man exchange is already in flight on this connection");
}

int rms__wsman_start(rms_wsman *w, const rms_wsman_request *req)
{
	if (w->x.busy)
		return refuse_busy();
	rms_buf *env = &w->x.env;
	rms__buf_clear(env);
	char message_id[42];
	int rc = rms__wsman_build(env, w, req, message_id);
	if (!rc && env->len > w->max_envelope) {
		rc = rms__error_set(RMS_E_ENVELOPE_TOO_LARGE, RMS_PHASE_SEND,
		                    "the %s request would be %zu bytes, over the MaxEnvelopeSize of "
		                    "%u bytes; it was not sent",
		                    req->action, env->len, w->max_envelope);
		rms__error_set_limit("MaxEnvelopeSize", w->max_envelope, env->len);
	}
	if (rc) {
		end_exchange(w);
		return rc;
	}
	return begin(w, w->http, message_id, req->action, NULL, http_timeout(w, req));
}

/* The HTTP response is complete: what it means (see rms__wsman_send). */
static int conclude(rms_wsman *w, rms_wsman_reply *reply)
{
	reply->request_size = w->x.env.len;
	rms__log(w->log, RMS_LOG_DEBUG, "<- HTTP %ld (%zu bytes)", reply->http.status,
	         reply->http.body.len);
	if (reply->http.body.len)
		rms__log(w->log, RMS_LOG_TRACE, "<- %s", reply->http.body.data);
	int rc = interpret(w, w->x.action, w->x.message_id, reply);
	if (rc) {
		struct rms_error *e = rms__error_last_mut();
		if (e && !e->http_status)
			e->http_status = (int)reply->http.status;
		rms__wsman_reply_free(reply);
	}
	return rc;
}

int rms__wsman_step(rms_wsman *w, rms_wait *wait, rms_wsman_reply *reply)
{
	memset(reply, 0, sizeof *reply);
	rms__wait_clear(wait);
	if (!w->x.busy)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_RECEIVE, "no WS-Man exchange in flight");
	int rc = rms__http_step(w->x.http, wait, &reply->http);
	if (rc == RMS_EAGAIN)
		return rc;
	if (!rc)
		rc = conclude(w, reply);
	end_exchange(w);
	return rc;
}

bool rms__wsman_busy(const rms_wsman *w)
{
	return w->x.busy;
}

void rms__wsman_abort(rms_wsman *w)
{
	if (!w->x.busy)
		return;
	rms__http_abort(w->x.http);
	end_exchange(w);
}

/* Step the exchange in flight to its end, waiting in between. */
static int run_to_end(rms_wsman *w, rms_wsman_reply *reply)
{
	for (;;) {
		rms_wait wait;
		int rc = rms__wsman_step(w, &wait, reply);
		if (rc != RMS_EAGAIN)
			return rc;
		if ((rc = rms__wait_block(&wait))) {
			rms__wsman_abort(w);
			return rc;
		}
	}
}

int rms__wsman_send(rms_wsman *w, const rms_wsman_request *req, rms_wsman_reply *reply)
{
	memset(reply, 0, sizeof *reply);
	int rc = rms__wsman_start(w, req);
	return rc ? rc : run_to_end(w, reply);
}

/* ---- Identify ---------------------------------------------------------- */

static int add_string(rms_instance *inst, const char *name, const char *text)
{
	rms_value *v;
	int rc = rms_value_new_string(&v, text);
	if (rc)
		return rc;
	if ((rc = rms_instance_set(inst, name, v, 0)))
		rms_value_free(v);
	return rc;
}

static int decode_identify(const xmlNode *resp, rms_instance **out)
{
	rms_instance *inst;
	int rc = rms_instance_new(&inst, NULL, "IdentifyResponse");
	if (rc)
		return rc;
	for (xmlNode *c = rms__xml_first(resp); c && !rc; c = rms__xml_next(c)) {
		const char *name = (const char *)c->name;
		if (rms__xml_is(c, RMS_NS_IDENTITY, "SecurityProfiles")) {
			rms_value *arr;
			if ((rc = rms_value_new_array(&arr, RMS_TYPE_STRING)))
				break;
			for (xmlNode *p = rms__xml_first(c); p && !rc; p = rms__xml_next(p)) {
				char *t = rms__xml_text(p);
				rms_value *v = NULL;
				rc = t ? rms_value_new_string(&v, t) : rms__error_nomem();
				free(t);
				if (!rc && (rc = rms_value_array_append(arr, v)))
					rms_value_free(v);
			}
			if (!rc && (rc = rms_instance_set(inst, "SecurityProfiles", arr, 0)))
				rms_value_free(arr);
			else if (rc)
				rms_value_free(arr);
			continue;
		}
		char *t = rms__xml_text(c);
		rc = t ? add_string(inst, name, t) : rms__error_nomem();
		free(t);
	}
	if (!rc && !rms_instance_get(inst, "ProtocolVersion"))
		rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                    "the Identify response has no ProtocolVersion");
	if (rc) {
		rms_instance_free(inst);
		return rc;
	}
	*out = inst;
	return 0;
}

static const char identify_envelope[] =
	"<s:Envelope xmlns:s=\"" RMS_NS_SOAP "\" xmlns:wsmid=\"" RMS_NS_IDENTITY "\">"
	"<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>";

int rms__wsman_identify_start(rms_wsman *w, bool unauthenticated)
{
	if (w->x.busy)
		return refuse_busy();
	rms_http *http = w->http;
	int rc;
	rms_auth a = w->http_cfg.auth;
	bool gss = a == RMS_AUTH_NTLM || a == RMS_AUTH_NEGOTIATE || a == RMS_AUTH_KERBEROS;
	if (unauthenticated && (w->http_cfg.user || gss)) {
		/* No credentials at all on this request: a handle of its own,
		 * which lives as long as the exchange. */
		rms_http_config cfg = w->http_cfg;
		cfg.user = cfg.password = NULL;
		cfg.auth = RMS_AUTH_NONE;
		if ((rc = rms__http_new(&w->x.anon, &cfg)))
			return rc;
		http = w->x.anon;
	}
	rms__buf_clear(&w->x.env);
	if (rms__buf_puts(&w->x.env, identify_envelope)) {
		end_exchange(w);
		return rms__error_nomem();
	}
	const rms_wsman_request req = {.action = "Identify", .resource_uri = ""};
	/* An Identify has no MessageID, so nothing to relate the answer to. */
	return begin(w, http, "", req.action,
	             unauthenticated ? "WSMANIDENTIFY: unauthenticated" : NULL,
	             http_timeout(w, &req));
}

int rms__wsman_identify_decode(rms_wsman *w, rms_wsman_reply *reply, rms_instance **out)
{
	*out = NULL;
	xmlNode *body;
	int rc = rms__soap_reader_next(reply->reader, &body);
	/* OMI puts IdentifyResponse in the SOAP envelope's namespace (its
	 * children are wsmid:, as Windows'). */
	if (rc == RMS_ITEROVER || (!rc && !rms__xml_is(body, RMS_NS_IDENTITY, "IdentifyResponse") &&
	                           !rms__xml_is(body, RMS_NS_SOAP, "IdentifyResponse")))
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "%s answered Identify without an IdentifyResponse", w->url);
	return rc ? rc : decode_identify(body, out);
}

int rms__wsman_identify(rms_wsman *w, bool unauthenticated, rms_instance **out)
{
	*out = NULL;
	rms_wsman_reply reply;
	memset(&reply, 0, sizeof reply);
	int rc = rms__wsman_identify_start(w, unauthenticated);
	if (!rc)
		rc = run_to_end(w, &reply);
	if (!rc)
		rc = rms__wsman_identify_decode(w, &reply, out);
	rms__wsman_reply_free(&reply);
	return rc;
}
