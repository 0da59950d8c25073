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
    void *ext;           /* hdr and dds: their histogram or sketch (owned) */
};
/* Find aggr::<module>::<name>; NULL if unknown. */
const struct tr_aggr_fn *tr_aggr_find(const char *module, const char *name);
void tr_aggr_arity(const struct tr_aggr_fn *f, int *min, int *max);
void tr_aggr_init(struct tr_aggr_state *s, const struct tr_aggr_fn *f);
void tr_aggr_fini(struct tr_aggr_state *s);
/* Fold one event's arguments in: 0, TR_FN_BADTYPE or -ENOMEM. */
int tr_aggr_accumulate(struct tr_aggr_state *s, const tr_value *args, size_t n);
/* The aggregate's value. Not const: dds settles its cache into its sketch
 * here, as 0.11 does (it changes the order of later sums). */
int tr_aggr_emit(struct tr_aggr_state *s, tr_value *out);
/* Merge src (an earlier window's state) into s, as tilted windows do. */
int tr_aggr_merge(struct tr_aggr_state *s, const struct tr_aggr_state *src);
/* Copy of src's state into dst (uninitialised). */
int tr_aggr_copy(struct tr_aggr_state *dst, const struct tr_aggr_state *src);
/* Sketches behind stats::hdr and stats::dds (aggr_sketch.c), for aggr.c:
 * the same verbs on s->ext, which they create on first use. */
enum { TR_SKETCH_HDR, TR_SKETCH_DDS };
int tr_sketch_accumulate(struct tr_aggr_state *s, int kind, const tr_value *args, size_t n);
int tr_sketch_emit(struct tr_aggr_state *s, int kind, tr_value *out);
int tr_sketch_merge(struct tr_aggr_state *s, const struct tr_aggr_state *src, int kind);
int tr_sketch_copy(void **dst, const void *src);
void tr_sketch_free(void *ext);
const char *tr_aggr_module(const struct tr_aggr_fn *f);
const char *tr_aggr_name(const struct tr_aggr_fn *f);

#endif
