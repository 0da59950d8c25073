/* ledger.c - messages of connections and the events they became (ledger.h).
 *
 * Acks come per event id, in any order and maybe twice; messages must be
 * answered in order per connection. So acks land in a bit ring indexed by
 * id, and messages are settled from the oldest: one whose ids are all set
 * (or that failed) leaves, and the bits of ids below the next one are
 * cleared for reuse. The bits cover [base, top), base being the oldest
 * message's first id, so their size follows what is in flight.
 */
#include <errno.h>
#include <string.h>

#include "connectors/ledger.h"
#include "core/alloc.h"

struct tr_ledger_msg {
    void *conn;          /* NULL once forgotten */
    uint64_t first, end;
    bool failed;
};

void tr_ledger_init(struct tr_ledger *l) {
    memset(l, 0, sizeof *l);
    tr_ring_init(&l->msgs, sizeof(struct tr_ledger_msg));
}

void tr_ledger_fini(struct tr_ledger *l) {
    tr_ring_fini(&l->msgs);
    tr_free(l->bits);
    memset(l, 0, sizeof *l);
}

static struct tr_ledger_msg *msg_at(const struct tr_ledger *l, size_t i) {
    return tr_ring_at(&l->msgs, i);
}

static bool bit(const struct tr_ledger *l, uint64_t id) {
    uint64_t k = id & (l->nbits - 1);
    return l->bits[k >> 6] >> (k & 63) & 1;
}

static void set_bit(struct tr_ledger *l, uint64_t id, bool on) {
    uint64_t k = id & (l->nbits - 1);
    if (on) l->bits[k >> 6] |= (uint64_t)1 << (k & 63);
    else l->bits[k >> 6] &= ~((uint64_t)1 << (k & 63));
}

/* Room in the bit ring for ids up to (not including) end. */
static int cover(struct tr_ledger *l, uint64_t end) {
    uint64_t need = end - l->base;
    if (need <= l->nbits) return 0;
    uint64_t n = l->nbits ? l->nbits : 64;
    while (n < need) {
        if (n > UINT64_MAX / 2) return -ENOMEM;
        n *= 2;
    }
    if (n / 8 > SIZE_MAX) return -ENOMEM;
    uint64_t *b = tr_calloc((size_t)(n / 64), sizeof *b);
    if (!b) return -ENOMEM;
    struct tr_ledger old = *l;
    l->bits = b;
    l->nbits = n;
    if (old.nbits)
        for (uint64_t id = old.base; id < old.top; id++)
            if (bit(&old, id)) set_bit(l, id, true);
    tr_free(old.bits);
    return 0;
}

int tr_ledger_note(struct tr_ledger *l, void *conn, uint64_t first, uint64_t end) {
    if (end < first || first < l->top) return -EINVAL;
    if (!tr_ledger_pending(l)) l->base = l->scan = l->top = first;   /* every bit is clear */
    int rc = cover(l, end);
    if (rc) return rc;
    struct tr_ledger_msg m = {conn, first, end, false};
    rc = tr_ring_push(&l->msgs, &m);
    if (rc) return rc;
    if (end > l->top) l->top = end;
    return 0;
}

void tr_ledger_ack(struct tr_ledger *l, uint64_t min, uint64_t max) {
    if (!tr_ledger_pending(l)) return;
    uint64_t lo = min > l->base ? min : l->base;
    uint64_t hi = max < l->top ? max + 1 : l->top;   /* max < top: no overflow */
    for (uint64_t id = lo; id < hi; id++) set_bit(l, id, true);
}

void tr_ledger_fail(struct tr_ledger *l, uint64_t id) {
    size_t n = tr_ledger_pending(l);
    /* the last message starting at or before id: messages are in id order */
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (msg_at(l, mid)->first <= id) lo = mid + 1;
        else hi = mid;
    }
    /* it is the only one that can hold id: an empty message at id comes
     * before the one that starts there */
    if (lo == 0) return;
    struct tr_ledger_msg *m = msg_at(l, lo - 1);
    if (id < m->end) m->failed = true;
}

void tr_ledger_forget(struct tr_ledger *l, const void *conn) {
    for (size_t i = 0; i < tr_ledger_pending(l); i++)
        if (msg_at(l, i)->conn == conn) msg_at(l, i)->conn = NULL;
}

size_t tr_ledger_settle(struct tr_ledger *l,
                     void (*settled)(void *arg, void *conn, enum tr_ledger_outcome o), void *arg) {
    size_t n = 0;
    while (tr_ledger_pending(l)) {
        struct tr_ledger_msg *m = msg_at(l, 0);
        enum tr_ledger_outcome out = TR_LEDGER_FAILED;
        if (!m->failed) {
            uint64_t id = l->scan > m->first ? l->scan : m->first;
            while (id < m->end && bit(l, id)) id++;
            l->scan = id;
            if (id < m->end) break;
            out = TR_LEDGER_ACKED;
        }
        struct tr_ledger_msg done;
        tr_ring_pop(&l->msgs, &done);
        n++;
        uint64_t next = tr_ledger_pending(l) ? msg_at(l, 0)->first : l->top;
        for (uint64_t id = l->base; id < next; id++) set_bit(l, id, false);
        l->base = next;
        if (l->scan < next) l->scan = next;
        if (done.conn && settled) settled(arg, done.conn, out);
    }
    return n;
}
