#include <curl/curl.h>
#include <libssh2.h>
#include <libxml/parser.h>

#include "error_internal.h"
#include "remsess/remsess.h"

int rms_global_init(void)
{
	CURLcode cc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (cc != CURLE_OK)
		return rms__error_set(RMS_E_INTERNAL, RMS_PHASE_NONE, "libcurl initialisation failed: %s",
		                      curl_easy_strerror(cc));
	xmlInitParser();
	int rc = libssh2_init(0);
	if (rc != 0) {
		curl_global_cleanup();
		return rms__error_set(RMS_E_INTERNAL, RMS_PHASE_NONE,
		                      "libssh2 initialisation failed (error %d)", rc);
	}
	return 0;
}

void rms_global_cleanup(void)
{
	libssh2_exit();
	curl_global_cleanup();
}

const char *rms_version(void)
{
	return RMS_VERSION_STRING;
}

const char *const *rms_features(void)
{
	/* Only what works end to end in this build; grows as backends land. */
	static const char *const features[] = {
		"values",      /* typed CIM values, references, instances */
		"datetime",    /* DMTF and XML Schema datetime forms */
		"json",        /* JSON forms of values and instances */
		"cim-session", /* lazy CIM session creation (opens nothing) */
		"wsman",       /* the WS-Management client: envelopes, faults, transport */
		"identify",    /* WS-Identify (CIM backend, CLI identify) */
		"cim",         /* the CIM backend over WS-Man */
		"pssession-winrm", /* the PSSession backend over a WinRM cmd shell */
		"pssession-ssh",   /* the PSSession backend over SSH (exec channels) */
		NULL,
	};
	return features;
}
