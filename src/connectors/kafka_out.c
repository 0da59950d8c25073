/* kafka_out.c - the `kafka` offramp: a producer on librdkafka (0.11 keys:
 * brokers, topic, key, hostname, rdkafka_options). Each event is one
 * record; $kafka may set its topic (beyond 0.11, its open ask #1296), key
 * (string or binary), headers (a map of strings or binaries) and
 * partition, else the configured topic and key with librdkafka's
 * partitioner. A $kafka that carries an offset came from a kafka onramp:
 * its topic and partition are where it was read and are not used (its key
 * and headers are, as in 0.11).
 *
 * Answers: an event is acked on the broker's delivery report of its record
 * (with acks=all by default through the idempotent producer, which keeps
 * each partition's order across retries), failed on a failed delivery
 * report or when librdkafka refuses to enqueue it. A full local queue fails
 * the event and triggers the circuit breaker instead of blocking the loop;
 * it is restored once half of what was queued then has been delivered.
 * Close waits up to close_timeout_ms for outstanding reports, then purges
 * and fails the rest. A fatal producer error (idempotence lost) fails what
 * is pending and makes a new producer, as 0.11 did.
 *
 * Invariant: every transactional message is answered exactly once: by its
 * delivery report, by a refused enqueue, or at close.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/cmap.h"
#include "connectors/conn.h"
#include "connectors/kafka_int.h"
#include "core/alloc.h"
#include "core/log.h"

#define MOD "kafka"
#define PER_TURN 64     /* rd_kafka_poll rounds per loop turn (each serves many reports) */

struct kout_cfg {
    struct tr_kafka_common c;
    const char *topic;
    const char *key;
    const char *hostname;
    uint64_t close_timeout_ms;
};

const struct tr_cmap_entry tr_kafka_out_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR_LIST, "brokers", NULL, TR_CMAP_REQUIRED | TR_CMAP_RANGE,
     offsetof(struct kout_cfg, c.brokers), "list of \"host:port\" bootstrap brokers"), .lo = 1, .hi = 1024},
    {TR_CMAP_KEY(TR_CMAP_STR, "topic", NULL, TR_CMAP_REQUIRED, offsetof(struct kout_cfg, topic),
     "topic of every record unless $kafka.topic says otherwise")},
    {TR_CMAP_KEY(TR_CMAP_STR, "key", NULL, 0, offsetof(struct kout_cfg, key),
     "record key unless $kafka.key says otherwise")},
    {TR_CMAP_KEY(TR_CMAP_STR, "hostname", NULL, 0, offsetof(struct kout_cfg, hostname),
     "host name in client.id (default: this host's)")},
    {TR_CMAP_KEY(TR_CMAP_VALUE, "rdkafka_options", NULL, 0, offsetof(struct kout_cfg, c.rdkafka_options),
     "map of librdkafka properties (strings), applied last")},
    {TR_CMAP_KEY(TR_CMAP_U64, "close_timeout_ms", "1000", TR_CMAP_RANGE,
     offsetof(struct kout_cfg, close_timeout_ms),
     "ms close waits for delivery reports before failing the rest (tremor-c)"), .lo = 0, .hi = 600000},
    {0},
};

struct kout;

/* One record on its way: librdkafka's per-message opaque. */
struct prec {
    struct kout *o;
    uint64_t token;
    bool answer;
    struct prec *prev, *next;
};

struct kout {
    struct tr_offramp_host *host;
    char *id;
    char *topic;
    char *key;
    rd_kafka_conf_t *conf;     /* a copy, to make the producer again after a fatal error */
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    struct tr_kafka_wake wake;
    uv_timer_t close_timer;
    struct prec *pending;      /* records without a delivery report yet */
    uint64_t npending;
    uint64_t close_ms;
    uint64_t full_at;          /* npending when the queue was full, 0: not tripped */
    bool tripped, closing, fatal, wake_open;
    int handles;
    uint64_t sent, delivered, failed;
    struct tr_log_limit lim;
    void (*done)(void *);
    void *done_arg;
};

static void prec_unlink(struct kout *o, struct prec *r) {
    if (r->prev) r->prev->next = r->next;
    else o->pending = r->next;
    if (r->next) r->next->prev = r->prev;
    o->npending--;
}

static void answer(struct kout *o, struct prec *r, bool ok) {
    prec_unlink(o, r);
    if (ok) o->delivered++;
    else o->failed++;
    if (r->answer) {
        if (ok) tr_offramp_ack(o->host, r->token);
        else tr_offramp_fail(o->host, r->token);
    }
    tr_free(r);
}

static void maybe_restore(struct kout *o) {
    if (o->tripped && o->npending <= o->full_at / 2) {
        o->tripped = false;
        o->full_at = 0;
        tr_offramp_restore(o->host);
        TR_INFO(MOD, "%s: local queue has room again: restored", o->id);
    }
}

/* Delivery report, served on the loop by rd_kafka_poll. */
static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    struct kout *o = opaque;
    struct prec *r = m->_private;
    /* none after close has failed them all (o->rk is cleared first) */
    if (!r || !o->rk) return;
    if (m->err) {
        tr_log_limited(&o->lim, TR_LOG_WARN, MOD, "%s: record not delivered to %s: %s", o->id,
                       m->rkt ? rd_kafka_topic_name(m->rkt) : "?", rd_kafka_err2str(m->err));
    }
    answer(o, r, m->err == RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    struct kout *o = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
        TR_ERROR(MOD, "%s: fatal producer error %s: %s; making a new producer once what is pending "
                 "has failed", o->id, rd_kafka_err2name(orig), buf);
        o->fatal = true;
        return;
    }
    tr_log_limited(&o->lim, TR_LOG_WARN, MOD, "%s: %s: %s", o->id,
                   rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void finish_close(struct kout *o);
static int make_producer(struct kout *o, char *errstr, size_t n);

/* Serve the main queue: delivery reports, errors, log lines. */
static void serve(void *arg) {
    struct kout *o = arg;
    if (!o->rk) return;
    int n = 0;
    while (n < PER_TURN && rd_kafka_poll(o->rk, 0) > 0) n++;
    if (n == PER_TURN) tr_kafka_wake_again(&o->wake);
    maybe_restore(o);
    if (o->closing && o->npending == 0) {
        finish_close(o);
        return;
    }
    if (o->fatal && o->npending == 0 && !o->closing) {
        /* all that the dead producer held has been failed: start over */
        char errstr[512];
        int rc = make_producer(o, errstr, sizeof errstr);
        if (rc) TR_ERROR(MOD, "%s: cannot make a new producer: %s", o->id, errstr);
        else TR_INFO(MOD, "%s: new producer made", o->id);
    }
}

/* ------------------------------------------------------------ send */

static const tr_value *kmeta(const tr_value *meta, const char *key) {
    if (!meta || meta->type != TR_REC) return NULL;
    const tr_value *k = tr_rec_get_cstr(meta, "kafka");
    if (!k || k->type != TR_REC) return NULL;
    return tr_rec_get_cstr(k, key);
}

static int make_headers(const tr_value *hv, rd_kafka_headers_t **out) {
    *out = NULL;
    if (!hv || hv->type != TR_REC) return 0;
    rd_kafka_headers_t *hs = rd_kafka_headers_new(tr_rec_len(hv));
    for (uint32_t i = 0; i < tr_rec_len(hv); i++) {
        struct tr_field *f = tr_rec_at(hv, i);
        const tr_value *v = &f->val;
        uint32_t n = v->type == TR_ARR ? tr_arr_len(v) : 1;
        for (uint32_t j = 0; j < n; j++) {
            const tr_value *one = v->type == TR_ARR ? tr_arr_at(v, j) : v;
            if (one->type == TR_STR || one->type == TR_BIN)
                rd_kafka_header_add(hs, f->key->data, (ssize_t)f->key->len, one->as.s->data,
                                    (ssize_t)one->as.s->len);
            else if (one->type == TR_NULL)
                rd_kafka_header_add(hs, f->key->data, (ssize_t)f->key->len, NULL, 0);
            /* other types: 0.11 only sent strings; skipped */
        }
    }
    *out = hs;
    return 0;
}

static void kout_send(void *self, const struct tr_out_msg *m) {
    struct kout *o = self;
    bool answer_it = m->transactional;
    const char *why = NULL;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (o->closing || !o->rk) {
        if (answer_it) tr_offramp_fail(o->host, m->token);
        return;
    }
    /* A $kafka with an offset was written by a kafka onramp: its topic and
     * partition say where the record was read, not where to write it (a
     * relay would otherwise write back into its source). */
    const tr_value *off = kmeta(m->meta, "offset");
    bool from_source = off && off->type == TR_I64;
    const tr_value *tv = from_source ? NULL : kmeta(m->meta, "topic");
    const char *topic = tv && tv->type == TR_STR && tv->as.s->len > 0 ? tv->as.s->data : o->topic;
    const tr_value *kv = kmeta(m->meta, "key");
    const void *key = o->key;
    size_t klen = o->key ? strlen(o->key) : 0;
    if (kv && (kv->type == TR_STR || kv->type == TR_BIN)) {
        key = kv->as.s->data;
        klen = kv->as.s->len;
    }
    int32_t partition = RD_KAFKA_PARTITION_UA;
    const tr_value *pv = from_source ? NULL : kmeta(m->meta, "partition");
    if (pv && pv->type == TR_I64) {
        if (pv->as.i < 0 || pv->as.i > INT32_MAX) {
            why = "$kafka.partition out of range";
            goto fail;
        }
        partition = (int32_t)pv->as.i;
    }
    rd_kafka_headers_t *hs = NULL;
    make_headers(kmeta(m->meta, "headers"), &hs);
    struct prec *r = tr_calloc(1, sizeof *r);
    if (!r) {
        if (hs) rd_kafka_headers_destroy(hs);
        why = "out of memory";
        goto fail;
    }
    r->o = o;
    r->token = m->token;
    r->answer = answer_it;
    e = rd_kafka_producev(o->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                          RD_KAFKA_V_VALUE((void *)(m->data ? m->data : ""), m->len),
                          RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_HEADERS(hs),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(r), RD_KAFKA_V_END);
    if (e) {
        if (hs) rd_kafka_headers_destroy(hs);   /* not taken on failure */
        tr_free(r);
        why = rd_kafka_err2str(e);
        goto fail;
    }
    r->next = o->pending;
    if (o->pending) o->pending->prev = r;
    o->pending = r;
    o->npending++;
    o->sent++;
    return;
fail:
    o->failed++;
    tr_log_limited(&o->lim, TR_LOG_WARN, MOD, "%s: cannot enqueue a record for %s: %s", o->id, topic,
                   why);
    if (answer_it) tr_offramp_fail(o->host, m->token);
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && !o->tripped) {
        /* a full queue never blocks the loop: stop the sources instead */
        o->tripped = true;
        o->full_at = o->npending ? o->npending : 1;
        tr_offramp_trigger(o->host);
        TR_WARN(MOD, "%s: local queue full with %llu records: triggered", o->id,
                (unsigned long long)o->npending);
    }
}

/* ------------------------------------------------------------ life */

static int make_producer(struct kout *o, char *errstr, size_t n) {
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(o->conf);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, n);   /* takes conf */
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return TR_EINVAL_CFG;
    }
    rd_kafka_set_log_queue(rk, NULL);
    rd_kafka_queue_t *q = rd_kafka_queue_get_main(rk);
    if (o->wake_open) tr_kafka_wake_switch(&o->wake, q);
    if (o->rk) {
        rd_kafka_queue_destroy(o->q);
        rd_kafka_destroy(o->rk);
    }
    o->rk = rk;
    o->q = q;
    o->fatal = false;
    return 0;
}

static int kout_create(const struct tr_conn_spec *spec, struct tr_offramp_host *host, void **self,
                       struct tr_diag *d) {
    *self = NULL;
    struct kout_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_kafka_out_cmap, &c, d);
    if (rc) return rc;
    char cid[512];
    tr_kafka_client_id(c.hostname, "0", cid, sizeof cid);
    const char *defaults[] = {
        "client.id", cid,
        "message.timeout.ms", "5000",     /* 0.11 */
        "queue.buffering.max.ms", "0",    /* 0.11: no linger, lowest latency */
        "enable.idempotence", "true",     /* per-partition order and no duplicates on retry */
        NULL,
    };
    rd_kafka_conf_t *conf;
    if ((rc = tr_kafka_conf(spec, &c.c, defaults, &conf, d))) return rc;
    struct kout *o = tr_calloc(1, sizeof *o);
    if (!o) {
        rd_kafka_conf_destroy(conf);
        return -ENOMEM;
    }
    o->host = host;
    o->id = tr_strdup(spec->id ? spec->id : "kafka");
    o->topic = tr_strdup(c.topic);
    o->key = c.key ? tr_strdup(c.key) : NULL;
    o->close_ms = c.close_timeout_ms;
    rd_kafka_conf_set_opaque(conf, o);
    rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
    rd_kafka_conf_set_error_cb(conf, on_error);
    o->conf = conf;
    char errstr[512];
    if (!o->id || !o->topic || (c.key && !o->key)) {
        rc = -ENOMEM;
        goto fail;
    }
    if (make_producer(o, errstr, sizeof errstr)) {
        rc = tr_conn_cfg_fail(spec, "rdkafka_options", d, "make no producer: %s", errstr);
        goto fail;
    }
    if ((rc = tr_kafka_wake_open(&o->wake, tr_offramp_loop(host), o->q, serve, o))) goto fail;
    o->wake_open = true;
    uv_timer_init(tr_offramp_loop(host), &o->close_timer);
    o->close_timer.data = o;
    o->handles = 1;
    *self = o;
    return 0;
fail:
    if (o->rk) {
        rd_kafka_queue_destroy(o->q);
        rd_kafka_destroy(o->rk);
    }
    rd_kafka_conf_destroy(o->conf);
    tr_free(o->id);
    tr_free(o->topic);
    tr_free(o->key);
    tr_free(o);
    return rc;
}

static int kout_start(void *self) {
    struct kout *o = self;
    TR_INFO(MOD, "%s: producing to %s", o->id, o->topic);
    return 0;
}

static bool kout_is_active(void *self) { return !((struct kout *)self)->tripped; }

/* Also serves the queue every 100 ms: a safety net, the pipe is what wakes us. */
static void kout_tick(void *self, uint64_t now_ns) {
    (void)now_ns;
    struct kout *o = self;
    if (o->rk && !o->closing) serve(o);
    tr_log_limit_flush(&o->lim);
}

static void handle_gone(void *arg) {
    struct kout *o = arg;
    if (--o->handles > 0) return;
    void (*done)(void *) = o->done;
    void *darg = o->done_arg;
    rd_kafka_conf_destroy(o->conf);
    tr_free(o->id);
    tr_free(o->topic);
    tr_free(o->key);
    tr_free(o);
    if (done) done(darg);
}

static void on_timer_closed(uv_handle_t *h) { handle_gone(h->data); }

static void finish_close(struct kout *o) {
    if (!o->rk) return;
    uv_timer_stop(&o->close_timer);
    /* whatever has no report yet is failed now: the source keeps it */
    rd_kafka_purge(o->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT | RD_KAFKA_PURGE_F_NON_BLOCKING);
    while (rd_kafka_poll(o->rk, 0) > 0) {
    }
    while (o->pending) answer(o, o->pending, false);
    o->handles++;
    tr_kafka_wake_close(&o->wake, handle_gone, o);
    rd_kafka_queue_destroy(o->q);
    rd_kafka_t *rk = o->rk;
    o->rk = NULL;
    rd_kafka_destroy(rk);
    uv_close((uv_handle_t *)&o->close_timer, on_timer_closed);
}

static void on_close_timeout(uv_timer_t *t) { finish_close(t->data); }

static void kout_close(void *self, void (*done)(void *), void *arg) {
    struct kout *o = self;
    o->closing = true;
    o->done = done;
    o->done_arg = arg;
    if (o->npending == 0 || o->close_ms == 0) {
        finish_close(o);
        return;
    }
    TR_INFO(MOD, "%s: waiting up to %llu ms for %llu delivery report(s)", o->id,
            (unsigned long long)o->close_ms, (unsigned long long)o->npending);
    uv_timer_start(&o->close_timer, on_close_timeout, o->close_ms, 0);
}

const struct tr_offramp_ops tr_kafka_offramp = {
    .type = "kafka",
    .bytes_only = true,
    .create = kout_create,
    .start = kout_start,
    .send = kout_send,
    .tick = kout_tick,
    .is_active = kout_is_active,
    .close = kout_close,
};
