/*
 * Class schemas (rms_cim_class). A backend that decodes a GetClass answer
 * builds one with rms__cim_class_new / _add_property / _add_method.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cim_class.h"
#include "error_internal.h"

struct class_prop {
	char *name;
	rms_type type;
	unsigned flags;
};

struct rms_cim_class {
	char *name;
	char *superclass;
	struct class_prop *props;
	size_t nprops;
	char **methods;
	rms_cim_class **outputs; /* per method: its out-parameters and ReturnValue */
	size_t nmethods;
};

int rms__cim_class_new(rms_cim_class **out, const char *name, const char *superclass)
{
	if (!name || !*name)
		return rms__error_field(RMS_E_INVALID_ARG, "name", "a class needs a name");
	rms_cim_class *c = calloc(1, sizeof *c);
	if (!c || !(c->name = strdup(name)) || (superclass && !(c->superclass = strdup(superclass)))) {
		rms_cim_class_free(c);
		return rms__error_nomem();
	}
	*out = c;
	return 0;
}

int rms__cim_class_add_property(rms_cim_class *c, const char *name, rms_type type, unsigned flags)
{
	if (!name || !*name)
		return rms__error_field(RMS_E_INVALID_ARG, "name", "a property needs a name");
	struct class_prop *p = realloc(c->props, (c->nprops + 1) * sizeof *p);
	if (!p)
		return rms__error_nomem();
	c->props = p;
	if (!(p[c->nprops].name = strdup(name)))
		return rms__error_nomem();
	p[c->nprops].type = type;
	p[c->nprops].flags = flags;
	c->nprops++;
	return 0;
}

int rms__cim_class_add_method(rms_cim_class *c, const char *name)
{
	if (!name || !*name)
		return rms__error_field(RMS_E_INVALID_ARG, "name", "a method needs a name");
	char **m = realloc(c->methods, (c->nmethods + 1) * sizeof *m);
	if (!m)
		return rms__error_nomem();
	c->methods = m;
	rms_cim_class **o = realloc(c->outputs, (c->nmethods + 1) * sizeof *o);
	if (!o)
		return rms__error_nomem();
	c->outputs = o;
	o[c->nmethods] = NULL;
	if (!(m[c->nmethods] = strdup(name)))
		return rms__error_nomem();
	c->nmethods++;
	char *out_name = malloc(strlen(name) + sizeof "_OUTPUT");
	if (!out_name)
		return rms__error_nomem();
	strcpy(out_name, name);
	strcat(out_name, "_OUTPUT");
	int rc = rms__cim_class_new(&o[c->nmethods - 1], out_name, NULL);
	free(out_name);
	return rc;
}

static rms_cim_class *last_output(rms_cim_class *c)
{
	return c->nmethods ? c->outputs[c->nmethods - 1] : NULL;
}

int rms__cim_class_method_returns(rms_cim_class *c, rms_type type)
{
	rms_cim_class *o = last_output(c);
	if (!o)
		return rms__error_set(RMS_E_INTERNAL, RMS_PHASE_NONE, "no method to give a type to");
	return rms__cim_class_add_property(o, "ReturnValue", type, 0);
}

int rms__cim_class_method_add_out(rms_cim_class *c, const char *name, rms_type type)
{
	rms_cim_class *o = last_output(c);
	if (!o)
		return rms__error_set(RMS_E_INTERNAL, RMS_PHASE_NONE, "no method to add a parameter to");
	return rms__cim_class_add_property(o, name, type, 0);
}

const rms_cim_class *rms__cim_class_method_output(const rms_cim_class *c, const char *method)
{
	for (size_t i = 0; c && method && i < c->nmethods; i++)
		if (strcasecmp(c->methods[i], method) == 0)
			return c->outputs[i];
	return NULL;
}

void rms_cim_class_free(rms_cim_class *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nprops; i++)
		free(c->props[i].name);
	for (size_t i = 0; i < c->nmethods; i++) {
		free(c->methods[i]);
		rms_cim_class_free(c->outputs[i]);
	}
	free(c->props);
	free(c->methods);
	free(c->outputs);
	free(c->name);
	free(c->superclass);
	free(c);
}

const char *rms_cim_class_name(const rms_cim_class *c) { return c ? c->name : NULL; }
const char *rms_cim_class_superclass(const rms_cim_class *c) { return c ? c->superclass : NULL; }
size_t rms_cim_class_property_count(const rms_cim_class *c) { return c ? c->nprops : 0; }
size_t rms_cim_class_method_count(const rms_cim_class *c) { return c ? c->nmethods : 0; }

int rms_cim_class_property_at(const rms_cim_class *c, size_t i, const char **name, rms_type *type,
                              unsigned *flags)
{
	if (!c || i >= c->nprops)
		return rms__error_set(RMS_E_NOT_FOUND, RMS_PHASE_NONE, "no property %zu in class %s", i,
		                      c ? c->name : "(null)");
	if (name)
		*name = c->props[i].name;
	if (type)
		*type = c->props[i].type;
	if (flags)
		*flags = c->props[i].flags;
	return 0;
}

const char *rms_cim_class_method_at(const rms_cim_class *c, size_t i)
{
	return c && i < c->nmethods ? c->methods[i] : NULL;
}
