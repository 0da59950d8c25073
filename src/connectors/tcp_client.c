/* tcp_client.c - the `tcp` offramp: a TCP client writing each encoded event
 * (after postprocessors, e.g. [lines]) to host:port (Tremor 0.11 keys: host,
 * port, ttl, is_no_delay). Unlike 0.11 it reconnects every second, breaker
 * triggered while away. Sends of one loop turn are coalesced into one
 * uv_write just before the loop waits (a prepare handle). A transactional
 * message is acked once the peer's TCP acknowledged its last byte (outq.h).
 * Not a receiver: bytes from the peer are read only to see it leave.
 * Invariant: every transactional send() is answered exactly once, in stream
 * order; on connection loss what the peer had is acked, the rest failed.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "connectors/conn.h"
#include "connectors/outq.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"

#define MOD "tcp"
#define RETRY_MS 1000                     /* between connection attempts */
#define FLUSH_AT ((size_t)256 << 10)      /* write at once when a batch reaches this */
#define HIGH_WATER ((size_t)16 << 20)     /* unwritten bytes: trigger the breaker */
#define LOW_WATER ((size_t)4 << 20)       /* ...restore below this */
#define MAX_BACKLOG ((size_t)64 << 20)    /* refuse messages beyond this */
/* Ack polling while messages wait: the peer's ACK usually comes within
 * microseconds (or a delayed ACK within ~40 ms); a long back-off would hold
 * a whole window of acks, and so a WAL's in-flight window, for nothing. */
#define POLL_MIN_MS 1
#define POLL_MAX_MS 5
#define RBUF_SIZE 4096

/* Connection states; any state goes to DEAD on failure, DEAD is final (a
 * reconnect makes a new struct conn).
 *
 *   RESOLVING -> CONNECTING -> OPEN
 *                  |  ^ next address
 *                  +--+
 */
enum cstate { C_RESOLVING, C_CONNECTING, C_OPEN, C_DEAD };

struct out;

struct conn {
    struct out *o;
    enum cstate st;
    uv_getaddrinfo_t gai;
    uv_connect_t creq;
    uv_tcp_t tcp;
    struct addrinfo *ai, *ai_next;
    int last_err;
    bool resolving;          /* gai callback still to come */
    bool tcp_live;           /* tcp initialised, close callback not yet run */
    bool next_addr;          /* tcp is closing to try the next address */
    uint64_t queued;         /* bytes handed to uv_write so far */
    struct tr_buf batch;     /* bytes of this turn, not yet handed to uv_write */
    struct tr_outq pend;     /* transactional messages not yet acked */
    char rbuf[RBUF_SIZE];
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
    char *peer;              /* host:port, for messages */
    char *hostname;
    char port[8];
    int ttl;
    bool nodelay;
    uv_timer_t retry, poll;
    uv_prepare_t flush;
    int handles_open;
    bool handles_closing;
    int conns;               /* struct conn alive (freed in close callbacks) */
    struct conn *conn;       /* the current connection, NULL between attempts */
    enum reported reported;
    bool busy;               /* too much unwritten: breaker triggered */
    bool started, closing;
    uint64_t last_attempt;
    uint64_t poll_ms;
    uint64_t dropped;        /* non-transactional messages dropped */
    uint64_t refused;        /* transactional messages failed while down */
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
    if (!o->closing || o->handles_open || o->conns) return;
    void (*done)(void *) = o->done;
    void *arg = o->done_arg;
    tr_free(o->hostname);
    tr_free(o->peer);
    tr_free(o->id);
    tr_free(o);
    if (done) done(arg);
}

static void maybe_free(struct conn *c) {
    if (c->st != C_DEAD || c->resolving || c->tcp_live) return;
    struct out *o = c->o;
    if (c->ai) uv_freeaddrinfo(c->ai);
    tr_buf_fini(&c->batch);
    tr_outq_fini(&c->pend);
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

static void conn_release(struct conn *c) {
    c->st = C_DEAD;
    if (c->resolving) uv_cancel((uv_req_t *)&c->gai);
    if (c->tcp_live && !uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_tcp_close);
    maybe_free(c);
}

/* The breaker follows one bit: can we take events (connected, not busy)? */
static void report(struct out *o) {
    bool up = o->conn && o->conn->st == C_OPEN && !o->busy && !o->closing;
    if (o->closing || (up && o->reported == REP_UP) || (!up && o->reported == REP_DOWN)) return;
    o->reported = up ? REP_UP : REP_DOWN;
    if (up) tr_offramp_restore(o->host);
    else tr_offramp_trigger(o->host);
}

/* ------------------------------------------------------------ acks */

static void fail_pending(struct conn *c) {
    uint64_t token;
    while (tr_outq_pop(&c->pend, UINT64_MAX, &token)) tr_offramp_fail(c->o->host, token);
}

static void check_acks(struct conn *c) {
    if (!tr_outq_len(&c->pend) || !c->tcp_live) return;
    uint64_t acked, token;
    if (tr_outq_peer_acked(&c->tcp, c->queued, &acked) != 0) return;
    while (c->st != C_DEAD && tr_outq_pop(&c->pend, acked, &token)) tr_offramp_ack(c->o->host, token);
}

static void on_poll(uv_timer_t *t) {
    struct out *o = t->data;
    struct conn *c = o->conn;
    if (!c || c->st != C_OPEN) return;
    size_t before = tr_outq_len(&c->pend);
    check_acks(c);
    if (o->conn != c || !tr_outq_len(&c->pend)) return;
    /* back off while the peer acknowledges nothing (a stalled reader, a
     * dead host); fast again as soon as it does */
    if (tr_outq_len(&c->pend) < before) o->poll_ms = POLL_MIN_MS;
    else if (o->poll_ms < POLL_MAX_MS) o->poll_ms = o->poll_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : o->poll_ms * 2;
    uv_timer_start(&o->poll, on_poll, o->poll_ms, 0);
}

static void arm_poll(struct out *o) {
    struct conn *c = o->conn;
    if (o->closing || !c || !tr_outq_len(&c->pend) || uv_is_active((uv_handle_t *)&o->poll)) return;
    o->poll_ms = POLL_MIN_MS;
    uv_timer_start(&o->poll, on_poll, o->poll_ms, 0);
}

/* ------------------------------------------------------------- output */

static size_t unwritten(struct conn *c) {
    return c->batch.len + uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
}

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
    struct out *o = c->o;
    check_acks(c);
    if (o->conn != c || c->st != C_OPEN) return;
    arm_poll(o);
    if (o->busy && unwritten(c) < LOW_WATER) {
        o->busy = false;
        report(o);
    }
}

/* Hand this turn's batch to the socket. */
static void flush(struct out *o) {
    struct conn *c = o->conn;
    uv_prepare_stop(&o->flush);
    if (!c || c->st != C_OPEN || !c->batch.len) return;
    struct wreq *w = tr_malloc(sizeof *w);
    size_t len;
    char *data = w ? tr_buf_steal(&c->batch, &len) : NULL;
    if (!data) {
        tr_free(w);
        conn_end(c, "out of memory");
        return;
    }
    w->c = c;
    w->data = data;
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        tr_free(data);
        tr_free(w);
        conn_end(c, uv_strerror(rc));
        return;
    }
    c->queued += len;
    /* the next batch will likely be as large: one allocation, not a dozen
     * (a failure here only means the next append grows the buffer itself) */
    (void)tr_buf_reserve(&c->batch, len < FLUSH_AT ? len : FLUSH_AT);
    check_acks(c);
    arm_poll(o);
}

static void on_prepare(uv_prepare_t *p) { flush(p->data); }

/* ---------------------------------------------------------------- input */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    (void)hint;
    struct conn *c = h->data;
    *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    (void)buf;
    struct conn *c = s->data;
    if (c->st == C_DEAD || nread >= 0) return;
    conn_end(c, nread == UV_EOF ? "closed by peer" : uv_strerror((int)nread));
}

/* ------------------------------------------------------------ connecting */

static void set_ttl(struct conn *c, int family) {
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0) return;
    int ttl = c->o->ttl;
    int r = family == AF_INET6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof ttl)
                               : setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
    if (r != 0) TR_WARN(MOD, "%s: cannot set ttl %d: %s", c->o->peer, ttl, strerror(errno));
}

static void on_connect(uv_connect_t *req, int status) {
    struct conn *c = req->data;
    if (c->st == C_DEAD) return;
    if (status < 0) {
        c->last_err = status;
        c->next_addr = true;
        uv_close((uv_handle_t *)&c->tcp, on_tcp_close);
        return;
    }
    struct out *o = c->o;
    uv_tcp_nodelay(&c->tcp, o->nodelay);
    struct sockaddr_storage sa;
    int salen = sizeof sa;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &salen) == 0) set_ttl(c, sa.ss_family);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc) {
        conn_end(c, uv_strerror(rc));
        return;
    }
    c->st = C_OPEN;
    TR_INFO(MOD, "%s: connected to %s", o->id, o->peer);
    if (o->dropped || o->refused)
        TR_WARN(MOD, "%s: while %s was away %llu transactional messages were failed and %llu "
                "others dropped", o->id, o->peer, (unsigned long long)o->refused,
                (unsigned long long)o->dropped);
    o->dropped = o->refused = 0;
    report(o);
}

/* Try the next resolved address; every one is tried before giving up
 * ("localhost" often gives ::1 first while the peer listens on 127.0.0.1). */
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
        TR_WARN(MOD, "%s: cannot connect to %s (out of memory), retrying in 1s", o->id, o->peer);
        report(o);
        schedule_retry(o);
        return;
    }
    c->o = o;
    c->st = C_RESOLVING;
    tr_buf_init(&c->batch);
    tr_outq_init(&c->pend);
    c->gai.data = c;
    o->conns++;
    o->conn = c;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    c->resolving = true;
    int rc = uv_getaddrinfo(o->loop, &c->gai, on_resolved, o->hostname, o->port, &hints);
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

/* The one exit of every connection: ack what the peer's TCP already has,
 * trigger the breaker, fail the rest in order, plan the next attempt. */
static void conn_end(struct conn *c, const char *why) {
    struct out *o = c->o;
    if (c->st == C_DEAD) return;
    bool was_open = c->st == C_OPEN;
    check_acks(c);
    c->st = C_DEAD;
    if (o->conn == c) o->conn = NULL;
    if (!o->closing) {
        if (was_open) TR_WARN(MOD, "%s: connection to %s lost (%s)", o->id, o->peer, why);
        else TR_WARN(MOD, "%s: cannot connect to %s (%s), retrying in 1s", o->id, o->peer, why);
        report(o);
    }
    fail_pending(c);
    conn_release(c);
    if (o->closing) finish_close(o);
    else schedule_retry(o);
}

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
    struct conn *c = o->conn;
    if (o->closing || !c || c->st != C_OPEN) {
        refuse(o, m, "not connected");
        return;
    }
    size_t backlog = unwritten(c);
    if (backlog > MAX_BACKLOG || m->len > MAX_BACKLOG - backlog) {
        if (!o->full_logged)
            TR_WARN(MOD, "%s: more than %zu MiB waiting to be written to %s: refusing messages", o->id,
                    MAX_BACKLOG >> 20, o->peer);
        o->full_logged = true;
        refuse(o, m, "peer not keeping up");
        return;
    }
    o->full_logged = false;
    if (tr_buf_append(&c->batch, m->data, m->len) != 0) {
        refuse(o, m, "out of memory");
        return;
    }
    if (m->transactional && tr_outq_push(&c->pend, m->token, c->queued + c->batch.len) != 0) {
        /* the bytes go out but cannot be tracked: fail now; a replay makes
         * a duplicate, never a loss */
        tr_offramp_fail(o->host, m->token);
    }
    if (c->batch.len >= FLUSH_AT) flush(o);
    else uv_prepare_start(&o->flush, on_prepare);
    if (o->conn == c && !o->busy && unwritten(c) > HIGH_WATER) {
        o->busy = true;
        report(o);
    }
}

static void tcp_tick(void *self, uint64_t now_ns) {
    (void)now_ns;
    struct out *o = self;
    struct conn *c = o->conn;
    if (!c || c->st != C_OPEN) return;
    check_acks(c);
    arm_poll(o);
}

static bool tcp_is_active(void *self) {
    struct out *o = self;
    return !o->closing && o->conn && o->conn->st == C_OPEN && !o->busy;
}

static int tcp_start(void *self) {
    struct out *o = self;
    if (o->started || o->closing) return 0;
    o->started = true;
    attempt(o);
    return 0;
}

static void on_handle_close(uv_handle_t *h) {
    struct out *o = h->data;
    o->handles_open--;
    maybe_done(o);
}

static void finish_close(struct out *o) {
    if (o->handles_closing || o->conn) return;
    o->handles_closing = true;
    uv_close((uv_handle_t *)&o->retry, on_handle_close);
    uv_close((uv_handle_t *)&o->poll, on_handle_close);
    uv_close((uv_handle_t *)&o->flush, on_handle_close);
}

static void tcp_close(void *self, void (*done)(void *arg), void *arg) {
    struct out *o = self;
    if (o->closing) return;
    o->done = done;
    o->done_arg = arg;
    /* what this turn queued still goes out; what the peer acknowledged by
     * now is acked, the rest failed (the runtime drained before closing) */
    flush(o);
    o->closing = true;
    uv_timer_stop(&o->retry);
    uv_timer_stop(&o->poll);
    uv_prepare_stop(&o->flush);
    if (o->conn) conn_end(o->conn, "closing");
    finish_close(o);
}

static int tcp_create(const struct tr_conn_spec *spec, struct tr_offramp_host *host, void **self,
                      struct tr_diag *d) {
    *self = NULL;
    static const char *const keys[] = {"host", "port", "ttl", "is_no_delay", NULL};
    int rc = tr_conn_cfg_known(spec, keys, d);
    if (rc) return rc;
    const char *hostname = "127.0.0.1";
    uint64_t port = 0, ttl = 64;
    bool nodelay = true;
    if ((rc = tr_conn_cfg_str(spec, "host", &hostname, d)) && rc != TR_ENOTFOUND) return rc;
    rc = tr_conn_cfg_uint(spec, "port", &port, d);
    if (rc == TR_ENOTFOUND)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "tcp '%s': config.port is required", spec->id);
    if (rc) return rc;
    if (port == 0 || port > 65535)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "tcp '%s': config.port must be 1..65535", spec->id);
    if ((rc = tr_conn_cfg_uint(spec, "ttl", &ttl, d)) && rc != TR_ENOTFOUND) return rc;
    if (ttl < 1 || ttl > 255)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "tcp '%s': config.ttl must be 1..255", spec->id);
    if ((rc = tr_conn_cfg_bool(spec, "is_no_delay", &nodelay, d)) && rc != TR_ENOTFOUND) return rc;
    if (!hostname[0] || strlen(hostname) > 253)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "tcp '%s': config.host must be a host name or address", spec->id);

    struct out *o = tr_calloc(1, sizeof *o);
    if (!o) return -ENOMEM;
    o->id = tr_strdup(spec->id ? spec->id : MOD);
    o->hostname = tr_strdup(hostname);
    size_t plen = strlen(hostname) + 16;
    o->peer = tr_malloc(plen);
    if (!o->id || !o->hostname || !o->peer) {
        tr_free(o->id);
        tr_free(o->hostname);
        tr_free(o->peer);
        tr_free(o);
        return -ENOMEM;
    }
    snprintf(o->peer, plen, strchr(hostname, ':') ? "[%s]:%u" : "%s:%u", hostname, (unsigned)port);
    snprintf(o->port, sizeof o->port, "%u", (unsigned)port);
    o->host = host;
    o->loop = tr_offramp_loop(host);
    o->ttl = (int)ttl;
    o->nodelay = nodelay;
    uv_timer_init(o->loop, &o->retry);
    uv_timer_init(o->loop, &o->poll);
    uv_prepare_init(o->loop, &o->flush);
    uv_unref((uv_handle_t *)&o->flush);
    o->retry.data = o->poll.data = o->flush.data = o;
    o->handles_open = 3;
    o->poll_ms = POLL_MIN_MS;
    *self = o;
    return 0;
}

const struct tr_offramp_ops tr_tcp_offramp = {
    .type = "tcp",
    .create = tcp_create,
    .start = tcp_start,
    .send = tcp_send,
    .tick = tcp_tick,
    .is_active = tcp_is_active,
    .close = tcp_close,
};
