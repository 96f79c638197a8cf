/*
 * OutOfProc packets, one XML element per line (facts.md §3.7). The lines are
 * parsed by hand, strictly: the grammar is eight fixed elements, and a real
 * XML parser would accept much that PowerShell never sends. What we write
 * is byte for byte what PowerShell 7.6.10 writes (single quotes, one space
 * before "/>").
 */
#include "psrp_oop.h"

#include <stdio.h>
#include <string.h>

#include "error_internal.h"

static const char *const kind_names[] = {"Data",   "DataAck",   "Command", "CommandAck",
                                         "Signal", "SignalAck", "Close",   "CloseAck"};
#define NKINDS (sizeof kind_names / sizeof kind_names[0])

const char *rms__oop_kind_name(rms_oop_kind kind)
{
	return (unsigned)kind < NKINDS ? kind_names[kind] : "?";
}

void rms__oop_packet_clear(rms_oop_packet *p)
{
	free(p->data);
	memset(p, 0, sizeof *p);
}

/* ---- base64 ------------------------------------------------------------------ */

/* Strict RFC 4648: no white space, length a multiple of 4, padding only at
 * the end, unused bits zero (as .NET's Convert.ToBase64String writes it).
 * 0, 1 for malformed text, or RMS_E_NOMEM (raised). */
static int b64_decode(unsigned char **out, size_t *out_len, const char *s, size_t n)
{
	*out = NULL;
	*out_len = 0;
	if (n == 0)
		return 0;
	if (n % 4)
		return 1;
	size_t pad = 0;
	if (s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	unsigned char *d = malloc(n / 4 * 3);
	if (!d)
		return rms__error_nomem();
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		bool last = i + 4 == n;
		int v[4];
		for (int k = 0; k < 4; k++) {
			bool padded = last && k >= 4 - (int)pad;
			v[k] = padded ? 0 : rms__b64_value(s[i + (size_t)k]);
			if (v[k] < 0)
				goto bad;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
		             (uint32_t)v[3];
		d[o++] = (unsigned char)(w >> 16);
		if (last && pad == 2) {
			if (w & 0xFFFF)
				goto bad;
			break;
		}
		d[o++] = (unsigned char)(w >> 8);
		if (last && pad == 1) {
			if (w & 0xFF)
				goto bad;
			break;
		}
		d[o++] = (unsigned char)w;
	}
	*out = d;
	*out_len = o;
	return 0;
bad:
	free(d);
	return 1;
}


/* ---- parsing -------------------------------------------------------------------- */

/* The start of a line for an error message: at most 120 bytes, anything
 * but printable ASCII as \xNN, "..." when clipped. */
static void quote_line(char out[600], const char *line, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len && i < 120; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			out[o++] = (char)c;
		} else {
			snprintf(out + o, 5, "\\x%02x", c);
			o += 4;
		}
	}
	if (len > 120) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

static int not_a_packet(const char *line, size_t len, const char *why)
{
	char q[600];
	quote_line(q, line, len);
	return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
	                      "the PowerShell server sent a line that is not a packet: '%s' (%s)",
	                      q, why);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

int rms__oop_parse(rms_oop_packet *out, const char *line, size_t len)
{
	memset(out, 0, sizeof *out);
	size_t n = len;
	if (n && line[n - 1] == '\r')
		n--;
	const char *p = line, *end = line + n;
	if (p == end || *p != '<')
		return not_a_packet(line, len, "it is not an XML element");
	p++;
	const char *name = p;
	while (p < end && is_alpha(*p))
		p++;
	size_t name_len = (size_t)(p - name);
	size_t k;
	for (k = 0; k < NKINDS; k++)
		if (strlen(kind_names[k]) == name_len && memcmp(kind_names[k], name, name_len) == 0)
			break;
	if (k == NKINDS)
		return not_a_packet(line, len, "unknown element");
	rms_oop_kind kind = (rms_oop_kind)k;

	const char *guid = NULL, *stream = NULL;
	size_t guid_len = 0, stream_len = 0;
	for (;;) {
		bool spaced = false;
		while (p < end && is_space(*p)) {
			p++;
			spaced = true;
		}
		if (p == end)
			return not_a_packet(line, len, "the element is not closed");
		if (*p == '/' || *p == '>')
			break;
		if (!spaced)
			return not_a_packet(line, len, "malformed attributes");
		const char *an = p;
		while (p < end && is_alpha(*p))
			p++;
		size_t an_len = (size_t)(p - an);
		if (p == end || *p != '=' || an_len == 0)
			return not_a_packet(line, len, "malformed attribute");
		p++;
		if (p == end || (*p != '\'' && *p != '"'))
			return not_a_packet(line, len, "an attribute value is not quoted");
		char quote = *p++;
		const char *v = p;
		while (p < end && *p != quote && *p != '<' && *p != '&')
			p++;
		if (p == end || *p != quote)
			return not_a_packet(line, len, "malformed attribute value");
		size_t v_len = (size_t)(p - v);
		p++;
		if (an_len == 6 && memcmp(an, "PSGuid", 6) == 0) {
			if (guid)
				return not_a_packet(line, len, "PSGuid appears twice");
			guid = v;
			guid_len = v_len;
		} else if (kind == RMS_OOP_DATA && an_len == 6 && memcmp(an, "Stream", 6) == 0) {
			if (stream)
				return not_a_packet(line, len, "Stream appears twice");
			stream = v;
			stream_len = v_len;
		} else {
			return not_a_packet(line, len, "unexpected attribute");
		}
	}
	if (!guid)
		return not_a_packet(line, len, "no PSGuid");
	rms_guid g;
	if (rms__guid_parse(&g, guid, guid_len, "PSGuid"))
		return not_a_packet(line, len, "PSGuid is not a GUID");

	if (kind != RMS_OOP_DATA) {
		if (end - p != 2 || p[0] != '/' || p[1] != '>')
			return not_a_packet(line, len, "expected '/>' to end the line");
		out->kind = kind;
		out->guid = g;
		return 0;
	}

	if (!stream)
		return not_a_packet(line, len, "Data without Stream");
	bool prompt;
	if (stream_len == 7 && memcmp(stream, "Default", 7) == 0)
		prompt = false;
	else if (stream_len == 14 && memcmp(stream, "PromptResponse", 14) == 0)
		prompt = true;
	else
		return not_a_packet(line, len, "unknown Stream");
	if (*p != '>')
		return not_a_packet(line, len, "Data without a body");
	p++;
	static const char close_tag[] = "</Data>";
	size_t ct = sizeof close_tag - 1;
	if ((size_t)(end - p) < ct || memcmp(end - ct, close_tag, ct) != 0)
		return not_a_packet(line, len, "Data does not end with '</Data>'");
	unsigned char *data;
	size_t dlen;
	int rc = b64_decode(&data, &dlen, p, (size_t)(end - ct - p));
	if (rc == 1)
		return not_a_packet(line, len, "the Data body is not base64");
	if (rc)
		return rc;
	out->kind = RMS_OOP_DATA;
	out->guid = g;
	out->prompt_response = prompt;
	out->data = data;
	out->len = dlen;
	return 0;
}

/* ---- writing --------------------------------------------------------------------- */

int rms__oop_write_data(rms_buf *out, const rms_guid *guid, bool prompt_response, const void *data,
                        size_t len)
{
	char g[37];
	rms__guid_format(guid, g);
	size_t start = out->len;
	if (rms__buf_puts(out, prompt_response ? "<Data Stream='PromptResponse' PSGuid='"
	                                       : "<Data Stream='Default' PSGuid='") ||
	    rms__buf_puts(out, g) || rms__buf_puts(out, "'>") || rms__base64_append(out, data, len) ||
	    rms__buf_puts(out, "</Data>\n")) {
		if (!out->failed && out->data) {
			out->len = start;
			out->data[start] = '\0';
		}
		return rms__error_nomem();
	}
	return 0;
}

int rms__oop_write(rms_buf *out, rms_oop_kind kind, const rms_guid *guid)
{
	if (kind == RMS_OOP_DATA || (unsigned)kind >= NKINDS)
		return rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_SEND,
		                      "an OutOfProc packet of kind %d is not a GUID-only packet "
		                      "(Data is written with rms__oop_write_data)",
		                      (int)kind);
	char g[37];
	rms__guid_format(guid, g);
	if (rms__buf_printf(out, "<%s PSGuid='%s' />\n", kind_names[kind], g))
		return rms__error_nomem();
	return 0;
}

/* ---- lines ------------------------------------------------------------------------ */

void rms__oop_lines_init(rms_oop_lines *l, size_t max_line)
{
	rms__buf_init(&l->buf);
	l->start = 0;
	l->scanned = 0;
	l->max_line = max_line;
}

void rms__oop_lines_free(rms_oop_lines *l)
{
	rms__buf_free(&l->buf);
	l->start = 0;
	l->scanned = 0;
}

static int line_too_long(const rms_oop_lines *l, size_t have);

int rms__oop_lines_feed(rms_oop_lines *l, const void *data, size_t len)
{
	/* A caller that keeps feeding without taking lines still cannot make
	 * an endless line take unbounded memory. */
	if (l->scanned > l->max_line)
		return line_too_long(l, l->scanned);
	/* Drop the lines already returned once they are at least half the
	 * buffer: each byte is moved a bounded number of times (amortised
	 * linear), and the buffer stays within about twice what is pending
	 * plus one feed. */
	if (l->start && l->start >= l->buf.len - l->start) {
		size_t keep = l->buf.len - l->start;
		if (keep)
			memmove(l->buf.data, l->buf.data + l->start, keep);
		l->buf.len = keep;
		l->buf.data[keep] = '\0';
		l->start = 0;
	}
	if (len && rms__buf_append(&l->buf, data, len))
		return rms__error_nomem();
	return 0;
}

static int line_too_long(const rms_oop_lines *l, size_t have)
{
	rms__error_set(RMS_E_LIMIT, RMS_PHASE_LIMIT,
	               "the PowerShell server sent a line of more than %zu bytes (%zu so far "
	               "without a line break)",
	               l->max_line, have);
	rms__error_set_limit("max_line", l->max_line, have);
	return RMS_E_LIMIT;
}

int rms__oop_lines_next(rms_oop_lines *l, const char **line, size_t *len)
{
	size_t pending = l->buf.len - l->start;
	if (l->scanned < pending) {
		const char *from = l->buf.data + l->start + l->scanned;
		const char *nl = memchr(from, '\n', pending - l->scanned);
		if (nl) {
			size_t n = (size_t)(nl - (l->buf.data + l->start));
			if (n > l->max_line)
				return line_too_long(l, n);
			*line = l->buf.data + l->start;
			*len = n;
			l->start += n + 1;
			l->scanned = 0;
			return 0;
		}
		l->scanned = pending;
	}
	if (l->scanned > l->max_line)
		return line_too_long(l, l->scanned);
	return RMS_ITEROVER;
}

size_t rms__oop_lines_pending(const rms_oop_lines *l)
{
	return l->buf.len - l->start;
}
