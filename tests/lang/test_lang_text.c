/* test_lang_text.c - text and number fidelity with Tremor 0.11: Unicode
 * case mapping and trimming, lossy UTF-8 decoding, float printing in
 * JSON, interpolation and array::join, float literals of any length, and
 * the base64 extractor. Expected values come from 0.11's own tests or
 * from Rust's documented behaviour (cited at each case). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "codec/json.h"
#include "core/alloc.h"
#include "lang/lang.h"
#include "lang/script.h"

/* Run src on the JSON event in; the output event as JSON, "DROP", or
 * "ERROR: <message>". */
static char *run_script(const char *src, const char *in) {
    struct tr_script *s;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_script_compile("t.tremor", src, strlen(src), &s, &d);
    if (rc) fail_msg("compile failed: %s (%d:%d)", d.msg, d.line, d.col);
    tr_value ev, meta, state = tr_v_null();
    assert_int_equal(0, tr_json_decode(in, strlen(in), &ev, NULL));
    tr_v_rec(0, &meta);
    enum tr_script_outcome oc;
    const char *port;
    struct tr_lang_ctx ctx = {.instance = "tremor", .ingest_ns = 0};
    tr_diag_clear(&d);
    rc = tr_script_run(s, &ctx, &ev, &meta, &state, &oc, &port, &d);
    struct tr_buf b;
    tr_buf_init(&b);
    if (rc) {
        assert_int_equal(0, tr_buf_append(&b, "ERROR: ", 7));
        assert_int_equal(0, tr_buf_append(&b, d.msg, strlen(d.msg)));
    } else if (oc == TR_SCRIPT_DROP) {
        assert_int_equal(0, tr_buf_append(&b, "DROP", 4));
    } else {
        assert_int_equal(0, tr_json_encode(&ev, &b));
    }
    tr_value_unref(ev);
    tr_value_unref(meta);
    tr_value_unref(state);
    tr_script_destroy(s);
    return tr_buf_steal(&b, NULL);
}

static void expect(const char *src, const char *want) {
    char *got = run_script(src, "null");
    if (strcmp(got, want) != 0) fail_msg("script %s\n  expected %s\n  actual   %s", src, want, got);
    tr_free(got);
}

static void expect_error(const char *src, const char *part) {
    char *got = run_script(src, "null");
    if (strncmp(got, "ERROR", 5) != 0 || !strstr(got, part))
        fail_msg("script %s\n  expected an error with '%s'\n  actual   %s", src, part, got);
    tr_free(got);
}

static void case_mapping(void **st) {
    (void)st;
    /* Rust, str::to_uppercase: "tschüß" -> "TSCHÜSS" (one char may become two) */
    expect("use std::string; string::uppercase(\"tschüß\")", "\"TSCHÜSS\"");
    expect("use std::string; string::uppercase(\"straße\")", "\"STRASSE\"");
    expect("use std::string; string::lowercase(\"ÉCOLE\")", "\"école\"");
    /* Rust, str::to_lowercase: "ὈΔΥΣΣΕΎΣ" -> "ὀδυσσεύς" (word-final sigma) */
    expect("use std::string; string::lowercase(\"ὈΔΥΣΣΕΎΣ\")", "\"ὀδυσσεύς\"");
    /* 0.11 std_lib/string.rs tests */
    expect("use std::string; string::uppercase(\"this is a test\")", "\"THIS IS A TEST\"");
    expect("use std::string; string::lowercase(\"THIS IS A TEST\")", "\"this is a test\"");
    expect("use std::string; string::capitalize(\"this is a test\")", "\"This is a test\"");
    /* capitalize is char::to_uppercase of the first char ('ß' -> "SS",
     * Rust's documented example) and the rest unchanged */
    expect("use std::string; string::capitalize(\"ßa B\")", "\"SSa B\"");
    expect("use std::string; string::capitalize(\"éCOLE\")", "\"ÉCOLE\"");
    expect("use std::string; string::capitalize(\"\")", "\"\"");
}

static void trimming(void **st) {
    (void)st;
    /* 0.11 std_lib/string.rs tests, non-breaking spaces included */
    expect("use std::string; string::trim(\"   \")", "\"\"");
    expect("use std::string; string::trim(\" this is a test \")", "\"this is a test\"");
    expect("use std::string; string::trim(\"\\u00A0\\u00A0this is a test\\u00A0\\u00A0\")", "\"this is a test\"");
    expect("use std::string; string::trim_start(\" this is a test \")", "\"this is a test \"");
    expect("use std::string; string::trim_end(\" this is a test \")", "\" this is a test\"");
    /* Rust, str::trim: "\n Hello\tworld\t\n" -> "Hello\tworld"; White_Space
     * includes U+0085, U+2028, U+3000 (char::is_whitespace) */
    expect("use std::string; string::trim(\"\\n Hello\\tworld\\t\\n\")", "\"Hello\\tworld\"");
    expect("use std::string; string::trim_start(\"\\u3000\\u0085x\\u2028\")", "\"x\u2028\"");
    expect("use std::string; string::trim_end(\"\\u3000x\\u2028\\u202F\")", "\"\u3000x\"");
    /* not White_Space: U+200B ZERO WIDTH SPACE stays */
    expect("use std::string; string::trim(\"\\u200Bx\")", "\"\u200Bx\"");
}

static void lossy_utf8(void **st) {
    (void)st;
    /* 0.11 std_lib/string.rs test: b"badger\xF0\x90\x80" -> "badger\u{FFFD}" */
    expect("use std::string; string::from_utf8_lossy(<<\"badger\"/binary, 0xF0, 0x90, 0x80>>)", "\"badger\uFFFD\"");
    /* Rust, String::from_utf8_lossy: b"Hello \xF0\x90\x80World" -> "Hello \u{FFFD}World" */
    expect("use std::string; string::from_utf8_lossy(<<\"Hello \"/binary, 0xF0, 0x90, 0x80, \"World\"/binary>>)",
           "\"Hello \uFFFDWorld\"");
    /* The Unicode Standard, ch. 3, "U+FFFD Substitution of Maximal
     * Subparts" (the practice Rust follows): 61 F1 80 80 E1 80 C2 62 80 63
     * 80 BF 64 -> a FFFD FFFD FFFD b FFFD c FFFD FFFD d */
    expect("use std::string; string::from_utf8_lossy(<<0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, "
           "0x63, 0x80, 0xBF, 0x64>>)",
           "\"a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd\"");
    /* a surrogate (ED A0 80) and an overlong form (C0 AF) have no valid
     * prefix longer than one byte: one U+FFFD per byte */
    expect("use std::string; string::from_utf8_lossy(<<0xED, 0xA0, 0x80, 0xC0, 0xAF>>)",
           "\"\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\"");
    expect("use std::string; string::from_utf8_lossy(<<0xF4, 0x90, 0x80, 0x80, 0x41>>)",
           "\"\uFFFD\uFFFD\uFFFD\uFFFDA\"");
}

static void char_counts(void **st) {
    (void)st;
    /* 0.11 std_lib/string.rs tests */
    expect("use std::string; string::len(\"this is another test ♥\")", "22");
    expect("use std::string; string::bytes(\"this is another test ♥\")", "24");
    expect("use std::string; string::substr(\"♥ utf8\", 0, 1)", "\"♥\"");
    expect("use std::string; string::substr(\"♥ utf8\", 2, 6)", "\"utf8\"");
    expect("use std::string; string::split(\"this is a test\", \" \")", "[\"this\",\"is\",\"a\",\"test\"]");
    /* Rust, str::split with "": "", each char, "" */
    expect("use std::string; string::split(\"é♥\", \"\")", "[\"\",\"é\",\"♥\",\"\"]");
}

static void float_printing(void **st) {
    (void)st;
    /* JSON output and interpolation both use tremor-value's encode()
     * (ryu 1.0, see core/fmtnum.h) */
    expect("[1.0e300, 1000000000000000.0, 10000000000000000.0, 0.1, -0.0, 0.0000001, 0.00001]",
           "[1e300,1000000000000000.0,1e16,0.1,-0.0,1e-7,0.00001]");
    expect("\"#{1.0e300} #{0.1} #{1.5}\"", "\"1e300 0.1 1.5\"");
    expect("use std::string; string::format(\"{} {}\", 1.0e-7, 2.0)", "\"1e-7 2.0\"");
    /* 1 / 0 is a float division in 0.11 (interpreter.rs), and ryu's
     * format_finite prints infinity's bit pattern as a number */
    expect("1 / 0", "1.797693134862316e308");
    /* array::join uses Rust's ToString: `{}` never uses an exponent and
     * drops ".0" (Rust 1.52, 0.11's toolchain: -0.0 prints as "0") */
    expect("use std::array; array::join([1.0, 0.1, 1.0e20, -0.0, 1.0e-7, 1, \"s\"], \",\")",
           "\"1,0.1,100000000000000000000,0,0.0000001,1,s\"");
    /* a double exactly halfway between its two shortest decimals: ryu
     * (JSON) keeps the even one, Rust's {} the upper one (make difftest,
     * float seed 20261202: 431ed4d4c69b2359 and 3e60000000000000) */
    expect("use std::array; array::join([2169564907882710.25, 0.0000000298023223876953125], \",\")",
           "\"2169564907882710.3,0.000000029802322387695313\"");
    expect("[2169564907882710.25, 0.0000000298023223876953125]", "[2169564907882710.2,2.9802322387695312e-8]");
}

static void long_float_literals(void **st) {
    (void)st;
    /* a literal is read from all its digits, correctly rounded */
    char src[1024];
    size_t n = 0;
    src[n++] = '1';
    for (int i = 0; i < 299; i++) src[n++] = '0';
    memcpy(src + n, ".0", 3);
    expect(src, "1e299");
    n = 0;
    memcpy(src, "0.1", 3);
    n = 3;
    for (int i = 0; i < 400; i++) src[n++] = '0';
    memcpy(src + n, "1", 2);
    expect(src, "0.1");
    /* 0.30000000000000001665... lies above the midpoint between the
     * doubles 0.3 and 0.30000000000000004: only the 40th digit decides */
    expect("0.3000000000000000166533453693773481063545", "0.30000000000000004");
    expect("0.3000000000000000166533453693773481063544", "0.3");
}

static void base64_everywhere(void **st) {
    (void)st;
    /* 0.11 tilde.rs test: "8J+agHNuZWFreSByb2NrZXQh" -> "🚀sneaky rocket!" */
    expect("match \"8J+agHNuZWFreSByb2NrZXQh\" of case r = ~ base64|| => r default => \"no\" end",
           "\"🚀sneaky rocket!\"");
    /* the base64 crate 0.13 (0.11's decoder): padding optional, may stop
     * short, '=' not before the group's third position, zero spare bits */
    expect("match \"Zg\" of case r = ~ base64|| => r default => \"no\" end", "\"f\"");
    expect("match \"Zg=\" of case r = ~ base64|| => r default => \"no\" end", "\"f\"");
    expect("match \"Zh==\" of case r = ~ base64|| => r default => \"no\" end", "\"no\"");
    expect("match \"Z===\" of case r = ~ base64|| => r default => \"no\" end", "\"no\"");
    expect("match \"Zm9v YmFy\" of case r = ~ base64|| => r default => \"no\" end", "\"no\"");
    /* std::base64 uses the same decoder */
    expect("use std::base64; use std::binary; binary::into_bytes(base64::decode(\"Zg=\"))", "[102]");
    /* base64 of bytes that are not UTF-8 is an extractor error in 0.11 */
    expect_error("match \"/w==\" of case r = ~ base64|| => r default => \"no\" end", "utf-8");
    /* binaries in JSON output: base64 (tremor-value serialize.rs) ... */
    expect("<<1, 2, 3>>", "\"AQID\"");
    expect("\"#{<<1, 2, 3>>}\"", "\"\\\"AQID\\\"\"");
    /* ... but json::encode goes through simd-json 0.4's serde serializer,
     * whose serialize_bytes writes an array of numbers */
    expect("use std::json; json::encode(<<1, 2, 255>>)", "\"[1,2,255]\"");
    expect("use std::json; json::encode([<<>>, 0.1, 1.0e300])", "\"[[],0.1,1e300]\"");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(case_mapping),     cmocka_unit_test(trimming),
        cmocka_unit_test(lossy_utf8),       cmocka_unit_test(char_counts),
        cmocka_unit_test(float_printing),   cmocka_unit_test(long_float_literals),
        cmocka_unit_test(base64_everywhere),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
