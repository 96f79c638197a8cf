/*
 * What opening a session over WinRM learns before its shell, shared by the
 * command shell (ps_winrs.c) and PowerShell remoting (psrp_winrm.c): the
 * server's ProductVersion from Identify, its MaxEnvelopeSizekb from
 * winrm/config where the user may read it, and from those the
 * MaxEnvelopeSize the session keeps to.
 */
#include <stdlib.h>
#include <string.h>

#include "defaults.h"
#include "fault.h"
#include "winrm_setup.h"
#include "wsman_ops.h"

int rms__winrm_first_element(rms_wsman_reply *reply, xmlNode **out, const char *what)
{
	int rc = rms__soap_reader_next(reply->reader, out);
	if (rc == RMS_ITEROVER)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE, "the %s answer is empty",
		                      what);
	return rc;
}

/*
 * The answer to the winrm/config Get: the server's MaxEnvelopeSizekb in
 * *kb. Windows answers it to administrators only (others get
 * w:AccessDenied); any failure other than a lost connection leaves *kb at
 * 0 and the caller falls back to the protocol version's default, as
 * PowerShell does.
 */
int rms__winrm_config_read(rms_session *s, int rc, rms_wsman_reply *reply, uint32_t *kb)
{
	*kb = 0;
	if (rc) {
		if (rc == RMS_E_CONNECTION_LOST || rc == RMS_E_CONNECT || rc == RMS_E_TLS ||
		    rc == RMS_E_AUTH || rc == RMS_E_CANCELLED ||
		    (rc == RMS_E_TIMEOUT && !rms__fault_is_timed_out(rms_error_last())))
			return rc;
		rms__log(&s->log, RMS_LOG_DEBUG, "%s: winrm/config not readable (%s)", s->name,
		         rms_error_message(rms_error_last()));
		rms_error_clear();
		return 0;
	}
	xmlNode *cfg;
	if (rms__winrm_first_element(reply, &cfg, "Config") == 0) {
		xmlNode *el = rms__xml_child(cfg, RMS_NS_CONFIG, "MaxEnvelopeSizekb");
		char *text = el ? rms__xml_text(el) : NULL;
		char *end = NULL;
		unsigned long v = text ? strtoul(text, &end, 10) : 0;
		/* Windows accepts 32 and up; more than 4 GB is no envelope size. */
		if (text && end != text && *end == '\0' && v >= 32 && v <= 4194303)
			*kb = (uint32_t)v;
		else
			rms__log(&s->log, RMS_LOG_WARNING,
			         "%s: winrm/config has no usable MaxEnvelopeSizekb ('%.32s')",
			         s->name, text ? text : "");
		free(text);
	} else {
		rms_error_clear();
	}
	rms__wsman_reply_free(reply);
	return 0;
}

uint32_t rms__winrm_envelope(rms_session *s, const char *version, uint32_t kb)
{
	uint32_t env = kb ? kb * 1024u
	                  : (version && strstr(version, "Stack: 2.0")) ? RMS_WINRM2_MAX_ENVELOPE
	                                                               : RMS_DEFAULT_MAX_ENVELOPE;
	rms__log(&s->log, RMS_LOG_DEBUG, "%s: server %s: MaxEnvelopeSize %u (%s)", s->name,
	         version ? version : "(no version)", env,
	         kb ? "winrm/config" : "protocol version default");
	return env;
}

int rms__winrm_identified(rms_wsman *w, rms_wsman_reply *reply, char **version)
{
	rms_instance *id = NULL;
	int rc = rms__wsman_identify_decode(w, reply, &id);
	rms__wsman_reply_free(reply);
	if (rc)
		return rc;
	const char *v = NULL;
	const rms_value *pv = rms_instance_get(id, "ProductVersion");
	if (pv && rms_value_get_string(pv, &v) == 0 && v && !(*version = rms__strdup(v)))
		rc = rms__error_nomem();
	rms_instance_free(id);
	return rc;
}
