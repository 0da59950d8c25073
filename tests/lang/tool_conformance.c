/* tool_conformance.c - runs Tremor 0.11's language test data against our
 * implementation, judging each case the way upstream's harnesses did (see
 * shared/conformance/tremor-0.11/README.md).
 *
 * usage: tool_conformance [-l expected-pass.txt] [-c suite/case] [-v] [-p] DATA_DIR
 *   -l  cases listed there must pass; any listed case failing makes the exit
 *       status 1 (unlisted failures are reported but do not fail the run)
 *   -c  run only this case (repeatable)
 *   -v  print the expected and actual text of failing cases
 *   -p  print the names of passing cases (to grow the list)
 * It prints one line per failing case and a scoreboard by suite and tier.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/json.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/event.h"
#include "core/file.h"
#include "core/log.h"
#include "lang/lang.h"
#include "lang/query.h"
#include "lang/regex.h"
#include "lang/script.h"
#include "pipeline/pipeline.h"

#define MAX_CASES 512
#define MAX_FILE (64u << 20)

enum verdict { V_PASS, V_FAIL, V_SKIP };

struct kase {
    char suite[64];
    char name[128];
    char judged[32];
    int tier;
    int listed;
    enum verdict v;
    char why[512];
};

static int verbose;

/* --- files --- */

static int read_file(const char *path, char **out, size_t *len) {
    return tr_file_read(path, MAX_FILE, out, len);
}

/* dir + "/" + name (+ suffix) into p; -ENAMETOOLONG when it does not fit. */
static int path_join(char *p, size_t n, const char *dir, const char *name, const char *suffix) {
    size_t a = strlen(dir), b = strlen(name), c = strlen(suffix);
    if (a + b + c + 2 > n) return -ENAMETOOLONG;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b);
    memcpy(p + a + 1 + b, suffix, c + 1);
    return 0;
}

static int read_file_in(const char *dir, const char *name, char **out, size_t *len) {
    char p[4096];
    if (path_join(p, sizeof p, dir, name, "")) return -ENAMETOOLONG;
    return read_file(p, out, len);
}

static int unxz(const char *in, size_t inlen, char **out, size_t *outlen) {
    lzma_stream s = LZMA_STREAM_INIT;
    if (lzma_stream_decoder(&s, UINT64_MAX, 0) != LZMA_OK) return -EINVAL;
    struct tr_buf b;
    tr_buf_init(&b);
    s.next_in = (const uint8_t *)in;
    s.avail_in = inlen;
    uint8_t chunk[65536];
    int rc = 0;
    for (;;) {
        s.next_out = chunk;
        s.avail_out = sizeof chunk;
        lzma_ret r = lzma_code(&s, LZMA_FINISH);
        size_t got = sizeof chunk - s.avail_out;
        if (got && (rc = tr_buf_append(&b, chunk, got))) break;
        if (b.len > MAX_FILE) {
            rc = TR_ETOOBIG;
            break;
        }
        if (r == LZMA_STREAM_END) break;
        if (r != LZMA_OK) {
            rc = -EINVAL;
            break;
        }
    }
    lzma_end(&s);
    if (rc) {
        tr_buf_fini(&b);
        return rc;
    }
    if (!b.data && tr_buf_reserve(&b, 1)) return -ENOMEM;
    *out = tr_buf_steal(&b, outlen);
    return 0;
}

/* Read <dir>/<name>, preferring <name>.xz. */
static int read_data(const char *dir, const char *name, char **out, size_t *len) {
    char p[4096];
    if (path_join(p, sizeof p, dir, name, ".xz")) return -ENAMETOOLONG;
    char *raw;
    size_t rl;
    if (read_file(p, &raw, &rl) == 0) {
        int rc = unxz(raw, rl, out, len);
        tr_free(raw);
        return rc;
    }
    return read_file_in(dir, name, out, len);
}

/* Split JSON lines into values. A final newline is fine; empty lines are not. */
static int read_events(const char *dir, const char *name, tr_value **vals, size_t *n) {
    char *txt;
    size_t len;
    int rc = read_data(dir, name, &txt, &len);
    if (rc) return rc;
    size_t cap = 0;
    *vals = NULL;
    *n = 0;
    size_t i = 0;
    while (i < len) {
        size_t e = i;
        while (e < len && txt[e] != '\n') e++;
        tr_value v;
        rc = tr_json_decode(txt + i, e - i, &v, NULL);
        if (rc) break;
        if ((rc = tr_grow((void **)vals, &cap, *n + 1, sizeof **vals))) {
            tr_value_unref(v);
            break;
        }
        (*vals)[(*n)++] = v;
        i = e + 1;
    }
    tr_free(txt);
    return rc;
}

static void free_values(tr_value *v, size_t n) {
    for (size_t i = 0; i < n; i++) tr_value_unref(v[i]);
    tr_free(v);
}

static int exists(const char *dir, const char *name) {
    char p[4096];
    struct stat st;
    if (path_join(p, sizeof p, dir, name, "")) return 0;
    return stat(p, &st) == 0;
}

/* --- comparison --- */

/* Structural equality as the harnesses' canonical JSON would see it: int and
 * float differ, key order does not matter, array order does. */
static int same(const tr_value *a, const tr_value *b) {
    int ai = a->type == TR_I64 || a->type == TR_U64, bi = b->type == TR_I64 || b->type == TR_U64;
    if (ai && bi) return a->type == b->type && (a->type == TR_I64 ? a->as.i == b->as.i : a->as.u == b->as.u);
    if (a->type != b->type) return 0;
    switch (a->type) {
    case TR_NULL: return 1;
    case TR_BOOL: return a->as.b == b->as.b;
    case TR_F64: return a->as.f == b->as.f;
    case TR_STR:
    case TR_BIN: return a->as.s->len == b->as.s->len && memcmp(a->as.s->data, b->as.s->data, a->as.s->len) == 0;
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
    default: return 0;
    }
}

static void show(const char *label, const tr_value *v) {
    struct tr_buf b;
    tr_buf_init(&b);
    tr_json_encode(v, &b);
    fprintf(stderr, "    %s %s\n", label, b.data ? b.data : "");
    tr_buf_fini(&b);
}

/* Trim white space at both ends of s in place; returns s. */
static char *trim(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = 0;
    char *p = s;
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
    return p;
}

static int compare_text(struct kase *k, const char *dir, const char *file, struct tr_buf *actual) {
    char *want;
    size_t wl;
    if (read_file_in(dir, file, &want, &wl)) {
        snprintf(k->why, sizeof k->why, "cannot read %s", file);
        return 0;
    }
    char *a = trim(actual->data ? actual->data : (char *)"");
    char *w = trim(want);
    int ok = strcmp(a, w) == 0;
    if (!ok) {
        snprintf(k->why, sizeof k->why, "rendered text differs");
        if (verbose) fprintf(stderr, "  %s/%s expected:\n%s\n  actual:\n%s\n", k->suite, k->name, w, a);
    }
    tr_free(want);
    return ok;
}


/* --- suites --- */

/* Tremor's harness runs from tremor-script/ with tests/<suite>/<case>/ and
 * tremor-script/lib on the module path, names the compiled file
 * tests/<suite>/<case>/<file>, and errors in module files name them by that
 * path. main() reproduces the layout (a scratch folder whose `tests` links
 * to the data, as the working directory); without it the case folder is
 * used. */
static int tremor_layout;

/* Every case compiles the way `tremor run` does: through lang.h, with the
 * case's folder as its module path. The second folder is the one upstream's
 * harnesses mount (spelt with a final slash by the query harnesses); it
 * holds no files here, but module errors list it. */
static int case_opts(const struct kase *k, const char *dir, const char *file, struct tr_lang_opts *o) {
    tr_lang_opts_init(o);
    o->file = file;
    if (!tremor_layout) return tr_lang_opts_add_path(o, dir, strlen(dir));
    char root[300];
    int w = snprintf(root, sizeof root, "tests/%s/%s/", k->suite, k->name);
    if (w <= 0 || (size_t)w >= sizeof root) return TR_ETOOBIG;
    int rc = tr_lang_opts_add_path(o, root, (size_t)w);
    const char *lib = strstr(file, ".trickle") ? "tremor-script/lib/" : "tremor-script/lib";
    if (!rc) rc = tr_lang_opts_add_path(o, lib, strlen(lib));
    if (!rc) {
        w = snprintf(root, sizeof root, "tests/%s/%s/%s", k->suite, k->name, file);
        if (w <= 0 || (size_t)w >= sizeof root) return TR_ETOOBIG;
        o->owned_file = tr_strdup(root);
        if (!o->owned_file) return -ENOMEM;
        o->file = o->owned_file;
    }
    return rc;
}

static int compile_script(const struct kase *k, const char *dir, const char *src, size_t len,
                          struct tr_script **out, struct tr_lang_err *err) {
    struct tr_lang_opts o;
    int rc = case_opts(k, dir, "script.tremor", &o);
    if (!rc) rc = tr_lang_compile_script(src, len, &o, out, err);
    tr_lang_opts_fini(&o);
    return rc;
}

static int compile_query(const struct kase *k, const char *dir, const char *src, size_t len,
                         struct tr_query **out, struct tr_lang_err *err) {
    struct tr_lang_opts o;
    int rc = case_opts(k, dir, "query.trickle", &o);
    if (!rc) rc = tr_lang_compile_query(src, len, &o, out, err);
    tr_lang_opts_fini(&o);
    return rc;
}

static void run_scripts(struct kase *k, const char *dir) {
    char *src;
    size_t len;
    if (read_file_in(dir, "script.tremor", &src, &len)) {
        snprintf(k->why, sizeof k->why, "no script.tremor");
        k->v = V_FAIL;
        return;
    }
    struct tr_script *s = NULL;
    struct tr_lang_err err;
    memset(&err, 0, sizeof err);
    int rc = compile_script(k, dir, src, len, &s, &err);
    if (rc) {
        snprintf(k->why, sizeof k->why, "compile: %d:%d: %.400s", err.inner.s.line, err.inner.s.col, err.msg);
        k->v = V_FAIL;
        tr_lang_err_clear(&err);
        tr_free(src);
        return;
    }
    tr_value *in = NULL, *out = NULL;
    size_t nin = 0, nout = 0;
    if (read_events(dir, "in", &in, &nin) || read_events(dir, "out", &out, &nout)) {
        snprintf(k->why, sizeof k->why, "cannot read in/out");
        k->v = V_FAIL;
        goto done;
    }
    tr_value state = tr_v_null();
    size_t got = 0;
    k->v = V_PASS;
    for (size_t i = 0; i < nin && k->v == V_PASS; i++) {
        tr_value ev = tr_value_ref(in[i]), meta;
        tr_v_rec(0, &meta);
        /* the origin upstream's script harness gives every event */
        static const char *const origin_path[] = {"snot"};
        static const struct tr_lang_origin origin = {.scheme = "snot", .host = "test",
                                                     .has_port = 1, .port = 23,
                                                     .path = origin_path, .npath = 1};
        struct tr_lang_ctx ctx = {.instance = "tremor", .ingest_ns = i, .origin = &origin};
        enum tr_script_outcome oc;
        const char *port;
        struct tr_diag d;
        rc = tr_script_run(s, &ctx, &ev, &meta, &state, &oc, &port, &d);
        if (rc) {
            snprintf(k->why, sizeof k->why, "event %zu: runtime error %d:%d: %.400s", i, d.line, d.col, d.msg);
            k->v = V_FAIL;
        } else if (oc == TR_SCRIPT_EMIT) {
            if (got >= nout) {
                snprintf(k->why, sizeof k->why, "more outputs than the %zu expected", nout);
                k->v = V_FAIL;
            } else if (!same(&ev, &out[got])) {
                snprintf(k->why, sizeof k->why, "output %zu differs", got);
                if (verbose) {
                    show("expected", &out[got]);
                    show("actual  ", &ev);
                }
                k->v = V_FAIL;
            }
            got++;
        }
        tr_value_unref(ev);
        tr_value_unref(meta);
    }
    if (k->v == V_PASS && got != nout) {
        snprintf(k->why, sizeof k->why, "%zu outputs, expected %zu", got, nout);
        k->v = V_FAIL;
    }
    tr_value_unref(state);
done:
    free_values(in, nin);
    free_values(out, nout);
    tr_script_destroy(s);
    tr_free(src);
}

static const char *ignored_script_errors[] = {
    "pp_unknown_function_in_function", "lexer_bad_float", "lexer_bad_hex", "lexer_bad_hex2",
    "lexer_bad_hex3", "lexer_unterminated_heredoc", "lexer_unterminated_heredoc2",
    "lexer_unterminated_ident", "lexer_unterminated_string", "lexer_bad_int", NULL};
static const char *text_ignored_runtime[] = {
    "patch_merge_on_non_object", "patch_update_key_missing", "patch_key_exists",
    "patch_move_key_exists", "patch_copy_key_exists", NULL};

static int in_list(const char **l, const char *name) {
    for (; *l; l++)
        if (strcmp(*l, name) == 0) return 1;
    return 0;
}

static void run_script_errors(struct kase *k, const char *dir) {
    if (in_list(ignored_script_errors, k->name)) {
        k->v = V_PASS;
        return;
    }
    char *src;
    size_t len;
    if (read_file_in(dir, "script.tremor", &src, &len)) {
        snprintf(k->why, sizeof k->why, "no script.tremor");
        k->v = V_FAIL;
        return;
    }
    struct tr_script *s = NULL;
    struct tr_lang_err err;
    memset(&err, 0, sizeof err);
    int rc = compile_script(k, dir, src, len, &s, &err);
    if (rc == 0) {
        snprintf(k->why, sizeof k->why, "compiled, but must fail");
        k->v = V_FAIL;
        tr_script_destroy(s);
    } else {
        struct tr_buf b;
        tr_buf_init(&b);
        tr_lang_err_render(&err, &b);
        k->v = compare_text(k, dir, "error.txt", &b) ? V_PASS : V_FAIL;
        tr_buf_fini(&b);
    }
    tr_lang_err_clear(&err);
    tr_free(src);
}

static void run_runtime_errors(struct kase *k, const char *dir) {
    char *src;
    size_t len;
    if (read_file_in(dir, "script.tremor", &src, &len)) {
        snprintf(k->why, sizeof k->why, "no script.tremor");
        k->v = V_FAIL;
        return;
    }
    struct tr_script *s = NULL;
    struct tr_lang_err err;
    memset(&err, 0, sizeof err);
    int rc = compile_script(k, dir, src, len, &s, &err);
    if (rc) {
        snprintf(k->why, sizeof k->why, "compile failed: %.400s", err.msg);
        k->v = V_FAIL;
        tr_lang_err_clear(&err);
        tr_free(src);
        return;
    }
    tr_value *in = NULL;
    size_t nin = 0;
    if (read_events(dir, "in", &in, &nin) || nin != 1) {
        snprintf(k->why, sizeof k->why, "in must hold one event");
        k->v = V_FAIL;
    } else {
        tr_value ev = tr_value_ref(in[0]), meta, state = tr_v_null();
        tr_v_rec(0, &meta);
        struct tr_lang_ctx ctx = {.instance = "tremor", .ingest_ns = 0};
        enum tr_script_outcome oc;
        const char *port;
        struct tr_diag d;
        rc = tr_script_run(s, &ctx, &ev, &meta, &state, &oc, &port, &d);
        if (rc == 0) {
            snprintf(k->why, sizeof k->why, "ran, but must fail");
            k->v = V_FAIL;
        } else if (in_list(text_ignored_runtime, k->name)) {
            k->v = V_PASS;
        } else {
            struct tr_buf b;
            tr_buf_init(&b);
            tr_script_render(s, tr_script_last_error(s), &b);
            k->v = compare_text(k, dir, "error.txt", &b) ? V_PASS : V_FAIL;
            tr_buf_fini(&b);
        }
        tr_value_unref(ev);
        tr_value_unref(meta);
        tr_value_unref(state);
    }
    free_values(in, nin);
    tr_script_destroy(s);
    tr_free(src);
}

static void run_warnings(struct kase *k, const char *dir, int query) {
    char *src;
    size_t len;
    const char *file = query ? "query.trickle" : "script.tremor";
    if (read_file_in(dir, file, &src, &len)) {
        snprintf(k->why, sizeof k->why, "no %s", file);
        k->v = V_FAIL;
        return;
    }
    struct tr_lang_err err;
    memset(&err, 0, sizeof err);
    struct tr_buf b;
    tr_buf_init(&b);
    int rc;
    if (query) {
        struct tr_query *q = NULL;
        rc = compile_query(k, dir, src, len, &q, &err);
        if (!rc) tr_query_render_warnings(q, &b);
        tr_query_destroy(q);
    } else {
        struct tr_script *s = NULL;
        rc = compile_script(k, dir, src, len, &s, &err);
        if (!rc) tr_script_render_warnings(s, &b);
        tr_script_destroy(s);
    }
    if (rc) {
        snprintf(k->why, sizeof k->why, "compile failed: %.400s", err.msg);
        k->v = V_FAIL;
    } else {
        k->v = compare_text(k, dir, "warning.txt", &b) ? V_PASS : V_FAIL;
    }
    tr_buf_fini(&b);
    tr_lang_err_clear(&err);
    tr_free(src);
}

static void run_query_errors(struct kase *k, const char *dir) {
    char *src;
    size_t len;
    if (read_file_in(dir, "query.trickle", &src, &len)) {
        snprintf(k->why, sizeof k->why, "no query.trickle");
        k->v = V_FAIL;
        return;
    }
    struct tr_query *q = NULL;
    struct tr_lang_err err;
    memset(&err, 0, sizeof err);
    char plain[1024] = "";
    int rc = compile_query(k, dir, src, len, &q, &err);
    int failed = rc != 0;
    if (!rc) {
        /* building the pipeline may still fail */
        struct tr_pipeline *p = NULL;
        struct tr_pipeline_opts o = {.id = "query", .file = "query.trickle"};
        struct tr_diag d;
        tr_diag_clear(&d);
        rc = tr_pipeline_create(q, &o, &p, &d);
        q = NULL;
        if (rc) {
            failed = 1;
            snprintf(plain, sizeof plain, "%.1000s", d.msg);
        }
        tr_pipeline_destroy(p);
    } else {
        snprintf(plain, sizeof plain, "%.1000s", err.msg);
    }
    if (!failed) {
        snprintf(k->why, sizeof k->why, "built, but must fail");
        k->v = V_FAIL;
    } else if (exists(dir, "error.re")) {
        char *re;
        size_t rl;
        read_file_in(dir, "error.re", &re, &rl);
        /* upstream's error.re files are Rust regexes: the engine scripts use */
        const char *pat = trim(re);
        struct tr_regex *rx = NULL;
        struct tr_regex_match *m = NULL;
        char why[256];
        int ok = tr_regex_create(pat, strlen(pat), 0, &rx, why, sizeof why) == 0 && tr_regex_match_create(rx, &m) == 0;
        k->v = ok && tr_regex_exec(m, plain, strlen(plain), 0) == 1 ? V_PASS : V_FAIL;
        tr_regex_match_destroy(m);
        tr_regex_destroy(rx);
        if (k->v == V_FAIL) snprintf(k->why, sizeof k->why, "message %.300s does not match", plain);
        tr_free(re);
    } else {
        struct tr_buf b;
        tr_buf_init(&b);
        if (rc && err.set && err.has_pos) tr_lang_err_render(&err, &b);
        else tr_buf_append(&b, plain, strlen(plain));
        k->v = compare_text(k, dir, "error.txt", &b) ? V_PASS : V_FAIL;
        tr_buf_fini(&b);
    }
    tr_query_destroy(q);
    tr_lang_err_clear(&err);
    tr_free(src);
}

struct collected {
    tr_value *v;
    size_t n, cap;
};

static void collect(void *arg, struct tr_event *ev) {
    struct collected *c = arg;
    if (tr_grow((void **)&c->v, &c->cap, c->n + 1, sizeof *c->v) == 0) {
        c->v[c->n++] = ev->value;
        ev->value = tr_v_null();
    }
    tr_event_fini(ev);
}

static void run_queries(struct kase *k, const char *dir) {
    char *src;
    size_t len;
    if (read_file_in(dir, "query.trickle", &src, &len)) {
        snprintf(k->why, sizeof k->why, "no query.trickle");
        k->v = V_FAIL;
        return;
    }
    struct tr_query *q = NULL;
    struct tr_lang_err err;
    memset(&err, 0, sizeof err);
    int rc = compile_query(k, dir, src, len, &q, &err);
    if (rc) {
        snprintf(k->why, sizeof k->why, "compile: %d:%d: %.400s", err.inner.s.line, err.inner.s.col, err.msg);
        k->v = V_FAIL;
        tr_lang_err_clear(&err);
        tr_free(src);
        return;
    }
    struct tr_pipeline *p = NULL;
    struct tr_pipeline_opts o = {.id = "query", .file = "query.trickle", .server_instance = "tremor"};
    struct tr_diag d;
    tr_diag_clear(&d);
    rc = tr_pipeline_create(q, &o, &p, &d);
    if (rc) {
        snprintf(k->why, sizeof k->why, "pipeline: %.400s", d.msg);
        k->v = V_FAIL;
        tr_free(src);
        return;
    }
    struct collected c = {0};
    tr_pipeline_connect_output(p, "out", collect, &c);
    tr_pipeline_connect_output(p, "err", collect, &c);
    tr_value *in = NULL, *out = NULL;
    size_t nin = 0, nout = 0;
    if (read_events(dir, "in", &in, &nin) || read_events(dir, "out", &out, &nout)) {
        snprintf(k->why, sizeof k->why, "cannot read in/out");
        k->v = V_FAIL;
    } else {
        for (size_t i = 0; i < nin; i++) {
            struct tr_event ev;
            if (tr_event_init(&ev, tr_value_ref(in[i]), tr_v_null(), i)) break;
            tr_ids_init(&ev.ids, 0, 0, i);
            tr_pipeline_push(p, "in", &ev);
        }
        k->v = V_PASS;
        if (c.n != nout) {
            snprintf(k->why, sizeof k->why, "%zu outputs, expected %zu", c.n, nout);
            k->v = V_FAIL;
        }
        for (size_t i = 0; i < c.n && i < nout && k->v == V_PASS; i++)
            if (!same(&c.v[i], &out[i])) {
                snprintf(k->why, sizeof k->why, "output %zu differs", i);
                if (verbose) {
                    show("expected", &out[i]);
                    show("actual  ", &c.v[i]);
                }
                k->v = V_FAIL;
            }
    }
    free_values(in, nin);
    free_values(out, nout);
    free_values(c.v, c.n);
    tr_pipeline_destroy(p);
    tr_free(src);
}

/* --- driver --- */

static int load_manifest(const char *data, struct kase *ks, size_t *n) {
    char *txt;
    size_t len;
    char p[4096];
    if (path_join(p, sizeof p, data, "manifest.tsv", "") || read_file(p, &txt, &len)) return -1;
    *n = 0;
    char *save = NULL;
    int first = 1;
    for (char *line = strtok_r(txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (first) {
            first = 0;
            continue;
        }
        if (*n >= MAX_CASES) break;
        char *f[6];
        char *s2 = NULL;
        int i = 0;
        for (char *t = strtok_r(line, "\t", &s2); t && i < 6; t = strtok_r(NULL, "\t", &s2)) f[i++] = t;
        if (i < 5) continue;
        struct kase *k = &ks[(*n)++];
        memset(k, 0, sizeof *k);
        snprintf(k->suite, sizeof k->suite, "%s", f[0]);
        snprintf(k->name, sizeof k->name, "%s", f[1]);
        snprintf(k->judged, sizeof k->judged, "%s", f[3]);
        k->tier = atoi(f[4]);
    }
    tr_free(txt);
    return 0;
}

static void mark_listed(const char *path, struct kase *ks, size_t n) {
    char *txt;
    size_t len;
    if (read_file(path, &txt, &len)) {
        fprintf(stderr, "cannot read %s\n", path);
        return;
    }
    char *save = NULL;
    for (char *line = strtok_r(txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *l = trim(line);
        if (!*l || *l == '#') continue;
        int found = 0;
        for (size_t i = 0; i < n; i++) {
            char full[200];
            snprintf(full, sizeof full, "%.63s/%.127s", ks[i].suite, ks[i].name);
            if (strcmp(full, l) == 0) {
                ks[i].listed = 1;
                found = 1;
            }
        }
        if (!found) fprintf(stderr, "listed case %s is not in the manifest\n", l);
    }
    tr_free(txt);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(int argc, char **argv) {
    const char *list = NULL, *only[64];
    int nonly = 0, print_pass = 0;
    const char *data = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-l") && i + 1 < argc) list = argv[++i];
        else if (!strcmp(argv[i], "-c") && i + 1 < argc && nonly < 64) only[nonly++] = argv[++i];
        else if (!strcmp(argv[i], "-v")) verbose = 1;
        else if (!strcmp(argv[i], "-p")) print_pass = 1;
        else data = argv[i];
    }
    if (!data) {
        fprintf(stderr, "usage: %s [-l list] [-c suite/case] [-v] [-p] DATA_DIR\n", argv[0]);
        return 2;
    }
    tr_log_set_level(TR_LOG_ERROR);
    static struct kase ks[MAX_CASES];
    size_t n;
    if (load_manifest(data, ks, &n)) {
        fprintf(stderr, "cannot read %s/manifest.tsv\n", data);
        return 2;
    }
    if (list) mark_listed(list, ks, n);
    char abs[4096], scratch[] = "/tmp/tremor-conformance-XXXXXX", link[64];
    if (realpath(data, abs) && mkdtemp(scratch)) {
        snprintf(link, sizeof link, "%s/tests", scratch);
        data = abs;
        tremor_layout = symlink(abs, link) == 0 && chdir(scratch) == 0;
    } else {
        scratch[0] = 0;
    }
    const char *suites[] = {"queries", "scripts", "query_errors", "script_errors",
                            "script_runtime_errors", "query_warnings", "script_warnings"};
    int listed_fail = 0;
    int score[7][4][3];
    memset(score, 0, sizeof score);
    for (size_t i = 0; i < n; i++) {
        struct kase *k = &ks[i];
        char full[200];
        snprintf(full, sizeof full, "%.63s/%.127s", k->suite, k->name);
        if (nonly) {
            int want = 0;
            for (int j = 0; j < nonly; j++) want |= strcmp(only[j], full) == 0;
            if (!want) continue;
        }
        char dir[4096], sdir[4096];
        if (path_join(sdir, sizeof sdir, data, k->suite, "") || path_join(dir, sizeof dir, sdir, k->name, ""))
            continue;
        if (!strcmp(k->suite, "scripts")) run_scripts(k, dir);
        else if (!strcmp(k->suite, "script_errors")) run_script_errors(k, dir);
        else if (!strcmp(k->suite, "script_runtime_errors")) run_runtime_errors(k, dir);
        else if (!strcmp(k->suite, "script_warnings")) run_warnings(k, dir, 0);
        else if (!strcmp(k->suite, "query_warnings")) run_warnings(k, dir, 1);
        else if (!strcmp(k->suite, "query_errors")) run_query_errors(k, dir);
        else if (!strcmp(k->suite, "queries")) run_queries(k, dir);
        else continue;
        if (k->v == V_FAIL) {
            printf("FAIL %s (tier %d%s): %s\n", full, k->tier, k->listed ? ", listed" : "", k->why);
            if (k->listed) listed_fail++;
        } else if (print_pass && k->v == V_PASS) {
            printf("PASS %s\n", full);
        }
        for (int s = 0; s < 7; s++)
            if (!strcmp(suites[s], k->suite) && k->tier >= 1 && k->tier <= 3) {
                score[s][k->tier][k->v]++;
                score[s][0][k->v]++;
            }
    }
    printf("\nconformance scoreboard (pass/total)      tier 1     tier 2     tier 3        all\n");
    int tot[4][3];
    memset(tot, 0, sizeof tot);
    for (int s = 0; s < 7; s++) {
        printf("  %-24s", suites[s]);
        for (int t = 1; t <= 3; t++) {
            int all = score[s][t][0] + score[s][t][1] + score[s][t][2];
            printf("  %4d/%-4d", score[s][t][V_PASS], all);
            for (int v = 0; v < 3; v++) tot[t][v] += score[s][t][v];
        }
        int all = score[s][0][0] + score[s][0][1] + score[s][0][2];
        printf("  %4d/%-4d\n", score[s][0][V_PASS], all);
        for (int v = 0; v < 3; v++) tot[0][v] += score[s][0][v];
    }
    printf("  %-24s", "all suites");
    for (int t = 1; t <= 3; t++) printf("  %4d/%-4d", tot[t][V_PASS], tot[t][0] + tot[t][1] + tot[t][2]);
    printf("  %4d/%-4d\n", tot[0][V_PASS], tot[0][0] + tot[0][1] + tot[0][2]);
    printf("conformance: listed cases failing: %d\n", listed_fail);
    /* FTW_PHYS: remove the `tests` link itself, never the data behind it */
    if (scratch[0] && chdir("/") == 0) nftw(scratch, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return listed_fail ? 1 : 0;
}
