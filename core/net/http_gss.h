/*
 * What an HTTP handle needs around a GSSAPI login (gss.c) and WinRM message
 * encryption (winrm_enc.c), without I/O: reading the server's
 * WWW-Authenticate challenges, the TLS channel binding, and sealing and
 * unsealing whole bodies. http.c runs the exchanges.
 */
#ifndef RMS_CORE_HTTP_GSS_H
#define RMS_CORE_HTTP_GSS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gss.h"
#include "util.h"
#include "winrm_enc.h"

/* The longest channel binding application data: "tls-server-end-point:"
 * and a SHA-512 hash. */
#define RMS_CBT_MAX (21 + 64)

/*
 * challenges holds the values of a response's WWW-Authenticate headers, one
 * per line ("Negotiate", "Kerberos", "Negotiate TlRMTVNT..."). Looks for
 * the given scheme (case-insensitive): *offered says whether the server
 * named it at all, and its token, if it sent one, is decoded into token
 * (cleared first). RMS_E_PROTOCOL (authenticate) when the token is not
 * base64.
 */
int rms__auth_challenge(const char *challenges, const char *scheme, bool *offered,
                        rms_buf *token);

/* The schemes a server offered, "Negotiate, Kerberos", for messages
 * (written into buf, truncated to size; "none" when there were none). */
void rms__auth_offered(const char *challenges, char *buf, size_t size);

/*
 * RFC 5929's tls-server-end-point channel binding for a certificate (DER):
 * "tls-server-end-point:" followed by the certificate's hash with the hash
 * algorithm of its signature, SHA-256 when that is MD5 or SHA-1 (or
 * unknown). Writes at most RMS_CBT_MAX bytes to out; returns the length,
 * or 0 when the certificate cannot be read.
 */
size_t rms__cbt_from_der(const uint8_t *der, size_t der_len, uint8_t *out);

/* Seal plain[0..len) with the login and frame it for protocol p into wire
 * (cleared first). */
int rms__seal_body(rms_gss *g, rms_enc_protocol p, const char *plain, size_t len,
                   rms_buf *wire);

/*
 * Take apart and unseal an encrypted answer into plain (cleared first),
 * checking that the plaintext is as long as OriginalContent says.
 * RMS_E_PROTOCOL (decode) with what was wrong.
 */
int rms__unseal_body(rms_gss *g, const char *content_type, const char *body, size_t len,
                     rms_buf *plain);

#endif
