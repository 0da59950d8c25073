/* interp_int.h - the evaluator's entry points (interp.c) and its per-run environment.
 *
 * Used by script.c (a run), select.c (select clauses) and compile.c
 * (constant folding evaluates at compile time with folding set). The
 * environment borrows everything; only the emitted value is owned.
 */
#ifndef TR_LANG_INTERP_INT_H
#define TR_LANG_INTERP_INT_H

#include <stdint.h>

#include "core/value.h"
#include "lang/ast.h"
#include "lang/errfmt.h"
#include "lang/query.h"

struct tr_aggr_state;

/* How a script run ended; TR_RUN_RECUR: a function body asked to restart. */
enum { TR_RUN_VALUE = 0, TR_RUN_EMIT = 1, TR_RUN_DROP = 2, TR_RUN_RECUR = 3 };

struct tr_env {
    tr_value *event, *meta, *state;
    tr_value *locals;            /* prog->nlocals slots, TR_NULL with set[i] = 0 when unset */
    uint8_t *set;
    const tr_value *args, *group, *window;
    const struct tr_lang_ctx *ctx;
    struct tr_lang_err *err;
    struct tr_aggr_state *aggrs;  /* the current group's aggregates (windowed selects) */
    tr_value *recur_args;         /* arguments of a pending recur (owned, nrecur of them) */
    uint32_t nrecur;
    int depth;
    int folding;                 /* evaluating at compile time */
    /* emit/drop outcome */
    int outcome;
    tr_value emitted;
    struct tr_str *port;
};

/* Evaluate n into *out (one owned reference). Returns 0, TR_RUN_EMIT /
 * TR_RUN_DROP for control flow, or a negative error with env->err set. */
int tr_eval(struct tr_env *env, const struct tr_node *n, tr_value *out);
/* Run a block of script expressions (top-level or case body); the value of
 * the last one goes to *out. */
int tr_eval_block(struct tr_env *env, struct tr_node *const *v, uint32_t n, tr_value *out);

#endif
