/* test_ws_server.c - the ws onramp driven by a raw TCP client written here
 * (hand-made frames), so every byte on the wire is ours to choose: refused
 * upgrades, fragments, pings, oversize and invalid messages, close frames,
 * several clients, backpressure through trigger/restore, and close(),
 * plus the limits against hogging peers: the handshake timeout and
 * max_connections, and their config checks.
 */
/* conn.h first: its ops have a member named fail, which cmocka.h makes a macro */
#include "connectors/conn.h"
#include "connectors/ws_int.h"
#include "core/alloc.h"
#include "core/log.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <malloc.h>
#include <sys/socket.h>
#include <uv.h>

extern const struct tr_onramp_ops tr_ws_onramp;

#define DEADLINE_MS 20000
#define MAXEV 64

/* ------------------------------------------------------------- the host */

struct host {
    struct tr_onramp_host h;
    char *ev[MAXEV];
    size_t evlen[MAXEV];
    uint64_t evstream[MAXEV];
    size_t nev;
    size_t stream_ends;
    /* at the emit of message peek_at (1-based), bytes waiting on peek_fd */
    int peek_fd;
    size_t peek_at;
    ssize_t peeked;
};

static int64_t emit_value(struct tr_onramp_host *h, tr_value v, tr_value meta) {
    (void)h;
    tr_value_unref(v);
    tr_value_unref(meta);
    return -1;
}

static int emit_bytes(struct tr_onramp_host *h, uint64_t stream, const void *data, size_t len,
                      tr_value meta) {
    struct host *x = (struct host *)h;
    tr_value_unref(meta);
    assert_true(x->nev < MAXEV);
    x->ev[x->nev] = malloc(len + 1);
    memcpy(x->ev[x->nev], data, len);
    x->ev[x->nev][len] = 0;
    x->evlen[x->nev] = len;
    x->evstream[x->nev] = stream;
    x->nev++;
    if (x->peek_at && x->nev == x->peek_at) {
        char b[64];
        x->peeked = recv(x->peek_fd, b, sizeof b, MSG_PEEK | MSG_DONTWAIT);
    }
    return 0;
}

static void stream_end(struct tr_onramp_host *h, uint64_t stream) {
    (void)stream;
    ((struct host *)h)->stream_ends++;
}

static void host_done(struct tr_onramp_host *h) { (void)h; }

static const struct tr_onramp_host_ops host_ops = {
    .emit_value = emit_value,
    .emit_bytes = emit_bytes,
    .stream_end = stream_end,
    .done = host_done,
};

/* ----------------------------------------------------------- loop driver */

static void on_nudge(uv_timer_t *t) { (void)t; }

static void run_until(uv_loop_t *loop, bool (*cond)(void *), void *arg, const char *what) {
    uv_timer_t nudge;
    uv_timer_init(loop, &nudge);
    uv_timer_start(&nudge, on_nudge, 10, 10);
    uv_update_time(loop);
    uint64_t end = uv_now(loop) + DEADLINE_MS;
    while (!cond(arg)) {
        if (uv_now(loop) > end) fail_msg("timed out waiting for: %s", what);
        uv_run(loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&nudge, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

/* Let pending close callbacks run, then close the loop: every handle must
 * be gone (a leaked one fails here instead of hanging the test). */
static void drain_and_close(uv_loop_t *loop) {
    int rc = UV_EBUSY;
    for (int i = 0; i < 1000 && (rc = uv_loop_close(loop)) == UV_EBUSY; i++) uv_run(loop, UV_RUN_NOWAIT);
    assert_int_equal(rc, 0);
}

static bool flag_set(void *arg) { return *(bool *)arg; }
static void set_flag(void *arg) { *(bool *)arg = true; }

/* ------------------------------------------------------- the raw client */

struct raw {
    uv_tcp_t tcp;
    uv_connect_t creq;
    bool connected, eof, closed;
    int writes_pending;
    char *buf;
    size_t len, cap;
    size_t off;          /* parse position for frames */
};

/* A client refused for max_connections is reset by the server, which on
 * loopback may happen before the connect completes here: that counts as
 * connected and at once hung up. */
static void raw_on_connect(uv_connect_t *req, int status) {
    struct raw *r = req->data;
    if (status != 0) assert_int_equal(status, UV_ECONNRESET);
    r->connected = true;
    r->eof = status != 0;
}

static void raw_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
    (void)h;
    *b = uv_buf_init(malloc(hint), (unsigned)hint);
}

static void raw_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    struct raw *r = s->data;
    if (n < 0) r->eof = true;
    if (n > 0) {
        if (r->len + (size_t)n > r->cap) {
            r->cap = (r->len + (size_t)n) * 2;
            r->buf = realloc(r->buf, r->cap);
        }
        memcpy(r->buf + r->len, b->base, (size_t)n);
        r->len += (size_t)n;
    }
    free(b->base);
}

static void raw_connect(uv_loop_t *loop, struct raw *r, uint16_t port) {
    memset(r, 0, sizeof *r);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", port, &a);
    uv_tcp_init(loop, &r->tcp);
    r->tcp.data = r;
    r->creq.data = r;
    assert_int_equal(uv_tcp_connect(&r->creq, &r->tcp, (struct sockaddr *)&a, raw_on_connect), 0);
    run_until(loop, flag_set, &r->connected, "raw client connected");
    if (!r->eof) uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_on_read);
}

struct rw {
    uv_write_t req;
    struct raw *r;
    char data[];
};

static void raw_on_write(uv_write_t *req, int status) {
    (void)status;
    struct rw *w = (struct rw *)req;
    w->r->writes_pending--;
    free(w);
}

static bool raw_written(void *arg) { return ((struct raw *)arg)->writes_pending == 0; }

/* Write and wait until the kernel has it (on loopback: the server's). */
static void raw_write(uv_loop_t *loop, struct raw *r, const void *p, size_t n) {
    struct rw *w = malloc(sizeof *w + n);
    memcpy(w->data, p, n);
    w->r = r;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    r->writes_pending++;
    assert_int_equal(uv_write(&w->req, (uv_stream_t *)&r->tcp, &b, 1, raw_on_write), 0);
    run_until(loop, raw_written, r, "raw write done");
}

static void raw_on_close(uv_handle_t *h) { ((struct raw *)h->data)->closed = true; }

static void raw_close(uv_loop_t *loop, struct raw *r) {
    if (!uv_is_closing((uv_handle_t *)&r->tcp)) uv_close((uv_handle_t *)&r->tcp, raw_on_close);
    run_until(loop, flag_set, &r->closed, "raw client closed");
    free(r->buf);
}

static bool raw_eof(void *arg) { return ((struct raw *)arg)->eof; }

/* A client frame (masked unless told otherwise), payload < 65536. */
static size_t frame(uint8_t *out, bool fin, uint8_t op, const void *payload, size_t n, bool masked) {
    size_t k = 0;
    out[k++] = (uint8_t)((fin ? 0x80 : 0) | op);
    uint8_t m = masked ? 0x80 : 0;
    if (n < 126) {
        out[k++] = (uint8_t)(m | n);
    } else {
        out[k++] = m | 126;
        out[k++] = (uint8_t)(n >> 8);
        out[k++] = (uint8_t)n;
    }
    const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    if (masked) memcpy(out + k, key, 4), k += 4;
    for (size_t i = 0; i < n; i++) out[k + i] = ((const uint8_t *)payload)[i] ^ (masked ? key[i % 4] : 0);
    return k + n;
}

static void send_frame(uv_loop_t *loop, struct raw *r, bool fin, uint8_t op, const void *p, size_t n) {
    uint8_t buf[70000];
    raw_write(loop, r, buf, frame(buf, fin, op, p, n, true));
}

/* The server's frames (unmasked) after the HTTP head. */
struct sframe {
    uint8_t op;
    const uint8_t *p;
    size_t n;
};

struct frame_wait {
    struct raw *r;
    struct sframe f;
};

static bool next_frame(void *arg) {
    struct frame_wait *fw = arg;
    struct raw *r = fw->r;
    if (!r->off) {
        char *end = memmem(r->buf, r->len, "\r\n\r\n", 4);
        if (!end) return false;
        r->off = (size_t)(end + 4 - r->buf);
    }
    size_t avail = r->len - r->off;
    const uint8_t *b = (const uint8_t *)r->buf + r->off;
    if (avail < 2) return false;
    assert_int_equal(b[1] & 0x80, 0);   /* servers never mask */
    size_t n = b[1] & 0x7f, h = 2;
    if (n == 126) {
        if (avail < 4) return false;
        n = (size_t)b[2] << 8 | b[3];
        h = 4;
    }
    if (avail < h + n) return false;
    fw->f.op = b[0] & 0x0f;
    fw->f.p = b + h;
    fw->f.n = n;
    r->off += h + n;
    return true;
}

static struct sframe wait_frame(uv_loop_t *loop, struct raw *r, const char *what) {
    struct frame_wait fw = {.r = r};
    run_until(loop, next_frame, &fw, what);
    return fw.f;
}

static uint16_t close_code(struct sframe f) {
    assert_int_equal(f.op, 0x8);
    assert_true(f.n >= 2);
    return (uint16_t)(f.p[0] << 8 | f.p[1]);
}

static const char UPGRADE[] = "GET /any/path HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n";

static bool have_head(void *arg) {
    struct raw *r = arg;
    return r->buf && memmem(r->buf, r->len, "\r\n\r\n", 4);
}

static void upgrade(uv_loop_t *loop, struct raw *r) {
    raw_write(loop, r, UPGRADE, sizeof UPGRADE - 1);
    run_until(loop, have_head, r, "101 response");
    assert_memory_equal(r->buf, "HTTP/1.1 101 ", 13);
    assert_non_null(memmem(r->buf, r->len, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", 52));
}

/* -------------------------------------------------------------- fixture */

struct world {
    uv_loop_t loop;
    struct host host;
    tr_value cfg;
    struct tr_conn_spec spec;
    void *s;
    uint16_t port;
    bool closed;
    size_t want_ev, want_ends;
};

static bool got_ev(void *arg) {
    struct world *w = arg;
    return w->host.nev >= w->want_ev;
}
static bool got_ends(void *arg) {
    struct world *w = arg;
    return w->host.stream_ends >= w->want_ends;
}

/* A loop, a host and a config with port 0; more keys with cfg_int. */
static struct world *world_new(void) {
    struct world *w = calloc(1, sizeof *w);
    uv_loop_init(&w->loop);
    w->host.h.ops = &host_ops;
    w->host.h.loop = &w->loop;
    assert_int_equal(tr_v_rec(2, &w->cfg), 0);
    assert_int_equal(tr_rec_set(&w->cfg, "port", 4, tr_v_int(0)), 0);
    w->spec = (struct tr_conn_spec){.id = "in", .type = "ws", .instance = "01", .config = &w->cfg,
                                    .file = "t.yaml", .line = 1, .col = 1};
    return w;
}

static void cfg_int(struct world *w, const char *key, int64_t v) {
    assert_int_equal(tr_rec_set(&w->cfg, key, strlen(key), tr_v_int(v)), 0);
}

static void world_start(struct world *w) {
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_ws_onramp.create(&w->spec, &w->host.h, &w->s, &d)) fail_msg("create: %s", d.msg);
    assert_int_equal(tr_ws_onramp.start(w->s), 0);
    w->port = tr_ws_onramp_port(w->s);
    assert_true(w->port > 0);
}

static struct world *setup(int64_t max_msg) {
    struct world *w = world_new();
    if (max_msg) cfg_int(w, "max_message_size", max_msg);
    world_start(w);
    return w;
}

static void teardown(struct world *w) {
    tr_ws_onramp.close(w->s, set_flag, &w->closed);
    run_until(&w->loop, flag_set, &w->closed, "onramp closed");
    drain_and_close(&w->loop);
    for (size_t i = 0; i < w->host.nev; i++) free(w->host.ev[i]);
    tr_value_unref(w->cfg);
    free(w);
}

/* ---------------------------------------------------------------- tests */

static void refuses_what_is_not_an_upgrade(void **state) {
    (void)state;
    struct world *w = setup(0);
    struct {
        const char *req;
        const char *want;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 "},
        {"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 7\r\n\r\n",
         "HTTP/1.1 426 "},
        {NULL, "HTTP/1.1 400 "},   /* a head that never ends */
    };
    for (size_t i = 0; i < 3; i++) {
        struct raw r;
        raw_connect(&w->loop, &r, w->port);
        if (cases[i].req) {
            raw_write(&w->loop, &r, cases[i].req, strlen(cases[i].req));
        } else {
            char junk[TR_WS_HEAD_MAX + 100];
            memset(junk, 'a', sizeof junk);
            raw_write(&w->loop, &r, junk, sizeof junk);
        }
        run_until(&w->loop, raw_eof, &r, "the server hangs up");
        assert_true(r.len >= 13);
        if (memcmp(r.buf, cases[i].want, 13) != 0)
            fail_msg("case %zu: expected '%s', got '%.*s'", i, cases[i].want, (int)r.len, r.buf);
        raw_close(&w->loop, &r);
    }
    assert_int_equal(w->host.nev, 0);
    assert_int_equal(w->host.stream_ends, 0);   /* no stream was ever opened */
    teardown(w);
}

static void messages_pings_fragments_and_close(void **state) {
    (void)state;
    struct world *w = setup(0);
    struct raw r;
    raw_connect(&w->loop, &r, w->port);
    upgrade(&w->loop, &r);
    send_frame(&w->loop, &r, true, 0x1, "{\"id\":1}", 8);
    const uint8_t bin[] = {0, 1, 2, 255};
    send_frame(&w->loop, &r, true, 0x2, bin, 4);
    /* a fragmented text message with a ping between its fragments */
    send_frame(&w->loop, &r, false, 0x1, "hel", 3);
    send_frame(&w->loop, &r, true, 0x9, "png", 3);
    struct sframe f = wait_frame(&w->loop, &r, "pong");
    assert_int_equal(f.op, 0xA);
    assert_int_equal(f.n, 3);
    assert_memory_equal(f.p, "png", 3);
    send_frame(&w->loop, &r, true, 0x0, "lo!", 3);
    /* 300 bytes: the 16-bit length form */
    char big[300];
    memset(big, 'z', sizeof big);
    send_frame(&w->loop, &r, true, 0x1, big, sizeof big);
    w->want_ev = 4;
    run_until(&w->loop, got_ev, w, "four events");
    assert_int_equal(w->host.nev, 4);
    assert_string_equal(w->host.ev[0], "{\"id\":1}");
    assert_int_equal(w->host.evlen[1], 4);
    assert_memory_equal(w->host.ev[1], bin, 4);
    assert_string_equal(w->host.ev[2], "hello!");
    assert_int_equal(w->host.evlen[3], 300);
    for (size_t i = 1; i < 4; i++) assert_int_equal(w->host.evstream[i], w->host.evstream[0]);
    /* close: answered with the same code, then the server hangs up */
    uint8_t code[2] = {0x03, 0xE8};
    send_frame(&w->loop, &r, true, 0x8, code, 2);
    f = wait_frame(&w->loop, &r, "close reply");
    assert_int_equal(close_code(f), 1000);
    run_until(&w->loop, raw_eof, &r, "hang up after close");
    w->want_ends = 1;
    run_until(&w->loop, got_ends, w, "stream end");
    raw_close(&w->loop, &r);
    assert_int_equal(w->host.stream_ends, 1);
    teardown(w);
}

static void bad_frames_close_with_a_code(void **state) {
    (void)state;
    struct world *w = setup(10);
    struct { uint8_t op; const char *p; size_t n; bool masked; uint16_t code; } cases[] = {
        {0x1, "01234567890", 11, true, 1009},    /* larger than max_message_size */
        {0x1, "\xc3\x28", 2, true, 1007},        /* not UTF-8 */
        {0x1, "hi", 2, false, 1002},             /* unmasked client frame */
        {0x3, "hi", 2, true, 1002},              /* reserved opcode */
        {0x8, "\x03", 1, true, 1002},            /* close body of 1 byte (RFC 6455 5.5.1) */
        {0x8, "\x03\xed", 2, true, 1002},        /* close code 1005 may not be sent */
        {0x8, "\x03\xe7", 2, true, 1002},        /* 999: below the defined range */
        {0x8, "\x13\x88", 2, true, 1002},        /* 5000: above it */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct raw r;
        raw_connect(&w->loop, &r, w->port);
        upgrade(&w->loop, &r);
        uint8_t buf[64];
        raw_write(&w->loop, &r, buf, frame(buf, true, cases[i].op, cases[i].p, cases[i].n, cases[i].masked));
        struct sframe f = wait_frame(&w->loop, &r, "close frame");
        if (close_code(f) != cases[i].code) fail_msg("case %zu: expected %u, got %u", i, cases[i].code, close_code(f));
        run_until(&w->loop, raw_eof, &r, "hang up");
        raw_close(&w->loop, &r);
    }
    assert_int_equal(w->host.nev, 0);
    w->want_ends = sizeof cases / sizeof cases[0];
    run_until(&w->loop, got_ends, w, "a stream end for each");
    teardown(w);
}

static void clients_have_their_own_streams(void **state) {
    (void)state;
    struct world *w = setup(0);
    struct raw a, b;
    raw_connect(&w->loop, &a, w->port);
    raw_connect(&w->loop, &b, w->port);
    upgrade(&w->loop, &a);
    upgrade(&w->loop, &b);
    send_frame(&w->loop, &a, true, 0x1, "from a", 6);
    w->want_ev = 1;
    run_until(&w->loop, got_ev, w, "a's message");
    send_frame(&w->loop, &b, true, 0x1, "from b", 6);
    w->want_ev = 2;
    run_until(&w->loop, got_ev, w, "b's message");
    assert_string_equal(w->host.ev[0], "from a");
    assert_string_equal(w->host.ev[1], "from b");
    assert_true(w->host.evstream[0] != w->host.evstream[1]);
    /* a client that just goes away ends its stream */
    raw_close(&w->loop, &a);
    w->want_ends = 1;
    run_until(&w->loop, got_ends, w, "a's stream end");
    /* close(): the remaining client is told 1001 (going away) */
    tr_ws_onramp.close(w->s, set_flag, &w->closed);
    struct sframe f = wait_frame(&w->loop, &b, "close frame on shutdown");
    assert_int_equal(close_code(f), 1001);
    run_until(&w->loop, raw_eof, &b, "hang up on shutdown");
    run_until(&w->loop, flag_set, &w->closed, "onramp closed");
    assert_int_equal(w->host.stream_ends, 2);
    raw_close(&w->loop, &b);
    drain_and_close(&w->loop);
    for (size_t i = 0; i < w->host.nev; i++) free(w->host.ev[i]);
    tr_value_unref(w->cfg);
    free(w);
}

/* trigger: nothing is read from the clients, even what already arrived;
 * restore: everything comes, in order. */
static void trigger_holds_messages_until_restore(void **state) {
    (void)state;
    struct world *w = setup(0);
    struct raw r;
    raw_connect(&w->loop, &r, w->port);
    upgrade(&w->loop, &r);
    send_frame(&w->loop, &r, true, 0x1, "one", 3);
    w->want_ev = 1;
    run_until(&w->loop, got_ev, w, "first message");
    tr_ws_onramp.trigger(w->s);
    send_frame(&w->loop, &r, true, 0x1, "two", 3);
    send_frame(&w->loop, &r, true, 0x1, "three", 5);
    /* The bytes are in the server's socket (the writes completed on
     * loopback); a bounded number of loop turns must not emit them. */
    for (int i = 0; i < 50; i++) uv_run(&w->loop, UV_RUN_NOWAIT);
    assert_int_equal(w->host.nev, 1);
    tr_ws_onramp.restore(w->s);
    w->want_ev = 3;
    run_until(&w->loop, got_ev, w, "held messages after restore");
    assert_string_equal(w->host.ev[1], "two");
    assert_string_equal(w->host.ev[2], "three");
    raw_close(&w->loop, &r);
    teardown(w);
}

struct until {
    uv_loop_t *loop;
    uint64_t t;
};

static bool time_reached(void *arg) {
    struct until *u = arg;
    return uv_now(u->loop) >= u->t;
}

/* Let ms of loop time pass with the server running (its timers fire). */
static void run_for(uv_loop_t *loop, uint64_t ms) {
    uv_update_time(loop);
    struct until u = {loop, uv_now(loop) + ms};
    run_until(loop, time_reached, &u, "time to pass");
}

/* A client that sends nothing, and one that stops halfway through the
 * head, are closed after handshake_timeout_ms; one that upgraded in time
 * is not touched by the sweep. */
static void handshake_timeout_closes_silent_clients(void **state) {
    (void)state;
    struct world *w = world_new();
    cfg_int(w, "handshake_timeout_ms", 200);
    world_start(w);
    struct raw ok, idle, slow;
    raw_connect(&w->loop, &ok, w->port);
    upgrade(&w->loop, &ok);
    uv_update_time(&w->loop);
    uint64_t t0 = uv_now(&w->loop);
    raw_connect(&w->loop, &idle, w->port);
    raw_connect(&w->loop, &slow, w->port);
    const char part[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    raw_write(&w->loop, &slow, part, sizeof part - 1);
    run_until(&w->loop, raw_eof, &idle, "idle client closed by the handshake timeout");
    run_until(&w->loop, raw_eof, &slow, "slow client closed by the handshake timeout");
    uint64_t took = uv_now(&w->loop) - t0;
    /* expected: closed after the timeout (less a few ms between accept and
     * the client seeing its connect complete), well before the deadline */
    if (took < 150 || took > 5000) fail_msg("expected a close after ~200 ms, got %llu ms",
                                            (unsigned long long)took);
    assert_int_equal(idle.len, 0);
    assert_int_equal(slow.len, 0);
    assert_int_equal(w->host.stream_ends, 0);   /* neither ever had a stream */
    /* Several timeouts later the upgraded client still works. */
    run_for(&w->loop, 600);
    assert_false(ok.eof);
    send_frame(&w->loop, &ok, true, 0x1, "still here", 10);
    w->want_ev = 1;
    run_until(&w->loop, got_ev, w, "message from the upgraded client");
    assert_string_equal(w->host.ev[0], "still here");
    raw_close(&w->loop, &idle);
    raw_close(&w->loop, &slow);
    raw_close(&w->loop, &ok);
    teardown(w);
}

/* With max_connections 2 a third client is closed at once while the first
 * two stay usable; when one of them leaves there is room again. */
static void max_connections_refuses_the_extra_client(void **state) {
    (void)state;
    struct world *w = world_new();
    cfg_int(w, "max_connections", 2);
    /* so that only the cap can close the third client */
    cfg_int(w, "handshake_timeout_ms", 600000);
    world_start(w);
    struct raw a, b, c, d;
    raw_connect(&w->loop, &a, w->port);
    raw_connect(&w->loop, &b, w->port);
    raw_connect(&w->loop, &c, w->port);
    run_until(&w->loop, raw_eof, &c, "the third client closed");
    assert_int_equal(c.len, 0);
    upgrade(&w->loop, &a);
    upgrade(&w->loop, &b);
    assert_false(a.eof);
    assert_false(b.eof);
    send_frame(&w->loop, &a, true, 0x1, "a", 1);
    send_frame(&w->loop, &b, true, 0x1, "b", 1);
    w->want_ev = 2;
    run_until(&w->loop, got_ev, w, "messages from the first two");
    raw_close(&w->loop, &c);
    raw_close(&w->loop, &a);
    w->want_ends = 1;
    run_until(&w->loop, got_ends, w, "a's stream end");
    raw_connect(&w->loop, &d, w->port);
    upgrade(&w->loop, &d);
    send_frame(&w->loop, &d, true, 0x1, "d", 1);
    w->want_ev = 3;
    run_until(&w->loop, got_ev, w, "a message from the client let in later");
    assert_string_equal(w->host.ev[2], "d");
    assert_false(b.eof);
    raw_close(&w->loop, &b);
    raw_close(&w->loop, &d);
    teardown(w);
}

/* A ping's pong is written before the frames read behind it are handed
 * on: a sender waiting for pongs (the ws offramp's ack_mode "pong") is not
 * held up by what the server does with the rest of the same read. 50
 * messages of 1000 bytes follow the ping in one write; when the 12th is
 * emitted, the pong is already waiting in the client's socket. */
static bool got_pong(void *arg);

static void pong_goes_out_before_the_rest_of_the_read(void **state) {
    (void)state;
    struct world *w = setup(0);
    struct raw r;
    raw_connect(&w->loop, &r, w->port);
    upgrade(&w->loop, &r);
    enum { N = 50, LEN = 1000 };
    uint8_t *buf = malloc((size_t)N * (LEN + 8) + 16);
    char payload[LEN];
    memset(payload, 'm', sizeof payload);
    size_t k = frame(buf, true, 0x9, "p", 1, true);
    for (int i = 0; i < N; i++) k += frame(buf + k, true, 0x1, payload, LEN, true);
    uv_os_fd_t fd;
    assert_int_equal(uv_fileno((uv_handle_t *)&r.tcp, &fd), 0);
    w->host.peek_fd = fd;
    w->host.peek_at = 12;
    w->host.peeked = -1;
    raw_write(&w->loop, &r, buf, k);
    w->want_ev = N;
    run_until(&w->loop, got_ev, w, "the 50 messages");
    if (w->host.peeked <= 0) fail_msg("no pong on the wire when the 12th message was emitted");
    struct frame_wait fw = {.r = &r};
    run_until(&w->loop, got_pong, &fw, "the pong");
    free(buf);
    raw_close(&w->loop, &r);
    teardown(w);
}

/* The pong of a ping that comes behind messages in the same read does not
 * wait for those messages to go through the pipeline: the slice is parsed,
 * its pong written, and only then are its messages emitted. 7 messages of
 * 1000 bytes and a ping in one write (one slice); when the first message is
 * emitted, the pong is already waiting in the client's socket. */
static void pong_goes_out_before_the_messages_ahead_of_it(void **state) {
    (void)state;
    struct world *w = setup(0);
    struct raw r;
    raw_connect(&w->loop, &r, w->port);
    upgrade(&w->loop, &r);
    enum { N = 7, LEN = 1000 };
    uint8_t *buf = malloc((size_t)N * (LEN + 8) + 16);
    char payload[LEN];
    size_t k = 0;
    for (int i = 0; i < N; i++) {
        memset(payload, 'a' + i, sizeof payload);
        k += frame(buf + k, true, 0x1, payload, LEN, true);
    }
    k += frame(buf + k, true, 0x9, "p", 1, true);
    uv_os_fd_t fd;
    assert_int_equal(uv_fileno((uv_handle_t *)&r.tcp, &fd), 0);
    w->host.peek_fd = fd;
    w->host.peek_at = 1;
    w->host.peeked = -1;
    raw_write(&w->loop, &r, buf, k);
    w->want_ev = N;
    run_until(&w->loop, got_ev, w, "the 7 messages");
    if (w->host.peeked <= 0) fail_msg("no pong on the wire when the first message was emitted");
    for (int i = 0; i < N; i++) {   /* all of them, in order */
        assert_int_equal(w->host.evlen[i], LEN);
        assert_int_equal(w->host.ev[i][0], 'a' + i);
    }
    struct frame_wait fw = {.r = &r};
    run_until(&w->loop, got_pong, &fw, "the pong");
    free(buf);
    raw_close(&w->loop, &r);
    teardown(w);
}

/* Messages read whole before one that passes max_message_size, in the
 * same read, are still emitted; then the peer gets 1009. */
static void messages_before_a_too_big_one_are_kept(void **state) {
    (void)state;
    struct world *w = setup(10);
    struct raw r;
    raw_connect(&w->loop, &r, w->port);
    upgrade(&w->loop, &r);
    uint8_t buf[128];
    size_t k = frame(buf, true, 0x1, "one", 3, true);
    k += frame(buf + k, true, 0x1, "two", 3, true);
    k += frame(buf + k, true, 0x1, "01234567890", 11, true);
    k += frame(buf + k, true, 0x1, "after", 5, true);
    raw_write(&w->loop, &r, buf, k);
    struct sframe f = wait_frame(&w->loop, &r, "close frame");
    assert_int_equal(close_code(f), 1009);
    run_until(&w->loop, raw_eof, &r, "hang up after 1009");
    w->want_ends = 1;
    run_until(&w->loop, got_ends, w, "stream end");
    assert_int_equal(w->host.nev, 2);
    assert_memory_equal(w->host.ev[0], "one", 3);
    assert_memory_equal(w->host.ev[1], "two", 3);
    raw_close(&w->loop, &r);
    teardown(w);
}

/* Bytes of the process heap in use (malloc, which wslay uses too, not only
 * our counted seam). */
static size_t heap_used(void) { return mallinfo2().uordblks; }

static bool got_pong(void *arg) {
    struct frame_wait *fw = arg;
    return next_frame(fw) && fw->f.op == 0xA;
}

/* 1-byte fragments cost a few bytes each, not an allocation each: 30,000
 * of them into an unfinished message grow the heap by about the message,
 * then the message completes; past max_message_size the peer gets 1009. */
static void fragments_cost_their_bytes_only(void **state) {
    (void)state;
    struct world *w = setup(40000);
    struct raw r;
    raw_connect(&w->loop, &r, w->port);
    upgrade(&w->loop, &r);
    enum { N = 30000, FRAME = 7 };
    uint8_t *buf = malloc((size_t)N * FRAME);
    size_t k = frame(buf, false, 0x1, "a", 1, true);
    for (int i = 1; i < N; i++) k += frame(buf + k, false, 0x0, "b", 1, true);
    size_t before = heap_used();
    raw_write(&w->loop, &r, buf, k);
    /* a ping after the fragments: its pong says they have all been read */
    send_frame(&w->loop, &r, true, 0x9, "p", 1);
    struct frame_wait fw = {.r = &r};
    run_until(&w->loop, got_pong, &fw, "pong after the fragments");
    size_t grew = heap_used() > before ? heap_used() - before : 0;
    /* expected: about the 30,000-byte buffer (64 KiB at most); wslay's own
     * buffering took ~2 MB here (two mallocs per fragment) */
    if (grew > 200000) fail_msg("heap grew by %zu bytes for %d one-byte fragments", grew, N);
    send_frame(&w->loop, &r, true, 0x0, "c", 1);
    w->want_ev = 1;
    run_until(&w->loop, got_ev, w, "the message of 30,001 fragments");
    assert_int_equal(w->host.evlen[0], N + 1);
    assert_int_equal(w->host.ev[0][0], 'a');
    assert_int_equal(w->host.ev[0][N], 'c');
    /* now one byte too many: 40,000 in fragments, then one more */
    k = frame(buf, false, 0x2, "x", 1, true);
    raw_write(&w->loop, &r, buf, k);
    char big[9999];
    memset(big, 'y', sizeof big);
    for (int i = 0; i < 4; i++) send_frame(&w->loop, &r, false, 0x0, big, sizeof big);
    send_frame(&w->loop, &r, false, 0x0, "zzz", 3);   /* 1 + 39,996 + 3 = 40,000: still fine */
    assert_false(r.eof);
    send_frame(&w->loop, &r, false, 0x0, "!", 1);     /* 40,001 */
    struct sframe f = wait_frame(&w->loop, &r, "close frame");
    assert_int_equal(close_code(f), 1009);
    run_until(&w->loop, raw_eof, &r, "hang up after 1009");
    assert_int_equal(w->host.nev, 1);
    free(buf);
    raw_close(&w->loop, &r);
    teardown(w);
}

/* max_buffered_bytes is shared: a second client whose unfinished message
 * would pass it is closed with 1009 while the first one, within it,
 * completes its message; once that is done there is room again. */
static void budget_is_shared_by_the_connections(void **state) {
    (void)state;
    struct world *w = world_new();
    cfg_int(w, "max_message_size", 800);
    cfg_int(w, "max_buffered_bytes", 1000);
    world_start(w);
    struct raw a, b, c;
    raw_connect(&w->loop, &a, w->port);
    raw_connect(&w->loop, &b, w->port);
    upgrade(&w->loop, &a);
    upgrade(&w->loop, &b);
    char p[600];
    memset(p, 'p', sizeof p);
    send_frame(&w->loop, &a, false, 0x1, p, 600);
    send_frame(&w->loop, &b, false, 0x1, p, 500);
    struct sframe f = wait_frame(&w->loop, &b, "close frame for b");
    assert_int_equal(close_code(f), 1009);
    run_until(&w->loop, raw_eof, &b, "b hung up");
    send_frame(&w->loop, &a, true, 0x0, p, 100);
    w->want_ev = 1;
    run_until(&w->loop, got_ev, w, "a's message");
    assert_int_equal(w->host.evlen[0], 700);
    raw_connect(&w->loop, &c, w->port);
    upgrade(&w->loop, &c);
    send_frame(&w->loop, &c, false, 0x1, p, 500);
    send_frame(&w->loop, &c, true, 0x0, p, 10);
    w->want_ev = 2;
    run_until(&w->loop, got_ev, w, "c's message after a's was done");
    assert_int_equal(w->host.evlen[1], 510);
    assert_false(a.eof);
    raw_close(&w->loop, &a);
    raw_close(&w->loop, &b);
    raw_close(&w->loop, &c);
    teardown(w);
}

/* After the upgrade, a client that sends nothing for idle_timeout_ms is
 * told 1001 and closed; one that keeps talking is not. */
static void idle_timeout_closes_silent_clients(void **state) {
    (void)state;
    struct world *w = world_new();
    cfg_int(w, "idle_timeout_ms", 300);
    world_start(w);
    struct raw quiet, chatty;
    raw_connect(&w->loop, &quiet, w->port);
    raw_connect(&w->loop, &chatty, w->port);
    upgrade(&w->loop, &quiet);
    upgrade(&w->loop, &chatty);
    /* chatty sends every 50 ms until quiet is closed */
    uv_update_time(&w->loop);
    uint64_t next = uv_now(&w->loop);
    uv_update_time(&w->loop);
    while (!quiet.eof) {
        if (uv_now(&w->loop) >= next) {
            send_frame(&w->loop, &chatty, true, 0x1, "hi", 2);
            next = uv_now(&w->loop) + 50;
        }
        run_for(&w->loop, 10);
    }
    struct sframe f = wait_frame(&w->loop, &quiet, "close frame for the quiet client");
    assert_int_equal(close_code(f), 1001);
    assert_false(chatty.eof);
    assert_true(w->host.nev >= 1);
    w->want_ends = 1;
    run_until(&w->loop, got_ends, w, "quiet's stream end");
    raw_close(&w->loop, &quiet);
    raw_close(&w->loop, &chatty);
    teardown(w);
}

/* create with config `key: v`; expect TR_EINVAL_CFG and want in the
 * message, or (want NULL) success. */
static void check_cfg(const char *key, tr_value v, const char *want) {
    struct world *w = world_new();
    assert_int_equal(tr_rec_set(&w->cfg, key, strlen(key), v), 0);
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_ws_onramp.create(&w->spec, &w->host.h, &w->s, &d);
    if (want) {
        if (rc != TR_EINVAL_CFG) fail_msg("%s: expected TR_EINVAL_CFG, got %d", key, rc);
        assert_null(w->s);
        if (!strstr(d.msg, want)) fail_msg("%s: expected '%s' in '%s'", key, want, d.msg);
    } else {
        if (rc != 0) fail_msg("%s: expected success, got '%s'", key, d.msg);
        tr_ws_onramp.close(w->s, set_flag, &w->closed);
        run_until(&w->loop, flag_set, &w->closed, "unstarted onramp closed");
    }
    drain_and_close(&w->loop);
    tr_value_unref(w->cfg);
    free(w);
}

static void limits_config_is_checked(void **state) {
    (void)state;
    tr_value str;
    check_cfg("handshake_timeout_ms", tr_v_int(0), "config.handshake_timeout_ms must be between 1 and 600000");
    check_cfg("handshake_timeout_ms", tr_v_int(600001), "config.handshake_timeout_ms must be between 1 and 600000");
    check_cfg("handshake_timeout_ms", tr_v_int(-5), "config.handshake_timeout_ms must be a non-negative integer");
    assert_int_equal(tr_v_cstr("10s", &str), 0);
    check_cfg("handshake_timeout_ms", str, "config.handshake_timeout_ms must be a non-negative integer");
    check_cfg("max_connections", tr_v_int(0), "config.max_connections must be between 1 and 65536");
    check_cfg("max_connections", tr_v_int(65537), "config.max_connections must be between 1 and 65536");
    assert_int_equal(tr_v_cstr("many", &str), 0);
    check_cfg("max_connections", str, "config.max_connections must be a non-negative integer");
    check_cfg("max_connection", tr_v_int(5), "unknown config key 'max_connection'");
    check_cfg("handshake_timeout_ms", tr_v_int(1), NULL);
    check_cfg("handshake_timeout_ms", tr_v_int(600000), NULL);
    check_cfg("max_connections", tr_v_int(1), NULL);
    check_cfg("max_connections", tr_v_int(65536), NULL);
    check_cfg("idle_timeout_ms", tr_v_int(86400001), "config.idle_timeout_ms must be between 0 and 86400000");
    check_cfg("idle_timeout_ms", tr_v_int(0), NULL);
    check_cfg("max_buffered_bytes", tr_v_int(0), "config.max_buffered_bytes must be between 1 and");
    check_cfg("max_buffered_bytes", tr_v_int(1099511627777),
              "config.max_buffered_bytes must be between 1 and 1099511627776, found 1099511627777");
    check_cfg("max_message_size", tr_v_int(2147483649),
              "config.max_message_size must be between 1 and 2147483648, found 2147483649");
    check_cfg("port", tr_v_int(65536), "ws 'in': config.port must be at most 65535, found 65536");
    assert_int_equal(tr_v_cstr("example.org", &str), 0);
    check_cfg("host", str, "ws 'in': config.host must be an IP address or localhost, found 'example.org'");
}

/* Without a port the onramp names the key and says what it is for. */
static void port_is_required(void **state) {
    (void)state;
    struct world *w = world_new();
    assert_int_equal(tr_rec_remove(&w->cfg, "port", 4), 1);
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_ws_onramp.create(&w->spec, &w->host.h, &w->s, &d), TR_EINVAL_CFG);
    assert_null(w->s);
    assert_string_equal(d.msg, "ws 'in': config.port (TCP port to listen on, 0: any free one) is required");
    assert_int_equal(d.line, 1);
    drain_and_close(&w->loop);
    tr_value_unref(w->cfg);
    free(w);
}

int main(void) {
    tr_log_set_level(getenv("WS_TEST_VERBOSE") ? TR_LOG_DEBUG : TR_LOG_ERROR);
    size_t before = tr_alloc_used();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refuses_what_is_not_an_upgrade),
        cmocka_unit_test(messages_pings_fragments_and_close),
        cmocka_unit_test(bad_frames_close_with_a_code),
        cmocka_unit_test(clients_have_their_own_streams),
        cmocka_unit_test(trigger_holds_messages_until_restore),
        cmocka_unit_test(handshake_timeout_closes_silent_clients),
        cmocka_unit_test(max_connections_refuses_the_extra_client),
        cmocka_unit_test(fragments_cost_their_bytes_only),
        cmocka_unit_test(pong_goes_out_before_the_rest_of_the_read),
        cmocka_unit_test(pong_goes_out_before_the_messages_ahead_of_it),
        cmocka_unit_test(messages_before_a_too_big_one_are_kept),
        cmocka_unit_test(budget_is_shared_by_the_connections),
        cmocka_unit_test(idle_timeout_closes_silent_clients),
        cmocka_unit_test(limits_config_is_checked),
        cmocka_unit_test(port_is_required),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (!failed && tr_alloc_used() != before) {
        fprintf(stderr, "leak: %zu bytes still allocated through the seam\n", tr_alloc_used() - before);
        return 1;
    }
    return failed;
}
