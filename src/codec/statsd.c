/* statsd.c - 0.11's `statsd` codec: one StatsD line <-> a record.
 *
 *   metric:value|type[|@sample_rate]      type: c, ms, g, s, h
 *
 * decodes to {metric, [action], type, [sample_rate], value} in that order.
 * value is a float when it has a '.', else an integer. For a gauge (g) a
 * leading '+' gives action "add" and '-' gives action "sub" with the value
 * negated back to its magnitude; for other types the sign stays in the
 * value. Encoding writes the same line (JSON number text, as 0.11), the
 * sign back from action for gauges. No size bound beyond the frame's.
 */
#include <errno.h>
#include <string.h>

#include "codec/codec_int.h"
#include "codec/json.h"

static int invalid(struct tr_diag *d, const char *start, const char *at) {
    return tr_diag_set(d, TR_EPARSE, NULL, 1, (int)(at - start) + 1,
                       "statsd: invalid statsd metric at byte %zu", (size_t)(at - start));
}

/* Rust's i64::from_str: [+-]?digits. */
static int parse_i64(const char *s, size_t n, int64_t *out) {
    size_t i = 0;
    int neg = 0;
    if (n && (s[0] == '+' || s[0] == '-')) neg = s[0] == '-', i++;
    if (i == n) return -1;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        unsigned dg = (unsigned)(s[i] - '0');
        if (v > (lim - dg) / 10) return -1;
        v = v * 10 + dg;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int sd_decode(const char *data, size_t len, uint64_t ingest_ns, tr_value *out,
                     struct tr_diag *d) {
    (void)ingest_ns;
    *out = tr_v_null();
    const char *end = data + len, *p = memchr(data, ':', len);
    if (!p || !tr_utf8_valid(data, (size_t)(p - data))) return invalid(d, data, p ? data : end);
    const char *vs = ++p;
    int is_float = 0;
    while (p < end && *p != '|') is_float |= *p++ == '.';
    if (p >= end || !tr_utf8_valid(vs, (size_t)(p - vs))) return invalid(d, data, p);
    tr_value val;
    if (is_float) {
        double f;
        int rc = tr_codec_f64(vs, (size_t)(p - vs), &f);
        if (rc) return rc == -ENOMEM ? rc : invalid(d, data, vs);
        val = tr_v_float(f);
    } else {
        int64_t i;
        if (parse_i64(vs, (size_t)(p - vs), &i)) return invalid(d, data, vs);
        val = tr_v_int(i);
    }
    p++;
    const char *type = p, *action = NULL;
    size_t tlen = 1;
    if (p < end && (*p == 'c' || *p == 'h' || *p == 's')) {
        p++;
    } else if (p + 1 < end && p[0] == 'm' && p[1] == 's') {
        p += 2, tlen = 2;
    } else if (p < end && *p == 'g') {
        p++;
        if (*vs == '+') action = "add";
        if (*vs == '-') {
            action = "sub";
            val = val.type == TR_I64 ? tr_v_int((int64_t)(0 - (uint64_t)val.as.i)) : tr_v_float(-val.as.f);
        }
    } else {
        return invalid(d, data, p);
    }
    int has_rate = 0;
    double rate = 0;
    if (p < end) {
        if (*p != '|' || p + 1 >= end || p[1] != '@') return invalid(d, data, p);
        p += 2;
        int rc = tr_codec_f64(p, (size_t)(end - p), &rate);
        if (rc) return rc == -ENOMEM ? rc : invalid(d, data, p);
        has_rate = 1;
    }
    tr_value rec, v;
    int rc = tr_v_rec(5, &rec);
    if (!rc) rc = tr_v_str(data, (size_t)(vs - 1 - data), &v);
    if (!rc) rc = tr_rec_set(&rec, "metric", 6, v);
    if (!rc && action && !(rc = tr_v_cstr(action, &v))) rc = tr_rec_set(&rec, "action", 6, v);
    if (!rc && !(rc = tr_v_str(type, tlen, &v))) rc = tr_rec_set(&rec, "type", 4, v);
    if (!rc && has_rate) rc = tr_rec_set(&rec, "sample_rate", 11, tr_v_float(rate));
    if (!rc) rc = tr_rec_set(&rec, "value", 5, val);
    if (rc) {
        tr_value_unref(rec);
        return rc;
    }
    *out = rec;
    return 0;
}

static int is_num(const tr_value *v) { return v && (v->type == TR_I64 || v->type == TR_U64 || v->type == TR_F64); }

static int enc(const tr_value *v, struct tr_buf *b) {
    if (v->type != TR_REC) return TR_EINVAL_CFG;
    const tr_value *m = tr_rec_get_cstr(v, "metric"), *t = tr_rec_get_cstr(v, "type");
    const tr_value *val = tr_rec_get_cstr(v, "value"), *a = tr_rec_get_cstr(v, "action");
    const tr_value *sr = tr_rec_get_cstr(v, "sample_rate");
    if (!m || m->type != TR_STR || !t || t->type != TR_STR || !is_num(val)) return TR_EINVAL_CFG;
    if (sr && !is_num(sr)) return TR_EINVAL_CFG;
    int rc;
    if ((rc = tr_buf_append(b, m->as.s->data, m->as.s->len)) || (rc = tr_buf_putc(b, ':'))) return rc;
    if (t->as.s->len == 1 && t->as.s->data[0] == 'g' && a && a->type == TR_STR) {
        if (!strcmp(a->as.s->data, "add") && (rc = tr_buf_putc(b, '+'))) return rc;
        if (!strcmp(a->as.s->data, "sub") && (rc = tr_buf_putc(b, '-'))) return rc;
    }
    if ((rc = tr_json_encode(val, b)) || (rc = tr_buf_putc(b, '|')) ||
        (rc = tr_buf_append(b, t->as.s->data, t->as.s->len)))
        return rc;
    if (sr && ((rc = tr_buf_append(b, "|@", 2)) || (rc = tr_json_encode(sr, b)))) return rc;
    return 0;
}

static int sd_encode(const tr_value *v, struct tr_buf *out) {
    size_t mark = out->len;
    int rc = enc(v, out);
    if (rc) tr_buf_truncate(out, mark);
    return rc;
}

const struct tr_codec tr_codec_statsd = {
    .name = "statsd", .decode = sd_decode, .encode = sd_encode, .view = NULL,
};
