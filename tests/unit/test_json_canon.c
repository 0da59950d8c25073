/* test_json_canon.c - canonical JSON text (tr_json_canonical) and the
 * undecoded values built on it (tr_json_decode_lazy, TR_RAWJSON).
 *
 * The one property everything rests on: text is carried undecoded only
 * when decoding and encoding it again gives the same bytes, so nobody
 * downstream can tell. It is checked both ways (canonical_agrees) on a
 * table of cases, on generated text full of the forms the encoder does
 * not write, and on the encoder's own output for random values. The same
 * cases check the decoder's own answer (tr_json_decode_canon), which lets
 * an event keep the text it was decoded from: never yes wrongly, and no
 * only for text with an escape.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "codec/json.h"
#include "codec_check.h"
#include "core/alloc.h"

static void cases(void **state) {
    (void)state;
    static const struct {
        const char *text;
        int want;
    } t[] = {
        {"{\"id\":1,\"onramp\":\"metronome\",\"ingest_ns\":1637340000123456789,\"hostname\":\"xx\"}", 1},
        {"[null,true,false,-1,0,1.5,1e300,\"\",[],{},{\"\":[{}]}]", 1},
        {"18446744073709551615", 1},
        {"-9223372036854775808", 1},
        {"\"\\\"\\\\\\b\\f\\n\\r\\t\\u001b\\u0000\xc3\xa9\x7f\"", 1},
        {"1.0", 1},
        {"{\"a\":1,\"b\":{\"a\":2}}", 1},      /* one key in two records */
        /* integers: the 19-digit fast path and what is past it */
        {"0", 1},
        {"9999999999999999999", 1},
        {"[1234567890123456789,0,7]", 1},
        {"10000000000000000000", 1},
        {"[1234567890123456789.5]", 0},
        {"[12345678901234567e3]", 0},
        {"[1234567890123456789E3]", 0},
        {"[00]", 0},
        {"[012345678901234567]", 0},
        {"[12345678a]", 0},
        {"", 0},
        {" 1", 0},
        {"1 ", 0},
        {"{\"a\": 1}", 0},
        {"[1 ,2]", 0},
        {"{\"a\":1,\"a\":1}", 0},               /* decoding merges them */
        {"-0", 0},
        {"-9223372036854775809", 0},            /* a float */
        {"18446744073709551616", 0},
        {"1.50", 0},
        {"1e3", 0},
        {"1E300", 0},
        {"0.1e1", 0},
        {"\"\\/\"", 0},
        {"\"\\u0041\"", 0},
        {"\"\\u000a\"", 0},                     /* written \n */
        {"\"\\u001B\"", 0},                     /* written in lower case */
        {"\"\\ud83d\\ude00\"", 0},
        {"\"\xff\"", 0},
        {"\"\x01\"", 0},
        {"{\"a\":1,}", 0},
        {"[1,]", 0},
        {"[", 0},
        {"{\"a\"}", 0},
        {"tru", 0},
        {"01", 0},
        {"\xef\xbb\xbf{}", 0},
        {"{}{}", 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int c = canonical_agrees(t[i].text, strlen(t[i].text));
        if (c != t[i].want) fail_msg("'%s': canonical %d, want %d", t[i].text, c, t[i].want);
    }
    assert_int_equal(tr_json_canonical(NULL, 0), 0);
    /* NULs inside the text: the length rules, not strlen */
    assert_int_equal(canonical_agrees("[1]\0", 4), 0);
}

/* Deeper than 32 levels, or more than 128 keys open at once: not carried
 * undecoded, though the round trip would keep them. */
static void bounds(void **state) {
    (void)state;
    char buf[4096];
    for (int depth = 30; depth <= 34; depth++) {
        size_t n = 0;
        for (int i = 0; i < depth; i++) buf[n++] = '[';
        for (int i = 0; i < depth; i++) buf[n++] = ']';
        assert_int_equal(tr_json_canonical(buf, n), depth <= 32);
    }
    for (int keys = 127; keys <= 129; keys++) {
        size_t n = 0;
        buf[n++] = '{';
        for (int i = 0; i < keys; i++) n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\"k%d\":1", i ? "," : "", i);
        buf[n++] = '}';
        assert_int_equal(tr_json_canonical(buf, n), keys <= 128);
    }
    /* closed records give their keys back */
    size_t n = 0;
    buf[n++] = '[';
    for (int r = 0; r < 3; r++) {
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s{", r ? "," : "");
        for (int i = 0; i < 100; i++) n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\"k%d\":1", i ? "," : "", i);
        buf[n++] = '}';
    }
    buf[n++] = ']';
    assert_int_equal(tr_json_canonical(buf, n), 1);
}

/* Text made of the forms a producer writes and the encoder may not:
 * spaces, every kind of escape, numbers in every spelling, repeated
 * keys, broken bytes. */
static size_t put_s(char *b, size_t n, const char *s) {
    size_t k = strlen(s);
    memcpy(b + n, s, k);
    return n + k;
}

static size_t gen_text(char *b, size_t n, int depth) {
    static const char *const nums[] = {
        "0", "-0", "7", "-12", "01", "1.5", "1.50", "-0.0", "0.1", "1e3", "1E3", "2.5e-7", "1e400",
        "100000000000000000000", "18446744073709551615", "-9223372036854775808",
        "-9223372036854775809", "9223372036854775807", "1.0", "123456789", "5e-324", "1.7976931348623157e308",
    };
    static const char *const parts[] = {
        "a", "xyz", "\xc3\xa9", "\xe2\x82\xac", "\xff", "\xc0\x80", "\x7f", "\\n", "\\u000a", "\\u0041",
        "\\u001f", "\\u001F", "\\u0000", "\\/", "\\\"", "\\\\", "\\t", "\\b", "\\ud83d\\ude00", "\\x", " ",
    };
    static const char *const keys[] = {"a", "b", "id", "ab", "\\u0061", "\\n", ""};
    if (rnd() % 12 == 0) b[n++] = ' ';
    unsigned kind = (unsigned)(rnd() % (depth > 0 ? 8 : 5));
    switch (kind) {
    case 0: n = put_s(b, n, rnd() % 3 ? "null" : rnd() & 1 ? "true" : "false"); break;
    case 1:
    case 2: n = put_s(b, n, nums[rnd() % (sizeof nums / sizeof nums[0])]); break;
    case 3:
    case 4: {
        b[n++] = '"';
        for (size_t i = rnd() % 5; i > 0; i--) n = put_s(b, n, parts[rnd() % (sizeof parts / sizeof parts[0])]);
        b[n++] = '"';
        break;
    }
    case 5: {
        b[n++] = '[';
        for (size_t i = 0, k = rnd() % 4; i < k; i++) {
            if (i) n = put_s(b, n, rnd() % 20 ? "," : " ,");
            n = gen_text(b, n, depth - 1);
        }
        b[n++] = ']';
        break;
    }
    default: {
        b[n++] = '{';
        for (size_t i = 0, k = rnd() % 4; i < k; i++) {
            if (i) b[n++] = ',';
            b[n++] = '"';
            n = put_s(b, n, keys[rnd() % (sizeof keys / sizeof keys[0])]);
            b[n++] = '"';
            n = put_s(b, n, rnd() % 20 ? ":" : ": ");
            n = gen_text(b, n, depth - 1);
        }
        b[n++] = '}';
        break;
    }
    }
    if (rnd() % 12 == 0) b[n++] = ' ';
    return n;
}

static void generated_text(void **state) {
    (void)state;
    static char buf[1 << 16];
    size_t yes = 0, no = 0;
    rng_state = 0x243f6a8885a308d3ull;
    for (int i = 0; i < 40000; i++) {
        size_t n = gen_text(buf, 0, 4);
        assert_true(n < sizeof buf);
        if (canonical_agrees(buf, n)) yes++;
        else no++;
    }
    print_message("generated text: %zu canonical, %zu not\n", yes, no);
    assert_true(yes > 4000 && no > 4000);   /* expected: both sides were exercised */
}

/* What the encoder writes is canonical (finite floats, within bounds). */
static void encoder_output(void **state) {
    (void)state;
    rng_state = 0x13198a2e03707344ull;
    size_t yes = 0;
    for (int i = 0; i < 3000; i++) {
        tr_value v = gen_value(3, 1);
        struct tr_buf b;
        tr_buf_init(&b);
        assert_int_equal(tr_json_encode(&v, &b), 0);
        yes += (size_t)canonical_agrees(b.data, b.len);
        tr_buf_fini(&b);
        tr_value_unref(v);
    }
    print_message("encoder output: %zu of 3000 canonical\n", yes);
    assert_true(yes > 2900);
}

/* tr_json_decode_lazy: canonical text stays text; materialising it gives
 * what decoding gives; anything else is decoded at once, errors as
 * tr_json_decode's. */
static void lazy_values(void **state) {
    (void)state;
    const char *canon = "{\"a\":[1,2.5,\"x\\n\"],\"b\":{}}";
    tr_value v, w;
    assert_int_equal(tr_json_decode_lazy(canon, strlen(canon), &v, NULL), 0);
    assert_int_equal(v.type, TR_RAWJSON);
    assert_int_equal(v.as.s->len, strlen(canon));
    assert_memory_equal(v.as.s->data, canon, strlen(canon));
    assert_string_equal(tr_type_name(TR_RAWJSON), "json");
    /* the encoders: compact as the bytes, pretty through a decode */
    struct tr_buf b, p;
    tr_buf_init(&b);
    tr_buf_init(&p);
    assert_int_equal(tr_json_encode(&v, &b), 0);
    assert_string_equal(b.data, canon);
    assert_int_equal(tr_json_encode_pretty(&v, &b), 0);
    tr_value d = J(canon);
    assert_int_equal(tr_json_encode_pretty(&d, &p), 0);
    assert_string_equal(b.data + strlen(canon), p.data);
    const char *view;
    size_t vlen;
    assert_int_equal(tr_codec_find("json")->view(&v, &view, &vlen), 1);
    assert_ptr_equal(view, v.as.s->data);
    assert_int_equal(tr_codec_find("string")->view(&v, &view, &vlen), 1);
    assert_true(tr_codec_find("json")->raw_json && tr_codec_find("string")->raw_json);
    assert_false(tr_codec_find("msgpack")->raw_json);
    /* copies share it; a clone and equality see the text */
    assert_int_equal(tr_value_clone(&v, &w), 0);
    assert_int_equal(w.type, TR_RAWJSON);
    assert_true(tr_value_eq(&v, &w));
    assert_int_equal(tr_value_cmp(&v, &w), 0);
    tr_value_unref(w);
    w = tr_value_ref(v);
    assert_int_equal(tr_json_materialize(&w), 0);
    assert_true(strict_eq(&w, &d));
    assert_int_equal(v.type, TR_RAWJSON);     /* the other holder keeps its text */
    assert_int_equal(tr_json_materialize(&w), 0);   /* a decoded value is left alone */
    assert_true(strict_eq(&w, &d));
    tr_value_unref(w);
    tr_value_unref(v);
    tr_value_unref(d);
    tr_buf_fini(&b);
    tr_buf_fini(&p);
    /* not canonical: decoded */
    assert_int_equal(tr_json_decode_lazy("{\"a\": 1}", 8, &v, NULL), 0);
    assert_int_equal(v.type, TR_REC);
    tr_value_unref(v);
    struct tr_diag diag;
    tr_diag_clear(&diag);
    assert_int_equal(tr_json_decode_lazy("{\"a\":}", 6, &v, &diag), TR_EPARSE);
    assert_int_equal(v.type, TR_NULL);
    assert_int_equal(diag.col, 6);
    /* the codec's empty frame keeps 0.11's error */
    assert_int_equal(tr_codec_find("json")->decode_lazy("", 0, 0, &v, &diag), TR_EPARSE);
    /* out of memory: the error, nothing held */
    size_t base = tr_alloc_used();
    tr_alloc_fail_at(1, 1);
    int rc = tr_json_decode_lazy(canon, strlen(canon), &v, NULL);
    tr_alloc_fail_at(0, 0);
    assert_int_equal(rc, -ENOMEM);
    assert_int_equal(v.type, TR_NULL);
    assert_int_equal(tr_alloc_used(), base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cases),
        cmocka_unit_test(bounds),
        cmocka_unit_test(generated_text),
        cmocka_unit_test(encoder_output),
        cmocka_unit_test(lazy_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
