/* xz.c - streaming .xz decompression over liblzma (see xz.h).
 *
 * Not a compressor. liblzma allocates through its own allocator hook, which
 * is pointed at our seam so its memory is counted and can be made to fail.
 * Invariant: once the stream has ended nothing more comes out, and input
 * after the end is reported as corrupt.
 */
#include "connectors/xz.h"

#include <errno.h>
#include <lzma.h>
#include <string.h>

#include "core/alloc.h"

#define MEMLIMIT ((uint64_t)256 << 20)

struct tr_xz {
    lzma_stream s;
    lzma_allocator alloc;
    bool ended;              /* LZMA_STREAM_END seen */
};

static void *xz_alloc(void *opaque, size_t nmemb, size_t size) {
    (void)opaque;
    return tr_calloc(nmemb, size);
}

static void xz_free(void *opaque, void *ptr) {
    (void)opaque;
    tr_free(ptr);
}

bool tr_xz_path(const char *path) {
    size_t n = strlen(path);
    return n > 3 && strcmp(path + n - 3, ".xz") == 0;
}

int tr_xz_create(struct tr_xz **out) {
    *out = NULL;
    struct tr_xz *x = tr_calloc(1, sizeof *x);
    if (!x) return -ENOMEM;
    lzma_stream init = LZMA_STREAM_INIT;
    x->s = init;
    x->alloc.alloc = xz_alloc;
    x->alloc.free = xz_free;
    x->s.allocator = &x->alloc;
    if (lzma_stream_decoder(&x->s, MEMLIMIT, LZMA_CONCATENATED) != LZMA_OK) {
        tr_free(x);
        return -ENOMEM;
    }
    *out = x;
    return 0;
}

void tr_xz_destroy(struct tr_xz *x) {
    if (!x) return;
    lzma_end(&x->s);
    tr_free(x);
}

static const char *what(lzma_ret r) {
    switch (r) {
    case LZMA_MEMLIMIT_ERROR: return "needs more than 256 MiB of memory to decompress";
    case LZMA_FORMAT_ERROR: return "is not in the .xz format";
    case LZMA_OPTIONS_ERROR: return "uses unsupported .xz options";
    case LZMA_DATA_ERROR: return "is corrupt";
    case LZMA_BUF_ERROR: return "is truncated";
    default: return "cannot be decompressed";
    }
}

int tr_xz_step(struct tr_xz *x, const char **in, size_t *in_len, bool last, char *out, size_t cap,
               size_t *got, struct tr_diag *d) {
    *got = 0;
    if (x->ended) {
        if (*in_len) return tr_diag_set(d, TR_ECORRUPT, NULL, 0, 0, "has data after its end");
        return 0;
    }
    x->s.next_in = (const uint8_t *)*in;
    x->s.avail_in = *in_len;
    x->s.next_out = (uint8_t *)out;
    x->s.avail_out = cap;
    lzma_ret r = lzma_code(&x->s, last ? LZMA_FINISH : LZMA_RUN);
    *got = cap - x->s.avail_out;
    *in += *in_len - x->s.avail_in;
    *in_len = x->s.avail_in;
    if (r == LZMA_STREAM_END) {
        x->ended = true;
        if (*in_len) return tr_diag_set(d, TR_ECORRUPT, NULL, 0, 0, "has data after its end");
        return 0;
    }
    if (r == LZMA_MEM_ERROR) return -ENOMEM;
    /* no progress at all on the final input: the file stops mid-stream */
    if (r == LZMA_BUF_ERROR && last) return tr_diag_set(d, TR_ECORRUPT, NULL, 0, 0, "is truncated");
    if (r != LZMA_OK && r != LZMA_BUF_ERROR) return tr_diag_set(d, TR_ECORRUPT, NULL, 0, 0, "%s", what(r));
    return 0;
}

bool tr_xz_ended(const struct tr_xz *x) { return x->ended; }
