/* std_chash.c - tremor::chash: consistent hashing of string keys.
 *
 * jump and jump_with_keys place a key in one of n slots with Lamping and
 * Veach's jump consistent hash, fed by SipHash-1-3 of the key's bytes
 * followed by 0xff (how Rust's Hash feeds a str), so slots agree with
 * Tremor's. sorted_serialize writes a value as JSON with every record's
 * keys in byte order, so equal values hash alike whatever their key order.
 * Pure functions.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "core/alloc.h"
#include "lang/std_int.h"

/* 'tremor\0\0' and '\0\0tremor' read as integers: Tremor's fixed keys */
#define CHASH_K0 8390880576440238080ull
#define CHASH_K1 128034676764530ull

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void sipround(uint64_t v[4]) {
    v[0] += v[1]; v[1] = ROTL(v[1], 13); v[1] ^= v[0]; v[0] = ROTL(v[0], 32);
    v[2] += v[3]; v[3] = ROTL(v[3], 16); v[3] ^= v[2];
    v[0] += v[3]; v[3] = ROTL(v[3], 21); v[3] ^= v[0];
    v[2] += v[1]; v[1] = ROTL(v[1], 17); v[1] ^= v[2]; v[2] = ROTL(v[2], 32);
}

/* SipHash-1-3 of data || 0xff. */
static uint64_t siphash13_str(uint64_t k0, uint64_t k1, const unsigned char *data, size_t len) {
    uint64_t v[4] = {k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull, k0 ^ 0x6c7967656e657261ull,
                     k1 ^ 0x7465646279746573ull};
    size_t total = len + 1;
    unsigned char tail[8];
    size_t i = 0;
    /* whole 8-byte words; the 0xff terminator belongs to the message */
    for (; i + 8 <= total; i += 8) {
        uint64_t m = 0;
        for (int k = 7; k >= 0; k--) m = (m << 8) | (i + (size_t)k < len ? data[i + (size_t)k] : 0xff);
        v[3] ^= m;
        sipround(v);
        v[0] ^= m;
    }
    size_t rest = total - i;
    memset(tail, 0, sizeof tail);
    for (size_t k = 0; k < rest; k++) tail[k] = i + k < len ? data[i + k] : 0xff;
    uint64_t m = (uint64_t)(total & 0xff) << 56;
    for (size_t k = 0; k < rest; k++) m |= (uint64_t)tail[k] << (8 * k);
    v[3] ^= m;
    sipround(v);
    v[0] ^= m;
    v[2] ^= 0xff;
    sipround(v);
    sipround(v);
    sipround(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static int64_t jump(uint64_t h, uint32_t slots) {
    int64_t b = -1, j = 0;
    while (j < (int64_t)slots) {
        b = j;
        h = h * 2862933555777941757ull + 1;
        j = (int64_t)((double)(b + 1) * ((double)(1ull << 31) / (double)((h >> 33) + 1)));
    }
    return b;
}

static int as_u32(const tr_value *v, uint32_t *o) {
    if (v->type != TR_I64 || v->as.i < 0 || v->as.i > (int64_t)UINT32_MAX) return 0;
    *o = (uint32_t)v->as.i;
    return 1;
}

static int as_u64(const tr_value *v, uint64_t *o) {
    if (v->type == TR_I64 && v->as.i >= 0) *o = (uint64_t)v->as.i;
    else if (v->type == TR_U64) *o = v->as.u;
    else return 0;
    return 1;
}

static int jump_default(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)c, (void)n;
    uint32_t slots;
    if (a[0].type != TR_STR || !as_u32(&a[1], &slots)) return TR_FN_BADTYPE;
    uint64_t h = siphash13_str(CHASH_K0, CHASH_K1, (const unsigned char *)a[0].as.s->data, a[0].as.s->len);
    *out = tr_v_int(jump(h, slots));
    return 0;
}

static int jump_with_keys(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)c, (void)n;
    uint64_t k0, k1;
    uint32_t slots;
    if (!as_u64(&a[0], &k0) || !as_u64(&a[1], &k1) || a[2].type != TR_STR || !as_u32(&a[3], &slots))
        return TR_FN_BADTYPE;
    uint64_t h = siphash13_str(k0, k1, (const unsigned char *)a[2].as.s->data, a[2].as.s->len);
    *out = tr_v_int(jump(h, slots));
    return 0;
}

static int by_key(const void *x, const void *y) {
    const struct tr_str *a = (*(const struct tr_field *const *)x)->key, *b = (*(const struct tr_field *const *)y)->key;
    uint32_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->data, b->data, n);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* Scalars, strings and binaries are written by the JSON encoder as they are
 * by json::encode; recursion is bounded by the value depth limit. */
static int sorted(const tr_value *v, struct tr_buf *b) {
    int rc = 0;
    if (v->type == TR_ARR) {
        rc = tr_buf_putc(b, '[');
        for (uint32_t i = 0; i < tr_arr_len(v) && !rc; i++) {
            if (i) rc = tr_buf_putc(b, ',');
            if (!rc) rc = sorted(tr_arr_at(v, i), b);
        }
        return rc ? rc : tr_buf_putc(b, ']');
    }
    if (v->type != TR_REC) return tr_json_encode(v, b);
    uint32_t n = tr_rec_len(v);
    struct tr_field **f = tr_malloc((n ? n : 1) * sizeof *f);
    if (!f) return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) f[i] = tr_rec_at(v, i);
    qsort(f, n, sizeof *f, by_key);
    rc = tr_buf_putc(b, '{');
    for (uint32_t i = 0; i < n && !rc; i++) {
        tr_value k = tr_v_strobj(f[i]->key);
        if (i) rc = tr_buf_putc(b, ',');
        if (!rc) rc = tr_json_encode(&k, b);
        if (!rc) rc = tr_buf_putc(b, ':');
        if (!rc) rc = sorted(&f[i]->val, b);
    }
    tr_free(f);
    return rc ? rc : tr_buf_putc(b, '}');
}

static int sorted_serialize(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)c, (void)n;
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = sorted(&a[0], &b);
    if (!rc) rc = tr_v_str(b.data ? b.data : "", b.len, out);
    tr_buf_fini(&b);
    return rc;
}

const struct tr_fn tr_std_chash[] = {
    {"chash", "jump", 2, 2, 1, jump_default},
    {"chash", "jump_with_keys", 4, 4, 1, jump_with_keys},
    {"chash", "sorted_serialize", 1, 1, 1, sorted_serialize},
    {NULL, NULL, 0, 0, 0, NULL},
};
