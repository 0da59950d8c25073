/* test_codec_statsd.c - the statsd codec with 0.11's vectors (gorets, glork,
 * gaugor, uniques, horst, sam, addy, subastian, bench), malformed lines, a
 * round-trip property; and the null and binary codecs with 0.11's tests. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "codec_check.h"

#define S(s) s, sizeof(s) - 1

static void vectors_0_11(void **state) {
    (void)state;
    static const struct {
        const char *line, *json;
    } cases[] = {
        {"gorets:1|c", "{\"type\":\"c\",\"metric\":\"gorets\",\"value\":1}"},
        {"glork:320|ms", "{\"type\":\"ms\",\"metric\":\"glork\",\"value\":320}"},
        {"gaugor:333|g", "{\"type\":\"g\",\"metric\":\"gaugor\",\"value\":333}"},
        {"uniques:765|s", "{\"type\":\"s\",\"metric\":\"uniques\",\"value\":765}"},
        {"horst:42.23|h", "{\"type\":\"h\",\"metric\":\"horst\",\"value\":42.23}"},
        {"sam:7|c|@0.1", "{\"type\":\"c\",\"metric\":\"sam\",\"value\":7,\"sample_rate\":0.1}"},
        {"addy:+123|g", "{\"type\":\"g\",\"metric\":\"addy\",\"action\":\"add\",\"value\":123}"},
        {"subastian:-234|g", "{\"type\":\"g\",\"metric\":\"subastian\",\"action\":\"sub\",\"value\":234}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        expect_decode("statsd", cases[i].line, strlen(cases[i].line), cases[i].json);
        tr_value v;
        assert_int_equal(dec("statsd", cases[i].line, strlen(cases[i].line), &v), 0);
        expect_encode("statsd", &v, cases[i].line, strlen(cases[i].line));
        tr_value_unref(v);
    }
    const char *bench[] = {"foo:1620649445.3351967|h", "foo1:12345|c", "foo2:1234567890|c"};
    for (int i = 0; i < 3; i++) {
        tr_value v;
        assert_int_equal(dec("statsd", bench[i], strlen(bench[i]), &v), 0);
        expect_encode("statsd", &v, bench[i], strlen(bench[i]));
        tr_value_unref(v);
    }
}

static void shapes_and_signs(void **state) {
    (void)state;
    /* the sign stays in the value for non-gauges; a float needs a '.' */
    expect_decode("statsd", S("x:-5|c"), "{\"metric\":\"x\",\"type\":\"c\",\"value\":-5}");
    expect_decode("statsd", S("x:-1.5|g"), "{\"metric\":\"x\",\"type\":\"g\",\"action\":\"sub\",\"value\":1.5}");
    expect_decode("statsd", S(":1|c|@1"), "{\"metric\":\"\",\"type\":\"c\",\"value\":1,\"sample_rate\":1.0}");
}

static void malformed_lines(void **state) {
    (void)state;
    const char *bad[] = {"gorets", "gorets:1", "gorets:1|", "gorets:1|x", "gorets:1|m", "gorets:1|mx",
                         "gorets:1|cc", "gorets:1|c|", "gorets:1|c|0.1", "gorets:1|c|@", "gorets:1|c|@x", "a:b:2|ms",
                         "gorets:a|c", "gorets:1.2.3|c", "gorets:|c", "gorets:99999999999999999999|c",
                         "\xff:1|c"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tr_value v = tr_v_int(1);
        if (dec("statsd", bad[i], strlen(bad[i]), &v) != TR_EPARSE) fail_msg("'%s' decoded", bad[i]);
        assert_int_equal(v.type, TR_NULL);
    }
    /* encode needs metric, type and a numeric value (and a numeric sample_rate) */
    const char *nope[] = {"{}", "{\"metric\":\"m\",\"type\":\"c\"}", "{\"metric\":\"m\",\"type\":\"c\",\"value\":\"1\"}",
                          "{\"metric\":\"m\",\"type\":\"c\",\"value\":1,\"sample_rate\":\"x\"}",
                          "{\"metric\":1,\"type\":\"c\",\"value\":1}"};
    for (size_t i = 0; i < sizeof nope / sizeof nope[0]; i++) {
        tr_value v = J(nope[i]);
        assert_int_equal(enc_rc("statsd", &v), TR_EINVAL_CFG);
        tr_value_unref(v);
    }
}

static void round_trip_property(void **state) {
    (void)state;
    rng_state = 5;
    const char *types[] = {"c", "ms", "g", "s", "h"};
    for (int i = 0; i < 3000; i++) {
        tr_value v;
        assert_int_equal(tr_v_rec(5, &v), 0);
        assert_int_equal(tr_rec_set(&v, "metric", 6, gen_str("abc.-_XYZ019\x01", 12, 0)), 0);
        const char *t = types[rnd() % 5];
        int gauge = t[0] == 'g';
        if (gauge && rnd() % 3) {
            tr_value a;
            assert_int_equal(tr_v_cstr(rnd() & 1 ? "add" : "sub", &a), 0);
            assert_int_equal(tr_rec_set(&v, "action", 6, a), 0);
        }
        tr_value ty;
        assert_int_equal(tr_v_cstr(t, &ty), 0);
        assert_int_equal(tr_rec_set(&v, "type", 4, ty), 0);
        if (rnd() & 1) assert_int_equal(tr_rec_set(&v, "sample_rate", 11, tr_v_float((double)(rnd() % 1000) / 1000.0)), 0);
        /* a gauge carries a magnitude (0.11 reads a leading '-' on a gauge as
         * action "sub"), other types any sign */
        int64_t iv = gen_int();
        if (iv == INT64_MIN) iv = 0;
        double fv = (double)(rnd() % 100000) / 64.0;
        tr_value val = rnd() & 1 ? tr_v_int(gauge ? (iv < 0 ? -iv : iv) : iv) : tr_v_float(gauge ? fv : fv - 500);
        assert_int_equal(tr_rec_set(&v, "value", 5, val), 0);
        round_trip("statsd", &v);
        tr_value_unref(v);
    }
}

static void null_codec(void **state) {
    (void)state;
    tr_value v = tr_v_int(1);
    assert_int_equal(dec("null", S("anything"), &v), 0);
    assert_int_equal(v.type, TR_NULL);
    tr_value s = J("{\"a\":1}");
    expect_encode("null", &s, "", 0);
    tr_value_unref(s);
}

static void binary_codec(void **state) {
    (void)state;
    tr_value seed;
    assert_int_equal(tr_v_bin("snot badger", 11, &seed), 0);
    expect_encode("binary", &seed, S("snot badger"));
    round_trip("binary", &seed);
    tr_value_unref(seed);
    tr_value s = J("\"text\""), o = J("{\"a\":[1,2]}");
    expect_encode("binary", &s, S("text"));
    expect_encode("binary", &o, S("{\"a\":[1,2]}"));
    tr_value_unref(s);
    tr_value_unref(o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vectors_0_11),
        cmocka_unit_test(shapes_and_signs),
        cmocka_unit_test(malformed_lines),
        cmocka_unit_test(round_trip_property),
        cmocka_unit_test(null_codec),
        cmocka_unit_test(binary_codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
