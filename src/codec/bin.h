/* bin.h - a compact, lossless binary encoding of values.
 *
 * Used where values are stored and read back by us (the WAL's records):
 * unlike JSON it keeps every type exactly (binaries, u64, float bit
 * patterns, key order). Not a wire format for other systems.
 */
#ifndef TR_BIN_H
#define TR_BIN_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/value.h"

/* Append the encoding of v to out. 0 or -ENOMEM, TR_EDEPTH. */
int tr_bin_encode(const tr_value *v, struct tr_buf *out);
/* Decode one value from data[*off..len), advancing *off. TR_ECORRUPT when
 * the bytes are not a valid encoding (never reads past len, never allocates
 * more than the input can describe). */
int tr_bin_decode(const char *data, size_t len, size_t *off, tr_value *out);

/* 1 when data[*off..len) starts with the encoding of {} (and then *off is
 * moved past it), else 0: a reader that would decode an empty record can
 * hold tr_v_rec_empty instead of allocating one. */
int tr_bin_skip_empty_rec(const char *data, size_t len, size_t *off);

/* Varint helpers shared with record framing built on top of this codec. */
int tr_bin_put_uvarint(struct tr_buf *out, uint64_t v);
/* Write v as a uvarint at p, which has room for 10 bytes; returns the bytes
 * written. For a caller that reserved once for several. */
static inline size_t tr_bin_uvarint_at(char *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (char)(unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (char)(unsigned char)v;
    return n;
}
/* Read a uvarint at data[*off..len), advancing *off; TR_ECORRUPT when it
 * runs past len or over 10 bytes. Inline for the one-byte case (lengths,
 * counts, small ids: most of what a record holds). */
int tr_bin_get_uvarint_long(const char *data, size_t len, size_t *off, uint64_t *v);
static inline int tr_bin_get_uvarint(const char *data, size_t len, size_t *off, uint64_t *v) {
    if (*off < len && !((unsigned char)data[*off] & 0x80)) {
        *v = (unsigned char)data[(*off)++];
        return 0;
    }
    return tr_bin_get_uvarint_long(data, len, off, v);
}

#endif
