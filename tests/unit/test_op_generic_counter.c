/* test_op_generic_counter.c - generic::counter wraps each value with its number. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "fake_op_host.h"

extern const struct tr_op_ops tr_op_generic_counter;

static void *make(struct fake *f, const char *params) {
    tr_value p = fake_json(params);
    struct tr_op_spec s = fake_spec("c", "generic::counter", &p);
    struct tr_diag d;
    tr_diag_clear(&d);
    void *op = NULL;
    assert_int_equal(tr_op_generic_counter.create(&s, &f->base, &op, &d), 0);
    tr_value_unref(p);
    return op;
}

static void counts_from_one_and_keeps_the_event(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op = make(&f, "{}");
    const char *in[] = {"{\"test\":\"foo\"}", "2", "[1,{\"a\":null}]"};
    const char *want[] = {"{\"count\":1,\"event\":{\"test\":\"foo\"}}", "{\"count\":2,\"event\":2}",
                          "{\"count\":3,\"event\":[1,{\"a\":null}]}"};
    for (int i = 0; i < 3; i++) {
        struct tr_event ev;
        fake_event(&ev, in[i], "{\"m\":1}", (uint64_t)i, 10);
        ev.transactional = true;
        assert_int_equal(tr_op_generic_counter.event(op, "in", &ev), 0);
    }
    assert_int_equal(f.nout, 3);
    char buf[256];
    for (int i = 0; i < 3; i++) {
        assert_string_equal(f.port[i], "out");
        assert_string_equal(fake_text(&f.out[i].value, buf, sizeof buf), want[i]);
        assert_string_equal(fake_text(&f.out[i].meta, buf, sizeof buf), "{\"m\":1}");
        assert_int_equal(f.out[i].ids.id.event, (uint64_t)i);
        assert_true(f.out[i].transactional);
    }
    tr_op_generic_counter.destroy(op);
    fake_fini(&f);
}

/* A copy of the event made before counting still sees the original value. */
static void shared_values_are_not_changed(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op = make(&f, "{\"ignored\":true}");
    struct tr_event ev, copy;
    fake_event(&ev, "{\"a\":1}", NULL, 0, 0);
    assert_int_equal(tr_event_copy(&copy, &ev), 0);
    assert_int_equal(tr_op_generic_counter.event(op, "in", &ev), 0);
    char buf[128];
    assert_string_equal(fake_text(&copy.value, buf, sizeof buf), "{\"a\":1}");
    tr_event_fini(&copy);
    tr_op_generic_counter.destroy(op);
    fake_fini(&f);
}

static void allocation_failure_fails_the_event_upstream(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op = make(&f, "{}");
    int failed = 0;
    for (uint64_t n = 1; n < 4; n++) {
        struct tr_event ev;
        fake_event(&ev, "{\"a\":1}", NULL, 0, 0);
        ev.transactional = true;
        int ups = f.nups;
        tr_alloc_fail_at(n, 0);
        int rc = tr_op_generic_counter.event(op, "in", &ev);
        tr_alloc_fail_at(0, 0);
        assert_true(rc == 0 || rc == -ENOMEM);
        if (rc == -ENOMEM) {
            /* a transactional event that cannot go on is failed upstream */
            failed++;
            assert_int_equal(f.nups, ups + 1);
            assert_int_equal(f.ups[ups], TR_CB_FAIL);
        }
    }
    assert_true(failed > 0);
    tr_op_generic_counter.destroy(op);
    fake_fini(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_from_one_and_keeps_the_event),
        cmocka_unit_test(shared_values_are_not_changed),
        cmocka_unit_test(allocation_failure_fails_the_event_upstream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
