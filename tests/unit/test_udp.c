/* test_udp.c - the udp onramp and offramp against plain sockets: one
 * stream per datagram (so a multi-line datagram is flushed at its end),
 * oversized datagrams dropped, acks on write, $udp.host/$udp.port
 * overrides, the deprecated dst_host/dst_port swap, and a bind that fails
 * being retried (breaker triggered) until it succeeds (restored). */
#include "connectors/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "fake_conn_host.h"

extern const struct tr_onramp_ops tr_udp_onramp;
extern const struct tr_offramp_ops tr_udp_offramp;

/* A UDP socket on 127.0.0.1 with a free port; *port gets it. */
static int udp_sock(unsigned *port) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    *port = ntohs(a.sin_port);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_to(int fd, unsigned port, const char *data, size_t len) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(sendto(fd, data, len, 0, (struct sockaddr *)&a, sizeof a), (ssize_t)len);
}

static void closed(void *arg) { *(bool *)arg = true; }

struct want {
    struct fake_in *in;
    size_t frames, ends;
};
static bool got_in(void *arg) {
    struct want *w = arg;
    return w->in->n >= w->frames && w->in->stream_ends >= w->ends;
}

static void test_onramp_datagrams(void **state) {
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    unsigned port;
    int probe = udp_sock(&port);
    close(probe);   /* a free port for the onramp */
    struct fake_in in;
    fake_in_init(&in, &loop);
    struct fake_spec sp;
    fake_spec_init(&sp, "udp", "u");
    fake_spec_int(&sp, "port", port);
    fake_spec_int(&sp, "max_datagram_size", 16);
    void *self;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_udp_onramp.create(&sp.s, &in.h, &self, &d), 0);
    assert_string_equal(tr_udp_onramp.default_codec, "string");   /* 0.11's */
    assert_int_equal(tr_udp_onramp.start(self), 0);
    unsigned cport;
    int c = udp_sock(&cport);
    send_to(c, port, "a\nb", 3);
    send_to(c, port, "0123456789abcdefXYZ", 19);   /* over 16: dropped */
    send_to(c, port, "c\n", 2);
    struct want w = {&in, 2, 2};
    assert_true(fake_run_until(&loop, got_in, &w));
    assert_int_equal(in.n, 2);
    assert_memory_equal(in.frames[0], "a\nb", 3);
    assert_memory_equal(in.frames[1], "c\n", 2);
    /* each datagram its own stream, ended right after it */
    assert_true(in.streams[0] != in.streams[1]);
    assert_int_equal(in.stream_ends, 2);
    assert_int_equal(in.last_ended, in.streams[1]);
    /* paused: nothing read; restored: the queued datagram arrives */
    tr_udp_onramp.trigger(self);
    send_to(c, port, "d", 1);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(in.n, 2);
    tr_udp_onramp.restore(self);
    w.frames = 3;
    w.ends = 3;
    assert_true(fake_run_until(&loop, got_in, &w));
    assert_memory_equal(in.frames[2], "d", 1);
    bool done = false;
    tr_udp_onramp.close(self, closed, &done);
    assert_true(fake_run_until(&loop, fake_flag_set, &done));
    close(c);
    fake_spec_fini(&sp);
    fake_in_fini(&in);
    assert_int_equal(fake_drain_and_close(&loop), 0);
}

static bool restored(void *arg) { return ((struct fake_out *)arg)->restores >= 1; }
static bool triggered(void *arg) { return ((struct fake_out *)arg)->triggers >= 1; }
struct nans {
    struct fake_out *o;
    size_t n;
};
static bool answered(void *arg) {
    struct nans *a = arg;
    return a->o->nanswers >= a->n;
}

static void send_msg(void *self, uint64_t token, const char *s, const tr_value *meta) {
    struct tr_out_msg m = {.token = token, .transactional = true, .data = s, .len = strlen(s),
                           .meta = meta};
    tr_udp_offramp.send(self, &m);
}

static void recv_is(int fd, const char *want) {
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    assert_int_equal(n, (ssize_t)strlen(want));
    assert_memory_equal(buf, want, (size_t)n);
}

static void test_offramp_acks_and_override(void **state) {
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    unsigned p1, p2;
    int r1 = udp_sock(&p1), r2 = udp_sock(&p2);
    struct fake_out out;
    fake_out_init(&out, &loop, 8);
    struct fake_spec sp;
    fake_spec_init(&sp, "udp", "o");
    fake_spec_str(&sp, "host", "127.0.0.1");
    fake_spec_int(&sp, "port", p1);
    void *self;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_udp_offramp.create(&sp.s, &out.h, &self, &d), 0);
    assert_false(tr_udp_offramp.is_active(self));
    assert_int_equal(tr_udp_offramp.start(self), 0);
    assert_true(fake_run_until(&loop, restored, &out));
    assert_true(tr_udp_offramp.is_active(self));
    send_msg(self, 0, "one", NULL);
    send_msg(self, 1, "two", NULL);
    /* $udp.host/$udp.port: this one goes to the second receiver */
    tr_value meta, udp, h;
    assert_int_equal(tr_v_rec(1, &meta), 0);
    assert_int_equal(tr_v_rec(2, &udp), 0);
    assert_int_equal(tr_v_cstr("127.0.0.1", &h), 0);
    assert_int_equal(tr_rec_set(&udp, "host", 4, h), 0);
    assert_int_equal(tr_rec_set(&udp, "port", 4, tr_v_int(p2)), 0);
    assert_int_equal(tr_rec_set(&meta, "udp", 3, udp), 0);
    send_msg(self, 2, "elsewhere", &meta);
    send_msg(self, 3, "three", NULL);
    struct nans a = {&out, 4};
    assert_true(fake_run_until(&loop, answered, &a));
    assert_int_equal(out.nacks, 4);
    assert_false(out.twice);
    recv_is(r1, "one");
    recv_is(r1, "two");
    recv_is(r1, "three");
    recv_is(r2, "elsewhere");
    /* a datagram over the UDP limit: failed, not acked */
    static char big[70000];
    memset(big, 'x', sizeof big - 1);
    send_msg(self, 4, big, NULL);
    a.n = 5;
    assert_true(fake_run_until(&loop, answered, &a));
    assert_int_equal(out.failed[4], 1);
    tr_value_unref(meta);
    bool done = false;
    tr_udp_offramp.close(self, closed, &done);
    assert_true(fake_run_until(&loop, fake_flag_set, &done));
    close(r1);
    close(r2);
    fake_spec_fini(&sp);
    fake_out_fini(&out);
    assert_int_equal(fake_drain_and_close(&loop), 0);
}

/* 0.11's deprecated names: host/port become the bind address. The bind
 * port is held by the test first, so the offramp retries until it is free. */
static void test_offramp_dst_swap_and_retry(void **state) {
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    unsigned pr, pb;
    int r = udp_sock(&pr), holder = udp_sock(&pb);
    struct fake_out out;
    fake_out_init(&out, &loop, 4);
    struct fake_spec sp;
    fake_spec_init(&sp, "udp", "o");
    fake_spec_str(&sp, "host", "127.0.0.1");
    fake_spec_int(&sp, "port", pb);
    fake_spec_str(&sp, "dst_host", "127.0.0.1");
    fake_spec_int(&sp, "dst_port", pr);
    void *self;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_udp_offramp.create(&sp.s, &out.h, &self, &d), 0);
    assert_int_equal(tr_udp_offramp.start(self), 0);
    assert_true(fake_run_until(&loop, triggered, &out));   /* port taken */
    assert_int_equal(out.restores, 0);
    send_msg(self, 0, "refused", NULL);
    assert_int_equal(out.failed[0], 1);   /* never dropped silently */
    close(holder);
    assert_true(fake_run_until(&loop, restored, &out));
    send_msg(self, 1, "hello", NULL);
    struct nans a = {&out, 2};
    assert_true(fake_run_until(&loop, answered, &a));
    assert_int_equal(out.acked[1], 1);
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    char buf[64];
    ssize_t n = recvfrom(r, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
    assert_int_equal(n, 5);
    assert_int_equal(ntohs(from.sin_port), pb);   /* sent from the bind port */
    bool done = false;
    tr_udp_offramp.close(self, closed, &done);
    assert_true(fake_run_until(&loop, fake_flag_set, &done));
    close(r);
    fake_spec_fini(&sp);
    fake_out_fini(&out);
    assert_int_equal(fake_drain_and_close(&loop), 0);
}

static void test_config_errors(void **state) {
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct fake_out out;
    fake_out_init(&out, &loop, 1);
    struct fake_spec sp;
    fake_spec_init(&sp, "udp", "o");
    fake_spec_str(&sp, "host", "127.0.0.1");   /* no port */
    void *self;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_udp_offramp.create(&sp.s, &out.h, &self, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "port"));
    fake_spec_int(&sp, "port", 9);
    fake_spec_int(&sp, "bind", 3);
    tr_diag_clear(&d);
    assert_int_equal(tr_udp_offramp.create(&sp.s, &out.h, &self, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "bind"));
    fake_spec_fini(&sp);
    fake_out_fini(&out);
    assert_int_equal(fake_drain_and_close(&loop), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_onramp_datagrams),
        cmocka_unit_test(test_offramp_acks_and_override),
        cmocka_unit_test(test_offramp_dst_swap_and_retry),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
