/* dial.c - one outgoing TCP connection at a time, re-dialled every second
 * (see dial.h). Not a protocol and not a logger: the owner hears of every
 * change through its callbacks. Each attempt gets its own struct link,
 * freed only once libuv has given back its handle and resolver request, so
 * a late callback of an old attempt never touches a new one.
 *
 *   RESOLVING -> CONNECTING -> CONNECTED      any state -> DEAD (final)
 *                  |  ^ next address
 *                  +--+
 */
#include "connectors/dial.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "connectors/outq.h"
#include "core/alloc.h"

#define RETRY_MS 1000      /* between connection attempts */
/* Ack polling while messages wait: the peer's ACK usually comes within
 * microseconds (or a delayed ACK within ~40 ms); a long back-off would hold
 * a whole window of acks, and so a WAL's in-flight window, for nothing. */
#define POLL_MIN_MS 1
#define POLL_MAX_MS 5
/* A confirmation (a pong) counts only after the connection stayed up this
 * long: a receiver whose library read a frame but which dies before its
 * application got it (killed like websocat with Ctrl-C) drops the link within
 * this time, and the frame is failed and replayed instead of acked. */
#define CONFIRM_LINGER_MS 50
#define MAX_CONFIRMS 64
#define RBUF_SIZE 65536

enum lstate { L_RESOLVING, L_CONNECTING, L_CONNECTED, L_DEAD };

struct link {
    struct tr_dial *d;
    enum lstate st;
    uv_getaddrinfo_t gai;
    uv_connect_t creq;
    uv_tcp_t tcp;
    struct addrinfo *ai, *ai_next;
    int last_err;
    bool resolving;      /* gai callback still to come */
    bool tcp_live;       /* tcp initialised, close callback not yet run */
    bool next_addr;      /* tcp is closing to try the next address */
    uint64_t queued;     /* bytes handed to uv_write so far */
    uint64_t confirmed;  /* TR_DIAL_ACK_CONFIRMED: offset vouched for and lingered */
    struct {             /* confirmations still lingering, oldest first */
        uint64_t end, at_ms;
    } conf[MAX_CONFIRMS];
    unsigned conf_head, conf_len;
    struct tr_outq pend; /* transactional messages not yet acked */
    char rbuf[RBUF_SIZE];
};

struct wreq {
    uv_write_t req;
    struct link *l;
    char *data;
};

struct tr_dial {
    uv_loop_t *loop;
    struct tr_offramp_host *host;
    char *hostname;
    char port[8];
    unsigned flags;
    struct tr_dial_cbs cbs;
    void *arg;
    uv_timer_t retry, poll, linger;
    int handles_open;
    bool handles_closing;
    int links;           /* struct link alive (freed in close callbacks) */
    struct link *cur;    /* the current attempt or connection, NULL between them */
    bool closing;
    uint64_t last_attempt;
    uint64_t poll_ms;
    void (*done)(void *);
    void *done_arg;
};

static void attempt(struct tr_dial *d);
static void connect_next(struct link *l);
static void link_end(struct link *l, const char *why);

/* ------------------------------------------------------------ lifecycle */

static void maybe_done(struct tr_dial *d) {
    if (!d->closing || d->handles_open || d->links) return;
    void (*done)(void *) = d->done;
    void *arg = d->done_arg;
    tr_free(d->hostname);
    tr_free(d);
    if (done) done(arg);
}

static void on_handle_close(uv_handle_t *h) {
    struct tr_dial *d = h->data;
    d->handles_open--;
    maybe_done(d);
}

static void finish_close(struct tr_dial *d) {
    if (!d->closing || d->handles_closing || d->cur) return;
    d->handles_closing = true;
    uv_close((uv_handle_t *)&d->retry, on_handle_close);
    uv_close((uv_handle_t *)&d->poll, on_handle_close);
    uv_close((uv_handle_t *)&d->linger, on_handle_close);
}

static void maybe_free(struct link *l) {
    if (l->st != L_DEAD || l->resolving || l->tcp_live) return;
    struct tr_dial *d = l->d;
    if (l->ai) uv_freeaddrinfo(l->ai);
    tr_outq_fini(&l->pend);
    tr_free(l);
    d->links--;
    maybe_done(d);
}

static void on_tcp_close(uv_handle_t *h) {
    struct link *l = h->data;
    l->tcp_live = false;
    if (l->next_addr && l->st != L_DEAD) {
        l->next_addr = false;
        connect_next(l);
        return;
    }
    maybe_free(l);
}

static void link_release(struct link *l) {
    l->st = L_DEAD;
    if (l->resolving) uv_cancel((uv_req_t *)&l->gai);
    if (l->tcp_live && !uv_is_closing((uv_handle_t *)&l->tcp))
        uv_close((uv_handle_t *)&l->tcp, on_tcp_close);
    maybe_free(l);
}

/* ----------------------------------------------------------------- acks */

static void check_acks(struct link *l) {
    if (!tr_outq_len(&l->pend) || !l->tcp_live) return;
    uint64_t acked, token;
    if (tr_outq_peer_acked(&l->tcp, l->queued, &acked) != 0) return;
    if (l->d->flags & TR_DIAL_ACK_CONFIRMED) {
        uint64_t now = uv_now(l->d->loop);
        while (l->conf_len && l->conf[l->conf_head].at_ms + CONFIRM_LINGER_MS <= now) {
            if (l->confirmed < l->conf[l->conf_head].end) l->confirmed = l->conf[l->conf_head].end;
            l->conf_head = (l->conf_head + 1) % MAX_CONFIRMS;
            l->conf_len--;
        }
        if (l->confirmed < acked) acked = l->confirmed;
    }
    /* Pop one, then answer it: the host may send (and so track) from ack(). */
    while (l->st != L_DEAD && tr_outq_pop(&l->pend, acked, &token)) tr_offramp_ack(l->d->host, token);
}

static void fail_pending(struct link *l) {
    uint64_t token;
    while (tr_outq_pop(&l->pend, UINT64_MAX, &token)) tr_offramp_fail(l->d->host, token);
}

static void on_poll(uv_timer_t *t) {
    struct tr_dial *d = t->data;
    struct link *l = d->cur;
    if (!l || l->st != L_CONNECTED) return;
    size_t before = tr_outq_len(&l->pend);
    check_acks(l);
    if (d->cur != l || !tr_outq_len(&l->pend)) return;
    /* Back off while the peer acknowledges nothing (delayed ACKs, a
     * stalled reader, a dead host); fast again as soon as it does. */
    if (tr_outq_len(&l->pend) < before) d->poll_ms = POLL_MIN_MS;
    else if (d->poll_ms < POLL_MAX_MS) d->poll_ms = d->poll_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : d->poll_ms * 2;
    uv_timer_start(&d->poll, on_poll, d->poll_ms, 0);
}

static void arm_poll(struct tr_dial *d) {
    struct link *l = d->cur;
    if (d->closing || !l || !tr_outq_len(&l->pend) || uv_is_active((uv_handle_t *)&d->poll)) return;
    d->poll_ms = POLL_MIN_MS;
    uv_timer_start(&d->poll, on_poll, d->poll_ms, 0);
}

/* ------------------------------------------------------------- in / out */

static void on_write(uv_write_t *req, int status) {
    struct wreq *w = (struct wreq *)req;
    struct link *l = w->l;
    tr_free(w->data);
    tr_free(w);
    if (l->st == L_DEAD) return;
    if (status < 0) {
        link_end(l, uv_strerror(status));
        return;
    }
    struct tr_dial *d = l->d;
    check_acks(l);
    if (d->cur != l || l->st != L_CONNECTED) return;
    arm_poll(d);
    if (d->cbs.written) d->cbs.written(d->arg);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    (void)hint;
    struct link *l = h->data;
    *buf = uv_buf_init(l->rbuf, sizeof l->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    struct link *l = s->data;
    if (l->st == L_DEAD || nread == 0) return;
    if (nread < 0) {
        link_end(l, nread == UV_EOF ? "closed by peer" : uv_strerror((int)nread));
        return;
    }
    if (l->d->cbs.read) l->d->cbs.read(l->d->arg, buf->base, (size_t)nread);
}

/* ------------------------------------------------------------ connecting */

static void on_connect(uv_connect_t *req, int status) {
    struct link *l = req->data;
    if (l->st == L_DEAD) return;
    if (status < 0) {
        l->last_err = status;
        l->next_addr = true;
        uv_close((uv_handle_t *)&l->tcp, on_tcp_close);
        return;
    }
    int rc = uv_read_start((uv_stream_t *)&l->tcp, on_alloc, on_read);
    if (rc) {
        link_end(l, uv_strerror(rc));
        return;
    }
    l->st = L_CONNECTED;
    l->d->cbs.up(l->d->arg, &l->tcp);
}

/* Try the next resolved address; every one is tried before giving up
 * ("localhost" often gives ::1 first while the peer listens on 127.0.0.1). */
static void connect_next(struct link *l) {
    while (l->ai_next) {
        struct addrinfo *a = l->ai_next;
        l->ai_next = a->ai_next;
        int rc = uv_tcp_init(l->d->loop, &l->tcp);
        if (rc) {
            l->last_err = rc;
            break;
        }
        l->tcp.data = l;
        l->creq.data = l;
        l->tcp_live = true;
        l->st = L_CONNECTING;
        rc = uv_tcp_connect(&l->creq, &l->tcp, a->ai_addr, on_connect);
        if (rc == 0) return;
        l->last_err = rc;
        l->next_addr = true;
        uv_close((uv_handle_t *)&l->tcp, on_tcp_close);
        return;
    }
    link_end(l, l->last_err ? uv_strerror(l->last_err) : "no address");
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    struct link *l = req->data;
    l->resolving = false;
    l->ai = res;
    l->ai_next = res;
    if (l->st == L_DEAD) {
        maybe_free(l);
        return;
    }
    if (status < 0) {
        link_end(l, uv_strerror(status));
        return;
    }
    connect_next(l);
}

static void on_retry(uv_timer_t *t) { attempt(t->data); }

static void schedule_retry(struct tr_dial *d) {
    if (d->closing) return;
    uint64_t now = uv_now(d->loop);
    uint64_t at = d->last_attempt + RETRY_MS;
    uv_timer_start(&d->retry, on_retry, at > now ? at - now : 0, 0);
}

static void attempt(struct tr_dial *d) {
    if (d->closing || d->cur) return;
    d->last_attempt = uv_now(d->loop);
    struct link *l = tr_calloc(1, sizeof *l);
    if (!l) {
        d->cbs.down(d->arg, false, "out of memory");
        schedule_retry(d);
        return;
    }
    l->d = d;
    l->st = L_RESOLVING;
    tr_outq_init(&l->pend);
    l->gai.data = l;
    d->links++;
    d->cur = l;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    l->resolving = true;
    int rc = uv_getaddrinfo(d->loop, &l->gai, on_resolved, d->hostname, d->port, &hints);
    if (rc) {
        l->resolving = false;
        link_end(l, uv_strerror(rc));
    }
}

/* The one exit of every attempt and connection: ack what the peer's TCP
 * already has, tell the owner, fail the rest in order, plan what is next. */
static void link_end(struct link *l, const char *why) {
    struct tr_dial *d = l->d;
    if (l->st == L_DEAD) return;
    bool connected = l->st == L_CONNECTED;
    check_acks(l);
    l->st = L_DEAD;
    if (d->cur == l) d->cur = NULL;
    d->cbs.down(d->arg, connected, why);
    fail_pending(l);
    link_release(l);
    if (d->closing) finish_close(d);
    else schedule_retry(d);
}

/* ------------------------------------------------------------------ API */

int tr_dial_create(uv_loop_t *loop, struct tr_offramp_host *host, const char *hostname,
                   uint16_t port, unsigned flags, const struct tr_dial_cbs *cbs, void *arg,
                   struct tr_dial **out) {
    *out = NULL;
    struct tr_dial *d = tr_calloc(1, sizeof *d);
    if (!d) return -ENOMEM;
    d->hostname = tr_strdup(hostname);
    if (!d->hostname) {
        tr_free(d);
        return -ENOMEM;
    }
    snprintf(d->port, sizeof d->port, "%u", (unsigned)port);
    d->loop = loop;
    d->host = host;
    d->flags = flags;
    d->cbs = *cbs;
    d->arg = arg;
    uv_timer_init(loop, &d->retry);
    uv_timer_init(loop, &d->poll);
    uv_timer_init(loop, &d->linger);
    d->retry.data = d->poll.data = d->linger.data = d;
    d->handles_open = 3;
    d->poll_ms = POLL_MIN_MS;
    *out = d;
    return 0;
}

void tr_dial_start(struct tr_dial *d) { attempt(d); }

bool tr_dial_connected(const struct tr_dial *d) { return d->cur && d->cur->st == L_CONNECTED; }

int tr_dial_write(struct tr_dial *d, char *data, size_t len) {
    struct link *l = d->cur;
    if (!l || l->st != L_CONNECTED) {
        tr_free(data);
        return UV_ENOTCONN;
    }
    struct wreq *w = tr_malloc(sizeof *w);
    if (!w) {
        tr_free(data);
        return -ENOMEM;
    }
    w->l = l;
    w->data = data;
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&l->tcp, &b, 1, on_write);
    if (rc < 0) {
        tr_free(data);
        tr_free(w);
        return rc;
    }
    l->queued += len;
    return 0;
}

uint64_t tr_dial_queued(const struct tr_dial *d) { return d->cur ? d->cur->queued : 0; }

size_t tr_dial_backlog(const struct tr_dial *d) {
    if (!tr_dial_connected(d)) return 0;
    return uv_stream_get_write_queue_size((const uv_stream_t *)&d->cur->tcp);
}

int tr_dial_track(struct tr_dial *d, uint64_t token, uint64_t end) {
    if (!d->cur) return -ENOTCONN;
    return tr_outq_push(&d->cur->pend, token, end);
}

void tr_dial_confirm(struct tr_dial *d, uint64_t end) {
    struct link *l = d->cur;
    if (!l || l->confirmed >= end) return;
    uint64_t now = uv_now(d->loop);
    if (l->conf_len == MAX_CONFIRMS) {
        /* full: the newest entry covers this end too, from now (later, never earlier) */
        unsigned last = (l->conf_head + l->conf_len - 1) % MAX_CONFIRMS;
        l->conf[last].end = end;
        l->conf[last].at_ms = now;
        return;
    }
    unsigned i = (l->conf_head + l->conf_len) % MAX_CONFIRMS;
    l->conf[i].end = end;
    l->conf[i].at_ms = now;
    l->conf_len++;
}

void tr_dial_poll_acks(struct tr_dial *d) {
    struct link *l = d->cur;
    if (!l || l->st != L_CONNECTED) return;
    check_acks(l);
    arm_poll(d);
}

void tr_dial_drop(struct tr_dial *d, const char *why) {
    if (d->cur) link_end(d->cur, why);
}

static void on_linger(uv_timer_t *t) { tr_dial_drop(t->data, "no close reply in time"); }

void tr_dial_close(struct tr_dial *d, unsigned linger_ms, void (*done)(void *), void *arg) {
    if (d->closing) return;
    d->closing = true;
    d->done = done;
    d->done_arg = arg;
    uv_timer_stop(&d->retry);
    uv_timer_stop(&d->poll);
    if (d->cur && linger_ms) uv_timer_start(&d->linger, on_linger, linger_ms, 0);
    else tr_dial_drop(d, "closing");
    finish_close(d);
}
