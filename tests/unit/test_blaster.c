/* test_blaster.c - the blaster onramp with a fake host: lines, .xz, base64,
 * iters, interval, breaker, config errors, close. */
/* conn.h first: its ops have a member named fail, which cmocka.h makes a macro */
#include "connectors/conn.h"
#include "core/alloc.h"
#include "fake_conn_host.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const struct tr_onramp_ops tr_blaster_onramp;

static char dir[64];

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tr_blaster_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *name, const void *data, size_t len) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void write_xz(const char *name, const char *text) {
    size_t n = strlen(text), cap = n + 1024, out = 0;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    assert_int_equal(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, NULL, (const uint8_t *)text, n, buf,
                                             &out, cap),
                     LZMA_OK);
    write_file(name, buf, out);
    free(buf);
}

struct rig {
    uv_loop_t loop;
    struct fake_in in;
    struct fake_spec spec;
    void *self;
    bool closed;
    size_t trigger_at;
};

static void rig_init(struct rig *r) {
    memset(r, 0, sizeof *r);
    uv_loop_init(&r->loop);
    fake_in_init(&r->in, &r->loop);
    fake_spec_init(&r->spec, "blaster", "bl");
}

static void source(struct rig *r, const char *name) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fake_spec_str(&r->spec, "source", path);
}

static int create(struct rig *r, struct tr_diag *d) {
    tr_diag_clear(d);
    r->self = NULL;
    return tr_blaster_onramp.create(&r->spec.s, &r->in.h, &r->self, d);
}

static bool is_done(void *arg) { return ((struct rig *)arg)->in.dones > 0; }

static void rig_fini(struct rig *r) {
    if (r->self) {
        tr_blaster_onramp.close(r->self, fake_set_flag, &r->closed);
        assert_true(fake_run_until(&r->loop, fake_flag_set, &r->closed));
    }
    fake_spec_fini(&r->spec);
    fake_in_fini(&r->in);
    assert_int_equal(fake_drain_and_close(&r->loop), 0);
}

static void replays_lines_then_stops_after_iters(void **state) {
    (void)state;
    write_file("plain.json", "a\nb\r\n\nc", 7);
    struct rig r;
    rig_init(&r);
    source(&r, "plain.json");
    fake_spec_int(&r.spec, "iters", 7);
    struct tr_diag d;
    assert_int_equal(create(&r, &d), 0);
    assert_int_equal(tr_blaster_onramp.start(r.self), 0);
    assert_true(fake_run_until(&r.loop, is_done, &r));
    /* expected: a b c a b c a (empty line skipped, CR stripped), done once */
    const char *want[] = {"a", "b", "c", "a", "b", "c", "a"};
    assert_int_equal(r.in.n, 7);
    for (size_t i = 0; i < 7; i++) {
        assert_string_equal(r.in.frames[i], want[i]);
        assert_int_equal(r.in.streams[i], 0);
    }
    for (int i = 0; i < 50; i++) uv_run(&r.loop, UV_RUN_NOWAIT);
    assert_int_equal(r.in.n, 7);
    assert_int_equal(r.in.dones, 1);
    rig_fini(&r);
}

static void reads_xz_sources(void **state) {
    (void)state;
    size_t n = 3000;
    char *text = malloc(n * 16);
    assert_non_null(text);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) off += (size_t)sprintf(text + off, "{\"i\":%zu}\n", i);
    write_xz("data.json.xz", text);
    free(text);
    struct rig r;
    rig_init(&r);
    source(&r, "data.json.xz");
    fake_spec_int(&r.spec, "iters", (int64_t)n + 1);
    struct tr_diag d;
    assert_int_equal(create(&r, &d), 0);
    assert_int_equal(tr_blaster_onramp.start(r.self), 0);
    assert_true(fake_run_until(&r.loop, is_done, &r));
    /* expected: every line in order, then the first again */
    assert_int_equal(r.in.n, n + 1);
    char want[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(want, sizeof want, "{\"i\":%zu}", i);
        assert_string_equal(r.in.frames[i], want);
    }
    assert_string_equal(r.in.frames[n], "{\"i\":0}");
    rig_fini(&r);
}

static void base64_lines_are_decoded(void **state) {
    (void)state;
    write_file("b64.txt", "aGVsbG8=\nbm90IGJhc2U2NCE=\n!!bad\n", 32);
    struct rig r;
    rig_init(&r);
    source(&r, "b64.txt");
    fake_spec_bool(&r.spec, "base64", true);
    fake_spec_int(&r.spec, "iters", 3);
    struct tr_diag d;
    assert_int_equal(create(&r, &d), 0);
    assert_int_equal(tr_blaster_onramp.start(r.self), 0);
    assert_true(fake_run_until(&r.loop, is_done, &r));
    /* expected: the invalid line is skipped at load time */
    assert_int_equal(r.in.n, 3);
    assert_string_equal(r.in.frames[0], "hello");
    assert_string_equal(r.in.frames[1], "not base64!");
    assert_string_equal(r.in.frames[2], "hello");
    rig_fini(&r);
}

static void trigger_at(struct fake_in *in, void *arg) {
    struct rig *r = arg;
    if (in->n == r->trigger_at) tr_blaster_onramp.trigger(r->self);
}

static void breaker_pauses_and_resumes(void **state) {
    (void)state;
    write_file("x.txt", "x\n", 2);
    struct rig r;
    rig_init(&r);
    source(&r, "x.txt");
    fake_spec_int(&r.spec, "iters", 5000);
    r.trigger_at = 1500;
    r.in.on_frame = trigger_at;
    r.in.on_frame_arg = &r;
    struct tr_diag d;
    assert_int_equal(create(&r, &d), 0);
    assert_int_equal(tr_blaster_onramp.start(r.self), 0);
    /* triggered inside a batch: nothing more, however long the loop runs */
    for (int i = 0; i < 100; i++) uv_run(&r.loop, UV_RUN_NOWAIT);
    assert_int_equal(r.in.n, 1500);
    tr_blaster_onramp.restore(r.self);
    assert_true(fake_run_until(&r.loop, is_done, &r));
    assert_int_equal(r.in.n, 5000);
    assert_int_equal(r.in.dones, 1);
    rig_fini(&r);
}

static void interval_paces_events(void **state) {
    (void)state;
    write_file("y.txt", "y\n", 2);
    struct rig r;
    rig_init(&r);
    source(&r, "y.txt");
    fake_spec_int(&r.spec, "iters", 5);
    fake_spec_int(&r.spec, "interval", 2000000);   /* 2 ms */
    struct tr_diag d;
    assert_int_equal(create(&r, &d), 0);
    assert_int_equal(tr_blaster_onramp.start(r.self), 0);
    assert_true(fake_run_until(&r.loop, is_done, &r));
    assert_int_equal(r.in.n, 5);
    rig_fini(&r);
}

/* Behind schedule (1 us interval: a millisecond tick finds ~1000 due), the
 * due events go out 32 per loop turn (the timer's and the idle handle's
 * chunk: at most 64 per uv_run), not all in the tick's turn. */
static void interval_spreads_a_backlog_over_turns(void **state) {
    (void)state;
    write_file("z.txt", "z\n", 2);
    struct rig r;
    rig_init(&r);
    source(&r, "z.txt");
    fake_spec_int(&r.spec, "iters", 400);
    fake_spec_int(&r.spec, "interval", 1000);
    struct tr_diag d;
    assert_int_equal(create(&r, &d), 0);
    assert_int_equal(tr_blaster_onramp.start(r.self), 0);
    size_t most = 0, turns = 0;
    while (r.in.dones == 0 && turns < 100000) {
        size_t before = r.in.n;
        uv_run(&r.loop, UV_RUN_ONCE);
        turns++;
        if (r.in.n - before > most) most = r.in.n - before;
    }
    assert_int_equal(r.in.n, 400);
    assert_true(most <= 64);
    assert_true(most >= 32);   /* it was behind: whole chunks went */
    rig_fini(&r);
}

static void relative_source_beside_the_config(void **state) {
    (void)state;
    write_file("near.txt", "n\n", 2);
    char conf[128];
    snprintf(conf, sizeof conf, "%s/config.yaml", dir);
    struct rig r;
    rig_init(&r);
    r.spec.s.file = conf;
    fake_spec_str(&r.spec, "source", "near.txt");
    fake_spec_int(&r.spec, "iters", 1);
    struct tr_diag d;
    assert_int_equal(create(&r, &d), 0);
    assert_int_equal(tr_blaster_onramp.start(r.self), 0);
    assert_true(fake_run_until(&r.loop, is_done, &r));
    assert_string_equal(r.in.frames[0], "n");
    rig_fini(&r);
}

static void config_errors_are_located(void **state) {
    (void)state;
    write_file("empty.txt", "\n\n", 2);
    write_file("fake.xz", "not xz at all\n", 14);
    char conf[128];
    snprintf(conf, sizeof conf, "%s/config.yaml", dir);
    struct {
        const char *key, *val;
        const char *want;
    } cases[] = {
        {NULL, NULL, "config.source (a file to replay) is required"},
        {"source", "/nonexistent/data.json", "cannot open '/nonexistent/data.json' (tried from the working directory)"},
        {"source", "missing.json", "'missing.json' from the working directory and '"},
        {"source", "empty.txt", "has no lines to replay"},
        {"source", "fake.xz", "is not in the .xz format"},
        {"colour", "red", "unknown config key 'colour'"},
        {"iters", "many", "config.iters must be a non-negative integer"},
        /* the map's wording: what was found, and the key's help */
        {"interval", "1ms", "config.interval must be a non-negative integer, found string "
                            "(ns between events, 0: as fast as possible)"},
        {"base64", "yes", "config.base64 must be true or false, found string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct rig r;
        rig_init(&r);
        r.spec.s.file = conf;
        if (cases[i].key && strcmp(cases[i].key, "source") != 0) fake_spec_str(&r.spec, "source", "empty.txt");
        if (cases[i].key) fake_spec_str(&r.spec, cases[i].key, cases[i].val);
        struct tr_diag d;
        int rc = create(&r, &d);
        if (rc == 0 || !strstr(d.msg, cases[i].want))
            fail_msg("case %zu: expected an error with '%s', got %d '%s'", i, cases[i].want, rc, d.msg);
        assert_null(r.self);
        assert_string_equal(d.file, conf);
        assert_int_equal(d.line, 3);
        rig_fini(&r);
    }
    /* no config at all */
    struct rig r;
    rig_init(&r);
    tr_value null = tr_v_null();
    r.spec.s.config = &null;
    struct tr_diag d;
    assert_int_not_equal(create(&r, &d), 0);
    assert_non_null(strstr(d.msg, "config.source is required"));
    rig_fini(&r);
}

static void close_while_running(void **state) {
    (void)state;
    write_file("z.txt", "z\n", 2);
    struct rig r;
    rig_init(&r);
    source(&r, "z.txt");
    struct tr_diag d;
    assert_int_equal(create(&r, &d), 0);
    assert_int_equal(tr_blaster_onramp.start(r.self), 0);
    for (int i = 0; i < 3; i++) uv_run(&r.loop, UV_RUN_NOWAIT);
    assert_true(r.in.n > 0);
    rig_fini(&r);   /* closes: every handle released, done called */
    assert_true(r.closed);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replays_lines_then_stops_after_iters),
        cmocka_unit_test(reads_xz_sources),
        cmocka_unit_test(base64_lines_are_decoded),
        cmocka_unit_test(breaker_pauses_and_resumes),
        cmocka_unit_test(interval_paces_events),
        cmocka_unit_test(interval_spreads_a_backlog_over_turns),
        cmocka_unit_test(relative_source_beside_the_config),
        cmocka_unit_test(config_errors_are_located),
        cmocka_unit_test(close_while_running),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
