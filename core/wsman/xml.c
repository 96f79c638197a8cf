/*
 * Safe XML for responses (xml.h).
 *
 * What this relies on in libxml2 (Debian 12 ships 2.9.14, built with thread
 * support):
 *   - Errors raised for a parser context go to that context's sax->serror,
 *     which we set on every context we create (and through
 *     xmlTextReaderSetStructuredErrorHandler for the reader), so nothing is
 *     printed and no process-wide handler is involved.
 *   - The few errors libxml2 raises without a context (encoding conversion)
 *     go to the calling thread's structured / generic handlers. With thread
 *     support those are per thread (the main thread uses the plain globals,
 *     which other threads never read), so we install ours around each call
 *     into libxml2 and put the previous ones back afterwards (err_guard).
 *   - Without XML_PARSE_HUGE, which we never set, libxml2 itself refuses
 *     more than 256 open elements and text nodes longer than
 *     XML_MAX_TEXT_LENGTH (10,000,000 bytes). Those caps hold whatever
 *     rms_xml_limits asks for; the limits here can only be stricter.
 *
 * A DOCTYPE is refused from the internalSubset SAX callback, which libxml2
 * calls right after the DOCTYPE's name and external id, before it reads the
 * internal subset: no entity is ever declared, expanded or loaded. The
 * streaming reader (xmlTextReader) offers no hook into its SAX handler, so
 * its prolog is checked before the reader sees it (prolog_plain): a scan of
 * the bytes up to the root element's start tag that answers "no DOCTYPE"
 * only for a prolog it reads exactly as libxml2 does (see there); anything
 * else, a DOCTYPE included, goes through a tiny SAX pass that stops at the
 * root element's start tag (prolog_check) and refuses a DOCTYPE the same
 * way as above. After the root's start tag a DOCTYPE cannot begin: libxml2
 * takes "<!DOCTYPE" in content or after the root for an error, so no DTD
 * is ever read, no entity is declared, and a reference to any but the five
 * predefined ones is an undeclared-entity error.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlreader.h>

#include "error_internal.h"
#include "xml.h"

#define DEFAULT_MAX_DEPTH 256u
#define DEFAULT_MAX_TEXT ((size_t)64 * 1024 * 1024)
/* What libxml2 refuses on its own without XML_PARSE_HUGE. */
#define LIBXML_MAX_DEPTH 256u
#define LIBXML_MAX_TEXT ((size_t)XML_MAX_TEXT_LENGTH)

#define NS_SOAP11 "http://schemas.xmlsoap.org/soap/envelope/"

/* No network, no entity substitution, no DTD loading or validation, no
 * XML_PARSE_HUGE. CDATA sections stay CDATA nodes; the text helpers read
 * both. */
#define SAFE_OPTIONS XML_PARSE_NONET

typedef struct limits {
	size_t max_bytes; /* 0: none */
	unsigned max_depth;
	size_t max_text; /* effective: never above libxml2's own cap */
} limits;

static void resolve_limits(const rms_xml_limits *in, limits *out)
{
	out->max_bytes = in ? in->max_bytes : 0;
	out->max_depth = in && in->max_depth ? in->max_depth : DEFAULT_MAX_DEPTH;
	out->max_text = in && in->max_text ? in->max_text : DEFAULT_MAX_TEXT;
	if (out->max_text > LIBXML_MAX_TEXT)
		out->max_text = LIBXML_MAX_TEXT;
}

static const char *what_or_default(const char *what)
{
	return what && *what ? what : "the XML document";
}

/* ---- libxml2 errors ----------------------------------------------------- */

/* The first error libxml2 reported; later ones are mostly consequences. */
typedef struct xml_err {
	bool set;
	int code;
	int line;
	int column;
	char msg[300];
} xml_err;

/* Copy a libxml2 message with control characters (its newlines included)
 * turned into single spaces and trailing space dropped. */
static void clean_copy(char *dst, size_t cap, const char *src)
{
	size_t n = 0;
	bool space = false;
	for (const unsigned char *p = (const unsigned char *)src; *p && n + 1 < cap; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			space = n > 0;
			continue;
		}
		if (space && n + 2 < cap)
			dst[n++] = ' ';
		space = false;
		dst[n++] = (char)*p;
	}
	while (n && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

static void capture(xml_err *e, const xmlError *x)
{
	if (e->set || !x || x->level < XML_ERR_ERROR)
		return;
	e->set = true;
	e->code = x->code;
	e->line = x->line;
	e->column = x->int2;
	clean_copy(e->msg, sizeof e->msg, x->message ? x->message : "unspecified error");
}

static void on_structured_error(void *data, xmlErrorPtr x)
{
	capture(data, x);
}

static void on_generic_error(void *data, const char *fmt, ...) RMS_PRINTF(2, 3);
static void on_generic_error(void *data, const char *fmt, ...)
{
	xml_err *e = data;
	if (e->set)
		return;
	char tmp[sizeof e->msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	e->set = true;
	e->code = XML_ERR_INTERNAL_ERROR;
	clean_copy(e->msg, sizeof e->msg, tmp);
}

/* This thread's libxml2 handlers, replaced by ours for the length of one
 * call into libxml2 (see the top of the file for why that is safe). */
typedef struct err_guard {
	xmlStructuredErrorFunc s_fn;
	void *s_ctx;
	xmlGenericErrorFunc g_fn;
	void *g_ctx;
} err_guard;

static void guard_on(err_guard *g, xml_err *e)
{
	g->s_fn = xmlStructuredError;
	g->s_ctx = xmlStructuredErrorContext;
	g->g_fn = xmlGenericError;
	g->g_ctx = xmlGenericErrorContext;
	xmlSetStructuredErrorFunc(e, on_structured_error);
	xmlSetGenericErrorFunc(e, on_generic_error);
}

static void guard_off(const err_guard *g)
{
	xmlSetStructuredErrorFunc(g->s_ctx, g->s_fn);
	xmlSetGenericErrorFunc(g->g_ctx, g->g_fn);
}

/* Whether libxml2 placed error e at the very end of buf: where a cut-off
 * document fails. libxml2 counts lines from 1 and columns in characters. */
static bool at_end(const xml_err *e, const char *buf, size_t len)
{
	if (e->line <= 0)
		return false;
	int lines = 1;
	long cols = 0;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\n') {
			lines++;
			cols = 0;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
			cols++;
		}
	}
	return e->line > lines || (e->line == lines && e->column >= cols);
}

/* Turn a captured libxml2 error into this thread's error. `unclosed`: the
 * root element was not closed when parsing stopped. */
static int raise_xml_err(const xml_err *e, const limits *lim, const char *what, bool unclosed,
                         const char *buf, size_t len)
{
	what = what_or_default(what);
	if (!e->set)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE, "%s is not well-formed XML",
		                      what);
	if (e->code == XML_ERR_INTERNAL_ERROR && strncmp(e->msg, "Excessive depth", 15) == 0)
		return rms__error_set(
		    RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		    "%s nests elements deeper than the limit of %u levels (line %d)", what,
		    LIBXML_MAX_DEPTH, e->line);
	if (e->code == XML_ERR_NO_MEMORY && strstr(e->msg, "huge text node"))
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "%s has a text node longer than the limit of %zu bytes "
		                      "(line %d)",
		                      what, lim->max_text, e->line);
	if (e->code == XML_ERR_NO_MEMORY)
		return rms__error_nomem();
	/* A cut-off body shows up as one of these, placed at the end of the
	 * input (the reader's push parser says "Extra content" for it). */
	if (unclosed &&
	    (e->code == XML_ERR_DOCUMENT_END || e->code == XML_ERR_TAG_NOT_FINISHED ||
	     e->code == XML_ERR_GT_REQUIRED || e->code == XML_ERR_LTSLASH_REQUIRED ||
	     e->code == XML_ERR_NAME_REQUIRED) &&
	    at_end(e, buf, len))
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "%s is truncated: it ends before its root element is closed "
		                      "(libxml2: %s, line %d, column %d)",
		                      what, e->msg, e->line, e->column);
	return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
	                      "%s is not well-formed XML: %s (line %d, column %d)", what, e->msg,
	                      e->line, e->column);
}

static int check_size(size_t len, const limits *lim, const char *what)
{
	what = what_or_default(what);
	if (len == 0)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE, "%s is empty", what);
	if (lim->max_bytes && len > lim->max_bytes)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "%s is %zu bytes, over the limit of %zu bytes", what, len,
		                      lim->max_bytes);
	if (len > INT_MAX)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "%s is %zu bytes, more than libxml2 can parse at once (%d)",
		                      what, len, INT_MAX);
	return 0;
}

/* ---- SAX-level parsing (whole documents, and the reader's prolog) ------- */

typedef enum stop_reason {
	STOP_NONE,
	STOP_DOCTYPE,
	STOP_DEPTH,
	STOP_TEXT,
	STOP_ROOT /* prolog_check: reached the root element; not an error */
} stop_reason;

typedef struct sax_state {
	xml_err err;
	limits lim;
	unsigned depth;
	size_t text_run; /* bytes of the text node being built */
	stop_reason stop;
	int stop_line;
	bool root_closed;
} sax_state;

typedef struct mem_in {
	const char *buf;
	size_t len;
	size_t pos;
} mem_in;

static int mem_read(void *ctx, char *out, int len)
{
	mem_in *in = ctx;
	size_t n = in->len - in->pos;
	if (len < 0)
		return -1;
	if (n > (size_t)len)
		n = (size_t)len;
	memcpy(out, in->buf + in->pos, n);
	in->pos += n;
	return (int)n;
}

static sax_state *state_of(void *ctx)
{
	return ((xmlParserCtxtPtr)ctx)->_private;
}

static void stop_parser(void *ctx, stop_reason why)
{
	xmlParserCtxtPtr ctxt = ctx;
	sax_state *st = ctxt->_private;
	if (st->stop == STOP_NONE) {
		st->stop = why;
		st->stop_line = xmlSAX2GetLineNumber(ctx);
	}
	xmlStopParser(ctxt);
}

/* Called as soon as "<!DOCTYPE name ExternalID" has been read, before any
 * internal subset: stop right there. */
static void sax_internal_subset(void *ctx, const xmlChar *name, const xmlChar *ext_id,
                                const xmlChar *sys_id)
{
	(void)name;
	(void)ext_id;
	(void)sys_id;
	stop_parser(ctx, STOP_DOCTYPE);
}

static void sax_start(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri,
                      int nb_ns, const xmlChar **ns, int nb_attrs, int nb_defaulted,
                      const xmlChar **attrs)
{
	sax_state *st = state_of(ctx);
	if (++st->depth > st->lim.max_depth) {
		stop_parser(ctx, STOP_DEPTH);
		return;
	}
	/* attrs: (local, prefix, URI, value, end) per attribute. */
	for (int i = 0; i < nb_attrs; i++) {
		if ((size_t)(attrs[i * 5 + 4] - attrs[i * 5 + 3]) > st->lim.max_text) {
			stop_parser(ctx, STOP_TEXT);
			return;
		}
	}
	st->text_run = 0;
	xmlSAX2StartElementNs(ctx, local, prefix, uri, nb_ns, ns, nb_attrs, nb_defaulted, attrs);
}

static void sax_end(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
	sax_state *st = state_of(ctx);
	if (st->depth)
		st->depth--;
	if (st->depth == 0)
		st->root_closed = true;
	st->text_run = 0;
	xmlSAX2EndElementNs(ctx, local, prefix, uri);
}

static bool text_ok(void *ctx, int len)
{
	sax_state *st = state_of(ctx);
	st->text_run += (size_t)len;
	if (st->text_run > st->lim.max_text) {
		stop_parser(ctx, STOP_TEXT);
		return false;
	}
	return true;
}

static void sax_characters(void *ctx, const xmlChar *ch, int len)
{
	if (text_ok(ctx, len))
		xmlSAX2Characters(ctx, ch, len);
}

static void sax_cdata(void *ctx, const xmlChar *ch, int len)
{
	if (text_ok(ctx, len))
		xmlSAX2CDataBlock(ctx, ch, len);
}

static void sax_comment(void *ctx, const xmlChar *value)
{
	state_of(ctx)->text_run = 0;
	xmlSAX2Comment(ctx, value);
}

static void sax_error(void *data, xmlErrorPtr x)
{
	/* data is the parser context (its userData); _private is set right
	 * after the context is created, before anything is parsed. */
	sax_state *st = state_of(data);
	if (st)
		capture(&st->err, x);
}

/* The prolog pass stops at the root element's start tag. */
static void prolog_start(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri,
                         int nb_ns, const xmlChar **ns, int nb_attrs, int nb_defaulted,
                         const xmlChar **attrs)
{
	(void)local, (void)prefix, (void)uri, (void)nb_ns, (void)ns;
	(void)nb_attrs, (void)nb_defaulted, (void)attrs;
	stop_parser(ctx, STOP_ROOT);
}

static int raise_stop(const sax_state *st, const char *what)
{
	what = what_or_default(what);
	switch (st->stop) {
	case STOP_DOCTYPE:
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "%s contains a DOCTYPE declaration (line %d), which SOAP "
		                      "forbids; it was refused without reading its contents",
		                      what, st->stop_line);
	case STOP_DEPTH:
		return rms__error_set(
		    RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		    "%s nests elements deeper than the limit of %u levels (line %d)", what,
		    st->lim.max_depth, st->stop_line);
	case STOP_TEXT:
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "%s has a text node or attribute value longer than the limit "
		                      "of %zu bytes (line %d)",
		                      what, st->lim.max_text, st->stop_line);
	default:
		return 0;
	}
}

/*
 * Run a SAX parse of buf with `sax`, keeping the document when `keep`.
 * Returns 0 (and *doc when keep) or the raised error.
 */
static int sax_parse(xmlSAXHandler *sax, const char *buf, size_t len, sax_state *st,
                     const char *what, xmlDoc **doc)
{
	mem_in in = {.buf = buf, .len = len};
	err_guard g;
	guard_on(&g, &st->err);
	xmlParserCtxtPtr ctxt =
	    xmlCreateIOParserCtxt(sax, NULL, mem_read, NULL, &in, XML_CHAR_ENCODING_NONE);
	if (!ctxt) {
		guard_off(&g);
		return rms__error_nomem();
	}
	ctxt->_private = st;
	xmlCtxtUseOptions(ctxt, SAFE_OPTIONS);
	/* Process-wide defaults (xmlLoadExtDtdDefaultValue and friends) could
	 * have been changed by another user of libxml2: pin them. */
	ctxt->loadsubset = 0;
	ctxt->validate = 0;
	ctxt->replaceEntities = 0;
	xmlParseDocument(ctxt);
	bool well_formed = ctxt->wellFormed && ctxt->nsWellFormed;
	xmlDoc *d = ctxt->myDoc;
	ctxt->myDoc = NULL;
	xmlFreeParserCtxt(ctxt);
	guard_off(&g);

	int rc = 0;
	if (st->stop != STOP_NONE && st->stop != STOP_ROOT)
		rc = raise_stop(st, what);
	else if (st->err.set || (st->stop == STOP_NONE && !well_formed))
		rc = raise_xml_err(&st->err, &st->lim, what, !st->root_closed, buf, len);
	if (rc || !doc) {
		xmlFreeDoc(d);
		return rc;
	}
	if (!d || !xmlDocGetRootElement(d)) {
		xmlFreeDoc(d);
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE, "%s has no root element",
		                      what_or_default(what));
	}
	*doc = d;
	return 0;
}

int rms__xml_parse(xmlDoc **out, const char *buf, size_t len, const rms_xml_limits *limits_in,
                   const char *what)
{
	*out = NULL;
	sax_state st;
	memset(&st, 0, sizeof st);
	resolve_limits(limits_in, &st.lim);
	int rc = check_size(len, &st.lim, what);
	if (rc)
		return rc;
	xmlSAXHandler sax;
	memset(&sax, 0, sizeof sax);
	xmlSAXVersion(&sax, 2);
	sax.internalSubset = sax_internal_subset;
	sax.externalSubset = NULL;
	sax.startElementNs = sax_start;
	sax.endElementNs = sax_end;
	sax.characters = sax_characters;
	sax.ignorableWhitespace = sax_characters;
	sax.cdataBlock = sax_cdata;
	sax.comment = sax_comment;
	sax.serror = sax_error;
	sax.error = NULL;
	sax.warning = NULL;
	sax.fatalError = NULL;
	return sax_parse(&sax, buf, len, &st, what, out);
}

/*
 * Whether buf plainly has no DOCTYPE: true only when its prolog is, byte
 * for byte, what libxml2 reads the same way, and holds none; false means
 * "not sure", and prolog_check decides. Accepted: an optional UTF-8 byte
 * order mark, then XML white space, comments and processing instructions
 * (the XML declaration among them), then '<' and a character that is
 * neither '?' nor '!': the root element's start tag. What makes it exact:
 *   - the encoding: libxml2 reads these bytes as UTF-8 (a UTF-8 mark, or
 *     no mark and a first byte that is '<' or white space, which its
 *     detection takes for UTF-8), and a declaration, if any, names UTF-8
 *     (any other name or spelling: not sure). In UTF-8 every byte below
 *     0x80 is that ASCII character, so the markup below is what libxml2
 *     sees;
 *   - a processing instruction or declaration ends at its first '>', which
 *     must be that of its "?>": libxml2 ends it at the first "?>", or, when
 *     it gives up on a malformed declaration, at the next '>', the same
 *     place;
 *   - a comment ends at its first "--", which must be that of its "-->":
 *     libxml2 ends it at the first "-->";
 *   - "<!" not starting a comment is a DOCTYPE or an error: not sure.
 * So when this says true, libxml2 reaches the root's start tag having seen
 * no "<!DOCTYPE"; and the prolog is the only place a DOCTYPE can be.
 */
static bool prolog_plain(const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf, *end = p + len;
	if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
		p += 3;
	for (;;) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
			p++;
		if (end - p < 2 || *p != '<')
			return false;
		if (p[1] == '?') {
			/* The shortest is "<?x?>". */
			if (end - p < 5)
				return false;
			const unsigned char *gt = memchr(p + 2, '>', (size_t)(end - p - 2));
			/* The target starts with a letter, '_' or ':'. */
			unsigned char t = p[2] | 0x20;
			if (!gt || gt[-1] != '?' || gt - p < 4 ||
			    !((t >= 'a' && t <= 'z') || p[2] == '_' || p[2] == ':'))
				return false;
			/* An encoding named anywhere in it must be UTF-8. */
			static const char enc[] = "encoding";
			for (const unsigned char *q = p + 2; q + sizeof enc <= gt; q++) {
				if (memcmp(q, enc, sizeof enc - 1) != 0)
					continue;
				q += sizeof enc - 1;
				if (gt - q < 8 || q[0] != '=' || (q[1] != '"' && q[1] != '\'') ||
				    strncasecmp((const char *)q + 2, "utf-8", 5) != 0 || q[7] != q[1])
					return false;
			}
			p = gt + 1;
		} else if (p[1] == '!') {
			if (end - p < 4 || p[2] != '-' || p[3] != '-')
				return false;
			const unsigned char *q = p + 4;
			while (q + 1 < end && !(q[0] == '-' && q[1] == '-'))
				q++;
			if (q + 2 >= end || q[2] != '>')
				return false;
			p = q + 3;
		} else {
			/* The root's start tag: a name starts with a letter, '_',
			 * ':' or (UTF-8) a byte of a multibyte character. Anything
			 * else is not read here: "<" then a zero byte is how
			 * UTF-16 and UCS-4 without a byte order mark begin, which
			 * libxml2 decodes as such, so a DOCTYPE may follow. */
			unsigned char c = p[1];
			return ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '_' || c == ':' ||
			       c >= 0x80;
		}
	}
}

/* Refuse a DOCTYPE (and report a malformed prolog) before the reader sees
 * the document. Stops at the root's start tag, so it costs the prolog and
 * a parser context: only for what prolog_plain is not sure of. */
static int prolog_check(const char *buf, size_t len, const limits *lim, const char *what)
{
	sax_state st;
	memset(&st, 0, sizeof st);
	st.lim = *lim;
	xmlSAXHandler sax;
	memset(&sax, 0, sizeof sax);
	sax.initialized = XML_SAX2_MAGIC;
	sax.internalSubset = sax_internal_subset;
	sax.startElementNs = prolog_start;
	sax.serror = sax_error;
	return sax_parse(&sax, buf, len, &st, what, NULL);
}

/* ---- element helpers ---------------------------------------------------- */

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

bool rms__xml_is(const xmlNode *n, const char *ns_uri, const char *local)
{
	if (!n || n->type != XML_ELEMENT_NODE || !local)
		return false;
	const char *href = n->ns ? (const char *)n->ns->href : NULL;
	return str_eq(href, ns_uri) && strcmp((const char *)n->name, local) == 0;
}

xmlNode *rms__xml_next(const xmlNode *node)
{
	if (!node)
		return NULL;
	for (xmlNode *c = node->next; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			return c;
	return NULL;
}

xmlNode *rms__xml_first(const xmlNode *parent)
{
	if (!parent)
		return NULL;
	xmlNode *c = parent->children;
	if (!c || c->type == XML_ELEMENT_NODE)
		return c;
	return rms__xml_next(c);
}

xmlNode *rms__xml_next_named(const xmlNode *node, const char *ns_uri, const char *local)
{
	for (xmlNode *c = rms__xml_next(node); c; c = rms__xml_next(c))
		if (rms__xml_is(c, ns_uri, local))
			return c;
	return NULL;
}

xmlNode *rms__xml_child(const xmlNode *parent, const char *ns_uri, const char *local)
{
	xmlNode *c = rms__xml_first(parent);
	if (!c || rms__xml_is(c, ns_uri, local))
		return c;
	return rms__xml_next_named(c, ns_uri, local);
}

static bool is_xml_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static char *trimmed_copy(const char *s)
{
	if (!s)
		return rms__strdup("");
	while (is_xml_space(*s))
		s++;
	size_t n = strlen(s);
	while (n && is_xml_space(s[n - 1]))
		n--;
	return rms__strndup(s, n);
}

char *rms__xml_text(const xmlNode *n)
{
	if (!n)
		return rms__strdup("");
	/* The usual case, one text child, needs no intermediate copy. */
	if (n->type == XML_ELEMENT_NODE &&
	    (!n->children || (!n->children->next && (n->children->type == XML_TEXT_NODE ||
	                                             n->children->type == XML_CDATA_SECTION_NODE))))
		return trimmed_copy(n->children ? (const char *)n->children->content : "");
	xmlChar *all = xmlNodeGetContent(n);
	if (!all)
		return rms__strdup("");
	char *r = trimmed_copy((const char *)all);
	xmlFree(all);
	return r;
}

char *rms__xml_attr(const xmlNode *n, const char *ns_uri, const char *name)
{
	if (!n || n->type != XML_ELEMENT_NODE || !name)
		return NULL;
	for (const xmlAttr *a = n->properties; a; a = a->next) {
		const char *href = a->ns ? (const char *)a->ns->href : NULL;
		if (!str_eq(href, ns_uri) || strcmp((const char *)a->name, name) != 0)
			continue;
		const xmlNode *c = a->children;
		if (!c)
			return rms__strdup("");
		if (!c->next && c->type == XML_TEXT_NODE)
			return rms__strdup((const char *)c->content);
		xmlChar *v = xmlNodeListGetString(n->doc, a->children, 1);
		char *r = rms__strdup(v ? (const char *)v : "");
		xmlFree(v);
		return r;
	}
	return NULL;
}

int rms__xml_qname(const xmlNode *context, const char *qname, const char **ns_uri,
                   const char **local)
{
	*ns_uri = NULL;
	*local = NULL;
	if (!qname || !*qname)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE, "an empty QName");
	const char *colon = strchr(qname, ':');
	if (colon && (colon == qname || !colon[1] || strchr(colon + 1, ':')))
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE, "'%s' is not a valid QName",
		                      qname);
	char prefix[128];
	const char *p = NULL;
	if (colon) {
		size_t plen = (size_t)(colon - qname);
		if (plen >= sizeof prefix)
			return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                      "the prefix of QName '%.40s…' is too long", qname);
		memcpy(prefix, qname, plen);
		prefix[plen] = '\0';
		p = prefix;
	}
	/* xmlSearchNs wants a mutable node only for the "xml" prefix case,
	 * where it may attach the XML namespace to the document. */
	xmlNode *ctx = (xmlNode *)(uintptr_t)context;
	xmlNs *ns = ctx ? xmlSearchNs(ctx->doc, ctx, (const xmlChar *)p) : NULL;
	if (colon && !ns)
		return rms__error_set(
		    RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		    "QName '%s' uses the prefix '%s', which is not declared there", qname, prefix);
	*ns_uri = ns ? (const char *)ns->href : NULL;
	*local = colon ? colon + 1 : qname;
	return 0;
}

/* ---- streaming reader --------------------------------------------------- */

typedef enum pos {
	POS_READ,     /* the current node is done with: read on */
	POS_FRESH,    /* on a node not yet looked at */
	POS_PENDING,  /* on an element of the current level, not consumed */
	POS_EXPANDED, /* on an element handed out: skip its subtree */
	POS_END       /* the element enclosing the current level has ended */
} pos;

struct rms_xml_pool {
	unsigned refs;
	xmlTextReaderPtr spare; /* closed, waiting for its next document */
	unsigned spare_uses;    /* documents it has read */
};

struct rms_soap_reader {
	xmlTextReaderPtr xr;
	rms_xml_pool *pool;  /* a reference; NULL: not pooled */
	unsigned uses;       /* documents xr has read, this one included */
	const char *buf; /* the caller's, for locating errors */
	size_t len;
	char *what;
	limits lim;
	rms_soap_headers headers;
	int level;      /* xmlTextReader depth of the current level's elements */
	int body_level; /* depth of the Body's children; 0 until then */
	pos pos;
	bool finished; /* the document after the Body was read and is sound */
	bool root_closed;
	xml_err err;
	int failed;                /* sticky failure code */
	struct rms_error *failure; /* and its details */
};

static void reader_on_error(void *arg, xmlErrorPtr x)
{
	rms_soap_reader *r = arg;
	capture(&r->err, x);
}

/* Record a failure so every later call reports it again. */
static int fail(rms_soap_reader *r, int rc)
{
	r->failed = rc;
	rms_error_free(r->failure);
	r->failure = rms_error_dup(rms_error_last());
	return rc;
}

static int fail_xml(rms_soap_reader *r)
{
	return fail(r, raise_xml_err(&r->err, &r->lim, r->what, !r->root_closed, r->buf, r->len));
}

static int fail_protocol(rms_soap_reader *r, const char *fmt, ...) RMS_PRINTF(2, 3);
static int fail_protocol(rms_soap_reader *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *detail = rms__vasprintf(fmt, ap);
	va_end(ap);
	if (!detail)
		return fail(r, rms__error_nomem());
	rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE, "%s %s", r->what, detail);
	free(detail);
	return fail(r, RMS_E_PROTOCOL);
}

static int refail(rms_soap_reader *r)
{
	if (r->failure)
		rms__error_restore(r->failure);
	else if (r->failed == RMS_E_NOMEM)
		rms__error_nomem();
	else
		rms__error_set(r->failed, RMS_PHASE_DECODE, "%s could not be read", r->what);
	return r->failed;
}

/* One libxml2 reader call under our error handlers; libxml2's return value,
 * or -1 when it reported an error (some, such as an undeclared prefix, it
 * reports without failing the call). */
typedef enum xr_op { XR_READ, XR_NEXT } xr_op;

/* The calls into libxml2 run under our error handlers: each entry point
 * below (peek, next, opening) installs them once for all the calls it
 * makes (an err_guard per node read cost more than reading it). */
static int xr_call(rms_soap_reader *r, xr_op op)
{
	int ret = op == XR_READ ? xmlTextReaderRead(r->xr) : xmlTextReaderNext(r->xr);
	return r->err.set ? -1 : ret;
}

static xmlNode *xr_expand(rms_soap_reader *r)
{
	xmlNode *n = xmlTextReaderExpand(r->xr);
	return r->err.set ? NULL : n;
}

static const char *or_none(const xmlChar *s)
{
	return s ? (const char *)s : "";
}

/* "{uri}local" or "local" for messages. */
static void describe(char *out, size_t cap, const char *ns, const char *local)
{
	if (ns && *ns)
		snprintf(out, cap, "{%s}%s", ns, local);
	else
		snprintf(out, cap, "%s", local);
}

static void describe_current(rms_soap_reader *r, char *out, size_t cap)
{
	describe(out, cap, or_none(xmlTextReaderConstNamespaceUri(r->xr)),
	         or_none(xmlTextReaderConstLocalName(r->xr)));
}

/* Check an expanded subtree against the depth and text limits (libxml2's
 * own caps are wider than ours can be). Iterative: depth is what is being
 * checked. `depth` is the 1-based depth of n itself. */
static int check_subtree(rms_soap_reader *r, const xmlNode *n, unsigned depth)
{
	const xmlNode *cur = n;
	for (;;) {
		if (cur->type == XML_ELEMENT_NODE) {
			if (depth > r->lim.max_depth)
				return fail_protocol(
				    r,
				    "nests elements deeper than the limit of %u levels "
				    "(line %ld)",
				    r->lim.max_depth, xmlGetLineNo(cur));
			for (const xmlAttr *a = cur->properties; a; a = a->next) {
				const xmlNode *t = a->children;
				if (t && t->type == XML_TEXT_NODE && t->content &&
				    strlen((const char *)t->content) > r->lim.max_text)
					return fail_protocol(
					    r,
					    "has an attribute value longer than the "
					    "limit of %zu bytes (line %ld)",
					    r->lim.max_text, xmlGetLineNo(cur));
			}
		} else if ((cur->type == XML_TEXT_NODE || cur->type == XML_CDATA_SECTION_NODE) &&
		           cur->content && strlen((const char *)cur->content) > r->lim.max_text) {
			return fail_protocol(r,
			                     "has a text node longer than the limit of %zu bytes "
			                     "(line %ld)",
			                     r->lim.max_text, xmlGetLineNo(cur->parent));
		}
		if (cur->type == XML_ELEMENT_NODE && cur->children) {
			cur = cur->children;
			depth++;
			continue;
		}
		while (cur != n && !cur->next) {
			cur = cur->parent;
			depth--;
		}
		if (cur == n)
			return 0;
		cur = cur->next;
	}
}

/* After the Body has ended: the rest must be the end of the Envelope. */
static int finish_document(rms_soap_reader *r)
{
	for (;;) {
		int ret = xr_call(r, XR_READ);
		if (ret < 0)
			return fail_xml(r);
		if (ret == 0)
			break;
		int type = xmlTextReaderNodeType(r->xr);
		if (type == XML_READER_TYPE_ELEMENT) {
			char name[300];
			describe_current(r, name, sizeof name);
			return fail_protocol(r, "has an element %s after the SOAP Body", name);
		}
		if (type == XML_READER_TYPE_END_ELEMENT && xmlTextReaderDepth(r->xr) == 0)
			r->root_closed = true;
	}
	if (!r->root_closed)
		return fail_xml(r);
	r->finished = true;
	return 0;
}

/* Move to the next element of the current level (POS_PENDING, returns 0)
 * or to the end of the enclosing element (POS_END, returns ITEROVER). */
static int advance(rms_soap_reader *r)
{
	if (r->pos == POS_PENDING)
		return 0;
	if (r->pos == POS_END)
		return RMS_ITEROVER;
	int ret;
	if (r->pos == POS_EXPANDED) {
		ret = xr_call(r, XR_NEXT);
		r->pos = POS_FRESH;
	} else if (r->pos == POS_READ) {
		ret = xr_call(r, XR_READ);
		r->pos = POS_FRESH;
	} else {
		ret = 1;
	}
	for (;;) {
		if (ret < 0)
			return fail_xml(r);
		if (ret == 0) {
			/* libxml2 reported the end of input inside an open element
			 * without an error: treat it as the cut-off it is. */
			return fail_protocol(
			    r, "is truncated: it ends before its elements are closed");
		}
		int type = xmlTextReaderNodeType(r->xr);
		int depth = xmlTextReaderDepth(r->xr);
		if (type == XML_READER_TYPE_ELEMENT && depth == r->level) {
			r->pos = POS_PENDING;
			return 0;
		}
		if (type == XML_READER_TYPE_END_ELEMENT && depth < r->level) {
			r->pos = POS_END;
			return RMS_ITEROVER;
		}
		/* Text, white space, comments and processing instructions
		 * between elements are of no interest. */
		ret = xr_call(r, XR_READ);
	}
}

/* The enclosing element has ended: report it once and return to the parent
 * level, except at the Body's level, where the end is final. */
static int level_over(rms_soap_reader *r)
{
	if (r->body_level && r->level == r->body_level) {
		if (!r->finished) {
			int rc = finish_document(r);
			if (rc)
				return rc;
		}
		return RMS_ITEROVER;
	}
	r->level--;
	r->pos = POS_READ;
	return RMS_ITEROVER;
}

static int peek(rms_soap_reader *r, const char **ns_uri, const char **local)
{
	*ns_uri = NULL;
	*local = NULL;
	if (r->failed)
		return refail(r);
	int rc = advance(r);
	if (rc == RMS_ITEROVER)
		return level_over(r);
	if (rc)
		return rc;
	const xmlChar *ns = xmlTextReaderConstNamespaceUri(r->xr);
	*ns_uri = ns ? (const char *)ns : NULL;
	*local = or_none(xmlTextReaderConstLocalName(r->xr));
	return 0;
}

int rms__soap_reader_peek(rms_soap_reader *r, const char **ns_uri, const char **local)
{
	err_guard g;
	guard_on(&g, &r->err);
	int rc = peek(r, ns_uri, local);
	guard_off(&g);
	return rc;
}

static int next(rms_soap_reader *r, xmlNode **node)
{
	*node = NULL;
	if (r->failed)
		return refail(r);
	int rc = advance(r);
	if (rc == RMS_ITEROVER)
		return level_over(r);
	if (rc)
		return rc;
	xmlNode *n = xr_expand(r);
	if (!n)
		return fail_xml(r);
	if ((rc = check_subtree(r, n, (unsigned)r->level + 1)))
		return rc;
	r->pos = POS_EXPANDED;
	*node = n;
	return 0;
}

int rms__soap_reader_next(rms_soap_reader *r, xmlNode **node)
{
	err_guard g;
	guard_on(&g, &r->err);
	int rc = next(r, node);
	guard_off(&g);
	return rc;
}

static int enter(rms_soap_reader *r, const char *ns_uri, const char *local)
{
	const char *ns, *name;
	int rc = peek(r, &ns, &name);
	char want[300], got[300];
	describe(want, sizeof want, ns_uri, local);
	if (rc == RMS_ITEROVER)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "%s has no %s where one was expected", r->what, want);
	if (rc)
		return rc;
	if (!str_eq(ns, ns_uri) || strcmp(name, local) != 0) {
		describe(got, sizeof got, ns, name);
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "%s has %s where %s was expected", r->what, got, want);
	}
	if ((unsigned)r->level + 2 > r->lim.max_depth)
		return fail_protocol(r, "nests elements deeper than the limit of %u levels",
		                     r->lim.max_depth);
	r->level++;
	r->pos = xmlTextReaderIsEmptyElement(r->xr) == 1 ? POS_END : POS_READ;
	return 0;
}

int rms__soap_reader_enter(rms_soap_reader *r, const char *ns_uri, const char *local)
{
	err_guard g;
	guard_on(&g, &r->err);
	int rc = enter(r, ns_uri, local);
	guard_off(&g);
	return rc;
}

const rms_soap_headers *rms__soap_reader_headers(const rms_soap_reader *r)
{
	return &r->headers;
}

rms_xml_pool *rms__xml_pool_new(void)
{
	rms_xml_pool *p = calloc(1, sizeof *p);
	if (p)
		p->refs = 1;
	return p;
}

void rms__xml_pool_release(rms_xml_pool *p)
{
	if (!p || --p->refs)
		return;
	if (p->spare) {
		xml_err e = {0};
		err_guard g;
		guard_on(&g, &e);
		xmlFreeTextReader(p->spare);
		guard_off(&g);
	}
	free(p);
}

void rms__soap_reader_free(rms_soap_reader *r)
{
	if (!r)
		return;
	if (r->xr) {
		err_guard g;
		guard_on(&g, &r->err);
		rms_xml_pool *p = r->pool;
		/* A reader that failed is not kept: only a sound one is
		 * known to be in a state a reset fully undoes. */
		if (p && !p->spare && !r->failed && !r->err.set && r->uses < RMS_XML_POOL_USES &&
		    xmlTextReaderClose(r->xr) == 0) {
			xmlTextReaderSetStructuredErrorHandler(r->xr, NULL, NULL);
			p->spare = r->xr;
			p->spare_uses = r->uses;
		} else {
			xmlFreeTextReader(r->xr);
		}
		guard_off(&g);
	}
	rms__xml_pool_release(r->pool);
	free(r->headers.action);
	free(r->headers.message_id);
	free(r->headers.relates_to);
	free(r->headers.operation_id);
	rms_error_free(r->failure);
	free(r->what);
	free(r);
}

/* Keep the first occurrence of the headers we track. */
static int record_header(rms_soap_reader *r, const xmlNode *h)
{
	char **slot = NULL;
	if (rms__xml_is(h, RMS_NS_ADDRESSING, "Action"))
		slot = &r->headers.action;
	else if (rms__xml_is(h, RMS_NS_ADDRESSING, "MessageID"))
		slot = &r->headers.message_id;
	else if (rms__xml_is(h, RMS_NS_ADDRESSING, "RelatesTo"))
		slot = &r->headers.relates_to;
	else if (rms__xml_is(h, RMS_NS_WSMAN_MS, "OperationID"))
		slot = &r->headers.operation_id;
	if (!slot || *slot)
		return 0;
	*slot = rms__xml_text(h);
	return *slot ? 0 : fail(r, rms__error_nomem());
}

/* From the start of the document to the first element inside Body. */
static int read_to_body(rms_soap_reader *r)
{
	int ret;
	do {
		ret = xr_call(r, XR_READ);
	} while (ret == 1 && xmlTextReaderNodeType(r->xr) != XML_READER_TYPE_ELEMENT);
	if (ret < 0)
		return fail_xml(r);
	if (ret == 0)
		return fail_protocol(r, "has no root element");
	const char *ns = or_none(xmlTextReaderConstNamespaceUri(r->xr));
	const char *local = or_none(xmlTextReaderConstLocalName(r->xr));
	if (strcmp(local, "Envelope") == 0 && strcmp(ns, NS_SOAP11) == 0)
		return fail_protocol(r,
		                     "is a SOAP 1.1 envelope (namespace %s); WS-Management "
		                     "speaks SOAP 1.2 (%s)",
		                     NS_SOAP11, RMS_NS_SOAP);
	if (strcmp(local, "Envelope") != 0 || strcmp(ns, RMS_NS_SOAP) != 0) {
		char got[300];
		describe(got, sizeof got, ns, local);
		return fail_protocol(r, "is not a SOAP 1.2 envelope: its root element is %s", got);
	}
	if (xmlTextReaderIsEmptyElement(r->xr) == 1)
		return fail_protocol(r, "has an empty SOAP Envelope (no Body)");

	r->level = 1;
	r->pos = POS_READ;
	const char *cns, *clocal;
	int rc = peek(r, &cns, &clocal);
	if (rc == RMS_ITEROVER)
		return fail_protocol(r, "has no SOAP Body");
	if (rc)
		return rc;
	if (str_eq(cns, RMS_NS_SOAP) && strcmp(clocal, "Header") == 0) {
		if ((rc = enter(r, RMS_NS_SOAP, "Header")))
			return rc;
		xmlNode *h;
		while ((rc = next(r, &h)) == 0) {
			if ((rc = record_header(r, h)))
				return rc;
		}
		if (rc != RMS_ITEROVER)
			return rc;
		rc = peek(r, &cns, &clocal);
		if (rc == RMS_ITEROVER)
			return fail_protocol(r, "has no SOAP Body");
		if (rc)
			return rc;
	}
	if (!str_eq(cns, RMS_NS_SOAP) || strcmp(clocal, "Body") != 0) {
		char got[300];
		describe(got, sizeof got, cns, clocal);
		return fail_protocol(r, "has %s where the SOAP Body was expected", got);
	}
	if ((rc = enter(r, RMS_NS_SOAP, "Body")))
		return rc;
	r->body_level = r->level;
	return 0;
}

int rms__soap_reader_open(rms_soap_reader **out, const char *buf, size_t len,
                          const rms_xml_limits *limits_in, const char *what)
{
	return rms__soap_reader_open_pooled(out, NULL, buf, len, limits_in, what);
}

int rms__soap_reader_open_pooled(rms_soap_reader **out, rms_xml_pool *pool, const char *buf,
                                 size_t len, const rms_xml_limits *limits_in, const char *what)
{
	*out = NULL;
	limits lim;
	resolve_limits(limits_in, &lim);
	int rc = check_size(len, &lim, what);
	if (rc)
		return rc;
	if (!prolog_plain(buf, len) && (rc = prolog_check(buf, len, &lim, what)))
		return rc;
	rms_soap_reader *r = calloc(1, sizeof *r);
	if (!r)
		return rms__error_nomem();
	r->lim = lim;
	r->buf = buf;
	r->len = len;
	r->what = rms__strdup(what_or_default(what));
	if (!r->what) {
		free(r);
		return rms__error_nomem();
	}
	err_guard g;
	guard_on(&g, &r->err);
	if (pool) {
		pool->refs++;
		r->pool = pool;
	}
	if (pool && pool->spare) {
		/* The kept reader, reset onto this document with the same
		 * options a new one gets (xmlTextReaderSetup). */
		r->xr = pool->spare;
		r->uses = pool->spare_uses + 1;
		pool->spare = NULL;
		if (xmlReaderNewMemory(r->xr, buf, (int)len, NULL, NULL, SAFE_OPTIONS) != 0) {
			xmlFreeTextReader(r->xr);
			r->xr = NULL;
		}
	} else {
		r->xr = xmlReaderForMemory(buf, (int)len, NULL, NULL, SAFE_OPTIONS);
		r->uses = 1;
	}
	if (r->xr) {
		xmlTextReaderSetStructuredErrorHandler(r->xr, reader_on_error, r);
		/* Pin what process-wide defaults could have changed. */
		xmlTextReaderSetParserProp(r->xr, XML_PARSER_LOADDTD, 0);
		xmlTextReaderSetParserProp(r->xr, XML_PARSER_DEFAULTATTRS, 0);
		xmlTextReaderSetParserProp(r->xr, XML_PARSER_VALIDATE, 0);
		xmlTextReaderSetParserProp(r->xr, XML_PARSER_SUBST_ENTITIES, 0);
	}
	guard_off(&g);
	if (!r->xr) {
		rms__soap_reader_free(r);
		return rms__error_nomem();
	}
	guard_on(&g, &r->err);
	rc = read_to_body(r);
	guard_off(&g);
	if (rc) {
		rms__soap_reader_free(r);
		return rc;
	}
	*out = r;
	return 0;
}
