/* qos_roundrobin.c - the `qos::roundrobin` operator: spreads events over outputs.
 *
 * Config: `outputs`, a list of port names (default ["out"]). Each event goes
 * to the next output that is open, after the one used last; with none open
 * it goes to "overflow". A circuit-breaker trigger from downstream closes the
 * output the event it answers went through, a restore opens it again. Only
 * the edges travel upstream: the last output closing becomes a trigger, the
 * first one reopening a restore; every other breaker signal stops here. On its
 * first tick, with an output open, it sends one restore upstream.
 *
 * Tremor finds the output of an insight in per-operator event metadata that
 * this pipeline does not carry; here the operator remembers the output of
 * its recent events by event id (ops_int.h), and a signal it cannot place
 * changes no output, as in Tremor for a signal that carries no metadata.
 * Invariant: `next` always indexes an output.
 */
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "ops/ops_int.h"

#define MAX_OUTPUTS 1024
#define MAX_PORT 63              /* the pipeline compares port names up to this length */

struct output {
    char name[MAX_PORT + 1];
    int open;
};

struct rr {
    struct tr_op_host *host;
    uint64_t uid;
    char *id;
    struct output *outs;
    size_t n;
    size_t next;
    int first;
    struct tr_op_recent recent;  /* tag: the output index */
};

static int rr_config_error(const struct tr_op_spec *s, struct tr_diag *d, const char *why) {
    return tr_diag_set(d, TR_EINVAL_CFG, s->file, s->line, s->col,
                       "qos::roundrobin operator '%s': `outputs` %s", s->id, why);
}

struct rr_cfg {
    const tr_value *outputs;
};

/* The list is checked below: its error texts are Tremor's. */
static const struct tr_cmap_entry rr_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_VALUE, "outputs", NULL, 0, offsetof(struct rr_cfg, outputs),
                 "port names to take turns on, 1 to 1024 of them; default [\"out\"]")},
    {0},
};

static int rr_create(const struct tr_op_spec *spec, struct tr_op_host *host, void **self,
                     struct tr_diag *d) {
    struct rr_cfg c;
    int rc = tr_op_cfg_apply(spec, rr_cmap, &c, d);
    if (rc) return rc;
    const tr_value *outs = c.outputs;
    size_t n = 1;
    if (outs) {
        if (outs->type != TR_ARR) return rr_config_error(spec, d, "must be a list of port names");
        n = tr_arr_len(outs);
        if (n == 0) {
            TR_ERROR("qos::roundrobin", "No outputs supplied for round robin operators");
            return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                               "Operator config for %s is missing", spec->id);
        }
        if (n > MAX_OUTPUTS) return rr_config_error(spec, d, "has more than 1024 entries");
        for (size_t i = 0; i < n; i++) {
            const tr_value *o = tr_arr_at(outs, (uint32_t)i);
            if (o->type != TR_STR || o->as.s->len == 0 || o->as.s->len > MAX_PORT ||
                memchr(o->as.s->data, 0, o->as.s->len))
                return rr_config_error(spec, d, "entries must be port names of 1 to 63 bytes");
        }
    }
    struct rr *r = tr_calloc(1, sizeof *r);
    if (!r) return -ENOMEM;
    r->outs = tr_calloc(n, sizeof *r->outs);
    r->id = tr_strdup(spec->id);
    if (!r->outs || !r->id) {
        tr_free(r->outs);
        tr_free(r->id);
        tr_free(r);
        return -ENOMEM;
    }
    r->n = n;
    for (size_t i = 0; i < n; i++) {
        const char *name = outs ? tr_arr_at(outs, (uint32_t)i)->as.s->data : "out";
        memcpy(r->outs[i].name, name, strlen(name) + 1);
        r->outs[i].open = 1;
    }
    r->host = host;
    r->uid = spec->uid;
    r->first = 1;
    *self = r;
    return 0;
}

static int rr_event(void *self, const char *port, struct tr_event *ev) {
    (void)port;
    struct rr *r = self;
    for (size_t k = 0; k < r->n; k++) {
        size_t i = (r->next + k) % r->n;
        if (!r->outs[i].open) continue;
        r->next = (i + 1) % r->n;
        tr_op_recent_put(&r->recent, &ev->ids.id, ev->ingest_ns, (uint32_t)i);
        return tr_op_emit(r->host, r->outs[i].name, ev);
    }
    return tr_op_emit(r->host, "overflow", ev);
}

static void rr_tick(void *self, uint64_t now_ns) {
    (void)now_ns;
    struct rr *r = self;
    if (!r->first) return;
    for (size_t i = 0; i < r->n; i++)
        if (r->outs[i].open) {
            r->first = 0;
            struct tr_insight in;
            in.cb = TR_CB_RESTORE;
            tr_ids_init(&in.ids, r->uid, 0, 0);
            tr_op_insight(r->host, &in);
            return;
        }
}

static int any_open(const struct rr *r) {
    for (size_t i = 0; i < r->n; i++)
        if (r->outs[i].open) return 1;
    return 0;
}

static void rr_contraflow(void *self, struct tr_insight *in) {
    struct rr *r = self;
    int were = any_open(r);
    if (in->cb == TR_CB_TRIGGER || in->cb == TR_CB_RESTORE) {
        const struct tr_op_seen *seen = tr_op_recent_get(&r->recent, &in->ids.id);
        if (seen) r->outs[seen->tag].open = in->cb == TR_CB_RESTORE;
    }
    int now = any_open(r);
    if (now && !were) {
        TR_INFO("qos::roundrobin", "%s: an output reopened: restoring upstream", r->id);
        in->cb = TR_CB_RESTORE;
    } else if (were && !now) {
        TR_INFO("qos::roundrobin", "%s: every output is closed: triggering upstream", r->id);
        in->cb = TR_CB_TRIGGER;
    } else if (in->cb == TR_CB_TRIGGER || in->cb == TR_CB_RESTORE) {
        in->cb = TR_CB_NONE;
    }
}

static void rr_destroy(void *self) {
    struct rr *r = self;
    if (!r) return;
    tr_free(r->outs);
    tr_free(r->id);
    tr_free(r);
}

const struct tr_op_ops tr_op_qos_roundrobin = {
    .kind = "qos::roundrobin",
    .cmap = rr_cmap,
    .create = rr_create,
    .event = rr_event,
    .tick = rr_tick,
    .contraflow = rr_contraflow,
    .destroy = rr_destroy,
    .takes_raw = true,   /* steers by ids, ingest time and answers; never reads the value */
};
