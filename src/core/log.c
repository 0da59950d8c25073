/* log.c - leveled logging to stderr, one write per line. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>

static enum tr_log_level level = TR_LOG_INFO;
static const char *names[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"};

void tr_log_set_level(enum tr_log_level lvl) { level = lvl; }
int tr_log_enabled(enum tr_log_level lvl) { return lvl <= level; }

void tr_log(enum tr_log_level lvl, const char *module, const char *fmt, ...) {
    if (lvl > level) return;
    char line[2048];
    int n = snprintf(line, sizeof line, "%-5s [%s] ", names[lvl], module);
    if (n < 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}
