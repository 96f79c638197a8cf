/*
 * WS-CIM (DMTF DSP0230) XML forms of values, references and instances, as
 * Windows WinRM sends and accepts them (../shared/protocol/facts.md §1.7).
 *
 * The XML carries no type for most properties: a number and a string look
 * the same. Readers therefore take an optional type lookup (from a class
 * schema, or the caller's knowledge). Without one, a property decodes by its
 * shape: xsi:nil -> null string, cim:Datetime/cim:Interval/CIM_DateTime ->
 * datetime, an EPR -> reference, xsi:type naming a class -> embedded
 * instance, anything else -> string; repeated elements -> an array.
 */
#ifndef RMS_CORE_WSCIM_H
#define RMS_CORE_WSCIM_H

#include <libxml/tree.h>

#include "remsess/value.h"
#include "util.h"

/* Namespace URIs used by the forms below. */
#define RMS_NS_XSI "http://www.w3.org/2001/XMLSchema-instance"
#define RMS_NS_CIM "http://schemas.dmtf.org/wbem/wscim/1/common"
#define RMS_NS_WSA "http://schemas.xmlsoap.org/ws/2004/08/addressing"
#define RMS_NS_WSMAN "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
#define RMS_NS_MSWSMAN "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
#define RMS_WSA_ANONYMOUS "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

/* Resource URI forms of a class. */
#define RMS_URI_WMI_PREFIX "http://schemas.microsoft.com/wbem/wsman/1/wmi/"
#define RMS_URI_DMTF_PREFIX "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"

typedef enum rms_uri_form {
	RMS_URI_WMI = 0, /* .../wsman/1/wmi/root/cimv2/Win32_Service */
	RMS_URI_DMTF = 1 /* .../wscim/1/cim-schema/2/Win32_Service (+ __cimnamespace selector) */
} rms_uri_form;

/* The resource URI of a class in a namespace ('\' or '/' separated).
 * Caller frees. NULL on out of memory. */
char *rms__wscim_class_uri(const char *cim_namespace, const char *class_name, rms_uri_form form);
/* Split a resource URI into namespace (WMI form only; else NULL) and class
 * (the last path segment; NULL for "*"). Either output may be NULL. */
int rms__wscim_parse_uri(const char *uri, char **cim_namespace, char **class_name);

/* ---- writing ----------------------------------------------------------- */
/*
 * Append the XML of a property named `name` in namespace prefix `prefix`
 * (already declared by the caller's enclosing element) to b:
 *   null          <p:N xsi:nil="true"/>
 *   scalar        <p:N>text</p:N>   (booleans true/false, numbers in
 *                                    decimal, reals shortest round-trip,
 *                                    char16 as its decimal code unit)
 *   datetime      <p:N><cim:Datetime>xs:dateTime</cim:Datetime></p:N>,
 *                 <p:N><cim:Interval>xs:duration</cim:Interval></p:N>, or
 *                 <p:N><cim:CIM_DateTime>DMTF</cim:CIM_DateTime></p:N> when
 *                 it has wildcards
 *   reference     <p:N><a:Address>…</a:Address><a:ReferenceParameters>…</…></p:N>
 *   instance      <p:N xsi:type="q:Class_Type" xmlns:q="classURI">props</p:N>
 *   array         the element repeated once per item (an empty array
 *                 writes nothing)
 * The prefixes xsi, cim, a and w must be declared by the caller (see
 * RMS_WSCIM_XMLNS). Strings with characters XML 1.0 cannot carry are refused
 * with RMS_E_INVALID_ARG.
 */
int rms__wscim_write_property(rms_buf *b, const char *prefix, const char *name,
                              const rms_value *v);

/* xmlns declarations for the prefixes the writers use. */
#define RMS_WSCIM_XMLNS                                                                            \
	" xmlns:xsi=\"" RMS_NS_XSI "\" xmlns:cim=\"" RMS_NS_CIM "\" xmlns:a=\"" RMS_NS_WSA         \
	"\" xmlns:w=\"" RMS_NS_WSMAN "\""

/* An EPR's children: <a:Address> and <a:ReferenceParameters> with
 * <w:ResourceURI> and <w:SelectorSet> (the __cimnamespace selector is added
 * for the DMTF URI form). */
int rms__wscim_write_ref(rms_buf *b, const rms_ref *ref, rms_uri_form form);

/* The ref's key selectors as a header <w:SelectorSet> (nested references as
 * <a:EndpointReference>), plus a __cimnamespace selector when cim_namespace
 * is non-NULL. Writes nothing when there is nothing to write. */
int rms__wscim_write_selectors(rms_buf *b, const rms_ref *ref, rms_uri_form form,
                               const char *cim_namespace);

/* A whole instance element: <p:ELEMENT xmlns:p="resource_uri" …decls…>
 * properties in order </p:ELEMENT>. ELEMENT is the class name, or e.g.
 * "StopService_INPUT" for method parameters (element_name non-NULL). */
int rms__wscim_write_instance(rms_buf *b, const rms_instance *inst, const char *resource_uri,
                              const char *element_name);

/* ---- reading ----------------------------------------------------------- */

/* Declared type of a property, or -1 when unknown. */
typedef int (*rms_wscim_type_fn)(const char *property, void *userdata);

/* Decode an instance element (its children are the properties). The class
 * name is the element's local name unless xsi:type says otherwise ("X_Type"
 * -> "X"); the namespace comes from the element's namespace URI when it is
 * a WMI class URI, else cim_namespace. Numbers are range-checked against
 * the declared type (RMS_E_RANGE naming the property). */
int rms__wscim_read_instance(rms_instance **out, const xmlNode *elem, const char *cim_namespace,
                             rms_wscim_type_fn type_of, void *userdata);

/* Decode one property from its element(s). `first` is the first element of
 * the property, `count` how many consecutive siblings with that name there
 * are (more than one -> an array). type is the declared type or -1. */
int rms__wscim_read_property(rms_value **out, const xmlNode *first, size_t count, int type);

/* Decode an EPR from an element whose children are a:Address and
 * a:ReferenceParameters (a reference property, a:EndpointReference, or
 * x:ResourceCreated). */
int rms__wscim_read_ref(rms_ref **out, const xmlNode *elem);

#endif
