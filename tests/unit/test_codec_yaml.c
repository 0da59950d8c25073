/* test_codec_yaml.c - the yaml codec: 0.11's test value, serde_yaml 0.8's
 * encodings and number forms (the library 0.11 reads and writes YAML with),
 * typing of plain and tagged scalars, aliases, the alias bomb, deep
 * nesting, several documents, truncation, and a round-trip property. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "codec_check.h"

#define S(s) s, sizeof(s) - 1

static void snot_badger(void **state) {
    (void)state;
    tr_value v = J("{\"snot\":\"badger\"}");
    expect_encode("yaml", &v, S("---\nsnot: badger\n"));
    round_trip("yaml", &v);
    tr_value_unref(v);
}

static void serde_yaml_layout(void **state) {
    (void)state;
    static const struct {
        const char *json, *yaml;
    } cases[] = {
        {"25.6", "---\n25.6\n"},
        {"25.0", "---\n25.0\n"},
        {"[1,2,3]", "---\n- 1\n- 2\n- 3\n"},
        {"{\"x\":1,\"y\":2}", "---\nx: 1\ny: 2\n"},
        {"[[1,2,3],[4,5,6]]", "---\n- - 1\n  - 2\n  - 3\n- - 4\n  - 5\n  - 6\n"},
        {"{\"inner\":{\"v\":512}}", "---\ninner:\n  v: 512\n"},
        {"[1,null,3]", "---\n- 1\n- ~\n- 3\n"},
        {"[null,null]", "---\n- ~\n- ~\n"},
        {"\"First\"", "---\nFirst\n"},
        {"{\"a\":[1,2],\"b\":[],\"c\":{}}", "---\na:\n  - 1\n  - 2\nb: []\nc: {}\n"},
        {"[{\"a\":1,\"b\":2}]", "---\n- a: 1\n  b: 2\n"},
        {"[\"true\",\"null\",\"~\",\"12\",\"1.5\",\"yes\",\"\",\" x\",\"a: b\",\"-x\",\".5\",\"0x1\"]",
         "---\n- \"true\"\n- \"null\"\n- \"~\"\n- \"12\"\n- \"1.5\"\n- \"yes\"\n- \"\"\n- \" x\"\n- \"a: b\"\n- \"-x\"\n"
         "- \".5\"\n- \"0x1\"\n"},
        {"\"line\\nbreak\\t\\\"q\\\"\"", "---\n\"line\\nbreak\\t\\\"q\\\"\"\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tr_value v = J(cases[i].json);
        expect_encode("yaml", &v, cases[i].yaml, strlen(cases[i].yaml));
        expect_decode("yaml", cases[i].yaml, strlen(cases[i].yaml), cases[i].json);
        tr_value_unref(v);
    }
    tr_value b;
    assert_int_equal(tr_v_bin("\x01\xff", 2, &b), 0);
    expect_encode("yaml", &b, S("---\n- 1\n- 255\n"));
    tr_value_unref(b);
    /* line breaks beyond ASCII are escaped (a reader folds them even in quotes) */
    tr_value lb = J("\"a\\u2028b\\u0085c\\u2029\"");
    expect_encode("yaml", &lb, S("---\n\"a\\Lb\\Nc\\P\"\n"));
    round_trip("yaml", &lb);
    tr_value_unref(lb);
    tr_value inf = tr_v_float(__builtin_inf());
    expect_encode("yaml", &inf, S("---\n.inf\n"));
}

static void scalar_typing(void **state) {
    (void)state;
    static const struct {
        const char *yaml, *json;
    } cases[] = {
        /* serde_yaml's test_numbers */
        {"0xF0", "240"}, {"+0xF0", "240"}, {"-0xF0", "-240"}, {"0o70", "56"}, {"+0o70", "56"},
        {"-0o70", "-56"}, {"0b10", "2"}, {"+0b10", "2"}, {"-0b10", "-2"}, {"127", "127"},
        {"+127", "127"}, {"-127", "-127"}, {"0.1", "0.1"},
        /* visit_untagged_str */
        {"~", "null"}, {"null", "null"}, {"a:", "{\"a\":null}"}, {"Null", "\"Null\""}, {"true", "true"},
        {"True", "\"True\""}, {"yes", "\"yes\""}, {"007", "\"007\""}, {"0", "0"},
        {"18446744073709551615", "18446744073709551615"}, {"-9223372036854775808", "-9223372036854775808"},
        {"1e3", "1000.0"}, {"1e400", "\"1e400\""}, {"nan", "\"nan\""}, {"'12'", "\"12\""}, {"\"true\"", "\"true\""},
        {"!!int 12", "12"}, {"!!float 12", "12.0"}, {"!!bool true", "true"}, {"!!null null", "null"},
        {"!!str 12", "\"12\""}, {"!foo 12", "\"12\""}, {"|\n  two\n  lines\n", "\"two\\nlines\\n\""},
        {"{1: a, null: b}", "{\"1\":\"a\",\"null\":\"b\"}"},
        {"first: &alias 1\nsecond: *alias\nthird: 3\n", "{\"first\":1,\"second\":1,\"third\":3}"},
        {"a: &x [1, {b: 2}]\nc: *x\n", "{\"a\":[1,{\"b\":2}],\"c\":[1,{\"b\":2}]}"},
        {"--- 5\n...\n", "5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_decode("yaml", cases[i].yaml, strlen(cases[i].yaml), cases[i].json);
    tr_value v;
    assert_int_equal(dec("yaml", S(".inf"), &v), 0);
    assert_true(v.type == TR_F64 && v.as.f > 0 && isinf(v.as.f));
    assert_int_equal(dec("yaml", S("-.Inf"), &v), 0);
    assert_true(v.type == TR_F64 && v.as.f < 0 && isinf(v.as.f));
    assert_int_equal(dec("yaml", S(".NaN"), &v), 0);
    assert_true(v.type == TR_F64 && isnan(v.as.f));
}

static void errors(void **state) {
    (void)state;
    const char *bad[] = {
        "",                        /* EOF while parsing a value */
        "a: 1\n---\nb: 2\n",       /* more than one document */
        "[1, 2",                   /* truncated */
        "a: [\n",                  /* truncated */
        "!!int abc",               /* not an integer */
        "!!bool yes",              /* not a boolean */
        "*nope",                   /* unknown anchor */
        "? [1]\n: 2\n",            /* a key that is not a scalar */
        "99999999999999999999",    /* beyond 64 bits */
        "\"\\xZZ\"",               /* bad escape */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tr_value v = tr_v_int(1);
        int rc = dec("yaml", bad[i], strlen(bad[i]), &v);
        if (rc >= 0) fail_msg("'%s' decoded (%d)", bad[i], rc);
        assert_int_equal(v.type, TR_NULL);
    }
}

static void hostile_documents(void **state) {
    (void)state;
    size_t before = tr_alloc_used();
    /* the alias bomb of serde_yaml's test_bomb: 9^22 nodes if expanded */
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_buf_printf(&b, "a: &a ~\n"), 0);
    for (char c = 'b'; c <= 'v'; c++)
        assert_int_equal(tr_buf_printf(&b, "%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", c, c, c - 1, c - 1, c - 1,
                                       c - 1, c - 1, c - 1, c - 1, c - 1, c - 1), 0);
    tr_value v;
    assert_int_equal(dec("yaml", b.data, b.len, &v), TR_ETOOBIG);
    /* nesting: 128 levels as serde_yaml, 129 and 100000 refused */
    tr_buf_reset(&b);
    for (int i = 0; i < 100000; i++) assert_int_equal(tr_buf_putc(&b, '['), 0);
    assert_int_equal(dec("yaml", b.data, b.len, &v), TR_EDEPTH);
    tr_buf_reset(&b);
    for (int i = 0; i < 128; i++) assert_int_equal(tr_buf_putc(&b, '['), 0);
    for (int i = 0; i < 128; i++) assert_int_equal(tr_buf_putc(&b, ']'), 0);
    assert_int_equal(dec("yaml", b.data, b.len, &v), 0);
    tr_value_unref(v);
    tr_buf_reset(&b);
    for (int i = 0; i < 129; i++) assert_int_equal(tr_buf_putc(&b, '['), 0);
    for (int i = 0; i < 129; i++) assert_int_equal(tr_buf_putc(&b, ']'), 0);
    assert_int_equal(dec("yaml", b.data, b.len, &v), TR_EDEPTH);
    /* aliases cannot smuggle nesting past the limit either */
    tr_buf_reset(&b);
    assert_int_equal(tr_buf_printf(&b, "a: &x "), 0);
    for (int i = 0; i < 100; i++) assert_int_equal(tr_buf_putc(&b, '['), 0);
    for (int i = 0; i < 100; i++) assert_int_equal(tr_buf_putc(&b, ']'), 0);
    assert_int_equal(tr_buf_printf(&b, "\nb: "), 0);
    for (int i = 0; i < 60; i++) assert_int_equal(tr_buf_putc(&b, '['), 0);
    assert_int_equal(tr_buf_printf(&b, "*x"), 0);
    for (int i = 0; i < 60; i++) assert_int_equal(tr_buf_putc(&b, ']'), 0);
    assert_int_equal(dec("yaml", b.data, b.len, &v), TR_EDEPTH);
    /* every cut of a document is a value or an error, never a crash or a leak */
    const char *doc = "---\na:\n  - 1\n  - {b: \"x\", c: [2, 3]}\nd: &k text\ne: *k\n";
    for (size_t cut = 0; cut < strlen(doc); cut++)
        if (dec("yaml", doc, cut, &v) == 0) tr_value_unref(v);
    tr_buf_fini(&b);
    assert_int_equal(tr_alloc_used(), before);
}

static void round_trip_property(void **state) {
    (void)state;
    rng_state = 3;
    for (int i = 0; i < 3000; i++) {
        tr_value v = gen_value(4, 0);
        round_trip("yaml", &v);
        tr_value_unref(v);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snot_badger),
        cmocka_unit_test(serde_yaml_layout),
        cmocka_unit_test(scalar_typing),
        cmocka_unit_test(errors),
        cmocka_unit_test(hostile_documents),
        cmocka_unit_test(round_trip_property),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
