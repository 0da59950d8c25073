/* postgres_out.c - the `postgres` offramp (0.11 keys host, port, user,
 * password, dbname, table): every row of an event INSERTed into `table`.
 *
 * An event is one row, 0.11's record of {"fieldType", "name", "value"}
 * fields keyed by column (what the postgres onramp emits), or a batch
 * (generic::batch's array; every element's data.value is a row; a plain
 * array of rows too): one transaction per event, one INSERT per run of
 * rows with the same columns (BEGIN/COMMIT around them when there are
 * several; 0.11 inserts only the first row of a batch). Values are always bound parameters; only the table and
 * column names enter the SQL text, quoted as identifiers.
 *
 * Acks on the application's response: after COMMIT (or the single INSERT)
 * succeeded. A lost connection or a transient server error fails the event
 * (a WAL upstream replays it: at least once); an event that can never be
 * inserted (not rows, a value its fieldType cannot hold, a data, integrity
 * or syntax error: SQLSTATE classes 22, 23, 42) is rejected: logged,
 * counted and acked, so it is not replayed forever. Either way a linked
 * offramp sends {"error"} out of `err`. While not connected the breaker
 * is triggered and events are failed; it also triggers when half of
 * max_queue events wait (restored at a quarter); events past it are failed.
 * Invariant: every answered message is answered exactly once, also at close.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "codec/codec.h"
#include "config/cmap.h"
#include "connectors/conn.h"
#include "connectors/pg_conn.h"
#include "connectors/pg_keys.h"
#include "connectors/pg_value.h"
#include "core/alloc.h"
#include "core/log.h"

#define MOD "postgres"

enum phase { PH_BEGIN, PH_INSERT, PH_COMMIT, PH_ROLLBACK };

struct job {
    struct job *next;
    uint64_t token;
    bool answer;             /* transactional, or linked: must be answered */
    bool transactional;
    uint32_t nrows, cur;      /* INSERT statements, the one running */
    uint32_t nvalues;         /* rows in them */
    struct tr_pg_insert *rows;
};

struct pout {
    struct tr_offramp_host *host;
    char *id, *table;
    const struct tr_codec *codec;
    bool linked, closing, up, busy_reported, reported_down;
    struct tr_pg_conn *conn;
    struct job *head, *tail;  /* waiting */
    size_t queued, max_queue;
    struct job *cur;          /* in the database now */
    enum phase phase;
    char *cur_err;            /* why cur failed, once it did */
    bool cur_permanent;
    size_t max_value;
    uint64_t inserted_events, inserted_rows, failed, rejected, dropped;
    struct tr_log_limit lim;
    void (*done)(void *);
    void *done_arg;
};

static void job_free(struct job *j) {
    if (!j) return;
    for (uint32_t i = 0; i < j->nrows; i++) tr_pg_insert_fini(&j->rows[i]);
    tr_free(j->rows);
    tr_free(j);
}

static void emit_error(struct pout *o, uint64_t token, const char *msg) {
    if (!o->linked) return;
    tr_value v, m, x, y;
    if (tr_v_rec(1, &v)) return;
    if (tr_v_rec(1, &m)) {
        tr_value_unref(v);
        return;
    }
    int rc = tr_v_cstr(msg, &x);
    if (!rc && (rc = tr_v_cstr(msg, &y))) tr_value_unref(x);
    if (!rc && (rc = tr_rec_set(&v, "error", 5, x))) tr_value_unref(y);
    if (!rc) rc = tr_rec_set(&m, "error", 5, y);
    if (rc) {
        tr_value_unref(v);
        tr_value_unref(m);
        return;
    }
    tr_offramp_emit(o->host, token, true, v, m);
}

/* ok: inserted. permanent: will never insert, acked as a rejection. */
static void answer(struct pout *o, uint64_t token, bool must, bool transactional, bool ok, bool permanent,
                   const char *why) {
    if (ok) {
        o->inserted_events++;
    } else if (permanent) {
        o->rejected++;
        tr_log_limited(&o->lim, TR_LOG_WARN, MOD, "%s: event rejected, it cannot be inserted: %s (%" PRIu64
                       " rejected so far)", o->id, why, o->rejected);
    } else {
        o->failed++;
        if (!transactional) o->dropped++;
        tr_log_limited(&o->lim, TR_LOG_WARN, MOD, "%s: event %s: %s (%" PRIu64 " failed so far)", o->id,
                       transactional ? "failed" : "lost (not transactional)", why, o->failed);
    }
    if (!must) return;
    if (!ok) emit_error(o, token, why);
    if (ok || permanent) tr_offramp_ack(o->host, token);
    else tr_offramp_fail(o->host, token);
}

/* The breaker: triggered while down and from half of max_queue until a
 * quarter is left, so what a source sends before the trigger reaches it
 * still fits below the hard bound. */
static void report(struct pout *o) {
    if (o->closing) return;
    bool down = !o->up || o->queued >= o->max_queue / 2 ||
                (o->reported_down && o->queued > o->max_queue / 4);
    if (down == o->reported_down) return;
    o->reported_down = down;
    if (down) tr_offramp_trigger(o->host);
    else tr_offramp_restore(o->host);
}

static void step(struct pout *o);

static void finish(struct pout *o, bool ok) {
    struct job *j = o->cur;
    o->cur = NULL;
    if (ok) o->inserted_rows += j->nvalues;
    answer(o, j->token, j->answer, j->transactional, ok, o->cur_permanent, o->cur_err ? o->cur_err : "");
    tr_free(o->cur_err);
    o->cur_err = NULL;
    o->cur_permanent = false;
    job_free(j);
}

static int send_sql(struct pout *o, const char *sql) {
    return tr_pg_conn_query(o->conn, sql, 0, NULL, NULL, false);
}

static int send_row(struct pout *o) {
    struct tr_pg_insert *ins = &o->cur->rows[o->cur->cur];
    return tr_pg_conn_query(o->conn, ins->sql.data, (int)ins->n, ins->types,
                            (const char *const *)ins->values, false);
}

/* Start the next job when the connection is free. */
static void step(struct pout *o) {
    while (!o->closing && !o->cur && o->head && tr_pg_conn_ready(o->conn)) {
        struct job *j = o->head;
        o->head = j->next;
        if (!o->head) o->tail = NULL;
        o->queued--;
        if (j->nrows == 0) {   /* an empty batch: nothing to do */
            answer(o, j->token, j->answer, j->transactional, true, false, "");
            job_free(j);
            continue;
        }
        o->cur = j;
        o->phase = j->nrows == 1 ? PH_INSERT : PH_BEGIN;
        int rc = o->phase == PH_BEGIN ? send_sql(o, "BEGIN") : send_row(o);
        if (rc) {
            o->cur_err = tr_strdup("cannot send the query");
            finish(o, false);
        }
    }
    report(o);
}

static bool permanent_state(const char *s) {
    return s && (strncmp(s, "22", 2) == 0 || strncmp(s, "23", 2) == 0 || strncmp(s, "42", 2) == 0);
}

static void on_done(void *arg, const char *error, const char *sqlstate) {
    struct pout *o = arg;
    if (!o->cur) return;
    int rc = 0;
    bool lost = sqlstate && strcmp(sqlstate, "08006") == 0;
    if (error && o->phase != PH_ROLLBACK) {
        if (!o->cur_err) {
            o->cur_err = tr_strdup(error);
            o->cur_permanent = permanent_state(sqlstate);
        }
        if (lost || o->cur->nrows == 1 || o->phase == PH_BEGIN || o->phase == PH_COMMIT) {
            finish(o, false);   /* nothing open (a failed COMMIT rolls back) */
            goto next;
        }
        o->phase = PH_ROLLBACK;
        if ((rc = send_sql(o, "ROLLBACK"))) finish(o, false);
        goto next;
    }
    switch (o->phase) {
    case PH_BEGIN:
        o->phase = PH_INSERT;
        rc = send_row(o);
        break;
    case PH_INSERT:
        if (o->cur->nrows == 1) {
            finish(o, true);
            goto next;
        }
        if (++o->cur->cur < o->cur->nrows) {
            rc = send_row(o);
        } else {
            o->phase = PH_COMMIT;
            rc = send_sql(o, "COMMIT");
        }
        break;
    case PH_COMMIT:
        finish(o, true);
        goto next;
    case PH_ROLLBACK:
        finish(o, false);
        goto next;
    }
    if (rc) {
        if (!o->cur_err) o->cur_err = tr_strdup("connection lost while sending");
        finish(o, false);
    }
next:
    step(o);
}

static void fail_queued(struct pout *o, const char *why) {
    struct job *j;
    while ((j = o->head)) {
        o->head = j->next;
        o->queued--;
        answer(o, j->token, j->answer, j->transactional, false, false, why);
        job_free(j);
    }
    o->tail = NULL;
}

static void on_up(void *arg) {
    struct pout *o = arg;
    o->up = true;
    step(o);
}

static void on_down(void *arg, const char *why) {
    struct pout *o = arg;
    o->up = false;
    fail_queued(o, why);
    report(o);
}

static void on_row(void *arg, const PGresult *r) {
    (void)arg;
    (void)r;
}

/* The rows of an event into j as few INSERTs as their columns allow;
 * an error with why on a shape error. */
static int rows_of(struct pout *o, const tr_value *v, struct job *j, char *why, size_t n) {
    const tr_value *one = v;
    uint32_t count = v->type == TR_ARR ? tr_arr_len(v) : 1;
    j->rows = tr_calloc(count ? count : 1, sizeof *j->rows);
    if (!j->rows) return -ENOMEM;
    for (uint32_t i = 0; i < count; i++) {
        if (v->type == TR_ARR) {
            one = tr_arr_at(v, i);
            const tr_value *data = one->type == TR_REC ? tr_rec_get(one, "data", 4) : NULL;
            const tr_value *val = data && data->type == TR_REC ? tr_rec_get(data, "value", 5) : NULL;
            if (val && tr_rec_len(one) == 1) one = val;   /* generic::batch's element */
        }
        int rc = j->nrows ? tr_pg_insert_add(&j->rows[j->nrows - 1], one, o->max_value, why, n)
                          : TR_EUNSUPPORTED;
        if (rc == TR_EUNSUPPORTED) {
            tr_pg_insert_init(&j->rows[j->nrows]);
            j->nrows++;
            rc = tr_pg_insert_build(&j->rows[j->nrows - 1], o->table, one, o->max_value, why, n);
        }
        if (rc) return rc;
        j->nvalues++;
    }
    return 0;
}

static void po_send(void *self, const struct tr_out_msg *m) {
    struct pout *o = self;
    bool must = m->transactional || o->linked;
    char why[512] = "";
    tr_value v = tr_v_null();
    struct tr_diag d;
    if (o->closing || !o->up) {
        answer(o, m->token, must, m->transactional, false, false, "not connected");
        return;
    }
    if (o->queued >= o->max_queue) {
        answer(o, m->token, must, m->transactional, false, false, "queue full (max_queue)");
        return;
    }
    struct job *j = tr_calloc(1, sizeof *j);
    if (!j) {
        answer(o, m->token, must, m->transactional, false, false, "out of memory");
        return;
    }
    j->token = m->token;
    j->answer = must;
    j->transactional = m->transactional;
    int rc = 0;
    if (m->value) {   /* the event itself: rows are built from values, never from bytes */
        rc = rows_of(o, m->value, j, why, sizeof why);
    } else {          /* a host without values: decode what the codec wrote */
        tr_diag_clear(&d);
        rc = o->codec->decode(m->data, m->len, 0, &v, &d);
        if (rc == TR_CODEC_NOTHING) rc = TR_EPARSE;
        if (rc) snprintf(why, sizeof why, "cannot decode the event with codec %s: %.300s", o->codec->name,
                         d.msg[0] ? d.msg : tr_strerror(rc));
        else rc = rows_of(o, &v, j, why, sizeof why);
        tr_value_unref(v);
    }
    if (rc) {
        answer(o, m->token, must, m->transactional, false, rc != -ENOMEM, rc == -ENOMEM ? "out of memory" : why);
        job_free(j);
        return;
    }
    if (o->tail) o->tail->next = j;
    else o->head = j;
    o->tail = j;
    o->queued++;
    step(o);
}

static bool po_is_active(void *self) {
    struct pout *o = self;
    return !o->closing && o->up && o->queued < o->max_queue / 2;
}

static int po_start(void *self) {
    struct pout *o = self;
    o->reported_down = true;   /* the runtime starts with the breaker closed: say so */
    tr_offramp_trigger(o->host);
    tr_pg_conn_start(o->conn);
    return 0;
}

static void po_tick(void *self, uint64_t now_ns) {
    (void)now_ns;
    tr_log_limit_flush(&((struct pout *)self)->lim);
}

static void closed(void *arg) {
    struct pout *o = arg;
    void (*done)(void *) = o->done;
    void *darg = o->done_arg;
    tr_free(o->id);
    tr_free(o->table);
    tr_free(o);
    if (done) done(darg);
}

static void po_close(void *self, void (*done)(void *), void *arg) {
    struct pout *o = self;
    if (o->closing) return;
    o->done = done;
    o->done_arg = arg;
    if (o->cur) {
        if (!o->cur_err) o->cur_err = tr_strdup("offramp closing");
        o->cur_permanent = false;
        finish(o, false);
    }
    fail_queued(o, "offramp closing");
    o->closing = true;
    TR_INFO(MOD, "%s: %" PRIu64 " events (%" PRIu64 " rows) inserted, %" PRIu64 " failed, %" PRIu64
            " rejected", o->id, o->inserted_events, o->inserted_rows, o->failed, o->rejected);
    tr_log_limit_flush(&o->lim);
    tr_pg_conn_close(o->conn, closed, o);
}

struct po_cfg {
    const char *host, *user, *password, *dbname, *table;
    uint64_t port, max_value, query_timeout_ms, connect_timeout_ms, min_ms, max_ms, max_queue;
};

const struct tr_cmap_entry tr_postgres_out_cmap[] = {
    PG_COMMON_KEYS(struct po_cfg),
    {TR_CMAP_KEY(TR_CMAP_STR, "table", NULL, TR_CMAP_REQUIRED, offsetof(struct po_cfg, table),
     "table to insert into (name or schema.name)")},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_queue", "10000", TR_CMAP_RANGE, offsetof(struct po_cfg, max_queue),
     "events waiting for the database: the breaker triggers at half, more than this are failed"),
     .lo = 4, .hi = 1000000},
    {0},
};

static int po_create(const struct tr_conn_spec *spec, struct tr_offramp_host *host, void **self,
                     struct tr_diag *d) {
    *self = NULL;
    if (spec->config == NULL || spec->config->type != TR_REC)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "Missing config for postgres offramp '%s'", spec->id);
    struct po_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_postgres_out_cmap, &c, d);
    if (rc) return rc;
    if (c.max_ms < c.min_ms)
        return tr_conn_cfg_fail(spec, "reconnect_max_ms", d, "must be at least reconnect_min_ms");
    {
        struct tr_buf b;
        tr_buf_init(&b);
        const char *dot = strchr(c.table, '.');
        rc = dot ? tr_pg_quote_ident(c.table, (size_t)(dot - c.table), &b) : tr_pg_quote_ident(c.table, strlen(c.table), &b);
        if (!rc && dot) rc = tr_pg_quote_ident(dot + 1, strlen(dot + 1), &b);
        tr_buf_fini(&b);
        if (rc == TR_EINVAL_CFG) return tr_conn_cfg_fail(spec, "table", d, "must be a name or schema.name");
        if (rc) return rc;
    }
    const struct tr_codec *codec = tr_codec_find(spec->codec ? spec->codec : "json");
    if (!codec) return tr_conn_cfg_fail(spec, "codec", d, "is not a known codec");
    struct pout *o = tr_calloc(1, sizeof *o);
    if (!o) return -ENOMEM;
    o->id = tr_strdup(spec->id ? spec->id : MOD);
    o->table = tr_strdup(c.table);
    char name[300];
    snprintf(name, sizeof name, "offramp '%s'", spec->id ? spec->id : "");
    struct tr_pg_conn_cfg pc = {
        .name = name, .host = c.host, .port = (uint16_t)c.port, .user = c.user, .password = c.password,
        .dbname = c.dbname, .query_timeout_ms = c.query_timeout_ms, .connect_timeout_ms = c.connect_timeout_ms,
        .reconnect_min_ms = c.min_ms, .reconnect_max_ms = c.max_ms, .rows_per_turn = 1,
    };
    static const struct tr_pg_conn_cbs cbs = {on_up, on_down, on_row, on_done};
    rc = o->id && o->table ? tr_pg_conn_create(tr_offramp_loop(host), &pc, &cbs, o, &o->conn) : -ENOMEM;
    if (rc) {
        tr_free(o->id);
        tr_free(o->table);
        tr_free(o);
        return rc;
    }
    o->host = host;
    o->codec = codec;
    o->linked = spec->linked;
    o->max_value = c.max_value;
    o->max_queue = c.max_queue;
    *self = o;
    return 0;
}

const struct tr_offramp_ops tr_postgres_offramp = {
    .type = "postgres",
    .linked = true,
    .create = po_create,
    .start = po_start,
    .send = po_send,
    .tick = po_tick,
    .is_active = po_is_active,
    .close = po_close,
};
