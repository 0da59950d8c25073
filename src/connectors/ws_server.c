/* ws_server.c - the ws onramp: a WebSocket server; every complete text or
 * binary message from any client becomes one emit_bytes() on that client's
 * stream (the runtime decodes it).
 *
 * Not an HTTP server (anything but a GET upgrade gets 400; the path is
 * ignored) and not transactional, unless hop_ack is set: then a tremor-c ws
 * offramp in ack_mode "hop" that asks for it in the upgrade is told, on its
 * connection, which of its messages this onramp's pipeline has acknowledged
 * (connectors/hop.h); other peers are served as before. Backpressure: trigger stops reading from
 * every client, restore resumes, so a slow pipeline slows the peers down
 * through TCP. Linked (`linked: true`, request/response) it goes on reading
 * instead and answers each message that comes while triggered at once with
 * an error message (as the rest onramp answers 503): a client waiting for
 * its answer would otherwise wait, unanswered, as long as the breaker is
 * open (e.g. a proxy's upstream is down). Invariant: bytes read but not yet given to wslay stay in the
 * connection's read buffer, and no new read happens until they are used up.
 * Hogging peers are bounded: at most max_connections at once (more are
 * accepted and reset at once, before anything is read), one repeating sweep
 * timer closes those that have not finished the upgrade within
 * handshake_timeout_ms or sent nothing for idle_timeout_ms, and messages are
 * assembled here (wslay runs without buffering: it would malloc every
 * fragment) in one buffer per connection whose capacity is charged to the
 * onramp's budget: past max_message_size or max_buffered_bytes the peer
 * gets close 1009.
 *
 * wss (our extension, the tcp onramp's tls: {cert, key}): connectors/tls.h
 * runs the TLS handshake before the HTTP upgrade; ciphertext is read into
 * rbuf, copied into OpenSSL, and decrypted back into rbuf one buffer at a
 * time, so the invariant above holds for plaintext and what OpenSSL holds
 * is at most one read. A failed, stalled (tls.handshake_timeout_ms) or
 * non-TLS handshake is a logged, counted rejection.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <uv.h>
#include <wslay/wslay.h>

#include "codec/codec.h"
#include "codec/proc.h"
#include "config/cmap.h"
#include "connectors/conn.h"
#include "connectors/hop.h"
#include "connectors/ledger.h"
#include "connectors/tls.h"
#include "connectors/ws_int.h"
#include "core/alloc.h"
#include "core/budget.h"
#include "core/log.h"

#define MOD "ws"
#define LIMIT_MAX_MSG ((uint64_t)1 << 31)
#define MAX_OUT ((size_t)1 << 20)     /* unsent control frames before we give up on a peer */
#define CLOSE_WAIT_MS 1000
#define RBUF_SIZE 65536
/* Bytes wslay is given per pass. A pass only parses: its complete messages
 * are kept, its replies (pongs, close answers) written, and only then are
 * the messages run through the pipeline. A sender in ack_mode "pong" waits
 * for the pong of a ping that came behind its frames; it need not wait for
 * the pipeline too, which has nothing to do with what the pong vouches for
 * (that our WebSocket layer read the bytes). The slice bounds how much is
 * held parsed but not yet emitted. */
#define RECV_SLICE 8192
#define LIMIT_HS_TIMEOUT_MS 600000
#define SWEEP_MAX_MS 250
#define LIMIT_MAX_CONNS 65536
#define LIMIT_IDLE_MS 86400000
#define LIMIT_BUDGET ((uint64_t)1 << 40)
#define MSG_MIN_CAP 256
#define MSG_AHEAD 65536                  /* most of a frame's announced length reserved at once */
/* hop_ack: messages read but not yet answered, over all connections. The
 * sender's window and this onramp's own backpressure keep it far lower; a
 * peer that gets past it is closed (and replays) rather than held. */
#define HOP_MAX_PENDING ((size_t)1 << 22)

/* A client connection:
 *
 *   HEAD --valid upgrade--> OPEN --close frame / EOF / error--> CLOSING
 *     \--bad request (400/426)----------------------------------^
 */
enum sstate { S_HEAD, S_OPEN, S_CLOSING };

struct in;

struct sconn {
    struct in *s;
    struct sconn *prev, *next;   /* in s->conns until the handle is closed */
    uv_tcp_t tcp;
    uv_shutdown_t shut;
    enum sstate st;
    uint64_t born;               /* uv_now at accept; restarted on restore */
    uint64_t stream;
    bool stream_open;            /* handshake done: stream_end owed */
    struct tr_ws_head *head;     /* only while in S_HEAD */
    wslay_event_context_ptr ws;
    bool in_wslay;               /* inside wslay_event_recv: ws must not be freed */
    bool failed;                 /* a limit was passed: close queued, input ignored */
    uint64_t last_rx;            /* uv_now of the last bytes read (idle timeout) */
    uint64_t closing_since;      /* uv_now when S_CLOSING began */
    /* Messages (wslay does not buffer data frames): msg holds the pass's
     * complete messages, not yet emitted, ending at ready[0..nready), then
     * the one being assembled, from msg_start to msg_len. */
    char *msg;
    size_t msg_start, msg_len, msg_cap;
    size_t *ready, nready, ready_cap;
    struct tr_budget_hold hold;  /* msg_cap, charged to s->budget */
    bool frame_ctrl, frame_fin;  /* the frame wslay is delivering */
    uint64_t frame_left;         /* its payload bytes not yet delivered */
    struct tr_ws_io io;          /* unread bytes of rbuf; wslay's output */
    /* hop_ack, on a connection that asked for it: messages answered
     * (acknowledged downstream) and the count the peer was last told */
    bool hop, hop_failed;
    uint64_t hop_done, hop_told;
    struct tr_tls *tls;          /* wss only */
    char rbuf[RBUF_SIZE];
};

struct swreq {
    uv_write_t req;
    struct sconn *c;
    char *data;
};

struct in {
    struct tr_onramp_host *host;
    uv_loop_t *loop;
    char *id;
    char *bind_host;
    uint64_t port;
    uint64_t max_msg;
    uint64_t hs_timeout_ms;
    uint64_t max_conns;
    uint64_t idle_ms;            /* 0: no idle timeout */
    uint64_t hs_timeouts;        /* connections closed by the sweep before the upgrade */
    uint64_t idle_timeouts;      /* connections closed by the sweep after it */
    uint64_t refused;            /* connections reset for max_conns */
    uint64_t too_big;            /* connections closed with 1009 */
    uint64_t proto_errors;       /* close frames we answered with 1002 ourselves */
    uint64_t bad_upgrades;       /* requests answered 400/426 */
    uint64_t accept_errors;      /* failed accepts, and connections not taken for memory */
    struct tr_tls_ctx *tls;      /* NULL: plain ws:// */
    uint64_t tls_hs_ms;
    uint64_t tls_rejected;       /* TLS handshakes failed, timed out or stalled */
    uint64_t stalled;            /* peers closed for not reading what we sent */
    struct tr_log_limit lim_tls, lim_stall;
    struct tr_budget budget;     /* message buffers of all connections, and preprocessor state */
    struct tr_preproc_limits limits;
    struct tr_log_limit lim_refused, lim_hs, lim_idle, lim_big, lim_proto, lim_upgrade, lim_accept, lim_drop;
    uv_tcp_t listener;
    bool listener_init;
    uv_timer_t resume, deadline, sweep;
    bool deadline_closing;
    int handles;                 /* listener + timers + refused sockets not yet closed */
    uint64_t nconns;
    struct sconn *conns;
    uint64_t next_stream;
    bool paused, closing;
    /* linked: triggered, messages are answered with an error (refusing)
     * instead of read no more (paused) */
    bool linked, refusing;
    uint64_t refused_busy;
    struct tr_log_limit lim_busy;
    /* hop_ack: the messages of hop connections until answered; their
     * answers go out at the end of the loop turn (hop_flush) */
    bool hop_ack;
    struct tr_ledger ledger;
    uv_prepare_t hop_flush;
    uint64_t hop_fails;          /* hop connections closed for an event that failed */
    struct tr_log_limit lim_hop;
    void (*done)(void *);
    void *done_arg;
};

static void process(struct sconn *c);
static void on_handle_close(uv_handle_t *h);

/* ------------------------------------------------------------ lifecycle */

static void maybe_done(struct in *s) {
    if (!s->closing) return;
    if (!s->nconns && !s->deadline_closing) {
        s->deadline_closing = true;
        uv_close((uv_handle_t *)&s->deadline, on_handle_close);
    }
    if (s->handles || s->nconns) return;
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    tr_ledger_fini(&s->ledger);
    tr_tls_ctx_destroy(s->tls);
    tr_free(s->bind_host);
    tr_free(s->id);
    tr_free(s);
    if (done) done(arg);
}

static void on_handle_close(uv_handle_t *h) {
    struct in *s = h->data;
    s->handles--;
    maybe_done(s);
}

static void on_conn_close(uv_handle_t *h) {
    struct sconn *c = h->data;
    struct in *s = c->s;
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    if (c->hop) tr_ledger_forget(&s->ledger, c);
    tr_buf_fini(&c->io.out);
    tr_tls_destroy(c->tls);
    tr_free(c->head);
    tr_free(c->msg);
    tr_free(c->ready);
    tr_budget_release(&s->budget, &c->hold);
    tr_free(c);
    s->nconns--;
    maybe_done(s);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
    (void)status;
    struct sconn *c = req->data;
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, on_conn_close);
}

/* A connection refused for max_conns: only a bare handle, counted in
 * s->handles like the timers so that close still waits for it. */
static void on_refused_close(uv_handle_t *h) {
    struct in *s = h->data;
    tr_free(h);
    s->handles--;
    maybe_done(s);
}

static int to_wire(void *arg, char *p, size_t n);

/* End a connection. graceful: let queued writes (a close frame, a 400)
 * reach the peer and send FIN (after TLS close_notify) before closing;
 * otherwise close at once. */
static void conn_end(struct sconn *c, bool graceful) {
    if (c->st == S_CLOSING) return;
    c->st = S_CLOSING;
    c->closing_since = uv_now(c->s->loop);
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (c->ws && !c->in_wslay) {
        wslay_event_context_free(c->ws);
        c->ws = NULL;
    }
    c->io.in_len = 0;
    if (c->stream_open) {
        c->stream_open = false;
        tr_onramp_stream_end(c->s->host, c->stream);
    }
    if (graceful && c->tls) {
        tr_tls_close_notify(c->tls);
        (void)tr_tls_flush(c->tls, to_wire, c);
    }
    if (graceful) {
        c->shut.data = c;
        if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown) == 0) return;
    }
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, on_conn_close);
}

/* ---------------------------------------------------------------- output */

static void on_write(uv_write_t *req, int status) {
    struct swreq *w = (struct swreq *)req;
    struct sconn *c = w->c;
    tr_free(w->data);
    tr_free(w);
    if (status < 0 && c->st != S_CLOSING) conn_end(c, false);
}

/* Write p (tr_malloc'ed, taken) to the peer, unless it has stopped
 * reading what we sent before. */
static int to_wire(void *arg, char *p, size_t n) {
    struct sconn *c = arg;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > MAX_OUT) {
        tr_free(p);
        struct in *s = c->s;
        char peer[96];
        tr_conn_peer_name(&c->tcp, peer, sizeof peer);
        s->stalled++;
        tr_log_limited(&s->lim_stall, TR_LOG_WARN, MOD,
                       "ws onramp '%s': closing %s: it does not read what we send (%zu bytes "
                       "unsent; %llu such so far)", s->id, peer,
                       uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp),
                       (unsigned long long)s->stalled);
        return TR_EFULL;
    }
    struct swreq *w = tr_malloc(sizeof *w);
    if (!w) {
        tr_free(p);
        return -ENOMEM;
    }
    w->c = c;
    w->data = p;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        tr_free(w->data);
        tr_free(w);
    }
    return rc;
}

/* Send what wslay or the handshake left in c->io.out (encrypted on wss),
 * and any TLS records OpenSSL has for the peer. */
static int flush(struct sconn *c) {
    if (c->tls) {
        if (c->io.out.len) {
            int rc = tr_tls_write(c->tls, c->io.out.data, c->io.out.len);
            tr_buf_reset(&c->io.out);
            if (rc) return rc;
        }
        return tr_tls_flush(c->tls, to_wire, c);
    }
    if (!c->io.out.len) return 0;
    size_t n;
    char *p = tr_buf_steal(&c->io.out, &n);
    if (!p) return -ENOMEM;
    return to_wire(c, p, n);
}

/* ----------------------------------------------------- wslay callbacks */

/* Paused or failing: the bytes stay where they are (backpressure). */
static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user) {
    (void)flags;
    struct sconn *c = user;
    return tr_ws_io_recv(ctx, &c->io, buf, len, c->s->paused || c->failed);
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user) {
    (void)flags;
    return tr_ws_io_send(ctx, &((struct sconn *)user)->io, data, len);
}

/* After a pass's messages were emitted: give the buffer back when nothing
 * is being assembled (so the budget counts only messages in progress),
 * else move the message in progress to its front. */
static void msg_done(struct sconn *c) {
    if (!c->nready && !c->msg_start && c->msg_len) return;   /* only one in progress */
    c->nready = 0;
    if (c->msg_len > c->msg_start) {
        memmove(c->msg, c->msg + c->msg_start, c->msg_len - c->msg_start);
        c->msg_len -= c->msg_start;
        c->msg_start = 0;
        return;
    }
    c->msg_start = c->msg_len = 0;
    tr_free(c->msg);
    c->msg = NULL;
    c->msg_cap = 0;
    tr_budget_release(&c->s->budget, &c->hold);
}

/* Stop reading this peer and queue a close with code; wslay sends it on
 * the next wslay_event_send and the connection then ends. Safe inside
 * wslay_event_recv (both calls only set state). The message in progress is
 * dropped; complete ones before it are still emitted. */
static void fail_conn(struct sconn *c, uint16_t code) {
    c->failed = true;
    c->msg_len = c->msg_start;
    (void)wslay_event_queue_close(c->ws, code, NULL, 0);
    wslay_event_shutdown_read(c->ws);
}

/* The message outgrew what this connection or the onramp may hold. */
static void too_big(struct sconn *c, uint64_t want, const char *why) {
    struct in *s = c->s;
    char peer[96];
    tr_conn_peer_name(&c->tcp, peer, sizeof peer);
    s->too_big++;
    tr_log_limited(&s->lim_big, TR_LOG_WARN, MOD,
                   "ws onramp '%s': closed %s with 1009: a message of %llu bytes so far %s "
                   "(%llu such closes so far)", s->id, peer, (unsigned long long)want, why,
                   (unsigned long long)s->too_big);
    fail_conn(c, WSLAY_CODE_MESSAGE_TOO_BIG);
}

/* Room for need bytes in msg (need <= msg_start + max_msg: the pass's
 * complete messages, at most one max_msg and a slice, and the message in
 * progress). The capacity grows by doubling, or to what the current frame
 * announced (at most MSG_AHEAD more, so a header alone cannot make us
 * allocate much), up to that bound; what is charged is the capacity: that
 * is the memory really held. */
static int msg_reserve(struct sconn *c, uint64_t need) {
    struct in *s = c->s;
    if (need <= c->msg_cap) return 0;
    uint64_t most = c->msg_start + s->max_msg;
    uint64_t cap = c->msg_cap ? (uint64_t)c->msg_cap * 2 : MSG_MIN_CAP;
    uint64_t ahead = c->msg_len + (c->frame_left < MSG_AHEAD ? c->frame_left : MSG_AHEAD);
    if (cap < ahead) cap = ahead;
    if (cap < need) cap = need;
    if (cap > most) cap = most;
    int rc = tr_budget_set(&s->budget, &c->hold, cap, most);
    if (rc == TR_EFULL) {
        char why[96];
        snprintf(why, sizeof why, "would pass max_buffered_bytes (%llu) of the onramp",
                 (unsigned long long)s->budget.limit);
        too_big(c, need, why);
        return rc;
    }
    if (rc) {
        too_big(c, need, "would pass max_message_size");
        return rc;
    }
    char *p = tr_realloc(c->msg, (size_t)cap);
    if (!p) {
        (void)tr_budget_set(&s->budget, &c->hold, c->msg_cap, most);
        too_big(c, need, "found no memory");
        return -ENOMEM;
    }
    c->msg = p;
    c->msg_cap = (size_t)cap;
    return 0;
}

static void on_frame_start(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_start_arg *arg, void *user) {
    (void)ctx;
    struct sconn *c = user;
    if (c->failed) return;
    c->frame_ctrl = (arg->opcode & 0x8) != 0;
    if (c->frame_ctrl) {
        /* RFC 6455 5.5.1: a close body is empty or starts with a 2-byte
         * code; wslay would answer a 1-byte body with a plain close. */
        if (arg->opcode == WSLAY_CONNECTION_CLOSE && arg->payload_length == 1) {
            struct in *s = c->s;
            char peer[96];
            tr_conn_peer_name(&c->tcp, peer, sizeof peer);
            s->proto_errors++;
            tr_log_limited(&s->lim_proto, TR_LOG_WARN, MOD,
                           "ws onramp '%s': closed %s with 1002: close frame with a 1-byte body "
                           "(%llu such so far)", s->id, peer, (unsigned long long)s->proto_errors);
            fail_conn(c, WSLAY_CODE_PROTOCOL_ERROR);
        }
        return;
    }
    c->frame_fin = arg->fin;
    c->frame_left = arg->payload_length;
    if (arg->opcode != WSLAY_CONTINUATION_FRAME) c->msg_len = c->msg_start;
    /* the message in progress is at most max_msg, so this cannot wrap */
    uint64_t have = c->msg_len - c->msg_start;
    if (arg->payload_length > c->s->max_msg - have)
        too_big(c, have + arg->payload_length, "would pass max_message_size");
}

static void on_frame_chunk(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_chunk_arg *arg, void *user) {
    (void)ctx;
    struct sconn *c = user;
    if (c->failed || c->frame_ctrl || !arg->data_length) return;
    if (msg_reserve(c, (uint64_t)c->msg_len + arg->data_length) != 0) return;
    c->frame_left -= arg->data_length;
    memcpy(c->msg + c->msg_len, arg->data, arg->data_length);
    c->msg_len += arg->data_length;
}

static void ws_trigger(void *self);

/* Linked and triggered: this message is not emitted; its connection gets
 * the answer at once. Queued in wslay: process() sends it. */
static void refuse_busy(struct sconn *c) {
    struct in *s = c->s;
    s->refused_busy++;
    tr_log_limited(&s->lim_busy, TR_LOG_WARN, MOD,
                   "ws onramp '%s': a breaker downstream is open: answered a message with an error "
                   "(%llu so far)", s->id, (unsigned long long)s->refused_busy);
    struct wslay_event_msg m = {.opcode = WSLAY_TEXT_FRAME, .msg = (const uint8_t *)TR_BUSY_ERROR,
                                .msg_length = sizeof TR_BUSY_ERROR - 1};
    if (wslay_event_queue_msg(c->ws, &m) != 0) fail_conn(c, WSLAY_CODE_INTERNAL_SERVER_ERROR);
}

static void on_frame_end(wslay_event_context_ptr ctx, void *user) {
    (void)ctx;
    struct sconn *c = user;
    if (c->failed || c->frame_ctrl || !c->frame_fin) return;
    /* wslay has checked a text message for UTF-8 before this (1007 otherwise). */
    if (c->nready == c->ready_cap) {
        /* at most one message per 2 bytes of a slice, so this stays small */
        size_t cap = c->ready_cap ? c->ready_cap * 2 : 16;
        size_t *p = tr_realloc(c->ready, cap * sizeof *p);
        if (!p) {
            too_big(c, c->msg_len - c->msg_start, "found no memory");
            return;
        }
        c->ready = p;
        c->ready_cap = cap;
    }
    c->ready[c->nready++] = c->msg_len;
    c->msg_start = c->msg_len;
}

/* Emit the pass's complete messages, in order, once its replies are out.
 * A limit passed while emitting stops here (the peer gets its close); one
 * passed while parsing only dropped the message in progress. */
static void emit_ready(struct sconn *c) {
    struct in *s = c->s;
    bool failed_before = c->failed;
    size_t from = 0;
    for (size_t i = 0; i < c->nready; i++) {
        if (c->st != S_OPEN || (c->failed && !failed_before)) break;
        size_t to = c->ready[i], len = to - from;
        if (s->refusing) {   /* linked, and a breaker downstream is open */
            from = to;
            refuse_busy(c);
            continue;
        }
        uint64_t first = c->hop ? tr_onramp_next_id(s->host) : 0;
        int rc = tr_onramp_emit_bytes(s->host, c->stream, len ? c->msg + from : "", len, tr_v_null());
        from = to;
        /* Every message is counted, also one that became no event: the
         * peer numbers them all. Ids rise across connections, so the
         * ledger stays in order. */
        if (c->hop && c->st == S_OPEN) {
            int hr = tr_ledger_pending(&s->ledger) >= HOP_MAX_PENDING
                         ? TR_EFULL
                         : tr_ledger_note(&s->ledger, c, first, tr_onramp_next_id(s->host));
            if (hr) {
                tr_log_limited(&s->lim_hop, TR_LOG_WARN, MOD,
                               "ws onramp '%s': closed a hop connection with 1011: %s", s->id,
                               hr == TR_EFULL ? "too many messages wait for their acknowledgement"
                                              : tr_strerror(hr));
                fail_conn(c, WSLAY_CODE_INTERNAL_SERVER_ERROR);
                break;
            }
        }
        if (rc == TR_ONRAMP_PAUSED && c->st == S_OPEN) ws_trigger(c->s);
        /* The preprocessors refused to hold more of this stream (a frame over
         * max_message_size, or the budget): it cannot go on. */
        if (rc < 0 && c->st == S_OPEN)
            too_big(c, len, rc == TR_EFULL ? "made the preprocessors pass max_buffered_bytes"
                                            : "carried a frame over max_message_size");
    }
    msg_done(c);
}

static const struct wslay_event_callbacks callbacks = {
    .recv_callback = recv_cb,
    .send_callback = send_cb,
    .on_frame_recv_start_callback = on_frame_start,
    .on_frame_recv_chunk_callback = on_frame_chunk,
    .on_frame_recv_end_callback = on_frame_end,
};

/* ----------------------------------------------------------------- input */

static void reject(struct sconn *c, int status, const char *why) {
    struct in *s = c->s;
    s->bad_upgrades++;
    tr_log_limited(&s->lim_upgrade, TR_LOG_INFO, MOD,
                   "ws onramp '%s': refused a connection (%d): %s (%llu such so far)", s->id, status,
                   why, (unsigned long long)s->bad_upgrades);
    c->io.in_len = 0;
    if (tr_ws_reject_build(&c->io.out, status) != 0 || flush(c) != 0) {
        conn_end(c, false);
        return;
    }
    conn_end(c, true);
}

static void handshake(struct sconn *c) {
    size_t used;
    int r = tr_ws_head_feed(c->head, c->io.in, c->io.in_len, &used);
    if (r == TR_ETOOBIG) {
        reject(c, 400, "request head too large");
        return;
    }
    c->io.in += used;
    c->io.in_len -= used;
    if (r == 0) return;
    struct tr_ws_request req;
    struct tr_diag d;
    int status;
    tr_diag_clear(&d);
    if (tr_ws_request_parse(c->head, &req, &status, &d) != 0) {
        reject(c, status, d.msg);
        return;
    }
    tr_free(c->head);
    c->head = NULL;
    c->hop = req.hop && c->s->hop_ack;
    if (tr_ws_response_build_proto(&c->io.out, req.key, c->hop ? TR_HOP_PROTOCOL : NULL) != 0 ||
        flush(c) != 0 ||
        wslay_event_context_server_init(&c->ws, &callbacks, c) != 0) {
        c->ws = NULL;
        conn_end(c, false);
        return;
    }
    /* Data frames are assembled in c->msg, and their length is checked in
     * on_frame_start (logged and counted); wslay buffers only control
     * frames (at most 125 bytes each). */
    wslay_event_config_set_no_buffering(c->ws, 1);
    wslay_event_config_set_max_recv_msg_length(c->ws, UINT64_MAX);
    c->st = S_OPEN;
    c->last_rx = uv_now(c->s->loop);
    c->stream_open = true;
}

/* Feed unread bytes (and whatever wslay buffered) through wslay, a slice
 * at a time: parse it, write its replies, then emit its messages. */
static void process(struct sconn *c) {
    if (c->st == S_HEAD && c->io.in_len) handshake(c);
    if (c->st != S_OPEN) return;
    do {
        c->io.slice = RECV_SLICE;
        c->in_wslay = true;
        int r = wslay_event_recv(c->ws);
        c->in_wslay = false;
        int w = r == 0 ? wslay_event_send(c->ws) : 0;
        int f = r == 0 && w == 0 ? flush(c) : 0;
        /* What was read whole is emitted even if the link is failing: it
         * came before the failure. The host may close us from here (then
         * conn_end has freed the context). */
        emit_ready(c);
        if (c->st != S_OPEN) return;
        if (r != 0 || w != 0 || f != 0) {
            conn_end(c, false);
            return;
        }
        /* a close queued while emitting (1009, 1011) */
        if (wslay_event_want_write(c->ws) && (wslay_event_send(c->ws) != 0 || flush(c) != 0)) {
            conn_end(c, false);
            return;
        }
        /* Close handshake done, or wslay gave up (1002/1007/1009 sent). */
        if (!wslay_event_want_read(c->ws) && !wslay_event_want_write(c->ws)) {
            conn_end(c, true);
            return;
        }
    } while (c->io.in_len && !c->s->paused && !c->failed);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    (void)hint;
    struct sconn *c = h->data;
    *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void tls_reject(struct sconn *c, const char *why) {
    struct in *s = c->s;
    char peer[96];
    tr_conn_peer_name(&c->tcp, peer, sizeof peer);
    s->tls_rejected++;
    tr_log_limited(&s->lim_tls, TR_LOG_WARN, MOD,
                   "ws onramp '%s': closed %s: %s (%llu TLS rejections so far)", s->id, peer, why,
                   (unsigned long long)s->tls_rejected);
    conn_end(c, false);
}

/* wss: decrypt what OpenSSL holds into rbuf, a buffer at a time, and run
 * each through process() while nothing holds us back. */
static void tls_pump(struct sconn *c) {
    process(c);   /* what an earlier pass left (paused, or queued in wslay) */
    while (c->st != S_CLOSING && !c->io.in_len && !c->s->paused && !c->failed) {
        long r = tr_tls_read(c->tls, c->rbuf, sizeof c->rbuf);
        if (r == 0) break;
        if (r < 0) {
            (void)tr_tls_flush(c->tls, to_wire, c);   /* our alert, if any */
            conn_end(c, false);
            return;
        }
        c->io.in = (const uint8_t *)c->rbuf;
        c->io.in_len = (size_t)r;
        process(c);
    }
    if (c->st != S_CLOSING && flush(c) != 0) conn_end(c, false);
}

/* wss: ciphertext in (copied into OpenSSL, so rbuf is free again), the
 * handshake first, then the plaintext. */
static void tls_read(struct sconn *c, size_t n) {
    if (c->failed) return;   /* its close is on the way; what it sends is ignored */
    if (tr_tls_feed(c->tls, c->rbuf, n) != 0) {
        conn_end(c, false);
        return;
    }
    if (!tr_tls_established(c->tls)) {
        struct tr_diag d;
        tr_diag_clear(&d);
        int r = tr_tls_handshake(c->tls, &d);
        int w = tr_tls_flush(c->tls, to_wire, c);
        if (r < 0 || w == TR_EFULL) {
            tls_reject(c, r < 0 ? d.msg : "does not read our TLS records");
            return;
        }
        if (w) {
            conn_end(c, false);
            return;
        }
        if (r == 0) return;
    }
    tls_pump(c);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
    struct sconn *c = st->data;
    if (c->st == S_CLOSING || nread == 0) return;
    if (nread < 0) {
        conn_end(c, false);
        return;
    }
    c->last_rx = uv_now(c->s->loop);
    if (c->tls) {
        tls_read(c, (size_t)nread);
    } else {
        c->io.in = (const uint8_t *)buf->base;
        c->io.in_len = (size_t)nread;
        process(c);
    }
    /* Paused mid-buffer: reading stays off until those bytes are used. */
    if (c->st != S_CLOSING && c->io.in_len) uv_read_stop(st);
}

/* Over max_conns: accept anyway (libuv stops watching the listener until
 * the pending connection is taken) and reset it at once, before reading
 * anything: the peer sees a reset instead of bytes silently dropped. */
static void refuse(struct in *s, uv_stream_t *server) {
    s->refused++;
    tr_log_limited(&s->lim_refused, TR_LOG_WARN, MOD,
                   "ws onramp '%s': %llu connections open (max_connections), reset a new one "
                   "(%llu refused so far)", s->id, (unsigned long long)s->nconns,
                   (unsigned long long)s->refused);
    uv_tcp_t *t = tr_malloc(sizeof *t);
    if (!t || uv_tcp_init(s->loop, t) != 0) {
        tr_free(t);
        /* Like the out-of-memory case in on_connection: libuv keeps the
         * listener idle until an accept succeeds. */
        s->accept_errors++;
        tr_log_limited(&s->lim_accept, TR_LOG_WARN, MOD,
                       "ws onramp '%s': out of memory, connection not accepted (%llu such so far)",
                       s->id, (unsigned long long)s->accept_errors);
        return;
    }
    t->data = s;
    s->handles++;
    if (uv_accept(server, (uv_stream_t *)t) != 0 || uv_tcp_close_reset(t, on_refused_close) != 0)
        uv_close((uv_handle_t *)t, on_refused_close);
}

static void on_connection(uv_stream_t *server, int status) {
    struct in *s = server->data;
    if (status < 0) {
        s->accept_errors++;
        tr_log_limited(&s->lim_accept, TR_LOG_WARN, MOD,
                       "ws onramp '%s': accept failed: %s (%llu such so far)", s->id,
                       uv_strerror(status), (unsigned long long)s->accept_errors);
        return;
    }
    if (s->nconns >= s->max_conns) {
        refuse(s, server);
        return;
    }
    struct sconn *c = tr_calloc(1, sizeof *c);
    struct tr_ws_head *head = tr_malloc(sizeof *head);
    if (!c || !head || uv_tcp_init(s->loop, &c->tcp) != 0) {
        /* Take the connection off the backlog and drop it. */
        tr_free(c);
        tr_free(head);
        s->accept_errors++;
        tr_log_limited(&s->lim_accept, TR_LOG_WARN, MOD,
                       "ws onramp '%s': out of memory, connection refused (%llu such so far)",
                       s->id, (unsigned long long)s->accept_errors);
        return;
    }
    c->s = s;
    c->tcp.data = c;
    c->head = head;
    tr_ws_head_init(head);
    tr_buf_init(&c->io.out);
    c->stream = s->next_stream++;
    c->born = uv_now(s->loop);
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_end(c, false);
        return;
    }
    struct tr_diag d;
    tr_diag_clear(&d);
    if (s->tls && tr_tls_create(s->tls, NULL, &c->tls, &d) != 0) {
        TR_WARN(MOD, "ws onramp '%s': %s", s->id, d.msg);
        conn_end(c, false);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (!s->paused && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) conn_end(c, false);
}

/* ------------------------------------------------------------------ ops */

static void on_resume(uv_timer_t *t) {
    struct in *s = t->data;
    /* Nothing was read from them while paused: not their fault. */
    uint64_t now = uv_now(s->loop);
    for (struct sconn *c = s->conns; c; c = c->next) {
        if (c->st == S_HEAD) c->born = now;
        if (c->st == S_OPEN) c->last_rx = now;
    }
    /* Handles are freed only in close callbacks, so next stays valid. */
    for (struct sconn *c = s->conns, *next; c && !s->paused && !s->closing; c = next) {
        next = c->next;
        if (c->st == S_CLOSING) continue;
        if (c->tls) tls_pump(c);
        else if (c->st == S_OPEN || c->io.in_len) process(c);
        if (c->st != S_CLOSING && !s->paused && !c->io.in_len)
            uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
}

static void ws_trigger(void *self) {
    struct in *s = self;
    if (s->linked) {
        s->refusing = true;
        return;
    }
    if (s->paused) return;
    s->paused = true;
    uv_timer_stop(&s->resume);
    for (struct sconn *c = s->conns; c; c = c->next)
        if (c->st != S_CLOSING) uv_read_stop((uv_stream_t *)&c->tcp);
}

static void ws_restore(void *self) {
    struct in *s = self;
    if (s->linked) {
        s->refusing = false;
        return;
    }
    if (!s->paused || s->closing) return;
    s->paused = false;
    /* Later, not here: bytes held back must not be emitted from inside the
     * host's own restore call. */
    uv_timer_start(&s->resume, on_resume, 0, 0);
}

/* Tell an idle peer why it is closed (1001 going away), then hang up. */
static void idle_close(struct sconn *c) {
    static const char why[] = "idle timeout";
    if (wslay_event_queue_close(c->ws, WSLAY_CODE_GOING_AWAY, (const uint8_t *)why,
                                sizeof why - 1) == 0 &&
        wslay_event_send(c->ws) == 0 && flush(c) == 0)
        conn_end(c, true);
    else
        conn_end(c, false);
}

/* The timeouts: one repeating timer for all connections, so the cost is
 * one list walk per tick rather than a timer per connection. */
static void on_sweep(uv_timer_t *t) {
    struct in *s = t->data;
    if (s->closing) return;
    uint64_t now = uv_now(s->loop);
    tr_log_limit_flush(&s->lim_refused);
    tr_log_limit_flush(&s->lim_hs);
    tr_log_limit_flush(&s->lim_idle);
    tr_log_limit_flush(&s->lim_big);
    tr_log_limit_flush(&s->lim_proto);
    tr_log_limit_flush(&s->lim_upgrade);
    tr_log_limit_flush(&s->lim_accept);
    tr_log_limit_flush(&s->lim_drop);
    tr_log_limit_flush(&s->lim_busy);
    tr_log_limit_flush(&s->lim_tls);
    tr_log_limit_flush(&s->lim_stall);
    for (struct sconn *c = s->conns, *next; c; c = next) {
        next = c->next;   /* conn_end frees nothing: that waits for the close callback */
        if (c->st == S_CLOSING) {
            /* A graceful end waits for our last bytes to drain; a peer that
             * reads nothing would hold it forever. */
            if (now - c->closing_since >= CLOSE_WAIT_MS && !uv_is_closing((uv_handle_t *)&c->tcp))
                uv_close((uv_handle_t *)&c->tcp, on_conn_close);
            continue;
        }
        /* Paused, we read from nobody, so nobody is timed out (on_resume
         * restarts their clocks). */
        if (s->paused) continue;
        if (c->tls && !tr_tls_established(c->tls)) {
            if (now - c->born < s->tls_hs_ms) continue;
            char why[96];
            snprintf(why, sizeof why, "no TLS handshake within %llu ms",
                     (unsigned long long)s->tls_hs_ms);
            tls_reject(c, why);
            continue;
        }
        bool head = c->st == S_HEAD;
        if (head ? now - c->born < s->hs_timeout_ms
                 : !s->idle_ms || c->failed || now - c->last_rx < s->idle_ms)
            continue;
        char peer[96];
        tr_conn_peer_name(&c->tcp, peer, sizeof peer);
        uint64_t n = head ? ++s->hs_timeouts : ++s->idle_timeouts;
        tr_log_limited(head ? &s->lim_hs : &s->lim_idle, TR_LOG_WARN, MOD,
                       "ws onramp '%s': closed %s: %s %llu ms (%llu such so far)", s->id, peer,
                       head ? "no WebSocket upgrade within" : "nothing received for",
                       (unsigned long long)(head ? s->hs_timeout_ms : s->idle_ms),
                       (unsigned long long)n);
        if (head) conn_end(c, false);
        else idle_close(c);
    }
}

static int ws_start(void *self) {
    struct in *s = self;
    if (s->listener_init || s->closing) return 0;
    struct sockaddr_storage ss;
    const char *h = strcasecmp(s->bind_host, "localhost") == 0 ? "127.0.0.1" : s->bind_host;
    int rc = uv_ip4_addr(h, (int)s->port, (struct sockaddr_in *)&ss);
    if (rc) rc = uv_ip6_addr(h, (int)s->port, (struct sockaddr_in6 *)&ss);
    if (rc) {
        TR_ERROR(MOD, "ws onramp '%s': cannot listen on %s: not an IP address", s->id, s->bind_host);
        return rc;
    }
    rc = uv_tcp_init(s->loop, &s->listener);
    if (rc) return rc;
    s->listener_init = true;
    s->listener.data = s;
    s->handles++;
    rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
    if (!rc) rc = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
    if (rc) {
        TR_ERROR(MOD, "ws onramp '%s': cannot listen on %s:%llu: %s", s->id, s->bind_host,
                 (unsigned long long)s->port, uv_strerror(rc));
        return rc;
    }
    uint64_t every = s->hs_timeout_ms / 4;
    if (s->tls && s->tls_hs_ms / 4 < every) every = s->tls_hs_ms / 4;
    if (s->idle_ms && s->idle_ms / 4 < every) every = s->idle_ms / 4;
    if (every > SWEEP_MAX_MS) every = SWEEP_MAX_MS;
    if (every == 0) every = 1;
    uv_timer_start(&s->sweep, on_sweep, every, every);
    TR_INFO(MOD, "ws onramp '%s' listening on %s:%u%s", s->id, s->bind_host,
            (unsigned)tr_ws_onramp_port(s), s->tls ? " with TLS" : "");
    return 0;
}

static void on_deadline(uv_timer_t *t) {
    struct in *s = t->data;
    for (struct sconn *c = s->conns; c; c = c->next)
        if (!uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, on_conn_close);
}

static void ws_close(void *self, void (*done)(void *arg), void *arg) {
    struct in *s = self;
    if (s->closing) return;
    s->closing = true;
    s->done = done;
    s->done_arg = arg;
    if (s->listener_init) uv_close((uv_handle_t *)&s->listener, on_handle_close);
    uv_close((uv_handle_t *)&s->resume, on_handle_close);
    uv_close((uv_handle_t *)&s->sweep, on_handle_close);
    uv_close((uv_handle_t *)&s->hop_flush, on_handle_close);
    for (struct sconn *c = s->conns; c; c = c->next) {
        if (c->st == S_OPEN &&
            wslay_event_queue_close(c->ws, WSLAY_CODE_GOING_AWAY, NULL, 0) == 0 &&
            wslay_event_send(c->ws) == 0 && flush(c) == 0)
            conn_end(c, true);
        else
            conn_end(c, false);
    }
    /* A peer that reads nothing would hold a graceful shutdown forever. */
    uv_timer_start(&s->deadline, on_deadline, CLOSE_WAIT_MS, 0);
    maybe_done(s);
}

/* Linked (0.11's reply_event): the pipeline's answer to a message goes
 * back to the connection it came from, as one text frame, or binary when
 * $binary is true. The connection may be gone: then it is dropped. A reply
 * during the message's own emit is queued in wslay and sent by process(). */
static void ws_reply(void *self, uint64_t event_id, uint64_t stream, const tr_value *value,
                     const tr_value *meta, const struct tr_codec *codec) {
    struct in *s = self;
    struct sconn *c = s->conns;
    while (c && c->stream != stream) c = c->next;
    if (!c || c->st != S_OPEN || !c->ws || c->failed) {
        TR_DEBUG(MOD, "%s: the connection of event %llu is gone: reply dropped", s->id,
                 (unsigned long long)event_id);
        return;
    }
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = codec ? codec->encode(value, &b) : TR_EINVAL_CFG;
    if (rc) {
        tr_log_limited(&s->lim_drop, TR_LOG_WARN, MOD, "%s: cannot encode a reply with codec %s: %s",
                       s->id, codec ? codec->name : "?", tr_strerror(rc));
        tr_buf_fini(&b);
        return;
    }
    const tr_value *bin = meta && meta->type == TR_REC ? tr_rec_get(meta, "binary", 6) : NULL;
    struct wslay_event_msg m = {
        .opcode = bin && bin->type == TR_BOOL && bin->as.b ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME,
        .msg = (const uint8_t *)(b.data ? b.data : ""), .msg_length = b.len};
    rc = wslay_event_queue_msg(c->ws, &m);   /* copies the payload */
    tr_buf_fini(&b);
    if (rc != 0) {
        conn_end(c, false);
        return;
    }
    if (!c->in_wslay && (wslay_event_send(c->ws) != 0 || flush(c) != 0)) conn_end(c, false);
}

static const struct tr_preproc_limits *ws_stream_limits(void *self) {
    return &((struct in *)self)->limits;
}

/* ------------------------------------------------------------- hop_ack */

/* End of the loop turn: tell each hop peer how many of its messages are
 * answered (one pong each, however many acks came this turn); a peer one
 * of whose messages failed gets that count, then close 1011, and replays
 * the rest. */
static void on_hop_flush(uv_prepare_t *p) {
    struct in *s = p->data;
    uv_prepare_stop(p);
    for (struct sconn *c = s->conns; c; c = c->next) {
        if (!c->hop || c->st != S_OPEN || c->failed || (c->hop_done == c->hop_told && !c->hop_failed))
            continue;
        uint8_t ack[TR_HOP_ACK_LEN];
        tr_hop_ack_encode(c->hop_done, ack);
        struct wslay_event_msg m = {.opcode = WSLAY_PONG, .msg = ack, .msg_length = sizeof ack};
        if (wslay_event_queue_msg(c->ws, &m) != 0) {
            conn_end(c, false);
            continue;
        }
        c->hop_told = c->hop_done;
        if (c->hop_failed) {
            char peer[96];
            tr_conn_peer_name(&c->tcp, peer, sizeof peer);
            s->hop_fails++;
            tr_log_limited(&s->lim_hop, TR_LOG_WARN, MOD,
                           "ws onramp '%s': closed hop peer %s with 1011 after message %llu: an "
                           "event of the next one failed downstream; the peer resends from there "
                           "(%llu such so far)", s->id, peer, (unsigned long long)c->hop_done,
                           (unsigned long long)s->hop_fails);
            fail_conn(c, WSLAY_CODE_INTERNAL_SERVER_ERROR);
        }
        if (wslay_event_send(c->ws) != 0 || flush(c) != 0) conn_end(c, false);
    }
}

static void hop_settled(void *arg, void *conn, enum tr_ledger_outcome out) {
    struct sconn *c = conn;
    (void)arg;
    if (out == TR_LEDGER_FAILED) c->hop_failed = true;
    /* after a failure nothing more is confirmed: the peer resends it all */
    else if (!c->hop_failed) c->hop_done++;
}

static void hop_advance(struct in *s) {
    if (tr_ledger_settle(&s->ledger, hop_settled, s) && !s->closing)
        uv_prepare_start(&s->hop_flush, on_hop_flush);
}

static void ws_ack_range(void *self, uint64_t min, uint64_t max) {
    struct in *s = self;
    if (!s->hop_ack) return;
    tr_ledger_ack(&s->ledger, min, max);
    hop_advance(s);
}

static void ws_ack(void *self, uint64_t id) { ws_ack_range(self, id, id); }

static void ws_fail(void *self, uint64_t id) {
    struct in *s = self;
    if (!s->hop_ack) return;
    tr_ledger_fail(&s->ledger, id);
    hop_advance(s);
}

struct ws_cfg {
    const char *host;
    uint64_t port, max_msg, hs_timeout, max_conns, idle_ms, budget;
    bool hop_ack;
    const tr_value *tls;
};

/* The bounds keep every size and timer far from overflow and a listener
 * from being told to hold more than memory can. */
const struct tr_cmap_entry tr_ws_server_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR, "host", "127.0.0.1", 0, offsetof(struct ws_cfg, host),
     "address to listen on: an IP address or localhost")},
    {TR_CMAP_KEY(TR_CMAP_U64, "port", NULL, TR_CMAP_REQUIRED | TR_CMAP_RANGE,
     offsetof(struct ws_cfg, port), "TCP port to listen on, 0: any free one"),
     .lo = -INFINITY, .hi = 65535},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_message_size", "16777216", TR_CMAP_RANGE,
     offsetof(struct ws_cfg, max_msg), "largest message in bytes; a larger one closes with 1009"),
     .lo = 1, .hi = (double)LIMIT_MAX_MSG},
    {TR_CMAP_KEY(TR_CMAP_U64, "handshake_timeout_ms", "10000", TR_CMAP_RANGE,
     offsetof(struct ws_cfg, hs_timeout), "ms a peer has to complete the upgrade"),
     .lo = 1, .hi = LIMIT_HS_TIMEOUT_MS},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_connections", "1024", TR_CMAP_RANGE,
     offsetof(struct ws_cfg, max_conns), "peers at once; more are refused"),
     .lo = 1, .hi = LIMIT_MAX_CONNS},
    {TR_CMAP_KEY(TR_CMAP_U64, "idle_timeout_ms", "300000", TR_CMAP_RANGE,
     offsetof(struct ws_cfg, idle_ms), "ms without data from a peer before it is closed, 0: never"),
     .lo = 0, .hi = LIMIT_IDLE_MS},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_buffered_bytes", "134217728", TR_CMAP_RANGE,
     offsetof(struct ws_cfg, budget), "bytes held for all peers before reading pauses"),
     .lo = 1, .hi = (double)LIMIT_BUDGET},
    {TR_CMAP_KEY(TR_CMAP_BOOL, "hop_ack", "false", 0, offsetof(struct ws_cfg, hop_ack),
     "tell a tremor-c ws offramp in ack_mode hop which messages this pipeline acknowledged")},
    {TR_CMAP_KEY(TR_CMAP_VALUE, "tls", NULL, 0, offsetof(struct ws_cfg, tls),
     "ours: serve wss://, {cert, key} PEM files as the tcp onramp's, and ca_file, min_version, "
     "handshake_timeout_ms")},
    {0},
};

static int ws_create(const struct tr_conn_spec *spec, struct tr_onramp_host *host, void **self,
                     struct tr_diag *d) {
    *self = NULL;
    struct ws_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_ws_server_cmap, &c, d);
    if (rc) return rc;
    const char *bind = c.host;
    uint64_t port = c.port, max_msg = c.max_msg, hs_timeout = c.hs_timeout;
    uint64_t max_conns = c.max_conns, idle_ms = c.idle_ms, budget = c.budget;
    struct sockaddr_in6 probe;
    const char *h = strcasecmp(bind, "localhost") == 0 ? "127.0.0.1" : bind;
    if (uv_ip4_addr(h, 0, (struct sockaddr_in *)&probe) != 0 && uv_ip6_addr(h, 0, &probe) != 0)
        return tr_conn_cfg_fail(spec, "host", d, "must be an IP address or localhost, found '%.64s'",
                                bind);
    if (c.hop_ack && spec->linked)
        return tr_conn_cfg_fail(spec, "hop_ack", d,
                                "cannot be used with linked: true (replies and hop acknowledgements "
                                "would share the connection)");
    if (c.hop_ack && !host->ops->next_id)
        return tr_conn_cfg_fail(spec, "hop_ack", d, "needs a host that numbers its events");
    struct tr_tls_ctx *tls = NULL;
    uint64_t tls_hs_ms = 0;
    rc = tr_tls_server_config(spec, &tls, &tls_hs_ms, d);
    if (rc) return rc;
    struct in *s = tr_calloc(1, sizeof *s);
    if (!s) {
        tr_tls_ctx_destroy(tls);
        return -ENOMEM;
    }
    s->tls = tls;
    s->tls_hs_ms = tls_hs_ms;
    s->bind_host = tr_strdup(bind);
    s->id = tr_strdup(spec->id ? spec->id : "ws");
    if (!s->bind_host || !s->id) {
        tr_tls_ctx_destroy(s->tls);
        tr_free(s->bind_host);
        tr_free(s->id);
        tr_free(s);
        return -ENOMEM;
    }
    s->host = host;
    s->loop = tr_onramp_loop(host);
    s->port = port;
    s->max_msg = max_msg;
    s->hs_timeout_ms = hs_timeout;
    s->max_conns = max_conns;
    s->idle_ms = idle_ms;
    tr_budget_init(&s->budget, budget);
    s->limits = (struct tr_preproc_limits){
        .max_frame = max_msg, .budget = &s->budget, .share = 4 * max_msg + 256,
        .log = &s->lim_drop};
    uv_timer_init(s->loop, &s->resume);
    uv_timer_init(s->loop, &s->deadline);
    uv_timer_init(s->loop, &s->sweep);
    uv_prepare_init(s->loop, &s->hop_flush);
    s->resume.data = s->deadline.data = s->sweep.data = s->hop_flush.data = s;
    s->handles = 4;
    s->hop_ack = c.hop_ack;
    s->linked = spec->linked;
    tr_ledger_init(&s->ledger);
    /* acks for the events of hop peers come back here */
    if (s->hop_ack) host->transactional = true;
    *self = s;
    return 0;
}

uint16_t tr_ws_onramp_port(void *self) {
    struct in *s = self;
    if (!s->listener_init) return 0;
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len) != 0) return 0;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

const struct tr_onramp_ops tr_ws_onramp = {
    .type = "ws",
    .transactional = false,
    .ids_at_emit = true,
    .default_codec = "string",   /* as 0.11's ws onramp */
    .create = ws_create,
    .start = ws_start,
    .trigger = ws_trigger,
    .restore = ws_restore,
    .ack = ws_ack,
    .fail = ws_fail,
    .ack_range = ws_ack_range,
    .close = ws_close,
    .stream_limits = ws_stream_limits,
    .reply = ws_reply,
};
