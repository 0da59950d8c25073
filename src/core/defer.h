/* defer.h - the loop's deferred queue: work that must not run inside the
 * call that caused it.
 *
 * One queue per loop. Whoever would call back into code that may still be
 * on the stack (an ack arriving while an offramp sends, a close that
 * completes inside close()) posts a node instead; the loop runs it later
 * from the top, as libuv itself feeds pending I/O callbacks (uv__io_feed)
 * into the next turn. Not an event system: a FIFO of intrusive nodes, no
 * allocation, no priorities.
 *
 * Why a uv_idle handle drains it (and not check or prepare): an idle handle
 * runs right after libuv's own pending callbacks, before the prepare handles
 * where the offramps write, so what a drained ack lets a qos::wal emit is
 * written in the same turn; and while it is active the poll does not block,
 * so a node posted anywhere (even from a prepare or check handle) waits at
 * most one poll(0). A check handle would leave a node posted in prepare
 * waiting for the next I/O, however long that takes. The handle is active
 * only while nodes wait, so an idle loop still sleeps.
 *
 * Invariant: a node runs at most once per post, never nested in another
 * node nor inside a forward call (tr_defer_forward() == 0 then; asserted).
 * Nodes run in post order. A drain runs every node queued when it began
 * plus at most TR_DEFER_SPILL posted while it runs; the rest waits for the
 * next turn, so a sink that acks at once cannot starve the loop.
 * Without a loop (tests, `tremor run`) nothing drains by itself: the owner
 * calls tr_defer_run() when it is back at the top. Loop thread only.
 */
#ifndef TR_DEFER_H
#define TR_DEFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define TR_DEFER_SPILL 1024

struct tr_defer_node;
typedef void (*tr_defer_fn)(struct tr_defer_node *n);

/* Embed one in whatever is posted; the owner keeps it alive while queued
 * (cancel it before freeing). */
struct tr_defer_node {
    struct tr_defer_node *prev, *next;   /* NULL when not queued */
    tr_defer_fn run;
};

struct tr_defer {
    uv_loop_t *loop;                     /* NULL: drained by tr_defer_run only */
    uv_idle_t idle;
    int idle_open;
    struct tr_defer_node now;            /* sentinel of the FIFO */
    struct tr_defer_node later;          /* sentinel: not before the next turn */
    size_t n;                            /* nodes in `now` */
    int forward;                         /* forward calls on the stack */
    int draining;
    uint64_t ran;                        /* nodes run so far */
    void (*closed)(void *arg);
    void *closed_arg;
};

static inline void tr_defer_node_init(struct tr_defer_node *n, tr_defer_fn run) {
    n->prev = n->next = NULL;
    n->run = run;
}
static inline bool tr_defer_queued(const struct tr_defer_node *n) { return n->next != NULL; }
/* 1 when n is queued to run next turn's drain last (nothing posted after it). */
static inline bool tr_defer_last(const struct tr_defer *q, const struct tr_defer_node *n) {
    return q->now.prev == n;
}

/* loop may be NULL. Errors: uv_idle_init's (negative). */
int tr_defer_init(struct tr_defer *q, uv_loop_t *loop);
/* Close the handle; done(arg) runs from its close callback (at once without
 * a loop, or when q was never initialised with one). Every node must have
 * been cancelled or run: the owners of what is still queued cancel it. */
void tr_defer_close(struct tr_defer *q, void (*done)(void *arg), void *arg);

/* Queue n at the tail (no-op when already queued: a node stands for "run
 * once more", so posting twice collapses). Never runs n now. */
void tr_defer_post(struct tr_defer *q, struct tr_defer_node *n);
/* Queue n so that it runs no earlier than the next turn (work that yields
 * the loop after its share). Without a loop, same as tr_defer_post. */
void tr_defer_post_later(struct tr_defer *q, struct tr_defer_node *n);
/* Take n out of the queue if it is there. */
void tr_defer_cancel(struct tr_defer *q, struct tr_defer_node *n);
/* Call fn for every queued node, in order; fn may cancel (and free) the
 * node it is given, nothing else. For an owner going away. */
void tr_defer_each(struct tr_defer *q, void (*fn)(struct tr_defer_node *n, void *arg), void *arg);

/* Run what is queued now, from the top of the caller's stack: no-op inside
 * a drain or a forward call. Returns how many nodes ran. */
size_t tr_defer_run(struct tr_defer *q);

/* The forward path (events travelling downstream) brackets itself with
 * these, so a drain can assert it never runs inside one. */
static inline void tr_defer_enter(struct tr_defer *q) { q->forward++; }
static inline void tr_defer_leave(struct tr_defer *q) { q->forward--; }
static inline int tr_defer_forward(const struct tr_defer *q) { return q->forward; }

#endif
