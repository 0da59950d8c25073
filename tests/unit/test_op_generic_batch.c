/* test_op_generic_batch.c - generic::batch: by count, by timeout, ids and shape. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "fake_op_host.h"

extern const struct tr_op_ops tr_op_generic_batch;

#define MS 1000000ull

static int make(struct fake *f, const char *params, void **op, struct tr_diag *d) {
    tr_value p = fake_json(params);
    struct tr_op_spec s = fake_spec("b", "generic::batch", &p);
    tr_diag_clear(d);
    *op = NULL;
    int rc = tr_op_generic_batch.create(&s, &f->base, op, d);
    tr_value_unref(p);
    return rc;
}

static void push(void *op, const char *value, uint64_t src, uint64_t id, uint64_t ns, bool tx) {
    struct tr_event ev;
    fake_event(&ev, value, "{\"m\":1}", id, ns);
    ev.ids.id.source = src;
    ev.transactional = tx;
    assert_int_equal(tr_op_generic_batch.event(op, "in", &ev), 0);
}

static void batches_by_count(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    assert_int_equal(make(&f, "{\"count\":2}", &op, &d), 0);
    push(op, "1", 7, 10, 100, false);
    assert_int_equal(f.nout, 0);
    push(op, "\"two\"", 7, 11, 200, true);
    assert_int_equal(f.nout, 1);
    char buf[512];
    assert_string_equal(f.port[0], "out");
    assert_string_equal(fake_text(&f.out[0].value, buf, sizeof buf),
        "[{\"data\":{\"value\":1,\"meta\":{\"m\":1},\"ingest_ns\":100,\"kind\":null,"
        "\"is_batch\":false}},"
        "{\"data\":{\"value\":\"two\",\"meta\":{\"m\":1},\"ingest_ns\":200,\"kind\":null,"
        "\"is_batch\":false}}]");
    assert_int_equal(f.out[0].ingest_ns, 100);          /* the first event's */
    assert_true(f.out[0].transactional);                /* one of them was */
    /* its own id (uid, 0, 0) tracks both inputs */
    assert_int_equal(f.out[0].ids.id.source, 4242);
    assert_int_equal(f.out[0].ids.id.event, 0);
    uint64_t lo, hi;
    assert_int_equal(tr_ids_min_for(&f.out[0].ids, 7, &lo), 0);
    assert_int_equal(tr_ids_max_for(&f.out[0].ids, 7, &hi), 0);
    assert_int_equal(lo, 10);
    assert_int_equal(hi, 11);
    /* the next batch gets the next id and starts non-transactional */
    push(op, "3", 8, 1, 300, false);
    push(op, "4", 8, 2, 300, false);
    assert_int_equal(f.nout, 2);
    assert_int_equal(f.out[1].ids.id.event, 1);
    assert_false(f.out[1].transactional);
    assert_int_not_equal(tr_ids_min_for(&f.out[1].ids, 7, &lo), 0);   /* no source 7 here */
    tr_op_generic_batch.destroy(op);
    fake_fini(&f);
}

static void batches_by_timeout(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    assert_int_equal(make(&f, "{\"count\":100,\"timeout\":50}", &op, &d), 0);
    push(op, "1", 1, 1, 1000 * MS, false);
    push(op, "2", 1, 2, 1050 * MS, false);               /* exactly 50 ms: not more */
    assert_int_equal(f.nout, 0);
    push(op, "3", 1, 3, 1051 * MS, false);               /* over: flushes with itself */
    assert_int_equal(f.nout, 1);
    assert_int_equal(tr_arr_len(&f.out[0].value), 3);
    push(op, "4", 1, 4, 2000 * MS, false);
    tr_op_generic_batch.tick(op, 2040 * MS);
    assert_int_equal(f.nout, 1);
    tr_op_generic_batch.tick(op, 2051 * MS);              /* the tick flushes it */
    assert_int_equal(f.nout, 2);
    assert_int_equal(tr_arr_len(&f.out[1].value), 1);
    tr_op_generic_batch.tick(op, 9000 * MS);              /* nothing pending: nothing out */
    assert_int_equal(f.nout, 2);
    tr_op_generic_batch.destroy(op);
    fake_fini(&f);
}

/* Destroying with a half-full batch frees it (ASan checks). */
static void pending_batch_is_freed(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    assert_int_equal(make(&f, "{\"count\":3}", &op, &d), 0);
    push(op, "{\"a\":[1,2]}", 1, 1, 1, true);
    tr_op_generic_batch.destroy(op);
    fake_fini(&f);
}

/* With allocations failing, a transactional event that could not be kept is
 * failed upstream, never silently lost. */
static void lost_events_are_failed_upstream(void **state) {
    (void)state;
    for (uint64_t n = 1; n < 8; n++) {
        struct fake f;
        fake_init(&f);
        void *op;
        struct tr_diag d;
        assert_int_equal(make(&f, "{\"count\":1}", &op, &d), 0);
        struct tr_event ev;
        fake_event(&ev, "{\"a\":1}", "{}", 5, 1);
        ev.transactional = true;
        tr_alloc_fail_at(n, 0);
        int rc = tr_op_generic_batch.event(op, "in", &ev);
        tr_alloc_fail_at(0, 0);
        if (rc == 0) {
            assert_int_equal(f.nout, 1);
        } else {
            assert_int_equal(rc, -ENOMEM);
            assert_true(f.nout == 1 || f.nout == 0);
            assert_int_equal(f.nups, 1);
            assert_int_equal(f.ups[0], TR_CB_FAIL);
        }
        tr_op_generic_batch.destroy(op);
        fake_fini(&f);
    }
}

static void config_errors(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    assert_int_equal(make(&f, "{}", &op, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "Operator config for b is missing");
    assert_int_equal(make(&f, "{\"timeout\":1}", &op, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "generic::batch operator 'b': missing field `count`");
    assert_int_equal(make(&f, "{\"count\":0}", &op, &d), TR_EINVAL_CFG);
    assert_int_equal(make(&f, "{\"count\":-3}", &op, &d), TR_EINVAL_CFG);
    /* a misspelt key is refused instead of silently leaving batches without a timeout */
    assert_int_equal(make(&f, "{\"count\":2,\"timout\":5}", &op, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "generic::batch operator 'b': unknown field `timout`, expected one "
                               "of `count`, `timeout`");
    assert_int_equal(make(&f, "{\"count\":2,\"timeout\":4294967297}", &op, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "generic::batch operator 'b': `timeout` must be at most 4294967296 "
                               "ms, found 4294967297");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batches_by_count),
        cmocka_unit_test(batches_by_timeout),
        cmocka_unit_test(pending_batch_is_freed),
        cmocka_unit_test(lost_events_are_failed_upstream),
        cmocka_unit_test(config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
