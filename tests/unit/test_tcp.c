/* test_tcp.c - the tcp onramp (server) and offramp (client) in one process
 * with fake hosts, plus raw sockets as peers: bytes and acks in order,
 * breaker and reconnects, a peer that stops reading then vanishes, stream
 * ids, config errors; the same over TLS, with an untrusted server and a
 * name that does not match refused and retried. */
/* conn.h first: its ops have a member named fail, which cmocka.h makes a macro */
#include "connectors/conn.h"
#include "codec/proc.h"
#include "core/budget.h"
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

#include "test_certs.h"

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

/* TLS: the files of the tests that use it (made in main). */
static char tls_dir[64], srv_cert[128], srv_key[128], other_cert[128], other_key[128];
static const char *server_cert, *server_key;   /* the next start_server's TLS, NULL: plain */
static const char *client_domain;              /* the next start_client's TLS, NULL: plain */

/* spec.tls = {k0: v0, k1: v1} */
static void spec_tls(struct fake_spec *sp, const char *k0, const char *v0, const char *k1, const char *v1) {
    tr_value t, v;
    assert_int_equal(tr_v_rec(2, &t), 0);
    assert_int_equal(tr_v_cstr(v0, &v), 0);
    assert_int_equal(tr_rec_set(&t, k0, strlen(k0), v), 0);
    assert_int_equal(tr_v_cstr(v1, &v), 0);
    assert_int_equal(tr_rec_set(&t, k1, strlen(k1), v), 0);
    assert_int_equal(tr_rec_set(&sp->cfg, "tls", 3, t), 0);
}

static void start_server(struct rig *r) {
    fake_spec_init(&r->in_spec, "tcp", "in");
    fake_spec_str(&r->in_spec, "host", "127.0.0.1");
    fake_spec_int(&r->in_spec, "port", r->port);
    if (server_cert) spec_tls(&r->in_spec, "cert", server_cert, "key", server_key);
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
    if (client_domain) spec_tls(&r->out_spec, "cafile", srv_cert, "domain", client_domain);
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

/* ------------------------------------------------- hostile peers (server) */

/* The server with extra config keys (key, value pairs ending in NULL). */
static void start_server_with(struct rig *r, ...) {
    fake_spec_init(&r->in_spec, "tcp", "in");
    fake_spec_str(&r->in_spec, "host", "127.0.0.1");
    fake_spec_int(&r->in_spec, "port", r->port);
    va_list ap;
    va_start(ap, r);
    for (const char *k; (k = va_arg(ap, const char *));) fake_spec_int(&r->in_spec, k, va_arg(ap, int64_t));
    va_end(ap);
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_tcp_onramp.create(&r->in_spec.s, &r->in.h, &r->server, &d) != 0) fail_msg("onramp: %s", d.msg);
    assert_int_equal(tr_tcp_onramp.start(r->server), 0);
    r->server_closed = false;
}

static int peer_connect(uint16_t port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* The server hung up on fd: EOF or a reset (nothing else is ever sent). */
static bool hung_up(void *arg) {
    int fd = *(int *)arg;
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

struct frames_of {
    struct rig *r;
    size_t n;
};

static bool got_frames(void *arg) {
    struct frames_of *f = arg;
    return f->r->in.n >= f->n;
}

/* max_connections 2: the third peer is reset before anything of it is
 * read, the first two are untouched, and a slot that frees up is used. */
static void server_resets_connections_over_the_cap(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, 1);
    start_server_with(&r, "max_connections", (int64_t)2, NULL);
    int a = peer_connect(r.port), b = peer_connect(r.port);
    assert_int_equal(write(a, "a", 1), 1);
    assert_int_equal(write(b, "b", 1), 1);
    struct frames_of f = {&r, 2};
    assert_true(fake_run_until(&r.loop, got_frames, &f));
    /* the reset may come before connect() returns */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(r.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int c = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c >= 0);
    if (connect(c, (struct sockaddr *)&sa, sizeof sa) == 0) {
        (void)!write(c, "c", 1);   /* may already fail with the reset */
        assert_true(fake_run_until(&r.loop, hung_up, &c));
    } else {
        assert_int_equal(errno, ECONNRESET);
    }
    for (int i = 0; i < 50; i++) uv_run(&r.loop, UV_RUN_NOWAIT);
    assert_int_equal(r.in.n, 2);   /* expected: nothing of c was read */
    close(c);
    close(a);
    r.want_ends = 1;
    assert_true(fake_run_until(&r.loop, got_ends, &r));
    int d = peer_connect(r.port);
    assert_int_equal(write(d, "d", 1), 1);
    assert_int_equal(write(b, "b", 1), 1);
    f.n = 4;
    assert_true(fake_run_until(&r.loop, got_frames, &f));
    assert_false(hung_up(&b));
    close(b);
    close(d);
    rig_fini(&r);
}

/* idle_timeout_ms: a silent peer is closed (stream ended), a talking one
 * is not. */
static void server_closes_idle_connections(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, 1);
    start_server_with(&r, "idle_timeout_ms", (int64_t)300, NULL);
    int quiet = peer_connect(r.port), chatty = peer_connect(r.port);
    assert_int_equal(write(quiet, "q\n", 2), 2);
    size_t sent = 0;
    uv_update_time(&r.loop);
    uint64_t next = uv_now(&r.loop);
    while (!hung_up(&quiet)) {
        uv_update_time(&r.loop);
        if (uv_now(&r.loop) >= next) {
            assert_int_equal(write(chatty, "c\n", 2), 2);
            sent++;
            next = uv_now(&r.loop) + 50;
        }
        uv_run(&r.loop, UV_RUN_NOWAIT);
        if (sent > 400) fail_msg("the quiet peer was not closed within 20 s");
        usleep(5000);
    }
    r.want_ends = 1;
    assert_true(fake_run_until(&r.loop, got_ends, &r));
    assert_false(hung_up(&chatty));
    close(quiet);
    close(chatty);
    rig_fini(&r);
}

/* A host that runs the runtime's preprocessors with the onramp's
 * stream_limits, as world_onramp.c does. */
struct pp_host {
    struct fake_in in;      /* first */
    struct rig *r;
    struct tr_preproc *pp[8];
    char *name;
    size_t want;            /* frames to wait for */
};

static int pp_frame(void *arg, const char *data, size_t len) {
    struct pp_host *h = arg;
    return fake_in_emit_bytes(&h->in.h, h->in.last_ended, data, len, tr_v_null());
}

static int pp_emit_bytes(struct tr_onramp_host *hh, uint64_t stream, const void *data, size_t len,
                         tr_value meta) {
    struct pp_host *h = (struct pp_host *)hh;
    tr_value_unref(meta);
    assert_true(stream < 8);
    if (!h->pp[stream]) {
        assert_int_equal(tr_preproc_create(&h->name, 1, &h->pp[stream]), 0);
        tr_preproc_set_limits(h->pp[stream], tr_tcp_onramp.stream_limits(h->r->server));
    }
    h->in.last_ended = stream;   /* the stream of the frames below */
    return tr_preproc_feed(h->pp[stream], data, len, pp_frame, h);
}

static void pp_stream_end(struct tr_onramp_host *hh, uint64_t stream) {
    struct pp_host *h = (struct pp_host *)hh;
    if (h->pp[stream]) {
        h->in.last_ended = stream;
        tr_preproc_finish(h->pp[stream], pp_frame, h);
        tr_preproc_destroy(h->pp[stream]);
        h->pp[stream] = NULL;
    }
    h->in.stream_ends++;
}

static const struct tr_onramp_host_ops pp_ops = {
    .emit_value = fake_in_emit_value,
    .emit_bytes = pp_emit_bytes,
    .stream_end = pp_stream_end,
    .done = fake_in_done,
    .shutdown = fake_in_shutdown,
};

static bool got_pp_ends(void *arg) {
    struct pp_host *h = arg;
    return h->in.stream_ends >= 1;
}

static bool got_pp_frames(void *arg) {
    struct pp_host *h = arg;
    return h->in.n >= h->want;
}

/* length-prefixed with a prefix of 2^64-1: that connection is closed and
 * its stream ended at once (not left waiting for 2^64 bytes), the frame
 * before it delivered; another connection goes on. */
static void server_closes_on_a_huge_length_prefix(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, 1);
    struct pp_host h = {.r = &r, .name = "length-prefixed"};
    fake_in_init(&h.in, &r.loop);
    h.in.h.ops = &pp_ops;
    fake_spec_init(&r.in_spec, "tcp", "in");
    fake_spec_int(&r.in_spec, "port", r.port);
    fake_spec_int(&r.in_spec, "max_frame_size", 1000);
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_tcp_onramp.create(&r.in_spec.s, &h.in.h, &r.server, &d) != 0) fail_msg("onramp: %s", d.msg);
    assert_int_equal(tr_tcp_onramp.start(r.server), 0);
    int good = peer_connect(r.port), bad = peer_connect(r.port);
    const unsigned char ok[] = {0, 0, 0, 0, 0, 0, 0, 2, 'o', 'k'};
    const unsigned char huge[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'x'};
    assert_int_equal(write(bad, ok, sizeof ok), (ssize_t)sizeof ok);
    assert_int_equal(write(bad, huge, sizeof huge), (ssize_t)sizeof huge);
    assert_true(fake_run_until(&r.loop, hung_up, &bad));
    assert_true(fake_run_until(&r.loop, got_pp_ends, &h));
    assert_int_equal(write(good, ok, sizeof ok), (ssize_t)sizeof ok);
    h.want = 2;
    assert_true(fake_run_until(&r.loop, got_pp_frames, &h));
    assert_int_equal(h.in.n, 2);
    assert_string_equal(h.in.frames[0], "ok");
    assert_string_equal(h.in.frames[1], "ok");
    assert_false(hung_up(&good));
    /* 1001 bytes announced: over max_frame_size too */
    const unsigned char over[] = {0, 0, 0, 0, 0, 0, 0x03, 0xe9};
    assert_int_equal(write(good, over, sizeof over), (ssize_t)sizeof over);
    assert_true(fake_run_until(&r.loop, hung_up, &good));
    close(good);
    close(bad);
    /* as the runtime does: the preprocessors go before the onramp that
     * owns the budget they charge */
    for (int i = 0; i < 8; i++) tr_preproc_destroy(h.pp[i]);
    tr_tcp_onramp.close(r.server, fake_set_flag, &r.server_closed);
    assert_true(fake_run_until(&r.loop, fake_flag_set, &r.server_closed));
    r.server = NULL;
    fake_spec_fini(&r.in_spec);
    fake_in_fini(&h.in);
    rig_fini(&r);
}

/* lines with max_buffered_bytes 1000: one peer's unfinished line of 600
 * bytes fits, a second one's does not: that peer is closed, and its half
 * line is not emitted; the first completes its line. */
static void server_budget_closes_the_peer_that_passes_it(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, 1);
    struct pp_host h = {.r = &r, .name = "lines"};
    fake_in_init(&h.in, &r.loop);
    h.in.h.ops = &pp_ops;
    fake_spec_init(&r.in_spec, "tcp", "in");
    fake_spec_int(&r.in_spec, "port", r.port);
    fake_spec_int(&r.in_spec, "max_buffered_bytes", 1500);
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_tcp_onramp.create(&r.in_spec.s, &h.in.h, &r.server, &d) != 0) fail_msg("onramp: %s", d.msg);
    assert_int_equal(tr_tcp_onramp.start(r.server), 0);
    int a = peer_connect(r.port);
    char part[600];
    memset(part, 'p', sizeof part);
    assert_int_equal(write(a, part, sizeof part), (ssize_t)sizeof part);   /* a 1024-byte buffer */
    for (int i = 0; i < 100; i++) uv_run(&r.loop, UV_RUN_NOWAIT);
    int b = peer_connect(r.port);
    assert_int_equal(write(b, part, sizeof part), (ssize_t)sizeof part);   /* 2048 > 1500 */
    assert_true(fake_run_until(&r.loop, hung_up, &b));
    assert_true(fake_run_until(&r.loop, got_pp_ends, &h));
    assert_int_equal(h.in.n, 0);   /* expected: b's half line dropped, not emitted */
    assert_int_equal(write(a, "!\n", 2), 2);
    h.want = 1;
    assert_true(fake_run_until(&r.loop, got_pp_frames, &h));
    assert_int_equal(h.in.lens[0], 601);
    assert_false(hung_up(&a));
    close(a);
    close(b);
    /* as the runtime does: the preprocessors go before the onramp that
     * owns the budget they charge */
    for (int i = 0; i < 8; i++) tr_preproc_destroy(h.pp[i]);
    tr_tcp_onramp.close(r.server, fake_set_flag, &r.server_closed);
    assert_true(fake_run_until(&r.loop, fake_flag_set, &r.server_closed));
    r.server = NULL;
    fake_spec_fini(&r.in_spec);
    fake_in_fini(&h.in);
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
        {true, NULL, 0, "tcp 't': config.port (TCP port to listen on, 0: any free one) is required"},
        {false, NULL, 0, "tcp 't': config.port (TCP port to connect to) is required"},
        {true, "port", 70000, "config.port must be at most 65535, found 70000"},
        {false, "port", 0, "config.port must be between 1 and 65535, found 0"},
        {false, "port", 65536, "config.port must be between 1 and 65535, found 65536"},
        {false, "ttl", 0, "config.ttl must be between 1 and 255, found 0"},
        {false, "ttl", 256, "config.ttl must be between 1 and 255, found 256"},
        {true, "url", 1, "unknown config key 'url'"},
        {false, "host", 5, "config.host must be a string"},
        {true, "max_connections", 0, "config.max_connections must be between 1 and 65536"},
        {true, "idle_timeout_ms", 86400001, "config.idle_timeout_ms must be between 0 and 86400000"},
        {true, "max_buffered_bytes", 0, "config.max_buffered_bytes must be between 1 and"},
        {true, "max_frame_size", 0, "config.max_frame_size must be between 1 and 2147483648"},
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

/* ------------------------------------------------------------------ TLS */

static void tls_relay_bytes_and_acks_in_order(void **state) {
    server_cert = srv_cert, server_key = srv_key, client_domain = "localhost";
    relay_bytes_and_acks_in_order(state);
    server_cert = NULL, client_domain = NULL;
}

static void tls_reconnects_with_breaker_signals(void **state) {
    server_cert = srv_cert, server_key = srv_key, client_domain = "localhost";
    reconnects_with_breaker_signals(state);
    server_cert = NULL, client_domain = NULL;
}

/* Run the loop for about ms (a nudge timer keeps uv_run returning). */
static void run_for(uv_loop_t *loop, uint64_t ms) {
    uv_timer_t nudge;
    uv_timer_init(loop, &nudge);
    uv_timer_start(&nudge, fake_on_nudge, 5, 5);
    uv_update_time(loop);
    uint64_t end = uv_now(loop) + ms;
    while (uv_now(loop) < end) uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&nudge, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

/* An untrusted server and a name the certificate does not carry are
 * refused (breaker triggered, never restored, retried), and a message
 * meanwhile is failed; a trusted server on the same port is then used. */
static void tls_refusals_then_trusted(void **state) {
    (void)state;
    struct rig r;
    rig_init(&r, 10);
    server_cert = other_cert, server_key = other_key;
    start_server(&r);
    client_domain = "localhost";
    start_client(&r);
    r.want_triggers = 1;
    assert_true(fake_run_until(&r.loop, got_triggers, &r));
    run_for(&r.loop, 1500);   /* at least one retry, refused again */
    assert_int_equal(r.out.restores, 0);
    assert_false(tr_tcp_offramp.is_active(r.client));
    put(&r, 0, true, "refused\n", 8);
    assert_int_equal(r.out.failed[0], 1);
    stop_server(&r);
    server_cert = srv_cert, server_key = srv_key;
    start_server(&r);
    r.want_restores = 1;
    assert_true(fake_run_until(&r.loop, got_restores, &r));
    put(&r, 1, true, "one\n", 4);
    r.want_answers = 2;
    r.want_bytes = 4;
    assert_true(fake_run_until(&r.loop, got_both, &r));
    assert_int_equal(r.out.acked[1], 1);
    assert_int_equal(bytes_in(&r.in), 4);   /* nothing of the refused one */
    stop_client(&r);
    /* the right certificate, the wrong name */
    client_domain = "other.example";
    size_t triggers = r.out.triggers, restores = r.out.restores;
    start_client(&r);
    r.want_triggers = triggers + 1;
    assert_true(fake_run_until(&r.loop, got_triggers, &r));
    run_for(&r.loop, 1500);
    assert_int_equal(r.out.restores, restores);
    client_domain = NULL;
    server_cert = NULL;
    rig_fini(&r);
}

static void tls_config_errors_are_located(void **state) {
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct fake_out out;
    fake_out_init(&out, &loop, 1);
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.pem", tls_dir);
    struct {
        const char *k0, *v0, *k1, *v1, *want;
    } cases[] = {
        {"cafile", missing, "domain", "x", "tcp 't': config.tls: cannot read the CA file"},
        {"cert", srv_cert, "domain", "x", "config.tls.key is required with config.tls.cert"},
        {"cert", srv_cert, "key", other_key, "config.tls: the key '"},
        {"cafile", srv_cert, "domain", "", "config.tls.domain must be a host name or address"},
        {"cafile", srv_cert, "verify", "no", "config.tls: unknown config key 'verify'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fake_spec sp;
        fake_spec_init(&sp, "tcp", "t");
        fake_spec_int(&sp, "port", 4242);
        spec_tls(&sp, cases[i].k0, cases[i].v0, cases[i].k1, cases[i].v1);
        struct tr_diag d;
        tr_diag_clear(&d);
        void *self = NULL;
        int rc = tr_tcp_offramp.create(&sp.s, &out.h, &self, &d);
        if (rc == 0 || !strstr(d.msg, cases[i].want))
            fail_msg("case %zu: expected '%s', got %d '%s'", i, cases[i].want, rc, d.msg);
        assert_null(self);
        fake_spec_fini(&sp);
    }
    struct fake_spec sp;
    fake_spec_init(&sp, "tcp", "t");
    fake_spec_int(&sp, "port", 4242);
    fake_spec_int(&sp, "tls", 1);
    struct tr_diag d;
    tr_diag_clear(&d);
    void *self = NULL;
    assert_int_equal(tr_tcp_offramp.create(&sp.s, &out.h, &self, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "config.tls must be true, false or a record"));
    fake_spec_fini(&sp);
    fake_out_fini(&out);
    assert_int_equal(fake_drain_and_close(&loop), 0);
}

static int tls_setup(void **st) {
    (void)st;
    snprintf(tls_dir, sizeof tls_dir, "/tmp/tr_tcp_tls_XXXXXX");
    if (!mkdtemp(tls_dir)) return -1;
    snprintf(srv_cert, sizeof srv_cert, "%s/cert.pem", tls_dir);
    snprintf(srv_key, sizeof srv_key, "%s/key.pem", tls_dir);
    snprintf(other_cert, sizeof other_cert, "%s/other.pem", tls_dir);
    snprintf(other_key, sizeof other_key, "%s/other.key", tls_dir);
    make_cert("localhost", srv_cert, srv_key);
    make_cert("localhost", other_cert, other_key);
    return 0;
}

static int tls_teardown(void **st) {
    (void)st;
    const char *fs[] = {srv_cert, srv_key, other_cert, other_key};
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) unlink(fs[i]);
    rmdir(tls_dir);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(tls_relay_bytes_and_acks_in_order, tls_setup, tls_teardown),
        cmocka_unit_test_setup_teardown(tls_reconnects_with_breaker_signals, tls_setup, tls_teardown),
        cmocka_unit_test_setup_teardown(tls_refusals_then_trusted, tls_setup, tls_teardown),
        cmocka_unit_test_setup_teardown(tls_config_errors_are_located, tls_setup, tls_teardown),
        cmocka_unit_test(relay_bytes_and_acks_in_order),
        cmocka_unit_test(reconnects_with_breaker_signals),
        cmocka_unit_test(stalled_peer_then_reset),
        cmocka_unit_test(server_breaker_stops_reading),
        cmocka_unit_test(streams_have_their_own_ids),
        cmocka_unit_test(server_resets_connections_over_the_cap),
        cmocka_unit_test(server_closes_idle_connections),
        cmocka_unit_test(server_closes_on_a_huge_length_prefix),
        cmocka_unit_test(server_budget_closes_the_peer_that_passes_it),
        cmocka_unit_test(config_errors_are_located),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
