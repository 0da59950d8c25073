/* test_metronome.c - the metronome onramp: shape of its events, ids without
 * gaps, pause on a breaker trigger and resume on restore without catching up.
 */
#include "connectors/conn.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/event.h"

extern const struct tr_onramp_ops tr_metronome_onramp;

struct host {
    struct tr_onramp_host h;
    int n;
    int64_t ids[4096];
    uint64_t at_ms[4096];
};

static int64_t emit_value(struct tr_onramp_host *h, tr_value v, tr_value meta) {
    struct host *s = (struct host *)h;
    assert_int_equal(v.type, TR_REC);
    assert_int_equal(tr_rec_len(&v), 3);
    assert_string_equal(tr_rec_at(&v, 0)->key->data, "onramp");
    assert_string_equal(tr_rec_at(&v, 0)->val.as.s->data, "metronome");
    assert_string_equal(tr_rec_at(&v, 1)->key->data, "ingest_ns");
    assert_true(tr_rec_at(&v, 1)->val.as.i > 1600000000LL * 1000000000LL);
    assert_string_equal(tr_rec_at(&v, 2)->key->data, "id");
    if (s->n < 4096) {
        s->ids[s->n] = tr_rec_at(&v, 2)->val.as.i;
        s->at_ms[s->n] = uv_now(h->loop);
        s->n++;
    }
    tr_value_unref(v);
    tr_value_unref(meta);
    return s->n - 1;
}

static int emit_bytes(struct tr_onramp_host *h, uint64_t st, const void *d, size_t n, tr_value m) {
    (void)h, (void)st, (void)d, (void)n;
    tr_value_unref(m);
    return 0;
}
static void stream_end(struct tr_onramp_host *h, uint64_t st) { (void)h, (void)st; }
static void done(struct tr_onramp_host *h) { (void)h; }
static void shutdown_(struct tr_onramp_host *h) { (void)h; }

static const struct tr_onramp_host_ops ops = {
    .emit_value = emit_value,
    .emit_bytes = emit_bytes,
    .stream_end = stream_end,
    .done = done,
    .shutdown = shutdown_,
};

static tr_value config(int64_t interval) {
    tr_value c;
    assert_int_equal(tr_v_rec(1, &c), 0);
    if (interval >= 0) assert_int_equal(tr_rec_set(&c, "interval", 8, tr_v_int(interval)), 0);
    return c;
}

static void stop_loop(uv_timer_t *t) { uv_stop(t->loop); }

/* Run the loop until `n` events arrived (bounded: the deadline only fails). */
static void run_until(uv_loop_t *loop, struct host *s, int n) {
    uv_timer_t guard;
    uv_timer_init(loop, &guard);
    uv_timer_start(&guard, stop_loop, 20000, 0);
    while (s->n < n && uv_timer_get_due_in(&guard) > 0) uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    assert_true(s->n >= n);
}

/* Run the loop for ms milliseconds of its own time. */
static void run_for(uv_loop_t *loop, uint64_t ms) {
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, stop_loop, ms, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static void closed(void *arg) { *(int *)arg = 1; }

static void ticks_pause_and_resume_without_catching_up(void **state) {
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    static struct host s;
    memset(&s, 0, sizeof s);
    s.h.ops = &ops;
    s.h.loop = &loop;
    tr_value cfg = config(2);
    struct tr_conn_spec spec = {.id = "metronome", .type = "metronome", .instance = "01", .config = &cfg,
                                .file = "c.yaml", .line = 3, .col = 5};
    void *m = NULL;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_metronome_onramp.create(&spec, &s.h, &m, &d), 0);
    assert_int_equal(tr_metronome_onramp.start(m), 0);
    run_until(&loop, &s, 5);
    tr_metronome_onramp.trigger(m);
    int paused_at = s.n;
    run_for(&loop, 60);   /* 30 intervals: none may fire while triggered */
    assert_int_equal(s.n, paused_at);
    uint64_t restored = uv_now(&loop);
    tr_metronome_onramp.restore(m);
    run_until(&loop, &s, paused_at + 3);
    /* no burst of missed ticks: the first one after restore waits a fresh interval */
    assert_true(s.at_ms[paused_at] >= restored + 2);
    assert_true(s.at_ms[paused_at + 2] >= s.at_ms[paused_at] + 4);
    for (int i = 0; i < s.n; i++) assert_int_equal(s.ids[i], i);   /* no gaps */
    int done_flag = 0;
    tr_metronome_onramp.close(m, closed, &done_flag);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(done_flag, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
    tr_value_unref(cfg);
}

static void interval_is_required(void **state) {
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct host s;
    memset(&s, 0, sizeof s);
    s.h.ops = &ops;
    s.h.loop = &loop;
    struct tr_diag d;
    void *m = NULL;
    tr_value none = tr_v_null();
    struct tr_conn_spec spec = {.id = "metronome", .type = "metronome", .instance = "01", .config = &none,
                                .file = "c.yaml", .line = 3, .col = 5};
    tr_diag_clear(&d);
    assert_int_equal(tr_metronome_onramp.create(&spec, &s.h, &m, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "Missing config for metronome onramp"));
    assert_int_equal(d.line, 3);
    tr_value zero = config(0);
    spec.config = &zero;
    assert_int_equal(tr_metronome_onramp.create(&spec, &s.h, &m, &d), TR_EINVAL_CFG);
    tr_value_unref(zero);
    tr_value bad = config(-1);
    assert_int_equal(tr_rec_set(&bad, "speed", 5, tr_v_int(3)), 0);
    spec.config = &bad;
    assert_int_equal(tr_metronome_onramp.create(&spec, &s.h, &m, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "speed"));
    tr_value_unref(bad);
    /* newly refused: an interval beyond the map's bound (about 50 days) */
    tr_value huge = config(4294967297ll);
    spec.config = &huge;
    assert_int_equal(tr_metronome_onramp.create(&spec, &s.h, &m, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "metronome 'metronome': config.interval must be between 1 and 4294967296, "
                                  "found 4294967297"));
    assert_int_equal(d.line, 3);
    tr_value_unref(huge);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ticks_pause_and_resume_without_catching_up),
        cmocka_unit_test(interval_is_required),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
