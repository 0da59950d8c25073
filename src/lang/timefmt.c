/* timefmt.c - chrono 0.4.19's strftime over UTC instants.
 *
 * Each specifier is one of chrono's items: a number with a default width and
 * padding (which %- %_ %0 may override), a fixed text (names, fractions,
 * zone), or a fixed sequence of those (%D %F %R %T %X %c %r %v %x, which
 * take no padding flag). Anything chrono would fail on (its Display returns
 * an error and Tremor 0.11 panics) is -EINVAL here. Invariant: the calendar
 * is the proleptic Gregorian one, days counted from 1970-01-01 (a Thursday).
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "lang/timefmt_int.h"

enum pad { PAD_NONE, PAD_ZERO, PAD_SPACE };

enum num {
    N_YEAR, N_YEAR_DIV100, N_YEAR_MOD100, N_ISO_YEAR, N_ISO_YEAR_MOD100, N_MONTH, N_DAY,
    N_WEEK_SUN, N_WEEK_MON, N_ISO_WEEK, N_WDAY_SUN, N_WDAY_MON, N_ORDINAL, N_HOUR, N_HOUR12,
    N_MINUTE, N_SECOND, N_NANO, N_TIMESTAMP,
};

enum fix {
    F_SHORT_MONTH, F_LONG_MONTH, F_SHORT_WDAY, F_LONG_WDAY, F_LOWER_AMPM, F_UPPER_AMPM,
    F_NANO, F_NANO3, F_NANO6, F_NANO9, F_NANO3_NODOT, F_NANO6_NODOT, F_NANO9_NODOT,
    F_TZ_NAME, F_TZ_OFFSET, F_TZ_OFFSET_COLON, F_RFC3339,
};

struct when {
    int64_t secs, year, iso_year;
    int month, day, ordinal, wday_sun, iso_week, hour, minute, second;
    uint32_t nanos;
};

static const char *const short_months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const long_months[] = {"January", "February", "March",     "April",   "May",      "June",
                                          "July",    "August",   "September", "October", "November", "December"};
static const char *const short_wdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const long_wdays[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                         "Thursday", "Friday", "Saturday"};

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }
static int64_t floor_mod(int64_t a, int64_t b) { return a - floor_div(a, b) * b; }
static int leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* Days from 1970-01-01 to y-m-d, and back (Hinnant's civil algorithms). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* ISO 8601 weeks: a year has 53 when it starts on a Thursday, or on a
 * Wednesday in a leap year. */
static int iso_weeks(int64_t y) {
    int jan1 = (int)floor_mod(days_from_civil(y, 1, 1) + 3, 7);  /* 0 = Monday */
    return jan1 == 3 || (jan1 == 2 && leap(y)) ? 53 : 52;
}

static void split(int64_t secs, uint32_t nanos, struct when *w) {
    int64_t days = floor_div(secs, 86400), sod = floor_mod(secs, 86400);
    w->secs = secs;
    w->nanos = nanos;
    civil_from_days(days, &w->year, &w->month, &w->day);
    w->ordinal = (int)(days - days_from_civil(w->year, 1, 1)) + 1;
    w->wday_sun = (int)floor_mod(days + 4, 7);
    w->hour = (int)(sod / 3600);
    w->minute = (int)(sod / 60 % 60);
    w->second = (int)(sod % 60);
    int wday_mon = (w->wday_sun + 6) % 7;
    int week = (w->ordinal - wday_mon + 9) / 7;
    w->iso_year = w->year;
    if (week < 1) {
        w->iso_year = w->year - 1;
        week = iso_weeks(w->iso_year);
    } else if (week > iso_weeks(w->year)) {
        w->iso_year = w->year + 1;
        week = 1;
    }
    w->iso_week = week;
}

static int num(struct tr_buf *out, const struct when *w, enum num k, enum pad pad) {
    int width;
    int64_t v;
    switch (k) {
    case N_YEAR: width = 4, v = w->year; break;
    case N_YEAR_DIV100: width = 2, v = floor_div(w->year, 100); break;
    case N_YEAR_MOD100: width = 2, v = floor_mod(w->year, 100); break;
    case N_ISO_YEAR: width = 4, v = w->iso_year; break;
    case N_ISO_YEAR_MOD100: width = 2, v = floor_mod(w->iso_year, 100); break;
    case N_MONTH: width = 2, v = w->month; break;
    case N_DAY: width = 2, v = w->day; break;
    case N_WEEK_SUN: width = 2, v = (w->ordinal - w->wday_sun + 7) / 7; break;
    case N_WEEK_MON: width = 2, v = (w->ordinal - (w->wday_sun + 6) % 7 + 7) / 7; break;
    case N_ISO_WEEK: width = 2, v = w->iso_week; break;
    case N_WDAY_SUN: width = 1, v = w->wday_sun; break;
    case N_WDAY_MON: width = 1, v = (w->wday_sun + 6) % 7 + 1; break;
    case N_ORDINAL: width = 3, v = w->ordinal; break;
    case N_HOUR: width = 2, v = w->hour; break;
    case N_HOUR12: width = 2, v = w->hour % 12 == 0 ? 12 : w->hour % 12; break;
    case N_MINUTE: width = 2, v = w->minute; break;
    case N_SECOND: width = 2, v = w->second; break;
    case N_NANO: width = 9, v = w->nanos; break;
    default: width = 1, v = w->secs; break;
    }
    /* years outside 0..9999 carry their sign, one column wider (ISO 8601) */
    if ((k == N_YEAR || k == N_ISO_YEAR) && (v < 0 || v >= 10000)) {
        if (pad == PAD_NONE) return tr_buf_printf(out, "%+" PRId64, v);
        return tr_buf_printf(out, pad == PAD_ZERO ? "%+0*" PRId64 : "%+*" PRId64, width + 1, v);
    }
    if (pad == PAD_NONE) return tr_buf_printf(out, "%" PRId64, v);
    return tr_buf_printf(out, pad == PAD_ZERO ? "%0*" PRId64 : "%*" PRId64, width, v);
}

static int str(struct tr_buf *out, const char *s) { return tr_buf_append(out, s, strlen(s)); }

/* The zone is always UTC: chrono writes its offset as +00:00 and its name as "UTC". */
static int fixed(struct tr_buf *out, const struct when *w, enum fix k, int with_tz) {
    uint32_t ns = w->nanos;
    switch (k) {
    case F_SHORT_MONTH: return str(out, short_months[w->month - 1]);
    case F_LONG_MONTH: return str(out, long_months[w->month - 1]);
    case F_SHORT_WDAY: return str(out, short_wdays[w->wday_sun]);
    case F_LONG_WDAY: return str(out, long_wdays[w->wday_sun]);
    case F_LOWER_AMPM: return str(out, w->hour >= 12 ? "pm" : "am");
    case F_UPPER_AMPM: return str(out, w->hour >= 12 ? "PM" : "AM");
    case F_NANO:
        /* as few of 3, 6 or 9 digits as the value needs; nothing for 0 */
        if (ns == 0) return 0;
        if (ns % 1000000 == 0) return tr_buf_printf(out, ".%03" PRIu32, ns / 1000000);
        if (ns % 1000 == 0) return tr_buf_printf(out, ".%06" PRIu32, ns / 1000);
        return tr_buf_printf(out, ".%09" PRIu32, ns);
    case F_NANO3: return tr_buf_printf(out, ".%03" PRIu32, ns / 1000000);
    case F_NANO6: return tr_buf_printf(out, ".%06" PRIu32, ns / 1000);
    case F_NANO9: return tr_buf_printf(out, ".%09" PRIu32, ns);
    case F_NANO3_NODOT: return tr_buf_printf(out, "%03" PRIu32, ns / 1000000);
    case F_NANO6_NODOT: return tr_buf_printf(out, "%06" PRIu32, ns / 1000);
    case F_NANO9_NODOT: return tr_buf_printf(out, "%09" PRIu32, ns);
    default: break;
    }
    if (!with_tz) return -EINVAL;  /* a naive instant has no zone to print */
    switch (k) {
    case F_TZ_NAME: return str(out, "UTC");
    case F_TZ_OFFSET: return str(out, "+0000");
    case F_TZ_OFFSET_COLON: return str(out, "+00:00");
    default: {
        /* %+: chrono's Debug forms of the date and time, then the offset */
        int rc = num(out, w, N_YEAR, PAD_ZERO);
        if (!rc)
            rc = tr_buf_printf(out, "-%02d-%02dT%02d:%02d:%02d", w->month, w->day, w->hour, w->minute,
                               w->second);
        if (!rc) rc = fixed(out, w, F_NANO, with_tz);
        if (!rc) rc = str(out, "+00:00");
        return rc;
    }
    }
}

/* A fixed sequence of items: numbers with their own padding, texts, literals. */
struct seq {
    char kind;  /* 'n' number, 'f' fixed, 'l' literal */
    int item;
    enum pad pad;
    const char *lit;
};

#define SN(k, p) {'n', k, p, NULL}
#define SF(k) {'f', k, PAD_NONE, NULL}
#define SL(s) {'l', 0, PAD_NONE, s}
static const struct seq seq_D[] = {SN(N_MONTH, PAD_ZERO), SL("/"), SN(N_DAY, PAD_ZERO), SL("/"),
                                   SN(N_YEAR_MOD100, PAD_ZERO), {0, 0, 0, NULL}};
static const struct seq seq_F[] = {SN(N_YEAR, PAD_ZERO), SL("-"), SN(N_MONTH, PAD_ZERO), SL("-"),
                                   SN(N_DAY, PAD_ZERO), {0, 0, 0, NULL}};
static const struct seq seq_R[] = {SN(N_HOUR, PAD_ZERO), SL(":"), SN(N_MINUTE, PAD_ZERO), {0, 0, 0, NULL}};
static const struct seq seq_T[] = {SN(N_HOUR, PAD_ZERO), SL(":"), SN(N_MINUTE, PAD_ZERO), SL(":"),
                                   SN(N_SECOND, PAD_ZERO), {0, 0, 0, NULL}};
static const struct seq seq_c[] = {SF(F_SHORT_WDAY), SL(" "), SF(F_SHORT_MONTH), SL(" "), SN(N_DAY, PAD_SPACE),
                                   SL(" "), SN(N_HOUR, PAD_ZERO), SL(":"), SN(N_MINUTE, PAD_ZERO), SL(":"),
                                   SN(N_SECOND, PAD_ZERO), SL(" "), SN(N_YEAR, PAD_ZERO), {0, 0, 0, NULL}};
static const struct seq seq_r[] = {SN(N_HOUR12, PAD_ZERO), SL(":"), SN(N_MINUTE, PAD_ZERO), SL(":"),
                                   SN(N_SECOND, PAD_ZERO), SL(" "), SF(F_UPPER_AMPM), {0, 0, 0, NULL}};
static const struct seq seq_v[] = {SN(N_DAY, PAD_SPACE), SL("-"), SF(F_SHORT_MONTH), SL("-"),
                                   SN(N_YEAR, PAD_ZERO), {0, 0, 0, NULL}};

static int run_seq(struct tr_buf *out, const struct when *w, const struct seq *s, int with_tz) {
    for (; s->kind; s++) {
        int rc = s->kind == 'n'   ? num(out, w, (enum num)s->item, s->pad)
                 : s->kind == 'f' ? fixed(out, w, (enum fix)s->item, with_tz)
                                  : str(out, s->lit);
        if (rc) return rc;
    }
    return 0;
}

int tr_timefmt_has_tz(const char *fmt, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (fmt[i] != '%') continue;
        if (++i >= len) break;
        char c = fmt[i];
        if (c == '+' || c == 'z' || c == 'Z') return 1;
        /* %:z and %#z; the character after ':' or '#' is consumed either way */
        if ((c == ':' || c == '#') && ++i < len && fmt[i] == 'z') return 1;
    }
    return 0;
}

int tr_timefmt_format(int64_t secs, uint32_t nanos, const char *fmt, size_t len, int with_tz,
                      struct tr_buf *out, size_t *errpos) {
    struct when w;
    split(secs, nanos, &w);
    size_t i = 0;
    int rc = 0;
    while (i < len && rc == 0) {
        if (fmt[i] != '%') {
            size_t j = i;
            while (j < len && fmt[j] != '%') j++;
            rc = tr_buf_append(out, fmt + i, j - i);
            i = j;
            continue;
        }
        size_t at = i++;
        *errpos = at;
#define NEXT() (i < len ? fmt[i++] : '\0')
        char c = NEXT();
        enum pad pad = PAD_NONE;
        int override = 0;
        if (c == '-' || c == '0' || c == '_') {
            override = 1;
            pad = c == '-' ? PAD_NONE : c == '0' ? PAD_ZERO : PAD_SPACE;
            c = NEXT();
        }
        int alt = c == '#';
        if (alt) {
            c = NEXT();
            /* %#z is chrono's parse-only permissive offset: writing it panics */
            return -EINVAL;
        }
        int isnum = -1, isfix = -1;
        const struct seq *sq = NULL;
        switch (c) {
        case 'A': isfix = F_LONG_WDAY; break;
        case 'B': isfix = F_LONG_MONTH; break;
        case 'C': isnum = N_YEAR_DIV100; break;
        case 'D': case 'x': sq = seq_D; break;
        case 'F': sq = seq_F; break;
        case 'G': isnum = N_ISO_YEAR; break;
        case 'H': isnum = N_HOUR; break;
        case 'I': isnum = N_HOUR12; break;
        case 'M': isnum = N_MINUTE; break;
        case 'P': isfix = F_LOWER_AMPM; break;
        case 'R': sq = seq_R; break;
        case 'S': isnum = N_SECOND; break;
        case 'T': case 'X': sq = seq_T; break;
        case 'U': isnum = N_WEEK_SUN; break;
        case 'V': isnum = N_ISO_WEEK; break;
        case 'W': isnum = N_WEEK_MON; break;
        case 'Y': isnum = N_YEAR; break;
        case 'Z': isfix = F_TZ_NAME; break;
        case 'a': isfix = F_SHORT_WDAY; break;
        case 'b': case 'h': isfix = F_SHORT_MONTH; break;
        case 'c': sq = seq_c; break;
        case 'd': isnum = N_DAY; break;
        case 'e': isnum = N_DAY, pad = override ? pad : PAD_SPACE; break;
        case 'f': isnum = N_NANO; break;
        case 'g': isnum = N_ISO_YEAR_MOD100; break;
        case 'j': isnum = N_ORDINAL; break;
        case 'k': isnum = N_HOUR, pad = override ? pad : PAD_SPACE; break;
        case 'l': isnum = N_HOUR12, pad = override ? pad : PAD_SPACE; break;
        case 'm': isnum = N_MONTH; break;
        case 'n': if (!override) rc = str(out, "\n"); else return -EINVAL; continue;
        case 't': if (!override) rc = str(out, "\t"); else return -EINVAL; continue;
        case '%': if (!override) rc = str(out, "%"); else return -EINVAL; continue;
        case 'p': isfix = F_UPPER_AMPM; break;
        case 'r': sq = seq_r; break;
        case 's': isnum = N_TIMESTAMP, pad = override ? pad : PAD_NONE; break;
        case 'u': isnum = N_WDAY_MON, pad = override ? pad : PAD_NONE; break;
        case 'v': sq = seq_v; break;
        case 'w': isnum = N_WDAY_SUN, pad = override ? pad : PAD_NONE; break;
        case 'y': isnum = N_YEAR_MOD100; break;
        case 'z': isfix = F_TZ_OFFSET; break;
        case '+': isfix = F_RFC3339; break;
        case ':': if (NEXT() != 'z') return -EINVAL; isfix = F_TZ_OFFSET_COLON; break;
        case '.': {
            char d = NEXT();
            if (d == 'f') { isfix = F_NANO; break; }
            if ((d != '3' && d != '6' && d != '9') || NEXT() != 'f') return -EINVAL;
            isfix = d == '3' ? F_NANO3 : d == '6' ? F_NANO6 : F_NANO9;
            break;
        }
        case '3': case '6': case '9':
            if (NEXT() != 'f') return -EINVAL;
            isfix = c == '3' ? F_NANO3_NODOT : c == '6' ? F_NANO6_NODOT : F_NANO9_NODOT;
            break;
        default: return -EINVAL;  /* no such specifier, or the format ends after '%' */
        }
#undef NEXT
        if (isnum >= 0) {
            if (!override && c != 'e' && c != 'k' && c != 'l' && c != 's' && c != 'u' && c != 'w') pad = PAD_ZERO;
            rc = num(out, &w, (enum num)isnum, pad);
        } else if (override) {
            return -EINVAL;  /* chrono pads only single numbers */
        } else if (isfix >= 0) {
            rc = fixed(out, &w, (enum fix)isfix, with_tz);
        } else {
            rc = run_seq(out, &w, sq, with_tz);
        }
    }
    return rc;
}
