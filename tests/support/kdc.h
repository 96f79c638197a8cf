/*
 * A throw-away MIT Kerberos KDC for the Kerberos / NTLM / Negotiate tests:
 * tests/endpoint/kdc started in a fresh directory under the current working
 * directory (ctest runs tests in the build tree), with realm REMSESS.TEST,
 * the account RMS_ENDPOINT_USER / RMS_ENDPOINT_PASSWORD (admin@REMSESS.TEST),
 * the service HTTP/localhost in DIR/http.keytab and a gss-ntlmssp user file
 * (REMSESS:admin:Pa55-word). There is no HTTP/127.0.0.1 principal: a client
 * that connects to 127.0.0.1 gets "server not found in Kerberos database".
 *
 * rms_kdc_start() sets, in this process, KRB5_CONFIG (so the library and
 * every endpoint started later use this KDC) and KRB5CCNAME=MEMORY:remsess-test
 * (so nothing reads or writes the user's ticket cache). KRB5_KTNAME and
 * NTLM_USER_FILE are not set here: the endpoint gets them as options
 * (rms_kdc_endpoint_args). Nothing in /etc is read or written.
 */
#ifndef RMS_TEST_KDC_H
#define RMS_TEST_KDC_H

#include <sys/types.h>

typedef struct rms_kdc {
	pid_t pid;
	char dir[512];
	char krb5_config[600];
	char keytab[600];
	char ntlm_user_file[600];
	char realm[64];
	/* private: the argv rms_kdc_endpoint_args() returns */
	const char *endpoint_args[8];
} rms_kdc;

/* Start the KDC and wait until it answers. Returns 0, or -1 with the reason
 * on stderr. The KDC dies with the test process (PR_SET_PDEATHSIG). */
int rms_kdc_start(rms_kdc *k);
/* SIGTERM, wait, remove the directory. Accepts a never-started k (pid 0). */
void rms_kdc_stop(rms_kdc *k);
/* Extra argv for tests/endpoint/run (rms_endpoint_start / rms_endpoint_spawn)
 * so it authenticates against this KDC: {"--auth", "negotiate", "--keytab",
 * KEYTAB, "--ntlm-user-file", FILE, NULL}. Lives as long as k. */
const char *const *rms_kdc_endpoint_args(rms_kdc *k);

#endif
