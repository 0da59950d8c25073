/* msgpack.c - 0.11's `msgpack` codec (MessagePack, one value per frame).
 *
 * Values map as 0.11 (rmp-serde into tremor-value) maps them: nil, bool,
 * every integer width (to an integer), float 32 and 64 (to a float), str (to
 * a string; bytes that are not UTF-8 become a binary, as rmp-serde falls
 * back to bytes), bin (to a binary), array, and map with string keys (a
 * non-string key is an error). Ext types and the reserved byte 0xc1 are
 * errors: a tremor value has nothing to hold them. Encoding picks the
 * shortest form as rmp does (positive integers as uint, floats always as
 * float 64). Wire format (big-endian, the spec's):
 *
 *   00-7f pos fixint   80-8f fixmap(n)   90-9f fixarray(n)   a0-bf fixstr(n)
 *   c0 nil  c2/c3 false/true  c4/c5/c6 bin 8/16/32 (len, bytes)
 *   c7/c8/c9 ext 8/16/32   ca/cb float32/64   cc-cf uint8..64   d0-d3 int8..64
 *   d4-d8 fixext 1..16   d9/da/db str 8/16/32   dc/dd array 16/32   de/df map 16/32
 *   e0-ff neg fixint
 *
 * Bounds: a length is checked against the bytes left before anything is
 * allocated (an element takes at least one byte), nesting is bounded by
 * TR_VALUE_MAX_DEPTH, and the frame by TR_CODEC_MAX_FRAME. The decoder
 * recurses at most that deep (each level is a small frame).
 */
#include <errno.h>
#include <string.h>

#include "codec/codec_int.h"

struct rd {
    const unsigned char *p, *start, *end;
    struct tr_diag *d;
    struct tr_varena *va;   /* where the frame's strings and containers go */
};

static int fail(struct rd *r, int rc, const char *what) {
    return tr_diag_set(r->d, rc, NULL, 1, (int)(r->p - r->start) + 1, "msgpack: %s at byte %zu",
                       what, (size_t)(r->p - r->start));
}

static int need(struct rd *r, size_t n) { return (size_t)(r->end - r->p) >= n; }

static uint64_t be(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

/* Reads an n-byte big-endian length after the marker. */
static int len_of(struct rd *r, int n, uint64_t *len) {
    if (!need(r, (size_t)n)) return fail(r, TR_EPARSE, "truncated length");
    *len = be(r->p, n);
    r->p += n;
    return 0;
}

static int value(struct rd *r, uint32_t depth, tr_value *out);

static int str_or_bin(struct rd *r, uint64_t n, int bin, tr_value *out) {
    if (!need(r, n)) return fail(r, TR_EPARSE, "string or binary longer than the frame");
    const char *s = (const char *)r->p;
    r->p += n;
    struct tr_str *o = tr_varena_str_new(r->va, s, (size_t)n);
    if (!o) return -ENOMEM;
    out->type = !bin && tr_utf8_valid(s, (size_t)n) ? TR_STR : TR_BIN;
    out->as.s = o;
    return 0;
}

static int array(struct rd *r, uint64_t n, uint32_t depth, tr_value *out) {
    if (depth >= TR_VALUE_MAX_DEPTH) return fail(r, TR_EDEPTH, "nesting too deep");
    if (!need(r, n)) return fail(r, TR_EPARSE, "array longer than the frame");
    if (tr_varena_arr(r->va, (size_t)n, out)) return -ENOMEM;
    for (uint64_t i = 0; i < n; i++) {
        tr_value item;
        int rc = value(r, depth + 1, &item);
        if (!rc) rc = tr_arr_push(out, item);
        if (rc) {
            tr_value_unref(*out);
            *out = tr_v_null();
            return rc;
        }
    }
    return 0;
}

static int map(struct rd *r, uint64_t n, uint32_t depth, tr_value *out) {
    if (depth >= TR_VALUE_MAX_DEPTH) return fail(r, TR_EDEPTH, "nesting too deep");
    if (n > (uint64_t)(r->end - r->p) / 2) return fail(r, TR_EPARSE, "map longer than the frame");
    if (tr_varena_rec(r->va, (size_t)n, out)) return -ENOMEM;
    for (uint64_t i = 0; i < n; i++) {
        tr_value k = tr_v_null(), v;
        int rc = value(r, depth + 1, &k);
        if (!rc && k.type != TR_STR) rc = fail(r, TR_EPARSE, "map key is not a string");
        if (!rc) rc = value(r, depth + 1, &v);
        if (!rc) {
            rc = tr_rec_set_key(out, k.as.s, v);
            k = tr_v_null();
        }
        tr_value_unref(k);
        if (rc) {
            tr_value_unref(*out);
            *out = tr_v_null();
            return rc;
        }
    }
    return 0;
}

static int value(struct rd *r, uint32_t depth, tr_value *out) {
    *out = tr_v_null();
    if (!need(r, 1)) return fail(r, TR_EPARSE, "truncated value");
    unsigned m = *r->p++;
    uint64_t n;
    int rc;
    if (m <= 0x7f) {
        *out = tr_v_int(m);
        return 0;
    }
    if (m >= 0xe0) {
        *out = tr_v_int((int8_t)m);
        return 0;
    }
    if (m >= 0x80 && m <= 0x8f) return map(r, m & 0x0f, depth, out);
    if (m >= 0x90 && m <= 0x9f) return array(r, m & 0x0f, depth, out);
    if (m >= 0xa0 && m <= 0xbf) return str_or_bin(r, m & 0x1f, 0, out);
    switch (m) {
    case 0xc0: return 0;
    case 0xc2: *out = tr_v_bool(0); return 0;
    case 0xc3: *out = tr_v_bool(1); return 0;
    case 0xc4: case 0xc5: case 0xc6:
        if ((rc = len_of(r, 1 << (m - 0xc4), &n))) return rc;
        return str_or_bin(r, n, 1, out);
    case 0xd9: case 0xda: case 0xdb:
        if ((rc = len_of(r, 1 << (m - 0xd9), &n))) return rc;
        return str_or_bin(r, n, 0, out);
    case 0xdc: case 0xdd:
        if ((rc = len_of(r, m == 0xdc ? 2 : 4, &n))) return rc;
        return array(r, n, depth, out);
    case 0xde: case 0xdf:
        if ((rc = len_of(r, m == 0xde ? 2 : 4, &n))) return rc;
        return map(r, n, depth, out);
    case 0xca: {
        if (!need(r, 4)) return fail(r, TR_EPARSE, "truncated float 32");
        uint32_t b = (uint32_t)be(r->p, 4);
        float f;
        memcpy(&f, &b, 4);
        r->p += 4;
        *out = tr_v_float(f);
        return 0;
    }
    case 0xcb: {
        if (!need(r, 8)) return fail(r, TR_EPARSE, "truncated float 64");
        uint64_t b = be(r->p, 8);
        double f;
        memcpy(&f, &b, 8);
        r->p += 8;
        *out = tr_v_float(f);
        return 0;
    }
    case 0xcc: case 0xcd: case 0xce: case 0xcf: {
        int w = 1 << (m - 0xcc);
        if (!need(r, (size_t)w)) return fail(r, TR_EPARSE, "truncated integer");
        *out = tr_v_uint(be(r->p, w));
        r->p += w;
        return 0;
    }
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        int w = 1 << (m - 0xd0);
        if (!need(r, (size_t)w)) return fail(r, TR_EPARSE, "truncated integer");
        uint64_t u = be(r->p, w);
        r->p += w;
        int64_t i = w == 1 ? (int8_t)u : w == 2 ? (int16_t)u : w == 4 ? (int32_t)u : (int64_t)u;
        *out = tr_v_int(i);
        return 0;
    }
    default:
        r->p--;
        if (m == 0xc1) return fail(r, TR_EPARSE, "reserved marker 0xc1");
        return fail(r, TR_EPARSE, "ext types are not supported (0.11 has no value for them)");
    }
}

static int mp_decode(const char *data, size_t len, uint64_t ingest_ns, tr_value *out,
                     struct tr_diag *d) {
    (void)ingest_ns;
    *out = tr_v_null();
    struct tr_varena va;
    struct rd r = {(const unsigned char *)data, (const unsigned char *)data,
                   (const unsigned char *)data + len, d, &va};
    if (len > TR_CODEC_MAX_FRAME) return fail(&r, TR_ETOOBIG, "frame too large");
    tr_varena_init_for(&va, len);
    int rc = value(&r, 0, out);
    if (!rc && r.p != r.end) {
        tr_value_unref(*out);
        *out = tr_v_null();
        rc = fail(&r, TR_EPARSE, "trailing bytes after the value");
    }
    tr_varena_done(&va);
    return rc;
}

/* --- encoding --- */

static int put(struct tr_buf *b, unsigned marker, uint64_t v, int w) {
    unsigned char tmp[9];
    tmp[0] = (unsigned char)marker;
    for (int i = 0; i < w; i++) tmp[1 + i] = (unsigned char)(v >> (8 * (w - 1 - i)));
    return tr_buf_append(b, tmp, (size_t)w + 1);
}

static int put_uint(struct tr_buf *b, uint64_t u) {
    if (u <= 0x7f) return tr_buf_putc(b, (char)u);
    if (u <= 0xff) return put(b, 0xcc, u, 1);
    if (u <= 0xffff) return put(b, 0xcd, u, 2);
    if (u <= 0xffffffffu) return put(b, 0xce, u, 4);
    return put(b, 0xcf, u, 8);
}

static int put_int(struct tr_buf *b, int64_t i) {
    if (i >= 0) return put_uint(b, (uint64_t)i);
    if (i >= -32) return tr_buf_putc(b, (char)(uint8_t)i);
    if (i >= INT8_MIN) return put(b, 0xd0, (uint64_t)i, 1);
    if (i >= INT16_MIN) return put(b, 0xd1, (uint64_t)i, 2);
    if (i >= INT32_MIN) return put(b, 0xd2, (uint64_t)i, 4);
    return put(b, 0xd3, (uint64_t)i, 8);
}

/* Length header: fixed form when n < fixmax, else the 8/16/32-bit markers m8/m16/m32 (m8 0 = none). */
static int put_len(struct tr_buf *b, uint32_t n, unsigned fix, uint32_t fixmax, unsigned m8,
                   unsigned m16, unsigned m32) {
    if (n < fixmax) return tr_buf_putc(b, (char)(fix | n));
    if (m8 && n <= 0xff) return put(b, m8, n, 1);
    if (n <= 0xffff) return put(b, m16, n, 2);
    return put(b, m32, n, 4);
}

static int enc(const tr_value *v, struct tr_buf *b) {
    int rc;
    switch (v->type) {
    case TR_NULL: return tr_buf_putc(b, (char)0xc0);
    case TR_BOOL: return tr_buf_putc(b, (char)(v->as.b ? 0xc3 : 0xc2));
    case TR_I64: return put_int(b, v->as.i);
    case TR_U64: return put_uint(b, v->as.u);
    case TR_F64: {
        uint64_t bits;
        memcpy(&bits, &v->as.f, 8);
        return put(b, 0xcb, bits, 8);
    }
    case TR_STR:
        if ((rc = put_len(b, v->as.s->len, 0xa0, 32, 0xd9, 0xda, 0xdb))) return rc;
        return tr_buf_append(b, v->as.s->data, v->as.s->len);
    case TR_BIN:
        if ((rc = put_len(b, v->as.s->len, 0, 0, 0xc4, 0xc5, 0xc6))) return rc;
        return tr_buf_append(b, v->as.s->data, v->as.s->len);
    case TR_ARR:
        if ((rc = put_len(b, tr_arr_len(v), 0x90, 16, 0, 0xdc, 0xdd))) return rc;
        for (uint32_t i = 0; i < tr_arr_len(v); i++)
            if ((rc = enc(tr_arr_at(v, i), b))) return rc;
        return 0;
    case TR_REC:
        if ((rc = put_len(b, tr_rec_len(v), 0x80, 16, 0, 0xde, 0xdf))) return rc;
        for (uint32_t i = 0; i < tr_rec_len(v); i++) {
            struct tr_field *f = tr_rec_at(v, i);
            if ((rc = put_len(b, f->key->len, 0xa0, 32, 0xd9, 0xda, 0xdb)) ||
                (rc = tr_buf_append(b, f->key->data, f->key->len)) || (rc = enc(&f->val, b)))
                return rc;
        }
        return 0;
    }
    return TR_EINVAL_CFG;
}

static int mp_encode(const tr_value *v, struct tr_buf *out) {
    size_t mark = out->len;
    int rc = enc(v, out);
    if (rc) tr_buf_truncate(out, mark);
    return rc;
}

const struct tr_codec tr_codec_msgpack = {
    .name = "msgpack", .decode = mp_decode, .encode = mp_encode, .view = NULL, .off_loop = true,
};
