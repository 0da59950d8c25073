/* test_op_qos_backpressure.c - qos::backpressure (and its old name generic::backpressure). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "fake_op_host.h"

extern const struct tr_op_ops tr_op_qos_backpressure;
extern const struct tr_op_ops tr_op_generic_backpressure;

#define MS 1000000ull

static int make(const struct tr_op_ops *ops, struct fake *f, const char *params, void **op,
                struct tr_diag *d) {
    tr_value p = fake_json(params);
    struct tr_op_spec s = fake_spec("bp", ops->kind, &p);
    tr_diag_clear(d);
    *op = NULL;
    int rc = ops->create(&s, &f->base, op, d);
    tr_value_unref(p);
    return rc;
}

static const char *push(struct fake *f, void *op, uint64_t id, uint64_t ns) {
    struct tr_event ev;
    fake_event(&ev, "1", NULL, id, ns);
    int before = f->nout;
    assert_int_equal(tr_op_qos_backpressure.event(op, "in", &ev), 0);
    assert_int_equal(f->nout, before + 1);
    assert_true(f->out[before].transactional);   /* made transactional to get answers */
    return f->port[before];
}

static enum tr_cb answer(void *op, enum tr_cb cb, uint64_t id) {
    struct tr_insight in;
    in.cb = cb;
    tr_ids_init(&in.ids, 0, 0, id);
    tr_op_qos_backpressure.contraflow(op, &in);
    enum tr_cb out = in.cb;
    tr_insight_fini(&in);
    return out;
}

/* Each fail climbs one step; events before the end of the back-off go to
 * overflow; a good answer opens it again. */
static void fails_back_off_step_by_step(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    assert_int_equal(make(&tr_op_qos_backpressure, &f, "{\"timeout\":100,\"steps\":[10,20]}", &op,
                          &d), 0);
    assert_string_equal(push(&f, op, 1, 1000 * MS), "out");
    assert_int_equal(answer(op, TR_CB_FAIL, 1), TR_CB_FAIL);   /* fails travel on */
    /* back-off 10 ms from the failed event's ingest time (1000 ms) */
    assert_string_equal(push(&f, op, 2, 1005 * MS), "overflow");
    assert_string_equal(push(&f, op, 3, 1010 * MS), "out");
    assert_int_equal(answer(op, TR_CB_FAIL, 3), TR_CB_FAIL);   /* next step: 20 ms */
    assert_string_equal(push(&f, op, 4, 1029 * MS), "overflow");
    assert_string_equal(push(&f, op, 5, 1030 * MS), "out");
    assert_int_equal(answer(op, TR_CB_FAIL, 5), TR_CB_FAIL);   /* stays at the last step */
    assert_string_equal(push(&f, op, 6, 1049 * MS), "overflow");
    assert_string_equal(push(&f, op, 7, 1050 * MS), "out");
    assert_int_equal(answer(op, TR_CB_ACK, 7), TR_CB_ACK);     /* good: open again */
    assert_string_equal(push(&f, op, 8, 1050 * MS), "out");
    assert_string_equal(push(&f, op, 9, 1050 * MS), "out");
    /* an answer about an event it never saw changes nothing */
    assert_int_equal(answer(op, TR_CB_FAIL, 12345), TR_CB_FAIL);
    assert_string_equal(push(&f, op, 10, 1050 * MS), "out");
    assert_int_equal(f.nups, 0);   /* no breaker without circuit_breaker */
    tr_op_qos_backpressure.destroy(op);
    fake_fini(&f);
}

static void circuit_breaker_pauses_and_resumes_upstream(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    assert_int_equal(make(&tr_op_generic_backpressure, &f,
                          "{\"timeout\":100,\"steps\":[10],\"circuit_breaker\":true}", &op, &d), 0);
    assert_string_equal(push(&f, op, 1, 1000 * MS), "out");
    assert_int_equal(answer(op, TR_CB_FAIL, 1), TR_CB_FAIL);
    assert_int_equal(f.nups, 1);
    assert_int_equal(f.ups[0], TR_CB_TRIGGER);
    tr_op_generic_backpressure.tick(op, 1005 * MS);   /* still backing off */
    assert_int_equal(f.nups, 1);
    tr_op_generic_backpressure.tick(op, 1010 * MS);
    assert_int_equal(f.nups, 2);
    assert_int_equal(f.ups[1], TR_CB_RESTORE);
    tr_op_generic_backpressure.tick(op, 1020 * MS);   /* only once */
    assert_int_equal(f.nups, 2);
    /* a trigger about its event starts a back-off and travels on as the edge */
    assert_string_equal(push(&f, op, 2, 2000 * MS), "out");
    assert_int_equal(answer(op, TR_CB_TRIGGER, 2), TR_CB_TRIGGER);
    assert_int_equal(f.nups, 2);
    /* more triggers while backing off stop here */
    assert_int_equal(answer(op, TR_CB_TRIGGER, 2), TR_CB_NONE);
    tr_op_generic_backpressure.destroy(op);
    fake_fini(&f);
}

static void config_errors(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    assert_int_equal(make(&tr_op_qos_backpressure, &f, "{}", &op, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "Operator config for bp is missing");
    assert_int_equal(make(&tr_op_qos_backpressure, &f, "{\"steps\":[1]}", &op, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "qos::backpressure operator 'bp': missing field `timeout`");
    assert_int_equal(make(&tr_op_qos_backpressure, &f, "{\"timeout\":1,\"steps\":[-1]}", &op, &d),
                     TR_EINVAL_CFG);
    assert_int_equal(make(&tr_op_qos_backpressure, &f, "{\"timeout\":\"x\"}", &op, &d),
                     TR_EINVAL_CFG);
    /* newly refused: a negative timeout, an unknown key */
    assert_int_equal(make(&tr_op_qos_backpressure, &f, "{\"timeout\":-1}", &op, &d),
                     TR_EINVAL_CFG);
    assert_string_equal(d.msg, "qos::backpressure operator 'bp': `timeout` must be at least 0, "
                               "found -1");
    assert_int_equal(make(&tr_op_qos_backpressure, &f, "{\"timeout\":1,\"step\":[1]}", &op, &d),
                     TR_EINVAL_CFG);
    assert_string_equal(d.msg, "qos::backpressure operator 'bp': unknown field `step`, expected "
                               "one of `timeout`, `circuit_breaker`, `steps`");
    assert_int_equal(make(&tr_op_qos_backpressure, &f, "{\"timeout\":1.5}", &op, &d), 0);
    tr_op_qos_backpressure.destroy(op);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fails_back_off_step_by_step),
        cmocka_unit_test(circuit_breaker_pauses_and_resumes_upstream),
        cmocka_unit_test(config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
