/*
 * References (endpoint references): class, namespace, key selectors, and the
 * WS-Man address and resource URI they came with.
 */
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "value_internal.h"

int rms_ref_new(rms_ref **out, const char *cim_namespace, const char *class_name)
{
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "rms_ref_new: out is NULL");
	*out = NULL;
	int rc = rms__check_namespace("cim_namespace", cim_namespace, true);
	if (rc == 0)
		rc = rms__check_cim_name("class_name", class_name, true);
	if (rc)
		return rc;
	rms_ref *r = calloc(1, sizeof *r);
	if (!r)
		return rms__error_nomem();
	if (rms__set_str(&r->cim_namespace, cim_namespace) ||
	    rms__set_str(&r->class_name, class_name)) {
		rms_ref_free(r);
		return rms__error_nomem();
	}
	*out = r;
	return 0;
}

void rms_ref_free(rms_ref *ref)
{
	if (!ref)
		return;
	for (size_t i = 0; i < ref->nsel; i++) {
		free(ref->sel[i].name);
		free(ref->sel[i].value);
		rms_ref_free(ref->sel[i].ref);
	}
	free(ref->sel);
	free(ref->cim_namespace);
	free(ref->class_name);
	free(ref->address);
	free(ref->resource_uri);
	free(ref);
}

static struct rms_selector *find_selector(const rms_ref *ref, const char *name)
{
	for (size_t i = 0; i < ref->nsel; i++)
		if (rms__streq_nocase(ref->sel[i].name, name))
			return &ref->sel[i];
	return NULL;
}

/* Takes ownership of value / nested (exactly one non-NULL) in every case. */
static int put_selector(rms_ref *ref, const char *name, char *value, rms_ref *nested)
{
	struct rms_selector *s = find_selector(ref, name);
	if (s) {
		/* Replacing keeps the position and the first spelling of the name. */
		free(s->value);
		rms_ref_free(s->ref);
		s->value = value;
		s->ref = nested;
		return 0;
	}
	if (ref->nsel == ref->cap) {
		size_t cap = ref->cap ? ref->cap * 2 : 4;
		struct rms_selector *sel = realloc(ref->sel, cap * sizeof *sel);
		if (!sel)
			goto nomem;
		ref->sel = sel;
		ref->cap = cap;
	}
	char *n = strdup(name);
	if (!n)
		goto nomem;
	ref->sel[ref->nsel++] = (struct rms_selector){ n, value, nested };
	return 0;
nomem:
	free(value);
	rms_ref_free(nested);
	return rms__error_nomem();
}

int rms_ref_add_selector(rms_ref *ref, const char *name, const char *value)
{
	if (!ref)
		return rms__error_field(RMS_E_INVALID_ARG, "ref",
		                        "rms_ref_add_selector: ref is NULL");
	int rc = rms__check_text("selector name", name, false);
	if (rc)
		return rc;
	if (!value)
		return rms__error_field(RMS_E_INVALID_ARG, "value", "selector %s: value is NULL",
		                        name);
	if (!rms__utf8_valid(value, strlen(value)))
		return rms__error_field(RMS_E_INVALID_ARG, "value",
		                        "selector %s: value is not valid UTF-8", name);
	char *copy = strdup(value);
	if (!copy)
		return rms__error_nomem();
	return put_selector(ref, name, copy, NULL);
}

int rms_ref_add_selector_ref(rms_ref *ref, const char *name, const rms_ref *value)
{
	if (!ref)
		return rms__error_field(RMS_E_INVALID_ARG, "ref",
		                        "rms_ref_add_selector_ref: ref is NULL");
	int rc = rms__check_text("selector name", name, false);
	if (rc)
		return rc;
	if (!value)
		return rms__error_field(RMS_E_INVALID_ARG, "value", "selector %s: value is NULL",
		                        name);
	/* Copied before ref changes, so a reference may name itself as a value. */
	rms_ref *copy;
	rc = rms_ref_dup(&copy, value);
	if (rc)
		return rc;
	return put_selector(ref, name, NULL, copy);
}

int rms_ref_set_address(rms_ref *ref, const char *address)
{
	if (!ref)
		return rms__error_field(RMS_E_INVALID_ARG, "ref",
		                        "rms_ref_set_address: ref is NULL");
	int rc = rms__check_text("address", address, true);
	if (rc)
		return rc;
	return rms__set_str(&ref->address, address) ? rms__error_nomem() : 0;
}

int rms_ref_set_resource_uri(rms_ref *ref, const char *resource_uri)
{
	if (!ref)
		return rms__error_field(RMS_E_INVALID_ARG, "ref",
		                        "rms_ref_set_resource_uri: ref is NULL");
	int rc = rms__check_text("resource_uri", resource_uri, true);
	if (rc)
		return rc;
	return rms__set_str(&ref->resource_uri, resource_uri) ? rms__error_nomem() : 0;
}

int rms_ref_dup(rms_ref **out, const rms_ref *ref)
{
	if (!out)
		return rms__error_field(RMS_E_INVALID_ARG, "out", "rms_ref_dup: out is NULL");
	*out = NULL;
	if (!ref)
		return rms__error_field(RMS_E_INVALID_ARG, "ref", "rms_ref_dup: ref is NULL");
	rms_ref *r;
	int rc = rms_ref_new(&r, ref->cim_namespace, ref->class_name);
	if (rc)
		return rc;
	if (rms__set_str(&r->address, ref->address) ||
	    rms__set_str(&r->resource_uri, ref->resource_uri)) {
		rms_ref_free(r);
		return rms__error_nomem();
	}
	for (size_t i = 0; i < ref->nsel && rc == 0; i++) {
		const struct rms_selector *s = &ref->sel[i];
		rc = s->ref ? rms_ref_add_selector_ref(r, s->name, s->ref)
		            : rms_ref_add_selector(r, s->name, s->value);
	}
	if (rc) {
		rms_ref_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

const char *rms_ref_namespace(const rms_ref *ref)
{
	return ref ? ref->cim_namespace : NULL;
}

const char *rms_ref_class_name(const rms_ref *ref)
{
	return ref ? ref->class_name : NULL;
}

const char *rms_ref_address(const rms_ref *ref)
{
	return ref ? ref->address : NULL;
}

const char *rms_ref_resource_uri(const rms_ref *ref)
{
	return ref ? ref->resource_uri : NULL;
}

size_t rms_ref_selector_count(const rms_ref *ref)
{
	return ref ? ref->nsel : 0;
}

int rms_ref_selector_at(const rms_ref *ref, size_t i, const char **name, const char **value,
                        const rms_ref **value_ref)
{
	if (!ref)
		return rms__error_field(RMS_E_INVALID_ARG, "ref",
		                        "rms_ref_selector_at: ref is NULL");
	if (i >= ref->nsel)
		return rms__error_set(RMS_E_NOT_FOUND, RMS_PHASE_NONE,
		                      "selector index %zu is past the end (the reference has %zu)",
		                      i, ref->nsel);
	if (name)
		*name = ref->sel[i].name;
	if (value)
		*value = ref->sel[i].value;
	if (value_ref)
		*value_ref = ref->sel[i].ref;
	return 0;
}

const char *rms_ref_selector(const rms_ref *ref, const char *name)
{
	if (!ref || !name)
		return NULL;
	const struct rms_selector *s = find_selector(ref, name);
	return s ? s->value : NULL;
}

static bool is_sep(char c)
{
	return c == '/' || c == '\\';
}

bool rms__namespace_equal(const char *a, const char *b)
{
	if (!a || !b)
		return true;
	while (is_sep(*a))
		a++;
	while (is_sep(*b))
		b++;
	size_t la = strlen(a), lb = strlen(b);
	while (la && is_sep(a[la - 1]))
		la--;
	while (lb && is_sep(b[lb - 1]))
		lb--;
	if (la != lb)
		return false;
	for (size_t i = 0; i < la; i++) {
		char ca = a[i], cb = b[i];
		if (is_sep(ca) && is_sep(cb))
			continue;
		if (ca >= 'A' && ca <= 'Z')
			ca = (char)(ca - 'A' + 'a');
		if (cb >= 'A' && cb <= 'Z')
			cb = (char)(cb - 'A' + 'a');
		if (ca != cb)
			return false;
	}
	return true;
}

/*
 * The namespace is compared with rms__namespace_equal: an unknown (NULL)
 * namespace matches any, because one side of a comparison often does not
 * carry it (an EPR inside a property, an object deserialized from PowerShell)
 * while naming the same instance.
 */
bool rms_ref_equal(const rms_ref *a, const rms_ref *b)
{
	if (a == b)
		return true;
	if (!a || !b || !rms__streq_nocase(a->class_name, b->class_name) ||
	    !rms__namespace_equal(a->cim_namespace, b->cim_namespace) || a->nsel != b->nsel)
		return false;
	/* Names are unique on each side and the counts match, so every selector
	 * of a found in b means the two sets are the same. */
	for (size_t i = 0; i < a->nsel; i++) {
		const struct rms_selector *sa = &a->sel[i];
		const struct rms_selector *sb = find_selector(b, sa->name);
		if (!sb)
			return false;
		if (sa->ref || sb->ref) {
			if (!sa->ref || !sb->ref || !rms_ref_equal(sa->ref, sb->ref))
				return false;
		} else if (strcmp(sa->value, sb->value) != 0) {
			return false;
		}
	}
	return true;
}

int rms__ref_text_append(rms_buf *b, const rms_ref *ref)
{
	if (ref->cim_namespace) {
		rms__buf_puts(b, ref->cim_namespace);
		rms__buf_puts(b, ":");
	}
	rms__buf_puts(b, ref->class_name ? ref->class_name : "");
	for (size_t i = 0; i < ref->nsel; i++) {
		const struct rms_selector *s = &ref->sel[i];
		rms__buf_puts(b, i ? "," : ".");
		rms__buf_puts(b, s->name);
		rms__buf_puts(b, "=");
		if (s->ref) {
			/* A nested path is itself quoted, as WMI writes it. */
			rms_buf inner;
			rms__buf_init(&inner);
			int rc = rms__ref_text_append(&inner, s->ref);
			if (rc == 0)
				rc = rms__text_quote_append(b, inner.data ? inner.data : "");
			rms__buf_free(&inner);
			if (rc)
				return rc;
		} else if (rms__text_quote_append(b, s->value)) {
			return rms__error_nomem();
		}
	}
	return b->failed ? rms__error_nomem() : 0;
}
