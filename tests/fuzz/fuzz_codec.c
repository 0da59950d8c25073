/* fuzz_codec.c - every codec decoder but json (fuzz_json): the first byte
 * picks the codec, the rest is the frame. Any input decodes to a value or
 * fails with one of the codec errors and leaves TR_NULL; a value encodes or
 * is refused as TR_EINVAL_CFG. Where 0.11's formats guarantee it (msgpack,
 * yaml, binflux), what decodes and encodes must decode again to the same
 * value. influx, statsd and syslog only have to survive: 0.11 writes some
 * values those readers take back differently (escapes, NaN, free text).
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "codec/codec.h"
#include "fuzz_util.h"

static const char *const names[] = {"msgpack", "yaml", "influx", "binflux",
                                     "statsd", "syslog", "binary", "null"};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

static int same(const tr_value *a, const tr_value *b) {
    if (a->type != b->type) return 0;
    switch (a->type) {
    case TR_F64: return (isnan(a->as.f) && isnan(b->as.f)) || a->as.f == b->as.f;
    case TR_ARR:
        if (tr_arr_len(a) != tr_arr_len(b)) return 0;
        for (uint32_t i = 0; i < tr_arr_len(a); i++)
            if (!same(tr_arr_at(a, i), tr_arr_at(b, i))) return 0;
        return 1;
    case TR_REC:
        if (tr_rec_len(a) != tr_rec_len(b)) return 0;
        for (uint32_t i = 0; i < tr_rec_len(a); i++) {
            const struct tr_field *f = tr_rec_at(a, i);
            const tr_value *o = tr_rec_get(b, f->key->data, f->key->len);
            if (!o || !same(&f->val, o)) return 0;
        }
        return 1;
    default: return tr_value_eq(a, b);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    unsigned which = data[0] % (sizeof names / sizeof names[0]);
    const struct tr_codec *c = tr_codec_find(names[which]);
    const char *frame = (const char *)data + 1;
    size_t len = size - 1;
    tr_value v = tr_v_null(), w = tr_v_null();
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = c->decode(frame, len, 1, &v, &d);
    if (rc) {
        if (v.type != TR_NULL) fuzz_fail("%s: failed decode (%d) left a value", c->name, rc);
        if (rc != TR_CODEC_NOTHING && rc != TR_EPARSE && rc != TR_EDEPTH && rc != TR_ETOOBIG && rc != -ENOMEM)
            fuzz_fail("%s: unexpected decode error %d", c->name, rc);
        return 0;
    }
    struct tr_buf b;
    tr_buf_init(&b);
    rc = c->encode(&v, &b);
    if (rc && rc != TR_EINVAL_CFG && rc != -ENOMEM) fuzz_fail("%s: unexpected encode error %d", c->name, rc);
    if (rc && b.len) fuzz_fail("%s: a failed encode left %zu bytes", c->name, b.len);
    int exact = which == 0 || which == 1 || which == 3;
    if (!rc && exact) {
        rc = c->decode(b.data ? b.data : "", b.len, 1, &w, &d);
        if (rc) fuzz_fail("%s: our own encoding does not decode (%d: %s)", c->name, rc, d.msg);
        if (!same(&v, &w)) fuzz_fail("%s: decode(encode(v)) != v", c->name);
    }
    tr_buf_fini(&b);
    tr_value_unref(v);
    tr_value_unref(w);
    return 0;
}
