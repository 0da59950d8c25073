/* timefmt_int.h - strftime-style formatting of UTC instants with the
 * semantics of chrono 0.4.19 (the version Tremor 0.11 links), for
 * datetime::format and datetime::iso8601 (std_datetime.c).
 *
 * Not a parser (extract_datetime.c reads times) and not locale-aware: names
 * are English, as chrono prints them without its locale feature. Pure
 * functions, any thread.
 */
#ifndef TR_LANG_TIMEFMT_INT_H
#define TR_LANG_TIMEFMT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* 1 when fmt names a zone (%z %:z %#z %Z %+), the test Tremor 0.11 uses to
 * format a zoned (UTC) instant rather than a naive one. */
int tr_timefmt_has_tz(const char *fmt, size_t len);

/* Append secs.nanos (seconds since the epoch, UTC; nanos < 1e9) written
 * with fmt to out. with_tz: the instant carries the UTC zone, so %z %:z %Z
 * %+ print it; without it they are an error, as in chrono. Returns 0, -ENOMEM,
 * or -EINVAL for a format chrono refuses (unknown or unfinished specifier, a
 * padding flag on a non-numeric one, %#z, a zone without with_tz), with
 * *errpos the byte offset of the offending specifier. On error out may hold
 * a prefix of the result. */
int tr_timefmt_format(int64_t secs, uint32_t nanos, const char *fmt, size_t len, int with_tz,
                      struct tr_buf *out, size_t *errpos);

#endif
