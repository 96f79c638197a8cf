/*
 * Reading recorded traffic from ../shared/fixtures in tests. Every function
 * fails the calling cmocka test (fail_msg) when the file or the entry is
 * missing, and returns malloc'd text the caller frees.
 */
#ifndef RMS_TEST_FIXTURE_H
#define RMS_TEST_FIXTURE_H

#include <stddef.h>

/* A whole file by its path (NUL-terminated; *len gets its size, may be
 * NULL). */
char *rms_fixture_file(const char *path, size_t *len);
/* A whole file, by its path below the fixtures directory. */
char *rms_fixture(const char *relpath, size_t *len);
/* The index-th "request" or "response" (key) of a jborean93/pypsrp
 * conversation (responses/FILE): a plain YAML scalar (lines indented more
 * than its key continue it, each line break folding into a space), or a
 * single-quoted one ('' is a quote; a line break folds into a space). */
char *rms_fixture_pypsrp(const char *file, const char *key, int index);
/* The body of the first response in an adstep/WinRMSharp session file
 * (src/WinRMSharp.Tests/Data/Sessions/FILE): the "Body: >-" block under
 * "Response:". */
char *rms_fixture_winrmsharp_response(const char *file);
/* The body of the index-th "Request" or "Response" (key) of a WinRMSharp
 * session file, lines joined with line breaks. */
char *rms_fixture_winrmsharp(const char *file, const char *key, int index);

#endif
