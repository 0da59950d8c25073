/* test_hist.c - the HDR-style histogram: precision, quantiles, the table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "core/buf.h"
#include "core/hist.h"

static void bad_arguments_are_refused(void **state) {
    (void)state;
    struct tr_hist *h = (void *)1;
    assert_int_equal(tr_hist_create(1000, 0, &h), -EINVAL);
    assert_null(h);
    assert_int_equal(tr_hist_create(1000, 6, &h), -EINVAL);
    assert_int_equal(tr_hist_create(1, 2, &h), -EINVAL);
}

static void values_keep_their_significant_digits(void **state) {
    (void)state;
    struct tr_hist *h;
    assert_int_equal(tr_hist_create(100000000000ull, 2, &h), 0);
    /* expected: every value v comes back within 1% (2 figures) */
    uint64_t vals[] = {0, 1, 99, 255, 256, 1000, 12345, 999999, 123456789, 99999999999ull};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        tr_hist_record(h, vals[i]);
        uint64_t got = tr_hist_max(h);
        assert_true(got >= vals[i]);
        assert_true((double)(got - vals[i]) <= (double)vals[i] / 100.0 + 1);
    }
    assert_int_equal(tr_hist_count(h), 10);
    assert_int_equal(tr_hist_clamped(h), 0);
    tr_hist_record(h, 200000000000ull);   /* above highest: counted as highest */
    assert_int_equal(tr_hist_clamped(h), 1);
    assert_int_equal(tr_hist_buckets(h), 30);
    assert_int_equal(tr_hist_counters(h), 31 * 128);
    tr_hist_destroy(h);
}

static void quantiles_of_a_uniform_run(void **state) {
    (void)state;
    struct tr_hist *h;
    assert_int_equal(tr_hist_create(1000000, 3, &h), 0);
    for (uint64_t v = 1; v <= 10000; v++) tr_hist_record(h, v);
    /* expected: the median 5000 and p99 9900 within 0.1% */
    uint64_t p50 = tr_hist_value_at(h, 0.5), p99 = tr_hist_value_at(h, 0.99);
    assert_true(p50 >= 5000 && p50 <= 5005);
    assert_true(p99 >= 9900 && p99 <= 9910);
    assert_true(tr_hist_value_at(h, 1.0) >= 10000);
    double mean = tr_hist_mean(h);
    assert_true(mean > 4995 && mean < 5006);
    double sd = tr_hist_stddev(h);
    assert_true(sd > 2880 && sd < 2895);   /* sqrt((10000^2 - 1) / 12) = 2886.75 */
    tr_hist_destroy(h);
}

/* n at once is n one by one: counts, quantiles, mean, max, clamping. */
static void record_n_is_n_records(void **state) {
    (void)state;
    struct tr_hist *a, *b;
    assert_int_equal(tr_hist_create(1000000, 3, &a), 0);
    assert_int_equal(tr_hist_create(1000000, 3, &b), 0);
    uint64_t vals[] = {0, 7, 1500, 999999, 5000000}, ns[] = {3, 1, 250, 0, 4};
    for (size_t i = 0; i < 5; i++) {
        tr_hist_record_n(a, vals[i], ns[i]);
        for (uint64_t k = 0; k < ns[i]; k++) tr_hist_record(b, vals[i]);
    }
    assert_int_equal(tr_hist_count(a), 258);
    assert_int_equal(tr_hist_count(a), tr_hist_count(b));
    assert_int_equal(tr_hist_clamped(a), 4);
    assert_int_equal(tr_hist_clamped(a), tr_hist_clamped(b));
    assert_int_equal(tr_hist_max(a), tr_hist_max(b));
    assert_true(tr_hist_mean(a) == tr_hist_mean(b));
    for (double q = 0; q <= 1.0; q += 0.125) assert_int_equal(tr_hist_value_at(a, q), tr_hist_value_at(b, q));
    tr_hist_destroy(a);
    tr_hist_destroy(b);
}

static void table_has_the_hdr_layout(void **state) {
    (void)state;
    struct tr_hist *h;
    assert_int_equal(tr_hist_create(100000000000ull, 2, &h), 0);
    for (int i = 0; i < 1000; i++) tr_hist_record(h, 1000 + (uint64_t)i);
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_hist_print(h, 2, &b), 0);
    assert_non_null(strstr(b.data, "     Value Percentile TotalCount 1/(1-Percentile)\n\n"));
    assert_non_null(strstr(b.data, " 0.50000 "));
    assert_non_null(strstr(b.data, " 1.00000       1000            inf\n"));
    assert_non_null(strstr(b.data, "#[Max        = "));
    assert_non_null(strstr(b.data, "Total count    =         1000]"));
    /* expected: the rows stop at 100%, not at the limit of a double */
    size_t rows = 0;
    for (const char *p = b.data; (p = strstr(p, "\n")) != NULL; p++) rows++;
    assert_true(rows < 40);
    tr_buf_fini(&b);
    tr_hist_destroy(h);
}

static void empty_table_prints(void **state) {
    (void)state;
    struct tr_hist *h;
    assert_int_equal(tr_hist_create(1000, 1, &h), 0);
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_hist_print(h, 2, &b), 0);
    assert_non_null(strstr(b.data, "Total count    =            0]"));
    assert_int_equal(tr_hist_value_at(h, 0.5), 0);
    tr_buf_fini(&b);
    tr_hist_destroy(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_arguments_are_refused),
        cmocka_unit_test(values_keep_their_significant_digits),
        cmocka_unit_test(quantiles_of_a_uniform_run),
        cmocka_unit_test(record_n_is_n_records),
        cmocka_unit_test(table_has_the_hdr_layout),
        cmocka_unit_test(empty_table_prints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
