/* syslog.c - 0.11's `syslog` codec: RFC 5424 and RFC 3164 lines <-> a record
 *
 *   {hostname, severity, facility, timestamp, protocol, protocol_version,
 *    appname, msgid, structured_data, procid, msg}
 *
 * Decoding reads a line as 0.11 does through syslog_loose 0.10: the line is
 * trimmed, tried as RFC 5424, then as RFC 3164 (BSD), and when neither fits
 * the whole untrimmed line becomes msg with every other field null and
 * protocol "RFC3164" (malformed input is never an error, only bytes that
 * are not UTF-8 are). Its quirks are kept: a PRI above 255 is no PRI, an
 * RFC 5424 line needs its structured data (or '-'), a structured-data
 * element that does not parse is skipped, parameter values keep their
 * backslashes, a numeric procid is renumbered ("007" -> "7"), and an RFC
 * 3164 date has the current UTC year (last year for a December date read in
 * January) and is read as UTC. Where 0.11 panics (a day or time that does
 * not exist, a time outside the nanosecond range of an i64) the timestamp
 * simply does not parse here. Bounds: one pass, no recursion, memory linear
 * in the line.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "codec/codec_int.h"
#include "core/alloc.h"
#include "core/error.h"

static const char *const facilities[24] = {
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
    "uucp", "cron", "authpriv", "ftp", "ntp", "audit", "alert", "clockd",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
};
static const char *const severities[8] = {"emerg", "alert", "crit", "err",
                                          "warning", "notice", "info", "debug"};

struct span {
    const char *p;
    size_t n;  /* p NULL = none */
};

struct sd_param {
    struct span name, value;
};

struct sd_elem {
    struct span id;
    size_t first, count;  /* params[first .. first+count) */
};

struct msg {
    int fac, sev;  /* -1 = none */
    int has_ts;
    int64_t ts;
    struct span host, app, procid, msgid, text;
    int rfc5424;
    uint32_t version;
    struct sd_elem *elems;
    size_t nelems, elems_cap;
    struct sd_param *params;
    size_t nparams, params_cap;
};

struct cur {
    const char *p, *end;
};

static size_t left(const struct cur *c) { return (size_t)(c->end - c->p); }
static int is_ws(const struct cur *c) { return tr_codec_ws_front(c->p, left(c)) > 0; }

/* nom's space0 / space1: spaces and tabs. */
static size_t spaces(struct cur *c) {
    const char *s = c->p;
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
    return (size_t)(c->p - s);
}

/* digit1 read as an unsigned number no larger than max; 0 or -1. */
static int digits(struct cur *c, uint64_t max, uint64_t *out) {
    const char *s = c->p;
    uint64_t v = 0;
    int over = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        unsigned d = (unsigned)(*c->p++ - '0');
        if (v > (max - d) / 10) over = 1;
        else v = v * 10 + d;
    }
    if (c->p == s || over) {
        c->p = s;
        return -1;
    }
    *out = v;
    return 0;
}

static int lit(struct cur *c, char ch) {
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 0;
    }
    return -1;
}

/* PRI: <digits> as a u8; anything else is no PRI and consumes nothing. */
static void pri(struct cur *c, struct msg *m) {
    struct cur s = *c;
    uint64_t v;
    m->fac = m->sev = -1;
    if (lit(&s, '<') || digits(&s, 255, &v) || lit(&s, '>')) return;
    *c = s;
    m->fac = (v >> 3) < 24 ? (int)(v >> 3) : -1;
    m->sev = (int)(v & 7);
}

/* take_while1(!whitespace [&& != ':']); "-" is none. -1 when empty. */
static int word(struct cur *c, int colons, struct span *out) {
    const char *s = c->p;
    while (c->p < c->end && !is_ws(c) && (colons || *c->p != ':')) c->p++;
    if (c->p == s) return -1;
    out->p = s;
    out->n = (size_t)(c->p - s);
    if (out->n == 1 && *s == '-') out->p = NULL, out->n = 0;
    return 0;
}

/* --- time --- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int valid_date(int64_t y, uint64_t m, uint64_t d) {
    static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1]) return 0;
    if (m == 2 && d == 29) return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return 1;
}

/* Nanoseconds since the epoch, -1 when outside an i64 (0.11 panics there). */
static int to_ns(int64_t y, uint64_t mo, uint64_t d, uint64_t h, uint64_t mi, uint64_t s,
                 int64_t ns, int64_t offset_s, int64_t *out) {
    if (y < 1600 || y > 2300) return -1;
    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + (int64_t)(h * 3600 + mi * 60 + s) -
                   offset_s;
    if (secs > INT64_MAX / 1000000000 - 2 || secs < INT64_MIN / 1000000000 + 2) return -1;
    __int128 t = (__int128)secs * 1000000000 + ns;
    if (t > INT64_MAX || t < INT64_MIN) return -1;
    *out = (int64_t)t;
    return 0;
}

static int fixed_digits(const char *p, int n, uint64_t *out) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return 0;
}

/* chrono's RFC 3339: YYYY-MM-DD(T|t)HH:MM:SS[.d+](Z|z|(+|-)HH:MM), all of s. */
static int rfc3339(const char *p, size_t n, int64_t *out) {
    uint64_t y, mo, d, h, mi, s, oh, om;
    if (n < 20 || fixed_digits(p, 4, &y) || p[4] != '-' || fixed_digits(p + 5, 2, &mo) || p[7] != '-' ||
        fixed_digits(p + 8, 2, &d) || (p[10] != 'T' && p[10] != 't') || fixed_digits(p + 11, 2, &h) ||
        p[13] != ':' || fixed_digits(p + 14, 2, &mi) || p[16] != ':' || fixed_digits(p + 17, 2, &s))
        return -1;
    size_t i = 19;
    int64_t ns = 0;
    if (i < n && p[i] == '.') {
        size_t k = ++i;
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            if (i - k < 9) ns = ns * 10 + (p[i] - '0');
            i++;
        }
        if (i == k) return -1;
        for (size_t j = i - k; j < 9; j++) ns *= 10;
    }
    int64_t off = 0;
    if (i < n && (p[i] == 'Z' || p[i] == 'z')) {
        i++;
    } else if (i < n && (p[i] == '+' || p[i] == '-')) {
        if (n - i < 6 || fixed_digits(p + i + 1, 2, &oh) || p[i + 3] != ':' ||
            fixed_digits(p + i + 4, 2, &om) || om >= 60)
            return -1;
        off = (int64_t)(oh * 3600 + om * 60);
        if (off >= 86400) return -1;
        if (p[i] == '-') off = -off;
        i += 6;
    } else {
        return -1;
    }
    if (i != n || !valid_date((int64_t)y, mo, d) || h > 23 || mi > 59 || s > 60) return -1;
    if (s == 60) s = 59, ns += 1000000000;
    return to_ns((int64_t)y, mo, d, h, mi, s, ns, off, out);
}

/* take_until(" ") then RFC 3339. */
static int ts3339(struct cur *c, int64_t *out) {
    const char *sp = memchr(c->p, ' ', left(c));
    if (!sp || rfc3339(c->p, (size_t)(sp - c->p), out)) return -1;
    c->p = sp;
    return 0;
}

static int month(struct cur *c, uint64_t *m) {
    static const char *const names = "janfebmaraprmayjunjulaugsepoctnovdec";
    if (left(c) < 3) return -1;
    char lc[3];
    for (int i = 0; i < 3; i++) lc[i] = (char)(c->p[i] >= 'A' && c->p[i] <= 'Z' ? c->p[i] + 32 : c->p[i]);
    for (int i = 0; i < 12; i++)
        if (!memcmp(names + 3 * i, lc, 3)) {
            *m = (uint64_t)i + 1;
            c->p += 3;
            return 0;
        }
    return -1;
}

static int clock_part(struct cur *c, uint64_t *h, uint64_t *mi, uint64_t *s) {
    if (digits(c, UINT32_MAX, h) || lit(c, ':') || digits(c, UINT32_MAX, mi) || lit(c, ':') ||
        digits(c, UINT32_MAX, s))
        return -1;
    lit(c, ':');
    return 0;
}

/* The year 0.11 gives a date without one: this UTC year, or the last one for
 * a December date read in January. */
static int64_t resolve_year(uint64_t mon) {
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    return tm.tm_year + 1900 - (tm.tm_mon == 0 && mon == 12);
}

/* Mmm dd hh:mm:ss[:] | Mmm dd yyyy hh:mm:ss[:] | RFC 3339, all UTC. */
static int ts3164(struct cur *c, int64_t *out) {
    struct cur s = *c;
    uint64_t mo, d, y, h, mi, sec;
    if (!month(&s, &mo) && spaces(&s) && !digits(&s, UINT32_MAX, &d) && spaces(&s) &&
        !clock_part(&s, &h, &mi, &sec)) {
        int64_t yr = resolve_year(mo);
        if (valid_date(yr, mo, d) && h < 24 && mi < 60 && sec < 60 && !to_ns(yr, mo, d, h, mi, sec, 0, 0, out)) {
            *c = s;
            return 0;
        }
        return -1;
    }
    s = *c;
    if (!month(&s, &mo) && spaces(&s) && !digits(&s, UINT32_MAX, &d) && spaces(&s) &&
        !digits(&s, INT32_MAX, &y) && spaces(&s) && !clock_part(&s, &h, &mi, &sec)) {
        if (valid_date((int64_t)y, mo, d) && h < 24 && mi < 60 && sec < 60 &&
            !to_ns((int64_t)y, mo, d, h, mi, sec, 0, 0, out)) {
            *c = s;
            return 0;
        }
        return -1;
    }
    return ts3339(c, out);
}

/* --- structured data --- */

/* "value" with \" \n \\ escapes kept as written; non-empty. */
static int param_value(struct cur *c, struct span *out) {
    struct cur s = *c;
    if (lit(&s, '"')) return -1;
    const char *v = s.p;
    while (s.p < s.end && *s.p != '"') {
        if (*s.p == '\\') {
            if (s.p + 1 >= s.end || !strchr("\"n\\", s.p[1]) || !s.p[1]) return -1;
            s.p += 2;
        } else {
            s.p++;
        }
    }
    if (s.p == v || lit(&s, '"')) return -1;
    out->p = v;
    out->n = (size_t)(s.p - 1 - v);
    *c = s;
    return 0;
}

/* name=[ ]*"value", name up to ']' or '=' (non-empty). */
static int param(struct cur *c, struct sd_param *out) {
    struct cur s = *c;
    const char *n = s.p;
    while (s.p < s.end && *s.p != ']' && *s.p != '=') s.p++;
    if (s.p == n || lit(&s, '=')) return -1;
    out->name.p = n;
    out->name.n = (size_t)(s.p - 1 - n);
    spaces(&s);
    if (param_value(&s, &out->value)) return -1;
    *c = s;
    return 0;
}

/* One [id params...] element: 1 with it added to m, 0 for an element that
 * does not parse (skipped up to its ']'), TR_ENOTFOUND when there is none,
 * -ENOMEM. */
static int datum(struct cur *c, struct msg *m) {
    struct cur s = *c;
    if (lit(&s, '[')) return TR_ENOTFOUND;
    const char *id = s.p;
    while (s.p < s.end && !is_ws(&s) && *s.p != ']' && *s.p != '=') s.p++;
    if (s.p > id) {
        struct sd_elem e = {{id, (size_t)(s.p - id)}, m->nparams, 0};
        spaces(&s);
        struct sd_param prm;
        struct cur before = s;
        if (!param(&s, &prm)) {
            for (;;) {
                if (tr_grow((void **)&m->params, &m->params_cap, m->nparams + 1, sizeof prm)) return -ENOMEM;
                m->params[m->nparams++] = prm;
                e.count++;
                before = s;
                if (lit(&s, ' ') || param(&s, &prm)) break;
            }
            s = before;
        }
        if (!lit(&s, ']')) {
            if (tr_grow((void **)&m->elems, &m->elems_cap, m->nelems + 1, sizeof e)) return -ENOMEM;
            m->elems[m->nelems++] = e;
            *c = s;
            return 1;
        }
        m->nparams = e.first;
    }
    s = *c;
    s.p++;
    const char *close = memchr(s.p, ']', left(&s));
    if (!close) return TR_ENOTFOUND;
    c->p = close + 1;
    return 0;
}

/* '-' | datum+. 0, TR_EPARSE when neither, -ENOMEM. */
static int structured_data(struct cur *c, struct msg *m) {
    if (!lit(c, '-')) return 0;
    int rc = datum(c, m), any = rc >= 0;
    while (rc >= 0) rc = datum(c, m);
    if (rc == -ENOMEM) return rc;
    return any ? 0 : TR_EPARSE;
}

/* --- the two formats --- */

static int parse5424(struct cur c, struct msg *m) {
    uint64_t v;
    pri(&c, m);
    if (digits(&c, UINT32_MAX, &v) || !spaces(&c) || ts3339(&c, &m->ts) || !spaces(&c) ||
        word(&c, 0, &m->host) || !spaces(&c) || word(&c, 1, &m->app) || !spaces(&c) ||
        word(&c, 0, &m->procid) || !spaces(&c) || word(&c, 0, &m->msgid))
        return TR_EPARSE;
    spaces(&c);
    int rc = structured_data(&c, m);
    if (rc) return rc;
    spaces(&c);
    m->has_ts = 1;
    m->rfc5424 = 1;
    m->version = (uint32_t)v;
    m->text = (struct span){c.p, left(&c)};
    return 0;
}

/* The tag: name[pid] taking the whole field. */
static int systag(struct span f, struct span *app, struct span *pid) {
    const char *p = f.p, *e = f.p + f.n;
    while (p < e && *p != '[') p++;
    if (p >= e || e - p < 3 || e[-1] != ']') return -1;
    for (const char *q = p + 1; q < e - 1; q++)
        if (*q == ']') return -1;
    *app = (struct span){f.p, (size_t)(p - f.p)};
    *pid = (struct span){p + 1, (size_t)(e - 1 - (p + 1))};
    return 0;
}

static int parse3164(struct cur c, struct msg *m) {
    pri(&c, m);
    spaces(&c);
    if (ts3164(&c, &m->ts)) return TR_EPARSE;
    struct span f1 = {0}, f2 = {0};
    int has1 = 0, has2 = 0;
    struct cur s = c;
    if (!lit(&s, ' ') && !word(&s, 0, &f1)) has1 = 1, c = s;
    s = c;
    if (has1 && !lit(&s, ' ') && !word(&s, 0, &f2)) has2 = 1, c = s;
    m->host = m->app = m->procid = (struct span){0};
    if (has1 && has2 && f2.p) {
        m->host = f1;
        if (systag(f2, &m->app, &m->procid)) m->app = f2, m->procid = (struct span){0};
    } else if (has1 && !has2 && f1.p) {
        if (systag(f1, &m->app, &m->procid)) m->host = f1;
    }
    spaces(&c);
    lit(&c, ':');
    spaces(&c);
    s = c;
    size_t ne = m->nelems, np = m->nparams;
    int rc = structured_data(&s, m);
    if (rc == -ENOMEM) return rc;
    if (rc == 0) c = s;
    else m->nelems = ne, m->nparams = np;
    spaces(&c);
    m->has_ts = 1;
    m->rfc5424 = 0;
    m->text = (struct span){c.p, left(&c)};
    return 0;
}

/* --- building the record --- */

static int set_span(tr_value *rec, const char *key, struct span s) {
    tr_value v = tr_v_null();
    if (s.p && tr_v_str(s.p, s.n, &v)) return -ENOMEM;
    return tr_rec_set(rec, key, strlen(key), v);
}

static int set_name(tr_value *rec, const char *key, const char *name) {
    tr_value v = tr_v_null();
    if (name && tr_v_cstr(name, &v)) return -ENOMEM;
    return tr_rec_set(rec, key, strlen(key), v);
}

/* Rust's i32::from_str: [+-]?digits in range. */
static int as_pid(struct span s, long *out) {
    size_t i = 0;
    int neg = 0;
    if (s.n && (s.p[0] == '+' || s.p[0] == '-')) neg = s.p[0] == '-', i++;
    if (i == s.n) return -1;
    long v = 0;
    for (; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9') return -1;
        v = v * 10 + (s.p[i] - '0');
        if (v > 2147483648L) return -1;
    }
    if (!neg && v > 2147483647L) return -1;
    *out = neg ? -v : v;
    return 0;
}

static int sd_value(const struct msg *m, tr_value *out) {
    *out = tr_v_null();
    if (m->nelems == 0) return 0;
    int rc = tr_v_rec(m->nelems, out);
    for (size_t i = 0; !rc && i < m->nelems; i++) {
        const struct sd_elem *e = &m->elems[i];
        tr_value arr;
        if ((rc = tr_v_arr(e->count, &arr))) break;
        for (size_t j = 0; !rc && j < e->count; j++) {
            const struct sd_param *p = &m->params[e->first + j];
            tr_value o, v;
            if ((rc = tr_v_rec(1, &o))) break;
            if (!(rc = tr_v_str(p->value.p, p->value.n, &v))) rc = tr_rec_set(&o, p->name.p, p->name.n, v);
            if (rc) tr_value_unref(o);
            else rc = tr_arr_push(&arr, o);
        }
        if (rc) tr_value_unref(arr);
        else rc = tr_rec_set(out, e->id.p, e->id.n, arr);
    }
    if (rc) {
        tr_value_unref(*out);
        *out = tr_v_null();
    }
    return rc;
}

static int build(const struct msg *m, tr_value *out) {
    tr_value rec, v;
    int rc = tr_v_rec(11, &rec);
    if (rc) return rc;
    char pidbuf[16];
    struct span pid = m->procid;
    long pv;
    if (pid.p && !as_pid(pid, &pv)) {
        snprintf(pidbuf, sizeof pidbuf, "%ld", pv);
        pid = (struct span){pidbuf, strlen(pidbuf)};
    }
    if ((rc = set_span(&rec, "hostname", m->host)) ||
        (rc = set_name(&rec, "severity", m->sev >= 0 ? severities[m->sev] : NULL)) ||
        (rc = set_name(&rec, "facility", m->fac >= 0 ? facilities[m->fac] : NULL)) ||
        (rc = tr_rec_set(&rec, "timestamp", 9, m->has_ts ? tr_v_int(m->ts) : tr_v_null())) ||
        (rc = set_name(&rec, "protocol", m->rfc5424 ? "RFC5424" : "RFC3164")) ||
        (rc = tr_rec_set(&rec, "protocol_version", 16, m->rfc5424 ? tr_v_int(m->version) : tr_v_null())) ||
        (rc = set_span(&rec, "appname", m->app)) || (rc = set_span(&rec, "msgid", m->msgid)) ||
        (rc = sd_value(m, &v)) || (rc = tr_rec_set(&rec, "structured_data", 15, v)) ||
        (rc = set_span(&rec, "procid", pid)) || (rc = set_span(&rec, "msg", m->text))) {
        tr_value_unref(rec);
        return rc;
    }
    *out = rec;
    return 0;
}

static int sl_decode(const char *data, size_t len, uint64_t ingest_ns, tr_value *out,
                     struct tr_diag *d) {
    (void)ingest_ns;
    *out = tr_v_null();
    if (len > TR_CODEC_MAX_FRAME)
        return tr_diag_set(d, TR_ETOOBIG, NULL, 1, 1, "syslog: line of %zu bytes is too long", len);
    if (!tr_utf8_valid(data, len)) return tr_diag_set(d, TR_EPARSE, NULL, 1, 1, "syslog: not UTF-8");
    const char *s = data;
    size_t n = len;
    tr_codec_trim(&s, &n);
    struct cur c = {s, s + n};
    struct msg m;
    memset(&m, 0, sizeof m);
    int rc = parse5424(c, &m);
    if (rc == TR_EPARSE) {
        m.nelems = m.nparams = 0;
        m.msgid = (struct span){0};
        rc = parse3164(c, &m);
    }
    if (rc == TR_EPARSE) {
        m.nelems = m.nparams = 0;
        m.fac = m.sev = -1;
        m.has_ts = m.rfc5424 = 0;
        m.host = m.app = m.procid = m.msgid = (struct span){0};
        m.text = (struct span){data, len};
        rc = 0;
    }
    if (!rc) rc = build(&m, out);
    tr_free(m.elems);
    tr_free(m.params);
    return rc;
}

/* --- encoding --- */

static const tr_value *get(const tr_value *v, const char *k) { return tr_rec_get_cstr(v, k); }

static const struct tr_str *get_str(const tr_value *v, const char *k) {
    const tr_value *x = get(v, k);
    return x && x->type == TR_STR ? x->as.s : NULL;
}

static int index_of(const char *const *names, int n, const struct tr_str *s) {
    for (int i = 0; s && i < n; i++)
        if (strlen(names[i]) == s->len && !memcmp(names[i], s->data, s->len)) return i;
    return -1;
}

static int put_s(struct tr_buf *b, const struct tr_str *s) { return tr_buf_append(b, s->data, s->len); }

/* chrono's to_rfc3339 of a UTC time: fraction of 0, 3, 6 or 9 digits, +00:00. */
static int put_time(struct tr_buf *b, int64_t ns) {
    int64_t secs = ns / 1000000000, frac = ns % 1000000000;
    if (frac < 0) frac += 1000000000, secs--;
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) rem += 86400, days--;
    /* civil_from_days */
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
    unsigned mo = mp < 10 ? mp + 3 : mp - 9;
    y += mo <= 2;
    int rc = tr_buf_printf(b, "%04lld-%02u-%02uT%02d:%02d:%02d", (long long)y, mo, d, (int)(rem / 3600),
                           (int)(rem / 60 % 60), (int)(rem % 60));
    if (!rc && frac) {
        if (frac % 1000000 == 0) rc = tr_buf_printf(b, ".%03d", (int)(frac / 1000000));
        else if (frac % 1000 == 0) rc = tr_buf_printf(b, ".%06d", (int)(frac / 1000));
        else rc = tr_buf_printf(b, ".%09d", (int)frac);
    }
    return rc ? rc : tr_buf_append(b, "+00:00", 6);
}

static int put_sd(struct tr_buf *b, const tr_value *sd) {
    int rc = 0;
    if (sd->type != TR_REC) return TR_EINVAL_CFG;  /* structured data not an object */
    for (uint32_t i = 0; !rc && i < tr_rec_len(sd); i++) {
        const struct tr_field *e = tr_rec_at(sd, i);
        if (e->val.type != TR_ARR) return TR_EINVAL_CFG;  /* params not an array of objects */
        if ((rc = tr_buf_putc(b, '[')) || (rc = put_s(b, e->key))) return rc;
        for (uint32_t j = 0; j < tr_arr_len(&e->val); j++) {
            const tr_value *kv = tr_arr_at(&e->val, j);
            if (kv->type != TR_REC) return TR_EINVAL_CFG;  /* key value pair not an object */
            for (uint32_t k = 0; k < tr_rec_len(kv); k++) {
                const struct tr_field *p = tr_rec_at(kv, k);
                if (p->val.type != TR_STR) return TR_EINVAL_CFG;  /* param value not a string */
                if ((rc = tr_buf_putc(b, ' ')) || (rc = put_s(b, p->key)) || (rc = tr_buf_append(b, "=\"", 2)) ||
                    (rc = put_s(b, p->val.as.s)) || (rc = tr_buf_putc(b, '"')))
                    return rc;
            }
        }
        rc = tr_buf_putc(b, ']');
    }
    return rc;
}

static int enc(const tr_value *v, struct tr_buf *b) {
    if (v->type != TR_REC) return TR_EINVAL_CFG;
    const struct tr_str *proto = get_str(v, "protocol");
    const tr_value *ver = get(v, "protocol_version");
    int has_ver = ver && ver->type == TR_I64 && ver->as.i >= 0 && ver->as.i <= UINT32_MAX;
    int is5424;
    int64_t version = 1;
    if (proto && proto->len == 7 && !memcmp(proto->data, "RFC3164", 7)) is5424 = 0;
    else if (proto && proto->len == 7 && !memcmp(proto->data, "RFC5424", 7)) {
        if (!has_ver) return TR_EINVAL_CFG;  /* missing protocol version */
        is5424 = 1, version = ver->as.i;
    } else if (proto || has_ver) return TR_EINVAL_CFG;  /* invalid or missing protocol type */
    else is5424 = 1;
    int f = index_of(facilities, 24, get_str(v, "facility"));
    int s = index_of(severities, 8, get_str(v, "severity"));
    if (f < 0 || s < 0) return TR_EINVAL_CFG;  /* facility / severity missing or invalid */
    int rc = tr_buf_printf(b, "<%d>", f * 8 + s);
    if (!rc && is5424) rc = tr_buf_printf(b, "%lld", (long long)version);
    if (rc || (rc = tr_buf_putc(b, ' '))) return rc;
    const tr_value *ts = get(v, "timestamp");
    if (ts && (ts->type == TR_I64)) rc = put_time(b, ts->as.i);
    else rc = tr_buf_putc(b, '-');
    const struct tr_str *host = get_str(v, "hostname"), *app = get_str(v, "appname");
    const struct tr_str *pid = get_str(v, "procid"), *msgid = get_str(v, "msgid");
    if (rc || (rc = tr_buf_putc(b, ' ')) || (rc = host ? put_s(b, host) : tr_buf_putc(b, '-')) ||
        (rc = tr_buf_putc(b, ' ')))
        return rc;
    if (!is5424) {
        if (app && (rc = put_s(b, app))) return rc;
        if (app && pid && ((rc = tr_buf_putc(b, '[')) || (rc = put_s(b, pid)) || (rc = tr_buf_putc(b, ']'))))
            return rc;
        if ((rc = tr_buf_putc(b, ':'))) return rc;
    } else if ((rc = app ? put_s(b, app) : tr_buf_putc(b, '-')) || (rc = tr_buf_putc(b, ' ')) ||
               (rc = pid ? put_s(b, pid) : tr_buf_putc(b, '-')) || (rc = tr_buf_putc(b, ' ')) ||
               (rc = msgid ? put_s(b, msgid) : tr_buf_putc(b, '-'))) {
        return rc;
    }
    /* 0.11 refuses a null structured_data (what it decodes a line without
     * any to); here null is the same as absent, so decoded lines re-encode. */
    const tr_value *sd = get(v, "structured_data");
    if (sd && sd->type != TR_NULL) {
        if ((rc = tr_buf_putc(b, ' ')) || (rc = put_sd(b, sd))) return rc;
    } else if (is5424 && (rc = tr_buf_append(b, " -", 2))) {
        return rc;
    }
    const struct tr_str *msg = get_str(v, "msg");
    if (msg && ((rc = tr_buf_putc(b, ' ')) || (rc = put_s(b, msg)))) return rc;
    return 0;
}

static int sl_encode(const tr_value *v, struct tr_buf *out) {
    size_t mark = out->len;
    int rc = enc(v, out);
    if (rc) tr_buf_truncate(out, mark);
    return rc;
}

const struct tr_codec tr_codec_syslog = {
    .name = "syslog", .decode = sl_decode, .encode = sl_encode, .view = NULL,
};
