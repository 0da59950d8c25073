/* postgres_in.c - the `postgres` onramp (0.11 keys host, port, user,
 * password, dbname, query, interval_ms, consume_from, cache {path, size}):
 * runs `query` over consecutive time windows and emits each row as
 * 0.11's record of {"fieldType", "name", "value"} keyed by column.
 *
 * The query gets the window as $1 (from, inclusive by the query's own
 * comparison) and $2 (until), both timestamptz, as in 0.11. The first
 * window is [consume_from, the time of the first start); each next one
 * starts where the last ended and is interval_ms long, as in 0.11, but is
 * only queried once it lies settle_ms in the past (0.11 runs ahead of the
 * clock and misses rows written later into windows it already queried).
 * The position {"consume_from", "consume_until", "skip"} is written to
 * cache.path (at most cache.size bytes; temp file, fsync, rename) after
 * each window and at close, and read back at start, so a restart goes on
 * where the last run stopped (0.11 overwrites it at start). "skip" counts
 * the rows of the current window already emitted when a run stopped in
 * its middle (closed, query error, lost connection): the window is queried
 * again and those rows are skipped, so the query should ORDER BY for that
 * to be exact. Rows come in single-row mode, at most max_rows_per_turn per
 * loop turn; a triggered breaker stops reading (the server waits on TCP,
 * up to query_timeout_ms). A row with a value longer than max_value_bytes
 * is dropped, logged and counted. Not transactional, as in 0.11.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/json.h"
#include "config/cmap.h"
#include "connectors/conn.h"
#include "connectors/pg_conn.h"
#include "connectors/pg_keys.h"
#include "connectors/pg_value.h"
#include "core/alloc.h"
#include "core/event.h"
#include "core/log.h"

#define MOD "postgres"

struct pin {
    struct tr_onramp_host *host;
    char *id, *query, *cache_path;
    uint64_t cache_size;
    int64_t from, until;      /* the window to query next (us since 1970 UTC) */
    uint64_t skip;            /* rows of it already emitted */
    uint64_t seen;            /* rows of it seen in the query running now */
    int64_t interval_us, settle_us;
    size_t max_value;
    struct tr_pg_conn *conn;
    uv_timer_t timer;
    bool started, closing, triggered, in_flight;
    uint64_t rows, dropped, errors;
    struct tr_log_limit lim, drop_lim;   /* query and cache errors; dropped rows */
    void (*done)(void *);
    void *done_arg;
    int closes;
};

static int64_t now_us(void) { return (int64_t)(tr_now_ns() / 1000); }

/* ---------------------------------------------------------------- cache */

/* The position in path, if there is one. 0, TR_ENOTFOUND (no file or an
 * empty one: start afresh), TR_ECORRUPT (with why), -errno. */
static int cache_load(const char *path, uint64_t size, int64_t *from, int64_t *until, uint64_t *skip,
                      char *why, size_t n) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? TR_ENOTFOUND : -errno;
    char *buf = tr_malloc(size + 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    size_t len = 0;
    ssize_t r;
    while (len <= size && (r = read(fd, buf + len, size + 1 - len)) > 0) len += (size_t)r;
    int rc = r < 0 ? -errno : 0;
    close(fd);
    /* 0.11 pads its file with NULs up to size */
    while (!rc && len && (buf[len - 1] == 0 || buf[len - 1] == '\n' || buf[len - 1] == ' ')) len--;
    tr_value v = tr_v_null();
    if (!rc && len == 0) rc = TR_ENOTFOUND;
    else if (!rc && len > size) rc = TR_ECORRUPT, snprintf(why, n, "it is longer than cache.size");
    else if (!rc && tr_json_decode(buf, len, &v, NULL)) rc = TR_ECORRUPT, snprintf(why, n, "it is not JSON");
    tr_free(buf);
    if (rc) return rc;
    const tr_value *f = v.type == TR_REC ? tr_rec_get(&v, "consume_from", 12) : NULL;
    const tr_value *u = v.type == TR_REC ? tr_rec_get(&v, "consume_until", 13) : NULL;
    const tr_value *s = v.type == TR_REC ? tr_rec_get(&v, "skip", 4) : NULL;
    if (!f || !u || f->type != TR_STR || u->type != TR_STR || tr_pg_time_parse(f->as.s->data, f->as.s->len, from) ||
        tr_pg_time_parse(u->as.s->data, u->as.s->len, until) || (s && (s->type != TR_I64 || s->as.i < 0))) {
        rc = TR_ECORRUPT;
        snprintf(why, n, "it has no valid consume_from and consume_until");
    }
    *skip = s ? (uint64_t)s->as.i : 0;
    tr_value_unref(v);
    return rc;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Small and rare (once per window): written in place on the loop. */
static void cache_save(struct pin *p) {
    char f[TR_PG_TIME_LEN], u[TR_PG_TIME_LEN], buf[160], tmp[4200];
    tr_pg_time_format(p->from, f);
    tr_pg_time_format(p->until, u);
    int n = snprintf(buf, sizeof buf, "{\"consume_from\":\"%s\",\"consume_until\":\"%s\",\"skip\":%" PRIu64 "}",
                     f, u, p->skip);
    if ((uint64_t)n > p->cache_size) {
        tr_log_limited(&p->lim, TR_LOG_ERROR, MOD, "%s: the position (%d bytes) does not fit cache.size (%" PRIu64
                       "): not saved", p->id, n, p->cache_size);
        return;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", p->cache_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = fd < 0 ? -errno : write_all(fd, buf, (size_t)n);
    if (!rc && fsync(fd) != 0) rc = -errno;
    if (fd >= 0 && close(fd) != 0 && !rc) rc = -errno;
    if (!rc && rename(tmp, p->cache_path) != 0) rc = -errno;
    if (rc) {
        if (fd >= 0) unlink(tmp);
        tr_log_limited(&p->lim, TR_LOG_ERROR, MOD, "%s: cannot write the position to %s: %s", p->id,
                       p->cache_path, tr_strerror(rc));
    }
}

/* ---------------------------------------------------------------- polling */

static void poll_now(struct pin *p);
static void on_timer(uv_timer_t *t) { poll_now(t->data); }

/* Query the window when it is settled, else wait until it is. */
static void poll_now(struct pin *p) {
    if (p->closing || p->triggered || p->in_flight || !tr_pg_conn_ready(p->conn)) return;
    int64_t wait = p->until + p->settle_us - now_us();
    if (wait > 0) {
        uv_timer_start(&p->timer, on_timer, (uint64_t)(wait + 999) / 1000, 0);
        return;
    }
    char f[TR_PG_TIME_LEN], u[TR_PG_TIME_LEN];
    tr_pg_time_format(p->from, f);
    tr_pg_time_format(p->until, u);
    const char *vals[2] = {f, u};
    const Oid types[2] = {TR_PG_TIMESTAMPTZ, TR_PG_TIMESTAMPTZ};
    p->seen = 0;
    if (tr_pg_conn_query(p->conn, p->query, 2, types, vals, true) == 0) p->in_flight = true;
}

static void on_row(void *arg, const PGresult *r) {
    struct pin *p = arg;
    if (p->closing || p->seen++ < p->skip) return;
    p->skip++;
    int cols = PQnfields(r);
    for (int j = 0; j < cols; j++) {
        if ((size_t)PQgetlength(r, 0, j) > p->max_value) {
            p->dropped++;
            tr_log_limited(&p->drop_lim, TR_LOG_WARN, MOD, "%s: a row dropped: column %s has %d bytes, more than "
                           "max_value_bytes (%" PRIu64 " dropped so far)", p->id, PQfname(r, j),
                           PQgetlength(r, 0, j), p->dropped);
            return;
        }
    }
    tr_value row;
    int rc = tr_v_rec((size_t)cols, &row);
    for (int j = 0; !rc && j < cols; j++) {
        tr_value f;
        const char *name = PQfname(r, j);
        rc = tr_pg_field_to_value(PQftype(r, j), name, PQgetvalue(r, 0, j), (size_t)PQgetlength(r, 0, j),
                                  PQgetisnull(r, 0, j) != 0, &f);
        if (!rc && tr_rec_get(&row, name, strlen(name))) tr_value_unref(f);   /* the first one wins, as in 0.11 */
        else if (!rc) rc = tr_rec_set(&row, name, strlen(name), f);
    }
    if (rc) {
        if (row.type == TR_REC) tr_value_unref(row);
        p->dropped++;
        tr_log_limited(&p->drop_lim, TR_LOG_ERROR, MOD, "%s: a row dropped: %s", p->id, tr_strerror(rc));
        return;
    }
    p->rows++;
    /* a full WAL downstream says so by trigger(), from the loop */
    if (tr_onramp_emit_value(p->host, row, tr_v_null()) < 0) {
        p->dropped++;
        tr_log_limited(&p->drop_lim, TR_LOG_ERROR, MOD, "%s: a row could not be emitted (%" PRIu64 " dropped so far)",
                       p->id, p->dropped);
    }
}

static void on_done(void *arg, const char *error, const char *sqlstate) {
    struct pin *p = arg;
    p->in_flight = false;
    if (p->closing) return;
    if (error) {
        p->errors++;
        tr_log_limited(&p->lim, TR_LOG_WARN, MOD, "%s: query over the window failed (SQLSTATE %s): %s; "
                       "trying it again in %" PRId64 " ms", p->id, sqlstate ? sqlstate : "?", error,
                       p->interval_us / 1000);
        uv_timer_start(&p->timer, on_timer, (uint64_t)p->interval_us / 1000, 0);
        return;
    }
    p->from = p->until;
    p->until = p->from + p->interval_us;
    p->skip = 0;
    cache_save(p);
    poll_now(p);
}

static void on_up(void *arg) { poll_now(arg); }
static void on_down(void *arg, const char *why) {
    (void)arg;
    (void)why;
}

/* ---------------------------------------------------------------- ops */

static int pi_start(void *self) {
    struct pin *p = self;
    if (p->started) return 0;
    p->started = true;
    tr_pg_conn_start(p->conn);
    return 0;
}

static void pi_trigger(void *self) {
    struct pin *p = self;
    p->triggered = true;
    tr_pg_conn_pause(p->conn, true);
}

static void pi_restore(void *self) {
    struct pin *p = self;
    p->triggered = false;
    tr_pg_conn_pause(p->conn, false);
    poll_now(p);
}

/* Not transactional (0.11): answers about its rows change nothing. */
static void pi_noop_id(void *self, uint64_t id) {
    (void)self;
    (void)id;
}

static void one_closed(void *arg) {
    struct pin *p = arg;
    if (--p->closes) return;
    void (*done)(void *) = p->done;
    void *darg = p->done_arg;
    tr_free(p->id);
    tr_free(p->query);
    tr_free(p->cache_path);
    tr_free(p);
    if (done) done(darg);
}

static void on_timer_closed(uv_handle_t *h) { one_closed(h->data); }

static void pi_close(void *self, void (*done)(void *), void *arg) {
    struct pin *p = self;
    if (p->closing) return;
    p->closing = true;
    p->done = done;
    p->done_arg = arg;
    if (p->started) cache_save(p);
    TR_INFO(MOD, "%s: %" PRIu64 " rows emitted, %" PRIu64 " dropped, %" PRIu64 " failed queries", p->id,
            p->rows, p->dropped, p->errors);
    tr_log_limit_flush(&p->lim);
    tr_log_limit_flush(&p->drop_lim);
    p->closes = 2;
    uv_close((uv_handle_t *)&p->timer, on_timer_closed);
    tr_pg_conn_close(p->conn, one_closed, p);
}

struct pi_cfg {
    const char *host, *user, *password, *dbname, *query, *consume_from;
    uint64_t port, max_value, query_timeout_ms, connect_timeout_ms, min_ms, max_ms;
    uint64_t interval_ms, settle_ms, rows_per_turn;
    const tr_value *cache;
};

const struct tr_cmap_entry tr_postgres_in_cmap[] = {
    PG_COMMON_KEYS(struct pi_cfg),
    {TR_CMAP_KEY(TR_CMAP_STR, "query", NULL, TR_CMAP_REQUIRED, offsetof(struct pi_cfg, query),
     "the query; $1 and $2 are the window's start and end (timestamptz)")},
    {TR_CMAP_KEY(TR_CMAP_U64, "interval_ms", NULL, TR_CMAP_REQUIRED | TR_CMAP_RANGE,
     offsetof(struct pi_cfg, interval_ms), "length of each window after the first"), .lo = 1, .hi = 4294967295.0},
    {TR_CMAP_KEY(TR_CMAP_STR, "consume_from", NULL, TR_CMAP_REQUIRED, offsetof(struct pi_cfg, consume_from),
     "start of the first window (\"%Y-%m-%d %H:%M:%S%.6f %:z\")")},
    {TR_CMAP_KEY(TR_CMAP_VALUE, "cache", NULL, TR_CMAP_REQUIRED, offsetof(struct pi_cfg, cache),
     "{path, size}: the file that keeps the position, and its largest size")},
    {TR_CMAP_KEY(TR_CMAP_U64, "settle_ms", "1000", TR_CMAP_RANGE, offsetof(struct pi_cfg, settle_ms),
     "a window is queried once its end is this far in the past"), .lo = 0, .hi = 86400000},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_rows_per_turn", "256", TR_CMAP_RANGE, offsetof(struct pi_cfg, rows_per_turn),
     "rows emitted per loop turn; the rest of a result follows on the next turns (at most 4096: a "
     "breaker's trigger arrives at the end of the turn, and a full qos::wal holds 4096 events until then)"),
     .lo = 1, .hi = 4096},
    {0},
};

static int pi_create(const struct tr_conn_spec *spec, struct tr_onramp_host *host, void **self,
                     struct tr_diag *d) {
    *self = NULL;
    if (spec->config == NULL || spec->config->type != TR_REC)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "Missing config for postgres onramp '%s'", spec->id);
    struct pi_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_postgres_in_cmap, &c, d);
    if (rc) return rc;
    if (c.max_ms < c.min_ms)
        return tr_conn_cfg_fail(spec, "reconnect_max_ms", d, "must be at least reconnect_min_ms");
    int64_t from;
    if (tr_pg_time_parse(c.consume_from, strlen(c.consume_from), &from))
        return tr_conn_cfg_fail(spec, "consume_from", d, "must be a time as \"%%Y-%%m-%%d %%H:%%M:%%S%%.6f %%:z\" "
                                "(2021-01-01 00:00:00.000000 +00:00)");
    const tr_value *path = c.cache->type == TR_REC ? tr_rec_get(c.cache, "path", 4) : NULL;
    const tr_value *size = c.cache->type == TR_REC ? tr_rec_get(c.cache, "size", 4) : NULL;
    if (!path || path->type != TR_STR || !path->as.s->len || path->as.s->len > 4000 ||
        memchr(path->as.s->data, 0, path->as.s->len))
        return tr_conn_cfg_fail(spec, "cache", d, "must have a path (a file name)");
    if (!size || size->type != TR_I64 || size->as.i < 128 || size->as.i > (1 << 20))
        return tr_conn_cfg_fail(spec, "cache", d, "must have a size (bytes, 128 to 1048576)");
    struct pin *p = tr_calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    p->id = tr_strdup(spec->id ? spec->id : MOD);
    p->query = tr_strdup(c.query);
    p->cache_path = tr_strndup(path->as.s->data, path->as.s->len);
    p->cache_size = (uint64_t)size->as.i;
    if (!p->id || !p->query || !p->cache_path) {
        rc = -ENOMEM;
        goto fail;
    }
    char why[128] = "";
    rc = cache_load(p->cache_path, p->cache_size, &p->from, &p->until, &p->skip, why, sizeof why);
    if (rc == TR_ENOTFOUND) {
        p->from = from;   /* 0.11: the first window ends at the start */
        p->until = now_us();
        p->skip = 0;
        rc = 0;
    } else if (rc == 0) {
        char f[TR_PG_TIME_LEN];
        tr_pg_time_format(p->from, f);
        TR_INFO(MOD, "%s: going on from %s (cache %s, %" PRIu64 " rows of that window already emitted)",
                p->id, f, p->cache_path, p->skip);
    } else {
        rc = tr_conn_cfg_fail(spec, "cache", d, "file %s cannot be used: %s; remove it to start from "
                              "consume_from", p->cache_path, rc == TR_ECORRUPT ? why : tr_strerror(rc));
        goto fail;
    }
    p->interval_us = (int64_t)c.interval_ms * 1000;
    p->settle_us = (int64_t)c.settle_ms * 1000;
    p->max_value = c.max_value;
    p->host = host;
    char name[300];
    snprintf(name, sizeof name, "onramp '%s'", p->id);
    struct tr_pg_conn_cfg pc = {
        .name = name, .host = c.host, .port = (uint16_t)c.port, .user = c.user, .password = c.password,
        .dbname = c.dbname, .query_timeout_ms = c.query_timeout_ms, .connect_timeout_ms = c.connect_timeout_ms,
        .reconnect_min_ms = c.min_ms, .reconnect_max_ms = c.max_ms, .rows_per_turn = (uint32_t)c.rows_per_turn,
    };
    static const struct tr_pg_conn_cbs cbs = {on_up, on_down, on_row, on_done};
    rc = tr_pg_conn_create(tr_onramp_loop(host), &pc, &cbs, p, &p->conn);
    if (rc) goto fail;
    uv_timer_init(tr_onramp_loop(host), &p->timer);
    p->timer.data = p;
    *self = p;
    return 0;
fail:
    tr_free(p->id);
    tr_free(p->query);
    tr_free(p->cache_path);
    tr_free(p);
    return rc;
}

const struct tr_onramp_ops tr_postgres_onramp = {
    .type = "postgres",
    .transactional = false,
    .default_codec = "json",
    .create = pi_create,
    .start = pi_start,
    .trigger = pi_trigger,
    .restore = pi_restore,
    .ack = pi_noop_id,
    .fail = pi_noop_id,
    .close = pi_close,
};
