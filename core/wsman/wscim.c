/*
 * WS-CIM (DSP0230) XML forms of values, references and instances.
 *
 * Choices this file makes beyond wscim.h:
 *   - A class URI in the WMI form needs a namespace; without one the DMTF
 *     form is produced instead. A NULL class name gives "*".
 *   - References inside properties are written in the DMTF form (what the
 *     Windows MI client sends): the class URI plus a __cimnamespace selector
 *     when the namespace is known. A reference that carries its own resource
 *     URI keeps it; a __cimnamespace selector is then added unless the URI is
 *     in the WMI form, which already holds the namespace.
 *   - A null array is written as xsi:nil with msftwinrm:IsNullArray="true"
 *     (the UsePreciseArrays form); an empty array writes nothing, so it reads
 *     back only through a schema (count 0 with an array type).
 *   - Reading char16: text made only of ASCII digits is the decimal code
 *     unit (so "5" is U+0005, as written); anything else must be exactly one
 *     BMP character.
 *   - cim:Date (xs:date) reads as a timestamp whose time fields are
 *     wildcards; cim:Time (xs:time) as one whose date fields are wildcards.
 *     Without a zone, the offset is a wildcard too.
 *   - Every element child of an instance element is a property, whatever its
 *     namespace; a name that reappears after other properties is refused
 *     rather than silently merged or dropped.
 *   - Entity references (from an internal DTD, never expanded) are refused.
 *   - On a write failure the buffer is cut back to where it was.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error_internal.h"
#include "value_internal.h"
#include "wscim.h"

/* Embedded instances and references nest; hostile input must not recurse
 * without bound. */
#define WSCIM_MAX_DEPTH 32

#define CX (const xmlChar *)

/* ---- small helpers ------------------------------------------------------ */

static bool starts_with_nocase(const char *s, const char *prefix)
{
	return s && strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static bool is_xml_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Trim XML whitespace in place; returns the start inside s. */
static char *trim(char *s)
{
	while (is_xml_space(*s))
		s++;
	size_t n = strlen(s);
	while (n && is_xml_space(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* An NCName as far as CIM names go: letters, '_', then also digits, '-',
 * '.'; non-ASCII (valid UTF-8) passes, the XML parser judges it. Enough to
 * keep a name from breaking out of its tag. */
static bool xml_name_ok(const char *s)
{
	if (!s || !*s || !rms__utf8_valid(s, strlen(s)))
		return false;
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		bool alpha =
		    (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c >= 0x80;
		bool later = (c >= '0' && c <= '9') || c == '-' || c == '.';
		if (!alpha && !(p != s && later))
			return false;
	}
	return true;
}

/* Re-raise the last error with the property name in front, keeping its code
 * and reason. */
static int reraise(int rc, rms_phase phase, const char *prop)
{
	if (rc == RMS_E_NOMEM)
		return rms__error_nomem();
	const rms_error *e = rms_error_last();
	char *why = rms__strdup(e ? rms_error_message(e) : rms_error_code_message(rc));
	if (!why)
		return rms__error_nomem();
	if (phase == RMS_PHASE_DECODE)
		rc = rms__error_set(rc, phase, "property %s: %s", prop, why);
	else
		rc = rms__error_field(rc, prop, "property %s: %s", prop, why);
	free(why);
	return rc;
}

/* ---- resource URIs ------------------------------------------------------ */

char *rms__wscim_class_uri(const char *cim_namespace, const char *class_name, rms_uri_form form)
{
	const char *cls = class_name ? class_name : "*";
	const char *ns = cim_namespace;
	size_t n = 0;
	if (ns) {
		while (*ns == '/' || *ns == '\\')
			ns++;
		n = strlen(ns);
		while (n && (ns[n - 1] == '/' || ns[n - 1] == '\\'))
			n--;
	}
	if (form != RMS_URI_WMI || n == 0)
		return rms__asprintf("%s%s", RMS_URI_DMTF_PREFIX, cls);
	char *uri = rms__asprintf("%s%.*s/%s", RMS_URI_WMI_PREFIX, (int)n, ns, cls);
	if (uri) {
		for (char *p = uri + strlen(RMS_URI_WMI_PREFIX); *p; p++)
			if (*p == '\\')
				*p = '/';
	}
	return uri;
}

int rms__wscim_parse_uri(const char *uri, char **cim_namespace, char **class_name)
{
	if (cim_namespace)
		*cim_namespace = NULL;
	if (class_name)
		*class_name = NULL;
	if (!uri || !*uri)
		return rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE, "empty resource URI");
	/* A query ("?Name=x", the scripting shorthand for selectors) or a
	 * fragment is not part of the class. */
	size_t end = strcspn(uri, "?#");
	size_t seg = end;
	while (seg > 0 && uri[seg - 1] != '/')
		seg--;
	if (seg == end)
		return rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE,
		                      "resource URI '%s' has no class segment", uri);
	char *cls = NULL, *ns = NULL;
	if (!(end - seg == 1 && uri[seg] == '*')) {
		cls = rms__strndup(uri + seg, end - seg);
		if (!cls)
			return rms__error_nomem();
	}
	size_t plen = strlen(RMS_URI_WMI_PREFIX);
	if (starts_with_nocase(uri, RMS_URI_WMI_PREFIX) && seg > plen + 1) {
		ns = rms__strndup(uri + plen, seg - 1 - plen);
		if (!ns) {
			free(cls);
			return rms__error_nomem();
		}
	}
	if (class_name)
		*class_name = cls;
	else
		free(cls);
	if (cim_namespace)
		*cim_namespace = ns;
	else
		free(ns);
	return 0;
}

/* ---- writing ------------------------------------------------------------ */

static int put(rms_buf *b, const char *s)
{
	return rms__buf_puts(b, s) ? rms__error_nomem() : 0;
}

static int put_escaped(rms_buf *b, const char *s)
{
	return rms__buf_put_xml_escaped(b, s) ? rms__error_nomem() : 0;
}

/* Refuse what XML 1.0 cannot carry: C0 controls other than tab, LF, CR,
 * and U+FFFE/U+FFFF (a character reference to them is ill-formed too). */
static int check_xml_text(const char *s, const char *prop, const char *what)
{
	const char *p = s, *end = s + strlen(s);
	while (p < end) {
		const char *at = p;
		int32_t cp = rms__utf8_decode(&p, end);
		if (cp < 0)
			return rms__error_field(RMS_E_INVALID_ARG, prop,
			                        "property %s: %s is not valid UTF-8 at byte %zu",
			                        prop, what, (size_t)(at - s));
		if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0xFFFE ||
		    cp == 0xFFFF)
			return rms__error_field(
			    RMS_E_INVALID_ARG, prop,
			    "property %s: %s holds U+%04X at byte %zu, which XML 1.0 "
			    "cannot carry",
			    prop, what, (unsigned)cp, (size_t)(at - s));
	}
	return 0;
}

static int put_text(rms_buf *b, const char *s, const char *prop, const char *what)
{
	int rc = check_xml_text(s, prop, what);
	return rc ? rc : put_escaped(b, s);
}

static int write_ref_impl(rms_buf *b, const rms_ref *ref, rms_uri_form form, const char *prop,
                          int depth);
static int write_value(rms_buf *b, const char *prefix, const char *name, const rms_value *v,
                       int depth);

static int write_datetime(rms_buf *b, const rms_value *v, const char *prop)
{
	rms_datetime dt;
	int rc = rms_value_get_datetime(v, &dt);
	if (rc)
		return reraise(rc, RMS_PHASE_SEND, prop);
	char text[RMS_DATETIME_XS_MAX];
	const char *tag;
	/* The xs forms where they can carry the value; the DMTF string
	 * (cim:CIM_DateTime) for wildcards and for UTC offsets beyond
	 * xs:dateTime's +-14:00, which DMTF allows up to +-999 minutes. */
	rc = dt.wildcards ? RMS_E_RANGE : rms_datetime_format_xs(&dt, text, sizeof text);
	tag = dt.is_interval ? "Interval" : "Datetime";
	if (rc == RMS_E_RANGE) {
		rc = rms_datetime_format_dmtf(&dt, text, sizeof text);
		tag = "CIM_DateTime";
	}
	if (rc)
		return reraise(rc, RMS_PHASE_SEND, prop);
	if (rms__buf_printf(b, "<cim:%s>", tag) || rms__buf_put_xml_escaped(b, text) ||
	    rms__buf_printf(b, "</cim:%s>", tag))
		return rms__error_nomem();
	return 0;
}

static int write_embedded(rms_buf *b, const char *prefix, const char *name, const rms_value *v,
                          int depth)
{
	const rms_instance *inst;
	int rc = rms_value_get_instance(v, &inst);
	if (rc)
		return reraise(rc, RMS_PHASE_SEND, name);
	const char *cls = rms_instance_class_name(inst);
	if (!xml_name_ok(cls))
		return rms__error_field(RMS_E_INVALID_ARG, name,
		                        "property %s: embedded instance class name '%s' is not an "
		                        "XML name",
		                        name, cls ? cls : "(none)");
	/* A fresh prefix per level, so the property element itself (in the
	 * enclosing prefix) never falls under the inner declaration. */
	char q[24];
	snprintf(q, sizeof q, "q%d", depth + 1);
	if (strcmp(q, prefix) == 0)
		snprintf(q, sizeof q, "r%d", depth + 1);
	char *uri = rms__wscim_class_uri(rms_instance_namespace(inst), cls, RMS_URI_WMI);
	if (!uri)
		return rms__error_nomem();
	rc = check_xml_text(uri, name, "embedded instance URI");
	if (!rc && (rms__buf_printf(b, "<%s:%s xsi:type=\"%s:%s_Type\" xmlns:%s=\"", prefix, name,
	                            q, cls, q) ||
	            rms__buf_put_xml_escaped(b, uri) || rms__buf_puts(b, "\">")))
		rc = rms__error_nomem();
	free(uri);
	size_t n = rms_instance_count(inst);
	for (size_t i = 0; !rc && i < n; i++) {
		const char *pname;
		const rms_value *pv;
		rc = rms_instance_at(inst, i, &pname, &pv, NULL);
		if (!rc)
			rc = write_value(b, q, pname, pv, depth + 1);
	}
	if (!rc && rms__buf_printf(b, "</%s:%s>", prefix, name))
		rc = rms__error_nomem();
	return rc;
}

/* One non-null scalar. */
static int write_item(rms_buf *b, const char *prefix, const char *name, const rms_value *v,
                      int depth)
{
	rms_type t = rms_value_type(v);
	if (t == RMS_TYPE_INSTANCE)
		return write_embedded(b, prefix, name, v, depth);
	if (rms__buf_printf(b, "<%s:%s>", prefix, name))
		return rms__error_nomem();
	/* Reals: the value module's shortest round-trip form, which is also the
	 * xs:float / xs:double lexical form ("NaN", "INF", "-INF"). */
	char num[RMS_REAL_TEXT_MAX > 64 ? RMS_REAL_TEXT_MAX : 64];
	int rc = 0;
	num[0] = '\0';
	switch (t) {
	case RMS_TYPE_BOOLEAN: {
		bool x = false;
		rc = rms_value_get_boolean(v, &x);
		snprintf(num, sizeof num, "%s", x ? "true" : "false");
		break;
	}
	case RMS_TYPE_UINT8:
	case RMS_TYPE_UINT16:
	case RMS_TYPE_UINT32:
	case RMS_TYPE_UINT64: {
		uint64_t x = 0;
		rc = rms_value_as_uint64(v, &x);
		snprintf(num, sizeof num, "%" PRIu64, x);
		break;
	}
	case RMS_TYPE_SINT8:
	case RMS_TYPE_SINT16:
	case RMS_TYPE_SINT32:
	case RMS_TYPE_SINT64: {
		int64_t x = 0;
		rc = rms_value_as_int64(v, &x);
		snprintf(num, sizeof num, "%" PRId64, x);
		break;
	}
	case RMS_TYPE_REAL32: {
		float x = 0;
		rc = rms_value_get_real32(v, &x);
		rms__real_format(num, x, true);
		break;
	}
	case RMS_TYPE_REAL64: {
		double x = 0;
		rc = rms_value_get_real64(v, &x);
		rms__real_format(num, x, false);
		break;
	}
	case RMS_TYPE_CHAR16: {
		uint16_t x = 0;
		rc = rms_value_get_char16(v, &x);
		snprintf(num, sizeof num, "%u", (unsigned)x);
		break;
	}
	case RMS_TYPE_STRING: {
		const char *s = NULL;
		rc = rms_value_get_string(v, &s);
		if (rc)
			return reraise(rc, RMS_PHASE_SEND, name);
		rc = put_text(b, s, name, "string");
		break;
	}
	case RMS_TYPE_DATETIME:
		rc = write_datetime(b, v, name);
		break;
	case RMS_TYPE_REFERENCE: {
		const rms_ref *r = NULL;
		rc = rms_value_get_reference(v, &r);
		if (rc)
			return reraise(rc, RMS_PHASE_SEND, name);
		rc = write_ref_impl(b, r, RMS_URI_DMTF, name, depth + 1);
		break;
	}
	default:
		return rms__error_field(RMS_E_INVALID_ARG, name,
		                        "property %s: value of unknown type %d", name, (int)t);
	}
	if (rc)
		return rc == RMS_E_NOMEM ? rms__error_nomem() : rc;
	if (num[0] && put(b, num))
		return RMS_E_NOMEM;
	if (rms__buf_printf(b, "</%s:%s>", prefix, name))
		return rms__error_nomem();
	return 0;
}

static int write_value(rms_buf *b, const char *prefix, const char *name, const rms_value *v,
                       int depth)
{
	if (!xml_name_ok(name))
		return rms__error_field(RMS_E_INVALID_ARG, "name",
		                        "property name '%s' is not an XML name",
		                        name ? name : "(null)");
	if (!v)
		return rms__error_field(RMS_E_INVALID_ARG, name, "property %s: no value", name);
	if (depth > WSCIM_MAX_DEPTH)
		return rms__error_field(RMS_E_INVALID_ARG, name,
		                        "property %s: values nest deeper than %d levels", name,
		                        WSCIM_MAX_DEPTH);
	rms_type t = rms_value_type(v);
	if (rms_value_is_null(v)) {
		int rc;
		if (RMS_TYPE_IS_ARRAY(t))
			rc = rms__buf_printf(b,
			                     "<%s:%s xmlns:msftwinrm=\"" RMS_NS_MSWSMAN
			                     "\" msftwinrm:IsNullArray=\"true\" xsi:nil=\"true\"/>",
			                     prefix, name);
		else
			rc = rms__buf_printf(b, "<%s:%s xsi:nil=\"true\"/>", prefix, name);
		return rc ? rms__error_nomem() : 0;
	}
	if (!RMS_TYPE_IS_ARRAY(t))
		return write_item(b, prefix, name, v, depth);
	size_t n = rms_value_array_length(v);
	for (size_t i = 0; i < n; i++) {
		int rc = write_item(b, prefix, name, rms_value_array_at(v, i), depth);
		if (rc)
			return rc;
	}
	return 0;
}

/* Undo a failed write so the caller's buffer holds only whole elements. */
static int cut_back(rms_buf *b, size_t mark, int rc)
{
	if (rc && b->data && b->len > mark) {
		b->len = mark;
		b->data[mark] = '\0';
	}
	return rc;
}

int rms__wscim_write_property(rms_buf *b, const char *prefix, const char *name, const rms_value *v)
{
	if (!b || !xml_name_ok(prefix))
		return rms__error_field(RMS_E_INVALID_ARG, "prefix",
		                        "invalid buffer or prefix '%s'",
		                        prefix ? prefix : "(null)");
	size_t mark = b->len;
	return cut_back(b, mark, write_value(b, prefix, name, v, 0));
}

static int write_selector_open(rms_buf *b, const char *sel_name, const char *prop)
{
	if (!*sel_name)
		return rms__error_field(RMS_E_INVALID_ARG, prop, "property %s: empty selector name",
		                        prop);
	int rc = put(b, "<w:Selector Name=\"");
	if (!rc)
		rc = put_text(b, sel_name, prop, "selector name");
	if (!rc)
		rc = put(b, "\">");
	return rc;
}

static int write_ref_impl(rms_buf *b, const rms_ref *ref, rms_uri_form form, const char *prop,
                          int depth);

/* <w:SelectorSet> with the ref's selectors (nested references as
 * <a:EndpointReference>) and, when cim_ns is given, __cimnamespace. Writes
 * nothing when there is nothing to write. */
static int write_selectors_impl(rms_buf *b, const rms_ref *ref, rms_uri_form form,
                                const char *prop, int depth, const char *cim_ns)
{
	size_t n = rms_ref_selector_count(ref);
	int rc = 0;
	if (n || cim_ns)
		rc = put(b, "<w:SelectorSet>");
	for (size_t i = 0; !rc && i < n; i++) {
		const char *sname = NULL, *sval = NULL;
		const rms_ref *sref = NULL;
		rc = rms_ref_selector_at(ref, i, &sname, &sval, &sref);
		if (rc)
			break;
		rc = write_selector_open(b, sname, prop);
		if (!rc && sref) {
			rc = put(b, "<a:EndpointReference>");
			if (!rc)
				rc = write_ref_impl(b, sref, form, prop, depth + 1);
			if (!rc)
				rc = put(b, "</a:EndpointReference>");
		} else if (!rc) {
			rc = put_text(b, sval ? sval : "", prop, "selector value");
		}
		if (!rc)
			rc = put(b, "</w:Selector>");
	}
	if (!rc && cim_ns) {
		rc = write_selector_open(b, "__cimnamespace", prop);
		if (!rc)
			rc = put_text(b, cim_ns, prop, "namespace");
		if (!rc)
			rc = put(b, "</w:Selector>");
	}
	if (!rc && (n || cim_ns))
		rc = put(b, "</w:SelectorSet>");
	return rc;
}

int rms__wscim_write_selectors(rms_buf *b, const rms_ref *ref, rms_uri_form form,
                               const char *cim_namespace)
{
	if (!b || !ref)
		return rms__error_field(RMS_E_INVALID_ARG, "ref", "no buffer or reference");
	size_t mark = b->len;
	return cut_back(b, mark, write_selectors_impl(b, ref, form, "selector", 0, cim_namespace));
}

static int write_ref_impl(rms_buf *b, const rms_ref *ref, rms_uri_form form, const char *prop,
                          int depth)
{
	if (depth > WSCIM_MAX_DEPTH)
		return rms__error_field(RMS_E_INVALID_ARG, prop,
		                        "%s: references nest deeper than %d levels", prop,
		                        WSCIM_MAX_DEPTH);
	const char *ns = rms_ref_namespace(ref);
	const char *cls = rms_ref_class_name(ref);
	const char *addr = rms_ref_address(ref);
	const char *uri = rms_ref_resource_uri(ref);
	char *built = NULL;
	if (!uri) {
		if (!cls)
			return rms__error_field(
			    RMS_E_INVALID_ARG, prop,
			    "%s: reference has neither a resource URI nor a class", prop);
		built = rms__wscim_class_uri(ns, cls, form);
		if (!built)
			return rms__error_nomem();
		uri = built;
	}
	bool add_ns = ns && *ns && !starts_with_nocase(uri, RMS_URI_WMI_PREFIX) &&
	              !rms_ref_selector(ref, "__cimnamespace");
	int rc = put(b, "<a:Address>");
	if (!rc)
		rc = put_text(b, addr ? addr : RMS_WSA_ANONYMOUS, prop, "reference address");
	if (!rc)
		rc = put(b, "</a:Address><a:ReferenceParameters><w:ResourceURI>");
	if (!rc)
		rc = put_text(b, uri, prop, "resource URI");
	if (!rc)
		rc = put(b, "</w:ResourceURI>");
	free(built);
	if (!rc)
		rc = write_selectors_impl(b, ref, form, prop, depth, add_ns ? ns : NULL);
	if (!rc)
		rc = put(b, "</a:ReferenceParameters>");
	return rc;
}

int rms__wscim_write_ref(rms_buf *b, const rms_ref *ref, rms_uri_form form)
{
	if (!b || !ref)
		return rms__error_field(RMS_E_INVALID_ARG, "ref", "no buffer or reference");
	size_t mark = b->len;
	return cut_back(b, mark, write_ref_impl(b, ref, form, "reference", 0));
}

int rms__wscim_write_instance(rms_buf *b, const rms_instance *inst, const char *resource_uri,
                              const char *element_name)
{
	if (!b || !inst)
		return rms__error_field(RMS_E_INVALID_ARG, "instance", "no buffer or instance");
	const char *cls = rms_instance_class_name(inst);
	const char *elem = element_name ? element_name : cls;
	if (!xml_name_ok(elem))
		return rms__error_field(RMS_E_INVALID_ARG, "element_name",
		                        "instance element name '%s' is not an XML name",
		                        elem ? elem : "(none)");
	char *built = NULL;
	if (!resource_uri) {
		if (!cls)
			return rms__error_field(
			    RMS_E_INVALID_ARG, "resource_uri",
			    "instance has no class and no resource URI was given");
		built = rms__wscim_class_uri(rms_instance_namespace(inst), cls, RMS_URI_WMI);
		if (!built)
			return rms__error_nomem();
		resource_uri = built;
	}
	size_t mark = b->len;
	int rc = check_xml_text(resource_uri, elem, "resource URI");
	if (!rc && (rms__buf_printf(b, "<p:%s xmlns:p=\"", elem) ||
	            rms__buf_put_xml_escaped(b, resource_uri) ||
	            rms__buf_puts(b, "\"" RMS_WSCIM_XMLNS ">")))
		rc = rms__error_nomem();
	free(built);
	size_t n = rms_instance_count(inst);
	for (size_t i = 0; !rc && i < n; i++) {
		const char *pname;
		const rms_value *pv;
		rc = rms_instance_at(inst, i, &pname, &pv, NULL);
		if (!rc)
			rc = write_value(b, "p", pname, pv, 0);
	}
	if (!rc && rms__buf_printf(b, "</p:%s>", elem))
		rc = rms__error_nomem();
	return cut_back(b, mark, rc);
}

/* ---- reading ------------------------------------------------------------ */

static const char *ns_href(const xmlNode *n)
{
	return n->ns ? (const char *)n->ns->href : NULL;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool elem_is(const xmlNode *n, const char *ns, const char *local)
{
	return n && n->type == XML_ELEMENT_NODE && str_eq(ns_href(n), ns) &&
	       strcmp((const char *)n->name, local) == 0;
}

static bool same_name(const xmlNode *a, const xmlNode *b)
{
	return strcmp((const char *)a->name, (const char *)b->name) == 0 &&
	       str_eq(ns_href(a), ns_href(b));
}

static const xmlNode *next_elem(const xmlNode *n)
{
	for (n = n->next; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			return n;
	return NULL;
}

static const xmlNode *first_child_elem(const xmlNode *n)
{
	const xmlNode *c = n->children;
	if (!c || c->type == XML_ELEMENT_NODE)
		return c;
	return next_elem(c);
}

/* An attribute's value when it is plain text (borrowed); "" when empty;
 * NULL when absent or made of entity references. */
static const char *attr_text(const xmlAttr *a)
{
	if (!a)
		return NULL;
	if (!a->children)
		return "";
	if (a->children->type != XML_TEXT_NODE || a->children->next)
		return NULL;
	return (const char *)a->children->content;
}

static const char *get_attr(const xmlNode *n, const char *ns, const char *name)
{
	return attr_text(xmlHasNsProp(n, CX name, CX ns));
}

/* xs:boolean true, whitespace-collapsed. */
static bool attr_true(const char *v)
{
	if (!v)
		return false;
	while (is_xml_space(*v))
		v++;
	size_t n = strlen(v);
	while (n && is_xml_space(v[n - 1]))
		n--;
	return (n == 4 && strncmp(v, "true", 4) == 0) || (n == 1 && v[0] == '1');
}

static bool is_nil(const xmlNode *n)
{
	return attr_true(get_attr(n, RMS_NS_XSI, "nil"));
}

/* msftwinrm:IsNullArray; also accepted without a namespace. */
static bool is_null_array(const xmlNode *n)
{
	for (const xmlAttr *a = n->properties; a; a = a->next) {
		const char *ns = a->ns ? (const char *)a->ns->href : NULL;
		if (strcmp((const char *)a->name, "IsNullArray") == 0 &&
		    (!ns || strcmp(ns, RMS_NS_MSWSMAN) == 0) && attr_true(attr_text(a)))
			return true;
	}
	return false;
}

/* The namespace URI bound to a QName's prefix (default namespace for none)
 * in scope at n; NULL when unbound. */
static const char *qname_ns(const xmlNode *n, const char *qname)
{
	const char *colon = strchr(qname, ':');
	size_t plen = colon ? (size_t)(colon - qname) : 0;
	for (; n && n->type == XML_ELEMENT_NODE; n = n->parent) {
		for (const xmlNs *ns = n->nsDef; ns; ns = ns->next) {
			const char *p = (const char *)ns->prefix;
			if (colon ? (p && strlen(p) == plen && strncmp(p, qname, plen) == 0) : !p)
				return (const char *)ns->href;
		}
	}
	return NULL;
}

/* The direct text of e (text and CDATA children). Element children are the
 * caller's business; entity references are refused (never expanded). */
static int elem_text(char **out, const xmlNode *e, const char *prop)
{
	rms_buf b;
	rms__buf_init(&b);
	for (const xmlNode *c = e->children; c; c = c->next) {
		switch (c->type) {
		case XML_TEXT_NODE:
		case XML_CDATA_SECTION_NODE:
			if (c->content && rms__buf_puts(&b, (const char *)c->content)) {
				rms__buf_free(&b);
				return rms__error_nomem();
			}
			break;
		case XML_ENTITY_REF_NODE:
			rms__buf_free(&b);
			return rms__error_set(
			    RMS_E_PARSE, RMS_PHASE_DECODE,
			    "property %s holds the entity reference &%s;, which is "
			    "not expanded",
			    prop, (const char *)c->name);
		default:
			break;
		}
	}
	if (!b.data && rms__buf_append(&b, "", 0))
		return rms__error_nomem();
	*out = rms__buf_take(&b);
	return *out ? 0 : rms__error_nomem();
}

typedef enum { DT_NONE, DT_DATETIME, DT_INTERVAL, DT_DMTF, DT_DATE, DT_TIME } dt_kind;

static dt_kind datetime_kind(const xmlNode *c)
{
	if (elem_is(c, RMS_NS_CIM, "Datetime"))
		return DT_DATETIME;
	if (elem_is(c, RMS_NS_CIM, "Interval"))
		return DT_INTERVAL;
	if (elem_is(c, RMS_NS_CIM, "CIM_DateTime") || elem_is(c, NULL, "CIM_DateTime"))
		return DT_DMTF;
	if (elem_is(c, RMS_NS_CIM, "Date"))
		return DT_DATE;
	if (elem_is(c, RMS_NS_CIM, "Time"))
		return DT_TIME;
	return DT_NONE;
}

static bool digits_at(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* cim:Date / cim:Time through the xs:dateTime parser, the missing half
 * marked unknown. */
static int parse_date_or_time(rms_datetime *dt, const char *text, bool is_date, const char *prop)
{
	char full[RMS_DATETIME_XS_MAX + 16];
	size_t n = strlen(text);
	bool shape = is_date ? (n >= 10 && digits_at(text, 4) && text[4] == '-' &&
	                        digits_at(text + 5, 2) && text[7] == '-' && digits_at(text + 8, 2))
	                     : (n >= 8 && digits_at(text, 2) && text[2] == ':' &&
	                        digits_at(text + 3, 2) && text[5] == ':' && digits_at(text + 6, 2));
	if (!shape || n > RMS_DATETIME_XS_MAX)
		return rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE,
		                      "property %s: '%.64s' is not an %s", prop, text,
		                      is_date ? "xs:date" : "xs:time");
	if (is_date)
		snprintf(full, sizeof full, "%.10sT00:00:00%s", text, text + 10);
	else
		snprintf(full, sizeof full, "2000-01-01T%s", text);
	int rc = rms_datetime_parse_xs(dt, full);
	if (rc)
		return reraise(rc, RMS_PHASE_DECODE, prop);
	dt->wildcards |= is_date ? (RMS_DT_WILD_HOUR | RMS_DT_WILD_MINUTE | RMS_DT_WILD_SECOND)
	                         : (RMS_DT_WILD_YEAR | RMS_DT_WILD_MONTH | RMS_DT_WILD_DAY);
	if (dt->tz_form == RMS_TZ_NONE) {
		dt->tz_form = RMS_TZ_OFFSET;
		dt->utc_offset = 0;
		dt->wildcards |= RMS_DT_WILD_OFFSET;
	}
	return 0;
}

static int read_datetime(rms_value **out, const xmlNode *c, dt_kind kind, const char *prop)
{
	if (first_child_elem(c))
		return rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE,
		                      "property %s: <%s> holds element content", prop,
		                      (const char *)c->name);
	char *raw;
	int rc = elem_text(&raw, c, prop);
	if (rc)
		return rc;
	char *text = trim(raw);
	rms_datetime dt;
	memset(&dt, 0, sizeof dt);
	switch (kind) {
	case DT_DATETIME:
	case DT_INTERVAL:
		rc = rms_datetime_parse_xs(&dt, text);
		if (rc)
			rc = reraise(rc, RMS_PHASE_DECODE, prop);
		else if (dt.is_interval != (kind == DT_INTERVAL))
			rc = rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE,
			                    "property %s: cim:%s holds '%.64s', %s", prop,
			                    kind == DT_INTERVAL ? "Interval" : "Datetime", text,
			                    dt.is_interval ? "a duration" : "a point in time");
		break;
	case DT_DMTF:
		rc = rms_datetime_parse_dmtf(&dt, text);
		if (rc)
			rc = reraise(rc, RMS_PHASE_DECODE, prop);
		break;
	default:
		rc = parse_date_or_time(&dt, text, kind == DT_DATE, prop);
		break;
	}
	free(raw);
	if (!rc) {
		rc = rms_value_new_datetime(out, &dt);
		if (rc)
			rc = reraise(rc, RMS_PHASE_DECODE, prop);
	}
	return rc;
}

/* Decimal code unit; the caller has checked the text is digits and
 * whitespace. */
static int parse_char16(rms_value **out, char *raw, const char *prop)
{
	char *t = trim(raw);
	if (!*t || strspn(t, "0123456789") != strlen(t))
		return rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE,
		                      "property %s: char16 '%.32s' is neither one character nor a "
		                      "decimal code unit",
		                      prop, t);
	unsigned long x = strlen(t) > 5 ? 0x10000UL : strtoul(t, NULL, 10);
	if (x > 0xFFFF)
		return rms__error_set(RMS_E_RANGE, RMS_PHASE_DECODE,
		                      "property %s: char16 code unit %.32s out of range 0..65535",
		                      prop, t);
	int rc = rms_value_new_char16(out, (uint16_t)x);
	return rc ? reraise(rc, RMS_PHASE_DECODE, prop) : 0;
}

static int char16_from_char(rms_value **out, const char *text, const char *prop)
{
	const char *p = text, *end = text + strlen(text);
	int32_t cp = rms__utf8_decode(&p, end);
	if (cp < 0 || p != end || cp > 0xFFFF)
		return rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE,
		                      "property %s: '%.32s' is neither a decimal code unit nor one "
		                      "BMP character",
		                      prop, text);
	int rc = rms_value_new_char16(out, (uint16_t)cp);
	return rc ? reraise(rc, RMS_PHASE_DECODE, prop) : 0;
}

static int text_to_value(rms_value **out, int stype, char *text, const char *prop)
{
	int rc;
	if (stype < 0 || stype == RMS_TYPE_STRING) {
		rc = rms_value_new_string(out, text);
		return rc ? reraise(rc, RMS_PHASE_DECODE, prop) : 0;
	}
	if (stype == RMS_TYPE_CHAR16) {
		bool decimal = false;
		for (const char *p = text; *p; p++) {
			if (*p >= '0' && *p <= '9')
				decimal = true;
			else if (!is_xml_space(*p)) {
				decimal = false;
				break;
			}
		}
		if (decimal)
			return parse_char16(out, text, prop);
		return char16_from_char(out, text, prop);
	}
	char *t = trim(text);
	if (stype == RMS_TYPE_BOOLEAN) {
		bool yes = strcasecmp(t, "true") == 0 || strcmp(t, "1") == 0;
		bool no = strcasecmp(t, "false") == 0 || strcmp(t, "0") == 0;
		if (!yes && !no)
			return rms__error_set(
			    RMS_E_PARSE, RMS_PHASE_DECODE,
			    "property %s: '%.64s' is not a boolean (true, false, 1 or 0)", prop, t);
		return rms_value_new_boolean(out, yes) ? rms__error_nomem() : 0;
	}
	if ((stype == RMS_TYPE_REAL32 || stype == RMS_TYPE_REAL64) && strcmp(t, "+INF") == 0)
		t++;
	rc = rms_value_from_text(out, (rms_type)stype, t);
	return rc ? reraise(rc, RMS_PHASE_DECODE, prop) : 0;
}

static int read_ref_impl(rms_ref **out, const xmlNode *elem, int depth);
static int read_instance_impl(rms_instance **out, const xmlNode *elem, const char *ns_uri,
                              const char *fallback_ns, rms_wscim_type_fn type_of, void *userdata,
                              int depth);

static bool is_epr(const xmlNode *elem)
{
	for (const xmlNode *c = first_child_elem(elem); c; c = next_elem(c))
		if (elem_is(c, RMS_NS_WSA, "Address") ||
		    elem_is(c, RMS_NS_WSA, "ReferenceParameters"))
			return true;
	return false;
}

static int declared_mismatch(int stype, const char *prop, const char *holds)
{
	return rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE,
	                      "property %s is declared %s but holds %s", prop,
	                      rms_type_name((rms_type)stype), holds);
}

static int read_embedded(rms_value **out, const xmlNode *elem, const char *xsi_type, int depth)
{
	const char *prop = (const char *)elem->name;
	rms_instance *inst = NULL;
	int rc =
	    read_instance_impl(&inst, elem, qname_ns(elem, xsi_type), NULL, NULL, NULL, depth + 1);
	if (rc)
		return rc;
	rc = rms_value_new_instance(out, inst);
	rms_instance_free(inst);
	return rc ? reraise(rc, RMS_PHASE_DECODE, prop) : 0;
}

/* One element as one scalar (possibly null) of stype, or by shape when
 * stype is -1. */
static int read_item(rms_value **out, const xmlNode *elem, int stype, int depth)
{
	const char *prop = (const char *)elem->name;
	int rc;
	if (depth > WSCIM_MAX_DEPTH)
		return rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE,
		                      "property %s: values nest deeper than %d levels", prop,
		                      WSCIM_MAX_DEPTH);
	if (is_nil(elem)) {
		rc = rms_value_new_null(out, stype < 0 ? RMS_TYPE_STRING : (rms_type)stype);
		return rc ? reraise(rc, RMS_PHASE_DECODE, prop) : 0;
	}
	const char *xsi_type = get_attr(elem, RMS_NS_XSI, "type");
	const xmlNode *child = first_child_elem(elem);
	if (child) {
		dt_kind k = datetime_kind(child);
		if (k != DT_NONE) {
			const xmlNode *more = next_elem(child);
			if (more)
				return rms__error_set(
				    RMS_E_PARSE, RMS_PHASE_DECODE,
				    "property %s: unexpected element <%s> after <%s>", prop,
				    (const char *)more->name, (const char *)child->name);
			if (stype >= 0 && stype != RMS_TYPE_DATETIME)
				return declared_mismatch(stype, prop, "a datetime");
			return read_datetime(out, child, k, prop);
		}
		if (is_epr(elem)) {
			if (stype >= 0 && stype != RMS_TYPE_REFERENCE)
				return declared_mismatch(stype, prop, "a reference");
			rms_ref *r = NULL;
			rc = read_ref_impl(&r, elem, depth + 1);
			if (rc)
				return rc;
			rc = rms_value_new_reference(out, r);
			rms_ref_free(r);
			return rc ? reraise(rc, RMS_PHASE_DECODE, prop) : 0;
		}
		if (xsi_type) {
			if (stype >= 0 && stype != RMS_TYPE_INSTANCE)
				return declared_mismatch(stype, prop, "an embedded instance");
			return read_embedded(out, elem, xsi_type, depth);
		}
		const char *cns = ns_href(child);
		return rms__error_set(
		    RMS_E_PARSE, RMS_PHASE_DECODE,
		    "property %s holds element <%s>%s%s%s, which is not a datetime, "
		    "reference or embedded instance",
		    prop, (const char *)child->name, cns ? " (namespace " : "", cns ? cns : "",
		    cns ? ")" : "");
	}
	if (stype == RMS_TYPE_INSTANCE && xsi_type)
		return read_embedded(out, elem, xsi_type, depth); /* no properties */
	if (stype == RMS_TYPE_INSTANCE || stype == RMS_TYPE_REFERENCE)
		return declared_mismatch(stype, prop, "text");
	char *text;
	rc = elem_text(&text, elem, prop);
	if (rc)
		return rc;
	if (stype < 0 || stype == RMS_TYPE_STRING) {
		/* The hot path of every enumeration: libxml2 has checked the
		 * text, so it becomes the value as it is. */
		rc = rms__value_new_string_take(out, text);
		return rc ? reraise(rc, RMS_PHASE_DECODE, prop) : 0;
	}
	rc = text_to_value(out, stype, text, prop);
	free(text);
	return rc;
}

static bool type_valid(int type)
{
	return type == -1 || (type >= 0 && (type & ~RMS_TYPE_ARRAY) <= RMS_TYPE_INSTANCE &&
	                      (type & ~(RMS_TYPE_ARRAY | 0x0F)) == 0);
}

/* An octet string (`[OctetString] uint8[]`) as OMI writes it: one text
 * node of base64 with xsi:type cim:cimBase64Binary ("QUJD" for 41 42 43),
 * where Windows repeats the element once per byte. */
static bool is_base64_octets(const xmlNode *e)
{
	const char *t = get_attr(e, RMS_NS_XSI, "type");
	if (!t)
		return false;
	const char *colon = strchr(t, ':');
	const char *local = colon ? colon + 1 : t;
	return strcmp(local, "cimBase64Binary") == 0 || strcmp(local, "base64Binary") == 0;
}

static int read_base64_octets(rms_value **out, const xmlNode *e, const char *prop)
{
	char *text;
	int rc = elem_text(&text, e, prop);
	if (rc)
		return rc;
	unsigned char *bytes = NULL;
	size_t n = 0;
	rc = rms__base64_decode(&bytes, &n, text, strlen(text));
	free(text);
	if (rc)
		return rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE,
		                      "property %s: its octet string (cimBase64Binary) is not "
		                      "base64",
		                      prop);
	rms_value *arr = NULL;
	rc = rms_value_new_array(&arr, RMS_TYPE_UINT8);
	for (size_t i = 0; !rc && i < n; i++) {
		rms_value *v = NULL;
		rc = rms_value_new_uint8(&v, bytes[i]);
		if (!rc && (rc = rms_value_array_append(arr, v)))
			rms_value_free(v);
	}
	free(bytes);
	if (rc) {
		rms_value_free(arr);
		return reraise(rc, RMS_PHASE_DECODE, prop);
	}
	*out = arr;
	return 0;
}

static int read_property_impl(rms_value **out, const xmlNode *first, size_t count, int type,
                              int depth)
{
	*out = NULL;
	if (!type_valid(type))
		return rms__error_field(RMS_E_INVALID_ARG, "type", "invalid declared type %d",
		                        type);
	if (count == 0) {
		if (type < 0 || !RMS_TYPE_IS_ARRAY(type))
			return rms__error_field(
			    RMS_E_INVALID_ARG, "count",
			    "no elements, and the declared type is not an array");
		int rc = rms_value_new_array(out, RMS_TYPE_SCALAR(type));
		return rc == RMS_E_NOMEM ? rms__error_nomem() : rc;
	}
	if (!first || first->type != XML_ELEMENT_NODE)
		return rms__error_field(RMS_E_INVALID_ARG, "first", "not an element");
	const char *prop = (const char *)first->name;
	bool declared_array = type >= 0 && RMS_TYPE_IS_ARRAY(type);
	if (type >= 0 && !declared_array && count > 1)
		return rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE,
		                      "property %s repeated %zu times but declared scalar (%s)",
		                      prop, count, rms_type_name((rms_type)type));
	if (count == 1 && !is_nil(first) && is_base64_octets(first) &&
	    (type < 0 || (declared_array && RMS_TYPE_SCALAR(type) == RMS_TYPE_UINT8)))
		return read_base64_octets(out, first, prop);
	if (count == 1 && !declared_array) {
		if (type < 0 && is_nil(first) && is_null_array(first)) {
			int rc = rms_value_new_null(out, RMS_TYPE_STRING | RMS_TYPE_ARRAY);
			return rc ? reraise(rc, RMS_PHASE_DECODE, prop) : 0;
		}
		return read_item(out, first, type, depth);
	}
	int stype = type >= 0 ? (int)RMS_TYPE_SCALAR(type) : -1;
	/* An array has no null items, so a lone nil is the array itself. */
	if (count == 1 && is_nil(first)) {
		int rc = rms_value_new_null(out, (rms_type)(stype | RMS_TYPE_ARRAY));
		return rc ? reraise(rc, RMS_PHASE_DECODE, prop) : 0;
	}
	rms_value *arr = NULL;
	const xmlNode *e = first;
	int rc = 0;
	for (size_t i = 0; i < count; i++) {
		if (i > 0) {
			e = next_elem(e);
			if (!e || !same_name(e, first)) {
				rc = rms__error_field(
				    RMS_E_INVALID_ARG, "count",
				    "property %s: count is %zu but only %zu elements follow", prop,
				    count, i);
				break;
			}
		}
		if (is_nil(e)) {
			rc = rms__error_set(
			    RMS_E_PARSE, RMS_PHASE_DECODE,
			    "property %s: item %zu of %zu is nil, and CIM arrays have no "
			    "null items",
			    prop, i + 1, count);
			break;
		}
		rms_value *item = NULL;
		rc = read_item(&item, e, stype, depth);
		if (rc)
			break;
		rms_type it = rms_value_type(item);
		if (!arr) {
			rc = rms_value_new_array(&arr, it);
		} else if (it != RMS_TYPE_SCALAR(rms_value_type(arr))) {
			rc = rms__error_set(
			    RMS_E_PARSE, RMS_PHASE_DECODE,
			    "property %s: item %zu is a %s but earlier items are %s", prop, i + 1,
			    rms_type_name(it), rms_type_name(RMS_TYPE_SCALAR(rms_value_type(arr))));
		}
		if (!rc)
			rc = rms_value_array_append(arr, item);
		if (rc) {
			rms_value_free(item);
			if (rc != RMS_E_PARSE)
				rc = reraise(rc, RMS_PHASE_DECODE, prop);
			break;
		}
	}
	if (rc) {
		rms_value_free(arr);
		return rc;
	}
	*out = arr;
	return 0;
}

int rms__wscim_read_property(rms_value **out, const xmlNode *first, size_t count, int type)
{
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "no output");
	return read_property_impl(out, first, count, type, 0);
}

/* The text of the one child of e named ns:local, trimmed; NULL (and 0) when
 * there is none. */
static int child_text(char **out, const xmlNode *e, const char *ns, const char *local)
{
	*out = NULL;
	for (const xmlNode *c = first_child_elem(e); c; c = next_elem(c)) {
		if (!elem_is(c, ns, local))
			continue;
		char *raw;
		int rc = elem_text(&raw, c, local);
		if (rc)
			return rc;
		char *t = trim(raw);
		memmove(raw, t, strlen(t) + 1);
		*out = raw;
		return 0;
	}
	return 0;
}

static const xmlNode *child_elem(const xmlNode *e, const char *ns, const char *local)
{
	for (const xmlNode *c = first_child_elem(e); c; c = next_elem(c))
		if (elem_is(c, ns, local))
			return c;
	return NULL;
}

static int add_selectors(rms_ref *r, const xmlNode *set, const char *where, int depth)
{
	for (const xmlNode *s = first_child_elem(set); s; s = next_elem(s)) {
		if (!elem_is(s, RMS_NS_WSMAN, "Selector"))
			continue;
		const char *name = get_attr(s, NULL, "Name");
		if (!name || !*name)
			return rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE,
			                      "%s: w:Selector without a Name", where);
		if (rms__streq_nocase(name, "__cimnamespace"))
			continue;
		const xmlNode *c = first_child_elem(s);
		int rc;
		if (c) {
			/* A reference-valued key: Windows wraps the EPR in
			 * a:EndpointReference; OMI puts its a:Address and
			 * a:ReferenceParameters straight in the selector. */
			const xmlNode *epr = NULL;
			if (elem_is(c, RMS_NS_WSA, "EndpointReference") && !next_elem(c))
				epr = c;
			else if (child_elem(s, RMS_NS_WSA, "ReferenceParameters"))
				epr = s;
			if (!epr)
				return rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE,
				                      "%s: selector %s holds <%s>, neither one "
				                      "a:EndpointReference nor an endpoint reference's "
				                      "a:Address and a:ReferenceParameters",
				                      where, name, (const char *)c->name);
			rms_ref *nested = NULL;
			rc = read_ref_impl(&nested, epr, depth + 1);
			if (rc)
				return rc;
			rc = rms_ref_add_selector_ref(r, name, nested);
			rms_ref_free(nested);
		} else {
			char *text;
			rc = elem_text(&text, s, name);
			if (rc)
				return rc;
			rc = rms_ref_add_selector(r, name, text);
			free(text);
		}
		if (rc)
			return reraise(rc, RMS_PHASE_DECODE, where);
	}
	return 0;
}

static int read_ref_impl(rms_ref **out, const xmlNode *elem, int depth)
{
	const char *where = (const char *)elem->name;
	*out = NULL;
	if (depth > WSCIM_MAX_DEPTH)
		return rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE,
		                      "%s: references nest deeper than %d levels", where,
		                      WSCIM_MAX_DEPTH);
	const xmlNode *params = child_elem(elem, RMS_NS_WSA, "ReferenceParameters");
	if (!params)
		return rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE,
		                      "%s: endpoint reference without a:ReferenceParameters",
		                      where);
	char *uri = NULL, *addr = NULL, *ns = NULL, *cls = NULL, *sel_ns = NULL;
	rms_ref *r = NULL;
	int rc = child_text(&uri, params, RMS_NS_WSMAN, "ResourceURI");
	if (!rc && (!uri || !*uri))
		rc = rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE,
		                    "%s: endpoint reference without a w:ResourceURI", where);
	if (!rc)
		rc = rms__wscim_parse_uri(uri, &ns, &cls);
	if (!rc)
		rc = child_text(&addr, elem, RMS_NS_WSA, "Address");
	const xmlNode *set = child_elem(params, RMS_NS_WSMAN, "SelectorSet");
	/* The DMTF form names the namespace in a selector; it is where the
	 * instance lives, not one of its keys. */
	for (const xmlNode *s = set ? first_child_elem(set) : NULL; !rc && s; s = next_elem(s)) {
		const char *name = get_attr(s, NULL, "Name");
		if (elem_is(s, RMS_NS_WSMAN, "Selector") && name &&
		    rms__streq_nocase(name, "__cimnamespace")) {
			free(sel_ns);
			sel_ns = NULL;
			rc = elem_text(&sel_ns, s, name);
			if (!rc) {
				char *t = trim(sel_ns);
				memmove(sel_ns, t, strlen(t) + 1);
			}
		}
	}
	if (!rc) {
		rc = rms_ref_new(&r, sel_ns && *sel_ns ? sel_ns : ns, cls);
		if (rc)
			rc = reraise(rc, RMS_PHASE_DECODE, where);
	}
	if (!rc && addr && *addr && rms_ref_set_address(r, addr))
		rc = reraise(RMS_E_NOMEM, RMS_PHASE_DECODE, where);
	if (!rc && rms_ref_set_resource_uri(r, uri))
		rc = reraise(RMS_E_NOMEM, RMS_PHASE_DECODE, where);
	if (!rc && set)
		rc = add_selectors(r, set, where, depth);
	free(uri);
	free(addr);
	free(ns);
	free(cls);
	free(sel_ns);
	if (rc) {
		rms_ref_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int rms__wscim_read_ref(rms_ref **out, const xmlNode *elem)
{
	if (!out || !elem || elem->type != XML_ELEMENT_NODE)
		return rms__error_field(RMS_E_INVALID_ARG, "elem", "no output or not an element");
	return read_ref_impl(out, elem, 0);
}

/* "p:Win32_Service_Type" -> "Win32_Service"; NULL when it is not X_Type. */
static char *class_from_xsi_type(const char *xsi_type)
{
	const char *colon = strchr(xsi_type, ':');
	const char *local = colon ? colon + 1 : xsi_type;
	size_t n = strlen(local);
	if (n <= 5 || strcmp(local + n - 5, "_Type") != 0)
		return NULL;
	return rms__strndup(local, n - 5);
}

static int read_instance_impl(rms_instance **out, const xmlNode *elem, const char *ns_uri,
                              const char *fallback_ns, rms_wscim_type_fn type_of, void *userdata,
                              int depth)
{
	const char *ename = (const char *)elem->name;
	*out = NULL;
	if (depth > WSCIM_MAX_DEPTH)
		return rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE,
		                      "%s: instances nest deeper than %d levels", ename,
		                      WSCIM_MAX_DEPTH);
	const char *xsi_type = get_attr(elem, RMS_NS_XSI, "type");
	char *cls = NULL, *ns = NULL;
	if (xsi_type) {
		cls = class_from_xsi_type(xsi_type);
		/* An embedded instance's element is named after the property,
		 * so its xsi:type is the only place the class can come from. */
		if (!cls && depth > 0) {
			const char *colon = strchr(xsi_type, ':');
			cls = rms__strdup(colon ? colon + 1 : xsi_type);
			if (!cls)
				return rms__error_nomem();
		}
	}
	if (!cls) {
		cls = rms__strdup(ename);
		if (!cls)
			return rms__error_nomem();
	}
	int rc = 0;
	if (ns_uri && starts_with_nocase(ns_uri, RMS_URI_WMI_PREFIX))
		rc = rms__wscim_parse_uri(ns_uri, &ns, NULL);
	rms_instance *inst = NULL;
	if (!rc) {
		rc = rms_instance_new(&inst, ns ? ns : fallback_ns, cls);
		if (rc)
			rc = reraise(rc, RMS_PHASE_DECODE, ename);
	}
	free(cls);
	free(ns);
	const xmlNode *c = rc ? NULL : first_child_elem(elem);
	while (c) {
		const char *prop = (const char *)c->name;
		size_t count = 1;
		const xmlNode *last = c;
		for (const xmlNode *n = next_elem(c); n && same_name(n, c); n = next_elem(n)) {
			count++;
			last = n;
		}
		if (rms_instance_get(inst, prop)) {
			rc = rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE,
			                    "%s: property %s appears again after other properties",
			                    ename, prop);
			break;
		}
		int type = type_of ? type_of(prop, userdata) : -1;
		rms_value *v = NULL;
		rc = read_property_impl(&v, c, count, type, depth);
		if (rc)
			break;
		/* Unique (checked above) and a valid XML name. */
		rc = rms__instance_append(inst, prop, v);
		if (rc) {
			rms_value_free(v);
			rc = reraise(rc, RMS_PHASE_DECODE, prop);
			break;
		}
		c = next_elem(last);
	}
	if (rc) {
		rms_instance_free(inst);
		return rc;
	}
	*out = inst;
	return 0;
}

int rms__wscim_read_instance(rms_instance **out, const xmlNode *elem, const char *cim_namespace,
                             rms_wscim_type_fn type_of, void *userdata)
{
	if (!out || !elem || elem->type != XML_ELEMENT_NODE)
		return rms__error_field(RMS_E_INVALID_ARG, "elem", "no output or not an element");
	return read_instance_impl(out, elem, ns_href(elem), cim_namespace, type_of, userdata, 0);
}
