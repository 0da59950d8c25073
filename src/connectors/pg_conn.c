/* pg_conn.c - a libpq connection on the libuv loop (see pg_conn.h).
 *
 *   DOWN --retry timer--> RESOLVING --address--> CONNECTING --PQconnectPoll OK--> READY
 *     ^                       |                      |                           |  ^
 *     +------ failure --------+------ failure -------+     query() --> BUSY -----+  | done
 *     +------------------------ lost (PQconsumeInput fails, EOF) -------------------+
 *
 * libpq may move to another socket while connecting (the next address of
 * the list), so the uv_poll handle is made per socket and closed before
 * libpq closes that socket.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "connectors/backoff.h"
#include "connectors/pg_conn.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"

#define MOD "postgres"
#define MAX_ADDRS 4

enum state { ST_DOWN, ST_RESOLVING, ST_CONNECTING, ST_READY, ST_BUSY };

struct pgpoll {
    uv_poll_t h;
    struct tr_pg_conn *c;
};

struct gai {
    uv_getaddrinfo_t req;
    struct tr_pg_conn *c;    /* NULL once the connection has given up on it */
};

struct tr_pg_conn {
    uv_loop_t *loop;
    struct tr_pg_conn_cfg cfg;
    struct tr_pg_conn_cbs cbs;
    void *arg;
    PGconn *pg;
    struct pgpoll *poll;
    int fd;
    struct gai *gai;
    uv_timer_t retry, deadline, resume;
    struct tr_backoff backoff;
    enum state st;
    bool paused, closing, want_write, broken, started, was_up;
    int handles;
    char *err;               /* the first error of the query in flight */
    char sqlstate[6];
    struct tr_log_limit lim, notice_lim;
    void (*done)(void *);
    void *done_arg;
};

static void maybe_done(struct tr_pg_conn *c) {
    if (!c->closing || c->handles) return;
    void (*done)(void *) = c->done;
    void *arg = c->done_arg;
    tr_free((char *)c->cfg.name);
    tr_free((char *)c->cfg.host);
    tr_free((char *)c->cfg.user);
    tr_free((char *)c->cfg.password);
    tr_free((char *)c->cfg.dbname);
    tr_free(c->err);
    tr_free(c);
    if (done) done(arg);
}

static void on_handle_closed(uv_handle_t *h) {
    struct tr_pg_conn *c = h->data;
    c->handles--;
    maybe_done(c);
}

static void on_poll_closed(uv_handle_t *h) {
    struct pgpoll *p = (struct pgpoll *)h;
    struct tr_pg_conn *c = p->c;
    tr_free(p);
    c->handles--;
    maybe_done(c);
}

static void drop_poll(struct tr_pg_conn *c) {
    if (!c->poll) return;
    uv_close((uv_handle_t *)&c->poll->h, on_poll_closed);
    c->poll = NULL;
    c->fd = -1;
}

/* The libpq connection and its watcher go (the watcher first: libpq closes
 * the socket). */
static void drop_pg(struct tr_pg_conn *c) {
    drop_poll(c);
    if (c->pg) PQfinish(c->pg);
    c->pg = NULL;
    c->want_write = false;
    c->broken = false;
}

/* libpq's messages end in a newline; log lines should not. */
static const char *pg_message(PGconn *pg) {
    static char buf[512];
    const char *m = pg ? PQerrorMessage(pg) : "";
    snprintf(buf, sizeof buf, "%s", m && *m ? m : "unknown error");
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = 0;
    for (char *p = buf; *p; p++)
        if (*p == '\n') *p = ' ';
    return buf;
}

static void attempt(struct tr_pg_conn *c);
static void on_retry(uv_timer_t *t) { attempt(t->data); }

static void plan_retry(struct tr_pg_conn *c) {
    uint64_t wait = tr_backoff_next(&c->backoff);
    c->st = ST_DOWN;
    uv_timer_stop(&c->deadline);
    uv_timer_start(&c->retry, on_retry, wait, 0);
}

/* A resolution in flight is left to finish on its own. */
static void detach_gai(struct tr_pg_conn *c) {
    if (!c->gai) return;
    c->gai->c = NULL;
    uv_cancel((uv_req_t *)&c->gai->req);
    c->gai = NULL;
    c->handles--;
}

static void fail_attempt(struct tr_pg_conn *c, const char *why) {
    detach_gai(c);
    tr_log_limited(&c->lim, TR_LOG_WARN, MOD, "%s: cannot connect to %s:%u: %s (retrying with backoff)",
                   c->cfg.name, c->cfg.host, c->cfg.port, why);
    drop_pg(c);
    plan_retry(c);
}

/* The connection is gone: the query in flight is done with an error, the
 * owner told, the next attempt planned. */
static void lose(struct tr_pg_conn *c, const char *why) {
    if (c->closing) return;
    if (c->st == ST_CONNECTING || c->st == ST_RESOLVING) {
        fail_attempt(c, why);
        return;
    }
    if (c->st != ST_READY && c->st != ST_BUSY) return;
    char msg[600];
    snprintf(msg, sizeof msg, "connection lost: %s", why);
    bool busy = c->st == ST_BUSY;
    drop_pg(c);
    plan_retry(c);
    TR_WARN(MOD, "%s: %s; reconnecting", c->cfg.name, msg);
    tr_free(c->err);
    c->err = NULL;
    if (busy) c->cbs.done(c->arg, msg, "08006");
    if (!c->closing) c->cbs.down(c->arg, msg);
}

static void on_poll(uv_poll_t *h, int status, int events);

static void update_poll(struct tr_pg_conn *c) {
    if (!c->poll) return;
    int ev = 0;
    if (c->st == ST_READY || (c->st == ST_BUSY && !c->paused)) ev |= UV_READABLE;
    if (c->want_write) ev |= UV_WRITABLE;
    if (ev) uv_poll_start(&c->poll->h, ev, on_poll);
    else uv_poll_stop(&c->poll->h);
}

/* Watch libpq's current socket for events. */
static int watch(struct tr_pg_conn *c, int events) {
    int fd = PQsocket(c->pg);
    if (fd < 0) return -EBADF;
    if (fd != c->fd) {
        drop_poll(c);
        struct pgpoll *p = tr_calloc(1, sizeof *p);
        if (!p) return -ENOMEM;
        int rc = uv_poll_init(c->loop, &p->h, fd);
        if (rc) {
            tr_free(p);
            return rc;
        }
        p->c = c;
        p->h.data = p;
        c->poll = p;
        c->fd = fd;
        c->handles++;
    }
    return uv_poll_start(&c->poll->h, events, on_poll);
}

static void connect_step(struct tr_pg_conn *c, PostgresPollingStatusType s) {
    int rc = 0;
    switch (s) {
    case PGRES_POLLING_READING: rc = watch(c, UV_READABLE); break;
    case PGRES_POLLING_WRITING: rc = watch(c, UV_WRITABLE); break;
    case PGRES_POLLING_OK:
        uv_timer_stop(&c->deadline);
        if (PQsetnonblocking(c->pg, 1) != 0) {
            fail_attempt(c, pg_message(c->pg));
            return;
        }
        c->st = ST_READY;
        tr_backoff_reset(&c->backoff);
        tr_log_limit_flush(&c->lim);
        TR_INFO(MOD, "%s: connected to %s:%u database %s", c->cfg.name, c->cfg.host, c->cfg.port,
                c->cfg.dbname);
        c->was_up = true;
        update_poll(c);
        c->cbs.up(c->arg);
        return;
    default:
        fail_attempt(c, pg_message(c->pg));
        return;
    }
    if (rc) fail_attempt(c, tr_strerror(rc));
}

static void on_deadline(uv_timer_t *t) {
    struct tr_pg_conn *c = t->data;
    if (c->st == ST_CONNECTING || c->st == ST_RESOLVING) fail_attempt(c, "timed out (connect_timeout_ms)");
}

/* Deliver what libpq has: rows (at most rows_per_turn now), the end. */
static void on_resume(uv_timer_t *t);
static void drain(struct tr_pg_conn *c) {
    if (c->st == ST_READY) {
        PGnotify *n;
        while ((n = PQnotifies(c->pg))) PQfreemem(n);
        if (PQstatus(c->pg) == CONNECTION_BAD) lose(c, pg_message(c->pg));
        return;
    }
    uint32_t count = 0;
    while (c->st == ST_BUSY && !c->paused && !c->closing && !PQisBusy(c->pg)) {
        if (count >= c->cfg.rows_per_turn) {
            uv_timer_start(&c->resume, on_resume, 0, 0);
            return;
        }
        PGresult *r = PQgetResult(c->pg);
        if (!r) {
            char *err = c->err;
            c->err = NULL;
            c->st = ST_READY;
            update_poll(c);
            c->cbs.done(c->arg, err, err ? c->sqlstate : NULL);
            tr_free(err);
            if (!c->closing && c->pg && PQstatus(c->pg) == CONNECTION_BAD) lose(c, pg_message(c->pg));
            return;
        }
        switch (PQresultStatus(r)) {
        case PGRES_SINGLE_TUPLE:
            count++;
            c->cbs.row(c->arg, r);
            break;
        case PGRES_TUPLES_OK:
        case PGRES_COMMAND_OK:
        case PGRES_EMPTY_QUERY:
            break;
        default:
            if (!c->err) {
                const char *m = PQresultErrorMessage(r), *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
                size_t len = m ? strlen(m) : 0;
                while (len && (m[len - 1] == '\n' || m[len - 1] == ' ')) len--;
                c->err = tr_strndup(len ? m : "query failed", len ? len : 12);
                snprintf(c->sqlstate, sizeof c->sqlstate, "%s", s ? s : "XX000");
            }
            break;
        }
        PQclear(r);
    }
}

static void on_resume(uv_timer_t *t) {
    struct tr_pg_conn *c = t->data;
    if (c->closing) return;
    if (c->broken) {
        lose(c, pg_message(c->pg));
        return;
    }
    if (c->pg) drain(c);
}

static void on_poll(uv_poll_t *h, int status, int events) {
    struct tr_pg_conn *c = ((struct pgpoll *)h)->c;
    if (c->closing || !c->poll || &c->poll->h != h) return;
    if (status < 0) {
        /* libpq knows better what happened (it may have closed the socket) */
        if (c->st == ST_CONNECTING) connect_step(c, PQconnectPoll(c->pg));
        else if (!PQconsumeInput(c->pg)) lose(c, pg_message(c->pg));
        else lose(c, uv_strerror(status));
        return;
    }
    if (c->st == ST_CONNECTING) {
        connect_step(c, PQconnectPoll(c->pg));
        return;
    }
    if (events & UV_WRITABLE) {
        int r = PQflush(c->pg);
        if (r < 0) {
            lose(c, pg_message(c->pg));
            return;
        }
        c->want_write = r == 1;
        update_poll(c);
    }
    if (events & UV_READABLE) {
        if (!PQconsumeInput(c->pg)) {
            lose(c, pg_message(c->pg));
            return;
        }
        drain(c);
    }
}

/* Server notices (and libpq's own warnings) go to our log, not stderr. */
static void on_notice(void *arg, const char *message) {
    struct tr_pg_conn *c = arg;
    size_t n = strlen(message);
    while (n && (message[n - 1] == '\n' || message[n - 1] == ' ')) n--;
    tr_log_limited(&c->notice_lim, TR_LOG_INFO, MOD, "%s: server says: %.*s", c->cfg.name, (int)(n > 400 ? 400 : n),
                   message);
}

static void start_connect(struct tr_pg_conn *c, const char *hostaddr, const char *hosts) {
    char port[8], opts[160];
    snprintf(port, sizeof port, "%u", c->cfg.port);
    snprintf(opts, sizeof opts, "-c statement_timeout=%" PRIu64 " -c DateStyle=ISO -c TimeZone=UTC",
             c->cfg.query_timeout_ms);
    const char *kw[16], *val[16];
    int n = 0;
#define KV(k, v) (kw[n] = (k), val[n] = (v), n++)
    KV("host", hosts);
    if (hostaddr) KV("hostaddr", hostaddr);
    KV("port", port);
    KV("user", c->cfg.user);
    if (c->cfg.password && *c->cfg.password) KV("password", c->cfg.password);
    KV("dbname", c->cfg.dbname);
    KV("sslmode", "disable");
    KV("gssencmode", "disable");
    KV("options", opts);
    KV("application_name", "tremor");
    KV("client_encoding", "UTF8");
    KV("keepalives", "1");
    KV(NULL, NULL);
#undef KV
    c->pg = PQconnectStartParams(kw, val, 0);
    if (!c->pg) {
        fail_attempt(c, "out of memory");
        return;
    }
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        fail_attempt(c, pg_message(c->pg));
        return;
    }
    PQsetNoticeProcessor(c->pg, on_notice, c);
    c->st = ST_CONNECTING;
    connect_step(c, PGRES_POLLING_WRITING);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    struct gai *g = (struct gai *)req;
    struct tr_pg_conn *c = g->c;
    tr_free(g);
    if (!c) {
        uv_freeaddrinfo(res);
        return;
    }
    c->gai = NULL;
    c->handles--;
    if (status < 0) {
        fail_attempt(c, uv_strerror(status));
        return;
    }
    char addrs[MAX_ADDRS * 48] = "", hosts[MAX_ADDRS * 256] = "";
    int k = 0;
    for (struct addrinfo *a = res; a && k < MAX_ADDRS; a = a->ai_next) {
        char ip[64];
        if (a->ai_family == AF_INET) uv_ip4_name((struct sockaddr_in *)a->ai_addr, ip, sizeof ip);
        else if (a->ai_family == AF_INET6) uv_ip6_name((struct sockaddr_in6 *)a->ai_addr, ip, sizeof ip);
        else continue;
        if (strstr(addrs, ip)) continue;   /* one per address, not per socket type */
        size_t al = strlen(addrs), hl = strlen(hosts);
        snprintf(addrs + al, sizeof addrs - al, "%s%s", k ? "," : "", ip);
        snprintf(hosts + hl, sizeof hosts - hl, "%s%s", k ? "," : "", c->cfg.host);
        k++;
    }
    uv_freeaddrinfo(res);
    if (!k) {
        fail_attempt(c, "the host name has no address");
        return;
    }
    start_connect(c, addrs, hosts);
}

static bool literal_host(const char *h) {
    unsigned char buf[16];
    return h[0] == '/' || uv_inet_pton(AF_INET, h, buf) == 0 || uv_inet_pton(AF_INET6, h, buf) == 0;
}

static void attempt(struct tr_pg_conn *c) {
    if (c->closing || c->st != ST_DOWN) return;
    uv_timer_start(&c->deadline, on_deadline, c->cfg.connect_timeout_ms, 0);
    if (literal_host(c->cfg.host)) {
        start_connect(c, NULL, c->cfg.host);
        return;
    }
    struct gai *g = tr_calloc(1, sizeof *g);
    if (!g) {
        fail_attempt(c, "out of memory");
        return;
    }
    g->c = c;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    c->st = ST_RESOLVING;
    int rc = uv_getaddrinfo(c->loop, &g->req, on_resolved, c->cfg.host, NULL, &hints);
    if (rc) {
        tr_free(g);
        fail_attempt(c, uv_strerror(rc));
        return;
    }
    c->gai = g;
    c->handles++;
}

int tr_pg_conn_create(uv_loop_t *loop, const struct tr_pg_conn_cfg *cfg, const struct tr_pg_conn_cbs *cbs,
                      void *arg, struct tr_pg_conn **out) {
    *out = NULL;
    struct tr_pg_conn *c = tr_calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    c->cfg = *cfg;
    c->cfg.name = tr_strdup(cfg->name);
    c->cfg.host = tr_strdup(cfg->host);
    c->cfg.user = tr_strdup(cfg->user);
    c->cfg.password = tr_strdup(cfg->password ? cfg->password : "");
    c->cfg.dbname = tr_strdup(cfg->dbname);
    if (!c->cfg.rows_per_turn) c->cfg.rows_per_turn = 1;
    if (!c->cfg.name || !c->cfg.host || !c->cfg.user || !c->cfg.password || !c->cfg.dbname) {
        c->closing = true;
        maybe_done(c);
        return -ENOMEM;
    }
    c->loop = loop;
    c->cbs = *cbs;
    c->arg = arg;
    c->fd = -1;
    tr_backoff_init(&c->backoff, cfg->reconnect_min_ms, cfg->reconnect_max_ms);
    uv_timer_init(loop, &c->retry);
    uv_timer_init(loop, &c->deadline);
    uv_timer_init(loop, &c->resume);
    c->retry.data = c->deadline.data = c->resume.data = c;
    c->handles = 3;
    *out = c;
    return 0;
}

void tr_pg_conn_start(struct tr_pg_conn *c) {
    if (c->started || c->closing) return;
    c->started = true;
    attempt(c);
}

bool tr_pg_conn_ready(const struct tr_pg_conn *c) {
    return c && !c->closing && c->st == ST_READY && !c->broken;
}

int tr_pg_conn_query(struct tr_pg_conn *c, const char *sql, int n, const Oid *types,
                     const char *const *values, bool single_row) {
    if (!tr_pg_conn_ready(c)) return TR_ECLOSED;
    if (!PQsendQueryParams(c->pg, sql, n, types, values, NULL, NULL, 0) ||
        (single_row && !PQsetSingleRowMode(c->pg))) {
        c->broken = true;   /* dropped from the loop: the caller is inside its own call */
        TR_WARN(MOD, "%s: cannot send a query: %s", c->cfg.name, pg_message(c->pg));
        uv_timer_start(&c->resume, on_resume, 0, 0);
        return -EIO;
    }
    c->st = ST_BUSY;
    tr_free(c->err);
    c->err = NULL;
    int r = PQflush(c->pg);
    if (r < 0) {
        c->broken = true;
        uv_timer_start(&c->resume, on_resume, 0, 0);
        return 0;   /* answered from the loop as a lost connection */
    }
    c->want_write = r == 1;
    update_poll(c);
    return 0;
}

void tr_pg_conn_pause(struct tr_pg_conn *c, bool paused) {
    if (!c || c->closing || c->paused == paused) return;
    c->paused = paused;
    if (!c->pg) return;
    update_poll(c);
    if (!paused && c->st == ST_BUSY) uv_timer_start(&c->resume, on_resume, 0, 0);
}

void tr_pg_conn_close(struct tr_pg_conn *c, void (*done)(void *), void *arg) {
    if (!c || c->closing) return;
    c->closing = true;
    c->done = done;
    c->done_arg = arg;
    detach_gai(c);
    drop_pg(c);
    uv_close((uv_handle_t *)&c->retry, on_handle_closed);
    uv_close((uv_handle_t *)&c->deadline, on_handle_closed);
    uv_close((uv_handle_t *)&c->resume, on_handle_closed);
}
