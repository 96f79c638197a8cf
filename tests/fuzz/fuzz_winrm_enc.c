/* WinRM encrypted bodies (core/net/winrm_enc.c): the input's first line is
 * the response's Content-Type, the rest the body (an exact-size copy, so a
 * read past its end is caught). Every body that parses is framed again and
 * must parse to the same part. */
#include "fuzz_common.h"
#include "winrm_enc.h"

static bool inside(const uint8_t *p, size_t n, const char *body, size_t len)
{
	const uint8_t *b = (const uint8_t *)body;
	return n == 0 || (p >= b && p <= b + len && n <= (size_t)(b + len - p));
}

static void round_trip(const rms_enc_part *p)
{
	rms_buf b;
	rms__buf_init(&b);
	if (rms__enc_frame(&b, p->protocol, p->header, p->header_len, p->sealed, p->sealed_len,
	                   p->length))
		abort();
	/* The request header line less its "Content-Type: ". */
	const char *ct = rms__enc_content_type_header(p->protocol) + 14;
	rms_enc_part q;
	if (rms__enc_parse(ct, b.data, b.len, &q))
		abort();
	if (q.protocol != p->protocol || q.length != p->length || q.header_len != p->header_len ||
	    memcmp(q.header, p->header, p->header_len))
		abort();
	/* No line end is written before the closing boundary, so a payload
	 * that ends in one and is not Length bytes long reads back without
	 * it (winrm_enc.h); everything else must come back exactly. */
	bool ambiguous =
	    p->sealed_len != p->length && p->sealed_len && p->sealed[p->sealed_len - 1] == '\n';
	size_t lost = p->sealed_len - q.sealed_len;
	if (q.sealed_len > p->sealed_len || (lost && !ambiguous) || lost > 2 ||
	    (q.sealed_len && memcmp(q.sealed, p->sealed, q.sealed_len)))
		abort();
	rms__buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t ct_len = nl ? (size_t)(nl - data) : size;
	char *ct = fuzz_cstr(data, ct_len > 0 && data[ct_len - 1] == '\r' ? ct_len - 1 : ct_len);
	size_t len = nl ? size - ct_len - 1 : 0;
	char *body = malloc(len ? len : 1);
	if (!body)
		abort();
	if (len)
		memcpy(body, nl + 1, len);

	rms_enc_part p;
	int rc = rms__enc_parse(ct, body, len, &p);
	if (rc == 0) {
		if (!rms__enc_is_encrypted(ct) || p.header_len == 0 || p.header_len > 65536 ||
		    p.length > 2147483648u || !inside(p.header, p.header_len, body, len) ||
		    !inside(p.sealed, p.sealed_len, body, len) ||
		    p.sealed != p.header + p.header_len)
			abort();
		round_trip(&p);
	} else if (rc != RMS_E_PROTOCOL) {
		abort();
	}
	free(body);
	free(ct);
	fuzz_done();
	return 0;
}
