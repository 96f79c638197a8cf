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
#include "ps_transport.h"
#include "xml.h"
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

/* ---- failures ----------------------------------------------------------- */

/* Whether a failed request says the shell is gone, from the fault's
 * structure: w:InvalidSelectors / ERROR_WSMAN_UNEXPECTED_SELECTORS names an
 * unknown selector, and the only selector is the ShellId; but WinRS gives
 * the same fault for an unknown CommandId (in the body), without a
 * provider. The shell plugin reports an unknown ShellId through an
 * f:ProviderFault. So: a request that names no command can only mean the
 * shell; one that does means the shell when a provider reported it. */
static bool shell_is_gone(const rms_error *e, bool names_command)
{
	const char *sub = rms_error_fault_subcode(e);
	bool selectors = rms_error_wsman_code(e) == RMS_WSMAN_ERR_INVALID_SELECTORS ||
	                 (sub && strcmp(sub, "w:InvalidSelectors") == 0);
	return selectors && (!names_command || rms_error_provider(e) != NULL);
}

int rms__winrm_failure(int rc, bool names_command, bool *lost, bool *gone)
{
	const rms_error *e = rms_error_last();
	*gone = false;
	*lost = rc == RMS_E_CONNECTION_LOST || rc == RMS_E_CONNECT || rc == RMS_E_RESOLVE ||
	        rc == RMS_E_TLS || (rc == RMS_E_TIMEOUT && !rms__fault_is_timed_out(e));
	if (rc == RMS_E_FAULT && e && shell_is_gone(e, names_command)) {
		*lost = *gone = true;
		/* Its own code, so a caller can tell it from other faults. */
		struct rms_error *m = rms__error_last_mut();
		if (m)
			m->code = RMS_E_GONE;
		rc = RMS_E_GONE;
	}
	return rc;
}

/* ---- liveness: the server's record of the shell -------------------------- */

int rms__winrm_shell_check(rms_session *s, rms_wsman *w, const rms_ref *selectors,
                           const char *shell_id, rms_instance **info, bool *gone)
{
	*gone = false;
	if (rms__wsman_busy(w))
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE,
		                      "%s: an operation's exchange is in flight on the connection; "
		                      "check the shell between operations",
		                      s->name);
	rms_wsman_request req = {
		.action = RMS_ACTION_GET,
		.resource_uri = RMS_URI_SHELL_GENERIC,
		.selectors = selectors,
	};
	rms_wsman_reply reply;
	int rc = rms__wsman_send(w, &req, &reply);
	if (rc) {
		bool lost;
		rc = rms__winrm_failure(rc, false, &lost, gone);
		struct rms_error *m = rms__error_last_mut();
		char *msg = *gone && m ? rms__asprintf("the server no longer has shell %s (deleted, "
		                                       "or ended by its idle timeout or a restart): "
		                                       "%s",
		                                       shell_id, m->message ? m->message : "")
		                       : NULL;
		if (msg) {
			free(m->message);
			m->message = msg;
		}
		if (lost)
			rms__ps_session_lost(s);
		return rc;
	}
	xmlNode *el;
	rms_instance *inst = NULL;
	if (!(rc = rms__winrm_first_element(&reply, &el, "shell's Get")))
		rc = rms__decode_shell_record(el, &inst);
	rms__wsman_reply_free(&reply);
	if (rc)
		return rc;
	const rms_value *state = rms_instance_get(inst, "State");
	const char *st = NULL;
	if (state)
		rms_value_get_string(state, &st);
	rms__log(&s->log, RMS_LOG_DEBUG, "%s: shell %s is %s", s->name, shell_id,
	         st ? st : "(no State)");
	if (!st || strcmp(st, "Connected") != 0)
		rc = rms__error_set(RMS_E_STATE, RMS_PHASE_REMOTE,
		                    "the server holds shell %s as %s, not Connected", shell_id,
		                    st ? st : "(no State given)");
	if (info)
		*info = inst;
	else
		rms_instance_free(inst);
	return rc;
}
