/*
 * WinRM message-encryption framing (core/net/winrm_enc.h).
 *
 * The recorded bodies are ../shared/fixtures/winrm-encrypted (its README):
 * pywinrm 0.3.0 (NTLM through python3-ntlm-auth 1.4.0) against a WinRM test
 * server whose NTLM is gss-ntlmssp 1.2.0, and pywinrm's framing over
 * python3-gssapi with MIT krb5 1.20.1 against the same server. The *.bin
 * files are the TCP bytes of each direction; the test splits them into HTTP
 * messages by Content-Length and takes every multipart/encrypted body apart,
 * checks it against the *.txt description of the conversation, and frames
 * it again byte for byte. The variants real servers write (Exchange's
 * "-- Encrypted Boundary", LF line ends, no tab, a CRLF before the closing
 * boundary) are built by hand from the same pieces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "error_internal.h"
#include "fixture.h"
#include "winrm_enc.h"

#define FIX "winrm-encrypted/"
#define SPNEGO "application/HTTP-SPNEGO-session-encrypted"
#define KERBEROS "application/HTTP-Kerberos-session-encrypted"
#define CT_SPNEGO "multipart/encrypted;protocol=\"" SPNEGO "\";boundary=\"Encrypted Boundary\""
#define CT_KERBEROS "multipart/encrypted;protocol=\"" KERBEROS "\";boundary=\"Encrypted Boundary\""
#define PREFIX(proto, len)                                                                         \
	"--Encrypted Boundary\r\n\tContent-Type: " proto "\r\n\tOriginalContent: "                 \
	"type=application/soap+xml;charset=UTF-8;Length=" len "\r\n--Encrypted Boundary\r\n"       \
	"\tContent-Type: application/octet-stream\r\n"
#define CLOSE "--Encrypted Boundary--\r\n"

static const char *last_message(void)
{
	const char *m = rms_error_message(rms_error_last());
	return m ? m : "(no error)";
}

/* rc is RMS_E_PROTOCOL in the decode phase, with a message naming what was
 * wrong (needle). */
static void assert_refused(int rc, const char *needle)
{
	if (rc != RMS_E_PROTOCOL)
		fail_msg("got %s, wanted RMS_E_PROTOCOL (%s)", rms_error_code_name(rc),
		         rc ? last_message() : needle);
	assert_int_equal(rms_error_phase(rms_error_last()), RMS_PHASE_DECODE);
	if (strncmp(last_message(), "encrypted body: ", 16) != 0)
		fail_msg("error '%s' does not say it is about the encrypted body", last_message());
	if (needle && !strstr(last_message(), needle))
		fail_msg("error '%s' does not mention '%s'", last_message(), needle);
}

static void assert_parses(int rc)
{
	if (rc)
		fail_msg("parse failed: %s: %s", rms_error_code_name(rc), last_message());
}

/* Deterministic bytes (xorshift), so a failure repeats. */
static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed ? seed : 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

/* ---- the recordings ---------------------------------------------------------- */

typedef struct http_body {
	char ct[256];     /* its Content-Type, "" when none */
	const char *data; /* into the stream */
	size_t len;
} http_body;

typedef struct stream {
	char *data;
	size_t len;
	http_body bodies[64];
	size_t n;
} stream;

/* One direction's TCP bytes cut into HTTP messages by Content-Length (the
 * recordings use no chunked encoding and no Connection: close). */
static void load_stream(stream *s, const char *file)
{
	char rel[256];
	snprintf(rel, sizeof rel, FIX "%s", file);
	memset(s, 0, sizeof *s);
	s->data = rms_fixture(rel, &s->len);
	const char *p = s->data, *end = s->data + s->len;
	while (p < end) {
		const char *hend = strstr(p, "\r\n\r\n");
		if (!hend || hend >= end)
			fail_msg("%s: message headers do not end at offset %zu", file,
			         (size_t)(p - s->data));
		assert_true(s->n < sizeof s->bodies / sizeof s->bodies[0]);
		http_body *b = &s->bodies[s->n++];
		long cl = -1;
		for (const char *l = p; l < hend;) {
			const char *le = strstr(l, "\r\n");
			size_t n = (size_t)(le - l);
			if (n > 15 && strncasecmp(l, "Content-Length:", 15) == 0)
				cl = strtol(l + 15, NULL, 10);
			if (n > 13 && strncasecmp(l, "Content-Type:", 13) == 0) {
				const char *v = l + 13;
				while (*v == ' ')
					v++;
				size_t vn = (size_t)(le - v);
				assert_true(vn < sizeof b->ct);
				memcpy(b->ct, v, vn);
			}
			l = le + 2;
		}
		if (cl < 0)
			fail_msg("%s: a message without Content-Length", file);
		b->data = hend + 4;
		b->len = (size_t)cl;
		assert_true(b->data + b->len <= end);
		p = b->data + b->len;
	}
}

/* What the *.txt says of each encrypted request, in order. */
typedef struct described {
	size_t sig, sealed, length;
} described;

static size_t load_descriptions(described *d, size_t max, const char *file)
{
	char rel[256];
	snprintf(rel, sizeof rel, FIX "%s", file);
	char *txt = rms_fixture(rel, NULL);
	size_t n = 0;
	for (const char *p = txt; (p = strstr(p, "[encrypted part: ")) != NULL; p++) {
		assert_true(n < max);
		if (sscanf(p, "[encrypted part: sig %zu bytes, sealed %zu bytes, Length=%zu]",
		           &d[n].sig, &d[n].sealed, &d[n].length) != 3)
			fail_msg("%s: cannot read '%.60s'", file, p);
		n++;
	}
	free(txt);
	return n;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_names_and_request_header_are_what_pywinrm_sends(void **state)
{
	(void)state;
	assert_string_equal(rms__enc_protocol_name(RMS_ENC_SPNEGO), SPNEGO);
	assert_string_equal(rms__enc_protocol_name(RMS_ENC_KERBEROS), KERBEROS);
	/* The request header line as it stands in ntlm-encrypted.c2s.bin. */
	assert_string_equal(rms__enc_content_type_header(RMS_ENC_SPNEGO),
	                    "Content-Type: " CT_SPNEGO);
	assert_string_equal(rms__enc_content_type_header(RMS_ENC_KERBEROS),
	                    "Content-Type: " CT_KERBEROS);
	stream s;
	load_stream(&s, "ntlm-encrypted.c2s.bin");
	assert_non_null(strstr(s.data, rms__enc_content_type_header(RMS_ENC_SPNEGO)));
	free(s.data);
}

/* Every encrypted body of both recordings, both directions: taken apart as
 * the .txt describes it, and framed again into the very same bytes. */
static void test_every_recorded_body_parses_and_frames_again_byte_for_byte(void **state)
{
	(void)state;
	static const struct {
		const char *bin, *txt;
		bool c2s, ntlm;
	} files[] = {
	    {"ntlm-encrypted.c2s.bin", "ntlm-encrypted.txt", true, true},
	    {"ntlm-encrypted.s2c.bin", "ntlm-encrypted.txt", false, true},
	    {"kerberos-encrypted.c2s.bin", "kerberos-encrypted.txt", true, false},
	    {"kerberos-encrypted.s2c.bin", "kerberos-encrypted.txt", false, false},
	};
	for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
		described d[32];
		size_t nd = load_descriptions(d, 32, files[f].txt);
		assert_int_equal(nd, 11);
		stream s;
		load_stream(&s, files[f].bin);
		size_t k = 0;
		for (size_t i = 0; i < s.n; i++) {
			const http_body *b = &s.bodies[i];
			if (!rms__enc_is_encrypted(b->ct[0] ? b->ct : NULL)) {
				assert_int_equal(b->len, 0); /* the handshake's empty POSTs */
				continue;
			}
			rms_enc_part part;
			assert_parses(rms__enc_parse(b->ct, b->data, b->len, &part));
			/* The Kerberos recording logged in with the Negotiate scheme,
			 * so its bodies carry the SPNEGO protocol string too. */
			assert_int_equal(part.protocol, RMS_ENC_SPNEGO);
			assert_int_equal(part.header_len, files[f].ntlm ? 16 : d[0].sig);
			if (files[f].c2s) {
				assert_true(k < nd);
				assert_int_equal(part.header_len, d[k].sig);
				assert_int_equal(part.sealed_len, d[k].sealed);
				assert_int_equal(part.length, d[k].length);
			} else {
				/* The .txt gives no framing facts for answers; RC4 and
				 * an AES wrap both keep the length. */
				assert_int_equal(part.length, part.sealed_len);
			}
			assert_true((const char *)part.header >= b->data);
			assert_true((const char *)part.sealed + part.sealed_len <=
			            b->data + b->len);

			rms_buf out;
			rms__buf_init(&out);
			assert_int_equal(rms__enc_frame(&out, part.protocol, part.header,
			                                part.header_len, part.sealed,
			                                part.sealed_len, part.length),
			                 0);
			assert_int_equal(out.len, b->len);
			assert_memory_equal(out.data, b->data, b->len);
			rms__buf_free(&out);
			k++;
		}
		assert_int_equal(k, 11);
		free(s.data);
	}
}

/* The first encrypted request of the NTLM recording, laid out by hand:
 * the five text lines, 4 bytes of length, the 16-byte signature, 1683
 * sealed bytes, the closing boundary. */
static void test_frame_writes_the_recorded_first_request(void **state)
{
	(void)state;
	stream s;
	load_stream(&s, "ntlm-encrypted.c2s.bin");
	const http_body *b = &s.bodies[3];
	static const char prefix[] = PREFIX(SPNEGO, "1683");
	const size_t plen = sizeof prefix - 1;
	assert_int_equal(b->len, plen + 4 + 16 + 1683 + strlen(CLOSE));
	assert_memory_equal(b->data, prefix, plen);
	assert_memory_equal(b->data + plen, "\x10\0\0\0", 4);
	assert_memory_equal(b->data + b->len - strlen(CLOSE), CLOSE, strlen(CLOSE));

	rms_buf out;
	rms__buf_init(&out);
	rms__buf_puts(&out, "kept");
	const uint8_t *sig = (const uint8_t *)b->data + plen + 4;
	assert_int_equal(rms__enc_frame(&out, RMS_ENC_SPNEGO, sig, 16, sig + 16, 1683, 1683), 0);
	assert_int_equal(out.len, 4 + b->len);
	assert_memory_equal(out.data, "kept", 4);
	assert_memory_equal(out.data + 4, b->data, b->len);
	rms__buf_free(&out);
	free(s.data);
}

static void round_trip(rms_enc_protocol p, size_t header_len, size_t sealed_len, size_t plain_len,
                       uint32_t seed)
{
	uint8_t *hdr = malloc(header_len ? header_len : 1);
	uint8_t *sealed = malloc(sealed_len ? sealed_len : 1);
	assert_non_null(hdr);
	assert_non_null(sealed);
	fill(hdr, header_len, seed);
	fill(sealed, sealed_len, seed * 7 + 1);
	/* A payload ending in a line end whose size is not Length is the one
	 * ambiguous case (test_sealed_bytes_that_look_like_framing_are_kept). */
	if (plain_len != sealed_len && sealed_len && sealed[sealed_len - 1] == '\n')
		sealed[sealed_len - 1] = 'x';
	rms_buf out;
	rms__buf_init(&out);
	assert_int_equal(rms__enc_frame(&out, p, hdr, header_len, sealed, sealed_len, plain_len),
	                 0);
	/* Parse an exact-size copy, so reading one byte too far is caught by
	 * ASan and valgrind. */
	char *copy = malloc(out.len);
	memcpy(copy, out.data, out.len);
	rms_enc_part part;
	assert_parses(
	    rms__enc_parse(p == RMS_ENC_SPNEGO ? CT_SPNEGO : CT_KERBEROS, copy, out.len, &part));
	assert_int_equal(part.protocol, p);
	assert_int_equal(part.length, plain_len);
	assert_int_equal(part.header_len, header_len);
	assert_memory_equal(part.header, hdr, header_len);
	assert_ptr_equal(part.header, (const uint8_t *)copy +
	                                  (out.len - sealed_len - header_len - strlen(CLOSE)));
	assert_int_equal(part.sealed_len, sealed_len);
	if (sealed_len)
		assert_memory_equal(part.sealed, sealed, sealed_len);
	free(copy);
	rms__buf_free(&out);
	free(hdr);
	free(sealed);
}

static void test_frame_then_parse_round_trips_both_protocols_and_sizes(void **state)
{
	(void)state;
	static const size_t sizes[] = {0, 1, 2, 15, 16, 1683, 65536, 300 * 1024};
	for (int p = RMS_ENC_SPNEGO; p <= RMS_ENC_KERBEROS; p++) {
		size_t hl = p == RMS_ENC_SPNEGO ? 16 : 60;
		for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
			round_trip((rms_enc_protocol)p, hl, sizes[i], sizes[i], (uint32_t)i + 1);
			/* Length is carried, not checked against the sealed size
			 * (a Kerberos wrap may pad). */
			round_trip((rms_enc_protocol)p, hl, sizes[i], sizes[i] + 12,
			           (uint32_t)i + 99);
		}
		round_trip((rms_enc_protocol)p, 1, 10, 10, 5);
		round_trip((rms_enc_protocol)p, 65536, 10, 10, 6);
	}
	round_trip(RMS_ENC_SPNEGO, 16, 100, 2147483648u, 7);
}

/* A sealed payload may end in bytes that look like framing. */
static void test_sealed_bytes_that_look_like_framing_are_kept(void **state)
{
	(void)state;
	static const char *const tails[] = {"\r\n",
	                                    "\n",
	                                    "--",
	                                    "--Encrypted Boundary--",
	                                    "\r\n--Encrypted Boundary--\r\n",
	                                    "--Encrypted Boundary\r\n",
	                                    " ",
	                                    "\r",
	                                    "--\r\n"};
	for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
		uint8_t sealed[64];
		fill(sealed, 20, (uint32_t)i + 3);
		size_t n = strlen(tails[i]);
		memcpy(sealed + 20, tails[i], n);
		rms_buf out;
		rms__buf_init(&out);
		const uint8_t sig[16] = {1, 0, 0, 0};
		/* Length equals the sealed size, as with NTLM and Kerberos. */
		assert_int_equal(
		    rms__enc_frame(&out, RMS_ENC_SPNEGO, sig, 16, sealed, 20 + n, 20 + n), 0);
		rms_enc_part part;
		assert_parses(rms__enc_parse(CT_SPNEGO, out.data, out.len, &part));
		assert_int_equal(part.sealed_len, 20 + n);
		assert_memory_equal(part.sealed, sealed, 20 + n);
		rms__buf_free(&out);
	}
	/* The one ambiguous case: no line end is written before the closing
	 * boundary, so a payload ending in CRLF whose size is not Length reads
	 * back without that CRLF (taken for MIME's delimiter line end). */
	rms_buf out;
	rms__buf_init(&out);
	const uint8_t sig[16] = {1};
	assert_int_equal(
	    rms__enc_frame(&out, RMS_ENC_KERBEROS, sig, 16, (const uint8_t *)"abc\r\n", 5, 8), 0);
	rms_enc_part part;
	assert_parses(rms__enc_parse(CT_KERBEROS, out.data, out.len, &part));
	assert_int_equal(part.sealed_len, 3);
	assert_int_equal(part.length, 8);
	rms__buf_free(&out);
}

/* ---- the variants real servers write ----------------------------------------------- */

typedef struct variant {
	const char *dashes;       /* before the boundary: "--" or "-- " */
	const char *eol;          /* "\r\n" or "\n" */
	const char *indent;       /* before each header */
	const char *before_close; /* "" or a line end */
	const char *after_close;  /* the closing boundary's line end, or "" */
	const char *boundary;
	const char *proto;  /* in the first part */
	const char *length; /* after "Length=" */
	const char *octet;  /* the second part's type */
} variant;

static const variant PYWINRM = {
    "--", "\r\n", "\t", "", "\r\n", "Encrypted Boundary", SPNEGO, "5", "application/octet-stream"};

static const uint8_t SIG[16] = {0x01, 0, 0, 0, 0xaa, 0xbb, 0xcc, 0xdd, 1, 2, 3, 4, 0, 0, 0, 0};
static const uint8_t SEALED[5] = {0x10, 0x0d, 0x2d, 0x2d, 0xff};

static void build(rms_buf *b, const variant *v)
{
	rms__buf_init(b);
	rms__buf_printf(b, "%s%s%s", v->dashes, v->boundary, v->eol);
	rms__buf_printf(b, "%sContent-Type: %s%s", v->indent, v->proto, v->eol);
	rms__buf_printf(b, "%sOriginalContent: type=application/soap+xml;charset=UTF-8;Length=%s%s",
	                v->indent, v->length, v->eol);
	rms__buf_printf(b, "%s%s%s", v->dashes, v->boundary, v->eol);
	rms__buf_printf(b, "%sContent-Type: %s%s", v->indent, v->octet, v->eol);
	rms__buf_append(b, "\x10\0\0\0", 4);
	rms__buf_append(b, SIG, sizeof SIG);
	rms__buf_append(b, SEALED, sizeof SEALED);
	rms__buf_printf(b, "%s%s%s--%s", v->before_close, v->dashes, v->boundary, v->after_close);
	assert_false(b->failed);
}

/* Parse v's body (an exact-size heap copy) under content type ct. */
static int parse_variant(const variant *v, const char *ct, rms_enc_part *part, char **keep)
{
	rms_buf b;
	build(&b, v);
	char *copy = malloc(b.len ? b.len : 1);
	memcpy(copy, b.data, b.len);
	int rc = rms__enc_parse(ct, copy, b.len, part);
	*keep = copy;
	rms__buf_free(&b);
	return rc;
}

static void assert_variant_parses(const variant *v, const char *ct)
{
	rms_enc_part part;
	char *body;
	assert_parses(parse_variant(v, ct, &part, &body));
	assert_int_equal(part.length, 5);
	assert_int_equal(part.header_len, 16);
	assert_memory_equal(part.header, SIG, 16);
	assert_int_equal(part.sealed_len, sizeof SEALED);
	assert_memory_equal(part.sealed, SEALED, sizeof SEALED);
	free(body);
}

static void assert_variant_refused(const variant *v, const char *ct, const char *needle)
{
	rms_enc_part part;
	char *body;
	assert_refused(parse_variant(v, ct, &part, &body), needle);
	free(body);
}

static void test_builder_default_is_what_frame_writes(void **state)
{
	(void)state;
	rms_buf a, b;
	build(&a, &PYWINRM);
	rms__buf_init(&b);
	assert_int_equal(rms__enc_frame(&b, RMS_ENC_SPNEGO, SIG, 16, SEALED, 5, 5), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	rms__buf_free(&a);
	rms__buf_free(&b);
}

static void test_parse_accepts_what_real_servers_write(void **state)
{
	(void)state;
	variant v = PYWINRM;
	assert_variant_parses(&v, CT_SPNEGO);

	v = PYWINRM;
	v.dashes = "-- "; /* Exchange */
	assert_variant_parses(&v, CT_SPNEGO);

	v = PYWINRM;
	v.eol = "\n";
	v.after_close = "\n";
	assert_variant_parses(&v, CT_SPNEGO);

	v = PYWINRM;
	v.indent = "";
	assert_variant_parses(&v, CT_SPNEGO);
	v.indent = "   ";
	assert_variant_parses(&v, CT_SPNEGO);

	v = PYWINRM;
	v.before_close = "\r\n"; /* MIME's delimiter CRLF */
	assert_variant_parses(&v, CT_SPNEGO);
	v.before_close = "\n";
	assert_variant_parses(&v, CT_SPNEGO);

	v = PYWINRM;
	v.after_close = ""; /* cut after the closing boundary's dashes */
	assert_variant_parses(&v, CT_SPNEGO);
	v.after_close = "\r\n\r\n";
	assert_variant_parses(&v, CT_SPNEGO);

	/* All of them at once. */
	v = (variant){"-- ",  "\n", "",
	              "\n",   "",   "Encrypted Boundary",
	              SPNEGO, "5",  "Application/Octet-Stream"};
	assert_variant_parses(&v, CT_SPNEGO);

	/* Protocol names in any case, in the body and in the Content-Type. */
	v = PYWINRM;
	v.proto = "APPLICATION/http-spnego-SESSION-encrypted";
	assert_variant_parses(&v, CT_SPNEGO);
	v = PYWINRM;
	v.proto = KERBEROS;
	assert_variant_parses(&v, CT_KERBEROS);

	/* The Content-Type's parameters: quoted or not, names in any case,
	 * spaces around ';' and '=', parameters in any order, and the
	 * boundary default. */
	static const char *const cts[] = {
	    "multipart/encrypted;protocol=" SPNEGO ";boundary=Encrypted Boundary",
	    "Multipart/Encrypted; Protocol=\"" SPNEGO "\"; Boundary=\"Encrypted Boundary\"",
	    "MULTIPART/ENCRYPTED ; PROTOCOL = \"" SPNEGO "\" ; BOUNDARY = \"Encrypted Boundary\" ",
	    "multipart/encrypted;boundary=\"Encrypted Boundary\";protocol=\"" SPNEGO "\"",
	    "multipart/encrypted;protocol=\"" SPNEGO "\"",
	    "multipart/encrypted;protocol=" SPNEGO,
	    "  multipart/encrypted;;protocol=\"application/HTTP-SPNEGO-session-encrypted\";",
	    "multipart/encrypted;protocol=\"" SPNEGO "\";boundary=\"Encrypted\\ Boundary\"",
	    "multipart/encrypted;charset=\"a;b\";protocol=\"" SPNEGO "\"",
	};
	for (size_t i = 0; i < sizeof cts / sizeof cts[0]; i++)
		assert_variant_parses(&PYWINRM, cts[i]);

	/* A boundary of the server's choosing. */
	v = PYWINRM;
	v.boundary = "b1;x=\"y\"";
	assert_variant_parses(&v, "multipart/encrypted;protocol=\"" SPNEGO
	                          "\";boundary=\"b1;x=\\\"y\\\"\"");
	/* ... and the default does not match it. */
	assert_variant_refused(&v, "multipart/encrypted;protocol=\"" SPNEGO "\"",
	                       "no boundary line '--Encrypted Boundary' at the start");
}

/* Truncated at every byte offset of a real body (an exact-size copy each
 * time): refused with a message, except the cuts that only lose the
 * closing boundary's CRLF or its LF, which the header allows. */
static void test_truncated_at_every_byte_fails_cleanly(void **state)
{
	(void)state;
	static const char *const files[] = {"ntlm-encrypted.c2s.bin", "kerberos-encrypted.s2c.bin"};
	for (size_t f = 0; f < 2; f++) {
		stream s;
		load_stream(&s, files[f]);
		const http_body *b = NULL;
		for (size_t i = 0; i < s.n && !b; i++)
			if (s.bodies[i].len)
				b = &s.bodies[i];
		if (!b) {
			fail_msg("no body in %s", files[f]);
			return;
		}
		rms_enc_part full;
		assert_parses(rms__enc_parse(b->ct, b->data, b->len, &full));
		size_t sealed_off = (size_t)((const char *)full.sealed - b->data);
		for (size_t cut = 0; cut < b->len; cut++) {
			char *copy = malloc(cut ? cut : 1);
			memcpy(copy, b->data, cut);
			rms_enc_part part;
			int rc = rms__enc_parse(b->ct, copy, cut, &part);
			if (cut >= b->len - 2) {
				assert_parses(rc);
				assert_int_equal(part.sealed_len, full.sealed_len);
				assert_int_equal(part.length, full.length);
			} else {
				assert_refused(rc, NULL);
				/* The message names the piece that is missing. */
				const char *m = last_message();
				if (cut < 20)
					assert_non_null(strstr(m, "no boundary line"));
				else if (cut > sealed_off)
					assert_non_null(strstr(m, "no closing boundary"));
				assert_null(part.header);
				assert_null(part.sealed);
			}
			free(copy);
		}
		free(s.data);
	}
}

static void put_le32(char *p, uint32_t v)
{
	p[0] = (char)v;
	p[1] = (char)(v >> 8);
	p[2] = (char)(v >> 16);
	p[3] = (char)(v >> 24);
}

static void test_refuses_header_lengths_zero_over_64k_and_past_the_end(void **state)
{
	(void)state;
	stream s;
	load_stream(&s, "ntlm-encrypted.c2s.bin");
	const http_body *b = &s.bodies[3];
	const size_t off = strlen(PREFIX(SPNEGO, "1683"));
	char *copy = malloc(b->len);
	rms_enc_part part;

	static const struct {
		uint32_t v;
		const char *needle;
	} bad[] = {
	    {0, "header length field is 0"},
	    {65537, "header length 65537 is over 64 KiB"},
	    {0xffffffffu, "header length 4294967295 is over 64 KiB"},
	    {1683 + 16 + 24 + 1,
	     "header length 1724 runs past the end of the body (1723 bytes left)"},
	    {1683 + 16 + 1, "no closing boundary"}, /* runs into the closing boundary */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memcpy(copy, b->data, b->len);
		put_le32(copy + off, bad[i].v);
		assert_refused(rms__enc_parse(b->ct, copy, b->len, &part), bad[i].needle);
	}
	/* Any size inside the body is only a different split. */
	memcpy(copy, b->data, b->len);
	put_le32(copy + off, 1699);
	assert_parses(rms__enc_parse(b->ct, copy, b->len, &part));
	assert_int_equal(part.header_len, 1699);
	assert_int_equal(part.sealed_len, 0);
	/* The length field itself cut off. */
	assert_refused(rms__enc_parse(b->ct, copy, off + 3, &part),
	               "header length field is cut off (3 of 4 bytes)");
	free(copy);
	free(s.data);

	/* 65536 is allowed. */
	round_trip(RMS_ENC_KERBEROS, 65536, 3, 3, 11);
}

static void test_refuses_missing_or_malformed_length(void **state)
{
	(void)state;
	static const struct {
		const char *length;
		const char *needle;
	} bad[] = {
	    {"abc", "OriginalContent Length 'abc' is not a number"},
	    {"12a", "OriginalContent Length '12a' is not a number"},
	    {"-1", "OriginalContent Length '-1' is not a number"},
	    {"+5", "OriginalContent Length '+5' is not a number"},
	    {"0x10", "not a number"},
	    {"1 2", "OriginalContent Length '1 2' is not a number"},
	    {"", "OriginalContent Length is empty"},
	    {"2147483649", "OriginalContent Length 2147483649 is over 2^31"},
	    {"99999999999999999999999999", "is over 2^31"},
	    {"\"6", "a quoted parameter in OriginalContent does not end"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		variant v = PYWINRM;
		v.length = bad[i].length;
		assert_variant_refused(&v, CT_SPNEGO, bad[i].needle);
	}

	/* No Length at all: a body whose OriginalContent lacks it. */
	rms_buf b;
	rms__buf_init(&b);
	rms__buf_puts(&b, "--Encrypted Boundary\r\n\tContent-Type: " SPNEGO "\r\n"
	                  "\tOriginalContent: type=application/soap+xml;charset=UTF-8\r\n"
	                  "--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n");
	rms__buf_append(&b, "\x01\0\0\0x" CLOSE, 5 + strlen(CLOSE));
	rms_enc_part part;
	assert_refused(rms__enc_parse(CT_SPNEGO, b.data, b.len, &part),
	               "OriginalContent has no Length: 'type=application/soap+xml;charset=UTF-8'");
	rms__buf_free(&b);

	/* The accepted forms and the bound itself. */
	static const struct {
		const char *text;
		size_t value;
	} good[] = {{"0", 0},       {"007", 7},  {"2147483648", 2147483648u},
	            {"\"42\"", 42}, {"42 ", 42}, {"42;foo=bar", 42}};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		variant v = PYWINRM;
		v.length = good[i].text;
		char *keep;
		assert_parses(parse_variant(&v, CT_SPNEGO, &part, &keep));
		assert_int_equal(part.length, good[i].value);
		free(keep);
	}
	/* A lower-case name. */
	rms__buf_init(&b);
	rms__buf_puts(&b, "--Encrypted Boundary\r\n\tcontent-type: " SPNEGO "\r\n"
	                  "\toriginalcontent: type=application/soap+xml; length = 9\r\n"
	                  "--Encrypted Boundary\r\n\tCONTENT-TYPE: application/octet-stream\r\n");
	rms__buf_append(&b, "\x01\0\0\0x" CLOSE, 5 + strlen(CLOSE));
	assert_parses(rms__enc_parse(CT_SPNEGO, b.data, b.len, &part));
	assert_int_equal(part.length, 9);
	assert_int_equal(part.sealed_len, 0);
	rms__buf_free(&b);
}

static void test_refuses_unknown_missing_or_mismatched_protocol(void **state)
{
	(void)state;
	rms_enc_part part;
	const char *body = "--Encrypted Boundary\r\n";
	assert_refused(rms__enc_parse("multipart/encrypted;protocol=\"application/"
	                              "HTTP-CredSSP-session-encrypted\"",
	                              body, strlen(body), &part),
	               "unknown protocol 'application/HTTP-CredSSP-session-encrypted' in the "
	               "Content-Type");
	assert_refused(rms__enc_parse("multipart/encrypted;boundary=\"Encrypted Boundary\"", body,
	                              strlen(body), &part),
	               "the Content-Type has no protocol parameter");
	assert_refused(rms__enc_parse("multipart/encrypted;protocol=", body, strlen(body), &part),
	               "unknown protocol '' in the Content-Type");
	assert_refused(
	    rms__enc_parse("multipart/encrypted;protocol=\"" SPNEGO, body, strlen(body), &part),
	    "a quoted parameter in the Content-Type does not end");

	variant v = PYWINRM;
	assert_variant_refused(&v, CT_KERBEROS,
	                       "the first part's protocol " SPNEGO " differs from the "
	                       "Content-Type's " KERBEROS);
	v.proto = KERBEROS;
	assert_variant_refused(&v, CT_SPNEGO,
	                       "the first part's protocol " KERBEROS " differs from the "
	                       "Content-Type's " SPNEGO);
	v.proto = "application/HTTP-CredSSP-session-encrypted";
	assert_variant_refused(&v, CT_SPNEGO,
	                       "unknown protocol 'application/HTTP-CredSSP-session-encrypted' in "
	                       "the first part's Content-Type");
}

static void test_refuses_what_is_not_an_encrypted_body(void **state)
{
	(void)state;
	rms_enc_part part;
	const char *soap = "<s:Envelope/>";
	assert_refused(rms__enc_parse(NULL, soap, strlen(soap), &part),
	               "the response has no Content-Type");
	assert_refused(
	    rms__enc_parse("application/soap+xml;charset=UTF-8", soap, strlen(soap), &part),
	    "Content-Type 'application/soap+xml;charset=UTF-8' is not "
	    "multipart/encrypted");
	assert_refused(rms__enc_parse("multipart/x-multi-encrypted;protocol=\"" SPNEGO "\"", soap,
	                              strlen(soap), &part),
	               "is not multipart/encrypted");
	assert_refused(rms__enc_parse(CT_SPNEGO, soap, strlen(soap), &part),
	               "no boundary line '--Encrypted Boundary' at the start (found "
	               "'<s:Envelope/>')");
	assert_refused(rms__enc_parse(CT_SPNEGO, "", 0, &part), "no boundary line");
	assert_refused(rms__enc_parse(CT_SPNEGO, NULL, 0, &part), "no boundary line");
	assert_refused(rms__enc_parse("multipart/encrypted;protocol=\"" SPNEGO "\";boundary=Other",
	                              soap, strlen(soap), &part),
	               "no boundary line '--Other' at the start");
	assert_refused(rms__enc_parse("multipart/encrypted;protocol=\"" SPNEGO "\";boundary=\"\"",
	                              soap, strlen(soap), &part),
	               "the Content-Type's boundary is empty");
	char ct[600];
	snprintf(ct, sizeof ct, "multipart/encrypted;protocol=" SPNEGO ";boundary=%0300d", 0);
	assert_refused(rms__enc_parse(ct, soap, strlen(soap), &part),
	               "boundary is longer than 256 bytes");

	/* Pieces missing or wrong. */
	variant v = PYWINRM;
	v.octet = "text/plain";
	assert_variant_refused(&v, CT_SPNEGO,
	                       "the sealed part's Content-Type is 'text/plain', not "
	                       "application/octet-stream");
#define PART1 "--Encrypted Boundary\r\n\tContent-Type: " SPNEGO "\r\n"
#define PART1_LEN PART1 "\tOriginalContent: Length=1\r\n--Encrypted Boundary\r\n"
#define OCTET "\tContent-Type: application/octet-stream\r\n"
/* clang-format off */
#define BROKEN(text, needle) {text, sizeof text - 1, needle}
	/* clang-format on */
	static const struct {
		const char *text;
		size_t len;
		const char *needle;
	} broken[] = {
	    BROKEN(PART1, "the body ends before the boundary line of the sealed part"),
	    BROKEN("--Encrypted Boundary\r\n\tOriginalContent: type=x;Length=1\r\n"
	           "--Encrypted Boundary\r\n",
	           "the first part has no Content-Type header"),
	    BROKEN(PART1 "--Encrypted Boundary\r\n",
	           "the first part has no OriginalContent header"),
	    BROKEN(PART1 "nonsense\r\n", "a line in the first part is not a header: 'nonsense'"),
	    BROKEN(PART1 "--Encrypted Boundary--\r\n",
	           "a line in the first part is not a header: '--Encrypted Boundary--'"),
	    BROKEN(PART1_LEN, "the sealed part has no Content-Type header (found '')"),
	    BROKEN(PART1_LEN "\x01\0\0\0x--Encrypted Boundary--",
	           "the sealed part has no Content-Type header (found '\\x01\\x00\\x00\\x00x--"),
	    BROKEN(PART1_LEN "\tX-Other: 1\r\n" OCTET "\x01\0\0\0x--Encrypted Boundary--",
	           "the sealed part has no Content-Type header (found '\\x09X-Other: 1')"),
	    BROKEN(PART1_LEN OCTET "\x01\0\0\0xy--Encrypted Boundary-",
	           "no closing boundary '--Encrypted Boundary--' after the 1-byte header"),
	    BROKEN(PART1_LEN OCTET "\x01\0\0\0xy--Encrypted Boundary--trailer",
	           "no closing boundary"),
	    BROKEN(PART1_LEN OCTET "\x01\0\0\0xy--Other Boundary--", "no closing boundary"),
	    BROKEN(PART1_LEN OCTET "\x01\0\0\0x", "no closing boundary"),
	    BROKEN(PART1_LEN OCTET "\x01\0\0\0--Encrypted Boundary--",
	           "no closing boundary"), /* the header eats into it */
	};
	for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
		char *copy = malloc(broken[i].len);
		memcpy(copy, broken[i].text, broken[i].len);
		assert_refused(rms__enc_parse(CT_SPNEGO, copy, broken[i].len, &part),
		               broken[i].needle);
		free(copy);
	}
}

static void test_is_encrypted_reads_the_media_type_only(void **state)
{
	(void)state;
	assert_false(rms__enc_is_encrypted(NULL));
	assert_false(rms__enc_is_encrypted(""));
	assert_false(rms__enc_is_encrypted("application/soap+xml;charset=UTF-8"));
	assert_false(rms__enc_is_encrypted("multipart/encrypted-not"));
	assert_false(rms__enc_is_encrypted("multipart/x-multi-encrypted;protocol=\"a\""));
	assert_false(rms__enc_is_encrypted("text/plain; note=multipart/encrypted"));
	assert_true(rms__enc_is_encrypted(CT_SPNEGO));
	assert_true(rms__enc_is_encrypted(CT_KERBEROS));
	assert_true(rms__enc_is_encrypted("multipart/encrypted"));
	assert_true(rms__enc_is_encrypted("Multipart/Encrypted"));
	assert_true(rms__enc_is_encrypted("MULTIPART/ENCRYPTED;PROTOCOL=x"));
	assert_true(rms__enc_is_encrypted("  multipart/encrypted  ;  protocol = \"x\""));
	assert_true(rms__enc_is_encrypted("\tmultipart/encrypted\t"));
}

static void test_frame_refuses_what_cannot_be_framed(void **state)
{
	(void)state;
	rms_buf out;
	rms__buf_init(&out);
	rms__buf_puts(&out, "kept");
	const uint8_t x = 0;
	assert_int_equal(rms__enc_frame(&out, (rms_enc_protocol)7, &x, 1, &x, 1, 1),
	                 RMS_E_INVALID_ARG);
	if (SIZE_MAX > UINT32_MAX) {
		/* Refused before anything is read from header. */
		assert_int_equal(rms__enc_frame(&out, RMS_ENC_SPNEGO, &x,
		                                (size_t)((uint64_t)UINT32_MAX + 1), &x, 1, 1),
		                 RMS_E_INVALID_ARG);
		assert_non_null(strstr(last_message(), "does not fit"));
	}
	assert_int_equal(out.len, 4);
	assert_string_equal(out.data, "kept");
	rms__buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names_and_request_header_are_what_pywinrm_sends),
	    cmocka_unit_test(test_every_recorded_body_parses_and_frames_again_byte_for_byte),
	    cmocka_unit_test(test_frame_writes_the_recorded_first_request),
	    cmocka_unit_test(test_frame_then_parse_round_trips_both_protocols_and_sizes),
	    cmocka_unit_test(test_sealed_bytes_that_look_like_framing_are_kept),
	    cmocka_unit_test(test_builder_default_is_what_frame_writes),
	    cmocka_unit_test(test_parse_accepts_what_real_servers_write),
	    cmocka_unit_test(test_truncated_at_every_byte_fails_cleanly),
	    cmocka_unit_test(test_refuses_header_lengths_zero_over_64k_and_past_the_end),
	    cmocka_unit_test(test_refuses_missing_or_malformed_length),
	    cmocka_unit_test(test_refuses_unknown_missing_or_mismatched_protocol),
	    cmocka_unit_test(test_refuses_what_is_not_an_encrypted_body),
	    cmocka_unit_test(test_is_encrypted_reads_the_media_type_only),
	    cmocka_unit_test(test_frame_refuses_what_cannot_be_framed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
