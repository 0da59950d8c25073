/* extract_influx.c - the `influx` tilde extractor: InfluxDB line protocol.
 *
 * `measurement[,tag=v...] field=v[,field=v...] [timestamp]` becomes
 * {measurement, tags, fields, timestamp}. Field values: "quoted" strings,
 * 12i integers, t/f/true/false booleans, anything else a float. Backslash
 * escapes the next character in names and tag values. Without a timestamp
 * the caller's ingest_ns is used. It decodes one line; it does not encode.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "lang/extract_int.h"

struct cur {
    const char *p, *end;
};

/* An escaped token up to one of stops (or the end); 0, 1 when empty/bad, -ENOMEM. */
static int token(struct cur *c, const char *stops, struct tr_buf *b) {
    b->len = 0;
    while (c->p < c->end && !strchr(stops, *c->p)) {
        if (*c->p == '\\' && c->p + 1 < c->end) c->p++;
        if (tr_buf_putc(b, *c->p++)) return -ENOMEM;
    }
    return b->len == 0;
}

static int field_value(struct cur *c, tr_value *out) {
    if (c->p < c->end && *c->p == '"') {
        struct tr_buf b;
        tr_buf_init(&b);
        c->p++;
        while (c->p < c->end && *c->p != '"') {
            if (*c->p == '\\' && c->p + 1 < c->end) c->p++;
            if (tr_buf_putc(&b, *c->p++)) {
                tr_buf_fini(&b);
                return -ENOMEM;
            }
        }
        if (c->p >= c->end) {
            tr_buf_fini(&b);
            return 1;
        }
        c->p++;
        int rc = tr_v_str(b.data ? b.data : "", b.len, out);
        tr_buf_fini(&b);
        return rc ? -ENOMEM : 0;
    }
    const char *s = c->p;
    while (c->p < c->end && *c->p != ',' && *c->p != ' ') c->p++;
    size_t n = (size_t)(c->p - s);
    char buf[64];
    if (n == 0 || n >= sizeof buf) return 1;
    memcpy(buf, s, n);
    buf[n] = 0;
    if (!strcmp(buf, "t") || !strcmp(buf, "T") || !strcmp(buf, "true") || !strcmp(buf, "True") ||
        !strcmp(buf, "TRUE")) {
        *out = tr_v_bool(1);
        return 0;
    }
    if (!strcmp(buf, "f") || !strcmp(buf, "F") || !strcmp(buf, "false") || !strcmp(buf, "False") ||
        !strcmp(buf, "FALSE")) {
        *out = tr_v_bool(0);
        return 0;
    }
    char *e;
    errno = 0;
    if (buf[n - 1] == 'i') {
        buf[n - 1] = 0;
        long long v = strtoll(buf, &e, 10);
        if (*e || e == buf || errno) return 1;
        *out = tr_v_int(v);
        return 0;
    }
    double d = strtod(buf, &e);
    if (*e || e == buf) return 1;
    *out = tr_v_float(d);
    return 0;
}

/* Pairs k=v separated by commas into rec, ending at a space or the end. */
static int pairs(struct cur *c, tr_value *rec, int fields, struct tr_buf *b) {
    for (;;) {
        int rc = token(c, "=, ", b);
        if (rc) return rc;
        if (c->p >= c->end || *c->p != '=') return 1;
        c->p++;
        tr_value v;
        if (fields) {
            rc = field_value(c, &v);
        } else {
            struct tr_buf vb;
            tr_buf_init(&vb);
            rc = token(c, ", ", &vb);
            if (!rc) rc = tr_v_str(vb.data, vb.len, &v) ? -ENOMEM : 0;
            tr_buf_fini(&vb);
        }
        if (rc) return rc;
        if (tr_rec_set(rec, b->data, b->len, v)) return -ENOMEM;
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        return 0;
    }
}

int tr_influx_decode(const struct tr_str *s, uint64_t ingest_ns, tr_value *out) {
    struct cur c = {s->data, s->data + s->len};
    struct tr_buf b;
    tr_buf_init(&b);
    tr_value rec, tags, fields;
    int rc = tr_v_rec(4, &rec);
    if (rc) return -ENOMEM;
    tags = fields = tr_v_null();
    if ((rc = token(&c, ", ", &b))) goto out;
    tr_value m;
    if (tr_v_str(b.data, b.len, &m) || tr_rec_set(&rec, "measurement", 11, m)) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = tr_v_rec(4, &tags)) || (rc = tr_v_rec(4, &fields))) goto out;
    if (c.p < c.end && *c.p == ',') {
        c.p++;
        if ((rc = pairs(&c, &tags, 0, &b))) goto out;
    }
    if (c.p >= c.end || *c.p != ' ') {
        rc = 1;
        goto out;
    }
    c.p++;
    if ((rc = pairs(&c, &fields, 1, &b))) goto out;
    tr_value ts = tr_v_uint(ingest_ns);
    if (c.p < c.end && *c.p == ' ') {
        c.p++;
        char buf[32];
        size_t n = (size_t)(c.end - c.p);
        if (n == 0 || n >= sizeof buf) {
            rc = 1;
            goto out;
        }
        memcpy(buf, c.p, n);
        buf[n] = 0;
        char *e;
        errno = 0;
        long long v = strtoll(buf, &e, 10);
        if (*e || errno) {
            rc = 1;
            goto out;
        }
        ts = tr_v_int(v);
        c.p = c.end;
    }
    if (c.p != c.end) {
        rc = 1;
        goto out;
    }
    rc = tr_rec_set(&rec, "tags", 4, tags);
    tags = tr_v_null();
    if (!rc) rc = tr_rec_set(&rec, "fields", 6, fields);
    fields = tr_v_null();
    if (!rc) rc = tr_rec_set(&rec, "timestamp", 9, ts);
    if (rc) rc = -ENOMEM;
out:
    tr_buf_fini(&b);
    tr_value_unref(tags);
    tr_value_unref(fields);
    if (rc) {
        tr_value_unref(rec);
        return rc < 0 ? rc : 0;
    }
    *out = rec;
    return 1;
}
