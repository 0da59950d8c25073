/* event.h - one event and the ids that let acks find their way back.
 *
 * An event is a value, its metadata record ($), its ids and the time it was
 * ingested. Ids follow Tremor 0.11: (source, stream, event) plus a sorted
 * list of tracked ranges (source, stream, min, max) of the events it was
 * derived from, so an ack or fail for a derived event can be mapped back to
 * every input. An insight is the contraflow message: ack, fail, or a circuit
 * breaker trigger (stop sending) / restore (resume).
 */
#ifndef TR_EVENT_H
#define TR_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/value.h"

struct tr_eid {
    uint64_t source;
    uint64_t stream;
    uint64_t event;
};

struct tr_tracked {
    uint64_t source;
    uint64_t stream;
    uint64_t min;
    uint64_t max;
};

/* Up to TR_IDS_INLINE tracked ranges live inside the ids themselves: an
 * event that went through one operator with a window (its own id plus its
 * source's) tracks two, and allocating them cost a malloc per event that
 * stayed alive as long as the event was in flight. */
#define TR_IDS_INLINE 2

struct tr_ids {
    struct tr_eid id;
    uint32_t ntracked;
    uint32_t cap;     /* > TR_IDS_INLINE: the ranges are on the heap (owned) */
    union {
        struct tr_tracked *heap;
        struct tr_tracked inl[TR_IDS_INLINE];
    } r;
};

/* The tracked ranges, sorted by (source, stream); ntracked of them. The
 * pointer is into ids when they are inline: it does not survive a move. */
static inline struct tr_tracked *tr_ids_tracked(struct tr_ids *ids) {
    return ids->cap > TR_IDS_INLINE ? ids->r.heap : ids->r.inl;
}
static inline const struct tr_tracked *tr_ids_list(const struct tr_ids *ids) {
    return ids->cap > TR_IDS_INLINE ? ids->r.heap : ids->r.inl;
}

struct tr_event {
    struct tr_ids ids;
    tr_value value;      /* owned */
    tr_value meta;       /* owned; a record ({} by default) */
    uint64_t ingest_ns;
    bool transactional;
    /* Tremor's is_batch: value is an array of {"data": {"value", "meta",
     * ...}} (generic::batch); offramps encode each element's value. */
    bool is_batch;
    /* The JSON text value was decoded from, kept while value is still that
     * record: raw_of holds a reference to it, so anything that changes the
     * record copies it first (tr_value_mut) and value then points elsewhere.
     * Both NULL, or both owned. Lets an offramp or the WAL write the text
     * again instead of encoding (tr_event_raw_current, tr_event_use_raw). */
    struct tr_str *raw;
    struct tr_rec *raw_of;
};

enum tr_cb {
    TR_CB_NONE = 0,   /* handled: do not forward */
    TR_CB_ACK,        /* delivered: the source may forget it */
    TR_CB_FAIL,       /* not delivered: the source should resend it */
    TR_CB_TRIGGER,    /* circuit breaker: stop sending (Tremor's CbAction::Close) */
    TR_CB_RESTORE,    /* circuit breaker: resume (Tremor's CbAction::Open) */
    /* The peer has it but may still lose it (e.g. inside a confirmation
     * linger): free its slot in the source's in-flight window, but keep it
     * until the ACK, or resend it after a FAIL, that always follows. Sources
     * without a window ignore it. */
    TR_CB_RELEASE,
};

struct tr_insight {
    enum tr_cb cb;
    struct tr_ids ids;
};

void tr_ids_init(struct tr_ids *ids, uint64_t source, uint64_t stream, uint64_t event);
void tr_ids_fini(struct tr_ids *ids);
int tr_ids_copy(struct tr_ids *dst, const struct tr_ids *src);  /* dst uninitialised */
/* Room for need tracked ranges, keeping those there (a decoder filling
 * them in, tracking before it merges); 0 or -ENOMEM, ids unchanged. */
int tr_ids_reserve(struct tr_ids *ids, size_t need);
/* dst takes src's ids and tracked list without copying; src is left empty
 * (all ids 0, nothing tracked), so finalising it later frees nothing.
 * dst must be uninitialised or finalised: what it held is not freed. */
void tr_ids_move(struct tr_ids *dst, struct tr_ids *src);
/* Add other's own id and all its tracked ranges to ids (Tremor's track()). */
int tr_ids_track(struct tr_ids *ids, const struct tr_ids *other);
/* Merge next into run when next follows it exactly: the same own
 * (source, stream) with the next event id, and the same tracked pairs,
 * each range of next starting one past run's. Then run refers to every id
 * of both and no other, and 1 is returned; otherwise 0 and run is
 * unchanged. Ids that track nothing are never merged (an own id alone
 * cannot hold a range). For runs of acks to one operator (pipeline.c). */
int tr_ids_extend(struct tr_ids *run, const struct tr_ids *next);
/* Highest / lowest event id ids refers to for source; 0 = found, TR_ENOTFOUND. */
int tr_ids_max_for(const struct tr_ids *ids, uint64_t source, uint64_t *out);
int tr_ids_min_for(const struct tr_ids *ids, uint64_t source, uint64_t *out);
/* Lowest and highest event id ids refers to for (source, stream) exactly;
 * 0 = found, TR_ENOTFOUND. */
int tr_ids_range_for_stream(const struct tr_ids *ids, uint64_t source, uint64_t stream, uint64_t *lo,
                            uint64_t *hi);

/* Event lifetime: init takes value and meta; meta TR_NULL becomes the shared
 * {} (tr_v_rec_empty: no allocation, so init fails only on a meta that is
 * not a record). */
int tr_event_init(struct tr_event *ev, tr_value value, tr_value meta, uint64_t ingest_ns);
void tr_event_fini(struct tr_event *ev);
int tr_event_copy(struct tr_event *dst, const struct tr_event *src);  /* shares values by ref */

/* Keep text (its reference is taken), the canonical JSON of ev->value (a
 * record just decoded from it: tr_json_decode_canon said so). Drops any
 * text kept before; if ev->value is not a record, text is let go. */
void tr_event_keep_raw(struct tr_event *ev, struct tr_str *text);
/* Whether ev->value is still the record the kept text encodes. */
static inline bool tr_event_raw_current(const struct tr_event *ev) {
    return ev->raw && ev->value.type == TR_REC && ev->value.as.r == ev->raw_of;
}
/* Where nothing reads the value any more: if the kept text is current,
 * ev->value becomes the TR_RAWJSON of it (the record is let go); the kept
 * text is dropped either way. */
void tr_event_use_raw(struct tr_event *ev);
/* Drop the kept text, if any. */
void tr_event_drop_raw(struct tr_event *ev);
/* dst (a new event) keeps src's text when dst's value is src's record. */
void tr_event_inherit_raw(struct tr_event *dst, const struct tr_event *src);

void tr_insight_init(struct tr_insight *in, enum tr_cb cb);
void tr_insight_fini(struct tr_insight *in);
const char *tr_cb_name(enum tr_cb cb);

/* tr_now_ns, the wall clock events are stamped with, is core/clock.h's. */

#endif
