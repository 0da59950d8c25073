/* test_tcp.c - the tcp onramp (server) and offramp (client) in one process
 * with fake hosts, plus raw sockets as peers: bytes and acks in order,
 * breaker and reconnects, a peer that stops reading then vanishes, stream
 * ids, config errors. */
/* conn.h first: its ops have a member named fail, which cmocka.h makes a macro */
#include "connectors/conn.h"
#include "fake_conn_host.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

extern const struct tr_onramp_ops tr_tcp_onramp;
extern const struct tr_offramp_ops tr_tcp_offramp;

static uint16_t free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

struct rig {
    uv_loop_t loop;
    struct fake_in in;
    struct fake_out out;
    struct fake_spec in_spec, out_spec;
    void *server, *client;
    bool server_closed, client_closed;
    uint16_t port;
    size_t want_bytes, want_answers, want_triggers, want_restores, want_ends;
    int peer_fd;             /* a raw socket peer, -1 when none */
    int listen_fd;
};

static void rig_init(struct rig *r, size_t ntokens) {
    memset(r, 0, sizeof *r);
    uv_loop_init(&r->loop);
    fake_in_init(&r->in, &r->loop);
    fake_out_init(&r->out, &r->loop, ntokens);
    r->port = free_port();
    r->peer_fd = r->listen_fd = -1;
}

static void start_server(struct rig *r) {
    fake_spec_init(&r->in_spec, "tcp", "in");
    fake_spec_str(&r->in_spec, "host", "127.0.0.1");
    fake_spec_int(&r->in_spec, "port", r->port);
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_tcp_onramp.create(&r->in_spec.s, &r->in.h, &r->server, &d) != 0) fail_msg("onramp: %s", d.msg);
    assert_int_equal(tr_tcp_onramp.start(r->server), 0);
    r->server_closed = false;
}

static void stop_server(struct rig *r) {
    tr_tcp_onramp.close(r->server, fake_set_flag, &r->server_closed);
    assert_true(fake_run_until(&r->loop, fake_flag_set, &r->server_closed));
    r->server = NULL;
    fake_spec_fini(&r->in_spec);
}

static void start_client(struct rig *r) {
    fake_spec_init(&r->out_spec, "tcp", "out");
    fake_spec_int(&r->out_spec, "port", r->port);
    fake_spec_bool(&r->out_spec, "is_no_delay", true);
    fake_spec_int(&r->out_spec, "ttl", 32);
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_tcp_offramp.create(&r->out_spec.s, &r->out.h, &r->client, &d) != 0) fail_msg("offramp: %s", d.msg);
    assert_false(tr_tcp_offramp.is_active(r->client));
    assert_int_equal(tr_tcp_offramp.start(r->client), 0);
}

static void stop_client(struct rig *r) {
    tr_tcp_offramp.close(r->client, fake_set_flag, &r->client_closed);
    assert_true(fake_run_until(&r->loop, fake_flag_set, &r->client_closed));
    r->client = NULL;
    fake_spec_fini(&r->out_spec);
}

static void rig_fini(struct rig *r) {
    if (r->client) stop_client(r);
    if (r->server) stop_server(r);
    if (r->peer_fd >= 0) close(r->peer_fd);
    if (r->listen_fd >= 0) close(r->listen_fd);
    fake_in_fini(&r->in);
    fake_out_fini(&r->out);
    assert_int_equal(fake_drain_and_close(&r->loop), 0);
}

static void put(struct rig *r, uint64_t token, bool tx, const char *data, size_t len) {
    struct tr_out_msg m = {.token = token, .transactional = tx, .data = data, .len = len};
    tr_tcp_offramp.send(r->client, &m);
}

static size_t bytes_in(const struct fake_in *in) {
    size_t n = 0;
    for (size_t i = 0; i < in->n; i++) n += in->lens[i];
    return n;
}

static bool got_bytes(void *arg) {
    struct rig *r = arg;
    return bytes_in(&r->in) >= r->want_bytes;
}
static bool got_answers(void *arg) {
    struct rig *r = arg;
    return r->out.nanswers >= r->want_answers;
}
static bool got_both(void *arg) { return got_bytes(arg) && got_answers(arg); }
static bool got_restores(void *arg) {
    struct rig *r = arg;
    return r->out.restores >= r->want_restores;
}
static bool got_triggers(void *arg) {
    struct rig *r = arg;
    return r->out.triggers >= r->want_triggers;
}
static bool got_ends(void *arg) {
    struct rig *r = arg;
    return r->in.stream_ends >= r->want_ends;
}

/* ----------------------------------------------------------------- tests */

static void relay_bytes_and_acks_in_order(void **state) {
    (void)state;
    struct rig r;
    size_t n = 20000;
    rig_init(&r, n);
    start_server(&r);
    start_client(&r);
    r.want_restores = 1;
    assert_true(fake_run_until(&r.loop, got_restores, &r));
    assert_true(tr_tcp_offramp.is_active(r.client));
    char line[32];
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(line, sizeof line, "msg %zu\n", i);
        put(&r, i, i % 100 != 0, line, (size_t)k);   /* every 100th not transactional */
        total += (size_t)k;
    }
    r.want_bytes = total;
    r.want_answers = n - n / 100;
    assert_true(fake_run_until(&r.loop, got_both, &r));
    /* expected: the bytes in order on one stream; acks for every
     * transactional message, in order, none failed or twice */
    char *all = malloc(total + 1), *p = all;
    assert_non_null(all);
    for (size_t i = 0; i < r.in.n; i++) {
        assert_int_equal(r.in.streams[i], 1);
        memcpy(p, r.in.frames[i], r.in.lens[i]);
        p += r.in.lens[i];
    }
    *p = 0;
    p = all;
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(line, sizeof line, "msg %zu\n", i);
        if (strncmp(p, line, (size_t)k) != 0) fail_msg("message %zu out of place", i);
        p += k;
    }
    free(all);
    assert_int_equal(r.out.nfails, 0);
    assert_false(r.out.order_broken);
    assert_false(r.out.twice);
    /* many messages per write: far fewer reads than messages */
    assert_true(r.in.n < n / 10);
    /* the client leaving ends the stream once */
    stop_client(&r);
    r.want_ends = 1;
    assert_true(fake_run_until(&r.loop, got_ends, &r));
    assert_int_equal(r.in.last_ended, 1);
    rig_fini(&r);
}

static void reconnects_with_breaker_signals(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, 10);
    start_client(&r);             /* nobody listening yet */
    r.want_triggers = 1;
    assert_true(fake_run_until(&r.loop, got_triggers, &r));
    put(&r, 0, true, "early\n", 6);   /* refused at once while down */
    assert_int_equal(r.out.failed[0], 1);
    put(&r, 1, false, "dropped\n", 8);
    start_server(&r);
    r.want_restores = 1;           /* the next attempt, within a second */
    assert_true(fake_run_until(&r.loop, got_restores, &r));
    put(&r, 2, true, "one\n", 4);
    r.want_answers = 2;
    r.want_bytes = 4;
    assert_true(fake_run_until(&r.loop, got_both, &r));
    assert_int_equal(r.out.acked[2], 1);
    /* the server goes away: trigger, then back: restore */
    stop_server(&r);
    r.want_triggers = 2;
    assert_true(fake_run_until(&r.loop, got_triggers, &r));
    assert_false(tr_tcp_offramp.is_active(r.client));
    put(&r, 3, true, "lost\n", 5);
    assert_int_equal(r.out.failed[3], 1);
    start_server(&r);
    r.want_restores = 2;
    assert_true(fake_run_until(&r.loop, got_restores, &r));
    put(&r, 4, true, "two\n", 4);
    r.want_answers = 4;
    r.want_bytes = 8;
    assert_true(fake_run_until(&r.loop, got_both, &r));
    assert_int_equal(r.out.acked[4], 1);
    assert_false(r.out.twice);
    rig_fini(&r);
}

static void raw_listen(struct rig *r) {
    r->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(r->listen_fd >= 0);
    int one = 1, small = 64 << 10;   /* a small window, inherited by the accepted socket */
    setsockopt(r->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(r->listen_fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(r->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(r->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(r->listen_fd, 4), 0);
    fcntl(r->listen_fd, F_SETFL, O_NONBLOCK);
}

static bool accepted(void *arg) {
    struct rig *r = arg;
    if (r->peer_fd < 0) r->peer_fd = accept(r->listen_fd, NULL, NULL);
    return r->peer_fd >= 0 && r->out.restores > 0;
}

static void stalled_peer_then_reset(void **state) {
    (void)state;
    struct rig r;
    size_t n = 24 * 1024, sz = 1024;
    rig_init(&r, n);
    raw_listen(&r);
    start_client(&r);
    assert_true(fake_run_until(&r.loop, accepted, &r));
    char *msg = malloc(sz);
    assert_non_null(msg);
    memset(msg, 'm', sz);
    /* 24 MiB to a peer that never reads: the kernel takes a few MiB, the
     * rest waits in the client, which trips the breaker */
    for (size_t i = 0; i < n; i++) {
        put(&r, i, true, msg, sz);
        if (i % 256 == 0) uv_run(&r.loop, UV_RUN_NOWAIT);
    }
    free(msg);
    r.want_triggers = 1;
    assert_true(fake_run_until(&r.loop, got_triggers, &r));
    assert_false(tr_tcp_offramp.is_active(r.client));
    /* the peer vanishes with unread data (a reset): everything answered once,
     * the acks a prefix, then fails */
    struct linger lg = {1, 0};
    setsockopt(r.peer_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(r.peer_fd);
    r.peer_fd = -1;
    r.want_answers = n;
    assert_true(fake_run_until(&r.loop, got_answers, &r));
    assert_false(r.out.twice);
    assert_false(r.out.order_broken);
    assert_true(r.out.nfails > 0);
    for (size_t i = 0; i < r.out.nacks; i++) assert_int_equal(r.out.acked[i], 1);
    for (size_t i = r.out.nacks; i < n; i++) assert_int_equal(r.out.failed[i], 1);
    rig_fini(&r);
}

static void trigger_at_first(struct fake_in *in, void *arg) {
    struct rig *r = arg;
    if (in->n == 1) tr_tcp_onramp.trigger(r->server);
}

static void server_breaker_stops_reading(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, 1);
    start_server(&r);
    r.in.on_frame = trigger_at_first;
    r.in.on_frame_arg = &r;
    start_client(&r);
    r.want_restores = 1;
    assert_true(fake_run_until(&r.loop, got_restores, &r));
    put(&r, 0, false, "first\n", 6);
    r.want_bytes = 1;
    assert_true(fake_run_until(&r.loop, got_bytes, &r));
    assert_int_equal(r.in.n, 1);
    put(&r, 0, false, "second\n", 7);
    for (int i = 0; i < 200; i++) uv_run(&r.loop, UV_RUN_NOWAIT);
    /* expected: no read while triggered */
    assert_int_equal(r.in.n, 1);
    tr_tcp_onramp.restore(r.server);
    r.want_bytes = 13;
    assert_true(fake_run_until(&r.loop, got_bytes, &r));
    rig_fini(&r);
}

static bool two_ends(void *arg) {
    struct rig *r = arg;
    return r->in.stream_ends >= 2 && bytes_in(&r->in) >= 2;
}

static void streams_have_their_own_ids(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, 1);
    start_server(&r);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(r.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int s1 = socket(AF_INET, SOCK_STREAM, 0), s2 = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(s1, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(write(s1, "a", 1), 1);
    r.want_bytes = 1;
    assert_true(fake_run_until(&r.loop, got_bytes, &r));
    assert_int_equal(connect(s2, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(write(s2, "b", 1), 1);
    close(s1);
    close(s2);
    assert_true(fake_run_until(&r.loop, two_ends, &r));
    /* expected: "a" on stream 1, "b" on stream 2, both ended */
    assert_string_equal(r.in.frames[0], "a");
    assert_int_equal(r.in.streams[0], 1);
    assert_string_equal(r.in.frames[1], "b");
    assert_int_equal(r.in.streams[1], 2);
    rig_fini(&r);
}

static void config_errors_are_located(void **state) {
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct fake_in in;
    struct fake_out out;
    fake_in_init(&in, &loop);
    fake_out_init(&out, &loop, 1);
    struct {
        bool onramp;
        const char *key;
        int64_t val;
        const char *want;
    } cases[] = {
        {true, NULL, 0, "config.port is required"},
        {false, NULL, 0, "config.port is required"},
        {true, "port", 70000, "config.port must be 0..65535"},
        {false, "port", 0, "config.port must be 1..65535"},
        {false, "ttl", 0, "config.ttl must be 1..255"},
        {true, "url", 1, "unknown config key 'url'"},
        {false, "host", 5, "config.host must be a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fake_spec sp;
        fake_spec_init(&sp, "tcp", "t");
        if (cases[i].key && strcmp(cases[i].key, "port") != 0) fake_spec_int(&sp, "port", 4242);
        if (cases[i].key) fake_spec_int(&sp, cases[i].key, cases[i].val);
        struct tr_diag d;
        tr_diag_clear(&d);
        void *self = NULL;
        int rc = cases[i].onramp ? tr_tcp_onramp.create(&sp.s, &in.h, &self, &d)
                                 : tr_tcp_offramp.create(&sp.s, &out.h, &self, &d);
        if (rc == 0 || !strstr(d.msg, cases[i].want))
            fail_msg("case %zu: expected '%s', got %d '%s'", i, cases[i].want, rc, d.msg);
        assert_null(self);
        assert_int_equal(d.line, 3);
        fake_spec_fini(&sp);
    }
    /* a taken port */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    struct fake_spec sp;
    fake_spec_init(&sp, "tcp", "t");
    fake_spec_int(&sp, "port", ntohs(a.sin_port));
    struct tr_diag d;
    tr_diag_clear(&d);
    void *self = NULL;
    assert_int_not_equal(tr_tcp_onramp.create(&sp.s, &in.h, &self, &d), 0);
    assert_non_null(strstr(d.msg, "cannot listen on 127.0.0.1:"));
    assert_non_null(strstr(d.msg, "address already in use"));
    fake_spec_fini(&sp);
    close(fd);
    fake_in_fini(&in);
    fake_out_fini(&out);
    assert_int_equal(fake_drain_and_close(&loop), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(relay_bytes_and_acks_in_order),
        cmocka_unit_test(reconnects_with_breaker_signals),
        cmocka_unit_test(stalled_peer_then_reset),
        cmocka_unit_test(server_breaker_stops_reading),
        cmocka_unit_test(streams_have_their_own_ids),
        cmocka_unit_test(config_errors_are_located),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
