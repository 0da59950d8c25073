/* preproc_int.h - 0.11's preprocessor step (preproc.c): `use` lines are
 * checked and their module files found before anything is parsed.
 *
 * Tremor 0.11 reads every `use a::b [as c];` line with its Preprocessor
 * (tremor-script/src/lexer.rs) before the parser sees a token, so a bad
 * `use` line, a missing module or a cycle of modules is reported ahead of
 * any syntax error elsewhere. This module only checks and finds; loading a
 * module's declarations stays with the compiler (compile.c). Used by
 * compile.c only; single-threaded like the compiler.
 */
#ifndef TR_LANG_PREPROC_INT_H
#define TR_LANG_PREPROC_INT_H

#include <stddef.h>

#include "lang/errfmt.h"
#include "lang/lang.h"
#include "lang/lex.h"

/* Find module rel ("a/b", no extension) along opts' module path: a .tremor
 * file in every folder first, then a .trickle one (0.11's resolve). On 0
 * *path names the file and *src (NUL-terminated) / *len hold its text, all
 * tr_malloc'd for the caller. Returns 0, 1 when there is no such file,
 * -ENOMEM. opts may be NULL (nothing is found). */
int tr_pp_find(const struct tr_lang_opts *opts, const char *rel, char **path, char **src, size_t *len);

/* Check the `use` lines of src (file names it; toks is its lexing, lex_rc
 * the lexer's result) the way 0.11's Preprocessor reads them: the syntax
 * (but code may follow on the line), that the module exists, that no module file
 * includes itself, then the same through the modules' own `use` lines.
 * Returns 0 when all is well or when the walk reached a lexer error first
 * (the caller reports it); else TR_EPARSE / TR_EINVAL_CFG with err set (an
 * error inside a module file carries that file's text, see lang.h), or
 * -ENOMEM. */
int tr_pp_check(const char *file, const char *src, const struct tr_toks *toks, int lex_rc,
                const struct tr_lang_opts *opts, struct tr_lang_err *err);

#endif
