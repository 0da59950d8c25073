/* test_file_in.c - the file onramp with a fake host: lines across chunks,
 * CRLF, a last line without newline, .xz (whole and truncated), over-long
 * lines, the breaker, sleep_on_done, config errors, close mid-read. */
/* conn.h first: its ops have a member named fail, which cmocka.h makes a macro */
#include "connectors/conn.h"
#include "codec/proc.h"
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

extern const struct tr_onramp_ops tr_file_onramp;

static char dir[64];

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tr_file_in_XXXXXX");
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

/* Compress text into name; keep only the first keep bytes (0: all). */
static void write_xz(const char *name, const char *text, size_t len, size_t keep) {
    size_t cap = len + 4096, out = 0;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    assert_int_equal(lzma_easy_buffer_encode(1, LZMA_CHECK_CRC64, NULL, (const uint8_t *)text, len, buf,
                                             &out, cap),
                     LZMA_OK);
    write_file(name, buf, keep && keep < out ? keep : out);
    free(buf);
}

/* 20000 lines "line <i> " padded to varied lengths, CRLF on every 7th,
 * an empty line every 1000th, the last one without a newline. */
static char *make_text(size_t *len, size_t *nlines) {
    size_t cap = 20000 * 80, off = 0, n = 0;
    char *t = malloc(cap);
    assert_non_null(t);
    for (size_t i = 0; i < 20000; i++) {
        if (i % 1000 == 998) {
            t[off++] = '\n';
            n++;
            continue;
        }
        off += (size_t)sprintf(t + off, "line %zu %.*s", i, (int)(i % 50), "==================================================");
        if (i == 19999) break;
        if (i % 7 == 0) t[off++] = '\r';
        t[off++] = '\n';
        n++;
    }
    *len = off;
    *nlines = n + 1;
    return t;
}

static void check_frames(const struct fake_in *in) {
    size_t k = 0;
    char want[96];
    for (size_t i = 0; i < 20000; i++, k++) {
        if (i % 1000 == 998) {
            snprintf(want, sizeof want, "%s", "");
        } else {
            snprintf(want, sizeof want, "line %zu %.*s", i, (int)(i % 50),
                     "==================================================");
        }
        if (k >= in->n) fail_msg("only %zu frames", in->n);
        if (strcmp(in->frames[k], want) != 0) fail_msg("frame %zu: expected '%s', got '%s'", k, want, in->frames[k]);
    }
}

struct rig {
    uv_loop_t loop;
    struct fake_in in;
    struct fake_spec spec;
    void *self;
    bool closed;
    size_t trigger_at;
};

static void rig_init(struct rig *r, const char *name) {
    memset(r, 0, sizeof *r);
    uv_loop_init(&r->loop);
    fake_in_init(&r->in, &r->loop);
    fake_spec_init(&r->spec, "file", "in");
    if (name) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        fake_spec_str(&r->spec, "source", path);
    }
}

static int create(struct rig *r, struct tr_diag *d) {
    tr_diag_clear(d);
    r->self = NULL;
    return tr_file_onramp.create(&r->spec.s, &r->in.h, &r->self, d);
}

static bool is_done(void *arg) { return ((struct rig *)arg)->in.dones > 0; }

static void rig_fini(struct rig *r) {
    if (r->self) {
        tr_file_onramp.close(r->self, fake_set_flag, &r->closed);
        assert_true(fake_run_until(&r->loop, fake_flag_set, &r->closed));
    }
    fake_spec_fini(&r->spec);
    fake_in_fini(&r->in);
    assert_int_equal(fake_drain_and_close(&r->loop), 0);
}

static void run_file(struct rig *r) {
    struct tr_diag d;
    if (create(r, &d) != 0) fail_msg("create: %s", d.msg);
    assert_int_equal(tr_file_onramp.start(r->self), 0);
    assert_true(fake_run_until(&r->loop, is_done, r));
}

static void reads_every_line_in_order(void **state) {
    (void)state;
    size_t len, nlines;
    char *text = make_text(&len, &nlines);
    write_file("big.json", text, len);
    free(text);
    struct rig r;
    rig_init(&r, "big.json");
    run_file(&r);
    /* expected: every line once, in order, CR stripped, empty lines kept */
    assert_int_equal(r.in.n, nlines);
    check_frames(&r.in);
    assert_int_equal(r.in.stream_ends, 1);
    assert_int_equal(r.in.dones, 1);
    rig_fini(&r);
}

static void reads_xz_files(void **state) {
    (void)state;
    size_t len, nlines;
    char *text = make_text(&len, &nlines);
    write_xz("big.json.xz", text, len, 0);
    free(text);
    struct rig r;
    rig_init(&r, "big.json.xz");
    run_file(&r);
    assert_int_equal(r.in.n, nlines);
    check_frames(&r.in);
    rig_fini(&r);
}

static void truncated_xz_keeps_what_decoded(void **state) {
    (void)state;
    size_t len, nlines;
    char *text = make_text(&len, &nlines);
    write_xz("cut.json.xz", text, len, 20000);
    free(text);
    struct rig r;
    rig_init(&r, "cut.json.xz");
    run_file(&r);
    /* expected: a prefix of the lines (possibly a partial last one), then done */
    assert_true(r.in.n > 0 && r.in.n < nlines);
    for (size_t i = 0; i + 1 < r.in.n; i++) {
        if (i % 1000 == 998) continue;
        char want[32];
        snprintf(want, sizeof want, "line %zu ", i);
        assert_memory_equal(r.in.frames[i], want, strlen(want));
    }
    assert_int_equal(r.in.dones, 1);
    rig_fini(&r);
}

static void trigger_at(struct fake_in *in, void *arg) {
    struct rig *r = arg;
    if (in->n == r->trigger_at) tr_file_onramp.trigger(r->self);
}

static bool got_trigger_count(void *arg) {
    struct rig *r = arg;
    return r->in.n >= r->trigger_at;
}

/* Start reading name with on_frame called at each line; run until line 100
 * and then the loop for 200 more turns. */
static void run_past_100(struct rig *r, const char *name, void (*on_frame)(struct fake_in *, void *)) {
    rig_init(r, name);
    r->trigger_at = 100;
    r->in.on_frame = on_frame;
    r->in.on_frame_arg = r;
    struct tr_diag d;
    assert_int_equal(create(r, &d), 0);
    assert_int_equal(tr_file_onramp.start(r->self), 0);
    assert_true(fake_run_until(&r->loop, got_trigger_count, r));
    for (int i = 0; i < 200; i++) uv_run(&r->loop, UV_RUN_NOWAIT);
}

static void breaker_stops_mid_chunk(void **state) {
    (void)state;
    size_t len, nlines;
    char *text = make_text(&len, &nlines);
    write_file("bp.json", text, len);
    free(text);
    struct rig r;
    run_past_100(&r, "bp.json", trigger_at);
    /* expected: nothing after the trigger however long the loop runs */
    assert_int_equal(r.in.n, 100);
    assert_int_equal(r.in.dones, 0);
    tr_file_onramp.restore(r.self);
    assert_true(fake_run_until(&r.loop, is_done, &r));
    assert_int_equal(r.in.n, nlines);
    check_frames(&r.in);
    rig_fini(&r);
}

/* As the runtime does it: the emit that fills the WAL answers
 * TR_ONRAMP_PAUSED and the trigger comes later, from the loop. Nothing may
 * be emitted after that answer, even where the onramp decodes chunk after
 * chunk without going back to the loop (xz). */
static void paused_at(struct fake_in *in, void *arg) {
    struct rig *r = arg;
    if (in->n == r->trigger_at) in->rc_once = TR_ONRAMP_PAUSED;
}

static void paused_answer_stops_at_once(void **state) {
    (void)state;
    size_t len, nlines;
    char *text = make_text(&len, &nlines);
    write_file("pa.json", text, len);
    write_xz("pa.json.xz", text, len, 0);
    free(text);
    const char *names[] = {"pa.json", "pa.json.xz"};
    for (int k = 0; k < 2; k++) {
        struct rig r;
        run_past_100(&r, names[k], paused_at);
        if (r.in.n != 100) fail_msg("%s: %zu lines emitted after the answer at 100", names[k], r.in.n - 100);
        tr_file_onramp.trigger(r.self);   /* the loop's trigger, then the restore */
        tr_file_onramp.restore(r.self);
        assert_true(fake_run_until(&r.loop, is_done, &r));
        assert_int_equal(r.in.n, nlines);
        check_frames(&r.in);
        rig_fini(&r);
    }
}

static void over_long_lines_are_dropped(void **state) {
    (void)state;
    size_t big = TR_PROC_MAX_LINE + 100;
    char *t = malloc(big + 16);
    assert_non_null(t);
    memcpy(t, "a\n", 2);
    memset(t + 2, 'x', big);
    memcpy(t + 2 + big, "\nok\n", 4);
    write_file("long.txt", t, big + 6);
    free(t);
    struct rig r;
    rig_init(&r, "long.txt");
    run_file(&r);
    assert_int_equal(r.in.n, 2);
    assert_string_equal(r.in.frames[0], "a");
    assert_string_equal(r.in.frames[1], "ok");
    rig_fini(&r);
}

static void sleep_on_done_waits(void **state) {
    (void)state;
    write_file("s.txt", "1\n2\n", 4);
    struct rig r;
    rig_init(&r, "s.txt");
    fake_spec_int(&r.spec, "sleep_on_done", 30);
    fake_spec_bool(&r.spec, "close_on_done", true);
    run_file(&r);
    assert_int_equal(r.in.n, 2);
    assert_int_equal(r.in.stream_ends, 1);
    assert_int_equal(r.in.shutdowns, 1);   /* close_on_done asks the server to stop */
    rig_fini(&r);
}

static void close_mid_read(void **state) {
    (void)state;
    size_t len, nlines;
    char *text = make_text(&len, &nlines);
    write_file("c.json", text, len);
    free(text);
    struct rig r;
    rig_init(&r, "c.json");
    struct tr_diag d;
    assert_int_equal(create(&r, &d), 0);
    assert_int_equal(tr_file_onramp.start(r.self), 0);
    rig_fini(&r);   /* closes with a read in flight */
    assert_true(r.closed);
}

static void config_errors_are_located(void **state) {
    (void)state;
    struct {
        const char *key, *val;
        int kind;   /* 0 str, 1 int */
        const char *want;
    } cases[] = {
        {NULL, NULL, 0, "config.source (the file to read) is required"},
        {"source", "/nonexistent/x.json", 0, "cannot open '/nonexistent/x.json'"},
        {"sleep_on_done", NULL, 1, "config.sleep_on_done must be at most"},
        {"close_on_done", "yes", 0, "config.close_on_done must be true or false"},
        {"path", "x", 0, "unknown config key 'path' (known: source, close_on_done, sleep_on_done)"},
        /* the map's wording: what was found, and the key's help */
        {"close_on_done", "no", 0, "config.close_on_done must be true or false, found string "
                                   "(stop the server at the end of the file)"},
        {"sleep_on_done", NULL, 1, "config.sleep_on_done must be at most 86400000, found 100000000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct rig r;
        rig_init(&r, cases[i].key && strcmp(cases[i].key, "source") != 0 ? "s.txt" : NULL);
        if (cases[i].kind == 0 && cases[i].key) fake_spec_str(&r.spec, cases[i].key, cases[i].val);
        if (cases[i].kind == 1) fake_spec_int(&r.spec, cases[i].key, 100000000);
        struct tr_diag d;
        int rc = create(&r, &d);
        if (rc == 0 || !strstr(d.msg, cases[i].want))
            fail_msg("case %zu: expected '%s', got %d '%s'", i, cases[i].want, rc, d.msg);
        assert_null(r.self);
        assert_int_equal(d.line, 3);
        rig_fini(&r);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_every_line_in_order),
        cmocka_unit_test(reads_xz_files),
        cmocka_unit_test(truncated_xz_keeps_what_decoded),
        cmocka_unit_test(breaker_stops_mid_chunk),
        cmocka_unit_test(paused_answer_stops_at_once),
        cmocka_unit_test(over_long_lines_are_dropped),
        cmocka_unit_test(sleep_on_done_waits),
        cmocka_unit_test(close_mid_read),
        cmocka_unit_test(config_errors_are_located),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
