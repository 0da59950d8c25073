/* test_proc_zip.c - the compressing pre/postprocessors (gzip, zlib, xz,
 * snappy, lz4, zstd, decompress), ingest-ns and lines-no-buffer: 0.11's own
 * vectors, round trips over generated payloads, interop with the real
 * tools (gzip, xz, lz4, zstd CLIs; python3's zlib and snappy), and hostile
 * input (bombs, truncation, bad checksums). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/proc.h"
#include "core/alloc.h"
#include "core/budget.h"

/* Frames as a list: each is copied. */
struct got {
    struct tr_buf all;
    size_t ends[64];
    int n;
};

static int collect(void *arg, const char *data, size_t len) {
    struct got *g = arg;
    assert_true(g->n < 64);
    assert_int_equal(tr_buf_append(&g->all, data, len), 0);
    g->ends[g->n++] = g->all.len;
    return 0;
}

static const char *frame(const struct got *g, int k, size_t *len) {
    size_t start = k ? g->ends[k - 1] : 0;
    *len = g->ends[k] - start;
    return g->all.data + start;
}

static void got_init(struct got *g) {
    tr_buf_init(&g->all);
    g->n = 0;
}

/* Run one preprocessor over data fed at once (and finished). */
static unsigned long pre_run(const char *name, uint64_t max_frame, const char *data, size_t len,
                             struct got *g) {
    char *names[] = {(char *)name};
    struct tr_preproc *pp;
    assert_int_equal(tr_preproc_create(names, 1, &pp), 0);
    if (max_frame) tr_preproc_set_limits(pp, &(struct tr_preproc_limits){.max_frame = max_frame});
    assert_int_equal(tr_preproc_feed(pp, data, len, collect, g), 0);
    assert_int_equal(tr_preproc_finish(pp, collect, g), 0);
    unsigned long d = tr_preproc_dropped(pp);
    tr_preproc_destroy(pp);
    return d;
}

static void post_run(const char *name, const char *data, size_t len, struct tr_buf *out) {
    char *names[] = {(char *)name};
    tr_buf_init(out);
    assert_int_equal(tr_buf_append(out, data, len), 0);
    assert_int_equal(tr_postproc_apply(names, 1, out), 0);
}

static const char *const zips[] = {"gzip", "zlib", "xz2", "snappy", "lz4", "zstd"};
#define NZIPS 6

/* 0.11's decode_magic (preprocessor.rs tests): what each compressor's
 * output starts with. */
static const char *magic(const unsigned char *p, size_t n) {
    if (n < 6) return "short";
    if (p[0] == 0x1f && p[1] == 0x8b) return "gzip";
    if (p[0] == 0x78) return "zlib";
    if (p[0] == 0xfd && p[1] == '7' && p[2] == 'z') return "xz2";
    if (p[0] == 0xff && p[1] == 6 && p[2] == 0 && p[3] == 0) return "snappy";
    if (p[0] == 0x04 && p[1] == 0x22 && p[2] == 0x4d && p[3] == 0x18) return "lz4";
    if (p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd) return "zstd";
    return "unknown";
}

/* 0.11's test_gzip .. test_lz4: "snot" through the postprocessor has the
 * format's magic and comes back through the preprocessor and decompress. */
static void zip_vectors_from_0_11(void **state) {
    (void)state;
    for (int i = 0; i < NZIPS; i++) {
        struct tr_buf enc;
        post_run(zips[i], "snot", 4, &enc);
        assert_string_equal(magic((unsigned char *)enc.data, enc.len), zips[i]);
        const char *via[] = {zips[i], "decompress"};
        for (int v = 0; v < 2; v++) {
            struct got g;
            got_init(&g);
            assert_int_equal(pre_run(via[v], 0, enc.data, enc.len, &g), 0);
            assert_int_equal(g.n, 1);
            size_t n;
            const char *f = frame(&g, 0, &n);
            assert_int_equal(n, 4);
            assert_memory_equal(f, "snot", 4);
            tr_buf_fini(&g.all);
        }
        tr_buf_fini(&enc);
    }
    /* an empty payload decompresses to an empty frame that the next stage takes */
    struct tr_buf empty;
    post_run("zlib", "", 0, &empty);
    char *chain[] = {"zlib", "lines-no-buffer"};
    struct tr_preproc *pp;
    assert_int_equal(tr_preproc_create(chain, 2, &pp), 0);
    struct got g;
    got_init(&g);
    assert_int_equal(tr_preproc_feed(pp, empty.data, empty.len, collect, &g), 0);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.ends[0], 0);
    tr_preproc_destroy(pp);
    tr_buf_fini(&g.all);
    tr_buf_fini(&empty);
    /* xz is also known by the name the docs use */
    char *xz[] = {"xz"};
    assert_int_equal(tr_preproc_check(xz, 1, NULL), 0);
    assert_int_equal(tr_postproc_check(xz, 1, NULL), 0);
}

/* 0.11's test_lines_no_buffer_no_maxlength and the carriage-return one. */
static void lines_no_buffer_vectors(void **state) {
    (void)state;
    const char *in[] = {"snot\nbadger", "snot\n", "\nsnot", "\n"};
    const char *a[] = {"snot", "snot", "", ""}, *b[] = {"badger", "", "snot", ""};
    for (int cr = 0; cr < 2; cr++) {
        for (int k = 0; k < 4; k++) {
            char buf[16];
            snprintf(buf, sizeof buf, "%s", in[k]);
            if (cr)
                for (char *p = buf; *p; p++)
                    if (*p == '\n') *p = '\r';
            struct got g;
            got_init(&g);
            char *names[] = {cr ? "lines-cr-no-buffer" : "lines-no-buffer"};
            struct tr_preproc *pp;
            assert_int_equal(tr_preproc_create(names, 1, &pp), 0);
            assert_int_equal(tr_preproc_feed(pp, buf, strlen(buf), collect, &g), 0);
            /* expected: two frames, and nothing held back for finish */
            assert_int_equal(tr_preproc_finish(pp, collect, &g), 0);
            assert_int_equal(g.n, 2);
            size_t n;
            const char *f = frame(&g, 0, &n);
            assert_int_equal(n, strlen(a[k]));
            assert_memory_equal(f, a[k], n);
            f = frame(&g, 1, &n);
            assert_int_equal(n, strlen(b[k]));
            assert_memory_equal(f, b[k], n);
            tr_preproc_destroy(pp);
            tr_buf_fini(&g.all);
        }
    }
}

/* 0.11's ts test: ingest-ns attaches 42 and takes it off again; and its
 * base64 vectors. */
static uint64_t seen_ns;
static struct tr_preproc *seen_pp;
static int collect_ns(void *arg, const char *data, size_t len) {
    seen_ns = 0;
    assert_int_equal(tr_preproc_ingest_ns(seen_pp, &seen_ns), 1);
    return collect(arg, data, len);
}

static void ingest_ns_and_base64_vectors(void **state) {
    (void)state;
    char *post[] = {"ingest-ns"};
    struct tr_postproc *po;
    assert_int_equal(tr_postproc_create(post, 1, &po), 0);
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_buf_append(&b, "\1\2\3", 3), 0);
    assert_int_equal(tr_postproc_run(po, 42, &b), 0);
    assert_int_equal(tr_postproc_chunks(po), 1);
    assert_int_equal(b.len, 11);
    assert_memory_equal(b.data, "\0\0\0\0\0\0\0\x2a\1\2\3", 11);
    tr_postproc_destroy(po);
    char *pre[] = {"ingest-ns"};
    assert_int_equal(tr_preproc_create(pre, 1, &seen_pp), 0);
    struct got g;
    got_init(&g);
    assert_int_equal(tr_preproc_feed(seen_pp, b.data, b.len, collect_ns, &g), 0);
    assert_int_equal(g.n, 1);
    assert_int_equal(seen_ns, 42);
    size_t n;
    assert_memory_equal(frame(&g, 0, &n), "\1\2\3", 3);
    assert_int_equal(n, 3);
    /* fewer than 8 bytes: 0.11 errors; here dropped and counted */
    assert_int_equal(tr_preproc_feed(seen_pp, "1234567", 7, collect_ns, &g), 0);
    assert_int_equal(g.n, 1);
    assert_int_equal(tr_preproc_dropped(seen_pp), 1);
    tr_preproc_destroy(seen_pp);
    tr_buf_fini(&g.all);
    tr_buf_fini(&b);
    /* postprocessor.rs base64 test, preprocessor.rs test_base64 */
    const char *plain[] = {"", "\n", "snot", "snot badger"};
    const char *enc[] = {"", "Cg==", "c25vdA==", "c25vdCBiYWRnZXI="};
    for (int k = 0; k < 4; k++) {
        post_run("base64", plain[k], strlen(plain[k]), &b);
        assert_int_equal(b.len, strlen(enc[k]));
        assert_memory_equal(b.data, enc[k], b.len);
        tr_buf_fini(&b);
    }
    post_run("textual-length-prefix", "\1\2\3", 3, &b);
    assert_string_equal(b.data, "3 \1\2\3");
    tr_buf_fini(&b);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A payload of len bytes: random, or runs of a few symbols (compressible). */
static char *gen(size_t len, int kind) {
    char *p = tr_malloc(len ? len : 1);
    assert_non_null(p);
    for (size_t i = 0; i < len; i++)
        p[i] = kind ? (char)("ab{}\":\n"[(i / (1 + next_rand() % 7)) % 7]) : (char)next_rand();
    return p;
}

/* decode(encode(x)) == x for every compressor, straight and through
 * decompress, over payloads from 0 bytes to past snappy's 64 KiB block. */
static void zip_round_trips(void **state) {
    (void)state;
    static const size_t sizes[] = {0, 1, 2, 5, 63, 64, 65, 1000, 4096, 65535, 65536, 65537, 200000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int kind = 0; kind < 2; kind++) {
            char *x = gen(sizes[s], kind);
            for (int i = 0; i < NZIPS; i++) {
                struct tr_buf enc;
                post_run(zips[i], x, sizes[s], &enc);
                for (int v = 0; v < 2; v++) {
                    struct got g;
                    got_init(&g);
                    assert_int_equal(pre_run(v ? "decompress" : zips[i], 0, enc.data, enc.len, &g), 0);
                    assert_int_equal(g.n, 1);
                    size_t n;
                    const char *f = frame(&g, 0, &n);
                    assert_int_equal(n, sizes[s]);
                    if (n) assert_memory_equal(f, x, n);
                    tr_buf_fini(&g.all);
                }
                tr_buf_fini(&enc);
            }
            tr_free(x);
        }
    }
}

/* Framing postprocessors, their payloads back to back, fed in two parts
 * cut at every byte: the same frames whatever the cut. */
static void framing_round_trips_split_everywhere(void **state) {
    (void)state;
    const char *names[] = {"length-prefixed", "textual-length-prefix", "lines"};
    for (int k = 0; k < 3; k++) {
        struct tr_buf wire;
        tr_buf_init(&wire);
        char *xs[4];
        size_t lens[4] = {0, 7, 1, 40};
        for (int j = 0; j < 4; j++) {
            xs[j] = gen(lens[j], 0);
            if (k == 2)
                for (size_t q = 0; q < lens[j]; q++)
                    if (xs[j][q] == '\n') xs[j][q] = 'n';
            struct tr_buf e;
            post_run(names[k], xs[j], lens[j], &e);
            assert_int_equal(tr_buf_append(&wire, e.data, e.len), 0);
            tr_buf_fini(&e);
        }
        for (size_t cut = 0; cut <= wire.len; cut++) {
            char *pn[] = {(char *)names[k]};
            struct tr_preproc *pp;
            assert_int_equal(tr_preproc_create(pn, 1, &pp), 0);
            struct got g;
            got_init(&g);
            assert_int_equal(tr_preproc_feed(pp, wire.data, cut, collect, &g), 0);
            assert_int_equal(tr_preproc_feed(pp, wire.data + cut, wire.len - cut, collect, &g), 0);
            assert_int_equal(tr_preproc_finish(pp, collect, &g), 0);
            assert_int_equal(g.n, 4);
            for (int j = 0; j < 4; j++) {
                size_t n;
                const char *f = frame(&g, j, &n);
                assert_int_equal(n, lens[j]);
                if (n) assert_memory_equal(f, xs[j], n);
            }
            assert_int_equal(tr_preproc_dropped(pp), 0);
            tr_preproc_destroy(pp);
            tr_buf_fini(&g.all);
        }
        for (int j = 0; j < 4; j++) tr_free(xs[j]);
        tr_buf_fini(&wire);
    }
}

/* ------------------------------------------------------------ interop */

static void write_file(const char *path, const char *p, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    struct tr_buf b;
    tr_buf_init(&b);
    char tmp[65536];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0) assert_int_equal(tr_buf_append(&b, tmp, k), 0);
    fclose(f);
    *n = b.len;
    return b.data ? b.data : tr_malloc(1);
}

static void sh(const char *fmt, ...) {
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc != 0) fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
    assert_int_equal(rc, 0);
}

/* The real tools both ways: theirs decoded by our preprocessor, ours by
 * their decoder. python3: /usr/bin/python3 with Debian's python3-snappy. */
static void interop_with_real_tools(void **state) {
    (void)state;
    char dir[] = "/tmp/tr-proc-zip-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char in[256], theirs[256], ours[256], back[256];
    snprintf(in, sizeof in, "%s/in", dir);
    snprintf(theirs, sizeof theirs, "%s/theirs", dir);
    snprintf(ours, sizeof ours, "%s/ours", dir);
    snprintf(back, sizeof back, "%s/back", dir);
    const char *enc_cmd[] = {
        "gzip -c '%s' > '%s'",
        "/usr/bin/python3 -c 'import sys,zlib; open(sys.argv[2],\"wb\").write(zlib.compress(open(sys.argv[1],\"rb\").read()))' '%s' '%s'",
        "xz -9 -c '%s' > '%s'",
        "/usr/bin/python3 tests/unit/snappy_tool.py c '%s' '%s'",
        "lz4 -q -c '%s' > '%s'",
        "zstd -q -c '%s' > '%s'",
    };
    const char *dec_cmd[] = {
        "gzip -dc '%s' > '%s'",
        "/usr/bin/python3 -c 'import sys,zlib; open(sys.argv[2],\"wb\").write(zlib.decompress(open(sys.argv[1],\"rb\").read()))' '%s' '%s'",
        "xz -dc '%s' > '%s'",
        "/usr/bin/python3 tests/unit/snappy_tool.py d '%s' '%s'",
        "lz4 -q -dc '%s' > '%s'",
        "zstd -q -dc '%s' > '%s'",
    };
    static const size_t sizes[] = {0, 11, 70000, 300000};
    for (size_t s = 0; s < 4; s++) {
        char *x = gen(sizes[s], (int)(s & 1));
        write_file(in, x, sizes[s]);
        for (int i = 0; i < NZIPS; i++) {
            /* theirs -> our preprocessor */
            sh(enc_cmd[i], in, theirs);
            size_t n;
            char *t = read_file(theirs, &n);
            struct got g;
            got_init(&g);
            unsigned long d = pre_run(zips[i], 0, t, n, &g);
            if (d) fprintf(stderr, "%s: %zu bytes from the tool, %zu in, dropped\n", zips[i], n, sizes[s]);
            assert_int_equal(d, 0);
            assert_int_equal(g.n, 1);
            size_t fl;
            const char *f = frame(&g, 0, &fl);
            assert_int_equal(fl, sizes[s]);
            if (fl) assert_memory_equal(f, x, fl);
            tr_buf_fini(&g.all);
            tr_free(t);
            /* our postprocessor -> theirs */
            struct tr_buf e;
            post_run(zips[i], x, sizes[s], &e);
            write_file(ours, e.data, e.len);
            tr_buf_fini(&e);
            sh(dec_cmd[i], ours, back);
            char *r = read_file(back, &n);
            assert_int_equal(n, sizes[s]);
            if (n) assert_memory_equal(r, x, n);
            tr_free(r);
        }
        tr_free(x);
    }
    sh("rm -rf '%s'", dir);
}

/* The framing spec's stream identifier, and an uncompressed chunk built by
 * hand from the spec: type 0x01, length 4 + 3, the masked CRC32C of "abc"
 * (the spec's mask formula over CRC32C("abc") = 0x364b3fb7), then "abc". */
static void snappy_spec_bytes(void **state) {
    (void)state;
    uint32_t crc = 0x364b3fb7u;   /* CRC32C("abc"), RFC 3720 polynomial */
    uint32_t m = ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
    unsigned char s[10 + 4 + 4 + 3] = {0xff, 6, 0, 0, 's', 'N', 'a', 'P', 'p', 'Y', 0x01, 7, 0, 0};
    for (int k = 0; k < 4; k++) s[14 + k] = (unsigned char)(m >> (8 * k));
    memcpy(s + 18, "abc", 3);
    struct got g;
    got_init(&g);
    assert_int_equal(pre_run("snappy", 0, (char *)s, sizeof s, &g), 0);
    assert_int_equal(g.n, 1);
    size_t n;
    assert_memory_equal(frame(&g, 0, &n), "abc", 3);
    assert_int_equal(n, 3);
    /* padding (0xfe) and a skippable chunk are skipped; a reserved
     * unskippable one (0x02) is an error */
    unsigned char pad[sizeof s + 6];
    memcpy(pad, s, 10);
    memcpy(pad + 10, "\xfe\x02\x00\x00zz", 6);
    memcpy(pad + 16, s + 10, 11);
    assert_int_equal(pre_run("snappy", 0, (char *)pad, sizeof pad, &g), 0);
    assert_int_equal(g.n, 2);
    pad[10] = 0x02;
    assert_int_equal(pre_run("snappy", 0, (char *)pad, sizeof pad, &g), 1);
    /* our encoder starts with the same identifier */
    struct tr_buf e;
    post_run("snappy", "abc", 3, &e);
    assert_memory_equal(e.data, s, 10);
    /* a 3-byte block does not shrink: the same uncompressed chunk */
    assert_int_equal(e.len, sizeof s);
    assert_memory_equal(e.data, s, sizeof s);
    tr_buf_fini(&e);
    tr_buf_fini(&g.all);
}

/* ------------------------------------------------------------- hostile */

/* A bomb: more than max_frame out of one frame is dropped and counted,
 * memory stays near the limit, and the stream goes on. */
static void bombs_are_dropped(void **state) {
    (void)state;
    size_t big = 3u << 20;                 /* 3 MiB of zeros, limit 1 MiB */
    char *zeros = tr_calloc(1, big);
    assert_non_null(zeros);
    for (int i = 0; i < NZIPS; i++) {
        struct tr_buf e, ok;
        post_run(zips[i], zeros, big, &e);
        post_run(zips[i], "fine", 4, &ok);
        assert_true(e.len < big / 10);
        assert_int_equal(tr_buf_append(&e, "", 0), 0);
        for (int v = 0; v < 2; v++) {
            char *names[] = {v ? "decompress" : (char *)zips[i]};
            struct tr_preproc *pp;
            struct tr_budget bud;
            tr_budget_init(&bud, 4u << 20);
            assert_int_equal(tr_preproc_create(names, 1, &pp), 0);
            tr_preproc_set_limits(pp, &(struct tr_preproc_limits){.max_frame = 1u << 20, .budget = &bud,
                                                                 .share = 4u << 20});
            struct got g;
            got_init(&g);
            assert_int_equal(tr_preproc_feed(pp, e.data, e.len, collect, &g), 0);
            assert_int_equal(g.n, 0);
            assert_int_equal(tr_preproc_dropped(pp), 1);
            assert_true(bud.used <= (2u << 20) + 65536);
            assert_int_equal(tr_preproc_feed(pp, ok.data, ok.len, collect, &g), 0);
            assert_int_equal(g.n, 1);
            tr_preproc_destroy(pp);
            assert_int_equal(bud.used, 0);
            tr_buf_fini(&g.all);
        }
        tr_buf_fini(&e);
        tr_buf_fini(&ok);
    }
    tr_free(zeros);
}

/* Every strict prefix of a compressed frame is dropped (snappy: or gives a
 * prefix of the payload, as a chunk boundary ends a valid stream), never
 * a crash; flipped checksum bytes are caught. */
static void truncated_and_corrupt_frames(void **state) {
    (void)state;
    char *x = gen(100000, 1);
    for (int i = 0; i < NZIPS; i++) {
        struct tr_buf e;
        post_run(zips[i], x, 100000, &e);
        size_t step = e.len > 400 ? e.len / 200 : 1;
        for (size_t cut = 0; cut < e.len; cut += (cut < 64 || e.len - cut < 64) ? 1 : step) {
            struct got g;
            got_init(&g);
            unsigned long d = pre_run(zips[i], 0, e.data, cut, &g);
            if (strcmp(zips[i], "snappy") == 0 && d == 0) {
                assert_int_equal(g.n, 1);
                size_t n;
                const char *f = frame(&g, 0, &n);
                assert_true(n < 100000);
                if (n) assert_memory_equal(f, x, n);
            } else {
                assert_int_equal(d, 1);
                assert_int_equal(g.n, 0);
            }
            tr_buf_fini(&g.all);
        }
        tr_buf_fini(&e);
    }
    /* checksums: gzip's CRC32 trailer, zlib's Adler-32, xz's CRC64, snappy's CRC32C */
    const char *checked[] = {"gzip", "zlib", "xz2", "snappy"};
    for (int i = 0; i < 4; i++) {
        struct tr_buf e;
        post_run(checked[i], "snot badger", 11, &e);
        /* the checksum: gzip's CRC32 is 8 bytes from the end, zlib's
         * Adler-32 the last 4, xz's stream footer starts with the CRC32 of
         * its flags, snappy's CRC32C follows the first chunk header */
        size_t at = i == 0 ? e.len - 8 : i == 1 ? e.len - 2 : i == 2 ? e.len - 12 : 14;
        e.data[at] ^= 0x40;
        struct got g;
        got_init(&g);
        assert_int_equal(pre_run(checked[i], 0, e.data, e.len, &g), 1);
        assert_int_equal(g.n, 0);
        tr_buf_fini(&g.all);
        tr_buf_fini(&e);
    }
    /* decompress passes what it does not know through, short frames too */
    struct got g;
    got_init(&g);
    assert_int_equal(pre_run("decompress", 0, "{\"a\":1}", 7, &g), 0);
    assert_int_equal(pre_run("decompress", 0, "\x1f\x8b", 2, &g), 0);
    assert_int_equal(g.n, 2);
    /* but a frame with a known magic that does not decode is dropped */
    assert_int_equal(pre_run("decompress", 0, "\x1f\x8b\x08\0\0\0\0\0", 8, &g), 1);
    tr_buf_fini(&g.all);
    tr_free(x);
}

/* A length prefix of 2^64-1 behind decompress ends the stream; the error
 * goes to the error callback once. */
static int errs;
static void on_err(void *arg, const char *why) {
    (void)arg;
    (void)why;
    errs++;
}

static void huge_prefix_after_decompress(void **state) {
    (void)state;
    char *names[] = {"decompress", "length-prefixed"};
    struct tr_buf e;
    post_run("zstd", "\xff\xff\xff\xff\xff\xff\xff\xff" "abc", 11, &e);
    struct tr_preproc *pp;
    assert_int_equal(tr_preproc_create(names, 2, &pp), 0);
    tr_preproc_on_error(pp, on_err, NULL);
    struct got g;
    got_init(&g);
    errs = 0;
    assert_int_equal(tr_preproc_feed(pp, e.data, e.len, collect, &g), TR_ETOOBIG);
    assert_int_equal(tr_preproc_feed(pp, e.data, e.len, collect, &g), TR_ETOOBIG);
    assert_int_equal(errs, 1);
    assert_int_equal(g.n, 0);
    tr_preproc_destroy(pp);
    tr_buf_fini(&e);
    tr_buf_fini(&g.all);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(zip_vectors_from_0_11),
        cmocka_unit_test(lines_no_buffer_vectors),
        cmocka_unit_test(ingest_ns_and_base64_vectors),
        cmocka_unit_test(zip_round_trips),
        cmocka_unit_test(framing_round_trips_split_everywhere),
        cmocka_unit_test(interop_with_real_tools),
        cmocka_unit_test(snappy_spec_bytes),
        cmocka_unit_test(bombs_are_dropped),
        cmocka_unit_test(truncated_and_corrupt_frames),
        cmocka_unit_test(huge_prefix_after_decompress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
