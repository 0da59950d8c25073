/* test_proc.c - the lines preprocessor and postprocessor. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "codec/proc.h"
#include "core/alloc.h"

struct frames {
    char got[16][64];
    int n;
};

static int collect(void *arg, const char *data, size_t len) {
    struct frames *f = arg;
    assert_true(f->n < 16);
    assert_true(len < 64);
    memcpy(f->got[f->n], data, len);
    f->got[f->n][len] = 0;
    f->n++;
    return 0;
}

static void lines_split_across_feeds(void **state) {
    (void)state;
    char *names[] = {"lines"};
    struct tr_preproc *pp;
    assert_int_equal(tr_preproc_create(names, 1, &pp), 0);
    struct frames f = {.n = 0};
    assert_int_equal(tr_preproc_feed(pp, "ab\ncd", 5, collect, &f), 0);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.got[0], "ab");
    assert_int_equal(tr_preproc_feed(pp, "e\n\nfg", 5, collect, &f), 0);
    assert_int_equal(f.n, 3);
    assert_string_equal(f.got[1], "cde");
    assert_string_equal(f.got[2], "");
    assert_int_equal(tr_preproc_finish(pp, collect, &f), 0);
    assert_int_equal(f.n, 4);
    assert_string_equal(f.got[3], "fg");
    tr_preproc_destroy(pp);
}

static void lines_too_long_is_dropped_and_counted(void **state) {
    (void)state;
    char *names[] = {"lines"};
    struct tr_preproc *pp;
    assert_int_equal(tr_preproc_create(names, 1, &pp), 0);
    size_t big = TR_PROC_MAX_LINE + 10;
    char *blob = tr_malloc(big);
    assert_non_null(blob);
    memset(blob, 'x', big);
    struct frames f = {.n = 0};
    assert_int_equal(tr_preproc_feed(pp, "x", 1, collect, &f), 0);
    assert_int_equal(tr_preproc_feed(pp, blob, big, collect, &f), 0);
    assert_int_equal(tr_preproc_feed(pp, "yy\nok\n", 6, collect, &f), 0);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.got[0], "ok");
    assert_int_equal(tr_preproc_dropped(pp), 1);
    tr_free(blob);
    tr_preproc_destroy(pp);
}

static void unknown_names_are_rejected(void **state) {
    (void)state;
    char *names[] = {"lines", "gzip-nope"};
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_preproc_check(names, 2, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "gzip-nope"));
    struct tr_preproc *pp;
    assert_int_equal(tr_preproc_create(names, 2, &pp), TR_EINVAL_CFG);
}

static void postproc_lines_appends_newline(void **state) {
    (void)state;
    char *names[] = {"lines"};
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_buf_append(&b, "{}", 2), 0);
    assert_int_equal(tr_postproc_apply(names, 1, &b), 0);
    assert_int_equal(b.len, 3);
    assert_string_equal(b.data, "{}\n");
    tr_buf_fini(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lines_split_across_feeds),
        cmocka_unit_test(lines_too_long_is_dropped_and_counted),
        cmocka_unit_test(unknown_names_are_rejected),
        cmocka_unit_test(postproc_lines_appends_newline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
