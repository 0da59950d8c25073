/* fuzz_query.c - the trickle query compiler, and its selects and scripts
 * run over a fixed event.
 *
 * Compile the input; for every select node push three copies of a fixed
 * event (ingest times 1 s apart) and then tick past every window; for every
 * script node run the script over the event. Operators are not
 * instantiated (that is the pipeline layer, and qos::wal would touch the
 * disk). Regex patterns are fuzzed too: lang/regex bounds their work.
 */
#include <errno.h>
#include <string.h>

#include "codec/json.h"
#include "core/event.h"
#include "fuzz_util.h"
#include "lang/lang.h"
#include "lang/query.h"
#include "lang/script.h"

static const char event_json[] =
    "{\"a\":1,\"b\":\"snot\",\"c\":[1,2.5,true,null,\"x\"],\"d\":{\"e\":\"badger\",\"f\":-3},"
    "\"g\":18446744073709551615,\"h\":\"2021-01-01T00:00:00Z\"}";

#define SECOND 1000000000ull

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

/* Counts and drops what a select emits (the callee owns ev). */
static int sink(void *arg, const char *port, struct tr_event *ev) {
    (void)port;
    struct tr_buf *b = arg;
    tr_buf_reset(b);
    tr_json_encode(&ev->value, b);
    tr_event_fini(ev);
    return 0;
}

static void run_select(struct tr_select *sel, const tr_value *event0, struct tr_buf *b) {
    for (uint64_t i = 0; i < 3; i++) {
        struct tr_event ev;
        if (tr_event_init(&ev, tr_value_ref(*event0), tr_v_null(), (i + 1) * SECOND)) fuzz_fail("event");
        tr_ids_init(&ev.ids, 1, 0, i);
        struct tr_lang_ctx ctx = {.instance = "fuzz", .ingest_ns = ev.ingest_ns};
        struct tr_diag d;
        tr_diag_clear(&d);
        tr_select_run(sel, &ctx, &ev, sink, b, &d);
    }
    struct tr_lang_ctx ctx = {.instance = "fuzz", .ingest_ns = 3600 * SECOND};
    struct tr_diag d;
    tr_diag_clear(&d);
    tr_select_tick(sel, &ctx, 3600 * SECOND, sink, b, &d);
}

static void run_script(struct tr_script *s, const tr_value *event0, struct tr_buf *b) {
    tr_value ev = tr_value_ref(*event0), meta, state = tr_v_null();
    if (tr_v_rec(0, &meta)) fuzz_fail("meta");
    struct tr_lang_ctx ctx = {.instance = "fuzz", .ingest_ns = SECOND};
    enum tr_script_outcome oc;
    const char *port = NULL;
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_script_run(s, &ctx, &ev, &meta, &state, &oc, &port, &d) == 0 && oc == TR_SCRIPT_EMIT) {
        tr_buf_reset(b);
        tr_json_encode(&ev, b);
    }
    tr_value_unref(ev);
    tr_value_unref(meta);
    tr_value_unref(state);
}

/* tremor check's recovery: the first error it reports is the compiler's. */
struct recovered {
    const struct tr_lang_err *first;
    size_t n;
};

static int on_err(void *arg, const struct tr_lang_err *e) {
    struct recovered *r = arg;
    if (!e->set || !e->msg[0]) fuzz_fail("reported an empty error");
    if (r->n++ == 0 && r->first &&
        r->first->set && (strcmp(e->msg, r->first->msg) || e->inner.s.off != r->first->inner.s.off))
        fuzz_fail("first recovered error '%s' is not the compiler's '%s'", e->msg, r->first->msg);
    return 0;
}

static void check_recovery(const char *src, size_t size, const struct tr_lang_opts *opts,
                           const struct tr_lang_err *first) {
    struct recovered r = {first, 0};
    int truncated;
    int n = tr_lang_check_query(src, size, opts, on_err, NULL, &r, &truncated);
    if (n == -ENOMEM) return;
    if (n < 0 || (size_t)n != r.n) fuzz_fail("check returned %d for %zu errors", n, r.n);
    if ((first != NULL) != (n > 0)) fuzz_fail("compile %s, check found %d errors",
                                              first ? "failed" : "passed", n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *src = (const char *)data;
    struct tr_query *q = NULL;
    struct tr_lang_err err;
    struct tr_buf out;
    memset(&err, 0, sizeof err);
    tr_buf_init(&out);
    struct tr_lang_opts opts = {.file = "fuzz.trickle"};
    int rc = tr_lang_compile_query(src, size, &opts, &q, &err);
    if (rc != -ENOMEM) check_recovery(src, size, &opts, rc ? &err : NULL);
    if (rc) {
        if (q) fuzz_fail("failed compile returned a query");
        if (err.set) tr_lang_err_render(&err, &out);
        goto out;
    }
    tr_query_render_warnings(q, &out);
    tr_value event0 = tr_v_null();
    if (tr_json_decode(event_json, sizeof event_json - 1, &event0, NULL)) fuzz_fail("fixed event");
    size_t n = tr_query_node_count(q);
    for (size_t i = 0; i < n; i++) {
        const struct tr_qnode *node = tr_query_node(q, i);
        if (!node) fuzz_fail("node %zu of %zu missing", i, n);
        if (node->kind == TR_QN_SELECT && node->select) run_select(node->select, &event0, &out);
        else if (node->kind == TR_QN_SCRIPT && node->script) run_script(node->script, &event0, &out);
    }
    tr_value_unref(event0);
out:
    tr_buf_fini(&out);
    tr_query_destroy(q);
    tr_lang_err_clear(&err);
    return 0;
}
