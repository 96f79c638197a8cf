/*
 * WS-Management operation bodies and the decoders of their answers.
 */
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "cim_class.h"
#include "error_internal.h"
#include "wsman_ops.h"

static int done(rms_buf *b)
{
	return b->failed ? rms__error_nomem() : 0;
}

static void put_esc(rms_buf *b, const char *s)
{
	rms__buf_put_xml_escaped(b, s);
}

/* ---- enumeration ------------------------------------------------------- */

static int put_assoc(rms_buf *b, const rms_enum_params *p)
{
	if (!p->selectors)
		return rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_SEND,
		                      "an association filter needs the source instance");
	const char *el = p->filter == RMS_FILTER_ASSOCIATORS ? "b:AssociatedInstances"
	                                                     : "b:AssociationInstances";
	rms__buf_printf(b, "<w:Filter Dialect=\"%s\"><%s><b:Object>",
	                "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter", el);
	int rc = rms__wscim_write_ref(b, p->selectors, RMS_URI_DMTF);
	if (rc)
		return rc;
	rms__buf_puts(b, "</b:Object>");
	const struct {
		const char *tag, *v;
	} parts[] = {
		{ "b:AssociationClassName", p->association_class },
		{ "b:Role", p->role },
		{ "b:ResultClassName", p->filter == RMS_FILTER_ASSOCIATORS ? p->result_class : NULL },
		{ "b:ResultRole", p->filter == RMS_FILTER_ASSOCIATORS ? p->result_role : NULL },
	};
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		if (!parts[i].v)
			continue;
		rms__buf_printf(b, "<%s>", parts[i].tag);
		put_esc(b, parts[i].v);
		rms__buf_printf(b, "</%s>", parts[i].tag);
	}
	rms__buf_printf(b, "</%s></w:Filter>", el);
	return done(b);
}

int rms__body_enumerate(rms_buf *b, const rms_enum_params *p)
{
	rms__buf_puts(b, "<n:Enumerate>");
	if (p->optimize)
		rms__buf_puts(b, "<w:OptimizeEnumeration/>");
	if (p->max_elements)
		rms__buf_printf(b, "<w:MaxElements>%u</w:MaxElements>", p->max_elements);
	if (p->object_and_epr)
		rms__buf_puts(b, "<w:EnumerationMode>EnumerateObjectAndEPR</w:EnumerationMode>");
	int rc = 0;
	switch (p->filter) {
	case RMS_FILTER_NONE:
		break;
	case RMS_FILTER_QUERY:
		if (!p->query || !p->dialect)
			return rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_SEND,
			                      "a query filter needs a dialect and a query");
		rms__buf_puts(b, "<w:Filter Dialect=\"");
		put_esc(b, p->dialect);
		rms__buf_puts(b, "\">");
		put_esc(b, p->query);
		rms__buf_puts(b, "</w:Filter>");
		break;
	case RMS_FILTER_SELECTOR:
		if (!p->selectors)
			return rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_SEND,
			                      "a selector filter needs selectors");
		rms__buf_puts(b, "<w:Filter Dialect=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/"
		                 "SelectorFilter\">");
		if ((rc = rms__wscim_write_selectors(b, p->selectors, RMS_URI_DMTF, NULL)))
			return rc;
		rms__buf_puts(b, "</w:Filter>");
		break;
	case RMS_FILTER_ASSOCIATORS:
	case RMS_FILTER_REFERENCES:
		if ((rc = put_assoc(b, p)))
			return rc;
		break;
	}
	rms__buf_puts(b, "</n:Enumerate>");
	return done(b);
}

int rms__body_pull(rms_buf *b, const char *context, uint32_t max_elements)
{
	rms__buf_puts(b, "<n:Pull><n:EnumerationContext>");
	put_esc(b, context);
	rms__buf_puts(b, "</n:EnumerationContext>");
	if (max_elements)
		rms__buf_printf(b, "<n:MaxElements>%u</n:MaxElements>", max_elements);
	rms__buf_puts(b, "</n:Pull>");
	return done(b);
}

int rms__body_release(rms_buf *b, const char *context)
{
	rms__buf_puts(b, "<n:Release><n:EnumerationContext>");
	put_esc(b, context);
	rms__buf_puts(b, "</n:EnumerationContext></n:Release>");
	return done(b);
}

static bool is_enum_or_wsman(const char *ns)
{
	return ns && (strcmp(ns, RMS_NS_ENUMERATION) == 0 || strcmp(ns, RMS_NS_WSMAN_DMTF) == 0);
}

/* Consume the elements at the reader's level until Items (entered) or the
 * end, noting the context and EndOfSequence on the way. */
static int enum_scan(rms_soap_reader *r, rms_enum_page *page, bool stop_at_items)
{
	const char *ns, *local;
	int rc;
	while ((rc = rms__soap_reader_peek(r, &ns, &local)) == 0) {
		if (is_enum_or_wsman(ns) && strcmp(local, "Items") == 0 && stop_at_items) {
			if ((rc = rms__soap_reader_enter(r, ns, "Items")))
				return rc;
			page->in_items = true;
			return 0;
		}
		xmlNode *n;
		if ((rc = rms__soap_reader_next(r, &n)))
			return rc;
		if (rms__xml_is(n, RMS_NS_ENUMERATION, "EnumerationContext")) {
			free(page->context);
			page->context = rms__xml_text(n);
			if (!page->context)
				return rms__error_nomem();
			if (!*page->context) {
				free(page->context);
				page->context = NULL;
			}
		} else if (is_enum_or_wsman(n->ns ? (const char *)n->ns->href : NULL) &&
		           strcmp((const char *)n->name, "EndOfSequence") == 0) {
			page->end_of_sequence = true;
		}
	}
	return rc == RMS_ITEROVER ? 0 : rc;
}

int rms__enum_begin(rms_soap_reader *r, rms_enum_page *page)
{
	memset(page, 0, sizeof *page);
	const char *ns, *local;
	int rc = rms__soap_reader_peek(r, &ns, &local);
	if (rc == RMS_ITEROVER || (!rc && !(ns && strcmp(ns, RMS_NS_ENUMERATION) == 0 &&
	                                    (strcmp(local, "EnumerateResponse") == 0 ||
	                                     strcmp(local, "PullResponse") == 0))))
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "expected an EnumerateResponse or PullResponse, got %s",
		                      rc ? "an empty body" : local);
	if (rc || (rc = rms__soap_reader_enter(r, ns, local)))
		return rc;
	return enum_scan(r, page, true);
}

int rms__enum_finish(rms_soap_reader *r, rms_enum_page *page)
{
	if (page->in_items) {
		/* The caller drained the items; the reader is back in the
		 * response element. */
		page->in_items = false;
	}
	return enum_scan(r, page, false);
}

void rms__enum_page_free(rms_enum_page *page)
{
	free(page->context);
	memset(page, 0, sizeof *page);
}

void rms__enum_item_parts(const xmlNode *item, const xmlNode **object, const xmlNode **epr)
{
	*object = item;
	*epr = NULL;
	if (!rms__xml_is(item, RMS_NS_WSMAN_DMTF, "Item"))
		return;
	*object = NULL;
	for (xmlNode *c = rms__xml_first(item); c; c = rms__xml_next(c)) {
		if (rms__xml_is(c, RMS_NS_ADDRESSING, "EndpointReference"))
			*epr = c;
		else if (!*object)
			*object = c;
	}
}

/* ---- transfer and invoke ----------------------------------------------- */

int rms__body_instance(rms_buf *b, const rms_instance *inst, const char *resource_uri)
{
	return rms__wscim_write_instance(b, inst, resource_uri, NULL);
}

char *rms__invoke_action(const char *resource_uri, const char *method)
{
	return rms__asprintf("%s/%s", resource_uri, method);
}

int rms__body_invoke(rms_buf *b, const char *resource_uri, const char *method,
                     const rms_instance *in)
{
	char *elem = rms__asprintf("%s_INPUT", method);
	if (!elem)
		return rms__error_nomem();
	int rc;
	if (in) {
		rc = rms__wscim_write_instance(b, in, resource_uri, elem);
	} else {
		/* No parameters: an empty METHOD_INPUT element, as Windows wants. */
		rms__buf_printf(b, "<p:%s xmlns:p=\"", elem);
		put_esc(b, resource_uri);
		rms__buf_puts(b, "\"/>");
		rc = done(b);
	}
	free(elem);
	return rc;
}

int rms__decode_created(rms_ref **out, const xmlNode *resource_created)
{
	return rms__wscim_read_ref(out, resource_created);
}

/* ---- class schemas ---------------------------------------------------- */

/* A QUALIFIER child named `name` whose VALUE is true. */
static bool has_qualifier(const xmlNode *prop, const char *name, char **value)
{
	for (xmlNode *q = rms__xml_first(prop); q; q = rms__xml_next(q)) {
		if (q->ns || strcmp((const char *)q->name, "QUALIFIER") != 0)
			continue;
		char *qn = rms__xml_attr(q, NULL, "NAME");
		bool match = qn && strcasecmp(qn, name) == 0;
		free(qn);
		if (!match)
			continue;
		xmlNode *v = rms__xml_first(q);
		char *text = v ? rms__xml_text(v) : NULL;
		if (value) {
			*value = text;
			return true;
		}
		bool yes = text && strcasecmp(text, "true") == 0;
		free(text);
		return yes;
	}
	return false;
}

/* A METHOD's return type and its out-parameters, for typing its answer
 * (<Method>_OUTPUT). A type this library does not know leaves that one
 * untyped (decoded by shape), never the class unusable. */
static int decode_method(rms_cim_class *c, const xmlNode *m)
{
	char *rt = rms__xml_attr(m, NULL, "TYPE");
	rms_type t;
	int rc = 0;
	if (rt && !rms_type_parse(&t, rt))
		rc = rms__cim_class_method_returns(c, t);
	free(rt);
	for (const xmlNode *p = rms__xml_first(m); p && !rc; p = rms__xml_next(p)) {
		if (p->ns)
			continue;
		const char *tag = (const char *)p->name;
		bool scalar = strcmp(tag, "PARAMETER") == 0,
		     array = strcmp(tag, "PARAMETER.ARRAY") == 0,
		     ref = strcmp(tag, "PARAMETER.REFERENCE") == 0,
		     refarray = strcmp(tag, "PARAMETER.REFARRAY") == 0;
		if ((!scalar && !array && !ref && !refarray) || !has_qualifier(p, "Out", NULL))
			continue;
		char *pname = rms__xml_attr(p, NULL, "NAME");
		char *ptype = rms__xml_attr(p, NULL, "TYPE");
		bool known = true;
		if (ref || refarray)
			t = RMS_TYPE_REFERENCE;
		else if (has_qualifier(p, "EmbeddedInstance", NULL) ||
		         has_qualifier(p, "EmbeddedObject", NULL))
			t = RMS_TYPE_INSTANCE;
		else
			known = ptype && !rms_type_parse(&t, ptype);
		if (pname && known)
			rc = rms__cim_class_method_add_out(
			    c, pname, (array || refarray) ? (rms_type)(t | RMS_TYPE_ARRAY) : t);
		free(pname);
		free(ptype);
	}
	return rc;
}

int rms__decode_class(rms_cim_class **out, const xmlNode *el)
{
	*out = NULL;
	if (!el || el->ns || strcmp((const char *)el->name, "CLASS") != 0)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "the class schema answer holds %s, not a CIM-XML CLASS",
		                      el ? (const char *)el->name : "nothing");
	char *name = rms__xml_attr(el, NULL, "NAME");
	char *super = rms__xml_attr(el, NULL, "SUPERCLASS");
	rms_cim_class *c = NULL;
	int rc = name ? rms__cim_class_new(&c, name, super)
	              : rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
	                               "a CIM-XML CLASS without a NAME");
	for (xmlNode *p = rms__xml_first(el); p && !rc; p = rms__xml_next(p)) {
		if (p->ns)
			continue;
		const char *tag = (const char *)p->name;
		bool scalar = strcmp(tag, "PROPERTY") == 0, array = strcmp(tag, "PROPERTY.ARRAY") == 0,
		     ref = strcmp(tag, "PROPERTY.REFERENCE") == 0;
		if (strcmp(tag, "METHOD") == 0) {
			char *m = rms__xml_attr(p, NULL, "NAME");
			rc = m ? rms__cim_class_add_method(c, m)
			       : rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                        "class %s: a METHOD without a NAME", name);
			if (!rc)
				rc = decode_method(c, p);
			free(m);
			continue;
		}
		if (!scalar && !array && !ref)
			continue; /* QUALIFIERs of the class itself */
		char *pname = rms__xml_attr(p, NULL, "NAME");
		char *ptype = ref ? NULL : rms__xml_attr(p, NULL, "TYPE");
		rms_type t = RMS_TYPE_REFERENCE;
		if (!pname || (!ref && !ptype)) {
			rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                    "class %s: a property without a NAME or TYPE", name);
		} else if (!ref) {
			char *emb = NULL;
			if (has_qualifier(p, "EmbeddedInstance", &emb) ||
			    has_qualifier(p, "EmbeddedObject", NULL)) {
				t = RMS_TYPE_INSTANCE;
			} else if (rms_type_parse(&t, ptype)) {
				rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
				                    "class %s: property %s has the unknown type '%s'",
				                    name, pname, ptype);
			}
			free(emb);
			if (array)
				t = (rms_type)(t | RMS_TYPE_ARRAY);
		}
		if (!rc)
			rc = rms__cim_class_add_property(c, pname, t,
			                                 has_qualifier(p, "Key", NULL) ? RMS_PROP_KEY : 0);
		free(pname);
		free(ptype);
	}
	free(name);
	free(super);
	if (rc) {
		rms_cim_class_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* ---- WinRS ------------------------------------------------------------- */

int rms__body_shell_create(rms_buf *b, const rms_shell_params *p)
{
	rms__buf_puts(b, "<rsp:Shell><rsp:InputStreams>");
	put_esc(b, p->input_streams ? p->input_streams : "stdin");
	rms__buf_puts(b, "</rsp:InputStreams><rsp:OutputStreams>");
	put_esc(b, p->output_streams ? p->output_streams : "stdout stderr");
	rms__buf_puts(b, "</rsp:OutputStreams>");
	if (p->working_directory) {
		rms__buf_puts(b, "<rsp:WorkingDirectory>");
		put_esc(b, p->working_directory);
		rms__buf_puts(b, "</rsp:WorkingDirectory>");
	}
	if (p->env_count) {
		rms__buf_puts(b, "<rsp:Environment>");
		for (size_t i = 0; i < p->env_count; i++) {
			rms__buf_puts(b, "<rsp:Variable Name=\"");
			put_esc(b, p->env_names[i]);
			rms__buf_puts(b, "\">");
			put_esc(b, p->env_values[i]);
			rms__buf_puts(b, "</rsp:Variable>");
		}
		rms__buf_puts(b, "</rsp:Environment>");
	}
	if (p->idle_timeout_ms)
		rms__buf_printf(b, "<rsp:IdleTimeOut>PT%u.%03uS</rsp:IdleTimeOut>",
		                p->idle_timeout_ms / 1000, p->idle_timeout_ms % 1000);
	rms__buf_puts(b, "</rsp:Shell>");
	return done(b);
}

int rms__decode_shell_id(char **out, const xmlNode *first, const xmlNode *second)
{
	*out = NULL;
	const xmlNode *nodes[] = { first, second };
	for (size_t i = 0; i < 2; i++) {
		const xmlNode *n = nodes[i];
		if (rms__xml_is(n, RMS_NS_SHELL, "Shell")) {
			xmlNode *id = rms__xml_child(n, RMS_NS_SHELL, "ShellId");
			if (id && (*out = rms__xml_text(id)) && **out)
				return 0;
			free(*out);
			*out = NULL;
		}
	}
	for (size_t i = 0; i < 2; i++) {
		if (!rms__xml_is(nodes[i], RMS_NS_TRANSFER, "ResourceCreated"))
			continue;
		rms_ref *ref;
		int rc = rms__wscim_read_ref(&ref, nodes[i]);
		if (rc)
			return rc;
		const char *id = rms_ref_selector(ref, "ShellId");
		*out = id ? strdup(id) : NULL;
		rms_ref_free(ref);
		if (*out)
			return 0;
	}
	return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
	                      "the shell was created but the answer carries no ShellId");
}

int rms__body_command(rms_buf *b, const char *command, size_t argc, const char *const *argv)
{
	rms__buf_puts(b, "<rsp:CommandLine><rsp:Command>");
	put_esc(b, command);
	rms__buf_puts(b, "</rsp:Command>");
	for (size_t i = 0; i < argc; i++) {
		rms__buf_puts(b, "<rsp:Arguments>");
		put_esc(b, argv[i]);
		rms__buf_puts(b, "</rsp:Arguments>");
	}
	rms__buf_puts(b, "</rsp:CommandLine>");
	return done(b);
}

int rms__decode_command_id(char **out, const xmlNode *resp)
{
	xmlNode *id = rms__xml_is(resp, RMS_NS_SHELL, "CommandResponse")
	                      ? rms__xml_child(resp, RMS_NS_SHELL, "CommandId")
	                      : NULL;
	*out = id ? rms__xml_text(id) : NULL;
	if (!*out || !**out) {
		free(*out);
		*out = NULL;
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "the command answer carries no CommandId");
	}
	return 0;
}

size_t rms__send_payload_max(size_t base64_room)
{
	return base64_room / 4 * 3;
}

int rms__body_send(rms_buf *b, const char *command_id, const char *stream, const void *data,
                   size_t len, bool end)
{
	rms__buf_puts(b, "<rsp:Send><rsp:Stream Name=\"");
	put_esc(b, stream);
	rms__buf_puts(b, "\"");
	if (command_id) { /* none: the shell's own stream (PowerShell's pool) */
		rms__buf_puts(b, " CommandId=\"");
		put_esc(b, command_id);
		rms__buf_puts(b, "\"");
	}
	rms__buf_printf(b, "%s>", end ? " End=\"true\"" : "");
	if (len) {
		if (len > (SIZE_MAX / 4) * 3 - 3)
			return rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_SEND, "input too large");
		size_t enc = 4 * ((len + 2) / 3);
		char *tmp = malloc(enc + 1);
		if (!tmp)
			return rms__error_nomem();
		/* EVP_EncodeBlock takes an int length: encode in slices that are
		 * a multiple of 3 bytes so the pieces join into one base64 text. */
		const unsigned char *p = data;
		size_t left = len, at = 0;
		while (left) {
			size_t slice = left > 3u * (1u << 28) ? 3u * (1u << 28) : left;
			at += (size_t)EVP_EncodeBlock((unsigned char *)tmp + at, p, (int)slice);
			p += slice;
			left -= slice;
		}
		rms__buf_append(b, tmp, at);
		free(tmp);
	}
	rms__buf_puts(b, "</rsp:Stream></rsp:Send>");
	return done(b);
}

int rms__body_receive(rms_buf *b, const char *command_id, const char *streams)
{
	rms__buf_puts(b, "<rsp:Receive><rsp:DesiredStream");
	if (command_id) {
		rms__buf_puts(b, " CommandId=\"");
		put_esc(b, command_id);
		rms__buf_puts(b, "\"");
	}
	rms__buf_puts(b, ">");
	put_esc(b, streams ? streams : "stdout stderr");
	rms__buf_puts(b, "</rsp:DesiredStream></rsp:Receive>");
	return done(b);
}

int rms__body_signal(rms_buf *b, const char *command_id, const char *code)
{
	rms__buf_puts(b, "<rsp:Signal CommandId=\"");
	put_esc(b, command_id);
	rms__buf_puts(b, "\"><rsp:Code>");
	put_esc(b, code);
	rms__buf_puts(b, "</rsp:Code></rsp:Signal>");
	return done(b);
}

/* Strict base64 (RFC 4648 alphabet, padding at the end only, XML white
 * space allowed between characters). */
static int base64_decode(unsigned char **out, size_t *out_len, const char *text)
{
	size_t n = strlen(text);
	unsigned char *res = malloc(n / 4 * 3 + 3);
	if (!res)
		return rms__error_nomem();
	uint32_t acc = 0;
	int bits = 0, pad = 0;
	size_t o = 0;
	for (const char *p = text; *p; p++) {
		char c = *p;
		int v;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad)
			goto bad;
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+')
			v = 62;
		else if (c == '/')
			v = 63;
		else
			goto bad;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			res[o++] = (unsigned char)(acc >> bits);
		}
	}
	if (pad > 2 || bits >= 6)
		goto bad;
	*out = res;
	*out_len = o;
	return 0;
bad:
	free(res);
	return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
	                      "a stream in the Receive answer is not valid base64");
}

static bool attr_true(const xmlNode *n, const char *name)
{
	char *v = rms__xml_attr(n, NULL, name);
	bool t = v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
	free(v);
	return t;
}

int rms__decode_receive(rms_receive_result *out, const xmlNode *resp)
{
	memset(out, 0, sizeof *out);
	if (!rms__xml_is(resp, RMS_NS_SHELL, "ReceiveResponse"))
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "expected a ReceiveResponse, got %s",
		                      resp ? (const char *)resp->name : "an empty body");
	int rc = 0;
	for (xmlNode *c = rms__xml_first(resp); c && !rc; c = rms__xml_next(c)) {
		if (rms__xml_is(c, RMS_NS_SHELL, "Stream")) {
			rms_receive_chunk ch = { 0 };
			ch.stream = rms__xml_attr(c, NULL, "Name");
			ch.end = attr_true(c, "End");
			char *text = rms__xml_text(c);
			if (!ch.stream || !text) {
				free(ch.stream);
				free(text);
				rc = ch.stream ? rms__error_nomem()
				               : rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
				                                "a Receive stream has no Name");
				break;
			}
			rc = base64_decode(&ch.data, &ch.len, text);
			free(text);
			rms_receive_chunk *grown =
				rc ? NULL : realloc(out->chunks, (out->nchunks + 1) * sizeof *grown);
			if (!grown) {
				free(ch.stream);
				free(ch.data);
				if (!rc)
					rc = rms__error_nomem();
				break;
			}
			out->chunks = grown;
			out->chunks[out->nchunks++] = ch;
		} else if (rms__xml_is(c, RMS_NS_SHELL, "CommandState")) {
			free(out->state);
			out->state = rms__xml_attr(c, NULL, "State");
			out->done = out->state && strcmp(out->state, RMS_COMMAND_STATE_DONE) == 0;
			xmlNode *ec = rms__xml_child(c, RMS_NS_SHELL, "ExitCode");
			if (ec) {
				char *t = rms__xml_text(ec), *end = NULL;
				long v = t ? strtol(t, &end, 10) : 0;
				if (!t || !*t || *end || v < INT32_MIN || v > UINT32_MAX) {
					rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
					                    "the exit code '%s' is not a number",
					                    t ? t : "");
				} else {
					/* Windows exit codes are DWORDs: keep the bits. */
					out->exit_code = (int)(int32_t)(uint32_t)v;
					out->has_exit_code = true;
				}
				free(t);
			}
		}
	}
	if (rc)
		rms__receive_result_free(out);
	return rc;
}

void rms__receive_result_free(rms_receive_result *r)
{
	for (size_t i = 0; i < r->nchunks; i++) {
		free(r->chunks[i].stream);
		free(r->chunks[i].data);
	}
	free(r->chunks);
	free(r->state);
	memset(r, 0, sizeof *r);
}

/* ---- the record of a shell ---------------------------------------------- */

/* The type a property of rsp:Shell has (Windows' GetResponse, pypsrp's
 * test_psrp_is_alive_* recordings): counts as uint32, times as intervals
 * (xs:duration), the rest as text. */
static rms_type shell_property_type(const char *name)
{
	static const char *const counts[] = {"ProcessId", "ChildProcesses"};
	static const char *const times[] = {"IdleTimeOut", "MaxIdleTimeOut", "ShellRunTime",
	                                    "ShellInactivity"};
	for (size_t i = 0; i < sizeof counts / sizeof *counts; i++)
		if (strcmp(name, counts[i]) == 0)
			return RMS_TYPE_UINT32;
	for (size_t i = 0; i < sizeof times / sizeof *times; i++)
		if (strcmp(name, times[i]) == 0)
			return RMS_TYPE_DATETIME;
	return RMS_TYPE_STRING;
}

/* A WinRS record (rsp:Shell, rsp:Command) as an instance of class cls: its
 * child elements as properties, each of the type type_of gives it (NULL:
 * all text); a value that does not parse as its type is kept as text (a
 * server's own spelling is still information). what: the answer, for the
 * error when the element is another. */
static int decode_record(const xmlNode *el, const char *cls, rms_type (*type_of)(const char *),
                         const char *what, rms_instance **out)
{
	if (!rms__xml_is(el, RMS_NS_SHELL, cls))
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE, "%s gave <%s>, not rsp:%s",
		                      what, (const char *)el->name, cls);
	rms_instance *inst;
	int rc = rms_instance_new(&inst, NULL, cls);
	for (const xmlNode *c = el->children; !rc && c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		const char *name = (const char *)c->name;
		char *text = rms__xml_text(c);
		if (!text) {
			rc = rms__error_nomem();
			break;
		}
		rms_value *v = NULL;
		rms_type t = type_of ? type_of(name) : RMS_TYPE_STRING;
		if (t == RMS_TYPE_STRING || rms_value_from_text(&v, t, text) != 0) {
			rms_error_clear();
			rc = rms_value_new_string(&v, text);
		}
		free(text);
		if (!rc && (rc = rms_instance_set(inst, name, v, 0)))
			rms_value_free(v);
	}
	if (rc) {
		rms_instance_free(inst);
		return rc;
	}
	*out = inst;
	return 0;
}

int rms__decode_shell_record(const xmlNode *shell, rms_instance **out)
{
	return decode_record(shell, "Shell", shell_property_type, "the shell's Get or Enumerate",
	                     out);
}

int rms__decode_command_record(const xmlNode *command, rms_instance **out)
{
	return decode_record(command, "Command", NULL, "the enumeration of commands", out);
}

