/* codec_check.h - helpers shared by the tests/unit/test_codec_*.c programs
 * (header-only, static): expected values written as JSON, a strict value
 * comparison (an integer never equals a float, records compare as sets of
 * keys), decode/encode through the codec table, and a seeded generator of
 * random values for round-trip properties.
 */
#ifndef TR_CODEC_CHECK_H
#define TR_CODEC_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codec/codec.h"
#include "codec/json.h"
#include "core/alloc.h"

static inline tr_value J(const char *json) {
    tr_value v;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_json_decode(json, strlen(json), &v, &d);
    if (rc) fprintf(stderr, "bad expected JSON (%s): %s\n", d.msg, json);
    assert_int_equal(rc, 0);
    return v;
}

static inline int strict_eq(const tr_value *a, const tr_value *b) {
    if (a->type != b->type) return 0;
    switch (a->type) {
    case TR_NULL: return 1;
    case TR_BOOL: return a->as.b == b->as.b;
    case TR_I64: return a->as.i == b->as.i;
    case TR_U64: return a->as.u == b->as.u;
    case TR_F64: return (isnan(a->as.f) && isnan(b->as.f)) || memcmp(&a->as.f, &b->as.f, 8) == 0;
    case TR_STR:
    case TR_BIN: return a->as.s->len == b->as.s->len && !memcmp(a->as.s->data, b->as.s->data, a->as.s->len);
    case TR_ARR:
        if (tr_arr_len(a) != tr_arr_len(b)) return 0;
        for (uint32_t i = 0; i < tr_arr_len(a); i++)
            if (!strict_eq(tr_arr_at(a, i), tr_arr_at(b, i))) return 0;
        return 1;
    case TR_REC:
        if (tr_rec_len(a) != tr_rec_len(b)) return 0;
        for (uint32_t i = 0; i < tr_rec_len(a); i++) {
            const struct tr_field *f = tr_rec_at(a, i);
            const tr_value *o = tr_rec_get(b, f->key->data, f->key->len);
            if (!o || !strict_eq(&f->val, o)) return 0;
        }
        return 1;
    }
    return 0;
}

static inline void show(const char *what, const tr_value *v) {
    struct tr_buf b;
    tr_buf_init(&b);
    tr_json_encode(v, &b);
    fprintf(stderr, "%s: %s\n", what, b.data ? b.data : "(?)");
    tr_buf_fini(&b);
}

/* Asserts that expected and actual are strictly equal, printing both if not. */
static inline void expect_same(const tr_value *expected, const tr_value *actual) {
    if (!strict_eq(expected, actual)) {
        show("expected", expected);
        show("actual  ", actual);
        fail_msg("values differ");
    }
}

static inline int dec(const char *codec, const void *data, size_t len, tr_value *out) {
    const struct tr_codec *c = tr_codec_find(codec);
    assert_non_null(c);
    struct tr_diag d;
    tr_diag_clear(&d);
    return c->decode(data, len, 0, out, &d);
}

/* Decodes data and compares it with the JSON text of what 0.11 expects. */
static inline void expect_decode(const char *codec, const void *data, size_t len, const char *json) {
    tr_value v = tr_v_null(), e = J(json);
    int rc = dec(codec, data, len, &v);
    if (rc) fprintf(stderr, "decode of '%.*s' failed: %d\n", (int)len, (const char *)data, rc);
    assert_int_equal(rc, 0);
    expect_same(&e, &v);
    tr_value_unref(v);
    tr_value_unref(e);
}

/* Encodes v and compares the bytes with what 0.11 writes. */
static inline void expect_encode(const char *codec, const tr_value *v, const void *bytes, size_t len) {
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = tr_codec_find(codec)->encode(v, &b);
    assert_int_equal(rc, 0);
    if (b.len != len || (len && memcmp(b.data, bytes, len))) {
        fprintf(stderr, "expected: '%.*s'\nactual  : '%.*s'\n", (int)len, (const char *)bytes, (int)b.len,
                b.data ? b.data : "");
        fail_msg("encodings differ");
    }
    tr_buf_fini(&b);
}

static inline int enc_rc(const char *codec, const tr_value *v) {
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = tr_codec_find(codec)->encode(v, &b);
    if (rc) assert_int_equal(b.len, 0);
    tr_buf_fini(&b);
    return rc;
}

/* --- JSON's canonical text (tr_json_canonical) --- */

static inline size_t count_keys(const tr_value *v) {
    size_t n = 0;
    if (v->type == TR_ARR)
        for (uint32_t i = 0; i < tr_arr_len(v); i++) n += count_keys(tr_arr_at(v, i));
    if (v->type == TR_REC)
        for (uint32_t i = 0; i < tr_rec_len(v); i++) n += 1 + count_keys(&tr_rec_at(v, i)->val);
    return n;
}

/* tr_json_canonical(x) must say 1 exactly when x decodes and encodes
 * back to itself byte for byte, as long as x is within its bounds (32
 * levels; 128 keys, here counted over the whole document). Returns its
 * answer. */
static inline int canonical_agrees(const char *x, size_t n) {
    int c = tr_json_canonical(x, n), same = 0, bounded = 0, flag = -1;
    tr_value v;
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = tr_json_decode_canon(x, n, &v, &flag, NULL);
    if (rc == 0) {
        same = tr_json_encode(&v, &b) == 0 && b.len == n && memcmp(b.data, x, n) == 0;
        bounded = tr_value_depth(&v) <= 32 && count_keys(&v) <= 128;
        tr_value_unref(v);
    }
    tr_buf_fini(&b);
    if ((c && !same) || (!c && same && bounded))
        fail_msg("tr_json_canonical says %d, the round trip %s: '%.*s'", c, same ? "keeps it" : "changes it",
                 (int)(n < 300 ? n : 300), x);
    /* the decoder's own answer: never yes wrongly; no only for an escape */
    if ((flag && !same) || (!flag && same && !memchr(x, '\\', n)) || (rc && flag))
        fail_msg("tr_json_decode_canon says %d, the round trip %s: '%.*s'", flag, same ? "keeps it" : "changes it",
                 (int)(n < 300 ? n : 300), x);
    return c;
}

/* --- a seeded generator --- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static inline uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A string of up to maxlen characters from alphabet; '\x01' in alphabet
 * stands for the two-byte character U+00E9. */
static inline tr_value gen_str(const char *alphabet, size_t maxlen, size_t minlen) {
    size_t n = minlen + (maxlen > minlen ? rnd() % (maxlen - minlen + 1) : 0), k = strlen(alphabet);
    char buf[512];
    size_t len = 0;
    assert_true(2 * n < sizeof buf);
    for (size_t i = 0; i < n; i++) {
        char c = alphabet[rnd() % k];
        if (c == '\x01') buf[len++] = (char)0xc3, buf[len++] = (char)0xa9;
        else buf[len++] = c;
    }
    tr_value v;
    assert_int_equal(tr_v_str(buf, len, &v), 0);
    return v;
}

static inline double gen_float(void) {
    switch (rnd() % 4) {
    case 0: return (double)(int64_t)rnd() / 1024.0;
    case 1: return ldexp((double)(rnd() >> 11), (int)(rnd() % 200) - 100) * (rnd() & 1 ? 1 : -1);
    case 2: return (double)(rnd() % 1000) / 10.0;
    default: {
        double f;
        uint64_t bits = rnd();
        memcpy(&f, &bits, 8);
        return isfinite(f) ? f : 0.5;
    }
    }
}

static inline int64_t gen_int(void) {
    switch (rnd() % 4) {
    case 0: return (int64_t)(rnd() % 256) - 128;
    case 1: return (int64_t)(rnd() % 70000) - 35000;
    case 2: return (int64_t)(rnd() % 5000000000ull) - 2500000000ll;
    default: return (int64_t)rnd();
    }
}

/* Any value of at most depth levels (binaries when bins). */
static inline tr_value gen_value(int depth, int bins) {
    unsigned kind = (unsigned)(rnd() % (depth > 0 ? 9 : 7));
    tr_value v;
    switch (kind) {
    case 0: return tr_v_null();
    case 1: return tr_v_bool(rnd() & 1);
    case 2: return tr_v_int(gen_int());
    case 3: return rnd() % 8 ? tr_v_int(gen_int()) : tr_v_uint(rnd() | (1ull << 63));
    case 4: return tr_v_float(gen_float());
    case 5: return gen_str("abcxyz ABC019_-.:#\"'\\\n\t{}[],&*!|>%@`~\x01", rnd() % 4 ? 12 : 200, 0);
    case 6:
        if (bins) {
            char b[40];
            size_t n = rnd() % sizeof b;
            for (size_t i = 0; i < n; i++) b[i] = (char)rnd();
            assert_int_equal(tr_v_bin(b, n, &v), 0);
            return v;
        }
        return tr_v_int(gen_int());
    case 7: {
        assert_int_equal(tr_v_arr(0, &v), 0);
        size_t n = rnd() % (rnd() % 8 ? 5 : 40);
        for (size_t i = 0; i < n; i++) assert_int_equal(tr_arr_push(&v, gen_value(depth - 1, bins)), 0);
        return v;
    }
    default: {
        assert_int_equal(tr_v_rec(0, &v), 0);
        size_t n = rnd() % (rnd() % 8 ? 5 : 40);
        for (size_t i = 0; i < n; i++) {
            tr_value k = gen_str("abcdefghijklmnopqrstuvwxyz_ 0123456789", 10, 1);
            assert_int_equal(tr_rec_set(&v, k.as.s->data, k.as.s->len, gen_value(depth - 1, bins)), 0);
            tr_value_unref(k);
        }
        return v;
    }
    }
}

/* decode(encode(v)) must be v, strictly. */
static inline void round_trip(const char *codec, const tr_value *v) {
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = tr_codec_find(codec)->encode(v, &b);
    if (rc) show("cannot encode", v);
    assert_int_equal(rc, 0);
    tr_value w = tr_v_null();
    rc = dec(codec, b.data ? b.data : "", b.len, &w);
    if (rc || !strict_eq(v, &w)) {
        fprintf(stderr, "encoded as: '%.*s' (decode rc %d)\n", (int)b.len, b.data ? b.data : "", rc);
        show("original", v);
        show("read back", &w);
        fail_msg("round trip through %s changed the value", codec);
    }
    tr_value_unref(w);
    tr_buf_fini(&b);
}

#endif
