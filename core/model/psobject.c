/*
 * PowerShell objects (rms_psobject): type names, ToString, a wrapped value, a
 * collection (a list or a dictionary's entries) and named properties.
 *
 * A deserialized hashtable may hold 100,000 entries and an object a few
 * hundred properties, so key and name lookups go through a hash index once
 * there are more than a handful; small objects (the common case) only scan.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "value_internal.h"

/* Below this many entries a scan (comparing hashes first) is as fast as the
 * index and needs no memory. */
#define INDEX_FROM 8

/* ---- hashing ----------------------------------------------------------------- */

static uint32_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (uint32_t)x ^ (uint32_t)(x >> 32);
}

static uint32_t combine(uint32_t h, uint32_t x)
{
	return mix64(((uint64_t)h << 32) | x);
}

static uint32_t bytes_hash(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

uint32_t rms__name_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		h = (h ^ c) * 16777619u;
	}
	return h;
}

static uint32_t real_hash(double d)
{
	if (isnan(d))
		return 0x7ff8u;
	if (d == 0)
		d = 0; /* -0 equals +0 */
	uint64_t bits;
	memcpy(&bits, &d, sizeof bits);
	return mix64(bits);
}

/* Only what rms_datetime_equal compares the same way in every case: instants
 * with different UTC offsets differ in their fields but not in seconds and
 * nanoseconds. */
static uint32_t datetime_hash(const rms_datetime *dt)
{
	uint32_t h = combine(dt->is_interval, dt->wildcards);
	if (dt->wildcards)
		return h;
	h = combine(h, dt->nanoseconds);
	if (dt->is_interval)
		return combine(h, mix64((uint64_t)dt->days * 86400u + (uint64_t)dt->hour * 3600u +
		                        (uint64_t)dt->minute * 60u + (uint64_t)dt->second));
	return combine(h, (uint32_t)dt->second);
}

static uint32_t psobject_hash(const rms_psobject *o);

uint32_t rms__value_hash(const rms_value *v)
{
	if (!v)
		return 0;
	uint32_t h = combine((uint32_t)v->type, v->is_null);
	if (v->is_null)
		return h;
	if (RMS_TYPE_IS_ARRAY(v->type)) {
		for (size_t i = 0; i < v->u.arr.len; i++)
			h = combine(h, rms__value_hash(v->u.arr.items[i]));
		return h;
	}
	if (RMS_TYPE_IS_TEXT(v->type))
		return combine(h, bytes_hash(v->u.s, strlen(v->u.s)));
	switch (v->type) {
	case RMS_TYPE_BOOLEAN: return combine(h, v->u.b);
	case RMS_TYPE_UINT8:
	case RMS_TYPE_UINT16:
	case RMS_TYPE_UINT32:
	case RMS_TYPE_UINT64: return combine(h, mix64(v->u.u));
	case RMS_TYPE_SINT8:
	case RMS_TYPE_SINT16:
	case RMS_TYPE_SINT32:
	case RMS_TYPE_SINT64:
	case RMS_TYPE_TIMESPAN: return combine(h, mix64((uint64_t)v->u.i));
	case RMS_TYPE_REAL32: return combine(h, real_hash(v->u.f32));
	case RMS_TYPE_REAL64: return combine(h, real_hash(v->u.f64));
	case RMS_TYPE_CHAR16: return combine(h, v->u.c16);
	case RMS_TYPE_DATETIME: return combine(h, datetime_hash(&v->u.dt));
	/* Namespaces may be unknown on one side, selectors come in any order:
	 * the class name is what is certain to agree. */
	case RMS_TYPE_REFERENCE: return combine(h, rms__name_hash(v->u.ref->class_name));
	case RMS_TYPE_INSTANCE:
		return combine(combine(h, rms__name_hash(v->u.inst->class_name)),
		               (uint32_t)v->u.inst->count);
	case RMS_TYPE_BYTES: return combine(h, bytes_hash(v->u.bytes.data, v->u.bytes.len));
	case RMS_TYPE_OBJECT: return combine(h, psobject_hash(v->u.obj));
	default: return h;
	}
}

/* Parts compared as sets are summed, so their order does not matter. */
static uint32_t psobject_hash(const rms_psobject *o)
{
	uint32_t h = combine((uint32_t)o->kind, (uint32_t)o->ntype_names);
	for (size_t i = 0; i < o->ntype_names; i++)
		h = combine(h, bytes_hash(o->type_names[i], strlen(o->type_names[i])));
	if (o->to_string)
		h = combine(h, bytes_hash(o->to_string, strlen(o->to_string)));
	h = combine(h, o->base ? rms__value_hash(o->base) : 1u);
	if (o->kind == RMS_PS_COLLECTION_DICTIONARY) {
		uint32_t sum = 0;
		for (size_t i = 0; i < o->nitems; i++)
			sum += combine(o->items[i].hash, rms__value_hash(o->items[i].value));
		h = combine(h, sum);
	} else {
		for (size_t i = 0; i < o->nitems; i++)
			h = combine(h, rms__value_hash(o->items[i].value));
	}
	uint32_t sum = 0;
	for (size_t i = 0; i < o->nprops; i++)
		sum += combine(o->props[i].hash, rms__value_hash(o->props[i].value));
	return combine(combine(h, (uint32_t)o->nprops), sum);
}

/* ---- the index ----------------------------------------------------------------- */

static uint32_t item_hash(const rms_psobject *o, size_t pos)
{
	return o->items[pos].hash;
}

static uint32_t prop_hash(const rms_psobject *o, size_t pos)
{
	return o->props[pos].hash;
}

/* Make room for n positions (at most half full), rebuilding from the
 * array's hashes when the table grows. */
static int index_reserve(struct rms_ps_index *ix, const rms_psobject *o, size_t n,
                         uint32_t (*hash_at)(const rms_psobject *, size_t))
{
	if (n <= ix->cap / 2)
		return 0;
	size_t cap = ix->cap ? ix->cap : 16;
	while (n > cap / 2) {
		if (cap > SIZE_MAX / 2 / sizeof(size_t))
			return rms__error_nomem();
		cap *= 2;
	}
	size_t *slots = calloc(cap, sizeof *slots);
	if (!slots)
		return rms__error_nomem();
	free(ix->slots);
	ix->slots = slots;
	ix->cap = cap;
	/* n counts the position about to be added; the ones before it are rehashed. */
	for (size_t pos = 0; pos + 1 < n; pos++) {
		size_t s = hash_at(o, pos) & (cap - 1);
		while (slots[s])
			s = (s + 1) & (cap - 1);
		slots[s] = pos + 1;
	}
	return 0;
}

static void index_put(struct rms_ps_index *ix, uint32_t hash, size_t pos)
{
	size_t s = hash & (ix->cap - 1);
	while (ix->slots[s])
		s = (s + 1) & (ix->cap - 1);
	ix->slots[s] = pos + 1;
}

static void index_free(struct rms_ps_index *ix)
{
	free(ix->slots);
	ix->slots = NULL;
	ix->cap = 0;
}

/* Position of the dictionary entry with this key, or SIZE_MAX. */
static size_t find_key(const rms_psobject *o, const rms_value *key, uint32_t h)
{
	if (o->keys.cap) {
		const struct rms_ps_index *ix = &o->keys;
		for (size_t s = h & (ix->cap - 1); ix->slots[s]; s = (s + 1) & (ix->cap - 1)) {
			size_t pos = ix->slots[s] - 1;
			if (o->items[pos].hash == h && rms_value_equal(o->items[pos].key, key))
				return pos;
		}
		return SIZE_MAX;
	}
	for (size_t i = 0; i < o->nitems; i++)
		if (o->items[i].hash == h && rms_value_equal(o->items[i].key, key))
			return i;
	return SIZE_MAX;
}

static size_t find_prop(const rms_psobject *o, const char *name)
{
	uint32_t h = rms__name_hash(name);
	if (o->props_index.cap) {
		const struct rms_ps_index *ix = &o->props_index;
		for (size_t s = h & (ix->cap - 1); ix->slots[s]; s = (s + 1) & (ix->cap - 1)) {
			size_t pos = ix->slots[s] - 1;
			if (o->props[pos].hash == h && rms__streq_nocase(o->props[pos].name, name))
				return pos;
		}
		return SIZE_MAX;
	}
	for (size_t i = 0; i < o->nprops; i++)
		if (o->props[i].hash == h && rms__streq_nocase(o->props[i].name, name))
			return i;
	return SIZE_MAX;
}

/* Append without looking for an existing key; the index follows. */
static int items_push(rms_psobject *o, rms_value *key, rms_value *value, uint32_t hash)
{
	size_t n = o->nitems + 1;
	int rc = rms__array_grow((void **)&o->items, &o->items_cap, n, sizeof *o->items);
	if (rc == 0 && key && n > INDEX_FROM)
		rc = index_reserve(&o->keys, o, n, item_hash);
	if (rc)
		return rc;
	o->items[o->nitems] = (struct rms_ps_item){ key, value, hash };
	if (o->keys.cap)
		index_put(&o->keys, hash, o->nitems);
	o->nitems = n;
	return 0;
}

/* Append a property known to be new, taking name on success. */
static int props_push(rms_psobject *o, char *name, rms_value *value, unsigned flags)
{
	size_t n = o->nprops + 1;
	int rc = rms__array_grow((void **)&o->props, &o->props_cap, n, sizeof *o->props);
	if (rc == 0 && n > INDEX_FROM)
		rc = index_reserve(&o->props_index, o, n, prop_hash);
	if (rc)
		return rc;
	uint32_t h = rms__name_hash(name);
	o->props[o->nprops] = (struct rms_property){ name, value, flags, h };
	if (o->props_index.cap)
		index_put(&o->props_index, h, o->nprops);
	o->nprops = n;
	return 0;
}

/* ---- lifetime ------------------------------------------------------------------- */

int rms_psobject_new(rms_psobject **out)
{
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "rms_psobject_new: out is NULL");
	*out = calloc(1, sizeof **out);
	return *out ? 0 : rms__error_nomem();
}

void rms_psobject_free(rms_psobject *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->ntype_names; i++)
		free(o->type_names[i]);
	free(o->type_names);
	free(o->to_string);
	rms_value_free(o->base);
	for (size_t i = 0; i < o->nitems; i++) {
		rms_value_free(o->items[i].key);
		rms_value_free(o->items[i].value);
	}
	free(o->items);
	index_free(&o->keys);
	for (size_t i = 0; i < o->nprops; i++) {
		free(o->props[i].name);
		rms_value_free(o->props[i].value);
	}
	free(o->props);
	index_free(&o->props_index);
	free(o);
}

static int dup_or_null(rms_value **out, const rms_value *v)
{
	*out = NULL;
	return v ? rms_value_dup(out, v) : 0;
}

/* The copy's keys and names are unique already: they are pushed without
 * looking them up. */
int rms_psobject_dup(rms_psobject **out, const rms_psobject *o)
{
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "rms_psobject_dup: out is NULL");
	*out = NULL;
	if (!o)
		return rms__error_field(RMS_E_INVALID_ARG, "obj", "rms_psobject_dup: obj is NULL");
	rms_psobject *d;
	int rc = rms_psobject_new(&d);
	if (rc)
		return rc;
	for (size_t i = 0; i < o->ntype_names && rc == 0; i++)
		rc = rms_psobject_add_type_name(d, o->type_names[i]);
	if (rc == 0 && o->to_string && !(d->to_string = strdup(o->to_string)))
		rc = rms__error_nomem();
	if (rc == 0)
		rc = dup_or_null(&d->base, o->base);
	d->kind = o->kind;
	for (size_t i = 0; i < o->nitems && rc == 0; i++) {
		rms_value *k = NULL, *v = NULL;
		rc = dup_or_null(&k, o->items[i].key);
		if (rc == 0)
			rc = rms_value_dup(&v, o->items[i].value);
		if (rc == 0)
			rc = items_push(d, k, v, o->items[i].hash);
		if (rc) {
			rms_value_free(k);
			rms_value_free(v);
		}
	}
	for (size_t i = 0; i < o->nprops && rc == 0; i++) {
		rms_value *v = NULL;
		char *name = strdup(o->props[i].name);
		rc = name ? rms_value_dup(&v, o->props[i].value) : rms__error_nomem();
		if (rc == 0)
			rc = props_push(d, name, v, o->props[i].flags);
		if (rc) {
			free(name);
			rms_value_free(v);
		}
	}
	if (rc) {
		rms_psobject_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

/* ---- type names, ToString, base ----------------------------------------------- */

#define CHECK_OBJ(o)                                                                               \
	do {                                                                                       \
		if (!(o))                                                                          \
			return rms__error_field(RMS_E_INVALID_ARG, "obj", "%s: obj is NULL",       \
			                        __func__);                                         \
	} while (0)

int rms__psobject_add_type_name_take(rms_psobject *o, char *name_owned)
{
	int rc = rms__array_grow((void **)&o->type_names, &o->type_names_cap,
	                         o->ntype_names + 1, sizeof *o->type_names);
	if (rc) {
		free(name_owned);
		return rc;
	}
	o->type_names[o->ntype_names++] = name_owned;
	return 0;
}

int rms_psobject_add_type_name(rms_psobject *o, const char *name)
{
	CHECK_OBJ(o);
	int rc = rms__check_text("type name", name, false);
	if (rc)
		return rc;
	char *copy = strdup(name);
	if (!copy)
		return rms__error_nomem();
	return rms__psobject_add_type_name_take(o, copy);
}

size_t rms_psobject_type_name_count(const rms_psobject *o)
{
	return o ? o->ntype_names : 0;
}

const char *rms_psobject_type_name_at(const rms_psobject *o, size_t i)
{
	return o && i < o->ntype_names ? o->type_names[i] : NULL;
}

int rms__psobject_set_to_string_take(rms_psobject *o, char *text_owned)
{
	free(o->to_string);
	o->to_string = text_owned;
	return 0;
}

/* NULL removes it. Any valid UTF-8, "" and line breaks included: that is what
 * ToString() may return. */
int rms_psobject_set_to_string(rms_psobject *o, const char *text)
{
	CHECK_OBJ(o);
	if (text && !rms__utf8_valid(text, strlen(text)))
		return rms__error_field(RMS_E_INVALID_ARG, "text",
		                        "ToString text is not valid UTF-8");
	char *copy = NULL;
	if (text && !(copy = strdup(text)))
		return rms__error_nomem();
	return rms__psobject_set_to_string_take(o, copy);
}

const char *rms_psobject_to_string(const rms_psobject *o)
{
	return o ? o->to_string : NULL;
}

int rms_psobject_set_base(rms_psobject *o, rms_value *value)
{
	CHECK_OBJ(o);
	if (o->base != value)
		rms_value_free(o->base);
	o->base = value;
	return 0;
}

const rms_value *rms_psobject_base(const rms_psobject *o)
{
	return o ? o->base : NULL;
}

/* ---- the collection -------------------------------------------------------------- */

static const char *kind_name(rms_ps_collection k)
{
	switch (k) {
	case RMS_PS_COLLECTION_NONE: return "none";
	case RMS_PS_COLLECTION_LIST: return "list";
	case RMS_PS_COLLECTION_ENUMERABLE: return "enumerable";
	case RMS_PS_COLLECTION_STACK: return "stack";
	case RMS_PS_COLLECTION_QUEUE: return "queue";
	case RMS_PS_COLLECTION_DICTIONARY: return "dictionary";
	}
	return "unknown";
}

int rms_psobject_set_collection(rms_psobject *o, rms_ps_collection kind)
{
	CHECK_OBJ(o);
	if ((unsigned)kind > RMS_PS_COLLECTION_DICTIONARY)
		return rms__error_field(RMS_E_INVALID_ARG, "kind",
		                        "%d is not a collection kind (RMS_PS_COLLECTION_*)",
		                        (int)kind);
	if (o->nitems)
		return rms__error_set(RMS_E_STATE, RMS_PHASE_NONE,
		                      "cannot make the object's collection a %s: it already holds "
		                      "%zu items of a %s",
		                      kind_name(kind), o->nitems, kind_name(o->kind));
	o->kind = kind;
	return 0;
}

rms_ps_collection rms_psobject_collection(const rms_psobject *o)
{
	return o ? o->kind : RMS_PS_COLLECTION_NONE;
}

int rms_psobject_append(rms_psobject *o, rms_value *item)
{
	CHECK_OBJ(o);
	if (!item)
		return rms__error_field(RMS_E_INVALID_ARG, "item",
		                        "rms_psobject_append: item is NULL (a $null item is "
		                        "rms_value_new_null(RMS_TYPE_OBJECT))");
	if (o->kind == RMS_PS_COLLECTION_NONE || o->kind == RMS_PS_COLLECTION_DICTIONARY)
		return rms__error_set(RMS_E_TYPE, RMS_PHASE_NONE,
		                      "cannot append an item to an object whose collection is %s%s",
		                      kind_name(o->kind),
		                      o->kind == RMS_PS_COLLECTION_DICTIONARY
		                              ? " (use rms_psobject_append_entry)"
		                              : " (set a list kind first)");
	return items_push(o, NULL, item, 0);
}

/* The key's text for an error message, clipped to 64 bytes. */
static void key_text(char out[80], const rms_value *key)
{
	char *t = NULL;
	if (rms_value_to_text(&t, key) != 0 || !t) {
		strcpy(out, "?");
		return;
	}
	size_t n = strlen(t), keep = rms__utf8_prefix(t, n, 64);
	memcpy(out, t, keep);
	strcpy(out + keep, keep < n ? "..." : "");
	free(t);
}

int rms_psobject_append_entry(rms_psobject *o, rms_value *key, rms_value *value)
{
	CHECK_OBJ(o);
	if (!key || !value)
		return rms__error_field(RMS_E_INVALID_ARG, key ? "value" : "key",
		                        "rms_psobject_append_entry: %s is NULL",
		                        key ? "value" : "key");
	if (o->kind != RMS_PS_COLLECTION_DICTIONARY)
		return rms__error_set(RMS_E_TYPE, RMS_PHASE_NONE,
		                      "cannot append a key/value entry to an object whose "
		                      "collection is %s (not a dictionary)",
		                      kind_name(o->kind));
	if (key->is_null)
		return rms__error_field(RMS_E_INVALID_ARG, "key",
		                        "a dictionary key is a null %s; keys cannot be null",
		                        rms_type_name(key->type));
	uint32_t h = rms__value_hash(key);
	if (find_key(o, key, h) != SIZE_MAX) {
		char kt[80];
		key_text(kt, key);
		return rms__error_field(RMS_E_INVALID_ARG, "key",
		                        "duplicate dictionary key %s \"%s\": keys are unique",
		                        rms_type_name(key->type), kt);
	}
	return items_push(o, key, value, h);
}

size_t rms_psobject_length(const rms_psobject *o)
{
	return o ? o->nitems : 0;
}

int rms_psobject_item_at(const rms_psobject *o, size_t i, const rms_value **key,
                         const rms_value **value)
{
	CHECK_OBJ(o);
	if (i >= o->nitems)
		return rms__error_set(RMS_E_NOT_FOUND, RMS_PHASE_NONE,
		                      "item index %zu is past the end (the object has %zu)", i,
		                      o->nitems);
	if (key)
		*key = o->items[i].key;
	if (value)
		*value = o->items[i].value;
	return 0;
}

/* ---- properties ------------------------------------------------------------------ */

int rms__psobject_set_take(rms_psobject *o, char *name_owned, rms_value *v, unsigned flags)
{
	size_t pos = find_prop(o, name_owned);
	if (pos != SIZE_MAX) {
		/* Replacing keeps the position and the first spelling of the name. */
		struct rms_property *p = &o->props[pos];
		if (p->value != v)
			rms_value_free(p->value);
		p->value = v;
		p->flags = flags;
		free(name_owned);
		return 0;
	}
	int rc = props_push(o, name_owned, v, flags);
	if (rc)
		free(name_owned);
	return rc;
}

int rms_psobject_set(rms_psobject *o, const char *name, rms_value *value, unsigned flags)
{
	CHECK_OBJ(o);
	int rc = rms__check_text("property name", name, false);
	if (rc)
		return rc;
	if (!value)
		return rms__error_field(RMS_E_INVALID_ARG, "value",
		                        "property %s: value is NULL (use rms_value_new_null for a "
		                        "null value)",
		                        name);
	char *copy = strdup(name);
	if (!copy)
		return rms__error_nomem();
	return rms__psobject_set_take(o, copy, value, flags);
}

size_t rms_psobject_count(const rms_psobject *o)
{
	return o ? o->nprops : 0;
}

int rms_psobject_at(const rms_psobject *o, size_t i, const char **name, const rms_value **value,
                    unsigned *flags)
{
	CHECK_OBJ(o);
	if (i >= o->nprops)
		return rms__error_set(RMS_E_NOT_FOUND, RMS_PHASE_NONE,
		                      "property index %zu is past the end (the object has %zu)", i,
		                      o->nprops);
	if (name)
		*name = o->props[i].name;
	if (value)
		*value = o->props[i].value;
	if (flags)
		*flags = o->props[i].flags;
	return 0;
}

const rms_value *rms_psobject_get(const rms_psobject *o, const char *name)
{
	if (!o || !name)
		return NULL;
	size_t pos = find_prop(o, name);
	return pos == SIZE_MAX ? NULL : o->props[pos].value;
}

/* ---- equality ---------------------------------------------------------------------- */

static bool str_equal(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

bool rms_psobject_equal(const rms_psobject *a, const rms_psobject *b)
{
	if (a == b)
		return true;
	if (!a || !b || a->ntype_names != b->ntype_names || a->kind != b->kind ||
	    a->nitems != b->nitems || a->nprops != b->nprops ||
	    !str_equal(a->to_string, b->to_string))
		return false;
	for (size_t i = 0; i < a->ntype_names; i++)
		if (strcmp(a->type_names[i], b->type_names[i]) != 0)
			return false;
	if ((a->base || b->base) && !rms_value_equal(a->base, b->base))
		return false;
	/* Keys and names are unique on each side and the counts match, so finding
	 * every one of a in b means the same set. */
	if (a->kind == RMS_PS_COLLECTION_DICTIONARY) {
		for (size_t i = 0; i < a->nitems; i++) {
			size_t pos = find_key(b, a->items[i].key, a->items[i].hash);
			if (pos == SIZE_MAX ||
			    !rms_value_equal(a->items[i].value, b->items[pos].value))
				return false;
		}
	} else {
		for (size_t i = 0; i < a->nitems; i++)
			if (!rms_value_equal(a->items[i].value, b->items[i].value))
				return false;
	}
	for (size_t i = 0; i < a->nprops; i++) {
		size_t pos = find_prop(b, a->props[i].name);
		if (pos == SIZE_MAX || !rms_value_equal(a->props[i].value, b->props[pos].value))
			return false;
	}
	return true;
}

/* ---- one-line text ------------------------------------------------------------------ */

/*
 * As PowerShell shows an object in one line: its ToString when the remote
 * side computed one; else a list "{a, b}" (items quoted as in an array), a
 * dictionary "@{k=v; k2=v2}", properties "@{Name=value; Other=value}" (a
 * PSCustomObject's look: keys and values unquoted, as PowerShell prints
 * them); else the wrapped value; else nothing.
 */
int rms__psobject_text_append(rms_buf *b, const rms_psobject *o)
{
	int rc = 0;
	if (o->to_string)
		return rms__buf_puts(b, o->to_string) ? rms__error_nomem() : 0;
	if (o->kind == RMS_PS_COLLECTION_DICTIONARY) {
		rms__buf_puts(b, "@{");
		for (size_t i = 0; i < o->nitems && rc == 0; i++) {
			if (i)
				rms__buf_puts(b, "; ");
			rc = rms__value_text_append(b, o->items[i].key, false);
			rms__buf_puts(b, "=");
			if (rc == 0)
				rc = rms__value_text_append(b, o->items[i].value, false);
		}
		if (rc)
			return rc;
		return rms__buf_puts(b, "}") ? rms__error_nomem() : 0;
	}
	if (o->kind != RMS_PS_COLLECTION_NONE) {
		rms__buf_puts(b, "{");
		for (size_t i = 0; i < o->nitems && rc == 0; i++) {
			if (i)
				rms__buf_puts(b, ", ");
			rc = rms__value_text_append(b, o->items[i].value, true);
		}
		if (rc)
			return rc;
		return rms__buf_puts(b, "}") ? rms__error_nomem() : 0;
	}
	if (o->nprops) {
		rms__buf_puts(b, "@{");
		for (size_t i = 0; i < o->nprops && rc == 0; i++) {
			if (i)
				rms__buf_puts(b, "; ");
			rms__buf_puts(b, o->props[i].name);
			rms__buf_puts(b, "=");
			rc = rms__value_text_append(b, o->props[i].value, false);
		}
		if (rc)
			return rc;
		return rms__buf_puts(b, "}") ? rms__error_nomem() : 0;
	}
	if (o->base)
		return rms__value_text_append(b, o->base, false);
	return b->failed ? rms__error_nomem() : 0;
}

/* ---- display ------------------------------------------------------------------------- */

/* Characters, not bytes, so non-ASCII names line up. */
static size_t utf8_width(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* One "label<pad>value" row: label padded to width characters, then sep, then
 * the value's one-line text; lines of a multi-line value after the first are
 * indented under the value column. */
static int display_row(rms_buf *b, rms_buf *val, const char *label, size_t width, const char *sep,
                       const rms_value *v)
{
	rms__buf_puts(b, label);
	rms__buf_printf(b, "%*s%s", (int)(width - utf8_width(label)), "", sep);
	val->len = 0;
	int rc = rms__value_text_append(val, v, false);
	if (rc)
		return rc;
	const char *line = val->data ? val->data : "";
	for (;;) {
		const char *nl = strchr(line, '\n');
		if (!nl) {
			rms__buf_puts(b, line);
			rms__buf_puts(b, "\n");
			break;
		}
		rms__buf_append(b, line, (size_t)(nl + 1 - line));
		rms__buf_printf(b, "%*s", (int)(width + strlen(sep)), "");
		line = nl + 1;
	}
	return b->failed || val->failed ? rms__error_nomem() : 0;
}

/*
 * The collection decides first, as PowerShell's formatter enumerates a
 * collection whatever else the object has: a dictionary becomes a Name/Value
 * table, a list one line per item; then properties become Format-List
 * lines; anything else is its one-line text.
 */
static int display_append(rms_buf *b, const rms_value *v)
{
	const rms_psobject *o = !v->is_null && v->type == RMS_TYPE_OBJECT ? v->u.obj : NULL;
	rms_buf val, key;
	rms__buf_init(&val);
	rms__buf_init(&key);
	int rc = 0;
	if (o && o->kind == RMS_PS_COLLECTION_DICTIONARY && o->nitems) {
		/* Key texts first, to size the Name column. */
		char **keys = calloc(o->nitems, sizeof *keys);
		size_t width = 4;
		rc = keys ? 0 : rms__error_nomem();
		for (size_t i = 0; i < o->nitems && rc == 0; i++) {
			key.len = 0;
			rc = rms__value_text_append(&key, o->items[i].key, false);
			if (rc == 0 && !(keys[i] = rms__buf_take(&key)))
				rc = rms__error_nomem();
			if (rc == 0 && utf8_width(keys[i]) > width)
				width = utf8_width(keys[i]);
		}
		if (rc == 0) {
			rms__buf_printf(b, "%-*s Value\n", (int)width, "Name");
			rms__buf_printf(b, "%-*s -----\n", (int)width, "----");
		}
		for (size_t i = 0; i < o->nitems && rc == 0; i++)
			rc = display_row(b, &val, keys[i], width, " ", o->items[i].value);
		for (size_t i = 0; keys && i < o->nitems; i++)
			free(keys[i]);
		free(keys);
	} else if (o && o->kind != RMS_PS_COLLECTION_NONE &&
	           o->kind != RMS_PS_COLLECTION_DICTIONARY) {
		for (size_t i = 0; i < o->nitems && rc == 0; i++)
			rc = display_row(b, &val, "", 0, "", o->items[i].value);
	} else if (o && o->kind == RMS_PS_COLLECTION_NONE && o->nprops && !o->base) {
		size_t width = 0;
		for (size_t i = 0; i < o->nprops; i++)
			if (utf8_width(o->props[i].name) > width)
				width = utf8_width(o->props[i].name);
		for (size_t i = 0; i < o->nprops && rc == 0; i++)
			rc =
			    display_row(b, &val, o->props[i].name, width, " : ", o->props[i].value);
	} else if (!o || o->kind == RMS_PS_COLLECTION_NONE) {
		/* A wrapped value shows as that value (Get-Date's DateTime with
		 * its DisplayHint note). */
		const rms_value *shown = o && o->base && !o->to_string ? o->base : v;
		val.len = 0;
		rc = rms__value_text_append(&val, shown, false);
		if (rc == 0 && val.len)
			rc = display_row(b, &val, "", 0, "", shown);
	}
	rms__buf_free(&val);
	rms__buf_free(&key);
	if (rc == 0 && b->failed)
		rc = rms__error_nomem();
	return rc;
}

int rms_value_to_display(char **out, const rms_value *v)
{
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out",
		                        "rms_value_to_display: out is NULL");
	*out = NULL;
	if (!v)
		return rms__error_field(RMS_E_INVALID_ARG, "v",
		                        "rms_value_to_display: value is NULL");
	rms_buf b;
	rms__buf_init(&b);
	int rc = display_append(&b, v);
	if (rc == 0)
		rc = rms__buf_append(&b, "", 0) ? rms__error_nomem() : 0;
	if (rc) {
		rms__buf_free(&b);
		return rc;
	}
	*out = rms__buf_take(&b);
	return *out ? 0 : rms__error_nomem();
}
