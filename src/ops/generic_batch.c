/* generic_batch.c - the `generic::batch` operator: many events out as one.
 *
 * Config: `count` (required) and `timeout` (ms, optional). Events are
 * collected, in arrival order, into one array value whose elements have
 * Tremor's batch shape {"data": {"value", "meta", "ingest_ns", "kind": null,
 * "is_batch"}}. The batch leaves by "out" when it holds `count` events, or,
 * with a timeout, as soon as an event or a tick comes more than `timeout`
 * after the batch's first event. The batch event has its own id (this
 * operator's uid, stream 0, counting from 0) that tracks the ids of every
 * event in it, so acks and fails reach all their sources; it is
 * transactional if any of them was, and its ingest time is the first one's.
 *
 * The event is marked a batch (is_batch), so offramps encode each element's
 * value, as Tremor's sinks do. Invariant: no batch ever holds more than
 * `count` events.
 */
#include <errno.h>
#include <math.h>

#include "core/alloc.h"
#include "ops/ops_int.h"

#define MAX_COUNT 1000000u
#define MAX_TIMEOUT_MS (1ull << 32)

struct batch {
    struct tr_op_host *host;
    uint64_t uid;
    uint64_t count;
    uint64_t max_delay_ns;       /* 0 = no timeout */
    int has_timeout;
    tr_value items;              /* the array being filled, TR_NULL when empty */
    uint64_t len;
    uint64_t first_ns;
    struct tr_ids ids;           /* id of the next batch, tracking its events */
    uint64_t next_event;         /* event number of the batch after that */
    bool transactional;
};

struct batch_cfg {
    uint64_t count;
    uint64_t timeout_ns;
    bool has_timeout;
};

static const struct tr_cmap_entry batch_cmap[] = {
    /* Tremor would grow a batch of count 0 without end */
    {TR_CMAP_KEY(TR_CMAP_U64, "count", NULL, TR_CMAP_REQUIRED | TR_CMAP_RANGE,
                 offsetof(struct batch_cfg, count), "events in one batch"),
     .lo = 1, .hi = MAX_COUNT},
    {TR_CMAP_KEY(TR_CMAP_DURATION_MS, "timeout", NULL, TR_CMAP_RANGE | TR_CMAP_PRESENCE,
                 offsetof(struct batch_cfg, timeout_ns),
                 "send a batch not yet full once its first event is this old; absent: never"),
     .lo = -INFINITY, .hi = (double)MAX_TIMEOUT_MS, .seen = offsetof(struct batch_cfg, has_timeout)},
    {0},
};

static int batch_create(const struct tr_op_spec *s, struct tr_op_host *host, void **self,
                        struct tr_diag *d) {
    if (!tr_op_has_params(s))
        return tr_diag_set(d, TR_EINVAL_CFG, s->file, s->line, s->col,
                           "Operator config for %s is missing", s->id);
    struct batch_cfg c;
    int rc = tr_op_cfg_apply(s, batch_cmap, &c, d);
    if (rc) return rc;
    struct batch *b = tr_calloc(1, sizeof *b);
    if (!b) return -ENOMEM;
    b->host = host;
    b->uid = s->uid;
    b->count = c.count;
    b->has_timeout = c.has_timeout;
    b->max_delay_ns = c.timeout_ns;
    b->items = tr_v_null();
    tr_ids_init(&b->ids, s->uid, 0, 0);
    b->next_event = 1;
    *self = b;
    return 0;
}

/* {"data": {"value": v, "meta": m, "ingest_ns": n, "kind": null, "is_batch": false}};
 * takes value and meta. */
static int wrap(tr_value value, tr_value meta, uint64_t ingest_ns, tr_value *out) {
    tr_value data, elem;
    int rc = tr_v_rec(5, &data);
    if (rc) {
        tr_value_unref(value);
        tr_value_unref(meta);
        return rc;
    }
    rc = tr_rec_set(&data, "value", 5, value);
    if (!rc) rc = tr_rec_set(&data, "meta", 4, meta);
    else tr_value_unref(meta);
    if (!rc) rc = tr_rec_set(&data, "ingest_ns", 9, tr_v_uint(ingest_ns));
    if (!rc) rc = tr_rec_set(&data, "kind", 4, tr_v_null());
    if (!rc) rc = tr_rec_set(&data, "is_batch", 8, tr_v_bool(0));
    if (!rc) rc = tr_v_rec(1, &elem);
    if (rc) {
        tr_value_unref(data);
        return rc;
    }
    if ((rc = tr_rec_set(&elem, "data", 4, data))) {
        tr_value_unref(elem);
        return rc;
    }
    *out = elem;
    return 0;
}

static int flush(struct batch *b) {
    struct tr_event ev;
    int rc = tr_event_init(&ev, b->items, tr_v_null(), b->first_ns);
    struct tr_ids ids;
    tr_ids_move(&ids, &b->ids);                /* the batch's id */
    bool transactional = b->transactional;
    b->items = tr_v_null();
    b->len = 0;
    b->transactional = false;
    tr_ids_init(&b->ids, b->uid, 0, b->next_event++);
    if (rc) {
        /* the batch is gone: its sources must resend, not wait for an ack */
        if (transactional) {
            struct tr_insight in;
            in.cb = TR_CB_FAIL;
            tr_ids_move(&in.ids, &ids);
            tr_op_insight(b->host, &in);
        } else {
            tr_ids_fini(&ids);
        }
        return rc;
    }
    tr_ids_fini(&ev.ids);
    tr_ids_move(&ev.ids, &ids);
    ev.transactional = transactional;
    ev.is_batch = true;
    return tr_op_emit(b->host, "out", &ev);
}

static int batch_event(void *self, const char *port, struct tr_event *ev) {
    (void)port;
    struct batch *b = self;
    int rc = 0;
    tr_value elem;
    if (b->items.type == TR_NULL && (rc = tr_v_arr(b->count < 64 ? b->count : 64, &b->items)))
        goto lost;
    rc = wrap(ev->value, ev->meta, ev->ingest_ns, &elem);
    ev->value = ev->meta = tr_v_null();
    if (rc || (rc = tr_arr_push(&b->items, elem))) goto lost;
    /* In the batch now; if its ids cannot be tracked, acks for the batch
     * would not reach its source, so that source hears a fail instead. */
    if ((rc = tr_ids_track(&b->ids, &ev->ids)) && ev->transactional) {
        struct tr_insight in;
        in.cb = TR_CB_FAIL;
        tr_ids_move(&in.ids, &ev->ids);
        tr_op_insight(b->host, &in);
    }
    b->transactional = b->transactional || ev->transactional;
    b->len++;
    if (b->len == 1) b->first_ns = ev->ingest_ns;
    uint64_t ingest = ev->ingest_ns;
    tr_event_fini(ev);
    if ((b->has_timeout && ingest - b->first_ns > b->max_delay_ns) || b->len == b->count) {
        int frc = flush(b);
        if (!rc) rc = frc;
    }
    return rc;
lost:
    tr_op_drop(b->host, ev);
    return rc;
}

static void batch_tick(void *self, uint64_t now_ns) {
    struct batch *b = self;
    if (b->has_timeout && b->len > 0 && now_ns - b->first_ns > b->max_delay_ns) flush(b);
}

static void batch_destroy(void *self) {
    struct batch *b = self;
    if (!b) return;
    tr_value_unref(b->items);
    tr_ids_fini(&b->ids);
    tr_free(b);
}

const struct tr_op_ops tr_op_generic_batch = {
    .kind = "generic::batch",
    .cmap = batch_cmap,
    .create = batch_create,
    .event = batch_event,
    .tick = batch_tick,
    .destroy = batch_destroy,
};
