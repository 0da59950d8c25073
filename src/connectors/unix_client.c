/* unix_client.c - the `unix-socket` offramp (beyond 0.11, which has only
 * the onramp): writes each encoded event (after postprocessors, e.g.
 * [lines]) to a Unix domain stream socket at `path`.
 *
 * Acks on write: a transactional event is acked when its bytes were
 * written into the socket (libuv's write completion; the peer's kernel
 * holds them), failed when the write fails or the connection drops first.
 * While not connected the breaker is triggered and events are failed
 * (never dropped silently: non-transactional ones are counted and logged);
 * connecting is retried with capped exponential backoff and jitter, and
 * the breaker restored once connected. More than HIGH_WATER unwritten
 * bytes also trigger it. Bytes from the peer are read only to see it go.
 * Invariant: every transactional send() is answered exactly once.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "config/cmap.h"
#include "connectors/backoff.h"
#include "connectors/conn.h"
#include "core/alloc.h"
#include "core/log.h"

#define MOD "unix-socket"
#define HIGH_WATER ((size_t)16 << 20)
#define LOW_WATER ((size_t)4 << 20)
#define MAX_QUEUE ((size_t)64 << 20)

enum reported { REP_NONE, REP_UP, REP_DOWN };

struct uconn {
    uv_pipe_t pipe;
    uv_connect_t req;
    struct uout *o;
    bool up, dead;
};

struct uout {
    struct tr_offramp_host *host;
    uv_loop_t *loop;
    char *id, *path;
    struct uconn *c;          /* current attempt or connection, NULL: none */
    uv_timer_t retry;
    struct tr_backoff backoff;
    enum reported reported;
    bool started, closing, busy;
    int handles;              /* the retry timer and every connection not yet closed */
    uint64_t written, failed, dropped, attempts_logged;
    struct tr_log_limit lim;
    char rbuf[256];
    void (*done)(void *);
    void *done_arg;
};

struct wreq {
    uv_write_t req;
    struct uout *o;
    uint64_t token;
    bool transactional;
    char data[];
};

static void maybe_done(struct uout *o) {
    if (!o->closing || o->handles) return;
    void (*done)(void *) = o->done;
    void *arg = o->done_arg;
    tr_free(o->path);
    tr_free(o->id);
    tr_free(o);
    if (done) done(arg);
}

static void on_timer_closed(uv_handle_t *h) {
    struct uout *o = h->data;
    o->handles--;
    maybe_done(o);
}

static void on_conn_closed(uv_handle_t *h) {
    struct uconn *c = h->data;
    struct uout *o = c->o;
    tr_free(c);
    o->handles--;
    maybe_done(o);
}

static bool connected(const struct uout *o) { return o->c && o->c->up && !o->c->dead; }

static void report(struct uout *o) {
    bool up = connected(o) && !o->busy && !o->closing;
    if (o->closing || (up && o->reported == REP_UP) || (!up && o->reported == REP_DOWN)) return;
    o->reported = up ? REP_UP : REP_DOWN;
    if (up) tr_offramp_restore(o->host);
    else tr_offramp_trigger(o->host);
}

static void attempt(struct uout *o);
static void on_retry(uv_timer_t *t) { attempt(t->data); }

/* The connection (or the attempt) is over: close it (its queued writes
 * fail with ECANCELED), plan the next attempt. */
static void lose(struct uout *o, const char *why) {
    struct uconn *c = o->c;
    if (!c || c->dead) return;
    bool was_up = c->up;
    c->dead = true;
    o->c = NULL;
    uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
    if (o->closing) return;
    o->busy = false;
    uint64_t wait = tr_backoff_next(&o->backoff);
    if (was_up) TR_WARN(MOD, "%s: connection to %s lost (%s), reconnecting in %" PRIu64 " ms", o->id, o->path, why, wait);
    else tr_log_limited(&o->lim, TR_LOG_WARN, MOD, "%s: cannot connect to %s (%s), retrying in %" PRIu64 " ms",
                        o->id, o->path, why, wait);
    uv_timer_start(&o->retry, on_retry, wait, 0);
    report(o);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    (void)hint;
    struct uconn *c = h->data;
    *buf = uv_buf_init(c->o->rbuf, sizeof c->o->rbuf);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
    (void)buf;
    struct uconn *c = st->data;
    if (n >= 0 || c->dead) return;   /* bytes from the peer are ignored */
    lose(c->o, n == UV_EOF ? "peer closed" : uv_strerror((int)n));
}

static void on_connect(uv_connect_t *req, int status) {
    struct uconn *c = req->data;
    struct uout *o = c->o;
    if (c->dead) return;
    if (status < 0) {
        lose(o, uv_strerror(status));
        return;
    }
    c->up = true;
    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
    tr_backoff_reset(&o->backoff);
    tr_log_limit_flush(&o->lim);
    TR_INFO(MOD, "%s: connected to %s", o->id, o->path);
    if (o->dropped || o->failed)
        TR_WARN(MOD, "%s: so far %" PRIu64 " events failed and %" PRIu64 " non-transactional ones dropped",
                o->id, o->failed, o->dropped);
    report(o);
}

static void attempt(struct uout *o) {
    if (o->closing || o->c) return;
    struct uconn *c = tr_calloc(1, sizeof *c);
    if (!c) {
        uv_timer_start(&o->retry, on_retry, tr_backoff_next(&o->backoff), 0);
        return;
    }
    c->o = o;
    uv_pipe_init(o->loop, &c->pipe, 0);
    c->pipe.data = c;
    c->req.data = c;
    o->handles++;
    o->c = c;
    uv_pipe_connect(&c->req, &c->pipe, o->path, on_connect);
}

static void answer(struct uout *o, uint64_t token, bool trans, int status) {
    if (status == 0) o->written++;
    else o->failed++;
    if (!trans) {
        if (status) {
            o->dropped++;
            tr_log_limited(&o->lim, TR_LOG_WARN, MOD, "%s: a non-transactional event was lost: %s (%" PRIu64
                           " such so far)", o->id, uv_strerror(status), o->dropped);
        }
        return;
    }
    if (status == 0) tr_offramp_ack(o->host, token);
    else tr_offramp_fail(o->host, token);
}

static void on_written(uv_write_t *req, int status) {
    struct wreq *w = (struct wreq *)req;
    struct uout *o = w->o;
    answer(o, w->token, w->transactional, status);
    tr_free(w);
    if (status < 0 && status != UV_ECANCELED && o->c && (uv_stream_t *)&o->c->pipe == req->handle)
        lose(o, uv_strerror(status));
    if (o->busy && connected(o) && uv_stream_get_write_queue_size((uv_stream_t *)&o->c->pipe) < LOW_WATER) {
        o->busy = false;
        report(o);
    }
}

static void us_send(void *self, const struct tr_out_msg *m) {
    struct uout *o = self;
    if (o->closing || !connected(o)) {
        answer(o, m->token, m->transactional, UV_ENOTCONN);
        return;
    }
    uv_stream_t *st = (uv_stream_t *)&o->c->pipe;
    if (uv_stream_get_write_queue_size(st) > MAX_QUEUE) {
        answer(o, m->token, m->transactional, UV_ENOBUFS);
        return;
    }
    struct wreq *w = tr_malloc(sizeof *w + (m->len ? m->len : 1));
    if (!w) {
        answer(o, m->token, m->transactional, UV_ENOMEM);
        return;
    }
    w->o = o;
    w->token = m->token;
    w->transactional = m->transactional;
    memcpy(w->data, m->data, m->len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)m->len);
    int rc = uv_write(&w->req, st, &b, 1, on_written);
    if (rc) {
        tr_free(w);
        answer(o, m->token, m->transactional, rc);
        lose(o, uv_strerror(rc));
        return;
    }
    if (!o->busy && uv_stream_get_write_queue_size(st) > HIGH_WATER) {
        o->busy = true;
        report(o);
    }
}

static bool us_is_active(void *self) {
    struct uout *o = self;
    return !o->closing && connected(o) && !o->busy;
}

static int us_start(void *self) {
    struct uout *o = self;
    if (o->started) return 0;
    o->started = true;
    attempt(o);
    return 0;
}

static void us_tick(void *self, uint64_t now_ns) {
    (void)now_ns;
    tr_log_limit_flush(&((struct uout *)self)->lim);
}

static void us_close(void *self, void (*done)(void *), void *arg) {
    struct uout *o = self;
    if (o->closing) return;
    o->closing = true;
    o->done = done;
    o->done_arg = arg;
    TR_INFO(MOD, "%s: %" PRIu64 " events written, %" PRIu64 " failed", o->id, o->written, o->failed);
    uv_timer_stop(&o->retry);
    uv_close((uv_handle_t *)&o->retry, on_timer_closed);
    lose(o, "closing");   /* queued writes complete with ECANCELED: failed */
}

struct us_cfg {
    const char *path;
    uint64_t min_ms, max_ms;
};

const struct tr_cmap_entry tr_unix_client_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR, "path", NULL, TR_CMAP_REQUIRED, offsetof(struct us_cfg, path),
     "file system path of the socket to connect to")},
    {TR_CMAP_KEY(TR_CMAP_U64, "reconnect_min_ms", "100", TR_CMAP_RANGE, offsetof(struct us_cfg, min_ms),
     "first delay before connecting again"), .lo = 1, .hi = 3600000},
    {TR_CMAP_KEY(TR_CMAP_U64, "reconnect_max_ms", "10000", TR_CMAP_RANGE, offsetof(struct us_cfg, max_ms),
     "longest delay between attempts (the delay doubles up to it, with jitter)"), .lo = 1, .hi = 3600000},
    {0},
};

static int us_create(const struct tr_conn_spec *spec, struct tr_offramp_host *host, void **self,
                     struct tr_diag *d) {
    *self = NULL;
    if (spec->config == NULL || spec->config->type != TR_REC)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "unix-socket offramp '%s' requires a config (path)", spec->id);
    struct us_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_unix_client_cmap, &c, d);
    if (rc) return rc;
    if (!c.path[0] || strlen(c.path) > 107)
        return tr_conn_cfg_fail(spec, "path", d, "must be a path of 1 to 107 bytes");
    if (c.max_ms < c.min_ms)
        return tr_conn_cfg_fail(spec, "reconnect_max_ms", d, "must be at least reconnect_min_ms");
    struct uout *o = tr_calloc(1, sizeof *o);
    if (!o) return -ENOMEM;
    o->id = tr_strdup(spec->id ? spec->id : MOD);
    o->path = tr_strdup(c.path);
    if (!o->id || !o->path) {
        tr_free(o->id);
        tr_free(o->path);
        tr_free(o);
        return -ENOMEM;
    }
    o->host = host;
    o->loop = tr_offramp_loop(host);
    tr_backoff_init(&o->backoff, c.min_ms, c.max_ms);
    uv_timer_init(o->loop, &o->retry);
    o->retry.data = o;
    o->handles = 1;
    *self = o;
    return 0;
}

const struct tr_offramp_ops tr_unix_socket_offramp = {
    .type = "unix-socket",
    .bytes_only = true,
    .create = us_create,
    .start = us_start,
    .send = us_send,
    .tick = us_tick,
    .is_active = us_is_active,
    .close = us_close,
};
