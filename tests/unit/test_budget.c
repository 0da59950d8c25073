/* test_budget.c - shares and the shared limit: growing within both works,
 * passing either is refused and counted without changing the charge,
 * shrinking and release give bytes back to the others. */
#include "core/budget.h"
#include "core/error.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

static void share_and_limit(void **state) {
    (void)state;
    struct tr_budget b;
    tr_budget_init(&b, 100);
    struct tr_budget_hold x = {0}, y = {0};
    assert_int_equal(tr_budget_set(&b, &x, 40, 60), 0);
    assert_int_equal(tr_budget_set(&b, &y, 50, 60), 0);
    assert_int_equal(b.used, 90);
    /* x wants 61: over its share, whatever the limit says */
    assert_int_equal(tr_budget_set(&b, &x, 61, 60), TR_ETOOBIG);
    assert_int_equal(x.bytes, 40);
    assert_int_equal(b.over_share, 1);
    /* x wants 51: within its share, but 51 + 50 > 100 */
    assert_int_equal(tr_budget_set(&b, &x, 51, 60), TR_EFULL);
    assert_int_equal(x.bytes, 40);
    assert_int_equal(b.used, 90);
    assert_int_equal(b.over_limit, 1);
    /* exactly the limit is fine */
    assert_int_equal(tr_budget_set(&b, &x, 50, 60), 0);
    assert_int_equal(b.used, 100);
    assert_int_equal(b.peak, 100);
    /* y shrinks, x may grow into it */
    assert_int_equal(tr_budget_set(&b, &y, 10, 60), 0);
    assert_int_equal(tr_budget_set(&b, &x, 60, 60), 0);
    assert_int_equal(b.used, 70);
    tr_budget_release(&b, &x);
    tr_budget_release(&b, &y);
    assert_int_equal(b.used, 0);
    assert_int_equal(x.bytes, 0);
    assert_int_equal(b.peak, 100);
}

static void huge_requests_do_not_wrap(void **state) {
    (void)state;
    struct tr_budget b;
    tr_budget_init(&b, 1000);
    struct tr_budget_hold x = {0}, y = {0};
    assert_int_equal(tr_budget_set(&b, &y, 999, UINT64_MAX), 0);
    assert_int_equal(tr_budget_set(&b, &x, UINT64_MAX, UINT64_MAX), TR_EFULL);
    assert_int_equal(tr_budget_set(&b, &x, 2, UINT64_MAX), TR_EFULL);
    assert_int_equal(tr_budget_set(&b, &x, 1, UINT64_MAX), 0);
    assert_int_equal(b.used, 1000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(share_and_limit),
        cmocka_unit_test(huge_requests_do_not_wrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
