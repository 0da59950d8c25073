/* test_recover.c - tremor check's query recovery (lang/recover.c): every
 * error of a query, statement by statement, the first one exactly the
 * compiler's, no errors that only follow from an earlier one, bounded. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "lang/lang.h"
#include "lang/query.h"

#define MAXE 512

struct got {
    size_t n;
    int line[MAXE], col[MAXE];
    char msg[MAXE][1024];
    int stop_after;   /* 0: never */
    size_t compiled_nodes;
    int compiled;
};

static int on_err(void *arg, const struct tr_lang_err *e) {
    struct got *g = arg;
    if (g->n < MAXE) {
        g->line[g->n] = (int)e->inner.s.line;
        g->col[g->n] = (int)e->inner.s.col;
        snprintf(g->msg[g->n], sizeof g->msg[0], "%s", e->msg);
    }
    g->n++;
    return g->stop_after && g->n >= (size_t)g->stop_after;
}

static void on_compiled(void *arg, const struct tr_query *q) {
    struct got *g = arg;
    g->compiled = 1;
    g->compiled_nodes = tr_query_node_count(q);
}

static int check(const char *src, struct got *g, int *truncated) {
    struct tr_lang_opts o = {.file = "t.trickle"};
    return tr_lang_check_query(src, strlen(src), &o, on_err, on_compiled, g, truncated);
}

static void dump(const struct got *g) {
    for (size_t i = 0; i < g->n && i < MAXE; i++)
        print_message("  %d:%d %s\n", g->line[i], g->col[i], g->msg[i]);
}

static void test_clean_query(void **state) {
    (void)state;
    struct got g = {0};
    int tr;
    assert_int_equal(check("select event from in into out;\n", &g, &tr), 0);
    assert_int_equal(g.n, 0);
    assert_true(g.compiled);
    assert_int_equal(tr, 0);
}

/* Three independent errors in three statements: a syntax error in a
 * script body (whose `;` do not end the statement), an unknown stream and
 * a bad select; the statements between them are fine. */
static void test_three_errors(void **state) {
    (void)state;
    const char *src =
        "define script s\n"                    /* 1 */
        "script\n"                             /* 2 */
        "  let a = 1;\n"                       /* 3 */
        "  let b = ;\n"                        /* 4: syntax */
        "  emit event\n"                       /* 5 */
        "end;\n"                               /* 6 */
        "select event from in into out;\n"     /* 7 */
        "select event from nowhere into out;\n" /* 8: unknown stream */
        "select (event from in into out;\n"    /* 9: syntax, unbalanced ( */
        "select event from in into out;\n";    /* 10 */
    struct got g = {0};
    int tr;
    int n = check(src, &g, &tr);
    dump(&g);
    assert_int_equal(n, 3);
    /* in the order found: syntax errors before what compiling finds */
    assert_int_equal(g.line[0], 4);
    assert_int_equal(g.line[1], 9);
    assert_int_equal(g.line[2], 8);
    assert_non_null(strstr(g.msg[2], "nowhere"));
    assert_int_equal(tr, 0);
    assert_true(g.compiled);   /* what remains compiles */
}

/* The first error is the compiler's, to the letter. */
static void test_first_is_compilers(void **state) {
    (void)state;
    const char *src = "select event from in into out\nselect x from in into out;\n"
                      "select event from nope into out;\n";
    struct tr_lang_opts o = {.file = "t.trickle"};
    struct tr_lang_err err;
    memset(&err, 0, sizeof err);
    struct tr_query *q = NULL;
    assert_int_not_equal(tr_lang_compile_query(src, strlen(src), &o, &q, &err), 0);
    struct got g = {0};
    int tr;
    assert_true(check(src, &g, &tr) >= 1);
    assert_string_equal(g.msg[0], err.msg);
    assert_int_equal(g.line[0], (int)err.inner.s.line);
    assert_int_equal(g.col[0], (int)err.inner.s.col);
    tr_lang_err_clear(&err);
}

/* A define that failed to parse yields one error, not also "not defined"
 * errors for every statement that uses its name. */
static void test_no_cascade(void **state) {
    (void)state;
    const char *src =
        "define qos::wal operator on_disk_wal\n"
        "  read_count = 20,\n"
        "  max_elements = 1000\n"
        ";\n"
        "create operator on_disk_wal;\n"
        "select event from in into on_disk_wal;\n"
        "select event from on_disk_wal into out;\n";
    struct got g = {0};
    int tr;
    int n = check(src, &g, &tr);
    dump(&g);
    assert_int_equal(n, 1);
    assert_int_equal(g.line[0], 2);
    /* the same for a script and a stream */
    const char *src2 =
        "define script s script let x = ; emit event end;\n"
        "create script s;\n"
        "create stream st from x;\n"
        "select event from in into s;\n"
        "select event from s into st;\n"
        "select event from st into out;\n";
    memset(&g, 0, sizeof g);
    n = check(src2, &g, &tr);
    dump(&g);
    assert_int_equal(n, 2);   /* the script, and `create stream ... from` */
    assert_int_equal(g.line[0], 1);
    assert_int_equal(g.line[1], 3);
}

/* A `mod` is one statement although its definitions end in `;`: an error
 * inside it skips the whole module, and uses of it say nothing more. */
static void test_mod_is_one_statement(void **state) {
    (void)state;
    const char *src =
        "mod m with\n"
        "  define script s script let a = ; emit event end;\n"   /* 2 */
        "  define script t script emit event end;\n"
        "end;\n"
        "create script t from m::t;\n"
        "select event from in into t;\n"
        "select event from t into out;\n"
        "select event from nope into out;\n";                   /* 8 */
    struct got g = {0};
    int tr;
    int n = check(src, &g, &tr);
    dump(&g);
    assert_int_equal(n, 2);
    assert_int_equal(g.line[0], 2);
    assert_int_equal(g.line[1], 8);
}

/* A lexer error (a bad character) is skipped too. */
static void test_lexer_error(void **state) {
    (void)state;
    const char *src = "select event from in into out;\n"
                      "select event ^^ € from in into out;\n"
                      "select event from missing into out;\n";
    struct got g = {0};
    int tr;
    int n = check(src, &g, &tr);
    dump(&g);
    assert_int_equal(n, 2);
    assert_int_equal(g.line[0], 2);
    assert_int_equal(g.line[1], 3);
}

/* The reporter may stop it. */
static void test_stop(void **state) {
    (void)state;
    const char *src = "select a from x1 into out;\nselect a from x2 into out;\n"
                      "select a from x3 into out;\n";
    struct got g = {.stop_after = 2};
    int tr;
    assert_int_equal(check(src, &g, &tr), 2);
}

/* Many errors: bounded passes, linear work per pass. */
static void test_bounded(void **state) {
    (void)state;
    size_t n = 2000;
    char *src = tr_malloc(n * 40 + 1);
    assert_non_null(src);
    size_t off = 0;
    for (size_t i = 0; i < n; i++)
        off += (size_t)sprintf(src + off, "select event from s%zu into out;\n", i);
    struct got g = {0};
    int tr = 0;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int r = check(src, &g, &tr);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    print_message("  %d errors in %.3f s, truncated %d\n", r, secs, tr);
    assert_true(r > 100);
    assert_true(r < (int)n);
    assert_int_equal(tr, 1);
    assert_true(secs < 30);
    tr_free(src);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_query),
        cmocka_unit_test(test_three_errors),
        cmocka_unit_test(test_first_is_compilers),
        cmocka_unit_test(test_no_cascade),
        cmocka_unit_test(test_mod_is_one_statement),
        cmocka_unit_test(test_lexer_error),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
