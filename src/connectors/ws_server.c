/* ws_server.c - the ws onramp: a WebSocket server; every complete text or
 * binary message from any client becomes one emit_bytes() on that client's
 * stream (the runtime decodes it).
 *
 * Not an HTTP server (anything but a GET upgrade gets 400; the path is
 * ignored) and not transactional. Backpressure: trigger stops reading from
 * every client, restore resumes, so a slow pipeline slows the peers down
 * through TCP. Invariant: bytes read but not yet given to wslay stay in the
 * connection's read buffer, and no new read happens until they are used up.
 * Hogging peers are bounded: at most max_connections at once (more are
 * accepted and closed at once), and one repeating sweep timer closes those
 * that have not finished the upgrade within handshake_timeout_ms.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <uv.h>
#include <wslay/wslay.h>

#include "connectors/conn.h"
#include "connectors/ws_int.h"
#include "core/alloc.h"
#include "core/log.h"

#define MOD "ws"
#define DEFAULT_MAX_MSG ((uint64_t)16 << 20)
#define LIMIT_MAX_MSG ((uint64_t)1 << 31)
#define MAX_OUT ((size_t)1 << 20)     /* unsent control frames before we give up on a peer */
#define CLOSE_WAIT_MS 1000
#define RBUF_SIZE 65536
#define DEFAULT_HS_TIMEOUT_MS 10000
#define LIMIT_HS_TIMEOUT_MS 600000
#define SWEEP_MAX_MS 250
#define DEFAULT_MAX_CONNS 1024
#define LIMIT_MAX_CONNS 65536
#define REFUSED_LOG_EVERY 1000

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
    const uint8_t *in;           /* unread bytes of rbuf */
    size_t in_len;
    struct tr_buf out;
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
    uint64_t hs_timeouts;        /* connections closed by the sweep */
    uint64_t refused;            /* connections closed for max_conns */
    uv_tcp_t listener;
    bool listener_init;
    uv_timer_t resume, deadline, sweep;
    bool deadline_closing;
    int handles;                 /* listener + timers + refused sockets not yet closed */
    uint64_t nconns;
    struct sconn *conns;
    uint64_t next_stream;
    bool paused, closing;
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
    tr_buf_fini(&c->out);
    tr_free(c->head);
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

/* "addr:port" of the peer, or "unknown peer" (it may have gone already). */
static void peer_name(uv_tcp_t *t, char *out, size_t n) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char ip[64];
    unsigned port = 0;
    if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len) == 0 &&
        uv_ip_name((struct sockaddr *)&ss, ip, sizeof ip) == 0) {
        if (ss.ss_family == AF_INET6) {
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
            snprintf(out, n, "[%s]:%u", ip, port);
        } else {
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            snprintf(out, n, "%s:%u", ip, port);
        }
        return;
    }
    snprintf(out, n, "unknown peer");
}

/* End a connection. graceful: let queued writes (a close frame, a 400)
 * reach the peer and send FIN before closing; otherwise close at once. */
static void conn_end(struct sconn *c, bool graceful) {
    if (c->st == S_CLOSING) return;
    c->st = S_CLOSING;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (c->ws && !c->in_wslay) {
        wslay_event_context_free(c->ws);
        c->ws = NULL;
    }
    c->in_len = 0;
    if (c->stream_open) {
        c->stream_open = false;
        tr_onramp_stream_end(c->s->host, c->stream);
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

static int flush(struct sconn *c) {
    if (!c->out.len) return 0;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > MAX_OUT) return TR_EFULL;
    struct swreq *w = tr_malloc(sizeof *w);
    if (!w) return -ENOMEM;
    size_t n;
    w->c = c;
    w->data = tr_buf_steal(&c->out, &n);
    if (!w->data) {
        tr_free(w);
        return -ENOMEM;
    }
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        tr_free(w->data);
        tr_free(w);
    }
    return rc;
}

/* ----------------------------------------------------- wslay callbacks */

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user) {
    (void)flags;
    struct sconn *c = user;
    /* Paused: leave the bytes where they are (backpressure). */
    if (!c->in_len || c->s->paused) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < c->in_len ? len : c->in_len;
    memcpy(buf, c->in, n);
    c->in += n;
    c->in_len -= n;
    return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user) {
    (void)flags;
    struct sconn *c = user;
    if (tr_buf_append(&c->out, data, len) != 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *user) {
    (void)ctx;
    struct sconn *c = user;
    if (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME) return;
    if (c->st != S_OPEN) return;
    /* wslay has checked text for UTF-8 already (1007 otherwise). */
    tr_onramp_emit_bytes(c->s->host, c->stream, arg->msg, arg->msg_length, tr_v_null());
}

static const struct wslay_event_callbacks callbacks = {
    .recv_callback = recv_cb,
    .send_callback = send_cb,
    .on_msg_recv_callback = on_msg,
};

/* ----------------------------------------------------------------- input */

static void reject(struct sconn *c, int status, const char *why) {
    TR_INFO(MOD, "ws onramp '%s': refused a connection (%d): %s", c->s->id, status, why);
    c->in_len = 0;
    if (tr_ws_reject_build(&c->out, status) != 0 || flush(c) != 0) {
        conn_end(c, false);
        return;
    }
    conn_end(c, true);
}

static void handshake(struct sconn *c) {
    size_t used;
    int r = tr_ws_head_feed(c->head, c->in, c->in_len, &used);
    if (r == TR_ETOOBIG) {
        reject(c, 400, "request head too large");
        return;
    }
    c->in += used;
    c->in_len -= used;
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
    if (tr_ws_response_build(&c->out, req.key) != 0 || flush(c) != 0 ||
        wslay_event_context_server_init(&c->ws, &callbacks, c) != 0) {
        c->ws = NULL;
        conn_end(c, false);
        return;
    }
    wslay_event_config_set_max_recv_msg_length(c->ws, c->s->max_msg);
    c->st = S_OPEN;
    c->stream_open = true;
}

/* Feed unread bytes (and whatever wslay buffered) through wslay. */
static void process(struct sconn *c) {
    if (c->st == S_HEAD) handshake(c);
    if (c->st != S_OPEN) return;
    c->in_wslay = true;
    int r = wslay_event_recv(c->ws);
    c->in_wslay = false;
    if (c->st != S_OPEN) {
        /* the host closed us from emit: the context is ours to free now */
        wslay_event_context_free(c->ws);
        c->ws = NULL;
        return;
    }
    int w = wslay_event_send(c->ws);
    if (r != 0 || w != 0 || flush(c) != 0) {
        conn_end(c, false);
        return;
    }
    /* Close handshake done, or wslay gave up (1002/1007/1009 sent). */
    if (!wslay_event_want_read(c->ws) && !wslay_event_want_write(c->ws)) conn_end(c, true);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    (void)hint;
    struct sconn *c = h->data;
    *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
    struct sconn *c = st->data;
    if (c->st == S_CLOSING || nread == 0) return;
    if (nread < 0) {
        conn_end(c, false);
        return;
    }
    c->in = (const uint8_t *)buf->base;
    c->in_len = (size_t)nread;
    process(c);
    /* Paused mid-buffer: reading stays off until those bytes are used. */
    if (c->st != S_CLOSING && c->in_len) uv_read_stop(st);
}

/* Over max_conns: accept anyway (libuv stops watching the listener until
 * the pending connection is taken) and close it at once. */
static void refuse(struct in *s, uv_stream_t *server) {
    s->refused++;
    if (s->refused % REFUSED_LOG_EVERY == 1)
        TR_WARN(MOD, "ws onramp '%s': %llu connections open (max_connections), refused one "
                "(%llu refused so far)", s->id, (unsigned long long)s->nconns,
                (unsigned long long)s->refused);
    uv_tcp_t *t = tr_malloc(sizeof *t);
    if (!t || uv_tcp_init(s->loop, t) != 0) {
        tr_free(t);
        /* Like the out-of-memory case in on_connection: libuv keeps the
         * listener idle until an accept succeeds. */
        TR_WARN(MOD, "ws onramp '%s': out of memory, connection not accepted", s->id);
        return;
    }
    t->data = s;
    s->handles++;
    (void)uv_accept(server, (uv_stream_t *)t);
    uv_close((uv_handle_t *)t, on_refused_close);
}

static void on_connection(uv_stream_t *server, int status) {
    struct in *s = server->data;
    if (status < 0) {
        TR_WARN(MOD, "ws onramp '%s': accept failed: %s", s->id, uv_strerror(status));
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
        TR_WARN(MOD, "ws onramp '%s': out of memory, connection refused", s->id);
        return;
    }
    c->s = s;
    c->tcp.data = c;
    c->head = head;
    tr_ws_head_init(head);
    tr_buf_init(&c->out);
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
    uv_tcp_nodelay(&c->tcp, 1);
    if (!s->paused && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) conn_end(c, false);
}

/* ------------------------------------------------------------------ ops */

static void on_resume(uv_timer_t *t) {
    struct in *s = t->data;
    /* Nothing was read from them while paused: not their fault. */
    uint64_t now = uv_now(s->loop);
    for (struct sconn *c = s->conns; c; c = c->next)
        if (c->st == S_HEAD) c->born = now;
    /* Handles are freed only in close callbacks, so next stays valid. */
    for (struct sconn *c = s->conns, *next; c && !s->paused && !s->closing; c = next) {
        next = c->next;
        if (c->st == S_CLOSING) continue;
        if (c->st == S_OPEN || c->in_len) process(c);
        if (c->st != S_CLOSING && !s->paused && !c->in_len)
            uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
}

static void ws_trigger(void *self) {
    struct in *s = self;
    if (s->paused) return;
    s->paused = true;
    uv_timer_stop(&s->resume);
    for (struct sconn *c = s->conns; c; c = c->next)
        if (c->st != S_CLOSING) uv_read_stop((uv_stream_t *)&c->tcp);
}

static void ws_restore(void *self) {
    struct in *s = self;
    if (!s->paused || s->closing) return;
    s->paused = false;
    /* Later, not here: bytes held back must not be emitted from inside the
     * host's own restore call. */
    uv_timer_start(&s->resume, on_resume, 0, 0);
}

/* The handshake timeout: one repeating timer for all connections, so the
 * cost is one list walk per tick rather than a timer per connection. */
static void on_sweep(uv_timer_t *t) {
    struct in *s = t->data;
    /* Paused, we read from nobody, so nobody is timed out (on_resume
     * restarts their clocks). */
    if (s->paused || s->closing) return;
    uint64_t now = uv_now(s->loop);
    for (struct sconn *c = s->conns, *next; c; c = next) {
        next = c->next;   /* conn_end frees nothing: that waits for the close callback */
        if (c->st != S_HEAD || now - c->born < s->hs_timeout_ms) continue;
        char peer[96];
        peer_name(&c->tcp, peer, sizeof peer);
        s->hs_timeouts++;
        TR_WARN(MOD, "ws onramp '%s': closed %s: no WebSocket upgrade within %llu ms "
                "(%llu such so far)", s->id, peer, (unsigned long long)s->hs_timeout_ms,
                (unsigned long long)s->hs_timeouts);
        conn_end(c, false);
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
    if (every > SWEEP_MAX_MS) every = SWEEP_MAX_MS;
    if (every == 0) every = 1;
    uv_timer_start(&s->sweep, on_sweep, every, every);
    TR_INFO(MOD, "ws onramp '%s' listening on %s:%u", s->id, s->bind_host,
            (unsigned)tr_ws_onramp_port(s));
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

static void ws_ack(void *self, uint64_t id) {
    (void)self;
    (void)id;
}

/* config.key, when present, into *out (which holds the default), checked
 * against lo..hi. */
static int cfg_range(const struct tr_conn_spec *spec, const char *key, uint64_t lo, uint64_t hi,
                     uint64_t *out, struct tr_diag *d) {
    int rc = tr_conn_cfg_uint(spec, key, out, d);
    if (rc && rc != TR_ENOTFOUND) return rc;
    if (*out < lo || *out > hi)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "%s '%s': config.%s must be between %llu and %llu", spec->type,
                           spec->id, key, (unsigned long long)lo, (unsigned long long)hi);
    return 0;
}

static int ws_create(const struct tr_conn_spec *spec, struct tr_onramp_host *host, void **self,
                     struct tr_diag *d) {
    *self = NULL;
    static const char *const keys[] = {"host", "port", "max_message_size",
                                       "handshake_timeout_ms", "max_connections", NULL};
    int rc = tr_conn_cfg_known(spec, keys, d);
    if (rc) return rc;
    const char *bind = "127.0.0.1";
    rc = tr_conn_cfg_str(spec, "host", &bind, d);
    if (rc && rc != TR_ENOTFOUND) return rc;
    uint64_t port = 0, max_msg = DEFAULT_MAX_MSG;
    rc = tr_conn_cfg_uint(spec, "port", &port, d);
    if (rc == TR_ENOTFOUND)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "%s '%s': config.port is required", spec->type, spec->id);
    if (rc) return rc;
    if (port > 65535)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "%s '%s': config.port must be at most 65535", spec->type, spec->id);
    rc = tr_conn_cfg_uint(spec, "max_message_size", &max_msg, d);
    if (rc && rc != TR_ENOTFOUND) return rc;
    if (max_msg == 0 || max_msg > LIMIT_MAX_MSG)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "%s '%s': config.max_message_size must be between 1 and %llu",
                           spec->type, spec->id, (unsigned long long)LIMIT_MAX_MSG);
    uint64_t hs_timeout = DEFAULT_HS_TIMEOUT_MS, max_conns = DEFAULT_MAX_CONNS;
    rc = cfg_range(spec, "handshake_timeout_ms", 1, LIMIT_HS_TIMEOUT_MS, &hs_timeout, d);
    if (rc) return rc;
    rc = cfg_range(spec, "max_connections", 1, LIMIT_MAX_CONNS, &max_conns, d);
    if (rc) return rc;
    struct sockaddr_in6 probe;
    const char *h = strcasecmp(bind, "localhost") == 0 ? "127.0.0.1" : bind;
    if (uv_ip4_addr(h, 0, (struct sockaddr_in *)&probe) != 0 && uv_ip6_addr(h, 0, &probe) != 0)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "%s '%s': config.host must be an IP address or localhost", spec->type,
                           spec->id);
    struct in *s = tr_calloc(1, sizeof *s);
    if (!s) return -ENOMEM;
    s->bind_host = tr_strdup(bind);
    s->id = tr_strdup(spec->id ? spec->id : "ws");
    if (!s->bind_host || !s->id) {
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
    uv_timer_init(s->loop, &s->resume);
    uv_timer_init(s->loop, &s->deadline);
    uv_timer_init(s->loop, &s->sweep);
    s->resume.data = s->deadline.data = s->sweep.data = s;
    s->handles = 3;
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
    .create = ws_create,
    .start = ws_start,
    .trigger = ws_trigger,
    .restore = ws_restore,
    .ack = ws_ack,
    .fail = ws_ack,
    .close = ws_close,
};
