/* world.h - everything `tremor server run` loads, links and runs.
 *
 * The world holds the artefacts (pipelines from .trickle files; onramps,
 * offramps and bindings from YAML), deploys mappings into running instances
 * and hosts the connectors: it decodes what onramps read, encodes what
 * offramps write, and turns offramp acks/fails into contraflow. Loading is
 * all-or-nothing for the caller: on any error nothing has been started.
 * One world per loop; all calls on the loop thread.
 */
#ifndef TR_WORLD_H
#define TR_WORLD_H

#include <uv.h>

#include "core/error.h"
#include "core/value.h"

struct tr_world;
struct tr_onramp_ops;    /* connectors/conn.h */
struct tr_offramp_ops;
struct tr_op_ops;        /* ops/op.h */

/* Where the world finds connector types and operator kinds. The built-in
 * one is the registries of src/connectors and src/ops; a test passes its
 * own to deploy fake connectors and operators. Every function is needed. */
struct tr_world_registry {
    const struct tr_onramp_ops *(*onramp)(const char *type);     /* NULL: unknown */
    const struct tr_offramp_ops *(*offramp)(const char *type);
    const char *(*onramp_types)(void);                           /* for messages */
    const char *(*offramp_types)(void);
    const struct tr_op_ops *(*op)(const char *kind);
    const char *(*op_kinds)(void);
};
extern const struct tr_world_registry tr_world_builtin;

/* The built-in metrics pipeline (0.11): published at create, deployed by
 * a binding that links /pipeline/system::metrics/system/out somewhere.
 * Every pipeline's metrics port and the ramp_events of every onramp and
 * offramp with metrics_interval_s go into it. Artefacts whose id starts
 * with "system::" cannot be unpublished (0.11: 403). */
#define TR_WORLD_METRICS_ID "system::metrics"
#define TR_WORLD_METRICS_INSTANCE "system"
#define TR_WORLD_SYSTEM_PREFIX "system::"

/* The artefact kinds, as in their URLs (/onramp/ID, /pipeline/ID, ...). */
enum tr_world_kind { TR_WORLD_ONRAMP, TR_WORLD_OFFRAMP, TR_WORLD_PIPELINE, TR_WORLD_BINDING };

struct tr_world_opts {
    uv_loop_t *loop;
    const char *instance;   /* -i: system::instance(), default "tremor" */
    const char *data_dir;   /* -d: where operators keep state, default "tremor-data" */
    /* A connector asked the server to stop (a benchmark sink is done). */
    void (*on_shutdown)(void *arg);
    void *shutdown_arg;
    const struct tr_world_registry *registry;   /* NULL: tr_world_builtin (copied) */
    /* Onramps decode on libuv's thread pool while the loop runs the
     * pipelines (world_decode.c); 0: everything on the loop thread. */
    int decode_off_loop;
};

int tr_world_create(const struct tr_world_opts *o, struct tr_world **out);
/* Publish a pipeline from a .trickle file (compiled once to check it). */
int tr_world_load_query(struct tr_world *w, const char *path, struct tr_diag *d);
/* Publish a YAML file's artefacts (onramps, offramps, bindings, mappings). */
int tr_world_load_config(struct tr_world *w, const char *path, struct tr_diag *d);
/* For `tremor check`: the same loads, but every error of the file is
 * passed to report (located; for queries with the rendered excerpt) and
 * checking goes on after it (world_check.c says how far); also checked
 * without creating anything: operator kinds and `with` parameters,
 * connector `config:` keys against their maps. What still has an id stays
 * loaded, so references to it are not reported as missing. Returns the
 * number of errors reported; *truncated is set when a query had more
 * errors than the bound on recompiles let it look for. */
int tr_world_check_query(struct tr_world *w, const char *path, tr_diag_sink report, void *arg,
                         int *truncated);
int tr_world_check_config(struct tr_world *w, const char *path, tr_diag_sink report, void *arg);
/* Deploy every mapping loaded so far, in load order: instances are created
 * and linked but not started. Tremor 0.11 deploys a file's mappings as soon
 * as that file is loaded, so a mapping may only use artefacts of earlier
 * files; we deploy once everything is loaded, which accepts every set of
 * files Tremor accepts and also any order of them. */
int tr_world_deploy(struct tr_world *w, struct tr_diag *d);
/* Publishing and deploying one artefact at a time, also while the world
 * runs (the REST API's calls). Publish adds a definition; bind deploys one
 * binding instance: it creates the instances its links need (or reuses
 * live ones, which then count one more user), links them and, when the
 * world runs, starts what it created (offramps first, then onramps), so
 * events may flow before it returns. A failed bind undoes what it did.
 * Unbind undoes the newest bind of that url: its links are removed and the
 * instances no other binding uses are retired - onramps and offramps close
 * (an offramp fails what it still holds; the events stay in a WAL),
 * pipelines are destroyed. Unpublish removes a definition no live instance
 * or binding uses (-EBUSY otherwise); its id may be published again.
 * Errors: TR_ENOTFOUND (no such artefact or binding instance), -EBUSY,
 * the load and deploy errors above, TR_ECLOSED once the world stops. */
int tr_world_publish_config(struct tr_world *w, const char *name, const char *yaml, size_t len,
                            struct tr_diag *d);
/* A pipeline from query text in memory; name stands for its file (the
 * pipeline's id when it has no #!config id, diagnostics, module path). */
int tr_world_publish_query(struct tr_world *w, const char *name, const char *src, size_t len,
                           struct tr_diag *d);
/* vars: record of {placeholder: value}, e.g. {"instance": "01"}; may be NULL
 * (the instance alone). url: "/binding/ID/INSTANCE". */
int tr_world_bind(struct tr_world *w, const char *url, const tr_value *vars, struct tr_diag *d);
int tr_world_unbind(struct tr_world *w, const char *url, struct tr_diag *d);
int tr_world_unpublish(struct tr_world *w, enum tr_world_kind kind, const char *id,
                       struct tr_diag *d);
/* How many live (not retired) instances of an artefact exist; for tests
 * and the REST API's listings. */
size_t tr_world_instances(const struct tr_world *w, enum tr_world_kind kind, const char *id);
/* Without deploying: every link endpoint and mapping that names an onramp,
 * offramp, pipeline or binding no loaded file defines is passed to report
 * (a located diagnostic). Returns how many. For `tremor check`. */
size_t tr_world_check_refs(const struct tr_world *w, void (*report)(void *, const struct tr_diag *),
                           void *arg);

/* Views for the REST API (world_view.c); each builds a new value in *out
 * (TR_NULL on failure). Errors: TR_ENOTFOUND, -ENOMEM.
 * tr_world_list: the published ids of a kind, in publishing order.
 * tr_world_describe: an artefact as 0.11 serialises it (onramps, offramps:
 *   {id, type, description, linked, [err_required,] codec?, codec_map?,
 *   preprocessors?, postprocessors?, metrics_interval_s?, config?};
 *   bindings: {id, description, links: {from: [to]}}; pipelines: the
 *   query's source text as a string).
 * tr_world_instance_list: the instance ids of an artefact's live instances
 *   (for a binding: its deployed instances).
 * tr_world_describe_bound: binding instance /binding/aid/sid as deployed,
 *   its links with the placeholders filled in.
 * tr_world_status: {ready, not_ready: [why], onramps: [...], offramps:
 *   [...], pipelines: [...]} with each live instance's url and counters;
 *   ready when the world runs, every mapping is deployed, every instance
 *   started and no offramp's breaker is open. */
int tr_world_list(const struct tr_world *w, enum tr_world_kind kind, tr_value *out);
int tr_world_describe(const struct tr_world *w, enum tr_world_kind kind, const char *id,
                      tr_value *out);
int tr_world_instance_list(const struct tr_world *w, enum tr_world_kind kind, const char *id,
                           tr_value *out);
int tr_world_describe_bound(const struct tr_world *w, const char *aid, const char *sid,
                            tr_value *out);
int tr_world_status(const struct tr_world *w, tr_value *out);
/* Start offramps, then pipelines' tick, then onramps. */
int tr_world_start(struct tr_world *w, struct tr_diag *d);
/* Graceful stop: onramps stop, operators quiesce, in-flight events get up
 * to drain_ms to be acknowledged, then offramps and pipelines close. done is
 * called once every handle is closed. */
void tr_world_stop(struct tr_world *w, unsigned drain_ms, void (*done)(void *), void *arg);
/* The source excerpt (numbered lines, carets, hints) of the last load error
 * when there is one to show, else NULL. Valid until the next load call. */
const char *tr_world_error_detail(const struct tr_world *w);
/* 1 once a pipeline operator reported that it cannot go on without losing
 * events (tr_op_fatal): the server was asked to stop and should exit
 * non-zero. 0 otherwise. */
int tr_world_failed(const struct tr_world *w);
/* The exit code a connector asked for (the `exit` offramp, the `cb`
 * onramp), -1 when none did; the first one asked for counts. */
int tr_world_exit_code(const struct tr_world *w);
/* Free a world that was never started or has stopped. */
void tr_world_destroy(struct tr_world *w);

#endif
