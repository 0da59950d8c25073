/* ack.c - acknowledgements, the frontier, and reclaiming acknowledged segments.
 *
 * The ring holds one entry per record between the frontier and the read
 * horizon (every record handed out at least once): its log position and an
 * ACKED bit. Acks may come in any order; the frontier only moves over a
 * contiguous acked prefix. Memory is 8 bytes per record in flight, never per
 * record in the backlog. Owner thread only, except the hand-over to the sync
 * thread (published frontier, reclaim list) which happens under mu.
 */
#include "wal/wal_int.h"

#include <errno.h>
#include <string.h>

#include "core/alloc.h"

void tr_wal_ring_fini(struct tr_wal_ring *r) {
    tr_free(r->e);
    memset(r, 0, sizeof *r);
}

uint64_t *tr_wal_ring_at(struct tr_wal_ring *r, size_t i) { return &r->e[(r->head + i) % r->cap]; }

int tr_wal_ring_push(struct tr_wal_ring *r, uint64_t v) {
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 1024;
        if (nc > SIZE_MAX / sizeof *r->e) return -ENOMEM;
        uint64_t *ne = tr_malloc(nc * sizeof *ne);
        if (!ne) return -ENOMEM;
        for (size_t i = 0; i < r->n; i++) ne[i] = *tr_wal_ring_at(r, i);
        tr_free(r->e);
        r->e = ne;
        r->cap = nc;
        r->head = 0;
    }
    r->e[(r->head + r->n) % r->cap] = v;
    r->n++;
    if (v & TR_WAL_RING_ACKED) r->nacked++;
    return 0;
}

uint64_t tr_wal_first_unacked_pos(struct tr_wal *w) {
    if (w->ring.n) return *tr_wal_ring_at(&w->ring, 0) & ~TR_WAL_RING_ACKED;
    return w->hpos;
}

/* Segments wholly at or below the frontier go to the sync thread, which
 * unlinks them only after a checkpoint holding this frontier is synced. */
static void reclaim(struct tr_wal *w, struct tr_wal_seg **list) {
    size_t k = 0;
    while (k < w->nsegs) {
        struct tr_wal_seg *s = w->segs[k];
        if (s == w->active) break;
        uint64_t last = k + 1 < w->nsegs ? w->segs[k + 1]->first_seq - 1 : w->next_seq - 1;
        if (last > w->frontier) break;
        if (w->rseg == s) tr_wal_reader_drop(w);
        s->next_link = *list;
        *list = s;
        k++;
    }
    if (!k) return;
    memmove(w->segs, w->segs + k, (w->nsegs - k) * sizeof *w->segs);
    w->nsegs -= k;
}

void tr_wal_frontier_advance(struct tr_wal *w) {
    struct tr_wal_ring *r = &w->ring;
    uint64_t before = w->frontier;
    while (r->n && (*tr_wal_ring_at(r, 0) & TR_WAL_RING_ACKED)) {
        r->head = (r->head + 1) % r->cap;
        r->n--;
        r->nacked--;
        w->frontier++;
    }
    if (w->frontier == before) return;
    if (w->cur <= w->frontier) w->cur = w->frontier + 1;

    struct tr_wal_seg *list = NULL;
    reclaim(w, &list);
    /* the horizon may sit on a marker of a segment just reclaimed */
    if (w->nsegs && w->hpos < w->segs[0]->g0) w->hpos = w->segs[0]->g0;
    uint64_t pos = tr_wal_first_unacked_pos(w), hseg = 0, hoff = 0;
    long ix = tr_wal_seg_lookup(w, pos);
    if (ix >= 0) {
        hseg = w->segs[ix]->first_seq;
        hoff = pos - w->segs[ix]->g0 + TR_WAL_SEG_HDR;
    }

    pthread_mutex_lock(&w->mu);
    w->pub_frontier = w->frontier;
    w->pub_hint_seg = hseg;
    w->pub_hint_off = hoff;
    if (list) {
        struct tr_wal_seg *t = list;
        while (t->next_link) t = t->next_link;
        t->next_link = w->reclaim;
        w->reclaim = list;
    }
    if (w->idle) pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
}

int tr_wal_ack(struct tr_wal *w, uint64_t seq) {
    if (!w) return -EINVAL;
    if (seq <= w->frontier) return 0;
    if (seq > w->frontier + w->ring.n) return -EINVAL;
    uint64_t *e = tr_wal_ring_at(&w->ring, (size_t)(seq - w->frontier - 1));
    if (*e & TR_WAL_RING_ACKED) return 0;
    *e |= TR_WAL_RING_ACKED;
    w->ring.nacked++;
    if (seq == w->frontier + 1) tr_wal_frontier_advance(w);
    return 0;
}

int tr_wal_ack_through(struct tr_wal *w, uint64_t seq) {
    if (!w) return -EINVAL;
    if (seq <= w->frontier) return 0;
    if (seq > w->frontier + w->ring.n) return -EINVAL;
    for (uint64_t s = w->frontier + 1; s <= seq; s++) {
        uint64_t *e = tr_wal_ring_at(&w->ring, (size_t)(s - w->frontier - 1));
        if (!(*e & TR_WAL_RING_ACKED)) {
            *e |= TR_WAL_RING_ACKED;
            w->ring.nacked++;
        }
    }
    tr_wal_frontier_advance(w);
    return 0;
}
