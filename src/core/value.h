/* value.h - the value model shared by events, the codecs and the language.
 *
 * A tr_value is a small tagged union passed by value. Strings, binaries,
 * arrays and records live on the heap and are reference-counted; a tr_value
 * that holds one owns one reference. Values are copy-on-write: before
 * changing an array or record call tr_value_mut(), which clones the top level
 * when it is shared. Records keep insertion order. Integers are normalised:
 * every integer that fits in int64 is TR_I64; TR_U64 only holds values above
 * INT64_MAX. Reference counts are not atomic: a value belongs to one thread
 * (the one exception, tr_v_rec_empty, has no count to change).
 * The items/fields arrays may share the allocation of their header: read
 * them, never free or realloc them directly. A string's bytes may only be
 * changed after tr_value_mut() (it is unshared then, and the cached hash and
 * json_plain are reset).
 * Nesting is bounded when values are built: a container's header keeps its
 * depth, and no container deeper than TR_VALUE_MAX_DEPTH can be made (see
 * value.c for why), so every recursive walk over a value is bounded. Code
 * that changes a nested container in place (through tr_rec_get/tr_arr_at)
 * so that it gets deeper must tell each enclosing container with
 * tr_value_note_depth; adding scalars or strings in place needs nothing.
 */
#ifndef TR_VALUE_H
#define TR_VALUE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum tr_type {
    TR_NULL = 0,
    TR_BOOL,
    TR_I64,
    TR_U64,
    TR_F64,
    TR_STR,
    TR_BIN,
    TR_ARR,
    TR_REC,
    /* JSON text not decoded yet (as.s: its bytes): an event's whole value
     * that nothing on its way reads, carried from the JSON codec to the
     * WAL and out again as the bytes it came in as. Only bytes that
     * decoding and encoding again would reproduce exactly are carried so
     * (tr_json_canonical), so nobody can tell. It is only ever an event's
     * top-level value: whatever reads values decodes it first
     * (tr_json_materialize, codec/json.h); the language never sees one. */
    TR_RAWJSON,
};

struct tr_str {      /* also used for binaries and TR_RAWJSON */
    uint32_t refs;
    uint32_t len;
    uint32_t hash;   /* 0 = not computed yet */
    /* 0: its own allocation; else bytes from the start of its tr_varena
     * block (below TR_VARENA_BLOCK_MAX) */
    uint32_t blk : 31;
    /* 1: JSON writes the bytes as they are (no '"', '\\', control byte or
     * invalid UTF-8). Set by the JSON decoder for strings that had no
     * escape; cleared by tr_value_mut, like hash; 0 (scan them) otherwise. */
    uint32_t json_plain : 1;
    char data[];     /* len bytes + a NUL (strings may contain NULs) */
};

typedef struct tr_value {
    uint8_t type;
    union {
        int b;
        int64_t i;
        uint64_t u;
        double f;
        struct tr_str *s;
        struct tr_arr *a;
        struct tr_rec *r;
    } as;
} tr_value;

struct tr_arr {
    uint32_t refs;
    uint32_t len;
    uint32_t cap;
    uint32_t depth;  /* >= 1 + the deepest item's depth (scalars count 0) */
    uint32_t blk;    /* as in tr_str */
    tr_value *items;
};

struct tr_field {
    struct tr_str *key;  /* owned reference */
    tr_value val;        /* owned */
};

struct tr_rec {
    uint32_t refs;
    uint32_t len;
    uint32_t cap;
    uint32_t depth;           /* >= 1 + the deepest value's depth (scalars count 0) */
    struct tr_field *fields;  /* insertion order */
    uint32_t *index;          /* open-addressing hash index for large records, or NULL */
    uint32_t index_cap;
    uint32_t blk;             /* as in tr_str */
};

/* The deepest value that can exist: [] and {} have depth 1, [[1]] depth 2.
 * The JSON and bin codecs accept exactly the values of this depth or less. */
#define TR_VALUE_MAX_DEPTH 1024

/* --- scalars (never fail) --- */
static inline tr_value tr_v_null(void) { tr_value v = {.type = TR_NULL}; return v; }
static inline tr_value tr_v_bool(int b) { tr_value v = {.type = TR_BOOL}; v.as.b = !!b; return v; }
static inline tr_value tr_v_int(int64_t i) { tr_value v = {.type = TR_I64}; v.as.i = i; return v; }
static inline tr_value tr_v_float(double f) { tr_value v = {.type = TR_F64}; v.as.f = f; return v; }
tr_value tr_v_uint(uint64_t u);  /* TR_I64 when it fits */

/* --- heap values: 0 or -ENOMEM; *out is TR_NULL on failure --- */
int tr_v_str(const char *s, size_t n, tr_value *out);
int tr_v_cstr(const char *s, tr_value *out);
int tr_v_bin(const void *p, size_t n, tr_value *out);
int tr_v_arr(size_t cap_hint, tr_value *out);
int tr_v_rec(size_t cap_hint, tr_value *out);
/* The empty record {} that every holder shares: static, never freed, never
 * changed (its count is TR_REFS_STATIC, which ref and unref leave alone, so
 * threads may share it too). Like any shared record it is made private by
 * tr_value_mut before a change. Events with no metadata hold it, so an
 * event's $ costs no allocation until something is written into it. */
#define TR_REFS_STATIC UINT32_MAX
tr_value tr_v_rec_empty(void);

/* A new string object (refs = 1) that a caller fills (len bytes at data). */
struct tr_str *tr_str_alloc(size_t len);
struct tr_str *tr_str_new(const char *s, size_t n);
static inline tr_value tr_v_strobj(struct tr_str *s) { tr_value v = {.type = TR_STR}; v.as.s = s; return v; } /* takes s */
uint32_t tr_str_hash(struct tr_str *s);
void tr_str_unref(struct tr_str *s);
static inline struct tr_str *tr_str_ref(struct tr_str *s) { s->refs++; return s; }

/* Depth of v: 0 for scalars and strings, an upper bound on the nesting of
 * an array or record (exact when it was only ever added to). */
static inline uint32_t tr_value_depth(const tr_value *v) {
    return v->type == TR_ARR ? v->as.a->depth : v->type == TR_REC ? v->as.r->depth : 0;
}
/* Record that a value of depth d now sits inside container v, which the
 * caller changed in place through a pointer (tr_rec_get, tr_arr_at) rather
 * than with the functions below. TR_EDEPTH (and no change) when v would get
 * deeper than TR_VALUE_MAX_DEPTH; no-op for scalars. */
int tr_value_note_depth(tr_value *v, uint32_t d);

/* --- ownership --- */
tr_value tr_value_ref(tr_value v);   /* returns v with one more reference */
void tr_value_unref(tr_value v);     /* drops one reference (no-op for scalars) */
/* Make *v's top level unshared (clone it if refs > 1) so it may be changed. */
int tr_value_mut(tr_value *v);
/* Deep copy: nothing shared with v afterwards. */
int tr_value_clone(const tr_value *v, tr_value *out);

/* --- arrays (v must be TR_ARR and made unique with tr_value_mut) --- */
/* Takes item, also on failure: -ENOMEM, or TR_EDEPTH when item is already
 * TR_VALUE_MAX_DEPTH deep (the same for every function that stores a value
 * into a container). */
int tr_arr_push(tr_value *arr, tr_value item);
static inline uint32_t tr_arr_len(const tr_value *arr) { return arr->as.a->len; }
static inline tr_value *tr_arr_at(const tr_value *arr, uint32_t i) { return &arr->as.a->items[i]; }

/* --- records (mutators need a TR_REC made unique with tr_value_mut) --- */
/* Insert or replace key; a replaced key keeps its position. Takes val (also
 * on failure): -ENOMEM or TR_EDEPTH. */
int tr_rec_set(tr_value *rec, const char *key, size_t klen, tr_value val);
int tr_rec_set_key(tr_value *rec, struct tr_str *key, tr_value val);  /* takes key and val */
/* NULL when absent. The pointer is valid until the record changes. */
tr_value *tr_rec_get(const tr_value *rec, const char *key, size_t klen);
tr_value *tr_rec_get_cstr(const tr_value *rec, const char *key);
/* tr_rec_get trying position *hint first, and setting *hint where the key
 * was found: records of one shape (a stream of events) keep their keys in
 * one order, so a lookup site that remembers the position scans nothing. */
tr_value *tr_rec_get_hinted(const tr_value *rec, const char *key, size_t klen, uint32_t *hint);
/* 1 if removed, 0 if absent (order of the rest kept). */
int tr_rec_remove(tr_value *rec, const char *key, size_t klen);
static inline uint32_t tr_rec_len(const tr_value *rec) { return rec->as.r->len; }
static inline struct tr_field *tr_rec_at(const tr_value *rec, uint32_t i) { return &rec->as.r->fields[i]; }

/* --- arenas: the values of one decoded document, allocated together ---
 * A decoder builds a document's strings, keys, records and arrays in a few
 * larger blocks instead of one heap allocation each. The objects keep their
 * own reference counts and every rule above (sharing, copy-on-write,
 * growing a container's items out of its block); a block counts its live
 * objects and is freed with the last of them. So a string kept from a
 * document keeps that document's block (at most TR_VARENA_BLOCK_MAX bytes)
 * alive until it goes, the way 0.11's values borrow the input buffer; and
 * since the block counts are as unsynchronised as the others, the values
 * of one document stay on one thread, like any value. An arena is the
 * decoder's own: used by one call at a time, emptied with tr_varena_done
 * (the objects it handed out live on). Objects too big for a block get
 * their own allocation, so every function below behaves like its plain
 * counterpart (tr_str_alloc, tr_v_rec, tr_v_arr) but for where it puts the
 * object: NULL or -ENOMEM on failure likewise. */
#define TR_VARENA_BLOCK_MAX (64u * 1024u)
/* The largest first block: a bigger document gets blocks of doubling size
 * as it needs them, so one whose bytes are mostly a big string (which gets
 * its own allocation) does not leave a block sized for all of it empty. */
#define TR_VARENA_FIRST_MAX 4096u
struct tr_vblock;
/* A block with room left that the next documents decoded at one place (an
 * onramp instance) go on filling, so a stream of small documents costs an
 * allocation per block, not one per document (0.4 KB and 1.5 KB of values
 * per 100 B and 629 B JSON event: about 20 and 5 to a block). The price:
 * a value kept from one document keeps its whole block, up to
 * TR_VARENA_CARRY_BLOCK bytes instead of that document's own block. Owned
 * by one place, on one thread; tr_varena_carry_drop gives back its count on
 * the block (the objects in it live on). Zeroed: empty. */
#define TR_VARENA_CARRY_BLOCK 8192u
struct tr_varena_carry {
    struct tr_vblock *b;  /* holds one count on it, or NULL */
    size_t used, size;
    /* the block carried before b, one count on it: filled again once its
     * objects are gone (a stream reuses two blocks instead of a malloc and
     * a free every few documents), or NULL */
    struct tr_vblock *spare;
    size_t spare_size;
};
/* Arenas initialised on this thread from now until the next call take up
 * c's block and leave theirs there when done (if it has room left); NULL:
 * none, each arena its own blocks. Returns the carry in use before, for
 * the caller to put back once its decode returned. */
struct tr_varena_carry *tr_varena_use_carry(struct tr_varena_carry *c);
void tr_varena_carry_drop(struct tr_varena_carry *c);

struct tr_varena {
    struct tr_vblock *b;  /* the block being filled (the arena holds one count on it), or NULL */
    size_t used, size;    /* bytes of b in use, and its size */
    size_t next;          /* size of the next block to allocate */
    struct tr_varena_carry *carry;  /* where b goes when done; NULL: freed with its objects */
};
/* first: the size of the first block (allocated at the first use, at
 * least 256 and at most TR_VARENA_FIRST_MAX bytes); a decoder passes an
 * estimate from its input length. */
void tr_varena_init(struct tr_varena *a, size_t first);
/* The same, with the first block sized for a document decoded from
 * input_len bytes: about 3 bytes of values per byte of input (records of
 * short keys, short and long strings, small arrays), so one block usually
 * holds a small document. What every decoder uses. */
void tr_varena_init_for(struct tr_varena *a, size_t input_len);
/* The arena's count on its block goes back (or to the carry it came
 * from). */
void tr_varena_done(struct tr_varena *a);
struct tr_str *tr_varena_str(struct tr_varena *a, size_t len);
/* A document that is one string of len bytes: tr_varena_init(len + 64),
 * tr_varena_str and tr_varena_done in one, taken straight from this
 * thread's carried block when it has room (a stream of lines: the string
 * codec). NULL when out of memory. */
struct tr_str *tr_varena_str_one(size_t len);
/* tr_str_new's counterpart: a copy of the n bytes at p. */
struct tr_str *tr_varena_str_new(struct tr_varena *a, const char *p, size_t n);
int tr_varena_rec(struct tr_varena *a, size_t cap, tr_value *out);
int tr_varena_arr(struct tr_varena *a, size_t cap, tr_value *out);

/* --- comparison --- */
/* Equal bytes. Keys and matched strings are short and often differ only
 * at one end ("app1" / "app2", "id" / "ip"): both ends are looked at
 * before memcmp is called. */
static inline int tr_bytes_eq(const char *a, size_t an, const char *b, size_t bn) {
    if (an != bn) return 0;
    if (an == 0) return 1;
    if (a[0] != b[0] || a[an - 1] != b[an - 1]) return 0;
    return an <= 2 || memcmp(a + 1, b + 1, an - 2) == 0;
}
/* Tremor equality: numbers compare by value across int/uint/float, records
 * by key set regardless of order, arrays element-wise. */
int tr_value_eq(const tr_value *a, const tr_value *b);
/* Total order for sorting (type rank, then value). */
int tr_value_cmp(const tr_value *a, const tr_value *b);
const char *tr_type_name(enum tr_type t);

#endif
