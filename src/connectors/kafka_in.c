/* kafka_in.c - the `kafka` onramp: a consumer-group member on librdkafka
 * (0.11 keys: brokers, topics, group_id, retry_failed_events,
 * rdkafka_options). Each record's value goes through the codec; its
 * metadata is $kafka {key, headers, topic, offset, partition, timestamp}
 * as in 0.11 (key and header values as binaries, timestamp in ms).
 *
 * Transactional by default (0.11 only was with enable.auto.commit "false"):
 * offsets are committed per partition up to the contiguous prefix of
 * records whose events were all acknowledged, asynchronously and at most
 * every commit_interval_ms, never past a record still in flight. A fail
 * with retry_failed_events seeks that partition back to the failed record
 * and forgets the records after it (they are read again: duplicates, never
 * loss); without it the failed record counts as done, as 0.11 committed
 * past it. With rdkafka_options enable.auto.commit "true" librdkafka
 * commits by itself and acks change nothing (0.11's default).
 *
 * Rebalance: before partitions are revoked the settled prefix is committed
 * (synchronously, inside librdkafka's rebalance callback, which runs on the
 * loop) and what is still in flight on them is abandoned: its acks are
 * ignored and the new owner reads it again from the committed offset.
 * Breaker: a trigger stops the polling at once (what librdkafka fetched
 * waits in its queue, bounded by its queued.max.messages.kbytes); one that
 * lasts PAUSE_AFTER_MS also pauses every assigned partition (and any
 * assigned later), and a restore resumes them. Most triggers are short (a
 * qos::wal waiting for its next group commit, about a millisecond), and a
 * pause and resume of the partitions costs a fetch cycle each time: paused
 * at once, the kafka relay ran at a tenth of its speed. max_in_flight
 * records waiting for acks pause them too, until half of those settled.
 * Settled records wait in the ring for the next commit (the timer): past
 * RING_OVER x max_in_flight records in it, the settled prefix is committed
 * at once, and if the ring is still that long (its oldest record waits for
 * an ack) the partitions pause as well. Counting settled records against
 * max_in_flight, as an earlier version did, paused a fast relay every
 * commit interval: a qos::wal downstream lets up to 16,384 records wait
 * for a group commit before it acknowledges them, and with that the kafka
 * relay of bench/kafka_bench.py ran at a quarter of its rate. librdkafka's threads
 * only queue; everything here runs on the loop (kafka_int.h).
 *
 * An ack of a batch (ack_range) settles every record whose ids it covers.
 *
 * Invariant: the in-flight ring holds every record handed to the runtime
 * and not yet committed or abandoned, in the order of their event ids.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "config/cmap.h"
#include "connectors/conn.h"
#include "connectors/kafka_int.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/ring.h"

#define MOD "kafka"
#define PER_TURN 1024   /* records handed to the runtime per loop turn */
#define PAUSE_AFTER_MS 500   /* a trigger this long pauses the partitions */
#define RING_OVER 2          /* x max_in_flight records in the ring: commit early, then pause */

struct kin_cfg {
    struct tr_kafka_common c;
    const tr_value *topics;
    const char *group_id;
    bool retry_failed_events;
    uint64_t commit_interval_ms;
    uint64_t max_in_flight;
};

const struct tr_cmap_entry tr_kafka_in_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR_LIST, "brokers", NULL, TR_CMAP_REQUIRED | TR_CMAP_RANGE,
     offsetof(struct kin_cfg, c.brokers), "list of \"host:port\" bootstrap brokers"), .lo = 1, .hi = 1024},
    {TR_CMAP_KEY(TR_CMAP_STR_LIST, "topics", NULL, TR_CMAP_REQUIRED | TR_CMAP_RANGE,
     offsetof(struct kin_cfg, topics), "topics to subscribe to (\"^regex\" patterns allowed)"),
     .lo = 1, .hi = 4096},
    {TR_CMAP_KEY(TR_CMAP_STR, "group_id", NULL, TR_CMAP_REQUIRED, offsetof(struct kin_cfg, group_id),
     "consumer group")},
    {TR_CMAP_KEY(TR_CMAP_BOOL, "retry_failed_events", "true", 0,
     offsetof(struct kin_cfg, retry_failed_events), "a failed event seeks back and is read again")},
    {TR_CMAP_KEY(TR_CMAP_VALUE, "rdkafka_options", NULL, 0, offsetof(struct kin_cfg, c.rdkafka_options),
     "map of librdkafka properties (strings), applied last")},
    {TR_CMAP_KEY(TR_CMAP_U64, "commit_interval_ms", "100", TR_CMAP_RANGE,
     offsetof(struct kin_cfg, commit_interval_ms),
     "ms between offset commits of acknowledged records (tremor-c)"), .lo = 1, .hi = 3600000},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_in_flight", "65536", TR_CMAP_RANGE,
     offsetof(struct kin_cfg, max_in_flight),
     "records awaiting acks before the partitions are paused (tremor-c)"), .lo = 1, .hi = 16777216},
    {0},
};

/* A partition this member has seen. Never removed: ring entries index it. */
struct part {
    char *topic;
    int32_t partition;
    bool assigned;
    bool blocked;        /* scratch of flush(): a record still pending */
    int64_t committed;   /* next offset as last committed, -1: unknown */
    int64_t commit_to;   /* next offset the settled prefix allows, -1: none */
};

enum { REC_PENDING, REC_DONE, REC_DEAD };

/* One record handed to the runtime. */
struct rec {
    uint64_t lo;         /* its first event id */
    uint64_t nids;       /* ids it used (events and error events) */
    uint64_t ntx;        /* events that will be acked */
    uint64_t acked;
    int64_t offset;
    uint32_t part;
    uint8_t state;
};

struct kin {
    struct tr_onramp_host *host;
    char *id;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    struct tr_kafka_wake wake;
    uv_timer_t flush_timer;
    uv_timer_t pause_timer;   /* a trigger that lasts: pause the partitions */
    rd_kafka_topic_partition_list_t *topics;
    bool retry, auto_commit, tracked;
    uint64_t commit_ms, max_in_flight;
    struct part *parts;
    size_t nparts, parts_cap;
    struct tr_ring inflight;  /* struct rec, by event id */
    size_t pending;           /* of those, REC_PENDING: awaiting acks */
    bool triggered, full, paused, started, closing;
    bool pause_asked;   /* an emit said a trigger is on its way: poll nothing until it came */
    bool held_long;     /* triggered for PAUSE_AFTER_MS */
    int handles;
    uint64_t received, rejected, commit_errors;
    struct tr_log_limit lim;
    void (*done)(void *);
    void *done_arg;
};

/* ------------------------------------------------------------ partitions */

static int part_of(struct kin *k, const char *topic, int32_t partition, uint32_t *out) {
    for (size_t i = 0; i < k->nparts; i++)
        if (k->parts[i].partition == partition && strcmp(k->parts[i].topic, topic) == 0) {
            *out = (uint32_t)i;
            return 0;
        }
    if (k->nparts == k->parts_cap) {
        size_t nc = k->parts_cap ? k->parts_cap * 2 : 16;
        struct part *p = tr_realloc(k->parts, nc * sizeof *p);
        if (!p) return -ENOMEM;
        k->parts = p;
        k->parts_cap = nc;
    }
    struct part *p = &k->parts[k->nparts];
    memset(p, 0, sizeof *p);
    p->topic = tr_strdup(topic);
    if (!p->topic) return -ENOMEM;
    p->partition = partition;
    p->committed = p->commit_to = -1;
    *out = (uint32_t)k->nparts++;
    return 0;
}

static bool over_window(const struct kin *k) {
    return k->pending >= k->max_in_flight || tr_ring_len(&k->inflight) >= RING_OVER * k->max_in_flight;
}

/* Under the window again: half of max_in_flight awaiting acks, and a ring
 * a commit has shortened. */
static bool under_window(const struct kin *k) {
    return k->pending <= k->max_in_flight / 2 && tr_ring_len(&k->inflight) < RING_OVER * k->max_in_flight;
}

static void apply_pause(struct kin *k);

/* A record stops waiting for acks: settled (REC_DONE) or abandoned
 * (REC_DEAD). The partitions resume once enough did. */
static void unpend(struct kin *k, struct rec *r, uint8_t state) {
    if (r->state == REC_PENDING) k->pending--;
    r->state = state;
    if (k->full && under_window(k)) {
        k->full = false;
        apply_pause(k);
    }
}

/* Pause or resume what is assigned so it matches triggered/full. */
static void apply_pause(struct kin *k) {
    bool want = (k->triggered && k->held_long) || k->full;
    if (want == k->paused || !k->rk) return;
    rd_kafka_topic_partition_list_t *a = NULL;
    if (rd_kafka_assignment(k->rk, &a) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
    if (want) rd_kafka_pause_partitions(k->rk, a);
    else rd_kafka_resume_partitions(k->rk, a);
    rd_kafka_topic_partition_list_destroy(a);
    k->paused = want;
    TR_DEBUG(MOD, "%s: partitions %s", k->id, want ? "paused" : "resumed");
}

/* ------------------------------------------------------------ commits */

static void on_flush(uv_timer_t *t);

static void schedule_flush(struct kin *k) {
    if (!k->closing && !uv_is_active((uv_handle_t *)&k->flush_timer))
        uv_timer_start(&k->flush_timer, on_flush, k->commit_ms, 0);
}

/* Advance every partition's commit_to over its settled prefix and drop the
 * records no longer needed from the front of the ring. */
static void settle_prefix(struct kin *k) {
    struct rec *r;
    while ((r = tr_ring_peek(&k->inflight)) && r->state != REC_PENDING) {
        struct part *p = &k->parts[r->part];
        if (r->state == REC_DONE && p->assigned && r->offset + 1 > p->commit_to) p->commit_to = r->offset + 1;
        tr_ring_pop(&k->inflight, NULL);
    }
    size_t n = tr_ring_len(&k->inflight), blocked = 0;
    if (n == 0) return;
    for (size_t i = 0; i < k->nparts; i++) k->parts[i].blocked = false;
    for (size_t i = 0; i < n && blocked < k->nparts; i++) {
        r = tr_ring_at(&k->inflight, i);
        struct part *p = &k->parts[r->part];
        if (p->blocked || r->state == REC_DEAD) continue;
        if (r->state == REC_PENDING) {
            p->blocked = true;
            blocked++;
        } else if (p->assigned && r->offset + 1 > p->commit_to) {
            p->commit_to = r->offset + 1;
        }
    }
}

/* Commit what settled since the last commit: async from the timer,
 * sync before a revoke or close. */
static void commit(struct kin *k, bool sync) {
    if (!k->rk || k->auto_commit) return;
    settle_prefix(k);
    rd_kafka_topic_partition_list_t *l = NULL;
    for (size_t i = 0; i < k->nparts; i++) {
        struct part *p = &k->parts[i];
        if (!p->assigned || p->commit_to < 0 || p->commit_to <= p->committed) continue;
        if (!l) l = rd_kafka_topic_partition_list_new(4);
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->commit_to;
        p->committed = p->commit_to;
    }
    if (k->full && under_window(k)) {
        k->full = false;
        apply_pause(k);
    }
    if (!l) return;
    rd_kafka_resp_err_t e = rd_kafka_commit(k->rk, l, sync ? 0 : 1);
    if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        k->commit_errors++;
        tr_log_limited(&k->lim, TR_LOG_WARN, MOD, "%s: cannot commit offsets: %s", k->id,
                       rd_kafka_err2str(e));
        for (int i = 0; i < l->cnt; i++) {
            uint32_t pi;
            if (part_of(k, l->elems[i].topic, l->elems[i].partition, &pi) == 0) k->parts[pi].committed = -1;
        }
        schedule_flush(k);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static void on_flush(uv_timer_t *t) { commit(t->data, false); }

/* librdkafka's answer to an asynchronous commit (served on the loop). */
static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *offs,
                      void *opaque) {
    (void)rk;
    struct kin *k = opaque;
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
    /* forget what we believed committed, so the next flush sends it again */
    int failed = 0;
    for (int i = 0; offs && i < offs->cnt; i++) {
        rd_kafka_resp_err_t e = err ? err : offs->elems[i].err;
        uint32_t pi;
        if (!e) continue;
        failed++;
        if (!err) err = e;
        if (part_of(k, offs->elems[i].topic, offs->elems[i].partition, &pi) == 0) k->parts[pi].committed = -1;
    }
    if (!err) return;
    k->commit_errors++;
    tr_log_limited(&k->lim, TR_LOG_WARN, MOD, "%s: offset commit failed for %d partition(s): %s "
                   "(sent again)", k->id, failed, rd_kafka_err2str(err));
    schedule_flush(k);
}

/* ------------------------------------------------------------ rebalance */

static void abandon(struct kin *k, uint32_t pi) {
    for (size_t i = 0; i < tr_ring_len(&k->inflight); i++) {
        struct rec *r = tr_ring_at(&k->inflight, i);
        if (r->part == pi) unpend(k, r, REC_DEAD);
    }
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *ps,
                         void *opaque) {
    struct kin *k = opaque;
    bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < ps->cnt; i++) {
            uint32_t pi;
            if (part_of(k, ps->elems[i].topic, ps->elems[i].partition, &pi) == 0) {
                k->parts[pi].assigned = true;
                k->parts[pi].committed = k->parts[pi].commit_to = -1;
            }
        }
        rd_kafka_error_t *e = NULL;
        if (coop) e = rd_kafka_incremental_assign(rk, ps);
        else rd_kafka_assign(rk, ps);
        if (e) {
            TR_WARN(MOD, "%s: cannot take assigned partitions: %s", k->id, rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
        if (k->paused) rd_kafka_pause_partitions(rk, ps);
        TR_INFO(MOD, "%s: %d partition(s) assigned", k->id, ps->cnt);
        return;
    }
    /* revoked (or an error, which means the same): settle, commit, let go */
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !rd_kafka_assignment_lost(rk)) commit(k, true);
    for (int i = 0; i < ps->cnt; i++) {
        uint32_t pi;
        if (part_of(k, ps->elems[i].topic, ps->elems[i].partition, &pi) == 0) {
            k->parts[pi].assigned = false;
            abandon(k, pi);
        }
    }
    if (coop) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, ps);
        if (e) rd_kafka_error_destroy(e);
    } else {
        rd_kafka_assign(rk, NULL);
    }
    TR_INFO(MOD, "%s: %d partition(s) revoked%s", k->id, ps->cnt,
            err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS ? "" : " after a rebalance error");
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)rk;
    struct kin *k = opaque;
    tr_log_limited(&k->lim, TR_LOG_WARN, MOD, "%s: %s: %s", k->id,
                   rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* ------------------------------------------------------------ records */

/* $kafka {key, headers, topic, offset, partition, timestamp}, 0.11's order. */
static int make_meta(const rd_kafka_message_t *m, tr_value *out) {
    tr_value meta, kf, x;
    *out = tr_v_null();
    if (tr_v_rec(1, &meta)) return -ENOMEM;
    if (tr_v_rec(6, &kf)) goto nomem;
    if (m->key) {
        if (tr_v_bin(m->key, m->key_len, &x) || tr_rec_set(&kf, "key", 3, x)) goto nomem2;
    }
    rd_kafka_headers_t *hs = NULL;
    if (rd_kafka_message_headers(m, &hs) == RD_KAFKA_RESP_ERR_NO_ERROR && hs) {
        tr_value h;
        if (tr_v_rec(rd_kafka_header_cnt(hs), &h)) goto nomem2;
        const char *name;
        const void *val;
        size_t vlen;
        for (size_t i = 0; rd_kafka_header_get_all(hs, i, &name, &val, &vlen) == RD_KAFKA_RESP_ERR_NO_ERROR; i++) {
            if (val) {
                if (tr_v_bin(val, vlen, &x)) x = tr_v_null();
            } else {
                x = tr_v_null();
            }
            tr_rec_set(&h, name, strlen(name), x);
        }
        if (tr_rec_set(&kf, "headers", 7, h)) goto nomem2;
    }
    const char *topic = rd_kafka_topic_name(m->rkt);
    if (tr_v_cstr(topic, &x) || tr_rec_set(&kf, "topic", 5, x)) goto nomem2;
    if (tr_rec_set(&kf, "offset", 6, tr_v_int(m->offset))) goto nomem2;
    if (tr_rec_set(&kf, "partition", 9, tr_v_int(m->partition))) goto nomem2;
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    if (tt != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && tr_rec_set(&kf, "timestamp", 9, tr_v_int(ts))) goto nomem2;
    if (tr_rec_set(&meta, "kafka", 5, kf)) goto nomem;
    *out = meta;
    return 0;
nomem2:
    tr_value_unref(kf);
nomem:
    tr_value_unref(meta);
    return -ENOMEM;
}

/* Read topic/partition again from offset (asynchronously). */
static void seek_to(struct kin *k, const char *topic, int32_t partition, int64_t offset) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
    rd_kafka_error_t *e = rd_kafka_seek_partitions(k->rk, l, 0);   /* 0: asynchronous */
    if (e) {
        tr_log_limited(&k->lim, TR_LOG_WARN, MOD, "%s: cannot seek %s/%" PRId32 " back to %" PRId64
                       ": %s", k->id, topic, partition, offset, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(l);
    TR_DEBUG(MOD, "%s: %s/%d seeks back to %lld", k->id, topic, (int)partition, (long long)offset);
}

/* Forget what was read from offset on and read it again. */
static void seek_back(struct kin *k, uint32_t pi, int64_t offset) {
    struct part *p = &k->parts[pi];
    for (size_t i = 0; i < tr_ring_len(&k->inflight); i++) {
        struct rec *r = tr_ring_at(&k->inflight, i);
        if (r->part == pi && r->offset >= offset) unpend(k, r, REC_DEAD);
    }
    /* unassigned: the next owner reads it from the committed offset */
    if (p->assigned) seek_to(k, p->topic, p->partition, offset);
}

/* Hand one record to the runtime. Returns TR_ONRAMP_PAUSED when the
 * runtime asks us to stop reading, else 0. */
static int take(struct kin *k, const rd_kafka_message_t *m) {
    k->received++;
    uint32_t pi;
    if (part_of(k, rd_kafka_topic_name(m->rkt), m->partition, &pi)) {
        /* out of memory: not taken, so read it again rather than lose it */
        seek_to(k, rd_kafka_topic_name(m->rkt), m->partition, m->offset);
        return 0;
    }
    struct rec r = {.offset = m->offset, .part = pi, .state = REC_PENDING};
    uint64_t id0 = 0, ev0 = 0, id1 = 0, ev1 = 0;
    int rc = 0;
    bool known = k->tracked;
    if (known) {
        id0 = tr_onramp_next_id(k->host);
        ev0 = tr_onramp_events(k->host);
    }
    if (!m->payload) {
        /* a tombstone has no value to decode: 0.11 skipped it with an error too */
        k->rejected++;
        tr_log_limited(&k->lim, TR_LOG_WARN, MOD, "%s: %s/%d offset %lld has no value: skipped", k->id,
                       rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset);
    } else {
        tr_value meta;
        if (make_meta(m, &meta)) {
            rc = -ENOMEM;
        } else {
            rc = tr_onramp_emit_bytes(k->host, 0, m->payload, m->len, meta);
            /* every record is a whole message: flush what a preprocessor holds */
            tr_onramp_stream_end(k->host, 0);
        }
    }
    if (!known) return rc == TR_ONRAMP_PAUSED ? rc : 0;
    id1 = tr_onramp_next_id(k->host);
    ev1 = tr_onramp_events(k->host);
    r.lo = id0;
    r.nids = id1 - id0;
    r.ntx = ev1 - ev0;
    if (rc < 0 && rc != TR_ETOOBIG && rc != TR_EFULL) {
        /* not taken (out of memory): read it again, or lose nothing by
         * refusing to commit past it */
        tr_log_limited(&k->lim, TR_LOG_WARN, MOD, "%s: cannot take %s/%d offset %lld: %s", k->id,
                       rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset,
                       tr_strerror(rc));
        seek_back(k, pi, m->offset);
        return 0;
    }
    if (rc < 0) {
        k->rejected++;
        tr_log_limited(&k->lim, TR_LOG_WARN, MOD, "%s: %s/%d offset %lld rejected: %s", k->id,
                       rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset,
                       tr_strerror(rc));
    }
    if (r.ntx == 0) r.state = REC_DONE;   /* nothing will answer: settled now */
    if (tr_ring_push(&k->inflight, &r)) {
        /* cannot track it: read it again rather than commit past it */
        seek_back(k, pi, m->offset);
        return 0;
    }
    if (r.state == REC_DONE) schedule_flush(k);
    else k->pending++;
    /* a long ring of settled records: commit them now, not at the timer
     * (once: paused, the ring stays as long until acks or the timer) */
    if (!k->full && tr_ring_len(&k->inflight) >= RING_OVER * k->max_in_flight) commit(k, false);
    if (over_window(k) && !k->full) {
        k->full = true;
        apply_pause(k);
    }
    return rc == TR_ONRAMP_PAUSED ? rc : 0;
}

/* Serve the consumer queue: records, rebalances, commits, errors, logs. */
static void serve(void *arg) {
    struct kin *k = arg;
    if (!k->rk || k->closing) return;
    /* Paused: what librdkafka still holds stays there. Polling on would
     * hand the pipeline records it cannot take (a WAL keeps a few thousand,
     * then fails the rest, and each fail seeks back and fetches again). */
    if (k->triggered || k->pause_asked) return;
    for (int n = 0; n < PER_TURN; n++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, 0);
        if (!m) return;
        int rc = 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* not an error */
        } else if (m->err) {
            tr_log_limited(&k->lim, TR_LOG_WARN, MOD, "%s: %s%s%s", k->id, rd_kafka_message_errstr(m),
                           m->rkt ? " on " : "", m->rkt ? rd_kafka_topic_name(m->rkt) : "");
        } else {
            rc = take(k, m);
        }
        rd_kafka_message_destroy(m);
        if (k->closing) return;
        if (rc == TR_ONRAMP_PAUSED) {
            /* the trigger is on its way; what is queued stays queued until
             * the restore (paused partitions fetch nothing more), which
             * wakes this again */
            k->pause_asked = true;
            return;
        }
    }
    tr_kafka_wake_again(&k->wake);
}

/* ------------------------------------------------------------ acks */

/* The record whose ids hold id, or NULL (committed, abandoned, not ours). */
static struct rec *rec_of(struct kin *k, uint64_t id) {
    size_t lo = 0, hi = tr_ring_len(&k->inflight);
    while (lo < hi) {   /* the last record with r->lo <= id */
        size_t mid = lo + (hi - lo) / 2;
        if (((struct rec *)tr_ring_at(&k->inflight, mid))->lo <= id) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return NULL;
    struct rec *r = tr_ring_at(&k->inflight, lo - 1);
    return id - r->lo < r->nids ? r : NULL;
}

static void kin_ack(void *self, uint64_t id) {
    struct kin *k = self;
    struct rec *r = rec_of(k, id);
    if (!r || r->state != REC_PENDING) return;
    if (++r->acked >= r->ntx) {
        unpend(k, r, REC_DONE);
        schedule_flush(k);
    }
}

/* An event built from several (a batch) acks every id min..max: each record
 * they cover counts the ids of it the range holds. */
static void kin_ack_range(void *self, uint64_t min, uint64_t max) {
    struct kin *k = self;
    if (min == max) {
        kin_ack(self, min);
        return;
    }
    size_t n = tr_ring_len(&k->inflight), lo = 0, hi = n;
    while (lo < hi) {   /* the first record that ends past min */
        size_t mid = lo + (hi - lo) / 2;
        struct rec *r = tr_ring_at(&k->inflight, mid);
        if (r->lo + r->nids <= min) lo = mid + 1;
        else hi = mid;
    }
    for (size_t i = lo; i < n; i++) {
        struct rec *r = tr_ring_at(&k->inflight, i);
        if (r->lo > max) break;
        if (r->state != REC_PENDING) continue;
        uint64_t a = r->lo > min ? r->lo : min;
        uint64_t b = r->lo + r->nids - 1 < max ? r->lo + r->nids - 1 : max;
        if (r->nids && a <= b) r->acked += b - a + 1;
        if (r->acked >= r->ntx) {
            unpend(k, r, REC_DONE);
            schedule_flush(k);
        }
    }
}

static void kin_fail(void *self, uint64_t id) {
    struct kin *k = self;
    struct rec *r = rec_of(k, id);
    if (!r || r->state != REC_PENDING) return;
    if (k->retry) {
        seek_back(k, r->part, r->offset);
    } else {
        unpend(k, r, REC_DONE);   /* 0.11: a later ack commits past it */
    }
    schedule_flush(k);
}

static void on_pause_timer(uv_timer_t *t);

static void kin_trigger(void *self) {
    struct kin *k = self;
    k->triggered = true;
    k->pause_asked = false;
    if (!k->closing) uv_timer_start(&k->pause_timer, on_pause_timer, PAUSE_AFTER_MS, 0);
}

static void on_pause_timer(uv_timer_t *t) {
    struct kin *k = t->data;
    if (!k->triggered) return;
    k->held_long = true;
    apply_pause(k);
}

static void kin_restore(void *self) {
    struct kin *k = self;
    k->triggered = false;
    k->pause_asked = false;
    k->held_long = false;
    if (!k->closing) uv_timer_stop(&k->pause_timer);
    apply_pause(k);
    if (k->rk && !k->closing) tr_kafka_wake_again(&k->wake);
}

/* ------------------------------------------------------------ life */

static void kin_free(struct kin *k) {
    for (size_t i = 0; i < k->nparts; i++) tr_free(k->parts[i].topic);
    tr_free(k->parts);
    tr_ring_fini(&k->inflight);
    if (k->topics) rd_kafka_topic_partition_list_destroy(k->topics);
    tr_free(k->id);
    tr_free(k);
}

static int kin_create(const struct tr_conn_spec *spec, struct tr_onramp_host *host, void **self,
                      struct tr_diag *d) {
    *self = NULL;
    struct kin_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_kafka_in_cmap, &c, d);
    if (rc) return rc;
    char cid[512], buf[64];
    tr_kafka_client_id(NULL, spec->id ? spec->id : "kafka", cid, sizeof cid);
    const char *ac = tr_kafka_option(&c.c, "enable.auto.commit", buf, sizeof buf);
    bool auto_commit = ac && strcmp(ac, "true") == 0;
    const char *defaults[] = {
        "group.id", c.group_id,
        "client.id", cid,
        "enable.partition.eof", "false",
        "session.timeout.ms", "6000",
        "enable.auto.commit", auto_commit ? "true" : "false",
        "enable.auto.offset.store", auto_commit ? "true" : "false",
        NULL,
    };
    rd_kafka_conf_t *conf;
    if ((rc = tr_kafka_conf(spec, &c.c, defaults, &conf, d))) return rc;
    struct kin *k = tr_calloc(1, sizeof *k);
    if (!k) {
        rd_kafka_conf_destroy(conf);
        return -ENOMEM;
    }
    k->host = host;
    k->id = tr_strdup(spec->id ? spec->id : "kafka");
    k->retry = c.retry_failed_events;
    k->auto_commit = auto_commit;
    /* auto commit: events are not transactional, nothing waits for acks */
    k->tracked = !auto_commit && host->ops->next_id && host->ops->events;
    if (auto_commit) host->transactional = false;
    k->commit_ms = c.commit_interval_ms;
    k->max_in_flight = c.max_in_flight;
    tr_ring_init(&k->inflight, sizeof(struct rec));
    k->topics = rd_kafka_topic_partition_list_new((int)tr_arr_len(c.topics));
    for (uint32_t i = 0; i < tr_arr_len(c.topics); i++)
        rd_kafka_topic_partition_list_add(k->topics, tr_arr_at(c.topics, i)->as.s->data,
                                          RD_KAFKA_PARTITION_UA);
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
    rd_kafka_conf_set_error_cb(conf, on_error);
    char errstr[512];
    k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);   /* takes conf */
    if (!k->id || !k->rk) {
        if (!k->rk) rc = tr_conn_cfg_fail(spec, "rdkafka_options", d, "make no consumer: %s", errstr);
        else rc = -ENOMEM;
        if (k->rk) rd_kafka_destroy(k->rk);
        kin_free(k);
        return rc;
    }
    /* one queue for everything librdkafka hands us, served by the loop */
    rd_kafka_poll_set_consumer(k->rk);
    rd_kafka_set_log_queue(k->rk, NULL);
    k->q = rd_kafka_queue_get_consumer(k->rk);
    uv_loop_t *loop = tr_onramp_loop(host);
    if ((rc = tr_kafka_wake_open(&k->wake, loop, k->q, serve, k))) {
        rd_kafka_queue_destroy(k->q);
        rd_kafka_destroy(k->rk);
        kin_free(k);
        return rc;
    }
    uv_timer_init(loop, &k->flush_timer);
    k->flush_timer.data = k;
    uv_timer_init(loop, &k->pause_timer);
    k->pause_timer.data = k;
    k->handles = 2;
    *self = k;
    return 0;
}

static int kin_start(void *self) {
    struct kin *k = self;
    rd_kafka_resp_err_t e = rd_kafka_subscribe(k->rk, k->topics);
    if (e) {
        TR_ERROR(MOD, "%s: cannot subscribe: %s", k->id, rd_kafka_err2str(e));
        return TR_EINVAL_CFG;
    }
    k->started = true;
    TR_INFO(MOD, "%s: subscribed to %d topic(s)%s", k->id, k->topics->cnt,
            k->auto_commit ? " (auto commit: not transactional)" : "");
    return 0;
}

static void handle_gone(void *arg) {
    struct kin *k = arg;
    if (--k->handles > 0) return;
    void (*done)(void *) = k->done;
    void *darg = k->done_arg;
    kin_free(k);
    if (done) done(darg);
}

static void on_timer_closed(uv_handle_t *h) { handle_gone(h->data); }

static void kin_close(void *self, void (*done)(void *), void *arg) {
    struct kin *k = self;
    k->done = done;
    k->done_arg = arg;
    /* commit the settled prefix and leave the group (its revoke runs the
     * rebalance callback here, which commits once more); records in flight
     * are read again by whoever owns their partitions next */
    if (k->started) {
        commit(k, true);
        rd_kafka_consumer_close(k->rk);
    }
    k->closing = true;
    k->handles++;
    tr_kafka_wake_close(&k->wake, handle_gone, k);
    rd_kafka_queue_destroy(k->q);
    rd_kafka_destroy(k->rk);
    k->rk = NULL;
    uv_close((uv_handle_t *)&k->flush_timer, on_timer_closed);
    uv_close((uv_handle_t *)&k->pause_timer, on_timer_closed);
}

const struct tr_onramp_ops tr_kafka_onramp = {
    .type = "kafka",
    .transactional = true,
    .ids_at_emit = true,
    .create = kin_create,
    .start = kin_start,
    .trigger = kin_trigger,
    .restore = kin_restore,
    .ack = kin_ack,
    .ack_range = kin_ack_range,
    .fail = kin_fail,
    .close = kin_close,
};
