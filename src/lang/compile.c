/* compile.c - turns a parsed tree into something the evaluator can run.
 *
 * Resolves every name once: locals become slots, constants become literals,
 * `use`d module functions become pointers into the built-in table. Folds
 * constant sub-expressions the way Tremor does (so some errors surface at
 * compile time) and records warnings. It does not evaluate events.
 * Invariant: after a successful pass no N_PATH of a local has slot < 0 and
 * every N_CALL has fn set.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/file.h"
#include "lang/aggr_int.h"
#include "lang/compile_int.h"
#include "lang/extract_int.h"
#include "lang/interp_int.h"
#include "lang/preproc_int.h"
#include "lang/std_int.h"

struct name_slot {
    struct tr_str *name;
    int slot;
    int shadow;          /* a case binding, visible only inside its case */
};

struct const_def {
    struct tr_str *name;
    tr_value val;        /* owned by the arena */
};

struct fn_def {
    struct tr_str *name;          /* qualified: "mod::sub::fn" */
    struct tr_node *decl;         /* N_FN_DECL, or NULL for an intrinsic alias */
    const struct tr_fn *builtin;  /* intrinsic alias target */
};

struct tr_scope {
    struct name_slot *locals;
    size_t nlocals, caplocals;
    struct const_def *consts;     /* names are qualified by their module */
    size_t nconsts, capconsts;
    struct fn_def *fns;
    size_t nfns, capfns;
    const struct tr_use *uses;
    size_t nuses;
};

struct cc {
    struct tr_prog *prog;
    struct tr_scope *sc;
    struct tr_lang_err *err;
    int no_locals;               /* select clause: locals are an error */
    struct tr_span stmt_sp, clause_sp;
    struct tr_select_info *si;   /* compiling a select: where aggregates go */
    int no_event;                /* windowed select target: event/$ only inside aggregates */
    int in_aggr;                 /* inside an aggregate's arguments */
    int in_fn;                   /* compiling a function body (recur allowed) */
    char module[256];            /* current module path, "" at the top */
    const struct tr_lang_opts *opts;
    struct tr_parsed *parsed;    /* uses of module files are appended here */
    int includes;                /* nesting of module files being loaded */
    int query;                   /* module files may hold `define` statements */
    int depth;
};

static int streq(const struct tr_str *a, const char *b, size_t n) {
    return a->len == n && memcmp(a->data, b, n) == 0;
}

static int oom(struct cc *c) {
    struct tr_span z;
    memset(&z, 0, sizeof z);
    tr_lang_err_set(c->err, -ENOMEM, z, z, "out of memory");
    return -ENOMEM;
}

static int add_local(struct cc *c, struct tr_str *name, int shadow) {
    struct tr_scope *s = c->sc;
    if (tr_grow((void **)&s->locals, &s->caplocals, s->nlocals + 1, sizeof *s->locals)) return oom(c);
    s->locals[s->nlocals].name = name;
    s->locals[s->nlocals].shadow = shadow;
    s->locals[s->nlocals].slot = c->prog->nlocals++;
    return s->locals[s->nlocals++].slot;
}

/* The slot of a local; the innermost case binding wins. */
static int local_slot(struct cc *c, struct tr_str *name) {
    struct tr_scope *s = c->sc;
    for (size_t i = s->nlocals; i-- > 0;)
        if (streq(s->locals[i].name, name->data, name->len)) return s->locals[i].slot;
    return add_local(c, name, 0);
}

/* The slot of a case binding (`for` key/value, `case x = ...`) in scope,
 * or -1: 0.11's shadow variables, the only locals a select may use. */
static int shadow_slot(const struct cc *c, const struct tr_str *name) {
    const struct tr_scope *s = c->sc;
    for (size_t i = s->nlocals; i-- > 0;)
        if (s->locals[i].shadow && streq(s->locals[i].name, name->data, name->len))
            return s->locals[i].slot;
    return -1;
}

/* Case bindings are scoped to their case: forget those added since mark. */
static void end_case(struct cc *c, size_t mark) {
    struct tr_scope *s = c->sc;
    size_t w = mark;
    for (size_t i = mark; i < s->nlocals; i++)
        if (!s->locals[i].shadow) s->locals[w++] = s->locals[i];
    s->nlocals = w;
}

static const tr_value *const_lookup(struct cc *c, const char *q, size_t n) {
    for (size_t i = 0; i < c->sc->nconsts; i++)
        if (streq(c->sc->consts[i].name, q, n)) return &c->sc->consts[i].val;
    return NULL;
}

/* A const by plain name: the current module's first, then the top level's. */
static const tr_value *const_get(struct cc *c, const struct tr_str *name) {
    if (c->module[0]) {
        char q[512];
        int n = snprintf(q, sizeof q, "%s::%s", c->module, name->data);
        if (n > 0 && (size_t)n < sizeof q) {
            const tr_value *v = const_lookup(c, q, (size_t)n);
            if (v) return v;
        }
    }
    return const_lookup(c, name->data, name->len);
}

/* "mod::name" relative to the current module, then absolute. */
static const tr_value *const_get_path(struct cc *c, const char *mod, const char *name) {
    char q[512];
    int n;
    if (c->module[0]) {
        n = snprintf(q, sizeof q, "%s::%s::%s", c->module, mod, name);
        if (n > 0 && (size_t)n < sizeof q) {
            const tr_value *v = const_lookup(c, q, (size_t)n);
            if (v) return v;
        }
    }
    n = snprintf(q, sizeof q, "%s::%s", mod, name);
    if (n > 0 && (size_t)n < sizeof q) return const_lookup(c, q, (size_t)n);
    return NULL;
}

/* A call names a function relative to the module it is written in, and
 * only so (0.11 InvokeRaw::up: the current module path + the call's path):
 * inside `mod b`, `a::f()` is b::a::f, never the top-level a::f. */
static struct fn_def *fn_lookup(struct cc *c, const char *name) {
    char q[512];
    int n = c->module[0] ? snprintf(q, sizeof q, "%s::%s", c->module, name) : snprintf(q, sizeof q, "%s", name);
    if (n <= 0 || (size_t)n >= sizeof q) return NULL;
    for (size_t i = 0; i < c->sc->nfns; i++)
        if (streq(c->sc->fns[i].name, q, (size_t)n)) return &c->sc->fns[i];
    return NULL;
}

/* A name qualified by the current module, kept by the arena. */
static struct tr_str *qualify(struct cc *c, const struct tr_str *name) {
    char q[512];
    int n = c->module[0] ? snprintf(q, sizeof q, "%s::%s", c->module, name->data)
                         : snprintf(q, sizeof q, "%s", name->data);
    if (n < 0 || (size_t)n >= sizeof q) return NULL;
    struct tr_str *s = tr_str_new(q, (size_t)n);
    if (!s || tr_arena_keep_str(c->prog->arena, s)) return NULL;
    return s;
}

static int pos_cmp(struct tr_pos a, struct tr_pos b) {
    if (a.line != b.line) return a.line < b.line ? -1 : 1;
    if (a.col != b.col) return a.col < b.col ? -1 : 1;
    return a.off < b.off ? -1 : a.off > b.off;
}

/* 0.11 keeps warnings in a BTreeSet of (outer, inner, message): they come
 * out in that order, each once. */
static int warning_cmp(const struct tr_lang_err *a, const struct tr_lang_err *b) {
    int r = pos_cmp(a->outer.s, b->outer.s);
    if (!r) r = pos_cmp(a->outer.e, b->outer.e);
    if (!r) r = pos_cmp(a->inner.s, b->inner.s);
    if (!r) r = pos_cmp(a->inner.e, b->inner.e);
    return r ? r : strcmp(a->msg, b->msg);
}

static int warn_at(struct cc *c, struct tr_span outer, struct tr_span inner, const char *msg) {
    struct tr_prog *p = c->prog;
    struct tr_lang_err nw;
    memset(&nw, 0, sizeof nw);
    tr_lang_err_set(&nw, 0, outer, inner, "%s", msg);
    nw.level = TR_LVL_WARNING;
    size_t at = p->nwarnings;
    for (size_t i = 0; i < p->nwarnings; i++) {
        int r = warning_cmp(&nw, &p->warnings[i]);
        if (r == 0) return 0;
        if (r < 0) {
            at = i;
            break;
        }
    }
    struct tr_lang_err *w = tr_realloc(p->warnings, (p->nwarnings + 1) * sizeof *w);
    if (!w) return oom(c);
    p->warnings = w;
    memmove(&w[at + 1], &w[at], (p->nwarnings - at) * sizeof *w);
    w[at] = nw;
    p->nwarnings++;
    return 0;
}

static int warn(struct cc *c, struct tr_span sp, const char *msg) { return warn_at(c, sp, sp, msg); }

/* A record pattern that tests a field for presence or absence and also
 * otherwise (0.11 RecordPatternRaw::up, ast/raw.rs): the pattern is
 * underlined with two lines around it. */
static int record_pattern_warnings(struct cc *c, const struct tr_node *p) {
    for (uint32_t i = 0; i < p->n; i++) {
        const struct tr_node *f = p->v[i];
        if (f->kind != PF_PRESENT && f->kind != PF_ABSENT) continue;
        int other = 0;
        for (uint32_t j = 0; j < p->n && !other; j++) {
            const struct tr_node *g = p->v[j];
            other = g->kind != f->kind && g->name && g->name->len == f->name->len &&
                    memcmp(g->name->data, f->name->data, f->name->len) == 0;
        }
        if (!other) continue;
        char msg[1024];
        if (f->kind == PF_PRESENT)
            snprintf(msg, sizeof msg,
                     "The field %s is checked with both present and another extractor, this is redundant as "
                     "extractors imply presence. It may also overwrite the result of the extractor.",
                     f->name->data);
        else
            snprintf(msg, sizeof msg,
                     "The field %s is checked with both absence and another extractor, this test can never be true.",
                     f->name->data);
        int rc = warn_at(c, tr_span_expand(p->sp, 2), p->sp, msg);
        if (rc) return rc;
    }
    return 0;
}

/* Evaluate a constant node at compile time and turn it into a literal. */
static int fold(struct cc *c, struct tr_node *n) {
    struct tr_env E;
    memset(&E, 0, sizeof E);
    E.err = c->err;
    E.folding = 1;
    tr_value v;
    int rc = tr_eval(&E, n, &v);
    if (rc) return rc < 0 ? rc : TR_EPARSE;
    if (tr_arena_keep(c->prog->arena, tr_value_ref(v))) {
        tr_value_unref(v);
        return oom(c);
    }
    tr_value_unref(v);
    n->kind = N_LIT;
    n->lit = v;
    n->flags |= NF_CONST;
    n->n = 0;
    return 0;
}

static int is_const(const struct tr_node *n) { return n && (n->flags & NF_CONST); }

static int node(struct cc *c, struct tr_node *n);

static int nodes(struct cc *c, struct tr_node *n) {
    for (uint32_t i = 0; i < n->n; i++) {
        int rc = node(c, n->v[i]);
        if (rc) return rc;
    }
    return 0;
}

static int path(struct cc *c, struct tr_node *n) {
    int rc = nodes(c, n);   /* segment index expressions */
    if (rc) return rc;
    for (uint32_t i = 0; i < n->n; i++) {
        struct tr_node *s = n->v[i];
        if ((s->kind == S_IDX || s->kind == S_RANGE) && s->a && (rc = node(c, s->a))) return rc;
        if (s->kind == S_RANGE && (rc = node(c, s->b))) return rc;
    }
    if (n->op == R_CONST && !(n->flags & NF_CONST) && n->lit.type == TR_NULL && n->name2) {
        const tr_value *cv = const_get_path(c, n->name2->data, n->name->data);
        if (!cv)
            return tr_lang_err_set(c->err, TR_EINVAL_CFG, tr_span_expand(n->sp, 2), n->sp,
                                   "The constant %s%s%s::%s (absolute path) is not defined.",
                                   c->module, c->module[0] ? "::" : "", n->name2->data, n->name->data);
        n->lit = *cv;
        if (n->n == 0) n->flags |= NF_CONST;
        return 0;
    }
    if ((n->op == R_EVENT || n->op == R_META) && c->no_event && !c->in_aggr) {
        rc = tr_lang_err_set(c->err, TR_EINVAL_CFG, n->sp, n->sp,
                             "References to `event` or `$` are not allowed in this context");
        snprintf(c->err->hint, sizeof c->err->hint,
                 "Here you operate in the whole window, not a single event. You need to wrap this reference in an aggregate function (e.g. aggr::win::last(...)) or use it in the group by clause of this query.");
        return rc;
    }
    if (n->op != R_LOCAL) return 0;
    const tr_value *cv = const_get(c, n->name);
    if (cv) {
        n->op = R_CONST;
        n->lit = *cv;
        if (n->n == 0) n->flags |= NF_CONST;
        return 0;
    }
    int slot = c->no_locals ? shadow_slot(c, n->name) : local_slot(c, n->name);
    if (slot < 0 && c->no_locals)
        return tr_lang_err_set(c->err, TR_EINVAL_CFG, c->stmt_sp, c->clause_sp,
                               "Local variables are not allowed here");
    if (slot < 0) return slot;
    n->slot = slot;
    return 0;
}

/* aggr::<module>::<name>(args) inside a select: a slot in the group's state. */
static int aggregate(struct cc *c, struct tr_node *n, const char *mod, size_t mlen, const char *fname) {
    struct tr_span sp = {c->stmt_sp.s, n->sp.e};
    char m[64];
    snprintf(m, sizeof m, "%.*s", (int)(mlen < 63 ? mlen : 63), mod);
    const struct tr_aggr_fn *f = tr_aggr_find(m, fname);
    if (!f)
        return tr_lang_err_set(c->err, TR_EINVAL_CFG, tr_span_expand(n->sp, 3), n->sp,
                               "Call to undefined function aggr::%s::%s", m, fname);
    if (c->in_aggr)
        return tr_lang_err_set(c->err, TR_EINVAL_CFG, sp, sp,
                               "Aggregates can not be called inside of aggregates");
    int min, max;
    tr_aggr_arity(f, &min, &max);
    if ((int)n->n < min || (int)n->n > max)
        return tr_lang_err_set(c->err, TR_EINVAL_CFG, sp, sp,
                               "Bad arity for function %s::%s/%d..=%d but was called with %u arguments",
                               m, fname, min, max, n->n);
    struct tr_select_info *si = c->si;
    if (tr_grow((void **)&si->aggrs, &si->capaggrs, si->naggrs + 1, sizeof *si->aggrs)) return oom(c);
    n->op = 2;
    n->slot = (int32_t)si->naggrs;
    si->aggrs[si->naggrs++] = n;
    c->in_aggr = 1;
    int rc = nodes(c, n);
    c->in_aggr = 0;
    return rc;
}

static int call(struct cc *c, struct tr_node *n) {
    if (n->op == 1) {
        if (!c->in_fn)
            return tr_lang_err_set(c->err, TR_EINVAL_CFG, tr_span_expand(n->sp, 2), n->sp,
                                   "Can not recur from this location");
        return nodes(c, n);
    }
    const char *full = n->name->data;
    struct fn_def *uf = fn_lookup(c, full);
    if (uf && uf->decl) {
        n->op = 3;
        n->c = uf->decl;
        return nodes(c, n);
    }
    if (uf && uf->builtin) {
        n->fn = uf->builtin;
        int rc = nodes(c, n);
        if (rc || !n->fn->pure) return rc;
        for (uint32_t i = 0; i < n->n; i++)
            if (!is_const(n->v[i])) return 0;
        return fold(c, n);
    }
    const char *sep = NULL;
    for (const char *p = full; (p = strstr(p, "::")); p += 2) sep = p;
    /* 0.11 prints the call's module path, "::" and the name (InvokeRaw::up,
     * ErrorKind::MissingFunction): a bare name comes out as "::name" */
    if (!sep)
        return tr_lang_err_set(c->err, TR_EINVAL_CFG, tr_span_expand(n->sp, 3), n->sp,
                               "Call to undefined function ::%s", full);
    const char *fname = sep + 2;
    size_t mlen = (size_t)(sep - full);
    if (c->si && strncmp(full, "aggr::", 6) == 0) return aggregate(c, n, full + 6, mlen - 6, fname);
    /* the first module component must be a `use` alias */
    const char *first_end = strstr(full, "::");
    size_t flen = (size_t)(first_end - full);
    const struct tr_use *u = NULL;
    for (size_t i = 0; i < c->sc->nuses; i++)
        if (streq(c->sc->uses[i].alias, full, flen)) u = &c->sc->uses[i];
    const struct tr_fn *fn = NULL;
    if (!u && strncmp(full, "core::", 6) == 0 && mlen > 6)
        fn = tr_std_find(full + 6, mlen - 6, fname, strlen(fname));
    if (u) {
        /* absolute module path = use path + the rest of the call's module path */
        char absmod[512];
        snprintf(absmod, sizeof absmod, "%s%.*s", u->path->data, (int)(mlen - flen), full + flen);
        const char *last = absmod;
        for (const char *p = absmod; (p = strstr(p, "::")); p += 2) last = p + 2;
        int std_ok = strncmp(absmod, "std::", 5) == 0 || strncmp(absmod, "tremor::", 8) == 0;
        if (std_ok) fn = tr_std_find(last, strlen(last), fname, strlen(fname));
    }
    if (!fn)
        return tr_lang_err_set(c->err, TR_EINVAL_CFG, tr_span_expand(n->sp, 3), n->sp,
                               "Call to undefined function %.*s::%s", (int)mlen, full, fname);
    if ((int)n->n < fn->min_args || (fn->max_args >= 0 && (int)n->n > fn->max_args))
        return tr_lang_err_set(c->err, TR_EINVAL_CFG, tr_span_expand(n->sp, 2), n->sp,
                               "Bad arity for function %s::%s/%d..=%d but was called with %u arguments",
                               fn->module, fn->name, fn->min_args,
                               fn->max_args < 0 ? fn->min_args : fn->max_args, n->n);
    n->fn = fn;
    int rc = nodes(c, n);
    if (rc) return rc;
    if (fn->pure) {
        for (uint32_t i = 0; i < n->n; i++)
            if (!is_const(n->v[i])) return 0;
        return fold(c, n);
    }
    return 0;
}

static int extractor(struct cc *c, struct tr_node *p, const struct tr_str *kind, const struct tr_str *pat) {
    char msg[256] = "";
    struct tr_extractor *x;
    int rc = tr_extractor_create(kind->data, pat->data, &x, msg, sizeof msg);
    if (rc == -ENOMEM) return oom(c);
    if (rc) {
        struct tr_span in = {p->nsp[1].s, p->nsp[2].e};
        return tr_lang_err_set(c->err, TR_EINVAL_CFG, tr_span_expand(in, 2), in,
                               "Invalid tilde predicate pattern: %s", msg);
    }
    struct tr_prog *pg = c->prog;
    if (tr_grow((void **)&pg->exts, &pg->capexts, pg->nexts + 1, sizeof *pg->exts)) {
        tr_extractor_destroy(x);
        return oom(c);
    }
    pg->exts[pg->nexts++] = x;
    p->ext = x;
    return 0;
}

static int pattern(struct cc *c, struct tr_node *p) {
    int rc = 0;
    switch (p->kind) {
    case P_EXTRACT:
    case PA_TILDE: return extractor(c, p, p->name, p->name2);
    case PF_TILDE: return extractor(c, p, p->name2, p->name3);
    case P_EXPR:
    case PA_EXPR:
    case PF_CMP: return node(c, p->a);
    case P_REC:
        for (uint32_t i = 0; i < p->n && !rc; i++) rc = pattern(c, p->v[i]);
        return rc ? rc : record_pattern_warnings(c, p);
    case P_ARR:
    case P_TUPLE:
        for (uint32_t i = 0; i < p->n && !rc; i++) rc = pattern(c, p->v[i]);
        return rc;
    case PF_REC:
    case PF_ARR:
    case PA_REC: return pattern(c, p->a);
    case P_ASSIGN: {
        int slot = add_local(c, p->name, 1);
        if (slot < 0) return slot;
        p->slot = slot;
        return pattern(c, p->a);
    }
    default: return 0;
    }
}

static int is_default(const struct tr_node *p) {
    return p->kind == P_DEFAULT || p->kind == P_ANY || (p->kind == P_ASSIGN && p->a->kind == P_ANY);
}

static int match(struct cc *c, struct tr_node *n) {
    int rc = node(c, n->a);
    if (rc) return rc;
    int defaults = 0;
    for (uint32_t i = 0; i < n->n; i++) {
        struct tr_node *cs = n->v[i];
        size_t mark = c->sc->nlocals;
        if ((rc = pattern(c, cs->a))) return rc;
        if (cs->b && (rc = node(c, cs->b))) return rc;
        if ((rc = nodes(c, cs))) return rc;
        end_case(c, mark);
        if (is_default(cs->a) && !cs->b) defaults++;
    }
    if (n->flags & NF_QUOTED_KEY) return 0;
    if (defaults == 0)
        return warn(c, n->sp,
                    "This match expression has no default clause, if the other clauses do not cover all possibilities this will lead to events being discarded with runtime errors.");
    if (defaults > 1)
        return warn(c, n->sp,
                    "A match statement with more then one default clause will never reach any but the first default clause.");
    return 0;
}

static int add_fn(struct cc *c, struct tr_node *decl, const struct tr_fn *builtin) {
    struct tr_str *qn = qualify(c, decl->name);
    if (!qn) return oom(c);
    struct tr_scope *s = c->sc;
    for (size_t i = 0; i < s->nfns; i++)
        if (streq(s->fns[i].name, qn->data, qn->len)) {
            struct tr_span z;
            memset(&z, 0, sizeof z);
            int rc = tr_lang_err_set(c->err, TR_EINVAL_CFG, z, z, "function %s already defined.",
                                     decl->name->data);
            c->err->has_pos = 0;
            return rc;
        }
    if (tr_grow((void **)&s->fns, &s->capfns, s->nfns + 1, sizeof *s->fns)) return oom(c);
    s->fns[s->nfns].name = qn;
    s->fns[s->nfns].decl = builtin ? NULL : decl;
    s->fns[s->nfns].builtin = builtin;
    s->nfns++;
    return 0;
}

#define MAX_INCLUDES 16

/* A lexer error as a language error (takes the unfinished token's text). */
static void from_lex_err(struct tr_lang_err *e, struct tr_lex_err *le) {
    e->set = 1;
    e->level = TR_LVL_ERROR;
    e->has_pos = !le->nopos;
    e->inner = le->inner;
    e->outer = le->outer;
    snprintf(e->msg, sizeof e->msg, "%s", le->msg);
    snprintf(e->hint, sizeof e->hint, "%s", le->hint);
    e->token_text = le->token_text;
    e->token_span = le->token_span;
    le->token_text = NULL;
}

/* `use a::b [as x]` of a module file: a/b.tremor from the module path becomes
 * module x (or b) inside the current one. Built-in modules need nothing. */
static int use_module(struct cc *c, struct tr_node *n) {
    const char *mp = n->name->data;
    if (!strcmp(mp, "std") || !strcmp(mp, "tremor") || !strncmp(mp, "std::", 5) || !strncmp(mp, "tremor::", 8))
        return 0;
    if (c->includes >= MAX_INCLUDES)
        return tr_lang_err_set(c->err, TR_EINVAL_CFG, tr_span_expand(n->sp, 2), n->sp,
                               "Cyclic dependency detected: module `%s` includes itself", mp);
    char rel[512];
    size_t j = 0;
    for (const char *q = mp; *q && j + 8 < sizeof rel; q++) {
        if (q[0] == ':' && q[1] == ':') {
            rel[j++] = '/';
            q++;
        } else {
            rel[j++] = *q;
        }
    }
    rel[j] = 0;
    char *src = NULL, *full = NULL;
    size_t len = 0;
    int found = tr_pp_find(c->opts, rel, &full, &src, &len);
    if (found == -ENOMEM) return oom(c);
    if (found) {
        /* the preprocessor step found it a moment ago: the file went away */
        return tr_lang_err_set(c->err, TR_EINVAL_CFG, tr_span_expand(n->sp, 2), n->sp,
                               "Module `%s` not found or not readable", rel);
    }
    struct tr_toks toks;
    struct tr_lang_err inner;
    memset(&inner, 0, sizeof inner);
    int rc = tr_lex_all(src, len, &toks);
    struct tr_node *m = NULL;
    if (!rc) rc = tr_parse_module(src, &toks, c->query, c->prog->arena, c->parsed, &m, &inner);
    else if (rc != -ENOMEM && toks.err.set) from_lex_err(&inner, &toks.err);
    tr_lex_free(&toks);
    if (rc) {
        /* the error is located in the module file: it carries that text */
        if (rc != -ENOMEM && inner.set && c->err && !c->err->set) {
            if (tr_lang_err_attach(&inner, full, src, len)) {
                rc = -ENOMEM;
            } else {
                inner.in_module = 1;
                *c->err = inner;
                memset(&inner, 0, sizeof inner);
            }
        }
        if (rc != -ENOMEM && c->err && !c->err->set)
            tr_lang_err_set(c->err, rc, tr_span_expand(n->sp, 2), n->sp, "Module `%s` cannot be parsed", mp);
        tr_lang_err_clear(&inner);
        tr_free(src);
        tr_free(full);
        return rc == -ENOMEM ? rc : TR_EPARSE;
    }
    c->sc->uses = c->parsed->uses;
    c->sc->nuses = c->parsed->nuses;
    m->name = n->name2;
    n->a = m;
    c->includes++;
    rc = node(c, m);
    c->includes--;
    /* the error's spans point into the module file: keep its text (the
     * innermost module wins, it attached first) */
    if (rc && c->err && c->err->set && c->err->has_pos && !c->err->src) {
        if (tr_lang_err_attach(c->err, full, src, len)) rc = -ENOMEM;
        else c->err->in_module = 1;
    }
    tr_free(src);
    tr_free(full);
    return rc;
}

/* A function body gets its own local slots: arguments first. */
static int fn_decl(struct cc *c, struct tr_node *n) {
    if (n->op == 2) {
        const char *target = n->name2->data;
        const char *sep = NULL;
        for (const char *q = target; (q = strstr(q, "::")); q += 2) sep = q;
        const struct tr_fn *f = sep ? tr_std_find(target, (size_t)(sep - target), sep + 2, strlen(sep + 2)) : NULL;
        if (!f)
            return tr_lang_err_set(c->err, TR_EINVAL_CFG, tr_span_expand(n->sp, 2), n->sp,
                                   "Call to undefined function %s", target);
        return add_fn(c, n, f);
    }
    int rc = add_fn(c, n, NULL);
    if (rc) return rc;
    struct tr_scope *s = c->sc;
    struct name_slot *saved = s->locals;
    size_t saved_n = s->nlocals, saved_cap = s->caplocals;
    int saved_prog = c->prog->nlocals, saved_fn = c->in_fn;
    s->locals = NULL;
    s->nlocals = s->caplocals = 0;
    c->prog->nlocals = 0;
    c->in_fn = 1;
    for (uint32_t i = 0; i < n->b->n && !rc; i++)
        if (add_local(c, n->b->v[i]->name, 0) < 0) rc = -ENOMEM;
    if (!rc) rc = node(c, n->a);
    n->slot = c->prog->nlocals;
    n->slot2 = (int32_t)n->b->n;
    tr_free(s->locals);
    s->locals = saved;
    s->nlocals = saved_n;
    s->caplocals = saved_cap;
    c->prog->nlocals = saved_prog;
    c->in_fn = saved_fn;
    return rc;
}

static int node(struct cc *c, struct tr_node *n) {
    if (!n) return 0;
    if (++c->depth > 1000) {
        c->depth--;
        return tr_lang_err_set(c->err, TR_EDEPTH, n->sp, n->sp, "nesting too deep");
    }
    int rc = 0;
    switch (n->kind) {
    case N_LIT: break;
    case N_PATH: rc = path(c, n); break;
    case N_CALL: rc = call(c, n); break;
    case N_MATCH: rc = match(c, n); break;
    case N_PRESENT: {
        /* presence of a constant or unknown local is decided at run time */
        struct tr_node *p = n->a;
        if (p->op == R_LOCAL) {
            const tr_value *cv = const_get(c, p->name);
            if (cv) {
                p->op = R_CONST;
                p->lit = *cv;
            } else if (c->no_locals && shadow_slot(c, p->name) < 0) {
                rc = tr_lang_err_set(c->err, TR_EINVAL_CFG, c->stmt_sp, c->clause_sp,
                                     "Local variables are not allowed here");
            } else if (c->no_locals) {
                p->slot = shadow_slot(c, p->name);
            } else {
                int slot = local_slot(c, p->name);
                if (slot < 0) rc = slot;
                p->slot = slot;
            }
        }
        for (uint32_t i = 0; i < p->n && !rc; i++) {
            struct tr_node *s = p->v[i];
            if (s->a) rc = node(c, s->a);
            if (!rc && s->b) rc = node(c, s->b);
        }
        break;
    }
    case N_UNARY:
        rc = node(c, n->a);
        if (!rc && is_const(n->a)) rc = fold(c, n);
        break;
    case N_BINARY:
        rc = node(c, n->a);
        if (!rc) rc = node(c, n->b);
        if (!rc && is_const(n->a) && is_const(n->b)) rc = fold(c, n);
        break;
    case N_REC: {
        int all = 1;
        for (uint32_t i = 0; i < n->n && !rc; i++) {
            rc = node(c, n->v[i]->a);
            if (!rc) rc = node(c, n->v[i]->b);
            all = all && is_const(n->v[i]->a) && is_const(n->v[i]->b);
        }
        if (!rc && all) rc = fold(c, n);
        break;
    }
    case N_ARR:
    case N_STRI: {
        rc = nodes(c, n);
        int all = 1;
        for (uint32_t i = 0; i < n->n; i++) all = all && is_const(n->v[i]);
        if (!rc && all) rc = fold(c, n);
        break;
    }
    case N_BYTES: {
        int all = 1;
        for (uint32_t i = 0; i < n->n && !rc; i++) {
            rc = node(c, n->v[i]->a);
            all = all && is_const(n->v[i]->a);
        }
        if (!rc && all) rc = fold(c, n);
        break;
    }
    case N_PATCH:
        rc = node(c, n->a);
        for (uint32_t i = 0; i < n->n && !rc; i++) {
            rc = node(c, n->v[i]->a);
            if (!rc) rc = node(c, n->v[i]->b);
        }
        break;
    case N_MERGE:
        rc = node(c, n->a);
        if (!rc) rc = node(c, n->b);
        break;
    case N_FOR:
        rc = node(c, n->a);
        for (uint32_t i = 0; i < n->n && !rc; i++) {
            struct tr_node *cs = n->v[i];
            size_t mark = c->sc->nlocals;
            cs->slot = add_local(c, cs->name, 1);
            cs->slot2 = add_local(c, cs->name2, 1);
            if (cs->slot < 0 || cs->slot2 < 0) return oom(c);
            if (cs->b) rc = node(c, cs->b);
            if (!rc) rc = nodes(c, cs);
            end_case(c, mark);
        }
        break;
    case N_LET: {
        struct tr_node *t = n->a;
        rc = node(c, n->b);
        if (rc) break;
        if (t->op == R_LOCAL && const_get(c, t->name)) {
            rc = tr_lang_err_set(c->err, TR_EINVAL_CFG, tr_span_expand(n->sp, 2), n->sp,
                                 "Can't assign to the `%s` constant", t->name->data);
            break;
        }
        if (t->op == R_LOCAL) {
            int slot = local_slot(c, t->name);
            if (slot < 0) {
                rc = slot;
                break;
            }
            t->slot = slot;
        }
        for (uint32_t i = 0; i < t->n && !rc; i++)
            if (t->v[i]->a) rc = node(c, t->v[i]->a);
        /* `let event = merge|patch event of ... end` may reuse the event in place */
        if (t->op == R_EVENT && t->n == 0 && (n->b->kind == N_MERGE || n->b->kind == N_PATCH) &&
            n->b->a->kind == N_PATH && n->b->a->op == R_EVENT && n->b->a->n == 0)
            n->b->flags |= NF_MOVE;
        break;
    }
    case N_EMIT:
        rc = node(c, n->a);
        if (!rc) rc = node(c, n->b);
        break;
    case N_CONST: {
        rc = node(c, n->a);
        if (rc) break;
        if (!is_const(n->a)) {
            rc = tr_lang_err_set(c->err, TR_EINVAL_CFG, tr_span_expand(n->a->sp, 2), n->a->sp,
                                 "The expression isn't constant and can't be evaluated at compile time");
            break;
        }
        struct tr_str *qn = qualify(c, n->name);
        if (!qn) {
            rc = oom(c);
            break;
        }
        if (const_lookup(c, qn->data, qn->len)) {
            rc = tr_lang_err_set(c->err, TR_EINVAL_CFG, tr_span_expand(n->sp, 2), n->sp,
                                 "Can't declare the constant `%s` twice", n->name->data);
            break;
        }
        struct tr_scope *s = c->sc;
        if (tr_grow((void **)&s->consts, &s->capconsts, s->nconsts + 1, sizeof *s->consts)) {
            rc = oom(c);
            break;
        }
        s->consts[s->nconsts].name = qn;
        s->consts[s->nconsts].val = n->a->lit;
        s->nconsts++;
        n->lit = n->a->lit;
        n->flags |= NF_CONST;
        break;
    }
    case N_FN_DECL: rc = fn_decl(c, n); break;
    case Q_DEFINE_OP:
    case Q_DEFINE_SCRIPT:
    case Q_DEFINE_WINDOW:
        /* definitions inside a module are found by their module path */
        if (c->module[0] && !(n->name = qualify(c, n->name))) rc = oom(c);
        break;
    case N_USE: rc = use_module(c, n); break;
    case N_MOD: {
        size_t len = strlen(c->module);
        int w = snprintf(c->module + len, sizeof c->module - len, "%s%s", len ? "::" : "", n->name->data);
        if (w < 0 || (size_t)w >= sizeof c->module - len) {
            c->module[len] = 0;
            rc = tr_lang_err_set(c->err, TR_ETOOBIG, n->sp, n->sp, "module path too long");
            break;
        }
        rc = nodes(c, n);
        c->module[len] = 0;
        break;
    }
    case N_BLOCK:
        rc = nodes(c, n);
        /* recur only ends a function body */
        for (uint32_t i = 0; !rc && c->in_fn && i + 1 < n->n; i++)
            if (n->v[i]->kind == N_CALL && n->v[i]->op == 1)
                rc = tr_lang_err_set(c->err, TR_EINVAL_CFG, tr_span_expand(n->v[i]->sp, 2), n->v[i]->sp,
                                     "Can not recur from this location");
        break;
    case G_EXPR:
    case G_EACH: rc = node(c, n->a); break;
    case G_SET: rc = nodes(c, n); break;
    default: break;
    }
    c->depth--;
    return rc;
}

void tr_prog_destroy(struct tr_prog *p) {
    if (!p) return;
    if (p->scope) {
        tr_free(p->scope->locals);
        tr_free(p->scope->fns);
        tr_free(p->scope->consts);
        tr_free(p->scope);
    }
    for (size_t i = 0; i < p->nexts; i++) tr_extractor_destroy(p->exts[i]);
    tr_free(p->exts);
    for (size_t i = 0; i < p->nwarnings; i++) tr_lang_err_clear(&p->warnings[i]);
    tr_free(p->warnings);
    tr_value_unref(p->args);
    tr_arena_destroy(p->arena);
    tr_free(p->path);
    tr_free(p->src);
    tr_free(p);
}

static int check_uses(struct cc *c, const struct tr_parsed *parsed) {
    for (size_t i = 0; i < parsed->nuses; i++) {
        const struct tr_use *u = &parsed->uses[i];
        const char *path = u->path->data;
        const char *last = path;
        for (const char *q = path; (q = strstr(q, "::")); q += 2) last = q + 2;
        int ok = 0;
        if (strcmp(path, "std") == 0 || strcmp(path, "tremor") == 0) ok = 1;
        else if ((strncmp(path, "std::", 5) == 0 || strncmp(path, "tremor::", 8) == 0) &&
                 tr_std_has_module(last, strlen(last)))
            ok = 1;
        /* other modules are files, loaded where their `use` stands */
        int user = strncmp(path, "std", 3) != 0 && strncmp(path, "tremor", 6) != 0;
        if (!ok && !user)
            return tr_lang_err_set(c->err, TR_EINVAL_CFG, tr_span_expand(u->sp, 2), u->sp,
                                   "Module `%s` not found or not readable error in module path: tremor-script/lib",
                                   path);
    }
    c->sc->uses = parsed->uses;
    c->sc->nuses = parsed->nuses;
    return 0;
}

int tr_compile_prog(const char *path, const char *src, size_t len, int query,
                    const struct tr_lang_opts *opts, struct tr_prog **out, struct tr_parsed *parsed,
                    struct tr_lang_err *err) {
    *out = NULL;
    struct tr_prog *p = tr_calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    p->args = tr_v_null();
    p->arena = tr_arena_create();
    p->scope = tr_calloc(1, sizeof *p->scope);
    p->path = tr_strdup(path ? path : "<input>");
    p->src = tr_strndup(src, len);
    p->len = len;
    if (!p->arena || !p->scope || !p->path || !p->src) {
        tr_prog_destroy(p);
        return -ENOMEM;
    }
    struct tr_toks toks;
    int rc = tr_lex_all(src, len, &toks);
    /* `use` lines first, as 0.11's preprocessor reads them before parsing */
    if (rc != -ENOMEM) {
        int prc = tr_pp_check(opts && opts->file ? opts->file : path, src, &toks, rc, opts, err);
        if (prc) {
            tr_lex_free(&toks);
            tr_prog_destroy(p);
            return prc;
        }
    }
    if (rc) {
        if (rc != -ENOMEM && toks.err.set) {
            from_lex_err(err, &toks.err);
            rc = TR_EPARSE;
        }
        tr_lex_free(&toks);
        tr_prog_destroy(p);
        return rc;
    }
    rc = tr_parse(src, &toks, query, p->arena, parsed, err);
    tr_lex_free(&toks);
    if (rc) {
        tr_prog_destroy(p);
        return rc;
    }
    p->root = parsed->root;
    struct cc c = {.prog = p, .sc = p->scope, .err = err, .opts = opts, .parsed = parsed, .query = query};
    rc = check_uses(&c, parsed);
    if (!rc && !query) rc = node(&c, p->root);
    /* a query's modules declare what its statements use: load them first */
    for (uint32_t i = 0; !rc && query && i < p->root->n; i++)
        if (p->root->v[i]->kind == N_MOD || p->root->v[i]->kind == N_USE) rc = node(&c, p->root->v[i]);
    if (!rc && !query && p->root->n == 0)
        rc = tr_lang_err_set(err, TR_EPARSE, p->root->sp, p->root->sp,
                             "No expressions were found in the script");
    if (rc) {
        tr_prog_destroy(p);
        return rc == -ENOMEM ? rc : rc;
    }
    *out = p;
    return 0;
}

int tr_compile_select_expr(struct tr_prog *prog, struct tr_node *stmt, struct tr_node *e,
                           struct tr_select_info *si, int no_event, struct tr_lang_err *err) {
    struct cc c = {.prog = prog, .sc = prog->scope, .err = err, .no_locals = 1, .si = si,
                   .no_event = no_event};
    c.stmt_sp = stmt->sp;
    c.clause_sp = e->sp;
    return node(&c, e);
}

/* Structural equality of two expressions (positions ignored). */
static int node_eq(const struct tr_node *a, const struct tr_node *b) {
    if (!a || !b) return a == b;
    if (a->kind != b->kind || a->op != b->op || a->n != b->n) return 0;
    const struct tr_str *an[] = {a->name, a->name2}, *bn[] = {b->name, b->name2};
    for (int i = 0; i < 2; i++) {
        if (!an[i] != !bn[i]) return 0;
        if (an[i] && (an[i]->len != bn[i]->len || memcmp(an[i]->data, bn[i]->data, an[i]->len))) return 0;
    }
    if (a->kind == N_LIT && (a->lit.type != b->lit.type || !tr_value_eq(&a->lit, &b->lit))) return 0;
    if (!node_eq(a->a, b->a) || !node_eq(a->b, b->b) || !node_eq(a->c, b->c)) return 0;
    for (uint32_t i = 0; i < a->n; i++)
        if (!node_eq(a->v[i], b->v[i])) return 0;
    return 1;
}

static void collect_group_exprs(struct tr_node *g, struct tr_node **out, size_t *n, size_t max) {
    if (g->kind == G_SET) {
        for (uint32_t i = 0; i < g->n; i++) collect_group_exprs(g->v[i], out, n, max);
    } else if (*n < max) {
        out[(*n)++] = g->a;
    }
}

static int rewrite(struct tr_arena *A, struct tr_node *e, struct tr_node **gx, size_t ng, int depth) {
    if (!e || depth > 1000) return 0;
    for (size_t i = 0; i < ng; i++) {
        if (!node_eq(e, gx[i])) continue;
        /* an expression the group is keyed on reads the group value instead */
        struct tr_node *seg = tr_node_new(A, S_IDX, e->sp), *lit = tr_node_new(A, N_LIT, e->sp);
        if (!seg || !lit) return -ENOMEM;
        lit->lit = tr_v_int((int64_t)i);
        lit->flags |= NF_CONST;
        seg->a = lit;
        struct tr_span sp = e->sp;
        memset(e, 0, sizeof *e);
        e->kind = N_PATH;
        e->op = R_GROUP;
        e->sp = sp;
        e->slot = e->slot2 = -1;
        e->lit = tr_v_null();
        if (tr_node_push(A, e, seg)) return -ENOMEM;
        return 0;
    }
    if (e->kind == N_CALL && e->name && strncmp(e->name->data, "aggr::", 6) == 0) return 0;
    int rc = rewrite(A, e->a, gx, ng, depth + 1);
    if (!rc) rc = rewrite(A, e->b, gx, ng, depth + 1);
    if (!rc) rc = rewrite(A, e->c, gx, ng, depth + 1);
    for (uint32_t i = 0; i < e->n && !rc; i++) rc = rewrite(A, e->v[i], gx, ng, depth + 1);
    return rc;
}

int tr_rewrite_group_refs(struct tr_prog *prog, struct tr_node *target, struct tr_node *group_by) {
    struct tr_node *gx[64];
    size_t ng = 0;
    collect_group_exprs(group_by, gx, &ng, 64);
    return rewrite(prog->arena, target, gx, ng, 0);
}

int tr_compile_body(struct tr_prog *parent, struct tr_node *body, struct tr_parsed *parsed,
                    const struct tr_lang_opts *opts, struct tr_prog **out, struct tr_lang_err *err) {
    *out = NULL;
    struct tr_prog *p = tr_calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    p->args = tr_v_null();
    p->scope = tr_calloc(1, sizeof *p->scope);
    p->arena = tr_arena_create();
    p->path = tr_strdup(parent->path);
    p->src = tr_strndup(parent->src, parent->len);
    p->len = parent->len;
    if (!p->scope || !p->arena || !p->path || !p->src) {
        tr_prog_destroy(p);
        return -ENOMEM;
    }
    p->root = body;
    /* `use` inside the body searches the query's module path */
    struct cc c = {.prog = p, .sc = p->scope, .err = err, .opts = opts, .parsed = parsed};
    /* constants of the query are visible inside its scripts */
    for (size_t i = 0; i < parent->scope->nconsts; i++) {
        struct tr_scope *s = p->scope;
        if (tr_grow((void **)&s->consts, &s->capconsts, s->nconsts + 1, sizeof *s->consts)) {
            tr_prog_destroy(p);
            return -ENOMEM;
        }
        s->consts[s->nconsts++] = parent->scope->consts[i];
    }
    int rc = check_uses(&c, parsed);
    /* fold results must outlive the parent arena too: share it */
    tr_arena_destroy(p->arena);
    p->arena = NULL;
    struct tr_arena *shared = parent->arena;
    p->arena = shared;
    if (!rc) rc = node(&c, body);
    p->arena = NULL;
    if (rc) {
        tr_prog_destroy(p);
        return rc;
    }
    p->arena = tr_arena_create();
    if (!p->arena) {
        tr_prog_destroy(p);
        return -ENOMEM;
    }
    *out = p;
    return 0;
}

int tr_const_eval(struct tr_prog *prog, struct tr_node *e, tr_value *out, struct tr_lang_err *err) {
    struct cc c = {.prog = prog, .sc = prog->scope, .err = err, .no_locals = 1};
    *out = tr_v_null();
    c.stmt_sp = e->sp;
    c.clause_sp = e->sp;
    int rc = node(&c, e);
    if (rc) return rc;
    if (!is_const(e))
        return tr_lang_err_set(err, TR_EINVAL_CFG, tr_span_expand(e->sp, 2), e->sp,
                               "The expression isn't constant and can't be evaluated at compile time");
    *out = tr_value_ref(e->lit);
    return 0;
}
