/* test_proc_gelf.c - gelf-chunking both ways: 0.11's vectors (gelf.rs
 * tests), the postprocessor chain's chunks, and the bounds 0.11 lacks:
 * timeout, open messages, bytes, duplicates, and state freed at the end. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "codec/proc.h"
#include "codec/proc_int.h"
#include "core/alloc.h"
#include "core/budget.h"

struct got {
    char f[8][256];
    size_t len[8];
    int n;
};

static int collect(void *arg, const char *data, size_t len) {
    struct got *g = arg;
    assert_true(g->n < 8 && len <= 256);
    memcpy(g->f[g->n], data, len);
    g->len[g->n++] = len;
    return 0;
}

static uint64_t clock_ns;
static uint64_t fake_now(void *arg) {
    (void)arg;
    return clock_ns;
}

static struct tr_preproc *gelf(const char *name, struct tr_preproc_limits *l) {
    char *names[] = {(char *)name};
    struct tr_preproc *pp;
    assert_int_equal(tr_preproc_create(names, 1, &pp), 0);
    l->now_ns = fake_now;
    tr_preproc_set_limits(pp, l);
    return pp;
}

static size_t chunk(unsigned char *out, uint64_t id, unsigned seq, unsigned count, const char *data) {
    out[0] = 0x1e;
    out[1] = 0x0f;
    tr_proc_put64(out + 2, id);
    out[10] = (unsigned char)seq;
    out[11] = (unsigned char)count;
    memcpy(out + 12, data, strlen(data));
    return 12 + strlen(data);
}

static int end_count(void *arg) {
    (*(int *)arg)++;
    return 0;
}

/* gelf.rs simple_encode_decode: 20 bytes in chunks of 20 (8 of data) are
 * 3 chunks; the first two give nothing, the third the message. */
static void encode_decode_from_0_11(void **state) {
    (void)state;
    char in[20];
    for (int k = 0; k < 20; k++) in[k] = (char)k;
    struct tr_buf out;
    tr_buf_init(&out);
    int n = 0;
    assert_int_equal(tr_proc_gelf_chunk(in, 20, 0, 20, &out, end_count, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(out.len, 3 * 12 + 20);
    struct tr_preproc_limits l = {0};
    struct tr_preproc *pp = gelf("gelf-chunking", &l);
    struct got g = {.n = 0};
    size_t lens[3] = {20, 20, 16};
    const char *p = out.data;
    for (int k = 0; k < 3; k++) {
        assert_int_equal(tr_preproc_feed(pp, p, lens[k], collect, &g), 0);
        assert_int_equal(g.n, k == 2 ? 1 : 0);
        p += lens[k];
    }
    assert_int_equal(g.len[0], 20);
    assert_memory_equal(g.f[0], in, 20);
    tr_preproc_destroy(pp);
    tr_buf_fini(&out);
    /* gelf.rs bad_len: "" and "{" are not GELF, "{}" and a JSON object are */
    pp = gelf("gelf-chunking", &l);
    g.n = 0;
    assert_int_equal(tr_preproc_feed(pp, "", 0, collect, &g), 0);
    assert_int_equal(tr_preproc_feed(pp, "{", 1, collect, &g), 0);
    assert_int_equal(tr_preproc_dropped(pp), 2);
    assert_int_equal(tr_preproc_feed(pp, "{}", 2, collect, &g), 0);
    assert_int_equal(tr_preproc_feed(pp, "{\"snot\": \"badger\"}", 18, collect, &g), 0);
    /* and 0x1f 0x3c carries an unchunked message */
    assert_int_equal(tr_preproc_feed(pp, "\x1f\x3cxyz", 5, collect, &g), 0);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.len[2], 3);
    assert_memory_equal(g.f[2], "xyz", 3);
    tr_preproc_destroy(pp);
}

/* Out of order, interleaved messages; the TCP variant drops the last byte. */
static void reassembly_out_of_order(void **state) {
    (void)state;
    for (size_t tcp = 0; tcp < 2; tcp++) {
        struct tr_preproc_limits l = {0};
        struct tr_preproc *pp = gelf(tcp ? "gelf-chunking-tcp" : "gelf-chunking", &l);
        struct got g = {.n = 0};
        unsigned char c[64];
        size_t n;
        n = chunk(c, 7, 2, 3, "ghi");
        assert_int_equal(tr_preproc_feed(pp, (char *)c, n, collect, &g), 0);
        n = chunk(c, 9, 1, 2, "YZ");
        assert_int_equal(tr_preproc_feed(pp, (char *)c, n, collect, &g), 0);
        n = chunk(c, 7, 0, 3, "abc");
        assert_int_equal(tr_preproc_feed(pp, (char *)c, n, collect, &g), 0);
        n = chunk(c, 9, 0, 2, "WX");
        assert_int_equal(tr_preproc_feed(pp, (char *)c, n, collect, &g), 0);
        assert_int_equal(g.n, 1);
        n = chunk(c, 7, 1, 3, "def");
        assert_int_equal(tr_preproc_feed(pp, (char *)c, n, collect, &g), 0);
        assert_int_equal(g.n, 2);
        assert_int_equal(g.len[0], 4 - tcp);
        assert_memory_equal(g.f[0], "WXYZ", 4 - tcp);
        assert_int_equal(g.len[1], 9 - tcp);
        assert_memory_equal(g.f[1], "abcdefghi", 9 - tcp);
        assert_int_equal(tr_preproc_dropped(pp), 0);
        tr_preproc_destroy(pp);
    }
}

/* A message that never completes is dropped at its timeout; one over the
 * open limit evicts the oldest; bytes stay within max_frame; duplicates and
 * out-of-range chunks are dropped; the budget is charged and given back. */
static void incomplete_messages_are_bounded(void **state) {
    (void)state;
    struct tr_budget b;
    tr_budget_init(&b, 1u << 20);
    struct tr_preproc_limits l = {.max_frame = 64, .budget = &b, .share = 1u << 20,
                                  .gelf_max_open = 3, .gelf_timeout_ns = 1000};
    struct tr_preproc *pp = gelf("gelf-chunking", &l);
    struct got g = {.n = 0};
    unsigned char c[128];
    size_t n;
    clock_ns = 10000;
    n = chunk(c, 1, 0, 2, "aaaa");
    assert_int_equal(tr_preproc_feed(pp, (char *)c, n, collect, &g), 0);
    assert_true(b.used >= 4);
    /* past the timeout: the next chunk finds it expired */
    clock_ns += 1001;
    n = chunk(c, 1, 1, 2, "bbbb");
    assert_int_equal(tr_preproc_feed(pp, (char *)c, n, collect, &g), 0);
    assert_int_equal(g.n, 0);
    assert_int_equal(tr_preproc_dropped(pp), 1);
    /* ids 1 (seq 1, open since now), 2, 3 open; a 4th evicts the oldest (1) */
    for (uint64_t id = 2; id <= 4; id++) {
        clock_ns++;
        n = chunk(c, id, 0, 2, "x");
        assert_int_equal(tr_preproc_feed(pp, (char *)c, n, collect, &g), 0);
    }
    assert_int_equal(tr_preproc_dropped(pp), 2);
    n = chunk(c, 1, 0, 2, "aaaa");   /* 1 is gone: this opens it again (evicting 2) */
    assert_int_equal(tr_preproc_feed(pp, (char *)c, n, collect, &g), 0);
    assert_int_equal(g.n, 0);
    assert_int_equal(tr_preproc_dropped(pp), 3);
    /* a duplicate chunk gives the message up (as 0.11 does) */
    n = chunk(c, 3, 0, 2, "x");
    assert_int_equal(tr_preproc_feed(pp, (char *)c, n, collect, &g), 0);
    assert_int_equal(tr_preproc_dropped(pp), 4);
    /* out of range */
    n = chunk(c, 5, 2, 2, "x");
    assert_int_equal(tr_preproc_feed(pp, (char *)c, n, collect, &g), 0);
    assert_int_equal(tr_preproc_dropped(pp), 5);
    /* bytes: one message above max_frame (64) is dropped */
    char big[61];
    memset(big, 'z', 60);
    big[60] = 0;
    n = chunk(c, 6, 0, 2, big);
    assert_int_equal(tr_preproc_feed(pp, (char *)c, n, collect, &g), 0);
    n = chunk(c, 6, 1, 2, "12345");
    assert_int_equal(tr_preproc_feed(pp, (char *)c, n, collect, &g), 0);
    assert_int_equal(g.n, 0);
    assert_true(tr_preproc_dropped(pp) >= 6);
    /* a complete message still comes through */
    n = chunk(c, 8, 1, 2, "lo");
    assert_int_equal(tr_preproc_feed(pp, (char *)c, n, collect, &g), 0);
    n = chunk(c, 8, 0, 2, "hel");
    assert_int_equal(tr_preproc_feed(pp, (char *)c, n, collect, &g), 0);
    assert_int_equal(g.n, 1);
    assert_memory_equal(g.f[0], "hello", 5);
    /* the end of the stream drops (and counts) what is open, and frees it */
    unsigned long before = tr_preproc_dropped(pp);
    assert_int_equal(tr_preproc_finish(pp, collect, &g), 0);
    assert_true(tr_preproc_dropped(pp) > before);
    assert_true(b.used <= 64);   /* only the small reassembly buffer, until destroy */
    tr_preproc_destroy(pp);
    assert_int_equal(b.used, 0);
}

static int append_all(void *arg, const char *data, size_t len) {
    return tr_buf_append(arg, data, len);
}

/* The postprocessor chain: 20000 bytes are 3 chunks of at most 8192, ids
 * count up per message; 129 chunks' worth is refused. */
static void postprocessor_chunks(void **state) {
    (void)state;
    char *names[] = {"gelf-chunking"};
    struct tr_postproc *po;
    assert_int_equal(tr_postproc_create(names, 1, &po), 0);
    struct tr_buf b;
    tr_buf_init(&b);
    char *x = tr_malloc(20000);
    assert_non_null(x);
    for (int k = 0; k < 20000; k++) x[k] = (char)(k * 7);
    assert_int_equal(tr_buf_append(&b, x, 20000), 0);
    assert_int_equal(tr_postproc_run(po, 0, &b), 0);
    assert_int_equal(tr_postproc_chunks(po), 3);
    assert_int_equal(tr_postproc_chunk_end(po, 0), 8192);
    assert_int_equal(tr_postproc_chunk_end(po, 1), 16384);
    assert_int_equal(tr_postproc_chunk_end(po, 2), 20000 + 36);
    assert_int_equal(b.len, 20036);
    /* back through the preprocessor, one datagram per chunk */
    char *pre[] = {"gelf-chunking"};
    struct tr_preproc *pp;
    assert_int_equal(tr_preproc_create(pre, 1, &pp), 0);
    struct tr_buf all;
    tr_buf_init(&all);
    size_t start = 0;
    for (size_t k = 0; k < 3; k++) {
        size_t end = tr_postproc_chunk_end(po, k);
        assert_int_equal((unsigned char)b.data[start + 10], k);
        assert_int_equal((unsigned char)b.data[start + 11], 3);
        assert_int_equal(tr_preproc_feed(pp, b.data + start, end - start, append_all, &all), 0);
        start = end;
    }
    assert_int_equal(all.len, 20000);
    assert_memory_equal(all.data, x, 20000);
    tr_preproc_destroy(pp);
    tr_buf_fini(&all);
    /* the next message has the next id */
    tr_buf_reset(&b);
    assert_int_equal(tr_buf_append(&b, "{}", 2), 0);
    assert_int_equal(tr_postproc_run(po, 0, &b), 0);
    assert_int_equal(tr_postproc_chunks(po), 1);
    assert_int_equal(tr_proc_get64((unsigned char *)b.data + 2), 1);
    /* 129 chunks: refused */
    char *huge = tr_calloc(129, 8180);
    assert_non_null(huge);
    tr_buf_reset(&b);
    assert_int_equal(tr_buf_append(&b, huge, 128 * 8180 + 1), 0);
    assert_int_equal(tr_postproc_run(po, 0, &b), TR_ETOOBIG);
    tr_buf_reset(&b);
    assert_int_equal(tr_buf_append(&b, huge, 128 * 8180), 0);
    assert_int_equal(tr_postproc_run(po, 0, &b), 0);
    assert_int_equal(tr_postproc_chunks(po), 128);
    tr_free(huge);
    tr_free(x);
    tr_buf_fini(&b);
    tr_postproc_destroy(po);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encode_decode_from_0_11),
        cmocka_unit_test(reassembly_out_of_order),
        cmocka_unit_test(incomplete_messages_are_bounded),
        cmocka_unit_test(postprocessor_chunks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
