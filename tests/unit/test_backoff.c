/* test_backoff.c - retry delays: within [ceiling/2, ceiling], the ceiling
 * doubles up to the cap and a success starts again at the minimum. */
#include "connectors/backoff.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

static void test_grows_capped_with_jitter(void **state) {
    (void)state;
    struct tr_backoff b;
    tr_backoff_init(&b, 100, 30000);
    uint64_t ceil = 100;
    for (int i = 0; i < 40; i++) {
        uint64_t d = tr_backoff_next(&b);
        assert_in_range(d, ceil / 2, ceil);
        ceil = ceil * 2 > 30000 ? 30000 : ceil * 2;
    }
    /* at the cap: still jittered, never above it */
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < 200; i++) {
        uint64_t d = tr_backoff_next(&b);
        assert_in_range(d, 15000, 30000);
        if (d < lo) lo = d;
        if (d > hi) hi = d;
    }
    assert_true(hi > lo);   /* jitter: not one fixed value */
    assert_int_equal(b.attempts, 240);
}

static void test_reset(void **state) {
    (void)state;
    struct tr_backoff b;
    tr_backoff_init(&b, 10, 1000);
    for (int i = 0; i < 10; i++) tr_backoff_next(&b);
    tr_backoff_reset(&b);
    assert_in_range(tr_backoff_next(&b), 5, 10);
    assert_in_range(tr_backoff_next(&b), 10, 20);
}

static void test_degenerate_bounds(void **state) {
    (void)state;
    struct tr_backoff b;
    tr_backoff_init(&b, 0, 0);   /* taken as 1..1 */
    for (int i = 0; i < 5; i++) assert_int_equal(tr_backoff_next(&b), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grows_capped_with_jitter),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_degenerate_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
