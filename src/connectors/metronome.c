/* metronome.c - the `metronome` onramp: one event every `interval` ms.
 *
 * Emits {"onramp":"metronome","ingest_ns":<ns>,"id":<n>} with ids from 0 and
 * no gaps. A breaker trigger stops the timer; a restore starts it again with
 * a fresh interval, without catching up on the ticks it missed (Tremor 0.11).
 */
#include <errno.h>
#include <stddef.h>

#include "config/cmap.h"
#include "connectors/conn.h"
#include "core/alloc.h"
#include "core/event.h"
#include "core/log.h"

struct metronome {
    struct tr_onramp_host *host;
    uv_timer_t timer;
    uint64_t interval_ms;
    uint64_t next_id;
    int running;       /* the timer is armed: started and not triggered */
    int started;
    int triggered;
    void (*done)(void *);
    void *done_arg;
};

struct met_cfg {
    uint64_t interval;
};

/* A bound keeps the timer arithmetic of libuv far from overflow. */
const struct tr_cmap_entry tr_metronome_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_U64, "interval", NULL, TR_CMAP_REQUIRED | TR_CMAP_RANGE,
     offsetof(struct met_cfg, interval), "ms between events"), .lo = 1, .hi = 4294967296.0},
    {0},
};

static int met_create(const struct tr_conn_spec *spec, struct tr_onramp_host *host, void **self,
                      struct tr_diag *d) {
    if (spec->config == NULL || spec->config->type != TR_REC)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "Missing config for metronome onramp '%s': config.interval (ms) is required",
                           spec->id);
    struct met_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_metronome_cmap, &c, d);
    if (rc) return rc;
    uint64_t interval = c.interval;
    struct metronome *m = tr_calloc(1, sizeof *m);
    if (!m) return -ENOMEM;
    m->host = host;
    m->interval_ms = interval;
    uv_timer_init(tr_onramp_loop(host), &m->timer);
    m->timer.data = m;
    *self = m;
    return 0;
}

static void on_timer(uv_timer_t *t) {
    struct metronome *m = t->data;
    tr_value v, s;
    if (tr_v_rec(3, &v) != 0) goto oom;
    if (tr_v_cstr("metronome", &s) != 0 || tr_rec_set(&v, "onramp", 6, s) != 0 ||
        tr_rec_set(&v, "ingest_ns", 9, tr_v_uint(tr_now_ns())) != 0 ||
        tr_rec_set(&v, "id", 2, tr_v_uint(m->next_id)) != 0) {
        tr_value_unref(v);
        goto oom;
    }
    m->next_id++;
    tr_onramp_emit_value(m->host, v, tr_v_null());
    return;
oom:
    TR_ERROR("metronome", "out of memory building event %llu", (unsigned long long)m->next_id);
}

static void arm(struct metronome *m) {
    if (m->running || !m->started || m->triggered) return;
    m->running = 1;
    uv_timer_start(&m->timer, on_timer, m->interval_ms, m->interval_ms);
}

static int met_start(void *self) {
    struct metronome *m = self;
    m->started = 1;
    arm(m);
    return 0;
}

static void met_trigger(void *self) {
    struct metronome *m = self;
    m->triggered = 1;
    if (!m->running) return;
    m->running = 0;
    uv_timer_stop(&m->timer);
    TR_INFO("metronome", "paused (circuit breaker triggered)");
}

static void met_restore(void *self) {
    struct metronome *m = self;
    m->triggered = 0;
    if (!m->started || m->running) return;
    arm(m);
    TR_INFO("metronome", "resumed (circuit breaker restored)");
}

static void met_noop_id(void *self, uint64_t id) {
    (void)self;
    (void)id;
}

static void on_closed(uv_handle_t *h) {
    struct metronome *m = h->data;
    void (*done)(void *) = m->done;
    void *arg = m->done_arg;
    tr_free(m);
    if (done) done(arg);
}

static void met_close(void *self, void (*done)(void *), void *arg) {
    struct metronome *m = self;
    m->done = done;
    m->done_arg = arg;
    uv_timer_stop(&m->timer);
    uv_close((uv_handle_t *)&m->timer, on_closed);
}

const struct tr_onramp_ops tr_metronome_onramp = {
    .type = "metronome",
    .transactional = false,
    .create = met_create,
    .start = met_start,
    .trigger = met_trigger,
    .restore = met_restore,
    .ack = met_noop_id,
    .fail = met_noop_id,
    .close = met_close,
};
