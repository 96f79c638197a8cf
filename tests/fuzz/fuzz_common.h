/*
 * Shared by the libFuzzer targets: each target feeds bytes straight into an
 * internal parser of untrusted input (rms__*), the way the library does
 * after a transfer, and frees everything so LeakSanitizer sees any leak.
 */
#ifndef RMS_FUZZ_COMMON_H
#define RMS_FUZZ_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remsess/remsess.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A NUL-terminated copy of the input (the parsers of text take C strings). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* The thread's last error holds an allocated message: drop it after each
 * input so one input's error is not taken for another's leak. */
static inline void fuzz_done(void)
{
	rms_error_clear();
}

#endif
