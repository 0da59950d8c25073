/* test_ws_client.c - the ws offramp against the ws onramp in one process.
 *
 * Fake hosts stand in for the runtime on both sides. The loop is driven
 * until a condition holds; a generous deadline only fails a test, it never
 * makes one pass. Also: config errors, refusals while disconnected, and the
 * TLS glue back to back in memory with a certificate made on the spot.
 */
/* conn.h first: its ops have a member named fail, which cmocka.h makes a macro */
#include "connectors/conn.h"
#include "connectors/tls.h"
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

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <uv.h>

extern const struct tr_offramp_ops tr_ws_offramp;
extern const struct tr_onramp_ops tr_ws_onramp;

#define DEADLINE_MS 20000

/* ------------------------------------------------------------ fake hosts */

struct rx {                     /* what the fake onramp host received */
    char **msgs;
    size_t *lens;
    uint64_t *streams;
    size_t n, cap;
    size_t stream_ends;
    size_t pause_at;            /* trigger the onramp after this many (0 = never) */
    void *onramp;
};

struct in_host {
    struct tr_onramp_host h;    /* first: the callbacks cast back */
    struct rx rx;
};

static int64_t in_emit_value(struct tr_onramp_host *h, tr_value v, tr_value meta) {
    (void)h;
    tr_value_unref(v);
    tr_value_unref(meta);
    return -1;
}

static int in_emit_bytes(struct tr_onramp_host *h, uint64_t stream, const void *data, size_t len,
                         tr_value meta) {
    struct rx *rx = &((struct in_host *)h)->rx;
    tr_value_unref(meta);
    if (rx->n == rx->cap) {
        rx->cap = rx->cap ? rx->cap * 2 : 64;
        rx->msgs = realloc(rx->msgs, rx->cap * sizeof *rx->msgs);
        rx->lens = realloc(rx->lens, rx->cap * sizeof *rx->lens);
        rx->streams = realloc(rx->streams, rx->cap * sizeof *rx->streams);
        assert_non_null(rx->msgs);
        assert_non_null(rx->lens);
        assert_non_null(rx->streams);
    }
    rx->msgs[rx->n] = malloc(len + 1);
    memcpy(rx->msgs[rx->n], data, len);
    rx->msgs[rx->n][len] = 0;
    rx->lens[rx->n] = len;
    rx->streams[rx->n] = stream;
    rx->n++;
    if (rx->pause_at && rx->n == rx->pause_at) tr_ws_onramp.trigger(rx->onramp);
    return 0;
}

static void in_stream_end(struct tr_onramp_host *h, uint64_t stream) {
    (void)stream;
    ((struct in_host *)h)->rx.stream_ends++;
}

static void in_done(struct tr_onramp_host *h) { (void)h; }

static const struct tr_onramp_host_ops in_ops = {
    .emit_value = in_emit_value,
    .emit_bytes = in_emit_bytes,
    .stream_end = in_stream_end,
    .done = in_done,
};

static void rx_fini(struct rx *rx) {
    for (size_t i = 0; i < rx->n; i++) free(rx->msgs[i]);
    free(rx->msgs);
    free(rx->lens);
    free(rx->streams);
    memset(rx, 0, sizeof *rx);
}

struct out_host {
    struct tr_offramp_host h;
    uint32_t *acked;            /* per token: times acked */
    uint32_t *failed;           /* per token: times failed */
    uint64_t *order;            /* tokens in answer order */
    size_t ntokens, nanswers, nacks, nfails;
    size_t triggers, restores;
    bool order_broken;          /* an ack came after a fail, or out of order */
    uint64_t last_ack;
    bool any_ack;
};

static void out_ack(struct tr_offramp_host *h, uint64_t t) {
    struct out_host *o = (struct out_host *)h;
    assert_true(t < o->ntokens);
    if (o->any_ack && t <= o->last_ack) o->order_broken = true;
    o->any_ack = true;
    o->last_ack = t;
    o->acked[t]++;
    o->nacks++;
    o->nanswers++;
}

static void out_fail(struct tr_offramp_host *h, uint64_t t) {
    struct out_host *o = (struct out_host *)h;
    assert_true(t < o->ntokens);
    o->failed[t]++;
    o->nfails++;
    o->nanswers++;
}

static void out_trigger(struct tr_offramp_host *h) { ((struct out_host *)h)->triggers++; }
static void out_restore(struct tr_offramp_host *h) { ((struct out_host *)h)->restores++; }

static const struct tr_offramp_host_ops out_ops = {out_ack, out_fail, out_trigger, out_restore, NULL, NULL, NULL, NULL};

static void out_host_init(struct out_host *o, uv_loop_t *loop, size_t ntokens) {
    memset(o, 0, sizeof *o);
    o->h.ops = &out_ops;
    o->h.loop = loop;
    o->ntokens = ntokens;
    o->acked = calloc(ntokens, sizeof *o->acked);
    o->failed = calloc(ntokens, sizeof *o->failed);
    assert_non_null(o->acked);
    assert_non_null(o->failed);
}

static void out_host_fini(struct out_host *o) {
    free(o->acked);
    free(o->failed);
}

/* ---------------------------------------------------------------- specs */

struct spec {
    struct tr_conn_spec s;
    tr_value cfg;
};

static void spec_init(struct spec *sp, const char *id) {
    memset(sp, 0, sizeof *sp);
    assert_int_equal(tr_v_rec(4, &sp->cfg), 0);
    sp->s.id = id;
    sp->s.type = "ws";
    sp->s.instance = "01";
    sp->s.config = &sp->cfg;
    sp->s.file = "test.yaml";
    sp->s.line = 3;
    sp->s.col = 5;
}

static void spec_str(struct spec *sp, const char *k, const char *v) {
    tr_value s;
    assert_int_equal(tr_v_cstr(v, &s), 0);
    assert_int_equal(tr_rec_set(&sp->cfg, k, strlen(k), s), 0);
}

static void spec_int(struct spec *sp, const char *k, int64_t v) {
    assert_int_equal(tr_rec_set(&sp->cfg, k, strlen(k), tr_v_int(v)), 0);
}

static void spec_fini(struct spec *sp) { tr_value_unref(sp->cfg); }

/* ----------------------------------------------------------- loop driver */

struct waiter {
    uv_timer_t t;
};

static void on_nudge(uv_timer_t *t) { (void)t; }

/* Run the loop until cond(arg) holds; fail after DEADLINE_MS. A repeating
 * 10 ms timer only makes uv_run return so cond is looked at again. */
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

static void set_flag(void *arg) { *(bool *)arg = true; }
static bool flag_set(void *arg) { return *(bool *)arg; }

/* ------------------------------------------------------------- fixtures */

struct world {
    uv_loop_t loop;
    struct in_host in;
    struct out_host out;
    struct spec in_spec, out_spec;
    void *server, *client;
    bool server_closed, client_closed;
    uint16_t port;
    size_t want_rx, want_answers, want_restores, want_triggers;
    const char *ack_mode;       /* NULL: the default (pong) */
};

static void start_server(struct world *w, uint16_t port) {
    memset(&w->in.rx, 0, sizeof w->in.rx);
    w->in.h.ops = &in_ops;
    w->in.h.loop = &w->loop;
    spec_init(&w->in_spec, "in");
    spec_int(&w->in_spec, "port", port);
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_ws_onramp.create(&w->in_spec.s, &w->in.h, &w->server, &d);
    if (rc) fail_msg("onramp create: %s", d.msg);
    assert_int_equal(tr_ws_onramp.start(w->server), 0);
    w->in.rx.onramp = w->server;
    w->port = tr_ws_onramp_port(w->server);
    assert_true(w->port > 0);
    w->server_closed = false;
}

static void start_client(struct world *w, size_t ntokens) {
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/somewhere", (unsigned)w->port);
    out_host_init(&w->out, &w->loop, ntokens);
    spec_init(&w->out_spec, "out");
    spec_str(&w->out_spec, "url", url);
    if (w->ack_mode) spec_str(&w->out_spec, "ack_mode", w->ack_mode);
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_ws_offramp.create(&w->out_spec.s, &w->out.h, &w->client, &d);
    if (rc) fail_msg("offramp create: %s", d.msg);
    assert_int_equal(tr_ws_offramp.start(w->client), 0);
}

static void stop_server(struct world *w) {
    tr_ws_onramp.close(w->server, set_flag, &w->server_closed);
    run_until(&w->loop, flag_set, &w->server_closed, "onramp closed");
    spec_fini(&w->in_spec);
}

static bool got_rx(void *arg) {
    struct world *w = arg;
    return w->in.rx.n >= w->want_rx;
}
static bool got_answers(void *arg) {
    struct world *w = arg;
    return w->out.nanswers >= w->want_answers;
}
static bool got_restores(void *arg) {
    struct world *w = arg;
    return w->out.restores >= w->want_restores;
}
static bool got_triggers(void *arg) {
    struct world *w = arg;
    return w->out.triggers >= w->want_triggers;
}
static bool answers_and_trigger(void *arg) { return got_answers(arg) && got_triggers(arg); }

static void send_msg(struct world *w, uint64_t token, bool tx, const char *data, size_t len) {
    struct tr_out_msg m = {.token = token, .transactional = tx, .data = data, .len = len};
    tr_ws_offramp.send(w->client, &m);
}

static void finish(struct world *w) {
    tr_ws_offramp.close(w->client, set_flag, &w->client_closed);
    run_until(&w->loop, flag_set, &w->client_closed, "offramp closed");
    spec_fini(&w->out_spec);
    out_host_fini(&w->out);
    rx_fini(&w->in.rx);
    drain_and_close(&w->loop);
}

/* ---------------------------------------------------------------- tests */

static void config_errors(void **state) {
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct out_host oh;
    out_host_init(&oh, &loop, 1);
    struct {
        const char *key, *val;
        int kind;   /* 0 str, 1 bool, 2 int */
        const char *want;
    } cases[] = {
        {NULL, NULL, 0, "config.url (ws:// or wss:// URL to connect to) is required"},
        {"url", "http://x/", 0, "config.url: invalid url 'http://x/'"},
        {"url", "ws://h:99999/", 0, "port out of range"},
        {"url", NULL, 2, "config.url must be"},
        {"binary", NULL, 2, "config.binary must be"},
        {"tls_verify", "x", 0, "config.tls_verify must be"},
        {"colour", "red", 0, "unknown config key 'colour'"},
        {"ack_mode", "maybe", 0, "config.ack_mode must be"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct spec sp;
        spec_init(&sp, "out");
        if (cases[i].key && strcmp(cases[i].key, "url") != 0) spec_str(&sp, "url", "ws://h/");
        if (cases[i].key) {
            if (cases[i].kind == 0) spec_str(&sp, cases[i].key, cases[i].val);
            else spec_int(&sp, cases[i].key, 7);
        }
        struct tr_diag d;
        tr_diag_clear(&d);
        void *self = (void *)1;
        int rc = tr_ws_offramp.create(&sp.s, &oh.h, &self, &d);
        assert_int_equal(rc, TR_EINVAL_CFG);
        assert_null(self);
        if (!strstr(d.msg, cases[i].want)) fail_msg("case %zu: expected '%s' in '%s'", i, cases[i].want, d.msg);
        assert_int_equal(d.line, 3);
        spec_fini(&sp);
    }
    /* the onramp: port required, in range; host must be an address */
    struct in_host ih = {.h = {&in_ops, &loop}};
    struct spec sp;
    spec_init(&sp, "in");
    struct tr_diag d;
    void *self = NULL;
    assert_int_equal(tr_ws_onramp.create(&sp.s, &ih.h, &self, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "config.port (TCP port to listen on, 0: any free one) is required"));
    spec_int(&sp, "port", 70000);
    assert_int_equal(tr_ws_onramp.create(&sp.s, &ih.h, &self, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "at most 65535"));
    spec_int(&sp, "port", 1);
    spec_str(&sp, "host", "not an address");
    assert_int_equal(tr_ws_onramp.create(&sp.s, &ih.h, &self, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "config.host"));
    spec_str(&sp, "host", "::1");
    spec_int(&sp, "max_message_size", 0);
    assert_int_equal(tr_ws_onramp.create(&sp.s, &ih.h, &self, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "max_message_size"));
    spec_fini(&sp);
    out_host_fini(&oh);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Nobody listens: transactional messages fail at once, others are dropped,
 * the breaker is triggered once, and close() still completes. */
static void refuses_while_disconnected(void **state) {
    (void)state;
    struct world *w = calloc(1, sizeof *w);
    uv_loop_init(&w->loop);
    /* a port with nobody behind it: bind one, note it, close it */
    start_server(w, 0);
    uint16_t port = w->port;
    stop_server(w);
    rx_fini(&w->in.rx);
    w->port = port;
    start_client(w, 4);
    w->want_triggers = 1;
    run_until(&w->loop, got_triggers, w, "trigger after the failed connect");
    assert_false(tr_ws_offramp.is_active(w->client));
    send_msg(w, 0, true, "a", 1);
    send_msg(w, 1, false, "b", 1);
    send_msg(w, 2, true, "c", 1);
    assert_int_equal(w->out.failed[0], 1);
    assert_int_equal(w->out.failed[2], 1);
    assert_int_equal(w->out.nacks, 0);
    assert_int_equal(w->out.nfails, 2);
    assert_int_equal(w->out.triggers, 1);
    assert_int_equal(w->out.restores, 0);
    finish(w);
    free(w);
}

#define N_MSGS 500

/* Every message arrives in order and intact; every transactional one is
 * acked exactly once (in order) and none is failed. */
static void delivers_in_order_and_acks_once(void **state) {
    struct world *w = calloc(1, sizeof *w);
    w->ack_mode = *state;
    uv_loop_init(&w->loop);
    start_server(w, 0);
    start_client(w, N_MSGS);
    w->want_restores = 1;
    run_until(&w->loop, got_restores, w, "connected");
    assert_true(tr_ws_offramp.is_active(w->client));
    assert_int_equal(w->out.triggers, 0);

    char buf[128];
    size_t ntx = 0;
    for (uint64_t i = 0; i < N_MSGS; i++) {
        int n = snprintf(buf, sizeof buf, "{\"id\":%llu,\"txt\":\"h\xc3\xa9llo\"}", (unsigned long long)i);
        bool tx = i % 5 != 4;   /* every fifth is not transactional */
        ntx += tx;
        send_msg(w, i, tx, buf, (size_t)n);
    }
    /* not UTF-8: refused as a text frame, failed at once */
    uint8_t bad[] = {'{', 0xff, '}'};
    struct out_host *oh = &w->out;
    w->want_rx = N_MSGS;
    w->want_answers = ntx;
    run_until(&w->loop, got_rx, w, "all messages at the server");
    run_until(&w->loop, got_answers, w, "all transactional messages acked");
    assert_int_equal(oh->nacks, ntx);
    assert_int_equal(oh->nfails, 0);
    assert_false(oh->order_broken);
    for (uint64_t i = 0; i < N_MSGS; i++) {
        assert_int_equal(oh->acked[i], i % 5 != 4 ? 1 : 0);
        int n = snprintf(buf, sizeof buf, "{\"id\":%llu,\"txt\":\"h\xc3\xa9llo\"}", (unsigned long long)i);
        assert_int_equal(w->in.rx.lens[i], (size_t)n);
        assert_memory_equal(w->in.rx.msgs[i], buf, (size_t)n);
        assert_int_equal(w->in.rx.streams[i], w->in.rx.streams[0]);
    }
    assert_int_equal(w->in.rx.n, N_MSGS);
    struct tr_out_msg m = {.token = 0, .transactional = true, .data = (const char *)bad, .len = 3};
    tr_ws_offramp.send(w->client, &m);
    assert_int_equal(oh->failed[0], 1);

    stop_server(w);
    assert_int_equal(w->in.rx.stream_ends, 1);
    finish(w);
    free(w);
}

/* Bytes the kernel holds unread for the established TCP socket whose local
 * port is port (/proc/net/tcp: rx_queue), or -1 when there is none. */
static long unread_at(uint16_t port) {
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f) return -1;
    char line[512];
    long found = -1;
    while (found < 0 && fgets(line, sizeof line, f)) {
        unsigned lport, st;
        unsigned long txq, rxq;
        if (sscanf(line, " %*d: %*8x:%x %*8x:%*x %x %lx:%lx", &lport, &st, &txq, &rxq) == 4 &&
            lport == port && st == 1)
            found = (long)rxq;
    }
    fclose(f);
    return found;
}

/* pong mode: a turn that sends many messages writes them (and a ping after
 * them) every 16 KiB, so the peer reads and answers the first ones while
 * the turn goes on, not only once it ended. Here, before the loop turns,
 * the server's kernel already holds most of 64 KiB. */
static void pong_mode_writes_within_a_long_turn(void **state) {
    (void)state;
    struct world *w = calloc(1, sizeof *w);
    uv_loop_init(&w->loop);
    start_server(w, 0);
    start_client(w, 128);
    w->want_restores = 1;
    run_until(&w->loop, got_restores, w, "connected");
    char buf[512];
    memset(buf, 'x', sizeof buf);
    assert_int_equal(unread_at(w->port), 0);
    for (uint64_t i = 0; i < 128; i++) send_msg(w, i, true, buf, sizeof buf);
    long unread = unread_at(w->port);
    assert_true(unread >= 48 * 1024);   /* expected: written while sending */
    w->want_rx = 128;
    w->want_answers = 128;
    run_until(&w->loop, got_rx, w, "all messages at the server");
    run_until(&w->loop, got_answers, w, "all messages acked");
    assert_int_equal(w->out.nacks, 128);
    assert_false(w->out.order_broken);
    stop_server(w);
    finish(w);
    free(w);
}

#define BIG_N 20000
#define BIG_LEN 1024

/* The server stops reading after a while (backpressure) and then goes
 * away with megabytes in flight: what its TCP acknowledged is acked, the
 * rest is failed, each exactly once, acks before fails in token order; the
 * breaker is triggered. Then the server comes back on the same port: the
 * client reconnects (restore) and delivers again. */
static void server_loss_fails_the_rest_and_reconnects(void **state) {
    struct world *w = calloc(1, sizeof *w);
    w->ack_mode = *state;
    uv_loop_init(&w->loop);
    start_server(w, 0);
    uint16_t port = w->port;
    w->in.rx.pause_at = 100;
    start_client(w, BIG_N + 10);
    w->want_restores = 1;
    run_until(&w->loop, got_restores, w, "connected");

    char *payload = malloc(BIG_LEN);
    for (uint64_t i = 0; i < BIG_N; i++) {
        int n = snprintf(payload, BIG_LEN, "%08llu", (unsigned long long)i);
        memset(payload + n, 'x', BIG_LEN - (size_t)n);
        send_msg(w, i, true, payload, BIG_LEN);
    }
    w->want_rx = 100;
    run_until(&w->loop, got_rx, w, "the first 100 messages at the server");
    size_t seen = w->in.rx.n;
    stop_server(w);
    w->want_answers = BIG_N;
    w->want_triggers = 1;
    run_until(&w->loop, answers_and_trigger, w, "every message answered and the breaker triggered");
    struct out_host *oh = &w->out;
    print_message("ack_mode %s: server read %zu, client acked %zu and failed %zu of %d\n",
                  w->ack_mode ? w->ack_mode : "pong", seen, oh->nacks, oh->nfails, BIG_N);
    int tcp = w->ack_mode && strcmp(w->ack_mode, "tcp") == 0;
    /* pong: an ack means the onramp itself read the message */
    if (!tcp) assert_true(oh->nacks <= seen);
    assert_int_equal(oh->nacks + oh->nfails, BIG_N);
    assert_true(oh->nfails > 0);
    /* tcp: what the server read, its TCP acknowledged */
    if (tcp) assert_true(oh->nacks >= seen);
    assert_false(oh->order_broken);
    for (uint64_t i = 0; i < BIG_N; i++) {
        if (oh->acked[i] + oh->failed[i] != 1)
            fail_msg("token %llu: acked %u failed %u", (unsigned long long)i, oh->acked[i], oh->failed[i]);
        if (i < oh->nacks) assert_int_equal(oh->acked[i], 1);   /* acks are a prefix */
    }
    for (size_t i = 0; i < seen; i++) {
        int n = snprintf(payload, BIG_LEN, "%08llu", (unsigned long long)i);
        assert_memory_equal(w->in.rx.msgs[i], payload, (size_t)n);
        assert_int_equal(w->in.rx.lens[i], BIG_LEN);
    }
    assert_false(tr_ws_offramp.is_active(w->client));
    /* while down: fail at once */
    send_msg(w, BIG_N, true, "x", 1);
    assert_int_equal(oh->failed[BIG_N], 1);
    rx_fini(&w->in.rx);

    size_t acked_before = oh->nacks;

    /* back again on the same port */
    start_server(w, port);
    w->want_restores = 2;
    run_until(&w->loop, got_restores, w, "reconnected");
    assert_true(tr_ws_offramp.is_active(w->client));
    for (uint64_t i = BIG_N + 1; i < BIG_N + 10; i++) send_msg(w, i, true, "again", 5);
    w->want_answers = BIG_N + 10;
    w->want_rx = 9;
    run_until(&w->loop, got_rx, w, "messages after the reconnect");
    run_until(&w->loop, got_answers, w, "acks after the reconnect");
    for (uint64_t i = BIG_N + 1; i < BIG_N + 10; i++) assert_int_equal(oh->acked[i], 1);
    /* pong: what was confirmed within the linger before the server left
     * comes first, again, in order: the newest acked ones */
    size_t resent = w->in.rx.n - 9;
    print_message("resent after the reconnect: %zu\n", resent);
    if (tcp) assert_int_equal(resent, 0);
    assert_true(resent <= acked_before);
    for (size_t i = 0; i < resent; i++) {
        int n = snprintf(payload, BIG_LEN, "%08llu", (unsigned long long)(acked_before - resent + i));
        assert_int_equal(w->in.rx.lens[i], BIG_LEN);
        if (memcmp(w->in.rx.msgs[i], payload, (size_t)n) != 0)
            fail_msg("resent message %zu is %.8s, expected %s", i, w->in.rx.msgs[i], payload);
    }
    for (size_t i = resent; i < w->in.rx.n; i++) assert_memory_equal(w->in.rx.msgs[i], "again", 5);
    free(payload);
    stop_server(w);
    finish(w);
    free(w);
}

/* close() with messages in flight to a live server: they are answered
 * (acked once the server's TCP has them, else failed) before done. */
static void close_answers_everything(void **state) {
    (void)state;
    struct world *w = calloc(1, sizeof *w);
    uv_loop_init(&w->loop);
    start_server(w, 0);
    start_client(w, 100);
    w->want_restores = 1;
    run_until(&w->loop, got_restores, w, "connected");
    for (uint64_t i = 0; i < 100; i++) send_msg(w, i, true, "bye", 3);
    tr_ws_offramp.close(w->client, set_flag, &w->client_closed);
    run_until(&w->loop, flag_set, &w->client_closed, "offramp closed");
    assert_int_equal(w->out.nanswers, 100);
    for (uint64_t i = 0; i < 100; i++) assert_int_equal(w->out.acked[i] + w->out.failed[i], 1);
    w->want_rx = 100;
    run_until(&w->loop, got_rx, w, "the server read all");
    stop_server(w);
    out_host_fini(&w->out);
    spec_fini(&w->out_spec);
    rx_fini(&w->in.rx);
    drain_and_close(&w->loop);
    free(w);
}

/* ------------------------------------------------------------------ TLS */

static void make_cert(char **cert_pem, char **key_pem) {
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, key);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    *cert_pem = strndup(p, (size_t)n);
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
    n = BIO_get_mem_data(b, &p);
    *key_pem = strndup(p, (size_t)n);
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(key);
}

/* Move ciphertext from a to b; returns bytes moved. */
static size_t pipe_tls(struct tr_tls *a, struct tr_tls *b) {
    size_t n, total = 0;
    char *p;
    while ((p = tr_tls_take(a, &n))) {
        assert_int_equal(tr_tls_feed(b, p, n), 0);
        total += n;
        tr_free(p);
    }
    return total;
}

/* Returns the client's final handshake result. */
static int tls_pair(unsigned client_flags, const char *cert, const char *key, struct tr_tls **cl,
                    struct tr_tls **sv, struct tr_tls_ctx **cctx, struct tr_tls_ctx **sctx,
                    struct tr_diag *d) {
    struct tr_tls_opts co = {.flags = client_flags};
    assert_int_equal(tr_tls_ctx_create(&co, cctx, d), 0);
    struct tr_tls_opts so = {.flags = TR_TLS_SERVER, .cert_pem = cert, .key_pem = key};
    assert_int_equal(tr_tls_ctx_create(&so, sctx, d), 0);
    assert_int_equal(tr_tls_create(*cctx, "localhost", cl, d), 0);
    assert_int_equal(tr_tls_create(*sctx, NULL, sv, d), 0);
    int rc = 0, rs = 0;
    for (int i = 0; i < 10; i++) {
        rc = tr_tls_handshake(*cl, d);
        pipe_tls(*cl, *sv);
        if (rc < 0) return rc;
        struct tr_diag sd;
        rs = tr_tls_handshake(*sv, &sd);
        pipe_tls(*sv, *cl);
        if (rc == 1 && rs == 1) break;
    }
    return rc;
}

static void tls_glue_in_memory(void **state) {
    (void)state;
    char *cert, *key;
    make_cert(&cert, &key);
    struct tr_diag d;
    tr_diag_clear(&d);
    struct tr_tls *cl, *sv;
    struct tr_tls_ctx *cctx, *sctx;

    /* self-signed with verification off: data flows both ways */
    assert_int_equal(tls_pair(TR_TLS_CLIENT | TR_TLS_NO_VERIFY, cert, key, &cl, &sv, &cctx, &sctx, &d), 1);
    assert_int_equal(tr_tls_write(cl, "GET / HTTP/1.1\r\n\r\n", 18), 0);
    size_t wire = tr_tls_pending(cl);
    assert_true(wire > 18);   /* ciphertext is what the socket counts */
    pipe_tls(cl, sv);
    char buf[64];
    long n = tr_tls_read(sv, buf, sizeof buf);
    assert_int_equal(n, 18);
    assert_memory_equal(buf, "GET / HTTP/1.1\r\n\r\n", 18);
    assert_int_equal(tr_tls_read(sv, buf, sizeof buf), 0);   /* nothing more */
    tr_tls_destroy(cl);
    tr_tls_destroy(sv);
    tr_tls_ctx_destroy(cctx);
    tr_tls_ctx_destroy(sctx);

    /* with verification (the default) the self-signed certificate is refused */
    tr_diag_clear(&d);
    assert_int_equal(tls_pair(TR_TLS_CLIENT, cert, key, &cl, &sv, &cctx, &sctx, &d), TR_ERUNTIME);
    if (!strstr(d.msg, "certificate")) fail_msg("expected a certificate error, got '%s'", d.msg);
    tr_tls_destroy(cl);
    tr_tls_destroy(sv);
    tr_tls_ctx_destroy(cctx);
    tr_tls_ctx_destroy(sctx);
    free(cert);
    free(key);
}

/* A TLS terminator for the wss test: clients speak TLS to it, it speaks
 * plain TCP to the ws onramp. Built on the same memory-BIO glue. */
struct proxy {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_tcp_t down, up;          /* client side (TLS), onramp side (plain) */
    uv_connect_t creq;
    struct tr_tls_ctx *ctx;
    struct tr_tls *tls;
    uint16_t onramp_port, port;
    bool up_ready, accepted;
    int closing;
    char *held;                 /* plaintext waiting for the onramp connection */
    size_t held_len;
};

static void px_free_write(uv_write_t *req, int status) {
    (void)status;
    free(req->data);
    free(req);
}

static void px_write(uv_tcp_t *t, const char *p, size_t n) {
    uv_write_t *req = malloc(sizeof *req);
    req->data = malloc(n);
    memcpy(req->data, p, n);
    uv_buf_t b = uv_buf_init(req->data, (unsigned)n);
    if (uv_write(req, (uv_stream_t *)t, &b, 1, px_free_write) != 0) px_free_write(req, 0);
}

static void px_flush_tls(struct proxy *x) {
    size_t n;
    char *p;
    while ((p = tr_tls_take(x->tls, &n))) {
        px_write(&x->down, p, n);
        tr_free(p);
    }
}

static void px_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
    (void)h;
    *b = uv_buf_init(malloc(hint), (unsigned)hint);
}

static void px_on_close(uv_handle_t *h) { ((struct proxy *)h->data)->closing--; }

static void px_shut(struct proxy *x) {
    if (!uv_is_closing((uv_handle_t *)&x->down)) x->closing++, uv_close((uv_handle_t *)&x->down, px_on_close);
    if (!uv_is_closing((uv_handle_t *)&x->up)) x->closing++, uv_close((uv_handle_t *)&x->up, px_on_close);
}

static void px_down_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    struct proxy *x = s->data;
    if (n < 0) px_shut(x);
    if (n > 0 && !uv_is_closing((uv_handle_t *)&x->down)) {
        struct tr_diag d;
        assert_int_equal(tr_tls_feed(x->tls, b->base, (size_t)n), 0);
        int hs = tr_tls_handshake(x->tls, &d);
        px_flush_tls(x);
        char buf[65536];
        long r;
        while (hs == 1 && (r = tr_tls_read(x->tls, buf, sizeof buf)) > 0) {
            if (x->up_ready) {
                px_write(&x->up, buf, (size_t)r);
            } else {
                x->held = realloc(x->held, x->held_len + (size_t)r);
                memcpy(x->held + x->held_len, buf, (size_t)r);
                x->held_len += (size_t)r;
            }
        }
        px_flush_tls(x);
    }
    free(b->base);
}

static void px_up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    struct proxy *x = s->data;
    if (n < 0) px_shut(x);
    if (n > 0 && !uv_is_closing((uv_handle_t *)&x->down)) {
        assert_int_equal(tr_tls_write(x->tls, b->base, (size_t)n), 0);
        px_flush_tls(x);
    }
    free(b->base);
}

static void px_up_connected(uv_connect_t *req, int status) {
    struct proxy *x = req->data;
    assert_int_equal(status, 0);
    x->up_ready = true;
    uv_read_start((uv_stream_t *)&x->up, px_alloc, px_up_read);
    if (x->held_len) px_write(&x->up, x->held, x->held_len);
    free(x->held);
    x->held = NULL;
    x->held_len = 0;
}

static void px_on_conn(uv_stream_t *l, int status) {
    struct proxy *x = l->data;
    assert_int_equal(status, 0);
    assert_false(x->accepted);   /* one client is all this test needs */
    x->accepted = true;
    struct tr_diag d;
    uv_tcp_init(x->loop, &x->down);
    uv_tcp_init(x->loop, &x->up);
    x->down.data = x->up.data = x->creq.data = x;
    assert_int_equal(uv_accept(l, (uv_stream_t *)&x->down), 0);
    assert_int_equal(tr_tls_create(x->ctx, NULL, &x->tls, &d), 0);
    uv_read_start((uv_stream_t *)&x->down, px_alloc, px_down_read);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", x->onramp_port, &a);
    assert_int_equal(uv_tcp_connect(&x->creq, &x->up, (struct sockaddr *)&a, px_up_connected), 0);
}

static void proxy_start(struct proxy *x, uv_loop_t *loop, uint16_t onramp_port, const char *cert,
                        const char *key) {
    memset(x, 0, sizeof *x);
    x->loop = loop;
    x->onramp_port = onramp_port;
    struct tr_diag d;
    struct tr_tls_opts so = {.flags = TR_TLS_SERVER, .cert_pem = cert, .key_pem = key};
    assert_int_equal(tr_tls_ctx_create(&so, &x->ctx, &d), 0);
    uv_tcp_init(loop, &x->listener);
    x->listener.data = x;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_bind(&x->listener, (struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&x->listener, 8, px_on_conn), 0);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&x->listener, (struct sockaddr *)&ss, &len);
    x->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static bool proxy_closed(void *arg) { return ((struct proxy *)arg)->closing == 0; }

static void proxy_stop(struct proxy *x) {
    if (x->accepted) px_shut(x);
    x->closing++;
    uv_close((uv_handle_t *)&x->listener, px_on_close);
    run_until(x->loop, proxy_closed, x, "proxy closed");
    tr_tls_destroy(x->tls);
    tr_tls_ctx_destroy(x->ctx);
    free(x->held);
}

/* wss:// end to end through real sockets: the client verifies nothing
 * (tls_verify: false, self-signed), messages arrive intact and in order,
 * and acks count ciphertext bytes against SIOCOUTQ. */
static void wss_through_a_tls_terminator(void **state) {
    (void)state;
    char *cert, *key;
    make_cert(&cert, &key);
    struct world *w = calloc(1, sizeof *w);
    uv_loop_init(&w->loop);
    start_server(w, 0);
    struct proxy *x = malloc(sizeof *x);
    proxy_start(x, &w->loop, w->port, cert, key);

    char url[64];
    snprintf(url, sizeof url, "wss://127.0.0.1:%u/", (unsigned)x->port);
    out_host_init(&w->out, &w->loop, 300);
    spec_init(&w->out_spec, "out");
    spec_str(&w->out_spec, "url", url);
    assert_int_equal(tr_rec_set(&w->out_spec.cfg, "tls_verify", 10, tr_v_bool(0)), 0);
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_ws_offramp.create(&w->out_spec.s, &w->out.h, &w->client, &d)) fail_msg("create: %s", d.msg);
    assert_int_equal(tr_ws_offramp.start(w->client), 0);
    w->want_restores = 1;
    run_until(&w->loop, got_restores, w, "wss connected");
    char buf[64];
    for (uint64_t i = 0; i < 300; i++) {
        int n = snprintf(buf, sizeof buf, "{\"tls\":%llu}", (unsigned long long)i);
        send_msg(w, i, true, buf, (size_t)n);
    }
    w->want_rx = 300;
    w->want_answers = 300;
    run_until(&w->loop, got_rx, w, "messages through TLS");
    run_until(&w->loop, got_answers, w, "acks through TLS");
    assert_int_equal(w->out.nacks, 300);
    assert_false(w->out.order_broken);
    for (uint64_t i = 0; i < 300; i++) {
        int n = snprintf(buf, sizeof buf, "{\"tls\":%llu}", (unsigned long long)i);
        assert_int_equal(w->in.rx.lens[i], (size_t)n);
        assert_memory_equal(w->in.rx.msgs[i], buf, (size_t)n);
    }
    tr_ws_offramp.close(w->client, set_flag, &w->client_closed);
    run_until(&w->loop, flag_set, &w->client_closed, "offramp closed");
    proxy_stop(x);
    stop_server(w);
    spec_fini(&w->out_spec);
    out_host_fini(&w->out);
    rx_fini(&w->in.rx);
    drain_and_close(&w->loop);
    free(x);
    free(w);
    free(cert);
    free(key);
}

int main(void) {
    tr_log_set_level(getenv("WS_TEST_VERBOSE") ? TR_LOG_DEBUG : TR_LOG_ERROR);
    size_t before = tr_alloc_used();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_errors),
        cmocka_unit_test(refuses_while_disconnected),
        cmocka_unit_test_prestate(delivers_in_order_and_acks_once, NULL),
        cmocka_unit_test_prestate(delivers_in_order_and_acks_once, "tcp"),
        cmocka_unit_test_prestate(server_loss_fails_the_rest_and_reconnects, NULL),
        cmocka_unit_test_prestate(server_loss_fails_the_rest_and_reconnects, "tcp"),
        cmocka_unit_test(close_answers_everything),
        cmocka_unit_test(pong_mode_writes_within_a_long_turn),
        cmocka_unit_test(tls_glue_in_memory),
        cmocka_unit_test(wss_through_a_tls_terminator),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (!failed && tr_alloc_used() != before) {
        fprintf(stderr, "leak: %zu bytes still allocated through the seam\n", tr_alloc_used() - before);
        return 1;
    }
    return failed;
}
