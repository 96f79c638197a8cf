/*
 * Challenges, channel bindings and whole-body sealing for an HTTP handle's
 * GSSAPI login; the contract is in http_gss.h.
 */
#include "http_gss.h"

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error_internal.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/*
 * The challenges of the header values, one value per line, each value
 * possibly several challenges joined with commas (a proxy may fold
 * "Negotiate tok, Basic realm=\"x\"" into one header). Calls fn with each
 * challenge's scheme and the text after it (a token or auth-params), or
 * stops at the first non-zero return. A piece whose first word has '=' in
 * it is a parameter of the challenge before it, not a scheme.
 */
typedef int (*challenge_fn)(const char *scheme, size_t scheme_len, const char *rest,
                            size_t rest_len, void *ud);

static int each_challenge(const char *challenges, challenge_fn fn, void *ud)
{
	for (const char *p = challenges ? challenges : ""; *p;) {
		const char *nl = strchr(p, '\n');
		const char *end = nl ? nl : p + strlen(p);
		const char *c = p;
		while (c < end) {
			/* One piece: up to a comma outside quotes. */
			const char *q = c;
			bool quoted = false;
			while (q < end && (quoted || *q != ',')) {
				if (*q == '"')
					quoted = !quoted;
				else if (*q == '\\' && quoted && q + 1 < end)
					q++;
				q++;
			}
			const char *w = c;
			while (w < q && is_space(*w))
				w++;
			const char *we = w;
			while (we < q && !is_space(*we))
				we++;
			if (we > w && !memchr(w, '=', (size_t)(we - w))) {
				const char *r = we;
				while (r < q && is_space(*r))
					r++;
				const char *re = q;
				while (re > r && is_space(re[-1]))
					re--;
				int rc = fn(w, (size_t)(we - w), r, (size_t)(re - r), ud);
				if (rc)
					return rc;
			}
			c = q < end ? q + 1 : end;
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

/* RFC 7235's token68: base64-ish characters, '=' only at the end. A
 * token that is not base64 is still one, and refused when decoded. */
static bool is_token68(const char *t, size_t len)
{
	size_t i = 0;
	while (i < len && t[i] != '=' && t[i] != '"' && !is_space(t[i]))
		i++;
	while (i < len && t[i] == '=')
		i++;
	return i == len;
}

struct find {
	const char *scheme;
	bool *offered;
	rms_buf *token;
};

static int find_scheme(const char *scheme, size_t scheme_len, const char *rest, size_t rest_len,
                       void *ud)
{
	struct find *f = ud;
	if (scheme_len != strlen(f->scheme) || strncasecmp(scheme, f->scheme, scheme_len) != 0)
		return 0;
	*f->offered = true;
	/* A bare scheme offers it; with a token, that token is the answer
	 * (only the first counts); auth-params (realm="x") carry none. */
	if (rest_len && is_token68(rest, rest_len)) {
		unsigned char *raw = NULL;
		size_t raw_len = 0;
		if (rms__base64_decode(&raw, &raw_len, rest, rest_len))
			return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_AUTHENTICATE,
			                      "the server's %s token (WWW-Authenticate) is not base64",
			                      f->scheme);
		int rc = raw_len && rms__buf_append(f->token, raw, raw_len) ? rms__error_nomem() : 0;
		free(raw);
		return rc ? rc : 1; /* found: stop */
	}
	return 0; /* auth-params (realm="x"): no token */
}

int rms__auth_challenge(const char *challenges, const char *scheme, bool *offered,
                        rms_buf *token)
{
	*offered = false;
	token->len = 0;
	token->failed = false;
	if (token->data)
		token->data[0] = '\0';
	struct find f = {scheme, offered, token};
	int rc = each_challenge(challenges, find_scheme, &f);
	return rc > 0 ? 0 : rc;
}

struct offered {
	char *buf;
	size_t size, used;
};

static int list_scheme(const char *scheme, size_t scheme_len, const char *rest, size_t rest_len,
                       void *ud)
{
	(void)rest, (void)rest_len;
	struct offered *o = ud;
	int w = snprintf(o->buf + o->used, o->size - o->used, "%s%.*s", o->used ? ", " : "",
	                 (int)scheme_len, scheme);
	if (w < 0 || (size_t)w >= o->size - o->used) {
		o->buf[o->used] = '\0';
		return 1;
	}
	o->used += (size_t)w;
	return 0;
}

void rms__auth_offered(const char *challenges, char *buf, size_t size)
{
	struct offered o = {buf, size, 0};
	buf[0] = '\0';
	each_challenge(challenges, list_scheme, &o);
	if (!o.used)
		snprintf(buf, size, "none");
}

size_t rms__cbt_from_der(const uint8_t *der, size_t der_len, uint8_t *out)
{
	const unsigned char *p = der;
	X509 *cert = d2i_X509(NULL, &p, (long)der_len);
	if (!cert)
		return 0;
	int md_nid = NID_undef;
	if (!OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md_nid, NULL))
		md_nid = NID_undef;
	/* RFC 5929 4.1: MD5 and SHA-1 (and what we cannot tell) become
	 * SHA-256. */
	const EVP_MD *md = NULL;
	if (md_nid != NID_undef && md_nid != NID_md5 && md_nid != NID_sha1)
		md = EVP_get_digestbynid(md_nid);
	if (!md)
		md = EVP_sha256();
	static const char prefix[] = "tls-server-end-point:";
	size_t plen = sizeof prefix - 1;
	unsigned int hlen = 0;
	unsigned char hash[EVP_MAX_MD_SIZE];
	size_t n = 0;
	if (X509_digest(cert, md, hash, &hlen) && plen + hlen <= RMS_CBT_MAX) {
		memcpy(out, prefix, plen);
		memcpy(out + plen, hash, hlen);
		n = plen + hlen;
	}
	X509_free(cert);
	return n;
}

int rms__seal_body(rms_gss *g, rms_enc_protocol p, const char *plain, size_t len,
                   rms_buf *wire)
{
	rms_buf header, sealed;
	rms__buf_init(&header);
	rms__buf_init(&sealed);
	wire->len = 0;
	size_t length = 0;
	int rc = rms__gss_wrap(g, (const uint8_t *)plain, len, &header, &sealed, &length);
	if (!rc)
		rc = rms__enc_frame(wire, p, (const uint8_t *)header.data, header.len,
		                    (const uint8_t *)sealed.data, sealed.len, length);
	rms__buf_free(&header);
	rms__buf_free(&sealed);
	return rc;
}

int rms__unseal_body(rms_gss *g, const char *content_type, const char *body, size_t len,
                     rms_buf *plain)
{
	rms_enc_part part;
	plain->len = 0;
	int rc = rms__enc_parse(content_type, body, len, &part);
	if (rc)
		return rc;
	if ((rc = rms__gss_unwrap(g, part.header, part.header_len, part.sealed, part.sealed_len,
	                          plain)))
		return rc;
	/* Kerberos' Length counts the padding the unwrap took off. */
	if (plain->len != part.length && !(rms__gss_is_kerberos(g) && plain->len < part.length &&
	                                   part.length - plain->len < 64))
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "an encrypted answer unsealed to %zu bytes where its "
		                      "OriginalContent says Length=%zu",
		                      plain->len, part.length);
	return 0;
}
