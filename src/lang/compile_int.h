/* compile_int.h - the compiled program and the compiler's entry points (compile.c).
 *
 * Used by script.c, query.c and select.c; nothing outside src/lang (lang.h,
 * script.h and query.h are the public API). Invariant: a tr_prog is
 * immutable after compilation, so several runs may share it (one at a time).
 */
#ifndef TR_LANG_COMPILE_INT_H
#define TR_LANG_COMPILE_INT_H

#include <stddef.h>

#include "core/value.h"
#include "lang/ast.h"
#include "lang/errfmt.h"
#include "lang/parse.h"
#include "lang/query.h"

struct tr_arena;
struct tr_scope;
struct tr_extractor;

/* A compiled program: a script, or the shared part of a query. */
struct tr_prog {
    struct tr_arena *arena;
    struct tr_node *root;        /* N_BLOCK */
    int nlocals;
    char *path;
    char *src;
    size_t len;
    struct tr_lang_err *warnings;
    size_t nwarnings;
    tr_value args;               /* `args` for script operators (record or null) */
    struct tr_scope *scope;      /* names known to the compiler (consts, locals, uses) */
    struct tr_extractor **exts;  /* compiled extractors, destroyed with the program */
    size_t nexts, capexts;
};

/* Resolve names, fold constants, check; fills prog (which takes arena). */
int tr_compile_prog(const char *path, const char *src, size_t len, int query,
                    const struct tr_lang_opts *opts, struct tr_prog **out, struct tr_parsed *parsed,
                    struct tr_lang_err *err);
void tr_prog_destroy(struct tr_prog *p);
/* Compile an embedded script body (define script ... end) sharing src. */
int tr_compile_body(struct tr_prog *parent, struct tr_node *body, struct tr_parsed *parsed,
                    const struct tr_lang_opts *opts, struct tr_prog **out, struct tr_lang_err *err);
/* What the compiler collects about one select statement. */
struct tr_select_info {
    int windowed;                /* event/$ may only appear inside aggregates */
    struct tr_node **aggrs;      /* aggregate calls, in slot order (tr_malloc'd) */
    size_t naggrs, capaggrs;
};
/* Compile a select clause expression (target, where, having, group by) in
 * the query's scope. no_event: reject event/$ outside aggregates. */
int tr_compile_select_expr(struct tr_prog *prog, struct tr_node *stmt, struct tr_node *e,
                           struct tr_select_info *si, int no_event, struct tr_lang_err *err);
/* In a windowed select, target sub-expressions equal to a group-by
 * expression become `group[i]` (before compiling the target). */
int tr_rewrite_group_refs(struct tr_prog *prog, struct tr_node *target, struct tr_node *group_by);

/* The compile steps of script.c and query.c that lang.c drives (path names
 * the source in errors; opts may be NULL). */
int tr_script_compile_opts(const char *path, const char *src, size_t len, const struct tr_lang_opts *opts,
                           struct tr_script **out, struct tr_lang_err *err);
int tr_query_compile_opts(const char *path, const char *src, size_t len, const struct tr_lang_opts *opts,
                          struct tr_query **out, struct tr_lang_err *err);

/* Evaluate a constant expression (operator parameters). */
int tr_const_eval(struct tr_prog *prog, struct tr_node *e, tr_value *out, struct tr_lang_err *err);

#endif
