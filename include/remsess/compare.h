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

/*
 * What one backend did. Borrowed from the comparison.
 *
 * When the target had no session for the backend yet, the comparison made
 * it (session_created): its creation is then part of duration_us and
 * traffic, which is how the two backends' different costs show (a
 * PSSession connects and opens its shell at creation, a CIM session opens
 * nothing). traffic holds counts for this call (connections_opened,
 * requests, round_trips, bytes, shells_opened, operations) and levels when
 * the side ended (connections_open, shells_open, largest_request).
 */
typedef struct rms_side_report {
	rms_backend backend;
	int status;              /* 0 or the RMS_E_* code it failed with */
	const rms_error *error;  /* NULL when status is 0 */
	uint64_t duration_us;    /* wall-clock time of the whole side */
	rms_stats traffic;       /* what the side did on the wire */
	uint64_t items;          /* instances (or output bytes) delivered */
	const char *limit_hit;   /* name of a limit that stopped it, or NULL */
	bool session_created;    /* this call created the backend's session */
	bool failed_at_creation; /* the session could not be created */
} rms_side_report;

/* Runs the request on both backends one after the other (CIM first); a
 * failure of one side is recorded, not returned. Fails only when the
 * comparison itself cannot be made (bad arguments, a stdin callback, which
 * cannot be read twice, out of memory). Both results are held in memory
 * while they are compared: meant for tests and diagnostics, not for
 * million-instance classes. */
RMS_EXTERN int rms_compare(rms_comparison **out, rms_target *t, const rms_request *req);
RMS_EXTERN void rms_comparison_free(rms_comparison *c);

/* True when both sides succeeded with equal results. */
RMS_EXTERN bool rms_comparison_equal(const rms_comparison *c);
/*
 * The first difference: where, and each side's value as text. NULL when
 * equal or when a side failed. Instances of an enumeration or query have no
 * defined order: they are matched by class and key properties, and `where`
 * names the instance by them: "[Win32_Service.Name=\"WinRM\"].State" for a
 * property (a value one side lacks is "(absent)"), "[Win32_Service.Name=
 * \"X\"]" for an instance only one side has ("present" / "(absent)").
 * A single result gives the property name ("State"); a
 * command "exit_code", "stdout" or "stderr" (values: the length and the
 * bytes from the first difference).
 */
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
