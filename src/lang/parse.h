/* parse.h - recursive-descent parser for tremor-script and trickle.
 *
 * Builds the syntax tree of ast.h from the token array of lex.h. It knows
 * the grammar only: names are not resolved and nothing is evaluated (that is
 * compile.c). `use` lines are collected as they appear. Nesting is bounded
 * (TR_PARSE_MAX_DEPTH) so hostile input ends in an error, not a crash.
 */
#ifndef TR_LANG_PARSE_H
#define TR_LANG_PARSE_H

#include "lang/ast.h"
#include "lang/errfmt.h"
#include "lang/lex.h"

#define TR_PARSE_MAX_DEPTH 200

struct tr_use {
    struct tr_str *path;   /* "std::string" */
    struct tr_str *alias;  /* "string" or the `as` name */
    struct tr_span sp;
};

struct tr_parsed {
    struct tr_node *root;       /* N_BLOCK of script exprs or query statements */
    struct tr_node *config;     /* N_BLOCK of N_FIELD from `#!config`, or NULL */
    struct tr_use *uses;
    size_t nuses;
};

/* Parse toks (from src) as a script (query = 0) or a query (query = 1).
 * Nodes go to arena; on error returns TR_EPARSE with err set. The uses array
 * is allocated with tr_malloc and freed by tr_parsed_fini. */
int tr_parse(const char *src, const struct tr_toks *toks, int query, struct tr_arena *arena,
             struct tr_parsed *out, struct tr_lang_err *err);
void tr_parsed_fini(struct tr_parsed *p);
/* Set err (when not set yet) to 0.11's "Found the token `x` but expected
 * <expected>" at tok of src, with its hints (errors.rs ErrorKind::hint).
 * Returns TR_EPARSE. */
int tr_parse_unexpected(const struct tr_tok *tok, const char *src, const char *expected,
                        struct tr_lang_err *err);
/* Parse a module file (declarations and `use` lines; with query also
 * `define` statements) into an N_MOD whose name the caller sets; `use` lines
 * are appended to uses (whose array must have been allocated by tr_parse or
 * be empty). */
int tr_parse_module(const char *src, const struct tr_toks *toks, int query, struct tr_arena *arena,
                    struct tr_parsed *uses, struct tr_node **out, struct tr_lang_err *err);

#endif
