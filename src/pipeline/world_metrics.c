/* world_metrics.c - the built-in pipeline /pipeline/system::metrics
 * (0.11: `select event from in into out`, published by the system at
 * start) and what feeds it.
 *
 * Every pipeline instance's `metrics` port goes to it (0.11 links them
 * all), and every onramp and offramp instance with metrics_interval_s
 * sends it 0.11's ramp_events records ({measurement: "ramp_events", tags:
 * {ramp, port}, fields: {count}, timestamp}; counts cumulative) once its
 * interval is over. Unlike 0.11, which reports only when an event passes,
 * the check runs on the world's tick, so an idle artefact still reports.
 * Nothing reaches a user until a binding deploys system::metrics/system
 * and links its out port; until then the records are dropped, as in 0.11.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/world_int.h"

static const char pass_src[] = "select event from in into out;\n";

/* 0.11's other built-ins (src/system.rs): the pipeline system::passthrough
 * and the offramps system::stdout and system::stderr, which bindings link
 * to (Tremor's own benchmarks send their error ports to system::stderr). */
static const char system_ramps[] = "offramp:\n"
                                   "  - id: system::stdout\n"
                                   "    type: stdout\n"
                                   "  - id: system::stderr\n"
                                   "    type: stderr\n";

int world_metrics_publish(struct tr_world *w, struct tr_diag *d) {
    int rc = tr_world_publish_query(w, TR_WORLD_METRICS_ID, pass_src, sizeof pass_src - 1, d);
    if (!rc) rc = tr_world_publish_query(w, "system::passthrough", pass_src, sizeof pass_src - 1, d);
    /* a world built over a registry without them (unit tests) goes without */
    if (!rc && w->reg.offramp("stdout") && w->reg.offramp("stderr"))
        rc = tr_world_publish_config(w, "<built-in>", system_ramps, sizeof system_ramps - 1, d);
    return rc;
}

/* The deployed system::metrics/system instance, or NULL. */
static struct pipe_inst *sink(struct tr_world *w) {
    for (size_t i = 0; i < w->npipes; i++) {
        struct pipe_inst *pi = w->pipes[i];
        if (pi->refs && pi->p && strcmp(pi->id, TR_WORLD_METRICS_ID) == 0 &&
            strcmp(pi->instance, TR_WORLD_METRICS_INSTANCE) == 0)
            return pi;
    }
    return NULL;
}

void world_metrics_in(void *arg, struct tr_event *ev) {
    struct pipe_inst *pi = sink(arg);
    /* metrics are not transactional: nothing waits for them */
    ev->transactional = false;
    if (pi) tr_pipeline_push(pi->p, TR_PORT_IN, ev);
    else tr_event_fini(ev);
}

static int set_s(tr_value *rec, const char *k, const char *s) {
    tr_value v;
    int rc = tr_v_cstr(s, &v);
    return rc ? rc : tr_rec_set(rec, k, strlen(k), v);
}

/* One ramp_events record out to system::metrics. */
static void ramp_event(struct tr_world *w, const char *url, const char *port, uint64_t count,
                       uint64_t ts) {
    tr_value rec = tr_v_null(), tags = tr_v_null(), fields = tr_v_null();
    int rc = tr_v_rec(4, &rec);
    if (!rc) rc = tr_v_rec(2, &tags);
    if (!rc) rc = tr_v_rec(1, &fields);
    if (!rc) rc = set_s(&rec, "measurement", "ramp_events");
    if (!rc) rc = set_s(&tags, "ramp", url);
    if (!rc) rc = set_s(&tags, "port", port);
    if (!rc) rc = tr_rec_set(&fields, "count", 5, tr_v_uint(count));
    if (!rc) rc = tr_rec_set(&rec, "tags", 4, tags), tags = tr_v_null();
    if (!rc) rc = tr_rec_set(&rec, "fields", 6, fields), fields = tr_v_null();
    if (!rc) rc = tr_rec_set(&rec, "timestamp", 9, tr_v_uint(ts));
    tr_value_unref(tags);
    tr_value_unref(fields);
    struct tr_event ev;
    if (rc || tr_event_init(&ev, rec, tr_v_null(), ts)) {
        if (rc) tr_value_unref(rec);
        return;
    }
    world_metrics_in(w, &ev);
}

/* Whether an artefact with interval_s is due at now; moves *last. */
static int due(int64_t interval_s, uint64_t *last, uint64_t now) {
    if (interval_s < 0) return 0;
    uint64_t iv = (uint64_t)interval_s * 1000000000u;
    if (*last && now - *last < iv) return 0;
    *last = now;
    return 1;
}

void world_metrics_tick(struct tr_world *w, uint64_t now) {
    if (!sink(w)) return;
    char url[600];
    for (size_t i = 0; i < w->nonramps; i++) {
        struct onramp_inst *o = w->onramps[i];
        if (!o->refs || !due(on_art(o)->metrics_interval_s, &o->metrics_last, now)) continue;
        snprintf(url, sizeof url, "tremor://localhost/onramp/%s/%s", on_art(o)->id, o->instance);
        /* 0.11's onramp reporter: in is always 0 */
        ramp_event(w, url, "in", 0, now);
        ramp_event(w, url, "out", o->events_out, now);
        ramp_event(w, url, "error", o->decode_errors, now);
    }
    for (size_t i = 0; i < w->nofframps; i++) {
        struct offramp_inst *o = w->offramps[i];
        if (!o->refs || !due(off_art(o)->metrics_interval_s, &o->metrics_last, now)) continue;
        snprintf(url, sizeof url, "tremor://localhost/offramp/%s/%s", off_art(o)->id, o->instance);
        ramp_event(w, url, "in", o->events_in, now);
        ramp_event(w, url, "out", o->events_out, now);
        ramp_event(w, url, "error", o->fails + o->encode_errors, now);
    }
}
