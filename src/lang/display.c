/* display.c - how values print inside strings (string::format, "#{}",
 * array::join).
 *
 * Strings print as their raw text, everything else as compact JSON. This
 * is not the JSON codec (codec/json.c does the encoding).
 */
#include "codec/json.h"
#include "lang/std_int.h"

int tr_value_display(const tr_value *v, struct tr_buf *out) {
    if (v->type == TR_STR) return tr_buf_append(out, v->as.s->data, v->as.s->len);
    return tr_json_encode(v, out);
}
