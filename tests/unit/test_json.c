/* test_json.c - the JSON codec: types and numbers, escapes, UTF-8, error
 * locations, depth limits, huge inputs, float printing, round trips and
 * allocation failures; all of it once per string scanner the CPU can run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "codec/json.h"
#include "codec/json_scan.h"
#include "core/alloc.h"

static size_t baseline;

static int setup(void **state) {
    (void)state;
    tr_alloc_fail_at(0, 0);
    baseline = tr_alloc_used();
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tr_alloc_fail_at(0, 0);
    assert_int_equal(tr_alloc_used(), baseline);  /* expected: nothing leaked */
    return 0;
}

static tr_value dec(const char *s) {
    tr_value v;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_json_decode(s, strlen(s), &v, &d);
    if (rc) print_message("decode of '%s' failed: %s (%d:%d)\n", s, d.msg, d.line, d.col);
    assert_int_equal(rc, 0);
    return v;
}

/* Decode s expecting failure rc at line:col with msg contained in the message. */
static void dec_err(const char *s, size_t len, int rc, int line, int col, const char *msg) {
    tr_value v;
    struct tr_diag d;
    tr_diag_clear(&d);
    int got = tr_json_decode(s, len, &v, &d);
    if (got != rc || d.line != line || d.col != col || !strstr(d.msg, msg))
        print_message("input '%.40s': expected rc %d at %d:%d '%s', got rc %d at %d:%d '%s'\n", s, rc,
                      line, col, msg, got, d.line, d.col, d.msg);
    assert_int_equal(got, rc);
    assert_int_equal(v.type, TR_NULL);
    assert_int_equal(d.line, line);
    assert_int_equal(d.col, col);
    assert_non_null(strstr(d.msg, msg));
}

static void enc_is(const tr_value *v, const char *want) {
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_json_encode(v, &b), 0);
    assert_int_equal(b.len, strlen(want));
    assert_string_equal(b.data, want);
    tr_buf_fini(&b);
}

/* Decoding then encoding gives back exactly the input (compact form). */
static void round_trip(const char *s) {
    tr_value v = dec(s);
    enc_is(&v, s);
    tr_value_unref(v);
}

static void test_decode_types(void **state) {
    (void)state;
    tr_value v = dec(" {\"onramp\":\"metronome\",\"id\":3,\"ok\":true,\"no\":false,\"n\":null,"
                     "\"f\":1.5,\"a\":[1,\"x\",{}],\"e\":[]}\r\n\t");
    assert_int_equal(v.type, TR_REC);
    const char *keys[] = {"onramp", "id", "ok", "no", "n", "f", "a", "e"};
    enum tr_type types[] = {TR_STR, TR_I64, TR_BOOL, TR_BOOL, TR_NULL, TR_F64, TR_ARR, TR_ARR};
    assert_int_equal(tr_rec_len(&v), 8);
    for (uint32_t i = 0; i < 8; i++) {
        assert_string_equal(tr_rec_at(&v, i)->key->data, keys[i]);  /* input order kept */
        assert_int_equal(tr_rec_at(&v, i)->val.type, types[i]);
    }
    assert_string_equal(tr_rec_get_cstr(&v, "onramp")->as.s->data, "metronome");
    assert_true(tr_rec_get_cstr(&v, "ok")->as.b);
    assert_false(tr_rec_get_cstr(&v, "no")->as.b);
    tr_value *a = tr_rec_get_cstr(&v, "a");
    assert_int_equal(tr_arr_len(a), 3);
    assert_int_equal(tr_arr_at(a, 2)->type, TR_REC);
    assert_int_equal(tr_arr_len(tr_rec_get_cstr(&v, "e")), 0);
    tr_value_unref(v);

    v = dec("\"top\"");
    assert_int_equal(v.type, TR_STR);
    tr_value_unref(v);
    v = dec("  42  ");
    assert_int_equal(v.as.i, 42);
}

static void test_duplicate_keys(void **state) {
    (void)state;
    tr_value v = dec("{\"a\":1,\"b\":2,\"a\":3}");
    assert_int_equal(tr_rec_len(&v), 2);
    assert_string_equal(tr_rec_at(&v, 0)->key->data, "a");  /* first position */
    assert_int_equal(tr_rec_at(&v, 0)->val.as.i, 3);        /* last value */
    tr_value_unref(v);
}

/* Repeats among keys that share length and end bytes (so the decoder's
 * filter must scan), keys that do not, and the empty key: every small
 * record keeps each key at its first position with its last value. */
static void duplicate_keys_many(void **state) {
    (void)state;
    static const char *const pool[] = {"axb", "ayb", "a", "", "ab", "ba", "azb", "b"};
    const size_t np = sizeof pool / sizeof pool[0];
    uint32_t seed = 12345;
    for (int round = 0; round < 2000; round++) {
        size_t n = 1 + (size_t)(round % 16), keys[16], nk = 0;
        int vals[16];
        char json[512];
        size_t o = 0;
        json[o++] = '{';
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            size_t k = (seed >> 16) % np, j;
            o += (size_t)snprintf(json + o, sizeof json - o, "%s\"%s\":%zu", i ? "," : "", pool[k], i);
            for (j = 0; j < nk && keys[j] != k; j++) {
            }
            if (j == nk) keys[nk++] = k;
            vals[j] = (int)i;
        }
        json[o++] = '}';
        json[o] = 0;
        tr_value v = dec(json);
        assert_int_equal(tr_rec_len(&v), nk);
        for (size_t j = 0; j < nk; j++) {
            if (strcmp(tr_rec_at(&v, (uint32_t)j)->key->data, pool[keys[j]]) != 0 ||
                tr_rec_at(&v, (uint32_t)j)->val.as.i != vals[j])
                fail_msg("%s: field %zu is %s:%lld, expected %s:%d", json, j, tr_rec_at(&v, (uint32_t)j)->key->data,
                         (long long)tr_rec_at(&v, (uint32_t)j)->val.as.i, pool[keys[j]], vals[j]);
        }
        tr_value_unref(v);
    }
}

static void test_integers(void **state) {
    (void)state;
    struct {
        const char *in;
        int type;
        int64_t i;
        uint64_t u;
    } cases[] = {
        {"0", TR_I64, 0, 0},
        {"-0", TR_I64, 0, 0},
        {"-1", TR_I64, -1, 0},
        {"9223372036854775807", TR_I64, INT64_MAX, 0},
        {"-9223372036854775808", TR_I64, INT64_MIN, 0},
        {"9223372036854775808", TR_U64, 0, (uint64_t)INT64_MAX + 1},
        {"18446744073709551615", TR_U64, 0, UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tr_value v = dec(cases[i].in);
        assert_int_equal(v.type, cases[i].type);
        if (v.type == TR_I64) assert_true(v.as.i == cases[i].i);
        if (v.type == TR_U64) assert_true(v.as.u == cases[i].u);
        enc_is(&v, strcmp(cases[i].in, "-0") ? cases[i].in : "0");
    }
    /* beyond the 64-bit ranges: floats */
    tr_value v = dec("18446744073709551616");
    assert_int_equal(v.type, TR_F64);
    assert_true(v.as.f == 18446744073709551616.0);
    v = dec("-9223372036854775809");
    assert_int_equal(v.type, TR_F64);
    assert_true(v.as.f == -9223372036854775808.0);
}

/* Decoded strings without an escape are written back as they are; with
 * one, they are escaped again; keys alike; and a string changed in place
 * after tr_value_mut is scanned again (its bytes may need escaping now). */
static void test_plain_strings(void **state) {
    (void)state;
    /* {"k\u0022":"a\nb","plain":"caf\u00e9 é<DEL>/","€":""} */
    tr_value v = dec("{\"k\\u0022\":\"a\\nb\",\"plain\":\"caf\\u00e9 \xc3\xa9\x7f/\",\"\xe2\x82\xac\":\"\"}");
    enc_is(&v, "{\"k\\\"\":\"a\\nb\",\"plain\":\"caf\xc3\xa9 \xc3\xa9\x7f/\",\"\xe2\x82\xac\":\"\"}");
    const tr_value *p = tr_rec_get_cstr(&v, "plain");
    assert_non_null(p);
    assert_false(p->as.s->json_plain);   /* it had an escape */
    const tr_value *e = tr_rec_get_cstr(&v, "\xe2\x82\xac");
    assert_non_null(e);
    assert_true(e->as.s->json_plain);
    tr_value_unref(v);
    v = dec("{\"plain\":\"caf\xc3\xa9 \x7f/\"}");
    p = tr_rec_get_cstr(&v, "plain");
    assert_true(p->as.s->json_plain);
    tr_value s = tr_value_ref(*p);
    tr_value_unref(v);   /* s holds the only reference now */
    assert_int_equal(tr_value_mut(&s), 0);
    assert_false(s.as.s->json_plain);
    s.as.s->data[0] = '"';
    s.as.s->data[1] = '\n';
    enc_is(&s, "\"\\\"\\nf\xc3\xa9 \x7f/\"");
    tr_value_unref(s);
}

/* Integers of every length from 1 to 24 digits, alone and followed by
 * what ends a number inside a document, against strtoull / strtod: the
 * decoder takes eight digits at a time where it can, and the byte loop
 * does the rest and every number past 64 bits. */
static void test_integer_lengths(void **state) {
    (void)state;
    uint64_t x = 0x2545F4914F6CDD1DULL;
    for (int len = 1; len <= 24; len++) {
        for (int k = 0; k < 40; k++) {
            char num[32], doc[64];
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for (int i = 0; i < len; i++) num[i] = (char)('0' + (x >> (i % 60)) % 10);
            if (k < 3) memset(num, k == 0 ? '9' : k == 1 ? '1' : '0', (size_t)len);
            if (num[0] == '0') num[0] = '1';   /* no leading zeros in JSON */
            if (k == 2 && len > 1) num[0] = '1';   /* 1000...0 */
            num[len] = 0;
            errno = 0;
            unsigned long long want = strtoull(num, NULL, 10);
            int fits = errno != ERANGE;
            const char *forms[] = {"%s", "[%s,1]", "{\"a\":%s}", "[%s ]", "[%s.5]", "[%se1]"};
            for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
                snprintf(doc, sizeof doc, forms[f], num);
                tr_value v = dec(doc);
                const tr_value *n = &v;
                if (v.type == TR_ARR) n = tr_arr_at(&v, 0);
                if (v.type == TR_REC) n = tr_rec_get_cstr(&v, "a");
                assert_non_null(n);
                if (f < 4 && fits) {
                    assert_true(n->type == TR_I64 || n->type == TR_U64);
                    uint64_t got = n->type == TR_I64 ? (uint64_t)n->as.i : n->as.u;
                    if (got != want) print_message("%s: expected %llu, got %llu\n", doc, want, (unsigned long long)got);
                    assert_true(got == want);
                } else {
                    char fl[40];
                    snprintf(fl, sizeof fl, f == 4 ? "%s.5" : f == 5 ? "%se1" : "%s", num);
                    double wd = strtod(fl, NULL);
                    assert_int_equal(n->type, TR_F64);
                    assert_memory_equal(&n->as.f, &wd, sizeof wd);
                }
                tr_value_unref(v);
            }
        }
    }
}

/* The decoder's doubles must equal what a correctly rounding strtod gives
 * (the test runs in the C locale, so strtod is a valid oracle here). */
static void test_floats(void **state) {
    (void)state;
    const char *cases[] = {
        "1.5", "0.1", "-0.5", "1e3", "1E-2", "1e+2", "0.000001", "123456.789e-3",
        "1.7976931348623157e308", "4.9e-324", "2.2250738585072014e-308",
        "2.2250738585072011e-308", "9007199254740993.0", "9007199254740993e0",
        "0.30000000000000004", "3.141592653589793238462643383279502884197", "1e-400",
        "123456789012345678901234567890", "1.00000000000000011102230246251565404236316680908203125",
        "1.00000000000000011102230246251565404236316680908203124", "7.0e-10", "8.5e22", "9e22",
        "1e23", "0e99999999999999999999", "-0.0",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tr_value v = dec(cases[i]);
        assert_int_equal(v.type, TR_F64);
        double want = strtod(cases[i], NULL);
        if (memcmp(&v.as.f, &want, sizeof want) != 0)
            print_message("%s: expected %.17g, got %.17g\n", cases[i], want, v.as.f);
        assert_memory_equal(&v.as.f, &want, sizeof want);  /* bit-exact, sign of zero too */
    }
    /* a number of thousands of digits takes the slow path */
    char big[4000];
    memset(big, '7', sizeof big - 1);
    big[1] = '.';
    big[sizeof big - 1] = 0;
    tr_value v = dec(big);
    assert_true(v.as.f == strtod(big, NULL));
}

static void test_number_errors(void **state) {
    (void)state;
    dec_err("1e400", 5, TR_EPARSE, 1, 1, "out of range");
    dec_err("-1e400", 6, TR_EPARSE, 1, 1, "out of range");
    dec_err("01", 2, TR_EPARSE, 1, 1, "leading zeros");
    dec_err("[-]", 3, TR_EPARSE, 1, 3, "expected a digit after '-'");
    dec_err("1.", 2, TR_EPARSE, 1, 3, "expected a digit after '.'");
    dec_err("1.5e", 4, TR_EPARSE, 1, 5, "exponent");
    dec_err("+1", 2, TR_EPARSE, 1, 1, "expected a value");
    dec_err(".5", 2, TR_EPARSE, 1, 1, "expected a value");
    dec_err("NaN", 3, TR_EPARSE, 1, 1, "expected a value");
    /* a number at the very end of a buffer that is not NUL-terminated */
    char buf[3] = {'1', '.', '5'};
    tr_value v;
    assert_int_equal(tr_json_decode(buf, 3, &v, NULL), 0);
    assert_true(v.as.f == 1.5);
    char buf2[4] = {'1', '2', '3', '4'};
    assert_int_equal(tr_json_decode(buf2, 2, &v, NULL), 0);
    assert_int_equal(v.as.i, 12);  /* expected: only len bytes read */
}

static void test_escapes(void **state) {
    (void)state;
    tr_value v = dec("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\u20AC \\ud83d\\ude00 \\u0041\"");
    const char want[] = "\" \\ / \b \f \n \r \t \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 A";
    assert_int_equal(v.as.s->len, sizeof want - 1);
    assert_memory_equal(v.as.s->data, want, sizeof want - 1);
    tr_value_unref(v);
    v = dec("\"a\\u0000b\"");  /* NUL kept inside the string */
    assert_int_equal(v.as.s->len, 3);
    assert_memory_equal(v.as.s->data, "a\0b", 3);
    enc_is(&v, "\"a\\u0000b\"");
    tr_value_unref(v);
    v = dec("\"h\xc3\xa9llo \xe2\x82\xac \xf4\x8f\xbf\xbf\"");  /* raw UTF-8 incl. U+10FFFF */
    assert_int_equal(v.as.s->len, 15);
    tr_value_unref(v);
    v = dec("{\"k\\n\":1}");
    assert_string_equal(tr_rec_at(&v, 0)->key->data, "k\n");
    tr_value_unref(v);
}

static void test_string_errors(void **state) {
    (void)state;
    dec_err("\"\\ud800\"", 8, TR_EPARSE, 1, 2, "surrogate");
    dec_err("\"\\udc00\"", 8, TR_EPARSE, 1, 2, "surrogate");
    dec_err("\"\\ud800\\u0041\"", 14, TR_EPARSE, 1, 2, "surrogate");
    dec_err("\"ab\\ud800", 9, TR_EPARSE, 1, 1, "unterminated string");
    dec_err("\"ab\\u12\"", 8, TR_EPARSE, 1, 4, "4 hex digits");
    dec_err("\"\\x\"", 4, TR_EPARSE, 1, 2, "invalid escape");
    dec_err("\"a\tb\"", 5, TR_EPARSE, 1, 3, "control character");
    dec_err("\"\xff\"", 3, TR_EPARSE, 1, 2, "invalid UTF-8");
    dec_err("\"\xc0\xaf\"", 4, TR_EPARSE, 1, 2, "invalid UTF-8");      /* overlong '/' */
    dec_err("\"\xed\xa0\x80\"", 5, TR_EPARSE, 1, 2, "invalid UTF-8");  /* encoded surrogate */
    dec_err("\"\xf4\x90\x80\x80\"", 6, TR_EPARSE, 1, 2, "invalid UTF-8");  /* above U+10FFFF */
    dec_err("\"abcdefghij\xe2\x82\"", 14, TR_EPARSE, 1, 12, "invalid UTF-8");  /* truncated */
    dec_err("\"abc", 4, TR_EPARSE, 1, 1, "unterminated string");
    dec_err("\"abcdefghijklmnopqrstuvwxyz", 27, TR_EPARSE, 1, 1, "unterminated string");
    /* a string ending exactly at the buffer end is read without overrun */
    char s[9] = {'"', 'a', 'b', 'c', 'd', 'e', 'f', 'g', '"'};
    tr_value v;
    assert_int_equal(tr_json_decode(s, sizeof s, &v, NULL), 0);
    assert_int_equal(v.as.s->len, 7);
    tr_value_unref(v);
}

static void test_structure_errors(void **state) {
    (void)state;
    const char *obj = "{\"a\":1,\n  \"b\" 2}";
    dec_err(obj, strlen(obj), TR_EPARSE, 2, 7, "expected ':' after object key");
    const char *mem = "{\"a\":1 \"b\":2}";
    dec_err(mem, strlen(mem), TR_EPARSE, 1, 8, "expected ',' or '}' after object member");
    dec_err("[1,2", 4, TR_EPARSE, 1, 5, "expected ',' or ']' after array element at end of input");
    dec_err("[1,]", 4, TR_EPARSE, 1, 4, "expected a value");
    dec_err("{\"a\":1,}", 8, TR_EPARSE, 1, 8, "expected a string as object key");
    dec_err("{1:2}", 5, TR_EPARSE, 1, 2, "expected a string as object key");
    dec_err("[1] [2]", 7, TR_EPARSE, 1, 5, "unexpected text after");
    dec_err("\xef\xbb\xbf{}", 5, TR_EPARSE, 1, 1, "byte order mark");
    dec_err("", 0, TR_EPARSE, 1, 1, "expected a value");
    dec_err("   \n  ", 6, TR_EPARSE, 2, 3, "expected a value at end of input");
    dec_err("[tru]", 5, TR_EPARSE, 1, 2, "expected a value");
    dec_err("nul", 3, TR_EPARSE, 1, 1, "expected a value");
    dec_err("[1]\x00", 4, TR_EPARSE, 1, 4, "unexpected text after");
    dec_err("\n\n[\n1\n,\n", 8, TR_EPARSE, 6, 1, "expected a value");
    tr_value v;
    assert_int_equal(tr_json_decode(NULL, 0, &v, NULL), TR_EPARSE);  /* d may be NULL */
    /* the json codec names an empty frame (an empty line) in 0.11's words */
    struct tr_diag cd;
    tr_diag_clear(&cd);
    const struct tr_codec *jc = tr_codec_find("json");
    assert_non_null(jc);
    assert_int_equal(jc->decode("", 0, 0, &v, &cd), TR_EPARSE);
    assert_non_null(strstr(cd.msg, "Eof at character 0"));
    assert_int_equal(jc->decode(NULL, 0, 0, &v, NULL), TR_EPARSE);
    assert_int_equal(v.type, TR_NULL);

    /* the caller's file name is kept and shows in the formatted text */
    struct tr_diag d;
    tr_diag_clear(&d);
    snprintf(d.file, sizeof d.file, "in.json");
    assert_int_equal(tr_json_decode("[1 2]", 5, &v, &d), TR_EPARSE);
    assert_string_equal(d.file, "in.json");
    char out[1400];
    tr_diag_format(&d, out, sizeof out);
    assert_string_equal(out, "in.json:1:4: expected ',' or ']' after array element near '2]'");
}

static char *repeat(const char *open, size_t n, const char *close) {
    size_t lo = strlen(open), lc = strlen(close);
    char *s = malloc(n * (lo + lc) + 1), *p = s;
    for (size_t i = 0; i < n; i++, p += lo) memcpy(p, open, lo);
    for (size_t i = 0; i < n; i++, p += lc) memcpy(p, close, lc);
    *p = 0;
    return s;
}

static void test_depth(void **state) {
    (void)state;
    tr_value v;
    struct tr_diag d;
    char *ok = repeat("[", TR_VALUE_MAX_DEPTH, "]");
    assert_int_equal(tr_json_decode(ok, strlen(ok), &v, NULL), 0);  /* exactly the limit */
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_json_encode(&v, &b), 0);
    assert_string_equal(b.data, ok);
    /* one more level cannot even be built (the push takes v either way),
     * so every value that exists can be encoded */
    tr_value top;
    assert_int_equal(tr_v_arr(1, &top), 0);
    assert_int_equal(tr_arr_push(&top, v), TR_EDEPTH);
    assert_int_equal(tr_arr_len(&top), 0);
    tr_value_unref(top);
    tr_buf_fini(&b);
    free(ok);

    char *deep = repeat("[", TR_VALUE_MAX_DEPTH + 1, "]");
    tr_diag_clear(&d);
    assert_int_equal(tr_json_decode(deep, strlen(deep), &v, &d), TR_EDEPTH);
    assert_int_equal(d.col, TR_VALUE_MAX_DEPTH + 1);
    free(deep);
    char *objs = repeat("{\"a\":", TR_VALUE_MAX_DEPTH + 1, "}");
    assert_int_equal(tr_json_decode(objs, strlen(objs), &v, NULL), TR_EDEPTH);
    free(objs);
    /* 100k unclosed brackets: an error, not a stack overflow */
    char *huge = repeat("[", 100000, "");
    assert_int_equal(tr_json_decode(huge, strlen(huge), &v, NULL), TR_EDEPTH);
    free(huge);
}

static void test_huge_inputs(void **state) {
    (void)state;
    enum { N = 100000 };
    char *s = malloc(N * 8 + 16), *p = s;
    *p++ = '[';
    for (int i = 0; i < N; i++) p += sprintf(p, "%s%d", i ? "," : "", i);
    *p++ = ']';
    tr_value v;
    assert_int_equal(tr_json_decode(s, (size_t)(p - s), &v, NULL), 0);
    assert_int_equal(tr_arr_len(&v), N);
    assert_int_equal(tr_arr_at(&v, N - 1)->as.i, N - 1);
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_json_encode(&v, &b), 0);
    assert_int_equal(b.len, (size_t)(p - s));
    assert_memory_equal(b.data, s, b.len);
    tr_value_unref(v);
    free(s);

    /* a 1 MiB string with an escape at the very end */
    size_t n = 1 << 20;
    s = malloc(n + 8);
    s[0] = '"';
    memset(s + 1, 'x', n);
    memcpy(s + 1 + n, "\\n\"", 3);
    assert_int_equal(tr_json_decode(s, n + 4, &v, NULL), 0);
    assert_int_equal(v.as.s->len, n + 1);
    assert_int_equal(v.as.s->data[n], '\n');
    tr_buf_reset(&b);
    assert_int_equal(tr_json_encode(&v, &b), 0);
    assert_int_equal(b.len, n + 4);
    assert_memory_equal(b.data, s, n + 4);
    tr_value_unref(v);
    tr_buf_fini(&b);
    free(s);

    /* a record large enough to be indexed, with a repeated key */
    b = (struct tr_buf){0};
    tr_buf_init(&b);
    assert_int_equal(tr_buf_putc(&b, '{'), 0);
    for (int i = 0; i < 1000; i++) assert_int_equal(tr_buf_printf(&b, "\"k%d\":%d,", i, i), 0);
    assert_int_equal(tr_buf_printf(&b, "\"k7\":\"again\"}"), 0);
    assert_int_equal(tr_json_decode(b.data, b.len, &v, NULL), 0);
    assert_int_equal(tr_rec_len(&v), 1000);
    assert_int_equal(tr_rec_at(&v, 7)->val.type, TR_STR);
    tr_value_unref(v);
    tr_buf_fini(&b);
}

static void test_encode_strings(void **state) {
    (void)state;
    tr_value v;
    assert_int_equal(tr_v_cstr("q\" b\\ n\n t\t r\r \x01 \x1f \x7f /", &v), 0);
    enc_is(&v, "\"q\\\" b\\\\ n\\n t\\t r\\r \\u0001 \\u001f \x7f /\"");
    tr_value_unref(v);
    assert_int_equal(tr_v_cstr("caf\xc3\xa9 \xf0\x9f\x98\x80", &v), 0);  /* UTF-8 passes through */
    enc_is(&v, "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
    tr_value_unref(v);
    /* bytes that are not UTF-8 (a tr_str may hold anything) */
    assert_int_equal(tr_v_str("a\xff" "b\xc3", 4, &v), 0);
    enc_is(&v, "\"a\\ufffdb\\ufffd\"");
    tr_value_unref(v);
    /* long strings with escapes spread out (exercise the 8-byte scan) */
    char raw[300], want[700];
    size_t w = 0;
    want[w++] = '"';
    for (int i = 0; i < 300; i++) {
        raw[i] = (char)(i % 37 == 0 ? '"' : 'a' + i % 26);
        if (raw[i] == '"') want[w++] = '\\';
        want[w++] = raw[i];
    }
    want[w++] = '"';
    want[w] = 0;
    assert_int_equal(tr_v_str(raw, sizeof raw, &v), 0);
    enc_is(&v, want);
    tr_value_unref(v);
}

static void test_encode_numbers(void **state) {
    (void)state;
    struct {
        double f;
        const char *want;
    } cases[] = {
        /* Tremor 0.11 writes floats with ryu 1.0 (value-trait 0.2's
         * BaseGenerator::write_float -> ryu::Buffer::format_finite); the
         * layouts are ryu's pretty::format64: 1234e7 -> 12340000000.0,
         * 1234e-2 -> 12.34, 1234e-6 -> 0.001234, 1234e30 -> 1.234e33,
         * exponents without '+' or leading zeros */
        {1.0, "1.0"}, {-0.0, "-0.0"}, {0.0, "0.0"}, {0.1, "0.1"}, {-2.5, "-2.5"},
        {1e300, "1e300"}, {1.0 / 3, "0.3333333333333333"}, {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e308"}, {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {123456789012345.0, "123456789012345.0"}, {1e15, "1000000000000000.0"}, {1e16, "1e16"},
        {1234567890123456.0, "1234567890123456.0"}, {12340000000.0, "12340000000.0"}, {12.34, "12.34"},
        {0.001234, "0.001234"}, {1.234e33, "1.234e33"}, {0.0001, "0.0001"}, {0.00001, "0.00001"},
        {0.000001, "1e-6"}, {1e-7, "1e-7"}, {1.5e-7, "1.5e-7"}, {-1.5e-300, "-1.5e-300"},
        {0.30000000000000004, "0.30000000000000004"},
        /* the digits of fmtnum.c's three paths: 15 digits stripped, 16 and
         * 17 rounded from one printf, subnormals from 1 digit up */
        {6.02e23, "6.02e23"}, {1e-310, "1e-310"}, {3 * 4.9406564584124654e-324, "1.5e-323"},
        {0.1 + 0.7, "0.7999999999999999"}, {2.0 / 3, "0.6666666666666666"},
        {100.0 / 3, "33.333333333333336"}, {123456.78901234567, "123456.78901234567"},
        /* ryu's format_finite on the bit patterns of inf and NaN (0.11
         * writes 1/0 and 0/0 that way): the shortest decimal in the
         * rounding interval of 2^1024, and of 1.5 x 2^1024 */
        {INFINITY, "1.797693134862316e308"}, {-INFINITY, "-1.797693134862316e308"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tr_value v = tr_v_float(cases[i].f);
        enc_is(&v, cases[i].want);
    }
    /* a NaN's payload gives its own number, as format_finite reads the
     * bits (make difftest, float seed 20261202; values from ryu) */
    static const struct {
        uint64_t bits;
        const char *want;
    } nans[] = {
        {0x7ff8000000000000ULL, "2.696539702293474e308"},  {0xfff8000000000000ULL, "-2.696539702293474e308"},
        {0x7ff6e4cf0f4820a1ULL, "2.5722499494419587e308"}, {0x7ff05a8109e136fdULL, "1.8374144536981045e308"},
        {0x7fffffffffffffffULL, "3.5953862697246314e308"}, {0x7ff0000000000001ULL, "1.7976931348623163e308"},
    };
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        double f;
        memcpy(&f, &nans[i].bits, sizeof f);
        tr_value n = tr_v_float(f);
        enc_is(&n, nans[i].want);
    }
    tr_value v = tr_v_int(INT64_MIN);
    enc_is(&v, "-9223372036854775808");
    v = tr_v_uint(UINT64_MAX);
    enc_is(&v, "18446744073709551615");
    /* integers against snprintf around the 32-bit and 8-digit-group edges,
     * and a spread of magnitudes */
    uint64_t edges[] = {0, 9, 10, 99, 100, 99999999, 100000000, 100000001, 4294967295u, 4294967296u,
                        10000000000000000ull, 1000000000000000000ull, 1764000000123456789ull,
                        10000000000000000000ull, 9999999999999999999ull};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0] + 64; i++) {
        uint64_t u = i < sizeof edges / sizeof edges[0] ? edges[i] : 0x9E3779B97F4A7C15ull >> (i % 64);
        char want[32];
        snprintf(want, sizeof want, "%llu", (unsigned long long)u);
        v = tr_v_uint(u);
        enc_is(&v, want);
        if (u <= (uint64_t)INT64_MAX) {
            snprintf(want, sizeof want, "-%llu", (unsigned long long)u);
            v = tr_v_int(-(int64_t)u);
            if (u) enc_is(&v, want);
        }
    }
    v = tr_v_bool(0);
    enc_is(&v, "false");

    /* every double reads back bit-exact and as a float */
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double f;
        memcpy(&f, &x, sizeof f);
        if (!isfinite(f)) continue;
        struct tr_buf b;
        tr_buf_init(&b);
        v = tr_v_float(f);
        assert_int_equal(tr_json_encode(&v, &b), 0);
        tr_value back;
        assert_int_equal(tr_json_decode(b.data, b.len, &back, NULL), 0);
        assert_int_equal(back.type, TR_F64);
        if (memcmp(&back.as.f, &f, sizeof f) != 0) print_message("%.17g printed as %s\n", f, b.data);
        assert_memory_equal(&back.as.f, &f, sizeof f);
        assert_true(b.len <= 24);  /* never more than 17 significant digits */
        tr_buf_fini(&b);
    }
}

/* Does the decimal dig (n digits) x 10^e read back as f? */
static int reads_back(const char *dig, int n, int e, double f) {
    char t[64];
    snprintf(t, sizeof t, "%.*se%d", n, dig, e);
    return strtod(t, NULL) == f;
}

/* Every float prints with the fewest significant digits that read back
 * (no decimal of one digit fewer reads back: checked at printf's rounding
 * and one unit either side), in ryu's layout for its magnitude. */
static void test_encode_floats_shortest(void **state) {
    (void)state;
    uint64_t x = 88172645463325252ULL;
    static const double scales[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e12, 1e15, 1e17};
    for (int i = 0; i < 30000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double f = (double)(x % 100000000000ULL >> (x % 40)) / scales[(x >> 40) % 13];
        if (i % 3 == 0) f = (double)(x >> 11) / 9007199254740992.0 * pow(10, (int)(x % 40) - 20);
        if (i % 3 == 1) memcpy(&f, &x, sizeof f);
        if (!isfinite(f) || f == 0) continue;
        f = fabs(f);
        struct tr_buf b;
        tr_buf_init(&b);
        tr_value v = tr_v_float(f);
        assert_int_equal(tr_json_encode(&v, &b), 0);
        /* the text as digits x 10^e_last: all digits of the mantissa,
         * the exponent less the digits after the point */
        char dig[400];
        int n = 0, frac = 0, in_frac = 0, e_last = 0;
        for (const char *p = b.data; *p; p++) {
            if (*p == '.') in_frac = 1;
            else if (*p == 'e') {
                e_last = atoi(p + 1);
                break;
            } else if (n || *p != '0') {
                dig[n++] = *p;
                frac += in_frac;
            } else {
                frac += in_frac;
            }
        }
        e_last -= frac;
        while (n > 1 && dig[n - 1] == '0') {
            n--;
            e_last++;
        }
        dig[n] = 0;
        if (!reads_back(dig, n, e_last, f)) fail_msg("%.17g printed as %s does not read back", f, b.data);
        if (n > 1) {
            char t[40], lo[32];
            snprintf(t, sizeof t, "%.*e", n - 2, f);
            int m = 0;
            for (const char *p = t; *p && *p != 'e'; p++)
                if (*p >= '0' && *p <= '9') lo[m++] = *p;
            lo[m] = 0;
            int ex = atoi(strchr(t, 'e') + 1) - (m - 1);
            long long d = atoll(lo);
            for (long long k = d - 1; k <= d + 1; k++) {
                char c[32];
                int cn = snprintf(c, sizeof c, "%lld", k);
                if (cn == m && reads_back(c, cn, ex, f))
                    fail_msg("%.17g printed as %s, but %s reads back", f, b.data, c);
            }
        }
        /* layout by magnitude: kk = position of the point after dig[0] */
        int kk = e_last + n;
        int has_e = strchr(b.data, 'e') != NULL;
        if (kk > 16 || kk <= -5) assert_true(has_e);
        else assert_false(has_e);
        if (!has_e) assert_non_null(strchr(b.data, '.'));
        tr_buf_fini(&b);
    }
}

static void test_encode_binary_and_pretty(void **state) {
    (void)state;
    tr_value v;
    /* tremor-value writes bytes as a base64 string (STANDARD, padded) */
    assert_int_equal(tr_v_bin("\x00\x01\xff", 3, &v), 0);
    enc_is(&v, "\"AAH/\"");
    tr_value_unref(v);
    assert_int_equal(tr_v_bin("f", 1, &v), 0);
    enc_is(&v, "\"Zg==\"");
    tr_value_unref(v);
    assert_int_equal(tr_v_bin(NULL, 0, &v), 0);
    enc_is(&v, "\"\"");
    tr_value_unref(v);

    v = dec("{\"a\":[1,{\"b\":null},[]],\"c\":{},\"d\":\"x\"}");
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_json_encode_pretty(&v, &b), 0);
    assert_string_equal(b.data,
                        "{\n"
                        "  \"a\": [\n"
                        "    1,\n"
                        "    {\n"
                        "      \"b\": null\n"
                        "    },\n"
                        "    []\n"
                        "  ],\n"
                        "  \"c\": {},\n"
                        "  \"d\": \"x\"\n"
                        "}");
    /* pretty text decodes to the same value */
    tr_value back;
    assert_int_equal(tr_json_decode(b.data, b.len, &back, NULL), 0);
    assert_true(tr_value_eq(&v, &back));
    tr_value_unref(back);
    /* encoding appends to what is already there */
    tr_buf_reset(&b);
    assert_int_equal(tr_buf_append(&b, "prefix ", 7), 0);
    assert_int_equal(tr_json_encode(&v, &b), 0);
    assert_string_equal(b.data, "prefix {\"a\":[1,{\"b\":null},[]],\"c\":{},\"d\":\"x\"}");
    tr_buf_fini(&b);
    tr_value_unref(v);
}

static void test_round_trips(void **state) {
    (void)state;
    round_trip("{\"onramp\":\"metronome\",\"ingest_ns\":1637340000123456789,\"id\":42,\"hostname\":\"h\"}");
    round_trip("[null,true,false,-1,0.5,1e300,\"\\u0000\\n\",[],{},[[[]]],{\"\":{\"\":1}}]");
    round_trip("18446744073709551615");
    round_trip("\"\\\"\\\\\\b\\f\\n\\r\\t\\u001b\"");
}

/* A document's strings, keys and containers come from one arena block:
 * an event like the benchmarks' decodes with a single allocation, and its
 * parts outlive the document independently. */
static void test_decode_arena(void **state) {
    (void)state;
    /* the first event of demo-data/data.json, with an escaped string added */
    const char *doc =
        "{\"about\":\"Pariatur nulla tempor veniam consectetur in proident labore cillum labore. Reprehen"
        "derit nulla mollit laboris officia tempor qui id dolore dolor. Excepteur minim sit Lorem sunt ci"
        "llum. Dolor ex in aliqua Lorem minim officia cillum in consequat dolor consequat proident nostru"
        "d. Ea quis veniam magna exercitation. Laboris aute excepteur exercitation ipsum do do incididunt"
        " qui ullamco elit velit laboris est incididunt. Aliquip duis cupidatat deserunt culpa.\",\"guid\""
        ":\"a95bb929-2567-4066-8023-8bf532665121\",\"abool\":false,\"aint\":33,\"short_message\":\"info\""
        ",\"tags\":[\"tag4\",\"tag1\",\"tag2\",\"tag1\",\"tag4\"],\"array\":[0,1,2,3,4,5,6,7,8,9],\"index"
        "_type\":\"sqlserverlog\",\"logger_name\":\"logger2\",\"syslog_hostname\":\"host5\",\"application"
        "\":\"app4\",\"type\":\"syslog\",\"doc-type\":\"doc\",\"esc\":\"a\\u00e9\\n\"}";
    tr_value v;
    tr_alloc_fail_at(2, 1);  /* every allocation after the first fails */
    int rc = tr_json_decode(doc, strlen(doc), &v, NULL);
    tr_alloc_fail_at(0, 0);
    assert_int_equal(rc, 0);  /* expected: one allocation for the whole document */
    const char *blk = (const char *)v.as.r - v.as.r->blk;
    assert_true(v.as.r->blk > 0);
    for (uint32_t i = 0; i < tr_rec_len(&v); i++) {
        const struct tr_field *f = tr_rec_at(&v, i);
        assert_ptr_equal((const char *)f->key - f->key->blk, blk);
        if (f->val.type == TR_STR) assert_ptr_equal((const char *)f->val.as.s - f->val.as.s->blk, blk);
    }
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_json_encode(&v, &b), 0);
    assert_int_equal(b.len, strlen(doc) - strlen("\\u00e9") + strlen("\xc3\xa9"));

    /* parts kept past the document: a string, a nested array, a copy */
    tr_value about = tr_value_ref(*tr_rec_get_cstr(&v, "about"));
    tr_value tags = tr_value_ref(*tr_rec_get_cstr(&v, "tags"));
    tr_value copy = tr_value_ref(v);
    assert_int_equal(tr_value_mut(&copy), 0);
    assert_int_equal(tr_rec_set(&copy, "about", 5, tr_v_int(1)), 0);
    tr_value_unref(v);
    assert_int_equal(about.as.s->len, 457);
    assert_memory_equal(about.as.s->data, "Pariatur", 8);
    assert_int_equal(tr_value_mut(&tags), 0);  /* unshared now: changed in place */
    assert_int_equal(tr_arr_push(&tags, tr_value_ref(about)), 0);
    tr_value_unref(about);
    tr_value_unref(copy);
    assert_int_equal(tr_arr_len(&tags), 6);
    assert_memory_equal(tr_arr_at(&tags, 5)->as.s->data, "Pariatur", 8);
    tr_value_unref(tags);
    tr_buf_fini(&b);
    /* teardown: nothing left of the block */
}

/* More strings than the first block holds, and objects too big for any
 * block, decode the same as ever. */
static void test_decode_arena_spill(void **state) {
    (void)state;
    struct tr_buf in, out;
    tr_buf_init(&in);
    tr_buf_init(&out);
    assert_int_equal(tr_buf_append(&in, "[", 1), 0);
    for (int i = 0; i < 2000; i++) assert_int_equal(tr_buf_append(&in, i ? ",\"a\"" : "\"a\"", i ? 4 : 3), 0);
    assert_int_equal(tr_buf_append(&in, ",\"", 2), 0);
    for (int i = 0; i < 100000; i++) assert_int_equal(tr_buf_append(&in, "x", 1), 0);
    assert_int_equal(tr_buf_append(&in, "\",{\"k\":\"v\"}]", 12), 0);
    tr_value v;
    assert_int_equal(tr_json_decode(in.data, in.len, &v, NULL), 0);
    assert_int_equal(tr_arr_len(&v), 2002);
    assert_int_equal(tr_arr_at(&v, 2000)->as.s->blk, 0);  /* its own allocation */
    assert_int_equal(tr_json_encode(&v, &out), 0);
    assert_int_equal(out.len, in.len);
    assert_memory_equal(out.data, in.data, in.len);
    tr_value_unref(v);
    tr_buf_fini(&in);
    tr_buf_fini(&out);
}

/* One allocation failing (not the ones after it): the decoder's objects
 * fall back to their own allocations or fail cleanly. */
static void test_decode_single_failures(void **state) {
    (void)state;
    const char *doc = "{\"a\":[1,2,{\"b\":\"x\\ny\"}],\"c\":\"long enough string\",\"d\":{\"e\":[[],[1.5]]}}";
    tr_value want = dec(doc);
    for (uint64_t n = 1; n < 12; n++) {
        tr_value v;
        tr_alloc_fail_at(n, 0);
        int rc = tr_json_decode(doc, strlen(doc), &v, NULL);
        tr_alloc_fail_at(0, 0);
        if (rc == 0) {
            assert_true(tr_value_eq(&v, &want));
            tr_value_unref(v);
        } else {
            assert_int_equal(rc, -ENOMEM);
        }
    }
    tr_value_unref(want);
}

/* The decoder and encoder under every possible allocation failure: a clean
 * -ENOMEM (never a crash), nothing leaked, the output buffer unchanged. */
static void test_alloc_failures(void **state) {
    (void)state;
    const char *doc = "{\"a\":[1,2,{\"b\":\"x\\ny\"}],\"c\":\"long enough string\",\"d\":{\"e\":[[],[1.5]]},"
                      "\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,"
                      "\"k9\":9,\"k10\":10,\"k11\":11,\"k12\":12,\"k13\":13,\"k14\":14,\"k15\":15,\"k16\":16}";
    int succeeded = 0;
    for (uint64_t n = 1; n < 200 && !succeeded; n++) {
        tr_value v;
        struct tr_diag d;
        tr_alloc_fail_at(n, 1);
        int rc = tr_json_decode(doc, strlen(doc), &v, &d);
        tr_alloc_fail_at(0, 0);
        if (rc == 0) {
            succeeded = 1;
            tr_value_unref(v);
        } else {
            assert_int_equal(rc, -ENOMEM);
            assert_int_equal(v.type, TR_NULL);
        }
        assert_int_equal(tr_alloc_used(), baseline);
    }
    assert_true(succeeded);  /* expected: enough room eventually */

    tr_value v = dec(doc);
    succeeded = 0;
    for (uint64_t n = 1; n < 50 && !succeeded; n++) {
        struct tr_buf b;
        tr_buf_init(&b);
        tr_alloc_fail_at(n, 1);
        int rc = tr_json_encode(&v, &b);
        tr_alloc_fail_at(0, 0);
        if (rc == 0)
            succeeded = 1;
        else
            assert_int_equal(b.len, 0);
        tr_buf_fini(&b);
    }
    assert_true(succeeded);
    tr_value_unref(v);
}

/* Decimal points must not follow the process locale. Skipped when no
 * comma-decimal locale is installed. */
static void test_locale(void **state) {
    (void)state;
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "de_DE", "fr_FR"};
    const char *got = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !got; i++) got = setlocale(LC_NUMERIC, names[i]);
    if (!got) skip();
    tr_value v = dec("[1.5,2.25e-3,0.1]");
    tr_value *a = tr_arr_at(&v, 0), *b = tr_arr_at(&v, 1), *c = tr_arr_at(&v, 2);
    int ok = a->as.f == 1.5 && b->as.f == 2.25e-3 && c->as.f == 0.1;
    struct tr_buf buf;
    tr_buf_init(&buf);
    int rc = tr_json_encode(&v, &buf);
    setlocale(LC_NUMERIC, "C");
    assert_true(ok);
    assert_int_equal(rc, 0);
    assert_string_equal(buf.data, "[1.5,0.00225,0.1]");
    tr_buf_fini(&buf);
    tr_value_unref(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_decode_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_arena, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_arena_spill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_single_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicate_keys_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_integers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_floats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_number_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_string_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_structure_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encode_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encode_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encode_floats_shortest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encode_binary_and_pretty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_integer_lengths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locale, setup, teardown),
    };
    /* every test once per string scanner this CPU can run (json_scan.h) */
    int failed = 0;
    for (int k = 0; k < TR_JSON_SCAN_KINDS; k++) {
        if (tr_json_scan_use((enum tr_json_scan_kind)k)) continue;
        print_message("string scanner %s:\n", tr_json_scan_name((enum tr_json_scan_kind)k));
        failed += cmocka_run_group_tests(tests, NULL, NULL);
    }
    return failed;
}
