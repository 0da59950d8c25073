/* grouper_bucket.c - the `grouper::bucket` operator: rate limits per class and dimension.
 *
 * Everything comes from each event's metadata: `$class` picks a bucket, and
 * within it `$dimensions` (any value) picks a sliding time window that lets
 * `$rate` events through per `$time_range` ms (default 1000), tracked in
 * `$windows` slots (default 100). A class keeps at most `$cardinality`
 * (default 1000, read when the class is first seen) windows and evicts the
 * least recently used one. Events within the rate leave by "out", the others
 * by "overflow"; events without a string `$class`, or that would open a
 * window without a usable `$rate`, leave by "err". Time is the event's
 * ingest time, never the wall clock, so replays decide the same way.
 *
 * Not a scheduler: nothing is delayed, only routed. Invariant: routing an
 * event of a known class and dimension allocates nothing (string keys are
 * compared in place, other keys are encoded into one reused buffer); memory
 * grows only when a class or a dimension is first seen, and an evicted
 * window's block is reused for the next new one when it is large enough.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "codec/json.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "ops/ops_int.h"

/* Bounds on what event metadata may ask for: memory is classes x cardinality
 * x windows, so each of them is capped before anything is allocated. */
#define MAX_CLASSES 65536u
#define MAX_CARDINALITY 1000000u
#define MAX_WINDOWS 100000u
#define DEFAULT_CARDINALITY 1000u
#define DEFAULT_WINDOWS 100u
#define DEFAULT_TIME_RANGE_MS 1000u
#define MAX_KEY_BYTES 65536u     /* encoded $dimensions kept per window */

/* One dimension's window: Tremor's sliding window of `size` slots, each
 * slot_time ms wide; `sum` counts every slot but the current one. One block
 * holds the struct, its slots and its key bytes. */
struct dim {
    struct dim *hnext;           /* hash chain */
    struct dim *prev, *next;     /* LRU list, most recent first */
    size_t block;                /* bytes allocated for this block */
    uint32_t hash;
    uint32_t klen;
    char kind;                   /* KEY_STR or KEY_JSON */
    uint64_t last_tick;          /* ns */
    uint64_t slot_time;          /* ms */
    uint64_t window_time;        /* ms */
    uint64_t max;
    uint64_t sum;
    uint32_t size, pos;
    uint64_t slots[];            /* size counters, then klen key bytes */
};

struct bucket {                  /* one class */
    struct bucket *hnext;
    uint32_t hash;
    uint32_t nlen;
    char *name;
    size_t cardinality;
    size_t n;
    struct dim **table;          /* chained hash, power-of-two size */
    size_t table_cap;
    struct dim *head, *tail;     /* LRU: head is the most recently used */
    uint64_t pass, overflow;
};

struct grouper {
    struct tr_op_host *host;
    char *id;
    struct bucket **classes;
    size_t classes_cap, nclasses;
    struct tr_buf scratch;       /* encoded key of the current event */
    struct dim *spare;           /* an evicted block kept for reuse */
    uint64_t errors;
};

/* The key of $dimensions. A string is looked up by its own bytes and the
 * hash its string object caches (scripts often set the same literal or
 * field for many events); anything else by its JSON text. Two values share a
 * window exactly when Tremor's encoded keys are equal: the kinds never mix,
 * and record key order and int/float matter in the JSON text as they do
 * there. */
enum { KEY_STR = 's', KEY_JSON = 'j' };

struct key {
    char kind;
    uint32_t len;
    uint32_t hash;
    const char *bytes;
};

/* FNV-1a, for JSON keys: they are short and hashed once per event. */
static uint32_t hash_bytes(const void *p, size_t n) {
    const unsigned char *b = p;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 16777619u;
    return h;
}

static const char *dim_key(const struct dim *d) { return (const char *)&d->slots[d->size]; }

/* ----------------------------------------------------- sliding window */

static void window_empty(struct dim *d) {
    memset(d->slots, 0, (size_t)d->size * sizeof d->slots[0]);
    d->sum = 0;
    d->pos = 0;
}

static void window_tick(struct dim *d) {
    uint64_t last = d->slots[d->pos];
    d->pos = (d->pos + 1) % d->size;
    d->sum = d->sum - d->slots[d->pos] + last;
    d->slots[d->pos] = 0;
}

/* Count one event at now_ns; 1 if it fits the rate. Mirrors Tremor's window
 * arithmetic exactly (whole-ms deltas, ticks while the delta exceeds a slot,
 * last_tick set to now rather than to a slot boundary) so the same input is
 * routed the same way. An ingest time that goes backwards wraps to a huge
 * delta and clears the window, as it does there. */
static int window_inc(struct dim *d, uint64_t now_ns) {
    uint64_t delta = (now_ns - d->last_tick) / 1000000u;
    if (delta > d->window_time) {
        window_empty(d);
        d->last_tick = now_ns;
    } else if (delta > d->slot_time) {
        /* delta <= window_time, so this runs at most `size` times */
        while (delta > d->slot_time) {
            delta -= d->slot_time;
            window_tick(d);
        }
        d->last_tick = now_ns;
    }
    uint64_t next = d->sum + d->slots[d->pos] + 1;
    if (next > d->max) return 0;
    d->slots[d->pos]++;
    return 1;
}

/* ------------------------------------------------------------ classes */

static void bucket_free(struct bucket *b) {
    for (struct dim *d = b->head, *nx; d; d = nx) {
        nx = d->next;
        tr_free(d);
    }
    tr_free(b->table);
    tr_free(b->name);
    tr_free(b);
}

/* Classes are found by the hash their string object caches. */
static struct bucket *class_find(struct grouper *g, const char *name, uint32_t len,
                                 uint32_t hash) {
    if (!g->classes_cap) return NULL;
    for (struct bucket *b = g->classes[hash & (g->classes_cap - 1)]; b; b = b->hnext)
        if (b->hash == hash && b->nlen == len && memcmp(b->name, name, len) == 0) return b;
    return NULL;
}

static int class_table_grow(struct grouper *g) {
    size_t nc = g->classes_cap ? g->classes_cap * 2 : 16;
    struct bucket **t = tr_calloc(nc, sizeof *t);
    if (!t) return -ENOMEM;
    for (size_t i = 0; i < g->classes_cap; i++)
        for (struct bucket *b = g->classes[i], *nx; b; b = nx) {
            nx = b->hnext;
            b->hnext = t[b->hash & (nc - 1)];
            t[b->hash & (nc - 1)] = b;
        }
    tr_free(g->classes);
    g->classes = t;
    g->classes_cap = nc;
    return 0;
}

/* A non-negative integer field of meta, as Tremor's get_u64 reads it. */
static int meta_u64(const tr_value *meta, const char *key, uint64_t *out) {
    const tr_value *v = tr_rec_get_cstr(meta, key);
    if (!v) return 0;
    if (v->type == TR_I64 && v->as.i >= 0) *out = (uint64_t)v->as.i;
    else if (v->type == TR_U64) *out = v->as.u;
    else return 0;
    return 1;
}

static int class_add(struct grouper *g, const tr_value *meta, const struct tr_str *name,
                     uint32_t hash, struct bucket **out) {
    uint64_t card = DEFAULT_CARDINALITY;
    meta_u64(meta, "cardinality", &card);
    if (card == 0 || card > MAX_CARDINALITY) return TR_EINVAL_CFG;
    if (g->nclasses >= MAX_CLASSES) return TR_EFULL;
    if (g->nclasses >= g->classes_cap && class_table_grow(g) != 0) return -ENOMEM;
    struct bucket *b = tr_calloc(1, sizeof *b);
    if (!b) return -ENOMEM;
    b->name = tr_malloc((size_t)name->len + 1);
    if (!b->name) {
        tr_free(b);
        return -ENOMEM;
    }
    memcpy(b->name, name->data, name->len);
    b->name[name->len] = 0;
    b->nlen = name->len;
    b->hash = hash;
    b->cardinality = (size_t)card;
    b->hnext = g->classes[hash & (g->classes_cap - 1)];
    g->classes[hash & (g->classes_cap - 1)] = b;
    g->nclasses++;
    *out = b;
    return 0;
}

/* --------------------------------------------------- dimension windows */

static void lru_unlink(struct bucket *b, struct dim *d) {
    if (d->prev) d->prev->next = d->next;
    else b->head = d->next;
    if (d->next) d->next->prev = d->prev;
    else b->tail = d->prev;
    d->prev = d->next = NULL;
}

static void lru_push_front(struct bucket *b, struct dim *d) {
    d->prev = NULL;
    d->next = b->head;
    if (b->head) b->head->prev = d;
    b->head = d;
    if (!b->tail) b->tail = d;
}

static struct dim *dim_find(struct bucket *b, const struct key *k) {
    if (!b->table_cap) return NULL;
    for (struct dim *d = b->table[k->hash & (b->table_cap - 1)]; d; d = d->hnext)
        if (d->hash == k->hash && d->klen == k->len && d->kind == k->kind &&
            memcmp(dim_key(d), k->bytes, k->len) == 0)
            return d;
    return NULL;
}

static void dim_unhash(struct bucket *b, struct dim *d) {
    struct dim **pp = &b->table[d->hash & (b->table_cap - 1)];
    while (*pp != d) pp = &(*pp)->hnext;
    *pp = d->hnext;
}

static int dim_table_grow(struct bucket *b) {
    size_t nc = b->table_cap ? b->table_cap * 2 : 8;
    struct dim **t = tr_calloc(nc, sizeof *t);
    if (!t) return -ENOMEM;
    for (size_t i = 0; i < b->table_cap; i++)
        for (struct dim *d = b->table[i], *nx; d; d = nx) {
            nx = d->hnext;
            d->hnext = t[d->hash & (nc - 1)];
            t[d->hash & (nc - 1)] = d;
        }
    tr_free(b->table);
    b->table = t;
    b->table_cap = nc;
    return 0;
}

/* The rate a new window gets, from meta as Tremor's Rate::from_meta reads it:
 * `rate` is required; `time_range` and `windows` fall back to their defaults
 * when absent or not non-negative integers. */
struct rate {
    uint64_t rate, time_range, windows;
};

static int rate_from_meta(const tr_value *meta, struct rate *r) {
    if (!meta_u64(meta, "rate", &r->rate)) return TR_ENOTFOUND;
    r->time_range = DEFAULT_TIME_RANGE_MS;
    r->windows = DEFAULT_WINDOWS;
    meta_u64(meta, "time_range", &r->time_range);
    meta_u64(meta, "windows", &r->windows);
    /* Tremor divides by windows; zero and absurd slot counts are refused here. */
    if (r->windows == 0 || r->windows > MAX_WINDOWS) return TR_EINVAL_CFG;
    return 0;
}

/* A new window for key, most recently used; evicts the least recently used
 * one when the class is at its cardinality. */
static int dim_add(struct grouper *g, struct bucket *b, const struct key *k,
                   const struct rate *r, struct dim **out) {
    if (b->n >= b->cardinality) {
        struct dim *old = b->tail;
        lru_unlink(b, old);
        dim_unhash(b, old);
        b->n--;
        if (g->spare && g->spare->block < old->block) {
            tr_free(g->spare);
            g->spare = NULL;
        }
        if (!g->spare) g->spare = old;
        else tr_free(old);
    } else if (b->n >= b->table_cap && dim_table_grow(b) != 0) {
        return -ENOMEM;
    }
    size_t need = sizeof(struct dim) + (size_t)r->windows * sizeof(uint64_t) + k->len;
    struct dim *d;
    if (g->spare && g->spare->block >= need) {
        d = g->spare;
        g->spare = NULL;
    } else {
        d = tr_malloc(need);
        if (!d) return -ENOMEM;
        d->block = need;
    }
    size_t block = d->block;
    memset(d, 0, sizeof *d);
    d->block = block;
    d->hash = k->hash;
    d->klen = k->len;
    d->kind = k->kind;
    d->size = (uint32_t)r->windows;
    d->slot_time = r->time_range / r->windows;
    d->window_time = d->slot_time * r->windows;
    d->max = r->rate;
    memset(d->slots, 0, (size_t)d->size * sizeof d->slots[0]);
    memcpy((char *)&d->slots[d->size], k->bytes, k->len);
    d->hnext = b->table[k->hash & (b->table_cap - 1)];
    b->table[k->hash & (b->table_cap - 1)] = d;
    lru_push_front(b, d);
    b->n++;
    *out = d;
    return 0;
}

static int make_key(struct grouper *g, const tr_value *dims, struct key *k) {
    if (dims && dims->type == TR_STR) {
        if (dims->as.s->len > MAX_KEY_BYTES) return TR_ETOOBIG;
        k->kind = KEY_STR;
        k->bytes = dims->as.s->data;
        k->len = dims->as.s->len;
        k->hash = tr_str_hash(dims->as.s);
        return 0;
    }
    tr_buf_reset(&g->scratch);
    tr_value null = tr_v_null();
    int rc = tr_json_encode(dims ? dims : &null, &g->scratch);
    if (rc) return rc;
    if (g->scratch.len > MAX_KEY_BYTES) return TR_ETOOBIG;
    k->kind = KEY_JSON;
    k->bytes = g->scratch.data;
    k->len = (uint32_t)g->scratch.len;
    k->hash = hash_bytes(k->bytes, k->len);
    return 0;
}

/* ------------------------------------------------------------ the op */

static void count_error(struct grouper *g, const char *why) {
    g->errors++;
    if (g->errors == 1 || g->errors % 10000 == 0)
        TR_WARN("grouper::bucket", "%s: event sent to err: %s (%llu so far)", g->id, why,
                (unsigned long long)g->errors);
}

/* No settings: classes and rates come with each event. */
static const struct tr_cmap_entry gb_cmap[] = {{0}};

static int gb_create(const struct tr_op_spec *spec, struct tr_op_host *host, void **self,
                     struct tr_diag *d) {
    if (spec->params && spec->params->type == TR_REC && tr_rec_len(spec->params) > 0)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "Operator %s has a config but can't be configured", spec->id);
    struct grouper *g = tr_calloc(1, sizeof *g);
    if (!g) return -ENOMEM;
    g->host = host;
    g->id = tr_strdup(spec->id);
    if (!g->id) {
        tr_free(g);
        return -ENOMEM;
    }
    tr_buf_init(&g->scratch);
    *self = g;
    return 0;
}

static int gb_event(void *self, const char *port, struct tr_event *ev) {
    (void)port;
    struct grouper *g = self;
    const tr_value *meta = &ev->meta;
    const tr_value *cls = tr_rec_get_cstr(meta, "class");
    if (!cls || cls->type != TR_STR) {
        count_error(g, "no string $class");
        return tr_op_emit(g->host, "err", ev);
    }
    uint32_t chash = tr_str_hash(cls->as.s);
    struct bucket *b = class_find(g, cls->as.s->data, cls->as.s->len, chash);
    int rc;
    if (!b && (rc = class_add(g, meta, cls->as.s, chash, &b)) != 0) {
        if (rc == -ENOMEM) {
            tr_op_drop(g->host, ev);
            return rc;
        }
        count_error(g, rc == TR_EFULL ? "too many classes" : "$cardinality out of range");
        return tr_op_emit(g->host, "err", ev);
    }
    struct key k;
    if ((rc = make_key(g, tr_rec_get_cstr(meta, "dimensions"), &k)) != 0) {
        if (rc == -ENOMEM) {
            tr_op_drop(g->host, ev);
            return rc;
        }
        count_error(g, rc == TR_ETOOBIG ? "$dimensions longer than 64 KiB"
                                        : "$dimensions nested too deeply");
        return tr_op_emit(g->host, "err", ev);
    }
    struct dim *d = dim_find(b, &k);
    if (d) {
        if (d != b->head) {
            lru_unlink(b, d);
            lru_push_front(b, d);
        }
    } else {
        struct rate r;
        if ((rc = rate_from_meta(meta, &r)) != 0) {
            count_error(g, rc == TR_ENOTFOUND ? "no $rate" : "$windows out of range");
            return tr_op_emit(g->host, "err", ev);
        }
        if ((rc = dim_add(g, b, &k, &r, &d)) != 0) {
            tr_op_drop(g->host, ev);
            return rc;
        }
    }
    if (window_inc(d, ev->ingest_ns)) {
        b->pass++;
        return tr_op_emit(g->host, "out", ev);
    }
    b->overflow++;
    return tr_op_emit(g->host, "overflow", ev);
}

static void gb_destroy(void *self) {
    struct grouper *g = self;
    if (!g) return;
    for (size_t i = 0; i < g->classes_cap; i++)
        for (struct bucket *b = g->classes[i], *nx; b; b = nx) {
            nx = b->hnext;
            TR_DEBUG("grouper::bucket", "%s: class %s: %llu passed, %llu overflowed", g->id,
                     b->name, (unsigned long long)b->pass, (unsigned long long)b->overflow);
            bucket_free(b);
        }
    tr_free(g->classes);
    tr_free(g->spare);
    tr_buf_fini(&g->scratch);
    tr_free(g->id);
    tr_free(g);
}

static int put_str(tr_value *rec, const char *k, const char *v, size_t n) {
    tr_value s;
    int rc = tr_v_str(v, n, &s);
    return rc ? rc : tr_rec_set(rec, k, strlen(k), s);
}

/* 0.11's bucketing metrics: per class, the events passed and overflowed
 * (cumulative), as {measurement: "bucketing", tags: {class, action}}. */
static int gb_metrics(void *self, tr_value *out) {
    struct grouper *g = self;
    tr_value a;
    int rc = tr_v_arr(g->nclasses * 2, &a);
    for (size_t i = 0; !rc && i < g->classes_cap; i++)
        for (struct bucket *b = g->classes[i]; !rc && b; b = b->hnext)
            for (int act = 0; !rc && act < 2; act++) {
                tr_value r = tr_v_null(), tags = tr_v_null();
                rc = tr_v_rec(3, &r);
                if (!rc) rc = tr_v_rec(2, &tags);
                if (!rc) rc = put_str(&r, "measurement", "bucketing", 9);
                if (!rc) rc = put_str(&tags, "class", b->name, b->nlen);
                if (!rc) rc = put_str(&tags, "action", act ? "overflow" : "pass", act ? 8 : 4);
                if (!rc) rc = tr_rec_set(&r, "tags", 4, tags), tags = tr_v_null();
                if (!rc) rc = tr_rec_set(&r, "count", 5, tr_v_uint(act ? b->overflow : b->pass));
                if (!rc) rc = tr_arr_push(&a, r), r = tr_v_null();
                tr_value_unref(tags);
                tr_value_unref(r);
            }
    if (rc) {
        tr_value_unref(a);
        return rc;
    }
    *out = a;
    return 0;
}

const struct tr_op_ops tr_op_grouper_bucket = {
    .metrics = gb_metrics,
    .kind = "grouper::bucket",
    .cmap = gb_cmap,
    .create = gb_create,
    .event = gb_event,
    .destroy = gb_destroy,
};
