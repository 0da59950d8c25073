/* test_utf8.c - UTF-8 validation with Rust's error fields and texts
 * (std::str::Utf8Error: valid_up_to, error_len, Display), and the maximal
 * subparts that lossy decoding replaces. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/error.h"
#include "core/utf8.h"

static void check(const char *s, size_t n, int rc, size_t up_to, size_t len) {
    size_t a = 99, b = 99;
    assert_int_equal(tr_utf8_check(s, n, &a, &b), rc);
    assert_int_equal(a, up_to);
    assert_int_equal(b, len);
}

static void valid_and_invalid(void **st) {
    (void)st;
    check("", 0, 0, 0, 0);
    check("\xF0\x9F\x92\x96 ok", 7, 0, 7, 0);
    /* Rust's Utf8Error::valid_up_to example: [0, 159, 146, 150] -> 1 */
    check("\x00\x9F\x92\x96", 4, TR_EPARSE, 1, 1);
    /* error_len: Some(len) for an unexpected byte, None (0 here) when the
     * input ends inside a character */
    check("ab\xE2\x82", 4, TR_EPARSE, 2, 0);
    check("ab\xE2\x82x", 5, TR_EPARSE, 2, 2);
    check("\xED\xA0\x80", 3, TR_EPARSE, 0, 1);       /* a surrogate */
    check("\xC0\xAF", 2, TR_EPARSE, 0, 1);           /* overlong */
    check("\xF4\x90\x80\x80", 4, TR_EPARSE, 0, 1);   /* above U+10FFFF */
    check("\xF0\x90\x80", 3, TR_EPARSE, 0, 0);
    check("\xF0\x90\x80x", 4, TR_EPARSE, 0, 3);
}

static void error_text(void **st) {
    (void)st;
    char m[96];
    tr_utf8_error_text(3, 1, m, sizeof m);
    assert_string_equal(m, "invalid utf-8 sequence of 1 bytes from index 3");
    tr_utf8_error_text(0, 0, m, sizeof m);
    assert_string_equal(m, "incomplete utf-8 byte sequence from index 0");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_and_invalid),
        cmocka_unit_test(error_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
