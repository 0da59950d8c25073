/* spool.c - byte copies in blocks, let go oldest first (see spool.h).
 *
 * A block is [used) committed bytes of which the first [done) are released.
 * Releases walk the head block; when done reaches used and the block is not
 * the tail, it is taken off and kept as a spare (or freed). The tail block
 * is emptied in place when everything in it was released.
 */
#include "core/spool.h"

#include "core/alloc.h"

#include <assert.h>
#include <stdint.h>

struct tr_spool_block {
    struct tr_spool_block *next;
    size_t size, used, done;
    unsigned char data[];
};

void tr_spool_init(struct tr_spool *s) { *s = (struct tr_spool){0}; }

static void free_list(struct tr_spool_block *b) {
    while (b) {
        struct tr_spool_block *n = b->next;
        tr_free(b);
        b = n;
    }
}

void tr_spool_fini(struct tr_spool *s) {
    free_list(s->head);
    free_list(s->spare);
    tr_spool_init(s);
}

static struct tr_spool_block *new_block(struct tr_spool *s, size_t n) {
    struct tr_spool_block *b;
    if (n <= TR_SPOOL_BLOCK && s->spare) {
        b = s->spare;
        s->spare = b->next;
        s->nspare--;
    } else {
        size_t size = n > TR_SPOOL_BLOCK ? n : TR_SPOOL_BLOCK;
        if (size > SIZE_MAX - sizeof *b) return NULL;
        b = tr_malloc(sizeof *b + size);
        if (!b) return NULL;
        b->size = size;
    }
    b->next = NULL;
    b->used = b->done = 0;
    return b;
}

void *tr_spool_room(struct tr_spool *s, size_t n) {
    struct tr_spool_block *t = s->tail;
    if (t && t->size - t->used >= n) return t->data + t->used;
    struct tr_spool_block *b = new_block(s, n);
    if (!b) return NULL;
    if (t) t->next = b;
    else s->head = b;
    s->tail = b;
    return b->data;
}

void tr_spool_commit(struct tr_spool *s, size_t n) {
    assert(s->tail && s->tail->size - s->tail->used >= n);
    s->tail->used += n;
    s->bytes += n;
}

static void retire(struct tr_spool *s, struct tr_spool_block *b) {
    if (b->size == TR_SPOOL_BLOCK && s->nspare < TR_SPOOL_SPARES) {
        b->next = s->spare;
        s->spare = b;
        s->nspare++;
    } else {
        tr_free(b);
    }
}

void tr_spool_release(struct tr_spool *s, size_t n) {
    struct tr_spool_block *h = s->head;
    /* blocks emptied by earlier releases that a room call moved past */
    while (h && h->done == h->used && h != s->tail) {
        s->head = h->next;
        retire(s, h);
        h = s->head;
    }
    assert(h && h->used - h->done >= n);
    h->done += n;
    s->bytes -= n;
    if (h->done < h->used) return;
    if (h == s->tail && h->size == TR_SPOOL_BLOCK) {
        h->used = h->done = 0;   /* empty: fill it again from the start */
    } else if (h == s->tail) {
        /* a block sized for one big copy is not kept for small ones */
        s->head = s->tail = NULL;
        tr_free(h);
    } else {
        s->head = h->next;
        retire(s, h);
    }
}
