/*
 * CIM get / enumerate / query as a Get-CimInstance pipeline, and the
 * CimInstances it returns decoded into instances (ps_cim_psrp.h).
 */
#include "ps_cim_psrp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error_internal.h"
#include "util.h"
#include "value_internal.h"
#include "xml.h"

#define CIM_TYPE_PREFIX "Microsoft.Management.Infrastructure.CimInstance#"
#define DESERIALIZED "Deserialized."
/* The adapted property PowerShell adds to every CimInstance: not CIM's. */
#define PS_COMPUTER_NAME "PSComputerName"
/* Deepest nesting of references and embedded instances decoded. */
#define MAX_DEPTH 32
/* A type not known (no class metadata for the property). */
#define TYPE_UNKNOWN ((rms_type)0xFFFF)
#define TICKS_PER_SECOND 10000000LL

struct cim_prop {
	char *name;
	rms_type type; /* RMS_TYPE_ARRAY set for arrays */
	bool key;
};

struct rms_ps_cim_class {
	char *name;
	char *ns;
	struct cim_prop *props;
	size_t n, cap;
};

/* ---- the pipeline ----------------------------------------------------------- */

static int add_param(rms_ps_cim_pipeline *p, const char *name, const char *value)
{
	rms_value *v = NULL;
	if (rms_value_new_string(&v, value))
		return RMS_E_NOMEM;
	p->values[p->n] = v;
	p->params[p->n].name = name;
	p->params[p->n].value = v;
	p->n++;
	return 0;
}

/* -QueryDialect takes a name: "WQL" for WS-Man's WQL URI (as ps_cim.c). */
static const char *dialect_name(const char *dialect)
{
	size_t n = dialect ? strlen(dialect) : 0;
	if (!dialect)
		return "WQL";
	if (n >= 3 && (n == 3 || dialect[n - 4] == '/') && rms__streq_nocase(dialect + n - 3, "wql"))
		return "WQL";
	if (n >= 3 && (n == 3 || dialect[n - 4] == '/') && rms__streq_nocase(dialect + n - 3, "cql"))
		return "CQL";
	return dialect;
}

/* A WQL string literal: backslash and quote escaped with a backslash. */
static int wql_quote(rms_buf *b, const char *s)
{
	int rc = rms__buf_puts(b, "'");
	for (; !rc && *s; s++) {
		if (*s == '\\' || *s == '\'')
			rc = rms__buf_puts(b, "\\");
		if (!rc)
			rc = rms__buf_append(b, s, 1);
	}
	return rc ? rc : rms__buf_puts(b, "'");
}

char *rms__ps_cim_key_filter(const rms_ref *ref)
{
	rms_buf b;
	rms__buf_init(&b);
	int rc = 0;
	size_t n = rms_ref_selector_count(ref);
	for (size_t i = 0; !rc && i < n; i++) {
		const char *name, *value;
		const rms_ref *vref;
		rms_ref_selector_at(ref, i, &name, &value, &vref);
		if (i)
			rc = rms__buf_puts(&b, " AND ");
		if (!rc)
			rc = rms__buf_puts(&b, name);
		if (!rc)
			rc = rms__buf_puts(&b, " = ");
		if (!rc)
			rc = wql_quote(&b, value ? value : "");
	}
	if (rc || !b.data) {
		rms__buf_free(&b);
		return rc ? NULL : rms__strdup("");
	}
	return b.data;
}

int rms__ps_cim_pipeline(rms_ps_cim_pipeline *p, const rms_request *req, const char *ns)
{
	memset(p, 0, sizeof *p);
	p->cmd.text = "Get-CimInstance";
	int rc = add_param(p, "Namespace", ns);
	if (!rc && req->kind == RMS_OP_QUERY) {
		rc = add_param(p, "Query", req->query);
		if (!rc)
			rc = add_param(p, "QueryDialect", dialect_name(req->dialect));
	} else if (!rc && req->kind == RMS_OP_ENUMERATE) {
		rc = add_param(p, "ClassName", req->class_name);
	} else if (!rc) {
		const rms_ref *ref = req->ref;
		size_t n = rms_ref_selector_count(ref);
		for (size_t i = 0; i < n; i++) {
			const char *name, *value;
			const rms_ref *vref = NULL;
			rms_ref_selector_at(ref, i, &name, &value, &vref);
			if (vref) {
				rms__ps_cim_pipeline_free(p);
				return rms__error_set(RMS_E_NOT_IMPLEMENTED, RMS_PHASE_NONE,
				                      "a get by a reference-valued key (%s) through a "
				                      "PowerShell-remoting PSSession is not built yet; the "
				                      "CIM backend or a command-shell PSSession can do it",
				                      name);
			}
		}
		if (n == 0) {
			rms__ps_cim_pipeline_free(p);
			return rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_NONE,
			                      "a get through a PowerShell-remoting PSSession needs the "
			                      "instance's key values (the reference has no selectors)");
		}
		char *filter = rms__ps_cim_key_filter(ref);
		rc = filter ? add_param(p, "ClassName", rms_ref_class_name(ref)) : RMS_E_NOMEM;
		if (!rc)
			rc = add_param(p, "Filter", filter);
		free(filter);
	}
	/* Every error of the cmdlet ends the pipeline, so the op fails with it
	 * as the CIM backend's would, instead of going on. */
	if (!rc)
		rc = add_param(p, "ErrorAction", "Stop");
	if (rc) {
		rms__ps_cim_pipeline_free(p);
		return rms__error_nomem();
	}
	p->cmd.params = p->params;
	p->cmd.nparams = p->n;
	return 0;
}

void rms__ps_cim_pipeline_free(rms_ps_cim_pipeline *p)
{
	for (size_t i = 0; i < p->n; i++)
		rms_value_free(p->values[i]);
	memset(p, 0, sizeof *p);
}

/* ---- classes ---------------------------------------------------------------- */

static void class_clear(struct rms_ps_cim_class *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->props[i].name);
	free(c->props);
	free(c->name);
	free(c->ns);
	memset(c, 0, sizeof *c);
}

void rms__ps_cim_classes_free(rms_ps_cim_classes *c)
{
	for (size_t i = 0; i < c->n; i++)
		class_clear(&c->items[i]);
	free(c->items);
	memset(c, 0, sizeof *c);
}

static struct rms_ps_cim_class *find_class(rms_ps_cim_classes *c, const char *ns,
                                           const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (rms__streq_nocase(c->items[i].name, name) &&
		    rms__namespace_equal(c->items[i].ns, ns))
			return &c->items[i];
	return NULL;
}

static const struct cim_prop *find_prop(const struct rms_ps_cim_class *c, const char *name)
{
	for (size_t i = 0; c && i < c->n; i++)
		if (rms__streq_nocase(c->props[i].name, name))
			return &c->props[i];
	return NULL;
}

static bool attr_is(const xmlNode *n, const char *name, const char *want)
{
	char *v = rms__xml_attr(n, NULL, name);
	bool r = v && rms__streq_nocase(v, want);
	free(v);
	return r;
}

/* A QUALIFIER child named q with the value true (key) or any value (the
 * embedded-instance ones). */
static bool has_qualifier(const xmlNode *prop, const char *q, bool must_be_true)
{
	for (xmlNode *c = rms__xml_child(prop, NULL, "QUALIFIER"); c;
	     c = rms__xml_next_named(c, NULL, "QUALIFIER")) {
		if (!attr_is(c, "NAME", q))
			continue;
		if (!must_be_true)
			return true;
		char *v = rms__xml_text(rms__xml_child(c, NULL, "VALUE"));
		bool r = v && rms__streq_nocase(v, "true");
		free(v);
		return r;
	}
	return false;
}

static int prop_type(rms_type *out, const xmlNode *p, const char *cls)
{
	bool array = rms__xml_is(p, NULL, "PROPERTY.ARRAY");
	if (rms__xml_is(p, NULL, "PROPERTY.REFERENCE")) {
		*out = RMS_TYPE_REFERENCE;
		return 0;
	}
	char *t = rms__xml_attr(p, NULL, "TYPE");
	char *name = rms__xml_attr(p, NULL, "NAME");
	int rc = 0;
	if (attr_is(p, "EmbeddedObject", "instance") || attr_is(p, "EmbeddedObject", "object") ||
	    has_qualifier(p, "EmbeddedInstance", false) || has_qualifier(p, "EmbeddedObject", false) ||
	    (t && (rms__streq_nocase(t, "instance") || rms__streq_nocase(t, "object"))))
		*out = RMS_TYPE_INSTANCE;
	else if (!t || rms_type_parse(out, t) || (*out & RMS_TYPE_ARRAY) ||
	         *out > RMS_TYPE_INSTANCE || *out == RMS_TYPE_REFERENCE)
		rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                    "the class metadata (MiXml) of %s gives property %s the type "
		                    "'%.40s', which is not a CIM type",
		                    cls, name ? name : "?", t ? t : "(none)");
	if (!rc && array)
		*out = (rms_type)(*out | RMS_TYPE_ARRAY);
	free(t);
	free(name);
	return rc;
}

/* Parse one MiXml (a CIM-XML CLASS) into c. */
static int parse_mixml(struct rms_ps_cim_class *c, const char *xml, const char *cls)
{
	xmlDoc *doc = NULL;
	rms_xml_limits lim = { 16u << 20, 64, 0 };
	char what[160];
	snprintf(what, sizeof what, "the class metadata (MiXml) of %.100s", cls);
	int rc = rms__xml_parse(&doc, xml, strlen(xml), &lim, what);
	if (rc)
		return rc;
	xmlNode *root = xmlDocGetRootElement(doc);
	if (!rms__xml_is(root, NULL, "CLASS")) {
		xmlFreeDoc(doc);
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE, "%s is not a CIM-XML CLASS",
		                      what);
	}
	for (xmlNode *p = rms__xml_first(root); !rc && p; p = rms__xml_next(p)) {
		if (!rms__xml_is(p, NULL, "PROPERTY") && !rms__xml_is(p, NULL, "PROPERTY.ARRAY") &&
		    !rms__xml_is(p, NULL, "PROPERTY.REFERENCE"))
			continue;
		char *name = rms__xml_attr(p, NULL, "NAME");
		if (!name) {
			rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                    "%s has a property without a NAME", what);
			break;
		}
		rms_type t;
		if ((rc = prop_type(&t, p, cls)) ||
		    (rc = rms__array_grow((void **)&c->props, &c->cap, c->n + 1, sizeof *c->props))) {
			free(name);
			break;
		}
		c->props[c->n].name = name;
		c->props[c->n].type = t;
		c->props[c->n].key = has_qualifier(p, "key", true);
		c->n++;
	}
	xmlFreeDoc(doc);
	return rc;
}

static const char *string_prop(const rms_psobject *o, const char *name)
{
	const char *s = NULL;
	const rms_value *v = rms_psobject_get(o, name);
	if (v && rms_value_type(v) == RMS_TYPE_STRING && !rms_value_is_null(v))
		rms_value_get_string(v, &s);
	return s;
}

static const rms_psobject *as_object(const rms_value *v)
{
	const rms_psobject *o = NULL;
	if (v && rms_value_type(v) == RMS_TYPE_OBJECT && !rms_value_is_null(v))
		rms_value_get_object(v, &o);
	return o;
}

/* Learn the classes whose MiXml the object's __ClassMetadata carries. */
static int learn_classes(rms_ps_cim_classes *cc, const rms_psobject *o)
{
	const rms_psobject *meta = as_object(rms_psobject_get(o, "__ClassMetadata"));
	size_t n = meta ? rms_psobject_length(meta) : 0;
	for (size_t i = 0; i < n; i++) {
		const rms_value *item = NULL;
		rms_psobject_item_at(meta, i, NULL, &item);
		const rms_psobject *m = as_object(item);
		const char *name = m ? string_prop(m, "ClassName") : NULL;
		const char *ns = m ? string_prop(m, "Namespace") : NULL;
		const char *xml = m ? string_prop(m, "MiXml") : NULL;
		if (!name || !xml)
			continue; /* sent before on this stream: known already */
		struct rms_ps_cim_class c = { 0 };
		c.name = rms__strdup(name);
		c.ns = ns ? rms__strdup(ns) : NULL;
		int rc = (!c.name || (ns && !c.ns)) ? rms__error_nomem() : parse_mixml(&c, xml, name);
		if (rc) {
			class_clear(&c);
			return rc;
		}
		struct rms_ps_cim_class *old = find_class(cc, ns, name);
		if (old) {
			class_clear(old);
			*old = c;
			continue;
		}
		if (rms__array_grow((void **)&cc->items, &cc->cap, cc->n + 1, sizeof *cc->items)) {
			class_clear(&c);
			return rms__error_nomem();
		}
		cc->items[cc->n++] = c;
	}
	return 0;
}

/* ---- values ------------------------------------------------------------------ */

/* The class and namespace a CimInstance's first type name names
 * ("Microsoft.Management.Infrastructure.CimInstance#root/cimv2/Win32_Service");
 * false when the object is not a CimInstance. */
static bool cim_identity(const rms_psobject *o, char **ns, char **cls)
{
	*ns = *cls = NULL;
	size_t n = rms_psobject_type_name_count(o);
	for (size_t i = 0; i < n; i++) {
		const char *t = rms_psobject_type_name_at(o, i);
		if (strncmp(t, DESERIALIZED, strlen(DESERIALIZED)) == 0)
			t += strlen(DESERIALIZED);
		if (strncmp(t, CIM_TYPE_PREFIX, strlen(CIM_TYPE_PREFIX)) != 0)
			continue;
		t += strlen(CIM_TYPE_PREFIX);
		const char *slash = strrchr(t, '/');
		if (!slash) {
			*cls = rms__strdup(t); /* "...#Class": no namespace */
		} else {
			*ns = rms__strndup(t, (size_t)(slash - t));
			*cls = rms__strdup(slash + 1);
		}
		return true;
	}
	return false;
}

static int bad(const char *prop, const char *fmt, ...) RMS_PRINTF(2, 3);

static int bad(const char *prop, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE, "property %s %s", prop, msg);
}

static int decode_instance(rms_instance **out, const rms_psobject *o, rms_ps_cim_classes *cc,
                           int depth);

static int interval_of(rms_value **out, int64_t ticks, const char *prop)
{
	if (ticks < 0)
		return bad(prop, "is a negative TimeSpan (%s), which no CIM interval is", "");
	rms_datetime dt;
	memset(&dt, 0, sizeof dt);
	dt.is_interval = true;
	int64_t secs = ticks / TICKS_PER_SECOND;
	dt.nanoseconds = (uint32_t)(ticks % TICKS_PER_SECOND) * 100u;
	dt.frac_digits = dt.nanoseconds % 1000 ? 7 : 6;
	dt.days = (uint32_t)(secs / 86400);
	dt.hour = (int)(secs % 86400 / 3600);
	dt.minute = (int)(secs % 3600 / 60);
	dt.second = (int)(secs % 60);
	return rms_value_new_datetime(out, &dt) == 0 ? 0 : rms__error_nomem();
}

/* A reference: the nested CimInstance's class and its key properties. */
static int reference_of(rms_value **out, const rms_psobject *o, rms_ps_cim_classes *cc,
                        int depth, const char *prop)
{
	rms_instance *inst = NULL;
	int rc = decode_instance(&inst, o, cc, depth + 1);
	if (rc)
		return rc;
	rms_ref *ref = NULL;
	if ((rc = rms_ref_new(&ref, rms_instance_namespace(inst), rms_instance_class_name(inst)))) {
		rms_instance_free(inst);
		return rc;
	}
	bool any_key = false;
	size_t n = rms_instance_count(inst);
	for (size_t i = 0; i < n; i++) {
		unsigned flags = 0;
		rms_instance_at(inst, i, NULL, NULL, &flags);
		any_key |= (flags & RMS_PROP_KEY) != 0;
	}
	for (size_t i = 0; !rc && i < n; i++) {
		const char *name;
		const rms_value *v;
		unsigned flags = 0;
		rms_instance_at(inst, i, &name, &v, &flags);
		/* Without the class, the properties MI set are the keys. */
		if ((any_key && !(flags & RMS_PROP_KEY)) || rms_value_is_null(v))
			continue;
		if (rms_value_type(v) == RMS_TYPE_REFERENCE) {
			const rms_ref *nested;
			rms_value_get_reference(v, &nested);
			rc = rms_ref_add_selector_ref(ref, name, nested);
		} else {
			char *text = NULL;
			if (!(rc = rms_value_to_text(&text, v)))
				rc = rms_ref_add_selector(ref, name, text);
			rms_free(text);
		}
	}
	rms_instance_free(inst);
	if (!rc && rms_ref_selector_count(ref) == 0) {
		rms_ref_free(ref);
		/* PowerShell wrote the object as its ToString alone (too deep). */
		return bad(prop, "is a reference whose CimInstance came without key values%s", "");
	}
	if (!rc)
		rc = rms_value_new_reference(out, ref);
	rms_ref_free(ref);
	return rc ? bad(prop, "(a reference) did not decode: %s",
	                rms_error_last() ? rms_error_message(rms_error_last()) : "")
	          : 0;
}

/* The CIM properties an object carries (PSComputerName is PowerShell's). */
static size_t adapted_count(const rms_psobject *o)
{
	size_t k = 0, n = rms_psobject_count(o);
	for (size_t i = 0; i < n; i++) {
		const char *name;
		unsigned flags = 0;
		rms_psobject_at(o, i, &name, NULL, &flags);
		k += (flags & RMS_PS_PROP_ADAPTED) && !rms__streq_nocase(name, PS_COMPUTER_NAME);
	}
	return k;
}

/* One non-null scalar of CIM type want (TYPE_UNKNOWN: from CLIXML alone). */
static int scalar(rms_value **out, rms_type want, const rms_value *v, rms_ps_cim_classes *cc,
                  int depth, const char *prop)
{
	rms_type got = rms_value_type(v);
	const rms_psobject *o = as_object(v);
	if (o) {
		char *ns, *cls;
		bool is_cim = cim_identity(o, &ns, &cls);
		free(ns);
		free(cls);
		if (!is_cim)
			return bad(prop, "holds an object that is not a CimInstance%s", "");
		if (want == RMS_TYPE_REFERENCE)
			return reference_of(out, o, cc, depth, prop);
		if (want == RMS_TYPE_INSTANCE) {
			if (!adapted_count(o))
				return bad(prop, "is an embedded instance that came without its "
				                 "properties%s",
				           "");
			rms_instance *inst = NULL;
			int rc = decode_instance(&inst, o, cc, depth + 1);
			if (!rc) {
				rc = rms_value_new_instance(out, inst);
				rms_instance_free(inst);
				if (rc)
					rc = rms__error_nomem();
			}
			return rc;
		}
		if (want == TYPE_UNKNOWN)
			return bad(prop, "holds a CimInstance and no class metadata says whether it is "
			                 "a reference or an embedded instance%s",
			           "");
		return bad(prop, "holds a CimInstance where its class says %s", rms_type_name(want));
	}
	if (got == RMS_TYPE_TIMESPAN && (want == RMS_TYPE_DATETIME || want == TYPE_UNKNOWN)) {
		int64_t ticks = 0;
		rms_value_get_timespan(v, &ticks);
		return interval_of(out, ticks, prop);
	}
	if (got > RMS_TYPE_STRING || (want != TYPE_UNKNOWN && got != want)) {
		char what[96];
		snprintf(what, sizeof what, "a %s value where its class says %s", rms_type_name(got),
		         want == TYPE_UNKNOWN ? "(unknown)" : rms_type_name(want));
		return bad(prop, "holds %s", what);
	}
	return rms_value_dup(out, v) ? rms__error_nomem() : 0;
}

/* The element type of a .NET array's type name ("System.UInt32[]"), or
 * TYPE_UNKNOWN. */
static rms_type net_element(const rms_psobject *o)
{
	static const struct {
		const char *net;
		rms_type t;
	} map[] = {
		{ "System.Boolean[]", RMS_TYPE_BOOLEAN }, { "System.Byte[]", RMS_TYPE_UINT8 },
		{ "System.SByte[]", RMS_TYPE_SINT8 },     { "System.UInt16[]", RMS_TYPE_UINT16 },
		{ "System.Int16[]", RMS_TYPE_SINT16 },    { "System.UInt32[]", RMS_TYPE_UINT32 },
		{ "System.Int32[]", RMS_TYPE_SINT32 },    { "System.UInt64[]", RMS_TYPE_UINT64 },
		{ "System.Int64[]", RMS_TYPE_SINT64 },    { "System.Single[]", RMS_TYPE_REAL32 },
		{ "System.Double[]", RMS_TYPE_REAL64 },   { "System.Char[]", RMS_TYPE_CHAR16 },
		{ "System.String[]", RMS_TYPE_STRING },   { "System.DateTime[]", RMS_TYPE_DATETIME },
		{ "System.TimeSpan[]", RMS_TYPE_DATETIME },
	};
	const char *t = rms_psobject_type_name_count(o) ? rms_psobject_type_name_at(o, 0) : "";
	if (strncmp(t, DESERIALIZED, strlen(DESERIALIZED)) == 0)
		t += strlen(DESERIALIZED);
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(t, map[i].net) == 0)
			return map[i].t;
	return TYPE_UNKNOWN;
}

static int array_of(rms_value **out, rms_type elem, const rms_value *v, rms_ps_cim_classes *cc,
                    int depth, const char *prop)
{
	if (rms_value_type(v) == RMS_TYPE_BYTES && (elem == RMS_TYPE_UINT8 || elem == TYPE_UNKNOWN)) {
		/* A Byte[] is written as <BA>, not as a list. */
		const void *data;
		size_t len;
		rms_value_get_bytes(v, &data, &len);
		if (rms_value_new_array(out, RMS_TYPE_UINT8))
			return rms__error_nomem();
		for (size_t i = 0; i < len; i++) {
			rms_value *e = NULL;
			if (rms_value_new_uint8(&e, ((const uint8_t *)data)[i]) ||
			    rms_value_array_append(*out, e)) {
				rms_value_free(e);
				rms_value_free(*out);
				*out = NULL;
				return rms__error_nomem();
			}
		}
		return 0;
	}
	const rms_psobject *o = as_object(v);
	rms_ps_collection kind = o ? rms_psobject_collection(o) : RMS_PS_COLLECTION_NONE;
	if (kind != RMS_PS_COLLECTION_LIST && kind != RMS_PS_COLLECTION_ENUMERABLE)
		return bad(prop, "is an array in its class and not a list in CLIXML%s", "");
	if (elem == TYPE_UNKNOWN)
		elem = net_element(o);
	size_t n = rms_psobject_length(o);
	rms_value **items = calloc(n ? n : 1, sizeof *items);
	if (!items)
		return rms__error_nomem();
	int rc = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		const rms_value *item = NULL;
		rms_psobject_item_at(o, i, NULL, &item);
		if (!item || rms_value_is_null(item))
			rc = bad(prop, "is an array holding a null element%s", "");
		else
			rc = scalar(&items[i], elem, item, cc, depth, prop);
	}
	if (!rc && elem == TYPE_UNKNOWN)
		elem = n ? rms_value_type(items[0]) : TYPE_UNKNOWN;
	if (!rc && elem == TYPE_UNKNOWN)
		rc = bad(prop, "is an empty array of a type no class metadata names%s", "");
	if (!rc && rms_value_new_array(out, elem))
		rc = rms__error_nomem();
	for (size_t i = 0; i < n; i++) {
		if (!rc && rms_value_array_append(*out, items[i])) {
			rc = bad(prop, "is an array whose elements are not all of one type%s", "");
			rms_value_free(*out);
			*out = NULL;
		}
		if (rc)
			rms_value_free(items[i]);
	}
	free(items);
	return rc;
}

static int value_of(rms_value **out, rms_type want, const rms_value *v, rms_ps_cim_classes *cc,
                    int depth, const char *prop)
{
	if (!v || rms_value_is_null(v)) {
		if (want == TYPE_UNKNOWN)
			return bad(prop, "is null and no class metadata gives its CIM type%s", "");
		return rms_value_new_null(out, want) ? rms__error_nomem() : 0;
	}
	bool is_list = false;
	const rms_psobject *o = as_object(v);
	if (o) {
		rms_ps_collection k = rms_psobject_collection(o);
		is_list = k == RMS_PS_COLLECTION_LIST || k == RMS_PS_COLLECTION_ENUMERABLE;
	}
	if (want != TYPE_UNKNOWN && (want & RMS_TYPE_ARRAY))
		return array_of(out, (rms_type)(want & ~RMS_TYPE_ARRAY), v, cc, depth, prop);
	if (want == TYPE_UNKNOWN && (is_list || rms_value_type(v) == RMS_TYPE_BYTES))
		return array_of(out, TYPE_UNKNOWN, v, cc, depth, prop);
	return scalar(out, want, v, cc, depth, prop);
}

static int decode_instance(rms_instance **out, const rms_psobject *o, rms_ps_cim_classes *cc,
                           int depth)
{
	*out = NULL;
	if (depth > MAX_DEPTH)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "CimInstances nested deeper than %d levels", MAX_DEPTH);
	char *ns = NULL, *cls = NULL;
	if (!cim_identity(o, &ns, &cls)) {
		const char *t = rms_psobject_type_name_count(o) ? rms_psobject_type_name_at(o, 0)
		                                                : "(no type name)";
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "the object is not a CimInstance (its type is %.200s)", t);
	}
	int rc = (!cls || rms__check_cim_name("class", cls, false)) ? RMS_E_PROTOCOL : 0;
	if (rc)
		rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                    "the CimInstance's type name names no valid class");
	if (!rc)
		rc = learn_classes(cc, o);
	const struct rms_ps_cim_class *schema = rc ? NULL : find_class(cc, ns, cls);
	if (!rc && (rc = rms_instance_new(out, ns, cls)))
		rc = rms__error_nomem();
	size_t n = rc ? 0 : rms_psobject_count(o);
	for (size_t i = 0; !rc && i < n; i++) {
		const char *name;
		const rms_value *v;
		unsigned flags = 0;
		rms_psobject_at(o, i, &name, &v, &flags);
		if (!(flags & RMS_PS_PROP_ADAPTED) || rms__streq_nocase(name, PS_COMPUTER_NAME))
			continue;
		const struct cim_prop *cp = find_prop(schema, name);
		if (schema && !cp) {
			rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                    "property %s is not in the class metadata of %s", name, cls);
			break;
		}
		rms_value *val = NULL;
		if ((rc = value_of(&val, cp ? cp->type : TYPE_UNKNOWN, v, cc, depth, name)))
			break;
		if ((rc = rms_instance_set(*out, name, val, cp && cp->key ? RMS_PROP_KEY : 0))) {
			rms_value_free(val);
			rc = rms__error_nomem();
		}
	}
	if (rc) {
		rms_instance_free(*out);
		*out = NULL;
		if (rc != RMS_E_NOMEM && cls) {
			const rms_error *e = rms_error_last();
			char *msg = rms__strdup(e ? rms_error_message(e) : "");
			rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE, "%s: %s", cls,
			                    msg ? msg : "did not decode");
			free(msg);
		}
	}
	free(ns);
	free(cls);
	return rc;
}

int rms__ps_cim_decode_object(rms_instance **out, const rms_value *obj, rms_ps_cim_classes *c)
{
	*out = NULL;
	const rms_psobject *o = as_object(obj);
	if (!o)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "the output is a %s, not a CimInstance",
		                      obj ? rms_type_name(rms_value_type(obj)) : "null");
	return decode_instance(out, o, c, 0);
}

/* ---- failures ---------------------------------------------------------------- */

static const char *const STATUS_NAMES[] = {
	"OK",           "FAILED",         "ACCESS_DENIED", "INVALID_NAMESPACE",
	"INVALID_PARAMETER", "INVALID_CLASS", "NOT_FOUND", "NOT_SUPPORTED",
	"CLASS_HAS_CHILDREN", "CLASS_HAS_INSTANCES", "INVALID_SUPERCLASS", "ALREADY_EXISTS",
	"NO_SUCH_PROPERTY", "TYPE_MISMATCH", "QUERY_LANGUAGE_NOT_SUPPORTED", "INVALID_QUERY",
	"METHOD_NOT_AVAILABLE", "METHOD_NOT_FOUND"
};

/* MI_Result by its NativeErrorCode name (Microsoft.Management.Infrastructure). */
static uint32_t status_of_native(const char *name)
{
	static const char *const native[] = {
		"Ok",           "Failed",         "AccessDenied", "InvalidNamespace",
		"InvalidParameter", "InvalidClass", "NotFound", "NotSupported",
		"ClassHasChildren", "ClassHasInstances", "InvalidSuperClass", "AlreadyExists",
		"NoSuchProperty", "TypeMismatch", "QueryLanguageNotSupported", "InvalidQuery",
		"MethodNotAvailable", "MethodNotFound"
	};
	for (uint32_t i = 1; i < sizeof native / sizeof native[0]; i++)
		if (rms__streq_nocase(name, native[i]))
			return i;
	return 0;
}

/* The CIM status of a WMI error number (WBEM_E_*), where one fits. */
static uint32_t status_of_wmi(uint32_t hr)
{
	switch (hr) {
	case 0x80041001: return 1;  /* WBEM_E_FAILED */
	case 0x80041003: return 2;  /* WBEM_E_ACCESS_DENIED */
	case 0x8004100E: return 3;  /* WBEM_E_INVALID_NAMESPACE */
	case 0x80041008: return 4;  /* WBEM_E_INVALID_PARAMETER */
	case 0x80041010: return 5;  /* WBEM_E_INVALID_CLASS */
	case 0x80041002: return 6;  /* WBEM_E_NOT_FOUND */
	case 0x8004100C: return 7;  /* WBEM_E_NOT_SUPPORTED */
	case 0x80041018: return 14; /* WBEM_E_INVALID_QUERY_TYPE */
	case 0x80041017: return 15; /* WBEM_E_INVALID_QUERY */
	default: return 0;
	}
}

static bool number_of(const rms_value *v, int64_t *out)
{
	if (!v || rms_value_is_null(v))
		return false;
	if (rms_value_as_int64(v, out) == 0)
		return true;
	const rms_psobject *o = as_object(v);
	const rms_value *base = o ? rms_psobject_base(o) : NULL;
	return base && rms_value_as_int64(base, out) == 0;
}

int rms__ps_cim_record_error(const rms_value *rec, const char *why)
{
	const rms_psobject *r = as_object(rec);
	const rms_psobject *ex = r ? as_object(rms_psobject_get(r, "Exception")) : NULL;
	const char *fqid = r ? string_prop(r, "FullyQualifiedErrorId") : NULL;
	const char *msg = ex ? string_prop(ex, "Message") : NULL;
	if (!msg && r)
		msg = rms_psobject_to_string(r);
	if (!msg)
		msg = why ? why : "no reason given";
	uint32_t status = 0, wmi = 0;
	int64_t num;
	if (ex && number_of(rms_psobject_get(ex, "StatusCode"), &num) && num > 0 && num <= 0xFFFF)
		status = (uint32_t)num;
	if (!status && ex) {
		const rms_value *nv = rms_psobject_get(ex, "NativeErrorCode");
		const char *name = NULL;
		if (nv && rms_value_type(nv) == RMS_TYPE_STRING && !rms_value_is_null(nv))
			rms_value_get_string(nv, &name);
		else if (as_object(nv))
			name = rms_psobject_to_string(as_object(nv));
		if (name)
			status = status_of_native(name);
		else if (number_of(nv, &num) && num > 0 && num <= 0xFFFF)
			status = (uint32_t)num;
	}
	/* Get-CimInstance's error id: the CimException's MessageId
	 * ("HRESULT 0x80041010"), or "MiClientApiError_<NativeErrorCode>". */
	if (fqid && strncmp(fqid, "HRESULT 0x", 10) == 0)
		wmi = (uint32_t)strtoul(fqid + 10, NULL, 16);
	if (!status && wmi)
		status = status_of_wmi(wmi);
	if (!status && fqid && strncmp(fqid, "MiClientApiError_", 17) == 0) {
		char name[64];
		size_t n = strcspn(fqid + 17, ",");
		snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1),
		         fqid + 17);
		status = status_of_native(name);
	}
	size_t ml = strlen(msg);
	while (ml && (msg[ml - 1] == ' ' || msg[ml - 1] == '\n' || msg[ml - 1] == '\r'))
		ml--;
	ml = rms__utf8_prefix(msg, ml, 1024);
	int rc;
	if (fqid && strncmp(fqid, "CommandNotFoundException", 24) == 0)
		rc = rms__error_set(RMS_E_FAULT, RMS_PHASE_REMOTE,
		                    "PowerShell on the remote computer has no Get-CimInstance (the "
		                    "CimCmdlets module: Windows PowerShell 3.0 or later, or PowerShell "
		                    "7 on Windows); the CIM backend needs no PowerShell: %.*s",
		                    (int)ml, msg);
	else if (status)
		rc = rms__error_set(RMS_E_FAULT, RMS_PHASE_REMOTE,
		                    "Get-CimInstance failed on the remote computer: %.*s (CIM status "
		                    "%u, %s)",
		                    (int)ml, msg, status,
		                    status < sizeof STATUS_NAMES / sizeof STATUS_NAMES[0]
		                            ? STATUS_NAMES[status]
		                            : "unknown status");
	else
		rc = rms__error_set(RMS_E_FAULT, RMS_PHASE_REMOTE,
		                    "Get-CimInstance failed on the remote computer: %.*s%s%s%s",
		                    (int)ml, msg, fqid ? " (" : "", fqid ? fqid : "", fqid ? ")" : "");
	struct rms_error *le = rms__error_last_mut();
	if (le) {
		le->cim_status = status;
		le->wmi_code = wmi;
	}
	return rc;
}

/* The property list of "SELECT a, b FROM ...": true with the list's text
 * in [*from, *to) when it names properties (not "*"). */
static bool select_list(const char *wql, const char **from, const char **to)
{
	const char *p = wql;
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	if (strncasecmp(p, "SELECT", 6) != 0 || !strchr(" \t\r\n", p[6]) || !p[6])
		return false;
	p += 7;
	const char *end = NULL;
	for (const char *q = p; *q; q++)
		if (strncasecmp(q, "FROM", 4) == 0 && strchr(" \t\r\n", q[-1]) && q[4] &&
		    strchr(" \t\r\n", q[4])) {
			end = q;
			break;
		}
	if (!end)
		return false;
	for (const char *q = p; q < end; q++)
		if (*q == '*')
			return false;
	*from = p;
	*to = end;
	return true;
}

static bool selected(const char *name, const char *from, const char *to)
{
	size_t n = strlen(name);
	const char *p = from;
	while (p < to) {
		while (p < to && (*p == ',' || *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
			p++;
		const char *e = p;
		while (e < to && *e != ',' && *e != ' ' && *e != '\t' && *e != '\r' && *e != '\n')
			e++;
		if ((size_t)(e - p) == n && strncasecmp(p, name, n) == 0)
			return true;
		p = e;
	}
	return false;
}

void rms__ps_cim_keep_selected(rms_instance *inst, const char *wql)
{
	const char *from, *to;
	if (!inst || !wql || !select_list(wql, &from, &to))
		return;
	size_t kept = 0;
	for (size_t i = 0; i < inst->count; i++) {
		struct rms_property *pr = &inst->props[i];
		if (rms_value_is_null(pr->value) && !(pr->flags & RMS_PROP_KEY) &&
		    !selected(pr->name, from, to)) {
			free(pr->name);
			rms_value_free(pr->value);
			continue;
		}
		inst->props[kept++] = *pr;
	}
	inst->count = kept;
}
