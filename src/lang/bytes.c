/* bytes.c - building binaries from `<< value:bits/type, ... >>` parts.
 *
 * Packs integers big- or little-endian into any number of bits from 1 to
 * 64, carrying a partly filled byte from one part to the next, and appends
 * binaries (or their first n bytes) whole. It follows Tremor 0.11 bit for
 * bit, including its value mask, which keeps one bit more than asked for.
 * It does not evaluate expressions: interp.c hands it values. A trailing
 * partial byte is kept by tr_bytes_finish, shifted down to its low bits
 * as Tremor does.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "lang/bytes_int.h"

#define MAX_BYTES (64u << 20)

static int push(struct tr_bytes_w *w, uint8_t b) {
    if (w->len >= MAX_BYTES) return TR_ETOOBIG;
    if (tr_grow((void **)&w->data, &w->cap, w->len + 1, 1)) return -ENOMEM;
    w->data[w->len++] = b;
    return 0;
}

static int put_be(struct tr_bytes_w *w, unsigned nbytes, uint64_t v) {
    int rc = 0;
    for (unsigned i = nbytes; i-- > 0 && !rc;) rc = push(w, (uint8_t)(v >> (8 * i)));
    return rc;
}

static int write_be(struct tr_bytes_w *w, unsigned bits, uint64_t v) {
    /* Tremor masks with (1 << (bits + 1)) - 1: one bit wider than the field */
    uint64_t mask = bits >= 63 ? UINT64_MAX : ((uint64_t)1 << (bits + 1)) - 1;
    v &= mask;
    if (bits == 0) return 0;
    if (w->pending > 0) {
        if (bits + w->pending >= 8) {
            unsigned missing = 8u - w->pending, shift = bits - missing;
            w->buf |= (uint8_t)(v >> shift);
            int rc = push(w, w->buf);
            if (rc) return rc;
            w->pending = 0;
            w->buf = 0;
            return write_be(w, bits - missing, v);
        }
        unsigned shift = 8u - (bits + w->pending);
        w->pending += bits;
        w->buf |= (uint8_t)((uint8_t)v << shift);
        return 0;
    }
    if (bits % 8) {
        unsigned extra = bits % 8;
        int rc = write_be(w, bits - extra, v >> extra);
        if (rc) return rc;
        w->buf = (uint8_t)((uint8_t)(v & ((1u << extra) - 1)) << (8 - extra));
        w->pending = extra;
        return 0;
    }
    return put_be(w, bits / 8, v);
}

static uint64_t bswap(uint64_t v, unsigned nbytes) {
    uint64_t r = 0;
    for (unsigned i = 0; i < nbytes; i++) r = (r << 8) | ((v >> (8 * i)) & 0xff);
    return r;
}

static int write_le(struct tr_bytes_w *w, unsigned bits, uint64_t v) {
    uint64_t mask = bits >= 63 ? UINT64_MAX : ((uint64_t)1 << (bits + 1)) - 1;
    v &= mask;
    /* byte-swap the containing word, then keep its low `bits` as Tremor does */
    if (bits <= 8) return write_be(w, bits, v);
    if (bits <= 16) return write_be(w, bits, bswap(v & 0xffff, 2));
    if (bits <= 24) return write_be(w, bits, bswap(v & 0xffffffff, 4) >> 8);
    if (bits <= 32) return write_be(w, bits, bswap(v & 0xffffffff, 4));
    if (bits <= 40) return write_be(w, bits, bswap(v, 8) >> 24);
    if (bits <= 48) return write_be(w, bits, bswap(v, 8) >> 16);
    if (bits <= 56) return write_be(w, bits, bswap(v, 8) >> 8);
    return write_be(w, bits, bswap(v, 8));
}

int tr_bytes_append(struct tr_bytes_w *w, int type, int little, unsigned bits, const tr_value *v, char *msg,
                    size_t mlen) {
    int (*wr)(struct tr_bytes_w *, unsigned, uint64_t) = little ? write_le : write_be;
    if (type == BT_UNSIGNED) {
        if (v->type == TR_I64 && v->as.i >= 0) return wr(w, bits, (uint64_t)v->as.i);
        if (v->type == TR_U64) return wr(w, bits, v->as.u);
        snprintf(msg, mlen, "Not an unsigned integer");
        return TR_ERUNTIME;
    }
    if (type == BT_SIGNED) {
        if (v->type == TR_I64) return wr(w, bits, (uint64_t)v->as.i);
        if (v->type == TR_U64 && v->as.u <= (uint64_t)INT64_MAX) return wr(w, bits, v->as.u);
        snprintf(msg, mlen, "Not an signed integer");
        return TR_ERUNTIME;
    }
    if ((v->type != TR_BIN && v->type != TR_STR) || (bits && v->as.s->len < bits)) {
        snprintf(msg, mlen, "Not a long enough binary");
        return TR_ERUNTIME;
    }
    size_t n = bits ? bits : v->as.s->len;
    const uint8_t *p = (const uint8_t *)v->as.s->data;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) rc = w->pending ? wr(w, 8, p[i]) : push(w, p[i]);
    return rc;
}

int tr_bytes_finish(struct tr_bytes_w *w, tr_value *out) {
    int rc = w->pending ? push(w, (uint8_t)(w->buf >> (8 - w->pending))) : 0;
    if (rc) {
        tr_free(w->data);
        memset(w, 0, sizeof *w);
        return rc;
    }
    rc = tr_v_bin(w->data ? (const void *)w->data : "", w->len, out);
    tr_free(w->data);
    memset(w, 0, sizeof *w);
    return rc ? -ENOMEM : 0;
}
