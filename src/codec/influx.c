/* influx.c - InfluxDB line protocol (influx.h) and the `influx` codec.
 *
 * The parser reads a line exactly as Tremor 0.11's tremor-influx 0.3.2
 * decoder does, quirks included. Escapes, as that decoder has them: in the
 * measurement, tag keys, tag values, field keys and "string" field values a
 * backslash before one of that token's own delimiters or before another
 * backslash is dropped; a backslash before anything else is kept with the
 * character (so "hot\cold" stays hot\cold). Delimiters: measurement , and
 * space; tag key = , and space; tag value , and space; field key =; string
 * value ". In unquoted field values a backslash is always dropped, and the
 * decoder then loses its place (0.11 rejects such lines; so does this file).
 * Every token must end at one of its delimiters: a line that stops inside
 * one is not a line. Byte offsets follow the decoder's arithmetic,
 * including where it wraps, so the same lines fail. Text must be UTF-8.
 */
#include "codec/influx.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec_int.h"
#include "codec/json.h"
#include "core/alloc.h"

#define FAIL 1        /* the decoder's Err: the line is no match */

struct sl {           /* a slice of the line */
    const char *p;
    size_t n;
};

static int boundary(struct sl s, size_t i) {
    return i == 0 || i == s.n || (i < s.n && ((unsigned char)s.p[i] & 0xC0) != 0x80);
}

/* s[start..], failing as Rust's str::get does (past the end, mid-character). */
static int rest(struct sl s, size_t start, struct sl *out) {
    if (start > s.n || !boundary(s, start)) return FAIL;
    *out = (struct sl){s.p + start, s.n - start};
    return 0;
}

typedef int (*pred)(char c);
static int p_measure(char c) { return c == ',' || c == ' '; }
static int p_tagkey(char c) { return c == '=' || c == ' ' || c == ','; }
static int p_tagval(char c) { return c == ' ' || c == ','; }
static int p_eq(char c) { return c == '='; }
static int p_quote(char c) { return c == '"'; }
static int p_value(char c) { return c == ',' || c == ' ' || c == '\\'; }

/* First byte index whose (ASCII) character satisfies p or is a backslash
 * when bs; every delimiter is ASCII, so bytes of wider characters never do. */
static int find(struct sl s, pred p, int bs, size_t *idx) {
    for (size_t i = 0; i < s.n; i++)
        if (p(s.p[i]) || (bs && s.p[i] == '\\')) {
            *idx = i;
            return 1;
        }
    return 0;
}

static int starts(struct sl s, char c) { return s.n && s.p[0] == c; }

/* Rust's split_at(s, 1): the first byte when it is a whole character. */
static int first_char(struct sl s, struct sl *one, struct sl *after) {
    if (s.n < 1 || !boundary(s, 1)) return 0;
    *one = (struct sl){s.p, 1};
    *after = (struct sl){s.p + 1, s.n - 1};
    return 1;
}

/* A token up to a delimiter (p) with the escapes of the file comment,
 * into b; *idx is where the decoder believes the delimiter is. */
static int parse_to(struct sl in, pred p, struct tr_buf *b, size_t *idx) {
    tr_buf_reset(b);
    size_t i, off = 0;
    for (;;) {
        if (!find(in, p, 1, &i)) return FAIL;
        if (tr_buf_append(b, in.p, i)) return -ENOMEM;
        off += i;
        in = (struct sl){in.p + i, in.n - i};
        if (!starts(in, '\\')) break;
        in = (struct sl){in.p + 1, in.n - 1};
        if (!(in.n && (p(in.p[0]) || in.p[0] == '\\')) && tr_buf_putc(b, '\\')) return -ENOMEM;
        struct sl one, after;
        if (first_char(in, &one, &after)) {
            if (tr_buf_append(b, one.p, 1)) return -ENOMEM;
            in = after;
        }
        off += 2;
    }
    *idx = off;
    return 0;
}

static int is_digits(const char *s, size_t n) {
    if (!n) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

static int parse_u64(const char *s, size_t n, uint64_t *out) {
    if (n && s[0] == '+') s++, n--;
    if (!is_digits(s, n)) return FAIL;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return FAIL;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* An unquoted field value: booleans, 12i integers, floats. */
static int to_value(const char *s, size_t n, tr_value *out) {
    static const struct {
        const char *s;
        size_t n;
        bool v;
    } words[] = {{"t", 1, 1}, {"T", 1, 1}, {"true", 4, 1}, {"True", 4, 1}, {"TRUE", 4, 1},
                 {"f", 1, 0}, {"F", 1, 0}, {"false", 5, 0}, {"False", 5, 0}, {"FALSE", 5, 0}};
    /* most values are numbers: only these first letters can be a boolean */
    if (n && n <= 5 && (s[0] == 't' || s[0] == 'T' || s[0] == 'f' || s[0] == 'F')) {
        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
            if (words[i].n == n && !memcmp(words[i].s, s, n)) {
                *out = tr_v_bool(words[i].v);
                return 0;
            }
        }
    }
    if (n && s[n - 1] == 'i') {
        uint64_t v;
        if (n >= 2 && s[0] == '-') {
            if (parse_u64(s + 1, n - 2, &v) || s[1] == '+' || v > (uint64_t)INT64_MAX + 1) return FAIL;
            *out = tr_v_int(v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v);
            return 0;
        }
        if (parse_u64(s, n - 1, &v)) return FAIL;
        *out = tr_v_uint(v);
        return 0;
    }
    double d;
    int rc = tr_codec_f64(s, n, &d);
    if (rc) return rc == -ENOMEM ? rc : FAIL;
    *out = tr_v_float(d);
    return 0;
}

/* A field value; *term is the delimiter after it (',' ' ' or 0 for the
 * end) and *idx where the decoder believes that is. */
static int parse_value(struct sl in, tr_value *out, char *term, size_t *idx, struct tr_buf *b) {
    if (starts(in, '"')) {
        struct sl s = {in.p + 1, in.n - 1}, after;
        size_t i;
        int rc = parse_to(s, p_quote, b, &i);
        if (rc) return rc;
        if ((rc = rest(s, i + 1, &after))) return rc;
        if (starts(after, ' ') || starts(after, ',')) {
            *term = after.p[0];
            *idx = i + 2;
        } else if (after.n == 0) {
            *term = 0;
            *idx = i + 1;
        } else {
            return FAIL;
        }
        return tr_v_str(b->data ? b->data : "", b->len, out) ? -ENOMEM : 0;
    }
    if (starts(in, ' ') || in.n == 0) return FAIL;
    size_t i;
    if (!find(in, p_value, 0, &i)) {
        *term = 0;
        *idx = in.n - 1;
        return to_value(in.p, in.n, out);
    }
    if (in.p[i] == ',' || in.p[i] == ' ') {
        *term = in.p[i];
        *idx = i;
        return to_value(in.p, i, out);
    }
    /* a backslash: the rest is read from just after it, counting anew */
    tr_buf_reset(b);
    if (tr_buf_append(b, in.p, i)) return -ENOMEM;
    in = (struct sl){in.p + i + 1, in.n - i - 1};
    size_t off = 0;
    for (;;) {
        if (!find(in, p_value, 0, &i)) {
            if (tr_buf_append(b, in.p, in.n)) return -ENOMEM;
            *term = 0;
            *idx = in.n - 1;   /* wraps on an empty rest, as in 0.11 */
            return to_value(b->data, b->len, out);
        }
        off += i;
        if (tr_buf_append(b, in.p, i)) return -ENOMEM;
        in = (struct sl){in.p + i, in.n - i};
        if (in.p[0] == '\\') {
            struct sl one, after;
            in = (struct sl){in.p + 1, in.n - 1};
            if (!first_char(in, &one, &after)) return FAIL;
            if (tr_buf_append(b, one.p, 1)) return -ENOMEM;
            in = after;
            off += 1;
            continue;
        }
        *term = in.p[0];
        *idx = off;
        return to_value(b->data, b->len, out);
    }
}

static int put_str(tr_value *rec, const struct tr_buf *k, const struct tr_buf *v) {
    tr_value s;
    if (tr_v_str(v->data ? v->data : "", v->len, &s)) return -ENOMEM;
    return tr_rec_set(rec, k->data ? k->data : "", k->len, s) ? -ENOMEM : 0;
}

static int parse_tags(struct sl in, tr_value *rec, size_t *used, struct tr_buf *k, struct tr_buf *v) {
    size_t off = 0, i;
    for (;;) {
        int rc = parse_to(in, p_tagkey, k, &i);
        if (rc) return rc;
        off += i + 1;
        if ((rc = rest(in, i, &in))) return rc;
        if (!starts(in, '=')) return FAIL;
        in = (struct sl){in.p + 1, in.n - 1};
        if ((rc = parse_to(in, p_tagval, v, &i))) return rc;
        off += i;
        if ((rc = rest(in, i, &in))) return rc;
        if ((rc = put_str(rec, k, v))) return rc;
        if (starts(in, ' ')) break;
        if (starts(in, ',')) {
            in = (struct sl){in.p + 1, in.n - 1};
            off += 1;
        } else if (starts(in, '=')) {
            return FAIL;
        }
    }
    *used = off;
    return 0;
}

static int parse_fields(struct sl in, tr_value *rec, size_t *used, struct tr_buf *k, struct tr_buf *b) {
    size_t off = 0, i;
    for (;;) {
        int rc = parse_to(in, p_eq, k, &i);
        if (rc) return rc;
        if ((rc = rest(in, i + 1, &in))) return rc;
        off += i + 1;
        tr_value v;
        char term = 0;  /* set by parse_value on success; gcc -O1 -fsanitize=thread cannot see it */
        if ((rc = parse_value(in, &v, &term, &i, b))) return rc;
        if ((rc = rest(in, i + 1, &in))) {
            tr_value_unref(v);
            return rc;
        }
        off += i + 1;
        if (tr_rec_set(rec, k->data ? k->data : "", k->len, v)) return -ENOMEM;
        if (term != ',') break;
    }
    *used = off;
    return 0;
}

int tr_influx_parse(const char *data, size_t len, uint64_t ingest_ns, tr_value *out,
                    struct tr_diag *d_) {
    *out = tr_v_null();
    if (len > TR_CODEC_MAX_FRAME)
        return tr_diag_set(d_, TR_ETOOBIG, NULL, 1, 1, "influx: line of %zu bytes is too long", len);
    if (!tr_utf8_valid(data, len)) return tr_diag_set(d_, TR_EPARSE, NULL, 1, 1, "influx: not UTF-8");
    tr_codec_trim(&data, &len);
    struct sl d = {data, len};
    if (d.n == 0 || d.p[0] == '#') return TR_CODEC_NOTHING;
    struct tr_buf k, v;
    tr_buf_init(&k);
    tr_buf_init(&v);
    tr_value rec, tags = tr_v_null(), fields = tr_v_null();
    if (tr_v_rec(4, &rec)) return -ENOMEM;
    size_t i;
    int rc = parse_to(d, p_measure, &k, &i);
    if (!rc) {
        tr_value m;
        if (tr_v_str(k.data ? k.data : "", k.len, &m) || tr_rec_set(&rec, "measurement", 11, m)) rc = -ENOMEM;
    }
    if (!rc) rc = rest(d, i, &d);
    if (!rc && (rc = tr_v_rec(4, &tags)) == 0 && (rc = tr_v_rec(4, &fields)) == 0) {
        i = 0;
        if (starts(d, ',')) {
            d = (struct sl){d.p + 1, d.n - 1};
            rc = parse_tags(d, &tags, &i, &k, &v);
        }
    }
    if (!rc) rc = rest(d, i, &d);
    if (!rc && d.n) rc = rest(d, 1, &d);
    if (!rc) rc = parse_fields(d, &fields, &i, &k, &v);
    if (!rc) rc = rest(d, i, &d);
    uint64_t ts = ingest_ns;
    if (!rc && d.n) rc = parse_u64(d.p, d.n, &ts);
    if (!rc) {
        rc = tr_rec_set(&rec, "tags", 4, tags);
        tags = tr_v_null();
        if (!rc) rc = tr_rec_set(&rec, "fields", 6, fields);
        fields = tr_v_null();
        if (!rc) rc = tr_rec_set(&rec, "timestamp", 9, tr_v_uint(ts));
        if (rc) rc = -ENOMEM;
    }
    tr_buf_fini(&k);
    tr_buf_fini(&v);
    tr_value_unref(tags);
    tr_value_unref(fields);
    if (rc) {
        tr_value_unref(rec);
        if (rc < 0) return rc;
        return tr_diag_set(d_, TR_EPARSE, NULL, 1, 1,
                           "influx: not a line of line protocol as tremor-influx reads it");
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

/* The fields of rec sorted by key, into small (room for SMALL_FIELDS) or
 * an allocation (tr_free it when it is not small). A line has a few tags
 * and fields: those are insertion-sorted in place, more go to qsort. */
#define SMALL_FIELDS 16
static int sorted(const tr_value *rec, struct tr_field **small, struct tr_field ***out) {
    uint32_t n = tr_rec_len(rec);
    struct tr_field **f = n <= SMALL_FIELDS ? small : tr_malloc(((size_t)n + 1) * sizeof *f);
    if (!f) return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) f[i] = tr_rec_at(rec, i);
    if (n > SMALL_FIELDS) {
        qsort(f, n, sizeof *f, cmp_field);
    } else {
        for (uint32_t i = 1; i < n; i++) {
            struct tr_field *x = f[i];
            uint32_t j = i;
            for (; j > 0 && cmp_field(&f[j - 1], &x) > 0; j--) f[j] = f[j - 1];
            f[j] = x;
        }
    }
    *out = f;
    return 0;
}

/* s with a backslash before " and \, and in a name or tag value (not
 * quoted) before , space and = too; runs without any are copied whole. */
static int put_escaped(struct tr_buf *b, const char *s, size_t n, bool quoted) {
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c != '"' && c != '\\' && (quoted || (c != ',' && c != ' ' && c != '='))) continue;
        if (tr_buf_append(b, s + run, i - run) || tr_buf_putc(b, '\\')) return -ENOMEM;
        run = i;   /* the byte itself starts the next run */
    }
    return tr_buf_append(b, s + run, n - run) ? -ENOMEM : 0;
}

/* Names and tag values. */
static int esc_key(struct tr_buf *b, const char *s, size_t n) { return put_escaped(b, s, n, false); }

/* String field values, quoted. */
static int esc_str(struct tr_buf *b, const char *s, size_t n) {
    if (tr_buf_putc(b, '"') || put_escaped(b, s, n, true)) return -ENOMEM;
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
    struct tr_field *small[SMALL_FIELDS], **f;
    if ((rc = sorted(tags, small, &f))) return rc;
    for (uint32_t i = 0; i < tr_rec_len(tags) && !rc; i++) {
        if (f[i]->val.type != TR_STR) continue;
        if ((rc = tr_buf_putc(b, ',')) || (rc = esc_key(b, f[i]->key->data, f[i]->key->len)) ||
            (rc = tr_buf_putc(b, '=')))
            break;
        rc = esc_key(b, f[i]->val.as.s->data, f[i]->val.as.s->len);
    }
    if (f != small) tr_free(f);
    if (rc || (rc = tr_buf_putc(b, ' '))) return rc;
    const tr_value *fields = tr_rec_get_cstr(v, "fields");
    if (!fields || fields->type != TR_REC) return why(msg, "influx: invalid field fields");
    if ((rc = sorted(fields, small, &f))) return rc;
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
    if (f != small) tr_free(f);
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
    if (rc) tr_buf_truncate(out, mark);
    return rc;
}

static int influx_decode(const char *data, size_t len, uint64_t ingest_ns, tr_value *out,
                         struct tr_diag *d) {
    return tr_influx_parse(data, len, ingest_ns, out, d);
}

static int influx_encode(const tr_value *v, struct tr_buf *out) { return tr_influx_write(v, out, NULL); }

const struct tr_codec tr_codec_influx = {
    .name = "influx", .decode = influx_decode, .encode = influx_encode, .view = NULL,
};
