/* hist.h - an HDR-style histogram of unsigned values (latencies in ns).
 *
 * Buckets double in width; each holds a fixed number of linear sub-buckets
 * chosen so that every recorded value is kept to `sigfig` significant
 * decimal digits. Recording is O(1) with no allocation; memory is fixed at
 * creation. Not thread-safe: one histogram belongs to one loop.
 */
#ifndef TR_HIST_H
#define TR_HIST_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct tr_hist;

/* A histogram for values in [0, highest] kept to sigfig (1..5) significant
 * digits. Returns 0, -EINVAL for a bad sigfig or highest < 2, or -ENOMEM. */
int tr_hist_create(uint64_t highest, int sigfig, struct tr_hist **out);
void tr_hist_destroy(struct tr_hist *h);

/* Count one value; values above highest are counted as highest (and the
 * number of such values is remembered, see tr_hist_clamped). */
void tr_hist_record(struct tr_hist *h, uint64_t v);
/* Count v n times (as n calls of tr_hist_record, in O(1)). */
void tr_hist_record_n(struct tr_hist *h, uint64_t v, uint64_t n);

uint64_t tr_hist_count(const struct tr_hist *h);
uint64_t tr_hist_clamped(const struct tr_hist *h);
/* Largest value equivalent to the largest recorded one (0 when empty). */
uint64_t tr_hist_max(const struct tr_hist *h);
double tr_hist_mean(const struct tr_hist *h);
double tr_hist_stddev(const struct tr_hist *h);
/* The value at or below which q (0..1) of the recorded values lie, as the
 * largest value equivalent to it (0 when empty). */
uint64_t tr_hist_value_at(const struct tr_hist *h, double q);
/* Number of doubling buckets and of counters in all. */
size_t tr_hist_buckets(const struct tr_hist *h);
size_t tr_hist_counters(const struct tr_hist *h);

/* Append the percentile table HdrHistogram prints (Value, Percentile,
 * TotalCount, 1/(1-Percentile)), stepping ticks_per_half rows per halving
 * of the distance to 100%, then the Mean/StdDeviation, Max/Total count and
 * Buckets/SubBuckets lines. Returns 0 or -ENOMEM. */
int tr_hist_print(const struct tr_hist *h, unsigned ticks_per_half, struct tr_buf *out);

#endif
