/* preproc.c - `use` lines checked and modules found before parsing, as
 * Tremor 0.11's Preprocessor does (tremor-script/src/lexer.rs at v0.11.12).
 *
 * It walks the tokens of a file, and recursively of every module file it
 * finds, reading each `use` the way 0.11 does: only whitespace is skipped
 * between its parts, the module file is looked up on the module path and
 * pushed on an include stack (a file already on it is a cycle). One
 * difference: 0.11 wants a newline after the `;`, we also take code on
 * the same line. It does not load declarations (the
 * compiler does). Invariant: the include stack is empty again whenever
 * tr_pp_check returns.
 */
#include "lang/preproc_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/file.h"
#include "lang/parse.h"
#include "lang/std_int.h"

#define MAX_MODULE_FILE (4u << 20)
/* Module files open at once (nesting) and read in all for one compile: a
 * chain or a diamond of includes must not grow without bound. */
#define PP_MAX_DEPTH 16
#define PP_MAX_FILES 1024

int tr_pp_find(const struct tr_lang_opts *opts, const char *rel, char **path, char **src, size_t *len) {
    *path = *src = NULL;
    *len = 0;
    static const char *const exts[] = {".tremor", ".trickle"};
    struct tr_buf full;
    tr_buf_init(&full);
    int rc = 1;
    for (size_t e = 0; e < 2 && rc == 1; e++)
        for (size_t i = 0; opts && i < opts->n_module_path && rc == 1; i++) {
            const char *root = opts->module_path[i];
            size_t rl = strlen(root);
            tr_buf_reset(&full);
            if (tr_buf_printf(&full, "%s%s%s%s", root, rl && root[rl - 1] == '/' ? "" : "/", rel, exts[e])) {
                rc = -ENOMEM;
                break;
            }
            int r = tr_file_read(full.data, MAX_MODULE_FILE, src, len);
            if (r == 0) rc = 0;
            else if (r == -ENOMEM) rc = -ENOMEM;
        }
    if (rc == 0) *path = tr_buf_steal(&full, NULL);
    tr_buf_fini(&full);
    if (rc == 0 && !*path) {
        tr_free(*src);
        *src = NULL;
        rc = -ENOMEM;
    }
    return rc;
}

struct pp {
    const struct tr_lang_opts *opts;
    struct tr_lang_err *err;
    const char *stack[PP_MAX_DEPTH + 1]; /* the files being read, outermost first */
    int depth;
    int files;
};

static int pp_file(struct pp *pp, const char *file, const char *src, const struct tr_toks *toks, int lex_rc);

/* 0.11's ModuleNotFound: the `use` line around, a caret at its newline. */
static int not_found(struct pp *pp, const char *rel, struct tr_span use_sp, struct tr_pos nl) {
    struct tr_buf dirs;
    tr_buf_init(&dirs);
    for (size_t i = 0; pp->opts && i < pp->opts->n_module_path; i++)
        if (tr_buf_printf(&dirs, "\n                         - %s", pp->opts->module_path[i])) {
            tr_buf_fini(&dirs);
            return -ENOMEM;
        }
    struct tr_span in = {nl, nl};
    tr_lang_err_set(pp->err, TR_EINVAL_CFG, tr_span_expand(use_sp, 2), in,
                    "Module `%s` not found or not readable error in module path: %s", rel,
                    dirs.data ? dirs.data : "");
    tr_buf_fini(&dirs);
    return TR_EINVAL_CFG;
}

/* An error without a place: rendered as a bare caret and message. */
static int placeless(struct pp *pp, int rc, const char *msg) {
    struct tr_span z;
    memset(&z, 0, sizeof z);
    tr_lang_err_set(pp->err, rc, z, z, "%s", msg);
    pp->err->has_pos = 0;
    return rc;
}

/* Built-in modules (std::..., tremor::...) need no file. */
static int builtin(const char *rel, int *found) {
    const char *slash = strchr(rel, '/');
    size_t first = slash ? (size_t)(slash - rel) : strlen(rel);
    if (!((first == 3 && !memcmp(rel, "std", 3)) || (first == 6 && !memcmp(rel, "tremor", 6)))) return 0;
    if (!slash) *found = 1;
    else *found = !strchr(slash + 1, '/') && tr_std_has_module(slash + 1, strlen(slash + 1));
    return 1;
}

/* The module rel of a `use` line: find it, refuse a cycle, read its own
 * `use` lines. */
static int include(struct pp *pp, const char *rel, struct tr_span use_sp, struct tr_pos nl) {
    int found = 0;
    if (builtin(rel, &found)) return found ? 0 : not_found(pp, rel, use_sp, nl);
    char *path, *src;
    size_t len;
    int rc = tr_pp_find(pp->opts, rel, &path, &src, &len);
    if (rc == 1) return not_found(pp, rel, use_sp, nl);
    if (rc) return rc;
    for (int i = 0; i < pp->depth && !rc; i++) {
        if (strcmp(pp->stack[i], path) != 0) continue;
        struct tr_buf b;
        tr_buf_init(&b);
        rc = tr_buf_append(&b, "Cyclic dependency detected: ", 28);
        for (int j = 0; j < pp->depth && !rc; j++) rc = tr_buf_printf(&b, "%s -> ", pp->stack[j]);
        if (!rc) rc = tr_buf_append(&b, path, strlen(path));
        rc = rc ? -ENOMEM : placeless(pp, TR_EINVAL_CFG, b.data);
        tr_buf_fini(&b);
    }
    if (!rc && (pp->depth >= PP_MAX_DEPTH || ++pp->files > PP_MAX_FILES)) {
        struct tr_span in = {nl, nl};
        rc = tr_lang_err_set(pp->err, TR_EINVAL_CFG, tr_span_expand(use_sp, 2), in,
                             "Module `%s` is nested too deeply or too many module files are included (at most "
                             "%d open, %d in all)", rel, PP_MAX_DEPTH, PP_MAX_FILES);
    }
    /* 0.11 reads a module with a space appended */
    char *text = rc ? NULL : tr_malloc(len + 2);
    if (!rc && !text) rc = -ENOMEM;
    if (!rc) {
        memcpy(text, src, len);
        text[len] = ' ';
        text[len + 1] = 0;
        struct tr_toks toks;
        int lrc = tr_lex_all(text, len + 1, &toks);
        if (lrc == -ENOMEM) {
            rc = -ENOMEM;
        } else {
            rc = pp_file(pp, path, text, &toks, lrc);
            if (!rc && lrc) {
                /* a lexer error of the module file is reported from it */
                struct tr_lex_err *le = &toks.err;
                tr_lang_err_set(pp->err, TR_EPARSE, le->outer, le->inner, "%s", le->msg);
                snprintf(pp->err->hint, sizeof pp->err->hint, "%s", le->hint);
                pp->err->has_pos = !le->nopos;
                pp->err->token_text = le->token_text;
                pp->err->token_span = le->token_span;
                le->token_text = NULL;
                rc = lrc == TR_ETOOBIG ? TR_ETOOBIG : TR_EPARSE;
            }
            /* the spans of an error found in this file point into it */
            if (rc && rc != -ENOMEM && pp->err->set && pp->err->has_pos && !pp->err->src) {
                if (tr_lang_err_attach(pp->err, path, src, len)) rc = -ENOMEM;
                else pp->err->in_module = 1;
            }
        }
        tr_lex_free(&toks);
    }
    tr_free(text);
    tr_free(src);
    tr_free(path);
    return rc;
}

/* The token after i that is not whitespace (0.11's take_while!); n when
 * the tokens are exhausted. */
static size_t after(const struct tr_toks *toks, size_t i) {
    if (i + 1 >= toks->n) return toks->n;
    i++;
    while (i < toks->n && toks->v[i].kind == TK_WS) i++;
    return i;
}

/* One `use` line at toks->v[i]; *end: the index of its newline. Returns 0,
 * 1 when the walk reached the lexer's error, or an error. */
static int use_line(struct pp *pp, const char *src, const struct tr_toks *toks, int lex_rc, size_t i,
                    size_t *end) {
    struct tr_span use_sp = toks->v[i].sp;
    struct tr_buf rel;
    tr_buf_init(&rel);
    size_t j = i;
    int rc = 0;
#define NEXT()                                                                       \
    do {                                                                             \
        j = after(toks, j);                                                          \
        if (j >= toks->n) {                                                          \
            rc = placeless(pp, TR_EPARSE, "An unexpected end of stream was found");  \
            goto out;                                                                \
        }                                                                            \
        if (lex_rc && toks->v[j].kind == TK_EOF) {                                   \
            rc = 1;                                                                  \
            goto out;                                                                \
        }                                                                            \
    } while (0)
#define KIND (toks->v[j].kind)
#define REFUSE(exp)                                                  \
    do {                                                             \
        rc = tr_parse_unexpected(&toks->v[j], src, exp, pp->err);    \
        goto out;                                                    \
    } while (0)
    NEXT();
    if (KIND != TK_IDENT) REFUSE("`<ident>`");
    if (tr_buf_append(&rel, toks->v[j].sval->data, toks->v[j].sval->len)) goto oom;
    NEXT();
    for (;;) {
        if (KIND == TK_COLONCOLON) {
            NEXT();
            if (KIND != TK_IDENT) REFUSE("`<ident>`");
            if (tr_buf_putc(&rel, '/') || tr_buf_append(&rel, toks->v[j].sval->data, toks->v[j].sval->len))
                goto oom;
            NEXT();
            if (KIND == TK_AS || KIND == TK_SEMI) break;
            if (KIND == TK_COLONCOLON) continue;
            REFUSE("one of `as`, `::`, `;`");
        }
        if (KIND == TK_AS || KIND == TK_SEMI) break;
        REFUSE("one of `as`, `::`, `;`");
    }
    if (KIND == TK_AS) {
        NEXT();
        if (KIND != TK_IDENT) REFUSE("`<ident>`");
        /* 0.11 steps over the next token (the `;`) without looking at it */
        NEXT();
        NEXT();
    }
    if (KIND == TK_SEMI) NEXT();
    /* 0.11 refuses anything but a newline here ("expected `<newline>`");
     * we let code follow on the same line (the parser still checks it) and
     * point at whatever comes, so one-line scripts keep working */
    *end = KIND == TK_NL ? j : j - 1;
    rc = include(pp, rel.data, use_sp, toks->v[j].sp.s);
    goto out;
oom:
    rc = -ENOMEM;
out:
    tr_buf_fini(&rel);
    return rc;
#undef NEXT
#undef KIND
#undef REFUSE
}

static int pp_file(struct pp *pp, const char *file, const char *src, const struct tr_toks *toks, int lex_rc) {
    pp->stack[pp->depth++] = file;
    int rc = 0;
    for (size_t i = 0; i < toks->n && !rc; i++) {
        if (toks->v[i].kind != TK_USE) continue;
        size_t end = i;
        rc = use_line(pp, src, toks, lex_rc, i, &end);
        i = end;
    }
    pp->depth--;
    return rc == 1 ? 0 : rc;
}

int tr_pp_check(const char *file, const char *src, const struct tr_toks *toks, int lex_rc,
                const struct tr_lang_opts *opts, struct tr_lang_err *err) {
    struct pp pp = {.opts = opts, .err = err};
    return pp_file(&pp, file ? file : "<input>", src, toks, lex_rc);
}
