/*
 * For cmocka tests (include after <cmocka.h>): read an enumeration to its
 * end, freeing each instance, and return how many there were; any end but
 * RMS_ITEROVER fails the test with the operation's error.
 */
#ifndef RMS_TEST_DRAIN_H
#define RMS_TEST_DRAIN_H

#include <stdint.h>

#include "remsess/remsess.h"

static inline uint64_t rms_test_drain(rms_op *op)
{
	uint64_t n = 0;
	rms_instance *inst;
	int rc;
	while ((rc = rms_op_next(op, &inst)) == 0) {
		rms_instance_free(inst);
		n++;
	}
	if (rc != RMS_ITEROVER)
		fail_msg("enumeration failed after %llu: %s", (unsigned long long)n,
		         rms_error_message(rms_op_error(op)));
	return n;
}

#endif
