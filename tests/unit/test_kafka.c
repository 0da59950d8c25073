/* test_kafka.c - the kafka onramp and offramp against librdkafka's mock
 * cluster in this process: offsets are committed only up to the contiguous
 * prefix of acknowledged records, a fail seeks back and the record comes
 * again, a breaker trigger pauses the partitions until the restore; the
 * offramp acks on delivery reports, fails a record for a partition that
 * does not exist and triggers the breaker when its local queue is full;
 * config errors name their key. */
#include "connectors/conn.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "fake_conn_host.h"

extern const struct tr_onramp_ops tr_kafka_onramp;
extern const struct tr_offramp_ops tr_kafka_offramp;

/* ------------------------------------------------------------ a cluster */

struct cluster {
    rd_kafka_t *rk;            /* owns the mock cluster */
    rd_kafka_mock_cluster_t *mc;
    const char *bootstrap;
};

static void cluster_open(struct cluster *c, const char *topic, int partitions) {
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    assert_non_null(c->rk);
    c->mc = rd_kafka_mock_cluster_new(c->rk, 3);
    assert_non_null(c->mc);
    c->bootstrap = rd_kafka_mock_cluster_bootstraps(c->mc);
    assert_int_equal(rd_kafka_mock_topic_create(c->mc, topic, partitions, 1), 0);
}

static void cluster_produce(struct cluster *c, const char *topic, int n) {
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", c->bootstrap, err, sizeof err);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    assert_non_null(p);
    for (int i = 0; i < n; i++) {
        char v[32];
        int len = snprintf(v, sizeof v, "{\"id\":%d}", i);
        assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                                           RD_KAFKA_V_VALUE(v, (size_t)len),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END), 0);
    }
    assert_int_equal(rd_kafka_flush(p, 10000), 0);
    rd_kafka_destroy(p);
}

static void cluster_close(struct cluster *c) {
    rd_kafka_mock_cluster_destroy(c->mc);
    rd_kafka_destroy(c->rk);
}

/* The offset group has committed for topic/0 (-1001: none). */
static int64_t committed(const char *bootstrap, const char *group, const char *topic) {
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", group, err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0);
    int64_t off = -2;
    if (rd_kafka_committed(rk, l, 5000) == 0) off = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return off;
}

/* ------------------------------------------------------------ onramp host */

#define MAXF 64

struct host {
    struct tr_onramp_host h;   /* first */
    uint64_t next_id, events;
    size_t n;
    int64_t offset[MAXF];      /* $kafka.offset of each event, by id */
    int64_t value[MAXF];       /* its "id" */
    size_t pause_at;           /* answer the emit that makes n this with TR_ONRAMP_PAUSED */
};

static int64_t h_emit_value(struct tr_onramp_host *h, tr_value v, tr_value m) {
    (void)h;
    tr_value_unref(v);
    tr_value_unref(m);
    return -1;
}

static int h_emit_bytes(struct tr_onramp_host *hh, uint64_t stream, const void *data, size_t len,
                        tr_value meta) {
    (void)stream;
    struct host *h = (struct host *)hh;
    const tr_value *k = tr_rec_get_cstr(&meta, "kafka");
    assert_non_null(k);
    const tr_value *o = tr_rec_get_cstr(k, "offset");
    assert_non_null(o);
    assert_non_null(tr_rec_get_cstr(k, "topic"));
    assert_non_null(tr_rec_get_cstr(k, "partition"));
    if (h->n < MAXF) {
        h->offset[h->n] = o->as.i;
        int id = -1;
        char buf[64];
        snprintf(buf, sizeof buf, "%.*s", (int)(len < 63 ? len : 63), (const char *)data);
        sscanf(buf, "{\"id\":%d}", &id);
        h->value[h->n] = id;
    }
    h->n++;
    h->next_id++;
    h->events++;
    tr_value_unref(meta);
    return h->pause_at && h->n == h->pause_at ? TR_ONRAMP_PAUSED : 0;
}

static void h_stream_end(struct tr_onramp_host *h, uint64_t s) { (void)h; (void)s; }
static void h_done(struct tr_onramp_host *h) { (void)h; }
static uint64_t h_next_id(struct tr_onramp_host *hh) { return ((struct host *)hh)->next_id; }
static uint64_t h_events(struct tr_onramp_host *hh) { return ((struct host *)hh)->events; }

static const struct tr_onramp_host_ops host_ops = {
    .emit_value = h_emit_value, .emit_bytes = h_emit_bytes, .stream_end = h_stream_end,
    .done = h_done, .shutdown = h_done, .next_id = h_next_id, .events = h_events,
};

struct wait_n {
    struct host *h;
    size_t n;
};

static bool got_n(void *arg) {
    struct wait_n *w = arg;
    return w->h->n >= w->n;
}

struct wait_commit {
    uv_loop_t *loop;
    const char *bootstrap;
    int64_t want;
    uint64_t next_check;
};

static bool commit_is(void *arg) {
    struct wait_commit *w = arg;
    if (uv_now(w->loop) < w->next_check) return false;
    w->next_check = uv_now(w->loop) + 100;
    return committed(w->bootstrap, "g", "t") == w->want;
}

static void set_options(struct fake_spec *sp) {
    tr_value o, x;
    assert_int_equal(tr_v_rec(3, &o), 0);
    assert_int_equal(tr_v_cstr("earliest", &x), 0);
    assert_int_equal(tr_rec_set(&o, "auto.offset.reset", 17, x), 0);
    assert_int_equal(tr_rec_set(&o, "session.timeout.ms", 18, tr_v_int(3000)), 0);
    /* heartbeats well inside the session, or a slow run loses the group */
    assert_int_equal(tr_rec_set(&o, "heartbeat.interval.ms", 21, tr_v_int(300)), 0);
    assert_int_equal(tr_rec_set(&sp->cfg, "rdkafka_options", 15, o), 0);
}

/* config.key = the comma-separated items as a list */
static void set_list(struct fake_spec *sp, const char *key, const char *items) {
    tr_value a, x;
    assert_int_equal(tr_v_arr(1, &a), 0);
    for (const char *p = items; *p;) {
        size_t n = strcspn(p, ",");
        assert_int_equal(tr_v_str(p, n, &x), 0);
        assert_int_equal(tr_arr_push(&a, x), 0);
        p += n;
        if (*p == ',') p++;
    }
    assert_int_equal(tr_rec_set(&sp->cfg, key, strlen(key), a), 0);
}

static void closed(void *arg) { *(bool *)arg = true; }

static void test_commits_contiguous_prefix_and_replays_fails(void **state) {
    (void)state;
    struct cluster c;
    cluster_open(&c, "t", 1);
    cluster_produce(&c, "t", 10);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct host h = {.h = {.ops = &host_ops, .loop = &loop}};
    struct fake_spec sp;
    fake_spec_init(&sp, "kafka", "k");
    set_list(&sp, "brokers", c.bootstrap);
    set_list(&sp, "topics", "t");
    fake_spec_str(&sp, "group_id", "g");
    fake_spec_int(&sp, "commit_interval_ms", 10);
    set_options(&sp);
    void *self = NULL;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_kafka_onramp.create(&sp.s, &h.h, &self, &d), 0);
    assert_int_equal(tr_kafka_onramp.start(self), 0);
    struct wait_n w = {&h, 10};
    assert_true(fake_run_until(&loop, got_n, &w));
    for (int i = 0; i < 10; i++) {
        assert_int_equal(h.offset[i], i);
        assert_int_equal(h.value[i], i);
    }
    /* acks for 0, 1, 2, 4, 5: the prefix ends before 3 */
    uint64_t acks[] = {0, 1, 2, 4, 5};
    for (size_t i = 0; i < 5; i++) tr_kafka_onramp.ack(self, acks[i]);
    struct wait_commit wc = {&loop, c.bootstrap, 3, 0};
    assert_true(fake_run_until(&loop, commit_is, &wc));
    /* 3 acked: the prefix runs through 5 */
    tr_kafka_onramp.ack(self, 3);
    wc.want = 6;
    wc.next_check = 0;
    assert_true(fake_run_until(&loop, commit_is, &wc));
    /* 7 acked, then 6 failed: the partition seeks back to 6, and 6.. come again */
    tr_kafka_onramp.ack(self, 7);
    (tr_kafka_onramp.fail)(self, 6);   /* parenthesised: cmocka defines fail() */
    w.n = 14;
    assert_true(fake_run_until(&loop, got_n, &w));
    assert_int_equal(h.offset[10], 6);
    assert_int_equal(h.value[10], 6);
    assert_int_equal(h.offset[13], 9);
    /* the old 7's ack does not count: one ack of a batch of the new ids
     * 10..13 settles them all */
    tr_kafka_onramp.ack_range(self, 10, 13);
    wc.want = 10;
    wc.next_check = 0;
    assert_true(fake_run_until(&loop, commit_is, &wc));
    bool done = false;
    tr_kafka_onramp.close(self, closed, &done);
    assert_true(fake_run_until(&loop, fake_flag_set, &done));
    fake_spec_fini(&sp);
    assert_int_equal(fake_drain_and_close(&loop), 0);
    cluster_close(&c);
}

struct until {
    uv_loop_t *loop;
    uint64_t at;
};

static bool time_is_up(void *arg) {
    struct until *u = arg;
    return uv_now(u->loop) >= u->at;
}

/* A kafka onramp on topic t of a one-partition cluster holding 10 records. */
struct onramp_run {
    struct cluster c;
    uv_loop_t loop;
    struct host h;
    struct fake_spec sp;
    void *self;
};

static void onramp_start(struct onramp_run *r, size_t pause_at) {
    cluster_open(&r->c, "t", 1);
    cluster_produce(&r->c, "t", 10);
    uv_loop_init(&r->loop);
    r->h = (struct host){.h = {.ops = &host_ops, .loop = &r->loop}, .pause_at = pause_at};
    fake_spec_init(&r->sp, "kafka", "k");
    set_list(&r->sp, "brokers", r->c.bootstrap);
    set_list(&r->sp, "topics", "t");
    fake_spec_str(&r->sp, "group_id", "g");
    set_options(&r->sp);
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_kafka_onramp.create(&r->sp.s, &r->h.h, &r->self, &d), 0);
    assert_int_equal(tr_kafka_onramp.start(r->self), 0);
}

static void onramp_stop(struct onramp_run *r) {
    bool done = false;
    tr_kafka_onramp.close(r->self, closed, &done);
    assert_true(fake_run_until(&r->loop, fake_flag_set, &done));
    fake_spec_fini(&r->sp);
    assert_int_equal(fake_drain_and_close(&r->loop), 0);
    cluster_close(&r->c);
}

/* Run the loop for ms (a bounded look for what must not happen). */
static void look(uv_loop_t *loop, uint64_t ms) {
    uv_update_time(loop);
    struct until u = {loop, uv_now(loop) + ms};
    assert_true(fake_run_until(loop, time_is_up, &u));
}

static void test_breaker_pauses_and_resumes_partitions(void **state) {
    (void)state;
    struct onramp_run r;
    onramp_start(&r, 0);
    struct wait_n w = {&r.h, 10};
    assert_true(fake_run_until(&r.loop, got_n, &w));
    /* triggered: what is produced now is not fetched (a bounded look: 1 s) */
    tr_kafka_onramp.trigger(r.self);
    cluster_produce(&r.c, "t", 10);
    look(&r.loop, 1000);
    assert_int_equal(r.h.n, 10);
    /* restored: it comes */
    tr_kafka_onramp.restore(r.self);
    w.n = 20;
    assert_true(fake_run_until(&r.loop, got_n, &w));
    assert_int_equal(r.h.offset[10], 10);
    assert_int_equal(r.h.offset[19], 19);
    onramp_stop(&r);
}

/* An emit answered TR_ONRAMP_PAUSED (a trigger is on its way): nothing more
 * is polled, in this turn or the next ones, until the trigger and the
 * restore have come; polling on would hand the pipeline records it cannot
 * take. */
static void test_paused_emit_stops_polling(void **state) {
    (void)state;
    struct onramp_run r;
    onramp_start(&r, 4);
    struct wait_n w = {&r.h, 4};
    assert_true(fake_run_until(&r.loop, got_n, &w));
    look(&r.loop, 300);   /* the other six stay in librdkafka's queue */
    assert_int_equal(r.h.n, 4);
    /* the trigger arrives and goes (shorter than the partition pause) */
    tr_kafka_onramp.trigger(r.self);
    tr_kafka_onramp.restore(r.self);
    w.n = 10;
    assert_true(fake_run_until(&r.loop, got_n, &w));
    for (int i = 0; i < 10; i++) assert_int_equal(r.h.offset[i], i);
    onramp_stop(&r);
}

/* ------------------------------------------------------------ offramp */

static bool answers_are(void *arg) {
    struct fake_out *o = arg;
    return o->nanswers >= 6;
}

static void test_offramp_acks_on_delivery_and_fails_bad_partition(void **state) {
    (void)state;
    struct cluster c;
    cluster_open(&c, "out", 2);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct fake_out out;
    fake_out_init(&out, &loop, 6);
    struct fake_spec sp;
    fake_spec_init(&sp, "kafka", "o");
    set_list(&sp, "brokers", c.bootstrap);
    fake_spec_str(&sp, "topic", "out");
    void *self = NULL;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_kafka_offramp.create(&sp.s, &out.h, &self, &d), 0);
    assert_int_equal(tr_kafka_offramp.start(self), 0);
    tr_value none = tr_v_null();
    for (uint64_t t = 0; t < 5; t++) {
        struct tr_out_msg m = {.token = t, .transactional = true, .data = "{}", .len = 2, .meta = &none};
        tr_kafka_offramp.send(self, &m);
    }
    /* $kafka.partition 7 of a 2-partition topic: the delivery report fails it */
    tr_value meta, k;
    assert_int_equal(tr_v_rec(1, &meta), 0);
    assert_int_equal(tr_v_rec(1, &k), 0);
    assert_int_equal(tr_rec_set(&k, "partition", 9, tr_v_int(7)), 0);
    assert_int_equal(tr_rec_set(&meta, "kafka", 5, k), 0);
    struct tr_out_msg m = {.token = 5, .transactional = true, .data = "{}", .len = 2, .meta = &meta};
    tr_kafka_offramp.send(self, &m);
    tr_value_unref(meta);
    assert_true(fake_run_until(&loop, answers_are, &out));
    assert_int_equal(out.nacks, 5);
    assert_int_equal(out.nfails, 1);
    assert_int_equal(out.failed[5], 1);
    assert_false(out.twice);
    bool done = false;
    tr_kafka_offramp.close(self, closed, &done);
    assert_true(fake_run_until(&loop, fake_flag_set, &done));
    fake_spec_fini(&sp);
    fake_out_fini(&out);
    assert_int_equal(fake_drain_and_close(&loop), 0);
    cluster_close(&c);
}

static bool all_answered_and_restored(void *arg) {
    struct fake_out *o = arg;
    return o->nanswers >= 20 && o->restores >= 1;
}

static void test_offramp_full_queue_triggers_instead_of_blocking(void **state) {
    (void)state;
    struct cluster c;
    cluster_open(&c, "out", 1);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct fake_out out;
    fake_out_init(&out, &loop, 20);
    struct fake_spec sp;
    fake_spec_init(&sp, "kafka", "o");
    set_list(&sp, "brokers", c.bootstrap);
    fake_spec_str(&sp, "topic", "out");
    tr_value o, x;
    assert_int_equal(tr_v_rec(1, &o), 0);
    assert_int_equal(tr_v_cstr("4", &x), 0);
    assert_int_equal(tr_rec_set(&o, "queue.buffering.max.messages", 28, x), 0);
    assert_int_equal(tr_rec_set(&sp.cfg, "rdkafka_options", 15, o), 0);
    void *self = NULL;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_kafka_offramp.create(&sp.s, &out.h, &self, &d), 0);
    assert_int_equal(tr_kafka_offramp.start(self), 0);
    tr_value none = tr_v_null();
    /* 20 sends in one turn into a queue of 4: the rest fail, the breaker
     * triggers once, and send() returned every time without waiting */
    for (uint64_t t = 0; t < 20; t++) {
        struct tr_out_msg m = {.token = t, .transactional = true, .data = "{}", .len = 2, .meta = &none};
        tr_kafka_offramp.send(self, &m);
    }
    assert_int_equal(out.triggers, 1);
    assert_false(tr_kafka_offramp.is_active(self));
    assert_true(fake_run_until(&loop, all_answered_and_restored, &out));
    assert_int_equal(out.nacks, 4);
    assert_int_equal(out.nfails, 16);
    assert_true(tr_kafka_offramp.is_active(self));
    assert_false(out.twice);
    bool done = false;
    tr_kafka_offramp.close(self, closed, &done);
    assert_true(fake_run_until(&loop, fake_flag_set, &done));
    fake_spec_fini(&sp);
    fake_out_fini(&out);
    assert_int_equal(fake_drain_and_close(&loop), 0);
    cluster_close(&c);
}

static void test_config_errors(void **state) {
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct fake_out out;
    fake_out_init(&out, &loop, 1);
    void *self = NULL;
    struct tr_diag d;
    struct fake_spec sp;
    fake_spec_init(&sp, "kafka", "o");
    fake_spec_str(&sp, "topic", "x");
    tr_diag_clear(&d);
    assert_int_equal(tr_kafka_offramp.create(&sp.s, &out.h, &self, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "brokers"));
    set_list(&sp, "brokers", "a:1:2");
    tr_diag_clear(&d);
    assert_int_equal(tr_kafka_offramp.create(&sp.s, &out.h, &self, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "config.brokers"));
    set_list(&sp, "brokers", "127.0.0.1:9");
    tr_value o, x;
    assert_int_equal(tr_v_rec(1, &o), 0);
    assert_int_equal(tr_v_cstr("yes", &x), 0);
    assert_int_equal(tr_rec_set(&o, "no.such.property", 16, x), 0);
    assert_int_equal(tr_rec_set(&sp.cfg, "rdkafka_options", 15, o), 0);
    tr_diag_clear(&d);
    assert_int_equal(tr_kafka_offramp.create(&sp.s, &out.h, &self, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "no.such.property"));
    fake_spec_fini(&sp);
    /* the onramp needs group_id */
    struct host h = {.h = {.ops = &host_ops, .loop = &loop}};
    fake_spec_init(&sp, "kafka", "k");
    set_list(&sp, "brokers", "127.0.0.1:9");
    set_list(&sp, "topics", "t");
    tr_diag_clear(&d);
    assert_int_equal(tr_kafka_onramp.create(&sp.s, &h.h, &self, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "group_id"));
    fake_spec_fini(&sp);
    fake_out_fini(&out);
    assert_int_equal(fake_drain_and_close(&loop), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commits_contiguous_prefix_and_replays_fails),
        cmocka_unit_test(test_breaker_pauses_and_resumes_partitions),
        cmocka_unit_test(test_paused_emit_stops_polling),
        cmocka_unit_test(test_offramp_acks_on_delivery_and_fails_bad_partition),
        cmocka_unit_test(test_offramp_full_queue_triggers_instead_of_blocking),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
