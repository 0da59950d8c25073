/* std_re.c - std::re: regular expressions over strings.
 *
 * replace, replace_all, is_match and split, with the pattern as the first
 * argument like Tremor's. Patterns use the Rust syntax the re extractor
 * accepts (translated to POSIX by tr_regex_compile); this is not a full
 * Rust regex engine (no lazy quantifiers or look-around). Every call compiles
 * its pattern and frees it before returning, so nothing outlives the call.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "lang/lang_int.h"

#define MAX_SUBS 10

static int compile(struct tr_fcall *c, const tr_value *pat, regex_t *re) {
    char msg[256] = "";
    int rc = tr_regex_compile(pat->as.s->data, re, msg, sizeof msg);
    if (rc == -ENOMEM) return rc;
    if (rc) {
        snprintf(c->msg, sizeof c->msg, "regex parse error: %s", msg);
        return TR_FN_ERROR;
    }
    return 0;
}

/* Append `to` with $N / ${N} replaced by submatch N of the match at base;
 * $$ is a dollar; an unknown group is empty, as in Rust's expansion. */
static int expand(struct tr_buf *b, const char *to, size_t tlen, const char *base, const regmatch_t *m) {
    int rc = 0;
    for (size_t i = 0; i < tlen && !rc; i++) {
        if (to[i] != '$' || i + 1 >= tlen) {
            rc = tr_buf_putc(b, to[i]);
            continue;
        }
        if (to[i + 1] == '$') {
            rc = tr_buf_putc(b, '$');
            i++;
            continue;
        }
        size_t j = i + 1, end;
        int braced = to[j] == '{';
        if (braced) j++;
        size_t s = j;
        while (j < tlen && (to[j] == '_' || (to[j] >= '0' && to[j] <= '9') || (to[j] >= 'a' && to[j] <= 'z') ||
                            (to[j] >= 'A' && to[j] <= 'Z')))
            j++;
        if (j == s || (braced && (j >= tlen || to[j] != '}'))) {
            rc = tr_buf_putc(b, '$');
            continue;
        }
        end = braced ? j : j - 1;
        int num = 1, g = 0;
        for (size_t k = s; k < j; k++) {
            if (to[k] < '0' || to[k] > '9' || g > MAX_SUBS) num = 0;
            else g = g * 10 + (to[k] - '0');
        }
        if (num && g < MAX_SUBS && m[g].rm_so >= 0)
            rc = tr_buf_append(b, base + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so));
        i = end;
    }
    return rc;
}

static int replace_n(struct tr_fcall *c, const tr_value *a, tr_value *out, int all) {
    if (a[0].type != TR_STR || a[1].type != TR_STR || a[2].type != TR_STR) return TR_FN_BADTYPE;
    regex_t re;
    int rc = compile(c, &a[0], &re);
    if (rc) return rc;
    const struct tr_str *in = a[1].as.s;
    struct tr_buf b;
    tr_buf_init(&b);
    size_t off = 0;
    int first = 1;
    regmatch_t m[MAX_SUBS];
    while (off <= in->len && (all || first)) {
        if (regexec(&re, in->data + off, MAX_SUBS, m, off ? REG_NOTBOL : 0) != 0) break;
        first = 0;
        const char *base = in->data + off;
        rc = tr_buf_append(&b, base, (size_t)m[0].rm_so);
        if (!rc) rc = expand(&b, a[2].as.s->data, a[2].as.s->len, base, m);
        if (rc) break;
        size_t adv = (size_t)m[0].rm_eo;
        if (m[0].rm_eo == m[0].rm_so) {
            /* an empty match: keep the next character and move past it */
            if (off + adv >= in->len) {
                off = in->len + 1;
                break;
            }
            rc = tr_buf_putc(&b, base[adv]);
            adv++;
        }
        off += adv;
    }
    if (!rc && off < in->len) rc = tr_buf_append(&b, in->data + off, in->len - off);
    regfree(&re);
    if (!rc) rc = tr_v_str(b.data ? b.data : "", b.len, out);
    tr_buf_fini(&b);
    return rc ? -ENOMEM : 0;
}

static int replace(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)n;
    return replace_n(c, a, out, 0);
}

static int replace_all(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)n;
    return replace_n(c, a, out, 1);
}

static int is_match(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)n;
    if (a[0].type != TR_STR || a[1].type != TR_STR) return TR_FN_BADTYPE;
    regex_t re;
    int rc = compile(c, &a[0], &re);
    if (rc) return rc;
    *out = tr_v_bool(regexec(&re, a[1].as.s->data, 0, NULL, 0) == 0);
    regfree(&re);
    return 0;
}

static int split(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)n;
    if (a[0].type != TR_STR || a[1].type != TR_STR) return TR_FN_BADTYPE;
    regex_t re;
    int rc = compile(c, &a[0], &re);
    if (rc) return rc;
    const struct tr_str *in = a[1].as.s;
    tr_value arr;
    if (tr_v_arr(4, &arr)) {
        regfree(&re);
        return -ENOMEM;
    }
    size_t off = 0, piece = 0;
    regmatch_t m[1];
    while (!rc && off <= in->len && regexec(&re, in->data + off, 1, m, off ? REG_NOTBOL : 0) == 0) {
        size_t ms = off + (size_t)m[0].rm_so, me = off + (size_t)m[0].rm_eo;
        if (me == ms) {
            /* empty matches split between characters, as Rust's split does */
            if (ms >= in->len) break;
            tr_value s;
            if (tr_v_str(in->data + piece, ms - piece, &s) || tr_arr_push(&arr, s)) rc = -ENOMEM;
            piece = ms;
            off = ms + 1;
            continue;
        }
        tr_value s;
        if (tr_v_str(in->data + piece, ms - piece, &s) || tr_arr_push(&arr, s)) rc = -ENOMEM;
        piece = off = me;
    }
    if (!rc) {
        tr_value s;
        if (tr_v_str(in->data + piece, in->len - piece, &s) || tr_arr_push(&arr, s)) rc = -ENOMEM;
    }
    regfree(&re);
    if (rc) {
        tr_value_unref(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

const struct tr_fn tr_std_re[] = {
    {"re", "replace", 3, 3, 1, replace},
    {"re", "replace_all", 3, 3, 1, replace_all},
    {"re", "is_match", 2, 2, 1, is_match},
    {"re", "split", 2, 2, 1, split},
    {NULL, NULL, 0, 0, 0, NULL},
};
