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

struct tr_world;

struct tr_world_opts {
    uv_loop_t *loop;
    const char *instance;   /* -i: system::instance(), default "tremor" */
    const char *data_dir;   /* -d: where operators keep state, default "tremor-data" */
    /* A connector asked the server to stop (a benchmark sink is done). */
    void (*on_shutdown)(void *arg);
    void *shutdown_arg;
};

int tr_world_create(const struct tr_world_opts *o, struct tr_world **out);
/* Publish a pipeline from a .trickle file (compiled once to check it). */
int tr_world_load_query(struct tr_world *w, const char *path, struct tr_diag *d);
/* Publish a YAML file's artefacts (onramps, offramps, bindings, mappings). */
int tr_world_load_config(struct tr_world *w, const char *path, struct tr_diag *d);
/* Deploy every mapping loaded so far, in load order: instances are created
 * and linked but not started. Tremor 0.11 deploys a file's mappings as soon
 * as that file is loaded, so a mapping may only use artefacts of earlier
 * files; we deploy once everything is loaded, which accepts every set of
 * files Tremor accepts and also any order of them. */
int tr_world_deploy(struct tr_world *w, struct tr_diag *d);
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
/* Free a world that was never started or has stopped. */
void tr_world_destroy(struct tr_world *w);

#endif
