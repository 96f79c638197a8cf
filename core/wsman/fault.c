/*
 * SOAP faults into the error model (fault.h, facts.md §1.8).
 *
 * Where each field comes from:
 *   fault_code / fault_subcode  s:Code/s:Value, s:Code/s:Subcode/s:Value
 *                               (QNames, resolved and re-prefixed);
 *   fault_reason                the first s:Reason/s:Text;
 *   fault_detail                s:Detail/w:FaultDetail;
 *   wsman_code, machine         the outermost f:WSManFault that has them;
 *   wsman_message               the innermost f:WSManFault's f:Message (or a
 *                               ProviderFault's own text); failing that, the
 *                               message of an MSFT_WmiError / CIM_Error or an
 *                               __ExtendedStatus Description;
 *   provider                    f:ProviderFault@provider, else the
 *                               ProviderName of a WMI error object;
 *   wmi_code                    MSFT_WmiError / CIM_Error error_Code (or the
 *                               HRESULT in its MessageID), else the StatusCode
 *                               of __ExtendedStatus / Win32_ExtendedStatus;
 *   cim_status                  CIMStatusCode of the WMI error object.
 * WMI error objects are found anywhere under s:Detail (directly, or inside
 * f:ExtendedError) and matched by local name: their namespace is the class
 * URI, which differs between servers and WMI namespaces.
 *
 * Every text is cleaned for people: runs of white space and control
 * characters become one space, and a text longer than TEXT_CAP bytes is cut
 * at a character boundary and ends in "…".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "xml.h"

#define TEXT_CAP 1000

/* WMI error objects' class names (their namespaces vary). */
#define WMI_ERROR_CLASS "MSFT_WmiError"
/* OMI's error object (Linux and appliances): CIMStatusCode, OMI_Code,
 * Message; a provider's own error comes as CIM_Error. */
#define OMI_ERROR_CLASS "OMI_Error"
#define CIM_ERROR_CLASS "CIM_Error"
#define EXT_STATUS_CLASS "__ExtendedStatus"
#define WIN32_EXT_STATUS_CLASS "Win32_ExtendedStatus"

typedef struct fault_info {
	char *code;
	char *subcode;
	char *reason;
	char *detail;
	char *wsman_message;
	char *machine;
	char *provider;
	char *wmi_message;  /* from a WMI error object, when no WSManFault message */
	char *wmi_provider; /* ProviderName of a WMI error object */
	uint32_t wsman_code;
	uint32_t wmi_code;
	uint32_t cim_status;
	bool has_wsman_code;
	bool has_wmi_code;
	bool subcode_foreign; /* its prefix is bound to another namespace */
	bool nomem;
} fault_info;

static void info_free(fault_info *fi)
{
	free(fi->code);
	free(fi->subcode);
	free(fi->reason);
	free(fi->detail);
	free(fi->wsman_message);
	free(fi->machine);
	free(fi->provider);
	free(fi->wmi_message);
	free(fi->wmi_provider);
}

/* ---- text --------------------------------------------------------------- */

/* White space and control characters (C0, DEL, C1 as UTF-8) collapse to one
 * space; leading and trailing ones go; over TEXT_CAP bytes the text is cut
 * at a character boundary and "…" added. NULL only on out of memory. */
static char *clean_text(const char *s)
{
	size_t len = strlen(s);
	/* Output never exceeds min(len, TEXT_CAP) bytes, plus "…" and NUL. */
	char *out = malloc((len < TEXT_CAP ? len : TEXT_CAP) + 4);
	if (!out)
		return NULL;
	size_t n = 0;
	bool pending_space = false, cut = false;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		size_t clen = 1;
		bool ctrl = *p <= 0x20 || *p == 0x7f;
		if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			ctrl = true;
			clen = 2;
		} else if (*p >= 0xc0) {
			while ((p[clen] & 0xc0) == 0x80)
				clen++;
		}
		if (ctrl) {
			pending_space = n > 0;
			p += clen;
			continue;
		}
		size_t need = clen + (pending_space ? 1 : 0);
		if (n + need > TEXT_CAP) {
			cut = true;
			break;
		}
		if (pending_space)
			out[n++] = ' ';
		pending_space = false;
		memcpy(out + n, p, clen);
		n += clen;
		p += clen;
	}
	if (cut) {
		memcpy(out + n, "\xe2\x80\xa6", 3); /* … */
		n += 3;
	}
	out[n] = '\0';
	return out;
}

/* The cleaned text of n, or NULL when n is absent or its text is empty. */
static char *node_text(fault_info *fi, const xmlNode *n)
{
	if (!n)
		return NULL;
	char *raw = rms__xml_text(n);
	if (!raw) {
		fi->nomem = true;
		return NULL;
	}
	char *t = clean_text(raw);
	free(raw);
	if (!t)
		fi->nomem = true;
	else if (!*t) {
		free(t);
		t = NULL;
	}
	return t;
}

/* Text directly inside n (not in child elements), cleaned; NULL if none. */
static char *direct_text(fault_info *fi, const xmlNode *n)
{
	rms_buf b;
	rms__buf_init(&b);
	for (const xmlNode *c = n->children; c; c = c->next)
		if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
			rms__buf_puts(&b, (const char *)c->content);
	if (b.failed) {
		rms__buf_free(&b);
		fi->nomem = true;
		return NULL;
	}
	char *t = clean_text(b.data ? b.data : "");
	rms__buf_free(&b);
	if (!t)
		fi->nomem = true;
	else if (!*t) {
		free(t);
		t = NULL;
	}
	return t;
}

static char *attr_text(fault_info *fi, const xmlNode *n, const char *name)
{
	char *raw = rms__xml_attr(n, NULL, name);
	if (!raw)
		return NULL;
	char *t = clean_text(raw);
	free(raw);
	if (!t)
		fi->nomem = true;
	else if (!*t) {
		free(t);
		t = NULL;
	}
	return t;
}

static void take(char **slot, char *value)
{
	if (*slot)
		free(value);
	else
		*slot = value;
}

/* Decimal (as Windows writes Code=), or 0x-prefixed hex. */
static bool parse_u32(const char *s, uint32_t *out)
{
	if (!s)
		return false;
	while (*s == ' ')
		s++;
	int base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	uint64_t v = 0;
	const char *start = s;
	for (; *s; s++) {
		int d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		v = v * (uint64_t)base + (uint64_t)d;
		if (v > UINT32_MAX)
			return false;
	}
	while (*s == ' ')
		s++;
	if (s == start || *s)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* ---- codes -------------------------------------------------------------- */

static const struct {
	const char *uri;
	const char *prefix;
} conventional[] = {
    {RMS_NS_SOAP, "s"},       {RMS_NS_ADDRESSING, "a"},  {RMS_NS_WSMAN_DMTF, "w"},
    {RMS_NS_WSMAN_MS, "p"},   {RMS_NS_ENUMERATION, "n"}, {RMS_NS_TRANSFER, "x"},
    {RMS_NS_CIMBINDING, "b"},
};

/* A fault code QName with its prefix replaced by the conventional one for
 * its namespace; as the server wrote it when the namespace is another or
 * the prefix is not declared. *foreign is set when the prefix was declared
 * for a namespace without a conventional prefix, so that a server's
 * "w:TimedOut" with w bound elsewhere is not taken for WS-Man's. */
static char *code_value(fault_info *fi, const xmlNode *value, bool *foreign)
{
	*foreign = false;
	char *raw = node_text(fi, value);
	if (!raw)
		return NULL;
	const char *ns, *local;
	struct rms_error *saved = rms_error_dup(rms_error_last());
	int rc = rms__xml_qname(value, raw, &ns, &local);
	/* An unresolvable QName is not this function's failure to report. */
	if (rc)
		rms__error_restore(saved);
	rms_error_free(saved);
	if (rc || !ns)
		return raw;
	for (size_t i = 0; i < sizeof conventional / sizeof conventional[0]; i++) {
		if (strcmp(ns, conventional[i].uri) == 0) {
			char *r = rms__asprintf("%s:%s", conventional[i].prefix, local);
			free(raw);
			if (!r)
				fi->nomem = true;
			return r;
		}
	}
	*foreign = true;
	return raw;
}

static void decode_code(fault_info *fi, const xmlNode *fault)
{
	const xmlNode *code = rms__xml_child(fault, RMS_NS_SOAP, "Code");
	if (!code)
		return;
	bool foreign;
	fi->code = code_value(fi, rms__xml_child(code, RMS_NS_SOAP, "Value"), &foreign);
	/* SOAP allows nested Subcodes; WS-Management defines the first. */
	const xmlNode *sub = rms__xml_child(code, RMS_NS_SOAP, "Subcode");
	if (sub)
		fi->subcode =
		    code_value(fi, rms__xml_child(sub, RMS_NS_SOAP, "Value"), &fi->subcode_foreign);
}

/* ---- detail ------------------------------------------------------------- */

/* f:WSManFault, possibly holding ProviderFault/WSManFault again: the
 * outermost Code and Machine win, the innermost message wins. */
static void decode_wsmanfault(fault_info *fi, const xmlNode *wf)
{
	char *code = rms__xml_attr(wf, NULL, "Code");
	if (code && !fi->has_wsman_code && parse_u32(code, &fi->wsman_code))
		fi->has_wsman_code = true;
	free(code);
	take(&fi->machine, attr_text(fi, wf, "Machine"));

	const xmlNode *msg = rms__xml_child(wf, RMS_NS_WSMANFAULT, "Message");
	if (!msg)
		return;
	const xmlNode *pf = rms__xml_child(msg, RMS_NS_WSMANFAULT, "ProviderFault");
	char *here;
	if (pf) {
		take(&fi->provider, attr_text(fi, pf, "provider"));
		const xmlNode *inner = rms__xml_child(pf, RMS_NS_WSMANFAULT, "WSManFault");
		if (inner)
			decode_wsmanfault(fi, inner);
		here = direct_text(fi, pf);
	} else {
		here = direct_text(fi, msg);
	}
	take(&fi->wsman_message, here);
}

/* A field of a WMI object, by local name; NULL when absent or nil. */
static const xmlNode *wmi_field(const xmlNode *obj, const char *name)
{
	for (const xmlNode *c = rms__xml_first(obj); c; c = rms__xml_next(c)) {
		if (strcmp((const char *)c->name, name) != 0)
			continue;
		char *nil = rms__xml_attr(c, RMS_NS_XSI_URI, "nil");
		bool is_nil = nil && strcmp(nil, "true") == 0;
		free(nil);
		return is_nil ? NULL : c;
	}
	return NULL;
}

static bool wmi_number(fault_info *fi, const xmlNode *obj, const char *name, uint32_t *out)
{
	char *t = node_text(fi, wmi_field(obj, name));
	bool ok = parse_u32(t, out);
	free(t);
	return ok;
}

static void decode_wmi_error(fault_info *fi, const xmlNode *obj)
{
	uint32_t v;
	if (wmi_number(fi, obj, "CIMStatusCode", &v))
		fi->cim_status = v;
	if (wmi_number(fi, obj, "error_Code", &v)) {
		fi->wmi_code = v;
		fi->has_wmi_code = true;
	} else {
		/* MessageID reads "HRESULT 0x803381a5". */
		char *id = node_text(fi, wmi_field(obj, "MessageID"));
		const char *hex = id ? strstr(id, "0x") : NULL;
		if (hex && parse_u32(hex, &v)) {
			fi->wmi_code = v;
			fi->has_wmi_code = true;
		}
		free(id);
	}
	take(&fi->wmi_message, node_text(fi, wmi_field(obj, "Message")));
	take(&fi->wmi_message, node_text(fi, wmi_field(obj, "error_WindowsErrorMessage")));
	take(&fi->wmi_provider, node_text(fi, wmi_field(obj, "ProviderName")));
}

static void decode_ext_status(fault_info *fi, const xmlNode *obj)
{
	uint32_t v;
	if (!fi->has_wmi_code && wmi_number(fi, obj, "StatusCode", &v)) {
		fi->wmi_code = v;
		fi->has_wmi_code = true;
	}
	take(&fi->wmi_message, node_text(fi, wmi_field(obj, "Description")));
	take(&fi->wmi_provider, node_text(fi, wmi_field(obj, "ProviderName")));
}

static bool named(const xmlNode *n, const char *local)
{
	return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, local) == 0;
}

static void decode_detail(fault_info *fi, const xmlNode *detail)
{
	for (const xmlNode *c = rms__xml_first(detail); c; c = rms__xml_next(c)) {
		if (rms__xml_is(c, RMS_NS_WSMAN_DMTF, "FaultDetail"))
			take(&fi->detail, node_text(fi, c));
		else if (rms__xml_is(c, RMS_NS_WSMANFAULT, "WSManFault") && !fi->has_wsman_code &&
		         !fi->wsman_message)
			decode_wsmanfault(fi, c);
	}
	/* WMI error objects anywhere below, the first of each kind. */
	const xmlNode *wmi = NULL, *ext = NULL;
	const xmlNode *cur = rms__xml_first(detail);
	while (cur && cur != detail) {
		if (!wmi && (named(cur, WMI_ERROR_CLASS) || named(cur, CIM_ERROR_CLASS) ||
		             named(cur, OMI_ERROR_CLASS)))
			wmi = cur;
		else if (!ext &&
		         (named(cur, EXT_STATUS_CLASS) || named(cur, WIN32_EXT_STATUS_CLASS)))
			ext = cur;
		const xmlNode *down = rms__xml_first(cur);
		if (down) {
			cur = down;
			continue;
		}
		while (cur != detail && !rms__xml_next(cur))
			cur = cur->parent;
		if (cur != detail)
			cur = rms__xml_next(cur);
	}
	if (wmi)
		decode_wmi_error(fi, wmi);
	if (ext)
		decode_ext_status(fi, ext);
}

/* ---- raising ------------------------------------------------------------ */

static bool str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

int rms__fault_raise(const xmlNode *fault, int http_status)
{
	fault_info fi;
	memset(&fi, 0, sizeof fi);
	bool is_fault = rms__xml_is(fault, RMS_NS_SOAP, "Fault");
	if (fault) {
		decode_code(&fi, fault);
		fi.reason =
		    node_text(&fi, rms__xml_child(rms__xml_child(fault, RMS_NS_SOAP, "Reason"),
		                                  RMS_NS_SOAP, "Text"));
		const xmlNode *detail = rms__xml_child(fault, RMS_NS_SOAP, "Detail");
		if (detail)
			decode_detail(&fi, detail);
	}
	if (!fi.wsman_message) {
		fi.wsman_message = fi.wmi_message;
		fi.wmi_message = NULL;
	}
	if (!fi.provider) {
		fi.provider = fi.wmi_provider;
		fi.wmi_provider = NULL;
	}
	if (fi.nomem) {
		info_free(&fi);
		return rms__error_nomem();
	}

	const char *wsman_sub = fi.subcode_foreign ? NULL : fi.subcode;
	bool timed_out = str_eq(wsman_sub, "w:TimedOut") ||
	                 (fi.has_wsman_code && fi.wsman_code == RMS_WSMAN_ERR_TIMED_OUT);
	bool too_large = !timed_out && str_eq(wsman_sub, "w:EncodingLimit");
	/* A quota a caller can wait out or raise: shells or operations per
	 * user, concurrent commands (w:QuotaLimit, or its numbers). */
	bool quota = !timed_out && !too_large &&
	             (str_eq(wsman_sub, "w:QuotaLimit") ||
	              (fi.has_wsman_code && fi.wsman_code == RMS_WSMAN_ERR_QUOTA_LIMIT) ||
	              (fi.has_wmi_code && fi.wmi_code == RMS_WSMAN_ERR_MAX_SHELLS_PER_USER));
	int code = timed_out    ? RMS_E_TIMEOUT
	           : too_large  ? RMS_E_ENVELOPE_TOO_LARGE
	           : quota      ? RMS_E_QUOTA
	                        : RMS_E_FAULT;
	rms_phase phase = too_large ? RMS_PHASE_LIMIT : RMS_PHASE_REMOTE;

	const char *head;
	if (!is_fault)
		head = "the server sent a malformed SOAP fault (no s:Fault element)";
	else if (!fi.code)
		head = "the server sent a malformed SOAP fault (no s:Code)";
	else if (timed_out)
		head = "the operation timed out on the server";
	else if (too_large)
		head = "the server refused the request as too large";
	else if (str_eq(fi.code, "s:Receiver"))
		head = "the server failed to process the request";
	else
		head = "the server refused the request";

	const char *reason = fi.reason ? fi.reason : fi.wsman_message;
	rms_buf m;
	rms__buf_init(&m);
	rms__buf_printf(&m, "%s: %s (%s", head, reason ? reason : "no reason given",
	                fi.subcode ? fi.subcode
	                : fi.code  ? fi.code
	                           : "no fault code");
	if (fi.has_wsman_code)
		rms__buf_printf(&m, ", WSManFault %u", (unsigned)fi.wsman_code);
	if (fi.has_wmi_code)
		rms__buf_printf(&m, ", WMI error 0x%08X", (unsigned)fi.wmi_code);
	else if (fi.cim_status)
		rms__buf_printf(&m, ", CIM status %u", (unsigned)fi.cim_status);
	if (fi.provider)
		rms__buf_printf(&m, ", provider '%s'", fi.provider);
	if (fi.wsman_message && reason != fi.wsman_message && !str_eq(fi.wsman_message, reason))
		rms__buf_printf(&m, ": %s", fi.wsman_message);
	rms__buf_puts(&m, ")");
	char *message = rms__buf_take(&m);
	if (!message) {
		info_free(&fi);
		return rms__error_nomem();
	}
	rms__error_set(code, phase, "%s", message);
	free(message);
	struct rms_error *e = rms__error_last_mut();
	if (!e) {
		info_free(&fi);
		return rms__error_nomem();
	}
	/* The strings move into the error. */
	e->fault_code = fi.code;
	e->fault_subcode = fi.subcode;
	e->fault_reason = fi.reason;
	e->fault_detail = fi.detail;
	e->wsman_message = fi.wsman_message;
	e->machine = fi.machine;
	e->provider = fi.provider;
	free(fi.wmi_message);
	free(fi.wmi_provider);
	e->wsman_code = fi.has_wsman_code ? fi.wsman_code : 0;
	e->wmi_code = fi.has_wmi_code ? fi.wmi_code : 0;
	e->cim_status = fi.cim_status;
	e->http_status = http_status;
	if (too_large && fi.detail) {
		const char *slash = strrchr(fi.detail, '/');
		if (slash && strcmp(slash + 1, "MaxEnvelopeSize") == 0)
			rms__error_set_limit("MaxEnvelopeSize", 0, 0);
	}
	return code;
}

bool rms__fault_is_timed_out(const rms_error *e)
{
	return e && e->code == RMS_E_TIMEOUT && e->phase == RMS_PHASE_REMOTE &&
	       (str_eq(e->fault_subcode, "w:TimedOut") || e->wsman_code == RMS_WSMAN_ERR_TIMED_OUT);
}
