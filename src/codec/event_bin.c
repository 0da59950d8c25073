/* event_bin.c - event record layout:
 *
 *   u8       version (1)
 *   u8       flags: bit 0 = transactional, bit 1 = a batch (generic::batch)
 *   u64 LE   ingest_ns
 *   uvarint  source, stream, event           the event's own id
 *   uvarint  n                               tracked ranges, then n times:
 *   uvarint  source, stream, min, max
 *   value    the event's value  (bin.h)
 *   value    the event's meta   (bin.h)
 * Nothing may follow; a record with trailing bytes is corrupt.
 */
#include "codec/event_bin.h"

#include <errno.h>
#include <stdint.h>

#include "codec/bin.h"
#include "core/alloc.h"

#define VERSION 1

int tr_event_encode(const struct tr_event *ev, struct tr_buf *out) {
    const struct tr_ids *ids = &ev->ids;
    const struct tr_tracked *list = tr_ids_list(ids);
    /* the head and every uvarint (10 bytes at most each) in one reserve;
     * ntracked is 32-bit, so this cannot overflow */
    size_t old = out->len;
    int rc = tr_buf_reserve(out, 10 + 40 + 40 * (size_t)ids->ntracked);
    if (rc) return rc;
    char *p = out->data + out->len;
    p[0] = VERSION;
    p[1] = (char)((ev->transactional ? 1 : 0) | (ev->is_batch ? 2 : 0));
    for (int i = 0; i < 8; i++) p[2 + i] = (char)(unsigned char)(ev->ingest_ns >> (8 * i));
    p += 10;
    p += tr_bin_uvarint_at(p, ids->id.source);
    p += tr_bin_uvarint_at(p, ids->id.stream);
    p += tr_bin_uvarint_at(p, ids->id.event);
    p += tr_bin_uvarint_at(p, ids->ntracked);
    for (uint32_t i = 0; i < ids->ntracked; i++) {
        p += tr_bin_uvarint_at(p, list[i].source);
        p += tr_bin_uvarint_at(p, list[i].stream);
        p += tr_bin_uvarint_at(p, list[i].min);
        p += tr_bin_uvarint_at(p, list[i].max);
    }
    out->len = (size_t)(p - out->data);
    out->data[out->len] = 0;
    rc = tr_bin_encode(&ev->value, out);
    if (!rc) rc = tr_bin_encode(&ev->meta, out);
    if (rc) tr_buf_truncate(out, old);
    return rc;
}

int tr_event_decode(const char *data, size_t len, struct tr_event *ev) {
    tr_value value = tr_v_null(), meta = tr_v_null();
    struct tr_ids ids;
    uint64_t src, stream, event, n;
    size_t off = 10;
    tr_ids_init(&ids, 0, 0, 0);
    ev->value = ev->meta = tr_v_null();
    ev->raw = NULL;
    ev->raw_of = NULL;
    tr_ids_init(&ev->ids, 0, 0, 0);
    if (len < 10 || data[0] != VERSION || ((unsigned char)data[1] & ~3u)) return TR_ECORRUPT;
    uint64_t ingest = 0;
    for (int i = 0; i < 8; i++) ingest |= (uint64_t)(unsigned char)data[2 + i] << (8 * i);
    int rc = tr_bin_get_uvarint(data, len, &off, &src);
    if (!rc) rc = tr_bin_get_uvarint(data, len, &off, &stream);
    if (!rc) rc = tr_bin_get_uvarint(data, len, &off, &event);
    if (!rc) rc = tr_bin_get_uvarint(data, len, &off, &n);
    if (!rc && n > (len - off) / 4) rc = TR_ECORRUPT;  /* each range takes >= 4 bytes */
    if (rc) return TR_ECORRUPT;
    tr_ids_init(&ids, src, stream, event);
    if (tr_ids_reserve(&ids, (size_t)n)) return -ENOMEM;
    for (uint64_t i = 0; i < n; i++) {
        struct tr_tracked *t = &tr_ids_tracked(&ids)[i];
        if (tr_bin_get_uvarint(data, len, &off, &t->source) ||
            tr_bin_get_uvarint(data, len, &off, &t->stream) ||
            tr_bin_get_uvarint(data, len, &off, &t->min) ||
            tr_bin_get_uvarint(data, len, &off, &t->max)) {
            rc = TR_ECORRUPT;
            goto fail;
        }
        ids.ntracked++;
    }
    rc = tr_bin_decode(data, len, &off, &value);
    /* most events have no metadata: they share {} (meta stays null here) */
    if (!rc && !tr_bin_skip_empty_rec(data, len, &off)) rc = tr_bin_decode(data, len, &off, &meta);
    if (!rc && off != len) rc = TR_ECORRUPT;
    if (rc) goto fail;
    rc = tr_event_init(ev, value, meta, ingest);
    value = meta = tr_v_null();
    if (rc) goto fail;
    tr_ids_fini(&ev->ids);
    tr_ids_move(&ev->ids, &ids);
    ev->transactional = data[1] & 1;
    ev->is_batch = (data[1] & 2) != 0;
    return 0;
fail:
    tr_value_unref(value);
    tr_value_unref(meta);
    tr_ids_fini(&ids);
    return rc == -ENOMEM ? rc : TR_ECORRUPT;
}
