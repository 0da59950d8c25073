/* std_re.c - std::re: regular expressions over strings.
 *
 * replace, replace_all, is_match and split, with the pattern as the first
 * argument like Tremor's, in the Rust syntax regex.c takes. Every call
 * compiles its pattern and frees it before returning, so nothing outlives
 * the call; a pattern regex.c refuses and a search stopped by its limits are
 * both runtime errors of the call, so one event cannot stall the loop.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "lang/std_int.h"
#include "lang/regex.h"

/* Subjects shorter than this are searched without compiling machine code:
 * the pattern lives for one call, and the JIT's compile costs more than
 * the interpreter spends on a short subject, even a quadratic search. */
#define JIT_MIN_SUBJECT 1024

/* Compile pat for searching subject; both are freed by done(). */
static int compile(struct tr_fcall *c, const tr_value *pat, const tr_value *subject, struct tr_regex **re,
                   struct tr_regex_match **m) {
    char msg[256] = "";
    *m = NULL;
    unsigned flags = subject->as.s->len < JIT_MIN_SUBJECT ? TR_REGEX_NO_JIT : 0;
    int rc = tr_regex_create(pat->as.s->data, pat->as.s->len, flags, re, msg, sizeof msg);
    if (rc == -ENOMEM) return rc;
    if (rc) {
        snprintf(c->msg, sizeof c->msg, "%s", msg);
        return TR_FN_ERROR;
    }
    rc = tr_regex_match_create(*re, m);
    if (rc) tr_regex_destroy(*re);
    return rc;
}

static void done(struct tr_regex *re, struct tr_regex_match *m) {
    tr_regex_match_destroy(m);
    tr_regex_destroy(re);
}

/* A search error as the call's result: -ENOMEM, or TR_FN_ERROR saying which
 * limit stopped it. */
static int search_failed(struct tr_fcall *c, const struct tr_regex_match *m, int rc) {
    if (rc == -ENOMEM) return rc;
    snprintf(c->msg, sizeof c->msg, "%s", tr_regex_match_error(m));
    return TR_FN_ERROR;
}

/* Append `to` with $N / ${N} / $name / ${name} replaced by that group of
 * the match in m; $$ is a dollar; an unknown group is empty, as in Rust's
 * expansion (which also reads $1a as the group named "1a"). */
static int expand(struct tr_buf *b, const char *to, size_t tlen, const struct tr_regex *re,
                  const struct tr_regex_match *m, const char *base) {
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
            if (to[k] < '0' || to[k] > '9' || g > 100000) num = 0;
            else g = g * 10 + (to[k] - '0');
        }
        if (!num) g = tr_regex_group_index(re, to + s, j - s);
        size_t so, eo;
        if (g >= 0 && tr_regex_group(m, g, &so, &eo)) rc = tr_buf_append(b, base + so, eo - so);
        i = end;
    }
    return rc;
}

static int replace_n(struct tr_fcall *c, const tr_value *a, tr_value *out, int all) {
    if (a[0].type != TR_STR || a[1].type != TR_STR || a[2].type != TR_STR) return TR_FN_BADTYPE;
    struct tr_regex *re;
    struct tr_regex_match *m;
    int rc = compile(c, &a[0], &a[1], &re, &m);
    if (rc) return rc;
    const struct tr_str *in = a[1].as.s;
    struct tr_buf b;
    tr_buf_init(&b);
    /* Rust's replace_all walks captures_iter when the replacement names a
     * group ('$' anywhere), find_iter otherwise */
    struct tr_regex_iter it = {.captures = memchr(a[2].as.s->data, '$', a[2].as.s->len) != NULL};
    size_t done_to = 0;
    while ((rc = tr_regex_next(m, in->data, in->len, &it)) == 1) {
        size_t so, eo;
        tr_regex_group(m, 0, &so, &eo);
        rc = tr_buf_append(&b, in->data + done_to, so - done_to);
        if (!rc) rc = expand(&b, a[2].as.s->data, a[2].as.s->len, re, m, in->data);
        if (rc) break;
        done_to = eo;
        if (!all) break;
    }
    if (rc < 0) {
        rc = search_failed(c, m, rc);
    } else {
        rc = tr_buf_append(&b, in->data + done_to, in->len - done_to);
        if (!rc) rc = tr_v_str(b.data ? b.data : "", b.len, out);
    }
    done(re, m);
    tr_buf_fini(&b);
    return rc;
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
    struct tr_regex *re;
    struct tr_regex_match *m;
    int rc = compile(c, &a[0], &a[1], &re, &m);
    if (rc) return rc;
    rc = tr_regex_exec(m, a[1].as.s->data, a[1].as.s->len, 0);
    if (rc >= 0) {
        *out = tr_v_bool(rc == 1);
        rc = 0;
    } else {
        rc = search_failed(c, m, rc);
    }
    done(re, m);
    return rc;
}

/* Rust's split: the pieces between matches, empty ones included. */
static int split(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)n;
    if (a[0].type != TR_STR || a[1].type != TR_STR) return TR_FN_BADTYPE;
    struct tr_regex *re;
    struct tr_regex_match *m;
    int rc = compile(c, &a[0], &a[1], &re, &m);
    if (rc) return rc;
    const struct tr_str *in = a[1].as.s;
    tr_value arr, piece;
    if (tr_v_arr(4, &arr)) {
        done(re, m);
        return -ENOMEM;
    }
    struct tr_regex_iter it = {0};
    size_t from = 0;
    while ((rc = tr_regex_next(m, in->data, in->len, &it)) == 1) {
        size_t so, eo;
        tr_regex_group(m, 0, &so, &eo);
        if (tr_v_str(in->data + from, so - from, &piece) || tr_arr_push(&arr, piece)) {
            rc = -ENOMEM;
            break;
        }
        from = eo;
    }
    if (rc < 0) rc = search_failed(c, m, rc);
    else if (tr_v_str(in->data + from, in->len - from, &piece) || tr_arr_push(&arr, piece)) rc = -ENOMEM;
    done(re, m);
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
