/* test_kv.c - the kv extractor against Tremor 0.11: expected values are the
 * tests of the tremor-kv crate 0.2.0 (src/lib.rs) that 0.11 uses, and 0.11's
 * tests/scripts/kv. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "core/buf.h"
#include "core/error.h"
#include "lang/extract_int.h"

static void expect_kv(const char *pattern, const char *input, const char *want) {
    char msg[256] = "";
    struct tr_kv *kv;
    int rc = tr_kv_create(pattern, &kv, msg, sizeof msg);
    if (rc) fail_msg("kv |%s|\n  expected to compile\n  actual   rc %d: %s", pattern, rc, msg);
    tr_value s, got = tr_v_null(), exp;
    assert_int_equal(0, tr_v_cstr(input, &s));
    rc = tr_kv_run(kv, s.as.s, 1, &got);
    if (!want) {
        if (rc != 0) fail_msg("kv |%s| on '%s'\n  expected no match\n  actual   rc %d", pattern, input, rc);
    } else {
        struct tr_diag d;
        assert_int_equal(0, tr_json_decode(want, strlen(want), &exp, &d));
        if (rc != 1) fail_msg("kv |%s| on '%s'\n  expected %s\n  actual   rc %d", pattern, input, want, rc);
        if (!tr_value_eq(&got, &exp)) {
            struct tr_buf b;
            tr_buf_init(&b);
            tr_json_encode(&got, &b);
            fail_msg("kv |%s| on '%s'\n  expected %s\n  actual   %s", pattern, input, want, b.data);
        }
        tr_value_unref(exp);
        /* the predicate form agrees */
        assert_int_equal(1, tr_kv_run(kv, s.as.s, 0, NULL));
    }
    tr_value_unref(got);
    tr_value_unref(s);
    tr_kv_destroy(kv);
}

static void expect_error(const char *pattern, const char *want) {
    char msg[256] = "";
    struct tr_kv *kv;
    int rc = tr_kv_create(pattern, &kv, msg, sizeof msg);
    if (!rc) fail_msg("kv |%s|\n  expected error %s\n  actual   compiled", pattern, want);
    assert_null(kv);
    if (strcmp(msg, want)) fail_msg("kv |%s|\n  expected %s\n  actual   %s", pattern, want, msg);
}

static void splits(void **st) {
    (void)st;
    /* tests/scripts/kv: the empty pattern is " " and ":" */
    expect_kv("", "foo:bar snot:badger", "{\"foo\":\"bar\",\"snot\":\"badger\"}");
    expect_kv("%{key}=%{val}", "this=is a=test", "{\"this\":\"is\",\"a\":\"test\"}");          /* simple_split */
    expect_kv("&%{key}=%{val}", "this=is&a=test", "{\"this\":\"is\",\"a\":\"test\"}");         /* simple_split2 */
    expect_kv("\\n%{key}=%{val}", "this=is\na=test", "{\"this\":\"is\",\"a\":\"test\"}");      /* newline_simple_ */
    expect_kv("&", "this:is&a:test", "{\"this\":\"is\",\"a\":\"test\"}");                      /* simple_split3 */
    expect_kv("%{key}%{%{val}", "this%{is a%{test", "{\"this\":\"is\",\"a\":\"test\"}");       /* simple_split4 */
    expect_kv("%{key}%{key}%{val}", "this%{key}is a%{key}test", "{\"this\":\"is\",\"a\":\"test\"}");
    expect_kv("%{key}=%{val}", "this=is", "{\"this\":\"is\"}");                                /* one_field */
    expect_kv("%{key}=%{val}", "this is a test", NULL);                                        /* no_split */
    /* different_seperatpors, different_seperatpors2 */
    expect_kv("%{key}=%{val};%{key}:%{val} %{key}:%{val}", "this=is;a=test for:seperators",
              "{\"this\":\"is\",\"a\":\"test\",\"for\":\"seperators\"}");
    expect_kv("%{key}=%{val}%{key}:%{val} %{key}:%{val};", "this=is;a=test for:seperators",
              "{\"this\":\"is\",\"a\":\"test\",\"for\":\"seperators\"}");
}

static void rejected(void **st) {
    (void)st;
    /* invalid_pattern */
    const char *dbl = "The seperator ' ' is used for both key value seperation as well as pair seperation.";
    expect_error("%{key} %{val} ", dbl);
    expect_error("%{key}=%{val}; %{key}:%{val} %{key}:%{val}", dbl);
    expect_error("%{key}=%{val};%{key}:%{val} :%{key}:%{val}",
                 "The seperator ':' is used for both key value seperation as well as pair seperation.");
    /* the crate's other errors: no %{val}, escapes */
    expect_error("a%{key}=", "invalid pattern at character 7");
    expect_error("%{key}\\x%{val}", "Invalid escape sequence \\'x' is not valid.");
    expect_error("%{key}=%{val}\\", "Unterminated escape at the end of line or of a delimiter %{ can't be escaped");
}

/* Long hostile input: only separators, or one huge run of pairs; answers
 * promptly with memory bounded by the input. */
static void hostile(void **st) {
    (void)st;
    char msg[256];
    struct tr_kv *kv;
    assert_int_equal(0, tr_kv_create("%{key}=%{val}&", &kv, msg, sizeof msg));
    size_t n = 300000;
    char *in = malloc(n + 1);
    assert_non_null(in);
    memset(in, '&', n);
    in[n] = 0;
    tr_value s, out = tr_v_null();
    assert_int_equal(0, tr_v_cstr(in, &s));
    assert_int_equal(0, tr_kv_run(kv, s.as.s, 1, &out));
    tr_value_unref(s);
    for (size_t i = 0; i + 4 <= n; i += 4) memcpy(in + i, i % 8 ? "b=2&" : "a=1&", 4);
    assert_int_equal(0, tr_v_cstr(in, &s));
    assert_int_equal(1, tr_kv_run(kv, s.as.s, 1, &out));
    assert_int_equal(2, out.as.r->len);
    tr_value_unref(out);
    tr_value_unref(s);
    free(in);
    tr_kv_destroy(kv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(splits),
        cmocka_unit_test(rejected),
        cmocka_unit_test(hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
