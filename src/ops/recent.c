/* recent.c - a fixed table of recently forwarded events (see ops_int.h).
 *
 * Lets an operator recognise the insights that answer its own events
 * without per-event metadata in the pipeline. Not exact: an entry lives
 * until a later event hashes to its slot. Invariant: a hit always returns
 * the entry put last for exactly that (source, stream, event).
 */
#include "ops/ops_int.h"

static size_t slot_of(const struct tr_eid *id) {
    uint64_t h = id->source * 0x9E3779B97F4A7C15ull ^ id->stream * 0xC2B2AE3D27D4EB4Full ^
                 id->event * 0x165667B19E3779F9ull;
    return (size_t)(h ^ (h >> 29)) & (TR_OP_RECENT_SLOTS - 1);
}

void tr_op_recent_put(struct tr_op_recent *r, const struct tr_eid *id, uint64_t ingest_ns,
                      uint32_t tag) {
    struct tr_op_seen *s = &r->slot[slot_of(id)];
    s->id = *id;
    s->ingest_ns = ingest_ns;
    s->tag = tag;
    s->used = 1;
}

const struct tr_op_seen *tr_op_recent_get(const struct tr_op_recent *r, const struct tr_eid *id) {
    const struct tr_op_seen *s = &r->slot[slot_of(id)];
    if (!s->used || s->id.source != id->source || s->id.stream != id->stream ||
        s->id.event != id->event)
        return NULL;
    return s;
}
