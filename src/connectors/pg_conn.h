/* pg_conn.h - one PostgreSQL connection driven by libpq on the libuv loop.
 *
 * Never blocks the loop: the host name is resolved with uv_getaddrinfo and
 * handed to libpq as hostaddr, the connection is made with
 * PQconnectStartParams/PQconnectPoll and queries run with
 * PQsendQueryParams, the socket watched by a uv_poll handle. A lost or
 * failed connection is retried with capped exponential backoff and jitter
 * (connectors/backoff.h) until closed. One query at a time; its rows
 * (single-row mode) come at most rows_per_turn per loop turn, the rest on
 * the next turns, and not at all while paused (the server then waits on
 * TCP). Every session sets statement_timeout, DateStyle ISO and TimeZone
 * UTC (pg_value.h reads that text). No TLS, as 0.11 (NoTls).
 * All calls and callbacks on the loop thread.
 */
#ifndef TR_PG_CONN_H
#define TR_PG_CONN_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct tr_pg_conn_cfg {
    const char *name;                 /* for log lines ("postgres 'in'") */
    const char *host;                 /* name, address, or a socket directory ("/...") */
    uint16_t port;
    const char *user, *password, *dbname;
    uint64_t query_timeout_ms;        /* statement_timeout; 0: none */
    uint64_t connect_timeout_ms;      /* per attempt */
    uint64_t reconnect_min_ms, reconnect_max_ms;
    uint32_t rows_per_turn;           /* >= 1 */
};

struct tr_pg_conn_cbs {
    void (*up)(void *arg);                          /* connected (again): ready for a query */
    void (*down)(void *arg, const char *why);       /* lost, after the query in flight was done */
    void (*row)(void *arg, const PGresult *r);      /* one row of a single-row query (borrowed) */
    /* The query is over: error NULL on success, else the server's or the
     * transport's message (sqlstate "08006" for a lost connection). The
     * next query may be sent from here. */
    void (*done)(void *arg, const char *error, const char *sqlstate);
};

struct tr_pg_conn;

/* cfg's strings are copied. -ENOMEM. Nothing happens before start. */
int tr_pg_conn_create(uv_loop_t *loop, const struct tr_pg_conn_cfg *cfg, const struct tr_pg_conn_cbs *cbs,
                      void *arg, struct tr_pg_conn **out);
/* Begin connecting (and keep doing so). */
void tr_pg_conn_start(struct tr_pg_conn *c);
/* Connected with no query in flight. */
bool tr_pg_conn_ready(const struct tr_pg_conn *c);
/* Send a query (params as text, types may hold 0s, values NULL for SQL
 * NULL; all copied by libpq). 0, or TR_ECLOSED when not ready, -EIO when
 * libpq refuses it (the connection is then dropped and retried, with the
 * down callback from the loop). The answer comes by done (and rows by row
 * when single_row). */
int tr_pg_conn_query(struct tr_pg_conn *c, const char *sql, int n, const Oid *types,
                     const char *const *values, bool single_row);
/* Stop (true) or resume delivering rows. */
void tr_pg_conn_pause(struct tr_pg_conn *c, bool paused);
/* Drop the connection, stop retrying, free everything, then done(arg)
 * from the loop. No callback runs after this call. NULL: no-op. */
void tr_pg_conn_close(struct tr_pg_conn *c, void (*done)(void *arg), void *arg);

#endif
