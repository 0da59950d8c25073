/* test_api_state.c - the REST API's kept state (api/state.h): what is
 * written comes back on open, a file cut at any byte or with any byte
 * flipped is refused with a located error (never read as an empty or
 * partial state), and a change whose write fails leaves the old file and
 * the state in memory as they were. */
#include "api/state.h"
#include "codec/json.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char dir[64], path[128], tmp[128];

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tr_api_state_XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof path, "%s/" TR_API_STATE_FILE, dir);
    snprintf(tmp, sizeof tmp, "%s/" TR_API_STATE_FILE ".tmp", dir);
    tr_log_set_level(TR_LOG_ERROR);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static tr_value json(const char *text) {
    tr_value v;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_json_decode(text, strlen(text), &v, &d), 0);
    return v;
}

static char *slurp(size_t *len) {
    char *buf = NULL;
    int rc = tr_file_read(path, 1 << 26, &buf, len);
    assert_int_equal(rc, 0);
    return buf;
}

static void spit(const char *buf, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
}

/* The body kept on disk, as the JSON text of its value. */
static void body_is(const char *expect) {
    size_t len;
    char *buf = slurp(&len);
    tr_value v, e = json(expect);
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_api_state_decode(path, buf, len, &v, &d), 0);
    if (!tr_value_eq(&v, &e)) {
        struct tr_buf b;
        tr_buf_init(&b);
        tr_json_encode(&v, &b);
        fail_msg("expected %s\nactual   %.*s", expect, (int)b.len, b.data);
    }
    tr_value_unref(v);
    tr_value_unref(e);
    tr_free(buf);
}

#define EMPTY "\"pipeline\":[],\"onramp\":[],\"offramp\":[],\"binding\":[],\"mapping\":[]"

/* A fresh state with one of each kind of entry. */
static struct tr_api_state *filled(void) {
    struct tr_api_state *s;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_api_state_open(dir, &s, &d), 0);
    tr_value on = json("{\"id\":\"m\",\"type\":\"metronome\",\"config\":{\"interval\":10}}");
    tr_value off = json("{\"id\":\"ws\",\"type\":\"ws\",\"config\":{\"url\":\"ws://x/\"}}");
    tr_value b = json("{\"id\":\"b\",\"links\":{\"/onramp/m/{instance}/out\":[\"/pipeline/q/{instance}/in\"]}}");
    tr_value q, vars = json("{\"instance\":\"01\"}");
    assert_int_equal(tr_v_cstr("#!config id = \"q\"\nselect event from in into out;\n", &q), 0);
    assert_int_equal(tr_api_state_publish(s, TR_WORLD_PIPELINE, "q", &q, &d), 0);
    assert_int_equal(tr_api_state_publish(s, TR_WORLD_ONRAMP, "m", &on, &d), 0);
    assert_int_equal(tr_api_state_publish(s, TR_WORLD_OFFRAMP, "ws", &off, &d), 0);
    assert_int_equal(tr_api_state_publish(s, TR_WORLD_BINDING, "b", &b, &d), 0);
    assert_int_equal(tr_api_state_bind(s, "/binding/b/01", &vars, &d), 0);
    tr_value_unref(on);
    tr_value_unref(off);
    tr_value_unref(b);
    tr_value_unref(q);
    tr_value_unref(vars);
    return s;
}

static const char *FILLED =
    "{\"pipeline\":[{\"id\":\"q\",\"query\":\"#!config id = \\\"q\\\"\\nselect event from in into out;\\n\"}],"
    "\"onramp\":[{\"id\":\"m\",\"type\":\"metronome\",\"config\":{\"interval\":10}}],"
    "\"offramp\":[{\"id\":\"ws\",\"type\":\"ws\",\"config\":{\"url\":\"ws://x/\"}}],"
    "\"binding\":[{\"id\":\"b\",\"links\":{\"/onramp/m/{instance}/out\":[\"/pipeline/q/{instance}/in\"]}}],"
    "\"mapping\":[{\"url\":\"/binding/b/01\",\"vars\":{\"instance\":\"01\"}}]}";

static void changes_round_trip_through_the_file(void **state) {
    (void)state;
    struct tr_diag d;
    tr_diag_clear(&d);
    struct tr_api_state *s = filled();
    body_is(FILLED);
    tr_api_state_destroy(s);
    /* reopened, the same state: removing an entry gives back what was put */
    assert_int_equal(tr_api_state_open(dir, &s, &d), 0);
    tr_value got;
    assert_int_equal(tr_api_state_unpublish(s, TR_WORLD_PIPELINE, "q", &got, &d), 0);
    assert_int_equal(got.type, TR_STR);
    assert_string_equal(got.as.s->data, "#!config id = \"q\"\nselect event from in into out;\n");
    tr_value_unref(got);
    assert_int_equal(tr_api_state_unbind(s, "/binding/b/01", &got, &d), 0);
    tr_value e = json("{\"instance\":\"01\"}");
    assert_true(tr_value_eq(&got, &e));
    tr_value_unref(got);
    tr_value_unref(e);
    /* what is not kept: nothing to remove, nothing written */
    assert_int_equal(tr_api_state_unpublish(s, TR_WORLD_ONRAMP, "from-a-file", &got, &d), 0);
    assert_int_equal(got.type, TR_NULL);
    assert_int_equal(tr_api_state_unbind(s, "/binding/b/01", &got, &d), 0);
    assert_int_equal(got.type, TR_NULL);
    /* system artefacts are never kept */
    tr_value sys = json("{\"id\":\"system::x\",\"type\":\"stdout\"}");
    assert_int_equal(tr_api_state_publish(s, TR_WORLD_OFFRAMP, "system::x", &sys, &d), 0);
    tr_value_unref(sys);
    tr_api_state_destroy(s);
    body_is("{\"pipeline\":[],"
            "\"onramp\":[{\"id\":\"m\",\"type\":\"metronome\",\"config\":{\"interval\":10}}],"
            "\"offramp\":[{\"id\":\"ws\",\"type\":\"ws\",\"config\":{\"url\":\"ws://x/\"}}],"
            "\"binding\":[{\"id\":\"b\",\"links\":{\"/onramp/m/{instance}/out\":[\"/pipeline/q/{instance}/in\"]}}],"
            "\"mapping\":[]}");
    /* a missing directory is created, with its parents */
    char sub[160];
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    assert_int_equal(tr_api_state_open(sub, &s, &d), 0);
    tr_api_state_destroy(s);
    unlink(path);
}

static void unbind_removes_the_newest_of_a_url(void **state) {
    (void)state;
    struct tr_diag d;
    tr_diag_clear(&d);
    struct tr_api_state *s;
    assert_int_equal(tr_api_state_open(dir, &s, &d), 0);
    tr_value a = json("{\"instance\":\"a\"}"), b = json("{\"instance\":\"b\"}"), got;
    assert_int_equal(tr_api_state_bind(s, "/binding/x/1", &a, &d), 0);
    assert_int_equal(tr_api_state_bind(s, "/binding/y/1", &a, &d), 0);
    assert_int_equal(tr_api_state_bind(s, "/binding/x/1", &b, &d), 0);
    assert_int_equal(tr_api_state_unbind(s, "/binding/x/1", &got, &d), 0);
    assert_true(tr_value_eq(&got, &b));
    tr_value_unref(got);
    body_is("{" EMPTY ",\"mapping\":[{\"url\":\"/binding/x/1\",\"vars\":{\"instance\":\"a\"}},"
            "{\"url\":\"/binding/y/1\",\"vars\":{\"instance\":\"a\"}}]}");
    tr_value_unref(a);
    tr_value_unref(b);
    tr_api_state_destroy(s);
    unlink(path);
}

/* open must refuse buf with an error naming the file; returns the rc. */
static int refused(const char *buf, size_t len, struct tr_diag *d) {
    spit(buf, len);
    struct tr_api_state *s = (void *)1;
    tr_diag_clear(d);
    int rc = tr_api_state_open(dir, &s, d);
    assert_null(s);
    assert_true(rc == TR_ECORRUPT || rc == TR_EPARSE);
    assert_string_equal(d->file, path);
    assert_true(d->msg[0]);
    return rc;
}

static void damaged_files_are_refused_with_a_location(void **state) {
    (void)state;
    struct tr_api_state *s = filled();
    tr_api_state_destroy(s);
    size_t len;
    char *good = slurp(&len);
    struct tr_diag d;
    /* cut at every byte: never read as a smaller state */
    for (size_t cut = 0; cut < len; cut++) refused(good, cut, &d);
    refused(good, 0, &d);
    assert_non_null(strstr(d.msg, "empty"));
    refused(good, len - 1, &d);
    assert_non_null(strstr(d.msg, "cut short"));
    assert_int_equal(d.line, 2);
    /* every byte flipped: the header or the checksum catches it */
    char *bad = tr_malloc(len);
    for (size_t i = 0; i < len; i++) {
        memcpy(bad, good, len);
        bad[i] ^= 0x20;
        refused(bad, len, &d);
    }
    size_t body = strcspn(good, "\n") + 1;
    memcpy(bad, good, len);
    bad[body + 3] ^= 1;
    refused(bad, len, &d);
    assert_non_null(strstr(d.msg, "checksum mismatch"));
    /* appended to */
    char *more = tr_malloc(len + 1);
    memcpy(more, good, len);
    more[len] = '\n';
    refused(more, len + 1, &d);
    tr_free(more);
    /* another format version */
    memcpy(bad, good, len);
    bad[strlen("tremor-c api state ")] = '2';
    refused(bad, len, &d);
    assert_non_null(strstr(d.msg, "format version 2"));
    tr_free(bad);
    /* a good checksum over a bad body: JSON errors are located by line */
    struct tr_buf b;
    tr_buf_init(&b);
    tr_value v = json("{" EMPTY ",\"onramp\":[{\"type\":\"metronome\"}]}");
    assert_int_equal(tr_api_state_encode(&v, &b), 0);
    assert_int_equal(refused(b.data, b.len, &d), TR_ECORRUPT);
    assert_non_null(strstr(d.msg, "onramp[0]"));
    tr_value_unref(v);
    tr_buf_reset(&b);
    v = json("{" EMPTY ",\"mapping\":[{\"url\":\"/binding/b/1\",\"vars\":{\"instance\":1}}]}");
    assert_int_equal(tr_api_state_encode(&v, &b), 0);
    refused(b.data, b.len, &d);
    assert_non_null(strstr(d.msg, "mapping[0]: vars.instance"));
    tr_value_unref(v);
    tr_buf_reset(&b);
    const char *txt = "{\n  \"pipeline\": [],\n  oops\n}\n";
    /* a header with the right length and checksum (zlib's crc32, as the
     * writer's) over a body that is not JSON */
    char hdr[128];
    size_t tl = strlen(txt);
    unsigned long crc = crc32(crc32(0, NULL, 0), (const unsigned char *)txt, (unsigned)tl);
    snprintf(hdr, sizeof hdr, "tremor-c api state 1 %zu %08lx\n", tl, crc);
    assert_int_equal(tr_buf_append(&b, hdr, strlen(hdr)), 0);
    assert_int_equal(tr_buf_append(&b, txt, tl), 0);
    assert_int_equal(refused(b.data, b.len, &d), TR_EPARSE);
    assert_int_equal(d.line, 4);   /* line 3 of the body, after the header */
    tr_buf_fini(&b);
    tr_free(good);
    unlink(path);
}

static void a_failed_write_changes_nothing(void **state) {
    (void)state;
    struct tr_api_state *s = filled();
    size_t len, len2;
    char *before = slurp(&len);
    /* the temporary file cannot be created: a directory is in its place */
    assert_int_equal(mkdir(tmp, 0755), 0);
    char inside[160];
    snprintf(inside, sizeof inside, "%s/x", tmp);
    FILE *f = fopen(inside, "w");
    assert_non_null(f);
    fclose(f);
    struct tr_diag d;
    tr_diag_clear(&d);
    tr_value on = json("{\"id\":\"m2\",\"type\":\"metronome\"}"), got;
    assert_int_equal(tr_api_state_publish(s, TR_WORLD_ONRAMP, "m2", &on, &d), -EISDIR);
    assert_non_null(strstr(d.msg, "cannot keep the API change"));
    assert_int_equal(tr_api_state_unpublish(s, TR_WORLD_ONRAMP, "m", &got, &d), -EISDIR);
    assert_int_equal(got.type, TR_NULL);
    char *after = slurp(&len2);
    assert_int_equal(len, len2);
    assert_memory_equal(before, after, len);
    tr_free(after);
    /* the failed changes are not in memory either: the next write has
     * neither m2 nor a missing m */
    unlink(inside);
    rmdir(tmp);
    tr_value vars = json("{\"instance\":\"02\"}");
    assert_int_equal(tr_api_state_bind(s, "/binding/b/02", &vars, &d), 0);
    tr_value_unref(vars);
    tr_value_unref(on);
    tr_api_state_destroy(s);
    char *expect = tr_strdup(FILLED);
    char *end = strrchr(expect, ']');
    *end = 0;
    char want[2048];
    snprintf(want, sizeof want, "%s,{\"url\":\"/binding/b/02\",\"vars\":{\"instance\":\"02\"}}]}", expect);
    tr_free(expect);
    body_is(want);
    /* a temporary file left by a crash before its rename is not the state */
    f = fopen(tmp, "w");
    assert_non_null(f);
    fputs("tremor-c api state 1 2 00000000\n{}", f);
    fclose(f);
    assert_int_equal(tr_api_state_open(dir, &s, &d), 0);
    assert_int_equal(access(tmp, F_OK), -1);
    tr_api_state_destroy(s);
    body_is(want);
    tr_free(before);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(changes_round_trip_through_the_file),
        cmocka_unit_test(unbind_removes_the_newest_of_a_url),
        cmocka_unit_test(damaged_files_are_refused_with_a_location),
        cmocka_unit_test(a_failed_write_changes_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
