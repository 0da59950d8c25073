/* extract_datetime.c - the datetime extractor: a string read with a
 * strftime-style format, as nanoseconds since the Unix epoch.
 *
 * Knows %Y %C %y %m %b %h %B %d %e %j %a %A %H %k %I %l %p %P %M %S %f %.f
 * %.3f %.6f %.9f %3f %6f %9f %z %:z %#z %s %T %R %D %F %n %t %%; white
 * space in the format skips any white space. Without a zone in the format
 * the time is read as UTC. It is not a formatter, and %Z (zone names) is
 * not understood. A date needs year, month and day (or day of year) and at
 * least hour and minute, like upstream's parser; anything else is no match.
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "lang/extract_int.h"

struct dt {
    int64_t year;
    int month, day, yday, hour, minute, second, pm12;  /* -1: not given */
    int64_t nanos, epoch, offset;
    int have_year, have_epoch, have_offset, hour12;
};

struct in {
    const char *p, *end;
};

static void skip_ws(struct in *s) {
    while (s->p < s->end && isspace((unsigned char)*s->p)) s->p++;
}

/* Up to max digits (at least one), after optional white space like upstream. */
static int num(struct in *s, int max, int64_t *out) {
    skip_ws(s);
    int64_t v = 0;
    int n = 0;
    while (s->p < s->end && n < max && isdigit((unsigned char)*s->p)) v = v * 10 + (*s->p++ - '0'), n++;
    *out = v;
    return n > 0;
}

static int signed_num(struct in *s, int max, int64_t *out) {
    skip_ws(s);
    int neg = 0;
    if (s->p < s->end && (*s->p == '-' || *s->p == '+')) neg = *s->p++ == '-';
    if (!num(s, max, out)) return 0;
    if (neg) *out = -*out;
    return 1;
}

static const char *const months[] = {"january", "february", "march",     "april",   "may",      "june",
                                     "july",    "august",   "september", "october", "november", "december"};
static const char *const days[] = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};

/* A name from tbl, three letters or in full; returns its index or -1. */
static int name(struct in *s, const char *const *tbl, int n, int full) {
    size_t left = (size_t)(s->end - s->p);
    for (int i = 0; i < n; i++) {
        size_t l = full ? strlen(tbl[i]) : 3;
        if (left >= l && !strncasecmp(s->p, tbl[i], l)) {
            s->p += l;
            return i;
        }
    }
    return -1;
}

/* Fraction digits after the point: up to 9 are kept, the rest ignored. */
static int fraction(struct in *s, int exact, int64_t *ns) {
    int n = 0;
    int64_t v = 0;
    while (s->p < s->end && isdigit((unsigned char)*s->p) && (!exact || n < exact)) {
        if (n < 9) v = v * 10 + (*s->p - '0');
        n++, s->p++;
    }
    if (n == 0 || (exact && n != exact)) return 0;
    for (int k = n; k < 9; k++) v *= 10;
    *ns = v;
    return 1;
}

static int offset(struct in *s, int64_t *secs) {
    skip_ws(s);
    if (s->p >= s->end || (*s->p != '+' && *s->p != '-')) return 0;
    int neg = *s->p++ == '-';
    int64_t h, m = 0;
    if (s->end - s->p < 2 || !isdigit((unsigned char)s->p[0]) || !isdigit((unsigned char)s->p[1])) return 0;
    h = (s->p[0] - '0') * 10 + (s->p[1] - '0');
    s->p += 2;
    if (s->p < s->end && *s->p == ':') s->p++;
    if (s->end - s->p >= 2 && isdigit((unsigned char)s->p[0]) && isdigit((unsigned char)s->p[1])) {
        m = (s->p[0] - '0') * 10 + (s->p[1] - '0');
        s->p += 2;
    }
    if (h > 23 || m > 59) return 0;
    *secs = (neg ? -1 : 1) * (h * 3600 + m * 60);
    return 1;
}

static int parse(struct in *s, const char *f, struct dt *t, int depth);

static int spec(struct in *s, const char **fp, struct dt *t, int depth) {
    const char *f = *fp;
    int64_t v;
    char c = *f++;
    int ok = 1;
    if (c == '.' || c == '3' || c == '6' || c == '9' || c == ':' || c == '#') {
        /* %.f %.3f %3f ... and %:z %#z */
        if (c == ':' || c == '#') {
            if (*f != 'z') return 0;
            f++;
            ok = offset(s, &t->offset) && (t->have_offset = 1);
        } else {
            int dot = c == '.';
            int exact = dot ? 0 : c - '0';
            if (dot && (*f == '3' || *f == '6' || *f == '9')) exact = *f++ - '0';
            if (*f != 'f') return 0;
            f++;
            if (dot) {
                /* the point and its fraction are optional together */
                if (s->p < s->end && *s->p == '.') {
                    s->p++;
                    ok = fraction(s, exact, &t->nanos);
                }
            } else {
                ok = fraction(s, exact, &t->nanos);
            }
        }
        *fp = f;
        return ok;
    }
    switch (c) {
    case 'Y': ok = signed_num(s, 9, &t->year) && (t->have_year = 1); break;
    case 'C': ok = num(s, 2, &v) && (t->year = v * 100 + t->year % 100, t->have_year = 1); break;
    case 'y':
        ok = num(s, 2, &v);
        if (ok) t->year = (t->have_year ? t->year / 100 * 100 : (v < 70 ? 2000 : 1900)) + v, t->have_year = 1;
        break;
    case 'm': ok = num(s, 2, &v) && (t->month = (int)v, 1); break;
    case 'b': case 'h': skip_ws(s); ok = (t->month = name(s, months, 12, 0) + 1) > 0; break;
    case 'B': {
        skip_ws(s);
        int m = name(s, months, 12, 1);
        if (m < 0) m = name(s, months, 12, 0);
        ok = (t->month = m + 1) > 0;
        break;
    }
    case 'd': case 'e': ok = num(s, 2, &v) && (t->day = (int)v, 1); break;
    case 'j': ok = num(s, 3, &v) && (t->yday = (int)v, 1); break;
    case 'a': skip_ws(s); ok = name(s, days, 7, 0) >= 0; break;
    case 'A': {
        skip_ws(s);
        ok = name(s, days, 7, 1) >= 0 || name(s, days, 7, 0) >= 0;
        break;
    }
    case 'H': case 'k': ok = num(s, 2, &v) && (t->hour = (int)v, 1); break;
    case 'I': case 'l': ok = num(s, 2, &v) && (t->hour = (int)v, t->hour12 = 1, 1); break;
    case 'p': case 'P':
        skip_ws(s);
        if (s->end - s->p >= 2 && !strncasecmp(s->p, "am", 2)) t->pm12 = 0, s->p += 2;
        else if (s->end - s->p >= 2 && !strncasecmp(s->p, "pm", 2)) t->pm12 = 1, s->p += 2;
        else ok = 0;
        break;
    case 'M': ok = num(s, 2, &v) && (t->minute = (int)v, 1); break;
    case 'S': ok = num(s, 2, &v) && (t->second = (int)v, 1); break;
    case 'f': ok = fraction(s, 0, &t->nanos); break;
    case 'z': ok = offset(s, &t->offset) && (t->have_offset = 1); break;
    case 's': ok = signed_num(s, 18, &t->epoch) && (t->have_epoch = 1); break;
    case 'T': ok = parse(s, "%H:%M:%S", t, depth + 1); break;
    case 'R': ok = parse(s, "%H:%M", t, depth + 1); break;
    case 'D': ok = parse(s, "%m/%d/%y", t, depth + 1); break;
    case 'F': ok = parse(s, "%Y-%m-%d", t, depth + 1); break;
    case 'n': case 't': skip_ws(s); break;
    case '%': ok = s->p < s->end && *s->p == '%' && (s->p++, 1); break;
    default: ok = 0; break;
    }
    *fp = f;
    return ok;
}

static int parse(struct in *s, const char *f, struct dt *t, int depth) {
    if (depth > 2) return 0;
    while (*f) {
        if (isspace((unsigned char)*f)) {
            skip_ws(s);
            f++;
        } else if (*f == '%') {
            f++;
            if (!*f || !spec(s, &f, t, depth)) return 0;
        } else {
            if (s->p >= s->end || *s->p != *f) return 0;
            s->p++, f++;
        }
    }
    return 1;
}

static int leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int tr_datetime_parse(const char *str, size_t len, const char *fmt, int64_t *ns) {
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    struct in s = {str, str + len};
    struct dt t = {.month = -1, .day = -1, .yday = -1, .hour = -1, .minute = -1, .second = -1, .pm12 = -1};
    *ns = 0;
    if (!parse(&s, fmt, &t, 0) || s.p != s.end) return 0;
    int64_t secs;
    if (t.have_epoch) {
        secs = t.epoch;
    } else {
        if (!t.have_year || t.hour < 0 || t.minute < 0) return 0;
        if (t.year < -262000 || t.year > 262000) return 0;
        int64_t dn;
        if (t.month > 0 && t.day > 0) {
            if (t.month > 12) return 0;
            int ml = mdays[t.month - 1] + (t.month == 2 && leap(t.year));
            if (t.day > ml) return 0;
            dn = days_from_civil(t.year, t.month, t.day);
        } else if (t.yday > 0) {
            if (t.yday > 365 + leap(t.year)) return 0;
            dn = days_from_civil(t.year, 1, 1) + t.yday - 1;
        } else {
            return 0;
        }
        int h = t.hour;
        if (t.hour12) {
            if (h < 1 || h > 12 || t.pm12 < 0) return 0;
            h = h % 12 + (t.pm12 ? 12 : 0);
        }
        int sec = t.second < 0 ? 0 : t.second;
        if (h > 23 || t.minute > 59 || sec > 60) return 0;
        secs = dn * 86400 + h * 3600 + t.minute * 60 + sec;
    }
    if (t.have_offset) secs -= t.offset;
    /* beyond what 64-bit nanoseconds hold (about 292 years either side) */
    if (secs > INT64_MAX / 1000000000 - 1 || secs < INT64_MIN / 1000000000 + 1) return 0;
    *ns = secs * 1000000000 + t.nanos;
    return 1;
}
