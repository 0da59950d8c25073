/* extract.c - tilde extractors (`~ re|...|`, `key ~= glob|...|`, ...).
 *
 * Supported: glob, re and rerg (Rust-style patterns translated to POSIX
 * extended regular expressions: named groups, \d \s \w classes), json,
 * base64, kv (key:value pairs split on white space), cidr, influx, dissect,
 * grok and datetime (their own files). An extractor is compiled once with
 * the script; matching allocates only for its result.
 * Invariant: a compiled regex lives exactly as long as its extractor.
 */
#include <errno.h>
#include <fnmatch.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "lang/lang_int.h"

enum { X_GLOB, X_RE, X_RERG, X_JSON, X_BASE64, X_KV, X_CIDR, X_INFLUX, X_DISSECT, X_GROK, X_DATETIME };

#define MAX_GROUPS 32

struct tr_extractor {
    int kind;
    char *pattern;
    regex_t re;
    int has_re;
    struct tr_cidr *cidr;
    struct tr_dissect *dissect;
    struct tr_grok *grok;
    int ngroups;
    char *names[MAX_GROUPS + 1];   /* capture group index -> name (NULL: unnamed) */
};

/* Rust regex syntax to POSIX ERE; collects group names. */
static int translate(struct tr_extractor *x, const char *p, struct tr_buf *b, int *icase, char *msg, size_t mlen) {
    int in_class = 0, rc = 0;
    for (size_t i = 0; p[i] && !rc; i++) {
        char c = p[i];
        if (c == '\\' && p[i + 1]) {
            char n = p[++i];
            const char *rep = NULL;
            switch (n) {
            case 'd': rep = in_class ? "0-9" : "[0-9]"; break;
            case 'D': rep = in_class ? NULL : "[^0-9]"; break;
            case 's': rep = in_class ? "[:space:]" : "[[:space:]]"; break;
            case 'S': rep = in_class ? NULL : "[^[:space:]]"; break;
            case 'w': rep = in_class ? "[:alnum:]_" : "[[:alnum:]_]"; break;
            case 'W': rep = in_class ? NULL : "[^[:alnum:]_]"; break;
            default: break;
            }
            if (rep) rc = tr_buf_append(b, rep, strlen(rep));
            else if (in_class) rc = n == ']' || n == '\\' ? tr_buf_printf(b, "%c", n) : tr_buf_printf(b, "%c", n);
            else rc = tr_buf_printf(b, "\\%c", n);
            continue;
        }
        if (in_class) {
            if (c == ']') in_class = 0;
            rc = tr_buf_putc(b, c);
            continue;
        }
        if (c == '[') {
            in_class = 1;
            rc = tr_buf_putc(b, c);
            if (p[i + 1] == '^') rc = rc ? rc : tr_buf_putc(b, p[++i]);
            if (p[i + 1] == ']') rc = rc ? rc : tr_buf_putc(b, p[++i]);
            continue;
        }
        if (c == '(' && p[i + 1] == '?') {
            if (p[i + 2] == 'P' && p[i + 3] == '<') {
                const char *e = strchr(p + i + 4, '>');
                if (!e) {
                    snprintf(msg, mlen, "unclosed group name");
                    return TR_EPARSE;
                }
                if (x->ngroups >= MAX_GROUPS) {
                    snprintf(msg, mlen, "too many groups");
                    return TR_ETOOBIG;
                }
                x->names[++x->ngroups] = tr_strndup(p + i + 4, (size_t)(e - (p + i + 4)));
                if (!x->names[x->ngroups]) return -ENOMEM;
                i = (size_t)(e - p);
                rc = tr_buf_putc(b, '(');
                continue;
            }
            if (p[i + 2] == ':') {
                if (x->ngroups >= MAX_GROUPS) return TR_ETOOBIG;
                x->ngroups++;
                i += 2;
                rc = tr_buf_putc(b, '(');
                continue;
            }
            /* inline flags (?i) ... */
            size_t j = i + 2;
            while (p[j] && p[j] != ')') {
                if (p[j] == 'i') *icase = 1;
                j++;
            }
            if (!p[j]) {
                snprintf(msg, mlen, "unclosed group");
                return TR_EPARSE;
            }
            i = j;
            continue;
        }
        if (c == '(') {
            if (x->ngroups >= MAX_GROUPS) return TR_ETOOBIG;
            x->ngroups++;
        }
        /* lazy quantifiers have no POSIX form: match greedily */
        if (c == '?' && i > 0 && (p[i - 1] == '*' || p[i - 1] == '+' || p[i - 1] == '?' || p[i - 1] == '}'))
            continue;
        rc = tr_buf_putc(b, c);
    }
    if (!rc && in_class) {
        snprintf(msg, mlen, "unclosed character class");
        return TR_EPARSE;
    }
    return rc;
}

int tr_regex_compile(const char *pattern, regex_t *re, char *msg, size_t mlen) {
    struct tr_extractor *x = tr_calloc(1, sizeof *x);
    if (!x) return -ENOMEM;
    struct tr_buf b;
    tr_buf_init(&b);
    int icase = 0;
    int rc = translate(x, pattern, &b, &icase, msg, mlen);
    if (!rc) {
        int r = regcomp(re, b.data ? b.data : "", REG_EXTENDED | (icase ? REG_ICASE : 0));
        if (r) {
            regerror(r, re, msg, mlen);
            rc = TR_EPARSE;
        }
    }
    tr_buf_fini(&b);
    for (int i = 0; i <= MAX_GROUPS; i++) tr_free(x->names[i]);
    tr_free(x);
    return rc;
}

int tr_extractor_create(const char *kind, const char *pattern, struct tr_extractor **out, char *msg, size_t mlen) {
    *out = NULL;
    struct tr_extractor *x = tr_calloc(1, sizeof *x);
    if (!x) return -ENOMEM;
    x->pattern = tr_strdup(pattern);
    if (!x->pattern) {
        tr_free(x);
        return -ENOMEM;
    }
    int rc = 0;
    if (!strcmp(kind, "glob")) x->kind = X_GLOB;
    else if (!strcmp(kind, "json")) x->kind = X_JSON;
    else if (!strcmp(kind, "base64")) x->kind = X_BASE64;
    else if (!strcmp(kind, "kv")) x->kind = X_KV;
    else if (!strcmp(kind, "influx")) x->kind = X_INFLUX;
    else if (!strcmp(kind, "datetime")) x->kind = X_DATETIME;
    else if (!strcmp(kind, "dissect")) {
        x->kind = X_DISSECT;
        rc = tr_dissect_create(pattern, &x->dissect, msg, mlen);
    } else if (!strcmp(kind, "grok")) {
        x->kind = X_GROK;
        rc = tr_grok_create(pattern, &x->grok, msg, mlen);
    } else if (!strcmp(kind, "cidr")) {
        x->kind = X_CIDR;
        rc = tr_cidr_create(pattern, &x->cidr, msg, mlen);
    }
    else if (!strcmp(kind, "re") || !strcmp(kind, "rerg")) {
        x->kind = kind[2] ? X_RERG : X_RE;
        struct tr_buf b;
        tr_buf_init(&b);
        int icase = 0;
        rc = translate(x, pattern, &b, &icase, msg, mlen);
        if (!rc) {
            int r = regcomp(&x->re, b.data ? b.data : "", REG_EXTENDED | (icase ? REG_ICASE : 0));
            if (r) {
                regerror(r, &x->re, msg, mlen);
                rc = TR_EPARSE;
            } else {
                x->has_re = 1;
            }
        }
        tr_buf_fini(&b);
    } else {
        snprintf(msg, mlen, "Unsupported extractor %s", kind);
        rc = TR_EUNSUPPORTED;
    }
    if (rc) {
        tr_extractor_destroy(x);
        return rc;
    }
    *out = x;
    return 0;
}

void tr_extractor_destroy(struct tr_extractor *x) {
    if (!x) return;
    if (x->has_re) regfree(&x->re);
    tr_cidr_destroy(x->cidr);
    tr_dissect_destroy(x->dissect);
    tr_grok_destroy(x->grok);
    for (int i = 0; i <= MAX_GROUPS; i++) tr_free(x->names[i]);
    tr_free(x->pattern);
    tr_free(x);
}

static int b64val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

static int base64_decode(const struct tr_str *s, struct tr_buf *out) {
    if (s->len % 4) return 1;
    for (uint32_t i = 0; i < s->len; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            char ch = s->data[i + k];
            if (ch == '=' && i + 4 == s->len && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad || (v[k] = b64val((unsigned char)ch)) < 0) return 1;
        }
        unsigned n = (unsigned)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
        char o[3] = {(char)(n >> 16), (char)(n >> 8), (char)n};
        if (tr_buf_append(out, o, (size_t)(3 - pad))) return -ENOMEM;
    }
    return 0;
}

/* Match s; 1 with *out (when need) on a match, 0 on none, <0 on errors. */
int tr_extractor_run(const struct tr_extractor *x, const tr_value *v, int need, tr_value *out) {
    if (need) *out = tr_v_null();
    if (v->type != TR_STR) return 0;
    const struct tr_str *s = v->as.s;
    int rc;
    switch (x->kind) {
    case X_GLOB:
        if (fnmatch(x->pattern, s->data, 0) != 0) return 0;
        if (need) *out = tr_v_bool(1);
        return 1;
    case X_JSON: {
        tr_value r;
        if (tr_json_decode(s->data, s->len, &r, NULL)) return 0;
        if (need) *out = r;
        else tr_value_unref(r);
        return 1;
    }
    case X_BASE64: {
        struct tr_buf b;
        tr_buf_init(&b);
        rc = base64_decode(s, &b);
        if (!rc && need) rc = tr_v_str(b.data ? b.data : "", b.len, out);
        tr_buf_fini(&b);
        return rc < 0 ? rc : rc == 0;
    }
    case X_CIDR:
        return tr_cidr_run(x->cidr, s, need, out);
    case X_DISSECT:
        return tr_dissect_run(x->dissect, s, need, out);
    case X_GROK:
        return tr_grok_run(x->grok, s, need, out);
    case X_DATETIME: {
        int64_t ns;
        rc = tr_datetime_parse(s->data, s->len, x->pattern, &ns);
        if (rc == 1 && need) *out = tr_v_int(ns);
        return rc;
    }
    case X_INFLUX: {
        tr_value r;
        /* extractors see no event context: a line without a timestamp gets 0 */
        rc = tr_influx_decode(s, 0, &r);
        if (rc == 1 && need) *out = r;
        else if (rc == 1) tr_value_unref(r);
        return rc;
    }
    case X_KV: {
        /* key:value pairs separated by white space; every pair must parse */
        if (need && (rc = tr_v_rec(4, out))) return rc;
        const char *p = s->data, *end = s->data + s->len;
        int pairs = 0;
        while (p < end) {
            while (p < end && *p == ' ') p++;
            if (p >= end) break;
            const char *e = p;
            while (e < end && *e != ' ') e++;
            const char *colon = memchr(p, ':', (size_t)(e - p));
            if (!colon || colon == p) {
                if (need) {
                    tr_value_unref(*out);
                    *out = tr_v_null();
                }
                return 0;
            }
            if (need) {
                tr_value val;
                if ((rc = tr_v_str(colon + 1, (size_t)(e - colon - 1), &val))) return rc;
                if ((rc = tr_rec_set(out, p, (size_t)(colon - p), val))) return rc;
            }
            pairs++;
            p = e;
        }
        if (!pairs && need) {
            tr_value_unref(*out);
            *out = tr_v_null();
        }
        return pairs > 0;
    }
    default: {
        regmatch_t m[MAX_GROUPS + 1];
        if (regexec(&x->re, s->data, MAX_GROUPS + 1, m, 0) != 0) return 0;
        if (!need) return 1;
        if ((rc = tr_v_rec(4, out))) return rc;
        const char *base = s->data;
        size_t off = 0;
        for (int round = 0; round < 1000000; round++) {
            for (int g = 1; g <= x->ngroups; g++) {
                if (!x->names[g] || m[g].rm_so < 0) continue;
                tr_value cap;
                if ((rc = tr_v_str(base + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so), &cap))) return rc;
                if (x->kind == X_RE) {
                    rc = tr_rec_set(out, x->names[g], strlen(x->names[g]), cap);
                } else {
                    /* rerg: every match adds to an array per name */
                    tr_value *arr = tr_rec_get_cstr(out, x->names[g]);
                    if (!arr) {
                        tr_value a;
                        if ((rc = tr_v_arr(2, &a))) {
                            tr_value_unref(cap);
                            return rc;
                        }
                        rc = tr_arr_push(&a, cap);
                        if (!rc) rc = tr_rec_set(out, x->names[g], strlen(x->names[g]), a);
                    } else {
                        rc = tr_value_mut(arr);
                        if (!rc) rc = tr_arr_push(arr, cap);
                        else tr_value_unref(cap);
                    }
                }
                if (rc) return rc;
            }
            if (x->kind == X_RE || m[0].rm_eo == m[0].rm_so) break;
            off += (size_t)m[0].rm_eo;
            base = s->data + off;
            if (off >= s->len || regexec(&x->re, base, MAX_GROUPS + 1, m, REG_NOTBOL) != 0) break;
        }
        return 1;
    }
    }
}
