/* lang.h - the one way in to the language: options, compile, errors.
 *
 * Options carry the file being compiled and the module search path that
 * `use a::b;` walks (the file's folder first, then TREMOR_PATH, as Tremor
 * does), so `tremor run`, `server run` and tests resolve modules alike, and
 * so do `use` lines inside `define script` bodies of a query. A failed
 * compile fills one struct tr_lang_err that keeps the source it points
 * into (an included module's own text when the error is in that module)
 * and renders itself. Running compiled code is script.h and query.h.
 */
#ifndef TR_LANG_H
#define TR_LANG_H

#include <stddef.h>

#include "core/buf.h"
#include "lang/errfmt.h"

struct tr_script;
struct tr_query;

/* Compile options shared by scripts and queries. module_path may point at
 * the caller's own array; tr_lang_opts_add_path builds one owned by the
 * options instead (free with tr_lang_opts_fini). */
struct tr_lang_opts {
    const char *const *module_path;  /* folders searched for `use a::b` (a/b.tremor) */
    size_t n_module_path;
    const char *file;                /* the compiled file, for errors; NULL: "<input>" */
    char **owned;                    /* set by the builder below */
    size_t cap;
    char *owned_file;
};

/* Bounds on what a module path may hold: TREMOR_PATH comes from outside. */
#define TR_LANG_MAX_MODULE_DIRS 64
#define TR_LANG_MAX_DIR_LEN 4096

void tr_lang_opts_init(struct tr_lang_opts *o);
void tr_lang_opts_fini(struct tr_lang_opts *o);
/* Append the folder dir[0..len) to o's module path (o must have been set up
 * by tr_lang_opts_init). Empty folders are skipped (0). TR_ETOOBIG past the
 * bounds above, -ENOMEM. */
int tr_lang_opts_add_path(struct tr_lang_opts *o, const char *dir, size_t len);
/* Set up o for compiling file (may be NULL: no folder of its own): the
 * file's folder ("." when it has none), then every folder of the
 * colon-separated TREMOR_PATH. o need not be initialised; call
 * tr_lang_opts_fini also on failure. 0, TR_ETOOBIG or -ENOMEM. */
int tr_lang_opts_from_env(struct tr_lang_opts *o, const char *file);

/* Compile src (the text of opts->file) into *out. On failure *out is NULL,
 * err is filled and keeps a copy of the source it refers to, so
 * tr_lang_err_render needs nothing else; clear it with tr_lang_err_clear.
 * Returns 0, TR_EPARSE / TR_EINVAL_CFG / TR_EDEPTH / TR_ETOOBIG, or -ENOMEM.
 * opts may be NULL (no module path). */
int tr_lang_compile_script(const char *src, size_t len, const struct tr_lang_opts *opts,
                           struct tr_script **out, struct tr_lang_err *err);
int tr_lang_compile_query(const char *src, size_t len, const struct tr_lang_opts *opts,
                          struct tr_query **out, struct tr_lang_err *err);

/* Check src as tr_lang_compile_query compiles it, but go on after an error
 * (recover.c): each error is passed to report, the first one exactly as
 * tr_lang_compile_query gives it; the statement that holds an error is
 * skipped (up to the `;` before the next define, create or select) and
 * later statements are checked too. Errors caused only by a skipped
 * statement (a name it would have defined) are not reported. An error
 * inside an included module, or one without a place, ends the check.
 * report returns 0 for more, non-zero to stop. Once the rest compiles,
 * compiled (may be NULL) sees that query; it is destroyed afterwards.
 * *truncated is set when the bound on recompiles stopped the search.
 * Returns the number of errors reported, or -ENOMEM. */
int tr_lang_check_query(const char *src, size_t len, const struct tr_lang_opts *opts,
                        int (*report)(void *arg, const struct tr_lang_err *e),
                        void (*compiled)(void *arg, const struct tr_query *q), void *arg,
                        int *truncated);

/* Keep a copy of the source err points into (file may be NULL). -ENOMEM. */
int tr_lang_err_attach(struct tr_lang_err *e, const char *file, const char *src, size_t len);
/* Render e the way Tremor prints it, against the source it carries: errors
 * of the compiled file as "Error: ", errors inside an included module as
 * "Error in <module file>:<line>:<col> ". Without a source only the
 * message is printed. Ends with a newline; 0 or -ENOMEM. */
int tr_lang_err_render(const struct tr_lang_err *e, struct tr_buf *out);

#endif
