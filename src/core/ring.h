/* ring.h - a growable FIFO of fixed-size elements (a power-of-two ring).
 *
 * One ring for every queue of the project: records handed out by the WAL,
 * messages waiting for an answer, events held back. Elements are plain
 * bytes copied in and out; what they point to stays the caller's, so fini
 * frees the slots only and the owner finalises whatever its elements hold
 * first. A push that cannot grow the ring returns -ENOMEM and leaves it as
 * it was. Index i counts from the oldest element (0) to the newest (len-1).
 * Not thread-safe: one owner.
 */
#ifndef TR_RING_H
#define TR_RING_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct tr_ring {
    unsigned char *v;        /* cap slots of elem bytes; cap is 0 or a power of two */
    size_t elem;
    size_t head, len, cap;
};

/* An empty ring of elem-byte elements; allocates nothing. */
void tr_ring_init(struct tr_ring *r, size_t elem);
/* Frees the slots (not what elements point to); the ring is empty again. */
void tr_ring_fini(struct tr_ring *r);
/* Room for n more elements without another allocation: 0 or -ENOMEM. */
int tr_ring_reserve(struct tr_ring *r, size_t n);

static inline size_t tr_ring_len(const struct tr_ring *r) { return r->len; }

/* Element i, 0 <= i < len (unchecked, like an array index). */
static inline void *tr_ring_at(const struct tr_ring *r, size_t i) {
    return r->v + ((r->head + i) & (r->cap - 1)) * r->elem;
}

/* The oldest element, or NULL when empty. */
static inline void *tr_ring_peek(const struct tr_ring *r) { return r->len ? tr_ring_at(r, 0) : NULL; }

/* A new newest element, its bytes left as they were, for the caller to
 * fill in place (a large element is then written once, not built on the
 * stack and copied); NULL when the ring cannot grow (ring unchanged). Take
 * it back with tr_ring_pop_back(r, NULL) if filling it fails. */
static inline void *tr_ring_push_slot(struct tr_ring *r) {
    if (r->len == r->cap && tr_ring_reserve(r, 1) != 0) return NULL;
    return tr_ring_at(r, r->len++);
}

/* Append a copy of the elem bytes at e: 0 or -ENOMEM (ring unchanged). */
static inline int tr_ring_push(struct tr_ring *r, const void *e) {
    void *slot = tr_ring_push_slot(r);
    if (!slot) return -ENOMEM;
    memcpy(slot, e, r->elem);
    return 0;
}

/* Remove the oldest element, copying it to out unless out is NULL. false
 * when the ring is empty. */
static inline bool tr_ring_pop(struct tr_ring *r, void *out) {
    if (!r->len) return false;
    if (out) memcpy(out, tr_ring_at(r, 0), r->elem);
    r->head = (r->head + 1) & (r->cap - 1);
    r->len--;
    return true;
}

/* Remove the newest element, copying it to out unless out is NULL. false
 * when the ring is empty. */
static inline bool tr_ring_pop_back(struct tr_ring *r, void *out) {
    if (!r->len) return false;
    if (out) memcpy(out, tr_ring_at(r, r->len - 1), r->elem);
    r->len--;
    return true;
}

/* Keep the n oldest elements, forget the rest (n <= len). */
static inline void tr_ring_truncate(struct tr_ring *r, size_t n) {
    if (n < r->len) r->len = n;
}

/* Forget every element (the memory stays for reuse). */
static inline void tr_ring_clear(struct tr_ring *r) { r->head = r->len = 0; }

#endif
