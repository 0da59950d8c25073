/* errfmt.c - renders language errors the way Tremor 0.11 prints them.
 *
 * The source is lexed again and the lines inside the error's outer span are
 * rebuilt from tokens (so comments and strings come out normalised, as
 * upstream's expected texts show). The caret line follows the line where the
 * error ends. It is not a pretty-printer: token text is reproduced, layout
 * is not changed. Invariant: output always ends with a newline.
 */
#include "lang/errfmt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

void tr_lang_err_clear(struct tr_lang_err *e) {
    if (!e) return;
    /* Field by field, not a memset of the whole (1.6 KiB) struct: a
     * query clears its error before every event it runs. */
    tr_free(e->token_text);
    tr_free(e->src);
    tr_free(e->file);
    e->set = 0;
    e->level = TR_LVL_ERROR;
    e->has_pos = 0;
    e->inner = e->outer = e->token_span = (struct tr_span){0};
    e->msg[0] = e->hint[0] = 0;
    e->token_text = e->src = e->file = NULL;
    e->len = 0;
    e->in_module = 0;
}

int tr_lang_err_set(struct tr_lang_err *e, int rc, struct tr_span outer, struct tr_span inner,
                    const char *fmt, ...) {
    if (!e || e->set) return rc;
    e->set = 1;
    e->level = TR_LVL_ERROR;
    e->has_pos = 1;
    e->inner = inner;
    e->outer = outer;
    e->hint[0] = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return rc;
}

struct tr_span tr_span_expand(struct tr_span s, unsigned n) {
    s.s.line = s.s.line > n ? s.s.line - n : 0;
    s.e.line += n;
    return s;
}

struct tr_span tr_span_join(struct tr_span a, struct tr_span b) {
    struct tr_span r = a;
    if (b.s.off < a.s.off) r.s = b.s;
    if (b.e.off > a.e.off) r.e = b.e;
    return r;
}

static int ensure_nl(struct tr_buf *b) {
    if (b->len == 0 || b->data[b->len - 1] != '\n') return tr_buf_putc(b, '\n');
    return 0;
}

static int spaces(struct tr_buf *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (tr_buf_putc(b, ' ')) return -ENOMEM;
    return 0;
}

static int callout(struct tr_buf *b, const struct tr_lang_err *e) {
    size_t start_col, len;
    if (e->inner.s.line == e->inner.e.line) {
        start_col = e->inner.s.col;
        len = e->inner.e.col > start_col ? e->inner.e.col - start_col : 1;
    } else {
        start_col = 1;
        len = e->inner.e.col > 1 ? e->inner.e.col - 1 : 0;
    }
    int rc = ensure_nl(b);
    rc = rc ? rc : tr_buf_append(b, "      | ", 8);
    rc = rc ? rc : spaces(b, start_col > 0 ? start_col - 1 : 0);
    for (size_t i = 0; i < len && !rc; i++) rc = tr_buf_putc(b, '^');
    rc = rc ? rc : tr_buf_printf(b, " %s\n", e->msg);
    if (!rc && e->hint[0]) {
        rc = tr_buf_append(b, "      | ", 8);
        rc = rc ? rc : spaces(b, start_col + len);
        rc = rc ? rc : tr_buf_printf(b, "NOTE: %s\n", e->hint);
    }
    return rc;
}

/* Upstream's newline token has an empty span on the line it ends. */
static uint32_t tok_end_line(const struct tr_tok *t) {
    return t->kind == TK_NL ? t->sp.s.line : t->sp.e.line;
}

/* Print the unfinished token of a lexer error in place of real tokens: its
 * first line where the cursor is, then its lines up to the error's last
 * line, and an empty line when the token ends in a newline short of it. */
static int token_lines(struct tr_buf *b, const struct tr_lang_err *e, uint32_t *line) {
    const char *p = e->token_text;
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    int rc = tr_buf_append(b, p, n);
    rc = rc ? rc : tr_buf_putc(b, '\n');
    while (!rc && nl && e->inner.e.line >= *line) {
        p = nl + 1;
        if (!*p) break;
        nl = strchr(p, '\n');
        n = nl ? (size_t)(nl - p) : strlen(p);
        (*line)++;
        rc = tr_buf_printf(b, "%5u | ", *line);
        rc = rc ? rc : tr_buf_append(b, p, n);
        rc = rc ? rc : tr_buf_putc(b, '\n');
    }
    size_t tl = strlen(e->token_text);
    if (!rc && e->inner.e.line > *line && tl && e->token_text[tl - 1] == '\n') {
        (*line)++;
        rc = tr_buf_printf(b, "%5u | \n", *line);
    }
    return rc;
}

int tr_lang_render(const char *src, size_t len, const struct tr_lang_err *e, struct tr_buf *out) {
    return tr_lang_render_in(src, len, NULL, e, out);
}

int tr_lang_render_in(const char *src, size_t len, const char *file, const struct tr_lang_err *e,
                      struct tr_buf *out) {
    struct tr_toks toks;
    int rc = tr_lex_all(src, len, &toks);
    if (rc == -ENOMEM) goto out;
    rc = 0;
    if (e->level == TR_LVL_WARNING) rc = tr_buf_append(out, "Warning: \n", 10);
    else if (file) rc = tr_buf_printf(out, "Error in %s:%u:%u \n", file, e->has_pos ? e->inner.s.line : 0,
                                      e->has_pos ? e->inner.s.col : 0);
    else rc = tr_buf_append(out, "Error: \n", 8);
    struct tr_span outer = e->outer;
    struct tr_lang_err ev = *e;
    if (!e->has_pos) {
        memset(&outer, 0, sizeof outer);
        memset(&ev.inner, 0, sizeof ev.inner);
    }
    uint32_t line = 0;
    int printed = 0;
    size_t i = 0;
    while (i < toks.n && toks.v[i].kind != TK_EOF && tok_end_line(&toks.v[i]) < outer.s.line) i++;
    for (; !rc && i < toks.n; i++) {
        const struct tr_tok *t = &toks.v[i];
        if (t->kind == TK_EOF) break;
        if (tok_end_line(t) > outer.e.line) break;
        if (t->sp.s.line != line) {
            line = t->sp.s.line;
            if (!printed && ev.inner.e.line + 1 == line) {
                printed = 1;
                if (ev.token_text) rc = token_lines(out, &ev, &line);
                rc = rc ? rc : callout(out, &ev);
            }
            rc = rc ? rc : tr_buf_printf(out, "%5u | ", line);
        }
        rc = rc ? rc : tr_lex_render(t, src, out);
        /* Tremor counts the here document's first line as printed already */
        if (t->kind == TK_HEREDOC_START) line++;
    }
    if (!rc && (!printed || ev.inner.s.line == line)) {
        if (ev.token_text) {
            if (line == 0) {
                line = ev.token_span.s.line;
                rc = tr_buf_printf(out, "%5u | ", line);
            }
            rc = rc ? rc : token_lines(out, &ev, &line);
        }
        rc = rc ? rc : callout(out, &ev);
    }
    rc = rc ? rc : tr_buf_putc(out, '\n');
out:
    tr_lex_free(&toks);
    return rc;
}

void tr_lang_err_to_diag(const struct tr_lang_err *e, const char *file, struct tr_diag *d) {
    if (!d) return;
    tr_diag_set(d, 0, file, e->has_pos ? (int)e->inner.s.line : 0,
                e->has_pos ? (int)e->inner.s.col : 0, "%s", e->msg);
}

int tr_lang_locate(const char *src, size_t len, const struct tr_lang_err *e, struct tr_buf *out) {
    if (e->src) {   /* the error is in the text it was attached with */
        src = e->src;
        len = e->len;
    }
    if (!e->has_pos || !src || e->outer.s.line == 0) return TR_ENOTFOUND;
    uint32_t first = e->outer.s.line;
    uint32_t count = e->outer.e.line > first ? e->outer.e.line - first : 1;
    uint32_t err_line = e->inner.e.line;
    uint32_t col = e->inner.s.col ? e->inner.s.col : 1, width;
    if (e->inner.e.line == e->inner.s.line)
        width = e->inner.e.col > col ? e->inner.e.col - col : 1;
    else
        width = e->inner.e.col > 1 ? e->inner.e.col - 1 : 0;
    if (e->inner.e.line != e->inner.s.line) col = 1;
    const char *p = src, *end = src + len;
    int rc = 0, any = 0;
    for (uint32_t line = 1; p < end && line < first + count && !rc; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (line >= first) {
            size_t n = (size_t)(le - p);
            if (n && p[n - 1] == '\r') n--;   /* as Rust's str::lines */
            rc = tr_buf_printf(out, "%s%5u | %.*s", any ? "\n" : "", line, (int)n, p);
            any = 1;
            if (!rc && line == err_line) {
                rc = tr_buf_printf(out, "\n      | %*s", (int)(col - 1), "");
                for (uint32_t k = 0; k < width && !rc; k++) rc = tr_buf_putc(out, '^');
                if (!rc) rc = tr_buf_printf(out, " %s", e->msg);
            }
        }
        if (!nl) break;
        p = nl + 1;
    }
    if (!rc && !any) return TR_ENOTFOUND;
    return rc;
}
