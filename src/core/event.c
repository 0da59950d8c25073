/* event.c - events, their ids (Tremor 0.11 EventId) and insights.
 *
 * Not the pipeline: nothing here routes events or acks. Invariant: an id's
 * tracked list is sorted by (source, stream) with one entry per pair, and as
 * soon as it is non-empty it also covers the id's own (source, stream,
 * event), exactly as Tremor's track() leaves it, so min/max lookups give the
 * same answers as get_min_by_source / get_max_by_source.
 */
#include "core/event.h"

#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

void tr_ids_init(struct tr_ids *ids, uint64_t source, uint64_t stream, uint64_t event) {
    ids->id.source = source;
    ids->id.stream = stream;
    ids->id.event = event;
    ids->ntracked = ids->cap = 0;
}

void tr_ids_fini(struct tr_ids *ids) {
    if (!ids) return;
    if (ids->cap > TR_IDS_INLINE) tr_free(ids->r.heap);
    ids->ntracked = ids->cap = 0;
}

void tr_ids_move(struct tr_ids *dst, struct tr_ids *src) {
    *dst = *src;   /* inline ranges are copied with it, a heap list changes hands */
    tr_ids_init(src, 0, 0, 0);
}

/* Room for need ranges, keeping those there; on failure nothing changes. */
int tr_ids_reserve(struct tr_ids *ids, size_t need) {
    if (need <= TR_IDS_INLINE || need <= ids->cap) return 0;
    if (need > UINT32_MAX) return -ENOMEM;
    if (ids->cap > TR_IDS_INLINE) {
        size_t cap = ids->cap;
        int rc = tr_grow((void **)&ids->r.heap, &cap, need, sizeof *ids->r.heap);
        if (rc) return rc;
        ids->cap = cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
        return 0;
    }
    /* from inline to the heap: at least twice the inline room */
    size_t cap = need < 2 * TR_IDS_INLINE ? 2 * TR_IDS_INLINE : need;
    struct tr_tracked *heap = tr_malloc(cap * sizeof *heap);
    if (!heap) return -ENOMEM;
    memcpy(heap, ids->r.inl, (size_t)ids->ntracked * sizeof *heap);
    ids->r.heap = heap;
    ids->cap = (uint32_t)cap;
    return 0;
}

int tr_ids_copy(struct tr_ids *dst, const struct tr_ids *src) {
    tr_ids_init(dst, src->id.source, src->id.stream, src->id.event);
    if (!src->ntracked) return 0;
    int rc = tr_ids_reserve(dst, src->ntracked);
    if (rc) return rc;
    memcpy(tr_ids_tracked(dst), tr_ids_list(src), (size_t)src->ntracked * sizeof(struct tr_tracked));
    dst->ntracked = src->ntracked;
    return 0;
}

/* Binary search for (source, stream); returns the position where it is or
 * would be inserted, *found tells which. */
static uint32_t find_pair(const struct tr_ids *ids, uint64_t source, uint64_t stream, int *found) {
    const struct tr_tracked *list = tr_ids_list(ids);
    uint32_t lo = 0, hi = ids->ntracked;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const struct tr_tracked *t = &list[mid];
        if (t->source < source || (t->source == source && t->stream < stream))
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < ids->ntracked && list[lo].source == source && list[lo].stream == stream;
    return lo;
}

/* Merge one range; room for a new entry has been reserved by the caller. */
static void track_range(struct tr_ids *ids, uint64_t source, uint64_t stream, uint64_t min, uint64_t max) {
    int found;
    uint32_t pos = find_pair(ids, source, stream, &found);
    struct tr_tracked *t = &tr_ids_tracked(ids)[pos];
    if (found) {
        if (min < t->min) t->min = min;
        if (max > t->max) t->max = max;
        return;
    }
    if (pos < ids->ntracked)   /* usually appended at the end: no call for nothing */
        memmove(t + 1, t, (size_t)(ids->ntracked - pos) * sizeof *t);
    *t = (struct tr_tracked){source, stream, min, max};
    ids->ntracked++;
}

/* At most how many (source, stream) pairs tracking other adds to ids. */
static size_t new_pairs(const struct tr_ids *ids, const struct tr_ids *other) {
    if (ids->ntracked == 0) return 2 + (size_t)other->ntracked;   /* own, other's, its ranges */
    const struct tr_tracked *list = tr_ids_list(other);
    int found;
    size_t n = 0;
    find_pair(ids, other->id.source, other->id.stream, &found);
    n += !found;
    for (uint32_t i = 0; i < other->ntracked; i++) {
        find_pair(ids, list[i].source, list[i].stream, &found);
        n += !found;
    }
    return n;
}

int tr_ids_track(struct tr_ids *ids, const struct tr_ids *other) {
    /* Make room first, so a failure leaves ids untouched: the worst case
     * (our own triple, other's triple and each of other's ranges) when it
     * fits, else the pairs that are actually new (merging into a list that
     * already has them, as a window's release runs do, needs no more). */
    size_t cap = ids->cap > TR_IDS_INLINE ? ids->cap : TR_IDS_INLINE;
    size_t need = (size_t)ids->ntracked + 2 + other->ntracked;
    if (need > cap) need = (size_t)ids->ntracked + new_pairs(ids, other);
    int rc = tr_ids_reserve(ids, need);
    if (rc) return rc;
    /* Tremor keeps its own id resolvable once anything else is tracked. */
    if (ids->ntracked == 0) {
        tr_ids_tracked(ids)[0] =
            (struct tr_tracked){ids->id.source, ids->id.stream, ids->id.event, ids->id.event};
        ids->ntracked = 1;
    }
    track_range(ids, other->id.source, other->id.stream, other->id.event, other->id.event);
    const struct tr_tracked *list = tr_ids_list(other);
    for (uint32_t i = 0; i < other->ntracked; i++)
        track_range(ids, list[i].source, list[i].stream, list[i].min, list[i].max);
    return 0;
}

int tr_ids_extend(struct tr_ids *run, const struct tr_ids *next) {
    if (run->ntracked == 0 || run->ntracked != next->ntracked) return 0;
    if (run->id.source != next->id.source || run->id.stream != next->id.stream ||
        run->id.event == UINT64_MAX || next->id.event != run->id.event + 1)
        return 0;
    struct tr_tracked *a = tr_ids_tracked(run);
    const struct tr_tracked *b = tr_ids_list(next);
    for (uint32_t i = 0; i < run->ntracked; i++)
        if (a[i].source != b[i].source || a[i].stream != b[i].stream || a[i].max == UINT64_MAX ||
            b[i].min != a[i].max + 1)
            return 0;
    for (uint32_t i = 0; i < run->ntracked; i++) a[i].max = b[i].max;
    run->id = next->id;
    return 1;
}

/* Among the entries of source, Tremor picks the one with the highest
 * (max) or lowest (min) stream id, not the extreme event id overall. */
int tr_ids_max_for(const struct tr_ids *ids, uint64_t source, uint64_t *out) {
    if (ids->ntracked == 0) {
        if (ids->id.source != source) return TR_ENOTFOUND;
        *out = ids->id.event;
        return 0;
    }
    int found;
    uint32_t pos = find_pair(ids, source, UINT64_MAX, &found);
    if (found) {
        *out = tr_ids_list(ids)[pos].max;
        return 0;
    }
    /* pos is just past the last entry of source, if there is one */
    const struct tr_tracked *list = tr_ids_list(ids);
    if (pos == 0 || list[pos - 1].source != source) return TR_ENOTFOUND;
    *out = list[pos - 1].max;
    return 0;
}

int tr_ids_range_for_stream(const struct tr_ids *ids, uint64_t source, uint64_t stream, uint64_t *lo,
                            uint64_t *hi) {
    if (ids->ntracked == 0) {
        if (ids->id.source != source || ids->id.stream != stream) return TR_ENOTFOUND;
        *lo = *hi = ids->id.event;
        return 0;
    }
    int found;
    uint32_t pos = find_pair(ids, source, stream, &found);
    if (!found) return TR_ENOTFOUND;
    *lo = tr_ids_list(ids)[pos].min;
    *hi = tr_ids_list(ids)[pos].max;
    return 0;
}

int tr_ids_min_for(const struct tr_ids *ids, uint64_t source, uint64_t *out) {
    if (ids->ntracked == 0) {
        if (ids->id.source != source) return TR_ENOTFOUND;
        *out = ids->id.event;
        return 0;
    }
    int found;
    uint32_t pos = find_pair(ids, source, 0, &found);
    if (pos == ids->ntracked || tr_ids_list(ids)[pos].source != source) return TR_ENOTFOUND;
    *out = tr_ids_list(ids)[pos].min;
    return 0;
}

int tr_event_init(struct tr_event *ev, tr_value value, tr_value meta, uint64_t ingest_ns) {
    tr_ids_init(&ev->ids, 0, 0, 0);
    ev->ingest_ns = ingest_ns;
    ev->transactional = false;
    ev->is_batch = false;
    ev->raw = NULL;
    ev->raw_of = NULL;
    ev->value = tr_v_null();
    ev->meta = tr_v_null();
    if (meta.type != TR_NULL && meta.type != TR_REC) {
        tr_value_unref(value);
        tr_value_unref(meta);
        return -EINVAL;
    }
    /* the shared {}: most events never get metadata, so none is allocated */
    if (meta.type == TR_NULL) meta = tr_v_rec_empty();
    ev->value = value;
    ev->meta = meta;
    return 0;
}

void tr_event_fini(struct tr_event *ev) {
    if (!ev) return;
    tr_event_drop_raw(ev);
    tr_value_unref(ev->value);
    tr_value_unref(ev->meta);
    ev->value = ev->meta = tr_v_null();
    tr_ids_fini(&ev->ids);
}

int tr_event_copy(struct tr_event *dst, const struct tr_event *src) {
    int rc = tr_ids_copy(&dst->ids, &src->ids);
    dst->ingest_ns = src->ingest_ns;
    dst->transactional = src->transactional;
    dst->is_batch = src->is_batch;
    dst->raw = NULL;
    dst->raw_of = NULL;
    if (rc) {
        dst->value = dst->meta = tr_v_null();
        return rc;
    }
    dst->value = tr_value_ref(src->value);
    dst->meta = tr_value_ref(src->meta);
    tr_event_inherit_raw(dst, src);
    return 0;
}

/* raw_of as the value holding its reference */
static tr_value raw_rec(const struct tr_event *ev) {
    tr_value v;
    v.type = TR_REC;
    v.as.r = ev->raw_of;
    return v;
}

void tr_event_keep_raw(struct tr_event *ev, struct tr_str *text) {
    tr_event_drop_raw(ev);
    if (ev->value.type != TR_REC) {
        tr_str_unref(text);
        return;
    }
    ev->raw = text;
    ev->raw_of = tr_value_ref(ev->value).as.r;
}

void tr_event_drop_raw(struct tr_event *ev) {
    if (!ev->raw) return;
    tr_str_unref(ev->raw);
    tr_value_unref(raw_rec(ev));
    ev->raw = NULL;
    ev->raw_of = NULL;
}

void tr_event_use_raw(struct tr_event *ev) {
    if (tr_event_raw_current(ev)) {
        tr_value_unref(ev->value);   /* raw_of still holds the record */
        ev->value.type = TR_RAWJSON;
        ev->value.as.s = tr_str_ref(ev->raw);
    }
    tr_event_drop_raw(ev);
}

void tr_event_inherit_raw(struct tr_event *dst, const struct tr_event *src) {
    if (dst->raw || !tr_event_raw_current(src) || dst->value.type != TR_REC ||
        dst->value.as.r != src->raw_of)
        return;
    dst->raw = tr_str_ref(src->raw);
    dst->raw_of = tr_value_ref(dst->value).as.r;
}

void tr_insight_init(struct tr_insight *in, enum tr_cb cb) {
    in->cb = cb;
    tr_ids_init(&in->ids, 0, 0, 0);
}

void tr_insight_fini(struct tr_insight *in) {
    if (!in) return;
    tr_ids_fini(&in->ids);
}

const char *tr_cb_name(enum tr_cb cb) {
    switch (cb) {
    case TR_CB_NONE: return "none";
    case TR_CB_ACK: return "ack";
    case TR_CB_FAIL: return "fail";
    case TR_CB_TRIGGER: return "trigger";
    case TR_CB_RESTORE: return "restore";
    case TR_CB_RELEASE: return "release";
    }
    return "unknown";
}
