/* hist.c - HDR-style histogram (see hist.h).
 *
 * Layout: sub = 2^k linear sub-buckets with 2^k >= 2 * 10^sigfig. Bucket 0
 * covers [0, sub) one unit apart; bucket b >= 1 covers [sub/2 << b, sub << b)
 * with sub/2 counters of width 2^b. So a value is never off by more than
 * one part in 10^sigfig. Counters are laid out bucket after bucket: bucket 0
 * owns the first sub counters, every later bucket the next sub/2.
 * Not a general HdrHistogram: the lowest discernible value is always 1.
 */
#include "core/hist.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "core/alloc.h"

struct tr_hist {
    uint64_t highest;
    unsigned half_mag;      /* log2(sub / 2) */
    uint64_t sub;           /* sub-buckets in bucket 0 */
    uint64_t half;          /* sub / 2 */
    uint64_t mask;          /* sub - 1 */
    size_t buckets;
    size_t ncounts;
    uint64_t total;
    uint64_t clamped;
    uint64_t max_seen;
    uint64_t *counts;
};

int tr_hist_create(uint64_t highest, int sigfig, struct tr_hist **out) {
    *out = NULL;
    if (sigfig < 1 || sigfig > 5 || highest < 2) return -EINVAL;
    uint64_t single = 2;
    for (int i = 0; i < sigfig; i++) single *= 10;
    unsigned mag = 0;
    while (((uint64_t)1 << mag) < single) mag++;
    struct tr_hist *h = tr_calloc(1, sizeof *h);
    if (!h) return -ENOMEM;
    h->highest = highest;
    h->half_mag = mag - 1;
    h->sub = (uint64_t)1 << mag;
    h->half = h->sub / 2;
    h->mask = h->sub - 1;
    /* smallest value the current number of buckets cannot hold */
    uint64_t untrackable = h->sub;
    h->buckets = 1;
    while (untrackable <= highest) {
        if (untrackable > UINT64_MAX / 2) {
            h->buckets++;
            break;
        }
        untrackable <<= 1;
        h->buckets++;
    }
    h->ncounts = (h->buckets + 1) * (size_t)h->half;
    h->counts = tr_calloc(h->ncounts, sizeof *h->counts);
    if (!h->counts) {
        tr_free(h);
        return -ENOMEM;
    }
    *out = h;
    return 0;
}

void tr_hist_destroy(struct tr_hist *h) {
    if (!h) return;
    tr_free(h->counts);
    tr_free(h);
}

static unsigned bucket_of(const struct tr_hist *h, uint64_t v) {
    unsigned bits = 64 - (unsigned)__builtin_clzll(v | h->mask);   /* >= half_mag + 1 */
    return bits - (h->half_mag + 1);
}

static size_t index_of(const struct tr_hist *h, uint64_t v) {
    unsigned b = bucket_of(h, v);
    uint64_t sb = v >> b;
    return (size_t)((((uint64_t)b + 1) << h->half_mag) + (sb - h->half));
}

/* Lowest value of counter i and the width of its range. */
static uint64_t value_at_index(const struct tr_hist *h, size_t i, uint64_t *width) {
    int64_t b = (int64_t)(i >> h->half_mag) - 1;
    uint64_t sb = (i & (h->half - 1)) + h->half;
    if (b < 0) {
        sb -= h->half;
        b = 0;
    }
    *width = (uint64_t)1 << b;
    return sb << b;
}

static uint64_t highest_equivalent(const struct tr_hist *h, size_t i) {
    uint64_t w;
    uint64_t lo = value_at_index(h, i, &w);
    return lo + w - 1;
}

void tr_hist_record(struct tr_hist *h, uint64_t v) { tr_hist_record_n(h, v, 1); }

void tr_hist_record_n(struct tr_hist *h, uint64_t v, uint64_t n) {
    if (!n) return;
    if (v > h->highest) {
        v = h->highest;
        h->clamped += n;
    }
    h->counts[index_of(h, v)] += n;
    h->total += n;
    if (v > h->max_seen) h->max_seen = v;
}

uint64_t tr_hist_count(const struct tr_hist *h) { return h->total; }
uint64_t tr_hist_clamped(const struct tr_hist *h) { return h->clamped; }
size_t tr_hist_buckets(const struct tr_hist *h) { return h->buckets; }
size_t tr_hist_counters(const struct tr_hist *h) { return h->ncounts; }

uint64_t tr_hist_max(const struct tr_hist *h) {
    return h->total ? highest_equivalent(h, index_of(h, h->max_seen)) : 0;
}

static double median_at(const struct tr_hist *h, size_t i) {
    uint64_t w;
    uint64_t lo = value_at_index(h, i, &w);
    return (double)lo + (double)(w / 2);
}

double tr_hist_mean(const struct tr_hist *h) {
    if (!h->total) return 0;
    double sum = 0;
    for (size_t i = 0; i < h->ncounts; i++)
        if (h->counts[i]) sum += median_at(h, i) * (double)h->counts[i];
    return sum / (double)h->total;
}

double tr_hist_stddev(const struct tr_hist *h) {
    if (!h->total) return 0;
    double mean = tr_hist_mean(h), sq = 0;
    for (size_t i = 0; i < h->ncounts; i++) {
        if (!h->counts[i]) continue;
        double dev = median_at(h, i) - mean;
        sq += dev * dev * (double)h->counts[i];
    }
    return sqrt(sq / (double)h->total);
}

uint64_t tr_hist_value_at(const struct tr_hist *h, double q) {
    if (!h->total) return 0;
    if (q < 0) q = 0;
    if (q > 1) q = 1;
    uint64_t want = (uint64_t)ceil(q * (double)h->total);
    if (want == 0) want = 1;
    uint64_t run = 0;
    for (size_t i = 0; i < h->ncounts; i++) {
        run += h->counts[i];
        if (run >= want) return highest_equivalent(h, i);
    }
    return tr_hist_max(h);
}

/* The next quantile to report after q: ticks_per_half rows per halving of
 * the distance to 1 (HdrHistogram's percentile iteration). */
static double next_quantile(double q, unsigned ticks_per_half) {
    double halvings = floor(log2(1.0 / (1.0 - q))) + 1;
    double next = q + 1.0 / ((double)ticks_per_half * pow(2, halvings));
    return next > q && next < 1.0 ? next : 1.0;
}

int tr_hist_print(const struct tr_hist *h, unsigned ticks_per_half, struct tr_buf *out) {
    int rc = tr_buf_printf(out, "%10s %7s %10s %14s\n\n", "Value", "Percentile", "TotalCount",
                           "1/(1-Percentile)");
    if (ticks_per_half == 0) ticks_per_half = 1;
    double want = 0;
    uint64_t run = 0;
    for (size_t i = 0; i < h->ncounts && !rc && h->total; i++) {
        if (!h->counts[i]) continue;
        run += h->counts[i];
        double at = (double)run / (double)h->total;
        uint64_t v = highest_equivalent(h, i);
        /* one counter may answer several quantiles; the last one answers
         * the next and then 100% (not every step of the way there) */
        while (!rc && at >= want && want < 1.0) {
            rc = tr_buf_printf(out, "%12llu %1.5f %10llu %14.2f\n", (unsigned long long)v, want,
                               (unsigned long long)run, 1.0 / (1.0 - want));
            want = next_quantile(want, ticks_per_half);
            if (run == h->total) break;
        }
        if (!rc && run == h->total) {
            /* the last counter: skip straight to 100% */
            rc = tr_buf_printf(out, "%12llu %1.5f %10llu %14s\n", (unsigned long long)v, 1.0,
                               (unsigned long long)run, "inf");
            break;
        }
    }
    if (!rc)
        rc = tr_buf_printf(out, "#[%-10s = %12.2f, %-14s = %12.2f]\n", "Mean", tr_hist_mean(h),
                           "StdDeviation", tr_hist_stddev(h));
    if (!rc)
        rc = tr_buf_printf(out, "#[%-10s = %12llu, %-14s = %12llu]\n", "Max",
                           (unsigned long long)tr_hist_max(h), "Total count",
                           (unsigned long long)h->total);
    if (!rc)
        rc = tr_buf_printf(out, "#[%-10s = %12zu, %-14s = %12zu]\n", "Buckets", h->buckets,
                           "SubBuckets", h->ncounts);
    return rc;
}
