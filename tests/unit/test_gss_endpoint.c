/*
 * Kerberos, NTLM and Negotiate logins with WinRM message encryption, end to
 * end: both backends against the test endpoint in the shape of a default
 * Windows host (it offers Negotiate and Kerberos, accepts them through
 * python3-gssapi, refuses unencrypted bodies over http), with a real MIT
 * Kerberos KDC of the suite's own on loopback (tests/endpoint/kdc: realm
 * REMSESS.TEST, service principal HTTP/localhost) and gss-ntlmssp for NTLM.
 * The session reaches the endpoint as "localhost", the name its service
 * principal is registered under; "127.0.0.1" is the name that is not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drain.h"
#include "endpoint.h"
#include "kdc.h"
#include "remsess/remsess.h"

#define KRB_USER RMS_ENDPOINT_USER "@REMSESS.TEST"
#define NTLM_USER "REMSESS\\" RMS_ENDPOINT_USER

static rms_kdc kdc;
static rms_endpoint_proc *ep;
static char url[160]; /* http://localhost:PORT/wsman */

static int group_setup(void **state)
{
	(void)state;
	if (rms_kdc_start(&kdc) != 0)
		return -1;
	if (!(ep = rms_endpoint_spawn(rms_kdc_endpoint_args(&kdc))))
		return -1;
	snprintf(url, sizeof url, "http://localhost:%u/wsman", ep->port);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	rms_endpoint_kill(ep);
	rms_kdc_stop(&kdc);
	return 0;
}

/* Another endpoint logging in with the KDC, with more options of its own
 * (NULL-terminated). */
static rms_endpoint_proc *spawn_with(const char *const *more)
{
	const char *const *kdc_args = rms_kdc_endpoint_args(&kdc);
	const char *args[24];
	size_t n = 0;
	for (; kdc_args[n] && n < 10; n++)
		args[n] = kdc_args[n];
	for (size_t i = 0; more && more[i] && n < 23; i++)
		args[n++] = more[i];
	args[n] = NULL;
	rms_endpoint_proc *p = rms_endpoint_spawn(args);
	assert_non_null(p);
	return p;
}

static rms_session_options opts(rms_auth auth, const char *user, const char *password)
{
	rms_session_options o = rms_endpoint_session_options(ep);
	o.url = url;
	o.auth = auth;
	o.user = user;
	o.password = password;
	o.allow_unencrypted = false; /* nothing goes in the clear */
	return o;
}

static rms_session *session(rms_backend b, const rms_session_options *o)
{
	rms_session *s = NULL;
	if (rms_session_new(&s, b, o))
		fail_msg("session: %s", rms_error_message(rms_error_last()));
	return s;
}

static void enumerate_services(rms_session *s)
{
	rms_op *op = NULL;
	if (rms_enumerate(&op, s, NULL, "Win32_Service"))
		fail_msg("enumerate: %s", rms_error_message(rms_error_last()));
	assert_true(rms_test_drain(op) > 20);
	rms_op_free(op);
}

static void run_echo(rms_session *s, const char *word)
{
	rms_request *req = NULL;
	const char *argv[] = {"/c", "echo", word};
	assert_int_equal(rms_request_new(&req, RMS_OP_RUN), 0);
	assert_int_equal(rms_request_set_command(req, "cmd", 3, argv), 0);
	rms_op *op = NULL;
	if (rms_op_start(&op, s, req))
		fail_msg("run: %s", rms_error_message(rms_error_last()));
	rms_chunk c;
	char out[256] = "";
	size_t len = 0;
	int rc;
	while ((rc = rms_op_next_chunk(op, &c)) == 0)
		if (c.stream == RMS_STREAM_STDOUT && len + c.len < sizeof out) {
			memcpy(out + len, c.data, c.len);
			len += c.len;
		}
	if (rc != RMS_ITEROVER)
		fail_msg("run failed: %s", rms_error_message(rms_op_error(op)));
	assert_non_null(strstr(out, word));
	rms_op_free(op);
	rms_request_free(req);
}

/* A PSSession validates eagerly: the login fails at creation. */
static void expect_session_fails(rms_backend b, const rms_session_options *o, int code,
                                 const char *needle)
{
	rms_session *s = NULL;
	int rc = rms_session_new(&s, b, o);
	const rms_error *e = rms_error_last();
	if (rc != code || !strstr(rms_error_message(e), needle))
		fail_msg("got %s: '%s'; wanted %s with '%s'", rms_error_code_name(rc),
		         rms_error_message(e), rms_error_code_name(code), needle);
	assert_int_equal(rms_error_phase(e), RMS_PHASE_AUTHENTICATE);
	rms_session_free(s);
}

/* ---- the logins ---------------------------------------------------------- */

/* Kerberos with a password (no kinit): the CIM backend logs in once per
 * operation, each on a connection of its own, every body sealed. */
static void test_kerberos_cim_logs_in_per_operation(void **state)
{
	(void)state;
	rms_endpoint_reset(ep);
	rms_session_options o = opts(RMS_AUTH_KERBEROS, KRB_USER, RMS_ENDPOINT_PASSWORD);
	rms_session *s = session(RMS_BACKEND_CIM, &o);
	for (int i = 0; i < 3; i++)
		enumerate_services(s);
	rms_session_free(s);
	assert_int_equal(rms_endpoint_stat(ep, "auth_handshakes"), 3);
	assert_int_equal(rms_endpoint_stat(ep, "auth_by_mech.kerberos"), 3);
	assert_true(rms_endpoint_stat(ep, "encrypted_requests") >= 3);
	assert_int_equal(rms_endpoint_stat(ep, "plaintext_refused"), 0);
	assert_int_equal(rms_endpoint_stat(ep, "unwrap_failures"), 0);
}

/* NTLM (raw NTLMSSP in the Negotiate scheme): a PSSession logs in once for
 * its life, whatever it runs. */
static void test_ntlm_pssession_logs_in_once(void **state)
{
	(void)state;
	rms_endpoint_reset(ep);
	rms_session_options o = opts(RMS_AUTH_NTLM, NTLM_USER, RMS_ENDPOINT_PASSWORD);
	rms_session *s = session(RMS_BACKEND_PSSESSION, &o);
	char word[16];
	for (int i = 0; i < 10; i++) {
		snprintf(word, sizeof word, "word%d", i);
		run_echo(s, word);
	}
	assert_int_equal(rms_session_close(s), 0);
	rms_session_free(s);
	assert_int_equal(rms_endpoint_stat(ep, "auth_handshakes"), 1);
	assert_int_equal(rms_endpoint_stat(ep, "auth_by_mech.ntlm"), 1);
	assert_int_equal(rms_endpoint_stat(ep, "handshakes_per_connection_max"), 1);
	assert_int_equal(rms_endpoint_stat(ep, "plaintext_refused"), 0);
	assert_true(rms_endpoint_stat(ep, "encrypted_requests") >= 20);
}

/* Negotiate (SPNEGO) settles on Kerberos when the KDC knows the service. */
static void test_negotiate_settles_on_kerberos(void **state)
{
	(void)state;
	rms_endpoint_reset(ep);
	rms_session_options o = opts(RMS_AUTH_NEGOTIATE, KRB_USER, RMS_ENDPOINT_PASSWORD);
	rms_session *s = session(RMS_BACKEND_PSSESSION, &o);
	run_echo(s, "spnego");
	rms_session_free(s);
	assert_int_equal(rms_endpoint_stat(ep, "auth_by_mech.kerberos"), 1);
}

/* Runs a shell command with the KDC's database configuration too (kadmin);
 * 0 when it exited 0. */
static int krb_command(const char *cmd)
{
	char full[4096];
	int n = snprintf(full, sizeof full, "KRB5_KDC_PROFILE='%s/kdc.conf' %s >/dev/null 2>&1",
	                 kdc.dir, cmd);
	assert_true(n > 0 && (size_t)n < sizeof full);
	return system(full);
}

/* Kerberos without a password: the tickets of `kinit` in the cache that
 * KRB5CCNAME names, no user given. */
static void test_kerberos_with_the_credential_cache(void **state)
{
	(void)state;
	char cc[700];
	snprintf(cc, sizeof cc, "FILE:%s/cc-test", kdc.dir);
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "echo '%s' | KRB5CCNAME='%s' kinit " KRB_USER,
	         RMS_ENDPOINT_PASSWORD, cc);
	assert_int_equal(krb_command(cmd), 0);
	const char *was = getenv("KRB5CCNAME");
	char *saved = was ? strdup(was) : NULL;
	setenv("KRB5CCNAME", cc, 1);
	rms_endpoint_reset(ep);
	rms_session_options o = opts(RMS_AUTH_KERBEROS, NULL, NULL);
	rms_session *s = session(RMS_BACKEND_PSSESSION, &o);
	run_echo(s, "ccache");
	rms_session_free(s);
	if (saved)
		setenv("KRB5CCNAME", saved, 1);
	else
		unsetenv("KRB5CCNAME");
	free(saved);
	assert_int_equal(rms_endpoint_stat(ep, "auth_by_mech.kerberos"), 1);
	/* Without a cache (the test's empty memory cache), the error says so. */
	expect_session_fails(RMS_BACKEND_PSSESSION, &o, RMS_E_AUTH, "no Kerberos ticket");
}

/* A cache whose ticket has expired: said in words (renew it, or give a
 * password). */
static void test_kerberos_expired_ticket(void **state)
{
	(void)state;
	char cc[700];
	snprintf(cc, sizeof cc, "FILE:%s/cc-expired", kdc.dir);
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "echo '%s' | KRB5CCNAME='%s' kinit -l 2s " KRB_USER,
	         RMS_ENDPOINT_PASSWORD, cc);
	assert_int_equal(krb_command(cmd), 0);
	sleep(3);
	char *was = strdup(getenv("KRB5CCNAME"));
	setenv("KRB5CCNAME", cc, 1);
	rms_session_options o = opts(RMS_AUTH_KERBEROS, NULL, NULL);
	expect_session_fails(RMS_BACKEND_PSSESSION, &o, RMS_E_AUTH, "expired");
	setenv("KRB5CCNAME", was, 1);
	free(was);
}

/* Kerberos with a keytab's keys (a service account), no password. */
static void test_kerberos_with_a_keytab(void **state)
{
	(void)state;
	char kt[700];
	snprintf(kt, sizeof kt, "%s/client.keytab", kdc.dir);
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "kadmin.local -q 'ktadd -k %s -norandkey " KRB_USER "'", kt);
	assert_int_equal(krb_command(cmd), 0);
	rms_endpoint_reset(ep);
	rms_session_options o = opts(RMS_AUTH_KERBEROS, KRB_USER, NULL);
	o.auth_v3.keytab = kt;
	rms_session *s = session(RMS_BACKEND_PSSESSION, &o);
	run_echo(s, "keytab");
	rms_session_free(s);
	assert_int_equal(rms_endpoint_stat(ep, "auth_by_mech.kerberos"), 1);
}

/* delegate: the ticket is forwarded to the server (a second hop's), and
 * only when asked for. */
static void test_kerberos_delegation(void **state)
{
	(void)state;
	rms_endpoint_reset(ep);
	rms_session_options o = opts(RMS_AUTH_KERBEROS, KRB_USER, RMS_ENDPOINT_PASSWORD);
	rms_session *s = session(RMS_BACKEND_PSSESSION, &o);
	run_echo(s, "plain");
	rms_session_free(s);
	assert_true(rms_endpoint_stat(ep, "auth_delegated") <= 0);
	o.auth_v3.delegate = true;
	s = session(RMS_BACKEND_PSSESSION, &o);
	run_echo(s, "delegated");
	rms_session_free(s);
	assert_int_equal(rms_endpoint_stat(ep, "auth_delegated"), 1);
}

/* BSD `sum -r` of the data, as the endpoint's shell computes it. */
static unsigned bsd_sum(const unsigned char *p, size_t len)
{
	unsigned c = 0;
	for (size_t i = 0; i < len; i++) {
		c = (c >> 1) + ((c & 1u) << 15);
		c = (c + p[i]) & 0xffffu;
	}
	return c;
}

/* Input far larger than the host's MaxEnvelopeSize (32 KB here, learned
 * from winrm/config), sealed: split so that no plaintext envelope is over
 * the limit, and every sealed body (a little larger) accepted; the remote
 * checksum proves every byte arrived in order. */
static void test_sealed_input_across_small_envelopes(void **state)
{
	(void)state;
	static const char *const more[] = {"--max-envelope-kb", "32", NULL};
	rms_endpoint_proc *small = spawn_with(more);
	char small_url[160];
	snprintf(small_url, sizeof small_url, "http://localhost:%u/wsman", small->port);
	rms_session_options o = opts(RMS_AUTH_NTLM, NTLM_USER, RMS_ENDPOINT_PASSWORD);
	o.url = small_url;
	o.max_envelope_size = 0; /* learned: 32 KB */
	rms_session *s = session(RMS_BACKEND_PSSESSION, &o);
	size_t len = 200 * 1024;
	unsigned char *data = malloc(len);
	uint32_t x = 777;
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		data[i] = (unsigned char)(x >> 16);
	}
	rms_request *req = NULL;
	const char *sum_args[] = {"-r"};
	assert_int_equal(rms_request_new(&req, RMS_OP_RUN), 0);
	assert_int_equal(rms_request_set_command(req, "sum", 1, sum_args), 0);
	assert_int_equal(rms_request_set_stdin(req, data, len), 0);
	rms_op *op = NULL;
	if (rms_op_start(&op, s, req))
		fail_msg("run: %s", rms_error_message(rms_error_last()));
	char out[256] = "";
	size_t got = 0;
	rms_chunk c;
	int rc;
	while ((rc = rms_op_next_chunk(op, &c)) == 0)
		if (c.stream == RMS_STREAM_STDOUT && got + c.len < sizeof out) {
			memcpy(out + got, c.data, c.len);
			got += c.len;
		}
	if (rc != RMS_ITEROVER)
		fail_msg("run failed: %s", rms_error_message(rms_op_error(op)));
	char want[64];
	snprintf(want, sizeof want, "%05u %5zu\n", bsd_sum(data, len), (len + 1023) / 1024);
	assert_string_equal(out, want);
	rms_op_free(op);
	rms_request_free(req);
	rms_session_free(s);
	free(data);
	assert_int_equal(rms_endpoint_stat(small, "envelopes_over_limit"), 0);
	assert_int_equal(rms_endpoint_stat(small, "stdin_bytes"), (int64_t)len);
	assert_true(rms_endpoint_stat(small, "encrypted_requests") > 8);
	assert_int_equal(rms_endpoint_stat(small, "unwrap_failures"), 0);
	rms_endpoint_kill(small);
}

/* ---- what goes wrong, in words ------------------------------------------- */

static void test_kerberos_wrong_password(void **state)
{
	(void)state;
	rms_session_options o = opts(RMS_AUTH_KERBEROS, KRB_USER, "not-the-password");
	expect_session_fails(RMS_BACKEND_PSSESSION, &o, RMS_E_AUTH, "wrong password");
}

static void test_kerberos_unknown_user(void **state)
{
	(void)state;
	rms_session_options o = opts(RMS_AUTH_KERBEROS, "nobody@REMSESS.TEST", "x");
	expect_session_fails(RMS_BACKEND_PSSESSION, &o, RMS_E_AUTH, "does not know the user");
}

/* The classic trap: the host given as an IP address, under which no
 * service principal is registered. The error names the one tried, and
 * spn_host fixes it. */
static void test_spn_of_an_ip_address(void **state)
{
	(void)state;
	rms_session_options o = opts(RMS_AUTH_KERBEROS, KRB_USER, RMS_ENDPOINT_PASSWORD);
	o.url = ep->url; /* http://127.0.0.1:PORT/wsman */
	expect_session_fails(RMS_BACKEND_PSSESSION, &o, RMS_E_AUTH, "HTTP/127.0.0.1");
	o.auth_v3.spn_host = "localhost";
	rms_session *s = session(RMS_BACKEND_PSSESSION, &o);
	run_echo(s, "spn");
	rms_session_free(s);
}

/* The realm's KDC does not answer (a closed port here): said in words. */
static void test_kdc_unreachable(void **state)
{
	(void)state;
	char dead[700];
	snprintf(dead, sizeof dead, "%s/dead-krb5.conf", kdc.dir);
	FILE *f = fopen(dead, "w");
	assert_non_null(f);
	fprintf(f, "[libdefaults]\n default_realm = REMSESS.TEST\n dns_lookup_kdc = false\n"
	           " dns_canonicalize_hostname = false\n rdns = false\n"
	           " udp_preference_limit = 1\n"
	           "[realms]\n REMSESS.TEST = {\n  kdc = 127.0.0.1:1\n }\n"
	           "[domain_realm]\n localhost = REMSESS.TEST\n");
	fclose(f);
	char *was = strdup(getenv("KRB5_CONFIG"));
	setenv("KRB5_CONFIG", dead, 1);
	rms_session_options o = opts(RMS_AUTH_KERBEROS, KRB_USER, RMS_ENDPOINT_PASSWORD);
	expect_session_fails(RMS_BACKEND_PSSESSION, &o, RMS_E_AUTH, "no KDC of the realm answered");
	setenv("KRB5_CONFIG", was, 1);
	free(was);
}

/* Mutual authentication: Kerberos' last token (the AP-REP, inside SPNEGO
 * for Negotiate) proves the server to the client. A server that accepts
 * the login without it, or sends one that fails its check, is not trusted
 * with a body: the session fails at creation, in the authenticate phase,
 * and the endpoint never sees a request after the login. */
static void test_mutual_authentication_is_checked(void **state)
{
	(void)state;
	static const struct {
		const char *mode;
		rms_auth auth;
		const char *needle;
	} cases[] = {
	    {"omit", RMS_AUTH_KERBEROS, "without proving its own identity"},
	    {"omit", RMS_AUTH_NEGOTIATE, "without proving its own identity"},
	    {"tamper", RMS_AUTH_KERBEROS, "was not proven to be HTTP/localhost"},
	    {"tamper", RMS_AUTH_NEGOTIATE, "was not proven to be HTTP/localhost"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *more[] = {"--final-token", cases[i].mode, NULL};
		rms_endpoint_proc *liar = spawn_with(more);
		char liar_url[160];
		snprintf(liar_url, sizeof liar_url, "http://localhost:%u/wsman", liar->port);
		rms_session_options o = opts(cases[i].auth, KRB_USER, RMS_ENDPOINT_PASSWORD);
		o.url = liar_url;
		expect_session_fails(RMS_BACKEND_PSSESSION, &o, RMS_E_AUTH, cases[i].needle);
		/* The login itself went through on the server's side; nothing
		 * after it did. */
		assert_int_equal(rms_endpoint_stat(liar, "auth_handshakes"), 1);
		assert_int_equal(rms_endpoint_stat(liar, "encrypted_requests"), 0);
		rms_endpoint_kill(liar);
	}
}

static void test_ntlm_wrong_password(void **state)
{
	(void)state;
	rms_session_options o = opts(RMS_AUTH_NTLM, NTLM_USER, "not-the-password");
	expect_session_fails(RMS_BACKEND_PSSESSION, &o, RMS_E_AUTH, "refused the ntlm login");
	assert_int_equal(rms_error_http_status(rms_error_last()), 401);
}

/* A host that refuses unencrypted bodies (AllowUnencrypted=false) over
 * http, reached with encryption turned off: a clear error, not a hang. */
static void test_unencrypted_is_refused_by_the_host(void **state)
{
	(void)state;
	rms_session_options o = opts(RMS_AUTH_NTLM, NTLM_USER, RMS_ENDPOINT_PASSWORD);
	o.auth_v3.encryption = RMS_ENCRYPTION_NEVER;
	o.allow_unencrypted = true;
	expect_session_fails(RMS_BACKEND_PSSESSION, &o, RMS_E_AUTH, "AllowUnencrypted");
}

/* ---- channel binding over https ------------------------------------------- */

/* A hardened endpoint over https (CbtHardeningLevel Strict), on the given
 * port (NULL: any). */
static rms_endpoint_proc *tls_endpoint(const char *port)
{
	const char *more[] = {"--tls", "--cbt", "strict", port ? "--port" : NULL, port, NULL};
	return spawn_with(more);
}

/* A hardened host (CbtHardeningLevel Strict: the endpoint's --cbt strict)
 * over https: the login bound to its certificate passes, for Kerberos and
 * NTLM; the same login without the binding is refused. Nothing is sealed
 * (encryption auto is off over https). */
static void test_channel_binding_over_https(void **state)
{
	(void)state;
	rms_endpoint_proc *tls = tls_endpoint(NULL);
	char tls_url[160];
	snprintf(tls_url, sizeof tls_url, "https://localhost:%u/wsman", tls->port);
	struct {
		rms_auth auth;
		const char *user;
	} logins[] = {{RMS_AUTH_KERBEROS, KRB_USER}, {RMS_AUTH_NTLM, NTLM_USER}};
	for (size_t i = 0; i < 2; i++) {
		rms_session_options o = opts(logins[i].auth, logins[i].user, RMS_ENDPOINT_PASSWORD);
		o.url = tls_url;
		o.tls_insecure = true; /* its certificate is self-signed; loopback */
		rms_session *s = session(RMS_BACKEND_PSSESSION, &o);
		run_echo(s, "bound");
		rms_session_free(s);
		o.auth_v3.no_channel_binding = true;
		expect_session_fails(RMS_BACKEND_PSSESSION, &o, RMS_E_AUTH, "requires channel binding");
	}
	assert_int_equal(rms_endpoint_stat(tls, "auth_handshakes"), 2);
	assert_int_equal(rms_endpoint_stat(tls, "encrypted_requests"), 0);
	rms_endpoint_kill(tls);
}

/* The server's certificate changes under a session (renewed, or another
 * server behind the name): the login bound to the old one is never sent
 * to the new connection; the session binds to the new certificate. A
 * PSSession keeps its binding: when its server comes back (here, a new
 * endpoint on the same port, with a certificate of its own) the next
 * request logs in on the new connection before its body goes out, bound
 * anew; the login succeeds and the request reaches the server (which no
 * longer knows the shell: RMS_E_GONE, not an authentication failure). */
static void test_changed_certificate_is_bound_anew(void **state)
{
	(void)state;
	rms_endpoint_proc *first = tls_endpoint(NULL);
	assert_non_null(first);
	char port[16], tls_url[160];
	snprintf(port, sizeof port, "%u", first->port);
	snprintf(tls_url, sizeof tls_url, "https://localhost:%u/wsman", first->port);
	rms_session_options o = opts(RMS_AUTH_KERBEROS, KRB_USER, RMS_ENDPOINT_PASSWORD);
	o.url = tls_url;
	o.tls_insecure = true;
	rms_session *s = session(RMS_BACKEND_PSSESSION, &o);
	run_echo(s, "first");
	assert_int_equal(rms_endpoint_stat(first, "auth_handshakes"), 1);
	rms_endpoint_kill(first);
	rms_endpoint_proc *second = tls_endpoint(port);
	assert_non_null(second);
	int code = -1;
	const char *argv[] = {"/c", "echo", "second"};
	int rc = rms_run(&code, s, "cmd", 3, argv, NULL, NULL);
	const rms_error *e = rms_error_last();
	if (rc != RMS_E_GONE)
		fail_msg("wanted the server's answer for the unknown shell, got %s: %s",
		         rms_error_code_name(rc), rms_error_message(e));
	assert_int_equal(rms_endpoint_stat(second, "auth_handshakes"), 1);
	assert_int_equal(rms_endpoint_stat(second, "auth_failures"), 0);
	/* Its one challenge answered the probe for the certificate: the
	 * request's body never went to the new connection before the login. */
	assert_int_equal(rms_endpoint_stat(second, "auth_challenges"), 1);
	rms_session_free(s);
	rms_endpoint_kill(second);
}

/* ---- the newcomer's commands ----------------------------------------------- */

/* Runs the built tool with REMSESS_PASSWORD set; its exit status, stdout
 * and stderr (together) in out. */
static int tool_with(const char *prefix, char *out, size_t size, const char *const *args)
{
	char cmd[4096];
	size_t n = (size_t)snprintf(cmd, sizeof cmd, "REMSESS_PASSWORD='%s' %s '%s'",
	                            RMS_ENDPOINT_PASSWORD, prefix, RMS_CLI_PATH);
	for (size_t i = 0; args[i] && n < sizeof cmd; i++)
		n += (size_t)snprintf(cmd + n, sizeof cmd - n, " '%s'", args[i]);
	snprintf(cmd + n, n < sizeof cmd ? sizeof cmd - n : 0, " 2>&1");
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t got = fread(out, 1, size - 1, p);
	out[got] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int tool(char *out, size_t size, const char *const *args)
{
	return tool_with("", out, size, args);
}

/* `remsess -H host -u user@REALM --auth kerberos identify` and `--auth
 * ntlm`, over plain http against a host that refuses unencrypted bodies. */
static void test_cli_identify_kerberos_and_ntlm(void **state)
{
	(void)state;
	rms_endpoint_reset(ep);
	char port[16], out[8192];
	snprintf(port, sizeof port, "%u", ep->port);
	const char *krb[] = {"-H", "localhost", "--port", port, "-u", KRB_USER, "--auth",
	                     "kerberos", "identify", NULL};
	int rc = tool(out, sizeof out, krb);
	if (rc != 0)
		fail_msg("kerberos identify exited %d: %s", rc, out);
	assert_non_null(strstr(out, "ProtocolVersion"));
	const char *ntlm[] = {"-H", "localhost", "--port", port, "-u", NTLM_USER, "--auth",
	                      "ntlm", "identify", NULL};
	rc = tool(out, sizeof out, ntlm);
	if (rc != 0)
		fail_msg("ntlm identify exited %d: %s", rc, out);
	assert_non_null(strstr(out, "ProductVendor"));
	assert_int_equal(rms_endpoint_stat(ep, "auth_handshakes"), 2);
	assert_int_equal(rms_endpoint_stat(ep, "plaintext_refused"), 0);
	assert_int_equal(rms_endpoint_stat(ep, "encrypted_requests"), 2);
	/* The host as an IP address, under which no service principal is
	 * registered: exit 3 (connection or authentication), the SPN named. */
	const char *bad[] = {"-H", "127.0.0.1", "--port", port, "-u", KRB_USER, "--auth",
	                     "kerberos", "identify", NULL};
	rc = tool(out, sizeof out, bad);
	assert_int_equal(rc, 3);
	assert_non_null(strstr(out, "HTTP/127.0.0.1"));
}

/* This machine's clock an hour ahead of the KDC's: the tool run under
 * libfaketime (Debian's faketime), with kdc_timesync off so that MIT's
 * client does not quietly adopt the KDC's time (the setting many sites
 * have, and the only way a client sees the KDC's KRB_AP_ERR_SKEW). The
 * error says the clocks differ, in the authentication phase (exit 3). */
static void test_clock_skew(void **state)
{
	(void)state;
	const char *faketime = "/usr/bin/faketime";
	if (access(faketime, X_OK) != 0) {
		if (getenv("CI"))
			fail_msg("%s is missing (Debian package faketime; scripts/deps.sh "
			         "installs it)", faketime);
		skip();
	}
	char conf[700];
	snprintf(conf, sizeof conf, "%s/no-timesync.conf", kdc.dir);
	FILE *f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "[libdefaults]\n kdc_timesync = 0\n");
	fclose(f);
	/* KRB5_CONFIG is a list: this file's setting first, then the KDC's.
	 * FAKETIME_DONT_FAKE_MONOTONIC keeps libcurl's and remsess's timers
	 * real. An ASan build of the tool must accept libfaketime preloaded
	 * before its runtime. */
	const char *asan = getenv("ASAN_OPTIONS");
	char prefix[2048];
	snprintf(prefix, sizeof prefix,
	         "KRB5_CONFIG='%s:%s' FAKETIME_DONT_FAKE_MONOTONIC=1 "
	         "ASAN_OPTIONS='%s%sverify_asan_link_order=0' %s -f '+1h'",
	         conf, getenv("KRB5_CONFIG"), asan ? asan : "", asan ? ":" : "", faketime);
	char port[16], out[8192];
	snprintf(port, sizeof port, "%u", ep->port);
	const char *krb[] = {"-H", "localhost", "--port", port, "-u", KRB_USER, "--auth",
	                     "kerberos", "identify", NULL};
	int rc = tool_with(prefix, out, sizeof out, krb);
	if (rc != 3 || !strstr(out, "clocks of this machine"))
		fail_msg("wanted exit 3 saying the clocks differ, got %d: %s", rc, out);
	/* The same tool and configuration with the right time logs in. */
	snprintf(prefix, sizeof prefix, "KRB5_CONFIG='%s:%s'", conf, getenv("KRB5_CONFIG"));
	rc = tool_with(prefix, out, sizeof out, krb);
	if (rc != 0)
		fail_msg("with the right time: exit %d: %s", rc, out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kerberos_cim_logs_in_per_operation),
	    cmocka_unit_test(test_ntlm_pssession_logs_in_once),
	    cmocka_unit_test(test_negotiate_settles_on_kerberos),
	    cmocka_unit_test(test_mutual_authentication_is_checked),
	    cmocka_unit_test(test_kerberos_with_the_credential_cache),
	    cmocka_unit_test(test_kerberos_with_a_keytab),
	    cmocka_unit_test(test_kerberos_expired_ticket),
	    cmocka_unit_test(test_kerberos_delegation),
	    cmocka_unit_test(test_sealed_input_across_small_envelopes),
	    cmocka_unit_test(test_kerberos_wrong_password),
	    cmocka_unit_test(test_kerberos_unknown_user),
	    cmocka_unit_test(test_spn_of_an_ip_address),
	    cmocka_unit_test(test_kdc_unreachable),
	    cmocka_unit_test(test_clock_skew),
	    cmocka_unit_test(test_ntlm_wrong_password),
	    cmocka_unit_test(test_unencrypted_is_refused_by_the_host),
	    cmocka_unit_test(test_cli_identify_kerberos_and_ntlm),
	    cmocka_unit_test(test_channel_binding_over_https),
	    cmocka_unit_test(test_changed_certificate_is_bound_anew),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
