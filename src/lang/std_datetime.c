/* std_datetime.c - std::datetime: the 28 functions of Tremor 0.11's module.
 *
 * An instant is an unsigned integer of nanoseconds since the Unix epoch
 * (UTC); anything else (negative, float, string) is a bad type, as in 0.11.
 * Formatting follows chrono 0.4.19 (timefmt.c), parsing is the datetime
 * extractor's reader (extract_datetime.c). The unit constructors compute in
 * 32-bit unsigned arithmetic that wraps, and with_years counts a leap day
 * per four years, both exactly as 0.11 does. Everything but today() is pure.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lang/extract_int.h"
#include "lang/std_int.h"
#include "lang/timefmt_int.h"

#define NS 1000000000ull

static int as_u64(const tr_value *v, uint64_t *u) {
    if (v->type == TR_I64 && v->as.i >= 0) *u = (uint64_t)v->as.i;
    else if (v->type == TR_U64) *u = v->as.u;
    else return 0;
    return 1;
}

static int as_u32(const tr_value *v, uint32_t *u) {
    uint64_t x;
    if (!as_u64(v, &x) || x > UINT32_MAX) return 0;
    *u = (uint32_t)x;
    return 1;
}

/* --- unit constructors: u32 arithmetic wraps as in 0.11's release build --- */
static uint64_t u_seconds(uint32_t n) { return (uint64_t)n * NS; }
static uint64_t u_minutes(uint32_t n) { return u_seconds(n * 60u); }
static uint64_t u_hours(uint32_t n) { return u_minutes(n * 60u); }
static uint64_t u_days(uint32_t n) { return u_hours(n * 24u); }
static uint64_t u_weeks(uint32_t n) { return u_days(n * 7u); }
static uint64_t u_years(uint32_t n) { return u_days(n * 365u) + u_days(n / 4u); }
static uint64_t u_nanos(uint32_t n) { return n; }
static uint64_t u_micros(uint32_t n) { return (uint64_t)n * 1000u; }
static uint64_t u_millis(uint32_t n) { return (uint64_t)n * 1000000u; }

#define WITH_UNIT(fname, conv)                                                         \
    static int fname(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) { \
        (void)c, (void)n;                                                              \
        uint32_t v;                                                                    \
        if (!as_u32(&a[0], &v)) return TR_FN_BADTYPE;                                  \
        *o = tr_v_uint(conv(v));                                                       \
        return 0;                                                                      \
    }
WITH_UNIT(with_nanoseconds, u_nanos)
WITH_UNIT(with_microseconds, u_micros)
WITH_UNIT(with_milliseconds, u_millis)
WITH_UNIT(with_seconds, u_seconds)
WITH_UNIT(with_minutes, u_minutes)
WITH_UNIT(with_hours, u_hours)
WITH_UNIT(with_days, u_days)
WITH_UNIT(with_weeks, u_weeks)
WITH_UNIT(with_years, u_years)

/* --- components of an instant --- */
static uint64_t c_nanosecond(uint64_t t) { return t % NS % 1000; }
static uint64_t c_microsecond(uint64_t t) { return t % NS / 1000 % 1000; }
static uint64_t c_millisecond(uint64_t t) { return t % NS / 1000000; }
static uint64_t c_subsecond(uint64_t t) { return t % NS; }
static uint64_t c_second(uint64_t t) { return t / NS % 60; }
static uint64_t c_minute(uint64_t t) { return t / NS / 60 % 60; }
static uint64_t c_hour(uint64_t t) { return t / NS / 3600 % 24; }
static uint64_t c_without_subseconds(uint64_t t) { return t / NS; }

/* Year, month and day through the formatter's calendar, so both agree. */
static uint64_t c_date(uint64_t t, const char *fmt) {
    struct tr_buf b;
    size_t pos;
    uint64_t v = 0;
    tr_buf_init(&b);
    if (tr_timefmt_format((int64_t)(t / NS), 0, fmt, strlen(fmt), 0, &b, &pos) == 0 && tr_buf_putc(&b, 0) == 0)
        for (const char *p = b.data; *p; p++) v = v * 10 + (uint64_t)(*p - '0');
    tr_buf_fini(&b);
    return v;
}
static uint64_t c_year(uint64_t t) { return c_date(t, "%-Y"); }
static uint64_t c_month(uint64_t t) { return c_date(t, "%-m"); }
static uint64_t c_day(uint64_t t) { return c_date(t, "%-d"); }

/* chrono's round_subsecs: ties round up; 0.11 then keeps only the rounded
 * sub-second part on the original second, so a value that rounds up into
 * the next second comes back as the start of its own second. */
static uint64_t round_to(uint64_t t, uint64_t span) {
    uint64_t ns = t % NS, down = ns % span, r = ns;
    if (down > 0) r = span - down <= down ? ns + (span - down) : ns - down;
    return t / NS * NS + r % NS;
}
static uint64_t c_nearest_ms(uint64_t t) { return round_to(t, 1000000); }
static uint64_t c_nearest_us(uint64_t t) { return round_to(t, 1000); }
static uint64_t c_nearest_s(uint64_t t) {
    uint64_t ns = t % NS;
    return ns < NS / 2 ? t - ns : t - ns + NS;  /* wraps at the top like 0.11's u64 */
}

#define TIME_FN(fname, conv)                                                           \
    static int fname(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) { \
        (void)c, (void)n;                                                              \
        uint64_t t;                                                                    \
        if (!as_u64(&a[0], &t)) return TR_FN_BADTYPE;                                  \
        *o = tr_v_uint(conv(t));                                                       \
        return 0;                                                                      \
    }
TIME_FN(f_year, c_year)
TIME_FN(f_month, c_month)
TIME_FN(f_day, c_day)
TIME_FN(f_hour, c_hour)
TIME_FN(f_minute, c_minute)
TIME_FN(f_second, c_second)
TIME_FN(f_millisecond, c_millisecond)
TIME_FN(f_microsecond, c_microsecond)
TIME_FN(f_nanosecond, c_nanosecond)
TIME_FN(f_subsecond, c_subsecond)
TIME_FN(f_to_nearest_millisecond, c_nearest_ms)
TIME_FN(f_to_nearest_microsecond, c_nearest_us)
TIME_FN(f_to_nearest_second, c_nearest_s)
TIME_FN(f_without_subseconds, c_without_subseconds)

/* --- text --- */
static int format_to(struct tr_fcall *c, uint64_t t, const char *fmt, size_t len, int with_tz, tr_value *o) {
    struct tr_buf b;
    size_t pos = 0;
    tr_buf_init(&b);
    int rc = tr_timefmt_format((int64_t)(t / NS), (uint32_t)(t % NS), fmt, len, with_tz, &b, &pos);
    if (rc == -EINVAL) {
        /* 0.11 panics here (chrono's Display fails); we refuse the call */
        snprintf(c->msg, sizeof c->msg, "invalid format string: bad or unsupported specifier at byte %zu of '%.*s'",
                 pos, (int)(len > 200 ? 200 : len), fmt);
        rc = TR_FN_ERROR;
    } else if (rc == 0) {
        rc = tr_v_str(b.data ? b.data : "", b.len, o);
    }
    tr_buf_fini(&b);
    return rc;
}

static int f_format(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) {
    (void)n;
    uint64_t t;
    if (!as_u64(&a[0], &t) || a[1].type != TR_STR) return TR_FN_BADTYPE;
    const struct tr_str *f = a[1].as.s;
    return format_to(c, t, f->data, f->len, tr_timefmt_has_tz(f->data, f->len), o);
}

static int f_iso8601(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) {
    (void)n;
    uint64_t t;
    if (!as_u64(&a[0], &t)) return TR_FN_BADTYPE;
    static const char fmt[] = "%Y-%m-%dT%H:%M:%S%.9f+00:00";
    return format_to(c, t, fmt, sizeof fmt - 1, 0, o);
}

static int f_parse(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) {
    (void)n;
    if (a[0].type != TR_STR || a[1].type != TR_STR) return TR_FN_BADTYPE;
    int64_t ns;
    if (memchr(a[1].as.s->data, 0, a[1].as.s->len) ||
        !tr_datetime_parse(a[0].as.s->data, a[0].as.s->len, a[1].as.s->data, &ns)) {
        /* 0.11 names chrono's error kind here; the reader does not tell them apart */
        snprintf(c->msg, sizeof c->msg, "Cannot Parse Datetime Parse Error: ParseError(Invalid) to valid timestamp");
        return TR_FN_ERROR;
    }
    *o = tr_v_uint((uint64_t)ns);  /* before 1970 wraps, as 0.11's cast does */
    return 0;
}

/* 0.11 splits at single spaces and reads "<u32> <unit>" pairs; a pair it
 * does not know (hours among them, an odd token out) adds nothing. */
static int f_from_human_format(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) {
    (void)n;
    static const struct {
        const char *one, *many;
        uint64_t (*conv)(uint32_t);
    } units[] = {{"year", "years", u_years},          {"week", "weeks", u_weeks},
                 {"day", "days", u_days},             {"minute", "minutes", u_minutes},
                 {"second", "seconds", u_seconds},    {"millisecond", "milliseconds", u_millis},
                 {"microsecond", "microseconds", u_micros}, {"nanosecond", "nanoseconds", u_nanos}};
    if (a[0].type != TR_STR) return TR_FN_BADTYPE;
    const char *p = a[0].as.s->data, *end = p + a[0].as.s->len;
    uint64_t acc = 0;
    const char *tok[2];
    size_t tlen[2];
    int k = 0;
    for (const char *s = p;; ) {
        const char *e = memchr(s, ' ', (size_t)(end - s));
        if (!e) e = end;
        tok[k] = s, tlen[k] = (size_t)(e - s), k++;
        if (k == 2) {
            /* Rust's u32 parse: optional '+', then 1..10 digits within range */
            const char *d = tok[0];
            size_t dl = tlen[0];
            if (dl && *d == '+') d++, dl--;
            uint64_t v = 0;
            int ok = dl > 0;
            for (size_t i = 0; ok && i < dl; i++) {
                if (d[i] < '0' || d[i] > '9') ok = 0;
                else if ((v = v * 10 + (uint64_t)(d[i] - '0')) > UINT32_MAX) ok = 0;
            }
            for (size_t u = 0; ok && u < sizeof units / sizeof units[0]; u++) {
                if (strlen(units[u].many) == tlen[1] && !memcmp(units[u].many, tok[1], tlen[1])) {
                    acc += units[u].conv((uint32_t)v);
                    break;
                }
                if (v == 1 && strlen(units[u].one) == tlen[1] && !memcmp(units[u].one, tok[1], tlen[1])) {
                    acc += units[u].conv(1);
                    break;
                }
            }
            k = 0;
        }
        if (e == end) break;
        s = e + 1;
    }
    if (acc == 0) {
        snprintf(c->msg, sizeof c->msg, "The human format %.*s is invalid",
                 (int)(a[0].as.s->len > 400 ? 400 : a[0].as.s->len), p);
        return TR_FN_ERROR;
    }
    *o = tr_v_uint(acc);
    return 0;
}

static int f_today(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) {
    (void)c, (void)a, (void)n;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t s = ts.tv_sec < 0 ? 0 : (uint64_t)ts.tv_sec;
    *o = tr_v_uint(s / 86400 * 86400 * NS);
    return 0;
}

const struct tr_fn tr_std_datetime[] = {
    {"datetime", "parse", 2, 2, 1, f_parse},
    {"datetime", "iso8601", 1, 1, 1, f_iso8601},
    {"datetime", "format", 2, 2, 1, f_format},
    {"datetime", "year", 1, 1, 1, f_year},
    {"datetime", "month", 1, 1, 1, f_month},
    {"datetime", "day", 1, 1, 1, f_day},
    {"datetime", "hour", 1, 1, 1, f_hour},
    {"datetime", "minute", 1, 1, 1, f_minute},
    {"datetime", "second", 1, 1, 1, f_second},
    {"datetime", "millisecond", 1, 1, 1, f_millisecond},
    {"datetime", "microsecond", 1, 1, 1, f_microsecond},
    {"datetime", "nanosecond", 1, 1, 1, f_nanosecond},
    {"datetime", "today", 0, 0, 0, f_today},
    {"datetime", "subsecond", 1, 1, 1, f_subsecond},
    {"datetime", "to_nearest_millisecond", 1, 1, 1, f_to_nearest_millisecond},
    {"datetime", "to_nearest_microsecond", 1, 1, 1, f_to_nearest_microsecond},
    {"datetime", "to_nearest_second", 1, 1, 1, f_to_nearest_second},
    {"datetime", "from_human_format", 1, 1, 1, f_from_human_format},
    {"datetime", "with_nanoseconds", 1, 1, 1, with_nanoseconds},
    {"datetime", "with_microseconds", 1, 1, 1, with_microseconds},
    {"datetime", "with_milliseconds", 1, 1, 1, with_milliseconds},
    {"datetime", "with_seconds", 1, 1, 1, with_seconds},
    {"datetime", "with_minutes", 1, 1, 1, with_minutes},
    {"datetime", "with_hours", 1, 1, 1, with_hours},
    {"datetime", "with_days", 1, 1, 1, with_days},
    {"datetime", "with_weeks", 1, 1, 1, with_weeks},
    {"datetime", "with_years", 1, 1, 1, with_years},
    {"datetime", "without_subseconds", 1, 1, 1, f_without_subseconds},
    {NULL, NULL, 0, 0, 0, NULL},
};
