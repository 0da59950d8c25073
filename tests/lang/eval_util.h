/* eval_util.h - run one expression as a script, for the std-library tests
 * (header-only, static; tests only). Define EVAL_PRELUDE (the `use` lines
 * the expressions need) before including it. */
#ifndef TR_EVAL_UTIL_H
#define TR_EVAL_UTIL_H

#include <stdio.h>
#include <string.h>

#include "codec/json.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "lang/script.h"

/* Evaluate expr; the JSON of its value, or "ERROR: <message>". */
static char *eval(const char *expr) {
    char src[2048];
    snprintf(src, sizeof src, "%s%s\n", EVAL_PRELUDE, expr);
    struct tr_script *s;
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_script_compile("t.tremor", src, strlen(src), &s, &d)) {
        struct tr_buf b;
        tr_buf_init(&b);
        tr_buf_printf(&b, "ERROR: %s", d.msg);
        return tr_buf_steal(&b, NULL);
    }
    tr_value ev = tr_v_null(), meta, state = tr_v_null();
    tr_v_rec(0, &meta);
    enum tr_script_outcome oc;
    const char *port;
    struct tr_lang_ctx ctx = {.instance = "tremor", .ingest_ns = 0};
    int rc = tr_script_run(s, &ctx, &ev, &meta, &state, &oc, &port, &d);
    struct tr_buf b;
    tr_buf_init(&b);
    if (rc) tr_buf_printf(&b, "ERROR: %s", d.msg);
    else assert_int_equal(0, tr_json_encode(&ev, &b));
    tr_value_unref(ev);
    tr_value_unref(meta);
    tr_value_unref(state);
    tr_script_destroy(s);
    return tr_buf_steal(&b, NULL);
}

static void expect(const char *expr, const char *want) {
    char *got = eval(expr);
    if (strcmp(got, want) != 0) fail_msg("%s\n  expected %s\n  actual   %s", expr, want, got);
    tr_free(got);
}

/* The call fails at run time (or while folding constants) with msg in its text. */
static void expect_error(const char *expr, const char *msg) {
    char *got = eval(expr);
    if (strncmp(got, "ERROR: ", 7) != 0 || !strstr(got, msg))
        fail_msg("%s\n  expected an error with '%s'\n  actual   %s", expr, msg, got);
    tr_free(got);
}

#endif
