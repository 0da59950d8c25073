/* parse.c - recursive descent over the token array.
 *
 * Follows the precedence ladder of Tremor 0.11's grammar: or, xor, and,
 * ^, &, == !=, comparisons, shifts, + -, * / %, unary + -, not !, present /
 * absent, then primaries. It builds nodes only; compile.c gives them
 * meaning. Invariant: every function returns NULL exactly when it has set
 * the error, and never recurses deeper than TR_PARSE_MAX_DEPTH.
 */
#include "lang/parse.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"

struct ps {
    const char *src;
    const struct tr_toks *t;
    size_t i;          /* current significant token */
    size_t last;       /* last consumed significant token */
    struct tr_arena *A;
    struct tr_lang_err *err;
    int depth;
    int query;
    struct tr_parsed *out;
    size_t capuses;
    const char *ctx;   /* what may start here, for "expected" messages; reset on every token */
    struct tr_node *use_node; /* the N_USE of the last `use` parsed */
};

/* The local a `fn ... of` case binds its arguments' match to (0.11's
 * FN_RES_NAME). */
#define FN_RES_NAME "__fn_assign_this_is_ugly"

static int trivia(int k) {
    return k == TK_WS || k == TK_NL || k == TK_COMMENT || k == TK_DOC_COMMENT || k == TK_MOD_COMMENT;
}

static void skip(struct ps *p) {
    while (p->i < p->t->n && trivia(p->t->v[p->i].kind)) p->i++;
}

static const struct tr_tok *cur(struct ps *p) { return &p->t->v[p->i]; }
static int peek(struct ps *p) { return cur(p)->kind; }

/* Kind of the significant token after the current one. */
static int peek2(struct ps *p) {
    size_t j = p->i + 1;
    while (j < p->t->n && trivia(p->t->v[j].kind)) j++;
    return j < p->t->n ? p->t->v[j].kind : TK_EOF;
}

static const struct tr_tok *next(struct ps *p) {
    const struct tr_tok *t = cur(p);
    if (t->kind != TK_EOF) {
        p->last = p->i;
        p->i++;
        skip(p);
    }
    p->ctx = NULL;
    return t;
}

static struct tr_pos end_pos(struct ps *p) { return p->t->v[p->last].sp.e; }
static struct tr_span span_from(struct ps *p, struct tr_pos s) {
    struct tr_span sp = {s, end_pos(p)};
    return sp;
}

/* Optimal-string-alignment edit distance (adjacent swaps count as one). */
static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return 1000;
    size_t d[65][65];
    for (size_t i = 0; i <= la; i++) d[i][0] = i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t m = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < m) m = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < m) m = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < m)
                m = d[i - 2][j - 2] + 1;
            d[i][j] = m;
        }
    return d[la][lb];
}

/* The closest expected option within distance 3 (ties: smallest text). */
static int best_hint(const char *given, const char *expected, char *out, size_t n) {
    const char *p = strncmp(expected, "one of ", 7) == 0 ? expected + 7 : expected;
    size_t best = 4;
    char opt[64];
    while (*p) {
        const char *e = strstr(p, ", `");
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len < sizeof opt) {
            memcpy(opt, p, len);
            opt[len] = 0;
            size_t dist = edit_distance(given, opt);
            if (dist < best || (dist == best && dist <= 3 && strcmp(opt, out) < 0)) {
                best = dist;
                snprintf(out, n, "%s", opt);
            }
        }
        if (!e) break;
        p = e + 2;
    }
    return best <= 3;
}

int tr_parse_unexpected(const struct tr_tok *t, const char *src, const char *expected, struct tr_lang_err *err) {
    if (err->set) return TR_EPARSE;
    struct tr_buf b;
    tr_buf_init(&b);
    tr_lex_render(t, src, &b);
    const char *txt = b.data ? b.data : "";
    struct tr_span in = t->sp;
    struct tr_span out = tr_span_expand(in, 2);
    tr_lang_err_set(err, TR_EPARSE, out, in, "Found the token `%s` but expected %s", txt, expected);
    char opt[64] = "";
    if (t->kind == TK_EOF)
        snprintf(err->hint, sizeof err->hint, "It looks like a `;` is missing at the end of the script");
    else if (t->kind == TK_DEFAULT || t->kind == TK_CASE)
        snprintf(err->hint, sizeof err->hint, "You might have a trailing `,` in the prior statement");
    else if (t->kind != TK_IDENT && tr_lex_keyword(txt, strlen(txt)) != TK_IDENT && strstr(expected, "`<ident>`"))
        snprintf(err->hint, sizeof err->hint,
                 "It looks like you tried to use the '%s' as a ident, consider quoting it as `%s` to make it an identifier.",
                 txt, txt);
    else if (t->kind == TK_SUB && strstr(expected, "`(`"))
        snprintf(err->hint, sizeof err->hint, "Try wrapping this expression in parentheses `(` ... `)`");
    else if (best_hint(txt, expected, opt, sizeof opt))
        snprintf(err->hint, sizeof err->hint, "Did you mean to use %s?", opt);
    tr_buf_fini(&b);
    return TR_EPARSE;
}

/* "Found the token `x` but expected one of ..." at the current token. */
static void *unexpected(struct ps *p, const char *expected) {
    tr_parse_unexpected(cur(p), p->src, expected, p->err);
    return NULL;
}

static void *oom(struct ps *p) {
    struct tr_span z = {{0, 0, 0}, {0, 0, 0}};
    tr_lang_err_set(p->err, -ENOMEM, z, z, "out of memory");
    p->err->has_pos = 0;
    return NULL;
}

static int accept(struct ps *p, int k) {
    if (peek(p) == k) {
        next(p);
        return 1;
    }
    return 0;
}

static const struct tr_tok *expect(struct ps *p, int k, const char *expected) {
    if (peek(p) != k) {
        unexpected(p, expected);
        return NULL;
    }
    return next(p);
}

static struct tr_node *mk(struct ps *p, enum tr_nk k, struct tr_span sp) {
    struct tr_node *n = tr_node_new(p->A, k, sp);
    if (!n) oom(p);
    return n;
}

static int push(struct ps *p, struct tr_node *n, struct tr_node *c) {
    if (tr_node_push(p->A, n, c)) {
        oom(p);
        return -ENOMEM;
    }
    return 0;
}

static struct tr_str *keep_str(struct ps *p, struct tr_str *s) {
    if (!s) return NULL;
    if (tr_arena_keep_str(p->A, tr_str_ref(s))) {
        oom(p);
        return NULL;
    }
    return s;
}

static struct tr_str *new_str(struct ps *p, const char *s, size_t n) {
    struct tr_str *x = tr_str_new(s, n);
    if (!x || tr_arena_keep_str(p->A, x)) {
        oom(p);
        return NULL;
    }
    return x;
}

static int enter(struct ps *p) {
    if (++p->depth > TR_PARSE_MAX_DEPTH) {
        if (!p->err->set) {
            struct tr_span in = cur(p)->sp;
            tr_lang_err_set(p->err, TR_EDEPTH, tr_span_expand(in, 2), in,
                            "The expression is nested too deeply (more than %d levels)",
                            TR_PARSE_MAX_DEPTH);
        }
        return TR_EDEPTH;
    }
    return 0;
}
#define ENTER()                  \
    do {                         \
        if (enter(p)) return NULL; \
    } while (0)
#define LEAVE(x) \
    do {         \
        p->depth--; \
        return (x); \
    } while (0)

static struct tr_node *complex_expr(struct ps *p);
static struct tr_node *expr(struct ps *p);
static struct tr_node *script_exprs(struct ps *p, int stop_at_end);
static int add_use(struct ps *p);
static struct tr_node *expr_imut(struct ps *p);
static struct tr_node *primary(struct ps *p);

static const char *EXPECT_EXPR =
    "one of `!`, `\\``, `$`, `(`, `<<`, `<ident>`, `[`, `absent`, `args`, `bool`, `event`, `float`, "
    "`group`, `heredoc_start`, `int`, `merge`, `nil`, `not`, `patch`, `present`, `recur`, `state`, "
    "`window`, `{`";
/* Terminal sets as Tremor's LR grammar reports them in these positions. */
static const char *EXPECT_UNARY =
    "one of `!`, `\\``, `$`, `(`, `+`, `-`, `<<`, `<ident>`, `[`, `absent`, `args`, `bool`, `event`, "
    "`float`, `group`, `heredoc_start`, `int`, `merge`, `nil`, `not`, `patch`, `present`, `recur`, "
    "`state`, `window`, `{`";
static const char *EXPECT_COMPLEX =
    "one of `!`, `\\``, `$`, `(`, `+`, `-`, `<<`, `<ident>`, `[`, `absent`, `args`, `bool`, `event`, "
    "`float`, `for`, `group`, `heredoc_start`, `int`, `match`, `merge`, `nil`, `not`, `patch`, "
    "`present`, `recur`, `state`, `window`, `{`";
static const char *EXPECT_SIMPLE =
    "one of `!`, `\\``, `$`, `(`, `+`, `-`, `<<`, `<ident>`, `[`, `absent`, `args`, `bool`, `drop`, "
    "`emit`, `event`, `float`, `for`, `group`, `heredoc_start`, `int`, `let`, `match`, `merge`, `nil`, "
    "`not`, `patch`, `present`, `recur`, `state`, `window`, `{`";
static const char *EXPECT_TOP =
    "one of `!`, `\\``, `$`, `(`, `+`, `-`, `<<`, `<doc-comment>`, `<ident>`, `<mod-comment>`, `[`, "
    "`absent`, `args`, `bool`, `const`, `drop`, `emit`, `event`, `float`, `fn`, `for`, `group`, "
    "`heredoc_start`, `int`, `intrinsic`, `let`, `match`, `merge`, `mod`, `nil`, `not`, `patch`, "
    "`present`, `recur`, `state`, `window`, `{`";
static const char *EXPECT_PATH = "one of `$`, `<ident>`, `args`, `event`, `group`, `state`, `window`";

static struct tr_node *ident_node_name(struct ps *p, struct tr_str **name, struct tr_span *sp) {
    const struct tr_tok *t = expect(p, TK_IDENT, "`<ident>`");
    if (!t) return NULL;
    *name = keep_str(p, t->sval);
    *sp = t->sp;
    return (struct tr_node *)1;
}

/* StringLiteral: "\"" (string | \# | #{ ExprImut })* "\"" */
static struct tr_node *string_lit(struct ps *p) {
    struct tr_pos s = cur(p)->sp.s;
    int close = peek(p) == TK_HEREDOC_START ? TK_HEREDOC_END : TK_DQUOTE;
    if (peek(p) != TK_DQUOTE && peek(p) != TK_HEREDOC_START) return unexpected(p, "`\"`");
    /* parts are consumed token by token: trivia never occurs inside a string */
    p->last = p->i;
    p->i++;
    struct tr_node *n = mk(p, N_STRI, cur(p)->sp);
    if (!n) return NULL;
    int interp = 0;
    for (;;) {
        const struct tr_tok *t = cur(p);
        if (t->kind == close) {
            next(p);
            break;
        }
        if (t->kind == TK_STR || t->kind == TK_ESC_HASH) {
            struct tr_node *l = mk(p, N_LIT, t->sp);
            if (!l) return NULL;
            if (t->kind == TK_STR) {
                l->lit = tr_v_strobj(keep_str(p, t->sval));
                if (!l->lit.as.s) return NULL;
            } else {
                l->lit = tr_v_strobj(new_str(p, "#", 1));
                if (!l->lit.as.s) return NULL;
            }
            l->flags |= NF_CONST;
            if (push(p, n, l)) return NULL;
            next(p);
            continue;
        }
        if (t->kind == TK_INTERP) {
            next(p);
            interp = 1;
            struct tr_node *e = expr_imut(p);
            if (!e) return NULL;
            if (peek(p) != TK_RBRACE) return unexpected(p, "`}`");
            /* the closing brace is followed directly by string parts */
            p->last = p->i;
            p->i++;
            if (push(p, n, e)) return NULL;
            continue;
        }
        return unexpected(p, "`\"`");
    }
    n->sp = span_from(p, s);
    if (!interp) {
        /* fold plain strings into one literal */
        struct tr_buf b;
        tr_buf_init(&b);
        for (uint32_t i = 0; i < n->n; i++)
            if (tr_buf_append(&b, n->v[i]->lit.as.s->data, n->v[i]->lit.as.s->len)) {
                tr_buf_fini(&b);
                return oom(p);
            }
        n->kind = N_LIT;
        n->flags |= NF_CONST;
        n->lit = tr_v_strobj(new_str(p, b.data ? b.data : "", b.len));
        tr_buf_fini(&b);
        if (!n->lit.as.s) return NULL;
        n->v = NULL;
        n->n = 0;
    }
    return n;
}

/* PathSegments: ("." Ident | "[" Selector "]")* */
static int segments(struct ps *p, struct tr_node *path) {
    for (;;) {
        if (peek(p) == TK_DOT) {
            next(p);
            const struct tr_tok *t = expect(p, TK_IDENT, "`<ident>`");
            if (!t) return TR_EPARSE;
            struct tr_node *s = mk(p, S_FIELD, t->sp);
            if (!s) return -ENOMEM;
            s->name = keep_str(p, t->sval);
            if (push(p, path, s)) return -ENOMEM;
        } else if (peek(p) == TK_LBRACKET) {
            next(p);
            struct tr_pos s0 = cur(p)->sp.s;
            struct tr_node *a = complex_expr(p);
            if (!a) return TR_EPARSE;
            struct tr_node *s;
            if (accept(p, TK_COLON)) {
                struct tr_node *b = complex_expr(p);
                if (!b) return TR_EPARSE;
                s = mk(p, S_RANGE, span_from(p, s0));
                if (!s) return -ENOMEM;
                s->a = a;
                s->b = b;
            } else {
                s = mk(p, S_IDX, span_from(p, s0));
                if (!s) return -ENOMEM;
                s->a = a;
            }
            if (!expect(p, TK_RBRACKET, "one of `:`, `]`")) return TR_EPARSE;
            if (push(p, path, s)) return -ENOMEM;
        } else {
            return 0;
        }
    }
}

/* Path: "$" segs | event segs | state segs | args segs | group | window | Ident segs | ModPath "::" Ident segs */
static struct tr_node *path(struct ps *p) {
    const struct tr_tok *t = cur(p);
    struct tr_pos s = t->sp.s;
    struct tr_node *n = mk(p, N_PATH, t->sp);
    if (!n) return NULL;
    switch (t->kind) {
    case TK_DOLLAR:
        n->op = R_META;
        next(p);
        if (peek(p) == TK_IDENT) {
            const struct tr_tok *id = next(p);
            struct tr_node *sg = mk(p, S_FIELD, id->sp);
            if (!sg) return NULL;
            sg->name = keep_str(p, id->sval);
            if (push(p, n, sg)) return NULL;
        }
        break;
    case TK_EVENT: n->op = R_EVENT; next(p); break;
    case TK_STATE: n->op = R_STATE; next(p); break;
    case TK_ARGS: n->op = R_ARGS; next(p); break;
    case TK_GROUP: n->op = R_GROUP; next(p); break;
    case TK_WINDOW: n->op = R_WINDOW; next(p); break;
    case TK_IDENT:
        n->op = R_LOCAL;
        n->name = keep_str(p, t->sval);
        n->nsp[0] = t->sp;
        next(p);
        break;
    default:
        return unexpected(p, EXPECT_PATH);
    }
    if (segments(p, n)) return NULL;
    n->sp = span_from(p, s);
    return n;
}

/* Invoke args: "(" (ComplexExprImut ("," ComplexExprImut)* ","?)? ")" */
static int call_args(struct ps *p, struct tr_node *call) {
    if (!expect(p, TK_LPAREN, "`(`")) return TR_EPARSE;
    while (peek(p) != TK_RPAREN) {
        struct tr_node *a = complex_expr(p);
        if (!a) return TR_EPARSE;
        if (push(p, call, a)) return -ENOMEM;
        if (!accept(p, TK_COMMA)) break;
    }
    if (!expect(p, TK_RPAREN, "one of `)`, `,`")) return TR_EPARSE;
    return 0;
}

/* An identifier-led primary: local path, const path, or function call. */
static struct tr_node *ident_primary(struct ps *p) {
    const struct tr_tok *t = cur(p);
    struct tr_pos s = t->sp.s;
    if (peek2(p) != TK_COLONCOLON && peek2(p) != TK_LPAREN) return path(p);
    /* ModPath "::" Ident, then "(" for a call or segments for a const path */
    struct tr_buf name;
    tr_buf_init(&name);
    struct tr_span last_sp = t->sp;
    struct tr_str *last = t->sval;
    tr_buf_append(&name, t->sval->data, t->sval->len);
    next(p);
    int parts = 1;
    while (peek(p) == TK_COLONCOLON) {
        next(p);
        const struct tr_tok *id = expect(p, TK_IDENT, "`<ident>`");
        if (!id) {
            tr_buf_fini(&name);
            return NULL;
        }
        if (tr_buf_append(&name, "::", 2) || tr_buf_append(&name, id->sval->data, id->sval->len)) {
            tr_buf_fini(&name);
            return oom(p);
        }
        last = id->sval;
        last_sp = id->sp;
        parts++;
    }
    struct tr_node *n;
    if (peek(p) == TK_LPAREN) {
        n = mk(p, N_CALL, t->sp);
        if (!n) goto fail;
        n->name = new_str(p, name.data, name.len);
        if (!n->name || call_args(p, n)) goto fail;
    } else if (parts > 1) {
        /* const path: the module prefix goes to name2, the const to name */
        n = mk(p, N_PATH, t->sp);
        if (!n) goto fail;
        n->op = R_CONST;
        n->name = keep_str(p, last);
        n->nsp[0] = last_sp;
        n->name2 = new_str(p, name.data, name.len - last->len - 2);
        if (segments(p, n)) goto fail;
    } else {
        /* unreachable: peek2 saw "::" or "(" */
        n = mk(p, N_PATH, t->sp);
        if (!n) goto fail;
        n->op = R_LOCAL;
        n->name = keep_str(p, last);
    }
    tr_buf_fini(&name);
    n->sp = span_from(p, s);
    return n;
fail:
    tr_buf_fini(&name);
    return NULL;
}

static struct tr_node *record(struct ps *p) {
    struct tr_pos s = cur(p)->sp.s;
    next(p); /* { */
    struct tr_node *n = mk(p, N_REC, cur(p)->sp);
    if (!n) return NULL;
    while (peek(p) != TK_RBRACE) {
        struct tr_pos fs = cur(p)->sp.s;
        if (peek(p) != TK_DQUOTE) return unexpected(p, "one of `\"`, `heredoc_start`, `}`");
        struct tr_node *k = string_lit(p);
        if (!k) return NULL;
        if (!expect(p, TK_COLON, "`:`")) return NULL;
        struct tr_node *v = complex_expr(p);
        if (!v) return NULL;
        struct tr_node *f = mk(p, N_FIELD, span_from(p, fs));
        if (!f) return NULL;
        f->a = k;
        f->b = v;
        if (push(p, n, f)) return NULL;
        if (!accept(p, TK_COMMA)) break;
    }
    if (!expect(p, TK_RBRACE, "one of `,`, `}`")) return NULL;
    n->sp = span_from(p, s);
    return n;
}

static struct tr_node *list(struct ps *p) {
    struct tr_pos s = cur(p)->sp.s;
    next(p); /* [ */
    struct tr_node *n = mk(p, N_ARR, cur(p)->sp);
    if (!n) return NULL;
    while (peek(p) != TK_RBRACKET) {
        struct tr_node *e = complex_expr(p);
        if (!e) return NULL;
        if (push(p, n, e)) return NULL;
        if (!accept(p, TK_COMMA)) break;
    }
    if (!expect(p, TK_RBRACKET, "one of `,`, `]`")) return NULL;
    n->sp = span_from(p, s);
    return n;
}

/* patch <target> of <op> ("," <op>)* end */
static struct tr_node *patch(struct ps *p) {
    struct tr_pos s = cur(p)->sp.s;
    next(p);
    struct tr_node *n = mk(p, N_PATCH, cur(p)->sp);
    if (!n) return NULL;
    n->a = complex_expr(p);
    if (!n->a) return NULL;
    n->sp = span_from(p, s);
    if (!expect(p, TK_OF, "`of`")) return NULL;
    for (;;) {
        struct tr_pos os = cur(p)->sp.s;
        int k = peek(p);
        struct tr_node *op = mk(p, N_POP, cur(p)->sp);
        if (!op) return NULL;
        switch (k) {
        case TK_INSERT: op->op = PO_INSERT; break;
        case TK_UPSERT: op->op = PO_UPSERT; break;
        case TK_UPDATE: op->op = PO_UPDATE; break;
        case TK_ERASE: op->op = PO_ERASE; break;
        case TK_MOVE: op->op = PO_MOVE; break;
        case TK_COPY: op->op = PO_COPY; break;
        case TK_MERGE: op->op = PO_MERGE; break;
        default:
            return unexpected(p, "one of `copy`, `erase`, `insert`, `merge`, `move`, `update`, `upsert`");
        }
        next(p);
        if (op->op == PO_MERGE && peek(p) == TK_EQARROW) {
            op->op = PO_MERGE_ALL;
            next(p);
            op->b = complex_expr(p);
            if (!op->b) return NULL;
        } else {
            op->a = complex_expr(p);
            if (!op->a) return NULL;
            if (op->op != PO_ERASE) {
                /* The tutorial writes `insert hostname = expr`; read a bare
                 * name followed by `=` as the key "hostname". */
                if (peek(p) == TK_EQ && op->a->kind == N_PATH && op->a->op == R_LOCAL &&
                    op->a->n == 0) {
                    struct tr_node *key = mk(p, N_LIT, op->a->sp);
                    if (!key) return NULL;
                    key->lit = tr_value_ref(tr_v_strobj(op->a->name));
                    if (tr_arena_keep(p->A, tr_value_ref(key->lit))) return oom(p);
                    tr_value_unref(key->lit);
                    key->flags |= NF_CONST | NF_QUOTED_KEY;
                    op->a = key;
                    next(p);
                } else if (!expect(p, TK_EQARROW, "`=>`")) {
                    return NULL;
                }
                op->b = complex_expr(p);
                if (!op->b) return NULL;
            }
        }
        op->sp = span_from(p, os);
        if (push(p, n, op)) return NULL;
        if (!accept(p, TK_COMMA)) break;
    }
    if (!expect(p, TK_END, "one of `,`, `end`")) return NULL;
    return n;
}

/* merge <target> of <expr> end */
static struct tr_node *merge(struct ps *p) {
    struct tr_pos s = cur(p)->sp.s;
    next(p);
    struct tr_node *n = mk(p, N_MERGE, cur(p)->sp);
    if (!n) return NULL;
    n->a = complex_expr(p);
    if (!n->a) return NULL;
    if (!expect(p, TK_OF, "`of`")) return NULL;
    n->b = complex_expr(p);
    if (!n->b) return NULL;
    if (!expect(p, TK_END, "`end`")) return NULL;
    n->sp = span_from(p, s);
    return n;
}

static struct tr_node *literal(struct ps *p) {
    const struct tr_tok *t = next(p);
    struct tr_node *n = mk(p, N_LIT, t->sp);
    if (!n) return NULL;
    n->flags |= NF_CONST;
    switch (t->kind) {
    case TK_INT: n->lit = tr_v_int(t->ival); break;
    case TK_FLOAT: n->lit = tr_v_float(t->fval); break;
    case TK_TRUE: n->lit = tr_v_bool(1); break;
    case TK_FALSE: n->lit = tr_v_bool(0); break;
    default: n->lit = tr_v_null(); break;
    }
    return n;
}

/* BytesPart: SimpleExprImut [":" int] ["/" Ident("-" Ident)*] */
static struct tr_node *bytes_part(struct ps *p) {
    struct tr_pos s = cur(p)->sp.s;
    struct tr_node *n = mk(p, N_BYTES_PART, cur(p)->sp);
    if (!n) return NULL;
    n->a = primary(p);
    if (!n->a) return NULL;
    int64_t bits = -1;
    if (accept(p, TK_COLON)) {
        const struct tr_tok *t = expect(p, TK_INT, "`<int>`");
        if (!t) return NULL;
        bits = t->ival;
    }
    char type[64] = "";
    if (accept(p, TK_DIV)) {
        size_t len = 0;
        for (;;) {
            const struct tr_tok *t = expect(p, TK_IDENT, "`<ident>`");
            if (!t) return NULL;
            int w = snprintf(type + len, sizeof type - len, "%s%s", len ? "-" : "", t->sval->data);
            if (w < 0 || (size_t)w >= sizeof type - len) w = (int)(sizeof type - len - 1);
            len += (size_t)w;
            /* the parts of a type are written without spaces: big-signed-integer */
            if (peek(p) != TK_SUB || cur(p)->sp.s.off != t->sp.e.off || peek2(p) != TK_IDENT) break;
            next(p);
        }
    }
    n->sp = span_from(p, s);
    static const struct {
        const char *name;
        int type, little;
    } types[] = {
        {"binary", BT_BINARY, 0},
        {"", BT_UNSIGNED, 0},
        {"integer", BT_UNSIGNED, 0},
        {"big", BT_UNSIGNED, 0},
        {"unsigned", BT_UNSIGNED, 0},
        {"unsigned-integer", BT_UNSIGNED, 0},
        {"big-integer", BT_UNSIGNED, 0},
        {"big-unsigned-integer", BT_UNSIGNED, 0},
        {"signed-integer", BT_SIGNED, 0},
        {"big-signed-integer", BT_SIGNED, 0},
        {"little", BT_UNSIGNED, 1},
        {"little-integer", BT_UNSIGNED, 1},
        {"little-unsigned-integer", BT_UNSIGNED, 1},
        {"little-signed-integer", BT_SIGNED, 1},
    };
    size_t i = 0;
    while (i < sizeof types / sizeof types[0] && strcmp(types[i].name, type)) i++;
    if (i == sizeof types / sizeof types[0]) {
        tr_lang_err_set(p->err, TR_EINVAL_CFG, n->sp, n->sp, "Not a valid data type: '%s'", type);
        return NULL;
    }
    n->op = (uint8_t)types[i].type;
    n->slot2 = types[i].little;
    if (bits != -1 && (bits <= 0 || bits > 64)) {
        tr_lang_err_set(p->err, TR_EINVAL_CFG, n->sp, n->sp,
                        "negative bits or bits > 64 are are not allowed: %lld", (long long)bits);
        return NULL;
    }
    n->slot = bits != -1 ? (int32_t)bits : types[i].type == BT_BINARY ? 0 : 8;
    return n;
}

/* BytesLiteral: "<<" [BytesPart ("," BytesPart)*] ">>" */
static struct tr_node *bytes_lit(struct ps *p) {
    struct tr_pos s = cur(p)->sp.s;
    next(p);
    ENTER();
    struct tr_node *n = mk(p, N_BYTES, cur(p)->sp);
    if (!n) LEAVE(NULL);
    if (peek(p) != TK_RSHIFT) {
        for (;;) {
            struct tr_node *part = bytes_part(p);
            if (!part || push(p, n, part)) LEAVE(NULL);
            if (!accept(p, TK_COMMA)) break;
        }
    }
    if (!expect(p, TK_RSHIFT, "one of `,`, `>>`")) LEAVE(NULL);
    n->sp = span_from(p, s);
    LEAVE(n);
}

/* SimpleExprImut: "(" ComplexExprImut ")" | AlwaysImutExpr */
static struct tr_node *primary(struct ps *p) {
    switch (peek(p)) {
    case TK_LPAREN: {
        next(p);
        struct tr_node *e = complex_expr(p);
        if (!e) return NULL;
        if (!expect(p, TK_RPAREN, "`)`")) return NULL;
        return e;
    }
    case TK_PATCH: return patch(p);
    case TK_MERGE: return merge(p);
    case TK_INT:
    case TK_FLOAT:
    case TK_TRUE:
    case TK_FALSE:
    case TK_NULL: return literal(p);
    case TK_IDENT: return ident_primary(p);
    case TK_DOLLAR:
    case TK_EVENT:
    case TK_STATE:
    case TK_ARGS:
    case TK_GROUP:
    case TK_WINDOW: return path(p);
    case TK_LBRACE: return record(p);
    case TK_LBRACKET: return list(p);
    case TK_LSHIFT: return bytes_lit(p);
    case TK_DQUOTE:
    case TK_HEREDOC_START: return string_lit(p);
    case TK_RECUR: {
        struct tr_pos s = cur(p)->sp.s;
        next(p);
        struct tr_node *n = mk(p, N_CALL, cur(p)->sp);
        if (!n) return NULL;
        n->op = 1; /* recur */
        if (call_args(p, n)) return NULL;
        n->sp = span_from(p, s);
        return n;
    }
    default: return unexpected(p, p->ctx ? p->ctx : EXPECT_EXPR);
    }
}

/* PresenceSimplExprImut: present Path | absent Path | SimpleExprImut */
static struct tr_node *presence(struct ps *p) {
    int k = peek(p);
    if (k != TK_PRESENT && k != TK_ABSENT) return primary(p);
    struct tr_pos s = cur(p)->sp.s;
    next(p);
    struct tr_node *pa = path(p);
    if (!pa) return NULL;
    struct tr_node *n = mk(p, N_PRESENT, span_from(p, s));
    if (!n) return NULL;
    n->a = pa;
    if (k == TK_PRESENT) return n;
    struct tr_node *u = mk(p, N_UNARY, n->sp);
    if (!u) return NULL;
    u->op = U_NOT;
    u->a = n;
    return u;
}

/* UnarySimpleExprImut: not X | ! X | Presence */
static struct tr_node *unary_simple(struct ps *p) {
    ENTER();
    int k = peek(p);
    if (k != TK_NOT && k != TK_BITNOT) LEAVE(presence(p));
    struct tr_pos s = cur(p)->sp.s;
    next(p);
    p->ctx = EXPECT_EXPR;
    struct tr_node *e = unary_simple(p);
    if (!e) LEAVE(NULL);
    struct tr_node *n = mk(p, N_UNARY, span_from(p, s));
    if (!n) LEAVE(NULL);
    n->op = k == TK_NOT ? U_NOT : U_BITNOT;
    n->a = e;
    LEAVE(n);
}

/* UnaryExprImut: + X | - X | UnarySimple */
static struct tr_node *unary(struct ps *p) {
    ENTER();
    int k = peek(p);
    if (k != TK_ADD && k != TK_SUB) LEAVE(unary_simple(p));
    struct tr_pos s = cur(p)->sp.s;
    next(p);
    p->ctx = EXPECT_UNARY;
    struct tr_node *e = unary(p);
    if (!e) LEAVE(NULL);
    struct tr_node *n = mk(p, N_UNARY, span_from(p, s));
    if (!n) LEAVE(NULL);
    n->op = k == TK_ADD ? U_PLUS : U_MINUS;
    n->a = e;
    LEAVE(n);
}

/* Binary precedence levels, loosest first. */
static int binop_at(int level, int tk) {
    switch (level) {
    case 0: return tk == TK_OR ? B_OR : -1;
    case 1: return tk == TK_XOR ? B_XOR : -1;
    case 2: return tk == TK_AND ? B_AND : -1;
    case 3: return tk == TK_BITXOR ? B_BITXOR : -1;
    case 4: return tk == TK_BITAND ? B_BITAND : -1;
    case 5: return tk == TK_EQEQ ? B_EQ : tk == TK_NOTEQ ? B_NEQ : -1;
    case 6:
        return tk == TK_GTE ? B_GTE : tk == TK_GT ? B_GT : tk == TK_LTE ? B_LTE : tk == TK_LT ? B_LT : -1;
    case 7: return tk == TK_RSHIFT ? B_RSHIFT : tk == TK_RSHIFTU ? B_RSHIFTU : tk == TK_LSHIFT ? B_LSHIFT : -1;
    case 8: return tk == TK_ADD ? B_ADD : tk == TK_SUB ? B_SUB : -1;
    case 9: return tk == TK_MUL ? B_MUL : tk == TK_DIV ? B_DIV : tk == TK_PERCENT ? B_MOD : -1;
    default: return -1;
    }
}

static struct tr_node *binary(struct ps *p, int level) {
    if (level > 9) return unary(p);
    ENTER();
    struct tr_pos s = cur(p)->sp.s;
    struct tr_node *l = binary(p, level + 1);
    if (!l) LEAVE(NULL);
    int op;
    while ((op = binop_at(level, peek(p))) >= 0) {
        next(p);
        p->ctx = EXPECT_UNARY;
        /* `or` takes a whole ExprImut on its right in Tremor's grammar */
        struct tr_node *r = level == 0 ? binary(p, 0) : binary(p, level + 1);
        if (!r) LEAVE(NULL);
        struct tr_node *n = mk(p, N_BINARY, span_from(p, s));
        if (!n) LEAVE(NULL);
        n->op = (uint8_t)op;
        n->a = l;
        n->b = r;
        l = n;
    }
    LEAVE(l);
}

static struct tr_node *expr_imut(struct ps *p) { return binary(p, 0); }

static struct tr_node *pattern(struct ps *p);
static struct tr_node *record_pattern(struct ps *p);

/* TestExpr: Ident TestLiteral */
static int test_expr(struct ps *p, struct tr_node *n, struct tr_str **kind, struct tr_str **pat) {
    const struct tr_tok *id = expect(p, TK_IDENT, "`<ident>`");
    if (!id) return TR_EPARSE;
    *kind = keep_str(p, id->sval);
    n->nsp[1] = id->sp;
    const struct tr_tok *t = expect(p, TK_TEST, "`<extractor>`");
    if (!t) return TR_EPARSE;
    *pat = keep_str(p, t->sval);
    n->nsp[2] = t->sp;
    return *kind && *pat ? 0 : -1;
}

/* ArrayPredicatePattern: "~" Test | "_" | ComplexExprImut | RecordPattern */
static struct tr_node *array_elem_pattern(struct ps *p) {
    struct tr_pos s = cur(p)->sp.s;
    if (peek(p) == TK_DONTCARE) {
        next(p);
        return mk(p, PA_IGNORE, span_from(p, s));
    }
    if (peek(p) == TK_LPATBRACE) {
        struct tr_node *r = record_pattern(p);
        if (!r) return NULL;
        struct tr_node *n = mk(p, PA_REC, r->sp);
        if (!n) return NULL;
        n->a = r;
        return n;
    }
    if (peek(p) == TK_TILDE) {
        next(p);
        struct tr_node *n = mk(p, PA_TILDE, cur(p)->sp);
        if (!n || test_expr(p, n, &n->name, &n->name2)) return NULL;
        n->sp = span_from(p, s);
        return n;
    }
    struct tr_node *e = complex_expr(p);
    if (!e) return NULL;
    struct tr_node *n = mk(p, PA_EXPR, e->sp);
    if (!n) return NULL;
    n->a = e;
    return n;
}

static struct tr_node *array_pattern(struct ps *p, int tuple) {
    ENTER();
    struct tr_pos s = cur(p)->sp.s;
    next(p); /* %[ or %( */
    struct tr_node *n = mk(p, tuple ? P_TUPLE : P_ARR, cur(p)->sp);
    if (!n) LEAVE(NULL);
    int close = tuple ? TK_RPAREN : TK_RBRACKET;
    while (peek(p) != close) {
        if (tuple && peek(p) == TK_DOT) {
            if (!expect(p, TK_DOT, "`.`") || !expect(p, TK_DOT, "`.`") || !expect(p, TK_DOT, "`.`"))
                LEAVE(NULL);
            n->op = 1;
            break;
        }
        struct tr_node *e = array_elem_pattern(p);
        if (!e) LEAVE(NULL);
        if (push(p, n, e)) LEAVE(NULL);
        if (!accept(p, TK_COMMA)) break;
    }
    if (!expect(p, close, tuple ? "one of `)`, `,`" : "one of `,`, `]`")) LEAVE(NULL);
    n->sp = span_from(p, s);
    LEAVE(n);
}

/* RecordPattern: "%{" (PredicateFieldPattern ("," ...)* ","?)? "}" */
static struct tr_node *record_pattern(struct ps *p) {
    ENTER();
    struct tr_pos s = cur(p)->sp.s;
    next(p); /* %{ */
    struct tr_node *n = mk(p, P_REC, cur(p)->sp);
    if (!n) LEAVE(NULL);
    while (peek(p) != TK_RBRACE) {
        struct tr_pos fs = cur(p)->sp.s;
        struct tr_node *f;
        if (peek(p) == TK_PRESENT || peek(p) == TK_ABSENT) {
            int k = next(p)->kind;
            f = mk(p, k == TK_PRESENT ? PF_PRESENT : PF_ABSENT, cur(p)->sp);
            if (!f) LEAVE(NULL);
            if (!ident_node_name(p, &f->name, &f->nsp[0])) LEAVE(NULL);
        } else {
            struct tr_str *key;
            struct tr_span ksp;
            if (!ident_node_name(p, &key, &ksp)) LEAVE(NULL);
            int k = peek(p);
            if (k == TK_EQ && peek2(p) == TK_IDENT) {
                /* assign = key ~= kind|pattern| */
                next(p);
                struct tr_str *field;
                struct tr_span fsp;
                if (!ident_node_name(p, &field, &fsp)) LEAVE(NULL);
                if (!expect(p, TK_TILDEEQ, "`~=`")) LEAVE(NULL);
                f = mk(p, PF_TILDE, fsp);
                if (!f || test_expr(p, f, &f->name2, &f->name3)) LEAVE(NULL);
                f->name = field;
                f->name4 = key;
                f->nsp[0] = fsp;
                f->sp = span_from(p, fs);
                if (push(p, n, f)) LEAVE(NULL);
                if (!accept(p, TK_COMMA)) break;
                continue;
            }
            if (k == TK_TILDEEQ) {
                next(p);
                if (peek(p) == TK_LPATBRACE) {
                    f = mk(p, PF_REC, ksp);
                    if (!f) LEAVE(NULL);
                    f->a = record_pattern(p);
                } else if (peek(p) == TK_LPATBRACKET) {
                    f = mk(p, PF_ARR, ksp);
                    if (!f) LEAVE(NULL);
                    f->a = array_pattern(p, 0);
                } else {
                    f = mk(p, PF_TILDE, ksp);
                    if (!f || test_expr(p, f, &f->name2, &f->name3)) LEAVE(NULL);
                    f->name4 = key;
                    f->name = key;
                    f->nsp[0] = ksp;
                    f->sp = span_from(p, fs);
                    if (push(p, n, f)) LEAVE(NULL);
                    if (!accept(p, TK_COMMA)) break;
                    continue;
                }
                if (!f->a) LEAVE(NULL);
            } else {
                int op = binop_at(5, k);
                if (op < 0) op = binop_at(6, k);
                if (op < 0) {
                    unexpected(p, "one of `!=`, `<`, `<=`, `=`, `==`, `>`, `>=`, `~=`");
                    LEAVE(NULL);
                }
                next(p);
                f = mk(p, PF_CMP, ksp);
                if (!f) LEAVE(NULL);
                f->op = (uint8_t)op;
                f->a = complex_expr(p);
                if (!f->a) LEAVE(NULL);
            }
            f->name = key;
            f->nsp[0] = ksp;
        }
        f->sp = span_from(p, fs);
        if (push(p, n, f)) LEAVE(NULL);
        if (!accept(p, TK_COMMA)) break;
    }
    if (!expect(p, TK_RBRACE, "one of `,`, `}`")) LEAVE(NULL);
    n->sp = span_from(p, s);
    LEAVE(n);
}

/* CasePattern */
static struct tr_node *pattern(struct ps *p) {
    ENTER();
    struct tr_pos s = cur(p)->sp.s;
    switch (peek(p)) {
    case TK_LPATBRACE: LEAVE(record_pattern(p));
    case TK_LPATBRACKET: LEAVE(array_pattern(p, 0));
    case TK_LPATPAREN: LEAVE(array_pattern(p, 1));
    case TK_DONTCARE:
        next(p);
        LEAVE(mk(p, P_ANY, span_from(p, s)));
    case TK_TILDE: {
        next(p);
        struct tr_node *n = mk(p, P_EXTRACT, cur(p)->sp);
        if (!n || test_expr(p, n, &n->name, &n->name2)) LEAVE(NULL);
        n->sp = span_from(p, s);
        LEAVE(n);
    }
    case TK_IDENT:
        if (peek2(p) == TK_EQ) {
            const struct tr_tok *id = next(p);
            next(p); /* = */
            struct tr_node *n = mk(p, P_ASSIGN, id->sp);
            if (!n) LEAVE(NULL);
            n->name = keep_str(p, id->sval);
            n->nsp[0] = id->sp;
            n->a = pattern(p);
            if (!n->a) LEAVE(NULL);
            n->sp = span_from(p, s);
            LEAVE(n);
        }
        break;
    default: break;
    }
    struct tr_node *e = complex_expr(p);
    if (!e) LEAVE(NULL);
    struct tr_node *n = mk(p, P_EXPR, e->sp);
    if (!n) LEAVE(NULL);
    n->a = e;
    LEAVE(n);
}

/* match <target> of (case Pattern [when G] => Block | default => Block)+ end */
static struct tr_node *match(struct ps *p, int imut) {
    ENTER();
    struct tr_pos s = cur(p)->sp.s;
    next(p);
    struct tr_node *n = mk(p, N_MATCH, cur(p)->sp);
    if (!n) LEAVE(NULL);
    n->a = complex_expr(p);
    if (!n->a) LEAVE(NULL);
    if (!expect(p, TK_OF, "`of`")) LEAVE(NULL);
    while (peek(p) == TK_CASE || peek(p) == TK_DEFAULT) {
        struct tr_pos cs = cur(p)->sp.s;
        struct tr_node *c = mk(p, N_CASE, cur(p)->sp);
        if (!c) LEAVE(NULL);
        if (next(p)->kind == TK_DEFAULT) {
            c->a = mk(p, P_DEFAULT, span_from(p, cs));
            if (!c->a) LEAVE(NULL);
        } else {
            c->a = pattern(p);
            if (!c->a) LEAVE(NULL);
            if (accept(p, TK_WHEN)) {
                c->b = complex_expr(p);
                if (!c->b) LEAVE(NULL);
            }
        }
        if (!expect(p, TK_EQARROW, c->a->kind == P_DEFAULT ? "`=>`" : "one of `=>`, `when`"))
            LEAVE(NULL);
        do {
            struct tr_node *e = imut ? complex_expr(p) : expr(p);
            if (!e) LEAVE(NULL);
            if (push(p, c, e)) LEAVE(NULL);
        } while (accept(p, TK_COMMA));
        c->sp = span_from(p, cs);
        if (push(p, n, c)) LEAVE(NULL);
    }
    if (n->n == 0) {
        unexpected(p, "one of `case`, `default`");
        LEAVE(NULL);
    }
    if (!expect(p, TK_END, "one of `case`, `default`, `end`")) LEAVE(NULL);
    n->sp = span_from(p, s);
    LEAVE(n);
}

/* for <target> of (case (k, v) [when G] => Block)+ end */
static struct tr_node *comprehension(struct ps *p, int imut) {
    ENTER();
    struct tr_pos s = cur(p)->sp.s;
    next(p);
    struct tr_node *n = mk(p, N_FOR, cur(p)->sp);
    if (!n) LEAVE(NULL);
    n->a = complex_expr(p);
    if (!n->a) LEAVE(NULL);
    if (!expect(p, TK_OF, "`of`")) LEAVE(NULL);
    while (peek(p) == TK_CASE) {
        struct tr_pos cs = cur(p)->sp.s;
        next(p);
        struct tr_node *c = mk(p, N_FOR_CASE, cur(p)->sp);
        if (!c) LEAVE(NULL);
        if (!expect(p, TK_LPAREN, "`(`")) LEAVE(NULL);
        if (!ident_node_name(p, &c->name, &c->nsp[0])) LEAVE(NULL);
        if (!expect(p, TK_COMMA, "`,`")) LEAVE(NULL);
        if (!ident_node_name(p, &c->name2, &c->nsp[1])) LEAVE(NULL);
        if (!expect(p, TK_RPAREN, "`)`")) LEAVE(NULL);
        if (accept(p, TK_WHEN)) {
            c->b = complex_expr(p);
            if (!c->b) LEAVE(NULL);
        }
        if (!expect(p, TK_EQARROW, "one of `=>`, `when`")) LEAVE(NULL);
        do {
            struct tr_node *e = imut ? complex_expr(p) : expr(p);
            if (!e) LEAVE(NULL);
            if (push(p, c, e)) LEAVE(NULL);
        } while (accept(p, TK_COMMA));
        c->sp = span_from(p, cs);
        if (push(p, n, c)) LEAVE(NULL);
    }
    if (!expect(p, TK_END, "one of `case`, `end`")) LEAVE(NULL);
    n->sp = span_from(p, s);
    LEAVE(n);
}

/* ComplexExprImut: MatchImut | ForImut | ExprImut */
static struct tr_node *complex_expr(struct ps *p) {
    if (!p->ctx) p->ctx = EXPECT_COMPLEX;
    if (peek(p) == TK_MATCH) return match(p, 1);
    if (peek(p) == TK_FOR) return comprehension(p, 1);
    return expr_imut(p);
}

static int ends_expr(int k) {
    return k == TK_SEMI || k == TK_EOF || k == TK_END || k == TK_COMMA || k == TK_CASE ||
           k == TK_DEFAULT;
}

/* Expr: Match | For | Let | Drop | Emit | ExprImut */
static struct tr_node *expr(struct ps *p) {
    ENTER();
    struct tr_pos s = cur(p)->sp.s;
    switch (peek(p)) {
    case TK_MATCH: LEAVE(match(p, 0));
    case TK_FOR: LEAVE(comprehension(p, 0));
    case TK_LET: {
        next(p);
        struct tr_node *target = path(p);
        if (!target) LEAVE(NULL);
        if (!expect(p, TK_EQ, "`=`")) LEAVE(NULL);
        p->ctx = EXPECT_SIMPLE;
        struct tr_node *v = expr(p);
        if (!v) LEAVE(NULL);
        struct tr_node *n = mk(p, N_LET, span_from(p, s));
        if (!n) LEAVE(NULL);
        n->a = target;
        n->b = v;
        LEAVE(n);
    }
    case TK_DROP:
        next(p);
        LEAVE(mk(p, N_DROP, span_from(p, s)));
    case TK_EMIT: {
        next(p);
        struct tr_node *n = mk(p, N_EMIT, cur(p)->sp);
        if (!n) LEAVE(NULL);
        if (!ends_expr(peek(p)) && peek(p) != TK_EQARROW) {
            n->a = complex_expr(p);
            if (!n->a) LEAVE(NULL);
        }
        if (accept(p, TK_EQARROW)) {
            if (peek(p) != TK_DQUOTE) {
                unexpected(p, "one of `\"`, `heredoc_start`");
                LEAVE(NULL);
            }
            n->b = string_lit(p);
            if (!n->b) LEAVE(NULL);
        }
        n->sp = span_from(p, s);
        LEAVE(n);
    }
    default: LEAVE(complex_expr(p));
    }
}

static int add_use(struct ps *p) {
    struct tr_pos s = cur(p)->sp.s;
    next(p); /* use */
    struct tr_buf b;
    tr_buf_init(&b);
    const struct tr_tok *t = expect(p, TK_IDENT, "`<ident>`");
    if (!t) goto fail;
    struct tr_str *last = t->sval;
    tr_buf_append(&b, t->sval->data, t->sval->len);
    while (accept(p, TK_COLONCOLON)) {
        t = expect(p, TK_IDENT, "`<ident>`");
        if (!t) goto fail;
        last = t->sval;
        if (tr_buf_append(&b, "::", 2) || tr_buf_append(&b, t->sval->data, t->sval->len)) {
            oom(p);
            goto fail;
        }
    }
    struct tr_str *alias = last;
    if (accept(p, TK_AS)) {
        t = expect(p, TK_IDENT, "`<ident>`");
        if (!t) goto fail;
        alias = t->sval;
    }
    if (tr_grow((void **)&p->out->uses, &p->capuses, p->out->nuses + 1, sizeof *p->out->uses)) {
        oom(p);
        goto fail;
    }
    struct tr_use *u = &p->out->uses[p->out->nuses];
    u->path = new_str(p, b.data, b.len);
    u->alias = keep_str(p, alias);
    u->sp = span_from(p, s);
    if (!u->path || !u->alias) goto fail;
    p->out->nuses++;
    p->use_node = mk(p, N_USE, u->sp);
    if (!p->use_node) goto fail;
    p->use_node->name = u->path;
    p->use_node->name2 = u->alias;
    tr_buf_fini(&b);
    return 0;
fail:
    tr_buf_fini(&b);
    return TR_EPARSE;
}

/* with <ident> = <ExprImut> ("," ...)* [","] — fields go into n->v. */
static int with_exprs(struct ps *p, struct tr_node *n) {
    for (;;) {
        if (peek(p) != TK_IDENT) break;
        const struct tr_tok *id = next(p);
        struct tr_pos fs = id->sp.s;
        if (!expect(p, TK_EQ, "`=`")) return TR_EPARSE;
        struct tr_node *v = expr_imut(p);
        if (!v) return TR_EPARSE;
        struct tr_node *f = mk(p, N_FIELD, span_from(p, fs));
        if (!f) return -ENOMEM;
        f->name = keep_str(p, id->sval);
        f->nsp[0] = id->sp;
        f->b = v;
        if (push(p, n, f)) return -ENOMEM;
        if (!accept(p, TK_COMMA)) break;
    }
    return 0;
}

/* Const: const <ident> = SimpleExprImut */
static struct tr_node *const_decl(struct ps *p) {
    struct tr_pos s = cur(p)->sp.s;
    next(p);
    const struct tr_tok *id = expect(p, TK_IDENT, "`<ident>`");
    if (!id) return NULL;
    struct tr_str *name = keep_str(p, id->sval);
    struct tr_span nsp = id->sp;
    if (!expect(p, TK_EQ, "`=`")) return NULL;
    struct tr_node *v;
    if (peek(p) == TK_LPAREN) {
        next(p);
        v = complex_expr(p);
        if (!v || !expect(p, TK_RPAREN, "`)`")) return NULL;
    } else {
        v = primary(p);
        if (!v) return NULL;
    }
    struct tr_node *e = mk(p, N_CONST, span_from(p, s));
    if (!e) return NULL;
    e->name = name;
    e->nsp[0] = nsp;
    e->a = v;
    return e;
}

/* FnDecl: fn <ident> "(" args ["..."] ")" (with Exprs | of FnCases) end;
 * the `of` form becomes a match over the argument tuple. */
static struct tr_node *fn_decl(struct ps *p) {
    struct tr_pos s = cur(p)->sp.s;
    next(p);
    struct tr_node *e = mk(p, N_FN_DECL, cur(p)->sp);
    if (!e) return NULL;
    if (!ident_node_name(p, &e->name, &e->nsp[0])) return NULL;
    if (!expect(p, TK_LPAREN, "`(`")) return NULL;
    struct tr_node *args = mk(p, N_BLOCK, cur(p)->sp);
    if (!args) return NULL;
    while (peek(p) == TK_IDENT) {
        struct tr_node *a = mk(p, N_LIT, cur(p)->sp);
        if (!a) return NULL;
        a->name = keep_str(p, next(p)->sval);
        if (push(p, args, a)) return NULL;
        if (!accept(p, TK_COMMA)) break;
    }
    if (peek(p) == TK_DOT) {
        if (!expect(p, TK_DOT, "`.`") || !expect(p, TK_DOT, "`.`") || !expect(p, TK_DOT, "`.`")) return NULL;
        e->op = 1; /* open: extra arguments go to `args` */
    }
    if (!expect(p, TK_RPAREN, "one of `)`, `,`")) return NULL;
    e->b = args;
    if (accept(p, TK_WITH)) {
        e->a = script_exprs(p, 1);
        if (!e->a) return NULL;
    } else {
        if (peek(p) != TK_OF) return unexpected(p, "one of `of`, `with`");
        struct tr_pos ms = cur(p)->sp.s;
        next(p);
        struct tr_node *m = mk(p, N_MATCH, cur(p)->sp);
        struct tr_node *target = mk(p, N_ARR, e->sp);
        if (!m || !target) return NULL;
        for (uint32_t i = 0; i < args->n; i++) {
            struct tr_node *ap = mk(p, N_PATH, args->v[i]->sp);
            if (!ap) return NULL;
            ap->op = R_LOCAL;
            ap->name = args->v[i]->name;
            ap->nsp[0] = ap->sp;
            if (push(p, target, ap)) return NULL;
        }
        m->a = target;
        while (peek(p) == TK_CASE || peek(p) == TK_DEFAULT) {
            struct tr_pos cs = cur(p)->sp.s;
            struct tr_node *c = mk(p, N_CASE, cur(p)->sp);
            if (!c) return NULL;
            if (next(p)->kind == TK_DEFAULT) {
                c->a = mk(p, P_DEFAULT, span_from(p, cs));
                if (!c->a) return NULL;
            } else {
                struct tr_pos ps0 = cur(p)->sp.s;
                if (!expect(p, TK_LPAREN, "`(`")) return NULL;
                struct tr_node *tp = mk(p, P_TUPLE, cur(p)->sp);
                if (!tp) return NULL;
                while (peek(p) != TK_RPAREN) {
                    struct tr_node *el = array_elem_pattern(p);
                    if (!el || push(p, tp, el)) return NULL;
                    if (!accept(p, TK_COMMA)) break;
                }
                if (!expect(p, TK_RPAREN, "one of `)`, `,`")) return NULL;
                tp->sp = span_from(p, ps0);
                /* 0.11 (grammar.lalrpop FnCase, MatchFnDeclRaw::up) binds the
                 * tuple's match to a hidden local and starts the case body
                 * by rebinding every argument to its element, so an
                 * argument matched by an extractor holds what it extracted */
                struct tr_node *as = mk(p, P_ASSIGN, tp->sp);
                if (!as) return NULL;
                as->name = new_str(p, FN_RES_NAME, strlen(FN_RES_NAME));
                if (!as->name) return NULL;
                as->nsp[0] = tp->sp;
                as->a = tp;
                c->a = as;
                if (accept(p, TK_WHEN)) {
                    c->b = complex_expr(p);
                    if (!c->b) return NULL;
                }
                for (uint32_t i = 0; i < args->n; i++) {
                    struct tr_span asp = args->v[i]->sp;
                    struct tr_node *let = mk(p, N_LET, tp->sp), *dst = mk(p, N_PATH, asp),
                                   *src = mk(p, N_PATH, asp), *seg = mk(p, S_IDX, asp), *idx = mk(p, N_LIT, asp);
                    if (!let || !dst || !src || !seg || !idx) return NULL;
                    dst->op = src->op = R_LOCAL;
                    dst->name = args->v[i]->name;
                    src->name = as->name;
                    dst->nsp[0] = src->nsp[0] = asp;
                    idx->lit = tr_v_int((int64_t)i);
                    idx->flags |= NF_CONST;
                    seg->a = idx;
                    if (push(p, src, seg)) return NULL;
                    let->a = dst;
                    let->b = src;
                    if (push(p, c, let)) return NULL;
                }
            }
            if (!expect(p, TK_EQARROW, "`=>`")) return NULL;
            do {
                struct tr_node *x = expr(p);
                if (!x || push(p, c, x)) return NULL;
            } while (accept(p, TK_COMMA));
            c->sp = span_from(p, cs);
            if (push(p, m, c)) return NULL;
            if (c->a->kind == P_DEFAULT) break;
        }
        m->sp = span_from(p, ms);
        m->flags |= NF_QUOTED_KEY; /* marks a function's own match: no warnings */
        struct tr_node *body = mk(p, N_BLOCK, m->sp);
        if (!body || push(p, body, m)) return NULL;
        e->a = body;
    }
    if (!expect(p, TK_END, "`end`")) return NULL;
    e->sp = span_from(p, s);
    return e;
}

/* Intrinsic: intrinsic fn <ident> "(" args ")" as <module>::<fn> — binds a name
 * to a built-in; kept as a declaration the compiler resolves. */
static struct tr_node *intrinsic_decl(struct ps *p) {
    struct tr_pos s = cur(p)->sp.s;
    next(p);
    if (!expect(p, TK_FN, "`fn`")) return NULL;
    struct tr_node *e = mk(p, N_FN_DECL, cur(p)->sp);
    if (!e) return NULL;
    if (!ident_node_name(p, &e->name, &e->nsp[0])) return NULL;
    if (!expect(p, TK_LPAREN, "`(`")) return NULL;
    int depth = 1;
    while (depth && peek(p) != TK_EOF) {
        if (peek(p) == TK_LPAREN) depth++;
        if (peek(p) == TK_RPAREN) depth--;
        next(p);
    }
    if (!expect(p, TK_AS, "`as`")) return NULL;
    struct tr_buf b;
    tr_buf_init(&b);
    const struct tr_tok *t = expect(p, TK_IDENT, "`<ident>`");
    if (!t) return NULL;
    tr_buf_append(&b, t->sval->data, t->sval->len);
    while (accept(p, TK_COLONCOLON)) {
        t = expect(p, TK_IDENT, "`<ident>`");
        if (!t) {
            tr_buf_fini(&b);
            return NULL;
        }
        tr_buf_append(&b, "::", 2);
        tr_buf_append(&b, t->sval->data, t->sval->len);
    }
    e->name2 = new_str(p, b.data ? b.data : "", b.len);
    tr_buf_fini(&b);
    if (!e->name2) return NULL;
    e->op = 2; /* intrinsic */
    e->sp = span_from(p, s);
    return e;
}

static struct tr_node *declaration(struct ps *p);
static struct tr_node *query_stmt(struct ps *p);

/* Module: mod <ident> with (const | fn | intrinsic | mod) (";" ...)* end */
static struct tr_node *mod_decl(struct ps *p) {
    struct tr_pos s = cur(p)->sp.s;
    next(p);
    ENTER();
    struct tr_node *m = mk(p, N_MOD, cur(p)->sp);
    if (!m) LEAVE(NULL);
    if (!ident_node_name(p, &m->name, &m->nsp[0])) LEAVE(NULL);
    if (!expect(p, TK_WITH, "`with`")) LEAVE(NULL);
    while (peek(p) == TK_CONST || peek(p) == TK_FN || peek(p) == TK_MOD || peek(p) == TK_INTRINSIC ||
           peek(p) == TK_USE || (p->query && peek(p) == TK_DEFINE)) {
        if (peek(p) == TK_USE) {
            if (add_use(p) || push(p, m, p->use_node)) LEAVE(NULL);
        } else if (peek(p) == TK_DEFINE) {
            struct tr_node *d = query_stmt(p);
            if (!d || push(p, m, d)) LEAVE(NULL);
        } else {
            struct tr_node *d = declaration(p);
            if (!d || push(p, m, d)) LEAVE(NULL);
        }
        if (!accept(p, TK_SEMI)) break;
    }
    if (!expect(p, TK_END, "one of `const`, `end`, `fn`, `intrinsic`, `mod`")) LEAVE(NULL);
    m->sp = span_from(p, s);
    LEAVE(m);
}

static struct tr_node *declaration(struct ps *p) {
    switch (peek(p)) {
    case TK_CONST: return const_decl(p);
    case TK_FN: return fn_decl(p);
    case TK_INTRINSIC: return intrinsic_decl(p);
    default: return mod_decl(p);
    }
}

/* Script top level: (const | fn | use | Expr) (";" ...)* [";"] */
static struct tr_node *script_exprs(struct ps *p, int stop_at_end) {
    struct tr_node *root = mk(p, N_BLOCK, cur(p)->sp);
    if (!root) return NULL;
    for (;;) {
        while (peek(p) == TK_USE) {
            if (add_use(p) || push(p, root, p->use_node)) return NULL;
            if (!accept(p, TK_SEMI)) break;
        }
        if (peek(p) == TK_EOF && root->n == 0 && !stop_at_end) break;
        struct tr_node *e;
        if (peek(p) == TK_CONST || peek(p) == TK_FN || peek(p) == TK_MOD || peek(p) == TK_INTRINSIC) {
            e = declaration(p);
            if (!e) return NULL;
        } else {
            if (!stop_at_end || root->n == 0) p->ctx = EXPECT_TOP;
            e = expr(p);
            if (!e) return NULL;
        }
        if (push(p, root, e)) return NULL;
        if (!accept(p, TK_SEMI)) break;
        if (peek(p) == TK_EOF || (stop_at_end && peek(p) == TK_END)) break;
    }
    if (!stop_at_end && peek(p) != TK_EOF) {
        const char *exp = root->n && root->v[root->n - 1]->kind == N_BINARY
                              ? "one of `;`, `<end-of-stream>`"
                              : "one of `;`, `<end-of-stream>`";
        return unexpected(p, exp);
    }
    return root;
}

/* StreamPort: Ident ("/" Ident)? */
static int stream_port(struct ps *p, struct tr_node *n, int which) {
    const struct tr_tok *t = expect(p, TK_IDENT, "`<ident>`");
    if (!t) return TR_EPARSE;
    struct tr_str **node = which ? &n->name3 : &n->name;
    struct tr_str **port = which ? &n->name4 : &n->name2;
    *node = keep_str(p, t->sval);
    n->nsp[which ? 2 : 0] = t->sp;
    if (accept(p, TK_DIV)) {
        t = expect(p, TK_IDENT, "`<ident>`");
        if (!t) return TR_EPARSE;
        *port = keep_str(p, t->sval);
        n->nsp[which ? 3 : 1] = t->sp;
    }
    return 0;
}

/* GroupDef: set "(" GroupDef ("," GroupDef)* ")" | each "(" ExprImut ")" | ExprImut */
static struct tr_node *group_def(struct ps *p) {
    ENTER();
    struct tr_pos s = cur(p)->sp.s;
    if (peek(p) == TK_SET && peek2(p) == TK_LPAREN) {
        next(p);
        next(p);
        struct tr_node *n = mk(p, G_SET, cur(p)->sp);
        if (!n) LEAVE(NULL);
        while (peek(p) != TK_RPAREN) {
            struct tr_node *g = group_def(p);
            if (!g || push(p, n, g)) LEAVE(NULL);
            if (!accept(p, TK_COMMA)) break;
        }
        if (!expect(p, TK_RPAREN, "one of `)`, `,`")) LEAVE(NULL);
        n->sp = span_from(p, s);
        LEAVE(n);
    }
    if (peek(p) == TK_EACH && peek2(p) == TK_LPAREN) {
        next(p);
        next(p);
        struct tr_node *n = mk(p, G_EACH, cur(p)->sp);
        if (!n) LEAVE(NULL);
        n->a = expr_imut(p);
        if (!n->a || !expect(p, TK_RPAREN, "`)`")) LEAVE(NULL);
        n->sp = span_from(p, s);
        LEAVE(n);
    }
    struct tr_node *n = mk(p, G_EXPR, cur(p)->sp);
    if (!n) LEAVE(NULL);
    n->a = expr_imut(p);
    if (!n->a) LEAVE(NULL);
    n->sp = n->a->sp;
    LEAVE(n);
}

/* ModularTarget: Ident ("::" Ident)*, joined with "::"; *sp (if given)
 * gets the span of the last identifier, which is what errors point at. */
static struct tr_str *module_target(struct ps *p, struct tr_span *sp) {
    struct tr_buf b;
    tr_buf_init(&b);
    const struct tr_tok *t = expect(p, TK_IDENT, "`<ident>`");
    if (!t) return NULL;
    if (sp) *sp = t->sp;
    int rc = tr_buf_append(&b, t->sval->data, t->sval->len);
    while (!rc && accept(p, TK_COLONCOLON)) {
        t = expect(p, TK_IDENT, "`<ident>`");
        if (!t) {
            tr_buf_fini(&b);
            return NULL;
        }
        if (sp) *sp = t->sp;
        rc = tr_buf_append(&b, "::", 2);
        if (!rc) rc = tr_buf_append(&b, t->sval->data, t->sval->len);
    }
    struct tr_str *r = rc ? NULL : new_str(p, b.data, b.len);
    tr_buf_fini(&b);
    if (!r) oom(p);
    return r;
}

static struct tr_node *query_stmt(struct ps *p) {
    struct tr_pos s = cur(p)->sp.s;
    int k = peek(p);
    if (k == TK_MOD) return mod_decl(p);
    if (k == TK_SELECT) {
        next(p);
        struct tr_node *n = mk(p, Q_SELECT, cur(p)->sp);
        if (!n) return NULL;
        n->a = complex_expr(p);
        if (!n->a) return NULL;
        if (!expect(p, TK_FROM, "`from`")) return NULL;
        if (stream_port(p, n, 0)) return NULL;
        if (accept(p, TK_LBRACKET)) {
            struct tr_node *w = mk(p, N_BLOCK, cur(p)->sp);
            if (!w) return NULL;
            while (peek(p) == TK_IDENT) {
                struct tr_node *wn = mk(p, N_LIT, cur(p)->sp);
                if (!wn) return NULL;
                wn->name = module_target(p, NULL);
                if (!wn->name) return NULL;
                wn->sp = span_from(p, wn->sp.s);
                if (push(p, w, wn)) return NULL;
                if (!accept(p, TK_COMMA)) break;
            }
            if (!expect(p, TK_RBRACKET, "one of `,`, `]`")) return NULL;
            n->c = NULL;
            n->sp2 = w->sp;
            for (uint32_t i = 0; i < w->n; i++)
                if (push(p, n, w->v[i])) return NULL;
        }
        if (accept(p, TK_WHERE)) {
            n->b = complex_expr(p);
            if (!n->b) return NULL;
        }
        if (accept(p, TK_GROUP)) {
            if (!expect(p, TK_BY, "`by`")) return NULL;
            n->d = group_def(p);
            if (!n->d) return NULL;
        }
        if (!expect(p, TK_INTO, n->b ? "one of `group`, `into`" : "one of `[`, `group`, `into`, `where`"))
            return NULL;
        if (stream_port(p, n, 1)) return NULL;
        if (accept(p, TK_HAVING)) {
            n->c = complex_expr(p);
            if (!n->c) return NULL;
        }
        n->sp = span_from(p, s);
        return n;
    }
    if (k == TK_CREATE) {
        next(p);
        int what = peek(p);
        if (what == TK_STREAM) {
            next(p);
            struct tr_node *n = mk(p, Q_CREATE_STREAM, cur(p)->sp);
            if (!n) return NULL;
            if (!ident_node_name(p, &n->name, &n->nsp[0])) return NULL;
            n->sp = span_from(p, s);
            return n;
        }
        if (what != TK_OPERATOR && what != TK_SCRIPT)
            return unexpected(p, "one of `operator`, `script`, `stream`");
        next(p);
        struct tr_node *n = mk(p, what == TK_OPERATOR ? Q_CREATE_OP : Q_CREATE_SCRIPT, cur(p)->sp);
        if (!n) return NULL;
        if (!ident_node_name(p, &n->name, &n->nsp[0])) return NULL;
        if (accept(p, TK_FROM)) {
            n->name2 = module_target(p, &n->nsp[1]);
            if (!n->name2) return NULL;
        } else {
            n->name2 = n->name;
            n->nsp[1] = n->nsp[0];
        }
        if (accept(p, TK_WITH)) {
            if (with_exprs(p, n)) return NULL;
            if (!expect(p, TK_END, "one of `,`, `end`")) return NULL;
        }
        n->sp = span_from(p, s);
        return n;
    }
    if (k == TK_DEFINE) {
        next(p);
        int what = peek(p);
        if (what == TK_SCRIPT) {
            next(p);
            struct tr_node *n = mk(p, Q_DEFINE_SCRIPT, cur(p)->sp);
            if (!n) return NULL;
            if (!ident_node_name(p, &n->name, &n->nsp[0])) return NULL;
            if (accept(p, TK_WITH)) {
                if (with_exprs(p, n)) return NULL;
            }
            if (!expect(p, TK_SCRIPT, "`script`")) return NULL;
            n->a = script_exprs(p, 1);
            if (!n->a) return NULL;
            if (!expect(p, TK_END, "`end`")) return NULL;
            n->sp = span_from(p, s);
            return n;
        }
        if (what == TK_TUMBLING || what == TK_SLIDING) {
            next(p);
            struct tr_node *n = mk(p, Q_DEFINE_WINDOW, cur(p)->sp);
            if (!n) return NULL;
            n->op = what == TK_SLIDING;
            if (!expect(p, TK_WINDOW, "`window`")) return NULL;
            if (!ident_node_name(p, &n->name, &n->nsp[0])) return NULL;
            if (!expect(p, TK_WITH, "`with`")) return NULL;
            if (with_exprs(p, n)) return NULL;
            if (accept(p, TK_SCRIPT)) {
                n->a = expr_imut(p);
                if (!n->a) return NULL;
            }
            if (!expect(p, TK_END, "one of `,`, `end`, `script`")) return NULL;
            n->sp = span_from(p, s);
            return n;
        }
        /* define <module>::<op> operator <id> [with ... end] */
        const struct tr_tok *m = expect(p, TK_IDENT, "one of `<ident>`, `script`, `sliding`, `tumbling`");
        if (!m) return NULL;
        struct tr_span msp = m->sp;
        struct tr_str *mod = m->sval;
        if (!expect(p, TK_COLONCOLON, "`::`")) return NULL;
        const struct tr_tok *o = expect(p, TK_IDENT, "`<ident>`");
        if (!o) return NULL;
        struct tr_node *n = mk(p, Q_DEFINE_OP, cur(p)->sp);
        if (!n) return NULL;
        char kind[512];
        snprintf(kind, sizeof kind, "%s::%s", mod->data, o->sval->data);
        n->name2 = new_str(p, kind, strlen(kind));
        if (!n->name2) return NULL;
        n->nsp[1] = tr_span_join(msp, o->sp);
        if (!expect(p, TK_OPERATOR, "`operator`")) return NULL;
        if (!ident_node_name(p, &n->name, &n->nsp[0])) return NULL;
        if (accept(p, TK_WITH)) {
            if (with_exprs(p, n)) return NULL;
            if (!expect(p, TK_END, "one of `,`, `end`")) return NULL;
        }
        n->sp = span_from(p, s);
        return n;
    }
    return unexpected(p, "one of `create`, `define`, `mod`, `select`");
}

static struct tr_node *query(struct ps *p) {
    if (peek(p) == TK_CONFIG) {
        p->out->config = mk(p, N_BLOCK, cur(p)->sp);
        if (!p->out->config) return NULL;
        while (accept(p, TK_CONFIG)) {
            if (with_exprs(p, p->out->config)) return NULL;
        }
    }
    struct tr_node *root = mk(p, N_BLOCK, cur(p)->sp);
    if (!root) return NULL;
    for (;;) {
        if (peek(p) == TK_USE) {
            if (add_use(p) || push(p, root, p->use_node)) return NULL;
            if (!accept(p, TK_SEMI)) break;
            continue;
        }
        if (peek(p) == TK_EOF) break;
        struct tr_node *st = query_stmt(p);
        if (!st) return NULL;
        if (push(p, root, st)) return NULL;
        if (!accept(p, TK_SEMI)) break;
    }
    if (peek(p) != TK_EOF) return unexpected(p, "one of `;`, `<end-of-stream>`");
    return root;
}

int tr_parse(const char *src, const struct tr_toks *toks, int is_query, struct tr_arena *arena,
             struct tr_parsed *out, struct tr_lang_err *err) {
    memset(out, 0, sizeof *out);
    struct ps p = {.src = src, .t = toks, .A = arena, .err = err, .query = is_query, .out = out};
    skip(&p);
    p.last = p.i < toks->n ? p.i : 0;
    out->root = is_query ? query(&p) : script_exprs(&p, 0);
    if (!out->root) {
        if (!err->set) oom(&p);
        return err->msg[0] && strcmp(err->msg, "out of memory") == 0 ? -ENOMEM : TR_EPARSE;
    }
    return 0;
}

void tr_parsed_fini(struct tr_parsed *p) {
    if (!p) return;
    tr_free(p->uses);
    p->uses = NULL;
    p->nuses = 0;
}

int tr_parse_module(const char *src, const struct tr_toks *toks, int query, struct tr_arena *arena,
                    struct tr_parsed *uses, struct tr_node **out, struct tr_lang_err *err) {
    struct ps p = {.src = src, .t = toks, .A = arena, .err = err, .out = uses, .query = query};
    p.capuses = uses->nuses;
    skip(&p);
    p.last = p.i < toks->n ? p.i : 0;
    struct tr_node *m = mk(&p, N_MOD, cur(&p)->sp);
    if (!m) return -ENOMEM;
    while (peek(&p) != TK_EOF) {
        if (peek(&p) == TK_USE) {
            if (add_use(&p) || push(&p, m, p.use_node)) return TR_EPARSE;
        } else if (peek(&p) == TK_CONST || peek(&p) == TK_FN || peek(&p) == TK_MOD || peek(&p) == TK_INTRINSIC) {
            struct tr_node *d = declaration(&p);
            if (!d || push(&p, m, d)) return TR_EPARSE;
        } else if (query && peek(&p) == TK_DEFINE) {
            struct tr_node *d = query_stmt(&p);
            if (!d || push(&p, m, d)) return TR_EPARSE;
        } else {
            unexpected(&p, "one of `const`, `fn`, `intrinsic`, `mod`, `use`");
            return TR_EPARSE;
        }
        if (!accept(&p, TK_SEMI)) break;
    }
    if (peek(&p) != TK_EOF) {
        unexpected(&p, "one of `;`, `<end-of-stream>`");
        return TR_EPARSE;
    }
    *out = m;
    return 0;
}
