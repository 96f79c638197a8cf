/* Internal helpers shared by every module: strings, UTF-8, growable buffers. */
#ifndef RMS_CORE_UTIL_H
#define RMS_CORE_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__GNUC__)
#define RMS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RMS_PRINTF(a, b)
#endif

/* NULL-safe strdup; returns NULL for NULL input or out of memory. */
char *rms__strdup(const char *s);
char *rms__strndup(const char *s, size_t n);
/* malloc'd printf. NULL on out of memory. */
char *rms__asprintf(const char *fmt, ...) RMS_PRINTF(1, 2);
char *rms__vasprintf(const char *fmt, va_list ap) RMS_PRINTF(1, 0);
/* ASCII case-insensitive comparison, NULL-safe (NULL sorts first). */
int rms__strcasecmp(const char *a, const char *b);
bool rms__streq_nocase(const char *a, const char *b);
/* Replace *slot with a copy of s (NULL allowed). Returns 0 or RMS_E_NOMEM. */
int rms__set_str(char **slot, const char *s);

/* True when buf[0..len) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF). */
bool rms__utf8_valid(const char *buf, size_t len);
/* Decode one code point at *p (advancing it); -1 on malformed input. */
int32_t rms__utf8_decode(const char **p, const char *end);
/* Encode cp into out (at least 4 bytes); returns the length, 0 if invalid. */
size_t rms__utf8_encode(uint32_t cp, char *out);
/* The length of the longest prefix of s[0..len) of at most max bytes that
 * ends on a character boundary (s is valid UTF-8). */
size_t rms__utf8_prefix(const char *s, size_t len, size_t max);

/* A growable byte buffer, always NUL-terminated when data is non-NULL. */
typedef struct rms_buf {
	char *data;
	size_t len;
	size_t cap;
	bool failed; /* an allocation failed; later appends are no-ops */
} rms_buf;

void rms__buf_init(rms_buf *b);
void rms__buf_free(rms_buf *b);
/* Overwrite a NUL-terminated secret (a password, a URL with credentials)
 * with zeros, then free it. Accepts NULL. */
void rms__free_secret(char *s);
int rms__buf_append(rms_buf *b, const void *data, size_t len);
/* Make room for extra more bytes (and the NUL) in one allocation. */
int rms__buf_reserve(rms_buf *b, size_t extra);
/* Empty the buffer, keeping its memory for reuse (and forgetting a failed
 * allocation). */
void rms__buf_clear(rms_buf *b);
/* Append v in decimal. */
int rms__buf_put_uint(rms_buf *b, uint64_t v);
int rms__buf_puts(rms_buf *b, const char *s);
int rms__buf_printf(rms_buf *b, const char *fmt, ...) RMS_PRINTF(2, 3);
/* Append s with XML escaping (& < > " ' and control characters). */
int rms__buf_put_xml_escaped(rms_buf *b, const char *s);
/* Append data[0..len) to b with every malformed UTF-8 sequence and every
 * NUL replaced by U+FFFD, so the result is always valid text. */
int rms__buf_append_utf8_lossy(rms_buf *b, const void *data, size_t len);
/* Hand the contents over (caller frees with free/rms_free); the buffer is
 * left empty. NULL if an allocation had failed. */
char *rms__buf_take(rms_buf *b);

/* free() a pointer held in a const-qualified field we own (option copies
 * keep the public struct's `const char *` fields). */
static inline void rms__free_const(const void *p)
{
	union {
		const void *c;
		void *m;
	} u = { .c = p };
	free(u.m);
}

/* A monotonic clock in milliseconds, for deadlines. */
uint64_t rms__now_ms(void);

/* Make room for need elements of size bytes in *arr, which holds *cap:
 * doubling, at least 16. 0, or RMS_E_NOMEM (raised) with *arr unchanged. */
int rms__array_grow(void **arr, size_t *cap, size_t need, size_t size);

/* Base64, RFC 4648 alphabet with '=' padding. append writes data's text
 * (an empty data still leaves the buffer holding ""); decode reads text,
 * skipping XML white space, into *out (malloc'd; NULL when empty):
 * RMS_E_PARSE (raised, naming the offset) for a character outside the
 * alphabet, misplaced padding, or a length not a multiple of 4. value:
 * a character's 6 bits, or -1. */
int rms__base64_append(rms_buf *b, const void *data, size_t len);
int rms__base64_decode(unsigned char **out, size_t *len, const char *text, size_t text_len);
int rms__b64_value(char c);
/* A hex digit's value (either case), or -1. */
int rms__hex_value(char c);

/* n bytes from the kernel's cryptographic generator (getrandom(2); OpenSSL's
 * RAND_bytes where that is unavailable): 0, or RMS_E_INTERNAL (no error
 * set). Cheaper at start-up than OpenSSL's, whose first use sets up its
 * generator (a fifth of `remsess identify`'s instructions). */
int rms__random(void *buf, size_t n);

/* A random (version 4) GUID in canonical lower-case form into out[37]. */
int rms__guid(char out[37]);

#endif
