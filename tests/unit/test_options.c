/* Offline validation of session options: every bad field is a clear error
 * that names the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "address.h"
#include "backend.h"
#include "defaults.h"
#include "options_internal.h"
#include "remsess/remsess.h"

static rms_session_options base(void)
{
	rms_session_options o = RMS_SESSION_OPTIONS_INIT;
	o.host = "server1.example";
	return o;
}

/* Validation fails with `code`, naming `field`, and the message contains
 * `needle`. */
static void expect_bad(const rms_session_options *o, rms_backend b, int code, const char *field,
                       const char *needle)
{
	rms_error *err = NULL;
	rms_error_clear();
	int rc = rms_session_options_validate(o, b);
	err = rms_error_dup(rms_error_last());
	if (rc != code)
		fail_msg("expected %s, got %s (%s)", rms_error_code_name(code),
		         rms_error_code_name(rc), err ? rms_error_message(err) : "no error");
	assert_non_null(err);
	assert_string_equal(rms_error_field(err), field);
	assert_int_equal(rms_error_phase(err), RMS_PHASE_OPTIONS);
	if (!strstr(rms_error_message(err), needle))
		fail_msg("message '%s' lacks '%s'", rms_error_message(err), needle);
	/* The thread-local last error holds the same failure. */
	assert_int_equal(rms_error_code(rms_error_last()), code);
	assert_string_equal(rms_error_message(rms_error_last()), rms_error_message(err));
	rms_error_free(err);
}

static void expect_ok(const rms_session_options *o, rms_backend b)
{
	rms_error *err = (rms_error *)1;
	rms_error_clear();
	int rc = rms_session_options_validate(o, b);
	err = rms_error_dup(rms_error_last());
	if (rc)
		fail_msg("unexpected failure: %s", rms_error_message(err));
	assert_null(err);
}

static void test_init_gives_zero_defaults_and_checks_version(void **state)
{
	(void)state;
	rms_session_options o;
	memset(&o, 0xAB, sizeof o);
	assert_int_equal(rms_session_options_init(&o, RMS_SESSION_OPTIONS_VERSION), 0);
	assert_int_equal(o.version, RMS_SESSION_OPTIONS_VERSION);
	assert_null(o.host);
	assert_false(o.tls_insecure);
	assert_int_equal(o.port, 0);
	assert_int_equal(rms_session_options_init(&o, 99), RMS_E_INVALID_ARG);
	assert_string_equal(rms_error_field(rms_error_last()), "version");
	assert_int_equal(rms_session_options_init(NULL, 1), RMS_E_INVALID_ARG);
}

static void test_minimal_host_is_valid_for_both_backends(void **state)
{
	(void)state;
	rms_session_options o = base();
	expect_ok(&o, RMS_BACKEND_CIM);
	expect_ok(&o, RMS_BACKEND_PSSESSION);
}

static void test_wrong_version_is_refused(void **state)
{
	(void)state;
	rms_session_options o = base();
	o.version = 7;
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "version", "version 7");
}

static void test_backend_must_be_one_backend(void **state)
{
	(void)state;
	rms_session_options o = base();
	expect_bad(&o, RMS_BACKEND_AUTO, RMS_E_INVALID_ARG, "backend", "auto");
}

static void test_no_host_and_both_host_and_url(void **state)
{
	(void)state;
	rms_session_options o = RMS_SESSION_OPTIONS_INIT;
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "host", "no computer");
	o.host = "a";
	o.url = "http://a/wsman";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "url", "not both");
}

static void test_bad_urls(void **state)
{
	(void)state;
	rms_session_options o = RMS_SESSION_OPTIONS_INIT;
	o.url = "";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "url", "empty");
	o.url = "not a url";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "url", "white space");
	o.url = "ftp://server/wsman";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "url", "ftp");
	o.url = "http://";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "url", "http://");
	o.url = "http://server:0/wsman";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "url", "port 0");
	o.url = "http://server:70000/wsman";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "url", "70000");
	o.url = "http://admin:secret@server/wsman";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "url", "user");
	/* The password inside the URL is not repeated in the message. */
	assert_null(strstr(rms_error_message(rms_error_last()), "secret"));
	o.url = "gopher://admin:secret@server/wsman";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "url", "[credentials removed]");
	assert_null(strstr(rms_error_message(rms_error_last()), "secret"));
}

static void test_good_urls_resolve_with_defaults(void **state)
{
	(void)state;
	rms_session_options o = RMS_SESSION_OPTIONS_INIT;
	rms_endpoint ep;
	o.url = "https://server.example";
	assert_int_equal(rms__endpoint_resolve(&ep, &o), 0);
	char *u = rms__endpoint_url(&ep, NULL);
	assert_string_equal(u, "https://server.example:5986/wsman");
	free(u);
	rms__endpoint_free(&ep);

	o.url = "http://[::1]:8080/custom";
	assert_int_equal(rms__endpoint_resolve(&ep, &o), 0);
	u = rms__endpoint_url(&ep, NULL);
	assert_string_equal(u, "http://[::1]:8080/custom");
	free(u);
	rms__endpoint_free(&ep);

	rms_session_options h = RMS_SESSION_OPTIONS_INIT;
	h.host = "fe80::1";
	assert_int_equal(rms__endpoint_resolve(&ep, &h), 0);
	u = rms__endpoint_url(&ep, NULL);
	assert_string_equal(u, "http://[fe80::1]:5985/wsman");
	free(u);
	rms__endpoint_free(&ep);
}

static void test_port_out_of_range(void **state)
{
	(void)state;
	rms_session_options o = base();
	o.port = 70000;
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "port", "70000");
	o.port = 65535;
	expect_ok(&o, RMS_BACKEND_CIM);
	o.port = 0; /* the default for the scheme */
	expect_ok(&o, RMS_BACKEND_CIM);
	rms_session_options u = RMS_SESSION_OPTIONS_INIT;
	u.url = "http://a:5985/wsman";
	u.port = 5986;
	expect_bad(&u, RMS_BACKEND_CIM, RMS_E_OPTIONS, "port", "conflicts");
}

static void test_bad_hosts(void **state)
{
	(void)state;
	rms_session_options o = base();
	o.host = "";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "host", "empty");
	o.host = "http://server";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "host", "URL");
	o.host = "bad host";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "host", "' '");
	o.host = "[::1";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "host", "bracket");
	o.host = "-server";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "host", "start");
	/* A port in the host is not taken for an IPv6 address. */
	o.host = "server01:5985";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "host", "port");
	o.host = "fe80::1%eth0";
	expect_ok(&o, RMS_BACKEND_CIM);
	o.host = "::1";
	expect_ok(&o, RMS_BACKEND_CIM);
	/* Credentials typed into the host are not echoed. */
	o.host = "admin:S3cretPW@host";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "host", "'@'");
	assert_null(strstr(rms_error_message(rms_error_last()), "S3cretPW"));
}

static void test_bad_path(void **state)
{
	(void)state;
	rms_session_options o = base();
	o.path = "wsman";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "path", "start with '/'");
}

static void test_credentials(void **state)
{
	(void)state;
	rms_session_options o = base();
	o.user = "";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "user", "empty");
	o.user = NULL;
	o.password = "pw";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "password", "without a user");
	o.user = "admin";
	o.password = NULL;
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "password", "needs a password");
	o.password = "pw";
	/* Basic over plain http would put the password on the wire. */
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "auth", "unencrypted");
	o.auth = RMS_AUTH_BASIC;
	expect_bad(&o, RMS_BACKEND_PSSESSION, RMS_E_OPTIONS, "auth", "allow_unencrypted");
	o.scheme = RMS_SCHEME_HTTPS;
	expect_ok(&o, RMS_BACKEND_CIM);
	o.scheme = RMS_SCHEME_HTTP;
	o.allow_unencrypted = true;
	expect_ok(&o, RMS_BACKEND_CIM);
	o.user = "DOMAIN\\John Smith"; /* spaces are allowed in Windows user names */
	expect_ok(&o, RMS_BACKEND_CIM);
	o.user = "a\tb";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "user", "control");
}

static void test_unknown_mechanism(void **state)
{
	(void)state;
	rms_auth a;
	assert_int_equal(rms_auth_parse(&a, "NTLM"), 0);
	assert_int_equal(a, RMS_AUTH_NTLM);
	assert_int_equal(rms_auth_parse(&a, "Kerberos"), 0);
	assert_int_equal(a, RMS_AUTH_KERBEROS);
	assert_int_equal(rms_auth_parse(&a, "digest"), RMS_E_INVALID_ARG);
	assert_non_null(strstr(rms_error_message(rms_error_last()), "digest"));
	assert_string_equal(rms_auth_name(RMS_AUTH_CERTIFICATE), "certificate");

	rms_session_options o = base();
	o.auth = (rms_auth)42;
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "auth", "42");
}

/* NTLM, Negotiate and Kerberos over plain http seal every message (WinRM
 * message encryption), as a default Windows host requires; sending them
 * unencrypted over http is an explicit choice. */
static void test_gss_auth_over_http_is_encrypted_or_refused(void **state)
{
	(void)state;
	rms_session_options o = base();
	o.user = "admin";
	o.password = "pw";
	o.auth = RMS_AUTH_NTLM;
	expect_ok(&o, RMS_BACKEND_CIM); /* encryption auto: on over http */
	o.auth_v3.encryption = RMS_ENCRYPTION_NEVER;
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "auth_v3.encryption", "allow_unencrypted");
	o.auth = RMS_AUTH_NEGOTIATE;
	expect_bad(&o, RMS_BACKEND_PSSESSION, RMS_E_OPTIONS, "auth_v3.encryption", "readable");
	o.allow_unencrypted = true;
	expect_ok(&o, RMS_BACKEND_PSSESSION);
	o.allow_unencrypted = false;
	o.scheme = RMS_SCHEME_HTTPS; /* TLS protects it */
	expect_ok(&o, RMS_BACKEND_CIM);
	o.auth_v3.encryption = RMS_ENCRYPTION_ALWAYS;
	expect_ok(&o, RMS_BACKEND_CIM);
	o.auth = RMS_AUTH_BASIC;
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "auth_v3.encryption", "ntlm, negotiate");
	o.auth_v3.encryption = (rms_encryption)7;
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "auth_v3.encryption", "unknown");
}

static void test_gss_credentials_and_spn(void **state)
{
	(void)state;
	rms_session_options o = base();
	o.auth = RMS_AUTH_NTLM;
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "user", "ntlm");
	o.user = "DOM\\alice";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "password", "alice");
	o.password = "pw";
	o.auth_v3.keytab = "/etc/hostname";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "auth_v3.keytab", "Kerberos");
	/* Kerberos and Negotiate: the credential cache when no user. */
	o.auth = RMS_AUTH_KERBEROS;
	o.user = NULL;
	o.password = NULL;
	o.auth_v3.keytab = NULL;
	expect_ok(&o, RMS_BACKEND_CIM);
	o.auth_v3.keytab = "/nonexistent/remsess.keytab";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "auth_v3.keytab", "remsess.keytab");
	o.auth_v3.keytab = NULL;
	o.auth_v3.spn_host = "HTTP/server";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "auth_v3.spn_host", "SERVICE/HOST");
	o.auth_v3.spn_host = "server.corp.example";
	o.auth_v3.spn_service = "";
	expect_bad(&o, RMS_BACKEND_PSSESSION, RMS_E_OPTIONS, "auth_v3.spn_service", "empty");
	o.auth_v3.spn_service = "WSMAN";
	expect_ok(&o, RMS_BACKEND_PSSESSION);
	/* They mean nothing to another login: refused, not ignored. */
	o.auth = RMS_AUTH_BASIC;
	o.user = "admin";
	o.password = "pw";
	o.scheme = RMS_SCHEME_HTTPS;
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "auth_v3.spn_service", "auth is basic");
	o.auth_v3.spn_service = o.auth_v3.spn_host = NULL;
	o.auth_v3.delegate = true;
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "auth_v3.delegate", "kerberos");
}

static void test_encryption_names(void **state)
{
	(void)state;
	rms_encryption e = RMS_ENCRYPTION_NEVER;
	assert_int_equal(rms_encryption_parse(&e, "ALWAYS"), 0);
	assert_int_equal(e, RMS_ENCRYPTION_ALWAYS);
	assert_int_equal(rms_encryption_parse(&e, "Auto"), 0);
	assert_int_equal(e, RMS_ENCRYPTION_AUTO);
	assert_int_equal(rms_encryption_parse(&e, "sometimes"), RMS_E_INVALID_ARG);
	assert_string_equal(rms_encryption_name(RMS_ENCRYPTION_NEVER), "never");
	assert_null(rms_encryption_name((rms_encryption)9));
}

static void test_certificate_auth_needs_https_and_readable_files(void **state)
{
	(void)state;
	rms_session_options o = base();
	o.auth = RMS_AUTH_CERTIFICATE;
	o.scheme = RMS_SCHEME_HTTP;
	o.client_cert = "/etc/hostname";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "auth", "https");
	o.scheme = RMS_SCHEME_DEFAULT; /* certificate auth implies https */
	o.client_cert = NULL;
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "client_cert", "client certificate");
	o.client_cert = "/nonexistent/cert.pem";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "client_cert", "/nonexistent/cert.pem");
	assert_int_not_equal(rms_error_os_errno(rms_error_last()), 0);
	o.client_cert = "/";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "client_cert", "directory");
	o.client_cert = RMS_SOURCE_DIR "/CMakeLists.txt";
	expect_ok(&o, RMS_BACKEND_CIM);
	o.client_key = "/nonexistent/key.pem";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "client_key", "cannot be read");
}

static void test_ca_file_and_directory(void **state)
{
	(void)state;
	rms_session_options o = base();
	o.scheme = RMS_SCHEME_HTTPS;
	o.ca_file = "/nonexistent/ca.pem";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "ca_file", "cannot be read");
	o.ca_file = NULL;
	o.ca_path = RMS_SOURCE_DIR "/CMakeLists.txt";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "ca_path", "not a directory");
	o.ca_path = RMS_SOURCE_DIR;
	expect_ok(&o, RMS_BACKEND_CIM);
}

static void test_envelope_size_floor(void **state)
{
	(void)state;
	rms_session_options o = base();
	o.max_envelope_size = 8191;
	expect_bad(&o, RMS_BACKEND_PSSESSION, RMS_E_OPTIONS, "max_envelope_size", "8192");
	o.max_envelope_size = 8192;
	expect_ok(&o, RMS_BACKEND_PSSESSION);
}

static void test_proxy_and_locale(void **state)
{
	(void)state;
	rms_session_options o = base();
	o.proxy = "not a proxy";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "proxy", "not a URL");
	o.proxy = "http://bob:S3cret@proxy:31 28";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "proxy", "credentials removed");
	assert_null(strstr(rms_error_message(rms_error_last()), "S3cret"));
	o.proxy = "http://proxy.example:3128";
	expect_ok(&o, RMS_BACKEND_CIM);
	o.locale = "en_US.UTF-8";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "locale", "language tag");
	o.locale = "en-GB";
	expect_ok(&o, RMS_BACKEND_CIM);
}

static void test_ssh_is_pssession_only_and_needs_credentials(void **state)
{
	(void)state;
	rms_session_options o = base();
	o.transport = RMS_TRANSPORT_SSH;
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "transport", "SSH");
	expect_bad(&o, RMS_BACKEND_PSSESSION, RMS_E_OPTIONS, "user", "SSH needs a user");
	o.user = "admin";
	expect_bad(&o, RMS_BACKEND_PSSESSION, RMS_E_OPTIONS, "ssh.identity_file", "authenticate");
	o.ssh.identity_file = "/nonexistent/id_ed25519";
	expect_bad(&o, RMS_BACKEND_PSSESSION, RMS_E_OPTIONS, "ssh.identity_file", "cannot be read");
	o.ssh.identity_file = RMS_SOURCE_DIR "/CMakeLists.txt";
	o.ssh.known_hosts = "/nonexistent/known_hosts";
	expect_bad(&o, RMS_BACKEND_PSSESSION, RMS_E_OPTIONS, "ssh.known_hosts", "known_hosts");
	o.ssh.accept_new_host_key = true;
	expect_ok(&o, RMS_BACKEND_PSSESSION);
	o.scheme = RMS_SCHEME_HTTPS;
	expect_bad(&o, RMS_BACKEND_PSSESSION, RMS_E_OPTIONS, "scheme", "SSH");
	o.scheme = RMS_SCHEME_DEFAULT;
	o.auth = RMS_AUTH_NTLM;
	expect_bad(&o, RMS_BACKEND_PSSESSION, RMS_E_OPTIONS, "auth", "ntlm");
}

static void test_namespace_and_shell_uri(void **state)
{
	(void)state;
	rms_session_options o = base();
	o.cim.cim_namespace = "";
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "cim.cim_namespace", "empty");
	o.cim.cim_namespace = "root\\StandardCimv2";
	expect_ok(&o, RMS_BACKEND_CIM);
	o.pssession.shell_uri = "cmd";
	expect_bad(&o, RMS_BACKEND_PSSESSION, RMS_E_OPTIONS, "pssession.shell_uri", "not a URI");
}

static void test_null_options(void **state)
{
	(void)state;
	assert_int_equal(rms_session_options_validate(NULL, RMS_BACKEND_CIM),
	                 RMS_E_INVALID_ARG);
	assert_string_equal(rms_error_field(rms_error_last()), "opts");
}

/* ---- the session's copy: defaults filled once -------------------------- */

static void test_copy_fills_every_default_once(void **state)
{
	(void)state;
	rms_session_options o = base(), c;
	assert_int_equal(rms__options_copy(&c, &o), 0);
	assert_int_equal(c.version, RMS_SESSION_OPTIONS_VERSION);
	assert_int_equal(c.connect_timeout_ms, RMS_DEFAULT_CONNECT_TIMEOUT_MS);
	assert_int_equal(c.operation_timeout_ms, RMS_DEFAULT_OPERATION_TIMEOUT_MS);
	assert_int_equal(c.auth, RMS_AUTH_NONE);
	assert_int_equal(c.cim.max_elements, RMS_DEFAULT_MAX_ELEMENTS);
	assert_true(c.pssession.max_received_per_command == RMS_DEFAULT_MAX_RECEIVED_PER_COMMAND);
	assert_true(c.pssession.max_received_object_size == RMS_DEFAULT_MAX_RECEIVED_OBJECT_WINRM);
	assert_int_equal(c.pssession.codepage, RMS_CODEPAGE_UTF8);
	assert_string_equal(c.locale, "en-US");
	assert_string_equal(c.data_locale, "en-US");
	assert_string_equal(c.cim.cim_namespace, "root/cimv2");
	assert_string_equal(c.pssession.shell_uri,
	                    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd");
	/* Left as the caller set them: the PSSession must still see that no
	 * MaxEnvelopeSize was asked for, the endpoint resolves where. */
	assert_int_equal(c.max_envelope_size, 0);
	assert_int_equal(c.port, 0);
	assert_int_equal(c.scheme, RMS_SCHEME_DEFAULT);
	assert_null(c.path);
	assert_null(c.ssh.known_hosts);
	assert_int_equal(c.pssession.idle_timeout_ms, 0);
	/* The copy owns its strings. */
	assert_ptr_not_equal(c.host, o.host);
	assert_string_equal(c.host, o.host);
	rms__options_free(&c);
}

static void test_copy_keeps_what_the_caller_set(void **state)
{
	(void)state;
	rms_session_options o = base(), c;
	o.user = "admin";
	o.password = "pw";
	o.allow_unencrypted = true;
	o.connect_timeout_ms = 1234;
	o.operation_timeout_ms = 5678;
	o.max_envelope_size = 153600;
	o.locale = "de-DE";
	o.cim.max_elements = 7;
	o.cim.cim_namespace = "root/StandardCimv2";
	o.pssession.max_received_per_command = RMS_LIMIT_UNLIMITED;
	o.pssession.max_received_object_size = 99;
	o.pssession.codepage = 437;
	o.pssession.shell_uri = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell";
	assert_int_equal(rms__options_copy(&c, &o), 0);
	assert_int_equal(c.connect_timeout_ms, 1234);
	assert_int_equal(c.operation_timeout_ms, 5678);
	assert_int_equal(c.max_envelope_size, 153600);
	assert_int_equal(c.auth, RMS_AUTH_BASIC); /* a user and no mechanism named */
	assert_string_equal(c.password, "pw");
	assert_string_equal(c.locale, "de-DE");
	assert_string_equal(c.data_locale, "de-DE"); /* follows the locale */
	assert_int_equal(c.cim.max_elements, 7);
	assert_string_equal(c.cim.cim_namespace, "root/StandardCimv2");
	assert_true(c.pssession.max_received_per_command == RMS_LIMIT_UNLIMITED);
	assert_true(c.pssession.max_received_object_size == 99);
	assert_int_equal(c.pssession.codepage, 437);
	assert_string_equal(c.pssession.shell_uri, o.pssession.shell_uri);
	rms__options_free(&c);
}

/* What is WinRM's only stays unset over SSH, and the object cap is the SSH
 * client's. */
static void test_copy_over_ssh_fills_only_what_applies(void **state)
{
	(void)state;
	rms_session_options o = base(), c;
	o.transport = RMS_TRANSPORT_SSH;
	o.user = "admin";
	o.ssh.use_agent = true;
	assert_int_equal(rms__options_copy(&c, &o), 0);
	assert_int_equal(c.auth, RMS_AUTH_DEFAULT);
	assert_int_equal(c.pssession.codepage, 0);
	assert_null(c.pssession.shell_uri);
	assert_true(c.pssession.max_received_object_size == RMS_DEFAULT_MAX_RECEIVED_OBJECT_SSH);
	assert_int_equal(c.connect_timeout_ms, RMS_DEFAULT_CONNECT_TIMEOUT_MS);
	expect_ok(&c, RMS_BACKEND_PSSESSION);
	rms__options_free(&c);
}

/* A target validates its copy again when it makes the session: the filled
 * copy must pass wherever the caller's options passed. */
static void test_filled_copy_validates_like_the_original(void **state)
{
	(void)state;
	rms_session_options forms[3] = { base(), base(), base() };
	forms[1].host = NULL;
	forms[1].url = "https://server1.example:5986/wsman";
	forms[1].user = "admin";
	forms[1].password = "pw";
	forms[2].user = "admin";
	forms[2].password = "pw";
	forms[2].allow_unencrypted = true;
	forms[2].port = 8080;
	forms[2].path = "/custom";
	for (size_t i = 0; i < 3; i++) {
		rms_session_options c;
		assert_int_equal(rms__options_copy(&c, &forms[i]), 0);
		expect_ok(&c, RMS_BACKEND_CIM);
		expect_ok(&c, RMS_BACKEND_PSSESSION);
		rms_session_options again;
		assert_int_equal(rms__options_copy(&again, &c), 0);
		assert_int_equal(again.auth, c.auth);
		assert_string_equal(again.locale, c.locale);
		rms__options_free(&again);
		rms__options_free(&c);
	}
}

static void test_session_and_target_hold_the_filled_copy(void **state)
{
	(void)state;
	rms_session_options o = base();
	rms_session *s = NULL;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), 0);
	assert_int_equal(s->opts.operation_timeout_ms, RMS_DEFAULT_OPERATION_TIMEOUT_MS);
	assert_string_equal(s->opts.cim.cim_namespace, "root/cimv2");
	rms_session_free(s);

	rms_target *t = NULL;
	assert_int_equal(rms_target_new(&t, &o, NULL), 0);
	assert_int_equal(rms_target_session(&s, t, RMS_BACKEND_CIM), 0);
	assert_int_equal(s->opts.cim.max_elements, RMS_DEFAULT_MAX_ELEMENTS);
	rms_target_free(t);
}

/* ---- versions ---------------------------------------------------------- */

/* A struct of a hypothetical older version that ended before the backend
 * parts: the rule in options.h makes every older struct a prefix. */
#define OLD_SIZE offsetof(rms_session_options, cim)

static void test_every_version_up_to_ours_has_a_size(void **state)
{
	(void)state;
	assert_int_equal(rms__options_size(0), 0);
	assert_int_equal(rms__options_size(RMS_SESSION_OPTIONS_VERSION + 1), 0);
	assert_int_equal(rms__options_size(RMS_SESSION_OPTIONS_VERSION), sizeof(rms_session_options));
	size_t last = offsetof(rms_session_options, version) + sizeof(unsigned);
	for (unsigned v = 1; v <= RMS_SESSION_OPTIONS_VERSION; v++) {
		size_t n = rms__options_size(v);
		assert_true(n >= last); /* a struct only grows */
		last = n;
		rms_session_options o;
		memset(&o, 0xAB, sizeof o);
		assert_int_equal(rms_session_options_init(&o, v), 0);
		assert_int_equal(o.version, v);
		/* Only that version's bytes are written. */
		const unsigned char *bytes = (const unsigned char *)&o;
		for (size_t i = n; i < sizeof o; i++)
			assert_int_equal(bytes[i], 0xAB);
	}
}

static void test_newer_version_is_a_clear_options_error(void **state)
{
	(void)state;
	rms_session_options o = base();
	o.version = RMS_SESSION_OPTIONS_VERSION + 1;
	char want[64];
	snprintf(want, sizeof want, "versions 1 to %u", RMS_SESSION_OPTIONS_VERSION);
	expect_bad(&o, RMS_BACKEND_CIM, RMS_E_OPTIONS, "version", want);
	o.version = 0;
	expect_bad(&o, RMS_BACKEND_PSSESSION, RMS_E_OPTIONS, "version", "version 0");
	rms_session_options c;
	memset(&c, 0xAB, sizeof c);
	o.version = RMS_SESSION_OPTIONS_VERSION + 1;
	assert_int_equal(rms__options_copy(&c, &o), RMS_E_OPTIONS);
	assert_null(c.host); /* nothing to free */
	rms_session *s = (rms_session *)1;
	assert_int_equal(rms_session_new(&s, RMS_BACKEND_CIM, &o), RMS_E_OPTIONS);
	assert_null(s);
}

/* An older caller's struct in a buffer of exactly its size (ASan and
 * valgrind see any read past it), then in a full-size buffer with poison
 * after it: the poison must not reach the copy, where a pointer would
 * crash and a number would show. */
static void test_older_struct_is_read_only_to_its_end(void **state)
{
	(void)state;
	rms_session_options full = base();
	full.locale = "fr-FR";
	full.operation_timeout_ms = 4321;

	void *exact = malloc(OLD_SIZE);
	assert_non_null(exact);
	memcpy(exact, &full, OLD_SIZE);
	rms_session_options c;
	assert_int_equal(rms__options_validate_sized(exact, OLD_SIZE, RMS_BACKEND_CIM), 0);
	assert_int_equal(rms__options_copy_sized(&c, exact, OLD_SIZE), 0);
	free(exact);
	assert_string_equal(c.locale, "fr-FR");
	assert_int_equal(c.operation_timeout_ms, 4321);
	assert_string_equal(c.cim.cim_namespace, "root/cimv2");
	rms__options_free(&c);

	unsigned char *poisoned = malloc(sizeof full);
	assert_non_null(poisoned);
	memset(poisoned, 0xA5, sizeof full);
	memcpy(poisoned, &full, OLD_SIZE);
	assert_int_equal(rms__options_validate_sized(poisoned, OLD_SIZE, RMS_BACKEND_PSSESSION), 0);
	assert_int_equal(rms__options_copy_sized(&c, poisoned, OLD_SIZE), 0);
	free(poisoned);
	assert_int_equal(c.version, RMS_SESSION_OPTIONS_VERSION);
	assert_int_equal(c.cim.max_elements, RMS_DEFAULT_MAX_ELEMENTS);
	assert_false(c.cim.no_schema);
	assert_false(c.cim.test_connection);
	assert_true(c.pssession.max_received_per_command == RMS_DEFAULT_MAX_RECEIVED_PER_COMMAND);
	assert_int_equal(c.pssession.codepage, RMS_CODEPAGE_UTF8);
	assert_null(c.pssession.working_directory);
	assert_null(c.ssh.identity_file);
	assert_false(c.ssh.use_agent);
	rms__options_free(&c);
}

/* Version 2's PSSession fields: checked, and zero means what version 1
 * did (the command shell, one runspace, the `powershell` subsystem). */
static void test_version_2_pssession_fields(void **state)
{
	(void)state;
	rms_session_options o = base();
	o.pssession_v2.protocol = (rms_ps_protocol)7;
	expect_bad(&o, RMS_BACKEND_PSSESSION, RMS_E_OPTIONS, "pssession_v2.protocol", "unknown");
	o.pssession_v2.protocol = RMS_PS_PROTOCOL_POWERSHELL;
	o.pssession_v2.min_runspaces = 3;
	o.pssession_v2.max_runspaces = 2;
	expect_bad(&o, RMS_BACKEND_PSSESSION, RMS_E_OPTIONS, "pssession_v2.min_runspaces",
	           "more than max_runspaces");
	o.pssession_v2.min_runspaces = 0;
	o.pssession_v2.max_runspaces = 5000;
	expect_bad(&o, RMS_BACKEND_PSSESSION, RMS_E_OPTIONS, "pssession_v2.max_runspaces",
	           "more than");
	o.pssession_v2.max_runspaces = 4;
	o.pssession_v2.ssh_subsystem = "power shell";
	expect_bad(&o, RMS_BACKEND_PSSESSION, RMS_E_OPTIONS, "pssession_v2.ssh_subsystem",
	           "white space");
	o.pssession_v2.ssh_subsystem = NULL;
	expect_ok(&o, RMS_BACKEND_PSSESSION);
	rms_session_options c;
	assert_int_equal(rms__options_copy(&c, &o), 0);
	assert_int_equal(c.pssession_v2.min_runspaces, 1);
	assert_int_equal(c.pssession_v2.max_runspaces, 4);
	assert_string_equal(c.pssession_v2.ssh_subsystem, "powershell");
	rms__options_free(&c);
	/* A version 1 struct: the command shell, as before version 2. */
	rms_session_options full = base();
	assert_int_equal(rms__options_copy_sized(&c, &full, OLD_SIZE), 0);
	assert_int_equal(c.pssession_v2.protocol, RMS_PS_PROTOCOL_SHELL);
	assert_int_equal(c.pssession_v2.max_runspaces, 1);
	rms__options_free(&c);
	rms_ps_protocol p;
	assert_int_equal(rms_ps_protocol_parse(&p, "PowerShell"), 0);
	assert_int_equal(p, RMS_PS_PROTOCOL_POWERSHELL);
	assert_int_equal(rms_ps_protocol_parse(&p, "psrp"), RMS_E_INVALID_ARG);
	assert_string_equal(rms_ps_protocol_name(RMS_PS_PROTOCOL_SHELL), "shell");
}

/* A field the older struct does hold is still checked. */
static void test_older_struct_fields_are_still_validated(void **state)
{
	(void)state;
	rms_session_options full = base();
	full.locale = "not a locale";
	unsigned char *poisoned = malloc(sizeof full);
	assert_non_null(poisoned);
	memset(poisoned, 0xA5, sizeof full);
	memcpy(poisoned, &full, OLD_SIZE);
	assert_int_equal(rms__options_validate_sized(poisoned, OLD_SIZE, RMS_BACKEND_CIM),
	                 RMS_E_OPTIONS);
	assert_string_equal(rms_error_field(rms_error_last()), "locale");
	free(poisoned);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_2_pssession_fields),
		cmocka_unit_test(test_init_gives_zero_defaults_and_checks_version),
		cmocka_unit_test(test_minimal_host_is_valid_for_both_backends),
		cmocka_unit_test(test_wrong_version_is_refused),
		cmocka_unit_test(test_backend_must_be_one_backend),
		cmocka_unit_test(test_no_host_and_both_host_and_url),
		cmocka_unit_test(test_bad_urls),
		cmocka_unit_test(test_good_urls_resolve_with_defaults),
		cmocka_unit_test(test_port_out_of_range),
		cmocka_unit_test(test_bad_hosts),
		cmocka_unit_test(test_bad_path),
		cmocka_unit_test(test_credentials),
		cmocka_unit_test(test_unknown_mechanism),
		cmocka_unit_test(test_gss_auth_over_http_is_encrypted_or_refused),
		cmocka_unit_test(test_gss_credentials_and_spn),
		cmocka_unit_test(test_encryption_names),
		cmocka_unit_test(test_certificate_auth_needs_https_and_readable_files),
		cmocka_unit_test(test_ca_file_and_directory),
		cmocka_unit_test(test_envelope_size_floor),
		cmocka_unit_test(test_proxy_and_locale),
		cmocka_unit_test(test_ssh_is_pssession_only_and_needs_credentials),
		cmocka_unit_test(test_namespace_and_shell_uri),
		cmocka_unit_test(test_null_options),
		cmocka_unit_test(test_copy_fills_every_default_once),
		cmocka_unit_test(test_copy_keeps_what_the_caller_set),
		cmocka_unit_test(test_copy_over_ssh_fills_only_what_applies),
		cmocka_unit_test(test_filled_copy_validates_like_the_original),
		cmocka_unit_test(test_session_and_target_hold_the_filled_copy),
		cmocka_unit_test(test_every_version_up_to_ours_has_a_size),
		cmocka_unit_test(test_newer_version_is_a_clear_options_error),
		cmocka_unit_test(test_older_struct_is_read_only_to_its_end),
		cmocka_unit_test(test_older_struct_fields_are_still_validated),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rms_error_clear();
	return rc;
}
