/* nats_out.c - the `nats` offramp (Tremor 0.11 keys: hosts, subject, reply,
 * headers, options; per event $nats.reply and $nats.headers) and, beyond
 * 0.11, JetStream publishing (`jetstream: true`).
 *
 * Core NATS has no acks: an event is acked on write, when libnats took the
 * message (into its socket buffer, or its reconnect buffer while
 * reconnecting), as 0.11 does. With JetStream each message is published
 * asynchronously and its event acked only when the server's PubAck comes
 * back, failed on an error PubAck or after ack_timeout. At most max_pending
 * publishes wait for their PubAck; at that bound the breaker triggers and
 * it restores below half of it, so upstream (a qos::wal) holds the rest.
 *
 * Threads: connecting and closing run on libuv's thread pool (both may
 * block for the connect timeout); PubAcks and connection events arrive on
 * libnats's threads and only touch the pending table and the mailbox, both
 * under the mailbox mutex. Everything else is on the loop. The instance is
 * freed after libnats's closed callback, its last, has run.
 * Invariant: every transactional send() is answered exactly once.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "config/cmap.h"
#include "connectors/conn.h"
#include "connectors/nats_link.h"
#include "core/alloc.h"
#include "core/log.h"

#define MOD "nats"
enum { EV_PUBACK = 16 };

struct pend {
    natsMsg *msg;          /* identity only: libnats holds it until on_puback destroys it */
    uint64_t token;
    bool transactional;
};

struct nats_out {
    struct tr_offramp_host *host;
    uv_loop_t *loop;
    char *id, *subject, *reply;
    tr_value headers;              /* config headers (a record), or TR_NULL */
    bool jetstream;
    uint64_t max_pending, ack_timeout_ms;
    natsOptions *opts;
    natsConnection *nc;            /* the loop's, from after_connect on */
    jsCtx *js;
    natsConnection *w_nc;          /* what the connect work made, for after_connect */
    jsCtx *w_js;
    struct tr_nats_mbox mb;
    uv_work_t work;                /* connect, then close */
    bool working, connected, reported_up, reported, full, closing, started;
    /* under mb.mu: the JetStream publishes waiting for their PubAck */
    struct pend *pend;
    size_t npend, pend_cap;
    int connect_status;
    uint64_t sent, failed, dropped;
    struct tr_log_limit lim_fail;
    void (*done)(void *);
    void *done_arg;
};

/* ------------------------------------------------------ libnats threads */

static void on_up(natsConnection *nc, void *closure) {
    (void)nc;
    struct nats_out *o = closure;
    tr_nats_mbox_post(&o->mb, TR_NATS_UP, 0, 0);
}

static void on_down(natsConnection *nc, void *closure) {
    (void)nc;
    struct nats_out *o = closure;
    tr_nats_mbox_post(&o->mb, TR_NATS_DOWN, 0, 0);
}

static void on_closed(natsConnection *nc, void *closure) {
    (void)nc;
    tr_nats_mbox_closed(&((struct nats_out *)closure)->mb);
}

/* A PubAck, an error PubAck or a timeout for msg: find its token, hand the
 * answer to the loop. A message not in the table was answered already. */
static void on_puback(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure) {
    (void)js;
    (void)pa;
    struct nats_out *o = closure;
    struct tr_nats_item *it = tr_calloc(1, sizeof *it);
    uv_mutex_lock(&o->mb.mu);
    for (size_t i = 0; i < o->npend; i++) {
        if (o->pend[i].msg != msg) continue;
        struct pend p = o->pend[i];
        memmove(&o->pend[i], &o->pend[i + 1], (o->npend - i - 1) * sizeof *o->pend);
        o->npend--;
        if (it) {
            it->kind = EV_PUBACK;
            it->token = p.token;
            it->status = pae ? (pae->Err != NATS_OK ? (int)pae->Err : (int)NATS_ERR) : 0;
            /* transactional rides in msg's place: no message is kept */
            it->msg = NULL;
            if (!p.transactional) it->token |= (uint64_t)1 << 63;
            tr_nats_mbox_push(&o->mb, it, true);
            it = NULL;
        }
        break;
    }
    uv_mutex_unlock(&o->mb.mu);
    tr_free(it);   /* out of memory: the publish stays pending until close fails it */
    /* with an AckHandler the message is ours to destroy; it left the table
     * first, so a new message at the same address cannot be mistaken for it */
    natsMsg_Destroy(msg);
}

/* ------------------------------------------------------------- loop side */

static void report(struct nats_out *o) {
    bool up = o->connected && !o->full && !o->closing;
    if (o->closing || (o->reported && up == o->reported_up)) return;
    o->reported = true;
    o->reported_up = up;
    if (up) tr_offramp_restore(o->host);
    else tr_offramp_trigger(o->host);
}

static void answer(struct nats_out *o, uint64_t token, bool trans, int status) {
    if (status == 0) o->sent++;
    else {
        o->failed++;
        tr_log_limited(&o->lim_fail, TR_LOG_WARN, MOD, "%s: a message was not published: %s (%" PRIu64
                       " such so far)", o->id, natsStatus_GetText((natsStatus)status), o->failed);
    }
    if (!trans) return;
    if (status == 0) tr_offramp_ack(o->host, token);
    else tr_offramp_fail(o->host, token);
}

static void maybe_done(struct nats_out *o);

static void on_mail(uv_async_t *a) {
    struct nats_out *o = a->data;
    struct tr_nats_item *list = tr_nats_mbox_take(&o->mb);
    for (struct tr_nats_item *it = list; it; it = it->next) {
        switch (it->kind) {
        case TR_NATS_UP:
            if (!o->connected) TR_INFO(MOD, "%s: connected", o->id);
            o->connected = true;
            break;
        case TR_NATS_DOWN:
            if (o->connected && !o->closing) TR_WARN(MOD, "%s: disconnected, reconnecting", o->id);
            o->connected = false;
            break;
        case TR_NATS_CLOSED: o->connected = false; break;
        case EV_PUBACK: {
            bool trans = !(it->token >> 63);
            answer(o, it->token & ~((uint64_t)1 << 63), trans, it->status);
            break;
        }
        default: break;
        }
    }
    tr_nats_items_free(list);
    if (o->closing) return;
    if (o->full) {
        uv_mutex_lock(&o->mb.mu);
        size_t n = o->npend;
        uv_mutex_unlock(&o->mb.mu);
        if (n <= o->max_pending / 2) o->full = false;
    }
    report(o);
}

static void refuse(struct nats_out *o, const struct tr_out_msg *m, const char *why) {
    if (m->transactional) {
        o->failed++;
        tr_offramp_fail(o->host, m->token);
        return;
    }
    o->dropped++;
    tr_log_limited(&o->lim_fail, TR_LOG_WARN, MOD, "%s: %s: dropped a non-transactional event (%" PRIu64
                   " such so far)", o->id, why, o->dropped);
}

static void nats_send(void *self, const struct tr_out_msg *m) {
    struct nats_out *o = self;
    if (o->closing || !o->nc) {
        refuse(o, m, "not connected");
        return;
    }
    if (m->len > INT32_MAX) {
        answer(o, m->token, m->transactional, NATS_MAX_PAYLOAD);
        return;
    }
    const tr_value *nm = m->meta && m->meta->type == TR_REC ? tr_rec_get_cstr(m->meta, "nats") : NULL;
    const tr_value *mr = nm && nm->type == TR_REC ? tr_rec_get_cstr(nm, "reply") : NULL;
    const tr_value *mh = nm && nm->type == TR_REC ? tr_rec_get_cstr(nm, "headers") : NULL;
    const char *reply = mr && mr->type == TR_STR ? mr->as.s->data : o->reply;
    natsMsg *msg = NULL;
    natsStatus s = natsMsg_Create(&msg, o->subject, reply, m->data, (int)m->len);
    if (s == NATS_OK) s = (natsStatus)tr_nats_add_headers(msg, &o->headers);
    if (s == NATS_OK) s = (natsStatus)tr_nats_add_headers(msg, mh);
    if (s != NATS_OK) {
        if (msg) natsMsg_Destroy(msg);
        answer(o, m->token, m->transactional, (int)s);
        return;
    }
    if (!o->jetstream) {
        s = natsConnection_PublishMsg(o->nc, msg);
        natsMsg_Destroy(msg);
        answer(o, m->token, m->transactional, (int)s);
        return;
    }
    uv_mutex_lock(&o->mb.mu);
    int grow = tr_grow((void **)&o->pend, &o->pend_cap, o->npend + 1, sizeof *o->pend);
    if (!grow) o->pend[o->npend++] = (struct pend){msg, m->token, m->transactional};
    size_t n = o->npend;
    uv_mutex_unlock(&o->mb.mu);
    if (grow) {
        natsMsg_Destroy(msg);
        answer(o, m->token, m->transactional, NATS_NO_MEMORY);
        return;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = (int64_t)o->ack_timeout_ms;
    natsMsg *key = msg;
    s = js_PublishMsgAsync(o->js, &msg, &po);
    if (s != NATS_OK) {
        /* not published: no PubAck comes; answer it here unless (it cannot,
         * but the table is the judge) it was answered already */
        bool mine = false;
        uv_mutex_lock(&o->mb.mu);
        for (size_t i = 0; i < o->npend; i++)
            if (o->pend[i].msg == key) {
                memmove(&o->pend[i], &o->pend[i + 1], (o->npend - i - 1) * sizeof *o->pend);
                o->npend--;
                mine = true;
                break;
            }
        uv_mutex_unlock(&o->mb.mu);
        if (msg) natsMsg_Destroy(msg);
        if (mine) answer(o, m->token, m->transactional, (int)s);
        return;
    }
    if (n >= o->max_pending && !o->full) {
        o->full = true;
        report(o);
    }
}

static bool nats_is_active(void *self) {
    struct nats_out *o = self;
    return !o->closing && o->connected && !o->full;
}

static void after_connect(uv_work_t *w, int status);

static void connect_work(uv_work_t *w) {
    struct nats_out *o = w->data;
    natsConnection *nc = NULL;
    natsStatus s = natsConnection_Connect(&nc, o->opts);
    /* NOT_YET_CONNECTED: libnats goes on trying in the background and
     * says so through on_up */
    if (s == NATS_OK || s == NATS_NOT_YET_CONNECTED) {
        if (s == NATS_OK) tr_nats_mbox_post(&o->mb, TR_NATS_UP, 0, 0);
        if (o->jetstream) {
            jsOptions jo;
            jsOptions_Init(&jo);
            jo.PublishAsync.AckHandler = on_puback;
            jo.PublishAsync.AckHandlerClosure = o;
            /* above our own bound, so a publish never stalls the loop */
            jo.PublishAsync.MaxPending = (int64_t)o->max_pending + 16;
            s = natsConnection_JetStream(&o->w_js, nc, &jo);
        } else s = NATS_OK;
    }
    o->w_nc = nc;
    o->connect_status = (int)s;
}

static void close_work(uv_work_t *w) {
    struct nats_out *o = w->data;
    if (o->nc) {
        natsConnection_Close(o->nc);
        /* libnats calls on_closed (its last callback) from its own thread
         * after the close: o must outlive it */
        if (!tr_nats_mbox_wait_closed(&o->mb, 5000))
            TR_WARN(MOD, "%s: libnats did not report the connection closed within 5 s", o->id);
        if (o->js) jsCtx_Destroy(o->js);
        natsConnection_Destroy(o->nc);
    }
    o->js = NULL;
    o->nc = NULL;
}

static void on_async_closed(uv_handle_t *h) {
    struct nats_out *o = h->data;
    tr_nats_mbox_fini(&o->mb);
    void (*done)(void *) = o->done;
    void *arg = o->done_arg;
    if (o->opts) natsOptions_Destroy(o->opts);
    tr_value_unref(o->headers);
    tr_free(o->pend);
    tr_free(o->subject);
    tr_free(o->reply);
    tr_free(o->id);
    tr_free(o);
    if (done) done(arg);
}

static void after_close(uv_work_t *w, int status) {
    (void)status;
    struct nats_out *o = w->data;
    o->working = false;
    /* answers that arrived, then every publish still waiting: failed */
    on_mail(&o->mb.async);
    uv_mutex_lock(&o->mb.mu);
    struct pend *p = o->pend;
    size_t n = o->npend;
    o->pend = NULL;
    o->npend = o->pend_cap = 0;
    uv_mutex_unlock(&o->mb.mu);
    for (size_t i = 0; i < n; i++) answer(o, p[i].token, p[i].transactional, NATS_CONNECTION_CLOSED);
    tr_free(p);
    tr_nats_mbox_close(&o->mb, on_async_closed);
}

static void maybe_done(struct nats_out *o) {
    if (!o->closing || o->working) return;
    o->working = true;
    o->work.data = o;
    if (uv_queue_work(o->loop, &o->work, close_work, after_close)) {
        close_work(&o->work);
        after_close(&o->work, 0);
    }
}

static void after_connect(uv_work_t *w, int status) {
    (void)status;
    struct nats_out *o = w->data;
    o->working = false;
    o->nc = o->w_nc;
    o->js = o->w_js;
    if (o->connect_status != NATS_OK && o->connect_status != NATS_NOT_YET_CONNECTED) {
        TR_ERROR(MOD, "%s: cannot set up the connection: %s", o->id,
                 natsStatus_GetText((natsStatus)o->connect_status));
    }
    if (o->closing) maybe_done(o);
    else report(o);
}

static int nats_start(void *self) {
    struct nats_out *o = self;
    if (o->started) return 0;
    o->started = true;
    o->working = true;
    o->work.data = o;
    report(o);   /* down until libnats says connected */
    int rc = uv_queue_work(o->loop, &o->work, connect_work, after_connect);
    if (rc) o->working = false;
    return rc;
}

static void nats_tick(void *self, uint64_t now_ns) {
    (void)now_ns;
    struct nats_out *o = self;
    tr_log_limit_flush(&o->lim_fail);
}

static void nats_close(void *self, void (*done)(void *), void *arg) {
    struct nats_out *o = self;
    if (o->closing) return;
    o->closing = true;
    o->done = done;
    o->done_arg = arg;
    TR_INFO(MOD, "%s: %" PRIu64 " messages published, %" PRIu64 " failed, %" PRIu64 " dropped", o->id,
            o->sent, o->failed, o->dropped);
    maybe_done(o);   /* after a running connect: from after_connect */
}

/* ------------------------------------------------------------- config */

struct nats_out_cfg {
    const tr_value *hosts, *options, *headers;
    const char *subject, *reply;
    bool jetstream;
    uint64_t max_pending, ack_timeout_ns;
};

const struct tr_cmap_entry tr_nats_out_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR_LIST, "hosts", NULL, TR_CMAP_REQUIRED, offsetof(struct nats_out_cfg, hosts),
     "NATS servers, host:port or nats:// URLs")},
    {TR_CMAP_KEY(TR_CMAP_STR, "subject", NULL, TR_CMAP_REQUIRED, offsetof(struct nats_out_cfg, subject),
     "subject to publish to")},
    {TR_CMAP_KEY(TR_CMAP_STR, "reply", NULL, 0, offsetof(struct nats_out_cfg, reply),
     "reply subject of each message ($nats.reply overrides it)")},
    {TR_CMAP_KEY(TR_CMAP_VALUE, "headers", NULL, 0, offsetof(struct nats_out_cfg, headers),
     "headers of each message: {name: [values]} (with $nats.headers)")},
    {TR_CMAP_KEY(TR_CMAP_VALUE, "options", NULL, 0, offsetof(struct nats_out_cfg, options),
     "connection options: token, username, password, credentials_path, cert_path, key_path, name, "
     "echo, max_reconnects, reconnect_buffer_size, tls, root_cert")},
    {TR_CMAP_KEY(TR_CMAP_BOOL, "jetstream", "false", 0, offsetof(struct nats_out_cfg, jetstream),
     "publish to JetStream and ack each event on the server's PubAck (beyond 0.11)")},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_pending", "256", TR_CMAP_RANGE, offsetof(struct nats_out_cfg, max_pending),
     "JetStream: publishes awaiting their PubAck before the breaker triggers"), .lo = 1, .hi = 65536},
    {TR_CMAP_KEY(TR_CMAP_DURATION_MS, "ack_timeout", "5000", TR_CMAP_RANGE,
     offsetof(struct nats_out_cfg, ack_timeout_ns), "JetStream: ms to wait for a PubAck, then fail"),
     .lo = 1, .hi = 3600000},
    {0},
};

static int nats_create(const struct tr_conn_spec *spec, struct tr_offramp_host *host, void **self,
                       struct tr_diag *d) {
    *self = NULL;
    if (spec->config == NULL || spec->config->type != TR_REC)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "NATS offramp '%s' requires a config (hosts, subject)", spec->id);
    struct nats_out_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_nats_out_cmap, &c, d);
    if (rc) return rc;
    if (!c.subject[0] || strpbrk(c.subject, " \t\r\n"))
        return tr_conn_cfg_fail(spec, "subject", d, "must be a NATS subject");
    if (c.headers && c.headers->type != TR_NULL && c.headers->type != TR_REC)
        return tr_conn_cfg_fail(spec, "headers", d, "must be a record {name: [values]}");
    struct nats_out *o = tr_calloc(1, sizeof *o);
    if (!o) return -ENOMEM;
    o->host = host;
    o->loop = tr_offramp_loop(host);
    o->headers = tr_v_null();
    rc = tr_nats_mbox_init(&o->mb, o->loop, on_mail, o);
    if (rc) {
        tr_free(o);
        return rc;
    }
    rc = tr_nats_options(spec, c.hosts, c.options, on_up, on_down, on_closed, o, &o->opts, d);
    if (!rc) {
        o->id = tr_strdup(spec->id ? spec->id : MOD);
        o->subject = tr_strdup(c.subject);
        o->reply = c.reply ? tr_strdup(c.reply) : NULL;
        if (!o->id || !o->subject || (c.reply && !o->reply)) rc = -ENOMEM;
        if (!rc && c.headers && c.headers->type == TR_REC) rc = tr_value_clone(c.headers, &o->headers);
    }
    o->jetstream = c.jetstream;
    o->max_pending = c.max_pending;
    o->ack_timeout_ms = c.ack_timeout_ns / 1000000u;
    if (rc) {
        o->closing = true;
        tr_nats_mbox_close(&o->mb, on_async_closed);   /* frees o from the loop */
        return rc;
    }
    *self = o;
    return 0;
}

const struct tr_offramp_ops tr_nats_offramp = {
    .type = "nats",
    .bytes_only = true,
    .create = nats_create,
    .start = nats_start,
    .send = nats_send,
    .tick = nats_tick,
    .is_active = nats_is_active,
    .close = nats_close,
};
