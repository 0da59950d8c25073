/* ring.c - growing a ring (see ring.h).
 *
 * Capacity doubles, starting at 16 slots, and never shrinks while the ring
 * lives: queues that were long once are likely to be long again. Growing
 * copies the elements in order, so the oldest lands at slot 0.
 */
#include "core/ring.h"

#include <errno.h>
#include <stdint.h>

#include "core/alloc.h"

void tr_ring_init(struct tr_ring *r, size_t elem) {
    r->v = NULL;
    r->elem = elem;
    r->head = r->len = r->cap = 0;
}

void tr_ring_fini(struct tr_ring *r) {
    tr_free(r->v);
    tr_ring_init(r, r->elem);
}

int tr_ring_reserve(struct tr_ring *r, size_t n) {
    if (n <= r->cap - r->len) return 0;
    if (n > SIZE_MAX - r->len) return -ENOMEM;
    size_t need = r->len + n, nc = r->cap ? r->cap : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) return -ENOMEM;
        nc *= 2;
    }
    if (nc > SIZE_MAX / r->elem) return -ENOMEM;
    unsigned char *v = tr_malloc(nc * r->elem);
    if (!v) return -ENOMEM;
    if (r->len) {
        /* the elements run from head to the end of the slots, then wrap to 0 */
        size_t first = r->cap - r->head < r->len ? r->cap - r->head : r->len;
        memcpy(v, r->v + r->head * r->elem, first * r->elem);
        memcpy(v + first * r->elem, r->v, (r->len - first) * r->elem);
    }
    tr_free(r->v);
    r->v = v;
    r->cap = nc;
    r->head = 0;
    return 0;
}
