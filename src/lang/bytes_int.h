/* bytes_int.h - building binary literals `<<...>>` (bytes.c) for the interpreter.
 *
 * A writer packs parts of any bit width big- or little-endian; the size is
 * bounded so hostile literals fail with TR_ETOOBIG, never grow unbounded.
 */
#ifndef TR_LANG_BYTES_INT_H
#define TR_LANG_BYTES_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/value.h"
#include "lang/ast.h"

struct tr_bytes_w {
    uint8_t *data;
    size_t len, cap;
    uint8_t buf;                 /* a byte being filled from its high bit down */
    unsigned pending;            /* bits used in buf */
};
/* Append v as a part of type BT_* (ast.h) and width bits (0: a whole
 * binary). TR_ERUNTIME with msg set when v does not fit the type, TR_ETOOBIG
 * past the size bound, -ENOMEM. */
int tr_bytes_append(struct tr_bytes_w *w, int type, int little, unsigned bits, const tr_value *v, char *msg,
                    size_t mlen);
/* The binary built so far (a partial last byte goes in low-aligned); frees
 * w's buffer, also on failure. */
int tr_bytes_finish(struct tr_bytes_w *w, tr_value *out);

#endif
