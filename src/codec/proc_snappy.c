/* proc_snappy.c - the snappy framing format (framing_format.txt in the
 * snappy sources), which 0.11's snappy pre/postprocessors speak; libsnappy
 * does the block compression only.
 *
 * A stream is a run of chunks, each:
 *   byte 0       type
 *   bytes 1..3   length of what follows, little-endian
 *   then         length bytes
 * Types: 0xff stream identifier, length 6, "sNaPpY" (first, and again
 * wherever streams were concatenated); 0x00 compressed data and 0x01
 * uncompressed data, both starting with the 4-byte little-endian masked
 * CRC32C of the uncompressed bytes (at most 65536 per chunk); 0x02..0x7f
 * reserved, must not be skipped (an error); 0x80..0xfe skippable (0xfe is
 * padding). Mask: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
 * Invariant: a chunk's uncompressed size is checked against the limit
 * before any room is made for it.
 */
#include "codec/proc_int.h"

#include <errno.h>
#include <snappy-c.h>
#include <string.h>

#include "core/alloc.h"
#include "wal/wal_int.h"   /* tr_wal_crc32c: the one CRC32C of the tree */

#define BLOCK 65536

static const char ident[10] = {(char)0xff, 6, 0, 0, 's', 'N', 'a', 'P', 'p', 'Y'};

static uint32_t masked_crc(const char *p, size_t n) {
    uint32_t crc = tr_wal_crc32c(0, p, n);
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int tr_proc_snappy_decode(struct proc_ctx *c, const char *in, size_t len, struct tr_buf *out,
                          const char **why) {
    const unsigned char *p = (const unsigned char *)in;
    uint64_t cap = c->pp->lim.max_frame;
    int seen_ident = 0;
    while (len) {
        if (len < 4) {
            *why = "snappy: truncated chunk header";
            return 1;
        }
        unsigned type = p[0];
        size_t n = (size_t)p[1] | (size_t)p[2] << 8 | (size_t)p[3] << 16;
        if (len - 4 < n) {
            *why = "snappy: truncated chunk";
            return 1;
        }
        const unsigned char *body = p + 4;
        p += 4 + n;
        len -= 4 + n;
        if (type == 0xff) {
            if (n != 6 || memcmp(body, ident + 4, 6) != 0) {
                *why = "snappy: bad stream identifier";
                return 1;
            }
            seen_ident = 1;
            continue;
        }
        if (!seen_ident) {
            *why = "snappy: no stream identifier";
            return 1;
        }
        if (type >= 0x80) continue;   /* skippable, padding */
        if (type > 0x01) {
            *why = "snappy: reserved unskippable chunk";
            return 1;
        }
        if (n < 4) {
            *why = "snappy: chunk shorter than its checksum";
            return 1;
        }
        const char *data = (const char *)body + 4;
        size_t dlen = n - 4, ulen = dlen;
        if (type == 0x00 &&
            snappy_uncompressed_length(data, dlen, &ulen) != SNAPPY_OK) {
            *why = "snappy: corrupt chunk";
            return 1;
        }
        if (ulen > BLOCK) {
            *why = "snappy: chunk larger than 65536 bytes";
            return 1;
        }
        if (out->len + ulen > cap) {
            *why = "decompressed frame larger than the limit";
            return 1;
        }
        int rc = tr_proc_grow(c, out, ulen);
        if (rc) return rc;
        char *dst = out->data + out->len;
        if (type == 0x00) {
            if (snappy_uncompress(data, dlen, dst, &ulen) != SNAPPY_OK) {
                *why = "snappy: corrupt chunk";
                return 1;
            }
        } else {
            memcpy(dst, data, ulen);
        }
        if (masked_crc(dst, ulen) != le32(body)) {
            *why = "snappy: checksum mismatch";
            return 1;
        }
        out->len += ulen;
    }
    return 0;   /* nothing at all is an empty stream, as python-snappy writes it */
}

static void put_header(char *h, unsigned type, size_t n, uint32_t crc) {
    h[0] = (char)type;
    h[1] = (char)(n & 0xff);
    h[2] = (char)(n >> 8 & 0xff);
    h[3] = (char)(n >> 16 & 0xff);
    for (int k = 0; k < 4; k++) h[4 + k] = (char)(crc >> (8 * k) & 0xff);
}

/* Blocks that do not shrink by an eighth go out uncompressed (as the
 * snap crate 0.11 uses does). */
int tr_proc_snappy_encode(const char *in, size_t len, struct tr_buf *out) {
    size_t blocks = len / BLOCK + 1;
    size_t most = snappy_max_compressed_length(BLOCK) + 8;
    if (blocks > SIZE_MAX / most - 1) return TR_ETOOBIG;
    int rc = tr_buf_reserve(out, sizeof ident + blocks * most);
    if (rc) return rc;
    memcpy(out->data + out->len, ident, sizeof ident);
    out->len += sizeof ident;
    for (size_t off = 0; off < len; off += BLOCK) {
        size_t n = len - off < BLOCK ? len - off : BLOCK;
        char *h = out->data + out->len;
        size_t clen = most - 8;
        uint32_t crc = masked_crc(in + off, n);
        if (snappy_compress(in + off, n, h + 8, &clen) != SNAPPY_OK) return -ENOMEM;
        if (clen < n - n / 8) {
            put_header(h, 0x00, clen + 4, crc);
            out->len += 8 + clen;
        } else {
            put_header(h, 0x01, n + 4, crc);
            memcpy(h + 8, in + off, n);
            out->len += 8 + n;
        }
    }
    out->data[out->len] = 0;
    return 0;
}
