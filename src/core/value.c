/* value.c - reference-counted values: strings, binaries, arrays, records.
 *
 * Not a parser or printer (codec/json.c is) and not thread-safe: counts are
 * plain integers. Invariants: a heap object is freed exactly when its count
 * drops to zero; record fields stay in insertion order; a record with more
 * than REC_INDEX_MIN fields may carry an open-addressing index of
 * (field position + 1) slots, which is only ever a lookup accelerator - when
 * it cannot be allocated the record falls back to a linear scan. The first
 * items/fields array may live in the same block as its header (right after
 * it); only a separately allocated array is ever realloc'd or freed.
 *
 * Depth is bounded when values are built, not when they are walked: each
 * container header carries an upper bound of its depth, kept in O(1) by
 * every store (push, set, copy), and a store that would make a container
 * deeper than TR_VALUE_MAX_DEPTH fails with TR_EDEPTH. That one check lets
 * equality, ordering, cloning, the JSON and bin codecs, merge and display
 * stay simple recursions of at most TR_VALUE_MAX_DEPTH frames, and makes
 * every value that exists encodable and decodable by our own codecs (which
 * use the same bound). Making each of those walks iterative instead would
 * have meant an explicit stack in a dozen places and still values our
 * decoders refuse. Freeing stays iterative (destroy_tree) as a second line.
 * The bound only errs high: removing a deep child does not lower it.
 */
#include "core/value.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

/* Under ASan an arena block's bytes not handed out yet are poisoned, so an
 * overrun of one object into the next free space is still reported. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define VPOISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define VUNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define VPOISON(p, n) ((void)(p), (void)(n))
#define VUNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* Records up to this many fields are scanned linearly: for a handful of
 * short keys a scan beats hashing, and most events are that small. */
#define REC_INDEX_MIN 16
/* A capacity hint is only a hint; never pre-allocate more than this. */
#define CAP_HINT_MAX (1u << 16)

/* ------------------------------------------------------------------ */
/* strings                                                            */

/* The fields every new string, record or array starts with, whether it
 * came from the heap (blk 0) or from an arena block (blk its offset). */
static struct tr_str *str_init(struct tr_str *s, size_t len, uint32_t blk) {
    s->refs = 1;
    s->len = (uint32_t)len;
    s->hash = 0;
    assert(blk < TR_VARENA_BLOCK_MAX);
    s->blk = blk & 0x7fffffffu;   /* an offset below TR_VARENA_BLOCK_MAX */
    s->json_plain = 0;
    s->data[len] = 0;
    return s;
}

struct tr_str *tr_str_alloc(size_t len) {
    if (len > UINT32_MAX) return NULL;
    struct tr_str *s = tr_malloc(sizeof *s + len + 1);
    return s ? str_init(s, len, 0) : NULL;
}

struct tr_str *tr_str_new(const char *p, size_t n) {
    struct tr_str *s = tr_str_alloc(n);
    if (s && n) memcpy(s->data, p, n);
    return s;
}

/* Eight bytes per multiply, then a finaliser that spreads every input bit
 * over the low bits the index masks with (FNV-1a, a multiply per byte, had
 * a tenth of the time on records of 60 keys). Only this process sees it.
 * 0 is reserved for "not computed yet". */
static uint64_t hash_mix(uint64_t h, uint64_t w) {
    h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 31);
}

static uint32_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = hash_mix(h, w);
    }
    if (n) {
        w = 0;
        for (size_t i = 0; i < n; i++) w |= (uint64_t)(uint8_t)p[i] << (8 * i);
        h = hash_mix(h, w);
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    uint32_t r = (uint32_t)h;
    return r ? r : 1;
}

uint32_t tr_str_hash(struct tr_str *s) {
    if (!s->hash) s->hash = hash_bytes(s->data, s->len);
    return s->hash;
}

static void vblock_put(void *obj, uint32_t off);

void tr_str_unref(struct tr_str *s) {
    if (!s) return;
    assert(s->refs > 0);
    if (--s->refs) return;
    if (s->blk)
        vblock_put(s, s->blk);
    else
        tr_free(s);
}

tr_value tr_v_uint(uint64_t u) {
    tr_value v;
    if (u <= (uint64_t)INT64_MAX) {
        v.type = TR_I64;
        v.as.i = (int64_t)u;
    } else {
        v.type = TR_U64;
        v.as.u = u;
    }
    return v;
}

int tr_v_str(const char *s, size_t n, tr_value *out) {
    struct tr_str *o = tr_str_new(s, n);
    if (!o) {
        *out = tr_v_null();
        return -ENOMEM;
    }
    *out = tr_v_strobj(o);
    return 0;
}

int tr_v_cstr(const char *s, tr_value *out) { return tr_v_str(s, strlen(s), out); }

int tr_v_bin(const void *p, size_t n, tr_value *out) {
    struct tr_str *o = tr_str_new(p, n);
    if (!o) {
        *out = tr_v_null();
        return -ENOMEM;
    }
    out->type = TR_BIN;
    out->as.s = o;
    return 0;
}

/* ------------------------------------------------------------------ */
/* arrays and records: allocation                                     */

/* Grow an items/fields array to hold need elements. Storage that sits in
 * the header's own block (at inl) is left in place and copied out. */
static int grow32(void **p, uint32_t *cap, size_t need, size_t elem, const void *inl) {
    if (need <= *cap) return 0;
    if (need > UINT32_MAX) return -ENOMEM;
    if (*p && *p == inl) {
        size_t c = (size_t)*cap * 2;
        if (c < 8) c = 8;
        if (c < need) c = need;
        if (c > UINT32_MAX) c = UINT32_MAX;
        void *q = tr_malloc(c * elem);
        if (!q) return -ENOMEM;
        memcpy(q, *p, (size_t)*cap * elem);
        *p = q;
        *cap = (uint32_t)c;
        return 0;
    }
    size_t c = *cap;
    int rc = tr_grow(p, &c, need, elem);
    if (rc) return rc;
    *cap = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
    return 0;
}

static inline void *arr_inline(const struct tr_arr *a) { return (void *)(a + 1); }

/* Raise *depth for a child; TR_EDEPTH when the child is already as deep as
 * a value may be. */
static int fit_child(uint32_t *depth, const tr_value *child) {
    uint32_t d = tr_value_depth(child);
    if (d >= TR_VALUE_MAX_DEPTH) return TR_EDEPTH;
    if (d + 1 > *depth) *depth = d + 1;
    return 0;
}

int tr_value_note_depth(tr_value *v, uint32_t d) {
    uint32_t *depth = v->type == TR_ARR ? &v->as.a->depth : v->type == TR_REC ? &v->as.r->depth : NULL;
    if (!depth) return 0;
    if (d >= TR_VALUE_MAX_DEPTH) return TR_EDEPTH;
    /* the shared {} cannot have been changed in place */
    assert(v->type != TR_REC || v->as.r->refs != TR_REFS_STATIC || d + 1 <= *depth);
    if (d + 1 > *depth) *depth = d + 1;
    return 0;
}
static inline void *rec_inline(const struct tr_rec *r) { return (void *)(r + 1); }

/* One block for the header and cap_hint slots: most containers never grow
 * past the size they were made with, so this halves their allocations. */
static int arr_init(struct tr_arr *a, size_t cap, uint32_t blk, tr_value *out) {
    a->refs = 1;
    a->len = 0;
    a->cap = (uint32_t)cap;
    a->depth = 1;
    a->blk = blk;
    a->items = cap ? arr_inline(a) : NULL;
    out->type = TR_ARR;
    out->as.a = a;
    return 0;
}

int tr_v_arr(size_t cap_hint, tr_value *out) {
    *out = tr_v_null();
    if (cap_hint > CAP_HINT_MAX) cap_hint = CAP_HINT_MAX;
    struct tr_arr *a = tr_malloc(sizeof *a + cap_hint * sizeof(tr_value));
    return a ? arr_init(a, cap_hint, 0, out) : -ENOMEM;
}

/* never written: len and cap stay 0, and every mutator asserts refs == 1 */
static struct tr_rec empty_rec = {.refs = TR_REFS_STATIC, .depth = 1};

tr_value tr_v_rec_empty(void) {
    tr_value v = {.type = TR_REC};
    v.as.r = &empty_rec;
    return v;
}

static int rec_init(struct tr_rec *r, size_t cap, uint32_t blk, tr_value *out) {
    r->refs = 1;
    r->len = 0;
    r->cap = (uint32_t)cap;
    r->depth = 1;
    r->fields = cap ? rec_inline(r) : NULL;
    r->index = NULL;
    r->index_cap = 0;
    r->blk = blk;
    out->type = TR_REC;
    out->as.r = r;
    return 0;
}

int tr_v_rec(size_t cap_hint, tr_value *out) {
    *out = tr_v_null();
    if (cap_hint > CAP_HINT_MAX) cap_hint = CAP_HINT_MAX;
    struct tr_rec *r = tr_malloc(sizeof *r + cap_hint * sizeof(struct tr_field));
    return r ? rec_init(r, cap_hint, 0, out) : -ENOMEM;
}

/* ------------------------------------------------------------------ */
/* arenas                                                             */

/* A block starts with its count of live objects (plus one while an arena
 * fills it); the objects follow, each 8-aligned, each knowing its offset
 * from the block's start (never 0: the header comes first). */
struct tr_vblock {
    uint32_t refs;
    uint32_t pad_;
    uint64_t align_;
};

#define VALIGN 8u
#define VBLOCK_MIN 256u

/* Drop the count an object held on its block. (Under ASan the block's
 * unused bytes are poisoned; free() takes the whole block back anyway.) */
static void vblock_put(void *obj, uint32_t off) {
    struct tr_vblock *b = (struct tr_vblock *)((char *)obj - off);
    assert(b->refs > 0);
    if (--b->refs == 0) tr_free(b);
}

/* tr_str_unref without the call, for destroy_tree's walk: a document's
 * keys and strings mostly go with it, one count on their block each */
static inline void str_put(struct tr_str *s) {
    if (!s) return;
    assert(s->refs > 0);
    if (--s->refs) return;
    if (s->blk) vblock_put(s, s->blk);
    else tr_free(s);
}

/* The carry arenas on this thread use (tr_varena_use_carry): thread-local,
 * since values and so their blocks stay on the thread that decoded them. */
static _Thread_local struct tr_varena_carry *cur_carry;

struct tr_varena_carry *tr_varena_use_carry(struct tr_varena_carry *c) {
    struct tr_varena_carry *prev = cur_carry;
    cur_carry = c;
    return prev;
}

static void block_release(struct tr_vblock *b) {
    if (b && --b->refs == 0) tr_free(b);
}

/* A carried block too full to go on: the carry keeps its count on it as
 * the spare (giving up the one before), so that when its objects are all
 * gone the next block is that one again, not a free and a malloc. */
static void carry_retire(struct tr_varena_carry *c, struct tr_vblock *b, size_t size) {
    block_release(c->spare);
    c->spare = b;
    c->spare_size = size;
}

/* The spare, when its objects are all gone and it has the size wanted:
 * the caller takes over the carry's count on it. */
static struct tr_vblock *carry_reuse(struct tr_varena_carry *c, size_t size) {
    struct tr_vblock *b = c->spare;
    if (!b || b->refs != 1 || c->spare_size != size) return NULL;
    c->spare = NULL;
    return b;
}

void tr_varena_carry_drop(struct tr_varena_carry *c) {
    block_release(c->b);
    block_release(c->spare);
    c->b = c->spare = NULL;
    c->used = c->size = c->spare_size = 0;
}

void tr_varena_init(struct tr_varena *a, size_t first) {
    a->b = NULL;
    a->used = a->size = 0;
    if (first < VBLOCK_MIN) first = VBLOCK_MIN;
    if (first > TR_VARENA_FIRST_MAX) first = TR_VARENA_FIRST_MAX;
    a->next = first;
    a->carry = cur_carry;
    if (a->carry && a->carry->b) {   /* its count passes to this arena */
        a->b = a->carry->b;
        a->used = a->carry->used;
        a->size = a->carry->size;
        a->carry->b = NULL;
    }
}

void tr_varena_init_for(struct tr_varena *a, size_t input_len) {
    tr_varena_init(a, (input_len > TR_VARENA_FIRST_MAX ? TR_VARENA_FIRST_MAX : input_len) * 3 + 256);
}

static void drop_block(struct tr_varena *a) {
    if (a->b && a->carry) carry_retire(a->carry, a->b, a->size);
    else block_release(a->b);
    a->b = NULL;
    a->used = a->size = 0;
}

/* A block with this much room left goes on to the next document. */
static inline int worth_carrying(size_t size, size_t used) { return size - used >= VBLOCK_MIN; }

void tr_varena_done(struct tr_varena *a) {
    struct tr_varena_carry *c = a->carry;
    /* a block with room left goes on to the next document, unless a nested
     * arena already left one there */
    if (c && !c->b && a->b && worth_carrying(a->size, a->used)) {
        c->b = a->b;
        c->used = a->used;
        c->size = a->size;
        a->b = NULL;
        a->used = a->size = 0;
        return;
    }
    drop_block(a);
}

/* n bytes (8-aligned) in the arena's block, counted on it, with *off set;
 * NULL when the object should get an allocation of its own: it does not
 * fit a new block, or it does not fit the block in hand and is too big to
 * be worth starting another (most of the old one's rest and of the new
 * one would be wasted), or a new block cannot be allocated (the caller's
 * own allocation then fails too, or succeeds where a block could not).
 * With a carry, a new block is at least TR_VARENA_CARRY_BLOCK bytes: the
 * documents after this one fill it too. */
/* A new block for n bytes (aligned); 0, or -1 when n is too big for one
 * or there is no memory. */
static int varena_refill(struct tr_varena *a, size_t n) {
    size_t size = a->carry && a->next < TR_VARENA_CARRY_BLOCK ? TR_VARENA_CARRY_BLOCK : a->next;
    size_t room = size - sizeof(struct tr_vblock);
    if (n > (a->b ? room / 4 : room)) return -1;
    struct tr_vblock *b = a->carry ? carry_reuse(a->carry, size) : NULL;
    if (!b) b = tr_malloc(size);
    if (!b) return -1;
    drop_block(a);
    b->refs = 1;
    a->b = b;
    a->used = sizeof *b;
    a->size = size;
    VPOISON((char *)b + a->used, a->size - a->used);
    a->next = size * 2 > TR_VARENA_BLOCK_MAX ? TR_VARENA_BLOCK_MAX : size * 2;
    return 0;
}

#define VALIGN_UP(n) (((n) + VALIGN - 1) & ~(size_t)(VALIGN - 1))

/* n aligned bytes at *used of block b, which has room for them, counted
 * on it, with *off set. */
static inline void *block_take(struct tr_vblock *b, size_t *used, size_t n, uint32_t *off) {
    char *p = (char *)b + *used;
    VUNPOISON(p, n);
    *off = (uint32_t)*used;
    *used += n;
    b->refs++;
    return p;
}

/* Inline: a decoder takes a piece per string, record and array. */
static inline void *varena_take(struct tr_varena *a, size_t n, uint32_t *off) {
    n = VALIGN_UP(n);
    if ((!a->b || a->size - a->used < n) && varena_refill(a, n)) return NULL;
    return block_take(a->b, &a->used, n, off);
}

struct tr_str *tr_varena_str(struct tr_varena *a, size_t len) {
    uint32_t off;
    if (len > UINT32_MAX) return NULL;
    struct tr_str *s = varena_take(a, sizeof *s + len + 1, &off);
    return s ? str_init(s, len, off) : tr_str_alloc(len);
}

struct tr_str *tr_varena_str_one(size_t len) {
    struct tr_varena_carry *c = cur_carry;
    size_t n = VALIGN_UP(sizeof(struct tr_str) + len + 1);
    if (c && c->b && len <= UINT32_MAX && c->size - c->used >= n) {
        uint32_t off;
        void *p = block_take(c->b, &c->used, n, &off);
        /* what tr_varena_done would do: a block with too little room left
         * is not carried on but kept as the spare */
        if (!worth_carrying(c->size, c->used)) {
            carry_retire(c, c->b, c->size);
            c->b = NULL;
            c->used = c->size = 0;
        }
        return str_init(p, len, off);
    }
    struct tr_varena va;
    tr_varena_init(&va, len + 64);
    struct tr_str *s = tr_varena_str(&va, len);
    tr_varena_done(&va);
    return s;
}

struct tr_str *tr_varena_str_new(struct tr_varena *a, const char *p, size_t n) {
    struct tr_str *s = tr_varena_str(a, n);
    if (s && n) memcpy(s->data, p, n);
    return s;
}

int tr_varena_rec(struct tr_varena *a, size_t cap, tr_value *out) {
    uint32_t off;
    if (cap > CAP_HINT_MAX) return tr_v_rec(cap, out);
    struct tr_rec *r = varena_take(a, sizeof *r + cap * sizeof(struct tr_field), &off);
    return r ? rec_init(r, cap, off, out) : tr_v_rec(cap, out);
}

int tr_varena_arr(struct tr_varena *a, size_t cap, tr_value *out) {
    uint32_t off;
    if (cap > CAP_HINT_MAX) return tr_v_arr(cap, out);
    struct tr_arr *x = varena_take(a, sizeof *x + cap * sizeof(tr_value), &off);
    return x ? arr_init(x, cap, off, out) : tr_v_arr(cap, out);
}

/* ------------------------------------------------------------------ */
/* ownership                                                          */

static int is_container(const tr_value *v) { return v->type == TR_ARR || v->type == TR_REC; }

static uint32_t *refs_of(const tr_value *v) {
    switch (v->type) {
    case TR_STR:
    case TR_BIN:
    case TR_RAWJSON: return &v->as.s->refs;
    case TR_ARR: return &v->as.a->refs;
    case TR_REC: return &v->as.r->refs;
    default: return NULL;
    }
}

tr_value tr_value_ref(tr_value v) {
    uint32_t *r = refs_of(&v);
    if (r && *r != TR_REFS_STATIC) (*r)++;
    return v;
}

/* Free one container whose count reached zero and whose children have
 * already been released. */
static void free_node(tr_value v) {
    if (v.type == TR_ARR) {
        if (v.as.a->items != arr_inline(v.as.a)) tr_free(v.as.a->items);
        if (v.as.a->blk)
            vblock_put(v.as.a, v.as.a->blk);
        else
            tr_free(v.as.a);
    } else {
        if (v.as.r->fields != rec_inline(v.as.r)) tr_free(v.as.r->fields);
        tr_free(v.as.r->index);
        if (v.as.r->blk)
            vblock_put(v.as.r, v.as.r->blk);
        else
            tr_free(v.as.r);
    }
}

struct kill_frame {
    tr_value c;
    uint32_t next;  /* next child to release */
};

/* Release a dead container tree without recursion, so a value nested
 * deeper than the C stack allows (built by a script, say) still frees
 * cleanly. The work stack grows with depth, not breadth; if it cannot grow
 * we recurse for that subtree rather than leak it. */
static void destroy_tree(tr_value root) {
    struct kill_frame local[32];
    struct kill_frame *st = local;
    size_t cap = sizeof local / sizeof local[0], n = 0;
    st[n++] = (struct kill_frame){root, 0};
    while (n) {
        struct kill_frame *f = &st[n - 1];
        tr_value child;
        if (f->c.type == TR_ARR) {
            struct tr_arr *a = f->c.as.a;
            if (f->next == a->len) {
                free_node(f->c);
                n--;
                continue;
            }
            child = a->items[f->next++];
        } else {
            struct tr_rec *r = f->c.as.r;
            if (f->next == r->len) {
                free_node(f->c);
                n--;
                continue;
            }
            struct tr_field *fl = &r->fields[f->next++];
            str_put(fl->key);
            child = fl->val;
        }
        if (!is_container(&child)) {
            if (child.type == TR_STR || child.type == TR_BIN || child.type == TR_RAWJSON) str_put(child.as.s);
            continue;
        }
        uint32_t *rc = refs_of(&child);
        assert(*rc > 0);
        if (*rc == TR_REFS_STATIC || --*rc) continue;
        if (n == cap) {
            struct kill_frame *ns = tr_malloc(2 * cap * sizeof *ns);
            if (!ns) {
                destroy_tree(child);
                continue;
            }
            memcpy(ns, st, n * sizeof *ns);
            if (st != local) tr_free(st);
            st = ns;
            cap *= 2;
        }
        st[n++] = (struct kill_frame){child, 0};
    }
    if (st != local) tr_free(st);
}

void tr_value_unref(tr_value v) {
    switch (v.type) {
    case TR_STR:
    case TR_BIN:
    case TR_RAWJSON: tr_str_unref(v.as.s); return;
    case TR_ARR:
        assert(v.as.a->refs > 0);
        if (--v.as.a->refs == 0) destroy_tree(v);
        return;
    case TR_REC:
        assert(v.as.r->refs > 0);
        if (v.as.r->refs != TR_REFS_STATIC && --v.as.r->refs == 0) destroy_tree(v);
        return;
    default: return;
    }
}

/* ------------------------------------------------------------------ */
/* record index                                                       */

static void index_put(struct tr_rec *r, uint32_t pos) {
    uint32_t mask = r->index_cap - 1;
    uint32_t i = tr_str_hash(r->fields[pos].key) & mask;
    while (r->index[i]) i = (i + 1) & mask;
    r->index[i] = pos + 1;
}

/* (Re)build the index for the current fields at load factor <= 1/2. On
 * allocation failure the record simply has no index. */
static void index_build(struct tr_rec *r) {
    size_t want = 32;
    while (want < (size_t)r->len * 2 + 2) want <<= 1;
    if (want > ((size_t)1 << 31)) want = 0;
    if (want != r->index_cap) {
        tr_free(r->index);
        r->index = NULL;
        r->index_cap = 0;
        if (!want) return;
        r->index = tr_calloc(want, sizeof *r->index);
        if (!r->index) return;
        r->index_cap = (uint32_t)want;
    } else {
        memset(r->index, 0, want * sizeof *r->index);
    }
    for (uint32_t i = 0; i < r->len; i++) index_put(r, i);
}

/* Position of key k in r, or -1. *hash_out (when not NULL) gets k's hash
 * when the lookup computed it, else 0: a key added next need not be
 * hashed again. */
static int64_t rec_find_hk(const struct tr_rec *r, const char *k, size_t n, uint32_t known,
                           uint32_t *hash_out) {
    if (hash_out) *hash_out = 0;
    if (n > UINT32_MAX) return -1;
    if (r->index) {
        uint32_t h = known ? known : hash_bytes(k, n), mask = r->index_cap - 1;
        if (hash_out) *hash_out = h;
        for (uint32_t i = h & mask;; i = (i + 1) & mask) {
            uint32_t slot = r->index[i];
            if (!slot) return -1;
            struct tr_str *key = r->fields[slot - 1].key;
            if (tr_str_hash(key) == h && key->len == n && memcmp(key->data, k, n) == 0)
                return slot - 1;
        }
    }
    for (uint32_t i = 0; i < r->len; i++) {
        struct tr_str *key = r->fields[i].key;
        if (tr_bytes_eq(key->data, key->len, k, n)) return i;
    }
    return -1;
}

static int64_t rec_find_h(const struct tr_rec *r, const char *k, size_t n, uint32_t *hash_out) {
    return rec_find_hk(r, k, n, 0, hash_out);
}

static int64_t rec_find(const struct tr_rec *r, const char *k, size_t n) { return rec_find_h(r, k, n, NULL); }

/* Append a new field (the key is known to be absent). Takes key and val. */
static int rec_append(struct tr_rec *r, struct tr_str *key, tr_value val) {
    int rc = fit_child(&r->depth, &val);
    if (rc) {
        tr_str_unref(key);
        tr_value_unref(val);
        return rc;
    }
    if (r->len == UINT32_MAX ||
        grow32((void **)&r->fields, &r->cap, (size_t)r->len + 1, sizeof *r->fields, rec_inline(r))) {
        tr_str_unref(key);
        tr_value_unref(val);
        return -ENOMEM;
    }
    uint32_t pos = r->len++;
    r->fields[pos].key = key;
    r->fields[pos].val = val;
    if (r->index && (size_t)r->len * 2 <= r->index_cap)
        index_put(r, pos);
    else if (r->len > REC_INDEX_MIN)
        index_build(r);
    return 0;
}

/* ------------------------------------------------------------------ */
/* copy-on-write and deep copy                                        */

/* The copy has room for 4 more fields inline: it is made because a field
 * is about to be set (`let $class = ...` on an event's shared meta was a
 * record and then its fields array, two allocations, per event). */
static int copy_rec_top(const struct tr_rec *src, tr_value *out) {
    int rc = tr_v_rec((size_t)src->len + 4, out);
    if (rc) return rc;
    struct tr_rec *r = out->as.r;
    if (src->len > r->cap &&
        (rc = grow32((void **)&r->fields, &r->cap, src->len, sizeof *r->fields, rec_inline(r)))) {
        tr_value_unref(*out);
        *out = tr_v_null();
        return rc;
    }
    for (uint32_t i = 0; i < src->len; i++) {
        r->fields[i].key = tr_str_ref(src->fields[i].key);
        r->fields[i].val = tr_value_ref(src->fields[i].val);
    }
    r->len = src->len;
    r->depth = src->depth;
    if (src->index) {
        /* positions are identical, so the index can be copied as is */
        r->index = tr_malloc((size_t)src->index_cap * sizeof *r->index);
        if (r->index) {
            memcpy(r->index, src->index, (size_t)src->index_cap * sizeof *r->index);
            r->index_cap = src->index_cap;
        }
    }
    return 0;
}

static int copy_arr_top(const struct tr_arr *src, tr_value *out) {
    int rc = tr_v_arr(src->len, out);
    if (rc) return rc;
    struct tr_arr *a = out->as.a;
    if (src->len > a->cap &&
        (rc = grow32((void **)&a->items, &a->cap, src->len, sizeof *a->items, arr_inline(a)))) {
        tr_value_unref(*out);
        *out = tr_v_null();
        return rc;
    }
    for (uint32_t i = 0; i < src->len; i++) a->items[i] = tr_value_ref(src->items[i]);
    a->len = src->len;
    a->depth = src->depth;
    return 0;
}

int tr_value_mut(tr_value *v) {
    tr_value n;
    int rc;
    switch (v->type) {
    case TR_STR:
    case TR_BIN:
    case TR_RAWJSON:
        if (v->as.s->refs == 1) {
            v->as.s->hash = 0;  /* the caller is about to change the bytes */
            v->as.s->json_plain = 0;
            return 0;
        }
        n.type = v->type;
        n.as.s = tr_str_new(v->as.s->data, v->as.s->len);
        if (!n.as.s) return -ENOMEM;
        break;
    case TR_ARR:
        if (v->as.a->refs == 1) return 0;
        if ((rc = copy_arr_top(v->as.a, &n))) return rc;
        break;
    case TR_REC:
        if (v->as.r->refs == 1) return 0;
        if ((rc = copy_rec_top(v->as.r, &n))) return rc;
        break;
    default: return 0;
    }
    tr_value_unref(*v);  /* shared, so this only drops our count */
    *v = n;
    return 0;
}

static int clone_at(const tr_value *v, tr_value *out, int depth) {
    *out = tr_v_null();
    int rc = 0;
    switch (v->type) {
    case TR_STR:
    case TR_BIN:
    case TR_RAWJSON: {
        struct tr_str *s = tr_str_new(v->as.s->data, v->as.s->len);
        if (!s) return -ENOMEM;
        s->hash = v->as.s->hash;
        out->type = v->type;
        out->as.s = s;
        return 0;
    }
    case TR_ARR: {
        if (depth >= TR_VALUE_MAX_DEPTH) return TR_EDEPTH;
        const struct tr_arr *a = v->as.a;
        if ((rc = tr_v_arr(a->len, out))) return rc;
        for (uint32_t i = 0; i < a->len; i++) {
            tr_value c;
            if ((rc = clone_at(&a->items[i], &c, depth + 1)) || (rc = tr_arr_push(out, c))) break;
        }
        break;
    }
    case TR_REC: {
        if (depth >= TR_VALUE_MAX_DEPTH) return TR_EDEPTH;
        const struct tr_rec *r = v->as.r;
        if ((rc = tr_v_rec(r->len, out))) return rc;
        for (uint32_t i = 0; i < r->len; i++) {
            tr_value c;
            struct tr_str *k = r->fields[i].key;
            if ((rc = clone_at(&r->fields[i].val, &c, depth + 1))) break;
            struct tr_str *nk = tr_str_new(k->data, k->len);
            if (!nk) {
                tr_value_unref(c);
                rc = -ENOMEM;
                break;
            }
            /* keys of the source are unique, so no lookup is needed */
            if ((rc = rec_append(out->as.r, nk, c))) break;
        }
        break;
    }
    default: *out = *v; return 0;
    }
    if (rc) {
        tr_value_unref(*out);
        *out = tr_v_null();
    }
    return rc;
}

int tr_value_clone(const tr_value *v, tr_value *out) { return clone_at(v, out, 0); }

/* ------------------------------------------------------------------ */
/* array and record operations                                        */

int tr_arr_push(tr_value *arr, tr_value item) {
    assert(arr->type == TR_ARR && arr->as.a->refs == 1);
    struct tr_arr *a = arr->as.a;
    int rc = fit_child(&a->depth, &item);
    if (rc) {
        tr_value_unref(item);
        return rc;
    }
    if (a->len == a->cap &&
        (a->len == UINT32_MAX ||
         grow32((void **)&a->items, &a->cap, (size_t)a->len + 1, sizeof *a->items, arr_inline(a)))) {
        tr_value_unref(item);
        return -ENOMEM;
    }
    a->items[a->len++] = item;
    return 0;
}

int tr_rec_set_key(tr_value *rec, struct tr_str *key, tr_value val) {
    assert(rec->type == TR_REC && rec->as.r->refs == 1);
    struct tr_rec *r = rec->as.r;
    uint32_t h;
    /* a key used again (a dissect pattern's field names) brings its hash */
    int64_t pos = rec_find_hk(r, key->data, key->len, key->hash, &h);
    if (h && !key->hash) key->hash = h;   /* the key's bytes do not change: keep it */
    if (pos >= 0) {
        tr_str_unref(key);
        int rc = fit_child(&r->depth, &val);
        if (rc) {
            tr_value_unref(val);
            return rc;
        }
        tr_value_unref(r->fields[pos].val);
        r->fields[pos].val = val;
        return 0;
    }
    return rec_append(r, key, val);
}

int tr_rec_set(tr_value *rec, const char *key, size_t klen, tr_value val) {
    assert(rec->type == TR_REC && rec->as.r->refs == 1);
    struct tr_rec *r = rec->as.r;
    uint32_t h;
    int64_t pos = rec_find_h(r, key, klen, &h);
    if (pos >= 0) {
        int rc = fit_child(&r->depth, &val);
        if (rc) {
            tr_value_unref(val);
            return rc;
        }
        tr_value_unref(r->fields[pos].val);
        r->fields[pos].val = val;
        return 0;
    }
    struct tr_str *k = tr_str_new(key, klen);
    if (!k) {
        tr_value_unref(val);
        return -ENOMEM;
    }
    k->hash = h;   /* 0 when the lookup did not hash: index_put does */
    return rec_append(r, k, val);
}

tr_value *tr_rec_get(const tr_value *rec, const char *key, size_t klen) {
    if (rec->type != TR_REC) return NULL;
    int64_t pos = rec_find(rec->as.r, key, klen);
    return pos < 0 ? NULL : &rec->as.r->fields[pos].val;
}

tr_value *tr_rec_get_hinted(const tr_value *rec, const char *key, size_t klen, uint32_t *hint) {
    if (rec->type != TR_REC) return NULL;
    struct tr_rec *r = rec->as.r;
    if (*hint < r->len) {
        const struct tr_str *k = r->fields[*hint].key;
        if (tr_bytes_eq(k->data, k->len, key, klen)) return &r->fields[*hint].val;
    }
    int64_t pos = rec_find(r, key, klen);
    if (pos < 0) return NULL;
    *hint = (uint32_t)pos;
    return &r->fields[pos].val;
}

tr_value *tr_rec_get_cstr(const tr_value *rec, const char *key) {
    return tr_rec_get(rec, key, strlen(key));
}

int tr_rec_remove(tr_value *rec, const char *key, size_t klen) {
    assert(rec->type == TR_REC && rec->as.r->refs == 1);
    struct tr_rec *r = rec->as.r;
    int64_t pos = rec_find(r, key, klen);
    if (pos < 0) return 0;
    tr_str_unref(r->fields[pos].key);
    tr_value_unref(r->fields[pos].val);
    memmove(&r->fields[pos], &r->fields[pos + 1], (size_t)(r->len - pos - 1) * sizeof *r->fields);
    r->len--;
    if (r->index) {
        /* every later position moved down by one */
        if (r->len > REC_INDEX_MIN) {
            index_build(r);
        } else {
            tr_free(r->index);
            r->index = NULL;
            r->index_cap = 0;
        }
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* comparison                                                         */

static int is_num(const tr_value *v) {
    return v->type == TR_I64 || v->type == TR_U64 || v->type == TR_F64;
}

static int sign3(int c) { return (c > 0) - (c < 0); }

/* Exact comparison of an integer with a double (no rounding through a
 * cast). NaN sorts above every number. */
static int cmp_i_f(int64_t i, double f) {
    if (isnan(f)) return -1;
    if (f >= 9223372036854775808.0) return -1;
    if (f < -9223372036854775808.0) return 1;
    int64_t t = (int64_t)f;  /* in range, truncates toward zero */
    if (i != t) return i < t ? -1 : 1;
    double frac = f - (double)t;  /* exact: |f| < 2^52 or f is integral */
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

static int cmp_u_f(uint64_t u, double f) {
    if (isnan(f)) return -1;
    if (f < 0) return 1;
    if (f >= 18446744073709551616.0) return -1;
    uint64_t t = (uint64_t)f;
    if (u != t) return u < t ? -1 : 1;
    double frac = f - (double)t;
    return frac > 0 ? -1 : 0;
}

static int cmp_f_f(double a, double b) {
    if (isnan(a)) return isnan(b) ? 0 : 1;
    if (isnan(b)) return -1;
    return a < b ? -1 : a > b ? 1 : 0;
}

static int num_cmp(const tr_value *a, const tr_value *b) {
    switch (a->type) {
    case TR_I64:
        if (b->type == TR_I64) return a->as.i < b->as.i ? -1 : a->as.i > b->as.i;
        if (b->type == TR_U64) {
            if (a->as.i < 0) return -1;
            uint64_t x = (uint64_t)a->as.i;
            return x < b->as.u ? -1 : x > b->as.u;
        }
        return cmp_i_f(a->as.i, b->as.f);
    case TR_U64:
        if (b->type == TR_U64) return a->as.u < b->as.u ? -1 : a->as.u > b->as.u;
        if (b->type == TR_I64) return -num_cmp(b, a);
        return cmp_u_f(a->as.u, b->as.f);
    default:
        if (b->type == TR_F64) return cmp_f_f(a->as.f, b->as.f);
        return -num_cmp(b, a);
    }
}

static int bytes_cmp(const struct tr_str *a, const struct tr_str *b) {
    uint32_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->data, b->data, n) : 0;
    if (c) return sign3(c);
    return a->len < b->len ? -1 : a->len > b->len;
}

int tr_value_eq(const tr_value *a, const tr_value *b) {
    if (is_num(a) && is_num(b)) {
        if ((a->type == TR_F64 && isnan(a->as.f)) || (b->type == TR_F64 && isnan(b->as.f))) return 0;
        return num_cmp(a, b) == 0;
    }
    if (a->type != b->type) return 0;
    switch (a->type) {
    case TR_NULL: return 1;
    case TR_BOOL: return a->as.b == b->as.b;
    case TR_STR:
    case TR_BIN:
    case TR_RAWJSON:  /* one document has one canonical text */
        return a->as.s == b->as.s || tr_bytes_eq(a->as.s->data, a->as.s->len, b->as.s->data, b->as.s->len);
    case TR_ARR: {
        const struct tr_arr *x = a->as.a, *y = b->as.a;
        if (x == y) return 1;
        if (x->len != y->len) return 0;
        for (uint32_t i = 0; i < x->len; i++)
            if (!tr_value_eq(&x->items[i], &y->items[i])) return 0;
        return 1;
    }
    case TR_REC: {
        const struct tr_rec *x = a->as.r, *y = b->as.r;
        if (x == y) return 1;
        if (x->len != y->len) return 0;
        for (uint32_t i = 0; i < x->len; i++) {
            const struct tr_field *f = &x->fields[i];
            int64_t j = rec_find(y, f->key->data, f->key->len);
            if (j < 0 || !tr_value_eq(&f->val, &y->fields[j].val)) return 0;
        }
        return 1;
    }
    default: return 0;
    }
}

static int rank(const tr_value *v) {
    switch (v->type) {
    case TR_NULL: return 0;
    case TR_BOOL: return 1;
    case TR_I64:
    case TR_U64:
    case TR_F64: return 2;
    case TR_STR: return 3;
    case TR_BIN: return 4;
    case TR_ARR: return 5;
    case TR_RAWJSON: return 7;
    default: return 6;
    }
}

/* Records compare as their fields sorted by key, so the order agrees with
 * tr_value_eq (insertion order does not matter). */
static int key_order(const void *x, const void *y, void *ctx) {
    const struct tr_field *f = ctx;
    return bytes_cmp(f[*(const uint32_t *)x].key, f[*(const uint32_t *)y].key);
}

/* Position of the smallest key greater than prev (NULL: the smallest). The
 * quadratic fallback when a sort buffer cannot be allocated. */
static uint32_t next_key(const struct tr_rec *r, const struct tr_str *prev) {
    uint32_t best = UINT32_MAX;
    for (uint32_t i = 0; i < r->len; i++) {
        const struct tr_str *k = r->fields[i].key;
        if (prev && bytes_cmp(k, prev) <= 0) continue;
        if (best == UINT32_MAX || bytes_cmp(k, r->fields[best].key) < 0) best = i;
    }
    return best;
}

/* Positions of r's fields sorted by key, in local when it is big enough.
 * NULL when the buffer cannot be allocated. */
static uint32_t *sorted_keys(const struct tr_rec *r, uint32_t *local, size_t nlocal) {
    uint32_t *perm = r->len <= nlocal ? local : tr_malloc((size_t)r->len * sizeof *perm);
    if (!perm) return NULL;
    for (uint32_t i = 0; i < r->len; i++) perm[i] = i;
    qsort_r(perm, r->len, sizeof *perm, key_order, r->fields);
    return perm;
}

/* Small: this frame is live across the recursion into each field, once
 * per level of nesting (TR_VALUE_MAX_DEPTH of them at most). */
#define CMP_LOCAL_KEYS 4

static int rec_cmp(const struct tr_rec *a, const struct tr_rec *b) {
    uint32_t n = a->len < b->len ? a->len : b->len;
    uint32_t la[CMP_LOCAL_KEYS], lb[CMP_LOCAL_KEYS];
    uint32_t *pa = sorted_keys(a, la, CMP_LOCAL_KEYS), *pb = sorted_keys(b, lb, CMP_LOCAL_KEYS);
    int c = 0;
    const struct tr_str *ka = NULL, *kb = NULL;
    for (uint32_t i = 0; i < n && !c; i++) {
        uint32_t ia = pa && pb ? pa[i] : next_key(a, ka);
        uint32_t ib = pa && pb ? pb[i] : next_key(b, kb);
        ka = a->fields[ia].key;
        kb = b->fields[ib].key;
        c = bytes_cmp(ka, kb);
        if (!c) c = tr_value_cmp(&a->fields[ia].val, &b->fields[ib].val);
    }
    if (pa != la) tr_free(pa);
    if (pb != lb) tr_free(pb);
    if (c) return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

int tr_value_cmp(const tr_value *a, const tr_value *b) {
    int ra = rank(a), rb = rank(b);
    if (ra != rb) return ra < rb ? -1 : 1;
    switch (a->type) {
    case TR_NULL: return 0;
    case TR_BOOL: return (a->as.b > b->as.b) - (a->as.b < b->as.b);
    case TR_I64:
    case TR_U64:
    case TR_F64: return num_cmp(a, b);
    case TR_STR:
    case TR_BIN:
    case TR_RAWJSON: return bytes_cmp(a->as.s, b->as.s);
    case TR_ARR: {
        const struct tr_arr *x = a->as.a, *y = b->as.a;
        uint32_t n = x->len < y->len ? x->len : y->len;
        for (uint32_t i = 0; i < n; i++) {
            int c = tr_value_cmp(&x->items[i], &y->items[i]);
            if (c) return c;
        }
        return x->len < y->len ? -1 : x->len > y->len;
    }
    default: return rec_cmp(a->as.r, b->as.r);
    }
}

const char *tr_type_name(enum tr_type t) {
    switch (t) {
    case TR_NULL: return "null";
    case TR_BOOL: return "bool";
    case TR_I64:
    case TR_U64: return "integer";
    case TR_F64: return "float";
    case TR_STR: return "string";
    case TR_BIN: return "bytes";
    case TR_ARR: return "array";
    case TR_REC: return "record";
    case TR_RAWJSON: return "json";
    }
    return "unknown";
}
