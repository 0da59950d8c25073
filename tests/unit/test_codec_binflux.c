/* test_codec_binflux.c - the binflux codec: 0.11's tests (simple_bin_parse,
 * errors), the byte layout, 0.11's skipping of unknown field types, and
 * every truncation and hostile length ending in an error. Round trips of
 * generated records run in test_codec_influx.c beside influx's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "codec_check.h"

#define B(s) s, sizeof(s) - 1

static void simple_bin_parse(void **state) {
    (void)state;
    const char *line = "weather,location=us-midwest,name=cake temperature=82 1465839830100400200";
    tr_value d, e;
    assert_int_equal(dec("influx", line, strlen(line), &d), 0);
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_codec_find("binflux")->encode(&d, &b), 0);
    assert_int_equal(dec("binflux", b.data, b.len, &e), 0);
    expect_same(&d, &e);
    tr_value_unref(d);
    tr_value_unref(e);
    tr_buf_fini(&b);
}

static void byte_layout(void **state) {
    (void)state;
    tr_value v = J("{\"measurement\":\"m\",\"tags\":{\"t\":\"v\"},\"fields\":{\"i\":-2,\"f\":1.5,\"s\":\"x\",\"y\":true,\"n\":false},"
                   "\"timestamp\":258}");
    expect_encode("binflux", &v,
                  B("\x00\x00" "\x00\x01m" "\x00\x00\x00\x00\x00\x00\x01\x02"
                    "\x00\x01" "\x00\x01t\x00\x01v"
                    "\x00\x05" "\x00\x01i\x00\xff\xff\xff\xff\xff\xff\xff\xfe"
                    "\x00\x01" "f\x01\x3f\xf8\x00\x00\x00\x00\x00\x00"
                    "\x00\x01s\x02\x00\x01x" "\x00\x01y\x03" "\x00\x01n\x04"));
    round_trip("binflux", &v);
    tr_value_unref(v);
}

static void errors(void **state) {
    (void)state;
    /* 0.11: measurement missing, timestamp missing, unknown type as influx line value */
    tr_value o = J("{}");
    assert_int_equal(enc_rc("binflux", &o), TR_EINVAL_CFG);
    tr_value_unref(o);
    o = J("{\"measurement\":\"m\"}");
    assert_int_equal(enc_rc("binflux", &o), TR_EINVAL_CFG);
    tr_value_unref(o);
    o = J("{\"measurement\":\"m\",\"timestamp\":42,\"fields\":{\"snot\":[1]}}");
    assert_int_equal(enc_rc("binflux", &o), TR_EINVAL_CFG);
    tr_value_unref(o);
    /* without tags and fields objects: counts of 0 */
    o = J("{\"measurement\":\"m\",\"timestamp\":42}");
    expect_encode("binflux", &o, B("\x00\x00\x00\x01m\x00\x00\x00\x00\x00\x00\x00\x2a\x00\x00\x00\x00"));
    tr_value_unref(o);
    /* a tag that is not a string is left out and not counted */
    o = J("{\"measurement\":\"m\",\"timestamp\":1,\"tags\":{\"a\":1,\"b\":\"c\"}}");
    expect_encode("binflux", &o, B("\x00\x00\x00\x01m\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01\x00\x01" "b\x00\x01" "c\x00\x00"));
    tr_value_unref(o);
}

static void unknown_field_type_is_skipped(void **state) {
    (void)state;
    /* as 0.11: key and type byte read, field left out, reading goes on */
    expect_decode("binflux",
                  B("\x00\x00\x00\x01m\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x02\x00\x01" "a\x09\x00\x01" "b\x03"),
                  "{\"measurement\":\"m\",\"tags\":{},\"fields\":{\"b\":true},\"timestamp\":1}");
}

static void hostile_input(void **state) {
    (void)state;
    size_t before = tr_alloc_used();
    tr_value v = J("{\"measurement\":\"weather\",\"tags\":{\"a\":\"b\"},\"fields\":{\"s\":\"str\",\"f\":2.5,\"i\":3},\"timestamp\":9}");
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_codec_find("binflux")->encode(&v, &b), 0);
    tr_value w;
    for (size_t cut = 0; cut < b.len; cut++) assert_int_equal(dec("binflux", b.data, cut, &w), TR_EPARSE);
    assert_int_equal(dec("binflux", b.data, b.len, &w), 0);
    tr_value_unref(w);
    /* bad version, string longer than the frame, 65535 tags claimed, not UTF-8 */
    assert_int_equal(dec("binflux", B("\x00\x01\x00\x00"), &w), TR_EPARSE);
    assert_int_equal(dec("binflux", B("\x00\x00\xff\xffm"), &w), TR_EPARSE);
    assert_int_equal(dec("binflux", B("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff"), &w), TR_EPARSE);
    assert_int_equal(dec("binflux", B("\x00\x00\x00\x01\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), &w), TR_EPARSE);
    tr_buf_fini(&b);
    tr_value_unref(v);
    assert_int_equal(tr_alloc_used(), before);
    /* strings over 65535 bytes cannot be written */
    char *big = tr_malloc(70000);
    memset(big, 'a', 70000);
    tr_value s, r = J("{\"timestamp\":1}");
    assert_int_equal(tr_v_str(big, 70000, &s), 0);
    assert_int_equal(tr_rec_set(&r, "measurement", 11, s), 0);
    assert_int_equal(enc_rc("binflux", &r), TR_EINVAL_CFG);
    tr_value_unref(r);
    tr_free(big);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(simple_bin_parse),
        cmocka_unit_test(byte_layout),
        cmocka_unit_test(errors),
        cmocka_unit_test(unknown_field_type_is_skipped),
        cmocka_unit_test(hostile_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
