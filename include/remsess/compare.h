/*
 * remsess — side-by-side comparison of the two backends.
 *
 * rms_compare() runs one request on both backends of a target and returns a
 * record: whether the results are equal (a deep comparison of typed values,
 * ignoring order where the protocol does not define one), or the first
 * difference; and for each backend what it cost and how it ended. The
 * behaviour tests read this record, so what the library reports and what
 * the tests assert cannot drift apart.
 */
#ifndef REMSESS_COMPARE_H
#define REMSESS_COMPARE_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"
#include "operation.h"
#include "session.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What one backend did. Borrowed from the comparison. */
typedef struct rms_side_report {
	rms_backend backend;
	int status;             /* 0 or the RMS_E_* code it failed with */
	const rms_error *error; /* NULL when status is 0 */
	uint64_t duration_us;   /* wall-clock time of the whole operation */
	rms_stats traffic;      /* what the operation did on the wire */
	uint64_t items;         /* instances (or output bytes) delivered */
	const char *limit_hit;  /* name of a limit that stopped it, or NULL */
} rms_side_report;

/* Runs the request on both backends one after the other (CIM first); a
 * failure of one side is recorded, not returned. Fails only when the
 * comparison itself cannot be made (bad arguments, out of memory). */
RMS_EXTERN int rms_compare(rms_comparison **out, rms_target *t, const rms_request *req,
                           rms_error **err);
RMS_EXTERN void rms_comparison_free(rms_comparison *c);

/* True when both sides succeeded with equal results. */
RMS_EXTERN bool rms_comparison_equal(const rms_comparison *c);
/* The first difference: a path ("[3].State", "count") and each side's value
 * as text. NULL when equal or when a side failed. */
RMS_EXTERN const char *rms_comparison_where(const rms_comparison *c);
RMS_EXTERN const char *rms_comparison_cim_value(const rms_comparison *c);
RMS_EXTERN const char *rms_comparison_pssession_value(const rms_comparison *c);
/* RMS_BACKEND_CIM or RMS_BACKEND_PSSESSION. */
RMS_EXTERN const rms_side_report *rms_comparison_side(const rms_comparison *c,
                                                      rms_backend backend);
/* The whole record as one line of JSON (caller frees with rms_free). */
RMS_EXTERN int rms_comparison_to_json(char **out, const rms_comparison *c);

#ifdef __cplusplus
}
#endif

#endif
