/* test_pipeline.c - graph execution and contraflow of one query instance.
 *
 * Queries are compiled by the real language layer; outputs and inputs are
 * plain callbacks that record what reaches them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "lang/query.h"
#include "pipeline/pipeline.h"

struct sink {
    int n;
    int64_t ids[64];
    char ports[64][8];
};

static void sink_fn(void *arg, struct tr_event *ev) {
    struct sink *s = arg;
    const tr_value *id = ev->value.type == TR_REC ? tr_rec_get_cstr(&ev->value, "id") : NULL;
    assert_true(s->n < 64);
    s->ids[s->n++] = id && id->type == TR_I64 ? id->as.i : -1;
    tr_event_fini(ev);
}

struct input {
    int acks, fails, triggers, restores, releases;
    uint64_t last_event;
};

static void input_fn(void *arg, const struct tr_insight *in) {
    struct input *i = arg;
    switch (in->cb) {
    case TR_CB_ACK: i->acks++; break;
    case TR_CB_FAIL: i->fails++; break;
    case TR_CB_TRIGGER: i->triggers++; break;
    case TR_CB_RESTORE: i->restores++; break;
    case TR_CB_RELEASE: i->releases++; break;
    case TR_CB_NONE: break;
    }
    i->last_event = in->ids.id.event;
}

static struct tr_pipeline *build(const char *src, struct tr_diag *d) {
    struct tr_query *q = NULL;
    tr_diag_clear(d);
    int rc = tr_query_compile("t.trickle", src, strlen(src), &q, d);
    if (rc) return NULL;
    struct tr_pipeline_opts o = {.id = "t", .file = "t.trickle", .instance = "01"};
    struct tr_pipeline *p = NULL;
    rc = tr_pipeline_create(q, &o, &p, d);
    return rc ? NULL : p;
}

static void push(struct tr_pipeline *p, int64_t id, int64_t x) {
    tr_value v;
    assert_int_equal(tr_v_rec(2, &v), 0);
    assert_int_equal(tr_rec_set(&v, "id", 2, tr_v_int(id)), 0);
    assert_int_equal(tr_rec_set(&v, "x", 1, tr_v_int(x)), 0);
    struct tr_event ev;
    assert_int_equal(tr_event_init(&ev, v, tr_v_null(), 1), 0);
    tr_ids_init(&ev.ids, 1, 0, (uint64_t)id);
    assert_int_equal(tr_pipeline_push(p, "in", &ev), 0);
}

static void selects_filter_and_fan_out(void **state) {
    (void)state;
    struct tr_diag d;
    struct tr_pipeline *p = build(
        "create stream big;\n"
        "select event from in where event.x > 10 into big;\n"
        "select event from big into out;\n"
        "select event from in where event.x <= 10 into err;\n"
        "select event from big into out;\n", &d);
    assert_non_null(p);
    struct sink out = {0}, err = {0};
    assert_int_equal(tr_pipeline_connect_output(p, "out", sink_fn, &out), 0);
    assert_int_equal(tr_pipeline_connect_output(p, "err", sink_fn, &err), 0);
    push(p, 0, 5);
    push(p, 1, 50);
    push(p, 2, 7);
    push(p, 3, 70);
    /* big is read by two selects into out: every big event arrives twice */
    assert_int_equal(out.n, 4);
    assert_int_equal(out.ids[0], 1);
    assert_int_equal(out.ids[1], 1);
    assert_int_equal(out.ids[2], 3);
    assert_int_equal(err.n, 2);
    assert_int_equal(err.ids[0], 0);
    assert_int_equal(err.ids[1], 2);
    struct tr_pipeline_stats st;
    tr_pipeline_stats(p, &st);
    assert_int_equal(st.events_in, 4);
    assert_int_equal(st.events_out, 6);
    tr_pipeline_destroy(p);
}

static void unknown_nodes_are_located_errors(void **state) {
    (void)state;
    struct tr_diag d;
    assert_null(build("select event from in into nowhere;\n", &d));
    assert_non_null(strstr(d.msg, "nowhere"));
    assert_string_equal(d.file, "t.trickle");
    assert_int_equal(d.line, 1);
    assert_null(build("define foo::bar operator x;\ncreate operator x;\n", &d));
    assert_non_null(strstr(d.msg, "unknown operator kind 'foo::bar'"));
    assert_int_equal(d.line, 2);
}

static void contraflow_reaches_inputs_by_kind(void **state) {
    (void)state;
    struct tr_diag d;
    struct tr_pipeline *p = build("select event from in into out;\n", &d);
    assert_non_null(p);
    struct input tx = {0}, plain = {0};
    assert_int_equal(tr_pipeline_connect_input(p, true, input_fn, &tx), 0);
    assert_int_equal(tr_pipeline_connect_input(p, false, input_fn, &plain), 0);
    struct tr_insight in;
    tr_insight_init(&in, TR_CB_ACK);
    in.ids.id.source = 1;
    in.ids.id.event = 42;
    tr_pipeline_contraflow(p, &in);
    in.cb = TR_CB_FAIL;
    tr_pipeline_contraflow(p, &in);
    in.cb = TR_CB_TRIGGER;
    tr_pipeline_contraflow(p, &in);
    in.cb = TR_CB_RESTORE;
    tr_pipeline_contraflow(p, &in);
    tr_insight_fini(&in);
    /* acks and fails only to transactional inputs; breaker signals to all */
    assert_int_equal(tx.acks, 1);
    assert_int_equal(tx.fails, 1);
    assert_int_equal(tx.last_event, 42);
    assert_int_equal(plain.acks, 0);
    assert_int_equal(plain.fails, 0);
    assert_int_equal(tx.triggers, 1);
    assert_int_equal(plain.triggers, 1);
    assert_int_equal(tx.restores, 1);
    assert_int_equal(plain.restores, 1);
    tr_pipeline_destroy(p);
}

static void dropped_transactional_events_are_settled(void **state) {
    (void)state;
    struct tr_diag d;
    struct tr_pipeline *p = build(
        "select event from in where event.x > 10 and event.x < 90 into out;\n"
        "select event from in where event.x == 99 into err;\n", &d);
    assert_non_null(p);
    struct sink out = {0};
    assert_int_equal(tr_pipeline_connect_output(p, "out", sink_fn, &out), 0);
    struct input tx = {0};
    assert_int_equal(tr_pipeline_connect_input(p, true, input_fn, &tx), 0);
    for (int64_t i = 0; i < 3; i++) {
        tr_value v;
        assert_int_equal(tr_v_rec(2, &v), 0);
        assert_int_equal(tr_rec_set(&v, "id", 2, tr_v_int(i)), 0);
        assert_int_equal(tr_rec_set(&v, "x", 1, tr_v_int(i == 1 ? 50 : i == 2 ? 99 : 1)), 0);
        struct tr_event ev;
        assert_int_equal(tr_event_init(&ev, v, tr_v_null(), 1), 0);
        tr_ids_init(&ev.ids, 1, 0, (uint64_t)i);
        ev.transactional = true;
        assert_int_equal(tr_pipeline_push(p, "in", &ev), 0);
    }
    /* event 1 reaches out (its ack is the sink's business); event 0 is
     * filtered by both selects and event 2 goes to err, where nothing
     * listens: each is acknowledged as settled, once per copy that ended */
    assert_int_equal(out.n, 1);
    assert_int_equal(out.ids[0], 1);
    /* 0: filtered by both selects (2); 1: filtered by the second (1);
     * 2: filtered by the first, and unheard on err (2) */
    assert_int_equal(tx.acks, 5);
    assert_int_equal(tx.fails, 0);
    tr_pipeline_destroy(p);
}

/* An offramp-like sink that acknowledges what it receives, as stdout does. */
struct acking {
    struct tr_pipeline *p;
    struct sink got;
};

static void acking_fn(void *arg, struct tr_event *ev) {
    struct acking *a = arg;
    if (ev->transactional) {
        struct tr_insight in = {.cb = TR_CB_ACK, .ids = ev->ids};
        tr_pipeline_contraflow(a->p, &in);
    }
    sink_fn(&a->got, ev);
}

static void wals_in_series_and_filters_after_them_deliver(void **state) {
    (void)state;
    char dir[] = "/tmp/tr_pipe_XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *src =
        "define qos::wal operator w1 with read_count = 4, max_elements = 100 end;\n"
        "define qos::wal operator w2 with read_count = 4, max_elements = 100 end;\n"
        "create operator w1; create operator w2;\n"
        "select event from in into w1;\n"
        "select event from w1 into w2;\n"
        "select event from w2 where event.x != 3 into out;\n";
    struct tr_query *q = NULL;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_query_compile("t.trickle", src, strlen(src), &q, &d), 0);
    struct tr_pipeline_opts o = {.id = "t", .file = "t.trickle", .instance = "01", .data_dir = dir};
    struct tr_pipeline *p = NULL;
    assert_int_equal(tr_pipeline_create(q, &o, &p, &d), 0);
    struct acking a = {p, {0}};
    assert_int_equal(tr_pipeline_connect_output(p, "out", acking_fn, &a), 0);
    struct tr_insight ready = {.cb = TR_CB_RESTORE};
    tr_ids_init(&ready.ids, 0, 0, 0);
    tr_pipeline_contraflow(p, &ready);   /* the sink is ready */
    for (int64_t i = 0; i < 20; i++) push(p, i, i % 10);
    /* every event but the filtered ones (x == 3) comes out, in order; with a
     * window of 4 that needs every filtered event to be settled, and the
     * first WAL to learn that the second one takes events */
    for (int k = 0; k < 20000 && a.got.n < 18; k++) {
        tr_pipeline_tick(p, 0);
        if (a.got.n < 18) usleep(100);
    }
    assert_int_equal(a.got.n, 18);
    for (int i = 0, want = 0; i < 18; i++, want++) {
        if (want % 10 == 3) want++;
        assert_int_equal(a.got.ids[i], want);
    }
    tr_pipeline_destroy(p);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void a_loop_in_the_graph_is_stopped(void **state) {
    (void)state;
    struct tr_diag d;
    struct tr_pipeline *p = build(
        "create stream a;\ncreate stream b;\n"
        "select event from in into a;\n"
        "select event from a into b;\n"
        "select event from b into a;\n", &d);
    assert_non_null(p);
    push(p, 0, 1);   /* must return, not overflow the stack */
    struct tr_pipeline_stats st;
    tr_pipeline_stats(p, &st);
    assert_true(st.errors >= 1);
    tr_pipeline_destroy(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(selects_filter_and_fan_out),
        cmocka_unit_test(unknown_nodes_are_located_errors),
        cmocka_unit_test(contraflow_reaches_inputs_by_kind),
        cmocka_unit_test(dropped_transactional_events_are_settled),
        cmocka_unit_test(wals_in_series_and_filters_after_them_deliver),
        cmocka_unit_test(a_loop_in_the_graph_is_stopped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
