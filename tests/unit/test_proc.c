/* test_proc.c - pre- and postprocessors: lines, length-prefixed,
 * textual-length-prefix, base64, remove-empty, and chains of them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "codec/base64.h"
#include "codec/proc.h"
#include "core/alloc.h"
#include "core/budget.h"

struct frames {
    char got[16][64];
    int n;
};

static int collect(void *arg, const char *data, size_t len) {
    struct frames *f = arg;
    assert_true(f->n < 16);
    assert_true(len < 64);
    memcpy(f->got[f->n], data, len);
    f->got[f->n][len] = 0;
    f->n++;
    return 0;
}

static void lines_split_across_feeds(void **state) {
    (void)state;
    char *names[] = {"lines"};
    struct tr_preproc *pp;
    assert_int_equal(tr_preproc_create(names, 1, &pp), 0);
    struct frames f = {.n = 0};
    assert_int_equal(tr_preproc_feed(pp, "ab\ncd", 5, collect, &f), 0);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.got[0], "ab");
    assert_int_equal(tr_preproc_feed(pp, "e\n\nfg", 5, collect, &f), 0);
    assert_int_equal(f.n, 3);
    assert_string_equal(f.got[1], "cde");
    assert_string_equal(f.got[2], "");
    assert_int_equal(tr_preproc_finish(pp, collect, &f), 0);
    assert_int_equal(f.n, 4);
    assert_string_equal(f.got[3], "fg");
    tr_preproc_destroy(pp);
}

static void lines_too_long_is_dropped_and_counted(void **state) {
    (void)state;
    char *names[] = {"lines"};
    struct tr_preproc *pp;
    assert_int_equal(tr_preproc_create(names, 1, &pp), 0);
    size_t big = TR_PROC_MAX_LINE + 10;
    char *blob = tr_malloc(big);
    assert_non_null(blob);
    memset(blob, 'x', big);
    struct frames f = {.n = 0};
    assert_int_equal(tr_preproc_feed(pp, "x", 1, collect, &f), 0);
    assert_int_equal(tr_preproc_feed(pp, blob, big, collect, &f), 0);
    assert_int_equal(tr_preproc_feed(pp, "yy\nok\n", 6, collect, &f), 0);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.got[0], "ok");
    assert_int_equal(tr_preproc_dropped(pp), 1);
    tr_free(blob);
    tr_preproc_destroy(pp);
}

static void unknown_names_are_rejected(void **state) {
    (void)state;
    char *names[] = {"lines", "gzip-nope"};
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_preproc_check(names, 2, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "gzip-nope"));
    struct tr_preproc *pp;
    assert_int_equal(tr_preproc_create(names, 2, &pp), TR_EINVAL_CFG);
}

static void postproc_lines_appends_newline(void **state) {
    (void)state;
    char *names[] = {"lines"};
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_buf_append(&b, "{}", 2), 0);
    assert_int_equal(tr_postproc_apply(names, 1, &b), 0);
    assert_int_equal(b.len, 3);
    assert_string_equal(b.data, "{}\n");
    tr_buf_fini(&b);
}

/* A chain kept across runs (as an offramp keeps it): `lines` alone adds
 * the separator to the caller's bytes in place, one chunk, run after run,
 * with the other chains before and after it unchanged; `lines` inside a
 * longer chain still frames each chunk. */
static void postproc_lines_chain_reused(void **state) {
    (void)state;
    char *one[] = {"lines"}, *two[] = {"length-prefixed", "lines"};
    struct tr_postproc *a, *c;
    assert_int_equal(tr_postproc_create(one, 1, &a), 0);
    assert_int_equal(tr_postproc_create(two, 2, &c), 0);
    struct tr_buf b;
    tr_buf_init(&b);
    for (int i = 0; i < 3; i++) {
        char want[32];
        tr_buf_reset(&b);
        int n = snprintf(want, sizeof want, "{\"i\":%d}", i);
        assert_int_equal(tr_buf_append(&b, want, (size_t)n), 0);
        assert_int_equal(tr_postproc_run(a, 0, &b), 0);
        assert_int_equal(b.len, (size_t)n + 1);
        assert_memory_equal(b.data, want, (size_t)n);
        assert_int_equal(b.data[n], '\n');
        assert_int_equal(b.data[n + 1], 0);
        assert_int_equal(tr_postproc_chunks(a), 1);
        assert_int_equal(tr_postproc_chunk_end(a, 0), (size_t)n + 1);
        tr_buf_reset(&b);
        assert_int_equal(tr_buf_append(&b, "xy", 2), 0);
        assert_int_equal(tr_postproc_run(c, 0, &b), 0);
        assert_int_equal(b.len, 8 + 2 + 1);
        assert_memory_equal(b.data, "\0\0\0\0\0\0\0\2xy\n", 11);
        assert_int_equal(tr_postproc_chunks(c), 1);
    }
    tr_buf_fini(&b);
    tr_postproc_destroy(a);
    tr_postproc_destroy(c);
}


static void be64(unsigned char *p, uint64_t v) {
    for (int k = 7; k >= 0; k--, v >>= 8) p[k] = (unsigned char)v;
}

static void length_prefixed_split_anywhere(void **state) {
    (void)state;
    char *names[] = {"length-prefixed"};
    /* three frames: "hello", "" and "world!" */
    unsigned char wire[8 + 5 + 8 + 8 + 6];
    be64(wire, 5);
    memcpy(wire + 8, "hello", 5);
    be64(wire + 13, 0);
    be64(wire + 21, 6);
    memcpy(wire + 29, "world!", 6);
    /* expected: the same frames whatever the cut between two feeds */
    for (size_t cut = 0; cut <= sizeof wire; cut++) {
        struct tr_preproc *pp;
        assert_int_equal(tr_preproc_create(names, 1, &pp), 0);
        struct frames f = {.n = 0};
        assert_int_equal(tr_preproc_feed(pp, (const char *)wire, cut, collect, &f), 0);
        assert_int_equal(tr_preproc_feed(pp, (const char *)wire + cut, sizeof wire - cut, collect, &f), 0);
        assert_int_equal(f.n, 3);
        assert_string_equal(f.got[0], "hello");
        assert_string_equal(f.got[1], "");
        assert_string_equal(f.got[2], "world!");
        assert_int_equal(tr_preproc_dropped(pp), 0);
        tr_preproc_destroy(pp);
    }
}

/* A prefix above max_frame (here 2^64-1) cannot be skipped - that would
 * wait for 2^64 bytes - so it ends the stream: the feed says TR_ETOOBIG,
 * so does every later feed, and finish emits nothing. */
static void length_prefix_over_the_limit_ends_the_stream(void **state) {
    (void)state;
    char *names[] = {"length-prefixed"};
    struct tr_preproc *pp;
    assert_int_equal(tr_preproc_create(names, 1, &pp), 0);
    unsigned char wire[8 + 2 + 8 + 3];
    be64(wire, 2);
    memcpy(wire + 8, "ok", 2);
    be64(wire + 10, UINT64_MAX);
    memcpy(wire + 18, "abc", 3);
    struct frames f = {.n = 0};
    assert_int_equal(tr_preproc_feed(pp, (const char *)wire, sizeof wire, collect, &f), TR_ETOOBIG);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.got[0], "ok");
    assert_int_equal(tr_preproc_feed(pp, (const char *)wire, 10, collect, &f), TR_ETOOBIG);
    assert_int_equal(tr_preproc_finish(pp, collect, &f), 0);
    assert_int_equal(f.n, 1);
    tr_preproc_destroy(pp);
    /* TR_PROC_MAX_LINE + 1 by default, and a configured max_frame */
    assert_int_equal(tr_preproc_create(names, 1, &pp), 0);
    be64(wire, TR_PROC_MAX_LINE + 1);
    assert_int_equal(tr_preproc_feed(pp, (const char *)wire, 8, collect, &f), TR_ETOOBIG);
    tr_preproc_destroy(pp);
    assert_int_equal(tr_preproc_create(names, 1, &pp), 0);
    tr_preproc_set_limits(pp, &(struct tr_preproc_limits){.max_frame = 2});
    be64(wire, 2);
    be64(wire + 10, 3);
    assert_int_equal(tr_preproc_feed(pp, (const char *)wire, sizeof wire, collect, &f), TR_ETOOBIG);
    assert_int_equal(f.n, 2);
    assert_string_equal(f.got[1], "ok");
    tr_preproc_destroy(pp);
    /* textual: the same rule */
    char *tnames[] = {"textual-length-prefix"};
    assert_int_equal(tr_preproc_create(tnames, 1, &pp), 0);
    tr_preproc_set_limits(pp, &(struct tr_preproc_limits){.max_frame = 5});
    assert_int_equal(tr_preproc_feed(pp, "5 hello6 world!", 15, collect, &f), TR_ETOOBIG);
    assert_int_equal(f.n, 3);
    assert_string_equal(f.got[2], "hello");
    tr_preproc_destroy(pp);
    /* a frame cut short by the end of the stream is dropped and counted */
    assert_int_equal(tr_preproc_create(names, 1, &pp), 0);
    be64(wire, 10);
    assert_int_equal(tr_preproc_feed(pp, (const char *)wire, 8, collect, &f), 0);
    assert_int_equal(tr_preproc_feed(pp, "abc", 3, collect, &f), 0);
    assert_int_equal(tr_preproc_finish(pp, collect, &f), 0);
    assert_int_equal(f.n, 3);
    assert_int_equal(tr_preproc_dropped(pp), 1);
    tr_preproc_destroy(pp);
}

/* A line above max_frame is dropped and counted; the stream goes on. */
static void lines_over_max_frame_are_dropped(void **state) {
    (void)state;
    char *names[] = {"lines"};
    struct tr_preproc *pp;
    assert_int_equal(tr_preproc_create(names, 1, &pp), 0);
    tr_preproc_set_limits(pp, &(struct tr_preproc_limits){.max_frame = 4});
    struct frames f = {.n = 0};
    assert_int_equal(tr_preproc_feed(pp, "abcd\nabcde\nab", 13, collect, &f), 0);
    assert_int_equal(tr_preproc_feed(pp, "cde\nx\n", 6, collect, &f), 0);
    assert_int_equal(f.n, 2);
    assert_string_equal(f.got[0], "abcd");
    assert_string_equal(f.got[1], "x");
    assert_int_equal(tr_preproc_dropped(pp), 2);
    tr_preproc_destroy(pp);
}

/* Chains of one budget: what they buffer is charged by capacity; the one
 * that would pass the limit (or its share) fails, the others go on, and
 * destroy gives everything back. */
static void budget_bounds_what_streams_buffer(void **state) {
    (void)state;
    char *names[] = {"lines"};
    struct tr_budget b;
    tr_budget_init(&b, 100);
    struct tr_preproc_limits lim = {.budget = &b, .share = 80};
    struct tr_preproc *x, *y, *z;
    assert_int_equal(tr_preproc_create(names, 1, &x), 0);
    assert_int_equal(tr_preproc_create(names, 1, &y), 0);
    assert_int_equal(tr_preproc_create(names, 1, &z), 0);
    tr_preproc_set_limits(x, &lim);
    tr_preproc_set_limits(y, &lim);
    tr_preproc_set_limits(z, &lim);
    char part[70];
    memset(part, 'p', sizeof part);
    struct frames f = {.n = 0};
    /* x holds 50 bytes of a line: a 64-byte buffer */
    assert_int_equal(tr_preproc_feed(x, part, 50, collect, &f), 0);
    assert_int_equal(b.used, 64);
    /* y's 50 would make 128 > 100: y fails, for good, and emits nothing */
    assert_int_equal(tr_preproc_feed(y, part, 50, collect, &f), TR_EFULL);
    assert_int_equal(tr_preproc_feed(y, "a\n", 2, collect, &f), TR_EFULL);
    assert_int_equal(tr_preproc_finish(y, collect, &f), 0);
    assert_int_equal(f.n, 0);
    assert_int_equal(b.used, 64);
    /* z's 70 need a 128-byte buffer: over its share of 80 */
    assert_int_equal(tr_preproc_feed(z, part, 70, collect, &f), TR_ETOOBIG);
    tr_preproc_destroy(z);
    /* complete lines straight from the input cost nothing */
    assert_int_equal(tr_preproc_create(names, 1, &z), 0);
    tr_preproc_set_limits(z, &lim);
    assert_int_equal(tr_preproc_feed(z, "whole\n", 6, collect, &f), 0);
    assert_int_equal(b.used, 64);
    assert_int_equal(tr_preproc_feed(x, "!\n", 2, collect, &f), 0);
    assert_int_equal(f.n, 2);
    assert_string_equal(f.got[0], "whole");
    assert_int_equal(strlen(f.got[1]), 51);
    tr_preproc_destroy(x);
    tr_preproc_destroy(y);
    tr_preproc_destroy(z);
    assert_int_equal(b.used, 0);
}

static void textual_length_prefix_frames(void **state) {
    (void)state;
    char *names[] = {"textual-length-prefix"};
    const char *wire = "5 hello0 6 world!x3 3 end";
    /* expected: "x3" is not a number and is dropped up to its space; what
     * follows is read as the next prefix */
    for (size_t cut = 0; cut <= strlen(wire); cut++) {
        struct tr_preproc *pp;
        assert_int_equal(tr_preproc_create(names, 1, &pp), 0);
        struct frames f = {.n = 0};
        assert_int_equal(tr_preproc_feed(pp, wire, cut, collect, &f), 0);
        assert_int_equal(tr_preproc_feed(pp, wire + cut, strlen(wire) - cut, collect, &f), 0);
        assert_int_equal(f.n, 4);
        assert_string_equal(f.got[0], "hello");
        assert_string_equal(f.got[1], "");
        assert_string_equal(f.got[2], "world!");
        assert_string_equal(f.got[3], "end");
        assert_int_equal(tr_preproc_dropped(pp), 1);
        tr_preproc_destroy(pp);
    }
}

static void chain_lines_base64_remove_empty(void **state) {
    (void)state;
    char *names[] = {"lines", "remove-empty", "base64"};
    struct tr_preproc *pp;
    assert_int_equal(tr_preproc_create(names, 3, &pp), 0);
    struct frames f = {.n = 0};
    const char *in = "aGVsbG8=\n\nd29ybGQ\n!!\nZm9v";
    assert_int_equal(tr_preproc_feed(pp, in, strlen(in), collect, &f), 0);
    assert_int_equal(tr_preproc_finish(pp, collect, &f), 0);
    /* expected: hello, world (unpadded), "!!" dropped, foo at the end */
    assert_int_equal(f.n, 3);
    assert_string_equal(f.got[0], "hello");
    assert_string_equal(f.got[1], "world");
    assert_string_equal(f.got[2], "foo");
    assert_int_equal(tr_preproc_dropped(pp), 1);
    tr_preproc_destroy(pp);
}

static void lines_null_and_pipe(void **state) {
    (void)state;
    char *nul[] = {"lines-null"}, *pipe[] = {"lines-pipe"};
    struct tr_preproc *a, *b;
    assert_int_equal(tr_preproc_create(nul, 1, &a), 0);
    assert_int_equal(tr_preproc_create(pipe, 1, &b), 0);
    struct frames f = {.n = 0};
    assert_int_equal(tr_preproc_feed(a, "x\0y\0", 4, collect, &f), 0);
    assert_int_equal(tr_preproc_feed(b, "p|q|r", 5, collect, &f), 0);
    assert_int_equal(tr_preproc_finish(b, collect, &f), 0);
    assert_int_equal(f.n, 5);
    assert_string_equal(f.got[0], "x");
    assert_string_equal(f.got[1], "y");
    assert_string_equal(f.got[2], "p");
    assert_string_equal(f.got[3], "q");
    assert_string_equal(f.got[4], "r");
    tr_preproc_destroy(a);
    tr_preproc_destroy(b);
}

static void postprocessors_frame_and_round_trip(void **state) {
    (void)state;
    char *post[] = {"base64", "length-prefixed"};
    char *pre[] = {"length-prefixed", "base64"};
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_buf_append(&b, "{\"a\":1}", 7), 0);
    assert_int_equal(tr_postproc_apply(post, 2, &b), 0);
    /* expected: 8-byte big-endian 12, then base64 of the payload */
    assert_int_equal(b.len, 8 + 12);
    unsigned char want[8];
    be64(want, 12);
    assert_memory_equal(b.data, want, 8);
    assert_memory_equal(b.data + 8, "eyJhIjoxfQ==", 12);
    struct tr_preproc *pp;
    assert_int_equal(tr_preproc_create(pre, 2, &pp), 0);
    struct frames f = {.n = 0};
    assert_int_equal(tr_preproc_feed(pp, b.data, b.len, collect, &f), 0);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.got[0], "{\"a\":1}");
    tr_preproc_destroy(pp);

    char *text[] = {"textual-length-prefix", "lines"};
    tr_buf_reset(&b);
    assert_int_equal(tr_buf_append(&b, "abc", 3), 0);
    assert_int_equal(tr_postproc_apply(text, 2, &b), 0);
    assert_string_equal(b.data, "3 abc\n");
    char *unknown[] = {"gzip-nope"};
    assert_int_equal(tr_postproc_apply(unknown, 1, &b), TR_EINVAL_CFG);
    tr_buf_fini(&b);
}

static void base64_codec_edges(void **state) {
    (void)state;
    char out[32];
    unsigned char dec[32];
    size_t n;
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {   /* RFC 4648 section 10 */
        size_t len = tr_base64_encode((const unsigned char *)plain[i], strlen(plain[i]), out);
        assert_int_equal(len, strlen(enc[i]));
        assert_memory_equal(out, enc[i], len);
        assert_int_equal(tr_base64_decode(enc[i], strlen(enc[i]), dec, &n), 0);
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(dec, plain[i], n);
    }
    /* in place, both ways */
    char buf[16] = "foobar";
    size_t len = tr_base64_encode((const unsigned char *)buf, 6, buf);
    assert_memory_equal(buf, "Zm9vYmFy", len);
    assert_int_equal(tr_base64_decode(buf, len, (unsigned char *)buf, &n), 0);
    assert_memory_equal(buf, "foobar", n);
    /* Tremor 0.11 decodes with the base64 crate 0.13 (decode.rs): padding
     * is optional and may stop short of the group's end, '=' only from
     * the third position of the last group on */
    const char *ok[] = {"Zg", "Zg=", "Zm8", "Zm8="};
    const char *okv[] = {"f", "f", "fo", "fo"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(tr_base64_decode(ok[i], strlen(ok[i]), dec, &n), 0);
        assert_int_equal(n, strlen(okv[i]));
        assert_memory_equal(dec, okv[i], n);
    }
    /* rejected: bad characters, a length of 4k+1, '=' too early or
     * followed by data, non-zero spare bits, whitespace */
    const char *bad[] = {"Zm9v!", "Z", "Zm9vY", "Zg===", "Z===", "Zm9=v", "Zg==Zg==", "Zm9vYg===", "Zh==", "Zm 9v"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(tr_base64_decode(bad[i], strlen(bad[i]), dec, &n), TR_EPARSE);
}

/* Whole groups are decoded four symbols at a time: every byte value
 * round-trips at every length, in place too, and a byte outside the
 * alphabet anywhere, in any group position, is refused. */
static void base64_groups(void **state) {
    (void)state;
    unsigned char plain[96], dec[96];
    char enc[140];
    size_t n;
    for (size_t len = 0; len <= sizeof plain; len++) {
        for (size_t i = 0; i < len; i++) plain[i] = (unsigned char)(i * 37 + len * 11);
        size_t el = tr_base64_encode(plain, len, enc);
        assert_int_equal(tr_base64_decode(enc, el, dec, &n), 0);
        assert_int_equal(n, len);
        assert_memory_equal(dec, plain, len);
        assert_int_equal(tr_base64_decode(enc, el, (unsigned char *)enc, &n), 0);
        assert_int_equal(n, len);
        assert_memory_equal(enc, plain, len);
    }
    unsigned char all[256];
    for (int i = 0; i < 256; i++) all[i] = (unsigned char)i;
    char big[344];
    size_t bl = tr_base64_encode(all, sizeof all, big);
    unsigned char back[256];
    assert_int_equal(tr_base64_decode(big, bl, back, &n), 0);
    assert_int_equal(n, 256);
    assert_memory_equal(back, all, 256);
    const char strangers[] = {'!', '-', '_', ' ', '\0', '\n', '.', (char)0x80, (char)0xFF, '='};
    for (size_t k = 0; k < sizeof strangers; k++) {
        for (size_t at = 0; at < 40; at++) {
            char e[40];
            memcpy(e, big, sizeof e);   /* 40 symbols, no padding: ten whole groups */
            e[at] = strangers[k];
            if (strangers[k] == '=' && at == 39) continue;   /* padding there may be valid */
            if (tr_base64_decode(e, sizeof e, dec, &n) != TR_EPARSE)
                fail_msg("byte 0x%02x at %zu was decoded", (unsigned char)strangers[k], at);
        }
    }
}

struct errs {
    int n;
    char last[128];
};

static void on_error(void *arg, const char *why) {
    struct errs *e = arg;
    e->n++;
    snprintf(e->last, sizeof e->last, "%s", why);
}

/* Every dropped frame and the error that ends a chain reach the error
 * callback (the onramp's err port), and the stream goes on after a drop. */
static void errors_reach_the_callback(void **state) {
    (void)state;
    char *names[] = {"lines", "base64"};
    struct tr_preproc *pp;
    assert_int_equal(tr_preproc_create(names, 2, &pp), 0);
    struct errs e = {0};
    tr_preproc_on_error(pp, on_error, &e);
    struct frames f = {.n = 0};
    assert_int_equal(tr_preproc_feed(pp, "aGk=\n!!!!\naGk=\n", 15, collect, &f), 0);
    assert_int_equal(f.n, 2);
    assert_int_equal(e.n, 1);
    assert_non_null(strstr(e.last, "base64"));
    tr_preproc_destroy(pp);

    char *lp[] = {"length-prefixed"};
    assert_int_equal(tr_preproc_create(lp, 1, &pp), 0);
    struct tr_preproc_limits lim = {.max_frame = 8};
    tr_preproc_set_limits(pp, &lim);
    tr_preproc_on_error(pp, on_error, &e);
    static const char big[8] = {0, 0, 0, 0, 0, 0, 1, 0};   /* 256 > max_frame */
    assert_int_equal(tr_preproc_feed(pp, big, 8, collect, &f), TR_ETOOBIG);
    assert_int_equal(tr_preproc_feed(pp, big, 8, collect, &f), TR_ETOOBIG);
    assert_int_equal(e.n, 2);                               /* told once */
    assert_non_null(strstr(e.last, "the stream ends"));
    tr_preproc_destroy(pp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(errors_reach_the_callback),
        cmocka_unit_test(lines_split_across_feeds),
        cmocka_unit_test(lines_too_long_is_dropped_and_counted),
        cmocka_unit_test(unknown_names_are_rejected),
        cmocka_unit_test(postproc_lines_appends_newline),
        cmocka_unit_test(postproc_lines_chain_reused),
        cmocka_unit_test(length_prefixed_split_anywhere),
        cmocka_unit_test(length_prefix_over_the_limit_ends_the_stream),
        cmocka_unit_test(lines_over_max_frame_are_dropped),
        cmocka_unit_test(budget_bounds_what_streams_buffer),
        cmocka_unit_test(textual_length_prefix_frames),
        cmocka_unit_test(chain_lines_base64_remove_empty),
        cmocka_unit_test(lines_null_and_pipe),
        cmocka_unit_test(postprocessors_frame_and_round_trip),
        cmocka_unit_test(base64_codec_edges),
        cmocka_unit_test(base64_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
