/* test_json_scan.c - the JSON string scanner's variants against a byte loop,
 * and the JSON codec with each variant against the portable one.
 *
 * Every buffer is allocated at exactly its length, so under ASan a variant
 * that reads one byte too far fails here. The random inputs come from a
 * fixed seed: a failure names the case and repeats.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "codec/json_scan.h"
#include "core/alloc.h"
#include "core/buf.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32) % n;
}

static size_t ref_scan(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] == '"' || p[i] == '\\' || p[i] < 0x20 || p[i] >= 0x80) return i;
    return n;
}

/* Variants this CPU can run, portable first. */
static int kinds[TR_JSON_SCAN_KINDS], nkinds;

static int setup(void **state) {
    (void)state;
    nkinds = 0;
    for (int k = 0; k < TR_JSON_SCAN_KINDS; k++)
        if (tr_json_scan_available((enum tr_json_scan_kind)k)) kinds[nkinds++] = k;
    return 0;
}

/* The choice made before main: the widest variant the CPU has (SSE4.2 is
 * never preferred, see json_scan.c). Must run before any other test
 * switches variants. */
static void test_startup_choice(void **state) {
    (void)state;
    enum tr_json_scan_kind want = TR_JSON_SCAN_PORTABLE;
    if (tr_json_scan_available(TR_JSON_SCAN_SSE2)) want = TR_JSON_SCAN_SSE2;
    if (tr_json_scan_available(TR_JSON_SCAN_AVX2)) want = TR_JSON_SCAN_AVX2;
    print_message("string scanners available:");
    for (int i = 0; i < nkinds; i++) print_message(" %s", tr_json_scan_name((enum tr_json_scan_kind)kinds[i]));
    print_message("; chosen at start-up: %s\n", tr_json_scan_name(tr_json_scan_current()));
    assert_int_equal(tr_json_scan_current(), want);
    assert_true(tr_json_scan_available(TR_JSON_SCAN_PORTABLE));
    assert_int_not_equal(tr_json_scan_use(TR_JSON_SCAN_KINDS), 0);
#if defined(__x86_64__)
    assert_true(tr_json_scan_available(TR_JSON_SCAN_SSE2));  /* every x86-64 has it */
#endif
}

static void check_scan(const uint8_t *p, size_t n, const char *what) {
    size_t want = ref_scan(p, n);
    for (int i = 0; i < nkinds; i++) {
        assert_int_equal(tr_json_scan_use((enum tr_json_scan_kind)kinds[i]), 0);
        size_t got = tr_json_scan(p, n);
        if (got != want)
            print_message("%s: %s scanner says %zu, expected %zu (length %zu)\n", what,
                          tr_json_scan_name((enum tr_json_scan_kind)kinds[i]), got, want, n);
        assert_int_equal(got, want);
        got = tr_json_scan_str(p, n);   /* its inline first 16 bytes, then the variant */
        if (got != want)
            print_message("%s: tr_json_scan_str with %s says %zu, expected %zu (length %zu)\n", what,
                          tr_json_scan_name((enum tr_json_scan_kind)kinds[i]), got, want, n);
        assert_int_equal(got, want);
    }
}

/* One byte of each class at every position of clean buffers of every
 * length up to 100 and every alignment: the vector steps' edges, the tails
 * and the signed compare's boundaries (0x1f/0x20, 0x7f/0x80). */
static void test_scan_each_position(void **state) {
    (void)state;
    static const uint8_t bytes[] = {0x00, 0x01, 0x1f, '"', '\\', 0x80, 0xbf, 0xc3, 0xf4, 0xff,  /* special */
                                    0x20, 0x21, 0x7f, 'a', '/', '#', ']', '[', '~'};          /* not */
    char what[96];
    for (size_t off = 0; off < 4; off++) {
        for (size_t n = 0; n <= 100; n++) {
            uint8_t *blk = malloc(n + off ? n + off : 1);
            assert_non_null(blk);
            uint8_t *p = blk + off;
            memset(blk, 'x', n + off);
            snprintf(what, sizeof what, "clean, length %zu, offset %zu", n, off);
            check_scan(p, n, what);
            for (size_t pos = 0; pos < n; pos++) {
                for (size_t b = 0; b < sizeof bytes; b++) {
                    p[pos] = bytes[b];
                    snprintf(what, sizeof what, "byte 0x%02x at %zu, length %zu, offset %zu", bytes[b], pos, n, off);
                    check_scan(p, n, what);
                }
                p[pos] = 'x';
            }
            free(blk);
        }
    }
}

static void test_scan_random(void **state) {
    (void)state;
    char what[64];
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = rnd(300);
        uint32_t density = 1 + rnd(200);
        uint8_t *p = malloc(n ? n : 1);
        assert_non_null(p);
        for (size_t i = 0; i < n; i++) p[i] = rnd(density) ? (uint8_t)(0x20 + rnd(0x60)) : (uint8_t)rnd(256);
        snprintf(what, sizeof what, "random case %d", iter);
        /* from every start, as the decoder calls it after each special byte */
        for (size_t s = 0; s <= n; s += 1 + rnd(7)) check_scan(p + s, n - s, what);
        free(p);
    }
}

/* ------------------------------------------------------------------ */
/* the codec with each variant against the portable one               */

static void gen_string(struct tr_buf *b) {
    static const char *pieces[] = {"\\n", "\\\"", "\\\\", "\\/", "\\u00e9", "\\ud83d\\ude00", "\\u0000",
                                   "\xc3\xa9", "\xf0\x9f\x98\x80", "\xe4\xb8\xad", "\\t", "\\u12"};
    assert_int_equal(tr_buf_putc(b, '"'), 0);
    int parts = (int)rnd(6);
    for (int i = 0; i < parts; i++) {
        size_t run = rnd(4) ? rnd(12) : rnd(90);
        for (size_t k = 0; k < run; k++) assert_int_equal(tr_buf_putc(b, (char)('a' + rnd(26))), 0);
        if (rnd(3) == 0) {
            const char *pc = pieces[rnd(sizeof pieces / sizeof pieces[0])];
            assert_int_equal(tr_buf_append(b, pc, strlen(pc)), 0);
        }
    }
    assert_int_equal(tr_buf_putc(b, '"'), 0);
}

static void gen_value(struct tr_buf *b, int depth) {
    uint32_t k = rnd(depth > 3 ? 5 : 8);
    switch (k) {
    case 0: gen_string(b); break;
    case 1: assert_int_equal(tr_buf_printf(b, "%d", (int)rnd(100000) - 50000), 0); break;
    case 2: assert_int_equal(tr_buf_printf(b, "%u.%ue%d", rnd(1000), rnd(1000), (int)rnd(40) - 20), 0); break;
    case 3: assert_int_equal(tr_buf_append(b, rnd(2) ? "true" : "null", 4), 0); break;
    case 4: gen_string(b); break;
    case 5:
    case 6: {
        int n = (int)rnd(18);  /* around value.c's 16-field index threshold */
        assert_int_equal(tr_buf_putc(b, '{'), 0);
        for (int i = 0; i < n; i++) {
            if (i) assert_int_equal(tr_buf_putc(b, ','), 0);
            if (rnd(4) == 0)
                assert_int_equal(tr_buf_printf(b, "\"k%u\"", rnd(4)), 0);  /* repeated keys */
            else
                gen_string(b);
            const char *colon = rnd(3) ? ":" : " : ";
            assert_int_equal(tr_buf_append(b, colon, strlen(colon)), 0);
            gen_value(b, depth + 1);
        }
        assert_int_equal(tr_buf_putc(b, '}'), 0);
        break;
    }
    default: {
        int n = (int)rnd(6);
        assert_int_equal(tr_buf_putc(b, '['), 0);
        for (int i = 0; i < n; i++) {
            if (i) assert_int_equal(tr_buf_append(b, ", ", 1 + rnd(2)), 0);
            gen_value(b, depth + 1);
        }
        assert_int_equal(tr_buf_putc(b, ']'), 0);
    }
    }
}

/* Break a document the ways input breaks: flipped bytes, raw control and
 * non-UTF-8 bytes, truncation. */
static void mutate(struct tr_buf *b) {
    static const uint8_t evil[] = {0x00, 0x01, 0x1f, '"', '\\', 0x80, 0xc0, 0xed, 0xf5, 0xff, '\n', '{', ']'};
    int n = 1 + (int)rnd(3);
    for (int i = 0; i < n && b->len; i++) {
        size_t at = rnd((uint32_t)b->len);
        if (rnd(4) == 0)
            b->len = at;
        else
            b->data[at] = (char)evil[rnd(sizeof evil)];
    }
}

struct result {
    int rc, line, col;
    char msg[sizeof ((struct tr_diag *)0)->msg];
    struct tr_buf text;  /* the decoded value re-encoded */
};

static void decode_with(const char *doc, size_t len, struct result *r) {
    tr_value v;
    struct tr_diag d;
    tr_diag_clear(&d);
    /* exactly len bytes, so reading past the document is an ASan error */
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, doc, len);
    r->rc = tr_json_decode(copy, len, &v, &d);
    free(copy);
    r->line = r->rc ? d.line : 0;
    r->col = r->rc ? d.col : 0;
    snprintf(r->msg, sizeof r->msg, "%s", r->rc ? d.msg : "");
    tr_buf_init(&r->text);
    if (!r->rc) {
        assert_int_equal(tr_json_encode(&v, &r->text), 0);
        tr_value_unref(v);
    }
}

static void test_decode_differential(void **state) {
    (void)state;
    size_t base = tr_alloc_used();
    int ok = 0, bad = 0;
    for (int iter = 0; iter < 4000; iter++) {
        struct tr_buf doc;
        tr_buf_init(&doc);
        gen_value(&doc, 0);
        if (rnd(3) == 0) mutate(&doc);
        struct result want, got;
        assert_int_equal(tr_json_scan_use(TR_JSON_SCAN_PORTABLE), 0);
        decode_with(doc.data, doc.len, &want);
        if (want.rc)
            bad++;
        else
            ok++;
        for (int i = 1; i < nkinds; i++) {
            assert_int_equal(tr_json_scan_use((enum tr_json_scan_kind)kinds[i]), 0);
            decode_with(doc.data, doc.len, &got);
            if (got.rc != want.rc || got.line != want.line || got.col != want.col ||
                strcmp(got.msg, want.msg) || got.text.len != want.text.len ||
                (want.text.len && memcmp(got.text.data, want.text.data, want.text.len)))
                print_message("case %d, %s scanner: rc %d %d:%d '%s' '%s', portable: rc %d %d:%d '%s' '%s'\n"
                              "  input: %.*s\n",
                              iter, tr_json_scan_name((enum tr_json_scan_kind)kinds[i]), got.rc, got.line, got.col,
                              got.msg, got.text.data ? got.text.data : "", want.rc, want.line, want.col, want.msg,
                              want.text.data ? want.text.data : "", (int)doc.len, doc.data);
            assert_int_equal(got.rc, want.rc);
            assert_int_equal(got.line, want.line);
            assert_int_equal(got.col, want.col);
            assert_string_equal(got.msg, want.msg);
            assert_int_equal(got.text.len, want.text.len);
            if (want.text.len) assert_memory_equal(got.text.data, want.text.data, want.text.len);
            tr_buf_fini(&got.text);
        }
        tr_buf_fini(&want.text);
        tr_buf_fini(&doc);
    }
    print_message("decoded %d documents and rejected %d with every scanner alike\n", ok, bad);
    assert_true(ok > 1000 && bad > 500);  /* expected: both paths were exercised */
    assert_int_equal(tr_alloc_used(), base);
}

/* The encoder sees strings the decoder never makes (any bytes, including
 * invalid UTF-8, from scripts and binary codecs). */
static void test_encode_differential(void **state) {
    (void)state;
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = rnd(4) ? rnd(40) : rnd(400);
        uint32_t density = 1 + rnd(60);
        char *s = malloc(n ? n : 1);
        assert_non_null(s);
        for (size_t i = 0; i < n; i++) s[i] = (char)(rnd(density) ? 0x20 + rnd(0x5f) : rnd(256));
        tr_value v;
        assert_int_equal(tr_v_str(s, n, &v), 0);
        free(s);
        struct tr_buf want, got;
        tr_buf_init(&want);
        assert_int_equal(tr_json_scan_use(TR_JSON_SCAN_PORTABLE), 0);
        assert_int_equal(tr_json_encode(&v, &want), 0);
        for (int i = 1; i < nkinds; i++) {
            assert_int_equal(tr_json_scan_use((enum tr_json_scan_kind)kinds[i]), 0);
            tr_buf_init(&got);
            assert_int_equal(tr_json_encode(&v, &got), 0);
            if (got.len != want.len || memcmp(got.data, want.data, got.len))
                print_message("case %d, %s scanner: '%s', portable: '%s'\n", iter,
                              tr_json_scan_name((enum tr_json_scan_kind)kinds[i]), got.data, want.data);
            assert_int_equal(got.len, want.len);
            assert_memory_equal(got.data, want.data, got.len);
            tr_buf_fini(&got);
        }
        tr_buf_fini(&want);
        tr_value_unref(v);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_startup_choice),
        cmocka_unit_test(test_scan_each_position),
        cmocka_unit_test(test_scan_random),
        cmocka_unit_test(test_decode_differential),
        cmocka_unit_test(test_encode_differential),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
