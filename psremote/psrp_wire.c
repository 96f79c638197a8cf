/*
 * PSRP messages and fragments (MS-PSRP 2.2.1, 2.2.4; facts.md §3.1-3.3).
 *
 * The defragmenter trusts no length: a fragment's BlobLength is checked
 * against the bytes actually fed before anything is allocated, and an
 * object's buffer never grows past max_object, so what it holds is bounded
 * by the data received and by the cap, not by what a peer claims.
 */
#include "psrp_wire.h"

#include <stdio.h>
#include <string.h>

#include "error_internal.h"

const char *rms__psrp_message_name(uint32_t type)
{
	switch (type) {
	case RMS_PSRP_SESSION_CAPABILITY:
		return "SESSION_CAPABILITY";
	case RMS_PSRP_CLOSE_SESSION:
		return "CLOSE_SESSION";
	case RMS_PSRP_INIT_RUNSPACEPOOL:
		return "INIT_RUNSPACEPOOL";
	case RMS_PSRP_PUBLIC_KEY:
		return "PUBLIC_KEY";
	case RMS_PSRP_ENCRYPTED_SESSION_KEY:
		return "ENCRYPTED_SESSION_KEY";
	case RMS_PSRP_PUBLIC_KEY_REQUEST:
		return "PUBLIC_KEY_REQUEST";
	case RMS_PSRP_CONNECT_RUNSPACEPOOL:
		return "CONNECT_RUNSPACEPOOL";
	case RMS_PSRP_SET_MAX_RUNSPACES:
		return "SET_MAX_RUNSPACES";
	case RMS_PSRP_SET_MIN_RUNSPACES:
		return "SET_MIN_RUNSPACES";
	case RMS_PSRP_RUNSPACE_AVAILABILITY:
		return "RUNSPACE_AVAILABILITY";
	case RMS_PSRP_RUNSPACEPOOL_STATE:
		return "RUNSPACEPOOL_STATE";
	case RMS_PSRP_CREATE_PIPELINE:
		return "CREATE_PIPELINE";
	case RMS_PSRP_GET_AVAILABLE_RUNSPACES:
		return "GET_AVAILABLE_RUNSPACES";
	case RMS_PSRP_USER_EVENT:
		return "USER_EVENT";
	case RMS_PSRP_APPLICATION_PRIVATE_DATA:
		return "APPLICATION_PRIVATE_DATA";
	case RMS_PSRP_GET_COMMAND_METADATA:
		return "GET_COMMAND_METADATA";
	case RMS_PSRP_RUNSPACEPOOL_INIT_DATA:
		return "RUNSPACEPOOL_INIT_DATA";
	case RMS_PSRP_RESET_RUNSPACE_STATE:
		return "RESET_RUNSPACE_STATE";
	case RMS_PSRP_RUNSPACEPOOL_HOST_CALL:
		return "RUNSPACEPOOL_HOST_CALL";
	case RMS_PSRP_RUNSPACEPOOL_HOST_RESPONSE:
		return "RUNSPACEPOOL_HOST_RESPONSE";
	case RMS_PSRP_PIPELINE_INPUT:
		return "PIPELINE_INPUT";
	case RMS_PSRP_END_OF_PIPELINE_INPUT:
		return "END_OF_PIPELINE_INPUT";
	case RMS_PSRP_PIPELINE_OUTPUT:
		return "PIPELINE_OUTPUT";
	case RMS_PSRP_ERROR_RECORD:
		return "ERROR_RECORD";
	case RMS_PSRP_PIPELINE_STATE:
		return "PIPELINE_STATE";
	case RMS_PSRP_DEBUG_RECORD:
		return "DEBUG_RECORD";
	case RMS_PSRP_VERBOSE_RECORD:
		return "VERBOSE_RECORD";
	case RMS_PSRP_WARNING_RECORD:
		return "WARNING_RECORD";
	case RMS_PSRP_PROGRESS_RECORD:
		return "PROGRESS_RECORD";
	case RMS_PSRP_INFORMATION_RECORD:
		return "INFORMATION_RECORD";
	case RMS_PSRP_PIPELINE_HOST_CALL:
		return "PIPELINE_HOST_CALL";
	case RMS_PSRP_PIPELINE_HOST_RESPONSE:
		return "PIPELINE_HOST_RESPONSE";
	default:
		return NULL;
	}
}

/* ---- byte order ------------------------------------------------------------ */

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_be(unsigned char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

/* ---- GUIDs ----------------------------------------------------------------- */

/* Text position of each byte of the .NET order: the first three groups are
 * little-endian, so their bytes appear reversed in the text. */
static const unsigned char guid_text_order[16] = {3, 2, 1,  0,  5,  4,  7,  6,
                                                  8, 9, 10, 11, 12, 13, 14, 15};

bool rms__guid_is_zero(const rms_guid *g)
{
	for (int i = 0; i < 16; i++)
		if (g->b[i])
			return false;
	return true;
}

bool rms__guid_equal(const rms_guid *a, const rms_guid *b)
{
	return memcmp(a->b, b->b, 16) == 0;
}

int rms__guid_random(rms_guid *out)
{
	char text[37];
	if (rms__guid(text))
		return rms__error_set(RMS_E_INTERNAL, RMS_PHASE_SEND,
		                      "no random bytes for a GUID (the random generator failed)");
	return rms__guid_parse(out, text, 36, "a new GUID");
}

void rms__guid_format(const rms_guid *g, char out[37])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		unsigned char c = g->b[guid_text_order[i]];
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 15];
	}
	out[o] = '\0';
}


/* text[0..len) for an error message: at most max bytes, anything but
 * printable ASCII as \xNN, "..." when clipped. */
static void quote_clipped(char *out, size_t outsz, const char *text, size_t len, size_t max)
{
	size_t o = 0;
	for (size_t i = 0; i < len && i < max; i++) {
		unsigned char c = (unsigned char)text[i];
		if (o + 8 >= outsz)
			break;
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			out[o++] = (char)c;
		} else {
			snprintf(out + o, outsz - o, "\\x%02x", c);
			o += 4;
		}
	}
	if (len > max && o + 4 < outsz) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

int rms__guid_parse(rms_guid *out, const char *text, size_t len, const char *what)
{
	rms_guid g;
	size_t t = 0;
	bool ok = len == 36;
	for (int i = 0; ok && i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10) {
			if (text[t] != '-') {
				ok = false;
				break;
			}
			t++;
		}
		int hi = rms__hex_value(text[t]), lo = rms__hex_value(text[t + 1]);
		if (hi < 0 || lo < 0) {
			ok = false;
			break;
		}
		g.b[guid_text_order[i]] = (unsigned char)(hi << 4 | lo);
		t += 2;
	}
	if (!ok) {
		char q[200];
		quote_clipped(q, sizeof q, text, len, 40);
		return rms__error_set(RMS_E_PARSE, RMS_PHASE_DECODE,
		                      "%s is not a GUID (36 characters, "
		                      "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx): '%s'",
		                      what ? what : "the text", q);
	}
	*out = g;
	return 0;
}

/* ---- messages -------------------------------------------------------------- */

int rms__psrp_message_pack(rms_buf *out, uint32_t destination, uint32_t type, const rms_guid *rpid,
                           const rms_guid *pid, const void *data, size_t len)
{
	unsigned char h[RMS_PSRP_MESSAGE_HEADER];
	put_le32(h, destination);
	put_le32(h + 4, type);
	memcpy(h + 8, rpid->b, 16);
	if (pid)
		memcpy(h + 24, pid->b, 16);
	else
		memset(h + 24, 0, 16);
	if (rms__buf_append(out, h, sizeof h) || (len && rms__buf_append(out, data, len)))
		return rms__error_nomem();
	return 0;
}

int rms__psrp_message_unpack(rms_psrp_message *out, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	if (len < RMS_PSRP_MESSAGE_HEADER)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "a PSRP message of %zu bytes is shorter than its "
		                      "40-byte header",
		                      len);
	uint32_t dest = get_le32(p), type = get_le32(p + 4);
	if (dest != RMS_PSRP_DEST_CLIENT && dest != RMS_PSRP_DEST_SERVER)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "a PSRP message has destination %u (neither client, 1, "
		                      "nor server, 2)",
		                      (unsigned)dest);
	if (!rms__psrp_message_name(type))
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "a PSRP message has type 0x%08X, which MS-PSRP does not "
		                      "define",
		                      (unsigned)type);
	out->destination = dest;
	out->type = type;
	memcpy(out->rpid.b, p + 8, 16);
	memcpy(out->pid.b, p + 24, 16);
	const char *d = (const char *)p + RMS_PSRP_MESSAGE_HEADER;
	size_t n = len - RMS_PSRP_MESSAGE_HEADER;
	if (n >= 3 && memcmp(d, "\xEF\xBB\xBF", 3) == 0) {
		d += 3;
		n -= 3;
	}
	out->data = d;
	out->len = n;
	return 0;
}

/* ---- fragments: out --------------------------------------------------------- */

void rms__psrp_fragmenter_init(rms_psrp_fragmenter *f, size_t max_fragment)
{
	f->next_object_id = 1;
	f->max_fragment = max_fragment;
}

int rms__psrp_fragment(rms_psrp_fragmenter *f, rms_buf *out, const void *msg, size_t len,
                       size_t *nfragments)
{
	if (nfragments)
		*nfragments = 0;
	if (len == 0)
		return rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_SEND,
		                      "a PSRP message to fragment is empty");
	if (f->max_fragment <= RMS_PSRP_FRAGMENT_HEADER)
		return rms__error_set(RMS_E_INVALID_ARG, RMS_PHASE_SEND,
		                      "a PSRP fragment of at most %zu bytes has no room after "
		                      "its 21-byte header",
		                      f->max_fragment);
	size_t room = f->max_fragment - RMS_PSRP_FRAGMENT_HEADER;
	if (room > UINT32_MAX)
		room = UINT32_MAX;
	const unsigned char *p = msg;
	size_t at = 0, start_len = out->len;
	uint64_t oid = f->next_object_id;
	uint64_t fid = 0;
	while (at < len) {
		size_t n = len - at < room ? len - at : room;
		unsigned char h[RMS_PSRP_FRAGMENT_HEADER];
		put_be(h, oid, 8);
		put_be(h + 8, fid, 8);
		h[16] = (unsigned char)((fid == 0 ? RMS_PSRP_FLAG_START : 0) |
		                        (at + n == len ? RMS_PSRP_FLAG_END : 0));
		put_be(h + 17, n, 4);
		if (rms__buf_append(out, h, sizeof h) || rms__buf_append(out, p + at, n)) {
			if (!out->failed && out->data) {
				out->len = start_len;
				out->data[start_len] = '\0';
			}
			return rms__error_nomem();
		}
		at += n;
		fid++;
	}
	f->next_object_id++;
	if (nfragments)
		*nfragments = (size_t)fid;
	return 0;
}

size_t rms__psrp_fragments_prefix(const void *buf, size_t len, size_t max)
{
	const unsigned char *p = buf;
	size_t at = 0;
	while (len - at >= RMS_PSRP_FRAGMENT_HEADER) {
		size_t blob = get_be32(p + at + 17);
		size_t left = len - at - RMS_PSRP_FRAGMENT_HEADER;
		if (blob > left)
			break;
		size_t whole = RMS_PSRP_FRAGMENT_HEADER + blob;
		if (whole > max - at)
			break;
		at += whole;
	}
	return at;
}

/* ---- fragments: in ---------------------------------------------------------- */

typedef struct partial {
	uint64_t object_id;
	uint64_t next_fragment;
	unsigned char *data;
	size_t len, cap;
} partial;

typedef struct done_msg {
	struct done_msg *next;
	unsigned char *data;
	size_t len, cap;
} done_msg;

struct rms_psrp_defrag {
	uint64_t max_object;
	partial partials[RMS_PSRP_MAX_PARTIAL];
	size_t npartial;
	done_msg *head, *tail;
	size_t held; /* bytes allocated for partial and completed messages */
	bool broken;
};

int rms__psrp_defrag_new(rms_psrp_defrag **out, uint64_t max_object)
{
	*out = NULL;
	rms_psrp_defrag *d = calloc(1, sizeof *d);
	if (!d)
		return rms__error_nomem();
	d->max_object = max_object;
	*out = d;
	return 0;
}

void rms__psrp_defrag_free(rms_psrp_defrag *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->npartial; i++)
		free(d->partials[i].data);
	while (d->head) {
		done_msg *m = d->head;
		d->head = m->next;
		free(m->data);
		free(m);
	}
	free(d);
}

size_t rms__psrp_defrag_held(const rms_psrp_defrag *d)
{
	return d ? d->held : 0;
}

static int defrag_fail(rms_psrp_defrag *d, int rc)
{
	d->broken = true;
	return rc;
}

/* Room for `more` bytes in p, never more than max_object in all: the
 * buffer doubles, clipped to the cap, so a message allocates at most
 * twice its size (one byte for an empty one) and never past the cap. */
static int partial_reserve(rms_psrp_defrag *d, partial *p, size_t more)
{
	size_t need = p->len + more;
	if (need <= p->cap && p->data)
		return 0;
	/* The first fragment's exact size: many small messages completed in
	 * one feed then hold no slack. */
	size_t cap = p->cap ? p->cap : need;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if ((uint64_t)cap > d->max_object)
		cap = (size_t)d->max_object > need ? (size_t)d->max_object : need;
	if (cap == 0)
		cap = 1;
	unsigned char *n = realloc(p->data, cap);
	if (!n)
		return rms__error_nomem();
	d->held = d->held - p->cap + cap;
	p->data = n;
	p->cap = cap;
	return 0;
}

static void partial_remove(rms_psrp_defrag *d, size_t i)
{
	d->partials[i] = d->partials[d->npartial - 1];
	d->npartial--;
}

static int queue_done(rms_psrp_defrag *d, partial *p)
{
	done_msg *m = malloc(sizeof *m);
	if (!m)
		return rms__error_nomem();
	m->next = NULL;
	m->data = p->data;
	m->len = p->len;
	m->cap = p->cap;
	p->data = NULL;
	p->len = p->cap = 0;
	if (d->tail)
		d->tail->next = m;
	else
		d->head = m;
	d->tail = m;
	return 0;
}

static int over_cap(uint64_t oid, uint64_t fid, uint64_t cap, uint64_t size)
{
	rms__error_set(RMS_E_LIMIT, RMS_PHASE_LIMIT,
	               "PSRP object %llu reaches %llu bytes at fragment %llu, which exceeds "
	               "MaximumReceivedObjectSize (%llu bytes)",
	               (unsigned long long)oid, (unsigned long long)size, (unsigned long long)fid,
	               (unsigned long long)cap);
	rms__error_set_limit("MaximumReceivedObjectSize", cap, size);
	return RMS_E_LIMIT;
}

static int feed_one(rms_psrp_defrag *d, const unsigned char *f, const unsigned char *blob,
                    size_t blen)
{
	uint64_t oid = get_be64(f), fid = get_be64(f + 8);
	unsigned flags = f[16];
	unsigned long long o = (unsigned long long)oid, fi = (unsigned long long)fid;
	size_t i;
	for (i = 0; i < d->npartial; i++)
		if (d->partials[i].object_id == oid)
			break;
	partial *p = i < d->npartial ? &d->partials[i] : NULL;

	if (flags & RMS_PSRP_FLAG_START) {
		if (fid != 0)
			return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                      "PSRP object %llu fragment %llu has the start flag, "
			                      "which only fragment 0 may have",
			                      o, fi);
		if (p)
			return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                      "PSRP object %llu is started twice: fragment 0 came "
			                      "again while fragment %llu was expected",
			                      o, (unsigned long long)p->next_fragment);
		if (d->npartial == RMS_PSRP_MAX_PARTIAL)
			return rms__error_set(
			    RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			    "PSRP object %llu fragment 0 would be the %dth object "
			    "in progress at once; at most %d are allowed",
			    o, RMS_PSRP_MAX_PARTIAL + 1, RMS_PSRP_MAX_PARTIAL);
		p = &d->partials[d->npartial++];
		memset(p, 0, sizeof *p);
		p->object_id = oid;
		i = d->npartial - 1;
	} else {
		if (fid == 0)
			return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                      "PSRP object %llu fragment 0 lacks the start flag",
			                      o);
		if (!p)
			return rms__error_set(
			    RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			    "PSRP object %llu fragment %llu%s belongs to an object "
			    "that was never started",
			    o, fi, (flags & RMS_PSRP_FLAG_END) ? " (end)" : "");
		if (fid < p->next_fragment)
			return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                      "PSRP object %llu fragment %llu came twice (fragment "
			                      "%llu was expected)",
			                      o, fi, (unsigned long long)p->next_fragment);
		if (fid > p->next_fragment)
			return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                      "PSRP object %llu fragment %llu came where fragment "
			                      "%llu was expected: fragments are missing",
			                      o, fi, (unsigned long long)p->next_fragment);
	}

	if ((uint64_t)blen > d->max_object || (uint64_t)p->len > d->max_object - blen)
		return over_cap(oid, fid, d->max_object, (uint64_t)p->len + blen);
	if (blen || !p->data) {
		int rc = partial_reserve(d, p, blen);
		if (rc)
			return rc;
	}
	if (blen)
		memcpy(p->data + p->len, blob, blen);
	p->len += blen;
	p->next_fragment = fid + 1;
	if (flags & RMS_PSRP_FLAG_END) {
		int rc = queue_done(d, p);
		if (rc)
			return rc;
		partial_remove(d, i);
	}
	return 0;
}

int rms__psrp_defrag_feed(rms_psrp_defrag *d, const void *data, size_t len)
{
	if (d->broken)
		return rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
		                      "the PSRP fragment stream cannot be read after an earlier "
		                      "error");
	const unsigned char *p = data;
	size_t at = 0;
	while (at < len) {
		size_t left = len - at;
		if (left < RMS_PSRP_FRAGMENT_HEADER) {
			if (left >= 16)
				return defrag_fail(
				    d,
				    rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
				                   "PSRP object %llu fragment %llu is cut short: "
				                   "%zu bytes of its 21-byte header",
				                   (unsigned long long)get_be64(p + at),
				                   (unsigned long long)get_be64(p + at + 8), left));
			return defrag_fail(d,
			                   rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                                  "a PSRP fragment is cut short: %zu bytes "
			                                  "of its 21-byte header at offset %zu",
			                                  left, at));
		}
		size_t blen = get_be32(p + at + 17);
		if (blen > left - RMS_PSRP_FRAGMENT_HEADER)
			return defrag_fail(
			    d, rms__error_set(RMS_E_PROTOCOL, RMS_PHASE_DECODE,
			                      "PSRP object %llu fragment %llu claims a BlobLength "
			                      "of %zu bytes but only %zu follow its header",
			                      (unsigned long long)get_be64(p + at),
			                      (unsigned long long)get_be64(p + at + 8), blen,
			                      left - RMS_PSRP_FRAGMENT_HEADER));
		int rc = feed_one(d, p + at, p + at + RMS_PSRP_FRAGMENT_HEADER, blen);
		if (rc)
			return defrag_fail(d, rc);
		at += RMS_PSRP_FRAGMENT_HEADER + blen;
	}
	return 0;
}

int rms__psrp_defrag_next(rms_psrp_defrag *d, unsigned char **msg, size_t *len)
{
	done_msg *m = d->head;
	if (!m)
		return RMS_ITEROVER;
	d->head = m->next;
	if (!d->head)
		d->tail = NULL;
	d->held -= m->cap;
	*msg = m->data;
	*len = m->len;
	free(m);
	return 0;
}
