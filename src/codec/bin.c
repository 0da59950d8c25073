/* bin.c - binary value encoding.
 *
 *   value  := tag payload
 *   tag 0 null | 1 false | 2 true
 *   tag 3 i64  : zigzag uvarint
 *   tag 4 u64  : uvarint
 *   tag 5 f64  : 8 bytes, IEEE-754 bit pattern, little-endian
 *   tag 6 str / 7 bin : uvarint length, bytes
 *   tag 8 arr  : uvarint count, count values
 *   tag 9 rec  : uvarint count, count x (uvarint key length, key bytes, value)
 *   tag 10 json: uvarint length, JSON text in canonical form (TR_RAWJSON;
 *                checked again when read, see tr_json_canonical)
 *   uvarint    : LEB128, at most 10 bytes
 * Decoding checks every length against the bytes left before allocating,
 * and nesting against TR_VALUE_MAX_DEPTH.
 */
#include "codec/bin.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "codec/json.h"

enum { T_NULL, T_FALSE, T_TRUE, T_I64, T_U64, T_F64, T_STR, T_BIN, T_ARR, T_REC, T_JSON };

int tr_bin_put_uvarint(struct tr_buf *out, uint64_t v) {
    if (out->cap - out->len <= 10) {   /* cap 0: len 0, reserves */
        int rc = tr_buf_reserve(out, 10);
        if (rc) return rc;
    }
    out->len += tr_bin_uvarint_at(out->data + out->len, v);
    out->data[out->len] = 0;
    return 0;
}

int tr_bin_get_uvarint_long(const char *data, size_t len, size_t *off, uint64_t *v) {
    uint64_t r = 0;
    for (unsigned shift = 0, i = 0; i < 10; i++, shift += 7) {
        if (*off >= len) return TR_ECORRUPT;
        unsigned char b = (unsigned char)data[(*off)++];
        if (i == 9 && b > 1) return TR_ECORRUPT;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return TR_ECORRUPT;
}

/* The value encoder's cursor: it writes at p and asks the buffer for more
 * only when fewer than the bytes of the next item are left before end, so
 * most items cost one compare; the buffer's len and NUL are set once, at
 * the end. This is the WAL's append path: every event goes through here. */
struct wr {
    struct tr_buf *b;
    char *p, *end;    /* end: the last byte of the buffer, kept for the NUL */
};

static int need(struct wr *w, size_t n) {
    if ((size_t)(w->end - w->p) >= n) return 0;
    w->b->len = (size_t)(w->p - w->b->data);
    int rc = tr_buf_reserve(w->b, n < 256 ? 256 : n);
    if (rc) return rc;
    w->p = w->b->data + w->b->len;
    w->end = w->b->data + w->b->cap - 1;
    return 0;
}

static inline void head(struct wr *w, int tag, uint64_t n) {
    *w->p++ = (char)tag;
    w->p += tr_bin_uvarint_at(w->p, n);
}

/* [tag] uvarint length, bytes (tag -1: none, a record's key); the room
 * is the caller's to have made */
static void put_bytes(struct wr *w, int tag, const char *p, uint32_t n) {
    if (tag >= 0) *w->p++ = (char)tag;
    w->p += tr_bin_uvarint_at(w->p, n);
    memcpy(w->p, p, n);
    w->p += n;
}

static int is_container(const tr_value *v) { return v->type == TR_ARR || v->type == TR_REC; }

/* The most bytes a scalar takes, or a container's head */
static size_t bound(const tr_value *v) {
    switch ((enum tr_type)v->type) {
    case TR_NULL:
    case TR_BOOL: return 1;
    case TR_F64: return 9;
    case TR_STR:
    case TR_BIN:
    case TR_RAWJSON: return 11 + (size_t)v->as.s->len;
    default: return 11;
    }
}

/* A scalar, in room made for it (bound) */
static void put_scalar(struct wr *w, const tr_value *v) {
    switch ((enum tr_type)v->type) {
    case TR_NULL:
    case TR_BOOL: *w->p++ = (char)(v->type == TR_NULL ? T_NULL : v->as.b ? T_TRUE : T_FALSE); return;
    case TR_I64: head(w, T_I64, ((uint64_t)v->as.i << 1) ^ (uint64_t)(v->as.i >> 63)); return;
    case TR_U64: head(w, T_U64, v->as.u); return;
    case TR_F64: {
        uint64_t bits;
        memcpy(&bits, &v->as.f, 8);
        *w->p++ = T_F64;
        for (int i = 0; i < 8; i++) *w->p++ = (char)(unsigned char)(bits >> (8 * i));
        return;
    }
    case TR_STR:
    case TR_BIN: put_bytes(w, v->type == TR_STR ? T_STR : T_BIN, v->as.s->data, v->as.s->len); return;
    case TR_RAWJSON: put_bytes(w, T_JSON, v->as.s->data, v->as.s->len); return;
    case TR_ARR:
    case TR_REC: return;   /* not scalars */
    }
}

/* A container's items (and a record's keys) take one reserve for all of
 * their bounds; only after a nested container, which reserves for its
 * own, is room made again for the rest. */
static int enc(const tr_value *v, struct wr *w, int depth) {
    int rc;
    if (depth > TR_VALUE_MAX_DEPTH) return TR_EDEPTH;
    if (!is_container(v)) {
        if ((rc = need(w, bound(v)))) return rc;
        put_scalar(w, v);
        return 0;
    }
    size_t rest = 11;
    if (v->type == TR_ARR) {
        const struct tr_arr *a = v->as.a;
        /* shared strings can repeat: the sum is checked, not assumed */
        for (uint32_t i = 0; i < a->len; i++)
            if (__builtin_add_overflow(rest, bound(&a->items[i]), &rest)) return -ENOMEM;
        if ((rc = need(w, rest))) return rc;
        head(w, T_ARR, a->len);
        for (uint32_t i = 0; i < a->len; i++) {
            const tr_value *it = &a->items[i];
            rest -= bound(it);
            if (!is_container(it)) {
                put_scalar(w, it);
            } else if ((rc = enc(it, w, depth + 1)) || (rc = need(w, rest))) {
                return rc;
            }
        }
        return 0;
    }
    const struct tr_rec *r = v->as.r;
    for (uint32_t i = 0; i < r->len; i++)
        if (__builtin_add_overflow(rest, 10 + (size_t)r->fields[i].key->len + bound(&r->fields[i].val), &rest))
            return -ENOMEM;
    if ((rc = need(w, rest))) return rc;
    head(w, T_REC, r->len);
    for (uint32_t i = 0; i < r->len; i++) {
        const struct tr_field *f = &r->fields[i];
        rest -= 10 + (size_t)f->key->len + bound(&f->val);
        put_bytes(w, -1, f->key->data, f->key->len);
        if (!is_container(&f->val)) {
            put_scalar(w, &f->val);
        } else if ((rc = enc(&f->val, w, depth + 1)) || (rc = need(w, rest))) {
            return rc;
        }
    }
    return 0;
}

int tr_bin_encode(const tr_value *v, struct tr_buf *out) {
    size_t old = out->len;
    int rc = tr_buf_reserve(out, 64);   /* so the cursor starts inside a buffer */
    if (rc) return rc;
    struct wr w = {out, out->data + out->len, out->data + out->cap - 1};
    rc = enc(v, &w, 0);
    out->len = rc ? old : (size_t)(w.p - out->data);
    out->data[out->len] = 0;
    return rc;
}

int tr_bin_skip_empty_rec(const char *data, size_t len, size_t *off) {
    /* T_REC and the count 0 as a one-byte uvarint: how enc writes {} */
    if (*off > len || len - *off < 2 || data[*off] != T_REC || data[*off + 1] != 0) return 0;
    *off += 2;
    return 1;
}

static int get_len(const char *data, size_t len, size_t *off, uint64_t *n) {
    int rc = tr_bin_get_uvarint(data, len, off, n);
    if (rc) return rc;
    return *n > len - *off ? TR_ECORRUPT : 0;   /* cannot claim more than what is left */
}

/* A string or binary of n bytes at p, from the arena. */
static int dec_str(struct tr_varena *va, int tag, const char *p, size_t n, tr_value *out) {
    struct tr_str *s = tr_varena_str_new(va, p, n);
    if (!s) return -ENOMEM;
    out->type = tag == T_STR ? TR_STR : tag == T_BIN ? TR_BIN : TR_RAWJSON;
    out->as.s = s;
    return 0;
}

static int dec(struct tr_varena *va, const char *data, size_t len, size_t *off, tr_value *out, int depth) {
    *out = tr_v_null();
    if (depth > TR_VALUE_MAX_DEPTH) return TR_EDEPTH;
    if (*off >= len) return TR_ECORRUPT;
    int tag = (unsigned char)data[(*off)++];
    uint64_t n;
    int rc;
    switch (tag) {
    case T_NULL: return 0;
    case T_FALSE: *out = tr_v_bool(0); return 0;
    case T_TRUE: *out = tr_v_bool(1); return 0;
    case T_I64:
        if ((rc = tr_bin_get_uvarint(data, len, off, &n))) return rc;
        *out = tr_v_int((int64_t)((n >> 1) ^ (~(n & 1) + 1)));
        return 0;
    case T_U64:
        if ((rc = tr_bin_get_uvarint(data, len, off, &n))) return rc;
        *out = tr_v_uint(n);
        return 0;
    case T_F64: {
        if (len - *off < 8) return TR_ECORRUPT;
        uint64_t bits = 0;
        for (int i = 0; i < 8; i++) bits |= (uint64_t)(unsigned char)data[*off + (size_t)i] << (8 * i);
        *off += 8;
        double f;
        memcpy(&f, &bits, 8);
        *out = tr_v_float(f);
        return 0;
    }
    case T_STR:
    case T_BIN:
    case T_JSON:
        if ((rc = get_len(data, len, off, &n))) return rc;
        if (n > UINT32_MAX) return TR_ECORRUPT;
        /* undecoded JSON is only ever written canonical and whole: anything
         * else is damage (its decoding would differ from what was taken in,
         * or fail) */
        if (tag == T_JSON && (depth > 0 || !tr_json_canonical(data + *off, (size_t)n))) return TR_ECORRUPT;
        rc = dec_str(va, tag, data + *off, n, out);
        if (!rc) *off += n;
        return rc;
    case T_ARR:
        if ((rc = get_len(data, len, off, &n))) return rc;   /* every item takes >= 1 byte */
        if ((rc = tr_varena_arr(va, n < 4096 ? n : 4096, out))) return rc;
        for (uint64_t i = 0; i < n; i++) {
            tr_value item;
            if ((rc = dec(va, data, len, off, &item, depth + 1)) || (rc = tr_arr_push(out, item))) goto fail;
        }
        return 0;
    case T_REC:
        if ((rc = get_len(data, len, off, &n))) return rc;
        if ((rc = tr_varena_rec(va, n < 4096 ? n : 4096, out))) return rc;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t kl;
            tr_value val;
            if ((rc = get_len(data, len, off, &kl))) goto fail;
            struct tr_str *key = tr_varena_str_new(va, data + *off, kl);
            if (!key) {
                rc = -ENOMEM;
                goto fail;
            }
            *off += kl;
            if ((rc = dec(va, data, len, off, &val, depth + 1))) {
                tr_str_unref(key);
                goto fail;
            }
            if ((rc = tr_rec_set_key(out, key, val))) goto fail;  /* takes key and val */
        }
        return 0;
    default:
        return TR_ECORRUPT;
    }
fail:
    tr_value_unref(*out);
    *out = tr_v_null();
    return rc;
}

/* The value's strings, keys and containers go to arena blocks (value.h),
 * sized by tr_varena_init_for like every decoder's. */
int tr_bin_decode(const char *data, size_t len, size_t *off, tr_value *out) {
    struct tr_varena va;
    size_t rest = *off < len ? len - *off : 0;
    tr_varena_init_for(&va, rest);
    int rc = dec(&va, data, len, off, out, 0);
    tr_varena_done(&va);
    return rc;
}
