/* extract_datetime.c - reading a time with a strftime-style format, as
 * chrono 0.4.19 does for Tremor 0.11 (datetime::parse and the datetime
 * extractor): nanoseconds since the Unix epoch.
 *
 * The format is cut into chrono's items: literal text (must match exactly),
 * white space (skips any white space, also none), and specifiers. Numbers
 * skip leading white space and take at most their width in digits (%Y and
 * %G any number after a sign), names and am/pm skip nothing. Every field
 * read is recorded once (a second, different value is an error); then a
 * date is resolved from year+month+day, year+ordinal, year+week+weekday or
 * ISO year+week+weekday, every other field read must agree with it, and
 * %s stands in for a missing date or time. A format that names a zone
 * (tr_timefmt_has_tz) must read an offset; otherwise the time is UTC. The
 * result wraps around outside +-292 years as chrono's does in a release
 * build. Not a formatter (timefmt.c).
 */
#include <stdint.h>
#include <string.h>

#include "lang/extract_int.h"
#include "lang/timefmt_int.h"

enum { F_YEAR, F_YDIV, F_YMOD, F_ISOYEAR, F_ISODIV, F_ISOMOD, F_MONTH, F_WSUN, F_WMON, F_ISOWEEK, F_WDAY,
       F_ORDINAL, F_DAY, F_HDIV12, F_HMOD12, F_MINUTE, F_SECOND, F_NANO, F_TS, F_OFFSET, F_N };

struct parsed {
    int64_t v[F_N];
    unsigned char set[F_N];
};

struct in {
    const char *p, *end;
};

/* chrono's set_if_consistent: a field takes one value only */
static int set(struct parsed *t, int f, int64_t v) {
    if (t->set[f]) return t->v[f] == v;
    t->set[f] = 1, t->v[f] = v;
    return 1;
}
static int set_u32(struct parsed *t, int f, int64_t v) { return v >= 0 && v <= UINT32_MAX && set(t, f, v); }
static int set_i32(struct parsed *t, int f, int64_t v) { return v >= INT32_MIN && v <= INT32_MAX && set(t, f, v); }

/* Length of the Unicode white space character at p (Rust's char::is_whitespace), or 0. */
static size_t ws_len(const char *p, const char *end) {
    const unsigned char *u = (const unsigned char *)p;
    size_t n = (size_t)(end - p);
    if (!n) return 0;
    if (u[0] == ' ' || (u[0] >= 0x09 && u[0] <= 0x0d)) return 1;
    if (n >= 2 && u[0] == 0xc2 && (u[1] == 0x85 || u[1] == 0xa0)) return 2;
    if (n >= 3 && u[0] == 0xe1 && u[1] == 0x9a && u[2] == 0x80) return 3;
    if (n >= 3 && u[0] == 0xe2 && u[1] == 0x80 && (u[2] <= 0x8a || u[2] == 0xa8 || u[2] == 0xa9 || u[2] == 0xaf))
        return 3;
    if (n >= 3 && u[0] == 0xe2 && u[1] == 0x81 && u[2] == 0x9f) return 3;
    if (n >= 3 && u[0] == 0xe3 && u[1] == 0x80 && u[2] == 0x80) return 3;
    return 0;
}

static void trim(struct in *s) {
    size_t k;
    while ((k = ws_len(s->p, s->end))) s->p += k;
}

/* scan::number: min..max digits, no overflow of i64 */
static int number(struct in *s, size_t min, size_t max, int64_t *out) {
    int64_t n = 0;
    size_t i = 0;
    while (i < max && s->p + i < s->end && s->p[i] >= '0' && s->p[i] <= '9') {
        int d = s->p[i] - '0';
        if (n > (INT64_MAX - d) / 10) return 0;
        n = n * 10 + d, i++;
    }
    if (i < min) return 0;
    s->p += i;
    *out = n;
    return 1;
}

static const int64_t scale[10] = {0, 100000000, 10000000, 1000000, 100000, 10000, 1000, 100, 10, 1};

/* scan::nanosecond: 1..9 digits scaled, further digits skipped */
static int nanos(struct in *s, int64_t *out) {
    const char *start = s->p;
    if (!number(s, 1, 9, out)) return 0;
    *out *= scale[s->p - start];
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') s->p++;
    return 1;
}

static int lower3(const struct in *s, const char *const *tbl, int n) {
    if (s->end - s->p < 3) return -1;
    for (int i = 0; i < n; i++) {
        int ok = 1;
        for (int k = 0; k < 3; k++) ok &= (s->p[k] | 32) == tbl[i][k];
        if (ok) return i;
    }
    return -1;
}

/* A three-letter name, then optionally the rest of the long one (any case). */
static int name(struct in *s, const char *const *tbl, int n, int long_ok) {
    int i = lower3(s, tbl, n);
    if (i < 0) return -1;
    s->p += 3;
    size_t rest = strlen(tbl[i]) - 3;
    if (long_ok && (size_t)(s->end - s->p) >= rest) {
        size_t k = 0;
        while (k < rest && (s->p[k] | 32) == tbl[i][3 + k]) k++;
        if (k == rest) s->p += rest;
    }
    return i;
}

static const char *const months[] = {"january", "february", "march",     "april",   "may",      "june",
                                     "july",    "august",   "september", "october", "november", "december"};
static const char *const wdays[] = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};

/* scan::timezone_offset (colon_or_space between hours and minutes); permissive
 * also takes Z and a missing minute part. */
static int offset(struct in *s, int permissive, int64_t *secs) {
    if (s->p >= s->end) return 0;
    if (permissive && (*s->p == 'z' || *s->p == 'Z')) {
        s->p++;
        *secs = 0;
        return 1;
    }
    if (*s->p != '+' && *s->p != '-') return 0;
    int neg = *s->p++ == '-';
    if (s->end - s->p < 2 || s->p[0] < '0' || s->p[0] > '9' || s->p[1] < '0' || s->p[1] > '9') return 0;
    int64_t h = (s->p[0] - '0') * 10 + (s->p[1] - '0'), m = 0;
    s->p += 2;
    while (s->p < s->end && (*s->p == ':' || ws_len(s->p, s->end))) s->p += *s->p == ':' ? 1 : ws_len(s->p, s->end);
    if (s->end - s->p >= 2) {
        if (s->p[0] < '0' || s->p[0] > '5' || s->p[1] < '0' || s->p[1] > '9') return 0;
        m = (s->p[0] - '0') * 10 + (s->p[1] - '0');
        s->p += 2;
    } else if (!permissive || s->end - s->p == 1) {
        return 0;
    }
    *secs = (neg ? -1 : 1) * (h * 3600 + m * 60);
    return 1;
}

/* %+ (parse_rfc3339) */
static int rfc3339(struct in *s, struct parsed *t) {
    int64_t v;
#define CH(c) (s->p < s->end && *s->p == (c) ? (s->p++, 1) : 0)
    if (!number(s, 4, 4, &v) || !set_i32(t, F_YEAR, v) || !CH('-')) return 0;
    if (!number(s, 2, 2, &v) || !set_u32(t, F_MONTH, v) || !CH('-')) return 0;
    if (!number(s, 2, 2, &v) || !set_u32(t, F_DAY, v)) return 0;
    if (!(CH('T') || CH('t'))) return 0;
    if (!number(s, 2, 2, &v) || !set(t, F_HDIV12, v / 12) || !set(t, F_HMOD12, v % 12) || !CH(':')) return 0;
    if (!number(s, 2, 2, &v) || !set_u32(t, F_MINUTE, v) || !CH(':')) return 0;
    if (!number(s, 2, 2, &v) || !set_u32(t, F_SECOND, v)) return 0;
    if (CH('.') && (!nanos(s, &v) || !set_u32(t, F_NANO, v))) return 0;
    if (s->p < s->end && (*s->p == 'z' || *s->p == 'Z')) {
        s->p++;
        v = 0;
    } else if (s->end - s->p >= 3 && (*s->p == 'u' || *s->p == 'U')) {
        if ((s->p[1] | 32) != 't' || (s->p[2] | 32) != 'c') return 0;
        s->p += 3;
        v = 0;
    } else {
        /* the offset: sign, two digits, at most one ':', two digits */
        if (s->p >= s->end || (*s->p != '+' && *s->p != '-')) return 0;
        int neg = *s->p++ == '-';
        int64_t h, m;
        if (!number(s, 2, 2, &h) || !CH(':')) return 0;
        if (s->end - s->p < 2 || s->p[0] < '0' || s->p[0] > '5' || s->p[1] < '0' || s->p[1] > '9') return 0;
        m = (s->p[0] - '0') * 10 + (s->p[1] - '0');
        s->p += 2;
        v = (neg ? -1 : 1) * (h * 3600 + m * 60);
    }
#undef CH
    return v > -86400 && v < 86400 && set_i32(t, F_OFFSET, v);
}

static int items(struct in *s, const char *f, const char *fend, struct parsed *t, int depth);

static int spec(struct in *s, const char **fp, const char *fend, struct parsed *t, int depth) {
    const char *f = *fp;
#define NEXT() (f < fend ? *f++ : '\0')
    char c = NEXT();
    int pad = 0;
    if (c == '-' || c == '0' || c == '_') pad = 1, c = NEXT();
    if (c == '#') {
        if (pad || NEXT() != 'z') return 0;
        c = '#';
    }
    *fp = f;
    /* numbers: field, width, signed */
    int field = -1, width = 0, sgn = 0;
    switch (c) {
    case 'Y': field = F_YEAR, width = 4, sgn = 1; break;
    case 'C': field = F_YDIV, width = 2; break;
    case 'y': field = F_YMOD, width = 2; break;
    case 'G': field = F_ISOYEAR, width = 4, sgn = 1; break;
    case 'g': field = F_ISOMOD, width = 2; break;
    case 'm': field = F_MONTH, width = 2; break;
    case 'd': case 'e': field = F_DAY, width = 2; break;
    case 'U': field = F_WSUN, width = 2; break;
    case 'W': field = F_WMON, width = 2; break;
    case 'V': field = F_ISOWEEK, width = 2; break;
    case 'w': field = 100, width = 1; break;
    case 'u': field = 101, width = 1; break;
    case 'j': field = F_ORDINAL, width = 3; break;
    case 'H': case 'k': field = 102, width = 2; break;
    case 'I': case 'l': field = 103, width = 2; break;
    case 'M': field = F_MINUTE, width = 2; break;
    case 'S': field = F_SECOND, width = 2; break;
    case 'f': field = F_NANO, width = 9; break;
    case 's': field = F_TS, width = 0; break;
    default: break;
    }
    if (field >= 0) {
        int64_t v;
        trim(s);
        if (sgn && s->p < s->end && (*s->p == '-' || *s->p == '+')) {
            int neg = *s->p++ == '-';
            if (!number(s, 1, SIZE_MAX, &v)) return 0;
            if (neg) v = -v;
        } else if (!number(s, 1, width ? (size_t)width : SIZE_MAX, &v)) {
            return 0;
        }
        switch (field) {
        case 100: return v <= 6 && set(t, F_WDAY, (v + 6) % 7);       /* 0 = Sunday */
        case 101: return v >= 1 && v <= 7 && set(t, F_WDAY, v - 1);   /* 1 = Monday */
        case 102: return v <= UINT32_MAX && set(t, F_HDIV12, v / 12) && set(t, F_HMOD12, v % 12);
        case 103: return v >= 1 && v <= 12 && set(t, F_HMOD12, v % 12);
        case F_YEAR: case F_ISOYEAR: return set_i32(t, field, v);
        case F_TS: return set(t, F_TS, v);
        default: return (field == F_YDIV || field == F_YMOD || field == F_ISOMOD ? v <= INT32_MAX : 1) &&
                        set_u32(t, field, v);
        }
    }
    if (pad) return 0;  /* chrono pads only single numbers */
    const char *sub = NULL;
    int64_t v;
    int i;
    switch (c) {
    case 'a': return (i = name(s, wdays, 7, 0)) >= 0 && set(t, F_WDAY, i);
    case 'A': return (i = name(s, wdays, 7, 1)) >= 0 && set(t, F_WDAY, i);
    case 'b': case 'h': return (i = name(s, months, 12, 0)) >= 0 && set_u32(t, F_MONTH, i + 1);
    case 'B': return (i = name(s, months, 12, 1)) >= 0 && set_u32(t, F_MONTH, i + 1);
    case 'p': case 'P':
        if (s->end - s->p < 2 || (s->p[1] | 32) != 'm' || ((s->p[0] | 32) != 'a' && (s->p[0] | 32) != 'p')) return 0;
        i = (s->p[0] | 32) == 'p';
        s->p += 2;
        return set(t, F_HDIV12, i);
    case 'Z':
        while (s->p < s->end && !ws_len(s->p, s->end)) s->p++;
        return 1;
    case 'z': trim(s); return offset(s, 0, &v) && set_i32(t, F_OFFSET, v);
    case '#': trim(s); return offset(s, 1, &v) && set_i32(t, F_OFFSET, v);
    case ':':
        if (NEXT() != 'z') return 0;
        *fp = f;
        trim(s);
        return offset(s, 0, &v) && set_i32(t, F_OFFSET, v);
    case '+': return rfc3339(s, t);
    case '.': {
        char d = NEXT();
        if (d != 'f' && ((d != '3' && d != '6' && d != '9') || NEXT() != 'f')) return 0;
        *fp = f;
        /* the point and its fraction are optional together, any number of digits */
        if (s->p < s->end && *s->p == '.') {
            s->p++;
            return nanos(s, &v) && set_u32(t, F_NANO, v);
        }
        return 1;
    }
    case '3': case '6': case '9': {
        if (NEXT() != 'f') return 0;
        *fp = f;
        int n = c - '0';
        return number(s, (size_t)n, (size_t)n, &v) && set_u32(t, F_NANO, v * scale[n]);
    }
    case 'n': case 't': trim(s); return 1;
    case '%': return s->p < s->end && *s->p == '%' && (s->p++, 1);
    case 'D': case 'x': sub = "%m/%d/%y"; break;
    case 'F': sub = "%Y-%m-%d"; break;
    case 'R': sub = "%H:%M"; break;
    case 'T': case 'X': sub = "%H:%M:%S"; break;
    case 'c': sub = "%a %b %e %H:%M:%S %Y"; break;
    case 'r': sub = "%I:%M:%S %p"; break;
    case 'v': sub = "%e-%b-%Y"; break;
    default: return 0;  /* no such specifier, or the format ends after '%' */
    }
#undef NEXT
    return items(s, sub, sub + strlen(sub), t, depth + 1);
}

static int items(struct in *s, const char *f, const char *fend, struct parsed *t, int depth) {
    if (depth > 1) return 0;
    while (f < fend) {
        size_t k;
        if (*f == '%') {
            f++;
            if (!spec(s, &f, fend, t, depth)) return 0;
        } else if ((k = ws_len(f, fend))) {
            while ((k = ws_len(f, fend))) f += k;
            trim(s);
        } else {
            /* literal text up to the next '%' or white space */
            const char *e = f;
            while (e < fend && *e != '%' && !ws_len(e, fend)) e++;
            if ((size_t)(s->end - s->p) < (size_t)(e - f) || memcmp(s->p, f, (size_t)(e - f))) return 0;
            s->p += e - f;
            f = e;
        }
    }
    return 1;
}

/* --- resolving a date and a time --- */
static int leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
static int64_t fdiv(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = fdiv(y, 400), yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static void civil(int64_t z, int64_t *y, int64_t *m, int64_t *d) {
    z += 719468;
    int64_t era = fdiv(z, 146097), doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

#define MIN_YEAR (-262144)
#define MAX_YEAR 262143

struct date {
    int64_t days, year, month, day, ordinal, wday;  /* wday 0 = Monday */
    int64_t isoyear, isoweek;
};

static int iso_weeks(int64_t y) {
    int64_t jan1 = (days_from_civil(y, 1, 1) + 3) % 7;
    if (jan1 < 0) jan1 += 7;
    return jan1 == 3 || (jan1 == 2 && leap(y)) ? 53 : 52;
}

static int mkdate(int64_t days, struct date *d) {
    d->days = days;
    civil(days, &d->year, &d->month, &d->day);
    if (d->year < MIN_YEAR || d->year > MAX_YEAR) return 0;
    d->ordinal = days - days_from_civil(d->year, 1, 1) + 1;
    d->wday = ((days + 3) % 7 + 7) % 7;
    int64_t w = (d->ordinal - d->wday + 9) / 7;
    d->isoyear = d->year;
    if (w < 1) d->isoyear--, w = iso_weeks(d->isoyear);
    else if (w > iso_weeks(d->year)) d->isoyear++, w = 1;
    d->isoweek = w;
    return 1;
}

static int ymd(int64_t y, int64_t m, int64_t dd, struct date *d) {
    static const int ml[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < MIN_YEAR || y > MAX_YEAR || m < 1 || m > 12 || dd < 1 || dd > ml[m - 1] + (m == 2 && leap(y))) return 0;
    return mkdate(days_from_civil(y, m, dd), d);
}

static int yo(int64_t y, int64_t o, struct date *d) {
    if (y < MIN_YEAR || y > MAX_YEAR || o < 1 || o > 365 + leap(y)) return 0;
    return mkdate(days_from_civil(y, 1, 1) + o - 1, d);
}

/* resolve_year: 1 with *y (has: whether any), 0 on an error */
static int resolve_year(const struct parsed *t, int fy, int fq, int fr, int *has, int64_t *y) {
    int sy = t->set[fy], sq = t->set[fq], sr = t->set[fr];
    int64_t vy = t->v[fy], q = t->v[fq], r = t->v[fr];
    *has = 1;
    if (!sq && !sr) {
        *has = sy, *y = vy;
        return 1;
    }
    if (sy && (!sr || (r >= 0 && r <= 99))) {
        if (vy < 0) return 0;
        *y = vy;
        return (!sq || q == vy / 100) && (!sr || r == vy % 100);
    }
    if (!sy && sq && sr && r >= 0 && r <= 99) {
        *y = q * 100 + r;
        return *y <= INT32_MAX;
    }
    if (!sy && !sq && sr && r >= 0 && r <= 99) {
        *y = r + (r < 70 ? 2000 : 1900);
        return 1;
    }
    return 0;
}

static int verify_ymd(const struct parsed *t, const struct date *d) {
    int pos = d->year >= 0;
    return (!t->set[F_YEAR] || t->v[F_YEAR] == d->year) &&
           (!t->set[F_YDIV] || (pos && t->v[F_YDIV] == d->year / 100)) &&
           (!t->set[F_YMOD] || (pos && t->v[F_YMOD] == d->year % 100)) &&
           (!t->set[F_MONTH] || t->v[F_MONTH] == d->month) && (!t->set[F_DAY] || t->v[F_DAY] == d->day);
}

static int verify_iso(const struct parsed *t, const struct date *d) {
    int pos = d->isoyear >= 0;
    return (!t->set[F_ISOYEAR] || t->v[F_ISOYEAR] == d->isoyear) &&
           (!t->set[F_ISODIV] || (pos && t->v[F_ISODIV] == d->isoyear / 100)) &&
           (!t->set[F_ISOMOD] || (pos && t->v[F_ISOMOD] == d->isoyear % 100)) &&
           (!t->set[F_ISOWEEK] || t->v[F_ISOWEEK] == d->isoweek) && (!t->set[F_WDAY] || t->v[F_WDAY] == d->wday);
}

static int verify_ordinal(const struct parsed *t, const struct date *d) {
    int64_t wsun = (d->ordinal - (d->wday + 1) % 7 + 7) / 7, wmon = (d->ordinal - d->wday + 7) / 7;
    return (!t->set[F_ORDINAL] || t->v[F_ORDINAL] == d->ordinal) && (!t->set[F_WSUN] || t->v[F_WSUN] == wsun) &&
           (!t->set[F_WMON] || t->v[F_WMON] == wmon);
}

/* to_naive_date: 1 with *d, 0 on any error; *fatal when the error is not
 * "not enough" (then %s may not stand in). */
static int to_date(const struct parsed *t, struct date *d, int *fatal) {
    int hy, hi;
    int64_t y, iy;
    *fatal = 1;
    if (!resolve_year(t, F_YEAR, F_YDIV, F_YMOD, &hy, &y)) {
        /* (None, Some(q), None) is "not enough"; every other failure is fatal */
        *fatal = !(!t->set[F_YEAR] && t->set[F_YDIV] && !t->set[F_YMOD]);
        return 0;
    }
    if (!resolve_year(t, F_ISOYEAR, F_ISODIV, F_ISOMOD, &hi, &iy)) {
        *fatal = !(!t->set[F_ISOYEAR] && t->set[F_ISODIV] && !t->set[F_ISOMOD]);
        return 0;
    }
    if (hy && t->set[F_MONTH] && t->set[F_DAY]) {
        if (!ymd(y, t->v[F_MONTH], t->v[F_DAY], d)) return 0;
        return verify_iso(t, d) && verify_ordinal(t, d);
    }
    if (hy && t->set[F_ORDINAL]) {
        if (!yo(y, t->v[F_ORDINAL], d)) return 0;
        return verify_ymd(t, d) && verify_iso(t, d) && verify_ordinal(t, d);
    }
    if (hy && t->set[F_WDAY] && (t->set[F_WSUN] || t->set[F_WMON])) {
        struct date ny;
        if (!yo(y, 1, &ny)) return 0;
        int64_t nd, w;
        if (t->set[F_WSUN]) {
            static const int first[] = {6, 5, 4, 3, 2, 1, 0};  /* by weekday of 1 January, Monday first */
            if ((w = t->v[F_WSUN]) > 53) return 0;
            nd = first[ny.wday] + (w - 1) * 7 + (t->v[F_WDAY] + 1) % 7;
        } else {
            static const int first[] = {0, 6, 5, 4, 3, 2, 1};
            if ((w = t->v[F_WMON]) > 53) return 0;
            nd = first[ny.wday] + (w - 1) * 7 + t->v[F_WDAY];
        }
        if (!mkdate(ny.days + nd, d) || d->year != y) return 0;
        return verify_ymd(t, d) && verify_iso(t, d) && verify_ordinal(t, d);
    }
    if (hi && t->set[F_ISOWEEK] && t->set[F_WDAY]) {
        int64_t w = t->v[F_ISOWEEK];
        if (iy < MIN_YEAR || iy > MAX_YEAR || w < 1 || w > iso_weeks(iy)) return 0;
        int64_t jan4 = days_from_civil(iy, 1, 4);
        int64_t monday = jan4 - (((jan4 + 3) % 7 + 7) % 7);
        if (!mkdate(monday + (w - 1) * 7 + t->v[F_WDAY], d)) return 0;
        return verify_ymd(t, d) && verify_ordinal(t, d);
    }
    *fatal = 0;
    return 0;
}

/* to_naive_time: seconds of the day and nanoseconds (a leap second adds 1e9) */
static int to_time(const struct parsed *t, int64_t *sod, int64_t *ns, int *fatal) {
    *fatal = 0;
    if (!t->set[F_HDIV12] || !t->set[F_HMOD12] || !t->set[F_MINUTE]) {
        *fatal = (t->set[F_HDIV12] && t->v[F_HDIV12] > 1) || (t->set[F_HMOD12] && t->v[F_HMOD12] > 11) ||
                 (t->set[F_MINUTE] && t->v[F_MINUTE] > 59);
        return 0;
    }
    *fatal = 1;
    if (t->v[F_HDIV12] > 1 || t->v[F_HMOD12] > 11 || t->v[F_MINUTE] > 59) return 0;
    int64_t sec = t->set[F_SECOND] ? t->v[F_SECOND] : 0, nano = 0;
    if (sec == 60) sec = 59, nano = 1000000000;
    else if (sec > 59) return 0;
    if (t->set[F_NANO]) {
        if (t->v[F_NANO] > 999999999) return 0;
        if (!t->set[F_SECOND]) {
            *fatal = 0;
            return 0;
        }
        nano += t->v[F_NANO];
    }
    *sod = (t->v[F_HDIV12] * 12 + t->v[F_HMOD12]) * 3600 + t->v[F_MINUTE] * 60 + sec;
    *ns = nano;
    return 1;
}

/* to_naive_datetime_with_offset: local seconds since the epoch and nanoseconds */
static int to_datetime(struct parsed *t, int64_t off, int64_t *secs, int64_t *ns) {
    struct date d;
    int64_t sod, nano;
    int fd, ft;
    int okd = to_date(t, &d, &fd), okt = to_time(t, &sod, &nano, &ft);
    if (okd && okt) {
        *secs = d.days * 86400 + sod;
        *ns = nano;
        if (t->set[F_TS]) {
            int64_t ts = *secs - off;
            if (t->v[F_TS] != ts && !(nano >= 1000000000 && t->v[F_TS] == ts + 1)) return 0;
        }
        return 1;
    }
    if (!t->set[F_TS] || (!okd && fd) || (!okt && ft)) return 0;
    int64_t ts = t->v[F_TS];
    if ((off > 0 && ts > INT64_MAX - off) || (off < 0 && ts < INT64_MIN - off)) return 0;
    ts += off;
    int64_t days = fdiv(ts, 86400), s = ts - days * 86400;
    if (days < days_from_civil(MIN_YEAR, 1, 1) || days > days_from_civil(MAX_YEAR, 12, 31)) return 0;
    if (t->set[F_SECOND] && t->v[F_SECOND] == 60) {
        if (s % 60 == 0) ts -= 1, days = fdiv(ts, 86400), s = ts - days * 86400;
        else if (s % 60 != 59) return 0;
    } else if (!set(t, F_SECOND, s % 60)) {
        return 0;
    }
    struct date dd;
    if (!mkdate(days, &dd) || !set(t, F_YEAR, dd.year) || !set(t, F_ORDINAL, dd.ordinal) ||
        !set(t, F_HDIV12, s / 3600 / 12) || !set(t, F_HMOD12, s / 3600 % 12) || !set(t, F_MINUTE, s / 60 % 60))
        return 0;
    if (!to_date(t, &d, &fd) || !to_time(t, &sod, &nano, &ft)) return 0;
    *secs = d.days * 86400 + sod;
    *ns = nano;
    return 1;
}

int tr_datetime_parse(const char *str, size_t len, const char *fmt, int64_t *ns) {
    struct in s = {str, str + len};
    struct parsed t;
    size_t flen = strlen(fmt);
    memset(&t, 0, sizeof t);
    *ns = 0;
    if (!items(&s, fmt, fmt + flen, &t, 0) || s.p != s.end) return 0;
    int64_t off = 0, secs, nano;
    if (tr_timefmt_has_tz(fmt, flen)) {
        if (!t.set[F_OFFSET]) return 0;
        off = t.v[F_OFFSET];
    }
    if (!to_datetime(&t, off, &secs, &nano)) return 0;
    if (tr_timefmt_has_tz(fmt, flen) && !(off > -86400 && off < 86400)) return 0;
    /* timestamp_nanos: (local - offset) * 1e9 + nanos, wrapping like chrono in release */
    uint64_t r = (uint64_t)(secs - off) * 1000000000u + (uint64_t)nano;
    *ns = (int64_t)r;
    return 1;
}
