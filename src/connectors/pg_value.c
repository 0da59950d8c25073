/* pg_value.c - PostgreSQL text values <-> 0.11's field records, INSERT
 * building and 0.11's time format. See pg_value.h; no I/O here. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "connectors/pg_value.h"
#include "core/alloc.h"

static const struct {
    const char *name;
    uint32_t oid;
} types[] = {
    {"BOOL", TR_PG_BOOL}, {"CHAR", TR_PG_CHAR}, {"NAME", TR_PG_NAME}, {"INT8", TR_PG_INT8},
    {"INT2", TR_PG_INT2}, {"INT4", TR_PG_INT4}, {"TEXT", TR_PG_TEXT}, {"JSON", TR_PG_JSON},
    {"UNKNOWN", TR_PG_UNKNOWN}, {"VARCHAR", TR_PG_VARCHAR}, {"TIMESTAMP", TR_PG_TIMESTAMP},
    {"TIMESTAMPTZ", TR_PG_TIMESTAMPTZ}, {"JSONB", TR_PG_JSONB},
};
#define NTYPES (sizeof types / sizeof types[0])

/* ------------------------------------------------------------- time */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int digits(const char *s, size_t n, size_t *i, size_t count, int64_t *out) {
    int64_t v = 0;
    for (size_t k = 0; k < count; k++, (*i)++) {
        if (*i >= n || s[*i] < '0' || s[*i] > '9') return -1;
        v = v * 10 + (s[*i] - '0');
    }
    *out = v;
    return 0;
}

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* "YYYY-MM-DD HH:MM:SS[.f{1,9}]" then, unless naive, an offset; naive
 * accepts nothing after the time. */
static int parse_time(const char *s, size_t n, bool naive, int64_t *us) {
    size_t i = 0;
    int64_t y, mo, d, h, mi, se, frac = 0, oh = 0, om = 0;
    if (digits(s, n, &i, 4, &y) || i >= n || s[i++] != '-' || digits(s, n, &i, 2, &mo) ||
        i >= n || s[i++] != '-' || digits(s, n, &i, 2, &d) || i >= n || (s[i] != ' ' && s[i] != 'T'))
        return TR_EPARSE;
    i++;
    if (digits(s, n, &i, 2, &h) || i >= n || s[i++] != ':' || digits(s, n, &i, 2, &mi) ||
        i >= n || s[i++] != ':' || digits(s, n, &i, 2, &se))
        return TR_EPARSE;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && is_leap(y)) || h > 23 ||
        mi > 59 || se > 59)
        return TR_EPARSE;
    if (i < n && s[i] == '.') {
        size_t k = 0;
        i++;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, k++) {
            if (k >= 9) return TR_EPARSE;
            if (k < 6) frac = frac * 10 + (s[i] - '0');
        }
        if (k == 0) return TR_EPARSE;
        for (; k < 6; k++) frac *= 10;
    }
    if (naive) {
        if (i != n) return TR_EPARSE;
    } else {
        if (i < n && s[i] == ' ') i++;
        if (n - i == 3 && memcmp(s + i, "UTC", 3) == 0) {
            i = n;
        } else if (n - i == 1 && s[i] == 'Z') {
            i = n;
        } else {
            if (i >= n || (s[i] != '+' && s[i] != '-')) return TR_EPARSE;
            int sign = s[i++] == '-' ? -1 : 1;
            if (digits(s, n, &i, 2, &oh)) return TR_EPARSE;
            if (i < n && s[i] == ':') i++;
            if (i < n && digits(s, n, &i, 2, &om)) return TR_EPARSE;
            if (i != n || oh > 23 || om > 59) return TR_EPARSE;
            oh *= sign;
            om *= sign;
        }
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - oh * 3600 - om * 60;
    *us = secs * 1000000 + frac;
    return 0;
}

int tr_pg_time_parse(const char *s, size_t n, int64_t *us) { return parse_time(s, n, false, us); }

static int64_t floordiv(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

/* Broken down; false when the year is outside 0..9999. */
static bool split_time(int64_t us, int64_t *y, int *mo, int *d, int *h, int *mi, int *se, int64_t *frac) {
    int64_t secs = floordiv(us, 1000000);
    *frac = us - secs * 1000000;
    int64_t days = floordiv(secs, 86400), rem = secs - days * 86400;
    civil_from_days(days, y, mo, d);
    *h = (int)(rem / 3600);
    *mi = (int)(rem / 60 % 60);
    *se = (int)(rem % 60);
    return *y >= 0 && *y <= 9999;
}

void tr_pg_time_format(int64_t us, char out[TR_PG_TIME_LEN]) {
    int64_t y, frac;
    int mo, d, h, mi, se;
    if (!split_time(us, &y, &mo, &d, &h, &mi, &se, &frac)) {
        /* clamp: a window bound never leaves what PostgreSQL and chrono share */
        if (us < 0) snprintf(out, TR_PG_TIME_LEN, "0000-01-01 00:00:00.000000 +00:00");
        else snprintf(out, TR_PG_TIME_LEN, "9999-12-31 23:59:59.999999 +00:00");
        return;
    }
    snprintf(out, TR_PG_TIME_LEN, "%04d-%02d-%02d %02d:%02d:%02d.%06d +00:00", (int)y, mo, d, h, mi,
             se, (int)frac);
}

/* chrono's Display of a time stamp: the fraction only when not zero, as
 * milliseconds when that is exact, else microseconds. */
static int chrono_string(int64_t us, const char *zone, tr_value *out) {
    int64_t y, frac;
    int mo, d, h, mi, se;
    if (!split_time(us, &y, &mo, &d, &h, &mi, &se, &frac)) return TR_EPARSE;
    char buf[64], fr[16] = "";
    if (frac % 1000 == 0 && frac) snprintf(fr, sizeof fr, ".%03d", (int)(frac / 1000));
    else if (frac) snprintf(fr, sizeof fr, ".%06d", (int)frac);
    int k = snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d%s %s", (int)y, mo, d, h, mi, se,
                     fr, zone);
    return tr_v_str(buf, (size_t)k, out);
}

/* ------------------------------------------------------- rows -> values */

static const char *type_name(uint32_t oid) {
    if (oid == TR_PG_BPCHAR) return "UNKNOWN";   /* 0.11 reads bpchar as nothing it names */
    for (size_t i = 0; i < NTYPES; i++)
        if (types[i].oid == oid) return types[i].name;
    return NULL;
}

static bool parse_int(const char *s, size_t n, int64_t *v) {
    if (n == 0 || n > 20) return false;
    char buf[24];
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    errno = 0;
    long long x = strtoll(buf, &end, 10);
    if (errno || *end || end == buf) return false;
    *v = x;
    return true;
}

int tr_pg_field_to_value(uint32_t oid, const char *name, const char *text, size_t len, bool null,
                         tr_value *out) {
    tr_value rec, v = tr_v_null(), x;
    *out = tr_v_null();
    const char *t = type_name(oid);
    int rc = 0;
    if (!t) t = "UNKNOWN";
    if (null) {
        v = tr_v_null();
    } else if (oid == TR_PG_BOOL && len == 1 && (text[0] == 't' || text[0] == 'f')) {
        v = tr_v_bool(text[0] == 't');
    } else if ((oid == TR_PG_INT2 || oid == TR_PG_INT4 || oid == TR_PG_INT8) &&
               parse_int(text, len, &v.as.i)) {
        v.type = TR_I64;
    } else if (oid == TR_PG_TIMESTAMPTZ || oid == TR_PG_TIMESTAMP) {
        int64_t us;
        rc = parse_time(text, len, oid == TR_PG_TIMESTAMP, &us);
        if (!rc) rc = chrono_string(us, oid == TR_PG_TIMESTAMP ? "UTC" : "+00:00", &v);
        if (rc == TR_EPARSE) {
            t = "UNKNOWN";
            rc = tr_v_str(text, len, &v);
        }
    } else {
        if (oid == TR_PG_BOOL || oid == TR_PG_INT2 || oid == TR_PG_INT4 || oid == TR_PG_INT8)
            t = "UNKNOWN";   /* not what the server should send: keep its text */
        rc = tr_v_str(text, len, &v);
    }
    if (rc) return rc;
    if ((rc = tr_v_rec(3, &rec))) {
        tr_value_unref(v);
        return rc;
    }
    if ((rc = tr_v_cstr(t, &x)) || (rc = tr_rec_set(&rec, "fieldType", 9, x))) goto fail;
    rc = tr_rec_set(&rec, "value", 5, v);
    v = tr_v_null();
    if (rc) goto fail;
    if ((rc = tr_v_cstr(name, &x)) || (rc = tr_rec_set(&rec, "name", 4, x))) goto fail;
    *out = rec;
    return 0;
fail:
    tr_value_unref(v);
    tr_value_unref(rec);
    return rc;
}

/* ------------------------------------------------------ values -> rows */

void tr_pg_insert_init(struct tr_pg_insert *ins) {
    memset(ins, 0, sizeof *ins);
    tr_buf_init(&ins->sql);
    tr_buf_init(&ins->cols);
}

static void clear_params(struct tr_pg_insert *ins) {
    for (uint32_t i = 0; i < ins->n; i++) tr_free(ins->values[i]);
    tr_free(ins->values);
    tr_free(ins->types);
    ins->values = NULL;
    ins->types = NULL;
    ins->n = ins->cap = ins->rows = ins->ncols = 0;
}

void tr_pg_insert_fini(struct tr_pg_insert *ins) {
    clear_params(ins);
    tr_buf_fini(&ins->sql);
    tr_buf_fini(&ins->cols);
}

int tr_pg_quote_ident(const char *s, size_t n, struct tr_buf *out) {
    if (n == 0 || memchr(s, 0, n)) return TR_EINVAL_CFG;
    int rc = tr_buf_putc(out, '"');
    for (size_t i = 0; !rc && i < n; i++) {
        if (s[i] == '"') rc = tr_buf_putc(out, '"');
        if (!rc) rc = tr_buf_putc(out, s[i]);
    }
    if (!rc) rc = tr_buf_putc(out, '"');
    return rc;
}

static int fail(char *err, size_t n, int rc, const char *fmt, const char *a, const char *b) {
    snprintf(err, n, fmt, a, b);
    return rc;
}

static char *print_int(int64_t v) {
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    return tr_strdup(buf);
}

/* The text of one parameter of type oid from v (not null); *text NULL with
 * a message on a mismatch. */
static int param_text(uint32_t oid, const tr_value *v, size_t max_value, const char *name, char **text,
                      char *err, size_t n) {
    *text = NULL;
    switch (oid) {
    case TR_PG_BOOL:
        if (v->type != TR_BOOL) return fail(err, n, TR_EINVAL_CFG, "could not serialize %s into %s", name, "bool");
        *text = tr_strdup(v->as.b ? "t" : "f");
        break;
    case TR_PG_INT2: case TR_PG_INT4: case TR_PG_INT8: {
        int64_t lo = oid == TR_PG_INT2 ? INT16_MIN : oid == TR_PG_INT4 ? INT32_MIN : INT64_MIN;
        int64_t hi = oid == TR_PG_INT2 ? INT16_MAX : oid == TR_PG_INT4 ? INT32_MAX : INT64_MAX;
        if (v->type != TR_I64 || v->as.i < lo || v->as.i > hi)
            return fail(err, n, TR_EINVAL_CFG, "could not serialize %s into %s", name,
                        oid == TR_PG_INT2 ? "i16" : oid == TR_PG_INT4 ? "i32" : "i64");
        *text = print_int(v->as.i);
        break;
    }
    case TR_PG_JSON: case TR_PG_JSONB: {
        if (v->type == TR_STR) {   /* the JSON text itself, as the onramp reads it */
            if (v->as.s->len > max_value) break;
            *text = tr_strndup(v->as.s->data, v->as.s->len);
            break;
        }
        struct tr_buf b;
        tr_buf_init(&b);
        int rc = tr_json_encode(v, &b);
        if (!rc && b.len > max_value) rc = TR_ETOOBIG;
        if (!rc) rc = tr_buf_putc(&b, 0);
        if (rc) {
            tr_buf_fini(&b);
            if (rc == -ENOMEM) return rc;
            return fail(err, n, TR_EINVAL_CFG, "could not serialize %s into %s (too long or not JSON)",
                        name, "json");
        }
        size_t len;
        *text = tr_buf_steal(&b, &len);
        return *text ? 0 : -ENOMEM;
    }
    case TR_PG_TIMESTAMPTZ: case TR_PG_TIMESTAMP: {
        int64_t us;
        char buf[TR_PG_TIME_LEN];
        if (v->type != TR_STR || tr_pg_time_parse(v->as.s->data, v->as.s->len, &us))
            return fail(err, n, TR_EINVAL_CFG, "error parsing %s: not a time stamp (%s)", name,
                        "%Y-%m-%d %H:%M:%S%.6f %:z");
        tr_pg_time_format(us, buf);
        if (oid == TR_PG_TIMESTAMP) buf[26] = 0;   /* naive: 0.11 drops the offset */
        *text = tr_strdup(buf);
        break;
    }
    default:   /* the string types, "char" and UNKNOWN */
        if (v->type != TR_STR) return fail(err, n, TR_EINVAL_CFG, "could not serialize %s into %s", name, "text");
        if (v->as.s->len > max_value) break;
        if (memchr(v->as.s->data, 0, v->as.s->len))
            return fail(err, n, TR_EINVAL_CFG, "could not serialize %s into %s (a NUL byte)", name, "text");
        *text = tr_strndup(v->as.s->data, v->as.s->len);
        break;
    }
    if (!*text && v->type == TR_STR && v->as.s->len > max_value)
        return fail(err, n, TR_ETOOBIG, "value of %s is longer than max_value_bytes%s", name, "");
    return *text ? 0 : -ENOMEM;
}

static int quote_table(const char *table, struct tr_buf *out) {
    const char *dot = strchr(table, '.');
    if (!dot) return tr_pg_quote_ident(table, strlen(table), out);
    int rc = tr_pg_quote_ident(table, (size_t)(dot - table), out);
    if (!rc) rc = tr_buf_putc(out, '.');
    if (!rc) rc = tr_pg_quote_ident(dot + 1, strlen(dot + 1), out);
    return rc;
}

/* The parameters of one row appended to ins (types, values, n) and its
 * quoted column list into cols. On failure ins->n is back where it was. */
static int row_params(struct tr_pg_insert *ins, const tr_value *row, size_t max_value, struct tr_buf *cols,
                      char *err, size_t n) {
    if (row->type != TR_REC) return fail(err, n, TR_EINVAL_CFG, "an event must be a record of columns, not %s%s",
                                         tr_type_name((enum tr_type)row->type), "");
    uint32_t ncols = tr_rec_len(row), base = ins->n;
    if (ncols == 0) return fail(err, n, TR_EINVAL_CFG, "an event must have at least one column%s%s", "", "");
    if (ncols > 1600)   /* PostgreSQL's MaxTupleAttributeNumber */
        return fail(err, n, TR_EINVAL_CFG, "an event has more columns than PostgreSQL allows (1600)%s%s", "", "");
    if (base + ncols > ins->cap) {
        uint32_t cap = ins->cap ? ins->cap : 8;
        while (cap < base + ncols) cap *= 2;
        uint32_t *t = tr_realloc(ins->types, cap * sizeof *t);
        if (!t) return -ENOMEM;
        ins->types = t;
        char **v = tr_realloc(ins->values, cap * sizeof *v);
        if (!v) return -ENOMEM;
        ins->values = v;
        ins->cap = cap;
    }
    int rc = 0;
    tr_buf_reset(cols);
    for (uint32_t i = 0; !rc && i < ncols; i++) {
        struct tr_field *f = tr_rec_at(row, i);
        const char *col = f->key->data;
        const tr_value *ft = NULL, *nm = NULL, *val = NULL;
        if (f->val.type == TR_REC) {
            ft = tr_rec_get(&f->val, "fieldType", 9);
            nm = tr_rec_get(&f->val, "name", 4);
            val = tr_rec_get(&f->val, "value", 5);
        }
        if (!ft || ft->type != TR_STR) {
            rc = fail(err, n, TR_EINVAL_CFG, "could not convert column %s: error getting fieldType%s", col, "");
            break;
        }
        if (!nm || nm->type != TR_STR) {
            rc = fail(err, n, TR_EINVAL_CFG, "could not convert column %s: missing field `name`%s", col, "");
            break;
        }
        if (!val) {
            rc = fail(err, n, TR_EINVAL_CFG, "could not convert column %s: missing field `value`%s", col, "");
            break;
        }
        uint32_t oid = 0;
        for (size_t k = 0; k < NTYPES && !oid; k++)
            if (strcmp(types[k].name, ft->as.s->data) == 0) oid = types[k].oid;
        if (!oid) {
            rc = fail(err, n, TR_EINVAL_CFG, "column %s: fieldType '%s' is not supported", col, ft->as.s->data);
            break;
        }
        ins->types[ins->n] = oid == TR_PG_UNKNOWN ? 0 : oid;
        ins->values[ins->n] = NULL;
        ins->n++;
        if (val->type != TR_NULL) {
            rc = param_text(oid, val, max_value, nm->as.s->data, &ins->values[ins->n - 1], err, n);
            if (rc) break;
        }
        if (i) rc = tr_buf_append(cols, ", ", 2);
        if (!rc) rc = tr_pg_quote_ident(col, f->key->len, cols);
        if (rc == TR_EINVAL_CFG) rc = fail(err, n, rc, "column '%s' is not a valid name%s", col, "");
    }
    if (rc) {
        while (ins->n > base) tr_free(ins->values[--ins->n]);
        if (rc == -ENOMEM) snprintf(err, n, "out of memory");
    }
    return rc;
}

/* ", ($a, $b, ...)" for the row whose parameters start at first. */
static int tuple(struct tr_buf *sql, uint32_t first, uint32_t ncols) {
    int rc = tr_buf_putc(sql, '(');
    for (uint32_t i = 0; !rc && i < ncols; i++) rc = tr_buf_printf(sql, i ? ", $%u" : "$%u", first + i + 1);
    if (!rc) rc = tr_buf_putc(sql, ')');
    return rc;
}

int tr_pg_insert_build(struct tr_pg_insert *ins, const char *table, const tr_value *row,
                       size_t max_value, char *err, size_t n) {
    clear_params(ins);
    tr_buf_reset(&ins->sql);
    int rc = row_params(ins, row, max_value, &ins->cols, err, n);
    if (rc) return rc;
    ins->ncols = ins->n;
    ins->rows = 1;
    rc = tr_buf_append(&ins->sql, "INSERT INTO ", 12);
    if (!rc) rc = quote_table(table, &ins->sql);
    if (rc == TR_EINVAL_CFG) return fail(err, n, rc, "table '%s' is not a valid name%s", table, "");
    if (!rc) rc = tr_buf_append(&ins->sql, " (", 2);
    if (!rc) rc = tr_buf_append(&ins->sql, ins->cols.data, ins->cols.len);
    if (!rc) rc = tr_buf_append(&ins->sql, ") VALUES ", 9);
    if (!rc) rc = tuple(&ins->sql, 0, ins->ncols);
    if (!rc) rc = tr_buf_putc(&ins->sql, 0);
    if (rc == -ENOMEM) snprintf(err, n, "out of memory");
    return rc;
}

int tr_pg_insert_add(struct tr_pg_insert *ins, const tr_value *row, size_t max_value, char *err, size_t n) {
    if (!ins->rows || row->type != TR_REC || tr_rec_len(row) != ins->ncols ||
        ins->n + ins->ncols > TR_PG_MAX_PARAMS || ins->rows >= TR_PG_MAX_ROWS)
        return TR_EUNSUPPORTED;
    struct tr_buf cols;
    tr_buf_init(&cols);
    uint32_t base = ins->n;
    int rc = row_params(ins, row, max_value, &cols, err, n);
    if (!rc && (cols.len != ins->cols.len || memcmp(cols.data, ins->cols.data, cols.len) != 0 ||
                memcmp(ins->types + base, ins->types, ins->ncols * sizeof *ins->types) != 0)) {
        while (ins->n > base) tr_free(ins->values[--ins->n]);
        rc = TR_EUNSUPPORTED;
    }
    tr_buf_fini(&cols);
    if (rc) return rc;
    size_t at = ins->sql.len - 1;   /* before the NUL */
    tr_buf_truncate(&ins->sql, at);
    rc = tr_buf_append(&ins->sql, ", ", 2);
    if (!rc) rc = tuple(&ins->sql, base, ins->ncols);
    if (!rc) rc = tr_buf_putc(&ins->sql, 0);
    if (rc) {
        tr_buf_truncate(&ins->sql, at);
        (void)tr_buf_putc(&ins->sql, 0);   /* fits: it was there */
        while (ins->n > base) tr_free(ins->values[--ins->n]);
        snprintf(err, n, "out of memory");
        return rc;
    }
    ins->rows++;
    return 0;
}
