/* cron.c - cron expressions (see cron.h): a hand-written parser for the
 * cron crate 0.9's grammar and its next-fire search, field by field from
 * the year down, as the crate walks its ordinal sets.
 *
 *   expr   := shorthand | field{6,7}             (fields separated by blanks)
 *   field  := item (',' item)*
 *   item   := spec '/' NUM | spec | NAME
 *   spec   := '*' | '?' (day fields only) | NUM '-' NUM | NUM | NAME '-' NAME
 *
 * `N/S` runs from N to the field's maximum; a step of 0 is an error here
 * (the crate panics on it). Every number is bounded before use.
 */
#include "connectors/cron.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

#define MAX_ORD (TR_CRON_YEAR_MAX - TR_CRON_YEAR_MIN + 1)

enum names { NO_NAMES, MONTH_NAMES, DOW_NAMES };

struct fdef {
    const char *name;      /* as the crate names it, for messages */
    unsigned min, max;
    enum names names;
    bool any;              /* `?` allowed */
};

static const struct fdef FIELDS[7] = {
    {"Seconds", 0, 59, NO_NAMES, false},
    {"Minutes", 0, 59, NO_NAMES, false},
    {"Hours", 0, 23, NO_NAMES, false},
    {"Days of Month", 1, 31, NO_NAMES, true},
    {"Months", 1, 12, MONTH_NAMES, false},
    {"Days of Week", 1, 7, DOW_NAMES, true},
    {"Years", TR_CRON_YEAR_MIN, TR_CRON_YEAR_MAX, NO_NAMES, false},
};

struct pstate {
    const char *p, *end;
    const struct fdef *f;
    bool set[MAX_ORD];
    char *err;
    size_t errlen;
};

static int fail(struct pstate *s, const char *fmt, const char *a, unsigned x, unsigned y) {
    char msg[160];
    snprintf(msg, sizeof msg, fmt, a, x, y);
    snprintf(s->err, s->errlen, "%s field: %s", s->f->name, msg);
    return TR_EPARSE;
}

static const struct {
    const char *n;
    unsigned v;
} MONTHS[] = {
    {"jan", 1}, {"january", 1}, {"feb", 2}, {"february", 2}, {"mar", 3}, {"march", 3},
    {"apr", 4}, {"april", 4}, {"may", 5}, {"jun", 6}, {"june", 6}, {"jul", 7}, {"july", 7},
    {"aug", 8}, {"august", 8}, {"sep", 9}, {"september", 9}, {"oct", 10}, {"october", 10},
    {"nov", 11}, {"november", 11}, {"dec", 12}, {"december", 12},
}, DOWS[] = {
    {"sun", 1}, {"sunday", 1}, {"mon", 2}, {"monday", 2}, {"tue", 3}, {"tues", 3},
    {"tuesday", 3}, {"wed", 4}, {"wednesday", 4}, {"thu", 5}, {"thurs", 5}, {"thursday", 5},
    {"fri", 6}, {"friday", 6}, {"sat", 7}, {"saturday", 7},
};

/* NUM: at most 9 digits, so it never overflows; the field checks range. */
static int number(struct pstate *s, unsigned *out) {
    const char *b = s->p;
    unsigned v = 0;
    while (s->p < s->end && isdigit((unsigned char)*s->p)) {
        if (s->p - b >= 9) return fail(s, "a number is too long%s", "", 0, 0);
        v = v * 10 + (unsigned)(*s->p++ - '0');
    }
    if (s->p == b) return fail(s, "expected a number, '*' or a name%s", "", 0, 0);
    *out = v;
    return 0;
}

/* NAME: letters, looked up in the field's table (case-insensitive). */
static int name(struct pstate *s, unsigned *out) {
    char n[16];
    size_t len = 0;
    while (s->p < s->end && isalpha((unsigned char)*s->p)) {
        if (len < sizeof n - 1) n[len] = (char)tolower((unsigned char)*s->p);
        len++;
        s->p++;
    }
    if (len >= sizeof n) len = sizeof n - 1;   /* too long for any name */
    n[len] = 0;
    if (s->f->names == NO_NAMES)
        return fail(s, "the field does not support using names ('%s' specified)", n, 0, 0);
    size_t cnt = s->f->names == MONTH_NAMES ? sizeof MONTHS / sizeof *MONTHS : sizeof DOWS / sizeof *DOWS;
    for (size_t i = 0; i < cnt; i++) {
        const char *k = s->f->names == MONTH_NAMES ? MONTHS[i].n : DOWS[i].n;
        if (strcmp(k, n) == 0) {
            *out = s->f->names == MONTH_NAMES ? MONTHS[i].v : DOWS[i].v;
            return 0;
        }
    }
    return fail(s, s->f->names == MONTH_NAMES ? "'%s' is not a valid month name"
                                              : "'%s' is not a valid day of the week", n, 0, 0);
}

static int check(struct pstate *s, unsigned v) {
    if (v < s->f->min)
        return fail(s, "must be greater than or equal to %2$u ('%3$u' specified)%1$s", "", s->f->min, v);
    if (v > s->f->max)
        return fail(s, "must be at most %2$u ('%3$u' specified)%1$s", "", s->f->max, v);
    return 0;
}

static bool at_letter(const struct pstate *s) { return s->p < s->end && isalpha((unsigned char)*s->p); }
static bool at(const struct pstate *s, char c) { return s->p < s->end && *s->p == c; }

/* item := spec '/' NUM | spec | NAME */
static int item(struct pstate *s) {
    unsigned lo, hi, step = 1;
    bool point = false, named = at_letter(s);
    int rc;
    if (at(s, '*') || (s->f->any && at(s, '?'))) {
        s->p++;
        lo = s->f->min;
        hi = s->f->max;
    } else {
        rc = named ? name(s, &lo) : number(s, &lo);
        if (rc) return rc;
        if (at(s, '-')) {
            s->p++;
            if (named != at_letter(s))
                return fail(s, "a range mixes a name and a number%s", "", 0, 0);
            rc = named ? name(s, &hi) : number(s, &hi);
            if (rc) return rc;
            if ((rc = check(s, lo)) || (rc = check(s, hi))) return rc;
            if (lo > hi) return fail(s, "invalid range %2$u-%3$u%1$s", "", lo, hi);
        } else {
            point = true;
            hi = lo;
        }
    }
    if (at(s, '/')) {
        if (point && named) return fail(s, "a step needs '*', a number or a range before it%s", "", 0, 0);
        s->p++;
        if ((rc = number(s, &step))) return rc;
        if (step == 0) return fail(s, "a step must be at least 1%s", "", 0, 0);
        if (point) hi = s->f->max;   /* N/S: from N to the maximum */
    }
    if ((rc = check(s, lo)) || (rc = check(s, hi))) return rc;
    for (unsigned v = lo; v <= hi; v += step) {
        s->set[v - s->f->min] = true;
        if (hi - v < step) break;
    }
    return 0;
}

static int field(const char *b, const char *e, const struct fdef *f, bool *set, char *err,
                 size_t errlen) {
    struct pstate s = {.p = b, .end = e, .f = f, .err = err, .errlen = errlen};
    memset(s.set, 0, sizeof s.set);
    for (;;) {
        int rc = item(&s);
        if (rc) return rc;
        if (s.p == s.end) break;
        if (*s.p != ',') return fail(&s, "unexpected '%.1s'", s.p, 0, 0);
        s.p++;
    }
    memcpy(set, s.set, sizeof s.set);
    return 0;
}

static void fill(struct tr_cron *c, int i, const bool *set) {
    unsigned n = FIELDS[i].max - FIELDS[i].min + 1;
    for (unsigned k = 0; k < n; k++) {
        if (!set[k]) continue;
        unsigned v = FIELDS[i].min + k;
        switch (i) {
        case 0: c->sec |= 1ull << v; break;
        case 1: c->min |= 1ull << v; break;
        case 2: c->hour |= 1u << v; break;
        case 3: c->dom |= 1u << v; break;
        case 4: c->mon |= (uint16_t)(1u << v); break;
        case 5: c->dow |= (uint8_t)(1u << v); break;
        default: c->years[k / 8] |= (uint8_t)(1u << (k % 8)); break;
        }
    }
}

static bool blank(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; }

static int shorthand(const char *w, size_t n, struct tr_cron *c) {
    static const char *const names[] = {"@yearly", "@monthly", "@weekly", "@daily", "@hourly"};
    int k = -1;
    for (int i = 0; i < 5; i++)
        if (strlen(names[i]) == n && memcmp(names[i], w, n) == 0) k = i;
    if (k < 0) return TR_EPARSE;
    bool all[MAX_ORD];
    memset(all, 1, sizeof all);
    fill(c, 6, all);
    c->sec = 1;
    c->min = 1;
    c->hour = k == 4 ? 0xffffffu : 1;
    c->dom = k <= 1 ? 1u << 1 : 0xfffffffeu;
    c->mon = k == 0 ? 1u << 1 : 0x1ffe;
    c->dow = k == 2 ? 1u << 1 : 0xfe;
    return 0;
}

int tr_cron_parse(const char *expr, struct tr_cron *out, char *err, size_t errlen) {
    struct tr_cron c;
    memset(&c, 0, sizeof c);
    if (errlen) err[0] = 0;
    const char *p = expr, *fb[8], *fe[8];
    int n = 0;
    while (*p) {
        while (blank(*p)) p++;
        if (!*p) break;
        const char *b = p;
        while (*p && !blank(*p)) p++;
        if (n < 8) {
            fb[n] = b;
            fe[n] = p;
        }
        n++;
        if (n > 8) break;   /* enough to say there are too many */
    }
    if (n == 1 && fb[0][0] == '@') {
        if (shorthand(fb[0], (size_t)(fe[0] - fb[0]), &c) != 0) {
            snprintf(err, errlen, "unknown shorthand '%.*s' (expected @yearly, @monthly, @weekly, "
                     "@daily or @hourly)", (int)(fe[0] - fb[0] > 32 ? 32 : fe[0] - fb[0]), fb[0]);
            return TR_EPARSE;
        }
        *out = c;
        return 0;
    }
    if (n != 6 && n != 7) {
        snprintf(err, errlen, "Expression has %s%d fields. Valid cron expressions have 6 or 7.",
                 n > 8 ? "more than " : "", n > 8 ? 8 : n);
        return TR_EPARSE;
    }
    bool set[MAX_ORD];
    for (int i = 0; i < 7; i++) {
        if (i < n) {
            int rc = field(fb[i], fe[i], &FIELDS[i], set, err, errlen);
            if (rc) return rc;
        } else {
            memset(set, 1, sizeof set);   /* no year field: every year */
        }
        fill(&c, i, set);
    }
    *out = c;
    return 0;
}

/* ------------------------------------------------------- next fire time */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil), and back. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned days_in_month(unsigned m, int64_t y) {
    static const unsigned dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

static bool has_year(const struct tr_cron *c, int64_t y) {
    if (y < TR_CRON_YEAR_MIN || y > TR_CRON_YEAR_MAX) return false;
    unsigned k = (unsigned)(y - TR_CRON_YEAR_MIN);
    return c->years[k / 8] >> (k % 8) & 1;
}

/* The crate's NextAfterQuery: the first pass of each unit starts at the
 * start time's value, later passes (or a unit whose first value is not in
 * its set, which also resets the units below) start at the minimum. */
struct query {
    unsigned v[5];      /* month, day, hour, minute, second of the start */
    bool first[5];
};

static unsigned lower(struct query *q, int i, unsigned min) {
    if (q->first[i]) {
        q->first[i] = false;
        return q->v[i];
    }
    return min;
}

static void reset(struct query *q, int i) {
    for (; i < 5; i++) q->first[i] = false;
}

int tr_cron_next(const struct tr_cron *c, int64_t after, int64_t *next) {
    int64_t t = after + 1;
    if (t < 0) t = 0;
    int64_t days = t / 86400, sod = t % 86400, y0;
    unsigned m0, d0;
    civil_from_days(days, &y0, &m0, &d0);
    struct query q = {{m0, d0, (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60), (unsigned)(sod % 60)},
                      {true, true, true, true, true}};
    for (int64_t y = y0 < TR_CRON_YEAR_MIN ? TR_CRON_YEAR_MIN : y0; y <= TR_CRON_YEAR_MAX; y++) {
        if (!has_year(c, y)) continue;
        unsigned ms = lower(&q, 0, 1);
        if (!(c->mon >> ms & 1)) reset(&q, 0);
        for (unsigned mo = ms; mo <= 12; mo++) {
            if (!(c->mon >> mo & 1)) continue;
            unsigned ds = lower(&q, 1, 1);
            if (!(c->dom >> ds & 1)) reset(&q, 1);
            unsigned dend = days_in_month(mo, y);
            for (unsigned d = ds; d <= dend; d++) {
                if (!(c->dom >> d & 1)) continue;
                int64_t day = days_from_civil(y, mo, d);
                unsigned dow = (unsigned)(((day % 7) + 7 + 4) % 7) + 1;   /* 1970-01-01: Thursday */
                unsigned hs = lower(&q, 2, 0);
                if (!(c->hour >> hs & 1)) reset(&q, 2);
                bool next_day = false;
                for (unsigned h = hs; h <= 23 && !next_day; h++) {
                    if (!(c->hour >> h & 1)) continue;
                    unsigned mis = lower(&q, 3, 0);
                    if (!(c->min >> mis & 1)) reset(&q, 3);
                    for (unsigned mi = mis; mi <= 59 && !next_day; mi++) {
                        if (!(c->min >> mi & 1)) continue;
                        unsigned ss = lower(&q, 4, 0);
                        if (!(c->sec >> ss & 1)) reset(&q, 4);
                        for (unsigned s = ss; s <= 59; s++) {
                            if (!(c->sec >> s & 1)) continue;
                            if (!(c->dow >> dow & 1)) {
                                next_day = true;   /* the crate's `continue 'day_loop` */
                                break;
                            }
                            *next = day * 86400 + h * 3600 + mi * 60 + s;
                            return 0;
                        }
                        if (!next_day) reset(&q, 3);
                    }
                    if (!next_day) reset(&q, 2);
                }
                if (!next_day) reset(&q, 1);
            }
            reset(&q, 0);
        }
    }
    return TR_ENOTFOUND;
}
