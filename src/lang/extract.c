/* extract.c - tilde extractors (`~ re|...|`, `key ~= glob|...|`, ...).
 *
 * Supported: glob, re and rerg (Rust regex syntax, regex.c: named groups
 * become fields), json, base64, kv, cidr, influx, dissect, grok and
 * datetime (their own files). An extractor
 * is compiled once with the script and run by that script's thread only:
 * re and rerg keep their match scratch in it, so a run allocates only for
 * its result, and a regex limit error stays readable after the run.
 * Invariant: a compiled regex lives exactly as long as its extractor.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>

#include "codec/base64.h"
#include "codec/json.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "lang/extract_int.h"
#include "lang/regex.h"

enum { X_GLOB, X_RE, X_RERG, X_JSON, X_BASE64, X_KV, X_CIDR, X_INFLUX, X_DISSECT, X_GROK, X_DATETIME };

struct tr_extractor {
    int kind;
    char *pattern;
    struct tr_regex *re;
    struct tr_regex_match *m;      /* re's scratch, reused by every run */
    struct tr_cidr *cidr;
    struct tr_dissect *dissect;
    struct tr_grok *grok;
    struct tr_kv *kv;
};

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
    else if (!strcmp(kind, "kv")) {
        x->kind = X_KV;
        rc = tr_kv_create(pattern, &x->kv, msg, mlen);
    }
    else if (!strcmp(kind, "influx")) x->kind = X_INFLUX;
    else if (!strcmp(kind, "datetime")) x->kind = X_DATETIME;
    else if (!strcmp(kind, "dissect")) {
        x->kind = X_DISSECT;
        rc = tr_dissect_create(pattern, &x->dissect, msg, mlen);
    } else if (!strcmp(kind, "grok")) {
        x->kind = X_GROK;
        rc = tr_grok_create(pattern, TR_GROK_PATTERNS_FILE, &x->grok, msg, mlen);
    } else if (!strcmp(kind, "cidr")) {
        x->kind = X_CIDR;
        rc = tr_cidr_create(pattern, &x->cidr, msg, mlen);
    }
    else if (!strcmp(kind, "re") || !strcmp(kind, "rerg")) {
        x->kind = kind[2] ? X_RERG : X_RE;
        rc = tr_regex_create(pattern, strlen(pattern), 0, &x->re, msg, mlen);
        if (!rc) rc = tr_regex_match_create(x->re, &x->m);
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
    tr_regex_match_destroy(x->m);
    tr_regex_destroy(x->re);
    tr_cidr_destroy(x->cidr);
    tr_dissect_destroy(x->dissect);
    tr_grok_destroy(x->grok);
    tr_kv_destroy(x->kv);
    tr_free(x->pattern);
    tr_free(x);
}

/* Add capture g of the current match to *out under its name: re sets the
 * field, rerg appends to an array per name across all matches. */
static int add_group(const struct tr_extractor *x, const struct tr_str *s, int g, tr_value *out) {
    const char *name = tr_regex_group_name(x->re, g);
    size_t so, eo;
    if (!name || !tr_regex_group(x->m, g, &so, &eo)) return 0;
    tr_value cap;
    int rc = tr_v_str(s->data + so, eo - so, &cap);
    if (rc) return rc;
    if (x->kind == X_RE) return tr_rec_set(out, name, strlen(name), cap);
    tr_value *arr = tr_rec_get_cstr(out, name);
    if (!arr) {
        tr_value a;
        if ((rc = tr_v_arr(2, &a))) {
            tr_value_unref(cap);
            return rc;
        }
        rc = tr_arr_push(&a, cap);
        if (!rc) rc = tr_rec_set(out, name, strlen(name), a);
        return rc;
    }
    rc = tr_value_mut(arr);
    if (!rc) rc = tr_arr_push(arr, cap);
    else tr_value_unref(cap);
    return rc;
}

/* re: the named groups of the first match; rerg: of every match. */
static int run_re(const struct tr_extractor *x, const struct tr_str *s, int need, tr_value *out) {
    struct tr_regex_iter it = {.captures = 1};   /* captures_iter */
    int rc = tr_regex_next(x->m, s->data, s->len, &it);
    if (rc != 1 || !need) return rc;
    if (tr_v_rec(4, out)) return -ENOMEM;
    int ng = tr_regex_ngroups(x->re);
    while (rc == 1) {
        for (int g = 1; g <= ng && rc == 1; g++)
            if (add_group(x, s, g, out)) rc = -ENOMEM;
        if (rc != 1 || x->kind == X_RE) break;
        rc = tr_regex_next(x->m, s->data, s->len, &it);
    }
    if (rc < 0) {
        tr_value_unref(*out);
        *out = tr_v_null();
        return rc;
    }
    return 1;
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
        /* 0.11: not base64 is no match; base64 of bytes that are not
         * UTF-8 is an error (the result is a string) */
        unsigned char *buf = tr_malloc((size_t)s->len / 4 * 3 + 3);
        size_t n;
        if (!buf) return -ENOMEM;
        if (tr_base64_decode(s->data, s->len, buf, &n)) rc = 0;
        else if (!need) rc = 1;
        else if (u8_check(buf, n)) rc = TR_ERUNTIME;
        else rc = tr_v_str((const char *)buf, n, out) ? -ENOMEM : 1;
        tr_free(buf);
        return rc;
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
    case X_KV:
        return tr_kv_run(x->kv, s, need, out);
    default:
        return run_re(x, s, need, out);
    }
}

const char *tr_extractor_error(const struct tr_extractor *x) {
    if (x->kind == X_GROK) return tr_grok_error(x->grok);
    if (x->kind == X_BASE64) return "failed to decode: invalid utf-8 sequence";
    return x->m ? tr_regex_match_error(x->m) : "";
}
