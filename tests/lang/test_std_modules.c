/* test_std_modules.c - std::url, std::range::contains and
 * tremor::chash::sorted_serialize against Tremor 0.11.12's own tests: the
 * Rust unit tests of std_lib/url.rs and std_lib/chash.rs and the stdlib
 * suites of tremor-cli (tests/stdlib/std/all.tremor, tremor/all.tremor). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "codec/json.h"
#include "core/alloc.h"
#include "lang/script.h"

#define EVAL_PRELUDE "use std::range;\nuse std::url;\nuse tremor::chash;\n"
#include "eval_util.h"

/* url.rs shook_endecode_smoke_test; the stdlib suite's reserved characters */
static void url_encode_decode(void **st) {
    (void)st;
    expect("url::encode(\"snot badger\")", "\"snot%20badger\"");
    expect("url::decode(\"%22snot%20badger%22\")", "\"\\\"snot badger\\\"\"");
    expect("url::encode(\"!*'();:@&=+$,/?#[]\")", "\"%21%2A%27%28%29%3B%3A%40%26%3D%2B%24%2C%2F%3F%23%5B%5D\"");
    expect("url::decode(\"%21%2A%27%28%29%3B%3A%40%26%3D%2B%24%2C%2F%3F%23%5B%5D\")", "\"!*'();:@&=+$,/?#[]\"");
    /* NON_ALPHANUMERIC: even - _ . ~ are escaped; UTF-8 byte by byte */
    expect("url::encode(\"a-b_c.d~é\")", "\"a%2Db%5Fc%2Ed%7E%C3%A9\"");
    /* percent_decode keeps what is not %XX, and '+' is not a space */
    expect("url::decode(\"%zz%4+%41\")", "\"%zz%4+A\"");
    expect_error("url::decode(\"%ff\")", "Could not urldecode value: %ff");
    expect_error("url::encode(1)", "Bad type");
}

/* std/all.tremor "contains 1..4", and the example of range.tremor */
static void range_contains(void **st) {
    (void)st;
    expect("range::contains(range::range(0, 5), -1)", "false");
    expect("range::contains(range::range(0, 5), 3)", "true");
    expect("range::contains(range::range(0, 5), 4)", "true");
    expect("range::contains(range::range(0, 5), 5)", "false");
    expect("range::contains(range::range(0, 3), 2)", "true");
    expect("range::contains([], 1)", "false");
    expect_error("range::contains([1, 2], \"a\")", "is not defined for the type");
}

/* chash.rs sorted_serialize; tremor/all.tremor "sorted serialize 1" */
static void chash_sorted_serialize(void **st) {
    (void)st;
    const char *want = "\"{\\\"0\\\":{\\\"3\\\":4,\\\"5\\\":0},\\\"1\\\":[2,1]}\"";
    expect("chash::sorted_serialize({\"1\": [2, 1], \"0\": {\"5\": 0, \"3\": 4}})", want);
    expect("chash::sorted_serialize({\"0\": {\"3\": 4, \"5\": 0}, \"1\": [2, 1]})", want);
    expect("chash::sorted_serialize([8, \"snot\", 2, \"badger\"])", "\"[8,\\\"snot\\\",2,\\\"badger\\\"]\"");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(url_encode_decode),
        cmocka_unit_test(range_contains),
        cmocka_unit_test(chash_sorted_serialize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
