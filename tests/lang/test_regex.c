/* test_regex.c - regular expressions under hostile input: patterns and
 * subjects that made the old POSIX engine run for minutes or gigabytes must
 * answer, or fail with a located error, promptly; constructs Rust's regex
 * crate refuses are compile errors; subjects are byte-exact (NULs included).
 * Each test runs under an alarm so a hang fails it instead of the suite
 * waiting forever; nothing asserts on time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/json.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "lang/extract_int.h"
#include "lang/regex.h"
#include "lang/script.h"

#define ALARM_SECONDS 20

static int arm(void **st) {
    (void)st;
    alarm(ALARM_SECONDS);
    return 0;
}

static int disarm(void **st) {
    (void)st;
    alarm(0);
    return 0;
}

/* n copies of c followed by tail (may hold NULs: tlen bytes). */
static char *repeat(char c, size_t n, const char *tail, size_t tlen, size_t *len) {
    char *s = malloc(n + tlen + 1);
    assert_non_null(s);
    memset(s, c, n);
    memcpy(s + n, tail, tlen);
    s[n + tlen] = 0;
    *len = n + tlen;
    return s;
}

/* An event {"s": s[0..len)}. */
static tr_value event_s(const char *s, size_t len) {
    tr_value ev, v;
    assert_int_equal(0, tr_v_rec(1, &ev));
    assert_int_equal(0, tr_v_str(s, len, &v));
    assert_int_equal(0, tr_rec_set(&ev, "s", 1, v));
    return ev;
}

/* Run src on ev (taken); 0 with the output JSON in *out, or the run's error
 * code with its diagnostic in *d and *out NULL. */
static int run(const char *src, tr_value ev, char **out, struct tr_diag *d) {
    struct tr_script *s;
    tr_diag_clear(d);
    /* std::re comes in on a line of its own: errors are on src's line + 1 */
    char *full = malloc(strlen(src) + 16);
    assert_non_null(full);
    strcpy(full, "use std::re;\n");
    strcat(full, src);
    int rc = tr_script_compile("t.tremor", full, strlen(full), &s, d);
    free(full);
    if (rc) fail_msg("compile failed: %s (%d:%d)", d->msg, d->line, d->col);
    tr_value meta, state = tr_v_null();
    assert_int_equal(0, tr_v_rec(0, &meta));
    enum tr_script_outcome oc;
    const char *port;
    struct tr_lang_ctx ctx = {.instance = "tremor", .ingest_ns = 0};
    rc = tr_script_run(s, &ctx, &ev, &meta, &state, &oc, &port, d);
    *out = NULL;
    if (!rc) {
        struct tr_buf b;
        tr_buf_init(&b);
        assert_int_equal(0, tr_json_encode(&ev, &b));
        *out = tr_buf_steal(&b, NULL);
    }
    tr_value_unref(ev);
    tr_value_unref(meta);
    tr_value_unref(state);
    tr_script_destroy(s);
    return rc;
}

static void expect_out(const char *src, tr_value ev, const char *want) {
    char *got;
    struct tr_diag d;
    int rc = run(src, ev, &got, &d);
    if (rc) fail_msg("script %s\n  expected %s\n  actual   error %d: %s", src, want, rc, d.msg);
    if (strcmp(got, want) != 0) fail_msg("script %s\n  expected %s\n  actual   %s", src, want, got);
    tr_free(got);
}

/* The compile error of src, which must fail. */
static void compile_fails(const char *src, struct tr_diag *d) {
    struct tr_script *s = NULL;
    tr_diag_clear(d);
    int rc = tr_script_compile("t.tremor", src, strlen(src), &s, d);
    if (!rc) fail_msg("expected a compile error for\n%s", src);
    assert_null(s);
}

/* --- quadratic and exponential searches --- */

static void is_match_long_subject_answers(void **st) {
    (void)st;
    /* the old engine took 14.6 s at 100k characters and grew quadratically */
    size_t len;
    char *s = repeat('a', 200000, "", 0, &len);
    expect_out("re::is_match(\"a+b\", event.s)", event_s(s, len), "false");
    expect_out("re::is_match(\"\\\\w+\\\\s\", event.s)", event_s(s, len), "false");
    free(s);
}

static void catastrophic_call_is_located_runtime_error(void **st) {
    (void)st;
    size_t len;
    char *s = repeat('a', 30000, "b", 1, &len);
    char *out;
    struct tr_diag d;
    int rc = run("\n  re::is_match(\"(a+)+$\", event.s)", event_s(s, len), &out, &d);
    free(s);
    if (rc != TR_ERUNTIME) fail_msg("expected a runtime error, got rc %d out %s", rc, out ? out : "-");
    if (!strstr(d.msg, "re::is_match") || !strstr(d.msg, "limit"))
        fail_msg("expected a limit error of re::is_match, got '%s'", d.msg);
    assert_string_equal("t.tremor", d.file);
    assert_int_equal(3, d.line);
    assert_true(d.col > 0);
}

static void catastrophic_extractor_is_runtime_error(void **st) {
    (void)st;
    size_t len;
    char *s = repeat('a', 30000, "b", 1, &len);
    const char *src = "match event of\n"
                      "  case %{ s ~= re|(a+)+$| } => \"matched\"\n"
                      "  default => \"no match\"\n"
                      "end\n";
    char *out;
    struct tr_diag d;
    int rc = run(src, event_s(s, len), &out, &d);
    if (rc != TR_ERUNTIME) fail_msg("expected a runtime error, got rc %d out %s", rc, out ? out : "-");
    /* the script's error names the limit at the pattern (line 2 of src) */
    if (!strstr(d.msg, "match limit")) fail_msg("expected the limit in the error, got '%s'", d.msg);
    if (d.line != 3) fail_msg("expected the error on line 3, got %d:%d", d.line, d.col);

    /* the extractor itself says why */
    char msg[256];
    struct tr_extractor *x;
    assert_int_equal(0, tr_extractor_create("re", "(a+)+$", &x, msg, sizeof msg));
    tr_value v, r = tr_v_null();
    assert_int_equal(0, tr_v_str(s, len, &v));
    assert_int_equal(TR_ERUNTIME, tr_extractor_run(x, &v, 1, &r));
    if (!strstr(tr_extractor_error(x), "match limit")) fail_msg("got '%s'", tr_extractor_error(x));
    /* and answers the next subject normally */
    tr_value ok;
    assert_int_equal(0, tr_v_str("aaa", 3, &ok));
    assert_int_equal(1, tr_extractor_run(x, &ok, 0, NULL));
    tr_value_unref(ok);
    tr_value_unref(v);
    tr_extractor_destroy(x);
    free(s);
}

static void grok_limit_is_runtime_error(void **st) {
    (void)st;
    char msg[256];
    struct tr_extractor *x;
    /* catastrophic for Oniguruma (which sees through ((a+)+)$) */
    assert_int_equal(0, tr_extractor_create("grok", "^(%{WORD:w} )?([a-z]+\\s?)*$", &x, msg, sizeof msg));
    size_t len;
    char *s = repeat('a', 30000, "!", 1, &len);
    memcpy(s, "word ", 5);
    tr_value v, r = tr_v_null();
    assert_int_equal(0, tr_v_str(s, len, &v));
    assert_int_equal(TR_ERUNTIME, tr_extractor_run(x, &v, 1, &r));
    if (!strstr(tr_extractor_error(x), "limit")) fail_msg("got '%s'", tr_extractor_error(x));
    tr_value_unref(v);
    tr_extractor_destroy(x);
    free(s);
}

/* --- what Rust refuses is a located compile error --- */

static void unsupported_syntax_is_compile_error(void **st) {
    (void)st;
    static const struct {
        const char *pat, *why;
    } cases[] = {
        {"(a)\\\\1", "backreferences"},
        {"(?P<n>a)(?P=n)", "backreferences"},
        {"(?P<n>a)\\\\k<n>", "backreferences"},
        {"(?=a)", "look-around"},
        {"(?!a)b", "look-around"},
        {"(?<=a)b", "look-around"},
        {"(?<!a)b", "look-around"},
        {"(?>a+)b", "atomic"},
        {"+a", "repetition operator missing expression"},
        {"(a\\|(?R))", "recursion"},
        {"(a)(?1)", "recursion"},
        {"\\\\C", "\\C"},
        {"(?C1)a", "callouts"},
        {"(?(1)a\\|b)", "conditional"},
        {"(*FAIL)", "VERB"},
        {"a\\\\Kb", "escape"},
        {"[a[b]]", "nested"},
        {"[a&&b]", "set operations"},
        {"(?", "unclosed"},
        {"(", "unclosed group"},
        {"a)", "unopened group"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char src[256];
        snprintf(src, sizeof src, "match event of\n  case %%{ s ~= re|%s| } => 1\n  default => 0\nend\n",
                 cases[i].pat);
        struct tr_diag d;
        compile_fails(src, &d);
        if (!strstr(d.msg, cases[i].why))
            fail_msg("pattern %s: expected an error about '%s', got '%s'", cases[i].pat, cases[i].why, d.msg);
        assert_string_equal("t.tremor", d.file);
        assert_int_equal(2, d.line);
        assert_true(d.col > 0);
    }
}

static void std_re_refuses_look_around(void **st) {
    (void)st;
    char *out;
    struct tr_diag d;
    int rc = run("re::is_match(\"(?=a)\", event.s)", event_s("a", 1), &out, &d);
    assert_int_equal(TR_ERUNTIME, rc);
    if (!strstr(d.msg, "look-around")) fail_msg("got '%s'", d.msg);
    assert_int_equal(2, d.line);
}

static void stacked_quantifiers_are_bounded(void **st) {
    (void)st;
    /* each extra + doubled the old engine's compile memory */
    size_t len;
    char *pat = repeat('+', 1000, "", 0, &len);
    pat[0] = 'a';
    char msg[256];
    struct tr_regex *re;
    assert_int_equal(TR_EPARSE, tr_regex_create(pat, len, 0, &re, msg, sizeof msg));
    assert_null(re);
    if (!strstr(msg, "repetition")) fail_msg("got '%s'", msg);
    free(pat);

    /* a pattern longer than the bound is refused before any work */
    pat = repeat('a', TR_REGEX_MAX_PATTERN + 1, "", 0, &len);
    assert_int_equal(TR_ETOOBIG, tr_regex_create(pat, len, 0, &re, msg, sizeof msg));
    free(pat);
    /* and one that would compile huge */
    const char *big = "(?:(?:(?:a{1000}){1000}){1000})";
    int rc = tr_regex_create(big, strlen(big), 0, &re, msg, sizeof msg);
    assert_int_equal(TR_ETOOBIG, rc);
}

/* --- byte-exact subjects and Rust semantics --- */

static void embedded_nul_is_matched_across(void **st) {
    (void)st;
    expect_out("re::is_match(\"b$\", event.s)", event_s("a\0b", 3), "true");
    expect_out("match event of case r = %{ s ~= re|(?P<x>a.b)| } => r.s.x default => \"no\" end",
               event_s("a\0b", 3), "\"a\\u0000b\"");
    expect_out("re::replace_all(\"b\", event.s, \"c\")", event_s("b\0b", 3), "\"c\\u0000c\"");
}

static void replace_and_split_follow_rust(void **st) {
    (void)st;
    tr_value n = tr_v_null();
    /* empty matches: one right after a match is skipped, as find_iter does */
    expect_out("re::replace_all(\"a*\", \"baaac\", \"-\")", tr_value_ref(n), "\"-b-c-\"");
    expect_out("re::replace(\"(?P<u>\\\\w+)@(?P<h>\\\\w+)\", \"joe@host x@y\", \"$h:$u ${u}2 $$\")", tr_value_ref(n),
               "\"host:joe joe2 $ x@y\"");
    expect_out("re::split(\",\", \"a,,b\")", tr_value_ref(n), "[\"a\",\"\",\"b\"]");
    expect_out("re::split(\"\", \"ab\")", tr_value_ref(n), "[\"\",\"a\",\"b\",\"\"]");
    /* an empty match advances by a whole character, not a byte */
    expect_out("re::replace_all(\"\", \"\\u00e9\", \"-\")", tr_value_ref(n), "\"-\u00e9-\"");
    /* Rust's $ is the end of the text unless (?m) */
    expect_out("[re::is_match(\"a$\", \"a\\n\"), re::is_match(\"(?m)a$\", \"a\\n\")]", tr_value_ref(n),
               "[false,true]");
    expect_out("re::replace_all(\"(?m)^\", \"a\\nb\\n\", \">\")", tr_value_ref(n), "\">a\\n>b\\n>\"");
    /* Rust's \\v is a vertical tab only */
    expect_out("re::is_match(\"\\\\v\", \"\\n\")", tr_value_ref(n), "false");
    expect_out("match event of case r = %{ s ~= rerg|(?P<d>\\\\d)| } => r.s default => \"no\" end",
               event_s("a1b2c3", 6), "{\"d\":[\"1\",\"2\",\"3\"]}");
    tr_value_unref(n);
}

/* --- regex 1.5 (Tremor 0.11's) syntax: what it refuses and how it reads
 * escapes, flags and classes; messages are regex-syntax 0.6.25's error
 * texts, matches follow the regex 1.5 documentation. --- */

static int re_matches(const char *pat, const char *subject) {
    char msg[256] = "";
    struct tr_regex *re;
    struct tr_regex_match *m;
    int rc = tr_regex_create(pat, strlen(pat), 0, &re, msg, sizeof msg);
    if (rc) fail_msg("pattern %s: expected to compile, got %s", pat, msg);
    assert_int_equal(0, tr_regex_match_create(re, &m));
    rc = tr_regex_exec(m, subject, strlen(subject), 0);
    tr_regex_match_destroy(m);
    tr_regex_destroy(re);
    return rc;
}

static void rust_1_5_syntax(void **st) {
    (void)st;
    static const struct {
        const char *pat, *why;
    } bad[] = {
        {"a\\/b", "unrecognized escape sequence"},      /* only meta characters may be escaped */
        {"a\\ b", "unrecognized escape sequence"},      /* a space only in (?x) */
        {"\\e", "unrecognized escape sequence"},
        {"(?ii)a", "duplicate flag"},
        {"(?i-)a", "dangling flag negation operator"},
        {"(?-i-m)a", "flag negation operator repeated"},
        {"(?q)a", "unrecognized flag"},
        {"(?i", "unexpected eof (flag)"},
        {"(?<n>a)", "unrecognized flag"},               /* (?<name>) is regex 1.9 */
        {"(?-u).", "pattern can match invalid UTF-8"},
        {"(?-u:\\W)", "pattern can match invalid UTF-8"},
        {"(?-u)[^a]", "pattern can match invalid UTF-8"},
        {"(?-u)\\xFF", "pattern can match invalid UTF-8"},
        {"(?-u)\\pL", "Unicode not allowed here"},
        {"(?-u)\xc3\xa9", "Unicode not allowed here"},
        {"\\x{D800}", "hexadecimal literal is not a Unicode scalar value"},
        {"\\x{110000}", "hexadecimal literal is not a Unicode scalar value"},
        {"\\x{}", "hexadecimal literal empty"},
        {"\\xZZ", "invalid hexadecimal digit"},
        {"\\u12G4", "invalid hexadecimal digit"},
        {"\\u12", "unexpected eof (escape sequence)"},
        {"(?P<a>x)(?P<a>y)", "duplicate capture group name"},
        {"(?P<>x)", "empty capture group name"},
        {"(?P<1a>x)", "invalid capture group character"},
        {"(?P<a-b>x)", "invalid capture group character"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char msg[256] = "";
        struct tr_regex *re;
        int rc = tr_regex_create(bad[i].pat, strlen(bad[i].pat), 0, &re, msg, sizeof msg);
        if (rc != TR_EPARSE) fail_msg("pattern %s: expected a compile error '%s', got rc %d", bad[i].pat, bad[i].why, rc);
        if (!strstr(msg, bad[i].why)) fail_msg("pattern %s: expected '%s', got '%s'", bad[i].pat, bad[i].why, msg);
    }
    /* \x \u \U in their fixed and braced forms (regex-syntax's parse_hex tests: \u{26c4} is U+26C4) */
    assert_int_equal(1, re_matches("^\\u{26c4}$", "\xe2\x9b\x84"));
    assert_int_equal(1, re_matches("^\\u26C4$", "\xe2\x9b\x84"));
    assert_int_equal(1, re_matches("^\\U000026c4$", "\xe2\x9b\x84"));
    assert_int_equal(1, re_matches("^\\x{10fFfF}$", "\xf4\x8f\xbf\xbf"));
    assert_int_equal(1, re_matches("^\\xe9$", "\xc3\xa9"));   /* a character, not a byte */
    /* escaped meta characters, including Rust's # & - ~ */
    assert_int_equal(1, re_matches("^\\#\\&\\-\\~\\.$", "#&-~."));
    /* (?x): white space and # comments are ignored inside classes too; "\ " is a space */
    assert_int_equal(0, re_matches("(?x)^[a b]$", " "));
    assert_int_equal(1, re_matches("(?x)^[a b]$", "b"));
    assert_int_equal(1, re_matches("(?x)^a\\ b # c\n$", "a b"));
    /* [[:alpha:]] is ASCII even with Unicode on; \w is Unicode unless (?-u) */
    assert_int_equal(0, re_matches("[[:alpha:]]", "\xc3\xa9"));
    assert_int_equal(1, re_matches("^[[:^alpha:]]$", "\xc3\xa9"));
    assert_int_equal(1, re_matches("^[[:punct:]]+$", "!/:@[`{~"));
    assert_int_equal(1, re_matches("\\w", "\xc3\xa9"));
    assert_int_equal(0, re_matches("(?-u:\\w)", "\xc3\xa9"));
    assert_int_equal(1, re_matches("(?-u:\\w)\\w", "a\xc3\xa9"));
    assert_int_equal(1, re_matches("(?-u)^\\d[\\s]\\w$", "1 _"));
    /* é is a word character to \b but not to (?-u)\b */
    assert_int_equal(1, re_matches("(?-u)\\bx", "\xc3\xa9x"));
    assert_int_equal(0, re_matches("\\bx", "\xc3\xa9x"));
    /* capture names take . [ ] and any length (Rust's rule, not PCRE2's) */
    {
        char msg[256];
        struct tr_regex *re;
        const char *pat = "(?P<a.b[0]>x)(y)(?P<a_very_long_group_name_beyond_thirty_two_bytes>z)";
        assert_int_equal(0, tr_regex_create(pat, strlen(pat), 0, &re, msg, sizeof msg));
        assert_string_equal("a.b[0]", tr_regex_group_name(re, 1));
        assert_null(tr_regex_group_name(re, 2));
        assert_int_equal(3, tr_regex_group_index(re, "a_very_long_group_name_beyond_thirty_two_bytes", 46));
        tr_regex_destroy(re);
    }
    /* Unicode case folding and classes */
    assert_int_equal(1, re_matches("(?i)\xce\x94", "\xce\xb4"));
    /* with Unicode off (?i) folds ASCII only: k is not U+212A KELVIN SIGN
     * nor s U+017F LONG S (regex 1.7.1 answers so; 1.5's folding is the same) */
    assert_int_equal(1, re_matches("(?i)k", "\xe2\x84\xaa"));
    assert_int_equal(0, re_matches("(?i-u)k", "\xe2\x84\xaa"));
    assert_int_equal(0, re_matches("(?i-u:s)x", "\xc5\xbfx"));
    assert_int_equal(0, re_matches("(?i-u)[k-l]", "\xe2\x84\xaa"));
    assert_int_equal(0, re_matches("(?i-u)\\w", "\xc5\xbf"));
    assert_int_equal(1, re_matches("(?i-u)^k+[a-z]+\\w$", "kKKAbCS"));
    assert_int_equal(1, re_matches("^\\pN\\p{Greek}$", "1\xce\xb4"));
}

/* --- differences `make difftest` found against regex 1.7.1 (same
 * searching code as 0.11's 1.5.4), each with the seed of the generated
 * case it came from; expected values are the reference's output. --- */

/* An event {"p": pat, "s": subject, "r": rep}. */
static tr_value event_psr(const char *pat, const char *subject, const char *rep) {
    tr_value ev = event_s(subject, strlen(subject)), v;
    assert_int_equal(0, tr_v_str(pat, strlen(pat), &v));
    assert_int_equal(0, tr_rec_set(&ev, "p", 1, v));
    assert_int_equal(0, tr_v_str(rep, strlen(rep), &v));
    assert_int_equal(0, tr_rec_set(&ev, "r", 1, v));
    return ev;
}

/* re::replace_all and re::split of pat on subject: want is their JSON. */
static void rust_iter(const char *pat, const char *subject, const char *rep, const char *want) {
    expect_out("[re::replace_all(event.p, event.s, event.r), re::split(event.p, event.s)]",
               event_psr(pat, subject, rep), want);
}

/* Groups of the first match as JSON ([[s,e],null,...]; null when none). */
static void rust_groups(const char *pat, const char *subject, const char *want) {
    char msg[256] = "", got[512];
    struct tr_regex *re;
    struct tr_regex_match *m;
    if (tr_regex_create(pat, strlen(pat), 0, &re, msg, sizeof msg)) fail_msg("pattern %s: %s", pat, msg);
    assert_int_equal(0, tr_regex_match_create(re, &m));
    size_t n = 0;
    if (tr_regex_exec(m, subject, strlen(subject), 0) != 1) {
        n = (size_t)snprintf(got, sizeof got, "null");
    } else {
        for (int g = 0; g <= tr_regex_ngroups(re); g++) {
            size_t so, eo;
            n += (size_t)snprintf(got + n, sizeof got - n, "%s", g ? "," : "[");
            if (tr_regex_group(m, g, &so, &eo)) n += (size_t)snprintf(got + n, sizeof got - n, "[%zu,%zu]", so, eo);
            else n += (size_t)snprintf(got + n, sizeof got - n, "null");
        }
        snprintf(got + n, sizeof got - n, "]");
    }
    if (strcmp(got, want)) fail_msg("pattern %s on %s: expected %s, got %s", pat, subject, want, got);
    tr_regex_match_destroy(m);
    tr_regex_destroy(re);
}

static void stacked_repetition_as_regex_syntax_0_6(void **st) {
    (void)st;
    /* a repetition of a repetition or of an assertion is a nested one;
     * (?x) white space ends the operator, so `+ ?` is not lazy (seed
     * 20261202: "(?x)$ +\S" and "(?x)\w$\d(?:.{1,2}? {1,}(-))" compile) */
    rust_groups("a++b", "aab", "[[0,3]]");
    rust_groups("a{1}{2}", "aa", "[[0,2]]");
    rust_groups("(?x)a+ ?", "aa", "[[0,2]]");
    rust_groups("(?x)$ +\\S", "xx", "null");
    rust_groups("(?x)\\w$\\d(?:.{1,2}? {1,}(-))", "bBx", "null");
    rust_iter("a??+", "aab", "-", "[\"-a-a-b-\",[\"\",\"a\",\"a\",\"b\",\"\"]]");
}

static void iteration_as_regex_1_5_computes_it(void **st) {
    (void)st;
    /* after the first match the reverse DFA runs on the text cut at the
     * search start: \B sees no character before it (seed 20261202) */
    rust_iter("\\Ba", "xaaaa", "-", "[\"x-aaa\",[\"x\",\"aaa\"]]");
    rust_iter("\\B[abc]", ".b_.Bc1ac", "${2}-", "[\".b_.B-1-c\",[\".b_.B\",\"1\",\"c\"]]");
    /* ^ holds there (seed 7 class; reference output) */
    rust_iter("^a|\\bb", "ab ab", "-", "[\"-b ab\",[\"\",\"b ab\"]]");
    /* the DFA takes a non-ASCII byte before the start for a non-word one,
     * and gives up (the NFA answers, right) when it reads one */
    rust_iter("\\b", "AxaA_ \xc3\xa9", "x", "[\"xAxaA_x x\xc3\xa9\",[\"\",\"AxaA_\",\" \",\"\xc3\xa9\"]]");
    rust_iter("\\b", "C.ca\nA-\xc3\xa9" "c", "x",
              "[\"xCx.xcax\\nxAx-x\xc3\xa9xcx\",[\"\",\"C\",\".\",\"ca\",\"\\n\",\"A\",\"-\",\"\xc3\xa9\",\"c\",\"\"]]");
    rust_iter("\\B", "BB_ x\xc3\xa9" "c-.\xc3\xa9", "<$1>",
              "[\"B<>B<>_ x<>\xc3\xa9<>c-<>.\xc3\xa9\",[\"B\",\"B\",\"_ x\",\"\xc3\xa9\",\"c-\",\".\xc3\xa9\"]]");
    /* captures_iter (a replacement naming groups, a pattern with groups)
     * takes the NFA's match from the DFA's start: none here, which ends
     * the iteration (seed 20261202) */
    rust_iter("(?m)(\\b|1\\W[a-c]\\w)(?P<name>[^a]\\w)(1{1,2}?ca|\\S)", "c.\xc3\xa9\xc3\xa9" "1bBx\xc3\xa9", "",
              "[\"c1bBx\xc3\xa9\",[\"c\",\"1bBx\xc3\xa9\"]]");
}

static void empty_loop_iterations_are_not_taken(void **st) {
    (void)st;
    /* seed 20261202: the empty last iteration of (...)* leaves its group
     * unset, or is replaced by a consuming alternative */
    rust_groups("\\S(?P<name>\\W*?)*", "cxaaAC", "[[0,1],null]");
    rust_groups("(\\.|^)*[abc]{2}", "caxAB_ abAC.", "[[0,2],null]");
    rust_groups("(?P<name>[a-c]?c?\?(c{0,2}))*", " BaCA_", "[[0,0],null,null]");
    rust_groups("([\\d_]?\?)*", "_x", "[[0,1],[0,1]]");
    /* + may take one empty iteration */
    rust_groups("(\\pL*?)+", "Ba", "[[0,0],[0,0]]");
}

/* --- the module itself --- */

static void module_groups_and_bad_utf8(void **st) {
    (void)st;
    char msg[256];
    struct tr_regex *re;
    const char *pat = "(?P<first>a)(b)?(?P<third>c)";
    assert_int_equal(0, tr_regex_create(pat, strlen(pat), 0, &re, msg, sizeof msg));
    assert_int_equal(3, tr_regex_ngroups(re));
    assert_string_equal("first", tr_regex_group_name(re, 1));
    assert_null(tr_regex_group_name(re, 2));
    assert_int_equal(3, tr_regex_group_index(re, "third", 5));
    assert_int_equal(-1, tr_regex_group_index(re, "nope", 4));
    struct tr_regex_match *m;
    assert_int_equal(0, tr_regex_match_create(re, &m));
    /* invalid UTF-8 around the match neither fails nor matches itself */
    const char subj[] = "\xff\xfe" "ac\xc3";
    assert_int_equal(1, tr_regex_exec(m, subj, sizeof subj - 1, 0));
    size_t so, eo;
    assert_int_equal(1, tr_regex_group(m, 0, &so, &eo));
    assert_int_equal(2, so);
    assert_int_equal(4, eo);
    assert_int_equal(0, tr_regex_group(m, 2, &so, &eo));
    assert_int_equal(0, tr_regex_exec(m, subj, sizeof subj - 1, 3));
    tr_regex_match_destroy(m);
    tr_regex_destroy(re);
}

static void module_deep_backtracking_gets_a_bigger_stack(void **st) {
    (void)st;
    /* overflows the JIT's default 32 KiB stack; the retry answers */
    char msg[256];
    struct tr_regex *re;
    const char *pat = "(a|aa)*b";
    assert_int_equal(0, tr_regex_create(pat, strlen(pat), 0, &re, msg, sizeof msg));
    struct tr_regex_match *m;
    assert_int_equal(0, tr_regex_match_create(re, &m));
    size_t len;
    char *s = repeat('a', 20000, "b", 1, &len);
    int rc = tr_regex_exec(m, s, len, 0);
    if (rc != 1) fail_msg("expected a match, got %d (%s)", rc, tr_regex_match_error(m));
    free(s);
    tr_regex_match_destroy(m);
    tr_regex_destroy(re);
}

/* Without the JIT (a platform without executable memory, or std::re on a
 * short subject) the interpreter is held by the same match limit and by its
 * depth and heap limits. */
static void module_interpreter_limits(void **st) {
    (void)st;
    char msg[256];
    struct tr_regex *re;
    struct tr_regex_match *m;
    const char *pat = "(a+)+$";
    assert_int_equal(0, tr_regex_create(pat, strlen(pat), TR_REGEX_NO_JIT, &re, msg, sizeof msg));
    assert_int_equal(0, tr_regex_match_create(re, &m));
    size_t len;
    char *s = repeat('a', 30000, "b", 1, &len);
    assert_int_equal(TR_ERUNTIME, tr_regex_exec(m, s, len, 0));
    if (!strstr(tr_regex_match_error(m), "match limit")) fail_msg("got '%s'", tr_regex_match_error(m));
    free(s);
    tr_regex_match_destroy(m);
    tr_regex_destroy(re);

    /* one backtracking point per repetition: a long subject runs into the
     * depth limit instead of taking hundreds of megabytes */
    pat = "(a|aa)*b";
    assert_int_equal(0, tr_regex_create(pat, strlen(pat), TR_REGEX_NO_JIT, &re, msg, sizeof msg));
    assert_int_equal(0, tr_regex_match_create(re, &m));
    s = repeat('a', 1000000, "b", 1, &len);
    assert_int_equal(TR_ERUNTIME, tr_regex_exec(m, s, len, 0));
    if (!strstr(tr_regex_match_error(m), "limit")) fail_msg("got '%s'", tr_regex_match_error(m));
    /* a short one still matches */
    assert_int_equal(1, tr_regex_exec(m, s + len - 100, 100, 0));
    free(s);
    tr_regex_match_destroy(m);
    tr_regex_destroy(re);
}

/* Random short patterns over the syntax's metacharacters, each compiled and
 * walked over random subjects: the translation never reads or writes out of
 * bounds (ASan) and every answer is one of the documented ones. */
static void module_random_patterns(void **st) {
    (void)st;
    static const char alphabet[] = "ab()*+?|[]^$.\\{},12-:P<>=!#xiu&~ \n";
    uint64_t seed = 0x9E3779B97F4A7C15u;
    int compiled = 0;
    for (int round = 0; round < 20000; round++) {
        char pat[16], subj[64];
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        size_t plen = (size_t)(seed >> 60);
        for (size_t i = 0; i < plen; i++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            pat[i] = alphabet[(seed >> 33) % (sizeof alphabet - 1)];
        }
        char msg[256];
        struct tr_regex *re;
        int rc = tr_regex_create(pat, plen, (round & 1) ? TR_REGEX_NO_JIT : 0, &re, msg, sizeof msg);
        if (rc == TR_EPARSE || rc == TR_ETOOBIG) {
            assert_null(re);
            assert_true(msg[0] != 0);
            continue;
        }
        if (rc) fail_msg("pattern %.*s: rc %d", (int)plen, pat, rc);
        compiled++;
        struct tr_regex_match *m;
        assert_int_equal(0, tr_regex_match_create(re, &m));
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        size_t slen = (size_t)(seed >> 58);
        for (size_t i = 0; i < slen; i++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            subj[i] = "ab\n\xc3\xa9x"[(seed >> 33) % 6];
        }
        struct tr_regex_iter it = {0};
        int n = 0;
        while ((rc = tr_regex_next(m, subj, slen, &it)) == 1) {
            size_t so, eo;
            assert_int_equal(1, tr_regex_group(m, 0, &so, &eo));
            assert_true(so <= eo && eo <= slen);
            for (int g = 1; g <= tr_regex_ngroups(re); g++)
                if (tr_regex_group(m, g, &so, &eo)) assert_true(so <= eo && eo <= slen);
            assert_true(++n <= (int)slen + 1);
        }
        if (rc != 0 && rc != TR_ERUNTIME) fail_msg("pattern %.*s: search rc %d", (int)plen, pat, rc);
        tr_regex_match_destroy(m);
        tr_regex_destroy(re);
    }
    assert_true(compiled > 1000);
}

/* Fail every allocation in turn: each step ends in a clean -ENOMEM (or,
 * when only the JIT lost memory, a correct answer) and nothing leaks. */
static void module_allocation_failures_are_clean(void **st) {
    (void)st;
    const char *pat = "(?P<w>\\w+) (?P<n>\\d+)";
    int finished = 0;
    for (uint64_t n = 1; n < 10000 && !finished; n++) {
        size_t before = tr_alloc_used();
        char msg[256];
        struct tr_regex *re = NULL;
        struct tr_regex_match *m = NULL;
        tr_alloc_fail_at(n, 0);
        int rc = tr_regex_create(pat, strlen(pat), 0, &re, msg, sizeof msg);
        if (!rc) rc = tr_regex_match_create(re, &m);
        if (!rc) rc = tr_regex_exec(m, "x abc 42", 8, 0);
        tr_alloc_fail_at(0, 0);
        if (rc != 1 && rc != -ENOMEM) fail_msg("failing allocation %llu: rc %d (%s)", (unsigned long long)n, rc, msg);
        if (rc == 1) {
            size_t so, eo;
            assert_int_equal(1, tr_regex_group(m, 2, &so, &eo));
            assert_int_equal(6, so);
            finished = tr_regex_exec(m, "x abc 42", 8, 0) == 1;
        }
        tr_regex_match_destroy(m);
        tr_regex_destroy(re);
        assert_int_equal(before, tr_alloc_used());

        struct tr_extractor *x = NULL;
        tr_alloc_fail_at(n, 0);
        rc = tr_extractor_create("grok", "%{WORD:w} %{INT:n}", &x, msg, sizeof msg);
        tr_alloc_fail_at(0, 0);
        if (rc && rc != -ENOMEM) fail_msg("grok, failing allocation %llu: rc %d (%s)", (unsigned long long)n, rc, msg);
        tr_extractor_destroy(x);
        assert_int_equal(before, tr_alloc_used());
    }
    assert_true(finished);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(is_match_long_subject_answers, arm, disarm),
        cmocka_unit_test_setup_teardown(catastrophic_call_is_located_runtime_error, arm, disarm),
        cmocka_unit_test_setup_teardown(catastrophic_extractor_is_runtime_error, arm, disarm),
        cmocka_unit_test_setup_teardown(grok_limit_is_runtime_error, arm, disarm),
        cmocka_unit_test_setup_teardown(rust_1_5_syntax, arm, disarm),
        cmocka_unit_test_setup_teardown(unsupported_syntax_is_compile_error, arm, disarm),
        cmocka_unit_test_setup_teardown(stacked_repetition_as_regex_syntax_0_6, arm, disarm),
        cmocka_unit_test_setup_teardown(iteration_as_regex_1_5_computes_it, arm, disarm),
        cmocka_unit_test_setup_teardown(empty_loop_iterations_are_not_taken, arm, disarm),
        cmocka_unit_test_setup_teardown(std_re_refuses_look_around, arm, disarm),
        cmocka_unit_test_setup_teardown(stacked_quantifiers_are_bounded, arm, disarm),
        cmocka_unit_test_setup_teardown(embedded_nul_is_matched_across, arm, disarm),
        cmocka_unit_test_setup_teardown(replace_and_split_follow_rust, arm, disarm),
        cmocka_unit_test_setup_teardown(module_groups_and_bad_utf8, arm, disarm),
        cmocka_unit_test_setup_teardown(module_deep_backtracking_gets_a_bigger_stack, arm, disarm),
        cmocka_unit_test_setup_teardown(module_interpreter_limits, arm, disarm),
        cmocka_unit_test_setup_teardown(module_random_patterns, arm, disarm),
        cmocka_unit_test_setup_teardown(module_allocation_failures_are_clean, arm, disarm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
