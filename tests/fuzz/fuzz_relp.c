/* fuzz_relp.c - the RELP frame reader (connectors/relp_frame.h) over split
 * reads.
 *
 * Input: bytes 0..3 chunk sizes (fuzz_util.h), then the stream. Oracles:
 * the frames read and where reading stops do not depend on the split (the
 * whole stream in one read gives the same frames and the same error); a
 * frame's data never exceeds the bound; every byte is taken or an error
 * ends the stream.
 */
#include <errno.h>
#include <string.h>

#include "connectors/relp_frame.h"
#include "core/alloc.h"
#include "fuzz_util.h"

#define HEAD 4
#define MAX_DATA 4096
#define MAX_FRAMES 256

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

struct seen {
    uint64_t txnr[MAX_FRAMES];
    size_t len[MAX_FRAMES];
    uint32_t sum[MAX_FRAMES];
    size_t n;
    int end;   /* last result: 0 (needs more) or an error */
};

static uint32_t sum_of(const char *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 16777619u;
    return h;
}

static void run(const uint8_t *pat, const uint8_t *data, size_t len, struct seen *s) {
    struct tr_relp_parser p;
    tr_relp_parser_init(&p, MAX_DATA);
    struct fuzz_chunks ch = {{0}, 0};
    if (pat) memcpy(ch.pat, pat, 4);
    size_t off = 0;
    s->n = 0;
    s->end = 0;
    while (off < len && s->end == 0) {
        size_t n = pat ? fuzz_next_chunk(&ch, len - off) : len - off;
        const char *b = (const char *)data + off;
        off += n;
        while (n) {
            size_t used = 0;
            struct tr_relp_frame f;
            struct tr_diag d;
            tr_diag_clear(&d);
            int r = tr_relp_parse(&p, b, n, &used, &f, &d);
            if (used > n) fuzz_fail("took %zu of %zu bytes", used, n);
            if (r < 0) {
                if (r != TR_EPARSE && r != TR_ETOOBIG && r != -ENOMEM) fuzz_fail("result %d", r);
                if (!d.msg[0]) fuzz_fail("an error without a message");
                s->end = r;
                break;
            }
            if (r == 0 && used != n) fuzz_fail("needs more but left %zu bytes", n - used);
            b += used;
            n -= used;
            if (r == 1) {
                if (f.len > MAX_DATA) fuzz_fail("frame of %zu bytes over the bound", f.len);
                if (!f.cmd[0] || strlen(f.cmd) > TR_RELP_CMD_MAX) fuzz_fail("bad command");
                if (s->n < MAX_FRAMES) {
                    s->txnr[s->n] = f.txnr;
                    s->len[s->n] = f.len;
                    s->sum[s->n] = sum_of(f.data, f.len);
                }
                s->n++;
            }
        }
    }
    tr_relp_parser_fini(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < HEAD) return 0;
    static struct seen a, b;
    run(data, data + HEAD, size - HEAD, &a);
    run(NULL, data + HEAD, size - HEAD, &b);
    if (a.n != b.n || a.end != b.end) fuzz_fail("split: %zu frames, end %d; whole: %zu, end %d", a.n, a.end, b.n, b.end);
    size_t k = a.n < MAX_FRAMES ? a.n : MAX_FRAMES;
    for (size_t i = 0; i < k; i++)
        if (a.txnr[i] != b.txnr[i] || a.len[i] != b.len[i] || a.sum[i] != b.sum[i])
            fuzz_fail("frame %zu differs between split and whole", i);
    return 0;
}
