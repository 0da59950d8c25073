/* aggr_sketch.c - aggr::stats::hdr and aggr::stats::dds: percentile
 * aggregates with Tremor 0.11's output and arithmetic.
 *
 * hdr is an HDR histogram as the hdrhistogram 7.3 crate keeps it for 0.11
 * (lowest value 1, 2 significant digits, growing on demand): values are cut
 * to unsigned integers and counted per bucket; mean, stdev and percentiles
 * come from bucket values exactly as the crate computes them. dds is
 * sketches-ddsketch 0.1.2 (relative accuracy 0.01, 2048 bins, collapsing
 * the lowest bins) behind 0.11's cache of the first 8192 values; the cache
 * is kept because it decides the order of the floating-point sum. Negative
 * values are ignored and non-numbers skipped, as in 0.11. Invariant: a state
 * holds at most 7424 hdr counters, or 8192 cached values plus about 2200
 * dds bins.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "lang/aggr_int.h"
#include "lang/std_int.h"

#define MAX_PCT 64             /* percentiles one call may ask for */
#define CACHE_MAX 8192         /* 0.11's HIST_MAX_CACHE_SIZE */
#define HDR_SUB_HALF_MAG 7     /* 2 significant digits: 256 sub-buckets */
#define HDR_SUB_HALF 128
#define HDR_MAX_INDEX 7424     /* counters to cover every u64 */
#define DDS_MAX_BINS 2048
#define DDS_INITIAL_BINS 128
#define DDS_GROW_LEFT_BY 128

struct pct {
    char name[32];
    double p;
};

struct store {                 /* ddsketch's bins: bins[i] counts key min_key + i */
    uint64_t *bins;
    int32_t len, min_key, max_key;
    uint64_t count;
};

struct sketch {
    int kind;                  /* TR_SKETCH_HDR or _DDS */
    struct pct pcts[MAX_PCT];
    int npcts, pcts_set;
    /* hdr */
    uint64_t *counts, total, min_nz, max_value;
    uint32_t ncounts;
    /* dds */
    double *cache;
    uint32_t ncache;
    int has_dd;
    struct store st;
    double dmin, dmax, dsum;
};

static const char *const default_pcts[] = {"0.5", "0.9", "0.95", "0.99", "0.999", "0.9999", "0.99999"};

/* --- HDR histogram arithmetic (unit magnitude 0, 2 significant digits) --- */
static int hdr_bucket(uint64_t v) { return 56 - __builtin_clzll(v | 255u); }
static uint32_t hdr_index(uint64_t v) {
    int b = hdr_bucket(v);
    return (uint32_t)(((uint64_t)(b + 1) << HDR_SUB_HALF_MAG) + (v >> b) - HDR_SUB_HALF);
}
static uint64_t hdr_value_at(uint32_t i) {
    int b = (int)(i >> HDR_SUB_HALF_MAG) - 1;
    uint64_t sub = (i & (HDR_SUB_HALF - 1)) + HDR_SUB_HALF;
    if (b < 0) sub -= HDR_SUB_HALF, b = 0;
    return sub << b;
}
static uint64_t hdr_lowest(uint64_t v) { int b = hdr_bucket(v); return (v >> b) << b; }
static uint64_t hdr_range(uint64_t v) { return 1ull << hdr_bucket(v); }
static uint64_t hdr_highest(uint64_t v) {
    if (v == UINT64_MAX) return v;
    uint64_t lo = hdr_lowest(v), r = hdr_range(v);
    return (lo > UINT64_MAX - r ? UINT64_MAX : lo + r) - 1;
}
static uint64_t hdr_median(uint64_t v) {
    uint64_t lo = hdr_lowest(v), h = hdr_range(v) >> 1;
    return lo > UINT64_MAX - h ? UINT64_MAX : lo + h;
}

static int hdr_record(struct sketch *k, uint64_t v, uint64_t n) {
    uint32_t i = hdr_index(v);
    if (i >= k->ncounts) {
        uint32_t cap = i + 1 < 256 ? 256 : i + 1;
        if (cap > HDR_MAX_INDEX) cap = HDR_MAX_INDEX;
        uint64_t *c = tr_realloc(k->counts, cap * sizeof *c);
        if (!c) return -ENOMEM;
        memset(c + k->ncounts, 0, (cap - k->ncounts) * sizeof *c);
        k->counts = c, k->ncounts = cap;
    }
    k->counts[i] += n;
    k->total += n;
    if (v > 0 && v < k->min_nz) k->min_nz = v;
    if (v > k->max_value) k->max_value = v;
    return 0;
}

static double hdr_mean(const struct sketch *k) {
    double m = 0.0;
    if (!k->total) return 0.0;
    for (uint32_t i = 0; i < k->ncounts; i++)
        if (k->counts[i])
            m = m + (double)hdr_median(hdr_highest(hdr_value_at(i))) * (double)k->counts[i] / (double)k->total;
    return m;
}

static double hdr_stdev(const struct sketch *k) {
    if (!k->total) return 0.0;
    double mean = hdr_mean(k), g = 0.0;
    for (uint32_t i = 0; i < k->ncounts; i++) {
        if (!k->counts[i]) continue;
        double dev = (double)hdr_median(hdr_highest(hdr_value_at(i))) - mean;
        g = g + (dev * dev) * (double)k->counts[i];
    }
    return sqrt(g / (double)k->total);
}

static uint64_t hdr_quantile(const struct sketch *k, double percentile) {
    double q = percentile / 100.0;
    if (q > 1.0) q = 1.0;
    double f = ceil(q * (double)k->total);
    /* Rust's float-to-int cast saturates (NaN and negatives are 0) */
    uint64_t want = !(f > 0) ? 0 : f >= 18446744073709551616.0 ? UINT64_MAX : (uint64_t)f;
    if (want == 0) want = 1;
    uint64_t run = 0;
    for (uint32_t i = 0; i < k->ncounts; i++) {
        run += k->counts[i];
        if (run >= want) return q == 0.0 ? hdr_lowest(hdr_value_at(i)) : hdr_highest(hdr_value_at(i));
    }
    return 0;
}

/* --- DDSketch store --- */
static int st_resize(struct store *s, int32_t len, int32_t shift) {
    /* a new bin array of len, the old bins placed from index shift on */
    uint64_t *b = tr_calloc((size_t)len, sizeof *b);
    if (!b) return -ENOMEM;
    for (int32_t i = 0; i < s->len && i + shift < len; i++)
        if (i + shift >= 0) b[i + shift] = s->bins[i];
    tr_free(s->bins);
    s->bins = b, s->len = len;
    return 0;
}

static int st_init(struct store *s) {
    memset(s, 0, sizeof *s);
    s->bins = tr_calloc(DDS_INITIAL_BINS, sizeof *s->bins);
    if (!s->bins) return -ENOMEM;
    s->len = DDS_INITIAL_BINS;
    return 0;
}

static int st_grow_left(struct store *s, int32_t key) {
    if (s->min_key < key || s->len >= DDS_MAX_BINS) return 0;
    int32_t min_key;
    if (s->max_key - key >= DDS_MAX_BINS) {
        min_key = s->max_key - DDS_MAX_BINS + 1;
    } else {
        min_key = s->min_key;
        while (min_key > key) min_key -= DDS_GROW_LEFT_BY;
    }
    int rc = st_resize(s, s->max_key - min_key + 1, s->min_key - min_key);
    if (!rc) s->min_key = min_key;
    return rc;
}

static int st_grow_right(struct store *s, int32_t key) {
    if (s->max_key > key) return 0;
    int rc;
    if (key - s->max_key >= DDS_MAX_BINS) {
        /* everything collapses into the lowest bin of the new range */
        if ((rc = st_resize(s, DDS_MAX_BINS, DDS_MAX_BINS))) return rc;
        s->max_key = key;
        s->min_key = key - DDS_MAX_BINS + 1;
        s->bins[0] = s->count;
    } else if (key - s->min_key >= DDS_MAX_BINS) {
        int32_t min_key = key - DDS_MAX_BINS + 1;
        uint64_t n = 0;
        int32_t stop = min_key < s->max_key + 1 ? min_key : s->max_key + 1;
        for (int32_t i = s->min_key; i < stop; i++) n += s->bins[i - s->min_key];
        if ((rc = st_resize(s, DDS_MAX_BINS, -(min_key - s->min_key)))) return rc;
        s->max_key = key;
        s->min_key = min_key;
        s->bins[0] += n;
    } else {
        if ((rc = st_resize(s, key - s->min_key + 1, 0))) return rc;
        s->max_key = key;
    }
    return 0;
}

static int st_add(struct store *s, int32_t key) {
    int rc = 0;
    if (s->count == 0) {
        s->max_key = key;
        s->min_key = key - s->len + 1;
    }
    if (key < s->min_key) rc = st_grow_left(s, key);
    else if (key > s->max_key) rc = st_grow_right(s, key);
    if (rc) return rc;
    int32_t idx = key - s->min_key;
    s->bins[idx < 0 ? 0 : idx]++;
    s->count++;
    return 0;
}

static int32_t st_key_at_rank(const struct store *s, uint64_t rank) {
    uint64_t n = 0;
    for (int32_t i = 0; i < s->len; i++) {
        n += s->bins[i];
        if (n >= rank) return i + s->min_key;
    }
    return s->max_key;
}

static int st_copy(struct store *d, const struct store *o) {
    uint64_t *b = tr_malloc((size_t)o->len * sizeof *b);
    if (!b) return -ENOMEM;
    memcpy(b, o->bins, (size_t)o->len * sizeof *b);
    tr_free(d->bins);
    *d = *o;
    d->bins = b;
    return 0;
}

static int st_merge(struct store *s, const struct store *o) {
    int rc;
    if (o->count == 0) return 0;
    if (s->count == 0) return st_copy(s, o);
    if (s->max_key > o->max_key) {
        if (o->min_key < s->min_key && (rc = st_grow_left(s, o->min_key))) return rc;
        for (int32_t i = s->min_key > o->min_key ? s->min_key : o->min_key; i <= o->max_key; i++)
            s->bins[i - s->min_key] += o->bins[i - o->min_key];
        uint64_t n = 0;
        for (int32_t i = o->min_key; i < s->min_key; i++) n += o->bins[i - o->min_key];
        s->bins[0] += n;
    } else if (o->min_key < s->min_key) {
        struct store t = {0};
        if ((rc = st_copy(&t, o))) return rc;
        for (int32_t i = s->min_key; i <= s->max_key; i++) t.bins[i - o->min_key] += s->bins[i - s->min_key];
        t.count = s->count;
        tr_free(s->bins);
        *s = t;
    } else {
        if ((rc = st_grow_right(s, o->max_key))) return rc;
        for (int32_t i = o->min_key; i <= o->max_key; i++) s->bins[i - s->min_key] += o->bins[i - o->min_key];
    }
    s->count += o->count;
    return 0;
}

/* --- DDSketch --- */
static double dd_gamma_ln(void) { return log1p((2.0 * 0.01) / (1.0 - 0.01)); }
static double dd_gamma(void) { return 1.0 + (2.0 * 0.01) / (1.0 - 0.01); }
static int32_t dd_offset(void) { return 1 - (int32_t)(log(1.0e-9) / dd_gamma_ln()); }

/* ceil(log_gamma(v)) as Rust's saturating `as i32`, kept within +-2^30 so
 * the key arithmetic cannot overflow: only an infinite value reaches that
 * bound (0.11 wraps around there instead). */
static int32_t dd_log_key(double v) {
    double k = ceil(log(v) / dd_gamma_ln());
    return k != k ? 0 : k > 1073741824.0 ? 1073741824 : k < -1073741824.0 ? -1073741824 : (int32_t)k;
}

static int32_t dd_key(double v) {
    if (v < -1.0e-9) return -dd_log_key(-v) - dd_offset();
    if (v > 1.0e-9) return dd_log_key(v) + dd_offset();
    return 0;
}

static int dd_new(struct sketch *k) {
    int rc = st_init(&k->st);
    if (rc) return rc;
    k->has_dd = 1;
    k->dmin = INFINITY, k->dmax = -INFINITY, k->dsum = 0.0;
    return 0;
}

static int dd_add(struct sketch *k, double v) {
    int rc = st_add(&k->st, dd_key(v));
    if (rc) return rc;
    if (v < k->dmin) k->dmin = v;
    if (k->dmax < v) k->dmax = v;
    k->dsum += v;
    return 0;
}

/* 0.11's switch_to_sketch: the cache goes into the sketch in order */
static int dd_settle(struct sketch *k) {
    int rc = 0;
    if (!k->has_dd && (rc = dd_new(k))) return rc;
    for (uint32_t i = 0; i < k->ncache && !rc; i++) rc = dd_add(k, k->cache[i]);
    k->ncache = 0;
    return rc;
}

static double dd_quantile(const struct sketch *k, double q) {
    if (q == 0.0) return k->dmin;
    if (q == 1.0) return k->dmax;
    double r = q * (double)(k->st.count - 1) + 1.0;
    uint64_t rank = r >= 18446744073709551616.0 ? UINT64_MAX : (uint64_t)r;
    int32_t key = st_key_at_rank(&k->st, rank);
    double x = 0.0;
    if (key < 0) x = -2.0 * exp((double)(-(key + dd_offset())) * dd_gamma_ln()) / (1.0 + dd_gamma());
    else if (key > 0) x = 2.0 * exp((double)(key - dd_offset()) * dd_gamma_ln()) / (1.0 + dd_gamma());
    return x < k->dmin ? k->dmin : x > k->dmax ? k->dmax : x;
}

/* --- the aggregate --- */
static struct sketch *get(struct tr_aggr_state *s, int kind) {
    if (!s->ext) {
        struct sketch *k = tr_calloc(1, sizeof *k);
        if (!k) return NULL;
        k->kind = kind;
        k->min_nz = UINT64_MAX;
        for (size_t i = 0; i < sizeof default_pcts / sizeof default_pcts[0]; i++) {
            strcpy(k->pcts[i].name, default_pcts[i]);
            k->pcts[i].p = strtod(default_pcts[i], NULL);
        }
        k->npcts = (int)(sizeof default_pcts / sizeof default_pcts[0]);
        s->ext = k;
    }
    return s->ext;
}

/* Rust's f64 parse: decimal or exponent forms, inf/infinity/nan; nothing else. */
static int parse_f64(const char *p, size_t n, double *out) {
    char buf[32];
    if (n == 0 || n >= sizeof buf) return 0;
    memcpy(buf, p, n);
    buf[n] = 0;
    for (size_t i = 0; i < n; i++)
        if (buf[i] == 'x' || buf[i] == 'X' || buf[i] == 'p' || buf[i] == 'P' || buf[i] == ' ' || buf[i] == '(' ||
            buf[i] == '\t' || buf[i] == '\n')
            return 0;
    char *end;
    *out = strtod(buf, &end);
    return end == buf + n;
}

int tr_sketch_accumulate(struct tr_aggr_state *s, int kind, const tr_value *args, size_t n) {
    struct sketch *k = get(s, kind);
    if (!k) return -ENOMEM;
    if (!k->pcts_set) {
        if (n > 1 && args[1].type == TR_ARR) {
            struct pct p[MAX_PCT];
            int np = 0;
            for (uint32_t i = 0; i < tr_arr_len(&args[1]); i++) {
                const tr_value *e = tr_arr_at(&args[1], i);
                if (e->type != TR_STR) continue;  /* 0.11 skips what is not a string */
                if (np == MAX_PCT || e->as.s->len >= sizeof p[np].name ||
                    !parse_f64(e->as.s->data, e->as.s->len, &p[np].p))
                    return TR_FN_BADTYPE;  /* 0.11: "Provided percentile '..' isn't a float" */
                /* ddsketch refuses a quantile outside [0, 1] when it emits */
                if (kind == TR_SKETCH_DDS && !(p[np].p >= 0.0 && p[np].p <= 1.0)) return TR_FN_BADTYPE;
                memcpy(p[np].name, e->as.s->data, e->as.s->len);
                p[np].name[e->as.s->len] = 0;
                np++;
            }
            memcpy(k->pcts, p, sizeof p[0] * (size_t)np);
            k->npcts = np;
        }
        k->pcts_set = 1;
    }
    double v;
    switch (n ? args[0].type : TR_NULL) {
    case TR_I64: v = (double)args[0].as.i; break;
    case TR_U64: v = (double)args[0].as.u; break;
    case TR_F64: v = args[0].as.f; break;
    default: return 0;
    }
    if (v < 0.0) return 0;
    if (kind == TR_SKETCH_HDR) {
        uint64_t u = !(v > 0) ? 0 : v >= 18446744073709551616.0 ? UINT64_MAX : (uint64_t)v;
        return hdr_record(k, u, 1);
    }
    if (k->has_dd) return dd_add(k, v);
    if (!k->cache && !(k->cache = tr_malloc(CACHE_MAX * sizeof *k->cache))) return -ENOMEM;
    k->cache[k->ncache++] = v;
    return k->ncache == CACHE_MAX ? dd_settle(k) : 0;
}

static int put(tr_value *rec, const char *key, tr_value v) {
    return tr_rec_set(rec, key, strlen(key), v);
}

int tr_sketch_emit(struct tr_aggr_state *s, int kind, tr_value *out) {
    struct sketch *k = get(s, kind);
    tr_value p;
    int rc;
    if (!k) return -ENOMEM;
    if (kind == TR_SKETCH_DDS && (rc = dd_settle(k))) return rc;
    if ((rc = tr_v_rec((size_t)k->npcts, &p))) return rc;
    for (int i = 0; i < k->npcts && !rc; i++) {
        tr_value x;
        if (kind == TR_SKETCH_HDR) x = tr_v_uint(hdr_quantile(k, k->pcts[i].p * 100.0));
        else if (k->st.count == 0) x = tr_v_float(0.0);
        else x = tr_v_float(ceil(dd_quantile(k, k->pcts[i].p) * 10.0) / 10.0);  /* 0.11 rounds up to 1 digit */
        rc = put(&p, k->pcts[i].name, x);
    }
    if (!rc) rc = tr_v_rec(8, out);
    if (rc) {
        tr_value_unref(p);
        return rc;
    }
    if (kind == TR_SKETCH_HDR) {
        double sd = hdr_stdev(k);
        uint64_t mn = k->total == 0 || (k->ncounts && k->counts[0]) ? 0 : hdr_lowest(k->min_nz);
        rc = put(out, "count", tr_v_uint(k->total));
        if (!rc) rc = put(out, "min", tr_v_uint(mn));
        if (!rc) rc = put(out, "max", tr_v_uint(k->max_value ? hdr_highest(k->max_value) : 0));
        if (!rc) rc = put(out, "mean", tr_v_float(hdr_mean(k)));
        if (!rc) rc = put(out, "stdev", tr_v_float(sd));
        if (!rc) rc = put(out, "var", tr_v_float(pow(sd, 2.0)));
    } else {
        uint64_t c = k->st.count;
        rc = put(out, "count", tr_v_uint(c));
        if (!rc) rc = put(out, "sum", tr_v_float(c ? k->dsum : 0.0));
        if (!rc) rc = put(out, "min", tr_v_float(c ? k->dmin : 0.0));
        if (!rc) rc = put(out, "max", tr_v_float(c ? k->dmax : 0.0));
        if (!rc) rc = put(out, "mean", tr_v_float(c ? k->dsum / (double)c : 0.0));
    }
    if (!rc) return put(out, "percentiles", p);
    tr_value_unref(p);
    tr_value_unref(*out);
    *out = tr_v_null();
    return rc;
}

int tr_sketch_merge(struct tr_aggr_state *s, const struct tr_aggr_state *src, int kind) {
    const struct sketch *o = src->ext;
    struct sketch *k = get(s, kind);
    int rc = 0;
    if (!k) return -ENOMEM;
    if (!o) return 0;
    if (!k->pcts_set) {
        memcpy(k->pcts, o->pcts, sizeof o->pcts);
        k->npcts = o->npcts;
        k->pcts_set = 1;
    }
    if (kind == TR_SKETCH_HDR) {
        for (uint32_t i = 0; i < o->ncounts && !rc; i++)
            if (o->counts[i]) rc = hdr_record(k, hdr_value_at(i), o->counts[i]);
        if (!rc && o->total) {
            /* the crate carries the other's exact extremes over */
            if (o->min_nz < k->min_nz) k->min_nz = o->min_nz;
            if (o->max_value > k->max_value) k->max_value = o->max_value;
        }
        return rc;
    }
    if (k->has_dd && o->has_dd) {
        int was_empty = k->st.count == 0;
        if ((rc = st_merge(&k->st, &o->st))) return rc;
        if (was_empty) k->dmin = o->dmin, k->dmax = o->dmax;
        else if (o->st.count > 0) {
            if (o->dmin < k->dmin) k->dmin = o->dmin;
            if (o->dmax > k->dmax) k->dmax = o->dmax;
        }
        k->dsum += o->dsum;
    } else if (k->has_dd) {
        for (uint32_t i = 0; i < o->ncache && !rc; i++) rc = dd_add(k, o->cache[i]);
    } else if (o->has_dd) {
        /* 0.11 takes a copy of the other's sketch and adds its own cache to it */
        if ((rc = st_init(&k->st)) || (rc = st_copy(&k->st, &o->st))) return rc;
        k->has_dd = 1;
        k->dmin = o->dmin, k->dmax = o->dmax, k->dsum = o->dsum;
        rc = dd_settle(k);
    } else if (k->ncache + o->ncache > CACHE_MAX) {
        if ((rc = dd_settle(k))) return rc;
        for (uint32_t i = 0; i < o->ncache && !rc; i++) rc = dd_add(k, o->cache[i]);
    } else if (o->ncache) {
        if (!k->cache && !(k->cache = tr_malloc(CACHE_MAX * sizeof *k->cache))) return -ENOMEM;
        memcpy(k->cache + k->ncache, o->cache, o->ncache * sizeof *o->cache);
        k->ncache += o->ncache;
    }
    return rc;
}

void tr_sketch_free(void *ext) {
    struct sketch *k = ext;
    if (!k) return;
    tr_free(k->counts);
    tr_free(k->cache);
    tr_free(k->st.bins);
    tr_free(k);
}

int tr_sketch_copy(void **dst, const void *src) {
    const struct sketch *o = src;
    *dst = NULL;
    if (!o) return 0;
    struct sketch *k = tr_malloc(sizeof *k);
    if (!k) return -ENOMEM;
    *k = *o;
    k->counts = NULL, k->cache = NULL, k->st.bins = NULL;
    if ((o->counts && !(k->counts = tr_malloc(o->ncounts * sizeof *k->counts))) ||
        (o->cache && !(k->cache = tr_malloc(CACHE_MAX * sizeof *k->cache))) ||
        (o->st.bins && !(k->st.bins = tr_malloc((size_t)o->st.len * sizeof *k->st.bins)))) {
        tr_sketch_free(k);
        return -ENOMEM;
    }
    if (o->counts) memcpy(k->counts, o->counts, o->ncounts * sizeof *k->counts);
    if (o->cache) memcpy(k->cache, o->cache, o->ncache * sizeof *k->cache);
    if (o->st.bins) memcpy(k->st.bins, o->st.bins, (size_t)o->st.len * sizeof *k->st.bins);
    *dst = k;
    return 0;
}
