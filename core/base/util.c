#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "error_internal.h"
#include "remsess/error.h"

char *rms__strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

char *rms__strndup(const char *s, size_t n)
{
	if (!s)
		return NULL;
	char *r = malloc(n + 1);
	if (!r)
		return NULL;
	memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

char *rms__vasprintf(const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return NULL;
	char *r = malloc((size_t)n + 1);
	if (!r)
		return NULL;
	vsnprintf(r, (size_t)n + 1, fmt, ap);
	return r;
}

char *rms__asprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *r = rms__vasprintf(fmt, ap);
	va_end(ap);
	return r;
}

static int lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

int rms__strcasecmp(const char *a, const char *b)
{
	if (a == b)
		return 0;
	if (!a)
		return -1;
	if (!b)
		return 1;
	for (;; a++, b++) {
		int ca = lower((unsigned char)*a), cb = lower((unsigned char)*b);
		if (ca != cb || ca == 0)
			return ca - cb;
	}
}

bool rms__streq_nocase(const char *a, const char *b)
{
	return rms__strcasecmp(a, b) == 0;
}

int rms__set_str(char **slot, const char *s)
{
	char *copy = NULL;
	if (s && !(copy = strdup(s)))
		return RMS_E_NOMEM;
	free(*slot);
	*slot = copy;
	return 0;
}

int32_t rms__utf8_decode(const char **pp, const char *end)
{
	const unsigned char *p = (const unsigned char *)*pp, *e = (const unsigned char *)end;
	if (p >= e)
		return -1;
	uint32_t c = p[0];
	int n;
	uint32_t min;
	if (c < 0x80) {
		*pp += 1;
		return (int32_t)c;
	} else if ((c & 0xE0) == 0xC0) {
		n = 1, min = 0x80, c &= 0x1F;
	} else if ((c & 0xF0) == 0xE0) {
		n = 2, min = 0x800, c &= 0x0F;
	} else if ((c & 0xF8) == 0xF0) {
		n = 3, min = 0x10000, c &= 0x07;
	} else {
		return -1;
	}
	if (e - p <= n)
		return -1;
	for (int i = 1; i <= n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return -1;
		c = (c << 6) | (p[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return -1;
	*pp += n + 1;
	return (int32_t)c;
}

size_t rms__utf8_prefix(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	size_t n = max;
	/* Back over continuation bytes to the start of the cut character. */
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

int rms__buf_append_utf8_lossy(rms_buf *b, const void *data, size_t len)
{
	const char *p = data, *end = p + len;
	while (p < end) {
		const char *start = p;
		int32_t cp = rms__utf8_decode(&p, end);
		if (cp > 0) {
			if (rms__buf_append(b, start, (size_t)(p - start)))
				return -1;
		} else {
			if (cp < 0)
				p = start + 1;
			if (rms__buf_append(b, "\xEF\xBF\xBD", 3))
				return -1;
		}
	}
	return 0;
}

bool rms__utf8_valid(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;
	while (p < end) {
		/* fast path for ASCII runs */
		if ((unsigned char)*p < 0x80) {
			p++;
			continue;
		}
		if (rms__utf8_decode(&p, end) < 0)
			return false;
	}
	return true;
}

size_t rms__utf8_encode(uint32_t cp, char *out)
{
	unsigned char *o = (unsigned char *)out;
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | (cp >> 6));
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp >= 0xD800 && cp <= 0xDFFF)
		return 0;
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | (cp >> 12));
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	if (cp <= 0x10FFFF) {
		o[0] = (unsigned char)(0xF0 | (cp >> 18));
		o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[3] = (unsigned char)(0x80 | (cp & 0x3F));
		return 4;
	}
	return 0;
}

void rms__buf_init(rms_buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = false;
}

void rms__free_secret(char *s)
{
	if (s) {
		volatile char *v = s;
		while (*v)
			*v++ = '\0';
	}
	free(s);
}

void rms__buf_free(rms_buf *b)
{
	free(b->data);
	rms__buf_init(b);
}

static int buf_reserve(rms_buf *b, size_t extra)
{
	if (b->failed)
		return RMS_E_NOMEM;
	if (extra > SIZE_MAX - b->len - 1)
		goto fail;
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	char *d = realloc(b->data, cap);
	if (!d)
		goto fail;
	b->data = d;
	b->cap = cap;
	return 0;
fail:
	b->failed = true;
	return RMS_E_NOMEM;
}

int rms__buf_append(rms_buf *b, const void *data, size_t len)
{
	if (buf_reserve(b, len))
		return RMS_E_NOMEM;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int rms__buf_reserve(rms_buf *b, size_t extra)
{
	return buf_reserve(b, extra);
}

void rms__buf_clear(rms_buf *b)
{
	b->len = 0;
	b->failed = false;
	if (b->data)
		b->data[0] = '\0';
}

int rms__buf_put_uint(rms_buf *b, uint64_t v)
{
	char digits[20];
	size_t n = 0;
	do {
		digits[sizeof digits - ++n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return rms__buf_append(b, digits + sizeof digits - n, n);
}

int rms__buf_puts(rms_buf *b, const char *s)
{
	return rms__buf_append(b, s, strlen(s));
}

/* Formats straight into the buffer: once when it fits in the room left,
 * twice when it must grow first; no intermediate string. */
int rms__buf_printf(rms_buf *b, const char *fmt, ...)
{
	if (b->failed)
		return RMS_E_NOMEM;
	va_list ap;
	va_start(ap, fmt);
	size_t room = b->cap > b->len ? b->cap - b->len : 0;
	int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		if (b->data)
			b->data[b->len] = '\0';
		b->failed = true;
		return RMS_E_NOMEM;
	}
	if ((size_t)n >= room) {
		if (buf_reserve(b, (size_t)n)) {
			if (b->data)
				b->data[b->len] = '\0';
			return RMS_E_NOMEM;
		}
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
	return 0;
}

int rms__buf_put_xml_escaped(rms_buf *b, const char *s)
{
	const char *run = s;
	for (const char *p = s;; p++) {
		const char *rep = NULL;
		char num[16];
		unsigned char c = (unsigned char)*p;
		switch (c) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		case '\t': case '\n': break;
		case '\r': rep = "&#13;"; break; /* would be normalised away otherwise */
		default:
			if (c && c < 0x20) {
				/* XML 1.0 cannot carry these at all; a char ref is still
				 * ill-formed, so callers must refuse such strings first.
				 * Emit the reference so the problem is visible, not lost. */
				snprintf(num, sizeof num, "&#%u;", c);
				rep = num;
			}
		}
		if (rep || c == 0) {
			if (rms__buf_append(b, run, (size_t)(p - run)))
				return RMS_E_NOMEM;
			if (c == 0)
				return 0;
			if (rms__buf_puts(b, rep))
				return RMS_E_NOMEM;
			run = p + 1;
		}
	}
}

char *rms__buf_take(rms_buf *b)
{
	if (b->failed) {
		rms__buf_free(b);
		return NULL;
	}
	char *d = b->data;
	if (!d)
		d = calloc(1, 1);
	rms__buf_init(b);
	return d;
}

uint64_t rms__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int rms__random(void *buf, size_t n)
{
	unsigned char *p = buf;
	size_t got = 0;
	while (got < n) {
		ssize_t k = getrandom(p + got, n - got, 0);
		if (k > 0)
			got += (size_t)k;
		else if (k < 0 && errno != EINTR)
			break;
	}
	if (got == n)
		return 0;
	/* No getrandom(2) (a kernel before 3.17, a seccomp filter): OpenSSL's
	 * generator, which costs its set-up on first use. */
	return n <= INT32_MAX && RAND_bytes(buf, (int)n) == 1 ? 0 : RMS_E_INTERNAL;
}

int rms__guid(char out[37])
{
	unsigned char r[16];
	if (rms__random(r, sizeof r))
		return RMS_E_INTERNAL;
	r[6] = (unsigned char)((r[6] & 0x0F) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3F) | 0x80);
	snprintf(out, 37,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
	         r[13], r[14], r[15]);
	return 0;
}

int rms__array_grow(void **arr, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 16;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			return rms__error_nomem();
		n *= 2;
	}
	if (size && n > SIZE_MAX / size)
		return rms__error_nomem();
	void *p = realloc(*arr, n * size);
	if (!p)
		return rms__error_nomem();
	*arr = p;
	*cap = n;
	return 0;
}

/* ---- base64 ------------------------------------------------------------------------ */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int rms__base64_append(rms_buf *b, const void *data, size_t len)
{
	const unsigned char *p = data;
	char quad[4];
	for (size_t i = 0; i < len; i += 3) {
		uint32_t n = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			n |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			n |= p[i + 2];
		quad[0] = b64_alphabet[(n >> 18) & 63];
		quad[1] = b64_alphabet[(n >> 12) & 63];
		quad[2] = i + 1 < len ? b64_alphabet[(n >> 6) & 63] : '=';
		quad[3] = i + 2 < len ? b64_alphabet[n & 63] : '=';
		rms__buf_append(b, quad, 4);
	}
	/* An empty byte string still makes the buffer hold "". */
	return rms__buf_append(b, "", 0) || b->failed ? rms__error_nomem() : 0;
}

int rms__b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int rms__base64_decode(unsigned char **out, size_t *len, const char *text, size_t text_len)
{
	*out = NULL;
	*len = 0;
	unsigned char *buf = malloc(text_len / 4 * 3 + 3);
	if (!buf)
		return rms__error_nomem();
	size_t n = 0, nchars = 0, pad = 0;
	uint32_t acc = 0;
	for (size_t i = 0; i < text_len; i++) {
		char c = text[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		int d = c == '=' ? 0 : rms__b64_value(c);
		/* '=' only ends the text: at most two, in the last quad's last places. */
		if (d < 0 || (c == '=' && nchars % 4 < 2) || (c != '=' && pad)) {
			free(buf);
			if (d < 0)
				return rms__error_set(RMS_E_PARSE, RMS_PHASE_NONE,
				                      "not valid base64: unexpected byte 0x%02X at "
				                      "offset %zu",
				                      (unsigned)(unsigned char)c, i);
			return rms__error_set(RMS_E_PARSE, RMS_PHASE_NONE,
			                      "not valid base64: misplaced '=' padding near offset "
			                      "%zu",
			                      i);
		}
		pad += c == '=';
		acc = acc << 6 | (uint32_t)d;
		if (++nchars % 4 == 0) {
			buf[n++] = (unsigned char)(acc >> 16);
			buf[n++] = (unsigned char)(acc >> 8);
			buf[n++] = (unsigned char)acc;
			acc = 0;
		}
	}
	if (nchars % 4) {
		free(buf);
		return rms__error_set(RMS_E_PARSE, RMS_PHASE_NONE,
		                      "not valid base64: %zu characters, not a multiple of 4",
		                      nchars);
	}
	n -= pad;
	if (n == 0) {
		free(buf);
		buf = NULL;
	}
	*out = buf;
	*len = n;
	return 0;
}

int rms__hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
