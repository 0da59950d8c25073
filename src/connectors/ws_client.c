/* ws_client.c - the ws offramp: a WebSocket client sending each message as
 * one text (or binary) frame to config.url (ws:// or wss://) over the TCP
 * connection dial.h keeps up. Not a receiver: server frames are read only so
 * closes are answered, pings ponged and a leaving peer seen at once; their
 * data is discarded. A transactional message is acked once the peer's TCP
 * has acknowledged its frame's last byte; with ack_mode "pong" (the default),
 * once the peer answered a ping sent after it (its WebSocket layer read it,
 * not just its kernel); with ack_mode "hop", once the receiving tremor-c's
 * pipeline acknowledged it (connectors/hop.h: asked for in the upgrade; the
 * peer's unsolicited pongs count the messages its pipeline has, e.g. once
 * its qos::wal made them durable).
 *
 * The pong linger (pong mode): a receiver whose library read a frame but
 * which dies before its application got it (websocat killed with Ctrl-C)
 * drops the link within the linger (config.confirm_linger_ms, 50 ms) of the
 * pong. So a confirmed message is only released to the host at the pong
 * (it leaves the sender's in-flight window, the source still keeps it), and
 * acked when the linger ends; if the link drops inside the linger it is
 * failed, and the source (the WAL, the only copy) replays it.
 *
 *   kept entry:  SENT --pong: release--> LINGER --linger over: ack--> (retired)
 *                  |                       |
 *                  +-- link drops: fail ---+--> DEAD (retired)
 *
 * When we close the link ourselves the receiver did not drop it: a
 * confirmation inside its linger stands and is acked.
 *
 * With `linked: true` (0.11's linked transport) every message is answered,
 * and what the server sends back is paired with what was sent, in order,
 * and becomes an event out of `out` (ws_link.h); acks stay on peer receipt,
 * each held until its response went out.
 *
 * wss:// takes the `tls` record of the tcp offramp (connectors/tls.h):
 * cafile, domain, and cert/key, a client certificate for servers that
 * demand one. A TLS 1.3 server judges that certificate after our side of
 * the handshake: its refusal is an alert that ends the connection, its
 * upgrade answer the acceptance, so the upgrade request goes out at once.
 *
 * Invariant: every transactional send() (every send() when linked) is
 * answered exactly once, released at most once before; acks go out in wire
 * order (retired from the front).
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>
#include <uv.h>
#include <wslay/wslay.h>

#include "codec/codec.h"
#include "config/cmap.h"
#include "connectors/conn.h"
#include "connectors/dial.h"
#include "connectors/hop.h"
#include "connectors/tls.h"
#include "connectors/ws_int.h"
#include "connectors/ws_link.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/ring.h"
#include "core/utf8.h"

#define MOD "ws"
#define CLOSE_WAIT_MS 1000               /* close(): wait this long for the close reply */
#define MAX_BACKLOG ((size_t)64 << 20)   /* bytes not yet in the kernel */
#define PBUF_SIZE 65536
#define FLUSH_AT ((size_t)256 << 10)     /* write at once when a turn's bytes reach this */
#define MAX_PINGS 64                     /* ack_mode pong: pings in flight */
#define PING_EVERY ((uint64_t)16 << 10)  /* ...at least one (and a write) per this many bytes */
#define LINGER_MAX_MS 600000

/* What runs over the TCP connection dial.h keeps. Any state goes back to
 * DOWN when the connection ends; the next one starts afresh from up().
 *
 *   DOWN -> (TCP up) -> [TLS] -> UPGRADING -> OPEN
 */
enum cstate { C_DOWN, C_TLS, C_UPGRADING, C_OPEN };

struct out;

struct conn {
    struct out *o;
    enum cstate st;
    struct tr_tls *tls;
    uint64_t tls_since_ms;   /* C_TLS: when the TCP connection came up (loop ms) */
    wslay_event_context_ptr ws;
    char key[TR_WS_KEY_LEN + 1];
    struct tr_ws_io io;  /* read bytes for wslay; its plaintext output, to be written (or encrypted) */
    struct tr_buf wire;  /* bytes for the socket, written once per loop turn */
    /* ack_mode pong: pings carry a sequence number; the answer to one
     * confirms every byte written before it (and before older pings). */
    struct { uint64_t seq, end; } pings[MAX_PINGS];   /* in flight, oldest first */
    size_t ping_head, ping_len;
    bool ping_wanted;    /* bytes written after the newest ping */
    uint64_t ping_seq;   /* last sequence number used */
    uint64_t pong_seq;   /* newest matching pong seen inside wslay, 0 = none */
    /* ack_mode hop: the wire offset just past each data message not yet
     * acknowledged by the receiving pipeline, oldest first; hop_base
     * messages were acknowledged before the oldest; hop_seen is the newest
     * count the peer sent (seen inside wslay) */
    struct tr_ring hop_ends;
    uint64_t hop_base, hop_seen;
    struct tr_ws_head head;
    bool inbox_full;        /* linked: a response could not be kept */
    uint8_t mask[4096];     /* random bytes for masking keys, used from mask_pos on */
    size_t mask_pos;
    char pbuf[PBUF_SIZE];   /* decrypted bytes (wss) */
};

enum reported { REP_NONE, REP_UP, REP_DOWN };

enum kstate { K_SENT, K_LINGER, K_DEAD };

/* A transactional message of pong mode from send to the end of its linger.
 * Its dial token is kbase + its position in the ring. */
struct kept {
    uint64_t token;          /* the host's */
    enum kstate st;
    bool released;           /* the host was told the peer has it */
    uint64_t at_ms;          /* K_LINGER: when the pong confirmed it */
};

struct out {
    struct tr_offramp_host *host;
    struct tr_dial *dial;
    uv_prepare_t flush;       /* writes c.wire at the end of the loop turn */
    uv_timer_t linger;        /* pong mode: the end of the oldest entry's linger */
    uint64_t linger_due;      /* when it is armed for (loop ms) */
    int parts_open;           /* the two handles and the dial, until closed */
    char *id;
    char *url_text;
    struct tr_ws_url url;
    bool binary;
    bool ack_pong;            /* ack_mode "pong" */
    bool ack_hop;             /* ack_mode "hop" */
    struct tr_tls_client tls;  /* wss:// (tls.ctx NULL for ws://) */
    struct conn c;            /* the protocol on the current connection */
    enum reported reported;
    bool started, closing;
    uint64_t dropped;         /* non-transactional messages dropped in this outage */
    bool full_logged;
    bool ack_report;          /* print the ack latency report on close */
    uint64_t linger_ms;       /* config.confirm_linger_ms */
    /* pong mode: messages from send to the end of their linger, in order */
    struct tr_ring k;         /* of struct kept, oldest first */
    size_t k_rel;             /* entries before this one were looked at for release */
    uint64_t *rel;            /* settle(): the run of tokens it releases (scratch) */
    size_t rel_cap;
    uint64_t kbase;           /* dial token of the oldest entry */
    void (*done)(void *);
    void *done_arg;
    bool linked;              /* `linked: true`: responses out of `out` */
    struct tr_ws_link link;   /* linked: messages waiting for their response */
};

static void conn_end(struct conn *c, const char *why);

/* ------------------------------------------------------------ lifecycle */

static struct kept *kat(struct out *o, size_t i) { return tr_ring_at(&o->k, i); }

static void free_out(struct out *o) {
    tr_ws_link_fini(&o->link);
    tr_ring_fini(&o->k);
    tr_free(o->rel);
    tr_ring_fini(&o->c.hop_ends);
    tr_buf_fini(&o->c.io.out);
    tr_buf_fini(&o->c.wire);
    tr_ws_url_fini(&o->url);
    tr_tls_client_fini(&o->tls);
    tr_free(o->url_text);
    tr_free(o->id);
    tr_free(o);
}

static void part_closed(struct out *o) {
    if (--o->parts_open) return;

    void (*done)(void *) = o->done;
    void *arg2 = o->done_arg;
    free_out(o);
    if (done) done(arg2);
}

static void on_handle_close(uv_handle_t *h) { part_closed(h->data); }
static void on_dial_done(void *arg) { part_closed(arg); }

/* Drop everything the protocol held on the connection that ended. */
static void conn_reset(struct conn *c) {
    c->st = C_DOWN;
    if (c->ws) wslay_event_context_free(c->ws);
    c->ws = NULL;
    tr_tls_destroy(c->tls);
    c->tls = NULL;
    c->io.in_len = 0;
    tr_buf_reset(&c->io.out);
    tr_buf_reset(&c->wire);
    c->ping_head = c->ping_len = 0;
    c->ping_wanted = false;
    c->ping_seq = c->pong_seq = 0;
    while (tr_ring_pop(&c->hop_ends, NULL)) {}
    c->hop_base = c->hop_seen = 0;
    c->inbox_full = false;
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

/* The answer for a host token: through the link when linked (an ack waits
 * for the response), else straight to the host. */
static void answer(struct out *o, uint64_t token, bool ok) {
    if (o->linked) tr_ws_link_answer(&o->link, token, ok);
    else if (ok) tr_offramp_ack(o->host, token);
    else tr_offramp_fail(o->host, token);
}

/* ---------------------------------------------------------------- output */

/* The stream offset just past every byte serialised so far: written, or
 * waiting in c->wire for the end of this loop turn. */
static uint64_t wire_pos(const struct conn *c) { return tr_dial_queued(c->o->dial) + c->wire.len; }

/* Hand this turn's bytes to the socket: one write per turn, not per frame. */
static int write_out(struct conn *c) {
    uv_prepare_stop(&c->o->flush);
    if (!c->wire.len) return 0;
    size_t n;
    char *p = tr_buf_steal(&c->wire, &n);
    if (!p) return -ENOMEM;
    int rc = tr_dial_write(c->o->dial, p, n);
    /* the next turn's batch will likely be as large (a failure here only
     * means the next append grows the buffer itself) */
    (void)tr_buf_reserve(&c->wire, n < FLUSH_AT ? n : FLUSH_AT);
    return rc;
}

static int send_ping(struct conn *c);

/* End of the loop turn: in pong mode a ping follows this turn's messages,
 * so each is confirmed one round trip after it went out; then write. */
static void on_prepare(uv_prepare_t *p) {
    struct out *o = p->data;
    struct conn *c = &o->c;
    int rc = 0;
    if (o->ack_pong && c->st == C_OPEN && c->ping_wanted && !o->closing) rc = send_ping(c);
    if (rc == 0) rc = write_out(c);
    if (rc != 0) conn_end(c, "write failed");
}

/* Bytes were added to c->wire: write them now if many, else at the end of
 * the turn. */
static int kick(struct conn *c) {
    if (c->wire.len >= FLUSH_AT) return write_out(c);
    if (c->wire.len) uv_prepare_start(&c->o->flush, on_prepare);
    return 0;
}

/* tr_tls_flush's wire: ciphertext joins the bytes for the socket. */
static int to_wire(void *arg, char *p, size_t n) {
    struct conn *c = arg;
    int rc = tr_buf_append(&c->wire, p, n);
    tr_free(p);
    return rc;
}

static int flush_tls(struct conn *c) {
    int rc = tr_tls_flush(c->tls, to_wire, c);
    return rc ? rc : kick(c);
}

/* Move c->io.out towards the socket (through TLS on wss). */
static int flush_plain(struct conn *c) {
    if (!c->io.out.len) return 0;
    if (c->tls) {
        int rc = tr_tls_write(c->tls, c->io.out.data, c->io.out.len);
        tr_buf_reset(&c->io.out);
        return rc ? rc : flush_tls(c);
    }
    if (!c->wire.len) {
        struct tr_buf t = c->wire;   /* nothing waiting: take the bytes without a copy */
        c->wire = c->io.out;
        c->io.out = t;
    } else {
        int rc = tr_buf_append(&c->wire, c->io.out.data, c->io.out.len);
        tr_buf_reset(&c->io.out);
        if (rc) return rc;
    }
    return kick(c);
}

/* Let wslay serialise whatever it has queued, then pass it on. Our send
 * callback never refuses bytes, so afterwards wslay holds nothing and
 * wire_pos is the wire offset just past everything queued so far. */
static int pump(struct conn *c) {
    int r = wslay_event_send(c->ws);
    int rc = flush_plain(c);
    if (r != 0) return TR_ERUNTIME;
    return rc;
}

/* ------------------------------------------------------------ the linger */

/* Append an entry for a message just framed; 0 or -ENOMEM. */
static int kept_push(struct out *o, const struct tr_out_msg *m) {
    struct kept e = {.token = m->token, .st = K_SENT};
    return tr_ring_push(&o->k, &e);
}

static void arm(struct out *o);

static void kept_pop_front(struct out *o) {
    tr_ring_pop(&o->k, NULL);
    o->kbase++;
    if (o->k_rel) o->k_rel--;
}

/* Answer the host for what may be answered: ack and retire entries whose
 * linger is over (and drop failed ones) from the front, release the newly
 * confirmed. The host only queues answers (conn.h): nothing is sent, and
 * no entry pushed, while this runs. */
static void settle(struct out *o) {
    uint64_t now = uv_now(tr_offramp_loop(o->host));
    while (tr_ring_len(&o->k)) {
        struct kept *e = kat(o, 0);
        if (e->st == K_DEAD) {
            kept_pop_front(o);
            continue;
        }
        if (e->st != K_LINGER || e->at_ms + o->linger_ms > now) break;
        uint64_t token = e->token;
        kept_pop_front(o);
        answer(o, token, true);
    }
    if (o->k_rel > tr_ring_len(&o->k)) o->k_rel = tr_ring_len(&o->k);
    /* pongs confirm a prefix: the released ones are one too; the host gets
     * the run in one call (one insight upstream, not one per message) */
    size_t n = 0;
    while (o->k_rel < tr_ring_len(&o->k)) {
        struct kept *e = kat(o, o->k_rel);
        if (e->st != K_LINGER) break;
        o->k_rel++;
        if (e->released) continue;
        e->released = true;
        if (n == o->rel_cap && tr_grow((void **)&o->rel, &o->rel_cap, n + 1, sizeof *o->rel) != 0) {
            /* no memory for a longer run: what is collected goes now, this one alone */
            tr_offramp_release(o->host, o->rel, n);
            tr_offramp_release(o->host, &e->token, 1);
            n = 0;
            continue;
        }
        o->rel[n++] = e->token;
    }
    tr_offramp_release(o->host, o->rel, n);
    arm(o);
}

static void on_linger(uv_timer_t *t);

/* Wake up when the oldest confirmed entry's linger ends, so its ack goes
 * out then and not only at the next tick. */
static void arm(struct out *o) {
    if (o->closing) return;   /* the handle is closing; close acks what lingers */
    if (!tr_ring_len(&o->k) || kat(o, 0)->st != K_LINGER) {
        uv_timer_stop(&o->linger);
        return;
    }
    uint64_t due = kat(o, 0)->at_ms + o->linger_ms, now = uv_now(tr_offramp_loop(o->host));
    if (uv_is_active((uv_handle_t *)&o->linger) && o->linger_due == due) return;
    o->linger_due = due;
    uv_timer_start(&o->linger, on_linger, due > now ? due - now : 0, 0);
}

static void on_linger(uv_timer_t *t) {
    struct out *o = t->data;
    settle(o);
}

/* dial: the peer confirmed the message with this dial token. Answered
 * from on_acked_all, once for the whole run the confirmation covers. */
static void on_kept_acked(void *arg, uint64_t token) {
    struct out *o = arg;
    uint64_t i = token - o->kbase;
    if (token < o->kbase || i >= tr_ring_len(&o->k)) return;   /* cannot happen: tokens are ours */
    struct kept *e = kat(o, (size_t)i);
    e->st = K_LINGER;
    e->at_ms = uv_now(tr_offramp_loop(o->host));
}

/* dial: the end of a run of on_kept_acked calls */
static void on_acked_all(void *arg) { settle(arg); }

/* Drop the dead tail: the entries failed with the connection. */
static void kept_trim(struct out *o) {
    while (tr_ring_len(&o->k) && kat(o, tr_ring_len(&o->k) - 1)->st == K_DEAD) tr_ring_pop_back(&o->k, NULL);
    if (o->k_rel > tr_ring_len(&o->k)) o->k_rel = tr_ring_len(&o->k);
}

/* dial: the message with this dial token was still unconfirmed when the
 * connection ended: the host replays it. */
static void on_kept_failed(void *arg, uint64_t token) {
    struct out *o = arg;
    uint64_t i = token - o->kbase;
    if (token < o->kbase || i >= tr_ring_len(&o->k)) return;
    struct kept *e = kat(o, (size_t)i);
    if (e->st != K_SENT) return;   /* answered or about to be: once only */
    e->st = K_DEAD;
    answer(o, e->token, false);
    kept_trim(o);
}

/* The connection ended (dial fails the unconfirmed ones right after).
 * Lingering entries: the link dropped inside the linger, so the receiver
 * may not have them after all: failed, the host replays them. Unless we
 * are the ones closing: then the receiver did not drop the link, and its
 * confirmation stands. */
static void kept_down(struct out *o) {
    settle(o);   /* what is over its linger is acked first */
    for (size_t i = 0; i < tr_ring_len(&o->k); i++) {
        struct kept *e = kat(o, i);
        if (e->st != K_LINGER) continue;
        if (o->closing) {
            e->at_ms = 0;   /* over: settle acks it */
        } else {
            e->st = K_DEAD;
            answer(o, e->token, false);
        }
    }
    kept_trim(o);
    settle(o);
}

/* ----------------------------------------------------- wslay callbacks */

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *user) {
    (void)flags;
    return tr_ws_io_recv(ctx, &((struct conn *)user)->io, buf, len, false);
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *user) {
    (void)flags;
    return tr_ws_io_send(ctx, &((struct conn *)user)->io, data, len);
}

/* Masking keys come from RAND_bytes a pool at a time: one call per frame
 * costs a system call (the DRBG's fork check), a pool per 1024 frames. */
static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user) {
    (void)ctx;
    struct conn *c = user;
    if (len > sizeof c->mask) return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
    if (c->mask_pos + len > sizeof c->mask) {
        if (RAND_bytes(c->mask, (int)sizeof c->mask) != 1) return -1;
        c->mask_pos = 0;
    }
    memcpy(buf, c->mask + c->mask_pos, len);
    /* used bytes are wiped: a key is never handed out twice */
    memset(c->mask + c->mask_pos, 0, len);
    c->mask_pos += len;
    return 0;
}

/* Only notes a matching pong, and (linked) copies a response into the
 * link's inbox: the host is not called from inside wslay. */
static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user) {
    (void)ctx;
    struct conn *c = user;
    uint64_t n;
    if (c->o->ack_hop && arg->opcode == WSLAY_PONG &&
        tr_hop_ack_decode(arg->msg, arg->msg_length, &n)) {
        if (n > c->hop_seen) c->hop_seen = n;
        return;
    }
    if (c->o->linked && (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME)) {
        if (tr_ws_link_received(&c->o->link, arg->msg, arg->msg_length,
                                arg->opcode == WSLAY_BINARY_FRAME) != 0)
            c->inbox_full = true;   /* its pairing is lost: the connection ends */
        return;
    }
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
    uint64_t before = wire_pos(c);
    if (wslay_event_queue_msg(c->ws, &m) != 0) return TR_ERUNTIME;
    size_t slot = (c->ping_head + c->ping_len) % MAX_PINGS;
    c->pings[slot].seq = c->ping_seq;
    c->pings[slot].end = before;
    c->ping_len++;
    c->ping_wanted = false;
    return pump(c);
}

/* After a message: ping at once when the newest ping is PING_EVERY bytes
 * behind, else at the end of this loop turn (on_prepare; with MAX_PINGS in
 * flight, after the next pong). The bytes so far and that ping are written
 * at once: a turn that sends many messages has the first ones confirmed
 * while it still sends (their pong is read as soon as the turn ends), not
 * one round trip after it. */
static int maybe_ping(struct conn *c) {
    uint64_t newest = c->ping_len ? c->pings[(c->ping_head + c->ping_len - 1) % MAX_PINGS].end : 0;
    if (wire_pos(c) - newest >= PING_EVERY) {
        int rc = send_ping(c);
        return rc ? rc : write_out(c);
    }
    c->ping_wanted = true;
    uv_prepare_start(&c->o->flush, on_prepare);
    return 0;
}

/* After a read: a matching pong confirms its ping and every older one. */
static int after_pong(struct conn *c) {
    if (!c->pong_seq) return 0;
    while (c->ping_len && c->pings[c->ping_head].seq <= c->pong_seq) {
        tr_dial_confirm(c->o->dial, c->pings[c->ping_head].end);
        c->ping_head = (c->ping_head + 1) % MAX_PINGS;
        c->ping_len--;
    }
    c->pong_seq = 0;
    tr_dial_poll_acks(c->o->dial);
    if (c->st == C_OPEN && c->ping_wanted && !c->o->closing) return send_ping(c);
    return 0;
}

/* After a read, hop mode: the peer's pipeline acknowledged its first
 * hop_seen messages; confirm the stream up to the last of them. A count
 * past what was sent is a broken peer. */
static int after_hop(struct conn *c) {
    if (c->hop_seen <= c->hop_base) return 0;
    if (c->hop_seen - c->hop_base > tr_ring_len(&c->hop_ends)) return TR_EPARSE;
    uint64_t end = 0;
    while (c->hop_base < c->hop_seen) {
        tr_ring_pop(&c->hop_ends, &end);
        c->hop_base++;
    }
    tr_dial_confirm(c->o->dial, end);
    tr_dial_poll_acks(c->o->dial);
    return 0;
}

/* ----------------------------------------------------------------- input */

static void open_ws(struct conn *c) {
    if (wslay_event_context_client_init(&c->ws, &ws_callbacks, c) != 0) {
        c->ws = NULL;
        conn_end(c, "out of memory");
        return;
    }
    /* Data from the server is not wanted unless linked: do not buffer it
     * (control frames are still assembled and answered by wslay). Linked:
     * responses are assembled, up to a bound (larger: close 1009). */
    if (c->o->linked) wslay_event_config_set_max_recv_msg_length(c->ws, TR_WS_LINK_MAX_MSG);
    else wslay_event_config_set_no_buffering(c->ws, 1);
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
    if (tr_ws_request_build_proto(&c->io.out, &c->o->url, c->key,
                                  c->o->ack_hop ? TR_HOP_PROTOCOL : NULL) != 0 ||
        flush_plain(c) != 0)
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
        if (tr_ws_response_check_proto(&c->head, c->key, c->o->ack_hop ? TR_HOP_PROTOCOL : NULL,
                                       &d) != 0) {
            if (c->o->ack_hop && strstr(d.msg, TR_HOP_PROTOCOL))
                snprintf(d.msg, sizeof d.msg,
                         "the peer does not acknowledge hops (ack_mode hop needs a tremor-c ws "
                         "onramp with hop_ack: true)");
            conn_end(c, d.msg);
            return;
        }
        open_ws(c);
        if (c->st != C_OPEN) return;
        p += used;
        n -= used;
    }
    if (c->st != C_OPEN || !n) return;
    c->io.in = (const uint8_t *)p;
    c->io.in_len = n;
    c->io.slice = SIZE_MAX;   /* a client reads only pongs and closes: no need to slice */
    int r = wslay_event_recv(c->ws);
    c->io.in_len = 0;
    if (c->st != C_OPEN) return;
    int w = pump(c);
    if (r != 0 || w != 0) {
        conn_end(c, r != 0 ? "protocol error" : "write failed");
        return;
    }
    if (c->inbox_full) {
        conn_end(c, "too many responses in one read");
        return;
    }
    /* Our close reply (queued by wslay) is on its way: the connection is over. */
    if (wslay_event_get_close_received(c->ws)) {
        conn_end(c, "closed by peer");
        return;
    }
    if (c->o->ack_hop) {
        if (after_hop(c) != 0) conn_end(c, "the peer acknowledged messages never sent");
        return;
    }
    if (after_pong(c) != 0 && c->st == C_OPEN) conn_end(c, "write failed");
    /* responses out (their pipelines may send again: nothing of c is used after) */
    if (c->o->linked) tr_ws_link_deliver(&c->o->link);
}

/* tr_tls_input's plain: decrypted bytes, while the connection lasts.
 * Nothing comes before our upgrade request (the server speaks second). */
static int tls_plain(void *arg, const char *p, size_t n) {
    struct conn *c = arg;
    if (c->st == C_TLS) return TR_EPARSE;
    on_plain(c, p, n);
    return c->st == C_DOWN ? TR_ECLOSED : 0;
}

static void on_bytes(struct conn *c, const char *p, size_t n) {
    if (!c->tls) {
        on_plain(c, p, n);
        return;
    }
    struct tr_diag d;
    tr_diag_clear(&d);
    int r = tr_tls_input(c->tls, p, n, c->pbuf, sizeof c->pbuf, tls_plain, to_wire, c, &d);
    if (c->st == C_DOWN) return;
    if (r < 0) {
        conn_end(c, d.msg[0]            ? d.msg
                    : r == TR_ECLOSED   ? "closed by peer"
                    : r == TR_EPARSE    ? "data before the upgrade"
                                        : "TLS error");
        return;
    }
    if (kick(c) != 0) {
        conn_end(c, "write failed");
        return;
    }
    /* A TLS 1.3 server may still refuse our certificate: then its alert
     * ends the connection, else its upgrade answer says it kept it. */
    if (c->st == C_TLS && r == 0 && tr_tls_awaiting_verdict(c->tls)) {
        tr_tls_assume_accepted(c->tls);
        r = 1;
    }
    if (r == 1 && c->st == C_TLS) send_upgrade(c);
}

static void on_read(void *arg, const char *p, size_t n) {
    struct out *o = arg;
    if (o->c.st != C_DOWN) on_bytes(&o->c, p, n);
}

/* ------------------------------------------------------------ connecting */

static void on_up(void *arg, uv_tcp_t *tcp) {
    struct out *o = arg;
    struct conn *c = &o->c;
    uv_tcp_nodelay(tcp, 1);
    if (!o->url.tls) {
        send_upgrade(c);
        return;
    }
    struct tr_diag d;
    tr_diag_clear(&d);
    c->st = C_TLS;
    c->tls_since_ms = uv_now(tr_offramp_loop(o->host));
    if (tr_tls_create(o->tls.ctx, o->tls.domain ? o->tls.domain : o->url.host, &c->tls, &d) != 0) {
        conn_end(c, d.msg[0] ? d.msg : "cannot start TLS");
        return;
    }
    int rc = tr_tls_handshake(c->tls, &d);
    if (rc < 0 || flush_tls(c) != 0) conn_end(c, d.msg[0] ? d.msg : "TLS handshake failed");
}

/* Every connection's end (dial.h acks what the peer's TCP already has
 * before, fails the rest after): tell the host the sink is down. */
static void on_down(void *arg, bool connected, const char *why) {
    (void)connected;
    struct out *o = arg;
    bool was_open = o->c.st == C_OPEN;
    conn_reset(&o->c);
    /* what waits for a response gets none: before kept_down fails lingering ones */
    if (o->linked) tr_ws_link_down(&o->link, why);
    if (o->ack_pong) kept_down(o);
    if (o->closing) return;
    if (was_open)
        TR_WARN(MOD, "Connection to %s lost (%s)", o->url_text, why);
    else
        TR_WARN(MOD, "Failed to connect to %s, retrying in %.1fs (%s)", o->url_text,
                (double)tr_dial_retry_ms(o->dial) / 1000.0, why);
    report_down(o);
}

static const struct tr_dial_cbs dial_cbs = {
    .up = on_up,
    .read = on_read,
    .down = on_down,
};

/* linked, tcp mode: answers go through the link */
static void on_linked_acked(void *arg, uint64_t token) { answer(arg, token, true); }
static void on_linked_failed(void *arg, uint64_t token) { answer(arg, token, false); }

static const struct tr_dial_cbs dial_cbs_linked = {
    .up = on_up,
    .read = on_read,
    .down = on_down,
    .acked = on_linked_acked,
    .failed = on_linked_failed,
};

/* pong mode: confirmations come here, for the linger */
static const struct tr_dial_cbs dial_cbs_pong = {
    .up = on_up,
    .read = on_read,
    .down = on_down,
    .acked = on_kept_acked,
    .acked_all = on_acked_all,
    .failed = on_kept_failed,
};

static void conn_end(struct conn *c, const char *why) { tr_dial_drop(c->o->dial, why); }

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
    if (o->linked) {
        char msg[TR_WS_URL_MAX + 64];
        snprintf(msg, sizeof msg, "No connection available for %s.", o->url_text);
        tr_ws_link_refuse(&o->link, m->token, m->meta, msg);
        return;
    }
    if (m->transactional) {
        tr_offramp_fail(o->host, m->token);
        return;
    }
    if (o->dropped++ == 0)
        TR_WARN(MOD, "Not connected to %s: dropping non-transactional messages", o->url_text);
}

/* A message refused before it went out: linked, an error event and a fail;
 * else transactional ones are failed. */
static void give_up(struct out *o, const struct tr_out_msg *m, const char *why) {
    if (o->linked) tr_ws_link_refuse(&o->link, m->token, m->meta, why);
    else if (m->transactional) tr_offramp_fail(o->host, m->token);
}

static void ws_send(void *self, const struct tr_out_msg *m) {
    struct out *o = self;
    struct conn *c = &o->c;
    if (o->closing || c->st != C_OPEN) {
        refuse(o, m);
        return;
    }
    bool binary = meta_binary(o, m);
    if (!binary && !tr_utf8_valid((const char *)m->data, m->len)) {
        TR_WARN(MOD, "Message for %s is not valid UTF-8 and cannot go in a text frame", o->url_text);
        give_up(o, m, "Invalid websocket message: Invalid utf8 data for text message");
        return;
    }
    size_t backlog = tr_dial_backlog(o->dial) + c->wire.len;
    if (backlog > MAX_BACKLOG || m->len > MAX_BACKLOG - backlog) {
        if (!o->full_logged)
            TR_WARN(MOD, "More than %zu MiB waiting to be written to %s: refusing messages",
                    MAX_BACKLOG >> 20, o->url_text);
        o->full_logged = true;
        give_up(o, m, "Error sending event to server: too much waiting to be written");
        return;
    }
    o->full_logged = false;
    struct wslay_event_msg wm = {
        .opcode = binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME,
        .msg = (const uint8_t *)m->data,
        .msg_length = m->len,
    };
    /* linked: it waits for its response (refused when too many wait) */
    if (o->linked && tr_ws_link_sent(&o->link, m->token, m->meta) != 0) {
        give_up(o, m, "Error sending event to server: too many messages waiting for a response");
        return;
    }
    if (wslay_event_queue_msg(c->ws, &wm) != 0) {
        if (o->linked) tr_ws_link_unsend(&o->link);   /* nothing went out: no answer to wait for */
        give_up(o, m, "Error sending event to server: the frame could not be queued");
        return;
    }
    int rc = pump(c);
    /* hop mode counts every data message, as the receiver does */
    if (rc == 0 && o->ack_hop) {
        uint64_t end = wire_pos(c);
        rc = tr_ring_push(&c->hop_ends, &end);
    }
    if (m->transactional || o->linked) {
        int t;
        if (!o->ack_pong) {
            t = tr_dial_track(o->dial, m->token, wire_pos(&o->c));
        } else if ((t = kept_push(o, m)) == 0) {
            t = tr_dial_track(o->dial, o->kbase + tr_ring_len(&o->k) - 1, wire_pos(&o->c));
            if (t) tr_ring_pop_back(&o->k, NULL);
        }
        /* The frame is on its way but cannot be tracked: fail it now; the
         * replay makes it a duplicate, never a loss. */
        if (t) answer(o, m->token, false);
    }
    if (rc == 0 && o->ack_pong) rc = maybe_ping(c);
    if (rc != 0) {
        conn_end(c, "write failed");
        return;
    }
    tr_dial_poll_acks(o->dial);
}

static void ws_tick(void *self, uint64_t now_ns) {
    (void)now_ns;
    struct out *o = self;
    struct conn *c = &o->c;
    if (o->ack_pong) settle(o);
    /* a server that takes the connection but never finishes the handshake */
    if (c->st == C_TLS &&
        uv_now(tr_offramp_loop(o->host)) - c->tls_since_ms >= o->tls.hs_timeout_ms) {
        char why[96];
        snprintf(why, sizeof why, "TLS handshake not done after %llu ms",
                 (unsigned long long)o->tls.hs_timeout_ms);
        conn_end(c, why);
        return;
    }
    if (c->st != C_OPEN) return;
    tr_dial_poll_acks(o->dial);
    if (c->st == C_OPEN && c->ping_wanted && !o->closing && send_ping(c) != 0)
        conn_end(c, "write failed");
}

static bool ws_is_active(void *self) {
    struct out *o = self;
    return !o->closing && o->c.st == C_OPEN;
}

static int ws_start(void *self) {
    struct out *o = self;
    if (o->started || o->closing) return 0;
    o->started = true;
    tr_dial_start(o->dial);
    return 0;
}

static void ws_close(void *self, void (*done)(void *arg), void *arg) {
    struct out *o = self;
    if (o->closing) return;
    o->closing = true;
    o->done = done;
    o->done_arg = arg;
    if (o->ack_report) tr_dial_print_report(o->dial, o->id);
    struct conn *c = &o->c;
    unsigned linger = 0;
    /* Best effort: say goodbye and give the peer a moment to answer; what
     * it acknowledges meanwhile is still acked. */
    if (c->st == C_OPEN && wslay_event_queue_close(c->ws, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0) == 0 &&
        pump(c) == 0 && write_out(c) == 0)
        linger = CLOSE_WAIT_MS;
    uv_prepare_stop(&o->flush);
    uv_close((uv_handle_t *)&o->flush, on_handle_close);
    uv_timer_stop(&o->linger);
    uv_close((uv_handle_t *)&o->linger, on_handle_close);
    tr_dial_close(o->dial, linger, on_dial_done, o);
}

struct ws_cfg {
    const char *url, *ca_file;
    const tr_value *tls;
    int mode;   /* index into ack_modes */
    bool binary, verify, ack_report;
    uint64_t linger;
};

static const char *const ack_modes[] = {"pong", "tcp", "hop", NULL};

const struct tr_cmap_entry tr_ws_client_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR, "url", NULL, TR_CMAP_REQUIRED, offsetof(struct ws_cfg, url),
                 "ws:// or wss:// URL to connect to")},
    {TR_CMAP_KEY(TR_CMAP_BOOL, "binary", "false", 0, offsetof(struct ws_cfg, binary),
                 "send binary messages instead of text")},
    {TR_CMAP_KEY(TR_CMAP_BOOL, "tls_verify", "true", 0, offsetof(struct ws_cfg, verify),
                 "check the wss:// server's certificate and name")},
    {TR_CMAP_KEY(TR_CMAP_STR, "ca_file", NULL, 0, offsetof(struct ws_cfg, ca_file),
                 "wss://: PEM file of the CAs to trust instead of the system's")},
    {TR_CMAP_KEY(TR_CMAP_VALUE, "tls", NULL, 0, offsetof(struct ws_cfg, tls),
                 "wss://: {cafile, domain, cert, key} as the tcp offramp's: cert and key are the "
                 "client certificate for servers that ask for one")},
    /* pong: the peer's WebSocket layer read it, not only its kernel */
    {TR_CMAP_KEY(TR_CMAP_ENUM, "ack_mode", "pong", 0, offsetof(struct ws_cfg, mode),
                 "when a message counts as delivered: answered ping (pong), peer TCP ack (tcp), "
                 "or the receiving tremor-c's pipeline acknowledged it (hop)"),
     .choices = ack_modes},
    {TR_CMAP_KEY(TR_CMAP_BOOL, "ack_report", "false", 0, offsetof(struct ws_cfg, ack_report),
                 "print the send -> confirmation latency report on close")},
    {TR_CMAP_KEY(TR_CMAP_U64, "confirm_linger_ms", "50", TR_CMAP_RANGE, offsetof(struct ws_cfg, linger),
                 "pong mode: a confirmed message is still replayed if the link drops this soon after"),
     .lo = -INFINITY, .hi = LINGER_MAX_MS},
    {0},
};

static int ws_create(const struct tr_conn_spec *spec, struct tr_offramp_host *host, void **self,
                     struct tr_diag *d) {
    *self = NULL;
    struct ws_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_ws_client_cmap, &c, d);
    if (rc) return rc;
    const char *url = c.url, *mode = ack_modes[c.mode];
    bool binary = c.binary, verify = c.verify, ack_report = c.ack_report;
    uint64_t linger = c.linger;
    if (spec->linked && strcmp(mode, "hop") == 0)
        return tr_conn_cfg_fail(spec, "ack_mode", d,
                                "hop cannot be used with linked: true (a hop receiver sends no answers)");

    struct out *o = tr_calloc(1, sizeof *o);
    if (!o) return -ENOMEM;
    tr_ring_init(&o->k, sizeof(struct kept));
    tr_ring_init(&o->c.hop_ends, sizeof(uint64_t));
    tr_ws_link_init(&o->link, host, tr_codec_find("json"), "ws");   /* set again below */
    o->c.o = o;
    tr_buf_init(&o->c.io.out);
    tr_buf_init(&o->c.wire);
    o->c.mask_pos = sizeof o->c.mask;   /* empty: filled on the first frame */
    struct tr_diag ud;
    tr_diag_clear(&ud);
    rc = tr_ws_url_parse(url, &o->url, &ud);
    if (rc == TR_EPARSE) {
        rc = tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col, "%s '%s': config.url: %s",
                         spec->type, spec->id, ud.msg);
        goto fail;
    }
    if (rc) goto fail;
    if (!o->url.tls && c.tls && c.tls->type != TR_NULL &&
        !(c.tls->type == TR_BOOL && !c.tls->as.b)) {
        rc = tr_conn_cfg_fail(spec, "tls", d, "needs a wss:// url");
        goto fail;
    }
    if (o->url.tls) {
        struct tr_tls_opts to = {.flags = verify ? 0 : TR_TLS_NO_VERIFY, .ca_file = c.ca_file};
        rc = tr_tls_client_config(spec, &to, true, &o->tls, d);
        if (rc) goto fail;
    }
    o->url_text = tr_strdup(url);
    o->id = tr_strdup(spec->id ? spec->id : "ws");
    if (!o->url_text || !o->id) {
        rc = -ENOMEM;
        goto fail;
    }
    o->host = host;
    o->binary = binary;
    o->ack_pong = strcmp(mode, "pong") == 0;
    o->ack_hop = strcmp(mode, "hop") == 0;
    o->ack_report = ack_report;
    o->linger_ms = linger;
    o->linked = spec->linked;
    const struct tr_codec *codec = tr_codec_find(spec->codec ? spec->codec : "json");
    tr_ws_link_init(&o->link, host, codec ? codec : tr_codec_find("json"), o->url_text);
    rc = tr_dial_create(tr_offramp_loop(host), host, o->url.host, o->url.port,
                        o->ack_pong || o->ack_hop ? TR_DIAL_ACK_CONFIRMED : 0,
                        o->ack_pong ? &dial_cbs_pong : o->linked ? &dial_cbs_linked : &dial_cbs, o,
                        &o->dial);
    if (rc) goto fail;
    uv_prepare_init(tr_offramp_loop(host), &o->flush);
    uv_unref((uv_handle_t *)&o->flush);   /* it only follows the loop's other work */
    o->flush.data = o;
    uv_timer_init(tr_offramp_loop(host), &o->linger);
    o->linger.data = o;
    o->parts_open = 3;
    *self = o;
    return 0;
fail:
    free_out(o);
    return rc;
}

const struct tr_offramp_ops tr_ws_offramp = {
    .type = "ws",
    .bytes_only = true,
    .linked = true,
    .create = ws_create,
    .start = ws_start,
    .send = ws_send,
    .tick = ws_tick,
    .is_active = ws_is_active,
    .close = ws_close,
};
