/*
 * WinRM message encryption over HTTP (MS-WSMV 2.2.9.1): the multipart
 * framing of a sealed SOAP body, in both directions. Bytes in, bytes out;
 * no I/O and no cryptography (the sealing belongs to GSSAPI, gss.c).
 *
 * A framed body, exactly as Windows, pywinrm and pypsrp write it:
 *
 *   --Encrypted Boundary\r\n
 *   \tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n
 *   \tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=N\r\n
 *   --Encrypted Boundary\r\n
 *   \tContent-Type: application/octet-stream\r\n
 *   <uint32 LE header length><header><sealed payload>--Encrypted Boundary--\r\n
 *
 * with the request's Content-Type
 *   multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"
 * (HTTP-Kerberos-session-encrypted after a login with the Kerberos HTTP
 * scheme). N is the plaintext's length (with Kerberos, plus any padding).
 */
#ifndef RMS_CORE_WINRM_ENC_H
#define RMS_CORE_WINRM_ENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef enum rms_enc_protocol {
	RMS_ENC_SPNEGO = 0,   /* application/HTTP-SPNEGO-session-encrypted */
	RMS_ENC_KERBEROS = 1, /* application/HTTP-Kerberos-session-encrypted */
} rms_enc_protocol;

/* "application/HTTP-SPNEGO-session-encrypted" or the Kerberos one. */
const char *rms__enc_protocol_name(rms_enc_protocol p);

/* The whole request header line, "Content-Type: multipart/encrypted;..."
 * (static storage). */
const char *rms__enc_content_type_header(rms_enc_protocol p);

/*
 * Append the framed body to out: header[0..header_len) is what GSSAPI put
 * before the sealed bytes (the 16-byte NTLM signature, the Kerberos wrap
 * token header), sealed[0..sealed_len) the sealed payload, plain_len the
 * OriginalContent Length. Returns 0, RMS_E_NOMEM (out left as it was), or
 * RMS_E_INVALID_ARG when header_len does not fit in 32 bits or p is not a
 * protocol.
 */
int rms__enc_frame(rms_buf *out, rms_enc_protocol p, const uint8_t *header, size_t header_len,
                   const uint8_t *sealed, size_t sealed_len, size_t plain_len);

/* One framed body taken apart; the pointers point into the parsed body. */
typedef struct rms_enc_part {
	rms_enc_protocol protocol;
	size_t length;          /* OriginalContent's Length= */
	const uint8_t *header;  /* after the 4-byte length */
	size_t header_len;
	const uint8_t *sealed;  /* up to the closing boundary */
	size_t sealed_len;
} rms_enc_part;

/*
 * Whether a response's Content-Type value (as the server sent it, any case,
 * any spacing, quoted or not) is multipart/encrypted. NULL: no.
 */
bool rms__enc_is_encrypted(const char *content_type);

/*
 * Take a framed body apart. content_type is the response's Content-Type
 * value (it must be multipart/encrypted; its protocol and boundary
 * parameters are read from it, the boundary defaulting to "Encrypted
 * Boundary"), body[0..len) the body. Accepts what real servers write:
 * either protocol, CRLF or LF line ends, headers with or without the
 * leading tab, a space after "--" before the boundary (Exchange), a CRLF
 * or none before the closing boundary, and a missing closing boundary's
 * trailing CRLF. (A payload that ends in CRLF is ambiguous: those two
 * bytes count as sealed only when that makes sealed_len equal Length, as
 * it is for NTLM and Kerberos.) Refuses, with RMS_E_PROTOCOL,
 * RMS_PHASE_DECODE and a message saying what was wrong: a missing or unknown protocol, a missing
 * boundary line or part header, a missing or malformed Length (not
 * decimal, more than 2^31), a header length field that runs past the body
 * or is 0 or over 64 KiB, no closing boundary, a protocol in the body that
 * differs from the Content-Type's. Every length is checked against the
 * body; nothing is read outside body[0..len).
 */
int rms__enc_parse(const char *content_type, const char *body, size_t len, rms_enc_part *out);

#endif
