/* world.c - artefacts, deployment and connector hosting for `server run`.
 *
 * Ownership: the world owns the loaded configuration (artefact specs stay
 * valid for its whole life), the query sources, and every instance. An
 * instance is never freed before the world: closed connectors only lose
 * their `self`, so contraflow that arrives late finds a closed instance and
 * is dropped instead of touching freed memory.
 *
 * Offramp tokens: every transactional event handed to an offramp gets the
 * next token; the ids it carries wait in a ring indexed by token until the
 * offramp answers. Answers may come out of order; the ring's base moves past
 * every answered token, so it holds exactly the events in flight.
 */
#include "pipeline/world.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec/codec.h"
#include "codec/proc.h"
#include "config/config.h"
#include "config/url.h"
#include "connectors/conn.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/event.h"
#include "core/file.h"
#include "core/log.h"
#include "lang/lang.h"
#include "lang/query.h"
#include "pipeline/pipeline.h"

#define TICK_MS 100
#define OFFRAMP_UID_BASE ((uint64_t)1 << 51)
#define MAX_QUERY_BYTES (64u * 1024 * 1024)

struct query_art {
    char *id;
    char *path;
    char *src;
    size_t len;
};

struct pipe_inst {
    struct tr_world *w;
    char *id;
    char *instance;
    struct tr_pipeline *p;
};

struct stream_pp {
    uint64_t stream;
    struct tr_preproc *pp;
};

struct onramp_inst {
    struct tr_onramp_host host;      /* first: the connector's view of us */
    struct tr_world *w;
    size_t art;                      /* index into w->cfg.onramps (the array may move) */
    char *instance;
    const struct tr_onramp_ops *ops;
    void *self;
    const struct tr_codec *codec;
    char **pre;
    size_t npre;
    struct stream_pp *streams;
    size_t nstreams, streams_cap;
    uint64_t uid;
    uint64_t next_id;
    struct pipe_inst **outs;
    size_t nouts, outs_cap;
    uint64_t decode_errors;
    struct tr_log_limit decode_log;  /* a peer can cause one decode error per frame */
    tr_value cur_meta;               /* meta of the bytes being decoded */
    int closing;
};

struct pending {
    struct tr_ids ids;
    struct pipe_inst *pi;
    int used;
    int released;                    /* upstream was told the peer has it */
};

struct out_link {
    struct offramp_inst *o;
    struct pipe_inst *pi;
};

struct offramp_inst {
    struct tr_offramp_host host;     /* first */
    struct tr_world *w;
    size_t art;                      /* index into w->cfg.offramps */
    char *instance;
    const struct tr_offramp_ops *ops;
    void *self;
    const struct tr_codec *codec;
    uint64_t uid;
    struct out_link **links;
    size_t nlinks, links_cap;
    struct pending *ring;
    size_t ring_cap;                 /* power of two */
    uint64_t base, next_token;       /* tokens in flight: [base, next_token) */
    size_t in_flight;
    struct tr_buf enc;
    uint64_t encode_errors;
    int sending;                     /* inside ops->send (re-entrancy) */
    int closing;
};

struct tr_world {
    uv_loop_t *loop;
    char *instance;
    char *data_dir;
    struct tr_config cfg;
    size_t deployed_mappings;
    struct query_art *queries;
    size_t nqueries, queries_cap;
    struct pipe_inst **pipes;
    size_t npipes, pipes_cap;
    struct onramp_inst **onramps;
    size_t nonramps, onramps_cap;
    struct offramp_inst **offramps;
    size_t nofframps, offramps_cap;
    uint64_t next_onramp_uid;
    uint64_t next_offramp_uid;
    uint64_t op_uids;
    uv_timer_t tick;
    int tick_open;
    int started;
    /* stopping */
    int stopping;
    uint64_t drain_deadline;
    size_t closing_count;
    void (*stop_done)(void *);
    void *stop_arg;
    struct tr_buf detail;            /* rendered source excerpt of the last error */
    void (*on_shutdown)(void *arg);
    void *shutdown_arg;
    int fatal;                       /* an operator cannot go on: stop, exit 1 */
    int fatal_told;                  /* on_shutdown called for it */
};

static const struct tr_cfg_artefact *on_art(const struct onramp_inst *o) {
    return &o->w->cfg.onramps[o->art];
}

static const struct tr_cfg_artefact *off_art(const struct offramp_inst *o) {
    return &o->w->cfg.offramps[o->art];
}

static int push(void **arr, size_t *n, size_t *cap, void *item) {
    int rc = tr_grow(arr, cap, *n + 1, sizeof(void *));
    if (rc) return rc;
    ((void **)*arr)[(*n)++] = item;
    return 0;
}

/* An operator cannot go on without losing events. Called from inside the
 * event's path: only note it here; the tick asks the server to stop. */
static void pipe_fatal(void *arg, const char *pipeline, const char *why) {
    struct tr_world *w = arg;
    if (!w->fatal)
        TR_ERROR("world", "pipeline %s cannot go on (%s): stopping; exit status 1 so that a "
                 "supervisor restarts the server", pipeline, why);
    w->fatal = 1;
}

int tr_world_failed(const struct tr_world *w) { return w->fatal; }

/* ------------------------------------------------------ onramp hosting */

static void onramp_to_pipes(struct onramp_inst *o, struct tr_event *ev) {
    if (o->nouts == 0) {
        tr_event_fini(ev);
        return;
    }
    for (size_t i = 0; i + 1 < o->nouts; i++) {
        struct tr_event copy;
        if (tr_event_copy(&copy, ev) == 0) tr_pipeline_push(o->outs[i]->p, "in", &copy);
    }
    tr_pipeline_push(o->outs[o->nouts - 1]->p, "in", ev);
}

static int64_t host_emit_value(struct tr_onramp_host *h, tr_value value, tr_value meta) {
    struct onramp_inst *o = (struct onramp_inst *)h;
    struct tr_event ev;
    if (o->closing) {
        tr_value_unref(value);
        tr_value_unref(meta);
        return TR_ECLOSED;
    }
    int rc = tr_event_init(&ev, value, meta, tr_now_ns());
    if (rc) return rc;
    uint64_t id = o->next_id++;
    tr_ids_init(&ev.ids, o->uid, 0, id);
    ev.transactional = o->ops->transactional;
    onramp_to_pipes(o, &ev);
    return (int64_t)id;
}

static int decode_frame(void *arg, const char *data, size_t len) {
    struct onramp_inst *o = arg;
    if (len == 0 && o->npre > 0) return 0;   /* empty line */
    tr_value v;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = o->codec->decode(data, len, tr_now_ns(), &v, &d);
    if (rc == TR_CODEC_NOTHING) return 0;
    if (rc) {
        o->decode_errors++;
        tr_log_limited(&o->decode_log, TR_LOG_WARN, "onramp",
                       "%s/%s: cannot decode %zu bytes with codec %s: %s (%llu so far)",
                       on_art(o)->id, o->instance, len, o->codec->name,
                       d.msg[0] ? d.msg : tr_strerror(rc), (unsigned long long)o->decode_errors);
        return 0;
    }
    host_emit_value(&o->host, v, tr_value_ref(o->cur_meta));
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
    o->nstreams++;
    return s;
}

static int host_emit_bytes(struct tr_onramp_host *h, uint64_t stream, const void *data, size_t len,
                           tr_value meta) {
    struct onramp_inst *o = (struct onramp_inst *)h;
    int rc = 0;
    o->cur_meta = meta;
    if (o->npre == 0) {
        rc = decode_frame(o, data, len);
    } else {
        struct stream_pp *s = find_stream(o, stream, 1);
        rc = s ? tr_preproc_feed(s->pp, data, len, decode_frame, o) : -ENOMEM;
    }
    o->cur_meta = tr_v_null();
    tr_value_unref(meta);
    return rc;
}

static void host_stream_end(struct tr_onramp_host *h, uint64_t stream) {
    struct onramp_inst *o = (struct onramp_inst *)h;
    struct stream_pp *s = find_stream(o, stream, 0);
    if (!s) return;
    tr_preproc_finish(s->pp, decode_frame, o);
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
    if (w->on_shutdown && !w->stopping) w->on_shutdown(w->shutdown_arg);
}

static const struct tr_onramp_host_ops onramp_host_ops = {
    host_emit_value, host_emit_bytes, host_stream_end, host_done, host_shutdown,
};

/* Contraflow reaching an onramp through a pipeline input. */
static void onramp_cf(void *arg, const struct tr_insight *in) {
    struct onramp_inst *o = arg;
    if (o->closing || !o->self) return;
    uint64_t id;
    switch (in->cb) {
    case TR_CB_TRIGGER: o->ops->trigger(o->self); break;
    case TR_CB_RESTORE: o->ops->restore(o->self); break;
    case TR_CB_ACK:
        if (tr_ids_max_for(&in->ids, o->uid, &id) == 0) o->ops->ack(o->self, id);
        break;
    case TR_CB_FAIL:
        if (tr_ids_min_for(&in->ids, o->uid, &id) == 0) o->ops->fail(o->self, id);
        break;
    case TR_CB_RELEASE: break;   /* onramps keep no window: the ack follows */
    case TR_CB_NONE: break;
    }
}

/* ----------------------------------------------------- offramp hosting */

static void send_insight(struct pipe_inst *pi, enum tr_cb cb, struct tr_ids *ids) {
    struct tr_insight in;
    in.cb = cb;
    if (ids) in.ids = *ids;
    else tr_ids_init(&in.ids, 0, 0, 0);
    tr_pipeline_contraflow(pi->p, &in);
    if (!ids) tr_ids_fini(&in.ids);
}

static void answer(struct tr_offramp_host *h, uint64_t token, enum tr_cb cb) {
    struct offramp_inst *o = (struct offramp_inst *)h;
    if (token < o->base || token >= o->next_token || !o->ring[token & (o->ring_cap - 1)].used) {
        TR_WARN("offramp", "%s/%s answered token %llu twice or unknown: ignored", off_art(o)->id,
                o->instance, (unsigned long long)token);
        return;
    }
    struct pending *pe = &o->ring[token & (o->ring_cap - 1)];
    TR_DEBUG("offramp", "%s/%s: token %llu %s", off_art(o)->id, o->instance,
             (unsigned long long)token, tr_cb_name(cb));
    /* Take the entry out before calling out: the contraflow may emit new
     * events into this offramp, which can grow (move) the ring. */
    struct tr_ids ids = pe->ids;
    struct pipe_inst *pi = pe->pi;
    pe->used = 0;
    o->in_flight--;
    while (o->base < o->next_token && !o->ring[o->base & (o->ring_cap - 1)].used) o->base++;
    send_insight(pi, cb, &ids);
    tr_ids_fini(&ids);
}

/* The peer has the event but the offramp may still fail it: its token and
 * ids stay in the ring until the answer; upstream gets a copy of the ids so
 * a window can free the slot now. At most once per token. */
static void off_release(struct tr_offramp_host *h, uint64_t token) {
    struct offramp_inst *o = (struct offramp_inst *)h;
    if (token < o->base || token >= o->next_token || !o->ring[token & (o->ring_cap - 1)].used ||
        o->ring[token & (o->ring_cap - 1)].released)
        return;
    struct pending *pe = &o->ring[token & (o->ring_cap - 1)];
    pe->released = 1;
    /* the pipeline copies the ids before anything runs (which may send and
     * so move the ring) */
    send_insight(pe->pi, TR_CB_RELEASE, &pe->ids);
}

static void off_ack(struct tr_offramp_host *h, uint64_t token) { answer(h, token, TR_CB_ACK); }
static void off_fail(struct tr_offramp_host *h, uint64_t token) { answer(h, token, TR_CB_FAIL); }

static void off_breaker(struct tr_offramp_host *h, enum tr_cb cb) {
    struct offramp_inst *o = (struct offramp_inst *)h;
    for (size_t i = 0; i < o->nlinks; i++) send_insight(o->links[i]->pi, cb, NULL);
}

static void off_trigger(struct tr_offramp_host *h) { off_breaker(h, TR_CB_TRIGGER); }
static void off_restore(struct tr_offramp_host *h) { off_breaker(h, TR_CB_RESTORE); }

static void off_shutdown(struct tr_offramp_host *h) {
    struct offramp_inst *o = (struct offramp_inst *)h;
    struct tr_world *w = o->w;
    TR_INFO("world", "offramp %s/%s is done: stopping", off_art(o)->id, o->instance);
    if (w->on_shutdown && !w->stopping) w->on_shutdown(w->shutdown_arg);
}

static const struct tr_offramp_host_ops offramp_host_ops = {
    off_ack, off_fail, off_trigger, off_restore, off_shutdown, off_release,
};

static int ring_reserve(struct offramp_inst *o) {
    if (o->next_token - o->base < o->ring_cap) return 0;
    size_t nc = o->ring_cap ? o->ring_cap * 2 : 256;
    struct pending *r = tr_calloc(nc, sizeof *r);
    if (!r) return -ENOMEM;
    for (uint64_t t = o->base; t < o->next_token; t++)
        r[t & (nc - 1)] = o->ring[t & (o->ring_cap - 1)];
    tr_free(o->ring);
    o->ring = r;
    o->ring_cap = nc;
    return 0;
}

/* An event leaving a pipeline towards this offramp. Takes ev. */
static void offramp_in(void *arg, struct tr_event *ev) {
    struct out_link *l = arg;
    struct offramp_inst *o = l->o;
    enum tr_cb refuse = TR_CB_FAIL;   /* what a refused transactional event gets */
    int rc = 0;
    if (o->closing || !o->self) {
        rc = TR_ECLOSED;
        goto refused;
    }
    /* An offramp may answer synchronously inside send(), and that may emit
     * the next event into this offramp before send() returns: such a nested
     * event gets its own buffer so the outer payload stays intact. */
    struct tr_buf nested, *enc = &o->enc;
    if (o->sending) {
        tr_buf_init(&nested);
        enc = &nested;
    }
    tr_buf_reset(enc);
    rc = o->codec->encode(&ev->value, enc);
    if (!rc) rc = tr_postproc_apply(off_art(o)->postprocessors, off_art(o)->npost, enc);
    if (rc) {
        o->encode_errors++;
        TR_WARN("offramp", "%s/%s: cannot encode an event with codec %s: %s; rejected (%llu so "
                "far)", off_art(o)->id, o->instance, o->codec->name, tr_strerror(rc),
                (unsigned long long)o->encode_errors);
        /* It never will encode: acknowledge the rejection (logged and
         * counted) so a WAL upstream does not replay it forever. */
        if (rc != -ENOMEM) refuse = TR_CB_ACK;
        goto refused_enc;
    }
    struct tr_out_msg m = {
        .token = 0, .transactional = ev->transactional, .data = enc->data,
        .len = enc->len, .meta = &ev->meta, .ingest_ns = ev->ingest_ns,
    };
    if (ev->transactional) {
        rc = ring_reserve(o);
        if (rc) goto refused_enc;
        m.token = o->next_token++;
        struct pending *pe = &o->ring[m.token & (o->ring_cap - 1)];
        pe->ids = ev->ids;                 /* moved */
        tr_ids_init(&ev->ids, 0, 0, 0);
        pe->pi = l->pi;
        pe->used = 1;
        pe->released = 0;
        o->in_flight++;
        TR_DEBUG("offramp", "%s/%s: token %llu for event %llu", off_art(o)->id, o->instance,
                 (unsigned long long)m.token, (unsigned long long)pe->ids.id.event);
    }
    o->sending++;
    o->ops->send(o->self, &m);
    o->sending--;
    if (enc != &o->enc) tr_buf_fini(enc);
    tr_event_fini(ev);
    return;
refused_enc:
    if (enc != &o->enc) tr_buf_fini(enc);
refused:
    if (ev->transactional) send_insight(l->pi, refuse, &ev->ids);
    tr_event_fini(ev);
}

/* ------------------------------------------------ pipeline -> pipeline */

static void pipe_to_pipe(void *arg, struct tr_event *ev) {
    struct pipe_inst *to = arg;
    tr_pipeline_push(to->p, "in", ev);
}

static void pipe_cf_up(void *arg, const struct tr_insight *in) {
    struct pipe_inst *from = arg;
    tr_pipeline_contraflow(from->p, in);
}

/* ------------------------------------------------------------ loading */

int tr_world_create(const struct tr_world_opts *o, struct tr_world **out) {
    struct tr_world *w = tr_calloc(1, sizeof *w);
    if (!w) return -ENOMEM;
    w->loop = o->loop;
    w->instance = tr_strdup(o->instance ? o->instance : "tremor");
    w->data_dir = tr_strdup(o->data_dir ? o->data_dir : "tremor-data");
    w->on_shutdown = o->on_shutdown;
    w->shutdown_arg = o->shutdown_arg;
    w->next_onramp_uid = 1;
    w->next_offramp_uid = OFFRAMP_UID_BASE + 1;
    tr_config_init(&w->cfg);
    tr_buf_init(&w->detail);
    if (!w->instance || !w->data_dir) {
        tr_world_destroy(w);
        return -ENOMEM;
    }
    *out = w;
    return 0;
}

static const struct query_art *find_query(const struct tr_world *w, const char *id) {
    for (size_t i = 0; i < w->nqueries; i++)
        if (strcmp(w->queries[i].id, id) == 0) return &w->queries[i];
    return NULL;
}

static char *file_stem(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    return tr_strndup(base, dot && dot != base ? (size_t)(dot - base) : strlen(base));
}

int tr_world_load_query(struct tr_world *w, const char *path, struct tr_diag *d) {
    size_t len;
    char *src;
    int rc = tr_file_read(path, MAX_QUERY_BYTES, &src, &len);
    if (rc)
        return tr_diag_set(d, rc == -ENOMEM ? rc : TR_EINVAL_CFG, path, 0, 0, "cannot read: %s",
                           rc == TR_ETOOBIG ? "file too large" : tr_strerror(rc));
    struct tr_query *q = NULL;
    struct tr_lang_err err;
    memset(&err, 0, sizeof err);
    struct tr_lang_opts opts;
    rc = tr_lang_opts_from_env(&opts, path);
    if (!rc) rc = tr_lang_compile_query(src, len, &opts, &q, &err);
    tr_lang_opts_fini(&opts);
    if (rc) {
        if (err.set) tr_lang_err_to_diag(&err, path, d);
        else tr_diag_set(d, rc, path, 0, 0, "module path (TREMOR_PATH): %s", tr_strerror(rc));
        tr_buf_reset(&w->detail);
        if (err.set && tr_lang_err_render(&err, &w->detail) != 0) tr_buf_reset(&w->detail);
        tr_lang_err_clear(&err);
        tr_free(src);
        return rc == -ENOMEM ? rc : TR_EPARSE;
    }
    const char *cid = tr_query_config_id(q);
    char *id = cid ? tr_strdup(cid) : file_stem(path);
    tr_query_destroy(q);
    if (!id) {
        tr_free(src);
        return -ENOMEM;
    }
    const struct query_art *dup = find_query(w, id);
    if (dup) {
        rc = tr_diag_set(d, TR_EINVAL_CFG, path, 0, 0,
                         "pipeline '%s' is already loaded from %s", id, dup->path);
        goto fail;
    }
    rc = tr_grow((void **)&w->queries, &w->queries_cap, w->nqueries + 1, sizeof *w->queries);
    if (rc) goto fail;
    struct query_art *qa = &w->queries[w->nqueries];
    qa->path = tr_strdup(path);
    if (!qa->path) {
        rc = -ENOMEM;
        goto fail;
    }
    qa->id = id;
    qa->src = src;
    qa->len = len;
    w->nqueries++;
    TR_INFO("world", "loaded pipeline /pipeline/%s from %s", id, path);
    return 0;
fail:
    tr_free(id);
    tr_free(src);
    return rc;
}

static int check_artefact(const struct tr_cfg_artefact *a, int is_onramp, struct tr_diag *d) {
    const char *kind = is_onramp ? "onramp" : "offramp";
    int known = is_onramp ? tr_onramp_find(a->type) != NULL : tr_offramp_find(a->type) != NULL;
    if (!known)
        return tr_diag_set(d, TR_EINVAL_CFG, a->loc.file, a->loc.line, a->loc.col,
                           "%s '%s': unknown type '%s' (known %s types: %s)", kind, a->id, a->type,
                           kind, is_onramp ? tr_onramp_types() : tr_offramp_types());
    if (a->codec && !tr_codec_find(a->codec))
        return tr_diag_set(d, TR_EINVAL_CFG, a->loc.file, a->loc.line, a->loc.col,
                           "%s '%s': unknown codec '%s' (known: %s)", kind, a->id, a->codec,
                           tr_codec_names());
    struct tr_diag pd;
    tr_diag_clear(&pd);
    if ((is_onramp && tr_preproc_check(a->preprocessors, a->npre, &pd) != 0) ||
        tr_postproc_check(a->postprocessors, a->npost, &pd) != 0)
        return tr_diag_set(d, TR_EINVAL_CFG, a->loc.file, a->loc.line, a->loc.col, "%s '%s': %s",
                           kind, a->id, pd.msg);
    return 0;
}

static const struct tr_cfg_artefact *find_art(const struct tr_cfg_artefact *arr, size_t n,
                                              const char *id) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(arr[i].id, id) == 0) return &arr[i];
    return NULL;
}

static void list_ids(const struct tr_world *w, enum tr_url_kind k, char *buf, size_t n) {
    size_t off = 0;
    buf[0] = 0;
    size_t cnt = k == TR_URL_ONRAMP ? w->cfg.nonramps
               : k == TR_URL_OFFRAMP ? w->cfg.nofframps
               : k == TR_URL_PIPELINE ? w->nqueries : w->cfg.nbindings;
    for (size_t i = 0; i < cnt && off + 1 < n; i++) {
        int m;
        if (k == TR_URL_PIPELINE)
            m = snprintf(buf + off, n - off, "%s%s (from %s)", off ? ", " : "", w->queries[i].id,
                         w->queries[i].path);
        else
            m = snprintf(buf + off, n - off, "%s%s", off ? ", " : "",
                         k == TR_URL_ONRAMP ? w->cfg.onramps[i].id
                         : k == TR_URL_OFFRAMP ? w->cfg.offramps[i].id : w->cfg.bindings[i].id);
        if (m < 0) break;
        off += (size_t)m;
    }
    if (!buf[0]) snprintf(buf, n, "none");
}

static const char *kind_name(enum tr_url_kind k) {
    switch (k) {
    case TR_URL_ONRAMP: return "onramp";
    case TR_URL_OFFRAMP: return "offramp";
    case TR_URL_PIPELINE: return "pipeline";
    case TR_URL_BINDING: return "binding";
    }
    return "?";
}

static int not_loaded(const struct tr_world *w, const struct tr_cfg_link *l, const char *url,
                      const struct tr_url *u, struct tr_diag *d) {
    char known[1024];
    list_ids(w, u->kind, known, sizeof known);
    const char *hint = u->kind == TR_URL_PIPELINE
                           ? "; a pipeline is named after its .trickle file without the extension, "
                             "or by `#!config id = \"...\"` at its top"
                           : "";
    return tr_diag_set(d, TR_ENOTFOUND, l->loc.file, l->loc.line, l->loc.col,
                       "link %s: no %s '%s' is loaded (loaded %ss: %s)%s", url, kind_name(u->kind),
                       u->artefact, kind_name(u->kind), known, hint);
}

static struct pipe_inst *ensure_pipe(struct tr_world *w, const struct tr_url *u,
                                     const struct tr_cfg_link *l, const char *url,
                                     struct tr_diag *d, int *rc) {
    for (size_t i = 0; i < w->npipes; i++)
        if (strcmp(w->pipes[i]->id, u->artefact) == 0 && strcmp(w->pipes[i]->instance, u->instance) == 0)
            return w->pipes[i];
    const struct query_art *qa = find_query(w, u->artefact);
    if (!qa) {
        *rc = not_loaded(w, l, url, u, d);
        return NULL;
    }
    struct tr_query *q = NULL;
    struct tr_lang_opts opts;
    struct tr_lang_err err;
    memset(&err, 0, sizeof err);
    *rc = tr_lang_opts_from_env(&opts, qa->path);
    if (!*rc) *rc = tr_lang_compile_query(qa->src, qa->len, &opts, &q, &err);
    tr_lang_opts_fini(&opts);
    if (*rc && err.set) tr_lang_err_to_diag(&err, qa->path, d);
    else if (*rc) tr_diag_set(d, *rc, qa->path, 0, 0, "module path (TREMOR_PATH): %s", tr_strerror(*rc));
    tr_lang_err_clear(&err);
    if (*rc) return NULL;
    struct pipe_inst *pi = tr_calloc(1, sizeof *pi);
    if (!pi) {
        tr_query_destroy(q);
        *rc = -ENOMEM;
        return NULL;
    }
    pi->w = w;
    pi->id = tr_strdup(u->artefact);
    pi->instance = tr_strdup(u->instance);
    struct tr_pipeline_opts po = {
        .id = u->artefact, .file = qa->path, .instance = u->instance,
        .server_instance = w->instance, .data_dir = w->data_dir, .loop = w->loop,
        .uid_counter = &w->op_uids,
        .fatal = pipe_fatal, .fatal_arg = w,
    };
    *rc = (!pi->id || !pi->instance) ? -ENOMEM : tr_pipeline_create(q, &po, &pi->p, d);
    if (*rc == -ENOMEM && !pi->p && (!pi->id || !pi->instance)) tr_query_destroy(q);
    if (!*rc) *rc = push((void **)&w->pipes, &w->npipes, &w->pipes_cap, pi);
    if (*rc) {
        tr_pipeline_destroy(pi->p);
        tr_free(pi->id);
        tr_free(pi->instance);
        tr_free(pi);
        return NULL;
    }
    TR_INFO("world", "created /pipeline/%s/%s", pi->id, pi->instance);
    return pi;
}

static struct offramp_inst *ensure_offramp(struct tr_world *w, const struct tr_url *u,
                                           const struct tr_cfg_link *l, const char *url,
                                           struct tr_diag *d, int *rc) {
    for (size_t i = 0; i < w->nofframps; i++)
        if (strcmp(off_art(w->offramps[i])->id, u->artefact) == 0 &&
            strcmp(w->offramps[i]->instance, u->instance) == 0)
            return w->offramps[i];
    const struct tr_cfg_artefact *a = find_art(w->cfg.offramps, w->cfg.nofframps, u->artefact);
    if (!a) {
        *rc = not_loaded(w, l, url, u, d);
        return NULL;
    }
    struct offramp_inst *o = tr_calloc(1, sizeof *o);
    if (!o) {
        *rc = -ENOMEM;
        return NULL;
    }
    o->host.ops = &offramp_host_ops;
    o->host.loop = w->loop;
    o->w = w;
    o->art = (size_t)(a - w->cfg.offramps);
    o->ops = tr_offramp_find(a->type);
    o->codec = tr_codec_find(a->codec ? a->codec : "json");
    o->uid = w->next_offramp_uid++;
    o->base = o->next_token = 1;
    tr_buf_init(&o->enc);
    o->instance = tr_strdup(u->instance);
    struct tr_conn_spec spec = {.id = a->id, .type = a->type, .instance = u->instance,
                                .config = &a->config, .file = a->loc.file, .line = a->loc.line,
                                .col = a->loc.col, .keys = a->config_keys,
                                .nkeys = a->nconfig_keys};
    *rc = o->instance ? o->ops->create(&spec, &o->host, &o->self, d) : -ENOMEM;
    if (!*rc) *rc = push((void **)&w->offramps, &w->nofframps, &w->offramps_cap, o);
    if (*rc) {
        if (o->self) o->ops->close(o->self, NULL, NULL);
        tr_free(o->instance);
        tr_free(o);
        return NULL;
    }
    TR_INFO("world", "created /offramp/%s/%s (%s)", a->id, u->instance, a->type);
    return o;
}

static struct onramp_inst *ensure_onramp(struct tr_world *w, const struct tr_url *u,
                                         const struct tr_cfg_link *l, const char *url,
                                         struct tr_diag *d, int *rc) {
    for (size_t i = 0; i < w->nonramps; i++)
        if (strcmp(on_art(w->onramps[i])->id, u->artefact) == 0 &&
            strcmp(w->onramps[i]->instance, u->instance) == 0)
            return w->onramps[i];
    const struct tr_cfg_artefact *a = find_art(w->cfg.onramps, w->cfg.nonramps, u->artefact);
    if (!a) {
        *rc = not_loaded(w, l, url, u, d);
        return NULL;
    }
    struct onramp_inst *o = tr_calloc(1, sizeof *o);
    if (!o) {
        *rc = -ENOMEM;
        return NULL;
    }
    static char *default_lines[] = {"lines"};
    o->host.ops = &onramp_host_ops;
    o->host.loop = w->loop;
    o->w = w;
    o->art = (size_t)(a - w->cfg.onramps);
    o->ops = tr_onramp_find(a->type);
    o->codec = tr_codec_find(a->codec ? a->codec : "json");
    o->pre = a->preprocessors;
    o->npre = a->npre;
    if (o->npre == 0 && strcmp(a->type, "stdin") == 0) {  /* stdin reads lines, as in Tremor */
        o->pre = default_lines;
        o->npre = 1;
    }
    o->uid = w->next_onramp_uid++;
    o->instance = tr_strdup(u->instance);
    struct tr_conn_spec spec = {.id = a->id, .type = a->type, .instance = u->instance,
                                .config = &a->config, .file = a->loc.file, .line = a->loc.line,
                                .col = a->loc.col, .keys = a->config_keys,
                                .nkeys = a->nconfig_keys};
    *rc = o->instance ? o->ops->create(&spec, &o->host, &o->self, d) : -ENOMEM;
    if (!*rc) *rc = push((void **)&w->onramps, &w->nonramps, &w->onramps_cap, o);
    if (*rc) {
        if (o->self) o->ops->close(o->self, NULL, NULL);
        tr_free(o->instance);
        tr_free(o);
        return NULL;
    }
    TR_INFO("world", "created /onramp/%s/%s (%s)", a->id, u->instance, a->type);
    return o;
}

static int link_pipe_out(struct tr_world *w, struct pipe_inst *from, const char *port,
                         const struct tr_url *tu, const struct tr_cfg_link *l, const char *url,
                         struct tr_diag *d) {
    int rc = 0;
    if (tu->kind == TR_URL_OFFRAMP) {
        struct offramp_inst *o = ensure_offramp(w, tu, l, url, d, &rc);
        if (!o) return rc;
        if (tu->port[0] && strcmp(tu->port, "in") != 0)
            return tr_diag_set(d, TR_EINVAL_CFG, l->loc.file, l->loc.line, l->loc.col,
                               "link %s: offramps only have the port 'in'", url);
        struct out_link *ol = tr_calloc(1, sizeof *ol);
        if (!ol) return -ENOMEM;
        ol->o = o;
        ol->pi = from;
        rc = push((void **)&o->links, &o->nlinks, &o->links_cap, ol);
        if (rc) {
            tr_free(ol);
            return rc;
        }
        /* The pipeline learns whether the offramp can take events when the
         * world starts (tr_world_start), once every link exists. */
        return tr_pipeline_connect_output(from->p, port, offramp_in, ol);
    }
    if (tu->kind == TR_URL_PIPELINE) {
        struct pipe_inst *to = ensure_pipe(w, tu, l, url, d, &rc);
        if (!to) return rc;
        if (tu->port[0] && strcmp(tu->port, "in") != 0)
            return tr_diag_set(d, TR_EINVAL_CFG, l->loc.file, l->loc.line, l->loc.col,
                               "link %s: a pipeline is linked into its port 'in'", url);
        rc = tr_pipeline_connect_output(from->p, port, pipe_to_pipe, to);
        if (!rc) rc = tr_pipeline_connect_input(to->p, true, pipe_cf_up, from);
        return rc;
    }
    return tr_diag_set(d, TR_EUNSUPPORTED, l->loc.file, l->loc.line, l->loc.col,
                       "link %s: a pipeline can be linked to an offramp or a pipeline "
                       "(linked transports back to onramps are not supported yet)", url);
}

static int deploy_link(struct tr_world *w, const struct tr_cfg_link *l, const tr_value *vars,
                       int pass, struct tr_diag *d) {
    char *from_s = NULL;
    int rc = tr_url_substitute(l->from, vars, &from_s, d);
    if (rc) goto out_loc;
    struct tr_url fu;
    rc = tr_url_parse(from_s, &fu, d);
    if (rc) goto out_loc;
    if (!fu.instance[0]) {
        rc = tr_diag_set(d, TR_EINVAL_CFG, l->loc.file, l->loc.line, l->loc.col,
                         "link source %s has no instance (expected /%s/%s/{instance}/out)", from_s,
                         kind_name(fu.kind), fu.artefact);
        goto out;
    }
    if (fu.kind != TR_URL_ONRAMP && fu.kind != TR_URL_PIPELINE) {
        rc = tr_diag_set(d, TR_EUNSUPPORTED, l->loc.file, l->loc.line, l->loc.col,
                         "link source %s: links start at an onramp or a pipeline", from_s);
        goto out;
    }
    /* pass 0: pipeline -> X links; pass 1: onramp -> pipeline (Tremor's order) */
    if ((pass == 0) != (fu.kind == TR_URL_PIPELINE)) goto out;
    const char *port = fu.port[0] ? fu.port : "out";
    struct pipe_inst *from_pipe = NULL;
    struct onramp_inst *from_on = NULL;
    if (fu.kind == TR_URL_PIPELINE) from_pipe = ensure_pipe(w, &fu, l, from_s, d, &rc);
    else from_on = ensure_onramp(w, &fu, l, from_s, d, &rc);
    if (rc) goto out;
    if (from_on && strcmp(port, "out") != 0) {
        rc = tr_diag_set(d, TR_EINVAL_CFG, l->loc.file, l->loc.line, l->loc.col,
                         "link source %s: onramps send from their port 'out'", from_s);
        goto out;
    }
    for (size_t i = 0; i < l->nto; i++) {
        char *to_s = NULL;
        struct tr_url tu;
        rc = tr_url_substitute(l->to[i], vars, &to_s, d);
        if (!rc) rc = tr_url_parse(to_s, &tu, d);
        if (!rc && !tu.instance[0])
            rc = tr_diag_set(d, TR_EINVAL_CFG, l->loc.file, l->loc.line, l->loc.col,
                             "link target %s has no instance (expected /%s/%s/{instance}/in)",
                             to_s, kind_name(tu.kind), tu.artefact);
        if (!rc && from_pipe) rc = link_pipe_out(w, from_pipe, port, &tu, l, to_s, d);
        if (!rc && from_on) {
            if (tu.kind != TR_URL_PIPELINE) {
                rc = tr_diag_set(d, TR_EUNSUPPORTED, l->loc.file, l->loc.line, l->loc.col,
                                 "link %s -> %s: an onramp can only be linked to a pipeline",
                                 from_s, to_s);
            } else {
                struct pipe_inst *pi = ensure_pipe(w, &tu, l, to_s, d, &rc);
                if (pi) rc = push((void **)&from_on->outs, &from_on->nouts, &from_on->outs_cap, pi);
                if (pi && !rc)
                    rc = tr_pipeline_connect_input(pi->p, from_on->ops->transactional, onramp_cf,
                                                   from_on);
            }
        }
        tr_free(to_s);
        if (rc) goto out_loc;
    }
out_loc:
    if (rc) tr_diag_locate(d, l->loc.file, l->loc.line, l->loc.col);
out:
    tr_free(from_s);
    return rc;
}

static int deploy_mapping(struct tr_world *w, const struct tr_cfg_mapping *m, struct tr_diag *d) {
    struct tr_url u;
    int rc = tr_url_parse(m->binding_url, &u, d);
    if (rc || u.kind != TR_URL_BINDING || !u.instance[0]) {
        return tr_diag_set(d, TR_EINVAL_CFG, m->loc.file, m->loc.line, m->loc.col,
                           "mapping key '%s' must be /binding/<binding id>/<instance>",
                           m->binding_url);
    }
    const struct tr_cfg_binding *b = NULL;
    for (size_t i = 0; i < w->cfg.nbindings; i++)
        if (strcmp(w->cfg.bindings[i].id, u.artefact) == 0) b = &w->cfg.bindings[i];
    if (!b) {
        char known[1024];
        list_ids(w, TR_URL_BINDING, known, sizeof known);
        return tr_diag_set(d, TR_ENOTFOUND, m->loc.file, m->loc.line, m->loc.col,
                           "mapping %s: no binding '%s' is loaded (loaded bindings: %s)",
                           m->binding_url, u.artefact, known);
    }
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < b->nlinks; i++) {
            rc = deploy_link(w, &b->links[i], &m->vars, pass, d);
            if (rc) return rc;
        }
    TR_INFO("world", "deployed %s", m->binding_url);
    return 0;
}

int tr_world_load_config(struct tr_world *w, const char *path, struct tr_diag *d) {
    size_t on0 = w->cfg.nonramps, off0 = w->cfg.nofframps;
    int rc = tr_config_load_file(&w->cfg, path, d);
    if (rc) return rc;
    for (size_t i = on0; i < w->cfg.nonramps; i++)
        if ((rc = check_artefact(&w->cfg.onramps[i], 1, d))) return rc;
    for (size_t i = off0; i < w->cfg.nofframps; i++)
        if ((rc = check_artefact(&w->cfg.offramps[i], 0, d))) return rc;
    return 0;
}

int tr_world_deploy(struct tr_world *w, struct tr_diag *d) {
    for (; w->deployed_mappings < w->cfg.nmappings; w->deployed_mappings++) {
        int rc = deploy_mapping(w, &w->cfg.mappings[w->deployed_mappings], d);
        if (rc) return rc;
    }
    return 0;
}

/* -------------------------------------------------------------- running */

static void stop_step(struct tr_world *w);

static void on_tick(uv_timer_t *t) {
    struct tr_world *w = t->data;
    uint64_t now = tr_now_ns();
    for (size_t i = 0; i < w->npipes; i++) tr_pipeline_tick(w->pipes[i]->p, now);
    for (size_t i = 0; i < w->nofframps; i++) {
        struct offramp_inst *o = w->offramps[i];
        if (!o->closing && o->self && o->ops->tick) o->ops->tick(o->self, now);
    }
    /* the count of decode errors held back, once their interval is over */
    for (size_t i = 0; i < w->nonramps; i++) tr_log_limit_flush(&w->onramps[i]->decode_log);
    if (w->fatal && !w->fatal_told && !w->stopping && w->on_shutdown) {
        w->fatal_told = 1;
        w->on_shutdown(w->shutdown_arg);
    }
    if (w->stopping) stop_step(w);
}

int tr_world_start(struct tr_world *w, struct tr_diag *d) {
    int rc;
    for (size_t i = 0; i < w->nofframps; i++) {
        struct offramp_inst *o = w->offramps[i];
        if ((rc = o->ops->start(o->self)))
            return tr_diag_set(d, rc, off_art(o)->loc.file, off_art(o)->loc.line, off_art(o)->loc.col,
                               "offramp '%s' failed to start: %s", off_art(o)->id, tr_strerror(rc));
    }
    /* As in Tremor, every pipeline linked to an offramp learns whether it
     * can take events - only now that every link exists and every offramp
     * has started, so nothing is emitted into a half-built graph. */
    for (size_t i = 0; i < w->nofframps; i++) {
        struct offramp_inst *o = w->offramps[i];
        enum tr_cb cb = o->ops->is_active(o->self) ? TR_CB_RESTORE : TR_CB_TRIGGER;
        for (size_t k = 0; k < o->nlinks; k++) send_insight(o->links[k]->pi, cb, NULL);
    }
    uv_timer_init(w->loop, &w->tick);
    w->tick.data = w;
    w->tick_open = 1;
    uv_timer_start(&w->tick, on_tick, TICK_MS, TICK_MS);
    for (size_t i = 0; i < w->nonramps; i++) {
        struct onramp_inst *o = w->onramps[i];
        if ((rc = o->ops->start(o->self)))
            return tr_diag_set(d, rc, on_art(o)->loc.file, on_art(o)->loc.line, on_art(o)->loc.col,
                               "onramp '%s' failed to start: %s", on_art(o)->id, tr_strerror(rc));
    }
    w->started = 1;
    return 0;
}

/* Stop state machine, advanced by close callbacks and ticks:
 *   1 onramps closing -> 2 draining in-flight -> 3 offramps closing -> 4 done */
static void closed_one(void *arg) {
    struct tr_world *w = arg;
    w->closing_count--;
    stop_step(w);
}

static size_t in_flight(const struct tr_world *w) {
    size_t n = 0;
    for (size_t i = 0; i < w->nofframps; i++) n += w->offramps[i]->in_flight;
    return n;
}

static void tick_closed(uv_handle_t *h) {
    struct tr_world *w = h->data;
    w->tick_open = 0;
    void (*done)(void *) = w->stop_done;
    void *arg = w->stop_arg;
    w->stop_done = NULL;
    if (done) done(arg);
}

static void stop_step(struct tr_world *w) {
    if (w->closing_count) return;
    switch (w->stopping) {
    case 1:
        for (size_t i = 0; i < w->npipes; i++) tr_pipeline_quiesce(w->pipes[i]->p);
        w->stopping = 2;
        /* fall through */
    case 2:
        if (in_flight(w) > 0 && tr_now_ns() < w->drain_deadline && w->tick_open) return;
        if (in_flight(w) > 0)
            TR_WARN("world", "stopping with %zu events not yet acknowledged: they stay in their "
                    "WAL (if any) for the next start", in_flight(w));
        w->stopping = 3;
        w->closing_count++;   /* hold: a close may call back synchronously */
        for (size_t i = 0; i < w->nofframps; i++) {
            struct offramp_inst *o = w->offramps[i];
            if (o->closing || !o->self) continue;
            o->closing = 1;
            w->closing_count++;
            void *self = o->self;
            o->self = NULL;
            o->ops->close(self, closed_one, w);
        }
        if (--w->closing_count) return;
        /* fall through */
    case 3:
        w->stopping = 4;
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
    if (w->stopping) return;
    w->stopping = 1;
    w->stop_done = done;
    w->stop_arg = arg;
    w->tick.data = w;
    w->drain_deadline = tr_now_ns() + (uint64_t)drain_ms * 1000000u;
    w->closing_count++;   /* hold: a close may call back synchronously */
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
    w->closing_count--;
    stop_step(w);
}

const char *tr_world_error_detail(const struct tr_world *w) {
    return w->detail.len ? w->detail.data : NULL;
}

void tr_world_destroy(struct tr_world *w) {
    if (!w) return;
    for (size_t i = 0; i < w->nonramps; i++) {
        struct onramp_inst *o = w->onramps[i];
        for (size_t k = 0; k < o->nstreams; k++) tr_preproc_destroy(o->streams[k].pp);
        tr_free(o->streams);
        tr_free(o->outs);
        tr_free(o->instance);
        tr_free(o);
    }
    for (size_t i = 0; i < w->nofframps; i++) {
        struct offramp_inst *o = w->offramps[i];
        for (uint64_t t = o->base; t < o->next_token; t++)
            if (o->ring[t & (o->ring_cap - 1)].used) tr_ids_fini(&o->ring[t & (o->ring_cap - 1)].ids);
        for (size_t k = 0; k < o->nlinks; k++) tr_free(o->links[k]);
        tr_free(o->links);
        tr_free(o->ring);
        tr_buf_fini(&o->enc);
        tr_free(o->instance);
        tr_free(o);
    }
    for (size_t i = 0; i < w->npipes; i++) {
        tr_pipeline_destroy(w->pipes[i]->p);
        tr_free(w->pipes[i]->id);
        tr_free(w->pipes[i]->instance);
        tr_free(w->pipes[i]);
    }
    for (size_t i = 0; i < w->nqueries; i++) {
        tr_free(w->queries[i].id);
        tr_free(w->queries[i].path);
        tr_free(w->queries[i].src);
    }
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
