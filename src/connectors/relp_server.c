/* relp_server.c - the `relp` onramp (beyond 0.11): a RELP server, the
 * Reliable Event Logging Protocol rsyslog's omrelp speaks. Each `syslog`
 * command is one message: its data goes through the codec (default
 * `syslog`) and preprocessors on the connection's stream, and it is
 * answered `200 OK` only once the pipeline has acknowledged every event it
 * became (e.g. a qos::wal made them durable). So what the sender was told
 * is stored is stored; what it was not told, it sends again.
 *
 * Answers go out in the order the messages came (connectors/ledger.h keeps
 * them); a message whose event failed downstream ends the connection after
 * the answers of the messages before it, and the sender (librelp) resends
 * everything unanswered on its next connection. The onramp is
 * transactional: its events carry acks back.
 *
 * Bounds: a frame's data over max_message_size, a malformed frame, no
 * `open` within open_timeout_ms or silence for idle_timeout_ms (while
 * nothing waits for an answer) end the connection, logged and counted;
 * at most max_connections peers; a connection with `window` messages
 * unanswered is not read until answers go out (the sender's own window,
 * rsyslog's 128 by default, normally keeps below it); a breaker trigger
 * stops reading everywhere. Invariant: every noted message is answered or
 * its connection ends; a stream id is never reused.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <uv.h>

#include "config/cmap.h"
#include "connectors/conn.h"
#include "connectors/ledger.h"
#include "connectors/relp_frame.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/ring.h"

#define MOD "relp"
#define RBUF_SIZE 65536
#define SWEEP_MS 250
#define MAX_OUT ((size_t)4 << 20)   /* answers the peer does not read before we give up on it */
#define LIMIT_MAX_CONNS 65536
#define LIMIT_MS 86400000
#define LIMIT_MAX_MSG ((uint64_t)1 << 30)
#define LIMIT_WINDOW 1048576

struct relp;

struct rconn {
    struct relp *s;
    struct rconn *prev, *next;   /* in s->conns until the handle is closed */
    uv_tcp_t tcp;
    uv_shutdown_t shut;
    uint64_t stream;
    uint64_t born, last_rx;
    bool opened, reading, ending, failed, stream_open;
    bool close_asked;            /* the peer sent `close`: answer once the rest are */
    uint64_t close_txnr;
    struct tr_relp_parser parser;
    struct tr_ring waiting;      /* txnr of each message not yet answered, oldest first */
    struct tr_buf out;           /* answers for the end of the loop turn */
    const char *in;              /* bytes read but not yet parsed (paused, window full) */
    size_t in_len;
    char rbuf[RBUF_SIZE];
};

struct wreq {
    uv_write_t req;
    char *data;
};

struct relp {
    struct tr_onramp_host *host;
    uv_loop_t *loop;
    char *id, *bind_host;
    uint64_t port, max_msg, max_conns, idle_ms, open_ms, window;
    uint64_t refused, malformed, too_big, timeouts, failed, slow;
    struct tr_log_limit lim_refused, lim_bad, lim_big, lim_timeout, lim_failed;
    struct tr_ledger ledger;
    uv_tcp_t listener;
    bool listener_init;
    uv_timer_t sweep;
    uv_prepare_t flush;
    int handles;                 /* listener, sweep, flush, connections being closed */
    struct rconn *conns;
    uint64_t nconns, next_stream;
    bool paused, closing;
    void (*done)(void *);
    void *done_arg;
};

static void process(struct rconn *c);

/* ------------------------------------------------------------ lifecycle */

static void maybe_done(struct relp *s) {
    if (!s->closing || s->handles || s->conns) return;
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    tr_ledger_fini(&s->ledger);
    tr_free(s->bind_host);
    tr_free(s->id);
    tr_free(s);
    if (done) done(arg);
}

static void on_handle_close(uv_handle_t *h) {
    struct relp *s = h->data;
    s->handles--;
    maybe_done(s);
}

static void on_conn_close(uv_handle_t *h) {
    struct rconn *c = h->data;
    struct relp *s = c->s;
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->nconns--;
    tr_ledger_forget(&s->ledger, c);
    tr_relp_parser_fini(&c->parser);
    tr_ring_fini(&c->waiting);
    tr_buf_fini(&c->out);
    tr_free(c);
    maybe_done(s);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
    (void)status;
    struct rconn *c = req->data;
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, on_conn_close);
}

/* End a connection; graceful: what was written (answers) reaches the peer
 * before our FIN. Unanswered messages stay in the ledger: their acks are
 * ignored, the peer resends them. */
static void conn_end(struct rconn *c, bool graceful) {
    if (c->ending) return;
    c->ending = true;
    c->in_len = 0;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
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
    struct wreq *w = (struct wreq *)req;
    struct rconn *c = req->data;
    tr_free(w->data);
    tr_free(w);
    if (status < 0 && !c->ending) conn_end(c, false);
}

static int write_out(struct rconn *c) {
    if (!c->out.len || c->ending) return 0;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > MAX_OUT) return TR_EFULL;
    struct wreq *w = tr_malloc(sizeof *w);
    if (!w) return -ENOMEM;
    size_t n;
    w->data = tr_buf_steal(&c->out, &n);
    if (!w->data) {
        tr_free(w);
        return -ENOMEM;
    }
    w->req.data = c;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc) {
        tr_free(w->data);
        tr_free(w);
    }
    return rc;
}

/* One answer: "txnr rsp len text". */
static int answer(struct rconn *c, uint64_t txnr, const char *text) {
    return tr_buf_printf(&c->out, "%llu rsp %zu%s%s\n", (unsigned long long)txnr, strlen(text),
                         *text ? " " : "", text);
}

static void on_flush(uv_prepare_t *p);

static void want_flush(struct relp *s) {
    if (!s->closing) uv_prepare_start(&s->flush, on_flush);
}

/* End of the loop turn: write each connection's answers; end those whose
 * message failed or that asked to close and are answered; read again where
 * the window opened. */
static void on_flush(uv_prepare_t *p) {
    struct relp *s = p->data;
    uv_prepare_stop(p);
    for (struct rconn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->ending) continue;
        bool end = c->failed;
        if (!end && c->close_asked && !tr_ring_len(&c->waiting)) {
            end = true;
            if (answer(c, c->close_txnr, "") != 0) {
                conn_end(c, false);
                continue;
            }
        }
        int rc = write_out(c);
        if (rc) {
            s->slow++;
            tr_log_limited(&s->lim_bad, TR_LOG_WARN, MOD,
                           "%s: closed stream %llu: cannot write its answers (%s)", s->id,
                           (unsigned long long)c->stream, rc == TR_EFULL ? "the peer does not read them"
                                                                          : tr_strerror(rc));
            conn_end(c, false);
            continue;
        }
        if (end) conn_end(c, true);
        else if (c->in_len || !c->reading) process(c);
    }
}

/* ------------------------------------------------------------ answers */

static void settled(void *arg, void *conn, enum tr_ledger_outcome o) {
    struct relp *s = arg;
    struct rconn *c = conn;
    uint64_t txnr;
    if (c->ending || c->failed || !tr_ring_pop(&c->waiting, &txnr)) return;
    if (o == TR_LEDGER_FAILED) {
        /* the peer resends this one and every later one on its next connection */
        c->failed = true;
        s->failed++;
        tr_log_limited(&s->lim_failed, TR_LOG_WARN, MOD,
                       "%s: closing stream %llu: message %llu failed downstream; the sender "
                       "resends it (%llu such so far)", s->id, (unsigned long long)c->stream,
                       (unsigned long long)txnr, (unsigned long long)s->failed);
        return;
    }
    if (answer(c, txnr, "200 OK") != 0) c->failed = true;
}

static void relp_ack_range(void *self, uint64_t min, uint64_t max) {
    struct relp *s = self;
    tr_ledger_ack(&s->ledger, min, max);
    if (tr_ledger_settle(&s->ledger, settled, s)) want_flush(s);
}

static void relp_ack(void *self, uint64_t id) { relp_ack_range(self, id, id); }

static void relp_fail(void *self, uint64_t id) {
    struct relp *s = self;
    tr_ledger_fail(&s->ledger, id);
    if (tr_ledger_settle(&s->ledger, settled, s)) want_flush(s);
}

/* ----------------------------------------------------------------- input */

static void bad_peer(struct rconn *c, uint64_t *count, const char *why) {
    struct relp *s = c->s;
    char peer[96];
    tr_conn_peer_name(&c->tcp, peer, sizeof peer);
    (*count)++;
    tr_log_limited(count == &s->too_big ? &s->lim_big : &s->lim_bad, TR_LOG_WARN, MOD, "%s: closed %s (stream %llu): %s (%llu such so far)",
                   s->id, peer, (unsigned long long)c->stream, why, (unsigned long long)*count);
    conn_end(c, false);
}

static void relp_trigger(void *self);

/* One frame from the peer. */
static void on_frame(struct rconn *c, const struct tr_relp_frame *f) {
    struct relp *s = c->s;
    int rc = 0;
    if (strcmp(f->cmd, "open") == 0) {
        rc = answer(c, f->txnr, "200 OK\nrelp_version=0\nrelp_software=tremor-c\ncommands=syslog");
        c->opened = true;
    } else if (!c->opened) {
        /* nothing is taken before the session is open (librelp does the same) */
        (void)answer(c, f->txnr, "500 session not open");
        c->failed = true;
    } else if (strcmp(f->cmd, "syslog") == 0) {
        uint64_t first = tr_onramp_next_id(s->host);
        c->stream_open = true;
        int er = tr_onramp_emit_bytes(s->host, c->stream, f->data, f->len, tr_v_null());
        uint64_t end = tr_onramp_next_id(s->host);
        if (c->ending) return;   /* the host closed us from emit */
        rc = tr_ledger_note(&s->ledger, c, first, end);
        if (!rc) rc = tr_ring_push(&c->waiting, &f->txnr);
        if (er == TR_ONRAMP_PAUSED) relp_trigger(s);
        else if (er < 0) {
            bad_peer(c, &s->too_big, "its message passed the preprocessors' limits");
            return;
        }
        /* a message that became no event is answered once those before it are */
        if (!rc && tr_ledger_settle(&s->ledger, settled, s)) want_flush(s);
    } else if (strcmp(f->cmd, "close") == 0) {
        c->close_asked = true;
        c->close_txnr = f->txnr;
        want_flush(s);
    } else {
        rc = answer(c, f->txnr, "500 command not supported");
    }
    if (rc) {
        bad_peer(c, &s->malformed, tr_strerror(rc));
        return;
    }
    want_flush(s);
}

static bool may_read(const struct rconn *c) {
    return !c->ending && !c->failed && !c->close_asked && !c->s->paused && !c->s->closing &&
           tr_ring_len(&c->waiting) < c->s->window;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    (void)hint;
    struct rconn *c = h->data;
    *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

/* Parse what was read while allowed; stop reading (keeping the rest of
 * rbuf) when not, read again when all of it is used. */
static void process(struct rconn *c) {
    struct relp *s = c->s;
    while (c->in_len && may_read(c)) {
        size_t used = 0;
        struct tr_relp_frame f;
        struct tr_diag d;
        tr_diag_clear(&d);
        int r = tr_relp_parse(&c->parser, c->in, c->in_len, &used, &f, &d);
        c->in += used;
        c->in_len -= used;
        if (r == 1) {
            on_frame(c, &f);
            continue;
        }
        if (r < 0) {
            bad_peer(c, r == TR_ETOOBIG ? &s->too_big : &s->malformed, d.msg[0] ? d.msg : tr_strerror(r));
            return;
        }
    }
    if (c->ending) return;
    bool go = !c->in_len && may_read(c);
    if (go && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
            conn_end(c, false);
            return;
        }
        c->reading = true;
        c->last_rx = uv_now(s->loop);   /* its idle clock runs from here */
    } else if (!go && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
    struct rconn *c = st->data;
    if (c->ending || n == 0) return;
    if (n < 0) {
        conn_end(c, false);
        return;
    }
    c->last_rx = uv_now(c->s->loop);
    c->in = buf->base;
    c->in_len = (size_t)n;
    process(c);
}

static void on_refused_close(uv_handle_t *h) {
    struct relp *s = h->data;
    tr_free(h);
    s->handles--;
    maybe_done(s);
}

static void on_connection(uv_stream_t *l, int status) {
    struct relp *s = l->data;
    if (status < 0 || s->closing) return;
    if (s->nconns >= s->max_conns) {
        s->refused++;
        tr_log_limited(&s->lim_refused, TR_LOG_WARN, MOD,
                       "%s: %llu connections open (max_connections), reset a new one (%llu such so far)",
                       s->id, (unsigned long long)s->nconns, (unsigned long long)s->refused);
        uv_tcp_t *t = tr_malloc(sizeof *t);
        if (!t || uv_tcp_init(s->loop, t) != 0) {
            tr_free(t);
            return;   /* libuv keeps the listener idle until an accept succeeds */
        }
        t->data = s;
        s->handles++;
        if (uv_accept(l, (uv_stream_t *)t) != 0 || uv_tcp_close_reset(t, on_refused_close) != 0)
            uv_close((uv_handle_t *)t, on_refused_close);
        return;
    }
    struct rconn *c = tr_calloc(1, sizeof *c);
    if (!c || uv_tcp_init(s->loop, &c->tcp) != 0) {
        tr_free(c);
        return;
    }
    c->s = s;
    c->tcp.data = c;
    tr_relp_parser_init(&c->parser, s->max_msg);
    tr_ring_init(&c->waiting, sizeof(uint64_t));
    tr_buf_init(&c->out);
    c->stream = ++s->next_stream;
    c->born = c->last_rx = uv_now(s->loop);
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
        conn_end(c, false);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    process(c);
}

/* No `open` in time, or silence while nothing waits for an answer. */
static void on_sweep(uv_timer_t *t) {
    struct relp *s = t->data;
    tr_log_limit_flush(&s->lim_refused);
    tr_log_limit_flush(&s->lim_bad);
    tr_log_limit_flush(&s->lim_big);
    tr_log_limit_flush(&s->lim_timeout);
    tr_log_limit_flush(&s->lim_failed);
    uint64_t now = uv_now(s->loop);
    for (struct rconn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->ending || !c->reading) continue;
        const char *why = NULL;
        if (!c->opened && now - c->born >= s->open_ms) why = "no RELP open within open_timeout_ms";
        else if (s->idle_ms && now - c->last_rx >= s->idle_ms && !tr_ring_len(&c->waiting))
            why = "nothing received within idle_timeout_ms";
        if (why) {
            s->timeouts++;
            tr_log_limited(&s->lim_timeout, TR_LOG_WARN, MOD, "%s: closed stream %llu: %s (%llu such so far)",
                           s->id, (unsigned long long)c->stream, why, (unsigned long long)s->timeouts);
            conn_end(c, false);
        }
    }
}

/* ------------------------------------------------------------------ ops */

static int relp_start(void *self) {
    struct relp *s = self;
    if (s->listener_init || s->closing) return 0;
    struct sockaddr_storage ss;
    const char *h = strcasecmp(s->bind_host, "localhost") == 0 ? "127.0.0.1" : s->bind_host;
    int rc = uv_ip4_addr(h, (int)s->port, (struct sockaddr_in *)&ss);
    if (rc) rc = uv_ip6_addr(h, (int)s->port, (struct sockaddr_in6 *)&ss);
    if (rc) return rc;
    rc = uv_tcp_init(s->loop, &s->listener);
    if (rc) return rc;
    s->listener_init = true;
    s->listener.data = s;
    s->handles++;
    rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
    if (!rc) rc = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
    if (rc) {
        TR_ERROR(MOD, "%s: cannot listen on %s:%llu: %s", s->id, s->bind_host,
                 (unsigned long long)s->port, uv_strerror(rc));
        return rc;
    }
    uv_timer_start(&s->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    struct sockaddr_storage got;
    int len = sizeof got;
    unsigned port = (unsigned)s->port;
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &len) == 0)
        port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                               : ((struct sockaddr_in *)&got)->sin_port);
    TR_INFO(MOD, "relp onramp '%s' listening on %s:%u", s->id, s->bind_host, port);
    return 0;
}

static void relp_trigger(void *self) {
    struct relp *s = self;
    s->paused = true;
    for (struct rconn *c = s->conns; c; c = c->next) process(c);
}

static void relp_restore(void *self) {
    struct relp *s = self;
    s->paused = false;
    for (struct rconn *c = s->conns, *next; c; c = next) {
        next = c->next;
        process(c);
    }
}

static void relp_close(void *self, void (*done)(void *), void *arg) {
    struct relp *s = self;
    if (s->closing) return;
    s->closing = true;
    s->done = done;
    s->done_arg = arg;
    if (s->listener_init) uv_close((uv_handle_t *)&s->listener, on_handle_close);
    uv_close((uv_handle_t *)&s->sweep, on_handle_close);
    uv_close((uv_handle_t *)&s->flush, on_handle_close);
    /* answers already due go out; the rest the peers resend */
    for (struct rconn *c = s->conns, *next; c; c = next) {
        next = c->next;
        (void)write_out(c);
        conn_end(c, true);
    }
    maybe_done(s);
}

struct relp_cfg {
    const char *host;
    uint64_t port, max_msg, max_conns, idle_ms, open_ms, window;
};

const struct tr_cmap_entry tr_relp_server_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR, "host", "127.0.0.1", 0, offsetof(struct relp_cfg, host),
     "address to listen on: an IP address or localhost")},
    {TR_CMAP_KEY(TR_CMAP_U64, "port", NULL, TR_CMAP_REQUIRED | TR_CMAP_RANGE,
     offsetof(struct relp_cfg, port), "TCP port to listen on, 0: any free one"),
     .lo = -INFINITY, .hi = 65535},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_message_size", "131072", TR_CMAP_RANGE,
     offsetof(struct relp_cfg, max_msg), "largest message (a frame's data) in bytes; librelp's default"),
     .lo = 1, .hi = (double)LIMIT_MAX_MSG},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_connections", "1024", TR_CMAP_RANGE,
     offsetof(struct relp_cfg, max_conns), "peers at once; more are refused"),
     .lo = 1, .hi = LIMIT_MAX_CONNS},
    {TR_CMAP_KEY(TR_CMAP_U64, "idle_timeout_ms", "300000", TR_CMAP_RANGE,
     offsetof(struct relp_cfg, idle_ms), "ms without data (and no answer owed) before a peer is closed, 0: never"),
     .lo = 0, .hi = LIMIT_MS},
    {TR_CMAP_KEY(TR_CMAP_U64, "open_timeout_ms", "10000", TR_CMAP_RANGE,
     offsetof(struct relp_cfg, open_ms), "ms a peer has to open its RELP session"),
     .lo = 1, .hi = LIMIT_MS},
    {TR_CMAP_KEY(TR_CMAP_U64, "window", "1024", TR_CMAP_RANGE, offsetof(struct relp_cfg, window),
     "unanswered messages of one peer before it is no longer read"),
     .lo = 1, .hi = LIMIT_WINDOW},
    {0},
};

static int relp_create(const struct tr_conn_spec *spec, struct tr_onramp_host *host, void **self,
                       struct tr_diag *d) {
    *self = NULL;
    struct relp_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_relp_server_cmap, &c, d);
    if (rc) return rc;
    struct sockaddr_in6 probe;
    const char *h = strcasecmp(c.host, "localhost") == 0 ? "127.0.0.1" : c.host;
    if (uv_ip4_addr(h, 0, (struct sockaddr_in *)&probe) != 0 && uv_ip6_addr(h, 0, &probe) != 0)
        return tr_conn_cfg_fail(spec, "host", d, "must be an IP address or localhost, found '%.64s'",
                                c.host);
    if (!host->ops->next_id)
        return tr_conn_cfg_fail(spec, "port", d, "the relp onramp needs a host that numbers its events");
    struct relp *s = tr_calloc(1, sizeof *s);
    if (!s) return -ENOMEM;
    s->bind_host = tr_strdup(c.host);
    s->id = tr_strdup(spec->id ? spec->id : "relp");
    if (!s->bind_host || !s->id) {
        tr_free(s->bind_host);
        tr_free(s->id);
        tr_free(s);
        return -ENOMEM;
    }
    s->host = host;
    s->loop = tr_onramp_loop(host);
    s->port = c.port;
    s->max_msg = c.max_msg;
    s->max_conns = c.max_conns;
    s->idle_ms = c.idle_ms;
    s->open_ms = c.open_ms;
    s->window = c.window;
    tr_ledger_init(&s->ledger);
    uv_timer_init(s->loop, &s->sweep);
    uv_prepare_init(s->loop, &s->flush);
    s->sweep.data = s->flush.data = s;
    s->handles = 2;
    *self = s;
    return 0;
}

const struct tr_onramp_ops tr_relp_onramp = {
    .type = "relp",
    .transactional = true,
    .ids_at_emit = true,
    .default_codec = "syslog",
    .create = relp_create,
    .start = relp_start,
    .trigger = relp_trigger,
    .restore = relp_restore,
    .ack = relp_ack,
    .fail = relp_fail,
    .ack_range = relp_ack_range,
    .close = relp_close,
};
