/* log.c - leveled logging, one write per line, in the text, JSON or
 * pattern layout, and the per-call-site limiter (see log.h). */
#include "core/log.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static enum tr_log_level level = TR_LOG_INFO;
static const char *names[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"};
static void (*writer)(const char *line, void *arg);
static void *writer_arg;
static enum tr_log_format format = TR_LOG_TEXT;
static char *pattern;   /* a log4rs encoder pattern, or NULL */
static FILE *stream;    /* NULL: stderr */

void tr_log_set_level(enum tr_log_level lvl) { level = lvl; }
enum tr_log_level tr_log_level(void) { return level; }
int tr_log_enabled(enum tr_log_level lvl) { return lvl <= level; }
void tr_log_set_format(enum tr_log_format f) { format = f; }
void tr_log_set_stream(void *file) { stream = file; }

int tr_log_level_parse(const char *name, enum tr_log_level *lvl) {
    static const char *lower[] = {"error", "warn", "info", "debug", "trace"};
    for (int i = 0; i < 5; i++)
        if (strcasecmp(name, lower[i]) == 0) {
            *lvl = (enum tr_log_level)i;
            return 0;
        }
    /* we cannot switch errors off; "off" keeps only them */
    if (strcasecmp(name, "off") == 0) {
        *lvl = TR_LOG_ERROR;
        return 0;
    }
    return -EINVAL;
}

void tr_log_set_writer(void (*fn)(const char *line, void *arg), void *arg) {
    writer = fn;
    writer_arg = arg;
}

/* ------------------------------------------------------------ layouts */

/* RFC 3339, UTC, microseconds: 2026-01-02T03:04:05.123456Z (28 bytes). */
static void timestamp(char *out, size_t n) {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + k, n - k, ".%06ldZ", ts.tv_nsec / 1000);
}

/* Append s to out as the inside of a JSON string. */
static size_t json_str(char *out, size_t pos, size_t cap, const char *s) {
    for (; *s && pos + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[pos++] = '\\';
            out[pos++] = (char)c;
        } else if (c < 0x20) {
            pos += (size_t)snprintf(out + pos, cap - pos, "\\u%04x", c);
        } else {
            out[pos++] = (char)c;
        }
    }
    out[pos] = 0;
    return pos;
}

static size_t add(char *out, size_t pos, size_t cap, const char *s) {
    size_t k = strlen(s);
    if (pos + k >= cap) k = cap - pos - 1;
    memcpy(out + pos, s, k);
    pos += k;
    out[pos] = 0;
    return pos;
}

/* The specifier at p ("{...}" without braces, len bytes) rendered into
 * out. A specifier is NAME, NAME(ARGS) and/or :FORMAT; {h(X)} renders X. */
static size_t render(const char *pat, char *out, size_t cap, enum tr_log_level lvl,
                     const char *module, const char *msg, const char *ts);

static size_t spec(const char *p, size_t len, char *out, size_t pos, size_t cap,
                   enum tr_log_level lvl, const char *module, const char *msg, const char *ts) {
    size_t nl = 0;
    while (nl < len && (isalpha((unsigned char)p[nl]) || p[nl] == '_')) nl++;
    char name[16];
    snprintf(name, sizeof name, "%.*s", (int)(nl < 15 ? nl : 15), p);
    if (!strcmp(name, "h") || !strcmp(name, "highlight")) {
        const char *a = memchr(p, '(', len), *b = a ? memrchr(p, ')', len) : NULL;
        if (a && b && b > a) {
            char inner[512];
            snprintf(inner, sizeof inner, "%.*s", (int)(b - a - 1), a + 1);
            return render(inner, out + pos, cap - pos, lvl, module, msg, ts) + pos;
        }
        return pos;
    }
    const char *val = NULL;
    char pid[24];
    if (!strcmp(name, "d") || !strcmp(name, "date")) val = ts;
    else if (!strcmp(name, "l") || !strcmp(name, "level")) val = names[lvl];
    else if (!strcmp(name, "t") || !strcmp(name, "target") || !strcmp(name, "M") ||
             !strcmp(name, "module") || !strcmp(name, "T") || !strcmp(name, "thread")) val = module;
    else if (!strcmp(name, "m") || !strcmp(name, "message")) val = msg;
    else if (!strcmp(name, "n")) val = "\n";
    else if (!strcmp(name, "P") || !strcmp(name, "pid")) {
        snprintf(pid, sizeof pid, "%ld", (long)getpid());
        val = pid;
    }
    if (val) return add(out, pos, cap, val);
    /* not one we know: keep it as written */
    char raw[256];
    snprintf(raw, sizeof raw, "{%.*s}", (int)(len < 250 ? len : 250), p);
    return add(out, pos, cap, raw);
}

static size_t render(const char *pat, char *out, size_t cap, enum tr_log_level lvl,
                     const char *module, const char *msg, const char *ts) {
    size_t pos = 0;
    out[0] = 0;
    for (const char *p = pat; *p && pos + 1 < cap;) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            out[pos++] = p[0];
            out[pos] = 0;
            p += 2;
        } else if (p[0] == '{') {
            /* the matching brace, nested ones counted ({h({l})}) */
            int depth = 0;
            const char *q = p;
            for (; *q; q++) {
                if (*q == '{') depth++;
                else if (*q == '}' && --depth == 0) break;
            }
            if (!*q) break;   /* checked when the pattern was set */
            pos = spec(p + 1, (size_t)(q - p - 1), out, pos, cap, lvl, module, msg, ts);
            p = q + 1;
        } else {
            out[pos++] = *p++;
            out[pos] = 0;
        }
    }
    return pos;
}

int tr_log_set_pattern(const char *pat, char *note, size_t n) {
    if (note && n) note[0] = 0;
    if (!pat) {
        free(pattern);
        pattern = NULL;
        return 0;
    }
    int depth = 0, highlight = 0, widths = 0, unknown = 0;
    for (const char *p = pat; *p; p++) {
        if ((p[0] == '{' && p[1] == '{' && depth == 0) || (p[0] == '}' && p[1] == '}' && depth == 0)) {
            p++;
            continue;
        }
        if (*p == '{') {
            depth++;
            const char *s = p + 1;
            size_t nl = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_");
            if (nl == 1 && *s == 'h') highlight = 1;
            else if (nl == 9 && !strncmp(s, "highlight", 9)) highlight = 1;
            else {
                static const char *known[] = {"d", "date", "l", "level", "t", "target", "M",
                                              "module", "T", "thread", "m", "message", "n", "P",
                                              "pid"};
                int k = 0;
                for (size_t i = 0; i < sizeof known / sizeof *known; i++)
                    if (strlen(known[i]) == nl && !strncmp(s, known[i], nl)) k = 1;
                if (!k) unknown = 1;
                if (nl == 1 && *s == 'd' && s[1] == '(') widths |= 2;
            }
            if (s[nl] == ':') widths |= 1;
        } else if (*p == '}') {
            if (--depth < 0) return -EINVAL;
        }
    }
    if (depth != 0) return -EINVAL;
    char *copy = strdup(pat);
    if (!copy) return -ENOMEM;
    free(pattern);
    pattern = copy;
    if (note && n)
        snprintf(note, n, "%s%s%s%s", highlight ? "{h(...)} colours are not applied; " : "",
                 widths & 1 ? "width/alignment (:...) is not applied; " : "",
                 widths & 2 ? "{d(FORMAT)} is written as RFC 3339; " : "",
                 unknown ? "unknown specifiers are written as they are; " : "");
    if (note && n) {
        size_t k = strlen(note);
        if (k >= 2) note[k - 2] = 0;   /* the last "; " */
    }
    return 0;
}

/* line is "LEVEL [module] text", msg points at its text. */
static void put(enum tr_log_level lvl, const char *module, const char *line, const char *msg) {
    if (writer) {
        writer(line, writer_arg);
        return;
    }
    FILE *f = stream ? stream : stderr;
    char ts[40], out[4200];
    timestamp(ts, sizeof ts);
    if (pattern) {
        render(pattern, out, sizeof out, lvl, module, msg, ts);
        fputs(out, f);
    } else if (format == TR_LOG_JSON) {
        size_t pos = 0;
        pos = add(out, pos, sizeof out, "{\"ts\":\"");
        pos = add(out, pos, sizeof out, ts);
        pos = add(out, pos, sizeof out, "\",\"level\":\"");
        pos = add(out, pos, sizeof out, names[lvl]);
        pos = add(out, pos, sizeof out, "\",\"target\":\"");
        pos = json_str(out, pos, sizeof out, module);
        pos = add(out, pos, sizeof out, "\",\"msg\":\"");
        pos = json_str(out, pos, sizeof out, msg);
        add(out, pos, sizeof out, "\"}\n");
        fputs(out, f);
    } else {
        fprintf(f, "%s %s\n", ts, line);
    }
    fflush(f);
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
    put(lvl, module, line, line + n);
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
    put(l->level, l->module, line, line + n);
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
    put(lvl, module, line, line + n);
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
