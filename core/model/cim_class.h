/* Internal: building class schemas (see rms_cim_class in operation.h). */
#ifndef RMS_CORE_CIM_CLASS_H
#define RMS_CORE_CIM_CLASS_H

#include "remsess/operation.h"

int rms__cim_class_new(rms_cim_class **out, const char *name, const char *superclass);
int rms__cim_class_add_property(rms_cim_class *c, const char *name, rms_type type, unsigned flags);
int rms__cim_class_add_method(rms_cim_class *c, const char *name);

#endif
