/* test_contraflow.c - contraflow never re-enters the forward path.
 *
 * The deferred queue (core/defer.h) on its own, then real pipelines on a
 * real loop sharing one queue, as the server runs them, with a sink that
 * answers inside its send (as an offramp that acks or fails at once does).
 * The sink counts how deep it is on the stack and every input checks that
 * no forward call is under it; each wait is a condition on the loop,
 * bounded by a deadline.
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
#include "core/defer.h"
#include "lang/query.h"
#include "pipeline/pipeline.h"

#define DEADLINE_MS 20000

/* ------------------------------------------------------ the queue alone */

struct rec {
    struct tr_defer_node node;   /* first */
    struct tr_defer *q;
    int *log;
    int *nlog;
    int id;
    int repost;                  /* post this many more times from its run */
};

static void rec_run(struct tr_defer_node *n) {
    struct rec *r = (struct rec *)n;
    r->log[(*r->nlog)++] = r->id;
    if (r->repost > 0) {
        r->repost--;
        tr_defer_post(r->q, &r->node);
    }
}

static void fifo_collapse_cancel_without_loop(void **state) {
    (void)state;
    struct tr_defer q;
    assert_int_equal(tr_defer_init(&q, NULL), 0);
    int log[16], n = 0;
    struct rec r[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct rec){.q = &q, .log = log, .nlog = &n, .id = i};
        tr_defer_node_init(&r[i].node, rec_run);
    }
    tr_defer_post(&q, &r[2].node);
    tr_defer_post(&q, &r[0].node);
    tr_defer_post(&q, &r[2].node);          /* already queued: collapses */
    tr_defer_post(&q, &r[1].node);
    tr_defer_post(&q, &r[3].node);
    tr_defer_cancel(&q, &r[1].node);
    assert_int_equal(n, 0);                 /* posting never runs anything */
    tr_defer_enter(&q);
    assert_int_equal(tr_defer_run(&q), 0);  /* not inside a forward call */
    tr_defer_leave(&q);
    assert_int_equal(tr_defer_run(&q), 3);
    assert_int_equal(n, 3);
    assert_int_equal(log[0], 2);
    assert_int_equal(log[1], 0);
    assert_int_equal(log[2], 3);
    assert_false(tr_defer_queued(&r[1].node));
    tr_defer_close(&q, NULL, NULL);
}

struct loop_rig {
    uv_loop_t loop;
    uv_timer_t deadline;
    int timed_out;
};

static void on_deadline(uv_timer_t *t) {
    struct loop_rig *l = t->data;
    l->timed_out = 1;
    uv_stop(&l->loop);
}

static void rig_init(struct loop_rig *l) {
    memset(l, 0, sizeof *l);
    assert_int_equal(uv_loop_init(&l->loop), 0);
    uv_timer_init(&l->loop, &l->deadline);
    l->deadline.data = l;
}

/* Run the loop one turn at a time until cond holds; the deadline only ever
 * fails the test. */
static void run_until(struct loop_rig *l, int (*cond)(void *), void *arg, const char *what) {
    uv_timer_start(&l->deadline, on_deadline, DEADLINE_MS, 0);
    while (!cond(arg) && !l->timed_out) uv_run(&l->loop, UV_RUN_ONCE);
    uv_timer_stop(&l->deadline);
    if (l->timed_out) fail_msg("timed out waiting for %s", what);
}

static void rig_fini(struct loop_rig *l) {
    uv_close((uv_handle_t *)&l->deadline, NULL);
    uv_run(&l->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&l->loop), 0);
}

struct spin {
    struct tr_defer_node node;
    struct tr_defer *q;
    uint64_t runs;
};

static void spin_run(struct tr_defer_node *n) {
    struct spin *s = (struct spin *)n;
    s->runs++;
    tr_defer_post(s->q, &s->node);          /* forever, as a sink acking at once could */
}

static void closed_flag(void *arg) { *(int *)arg = 1; }

static int log_has_3(void *arg) { return *(int *)arg >= 3; }

static int spun_twice(void *arg) {
    struct spin *s = arg;
    return s->runs > 2 * (TR_DEFER_SPILL + 1);
}

/* On a loop: nothing runs before the loop turns; a node that posts itself
 * again runs at most TR_DEFER_SPILL + 1 times per turn (others get their
 * turn too); post_later waits for the next turn. */
static void loop_drains_in_order_and_yields(void **state) {
    (void)state;
    struct loop_rig l;
    rig_init(&l);
    struct tr_defer q;
    assert_int_equal(tr_defer_init(&q, &l.loop), 0);
    int log[16], n = 0;
    struct rec a = {.q = &q, .log = log, .nlog = &n, .id = 7};
    struct rec b = {.q = &q, .log = log, .nlog = &n, .id = 8, .repost = 1};
    tr_defer_node_init(&a.node, rec_run);
    tr_defer_node_init(&b.node, rec_run);
    tr_defer_post_later(&q, &a.node);
    tr_defer_post(&q, &b.node);
    assert_int_equal(n, 0);
    uv_run(&l.loop, UV_RUN_NOWAIT);
    /* b ran, posted itself and ran again in the same drain; a waited */
    assert_int_equal(n, 2);
    assert_int_equal(log[0], 8);
    assert_int_equal(log[1], 8);
    run_until(&l, log_has_3, &n, "the later node");
    assert_int_equal(log[2], 7);

    struct spin s = {.q = &q};
    tr_defer_node_init(&s.node, spin_run);
    tr_defer_post(&q, &s.node);
    uv_run(&l.loop, UV_RUN_NOWAIT);
    assert_true(s.runs >= 1);
    assert_true(s.runs <= TR_DEFER_SPILL + 1);
    run_until(&l, spun_twice, &s, "more turns of a node that reposts itself");
    tr_defer_cancel(&q, &s.node);
    int closed = 0;
    tr_defer_close(&q, closed_flag, &closed);
    assert_int_equal(closed, 0);            /* from the handle's close callback */
    rig_fini(&l);
    assert_int_equal(closed, 1);
}

/* ------------------------------------------ pipelines on a loop */

#define N 300

/* A sink standing for an offramp whose send() answers at once. */
struct sink {
    struct tr_pipeline *p;
    struct tr_defer *q;
    int depth, max_depth;        /* sink calls on the stack */
    int n;
    int64_t ids[4 * N];
    int64_t fail_id;             /* fail this one, the first time only (-1: none) */
    int failed;
    int forward_seen_in_input;   /* a contraflow delivery found a forward call under it */
};

static int64_t event_id(const struct tr_event *ev) {
    const tr_value *id = ev->value.type == TR_REC ? tr_rec_get_cstr(&ev->value, "id") : NULL;
    return id && id->type == TR_I64 ? id->as.i : -1;
}

/* Loop turns, counted before each poll; a sink that is slow takes this
 * long per event and notes the most events one turn gave it. */
static uint64_t turn_no, turn_seen, turn_events, turn_max;
static uint64_t slow_ns;
static void count_turn(uv_prepare_t *h) {
    (void)h;
    turn_no++;
}

static void sink_fn(void *arg, struct tr_event *ev) {
    struct sink *s = arg;
    if (slow_ns) {
        uint64_t t0 = uv_hrtime();
        while (uv_hrtime() - t0 < slow_ns) {}
        if (turn_seen != turn_no) turn_events = 0;
        turn_seen = turn_no;
        if (++turn_events > turn_max) turn_max = turn_events;
    }
    s->depth++;
    if (s->depth > s->max_depth) s->max_depth = s->depth;
    int64_t id = event_id(ev);
    assert_true(s->n < 4 * N);
    s->ids[s->n++] = id;
    if (ev->transactional) {
        struct tr_insight in = {.cb = TR_CB_ACK, .ids = ev->ids};
        if (id == s->fail_id && !s->failed) {
            s->failed = 1;
            in.cb = TR_CB_FAIL;
        }
        tr_pipeline_contraflow(s->p, &in);   /* copied; delivered later */
    }
    tr_event_fini(ev);
    s->depth--;
}

/* A transactional source: what reaches it, in order. */
struct source {
    struct sink *sink;
    struct tr_defer *q;
    int acks, fails, restores, triggers;
    uint64_t last_ack;
    int order_broken;
    int during_forward;          /* delivered while a forward call was on the stack */
};

static void source_fn(void *arg, const struct tr_insight *in) {
    struct source *src = arg;
    if (tr_defer_forward(src->q) != 0 || src->sink->depth != 0) src->during_forward++;
    if (in->cb == TR_CB_ACK) {
        if (src->acks && in->ids.id.event <= src->last_ack) src->order_broken = 1;
        src->last_ack = in->ids.id.event;
        src->acks++;
    }
    if (in->cb == TR_CB_FAIL) src->fails++;
    if (in->cb == TR_CB_RESTORE) src->restores++;
    if (in->cb == TR_CB_TRIGGER) src->triggers++;
}

static struct tr_pipeline *build(const char *src, struct tr_defer *q, uv_loop_t *loop,
                                 const char *dir) {
    struct tr_query *qq = NULL;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_query_compile("t.trickle", src, strlen(src), &qq, &d), 0);
    struct tr_pipeline_opts o = {.id = "t", .file = "t.trickle", .instance = "01",
                                 .data_dir = dir, .loop = loop, .defer = q};
    struct tr_pipeline *p = NULL;
    assert_int_equal(tr_pipeline_create(qq, &o, &p, &d), 0);
    return p;
}

static void push(struct tr_pipeline *p, int64_t id) {
    tr_value v;
    assert_int_equal(tr_v_rec(1, &v), 0);
    assert_int_equal(tr_rec_set(&v, "id", 2, tr_v_int(id)), 0);
    struct tr_event ev;
    assert_int_equal(tr_event_init(&ev, v, tr_v_null(), 1), 0);
    tr_ids_init(&ev.ids, 1, 0, (uint64_t)id);
    ev.transactional = true;
    assert_int_equal(tr_pipeline_push(p, "in", &ev), 0);
}

static int source_has_n_acks(void *arg) { return ((struct source *)arg)->acks >= N; }

/* Without a WAL an ack goes straight to the source: before the queue it
 * reached the source inside the sink's send. Now it arrives from the loop,
 * after the send returned, in order. */
static void an_ack_inside_send_reaches_the_source_later(void **state) {
    (void)state;
    struct loop_rig l;
    rig_init(&l);
    struct tr_defer q;
    assert_int_equal(tr_defer_init(&q, &l.loop), 0);
    struct tr_pipeline *p = build("select event from in into out;\n", &q, &l.loop, NULL);
    struct sink s = {.p = p, .q = &q, .fail_id = -1};
    struct source src = {.sink = &s, .q = &q};
    assert_int_equal(tr_pipeline_connect_output(p, "out", sink_fn, &s), 0);
    assert_int_equal(tr_pipeline_connect_input(p, true, source_fn, &src), 0);
    for (int64_t i = 0; i < N; i++) {
        push(p, i);
        assert_int_equal(src.acks, 0);   /* expected 0 acks inside the push */
    }
    run_until(&l, source_has_n_acks, &src, "every ack at the source");
    assert_int_equal(src.acks, N);
    assert_int_equal(src.during_forward, 0);
    assert_int_equal(src.order_broken, 0);
    assert_int_equal(s.max_depth, 1);
    tr_pipeline_destroy(p);
    tr_defer_close(&q, NULL, NULL);
    rig_fini(&l);
}

struct wal_rig {
    struct loop_rig l;
    uv_timer_t tick;
    struct tr_defer q;
    struct tr_pipeline *p;
    struct sink s;
    struct source src;
    char dir[32];
};

static void on_tick(uv_timer_t *t) {
    struct wal_rig *r = t->data;
    tr_pipeline_tick(r->p, 0);
}

static void wal_rig_init(struct wal_rig *r, int read_count) {
    memset(r, 0, sizeof *r);
    rig_init(&r->l);
    snprintf(r->dir, sizeof r->dir, "/tmp/tr_cf_XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    assert_int_equal(tr_defer_init(&r->q, &r->l.loop), 0);
    char src[256];
    snprintf(src, sizeof src,
             "define qos::wal operator w with read_count = %d, max_elements = 100000 end;\n"
             "create operator w;\n"
             "select event from in into w;\n"
             "select event from w into out;\n", read_count);
    r->p = build(src, &r->q, &r->l.loop, r->dir);
    r->s = (struct sink){.p = r->p, .q = &r->q, .fail_id = -1};
    r->src = (struct source){.sink = &r->s, .q = &r->q};
    assert_int_equal(tr_pipeline_connect_output(r->p, "out", sink_fn, &r->s), 0);
    assert_int_equal(tr_pipeline_connect_input(r->p, true, source_fn, &r->src), 0);
    uv_timer_init(&r->l.loop, &r->tick);
    r->tick.data = r;
    uv_timer_start(&r->tick, on_tick, 10, 10);
    struct tr_insight ready = {.cb = TR_CB_RESTORE};
    tr_ids_init(&ready.ids, 0, 0, 0);
    tr_pipeline_contraflow(r->p, &ready);   /* the sink is ready */
}

static void wal_rig_fini(struct wal_rig *r) {
    uv_close((uv_handle_t *)&r->tick, NULL);
    tr_pipeline_destroy(r->p);
    tr_defer_close(&r->q, NULL, NULL);
    rig_fini(&r->l);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", r->dir);
    assert_int_equal(system(cmd), 0);
}

static int sink_has_n(void *arg) { return ((struct sink *)arg)->n >= N; }

/* source -> qos::wal -> a sink acking inside its send: every ack frees the
 * window and lets the WAL emit again, and none of that runs inside the
 * send that caused it: the sink is never nested, the source hears its acks
 * (the WAL's, once durable) from the loop, in order. */
static void acks_inside_send_never_nest_through_a_wal(void **state) {
    (void)state;
    struct wal_rig r;
    wal_rig_init(&r, 7);
    for (int64_t i = 0; i < N; i++) push(r.p, i);
    run_until(&r.l, sink_has_n, &r.s, "every event through the WAL");
    run_until(&r.l, source_has_n_acks, &r.src, "every ack at the source");
    assert_int_equal(r.s.n, N);
    for (int i = 0; i < N; i++) assert_int_equal(r.s.ids[i], i);
    assert_int_equal(r.s.max_depth, 1);      /* expected 1: never re-entered */
    assert_int_equal(r.src.during_forward, 0);
    assert_int_equal(r.src.order_broken, 0);
    assert_int_equal(r.src.acks, N);
    wal_rig_fini(&r);
}

static int replayed(void *arg) {
    struct sink *s = arg;
    int seen = 0;
    for (int i = 0; i < s->n; i++) seen += s->ids[i] == s->fail_id;
    return seen >= 2 && s->n >= N + 1;
}

/* A fail inside send stops the WAL's read pass at the failed event: the
 * next event the sink sees is that one again (go-back-N), never one past
 * it first, although the fail itself is only delivered after the pass. */
static void a_fail_inside_send_stops_the_read_pass(void **state) {
    (void)state;
    struct wal_rig r;
    wal_rig_init(&r, 50);
    r.s.fail_id = 23;
    for (int64_t i = 0; i < N; i++) push(r.p, i);
    run_until(&r.l, replayed, &r.s, "the failed event replayed and all delivered");
    int at = -1;
    for (int i = 0; i < r.s.n; i++)
        if (r.s.ids[i] == 23) {
            at = i;
            break;
        }
    assert_int_equal(at, 23);
    /* expected: 23 (failed), then 23 again; not 24 */
    assert_int_equal(r.s.ids[at + 1], 23);
    for (int i = 0; i < at + 1; i++) assert_int_equal(r.s.ids[i], i);
    for (int i = at + 1; i < r.s.n; i++) assert_int_equal(r.s.ids[i], i - 1);
    assert_int_equal(r.s.n, N + 1);
    assert_int_equal(r.s.max_depth, 1);
    assert_int_equal(r.src.during_forward, 0);
    wal_rig_fini(&r);
}

/* A WAL with many durable records and a slow sink hands them over a time
 * share per loop turn (qos_wal.c TURN_NS, 200 us), not up to 1024 at once:
 * the loop polls in between, so a sink's peer confirmations are read while
 * a backlog drains. 100 us per event: a pass of 7 spends the share. */
static void a_wal_yields_the_loop_to_a_slow_sink(void **state) {
    (void)state;
    struct wal_rig r;
    wal_rig_init(&r, 7);
    uv_prepare_t turns;
    uv_prepare_init(&r.l.loop, &turns);
    uv_prepare_start(&turns, count_turn);
    turn_no = turn_seen = turn_events = turn_max = 0;
    slow_ns = 100000;
    for (int64_t i = 0; i < N; i++) push(r.p, i);
    run_until(&r.l, sink_has_n, &r.s, "every event through the WAL");
    slow_ns = 0;
    for (int i = 0; i < N; i++) assert_int_equal(r.s.ids[i], i);
    /* one pass per turn; two when the share began just before a pass */
    assert_true(turn_max <= 14);
    uv_close((uv_handle_t *)&turns, NULL);
    wal_rig_fini(&r);
}

static int source_triggered(void *arg) { return ((struct source *)arg)->triggers > 0; }

/* A full WAL's trigger reaches the source from the loop too, but the push
 * that filled it learns at once that one is on its way to the inputs
 * (tr_pipeline_triggers), so an onramp can stop reading before the loop
 * turns (TR_ONRAMP_PAUSED). A trigger from downstream, which the WAL
 * absorbs, is not counted: nobody would ever restore an onramp for it. */
static void a_full_wal_announces_its_trigger_to_the_push(void **state) {
    (void)state;
    struct wal_rig r;
    memset(&r, 0, sizeof r);
    rig_init(&r.l);
    snprintf(r.dir, sizeof r.dir, "/tmp/tr_cf_XXXXXX");
    assert_non_null(mkdtemp(r.dir));
    assert_int_equal(tr_defer_init(&r.q, &r.l.loop), 0);
    r.p = build("define qos::wal operator w with read_count = 10, max_elements = 5 end;\n"
                "create operator w;\n"
                "select event from in into w;\n"
                "select event from w into out;\n", &r.q, &r.l.loop, r.dir);
    r.s = (struct sink){.p = r.p, .q = &r.q, .fail_id = -1};
    r.src = (struct source){.sink = &r.s, .q = &r.q};
    assert_int_equal(tr_pipeline_connect_output(r.p, "out", sink_fn, &r.s), 0);
    assert_int_equal(tr_pipeline_connect_input(r.p, true, source_fn, &r.src), 0);
    uv_timer_init(&r.l.loop, &r.tick);
    r.tick.data = &r;
    struct tr_insight down = {.cb = TR_CB_TRIGGER};   /* the sink is away */
    tr_ids_init(&down.ids, 0, 0, 0);
    tr_pipeline_contraflow(r.p, &down);
    assert_int_equal(tr_pipeline_triggers(r.p), 0);  /* expected 0: the WAL absorbs it */
    int64_t i = 0;
    for (; i < 100 && tr_pipeline_triggers(r.p) == 0; i++) push(r.p, i);
    assert_int_equal(tr_pipeline_triggers(r.p), 1);
    assert_true(i > 5);
    assert_int_equal(r.src.triggers, 0);          /* not inside the push */
    run_until(&r.l, source_triggered, &r.src, "the trigger at the source");
    assert_int_equal(r.src.triggers, 1);
    assert_int_equal(r.src.during_forward, 0);
    /* delivered: no longer on its way, so no input is told to stop for it */
    assert_int_equal(tr_pipeline_triggers(r.p), 0);
    wal_rig_fini(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fifo_collapse_cancel_without_loop),
        cmocka_unit_test(loop_drains_in_order_and_yields),
        cmocka_unit_test(an_ack_inside_send_reaches_the_source_later),
        cmocka_unit_test(acks_inside_send_never_nest_through_a_wal),
        cmocka_unit_test(a_fail_inside_send_stops_the_read_pass),
        cmocka_unit_test(a_wal_yields_the_loop_to_a_slow_sink),
        cmocka_unit_test(a_full_wal_announces_its_trigger_to_the_push),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
