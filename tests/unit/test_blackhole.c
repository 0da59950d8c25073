/* test_blackhole.c - the blackhole offramp with a fake host: acks, warmup,
 * the printed report, the stop request, config errors. stdout is caught in
 * a file while the offramp may print. */
/* conn.h first: its ops have a member named fail, which cmocka.h makes a macro */
#include "connectors/conn.h"
#include "core/event.h"
#include "fake_conn_host.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const struct tr_offramp_ops tr_blackhole_offramp;

struct capture {
    char path[64];
    int saved;
};

static void capture_begin(struct capture *c) {
    snprintf(c->path, sizeof c->path, "/tmp/tr_blackhole_XXXXXX");
    int fd = mkstemp(c->path);
    assert_true(fd >= 0);
    fflush(stdout);
    c->saved = dup(1);
    assert_true(c->saved >= 0);
    assert_true(dup2(fd, 1) >= 0);
    close(fd);
}

/* Returns what was printed (free it). */
static char *capture_end(struct capture *c) {
    fflush(stdout);
    dup2(c->saved, 1);
    close(c->saved);
    FILE *f = fopen(c->path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 16);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = 0;
    fclose(f);
    unlink(c->path);
    return buf;
}

struct rig {
    uv_loop_t loop;
    struct fake_out out;
    struct fake_spec spec;
    void *self;
    bool closed;
    uint64_t until_ns;
};

static void rig_init(struct rig *r, size_t ntokens) {
    memset(r, 0, sizeof *r);
    uv_loop_init(&r->loop);
    fake_out_init(&r->out, &r->loop, ntokens);
    fake_spec_init(&r->spec, "blackhole", "bh");
}

static void rig_close(struct rig *r) {
    if (r->self) {
        tr_blackhole_offramp.close(r->self, fake_set_flag, &r->closed);
        assert_true(fake_run_until(&r->loop, fake_flag_set, &r->closed));
    }
    fake_spec_fini(&r->spec);
    fake_out_fini(&r->out);
    assert_int_equal(fake_drain_and_close(&r->loop), 0);
}

static void send_n(struct rig *r, uint64_t first_token, size_t n) {
    for (size_t i = 0; i < n; i++) {
        struct tr_out_msg m = {.token = first_token + i, .transactional = true, .data = "{\"x\":1}",
                               .len = 7, .ingest_ns = tr_now_ns() - 1000};
        tr_blackhole_offramp.send(r->self, &m);
    }
}

static bool asked_to_stop(void *arg) { return ((struct rig *)arg)->out.shutdowns > 0; }
static bool time_passed(void *arg) { return tr_now_ns() >= ((struct rig *)arg)->until_ns; }

static void counts_after_warmup_prints_and_stops(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, 35);
    fake_spec_int(&r.spec, "warmup_secs", 1);
    fake_spec_int(&r.spec, "stop_after_secs", 1);
    fake_spec_int(&r.spec, "significant_figures", 3);
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_blackhole_offramp.create(&r.spec.s, &r.out.h, &r.self, &d), 0);
    assert_true(tr_blackhole_offramp.is_active(r.self));
    uint64_t t0 = tr_now_ns();
    assert_int_equal(tr_blackhole_offramp.start(r.self), 0);
    send_n(&r, 0, 10);              /* during the warmup: acked, not counted */
    assert_int_equal(r.out.nacks, 10);
    r.until_ns = t0 + 1100000000ull;
    assert_true(fake_run_until(&r.loop, time_passed, &r));
    struct capture c;
    capture_begin(&c);
    send_n(&r, 10, 20);
    bool stopped = fake_run_until(&r.loop, asked_to_stop, &r);
    char *out = capture_end(&c);
    assert_true(stopped);
    /* expected: 30 acks in order, one stop request, a report of 20 events */
    assert_int_equal(r.out.nacks, 30);
    assert_false(r.out.order_broken);
    assert_false(r.out.twice);
    assert_int_equal(r.out.shutdowns, 1);
    if (!strstr(out, "Total count    =           20]") || !strstr(out, "Throughput   (data): ") ||
        !strstr(out, "Throughput (events): ") || !strstr(out, "Measured: 20 events, 140 bytes in ") ||
        !strstr(out, "     Value Percentile TotalCount 1/(1-Percentile)"))
        fail_msg("unexpected report:\n%s", out);
    free(out);
    /* events after the report are still acked and the report is not repeated */
    capture_begin(&c);
    send_n(&r, 30, 5);
    assert_int_equal(r.out.nacks, 35);
    rig_close(&r);
    out = capture_end(&c);
    assert_string_equal(out, "");
    free(out);
}

static void without_stop_reports_on_close(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, 1);
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_blackhole_offramp.create(&r.spec.s, &r.out.h, &r.self, &d), 0);
    assert_int_equal(tr_blackhole_offramp.start(r.self), 0);
    struct tr_out_msg m = {.token = 0, .transactional = false, .data = "12", .len = 2,
                           .ingest_ns = tr_now_ns()};
    tr_blackhole_offramp.send(r.self, &m);
    for (int i = 0; i < 10; i++) uv_run(&r.loop, UV_RUN_NOWAIT);
    assert_int_equal(r.out.shutdowns, 0);
    assert_int_equal(r.out.nanswers, 0);   /* not transactional: no answer */
    struct capture c;
    capture_begin(&c);
    rig_close(&r);
    char *out = capture_end(&c);
    assert_non_null(strstr(out, "Measured: 1 events, 2 bytes in "));
    free(out);
}

static void config_errors_are_located(void **state) {
    (void)state;
    struct {
        const char *key;
        int64_t val;
        const char *want;
    } cases[] = {
        {"significant_figures", 0, "config.significant_figures must be between 1 and 5, found 0"},
        {"significant_figures", 6, "config.significant_figures must be between 1 and 5, found 6"},
        {"warmup_secs", -1, "config.warmup_secs must be a non-negative integer"},
        {"stop_after_secs", 40000000, "config.stop_after_secs must be at most 31536000, found 40000000"},
        {"warmup_secs", 31536001, "config.warmup_secs must be at most 31536000, found 31536001"},
        {"stop_after", 1, "unknown config key 'stop_after'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct rig r;
        rig_init(&r, 1);
        fake_spec_int(&r.spec, cases[i].key, cases[i].val);
        struct tr_diag d;
        tr_diag_clear(&d);
        int rc = tr_blackhole_offramp.create(&r.spec.s, &r.out.h, &r.self, &d);
        if (rc == 0 || !strstr(d.msg, cases[i].want))
            fail_msg("case %zu: expected '%s', got %d '%s'", i, cases[i].want, rc, d.msg);
        assert_null(r.self);
        assert_string_equal(d.file, "test.yaml");
        rig_close(&r);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_after_warmup_prints_and_stops),
        cmocka_unit_test(without_stop_reports_on_close),
        cmocka_unit_test(config_errors_are_located),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
