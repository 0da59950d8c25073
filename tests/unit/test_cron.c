/* test_cron.c - cron expressions: the parse and next-fire vectors of the
 * cron crate 0.9's own tests (tests/lib.rs and src/parsing.rs; its
 * Europe/London cases fall on days without a DST change, so they hold in
 * UTC), plus errors and bounds. Expected times are the crate's. */
#include "connectors/cron.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "core/error.h"

static int64_t at(int y, int mo, int d, int h, int mi, int s) {
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s};
    return (int64_t)timegm(&tm);
}

static struct tr_cron parse_ok(const char *e) {
    struct tr_cron c;
    char err[200];
    int rc = tr_cron_parse(e, &c, err, sizeof err);
    if (rc) fail_msg("'%s': expected to parse, got: %s", e, err);
    return c;
}

/* The fire times after start, one by one, must be want[0..n). */
static void expect_seq(const char *e, int64_t start, const int64_t *want, size_t n) {
    struct tr_cron c = parse_ok(e);
    int64_t t = start;
    for (size_t i = 0; i < n; i++) {
        int64_t next;
        assert_int_equal(tr_cron_next(&c, t, &next), 0);
        if (next != want[i]) fail_msg("'%s' #%zu: expected %lld, got %lld", e, i, (long long)want[i], (long long)next);
        t = next;
    }
}

static void test_parse_accepts(void **state) {
    (void)state;
    const char *ok[] = {
        "0   30   9,12,15     1,15       May-Aug  Mon,Wed,Fri  2018/2",
        "* * * * * * *", "1 2 3 4 5 6 2015", "1,30,40 2 3 4 5 Mon-Fri",
        "1 2,17,51 1-3,6,9-11 4,29 2,3,7 Tues", "1 2 3 4 5 6", "0 0 0 ? * *", "0 0 0 * * ?",
        "0-59 * 0-23 ?/2 1,2-4 ? *", "0 0 0 1 January-June/1 *", "0 0 0 1 1 ? 2020-2040/10",
        "@yearly", "@monthly", "@weekly", "@daily", "@hourly", "  */5 * * * * *  ",
        "0 0 0 1 jan-APR/2 sun,SAT",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) parse_ok(ok[i]);
}

static void test_parse_rejects(void **state) {
    (void)state;
    const char *bad[] = {
        "1 2 3 4 5 6 7 8 9 2019", "1 2 3 2019", "", "   ", "60 * * * * *", "* 60 * * * *",
        "* * 24 * * *", "* * * 0 * *", "* * * 32 * *", "* * * * 0 *", "* * * * 13 *",
        "* * * * * 0",          /* days of week are 1 (Sunday) .. 7 */
        "* * * * * 8", "* * * * * * 1969", "* * * * * * 2101", "? * * * * *", "* * * * ? *",
        "Wed/4 * * * * *", "* * * * * Wed/4", "1,2, * * * * *", ",1,2 * * * * *", "5-1 * * * * *",
        "*/0 * * * * *", "Mon * * * * *", "* * * * Foo *", "* * * * * Funday", "1x * * * * *",
        "@never", "@daily extra", "9999999999 * * * * *", "* * * * * jan-3",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct tr_cron c;
        char err[200];
        if (tr_cron_parse(bad[i], &c, err, sizeof err) != TR_EPARSE) fail_msg("'%s' parsed", bad[i]);
        assert_true(err[0] != 0);
    }
    struct tr_cron c;
    char err[200];
    tr_cron_parse("1 2 3 2019", &c, err, sizeof err);
    assert_string_equal(err, "Expression has 4 fields. Valid cron expressions have 6 or 7.");
    tr_cron_parse("* * * * * 0", &c, err, sizeof err);
    assert_non_null(strstr(err, "Days of Week"));
}

static void test_shorthands(void **state) {
    (void)state;
    int64_t y[] = {at(2018, 1, 1, 0, 0, 0), at(2019, 1, 1, 0, 0, 0), at(2020, 1, 1, 0, 0, 0)};
    expect_seq("@yearly", at(2017, 6, 15, 14, 29, 36), y, 3);
    int64_t m[] = {at(2017, 11, 1, 0, 0, 0), at(2017, 12, 1, 0, 0, 0), at(2018, 1, 1, 0, 0, 0)};
    expect_seq("@monthly", at(2017, 10, 15, 14, 29, 36), m, 3);
    int64_t w[] = {at(2016, 12, 25, 0, 0, 0), at(2017, 1, 1, 0, 0, 0), at(2017, 1, 8, 0, 0, 0)};
    expect_seq("@weekly", at(2016, 12, 23, 14, 29, 36), w, 3);
    int64_t d[] = {at(2016, 12, 30, 0, 0, 0), at(2016, 12, 31, 0, 0, 0), at(2017, 1, 1, 0, 0, 0)};
    expect_seq("@daily", at(2016, 12, 29, 14, 29, 36), d, 3);
    int64_t h[] = {at(2017, 2, 25, 23, 0, 0), at(2017, 2, 26, 0, 0, 0), at(2017, 2, 26, 1, 0, 0)};
    expect_seq("@hourly", at(2017, 2, 25, 22, 29, 36), h, 3);
}

static void test_steps(void **state) {
    (void)state;
    int64_t s[] = {at(2018, 1, 1, 0, 0, 0), at(2018, 1, 1, 0, 0, 20), at(2018, 1, 1, 0, 0, 40),
                   at(2018, 1, 1, 0, 5, 0), at(2018, 1, 1, 0, 5, 20), at(2018, 1, 1, 0, 5, 40),
                   at(2018, 1, 1, 0, 10, 0), at(2018, 1, 1, 0, 10, 20), at(2018, 1, 1, 0, 10, 40)};
    expect_seq("0/20 0/5 0 1 1 * *", at(2017, 6, 15, 14, 29, 36), s, 9);
    int64_t a[] = {at(2020, 1, 1, 0, 0, 17), at(2020, 1, 1, 0, 0, 34), at(2020, 1, 1, 0, 0, 51),
                   at(2020, 1, 1, 0, 1, 0), at(2020, 1, 1, 0, 1, 17), at(2020, 1, 1, 0, 1, 34)};
    expect_seq("*/17 * * * * ?", at(2020, 1, 1, 0, 0, 0), a, 6);
    int64_t r[] = {at(2020, 3, 1, 0, 0, 0), at(2021, 1, 1, 0, 0, 0), at(2021, 3, 1, 0, 0, 0),
                   at(2022, 1, 1, 0, 0, 0)};
    expect_seq("0 0 0 1 1-4/2 ?", at(2020, 1, 1, 0, 0, 0), r, 4);
    expect_seq("0 0 0 1 January-April/2 ?", at(2020, 1, 1, 0, 0, 0), r, 4);
    int64_t hh[] = {at(2020, 1, 1, 10, 0, 0), at(2020, 1, 1, 12, 0, 0), at(2020, 1, 2, 10, 0, 0),
                    at(2020, 1, 2, 12, 0, 0)};
    expect_seq("0 0 10-12/2 * * ?", at(2020, 1, 1, 0, 0, 0), hh, 4);
    int64_t dd[] = {at(2020, 1, 11, 0, 0, 0), at(2020, 1, 21, 0, 0, 0), at(2020, 1, 31, 0, 0, 0),
                    at(2020, 2, 1, 0, 0, 0), at(2020, 2, 11, 0, 0, 0), at(2020, 2, 21, 0, 0, 0),
                    at(2020, 3, 1, 0, 0, 0)};
    expect_seq("0 0 0 1-31/10 * ?", at(2020, 1, 1, 0, 0, 0), dd, 7);
    int64_t mo[] = {at(2020, 2, 1, 0, 0, 0), at(2020, 3, 1, 0, 0, 0), at(2020, 4, 1, 0, 0, 0),
                    at(2020, 5, 1, 0, 0, 0), at(2020, 6, 1, 0, 0, 0), at(2021, 1, 1, 0, 0, 0)};
    expect_seq("0 0 0 1 January-June/1 *", at(2020, 1, 1, 0, 0, 0), mo, 6);
    int64_t yy[] = {at(2030, 1, 1, 0, 0, 0), at(2040, 1, 1, 0, 0, 0)};
    expect_seq("0 0 0 1 1 ? 2020-2040/10", at(2020, 1, 1, 0, 0, 0), yy, 2);
    int64_t p[] = {at(2020, 1, 1, 0, 21, 0), at(2020, 1, 1, 0, 42, 0), at(2020, 1, 1, 1, 0, 0),
                   at(2020, 1, 1, 1, 21, 0), at(2020, 1, 1, 1, 42, 0), at(2020, 1, 1, 2, 0, 0),
                   at(2020, 1, 1, 2, 21, 0), at(2020, 1, 1, 2, 42, 0)};
    expect_seq("0 */21 * * * ?", at(2020, 1, 1, 0, 0, 0), p, 8);
    int64_t any[] = {at(2020, 9, 18, 0, 0, 0)};
    expect_seq("0 0 0 ? * *", at(2020, 9, 17, 0, 0, 0), any, 1);
    expect_seq("0 0 0 * * ?", at(2020, 9, 17, 0, 0, 0), any, 1);
}

/* The crate's test_first_ordinals_not_in_set_{1,2}: equal results. */
static void test_first_ordinals_not_in_set(void **state) {
    (void)state;
    struct tr_cron c = parse_ok("0 0/10 * * * * *");
    int64_t a, b;
    assert_int_equal(tr_cron_next(&c, at(2017, 10, 24, 0, 0, 59), &a), 0);
    assert_int_equal(tr_cron_next(&c, at(2017, 10, 24, 0, 1, 0), &b), 0);
    assert_int_equal(a, b);
    assert_int_equal(a, at(2017, 10, 24, 0, 10, 0));
    struct tr_cron c1 = parse_ok("00 00 23 * * * *"), c2 = parse_ok("00 00 * * * * *");
    assert_int_equal(tr_cron_next(&c1, at(2018, 11, 15, 22, 30, 0), &a), 0);
    assert_int_equal(tr_cron_next(&c2, at(2018, 11, 15, 22, 30, 0), &b), 0);
    assert_int_equal(a, b);
    assert_int_equal(a, at(2018, 11, 15, 23, 0, 0));
}

/* Day of month AND day of week; the README's expression; leap days; an
 * impossible date and a year range in the past have no next time. */
static void test_and_semantics_and_ends(void **state) {
    (void)state;
    /* Friday the 13th, at noon: 2020-03-13, 2020-11-13, 2021-08-13 */
    int64_t f13[] = {at(2020, 3, 13, 12, 0, 0), at(2020, 11, 13, 12, 0, 0), at(2021, 8, 13, 12, 0, 0)};
    expect_seq("0 0 12 13 * Fri", at(2020, 1, 1, 0, 0, 0), f13, 3);
    int64_t readme[] = {at(2018, 6, 1, 9, 30, 0), at(2018, 6, 1, 12, 30, 0), at(2018, 6, 1, 15, 30, 0),
                        at(2018, 6, 15, 9, 30, 0)};
    expect_seq("0   30   9,12,15     1,15       May-Aug  Mon,Wed,Fri  2018/2", at(2018, 5, 20, 0, 0, 0),
               readme, 4);
    int64_t leap[] = {at(2024, 2, 29, 0, 0, 0), at(2028, 2, 29, 0, 0, 0)};
    expect_seq("0 0 0 29 2 *", at(2021, 1, 1, 0, 0, 0), leap, 2);
    int64_t n;
    struct tr_cron c = parse_ok("0 0 0 31 2 *");
    assert_int_equal(tr_cron_next(&c, at(2021, 1, 1, 0, 0, 0), &n), TR_ENOTFOUND);
    c = parse_ok("* * * * * * 1999-2001");
    assert_int_equal(tr_cron_next(&c, at(2021, 1, 1, 0, 0, 0), &n), TR_ENOTFOUND);
    /* strictly after: a matching start time is not its own next */
    c = parse_ok("* * * * * *");
    assert_int_equal(tr_cron_next(&c, at(2021, 1, 1, 0, 0, 0), &n), 0);
    assert_int_equal(n, at(2021, 1, 1, 0, 0, 1));
    /* the last second there is, then none */
    c = parse_ok("59 59 23 31 12 * 2100");
    assert_int_equal(tr_cron_next(&c, at(2100, 1, 1, 0, 0, 0), &n), 0);
    assert_int_equal(n, at(2100, 12, 31, 23, 59, 59));
    assert_int_equal(tr_cron_next(&c, n, &n), TR_ENOTFOUND);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_accepts),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_shorthands),
        cmocka_unit_test(test_steps),
        cmocka_unit_test(test_first_ordinals_not_in_set),
        cmocka_unit_test(test_and_semantics_and_ends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
