/* test_aggr_sketch.c - aggr::stats::hdr and aggr::stats::dds against Tremor
 * 0.11.12's own tests (tremor-script/src/std_lib/stats.rs: hdr, hdr_empty,
 * dds, dds_empty, and its hdr_prop / dds_prop properties, here with seeded
 * inputs through every cache/sketch merge path), plus one windowed select
 * to see both from the language. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "core/alloc.h"
#include "lang/aggr_int.h"
#include "core/event.h"
#include "lang/query.h"
#include "lang/std_int.h"

static tr_value json(const char *s) {
    tr_value v;
    assert_int_equal(0, tr_json_decode(s, strlen(s), &v, NULL));
    return v;
}

static char *encode(const tr_value *v) {
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(0, tr_json_encode(v, &b));
    return tr_buf_steal(&b, NULL);
}

static void state(struct tr_aggr_state *s, const char *name) {
    const struct tr_aggr_fn *f = tr_aggr_find("stats", name);
    assert_non_null(f);
    tr_aggr_init(s, f);
}

static int add(struct tr_aggr_state *s, tr_value v, const tr_value *pcts) {
    tr_value args[2] = {v, pcts ? *pcts : tr_v_null()};
    return tr_aggr_accumulate(s, args, pcts ? 2 : 1);
}

static void expect_emit(struct tr_aggr_state *s, const char *want) {
    tr_value out;
    assert_int_equal(0, tr_aggr_emit(s, &out));
    char *got = encode(&out);
    if (strcmp(got, want)) fail_msg("expected %s\n  actual   %s", want, got);
    tr_free(got);
    tr_value_unref(out);
}

#define HDR_1_100                                                                                          \
    "{\"count\":100,\"min\":1,\"max\":100,\"mean\":50.5,\"stdev\":28.86607004772212,\"var\":833.25,"      \
    "\"percentiles\":{\"0.5\":50,\"0.9\":90,\"0.95\":95,\"0.99\":99,\"0.999\":100,\"0.9999\":100}}"
#define DDS_1_100                                                                                          \
    "{\"count\":100,\"sum\":5050.0,\"min\":1.0,\"max\":100.0,\"mean\":50.5,\"percentiles\":{\"0.5\":50.0," \
    "\"0.9\":89.2,\"0.95\":94.7,\"0.99\":98.6,\"0.999\":98.6,\"0.9999\":98.6}}"

/* stats.rs hdr and dds: a bad percentile is refused, 1..=100, then merged into a fresh state */
static void one_to_hundred(const char *name, const char *want) {
    struct tr_aggr_state a, b;
    state(&a, name);
    tr_value bad = json("[\"snot\", \"0.9\", \"0.95\", \"0.99\", \"0.999\", \"0.9999\"]");
    assert_int_not_equal(0, add(&a, tr_v_int(0), &bad));
    tr_value_unref(bad);
    tr_value p = json("[\"0.5\", \"0.9\", \"0.95\", \"0.99\", \"0.999\", \"0.9999\"]");
    for (int i = 1; i <= 100; i++) assert_int_equal(0, add(&a, tr_v_int(i), &p));
    tr_value_unref(p);
    expect_emit(&a, want);
    state(&b, name);
    assert_int_equal(0, tr_aggr_merge(&b, &a));
    expect_emit(&b, want);
    tr_aggr_fini(&a);
    tr_aggr_fini(&b);
}

static void hdr_values(void **st) { (void)st; one_to_hundred("hdr", HDR_1_100); }
static void dds_values(void **st) { (void)st; one_to_hundred("dds", DDS_1_100); }

static void empty(void **st) {
    (void)st;
    struct tr_aggr_state s;
    state(&s, "hdr");
    expect_emit(&s, "{\"count\":0,\"min\":0,\"max\":0,\"mean\":0.0,\"stdev\":0.0,\"var\":0.0,\"percentiles\":"
                    "{\"0.5\":0,\"0.9\":0,\"0.95\":0,\"0.99\":0,\"0.999\":0,\"0.9999\":0,\"0.99999\":0}}");
    tr_aggr_fini(&s);
    state(&s, "dds");
    expect_emit(&s, "{\"count\":0,\"sum\":0.0,\"min\":0.0,\"max\":0.0,\"mean\":0.0,\"percentiles\":"
                    "{\"0.5\":0.0,\"0.9\":0.0,\"0.95\":0.0,\"0.99\":0.0,\"0.999\":0.0,\"0.9999\":0.0,\"0.99999\":0.0}}");
    tr_aggr_fini(&s);
}

static uint64_t rnd(uint64_t *x) {
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

static uint64_t get_u(const tr_value *rec, const char *k) {
    const tr_value *v = tr_rec_get_cstr(rec, k);
    assert_non_null(v);
    assert_int_equal(TR_I64, v->type);
    return (uint64_t)v->as.i;
}

static double get_f(const tr_value *rec, const char *k) {
    const tr_value *v = tr_rec_get_cstr(rec, k);
    assert_non_null(v);
    assert_int_equal(TR_F64, v->type);
    return v->as.f;
}

/* hdr_prop and dds_prop: after a merge, count, min, max (and dds's sum) are
 * those of all inputs, whichever of cache and sketch each side holds. The
 * dds values are whole numbers so every summing order is exact. */
static void merge_properties(void **st) {
    (void)st;
    static const int sizes[][2] = {{0, 0}, {0, 5}, {5, 0}, {3000, 4000}, {5000, 6000},
                                   {9000, 3000}, {3000, 9000}, {9000, 9000}, {16383, 1}};
    uint64_t seed = 0x5eed2026u;
    tr_value pcts = json("[0.5, 0.99]");  /* not strings: 0.11 keeps no percentile */
    for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
        for (int kind = 0; kind < 2; kind++) {
            struct tr_aggr_state a, b;
            state(&a, kind ? "dds" : "hdr");
            state(&b, kind ? "dds" : "hdr");
            uint64_t n = 0, mn = UINT64_MAX, mx = 0;
            double sum = 0;
            for (int side = 0; side < 2; side++) {
                for (int i = 0; i < sizes[c][side]; i++) {
                    uint64_t v = rnd(&seed) % (kind ? 1000000u : 100u);
                    assert_int_equal(0, add(side ? &b : &a, kind ? tr_v_float((double)v) : tr_v_int((int64_t)v), &pcts));
                    n++, sum += (double)v;
                    if (v < mn) mn = v;
                    if (v > mx) mx = v;
                }
            }
            assert_int_equal(0, tr_aggr_merge(&a, &b));
            tr_value out;
            assert_int_equal(0, tr_aggr_emit(&a, &out));
            if (!n) mn = 0;
            assert_int_equal(n, get_u(&out, "count"));
            if (kind) {
                assert_true(get_f(&out, "sum") == sum);
                assert_true(get_f(&out, "min") == (double)mn);
                assert_true(get_f(&out, "max") == (double)mx);
            } else {
                assert_int_equal(mn, get_u(&out, "min"));
                assert_int_equal(mx, get_u(&out, "max"));
            }
            /* percentiles are fixed by the first value; with none, the defaults stay */
            assert_int_equal(n ? 0 : 7, tr_rec_len(tr_rec_get_cstr(&out, "percentiles")));
            tr_value_unref(out);
            tr_aggr_fini(&a);
            tr_aggr_fini(&b);
        }
    }
    tr_value_unref(pcts);
}

/* copies are deep: the copy goes on alone */
static void copy_is_independent(void **st) {
    (void)st;
    for (int kind = 0; kind < 2; kind++) {
        struct tr_aggr_state a, c;
        state(&a, kind ? "dds" : "hdr");
        for (int i = 1; i <= 100; i++) assert_int_equal(0, add(&a, tr_v_int(i), NULL));
        assert_int_equal(0, tr_aggr_copy(&c, &a));
        for (int i = 0; i < 10000; i++) assert_int_equal(0, add(&a, tr_v_int(5), NULL));
        tr_value out;
        assert_int_equal(0, tr_aggr_emit(&c, &out));
        assert_int_equal(100, get_u(&out, "count"));
        tr_value_unref(out);
        tr_aggr_fini(&a);
        tr_aggr_fini(&c);
    }
}

/* negative values are skipped, non-numbers ignored, as in 0.11 */
static void skipped_values(void **st) {
    (void)st;
    struct tr_aggr_state s;
    state(&s, "hdr");
    assert_int_equal(0, add(&s, tr_v_int(-5), NULL));
    assert_int_equal(0, add(&s, tr_v_null(), NULL));
    assert_int_equal(0, add(&s, tr_v_float(7.9), NULL));
    tr_value out;
    assert_int_equal(0, tr_aggr_emit(&s, &out));
    assert_int_equal(1, get_u(&out, "count"));
    assert_int_equal(7, get_u(&out, "max"));
    tr_value_unref(out);
    tr_aggr_fini(&s);
}

/* the same figures through a windowed select */
static char last_out[2048];
static int collect(void *arg, const char *port, struct tr_event *ev) {
    (void)arg, (void)port;
    char *j = encode(&ev->value);
    snprintf(last_out, sizeof last_out, "%s", j);
    tr_free(j);
    tr_event_fini(ev);
    return 0;
}

static void from_a_query(void **st) {
    (void)st;
    const char *src = "define tumbling window w with size = 100 end;\n"
                      "select {\"hdr\": aggr::stats::hdr(event, [\"0.5\",\"0.9\",\"0.95\",\"0.99\",\"0.999\",\"0.9999\"]),"
                      " \"dds\": aggr::stats::dds(event, [\"0.5\",\"0.9\",\"0.95\",\"0.99\",\"0.999\",\"0.9999\"])}"
                      " from in[w] into out;\n";
    struct tr_query *q;
    struct tr_diag d;
    if (tr_query_compile("t.trickle", src, strlen(src), &q, &d)) fail_msg("compile: %s", d.msg);
    const struct tr_qnode *sel = tr_query_node(q, 0);
    struct tr_lang_ctx ctx = {.instance = "tremor"};
    last_out[0] = 0;
    for (int i = 1; i <= 100; i++) {
        struct tr_event ev;
        tr_event_init(&ev, tr_v_int(i), tr_v_null(), (uint64_t)i);
        assert_int_equal(0, tr_select_run(sel->select, &ctx, &ev, collect, NULL, &d));
    }
    assert_string_equal("{\"hdr\":" HDR_1_100 ",\"dds\":" DDS_1_100 "}", last_out);
    tr_query_destroy(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hdr_values),       cmocka_unit_test(dds_values),     cmocka_unit_test(empty),
        cmocka_unit_test(merge_properties), cmocka_unit_test(copy_is_independent),
        cmocka_unit_test(skipped_values),   cmocka_unit_test(from_a_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
