/* world_onramp.c - hosting an onramp: what it reads becomes events.
 *
 * Bytes go through the entry's preprocessors (per stream) and codec; each
 * value becomes an event with ids (onramp uid, stream 0, next id) and is
 * pushed into every pipeline linked to the onramp. Contraflow that reaches
 * the onramp through a pipeline input becomes its trigger/restore/ack/fail.
 * Not the stop sequence (world_life.c) nor linking (world_deploy.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "codec/codec.h"
#include "codec/json.h"
#include "codec/proc.h"
#include "pipeline/world_int.h"

static void to_pipes(struct pipe_inst **pipes, size_t n, struct tr_event *ev) {
    /* frames decoded off the loop may arrive after an unbind retired a
     * pipeline of theirs */
    while (n > 0 && !pipes[n - 1]->p) n--;
    if (n == 0) {
        tr_event_fini(ev);
        return;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        struct tr_event copy;
        if (pipes[i]->p && tr_event_copy(&copy, ev) == 0) tr_pipeline_push(pipes[i]->p, TR_PORT_IN, &copy);
    }
    tr_pipeline_push(pipes[n - 1]->p, TR_PORT_IN, ev);
}

static void onramp_to_pipes(struct onramp_inst *o, struct tr_event *ev) {
    to_pipes(o->outs, o->nouts, ev);
}

/* A codec or preprocessor error as 0.11's SourceManager sends it to the
 * port 'err' (source.rs, make_error): value {"error": msg, "event_id": the
 * id the bytes' first event would have had, "source_id": the onramp's
 * URL}, meta {"error": msg}. It takes an event id, linked or not, as there.
 * Never transactional: nothing upstream waits for it. */
static int64_t onramp_error(struct onramp_inst *o, const char *msg) {
    char url[512];
    snprintf(url, sizeof url, "tremor://localhost/onramp/%s/%s", on_art(o)->id, o->instance);
    uint64_t id = o->next_id++;
    if (o->closing) return TR_ECLOSED;
    if (o->nerrs == 0) return TR_ENOTFOUND;
    tr_value v, m, x;
    if (tr_v_rec(3, &v)) return -ENOMEM;
    if (tr_v_rec(1, &m)) {
        tr_value_unref(v);
        return -ENOMEM;
    }
    int rc = tr_v_str(msg, strlen(msg), &x);
    if (!rc) rc = tr_rec_set(&v, "error", 5, x);
    if (!rc) rc = tr_rec_set(&v, "event_id", 8, tr_v_uint(o->chunk_id));
    if (!rc && !(rc = tr_v_str(url, strlen(url), &x))) rc = tr_rec_set(&v, "source_id", 9, x);
    if (!rc && !(rc = tr_v_str(msg, strlen(msg), &x))) rc = tr_rec_set(&m, "error", 5, x);
    struct tr_event ev;
    if (rc) {
        tr_value_unref(v);
        tr_value_unref(m);
        return rc;
    }
    if ((rc = tr_event_init(&ev, v, m, tr_now_ns()))) return rc;   /* it took v and m */
    tr_ids_init(&ev.ids, o->uid, 0, id);
    ev.transactional = false;
    to_pipes(o->errs, o->nerrs, &ev);
    return (int64_t)id;
}

static void preproc_error(void *arg, const char *why) {
    (void)onramp_error(arg, why);
}

static int64_t host_emit_error(struct tr_onramp_host *h, const char *msg) {
    return onramp_error((struct onramp_inst *)h, msg);
}

/* v and meta (taken) as the onramp's next event, with the frame's copy
 * raw (taken; NULL: none); ingest_ns 0: now. */
static int64_t emit_event(struct onramp_inst *o, tr_value value, tr_value meta, uint64_t ingest_ns,
                          struct tr_str *raw) {
    struct tr_event ev;
    int rc = tr_event_init(&ev, value, meta, ingest_ns ? ingest_ns : tr_now_ns());
    if (rc) {
        if (raw) tr_str_unref(raw);
        return rc;
    }
    if (raw) tr_event_keep_raw(&ev, raw);
    uint64_t id = o->next_id++;
    tr_ids_init(&ev.ids, o->uid, 0, id);
    ev.transactional = o->host.transactional;
    o->events_out++;
    if (o->in_bytes && on_art(o)->linked && o->ops->reply) {
        if (!o->sids) o->sids = tr_calloc(WORLD_SIDS, sizeof *o->sids);
        if (o->sids) o->sids[o->nsids++ % WORLD_SIDS] = (struct stream_of){id, o->cur_stream};
    }
    onramp_to_pipes(o, &ev);
    return (int64_t)id;
}

static int64_t host_emit_value(struct tr_onramp_host *h, tr_value value, tr_value meta) {
    struct onramp_inst *o = (struct onramp_inst *)h;
    if (o->closing) {
        tr_value_unref(value);
        tr_value_unref(meta);
        return TR_ECLOSED;
    }
    return emit_event(o, value, meta, 0, NULL);
}

/* Whether every pipeline this onramp feeds says holds: tr_pipeline_takes_raw
 * (what it decodes may stay undecoded JSON: the durable relay, in ->
 * qos::wal -> out) or tr_pipeline_keeps_raw. Checked per frame, as links
 * come and go; most onramps feed one pipeline. */
static bool outs_all(const struct onramp_inst *o, bool (*holds)(const struct tr_pipeline *)) {
    for (size_t i = 0; i < o->nouts; i++)
        if (!holds(o->outs[i]->p)) return false;
    return o->nouts > 0;
}

int world_decode_one(const struct tr_codec *codec, int mode, const char *data, size_t len, uint64_t now,
                     tr_value *v, struct tr_str **raw, struct tr_diag *d) {
    int canonical = 0, rc;
    *raw = NULL;
    if (mode == WORLD_DECODE_LAZY)
        rc = codec->decode_lazy(data, len, now, v, d);
    else if (mode == WORLD_DECODE_CANON)
        rc = codec->decode_canon(data, len, now, v, &canonical, d);
    else
        rc = codec->decode(data, len, now, v, d);
    if (!rc && canonical && v->type == TR_REC && len <= UINT32_MAX) {
        /* beside the decoded value, in the same carried block; without
         * it the event is only slower */
        struct tr_varena va;
        tr_varena_init(&va, len + 64);
        *raw = tr_varena_str_new(&va, data, len);
        tr_varena_done(&va);
    }
    return rc;
}

void world_onramp_deliver(struct onramp_inst *o, int rc, tr_value v, struct tr_str *raw, tr_value meta,
                          uint64_t ingest_ns, const char *msg, size_t len) {
    if (rc == 0) {
        (void)emit_event(o, v, meta, ingest_ns, raw);
        return;
    }
    tr_value_unref(meta);
    if (rc == TR_CODEC_NOTHING) return;
    o->decode_errors++;
    tr_log_limited(&o->decode_log, TR_LOG_WARN, "onramp",
                   "%s/%s: cannot decode %zu bytes with codec %s: %s (%llu so far)", on_art(o)->id,
                   o->instance, len, o->codec->name, msg && msg[0] ? msg : tr_strerror(rc),
                   (unsigned long long)o->decode_errors);
    if (rc == -ENOMEM) return;
    (void)onramp_error(o, msg && msg[0] ? msg : tr_strerror(rc));
}

static int decode_frame(void *arg, const char *data, size_t len) {
    struct onramp_inst *o = arg;
    if (len == 0 && o->npre > 0) return 0;   /* empty line */
    if (o->closing) return 0;                /* its events would be dropped */
    /* one clock read per chunk, not two per event: 0.11 gives every event
     * of a chunk the time it was received (source.rs, nanotime per reply) */
    uint64_t now = o->chunk_ns ? o->chunk_ns : tr_now_ns(), ns;
    uint64_t ingest = o->cur_pp && tr_preproc_ingest_ns(o->cur_pp, &ns) ? ns : now;
    int mode = WORLD_DECODE_PLAIN;
    if (o->codec->decode_lazy && outs_all(o, tr_pipeline_takes_raw))
        mode = WORLD_DECODE_LAZY;
    /* or keep the text with the event when no script of those pipelines
     * changes it: what leaves is often the event as it came, and writing
     * the text again costs less than encoding */
    else if (o->codec->decode_canon && outs_all(o, tr_pipeline_keeps_raw))
        mode = WORLD_DECODE_CANON;
    int first = o->chunk_first;
    o->chunk_first = 0;
    if (world_decode_wanted(o, mode)) {
        int rc = world_decode_enqueue(o, data, len, mode, now, ingest, first);
        if (rc == TR_ONRAMP_PAUSED) o->dq_told = 1;
        /* no room to queue it: counted and logged as a decode that failed */
        if (rc < 0) world_onramp_deliver(o, rc, tr_v_null(), NULL, tr_v_null(), ingest, NULL, len);
        return 0;
    }
    tr_value v;
    struct tr_str *raw;
    struct tr_diag d;
    tr_diag_clear(&d);
    struct tr_varena_carry *prev = tr_varena_use_carry(&o->carry);
    int rc = world_decode_one(o->codec, mode, data, len, now, &v, &raw, &d);
    tr_varena_use_carry(prev);
    world_onramp_deliver(o, rc, v, raw, tr_value_ref(o->cur_meta), ingest, d.msg, len);
    return 0;
}

static struct stream_pp *find_stream(struct onramp_inst *o, uint64_t stream, int create) {
    for (size_t i = 0; i < o->nstreams; i++)
        if (o->streams[i].stream == stream) return &o->streams[i];
    if (!create) return NULL;
    if (tr_grow((void **)&o->streams, &o->streams_cap, o->nstreams + 1, sizeof *o->streams))
        return NULL;
    struct stream_pp *s = &o->streams[o->nstreams];
    s->stream = stream;
    if (tr_preproc_create(o->pre, o->npre, &s->pp) != 0) return NULL;
    const struct tr_preproc_limits *lim = o->ops->stream_limits ? o->ops->stream_limits(o->self) : NULL;
    if (lim) tr_preproc_set_limits(s->pp, lim);
    tr_preproc_on_error(s->pp, preproc_error, o);
    o->nstreams++;
    return s;
}

/* Triggers queued and not yet run on their way to this onramp's pipelines'
 * inputs. */
static uint64_t triggers_to(const struct onramp_inst *o) {
    uint64_t n = 0;
    for (size_t i = 0; i < o->nouts; i++)
        if (o->outs[i]->p) n += tr_pipeline_triggers(o->outs[i]->p);
    return n;
}

static int host_emit_bytes(struct tr_onramp_host *h, uint64_t stream, const void *data, size_t len,
                           tr_value meta) {
    struct onramp_inst *o = (struct onramp_inst *)h;
    int rc = 0;
    o->cur_meta = meta;
    o->cur_stream = stream;
    o->in_bytes = 1;
    o->chunk_id = o->next_id;
    o->chunk_first = 1;
    o->dq_told = 0;
    o->chunk_ns = tr_now_ns();
    if (o->npre == 0) {
        rc = decode_frame(o, data, len);
    } else {
        struct stream_pp *s = find_stream(o, stream, 1);
        o->cur_pp = s ? s->pp : NULL;
        rc = s ? tr_preproc_feed(s->pp, data, len, decode_frame, o) : -ENOMEM;
        o->cur_pp = NULL;
    }
    o->cur_meta = tr_v_null();
    o->in_bytes = 0;
    o->chunk_ns = 0;
    tr_value_unref(meta);
    /* The trigger itself comes from the loop; the onramp stops reading now.
     * Also for one queued before these bytes: the loop runs it only after
     * every read of this poll, up to 32 chunks a stream in libuv, far more
     * than a paused WAL holds. */
    if (rc >= 0 && (triggers_to(o) > 0 || o->dq_told)) rc = TR_ONRAMP_PAUSED;
    return rc;
}

static void host_stream_end(struct tr_onramp_host *h, uint64_t stream) {
    struct onramp_inst *o = (struct onramp_inst *)h;
    struct stream_pp *s = find_stream(o, stream, 0);
    if (!s) return;
    o->chunk_id = o->next_id;
    o->chunk_first = 1;
    o->cur_pp = s->pp;
    tr_preproc_finish(s->pp, decode_frame, o);
    o->cur_pp = NULL;
    tr_preproc_destroy(s->pp);
    *s = o->streams[--o->nstreams];
}

static void host_done(struct tr_onramp_host *h) {
    struct onramp_inst *o = (struct onramp_inst *)h;
    TR_INFO("onramp", "%s/%s has no more events", on_art(o)->id, o->instance);
}

static void host_shutdown(struct tr_onramp_host *h) {
    struct onramp_inst *o = (struct onramp_inst *)h;
    struct tr_world *w = o->w;
    TR_INFO("world", "onramp %s/%s is done: stopping", on_art(o)->id, o->instance);
    if (w->on_shutdown && !world_stopping(w)) w->on_shutdown(w->shutdown_arg);
}

static void host_exit(struct tr_onramp_host *h, int code) {
    struct onramp_inst *o = (struct onramp_inst *)h;
    if (o->w->exit_code < 0) o->w->exit_code = code;
    host_shutdown(h);
}

static uint64_t host_next_id(struct tr_onramp_host *h) { return ((struct onramp_inst *)h)->next_id; }
static uint64_t host_events(struct tr_onramp_host *h) { return ((struct onramp_inst *)h)->events_out; }

static const struct tr_onramp_host_ops onramp_host_ops = {
    host_emit_value, host_emit_bytes, host_stream_end, host_done, host_shutdown, host_exit,
    host_next_id,
    host_emit_error,
    host_events,
};


/* Contraflow reaching an onramp through a pipeline input. */
void world_onramp_cf(void *arg, const struct tr_insight *in) {
    struct onramp_inst *o = arg;
    if (o->closing || !o->self) return;
    uint64_t id;
    switch (in->cb) {
    /* the decode queue may hold the connector too (world_decode.c): it is
     * restored when neither does */
    case TR_CB_TRIGGER:
        o->pipe_paused = 1;
        o->ops->trigger(o->self);
        break;
    case TR_CB_RESTORE:
        o->pipe_paused = 0;
        if (!o->dq_paused) o->ops->restore(o->self);
        break;
    case TR_CB_ACK: {
        uint64_t lo;
        if (tr_ids_max_for(&in->ids, o->uid, &id) != 0) break;
        if (o->ops->ack_range && tr_ids_min_for(&in->ids, o->uid, &lo) == 0)
            o->ops->ack_range(o->self, lo, id);
        else
            o->ops->ack(o->self, id);
        break;
    }
    case TR_CB_FAIL:
        if (tr_ids_min_for(&in->ids, o->uid, &id) == 0) o->ops->fail(o->self, id);
        break;
    case TR_CB_RELEASE: break;   /* onramps keep no window: the ack follows */
    case TR_CB_NONE: break;
    }
}

void world_onramp_reply(void *arg, struct tr_event *ev) {
    struct onramp_inst *o = arg;
    uint64_t id;
    if (!o->closing && o->self && o->ops->reply && tr_ids_max_for(&ev->ids, o->uid, &id) == 0) {
        uint64_t stream = 0;
        size_t n = o->nsids < WORLD_SIDS ? o->nsids : WORLD_SIDS;
        for (size_t k = 0; o->sids && k < n; k++) {
            const struct stream_of *e = &o->sids[(o->nsids - 1 - k) % WORLD_SIDS];
            if (e->id == id) {
                stream = e->stream;
                break;
            }
        }
        /* a reply's value is the connector's to read (rest: status, headers) */
        int rc = tr_json_materialize(&ev->value);
        if (rc == 0)
            o->ops->reply(o->self, id, stream, &ev->value, &ev->meta, o->codec);
        else
            TR_WARN("world", "onramp %s/%s: a reply is dropped: cannot decode it: %s", on_art(o)->id,
                    o->instance, tr_strerror(rc));
    } else
        TR_DEBUG("world", "onramp %s/%s: a reply that answers none of its events is dropped",
                 on_art(o)->id, o->instance);
    tr_event_fini(ev);
}

/* The instance `instance` of entry a, created (config checked, nothing
 * started). Errors: the connector's create errors, -ENOMEM. */
int world_onramp_create(struct tr_world *w, const struct tr_cfg_artefact *a, const char *instance,
                        struct onramp_inst **out, struct tr_diag *d) {
    *out = NULL;
    struct onramp_inst *o = tr_calloc(1, sizeof *o);
    if (!o) return -ENOMEM;
    o->host.ops = &onramp_host_ops;
    o->host.loop = w->loop;
    o->w = w;
    o->art = (size_t)(a - w->cfg.onramps);
    o->ops = w->reg.onramp(a->type);
    o->host.transactional = o->ops->transactional;
    o->codec = tr_codec_find(a->codec ? a->codec
                                      : o->ops->default_codec ? o->ops->default_codec : "json");
    o->pre = a->preprocessors;
    o->npre = a->npre;
    if (o->npre == 0 && o->ops->default_pre) {
        o->pre = o->ops->default_pre;
        o->npre = o->ops->ndefault_pre;
    }
    o->uid = w->next_onramp_uid++;
    o->instance = tr_strdup(instance);
    struct tr_conn_spec spec = world_conn_spec(a, instance);
    int rc = o->instance ? o->ops->create(&spec, &o->host, &o->self, d) : -ENOMEM;
    rc = world_inst_keep(rc, "onramp", a, o, o->instance, o->self, o->ops->close,
                         (struct world_inst_list){(void ***)&w->onramps, &w->nonramps, &w->onramps_cap});
    if (!rc) *out = o;
    return rc;
}

static void retired(void *arg) {
    struct onramp_inst *o = arg;
    TR_INFO("world", "onramp %s/%s closed", on_art(o)->id, o->instance);
}

void world_onramp_retire(struct onramp_inst *o) {
    if (o->closing || !o->self) return;
    o->closing = 1;
    void *self = o->self;
    o->self = NULL;
    /* preprocessors may charge the onramp's budget, which ends with it */
    for (size_t k = 0; k < o->nstreams; k++) tr_preproc_destroy(o->streams[k].pp);
    o->nstreams = 0;
    o->ops->close(self, retired, o);
}

void world_onramp_free(struct onramp_inst *o) {
    world_decode_fini(o);
    tr_varena_carry_drop(&o->carry);
    for (size_t k = 0; k < o->nstreams; k++) tr_preproc_destroy(o->streams[k].pp);
    tr_free(o->streams);
    tr_free(o->sids);
    tr_free(o->outs);
    tr_free(o->errs);
    tr_free(o->instance);
    tr_free(o);
}
