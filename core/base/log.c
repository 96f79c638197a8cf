#include "log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "remsess/error.h"

#define REDACTED "[redacted]"

/* Headers whose value (after the scheme word) is a credential. */
static const char *const secret_headers[] = {
	"authorization:", "proxy-authorization:", "www-authenticate:",
	"proxy-authenticate:", "cookie:", "set-cookie:",
};

/* Assignments "name=value" / "name: value" whose value is a credential. */
static const char *const secret_keys[] = { "password", "passwd", "pwd", "token", "secret" };

static bool prefix_nocase(const char *s, const char *prefix)
{
	for (; *prefix; s++, prefix++) {
		char c = *s;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != *prefix)
			return false;
	}
	return true;
}

static bool is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static size_t line_rest(const char *p)
{
	return strcspn(p, "\r\n");
}

/* Length of a header match at p (p at the start of a line or after space),
 * or 0. */
static size_t match_header(const char *p)
{
	for (size_t i = 0; i < sizeof secret_headers / sizeof secret_headers[0]; i++)
		if (prefix_nocase(p, secret_headers[i]))
			return strlen(secret_headers[i]);
	return 0;
}

/* At p a secret key followed by '=' or ':' (optionally quoted, as in JSON):
 * returns the length up to where the value starts, or 0. */
static size_t match_key(const char *p)
{
	for (size_t i = 0; i < sizeof secret_keys / sizeof secret_keys[0]; i++) {
		size_t n = strlen(secret_keys[i]);
		if (!prefix_nocase(p, secret_keys[i]) || is_word(p[n]) == true)
			continue;
		const char *q = p + n;
		if (*q == '"')
			q++;
		while (*q == ' ')
			q++;
		if (*q != '=' && *q != ':')
			continue;
		q++;
		while (*q == ' ')
			q++;
		return (size_t)(q - p);
	}
	return 0;
}

/* An XML start tag whose local name ends in "password" (any case), e.g.
 * <w:Password> or <Password>: returns the tag's length, or 0. */
static size_t match_password_tag(const char *p)
{
	if (*p != '<' || p[1] == '/')
		return 0;
	const char *end = strchr(p, '>');
	if (!end)
		return 0;
	const char *name_end = p + 1;
	while (name_end < end && *name_end != ' ' && *name_end != '/')
		name_end++;
	if (name_end - (p + 1) < 8 || !prefix_nocase(name_end - 8, "password"))
		return 0;
	if (end[-1] == '/') /* <Password/> has no content */
		return 0;
	return (size_t)(end - p + 1);
}

char *rms__log_redact(const char *line, const char *secret)
{
	rms_buf b, esc;
	rms__buf_init(&b);
	rms__buf_init(&esc);
	size_t secret_len = secret ? strlen(secret) : 0;
	/* The secret as it appears inside an XML body, if that differs. */
	if (secret_len && (rms__buf_put_xml_escaped(&esc, secret) || !esc.data)) {
		rms__buf_free(&esc);
		return NULL;
	}
	size_t esc_len = esc.len != secret_len ? esc.len : 0;
	const char *p = line;
	bool at_word_start = true;
	while (*p) {
		size_t n;
		if (secret_len && strncmp(p, secret, secret_len) == 0) {
			rms__buf_puts(&b, REDACTED);
			p += secret_len;
			continue;
		}
		if (esc_len && strncmp(p, esc.data, esc_len) == 0) {
			rms__buf_puts(&b, REDACTED);
			p += esc_len;
			continue;
		}
		if (at_word_start && (n = match_header(p))) {
			/* Keep the header name and the scheme word ("Basic",
			 * "Negotiate"): useful for debugging, not secret. */
			const char *v = p + n;
			while (*v == ' ')
				v++;
			const char *scheme_end = v;
			while (is_word(*scheme_end))
				scheme_end++;
			rms__buf_append(&b, p, (size_t)(scheme_end - p));
			p = scheme_end;
			if (line_rest(p)) {
				rms__buf_puts(&b, " " REDACTED);
				p += line_rest(p);
			}
			continue;
		}
		/* Keys match anywhere a word ends in them: NewPassword=, db_password: */
		if ((n = match_key(p))) {
			rms__buf_append(&b, p, n);
			p += n;
			bool quoted = *p == '"' || *p == '\'';
			char quote = *p;
			if (quoted) {
				rms__buf_append(&b, p, 1);
				p++;
				const char *close = strchr(p, quote);
				p = close ? close : p + strlen(p);
			} else {
				p += strcspn(p, " \t\r\n&;,<");
			}
			rms__buf_puts(&b, REDACTED);
			continue;
		}
		if ((n = match_password_tag(p))) {
			rms__buf_append(&b, p, n);
			p += n;
			const char *close = strchr(p, '<');
			p = close ? close : p + strlen(p);
			rms__buf_puts(&b, REDACTED);
			continue;
		}
		if (prefix_nocase(p, "-----begin ") && strstr(p, "PRIVATE KEY-----")) {
			const char *end = strstr(p, "-----END ");
			const char *stop = end ? strstr(end + 9, "-----") : NULL;
			rms__buf_puts(&b, "-----BEGIN PRIVATE KEY----- " REDACTED);
			p = stop ? stop + 5 : p + strlen(p);
			continue;
		}
		at_word_start = !is_word(*p);
		rms__buf_append(&b, p, 1);
		p++;
	}
	rms__buf_free(&esc);
	return rms__buf_take(&b);
}

void rms__log(const rms_logger *lg, rms_log_level level, const char *fmt, ...)
{
	if (!lg || !lg->fn || level > lg->level)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *raw = rms__vasprintf(fmt, ap);
	va_end(ap);
	if (!raw)
		return;
	char *clean = rms__log_redact(raw, lg->secret);
	/* On out of memory nothing is logged rather than the unredacted text. */
	if (clean)
		lg->fn(level, clean, lg->userdata);
	free(clean);
	/* The raw text may hold a secret: wipe before freeing. */
	memset(raw, 0, strlen(raw));
	free(raw);
}
