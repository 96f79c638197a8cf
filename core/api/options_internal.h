/*
 * Session options of any version (the rule is in remsess/options.h): how
 * many bytes a version's struct holds, and the sized forms of validation
 * and copying that rms_session_options_validate and rms__options_copy are
 * made of. Tests call the sized forms with a struct cut short, to prove
 * that nothing past a caller's struct is read.
 */
#ifndef RMS_CORE_API_OPTIONS_INTERNAL_H
#define RMS_CORE_API_OPTIONS_INTERNAL_H

#include <stddef.h>

#include "remsess/remsess.h"

/* Bytes of the struct of `version`; 0 for a version this library does not
 * know (0, or newer than RMS_SESSION_OPTIONS_VERSION). */
size_t rms__options_size(unsigned version);

/* rms_session_options_validate for a caller's struct that holds `size`
 * bytes (at least up to its version field; the fields beyond read as 0). */
int rms__options_validate_sized(const void *opts, size_t size, rms_backend backend);

/* rms__options_copy for a caller's struct that holds `size` bytes: dst is
 * a full current-version struct, fields beyond `size` filled with their
 * defaults like any field left 0. */
int rms__options_copy_sized(rms_session_options *dst, const void *src, size_t size);

#endif
