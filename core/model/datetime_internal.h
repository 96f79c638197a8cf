/* Internal side of CIM datetimes (datetime.c). */
#ifndef RMS_CORE_DATETIME_INTERNAL_H
#define RMS_CORE_DATETIME_INTERNAL_H

#include "remsess/value.h"

/*
 * Check that every field of dt is in range, as the parsers guarantee for
 * what they return: timestamp year 0..9999, month 1..12, day within the
 * month (leap years counted), hour 0..23, minute 0..59, second 0..60,
 * UTC offset -999..999 (0 for "Z" and no zone); interval days 0..99999999,
 * second 0..59; nanoseconds below 10^9, frac_digits 0..9, only known
 * wildcard bits. Fields marked wildcard are not checked.
 * Returns 0, RMS_E_RANGE with a message naming the field, or
 * RMS_E_INVALID_ARG for NULL.
 */
int rms__datetime_validate(const rms_datetime *dt);

#endif
