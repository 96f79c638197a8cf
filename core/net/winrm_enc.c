/*
 * WinRM message-encryption framing (MS-WSMV 2.2.9.1; facts.md §5.3); the
 * contract is in winrm_enc.h.
 *
 * What we write is byte for byte what pywinrm and pypsrp write (checked
 * against recorded bodies in tests/unit/test_winrm_enc.c). What we read is
 * parsed by hand: the body is binary after the last part header, so it is
 * not a MIME document a general parser could take, and the text around the
 * binary is five fixed lines. Every scan is bounded by the body's end (the
 * body is not NUL-terminated), and the sealed bytes are found between the
 * 4-byte header length and the closing boundary, searched for from the end,
 * so nothing in the sealed bytes is ever taken for framing.
 */
#include "winrm_enc.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error_internal.h"

#define SPNEGO_NAME "application/HTTP-SPNEGO-session-encrypted"
#define KERBEROS_NAME "application/HTTP-Kerberos-session-encrypted"
#define DEFAULT_BOUNDARY "Encrypted Boundary"
#define MEDIA_TYPE "multipart/encrypted"
#define OCTET_STREAM "application/octet-stream"

/* MS-WSMV puts no limit on the signature / token header; GSSAPI's are at
 * most a few dozen bytes (16 for NTLM, 60 for an AES Kerberos wrap), and
 * a larger field is garbage, not a token. */
#define MAX_HEADER_LEN 65536u
/* OriginalContent Length: no SOAP message comes near 2 GiB. */
#define MAX_LENGTH 2147483648u
/* RFC 2046 allows 70 bytes; leave room for servers that do not care. */
#define MAX_BOUNDARY 256

#define CT_HEADER(proto)                                                                           \
	"Content-Type: " MEDIA_TYPE ";protocol=\"" proto "\";boundary=\"" DEFAULT_BOUNDARY "\""

const char *rms__enc_protocol_name(rms_enc_protocol p)
{
	return p == RMS_ENC_KERBEROS ? KERBEROS_NAME : SPNEGO_NAME;
}

const char *rms__enc_content_type_header(rms_enc_protocol p)
{
	return p == RMS_ENC_KERBEROS ? CT_HEADER(KERBEROS_NAME) : CT_HEADER(SPNEGO_NAME);
}

int rms__enc_frame(rms_buf *out, rms_enc_protocol p, const uint8_t *header, size_t header_len,
                   const uint8_t *sealed, size_t sealed_len, size_t plain_len)
{
	if (p != RMS_ENC_SPNEGO && p != RMS_ENC_KERBEROS)
		return rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_SEND,
		                      "message encryption: unknown protocol %d", (int)p);
	if ((uint64_t)header_len > UINT32_MAX)
		return rms__error_set(
		    RMS_E_INVALID_ARG, RMS_PHASE_SEND,
		    "message encryption: a %zu-byte GSSAPI header does not fit the "
		    "4-byte length field",
		    header_len);
	const uint32_t hl = (uint32_t)header_len;
	const uint8_t le[4] = {(uint8_t)hl, (uint8_t)(hl >> 8), (uint8_t)(hl >> 16),
	                       (uint8_t)(hl >> 24)};
	size_t start = out->len;
	int rc = rms__buf_printf(out,
	                         "--" DEFAULT_BOUNDARY "\r\n"
	                         "\tContent-Type: %s\r\n"
	                         "\tOriginalContent: type=application/soap+xml;charset=UTF-8;"
	                         "Length=%zu\r\n"
	                         "--" DEFAULT_BOUNDARY "\r\n"
	                         "\tContent-Type: " OCTET_STREAM "\r\n",
	                         rms__enc_protocol_name(p), plain_len);
	if (!rc)
		rc = rms__buf_append(out, le, sizeof le);
	if (!rc)
		rc = rms__buf_append(out, header, header_len);
	if (!rc)
		rc = rms__buf_append(out, sealed, sealed_len);
	if (!rc)
		rc = rms__buf_puts(out, "--" DEFAULT_BOUNDARY "--\r\n");
	if (rc) {
		/* Leave the caller's buffer as it was, not with half a body. */
		if (out->data) {
			out->len = start;
			out->data[start] = '\0';
		}
		return rms__error_nomem();
	}
	return 0;
}

/* ---- text helpers ----------------------------------------------------------------- */

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* s[0..n) equals the NUL-terminated lit, ignoring ASCII case. */
static bool eq_nocase(const char *s, size_t n, const char *lit)
{
	size_t m = strlen(lit);
	if (n != m)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(s[i]) != lower(lit[i]))
			return false;
	return true;
}

static void trim(const char **s, size_t *n)
{
	while (*n && is_ws(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && is_ws((*s)[*n - 1]))
		(*n)--;
}

/* Text from the wire for a message: at most 60 bytes, anything but
 * printable ASCII as \xNN, "..." when clipped. */
#define QUOTE_MAX 60
typedef struct quoted {
	char s[QUOTE_MAX * 4 + 4];
} quoted;

static quoted quote(const char *s, size_t n)
{
	quoted q;
	size_t o = 0;
	for (size_t i = 0; i < n && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			q.s[o++] = (char)c;
		} else {
			snprintf(q.s + o, 5, "\\x%02x", c);
			o += 4;
		}
	}
	if (n > QUOTE_MAX) {
		memcpy(q.s + o, "...", 3);
		o += 3;
	}
	q.s[o] = '\0';
	return q;
}

static int refuse(const char *fmt, ...) RMS_PRINTF(1, 2);
static int refuse(const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE, "encrypted body: %s", msg);
}

/* ---- parameters: name=value;name="quoted value" ------------------------------------ */

typedef struct param {
	const char *name, *val; /* val: without the quotes, escapes still in */
	size_t name_len, val_len;
	bool quoted;
} param;

/*
 * The next parameter of s[0..n) from *pos (RFC 7231 3.1.1.1, leniently:
 * spaces around ';' and '=', quoted or bare values, empty items skipped, a
 * name without '=' taken with an empty value). 1 with *p, 0 at the end, -1
 * for a quoted value that does not end.
 */
static int next_param(const char *s, size_t n, size_t *pos, param *p)
{
	size_t i = *pos;
	while (i < n && (is_ws(s[i]) || s[i] == ';'))
		i++;
	if (i == n) {
		*pos = i;
		return 0;
	}
	memset(p, 0, sizeof *p);
	p->name = s + i;
	while (i < n && s[i] != '=' && s[i] != ';')
		i++;
	p->name_len = (size_t)(s + i - p->name);
	trim(&p->name, &p->name_len);
	if (i < n && s[i] == '=') {
		i++;
		while (i < n && is_ws(s[i]))
			i++;
		if (i < n && s[i] == '"') {
			p->quoted = true;
			p->val = s + ++i;
			while (i < n && s[i] != '"')
				i += s[i] == '\\' && i + 1 < n ? 2 : 1;
			if (i >= n)
				return -1;
			p->val_len = (size_t)(s + i - p->val);
			i++;
		} else {
			p->val = s + i;
		}
		/* Whatever follows a quoted value up to ';' is dropped. */
		size_t from = i;
		while (i < n && s[i] != ';')
			i++;
		if (!p->quoted) {
			p->val_len = i - from;
			trim(&p->val, &p->val_len);
		}
	} else {
		p->val = s + i;
	}
	*pos = i;
	return 1;
}

/* The value with quoted-pair escapes undone into out[cap]; its length, or
 * cap when it does not fit. */
static size_t param_value(const param *p, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < p->val_len; i++) {
		char c = p->val[i];
		if (p->quoted && c == '\\' && i + 1 < p->val_len)
			c = p->val[++i];
		if (o + 1 >= cap)
			return cap;
		out[o++] = c;
	}
	out[o] = '\0';
	return o;
}

/* The protocol a name stands for, or -1. */
static int protocol_of(const char *s, size_t n)
{
	if (eq_nocase(s, n, SPNEGO_NAME))
		return RMS_ENC_SPNEGO;
	if (eq_nocase(s, n, KERBEROS_NAME))
		return RMS_ENC_KERBEROS;
	return -1;
}

/* The media type of a Content-Type value: up to ';', trimmed. */
static void media_type(const char *ct, const char **s, size_t *n)
{
	*s = ct;
	*n = strcspn(ct, ";");
	trim(s, n);
}

bool rms__enc_is_encrypted(const char *content_type)
{
	if (!content_type)
		return false;
	const char *s;
	size_t n;
	media_type(content_type, &s, &n);
	return eq_nocase(s, n, MEDIA_TYPE);
}

typedef struct ct_info {
	rms_enc_protocol protocol;
	char boundary[MAX_BOUNDARY + 1];
	size_t boundary_len;
} ct_info;

static int parse_content_type(const char *ct, ct_info *info)
{
	if (!ct)
		return refuse("the response has no Content-Type");
	const char *mt;
	size_t mt_len, n = strlen(ct);
	media_type(ct, &mt, &mt_len);
	if (!eq_nocase(mt, mt_len, MEDIA_TYPE))
		return refuse("Content-Type '%s' is not " MEDIA_TYPE, quote(ct, n).s);
	size_t pos = (size_t)(mt + mt_len - ct);
	bool have_protocol = false, have_boundary = false;
	param p;
	int r;
	while ((r = next_param(ct, n, &pos, &p)) == 1) {
		if (!have_protocol && eq_nocase(p.name, p.name_len, "protocol")) {
			char v[128];
			size_t len = param_value(&p, v, sizeof v);
			int proto = len < sizeof v ? protocol_of(v, len) : -1;
			if (proto < 0)
				return refuse("unknown protocol '%s' in the Content-Type",
				              quote(p.val, p.val_len).s);
			info->protocol = (rms_enc_protocol)proto;
			have_protocol = true;
		} else if (!have_boundary && eq_nocase(p.name, p.name_len, "boundary")) {
			info->boundary_len = param_value(&p, info->boundary, sizeof info->boundary);
			if (info->boundary_len == sizeof info->boundary)
				return refuse("the Content-Type's boundary is longer than %d bytes",
				              MAX_BOUNDARY);
			if (info->boundary_len == 0)
				return refuse("the Content-Type's boundary is empty");
			have_boundary = true;
		}
	}
	if (r < 0)
		return refuse("a quoted parameter in the Content-Type does not end: '%s'",
		              quote(ct, n).s);
	if (!have_protocol)
		return refuse("the Content-Type has no protocol parameter: '%s'", quote(ct, n).s);
	if (!have_boundary) {
		memcpy(info->boundary, DEFAULT_BOUNDARY, sizeof DEFAULT_BOUNDARY);
		info->boundary_len = sizeof DEFAULT_BOUNDARY - 1;
	}
	return 0;
}

/* ---- the body ---------------------------------------------------------------------- */

typedef struct cursor {
	const char *p, *end;
} cursor;

/* The next line (without its LF or CRLF) into *s, *n; false when no line
 * end is left. */
static bool next_line(cursor *c, const char **s, size_t *n)
{
	const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
	if (!nl)
		return false;
	*s = c->p;
	*n = (size_t)(nl - c->p);
	if (*n && (*s)[*n - 1] == '\r')
		(*n)--;
	c->p = nl + 1;
	return true;
}

/* "--" boundary with optional blanks after the dashes (Exchange writes
 * "-- Encrypted Boundary") and at the end. */
static bool is_boundary_line(const char *s, size_t n, const ct_info *ct)
{
	while (n && (is_ws(s[n - 1]) || s[n - 1] == '\r'))
		n--;
	if (n < 2 || s[0] != '-' || s[1] != '-')
		return false;
	s += 2;
	n -= 2;
	while (n && is_ws(*s)) {
		s++;
		n--;
	}
	return n == ct->boundary_len && memcmp(s, ct->boundary, n) == 0;
}

/* A header line "name: value" (leading blanks allowed) into name/value,
 * both trimmed; false when the line has no ':'. */
static bool split_header(const char *s, size_t n, const char **name, size_t *name_len,
                         const char **val, size_t *val_len)
{
	const char *colon = memchr(s, ':', n);
	if (!colon)
		return false;
	*name = s;
	*name_len = (size_t)(colon - s);
	trim(name, name_len);
	*val = colon + 1;
	*val_len = (size_t)(s + n - *val);
	trim(val, val_len);
	return *name_len > 0;
}

/* Length= of the OriginalContent value. */
static int parse_length(const char *s, size_t n, size_t *length)
{
	size_t pos = 0;
	param p;
	int r;
	while ((r = next_param(s, n, &pos, &p)) == 1) {
		if (!eq_nocase(p.name, p.name_len, "Length"))
			continue;
		if (p.val_len == 0)
			return refuse("OriginalContent Length is empty");
		uint64_t v = 0;
		for (size_t i = 0; i < p.val_len; i++) {
			char c = p.val[i];
			if (c < '0' || c > '9')
				return refuse("OriginalContent Length '%s' is not a number",
				              quote(p.val, p.val_len).s);
			if (v <= MAX_LENGTH)
				v = v * 10 + (uint64_t)(c - '0');
		}
		if (v > MAX_LENGTH)
			return refuse("OriginalContent Length %s is over 2^31",
			              quote(p.val, p.val_len).s);
		*length = (size_t)v;
		return 0;
	}
	if (r < 0)
		return refuse("a quoted parameter in OriginalContent does not end: '%s'",
		              quote(s, n).s);
	return refuse("OriginalContent has no Length: '%s'", quote(s, n).s);
}

/* From the body's start through the line of the second boundary: the first
 * part's headers. */
static int parse_first_part(cursor *c, const ct_info *ct, rms_enc_part *out)
{
	const char *s;
	size_t n;
	/* Blank lines before the first boundary are MIME's (empty) preamble. */
	do {
		if (!next_line(c, &s, &n))
			return refuse("no boundary line '--%s' at the start (found '%s')",
			              quote(ct->boundary, ct->boundary_len).s,
			              quote(c->p, (size_t)(c->end - c->p)).s);
	} while (n == 0);
	if (!is_boundary_line(s, n, ct))
		return refuse("no boundary line '--%s' at the start (found '%s')",
		              quote(ct->boundary, ct->boundary_len).s, quote(s, n).s);

	const char *type = NULL, *orig = NULL;
	size_t type_len = 0, orig_len = 0;
	for (;;) {
		if (!next_line(c, &s, &n))
			return refuse("the body ends before the boundary line of the sealed part");
		if (is_boundary_line(s, n, ct))
			break;
		const char *name, *val;
		size_t name_len, val_len;
		if (n == 0)
			continue;
		if (!split_header(s, n, &name, &name_len, &val, &val_len))
			return refuse("a line in the first part is not a header: '%s'",
			              quote(s, n).s);
		if (!type && eq_nocase(name, name_len, "Content-Type")) {
			type = val;
			type_len = val_len;
		} else if (!orig && eq_nocase(name, name_len, "OriginalContent")) {
			orig = val;
			orig_len = val_len;
		}
	}
	if (!type)
		return refuse("the first part has no Content-Type header");
	int proto = protocol_of(type, type_len);
	if (proto < 0)
		return refuse("unknown protocol '%s' in the first part's Content-Type",
		              quote(type, type_len).s);
	if ((rms_enc_protocol)proto != ct->protocol)
		return refuse("the first part's protocol %s differs from the Content-Type's %s",
		              rms__enc_protocol_name((rms_enc_protocol)proto),
		              rms__enc_protocol_name(ct->protocol));
	if (!orig)
		return refuse("the first part has no OriginalContent header");
	out->protocol = ct->protocol;
	return parse_length(orig, orig_len, &out->length);
}

/*
 * Where the closing delimiter starts: the body ends with "--" boundary "--"
 * and optional line-end bytes or blanks, and an optional CRLF or LF before
 * it belongs to the delimiter (RFC 2046 5.1.1). pywinrm and pypsrp write no
 * line end there, so a sealed payload that itself ends in CRLF is
 * ambiguous; it is kept when that makes the sealed length equal to Length,
 * which it is for NTLM and for Kerberos wraps (sealed = data + padding).
 * Returns the end of the sealed bytes, or NULL when there is no closing
 * delimiter.
 */
static const char *closing_delimiter(const char *from, const char *end, const ct_info *ct,
                                     size_t length)
{
	const char *e = end;
	while (e > from && (is_ws(e[-1]) || e[-1] == '\r' || e[-1] == '\n'))
		e--;
	if (e - from < 4 || e[-1] != '-' || e[-2] != '-')
		return NULL;
	e -= 2;
	if ((size_t)(e - from) < ct->boundary_len ||
	    memcmp(e - ct->boundary_len, ct->boundary, ct->boundary_len) != 0)
		return NULL;
	e -= ct->boundary_len;
	while (e > from && is_ws(e[-1]))
		e--;
	if (e - from < 2 || e[-1] != '-' || e[-2] != '-')
		return NULL;
	e -= 2;
	size_t eol = 0;
	if (e - from >= 2 && e[-2] == '\r' && e[-1] == '\n')
		eol = 2;
	else if (e > from && e[-1] == '\n')
		eol = 1;
	if (eol && (size_t)(e - from) != length)
		e -= eol;
	return e;
}

int rms__enc_parse(const char *content_type, const char *body, size_t len, rms_enc_part *out)
{
	memset(out, 0, sizeof *out);
	ct_info ct;
	int rc = parse_content_type(content_type, &ct);
	if (rc)
		return rc;
	if (!body && len)
		return rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_DECODE,
		                      "encrypted body: body is NULL");
	cursor c = {body ? body : "", (body ? body : "") + len};
	rms_enc_part part = {0};
	rc = parse_first_part(&c, &ct, &part);
	if (rc)
		return rc;

	const char *s;
	size_t n;
	const char *name = NULL, *val = NULL;
	size_t name_len = 0, val_len = 0;
	do {
		if (!next_line(&c, &s, &n))
			return refuse("the sealed part has no Content-Type header (found '%s')",
			              quote(c.p, (size_t)(c.end - c.p)).s);
	} while (n == 0);
	if (!split_header(s, n, &name, &name_len, &val, &val_len) ||
	    !eq_nocase(name, name_len, "Content-Type"))
		return refuse("the sealed part has no Content-Type header (found '%s')",
		              quote(s, n).s);
	if (!eq_nocase(val, val_len, OCTET_STREAM))
		return refuse("the sealed part's Content-Type is '%s', not " OCTET_STREAM,
		              quote(val, val_len).s);

	size_t left = (size_t)(c.end - c.p);
	if (left < 4)
		return refuse("the header length field is cut off (%zu of 4 bytes)", left);
	const uint8_t *u = (const uint8_t *)c.p;
	uint32_t hl =
	    (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
	left -= 4;
	if (hl == 0)
		return refuse("the header length field is 0");
	if (hl > MAX_HEADER_LEN)
		return refuse("the header length %" PRIu32 " is over 64 KiB", hl);
	if (hl > left)
		return refuse("the header length %" PRIu32 " runs past the end of the body "
		              "(%zu bytes left)",
		              hl, left);
	const char *data = c.p + 4 + hl;
	const char *data_end = closing_delimiter(data, c.end, &ct, part.length);
	if (!data_end)
		return refuse("no closing boundary '--%s--' after the %" PRIu32
		              "-byte header at the end of the body",
		              quote(ct.boundary, ct.boundary_len).s, hl);
	part.header = u + 4;
	part.header_len = hl;
	part.sealed = (const uint8_t *)data;
	part.sealed_len = (size_t)(data_end - data);
	*out = part;
	return 0;
}
