/*
 * CLIXML (clixml.h): PowerShell's serialization read into values and written
 * from them.
 *
 * What the reader accepts follows what PowerShell's own deserializer
 * (pwsh 7.6.10, checked with PSSerializer::Deserialize) accepts, so anything
 * a real peer writes decodes:
 *   - Numbers, booleans, GUIDs, versions, durations and datetimes may have
 *     white space around them (.NET trims it); strings, script blocks, XML
 *     and URIs are not trimmed (a URI is, as System.Uri does).
 *   - Signed integers take '+' or '-'; unsigned ones and <C> take no sign.
 *     Booleans are "true"/"false"/"1"/"0" (case matters).
 *   - Reals: "INF", "-INF", "NaN" and .NET's "Infinity"; a real too large for
 *     its type is an infinity, as .NET reads it, not an error.
 *   - <TS> is xs:duration with years (365 days) and months (30 days) as
 *     XmlConvert counts them, each component at most 2^31-1, fraction digits
 *     past the 7th dropped; <DT> is xs:dateTime or xs:date, a fraction past
 *     7 digits rounded to 7 (.NET's ticks).
 *   - `_xHHHH_` (x or X, any hex case, exactly four digits) is a UTF-16 code
 *     unit; anything else that merely looks like an escape is kept as text.
 *     PowerShell turns a lone surrogate or U+0000 into a .NET string; remsess
 *     strings are UTF-8 without NULs and cannot hold either, so both are
 *     errors here (clixml.h).
 *   - A repeated property name (case-insensitive) keeps the last value, as
 *     PowerShell does; RefIds are strings and a later <Obj> with the same
 *     RefId takes the id over from the point it starts, as in PowerShell.
 * Where PowerShell silently keeps the last of two (two <TN>, two <ToString>,
 * two base values, two collections in one <Obj>) this reader refuses the
 * object instead: no PowerShell writes that, and guessing would hide a
 * broken peer. A <Ref> to an object still being decoded is real PowerShell
 * output (a hashtable holding itself; Get-PSDrive serialized 3 deep; a
 * PSDrive in Windows PowerShell's Get-Item output through its provider's
 * Drives): values are trees, so it becomes a stub (cycle_stub).
 *
 * A <Ref> is a deep copy of the object it names, so the copies are counted:
 * every <Obj> remembers its weight (values built inside it, Ref copies
 * included, plus one per 64 bytes of text), a <Ref> adds that weight to the
 * budget before copying, and the budget is max_values. A chain of objects
 * each naming the one before twice therefore fails after about 20 links,
 * having built at most max_values values, instead of doubling forever.
 *
 * Values are kept by pointer in the RefId table while the tree that owns
 * them grows, so nothing decoded may be freed before the end: a property
 * superseded by a later one of the same name is parked in a graveyard and
 * freed with the table.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "clixml.h"
#include "error_internal.h"
#include "value_internal.h"
#include "xml.h"

#define CLIXML_NS "http://schemas.microsoft.com/powershell/2004/04"
#define DEFAULT_MAX_DEPTH 100u
#define DEFAULT_MAX_VALUES ((size_t)1000000)
/* Text bytes that weigh as much as one value when a Ref copies them. */
#define WEIGHT_BYTES 64u
/* The writer remembers at most this many type-name lists for <TNRef>;
 * later ones are written in full without a RefId, which PowerShell reads. */
#define WRITER_MAX_TN 512u
#define TICKS_PER_SECOND 10000000ull
#define TICKS_PER_DAY (86400ull * TICKS_PER_SECOND)

/* ---- tags ------------------------------------------------------------------- */

typedef enum ctag {
	T_UNKNOWN = 0,
	/* values */
	T_S, T_C, T_B, T_DT, T_D, T_DB, T_SG, T_BY, T_SB, T_U16, T_I16, T_U32, T_I32, T_U64,
	T_I64, T_G, T_TS, T_URI, T_VERSION, T_XD, T_SBK, T_BA, T_SS, T_PR, T_NIL, T_OBJ, T_REF,
	/* structure */
	T_TN, T_TNREF, T_T, T_TOSTRING, T_PROPS, T_MS, T_LST, T_IE, T_STK, T_QUE, T_DCT, T_EN,
	T_OBJS
} ctag;

static const struct {
	const char *name;
	ctag t;
} tag_names[] = {
	{"S", T_S},         {"C", T_C},           {"B", T_B},       {"DT", T_DT},
	{"D", T_D},         {"Db", T_DB},         {"Sg", T_SG},     {"By", T_BY},
	{"SB", T_SB},       {"U16", T_U16},       {"I16", T_I16},   {"U32", T_U32},
	{"I32", T_I32},     {"U64", T_U64},       {"I64", T_I64},   {"G", T_G},
	{"TS", T_TS},       {"URI", T_URI},       {"Version", T_VERSION},
	{"XD", T_XD},       {"SBK", T_SBK},       {"BA", T_BA},     {"SS", T_SS},
	{"PR", T_PR},       {"Nil", T_NIL},       {"Obj", T_OBJ},   {"Ref", T_REF},
	{"TN", T_TN},       {"TNRef", T_TNREF},   {"T", T_T},       {"ToString", T_TOSTRING},
	{"Props", T_PROPS}, {"MS", T_MS},         {"LST", T_LST},   {"IE", T_IE},
	{"STK", T_STK},     {"QUE", T_QUE},       {"DCT", T_DCT},   {"En", T_EN},
	{"Objs", T_OBJS},
};

static bool is_value_tag(ctag t)
{
	return t >= T_S && t <= T_REF;
}

/* What may stand as an object's base value: PowerShell's known types, and
 * an <Obj> (Windows PowerShell writes a PSObject wrapping another object so:
 * the note properties outside, the wrapped object's own inside). */
static bool is_base_tag(ctag t)
{
	return (t >= T_S && t <= T_PR) || t == T_OBJ;
}

static bool is_list_tag(ctag t)
{
	return t == T_LST || t == T_IE || t == T_STK || t == T_QUE;
}

/* ---- small helpers ---------------------------------------------------------- */

/* What .NET's number parsing and XmlConvert trim: tab, LF, VT, FF, CR, space. */
static bool is_ws(unsigned char c)
{
	return c == ' ' || (c >= 0x09 && c <= 0x0d);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}


static void trim(const char **p, size_t *len)
{
	while (*len && is_ws((unsigned char)**p))
		(*p)++, (*len)--;
	while (*len && is_ws((unsigned char)(*p)[*len - 1]))
		(*len)--;
}

/* Text for an error message: at most 64 bytes, cut on a character
 * boundary, control characters shown as '?'. */
static void clip(char out[80], const char *s, size_t len)
{
	size_t keep = rms__utf8_valid(s, len) ? rms__utf8_prefix(s, len, 64) : (len < 64 ? len : 64);
	size_t n = 0;
	for (size_t i = 0; i < keep; i++) {
		unsigned char c = (unsigned char)s[i];
		out[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	if (keep < len) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

/* ---- _xHHHH_ escapes ---------------------------------------------------------- */

/* The code unit of an escape at p (p[0] == '_'), or -1 if p does not start
 * one. */
static int escape_at(const char *p, const char *end)
{
	if (end - p < 7 || p[0] != '_' || (p[1] != 'x' && p[1] != 'X') || p[6] != '_')
		return -1;
	int v = 0;
	for (int i = 2; i < 6; i++) {
		int h = rms__hex_value(p[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/*
 * Append text[0..len) to b with escapes decoded. Returns 0, -1 with *why
 * set for an escape remsess cannot hold (b then holds the text up to it),
 * or RMS_E_NOMEM (raised).
 */
static int unescape_into(rms_buf *b, const char *text, size_t len, const char **why)
{
	const char *p = text, *end = text + len, *run = text;
	while (p < end) {
		const char *u = memchr(p, '_', (size_t)(end - p));
		if (!u)
			break;
		int cu = escape_at(u, end);
		if (cu < 0) {
			p = u + 1;
			continue;
		}
		uint32_t cp = (uint32_t)cu;
		size_t used = 7;
		if (cu >= 0xd800 && cu <= 0xdbff) {
			int lo = escape_at(u + 7, end);
			if (lo < 0xdc00 || lo > 0xdfff) {
				*why = "a lone UTF-16 high surrogate (not followed by a low one), which "
				       "UTF-8 text cannot hold";
				return -1;
			}
			cp = 0x10000u + (((uint32_t)cu - 0xd800u) << 10) + ((uint32_t)lo - 0xdc00u);
			used = 14;
		} else if (cu >= 0xdc00 && cu <= 0xdfff) {
			*why = "a lone UTF-16 low surrogate, which UTF-8 text cannot hold";
			return -1;
		} else if (cu == 0) {
			*why = "the character U+0000, which remsess strings cannot hold";
			return -1;
		}
		char enc[4];
		size_t n = rms__utf8_encode(cp, enc);
		rms__buf_append(b, run, (size_t)(u - run));
		rms__buf_append(b, enc, n);
		p = run = u + used;
	}
	rms__buf_append(b, run, (size_t)(end - run));
	return b->failed ? rms__error_nomem() : 0;
}

int rms__clixml_unescape(char **out, const char *text, size_t len)
{
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "rms__clixml_unescape: out is NULL");
	*out = NULL;
	if (!text && len)
		return rms__error_field(RMS_E_INVALID_ARG, "text",
		                        "rms__clixml_unescape: text is NULL");
	if (len && (!rms__utf8_valid(text, len) || memchr(text, '\0', len)))
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "CLIXML text is not valid UTF-8 or holds a NUL byte");
	rms_buf b;
	rms__buf_init(&b);
	const char *why = NULL;
	int rc = unescape_into(&b, text ? text : "", len, &why);
	if (rc == 0)
		rc = rms__buf_append(&b, "", 0) ? rms__error_nomem() : 0;
	if (rc) {
		rms__buf_free(&b);
		if (rc == -1) {
			char cl[80];
			clip(cl, text, len);
			return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                      "CLIXML text \"%s\" has an escape for %s", cl, why);
		}
		return rc;
	}
	*out = rms__buf_take(&b);
	return *out ? 0 : rms__error_nomem();
}

static void put_escape(rms_buf *b, unsigned cu)
{
	static const char hex[] = "0123456789ABCDEF";
	char e[7] = {'_', 'x', hex[(cu >> 12) & 15], hex[(cu >> 8) & 15], hex[(cu >> 4) & 15],
	             hex[cu & 15], '_'};
	rms__buf_append(b, e, sizeof e);
}

/*
 * Escape as PowerShell's serializer does: C0 controls, DEL and C1 controls,
 * characters outside the BMP (as their two surrogates) and a '_' that
 * starts "_x" or "_X". U+FFFE and U+FFFF, which XML cannot carry and
 * PowerShell refuses to write, are escaped too. With xml set, the result is
 * also escaped for XML (&, <, >, and " for attributes).
 */
static int escape_into(rms_buf *b, const char *s, size_t len, bool xml)
{
	const char *p = s, *end = s + len, *run = s;
	while (p < end) {
		unsigned char c = (unsigned char)*p;
		if (c >= 0x20 && c < 0x7f && c != '_' && !(xml && (c == '&' || c == '<' || c == '>' ||
		                                                    c == '"'))) {
			p++;
			continue;
		}
		const char *at = p;
		if (c < 0x80) {
			p++;
			if (c == '_' && !(p < end && (*p == 'x' || *p == 'X')))
				continue;
			rms__buf_append(b, run, (size_t)(at - run));
			run = p;
			switch (c) {
			case '&': rms__buf_puts(b, "&amp;"); break;
			case '<': rms__buf_puts(b, "&lt;"); break;
			case '>': rms__buf_puts(b, "&gt;"); break;
			case '"': rms__buf_puts(b, "&quot;"); break;
			default: put_escape(b, c); break;
			}
			continue;
		}
		int32_t cp = rms__utf8_decode(&p, end);
		if (cp < 0)
			return rms__error_field(RMS_E_INVALID_ARG, "text",
			                        "text to write as CLIXML is not valid UTF-8");
		if (cp <= 0x9f || cp >= 0x10000 || cp == 0xfffe || cp == 0xffff) {
			rms__buf_append(b, run, (size_t)(at - run));
			run = p;
			if (cp >= 0x10000) {
				put_escape(b, 0xd800u + (((uint32_t)cp - 0x10000u) >> 10));
				put_escape(b, 0xdc00u + (((uint32_t)cp - 0x10000u) & 0x3ffu));
			} else {
				put_escape(b, (unsigned)cp);
			}
		}
	}
	rms__buf_append(b, run, (size_t)(end - run));
	return b->failed ? rms__error_nomem() : 0;
}

int rms__clixml_escape(rms_buf *out, const char *utf8, size_t len)
{
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "rms__clixml_escape: out is NULL");
	if (!utf8 && len)
		return rms__error_field(RMS_E_INVALID_ARG, "utf8", "rms__clixml_escape: text is NULL");
	if (len && memchr(utf8, '\0', len))
		return rms__error_field(RMS_E_INVALID_ARG, "utf8",
		                        "text to write as CLIXML holds a NUL byte");
	return escape_into(out, utf8 ? utf8 : "", len, false);
}

/* ---- string-keyed table (RefIds, TN RefIds) ------------------------------------ */

typedef struct smap_slot {
	char *key; /* NULL: empty */
	uint32_t hash;
	size_t val;
} smap_slot;

typedef struct smap {
	smap_slot *slots;
	size_t cap; /* power of two or 0 */
	size_t n;
} smap;

static uint32_t str_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static smap_slot *smap_slot_for(const smap *m, const char *key, uint32_t h)
{
	for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		smap_slot *s = &m->slots[i];
		if (!s->key || (s->hash == h && strcmp(s->key, key) == 0))
			return s;
	}
}

static bool smap_get(const smap *m, const char *key, size_t *val)
{
	if (!m->cap)
		return false;
	const smap_slot *s = smap_slot_for(m, key, str_hash(key));
	if (!s->key)
		return false;
	*val = s->val;
	return true;
}

/* Insert or overwrite. */
static int smap_put(smap *m, const char *key, size_t val)
{
	if ((m->n + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		smap_slot *slots = calloc(cap, sizeof *slots);
		if (!slots)
			return rms__error_nomem();
		smap old = *m;
		m->slots = slots;
		m->cap = cap;
		for (size_t i = 0; i < old.cap; i++)
			if (old.slots[i].key)
				*smap_slot_for(m, old.slots[i].key, old.slots[i].hash) = old.slots[i];
		free(old.slots);
	}
	uint32_t h = str_hash(key);
	smap_slot *s = smap_slot_for(m, key, h);
	if (!s->key) {
		if (!(s->key = strdup(key)))
			return rms__error_nomem();
		s->hash = h;
		m->n++;
	}
	s->val = val;
	return 0;
}

static void smap_free(smap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i].key);
	free(m->slots);
	memset(m, 0, sizeof *m);
}

/* ---- the decoder ---------------------------------------------------------------- */

typedef struct ref_entry {
	rms_value *value; /* borrowed from the tree being built; NULL while open */
	const rms_psobject *open; /* the object being built while open */
	size_t weight;
	unsigned long owner; /* serial of the <Obj> that holds the id */
} ref_entry;

typedef struct tn_entry {
	char **names;
	size_t n;
} tn_entry;

typedef struct dec {
	const char *what;
	unsigned max_depth;
	size_t max_values;
	size_t built;  /* the budget: values made, Ref copies by their weight */
	size_t weight; /* the same with text weighed in, for objects' weights */
	unsigned long serial;
	smap ref_ids;
	ref_entry *refs;
	size_t nrefs, refs_cap;
	smap tn_ids;
	tn_entry *tns;
	size_t ntns, tns_cap;
	rms_value **grave;
	size_t ngrave, grave_cap;
} dec;

static void dec_free(dec *d)
{
	smap_free(&d->ref_ids);
	free(d->refs);
	smap_free(&d->tn_ids);
	for (size_t i = 0; i < d->ntns; i++) {
		for (size_t j = 0; j < d->tns[i].n; j++)
			free(d->tns[i].names[j]);
		free(d->tns[i].names);
	}
	free(d->tns);
	for (size_t i = 0; i < d->ngrave; i++)
		rms_value_free(d->grave[i]);
	free(d->grave);
}

static const char *node_name(const xmlNode *n)
{
	return n && n->name ? (const char *)n->name : "?";
}

static int fail(const dec *d, const xmlNode *n, const char *fmt, ...) RMS_PRINTF(3, 4);
static int fail(const dec *d, const xmlNode *n, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE, "%s: <%s> at line %ld: %s",
	                      d->what, node_name(n), n ? xmlGetLineNo(n) : 0L, msg);
}

/* A value could not be made from text already checked (out of memory, or a
 * check of the model's that this decoder should have made first): keep the
 * model's reason, put the document and element in front. */
static int fail_model(const dec *d, const xmlNode *n, int rc)
{
	if (rc == RMS_E_NOMEM)
		return rc;
	const char *why = rms_error_message(rms_error_last());
	char copy[300];
	snprintf(copy, sizeof copy, "%s", why ? why : "invalid value");
	return fail(d, n, "%s", copy);
}

static ctag tag_of(const dec *d, const xmlNode *n, int *rc)
{
	*rc = 0;
	const char *href = n->ns ? (const char *)n->ns->href : NULL;
	if (href && strcmp(href, CLIXML_NS) != 0) {
		*rc = fail(d, n, "element in namespace \"%s\" is not CLIXML (expected no namespace "
		                 "or " CLIXML_NS ")",
		           href);
		return T_UNKNOWN;
	}
	const char *name = (const char *)n->name;
	for (size_t i = 0; i < sizeof tag_names / sizeof tag_names[0]; i++)
		if (strcmp(name, tag_names[i].name) == 0)
			return tag_names[i].t;
	return T_UNKNOWN;
}

static int unknown_tag(const dec *d, const xmlNode *n, const char *where)
{
	return fail(d, n, "unknown or misplaced CLIXML element%s%s", where ? " " : "",
	            where ? where : "");
}

static int budget(dec *d, const xmlNode *n, size_t values)
{
	if (values > d->max_values - d->built) {
		int rc = fail(d, n,
		              "the document builds more than the limit of %zu values "
		              "(max_values)",
		              d->max_values);
		rms__error_set_limit("max_values", d->max_values, (uint64_t)d->built + values);
		return rc;
	}
	d->built += values;
	d->weight += values;
	return 0;
}

static void weigh_text(dec *d, size_t len)
{
	d->weight += len / WEIGHT_BYTES;
}

/* The attribute's value, borrowed from the DOM when it is one text node,
 * else copied into *owned (freed by the caller with xmlFree). NULL when the
 * attribute is absent. */
static const char *attr(const xmlNode *n, const char *name, xmlChar **owned)
{
	*owned = NULL;
	for (const xmlAttr *a = n->properties; a; a = a->next) {
		if (a->ns || strcmp((const char *)a->name, name) != 0)
			continue;
		const xmlNode *c = a->children;
		if (!c)
			return "";
		if (!c->next && c->type == XML_TEXT_NODE)
			return (const char *)c->content;
		*owned = xmlNodeListGetString(n->doc, a->children, 1);
		return *owned ? (const char *)*owned : "";
	}
	return NULL;
}

/* Text between elements of a container: only white space (and comments). */
static int check_no_text(const dec *d, const xmlNode *n)
{
	for (const xmlNode *c = n->children; c; c = c->next) {
		if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
			for (const unsigned char *p = c->content; p && *p; p++)
				if (!is_ws(*p)) {
					char cl[80];
					const char *t = (const char *)c->content;
					clip(cl, t, strlen(t));
					return fail(d, n, "holds text \"%s\" where only elements may be",
					            cl);
				}
		} else if (c->type != XML_ELEMENT_NODE && c->type != XML_COMMENT_NODE &&
		           c->type != XML_PI_NODE) {
			return fail(d, n, "holds an XML node of type %d where only elements may be",
			            (int)c->type);
		}
	}
	return 0;
}

/*
 * The text content of a primitive element: *text points into the DOM when
 * it is one text node (or none: ""), else into tmp. Comments and PIs are
 * skipped as PowerShell skips them; an element inside is an error.
 */
static int elem_text(const dec *d, const xmlNode *n, rms_buf *tmp, const char **text, size_t *len)
{
	const xmlNode *only = NULL;
	size_t count = 0;
	for (const xmlNode *c = n->children; c; c = c->next) {
		if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
			only = c;
			count++;
		} else if (c->type == XML_ELEMENT_NODE) {
			return fail(d, n, "holds the element <%s>; it may hold only text",
			            node_name(c));
		} else if (c->type != XML_COMMENT_NODE && c->type != XML_PI_NODE) {
			return fail(d, n, "holds an XML node of type %d; it may hold only text",
			            (int)c->type);
		}
	}
	if (count <= 1) {
		*text = only && only->content ? (const char *)only->content : "";
		*len = strlen(*text);
		return 0;
	}
	tmp->len = 0;
	for (const xmlNode *c = n->children; c; c = c->next)
		if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
			rms__buf_puts(tmp, (const char *)c->content);
	if (rms__buf_append(tmp, "", 0))
		return rms__error_nomem();
	*text = tmp->data;
	*len = tmp->len;
	return 0;
}

/* Unescaped copy of text (malloc'd); a bad escape is an error naming n. */
static int unescape_dup(const dec *d, const xmlNode *n, const char *what_text, const char *text,
                        size_t len, char **out)
{
	*out = NULL;
	rms_buf b;
	rms__buf_init(&b);
	const char *why = NULL;
	int rc = unescape_into(&b, text, len, &why);
	if (rc == 0)
		rc = rms__buf_append(&b, "", 0) ? rms__error_nomem() : 0;
	if (rc) {
		rms__buf_free(&b);
		if (rc == -1) {
			char cl[80];
			clip(cl, text, len);
			return fail(d, n, "%s \"%s\" has an escape for %s", what_text, cl, why);
		}
		return rc;
	}
	*out = rms__buf_take(&b);
	return *out ? 0 : rms__error_nomem();
}

/* ---- primitive parsers ------------------------------------------------------------ */

static int bad_text(const dec *d, const xmlNode *n, const char *text, size_t len,
                    const char *problem)
{
	char cl[80];
	clip(cl, text, len);
	return fail(d, n, "\"%s\" %s", cl, problem);
}

/* Integer of at most 2^64-1 in magnitude: [sign]digits, sign only when
 * allow_sign. */
static int parse_integer(const dec *d, const xmlNode *n, const char *text, size_t len,
                         bool allow_sign, bool *neg, uint64_t *mag, bool *overflow)
{
	const char *p = text;
	size_t l = len;
	trim(&p, &l);
	*neg = false;
	*overflow = false;
	if (l && allow_sign && (*p == '+' || *p == '-')) {
		*neg = *p == '-';
		p++, l--;
	}
	if (l == 0)
		return bad_text(d, n, text, len,
		                allow_sign ? "is not an integer (expected [+|-]digits)"
		                           : "is not an unsigned integer (expected digits, no sign)");
	uint64_t v = 0;
	for (size_t i = 0; i < l; i++) {
		if (!is_digit(p[i]))
			return bad_text(d, n, text, len,
			                allow_sign ? "is not an integer (expected [+|-]digits)"
			                           : "is not an unsigned integer (expected digits, no "
			                             "sign)");
		unsigned dg = (unsigned)(p[i] - '0');
		if (v > (UINT64_MAX - dg) / 10)
			*overflow = true;
		else
			v = v * 10 + dg;
	}
	*mag = v;
	return 0;
}

static int decode_unsigned(const dec *d, const xmlNode *n, const char *text, size_t len,
                           uint64_t max, uint64_t *out)
{
	bool neg, ovf;
	uint64_t mag;
	int rc = parse_integer(d, n, text, len, false, &neg, &mag, &ovf);
	if (rc)
		return rc;
	if (ovf || mag > max) {
		char range[64];
		snprintf(range, sizeof range, "is out of range (0..%" PRIu64 ")", max);
		return bad_text(d, n, text, len, range);
	}
	*out = mag;
	return 0;
}

static int decode_signed(const dec *d, const xmlNode *n, const char *text, size_t len,
                         int64_t min, int64_t max, int64_t *out)
{
	bool neg, ovf;
	uint64_t mag;
	int rc = parse_integer(d, n, text, len, true, &neg, &mag, &ovf);
	if (rc)
		return rc;
	uint64_t limit = neg ? (uint64_t)(-(min + 1)) + 1u : (uint64_t)max;
	if (ovf || mag > limit) {
		char range[80];
		snprintf(range, sizeof range, "is out of range (%" PRId64 "..%" PRId64 ")", min, max);
		return bad_text(d, n, text, len, range);
	}
	*out = neg ? (mag == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
	return 0;
}

static bool ieq(const char *a, size_t alen, const char *b)
{
	size_t bl = strlen(b);
	if (alen != bl)
		return false;
	for (size_t i = 0; i < bl; i++) {
		char c = a[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != b[i])
			return false;
	}
	return true;
}

/* xs:float / xs:double as XmlConvert reads them. */
static int decode_real(const dec *d, const xmlNode *n, const char *text, size_t len, bool real32,
                       double *out)
{
	const char *p = text;
	size_t l = len;
	trim(&p, &l);
	if ((l == 3 && memcmp(p, "INF", 3) == 0) || ieq(p, l, "infinity") ||
	    ieq(p, l, "+infinity")) {
		*out = HUGE_VAL;
		return 0;
	}
	if ((l == 4 && memcmp(p, "-INF", 4) == 0) || ieq(p, l, "-infinity")) {
		*out = -HUGE_VAL;
		return 0;
	}
	if (ieq(p, l, "nan") || ieq(p, l, "-nan") || ieq(p, l, "+nan")) {
		*out = NAN;
		return 0;
	}
	/* [sign] (digits [. digits*] | . digits) [(e|E) [sign] digits] */
	size_t i = 0, mant = 0;
	if (i < l && (p[i] == '+' || p[i] == '-'))
		i++;
	while (i < l && is_digit(p[i]))
		i++, mant++;
	if (i < l && p[i] == '.') {
		i++;
		while (i < l && is_digit(p[i]))
			i++, mant++;
	}
	bool ok = mant > 0;
	if (ok && i < l && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < l && (p[i] == '+' || p[i] == '-'))
			i++;
		size_t e = 0;
		while (i < l && is_digit(p[i]))
			i++, e++;
		ok = e > 0;
	}
	if (!ok || i != l)
		return bad_text(d, n, text, len,
		                "is not a number (expected [+|-]digits[.digits][E[+|-]digits], INF, "
		                "-INF or NaN)");
	char small[64];
	char *copy = l < sizeof small ? small : malloc(l + 1);
	if (!copy)
		return rms__error_nomem();
	memcpy(copy, p, l);
	copy[l] = '\0';
	int rc = rms__real_parse(out, copy, real32);
	if (copy != small)
		free(copy);
	return rc;
}

/* System.Decimal: [sign](digits[.digits*]|.digits), kept as its canonical
 * text ("+01.50" -> "1.50", "-0" -> "0"). */
static int decode_decimal(const dec *d, const xmlNode *n, const char *text, size_t len,
                          char **out)
{
	static const char max_mantissa[] = "79228162514264337593543950335";
	const char *p = text;
	size_t l = len;
	trim(&p, &l);
	bool neg = false;
	if (l && (*p == '+' || *p == '-')) {
		neg = *p == '-';
		p++, l--;
	}
	size_t ni = 0;
	while (ni < l && is_digit(p[ni]))
		ni++;
	const char *frac = p + ni;
	size_t nf = 0;
	bool dot = ni < l && p[ni] == '.';
	if (dot)
		while (ni + 1 + nf < l && is_digit(frac[1 + nf]))
			nf++;
	if (ni + nf == 0 || ni + (dot ? 1 + nf : 0) != l)
		return bad_text(d, n, text, len,
		                "is not a decimal (expected [+|-]digits[.digits], no exponent)");
	if (dot)
		frac++;
	/* Leading zeros of the integer part carry nothing. */
	while (ni > 1 && *p == '0')
		p++, ni--;
	/* The mantissa is the digits without the point, leading zeros dropped. */
	size_t lead = 0;
	bool in_int = ni > 0 && !(ni == 1 && *p == '0');
	if (!in_int)
		while (lead < nf && frac[lead] == '0')
			lead++;
	size_t mant_digits = in_int ? ni + nf : nf - lead;
	bool zero = !in_int && lead == nf;
	if (nf > 28)
		return bad_text(d, n, text, len,
		                "has more than 28 digits after the point (System.Decimal's scale)");
	if (mant_digits > 29)
		return bad_text(d, n, text, len,
		                "is out of System.Decimal's range (more than 29 significant digits)");
	if (mant_digits == 29) {
		char m[30];
		size_t k = 0;
		if (in_int) {
			memcpy(m, p, ni);
			k = ni;
			memcpy(m + k, frac, nf);
		} else {
			memcpy(m, frac + lead, nf - lead);
		}
		m[29] = '\0';
		if (strcmp(m, max_mantissa) > 0)
			return bad_text(d, n, text, len,
			                "is out of System.Decimal's range "
			                "(+-79228162514264337593543950335 as a 96-bit mantissa)");
	}
	char *s = malloc(1 + (ni ? ni : 1) + 1 + nf + 1); /* "-" int "." frac NUL */
	if (!s)
		return rms__error_nomem();
	size_t k = 0;
	if (neg && !zero)
		s[k++] = '-';
	memcpy(s + k, ni ? p : "0", ni ? ni : 1);
	k += ni ? ni : 1;
	if (nf) {
		s[k++] = '.';
		memcpy(s + k, frac, nf);
		k += nf;
	}
	s[k] = '\0';
	*out = s;
	return 0;
}

/* Guid.Parse's forms D, N, B and P, to the lower-case D form. */
static int decode_guid(const dec *d, const xmlNode *n, const char *text, size_t len, char out[37])
{
	const char *p = text;
	size_t l = len;
	trim(&p, &l);
	if (l == 38 && ((p[0] == '{' && p[37] == '}') || (p[0] == '(' && p[37] == ')')))
		p++, l = 36;
	char hex[32];
	size_t nh = 0;
	bool ok = l == 32 || l == 36;
	for (size_t i = 0; ok && i < l; i++) {
		bool dash_pos = l == 36 && (i == 8 || i == 13 || i == 18 || i == 23);
		if (dash_pos)
			ok = p[i] == '-';
		else if (rms__hex_value(p[i]) >= 0)
			hex[nh++] = p[i];
		else
			ok = false;
	}
	if (!ok || nh != 32)
		return bad_text(d, n, text, len,
		                "is not a GUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, "
		                "optionally in braces or parentheses, or 32 hex digits)");
	size_t k = 0;
	for (size_t i = 0; i < 32; i++) {
		if (i == 8 || i == 12 || i == 16 || i == 20)
			out[k++] = '-';
		char c = hex[i];
		out[k++] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
	}
	out[36] = '\0';
	return 0;
}

/* System.Version: 2 to 4 components, each Int32.Parse'd (white space and a
 * sign allowed, not negative). Canonical "1.2.3.4". */
static int decode_version(const dec *d, const xmlNode *n, const char *text, size_t len,
                          char out[48])
{
	static const char shape[] =
	    "is not a version (expected major.minor[.build[.revision]], each 0..2147483647)";
	const char *p = text, *end = text + len;
	int parts = 0;
	size_t k = 0;
	for (;;) {
		const char *dotp = memchr(p, '.', (size_t)(end - p));
		const char *stop = dotp ? dotp : end;
		const char *c = p;
		size_t cl = (size_t)(stop - p);
		trim(&c, &cl);
		bool neg = false;
		if (cl && (*c == '+' || *c == '-')) {
			neg = *c == '-';
			c++, cl--;
		}
		if (cl == 0 || parts == 4)
			return bad_text(d, n, text, len, shape);
		uint64_t v = 0;
		for (size_t i = 0; i < cl; i++) {
			if (!is_digit(c[i]))
				return bad_text(d, n, text, len, shape);
			v = v * 10 + (uint64_t)(c[i] - '0');
			if (v > 2147483647u)
				return bad_text(d, n, text, len,
				                "has a version component larger than 2147483647");
		}
		if (neg && v)
			return bad_text(d, n, text, len, "has a negative version component");
		k += (size_t)snprintf(out + k, 48 - k, parts ? ".%" PRIu64 : "%" PRIu64, v);
		parts++;
		if (!dotp)
			break;
		p = dotp + 1;
	}
	if (parts < 2)
		return bad_text(d, n, text, len, shape);
	return 0;
}

/* Multiply-add with overflow check on unsigned 64-bit. */
static bool mul_add(uint64_t *acc, uint64_t a, uint64_t b)
{
	if (b && a > UINT64_MAX / b)
		return false;
	if (*acc > UINT64_MAX - a * b)
		return false;
	*acc += a * b;
	return true;
}

/* xs:duration as XmlConvert.ToTimeSpan reads it, to ticks. */
static int decode_duration(const dec *d, const xmlNode *n, const char *text, size_t len,
                           int64_t *out)
{
	static const char shape[] =
	    "is not an xs:duration (expected [-]P[nY][nM][nD][T[nH][nM][n[.f]S]])";
	const char *p = text;
	size_t l = len;
	trim(&p, &l);
	const char *end = p + l;
	bool neg = false;
	if (p < end && *p == '-')
		neg = true, p++;
	if (p == end || *p != 'P')
		return bad_text(d, n, text, len, shape);
	p++;
	static const struct {
		char unit;
		bool time;
		uint64_t ticks;
	} units[] = {
	    {'Y', false, 365 * TICKS_PER_DAY},   {'M', false, 30 * TICKS_PER_DAY},
	    {'D', false, TICKS_PER_DAY},         {'H', true, 3600 * TICKS_PER_SECOND},
	    {'M', true, 60 * TICKS_PER_SECOND},  {'S', true, TICKS_PER_SECOND},
	};
	uint64_t ticks = 0;
	size_t next = 0; /* units must come in order */
	bool in_time = false, any = false, any_time = false, overflow = false;
	while (p < end) {
		if (*p == 'T') {
			if (in_time)
				return bad_text(d, n, text, len, shape);
			in_time = true;
			p++;
			if (next < 3)
				next = 3;
			continue;
		}
		uint64_t v = 0;
		size_t digits = 0;
		while (p < end && is_digit(*p)) {
			v = v * 10 + (uint64_t)(*p++ - '0');
			digits++;
			if (v > 2147483647u)
				return bad_text(d, n, text, len,
				                "has a duration component larger than 2147483647");
		}
		uint32_t ns = 0;
		size_t fdigits = 0;
		bool fraction = p < end && *p == '.';
		if (fraction) {
			p++;
			uint32_t scale = 100000000u;
			while (p < end && is_digit(*p)) {
				if (fdigits < 9) {
					ns += (uint32_t)(*p - '0') * scale;
					scale /= 10;
				}
				p++, fdigits++;
			}
		}
		if (p == end || digits + fdigits == 0)
			return bad_text(d, n, text, len, shape);
		size_t u = next;
		while (u < 6 && !(units[u].unit == *p && units[u].time == in_time))
			u++;
		if (u == 6 || (fraction && units[u].unit != 'S'))
			return bad_text(d, n, text, len, shape);
		p++;
		next = u + 1;
		any = true;
		any_time |= in_time;
		if (!mul_add(&ticks, v, units[u].ticks) || !mul_add(&ticks, ns / 100u, 1))
			overflow = true;
	}
	if (!any || (in_time && !any_time))
		return bad_text(d, n, text, len, shape);
	if (overflow || ticks > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
		return bad_text(d, n, text, len, "is out of System.TimeSpan's range");
	*out = neg ? (ticks == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)ticks)
	           : (int64_t)ticks;
	return 0;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && leap(y) ? 29 : days[m - 1];
}

static bool fixed_digits(const char *p, const char *end, size_t n, int *out)
{
	if ((size_t)(end - p) < n)
		return false;
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return true;
}

/*
 * xs:dateTime or xs:date as XmlConvert (RoundtripKind) reads them: year
 * 0001..9999, a fraction rounded to 7 digits, zone Z (or z), +-hh:mm or
 * none.
 */
static int decode_datetime(const dec *d, const xmlNode *n, const char *text, size_t len,
                           rms_datetime *out)
{
	static const char shape[] =
	    "is not an xs:dateTime (expected YYYY-MM-DDThh:mm:ss[.fffffff][Z|+hh:mm|-hh:mm])";
	const char *p = text;
	size_t l = len;
	trim(&p, &l);
	const char *end = p + l;
	rms_datetime dt = {.tz_form = RMS_TZ_NONE};
	bool carry = false;
	if (!fixed_digits(p, end, 4, &dt.year) || l < 10 || p[4] != '-' ||
	    !fixed_digits(p + 5, end, 2, &dt.month) || p[7] != '-' ||
	    !fixed_digits(p + 8, end, 2, &dt.day))
		return bad_text(d, n, text, len, shape);
	p += 10;
	if (p < end && *p == 'T') {
		if (!fixed_digits(p + 1, end, 2, &dt.hour) || end - p < 9 || p[3] != ':' ||
		    !fixed_digits(p + 4, end, 2, &dt.minute) || p[6] != ':' ||
		    !fixed_digits(p + 7, end, 2, &dt.second))
			return bad_text(d, n, text, len, shape);
		p += 9;
		if (p < end && *p == '.') {
			p++;
			uint32_t frac = 0;
			int digits = 0;
			bool round_up = false;
			const char *f = p;
			while (p < end && is_digit(*p)) {
				if (digits < 7) {
					frac = frac * 10 + (uint32_t)(*p - '0');
					digits++;
				} else if (p == f + 7) {
					round_up = *p >= '5';
				}
				p++;
			}
			if (digits == 0)
				return bad_text(d, n, text, len, shape);
			static const uint32_t pow10[8] = {1,      10,      100,      1000,
			                                  10000,  100000,  1000000,  10000000};
			if (round_up && ++frac == pow10[7]) {
				frac = 0; /* .99999995 and up: the next second */
				carry = true;
			}
			dt.nanoseconds = frac * (uint32_t)(pow10[7] / pow10[digits]) * 100u;
			dt.frac_digits = digits;
		}
	}
	if (p < end && (*p == 'Z' || *p == 'z') && p + 1 == end) {
		dt.tz_form = RMS_TZ_UTC_Z;
	} else if (p < end && (*p == '+' || *p == '-')) {
		int hh, mm;
		if (end - p != 6 || !fixed_digits(p + 1, end, 2, &hh) || p[3] != ':' ||
		    !fixed_digits(p + 4, end, 2, &mm) || mm > 59)
			return bad_text(d, n, text, len, shape);
		int off = hh * 60 + mm;
		if (off > 999)
			return bad_text(d, n, text, len, "has a UTC offset beyond +-16:39");
		dt.tz_form = RMS_TZ_OFFSET;
		dt.utc_offset = *p == '-' ? -off : off;
	} else if (p != end) {
		return bad_text(d, n, text, len, shape);
	}
	if (dt.year < 1 || dt.month < 1 || dt.month > 12 || dt.day < 1 ||
	    dt.day > month_days(dt.year, dt.month) || dt.hour > 23 || dt.minute > 59 ||
	    dt.second > 59)
		return bad_text(d, n, text, len,
		                "is not a valid date and time (System.DateTime: years 0001..9999, "
		                "no 24:00 or leap second)");
	if (carry && ++dt.second == 60) {
		dt.second = 0;
		if (++dt.minute == 60) {
			dt.minute = 0;
			if (++dt.hour == 24) {
				dt.hour = 0;
				if (++dt.day > month_days(dt.year, dt.month)) {
					dt.day = 1;
					if (++dt.month == 13) {
						dt.month = 1;
						if (++dt.year > 9999)
							return bad_text(d, n, text, len,
							                "is after System.DateTime's range "
							                "(year 9999)");
					}
				}
			}
		}
	}
	*out = dt;
	return 0;
}

/* ---- values -------------------------------------------------------------------------- */

static int decode_value(dec *d, const xmlNode *n, unsigned depth, rms_value **out);

static int new_text_value(const dec *d, const xmlNode *n, rms_type type, char *owned,
                          rms_value **out)
{
	int rc = type == RMS_TYPE_STRING ? rms__value_new_string_take(out, owned)
	                                 : rms__value_new_text_take(out, type, owned);
	return rc ? fail_model(d, n, rc) : 0;
}

static int decode_primitive(dec *d, const xmlNode *n, ctag t, rms_value **out)
{
	rms_buf tmp;
	rms__buf_init(&tmp);
	const char *text;
	size_t len;
	int rc = elem_text(d, n, &tmp, &text, &len);
	if (rc) {
		rms__buf_free(&tmp);
		return rc;
	}
	weigh_text(d, len);
	uint64_t u = 0;
	int64_t i = 0;
	double r = 0;
	char *s = NULL;
	switch (t) {
	case T_S:
	case T_SBK:
	case T_XD:
	case T_URI: {
		rc = unescape_dup(d, n, "text", text, len, &s);
		if (rc)
			break;
		rms_type type = t == T_S     ? RMS_TYPE_STRING
		                : t == T_SBK ? RMS_TYPE_SCRIPTBLOCK
		                : t == T_XD  ? RMS_TYPE_XML
		                             : RMS_TYPE_URI;
		if (t == T_URI) {
			/* System.Uri trims surrounding white space. */
			const char *b = s;
			size_t bl = strlen(s);
			trim(&b, &bl);
			memmove(s, b, bl);
			s[bl] = '\0';
		}
		rc = new_text_value(d, n, type, s, out);
		break;
	}
	case T_C:
		rc = decode_unsigned(d, n, text, len, 0xffff, &u);
		if (rc == 0 && u >= 0xd800 && u <= 0xdfff)
			rc = bad_text(d, n, text, len,
			              "is a lone UTF-16 surrogate, which a remsess char16 cannot hold");
		if (rc == 0 && (rc = rms_value_new_char16(out, (uint16_t)u)))
			rc = fail_model(d, n, rc);
		break;
	case T_B: {
		const char *b = text;
		size_t bl = len;
		trim(&b, &bl);
		bool v;
		if ((bl == 4 && memcmp(b, "true", 4) == 0) || (bl == 1 && *b == '1'))
			v = true;
		else if ((bl == 5 && memcmp(b, "false", 5) == 0) || (bl == 1 && *b == '0'))
			v = false;
		else {
			rc = bad_text(d, n, text, len, "is not a boolean (true, false, 1 or 0)");
			break;
		}
		rc = rms_value_new_boolean(out, v);
		break;
	}
	case T_BY:
	case T_U16:
	case T_U32:
	case T_U64: {
		uint64_t max = t == T_BY ? 0xff : t == T_U16 ? 0xffff : t == T_U32 ? 0xffffffffu
		                                                                 : UINT64_MAX;
		rc = decode_unsigned(d, n, text, len, max, &u);
		if (rc)
			break;
		rc = t == T_BY    ? rms_value_new_uint8(out, (uint8_t)u)
		     : t == T_U16 ? rms_value_new_uint16(out, (uint16_t)u)
		     : t == T_U32 ? rms_value_new_uint32(out, (uint32_t)u)
		                  : rms_value_new_uint64(out, u);
		break;
	}
	case T_SB:
	case T_I16:
	case T_I32:
	case T_I64: {
		int64_t min = t == T_SB ? INT8_MIN : t == T_I16 ? INT16_MIN : t == T_I32 ? INT32_MIN
		                                                                       : INT64_MIN;
		int64_t max = t == T_SB ? INT8_MAX : t == T_I16 ? INT16_MAX : t == T_I32 ? INT32_MAX
		                                                                       : INT64_MAX;
		rc = decode_signed(d, n, text, len, min, max, &i);
		if (rc)
			break;
		rc = t == T_SB    ? rms_value_new_sint8(out, (int8_t)i)
		     : t == T_I16 ? rms_value_new_sint16(out, (int16_t)i)
		     : t == T_I32 ? rms_value_new_sint32(out, (int32_t)i)
		                  : rms_value_new_sint64(out, i);
		break;
	}
	case T_SG:
	case T_DB:
		rc = decode_real(d, n, text, len, t == T_SG, &r);
		if (rc == 0)
			rc = t == T_SG ? rms_value_new_real32(out, (float)r)
			               : rms_value_new_real64(out, r);
		break;
	case T_D:
		rc = decode_decimal(d, n, text, len, &s);
		if (rc == 0)
			rc = new_text_value(d, n, RMS_TYPE_DECIMAL, s, out);
		break;
	case T_G: {
		char g[37];
		rc = decode_guid(d, n, text, len, g);
		if (rc == 0 && (rc = rms_value_new_guid(out, g)))
			rc = fail_model(d, n, rc);
		break;
	}
	case T_VERSION: {
		char v[48];
		rc = decode_version(d, n, text, len, v);
		if (rc == 0 && (rc = rms_value_new_version(out, v)))
			rc = fail_model(d, n, rc);
		break;
	}
	case T_TS:
		rc = decode_duration(d, n, text, len, &i);
		if (rc == 0)
			rc = rms_value_new_timespan(out, i);
		break;
	case T_DT: {
		rms_datetime dt;
		rc = decode_datetime(d, n, text, len, &dt);
		if (rc == 0 && (rc = rms_value_new_datetime(out, &dt)))
			rc = fail_model(d, n, rc);
		break;
	}
	case T_BA: {
		unsigned char *data = NULL;
		size_t dlen = 0;
		rc = rms__base64_decode(&data, &dlen, text, len);
		if (rc == RMS_E_NOMEM)
			break;
		if (rc) {
			rc = bad_text(d, n, text, len,
			              "is not base64 (RFC 4648 alphabet with '=' padding)");
			break;
		}
		rc = rms__value_new_bytes_take(out, data, dlen);
		break;
	}
	case T_SS: {
		/* Encrypted with a session key remsess does not exchange (PSRP
		 * 2.4 deprecates the exchange; docs/pssession.md): the secret
		 * stays unread, and the value is an opaque SecureString object
		 * (type names and ToString as PowerShell shows one), so the
		 * object holding it (a PSCredential) is not lost. */
		rms_psobject *o = NULL;
		rc = rms_psobject_new(&o);
		if (!rc)
			rc = rms_psobject_add_type_name(o, "System.Security.SecureString");
		if (!rc)
			rc = rms_psobject_add_type_name(o, "System.Object");
		if (!rc)
			rc = rms_psobject_set_to_string(o, "System.Security.SecureString");
		if (!rc)
			rc = rms_value_new_object(out, o);
		if (rc)
			rms_psobject_free(o);
		break;
	}
	default: rc = unknown_tag(d, n, NULL); break;
	}
	rms__buf_free(&tmp);
	return rc;
}

/* ---- objects ----------------------------------------------------------------------- */

static int grave_push(dec *d, rms_value *v)
{
	int rc = rms__array_grow((void **)&d->grave, &d->grave_cap, d->ngrave + 1, sizeof *d->grave);
	if (rc) {
		rms_value_free(v);
		return rc;
	}
	d->grave[d->ngrave++] = v;
	return 0;
}

/*
 * A Ref to an object still being decoded: PowerShell writes one when an
 * object holds itself (a hashtable in itself; a PSDrive through its
 * provider's Drives). Values are trees, so the cycle is cut with a stub:
 * the object's type names and ToString so far, as PowerShell itself writes
 * an object it has no depth left for.
 */
static int cycle_stub(dec *d, const xmlNode *n, const rms_psobject *open, rms_value **out)
{
	size_t ntn = rms_psobject_type_name_count(open);
	int rc = budget(d, n, 1 + ntn);
	if (rc)
		return rc;
	rms_psobject *o = NULL;
	if ((rc = rms_psobject_new(&o)))
		return rc;
	for (size_t i = 0; i < ntn && rc == 0; i++) {
		char *copy = strdup(rms_psobject_type_name_at(open, i));
		rc = copy ? rms__psobject_add_type_name_take(o, copy) : rms__error_nomem();
	}
	const char *ts = rms_psobject_to_string(open);
	if (rc == 0 && ts) {
		char *copy = strdup(ts);
		rc = copy ? rms__psobject_set_to_string_take(o, copy) : rms__error_nomem();
	}
	if (rc == 0)
		rc = rms_value_new_object(out, o);
	if (rc)
		rms_psobject_free(o);
	return rc;
}

static int decode_ref(dec *d, const xmlNode *n, rms_value **out)
{
	xmlChar *owned;
	const char *id = attr(n, "RefId", &owned);
	int rc = 0;
	size_t idx;
	char cl[80];
	clip(cl, id ? id : "", id ? strlen(id) : 0);
	if (!id) {
		rc = fail(d, n, "has no RefId attribute");
	} else if (!smap_get(&d->ref_ids, id, &idx)) {
		rc = fail(d, n, "RefId \"%s\" names no earlier <Obj>", cl);
	} else if (!d->refs[idx].value) {
		rc = cycle_stub(d, n, d->refs[idx].open, out);
	} else {
		size_t w = d->refs[idx].weight;
		if (w > d->max_values - d->built) {
			rc = fail(d, n,
			          "copying RefId \"%s\" (weight %zu) would build more than the limit "
			          "of %zu values (max_values): a reference bomb?",
			          cl, w, d->max_values);
			rms__error_set_limit("max_values", d->max_values, (uint64_t)d->built + w);
		} else {
			d->built += w;
			d->weight += w;
			rc = rms_value_dup(out, d->refs[idx].value);
		}
	}
	xmlFree(owned);
	return rc;
}

/* Type names of a <TN>, registered under its RefId, added to o. */
static int decode_tn(dec *d, const xmlNode *n, rms_psobject *o)
{
	int rc = check_no_text(d, n);
	tn_entry e = {0};
	size_t cap = 0;
	rms_buf tmp;
	rms__buf_init(&tmp);
	for (const xmlNode *c = n->children; c && rc == 0; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		ctag t = tag_of(d, c, &rc);
		if (rc)
			break;
		if (t != T_T) {
			rc = unknown_tag(d, c, "inside <TN> (expected <T>)");
			break;
		}
		const char *text;
		size_t len;
		char *name = NULL;
		rc = elem_text(d, c, &tmp, &text, &len);
		if (rc == 0)
			rc = unescape_dup(d, c, "type name", text, len, &name);
		if (rc)
			break;
		if (!*name) { /* an empty name carries nothing; the model keeps none */
			free(name);
			continue;
		}
		rc = budget(d, c, 1);
		if (rc == 0)
			rc = rms__array_grow((void **)&e.names, &cap, e.n + 1, sizeof *e.names);
		if (rc) {
			free(name);
			break;
		}
		weigh_text(d, len);
		e.names[e.n++] = name;
	}
	rms__buf_free(&tmp);
	for (size_t i = 0; i < e.n && rc == 0; i++) {
		char *copy = strdup(e.names[i]);
		rc = copy ? rms__psobject_add_type_name_take(o, copy) : rms__error_nomem();
	}
	xmlChar *owned;
	const char *id = rc == 0 ? attr(n, "RefId", &owned) : (owned = NULL, NULL);
	if (id) {
		size_t idx;
		if (smap_get(&d->tn_ids, id, &idx)) {
			tn_entry *old = &d->tns[idx];
			for (size_t i = 0; i < old->n; i++)
				free(old->names[i]);
			free(old->names);
			*old = e;
			e = (tn_entry){0};
		} else {
			rc = rms__array_grow((void **)&d->tns, &d->tns_cap, d->ntns + 1, sizeof *d->tns);
			if (rc == 0)
				rc = smap_put(&d->tn_ids, id, d->ntns);
			if (rc == 0) {
				d->tns[d->ntns++] = e;
				e = (tn_entry){0};
			}
		}
	}
	xmlFree(owned);
	for (size_t i = 0; i < e.n; i++)
		free(e.names[i]);
	free(e.names);
	return rc;
}

static int decode_tnref(dec *d, const xmlNode *n, rms_psobject *o)
{
	xmlChar *owned;
	const char *id = attr(n, "RefId", &owned);
	size_t idx = 0;
	int rc = 0;
	if (!id)
		rc = fail(d, n, "has no RefId attribute");
	else if (!smap_get(&d->tn_ids, id, &idx)) {
		char cl[80];
		clip(cl, id, strlen(id));
		rc = fail(d, n, "RefId \"%s\" names no earlier <TN>", cl);
	}
	xmlFree(owned);
	if (rc)
		return rc;
	const tn_entry *e = &d->tns[idx];
	rc = budget(d, n, e->n);
	for (size_t i = 0; i < e->n && rc == 0; i++) {
		char *copy = strdup(e->names[i]);
		rc = copy ? rms__psobject_add_type_name_take(o, copy) : rms__error_nomem();
		weigh_text(d, strlen(e->names[i]));
	}
	return rc;
}

static int decode_list(dec *d, const xmlNode *n, unsigned depth, rms_psobject *o, ctag t)
{
	rms_ps_collection kind = t == T_LST   ? RMS_PS_COLLECTION_LIST
	                         : t == T_IE  ? RMS_PS_COLLECTION_ENUMERABLE
	                         : t == T_STK ? RMS_PS_COLLECTION_STACK
	                                      : RMS_PS_COLLECTION_QUEUE;
	int rc = check_no_text(d, n);
	if (rc == 0 && (rc = rms_psobject_set_collection(o, kind)))
		return fail_model(d, n, rc);
	for (const xmlNode *c = n->children; c && rc == 0; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		rms_value *v = NULL;
		rc = decode_value(d, c, depth + 1, &v);
		if (rc == 0 && (rc = rms_psobject_append(o, v))) {
			rms_value_free(v);
			rc = fail_model(d, c, rc);
		}
	}
	return rc;
}

/* The N attribute of an element, required where names matter. */
static int name_of(const dec *d, const xmlNode *n, const char *where, char **out)
{
	xmlChar *owned;
	const char *name = attr(n, "N", &owned);
	int rc;
	if (!name)
		rc = fail(d, n, "inside %s has no N attribute (the property name)", where);
	else
		rc = unescape_dup(d, n, "name", name, strlen(name), out);
	xmlFree(owned);
	return rc;
}

static int decode_dct(dec *d, const xmlNode *n, unsigned depth, rms_psobject *o)
{
	int rc = check_no_text(d, n);
	if (rc == 0 && (rc = rms_psobject_set_collection(o, RMS_PS_COLLECTION_DICTIONARY)))
		return fail_model(d, n, rc);
	for (const xmlNode *en = n->children; en && rc == 0; en = en->next) {
		if (en->type != XML_ELEMENT_NODE)
			continue;
		ctag t = tag_of(d, en, &rc);
		if (rc)
			break;
		if (t != T_EN) {
			rc = unknown_tag(d, en, "inside <DCT> (expected <En>)");
			break;
		}
		if ((rc = check_no_text(d, en)))
			break;
		const xmlNode *kv[2] = {NULL, NULL};
		size_t nkv = 0;
		for (const xmlNode *c = en->children; c; c = c->next) {
			if (c->type != XML_ELEMENT_NODE)
				continue;
			if (nkv == 2) {
				rc = fail(d, c, "is a third element inside <En> (expected a key and a "
				                "value)");
				break;
			}
			kv[nkv++] = c;
		}
		if (rc)
			break;
		static const char *const names[2] = {"Key", "Value"};
		for (size_t i = 0; i < 2 && rc == 0; i++) {
			xmlChar *owned = NULL;
			const char *nm = kv[i] ? attr(kv[i], "N", &owned) : NULL;
			if (!kv[i])
				rc = fail(d, en, "has no %s element (expected <... N=\"Key\"> then "
				                 "<... N=\"Value\">)",
				          names[i]);
			else if (!nm || strcmp(nm, names[i]) != 0)
				rc = fail(d, kv[i], "inside <En> should have N=\"%s\" (has %s%s%s)",
				          names[i], nm ? "N=\"" : "no N", nm ? nm : "", nm ? "\"" : "");
			xmlFree(owned);
		}
		if (rc)
			break;
		rms_value *key = NULL, *val = NULL;
		rc = decode_value(d, kv[0], depth + 2, &key);
		if (rc == 0 && rms_value_is_null(key))
			rc = fail(d, kv[0], "is a null dictionary key");
		if (rc == 0)
			rc = decode_value(d, kv[1], depth + 2, &val);
		if (rc == 0 && (rc = rms_psobject_append_entry(o, key, val)))
			rc = fail_model(d, en, rc);
		if (rc) {
			rms_value_free(key);
			rms_value_free(val);
		}
	}
	return rc;
}

/* One property element of <Props>/<MS>: its name, and whether a later one
 * of the same name (case-insensitive, as rms_psobject matches) replaces it. */
typedef struct prop_slot {
	char *name;
	uint32_t hash;
	bool superseded;
} prop_slot;

static void mark_superseded(prop_slot *s, size_t n)
{
	if (n <= 16) {
		for (size_t i = 0; i < n; i++)
			for (size_t j = i + 1; j < n && !s[i].superseded; j++)
				if (s[i].hash == s[j].hash && rms__streq_nocase(s[i].name, s[j].name))
					s[i].superseded = true;
		return;
	}
	size_t cap = 32;
	while (cap < n * 2)
		cap *= 2;
	size_t *tab = calloc(cap, sizeof *tab);
	if (!tab) { /* fall back to the quadratic scan rather than fail */
		for (size_t i = 0; i < n; i++)
			for (size_t j = i + 1; j < n && !s[i].superseded; j++)
				if (s[i].hash == s[j].hash && rms__streq_nocase(s[i].name, s[j].name))
					s[i].superseded = true;
		return;
	}
	for (size_t i = n; i-- > 0;) {
		size_t k = s[i].hash & (cap - 1);
		for (; tab[k]; k = (k + 1) & (cap - 1)) {
			const prop_slot *o = &s[tab[k] - 1];
			if (o->hash == s[i].hash && rms__streq_nocase(o->name, s[i].name)) {
				s[i].superseded = true;
				break;
			}
		}
		if (!s[i].superseded)
			tab[k] = i + 1;
	}
	free(tab);
}

static int collect_props(const dec *d, const xmlNode *obj, prop_slot **out, size_t *count)
{
	*out = NULL;
	*count = 0;
	size_t n = 0;
	int rc = 0;
	for (const xmlNode *c = obj->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE ||
		    (c->ns && strcmp((const char *)c->ns->href, CLIXML_NS) != 0))
			continue;
		if (strcmp((const char *)c->name, "Props") != 0 &&
		    strcmp((const char *)c->name, "MS") != 0)
			continue;
		for (const xmlNode *p = c->children; p; p = p->next)
			n += p->type == XML_ELEMENT_NODE;
	}
	if (n == 0)
		return 0;
	prop_slot *s = calloc(n, sizeof *s);
	if (!s)
		return rms__error_nomem();
	size_t k = 0;
	for (const xmlNode *c = obj->children; c && rc == 0; c = c->next) {
		if (c->type != XML_ELEMENT_NODE ||
		    (c->ns && strcmp((const char *)c->ns->href, CLIXML_NS) != 0))
			continue;
		bool ms = strcmp((const char *)c->name, "MS") == 0;
		if (!ms && strcmp((const char *)c->name, "Props") != 0)
			continue;
		for (const xmlNode *p = c->children; p && rc == 0; p = p->next) {
			if (p->type != XML_ELEMENT_NODE)
				continue;
			rc = name_of(d, p, ms ? "<MS>" : "<Props>", &s[k].name);
			if (rc == 0)
				s[k].hash = rms__name_hash(s[k].name);
			k++;
		}
	}
	if (rc) {
		for (size_t i = 0; i < n; i++)
			free(s[i].name);
		free(s);
		return rc;
	}
	mark_superseded(s, n);
	*out = s;
	*count = n;
	return 0;
}

static int decode_props(dec *d, const xmlNode *n, unsigned depth, rms_psobject *o, bool ms,
                        prop_slot *slots, size_t *next)
{
	int rc = check_no_text(d, n);
	for (const xmlNode *c = n->children; c && rc == 0; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		prop_slot *s = &slots[(*next)++];
		rms_value *v = NULL;
		rc = decode_value(d, c, depth + 1, &v);
		if (rc)
			break;
		weigh_text(d, strlen(s->name));
		if (s->superseded) {
			rc = grave_push(d, v);
			continue;
		}
		char *name = s->name;
		s->name = NULL;
		rc = rms__psobject_set_take(o, name, v,
		                            ms ? RMS_PS_PROP_EXTENDED : RMS_PS_PROP_ADAPTED);
		if (rc) {
			rms_value_free(v);
			rc = fail_model(d, c, rc);
		}
	}
	return rc;
}

static int decode_obj(dec *d, const xmlNode *n, unsigned depth, rms_value **out)
{
	rms_psobject *o = NULL;
	int rc = rms_psobject_new(&o);
	if (rc)
		return rc;
	xmlChar *owned;
	const char *id = attr(n, "RefId", &owned);
	unsigned long serial = ++d->serial;
	size_t w0 = d->weight - 1; /* the budget() of this <Obj> counted one */
	size_t idx = 0;
	if (id) {
		if (!smap_get(&d->ref_ids, id, &idx)) {
			idx = d->nrefs;
			rc = rms__array_grow((void **)&d->refs, &d->refs_cap, d->nrefs + 1,
			                     sizeof *d->refs);
			if (rc == 0)
				rc = smap_put(&d->ref_ids, id, idx);
			if (rc == 0)
				d->nrefs++;
		}
		if (rc == 0)
			d->refs[idx] = (ref_entry){NULL, o, 0, serial};
	}
	xmlFree(owned);
	prop_slot *slots = NULL;
	size_t nslots = 0, next_slot = 0;
	if (rc == 0)
		rc = check_no_text(d, n);
	if (rc == 0)
		rc = collect_props(d, n, &slots, &nslots);
	const xmlNode *seen_tn = NULL, *seen_str = NULL, *seen_base = NULL, *seen_coll = NULL;
	for (const xmlNode *c = n->children; c && rc == 0; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		ctag t = tag_of(d, c, &rc);
		if (rc)
			break;
		const xmlNode **seen = NULL;
		const char *part = NULL;
		if (t == T_TN || t == T_TNREF)
			seen = &seen_tn, part = "type-name list (<TN> or <TNRef>)";
		else if (t == T_TOSTRING)
			seen = &seen_str, part = "<ToString>";
		else if (is_base_tag(t))
			seen = &seen_base, part = "base value";
		else if (is_list_tag(t) || t == T_DCT)
			seen = &seen_coll, part = "collection";
		if (seen && *seen) {
			rc = fail(d, c, "is a second %s in one <Obj> (the first is <%s> at line %ld)",
			          part, node_name(*seen), xmlGetLineNo(*seen));
			break;
		}
		if (seen)
			*seen = c;
		switch (t) {
		case T_TN: rc = decode_tn(d, c, o); break;
		case T_TNREF: rc = decode_tnref(d, c, o); break;
		case T_TOSTRING: {
			rms_buf tmp;
			rms__buf_init(&tmp);
			const char *text;
			size_t len;
			char *s = NULL;
			rc = elem_text(d, c, &tmp, &text, &len);
			if (rc == 0)
				rc = unescape_dup(d, c, "ToString text", text, len, &s);
			rms__buf_free(&tmp);
			if (rc == 0) {
				weigh_text(d, len);
				rc = rms__psobject_set_to_string_take(o, s);
			}
			break;
		}
		case T_PROPS:
		case T_MS: rc = decode_props(d, c, depth + 1, o, t == T_MS, slots, &next_slot); break;
		case T_LST:
		case T_IE:
		case T_STK:
		case T_QUE: rc = decode_list(d, c, depth + 1, o, t); break;
		case T_DCT: rc = decode_dct(d, c, depth + 1, o); break;
		default:
			if (is_base_tag(t)) {
				rms_value *base = NULL;
				rc = decode_value(d, c, depth + 1, &base);
				if (rc == 0)
					rc = rms_psobject_set_base(o, base);
			} else {
				rc = unknown_tag(d, c, "inside <Obj>");
			}
		}
	}
	for (size_t i = 0; i < nslots; i++)
		free(slots[i].name);
	free(slots);
	if (rc == 0 && (rc = rms_value_new_object(out, o)) == 0 && id && d->refs[idx].owner == serial) {
		d->refs[idx].value = *out;
		d->refs[idx].open = NULL;
		d->refs[idx].weight = d->weight - w0;
	}
	if (rc)
		rms_psobject_free(o);
	return rc;
}

/* <PR>: a ProgressRecord, PowerShell's one known type with tags of its own. */
static int decode_pr(dec *d, const xmlNode *n, rms_value **out)
{
	static const struct {
		const char *tag;
		const char *prop;
		bool number;
	} fields[] = {
	    {"AV", "Activity", false},       {"AI", "ActivityId", true},
	    {"S", "CurrentOperation", false}, {"Nil", "CurrentOperation", false},
	    {"PI", "ParentActivityId", true}, {"PC", "PercentComplete", true},
	    {"T", "RecordType", false},       {"SR", "SecondsRemaining", true},
	    {"SD", "StatusDescription", false},
	};
	rms_psobject *o = NULL;
	int rc = rms_psobject_new(&o);
	if (rc)
		return rc;
	rc = check_no_text(d, n);
	if (rc == 0)
		rc = rms_psobject_add_type_name(o, "System.Management.Automation.ProgressRecord");
	if (rc == 0)
		rc = rms_psobject_add_type_name(o, "System.Object");
	for (const xmlNode *c = n->children; c && rc == 0; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		size_t f = 0;
		while (f < sizeof fields / sizeof fields[0] &&
		       strcmp(fields[f].tag, (const char *)c->name) != 0)
			f++;
		if (f == sizeof fields / sizeof fields[0] ||
		    (c->ns && strcmp((const char *)c->ns->href, CLIXML_NS) != 0)) {
			rc = unknown_tag(d, c, "inside <PR>");
			break;
		}
		if (rms_psobject_get(o, fields[f].prop)) {
			rc = fail(d, c, "repeats the ProgressRecord's %s", fields[f].prop);
			break;
		}
		rms_value *v = NULL;
		if ((rc = budget(d, c, 1)))
			break;
		if (strcmp(fields[f].tag, "Nil") == 0) {
			rc = rms_value_new_null(&v, RMS_TYPE_STRING);
		} else {
			rms_buf tmp;
			rms__buf_init(&tmp);
			const char *text;
			size_t len;
			rc = elem_text(d, c, &tmp, &text, &len);
			if (rc == 0 && fields[f].number) {
				int64_t i;
				rc = decode_signed(d, c, text, len, INT32_MIN, INT32_MAX, &i);
				if (rc == 0)
					rc = rms_value_new_sint32(&v, (int32_t)i);
			} else if (rc == 0) {
				char *s = NULL;
				rc = unescape_dup(d, c, "text", text, len, &s);
				if (rc == 0)
					rc = new_text_value(d, c, RMS_TYPE_STRING, s, &v);
			}
			rms__buf_free(&tmp);
		}
		if (rc == 0 && (rc = rms_psobject_set(o, fields[f].prop, v, RMS_PS_PROP_ADAPTED))) {
			rms_value_free(v);
			rc = fail_model(d, c, rc);
		}
	}
	if (rc == 0)
		rc = rms_value_new_object(out, o);
	if (rc)
		rms_psobject_free(o);
	return rc;
}

static int decode_value(dec *d, const xmlNode *n, unsigned depth, rms_value **out)
{
	*out = NULL;
	if (depth > d->max_depth)
		return fail(d, n, "nests deeper than the limit of %u elements (max_depth)",
		            d->max_depth);
	int rc;
	ctag t = tag_of(d, n, &rc);
	if (rc)
		return rc;
	if (!is_value_tag(t))
		return unknown_tag(d, n, t == T_UNKNOWN ? NULL : "where a value should be");
	if (t != T_REF && (rc = budget(d, n, 1)))
		return rc;
	switch (t) {
	case T_NIL: return rms_value_new_null(out, RMS_TYPE_OBJECT);
	case T_OBJ: return decode_obj(d, n, depth, out);
	case T_REF: return decode_ref(d, n, out);
	case T_PR: return decode_pr(d, n, out);
	default: return decode_primitive(d, n, t, out);
	}
}

/* ---- entry points ------------------------------------------------------------------- */

static int decode_doc(rms_value **out, const char *xml, size_t len,
                      const rms_clixml_limits *limits, const char *what, bool objs)
{
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "CLIXML decode: out is NULL");
	*out = NULL;
	if (!xml && len)
		return rms__error_field(RMS_E_INVALID_ARG, "xml", "CLIXML decode: xml is NULL");
	dec d = {0};
	d.what = what && *what ? what : "the CLIXML document";
	d.max_depth = limits && limits->max_depth ? limits->max_depth : DEFAULT_MAX_DEPTH;
	d.max_values = limits && limits->max_values ? limits->max_values : DEFAULT_MAX_VALUES;
	if (len >= 3 && memcmp(xml, "\xEF\xBB\xBF", 3) == 0)
		xml += 3, len -= 3;

	rms_xml_limits xl = {.max_depth = d.max_depth};
	xmlDoc *doc = NULL;
	int rc = rms__xml_parse(&doc, xml ? xml : "", len, &xl, d.what);
	if (rc)
		return rc;
	const xmlNode *root = xmlDocGetRootElement(doc);
	rms_value *v = NULL;
	if (!root) {
		rc = rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE, "%s has no root element",
		                    d.what);
	} else if (!objs) {
		ctag t = tag_of(&d, root, &rc);
		if (rc == 0 && t == T_OBJS)
			rc = fail(&d, root,
			          "is a whole Export-Clixml document where one value was expected");
		else if (rc == 0)
			rc = decode_value(&d, root, 1, &v);
	} else {
		ctag t = tag_of(&d, root, &rc);
		rms_psobject *list = NULL;
		if (rc == 0 && t != T_OBJS)
			rc = fail(&d, root, "is not <Objs> (the root of an Export-Clixml document)");
		if (rc == 0)
			rc = check_no_text(&d, root);
		if (rc == 0)
			rc = rms_psobject_new(&list);
		if (rc == 0)
			rc = rms_psobject_set_collection(list, RMS_PS_COLLECTION_LIST);
		for (const xmlNode *c = root ? root->children : NULL; c && rc == 0; c = c->next) {
			if (c->type != XML_ELEMENT_NODE)
				continue;
			rms_value *item = NULL;
			rc = decode_value(&d, c, 2, &item);
			if (rc == 0 && (rc = rms_psobject_append(list, item)))
				rms_value_free(item);
		}
		if (rc == 0)
			rc = rms_value_new_object(&v, list);
		if (rc)
			rms_psobject_free(list);
	}
	xmlFreeDoc(doc);
	dec_free(&d);
	if (rc) {
		rms_value_free(v);
		return rc;
	}
	*out = v;
	return 0;
}

int rms__clixml_decode(rms_value **out, const char *xml, size_t len,
                       const rms_clixml_limits *limits, const char *what)
{
	return decode_doc(out, xml, len, limits, what, false);
}

int rms__clixml_decode_objs(rms_value **out, const char *xml, size_t len,
                            const rms_clixml_limits *limits, const char *what)
{
	return decode_doc(out, xml, len, limits, what, true);
}

/* ---- the writer ---------------------------------------------------------------------- */

void rms__clixml_writer_init(rms_clixml_writer *w, rms_buf *out)
{
	if (!w)
		return;
	memset(w, 0, sizeof *w);
	w->out = out;
}

void rms__clixml_writer_free(rms_clixml_writer *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->ntn; i++)
		free(w->tn_keys[i]);
	free(w->tn_keys);
	w->tn_keys = NULL;
	w->ntn = w->tn_cap = 0;
}

static int wfail(const char *fmt, ...) RMS_PRINTF(1, 2);
static int wfail(const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return rms__error_set(RMS_E_RANGE, RMS_PHASE_SEND, "cannot write CLIXML: %s", msg);
}

static int w_ok(const rms_clixml_writer *w)
{
	return w->out->failed ? rms__error_nomem() : 0;
}

static int open_tag(rms_clixml_writer *w, const char *tag, const char *name)
{
	rms_buf *b = w->out;
	rms__buf_puts(b, "<");
	rms__buf_puts(b, tag);
	if (name) {
		rms__buf_puts(b, " N=\"");
		int rc = escape_into(b, name, strlen(name), true);
		if (rc)
			return rc;
		rms__buf_puts(b, "\"");
	}
	return w_ok(w);
}

/* <tag N="name">text</tag>, text escaped when asked. */
static int simple(rms_clixml_writer *w, const char *tag, const char *name, const char *text,
                  size_t len, bool escape)
{
	int rc = open_tag(w, tag, name);
	if (rc)
		return rc;
	rms_buf *b = w->out;
	if (len == 0) {
		rms__buf_puts(b, " />");
		return w_ok(w);
	}
	rms__buf_puts(b, ">");
	if (escape)
		rc = escape_into(b, text, len, true);
	else
		rms__buf_append(b, text, len);
	if (rc)
		return rc;
	rms__buf_printf(b, "</%s>", tag);
	return w_ok(w);
}

static void put_duration(rms_buf *b, int64_t ticks)
{
	uint64_t t = ticks < 0 ? (uint64_t)(-(ticks + 1)) + 1u : (uint64_t)ticks;
	if (ticks < 0)
		rms__buf_puts(b, "-");
	rms__buf_puts(b, "P");
	uint64_t days = t / TICKS_PER_DAY;
	t %= TICKS_PER_DAY;
	if (days)
		rms__buf_printf(b, "%" PRIu64 "D", days);
	if (t == 0) {
		if (!days)
			rms__buf_puts(b, "T0S");
		return;
	}
	rms__buf_puts(b, "T");
	uint64_t h = t / (3600 * TICKS_PER_SECOND), m = t / (60 * TICKS_PER_SECOND) % 60,
	         s = t / TICKS_PER_SECOND % 60, f = t % TICKS_PER_SECOND;
	if (h)
		rms__buf_printf(b, "%" PRIu64 "H", h);
	if (m)
		rms__buf_printf(b, "%" PRIu64 "M", m);
	if (s || f) {
		rms__buf_printf(b, "%" PRIu64, s);
		if (f) {
			char frac[8];
			snprintf(frac, sizeof frac, "%07" PRIu64, f);
			size_t fl = 7;
			while (frac[fl - 1] == '0')
				fl--;
			rms__buf_puts(b, ".");
			rms__buf_append(b, frac, fl);
		}
		rms__buf_puts(b, "S");
	}
}

static int write_datetime(rms_clixml_writer *w, const rms_datetime *dt, const char *name)
{
	if (dt->wildcards)
		return wfail("a datetime with wildcard fields has no CLIXML form");
	rms_buf *b = w->out;
	if (dt->is_interval) {
		uint64_t ticks = (uint64_t)dt->days * TICKS_PER_DAY +
		                 (uint64_t)dt->hour * 3600u * TICKS_PER_SECOND +
		                 (uint64_t)dt->minute * 60u * TICKS_PER_SECOND +
		                 (uint64_t)dt->second * TICKS_PER_SECOND + dt->nanoseconds / 100u;
		if (ticks > (uint64_t)INT64_MAX)
			return wfail("the interval is longer than System.TimeSpan holds");
		int rc = open_tag(w, "TS", name);
		if (rc)
			return rc;
		rms__buf_puts(b, ">");
		put_duration(b, (int64_t)ticks);
		rms__buf_puts(b, "</TS>");
		return w_ok(w);
	}
	if (dt->year < 1 || dt->second > 59)
		return wfail("%04d-%02d-%02dT%02d:%02d:%02d is outside System.DateTime (years "
		             "0001..9999, no leap second)",
		             dt->year, dt->month, dt->day, dt->hour, dt->minute, dt->second);
	int rc = open_tag(w, "DT", name);
	if (rc)
		return rc;
	rms__buf_printf(b, ">%04d-%02d-%02dT%02d:%02d:%02d", dt->year, dt->month, dt->day,
	                dt->hour, dt->minute, dt->second);
	if (dt->frac_digits > 0) {
		char frac[10];
		snprintf(frac, sizeof frac, "%09" PRIu32, dt->nanoseconds);
		rms__buf_puts(b, ".");
		rms__buf_append(b, frac, (size_t)(dt->frac_digits > 9 ? 9 : dt->frac_digits));
	}
	if (dt->tz_form == RMS_TZ_UTC_Z) {
		rms__buf_puts(b, "Z");
	} else if (dt->tz_form == RMS_TZ_OFFSET) {
		int off = dt->utc_offset < 0 ? -dt->utc_offset : dt->utc_offset;
		rms__buf_printf(b, "%c%02d:%02d", dt->utc_offset < 0 ? '-' : '+', off / 60, off % 60);
	}
	rms__buf_puts(b, "</DT>");
	return w_ok(w);
}

static int write_value(rms_clixml_writer *w, const rms_value *v, const char *name);

/* The type-name list: a <TNRef> when written before in this message. */
static int write_type_names(rms_clixml_writer *w, const char *const *names, size_t n)
{
	if (n == 0)
		return 0;
	rms_buf key;
	rms__buf_init(&key);
	for (size_t i = 0; i < n; i++)
		rms__buf_printf(&key, "%zu:%s", strlen(names[i]), names[i]);
	if (rms__buf_append(&key, "", 0)) {
		rms__buf_free(&key);
		return rms__error_nomem();
	}
	for (size_t i = 0; i < w->ntn; i++) {
		if (strcmp(w->tn_keys[i], key.data) == 0) {
			rms__buf_free(&key);
			rms__buf_printf(w->out, "<TNRef RefId=\"%zu\" />", i);
			return w_ok(w);
		}
	}
	if (w->ntn < WRITER_MAX_TN) {
		int rc = rms__array_grow((void **)&w->tn_keys, &w->tn_cap, w->ntn + 1,
		                         sizeof *w->tn_keys);
		if (rc) {
			rms__buf_free(&key);
			return rc;
		}
		rms__buf_printf(w->out, "<TN RefId=\"%zu\">", w->ntn);
		w->tn_keys[w->ntn++] = rms__buf_take(&key);
	} else {
		rms__buf_free(&key);
		rms__buf_puts(w->out, "<TN>");
	}
	for (size_t i = 0; i < n; i++) {
		int rc = simple(w, "T", NULL, names[i], strlen(names[i]), true);
		if (rc)
			return rc;
	}
	rms__buf_puts(w->out, "</TN>");
	return w_ok(w);
}

static int obj_open(rms_clixml_writer *w, const char *name)
{
	int rc = open_tag(w, "Obj", name);
	if (rc)
		return rc;
	rms__buf_printf(w->out, " RefId=\"%u\">", w->next_ref++);
	return w_ok(w);
}

static int write_psobject(rms_clixml_writer *w, const rms_psobject *o, const char *name)
{
	int rc = obj_open(w, name);
	size_t ntn = rms_psobject_type_name_count(o);
	const char **names = ntn ? calloc(ntn, sizeof *names) : NULL;
	if (rc == 0 && ntn && !names)
		rc = rms__error_nomem();
	for (size_t i = 0; i < ntn && rc == 0; i++)
		names[i] = rms_psobject_type_name_at(o, i);
	if (rc == 0)
		rc = write_type_names(w, names, ntn);
	free(names);
	const char *ts = rms_psobject_to_string(o);
	if (rc == 0 && ts)
		rc = simple(w, "ToString", NULL, ts, strlen(ts), true);
	const rms_value *base = rms_psobject_base(o);
	/* A null base is no base (<Nil> cannot stand inside <Obj>); an object
	 * base is a nested <Obj>, as Windows PowerShell writes one. */
	if (rc == 0 && base && !rms_value_is_null(base))
		rc = write_value(w, base, NULL);
	rms_ps_collection kind = rms_psobject_collection(o);
	if (rc == 0 && kind != RMS_PS_COLLECTION_NONE) {
		static const char *const tags[] = {"", "LST", "IE", "STK", "QUE", "DCT"};
		const char *tag = tags[kind];
		size_t len = rms_psobject_length(o);
		rms__buf_printf(w->out, "<%s>", tag);
		for (size_t i = 0; i < len && rc == 0; i++) {
			const rms_value *k = NULL, *v = NULL;
			rc = rms_psobject_item_at(o, i, &k, &v);
			if (rc)
				break;
			if (kind == RMS_PS_COLLECTION_DICTIONARY) {
				rms__buf_puts(w->out, "<En>");
				rc = write_value(w, k, "Key");
				if (rc == 0)
					rc = write_value(w, v, "Value");
				rms__buf_puts(w->out, "</En>");
			} else {
				rc = write_value(w, v, NULL);
			}
		}
		rms__buf_printf(w->out, "</%s>", tag);
	}
	size_t np = rms_psobject_count(o);
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		bool open = false;
		for (size_t i = 0; i < np && rc == 0; i++) {
			const char *pn;
			const rms_value *pv;
			unsigned flags;
			rc = rms_psobject_at(o, i, &pn, &pv, &flags);
			bool adapted = (flags & RMS_PS_PROP_ADAPTED) && !(flags & RMS_PS_PROP_EXTENDED);
			if (rc || adapted != (pass == 0))
				continue;
			if (!open)
				rms__buf_puts(w->out, pass == 0 ? "<Props>" : "<MS>");
			open = true;
			rc = write_value(w, pv, pn);
		}
		if (open)
			rms__buf_puts(w->out, pass == 0 ? "</Props>" : "</MS>");
	}
	if (rc == 0)
		rms__buf_puts(w->out, "</Obj>");
	return rc ? rc : w_ok(w);
}

static const char *dotnet_element_type(const rms_value *arr)
{
	switch (RMS_TYPE_SCALAR(rms_value_type(arr))) {
	case RMS_TYPE_BOOLEAN: return "System.Boolean[]";
	case RMS_TYPE_UINT8: return "System.Byte[]";
	case RMS_TYPE_SINT8: return "System.SByte[]";
	case RMS_TYPE_UINT16: return "System.UInt16[]";
	case RMS_TYPE_SINT16: return "System.Int16[]";
	case RMS_TYPE_UINT32: return "System.UInt32[]";
	case RMS_TYPE_SINT32: return "System.Int32[]";
	case RMS_TYPE_UINT64: return "System.UInt64[]";
	case RMS_TYPE_SINT64: return "System.Int64[]";
	case RMS_TYPE_REAL32: return "System.Single[]";
	case RMS_TYPE_REAL64: return "System.Double[]";
	case RMS_TYPE_CHAR16: return "System.Char[]";
	case RMS_TYPE_STRING:
	case RMS_TYPE_REFERENCE: return "System.String[]";
	case RMS_TYPE_INSTANCE: return "Microsoft.Management.Infrastructure.CimInstance[]";
	case RMS_TYPE_DATETIME: {
		size_t n = rms_value_array_length(arr), intervals = 0;
		for (size_t i = 0; i < n; i++) {
			rms_datetime dt;
			if (rms_value_get_datetime(rms_value_array_at(arr, i), &dt) == 0 && dt.is_interval)
				intervals++;
		}
		return intervals == 0   ? "System.DateTime[]"
		       : intervals == n ? "System.TimeSpan[]"
		                        : "System.Object[]";
	}
	default: return "System.Object[]";
	}
}

static int write_cim_array(rms_clixml_writer *w, const rms_value *v, const char *name)
{
	size_t n = rms_value_array_length(v);
	if (RMS_TYPE_SCALAR(rms_value_type(v)) == RMS_TYPE_UINT8) {
		/* A CIM uint8[] is a .NET byte[]: PowerShell writes it as <BA>. */
		unsigned char *bytes = n ? malloc(n) : NULL;
		if (n && !bytes)
			return rms__error_nomem();
		for (size_t i = 0; i < n; i++)
			rms_value_get_uint8(rms_value_array_at(v, i), &bytes[i]);
		rms_buf b64;
		rms__buf_init(&b64);
		int rc = rms__base64_append(&b64, bytes, n);
		free(bytes);
		if (rc == 0)
			rc = simple(w, "BA", name, b64.data ? b64.data : "", b64.len, false);
		rms__buf_free(&b64);
		return rc;
	}
	int rc = obj_open(w, name);
	const char *names[] = {dotnet_element_type(v), "System.Array", "System.Object"};
	if (rc == 0)
		rc = write_type_names(w, names, 3);
	rms__buf_puts(w->out, "<LST>");
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = write_value(w, rms_value_array_at(v, i), NULL);
	rms__buf_puts(w->out, "</LST></Obj>");
	return rc ? rc : w_ok(w);
}

/* A CIM instance as PowerShell sends a CimInstance: adapted properties
 * under the type names CimInstance#namespace/Class. */
static int write_instance(rms_clixml_writer *w, const rms_instance *inst, const char *name)
{
	const char *ns = rms_instance_namespace(inst);
	const char *cls = rms_instance_class_name(inst);
	rms_buf first;
	rms__buf_init(&first);
	rms__buf_puts(&first, "Microsoft.Management.Infrastructure.CimInstance#");
	if (ns && *ns) {
		for (const char *p = ns; *p; p++)
			rms__buf_append(&first, *p == '\\' ? "/" : p, 1);
		rms__buf_puts(&first, "/");
	}
	rms__buf_puts(&first, cls ? cls : "");
	if (rms__buf_append(&first, "", 0)) {
		rms__buf_free(&first);
		return rms__error_nomem();
	}
	int rc = obj_open(w, name);
	const char *names[] = {first.data, "Microsoft.Management.Infrastructure.CimInstance",
	                       "System.Object"};
	if (rc == 0)
		rc = write_type_names(w, names, 3);
	rms__buf_free(&first);
	size_t np = rms_instance_count(inst);
	if (rc == 0 && np)
		rms__buf_puts(w->out, "<Props>");
	for (size_t i = 0; i < np && rc == 0; i++) {
		const char *pn;
		const rms_value *pv;
		rc = rms_instance_at(inst, i, &pn, &pv, NULL);
		if (rc == 0)
			rc = write_value(w, pv, pn);
	}
	if (rc == 0 && np)
		rms__buf_puts(w->out, "</Props>");
	if (rc == 0)
		rms__buf_puts(w->out, "</Obj>");
	return rc ? rc : w_ok(w);
}

static int write_value(rms_clixml_writer *w, const rms_value *v, const char *name)
{
	if (!v)
		return rms__error_field(RMS_E_INVALID_ARG, "v", "CLIXML writer: value is NULL");
	rms_type t = rms_value_type(v);
	if (rms_value_is_null(v)) {
		int rc = open_tag(w, "Nil", name);
		rms__buf_puts(w->out, " />");
		return rc ? rc : w_ok(w);
	}
	if (RMS_TYPE_IS_ARRAY(t))
		return write_cim_array(w, v, name);
	char num[RMS_REAL_TEXT_MAX + 8];
	uint64_t u;
	int64_t i;
	switch (t) {
	case RMS_TYPE_BOOLEAN: {
		bool b = false;
		rms_value_get_boolean(v, &b);
		return simple(w, "B", name, b ? "true" : "false", b ? 4 : 5, false);
	}
	case RMS_TYPE_UINT8:
	case RMS_TYPE_UINT16:
	case RMS_TYPE_UINT32:
	case RMS_TYPE_UINT64: {
		rms_value_as_uint64(v, &u);
		snprintf(num, sizeof num, "%" PRIu64, u);
		const char *tag = t == RMS_TYPE_UINT8    ? "By"
		                  : t == RMS_TYPE_UINT16 ? "U16"
		                  : t == RMS_TYPE_UINT32 ? "U32"
		                                         : "U64";
		return simple(w, tag, name, num, strlen(num), false);
	}
	case RMS_TYPE_SINT8:
	case RMS_TYPE_SINT16:
	case RMS_TYPE_SINT32:
	case RMS_TYPE_SINT64: {
		rms_value_as_int64(v, &i);
		snprintf(num, sizeof num, "%" PRId64, i);
		const char *tag = t == RMS_TYPE_SINT8    ? "SB"
		                  : t == RMS_TYPE_SINT16 ? "I16"
		                  : t == RMS_TYPE_SINT32 ? "I32"
		                                         : "I64";
		return simple(w, tag, name, num, strlen(num), false);
	}
	case RMS_TYPE_REAL32: {
		float f = 0;
		rms_value_get_real32(v, &f);
		rms__real_format(num, f, true);
		return simple(w, "Sg", name, num, strlen(num), false);
	}
	case RMS_TYPE_REAL64: {
		double r = 0;
		rms_value_get_real64(v, &r);
		rms__real_format(num, r, false);
		return simple(w, "Db", name, num, strlen(num), false);
	}
	case RMS_TYPE_CHAR16: {
		uint16_t c = 0;
		rms_value_get_char16(v, &c);
		snprintf(num, sizeof num, "%u", (unsigned)c);
		return simple(w, "C", name, num, strlen(num), false);
	}
	case RMS_TYPE_DATETIME: {
		rms_datetime dt;
		rms_value_get_datetime(v, &dt);
		return write_datetime(w, &dt, name);
	}
	case RMS_TYPE_TIMESPAN: {
		rms_value_get_timespan(v, &i);
		int rc = open_tag(w, "TS", name);
		if (rc)
			return rc;
		rms__buf_puts(w->out, ">");
		put_duration(w->out, i);
		rms__buf_puts(w->out, "</TS>");
		return w_ok(w);
	}
	case RMS_TYPE_STRING:
	case RMS_TYPE_DECIMAL:
	case RMS_TYPE_GUID:
	case RMS_TYPE_VERSION:
	case RMS_TYPE_URI:
	case RMS_TYPE_XML:
	case RMS_TYPE_SCRIPTBLOCK: {
		const char *s = NULL;
		rms_value_get_text(v, &s);
		const char *tag = t == RMS_TYPE_STRING    ? "S"
		                  : t == RMS_TYPE_DECIMAL ? "D"
		                  : t == RMS_TYPE_GUID    ? "G"
		                  : t == RMS_TYPE_VERSION ? "Version"
		                  : t == RMS_TYPE_URI     ? "URI"
		                  : t == RMS_TYPE_XML     ? "XD"
		                                          : "SBK";
		return simple(w, tag, name, s ? s : "", s ? strlen(s) : 0, true);
	}
	case RMS_TYPE_BYTES: {
		const void *data = NULL;
		size_t len = 0;
		rms_value_get_bytes(v, &data, &len);
		rms_buf b64;
		rms__buf_init(&b64);
		int rc = rms__base64_append(&b64, data, len);
		if (rc == 0)
			rc = simple(w, "BA", name, b64.data ? b64.data : "", b64.len, false);
		rms__buf_free(&b64);
		return rc;
	}
	case RMS_TYPE_REFERENCE: {
		const rms_ref *ref = NULL;
		rms_value_get_reference(v, &ref);
		rms_buf text;
		rms__buf_init(&text);
		int rc = rms__ref_text_append(&text, ref);
		if (rc == 0)
			rc = simple(w, "S", name, text.data ? text.data : "", text.len, true);
		rms__buf_free(&text);
		return rc;
	}
	case RMS_TYPE_INSTANCE: {
		const rms_instance *inst = NULL;
		rms_value_get_instance(v, &inst);
		return write_instance(w, inst, name);
	}
	case RMS_TYPE_OBJECT: {
		const rms_psobject *o = NULL;
		rms_value_get_object(v, &o);
		return write_psobject(w, o, name);
	}
	default:
		return rms__error_set(RMS_E_INTERNAL, RMS_PHASE_SEND,
		                      "CLIXML writer: value of unknown type %d", (int)t);
	}
}

int rms__clixml_write(rms_clixml_writer *w, const rms_value *v, const char *name)
{
	if (!w || !w->out)
		return rms__error_field(RMS_E_INVALID_ARG, "w", "CLIXML writer: no writer or buffer");
	if (name && !rms__utf8_valid(name, strlen(name)))
		return rms__error_field(RMS_E_INVALID_ARG, "name",
		                        "CLIXML writer: the name is not valid UTF-8");
	return write_value(w, v, name);
}

int rms__clixml_encode(rms_buf *out, const rms_value *v)
{
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "rms__clixml_encode: out is NULL");
	rms_clixml_writer w;
	rms__clixml_writer_init(&w, out);
	int rc = rms__clixml_write(&w, v, NULL);
	rms__clixml_writer_free(&w);
	return rc;
}
