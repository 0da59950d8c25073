/* tcp_client.c - the `tcp` offramp: a TCP client writing each encoded event
 * (after postprocessors, e.g. [lines]) to host:port (Tremor 0.11 keys: host,
 * port, ttl, is_no_delay, tls; ours: ack_report). Unlike 0.11 it reconnects
 * every second, breaker triggered while away (dial.h). Sends of one loop
 * turn are coalesced into one write just before the loop waits (a prepare
 * handle). A transactional message is acked once the peer's TCP
 * acknowledged its last byte. Not a receiver: bytes from the peer are read
 * only to see it leave (and, with TLS, to run the protocol).
 *
 * TLS (`tls: true` or {cafile, domain, cert, key}; connectors/tls.h): the
 * breaker stays triggered until the handshake is done. A turn's plaintext
 * is encrypted at once at the flush, so its messages wait there (`held`)
 * until the ciphertext's end offset is known; they are then tracked at that
 * offset: acked once the peer's TCP acknowledged the last record carrying
 * them, which is the peer holding every byte needed to decrypt them.
 *
 *   DOWN -> (TCP up) -> [HANDSHAKE -> (done, or timeout/refusal: DOWN)] -> UP
 *
 * Invariant: every transactional send() is answered exactly once, in stream
 * order; on connection loss what the peer had is acked, the rest failed
 * (held messages after the tracked ones).
 */
#include <errno.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "config/cmap.h"
#include "connectors/conn.h"
#include "connectors/dial.h"
#include "connectors/tls.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/ring.h"

#define MOD "tcp"
#define FLUSH_AT ((size_t)256 << 10)      /* write at once when a batch reaches this */
#define HIGH_WATER ((size_t)16 << 20)     /* unwritten bytes: trigger the breaker */
#define LOW_WATER ((size_t)4 << 20)       /* ...restore below this */
#define MAX_BACKLOG ((size_t)64 << 20)    /* refuse messages beyond this */
#define PBUF_SIZE 16384                   /* decrypted bytes from the peer (discarded) */
#define GRACE_MIN_MS 250                  /* least wait for a server's verdict on our certificate */

enum reported { REP_NONE, REP_UP, REP_DOWN };

struct out {
    struct tr_offramp_host *host;
    struct tr_dial *dial;
    char *id;
    char *peer;              /* host:port, for messages */
    int ttl;
    bool nodelay;
    bool ack_report;         /* print the ack latency report on close */
    struct tr_buf batch;     /* bytes of this turn, not yet handed to the socket */
    uv_prepare_t flush;
    int parts_open;          /* the flush and handshake handles and the dial, until closed */
    struct tr_tls_client tls_cfg;   /* tls_cfg.ctx NULL: plain TCP */
    struct tr_tls *tls;      /* this connection's TLS, NULL between connections */
    uv_timer_t hs_timer;     /* the handshake's deadline, then the verdict's grace */
    uint64_t up_at;          /* TLS: when TCP came up (loop ms) */
    bool in_grace;           /* TLS: hs_timer is the grace for the server's verdict */
    struct tr_ring held;     /* TLS: tokens in batch, tracked once it is encrypted */
    char *pbuf;              /* TLS: PBUF_SIZE bytes to decrypt into */
    enum reported reported;
    bool busy;               /* too much unwritten: breaker triggered */
    bool started, closing;
    uint64_t dropped;        /* non-transactional messages dropped */
    uint64_t refused;        /* transactional messages failed while down */
    bool full_logged;
    void (*done)(void *);
    void *done_arg;
};

/* ------------------------------------------------------------ lifecycle */

static void free_out(struct out *o) {
    tr_tls_destroy(o->tls);
    tr_tls_client_fini(&o->tls_cfg);
    tr_ring_fini(&o->held);
    tr_free(o->pbuf);
    tr_buf_fini(&o->batch);
    tr_free(o->peer);
    tr_free(o->id);
    tr_free(o);
}

static void part_closed(struct out *o) {
    if (--o->parts_open) return;
    void (*done)(void *) = o->done;
    void *arg = o->done_arg;
    free_out(o);
    if (done) done(arg);
}

static void on_handle_close(uv_handle_t *h) { part_closed(h->data); }
static void on_dial_done(void *arg) { part_closed(arg); }

/* Connected, and with TLS the handshake is done: bytes can go out. */
static bool ready(const struct out *o) {
    return tr_dial_connected(o->dial) && (!o->tls_cfg.ctx || (o->tls && tr_tls_established(o->tls)));
}

/* The breaker follows one bit: can we take events (ready, not busy)? */
static void report(struct out *o) {
    bool up = ready(o) && !o->busy && !o->closing;
    if (o->closing || (up && o->reported == REP_UP) || (!up && o->reported == REP_DOWN)) return;
    o->reported = up ? REP_UP : REP_DOWN;
    if (up) tr_offramp_restore(o->host);
    else tr_offramp_trigger(o->host);
}

/* ------------------------------------------------------------- output */

static size_t unwritten(struct out *o) { return o->batch.len + tr_dial_backlog(o->dial); }

static void on_written(void *arg) {
    struct out *o = arg;
    if (o->busy && unwritten(o) < LOW_WATER) {
        o->busy = false;
        report(o);
    }
}

/* Fail the held messages: after what the dial failed, so in stream order. */
static void fail_held(struct out *o) {
    uint64_t token;
    while (tr_ring_pop(&o->held, &token)) tr_offramp_fail(o->host, token);
}

/* tr_tls_flush's wire: ciphertext straight to the socket. */
static int to_wire(void *arg, char *p, size_t n) {
    struct out *o = arg;
    return tr_dial_write(o->dial, p, n);
}

/* TLS: encrypt the batch, write the records, track what was held at their
 * end. 0, or a negative code (the connection is to be dropped). */
static int flush_tls(struct out *o) {
    int rc = o->batch.len ? tr_tls_write(o->tls, o->batch.data, o->batch.len) : 0;
    tr_buf_reset(&o->batch);
    if (rc == 0) rc = tr_tls_flush(o->tls, to_wire, o);
    if (rc) return rc;
    uint64_t end = tr_dial_queued(o->dial), token;
    while (tr_ring_pop(&o->held, &token))
        /* not tracked: failed now, a replay makes a duplicate, never a loss */
        if (tr_dial_track(o->dial, token, end) != 0) tr_offramp_fail(o->host, token);
    return 0;
}

/* Hand this turn's batch to the socket. */
static void flush(struct out *o) {
    uv_prepare_stop(&o->flush);
    if (!ready(o)) {
        /* the connection ended this turn: the dial failed what it tracked */
        fail_held(o);
        return;
    }
    if (o->tls) {
        int rc = flush_tls(o);
        if (rc == 0) {
            tr_dial_poll_acks(o->dial);
            return;
        }
        tr_dial_drop(o->dial, rc == -ENOMEM ? "out of memory" : rc == TR_ERUNTIME ? "TLS error"
                                                                                : uv_strerror(rc));
        fail_held(o);   /* after what the drop failed */
        return;
    }
    if (!o->batch.len) return;
    size_t len;
    char *data = tr_buf_steal(&o->batch, &len);
    int rc = data ? tr_dial_write(o->dial, data, len) : -ENOMEM;
    if (rc < 0) {
        tr_dial_drop(o->dial, rc == -ENOMEM ? "out of memory" : uv_strerror(rc));
        return;
    }
    /* the next batch will likely be as large: one allocation, not a dozen
     * (a failure here only means the next append grows the buffer itself) */
    (void)tr_buf_reserve(&o->batch, len < FLUSH_AT ? len : FLUSH_AT);
    tr_dial_poll_acks(o->dial);
}

static void on_prepare(uv_prepare_t *p) { flush(p->data); }

/* ------------------------------------------------------------ connection */

static void set_ttl(struct out *o, uv_tcp_t *tcp, int family) {
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)tcp, &fd) != 0) return;
    int ttl = o->ttl;
    int r = family == AF_INET6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof ttl)
                               : setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
    if (r != 0) TR_WARN(MOD, "%s: cannot set ttl %d: %s", o->peer, ttl, strerror(errno));
}

/* The connection is ready for events (with TLS: the handshake is done). */
static void on_ready(struct out *o) {
    if (o->tls) {
        uv_timer_stop(&o->hs_timer);
        TR_INFO(MOD, "%s: connected to %s with %s (certificate verified for '%s')", o->id, o->peer,
                tr_tls_version(o->tls), o->tls_cfg.domain);
    } else {
        TR_INFO(MOD, "%s: connected to %s", o->id, o->peer);
    }
    if (o->dropped || o->refused)
        TR_WARN(MOD, "%s: while %s was away %llu transactional messages were failed and %llu "
                "others dropped", o->id, o->peer, (unsigned long long)o->refused,
                (unsigned long long)o->dropped);
    o->dropped = o->refused = 0;
    report(o);
}

static void on_hs_timeout(uv_timer_t *t) {
    struct out *o = t->data;
    if (o->tls && tr_tls_awaiting_verdict(o->tls)) {
        /* no refusal within several handshake times: it kept our certificate */
        tr_tls_assume_accepted(o->tls);
        on_ready(o);
        return;
    }
    char why[96];
    snprintf(why, sizeof why, "TLS handshake not done after %llu ms",
             (unsigned long long)o->tls_cfg.hs_timeout_ms);
    tr_dial_drop(o->dial, why);
}

static void on_up(void *arg, uv_tcp_t *tcp) {
    struct out *o = arg;
    uv_tcp_nodelay(tcp, o->nodelay);
    struct sockaddr_storage sa;
    int salen = sizeof sa;
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&sa, &salen) == 0) set_ttl(o, tcp, sa.ss_family);
    if (!o->tls_cfg.ctx) {
        on_ready(o);
        return;
    }
    /* The ClientHello goes out now; the server's answer comes to on_read. */
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_tls_create(o->tls_cfg.ctx, o->tls_cfg.domain, &o->tls, &d);
    if (rc == 0) rc = tr_tls_handshake(o->tls, &d);
    if (rc >= 0) rc = tr_tls_flush(o->tls, to_wire, o);
    if (rc < 0) {
        tr_dial_drop(o->dial, d.msg[0] ? d.msg : "cannot start TLS");
        return;
    }
    o->up_at = uv_now(tr_offramp_loop(o->host));
    o->in_grace = false;
    uv_timer_start(&o->hs_timer, on_hs_timeout, o->tls_cfg.hs_timeout_ms, 0);
}

/* Our side of the handshake is done, but a TLS 1.3 server that asked for
 * our certificate may still refuse it (tls.h). Wait for its sign for
 * three handshake times, at least GRACE_MIN_MS, within the timeout. */
static void start_grace(struct out *o) {
    o->in_grace = true;
    uint64_t took = uv_now(tr_offramp_loop(o->host)) - o->up_at, grace = 3 * took;
    if (grace < GRACE_MIN_MS) grace = GRACE_MIN_MS;
    if (grace > o->tls_cfg.hs_timeout_ms) grace = o->tls_cfg.hs_timeout_ms;
    uv_timer_start(&o->hs_timer, on_hs_timeout, grace, 0);
}

/* tr_tls_input's plain: what the server sends is not wanted. */
static int discard(void *arg, const char *p, size_t n) {
    (void)arg, (void)p, (void)n;
    return 0;
}

static void on_read(void *arg, const char *p, size_t n) {
    struct out *o = arg;
    if (!o->tls) return;   /* plain TCP: read only to see the peer leave */
    bool was = tr_tls_established(o->tls);
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_tls_input(o->tls, p, n, o->pbuf, PBUF_SIZE, discard, to_wire, o, &d);
    if (rc < 0) {
        tr_dial_drop(o->dial, d.msg[0] ? d.msg : rc == TR_ECLOSED ? "closed by peer (close_notify)"
                                                                   : rc == -ENOMEM ? "out of memory"
                                                                                   : "TLS error");
        return;
    }
    if (!was && rc == 1) on_ready(o);
    else if (rc == 0 && !o->in_grace && tr_tls_awaiting_verdict(o->tls)) start_grace(o);
}

static void on_down(void *arg, bool connected, const char *why) {
    struct out *o = arg;
    /* a connection is only up for us once its handshake is done */
    if (o->tls_cfg.ctx && connected) connected = o->tls && tr_tls_established(o->tls);
    tr_tls_destroy(o->tls);
    o->tls = NULL;
    uv_timer_stop(&o->hs_timer);
    /* unsent bytes of the lost connection: their messages are failed next
     * (held ones at the next flush, after the dial's) */
    tr_buf_reset(&o->batch);
    if (tr_ring_len(&o->held) && !o->closing) uv_prepare_start(&o->flush, on_prepare);
    if (o->closing) return;
    if (connected) TR_WARN(MOD, "%s: connection to %s lost (%s)", o->id, o->peer, why);
    else TR_WARN(MOD, "%s: cannot connect to %s (%s), retrying in %.1fs", o->id, o->peer, why,
                 (double)tr_dial_retry_ms(o->dial) / 1000.0);
    report(o);
}

static const struct tr_dial_cbs dial_cbs = {
    .up = on_up,
    .read = on_read,
    .written = on_written,
    .down = on_down,
};

/* ------------------------------------------------------------------ ops */

static void refuse(struct out *o, const struct tr_out_msg *m, const char *why) {
    if (m->transactional) {
        o->refused++;
        tr_offramp_fail(o->host, m->token);
        return;
    }
    if (o->dropped++ == 0) TR_WARN(MOD, "%s: %s: dropping non-transactional messages", o->id, why);
}

static void tcp_send(void *self, const struct tr_out_msg *m) {
    struct out *o = self;
    if (o->closing || !ready(o)) {
        refuse(o, m, "not connected");
        return;
    }
    size_t backlog = unwritten(o);
    if (backlog > MAX_BACKLOG || m->len > MAX_BACKLOG - backlog) {
        if (!o->full_logged)
            TR_WARN(MOD, "%s: more than %zu MiB waiting to be written to %s: refusing messages", o->id,
                    MAX_BACKLOG >> 20, o->peer);
        o->full_logged = true;
        refuse(o, m, "peer not keeping up");
        return;
    }
    o->full_logged = false;
    if (tr_buf_append(&o->batch, m->data, m->len) != 0) {
        refuse(o, m, "out of memory");
        return;
    }
    /* TLS: the ciphertext's end is known once the batch is encrypted */
    int t = !m->transactional ? 0
            : o->tls          ? tr_ring_push(&o->held, &m->token)
                              : tr_dial_track(o->dial, m->token, tr_dial_queued(o->dial) + o->batch.len);
    /* the bytes go out but cannot be tracked: fail now; a replay makes a
     * duplicate, never a loss */
    if (t != 0) tr_offramp_fail(o->host, m->token);
    if (o->batch.len >= FLUSH_AT) flush(o);
    else uv_prepare_start(&o->flush, on_prepare);
    if (ready(o) && !o->busy && unwritten(o) > HIGH_WATER) {
        o->busy = true;
        report(o);
    }
}

static void tcp_tick(void *self, uint64_t now_ns) {
    (void)now_ns;
    struct out *o = self;
    tr_dial_poll_acks(o->dial);
}

static bool tcp_is_active(void *self) {
    struct out *o = self;
    return !o->closing && tr_dial_connected(o->dial) && !o->busy;
}

static int tcp_start(void *self) {
    struct out *o = self;
    if (o->started || o->closing) return 0;
    o->started = true;
    tr_dial_start(o->dial);
    return 0;
}

static void tcp_close(void *self, void (*done)(void *arg), void *arg) {
    struct out *o = self;
    if (o->closing) return;
    o->done = done;
    o->done_arg = arg;
    /* what this turn queued still goes out; what the peer acknowledged by
     * now is acked, the rest failed (the runtime drained before closing) */
    flush(o);
    /* best effort: the connection is dropped at once, its last write may
     * not go out */
    if (o->tls && ready(o)) {
        tr_tls_close_notify(o->tls);
        (void)tr_tls_flush(o->tls, to_wire, o);
    }
    if (o->ack_report) tr_dial_print_report(o->dial, o->id);
    o->closing = true;
    uv_close((uv_handle_t *)&o->flush, on_handle_close);
    uv_close((uv_handle_t *)&o->hs_timer, on_handle_close);
    tr_dial_close(o->dial, 0, on_dial_done, o);
    fail_held(o);   /* none are left by flush; kept for the invariant */
}

struct tcp_cfg {
    const char *host;
    uint64_t port, ttl;
    bool nodelay, ack_report;
    const tr_value *tls;
};

const struct tr_cmap_entry tr_tcp_client_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR, "host", "127.0.0.1", 0, offsetof(struct tcp_cfg, host),
     "host name or address to connect to")},
    {TR_CMAP_KEY(TR_CMAP_U64, "port", NULL, TR_CMAP_REQUIRED | TR_CMAP_RANGE,
     offsetof(struct tcp_cfg, port), "TCP port to connect to"), .lo = 1, .hi = 65535},
    {TR_CMAP_KEY(TR_CMAP_U64, "ttl", "64", TR_CMAP_RANGE, offsetof(struct tcp_cfg, ttl),
     "IP time to live of the packets sent"), .lo = 1, .hi = 255},
    {TR_CMAP_KEY(TR_CMAP_BOOL, "is_no_delay", "true", 0, offsetof(struct tcp_cfg, nodelay),
     "send small writes at once (TCP_NODELAY)")},
    {TR_CMAP_KEY(TR_CMAP_BOOL, "ack_report", "false", 0, offsetof(struct tcp_cfg, ack_report),
     "print the ack latency report on close")},
    {TR_CMAP_KEY(TR_CMAP_VALUE, "tls", NULL, 0, offsetof(struct tcp_cfg, tls),
     "TLS (default false): true (system CAs, host name checked), or {cafile, domain}; 0.12's cert, key; "
     "ours min_version, handshake_timeout_ms")},
    {0},
};

static int tcp_create(const struct tr_conn_spec *spec, struct tr_offramp_host *host, void **self,
                      struct tr_diag *d) {
    *self = NULL;
    struct tcp_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_tcp_client_cmap, &c, d);
    if (rc) return rc;
    const char *hostname = c.host;
    uint64_t port = c.port, ttl = c.ttl;
    bool nodelay = c.nodelay, ack_report = c.ack_report;
    /* a DNS name is at most 253 characters */
    if (!hostname[0] || strlen(hostname) > 253)
        return tr_conn_cfg_fail(spec, "host", d, "must be a host name or address");
    struct tr_tls_client tls;
    rc = tr_tls_client_config(spec, NULL, false, &tls, d);
    if (rc) return rc;

    struct out *o = tr_calloc(1, sizeof *o);
    if (!o) {
        tr_tls_client_fini(&tls);
        return -ENOMEM;
    }
    o->tls_cfg = tls;
    tr_ring_init(&o->held, sizeof(uint64_t));
    tr_buf_init(&o->batch);
    o->id = tr_strdup(spec->id ? spec->id : MOD);
    size_t plen = strlen(hostname) + 16;
    o->peer = tr_malloc(plen);
    uv_loop_t *loop = tr_offramp_loop(host);
    if (o->tls_cfg.ctx) {
        o->pbuf = tr_malloc(PBUF_SIZE);
        /* the name the certificate must carry: domain, else the host */
        if (!o->tls_cfg.domain) o->tls_cfg.domain = tr_strdup(hostname);
    }
    if (!o->id || !o->peer || (o->tls_cfg.ctx && (!o->pbuf || !o->tls_cfg.domain)) ||
        tr_dial_create(loop, host, hostname, (uint16_t)port, 0, &dial_cbs, o, &o->dial) != 0) {
        free_out(o);
        return -ENOMEM;
    }
    snprintf(o->peer, plen, strchr(hostname, ':') ? "[%s]:%u" : "%s:%u", hostname, (unsigned)port);
    o->host = host;
    o->ttl = (int)ttl;
    o->nodelay = nodelay;
    o->ack_report = ack_report;
    uv_prepare_init(loop, &o->flush);
    uv_unref((uv_handle_t *)&o->flush);
    o->flush.data = o;
    uv_timer_init(loop, &o->hs_timer);
    o->hs_timer.data = o;
    o->parts_open = 3;
    *self = o;
    return 0;
}

const struct tr_offramp_ops tr_tcp_offramp = {
    .type = "tcp",
    .bytes_only = true,
    .create = tcp_create,
    .start = tcp_start,
    .send = tcp_send,
    .tick = tcp_tick,
    .is_active = tcp_is_active,
    .close = tcp_close,
};
