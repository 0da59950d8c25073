/* test_file_out.c - the file offramp with a fake host: lines written and
 * acked in order, batching, close flushing, write errors failing, the
 * breaker on a backlog, config errors. */
/* conn.h first: its ops have a member named fail, which cmocka.h makes a macro */
#include "connectors/conn.h"
#include "fake_conn_host.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const struct tr_offramp_ops tr_file_offramp;

static char dir[64];

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tr_file_out_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return buf;
}

struct rig {
    uv_loop_t loop;
    struct fake_out out;
    struct fake_spec spec;
    void *self;
    bool closed;
    char path[128];
    size_t want_answers;
};

static void rig_init(struct rig *r, const char *name, size_t ntokens) {
    memset(r, 0, sizeof *r);
    uv_loop_init(&r->loop);
    fake_out_init(&r->out, &r->loop, ntokens);
    fake_spec_init(&r->spec, "file", "out");
    if (name && name[0] == '/') snprintf(r->path, sizeof r->path, "%s", name);
    else if (name) snprintf(r->path, sizeof r->path, "%s/%s", dir, name);
    if (name) fake_spec_str(&r->spec, "file", r->path);
}

static void create(struct rig *r) {
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_file_offramp.create(&r->spec.s, &r->out.h, &r->self, &d) != 0) fail_msg("create: %s", d.msg);
    assert_int_equal(tr_file_offramp.start(r->self), 0);
}

/* Close the offramp and the loop; the fake host keeps its counts. */
static void close_rig(struct rig *r) {
    if (r->self) {
        tr_file_offramp.close(r->self, fake_set_flag, &r->closed);
        assert_true(fake_run_until(&r->loop, fake_flag_set, &r->closed));
    }
    fake_spec_fini(&r->spec);
    assert_int_equal(fake_drain_and_close(&r->loop), 0);
}

static void put(struct rig *r, uint64_t token, bool tx, const char *data, size_t len) {
    struct tr_out_msg m = {.token = token, .transactional = tx, .data = data, .len = len};
    tr_file_offramp.send(r->self, &m);
}

static bool answered(void *arg) {
    struct rig *r = arg;
    return r->out.nanswers >= r->want_answers;
}

static void writes_lines_and_acks_in_order(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, "out.json", 10000);
    create(&r);
    char line[32];
    for (uint64_t i = 0; i < 10000; i++) {
        int n = snprintf(line, sizeof line, "{\"i\":%llu}", (unsigned long long)i);
        put(&r, i, i % 10 != 9, line, (size_t)n);   /* every 10th not transactional */
    }
    r.want_answers = 9000;
    assert_true(fake_run_until(&r.loop, answered, &r));
    /* expected: 9000 acks, in order, none twice, no fails */
    assert_int_equal(r.out.nacks, 9000);
    assert_int_equal(r.out.nfails, 0);
    assert_false(r.out.order_broken);
    assert_false(r.out.twice);
    close_rig(&r);
    fake_out_fini(&r.out);
    size_t len;
    char *got = slurp(r.path, &len);
    char *p = got;
    for (uint64_t i = 0; i < 10000; i++) {
        int n = snprintf(line, sizeof line, "{\"i\":%llu}\n", (unsigned long long)i);
        if (strncmp(p, line, (size_t)n) != 0) fail_msg("line %llu: expected %s", (unsigned long long)i, line);
        p += n;
    }
    assert_int_equal((size_t)(p - got), len);
    free(got);
}

static void close_writes_what_is_queued(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, "close.json", 100);
    create(&r);
    for (uint64_t i = 0; i < 100; i++) put(&r, i, true, "x", 1);
    close_rig(&r);   /* at once: a write is in flight, more are queued */
    assert_int_equal(r.out.nacks, 100);
    assert_false(r.out.twice);
    fake_out_fini(&r.out);
    size_t len;
    char *got = slurp(r.path, &len);
    assert_int_equal(len, 200);
    free(got);
}

static void write_errors_fail_messages(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, "/dev/full", 50);
    create(&r);
    for (uint64_t i = 0; i < 50; i++) put(&r, i, true, "lost", 4);
    r.want_answers = 50;
    assert_true(fake_run_until(&r.loop, answered, &r));
    /* expected: every message failed once, none acked */
    assert_int_equal(r.out.nfails, 50);
    assert_int_equal(r.out.nacks, 0);
    assert_false(r.out.twice);
    close_rig(&r);
    fake_out_fini(&r.out);
}

static bool restored_and_answered(void *arg) {
    struct rig *r = arg;
    return r->out.restores > 0 && answered(arg);
}

static void backlog_triggers_then_restores(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, "big.bin", 400);
    create(&r);
    assert_true(tr_file_offramp.is_active(r.self));
    size_t sz = 64 << 10;
    char *blob = malloc(sz);
    assert_non_null(blob);
    memset(blob, 'b', sz);
    for (uint64_t i = 0; i < 400; i++) put(&r, i, true, blob, sz);   /* 25 MiB at once */
    free(blob);
    /* expected: the breaker trips past 16 MiB queued and comes back once written */
    assert_int_equal(r.out.triggers, 1);
    assert_false(tr_file_offramp.is_active(r.self));
    r.want_answers = 400;
    assert_true(fake_run_until(&r.loop, restored_and_answered, &r));
    assert_int_equal(r.out.restores, 1);
    assert_int_equal(r.out.nacks, 400);
    assert_true(tr_file_offramp.is_active(r.self));
    close_rig(&r);
    fake_out_fini(&r.out);
}

static void config_errors_are_located(void **state) {
    (void)state;
    struct {
        const char *key, *val;
        const char *want;
    } cases[] = {
        {NULL, NULL, "config.file (the file to write) is required"},
        {"file", "/nonexistent/dir/out.json", "cannot create '/nonexistent/dir/out.json'"},
        {"source", "x", "unknown config key 'source'"},
        /* the map's wording: what was found, and the key's help */
        {"file", NULL, "file 'out': config.file must be a string, found integer (the file to write)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct rig r;
        rig_init(&r, NULL, 1);
        if (cases[i].key && cases[i].val) fake_spec_str(&r.spec, cases[i].key, cases[i].val);
        else if (cases[i].key) fake_spec_int(&r.spec, cases[i].key, 7);
        struct tr_diag d;
        tr_diag_clear(&d);
        int rc = tr_file_offramp.create(&r.spec.s, &r.out.h, &r.self, &d);
        if (rc == 0 || !strstr(d.msg, cases[i].want))
            fail_msg("case %zu: expected '%s', got %d '%s'", i, cases[i].want, rc, d.msg);
        assert_null(r.self);
        assert_int_equal(d.line, 3);
        close_rig(&r);
        fake_out_fini(&r.out);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(writes_lines_and_acks_in_order),
        cmocka_unit_test(close_writes_what_is_queued),
        cmocka_unit_test(write_errors_fail_messages),
        cmocka_unit_test(backlog_triggers_then_restores),
        cmocka_unit_test(config_errors_are_located),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
