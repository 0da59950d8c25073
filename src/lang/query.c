/* query.c - trickle queries: the graph they declare and running selects.
 *
 * Compiles statements (define/create operator, script and stream, select)
 * into the node list of query.h and evaluates `select` statements per
 * event. It does not wire ports or run operators: the pipeline does.
 * Invariant: every from/into name of a select refers to a builtin port
 * (in, out, err) or a node declared before the end of the file.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "lang/compile_int.h"
#include "lang/select_int.h"
#include "lang/script.h"

int tr_script_from_prog(struct tr_prog *prog, struct tr_script **out);

struct tr_query {
    struct tr_prog *prog;
    struct tr_parsed parsed;
    char *config_id;
    int64_t metrics_interval_s;      /* #!config metrics_interval_s, -1: none */
    struct tr_qnode *nodes;
    size_t n, cap;
    struct tr_window_def *windows;   /* one per `define ... window`, stable addresses */
    size_t nwindows;
    const struct tr_lang_opts *opts;  /* only while compiling */
};

static int add_node(struct tr_query *q, struct tr_qnode **out) {
    if (tr_grow((void **)&q->nodes, &q->cap, q->n + 1, sizeof *q->nodes)) return -ENOMEM;
    *out = &q->nodes[q->n++];
    memset(*out, 0, sizeof **out);
    (*out)->params = tr_v_null();
    return 0;
}

/* Definitions sit at the top level or inside modules (inline `mod` or a
 * loaded `use`); the compiler has qualified the names of the latter. */
static struct tr_node *find_in(struct tr_node *blk, int kind, const struct tr_str *name, int depth) {
    if (!blk || depth > 64) return NULL;
    for (uint32_t i = 0; i < blk->n; i++) {
        struct tr_node *s = blk->v[i];
        if ((int)s->kind == kind && s->name && s->name->len == name->len &&
            memcmp(s->name->data, name->data, name->len) == 0)
            return s;
        struct tr_node *m = s->kind == N_MOD ? s : s->kind == N_USE ? s->a : NULL;
        if (m && (m = find_in(m, kind, name, depth + 1))) return m;
    }
    return NULL;
}

static struct tr_node *find_stmt(struct tr_query *q, int kind, const struct tr_str *name) {
    return find_in(q->prog->root, kind, name, 0);
}

/* Every window definition, modules included, in file order (out may be NULL to count). */
static size_t collect_windows(struct tr_node *blk, struct tr_node **out, size_t n, int depth) {
    if (!blk || depth > 64) return n;
    for (uint32_t i = 0; i < blk->n; i++) {
        struct tr_node *s = blk->v[i];
        if (s->kind == Q_DEFINE_WINDOW) {
            if (out) out[n] = s;
            n++;
        }
        struct tr_node *m = s->kind == N_MOD ? s : s->kind == N_USE ? s->a : NULL;
        n = collect_windows(m, out, n, depth + 1);
    }
    return n;
}

/* Evaluate `with` fields into rec (which must be a record). */
static int with_params(struct tr_query *q, struct tr_node *n, tr_value *rec, struct tr_lang_err *err) {
    for (uint32_t i = 0; i < n->n; i++) {
        struct tr_node *f = n->v[i];
        tr_value v;
        int rc = tr_const_eval(q->prog, f->b, &v, err);
        if (rc) return rc;
        if ((rc = tr_value_mut(rec))) {
            tr_value_unref(v);
            return rc;
        }
        /* takes v: -ENOMEM, or TR_EDEPTH for a constant as deep as a value may be */
        if ((rc = tr_rec_set(rec, f->name->data, f->name->len, v))) return rc;
    }
    return 0;
}

static const struct tr_window_def *find_window(struct tr_query *q, const struct tr_str *name) {
    for (size_t i = 0; i < q->nwindows; i++)
        if (strlen(q->windows[i].name) == name->len && memcmp(q->windows[i].name, name->data, name->len) == 0)
            return &q->windows[i];
    return NULL;
}

static int as_u64(const tr_value *v, uint64_t *u) {
    if (v->type == TR_I64 && v->as.i >= 0) *u = (uint64_t)v->as.i;
    else if (v->type == TR_U64) *u = v->as.u;
    else return 0;
    return 1;
}

static int resolve_window(struct tr_query *q, struct tr_node *s, struct tr_lang_err *err);

/* Evaluate every `define tumbling window` once. */
static int resolve_windows(struct tr_query *q, struct tr_lang_err *err) {
    struct tr_prog *p = q->prog;
    size_t n = collect_windows(p->root, NULL, 0, 0);
    if (!n) return 0;
    q->windows = tr_calloc(n, sizeof *q->windows);
    struct tr_node **defs = tr_calloc(n, sizeof *defs);
    if (!q->windows || !defs) {
        tr_free(defs);
        return -ENOMEM;
    }
    collect_windows(p->root, defs, 0, 0);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) rc = resolve_window(q, defs[i], err);
    tr_free(defs);
    return rc;
}

static int resolve_window(struct tr_query *q, struct tr_node *s, struct tr_lang_err *err) {
    struct tr_prog *p = q->prog;
    if (s->op)
        return tr_lang_err_set(err, TR_EUNSUPPORTED, tr_span_expand(s->sp, 2), s->sp,
                               "Sliding windows are not yet implemented");
    struct tr_window_def *d = &q->windows[q->nwindows++];
    d->name = s->name->data;
    d->max_groups = UINT64_MAX;
    int has_size = 0, has_interval = 0, has_guard = 0;
    for (uint32_t f = 0; f < s->n; f++) {
        struct tr_node *fl = s->v[f];
        tr_value v;
        int rc = tr_const_eval(p, fl->b, &v, err);
        if (rc) return rc;
        const char *k = fl->name->data;
        if (!strcmp(k, "size")) has_size = as_u64(&v, &d->size);
        else if (!strcmp(k, "interval")) has_interval = as_u64(&v, &d->interval);
        else if (!strcmp(k, "emit_empty_windows")) d->emit_empty = v.type == TR_BOOL && v.as.b;
        else if (!strcmp(k, "max_groups")) has_guard |= as_u64(&v, &d->max_groups);
        else if (!strcmp(k, "eviction_period")) has_guard = 1;
        tr_value_unref(v);
    }
    d->by_size = has_size && !has_interval;
    if (has_size && has_interval) {
        d->by_size = 0;
        d->interval = 0;
        d->size = 1; /* marks "both" for the error at use */
    } else if (!has_size && !has_interval) {
        d->size = 0;
        d->interval = 0;
    }
    if (d->emit_empty && !has_guard) {
        struct tr_lang_err *w = tr_realloc(p->warnings, (p->nwarnings + 1) * sizeof *w);
        if (!w) return -ENOMEM;
        p->warnings = w;
        memset(&w[p->nwarnings], 0, sizeof *w);
        tr_lang_err_set(&w[p->nwarnings], 0, s->sp, s->sp,
                        "Using `emit_empty_windows` without guard is potentially dangerous. Consider limiting the amount of groups maintained internally by using `max_groups` and/or `eviction_period`.");
        w[p->nwarnings].level = TR_LVL_WARNING;
        p->nwarnings++;
    }
    if (s->a) {
        int rc = tr_compile_select_expr(p, s, s->a, NULL, 0, err);
        if (rc) return rc;
        d->script = s->a;
    }
    return 0;
}

static int known_node(struct tr_query *q, const struct tr_str *name, size_t upto) {
    static const char *builtin[] = TR_QUERY_BUILTIN_NODES;
    for (size_t i = 0; i < TR_QUERY_NBUILTIN; i++)
        if (strlen(builtin[i]) == name->len && memcmp(builtin[i], name->data, name->len) == 0) return 1;
    for (size_t i = 0; i < upto; i++) {
        struct tr_node *s = q->prog->root->v[i];
        if ((s->kind == Q_CREATE_STREAM || s->kind == Q_CREATE_OP || s->kind == Q_CREATE_SCRIPT) &&
            s->name->len == name->len && memcmp(s->name->data, name->data, name->len) == 0)
            return 1;
    }
    return 0;
}

static int build(struct tr_query *q, struct tr_lang_err *err) {
    struct tr_prog *p = q->prog;
    int rc = resolve_windows(q, err);
    int nselect = 0;
    if (rc) return rc;
    if (q->parsed.config) {
        for (uint32_t i = 0; i < q->parsed.config->n; i++) {
            struct tr_node *f = q->parsed.config->v[i];
            tr_value v;
            if ((rc = tr_const_eval(p, f->b, &v, err))) return rc;
            if (f->name->len == 2 && memcmp(f->name->data, "id", 2) == 0 && v.type == TR_STR) {
                tr_free(q->config_id);
                q->config_id = tr_strdup(v.as.s->data);
            }
            /* as in 0.11 (query.rs to_pipe: Value::as_u64): a non-negative
             * integer, anything else means none */
            if (f->name->len == 18 && memcmp(f->name->data, "metrics_interval_s", 18) == 0 &&
                v.type == TR_I64 && v.as.i >= 0)
                q->metrics_interval_s = v.as.i;
            tr_value_unref(v);
        }
    }
    for (uint32_t i = 0; i < p->root->n && !rc; i++) {
        struct tr_node *s = p->root->v[i];
        struct tr_qnode *qn;
        if (s->kind == Q_CREATE_OP || s->kind == Q_CREATE_SCRIPT) {
            static const char *reserved[] = TR_QUERY_BUILTIN_NODES;
            for (size_t r = 0; r < TR_QUERY_NBUILTIN && !rc; r++)
                if (strcmp(s->name->data, reserved[r]) == 0)
                    rc = tr_lang_err_set(err, TR_EINVAL_CFG, tr_span_expand(s->sp, 2), s->sp,
                                         "Name `%s` is reserved for built-in nodes, please use another name.",
                                         s->name->data);
            if (!rc && known_node(q, s->name, i))
                rc = tr_lang_err_set(err, TR_EINVAL_CFG, tr_span_expand(s->sp, 2), s->sp,
                                     "Name `%s` is already in use for another node, please use another name.",
                                     s->name->data);
            if (rc) break;
        }
        switch (s->kind) {
        case Q_CREATE_STREAM:
            if ((rc = add_node(q, &qn))) break;
            qn->kind = TR_QN_STREAM;
            qn->id = s->name->data;
            qn->line = (int)s->sp.s.line;
            qn->col = (int)s->sp.s.col;
            break;
        case Q_CREATE_OP: {
            struct tr_node *def = find_stmt(q, Q_DEFINE_OP, s->name2);
            if (!def) {
                rc = tr_lang_err_set(err, TR_EINVAL_CFG, tr_span_expand(s->sp, 2), s->nsp[1],
                                     "Operator definition `%s` not found", s->name2->data);
                break;
            }
            if ((rc = add_node(q, &qn))) break;
            qn->kind = TR_QN_OPERATOR;
            qn->id = s->name->data;
            qn->op_kind = def->name2->data;
            qn->line = (int)s->sp.s.line;
            qn->col = (int)s->sp.s.col;
            if (tr_v_rec(4, &qn->params)) {
                rc = -ENOMEM;
                break;
            }
            if ((rc = with_params(q, def, &qn->params, err))) break;
            rc = with_params(q, s, &qn->params, err);
            break;
        }
        case Q_CREATE_SCRIPT: {
            struct tr_node *def = find_stmt(q, Q_DEFINE_SCRIPT, s->name2);
            if (!def) {
                rc = tr_lang_err_set(err, TR_EINVAL_CFG, tr_span_expand(s->sp, 2), s->nsp[1],
                                     "Script definition `%s` not found", s->name2->data);
                break;
            }
            if ((rc = add_node(q, &qn))) break;
            qn->kind = TR_QN_SCRIPT;
            qn->id = s->name->data;
            qn->line = (int)s->sp.s.line;
            qn->col = (int)s->sp.s.col;
            tr_value args;
            if (tr_v_rec(4, &args)) {
                rc = -ENOMEM;
                break;
            }
            rc = with_params(q, def, &args, err);
            if (!rc) rc = with_params(q, s, &args, err);
            struct tr_prog *body = NULL;
            if (!rc) rc = tr_compile_body(p, def->a, &q->parsed, q->opts, &body, err);
            if (!rc) {
                rc = tr_script_from_prog(body, &qn->script);
                if (rc) tr_prog_destroy(body);
            }
            if (!rc) tr_script_set_args(qn->script, args);
            else tr_value_unref(args);
            break;
        }
        case Q_SELECT: {
            for (int w = 0; w < 2 && !rc; w++) {
                struct tr_str *nm = w ? s->name3 : s->name;
                if (!known_node(q, nm, p->root->n))
                    rc = tr_lang_err_set(err, TR_EINVAL_CFG, tr_span_expand(s->sp, 0), s->nsp[w ? 2 : 0],
                                         "Stream used in `from` or `into` is not defined: %s", nm->data);
            }
            if (rc) break;
            const struct tr_window_def *wins = NULL;
            struct tr_window_def chain[16];
            if (s->n > 16) {
                rc = tr_lang_err_set(err, TR_ETOOBIG, s->sp, s->sp2, "too many windows (at most 16)");
                break;
            }
            for (uint32_t w = 0; w < s->n && !rc; w++) {
                const struct tr_window_def *d = find_window(q, s->v[w]->name);
                if (!d)
                    rc = tr_lang_err_set(err, TR_EINVAL_CFG, tr_span_expand(s->sp, 2), s->v[w]->sp,
                                         "Window `%s` is not defined", s->v[w]->name->data);
                else if (!d->by_size && !d->interval)
                    rc = tr_lang_err_set(err, TR_EINVAL_CFG, s->sp, s->sp, "%s",
                                         d->size ? "Bad window configuration, only one of `size` or `interval` is allowed."
                                                 : "Bad window configuration, either `size` or `interval` is required.");
                else
                    chain[w] = *d;
                if (rc && d && !d->by_size && !d->interval) err->has_pos = 0;
            }
            if (rc) break;
            struct tr_select_info si;
            memset(&si, 0, sizeof si);
            si.windowed = s->n > 0;
            if (si.windowed && s->d && (rc = tr_rewrite_group_refs(p, s->a, s->d))) break;
            rc = tr_compile_select_expr(p, s, s->a, &si, si.windowed, err);
            if (!rc && s->c) rc = tr_compile_select_expr(p, s, s->c, &si, 0, err);
            if (!rc && s->b) rc = tr_compile_select_expr(p, s, s->b, NULL, 0, err);
            if (!rc && s->d) rc = tr_compile_select_expr(p, s, s->d, NULL, 0, err);
            if (rc) {
                tr_free(si.aggrs);
                break;
            }
            /* the select's result replaces the event: a root merge/patch of `event` may reuse it */
            if (!s->n && !s->d && (s->a->kind == N_MERGE || s->a->kind == N_PATCH) &&
                s->a->a->kind == N_PATH && s->a->a->op == R_EVENT && s->a->a->n == 0)
                s->a->flags |= NF_MOVE;
            if ((rc = add_node(q, &qn))) {
                tr_free(si.aggrs);
                break;
            }
            struct tr_window_def *owned = NULL;
            if (s->n) {
                owned = tr_arena_alloc(p->arena, s->n * sizeof *owned);
                if (!owned) {
                    tr_free(si.aggrs);
                    rc = -ENOMEM;
                    break;
                }
                memcpy(owned, chain, s->n * sizeof *owned);
                wins = owned;
            }
            struct tr_select *sel;
            if ((rc = tr_select_create(p, s, wins, s->n, &si, &sel))) {
                tr_free(si.aggrs);
                break;
            }
            char id[32];
            snprintf(id, sizeof id, "select_%d", nselect++);
            struct tr_str *ids = tr_str_new(id, strlen(id));
            if (!ids || tr_arena_keep_str(p->arena, ids)) {
                tr_select_destroy(sel);
                rc = -ENOMEM;
                break;
            }
            qn->kind = TR_QN_SELECT;
            qn->id = ids->data;
            qn->line = (int)s->sp.s.line;
            qn->col = (int)s->sp.s.col;
            qn->from_node = s->name->data;
            qn->from_port = s->name2 ? s->name2->data : TR_PORT_OUT;
            qn->into_node = s->name3->data;
            qn->into_port = s->name4 ? s->name4->data : TR_PORT_IN;
            qn->select = sel;
            break;
        }
        default: break;
        }
    }
    return rc;
}

int tr_query_compile_opts(const char *path, const char *src, size_t len, const struct tr_lang_opts *opts,
                          struct tr_query **out, struct tr_lang_err *err) {
    *out = NULL;
    struct tr_query *q = tr_calloc(1, sizeof *q);
    if (!q) return -ENOMEM;
    q->opts = opts;
    q->metrics_interval_s = -1;
    /* 0.11's Query::parse appends a newline to the source (and its error
     * renderer does too), so positions, the lines an error shows and the
     * end-of-input hints are those of the text with it */
    char *text = len < SIZE_MAX ? tr_malloc(len + 1) : NULL;
    if (!text) {
        tr_free(q);
        return -ENOMEM;
    }
    memcpy(text, src, len);
    text[len] = '\n';
    int rc = tr_compile_prog(path, text, len + 1, 1, opts, &q->prog, &q->parsed, err);
    if (!rc) rc = build(q, err);
    q->opts = NULL;
    if (rc && rc != -ENOMEM && err && err->set && !err->src && tr_lang_err_attach(err, path, text, len + 1))
        rc = -ENOMEM;
    tr_free(text);
    if (rc) {
        tr_query_destroy(q);
        return rc;
    }
    *out = q;
    return 0;
}

int tr_query_compile(const char *path, const char *src, size_t len, struct tr_query **out,
                     struct tr_diag *d) {
    struct tr_lang_err err;
    memset(&err, 0, sizeof err);
    int rc = tr_query_compile_opts(path, src, len, NULL, out, &err);
    if (rc && d) tr_lang_err_to_diag(&err, path, d);
    tr_lang_err_clear(&err);
    if (rc != -ENOMEM && rc != 0 && rc != TR_EPARSE) rc = rc == TR_EDEPTH ? TR_EPARSE : TR_EINVAL_CFG;
    return rc;
}

void tr_query_destroy(struct tr_query *q) {
    if (!q) return;
    for (size_t i = 0; i < q->n; i++) {
        tr_value_unref(q->nodes[i].params);
        tr_script_destroy(q->nodes[i].script);
        tr_select_destroy(q->nodes[i].select);
    }
    tr_free(q->nodes);
    tr_free(q->windows);
    tr_free(q->config_id);
    tr_prog_destroy(q->prog);
    tr_parsed_fini(&q->parsed);
    tr_free(q);
}

const char *tr_query_config_id(const struct tr_query *q) { return q->config_id; }

int64_t tr_query_metrics_interval_s(const struct tr_query *q) { return q->metrics_interval_s; }
size_t tr_query_node_count(const struct tr_query *q) { return q->n; }
const struct tr_qnode *tr_query_node(const struct tr_query *q, size_t i) {
    return i < q->n ? &q->nodes[i] : NULL;
}

int tr_query_render(const struct tr_query *q, const struct tr_lang_err *e, struct tr_buf *out) {
    return tr_lang_render(q->prog->src, q->prog->len, e, out);
}

size_t tr_query_warning_count(const struct tr_query *q) { return q->prog->nwarnings; }

int tr_query_render_warnings(const struct tr_query *q, struct tr_buf *out) {
    for (size_t i = 0; i < q->prog->nwarnings; i++) {
        int rc = tr_lang_render(q->prog->src, q->prog->len, &q->prog->warnings[i], out);
        if (rc) return rc;
    }
    return 0;
}
