/* nats_in.c - the `nats` onramp: core NATS as in Tremor 0.11 (keys hosts,
 * subject, queue, options; $nats.reply and $nats.headers per event) and,
 * beyond 0.11, a JetStream durable pull consumer (`jetstream: true`).
 *
 * Core NATS has no acks: each message becomes bytes for the codec and
 * preprocessors (one message is one stream chunk, flushed at its end).
 * JetStream: each message is decoded with the entry's codec into exactly
 * one event (no preprocessors), acked to JetStream (natsMsg_Ack) when that
 * event is acked downstream, nak'ed with a capped exponential delay when it
 * fails, terminated when it cannot be decoded. At most `window` messages
 * are fetched and not yet acked; those not answered within ack_wait leave
 * the window (JetStream redelivers them by itself).
 *
 * Threads: a worker thread per onramp owns the connection's blocking calls
 * (connect, js_PullSubscribe, natsSubscription_Fetch / NextMsg) and hands
 * each message to the loop through the mailbox (nats_link.h). It waits on
 * the mailbox condition while the breaker is triggered or the window is
 * full. stop, paused, outstanding and give_back are shared, under the
 * mailbox mutex; all else is the loop's. Acks and naks are buffered
 * publishes libnats makes without waiting, so the loop calls them.
 * Invariant: each fetched message is acked, nak'ed, terminated, or left to
 * JetStream's redelivery exactly once, and destroyed exactly once.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "codec/codec.h"
#include "config/cmap.h"
#include "connectors/backoff.h"
#include "connectors/conn.h"
#include "connectors/nats_link.h"
#include "core/alloc.h"
#include "core/event.h"
#include "core/log.h"

#define MOD "nats"
#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 5000
#define NEXT_WAIT_MS 200     /* a core worker looks at stop this often */

struct inflight {
    uint64_t id;
    natsMsg *msg;
    uint64_t deadline_ms;    /* past it JetStream has redelivered: forget it */
};

struct nats_in {
    struct tr_onramp_host *host;
    uv_loop_t *loop;
    char *id, *subject, *queue, *stream, *durable;
    bool jetstream;
    uint64_t batch, window, fetch_ms, ack_wait_ms, nak_min_ms, nak_max_ms, max_deliver;
    const struct tr_codec *codec;
    natsOptions *opts;
    struct tr_nats_mbox mb;
    uv_thread_t worker;
    bool worker_started, closing, paused_loop;
    uv_timer_t sweep;
    int handles;
    /* loop only */
    struct tr_nats_item *ready, *ready_tail;   /* taken from the mailbox, not yet emitted */
    struct inflight *fl;
    size_t nfl, fl_cap;
    uint64_t emitted, acked, naked, termed, expired, rejected;
    struct tr_log_limit lim;
    /* under mb.mu */
    bool stop, paused, exited;
    uint64_t outstanding;                   /* fetched and not yet answered */
    struct tr_nats_item *give_back;         /* nak'ed by the worker before it leaves */
    void (*done)(void *);
    void *done_arg;
};

/* ------------------------------------------------------------ worker */

static void on_up(natsConnection *nc, void *closure) {
    (void)nc;
    tr_nats_mbox_post(&((struct nats_in *)closure)->mb, TR_NATS_UP, 0, 0);
}

static void on_down(natsConnection *nc, void *closure) {
    (void)nc;
    tr_nats_mbox_post(&((struct nats_in *)closure)->mb, TR_NATS_DOWN, 0, 0);
}

static void on_closed(natsConnection *nc, void *closure) {
    (void)nc;
    tr_nats_mbox_closed(&((struct nats_in *)closure)->mb);
}

/* Wait up to ms for stop (true) under the mutex. */
static bool wait_stop(struct nats_in *s, uint64_t ms) {
    uv_mutex_lock(&s->mb.mu);
    if (!s->stop) (void)uv_cond_timedwait(&s->mb.cv, &s->mb.mu, ms * 1000000u);
    bool stop = s->stop;
    uv_mutex_unlock(&s->mb.mu);
    return stop;
}

/* Wait for room in the window (or the queue) and no breaker; 0 at stop. */
static uint64_t wait_room(struct nats_in *s) {
    uint64_t room = 0;
    uv_mutex_lock(&s->mb.mu);
    while (!s->stop && (s->paused || s->outstanding >= s->window)) uv_cond_wait(&s->mb.cv, &s->mb.mu);
    if (!s->stop) room = s->window - s->outstanding;
    uv_mutex_unlock(&s->mb.mu);
    return room;
}

/* Hand msg to the loop (taken); false at stop (msg given back). */
static bool hand(struct nats_in *s, natsMsg *msg) {
    struct tr_nats_item *it = tr_calloc(1, sizeof *it);
    uv_mutex_lock(&s->mb.mu);
    bool stop = s->stop;
    if (!it || stop) {
        uv_mutex_unlock(&s->mb.mu);
        if (s->jetstream) natsMsg_Nak(msg, NULL);
        natsMsg_Destroy(msg);
        tr_free(it);
        return !stop;   /* out of memory: JetStream redelivers it, go on */
    }
    it->msg = msg;
    s->outstanding++;
    tr_nats_mbox_push(&s->mb, it, true);
    uv_mutex_unlock(&s->mb.mu);
    return true;
}

static void run(void *arg) {
    struct nats_in *s = arg;
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    jsCtx *js = NULL;
    struct tr_backoff bo;
    char buf[256];
    tr_backoff_init(&bo, RETRY_MIN_MS, RETRY_MAX_MS);
    natsStatus st = natsConnection_Connect(&nc, s->opts);
    if (st == NATS_OK) tr_nats_mbox_post(&s->mb, TR_NATS_UP, 0, 0);
    if (st != NATS_OK && st != NATS_NOT_YET_CONNECTED) {
        TR_ERROR(MOD, "%s: cannot connect: %s", s->id, tr_nats_err(st, buf, sizeof buf));
        goto out;
    }
    if (s->jetstream && (st = natsConnection_JetStream(&js, nc, NULL)) != NATS_OK) {
        TR_ERROR(MOD, "%s: no JetStream context: %s", s->id, tr_nats_err(st, buf, sizeof buf));
        goto out;
    }
    /* subscribe, retried until it works: the stream or the servers may not
     * be there yet */
    while (!sub) {
        jsErrCode jerr = 0;
        if (s->jetstream) {
            jsSubOptions so;
            jsSubOptions_Init(&so);
            so.Stream = s->stream;
            so.Config.Durable = s->durable;
            so.Config.AckPolicy = js_AckExplicit;
            so.Config.AckWait = (int64_t)s->ack_wait_ms * 1000000;
            so.Config.MaxAckPending = (int64_t)s->window;
            so.Config.MaxDeliver = s->max_deliver ? (int64_t)s->max_deliver : -1;
            st = js_PullSubscribe(&sub, js, s->subject, s->durable, NULL, &so, &jerr);
        } else if (s->queue) {
            st = natsConnection_QueueSubscribeSync(&sub, nc, s->subject, s->queue);
        } else {
            st = natsConnection_SubscribeSync(&sub, nc, s->subject);
        }
        if (st == NATS_OK) {
            TR_INFO(MOD, "%s: subscribed to %s%s%s", s->id, s->subject,
                    s->jetstream ? " as durable consumer " : "", s->jetstream ? s->durable : "");
            break;
        }
        sub = NULL;
        uint64_t wait = tr_backoff_next(&bo);
        TR_WARN(MOD, "%s: cannot subscribe to %s: %s (JetStream error %d); retrying in %" PRIu64 " ms",
                s->id, s->subject, tr_nats_err(st, buf, sizeof buf), (int)jerr, wait);
        if (wait_stop(s, wait)) goto out;
    }
    tr_backoff_reset(&bo);
    for (;;) {
        uint64_t room = wait_room(s);
        if (!room) break;
        if (!s->jetstream) {
            natsMsg *m = NULL;
            st = natsSubscription_NextMsg(&m, sub, NEXT_WAIT_MS);
            if (st == NATS_OK) {
                if (!hand(s, m)) break;
                continue;
            }
        } else {
            natsMsgList list = {0};
            jsErrCode jerr = 0;
            int n = (int)(room < s->batch ? room : s->batch);
            st = natsSubscription_Fetch(&list, sub, n, (int64_t)s->fetch_ms, &jerr);
            if (st == NATS_OK) {
                bool go = true;
                for (int i = 0; i < list.Count; i++) {
                    natsMsg *m = list.Msgs[i];
                    list.Msgs[i] = NULL;
                    if (!hand(s, m)) go = false;
                }
                natsMsgList_Destroy(&list);
                tr_backoff_reset(&bo);
                if (!go) break;
                continue;
            }
            natsMsgList_Destroy(&list);
        }
        if (st == NATS_TIMEOUT) continue;
        if (st == NATS_SLOW_CONSUMER) {
            /* core NATS has no flow control: past libnats's pending limits
             * (65536 messages, 64 MB) it dropped messages; say so, go on */
            int64_t dropped = 0;
            natsSubscription_GetDropped(sub, &dropped);
            TR_WARN(MOD, "%s: slow consumer: libnats dropped %lld messages on %s so far", s->id,
                    (long long)dropped, s->subject);
            continue;
        }
        uint64_t wait = tr_backoff_next(&bo);
        TR_WARN(MOD, "%s: cannot fetch: %s; retrying in %" PRIu64 " ms", s->id,
                tr_nats_err(st, buf, sizeof buf), wait);
        if (wait_stop(s, wait)) break;
    }
out:
    uv_mutex_lock(&s->mb.mu);
    struct tr_nats_item *back = s->give_back;
    s->give_back = NULL;
    uv_mutex_unlock(&s->mb.mu);
    /* what the loop did not answer goes back to JetStream at once */
    for (struct tr_nats_item *it = back; it; it = it->next)
        if (it->msg && s->jetstream) natsMsg_Nak(it->msg, NULL);
    tr_nats_items_free(back);
    if (nc) natsConnection_FlushTimeout(nc, 1000);
    if (sub) natsSubscription_Destroy(sub);
    if (js) jsCtx_Destroy(js);
    if (nc) {
        natsConnection_Close(nc);
        /* its callbacks (disconnected, closed) come from libnats's thread:
         * s must outlive them */
        if (!tr_nats_mbox_wait_closed(&s->mb, 5000))
            TR_WARN(MOD, "%s: libnats did not report the connection closed within 5 s", s->id);
        natsConnection_Destroy(nc);
    }
    uv_mutex_lock(&s->mb.mu);
    s->exited = true;
    uv_async_send(&s->mb.async);
    uv_mutex_unlock(&s->mb.mu);
}

/* ------------------------------------------------------------ loop side */

static void one_answered(struct nats_in *s) {
    uv_mutex_lock(&s->mb.mu);
    s->outstanding--;
    uv_cond_signal(&s->mb.cv);
    uv_mutex_unlock(&s->mb.mu);
}

/* $nats {reply, headers} (0.11), with JetStream's stream, consumer,
 * sequence {stream, consumer}, delivered, pending and timestamp. */
static int make_meta(struct nats_in *s, natsMsg *msg, tr_value *out) {
    tr_value meta, nats, x;
    *out = tr_v_null();
    if (tr_v_rec(1, &meta)) return -ENOMEM;
    if (tr_v_rec(8, &nats)) {
        tr_value_unref(meta);
        return -ENOMEM;
    }
    int rc = 0;
    const char *reply = natsMsg_GetReply(msg);
    if (!s->jetstream && reply && reply[0] && !(rc = tr_v_cstr(reply, &x))) rc = tr_rec_set(&nats, "reply", 5, x);
    if (!rc && !(rc = tr_nats_headers_value(msg, &x))) {
        if (x.type != TR_NULL) rc = tr_rec_set(&nats, "headers", 7, x);
    }
    jsMsgMetaData *md = NULL;
    if (!rc && s->jetstream && natsMsg_GetMetaData(&md, msg) == NATS_OK) {
        tr_value seq;
        if (md->Stream && !(rc = tr_v_cstr(md->Stream, &x))) rc = tr_rec_set(&nats, "stream", 6, x);
        if (!rc && md->Consumer && !(rc = tr_v_cstr(md->Consumer, &x))) rc = tr_rec_set(&nats, "consumer", 8, x);
        if (!rc && !(rc = tr_v_rec(2, &seq))) {
            rc = tr_rec_set(&seq, "stream", 6, tr_v_uint(md->Sequence.Stream));
            if (!rc) rc = tr_rec_set(&seq, "consumer", 8, tr_v_uint(md->Sequence.Consumer));
            if (!rc) rc = tr_rec_set(&nats, "sequence", 8, seq);
            else tr_value_unref(seq);
        }
        if (!rc) rc = tr_rec_set(&nats, "delivered", 9, tr_v_uint(md->NumDelivered));
        if (!rc) rc = tr_rec_set(&nats, "pending", 7, tr_v_uint(md->NumPending));
        if (!rc) rc = tr_rec_set(&nats, "timestamp", 9, tr_v_int(md->Timestamp));
        jsMsgMetaData_Destroy(md);
    }
    if (!rc && !(rc = tr_v_cstr(natsMsg_GetSubject(msg), &x))) rc = tr_rec_set(&nats, "subject", 7, x);
    if (!rc) rc = tr_rec_set(&meta, "nats", 4, nats);
    else tr_value_unref(nats);
    if (rc) {
        tr_value_unref(meta);
        return -ENOMEM;
    }
    *out = meta;
    return 0;
}

static uint64_t nak_delay(struct nats_in *s, natsMsg *msg) {
    uint64_t delivered = 1, d = s->nak_min_ms;
    jsMsgMetaData *md = NULL;
    if (natsMsg_GetMetaData(&md, msg) == NATS_OK) {
        delivered = md->NumDelivered;
        jsMsgMetaData_Destroy(md);
    }
    for (uint64_t i = 1; i < delivered && d < s->nak_max_ms; i++) d *= 2;
    return d < s->nak_max_ms ? d : s->nak_max_ms;
}

/* One JetStream message: exactly one event, or an answer now. */
static void emit_js(struct nats_in *s, natsMsg *msg) {
    tr_value v = tr_v_null(), meta;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = s->codec->decode(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), tr_now_ns(), &v, &d);
    if (rc == TR_CODEC_NOTHING) {
        natsMsg_Ack(msg, NULL);
        s->acked++;
        goto answered;
    }
    if (rc) {
        /* redelivery cannot make it decode: terminate it */
        s->rejected++;
        tr_log_limited(&s->lim, TR_LOG_WARN, MOD, "%s: cannot decode a message of %d bytes on %s with "
                       "codec %s: %s; terminated (%" PRIu64 " such so far)", s->id,
                       natsMsg_GetDataLength(msg), natsMsg_GetSubject(msg), s->codec->name,
                       d.msg[0] ? d.msg : tr_strerror(rc), s->rejected);
        natsMsg_Term(msg, NULL);
        s->termed++;
        goto answered;
    }
    if (make_meta(s, msg, &meta) ||
        tr_grow((void **)&s->fl, &s->fl_cap, s->nfl + 1, sizeof *s->fl)) {
        tr_value_unref(v);
        natsMsg_Nak(msg, NULL);
        s->naked++;
        goto answered;
    }
    int64_t id = tr_onramp_emit_value(s->host, v, meta);
    if (id < 0) {
        natsMsg_NakWithDelay(msg, (int64_t)nak_delay(s, msg), NULL);
        s->naked++;
        goto answered;
    }
    s->emitted++;
    /* ids grow: the table stays sorted */
    s->fl[s->nfl++] = (struct inflight){(uint64_t)id, msg, tr_log_now_ms() + s->ack_wait_ms};
    return;
answered:
    natsMsg_Destroy(msg);
    one_answered(s);
}

static void emit_core(struct nats_in *s, natsMsg *msg) {
    tr_value meta;
    if (make_meta(s, msg, &meta)) meta = tr_v_null();
    int rc = tr_onramp_emit_bytes(s->host, 0, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), meta);
    tr_onramp_stream_end(s->host, 0);
    if (rc == TR_ONRAMP_PAUSED) s->paused_loop = true;
    else if (rc < 0) {
        s->rejected++;
        tr_log_limited(&s->lim, TR_LOG_WARN, MOD, "%s: a message of %d bytes was refused: %s (%" PRIu64
                       " such so far)", s->id, natsMsg_GetDataLength(msg), tr_strerror(rc), s->rejected);
    } else s->emitted++;
    natsMsg_Destroy(msg);
    one_answered(s);
}

static void finish(struct nats_in *s);

static void drain(struct nats_in *s) {
    while (s->ready && !s->paused_loop && !s->closing) {
        struct tr_nats_item *it = s->ready;
        s->ready = it->next;
        if (!s->ready) s->ready_tail = NULL;
        natsMsg *msg = it->msg;
        int kind = it->kind;
        tr_free(it);
        if (kind == TR_NATS_UP) TR_INFO(MOD, "%s: connected", s->id);
        else if (kind == TR_NATS_DOWN) TR_WARN(MOD, "%s: disconnected, reconnecting", s->id);
        if (!msg) continue;
        if (s->jetstream) emit_js(s, msg);
        else emit_core(s, msg);
    }
}

static void on_mail(uv_async_t *a) {
    struct nats_in *s = a->data;
    struct tr_nats_item *list = tr_nats_mbox_take(&s->mb);
    if (list) {
        struct tr_nats_item *tail = list;
        while (tail->next) tail = tail->next;
        if (s->ready_tail) s->ready_tail->next = list;
        else s->ready = list;
        s->ready_tail = tail;
    }
    if (s->closing) {
        uv_mutex_lock(&s->mb.mu);
        bool exited = s->exited;
        uv_mutex_unlock(&s->mb.mu);
        if (exited) finish(s);
        return;
    }
    drain(s);
}

static size_t find(struct nats_in *s, uint64_t id) {
    size_t lo = 0, hi = s->nfl;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->fl[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < s->nfl && s->fl[lo].id == id ? lo : SIZE_MAX;
}

static void take_out(struct nats_in *s, size_t i) {
    natsMsg_Destroy(s->fl[i].msg);
    memmove(&s->fl[i], &s->fl[i + 1], (s->nfl - i - 1) * sizeof *s->fl);
    s->nfl--;
    one_answered(s);
}

static void nats_ack(void *self, uint64_t id) {
    struct nats_in *s = self;
    size_t i = s->jetstream && !s->closing ? find(s, id) : SIZE_MAX;
    if (i == SIZE_MAX) return;
    natsStatus st = natsMsg_Ack(s->fl[i].msg, NULL);
    if (st != NATS_OK)
        tr_log_limited(&s->lim, TR_LOG_WARN, MOD, "%s: cannot ack a message (JetStream redelivers it): %s",
                       s->id, natsStatus_GetText(st));
    s->acked++;
    take_out(s, i);
}

static void nats_fail(void *self, uint64_t id) {
    struct nats_in *s = self;
    size_t i = s->jetstream && !s->closing ? find(s, id) : SIZE_MAX;
    if (i == SIZE_MAX) return;
    natsMsg_NakWithDelay(s->fl[i].msg, (int64_t)nak_delay(s, s->fl[i].msg), NULL);
    s->naked++;
    take_out(s, i);
}

/* Messages past their ack_wait were redelivered by JetStream: they leave
 * the window (a late ack of theirs would ack nothing new). */
static void on_sweep(uv_timer_t *t) {
    struct nats_in *s = t->data;
    uint64_t now = tr_log_now_ms();
    size_t i = 0;
    while (i < s->nfl) {
        if (s->fl[i].deadline_ms <= now) {
            s->expired++;
            take_out(s, i);
        } else i++;
    }
}

static void nats_trigger(void *self) {
    struct nats_in *s = self;
    s->paused_loop = true;
    uv_mutex_lock(&s->mb.mu);
    s->paused = true;
    uv_mutex_unlock(&s->mb.mu);
}

static void nats_restore(void *self) {
    struct nats_in *s = self;
    s->paused_loop = false;
    uv_mutex_lock(&s->mb.mu);
    s->paused = false;
    uv_cond_signal(&s->mb.cv);
    uv_mutex_unlock(&s->mb.mu);
    /* what waits in `ready` is emitted from the loop, not inside this call */
    uv_async_send(&s->mb.async);
}

static int nats_start(void *self) {
    struct nats_in *s = self;
    if (s->worker_started) return 0;
    int rc = uv_thread_create(&s->worker, run, s);
    if (rc) return rc;
    s->worker_started = true;
    if (s->jetstream) uv_timer_start(&s->sweep, on_sweep, 1000, 1000);
    return 0;
}

static void on_handle_closed(uv_handle_t *h) {
    struct nats_in *s = h->data;
    if (--s->handles) return;
    tr_nats_mbox_fini(&s->mb);
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    if (s->opts) natsOptions_Destroy(s->opts);
    tr_free(s->fl);
    tr_free(s->id);
    tr_free(s->subject);
    tr_free(s->queue);
    tr_free(s->stream);
    tr_free(s->durable);
    tr_free(s);
    if (done) done(arg);
}

/* The worker has left: join it (at once) and release the handles. */
static void finish(struct nats_in *s) {
    if (s->worker_started) uv_thread_join(&s->worker);
    s->worker_started = false;
    tr_nats_items_free(s->ready);
    s->ready = s->ready_tail = NULL;
    uv_close((uv_handle_t *)&s->sweep, on_handle_closed);
    tr_nats_mbox_close(&s->mb, on_handle_closed);
}

static void nats_close(void *self, void (*done)(void *), void *arg) {
    struct nats_in *s = self;
    if (s->closing) return;
    s->closing = true;
    s->done = done;
    s->done_arg = arg;
    uv_timer_stop(&s->sweep);
    TR_INFO(MOD, "%s: %" PRIu64 " events, %" PRIu64 " acked, %" PRIu64 " nak'ed, %" PRIu64
            " terminated, %" PRIu64 " left to redelivery", s->id, s->emitted, s->acked, s->naked,
            s->termed, s->expired + s->nfl);
    /* everything fetched and unanswered goes back through the worker,
     * which owns the connection until it leaves */
    struct tr_nats_item *back = s->ready, *tail = s->ready_tail;
    s->ready = s->ready_tail = NULL;
    for (size_t i = 0; i < s->nfl; i++) {
        struct tr_nats_item *it = tr_calloc(1, sizeof *it);
        if (!it) {
            natsMsg_Destroy(s->fl[i].msg);   /* JetStream redelivers it after ack_wait */
            continue;
        }
        it->msg = s->fl[i].msg;
        if (tail) tail->next = it;
        else back = it;
        tail = it;
    }
    s->nfl = 0;
    uv_mutex_lock(&s->mb.mu);
    s->give_back = back;
    s->stop = true;
    bool exited = s->exited || !s->worker_started;
    uv_cond_broadcast(&s->mb.cv);
    uv_mutex_unlock(&s->mb.mu);
    if (exited) {
        uv_mutex_lock(&s->mb.mu);
        back = s->give_back;
        s->give_back = NULL;
        uv_mutex_unlock(&s->mb.mu);
        tr_nats_items_free(back);
        finish(s);
    }
}

/* ------------------------------------------------------------- config */

struct nats_in_cfg {
    const tr_value *hosts, *options;
    const char *subject, *queue, *stream, *durable;
    bool jetstream;
    uint64_t batch, window, fetch_ns, ack_wait_ns, nak_min_ns, nak_max_ns, max_deliver;
};

const struct tr_cmap_entry tr_nats_in_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR_LIST, "hosts", NULL, TR_CMAP_REQUIRED, offsetof(struct nats_in_cfg, hosts),
     "NATS servers, host:port or nats:// URLs")},
    {TR_CMAP_KEY(TR_CMAP_STR, "subject", NULL, TR_CMAP_REQUIRED, offsetof(struct nats_in_cfg, subject),
     "subject to subscribe to (JetStream: the consumer's filter subject)")},
    {TR_CMAP_KEY(TR_CMAP_STR, "queue", NULL, 0, offsetof(struct nats_in_cfg, queue),
     "queue group to subscribe in (core NATS)")},
    {TR_CMAP_KEY(TR_CMAP_VALUE, "options", NULL, 0, offsetof(struct nats_in_cfg, options),
     "connection options: token, username, password, credentials_path, cert_path, key_path, name, "
     "echo, max_reconnects, reconnect_buffer_size, tls, root_cert")},
    {TR_CMAP_KEY(TR_CMAP_BOOL, "jetstream", "false", 0, offsetof(struct nats_in_cfg, jetstream),
     "consume through a JetStream durable pull consumer, acked per event (beyond 0.11)")},
    {TR_CMAP_KEY(TR_CMAP_STR, "stream", NULL, 0, offsetof(struct nats_in_cfg, stream),
     "JetStream: the stream (default: the one that holds subject)")},
    {TR_CMAP_KEY(TR_CMAP_STR, "durable", NULL, 0, offsetof(struct nats_in_cfg, durable),
     "JetStream: durable consumer name (created when missing; default: the onramp id)"),
     .alias = "consumer"},
    {TR_CMAP_KEY(TR_CMAP_U64, "batch", "64", TR_CMAP_RANGE, offsetof(struct nats_in_cfg, batch),
     "JetStream: messages per fetch"), .lo = 1, .hi = 4096},
    {TR_CMAP_KEY(TR_CMAP_U64, "window", "1024", TR_CMAP_RANGE, offsetof(struct nats_in_cfg, window),
     "messages fetched and not yet acked (core: not yet emitted)"), .lo = 1, .hi = 1000000},
    {TR_CMAP_KEY(TR_CMAP_DURATION_MS, "fetch_timeout", "1000", TR_CMAP_RANGE,
     offsetof(struct nats_in_cfg, fetch_ns), "JetStream: ms a fetch waits for messages"),
     .lo = 10, .hi = 60000},
    {TR_CMAP_KEY(TR_CMAP_DURATION_MS, "ack_wait", "30000", TR_CMAP_RANGE,
     offsetof(struct nats_in_cfg, ack_wait_ns), "JetStream: ms before an unacked message is redelivered"),
     .lo = 100, .hi = 86400000},
    {TR_CMAP_KEY(TR_CMAP_DURATION_MS, "nak_delay", "100", TR_CMAP_RANGE,
     offsetof(struct nats_in_cfg, nak_min_ns), "JetStream: redelivery delay after the first fail, "
     "doubling per delivery"), .lo = 0, .hi = 3600000},
    {TR_CMAP_KEY(TR_CMAP_DURATION_MS, "nak_max_delay", "30000", TR_CMAP_RANGE,
     offsetof(struct nats_in_cfg, nak_max_ns), "JetStream: cap of that delay"), .lo = 0, .hi = 3600000},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_deliver", "0", TR_CMAP_RANGE, offsetof(struct nats_in_cfg, max_deliver),
     "JetStream: deliveries of a message before the server gives up (0: no limit)"), .lo = 0, .hi = 1e9},
    {0},
};

static char *dup_or_null(const char *s, int *rc) {
    if (!s) return NULL;
    char *d = tr_strdup(s);
    if (!d) *rc = -ENOMEM;
    return d;
}

static int nats_create(const struct tr_conn_spec *spec, struct tr_onramp_host *host, void **self,
                       struct tr_diag *d) {
    *self = NULL;
    if (spec->config == NULL || spec->config->type != TR_REC)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "NATS onramp '%s' requires a config (hosts, subject)", spec->id);
    struct nats_in_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_nats_in_cmap, &c, d);
    if (rc) return rc;
    if (!c.subject[0] || strpbrk(c.subject, " \t\r\n"))
        return tr_conn_cfg_fail(spec, "subject", d, "must be a NATS subject");
    if (c.jetstream && c.queue)
        return tr_conn_cfg_fail(spec, "queue", d, "is for core NATS: a JetStream durable consumer is "
                                "already shared by every onramp that names it");
    if (!c.jetstream && (c.stream || c.durable))
        return tr_conn_cfg_fail(spec, c.stream ? "stream" : "durable", d, "needs `jetstream: true`");
    const char *durable = c.durable ? c.durable : spec->id;
    if (c.jetstream && (!durable || !durable[0] || strpbrk(durable, " .*>\t")))
        return tr_conn_cfg_fail(spec, "durable", d, "must be a consumer name (no spaces, '.', '*', '>')");
    const char *cname = spec->codec ? spec->codec : "json";
    const struct tr_codec *codec = tr_codec_find(cname);
    if (!codec)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "NATS onramp '%s': unknown codec '%s'", spec->id, cname);
    struct nats_in *s = tr_calloc(1, sizeof *s);
    if (!s) return -ENOMEM;
    s->host = host;
    s->loop = tr_onramp_loop(host);
    s->codec = codec;
    s->jetstream = c.jetstream;
    s->batch = c.batch;
    s->window = c.window;
    s->fetch_ms = c.fetch_ns / 1000000u;
    s->ack_wait_ms = c.ack_wait_ns / 1000000u;
    s->nak_min_ms = c.nak_min_ns / 1000000u;
    s->nak_max_ms = c.nak_max_ns / 1000000u;
    if (s->nak_max_ms < s->nak_min_ms) s->nak_max_ms = s->nak_min_ms;
    if (s->nak_min_ms == 0 && s->nak_max_ms) s->nak_min_ms = 1;
    s->max_deliver = c.max_deliver;
    rc = tr_nats_mbox_init(&s->mb, s->loop, on_mail, s);
    if (rc) {
        tr_free(s);
        return rc;
    }
    uv_timer_init(s->loop, &s->sweep);
    s->sweep.data = s;
    s->handles = 2;
    rc = tr_nats_options(spec, c.hosts, c.options, on_up, on_down, on_closed, s, &s->opts, d);
    if (!rc) {
        s->id = dup_or_null(spec->id ? spec->id : MOD, &rc);
        s->subject = dup_or_null(c.subject, &rc);
        s->queue = dup_or_null(c.queue, &rc);
        s->stream = dup_or_null(c.stream, &rc);
        s->durable = c.jetstream ? dup_or_null(durable, &rc) : NULL;
    }
    if (rc) {
        s->closing = true;
        finish(s);   /* frees s from the loop */
        return rc;
    }
    *self = s;
    return 0;
}

const struct tr_onramp_ops tr_nats_onramp = {
    .type = "nats",
    .transactional = true,
    .create = nats_create,
    .start = nats_start,
    .trigger = nats_trigger,
    .restore = nats_restore,
    .ack = nats_ack,
    .fail = nats_fail,
    .close = nats_close,
};
