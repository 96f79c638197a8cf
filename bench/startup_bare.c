/*
 * The baseline of bench/startup: a program that loads the same shared
 * libraries as the remsess CLI (libcurl, libxml2, OpenSSL, libssh2, jansson,
 * GSSAPI) and, by default, does nothing else. Each argument names one library
 * initialisation to run, in order, so bench/startup can show what each one
 * costs on top of the loading:
 *
 *   startup_bare [curl] [rand] [xml] [ssh2]
 *
 *   curl  curl_global_init(CURL_GLOBAL_DEFAULT) (initialises OpenSSL too)
 *   rand  RAND_bytes of 16 bytes (OpenSSL's random generator set up)
 *   xml   xmlInitParser()
 *   ssh2  libssh2_init(0)
 *
 * Built a second time with STARTUP_BARE_MIN (startup_bare_min): libxml2 and
 * libcrypto only, what a client would load at start if libcurl, libssh2 and
 * GSSAPI were opened (dlopen) only when a transport needs them.
 */
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <openssl/rand.h>
#ifndef STARTUP_BARE_MIN
#include <curl/curl.h>
#include <gssapi/gssapi.h>
#include <jansson.h>
#include <libssh2.h>
#include <openssl/ssl.h>
#endif

/* One function of every library, so that no linker drops one as unneeded
 * (--as-needed) and this program loads exactly what remsess loads. Never
 * called. */
typedef void (*startup_bare_fn)(void);
const startup_bare_fn startup_bare_keep[] = {
    (startup_bare_fn)xmlCheckVersion,    (startup_bare_fn)RAND_bytes,
#ifndef STARTUP_BARE_MIN
    (startup_bare_fn)curl_version,       (startup_bare_fn)SSL_CTX_new,
    (startup_bare_fn)libssh2_version,    (startup_bare_fn)json_object,
    (startup_bare_fn)gss_release_buffer,
#endif
};

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "rand") == 0) {
			unsigned char r[16];
			if (RAND_bytes(r, sizeof r) != 1)
				return 1;
		} else if (strcmp(argv[i], "xml") == 0) {
			xmlInitParser();
#ifndef STARTUP_BARE_MIN
		} else if (strcmp(argv[i], "curl") == 0) {
			if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
				return 1;
		} else if (strcmp(argv[i], "ssh2") == 0) {
			if (libssh2_init(0) != 0)
				return 1;
#endif
		} else {
			fprintf(stderr, "usage: startup_bare [curl] [rand] [xml] [ssh2]\n");
			return 2;
		}
	}
	return 0;
}
