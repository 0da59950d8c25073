/* test_dial.c - dial.h and outq.h: peer acknowledgement by TX_ACK reports
 * (event-driven) and by SIOCOUTQ polling (the fallback), against a plain
 * libuv TCP server in the same loop.
 *
 * Each delivery test runs once per way (flags 0 and TR_DIAL_ACK_POLL; TX_ACK
 * also over IPv6, whose reports come under SOL_IPV6). The
 * loop is driven until a condition holds; a deadline only fails a test.
 */
#include "connectors/conn.h"
#include "connectors/dial.h"
#include "connectors/outq.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/hist.h"

#include "fake_conn_host.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

/* ------------------------------------------------------------ the server */

struct server {
    uv_tcp_t listener;
    uv_tcp_t peer;
    bool accepted, peer_open;
    bool reading;                /* read what arrives (false: let it pile up) */
    uint64_t got;                /* bytes read */
    uint16_t port;
    char buf[65536];
};

static void srv_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
    (void)hint;
    struct server *s = h->data;
    *b = uv_buf_init(s->buf, sizeof s->buf);
}

static void srv_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
    (void)b;
    struct server *s = st->data;
    if (n > 0) s->got += (uint64_t)n;
}

static void srv_conn(uv_stream_t *l, int status) {
    struct server *s = l->data;
    assert_int_equal(status, 0);
    assert_false(s->accepted);   /* one connection per test */
    uv_tcp_init(l->loop, &s->peer);
    s->peer.data = s;
    assert_int_equal(uv_accept(l, (uv_stream_t *)&s->peer), 0);
    s->accepted = s->peer_open = true;
    if (s->reading) uv_read_start((uv_stream_t *)&s->peer, srv_alloc, srv_read);
}

static void srv_start_on(struct server *s, uv_loop_t *loop, const char *addr, bool reading, int port) {
    memset(s, 0, sizeof *s);
    s->reading = reading;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    struct sockaddr_storage a;
    if (strchr(addr, ':')) assert_int_equal(uv_ip6_addr(addr, port, (struct sockaddr_in6 *)&a), 0);
    else assert_int_equal(uv_ip4_addr(addr, port, (struct sockaddr_in *)&a), 0);
    assert_int_equal(uv_tcp_bind(&s->listener, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 8, srv_conn), 0);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
    s->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                       : ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void srv_start(struct server *s, uv_loop_t *loop, const char *addr, bool reading) {
    srv_start_on(s, loop, addr, reading, 0);
}

/* Reset the connection (SO_LINGER 0): the client sees it die at once. */
static void srv_kill_peer(struct server *s) {
    if (!s->peer_open) return;
    s->peer_open = false;
    uv_tcp_close_reset(&s->peer, NULL);
}

static void srv_stop(struct server *s) {
    srv_kill_peer(s);
    if (!uv_is_closing((uv_handle_t *)&s->listener)) uv_close((uv_handle_t *)&s->listener, NULL);
}

/* ------------------------------------------------------------ the client */

struct world {
    uv_loop_t loop;
    struct fake_out out;
    struct server srv;
    struct tr_dial *dial;
    unsigned flags;
    int ups, downs;
    bool closed;
    size_t want_answers;
};

static void on_up(void *arg, uv_tcp_t *tcp) {
    (void)tcp;
    ((struct world *)arg)->ups++;
}
static void on_down(void *arg, bool connected, const char *why) {
    (void)connected;
    (void)why;
    ((struct world *)arg)->downs++;
}
static const struct tr_dial_cbs cbs = {.up = on_up, .down = on_down};

static bool is_up(void *arg) { return ((struct world *)arg)->ups > 0; }
static bool is_down(void *arg) { return ((struct world *)arg)->downs > 0; }
static bool answered(void *arg) {
    struct world *w = arg;
    return w->out.nanswers >= w->want_answers;
}
static bool some_acked(void *arg) { return ((struct world *)arg)->out.nacks > 0; }

/* How a test runs: the way acks are learnt, over IPv4 or IPv6 loopback. */
struct way {
    unsigned flags;
    const char *addr;
};

static struct world *world_new(const struct way *way, bool reading, size_t ntokens) {
    struct world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    uv_loop_init(&w->loop);
    fake_out_init(&w->out, &w->loop, ntokens);
    srv_start(&w->srv, &w->loop, way->addr, reading);
    w->flags = way->flags;
    assert_int_equal(tr_dial_create(&w->loop, &w->out.h, way->addr, w->srv.port, way->flags, &cbs, w,
                                    &w->dial),
                     0);
    tr_dial_start(w->dial);
    assert_true(fake_run_until(&w->loop, is_up, w));
    return w;
}

static void world_free(struct world *w) {
    tr_dial_close(w->dial, 0, fake_set_flag, &w->closed);
    assert_true(fake_run_until(&w->loop, fake_flag_set, &w->closed));
    srv_stop(&w->srv);
    assert_int_equal(fake_drain_and_close(&w->loop), 0);
    fake_out_fini(&w->out);
    free(w);
}

/* Write one message of len bytes and track it as token: odd tokens after
 * the write, even ones before it (as the tcp offramp tracks what it
 * batches for the end of the loop turn; the write stamps their send time). */
static void send_one(struct world *w, uint64_t token, size_t len) {
    char *p = tr_malloc(len);
    assert_non_null(p);
    memset(p, 'a' + (int)(token % 26), len);
    if (token % 2 == 0)
        assert_int_equal(tr_dial_track(w->dial, token, tr_dial_queued(w->dial) + len), 0);
    assert_int_equal(tr_dial_write(w->dial, p, len), 0);
    if (token % 2) assert_int_equal(tr_dial_track(w->dial, token, tr_dial_queued(w->dial)), 0);
}

/* ---------------------------------------------------------------- tests */

/* Messages tracked before their bytes are written carry no send time
 * until a write covers them; the stamp stops at the first stamped one. */
static void stamps_on_write(void **state) {
    (void)state;
    struct tr_outq q;
    tr_outq_init(&q);
    assert_int_equal(tr_outq_push(&q, 1, 10, 5), 0);
    assert_false(tr_outq_unstamped(&q));
    assert_int_equal(tr_outq_push(&q, 2, 20, 0), 0);
    assert_int_equal(tr_outq_push(&q, 3, 30, 0), 0);
    assert_true(tr_outq_unstamped(&q));
    tr_outq_stamp(&q, 20, 7);   /* the bytes up to 20 went out at 7 */
    assert_true(tr_outq_unstamped(&q));
    tr_outq_stamp(&q, 30, 9);
    assert_false(tr_outq_unstamped(&q));
    struct tr_outq_ent e;
    uint64_t want[][2] = {{1, 5}, {2, 7}, {3, 9}};
    for (int i = 0; i < 3; i++) {
        assert_true(tr_outq_pop(&q, UINT64_MAX, &e));
        assert_int_equal(e.token, want[i][0]);
        assert_int_equal(e.sent_ns, want[i][1]);
    }
    tr_outq_fini(&q);
}

/* Report offsets are 32 bits: the 64-bit offset goes on across the wrap,
 * and a report behind the current one changes nothing. */
static void txack_offsets_unwrap(void **state) {
    (void)state;
    uint64_t a = 0;
    tr_outq_txack_raise(&a, 99);
    assert_int_equal(a, 100);
    tr_outq_txack_raise(&a, 49);
    assert_int_equal(a, 100);
    a = 0xffffff00u;
    tr_outq_txack_raise(&a, 0xffffffffu);
    assert_int_equal(a, 0x100000000ull);
    tr_outq_txack_raise(&a, 5);
    assert_int_equal(a, 0x100000006ull);
    tr_outq_txack_raise(&a, 0xfffffff0u);   /* from before the wrap */
    assert_int_equal(a, 0x100000006ull);
    a = 0x3fffffff0ull;                     /* fourth time round */
    tr_outq_txack_raise(&a, 0x10);
    assert_int_equal(a, 0x400000011ull);
}

#define N 3000
#define LEN 100

/* Every tracked message is acked once, in order, when the peer's TCP has
 * it; the way the ack was learnt shows in the counters; every ack has a
 * latency in the histogram. */
static void acks_everything_once(void **state) {
    const struct way *way = *state;
    unsigned flags = way->flags;
    struct world *w = world_new(way, true, N);
    bool txack = !(flags & TR_DIAL_ACK_POLL);
    assert_int_equal(tr_dial_txack(w->dial), txack);
    for (uint64_t i = 0; i < N; i++) send_one(w, i, LEN);
    w->want_answers = N;
    assert_true(fake_run_until(&w->loop, answered, w));
    assert_int_equal(w->out.nacks, N);
    assert_int_equal(w->out.nfails, 0);
    assert_false(w->out.twice);
    assert_false(w->out.order_broken);
    const struct tr_dial_stats *st = tr_dial_stats(w->dial);
    print_message("%s %s: %llu reports, %llu SIOCOUTQ polls, p99 %llu ns\n", way->addr,
                  txack ? "TX_ACK" : "SIOCOUTQ",
                  (unsigned long long)st->reports, (unsigned long long)st->polls,
                  (unsigned long long)tr_hist_value_at(st->ack_ns, 0.99));
    assert_int_equal(st->acked, N);
    assert_int_equal(st->failed, 0);
    assert_int_equal(tr_hist_count(st->ack_ns), N);
    /* every message has its send time, whichever came first */
    assert_int_equal(tr_hist_clamped(st->ack_ns), 0);
    assert_true(tr_hist_max(st->ack_ns) < 10000000000ull);
    if (txack) assert_true(st->reports > 0);
    else assert_int_equal(st->reports, 0);
    if (!txack) assert_true(st->polls > 0);
    /* the blackhole-style report: its percentile table and the counters */
    struct tr_buf rep;
    tr_buf_init(&rep);
    assert_int_equal(tr_dial_report(w->dial, "out", &rep), 0);
    assert_int_equal(tr_buf_putc(&rep, 0), 0);
    assert_non_null(strstr(rep.data, "out: send -> peer confirmation (ns)\n"));
    assert_non_null(strstr(rep.data, "Value Percentile TotalCount 1/(1-Percentile)"));
    char line[128];
    snprintf(line, sizeof line, "Total count    = %12d]", N);
    assert_non_null(strstr(rep.data, line));
    snprintf(line, sizeof line, "Acked: %d, failed: 0, TX_ACK reports: %llu", N, (unsigned long long)st->reports);
    assert_non_null(strstr(rep.data, line));
    tr_buf_fini(&rep);
    world_free(w);
}

#define BIG_N 8000
#define BIG_LEN 1024

/* The peer reads nothing, so only what its kernel buffers absorbed is
 * acknowledged; then the connection is reset: those stay acked, the rest
 * is failed, each message answered exactly once and acks form a prefix. */
static void stalled_peer_then_reset(void **state) {
    struct world *w = world_new(*state, false, BIG_N);
    for (uint64_t i = 0; i < BIG_N; i++) send_one(w, i, BIG_LEN);
    assert_true(fake_run_until(&w->loop, some_acked, w));
    srv_kill_peer(&w->srv);
    assert_true(fake_run_until(&w->loop, is_down, w));
    w->want_answers = BIG_N;
    assert_true(fake_run_until(&w->loop, answered, w));
    print_message("acked %zu, failed %zu of %d\n", w->out.nacks, w->out.nfails, BIG_N);
    assert_true(w->out.nacks > 0);
    assert_true(w->out.nfails > 0);
    assert_false(w->out.twice);
    assert_false(w->out.order_broken);
    for (uint64_t i = 0; i < BIG_N; i++) {
        assert_int_equal(w->out.acked[i] + w->out.failed[i], 1);
        if (i < w->out.nacks) assert_int_equal(w->out.acked[i], 1);
    }
    world_free(w);
}

static bool downs_3(void *arg) { return ((struct world *)arg)->downs >= 3; }
static bool downs_4(void *arg) { return ((struct world *)arg)->downs >= 4; }
static bool downs_2(void *arg) { return ((struct world *)arg)->downs >= 2; }
static bool ups_2(void *arg) { return ((struct world *)arg)->ups >= 2; }

/* Away, the retries back off: 0.5-1 s, then 1-2 s, then 2-4 s (with
 * jitter); a connection that comes up resets them. */
static void retries_back_off_then_reset(void **state) {
    struct world *w = world_new(*state, true, 1);
    uint16_t port = w->srv.port;
    srv_stop(&w->srv);   /* the listener goes, the connection is reset */
    assert_true(fake_run_until(&w->loop, is_down, w));
    uint64_t d1 = tr_dial_retry_ms(w->dial);
    assert_true(fake_run_until(&w->loop, downs_2, w));   /* refused */
    uint64_t d2 = tr_dial_retry_ms(w->dial);
    assert_true(fake_run_until(&w->loop, downs_3, w));
    uint64_t d3 = tr_dial_retry_ms(w->dial);
    print_message("retry delays: %llu, %llu, %llu ms\n", (unsigned long long)d1,
                  (unsigned long long)d2, (unsigned long long)d3);
    assert_true(d1 >= 500 && d1 <= 1000);
    assert_true(d2 >= 1000 && d2 <= 2000);
    assert_true(d3 >= 2000 && d3 <= 4000);
    struct server *again = calloc(1, sizeof *again);
    assert_non_null(again);
    srv_start_on(again, &w->loop, "127.0.0.1", true, port);
    assert_true(fake_run_until(&w->loop, ups_2, w));
    srv_kill_peer(again);
    assert_true(fake_run_until(&w->loop, downs_4, w));
    uint64_t d4 = tr_dial_retry_ms(w->dial);
    assert_true(d4 >= 500 && d4 <= 1000);   /* back to the start */
    srv_stop(again);
    world_free(w);
    free(again);
}

int main(void) {
    static struct way txack = {0, "127.0.0.1"}, poll = {TR_DIAL_ACK_POLL, "127.0.0.1"},
                      txack6 = {0, "::1"};
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(txack_offsets_unwrap),
        cmocka_unit_test(stamps_on_write),
        cmocka_unit_test_prestate(retries_back_off_then_reset, &txack),
        cmocka_unit_test_prestate(acks_everything_once, &txack),
        cmocka_unit_test_prestate(acks_everything_once, &poll),
        cmocka_unit_test_prestate(acks_everything_once, &txack6),
        cmocka_unit_test_prestate(stalled_peer_then_reset, &txack),
        cmocka_unit_test_prestate(stalled_peer_then_reset, &poll),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
