/* extract_influx.c - the `influx` tilde extractor: one line of InfluxDB line
 * protocol read exactly as Tremor 0.11's tremor-influx 0.3.2 decoder reads
 * it, quirks included, into {measurement, tags, fields, timestamp}.
 *
 * Escapes, as that decoder has them: in the measurement, tag keys, tag
 * values, field keys and "string" field values a backslash before one of
 * that token's own delimiters or before another backslash is dropped; a
 * backslash before anything else is kept with the character (so
 * "hot\cold" stays hot\cold). Delimiters: measurement , and space; tag key
 * = , and space; tag value , and space; field key =; string value ". In
 * unquoted field values a backslash is always dropped, and the decoder
 * then loses its place (0.11 rejects such lines; so does this file).
 * Every token must end at one of its delimiters: a line that stops inside
 * one is not a match. Byte offsets follow the decoder's arithmetic,
 * including where it wraps, so the same lines fail. Blank lines and
 * #-comments are no match. It decodes; it does not encode.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "lang/extract_int.h"

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

/* A decimal float: [+-]digits[.digits][e[+-]digits] (digits on at least
 * one side of the point), or NaN / inf / infinity. */
static int parse_f64(const char *s, size_t n, double *out) {
    char buf[512];
    if (!n || n >= sizeof buf) return FAIL;
    memcpy(buf, s, n);
    buf[n] = 0;
    const char *q = buf;
    if (*q == '+' || *q == '-') q++;
    if (!strcasecmp(q, "nan") || !strcasecmp(q, "inf") || !strcasecmp(q, "infinity")) {
        *out = strtod(buf, NULL);
        return 0;
    }
    size_t d1 = strspn(q, "0123456789");
    q += d1;
    size_t d2 = 0;
    if (*q == '.') {
        q++;
        d2 = strspn(q, "0123456789");
        q += d2;
    }
    if (!d1 && !d2) return FAIL;
    if (*q == 'e' || *q == 'E') {
        q++;
        if (*q == '+' || *q == '-') q++;
        size_t d3 = strspn(q, "0123456789");
        if (!d3) return FAIL;
        q += d3;
    }
    if (*q) return FAIL;
    *out = strtod(buf, NULL);
    return 0;
}

/* An unquoted field value: booleans, 12i integers, floats. */
static int to_value(const char *s, size_t n, tr_value *out) {
    static const char *const yes[] = {"t", "T", "true", "True", "TRUE"}, *const no[] = {"f", "F", "false", "False", "FALSE"};
    for (int i = 0; i < 5; i++) {
        if (strlen(yes[i]) == n && !memcmp(yes[i], s, n)) {
            *out = tr_v_bool(1);
            return 0;
        }
        if (strlen(no[i]) == n && !memcmp(no[i], s, n)) {
            *out = tr_v_bool(0);
            return 0;
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
    if (parse_f64(s, n, &d)) return FAIL;
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
        char term;
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

static int white(uint32_t c) {
    return (c >= 9 && c <= 13) || c == ' ' || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Length of the UTF-8 character at s[0..n) with its code point, 0 if malformed. */
static size_t dec(const unsigned char *s, size_t n, uint32_t *c) {
    if (!n) return 0;
    if (s[0] < 0x80) return *c = s[0], 1;
    size_t l = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0;
    if (!l || l > n) return 0;
    uint32_t v = s[0] & (0x7F >> l);
    for (size_t i = 1; i < l; i++) v = v << 6 | (s[i] & 0x3F);
    *c = v;
    return l;
}

/* Rust's str::trim: Unicode white space off both ends. */
static struct sl trim(struct sl s) {
    uint32_t c;
    size_t l;
    while (s.n && (l = dec((const unsigned char *)s.p, s.n, &c)) && white(c)) s.p += l, s.n -= l;
    while (s.n) {
        size_t st = s.n - 1;
        while (st && ((unsigned char)s.p[st] & 0xC0) == 0x80) st--;
        if (!(l = dec((const unsigned char *)s.p + st, s.n - st, &c)) || !white(c)) break;
        s.n = st;
    }
    return s;
}

int tr_influx_decode(const struct tr_str *s, uint64_t ingest_ns, tr_value *out) {
    struct sl d = trim((struct sl){s->data, s->len});
    if (d.n == 0 || d.p[0] == '#') return 0;
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
        return rc < 0 ? rc : 0;
    }
    *out = rec;
    return 1;
}
