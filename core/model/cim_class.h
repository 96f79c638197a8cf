/* Internal: building class schemas (see rms_cim_class in operation.h). */
#ifndef RMS_CORE_CIM_CLASS_H
#define RMS_CORE_CIM_CLASS_H

#include "remsess/operation.h"

int rms__cim_class_new(rms_cim_class **out, const char *name, const char *superclass);
int rms__cim_class_add_property(rms_cim_class *c, const char *name, rms_type type, unsigned flags);
int rms__cim_class_add_method(rms_cim_class *c, const char *name);
/* The last method added: its return type (ReturnValue) and an
 * out-parameter. RMS_TYPE_STRING... any type; a method without a return
 * type (void) gets no ReturnValue. */
int rms__cim_class_method_returns(rms_cim_class *c, rms_type type);
int rms__cim_class_method_add_out(rms_cim_class *c, const char *name, rms_type type);
/* What a method's answer (<Method>_OUTPUT) holds, as a class: its
 * out-parameters and ReturnValue with their declared types; NULL when the
 * class has no such method. */
const rms_cim_class *rms__cim_class_method_output(const rms_cim_class *c, const char *method);

#endif
