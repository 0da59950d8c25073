/* codec.c - the codec table: json (ours, src/codec/json.c) and string. */
#include "codec/codec.h"

#include <string.h>

#include "codec/json.h"
#include "core/utf8.h"

static int json_decode(const char *data, size_t len, tr_value *out, struct tr_diag *d) {
    return tr_json_decode(data, len, out, d);
}

static int json_encode(const tr_value *v, struct tr_buf *out) { return tr_json_encode(v, out); }

/* string: the frame is the value when it is UTF-8 (0.11: std::str::from_utf8,
 * its error text included); a value that is not a string encodes as JSON. */
static int string_decode(const char *data, size_t len, tr_value *out, struct tr_diag *d) {
    size_t ok, bad;
    *out = tr_v_null();
    if (tr_utf8_check(data, len, &ok, &bad)) {
        if (d) tr_utf8_error_text(ok, bad, d->msg, sizeof d->msg);
        return TR_EPARSE;
    }
    return tr_v_str(data, len, out);
}

static int string_encode(const tr_value *v, struct tr_buf *out) {
    if (v->type == TR_STR || v->type == TR_BIN) return tr_buf_append(out, v->as.s->data, v->as.s->len);
    return tr_json_encode(v, out);
}

static const struct tr_codec codecs[] = {
    {"json", json_decode, json_encode},
    {"string", string_decode, string_encode},
};

const struct tr_codec *tr_codec_find(const char *name) {
    for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++)
        if (strcmp(codecs[i].name, name) == 0) return &codecs[i];
    return NULL;
}

const char *tr_codec_names(void) { return "json, string"; }
