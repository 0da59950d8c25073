/* test_cb.c - the cb onramp and offramp (0.11's circuit-breaker harness),
 * the exit and debug offramps: answers as the `cb` field asks (metadata
 * before data; ack before fail, close before open), unanswered events
 * failed at close; the onramp's verdict (exit 0 when every line was
 * answered, 1 otherwise) after its timeout; exit's code and delay, and a
 * failed answer for an event without `exit`; debug acks what it counts. */
#include "connectors/conn.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <cmocka.h>

#include "codec/json.h"
#include "fake_conn_host.h"

extern const struct tr_onramp_ops tr_cb_onramp;
extern const struct tr_offramp_ops tr_cb_offramp, tr_exit_offramp, tr_debug_offramp;

static void closed(void *arg) { *(bool *)arg = true; }

static void send_json(const struct tr_offramp_ops *ops, void *self, uint64_t token, const char *data,
                      const char *meta_json) {
    tr_value meta = tr_v_null();
    if (meta_json) assert_int_equal(tr_json_decode(meta_json, strlen(meta_json), &meta, NULL), 0);
    struct tr_out_msg m = {.token = token, .transactional = true, .data = data, .len = strlen(data),
                           .meta = &meta};
    ops->send(self, &m);
    tr_value_unref(meta);
}

static void test_cb_offramp(void **state) {
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct fake_out out;
    fake_out_init(&out, &loop, 8);
    struct fake_spec sp;
    fake_spec_init(&sp, "cb", "c");
    void *self;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_cb_offramp.create(&sp.s, &out.h, &self, &d), 0);
    send_json(&tr_cb_offramp, self, 0, "{\"cb\":\"ack\"}", NULL);
    send_json(&tr_cb_offramp, self, 1, "{\"cb\":\"ack\"}", "{\"cb\":\"fail\"}");   /* meta wins */
    send_json(&tr_cb_offramp, self, 2, "null", "{\"cb\":[\"ack\",\"open\",\"fail\"]}");
    send_json(&tr_cb_offramp, self, 3, "{\"cb\":[\"trigger\",\"fail\"]}", NULL);
    send_json(&tr_cb_offramp, self, 4, "{\"snot\":1}", NULL);                     /* nothing asked */
    send_json(&tr_cb_offramp, self, 5, "not json", NULL);
    assert_int_equal(out.acked[0], 1);
    assert_int_equal(out.failed[1], 1);
    assert_int_equal(out.acked[2], 1);
    assert_int_equal(out.failed[3], 1);
    assert_int_equal(out.restores, 1);
    assert_int_equal(out.triggers, 1);
    assert_int_equal(out.acked[4] + out.failed[4] + out.acked[5] + out.failed[5], 0);
    bool done = false;
    tr_cb_offramp.close(self, closed, &done);
    assert_true(done);
    assert_int_equal(out.failed[4], 1);   /* the offramp contract: answered at close */
    assert_int_equal(out.failed[5], 1);
    assert_false(out.twice);
    fake_spec_fini(&sp);
    fake_out_fini(&out);
    assert_int_equal(fake_drain_and_close(&loop), 0);
}

static bool three_frames(void *arg) { return ((struct fake_in *)arg)->n >= 3; }
static bool exited(void *arg) { return ((struct fake_in *)arg)->exits > 0; }

static int run_cb_onramp(int answer_all, size_t *frames) {
    char path[] = "/tmp/test_cb_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *lines = "{\"cb\":\"ack\"}\n{\"cb\":\"fail\"}\n{\"x\":1}\n";
    assert_int_equal(write(fd, lines, strlen(lines)), (ssize_t)strlen(lines));
    close(fd);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct fake_in in;
    fake_in_init(&in, &loop);
    struct fake_spec sp;
    fake_spec_init(&sp, "cb", "c");
    fake_spec_str(&sp, "source", path);
    fake_spec_int(&sp, "timeout", 200);
    void *self;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_cb_onramp.create(&sp.s, &in.h, &self, &d), 0);
    assert_true(tr_cb_onramp.transactional);
    assert_int_equal(tr_cb_onramp.start(self), 0);
    assert_true(fake_run_until(&loop, three_frames, &in));
    tr_cb_onramp.ack(self, 0);
    (tr_cb_onramp.fail)(self, 1);   /* cmocka has a fail() macro */
    if (answer_all) tr_cb_onramp.ack(self, 2);
    assert_true(fake_run_until(&loop, exited, &in));
    *frames = in.n;
    int code = in.exit_code;
    bool done = false;
    tr_cb_onramp.close(self, closed, &done);
    assert_true(fake_run_until(&loop, fake_flag_set, &done));
    fake_spec_fini(&sp);
    fake_in_fini(&in);
    assert_int_equal(fake_drain_and_close(&loop), 0);
    unlink(path);
    return code;
}

static void test_cb_onramp_verdict(void **state) {
    (void)state;
    size_t n;
    assert_int_equal(run_cb_onramp(1, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(run_cb_onramp(0, &n), 1);   /* one line never answered */
}

static bool out_exited(void *arg) { return ((struct fake_out *)arg)->exits > 0; }

static void test_exit_and_debug(void **state) {
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct fake_out out;
    fake_out_init(&out, &loop, 8);
    struct fake_spec sp;
    fake_spec_init(&sp, "exit", "e");
    void *self;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_exit_offramp.create(&sp.s, &out.h, &self, &d), 0);
    send_json(&tr_exit_offramp, self, 0, "{\"snot\":1}", NULL);
    assert_int_equal(out.failed[0], 1);   /* 0.11: "Unexpected event received in exit offramp" */
    send_json(&tr_exit_offramp, self, 1, "{\"exit\":55,\"delay\":30}", NULL);
    assert_int_equal(out.acked[1], 1);
    assert_int_equal(out.exits, 0);       /* after the delay, from the loop */
    assert_true(fake_run_until(&loop, out_exited, &out));
    assert_int_equal(out.exit_code, 55);
    bool done = false;
    tr_exit_offramp.close(self, closed, &done);
    assert_true(fake_run_until(&loop, fake_flag_set, &done));
    fake_spec_fini(&sp);

    fake_spec_init(&sp, "debug", "g");
    assert_int_equal(tr_debug_offramp.create(&sp.s, &out.h, &self, &d), 0);
    send_json(&tr_debug_offramp, self, 2, "1", "{\"class\":\"error\"}");
    send_json(&tr_debug_offramp, self, 3, "2", NULL);
    assert_int_equal(out.acked[2] + out.acked[3], 2);
    done = false;
    tr_debug_offramp.close(self, closed, &done);
    assert_true(done);
    fake_spec_fini(&sp);
    fake_out_fini(&out);
    assert_int_equal(fake_drain_and_close(&loop), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cb_offramp),
        cmocka_unit_test(test_cb_onramp_verdict),
        cmocka_unit_test(test_exit_and_debug),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
