/* pipeline.h - one running instance of a query: a graph of nodes with ports.
 *
 * Nodes are the builtins in, out, err, then every stream, operator, script
 * and select of the query in file order. Events run depth-first from the
 * node that produced them; contraflow (acks, fails, breaker signals) runs
 * through the operators in reverse creation order and then to the inputs:
 * breaker signals to every input, acks and fails only to transactional ones.
 * Contraflow never runs inside the call that caused it: every insight (from
 * an offramp, an operator, or an event settled inside the graph) is queued
 * on the loop's deferred queue (core/defer.h) and delivered from the top of
 * the loop, so an ack arriving during a send cannot run the forward path
 * again. Without a loop the pipeline delivers them itself once the outermost
 * push, tick, flush or contraflow call is done with its forward work.
 * Not thread-safe: a pipeline lives on one loop thread.
 */
#ifndef TR_PIPELINE_H
#define TR_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/defer.h"
#include "core/error.h"
#include "core/event.h"
#include "lang/query.h"

struct tr_pipeline;
struct tr_op_ops;   /* ops/op.h */

/* The id ranges of event sources (tr_ids' source uid), each its own so an
 * operator finds its own ids in an insight: onramps count up from
 * TR_UID_ONRAMP_BASE, operators (qos::wal, roundrobin, ...) from
 * TR_UID_OP_BASE + 1, offramps from TR_UID_OFFRAMP_BASE. */
#define TR_UID_ONRAMP_BASE ((uint64_t)1)
#define TR_UID_OP_BASE ((uint64_t)1 << 47)
#define TR_UID_OFFRAMP_BASE (((uint64_t)1 << 51) + 1)

#define TR_PIPELINE_NCB 6        /* enum tr_cb values, for tr_pipeline_opts.queued */

struct tr_pipeline_opts {
    const char *id;          /* artefact id (file stem or #!config id) */
    const char *file;        /* the query's file, for diagnostics */
    const char *instance;    /* e.g. "01" */
    const char *server_instance; /* system::instance(), -i of server run */
    const char *data_dir;    /* for operators that keep state on disk */
    uv_loop_t *loop;         /* may be NULL (tests, tremor run): no async operators then */
    uint64_t *uid_counter;   /* shared operator uid counter, or NULL for a private one */
    /* The loop's deferred queue, shared by everything on it (NULL: the
     * pipeline keeps its own, on `loop` when there is one). Must outlive the
     * pipeline. */
    struct tr_defer *defer;
    /* Insights queued so far by kind (indexed by enum tr_cb), shared by
     * pipelines linked to each other (NULL: private ones). A forward call
     * learns from them what it caused downstream: a FAIL makes an operator's
     * emit return TR_EREFUSED. */
    uint64_t *queued;
    /* An operator cannot go on (tr_op_fatal): the host decides to stop and
     * exit non-zero. NULL: only logged. */
    void (*fatal)(void *arg, const char *pipeline, const char *why);
    void *fatal_arg;
    /* Where operator kinds are found; NULL: ops/registry.c (tr_op_find,
     * tr_op_kinds). */
    const struct tr_op_ops *(*op_find)(const char *kind);
    const char *(*op_kinds)(void);
    /* The `pipeline` tag of node metrics: a deployed 0.11 pipeline uses
     * its instance URL (tremor://localhost/pipeline/ID/INSTANCE). NULL:
     * the query's #!config id, or "<generated>" (0.11's bare graph). */
    const char *metrics_tag;
};

/* Where events leaving an output port go. The callee takes ev. */
typedef void (*tr_pipeline_out_fn)(void *arg, struct tr_event *ev);
/* Where insights leaving through an input go (to an onramp or an upstream
 * pipeline). The callee does not take in (copy what you keep). */
typedef void (*tr_pipeline_cf_fn)(void *arg, const struct tr_insight *in);

/* Build the graph of q (taken: destroyed with the pipeline, also on failure).
 * Errors: unknown node names, unknown operator kinds, bad parameters, with d
 * located in the query. */
int tr_pipeline_create(struct tr_query *q, const struct tr_pipeline_opts *o,
                       struct tr_pipeline **out, struct tr_diag *d);
void tr_pipeline_destroy(struct tr_pipeline *p);
const char *tr_pipeline_id(const struct tr_pipeline *p);

/* Send events leaving output port `port` ("out", "err", ...) to fn. */
int tr_pipeline_connect_output(struct tr_pipeline *p, const char *port, tr_pipeline_out_fn fn,
                               void *arg);
/* Register an input (onramp or upstream pipeline) for contraflow. */
int tr_pipeline_connect_input(struct tr_pipeline *p, bool transactional, tr_pipeline_cf_fn fn,
                              void *arg);

/* Remove the newest output connection to (fn, arg), or the newest input
 * registered with (fn, arg); TR_ENOTFOUND when there is none. Events and
 * insights already under way are not affected. */
int tr_pipeline_disconnect_output(struct tr_pipeline *p, tr_pipeline_out_fn fn, void *arg);
int tr_pipeline_disconnect_input(struct tr_pipeline *p, tr_pipeline_cf_fn fn, void *arg);

/* Run ev (taken) into input port `port` (normally "in"). Returns 0, or a
 * negative code for an unknown port (ev is dropped). Runtime errors inside
 * the graph are logged and counted, not returned. */
int tr_pipeline_push(struct tr_pipeline *p, const char *port, struct tr_event *ev);
/* The 100 ms tick: operators and windowed selects, in node order; node
 * metrics when their interval (> 0) is over, also without events. */
void tr_pipeline_tick(struct tr_pipeline *p, uint64_t now_ns);
/* An insight from downstream (an offramp or a later pipeline); copied.
 * Queued: delivered from the loop (see above), never before this returns
 * when called inside a forward call or a drain. */
void tr_pipeline_contraflow(struct tr_pipeline *p, const struct tr_insight *in);
/* The same, taking in->ids (left empty): no copy. */
void tr_pipeline_contraflow_take(struct tr_pipeline *p, struct tr_insight *in);
/* Let every operator emit what it holds (blocking; for `tremor run` at the
 * end of its input). Returns how many events the operators emitted. */
int tr_pipeline_flush(struct tr_pipeline *p);
/* Shutdown, phase one: operators stop emitting new work. p may be NULL. */
void tr_pipeline_quiesce(struct tr_pipeline *p);

struct tr_pipeline_stats {
    uint64_t events_in;
    uint64_t events_out;
    uint64_t errors;
    uint64_t hops;   /* events handed to a node; pass-only nodes are skipped without metrics */
    uint64_t acks_merged;   /* acks that joined the run queued before them (op.h range_acks) */
};
void tr_pipeline_stats(const struct tr_pipeline *p, struct tr_pipeline_stats *s);
/* true when no node an event pushed into `in` reaches first reads its
 * value (outputs, streams, operators that say takes_raw, such as
 * qos::wal): an input may then push TR_RAWJSON values (core/value.h).
 * Any node that reads values still gets them decoded (the pipeline does
 * it before handing them over), so this is a hint for the input, not a
 * rule. */
bool tr_pipeline_takes_raw(const struct tr_pipeline *p);
/* Whether its events may keep the JSON text they were decoded from
 * (tr_event_keep_raw): none of its scripts assigns to the event. */
bool tr_pipeline_keeps_raw(const struct tr_pipeline *p);
/* The operators that report stats (ops/op.h), as a new array of
 * {node, kind, stats}; [] when none. -ENOMEM. */
int tr_pipeline_op_stats(const struct tr_pipeline *p, tr_value *out);
/* The node metrics counted so far (only with metrics_interval_s; [] else):
 * a new array of {node, direction, port, count}. -ENOMEM. */
int tr_pipeline_node_events(const struct tr_pipeline *p, tr_value *out);
/* TRIGGERs queued and not yet run that will reach the inputs: none of the
 * operators they pass can stop them. An input that pushes while one is on
 * its way is told to stop (conn.h TR_ONRAMP_PAUSED), whether the trigger
 * was queued during its push or before it (e.g. by a WAL whose flush
 * failed before the loop polled): the trigger itself only arrives from
 * the loop, after every read of that poll. */
uint64_t tr_pipeline_triggers(const struct tr_pipeline *p);

#endif
