/* world_int.h - what the files of the world share; world.h is the API.
 *
 *   world_load.c     published artefacts: .trickle queries, YAML entries
 *   world_deploy.c   binding instances: instances created, linked, retired
 *   world_onramp.c   onramp hosting: ids, preprocessors, codec, contraflow in
 *   world_offramp.c  offramp hosting: encoding, tokens, answers as contraflow
 *   world_decode.c   an onramp's decoding off the loop, on libuv's thread pool
 *   world_life.c     create, start, the tick, the stop sequence, destroy
 *
 * Invariant: an instance is never freed before the world; a closed or
 * retired one only loses its `self` (or its pipeline), so contraflow that
 * arrives late finds it closed and is dropped. All on the loop thread
 * but world_decode_one, which the pool runs (world_decode.c).
 */
#ifndef TR_WORLD_INT_H
#define TR_WORLD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "config/url.h"
#include "connectors/conn.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/defer.h"
#include "core/event.h"
#include "core/log.h"
#include "core/ring.h"
#include "pipeline/pipeline.h"
#include "pipeline/world.h"

#define TICK_MS 100
#define WORLD_SIDS 4096
#define MAX_QUERY_BYTES (64u * 1024 * 1024)

struct tr_codec;
struct world_batch;

struct query_art {
    char *id;
    char *path;
    char *src;
    size_t len;
};

struct pipe_inst {
    struct tr_world *w;
    char *id;
    char *instance;
    struct tr_pipeline *p;           /* NULL once retired or stopped */
    unsigned refs;                   /* binding instances using it; 0: retired */
};

struct stream_pp {
    uint64_t stream;
    struct tr_preproc *pp;
};

struct onramp_inst {
    struct tr_onramp_host host;      /* first: the connector's view of us */
    struct tr_world *w;
    size_t art;                      /* index into w->cfg.onramps (the array may move) */
    char *instance;
    const struct tr_onramp_ops *ops;
    void *self;
    const struct tr_codec *codec;
    char *const *pre;
    size_t npre;
    struct stream_pp *streams;
    size_t nstreams, streams_cap;
    uint64_t uid;
    uint64_t next_id;
    struct pipe_inst **outs;
    size_t nouts, outs_cap;
    struct pipe_inst **errs;         /* linked from the port 'err' */
    size_t nerrs, errs_cap;
    uint64_t chunk_id;               /* next_id when the bytes being decoded came in */
    uint64_t decode_errors;
    uint64_t events_out;             /* events handed to the pipelines (the REST API's metrics) */
    uint64_t metrics_last;           /* when ramp_events were last sent (world_metrics.c) */
    struct tr_log_limit decode_log;  /* a peer can cause one decode error per frame */
    tr_value cur_meta;               /* meta of the bytes being decoded */
    uint64_t cur_stream;             /* stream of the bytes being decoded */
    int in_bytes;                    /* inside emit_bytes */
    /* linked onramps: the stream of each recent event (a ring), so a
     * reply reaches the connection its request came from */
    struct stream_of { uint64_t id, stream; } *sids;
    size_t nsids;                    /* entries written so far (ring index = n % WORLD_SIDS) */
    struct tr_preproc *cur_pp;       /* the chain they go through; NULL: none */
    int chunk_first;                 /* the next frame is its chunk's first */
    int dq_told;                     /* the decode queue asked the chunk's reader to stop */
    uint64_t chunk_ns;               /* when the chunk was handed over (its events' ingest_ns,
                                        as 0.11 takes it once per chunk); 0: no chunk */
    struct tr_varena_carry carry;    /* the block its decoded values go on filling (value.h) */
    /* decoding off the loop (world_decode.c): the batch collecting
     * frames, the one in the pool, an emptied one kept for reuse */
    struct world_batch *dq_fill, *dq_busy, *dq_spare;
    struct tr_defer_node dq_pause_node;  /* tells the connector to stop reading */
    int dq_paused;                   /* frames waiting passed the bound, the connector was
                                        told to stop: it is restored when the batch is back */
    int dq_waiter;                   /* the stop sequence counts this onramp until delivered */
    int pipe_paused;                 /* a pipeline's trigger holds it (no restore since) */
    int closing;
    int started;
    unsigned refs;
};

struct pending {
    struct tr_ids ids;
    struct pipe_inst *pi;
    int used;
    int released;                    /* upstream was told the peer has it */
    int transactional;               /* a linked offramp tracks every event: only these are answered upstream */
};

struct out_link {
    struct offramp_inst *o;
    struct pipe_inst *pi;
    int told;                        /* the pipeline was told whether o takes events */
    int untracked;                   /* linked to a port other than 'in': no insights back */
};

struct offramp_inst {
    struct tr_offramp_host host;     /* first */
    struct tr_world *w;
    size_t art;                      /* index into w->cfg.offramps */
    char *instance;
    const struct tr_offramp_ops *ops;
    void *self;
    const struct tr_codec *codec;
    uint64_t uid;
    struct out_link **links;
    size_t nlinks, links_cap;
    struct tr_ring pending;          /* of struct pending, for tokens base, base+1, ... */
    uint64_t base;                   /* token of the oldest; the next is base + its length */
    size_t in_flight;
    struct tr_buf enc;
    struct pipe_inst **outs, **errs; /* linked offramps: pipelines fed from 'out' / 'err' */
    size_t nouts, outs_cap, nerrs, errs_cap;
    uint64_t next_id;                /* ids of the events sent out of them */
    struct tr_postproc *post;        /* made at the first event; NULL: none yet */
    uint64_t encode_errors;
    /* counted for the REST API's metrics */
    uint64_t events_in, events_out, acks, fails, triggers, restores;   /* out: acked or sent untracked */
    int breaker_open;                /* the last breaker signal was a trigger */
    uint64_t metrics_last;           /* when ramp_events were last sent (world_metrics.c) */
    int closing;
    int started;
    unsigned refs;
};

/* One link a binding instance made, so unbind can take it out again. */
enum link_kind { LINK_ONRAMP_PIPE, LINK_ONRAMP_ERR_PIPE, LINK_PIPE_OFFRAMP, LINK_PIPE_PIPE,
                 LINK_PIPE_ONRAMP, LINK_OFFRAMP_PIPE, LINK_OFFRAMP_ERR_PIPE };
struct made_link {
    enum link_kind kind;
    struct onramp_inst *on;          /* LINK_ONRAMP_PIPE, LINK_ONRAMP_ERR_PIPE, LINK_PIPE_ONRAMP */
    struct pipe_inst *from, *to;     /* from: LINK_PIPE_*, to: LINK_ONRAMP_PIPE, LINK_PIPE_PIPE */
    struct out_link *ol;             /* LINK_PIPE_OFFRAMP */
    struct offramp_inst *off;        /* LINK_OFFRAMP_PIPE, LINK_OFFRAMP_ERR_PIPE (to: the pipeline) */
};

/* A deployed binding instance: its links and the instances it counts in. */
struct bound {
    char *url;
    tr_value vars;                   /* the placeholders it was deployed with (TR_NULL: none) */
    struct made_link *links;
    size_t nlinks, links_cap;
    void **insts;                    /* onramp_inst / offramp_inst / pipe_inst */
    enum tr_world_kind *kinds;
    size_t ninsts, insts_cap, kinds_cap;
};

/* The world's life. Moves only through world_move, which asserts that
 * the move is one of these arrows:
 *
 *   LOADED --start--> RUNNING
 *     |                  |
 *     +------stop--------+--> ONRAMPS_CLOSING   (onramps closing)
 *                                  | every onramp closed
 *                                  v
 *                              DRAINING         (operators quiesced; until
 *                                  |             nothing is in flight or
 *                                  |             the drain time is over)
 *                                  v
 *                              OFFRAMPS_CLOSING (offramps closing; what they
 *                                  |             hold is failed)
 *                                  | every offramp closed
 *                                  v
 *                              PIPES_CLOSED     (pipelines destroyed, the
 *                                  |             tick handle closing)
 *                                  v
 *                               STOPPED         (stop's done was called)
 */
enum world_state {
    W_LOADED,
    W_RUNNING,
    W_ONRAMPS_CLOSING,
    W_DRAINING,
    W_OFFRAMPS_CLOSING,
    W_PIPES_CLOSED,
    W_STOPPED,
};

struct tr_world {
    uv_loop_t *loop;
    char *instance;
    char *data_dir;
    struct tr_world_registry reg;
    struct tr_config cfg;
    size_t deployed_mappings;
    struct query_art *queries;
    size_t nqueries, queries_cap;
    struct pipe_inst **pipes;
    size_t npipes, pipes_cap;
    struct onramp_inst **onramps;
    size_t nonramps, onramps_cap;
    struct offramp_inst **offramps;
    size_t nofframps, offramps_cap;
    struct bound **bounds;
    size_t nbounds, bounds_cap;
    /* unpublished config entries, by index into cfg's arrays (0/1) */
    unsigned char *gone[3];          /* onramps, offramps, bindings */
    size_t gone_cap[3];
    uint64_t next_onramp_uid;
    uint64_t next_offramp_uid;
    uint64_t op_uids;
    uv_timer_t tick;
    int tick_open;
    struct tr_defer defer;           /* the loop's deferred queue */
    struct tr_defer_node stop_node;  /* the next stop step, from the loop */
    uint64_t queued[TR_PIPELINE_NCB]; /* insights queued by kind (pipelines share it) */
    enum world_state state;
    /* stopping */
    uint64_t drain_deadline;
    size_t closing_count;
    void (*stop_done)(void *);
    void *stop_arg;
    struct tr_buf detail;            /* rendered source excerpt of the last error */
    void (*on_shutdown)(void *arg);
    void *shutdown_arg;
    int fatal;                       /* an operator cannot go on: stop, exit 1 */
    int fatal_told;                  /* on_shutdown called for it */
    int exit_code;                   /* asked for by a connector (exit, cb), -1: none */
    int decode_off_loop;             /* onramps decode on the thread pool (world_decode.c) */
};

static inline const struct tr_cfg_artefact *on_art(const struct onramp_inst *o) {
    return &o->w->cfg.onramps[o->art];
}

static inline const struct tr_cfg_artefact *off_art(const struct offramp_inst *o) {
    return &o->w->cfg.offramps[o->art];
}

/* Whether offramp o answers what it is sent (its responses go out of
 * out/err): a linked transport, linked by its entry or always. */
static inline bool off_linked(const struct offramp_inst *o) {
    return o->ops->linked && (off_art(o)->linked || o->ops->always_linked);
}

/* What a connector's create is given for instance `instance` of entry a. */
static inline struct tr_conn_spec world_conn_spec(const struct tr_cfg_artefact *a, const char *instance) {
    return (struct tr_conn_spec){.id = a->id, .type = a->type, .instance = instance,
                                 .config = &a->config, .file = a->loc.file, .line = a->loc.line,
                                 .col = a->loc.col, .keys = a->config_keys, .nkeys = a->nconfig_keys,
                                 .linked = a->linked != 0, .codec = a->codec};
}

/* The last step of world_onramp_create and world_offramp_create, after the
 * connector's create answered rc: on success the instance (inst, whose
 * connector is *self and name instance) joins the world's list of its
 * kind; on failure its connector is closed and inst and instance freed. */
struct world_inst_list {
    void ***arr;
    size_t *n, *cap;
};
int world_inst_keep(int rc, const char *kind, const struct tr_cfg_artefact *a,
                    void *inst, char *instance, void *self,
                    void (*close)(void *self, void (*done)(void *arg), void *arg),
                    struct world_inst_list list);

static inline int push(void **arr, size_t *n, size_t *cap, void *item) {
    int rc = tr_grow(arr, cap, *n + 1, sizeof(void *));
    if (rc) return rc;
    ((void **)*arr)[(*n)++] = item;
    return 0;
}

/* Whether the world is past RUNNING (a stop began). */
static inline int world_stopping(const struct tr_world *w) { return w->state >= W_ONRAMPS_CLOSING; }

/* world_life.c */
void world_move(struct tr_world *w, enum world_state to);
/* Start what is deployed and not started yet: offramps, then the breaker
 * state of every new offramp link, then onramps. Errors name the artefact. */
int world_start_new(struct tr_world *w, struct tr_diag *d);
/* An operator cannot go on (tr_pipeline_opts.fatal). */
void world_pipe_fatal(void *arg, const char *pipeline, const char *why);

/* world_load.c */
/* world_load.c: compile and keep a query (takes src); check an onramp or
 * offramp entry's type, codec and processors. */
int world_publish_query(struct tr_world *w, const char *path, char *src, size_t len,
                        struct tr_diag *d);
int world_check_artefact(const struct tr_world *w, const struct tr_cfg_artefact *a, int is_onramp,
                         struct tr_diag *d);
const struct query_art *world_find_query(const struct tr_world *w, const char *id);
/* The published entry id of kind (ONRAMP, OFFRAMP), NULL when absent or unpublished. */
const struct tr_cfg_artefact *world_find_art(const struct tr_world *w, enum tr_world_kind k,
                                             const char *id);
const struct tr_cfg_binding *world_find_binding(const struct tr_world *w, const char *id);
int world_is_gone(const struct tr_world *w, enum tr_world_kind k, size_t idx);
/* ", "-separated published ids of a kind into buf ("none" when empty). */
void world_list_ids(const struct tr_world *w, enum tr_url_kind k, char *buf, size_t n);
const char *world_kind_name(enum tr_url_kind k);

/* world_onramp.c */
int world_onramp_create(struct tr_world *w, const struct tr_cfg_artefact *a, const char *instance,
                        struct onramp_inst **out, struct tr_diag *d);
/* Contraflow reaching an onramp through a pipeline input (arg: onramp_inst). */
void world_onramp_cf(void *arg, const struct tr_insight *in);
/* A pipeline's event linked back to an onramp (arg: onramp_inst; a linked
 * transport's reply). Takes ev. */
void world_onramp_reply(void *arg, struct tr_event *ev);
/* Close one onramp outside the stop sequence (unbind); the instance stays. */
void world_onramp_retire(struct onramp_inst *o);
void world_onramp_free(struct onramp_inst *o);
/* The decode of one frame, on whichever thread (the values go on the
 * calling thread's carry): the codec's lazy, canonical or plain decode by
 * mode; *raw the frame's copy when canonical (else NULL). The codec's
 * answer: 0, TR_CODEC_NOTHING or a negative code with d set. */
enum world_decode_mode { WORLD_DECODE_PLAIN, WORLD_DECODE_CANON, WORLD_DECODE_LAZY };
int world_decode_one(const struct tr_codec *codec, int mode, const char *data, size_t len, uint64_t now,
                     tr_value *v, struct tr_str **raw, struct tr_diag *d);
/* What decoding gave, as events (loop thread): v with raw (both taken)
 * becomes an event with meta (taken) and ingest_ns, or rc < 0 is counted,
 * logged and sent to the port 'err' with msg (NULL: rc's text); len is
 * the frame's length, for the log. */
void world_onramp_deliver(struct onramp_inst *o, int rc, tr_value v, struct tr_str *raw, tr_value meta,
                          uint64_t ingest_ns, const char *msg, size_t len);

/* world_decode.c: decoding off the loop. Loop thread only. */
/* Whether a frame to be decoded by mode goes to the pool: the world asks
 * for it and the onramp may, or frames are queued already (order). */
bool world_decode_wanted(const struct onramp_inst *o, int mode);
/* Queue a copy of the frame (meta: o->cur_meta, referenced); first: the
 * first frame of its chunk. 0, TR_ONRAMP_PAUSED when the onramp should
 * stop reading (it is triggered from the loop, too), or -ENOMEM. */
int world_decode_enqueue(struct onramp_inst *o, const char *data, size_t len, int mode, uint64_t now,
                         uint64_t ingest_ns, int first);
/* Frames queued or in the pool. */
bool world_decode_pending(const struct onramp_inst *o);
/* Stopping: frames still queued count as one onramp closing
 * (w->closing_count) until delivered. */
void world_decode_quiet(struct onramp_inst *o);
/* Outside the loop's run only: run it until no batch is in the pool. */
void world_decode_wait(struct onramp_inst *o);
/* At free: what waits is dropped, the batches freed. */
void world_decode_fini(struct onramp_inst *o);
/* world_life.c: one closing onramp (or its queued frames) is done. */
void world_stop_closed_one(struct tr_world *w);

/* world_offramp.c */
int world_offramp_create(struct tr_world *w, const struct tr_cfg_artefact *a,
                         const char *instance, struct offramp_inst **out, struct tr_diag *d);
/* An event leaving a pipeline towards an offramp (arg: out_link). Takes ev. */
void world_offramp_in(void *arg, struct tr_event *ev);
/* Contraflow reaching a linked offramp from the pipelines it feeds: none
 * of it concerns the offramp (its responses are not transactional). */
void world_offramp_cf(void *arg, const struct tr_insight *in);
/* Contraflow into pi's pipeline; ids may be NULL (breaker signals). */
void world_send_insight(struct pipe_inst *pi, enum tr_cb cb, struct tr_ids *ids);
/* Close one offramp outside the stop sequence (unbind); it fails what it
 * holds; the instance stays. */
void world_offramp_retire(struct offramp_inst *o);
void world_offramp_free(struct offramp_inst *o);

/* world_deploy.c */
int world_deploy_mapping(struct tr_world *w, const struct tr_cfg_mapping *m, struct tr_diag *d);
void world_pipe_free(struct pipe_inst *pi);
void world_bound_free(struct bound *b);

/* world_metrics.c */
/* Publish the built-ins: system::metrics and system::passthrough, the
 * offramps system::stdout and system::stderr (from tr_world_create). */
int world_metrics_publish(struct tr_world *w, struct tr_diag *d);
/* A pipeline's metrics port (arg: the world); takes ev. */
void world_metrics_in(void *arg, struct tr_event *ev);
/* ramp_events of the onramps and offramps whose interval is over. */
void world_metrics_tick(struct tr_world *w, uint64_t now_ns);

/* world_view.c: nothing internal; it reads the structs above for world.h's views. */

#endif
