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
	return c == ' ' || c == '\t';
}

/* The scheme of one challenge line and where its parameters start. */
static size_t scheme_len(const char *line, size_t len)
{
	size_t n = 0;
	while (n < len && !is_space(line[n]) && line[n] != ',')
		n++;
	return n;
}

int rms__auth_challenge(const char *challenges, const char *scheme, bool *offered,
                        rms_buf *token)
{
	*offered = false;
	token->len = 0;
	if (token->data)
		token->data[0] = '\0';
	size_t want = strlen(scheme);
	for (const char *p = challenges ? challenges : ""; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		size_t n = scheme_len(p, len);
		if (n == want && strncasecmp(p, scheme, n) == 0) {
			*offered = true;
			size_t i = n;
			while (i < len && is_space(p[i]))
				i++;
			size_t end = len;
			while (end > i && (is_space(p[end - 1]) || p[end - 1] == '\r'))
				end--;
			if (end > i) {
				unsigned char *raw = NULL;
				size_t raw_len = 0;
				if (rms__base64_decode(&raw, &raw_len, p + i, end - i))
					return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_AUTHENTICATE,
					                      "the server's %s token (WWW-Authenticate) "
					                      "is not base64",
					                      scheme);
				int rc = rms__buf_append(token, raw, raw_len);
				free(raw);
				return rc;
			}
		}
		p = nl ? nl + 1 : p + len;
	}
	return 0;
}

void rms__auth_offered(const char *challenges, char *buf, size_t size)
{
	size_t used = 0;
	buf[0] = '\0';
	for (const char *p = challenges ? challenges : ""; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		size_t n = scheme_len(p, len);
		if (n) {
			int w = snprintf(buf + used, size - used, "%s%.*s", used ? ", " : "", (int)n, p);
			if (w < 0 || (size_t)w >= size - used)
				break;
			used += (size_t)w;
		}
		p = nl ? nl + 1 : p + len;
	}
	if (!used)
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
