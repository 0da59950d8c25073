/* defer.c - the loop's deferred queue (see defer.h for why a uv_idle).
 *
 * Two circular lists with sentinels: `now` is drained by the next idle
 * callback, `later` is moved behind it once a drain ends. Nodes are
 * intrusive, so posting never allocates.
 */
#include "core/defer.h"

#include <assert.h>

static void list_init(struct tr_defer_node *s) { s->prev = s->next = s; }
static bool list_empty(const struct tr_defer_node *s) { return s->next == s; }

static void link_tail(struct tr_defer_node *s, struct tr_defer_node *n) {
    n->prev = s->prev;
    n->next = s;
    s->prev->next = n;
    s->prev = n;
}

static void unlink_node(struct tr_defer_node *n) {
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = NULL;
}

static void on_idle(uv_idle_t *h);

static void arm(struct tr_defer *q) {
    if (q->idle_open && !uv_is_active((uv_handle_t *)&q->idle)) uv_idle_start(&q->idle, on_idle);
}

int tr_defer_init(struct tr_defer *q, uv_loop_t *loop) {
    q->loop = loop;
    q->idle_open = 0;
    list_init(&q->now);
    list_init(&q->later);
    q->n = 0;
    q->forward = 0;
    q->draining = 0;
    q->ran = 0;
    q->closed = NULL;
    q->closed_arg = NULL;
    if (!loop) return 0;
    int rc = uv_idle_init(loop, &q->idle);
    if (rc) return rc;
    q->idle.data = q;
    q->idle_open = 1;
    return 0;
}

static void idle_closed(uv_handle_t *h) {
    struct tr_defer *q = h->data;
    if (q->closed) q->closed(q->closed_arg);
}

void tr_defer_close(struct tr_defer *q, void (*done)(void *arg), void *arg) {
    assert(list_empty(&q->now) && list_empty(&q->later));
    q->closed = done;
    q->closed_arg = arg;
    if (q->idle_open) {
        q->idle_open = 0;
        uv_close((uv_handle_t *)&q->idle, idle_closed);
        return;
    }
    if (done) done(arg);
}

void tr_defer_post(struct tr_defer *q, struct tr_defer_node *n) {
    if (tr_defer_queued(n)) return;
    link_tail(&q->now, n);
    q->n++;
    arm(q);
}

void tr_defer_post_later(struct tr_defer *q, struct tr_defer_node *n) {
    if (tr_defer_queued(n)) return;
    if (!q->loop) {
        tr_defer_post(q, n);
        return;
    }
    link_tail(&q->later, n);
    arm(q);
}

/* Which list n is on is not recorded: `now` keeps a count, so walk `later`
 * (short: yielding work only) to tell. */
static bool on_later(struct tr_defer *q, const struct tr_defer_node *n) {
    for (const struct tr_defer_node *x = q->later.next; x != &q->later; x = x->next)
        if (x == n) return true;
    return false;
}

void tr_defer_cancel(struct tr_defer *q, struct tr_defer_node *n) {
    if (!tr_defer_queued(n)) return;
    if (!on_later(q, n)) q->n--;
    unlink_node(n);
}

void tr_defer_each(struct tr_defer *q, void (*fn)(struct tr_defer_node *n, void *arg), void *arg) {
    struct tr_defer_node *lists[2] = {&q->now, &q->later};
    for (int i = 0; i < 2; i++)
        for (struct tr_defer_node *x = lists[i]->next, *nx; x != lists[i]; x = nx) {
            nx = x->next;
            fn(x, arg);
        }
}

/* `later` joins the tail of `now`. */
static void splice_later(struct tr_defer *q) {
    while (!list_empty(&q->later)) {
        struct tr_defer_node *n = q->later.next;
        unlink_node(n);
        link_tail(&q->now, n);
        q->n++;
    }
}

static size_t drain(struct tr_defer *q) {
    size_t budget = q->n + TR_DEFER_SPILL, ran = 0;
    q->draining = 1;
    while (!list_empty(&q->now) && (ran < budget || !q->loop)) {
        struct tr_defer_node *n = q->now.next;
        unlink_node(n);
        q->n--;
        /* the rule this module exists for: nothing deferred runs inside a
         * forward call */
        assert(q->forward == 0);
        n->run(n);
        ran++;
        if (!q->loop && list_empty(&q->now)) splice_later(q);
    }
    splice_later(q);
    q->draining = 0;
    q->ran += ran;
    return ran;
}

size_t tr_defer_run(struct tr_defer *q) {
    if (q->draining || q->forward) return 0;
    return drain(q);
}

static void on_idle(uv_idle_t *h) {
    struct tr_defer *q = h->data;
    drain(q);
    if (list_empty(&q->now)) uv_idle_stop(h);
}
