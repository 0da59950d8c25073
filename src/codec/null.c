/* null.c - 0.11's `null` codec: every frame decodes to null, every value
 * encodes to no bytes. For sources whose payload does not matter (and
 * sinks that only count events).
 */
#include "codec/codec_int.h"

static int null_decode(const char *data, size_t len, uint64_t ingest_ns, tr_value *out,
                       struct tr_diag *d) {
    (void)data;
    (void)len;
    (void)ingest_ns;
    (void)d;
    *out = tr_v_null();
    return 0;
}

static int null_encode(const tr_value *v, struct tr_buf *out) {
    (void)v;
    (void)out;
    return 0;
}

const struct tr_codec tr_codec_null = {
    .name = "null", .decode = null_decode, .encode = null_encode, .view = NULL,
};
