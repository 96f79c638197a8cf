/*
 * The security context of a WinRM login through GSSAPI: Kerberos and SPNEGO
 * from MIT krb5, NTLM from gss-ntlmssp. remsess writes nothing of NTLM or
 * Kerberos itself; this module picks the mechanism, acquires the
 * credentials, runs the token exchange one leg at a time (tokens in, tokens
 * out: the HTTP handshake around it is http.c's), and seals and unseals
 * message bodies for WinRM's message encryption (MS-WSMV 2.2.9.1).
 *
 * The credentials are acquired once per session (rms_gss_cred) and kept: a
 * new connection (after a drop, or each CIM operation) starts a new context
 * with them, and Kerberos service tickets stay in the credential's cache,
 * so only the first login talks to the KDC.
 *
 * I/O: GSSAPI has no non-blocking interface. Acquiring Kerberos credentials
 * with a password (the AS exchange) and the first context for a service
 * (the TGS exchange) talk to the KDC from inside the call, bounded by
 * krb5's own timeouts; NTLM and every later step are local computations.
 */
#ifndef RMS_CORE_GSS_H
#define RMS_CORE_GSS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "remsess/options.h"
#include "util.h"

typedef struct rms_gss rms_gss;

/*
 * The credentials of a session, shared by every login it makes: the CIM
 * backend logs in on each operation's connection, and must not pay (nor
 * make the KDC pay) a new password login each time. Reference-counted;
 * filled by the first login that acquires them. A session owns one and
 * hands it to each HTTP handle it makes (rms_http_config.cred).
 */
typedef struct rms_gss_cred rms_gss_cred;
/* A new, empty holder with one reference; NULL when out of memory. */
rms_gss_cred *rms__gss_cred_new(void);
/* Another reference to c (NULL stays NULL). */
rms_gss_cred *rms__gss_cred_ref(rms_gss_cred *c);
/* Drop a reference; the last one releases the credentials and destroys the
 * memory ticket cache a keytab login filled. Accepts NULL. */
void rms__gss_cred_unref(rms_gss_cred *c);

typedef struct rms_gss_config {
	rms_auth auth;           /* RMS_AUTH_NTLM, _NEGOTIATE or _KERBEROS */
	const char *user;        /* NULL: the default credentials (the cache in
	                            KRB5CCNAME, or the keytab below) */
	const char *password;    /* with user: acquired with the password */
	const char *keytab;      /* client keytab for Kerberos; NULL: none */
	const char *spn_service; /* NULL: "HTTP" */
	const char *spn_host;    /* the host part of the service principal */
	bool delegate;           /* ask for a forwardable ticket (second hop) */
	const rms_logger *log;   /* may be NULL */
	rms_gss_cred *cred;      /* the session's shared credentials; NULL: the
	                            handle's own (borrowed: a reference is taken) */
} rms_gss_config;

/* Copies what it needs; acquires nothing yet. RMS_E_OPTIONS for an auth
 * that is not a GSSAPI one, RMS_E_NOMEM. */
int rms__gss_new(rms_gss **out, const rms_gss_config *cfg);
void rms__gss_free(rms_gss *g);

/*
 * Start a new context (dropping the one before, if any) for a new
 * connection. cbt[0..cbt_len) is the channel binding's application data
 * ("tls-server-end-point:" and the certificate's hash) over HTTPS; NULL
 * over HTTP. Acquires the credentials the first time (Kerberos with a
 * password: an AS exchange with the KDC). Errors: RMS_E_AUTH with phase
 * authenticate and a message a person can act on (wrong password, unknown
 * user, KDC unreachable, no credential cache, ...).
 */
int rms__gss_begin(rms_gss *g, const uint8_t *cbt, size_t cbt_len);

/*
 * One leg of the exchange: in[0..in_len) is the server's token (NULL, 0 for
 * the first leg); the token to send, possibly empty, is appended to out.
 * *done is set once the context is established (the server's last token,
 * Kerberos' mutual authentication, checked). Errors: RMS_E_AUTH
 * (authenticate), with the service principal named when the KDC does not
 * know it.
 */
int rms__gss_step(rms_gss *g, const uint8_t *in, size_t in_len, rms_buf *out, bool *done);

/* Whether a context is established (begun and every leg done). */
bool rms__gss_established(const rms_gss *g);
/* Whether the established context is Kerberos (also under SPNEGO): its
 * wrap has a header, data and padding; NTLM's a 16-byte signature. */
bool rms__gss_is_kerberos(const rms_gss *g);
/* The HTTP authentication scheme: "Kerberos" for RMS_AUTH_KERBEROS,
 * else "Negotiate" (NTLM travels as raw NTLMSSP tokens in it). */
const char *rms__gss_scheme(const rms_gss *g);
/* The service principal in use, "HTTP/host" (for messages). */
const char *rms__gss_spn(const rms_gss *g);

/*
 * Seal plain[0..len) with the established context. The header (signature
 * or token header) goes to header, the sealed bytes to sealed (both
 * cleared first); *length is what OriginalContent's Length must say (len
 * plus any Kerberos padding). RMS_E_STATE without a context, RMS_E_AUTH
 * (send) when GSSAPI refuses.
 */
int rms__gss_wrap(rms_gss *g, const uint8_t *plain, size_t len, rms_buf *header, rms_buf *sealed,
                  size_t *length);
/*
 * Unseal header||sealed into plain (cleared first, NUL-terminated).
 * RMS_E_PROTOCOL (decode) when the check fails or the message is out of
 * sequence: never retried as plaintext.
 */
int rms__gss_unwrap(rms_gss *g, const uint8_t *header, size_t header_len, const uint8_t *sealed,
                    size_t sealed_len, rms_buf *plain);

#endif
