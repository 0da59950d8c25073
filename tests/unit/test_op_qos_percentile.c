/* test_op_qos_percentile.c - qos::percentile: a pass share that follows feedback. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "fake_op_host.h"

extern const struct tr_op_ops tr_op_qos_percentile;

static int make(struct fake *f, const char *params, void **op, struct tr_diag *d) {
    tr_value p = fake_json(params);
    struct tr_op_spec s = fake_spec("pc", "qos::percentile", &p);
    tr_diag_clear(d);
    *op = NULL;
    int rc = tr_op_qos_percentile.create(&s, &f->base, op, d);
    tr_value_unref(p);
    return rc;
}

/* ingest_ns % 0xFFFF picks the event's "random" number r = n / 0xFFFF */
static const char *push(struct fake *f, void *op, uint64_t id, uint64_t n) {
    struct tr_event ev;
    fake_event(&ev, "1", NULL, id, 0xFFFFull * 1000 + n);
    int before = f->nout;
    assert_int_equal(tr_op_qos_percentile.event(op, "in", &ev), 0);
    assert_int_equal(f->nout, before + 1);
    assert_true(f->out[before].transactional);
    return f->port[before];
}

static void answer(void *op, enum tr_cb cb, uint64_t id) {
    struct tr_insight in;
    in.cb = cb;
    tr_ids_init(&in.ids, 0, 0, id);
    tr_op_qos_percentile.contraflow(op, &in);
    assert_int_equal(in.cb, cb);   /* insights pass on unchanged */
    tr_insight_fini(&in);
}

static void share_follows_feedback(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    assert_int_equal(make(&f, "{\"timeout\":10,\"step_down\":0.25,\"step_up\":0.125}", &op, &d), 0);
    assert_string_equal(push(&f, op, 1, 0xFFFE), "out");     /* perc 1: everything passes */
    answer(op, TR_CB_FAIL, 1);                               /* perc 0.75 */
    assert_string_equal(push(&f, op, 2, 0xC000), "overflow"); /* r ~ 0.750011 */
    assert_string_equal(push(&f, op, 3, 0xBFFF), "out");      /* r ~ 0.749996 */
    answer(op, TR_CB_TRIGGER, 3);                            /* perc 0.5 */
    assert_string_equal(push(&f, op, 4, 0xA000), "overflow");
    answer(op, TR_CB_ACK, 4);                                /* perc 0.625 */
    assert_string_equal(push(&f, op, 5, 0xA000), "overflow"); /* r ~ 0.625011 */
    assert_string_equal(push(&f, op, 6, 0x9FFF), "out");      /* r ~ 0.624995 */
    answer(op, TR_CB_FAIL, 999);                             /* not ours: no change */
    assert_string_equal(push(&f, op, 9, 0x9FFF), "out");
    for (int i = 0; i < 10; i++) answer(op, TR_CB_FAIL, 9);  /* floors at 0 */
    assert_string_equal(push(&f, op, 7, 1), "overflow");
    assert_string_equal(push(&f, op, 8, 0), "out");          /* r = 0 passes even at 0 */
    tr_op_qos_percentile.destroy(op);
    fake_fini(&f);
}

static void config_errors(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    assert_int_equal(make(&f, "{}", &op, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "Operator config for pc is missing");
    assert_int_equal(make(&f, "{\"step_up\":0.1}", &op, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "qos::percentile operator 'pc': missing field `timeout`");
    assert_int_equal(make(&f, "{\"timeout\":1,\"step_down\":\"x\"}", &op, &d), TR_EINVAL_CFG);
    /* newly refused: a step that leaves [0, 1], an unknown key */
    assert_int_equal(make(&f, "{\"timeout\":1,\"step_down\":2}", &op, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "qos::percentile operator 'pc': `step_down` must be between 0 and 1, found 2");
    assert_int_equal(make(&f, "{\"timeout\":1,\"step_up\":-0.5}", &op, &d), TR_EINVAL_CFG);
    assert_int_equal(make(&f, "{\"timeout\":1,\"stepdown\":0.1}", &op, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "qos::percentile operator 'pc': unknown field `stepdown`, expected "
                               "one of `timeout`, `step_down`, `step_up`");
    assert_int_equal(make(&f, "{\"timeout\":1,\"step_down\":1,\"step_up\":0}", &op, &d), 0);
    tr_op_qos_percentile.destroy(op);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(share_follows_feedback),
        cmocka_unit_test(config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
