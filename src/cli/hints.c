/* hints.c - targeted advice for two copy-and-paste mistakes (see hints.h).
 * Both are recognised from the file's text around the error, never from the
 * wording of the error, so a reworded message does not lose its hint. */
#include "cli/hints.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/file.h"

#define MAX_SRC (16u << 20)

static const char *ext(const char *path) {
    const char *dot = strrchr(path, '.');
    return dot && !strchr(dot, '/') ? dot : "";
}

/* Byte offset of line:col (1-based) in src, or len. */
static size_t offset_of(const char *src, size_t len, int line, int col) {
    size_t i = 0;
    for (int l = 1; l < line && i < len; i++)
        if (src[i] == '\n') l++;
    return i + (size_t)(col > 0 ? col - 1 : 0) <= len ? i + (size_t)(col > 0 ? col - 1 : 0) : len;
}

/* `define KIND operator NAME` directly followed by parameters: the error
 * sits on the first parameter. */
static int operator_without_with(const char *src, size_t len, size_t at, char *out, size_t n) {
    /* the statement so far: back to the previous ';' (or the start) */
    size_t s = at;
    while (s > 0 && src[s - 1] != ';') s--;
    char stmt[512];
    size_t k = 0;
    /* collapse whitespace and drop comments, to match words */
    for (size_t i = s; i < at && k + 2 < sizeof stmt; i++) {
        if (src[i] == '#') {
            while (i < at && src[i] != '\n') i++;
            continue;
        }
        if (isspace((unsigned char)src[i])) {
            if (k && stmt[k - 1] != ' ') stmt[k++] = ' ';
        } else {
            stmt[k++] = src[i];
        }
    }
    while (k && stmt[k - 1] == ' ') k--;
    stmt[k] = 0;
    char kind[128], name[128], rest[8];
    if (sscanf(stmt, "define %127s operator %127s %7s", kind, name, rest) != 2) return 0;
    /* the parameters: from the error to the end of the statement */
    size_t e = at;
    while (e < len && src[e] != ';') e++;
    char params[1024];
    size_t p = 0;
    size_t i = at;
    while (i < e && p + 8 < sizeof params) {
        /* one parameter per line, indented, as 0.11's docs write them */
        size_t ls = i;
        while (i < e && src[i] != '\n') i++;
        size_t a = ls, b = i;
        while (a < b && isspace((unsigned char)src[a])) a++;
        while (b > a && isspace((unsigned char)src[b - 1])) b--;
        if (b > a) p += (size_t)snprintf(params + p, sizeof params - p, "      %.*s\n", (int)(b - a), src + a);
        if (i < e) i++;
    }
    params[p < sizeof params ? p : sizeof params - 1] = 0;
    snprintf(out, n,
             "an operator's parameters go between `with` and `end;` - write:\n"
             "    define %s operator %s\n    with\n%s    end;\n", kind, name, params);
    return 1;
}

/* YAML that lost its indentation: every content line starts in column 1,
 * and some of them are keys of a list entry ("- id: x" then "type: y"). */
static int flat_yaml(const char *src, size_t len, char *out, size_t n) {
    int lines = 0, indented = 0, dash = 0, after_dash_keys = 0;
    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && src[e] != '\n') e++;
        size_t a = i;
        while (a < e && (src[a] == ' ' || src[a] == '\t')) a++;
        if (a < e && src[a] != '#' && !(e - a >= 3 && !strncmp(src + a, "---", 3))) {
            lines++;
            if (a > i) indented++;
            if (src[a] == '-') dash = 1;
            else if (dash && memchr(src + a, ':', e - a)) after_dash_keys++;
        }
        i = e + 1;
    }
    if (lines < 3 || indented || !dash || !after_dash_keys) return 0;
    snprintf(out, n,
             "this YAML has lost its indentation (every line starts in column 1), so the keys\n"
             "of an entry are read as keys of the file - indent them as 0.11's docs do, e.g.:\n"
             "    onramp:\n"
             "      - id: metronome\n"
             "        type: metronome\n"
             "        config:\n"
             "          interval: 1000\n"
             "    binding:\n"
             "      - id: default\n"
             "        links:\n"
             "          '/onramp/metronome/{instance}/out': [ '/pipeline/main/{instance}/in' ]\n"
             "(the keys of a list entry line up with the first key after its '-', and\n"
             "a nested mapping goes two spaces further than its key)\n");
    return 1;
}

int tr_hint_for(const struct tr_diag *d, char *out, size_t n) {
    if (!d->file[0]) return 0;
    const char *e = ext(d->file);
    int trickle = !strcmp(e, ".trickle"), yaml = !strcmp(e, ".yaml") || !strcmp(e, ".yml");
    if (!trickle && !yaml) return 0;
    char *src;
    size_t len;
    if (tr_file_read(d->file, MAX_SRC, &src, &len)) return 0;
    int hit = 0;
    if (trickle && d->line > 0)
        hit = operator_without_with(src, len, offset_of(src, len, d->line, d->col), out, n);
    else if (yaml)
        hit = flat_yaml(src, len, out, n);
    tr_free(src);
    return hit;
}
