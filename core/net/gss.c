/*
 * GSSAPI security contexts for WinRM logins; the contract is in gss.h.
 */
#include "gss.h"

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5/krb5.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error_internal.h"

/* Mechanism OIDs (DER contents). */
static gss_OID_desc krb5_oid = {9, (void *)"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"};
static gss_OID_desc spnego_oid = {6, (void *)"\x2b\x06\x01\x05\x05\x02"};
static gss_OID_desc ntlm_oid = {10, (void *)"\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a"};

struct rms_gss_cred {
	atomic_uint refs;
	gss_cred_id_t cred; /* GSS_C_NO_CREDENTIAL until acquired */
	bool have;
	char ccache[96];    /* the memory cache a keytab login fills; "" none */
};

rms_gss_cred *rms__gss_cred_new(void)
{
	rms_gss_cred *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	atomic_init(&c->refs, 1);
	c->cred = GSS_C_NO_CREDENTIAL;
	return c;
}

rms_gss_cred *rms__gss_cred_ref(rms_gss_cred *c)
{
	if (c)
		atomic_fetch_add(&c->refs, 1);
	return c;
}

/* A memory cache lives until it is destroyed, whoever resolves its name. */
static void destroy_ccache(const char *name)
{
	krb5_context k = NULL;
	krb5_ccache cc = NULL;
	if (!*name || krb5_init_context(&k))
		return;
	if (!krb5_cc_resolve(k, name, &cc))
		krb5_cc_destroy(k, cc);
	krb5_free_context(k);
}

void rms__gss_cred_unref(rms_gss_cred *c)
{
	if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	OM_uint32 minor;
	if (c->cred != GSS_C_NO_CREDENTIAL)
		gss_release_cred(&minor, &c->cred);
	destroy_ccache(c->ccache);
	free(c);
}

struct rms_gss {
	rms_auth auth;
	char *user;
	char *password;
	char *keytab;
	char *spn;       /* service@host, as GSSAPI imports it */
	char *spn_shown; /* service/host, as Kerberos and Windows write it */
	bool delegate;
	const rms_logger *log;

	rms_gss_cred *cred; /* the session's, or the handle's own */
	gss_name_t target;
	gss_ctx_id_t ctx;
	gss_channel_bindings_t cbt;
	uint8_t *cbt_data;
	bool established;
	bool kerberos; /* the established context's mechanism is krb5 */
	OM_uint32 flags;
};

static gss_OID mech_oid(rms_auth a)
{
	switch (a) {
	case RMS_AUTH_NTLM:
		return &ntlm_oid;
	case RMS_AUTH_KERBEROS:
		return &krb5_oid;
	default:
		return &spnego_oid;
	}
}

static bool oid_equal(gss_const_OID a, gss_const_OID b)
{
	return a && b && a->length == b->length && memcmp(a->elements, b->elements, a->length) == 0;
}

/* ---- what went wrong, in words ------------------------------------------ */

/* GSSAPI's own text for a status code of one kind, appended to b. */
static void display_status(rms_buf *b, OM_uint32 code, int type, gss_OID mech)
{
	OM_uint32 more = 0, minor;
	do {
		gss_buffer_desc text = GSS_C_EMPTY_BUFFER;
		if (gss_display_status(&minor, code, type, mech, &more, &text) != GSS_S_COMPLETE)
			break;
		if (b->len)
			rms__buf_append(b, "; ", 2);
		rms__buf_append(b, text.value, text.length);
		gss_release_buffer(&minor, &text);
	} while (more);
}

/* What a token of the server's that fails its check means: the login's
 * mutual authentication failed. */
static const char *bad_answer(const rms_gss *g, char *tmp, size_t tmpsize)
{
	snprintf(tmp, tmpsize,
	         "the server's answer to the login did not pass its check, so the server "
	         "was not proven to be %s (mutual authentication failed: the answer was "
	         "damaged on the way, or comes from a server without that principal's key)",
	         g->spn_shown);
	return tmp;
}

static const char *wrong_password(const rms_gss *g, char *tmp, size_t tmpsize)
{
	snprintf(tmp, tmpsize, "the KDC refused the password of '%s' (wrong password)",
	         g->user ? g->user : "the default principal");
	return tmp;
}

/* A sentence a person can act on, for the minor codes that have one.
 * answer: the failure came from reading a token of the server's (where an
 * integrity failure is the server's, not the password's). */
static const char *advice(const rms_gss *g, OM_uint32 major, OM_uint32 minor, bool answer,
                          char *tmp, size_t tmpsize)
{
	switch ((krb5_error_code)minor) {
	case KRB5KRB_AP_ERR_MODIFIED:
		if (answer)
			return bad_answer(g, tmp, tmpsize);
		break;
	case KRB5KRB_AP_ERR_BAD_INTEGRITY:
		/* Reading the server's token, the server's key failed; before
		 * that, the KDC's reply did not decrypt with the password. */
		return answer ? bad_answer(g, tmp, tmpsize) : wrong_password(g, tmp, tmpsize);
	case KRB5KDC_ERR_PREAUTH_FAILED:
		return wrong_password(g, tmp, tmpsize);
	case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN:
		snprintf(tmp, tmpsize, "the KDC does not know the user '%s' (check the name and "
		         "its realm, user@REALM)", g->user ? g->user : "");
		return tmp;
	case KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN:
		snprintf(tmp, tmpsize,
		         "the KDC has no service principal %s: set spn_host to the name the "
		         "host is registered under (an IP address or a DNS alias is rarely "
		         "one), or spn_service",
		         g->spn_shown);
		return tmp;
	case KRB5KRB_AP_ERR_SKEW:
	case KRB5_KDCREP_SKEW:
		return "the clocks of this machine, the KDC and the server differ by more than "
		       "Kerberos allows (5 minutes by default): synchronise them";
	case KRB5KRB_AP_ERR_TKT_EXPIRED:
	case KRB5KDC_ERR_TGT_REVOKED:
		return "the Kerberos ticket has expired: renew it (kinit) or log in with a password";
	case KRB5KDC_ERR_KEY_EXP:
		return "the user's password has expired: change it";
	case KRB5KDC_ERR_CLIENT_REVOKED:
		return "the user's account is disabled or locked";
	case KRB5_KDC_UNREACH:
		return "no KDC of the realm answered (check the realm's kdc entries in krb5.conf "
		       "or DNS, and that port 88 is reachable)";
	case KRB5_REALM_UNKNOWN:
	case KRB5_REALM_CANT_RESOLVE:
		return "the realm is unknown to this machine's Kerberos configuration (krb5.conf)";
	case KRB5_FCC_NOFILE:
	case KRB5_CC_NOTFOUND:
	case KRB5_CC_NOSUPP:
		return "there is no Kerberos ticket to use: give a password, a keytab, or run "
		       "kinit (KRB5CCNAME names the cache)";
	default:
		break;
	}
	switch (GSS_ROUTINE_ERROR(major)) {
	case GSS_S_NO_CRED:
		return "no usable credentials for this mechanism";
	case GSS_S_CREDENTIALS_EXPIRED:
		return "the credentials have expired";
	case GSS_S_BAD_MECH:
		return "this machine's GSSAPI lacks the mechanism (NTLM needs the gss-ntlmssp "
		       "package)";
	case GSS_S_DEFECTIVE_TOKEN:
	case GSS_S_BAD_SIG:
		return answer ? bad_answer(g, tmp, tmpsize) : "the server's token is not valid for "
		                                              "this login";
	default:
		/* SPNEGO reports its mechanism's integrity failure as a plain
		 * GSS_S_FAILURE with a minor code of its own. */
		return answer && GSS_ROUTINE_ERROR(major) == GSS_S_FAILURE &&
		               (krb5_error_code)minor != KRB5KRB_AP_ERR_SKEW
		           ? bad_answer(g, tmp, tmpsize)
		           : NULL;
	}
}

static int gss_fail_as(const rms_gss *g, int code, rms_phase phase, const char *during,
                       OM_uint32 major, OM_uint32 minor, gss_OID mech, bool answer)
{
	rms_buf b, m;
	rms__buf_init(&b);
	rms__buf_init(&m);
	if (minor)
		display_status(&m, minor, GSS_C_MECH_CODE, mech);
	/* GSS_S_FAILURE's own text only says to look at the minor code. */
	if (!m.len || GSS_ROUTINE_ERROR(major) != GSS_S_FAILURE)
		display_status(&b, major, GSS_C_GSS_CODE, GSS_C_NO_OID);
	if (m.len) {
		if (b.len)
			rms__buf_append(&b, ": ", 2);
		rms__buf_append(&b, m.data, m.len);
	}
	rms__buf_free(&m);
	char tmp[512];
	const char *why = advice(g, major, minor, answer, tmp, sizeof tmp);
	int rc = rms__error_set(code, phase, "%s %s failed%s%s (GSSAPI: %s)", rms_auth_name(g->auth),
	                        during, why ? ": " : "", why ? why : "",
	                        b.len ? b.data : "no detail");
	rms__buf_free(&b);
	return rc;
}

static int gss_fail(const rms_gss *g, int code, rms_phase phase, const char *during,
                    OM_uint32 major, OM_uint32 minor, gss_OID mech)
{
	return gss_fail_as(g, code, phase, during, major, minor, mech, false);
}

/* ---- set-up -------------------------------------------------------------- */

int rms__gss_new(rms_gss **out, const rms_gss_config *cfg)
{
	*out = NULL;
	if (cfg->auth != RMS_AUTH_NTLM && cfg->auth != RMS_AUTH_NEGOTIATE &&
	    cfg->auth != RMS_AUTH_KERBEROS)
		return rms__error_field(RMS_E_OPTIONS, "auth", "%s is not a GSSAPI mechanism",
		                        rms_auth_name(cfg->auth));
	if (!cfg->spn_host || !*cfg->spn_host)
		return rms__error_field(RMS_E_OPTIONS, "spn_host",
		                        "no host name for the service principal");
	rms_gss *g = calloc(1, sizeof *g);
	if (!g)
		return rms__error_nomem();
	g->auth = cfg->auth;
	g->user = rms__strdup(cfg->user);
	g->password = rms__strdup(cfg->password);
	g->keytab = rms__strdup(cfg->keytab);
	g->spn = rms__asprintf("%s@%s", cfg->spn_service && *cfg->spn_service ? cfg->spn_service
	                                                                      : "HTTP",
	                       cfg->spn_host);
	g->spn_shown = g->spn ? rms__strdup(g->spn) : NULL;
	if (g->spn_shown)
		*strchr(g->spn_shown, '@') = '/';
	g->delegate = cfg->delegate;
	g->log = cfg->log;
	g->cred = cfg->cred ? rms__gss_cred_ref(cfg->cred) : rms__gss_cred_new();
	g->target = GSS_C_NO_NAME;
	g->ctx = GSS_C_NO_CONTEXT;
	if ((cfg->user && !g->user) || (cfg->password && !g->password) ||
	    (cfg->keytab && !g->keytab) || !g->spn || !g->spn_shown || !g->cred) {
		rms__gss_free(g);
		return rms__error_nomem();
	}
	*out = g;
	return 0;
}

static void drop_context(rms_gss *g)
{
	OM_uint32 minor;
	if (g->ctx != GSS_C_NO_CONTEXT)
		gss_delete_sec_context(&minor, &g->ctx, GSS_C_NO_BUFFER);
	g->ctx = GSS_C_NO_CONTEXT;
	free(g->cbt);
	free(g->cbt_data);
	g->cbt = NULL;
	g->cbt_data = NULL;
	g->established = false;
	g->kerberos = false;
	g->flags = 0;
}

void rms__gss_free(rms_gss *g)
{
	if (!g)
		return;
	OM_uint32 minor;
	drop_context(g);
	rms__gss_cred_unref(g->cred);
	if (g->target != GSS_C_NO_NAME)
		gss_release_name(&minor, &g->target);
	free(g->user);
	rms__free_secret(g->password);
	free(g->keytab);
	free(g->spn);
	free(g->spn_shown);
	free(g);
}

/* The mechanisms whose credentials a login needs: SPNEGO's are those of
 * the mechanisms it negotiates. */
static int mech_set(rms_gss *g, gss_OID_set *set)
{
	OM_uint32 minor;
	OM_uint32 major = gss_create_empty_oid_set(&minor, set);
	if (major == GSS_S_COMPLETE)
		major = gss_add_oid_set_member(&minor, mech_oid(g->auth), set);
	if (major != GSS_S_COMPLETE) {
		gss_release_oid_set(&minor, set);
		return rms__error_nomem();
	}
	return 0;
}

static int import_user(rms_gss *g, gss_name_t *name)
{
	OM_uint32 minor;
	gss_buffer_desc b = {strlen(g->user), g->user};
	OM_uint32 major = gss_import_name(&minor, &b, GSS_C_NT_USER_NAME, name);
	if (major != GSS_S_COMPLETE)
		return gss_fail(g, RMS_E_AUTH, RMS_PHASE_AUTHENTICATE, "login: the user name",
		                major, minor, GSS_C_NO_OID);
	return 0;
}

/* Unique within the process (a freed handle's address may come back). */
static atomic_uint ccache_serial;

static int acquire(rms_gss *g)
{
	rms_gss_cred *c = g->cred;
	if (c->have)
		return 0;
	OM_uint32 minor, major;
	gss_OID_set mechs = GSS_C_NO_OID_SET;
	gss_name_t name = GSS_C_NO_NAME;
	int rc = mech_set(g, &mechs);
	if (!rc && g->user)
		rc = import_user(g, &name);
	if (rc) {
		gss_release_oid_set(&minor, &mechs);
		return rc;
	}
	const char *how;
	if (g->password && g->user) {
		how = "login with the password";
		gss_buffer_desc pw = {strlen(g->password), g->password};
		major = gss_acquire_cred_with_password(&minor, name, &pw, GSS_C_INDEFINITE, mechs,
		                                       GSS_C_INITIATE, &c->cred, NULL, NULL);
	} else if (g->keytab) {
		how = "login with the keytab";
		/* The tickets go to a memory cache of this handle's own, never
		 * to the user's. */
		snprintf(c->ccache, sizeof c->ccache, "MEMORY:remsess-%ld-%u", (long)getpid(),
		         atomic_fetch_add(&ccache_serial, 1));
		gss_key_value_element_desc kv[] = {{"client_keytab", g->keytab},
		                                   {"ccache", c->ccache}};
		gss_key_value_set_desc store = {2, kv};
		major = gss_acquire_cred_from(&minor, name, GSS_C_INDEFINITE, mechs, GSS_C_INITIATE,
		                              &store, &c->cred, NULL, NULL);
	} else {
		/* The credential cache (KRB5CCNAME): its principal, or the
		 * user's when one is named. */
		how = "login with the credential cache";
		major = gss_acquire_cred(&minor, name, GSS_C_INDEFINITE, mechs, GSS_C_INITIATE,
		                         &c->cred, NULL, NULL);
	}
	/* minor is the failure's: released things report elsewhere. */
	OM_uint32 m2;
	gss_release_oid_set(&m2, &mechs);
	if (name != GSS_C_NO_NAME)
		gss_release_name(&m2, &name);
	if (major != GSS_S_COMPLETE) {
		c->cred = GSS_C_NO_CREDENTIAL;
		destroy_ccache(c->ccache);
		c->ccache[0] = '\0';
		return gss_fail(g, RMS_E_AUTH, RMS_PHASE_AUTHENTICATE, how, major, minor,
		                mech_oid(g->auth));
	}
	c->have = true;
	rms__log(g->log, RMS_LOG_DEBUG, "%s credentials acquired (%s)", rms_auth_name(g->auth),
	         how);
	return 0;
}

int rms__gss_begin(rms_gss *g, const uint8_t *cbt, size_t cbt_len)
{
	drop_context(g);
	int rc = acquire(g);
	if (rc)
		return rc;
	OM_uint32 minor, major;
	if (g->target == GSS_C_NO_NAME) {
		gss_buffer_desc b = {strlen(g->spn), g->spn};
		major = gss_import_name(&minor, &b, GSS_C_NT_HOSTBASED_SERVICE, &g->target);
		if (major != GSS_S_COMPLETE) {
			g->target = GSS_C_NO_NAME;
			return gss_fail(g, RMS_E_AUTH, RMS_PHASE_AUTHENTICATE,
			                "login: the service principal name", major, minor,
			                GSS_C_NO_OID);
		}
	}
	if (cbt && cbt_len) {
		g->cbt = calloc(1, sizeof *g->cbt);
		g->cbt_data = malloc(cbt_len);
		if (!g->cbt || !g->cbt_data) {
			drop_context(g);
			return rms__error_nomem();
		}
		memcpy(g->cbt_data, cbt, cbt_len);
		g->cbt->initiator_addrtype = GSS_C_AF_UNSPEC;
		g->cbt->acceptor_addrtype = GSS_C_AF_UNSPEC;
		g->cbt->application_data.length = cbt_len;
		g->cbt->application_data.value = g->cbt_data;
	}
	return 0;
}

int rms__gss_step(rms_gss *g, const uint8_t *in, size_t in_len, rms_buf *out, bool *done)
{
	*done = false;
	if (g->established)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_AUTHENTICATE,
		                      "the %s login is already complete", rms_auth_name(g->auth));
	OM_uint32 minor, major, ret_flags = 0;
	OM_uint32 req = GSS_C_MUTUAL_FLAG | GSS_C_SEQUENCE_FLAG | GSS_C_REPLAY_FLAG |
	                GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG;
	if (g->delegate)
		req |= GSS_C_DELEG_FLAG;
	gss_buffer_desc input = {in_len, (void *)(uintptr_t)in};
	gss_buffer_desc output = GSS_C_EMPTY_BUFFER;
	gss_OID actual = GSS_C_NO_OID;
	major = gss_init_sec_context(&minor, g->cred->cred, &g->ctx, g->target, mech_oid(g->auth), req, 0,
	                             g->cbt ? g->cbt : GSS_C_NO_CHANNEL_BINDINGS,
	                             in ? &input : GSS_C_NO_BUFFER, &actual, &output, &ret_flags,
	                             NULL);
	if (GSS_ERROR(major)) {
		OM_uint32 m0;
		gss_release_buffer(&m0, &output);
		int rc = gss_fail_as(g, RMS_E_AUTH, RMS_PHASE_AUTHENTICATE,
		                     in ? "login (the server's answer)" : "login", major, minor,
		                     actual ? actual : mech_oid(g->auth), in != NULL);
		drop_context(g);
		return rc;
	}
	int rc = 0;
	if (output.length && rms__buf_append(out, output.value, output.length))
		rc = rms__error_nomem();
	OM_uint32 m2;
	gss_release_buffer(&m2, &output);
	if (rc)
		return rc;
	if (major == GSS_S_COMPLETE) {
		g->established = true;
		g->flags = ret_flags;
		/* Under SPNEGO the mechanism is whichever it settled on. */
		gss_OID mech = GSS_C_NO_OID;
		if (gss_inquire_context(&m2, g->ctx, NULL, NULL, NULL, &mech, NULL, NULL, NULL) ==
		    GSS_S_COMPLETE)
			g->kerberos = oid_equal(mech, &krb5_oid);
		else
			g->kerberos = oid_equal(actual, &krb5_oid);
		*done = true;
		rms__log(g->log, RMS_LOG_DEBUG, "%s login to %s complete (%s)",
		         rms_auth_name(g->auth), g->spn_shown, g->kerberos ? "Kerberos" : "NTLM");
	}
	return 0;
}

bool rms__gss_established(const rms_gss *g)
{
	return g && g->established;
}

bool rms__gss_is_kerberos(const rms_gss *g)
{
	return g && g->kerberos;
}

const char *rms__gss_scheme(const rms_gss *g)
{
	return g && g->auth == RMS_AUTH_KERBEROS ? "Kerberos" : "Negotiate";
}

const char *rms__gss_spn(const rms_gss *g)
{
	return g ? g->spn_shown : "";
}

/* ---- sealing ------------------------------------------------------------- */

static int wrap_kerberos(rms_gss *g, const uint8_t *plain, size_t len, rms_buf *header,
                         rms_buf *sealed, size_t *length)
{
	OM_uint32 minor, major;
	gss_iov_buffer_desc iov[3];
	iov[0].type = GSS_IOV_BUFFER_TYPE_HEADER | GSS_IOV_BUFFER_FLAG_ALLOCATE;
	iov[0].buffer = (gss_buffer_desc)GSS_C_EMPTY_BUFFER;
	/* The data is sealed in place: a copy of ours. */
	if (rms__buf_append(sealed, plain, len))
		return rms__error_nomem();
	iov[1].type = GSS_IOV_BUFFER_TYPE_DATA;
	iov[1].buffer.length = len;
	iov[1].buffer.value = sealed->data;
	iov[2].type = GSS_IOV_BUFFER_TYPE_PADDING | GSS_IOV_BUFFER_FLAG_ALLOCATE;
	iov[2].buffer = (gss_buffer_desc)GSS_C_EMPTY_BUFFER;
	int conf = 0;
	major = gss_wrap_iov(&minor, g->ctx, 1, GSS_C_QOP_DEFAULT, &conf, iov, 3);
	int rc = 0;
	if (GSS_ERROR(major) || !conf)
		rc = GSS_ERROR(major) ? gss_fail(g, RMS_E_AUTH, RMS_PHASE_SEND, "sealing a message",
		                                 major, minor, &krb5_oid)
		                      : rms__error_set(RMS_E_AUTH, RMS_PHASE_SEND,
		                                       "the Kerberos context cannot encrypt");
	else if (rms__buf_append(header, iov[0].buffer.value, iov[0].buffer.length) ||
	         (iov[2].buffer.length &&
	          rms__buf_append(sealed, iov[2].buffer.value, iov[2].buffer.length)))
		rc = rms__error_nomem();
	else
		*length = len + iov[2].buffer.length;
	gss_release_iov_buffer(&minor, iov, 3);
	return rc;
}

/* NTLM's sealed message is the 16-byte signature and then the sealed data. */
#define NTLM_SIGNATURE_LEN 16

static int wrap_ntlm(rms_gss *g, const uint8_t *plain, size_t len, rms_buf *header,
                     rms_buf *sealed, size_t *length)
{
	OM_uint32 minor, major;
	gss_buffer_desc in = {len, (void *)(uintptr_t)plain};
	gss_buffer_desc out = GSS_C_EMPTY_BUFFER;
	int conf = 0;
	major = gss_wrap(&minor, g->ctx, 1, GSS_C_QOP_DEFAULT, &in, &conf, &out);
	int rc = 0;
	if (GSS_ERROR(major))
		rc = gss_fail(g, RMS_E_AUTH, RMS_PHASE_SEND, "sealing a message", major, minor,
		              &ntlm_oid);
	else if (!conf || out.length != len + NTLM_SIGNATURE_LEN)
		rc = rms__error_set(RMS_E_AUTH, RMS_PHASE_SEND,
		                    "NTLM sealed %zu bytes into %zu, not %zu with a 16-byte "
		                    "signature%s",
		                    len, out.length, len + NTLM_SIGNATURE_LEN,
		                    conf ? "" : " (the context cannot encrypt)");
	else if (rms__buf_append(header, out.value, NTLM_SIGNATURE_LEN) ||
	         rms__buf_append(sealed, (const uint8_t *)out.value + NTLM_SIGNATURE_LEN, len))
		rc = rms__error_nomem();
	else
		*length = len;
	gss_release_buffer(&minor, &out);
	return rc;
}

int rms__gss_wrap(rms_gss *g, const uint8_t *plain, size_t len, rms_buf *header, rms_buf *sealed,
                  size_t *length)
{
	header->len = 0;
	sealed->len = 0;
	header->failed = sealed->failed = false;
	if (!g || !g->established)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_SEND,
		                      "no established login to seal a message with");
	return g->kerberos ? wrap_kerberos(g, plain, len, header, sealed, length)
	                   : wrap_ntlm(g, plain, len, header, sealed, length);
}

static int unwrap_failed(const rms_gss *g, OM_uint32 major, OM_uint32 minor)
{
	rms_buf m;
	rms__buf_init(&m);
	display_status(&m, major, GSS_C_GSS_CODE, GSS_C_NO_OID);
	if (minor)
		display_status(&m, minor, GSS_C_MECH_CODE, g->kerberos ? &krb5_oid : &ntlm_oid);
	int rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
	                        "an encrypted answer failed to unseal with the %s login (%s): it "
	                        "was damaged, replayed or sealed for another connection",
	                        g->kerberos ? "Kerberos" : "NTLM", m.len ? m.data : "no detail");
	rms__buf_free(&m);
	return rc;
}

static bool out_of_order(OM_uint32 major)
{
	return GSS_ERROR(major) || (GSS_SUPPLEMENTARY_INFO(major) &
	                            (GSS_S_DUPLICATE_TOKEN | GSS_S_OLD_TOKEN | GSS_S_UNSEQ_TOKEN |
	                             GSS_S_GAP_TOKEN));
}

/* Kerberos: the header and the data as the IOV layout they were sealed in
 * (Windows' RC4 tokens do not fit the one-token form). */
static int unwrap_kerberos(rms_gss *g, const uint8_t *header, size_t header_len,
                           const uint8_t *sealed, size_t sealed_len, rms_buf *plain)
{
	rms_buf hdr;
	rms__buf_init(&hdr);
	if (rms__buf_append(&hdr, header, header_len) || rms__buf_append(plain, sealed, sealed_len)) {
		rms__buf_free(&hdr);
		return rms__error_nomem();
	}
	gss_iov_buffer_desc iov[2];
	iov[0].type = GSS_IOV_BUFFER_TYPE_HEADER;
	iov[0].buffer.length = header_len;
	iov[0].buffer.value = hdr.data;
	iov[1].type = GSS_IOV_BUFFER_TYPE_DATA;
	iov[1].buffer.length = sealed_len;
	iov[1].buffer.value = plain->data; /* unsealed in place */
	OM_uint32 minor;
	int conf = 0;
	OM_uint32 major = gss_unwrap_iov(&minor, g->ctx, &conf, NULL, iov, 2);
	rms__buf_free(&hdr);
	if (out_of_order(major)) {
		plain->len = 0;
		return unwrap_failed(g, major, minor);
	}
	if (!conf) {
		plain->len = 0;
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "an answer that had to be encrypted was only signed");
	}
	plain->len = iov[1].buffer.length;
	plain->data[plain->len] = '\0';
	return 0;
}

int rms__gss_unwrap(rms_gss *g, const uint8_t *header, size_t header_len, const uint8_t *sealed,
                    size_t sealed_len, rms_buf *plain)
{
	plain->len = 0;
	plain->failed = false;
	if (!g || !g->established)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_DECODE,
		                      "no established login to unseal a message with");
	if (g->kerberos)
		return unwrap_kerberos(g, header, header_len, sealed, sealed_len, plain);
	/* NTLM: the signature and then the sealed data are one wrap token. */
	rms_buf token;
	rms__buf_init(&token);
	if (rms__buf_append(&token, header, header_len) ||
	    rms__buf_append(&token, sealed, sealed_len)) {
		rms__buf_free(&token);
		return rms__error_nomem();
	}
	OM_uint32 minor, major;
	gss_buffer_desc in = {token.len, token.data};
	gss_buffer_desc out = GSS_C_EMPTY_BUFFER;
	int conf = 0;
	major = gss_unwrap(&minor, g->ctx, &in, &out, &conf, NULL);
	rms__buf_free(&token);
	int rc = 0;
	if (out_of_order(major))
		rc = unwrap_failed(g, major, minor);
	else if (!conf)
		rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                    "an answer that had to be encrypted was only signed");
	else if (rms__buf_append(plain, out.value, out.length))
		rc = rms__error_nomem();
	OM_uint32 m2;
	gss_release_buffer(&m2, &out);
	return rc;
}
