/* regex.c - Rust-syntax regular expressions on PCRE2 with bounded work.
 *
 * A pattern is first checked and rewritten (translate) from the syntax of
 * Rust's regex crate into PCRE2's, refusing what Rust refuses and what would
 * let a backtracking engine run away: backreferences, look-around, atomic
 * groups, recursion and subroutines, callouts, conditionals, (*VERB)s, \C
 * and PCRE-only escapes (a stacked quantifier is Rust's nested one, never
 * PCRE2's possessive one: repeat wraps it). It is then
 * compiled UTF-8 + Unicode properties (\d \w \s \b are Unicode, as in Rust),
 * `$` only at the very end unless (?m) and (?m)^ also after a final newline
 * (Rust's meanings), only \n as the line end `.` skips, invalid UTF-8 in a
 * subject never matching rather than failing, and JIT-compiled when the
 * platform allows (the interpreter is quadratic on ordinary patterns such as
 * `\w+\s`; the JIT is not).
 *
 * Limits, each turned into TR_ERUNTIME rather than a stall:
 * - pattern length TR_REGEX_MAX_PATTERN and compiled size MAX_COMPILED, so a
 *   script cannot make one pattern eat memory (nesting is capped at
 *   MAX_NEST groups);
 * - match limit MATCH_LIMIT per search: PCRE2's count of backtracking steps,
 *   its own default, which a legitimate pattern on a megabyte line stays far
 *   below while `(a+)+$` on 30k characters reaches it within ~25 ms (JIT);
 * - depth and heap limits (interpreter only) and a JIT stack of at most
 *   JIT_STACK_MAX: the memory a backtracking search may hold.
 * What the limits do not cap: the match limit counts per start position,
 * so a pattern that backtracks a lot but finitely at every position of a long
 * subject costs positions times that work; and iterating (rerg, replace_all,
 * split) runs one search per match. Rust's engine is linear; ours is bounded.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "lang/regex.h"

#define MATCH_LIMIT 10000000u
#define DEPTH_LIMIT 250000u
#define HEAP_LIMIT_KIB (64u * 1024u)
#define JIT_STACK_START (32 * 1024)
#define JIT_STACK_MAX (8 * 1024 * 1024)
#define MAX_COMPILED (1024 * 1024)
#define MAX_NEST 250

/* ALT_CIRCUMFLEX: (?m)^ also matches after a final newline, as in Rust. */
#define OPTIONS                                                                                                   \
    (PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_CIRCUMFLEX |              \
     PCRE2_NEVER_BACKSLASH_C)

struct tr_regex {
    pcre2_general_context *gc;
    pcre2_code *code;
    /* The pattern again, followed by a callout: searches that must end at
     * or before a given offset (rust_find_at). NULL when the pattern has no
     * assertion that looks left (^ \A \b \B), where none are needed. */
    pcre2_code *check;
    int unicode_wb;          /* a Unicode \b or \B */
    int ngroups;
    int *map;                /* [1..ngroups]: PCRE2's number of each group */
    char **names;            /* [1..ngroups]: group name or NULL */
};

struct tr_regex_match {
    const struct tr_regex *re;
    pcre2_match_data *md;
    pcre2_match_context *mc;
    pcre2_jit_stack *js;     /* made on the first search that outgrows the default */
    int matched;
    int fixed;               /* group 0 is [fs, fe) and no other group is set */
    size_t fs, fe;
    char *view;              /* rust_find_at's copy of part of a subject */
    size_t viewcap;
    char err[160];
};

/* PCRE2 allocates through our seam so its memory is counted and can fail. */
static void *pmalloc(size_t n, void *data) {
    (void)data;
    return tr_malloc(n);
}

static void pfree(void *p, void *data) {
    (void)data;
    tr_free(p);
}

/* --- Rust syntax to PCRE2 --- */

struct tx {
    const char *p;
    size_t n, i;
    struct tr_buf out;
    size_t *map;             /* pattern offset of each output byte, for PCRE2's errors */
    size_t mapcap;
    int x;                   /* verbose mode (?x) in the current group */
    int xs[MAX_NEST];        /* x of each enclosing group */
    int icase;               /* (?i) in the current group */
    int icases[MAX_NEST];    /* icase of each enclosing group */
    char **gnames;           /* the pattern's group names; group k is n<k> for PCRE2 */
    size_t ngnames, capgnames;
    int ascii;               /* (?-u) in the current group: Unicode off */
    int asciis[MAX_NEST];    /* ascii of each enclosing group */
    size_t open[MAX_NEST];   /* where each enclosing group starts */
    size_t open_out[MAX_NEST]; /* and where its output starts */
    int stacked;             /* repetitions applied to the last atom so far */
    int left_assert;         /* an assertion that looks left: ^ \A \b \B */
    int loops;               /* loop callouts were added (repeat) */
    struct cap {
        size_t off;          /* output offset of its '(' */
        int hidden;          /* added by repeat, not the pattern's */
    } *caps;                 /* every capturing group of the output */
    size_t ncaps, capcaps;
    int unicode_wb;          /* a Unicode \b or \B */
    int depth;
    char *msg;
    size_t mlen;
};

enum { S_NONE, S_ATOM, S_QUANT };

/* Rust's form of a syntax error, the pattern with a caret under the
 * offending part; a long or multi-line pattern gets a one-line form. */
static void describe(char *msg, size_t mlen, const char *p, size_t n, size_t at, size_t width, const char *why) {
    if (n > 60 || memchr(p, '\n', n) || memchr(p, 0, n)) {
        snprintf(msg, mlen, "regex parse error: %s (at byte %zu of the pattern)", why, at);
        return;
    }
    size_t col = 0;
    for (size_t i = 0; i < at && i < n; i++) col += ((unsigned char)p[i] & 0xC0) != 0x80;
    char carets[84];
    if (width < 1) width = 1;
    if (width > 80) width = 80;
    memset(carets, '^', width);
    carets[width] = 0;
    snprintf(msg, mlen, "regex parse error:\n    %.*s\n    %*s%s\nerror: %s", (int)n, p, (int)col, "", carets, why);
}

static int bad(struct tx *t, size_t at, size_t width, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int bad(struct tx *t, size_t at, size_t width, const char *fmt, ...) {
    char why[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    describe(t->msg, t->mlen, t->p, t->n, at, width, why);
    return TR_EPARSE;
}

static int emit(struct tx *t, size_t at, const char *s, size_t k) {
    if (t->out.len + k > t->mapcap) {
        size_t cap = t->mapcap ? t->mapcap : 64;
        while (cap < t->out.len + k) cap *= 2;
        size_t *m = tr_realloc(t->map, cap * sizeof *m);
        if (!m) return -ENOMEM;
        t->map = m;
        t->mapcap = cap;
    }
    for (size_t j = 0; j < k; j++) t->map[t->out.len + j] = at;
    return tr_buf_append(&t->out, s, k);
}

/* Copy k pattern bytes from the cursor unchanged. */
static int copy(struct tx *t, size_t k) {
    int rc = emit(t, t->i, t->p + t->i, k);
    t->i += k;
    return rc;
}

static int is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* Copy through the first `close` at or after the cursor; error when none. */
static int copy_to(struct tx *t, char close, const char *what) {
    size_t at = t->i;
    const char *e = memchr(t->p + t->i, close, t->n - t->i);
    if (!e) return bad(t, at, 1, "unclosed %s", what);
    return copy(t, (size_t)(e - (t->p + t->i)) + 1);
}

/* Rust's meta characters: the only punctuation an escape may name. */
static int is_meta(char c) { return c && strchr("\\.+*?()|[]{}^$#&-~", c) != NULL; }

#define ASCII_WORD "0-9A-Za-z_"
#define ASCII_SPACE "\\t\\n\\x{0B}\\f\\r "

/* \d \s \w under (?-u): ASCII sets; their negations could match invalid
 * UTF-8, which Rust's Regex (on str) refuses. */
static int ascii_perl(struct tx *t, size_t at, char e, int in_class) {
    if (e == 'D' || e == 'S' || e == 'W') return bad(t, at, 2, "pattern can match invalid UTF-8");
    const char *set = e == 'd' ? "0-9" : e == 'w' ? ASCII_WORD : ASCII_SPACE;
    t->i += 2;
    int rc = in_class ? 0 : emit(t, at, "[", 1);
    if (!rc) rc = emit(t, at, set, strlen(set));
    if (!rc && !in_class) rc = emit(t, at, "]", 1);
    return rc;
}

/* hex: \xHH \uHHHH \UHHHHHHHH or \x{H...} \u{H...} \U{H...}, emitted as
 * \x{H...} (PCRE2 knows only \x); the cursor is on the '\'. */
static int hex(struct tx *t) {
    size_t at = t->i, j = t->i + 2, d0, d1;
    char kind = t->p[t->i + 1];
    size_t want = kind == 'x' ? 2 : kind == 'u' ? 4 : 8;
    int braced = 0;
    if (j >= t->n) return bad(t, at, 2, "unexpected eof (escape sequence)");
    if (t->p[j] == '{') {
        braced = 1;
        d0 = ++j;
        while (j < t->n && t->p[j] != '}') {
            if (!is_hex(t->p[j])) return bad(t, j, 1, "invalid hexadecimal digit");
            j++;
        }
        if (j >= t->n) return bad(t, at, j - at, "unexpected eof (escape sequence)");
        d1 = j++;
        if (d1 == d0) return bad(t, at, j - at, "hexadecimal literal empty");
    } else {
        d0 = j;
        for (size_t k = 0; k < want; k++, j++) {
            if (j >= t->n) return bad(t, at, j - at, "unexpected eof (escape sequence)");
            if (!is_hex(t->p[j])) return bad(t, j, 1, "invalid hexadecimal digit");
        }
        d1 = j;
    }
    unsigned long cp = 0;
    for (size_t k = d0; k < d1 && cp <= 0x10FFFF; k++) {
        char c = t->p[k];
        cp = cp * 16 + (unsigned long)(is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return bad(t, at, j - at, "hexadecimal literal is not a Unicode scalar value");
    /* Unicode off: \xHH above 0x7F is a byte (invalid UTF-8 on its own),
     * any other escape a character that needs Unicode */
    if (t->ascii && cp > 0x7F)
        return bad(t, at, j - at, kind == 'x' && !braced ? "pattern can match invalid UTF-8" : "Unicode not allowed here");
    char buf[16];
    int k = snprintf(buf, sizeof buf, "\\x{%lX}", cp);
    t->i = j;
    return emit(t, at, buf, (size_t)k);
}

/* escape: '\' (digit | letter | punctuation); the cursor is on the '\'.
 * Only Rust's meta characters may be escaped (regex 1.5, Tremor 0.11's;
 * later versions take any punctuation), and a space only in (?x) mode. */
static int escape(struct tx *t, int in_class) {
    size_t at = t->i;
    if (t->i + 1 >= t->n) return bad(t, at, 1, "incomplete escape sequence");
    char e = t->p[t->i + 1];
    if (is_digit(e)) return bad(t, at, 2, "backreferences are not supported");
    if (is_meta(e) || (e == ' ' && t->x)) return copy(t, 2);
    if (!is_alpha(e)) return bad(t, at, 2, "unrecognized escape sequence");
    switch (e) {
    case 'a': case 'f': case 't': case 'n': case 'r':
        return copy(t, 2);
    case 'd': case 'D': case 's': case 'S': case 'w': case 'W':
        if (t->ascii) return ascii_perl(t, at, e, in_class);
        return copy(t, 2);
    case 'v':
        /* Rust's \v is the vertical tab; PCRE2's is a class of line breaks */
        t->i += 2;
        return emit(t, at, "\\x{0B}", 6);
    case 'A': case 'z': case 'b': case 'B':
        if (in_class) return bad(t, at, 2, "assertion \\%c in a character class", e);
        if (t->ascii && e == 'B') return bad(t, at, 2, "pattern can match invalid UTF-8");
        if (e != 'z') t->left_assert = 1;
        if (!t->ascii && (e == 'b' || e == 'B')) t->unicode_wb = 1;
        if (t->ascii && e == 'b') {
            /* PCRE2's \b follows UCP; Rust's (?-u)\b is ASCII */
            static const char ab[] =
                "(?:(?<=[" ASCII_WORD "])(?![" ASCII_WORD "])|(?<![" ASCII_WORD "])(?=[" ASCII_WORD "]))";
            t->i += 2;
            return emit(t, at, ab, sizeof ab - 1);
        }
        return copy(t, 2);
    case 'p': case 'P': {
        if (t->ascii) return bad(t, at, 2, "Unicode not allowed here");
        int rc = copy(t, 2);
        if (rc) return rc;
        if (t->i < t->n && t->p[t->i] == '{') return copy_to(t, '}', "Unicode class name");
        if (t->i < t->n && is_alpha(t->p[t->i])) return copy(t, 1);
        return bad(t, at, 2, "incomplete Unicode class");
    }
    case 'x': case 'u': case 'U':
        return hex(t);
    case 'k': case 'g':
        return bad(t, at, 2, "backreferences and subroutine calls are not supported");
    case 'C':
        return bad(t, at, 2, "\\C is not supported");
    default:
        return bad(t, at, 2, "unrecognized escape sequence");
    }
}

/* Rust's [[:name:]] classes are ASCII whatever the Unicode flag (PCRE2's
 * follow UCP), so they are spelled out as ranges; each entry is the set
 * and its complement within ASCII (for [:^name:], plus all non-ASCII). */
static const char *posix_set(const char *name, size_t n, int neg) {
    static const struct {
        const char *name, *set, *not;
    } sets[] = {
        {"alnum", "0-9A-Za-z", "\\x{0}-/:-@\\[-`{-\\x{7F}"},
        {"alpha", "A-Za-z", "\\x{0}-@\\[-`{-\\x{7F}"},
        {"ascii", "\\x{0}-\\x{7F}", ""},
        {"blank", "\\t ", "\\x{0}-\\x{8}\\n-\\x{1F}!-\\x{7F}"},
        {"cntrl", "\\x{0}-\\x{1F}\\x{7F}", " -~"},
        {"digit", "0-9", "\\x{0}-/:-\\x{7F}"},
        {"graph", "!-~", "\\x{0}- \\x{7F}"},
        {"lower", "a-z", "\\x{0}-`{-\\x{7F}"},
        {"print", " -~", "\\x{0}-\\x{1F}\\x{7F}"},
        {"punct", "!-/:-@\\[-`{-~", "\\x{0}- 0-9A-Za-z\\x{7F}"},
        {"space", "\\t\\n\\x{0B}\\f\\r ", "\\x{0}-\\x{8}\\x{E}-\\x{1F}!-\\x{7F}"},
        {"upper", "A-Z", "\\x{0}-@\\[-\\x{7F}"},
        {"word", "0-9A-Za-z_", "\\x{0}-/:-@\\[-^`{-\\x{7F}"},
        {"xdigit", "0-9A-Fa-f", "\\x{0}-/:-@G-`g-\\x{7F}"},
    };
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        if (strlen(sets[i].name) == n && !memcmp(sets[i].name, name, n)) return neg ? sets[i].not : sets[i].set;
    return NULL;
}

/* class: '[' '^'? ']'? (escape | '[:' '^'? name ':]' | char)* ']' */
static int klass(struct tx *t) {
    size_t at = t->i;
    int rc = copy(t, 1);
    if (!rc && t->i < t->n && t->p[t->i] == '^') {
        if (t->ascii) return bad(t, at, 2, "pattern can match invalid UTF-8");
        rc = copy(t, 1);
    }
    if (!rc && t->i < t->n && t->p[t->i] == ']') rc = copy(t, 1);
    while (!rc && t->i < t->n) {
        char c = t->p[t->i], d = t->i + 1 < t->n ? t->p[t->i + 1] : 0;
        if (c == ']') return copy(t, 1);
        if (t->x && strchr(" \t\n\r\f\v", c)) {
            /* Rust's (?x) ignores white space and comments in classes too */
            t->i++;
        } else if (t->x && c == '#') {
            const char *e = memchr(t->p + t->i, '\n', t->n - t->i);
            t->i = e ? (size_t)(e - t->p) + 1 : t->n;
        } else if (c == '\\') {
            rc = escape(t, 1);
        } else if (c == '[') {
            /* in Rust an unescaped [ opens a nested class, which PCRE2 would
             * take as a literal: refuse rather than mean something else */
            size_t s0 = t->i + 2;
            int neg = s0 < t->n && t->p[s0] == '^';
            const char *e = d == ':' && s0 < t->n ? memchr(t->p + s0, ':', t->n - s0) : NULL;
            const char *set = e && (size_t)(e - t->p) + 1 < t->n && e[1] == ']'
                                  ? posix_set(t->p + s0 + neg, (size_t)(e - t->p) - s0 - (size_t)neg, neg)
                                  : NULL;
            if (!set) return bad(t, t->i, 1, "nested character classes are not supported");
            size_t p0 = t->i;
            t->i = (size_t)(e - t->p) + 2;
            if (neg && t->ascii) return bad(t, p0, t->i - p0, "pattern can match invalid UTF-8");
            rc = emit(t, p0, set, strlen(set));
            if (!rc && neg) rc = emit(t, p0, "\\x{80}-\\x{10FFFF}", 17);
        } else if ((c == '&' || c == '~' || c == '-') && d == c) {
            return bad(t, t->i, 1, "character class set operations (&&, --, ~~) are not supported");
        } else if (t->ascii && ((unsigned char)c & 0x80)) {
            return bad(t, t->i, 1, "Unicode not allowed here");
        } else {
            rc = copy(t, 1);
        }
    }
    if (!rc) rc = bad(t, at, 1, "unclosed character class");
    return rc;
}

static int add_cap(struct tx *t, size_t off, int hidden) {
    if (t->ncaps == t->capcaps) {
        size_t cap = t->capcaps ? t->capcaps * 2 : 8;
        struct cap *v = tr_realloc(t->caps, cap * sizeof *v);
        if (!v) return -ENOMEM;
        t->caps = v;
        t->capcaps = cap;
    }
    t->caps[t->ncaps].off = off;
    t->caps[t->ncaps++].hidden = hidden;
    return 0;
}

static int push(struct tx *t, size_t at) {
    if (t->depth >= MAX_NEST) return bad(t, at, 1, "groups nest deeper than %d", MAX_NEST);
    t->open[t->depth] = at;
    t->open_out[t->depth] = t->out.len;
    t->asciis[t->depth] = t->ascii;
    t->icases[t->depth] = t->icase;
    t->xs[t->depth++] = t->x;
    return 0;
}

/* Inline flags after "(?": [imsxuU-]* (')' | ':'), each flag at most
 * once, one '-' and not last. Rust's u is not PCRE2's: it is tracked here
 * (ascii) and left out of the output. */
static int flags(struct tx *t, size_t at) {
    char keep[16];
    size_t k = 0, negat = 0;
    int neg = 0, x = t->x, ascii = t->ascii, icase = t->icase, seen[128] = {0};
    size_t j = t->i + 2;
    for (; j < t->n && t->p[j] != ')' && t->p[j] != ':'; j++) {
        char f = t->p[j];
        if (f == '-') {
            if (neg) return bad(t, j, 1, "flag negation operator repeated");
            neg = 1;
            negat = j;
            keep[k++] = f;
            continue;
        }
        if (!f || !strchr("imsxuU", f)) return bad(t, j, 1, "unrecognized flag");
        if (seen[(int)f]) return bad(t, j, 1, "duplicate flag");
        seen[(int)f] = 1;
        if (f == 'x') x = !neg;
        if (f == 'i') icase = !neg;
        if (f == 'u') ascii = neg;
        else keep[k++] = f;
    }
    if (j >= t->n) return bad(t, at, 1, j == t->i + 2 ? "unclosed group" : "unexpected eof (flag)");
    if (neg && negat == j - 1) return bad(t, negat, 1, "dangling flag negation operator");
    /* "-u" alone leaves only a '-' for PCRE2 */
    if (k && keep[k - 1] == '-') k--;
    int rc = 0;
    if (t->p[j] == ':') {
        if ((rc = push(t, at))) return rc;
        rc = emit(t, at, "(?", 2);
        if (!rc && k) rc = emit(t, at, keep, k);
        if (!rc) rc = emit(t, at, ":", 1);
    } else if (k) {
        rc = emit(t, at, "(?", 2);
        if (!rc) rc = emit(t, at, keep, k);
        if (!rc) rc = emit(t, at, ")", 1);
    }
    t->x = x;
    t->icase = icase;
    t->ascii = ascii;
    t->i = j + 1;
    return rc;
}

/* name: [_A-Za-z] [_0-9A-Za-z.\[\]]* '>' after "(?P<" (Rust's rule, wider
 * than PCRE2's), emitted as (?P<n<k>> with the name kept in t->gnames[k];
 * the cursor is on the '('. */
static int group_name(struct tx *t, size_t at) {
    size_t s0 = at + 4, j = s0;
    while (j < t->n && t->p[j] != '>') {
        char c = t->p[j];
        int ok = c == '_' || is_alpha(c) || (j > s0 && (is_digit(c) || c == '.' || c == '[' || c == ']'));
        if (!ok) return bad(t, j, 1, "invalid capture group character");
        j++;
    }
    if (j >= t->n) return bad(t, at, j - at, "unclosed capture group name");
    if (j == s0) return bad(t, at, j + 1 - at, "empty capture group name");
    size_t nl = j - s0;
    for (size_t k = 0; k < t->ngnames; k++)
        if (strlen(t->gnames[k]) == nl && !memcmp(t->gnames[k], t->p + s0, nl))
            return bad(t, s0, nl, "duplicate capture group name");
    if (t->ngnames == t->capgnames) {
        size_t cap = t->capgnames ? t->capgnames * 2 : 8;
        char **v = tr_realloc(t->gnames, cap * sizeof *v);
        if (!v) return -ENOMEM;
        t->gnames = v;
        t->capgnames = cap;
    }
    char *name = tr_malloc(nl + 1);
    if (!name) return -ENOMEM;
    memcpy(name, t->p + s0, nl);
    name[nl] = 0;
    t->gnames[t->ngnames] = name;
    char buf[32];
    int k = snprintf(buf, sizeof buf, "(?P<n%zu>", t->ngnames++);
    t->i = j + 1;
    return emit(t, at, buf, (size_t)k);
}

/* group: '(' ( '?:' | '?P<' name '>' | '?<' name '>' | '?' flags ':' )? ;
 * the cursor is on the '('. */
static int group(struct tx *t) {
    size_t at = t->i;
    const char *p = t->p + t->i;
    size_t left = t->n - t->i;
    char a = left > 1 ? p[1] : 0, b = left > 2 ? p[2] : 0, c = left > 3 ? p[3] : 0;
    int rc;
    if (a == '*') return bad(t, at, 1, "(*VERB)s are not supported");
    if (a != '?') {
        if ((rc = push(t, at)) || (rc = add_cap(t, t->out.len, 0))) return rc;
        return copy(t, 1);
    }
    switch (b) {
    case ':':
        if ((rc = push(t, at))) return rc;
        return copy(t, 3);
    case 'P':
        if (c == '<') {
            if ((rc = push(t, at)) || (rc = add_cap(t, t->out.len, 0))) return rc;
            return group_name(t, at);
        }
        if (c == '=') return bad(t, at, 1, "backreferences are not supported");
        if (c == '>') return bad(t, at, 1, "recursion and subroutine calls are not supported");
        return bad(t, at, 1, "unrecognized group syntax");
    case '<':
        if (c == '=' || c == '!') return bad(t, at, 4, "look-around, including look-ahead and look-behind, is not supported");
        /* (?<name>...) came with regex 1.9; 0.11's 1.5 reads '<' as a flag */
        return bad(t, at + 2, 1, "unrecognized flag");
    case '=': case '!':
        return bad(t, at, 3, "look-around, including look-ahead and look-behind, is not supported");
    case '*':
        return bad(t, at, 3, "look-around, including look-ahead and look-behind, is not supported");
    case '>':
        return bad(t, at, 1, "atomic groups are not supported");
    case '|':
        return bad(t, at, 1, "branch reset groups are not supported");
    case '#':
        return bad(t, at, 1, "(?#...) comments are not supported");
    case 'C':
        return bad(t, at, 1, "callouts are not supported");
    case '(':
        return bad(t, at, 1, "conditional groups are not supported");
    case '\'':
        return bad(t, at, 1, "group names in quotes are not supported; use (?P<name>...)");
    case 'R': case '&': case '+':
        return bad(t, at, 1, "recursion and subroutine calls are not supported");
    default:
        if (is_digit(b) || (b == '-' && is_digit(c)))
            return bad(t, at, 1, "recursion and subroutine calls are not supported");
        return flags(t, at);
    }
}

/* {n} {n,} {n,m} at the cursor: its length, 0 when '{' is a literal. */
static size_t counted(const struct tx *t) {
    size_t j = t->i + 1;
    if (j >= t->n || !is_digit(t->p[j])) return 0;
    while (j < t->n && is_digit(t->p[j])) j++;
    if (j < t->n && t->p[j] == ',') {
        j++;
        while (j < t->n && is_digit(t->p[j])) j++;
    }
    return j < t->n && t->p[j] == '}' ? j + 1 - t->i : 0;
}

/* Insert k bytes at output offset pos (all mapped to pattern offset at). */
static int emit_at(struct tx *t, size_t pos, size_t at, const char *s, size_t k) {
    size_t len = t->out.len;
    int rc = emit(t, at, s, k);
    if (rc) return rc;
    memmove(t->out.data + pos + k, t->out.data + pos, len - pos);
    memcpy(t->out.data + pos, s, k);
    memmove(t->map + pos + k, t->map + pos, (len - pos) * sizeof *t->map);
    for (size_t j = 0; j < k; j++) t->map[pos + j] = at;
    for (size_t j = 0; j < t->ncaps; j++)
        if (t->caps[j].off >= pos) t->caps[j].off += k;
    return 0;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* A repetition operator at the cursor, k bytes long. regex-syntax 0.6
 * repeats whatever came last: a repetition (a** is (?:a*)*, and in (?x)
 * `a+ ?` is (?:a+)?, the '?' being lazy only right after its operator) or
 * an assertion ($+), both of which PCRE2 refuses or reads otherwise (a++
 * is possessive there), so the operand is wrapped in a group first.
 *
 * A loop whose body can match empty needs more. Rust's NFA drops a thread
 * that comes back to a loop's head where it entered it, so an iteration
 * that matched nothing is not taken: the body's other alternatives are
 * tried, else the loop ends without it (its groups keep what they had).
 * PCRE2 takes such an iteration and then stops. Every iteration of a
 * group's * or {0,} loop therefore gets a hidden capture and a callout
 * (1) that refuses it when empty; + and {n,} (Rust: n copies, then a
 * loop) let the iterations that start where the loop did be empty, told
 * apart by a second hidden capture in front (callout 2). Bodies that are a
 * single character, class or escape cannot match empty and are left as
 * they are. */
static int repeat(struct tx *t, int *state, size_t atom_out, int assertion, int group, size_t k) {
    size_t at = t->i;
    if (*state == S_NONE) return bad(t, at, 1, "repetition operator missing expression");
    int rc = 0, wrapped = *state == S_QUANT || assertion;
    if (wrapped) {
        /* each one is a group around the last: bounded like groups */
        if (++t->stacked > MAX_NEST)
            return bad(t, at, 1, "repetition operators stacked deeper than %d (nest limit)", MAX_NEST);
        rc = emit_at(t, atom_out, at, "(?:", 3);
        if (!rc) rc = emit(t, at, ")", 1);
    }
    /* which loop: 1 none may be empty, 2 the first may, 0 not a loop */
    int loop = 0;
    char q = t->p[at];
    if (q == '*') loop = 1;
    else if (q == '+') loop = 2;
    else if (q == '{' && memchr(t->p + at, ',', k) && t->p[at + k - 2] == ',') loop = t->p[at + 1] == '0' && t->p[at + 2] == ',' ? 1 : 2;
    if (!rc && loop && (group || wrapped)) {
        if (loop == 2) {
            if (!(rc = emit_at(t, atom_out, at, "()", 2))) rc = add_cap(t, atom_out, 1);
            atom_out += 2;
        }
        if (!rc) rc = emit_at(t, atom_out, at, "(?:(", 4);
        if (!rc) rc = add_cap(t, atom_out + 3, 1);
        if (!rc) rc = emit(t, at, loop == 1 ? ")(?C1))" : ")(?C2))", 7);
        t->loops = 1;
    }
    if (!rc) rc = copy(t, k);
    if (!rc && t->i < t->n && t->p[t->i] == '?') rc = copy(t, 1);   /* lazy */
    *state = S_QUANT;
    return rc;
}

/* (?i) with Unicode off folds ASCII only (regex-syntax 0.6), where
 * PCRE2's caseless matching also lets k match U+212A KELVIN SIGN and s
 * match U+017F LONG S, the only non-ASCII characters an ASCII letter folds
 * to. An atom emitted at out0 in that mode that could match a letter is
 * made to refuse those two first. */
static int ascii_fold(struct tx *t, size_t out0, size_t at) {
    static const char pre[] = "(?:(?-i:(?![\\x{17F}\\x{212A}]))";
    int rc = emit_at(t, out0, at, pre, sizeof pre - 1);
    return rc ? rc : emit(t, at, ")", 1);
}

static int translate(struct tx *t) {
    int state = S_NONE, rc = 0, assertion = 0, group_atom = 0;
    size_t atom_out = 0;     /* output offset where the last atom began */
    while (!rc && t->i < t->n) {
        size_t at = t->i, out0 = t->out.len;
        char c = t->p[at];
        /* (?x): white space and comments separate tokens and are dropped
         * here, so that PCRE2 cannot join what Rust keeps apart */
        if (t->x && is_space(c)) {
            t->i++;
            continue;
        }
        if (t->x && c == '#') {
            const char *e = memchr(t->p + at, '\n', t->n - at);
            t->i = e ? (size_t)(e - t->p) + 1 : t->n;
            continue;
        }
        int was_assertion = assertion, was_group = group_atom;
        assertion = 0;
        group_atom = 0;
        if (!strchr("?*+{", c)) t->stacked = 0;
        switch (c) {
        case '\\':
            rc = escape(t, 0);
            if (!rc && t->ascii && t->icase && t->p[at + 1] == 'w') rc = ascii_fold(t, out0, at);
            state = S_ATOM;
            atom_out = out0;
            assertion = at + 1 < t->n && strchr("AzbB", t->p[at + 1]) != NULL;
            break;
        case '[':
            rc = klass(t);
            if (!rc && t->ascii && t->icase) rc = ascii_fold(t, out0, at);
            state = S_ATOM;
            atom_out = out0;
            break;
        case '(':
            rc = group(t);
            state = S_NONE;
            break;
        case ')':
            if (t->depth == 0) return bad(t, at, 1, "unopened group");
            t->x = t->xs[--t->depth];
            t->icase = t->icases[t->depth];
            t->ascii = t->asciis[t->depth];
            atom_out = t->open_out[t->depth];
            rc = copy(t, 1);
            state = S_ATOM;
            group_atom = 1;
            break;
        case '|':
            rc = copy(t, 1);
            state = S_NONE;
            break;
        case '?':
        case '*':
        case '+':
            rc = repeat(t, &state, atom_out, was_assertion, was_group, 1);
            break;
        case '{': {
            size_t k = counted(t);
            if (k) {
                rc = repeat(t, &state, atom_out, was_assertion, was_group, k);
                break;
            }
            rc = copy(t, 1);
            state = S_ATOM;
            atom_out = out0;
            break;
        }
        case '.':
            /* with Unicode off, . is any byte: Rust's Regex refuses it */
            if (t->ascii) return bad(t, at, 1, "pattern can match invalid UTF-8");
            rc = copy(t, 1);
            state = S_ATOM;
            atom_out = out0;
            break;
        case '^':
        case '$':
            if (c == '^') t->left_assert = 1;
            rc = copy(t, 1);
            state = S_ATOM;
            atom_out = out0;
            assertion = 1;
            break;
        default: {
            if (t->ascii && ((unsigned char)c & 0x80)) return bad(t, at, 1, "Unicode not allowed here");
            /* one whole character is the atom */
            size_t k = 1;
            while (at + k < t->n && ((unsigned char)t->p[at + k] & 0xC0) == 0x80) k++;
            rc = copy(t, k);
            if (!rc && t->ascii && t->icase && strchr("kKsS", c)) rc = ascii_fold(t, out0, at);
            state = S_ATOM;
            atom_out = out0;
        }
        }
    }
    if (!rc && t->depth > 0) rc = bad(t, t->open[t->depth - 1], 1, "unclosed group");
    return rc;
}

/* --- compile --- */

void tr_regex_destroy(struct tr_regex *re) {
    if (!re) return;
    if (re->names)
        for (int g = 0; g <= re->ngroups; g++) tr_free(re->names[g]);
    tr_free(re->names);
    tr_free(re->map);
    pcre2_code_free(re->code);
    pcre2_code_free(re->check);
    pcre2_general_context_free(re->gc);
    tr_free(re);
}

static int by_offset(const void *a, const void *b) {
    const struct cap *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* The pattern's groups in PCRE2's numbering (repeat's hidden ones are
 * skipped) and their names. */
static int load_names(struct tr_regex *re, struct tx *t) {
    uint32_t groups = 0, count = 0, esize = 0;
    PCRE2_SPTR table = NULL;
    pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &groups);
    pcre2_pattern_info(re->code, PCRE2_INFO_NAMECOUNT, &count);
    pcre2_pattern_info(re->code, PCRE2_INFO_NAMEENTRYSIZE, &esize);
    pcre2_pattern_info(re->code, PCRE2_INFO_NAMETABLE, &table);
    /* PCRE2 numbers groups by where their '(' is, as does Rust */
    if (t->ncaps) qsort(t->caps, t->ncaps, sizeof *t->caps, by_offset);
    re->map = tr_calloc((size_t)groups + 1, sizeof *re->map);
    int *user = tr_calloc((size_t)groups + 1, sizeof *user);   /* PCRE2 number -> ours */
    if (!re->map || !user) {
        tr_free(user);
        return -ENOMEM;
    }
    int n = 0;
    for (size_t k = 0; k < t->ncaps && k < groups; k++)
        if (!t->caps[k].hidden) {
            re->map[++n] = (int)k + 1;
            user[k + 1] = n;
        }
    re->ngroups = n;
    re->names = tr_calloc((size_t)n + 1, sizeof *re->names);
    if (!re->names) {
        tr_free(user);
        return -ENOMEM;
    }
    for (uint32_t k = 0; k < count; k++) {
        PCRE2_SPTR e = table + (size_t)k * esize;
        uint32_t g = (uint32_t)e[0] << 8 | e[1];
        if (g == 0 || g > groups || !user[g] || re->names[user[g]]) continue;
        /* every name PCRE2 sees is our n<index> into the pattern's names */
        size_t idx = (size_t)strtoul((const char *)e + 3, NULL, 10);
        if (idx >= t->ngnames) continue;
        re->names[user[g]] = tr_strdup(t->gnames[idx]);
        if (!re->names[user[g]]) {
            tr_free(user);
            return -ENOMEM;
        }
    }
    tr_free(user);
    return 0;
}

/* re->check: "(?:pattern)(?C3)" with every path tried (no auto-possessive
 * items or start-of-match shortcuts, which would skip callouts) and an
 * offset limit, so on_callout can refuse a path by where it ends. A
 * pattern that compiled once compiles again; should the copy fail all the
 * same (memory), searches fall back to PCRE2's answers. */
static int compile_check(struct tr_regex *re, struct tx *t, pcre2_compile_context *cc) {
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = tr_buf_append(&b, "(?:", 3);
    if (!rc && t->out.len) rc = tr_buf_append(&b, t->out.data, t->out.len);
    if (!rc) rc = tr_buf_append(&b, ")(?C3)", 6);
    if (rc) {
        tr_buf_fini(&b);
        return rc;
    }
    int err = 0;
    PCRE2_SIZE eoff = 0;
    re->check = pcre2_compile((PCRE2_SPTR)b.data, b.len,
                              OPTIONS | PCRE2_NO_AUTO_POSSESS | PCRE2_NO_START_OPTIMIZE | PCRE2_NO_DOTSTAR_ANCHOR |
                                  PCRE2_USE_OFFSET_LIMIT,
                              &err, &eoff, cc);
    tr_buf_fini(&b);
    if (!re->check && err == PCRE2_ERROR_HEAP_FAILED) return -ENOMEM;
    return 0;
}

int tr_regex_create(const char *pattern, size_t len, unsigned flags, struct tr_regex **out, char *msg,
                    size_t mlen) {
    *out = NULL;
    if (mlen) msg[0] = 0;
    if (len > TR_REGEX_MAX_PATTERN) {
        snprintf(msg, mlen, "regex pattern of %zu bytes is longer than the limit of %d", len, TR_REGEX_MAX_PATTERN);
        return TR_ETOOBIG;
    }
    struct tr_regex *re = tr_calloc(1, sizeof *re);
    if (!re) return -ENOMEM;
    struct tx *t = tr_calloc(1, sizeof *t);
    pcre2_compile_context *cc = NULL;
    int rc = -ENOMEM;
    if (!t) goto out;
    t->p = pattern ? pattern : "";
    t->n = len;
    t->msg = msg;
    t->mlen = mlen;
    tr_buf_init(&t->out);
    if ((rc = translate(t))) goto out;
    rc = -ENOMEM;
    if (!(re->gc = pcre2_general_context_create(pmalloc, pfree, NULL))) goto out;
    if (!(cc = pcre2_compile_context_create(re->gc))) goto out;
    pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
    /* the pattern's own nesting is checked (push); repeat's groups and
     * re->check's add at most three levels per level */
    pcre2_set_parens_nest_limit(cc, 3 * MAX_NEST + 1);
    int err = 0;
    PCRE2_SIZE eoff = 0;
    re->code = pcre2_compile((PCRE2_SPTR)(t->out.data ? t->out.data : ""), t->out.len, OPTIONS | (t->loops ? PCRE2_NO_AUTO_POSSESS : 0),
                             &err, &eoff, cc);
    if (!re->code) {
        if (err == PCRE2_ERROR_HEAP_FAILED) goto out;
        PCRE2_UCHAR why[160];
        pcre2_get_error_message(err, why, sizeof why);
        size_t at = eoff < t->out.len ? t->map[eoff] : len;
        describe(msg, mlen, t->p, len, at, 1, (const char *)why);
        /* ERR20: the compiled form would exceed PCRE2's link size */
        rc = err == 120 ? TR_ETOOBIG : TR_EPARSE;
        goto out;
    }
    size_t size = 0;
    pcre2_pattern_info(re->code, PCRE2_INFO_SIZE, &size);
    if (size > MAX_COMPILED) {
        snprintf(msg, mlen, "regex compiles to %zu bytes, more than the limit of %d", size, MAX_COMPILED);
        rc = TR_ETOOBIG;
        goto out;
    }
    /* Without the JIT (no executable memory, or out of it) the interpreter
     * still answers correctly under the same limits, only slower. */
    if (!(flags & TR_REGEX_NO_JIT)) (void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
    if ((rc = load_names(re, t))) goto out;
    re->unicode_wb = t->unicode_wb;
    if (t->left_assert && (rc = compile_check(re, t, cc))) goto out;
    *out = re;
    re = NULL;
out:
    if (t) {
        tr_buf_fini(&t->out);
        tr_free(t->map);
        for (size_t k = 0; k < t->ngnames; k++) tr_free(t->gnames[k]);
        tr_free(t->gnames);
        tr_free(t->caps);
        tr_free(t);
    }
    pcre2_compile_context_free(cc);
    tr_regex_destroy(re);
    if (rc == -ENOMEM) snprintf(msg, mlen, "out of memory");
    return rc;
}

int tr_regex_ngroups(const struct tr_regex *re) { return re->ngroups; }

const char *tr_regex_group_name(const struct tr_regex *re, int g) {
    return g >= 1 && g <= re->ngroups ? re->names[g] : NULL;
}

int tr_regex_group_index(const struct tr_regex *re, const char *name, size_t nlen) {
    for (int g = 1; g <= re->ngroups; g++)
        if (re->names[g] && strlen(re->names[g]) == nlen && !memcmp(re->names[g], name, nlen)) return g;
    return -1;
}

/* --- match --- */

static int on_callout(pcre2_callout_block *cb, void *data);

int tr_regex_match_create(const struct tr_regex *re, struct tr_regex_match **out) {
    *out = NULL;
    struct tr_regex_match *m = tr_calloc(1, sizeof *m);
    if (!m) return -ENOMEM;
    m->re = re;
    m->md = pcre2_match_data_create_from_pattern(re->code, re->gc);
    m->mc = pcre2_match_context_create(re->gc);
    if (!m->md || !m->mc) {
        tr_regex_match_destroy(m);
        return -ENOMEM;
    }
    pcre2_set_callout(m->mc, on_callout, NULL);
    pcre2_set_match_limit(m->mc, MATCH_LIMIT);
    pcre2_set_depth_limit(m->mc, DEPTH_LIMIT);
    pcre2_set_heap_limit(m->mc, HEAP_LIMIT_KIB);
    *out = m;
    return 0;
}

void tr_regex_match_destroy(struct tr_regex_match *m) {
    if (!m) return;
    pcre2_match_data_free(m->md);
    pcre2_match_context_free(m->mc);
    pcre2_jit_stack_free(m->js);
    tr_free(m->view);
    tr_free(m);
}

/* One PCRE2 search of code with m's limits: 1, 0, or an error. */
static int search(struct tr_regex_match *m, const pcre2_code *code, const char *s, size_t len, size_t start) {
    m->matched = 0;
    m->fixed = 0;
    m->err[0] = 0;
    if (start > len) return 0;
    for (;;) {
        int r = pcre2_match(code, (PCRE2_SPTR)(s ? s : ""), len, start, 0, m->md, m->mc);
        if (r >= 0) {
            m->matched = 1;
            return 1;
        }
        if (r == PCRE2_ERROR_NOMATCH) return 0;
        if (r == PCRE2_ERROR_NOMEMORY) return -ENOMEM;
        if (r == PCRE2_ERROR_JIT_STACKLIMIT && !m->js) {
            /* the default 32 KiB machine stack was not enough: give this
             * search a growable one, bounded by JIT_STACK_MAX, and retry */
            m->js = pcre2_jit_stack_create(JIT_STACK_START, JIT_STACK_MAX, m->re->gc);
            if (!m->js) return -ENOMEM;
            pcre2_jit_stack_assign(m->mc, NULL, m->js);
            continue;
        }
        switch (r) {
        case PCRE2_ERROR_MATCHLIMIT:
            snprintf(m->err, sizeof m->err, "regex match limit exceeded (%u backtracking steps)", MATCH_LIMIT);
            break;
        case PCRE2_ERROR_DEPTHLIMIT:
            snprintf(m->err, sizeof m->err, "regex depth limit exceeded (%u nested backtracking points)", DEPTH_LIMIT);
            break;
        case PCRE2_ERROR_HEAPLIMIT:
            snprintf(m->err, sizeof m->err, "regex memory limit exceeded (%u KiB)", HEAP_LIMIT_KIB);
            break;
        case PCRE2_ERROR_JIT_STACKLIMIT:
            snprintf(m->err, sizeof m->err, "regex stack limit exceeded (%d bytes)", JIT_STACK_MAX);
            break;
        default: {
            PCRE2_UCHAR why[120];
            pcre2_get_error_message(r, why, sizeof why);
            snprintf(m->err, sizeof m->err, "regex match failed: %s", (const char *)why);
        }
        }
        return TR_ERUNTIME;
    }
}

int tr_regex_exec(struct tr_regex_match *m, const char *s, size_t len, size_t start) {
    return search(m, m->re->code, s, len, start);
}

/* What re->check's callout (3) lets through: a path ending exactly at
 * target, or at target or before. */
struct ending {
    size_t target;
    int exact;
};

/* Callouts 1 and 2 end a loop iteration (repeat): 1 refuses it when it
 * matched nothing, 2 only when it also started after the loop did. The
 * iteration is the hidden group that closed last; for 2, the group before
 * it marks where the loop started. Callout 3 ends re->check's paths where
 * e (the data) does not allow. A nonzero answer makes PCRE2 backtrack. */
static int on_callout(pcre2_callout_block *cb, void *data) {
    const PCRE2_SIZE *ov = cb->offset_vector;
    uint32_t g = cb->capture_last;
    switch (cb->callout_number) {
    case 1:
        return g > 0 && ov[2 * g] == ov[2 * g + 1];
    case 2:
        return g > 1 && ov[2 * g] == ov[2 * g + 1] && ov[2 * g] != ov[2 * (g - 1)];
    case 3: {
        const struct ending *e = data;
        if (!e) return 0;
        size_t at = cb->current_position;
        return e->exact ? at != e->target : at > e->target;
    }
    default:
        return 0;
    }
}

/* A search of re->check restricted by e (and, when limit is not
 * PCRE2_UNSET, to matches starting at or before it). */
static int check_search(struct tr_regex_match *m, const char *s, size_t len, size_t start, struct ending *e,
                        size_t limit) {
    pcre2_set_callout(m->mc, on_callout, e);
    pcre2_set_offset_limit(m->mc, limit);
    int r = search(m, m->re->check, s, len, start);
    pcre2_set_callout(m->mc, on_callout, NULL);
    pcre2_set_offset_limit(m->mc, PCRE2_UNSET);
    return r;
}

static void group0(const struct tr_regex_match *m, size_t *so, size_t *eo) {
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
    *so = ov[0];
    *eo = ov[1];
}

/* Is there a byte above 0x7F in s[from, to)? */
static int non_ascii(const char *s, size_t from, size_t to) {
    for (size_t i = from; i < to; i++)
        if ((unsigned char)s[i] & 0x80) return 1;
    return 0;
}

/*
 * Rust's regex 1.5 (Tremor 0.11's) searching from start > 0, as its
 * find_iter and captures_iter do after the first match, faithfully to how
 * it computes it rather than to what the pattern means (exec.rs,
 * find_dfa_forward):
 * - a forward DFA finds where the match ends. The DFA knows only ASCII word
 *   characters: with a Unicode \b or \B in the pattern it gives up (and
 *   an NFA answers, correctly) as soon as it reads a byte above 0x7F, but
 *   the byte before start is looked at without reading it, so a character
 *   such as é there counts as a non-word character;
 * - a reverse DFA then finds where it starts, run on the text from start
 *   on, so at start the assertions that look left see the beginning of a
 *   text: ^ and \A hold there, \b and \B see no character before. When
 *   the reverse DFA finds no start, the search reports no match at all,
 *   which ends the iteration;
 * - captures_iter (for a pattern with groups) then runs the NFA from that
 *   start over the text up to that end, for the groups and the match.
 * So "\Ba" finds only the first a of "xaaa", and "\b" reports a boundary
 * between é and c. Patterns without an assertion that looks left are not
 * affected and are searched plainly. The DFA sees a match at e once it has
 * read the byte at e and reads one byte more before it stops (so it gives
 * up on a non-ASCII one there too); it reads further while a preferred
 * alternative is still alive, which this does not model.
 */
static int rust_find_at(struct tr_regex_match *m, const char *s, size_t len, size_t start, int captures) {
    const struct tr_regex *re = m->re;
    if (start == 0 || start > len || !re->check) return tr_regex_exec(m, s, len, start);
    size_t so = 0, eo = 0;
    int r;
    if (re->unicode_wb && ((unsigned char)s[start - 1] & 0x80)) {
        /* the DFA's view: an ASCII non-word character before start, the
         * text up to its first non-ASCII byte (where it would give up) */
        size_t q = start;
        while (q < len && !((unsigned char)s[q] & 0x80)) q++;
        size_t end = q < len ? q + 1 : len, vlen = 1 + end - start;
        if (vlen > m->viewcap) {
            char *v = tr_realloc(m->view, vlen);
            if (!v) return -ENOMEM;
            m->view = v;
            m->viewcap = vlen;
        }
        m->view[0] = 0x01;
        memcpy(m->view + 1, s + start, end - start);
        r = search(m, re->code, m->view, vlen, 1);
        if (r < 0) return r;
        if (r == 0 && q == len) return 0;
        if (r) {
            group0(m, &so, &eo);
            so += start - 1;
            eo += start - 1;
        }
        if (r == 0 || (q < len && eo + 1 >= q)) return tr_regex_exec(m, s, len, start);   /* the DFA gave up */
    } else {
        r = tr_regex_exec(m, s, len, start);
        if (r < 0) return r;
        if (r) group0(m, &so, &eo);
        if (re->unicode_wb && non_ascii(s, start, r ? (eo + 2 < len ? eo + 2 : len) : len)) return r;
        if (r == 0) return 0;
    }
    if (eo > start) {
        /* the reverse DFA: the leftmost start of a match ending at eo in
         * the text cut at start */
        struct ending e = {eo - start, 1};
        r = check_search(m, s + start, len - start, 0, &e, eo - start);
        if (r <= 0) return r;
        group0(m, &so, &eo);
        so += start;
        eo += start;
    } else {
        so = start;
    }
    /* with no group but the match, captures_iter takes find_iter's path */
    if (captures && re->ngroups > 0) {
        struct ending e = {eo, 0};
        return check_search(m, s, len, so, &e, PCRE2_UNSET);
    }
    m->matched = 1;
    m->fixed = 1;
    m->fs = so;
    m->fe = eo;
    return 1;
}

/* Bytes in the UTF-8 sequence starting at s[i] (1 for a stray byte). */
static size_t char_len(const char *s, size_t len, size_t i) {
    unsigned char c = (unsigned char)s[i];
    size_t k = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (i + k > len) return 1;
    for (size_t j = 1; j < k; j++)
        if (((unsigned char)s[i + j] & 0xC0) != 0x80) return 1;
    return k;
}

int tr_regex_next(struct tr_regex_match *m, const char *s, size_t len, struct tr_regex_iter *it) {
    for (;;) {
        if (it->done || it->next > len) {
            it->done = 1;
            m->matched = 0;
            return 0;
        }
        int r = rust_find_at(m, s, len, it->next, it->captures);
        if (r != 1) {
            it->done = 1;
            return r;
        }
        size_t so, eo;
        tr_regex_group(m, 0, &so, &eo);
        int again = 0;
        if (so == eo) {
            it->next = eo < len ? eo + char_len(s, len, eo) : len + 1;
            again = it->started && eo == it->last_end;
        } else {
            it->next = eo;
        }
        if (again) continue;
        it->started = 1;
        it->last_end = eo;
        return 1;
    }
}

int tr_regex_group(const struct tr_regex_match *m, int g, size_t *so, size_t *eo) {
    if (!m->matched || g < 0 || g > m->re->ngroups) return 0;
    if (m->fixed) {
        *so = m->fs;
        *eo = m->fe;
        return g == 0;
    }
    g = g ? m->re->map[g] : 0;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
    if ((uint32_t)g >= pcre2_get_ovector_count(m->md) || ov[2 * g] == PCRE2_UNSET) return 0;
    *so = ov[2 * g];
    *eo = ov[2 * g + 1];
    return 1;
}

const char *tr_regex_match_error(const struct tr_regex_match *m) { return m->err; }
