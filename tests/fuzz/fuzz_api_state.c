/* fuzz_api_state.c - the REST API's state file (api/state.h): any bytes
 * are either refused with a located error or decode to a body that
 * encodes to a file decoding to the same body; and any JSON value, framed
 * by the encoder, is accepted as it is or refused for its shape only
 * (never for a header, length or checksum the encoder wrote).
 */
#include <errno.h>
#include <string.h>

#include "api/state.h"
#include "codec/json.h"
#include "core/buf.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

static void check_refusal(int rc, const struct tr_diag *d) {
    if (rc != TR_ECORRUPT && rc != TR_EPARSE && rc != TR_EDEPTH && rc != TR_ETOOBIG && rc != -ENOMEM)
        fuzz_fail("unexpected decode error %d", rc);
    if (rc != -ENOMEM && (strcmp(d->file, "f") != 0 || !d->msg[0]))
        fuzz_fail("refusal without the file's name or a message: '%s' '%s'", d->file, d->msg);
}

/* A refusal of the header, length or checksum (state.c's texts). */
static int framing(const char *msg) {
    static const char *const start[] = {"checksum mismatch", "the body has ", "not a tremor-c",
                                        "bad ", "format version", "no header line",
                                        "the file is empty"};
    for (size_t i = 0; i < sizeof start / sizeof start[0]; i++)
        if (strncmp(msg, start[i], strlen(start[i])) == 0) return 1;
    return 0;
}

/* A decoded body must survive encode -> decode unchanged. */
static void round_trip(const tr_value *v) {
    struct tr_buf b;
    tr_buf_init(&b);
    tr_value w = tr_v_null();
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_api_state_encode(v, &b);
    if (rc && rc != TR_ETOOBIG && rc != -ENOMEM) fuzz_fail("encode of a decoded body failed: %d", rc);
    if (!rc) {
        rc = tr_api_state_decode("f", b.data, b.len, &w, &d);
        if (rc) fuzz_fail("our own file does not decode: %d %d:%d %s", rc, d.line, d.col, d.msg);
        if (!tr_value_eq(v, &w)) fuzz_fail("decode(encode(body)) != body");
    }
    tr_value_unref(w);
    tr_buf_fini(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tr_value v = tr_v_null();
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_api_state_decode("f", (const char *)data, size, &v, &d);
    if (rc) {
        if (v.type != TR_NULL) fuzz_fail("failed decode (%d) left a value", rc);
        check_refusal(rc, &d);
    } else {
        round_trip(&v);
        tr_value_unref(v);
    }
    /* the input as a body: only its shape may be refused */
    tr_diag_clear(&d);
    if (tr_json_decode((const char *)data, size, &v, &d) != 0) return 0;
    struct tr_buf b;
    tr_buf_init(&b);
    if (tr_api_state_encode(&v, &b) == 0) {
        tr_value w = tr_v_null();
        tr_diag_clear(&d);
        rc = tr_api_state_decode("f", b.data, b.len, &w, &d);
        if (rc && rc != TR_ECORRUPT && rc != -ENOMEM)
            fuzz_fail("an encoded body refused for %d, not its shape: %s", rc, d.msg);
        if (rc == TR_ECORRUPT && framing(d.msg))
            fuzz_fail("an encoded body refused for its framing: %s", d.msg);
        if (!rc && !tr_value_eq(&v, &w)) fuzz_fail("decode(encode(json)) != json");
        tr_value_unref(w);
    }
    tr_buf_fini(&b);
    tr_value_unref(v);
    return 0;
}
