/* test_kv.c - the kv offramp with a fake host: each of 0.11's commands
 * (get, put, delete, scan, cas) and its response on out with $kv.op and
 * $correlation, bad commands on err with the event failed, the bounds
 * (key size, scan count, map size), data kept across a reopen, config
 * errors. */
/* conn.h first: its ops have a member named fail, which cmocka.h makes a macro */
#include "connectors/conn.h"
#include "fake_conn_host.h"
#include "emit_host.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const struct tr_offramp_ops tr_kv_offramp;

static char dir[64];

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tr_kv_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

struct rig {
    uv_loop_t loop;
    struct emit_host h;
    struct fake_spec spec;
    void *self;
    uint64_t next;
    char path[128];
};

static void rig_open(struct rig *r, int64_t map_size, int64_t max_scan) {
    fake_spec_init(&r->spec, "kv", "store");
    r->spec.s.linked = true;
    fake_spec_str(&r->spec, "dir", r->path);
    if (map_size) fake_spec_int(&r->spec, "map_size", map_size);
    if (max_scan) fake_spec_int(&r->spec, "max_scan", max_scan);
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_kv_offramp.create(&r->spec.s, &r->h.f.h, &r->self, &d) != 0) fail_msg("create: %s", d.msg);
    assert_int_equal(tr_kv_offramp.start(r->self), 0);
}

static void rig_init(struct rig *r, const char *name, int64_t map_size, int64_t max_scan) {
    memset(r, 0, sizeof *r);
    assert_int_equal(uv_loop_init(&r->loop), 0);
    emit_host_init(&r->h, &r->loop, 1024);
    snprintf(r->path, sizeof r->path, "%s/%s", dir, name);
    rig_open(r, map_size, max_scan);
}

static void closed(void *arg) { *(bool *)arg = true; }

static void rig_close_store(struct rig *r) {
    bool done = false;
    tr_kv_offramp.close(r->self, closed, &done);
    assert_true(fake_run_until(&r->loop, fake_flag_set, &done));
    r->self = NULL;
    fake_spec_fini(&r->spec);
}

static void rig_fini(struct rig *r) {
    if (r->self) rig_close_store(r);
    assert_false(r->h.f.twice);
    emit_host_fini(&r->h);
    assert_int_equal(fake_drain_and_close(&r->loop), 0);
}

struct wait_tok {
    struct rig *r;
    uint64_t t;
};

static bool answered(void *arg) {
    struct wait_tok *w = arg;
    return w->r->h.f.acked[w->t] + w->r->h.f.failed[w->t] > 0;
}

/* Commands are answered after the group commit at the next loop turn. */
static void wait_answer(struct rig *r, uint64_t t) {
    struct wait_tok w = {r, t};
    assert_true(fake_run_until(&r->loop, answered, &w));
}

/* Send one command (JSON text) with an optional correlation; the response
 * must be the last emit, on the port wanted, answered as wanted. */
static const char *send_corr(struct rig *r, const char *json, const char *corr, bool want_err) {
    tr_value meta;
    assert_int_equal(tr_v_rec(1, &meta), 0);
    if (corr) {
        tr_value c;
        assert_int_equal(tr_v_cstr(corr, &c), 0);
        assert_int_equal(tr_rec_set(&meta, "correlation", 11, c), 0);
    }
    uint64_t t = r->next++;
    size_t before = r->h.n;
    struct tr_out_msg m = {.token = t, .transactional = true, .data = json, .len = strlen(json), .meta = &meta};
    tr_kv_offramp.send(r->self, &m);
    tr_value_unref(meta);
    assert_int_equal(r->h.n, before);   /* nothing before the commit */
    wait_answer(r, t);
    if (r->h.n != before + 1) fail_msg("expected one response to %s, got %zu", json, r->h.n - before);
    if (r->h.err[before] != want_err)
        fail_msg("expected %s for %s, got %s: %s", want_err ? "err" : "out", json,
                 r->h.err[before] ? "err" : "out", r->h.value[before]);
    assert_int_equal(r->h.token[before], t);
    if (want_err) assert_int_equal(r->h.f.failed[t], 1);
    else assert_int_equal(r->h.f.acked[t], 1);
    return r->h.value[before];
}

static const char *send_ok(struct rig *r, const char *json) { return send_corr(r, json, NULL, false); }
static const char *send_err(struct rig *r, const char *json) { return send_corr(r, json, NULL, true); }

/* "a" is YQ==, "b" Yg==, "c" Yw== in base64 (keys come back as binaries) */
static void put_get_delete(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, "pgd", 0, 0);
    assert_string_equal(send_ok(&r, "{\"get\":{\"key\":\"a\"}}"), "{\"ok\":{\"key\":\"YQ==\",\"value\":null}}");
    assert_string_equal(emit_last_meta(&r.h), "{\"kv\":{\"op\":\"get\"}}");
    /* put answers the previous value */
    assert_string_equal(send_ok(&r, "{\"put\":{\"key\":\"a\",\"value\":{\"x\":[1,2.5,\"s\"]}}}"),
                        "{\"ok\":{\"key\":\"YQ==\",\"value\":null}}");
    assert_string_equal(emit_last_meta(&r.h), "{\"kv\":{\"op\":\"put\"}}");
    assert_string_equal(send_ok(&r, "{\"put\":{\"key\":\"a\",\"value\":null}}"),
                        "{\"ok\":{\"key\":\"YQ==\",\"value\":{\"x\":[1,2.5,\"s\"]}}}");
    assert_string_equal(send_ok(&r, "{\"put\":{\"key\":\"a\",\"value\":7}}"),
                        "{\"ok\":{\"key\":\"YQ==\",\"value\":null}}");
    assert_string_equal(send_corr(&r, "{\"get\":{\"key\":\"a\"}}", "c-1", false),
                        "{\"ok\":{\"key\":\"YQ==\",\"value\":7}}");
    assert_string_equal(emit_last_meta(&r.h), "{\"kv\":{\"op\":\"get\"},\"correlation\":\"c-1\"}");
    /* delete answers the removed value; a second delete null */
    assert_string_equal(send_ok(&r, "{\"delete\":{\"key\":\"a\"}}"), "{\"ok\":{\"key\":\"YQ==\",\"value\":7}}");
    assert_string_equal(emit_last_meta(&r.h), "{\"kv\":{\"op\":\"delete\"}}");
    assert_string_equal(send_ok(&r, "{\"delete\":{\"key\":\"a\"}}"), "{\"ok\":{\"key\":\"YQ==\",\"value\":null}}");
    assert_string_equal(send_ok(&r, "{\"get\":{\"key\":\"a\"}}"), "{\"ok\":{\"key\":\"YQ==\",\"value\":null}}");
    rig_fini(&r);
}

static void values_are_stored_as_json_text(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, "enc", 0, 0);
    send_ok(&r, "{\"put\":{\"key\":\"k\",\"value\":{\"b\":[true,null],\"s\":\"\\u00e9\"}}}");
    rig_close_store(&r);
    /* what 0.11's json codec would have written, read back with lmdb's own tool */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "mdb_dump -p '%s'", r.path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[4096] = {0};
    size_t n = fread(out, 1, sizeof out - 1, p);
    pclose(p);
    out[n] = 0;
    if (!strstr(out, " k\n {\"b\":[true,null],\"s\":\"\\c3\\a9\"}\n"))
        fail_msg("expected the value as JSON text, got:\n%s", out);
    rig_open(&r, 0, 0);
    assert_string_equal(send_ok(&r, "{\"get\":{\"key\":\"k\"}}"),
                        "{\"ok\":{\"key\":\"aw==\",\"value\":{\"b\":[true,null],\"s\":\"\xc3\xa9\"}}}");
    rig_fini(&r);
}

static void scan_ranges(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, "scan", 0, 3);
    assert_string_equal(send_ok(&r, "{\"scan\":{}}"), "{\"ok\":[]}");
    const char *keys[] = {"c", "a", "b", "ab", "d"};
    for (int i = 0; i < 5; i++) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "{\"put\":{\"key\":\"%s\",\"value\":%d}}", keys[i], i);
        send_ok(&r, cmd);
    }
    /* [start, end) in byte order */
    assert_string_equal(send_ok(&r, "{\"scan\":{\"start\":\"ab\",\"end\":\"c\"}}"),
                        "{\"ok\":[{\"key\":\"YWI=\",\"value\":3},{\"key\":\"Yg==\",\"value\":2}]}");
    assert_string_equal(emit_last_meta(&r.h), "{\"kv\":{\"op\":\"scan\"}}");
    assert_string_equal(send_ok(&r, "{\"scan\":{\"start\":\"c\"}}"),
                        "{\"ok\":[{\"key\":\"Yw==\",\"value\":0},{\"key\":\"ZA==\",\"value\":4}]}");
    assert_string_equal(send_ok(&r, "{\"scan\":{\"end\":\"ab\"}}"), "{\"ok\":[{\"key\":\"YQ==\",\"value\":1}]}");
    assert_string_equal(send_ok(&r, "{\"scan\":{\"start\":\"b\",\"end\":\"b\"}}"), "{\"ok\":[]}");
    /* a non-bytes bound is no bound (0.11's get_bytes); max_scan 3 truncates */
    assert_string_equal(send_ok(&r, "{\"scan\":{\"start\":1}}"),
                        "{\"ok\":[{\"key\":\"YQ==\",\"value\":1},{\"key\":\"YWI=\",\"value\":3},"
                        "{\"key\":\"Yg==\",\"value\":2}]}");
    assert_string_equal(emit_last_meta(&r.h), "{\"kv\":{\"op\":\"scan\",\"truncated\":true}}");
    rig_fini(&r);
}

static void cas(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, "cas", 0, 0);
    /* no old: the key must be absent */
    assert_string_equal(send_ok(&r, "{\"cas\":{\"key\":\"a\",\"new\":1}}"), "{\"ok\":{\"key\":\"YQ==\",\"value\":null}}");
    assert_string_equal(emit_last_meta(&r.h), "{\"kv\":{\"op\":\"cas\"}}");
    assert_string_equal(send_ok(&r, "{\"cas\":{\"key\":\"a\",\"new\":2}}"),
                        "{\"key\":\"YQ==\",\"error\":{\"current\":1,\"proposed\":2}}");
    /* old matching swaps; old not matching answers current and proposed on out */
    assert_string_equal(send_ok(&r, "{\"cas\":{\"key\":\"a\",\"old\":1,\"new\":{\"v\":2}}}"),
                        "{\"ok\":{\"key\":\"YQ==\",\"value\":null}}");
    assert_string_equal(send_ok(&r, "{\"cas\":{\"key\":\"a\",\"old\":1,\"new\":3}}"),
                        "{\"key\":\"YQ==\",\"error\":{\"current\":{\"v\":2},\"proposed\":3}}");
    assert_string_equal(send_ok(&r, "{\"get\":{\"key\":\"a\"}}"), "{\"ok\":{\"key\":\"YQ==\",\"value\":{\"v\":2}}}");
    /* old null means a stored null, not absence */
    assert_string_equal(send_ok(&r, "{\"cas\":{\"key\":\"z\",\"old\":null,\"new\":1}}"),
                        "{\"key\":\"eg==\",\"error\":{\"current\":null,\"proposed\":1}}");
    /* no new deletes */
    assert_string_equal(send_ok(&r, "{\"cas\":{\"key\":\"a\",\"old\":{\"v\":2}}}"),
                        "{\"ok\":{\"key\":\"YQ==\",\"value\":null}}");
    assert_string_equal(send_ok(&r, "{\"get\":{\"key\":\"a\"}}"), "{\"ok\":{\"key\":\"YQ==\",\"value\":null}}");
    rig_fini(&r);
}

static void bad_commands_go_to_err_and_fail(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, "bad", 0, 0);
    static const struct {
        const char *cmd, *value, *meta;
    } cases[] = {
        /* 0.11 formats the event with tremor-value's Display: Rust's Debug inside */
        {"{\"frob\":{\"key\":\"a\"}}",
         "{\"key\":null,\"error\":\"Invalid KV command: {\\\"frob\\\": Object({\\\"key\\\": String(\\\"a\\\")})}\"}",
         "{\"kv\":{\"op\":null},\"error\":\"Invalid KV command: {\\\"frob\\\": Object({\\\"key\\\": String(\\\"a\\\")})}\"}"},
        {"{\"garbage\":true}", "{\"key\":null,\"error\":\"Invalid KV command: {\\\"garbage\\\": Static(Bool(true))}\"}", NULL},
        {"[1,-2.5,3.0,null,\"q\\\"\\n\"]",
         "{\"key\":null,\"error\":\"Invalid KV command: [Static(I64(1)), Static(F64(-2.5)), Static(F64(3.0)), "
         "Static(Null), String(\\\"q\\\\\\\"\\\\n\\\")]\"}", NULL},
        {"\"get\"", "{\"key\":null,\"error\":\"Invalid KV command: get\"}", NULL},
        {"18446744073709551615", "{\"key\":null,\"error\":\"Invalid KV command: 18446744073709551615\"}", NULL},
        {"{\"get\":{}}", "{\"key\":null,\"error\":\"Missing or invalid `key` field\"}",
         "{\"kv\":{\"op\":null},\"error\":\"Missing or invalid `key` field\"}"},
        {"{\"get\":{\"key\":1}}", "{\"key\":null,\"error\":\"Missing or invalid `key` field\"}", NULL},
        {"{\"delete\":\"a\"}", "{\"key\":null,\"error\":\"Missing or invalid `key` field\"}", NULL},
        {"{\"cas\":{\"key\":[]}}", "{\"key\":null,\"error\":\"Missing or invalid `key` field\"}", NULL},
        {"{\"put\":{\"key\":\"a\"}}", "{\"key\":null,\"error\":\"Missing `value` field\"}", NULL},
        {"{\"get\":{\"key\":\"\"}}", "{\"key\":\"\",\"error\":\"key must be 1 to 511 bytes (LMDB), found 0\"}",
         "{\"kv\":{\"op\":\"get\"},\"error\":\"key must be 1 to 511 bytes (LMDB), found 0\"}"},
        {"{\"get\":{\"key\":\"a\"", NULL, NULL},   /* not JSON: error text from the decoder */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = send_err(&r, cases[i].cmd);
        if (cases[i].value && strcmp(got, cases[i].value) != 0)
            fail_msg("case %zu: expected %s, got %s", i, cases[i].value, got);
        if (!cases[i].value && !strstr(got, "cannot decode the command with codec json"))
            fail_msg("case %zu: expected a decode error, got %s", i, got);
        if (cases[i].meta && strcmp(emit_last_meta(&r.h), cases[i].meta) != 0)
            fail_msg("case %zu: expected meta %s, got %s", i, cases[i].meta, emit_last_meta(&r.h));
    }
    /* a key of 512 bytes is over LMDB's limit; the store goes on */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "{\"put\":{\"key\":\"%0512d\",\"value\":1}}", 0);
    assert_non_null(strstr(send_err(&r, cmd), "key must be 1 to 511 bytes (LMDB), found 512"));
    assert_non_null(strstr(emit_last_meta(&r.h), "{\"kv\":{\"op\":\"put\"},\"error\":\"key must be"));
    send_corr(&r, "{\"get\":{\"key\":1}}", "corr", true);
    assert_string_equal(emit_last_meta(&r.h),
                        "{\"kv\":{\"op\":null},\"error\":\"Missing or invalid `key` field\",\"correlation\":\"corr\"}");
    assert_string_equal(send_ok(&r, "{\"put\":{\"key\":\"a\",\"value\":1}}"), "{\"ok\":{\"key\":\"YQ==\",\"value\":null}}");
    rig_fini(&r);
}

static void one_turn_is_one_commit(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, "group", 0, 0);
    /* a put, a get of it and a bad command in one loop turn: answered in
     * order after one commit; the get sees the put */
    const char *cmds[] = {"{\"put\":{\"key\":\"g\",\"value\":1}}", "{\"get\":{\"key\":\"g\"}}", "{\"x\":1}",
                          "{\"put\":{\"key\":\"g\",\"value\":2}}"};
    for (uint64_t i = 0; i < 4; i++) {
        struct tr_out_msg m = {.token = i, .transactional = true, .data = cmds[i], .len = strlen(cmds[i])};
        tr_kv_offramp.send(r.self, &m);
    }
    assert_int_equal(r.h.f.nanswers, 0);
    wait_answer(&r, 3);
    assert_int_equal(r.h.n, 4);
    assert_string_equal(r.h.value[1], "{\"ok\":{\"key\":\"Zw==\",\"value\":1}}");
    assert_true(r.h.err[2]);
    assert_string_equal(r.h.value[3], "{\"ok\":{\"key\":\"Zw==\",\"value\":1}}");
    assert_int_equal(r.h.f.acked[0] + r.h.f.acked[1] + r.h.f.acked[3], 3);
    assert_int_equal(r.h.f.failed[2], 1);
    assert_false(r.h.f.order_broken);
    r.next = 4;
    /* what a close finds queued is committed and answered before done */
    const char *last = "{\"put\":{\"key\":\"h\",\"value\":3}}";
    struct tr_out_msg m = {.token = 4, .transactional = true, .data = last, .len = strlen(last)};
    tr_kv_offramp.send(r.self, &m);
    rig_close_store(&r);
    assert_int_equal(r.h.f.acked[4], 1);
    rig_open(&r, 0, 0);
    r.next = 5;
    assert_string_equal(send_ok(&r, "{\"get\":{\"key\":\"h\"}}"), "{\"ok\":{\"key\":\"aA==\",\"value\":3}}");
    rig_fini(&r);
}

static void batches_answer_each_command(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, "batch", 0, 0);
    /* what generic::batch makes of three events, each with its $correlation */
    const char *batch = "[{\"data\":{\"value\":{\"put\":{\"key\":\"a\",\"value\":1}},\"meta\":{\"correlation\":\"c0\"},"
                        "\"ingest_ns\":1,\"kind\":null,\"is_batch\":false}},"
                        "{\"data\":{\"value\":{\"get\":{\"key\":\"a\"}},\"meta\":{\"correlation\":\"c1\"},"
                        "\"ingest_ns\":2,\"kind\":null,\"is_batch\":false}}]";
    tr_value meta = tr_v_null();
    struct tr_out_msg m = {.token = 0, .transactional = true, .data = batch, .len = strlen(batch), .meta = &meta};
    tr_kv_offramp.send(r.self, &m);
    wait_answer(&r, 0);
    assert_int_equal(r.h.n, 2);
    assert_string_equal(r.h.value[0], "{\"ok\":{\"key\":\"YQ==\",\"value\":null}}");
    assert_string_equal(r.h.meta[0], "{\"kv\":{\"op\":\"put\"},\"correlation\":\"c0\"}");
    assert_string_equal(r.h.value[1], "{\"ok\":{\"key\":\"YQ==\",\"value\":1}}");
    assert_string_equal(r.h.meta[1], "{\"kv\":{\"op\":\"get\"},\"correlation\":\"c1\"}");
    assert_int_equal(r.h.f.acked[0], 1);
    /* one bad command in a batch: every command runs, the event fails */
    const char *bad = "[{\"data\":{\"value\":{\"nope\":1},\"meta\":{}}},"
                      "{\"data\":{\"value\":{\"delete\":{\"key\":\"a\"}},\"meta\":{}}}]";
    struct tr_out_msg m2 = {.token = 1, .transactional = true, .data = bad, .len = strlen(bad), .meta = &meta};
    tr_kv_offramp.send(r.self, &m2);
    wait_answer(&r, 1);
    assert_int_equal(r.h.n, 4);
    assert_true(r.h.err[2]);
    assert_false(r.h.err[3]);
    assert_string_equal(r.h.value[3], "{\"ok\":{\"key\":\"YQ==\",\"value\":1}}");
    assert_int_equal(r.h.f.failed[1], 1);
    r.next = 2;
    rig_fini(&r);
}

static void full_map_is_an_error_not_a_crash(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, "full", 1048576, 0);
    /* 64 KiB values: the 1 MiB map fills within 16 puts */
    size_t n = 65536;
    char *cmd = malloc(n + 64);
    assert_non_null(cmd);
    bool full = false;
    for (int i = 0; i < 40 && !full; i++) {
        int k = snprintf(cmd, 64, "{\"put\":{\"key\":\"k%d\",\"value\":\"", i);
        memset(cmd + k, 'x', n);
        strcpy(cmd + k + n, "\"}}");
        tr_value meta = tr_v_null();
        uint64_t t = r.next++;
        struct tr_out_msg m = {.token = t, .transactional = true, .data = cmd, .len = strlen(cmd), .meta = &meta};
        tr_kv_offramp.send(r.self, &m);
        wait_answer(&r, t);
        if (r.h.err[r.h.n - 1]) {
            full = true;
            assert_non_null(strstr(emit_last(&r.h), "MDB_MAP_FULL"));
            assert_int_equal(r.h.f.failed[t], 1);
        }
    }
    free(cmd);
    assert_true(full);
    /* what was committed stays readable, deletes still work */
    assert_non_null(strstr(send_ok(&r, "{\"get\":{\"key\":\"k0\"}}"), "xxxx"));
    send_ok(&r, "{\"delete\":{\"key\":\"k0\"}}");
    rig_fini(&r);
}

static void data_survives_a_reopen(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, "reopen", 0, 0);
    send_ok(&r, "{\"put\":{\"key\":\"kept\",\"value\":[1,{\"a\":\"b\"}]}}");
    rig_close_store(&r);
    rig_open(&r, 0, 0);
    assert_string_equal(send_ok(&r, "{\"get\":{\"key\":\"kept\"}}"),
                        "{\"ok\":{\"key\":\"a2VwdA==\",\"value\":[1,{\"a\":\"b\"}]}}");
    rig_fini(&r);
}

static void unlinked_answers_without_responses(void **state) {
    (void)state;
    struct rig r;
    memset(&r, 0, sizeof r);
    assert_int_equal(uv_loop_init(&r.loop), 0);
    emit_host_init(&r.h, &r.loop, 8);
    snprintf(r.path, sizeof r.path, "%s/unlinked", dir);
    fake_spec_init(&r.spec, "kv", "store");
    fake_spec_str(&r.spec, "dir", r.path);
    struct tr_diag d;
    assert_int_equal(tr_kv_offramp.create(&r.spec.s, &r.h.f.h, &r.self, &d), 0);
    const char *cmds[] = {"{\"put\":{\"key\":\"a\",\"value\":1}}", "{\"bad\":1}", "{\"get\":{\"key\":\"a\"}}"};
    for (int i = 0; i < 3; i++) {
        struct tr_out_msg m = {.token = (uint64_t)i, .transactional = true, .data = cmds[i], .len = strlen(cmds[i])};
        tr_kv_offramp.send(r.self, &m);
    }
    /* non-transactional and unlinked: nothing to answer */
    struct tr_out_msg m = {.token = 0, .transactional = false, .data = cmds[1], .len = strlen(cmds[1])};
    tr_kv_offramp.send(r.self, &m);
    wait_answer(&r, 2);
    assert_int_equal(r.h.n, 0);
    assert_int_equal(r.h.f.acked[0], 1);
    assert_int_equal(r.h.f.failed[1], 1);
    assert_int_equal(r.h.f.acked[2], 1);
    assert_int_equal(r.h.f.nanswers, 3);
    rig_fini(&r);
}

static void config_errors(void **state) {
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct emit_host h;
    emit_host_init(&h, &loop, 1);
    char file[128];
    snprintf(file, sizeof file, "%s/plainfile", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    static const struct {
        const char *key;
        int64_t num;
        const char *str;
        const char *want;
    } cases[] = {
        {NULL, 0, NULL, "config.dir"},
        {"map_size", 1000, NULL, "config.map_size"},
        {"max_scan", 0, NULL, "config.max_scan"},
        {"dir", 0, "FILE", "cannot be created"},
        {"nope", 1, NULL, "nope"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fake_spec sp;
        fake_spec_init(&sp, "kv", "store");
        if (cases[i].key && cases[i].str) fake_spec_str(&sp, cases[i].key, strcmp(cases[i].str, "FILE") ? cases[i].str : file);
        else if (cases[i].key) fake_spec_int(&sp, cases[i].key, cases[i].num);
        if (!cases[i].key || strcmp(cases[i].key, "dir") != 0) {
            char p[160];
            snprintf(p, sizeof p, "%s/cfg%zu", dir, i);
            if (cases[i].key) fake_spec_str(&sp, "dir", p);
        }
        void *self = NULL;
        struct tr_diag d;
        tr_diag_clear(&d);
        int rc = tr_kv_offramp.create(&sp.s, &h.f.h, &self, &d);
        if (rc == 0 || !strstr(d.msg, cases[i].want))
            fail_msg("case %zu: expected '%s', got %d '%s'", i, cases[i].want, rc, d.msg);
        assert_null(self);
        fake_spec_fini(&sp);
    }
    emit_host_fini(&h);
    assert_int_equal(fake_drain_and_close(&loop), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(put_get_delete),
        cmocka_unit_test(values_are_stored_as_json_text),
        cmocka_unit_test(scan_ranges),
        cmocka_unit_test(cas),
        cmocka_unit_test(bad_commands_go_to_err_and_fail),
        cmocka_unit_test(one_turn_is_one_commit),
        cmocka_unit_test(batches_answer_each_command),
        cmocka_unit_test(full_map_is_an_error_not_a_crash),
        cmocka_unit_test(data_survives_a_reopen),
        cmocka_unit_test(unlinked_answers_without_responses),
        cmocka_unit_test(config_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
