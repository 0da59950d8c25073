/* dial.c - one outgoing TCP connection at a time, re-dialled with capped
 * exponential backoff and jitter (see dial.h). Not a protocol and not a logger: the owner hears of every
 * change through its callbacks. Each attempt gets its own struct link,
 * freed only once libuv has given back its handle and resolver request, so
 * a late callback of an old attempt never touches a new one.
 *
 * Peer acknowledgement is event-driven where the kernel offers TX_ACK
 * reports (outq.h): a report on the error queue makes epoll return EPOLLERR
 * for the socket libuv already watches (level-triggered, always reported),
 * and libuv answers that by reading the stream, which comes back to on_read
 * as nread 0 (EAGAIN); there the error queue is drained, so the loop never
 * spins on it. One uv_tcp_t stays the only watcher of the fd (libuv allows
 * one per fd). A slow safety timer also asks SIOCOUTQ, because the kernel
 * may drop a report when the error queue is full; where TX_ACK cannot be
 * enabled, SIOCOUTQ polling every 1-5 ms is the only way.
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

#include "connectors/backoff.h"
#include "connectors/outq.h"
#include "core/alloc.h"
#include "core/hist.h"

/* Between connection attempts: the first retry after 0.5-1 s (0.11 waits
 * 1 s), then doubling up to 2.5-5 s, so many senders that lost the same
 * peer neither retry in lockstep nor wait long once it is back. */
#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 5000
/* Ack polling while messages wait (SIOCOUTQ only): the peer's ACK usually
 * comes within microseconds (or a delayed ACK within ~40 ms); a long
 * back-off would hold a whole window of acks for nothing. */
#define POLL_MIN_MS 1
#define POLL_MAX_MS 5
/* With TX_ACK reports: only a safety net for a report the kernel dropped. */
#define SAFETY_MS 10
#define HIST_HIGHEST_NS 100000000000ull   /* 100 s, as the blackhole */
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
    uint64_t confirmed;  /* TR_DIAL_ACK_CONFIRMED: offset the peer vouched for */
    bool txack;          /* TX_ACK reports enabled on this connection */
    uint64_t txacked;    /* offset the reports say the peer acknowledged */
    bool confirm_new;    /* confirmed moved since the last check */
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
    struct tr_backoff backoff;
    uint64_t retry_ms;   /* the delay planned after the last failure */
    uint64_t poll_ms;
    struct tr_dial_stats stats;
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
    tr_hist_destroy(d->stats.ack_ns);
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

static int link_fd(struct link *l) {
    uv_os_fd_t fd;
    return uv_fileno((uv_handle_t *)&l->tcp, &fd) == 0 ? fd : -1;
}

/* How check_acks learns what the peer has. */
enum learn {
    LEARNT,        /* only what is known already (no system call) */
    DRAIN,         /* read the TX_ACK reports queued since */
    DRAIN_OUTQ,    /* ...and ask SIOCOUTQ too (safety timer, connection end) */
};

/* Answer every message at or below what the peer has acknowledged (and,
 * with TR_DIAL_ACK_CONFIRMED, confirmed). */
static void check_acks_from(struct link *l, enum learn how) {
    if (!l->tcp_live || l->st != L_CONNECTED) return;
    struct tr_dial *d = l->d;
    bool outq = how == DRAIN_OUTQ || !l->txack;
    uint64_t acked = 0;
    if (l->txack && how != LEARNT) {
        int fd = link_fd(l);
        int n = fd >= 0 ? tr_outq_txack_drain(fd, &l->txacked) : -EBADF;
        if (n > 0) d->stats.reports += (uint64_t)n;
    }
    if (l->txack) acked = l->txacked;
    if (!tr_outq_len(&l->pend)) return;
    if (outq) {
        uint64_t by_outq = 0;
        if (tr_outq_peer_acked(&l->tcp, l->queued, &by_outq) == 0 && by_outq > acked) acked = by_outq;
        d->stats.polls++;
    }
    /* never beyond what the kernel was given (a stray report cannot ack more) */
    uint64_t waiting = uv_stream_get_write_queue_size((uv_stream_t *)&l->tcp);
    uint64_t in_kernel = l->queued > waiting ? l->queued - waiting : 0;
    if (acked > in_kernel) acked = in_kernel;
    if ((d->flags & TR_DIAL_ACK_CONFIRMED) && l->confirmed < acked) acked = l->confirmed;
    if (tr_outq_first_end(&l->pend) > acked) return;
    uint64_t now = uv_hrtime();
    struct tr_outq_ent e;
    /* The host only queues an answer (conn.h), so nothing is sent or
     * tracked, and the link cannot end, while these are answered. */
    while (tr_outq_pop(&l->pend, acked, &e)) {
        d->stats.acked++;
        if (d->stats.ack_ns) tr_hist_record(d->stats.ack_ns, now > e.sent_ns ? now - e.sent_ns : 0);
        if (d->cbs.acked) d->cbs.acked(d->arg, e.token);
        else tr_offramp_ack(d->host, e.token);
    }
    if (d->cbs.acked && d->cbs.acked_all) d->cbs.acked_all(d->arg);
}

static void check_acks(struct link *l) { check_acks_from(l, DRAIN); }

static void fail_pending(struct link *l) {
    struct tr_dial *d = l->d;
    struct tr_outq_ent e;
    while (tr_outq_pop(&l->pend, UINT64_MAX, &e)) {
        d->stats.failed++;
        if (d->cbs.failed) d->cbs.failed(d->arg, e.token);
        else tr_offramp_fail(d->host, e.token);
    }
}

static void on_poll(uv_timer_t *t) {
    struct tr_dial *d = t->data;
    struct link *l = d->cur;
    if (!l || l->st != L_CONNECTED) return;
    size_t before = tr_outq_len(&l->pend);
    check_acks_from(l, DRAIN_OUTQ);
    if (d->cur != l || !tr_outq_len(&l->pend)) return;
    if (l->txack) d->poll_ms = SAFETY_MS;
    /* Back off while the peer acknowledges nothing (delayed ACKs, a
     * stalled reader, a dead host); fast again as soon as it does. */
    else if (tr_outq_len(&l->pend) < before) d->poll_ms = POLL_MIN_MS;
    else if (d->poll_ms < POLL_MAX_MS) d->poll_ms = d->poll_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : d->poll_ms * 2;
    uv_timer_start(&d->poll, on_poll, d->poll_ms, 0);
}

static void arm_poll(struct tr_dial *d) {
    struct link *l = d->cur;
    if (d->closing || !l || !tr_outq_len(&l->pend) || uv_is_active((uv_handle_t *)&d->poll)) return;
    d->poll_ms = l->txack ? SAFETY_MS : POLL_MIN_MS;
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
    if (l->st == L_DEAD) return;
    if (nread == 0) {
        /* libuv read after EPOLLERR and found no data: a TX_ACK report */
        if (l->txack) {
            check_acks(l);
            if (l->d->cur == l && l->st == L_CONNECTED) arm_poll(l->d);
        }
        return;
    }
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
    /* before the first byte is written: report offsets count from here */
    int fd = link_fd(l);
    l->txack = !(l->d->flags & TR_DIAL_ACK_POLL) && fd >= 0 && tr_outq_txack_enable(fd) == 0;
    l->txacked = 0;
    l->st = L_CONNECTED;
    tr_backoff_reset(&l->d->backoff);
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

/* Plan the delay before down() is told, so the owner can say it. */
static void plan_retry(struct tr_dial *d) { d->retry_ms = tr_backoff_next(&d->backoff); }

static void schedule_retry(struct tr_dial *d) {
    if (d->closing) return;
    uv_timer_start(&d->retry, on_retry, d->retry_ms, 0);
}

static void attempt(struct tr_dial *d) {
    if (d->closing || d->cur) return;
    struct link *l = tr_calloc(1, sizeof *l);
    if (!l) {
        plan_retry(d);
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
    check_acks_from(l, DRAIN_OUTQ);
    l->st = L_DEAD;
    if (d->cur == l) d->cur = NULL;
    plan_retry(d);
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
    tr_backoff_init(&d->backoff, RETRY_MIN_MS, RETRY_MAX_MS);
    /* without the histogram only the latency figures are missing */
    if (tr_hist_create(HIST_HIGHEST_NS, 3, &d->stats.ack_ns) != 0) d->stats.ack_ns = NULL;
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
    if (tr_outq_unstamped(&l->pend)) tr_outq_stamp(&l->pend, l->queued, uv_hrtime());
    return 0;
}

uint64_t tr_dial_queued(const struct tr_dial *d) { return d->cur ? d->cur->queued : 0; }

size_t tr_dial_backlog(const struct tr_dial *d) {
    if (!tr_dial_connected(d)) return 0;
    return uv_stream_get_write_queue_size((const uv_stream_t *)&d->cur->tcp);
}

int tr_dial_track(struct tr_dial *d, uint64_t token, uint64_t end) {
    if (!d->cur) return -ENOTCONN;
    /* bytes still to be written are stamped by the write (tr_dial_write) */
    return tr_outq_push(&d->cur->pend, token, end, end <= d->cur->queued ? uv_hrtime() : 0);
}

void tr_dial_confirm(struct tr_dial *d, uint64_t end) {
    struct link *l = d->cur;
    if (l && l->confirmed < end) {
        l->confirmed = end;
        l->confirm_new = true;
    }
}

void tr_dial_poll_acks(struct tr_dial *d) {
    struct link *l = d->cur;
    if (!l || l->st != L_CONNECTED) return;
    /* Called per send: TX_ACK reports are read when they arrive, not here.
     * But a confirmation (a pong) came in a segment whose ACK covers what
     * it confirms, and the kernel queued that report before the data was
     * readable: read it now rather than a loop turn later, when libuv
     * sees the error queue. */
    bool fresh = l->confirm_new;
    l->confirm_new = false;
    check_acks_from(l, fresh ? DRAIN : LEARNT);
    arm_poll(d);
}

bool tr_dial_txack(const struct tr_dial *d) { return tr_dial_connected(d) && d->cur->txack; }

const struct tr_dial_stats *tr_dial_stats(const struct tr_dial *d) { return &d->stats; }

int tr_dial_report(const struct tr_dial *d, const char *title, struct tr_buf *out) {
    const struct tr_dial_stats *st = &d->stats;
    int rc = tr_buf_printf(out, "%s: send -> peer confirmation (ns)\n", title);
    if (!rc && st->ack_ns) rc = tr_hist_print(st->ack_ns, 2, out);
    if (!rc)
        rc = tr_buf_printf(out, "\nAcked: %llu, failed: %llu, TX_ACK reports: %llu, SIOCOUTQ polls: %llu\n",
                           (unsigned long long)st->acked, (unsigned long long)st->failed,
                           (unsigned long long)st->reports, (unsigned long long)st->polls);
    return rc;
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

void tr_dial_print_report(const struct tr_dial *d, const char *title) {
    struct tr_buf b;
    tr_buf_init(&b);
    if (tr_dial_report(d, title, &b) == 0) {
        fwrite(b.data, 1, b.len, stdout);
        fflush(stdout);
    }
    tr_buf_fini(&b);
}

uint64_t tr_dial_retry_ms(const struct tr_dial *d) { return d->retry_ms; }
