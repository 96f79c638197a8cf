/*
 * CIM operations on a PSSession that speaks PowerShell remoting: get,
 * enumerate and query run as one pipeline on the remote computer,
 *
 *   Get-CimInstance -Namespace NS -ClassName C                 (enumerate)
 *   Get-CimInstance -Namespace NS -Query Q -QueryDialect D     (query)
 *   Get-CimInstance -Namespace NS -ClassName C -Filter "K = 'v' AND ..."   (get)
 *
 * each with -ErrorAction Stop, and every output object (a CimInstance as
 * PowerShell serializes it) is decoded here into the instance the CIM
 * backend gives for the same data. docs/pssession.md ("CIM operations
 * through a PowerShell-remoting PSSession") has the facts this relies on
 * and their sources in PowerShell's code.
 *
 * The shape decoded (PowerShell's serializer, engine/serialization.cs, and
 * its CimInstance adapter, cimSupport/other/ciminstancetypeadapter.cs):
 *   - type names "Microsoft.Management.Infrastructure.CimInstance#ns/Class"
 *     first (the instance's class), with or without "Deserialized.";
 *   - the CIM properties as adapted properties (<Props>), plus
 *     PSComputerName, which is not a CIM property;
 *   - a member __ClassMetadata (<MS>): a list of {ClassName, Namespace,
 *     ServerName, Hash, MiXml} from the root class down to the instance's
 *     class; MiXml (the class as CIM-XML) only the first time a class goes
 *     out on a stream, so the classes learnt are kept for the whole op.
 * The class tells what CLIXML cannot: a property's CIM type when its value
 * is null, a reference from an embedded instance (both arrive as
 * CimInstances), and which properties are keys.
 */
#ifndef RMS_PSREMOTE_PS_CIM_PSRP_H
#define RMS_PSREMOTE_PS_CIM_PSRP_H

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"
#include "psrp_pool.h"

#define RMS_PS_CIM_PSRP_MAX_PARAMS 6

/* The pipeline that runs a CIM request (borrowed pointers into it). */
typedef struct rms_ps_cim_pipeline {
	rms_psrp_command cmd;
	rms_psrp_param params[RMS_PS_CIM_PSRP_MAX_PARAMS];
	rms_value *values[RMS_PS_CIM_PSRP_MAX_PARAMS];
	size_t n;
} rms_ps_cim_pipeline;

/* Build the pipeline for req (RMS_OP_GET, ENUMERATE or QUERY) in namespace
 * ns. RMS_E_NOT_IMPLEMENTED for a get by a reference-valued key. */
int rms__ps_cim_pipeline(rms_ps_cim_pipeline *p, const rms_request *req, const char *ns);
void rms__ps_cim_pipeline_free(rms_ps_cim_pipeline *p);

/* The WQL condition a get filters on: "Name = 'WinRM' AND ..." (malloc'd). */
char *rms__ps_cim_key_filter(const rms_ref *ref);

/* Classes learnt from __ClassMetadata during one op. */
typedef struct rms_ps_cim_classes {
	struct rms_ps_cim_class *items;
	size_t n, cap;
} rms_ps_cim_classes;

void rms__ps_cim_classes_free(rms_ps_cim_classes *c);

/* One output object into an instance: 0, or RMS_E_PROTOCOL (phase decode)
 * saying which property did not decode and why, or RMS_E_NOMEM. */
int rms__ps_cim_decode_object(rms_instance **out, const rms_value *obj, rms_ps_cim_classes *c);

/* A WQL query that names its properties (SELECT A, B FROM C): Get-CimInstance
 * gives every property of the class, the ones not selected as nulls, where
 * the CIM backend (WS-Man) gives the selected ones only; drop those nulls
 * from inst so that both backends give the same instance. Nothing for
 * SELECT * or a text that is not a WQL SELECT. */
void rms__ps_cim_keep_selected(rms_instance *inst, const char *wql);

/* Raise the error a failed Get-CimInstance pipeline stands for, from its
 * ErrorRecord (rec may be NULL; why is the pipeline's reason): RMS_E_FAULT,
 * phase remote, with the CIM status (and the WMI error number where the
 * record names one) on the error. Returns RMS_E_FAULT. */
int rms__ps_cim_record_error(const rms_value *rec, const char *why);

#endif
