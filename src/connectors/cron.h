/* cron.h - cron expressions as Tremor 0.11's crononome reads them (the
 * `cron` crate 0.9): six or seven whitespace-separated fields
 *
 *   sec(0-59) min(0-59) hour(0-23) day-of-month(1-31) month(1-12) day-of-week(1-7) [year(1970-2100)]
 *
 * each a comma list of `*`, N, N-M, names (months: jan..dec/january..,
 * days of week: sun=1 .. sat=7, case-insensitive), name ranges, and steps
 * `*\/S`, `N/S` (N to the field's maximum), `N-M/S`, `NAME-NAME/S`; `?` means
 * `*` in day-of-month and day-of-week only. Or one of @yearly, @monthly,
 * @weekly (Sunday), @daily, @hourly. A time matches when every field
 * matches (day-of-month AND day-of-week, unlike vixie cron). UTC only.
 * Not a scheduler: the crononome onramp owns the timers.
 */
#ifndef TR_CRON_H
#define TR_CRON_H

#include <stddef.h>
#include <stdint.h>

#define TR_CRON_YEAR_MIN 1970
#define TR_CRON_YEAR_MAX 2100

struct tr_cron {
    uint64_t sec, min;        /* bit n: second/minute n */
    uint32_t hour, dom;       /* bit n: hour n, day n (1..31) */
    uint16_t mon;             /* bit n: month n (1..12) */
    uint8_t dow;              /* bit n: day n (1 = Sunday .. 7 = Saturday) */
    uint8_t years[(TR_CRON_YEAR_MAX - TR_CRON_YEAR_MIN + 8) / 8];
};

/* Parse expr into *out. 0, or TR_EPARSE with a message in err (errlen
 * bytes, NUL-terminated) naming the field and what is wrong. Never reads
 * past the NUL; any input is safe. */
int tr_cron_parse(const char *expr, struct tr_cron *out, char *err, size_t errlen);

/* The first time strictly after `after` (Unix seconds, UTC) that c matches,
 * in whole seconds: 0 and *next, or TR_ENOTFOUND when none is left before
 * the end of TR_CRON_YEAR_MAX (the cron crate's None). */
int tr_cron_next(const struct tr_cron *c, int64_t after, int64_t *next);

#endif
