/* display.c - how values print inside strings.
 *
 * Two forms, as in Tremor 0.11: string::format and "#{}" interpolation
 * print strings raw and everything else as compact JSON (tremor-value's
 * encode(), so floats as ryu writes them: 1e300, 0.1, 1.0); array::join
 * uses Rust's ToString, where a float prints as `{}` does (1, 0.1,
 * 1000...0, no exponent) and bytes as <<[1, 2]>>. This is not the JSON
 * codec (codec/json.c does the encoding).
 */
#include <stdio.h>

#include "codec/json.h"
#include "core/fmtnum.h"
#include "lang/std_int.h"

int tr_value_display(const tr_value *v, struct tr_buf *out) {
    if (v->type == TR_STR) return tr_buf_append(out, v->as.s->data, v->as.s->len);
    return tr_json_encode(v, out);
}

int tr_value_to_string(const tr_value *v, struct tr_buf *out) {
    if (v->type == TR_F64) {
        char t[TR_FMTNUM_MAX];
        size_t n = tr_fmtnum_display(v->as.f, t);
        return tr_buf_append(out, t, n);
    }
    if (v->type == TR_BIN) {
        int rc = tr_buf_append(out, "<<[", 3);
        for (uint32_t i = 0; i < v->as.s->len && !rc; i++) {
            char t[8];
            int k = snprintf(t, sizeof t, i ? ", %u" : "%u", (unsigned)(uint8_t)v->as.s->data[i]);
            rc = tr_buf_append(out, t, (size_t)k);
        }
        return rc ? rc : tr_buf_append(out, "]>>", 3);
    }
    /* arrays and records: 0.11 prints Rust's Debug form of its internal
     * types there; compact JSON is kept (a known difference, README) */
    return tr_value_display(v, out);
}
