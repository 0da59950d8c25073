/* qos_percentile.c - the `qos::percentile` operator: lets a share of events through.
 *
 * Config: `timeout` (ms, required), `step_down` (default 0.05), `step_up`
 * (default 0.001). The operator keeps a pass fraction `perc`, starting at 1.
 * An event passes to "out" when (ingest_ns % 0xFFFF) / 0xFFFF <= perc, else
 * it goes to "overflow": the ingest time stands in for a random number, so a
 * replay decides the same way. Events are made transactional; a fail or a
 * breaker trigger for one of its events lowers perc by step_down, any other
 * answer raises it by step_up, within [0, 1]. Insights pass on unchanged.
 *
 * Differences from Tremor 0.11: as for qos::backpressure, an ack's `time` and
 * `error` are not seen here (insights carry no metadata), and own events are
 * recognised by remembered ids (ops_int.h). Invariant: 0 <= perc <= 1.
 */
#include <errno.h>
#include <math.h>

#include "core/alloc.h"
#include "ops/ops_int.h"

struct percentile {
    struct tr_op_host *host;
    double timeout_ms;
    double step_down, step_up;
    double perc;
    struct tr_op_recent recent;
};

struct pc_cfg {
    double timeout, step_down, step_up;
};

/* perc lives in [0, 1]: a step outside it would skip or invert the walk. */
static const struct tr_cmap_entry pc_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_F64, "timeout", NULL, TR_CMAP_REQUIRED | TR_CMAP_RANGE,
                 offsetof(struct pc_cfg, timeout), "ms an event may take before it counts as slow"),
     .lo = 0, .hi = INFINITY},
    {TR_CMAP_KEY(TR_CMAP_F64, "step_down", "0.05", TR_CMAP_RANGE, offsetof(struct pc_cfg, step_down),
                 "how much the pass fraction drops on a fail"),
     .lo = 0, .hi = 1},
    {TR_CMAP_KEY(TR_CMAP_F64, "step_up", "0.001", TR_CMAP_RANGE, offsetof(struct pc_cfg, step_up),
                 "how much the pass fraction grows on an ack"),
     .lo = 0, .hi = 1},
    {0},
};

static int pc_create(const struct tr_op_spec *s, struct tr_op_host *host, void **self,
                     struct tr_diag *d) {
    if (!tr_op_has_params(s))
        return tr_diag_set(d, TR_EINVAL_CFG, s->file, s->line, s->col,
                           "Operator config for %s is missing", s->id);
    struct pc_cfg c;
    int rc = tr_op_cfg_apply(s, pc_cmap, &c, d);
    if (rc) return rc;
    double timeout = c.timeout, down = c.step_down, up = c.step_up;
    struct percentile *p = tr_calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    p->host = host;
    p->timeout_ms = timeout;
    p->step_down = down;
    p->step_up = up;
    p->perc = 1.0;
    *self = p;
    return 0;
}

static int pc_event(void *self, const char *port, struct tr_event *ev) {
    (void)port;
    struct percentile *p = self;
    ev->transactional = true;
    tr_op_recent_put(&p->recent, &ev->ids.id, ev->ingest_ns, 0);
    double r = (double)(ev->ingest_ns % 0xFFFF) / (double)0xFFFF;
    return tr_op_emit(p->host, r > p->perc ? "overflow" : "out", ev);
}

static void pc_contraflow(void *self, struct tr_insight *in) {
    struct percentile *p = self;
    if (in->cb == TR_CB_NONE || !tr_op_recent_get(&p->recent, &in->ids.id)) return;
    if (in->cb == TR_CB_FAIL || in->cb == TR_CB_TRIGGER) {
        p->perc -= p->step_down;
        if (p->perc < 0.0) p->perc = 0.0;
    } else {
        p->perc += p->step_up;
        if (p->perc > 1.0) p->perc = 1.0;
    }
}

static void pc_destroy(void *self) { tr_free(self); }

const struct tr_op_ops tr_op_qos_percentile = {
    .kind = "qos::percentile",
    .cmap = pc_cmap,
    .create = pc_create,
    .event = pc_event,
    .contraflow = pc_contraflow,
    .destroy = pc_destroy,
    .takes_raw = true,   /* steers by ids, ingest time and answers; never reads the value */
};
