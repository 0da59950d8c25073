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

/* The check by tr_utf8_step alone, a character at a time (what
 * tr_utf8_check does after its ASCII runs). */
static int stepwise(const char *s, size_t n, size_t *up_to, size_t *len) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        int valid;
        size_t k = tr_utf8_step(u + i, n - i, &valid);
        if (valid != 1) {
            *up_to = i;
            *len = valid < 0 ? 0 : k;
            return TR_EPARSE;
        }
        i += k;
    }
    *up_to = n;
    *len = 0;
    return 0;
}

/* Long ASCII runs are checked many bytes at a time (SSE2: 64 then 16,
 * AVX2: 128 then 32, each with an overlapping last block): a non-ASCII
 * sequence (valid, invalid or cut short) at every offset of every block,
 * among ASCII before and after, gives what the character-at-a-time check
 * gives; and so does the check while copying, which copies every byte. */
static void runs_hide_nothing(void) {
    static const char *const seqs[] = {"\x80", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x92\x96",
                                       "\xED\xA0\x80", "\xC0\xAF", "\xE2\x82", "\xFF",
                                       "\xF4\x90\x80\x80"};
    char buf[400], copy[400];
    for (size_t q = 0; q < sizeof seqs / sizeof seqs[0]; q++) {
        size_t sl = strlen(seqs[q]);
        for (size_t at = 0; at <= 300; at++) {
            for (size_t tail = 0; tail <= 40; tail++) {
                size_t n = at + sl + tail;
                memset(buf, 'a', n);
                memcpy(buf + at, seqs[q], sl);
                size_t a = 99, b = 99, ra = 98, rb = 98, ca = 97, cb = 97;
                int rc = tr_utf8_check(buf, n, &a, &b);
                int want = stepwise(buf, n, &ra, &rb);
                if (rc != want || a != ra || b != rb)
                    fail_msg("seq %zu at %zu (+%zu): rc %d/%d up_to %zu/%zu len %zu/%zu", q, at, tail, rc,
                             want, a, ra, b, rb);
                memset(copy, 0, sizeof copy);
                int crc = tr_utf8_copy_check(copy, buf, n, &ca, &cb);
                if (crc != want || ca != ra || cb != rb || memcmp(copy, buf, n) != 0 || copy[n] != 0)
                    fail_msg("copy: seq %zu at %zu (+%zu): rc %d/%d up_to %zu/%zu len %zu/%zu", q, at, tail,
                             crc, want, ca, ra, cb, rb);
            }
        }
    }
    /* all ASCII, every length across the block sizes */
    memset(buf, 'z', sizeof buf);
    for (size_t n = 0; n < sizeof buf; n++) {
        check(buf, n, 0, n, 0);
        size_t ca = 99, cb = 99;
        memset(copy, 0, sizeof copy);
        assert_int_equal(tr_utf8_copy_check(copy, buf, n, &ca, &cb), 0);
        assert_int_equal(ca, n);
        assert_int_equal(cb, 0);
        assert_memory_equal(copy, buf, n);
        assert_int_equal(copy[n], 0);   /* nothing written past n */
    }
}

static void ascii_runs_hide_nothing(void **st) {
    (void)st;
    tr_utf8_allow_avx2(true);    /* AVX2 where this CPU has it */
    runs_hide_nothing();
    tr_utf8_allow_avx2(false);   /* SSE2 */
    runs_hide_nothing();
    tr_utf8_allow_avx2(true);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_and_invalid),
        cmocka_unit_test(error_text),
        cmocka_unit_test(ascii_runs_hide_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
