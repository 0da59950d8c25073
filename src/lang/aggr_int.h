/* aggr_int.h - aggregate functions (aggr.c) for the compiler, interpreter and selects.
 *
 * An aggregate folds the events of one window group into a small state
 * that can be merged (tilted windows) and copied; it is not a std function
 * and is only callable inside a select.
 */
#ifndef TR_LANG_AGGR_INT_H
#define TR_LANG_AGGR_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/value.h"

struct tr_aggr_fn;
struct tr_aggr_state {
    const struct tr_aggr_fn *fn;
    int64_t n;
    double a, b, c;
    int has;             /* a value was seen (min, max, first, last) */
    tr_value v;          /* first/last value or collected array (owned) */
};
/* Find aggr::<module>::<name>; NULL if unknown. */
const struct tr_aggr_fn *tr_aggr_find(const char *module, const char *name);
void tr_aggr_arity(const struct tr_aggr_fn *f, int *min, int *max);
void tr_aggr_init(struct tr_aggr_state *s, const struct tr_aggr_fn *f);
void tr_aggr_fini(struct tr_aggr_state *s);
/* Fold one event's arguments in: 0, TR_FN_BADTYPE or -ENOMEM. */
int tr_aggr_accumulate(struct tr_aggr_state *s, const tr_value *args, size_t n);
int tr_aggr_emit(const struct tr_aggr_state *s, tr_value *out);
/* Merge src (an earlier window's state) into s, as tilted windows do. */
int tr_aggr_merge(struct tr_aggr_state *s, const struct tr_aggr_state *src);
/* Copy of src's state into dst (uninitialised). */
int tr_aggr_copy(struct tr_aggr_state *dst, const struct tr_aggr_state *src);
const char *tr_aggr_module(const struct tr_aggr_fn *f);
const char *tr_aggr_name(const struct tr_aggr_fn *f);

#endif
