/* fuzz_json.c - the JSON codec: decode anything; what decodes must survive
 * encode -> decode unchanged (equal values, identical second encoding).
 * Every input is also decoded and encoded with the portable string scanner
 * (json_scan.h), which must agree with the vector one chosen at start-up to
 * the byte: result, error location and message, encoding. And the check
 * that lets text travel undecoded (tr_json_canonical) must say yes exactly
 * when the text decodes and encodes back to itself (within its bounds of
 * 32 levels and 128 keys).
 */
#include <errno.h>
#include <string.h>

#include "codec/json.h"
#include "codec/json_scan.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

/* Decode and encode with the portable scanner; fail unless it agrees with
 * the chosen one's rc, d and encoding (enc: NULL when rc != 0). */
static void same_as_portable(const uint8_t *data, size_t size, int rc, const struct tr_diag *d,
                             const struct tr_buf *enc) {
    enum tr_json_scan_kind chosen = tr_json_scan_current();
    if (chosen == TR_JSON_SCAN_PORTABLE) return;
    tr_value p = tr_v_null();
    struct tr_diag pd;
    struct tr_buf pe;
    tr_diag_clear(&pd);
    tr_buf_init(&pe);
    tr_json_scan_use(TR_JSON_SCAN_PORTABLE);
    int prc = tr_json_decode((const char *)data, size, &p, &pd);
    if (prc == 0 && tr_json_encode(&p, &pe)) fuzz_fail("portable encode failed");
    tr_json_scan_use(chosen);
    if (prc != rc) fuzz_fail("%s scanner: rc %d, portable: %d", tr_json_scan_name(chosen), rc, prc);
    if (rc && rc != -ENOMEM && (pd.line != d->line || pd.col != d->col || strcmp(pd.msg, d->msg)))
        fuzz_fail("%s scanner: %d:%d %s, portable: %d:%d %s", tr_json_scan_name(chosen), d->line, d->col, d->msg,
                  pd.line, pd.col, pd.msg);
    if (!rc && (pe.len != enc->len || memcmp(pe.data, enc->data, pe.len)))
        fuzz_fail("%s scanner's encoding differs from the portable one's", tr_json_scan_name(chosen));
    tr_value_unref(p);
    tr_buf_fini(&pe);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tr_value v = tr_v_null(), w = tr_v_null();
    struct tr_diag d;
    tr_diag_clear(&d);
    int flag = -1;
    int rc = tr_json_decode_canon((const char *)data, size, &v, &flag, &d);
    int canon = tr_json_canonical((const char *)data, size);
    if (rc && flag) fuzz_fail("text that does not decode (%d) flagged canonical by the decoder", rc);
    if (rc) same_as_portable(data, size, rc, &d, NULL);
    if (rc && canon) fuzz_fail("text that does not decode (%d) called canonical", rc);
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
    same_as_portable(data, size, 0, &d, &a);
    int same = a.len == size && memcmp(a.data, data, size) == 0;
    if (canon && !same) fuzz_fail("canonical text encodes otherwise:\n%.*s\n%.*s", (int)size, (const char *)data,
                                  (int)a.len, a.data);
    if (flag && !same) fuzz_fail("the decoder flagged text canonical that encodes otherwise:\n%.*s\n%.*s",
                                 (int)size, (const char *)data, (int)a.len, a.data);
    if (!flag && same && !memchr(data, '\\', size))
        fuzz_fail("text without escapes that encodes back to itself not flagged by the decoder: %.*s",
                  (int)size, (const char *)data);
    if (!canon && same && tr_value_depth(&v) <= 32 && size < 128 * 4)
        fuzz_fail("text that encodes back to itself not called canonical: %.*s", (int)size, (const char *)data);
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
