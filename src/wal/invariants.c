/* invariants.c - what must hold of the owner's view of a WAL between two
 * calls (see core/check.h). Cheap enough to run after every operation in
 * the checked build: no walk over the ring or the backlog. */
#include "wal/wal_int.h"

const char *tr_wal_broken(const struct tr_wal *w) {
    if (w->frontier >= w->next_seq) return "frontier < next_seq (only appended records are acknowledged)";
    const size_t n = tr_wal_ring_n(&w->ring);
    if (w->frontier + n >= w->next_seq)
        return "frontier + ring.n < next_seq (the ring covers appended records only)";
    if (w->ring.nacked > n) return "ring.nacked <= ring.n";
    if (n) {
        if (w->ring.nacked == n) return "an acknowledged ring head is popped (some entry is not acked)";
        const uint64_t head = *tr_wal_ring_at(&w->ring, 0);
        if (head & TR_WAL_RING_ACKED) return "the ring's head entry is not acknowledged (the frontier moved over it)";
    }
    if (w->cur > w->frontier + n + 1) return "the cursor is at most one past the read horizon";
    if (w->durable_seq >= w->next_seq) return "durable_seq < next_seq (nothing unappended is durable)";
    for (size_t i = 1; i < w->nsegs; i++) {
        if (w->segs[i]->first_seq <= w->segs[i - 1]->first_seq)
            return "segments in increasing order of first sequence number";
        if (w->segs[i]->g0 < w->segs[i - 1]->g0) return "segments in order of log position (an empty one takes none)";
    }
    return NULL;
}
