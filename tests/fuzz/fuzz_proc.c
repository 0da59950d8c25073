/* fuzz_proc.c - every preprocessor (codec/proc*.c), fed in fuzzer-chosen
 * chunks.
 *
 * Input: 11 header bytes, then the stream.
 *   0      bits 0-1: preprocessor chain length - 1 (mod 3); bits 2-7: max_frame / 4
 *          (0: the default)
 *   1..3   preprocessor names (index mod NPRE)
 *   4..7   chunk sizes (fuzz_util.h)
 *   8      postprocessor chain length - 1 (mod 2)
 *   9..10  postprocessor names (index mod NPOST)
 * Oracles: when the chain starts by buffered framing (lines, lines-null,
 * lines-pipe, length-prefixed, textual-length-prefix, possibly behind
 * remove-empty), the frames and the drop count do not depend on how the
 * stream was split. And a payload put through a postprocessor chain comes
 * back as exactly one frame through the reversed preprocessor chain. The
 * decompressors and gelf meet hostile bytes through the first oracle's runs.
 */
#include <string.h>

#include "codec/proc.h"
#include "fuzz_util.h"

static const char *const pre_names[] = {
    "lines", "lines-null", "lines-pipe", "remove-empty", "base64", "length-prefixed",
    "textual-length-prefix", "lines-no-buffer", "lines-cr-no-buffer", "gzip", "zlib", "xz2",
    "snappy", "lz4", "zstd", "decompress", "gelf-chunking", "gelf-chunking-tcp", "ingest-ns"};
static const char *const post_names[] = {"lines", "length-prefixed", "textual-length-prefix", "base64",
                                         "gzip", "zlib", "xz2", "snappy", "lz4", "zstd",
                                         "gelf-chunking", "ingest-ns"};
#define NPRE (sizeof pre_names / sizeof pre_names[0])
#define NPOST (sizeof post_names / sizeof post_names[0])

/* Stages that keep a partial frame across feeds (the rest work frame by frame). */
static int buffered(const char *name) {
    return strcmp(name, "lines") == 0 || strcmp(name, "lines-null") == 0 ||
           strcmp(name, "lines-pipe") == 0 || strcmp(name, "length-prefixed") == 0 ||
           strcmp(name, "textual-length-prefix") == 0;
}

#define HEAD 11

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

/* Every frame as a u32 length and its bytes, so two runs compare with memcmp. */
static int record(void *arg, const char *data, size_t len) {
    struct tr_buf *b = arg;
    uint32_t n = (uint32_t)len;
    if (tr_buf_append(b, &n, sizeof n) || tr_buf_append(b, data, len)) fuzz_fail("out of memory");
    return 0;
}

static int same(const struct tr_buf *a, const struct tr_buf *b) {
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* A length prefix above max_frame ends the stream with TR_ETOOBIG; the end
 * is recorded like a frame (length 0xFFFFFFFF) so both runs must agree on it. */
static int stream_end(struct tr_preproc *pp, int rc, struct tr_buf *frames) {
    if (rc != TR_ETOOBIG) fuzz_fail("feed returned %d", rc);
    uint32_t mark = UINT32_MAX;
    if (tr_buf_append(frames, &mark, sizeof mark)) fuzz_fail("out of memory");
    if (tr_preproc_feed(pp, "x", 1, record, frames) != rc) fuzz_fail("a failed chain took more input");
    return rc;
}

/* Feed data through a new chain, in chunks (pat != NULL) or at once. */
static unsigned long run(char *const *names, size_t n, uint64_t max_frame, const uint8_t *pat,
                         const char *data, size_t len, struct tr_buf *frames) {
    struct tr_preproc *pp;
    int rc = 0;
    if (tr_preproc_create(names, n, &pp)) fuzz_fail("create");
    if (max_frame) {
        struct tr_preproc_limits l = {.max_frame = max_frame};
        tr_preproc_set_limits(pp, &l);
    }
    if (pat) {
        struct fuzz_chunks c;
        memcpy(c.pat, pat, 4);
        c.i = 0;
        for (size_t off = 0; off < len && !rc;) {
            size_t k = fuzz_next_chunk(&c, len - off);
            rc = tr_preproc_feed(pp, data + off, k, record, frames);
            if (rc) stream_end(pp, rc, frames);
            off += k;
        }
    } else {
        rc = tr_preproc_feed(pp, data, len, record, frames);
        if (rc) stream_end(pp, rc, frames);
    }
    size_t before = frames->len;
    int frc = tr_preproc_finish(pp, record, frames);
    if (rc && (frc || frames->len != before)) fuzz_fail("a failed chain emitted or failed at finish");
    /* the last line, flushed into a length-framed stage, may end the stream there */
    if (frc) stream_end(pp, frc, frames);
    unsigned long dropped = tr_preproc_dropped(pp);
    tr_preproc_destroy(pp);
    return dropped;
}

static void split_invariance(const uint8_t *head, const char *data, size_t len) {
    size_t n = (head[0] & 3) % 3 + 1;
    uint64_t max_frame = (uint64_t)(head[0] >> 2) * 4;   /* 0: the default */
    char *names[3];
    for (size_t i = 0; i < n; i++) names[i] = (char *)pre_names[head[1 + i] % NPRE];
    size_t first = 0;
    while (first < n && strcmp(names[first], "remove-empty") == 0) first++;
    struct tr_buf a, b;
    tr_buf_init(&a);
    tr_buf_init(&b);
    unsigned long da = run(names, n, max_frame, head + 4, data, len, &a);
    unsigned long db = run(names, n, max_frame, NULL, data, len, &b);
    /* a frame-by-frame stage first (or nothing but remove-empty) sees each read as it comes: no invariance */
    if (first < n && buffered(names[first])) {
        if (!same(&a, &b))
            fuzz_fail("frames depend on the split (%zu vs %zu bytes of frames)", a.len, b.len);
        if (da != db) fuzz_fail("drop count depends on the split: %lu vs %lu", da, db);
    }
    tr_buf_fini(&a);
    tr_buf_fini(&b);
}

static void round_trip(const uint8_t *head, const char *data, size_t len) {
    size_t n = head[8] % 2 + 1;
    char *post[2], *pre[2];
    for (size_t i = 0; i < n; i++) {
        post[i] = (char *)post_names[head[9 + i] % NPOST];
        pre[n - 1 - i] = post[i];
    }
    struct tr_buf payload, frames, want;
    tr_buf_init(&payload);
    tr_buf_init(&frames);
    tr_buf_init(&want);
    if (tr_buf_append(&payload, data, len)) fuzz_fail("out of memory");
    for (size_t i = 0; i < n; i++) {
        /* lines cannot carry a newline; gelf only one datagram's worth here */
        if ((strcmp(post[i], "lines") == 0 && memchr(payload.data, '\n', payload.len)) ||
            (strcmp(post[i], "gelf-chunking") == 0 && payload.len > 8180))
            goto out;
        if (tr_postproc_apply(&post[i], 1, &payload)) fuzz_fail("postprocess %s", post[i]);
    }
    /* frame-by-frame stages first need the whole payload in one feed */
    int at_once = !buffered(pre[0]);
    unsigned long dropped = run(pre, n, 0, at_once ? NULL : head + 4, payload.data, payload.len, &frames);
    record(&want, data, len);
    if (dropped || !same(&frames, &want))
        fuzz_fail("%s%s%s round trip: %zu bytes of frames, want %zu, %lu dropped", post[0], n > 1 ? "," : "",
                  n > 1 ? post[1] : "", frames.len, want.len, dropped);
out:
    tr_buf_fini(&payload);
    tr_buf_fini(&frames);
    tr_buf_fini(&want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < HEAD) return 0;
    const char *p = (const char *)data + HEAD;
    size_t len = size - HEAD;
    split_invariance(data, p, len);
    round_trip(data, p, len);
    return 0;
}
