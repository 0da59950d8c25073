/* test_op_debug_history.c - debug::history appends "evt: op(id)" to $name. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "fake_op_host.h"

extern const struct tr_op_ops tr_op_debug_history;

static int make(struct fake *f, const char *params, void **op, struct tr_diag *d) {
    tr_value p = fake_json(params);
    struct tr_op_spec s = fake_spec("h", "debug::history", &p);
    tr_diag_clear(d);
    *op = NULL;
    int rc = tr_op_debug_history.create(&s, &f->base, op, d);
    tr_value_unref(p);
    return rc;
}

static const char *meta_after(const char *meta, const struct tr_ids *ids, char *buf, size_t n) {
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    assert_int_equal(make(&f, "{\"op\":\"green\",\"name\":\"snot\"}", &op, &d), 0);
    struct tr_event ev;
    fake_event(&ev, "1", meta, 0, 0);
    if (ids) {
        tr_ids_fini(&ev.ids);
        assert_int_equal(tr_ids_copy(&ev.ids, ids), 0);
    }
    assert_int_equal(tr_op_debug_history.event(op, "in", &ev), 0);
    assert_int_equal(f.nout, 1);
    assert_string_equal(f.port[0], "out");
    fake_text(&f.out[0].meta, buf, n);
    tr_op_debug_history.destroy(op);
    fake_fini(&f);
    return buf;
}

static void appends_to_the_trail(void **state) {
    (void)state;
    char buf[256];
    assert_string_equal(meta_after("{}", NULL, buf, sizeof buf),
                        "{\"snot\":[\"evt: green(0:0:0)\"]}");
    assert_string_equal(meta_after("{\"snot\":[\"x\"],\"k\":1}", NULL, buf, sizeof buf),
                        "{\"snot\":[\"x\",\"evt: green(0:0:0)\"],\"k\":1}");
    /* a value that is not an array is replaced by a fresh trail */
    assert_string_equal(meta_after("{\"snot\":\"x\"}", NULL, buf, sizeof buf),
                        "{\"snot\":[\"evt: green(0:0:0)\"]}");
}

/* Ids print as Tremor prints them, tracked ranges included (tracking adds
 * the event's own id as a range too). */
static void ids_print_with_tracked_ranges(void **state) {
    (void)state;
    struct tr_ids ids, a, b;
    tr_ids_init(&ids, 9, 1, 5);
    tr_ids_init(&a, 1, 0, 3);
    tr_ids_init(&b, 1, 0, 7);
    assert_int_equal(tr_ids_track(&ids, &a), 0);
    assert_int_equal(tr_ids_track(&ids, &b), 0);
    char buf[256];
    assert_string_equal(meta_after("{}", &ids, buf, sizeof buf),
                        "{\"snot\":[\"evt: green(9:1:5 [min=1:0:3, max=1:0:7], "
                        "[min=9:1:5, max=9:1:5])\"]}");
    tr_ids_fini(&ids);
    tr_ids_fini(&a);
    tr_ids_fini(&b);
}

/* Copy-on-write: another holder of the same metadata sees no change. */
static void shared_metadata_is_not_changed(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    assert_int_equal(make(&f, "{\"op\":\"o\",\"name\":\"n\"}", &op, &d), 0);
    struct tr_event ev, copy;
    fake_event(&ev, "1", "{\"n\":[]}", 3, 0);
    assert_int_equal(tr_event_copy(&copy, &ev), 0);
    assert_int_equal(tr_op_debug_history.event(op, "in", &ev), 0);
    char buf[128];
    assert_string_equal(fake_text(&copy.meta, buf, sizeof buf), "{\"n\":[]}");
    assert_string_equal(fake_text(&f.out[0].meta, buf, sizeof buf), "{\"n\":[\"evt: o(0:0:3)\"]}");
    tr_event_fini(&copy);
    tr_op_debug_history.destroy(op);
    fake_fini(&f);
}

static void config_errors(void **state) {
    (void)state;
    struct fake f;
    fake_init(&f);
    void *op;
    struct tr_diag d;
    assert_int_equal(make(&f, "{}", &op, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "Operator config for h is missing");
    assert_int_equal(make(&f, "{\"op\":\"x\"}", &op, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "debug::history operator 'h': missing field `name`");
    assert_int_equal(make(&f, "{\"op\":1,\"name\":\"n\"}", &op, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "debug::history operator 'h': `op`: invalid type: integer, "
                               "expected a string");
    assert_int_equal(d.line, 7);
    /* a key the operator does not read is refused, naming the ones it does */
    assert_int_equal(make(&f, "{\"op\":\"x\",\"name\":\"n\",\"nmae\":1}", &op, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "debug::history operator 'h': unknown field `nmae`, expected one "
                               "of `op`, `name`");
    assert_int_equal(d.line, 7);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(appends_to_the_trail),
        cmocka_unit_test(ids_print_with_tracked_ranges),
        cmocka_unit_test(shared_metadata_is_not_changed),
        cmocka_unit_test(config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
