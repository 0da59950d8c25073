/* budget.h - a memory budget for bytes a server holds on behalf of peers.
 *
 * One budget per listener (a ws or tcp onramp), shared by its connections;
 * each connection is a holder with a share. A holder asks for the real size
 * of what it buffers (allocated capacity, not payload), and the request is
 * refused when it would pass the holder's share or the budget's limit; the
 * caller then ends that connection with a logged, counted error instead of
 * growing. Not an allocator and not thread-safe: one loop owns it.
 * Invariant: used == the sum of every holder's bytes.
 */
#ifndef TR_BUDGET_H
#define TR_BUDGET_H

#include <stddef.h>
#include <stdint.h>

struct tr_budget {
    uint64_t limit;       /* most bytes all holders together may hold */
    uint64_t used;
    uint64_t peak;
    uint64_t over_share;  /* requests refused for a holder's share */
    uint64_t over_limit;  /* requests refused for the whole budget */
};

struct tr_budget_hold {
    uint64_t bytes;       /* charged to the budget now */
};

void tr_budget_init(struct tr_budget *b, uint64_t limit);

/* Set h's charge to bytes (growing or shrinking). Returns 0, TR_ETOOBIG
 * when bytes > share, or TR_EFULL when the other holders leave too little
 * of the limit; on failure h keeps its old charge and the refusal is
 * counted. Shrinking never fails. */
int tr_budget_set(struct tr_budget *b, struct tr_budget_hold *h, uint64_t bytes, uint64_t share);
/* Give back everything h holds (h->bytes becomes 0). */
void tr_budget_release(struct tr_budget *b, struct tr_budget_hold *h);

#endif
