/* udp_out.c - the `udp` offramp: each encoded event (after postprocessors)
 * is one datagram (Tremor 0.11 keys: host, port, bind {host, port}, bound;
 * deprecated dst_host/dst_port with 0.11's meaning: given, the old
 * host/port become the bind address). With `bound: true` (default) the
 * socket is connected to host:port; `bound: false` sends each datagram to
 * host:port (0.11 deprecates it). Per event, `$udp.host` and `$udp.port`
 * send that datagram elsewhere.
 *
 * Acks on write: a transactional event is acked when the kernel took its
 * datagram (libuv's send completion), failed when it refused it (too big,
 * ICMP unreachable reported by a connected socket, no route). UDP gives no
 * peer receipt. Unlike 0.11, a socket that cannot be bound or connected is
 * retried with capped exponential backoff and jitter, breaker triggered
 * meanwhile, restored when it is up; a send queue over HIGH_WATER bytes
 * triggers the breaker too. Overridden destinations on a connected socket
 * go out through sendto() at once (libuv refuses a destination there); if
 * the socket buffer is full at that moment the event is failed.
 * Invariant: every transactional send() is answered exactly once.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "config/cmap.h"
#include "connectors/backoff.h"
#include "connectors/conn.h"
#include "core/alloc.h"
#include "core/log.h"

#define MOD "udp"
#define HIGH_WATER ((size_t)4 << 20)
#define LOW_WATER ((size_t)1 << 20)
#define MAX_QUEUE ((size_t)64 << 20)
#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 30000
#define MAX_DATAGRAM 65507          /* the largest UDP payload over IPv4 */

enum reported { REP_NONE, REP_UP, REP_DOWN };

struct udp_out {
    struct tr_offramp_host *host;
    uv_loop_t *loop;
    char *id;
    char *dst_host, *bind_host;
    unsigned dst_port, bind_port;
    bool bound;
    uv_udp_t *sock;              /* NULL while down */
    uv_timer_t retry;
    struct tr_backoff backoff;
    enum reported reported;
    bool started, closing, busy;
    struct sockaddr_storage dst;  /* resolved host:port (bound: false) */
    int handles;                  /* the retry timer and the current socket */
    uint64_t sent, failed, dropped;
    struct tr_log_limit lim_fail, lim_drop;
    void (*done)(void *);
    void *done_arg;
};

struct sendreq {
    uv_udp_send_t req;
    struct udp_out *o;
    uint64_t token;
    bool transactional;
    size_t len;
    char data[];
};

/* ------------------------------------------------------------ lifecycle */

static void maybe_done(struct udp_out *o) {
    if (!o->closing || o->handles) return;
    void (*done)(void *) = o->done;
    void *arg = o->done_arg;
    tr_free(o->dst_host);
    tr_free(o->bind_host);
    tr_free(o->id);
    tr_free(o);
    if (done) done(arg);
}

static void on_timer_closed(uv_handle_t *h) {
    struct udp_out *o = h->data;
    o->handles--;
    maybe_done(o);
}

static void on_sock_closed(uv_handle_t *h) {
    struct udp_out *o = h->data;
    tr_free(h);
    o->handles--;
    maybe_done(o);
}

static void report(struct udp_out *o) {
    bool up = o->sock && !o->busy && !o->closing;
    if (o->closing || (up && o->reported == REP_UP) || (!up && o->reported == REP_DOWN)) return;
    o->reported = up ? REP_UP : REP_DOWN;
    if (up) tr_offramp_restore(o->host);
    else tr_offramp_trigger(o->host);
}

static int resolve(const char *host, unsigned port, struct sockaddr_storage *out) {
    struct sockaddr_in *a4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
    memset(out, 0, sizeof *out);
    if (uv_ip4_addr(host, (int)port, a4) == 0 || uv_ip6_addr(host, (int)port, a6) == 0) return 0;
    /* a name: resolved on the loop thread (brief for names in /etc/hosts;
     * a slow resolver delays this loop turn) */
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", port);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    int g = getaddrinfo(host, portstr, &hints, &ai);
    if (g != 0) return g == EAI_MEMORY ? -ENOMEM : -EHOSTUNREACH;
    memcpy(out, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return 0;
}

static void attempt(struct udp_out *o);

static void on_retry(uv_timer_t *t) { attempt(t->data); }

static void attempt(struct udp_out *o) {
    if (o->closing || o->sock) return;
    const char *what = "resolve";
    struct sockaddr_storage bind_sa;
    uv_udp_t *s = NULL;
    int rc = resolve(o->bind_host, o->bind_port, &bind_sa);
    if (!rc) rc = resolve(o->dst_host, o->dst_port, &o->dst);
    if (!rc) {
        s = tr_malloc(sizeof *s);
        if (!s) rc = -ENOMEM;
    }
    if (!rc) {
        uv_udp_init(o->loop, s);
        s->data = o;
        o->handles++;
        what = "bind";
        rc = uv_udp_bind(s, (const struct sockaddr *)&bind_sa, 0);
        if (!rc && o->bound) {
            what = "connect";
            rc = uv_udp_connect(s, (const struct sockaddr *)&o->dst);
        }
        if (rc) uv_close((uv_handle_t *)s, on_sock_closed);
    }
    if (rc) {
        uint64_t wait = tr_backoff_next(&o->backoff);
        TR_WARN(MOD, "%s: cannot %s (bind %s:%u, peer %s:%u): %s; retrying in %" PRIu64 " ms", o->id,
                what, o->bind_host, o->bind_port, o->dst_host, o->dst_port,
                rc == -EHOSTUNREACH ? "host not found" : uv_strerror(rc), wait);
        uv_timer_start(&o->retry, on_retry, wait, 0);
        report(o);
        return;
    }
    o->sock = s;
    tr_backoff_reset(&o->backoff);
    TR_INFO(MOD, "%s: bound to %s:%u, %s %s:%u", o->id, o->bind_host, o->bind_port,
            o->bound ? "connected to" : "sending to", o->dst_host, o->dst_port);
    report(o);
}

/* ------------------------------------------------------------- output */

static void answer(struct udp_out *o, uint64_t token, bool trans, int status) {
    if (status == 0) o->sent++;
    else {
        o->failed++;
        tr_log_limited(&o->lim_fail, TR_LOG_WARN, MOD, "%s: a datagram was not sent: %s (%" PRIu64
                       " such so far)", o->id, uv_strerror(status), o->failed);
    }
    if (!trans) return;
    if (status == 0) tr_offramp_ack(o->host, token);
    else tr_offramp_fail(o->host, token);
}

static void on_sent(uv_udp_send_t *req, int status) {
    struct sendreq *r = (struct sendreq *)req;
    struct udp_out *o = r->o;
    answer(o, r->token, r->transactional, status);
    tr_free(r);
    if (o->busy && o->sock && uv_udp_get_send_queue_size(o->sock) < LOW_WATER) {
        o->busy = false;
        report(o);
    }
}

static void refuse(struct udp_out *o, const struct tr_out_msg *m, const char *why) {
    if (m->transactional) {
        o->failed++;
        tr_offramp_fail(o->host, m->token);
        return;
    }
    o->dropped++;
    tr_log_limited(&o->lim_drop, TR_LOG_WARN, MOD, "%s: %s: dropped a non-transactional event "
                   "(%" PRIu64 " such so far)", o->id, why, o->dropped);
}

/* $udp.host and $udp.port, both valid, or false. */
static bool meta_dest(const struct tr_out_msg *m, const char **host, unsigned *port) {
    const tr_value *u = m->meta && m->meta->type == TR_REC ? tr_rec_get_cstr(m->meta, "udp") : NULL;
    if (!u || u->type != TR_REC) return false;
    const tr_value *h = tr_rec_get_cstr(u, "host"), *p = tr_rec_get_cstr(u, "port");
    if (!h || h->type != TR_STR || !p || p->type != TR_I64 || p->as.i < 0 || p->as.i > 65535)
        return false;
    *host = h->as.s->data;
    *port = (unsigned)p->as.i;
    return true;
}

static void udp_send(void *self, const struct tr_out_msg *m) {
    struct udp_out *o = self;
    if (o->closing || !o->sock) {
        refuse(o, m, "socket not bound");
        return;
    }
    if (m->len > MAX_DATAGRAM) {
        answer(o, m->token, m->transactional, UV_EMSGSIZE);
        return;
    }
    const char *mh;
    unsigned mp;
    struct sockaddr_storage to;
    const struct sockaddr *dest = o->bound ? NULL : (const struct sockaddr *)&o->dst;
    if (meta_dest(m, &mh, &mp)) {
        int rc = resolve(mh, mp, &to);
        if (rc) {
            answer(o, m->token, m->transactional, rc == -ENOMEM ? UV_ENOMEM : UV_EHOSTUNREACH);
            return;
        }
        if (o->bound) {
            /* libuv refuses a destination on a connected socket */
            uv_os_fd_t fd;
            ssize_t n = -1;
            int err = EBADF;
            if (uv_fileno((uv_handle_t *)o->sock, &fd) == 0) {
                n = sendto(fd, m->data, m->len, MSG_DONTWAIT, (struct sockaddr *)&to,
                           to.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                    : sizeof(struct sockaddr_in));
                err = errno;
            }
            answer(o, m->token, m->transactional, n >= 0 ? 0 : uv_translate_sys_error(err));
            return;
        }
        dest = (const struct sockaddr *)&to;
    }
    size_t queued = uv_udp_get_send_queue_size(o->sock);
    if (queued > MAX_QUEUE) {
        refuse(o, m, "send queue full");
        return;
    }
    struct sendreq *r = tr_malloc(sizeof *r + m->len);
    if (!r) {
        refuse(o, m, "out of memory");
        return;
    }
    r->o = o;
    r->token = m->token;
    r->transactional = m->transactional;
    r->len = m->len;
    memcpy(r->data, m->data, m->len);
    uv_buf_t b = uv_buf_init(r->data, (unsigned)m->len);
    int rc = uv_udp_send(&r->req, o->sock, &b, 1, dest, on_sent);
    if (rc) {
        tr_free(r);
        answer(o, m->token, m->transactional, rc);
        return;
    }
    if (!o->busy && uv_udp_get_send_queue_size(o->sock) > HIGH_WATER) {
        o->busy = true;
        report(o);
    }
}

static bool udp_is_active(void *self) {
    struct udp_out *o = self;
    return !o->closing && o->sock && !o->busy;
}

static int udp_start(void *self) {
    struct udp_out *o = self;
    if (o->started) return 0;
    o->started = true;
    attempt(o);
    return 0;
}

static void udp_tick(void *self, uint64_t now_ns) {
    (void)now_ns;
    struct udp_out *o = self;
    tr_log_limit_flush(&o->lim_fail);
    tr_log_limit_flush(&o->lim_drop);
}

static void udp_close(void *self, void (*done)(void *), void *arg) {
    struct udp_out *o = self;
    if (o->closing) return;
    o->closing = true;
    o->done = done;
    o->done_arg = arg;
    TR_INFO(MOD, "%s: %" PRIu64 " datagrams sent, %" PRIu64 " failed, %" PRIu64 " dropped", o->id,
            o->sent, o->failed, o->dropped);
    uv_timer_stop(&o->retry);
    uv_close((uv_handle_t *)&o->retry, on_timer_closed);
    /* queued sends complete with UV_ECANCELED: failed (on_sent) */
    if (o->sock) uv_close((uv_handle_t *)o->sock, on_sock_closed);
    o->sock = NULL;
}

/* ------------------------------------------------------------- config */

struct udp_out_cfg {
    const char *host, *dst_host;
    uint64_t port, dst_port;
    const tr_value *bind;
    bool bound, dst_host_seen, dst_port_seen;
};

const struct tr_cmap_entry tr_udp_out_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR, "host", NULL, TR_CMAP_REQUIRED, offsetof(struct udp_out_cfg, host),
     "host name or address to send to")},
    {TR_CMAP_KEY(TR_CMAP_U64, "port", NULL, TR_CMAP_REQUIRED | TR_CMAP_RANGE,
     offsetof(struct udp_out_cfg, port), "UDP port to send to"), .lo = 0, .hi = 65535},
    {TR_CMAP_KEY(TR_CMAP_VALUE, "bind", NULL, 0, offsetof(struct udp_out_cfg, bind),
     "local address {host, port} (default 0.0.0.0, any port)")},
    {TR_CMAP_KEY(TR_CMAP_BOOL, "bound", "true", 0, offsetof(struct udp_out_cfg, bound),
     "connect the socket to host:port (false: send to it each time; deprecated in 0.11)")},
    {TR_CMAP_KEY(TR_CMAP_STR, "dst_host", NULL, TR_CMAP_DEPRECATED | TR_CMAP_PRESENCE,
     offsetof(struct udp_out_cfg, dst_host), "deprecated: the peer's host; host becomes bind.host"),
     .seen = offsetof(struct udp_out_cfg, dst_host_seen)},
    {TR_CMAP_KEY(TR_CMAP_U64, "dst_port", NULL, TR_CMAP_DEPRECATED | TR_CMAP_RANGE | TR_CMAP_PRESENCE,
     offsetof(struct udp_out_cfg, dst_port), "deprecated: the peer's port; port becomes bind.port"),
     .lo = 0, .hi = 65535, .seen = offsetof(struct udp_out_cfg, dst_port_seen)},
    {0},
};

static int udp_create(const struct tr_conn_spec *spec, struct tr_offramp_host *host, void **self,
                      struct tr_diag *d) {
    *self = NULL;
    if (spec->config == NULL || spec->config->type != TR_REC)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "UDP offramp '%s' requires a config (host, port)", spec->id);
    struct udp_out_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_udp_out_cmap, &c, d);
    if (rc) return rc;
    const char *bind_host = "0.0.0.0", *dst_host = c.host;
    uint64_t bind_port = 0, dst_port = c.port;
    if (c.bind && c.bind->type != TR_NULL) {
        if (c.bind->type != TR_REC)
            return tr_conn_cfg_fail(spec, "bind", d, "must be a record {host, port}");
        const tr_value *bh = tr_rec_get_cstr(c.bind, "host"), *bp = tr_rec_get_cstr(c.bind, "port");
        if (bh && bh->type != TR_STR)
            return tr_conn_cfg_fail(spec, "bind", d, ".host must be a string");
        if (bp && (bp->type != TR_I64 || bp->as.i < 0 || bp->as.i > 65535))
            return tr_conn_cfg_fail(spec, "bind", d, ".port must be an integer 0..65535");
        if (bh) bind_host = bh->as.s->data;
        if (bp) bind_port = (uint64_t)bp->as.i;
    }
    /* 0.11: the deprecated names move the old ones to the bind address */
    if (c.dst_port_seen) {
        bind_port = c.port;
        dst_port = c.dst_port;
    }
    if (c.dst_host_seen) {
        bind_host = c.host;
        dst_host = c.dst_host;
    }
    if (dst_port == 0) return tr_conn_cfg_fail(spec, "port", d, "must be a port 1..65535 to send to");
    if (!dst_host[0] || strlen(dst_host) > 253 || !bind_host[0] || strlen(bind_host) > 253)
        return tr_conn_cfg_fail(spec, "host", d, "must be a host name or address");
    if (!c.bound)
        TR_WARN(MOD, "%s: `bound: false` is deprecated (as in 0.11): use $udp.host and $udp.port",
                spec->id);
    struct udp_out *o = tr_calloc(1, sizeof *o);
    if (!o) return -ENOMEM;
    o->id = tr_strdup(spec->id ? spec->id : MOD);
    o->dst_host = tr_strdup(dst_host);
    o->bind_host = tr_strdup(bind_host);
    if (!o->id || !o->dst_host || !o->bind_host) {
        tr_free(o->id);
        tr_free(o->dst_host);
        tr_free(o->bind_host);
        tr_free(o);
        return -ENOMEM;
    }
    o->host = host;
    o->loop = tr_offramp_loop(host);
    o->dst_port = (unsigned)dst_port;
    o->bind_port = (unsigned)bind_port;
    o->bound = c.bound;
    tr_backoff_init(&o->backoff, RETRY_MIN_MS, RETRY_MAX_MS);
    uv_timer_init(o->loop, &o->retry);
    o->retry.data = o;
    o->handles = 1;
    *self = o;
    return 0;
}

const struct tr_offramp_ops tr_udp_offramp = {
    .type = "udp",
    .bytes_only = true,
    .create = udp_create,
    .start = udp_start,
    .send = udp_send,
    .tick = udp_tick,
    .is_active = udp_is_active,
    .close = udp_close,
};
