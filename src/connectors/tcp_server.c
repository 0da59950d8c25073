/* tcp_server.c - the `tcp` onramp: a TCP server (Tremor 0.11 keys: host,
 * port), and the `unix-socket` onramp, the same server on a Unix domain
 * socket (0.11 key: path; ours: permissions; a stale socket file is
 * removed at start, as in 0.11, but any other kind of file at the path is
 * an error, and the socket file is removed again at close). Every connection is one stream: its bytes go through the
 * configured preprocessors (e.g. [lines]) with state of their own, and its
 * end flushes them (a last line without a newline is still an event).
 *
 * Backpressure: a breaker trigger stops reading on every connection (the
 * peers' TCP windows fill and they slow down), a restore reads again; new
 * connections are accepted meanwhile but not read. Not a responder: nothing
 * is written back. Invariant: a stream id is never reused, and the runtime
 * hears stream_end for every stream exactly once unless the onramp closes.
 *
 * Hogging peers are bounded: at most max_connections at once (more are
 * accepted and reset before anything is read), a sweep timer closes
 * connections silent for idle_timeout_ms, and what the preprocessors hold
 * for a connection is charged to the onramp's max_buffered_bytes budget (a
 * share of 4 x max_frame_size each); a connection that passes its share or
 * the budget, or sends a length prefix above max_frame_size, is closed with
 * a logged, counted error: its half-received frame is never emitted.
 *
 * TLS (0.11 key tls: {cert, key}, tcp only): every connection runs the
 * handshake of connectors/tls.h first and only its decrypted bytes reach
 * the preprocessors. A peer that does not finish the handshake within
 * tls.handshake_timeout_ms, speaks something other than TLS, fails client
 * certificate verification or stops reading our handshake records (more
 * than MAX_WIRE unsent) is closed with a logged, counted rejection.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/proc.h"
#include "config/cmap.h"
#include "connectors/conn.h"
#include "connectors/tls.h"
#include "core/alloc.h"
#include "core/budget.h"
#include "core/log.h"

#define MOD "tcp"
#define RBUF_SIZE 65536
#define BACKLOG 128
#define LIMIT_MAX_CONNS 65536
#define LIMIT_IDLE_MS 86400000
#define LIMIT_BUDGET ((uint64_t)1 << 40)
#define LIMIT_MAX_FRAME ((uint64_t)1 << 31)
#define SWEEP_MAX_MS 250
/* Unsent TLS records (handshake, alerts, tickets) before a peer that reads
 * nothing is given up on. */
#define MAX_WIRE ((size_t)1 << 18)

struct srv;

/* A connection or listener: TCP, or a Unix domain socket (pipe). */
union conn_h {
    uv_handle_t h;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
};

struct client {
    struct srv *s;
    union conn_h u;
    uint64_t stream;
    uint64_t last_rx;        /* uv_now of the last bytes read (idle timeout) */
    uint64_t born;           /* uv_now at accept (TLS handshake timeout) */
    struct tr_tls *tls;      /* NULL without tls */
    bool reading, ended;
    struct client *prev, *next;
};

struct srv {
    struct tr_onramp_host *host;
    uv_loop_t *loop;
    char *id;
    char *addr;              /* host:port, for messages */
    union conn_h listener;
    bool unix_sock;          /* unix-socket: addr is the path, removed at close */
    struct client *clients;
    size_t nclients;
    uint64_t next_stream;
    uint64_t max_conns, idle_ms;
    uint64_t refused;        /* connections reset for max_connections */
    uint64_t idle_closed;    /* connections closed for idle_timeout_ms */
    uint64_t limit_closed;   /* connections closed for a frame or buffer over the limits */
    uint64_t accept_errors;  /* failed accepts, and connections not taken for memory */
    struct tr_tls_ctx *tls;  /* NULL: plain TCP */
    uint64_t tls_hs_ms;
    uint64_t tls_rejected;   /* TLS handshakes failed, timed out, or stalled */
    struct tr_log_limit lim_tls;
    struct tr_budget budget; /* preprocessor buffers of every connection */
    struct tr_preproc_limits limits;
    struct tr_log_limit lim_refused, lim_idle, lim_limit, lim_drop, lim_accept;
    uv_timer_t sweep;
    int handles;             /* open uv handles: the listener, the sweep timer and every client */
    bool started, paused, closing;
    void (*done)(void *);
    void *done_arg;
    char rbuf[RBUF_SIZE];    /* one read at a time: libuv reads then calls back */
};

static void maybe_done(struct srv *s) {
    if (!s->closing || s->handles) return;
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    if (s->unix_sock && s->addr) unlink(s->addr);   /* ours: made at create */
    tr_tls_ctx_destroy(s->tls);
    tr_free(s->addr);
    tr_free(s->id);
    tr_free(s);
    if (done) done(arg);
}

/* ------------------------------------------------------------- clients */

static void on_client_closed(uv_handle_t *h) {
    struct client *cl = h->data;
    struct srv *s = cl->s;
    tr_tls_destroy(cl->tls);
    tr_free(cl);
    s->handles--;
    maybe_done(s);
}

static void on_handle_closed(uv_handle_t *h) {
    struct srv *s = h->data;
    s->handles--;
    maybe_done(s);
}

/* A connection refused for max_connections: only a bare handle. */
static void on_refused_closed(uv_handle_t *h) {
    struct srv *s = h->data;
    tr_free(h);
    s->handles--;
    maybe_done(s);
}

static void drop_client(struct client *cl) {
    struct srv *s = cl->s;
    if (cl->prev) cl->prev->next = cl->next;
    else s->clients = cl->next;
    if (cl->next) cl->next->prev = cl->prev;
    s->nclients--;
    uv_close((uv_handle_t *)&cl->u, on_client_closed);
}

static int conn_init(struct srv *s, union conn_h *c) {
    return s->unix_sock ? uv_pipe_init(s->loop, &c->pipe, 0) : uv_tcp_init(s->loop, &c->tcp);
}

static void peer_name(struct client *cl, char *out, size_t n) {
    if (cl->s->unix_sock) snprintf(out, n, "a peer on %s", cl->s->addr);
    else tr_conn_peer_name(&cl->u.tcp, out, n);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    (void)hint;
    struct client *cl = h->data;
    *buf = uv_buf_init(cl->s->rbuf, sizeof cl->s->rbuf);
}

/* End a connection: the runtime hears stream_end (its preprocessors emit
 * nothing more for a failed stream), the socket is closed. */
static void end_client(struct client *cl) {
    struct srv *s = cl->s;
    uv_read_stop((uv_stream_t *)&cl->u);
    cl->reading = false;
    cl->ended = true;
    tr_onramp_stream_end(s->host, cl->stream);
    if (!s->closing) drop_client(cl);
}

static void tcp_trigger(void *self);

/* Bytes of the stream (plain, or decrypted) to the runtime. Returns 0, or
 * TR_ECLOSED when cl was ended (over a limit, or by the host). */
static int deliver(void *arg, const char *p, size_t n) {
    struct client *cl = arg;
    struct srv *s = cl->s;
    if (cl->ended || s->closing) return TR_ECLOSED;
    int rc = tr_onramp_emit_bytes(s->host, cl->stream, p, n, tr_v_null());
    if (rc == TR_ONRAMP_PAUSED && !cl->ended) tcp_trigger(s);
    if (cl->ended || s->closing) return TR_ECLOSED;
    if (rc >= 0) return 0;
    char peer[96];
    peer_name(cl, peer, sizeof peer);
    s->limit_closed++;
    tr_log_limited(&s->lim_limit, TR_LOG_WARN, MOD,
                   "%s: closed %s (stream %llu): %s; its unfinished frame is dropped "
                   "(%llu such closes so far)", s->id, peer, (unsigned long long)cl->stream,
                   rc == TR_ETOOBIG ? "a frame or buffer over max_frame_size"
                   : rc == TR_EFULL ? "buffers of all connections over max_buffered_bytes"
                                    : tr_strerror(rc),
                   (unsigned long long)s->limit_closed);
    end_client(cl);
    return TR_ECLOSED;
}

static void on_wrote(uv_write_t *req, int status) {
    (void)status;   /* a failed write shows up as a read error or the idle sweep */
    tr_free(req->data);
    tr_free(req);
}

/* tr_tls_flush's wire: TLS records to the peer, as long as it reads them. */
static int to_wire(void *arg, char *p, size_t n) {
    struct client *cl = arg;
    uv_stream_t *st = (uv_stream_t *)&cl->u;
    uv_write_t *req = uv_stream_get_write_queue_size(st) > MAX_WIRE ? NULL : tr_malloc(sizeof *req);
    if (!req) {
        tr_free(p);
        return TR_EFULL;
    }
    req->data = p;
    uv_buf_t b = uv_buf_init(p, (unsigned)n);
    int rc = uv_write(req, st, &b, 1, on_wrote);
    if (rc) {
        tr_free(p);
        tr_free(req);
    }
    return rc;
}

static void tls_reject(struct client *cl, const char *why) {
    struct srv *s = cl->s;
    char peer[96];
    peer_name(cl, peer, sizeof peer);
    s->tls_rejected++;
    tr_log_limited(&s->lim_tls, TR_LOG_WARN, MOD, "%s: closed %s (stream %llu): %s (%llu TLS rejections so far)",
                   s->id, peer, (unsigned long long)cl->stream, why, (unsigned long long)s->tls_rejected);
    end_client(cl);
}

static void on_tls_read(struct client *cl, const char *p, size_t n) {
    struct srv *s = cl->s;
    bool was = tr_tls_established(cl->tls);
    struct tr_diag d;
    tr_diag_clear(&d);
    /* s->rbuf holds p; tr_tls_input copies it before decrypting into it */
    int rc = tr_tls_input(cl->tls, p, n, s->rbuf, sizeof s->rbuf, deliver, to_wire, cl, &d);
    if (rc >= 0 || cl->ended || s->closing) return;
    if (rc == TR_ECLOSED) {   /* close_notify: the stream ends as on EOF */
        end_client(cl);
        return;
    }
    if (!was || rc == TR_EFULL)
        tls_reject(cl, rc == TR_EFULL ? "does not read our TLS records"
                       : d.msg[0]    ? d.msg
                                     : tr_strerror(rc));
    else {
        TR_DEBUG(MOD, "%s: stream %llu: %s", s->id, (unsigned long long)cl->stream,
                 d.msg[0] ? d.msg : tr_strerror(rc));
        end_client(cl);
    }
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
    struct client *cl = st->data;
    struct srv *s = cl->s;
    if (n > 0) {
        cl->last_rx = uv_now(s->loop);
        if (cl->tls) on_tls_read(cl, buf->base, (size_t)n);
        else (void)deliver(cl, buf->base, (size_t)n);
        return;
    }
    if (n == 0) return;
    if (n != UV_EOF) TR_DEBUG(MOD, "%s: stream %llu: %s", s->id, (unsigned long long)cl->stream, uv_strerror((int)n));
    end_client(cl);
}

static void read_on(struct client *cl) {
    struct srv *s = cl->s;
    if (cl->reading || cl->ended || !s->started || s->paused || s->closing) return;
    int rc = uv_read_start((uv_stream_t *)&cl->u, on_alloc, on_read);
    if (rc) {
        TR_WARN(MOD, "%s: cannot read stream %llu: %s", s->id, (unsigned long long)cl->stream,
                uv_strerror(rc));
        cl->ended = true;
        tr_onramp_stream_end(s->host, cl->stream);
        drop_client(cl);
        return;
    }
    cl->reading = true;
    cl->last_rx = uv_now(s->loop);
}

static void on_connection(uv_stream_t *l, int status) {
    struct srv *s = l->data;
    if (s->closing) return;
    if (status < 0) {
        s->accept_errors++;
        tr_log_limited(&s->lim_accept, TR_LOG_WARN, MOD, "%s: accepting on %s failed: %s (%llu such so far)",
                       s->id, s->addr, uv_strerror(status), (unsigned long long)s->accept_errors);
        return;
    }
    if (s->nclients >= s->max_conns) {
        /* Reset at once, before reading anything: the peer sees a reset
         * rather than bytes accepted and then dropped. */
        s->refused++;
        tr_log_limited(&s->lim_refused, TR_LOG_WARN, MOD,
                       "%s: %zu connections open (max_connections), reset a new one "
                       "(%llu refused so far)", s->id, s->nclients, (unsigned long long)s->refused);
        union conn_h *t = tr_malloc(sizeof *t);
        if (!t || conn_init(s, t) != 0) {
            /* libuv keeps the listener idle until an accept succeeds */
            tr_free(t);
            s->accept_errors++;
            tr_log_limited(&s->lim_accept, TR_LOG_ERROR, MOD,
                           "%s: cannot take a connection (out of memory; %llu such so far)", s->id,
                           (unsigned long long)s->accept_errors);
            return;
        }
        t->h.data = s;
        s->handles++;
        if (uv_accept(l, (uv_stream_t *)t) != 0 || s->unix_sock ||
            uv_tcp_close_reset(&t->tcp, on_refused_closed) != 0)
            uv_close(&t->h, on_refused_closed);
        return;
    }
    struct client *cl = tr_calloc(1, sizeof *cl);
    if (!cl || conn_init(s, &cl->u) != 0) {
        /* the pending connection stays in the backlog until memory returns */
        s->accept_errors++;
        tr_log_limited(&s->lim_accept, TR_LOG_ERROR, MOD,
                       "%s: cannot take a connection (out of memory; %llu such so far)", s->id,
                       (unsigned long long)s->accept_errors);
        tr_free(cl);
        return;
    }
    cl->s = s;
    cl->u.h.data = cl;
    cl->born = uv_now(s->loop);
    s->handles++;
    struct tr_diag d;
    tr_diag_clear(&d);
    if (uv_accept(l, (uv_stream_t *)&cl->u) != 0 ||
        (s->tls && tr_tls_create(s->tls, NULL, &cl->tls, &d) != 0)) {
        if (d.msg[0]) TR_WARN(MOD, "%s: %s", s->id, d.msg);
        uv_close((uv_handle_t *)&cl->u, on_client_closed);
        return;
    }
    cl->stream = ++s->next_stream;
    cl->next = s->clients;
    if (s->clients) s->clients->prev = cl;
    s->clients = cl;
    s->nclients++;
    read_on(cl);
}

/* ---------------------------------------------------------------- setup */

/* The idle timeout: one repeating timer walks every connection. */
static void on_sweep(uv_timer_t *t) {
    struct srv *s = t->data;
    if (s->closing) return;
    tr_log_limit_flush(&s->lim_refused);
    tr_log_limit_flush(&s->lim_idle);
    tr_log_limit_flush(&s->lim_limit);
    tr_log_limit_flush(&s->lim_drop);
    tr_log_limit_flush(&s->lim_accept);
    tr_log_limit_flush(&s->lim_tls);
    /* Paused, we read from nobody, so nobody is idle (restore restarts
     * their clocks). */
    if (s->paused) return;
    uint64_t now = uv_now(s->loop);
    for (struct client *cl = s->clients, *next; cl; cl = next) {
        next = cl->next;   /* end_client unlinks cl only */
        if (cl->ended || !cl->reading) continue;
        if (cl->tls && !tr_tls_established(cl->tls)) {
            if (now - cl->born < s->tls_hs_ms) continue;
            char why[96];
            snprintf(why, sizeof why, "no TLS handshake within %llu ms",
                     (unsigned long long)s->tls_hs_ms);
            tls_reject(cl, why);
            continue;
        }
        if (!s->idle_ms || now - cl->last_rx < s->idle_ms) continue;
        char peer[96];
        peer_name(cl, peer, sizeof peer);
        s->idle_closed++;
        tr_log_limited(&s->lim_idle, TR_LOG_WARN, MOD,
                       "%s: closed %s (stream %llu): nothing received for %llu ms "
                       "(%llu such so far)", s->id, peer, (unsigned long long)cl->stream,
                       (unsigned long long)s->idle_ms, (unsigned long long)s->idle_closed);
        end_client(cl);
    }
}

struct tcp_cfg {
    const char *host;
    uint64_t port, max_conns, idle_ms, budget, max_frame;
    const tr_value *tls;
};

/* The bounds keep every size and timer far from overflow and a listener
 * from being told to hold more than memory can. */
const struct tr_cmap_entry tr_tcp_server_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR, "host", "127.0.0.1", 0, offsetof(struct tcp_cfg, host),
     "host name or address to listen on")},
    {TR_CMAP_KEY(TR_CMAP_U64, "port", NULL, TR_CMAP_REQUIRED | TR_CMAP_RANGE,
     offsetof(struct tcp_cfg, port), "TCP port to listen on, 0: any free one"),
     .lo = -INFINITY, .hi = 65535},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_connections", "1024", TR_CMAP_RANGE,
     offsetof(struct tcp_cfg, max_conns), "peers at once; more are refused"),
     .lo = 1, .hi = LIMIT_MAX_CONNS},
    {TR_CMAP_KEY(TR_CMAP_U64, "idle_timeout_ms", "300000", TR_CMAP_RANGE,
     offsetof(struct tcp_cfg, idle_ms), "ms without data before a peer is closed, 0: never"),
     .lo = 0, .hi = LIMIT_IDLE_MS},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_buffered_bytes", "134217728", TR_CMAP_RANGE,
     offsetof(struct tcp_cfg, budget), "bytes held for all peers before reading pauses"),
     .lo = 1, .hi = (double)LIMIT_BUDGET},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_frame_size", "16777216", TR_CMAP_RANGE,
     offsetof(struct tcp_cfg, max_frame), "largest frame (a line, a length-prefixed message) in bytes"),
     .lo = 1, .hi = (double)LIMIT_MAX_FRAME},
    {TR_CMAP_KEY(TR_CMAP_VALUE, "tls", NULL, 0, offsetof(struct tcp_cfg, tls),
     "serve TLS: {cert, key} PEM files; ours also ca_file, min_version, handshake_timeout_ms")},
    {0},
};
/* The default of max_frame_size is the preprocessors' own. */
_Static_assert(TR_PROC_MAX_LINE == 16777216, "tcp max_frame_size default is TR_PROC_MAX_LINE");

static int tcp_create(const struct tr_conn_spec *spec, struct tr_onramp_host *host, void **self,
                      struct tr_diag *d) {
    *self = NULL;
    struct tcp_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_tcp_server_cmap, &c, d);
    if (rc) return rc;
    const char *hostname = c.host;
    uint64_t port = c.port, max_conns = c.max_conns, idle_ms = c.idle_ms, budget = c.budget;
    uint64_t max_frame = c.max_frame;
    struct tr_tls_ctx *tls = NULL;
    uint64_t tls_hs_ms = 0;
    rc = tr_tls_server_config(spec, &tls, &tls_hs_ms, d);
    if (rc) return rc;
    /* Resolved and bound now, once, so a wrong host or a taken port is a
     * located error before anything runs; getaddrinfo may block briefly. */
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int g = getaddrinfo(hostname, portstr, &hints, &ai);
    if (g != 0) {
        tr_tls_ctx_destroy(tls);
        return tr_conn_cfg_fail(spec, "host", d, "'%.64s': %s", hostname, gai_strerror(g));
    }
    struct srv *s = tr_calloc(1, sizeof *s);
    size_t alen = strlen(hostname) + 16;
    if (s) {
        s->id = tr_strdup(spec->id ? spec->id : MOD);
        s->addr = tr_malloc(alen);
    }
    if (!s || !s->id || !s->addr) {
        freeaddrinfo(ai);
        tr_tls_ctx_destroy(tls);
        if (s) {
            tr_free(s->id);
            tr_free(s->addr);
        }
        tr_free(s);
        return -ENOMEM;
    }
    snprintf(s->addr, alen, strchr(hostname, ':') ? "[%s]:%u" : "%s:%u", hostname, (unsigned)port);
    s->host = host;
    s->loop = tr_onramp_loop(host);
    s->max_conns = max_conns;
    s->idle_ms = idle_ms;
    s->tls = tls;
    s->tls_hs_ms = tls_hs_ms;
    tr_budget_init(&s->budget, budget);
    /* A buffer holding a frame of max_frame bytes grows (by doubling) to
     * under 2 x max_frame; two buffering stages in a chain, twice that. */
    s->limits = (struct tr_preproc_limits){
        .max_frame = max_frame, .budget = &s->budget, .share = 4 * max_frame + 256,
        .log = &s->lim_drop};
    uv_timer_init(s->loop, &s->sweep);
    s->sweep.data = s;
    uv_tcp_init(s->loop, &s->listener.tcp);
    s->listener.h.data = s;
    s->handles = 2;
    rc = uv_tcp_bind(&s->listener.tcp, ai->ai_addr, 0);
    freeaddrinfo(ai);
    if (!rc) rc = uv_listen((uv_stream_t *)&s->listener, BACKLOG, on_connection);
    if (rc) {
        tr_diag_set(d, rc, spec->file, spec->line, spec->col, "tcp '%s': cannot listen on %s: %s",
                    spec->id, s->addr, uv_strerror(rc));
        /* the handles must be closed through the loop; nobody waits for them */
        s->closing = true;
        uv_close(&s->listener.h, on_handle_closed);
        uv_close((uv_handle_t *)&s->sweep, on_handle_closed);
        return rc;
    }
    struct sockaddr_storage sa;
    int salen = sizeof sa;
    unsigned bound = (unsigned)port;
    if (uv_tcp_getsockname(&s->listener.tcp, (struct sockaddr *)&sa, &salen) == 0)
        bound = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                               : ((struct sockaddr_in *)&sa)->sin_port);
    const char *sec = tls ? " with TLS" : "";
    if (port) TR_INFO(MOD, "%s: listening on %s%s", s->id, s->addr, sec);
    else TR_INFO(MOD, "%s: listening on %s (port %u)%s", s->id, s->addr, bound, sec);
    *self = s;
    return 0;
}


/* ----------------------------------------------------------- unix-socket */

struct unix_cfg {
    const char *path, *perms;
    uint64_t max_conns, idle_ms, budget, max_frame;
};

const struct tr_cmap_entry tr_unix_server_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR, "path", NULL, TR_CMAP_REQUIRED, offsetof(struct unix_cfg, path),
     "file system path of the socket")},
    {TR_CMAP_KEY(TR_CMAP_STR, "permissions", NULL, 0, offsetof(struct unix_cfg, perms),
     "octal mode of the socket file, e.g. \"0660\" (default: from the umask)")},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_connections", "1024", TR_CMAP_RANGE,
     offsetof(struct unix_cfg, max_conns), "peers at once; more are refused"),
     .lo = 1, .hi = LIMIT_MAX_CONNS},
    {TR_CMAP_KEY(TR_CMAP_U64, "idle_timeout_ms", "300000", TR_CMAP_RANGE,
     offsetof(struct unix_cfg, idle_ms), "ms without data before a peer is closed, 0: never"),
     .lo = 0, .hi = LIMIT_IDLE_MS},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_buffered_bytes", "134217728", TR_CMAP_RANGE,
     offsetof(struct unix_cfg, budget), "bytes held for all peers before reading pauses"),
     .lo = 1, .hi = (double)LIMIT_BUDGET},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_frame_size", "16777216", TR_CMAP_RANGE,
     offsetof(struct unix_cfg, max_frame), "largest frame (a line, a length-prefixed message) in bytes"),
     .lo = 1, .hi = (double)LIMIT_MAX_FRAME},
    {0},
};

/* "0660", "0o660" or "660": an octal mode up to 07777, or -1. */
static long parse_mode(const char *t) {
    if (t[0] == '0' && (t[1] == 'o' || t[1] == 'O')) t += 2;
    if (!*t || strlen(t) > 5) return -1;
    long m = 0;
    for (; *t; t++) {
        if (*t < '0' || *t > '7') return -1;
        m = m * 8 + (*t - '0');
    }
    return m <= 07777 ? m : -1;
}

static int unix_create(const struct tr_conn_spec *spec, struct tr_onramp_host *host, void **self,
                       struct tr_diag *d) {
    *self = NULL;
    if (spec->config == NULL || spec->config->type != TR_REC)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "Missing config for unix-socket onramp '%s': config.path is required", spec->id);
    struct unix_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_unix_server_cmap, &c, d);
    if (rc) return rc;
    long mode = c.perms ? parse_mode(c.perms) : 0;
    if (mode < 0)
        return tr_conn_cfg_fail(spec, "permissions", d, "must be an octal mode such as \"0660\"");
    /* sun_path holds 108 bytes with the NUL */
    if (!c.path[0] || strlen(c.path) > 107)
        return tr_conn_cfg_fail(spec, "path", d, "must be a path of 1 to 107 bytes");
    struct stat st;
    if (lstat(c.path, &st) == 0) {
        /* a stale socket of an earlier run goes; anything else is not ours */
        if (!S_ISSOCK(st.st_mode))
            return tr_conn_cfg_fail(spec, "path", d, "'%s' exists and is not a socket", c.path);
        if (unlink(c.path) != 0)
            return tr_conn_cfg_fail(spec, "path", d, "cannot remove the stale socket '%s': %s", c.path,
                                    strerror(errno));
        TR_INFO("unix-socket", "%s: removed the stale socket %s", spec->id, c.path);
    }
    struct srv *s = tr_calloc(1, sizeof *s);
    if (s) {
        s->id = tr_strdup(spec->id ? spec->id : "unix-socket");
        s->addr = tr_strdup(c.path);
    }
    if (!s || !s->id || !s->addr) {
        if (s) {
            tr_free(s->id);
            tr_free(s->addr);
        }
        tr_free(s);
        return -ENOMEM;
    }
    s->unix_sock = true;
    s->host = host;
    s->loop = tr_onramp_loop(host);
    s->max_conns = c.max_conns;
    s->idle_ms = c.idle_ms;
    tr_budget_init(&s->budget, c.budget);
    s->limits = (struct tr_preproc_limits){
        .max_frame = c.max_frame, .budget = &s->budget, .share = 4 * c.max_frame + 256,
        .log = &s->lim_drop};
    uv_timer_init(s->loop, &s->sweep);
    s->sweep.data = s;
    uv_pipe_init(s->loop, &s->listener.pipe, 0);
    s->listener.h.data = s;
    s->handles = 2;
    bool made = false;
    rc = uv_pipe_bind(&s->listener.pipe, c.path);
    if (!rc) made = true;
    if (!rc && c.perms && chmod(c.path, (mode_t)mode) != 0) rc = -errno;
    if (!rc) rc = uv_listen((uv_stream_t *)&s->listener, BACKLOG, on_connection);
    if (rc) {
        tr_diag_set(d, rc, spec->file, spec->line, spec->col, "unix-socket '%s': cannot listen on %s: %s",
                    spec->id, c.path, uv_strerror(rc));
        if (!made) {   /* not ours to remove */
            tr_free(s->addr);
            s->addr = NULL;
        }
        s->closing = true;
        uv_close(&s->listener.h, on_handle_closed);
        uv_close((uv_handle_t *)&s->sweep, on_handle_closed);
        return rc;
    }
    TR_INFO("unix-socket", "%s: listening on %s", s->id, c.path);
    *self = s;
    return 0;
}

/* ------------------------------------------------------------------ ops */

static int tcp_start(void *self) {
    struct srv *s = self;
    s->started = true;
    uint64_t every = s->idle_ms / 4;
    if (s->tls && (!every || s->tls_hs_ms / 4 < every)) every = s->tls_hs_ms / 4;
    if (!every || every > SWEEP_MAX_MS) every = SWEEP_MAX_MS;
    uv_timer_start(&s->sweep, on_sweep, every, every);
    for (struct client *cl = s->clients, *next; cl; cl = next) {
        next = cl->next;
        read_on(cl);
    }
    return 0;
}

static void tcp_trigger(void *self) {
    struct srv *s = self;
    s->paused = true;
    for (struct client *cl = s->clients; cl; cl = cl->next) {
        if (!cl->reading) continue;
        uv_read_stop((uv_stream_t *)&cl->u);
        cl->reading = false;
    }
}

static void tcp_restore(void *self) {
    struct srv *s = self;
    if (!s->paused) return;
    s->paused = false;
    for (struct client *cl = s->clients, *next; cl; cl = next) {
        next = cl->next;   /* read_on may drop cl */
        read_on(cl);   /* restarts its idle clock: nothing was read while paused */
    }
}

static void tcp_noop_id(void *self, uint64_t id) {
    (void)self;
    (void)id;
}

/* The runtime is told nothing more (no stream_end): it is closing us. */
static void tcp_close(void *self, void (*done)(void *), void *arg) {
    struct srv *s = self;
    if (s->closing) return;
    s->closing = true;
    s->done = done;
    s->done_arg = arg;
    uv_close(&s->listener.h, on_handle_closed);
    uv_close((uv_handle_t *)&s->sweep, on_handle_closed);
    while (s->clients) drop_client(s->clients);
}

static const struct tr_preproc_limits *tcp_stream_limits(void *self) {
    return &((struct srv *)self)->limits;
}

const struct tr_onramp_ops tr_tcp_onramp = {
    .type = "tcp",
    .transactional = false,
    .create = tcp_create,
    .start = tcp_start,
    .trigger = tcp_trigger,
    .restore = tcp_restore,
    .ack = tcp_noop_id,
    .fail = tcp_noop_id,
    .close = tcp_close,
    .stream_limits = tcp_stream_limits,
};

const struct tr_onramp_ops tr_unix_socket_onramp = {
    .type = "unix-socket",
    .transactional = false,
    .create = unix_create,
    .start = tcp_start,
    .trigger = tcp_trigger,
    .restore = tcp_restore,
    .ack = tcp_noop_id,
    .fail = tcp_noop_id,
    .close = tcp_close,
    .stream_limits = tcp_stream_limits,
};
