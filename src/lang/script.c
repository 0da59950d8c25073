/* script.c - compiled tremor-scripts and running them on one event.
 *
 * Wraps a tr_prog with the per-run local slots and the last runtime error.
 * It is not the evaluator (interp.c) nor the compiler (compile.c). A script
 * belongs to one thread; the slot array is reused between runs.
 * Invariant: between runs every slot is unset and holds no reference.
 */
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "lang/compile_int.h"
#include "lang/interp_int.h"
#include "lang/script.h"

struct tr_script {
    struct tr_prog *prog;
    struct tr_parsed parsed;
    tr_value *locals;
    uint8_t *set;
    struct tr_lang_err err;
    struct tr_str *port;         /* port of the last emit (kept until the next run) */
    int owns_prog;
    int writes_event;            /* some `let event...` (tr_script_writes_event) */
};

/* Whether a `let` below n assigns to the event or a path into it. */
static int lets_event(const struct tr_node *n) {
    if (!n) return 0;
    if (n->kind == N_LET && n->a && n->a->kind == N_PATH && n->a->op == R_EVENT) return 1;
    if (lets_event(n->a) || lets_event(n->b) || lets_event(n->c) || lets_event(n->d)) return 1;
    for (uint32_t i = 0; i < n->n; i++)
        if (n->v && lets_event(n->v[i])) return 1;
    return 0;
}

static int wrap(struct tr_prog *prog, struct tr_script **out) {
    struct tr_script *s = tr_calloc(1, sizeof *s);
    if (!s) return -ENOMEM;
    s->prog = prog;
    s->writes_event = lets_event(prog->root);
    size_t n = prog->nlocals ? (size_t)prog->nlocals : 1;
    s->locals = tr_calloc(n, sizeof *s->locals);
    s->set = tr_calloc(n, 1);
    if (!s->locals || !s->set) {
        tr_free(s->locals);
        tr_free(s->set);
        tr_free(s);
        return -ENOMEM;
    }
    s->owns_prog = 1;
    *out = s;
    return 0;
}

/* For query.c: a script operator body compiled inside a query. */
int tr_script_from_prog(struct tr_prog *prog, struct tr_script **out);
int tr_script_from_prog(struct tr_prog *prog, struct tr_script **out) { return wrap(prog, out); }

int tr_script_compile_opts(const char *path, const char *src, size_t len, const struct tr_lang_opts *opts,
                           struct tr_script **out, struct tr_lang_err *err) {
    *out = NULL;
    struct tr_parsed parsed;
    memset(&parsed, 0, sizeof parsed);
    struct tr_prog *prog;
    int rc = tr_compile_prog(path, src, len, 0, opts, &prog, &parsed, err);
    if (rc) {
        tr_parsed_fini(&parsed);
        return rc;
    }
    rc = wrap(prog, out);
    if (rc) {
        tr_prog_destroy(prog);
        tr_parsed_fini(&parsed);
        return rc;
    }
    (*out)->parsed = parsed;
    return 0;
}

int tr_script_compile(const char *path, const char *src, size_t len, struct tr_script **out,
                      struct tr_diag *d) {
    struct tr_lang_err err;
    memset(&err, 0, sizeof err);
    int rc = tr_script_compile_opts(path, src, len, NULL, out, &err);
    if (rc && d) tr_lang_err_to_diag(&err, path, d);
    tr_lang_err_clear(&err);
    return rc;
}

void tr_script_destroy(struct tr_script *s) {
    if (!s) return;
    for (int i = 0; i < s->prog->nlocals; i++)
        if (s->set[i]) tr_value_unref(s->locals[i]);
    tr_free(s->locals);
    tr_free(s->set);
    tr_lang_err_clear(&s->err);
    if (s->port) tr_str_unref(s->port);
    if (s->owns_prog) tr_prog_destroy(s->prog);
    tr_parsed_fini(&s->parsed);
    tr_free(s);
}

void tr_script_set_args(struct tr_script *s, tr_value args) {
    tr_value_unref(s->prog->args);
    s->prog->args = args;
}

int tr_script_run(struct tr_script *s, const struct tr_lang_ctx *ctx, tr_value *event,
                  tr_value *meta, tr_value *state, enum tr_script_outcome *outcome,
                  const char **port, struct tr_diag *d) {
    static const tr_value nullv = {.type = TR_NULL};
    tr_lang_err_clear(&s->err);
    struct tr_env E;
    memset(&E, 0, sizeof E);
    E.event = event;
    E.meta = meta;
    E.state = state;
    E.locals = s->locals;
    E.set = s->set;
    E.args = &s->prog->args;
    E.group = &nullv;
    E.window = &nullv;
    E.ctx = ctx;
    E.err = &s->err;
    E.emitted = tr_v_null();
    *port = NULL;
    tr_value last;
    int rc = tr_eval_block(&E, s->prog->root->v, s->prog->root->n, &last);
    for (int i = 0; i < s->prog->nlocals; i++)
        if (s->set[i]) {
            tr_value_unref(s->locals[i]);
            s->set[i] = 0;
        }
    if (rc == TR_RUN_DROP) {
        *outcome = TR_SCRIPT_DROP;
        tr_value_unref(E.emitted);
        if (E.port) tr_str_unref(E.port);
        return 0;
    }
    if (rc == TR_RUN_EMIT) {
        *outcome = TR_SCRIPT_EMIT;
        tr_value_unref(*event);
        *event = E.emitted;
        if (s->port) tr_str_unref(s->port);
        s->port = E.port;
        if (E.port) *port = E.port->data;
        return 0;
    }
    if (rc) {
        tr_value_unref(E.emitted);
        if (E.port) tr_str_unref(E.port);
        if (d) tr_lang_err_to_diag(&s->err, s->prog->path, d);
        return rc == -ENOMEM ? rc : TR_ERUNTIME;
    }
    *outcome = TR_SCRIPT_EMIT;
    tr_value_unref(*event);
    *event = last;
    return 0;
}

const struct tr_lang_err *tr_script_last_error(const struct tr_script *s) { return &s->err; }

int tr_script_render(const struct tr_script *s, const struct tr_lang_err *e, struct tr_buf *out) {
    return tr_lang_render(s->prog->src, s->prog->len, e, out);
}

size_t tr_script_warning_count(const struct tr_script *s) { return s->prog->nwarnings; }

int tr_script_render_warnings(const struct tr_script *s, struct tr_buf *out) {
    for (size_t i = 0; i < s->prog->nwarnings; i++) {
        int rc = tr_lang_render(s->prog->src, s->prog->len, &s->prog->warnings[i], out);
        if (rc) return rc;
    }
    return 0;
}

bool tr_script_writes_event(const struct tr_script *s) { return s->writes_event != 0; }
