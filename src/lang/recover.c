/* recover.c - every error of a query, not just the first (tremor check).
 *
 * Recovery works at top-level statement boundaries: after an error the
 * statement that holds it is blanked out of a working copy of the text
 * (every byte but newlines becomes a space, so lines, columns and offsets
 * of everything else stay where they were) and the copy is compiled again.
 * The first error is exactly what tr_lang_compile_query gives. Names that a
 * blanked statement would have defined are remembered, and a later error in
 * a statement that mentions one of them is dropped (its statement blanked
 * too), so a broken `define ... operator x` does not also yield "x is not
 * defined". Not a parser mode: the parser and compiler stay single-error.
 */
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "lang/lang.h"
#include "lang/lex.h"
#include "lang/query.h"

/* Compiles of one file at most, and source bytes compiled over all passes
 * (but always MIN_PASSES): each further error costs one compile, so the
 * work stays within max(MIN_PASSES x the file, MAX_BYTES). */
#define MAX_PASSES 200u
#define MIN_PASSES 4u
#define MAX_BYTES (8u << 20)

struct name {
    const char *s;   /* into the working copy's twin, the original source */
    size_t n;
};

struct recover {
    const char *orig;
    char *work;
    size_t len;
    struct name *names;
    size_t nnames, cap;
};

static int sig(int k) {
    return k != TK_WS && k != TK_NL && k != TK_COMMENT && k != TK_DOC_COMMENT &&
           k != TK_MOD_COMMENT;
}

/* A `;` ends a top-level statement when what follows starts one (no
 * script, function or `with` block holds define, create or select) and no
 * `mod ... end` is open (its definitions are separated by `;` too). */
static int starter(int k) {
    return k == TK_DEFINE || k == TK_CREATE || k == TK_SELECT || k == TK_EOF;
}

static size_t next_sig(const struct tr_toks *t, size_t i) {
    i++;
    while (i < t->n && !sig(t->v[i].kind)) i++;
    return i;
}

/* Blocks closed by `end`, counted to know when a `mod` is open: match,
 * for, patch, a merge expression, fn and mod (whose own `with`/`of` does
 * not count again), a `with` block and a script body. */
struct nest {
    int depth, mod_at, header, prev;
};

/* Feed token i; 1 when it is a `;` that ends a top-level statement. */
static int nest_step(struct nest *n, const struct tr_toks *t, size_t i) {
    int k = t->v[i].kind, nk, at = 0;
    switch (k) {
    case TK_MOD:
        if (n->mod_at < 0) n->mod_at = n->depth;
        n->depth++;
        n->header = 1;
        break;
    case TK_FN:
        if (n->prev != TK_INTRINSIC) {
            n->depth++;
            n->header = 1;
        }
        break;
    case TK_WITH:
        if (n->header) n->header = 0;
        else n->depth++;
        break;
    case TK_OF: n->header = 0; break;
    case TK_SCRIPT:
        if (n->prev != TK_DEFINE && n->prev != TK_CREATE) n->depth++;
        break;
    case TK_MATCH:
    case TK_FOR:
    case TK_PATCH: n->depth++; break;
    case TK_MERGE:   /* not the patch operation `merge [key] => value` */
        nk = next_sig(t, i) < t->n ? t->v[next_sig(t, i)].kind : TK_EOF;
        if (nk != TK_EQARROW && nk != TK_DQUOTE) n->depth++;
        break;
    case TK_END:
        if (n->depth > 0) n->depth--;
        if (n->mod_at >= n->depth) n->mod_at = -1;
        break;
    case TK_SEMI: {
        size_t j = next_sig(t, i);
        at = n->mod_at < 0 && (j >= t->n || starter(t->v[j].kind));
        break;
    }
    default: break;
    }
    n->prev = k;
    return at;
}

/* After a lexer error there are no tokens past it: find the next `;` that
 * is followed by a statement keyword in the raw text. */
static size_t raw_end(const char *s, size_t len, size_t from) {
    static const char *const kw[] = {"define", "create", "select"};
    for (size_t i = from; i < len; i++) {
        if (s[i] != ';') continue;
        size_t j = i + 1;
        while (j < len && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n')) j++;
        if (j == len) return len;
        for (size_t k = 0; k < 3; k++) {
            size_t n = strlen(kw[k]);
            if (len - j >= n && !memcmp(s + j, kw[k], n)) return i + 1;
        }
    }
    return len;
}

/* The statement around byte off: [*s, *e), its `;` included. */
static void stmt_at(const struct recover *r, const struct tr_toks *t, int lex_failed, size_t off,
                    size_t *s, size_t *e) {
    *s = 0;
    *e = SIZE_MAX;
    struct nest n = {.mod_at = -1, .prev = TK_EOF};
    for (size_t i = 0; i < t->n; i++) {
        if (!sig(t->v[i].kind) || !nest_step(&n, t, i)) continue;
        size_t end = t->v[i].sp.e.off;
        if (end <= off) *s = end;
        else {
            *e = end;
            break;
        }
    }
    if (*e == SIZE_MAX) *e = lex_failed ? raw_end(r->work, r->len, off) : r->len;
    if (*e > r->len) *e = r->len;
    if (*s > *e) *s = *e;
}

static int tok_is(const struct tr_toks *t, size_t i, const char *src, const struct name *nm) {
    const struct tr_tok *k = &t->v[i];
    size_t n = k->sp.e.off - k->sp.s.off;
    const char *p = src + k->sp.s.off;
    if (k->quoted && n >= 2) {   /* `name` */
        p++;
        n -= 2;
    }
    return n == nm->n && !memcmp(p, nm->s, n);
}

/* Does [s, e) mention a name of a statement that failed before? */
static int mentions_failed(const struct recover *r, const struct tr_toks *t, size_t s, size_t e) {
    for (size_t i = 0; i < t->n; i++) {
        const struct tr_tok *k = &t->v[i];
        if (k->sp.s.off < s || k->kind != TK_IDENT) continue;
        if (k->sp.e.off > e) break;
        for (size_t j = 0; j < r->nnames; j++)
            if (tok_is(t, i, r->work, &r->names[j])) return 1;
    }
    return 0;
}

static int add_name(struct recover *r, const struct tr_toks *t, size_t i) {
    const struct tr_tok *k = &t->v[i];
    if (k->kind != TK_IDENT) return 0;
    size_t a = k->sp.s.off, n = k->sp.e.off - a;
    if (k->quoted && n >= 2) {
        a++;
        n -= 2;
    }
    if (tr_grow((void **)&r->names, &r->cap, r->nnames + 1, sizeof *r->names)) return -ENOMEM;
    /* point into the original: the working copy's bytes are blanked next */
    r->names[r->nnames++] = (struct name){r->orig + a, n};
    return 0;
}

/* Remember what [s, e) defines: `define ... operator|script|window NAME`,
 * `create stream|operator|script NAME`, `mod NAME`, `use a::b [as c]`. */
static int note_names(struct recover *r, const struct tr_toks *t, size_t s, size_t e) {
    for (size_t i = 0; i < t->n; i++) {
        const struct tr_tok *k = &t->v[i];
        if (k->sp.s.off < s) continue;
        if (k->sp.e.off > e) break;
        size_t j;
        int rc = 0;
        switch (k->kind) {
        case TK_DEFINE:
        case TK_CREATE:
            for (j = next_sig(t, i); j < t->n && t->v[j].sp.e.off <= e; j = next_sig(t, j)) {
                int kk = t->v[j].kind;
                if (kk == TK_OPERATOR || kk == TK_SCRIPT || kk == TK_WINDOW || kk == TK_STREAM) {
                    j = next_sig(t, j);
                    if (j < t->n && t->v[j].sp.e.off <= e) rc = add_name(r, t, j);
                    break;
                }
                if (kk != TK_IDENT && kk != TK_TUMBLING && kk != TK_SLIDING &&
                    kk != TK_COLONCOLON)
                    break;
            }
            break;
        case TK_MOD:
            j = next_sig(t, i);
            if (j < t->n && t->v[j].sp.e.off <= e) rc = add_name(r, t, j);
            break;
        case TK_USE:
            /* the alias, else the path's last segment */
            for (j = next_sig(t, i); j < t->n && t->v[j].sp.e.off <= e; j = next_sig(t, j)) {
                if (t->v[j].kind == TK_SEMI) break;
                if (t->v[j].kind == TK_IDENT) {
                    size_t n2 = next_sig(t, j);
                    if (n2 >= t->n || (t->v[n2].kind != TK_COLONCOLON && t->v[n2].kind != TK_AS)) {
                        rc = add_name(r, t, j);
                        break;
                    }
                }
            }
            break;
        default: break;
        }
        if (rc) return rc;
    }
    return 0;
}

/* Blank [s, e) of the working copy; 0 when it held nothing to blank. */
static int blank(struct recover *r, size_t s, size_t e) {
    int any = 0;
    for (size_t i = s; i < e; i++) {
        char c = r->work[i];
        if (c == '\n') continue;
        if (c != ' ' && c != '\t' && c != '\r') any = 1;
        r->work[i] = ' ';
    }
    return any;
}

int tr_lang_check_query(const char *src, size_t len, const struct tr_lang_opts *opts,
                        int (*report)(void *arg, const struct tr_lang_err *e),
                        void (*compiled)(void *arg, const struct tr_query *q), void *arg,
                        int *truncated) {
    struct recover r = {.orig = src, .len = len};
    struct tr_toks toks;
    int errors = 0, rc = 0;
    const char *file = opts && opts->file ? opts->file : "<input>";
    *truncated = 0;
    memset(&toks, 0, sizeof toks);
    r.work = tr_malloc(len + 1);
    if (!r.work) return -ENOMEM;
    memcpy(r.work, src, len);
    r.work[len] = 0;
    for (size_t pass = 0;; pass++) {
        if (pass >= MAX_PASSES || (pass >= MIN_PASSES && (size_t)len * (pass + 1) > MAX_BYTES)) {
            *truncated = 1;
            break;
        }
        struct tr_lang_err err;
        memset(&err, 0, sizeof err);
        struct tr_query *q = NULL;
        rc = tr_lang_compile_query(r.work, len, opts, &q, &err);
        if (!rc) {
            if (compiled) compiled(arg, q);
            tr_query_destroy(q);
            break;
        }
        if (rc == -ENOMEM) {
            tr_lang_err_clear(&err);
            break;
        }
        if (!err.set) {   /* no place to show: say what failed, and stop */
            struct tr_span none;
            memset(&none, 0, sizeof none);
            tr_lang_err_set(&err, rc, none, none, "%s", tr_strerror(rc));
        }
        /* Show the error against the text as written, not the blanked copy
         * (the offsets are the same). */
        if (!err.in_module && tr_lang_err_attach(&err, file, src, len)) {
            tr_lang_err_clear(&err);
            rc = -ENOMEM;
            break;
        }
        size_t off = err.inner.s.off <= len ? err.inner.s.off : len;
        int lex_failed = tr_lex_all(r.work, len, &toks) != 0;
        size_t s, e;
        stmt_at(&r, &toks, lex_failed, off, &s, &e);
        int quiet = pass && mentions_failed(&r, &toks, s, e);
        int stop = 0;
        if (!quiet) {
            errors++;
            stop = report(arg, &err) != 0;
        }
        /* without a place in this file there is nothing to skip */
        if (!err.has_pos || err.in_module) stop = 1;
        tr_lang_err_clear(&err);
        if (!stop && (rc = note_names(&r, &toks, s, e))) break;
        rc = 0;
        tr_lex_free(&toks);
        if (stop || !blank(&r, s, e)) break;
    }
    tr_lex_free(&toks);
    tr_free(r.work);
    tr_free(r.names);
    return rc == -ENOMEM ? rc : errors;
}
