/*
 * What a real login and message encryption cost, side by side in one run:
 * N `echo` commands on a persistent PSSession and N CIM Gets, each against
 * the test endpoint three ways:
 *   - Basic over plain http (no login per connection, nothing sealed: the
 *     baseline),
 *   - NTLM with every message sealed (gss-ntlmssp),
 *   - Kerberos with every message sealed (MIT krb5, the suite's own KDC on
 *     loopback).
 * For each: the client's CPU time per command or operation (getrusage of
 * this process), round trips per command from the session's counters, and
 * the endpoint's logins (auth_handshakes) and sealed requests. The endpoint
 * is Python (python3-gssapi); its time is not ours.
 *
 *   bench/auth [-n N] [-m basic|ntlm|kerberos] [--no-cim]   (default: 200, all)
 *
 * Goals (issue 23): encryption adds at most 30% client CPU to a
 * persistent-session command; a PSSession logs in exactly once; the CIM
 * backend logs in once per operation (its connection per operation).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "kdc.h"
#include "measure.h"
#include "remsess/remsess.h"

static int discard(rms_stream stream, const void *data, size_t len, void *userdata)
{
	(void)stream;
	(void)data;
	*(size_t *)userdata += len;
	return 0;
}

struct mode {
	const char *name;
	rms_auth auth;
	const char *user;
	rms_endpoint_proc *ep;
	bool by_name; /* reach it as localhost (the SPN's host) */
};

static rms_session_options options(const struct mode *m, char *url, size_t size)
{
	rms_session_options o = rms_endpoint_session_options(m->ep);
	if (m->by_name) {
		snprintf(url, size, "http://localhost:%u/wsman", m->ep->port);
		o.url = url;
	}
	o.auth = m->auth;
	o.user = m->user;
	o.password = RMS_ENDPOINT_PASSWORD;
	return o;
}

static int commands(const struct mode *m, unsigned long n)
{
	char url[160];
	rms_session_options o = options(m, url, sizeof url);
	rms_endpoint_reset(m->ep);
	rms_session *s = NULL;
	double c0 = cpu_s(), t0 = now_s();
	if (rms_session_new(&s, RMS_BACKEND_PSSESSION, &o)) {
		fprintf(stderr, "%s: session: %s\n", m->name, rms_error_message(rms_error_last()));
		return 1;
	}
	rms_stats before = {.version = RMS_STATS_VERSION}, after = before;
	rms_session_stats(s, &before);
	double c1 = cpu_s();
	size_t out = 0;
	const char *argv[] = {"hi"};
	for (unsigned long i = 0; i < n; i++) {
		int code = -1;
		if (rms_run(&code, s, "echo", 1, argv, discard, &out) || code != 0) {
			fprintf(stderr, "%s: run: %s\n", m->name, rms_error_message(rms_error_last()));
			rms_session_free(s);
			return 1;
		}
	}
	double c2 = cpu_s();
	rms_session_stats(s, &after);
	rms_session_free(s);
	double wall = now_s() - t0;
	printf("%-28s %6lu  %8.0f us  %8.0f us  %5.2f  %5lld  %6lld  %7.2f s\n", m->name, n,
	       (c2 - c1) / (double)n * 1e6, (c1 - c0) * 1e6,
	       (double)(after.round_trips - before.round_trips) / (double)n,
	       (long long)rms_endpoint_stat(m->ep, "auth_handshakes"),
	       (long long)rms_endpoint_stat(m->ep, "encrypted_requests"), wall);
	return 0;
}

static int cim_gets(const struct mode *m, unsigned long n)
{
	char url[160];
	rms_session_options o = options(m, url, sizeof url);
	rms_endpoint_reset(m->ep);
	rms_session *s = NULL;
	if (rms_session_new(&s, RMS_BACKEND_CIM, &o)) {
		fprintf(stderr, "%s: session: %s\n", m->name, rms_error_message(rms_error_last()));
		return 1;
	}
	rms_ref *k = NULL;
	if (rms_ref_new(&k, "root/cimv2", "Win32_Service") ||
	    rms_ref_add_selector(k, "Name", "WinRM")) {
		fprintf(stderr, "ref: %s\n", rms_error_message(rms_error_last()));
		return 1;
	}
	/* The class schema is fetched once per session: not part of each Get. */
	rms_instance *inst = NULL;
	if (rms_get(&inst, s, k)) {
		fprintf(stderr, "%s: get: %s\n", m->name, rms_error_message(rms_error_last()));
		return 1;
	}
	rms_instance_free(inst);
	rms_stats before = {.version = RMS_STATS_VERSION}, after = before;
	rms_session_stats(s, &before);
	double c0 = cpu_s(), t0 = now_s();
	for (unsigned long i = 0; i < n; i++) {
		if (rms_get(&inst, s, k)) {
			fprintf(stderr, "%s: get: %s\n", m->name, rms_error_message(rms_error_last()));
			return 1;
		}
		rms_instance_free(inst);
	}
	double cpu = cpu_s() - c0, wall = now_s() - t0;
	rms_session_stats(s, &after);
	rms_ref_free(k);
	rms_session_free(s);
	printf("%-28s %6lu  %8.0f us  %8s     %5.2f  %5lld  %6lld  %7.2f s\n", m->name, n,
	       cpu / (double)n * 1e6, "-",
	       (double)(after.round_trips - before.round_trips) / (double)n,
	       (long long)rms_endpoint_stat(m->ep, "auth_handshakes"),
	       (long long)rms_endpoint_stat(m->ep, "encrypted_requests"), wall);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long n = 200;
	const char *only = NULL; /* -m basic|ntlm|kerberos: that mode alone */
	bool no_cim = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			n = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-m") == 0 && i + 1 < argc)
			only = argv[++i];
		else if (strcmp(argv[i], "--no-cim") == 0)
			no_cim = true;
		else {
			fprintf(stderr, "usage: bench/auth [-n N] [-m basic|ntlm|kerberos] [--no-cim]\n");
			return 2;
		}
	}
	if (!n)
		n = 1;
	rms_kdc kdc;
	if (rms_kdc_start(&kdc) != 0)
		return 1;
	rms_endpoint_proc *basic = rms_endpoint_spawn(NULL);
	rms_endpoint_proc *gss = rms_endpoint_spawn(rms_kdc_endpoint_args(&kdc));
	if (!basic || !gss) {
		rms_endpoint_kill(basic);
		rms_endpoint_kill(gss);
		rms_kdc_stop(&kdc);
		return 1;
	}
	struct mode modes[] = {
	    {"Basic, plaintext (baseline)", RMS_AUTH_BASIC, RMS_ENDPOINT_USER, basic, false},
	    {"NTLM, sealed", RMS_AUTH_NTLM, "REMSESS\\" RMS_ENDPOINT_USER, gss, false},
	    {"Kerberos, sealed", RMS_AUTH_KERBEROS, RMS_ENDPOINT_USER "@REMSESS.TEST", gss, true},
	};
	int rc = 0;
	printf("PSSession, %lu `echo hi` on one session\n", n);
	printf("%-28s %6s  %11s  %11s  %5s  %5s  %6s  %9s\n", "mode", "n", "CPU/command",
	       "CPU session", "RT/cmd", "logins", "sealed", "wall");
	static const char *const keys[] = {"basic", "ntlm", "kerberos"};
	for (size_t i = 0; i < sizeof modes / sizeof modes[0] && !rc; i++)
		if (!only || strcmp(only, keys[i]) == 0)
			rc = commands(&modes[i], n);
	if (!no_cim) {
		printf("\nCIM backend, %lu Gets (a connection each)\n", n);
		printf("%-28s %6s  %11s  %11s  %5s  %5s  %6s  %9s\n", "mode", "n", "CPU/Get", "",
		       "RT/Get", "logins", "sealed", "wall");
		for (size_t i = 0; i < sizeof modes / sizeof modes[0] && !rc; i++)
			if (!only || strcmp(only, keys[i]) == 0)
				rc = cim_gets(&modes[i], n);
	}
	rms_endpoint_kill(basic);
	rms_endpoint_kill(gss);
	rms_kdc_stop(&kdc);
	return rc;
}
