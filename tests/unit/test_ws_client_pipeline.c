/* test_ws_client_pipeline.c - the ws offramp's pong linger runs outside the
 * sender's window: a confirmed message is released to the host at once
 * (out of the window), acked when its linger is over, and failed (replayed
 * by its source) if the link drops inside the linger. Against the ws onramp
 * in the same loop, with fake hosts.
 */
/* conn.h first: its ops have a member named fail, which cmocka.h makes a macro */
#include "connectors/conn.h"
#include "connectors/ws_int.h"
#include "core/alloc.h"

#include "fake_conn_host.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

extern const struct tr_offramp_ops tr_ws_offramp;
extern const struct tr_onramp_ops tr_ws_onramp;

struct world {
    uv_loop_t loop;
    struct fake_in in;
    struct fake_out out;
    struct fake_spec in_spec, out_spec;
    void *server, *client;
    bool server_closed, client_closed;
    uint16_t port;
    size_t want;
};

static void start_server(struct world *w, uint16_t port) {
    fake_in_init(&w->in, &w->loop);
    fake_spec_init(&w->in_spec, "ws", "in");
    fake_spec_int(&w->in_spec, "port", port);
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_ws_onramp.create(&w->in_spec.s, &w->in.h, &w->server, &d) != 0) fail_msg("onramp: %s", d.msg);
    assert_int_equal(tr_ws_onramp.start(w->server), 0);
    w->port = tr_ws_onramp_port(w->server);
    w->server_closed = false;
}

static void stop_server(struct world *w) {
    tr_ws_onramp.close(w->server, fake_set_flag, &w->server_closed);
    assert_true(fake_run_until(&w->loop, fake_flag_set, &w->server_closed));
    fake_spec_fini(&w->in_spec);
}

static void start_client(struct world *w, size_t ntokens, int64_t linger_ms) {
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/", (unsigned)w->port);
    fake_out_init(&w->out, &w->loop, ntokens);
    fake_spec_init(&w->out_spec, "ws", "out");
    fake_spec_str(&w->out_spec, "url", url);
    fake_spec_int(&w->out_spec, "confirm_linger_ms", linger_ms);
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_ws_offramp.create(&w->out_spec.s, &w->out.h, &w->client, &d) != 0) fail_msg("offramp: %s", d.msg);
    assert_int_equal(tr_ws_offramp.start(w->client), 0);
}

static bool rx_n(void *arg) {
    struct world *w = arg;
    return w->in.n >= w->want;
}
static bool acks_n(void *arg) {
    struct world *w = arg;
    return w->out.nacks >= w->want;
}
static bool restores_n(void *arg) {
    struct world *w = arg;
    return w->out.restores >= w->want;
}
static bool triggers_n(void *arg) {
    struct world *w = arg;
    return w->out.triggers >= w->want;
}

static void wait_for(struct world *w, bool (*cond)(void *), size_t n, const char *what) {
    w->want = n;
    if (!fake_run_until(&w->loop, cond, w)) fail_msg("timed out waiting for %s", what);
}

static void send_text(struct world *w, uint64_t token, const char *text) {
    struct tr_out_msg m = {.token = token, .transactional = true, .data = text, .len = strlen(text)};
    tr_ws_offramp.send(w->client, &m);
}

static void finish(struct world *w) {
    tr_ws_offramp.close(w->client, fake_set_flag, &w->client_closed);
    assert_true(fake_run_until(&w->loop, fake_flag_set, &w->client_closed));
    fake_spec_fini(&w->out_spec);
    assert_false(w->out.twice);
    assert_false(w->out.order_broken);
    fake_out_fini(&w->out);
    fake_in_fini(&w->in);
    assert_int_equal(fake_drain_and_close(&w->loop), 0);
}

#define N 10

static bool releases_n(void *arg) {
    struct world *w = arg;
    return w->out.nreleases >= w->want;
}
static bool fails_n(void *arg) {
    struct world *w = arg;
    return w->out.nfails >= w->want;
}

/* A linger far longer than the test: every message is released as soon as
 * the receiver's pong confirms it (it leaves the sender's window), but not
 * acked. The receiver then goes away inside the linger: each is failed, so
 * its source (the WAL) replays it; the offramp keeps no copy and sends
 * nothing again by itself. On the next connection new messages are
 * released in turn, and when we close the link ourselves their
 * confirmation stands: acked. */
static void confirmed_in_linger_is_failed_on_drop(void **state) {
    (void)state;
    struct world *w = calloc(1, sizeof *w);
    uv_loop_init(&w->loop);
    start_server(w, 0);
    uint16_t port = w->port;
    start_client(w, N + 3, 600000);
    wait_for(w, restores_n, 1, "connected");
    char buf[16];
    for (uint64_t i = 0; i < N; i++) {
        snprintf(buf, sizeof buf, "m%llu", (unsigned long long)i);
        send_text(w, i, buf);
    }
    wait_for(w, rx_n, N, "the messages at the receiver");
    wait_for(w, releases_n, N, "releases while every message is inside its linger");
    /* a pong confirms a run: it is released in one call, not one per message */
    assert_true(w->out.release_calls < N);
    assert_int_equal(w->out.nacks, 0);
    assert_int_equal(w->out.nfails, 0);

    stop_server(w);
    wait_for(w, triggers_n, 1, "the link seen down");
    wait_for(w, fails_n, N, "fails of the messages inside their linger");
    for (uint64_t i = 0; i < N; i++) {
        assert_int_equal(w->out.released[i], 1);
        assert_int_equal(w->out.failed[i], 1);
    }
    fake_in_fini(&w->in);
    start_server(w, port);
    wait_for(w, restores_n, 2, "reconnected");
    for (uint64_t i = N; i < N + 3; i++) {
        snprintf(buf, sizeof buf, "n%llu", (unsigned long long)i);
        send_text(w, i, buf);
    }
    wait_for(w, rx_n, 3, "the new messages");
    wait_for(w, releases_n, N + 3, "releases of the new messages");
    /* nothing but the new messages: a replay is the source's job */
    assert_int_equal(w->in.n, 3);
    for (uint64_t i = 0; i < 3; i++) {
        snprintf(buf, sizeof buf, "n%llu", (unsigned long long)(N + i));
        if (w->in.lens[i] != strlen(buf) || memcmp(w->in.frames[i], buf, strlen(buf)) != 0)
            fail_msg("after the reconnect message %llu is '%s', expected '%s'", (unsigned long long)i,
                     w->in.frames[i], buf);
    }
    assert_int_equal(w->out.nacks, 0);
    tr_ws_offramp.close(w->client, fake_set_flag, &w->client_closed);
    assert_true(fake_run_until(&w->loop, fake_flag_set, &w->client_closed));
    for (uint64_t i = N; i < N + 3; i++) assert_int_equal(w->out.acked[i], 1);
    assert_int_equal(w->out.nfails, N);
    assert_false(w->out.release_late);
    assert_false(w->out.twice);
    stop_server(w);
    fake_spec_fini(&w->out_spec);
    fake_out_fini(&w->out);
    fake_in_fini(&w->in);
    assert_int_equal(fake_drain_and_close(&w->loop), 0);
    free(w);
}

/* A short linger: released at the pong, acked once the linger is over
 * (a timer, not the next tick: the test never ticks). */
static void linger_over_acks(void **state) {
    (void)state;
    struct world *w = calloc(1, sizeof *w);
    uv_loop_init(&w->loop);
    start_server(w, 0);
    start_client(w, N, 30);
    wait_for(w, restores_n, 1, "connected");
    for (uint64_t i = 0; i < N; i++) send_text(w, i, "x");
    wait_for(w, acks_n, N, "acks after the linger");
    for (uint64_t i = 0; i < N; i++) {
        assert_int_equal(w->out.released[i], 1);
        assert_int_equal(w->out.acked[i], 1);
    }
    assert_false(w->out.release_late);
    stop_server(w);
    finish(w);
    free(w);
}

/* confirm_linger_ms = 0: a confirmation is final at once, nothing is sent
 * again after a drop. */
static void no_linger_no_replay(void **state) {
    (void)state;
    struct world *w = calloc(1, sizeof *w);
    uv_loop_init(&w->loop);
    start_server(w, 0);
    uint16_t port = w->port;
    start_client(w, N + 1, 0);
    wait_for(w, restores_n, 1, "connected");
    for (uint64_t i = 0; i < N; i++) send_text(w, i, "old");
    wait_for(w, acks_n, N, "acks");
    stop_server(w);
    wait_for(w, triggers_n, 1, "the link seen down");
    fake_in_fini(&w->in);
    start_server(w, port);
    wait_for(w, restores_n, 2, "reconnected");
    send_text(w, N, "new");
    wait_for(w, acks_n, N + 1, "the ack of the new message");
    assert_int_equal(w->in.n, 1);
    assert_memory_equal(w->in.frames[0], "new", 3);
    stop_server(w);
    finish(w);
    free(w);
}

static void linger_config_is_bounded(void **state) {
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct fake_out out;
    fake_out_init(&out, &loop, 1);
    struct fake_spec sp;
    fake_spec_init(&sp, "ws", "out");
    fake_spec_str(&sp, "url", "ws://127.0.0.1:1/");
    fake_spec_int(&sp, "confirm_linger_ms", 600001);
    struct tr_diag d;
    tr_diag_clear(&d);
    void *self = NULL;
    assert_int_equal(tr_ws_offramp.create(&sp.s, &out.h, &self, &d), TR_EINVAL_CFG);
    assert_null(self);
    assert_non_null(strstr(d.msg, "config.confirm_linger_ms must be at most 600000"));
    assert_int_equal(d.line, 3);
    fake_spec_fini(&sp);
    fake_out_fini(&out);
    assert_int_equal(fake_drain_and_close(&loop), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(confirmed_in_linger_is_failed_on_drop),
        cmocka_unit_test(linger_over_acks),
        cmocka_unit_test(no_linger_no_replay),
        cmocka_unit_test(linger_config_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
