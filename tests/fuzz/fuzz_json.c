/* fuzz_json.c - the JSON codec: decode anything; what decodes must survive
 * encode -> decode unchanged (equal values, identical second encoding).
 */
#include <errno.h>
#include <string.h>

#include "codec/json.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tr_value v = tr_v_null(), w = tr_v_null();
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_json_decode((const char *)data, size, &v, &d);
    if (rc) {
        if (v.type != TR_NULL) fuzz_fail("failed decode (%d) left a value", rc);
        if (rc != TR_EPARSE && rc != TR_EDEPTH && rc != TR_ETOOBIG && rc != -ENOMEM)
            fuzz_fail("unexpected decode error %d", rc);
        if (rc == TR_EPARSE && (d.line < 1 || d.col < 1 || !d.msg[0]))
            fuzz_fail("parse error without a location: %d:%d '%s'", d.line, d.col, d.msg);
        return 0;
    }
    struct tr_buf a, b;
    tr_buf_init(&a);
    tr_buf_init(&b);
    rc = tr_json_encode(&v, &a);
    if (rc) fuzz_fail("encode of a decoded value failed: %d", rc);
    rc = tr_json_decode(a.data, a.len, &w, &d);
    if (rc) fuzz_fail("our own encoding does not decode: %d %d:%d %s", rc, d.line, d.col, d.msg);
    if (!tr_value_eq(&v, &w)) fuzz_fail("decode(encode(v)) != v");
    rc = tr_json_encode(&w, &b);
    if (rc) fuzz_fail("second encode failed: %d", rc);
    if (a.len != b.len || memcmp(a.data, b.data, a.len))
        fuzz_fail("encodings differ:\n%.*s\n%.*s", (int)a.len, a.data, (int)b.len, b.data);
    /* the pretty form must be the same document */
    tr_buf_reset(&b);
    rc = tr_json_encode_pretty(&v, &b);
    if (rc) fuzz_fail("pretty encode failed: %d", rc);
    tr_value_unref(w);
    w = tr_v_null();
    rc = tr_json_decode(b.data, b.len, &w, &d);
    if (rc || !tr_value_eq(&v, &w)) fuzz_fail("pretty encoding does not read back (%d)", rc);
    tr_buf_fini(&a);
    tr_buf_fini(&b);
    tr_value_unref(v);
    tr_value_unref(w);
    return 0;
}
