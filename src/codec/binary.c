/* binary.c - 0.11's `binary` codec: a frame decodes to a binary value of
 * its bytes; a binary or string encodes as its bytes and anything else as
 * compact JSON (as 0.11 does). No size limit beyond the frame's.
 */
#include "codec/codec_int.h"
#include "codec/json.h"

static int binary_decode(const char *data, size_t len, uint64_t ingest_ns, tr_value *out,
                         struct tr_diag *d) {
    (void)ingest_ns;
    (void)d;
    return tr_v_bin(data, len, out);
}

static int binary_encode(const tr_value *v, struct tr_buf *out) {
    if (v->type == TR_STR || v->type == TR_BIN) return tr_buf_append(out, v->as.s->data, v->as.s->len);
    return tr_json_encode(v, out);
}

const struct tr_codec tr_codec_binary = {
    .name = "binary", .decode = binary_decode, .encode = binary_encode, .view = tr_codec_bytes_view,
};
