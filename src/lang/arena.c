/* arena.c - bump allocation for syntax trees.
 *
 * Blocks of 16 KiB (or larger for big requests) are chained and freed
 * together; values and strings referenced by nodes are recorded so the arena
 * can drop their references when it dies. Not thread-safe, never shrinks.
 * Invariant: every pointer handed out stays valid until tr_arena_destroy.
 */
#include <errno.h>
#include <stdalign.h>
#include <string.h>

#include "core/alloc.h"
#include "lang/ast.h"

#define BLOCK 16384

struct blk {
    struct blk *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
};

struct tr_arena {
    struct blk *head;
    tr_value *keep;
    size_t nkeep, capkeep;
};

struct tr_arena *tr_arena_create(void) { return tr_calloc(1, sizeof(struct tr_arena)); }

void tr_arena_destroy(struct tr_arena *a) {
    if (!a) return;
    for (size_t i = 0; i < a->nkeep; i++) tr_value_unref(a->keep[i]);
    tr_free(a->keep);
    struct blk *b = a->head;
    while (b) {
        struct blk *n = b->next;
        tr_free(b);
        b = n;
    }
    tr_free(a);
}

void *tr_arena_alloc(struct tr_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > BLOCK ? n : BLOCK;
        struct blk *b = tr_malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += n;
    memset(p, 0, n);
    return p;
}

int tr_arena_keep(struct tr_arena *a, tr_value v) {
    if (v.type < TR_STR) return 0;
    if (tr_grow((void **)&a->keep, &a->capkeep, a->nkeep + 1, sizeof *a->keep)) {
        tr_value_unref(v);
        return -ENOMEM;
    }
    a->keep[a->nkeep++] = v;
    return 0;
}

int tr_arena_keep_str(struct tr_arena *a, struct tr_str *s) {
    if (!s) return 0;
    return tr_arena_keep(a, tr_v_strobj(s));
}

struct tr_node *tr_node_new(struct tr_arena *a, enum tr_nk kind, struct tr_span sp) {
    struct tr_node *n = tr_arena_alloc(a, sizeof *n);
    if (!n) return NULL;
    n->kind = (uint8_t)kind;
    n->sp = sp;
    n->slot = n->slot2 = -1;
    return n;
}

int tr_node_push(struct tr_arena *a, struct tr_node *n, struct tr_node *child) {
    /* capacities are powers of two, so a full vector is one whose length is */
    if (n->n == 0 || (n->n >= 4 && (n->n & (n->n - 1)) == 0)) {
        uint32_t cap = n->n == 0 ? 4 : n->n * 2;
        struct tr_node **v = tr_arena_alloc(a, cap * sizeof *v);
        if (!v) return -ENOMEM;
        if (n->n) memcpy(v, n->v, n->n * sizeof *v);
        n->v = v;
    }
    n->v[n->n++] = child;
    return 0;
}
