/* test_op_grouper_bucket.c - grouper::bucket: routing by class, dimension and rate.
 *
 * Time is the events' ingest time, so every case is exact: the expected
 * ports follow Tremor's sliding-window arithmetic slot by slot.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "fake_op_host.h"

extern const struct tr_op_ops tr_op_grouper_bucket;

#define MS 1000000ull

struct t {
    struct fake f;
    void *op;
    uint64_t next_id;
};

static void start(struct t *t) {
    fake_init(&t->f);
    tr_value p;
    assert_int_equal(tr_v_rec(0, &p), 0);
    struct tr_op_spec s = fake_spec("bucket", "grouper::bucket", &p);
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_op_grouper_bucket.create(&s, &t->f.base, &t->op, &d), 0);
    tr_value_unref(p);
    t->next_id = 0;
}

static void stop(struct t *t) {
    tr_op_grouper_bucket.destroy(t->op);
    fake_fini(&t->f);
}

/* Push one event with metadata meta at ms milliseconds; returns its port. */
static const char *push_at(struct t *t, const char *meta, uint64_t ns) {
    struct tr_event ev;
    fake_event(&ev, "{\"x\":1}", meta, t->next_id++, ns);
    int before = t->f.nout;
    assert_int_equal(tr_op_grouper_bucket.event(t->op, "in", &ev), 0);
    assert_int_equal(t->f.nout, before + 1);   /* expected exactly one event out */
    return t->f.port[before];
}

static void without_class_or_rate_goes_to_err(void **state) {
    (void)state;
    struct t t;
    start(&t);
    assert_string_equal(push_at(&t, "{}", 1), "err");
    assert_string_equal(push_at(&t, "{\"rate\":2}", 1), "err");
    assert_string_equal(push_at(&t, "{\"class\":7,\"rate\":2}", 1), "err");
    assert_string_equal(push_at(&t, "{\"class\":\"c\"}", 1), "err");
    assert_string_equal(push_at(&t, "{\"class\":\"c\",\"rate\":-1}", 1), "err");
    assert_string_equal(push_at(&t, "{\"class\":\"c\",\"rate\":1.5}", 1), "err");
    assert_string_equal(push_at(&t, "{\"class\":\"c\",\"rate\":2,\"windows\":0}", 1), "err");
    assert_string_equal(push_at(&t, "{\"class\":\"d\",\"rate\":2,\"cardinality\":0}", 1), "err");
    /* the event itself goes out untouched */
    char buf[64];
    assert_string_equal(fake_text(&t.f.out[0].value, buf, sizeof buf), "{\"x\":1}");
    stop(&t);
}

static void rate_per_time_range(void **state) {
    (void)state;
    struct t t;
    start(&t);
    const char *m = "{\"class\":\"test\",\"rate\":2}";
    assert_string_equal(push_at(&t, m, 1), "out");
    assert_string_equal(push_at(&t, m, 1), "out");
    assert_string_equal(push_at(&t, m, 1), "overflow");
    assert_string_equal(push_at(&t, m, 10000000002ull), "out");
    stop(&t);
}

/* 10 per 1000 ms in 10 slots of 100 ms: the first slot's events leave the
 * window only once ten slot ticks have passed. */
static void window_slides_slot_by_slot(void **state) {
    (void)state;
    struct t t;
    start(&t);
    const char *m = "{\"class\":\"c\",\"rate\":10,\"windows\":10}";
    uint64_t t0 = 5000 * MS;   /* the first event clears the window, then counts from t0 */
    for (int i = 0; i < 10; i++) assert_string_equal(push_at(&t, m, t0), "out");
    assert_string_equal(push_at(&t, m, t0), "overflow");
    assert_string_equal(push_at(&t, m, t0 + 150 * MS), "overflow");      /* 1 tick */
    assert_string_equal(push_at(&t, m, t0 + 1000 * MS), "overflow");     /* 9 ticks so far */
    assert_string_equal(push_at(&t, m, t0 + 1000 * MS + 101 * MS), "out"); /* slot 0 dropped */
    stop(&t);
}

static void ingest_time_going_back_clears_the_window(void **state) {
    (void)state;
    struct t t;
    start(&t);
    const char *m = "{\"class\":\"c\",\"rate\":1}";
    assert_string_equal(push_at(&t, m, 9000 * MS), "out");
    assert_string_equal(push_at(&t, m, 9000 * MS), "overflow");
    assert_string_equal(push_at(&t, m, 8000 * MS), "out");
    stop(&t);
}

static void dimensions_have_their_own_windows(void **state) {
    (void)state;
    struct t t;
    start(&t);
    assert_string_equal(push_at(&t, "{\"class\":\"c\",\"rate\":1,\"dimensions\":\"a\"}", 1), "out");
    assert_string_equal(push_at(&t, "{\"class\":\"c\",\"rate\":1,\"dimensions\":\"b\"}", 1), "out");
    assert_string_equal(push_at(&t, "{\"class\":\"c\",\"rate\":1,\"dimensions\":\"a\"}", 1),
                        "overflow");
    /* keys are typed: the string "1", the integer 1 and the float 1.0 differ */
    assert_string_equal(push_at(&t, "{\"class\":\"c\",\"rate\":1,\"dimensions\":\"1\"}", 1), "out");
    assert_string_equal(push_at(&t, "{\"class\":\"c\",\"rate\":1,\"dimensions\":1}", 1), "out");
    assert_string_equal(push_at(&t, "{\"class\":\"c\",\"rate\":1,\"dimensions\":1.0}", 1), "out");
    assert_string_equal(push_at(&t, "{\"class\":\"c\",\"rate\":1,\"dimensions\":[1,\"x\"]}", 1),
                        "out");
    assert_string_equal(push_at(&t, "{\"class\":\"c\",\"rate\":1,\"dimensions\":[1,\"x\"]}", 1),
                        "overflow");
    /* absent dimensions and null share one window */
    assert_string_equal(push_at(&t, "{\"class\":\"c\",\"rate\":1}", 1), "out");
    assert_string_equal(push_at(&t, "{\"class\":\"c\",\"rate\":1,\"dimensions\":null}", 1),
                        "overflow");
    /* and classes are separate */
    assert_string_equal(push_at(&t, "{\"class\":\"other\",\"rate\":1,\"dimensions\":\"a\"}", 1),
                        "out");
    stop(&t);
}

/* The rate of an existing window is the one it was opened with. */
static void rate_is_fixed_when_a_window_opens(void **state) {
    (void)state;
    struct t t;
    start(&t);
    assert_string_equal(push_at(&t, "{\"class\":\"c\",\"rate\":1}", 1), "out");
    assert_string_equal(push_at(&t, "{\"class\":\"c\",\"rate\":100}", 1), "overflow");
    assert_string_equal(push_at(&t, "{\"class\":\"c\"}", 1), "overflow");   /* no rate needed */
    stop(&t);
}

static const char *dim(struct t *t, const char *d) {
    char meta[128];
    snprintf(meta, sizeof meta,
             "{\"class\":\"c\",\"rate\":1,\"cardinality\":2,\"dimensions\":\"%s\"}", d);
    return push_at(t, meta, 1);
}

/* Cardinality 2: the least recently used window is forgotten, so its
 * dimension starts afresh. */
static void least_recently_used_window_is_evicted(void **state) {
    (void)state;
    struct t t;
    start(&t);
    assert_string_equal(dim(&t, "a"), "out");
    assert_string_equal(dim(&t, "b"), "out");
    assert_string_equal(dim(&t, "a"), "overflow");   /* a is now the most recent */
    assert_string_equal(dim(&t, "c"), "out");        /* evicts b */
    assert_string_equal(dim(&t, "a"), "overflow");   /* a kept */
    assert_string_equal(dim(&t, "b"), "out");        /* b anew; evicts c */
    assert_string_equal(dim(&t, "a"), "overflow");
    assert_string_equal(dim(&t, "c"), "out");        /* c anew; evicts b */
    /* cardinality is read when the class is first seen, not later */
    assert_string_equal(push_at(&t, "{\"class\":\"c\",\"rate\":1,\"cardinality\":100,"
                                    "\"dimensions\":\"d\"}", 1), "out");  /* evicts a */
    assert_string_equal(dim(&t, "a"), "out");
    stop(&t);
}

/* Once a class and its windows exist, routing allocates nothing: with every
 * allocation failing, events still go where they should. */
static void known_windows_route_without_allocating(void **state) {
    (void)state;
    struct t t;
    start(&t);
    const char *m = "{\"class\":\"c\",\"rate\":3,\"dimensions\":[\"h\",1]}";
    assert_string_equal(push_at(&t, m, 1), "out");
    struct tr_event evs[3];
    for (int i = 0; i < 3; i++) fake_event(&evs[i], "1", m, 100 + (uint64_t)i, 2);
    tr_alloc_fail_at(1, 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(tr_op_grouper_bucket.event(t.op, "in", &evs[i]), 0);
    tr_alloc_fail_at(0, 0);
    assert_int_equal(t.f.nout, 4);
    assert_string_equal(t.f.port[1], "out");
    assert_string_equal(t.f.port[2], "out");
    assert_string_equal(t.f.port[3], "overflow");
    stop(&t);
}

/* Failing each allocation of a new class and window in turn: a clean
 * -ENOMEM, the event failed upstream, nothing leaked (ASan checks that), and the
 * operator still works afterwards. */
static void allocation_failures_are_clean(void **state) {
    (void)state;
    for (uint64_t n = 1; n < 8; n++) {
        struct t t;
        start(&t);
        struct tr_event ev;
        fake_event(&ev, "1", "{\"class\":\"c\",\"rate\":1,\"dimensions\":{\"k\":\"v\"}}", 1, 1);
        ev.transactional = true;
        tr_alloc_fail_at(n, 0);
        int rc = tr_op_grouper_bucket.event(t.op, "in", &ev);
        tr_alloc_fail_at(0, 0);
        assert_true(rc == 0 || rc == -ENOMEM);
        /* either it went on, or its source hears a fail */
        assert_int_equal(t.f.nout + t.f.nups, 1);
        if (rc) assert_int_equal(t.f.ups[0], TR_CB_FAIL);
        assert_string_equal(push_at(&t, "{\"class\":\"c2\",\"rate\":1}", 1), "out");
        stop(&t);
    }
}

static void config_is_refused(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    tr_value p = fake_json("{\"rate\":1}");
    struct tr_op_spec s = fake_spec("b", "grouper::bucket", &p);
    struct tr_diag d;
    tr_diag_clear(&d);
    void *op = NULL;
    assert_int_equal(tr_op_grouper_bucket.create(&s, &f.base, &op, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "Operator b has a config but can't be configured");
    assert_int_equal(d.line, 7);
    tr_value_unref(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(without_class_or_rate_goes_to_err),
        cmocka_unit_test(rate_per_time_range),
        cmocka_unit_test(window_slides_slot_by_slot),
        cmocka_unit_test(ingest_time_going_back_clears_the_window),
        cmocka_unit_test(dimensions_have_their_own_windows),
        cmocka_unit_test(rate_is_fixed_when_a_window_opens),
        cmocka_unit_test(least_recently_used_window_is_evicted),
        cmocka_unit_test(known_windows_route_without_allocating),
        cmocka_unit_test(allocation_failures_are_clean),
        cmocka_unit_test(config_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
