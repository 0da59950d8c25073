/* world_offramp.c - hosting an offramp: events become bytes and tokens.
 *
 * Offramp tokens: every transactional event handed to an offramp gets the
 * next token; the ids it carries wait in a ring indexed by token until the
 * offramp answers. Answers may come out of order; the ring's base moves past
 * every answered token, so it holds exactly the events in flight. An answer
 * becomes an ACK/FAIL insight into the pipeline that sent the event.
 *
 * Nothing a connector reports (answers, breaker signals, close completions)
 * runs inside the connector's call: insights are queued by the pipelines and
 * the stop steps by the world, on the loop's one deferred queue (w->defer,
 * core/defer.h), and run from the top of the loop.
 */
#include <errno.h>
#include <string.h>

#include "codec/codec.h"
#include "codec/json.h"
#include "codec/proc.h"
#include "pipeline/world_int.h"

void world_send_insight(struct pipe_inst *pi, enum tr_cb cb, struct tr_ids *ids) {
    struct tr_insight in;
    if (!pi->p) return;   /* retired or stopped: nobody upstream is left */
    in.cb = cb;
    if (ids) in.ids = *ids;
    else tr_ids_init(&in.ids, 0, 0, 0);
    tr_pipeline_contraflow(pi->p, &in);
    if (!ids) tr_ids_fini(&in.ids);
}

/* Hand a merged release upstream (its ids are taken). */
static void release_run(struct pipe_inst *pi, struct tr_insight *run) {
    if (pi->p) tr_pipeline_contraflow_take(pi->p, run);
    else tr_ids_fini(&run->ids);
    tr_ids_init(&run->ids, 0, 0, 0);
}

/* The entry of a token in flight, or NULL (unknown or answered). */
static struct pending *pending_of(struct offramp_inst *o, uint64_t token) {
    if (token < o->base || token - o->base >= tr_ring_len(&o->pending)) return NULL;
    struct pending *pe = tr_ring_at(&o->pending, (size_t)(token - o->base));
    return pe->used ? pe : NULL;
}

static void answer(struct tr_offramp_host *h, uint64_t token, enum tr_cb cb) {
    struct offramp_inst *o = (struct offramp_inst *)h;
    struct pending *pe = pending_of(o, token), *oldest;
    if (!pe) {
        TR_WARN("offramp", "%s/%s answered token %llu twice or unknown: ignored", off_art(o)->id,
                o->instance, (unsigned long long)token);
        return;
    }
    TR_DEBUG("offramp", "%s/%s: token %llu %s", off_art(o)->id, o->instance,
             (unsigned long long)token, tr_cb_name(cb));
    struct tr_insight in = {.cb = cb};
    tr_ids_move(&in.ids, &pe->ids);   /* queued, not run */
    struct pipe_inst *pi = pe->pi;
    int upstream = pe->transactional;
    pe->used = 0;
    o->in_flight--;
    if (cb == TR_CB_ACK) o->acks++, o->events_out++;
    else o->fails++;
    while ((oldest = tr_ring_peek(&o->pending)) && !oldest->used) {
        tr_ring_pop(&o->pending, NULL);
        o->base++;
    }
    if (pi->p && upstream) tr_pipeline_contraflow_take(pi->p, &in);
    else tr_ids_fini(&in.ids);   /* retired or stopped: nobody upstream is left */
}

/* A linked offramp's response: a new event (this offramp's uid and next
 * id) that also carries the ids of the message it answers, as 0.11 tracks
 * them, into every pipeline linked from the port. Never transactional. */
static int off_emit(struct tr_offramp_host *h, uint64_t token, bool err, tr_value value, tr_value meta) {
    struct offramp_inst *o = (struct offramp_inst *)h;
    struct pending *pe = pending_of(o, token);
    if (!pe) {
        tr_value_unref(value);
        tr_value_unref(meta);
        return TR_ENOTFOUND;
    }
    struct pipe_inst **to = err ? o->errs : o->outs;
    size_t n = err ? o->nerrs : o->nouts;
    struct tr_event ev;
    int rc = tr_event_init(&ev, value, meta, tr_now_ns());
    if (rc) return rc;
    /* offramp uids live beside onramp uids: the high bit keeps them apart */
    tr_ids_init(&ev.ids, o->uid | ((uint64_t)1 << 63), 0, o->next_id++);
    if ((rc = tr_ids_track(&ev.ids, &pe->ids))) {
        tr_event_fini(&ev);
        return rc;
    }
    ev.transactional = false;
    if (n == 0) {
        tr_event_fini(&ev);
        return 0;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        struct tr_event copy;
        if (to[i]->p && tr_event_copy(&copy, &ev) == 0) tr_pipeline_push(to[i]->p, TR_PORT_IN, &copy);
    }
    if (to[n - 1]->p) tr_pipeline_push(to[n - 1]->p, TR_PORT_IN, &ev);
    else tr_event_fini(&ev);
    return 0;
}

void world_offramp_cf(void *arg, const struct tr_insight *in) {
    (void)arg;
    (void)in;
}

/* The peer has these events but the offramp may still fail them: their
 * tokens and ids stay in the ring until the answer; upstream gets the ids
 * so a window can free the slots now. At most once per token. A run of
 * tokens from one pipeline goes up as one insight carrying all their ids
 * merged: a window frees the range in one step (a pong confirms hundreds
 * of messages; one insight each cost as much as sending them). */
static void off_release(struct tr_offramp_host *h, const uint64_t *tokens, size_t n) {
    struct offramp_inst *o = (struct offramp_inst *)h;
    struct tr_insight run = {.cb = TR_CB_RELEASE};
    struct pipe_inst *run_pi = NULL;
    for (size_t i = 0; i < n; i++) {
        struct pending *pe = pending_of(o, tokens[i]);
        if (!pe || pe->released || !pe->transactional) continue;
        pe->released = 1;
        if (run_pi == pe->pi && tr_ids_track(&run.ids, &pe->ids) == 0) continue;
        /* another pipeline, or no memory to merge: what is merged goes now */
        if (run_pi) release_run(run_pi, &run);
        run_pi = pe->pi;
        /* copied: the ids stay for the answer */
        if (tr_ids_copy(&run.ids, &pe->ids) != 0) {
            tr_ids_init(&run.ids, 0, 0, 0);
            run_pi = NULL;
            world_send_insight(pe->pi, TR_CB_RELEASE, &pe->ids);   /* reports the failure */
        }
    }
    if (run_pi) release_run(run_pi, &run);
}

static void off_ack(struct tr_offramp_host *h, uint64_t token) { answer(h, token, TR_CB_ACK); }
static void off_fail(struct tr_offramp_host *h, uint64_t token) { answer(h, token, TR_CB_FAIL); }

static void off_breaker(struct tr_offramp_host *h, enum tr_cb cb) {
    struct offramp_inst *o = (struct offramp_inst *)h;
    o->breaker_open = cb == TR_CB_TRIGGER;
    if (o->breaker_open) o->triggers++;
    else o->restores++;
    for (size_t i = 0; i < o->nlinks; i++)
        if (!o->links[i]->untracked) world_send_insight(o->links[i]->pi, cb, NULL);
}

static void off_trigger(struct tr_offramp_host *h) { off_breaker(h, TR_CB_TRIGGER); }
static void off_restore(struct tr_offramp_host *h) { off_breaker(h, TR_CB_RESTORE); }

static void off_shutdown(struct tr_offramp_host *h) {
    struct offramp_inst *o = (struct offramp_inst *)h;
    struct tr_world *w = o->w;
    TR_INFO("world", "offramp %s/%s is done: stopping", off_art(o)->id, o->instance);
    if (w->on_shutdown && !world_stopping(w)) w->on_shutdown(w->shutdown_arg);
}

static void off_exit(struct tr_offramp_host *h, int code) {
    struct offramp_inst *o = (struct offramp_inst *)h;
    if (o->w->exit_code < 0) o->w->exit_code = code;
    off_shutdown(h);
}

static const struct tr_offramp_host_ops offramp_host_ops = {
    off_ack, off_fail, off_trigger, off_restore, off_shutdown, off_release, off_emit, off_exit,
};

/* A batch (generic::batch): each element's data.value encoded and
 * postprocessed on its own, as Tremor's sinks do, the results one after
 * the other in one message (0.11's rest sink sends them as one body; a
 * stream sink writes the same bytes; message sinks such as ws and udp get
 * one message where 0.11 sends one per element, and gelf chunks of a batch
 * go as one). Elements without data.value are skipped. */
static int encode_batch(struct offramp_inst *o, const struct tr_event *ev, struct tr_buf *enc) {
    struct tr_buf one;
    tr_buf_init(&one);
    int rc = 0;
    for (uint32_t i = 0; !rc && i < tr_arr_len(&ev->value); i++) {
        const tr_value *el = tr_arr_at(&ev->value, i);
        const tr_value *data = el->type == TR_REC ? tr_rec_get_cstr(el, "data") : NULL;
        const tr_value *v = data && data->type == TR_REC ? tr_rec_get_cstr(data, "value") : NULL;
        const tr_value *ns = data && data->type == TR_REC ? tr_rec_get_cstr(data, "ingest_ns") : NULL;
        if (!v) continue;
        tr_buf_reset(&one);
        rc = o->codec->encode(v, &one);
        uint64_t ingest = ev->ingest_ns;
        if (ns && ns->type == TR_U64) ingest = ns->as.u;
        else if (ns && ns->type == TR_I64 && ns->as.i >= 0) ingest = (uint64_t)ns->as.i;
        if (!rc && o->post) rc = tr_postproc_run(o->post, ingest, &one);
        if (!rc) rc = tr_buf_append(enc, one.data, one.len);
    }
    tr_buf_fini(&one);
    return rc;
}

/* An event leaving a pipeline towards this offramp. Takes ev. */
void world_offramp_in(void *arg, struct tr_event *ev) {
    struct out_link *l = arg;
    struct offramp_inst *o = l->o;
    enum tr_cb refuse = TR_CB_FAIL;   /* what a refused transactional event gets */
    int rc = 0;
    o->events_in++;
    if (o->closing || !o->self) {
        rc = TR_ECLOSED;
        goto refused;
    }
    /* One buffer per offramp: an answer inside send() is only queued, so no
     * event arrives here before send() returns. */
    struct tr_buf *enc = &o->enc;
    tr_buf_reset(enc);
    if (off_art(o)->npost && !o->post)
        rc = tr_postproc_create(off_art(o)->postprocessors, off_art(o)->npost, &o->post);
    /* undecoded JSON leaves as its bytes only where nothing reads the value;
     * so does the text a value was decoded from while it is that value */
    bool raw_out = o->codec->raw_json && o->ops->bytes_only;
    if (raw_out) tr_event_use_raw(ev);
    if (!rc && ev->value.type == TR_RAWJSON && !raw_out) rc = tr_json_materialize(&ev->value);
    bool batch = ev->is_batch && ev->value.type == TR_ARR;
    const char *view = NULL;
    size_t view_len = 0;
    if (!rc && batch) {
        rc = encode_batch(o, ev, enc);
    } else if (!rc && !o->post && o->codec->view && o->codec->view(&ev->value, &view, &view_len)) {
        /* a string as itself: sent from the event, not copied into enc */
    } else if (!rc) {
        rc = o->codec->encode(&ev->value, enc);
        if (!rc && o->post) rc = tr_postproc_run(o->post, ev->ingest_ns, enc);
    }
    if (rc) {
        o->encode_errors++;
        TR_WARN("offramp", "%s/%s: cannot encode an event with codec %s: %s; rejected (%llu so "
                "far)", off_art(o)->id, o->instance, o->codec->name, tr_strerror(rc),
                (unsigned long long)o->encode_errors);
        /* It never will encode: acknowledge the rejection (logged and
         * counted) so a WAL upstream does not replay it forever. */
        if (rc != -ENOMEM) refuse = TR_CB_ACK;
        goto refused;
    }
    /* no answer goes back over an untracked link, so none is asked for */
    if (l->untracked) ev->transactional = false;
    struct tr_out_msg m = {
        .token = 0, .transactional = ev->transactional, .data = view ? view : enc->data,
        .len = view ? view_len : enc->len, .meta = &ev->meta, .ingest_ns = ev->ingest_ns,
        .value = &ev->value, .ids = &ev->ids, .is_batch = batch,
    };
    /* a linked offramp's responses carry the ids of what they answer */
    if (ev->transactional || off_linked(o)) {
        /* filled in its slot: one copy of the ids (96 bytes) per event */
        struct pending *pe = tr_ring_push_slot(&o->pending);
        if (!pe) {
            rc = -ENOMEM;
            goto refused;   /* the refusal answers the ids, still in ev */
        }
        *pe = (struct pending){.pi = l->pi, .used = 1, .released = 0, .transactional = ev->transactional};
        tr_ids_move(&pe->ids, &ev->ids);
        m.token = o->base + tr_ring_len(&o->pending) - 1;
        m.ids = &pe->ids;   /* moved there; stays until the answer */
        o->in_flight++;
        TR_DEBUG("offramp", "%s/%s: token %llu for event %llu", off_art(o)->id, o->instance,
                 (unsigned long long)m.token, (unsigned long long)pe->ids.id.event);
    }
    /* gelf-chunking makes several chunks (datagrams) of one event: all but
     * the last go out untracked, the last carries the event's token */
    size_t start = 0, nch = o->post && !batch ? tr_postproc_chunks(o->post) : 1;
    for (size_t k = 0; k + 1 < nch; k++) {
        size_t end = tr_postproc_chunk_end(o->post, k);
        struct tr_out_msg part = m;
        part.token = 0;
        part.transactional = false;
        part.value = NULL;
        part.ids = NULL;
        part.is_batch = false;
        part.data = enc->data + start;
        part.len = end - start;
        o->ops->send(o->self, &part);
        start = end;
    }
    if (!view) {
        m.data = enc->data + start;
        m.len = enc->len - start;
    }
    o->ops->send(o->self, &m);
    if (!ev->transactional) o->events_out++;   /* nothing will answer it */
    tr_event_fini(ev);
    return;
refused:
    if (ev->transactional && !l->untracked) world_send_insight(l->pi, refuse, &ev->ids);
    tr_event_fini(ev);
}

/* The instance `instance` of entry a, created (config checked, nothing
 * started). Errors: the connector's create errors, -ENOMEM. */
int world_offramp_create(struct tr_world *w, const struct tr_cfg_artefact *a,
                         const char *instance, struct offramp_inst **out, struct tr_diag *d) {
    *out = NULL;
    struct offramp_inst *o = tr_calloc(1, sizeof *o);
    if (!o) return -ENOMEM;
    o->host.ops = &offramp_host_ops;
    o->host.loop = w->loop;
    o->w = w;
    o->art = (size_t)(a - w->cfg.offramps);
    o->ops = w->reg.offramp(a->type);
    o->codec = tr_codec_find(a->codec ? a->codec : "json");
    o->uid = w->next_offramp_uid++;
    tr_ring_init(&o->pending, sizeof(struct pending));
    o->base = 1;
    tr_buf_init(&o->enc);
    o->instance = tr_strdup(instance);
    struct tr_conn_spec spec = world_conn_spec(a, instance);
    spec.linked = off_linked(o);
    int rc = o->instance ? o->ops->create(&spec, &o->host, &o->self, d) : -ENOMEM;
    rc = world_inst_keep(rc, "offramp", a, o, o->instance, o->self, o->ops->close,
                         (struct world_inst_list){(void ***)&w->offramps, &w->nofframps, &w->offramps_cap});
    if (!rc) *out = o;
    return rc;
}

static void retired(void *arg) {
    struct offramp_inst *o = arg;
    TR_INFO("world", "offramp %s/%s closed", off_art(o)->id, o->instance);
}

void world_offramp_retire(struct offramp_inst *o) {
    if (o->closing || !o->self) return;
    o->closing = 1;
    void *self = o->self;
    o->self = NULL;
    o->ops->close(self, retired, o);
}

void world_offramp_free(struct offramp_inst *o) {
    struct pending pe;
    while (tr_ring_pop(&o->pending, &pe))
        if (pe.used) tr_ids_fini(&pe.ids);
    for (size_t k = 0; k < o->nlinks; k++) tr_free(o->links[k]);
    tr_free(o->links);
    tr_free(o->outs);
    tr_free(o->errs);
    tr_ring_fini(&o->pending);
    tr_buf_fini(&o->enc);
    tr_postproc_destroy(o->post);
    tr_free(o->instance);
    tr_free(o);
}
