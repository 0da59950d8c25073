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

#include "codec/json.h"
#include "core/alloc.h"
#include "lang/query.h"
#include "ops/op.h"
#include "pipeline/pipeline.h"

struct sink {
    int n;
    int64_t ids[64];
    int types[64];
    char ports[64][8];
};

static void sink_fn(void *arg, struct tr_event *ev) {
    struct sink *s = arg;
    const tr_value *id = ev->value.type == TR_REC ? tr_rec_get_cstr(&ev->value, "id") : NULL;
    assert_true(s->n < 64);
    s->types[s->n] = ev->value.type;
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

/* push sends undecoded JSON text instead of a record (as the JSON codec
 * hands it to a pipeline whose first nodes read nothing) */
static int push_as_raw;

static void push(struct tr_pipeline *p, int64_t id, int64_t x) {
    tr_value v;
    if (push_as_raw) {
        char text[64];
        int n = snprintf(text, sizeof text, "{\"id\":%lld,\"x\":%lld}", (long long)id, (long long)x);
        assert_int_equal(tr_json_decode_lazy(text, (size_t)n, &v, NULL), 0);
        assert_int_equal(v.type, TR_RAWJSON);
    } else {
        assert_int_equal(tr_v_rec(2, &v), 0);
        assert_int_equal(tr_rec_set(&v, "id", 2, tr_v_int(id)), 0);
        assert_int_equal(tr_rec_set(&v, "x", 1, tr_v_int(x)), 0);
    }
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

/* Push n events (x = i % 10) through the pipeline of src, whose sink acks
 * each one as it arrives, ticking until want have come out (or a bound);
 * *got has what came out, *st the pipeline's stats. */
static void run_acked(const char *src, const char *dir, int n, int want, struct sink *got,
                      struct tr_pipeline_stats *st) {
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
    for (int64_t i = 0; i < n; i++) push(p, i, i % 10);
    for (int k = 0; k < 20000 && a.got.n < want; k++) {
        tr_pipeline_tick(p, 0);
        if (a.got.n < want) usleep(100);
    }
    *got = a.got;
    tr_pipeline_stats(p, st);
    tr_pipeline_destroy(p);
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
    /* every event but the filtered ones (x == 3) comes out, in order; with a
     * window of 4 that needs every filtered event to be settled, and the
     * first WAL to learn that the second one takes events */
    struct sink got;
    struct tr_pipeline_stats st;
    run_acked(src, dir, 20, 18, &got, &st);
    assert_int_equal(got.n, 18);
    for (int i = 0, want = 0; i < 18; i++, want++) {
        if (want % 10 == 3) want++;
        assert_int_equal(got.ids[i], want);
    }
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* Acks of a WAL's events queued back to back become one insight for the
 * run (the WAL takes ranges); the window of 4 goes on opening only if
 * every event of each run is acknowledged. Where another operator that
 * sees contraflow counts insights (qos::percentile), none are merged. */
static void acks_in_a_row_merge_into_runs(void **state) {
    (void)state;
    char dir[] = "/tmp/tr_pipe_XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct tr_pipeline_stats st;
    struct sink got;
    run_acked("define qos::wal operator w with read_count = 4, max_in_flight = 4, "
              "max_elements = 100 end;\n"
              "create operator w;\n"
              "select event from in into w;\nselect event from w into out;\n",
              dir, 40, 40, &got, &st);
    assert_int_equal(got.n, 40);
    for (int i = 0; i < 40; i++) assert_int_equal(got.ids[i], i);
    assert_true(st.acks_merged >= 20);   /* 4 acks per tick: 3 of them join the first */
    char cmd[80];
    snprintf(cmd, sizeof cmd, "rm -rf %s/*", dir);
    assert_int_equal(system(cmd), 0);
    run_acked("define qos::wal operator w with read_count = 4, max_in_flight = 4, "
              "max_elements = 100 end;\n"
              "define qos::percentile operator pc with timeout = 1000000 end;\n"
              "create operator w;\ncreate operator pc;\n"
              "select event from in into w;\nselect event from w into pc;\n"
              "select event from pc into out;\n",
              dir, 40, 40, &got, &st);
    assert_int_equal(got.n, 40);
    for (int i = 0; i < 40; i++) assert_int_equal(got.ids[i], i);
    assert_int_equal(st.acks_merged, 0);
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

/* Without metrics an event skips the nodes that only pass it on (in,
 * streams, a plain `select event`) where they have one way out; a stream
 * with two ways out still copies it to both, and a filtering select still
 * runs. */
static void pass_only_nodes_are_skipped(void **state) {
    (void)state;
    struct tr_diag d;
    struct tr_pipeline_stats st;
    struct tr_pipeline *p = build("select event from in into out;\n", &d);
    assert_non_null(p);
    struct sink out = {0};
    assert_int_equal(tr_pipeline_connect_output(p, "out", sink_fn, &out), 0);
    push(p, 1, 1);
    tr_pipeline_stats(p, &st);
    assert_int_equal(out.n, 1);
    assert_int_equal(st.hops, 2);   /* in, out: the select is skipped */
    tr_pipeline_destroy(p);

    p = build("create stream a;\ncreate stream b;\n"
              "select event from in into a;\nselect event from a into b;\n"
              "select event from b into out;\nselect event from b where event.x > 1 into out;\n",
              &d);
    assert_non_null(p);
    memset(&out, 0, sizeof out);
    assert_int_equal(tr_pipeline_connect_output(p, "out", sink_fn, &out), 0);
    push(p, 1, 1);
    push(p, 2, 2);
    tr_pipeline_stats(p, &st);
    assert_int_equal(out.n, 3);
    assert_int_equal(out.ids[0], 1);
    assert_int_equal(out.ids[1], 2);
    assert_int_equal(out.ids[2], 2);
    /* per event: in, b (two ways out), out, the filtering select, and out
     * once more for the event it passes */
    assert_int_equal(st.hops, 4 + 5);
    tr_pipeline_destroy(p);

    /* in straight to an output node: the port of `into out/<port>`, or the
     * node's own name, decides which outputs get the event */
    static const char *const queries[] = {
        "select event from in into out/foo;\n",
        "create stream s;\nselect event from in into s;\nselect event from s into err;\n",
        "select event from in into out;\n",
    };
    static const int want[][3] = {{0, 1, 0}, {0, 0, 1}, {1, 0, 0}};   /* out, foo, err */
    for (size_t k = 0; k < 3; k++) {
        p = build(queries[k], &d);
        assert_non_null(p);
        struct sink o = {0}, foo = {0}, err = {0};
        assert_int_equal(tr_pipeline_connect_output(p, "out", sink_fn, &o), 0);
        assert_int_equal(tr_pipeline_connect_output(p, "foo", sink_fn, &foo), 0);
        assert_int_equal(tr_pipeline_connect_output(p, "err", sink_fn, &err), 0);
        push(p, 1, 1);
        tr_pipeline_stats(p, &st);
        assert_int_equal(o.n, want[k][0]);
        assert_int_equal(foo.n, want[k][1]);
        assert_int_equal(err.n, want[k][2]);
        assert_int_equal(st.hops, 2);
        assert_int_equal(st.events_out, 1);
        tr_pipeline_destroy(p);
    }
}

/* Ports are matched by a code for in/out/err and by name for the rest:
 * names that start like those three are other ports. */
/* Undecoded JSON (TR_RAWJSON) passes the nodes that never read values and
 * is decoded before the first one that does; a pipeline says whether its
 * first nodes read them (tr_pipeline_takes_raw). Text that does not
 * decode there is an error, counted, and the event is settled. */
/* One undecoded JSON event into p comes out of `out` undecoded; p is
 * destroyed. */
static void raw_in_raw_out(struct tr_pipeline *p) {
    struct sink out = {0};
    assert_int_equal(tr_pipeline_connect_output(p, "out", sink_fn, &out), 0);
    push_as_raw = 1;
    push(p, 1, 2);
    push_as_raw = 0;
    assert_int_equal(out.n, 1);
    assert_int_equal(out.types[0], TR_RAWJSON);
    tr_pipeline_destroy(p);
}

/* The qos operators that steer by ids, ingest time and answers keep the
 * text undecoded, as a plain select does. */
static void qos_operators_pass_raw_json(void **state) {
    (void)state;
    static const char *kinds[][2] = {{"qos::backpressure", "timeout = 100"},
                                     {"qos::percentile", "timeout = 100"},
                                     {"qos::roundrobin", "outputs = [\"out\"]"}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        char src[256];
        snprintf(src, sizeof src, "define %s operator o with %s end;\ncreate operator o;\n"
                 "select event from in into o;\nselect event from o into out;\n", kinds[k][0], kinds[k][1]);
        struct tr_diag d;
        struct tr_pipeline *p = build(src, &d);
        if (!p) fail_msg("%s: %s", kinds[k][0], d.msg);
        if (!tr_pipeline_takes_raw(p)) fail_msg("%s: the pipeline does not take raw text", kinds[k][0]);
        raw_in_raw_out(p);
    }
}

static void raw_json_is_decoded_where_read(void **state) {
    (void)state;
    struct tr_diag d;
    struct tr_pipeline_stats st;
    struct sink out = {0};
    struct tr_pipeline *p = build("select event from in into out;\n", &d);
    assert_non_null(p);
    assert_true(tr_pipeline_takes_raw(p));
    raw_in_raw_out(p);

    p = build("select event from in where event.x > 1 into out;\n", &d);
    assert_non_null(p);
    assert_false(tr_pipeline_takes_raw(p));
    tr_pipeline_destroy(p);

    /* through a WAL (which stores the text) to a select that reads it */
    char dir[] = "/tmp/tr_pipe_XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *src = "define qos::wal operator w with read_count = 4, max_elements = 100 end;\n"
                      "create operator w;\nselect event from in into w;\n"
                      "select event from w where event.x != 3 into out;\n";
    p = build(src, &d);
    assert_non_null(p);
    assert_true(tr_pipeline_takes_raw(p));
    tr_pipeline_destroy(p);
    push_as_raw = 1;
    run_acked(src, dir, 20, 18, &out, &st);
    assert_int_equal(out.n, 18);
    for (int i = 0, want = 0; i < 18; i++, want++) {
        if (want % 10 == 3) want++;
        assert_int_equal(out.ids[i], want);
        assert_int_equal(out.types[i], TR_REC);
    }
    /* and out of it as it went in */
    char dir2[] = "/tmp/tr_pipe_XXXXXX";
    assert_non_null(mkdtemp(dir2));
    run_acked("define qos::wal operator w with read_count = 4, max_elements = 100 end;\n"
              "create operator w;\nselect event from in into w;\nselect event from w into out;\n",
              dir2, 6, 6, &out, &st);
    push_as_raw = 0;
    assert_int_equal(out.n, 6);
    for (int i = 0; i < 6; i++) assert_int_equal(out.types[i], TR_RAWJSON);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, dir2);
    assert_int_equal(system(cmd), 0);

    /* damaged text: the select cannot read it (a stream is passed over:
     * the select is the first node, so the pipeline does not ask for raw
     * text, and decodes what it gets anyway) */
    p = build("create stream s;\nselect event from in into s;\n"
              "select event from s where event.x > 1 into out;\n", &d);
    assert_non_null(p);
    assert_false(tr_pipeline_takes_raw(p));
    memset(&out, 0, sizeof out);
    assert_int_equal(tr_pipeline_connect_output(p, "out", sink_fn, &out), 0);
    struct input in = {0};
    assert_int_equal(tr_pipeline_connect_input(p, true, input_fn, &in), 0);
    tr_value v = {.type = TR_RAWJSON};
    v.as.s = tr_str_new("{\"id\":", 6);
    assert_non_null(v.as.s);
    struct tr_event ev;
    assert_int_equal(tr_event_init(&ev, v, tr_v_null(), 1), 0);
    tr_ids_init(&ev.ids, 1, 0, 8);
    ev.transactional = true;
    assert_int_equal(tr_pipeline_push(p, "in", &ev), 0);
    tr_pipeline_stats(p, &st);
    assert_int_equal(st.errors, 1);
    assert_int_equal(out.n, 0);
    assert_int_equal(in.acks, 1);           /* settled: nothing waits for it */
    assert_int_equal(in.last_event, 8);
    tr_pipeline_destroy(p);
}

static void ports_named_like_builtins_are_other_ports(void **state) {
    (void)state;
    struct tr_diag d;
    struct tr_pipeline *p = build("select event from in into out/outer;\n"
                                  "select event from in into out/ou;\n"
                                  "select event from in into out/errs;\n"
                                  "select event from in into out;\n",
                                  &d);
    assert_non_null(p);
    struct sink out = {0}, outer = {0}, ou = {0}, errs = {0}, err = {0}, in = {0};
    assert_int_equal(tr_pipeline_connect_output(p, "out", sink_fn, &out), 0);
    assert_int_equal(tr_pipeline_connect_output(p, "outer", sink_fn, &outer), 0);
    assert_int_equal(tr_pipeline_connect_output(p, "ou", sink_fn, &ou), 0);
    assert_int_equal(tr_pipeline_connect_output(p, "errs", sink_fn, &errs), 0);
    assert_int_equal(tr_pipeline_connect_output(p, "err", sink_fn, &err), 0);
    assert_int_equal(tr_pipeline_connect_output(p, "in", sink_fn, &in), 0);
    push(p, 1, 1);
    assert_int_equal(out.n, 1);
    assert_int_equal(outer.n, 1);
    assert_int_equal(ou.n, 1);
    assert_int_equal(errs.n, 1);
    assert_int_equal(err.n, 0);
    assert_int_equal(in.n, 0);
    tr_pipeline_destroy(p);
}

/* Tremor 0.11 (tremor-pipeline query.rs BUILTIN_NODES) has a fourth
 * builtin node, `metrics`, an output: what a select writes into it leaves
 * the pipeline through the output port `metrics`, not `out`. */
static void metrics_is_a_builtin_output(void **state) {
    (void)state;
    struct tr_diag d;
    struct tr_pipeline *p = build("select event from in into metrics;\n", &d);
    assert_non_null(p);
    struct sink out = {0}, metrics = {0};
    assert_int_equal(tr_pipeline_connect_output(p, "out", sink_fn, &out), 0);
    assert_int_equal(tr_pipeline_connect_output(p, "metrics", sink_fn, &metrics), 0);
    push(p, 1, 1);
    assert_int_equal(metrics.n, 1);
    assert_int_equal(metrics.ids[0], 1);
    assert_int_equal(out.n, 0);
    tr_pipeline_destroy(p);
}

struct msink {
    int n;
    char rows[16][96];   /* "node direction port count timestamp measurement pipeline" */
};

static const char *str_at(const tr_value *rec, const char *k) {
    const tr_value *v = rec ? tr_rec_get_cstr(rec, k) : NULL;
    return v && v->type == TR_STR ? v->as.s->data : "?";
}

static void msink_fn(void *arg, struct tr_event *ev) {
    struct msink *m = arg;
    assert_true(m->n < 16);
    const tr_value *tags = tr_rec_get_cstr(&ev->value, "tags");
    const tr_value *fields = tr_rec_get_cstr(&ev->value, "fields");
    const tr_value *cnt = fields ? tr_rec_get_cstr(fields, "count") : NULL;
    const tr_value *ts = tr_rec_get_cstr(&ev->value, "timestamp");
    snprintf(m->rows[m->n++], sizeof m->rows[0], "%s %s %s %lld %lld %s %s", str_at(tags, "node"),
             str_at(tags, "direction"), str_at(tags, "port"),
             cnt && cnt->type == TR_I64 ? (long long)cnt->as.i : -1LL,
             ts && ts->type == TR_I64 ? (long long)ts->as.i : -1LL,
             str_at(&ev->value, "measurement"), str_at(tags, "pipeline"));
    tr_event_fini(ev);
}

static void push_at(struct tr_pipeline *p, uint64_t ingest_ns) {
    struct tr_event ev;
    assert_int_equal(tr_event_init(&ev, tr_v_int(1), tr_v_null(), ingest_ns), 0);
    tr_ids_init(&ev.ids, 1, 0, 1);
    assert_int_equal(tr_pipeline_push(p, "in", &ev), 0);
}

/* 0.11's executable_graph.rs eg_metrics: with metrics_interval_s set, an
 * event arriving more than the interval after the last report first
 * reports, per node, the events in per input port and out per output port
 * (totals), as {measurement: "events", tags: {pipeline, node, direction,
 * port}, fields: {count}, timestamp} out of the metrics port; nodes that
 * saw nothing report nothing. */
static void node_metrics_leave_through_metrics(void **state) {
    (void)state;
    struct tr_diag d;
    struct tr_pipeline *p = build("#!config metrics_interval_s = 1\n"
                                  "select event from in into out;\n", &d);
    assert_non_null(p);
    struct sink out = {0};
    struct msink m = {0};
    assert_int_equal(tr_pipeline_connect_output(p, "out", sink_fn, &out), 0);
    assert_int_equal(tr_pipeline_connect_output(p, "metrics", msink_fn, &m), 0);
    push_at(p, 2000000000);          /* due, but nothing counted yet */
    assert_int_equal(m.n, 0);
    push_at(p, 2500000000);          /* not due: 0.5 s since the last report */
    assert_int_equal(m.n, 0);
    push_at(p, 4000000000);          /* due: the two events before it */
    assert_int_equal(out.n, 3);
    assert_int_equal(m.n, 4);
    assert_string_equal(m.rows[0], "in output out 2 4000000000 events <generated>");
    assert_string_equal(m.rows[1], "out input in 2 4000000000 events <generated>");
    assert_string_equal(m.rows[2], "select_0 input in 2 4000000000 events <generated>");
    assert_string_equal(m.rows[3], "select_0 output out 2 4000000000 events <generated>");
    tr_pipeline_destroy(p);
}

static const struct tr_op_ops *no_ops(const char *kind) {
    (void)kind;
    return NULL;
}
static const char *no_kinds(void) { return "(none)"; }

/* The operator registry is the host's to choose. */
static void operators_come_from_the_given_registry(void **state) {
    (void)state;
    struct tr_diag d;
    tr_diag_clear(&d);
    const char *src = "define generic::counter operator p;\ncreate operator p;\n"
                      "select event from in into p;\n";
    struct tr_query *q = NULL;
    assert_int_equal(tr_query_compile("t.trickle", src, strlen(src), &q, &d), 0);
    struct tr_pipeline_opts o = {.id = "t", .file = "t.trickle", .op_find = no_ops,
                                 .op_kinds = no_kinds};
    struct tr_pipeline *p = NULL;
    assert_int_equal(tr_pipeline_create(q, &o, &p, &d), TR_EINVAL_CFG);
    assert_null(p);
    assert_non_null(strstr(d.msg, "unknown operator kind 'generic::counter'"));
    assert_non_null(strstr(d.msg, "(known: (none))"));
}

/* Unlinked outputs and inputs get nothing more. */
static void outputs_and_inputs_disconnect(void **state) {
    (void)state;
    struct tr_diag d;
    struct tr_pipeline *p = build("select event from in into out;\n", &d);
    assert_non_null(p);
    struct sink a = {0}, b = {0};
    assert_int_equal(tr_pipeline_connect_output(p, "out", sink_fn, &a), 0);
    assert_int_equal(tr_pipeline_connect_output(p, "out", sink_fn, &b), 0);
    assert_int_equal(tr_pipeline_disconnect_output(p, sink_fn, &a), 0);
    assert_int_equal(tr_pipeline_disconnect_output(p, sink_fn, &a), TR_ENOTFOUND);
    push(p, 5, 1);
    assert_int_equal(a.n, 0);
    assert_int_equal(b.n, 1);
    struct input in = {0};
    assert_int_equal(tr_pipeline_connect_input(p, true, input_fn, &in), 0);
    assert_int_equal(tr_pipeline_disconnect_input(p, input_fn, &in), 0);
    struct tr_insight ins = {.cb = TR_CB_TRIGGER};
    tr_ids_init(&ins.ids, 0, 0, 0);
    tr_pipeline_contraflow(p, &ins);
    tr_ids_fini(&ins.ids);
    assert_int_equal(in.triggers, 0);
    tr_pipeline_destroy(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(selects_filter_and_fan_out),
        cmocka_unit_test(ports_named_like_builtins_are_other_ports),
        cmocka_unit_test(unknown_nodes_are_located_errors),
        cmocka_unit_test(contraflow_reaches_inputs_by_kind),
        cmocka_unit_test(dropped_transactional_events_are_settled),
        cmocka_unit_test(wals_in_series_and_filters_after_them_deliver),
        cmocka_unit_test(acks_in_a_row_merge_into_runs),
        cmocka_unit_test(a_loop_in_the_graph_is_stopped),
        cmocka_unit_test(pass_only_nodes_are_skipped),
        cmocka_unit_test(raw_json_is_decoded_where_read),
        cmocka_unit_test(qos_operators_pass_raw_json),
        cmocka_unit_test(metrics_is_a_builtin_output),
        cmocka_unit_test(node_metrics_leave_through_metrics),
        cmocka_unit_test(operators_come_from_the_given_registry),
        cmocka_unit_test(outputs_and_inputs_disconnect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
