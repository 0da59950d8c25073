/* errfmt.h - language errors and Tremor's plain-text error renderer.
 *
 * A struct tr_lang_err carries what the renderer needs: the message, an
 * optional hint, the inner span (the carets) and the outer span (which
 * source lines to show). tr_lang_render prints it the way Tremor 0.11's
 * plain highlighter does, rebuilding the source lines from lexer tokens.
 * It does not decide which spans an error gets; the compiler does.
 */
#ifndef TR_LANG_ERRFMT_H
#define TR_LANG_ERRFMT_H

#include <stddef.h>

#include "core/buf.h"
#include "core/error.h"
#include "lang/lex.h"

enum tr_lang_level { TR_LVL_ERROR, TR_LVL_WARNING };

struct tr_lang_err {
    int set;
    enum tr_lang_level level;
    int has_pos;                 /* 0: no usable position (rendered without source lines) */
    struct tr_span inner, outer;
    char msg[1024];
    char hint[512];
    char *token_text;            /* unfinished token shown for lexer errors (owned) */
    struct tr_span token_span;
    /* The text the spans point into (owned copies, set by tr_lang_err_attach
     * in lang.h); in_module: the error is inside an included module file. */
    char *src;
    size_t len;
    char *file;
    int in_module;
};

void tr_lang_err_clear(struct tr_lang_err *e);
/* Set e (when not set yet) and return rc. */
int tr_lang_err_set(struct tr_lang_err *e, int rc, struct tr_span outer, struct tr_span inner,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* A span widened by n lines up and down (Tremor's expand_lines). */
struct tr_span tr_span_expand(struct tr_span s, unsigned n);
/* The smallest span covering a and b. */
struct tr_span tr_span_join(struct tr_span a, struct tr_span b);

/* Render e against src (the text the spans refer to) into out, ending with
 * a newline. Returns 0 or -ENOMEM. */
int tr_lang_render(const char *src, size_t len, const struct tr_lang_err *e, struct tr_buf *out);
/* The same with the header "Error in <file>:<line>:<col> " naming file, as
 * Tremor prints errors of included modules and of `tremor run`. */
int tr_lang_render_in(const char *src, size_t len, const char *file, const struct tr_lang_err *e,
                      struct tr_buf *out);

/* Tremor 0.11's other renderer (Error::locate_in_source), which its
 * pipeline logs a query's runtime error with: the source lines from the
 * outer span's first line up to but not including its last (at least
 * one), each "%5u | text", and under the line where the inner span ends
 * "      | " + spaces + carets + " " + message. Appends to out without a
 * final newline. Returns 0, -ENOMEM, or TR_ENOTFOUND (no position). */
int tr_lang_locate(const char *src, size_t len, const struct tr_lang_err *e, struct tr_buf *out);

/* Fill a plain diagnostic (file:line:col: message) from e. */
void tr_lang_err_to_diag(const struct tr_lang_err *e, const char *file, struct tr_diag *d);

#endif
