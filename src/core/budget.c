/* budget.c - per-listener memory budget with per-holder shares (budget.h). */
#include "core/budget.h"

#include <assert.h>

#include "core/error.h"

void tr_budget_init(struct tr_budget *b, uint64_t limit) {
    *b = (struct tr_budget){.limit = limit};
}

int tr_budget_set(struct tr_budget *b, struct tr_budget_hold *h, uint64_t bytes, uint64_t share) {
    assert(b->used >= h->bytes);
    if (bytes <= h->bytes) {
        b->used -= h->bytes - bytes;
        h->bytes = bytes;
        return 0;
    }
    if (bytes > share) {
        b->over_share++;
        return TR_ETOOBIG;
    }
    /* others = what the rest hold; written so that nothing can overflow */
    uint64_t others = b->used - h->bytes;
    if (others > b->limit || bytes > b->limit - others) {
        b->over_limit++;
        return TR_EFULL;
    }
    b->used = others + bytes;
    h->bytes = bytes;
    if (b->used > b->peak) b->peak = b->used;
    return 0;
}

void tr_budget_release(struct tr_budget *b, struct tr_budget_hold *h) {
    assert(b->used >= h->bytes);
    b->used -= h->bytes;
    h->bytes = 0;
}
