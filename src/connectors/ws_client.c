/* ws_client.c - the ws offramp: a WebSocket client sending each message as
 * one text (or binary) frame to config.url (ws:// or wss://). Not a receiver:
 * server frames are read only so closes are answered, pings ponged and a
 * leaving peer seen at once; their data is discarded. A transactional message
 * is acked once the peer's TCP has acknowledged its frame's last byte (bytes
 * in the kernel - SIOCOUTQ); with ack_mode "pong" (the default), also once the peer
 * answered a ping sent after it (its WebSocket layer read it, not just its
 * kernel). Invariant: every transactional send() is answered exactly once,
 * and the pending list is in wire order, so acks go out in order.
 */
#include <errno.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include <openssl/rand.h>
#include <uv.h>
#include <wslay/wslay.h>

#include "connectors/conn.h"
#include "connectors/ws_int.h"
#include "core/alloc.h"
#include "core/log.h"

#define MOD "ws"
#define RETRY_MS 1000                    /* between connection attempts */
#define CLOSE_WAIT_MS 1000               /* close(): wait this long for the close reply */
#define MAX_BACKLOG ((size_t)64 << 20)   /* bytes not yet in the kernel */
#define POLL_MIN_MS 1                    /* first ack poll after a write */
#define POLL_MAX_MS 5                    /* acks wait at most this long for a poll */
#define RBUF_SIZE 65536
#define MAX_PINGS 64                     /* ack_mode pong: pings in flight */
#define PING_EVERY ((uint64_t)64 << 10)  /* ...at least one per this many bytes */

/* Connection states. Any state goes to DEAD on failure; DEAD is final (a
 * reconnect makes a new struct conn).
 *
 *   RESOLVING -> CONNECTING -> [TLS] -> UPGRADING -> OPEN
 *                  |  ^ next address
 *                  +--+
 */
enum cstate { C_RESOLVING, C_CONNECTING, C_TLS, C_UPGRADING, C_OPEN, C_DEAD };

struct pend {
    uint64_t token;
    uint64_t end;   /* wire offset just past the message's last byte */
};

struct out;

struct conn {
    struct out *o;
    enum cstate st;
    uv_getaddrinfo_t gai;
    uv_connect_t creq;
    uv_tcp_t tcp;
    struct addrinfo *ai, *ai_next;
    int last_err;
    bool resolving;      /* gai callback still to come */
    bool tcp_live;       /* tcp initialised and its close callback not yet run */
    bool next_addr;      /* tcp is closing to try the next address */
    struct tr_ws_tls *tls;
    wslay_event_context_ptr ws;
    char key[TR_WS_KEY_LEN + 1];
    const uint8_t *in;   /* bytes the wslay recv callback may take */
    size_t in_len;
    struct tr_buf out;   /* plaintext waiting to be written (or encrypted) */
    uint64_t queued;     /* wire bytes handed to uv_write so far */
    /* ack_mode pong: pings carry a sequence number; the answer to one
     * confirms every byte written before it (and before older pings). */
    struct { uint64_t seq, end; } pings[MAX_PINGS];   /* in flight, oldest first */
    size_t ping_head, ping_len;
    bool ping_wanted;    /* bytes written after the newest ping */
    uint64_t ping_seq;   /* last sequence number used */
    uint64_t pong_seq;   /* newest matching pong seen inside wslay, 0 = none */
    uint64_t confirmed;  /* wire offset the peer's pongs cover */
    struct pend *pend;   /* transactional messages not yet acked, in wire order */
    size_t phead, plen, pcap;
    struct tr_ws_head head;
    char rbuf[RBUF_SIZE];
    char pbuf[RBUF_SIZE];   /* decrypted bytes (wss) */
};

struct wreq {
    uv_write_t req;
    struct conn *c;
    char *data;
};

enum reported { REP_NONE, REP_UP, REP_DOWN };

struct out {
    struct tr_offramp_host *host;
    uv_loop_t *loop;
    char *id;
    char *url_text;
    struct tr_ws_url url;
    bool binary;
    bool ack_pong;            /* ack_mode "pong" */
    struct tr_ws_tls_ctx *tls_ctx;
    uv_timer_t retry, poll, close_timer;
    int timers_open;
    bool timers_closing;
    int conns;                /* struct conn alive (freed in close callbacks) */
    struct conn *conn;        /* the current connection, NULL between attempts */
    enum reported reported;
    bool started, closing;
    uint64_t last_attempt;
    uint64_t poll_ms;
    uint64_t dropped;         /* non-transactional messages dropped in this outage */
    bool full_logged;
    void (*done)(void *);
    void *done_arg;
};

static void attempt(struct out *o);
static void connect_next(struct conn *c);
static void conn_end(struct conn *c, const char *why);
static void finish_close(struct out *o);
static void schedule_retry(struct out *o);

/* ------------------------------------------------------------ lifecycle */

static void maybe_done(struct out *o) {
    if (!o->closing || o->timers_open || o->conns) return;
    void (*done)(void *) = o->done;
    void *arg = o->done_arg;
    tr_ws_url_fini(&o->url);
    tr_ws_tls_ctx_destroy(o->tls_ctx);
    tr_free(o->url_text);
    tr_free(o->id);
    tr_free(o);
    if (done) done(arg);
}

static void maybe_free(struct conn *c) {
    if (c->st != C_DEAD || c->resolving || c->tcp_live) return;
    struct out *o = c->o;
    if (c->ai) uv_freeaddrinfo(c->ai);
    tr_buf_fini(&c->out);
    tr_free(c->pend);
    tr_free(c);
    o->conns--;
    maybe_done(o);
}

static void on_tcp_close(uv_handle_t *h) {
    struct conn *c = h->data;
    c->tcp_live = false;
    if (c->next_addr && c->st != C_DEAD) {
        c->next_addr = false;
        connect_next(c);
        return;
    }
    maybe_free(c);
}

/* Drop everything a connection holds; the struct itself goes once libuv
 * has given back the handle and the resolver request. */
static void conn_release(struct conn *c) {
    c->st = C_DEAD;
    if (c->ws) wslay_event_context_free(c->ws);
    c->ws = NULL;
    tr_ws_tls_destroy(c->tls);
    c->tls = NULL;
    if (c->resolving) uv_cancel((uv_req_t *)&c->gai);
    if (c->tcp_live && !uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_tcp_close);
    maybe_free(c);
}

static void report_up(struct out *o) {
    if (o->reported == REP_UP) return;
    o->reported = REP_UP;
    TR_INFO(MOD, "Connected to %s", o->url_text);
    if (o->dropped)
        TR_WARN(MOD, "%llu non-transactional messages to %s were dropped while disconnected",
                (unsigned long long)o->dropped, o->url_text);
    o->dropped = 0;
    tr_offramp_restore(o->host);
}

static void report_down(struct out *o) {
    if (o->reported == REP_DOWN) return;
    o->reported = REP_DOWN;
    tr_offramp_trigger(o->host);
}

/* ----------------------------------------------------- pending messages */

static int pend_push(struct conn *c, uint64_t token, uint64_t end) {
    if (c->phead + c->plen == c->pcap) {
        if (c->phead > 0) {
            memmove(c->pend, c->pend + c->phead, c->plen * sizeof *c->pend);
            c->phead = 0;
        } else {
            size_t cap = c->pcap;
            int rc = tr_grow((void **)&c->pend, &cap, c->plen + 1, sizeof *c->pend);
            if (rc) return rc;
            c->pcap = cap;
        }
    }
    c->pend[c->phead + c->plen].token = token;
    c->pend[c->phead + c->plen].end = end;
    c->plen++;
    return 0;
}

static void fail_pending(struct conn *c) {
    struct out *o = c->o;
    /* Pop before calling out: the host may send (and so push) from fail(). */
    while (c->plen) {
        uint64_t token = c->pend[c->phead].token;
        c->phead++;
        c->plen--;
        tr_offramp_fail(o->host, token);
    }
    c->phead = 0;
}

/* Ack every pending message whose last byte the peer's TCP has
 * acknowledged: bytes in the kernel minus those it still holds unacked. */
static void check_acks(struct conn *c) {
    if (!c->plen || !c->tcp_live) return;
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0) return;
    int outq = 0;
    if (ioctl(fd, SIOCOUTQ, &outq) != 0 || outq < 0) return;
    size_t waiting = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
    uint64_t in_kernel = c->queued - waiting;
    uint64_t acked = (uint64_t)outq > in_kernel ? 0 : in_kernel - (uint64_t)outq;
    if (c->o->ack_pong && c->confirmed < acked) acked = c->confirmed;
    while (c->plen && c->st != C_DEAD && c->pend[c->phead].end <= acked) {
        uint64_t token = c->pend[c->phead].token;
        c->phead++;
        c->plen--;
        tr_offramp_ack(c->o->host, token);
    }
    if (!c->plen) c->phead = 0;
}

static void on_poll(uv_timer_t *t) {
    struct out *o = t->data;
    struct conn *c = o->conn;
    if (!c || c->st != C_OPEN) return;
    size_t before = c->plen;
    check_acks(c);
    if (o->conn != c || !c->plen) return;
    /* Back off while the peer acknowledges nothing (delayed ACKs, a dead
     * peer); start again fast as soon as it does. */
    if (c->plen < before) o->poll_ms = POLL_MIN_MS;
    else if (o->poll_ms < POLL_MAX_MS) o->poll_ms = o->poll_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : o->poll_ms * 2;
    uv_timer_start(&o->poll, on_poll, o->poll_ms, 0);
}

static void arm_poll(struct out *o) {
    struct conn *c = o->conn;
    if (o->closing || !c || !c->plen || uv_is_active((uv_handle_t *)&o->poll)) return;
    o->poll_ms = POLL_MIN_MS;
    uv_timer_start(&o->poll, on_poll, o->poll_ms, 0);
}

/* ---------------------------------------------------------------- output */

static void on_write(uv_write_t *req, int status) {
    struct wreq *w = (struct wreq *)req;
    struct conn *c = w->c;
    tr_free(w->data);
    tr_free(w);
    if (c->st == C_DEAD) return;
    if (status < 0) {
        conn_end(c, uv_strerror(status));
        return;
    }
    if (c->st == C_OPEN) {
        check_acks(c);
        arm_poll(c->o);
    }
}

/* Write len bytes of data (taken, also on failure) to the socket. */
static int write_wire(struct conn *c, char *data, size_t len) {
    struct wreq *w = tr_malloc(sizeof *w);
    if (!w) {
        tr_free(data);
        return -ENOMEM;
    }
    w->c = c;
    w->data = data;
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        tr_free(data);
        tr_free(w);
        return rc;
    }
    c->queued += len;
    return 0;
}

static int flush_tls(struct conn *c) {
    while (tr_ws_tls_pending(c->tls)) {
        size_t n;
        char *p = tr_ws_tls_take(c->tls, &n);
        if (!p) return -ENOMEM;
        int rc = write_wire(c, p, n);
        if (rc) return rc;
    }
    return 0;
}

/* Hand c->out to the socket (through TLS on wss). */
static int flush_plain(struct conn *c) {
    if (!c->out.len) return 0;
    if (c->tls) {
        int rc = tr_ws_tls_write(c->tls, c->out.data, c->out.len);
        tr_buf_reset(&c->out);
        return rc ? rc : flush_tls(c);
    }
    size_t n;
    char *p = tr_buf_steal(&c->out, &n);
    if (!p) return -ENOMEM;
    return write_wire(c, p, n);
}

/* Let wslay serialise whatever it has queued, then write it. Our send
 * callback never refuses bytes, so afterwards wslay holds nothing and
 * c->queued is the wire offset just past everything queued so far. */
static int pump(struct conn *c) {
    int r = wslay_event_send(c->ws);
    int rc = flush_plain(c);
    if (r != 0) return TR_ERUNTIME;
    return rc;
}

/* ----------------------------------------------------- wslay callbacks */

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *user) {
    (void)flags;
    struct conn *c = user;
    if (!c->in_len) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < c->in_len ? len : c->in_len;
    memcpy(buf, c->in, n);
    c->in += n;
    c->in_len -= n;
    return (ssize_t)n;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *user) {
    (void)flags;
    struct conn *c = user;
    if (tr_buf_append(&c->out, data, len) != 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user) {
    (void)ctx;
    (void)user;
    return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

/* Only notes a matching pong: the host is not called from inside wslay. */
static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user) {
    (void)ctx;
    struct conn *c = user;
    if (arg->opcode != WSLAY_PONG || arg->msg_length != 8) return;
    uint64_t seq = 0;
    for (int i = 0; i < 8; i++) seq = seq << 8 | arg->msg[i];
    /* unsolicited pongs (or ones from before a reconnect) match no ping */
    for (size_t i = 0; i < c->ping_len; i++)
        if (c->pings[(c->ping_head + i) % MAX_PINGS].seq == seq && seq > c->pong_seq) c->pong_seq = seq;
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv_cb,
    .send_callback = ws_send_cb,
    .genmask_callback = ws_genmask_cb,
    .on_msg_recv_callback = ws_msg_cb,
};

/* Send a ping after everything written so far (when there is room for
 * one more in flight; otherwise a later pong sends it). */
static int send_ping(struct conn *c) {
    if (c->ping_len == MAX_PINGS) {
        c->ping_wanted = true;
        return 0;
    }
    uint8_t seq[8];
    c->ping_seq++;
    for (int i = 0; i < 8; i++) seq[i] = (uint8_t)(c->ping_seq >> (56 - 8 * i));
    struct wslay_event_msg m = {.opcode = WSLAY_PING, .msg = seq, .msg_length = 8};
    uint64_t before = c->queued;
    if (wslay_event_queue_msg(c->ws, &m) != 0) return TR_ERUNTIME;
    size_t slot = (c->ping_head + c->ping_len) % MAX_PINGS;
    c->pings[slot].seq = c->ping_seq;
    c->pings[slot].end = before;
    c->ping_len++;
    c->ping_wanted = false;
    return pump(c);
}

/* After a message: ping at once when nothing is in flight or the newest
 * ping is PING_EVERY bytes behind; else leave it to the next pong/tick. */
static int maybe_ping(struct conn *c) {
    uint64_t newest = c->ping_len ? c->pings[(c->ping_head + c->ping_len - 1) % MAX_PINGS].end : 0;
    if (!c->ping_len || c->queued - newest >= PING_EVERY) return send_ping(c);
    c->ping_wanted = true;
    return 0;
}

/* After a read: a matching pong confirms its ping and every older one. */
static int after_pong(struct conn *c) {
    if (!c->pong_seq) return 0;
    while (c->ping_len && c->pings[c->ping_head].seq <= c->pong_seq) {
        c->confirmed = c->pings[c->ping_head].end;
        c->ping_head = (c->ping_head + 1) % MAX_PINGS;
        c->ping_len--;
    }
    c->pong_seq = 0;
    check_acks(c);
    if (c->st == C_OPEN && c->ping_wanted && !c->o->closing) return send_ping(c);
    return 0;
}

/* ----------------------------------------------------------------- input */

static void open_ws(struct conn *c) {
    if (wslay_event_context_client_init(&c->ws, &ws_callbacks, c) != 0) {
        c->ws = NULL;
        conn_end(c, "out of memory");
        return;
    }
    /* Data from the server is not wanted: do not buffer it (control frames
     * are still assembled and answered by wslay). */
    wslay_event_config_set_no_buffering(c->ws, 1);
    c->st = C_OPEN;
    report_up(c->o);
}

static void send_upgrade(struct conn *c) {
    if (tr_ws_key_make(c->key) != 0) {
        conn_end(c, "no random bytes for the key");
        return;
    }
    tr_ws_head_init(&c->head);
    c->st = C_UPGRADING;
    if (tr_ws_request_build(&c->out, &c->o->url, c->key) != 0 || flush_plain(c) != 0)
        conn_end(c, "cannot send the upgrade request");
}

static void on_plain(struct conn *c, const char *p, size_t n) {
    if (c->st == C_UPGRADING) {
        size_t used;
        int r = tr_ws_head_feed(&c->head, p, n, &used);
        if (r == TR_ETOOBIG) {
            conn_end(c, "response head too large");
            return;
        }
        if (r == 0) return;
        struct tr_diag d;
        tr_diag_clear(&d);
        if (tr_ws_response_check(&c->head, c->key, &d) != 0) {
            conn_end(c, d.msg);
            return;
        }
        open_ws(c);
        if (c->st != C_OPEN) return;
        p += used;
        n -= used;
    }
    if (c->st != C_OPEN || !n) return;
    c->in = (const uint8_t *)p;
    c->in_len = n;
    int r = wslay_event_recv(c->ws);
    c->in_len = 0;
    if (c->st != C_OPEN) return;
    int w = pump(c);
    if (r != 0 || w != 0) {
        conn_end(c, r != 0 ? "protocol error" : "write failed");
        return;
    }
    /* Our close reply (queued by wslay) is on its way: the connection is over. */
    if (wslay_event_get_close_received(c->ws)) {
        conn_end(c, "closed by peer");
        return;
    }
    if (after_pong(c) != 0 && c->st == C_OPEN) conn_end(c, "write failed");
}

static void on_bytes(struct conn *c, const char *p, size_t n) {
    if (!c->tls) {
        on_plain(c, p, n);
        return;
    }
    if (tr_ws_tls_feed(c->tls, p, n) != 0) {
        conn_end(c, "out of memory");
        return;
    }
    if (c->st == C_TLS) {
        struct tr_diag d;
        tr_diag_clear(&d);
        int r = tr_ws_tls_handshake(c->tls, &d);
        if (flush_tls(c) != 0) r = r < 0 ? r : TR_ERUNTIME;
        if (r < 0) {
            conn_end(c, d.msg[0] ? d.msg : "TLS write failed");
            return;
        }
        if (r == 0) return;
        send_upgrade(c);
    }
    while (c->st != C_DEAD) {
        long r = tr_ws_tls_read(c->tls, c->pbuf, sizeof c->pbuf);
        if (r == 0) break;
        if (r < 0) {
            conn_end(c, r == TR_ECLOSED ? "closed by peer" : "TLS error");
            return;
        }
        on_plain(c, c->pbuf, (size_t)r);
    }
    if (c->st != C_DEAD && flush_tls(c) != 0) conn_end(c, "write failed");
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    (void)hint;
    struct conn *c = h->data;
    *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    struct conn *c = s->data;
    if (c->st == C_DEAD || nread == 0) return;
    if (nread < 0) {
        conn_end(c, nread == UV_EOF ? "closed by peer" : uv_strerror((int)nread));
        return;
    }
    on_bytes(c, buf->base, (size_t)nread);
}

/* ------------------------------------------------------------ connecting */

static void on_connect(uv_connect_t *req, int status) {
    struct conn *c = req->data;
    if (c->st == C_DEAD) return;
    if (status < 0) {
        c->last_err = status;
        c->next_addr = true;
        uv_close((uv_handle_t *)&c->tcp, on_tcp_close);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc) {
        conn_end(c, uv_strerror(rc));
        return;
    }
    if (!c->o->url.tls) {
        send_upgrade(c);
        return;
    }
    struct tr_diag d;
    tr_diag_clear(&d);
    c->st = C_TLS;
    if (tr_ws_tls_create(c->o->tls_ctx, c->o->url.host, &c->tls, &d) != 0) {
        conn_end(c, d.msg[0] ? d.msg : "cannot start TLS");
        return;
    }
    rc = tr_ws_tls_handshake(c->tls, &d);
    if (rc < 0 || flush_tls(c) != 0) conn_end(c, d.msg[0] ? d.msg : "TLS handshake failed");
}

/* Try the next resolved address; every address is tried before giving up
 * ("localhost" often gives ::1 first while the server listens on 127.0.0.1). */
static void connect_next(struct conn *c) {
    struct out *o = c->o;
    while (c->ai_next) {
        struct addrinfo *a = c->ai_next;
        c->ai_next = a->ai_next;
        int rc = uv_tcp_init(o->loop, &c->tcp);
        if (rc) {
            c->last_err = rc;
            break;
        }
        c->tcp.data = c;
        c->creq.data = c;
        c->tcp_live = true;
        c->st = C_CONNECTING;
        rc = uv_tcp_connect(&c->creq, &c->tcp, a->ai_addr, on_connect);
        if (rc == 0) return;
        c->last_err = rc;
        c->next_addr = true;
        uv_close((uv_handle_t *)&c->tcp, on_tcp_close);
        return;
    }
    conn_end(c, c->last_err ? uv_strerror(c->last_err) : "no address");
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    struct conn *c = req->data;
    c->resolving = false;
    c->ai = res;
    c->ai_next = res;
    if (c->st == C_DEAD) {
        maybe_free(c);
        return;
    }
    if (status < 0) {
        conn_end(c, uv_strerror(status));
        return;
    }
    connect_next(c);
}

static void attempt(struct out *o) {
    if (o->closing || o->conn) return;
    o->last_attempt = uv_now(o->loop);
    struct conn *c = tr_calloc(1, sizeof *c);
    if (!c) {
        TR_WARN(MOD, "Failed to connect to %s, retrying in 1s (out of memory)", o->url_text);
        report_down(o);
        schedule_retry(o);
        return;
    }
    c->o = o;
    c->st = C_RESOLVING;
    tr_buf_init(&c->out);
    c->gai.data = c;
    o->conns++;
    o->conn = c;
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)o->url.port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    c->resolving = true;
    int rc = uv_getaddrinfo(o->loop, &c->gai, on_resolved, o->url.host, port, &hints);
    if (rc) {
        c->resolving = false;
        conn_end(c, uv_strerror(rc));
    }
}

static void on_retry(uv_timer_t *t) { attempt(t->data); }

static void schedule_retry(struct out *o) {
    if (o->closing) return;
    uint64_t now = uv_now(o->loop);
    uint64_t at = o->last_attempt + RETRY_MS;
    uv_timer_start(&o->retry, on_retry, at > now ? at - now : 0, 0);
}

/* The one exit of every connection: acks what the peer's TCP already has,
 * tells the host the sink is down, fails the rest (in order) and plans the
 * next attempt. */
static void conn_end(struct conn *c, const char *why) {
    struct out *o = c->o;
    if (c->st == C_DEAD) return;
    bool was_open = c->st == C_OPEN;
    check_acks(c);
    c->st = C_DEAD;
    if (o->conn == c) o->conn = NULL;
    if (!o->closing) {
        if (was_open)
            TR_WARN(MOD, "Connection to %s lost (%s)", o->url_text, why);
        else
            TR_WARN(MOD, "Failed to connect to %s, retrying in 1s (%s)", o->url_text, why);
        report_down(o);
    }
    fail_pending(c);
    conn_release(c);
    if (o->closing) finish_close(o);
    else schedule_retry(o);
}

/* ------------------------------------------------------------------ ops */

static bool meta_binary(const struct out *o, const struct tr_out_msg *m) {
    const tr_value *meta = m->meta;
    if (!meta || meta->type != TR_REC) return o->binary;
    for (uint32_t i = 0; i < tr_rec_len(meta); i++) {
        const struct tr_field *f = tr_rec_at(meta, i);
        if (f->key->len == 6 && memcmp(f->key->data, "binary", 6) == 0 && f->val.type == TR_BOOL)
            return f->val.as.b;
    }
    return o->binary;
}

/* A message we will not send: transactional ones are failed (the WAL
 * upstream replays them), others are dropped and counted. */
static void refuse(struct out *o, const struct tr_out_msg *m) {
    if (m->transactional) {
        tr_offramp_fail(o->host, m->token);
        return;
    }
    if (o->dropped++ == 0)
        TR_WARN(MOD, "Not connected to %s: dropping non-transactional messages", o->url_text);
}

static void ws_send(void *self, const struct tr_out_msg *m) {
    struct out *o = self;
    struct conn *c = o->conn;
    if (o->closing || !c || c->st != C_OPEN) {
        refuse(o, m);
        return;
    }
    bool binary = meta_binary(o, m);
    if (!binary && !tr_ws_utf8_valid(m->data, m->len)) {
        TR_WARN(MOD, "Message for %s is not valid UTF-8 and cannot go in a text frame", o->url_text);
        if (m->transactional) tr_offramp_fail(o->host, m->token);
        return;
    }
    size_t backlog = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
    if (backlog > MAX_BACKLOG || m->len > MAX_BACKLOG - backlog) {
        if (!o->full_logged)
            TR_WARN(MOD, "More than %zu MiB waiting to be written to %s: refusing messages",
                    MAX_BACKLOG >> 20, o->url_text);
        o->full_logged = true;
        if (m->transactional) tr_offramp_fail(o->host, m->token);
        return;
    }
    o->full_logged = false;
    struct wslay_event_msg wm = {
        .opcode = binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME,
        .msg = (const uint8_t *)m->data,
        .msg_length = m->len,
    };
    if (wslay_event_queue_msg(c->ws, &wm) != 0) {
        if (m->transactional) tr_offramp_fail(o->host, m->token);
        return;
    }
    int rc = pump(c);
    if (m->transactional && pend_push(c, m->token, c->queued) != 0) {
        /* The frame is on its way but cannot be tracked: fail it now; the
         * replay makes it a duplicate, never a loss. */
        tr_offramp_fail(o->host, m->token);
    }
    if (rc == 0 && o->ack_pong) rc = maybe_ping(c);
    if (rc != 0) {
        conn_end(c, "write failed");
        return;
    }
    check_acks(c);
    arm_poll(o);
}

static void ws_tick(void *self, uint64_t now_ns) {
    (void)now_ns;
    struct out *o = self;
    struct conn *c = o->conn;
    if (!c || c->st != C_OPEN) return;
    check_acks(c);
    if (o->conn == c && c->st == C_OPEN && c->ping_wanted && !o->closing && send_ping(c) != 0)
        conn_end(c, "write failed");
}

static bool ws_is_active(void *self) {
    struct out *o = self;
    return !o->closing && o->conn && o->conn->st == C_OPEN;
}

static int ws_start(void *self) {
    struct out *o = self;
    if (o->started || o->closing) return 0;
    o->started = true;
    attempt(o);
    return 0;
}

static void on_timer_close(uv_handle_t *h) {
    struct out *o = h->data;
    o->timers_open--;
    maybe_done(o);
}

static void finish_close(struct out *o) {
    if (o->timers_closing || o->conn) return;
    o->timers_closing = true;
    uv_close((uv_handle_t *)&o->retry, on_timer_close);
    uv_close((uv_handle_t *)&o->poll, on_timer_close);
    uv_close((uv_handle_t *)&o->close_timer, on_timer_close);
}

static void on_close_timeout(uv_timer_t *t) {
    struct out *o = t->data;
    if (o->conn) conn_end(o->conn, "no close reply in time");
}

static void ws_close(void *self, void (*done)(void *arg), void *arg) {
    struct out *o = self;
    if (o->closing) return;
    o->closing = true;
    o->done = done;
    o->done_arg = arg;
    uv_timer_stop(&o->retry);
    uv_timer_stop(&o->poll);
    struct conn *c = o->conn;
    if (c && c->st == C_OPEN) {
        /* Best effort: say goodbye and give the peer a moment to answer;
         * what it acknowledges meanwhile is still acked. */
        if (wslay_event_queue_close(c->ws, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0) != 0 || pump(c) != 0) {
            conn_end(c, "closing");
        } else {
            uv_timer_start(&o->close_timer, on_close_timeout, CLOSE_WAIT_MS, 0);
        }
    } else if (c) {
        conn_end(c, "closing");
    }
    finish_close(o);
}

static int ws_create(const struct tr_conn_spec *spec, struct tr_offramp_host *host, void **self,
                     struct tr_diag *d) {
    *self = NULL;
    static const char *const keys[] = {"url", "binary", "tls_verify", "ack_mode", NULL};
    int rc = tr_conn_cfg_known(spec, keys, d);
    if (rc) return rc;
    const char *url = NULL;
    rc = tr_conn_cfg_str(spec, "url", &url, d);
    if (rc == TR_ENOTFOUND)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "%s '%s': config.url is required", spec->type, spec->id);
    if (rc) return rc;
    bool binary = false, verify = true;
    rc = tr_conn_cfg_bool(spec, "binary", &binary, d);
    if (rc && rc != TR_ENOTFOUND) return rc;
    rc = tr_conn_cfg_bool(spec, "tls_verify", &verify, d);
    if (rc && rc != TR_ENOTFOUND) return rc;
    const char *mode = "pong";   /* the peer read it, not only its kernel */
    rc = tr_conn_cfg_str(spec, "ack_mode", &mode, d);
    if (rc && rc != TR_ENOTFOUND) return rc;
    if (strcmp(mode, "tcp") != 0 && strcmp(mode, "pong") != 0)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "%s '%s': config.ack_mode must be \"tcp\" or \"pong\"", spec->type, spec->id);

    struct out *o = tr_calloc(1, sizeof *o);
    if (!o) return -ENOMEM;
    struct tr_diag ud;
    tr_diag_clear(&ud);
    rc = tr_ws_url_parse(url, &o->url, &ud);
    if (rc == TR_EPARSE) {
        rc = tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col, "%s '%s': config.url: %s",
                         spec->type, spec->id, ud.msg);
        goto fail;
    }
    if (rc) goto fail;
    if (o->url.tls) {
        rc = tr_ws_tls_ctx_create(verify ? TR_WS_TLS_CLIENT : TR_WS_TLS_CLIENT | TR_WS_TLS_NO_VERIFY,
                                  NULL, NULL, &o->tls_ctx, &ud);
        if (rc) {
            rc = tr_diag_set(d, rc, spec->file, spec->line, spec->col, "%s '%s': %s", spec->type,
                             spec->id, ud.msg);
            goto fail;
        }
    }
    o->url_text = tr_strdup(url);
    o->id = tr_strdup(spec->id ? spec->id : "ws");
    if (!o->url_text || !o->id) {
        rc = -ENOMEM;
        goto fail;
    }
    o->host = host;
    o->loop = tr_offramp_loop(host);
    o->binary = binary;
    o->ack_pong = strcmp(mode, "pong") == 0;
    uv_timer_init(o->loop, &o->retry);
    uv_timer_init(o->loop, &o->poll);
    uv_timer_init(o->loop, &o->close_timer);
    o->retry.data = o->poll.data = o->close_timer.data = o;
    o->timers_open = 3;
    o->poll_ms = POLL_MIN_MS;
    *self = o;
    return 0;
fail:
    tr_ws_url_fini(&o->url);
    tr_ws_tls_ctx_destroy(o->tls_ctx);
    tr_free(o->url_text);
    tr_free(o->id);
    tr_free(o);
    return rc;
}

const struct tr_offramp_ops tr_ws_offramp = {
    .type = "ws",
    .create = ws_create,
    .start = ws_start,
    .send = ws_send,
    .tick = ws_tick,
    .is_active = ws_is_active,
    .close = ws_close,
};
