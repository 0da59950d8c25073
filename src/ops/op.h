/* op.h - the operator interface: one node kind of a pipeline graph.
 *
 * Operators are created by `create operator X from <module>::<name>` in a
 * query. They receive events on named input ports and emit through their
 * host; they may see the 100 ms tick and the contraflow (acks, fails,
 * circuit-breaker signals) travelling back upstream. Everything runs on the
 * pipeline's loop thread. An operator may emit later, outside event(), e.g.
 * when the WAL reports records durable: the host runs the graph from there.
 *
 * Contraflow rule: contraflow() is never called from inside a forward call
 * (event(), tick(), flush(), or the emit that runs the graph downstream of
 * the operator). The host queues every insight (TR_CB_ACK, FAIL, TRIGGER,
 * RESTORE, RELEASE) on the loop's deferred queue (core/defer.h) and
 * delivers it from the top of the loop, in the order queued, so acks keep
 * their order per source. An operator may therefore emit from contraflow()
 * without guarding against being inside its own emit. What a sink refused at
 * once is not lost in between: that emit returns TR_EREFUSED (its FAIL
 * follows), so an operator can stop emitting past it.
 */
#ifndef TR_OP_H
#define TR_OP_H

#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "core/defer.h"
#include "core/error.h"
#include "core/event.h"
#include "core/value.h"

struct tr_op_host;
struct tr_op_host_ops {
    /* Send ev (taken) out of the operator's port into the graph now.
     * TR_EREFUSED: a receiver failed it (or a copy) at once. */
    int (*emit)(struct tr_op_host *h, const char *port, struct tr_event *ev);
    /* Send an insight (taken) upstream from this operator: queued, it
     * reaches the operators before this one after the caller returns. */
    void (*insight)(struct tr_op_host *h, struct tr_insight *in);
    /* The operator cannot go on without losing events it was handed (say,
     * a qos::wal whose disk keeps failing while a source ignores
     * backpressure): the server stops and exits non-zero, so a supervisor
     * restarts it and transactional sources replay. `why` is copied. May be
     * NULL (tests). May be called from inside emit: the host only records
     * it there and stops the server later, from the loop. */
    void (*fatal)(struct tr_op_host *h, const char *why);
};
struct tr_op_host {
    const struct tr_op_host_ops *ops;
    uv_loop_t *loop;         /* NULL when the pipeline runs without a loop (tests, tremor run) */
    /* The deferred queue the host delivers insights from: an operator may
     * post its own work there (see core/defer.h). NULL: none (tests). */
    struct tr_defer *defer;
};

static inline int tr_op_emit(struct tr_op_host *h, const char *port, struct tr_event *ev) {
    return h->ops->emit(h, port, ev);
}
static inline void tr_op_insight(struct tr_op_host *h, struct tr_insight *in) {
    h->ops->insight(h, in);
}
static inline void tr_op_fatal(struct tr_op_host *h, const char *why) {
    if (h->ops->fatal) h->ops->fatal(h, why);
}

/* What an operator is told at creation. */
struct tr_op_spec {
    const char *id;          /* the node name in the query */
    const char *kind;        /* "qos::wal" */
    const tr_value *params;  /* record of `with` parameters */
    uint64_t uid;            /* operator uid, used as the source of ids it creates */
    const char *pipeline;    /* pipeline artefact id */
    const char *instance;    /* pipeline instance */
    const char *server_instance; /* -i of server run */
    const char *data_dir;    /* server data directory (-d), for persistent state */
    const char *file;        /* query file and statement position, for diagnostics */
    int line, col;
};

struct tr_cmap_entry;         /* config/cmap.h */

struct tr_op_ops {
    const char *kind;
    /* The `with` parameters it reads (config/cmap.h), for checking and help;
     * NULL while the operator is not described by a map yet. */
    const struct tr_cmap_entry *cmap;
    int (*create)(const struct tr_op_spec *spec, struct tr_op_host *host, void **self,
                  struct tr_diag *d);
    /* Takes ev. A negative return is a runtime error (logged, counted). */
    int (*event)(void *self, const char *port, struct tr_event *ev);
    void (*tick)(void *self, uint64_t now_ns);                 /* may be NULL */
    /* Called with every insight passing this operator on its way upstream,
     * from the loop, never inside a forward call (rule above); set in->cb =
     * TR_CB_NONE to stop it here. May be NULL (passes through). */
    void (*contraflow)(void *self, struct tr_insight *in);
    /* contraflow also sees TR_CB_RELEASE; others never do (it passes them). */
    bool release;
    /* An ack of a run of its events (ids merged by tr_ids_extend) does what
     * one ack per event would, and it stops every ack of its own events.
     * A pipeline whose contraflow operators all say so merges acks queued
     * back to back for one of them into one insight (pipeline.c). */
    bool range_acks;
    /* It never reads an event's value (nor its meta's parts): events may
     * reach it as undecoded JSON (TR_RAWJSON, core/value.h), which it
     * keeps as it is; it passes them on so or stores them whole. Any
     * other operator gets values decoded. */
    bool takes_raw;
    /* Stop emitting: the server is shutting down and drains. May be NULL. */
    void (*quiesce)(void *self);
    /* Make everything the operator holds visible and emit what it can now,
     * blocking if needed (`tremor run` at the end of its input; tests).
     * Returns the number of events emitted. May be NULL. */
    int (*flush)(void *self);
    void (*destroy)(void *self);
    /* Its counters and gauges for the REST API's /status and /metrics, as
     * a new record of {name: number} (a nested record for a latency
     * summary: {count, sum_ns, p50_ns, p90_ns, p99_ns, p999_ns}). From the
     * loop, between events. May be NULL (nothing to report). */
    int (*stats)(void *self, tr_value *out);
    /* 0.11's operator metrics, reported with the node metrics when the
     * pipeline's interval is over: a new array of {measurement, tags:
     * {...}, count}; the pipeline adds its pipeline and node tags and the
     * timestamp. May be NULL (none). */
    int (*metrics)(void *self, tr_value *out);
};

/* Registry (ops/registry.c). NULL when unknown. */
const struct tr_op_ops *tr_op_find(const char *kind);
/* ", "-separated list of every kind, for messages. */
const char *tr_op_kinds(void);
/* Print the config map of kind to f; with kind NULL or unknown, print the
 * list of kinds instead and return TR_ENOTFOUND for an unknown one. */
int tr_op_help(const char *kind, FILE *f);

#endif
