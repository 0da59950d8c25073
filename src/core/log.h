/* log.h - leveled logging to stderr, and rate limiting for lines a peer can
 * trigger.
 *
 * One line per message: "TIME LEVEL [module] text", TIME in RFC 3339 (UTC,
 * microseconds); or, with TR_LOG_JSON, one JSON object per line
 * {"ts","level","target","msg"}; or a log4rs-style pattern (below). The
 * level is process-wide (set from -v or a logger config); logging is for
 * operators and never carries data that a test must read back. A line that a remote peer can cause once per event (an
 * undecodable frame, a refused connection) goes through a limiter, so that a
 * flood of bad input becomes one line plus a count per interval, never a
 * flood of log lines.
 */
#ifndef TR_LOG_H
#define TR_LOG_H

#include <stddef.h>
#include <stdint.h>

enum tr_log_level { TR_LOG_ERROR, TR_LOG_WARN, TR_LOG_INFO, TR_LOG_DEBUG, TR_LOG_TRACE };

void tr_log_set_level(enum tr_log_level lvl);
enum tr_log_level tr_log_level(void);
/* "error", "warn", "info", "debug", "trace" (any case; "off" is error) into
 * *lvl: 0, or -EINVAL. */
int tr_log_level_parse(const char *name, enum tr_log_level *lvl);

enum tr_log_format { TR_LOG_TEXT, TR_LOG_JSON };
void tr_log_set_format(enum tr_log_format f);

/* Lay lines out by a log4rs encoder pattern instead: {d} (RFC 3339 time;
 * {d(...)} too, its format ignored), {l} level, {t} / {M} / {T} target
 * (our module), {m} message, {n} newline, {P} pid, {{ and }} literal braces;
 * {h(...)} and width/alignment specs ({l:<5}) are accepted, the highlight and
 * padding not applied. Unknown specifiers are kept as text. What was not
 * honoured is described into note (n bytes; "" when everything was), for
 * the caller to tell the operator. NULL restores the default layout.
 * 0, -EINVAL (unbalanced braces) or -ENOMEM. */
int tr_log_set_pattern(const char *pattern, char *note, size_t n);

/* Where lines go: a stream (stderr by default; stdout for a log4rs console
 * appender, a file for a file appender). The stream is not closed here. */
void tr_log_set_stream(void *file);
int tr_log_enabled(enum tr_log_level lvl);
void tr_log(enum tr_log_level lvl, const char *module, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Where finished lines go (without the newline and without the time stamp:
 * "LEVEL [module] text" whatever the format); NULL restores the stream. For
 * tests that check what was logged. Not thread-safe: set it before logging. */
void tr_log_set_writer(void (*fn)(const char *line, void *arg), void *arg);

#define TR_ERROR(mod, ...) tr_log(TR_LOG_ERROR, mod, __VA_ARGS__)
#define TR_WARN(mod, ...) tr_log(TR_LOG_WARN, mod, __VA_ARGS__)
#define TR_INFO(mod, ...) tr_log(TR_LOG_INFO, mod, __VA_ARGS__)
#define TR_DEBUG(mod, ...) \
    do { if (tr_log_enabled(TR_LOG_DEBUG)) tr_log(TR_LOG_DEBUG, mod, __VA_ARGS__); } while (0)

/* ------------------------------------------------------------ limiting */

#define TR_LOG_LIMIT_MS 10000   /* default interval */
#define TR_LOG_LIMIT_TEXT 200   /* bytes of the interval's first line kept for the summary */

/* The state of one call site. Lives in the owner's struct (an onramp, a
 * WAL), zeroed or TR_LOG_LIMIT_INIT; interval_ms 0 means TR_LOG_LIMIT_MS.
 * Used from one thread only.
 *
 * In each interval the first line is written as it is; the others are only
 * counted. The count is written with the first line of the next interval
 * ("... (and 41 more like it in the last 10 s)"), or by tr_log_limit_flush
 * once the interval is over, so a flood that stops is still accounted for. */
struct tr_log_limit {
    uint64_t interval_ms;
    uint64_t since_ms;        /* start of the current interval */
    uint64_t suppressed;      /* lines not written in it */
    uint64_t total;           /* every line ever offered */
    int open;                 /* an interval has started */
    enum tr_log_level level;  /* of the interval's first line, for the summary */
    char module[16];
    char text[TR_LOG_LIMIT_TEXT];
};
#define TR_LOG_LIMIT_INIT {0}

/* Offer a line at now_ms (any monotonic milliseconds). Returns 1 when it
 * was written, 0 when it was counted only (or the level is off). */
int tr_log_limited_at(struct tr_log_limit *l, uint64_t now_ms, enum tr_log_level lvl,
                      const char *module, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
/* The same at the monotonic clock. */
int tr_log_limited(struct tr_log_limit *l, enum tr_log_level lvl, const char *module,
                   const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* Write the pending count once the interval is over (from a timer the owner
 * has anyway); nothing when nothing was suppressed. */
void tr_log_limit_flush_at(struct tr_log_limit *l, uint64_t now_ms);
void tr_log_limit_flush(struct tr_log_limit *l);
/* Milliseconds of the clock tr_log_limited uses. */
uint64_t tr_log_now_ms(void);

#define TR_WARN_LIMITED(lim, mod, ...) tr_log_limited(lim, TR_LOG_WARN, mod, __VA_ARGS__)

#endif
