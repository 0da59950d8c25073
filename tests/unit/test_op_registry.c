/* test_op_registry.c - every listed operator kind resolves to itself. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "ops/op.h"

static void listed_kinds_resolve(void **state) {
    (void)state;
    char list[1024];
    snprintf(list, sizeof list, "%s", tr_op_kinds());
    int n = 0;
    for (char *save, *k = strtok_r(list, ", ", &save); k; k = strtok_r(NULL, ", ", &save), n++) {
        const struct tr_op_ops *ops = tr_op_find(k);
        assert_non_null(ops);
        assert_string_equal(ops->kind, k);   /* expected the list name, actual the table's */
        assert_non_null(ops->create);
        assert_non_null(ops->event);
        assert_non_null(ops->destroy);
    }
    assert_int_equal(n, 10);   /* passthrough and the nine other kinds of Tremor 0.11, one alias */
    assert_non_null(strstr(tr_op_kinds(), "grouper::bucket"));
    assert_null(tr_op_find("no::such"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(listed_kinds_resolve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
