/* generic_counter.c - the `generic::counter` operator: numbers the events it sees.
 *
 * Each event's value is replaced by {"count": n, "event": <original value>},
 * n counting from 1 over the operator's lifetime; metadata, ids and
 * transactionality are kept. Not a windowed or per-group count (a select with
 * aggr::stats::count does that). Invariant: n increases by exactly one per
 * event that reaches the operator, whatever happens downstream.
 */
#include <errno.h>

#include "core/alloc.h"
#include "ops/ops_int.h"

struct counter {
    struct tr_op_host *host;
    uint64_t count;
};

/* Reads no settings; like Tremor it ignores any that are given. */
static const struct tr_cmap_entry counter_cmap[] = {{0}};

static int counter_create(const struct tr_op_spec *spec, struct tr_op_host *host, void **self,
                          struct tr_diag *d) {
    /* As in Tremor, any `with` parameters are accepted and ignored. */
    (void)spec;
    (void)d;
    struct counter *c = tr_calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    c->host = host;
    *self = c;
    return 0;
}

static int counter_event(void *self, const char *port, struct tr_event *ev) {
    (void)port;
    struct counter *c = self;
    c->count++;
    tr_value rec;
    int rc = tr_v_rec(2, &rec);
    if (!rc) rc = tr_rec_set(&rec, "count", 5, tr_v_uint(c->count));
    if (rc) {
        tr_value_unref(rec);
        tr_op_drop(c->host, ev);
        return rc;
    }
    /* the original value moves into the new record */
    rc = tr_rec_set(&rec, "event", 5, ev->value);
    ev->value = rec;
    if (rc) {
        tr_op_drop(c->host, ev);
        return rc;
    }
    return tr_op_emit(c->host, "out", ev);
}

static void counter_destroy(void *self) { tr_free(self); }

const struct tr_op_ops tr_op_generic_counter = {
    .kind = "generic::counter",
    .cmap = counter_cmap,
    .create = counter_create,
    .event = counter_event,
    .destroy = counter_destroy,
};
