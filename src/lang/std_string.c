/* std_string.c - std::string: text functions.
 *
 * Lengths count characters (UTF-8 code points) where Tremor does, bytes
 * where it says bytes. Case mapping and White_Space are Unicode's, from
 * libunistring, as Rust's std gives them to 0.11. Every function is pure,
 * so calls with constant arguments are folded at compile time (and fail
 * there, as upstream does).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unictype.h>
#include <unistr.h>

#include "core/utf8.h"
#include "lang/std_int.h"

#define STR1(a) (n >= 1 && (a)[0].type == TR_STR)
#define S(i) (args[i].as.s)

static int is_empty(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    (void)c;
    if (!STR1(args)) return TR_FN_BADTYPE;
    *out = tr_v_bool(S(0)->len == 0);
    return 0;
}

static size_t utf8_count(const char *p, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)p[i] & 0xC0) != 0x80) k++;
    return k;
}

static int len(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    (void)c;
    if (!STR1(args)) return TR_FN_BADTYPE;
    *out = tr_v_int((int64_t)utf8_count(S(0)->data, S(0)->len));
    return 0;
}

static int bytes(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    (void)c;
    if (!STR1(args)) return TR_FN_BADTYPE;
    *out = tr_v_int(S(0)->len);
    return 0;
}

/* Rust's str::trim* strip chars with the Unicode White_Space property
 * (char::is_whitespace): U+00A0, U+2028, U+3000 ... as well as ASCII. */
static int trim_impl(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out, int left, int right) {
    if (!STR1(args)) return TR_FN_BADTYPE;
    const uint8_t *p = (const uint8_t *)S(0)->data;
    size_t s = 0, e = S(0)->len;
    if (u8_check(p, e)) {
        snprintf(c->msg, sizeof c->msg, "the string is not valid UTF-8");
        return TR_FN_ERROR;
    }
    ucs4_t uc;
    while (left && s < e) {
        int k = u8_mbtouc(&uc, p + s, e - s);
        if (!uc_is_property_white_space(uc)) break;
        s += (size_t)k;
    }
    while (right && e > s) {
        const uint8_t *q = u8_prev(&uc, p + e, p + s);
        if (!q || !uc_is_property_white_space(uc)) break;
        e = (size_t)(q - p);
    }
    return tr_v_str((const char *)p + s, e - s, out);
}
static int trim(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) { return trim_impl(c, a, n, o, 1, 1); }
static int trim_start(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) { return trim_impl(c, a, n, o, 1, 0); }
static int trim_end(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) { return trim_impl(c, a, n, o, 0, 1); }

/* Full Unicode case mapping without a language, as Rust's
 * str::to_uppercase / to_lowercase: one char may become several
 * ("ß" -> "SS") and a final capital sigma lowercases to "ς". libunistring
 * allocates the result with malloc (outside the tr_malloc seam); it is
 * copied into a tr_str and freed at once. */
static int case_map(struct tr_fcall *c, const uint8_t *p, size_t len, int upper, struct tr_buf *b) {
    size_t rn = 0;
    uint8_t *r = upper ? u8_toupper(p, len, NULL, NULL, NULL, &rn) : u8_tolower(p, len, NULL, NULL, NULL, &rn);
    if (!r) {
        if (errno == ENOMEM) return -ENOMEM;
        snprintf(c->msg, sizeof c->msg, "the string is not valid UTF-8");
        return TR_FN_ERROR;
    }
    int rc = tr_buf_append(b, (const char *)r, rn);
    free(r);
    return rc;
}

static int map_case(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out, int upper, int first_only) {
    if (!STR1(args)) return TR_FN_BADTYPE;
    const uint8_t *p = (const uint8_t *)S(0)->data;
    size_t len = S(0)->len, head = len;
    if (len == 0) return tr_v_str("", 0, out);
    if (first_only) {
        /* 0.11's capitalize: the first char's uppercase (char::to_uppercase,
         * so "ß" -> "SS"), then the rest unchanged */
        ucs4_t uc;
        int k = u8_mbtouc(&uc, p, len);
        if (uc == 0xFFFD && u8_check(p, (size_t)k)) {
            snprintf(c->msg, sizeof c->msg, "the string is not valid UTF-8");
            return TR_FN_ERROR;
        }
        head = (size_t)k;
    }
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = case_map(c, p, head, upper, &b);
    if (!rc && head < len) rc = tr_buf_append(&b, (const char *)p + head, len - head);
    if (!rc) rc = tr_v_str(b.data ? b.data : "", b.len, out);
    tr_buf_fini(&b);
    return rc;
}
static int lowercase(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) { return map_case(c, a, n, o, 0, 0); }
static int uppercase(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) { return map_case(c, a, n, o, 1, 0); }
static int capitalize(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) { return map_case(c, a, n, o, 1, 1); }

/* Byte offset of character index ci, or len when past the end. */
static size_t char_off(const struct tr_str *s, uint64_t ci, int *found) {
    uint64_t k = 0;
    for (size_t i = 0; i < s->len; i++) {
        if (((unsigned char)s->data[i] & 0xC0) == 0x80) continue;
        if (k == ci) {
            *found = 1;
            return i;
        }
        k++;
    }
    *found = 0;
    return s->len;
}

static int substr(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    (void)c;
    if (n != 3 || args[0].type != TR_STR || args[1].type != TR_I64 || args[2].type != TR_I64 ||
        args[1].as.i < 0 || args[2].as.i < 0)
        return TR_FN_BADTYPE;
    int f;
    size_t s = char_off(S(0), (uint64_t)args[1].as.i, &f);
    if (!f) s = 0;
    size_t e = char_off(S(0), (uint64_t)args[2].as.i, &f);
    if (s > e) return tr_v_str(S(0)->data, S(0)->len, out);
    return tr_v_str(S(0)->data + s, e - s, out);
}

static int split(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    (void)c;
    if (n != 2 || args[0].type != TR_STR || args[1].type != TR_STR) return TR_FN_BADTYPE;
    const struct tr_str *s = S(0), *sep = S(1);
    int rc = tr_v_arr(4, out);
    if (rc) return rc;
    size_t start = 0;
    if (sep->len == 0) {
        /* Rust's split("") yields "", each character, "" */
        tr_value e;
        if ((rc = tr_v_str("", 0, &e)) || (rc = tr_arr_push(out, e))) return rc;
        for (size_t i = 0; i < s->len;) {
            size_t j = i + 1;
            while (j < s->len && ((unsigned char)s->data[j] & 0xC0) == 0x80) j++;
            if ((rc = tr_v_str(s->data + i, j - i, &e)) || (rc = tr_arr_push(out, e))) return rc;
            i = j;
        }
        if ((rc = tr_v_str("", 0, &e)) || (rc = tr_arr_push(out, e))) return rc;
        return 0;
    }
    for (size_t i = 0; i + sep->len <= s->len;) {
        if (memcmp(s->data + i, sep->data, sep->len) == 0) {
            tr_value e;
            if ((rc = tr_v_str(s->data + start, i - start, &e)) || (rc = tr_arr_push(out, e))) return rc;
            i += sep->len;
            start = i;
        } else {
            i++;
        }
    }
    tr_value e;
    if ((rc = tr_v_str(s->data + start, s->len - start, &e)) || (rc = tr_arr_push(out, e))) return rc;
    return 0;
}

static int replace(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    (void)c;
    if (n != 3 || args[0].type != TR_STR || args[1].type != TR_STR || args[2].type != TR_STR)
        return TR_FN_BADTYPE;
    const struct tr_str *s = S(0), *from = S(1), *to = S(2);
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = 0;
    if (from->len == 0) {
        /* Rust inserts `to` around every character */
        rc = tr_buf_append(&b, to->data, to->len);
        for (size_t i = 0; i < s->len && !rc;) {
            size_t j = i + 1;
            while (j < s->len && ((unsigned char)s->data[j] & 0xC0) == 0x80) j++;
            rc = tr_buf_append(&b, s->data + i, j - i);
            if (!rc) rc = tr_buf_append(&b, to->data, to->len);
            i = j;
        }
    } else {
        size_t i = 0;
        while (i < s->len && !rc) {
            if (i + from->len <= s->len && memcmp(s->data + i, from->data, from->len) == 0) {
                rc = tr_buf_append(&b, to->data, to->len);
                i += from->len;
            } else {
                rc = tr_buf_putc(&b, s->data[i++]);
            }
        }
    }
    if (!rc) rc = tr_v_str(b.data ? b.data : "", b.len, out);
    tr_buf_fini(&b);
    return rc;
}

static int contains(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    (void)c;
    if (n != 2 || args[0].type != TR_STR || args[1].type != TR_STR) return TR_FN_BADTYPE;
    *out = tr_v_bool(memmem(S(0)->data, S(0)->len, S(1)->data, S(1)->len) != NULL || S(1)->len == 0);
    return 0;
}

static int from_utf8_lossy(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    (void)c;
    if (n != 1 || (args[0].type != TR_BIN && args[0].type != TR_STR)) return TR_FN_BADTYPE;
    const uint8_t *p = (const uint8_t *)S(0)->data;
    size_t len = S(0)->len;
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = 0;
    for (size_t i = 0; i < len && !rc;) {
        size_t run = i;
        int valid = 1;
        size_t k = 0;
        /* each maximal subpart becomes one U+FFFD, as Rust's
         * String::from_utf8_lossy (core/utf8.h) */
        while (run < len && (k = tr_utf8_step(p + run, len - run, &valid), valid == 1)) run += k;
        rc = tr_buf_append(&b, (const char *)p + i, run - i);
        if (!rc && run < len) {
            rc = tr_buf_append(&b, "\xEF\xBF\xBD", 3);
            run += k;
        }
        i = run;
    }
    if (!rc) rc = tr_v_str(b.data ? b.data : "", b.len, out);
    tr_buf_fini(&b);
    return rc;
}

static int into_binary(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    (void)c;
    if (!STR1(args)) return TR_FN_BADTYPE;
    return tr_v_bin(S(0)->data, S(0)->len, out);
}

static int format(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    if (n < 1 || args[0].type != TR_STR) {
        snprintf(c->msg, sizeof c->msg,
                 "expected 1st parameter to format to be a format specifier e.g. to print a number use `string::format(\"{}\", 1)`");
        return TR_FN_ERROR;
    }
    const struct tr_str *f = S(0);
    size_t next = 1;
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = 0;
    size_t pos = 0;
    for (size_t i = 0; i < f->len && !rc; i++, pos++) {
        char ch = f->data[i];
        if (((unsigned char)ch & 0xC0) == 0x80) pos--;
        if (ch == '\\') {
            if (i + 1 >= f->len) {
                snprintf(c->msg, sizeof c->msg, "bad escape sequence at %zu", pos);
                rc = TR_FN_ERROR;
                break;
            }
            char nx = f->data[++i];
            pos++;
            if (nx != '{' && nx != '}') rc = tr_buf_putc(&b, '\\');
            if (!rc) rc = tr_buf_putc(&b, nx);
        } else if (ch == '{') {
            if (i + 1 < f->len && f->data[i + 1] == '}') {
                i++;
                if (next >= n) {
                    snprintf(c->msg, sizeof c->msg,
                             "the arguments passed to the format function are less than the `{}` specifiers in the format string. The placeholder at %zu can not be filled",
                             pos);
                    rc = TR_FN_ERROR;
                    break;
                }
                rc = tr_value_display(&args[next++], &b);
                pos++;
            } else if (i + 1 < f->len && f->data[i + 1] == '{') {
                i++;
                pos++;
                rc = tr_buf_putc(&b, '{');
            } else {
                snprintf(c->msg, sizeof c->msg,
                         "the format specifier at %zu is invalid. If you want to use `{` as a literal in the string, you need to escape it with `{{`",
                         pos);
                rc = TR_FN_ERROR;
            }
        } else if (ch == '}') {
            if (i + 1 < f->len && f->data[i + 1] == '}') {
                i++;
                pos++;
                rc = tr_buf_putc(&b, '}');
            } else {
                snprintf(c->msg, sizeof c->msg,
                         "the format specifier at %zu is invalid. You have to terminate `}` with another `}` to escape it",
                         pos);
                rc = TR_FN_ERROR;
            }
        } else {
            rc = tr_buf_putc(&b, ch);
        }
    }
    if (!rc && next < n) {
        snprintf(c->msg, sizeof c->msg,
                 "too many parameters passed. Ensure that you have the same number of {} in your format string");
        rc = TR_FN_ERROR;
    }
    if (!rc) rc = tr_v_str(b.data ? b.data : "", b.len, out);
    tr_buf_fini(&b);
    return rc;
}

const struct tr_fn tr_std_string[] = {
    {"string", "format", 1, -1, 1, format},
    {"string", "is_empty", 1, 1, 1, is_empty},
    {"string", "len", 1, 1, 1, len},
    {"string", "bytes", 1, 1, 1, bytes},
    {"string", "replace", 3, 3, 1, replace},
    {"string", "trim", 1, 1, 1, trim},
    {"string", "trim_start", 1, 1, 1, trim_start},
    {"string", "trim_end", 1, 1, 1, trim_end},
    {"string", "lowercase", 1, 1, 1, lowercase},
    {"string", "uppercase", 1, 1, 1, uppercase},
    {"string", "capitalize", 1, 1, 1, capitalize},
    {"string", "substr", 3, 3, 1, substr},
    {"string", "split", 2, 2, 1, split},
    {"string", "contains", 2, 2, 1, contains},
    {"string", "from_utf8_lossy", 1, 1, 1, from_utf8_lossy},
    {"string", "into_binary", 1, 1, 1, into_binary},
    {NULL, NULL, 0, 0, 0, NULL},
};
