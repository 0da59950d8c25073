/* tcp_server.c - the `tcp` onramp: a TCP server (Tremor 0.11 keys: host,
 * port). Every connection is one stream: its bytes go through the
 * configured preprocessors (e.g. [lines]) with state of their own, and its
 * end flushes them (a last line without a newline is still an event).
 *
 * Backpressure: a breaker trigger stops reading on every connection (the
 * peers' TCP windows fill and they slow down), a restore reads again; new
 * connections are accepted meanwhile but not read. Not a responder: nothing
 * is written back. Invariant: a stream id is never reused, and the runtime
 * hears stream_end for every stream exactly once unless the onramp closes.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "connectors/conn.h"
#include "core/alloc.h"
#include "core/log.h"

#define MOD "tcp"
#define RBUF_SIZE 65536
#define MAX_CLIENTS 1024
#define BACKLOG 128

struct srv;

struct client {
    struct srv *s;
    uv_tcp_t tcp;
    uint64_t stream;
    bool reading, ended;
    struct client *prev, *next;
};

struct srv {
    struct tr_onramp_host *host;
    uv_loop_t *loop;
    char *id;
    char *addr;              /* host:port, for messages */
    uv_tcp_t listener;
    struct client *clients;
    size_t nclients;
    uint64_t next_stream;
    uint64_t refused;        /* connections over MAX_CLIENTS */
    int handles;             /* open uv handles: the listener and every client */
    bool started, paused, closing;
    void (*done)(void *);
    void *done_arg;
    char rbuf[RBUF_SIZE];    /* one read at a time: libuv reads then calls back */
};

static void maybe_done(struct srv *s) {
    if (!s->closing || s->handles) return;
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    tr_free(s->addr);
    tr_free(s->id);
    tr_free(s);
    if (done) done(arg);
}

/* ------------------------------------------------------------- clients */

static void on_client_closed(uv_handle_t *h) {
    struct client *cl = h->data;
    struct srv *s = cl->s;
    tr_free(cl);
    s->handles--;
    maybe_done(s);
}

static void drop_client(struct client *cl) {
    struct srv *s = cl->s;
    if (cl->prev) cl->prev->next = cl->next;
    else s->clients = cl->next;
    if (cl->next) cl->next->prev = cl->prev;
    s->nclients--;
    uv_close((uv_handle_t *)&cl->tcp, on_client_closed);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    (void)hint;
    struct client *cl = h->data;
    *buf = uv_buf_init(cl->s->rbuf, sizeof cl->s->rbuf);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
    struct client *cl = st->data;
    struct srv *s = cl->s;
    if (n > 0) {
        tr_onramp_emit_bytes(s->host, cl->stream, buf->base, (size_t)n, tr_v_null());
        return;
    }
    if (n == 0) return;
    if (n != UV_EOF) TR_DEBUG(MOD, "%s: stream %llu: %s", s->id, (unsigned long long)cl->stream, uv_strerror((int)n));
    uv_read_stop(st);
    cl->reading = false;
    cl->ended = true;
    tr_onramp_stream_end(s->host, cl->stream);
    if (!s->closing) drop_client(cl);
}

static void read_on(struct client *cl) {
    struct srv *s = cl->s;
    if (cl->reading || cl->ended || !s->started || s->paused || s->closing) return;
    int rc = uv_read_start((uv_stream_t *)&cl->tcp, on_alloc, on_read);
    if (rc) {
        TR_WARN(MOD, "%s: cannot read stream %llu: %s", s->id, (unsigned long long)cl->stream,
                uv_strerror(rc));
        cl->ended = true;
        tr_onramp_stream_end(s->host, cl->stream);
        drop_client(cl);
        return;
    }
    cl->reading = true;
}

static void on_connection(uv_stream_t *l, int status) {
    struct srv *s = l->data;
    if (s->closing) return;
    if (status < 0) {
        TR_WARN(MOD, "%s: accepting on %s failed: %s", s->id, s->addr, uv_strerror(status));
        return;
    }
    struct client *cl = tr_calloc(1, sizeof *cl);
    if (!cl || uv_tcp_init(s->loop, &cl->tcp) != 0) {
        /* the pending connection stays in the backlog until memory returns */
        TR_ERROR(MOD, "%s: cannot take a connection (out of memory)", s->id);
        tr_free(cl);
        return;
    }
    cl->s = s;
    cl->tcp.data = cl;
    s->handles++;
    if (uv_accept(l, (uv_stream_t *)&cl->tcp) != 0) {
        uv_close((uv_handle_t *)&cl->tcp, on_client_closed);
        return;
    }
    if (s->nclients >= MAX_CLIENTS) {
        if (s->refused++ == 0)
            TR_WARN(MOD, "%s: more than %d connections: closing new ones", s->id, MAX_CLIENTS);
        uv_close((uv_handle_t *)&cl->tcp, on_client_closed);
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

static void on_listener_closed(uv_handle_t *h) {
    struct srv *s = h->data;
    s->handles--;
    maybe_done(s);
}

static int tcp_create(const struct tr_conn_spec *spec, struct tr_onramp_host *host, void **self,
                      struct tr_diag *d) {
    *self = NULL;
    static const char *const keys[] = {"host", "port", NULL};
    int rc = tr_conn_cfg_known(spec, keys, d);
    if (rc) return rc;
    const char *hostname = "127.0.0.1";
    uint64_t port = 0;
    if ((rc = tr_conn_cfg_str(spec, "host", &hostname, d)) && rc != TR_ENOTFOUND) return rc;
    rc = tr_conn_cfg_uint(spec, "port", &port, d);
    if (rc == TR_ENOTFOUND)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "tcp '%s': config.port is required", spec->id);
    if (rc) return rc;
    if (port > 65535)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "tcp '%s': config.port must be 0..65535", spec->id);
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
    if (g != 0)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "tcp '%s': config.host '%s': %s", spec->id, hostname, gai_strerror(g));
    struct srv *s = tr_calloc(1, sizeof *s);
    size_t alen = strlen(hostname) + 16;
    if (s) {
        s->id = tr_strdup(spec->id ? spec->id : MOD);
        s->addr = tr_malloc(alen);
    }
    if (!s || !s->id || !s->addr) {
        freeaddrinfo(ai);
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
    uv_tcp_init(s->loop, &s->listener);
    s->listener.data = s;
    s->handles = 1;
    rc = uv_tcp_bind(&s->listener, ai->ai_addr, 0);
    freeaddrinfo(ai);
    if (!rc) rc = uv_listen((uv_stream_t *)&s->listener, BACKLOG, on_connection);
    if (rc) {
        tr_diag_set(d, rc, spec->file, spec->line, spec->col, "tcp '%s': cannot listen on %s: %s",
                    spec->id, s->addr, uv_strerror(rc));
        /* the handle must be closed through the loop; nobody waits for it */
        s->closing = true;
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
        return rc;
    }
    struct sockaddr_storage sa;
    int salen = sizeof sa;
    unsigned bound = (unsigned)port;
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&sa, &salen) == 0)
        bound = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                               : ((struct sockaddr_in *)&sa)->sin_port);
    if (port) TR_INFO(MOD, "%s: listening on %s", s->id, s->addr);
    else TR_INFO(MOD, "%s: listening on %s (port %u)", s->id, s->addr, bound);
    *self = s;
    return 0;
}

/* ------------------------------------------------------------------ ops */

static int tcp_start(void *self) {
    struct srv *s = self;
    s->started = true;
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
        uv_read_stop((uv_stream_t *)&cl->tcp);
        cl->reading = false;
    }
}

static void tcp_restore(void *self) {
    struct srv *s = self;
    if (!s->paused) return;
    s->paused = false;
    for (struct client *cl = s->clients, *next; cl; cl = next) {
        next = cl->next;   /* read_on may drop cl */
        read_on(cl);
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
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    while (s->clients) drop_client(s->clients);
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
};
