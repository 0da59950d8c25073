/* fuzz_script.c - the tremor-script compiler and interpreter.
 *
 * Compile the input; if it compiles, run it three times over a fixed event
 * (state carried over, as for a stream), rendering every error the way the
 * CLI does. Crashes, leaks, sanitizer reports and hangs are the findings;
 * regex patterns included (their work is bounded by lang/regex's limits).
 */
#include <string.h>

#include "codec/json.h"
#include "fuzz_util.h"
#include "lang/script.h"

static const char event_json[] =
    "{\"a\":1,\"b\":\"snot\",\"c\":[1,2.5,true,null,\"x\"],\"d\":{\"e\":\"badger\",\"f\":-3},"
    "\"g\":18446744073709551615,\"h\":\"2021-01-01T00:00:00Z\"}";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *src = (const char *)data;
    struct tr_script *s = NULL;
    struct tr_lang_err err;
    struct tr_buf out;
    memset(&err, 0, sizeof err);
    tr_buf_init(&out);
    struct tr_lang_opts opts = {.file = "fuzz.tremor"};
    int rc = tr_lang_compile_script(src, size, &opts, &s, &err);
    if (rc) {
        if (s) fuzz_fail("failed compile returned a script");
        if (err.set) tr_lang_err_render(&err, &out);
        goto out;
    }
    tr_script_render_warnings(s, &out);
    tr_value event0 = tr_v_null(), state = tr_v_null();
    if (tr_json_decode(event_json, sizeof event_json - 1, &event0, NULL)) fuzz_fail("fixed event");
    for (int i = 0; i < 3; i++) {
        tr_value ev = tr_value_ref(event0), meta;
        if (tr_v_rec(0, &meta)) fuzz_fail("meta");
        struct tr_lang_ctx ctx = {.instance = "fuzz", .ingest_ns = (uint64_t)i};
        enum tr_script_outcome oc;
        const char *port = NULL;
        struct tr_diag d;
        tr_diag_clear(&d);
        rc = tr_script_run(s, &ctx, &ev, &meta, &state, &oc, &port, &d);
        if (rc) {
            const struct tr_lang_err *e = tr_script_last_error(s);
            if (e && e->set) tr_script_render(s, e, &out);
        } else if (oc == TR_SCRIPT_EMIT) {
            tr_buf_reset(&out);
            tr_json_encode(&ev, &out);
        }
        tr_value_unref(ev);
        tr_value_unref(meta);
    }
    tr_value_unref(state);
    tr_value_unref(event0);
out:
    tr_buf_fini(&out);
    tr_script_destroy(s);
    tr_lang_err_clear(&err);
    return 0;
}
