/* kafka_int.h - what the kafka onramp (kafka_in.c) and offramp
 * (kafka_out.c) share, in kafka.c: building librdkafka's configuration
 * from 0.11's keys, and handing librdkafka's work over to our loop.
 *
 * Threads: librdkafka runs its own broker and main threads. They never call
 * us: every callback we register (delivery reports, rebalances, commits,
 * errors, log lines with log.queue) is queued by librdkafka on a queue that
 * only the loop thread serves. The queue is told to write one byte to a
 * pipe when it goes from empty to non-empty (rd_kafka_queue_io_event_enable);
 * a uv_poll on the pipe's read end calls the owner back on the loop, which
 * then serves the queue without blocking (timeouts of 0). Nothing spins.
 */
#ifndef TR_KAFKA_INT_H
#define TR_KAFKA_INT_H

#include <stdbool.h>

#include <librdkafka/rdkafka.h>
#include <uv.h>

#include "connectors/conn.h"

/* A pipe written by librdkafka when a queue gets work, polled by the loop. */
struct tr_kafka_wake {
    uv_poll_t poll;
    uv_timer_t again;             /* another turn when a serve stopped at its bound */
    int fd[2];
    rd_kafka_queue_t *q;
    void (*cb)(void *arg);
    void *arg;
    int handles;                  /* open uv handles (0..2) */
    void (*closed)(void *arg);    /* after both handles are closed */
};

/* Start watching q (borrowed; keep it until tr_kafka_wake_close): cb(arg)
 * runs on the loop whenever q has work, and once at once in case it has
 * some already. 0 or a negative errno (then nothing is open). */
int tr_kafka_wake_open(struct tr_kafka_wake *w, uv_loop_t *loop, rd_kafka_queue_t *q,
                       void (*cb)(void *), void *arg);
/* cb(arg) again on the next loop turn: the owner stopped serving at its
 * per-turn bound with work left. */
void tr_kafka_wake_again(struct tr_kafka_wake *w);
/* Watch q instead of the queue watched so far (a new client replacing a
 * broken one); the old queue no longer writes to the pipe. */
void tr_kafka_wake_switch(struct tr_kafka_wake *w, rd_kafka_queue_t *q);
/* Stop: librdkafka no longer writes to the pipe (call it before
 * rd_kafka_destroy); closed(arg) runs from the loop once the handles are
 * closed, then the pipe is closed too. */
void tr_kafka_wake_close(struct tr_kafka_wake *w, void (*closed)(void *), void *arg);

/* The common keys of both directions, as 0.11 reads them. */
struct tr_kafka_common {
    const tr_value *brokers;          /* array of "host:port" strings */
    const tr_value *rdkafka_options;  /* map of librdkafka property -> string, or NULL */
};

/* A librdkafka configuration: bootstrap.servers from brokers, then the
 * pairs of defaults (NULL-terminated "key", "value", ...), then
 * rdkafka_options (strings, numbers and booleans as their text), then
 * log.queue (our loop serves log lines). Errors name the key
 * (config.brokers / config.rdkafka_options) and say librdkafka's reason;
 * *out is NULL on failure. */
int tr_kafka_conf(const struct tr_conn_spec *spec, const struct tr_kafka_common *c,
                  const char *const *defaults, rd_kafka_conf_t **out, struct tr_diag *d);

/* Whether rdkafka_options sets key, and to what (NULL: not set). */
const char *tr_kafka_option(const struct tr_kafka_common *c, const char *key, char *buf, size_t n);

/* "tremor-<hostname>-<id>" into buf (0.11's client.id). */
void tr_kafka_client_id(const char *host, const char *id, char *buf, size_t n);

/* librdkafka's log callback into our log (from the loop, with log.queue). */
void tr_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

#endif
