/* test_crononome.c - the crononome onramp: 0.11's event shape
 * ({onramp, ingest_ns, id, trigger: {name, payload?}}), ids without gaps,
 * an every-second entry firing at second boundaries, an entry with no time
 * left never firing, no firing while triggered, and located errors for a
 * bad expression or entry. */
#include "connectors/conn.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "codec/json.h"
#include "core/buf.h"
#include "fake_conn_host.h"

extern const struct tr_onramp_ops tr_crononome_onramp;

struct host {
    struct tr_onramp_host h;
    int n;
    char json[16][256];
    int64_t wall[16];
};

static int64_t emit_value(struct tr_onramp_host *h, tr_value v, tr_value meta) {
    struct host *s = (struct host *)h;
    if (s->n < 16) {
        struct tr_buf b;
        tr_buf_init(&b);
        /* ingest_ns varies: check it, then drop it from the text compared */
        tr_value *ns = tr_rec_get_cstr(&v, "ingest_ns");
        assert_non_null(ns);
        assert_true(ns->as.i > 1600000000LL * 1000000000LL);
        assert_true(tr_value_mut(&v) >= 0);
        assert_int_equal(tr_rec_remove(&v, "ingest_ns", 9), 1);
        assert_int_equal(tr_json_encode(&v, &b), 0);
        snprintf(s->json[s->n], sizeof s->json[0], "%.*s", (int)b.len, b.data);
        s->wall[s->n] = (int64_t)time(NULL);
        tr_buf_fini(&b);
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
static void done_(struct tr_onramp_host *h) { (void)h; }
static void shutdown_(struct tr_onramp_host *h) { (void)h; }
static const struct tr_onramp_host_ops ops = {
    .emit_value = emit_value,
    .emit_bytes = emit_bytes,
    .stream_end = stream_end,
    .done = done_,
    .shutdown = shutdown_,
};

static tr_value entry(const char *name, const char *expr, const char *payload_json) {
    tr_value e, s;
    assert_int_equal(tr_v_rec(3, &e), 0);
    assert_int_equal(tr_v_cstr(name, &s), 0);
    assert_int_equal(tr_rec_set(&e, "name", 4, s), 0);
    assert_int_equal(tr_v_cstr(expr, &s), 0);
    assert_int_equal(tr_rec_set(&e, "expr", 4, s), 0);
    if (payload_json) {
        tr_value p;
        assert_int_equal(tr_json_decode(payload_json, strlen(payload_json), &p, NULL), 0);
        assert_int_equal(tr_rec_set(&e, "payload", 7, p), 0);
    }
    return e;
}

struct run {
    struct host *h;
    int want;
};
static bool have(void *arg) {
    struct run *r = arg;
    return r->h->n >= r->want;
}
static void closed(void *arg) { *(bool *)arg = true; }

static void test_fires_with_shape(void **state) {
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct host h = {.h = {&ops, &loop}};
    struct fake_spec sp;
    fake_spec_init(&sp, "crononome", "c");
    tr_value list;
    assert_int_equal(tr_v_arr(3, &list), 0);
    assert_int_equal(tr_arr_push(&list, entry("every", "* * * * * *", "{\"snot\":\"badger\"}")), 0);
    assert_int_equal(tr_arr_push(&list, entry("bare", "* * * * * *", NULL)), 0);
    assert_int_equal(tr_arr_push(&list, entry("past", "* * * * * * 1999", NULL)), 0);
    assert_int_equal(tr_rec_set(&sp.cfg, "entries", 7, list), 0);
    void *self;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_crononome_onramp.create(&sp.s, &h.h, &self, &d), 0);
    assert_int_equal(tr_crononome_onramp.start(self), 0);
    struct run r = {&h, 4};
    assert_true(fake_run_until(&loop, have, &r));
    /* due together: config order; ids count up without gaps */
    assert_string_equal(h.json[0], "{\"onramp\":\"crononome\",\"id\":0,\"trigger\":{\"name\":\"every\",\"payload\":{\"snot\":\"badger\"}}}");
    assert_string_equal(h.json[1], "{\"onramp\":\"crononome\",\"id\":1,\"trigger\":{\"name\":\"bare\"}}");
    assert_string_equal(h.json[2], "{\"onramp\":\"crononome\",\"id\":2,\"trigger\":{\"name\":\"every\",\"payload\":{\"snot\":\"badger\"}}}");
    assert_string_equal(h.json[3], "{\"onramp\":\"crononome\",\"id\":3,\"trigger\":{\"name\":\"bare\"}}");
    assert_int_equal(h.wall[2], h.wall[0] + 1);   /* one per second */
    /* triggered: nothing fires; restored: the due ones fire once each */
    tr_crononome_onramp.trigger(self);
    int before = h.n;
    uv_update_time(&loop);
    uint64_t until = uv_now(&loop) + 2200;
    while (uv_now(&loop) < until) {
        uv_run(&loop, UV_RUN_NOWAIT);
        uv_update_time(&loop);
    }
    assert_int_equal(h.n, before);
    tr_crononome_onramp.restore(self);
    r.want = before + 2;
    assert_true(fake_run_until(&loop, have, &r));
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_true(h.n <= before + 4);
    for (int i = 0; i < h.n; i++) assert_null(strstr(h.json[i], "past"));
    bool done = false;
    tr_crononome_onramp.close(self, closed, &done);
    assert_true(fake_run_until(&loop, fake_flag_set, &done));
    fake_spec_fini(&sp);
    assert_int_equal(fake_drain_and_close(&loop), 0);
}

static void test_config_errors(void **state) {
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct host h = {.h = {&ops, &loop}};
    const char *exprs[] = {"* * * * *", "61 * * * * *", NULL};
    for (int i = 0; exprs[i]; i++) {
        struct fake_spec sp;
        fake_spec_init(&sp, "crononome", "c");
        tr_value list;
        assert_int_equal(tr_v_arr(1, &list), 0);
        assert_int_equal(tr_arr_push(&list, entry("bad", exprs[i], NULL)), 0);
        assert_int_equal(tr_rec_set(&sp.cfg, "entries", 7, list), 0);
        void *self;
        struct tr_diag d;
        tr_diag_clear(&d);
        assert_int_equal(tr_crononome_onramp.create(&sp.s, &h.h, &self, &d), TR_EINVAL_CFG);
        assert_non_null(strstr(d.msg, "expression bad is illegal"));
        fake_spec_fini(&sp);
    }
    struct fake_spec sp;
    fake_spec_init(&sp, "crononome", "c");
    void *self;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_crononome_onramp.create(&sp.s, &h.h, &self, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "entries"));
    fake_spec_int(&sp, "entries", 3);
    tr_diag_clear(&d);
    assert_int_equal(tr_crononome_onramp.create(&sp.s, &h.h, &self, &d), TR_EINVAL_CFG);
    fake_spec_fini(&sp);
    assert_int_equal(fake_drain_and_close(&loop), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fires_with_shape),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
