/*
 * remsess — one remote-session interface over two backends, the two ways
 * PowerShell reaches another computer: a CIM session (New-CimSession) and a
 * PSSession (New-PSSession). The umbrella header: include this one.
 */
#ifndef REMSESS_REMSESS_H
#define REMSESS_REMSESS_H

#include "common.h"
#include "compare.h"
#include "engine.h"
#include "fanout.h"
#include "error.h"
#include "operation.h"
#include "options.h"
#include "session.h"
#include "target.h"
#include "value.h"
#include "remsess/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Optional one-time initialisation of the libraries remsess builds on
 * (libcurl, libxml2, libssh2). Call it from one thread before starting
 * others when the program is multi-threaded: those libraries' own
 * initialisation is not thread-safe. Without it, they initialise on first
 * use. rms_global_cleanup() releases libcurl's and libssh2's global state;
 * call it once, after every remsess object is freed, and only if the
 * program does not use those libraries itself. (libxml2's global state is
 * left alone: xmlCleanupParser would pull it from under a host program
 * that parses XML too.)
 */
RMS_EXTERN int rms_global_init(void);
RMS_EXTERN void rms_global_cleanup(void);

/* The library's version, "MAJOR.MINOR.PATCH", as built (may differ from the
 * header's RMS_VERSION_STRING when linked against a newer library). */
RMS_EXTERN const char *rms_version(void);

/* What this build can do: a NUL-terminated list of feature names
 * ("cim", "pssession-winrm", "ssh", ...) that are fully implemented. */
RMS_EXTERN const char *const *rms_features(void);

#ifdef __cplusplus
}
#endif

#endif
