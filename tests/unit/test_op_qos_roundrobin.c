/* test_op_qos_roundrobin.c - qos::roundrobin: rotation, closing and reopening outputs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "fake_op_host.h"

extern const struct tr_op_ops tr_op_qos_roundrobin;

static int make(struct fake *f, const char *params, void **op, struct tr_diag *d) {
    tr_value p = fake_json(params);
    struct tr_op_spec s = fake_spec("rr", "qos::roundrobin", &p);
    tr_diag_clear(d);
    *op = NULL;
    int rc = tr_op_qos_roundrobin.create(&s, &f->base, op, d);
    tr_value_unref(p);
    return rc;
}

static const char *push(struct fake *f, void *op, uint64_t id) {
    struct tr_event ev;
    fake_event(&ev, "1", NULL, id, id);
    int before = f->nout;
    assert_int_equal(tr_op_qos_roundrobin.event(op, "in", &ev), 0);
    assert_int_equal(f->nout, before + 1);
    return f->port[before];
}

/* An insight from downstream about event id; returns what travels on. */
static enum tr_cb cb_from_downstream(void *op, enum tr_cb cb, uint64_t id) {
    struct tr_insight in;
    in.cb = cb;
    tr_ids_init(&in.ids, 0, 0, id);
    tr_op_qos_roundrobin.contraflow(op, &in);
    enum tr_cb out = in.cb;
    tr_insight_fini(&in);
    return out;
}

static void rotates_over_outputs(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    assert_int_equal(make(&f, "{\"outputs\":[\"one\",\"two\",\"three\"]}", &op, &d), 0);
    const char *want[] = {"one", "two", "three", "one", "two"};
    for (int i = 0; i < 5; i++) assert_string_equal(push(&f, op, (uint64_t)i), want[i]);
    tr_op_qos_roundrobin.destroy(op);
    fake_fini(&f);
}

static void default_output_is_out(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    assert_int_equal(make(&f, "{}", &op, &d), 0);
    assert_string_equal(push(&f, op, 0), "out");
    assert_string_equal(push(&f, op, 1), "out");
    tr_op_qos_roundrobin.destroy(op);
    fake_fini(&f);
}

/* A trigger for an event closes the output it went to; only the edges
 * (none open / one open again) travel upstream. */
static void breaker_signals_close_and_reopen_outputs(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    assert_int_equal(make(&f, "{\"outputs\":[\"a\",\"b\"]}", &op, &d), 0);
    assert_string_equal(push(&f, op, 1), "a");
    assert_string_equal(push(&f, op, 2), "b");
    assert_int_equal(cb_from_downstream(op, TR_CB_TRIGGER, 1), TR_CB_NONE);   /* a closed, b open */
    assert_string_equal(push(&f, op, 3), "b");
    assert_string_equal(push(&f, op, 4), "b");
    /* none open: upstream */
    assert_int_equal(cb_from_downstream(op, TR_CB_TRIGGER, 4), TR_CB_TRIGGER);
    assert_string_equal(push(&f, op, 5), "overflow");
    /* about an event it never routed: changes nothing, stops here */
    assert_int_equal(cb_from_downstream(op, TR_CB_TRIGGER, 99), TR_CB_NONE);
    assert_int_equal(cb_from_downstream(op, TR_CB_ACK, 3), TR_CB_ACK);        /* acks pass */
    /* a reopens: upstream */
    assert_int_equal(cb_from_downstream(op, TR_CB_RESTORE, 1), TR_CB_RESTORE);
    assert_string_equal(push(&f, op, 6), "a");
    assert_int_equal(cb_from_downstream(op, TR_CB_RESTORE, 3), TR_CB_NONE);   /* b too: no edge */
    assert_string_equal(push(&f, op, 7), "b");
    assert_string_equal(push(&f, op, 8), "a");
    tr_op_qos_roundrobin.destroy(op);
    fake_fini(&f);
}

static void first_tick_restores_upstream_once(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    assert_int_equal(make(&f, "{\"outputs\":[\"a\"]}", &op, &d), 0);
    for (int i = 0; i < 3; i++) tr_op_qos_roundrobin.tick(op, (uint64_t)i);
    assert_int_equal(f.nups, 1);
    assert_int_equal(f.ups[0], TR_CB_RESTORE);
    tr_op_qos_roundrobin.destroy(op);
    fake_fini(&f);
}

static void config_errors(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    assert_int_equal(make(&f, "{\"outputs\":[]}", &op, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "Operator config for rr is missing");
    assert_int_equal(make(&f, "{\"outputs\":\"a\"}", &op, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg,
                        "qos::roundrobin operator 'rr': `outputs` must be a list of port names");
    assert_int_equal(make(&f, "{\"outputs\":[\"a\",2]}", &op, &d), TR_EINVAL_CFG);
    assert_int_equal(d.line, 7);
    char big[200];
    snprintf(big, sizeof big, "{\"outputs\":[\"%064d\"]}", 0);
    assert_int_equal(make(&f, big, &op, &d), TR_EINVAL_CFG);
    /* newly refused: a key the operator does not read */
    assert_int_equal(make(&f, "{\"output\":[\"a\"]}", &op, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "qos::roundrobin operator 'rr': unknown field `output`, expected "
                               "one of `outputs`");
    assert_int_equal(d.line, 7);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rotates_over_outputs),
        cmocka_unit_test(default_output_is_out),
        cmocka_unit_test(breaker_signals_close_and_reopen_outputs),
        cmocka_unit_test(first_tick_restores_upstream_once),
        cmocka_unit_test(config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
