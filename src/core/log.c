/* log.c - leveled logging to stderr, one write per line, and the per-call-site
 * limiter (see log.h). */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum tr_log_level level = TR_LOG_INFO;
static const char *names[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"};
static void (*writer)(const char *line, void *arg);
static void *writer_arg;

void tr_log_set_level(enum tr_log_level lvl) { level = lvl; }
int tr_log_enabled(enum tr_log_level lvl) { return lvl <= level; }

void tr_log_set_writer(void (*fn)(const char *line, void *arg), void *arg) {
    writer = fn;
    writer_arg = arg;
}

static void put(const char *line) {
    if (writer) writer(line, writer_arg);
    else fprintf(stderr, "%s\n", line);
}

/* "LEVEL [module] " into line; the length written, or -1. */
static int prefix(char *line, size_t n, enum tr_log_level lvl, const char *module) {
    int k = snprintf(line, n, "%-5s [%s] ", names[lvl], module);
    return k < 0 || (size_t)k >= n ? -1 : k;
}

void tr_log(enum tr_log_level lvl, const char *module, const char *fmt, ...) {
    if (lvl > level) return;
    char line[2048];
    int n = prefix(line, sizeof line, lvl, module);
    if (n < 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    put(line);
}

/* ------------------------------------------------------------ limiting */

uint64_t tr_log_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t interval(const struct tr_log_limit *l) {
    return l->interval_ms ? l->interval_ms : TR_LOG_LIMIT_MS;
}

/* " in the last 10 s" or " in the last 250 ms". */
static void span(char *out, size_t n, uint64_t ms) {
    if (ms % 1000 == 0) snprintf(out, n, "%llu s", (unsigned long long)(ms / 1000));
    else snprintf(out, n, "%llu ms", (unsigned long long)ms);
}

void tr_log_limit_flush_at(struct tr_log_limit *l, uint64_t now_ms) {
    if (!l->open || !l->suppressed || now_ms - l->since_ms < interval(l)) return;
    char line[2048], sp[32];
    span(sp, sizeof sp, interval(l));
    int n = prefix(line, sizeof line, l->level, l->module);
    if (n < 0) return;
    snprintf(line + n, sizeof line - (size_t)n, "%llu more like this in the last %s: %s",
             (unsigned long long)l->suppressed, sp, l->text);
    put(line);
    /* The next line starts a new interval and is written at once. */
    l->suppressed = 0;
    l->open = 0;
}

void tr_log_limit_flush(struct tr_log_limit *l) { tr_log_limit_flush_at(l, tr_log_now_ms()); }

static int limitv(struct tr_log_limit *l, uint64_t now_ms, enum tr_log_level lvl, const char *module,
                  const char *fmt, va_list ap) {
    l->total++;
    if (l->open && now_ms - l->since_ms < interval(l)) {
        l->suppressed++;
        return 0;
    }
    uint64_t carried = l->suppressed, carried_ms = now_ms - l->since_ms;
    l->open = 1;
    l->since_ms = now_ms;
    l->suppressed = 0;
    l->level = lvl;
    snprintf(l->module, sizeof l->module, "%s", module);
    if (lvl > level) {
        l->text[0] = 0;
        return 0;
    }
    char line[2048];
    int n = prefix(line, sizeof line, lvl, module);
    if (n < 0) return 0;
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    snprintf(l->text, sizeof l->text, "%s", line + n);
    if (carried) {
        char sp[32];
        size_t len = strlen(line);
        span(sp, sizeof sp, carried_ms);
        snprintf(line + len, sizeof line - len, " (and %llu more like it in the last %s)",
                 (unsigned long long)carried, sp);
    }
    put(line);
    return 1;
}

int tr_log_limited_at(struct tr_log_limit *l, uint64_t now_ms, enum tr_log_level lvl,
                      const char *module, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = limitv(l, now_ms, lvl, module, fmt, ap);
    va_end(ap);
    return rc;
}

int tr_log_limited(struct tr_log_limit *l, enum tr_log_level lvl, const char *module,
                   const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = limitv(l, tr_log_now_ms(), lvl, module, fmt, ap);
    va_end(ap);
    return rc;
}
