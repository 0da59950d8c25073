/* influx.c - InfluxDB line protocol (influx.h) and the `influx` codec.
 *
 * The parser follows tremor-influx 0.11 token by token: each token runs up
 * to the first of its separators that is not escaped, and a token without
 * a separator after it is an error (so a line without fields fails). Where
 * 0.11 mis-counts offsets after an escape inside an unquoted field value
 * (it then reads the rest of the line from the wrong place), this parser
 * rejects the line: such a value is never a number or a boolean anyway.
 * Text must be UTF-8 as in 0.11.
 */
#include "codec/influx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec_int.h"
#include "codec/json.h"
#include "core/alloc.h"

struct cur {
    const char *p, *start, *end;
    struct tr_diag *d;
    struct tr_buf tok;
};

static int bad(struct cur *c, const char *what) {
    return tr_diag_set(c->d, TR_EPARSE, NULL, 1, (int)(c->p - c->start) + 1,
                       "influx: %s at byte %zu", what, (size_t)(c->p - c->start));
}

/* A token up to the first unescaped byte of stops, left at c->p (not
 * consumed); its text in c->tok. 0.11's parse_to. */
static int token(struct cur *c, const char *stops, const char *what) {
    c->tok.len = 0;
    const char *s = c->p;
    for (;;) {
        if (c->p >= c->end) return bad(c, what);
        char ch = *c->p;
        if (ch == '\\') {
            if (tr_buf_append(&c->tok, s, (size_t)(c->p - s))) return -ENOMEM;
            c->p++;
            if (c->p < c->end && *c->p != '\\' && !strchr(stops, *c->p) && tr_buf_putc(&c->tok, '\\'))
                return -ENOMEM;
            if (c->p < c->end && tr_buf_putc(&c->tok, *c->p++)) return -ENOMEM;
            s = c->p;
            continue;
        }
        if (ch && strchr(stops, ch)) break;
        c->p++;
    }
    return tr_buf_append(&c->tok, s, (size_t)(c->p - s)) ? -ENOMEM : 0;
}

static int digits_only(const char *s, size_t n) {
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

static int parse_u64(const char *s, size_t n, uint64_t *u) {
    if (!digits_only(s, n)) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned dg = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - dg) / 10) return -1;
        v = v * 10 + dg;
    }
    *u = v;
    return 0;
}

/* 0.11's to_value: booleans, 12i / -12i integers, else a float. */
static int scalar(struct cur *c, const char *s, size_t n, tr_value *out) {
    static const char *const yes[] = {"t", "T", "true", "True", "TRUE"};
    static const char *const no[] = {"f", "F", "false", "False", "FALSE"};
    for (int i = 0; i < 5; i++) {
        if (strlen(yes[i]) == n && !memcmp(s, yes[i], n)) return *out = tr_v_bool(1), 0;
        if (strlen(no[i]) == n && !memcmp(s, no[i], n)) return *out = tr_v_bool(0), 0;
    }
    if (n > 0 && s[n - 1] == 'i') {
        uint64_t u;
        if (n > 1 && s[0] == '-') {
            if (parse_u64(s + 1, n - 2, &u) || u > (uint64_t)INT64_MAX + 1) return bad(c, "bad integer");
            *out = tr_v_int(u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u);
            return 0;
        }
        if (parse_u64(s, n - 1, &u)) return bad(c, "bad integer");
        *out = tr_v_uint(u);
        return 0;
    }
    double f;
    int rc = tr_codec_f64(s, n, &f);
    if (rc == -ENOMEM) return rc;
    if (rc) return bad(c, "bad float");
    *out = tr_v_float(f);
    return 0;
}

/* One field value, leaving c->p on its separator (',' or ' ') or the end. */
static int field_value(struct cur *c, tr_value *out) {
    if (c->p < c->end && *c->p == '"') {
        c->p++;
        int rc = token(c, "\"", "unterminated string");
        if (rc) return rc;
        c->p++;
        if (c->p < c->end && *c->p != ' ' && *c->p != ',') return bad(c, "trailing character after string");
        return tr_v_str(c->tok.data ? c->tok.data : "", c->tok.len, out);
    }
    if (c->p >= c->end || *c->p == ' ') return bad(c, "missing field value");
    const char *s = c->p;
    while (c->p < c->end && *c->p != ',' && *c->p != ' ') {
        if (*c->p == '\\') return bad(c, "escape in an unquoted field value");
        c->p++;
    }
    return scalar(c, s, (size_t)(c->p - s), out);
}

int tr_influx_parse(const char *data, size_t len, uint64_t ingest_ns, tr_value *out,
                    struct tr_diag *d) {
    *out = tr_v_null();
    const char *s = data;
    size_t n = len;
    struct cur c = {data, data, data + len, d, {NULL, 0, 0}};
    if (len > TR_CODEC_MAX_FRAME)
        return tr_diag_set(d, TR_ETOOBIG, NULL, 1, 1, "influx: line of %zu bytes is too long", len);
    if (!tr_codec_utf8_valid(data, len)) return bad(&c, "not UTF-8");
    tr_codec_trim(&s, &n);
    if (n == 0 || s[0] == '#') return TR_CODEC_NOTHING;
    c.p = s;
    c.end = s + n;
    tr_value rec = tr_v_null(), tags = tr_v_null(), fields = tr_v_null(), v;
    int rc;
    if ((rc = tr_v_rec(4, &rec)) || (rc = tr_v_rec(4, &tags)) || (rc = tr_v_rec(4, &fields))) goto out;
    if ((rc = token(&c, ", ", "measurement without fields"))) goto out;
    if ((rc = tr_v_str(c.tok.data ? c.tok.data : "", c.tok.len, &v)) ||
        (rc = tr_rec_set(&rec, "measurement", 11, v)))
        goto out;
    if (*c.p == ',') {
        c.p++;
        for (;;) {
            if ((rc = token(&c, "= ,", "tag without value"))) goto out;
            if (*c.p != '=') {
                rc = bad(&c, "tag without value");
                goto out;
            }
            c.p++;
            struct tr_str *key = tr_str_new(c.tok.data ? c.tok.data : "", c.tok.len);
            if (!key) {
                rc = -ENOMEM;
                goto out;
            }
            if ((rc = token(&c, " ,", "tags without fields"))) {
                tr_str_unref(key);
                goto out;
            }
            if ((rc = tr_v_str(c.tok.data ? c.tok.data : "", c.tok.len, &v))) {
                tr_str_unref(key);
                goto out;
            }
            if ((rc = tr_rec_set_key(&tags, key, v))) goto out;
            if (*c.p++ == ' ') break;
        }
    } else {
        c.p++;
    }
    for (;;) {
        if ((rc = token(&c, "=", "field without value"))) goto out;
        c.p++;
        struct tr_str *key = tr_str_new(c.tok.data ? c.tok.data : "", c.tok.len);
        if (!key) {
            rc = -ENOMEM;
            goto out;
        }
        if ((rc = field_value(&c, &v))) {
            tr_str_unref(key);
            goto out;
        }
        if ((rc = tr_rec_set_key(&fields, key, v))) goto out;
        if (c.p < c.end && *c.p == ',') {
            c.p++;
            continue;
        }
        if (c.p < c.end) c.p++;
        break;
    }
    uint64_t ts = ingest_ns;
    if (c.p < c.end && parse_u64(c.p, (size_t)(c.end - c.p), &ts)) {
        rc = bad(&c, "bad timestamp");
        goto out;
    }
    rc = tr_rec_set(&rec, "tags", 4, tags);
    tags = tr_v_null();
    if (rc) goto out;
    rc = tr_rec_set(&rec, "fields", 6, fields);
    fields = tr_v_null();
    if (!rc) rc = tr_rec_set(&rec, "timestamp", 9, tr_v_uint(ts));
out:
    tr_buf_fini(&c.tok);
    tr_value_unref(tags);
    tr_value_unref(fields);
    if (rc) {
        tr_value_unref(rec);
        return rc;
    }
    *out = rec;
    return 0;
}

/* --- writing --- */

static int cmp_field(const void *a, const void *b) {
    const struct tr_str *x = (*(const struct tr_field *const *)a)->key;
    const struct tr_str *y = (*(const struct tr_field *const *)b)->key;
    size_t n = x->len < y->len ? x->len : y->len;
    int r = memcmp(x->data, y->data, n);
    return r ? r : (x->len > y->len) - (x->len < y->len);
}

/* The fields of rec sorted by key (tr_free the array). */
static int sorted(const tr_value *rec, struct tr_field ***out) {
    uint32_t n = tr_rec_len(rec);
    struct tr_field **f = tr_malloc(((size_t)n + 1) * sizeof *f);
    if (!f) return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) f[i] = tr_rec_at(rec, i);
    qsort(f, n, sizeof *f, cmp_field);
    *out = f;
    return 0;
}

/* Names and tag values: \ before " \ , space and =. */
static int esc_key(struct tr_buf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if ((ch == '"' || ch == '\\' || ch == ',' || ch == ' ' || ch == '=') && tr_buf_putc(b, '\\'))
            return -ENOMEM;
        if (tr_buf_putc(b, ch)) return -ENOMEM;
    }
    return 0;
}

/* String field values: quoted, \ before " and \. */
static int esc_str(struct tr_buf *b, const char *s, size_t n) {
    if (tr_buf_putc(b, '"')) return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if ((s[i] == '"' || s[i] == '\\') && tr_buf_putc(b, '\\')) return -ENOMEM;
        if (tr_buf_putc(b, s[i])) return -ENOMEM;
    }
    return tr_buf_putc(b, '"');
}

static int why(char *msg, const char *text) {
    if (msg) snprintf(msg, 128, "%s", text);
    return TR_EINVAL_CFG;
}

static int write_line(const tr_value *v, struct tr_buf *b, char *msg) {
    if (v->type != TR_REC) return why(msg, "influx: missing field measurement");
    const tr_value *m = tr_rec_get_cstr(v, "measurement");
    if (!m || m->type != TR_STR) return why(msg, "influx: missing field measurement");
    int rc = esc_key(b, m->as.s->data, m->as.s->len);
    if (rc) return rc;
    const tr_value *tags = tr_rec_get_cstr(v, "tags");
    if (!tags) return why(msg, "influx: missing field tags");
    if (tags->type != TR_REC) return why(msg, "influx: invalid field tags");
    struct tr_field **f;
    if ((rc = sorted(tags, &f))) return rc;
    for (uint32_t i = 0; i < tr_rec_len(tags) && !rc; i++) {
        if (f[i]->val.type != TR_STR) continue;
        if ((rc = tr_buf_putc(b, ',')) || (rc = esc_key(b, f[i]->key->data, f[i]->key->len)) ||
            (rc = tr_buf_putc(b, '=')))
            break;
        rc = esc_key(b, f[i]->val.as.s->data, f[i]->val.as.s->len);
    }
    tr_free(f);
    if (rc || (rc = tr_buf_putc(b, ' '))) return rc;
    const tr_value *fields = tr_rec_get_cstr(v, "fields");
    if (!fields || fields->type != TR_REC) return why(msg, "influx: invalid field fields");
    if ((rc = sorted(fields, &f))) return rc;
    for (uint32_t i = 0; i < tr_rec_len(fields) && !rc; i++) {
        const tr_value *x = &f[i]->val;
        if ((i && (rc = tr_buf_putc(b, ','))) || (rc = esc_key(b, f[i]->key->data, f[i]->key->len)) ||
            (rc = tr_buf_putc(b, '=')))
            break;
        if (x->type == TR_STR) rc = esc_str(b, x->as.s->data, x->as.s->len);
        else if (x->type == TR_F64 || x->type == TR_BOOL) rc = tr_json_encode(x, b);
        else if (x->type == TR_I64 || x->type == TR_U64) {
            if (!(rc = tr_json_encode(x, b))) rc = tr_buf_putc(b, 'i');
        } else {
            if (msg) snprintf(msg, 128, "influx: field %.*s has a value of type %s", (int)f[i]->key->len,
                              f[i]->key->data, tr_type_name(x->type));
            rc = TR_EINVAL_CFG;
        }
    }
    tr_free(f);
    if (rc || (rc = tr_buf_putc(b, ' '))) return rc;
    const tr_value *t = tr_rec_get_cstr(v, "timestamp");
    if (!t) return why(msg, "influx: missing field timestamp");
    if (!(t->type == TR_U64 || (t->type == TR_I64 && t->as.i >= 0)))
        return why(msg, "influx: the timestamp is not an unsigned integer");
    return tr_json_encode(t, b);
}

int tr_influx_write(const tr_value *v, struct tr_buf *out, char *msg) {
    size_t mark = out->len;
    int rc = write_line(v, out, msg);
    if (rc) {
        out->len = mark;
        if (out->data) out->data[mark] = 0;
    }
    return rc;
}

static int influx_decode(const char *data, size_t len, uint64_t ingest_ns, tr_value *out,
                         struct tr_diag *d) {
    return tr_influx_parse(data, len, ingest_ns, out, d);
}

static int influx_encode(const tr_value *v, struct tr_buf *out) { return tr_influx_write(v, out, NULL); }

const struct tr_codec tr_codec_influx = {"influx", influx_decode, influx_encode};
