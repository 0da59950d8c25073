/* select_int.h - select statements at run time (select.c), as query.c builds them.
 *
 * query.c resolves windows and compiles the clauses (compile_int.h); a
 * tr_select then owns its groups and window state for one pipeline.
 */
#ifndef TR_LANG_SELECT_INT_H
#define TR_LANG_SELECT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "lang/compile_int.h"

/* A `define tumbling window`, resolved (query.c) for select.c. */
struct tr_window_def {
    const char *name;
    int by_size;                 /* size = N; otherwise interval = N (ns) */
    uint64_t size, interval;
    int emit_empty;
    uint64_t max_groups;         /* UINT64_MAX: unbounded */
    struct tr_node *script;      /* per-event weight / time, or NULL */
};

/* Select statements at run time (select.c). */
int tr_select_create(struct tr_prog *prog, struct tr_node *stmt, const struct tr_window_def *wins,
                     size_t nwins, struct tr_select_info *info, struct tr_select **out);
void tr_select_destroy(struct tr_select *s);

#endif
