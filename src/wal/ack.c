/* ack.c - acknowledgements, the frontier, and reclaiming acknowledged segments.
 *
 * The ring holds one entry per record between the frontier and the read
 * horizon (every record handed out at least once): its log position and an
 * ACKED bit. Acks may come in any order; the frontier only moves over a
 * contiguous acked prefix. Memory is 8 bytes per record in flight, never per
 * record in the backlog. Owner thread only, except the hand-over to the sync
 * thread (published frontier, reclaim list) which happens under mu. The
 * active segment is reclaimed too while the disk is full and every record
 * is acknowledged (see active_reclaimable).
 */
#include "wal/wal_int.h"

#include <errno.h>
#include <string.h>

#include "core/alloc.h"

uint64_t tr_wal_first_unacked_pos(struct tr_wal *w) {
    if (tr_wal_ring_n(&w->ring)) return *tr_wal_ring_at(&w->ring, 0) & ~TR_WAL_RING_ACKED;
    return w->hpos;
}

/* The active segment may go too while the disk is full and everything in
 * it is acknowledged: otherwise a full disk and an acknowledged log would
 * wait for each other for ever. Every record is then written (durable,
 * even), and nothing more goes into the file: what the owner's chunk holds
 * was handed over, and the chunk is retired; the next append makes a new
 * segment. */
static int active_reclaimable(const struct tr_wal *w) {
    return w->nospace && w->frontier + 1 == w->next_seq && (!w->chunk || w->chunk->len == w->chunk->hand);
}

/* Segments wholly at or below the frontier go to the sync thread, which
 * unlinks them only after a checkpoint holding this frontier is synced.
 * Returns 1 if the active segment went too. */
static int reclaim(struct tr_wal *w, struct tr_wal_seg **list) {
    size_t k = 0;
    int took_active = 0;
    while (k < w->nsegs) {
        struct tr_wal_seg *s = w->segs[k];
        if (s == w->active) {
            if (!active_reclaimable(w)) break;
            took_active = 1;
        }
        uint64_t last = k + 1 < w->nsegs ? w->segs[k + 1]->first_seq - 1 : w->next_seq - 1;
        if (last > w->frontier) break;
        if (w->rseg == s) tr_wal_reader_drop(w);
        s->next_link = *list;
        *list = s;
        k++;
    }
    if (!k) return 0;
    memmove(w->segs, w->segs + k, (w->nsegs - k) * sizeof *w->segs);
    w->nsegs -= k;
    return took_active;
}

/* The frontier moved (or the active segment became reclaimable): reclaim
 * and publish the frontier and its hint to the sync thread. */
static void settle(struct tr_wal *w) {
    struct tr_wal_seg *list = NULL;
    int took_active = reclaim(w, &list);
    /* the horizon may sit on a marker of a segment just reclaimed */
    if (w->nsegs && w->hpos < w->segs[0]->g0) w->hpos = w->segs[0]->g0;
    uint64_t pos = tr_wal_first_unacked_pos(w), hseg = 0, hoff = 0;
    long ix = tr_wal_seg_lookup(w, pos);
    if (ix >= 0) {
        hseg = w->segs[ix]->first_seq;
        hoff = pos - w->segs[ix]->g0 + TR_WAL_SEG_HDR;
    }

    pthread_mutex_lock(&w->mu);
    /* An idle sync thread needs waking for segments to close or unlink, or
     * when the frontier starts to differ from the persisted one (it then
     * sleeps until the checkpoint interval is over, see syncer.c); while it
     * already differs, that deadline stands, and waking it for every ack
     * only costs a futex wake, a wait and a contended mu per record. */
    int wake = list || took_active || w->pub_frontier == w->persisted_frontier;
    if (took_active) {   /* the sync thread closes its fd before the unlink */
        w->active = NULL;
        w->active_off = 0;
        tr_wal_chunk_retire(w);
    }
    w->pub_frontier = w->frontier;
    w->pub_hint_seg = hseg;
    w->pub_hint_off = hoff;
    if (list) {
        struct tr_wal_seg *t = list;
        while (t->next_link) t = t->next_link;
        t->next_link = w->reclaim;
        w->reclaim = list;
    }
    if (w->idle && wake) pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
}

void tr_wal_frontier_advance(struct tr_wal *w) {
    struct tr_wal_ring *r = &w->ring;
    uint64_t before = w->frontier;
    while (tr_wal_ring_n(r) && (*tr_wal_ring_at(r, 0) & TR_WAL_RING_ACKED)) {
        tr_ring_pop(&r->e, NULL);
        r->nacked--;
        w->frontier++;
    }
    if (w->frontier == before) return;
    if (w->cur <= w->frontier) w->cur = w->frontier + 1;
    settle(w);
}

void tr_wal_frontier_jump(struct tr_wal *w, uint64_t frontier) {
    if (tr_wal_ring_n(&w->ring) || frontier <= w->frontier) return;
    w->frontier = frontier;
    if (w->cur <= w->frontier) w->cur = w->frontier + 1;
    settle(w);
}

void tr_wal_reclaim_active(struct tr_wal *w) {
    if (w->active && active_reclaimable(w)) settle(w);
}

/* Records lo..hi acknowledged: those at or below the frontier are no-ops,
 * those handed out are marked even when the run goes past the last one
 * handed out (-EINVAL then), and the frontier moves once. One record and a
 * prefix are runs too. */
static int ack_range(struct tr_wal *w, uint64_t lo, uint64_t hi) {
    if (!w || lo > hi) return -EINVAL;
    uint64_t out = w->frontier + tr_wal_ring_n(&w->ring);   /* the last handed out */
    int rc = hi > out ? -EINVAL : 0;
    if (hi > out) hi = out;
    if (lo <= w->frontier) lo = w->frontier + 1;
    if (lo > hi) return rc;
    for (uint64_t s = lo; s <= hi; s++) {
        uint64_t *e = tr_wal_ring_at(&w->ring, (size_t)(s - w->frontier - 1));
        if (!(*e & TR_WAL_RING_ACKED)) {
            *e |= TR_WAL_RING_ACKED;
            w->ring.nacked++;
        }
    }
    if (lo == w->frontier + 1) tr_wal_frontier_advance(w);
    return rc;
}

/* A prefix past what was handed out acknowledges nothing. */
static int ack_through(struct tr_wal *w, uint64_t seq) {
    if (!w) return -EINVAL;
    if (seq <= w->frontier) return 0;
    if (seq > w->frontier + tr_wal_ring_n(&w->ring)) return -EINVAL;
    return ack_range(w, w->frontier + 1, seq);
}

int tr_wal_ack_range(struct tr_wal *w, uint64_t lo, uint64_t hi) {
    int rc = ack_range(w, lo, hi);
    if (w) TR_CHECK(tr_wal_broken(w));
    return rc;
}

int tr_wal_ack(struct tr_wal *w, uint64_t seq) {
    int rc = ack_range(w, seq, seq);
    if (w) TR_CHECK(tr_wal_broken(w));
    return rc;
}

int tr_wal_ack_through(struct tr_wal *w, uint64_t seq) {
    int rc = ack_through(w, seq);
    if (w) TR_CHECK(tr_wal_broken(w));
    return rc;
}
