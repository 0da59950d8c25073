/* binflux.c - 0.11's `binflux` codec: a binary form of an influx record
 * {measurement, tags, fields, timestamp}. Big-endian, byte by byte:
 *
 *   u16 version = 0
 *   str measurement                 str = u16 length, then that many bytes
 *   u64 timestamp
 *   u16 tag count,   then per tag:   str key, str value
 *   u16 field count, then per field: str key, u8 type, payload
 *        type 0 i64 (8 bytes)  1 f64 (8 bytes, IEEE 754)  2 str  3 true  4 false
 *
 * As 0.11: a field of an unknown type is skipped (its key and type byte are
 * read, nothing else) and bytes after the last field are ignored. Unlike
 * 0.11, which reads past the end of a short frame and trusts the bytes of a
 * string to be UTF-8, a truncated frame or a string that is not UTF-8 is an
 * error; and encoding counts only the tags it writes (0.11 counted tags with
 * non-string values too and so wrote records it could not read back).
 */
#include <errno.h>
#include <string.h>

#include "codec/codec_int.h"

enum { T_I64 = 0, T_F64 = 1, T_STR = 2, T_TRUE = 3, T_FALSE = 4 };

struct rd {
    const unsigned char *p, *start, *end;
    struct tr_diag *d;
};

static int bad(struct rd *r, const char *what) {
    return tr_diag_set(r->d, TR_EPARSE, NULL, 1, (int)(r->p - r->start) + 1,
                       "binflux: %s at byte %zu", what, (size_t)(r->p - r->start));
}

static int u(struct rd *r, int w, uint64_t *v) {
    *v = 0;
    if ((size_t)(r->end - r->p) < (size_t)w) return bad(r, "truncated record");
    *v = 0;
    for (int i = 0; i < w; i++) *v = (*v << 8) | *r->p++;
    return 0;
}

static int str(struct rd *r, const char **s, size_t *n) {
    uint64_t l = 0;
    int rc = u(r, 2, &l);
    if (rc) return rc;
    if ((size_t)(r->end - r->p) < l) return bad(r, "string longer than the record");
    *s = (const char *)r->p;
    *n = (size_t)l;
    if (!tr_utf8_valid(*s, *n)) return bad(r, "string is not UTF-8");
    r->p += l;
    return 0;
}

static int bf_decode(const char *data, size_t len, uint64_t ingest_ns, tr_value *out,
                     struct tr_diag *d) {
    (void)ingest_ns;
    *out = tr_v_null();
    struct rd r = {(const unsigned char *)data, (const unsigned char *)data,
                   (const unsigned char *)data + len, d};
    tr_value rec = tr_v_null(), tags = tr_v_null(), fields = tr_v_null(), v;
    uint64_t vsn = 0, ts = 0, cnt = 0;
    const char *s, *k;
    size_t n, kn;
    int rc;
    if ((rc = u(&r, 2, &vsn))) return rc;
    if (vsn != 0) {
        r.p = r.start;
        return bad(&r, "invalid version");
    }
    if ((rc = str(&r, &s, &n)) || (rc = u(&r, 8, &ts))) return rc;
    if ((rc = tr_v_rec(4, &rec)) || (rc = tr_v_str(s, n, &v)) ||
        (rc = tr_rec_set(&rec, "measurement", 11, v)) || (rc = u(&r, 2, &cnt)))
        goto out;
    if ((rc = tr_v_rec((size_t)cnt, &tags))) goto out;
    for (uint64_t i = 0; i < cnt; i++) {
        if ((rc = str(&r, &k, &kn)) || (rc = str(&r, &s, &n)) || (rc = tr_v_str(s, n, &v)) ||
            (rc = tr_rec_set(&tags, k, kn, v)))
            goto out;
    }
    if ((rc = u(&r, 2, &cnt)) || (rc = tr_v_rec((size_t)cnt, &fields))) goto out;
    for (uint64_t i = 0; i < cnt; i++) {
        uint64_t type = 0, bits = 0;
        if ((rc = str(&r, &k, &kn)) || (rc = u(&r, 1, &type))) goto out;
        switch (type) {
        case T_I64:
            if ((rc = u(&r, 8, &bits))) goto out;
            v = tr_v_int((int64_t)bits);
            break;
        case T_F64: {
            if ((rc = u(&r, 8, &bits))) goto out;
            double f;
            memcpy(&f, &bits, 8);
            v = tr_v_float(f);
            break;
        }
        case T_STR:
            if ((rc = str(&r, &s, &n)) || (rc = tr_v_str(s, n, &v))) goto out;
            break;
        case T_TRUE: v = tr_v_bool(1); break;
        case T_FALSE: v = tr_v_bool(0); break;
        default: continue;
        }
        if ((rc = tr_rec_set(&fields, k, kn, v))) goto out;
    }
    rc = tr_rec_set(&rec, "tags", 4, tags);
    tags = tr_v_null();
    if (!rc) rc = tr_rec_set(&rec, "fields", 6, fields);
    fields = tr_v_null();
    if (!rc) rc = tr_rec_set(&rec, "timestamp", 9, tr_v_uint(ts));
out:
    tr_value_unref(tags);
    tr_value_unref(fields);
    if (rc) {
        tr_value_unref(rec);
        return rc;
    }
    *out = rec;
    return 0;
}

static int put(struct tr_buf *b, uint64_t v, int w) {
    unsigned char t[8];
    for (int i = 0; i < w; i++) t[i] = (unsigned char)(v >> (8 * (w - 1 - i)));
    return tr_buf_append(b, t, (size_t)w);
}

static int put_str(struct tr_buf *b, const struct tr_str *s) {
    if (s->len > 0xffff) return TR_EINVAL_CFG;  /* 0.11: "string too long" */
    int rc = put(b, s->len, 2);
    return rc ? rc : tr_buf_append(b, s->data, s->len);
}

static int enc(const tr_value *v, struct tr_buf *b) {
    if (v->type != TR_REC) return TR_EINVAL_CFG;
    const tr_value *m = tr_rec_get_cstr(v, "measurement");
    const tr_value *t = tr_rec_get_cstr(v, "timestamp");
    const tr_value *tags = tr_rec_get_cstr(v, "tags");
    const tr_value *fields = tr_rec_get_cstr(v, "fields");
    if (!m || m->type != TR_STR) return TR_EINVAL_CFG;                     /* measurement missing */
    if (!t || !(t->type == TR_U64 || (t->type == TR_I64 && t->as.i >= 0))) /* timestamp missing */
        return TR_EINVAL_CFG;
    int rc;
    if ((rc = put(b, 0, 2)) || (rc = put_str(b, m->as.s)) ||
        (rc = put(b, t->type == TR_U64 ? t->as.u : (uint64_t)t->as.i, 8)))
        return rc;
    uint32_t ntags = 0;
    if (tags && tags->type == TR_REC)
        for (uint32_t i = 0; i < tr_rec_len(tags); i++) ntags += tr_rec_at(tags, i)->val.type == TR_STR;
    if (ntags > 0xffff) return TR_EINVAL_CFG;  /* too many tags */
    if ((rc = put(b, ntags, 2))) return rc;
    for (uint32_t i = 0; ntags && i < tr_rec_len(tags); i++) {
        const struct tr_field *f = tr_rec_at(tags, i);
        if (f->val.type != TR_STR) continue;
        if ((rc = put_str(b, f->key)) || (rc = put_str(b, f->val.as.s))) return rc;
    }
    uint32_t nf = fields && fields->type == TR_REC ? tr_rec_len(fields) : 0;
    if (nf > 0xffff) return TR_EINVAL_CFG;  /* too many fields */
    if ((rc = put(b, nf, 2))) return rc;
    for (uint32_t i = 0; i < nf; i++) {
        const struct tr_field *f = tr_rec_at(fields, i);
        const tr_value *x = &f->val;
        if ((rc = put_str(b, f->key))) return rc;
        if (x->type == TR_I64) rc = put(b, T_I64, 1) ? -ENOMEM : put(b, (uint64_t)x->as.i, 8);
        else if (x->type == TR_F64) {
            uint64_t bits;
            memcpy(&bits, &x->as.f, 8);
            rc = put(b, T_F64, 1) ? -ENOMEM : put(b, bits, 8);
        } else if (x->type == TR_BOOL) rc = put(b, x->as.b ? T_TRUE : T_FALSE, 1);
        else if (x->type == TR_STR) rc = put(b, T_STR, 1) ? -ENOMEM : put_str(b, x->as.s);
        else rc = TR_EINVAL_CFG;  /* unknown type as influx line value (u64 above i64 too, as 0.11) */
        if (rc) return rc;
    }
    return 0;
}

static int bf_encode(const tr_value *v, struct tr_buf *out) {
    size_t mark = out->len;
    int rc = enc(v, out);
    if (rc) tr_buf_truncate(out, mark);
    return rc;
}

const struct tr_codec tr_codec_binflux = {
    .name = "binflux", .decode = bf_decode, .encode = bf_encode, .view = NULL,
};
