/* qos_backpressure.c - the `qos::backpressure` operator: backs off when downstream struggles.
 *
 * Config: `timeout` (ms, required), `steps` (ms, default 50, 100, 250, 500,
 * 1000, 5000, 10000), `circuit_breaker` (default false). Events are made
 * transactional so that downstream answers them. A fail or a breaker trigger
 * for one of this operator's events moves the back-off to the next step
 * (capped at the last); a good answer resets it. While backing off, events
 * arriving before `next` (the failed event's ingest time plus the back-off)
 * go to "overflow" instead of "out". With circuit_breaker, entering back-off
 * also sends a trigger upstream, and the first tick after it ends a restore,
 * so sources pause instead of losing events.
 *
 * Differences from Tremor 0.11: insights here carry no metadata, so the
 * `time` and `error` an ack may report are not seen (`timeout` is read and
 * checked but only matters once they are; Tremor's ws, stdio and blackhole
 * sinks report no time either), and the operator recognises its own events
 * by remembering their ids (ops_int.h) rather than by per-event metadata.
 * Where Tremor turns a fail into a trigger, this one sends the trigger as a
 * separate insight and lets the fail travel on, so no source loses a fail.
 * Invariant: backoff is 0 or one of the steps, and next is 0 when it is 0.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "ops/ops_int.h"

#define MAX_STEPS 64
#define MAX_STEP_MS (1ull << 32)   /* ~50 days: ingest time + back-off cannot overflow */

static const uint64_t default_steps_ms[] = {50, 100, 250, 500, 1000, 5000, 10000};

struct backpressure {
    struct tr_op_host *host;
    char *id;
    uint64_t uid;
    double timeout_ms;
    int circuit_breaker;
    uint64_t steps[MAX_STEPS];   /* ns */
    size_t nsteps;
    uint64_t backoff;            /* ns, 0 = open */
    uint64_t next;               /* ingest time from which events pass again */
    struct tr_op_recent recent;
};

struct bp_cfg {
    double timeout;
    bool circuit_breaker;
    const tr_value *steps;
};

const struct tr_cmap_entry tr_op_backpressure_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_F64, "timeout", NULL, TR_CMAP_REQUIRED | TR_CMAP_RANGE,
                 offsetof(struct bp_cfg, timeout), "ms an event may take before backing off"),
     .lo = 0, .hi = INFINITY},
    {TR_CMAP_KEY(TR_CMAP_BOOL, "circuit_breaker", "false", 0,
                 offsetof(struct bp_cfg, circuit_breaker),
                 "also tell upstream to stop while backing off")},
    /* a list of integers: checked below, where the bounds are known */
    {TR_CMAP_KEY(TR_CMAP_VALUE, "steps", NULL, 0, offsetof(struct bp_cfg, steps),
                 "back-off steps in ms; default [50, 100, 250, 500, 1000, 5000, 10000]")},
    {0},
};

static int bp_create(const struct tr_op_spec *s, struct tr_op_host *host, void **self,
                     struct tr_diag *d) {
    if (!tr_op_has_params(s))
        return tr_diag_set(d, TR_EINVAL_CFG, s->file, s->line, s->col,
                           "Operator config for %s is missing", s->id);
    struct bp_cfg c;
    int rc = tr_op_cfg_apply(s, tr_op_backpressure_cmap, &c, d);
    if (rc) return rc;
    double timeout = c.timeout;
    int cb = c.circuit_breaker;
    uint64_t steps[MAX_STEPS];
    size_t n = sizeof default_steps_ms / sizeof default_steps_ms[0];
    memcpy(steps, default_steps_ms, sizeof default_steps_ms);
    const tr_value *sv = c.steps;
    if (sv) {
        if (sv->type != TR_ARR || tr_arr_len(sv) > MAX_STEPS)
            return tr_diag_set(d, TR_EINVAL_CFG, s->file, s->line, s->col,
                               "%s operator '%s': `steps` must be a list of at most %d "
                               "durations in ms", s->kind, s->id, MAX_STEPS);
        n = tr_arr_len(sv);
        for (size_t i = 0; i < n; i++) {
            const tr_value *v = tr_arr_at(sv, (uint32_t)i);
            if (v->type != TR_I64 || v->as.i < 0 || (uint64_t)v->as.i > MAX_STEP_MS)
                return tr_diag_set(d, TR_EINVAL_CFG, s->file, s->line, s->col,
                                   "%s operator '%s': `steps` entries must be integers from 0 "
                                   "to %llu (ms)", s->kind, s->id,
                                   (unsigned long long)MAX_STEP_MS);
            steps[i] = (uint64_t)v->as.i;
        }
    }
    struct backpressure *b = tr_calloc(1, sizeof *b);
    if (!b) return -ENOMEM;
    b->id = tr_strdup(s->id);
    if (!b->id) {
        tr_free(b);
        return -ENOMEM;
    }
    b->host = host;
    b->uid = s->uid;
    b->timeout_ms = timeout;
    b->circuit_breaker = cb;
    b->nsteps = n;
    for (size_t i = 0; i < n; i++) b->steps[i] = steps[i] * 1000000u;
    *self = b;
    return 0;
}

/* The first step above current, or the last one (Tremor's next_backoff). */
static uint64_t next_backoff(const struct backpressure *b) {
    uint64_t v = 0;
    for (size_t i = 0; i < b->nsteps; i++) {
        v = b->steps[i];
        if (v > b->backoff) break;
    }
    return v;
}

static void send_up(struct backpressure *b, enum tr_cb cb) {
    struct tr_insight in;
    in.cb = cb;
    tr_ids_init(&in.ids, b->uid, 0, 0);
    tr_op_insight(b->host, &in);
}

static int bp_event(void *self, const char *port, struct tr_event *ev) {
    (void)port;
    struct backpressure *b = self;
    /* answers are what this operator steers by, so it asks for them */
    ev->transactional = true;
    tr_op_recent_put(&b->recent, &ev->ids.id, ev->ingest_ns, 0);
    if (b->next <= ev->ingest_ns) {
        b->next = ev->ingest_ns + b->backoff;
        return tr_op_emit(b->host, "out", ev);
    }
    return tr_op_emit(b->host, "overflow", ev);
}

static void bp_tick(void *self, uint64_t now_ns) {
    struct backpressure *b = self;
    if (b->backoff > 0 && b->next <= now_ns) {
        b->backoff = 0;
        b->next = 0;
        if (b->circuit_breaker) {
            TR_INFO("qos::backpressure", "%s: back-off over: restoring upstream", b->id);
            send_up(b, TR_CB_RESTORE);
        }
    }
}

static void bp_contraflow(void *self, struct tr_insight *in) {
    struct backpressure *b = self;
    if (in->cb == TR_CB_NONE) return;
    const struct tr_op_seen *seen = tr_op_recent_get(&b->recent, &in->ids.id);
    if (!seen) return;   /* not about one of our events: not ours to judge */
    int was_open = b->backoff == 0;
    if (in->cb == TR_CB_FAIL || in->cb == TR_CB_TRIGGER) {
        b->backoff = next_backoff(b);
        b->next = seen->ingest_ns + b->backoff;
    } else {
        b->backoff = 0;
        b->next = 0;
    }
    if (b->circuit_breaker && was_open && b->backoff > 0) {
        TR_INFO("qos::backpressure", "%s: backing off %llu ms: triggering upstream", b->id,
                (unsigned long long)(b->backoff / 1000000u));
        if (in->cb != TR_CB_TRIGGER) send_up(b, TR_CB_TRIGGER);
    } else if (in->cb == TR_CB_TRIGGER) {
        in->cb = TR_CB_NONE;
    }
}

static void bp_destroy(void *self) {
    struct backpressure *b = self;
    if (!b) return;
    tr_free(b->id);
    tr_free(b);
}

const struct tr_op_ops tr_op_qos_backpressure = {
    .kind = "qos::backpressure",
    .cmap = tr_op_backpressure_cmap,
    .create = bp_create,
    .event = bp_event,
    .tick = bp_tick,
    .contraflow = bp_contraflow,
    .destroy = bp_destroy,
    .takes_raw = true,   /* steers by ids, ingest time and answers; never reads the value */
};
