/* world_life.c - a world's life: create, start, the 100 ms tick, the stop
 * sequence (its states are drawn in world_int.h) and destroy.
 *
 * Everything the stop sequence waits for (connector closes, the drain of
 * in-flight events, the tick handle's close) advances it from a callback
 * or the tick; world_move asserts each step is an allowed one.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "codec/proc.h"
#include "ops/op.h"
#include "pipeline/world_int.h"

const struct tr_world_registry tr_world_builtin = {
    tr_onramp_find, tr_offramp_find, tr_onramp_types, tr_offramp_types, tr_op_find, tr_op_kinds,
};

static int allowed(enum world_state from, enum world_state to) {
    switch (to) {
    case W_LOADED: return 0;
    case W_RUNNING: return from == W_LOADED;
    case W_ONRAMPS_CLOSING: return from == W_LOADED || from == W_RUNNING;
    case W_DRAINING: return from == W_ONRAMPS_CLOSING;
    case W_OFFRAMPS_CLOSING: return from == W_DRAINING;
    case W_PIPES_CLOSED: return from == W_OFFRAMPS_CLOSING;
    case W_STOPPED: return from == W_PIPES_CLOSED;
    }
    return 0;
}

void world_move(struct tr_world *w, enum world_state to) {
    assert(allowed(w->state, to));
    (void)allowed;
    w->state = to;
}

/* An operator cannot go on without losing events. Called from inside the
 * event's path: only note it here; the tick asks the server to stop. */
void world_pipe_fatal(void *arg, const char *pipeline, const char *why) {
    struct tr_world *w = arg;
    if (!w->fatal)
        TR_ERROR("world", "pipeline %s cannot go on (%s): stopping; exit status 1 so that a "
                 "supervisor restarts the server", pipeline, why);
    w->fatal = 1;
}

int tr_world_failed(const struct tr_world *w) { return w->fatal; }
int tr_world_exit_code(const struct tr_world *w) { return w->exit_code; }

static void stop_run(struct tr_defer_node *n);

int tr_world_create(const struct tr_world_opts *o, struct tr_world **out) {
    struct tr_world *w = tr_calloc(1, sizeof *w);
    if (!w) return -ENOMEM;
    w->loop = o->loop;
    int rc = tr_defer_init(&w->defer, w->loop);
    if (rc) {
        tr_free(w);
        return rc;
    }
    tr_defer_node_init(&w->stop_node, stop_run);
    w->reg = o->registry ? *o->registry : tr_world_builtin;
    w->instance = tr_strdup(o->instance ? o->instance : "tremor");
    w->data_dir = tr_strdup(o->data_dir ? o->data_dir : "tremor-data");
    w->exit_code = -1;
    w->on_shutdown = o->on_shutdown;
    w->shutdown_arg = o->shutdown_arg;
    w->decode_off_loop = o->decode_off_loop && o->loop;
    w->next_onramp_uid = TR_UID_ONRAMP_BASE;
    w->next_offramp_uid = TR_UID_OFFRAMP_BASE;
    w->state = W_LOADED;
    tr_config_init(&w->cfg);
    tr_buf_init(&w->detail);
    if (!w->instance || !w->data_dir) {
        tr_world_destroy(w);
        return -ENOMEM;
    }
    struct tr_diag md;
    tr_diag_clear(&md);
    if (world_metrics_publish(w, &md) != 0) {
        tr_world_destroy(w);
        return -ENOMEM;   /* the built-in query compiles: only memory can fail it */
    }
    *out = w;
    return 0;
}

int tr_world_deploy(struct tr_world *w, struct tr_diag *d) {
    for (; w->deployed_mappings < w->cfg.nmappings; w->deployed_mappings++) {
        int rc = world_deploy_mapping(w, &w->cfg.mappings[w->deployed_mappings], d);
        if (rc) return rc;
    }
    return 0;
}

/* -------------------------------------------------------------- running */

static void stop_step(struct tr_world *w);

static void on_tick(uv_timer_t *t) {
    struct tr_world *w = t->data;
    uint64_t now = tr_now_ns();
    for (size_t i = 0; i < w->npipes; i++)
        if (w->pipes[i]->p) tr_pipeline_tick(w->pipes[i]->p, now);
    for (size_t i = 0; i < w->nofframps; i++) {
        struct offramp_inst *o = w->offramps[i];
        if (!o->closing && o->self && o->ops->tick) o->ops->tick(o->self, now);
    }
    if (!world_stopping(w)) world_metrics_tick(w, now);
    /* the count of decode errors held back, once their interval is over */
    for (size_t i = 0; i < w->nonramps; i++) tr_log_limit_flush(&w->onramps[i]->decode_log);
    if (w->fatal && !w->fatal_told && !world_stopping(w) && w->on_shutdown) {
        w->fatal_told = 1;
        w->on_shutdown(w->shutdown_arg);
    }
    if (world_stopping(w)) stop_step(w);
}

static int start_offramps(struct tr_world *w, struct tr_diag *d) {
    int rc;
    for (size_t i = 0; i < w->nofframps; i++) {
        struct offramp_inst *o = w->offramps[i];
        if (o->started || !o->refs) continue;
        if ((rc = o->ops->start(o->self)))
            return tr_diag_set(d, rc, off_art(o)->loc.file, off_art(o)->loc.line, off_art(o)->loc.col,
                               "offramp '%s' failed to start: %s", off_art(o)->id, tr_strerror(rc));
        o->started = 1;
    }
    /* As in Tremor, every pipeline linked to an offramp learns whether it
     * can take events - only once every link exists and every offramp has
     * started, so nothing is emitted into a half-built graph. */
    for (size_t i = 0; i < w->nofframps; i++) {
        struct offramp_inst *o = w->offramps[i];
        if (!o->started || !o->self) continue;
        enum tr_cb cb = o->ops->is_active(o->self) ? TR_CB_RESTORE : TR_CB_TRIGGER;
        for (size_t k = 0; k < o->nlinks; k++) {
            if (o->links[k]->told || o->links[k]->untracked) continue;
            o->links[k]->told = 1;
            world_send_insight(o->links[k]->pi, cb, NULL);
        }
    }
    return 0;
}

static int start_onramps(struct tr_world *w, struct tr_diag *d) {
    int rc;
    for (size_t i = 0; i < w->nonramps; i++) {
        struct onramp_inst *o = w->onramps[i];
        if (o->started || !o->refs) continue;
        if ((rc = o->ops->start(o->self)))
            return tr_diag_set(d, rc, on_art(o)->loc.file, on_art(o)->loc.line, on_art(o)->loc.col,
                               "onramp '%s' failed to start: %s", on_art(o)->id, tr_strerror(rc));
        o->started = 1;
    }
    return 0;
}

int world_start_new(struct tr_world *w, struct tr_diag *d) {
    int rc = start_offramps(w, d);
    return rc ? rc : start_onramps(w, d);
}

int tr_world_start(struct tr_world *w, struct tr_diag *d) {
    int rc = start_offramps(w, d);
    if (rc) return rc;
    uv_timer_init(w->loop, &w->tick);
    w->tick.data = w;
    w->tick_open = 1;
    uv_timer_start(&w->tick, on_tick, TICK_MS, TICK_MS);
    if ((rc = start_onramps(w, d))) return rc;
    world_move(w, W_RUNNING);
    return 0;
}

/* Stop state machine (enum world_state), advanced by close completions and
 * ticks. A close may complete inside close(): the next step is queued, never
 * run from there (so no count needs holding while closes are being started). */
static void closed_one(void *arg) {
    struct tr_world *w = arg;
    if (--w->closing_count == 0) tr_defer_post(&w->defer, &w->stop_node);
}

void world_stop_closed_one(struct tr_world *w) { closed_one(w); }

static void stop_run(struct tr_defer_node *n) {
    stop_step((struct tr_world *)((char *)n - offsetof(struct tr_world, stop_node)));
}

static size_t in_flight(const struct tr_world *w) {
    size_t n = 0;
    for (size_t i = 0; i < w->nofframps; i++) n += w->offramps[i]->in_flight;
    return n;
}

static void defer_closed(void *arg) {
    struct tr_world *w = arg;
    void (*done)(void *) = w->stop_done;
    void *darg = w->stop_arg;
    w->stop_done = NULL;
    if (done) done(darg);
}

static void tick_closed(uv_handle_t *h) {
    struct tr_world *w = h->data;
    w->tick_open = 0;
    world_move(w, W_STOPPED);
    tr_defer_close(&w->defer, defer_closed, w);
}

static void stop_step(struct tr_world *w) {
    if (w->closing_count) return;
    switch (w->state) {
    case W_ONRAMPS_CLOSING:
        for (size_t i = 0; i < w->npipes; i++) tr_pipeline_quiesce(w->pipes[i]->p);
        world_move(w, W_DRAINING);
        /* fall through */
    case W_DRAINING:
        if (in_flight(w) > 0 && tr_now_ns() < w->drain_deadline && w->tick_open) return;
        if (in_flight(w) > 0)
            TR_WARN("world", "stopping with %zu events not yet acknowledged: they stay in their "
                    "WAL (if any) for the next start", in_flight(w));
        world_move(w, W_OFFRAMPS_CLOSING);
        for (size_t i = 0; i < w->nofframps; i++) {
            struct offramp_inst *o = w->offramps[i];
            if (o->closing || !o->self) continue;
            o->closing = 1;
            w->closing_count++;
            void *self = o->self;
            o->self = NULL;
            o->ops->close(self, closed_one, w);
        }
        if (w->closing_count) return;
        /* fall through */
    case W_OFFRAMPS_CLOSING:
        world_move(w, W_PIPES_CLOSED);
        tr_defer_cancel(&w->defer, &w->stop_node);
        for (size_t i = 0; i < w->npipes; i++) {
            tr_pipeline_destroy(w->pipes[i]->p);
            w->pipes[i]->p = NULL;
        }
        if (w->tick_open) {
            uv_timer_stop(&w->tick);
            uv_close((uv_handle_t *)&w->tick, tick_closed);
        } else {
            tick_closed((uv_handle_t *)&w->tick);
        }
        return;
    default:
        return;
    }
}

void tr_world_stop(struct tr_world *w, unsigned drain_ms, void (*done)(void *), void *arg) {
    if (world_stopping(w)) return;
    world_move(w, W_ONRAMPS_CLOSING);
    w->stop_done = done;
    w->stop_arg = arg;
    w->tick.data = w;
    w->drain_deadline = tr_now_ns() + (uint64_t)drain_ms * 1000000u;
    for (size_t i = 0; i < w->nonramps; i++) {
        struct onramp_inst *o = w->onramps[i];
        if (o->closing || !o->self) continue;
        o->closing = 1;
        w->closing_count++;
        void *self = o->self;
        o->self = NULL;
        /* Preprocessors may charge the onramp's budget (stream_limits),
         * which ends with the onramp: they go first. */
        for (size_t k = 0; k < o->nstreams; k++) tr_preproc_destroy(o->streams[k].pp);
        o->nstreams = 0;
        o->ops->close(self, closed_one, w);
    }
    /* frames read before the stop are still decoded and delivered, also
     * those of an onramp retired before */
    for (size_t i = 0; i < w->nonramps; i++) world_decode_quiet(w->onramps[i]);
    /* from the loop: this may be called inside a connector (its shutdown) */
    tr_defer_post(&w->defer, &w->stop_node);
}

void tr_world_destroy(struct tr_world *w) {
    if (!w) return;
    for (size_t i = 0; i < w->nonramps; i++) world_decode_wait(w->onramps[i]);
    for (size_t i = 0; i < w->nonramps; i++) world_onramp_free(w->onramps[i]);
    for (size_t i = 0; i < w->nofframps; i++) world_offramp_free(w->offramps[i]);
    for (size_t i = 0; i < w->npipes; i++) world_pipe_free(w->pipes[i]);
    for (size_t i = 0; i < w->nbounds; i++) world_bound_free(w->bounds[i]);
    for (size_t i = 0; i < w->nqueries; i++) {
        tr_free(w->queries[i].id);
        tr_free(w->queries[i].path);
        tr_free(w->queries[i].src);
    }
    for (int g = 0; g < 3; g++) tr_free(w->gone[g]);
    tr_free(w->bounds);
    tr_free(w->queries);
    tr_free(w->pipes);
    tr_free(w->onramps);
    tr_free(w->offramps);
    tr_config_fini(&w->cfg);
    tr_buf_fini(&w->detail);
    tr_free(w->instance);
    tr_free(w->data_dir);
    tr_free(w);
}
