/* proc_zip.c - the compressing postprocessors and decompressing
 * preprocessors: gzip and zlib (zlib), xz (liblzma), lz4 frames (liblz4),
 * zstd (libzstd); snappy framing is in proc_snappy.c.
 *
 * Each frame is one whole compressed stream, as in Tremor 0.11 (gzip, xz,
 * lz4 and zstd also take several streams back to back). Invariant: no
 * decoder writes more than max_frame + 1 bytes - the one extra byte is how
 * a bomb is told from a frame of exactly max_frame - and the output buffer
 * grows through tr_proc_grow, so the budget sees it before it is allocated.
 */
#include "codec/proc_int.h"

#include <errno.h>
#include <limits.h>
#include <lz4frame.h>
#include <lzma.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "core/alloc.h"

/* xz: the most a hostile header may make us allocate for the dictionary.
 * `xz -9` streams need 65 MiB; ours (dictionary cut to the input) far less. */
#define XZ_MEMLIMIT (80u << 20)
/* zstd: 2^27 = 128 MiB is the library's default cap on the window. */
#define ZSTD_WINDOW_LOG_MAX 27
/* Largest input a postprocessor compresses (bounds the output arithmetic). */
#define DEFLATE_MAX_IN (1u << 30)

static size_t cap_of(const struct proc_ctx *c) {
    uint64_t m = c->pp->lim.max_frame;
    return m > SIZE_MAX / 4 ? SIZE_MAX / 4 : (size_t)m;
}

/* Free room at the end of out, never past cap + 1 bytes in all. 0 with
 * *avail > 0; 1 when out already holds more than cap (a bomb); < 0 when
 * the budget refuses. */
static int room(struct proc_ctx *c, struct tr_buf *out, size_t *avail) {
    size_t limit = cap_of(c) + 1;
    if (out->len >= limit) return 1;
    size_t free_now = out->cap > out->len + 1 ? out->cap - out->len - 1 : 0;
    if (free_now < 4096) {
        size_t ask = out->len < 65536 ? 65536 : out->len;   /* doubling */
        if (ask > limit - out->len) ask = limit - out->len;
        int rc = tr_proc_grow(c, out, ask);
        if (rc) return rc;
        free_now = out->cap - out->len - 1;
    }
    *avail = free_now < limit - out->len ? free_now : limit - out->len;
    return 0;
}

static int bomb(struct proc_ctx *c, const char **why) {
    (void)c;
    *why = "decompressed frame larger than the limit";
    return 1;
}

/* --------------------------------------------------------- gzip, zlib */

static void *z_alloc(void *opaque, unsigned n, unsigned size) {
    (void)opaque;
    return tr_calloc(n, size);
}

static void z_free(void *opaque, void *p) {
    (void)opaque;
    tr_free(p);
}

static int inflate_z(struct proc_ctx *c, int gzip, const char *in, size_t len, struct tr_buf *out,
                     const char **why) {
    z_stream z;
    memset(&z, 0, sizeof z);
    z.zalloc = z_alloc;
    z.zfree = z_free;
    if (inflateInit2(&z, gzip ? 15 + 16 : 15) != Z_OK) {
        *why = "out of memory";
        return 1;
    }
    const unsigned char *p = (const unsigned char *)in;
    size_t left = len;
    int rc = 0;
    for (;;) {
        size_t avail;
        rc = room(c, out, &avail);
        if (rc) {
            if (rc > 0) bomb(c, why);
            break;
        }
        z.next_in = (unsigned char *)p;
        z.avail_in = left > UINT_MAX ? UINT_MAX : (unsigned)left;
        z.next_out = (unsigned char *)out->data + out->len;
        z.avail_out = avail > UINT_MAX ? UINT_MAX : (unsigned)avail;
        unsigned in0 = z.avail_in, out0 = z.avail_out;
        int zr = inflate(&z, Z_NO_FLUSH);
        out->len += out0 - z.avail_out;
        p += in0 - z.avail_in;
        left -= in0 - z.avail_in;
        if (zr == Z_STREAM_END) {
            /* gzip: members back to back are one stream (RFC 1952 2.2) */
            if (gzip && left >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
                inflateReset(&z);
                continue;
            }
            if (gzip && left) {
                *why = "gzip: bytes after the end of the stream";
                rc = 1;
            }
            break;
        }
        if (zr == Z_OK || zr == Z_BUF_ERROR) {
            if (left == 0 && z.avail_out != 0) {
                *why = gzip ? "gzip: truncated stream" : "zlib: truncated stream";
                rc = 1;
                break;
            }
            continue;
        }
        *why = zr == Z_MEM_ERROR ? "out of memory" : gzip ? "gzip: corrupt stream" : "zlib: corrupt stream";
        rc = 1;
        break;
    }
    inflateEnd(&z);
    return rc;
}

static int deflate_z(int gzip, const char *in, size_t len, struct tr_buf *out) {
    z_stream z;
    memset(&z, 0, sizeof z);
    z.zalloc = z_alloc;
    z.zfree = z_free;
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip ? 15 + 16 : 15, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    size_t bound = deflateBound(&z, (uLong)len);
    int rc = tr_buf_reserve(out, bound);
    if (!rc) {
        z.next_in = (unsigned char *)in;
        z.avail_in = (unsigned)len;
        z.next_out = (unsigned char *)out->data + out->len;
        z.avail_out = (unsigned)bound;
        rc = deflate(&z, Z_FINISH) == Z_STREAM_END ? 0 : -ENOMEM;
        if (!rc) out->len += bound - z.avail_out;
    }
    deflateEnd(&z);
    return rc;
}

/* ------------------------------------------------------------------ xz */

static void *lz_alloc(void *opaque, size_t n, size_t size) {
    (void)opaque;
    if (size && n > SIZE_MAX / size) return NULL;
    size_t bytes = n * size;
    return tr_malloc(bytes ? bytes : 1);
}

static void lz_free(void *opaque, void *p) {
    (void)opaque;
    tr_free(p);
}

static const lzma_allocator lz_allocator = {lz_alloc, lz_free, NULL};

static int inflate_xz(struct proc_ctx *c, const char *in, size_t len, struct tr_buf *out,
                      const char **why) {
    lzma_stream s = LZMA_STREAM_INIT;
    s.allocator = &lz_allocator;
    if (lzma_stream_decoder(&s, XZ_MEMLIMIT, LZMA_CONCATENATED) != LZMA_OK) {
        *why = "out of memory";
        return 1;
    }
    s.next_in = (const uint8_t *)in;
    s.avail_in = len;
    int rc = 0;
    for (;;) {
        size_t avail;
        rc = room(c, out, &avail);
        if (rc) {
            if (rc > 0) bomb(c, why);
            break;
        }
        s.next_out = (uint8_t *)out->data + out->len;
        s.avail_out = avail;
        lzma_ret r = lzma_code(&s, LZMA_FINISH);
        out->len += avail - s.avail_out;
        if (r == LZMA_STREAM_END) break;
        if (r == LZMA_OK) continue;
        *why = r == LZMA_BUF_ERROR      ? "xz: truncated stream"
               : r == LZMA_MEMLIMIT_ERROR ? "xz: the stream needs more memory than allowed"
               : r == LZMA_MEM_ERROR      ? "out of memory"
               : r == LZMA_FORMAT_ERROR   ? "xz: not an xz stream"
                                          : "xz: corrupt stream";
        rc = 1;
        break;
    }
    lzma_end(&s);
    return rc;
}

/* 0.11 compresses at level 9; its 64 MiB dictionary is cut to the input's
 * size (as the xz tool does for small files), which changes only how much
 * memory both ends need. */
static int deflate_xz(const char *in, size_t len, struct tr_buf *out) {
    lzma_options_lzma opt;
    if (lzma_lzma_preset(&opt, 9)) return -ENOMEM;
    uint32_t dict = len < LZMA_DICT_SIZE_MIN ? LZMA_DICT_SIZE_MIN : (uint32_t)len;
    if (dict < opt.dict_size) opt.dict_size = dict;
    lzma_filter filters[] = {{LZMA_FILTER_LZMA2, &opt}, {LZMA_VLI_UNKNOWN, NULL}};
    size_t bound = lzma_stream_buffer_bound(len);
    int rc = tr_buf_reserve(out, bound);
    if (rc) return rc;
    size_t pos = out->len;
    lzma_ret r = lzma_stream_buffer_encode(filters, LZMA_CHECK_CRC64, &lz_allocator,
                                           (const uint8_t *)in, len, (uint8_t *)out->data, &pos,
                                           out->len + bound);
    if (r != LZMA_OK) return -ENOMEM;
    out->len = pos;
    return 0;
}

/* ----------------------------------------------------------------- lz4 */

static int inflate_lz4(struct proc_ctx *c, const char *in, size_t len, struct tr_buf *out,
                       const char **why) {
    LZ4F_dctx *d;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION))) {
        *why = "out of memory";
        return 1;
    }
    size_t left = len;
    int rc = 0;
    for (;;) {
        size_t avail;
        rc = room(c, out, &avail);
        if (rc) {
            if (rc > 0) bomb(c, why);
            break;
        }
        size_t dst = avail, src = left;
        size_t r = LZ4F_decompress(d, out->data + out->len, &dst, in, &src, NULL);
        if (LZ4F_isError(r)) {
            *why = "lz4: corrupt frame";
            rc = 1;
            break;
        }
        out->len += dst;
        in += src;
        left -= src;
        if (r == 0 && left == 0) break;          /* the last frame is complete */
        if (r == 0) continue;                    /* another frame follows */
        if (left == 0 && dst == 0) {
            *why = "lz4: truncated frame";
            rc = 1;
            break;
        }
    }
    LZ4F_freeDecompressionContext(d);
    return rc;
}

static int deflate_lz4(const char *in, size_t len, struct tr_buf *out) {
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof prefs);
    prefs.compressionLevel = 4;   /* 0.11's level */
    size_t bound = LZ4F_compressFrameBound(len, &prefs);
    int rc = tr_buf_reserve(out, bound);
    if (rc) return rc;
    size_t n = LZ4F_compressFrame(out->data + out->len, bound, in, len, &prefs);
    if (LZ4F_isError(n)) return -ENOMEM;
    out->len += n;
    return 0;
}

/* ---------------------------------------------------------------- zstd */

static int inflate_zstd(struct proc_ctx *c, const char *in, size_t len, struct tr_buf *out,
                        const char **why) {
    ZSTD_DStream *z = ZSTD_createDStream();
    if (!z) {
        *why = "out of memory";
        return 1;
    }
    ZSTD_DCtx_setParameter(z, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX);
    ZSTD_inBuffer ib = {in, len, 0};
    int rc = 0;
    for (;;) {
        size_t avail;
        rc = room(c, out, &avail);
        if (rc) {
            if (rc > 0) bomb(c, why);
            break;
        }
        ZSTD_outBuffer ob = {out->data + out->len, avail, 0};
        size_t r = ZSTD_decompressStream(z, &ob, &ib);
        if (ZSTD_isError(r)) {
            *why = ZSTD_getErrorCode(r) == ZSTD_error_frameParameter_windowTooLarge
                       ? "zstd: the frame needs a larger window than allowed"
                       : "zstd: corrupt frame";
            rc = 1;
            break;
        }
        out->len += ob.pos;
        if (r == 0 && ib.pos == ib.size) break;
        if (r == 0) continue;
        if (ib.pos == ib.size && ob.pos < ob.size) {
            *why = "zstd: truncated frame";
            rc = 1;
            break;
        }
    }
    ZSTD_freeDStream(z);
    return rc;
}

static int deflate_zstd(const char *in, size_t len, struct tr_buf *out) {
    size_t bound = ZSTD_compressBound(len);
    int rc = tr_buf_reserve(out, bound);
    if (rc) return rc;
    size_t n = ZSTD_compress(out->data + out->len, bound, in, len, 3);
    if (ZSTD_isError(n)) return -ENOMEM;
    out->len += n;
    return 0;
}

/* ------------------------------------------------------------- dispatch */

int tr_proc_inflate(struct proc_ctx *c, enum tr_proc_fmt fmt, const char *in, size_t len,
                    struct tr_buf *out, const char **why) {
    if (!in) in = "";   /* an empty frame may come as NULL; the decoders step through in */
    switch (fmt) {
    case TR_FMT_GZIP: return inflate_z(c, 1, in, len, out, why);
    case TR_FMT_ZLIB: return inflate_z(c, 0, in, len, out, why);
    case TR_FMT_XZ: return inflate_xz(c, in, len, out, why);
    case TR_FMT_SNAPPY: return tr_proc_snappy_decode(c, in, len, out, why);
    case TR_FMT_LZ4: return inflate_lz4(c, in, len, out, why);
    case TR_FMT_ZSTD: return inflate_zstd(c, in, len, out, why);
    }
    *why = "unknown format";
    return 1;
}

/* 0.11's decompress looks at the first 6 bytes (shorter frames pass
 * through); snappy is taken on its first byte, 0xff, as there. */
int tr_proc_sniff(const char *in, size_t len) {
    const unsigned char *p = (const unsigned char *)in;
    if (len < 6) return -1;
    if (p[0] == 0x1f && p[1] == 0x8b) return TR_FMT_GZIP;
    if (p[0] == 0x78 && (p[1] == 0x01 || p[1] == 0x5e || p[1] == 0x9c || p[1] == 0xda))
        return TR_FMT_ZLIB;
    if (memcmp(p, "\xfd" "7zXZ\0", 6) == 0) return TR_FMT_XZ;
    if (p[0] == 0xff) return TR_FMT_SNAPPY;
    if (memcmp(p, "\x04\x22\x4d\x18", 4) == 0) return TR_FMT_LZ4;
    if (memcmp(p, "\x28\xb5\x2f\xfd", 4) == 0) return TR_FMT_ZSTD;
    return -1;
}

int tr_proc_deflate(enum tr_proc_fmt fmt, const char *in, size_t len, struct tr_buf *out) {
    if (len > DEFLATE_MAX_IN) return TR_ETOOBIG;
    switch (fmt) {
    case TR_FMT_GZIP: return deflate_z(1, in, len, out);
    case TR_FMT_ZLIB: return deflate_z(0, in, len, out);
    case TR_FMT_XZ: return deflate_xz(in, len, out);
    case TR_FMT_SNAPPY: return tr_proc_snappy_encode(in, len, out);
    case TR_FMT_LZ4: return deflate_lz4(in, len, out);
    case TR_FMT_ZSTD: return deflate_zstd(in, len, out);
    }
    return TR_EINVAL_CFG;
}
