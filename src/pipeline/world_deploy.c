/* world_deploy.c - binding instances: deploy (create and link instances),
 * and unbind (unlink, retire what no binding uses any more).
 *
 * A mapping or tr_world_bind deploys one binding instance: its links, with
 * placeholders substituted, name instances that are reused when live and
 * created otherwise. Every link made and every instance used is recorded
 * in a `struct bound`, each instance counted once per bound (refs), so an
 * unbind removes exactly its links and retires the instances left unused.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lang/lang.h"
#include "lang/query.h"
#include "pipeline/world_int.h"

/* ------------------------------------------------ pipeline -> pipeline */

static void pipe_to_pipe(void *arg, struct tr_event *ev) {
    struct pipe_inst *to = arg;
    tr_pipeline_push(to->p, TR_PORT_IN, ev);
}

static void pipe_cf_up(void *arg, const struct tr_insight *in) {
    struct pipe_inst *from = arg;
    tr_pipeline_contraflow(from->p, in);
}

/* Count inst once in b (a binding instance may name it in several links). */
static int note(struct bound *b, enum tr_world_kind k, void *inst, unsigned *refs) {
    for (size_t i = 0; i < b->ninsts; i++)
        if (b->insts[i] == inst) return 0;
    int rc = tr_grow((void **)&b->kinds, &b->kinds_cap, b->ninsts + 1, sizeof *b->kinds);
    if (!rc) rc = tr_grow((void **)&b->insts, &b->insts_cap, b->ninsts + 1, sizeof *b->insts);
    if (rc) return rc;
    b->kinds[b->ninsts] = k;
    b->insts[b->ninsts++] = inst;
    (*refs)++;
    return 0;
}

static int made(struct bound *b, struct made_link ml) {
    int rc = tr_grow((void **)&b->links, &b->links_cap, b->nlinks + 1, sizeof *b->links);
    if (rc) return rc;
    b->links[b->nlinks++] = ml;
    return 0;
}

static int not_loaded(const struct tr_world *w, const struct tr_cfg_link *l, const char *url,
                      const struct tr_url *u, struct tr_diag *d) {
    char known[1024];
    world_list_ids(w, u->kind, known, sizeof known);
    const char *hint = u->kind == TR_URL_PIPELINE
                           ? "; a pipeline is named after its .trickle file without the extension, "
                             "or by `#!config id = \"...\"` at its top"
                           : "";
    return tr_diag_set(d, TR_ENOTFOUND, l->loc.file, l->loc.line, l->loc.col,
                       "link %s: no %s '%s' is loaded (loaded %ss: %s)%s", url, world_kind_name(u->kind),
                       u->artefact, world_kind_name(u->kind), known, hint);
}

static struct pipe_inst *ensure_pipe(struct tr_world *w, struct bound *b, const struct tr_url *u,
                                     const struct tr_cfg_link *l, const char *url,
                                     struct tr_diag *d, int *rc) {
    for (size_t i = 0; i < w->npipes; i++) {
        struct pipe_inst *pi = w->pipes[i];
        if (pi->refs && strcmp(pi->id, u->artefact) == 0 && strcmp(pi->instance, u->instance) == 0) {
            *rc = note(b, TR_WORLD_PIPELINE, pi, &pi->refs);
            return *rc ? NULL : pi;
        }
    }
    const struct query_art *qa = world_find_query(w, u->artefact);
    if (!qa) {
        *rc = not_loaded(w, l, url, u, d);
        return NULL;
    }
    struct tr_query *q = NULL;
    struct tr_lang_opts opts;
    struct tr_lang_err err;
    memset(&err, 0, sizeof err);
    *rc = tr_lang_opts_from_env(&opts, qa->path);
    if (!*rc) *rc = tr_lang_compile_query(qa->src, qa->len, &opts, &q, &err);
    tr_lang_opts_fini(&opts);
    if (*rc && err.set) tr_lang_err_to_diag(&err, qa->path, d);
    else if (*rc) tr_diag_set(d, *rc, qa->path, 0, 0, "module path (TREMOR_PATH): %s", tr_strerror(*rc));
    tr_lang_err_clear(&err);
    if (*rc) return NULL;
    struct pipe_inst *pi = tr_calloc(1, sizeof *pi);
    if (!pi) {
        tr_query_destroy(q);
        *rc = -ENOMEM;
        return NULL;
    }
    pi->w = w;
    pi->id = tr_strdup(u->artefact);
    pi->instance = tr_strdup(u->instance);
    char tag[600];
    snprintf(tag, sizeof tag, "tremor://localhost/pipeline/%s/%s", u->artefact, u->instance);
    struct tr_pipeline_opts po = {
        .id = u->artefact, .file = qa->path, .instance = u->instance,
        .server_instance = w->instance, .data_dir = w->data_dir, .loop = w->loop,
        .uid_counter = &w->op_uids, .defer = &w->defer, .queued = w->queued,
        .fatal = world_pipe_fatal, .fatal_arg = w,
        .op_find = w->reg.op, .op_kinds = w->reg.op_kinds, .metrics_tag = tag,
    };
    *rc = (!pi->id || !pi->instance) ? -ENOMEM : tr_pipeline_create(q, &po, &pi->p, d);
    if (*rc == -ENOMEM && !pi->p && (!pi->id || !pi->instance)) tr_query_destroy(q);
    /* 0.11 links every pipeline's metrics port to system::metrics */
    if (!*rc && strcmp(pi->id, TR_WORLD_METRICS_ID) != 0)
        *rc = tr_pipeline_connect_output(pi->p, TR_PORT_METRICS, world_metrics_in, w);
    if (!*rc) *rc = push((void **)&w->pipes, &w->npipes, &w->pipes_cap, pi);
    if (!*rc && (*rc = note(b, TR_WORLD_PIPELINE, pi, &pi->refs))) w->npipes--;
    if (*rc) {
        tr_pipeline_destroy(pi->p);
        tr_free(pi->id);
        tr_free(pi->instance);
        tr_free(pi);
        return NULL;
    }
    TR_INFO("world", "created /pipeline/%s/%s", pi->id, pi->instance);
    return pi;
}

/* The live onramp or offramp instance a link names: its index in the
 * world's list, or -1 with *art the artefact to create it from. A name no
 * loaded file defines is an error (rc). */
static int find_ramp(const struct tr_world *w, enum tr_world_kind k, const struct tr_url *u,
                     const struct tr_cfg_link *l, const char *url, struct tr_diag *d,
                     long *idx, const struct tr_cfg_artefact **art) {
    int on = k == TR_WORLD_ONRAMP;
    size_t n = on ? w->nonramps : w->nofframps;
    for (size_t i = 0; i < n; i++) {
        unsigned refs = on ? w->onramps[i]->refs : w->offramps[i]->refs;
        const char *id = on ? on_art(w->onramps[i])->id : off_art(w->offramps[i])->id;
        const char *inst = on ? w->onramps[i]->instance : w->offramps[i]->instance;
        if (refs && !strcmp(id, u->artefact) && !strcmp(inst, u->instance)) {
            *idx = (long)i;
            return 0;
        }
    }
    *idx = -1;
    *art = world_find_art(w, k, u->artefact);
    return *art ? 0 : not_loaded(w, l, url, u, d);
}

static struct offramp_inst *ensure_offramp(struct tr_world *w, struct bound *b,
                                           const struct tr_url *u, const struct tr_cfg_link *l,
                                           const char *url, struct tr_diag *d, int *rc) {
    struct offramp_inst *o = NULL;
    const struct tr_cfg_artefact *a = NULL;
    long i;
    if ((*rc = find_ramp(w, TR_WORLD_OFFRAMP, u, l, url, d, &i, &a))) return NULL;
    if (i >= 0) o = w->offramps[i];
    else if ((*rc = world_offramp_create(w, a, u->instance, &o, d))) return NULL;
    *rc = note(b, TR_WORLD_OFFRAMP, o, &o->refs);
    return *rc ? NULL : o;
}

static struct onramp_inst *ensure_onramp(struct tr_world *w, struct bound *b,
                                         const struct tr_url *u, const struct tr_cfg_link *l,
                                         const char *url, struct tr_diag *d, int *rc) {
    struct onramp_inst *o = NULL;
    const struct tr_cfg_artefact *a = NULL;
    long i;
    if ((*rc = find_ramp(w, TR_WORLD_ONRAMP, u, l, url, d, &i, &a))) return NULL;
    if (i >= 0) o = w->onramps[i];
    else if ((*rc = world_onramp_create(w, a, u->instance, &o, d))) return NULL;
    *rc = note(b, TR_WORLD_ONRAMP, o, &o->refs);
    return *rc ? NULL : o;
}

static int link_pipe_out(struct tr_world *w, struct bound *b, struct pipe_inst *from,
                         const char *port,
                         const struct tr_url *tu, const struct tr_cfg_link *l, const char *url,
                         struct tr_diag *d) {
    int rc = 0;
    if (tu->kind == TR_URL_OFFRAMP) {
        struct offramp_inst *o = ensure_offramp(w, b, tu, l, url, d, &rc);
        if (!o) return rc;
        /* 0.11 takes any port here. 'in' makes the pipeline one of the
         * offramp's inputs (its acks, fails and breaker reach it). Any other
         * port still delivers the events (0.11's sinks ignore the port) but
         * the pipeline is no input of the offramp, so nothing comes back;
         * instead it is connected to that port of the offramp, which for a
         * linked offramp's 'out' or 'err' means its responses. 'metrics'
         * would make it the offramp's metrics pipeline: not done here. */
        int side_port = tu->port[0] && strcmp(tu->port, TR_PORT_IN) != 0;
        if (side_port && strcmp(tu->port, TR_PORT_METRICS) == 0)
            return tr_diag_set(d, TR_EUNSUPPORTED, l->loc.file, l->loc.line, l->loc.col,
                               "link %s: linking a pipeline to an offramp's port 'metrics' (its "
                               "metrics pipeline) is not implemented", url);
        if (side_port) {
            int err_port = strcmp(tu->port, TR_PORT_ERR) == 0;
            if ((err_port || strcmp(tu->port, TR_PORT_OUT) == 0) && o->ops->linked &&
                off_art(o)->linked) {
                rc = made(b, (struct made_link){.kind = err_port ? LINK_OFFRAMP_ERR_PIPE
                                                                 : LINK_OFFRAMP_PIPE,
                                                .off = o, .to = from});
                if (!rc) rc = err_port ? push((void **)&o->errs, &o->nerrs, &o->errs_cap, from)
                                       : push((void **)&o->outs, &o->nouts, &o->outs_cap, from);
                if (!rc) rc = tr_pipeline_connect_input(from->p, false, world_offramp_cf, o);
                if (rc) return rc;
            }
            TR_INFO("world", "link %s: the pipeline's events reach offramp '%s' but it is no "
                    "input of it (no acks, fails or breaker), as in 0.11", url, off_art(o)->id);
        }
        struct out_link *ol = tr_calloc(1, sizeof *ol);
        if (!ol) return -ENOMEM;
        ol->o = o;
        ol->pi = from;
        ol->untracked = side_port;
        rc = push((void **)&o->links, &o->nlinks, &o->links_cap, ol);
        if (!rc && (rc = made(b, (struct made_link){.kind = LINK_PIPE_OFFRAMP, .from = from,
                                                    .ol = ol})))
            o->nlinks--;
        if (rc) {
            tr_free(ol);
            return rc;
        }
        /* The pipeline learns whether the offramp can take events when it
         * starts (world_start_new), once every link exists. */
        return tr_pipeline_connect_output(from->p, port, world_offramp_in, ol);
    }
    if (tu->kind == TR_URL_PIPELINE) {
        struct pipe_inst *to = ensure_pipe(w, b, tu, l, url, d, &rc);
        if (!to) return rc;
        if (tu->port[0] && strcmp(tu->port, TR_PORT_IN) != 0)
            return tr_diag_set(d, TR_EINVAL_CFG, l->loc.file, l->loc.line, l->loc.col,
                               "link %s: a pipeline is linked into its port 'in'", url);
        rc = made(b, (struct made_link){.kind = LINK_PIPE_PIPE, .from = from, .to = to});
        if (!rc) rc = tr_pipeline_connect_output(from->p, port, pipe_to_pipe, to);
        if (!rc) rc = tr_pipeline_connect_input(to->p, true, pipe_cf_up, from);
        return rc;
    }
    if (tu->kind == TR_URL_ONRAMP) {
        /* a linked transport's replies (0.11's linked onramps) */
        struct onramp_inst *on = ensure_onramp(w, b, tu, l, url, d, &rc);
        if (!on) return rc;
        /* Any port: 0.11 connects a pipeline to an onramp as its reply
         * target whatever the port says (its docs use 'in', its quota
         * service recipe 'response'). */
        if (!on->ops->reply || !on_art(on)->linked)
            return tr_diag_set(d, TR_EUNSUPPORTED, l->loc.file, l->loc.line, l->loc.col,
                               "link %s: onramp '%s' takes no replies (only a `rest` or `ws` "
                               "onramp with `linked: true` does)", url, on_art(on)->id);
        rc = made(b, (struct made_link){.kind = LINK_PIPE_ONRAMP, .from = from, .on = on});
        if (!rc) rc = tr_pipeline_connect_output(from->p, port, world_onramp_reply, on);
        return rc;
    }
    return tr_diag_set(d, TR_EUNSUPPORTED, l->loc.file, l->loc.line, l->loc.col,
                       "link %s: a pipeline can be linked to an offramp, a pipeline or a linked onramp",
                       url);
}

/* A linked offramp's port 'out' or 'err' into pipelines (its responses). */
static int link_offramp_out(struct tr_world *w, struct bound *b, const struct tr_url *fu,
                            const struct tr_cfg_link *l, const char *from_s, const tr_value *vars,
                            struct tr_diag *d) {
    int rc = 0;
    const char *port = fu->port[0] ? fu->port : TR_PORT_OUT;
    int err_port = strcmp(port, TR_PORT_ERR) == 0;
    if (!err_port && strcmp(port, TR_PORT_OUT) != 0)
        return tr_diag_set(d, TR_EINVAL_CFG, l->loc.file, l->loc.line, l->loc.col,
                           "link source %s: offramps send from their ports 'out' and 'err'", from_s);
    struct offramp_inst *o = ensure_offramp(w, b, fu, l, from_s, d, &rc);
    if (!o) return rc;
    if (!o->ops->linked)
        return tr_diag_set(d, TR_EUNSUPPORTED, l->loc.file, l->loc.line, l->loc.col,
                           "link source %s: a linked %s offramp is not implemented yet (only rest "
                           "and ws send responses)", from_s, off_art(o)->type);
    if (!off_linked(o))
        return tr_diag_set(d, TR_EUNSUPPORTED, l->loc.file, l->loc.line, l->loc.col,
                           "link source %s: offramp '%s' is not linked (`linked: true`), so it "
                           "sends nothing out", from_s, off_art(o)->id);
    for (size_t i = 0; !rc && i < l->nto; i++) {
        char *to_s = NULL;
        struct tr_url tu;
        rc = tr_url_substitute(l->to[i], vars, &to_s, d);
        if (!rc) rc = tr_url_parse(to_s, &tu, d);
        if (!rc && (tu.kind != TR_URL_PIPELINE || !tu.instance[0]))
            rc = tr_diag_set(d, TR_EINVAL_CFG, l->loc.file, l->loc.line, l->loc.col,
                             "link %s -> %s: an offramp can only be linked to a pipeline "
                             "(/pipeline/ID/{instance}/in)", from_s, to_s);
        struct pipe_inst *pi = rc ? NULL : ensure_pipe(w, b, &tu, l, to_s, d, &rc);
        if (pi)
            rc = made(b, (struct made_link){.kind = err_port ? LINK_OFFRAMP_ERR_PIPE : LINK_OFFRAMP_PIPE,
                                            .off = o, .to = pi});
        if (pi && !rc)
            rc = err_port ? push((void **)&o->errs, &o->nerrs, &o->errs_cap, pi)
                          : push((void **)&o->outs, &o->nouts, &o->outs_cap, pi);
        if (pi && !rc) rc = tr_pipeline_connect_input(pi->p, false, world_offramp_cf, o);
        tr_free(to_s);
    }
    if (rc) tr_diag_locate(d, l->loc.file, l->loc.line, l->loc.col);
    return rc;
}

static int deploy_link(struct tr_world *w, struct bound *b, const struct tr_cfg_link *l,
                       const tr_value *vars, int pass, struct tr_diag *d) {
    char *from_s = NULL;
    int rc = tr_url_substitute(l->from, vars, &from_s, d);
    if (rc) goto out_loc;
    struct tr_url fu;
    rc = tr_url_parse(from_s, &fu, d);
    if (rc) goto out_loc;
    if (!fu.instance[0]) {
        rc = tr_diag_set(d, TR_EINVAL_CFG, l->loc.file, l->loc.line, l->loc.col,
                         "link source %s has no instance (expected /%s/%s/{instance}/out)", from_s,
                         world_kind_name(fu.kind), fu.artefact);
        goto out;
    }
    if (fu.kind != TR_URL_ONRAMP && fu.kind != TR_URL_PIPELINE && fu.kind != TR_URL_OFFRAMP) {
        rc = tr_diag_set(d, TR_EUNSUPPORTED, l->loc.file, l->loc.line, l->loc.col,
                         "link source %s: links start at an onramp, a pipeline or a linked offramp",
                         from_s);
        goto out;
    }
    /* pass 0: pipeline -> X and offramp -> pipeline links; pass 1: onramp ->
     * pipeline (Tremor's order: sources start sending last) */
    if ((pass == 0) != (fu.kind != TR_URL_ONRAMP)) goto out;
    if (fu.kind == TR_URL_OFFRAMP) {
        rc = link_offramp_out(w, b, &fu, l, from_s, vars, d);
        goto out;
    }
    const char *port = fu.port[0] ? fu.port : TR_PORT_OUT;
    struct pipe_inst *from_pipe = NULL;
    struct onramp_inst *from_on = NULL;
    if (fu.kind == TR_URL_PIPELINE) from_pipe = ensure_pipe(w, b, &fu, l, from_s, d, &rc);
    else from_on = ensure_onramp(w, b, &fu, l, from_s, d, &rc);
    if (rc) goto out;
    if (from_on && strcmp(port, TR_PORT_OUT) != 0 && strcmp(port, TR_PORT_ERR) != 0) {
        rc = tr_diag_set(d, TR_EINVAL_CFG, l->loc.file, l->loc.line, l->loc.col,
                         "link source %s: onramps send from their ports 'out' and 'err'", from_s);
        goto out;
    }
    for (size_t i = 0; i < l->nto; i++) {
        char *to_s = NULL;
        struct tr_url tu;
        rc = tr_url_substitute(l->to[i], vars, &to_s, d);
        if (!rc) rc = tr_url_parse(to_s, &tu, d);
        if (!rc && !tu.instance[0])
            rc = tr_diag_set(d, TR_EINVAL_CFG, l->loc.file, l->loc.line, l->loc.col,
                             "link target %s has no instance (expected /%s/%s/{instance}/in)",
                             to_s, world_kind_name(tu.kind), tu.artefact);
        if (!rc && from_pipe) rc = link_pipe_out(w, b, from_pipe, port, &tu, l, to_s, d);
        if (!rc && from_on) {
            if (tu.kind != TR_URL_PIPELINE) {
                rc = tr_diag_set(d, TR_EUNSUPPORTED, l->loc.file, l->loc.line, l->loc.col,
                                 "link %s -> %s: an onramp can only be linked to a pipeline",
                                 from_s, to_s);
            } else {
                struct pipe_inst *pi = ensure_pipe(w, b, &tu, l, to_s, d, &rc);
                int err_port = strcmp(port, TR_PORT_ERR) == 0;
                if (pi)
                    rc = made(b, (struct made_link){.kind = err_port ? LINK_ONRAMP_ERR_PIPE : LINK_ONRAMP_PIPE,
                                                    .on = from_on, .to = pi});
                if (pi && !rc && err_port)
                    rc = push((void **)&from_on->errs, &from_on->nerrs, &from_on->errs_cap, pi);
                else if (pi && !rc)
                    rc = push((void **)&from_on->outs, &from_on->nouts, &from_on->outs_cap, pi);
                /* error events are not transactional: no acks come back from there */
                if (pi && !rc)
                    rc = tr_pipeline_connect_input(pi->p, from_on->host.transactional && !err_port,
                                                   world_onramp_cf, from_on);
            }
        }
        tr_free(to_s);
        if (rc) goto out_loc;
    }
out_loc:
    if (rc) tr_diag_locate(d, l->loc.file, l->loc.line, l->loc.col);
out:
    tr_free(from_s);
    return rc;
}

/* Remove the newest to from the list v of *n pipelines. */
static void drop_pipe(struct pipe_inst **v, size_t *n, const struct pipe_inst *to) {
    for (size_t i = *n; i-- > 0;)
        if (v[i] == to) {
            memmove(&v[i], &v[i + 1], (*n - i - 1) * sizeof *v);
            (*n)--;
            return;
        }
}

/* Take out one link a bound made (they are undone newest first, so each
 * is the newest of its kind on both sides). */
static void unlink_one(const struct made_link *ml) {
    switch (ml->kind) {
    case LINK_ONRAMP_PIPE:
    case LINK_ONRAMP_ERR_PIPE: {
        struct onramp_inst *o = ml->on;
        if (ml->kind == LINK_ONRAMP_ERR_PIPE) drop_pipe(o->errs, &o->nerrs, ml->to);
        else drop_pipe(o->outs, &o->nouts, ml->to);
        if (ml->to->p) tr_pipeline_disconnect_input(ml->to->p, world_onramp_cf, o);
        break;
    }
    case LINK_OFFRAMP_PIPE:
    case LINK_OFFRAMP_ERR_PIPE: {
        struct offramp_inst *o = ml->off;
        if (ml->kind == LINK_OFFRAMP_ERR_PIPE) drop_pipe(o->errs, &o->nerrs, ml->to);
        else drop_pipe(o->outs, &o->nouts, ml->to);
        if (ml->to->p) tr_pipeline_disconnect_input(ml->to->p, world_offramp_cf, o);
        break;
    }
    case LINK_PIPE_ONRAMP:
        if (ml->from->p) tr_pipeline_disconnect_output(ml->from->p, world_onramp_reply, ml->on);
        break;
    case LINK_PIPE_OFFRAMP: {
        struct offramp_inst *o = ml->ol->o;
        if (ml->from->p) tr_pipeline_disconnect_output(ml->from->p, world_offramp_in, ml->ol);
        for (size_t i = o->nlinks; i-- > 0;)
            if (o->links[i] == ml->ol) {
                memmove(&o->links[i], &o->links[i + 1], (o->nlinks - i - 1) * sizeof *o->links);
                o->nlinks--;
                break;
            }
        tr_free(ml->ol);
        break;
    }
    case LINK_PIPE_PIPE:
        if (ml->from->p) tr_pipeline_disconnect_output(ml->from->p, pipe_to_pipe, ml->to);
        if (ml->to->p) tr_pipeline_disconnect_input(ml->to->p, pipe_cf_up, ml->from);
        break;
    }
}

static void retire_pipe(struct pipe_inst *pi) {
    if (!pi->p) return;
    tr_pipeline_quiesce(pi->p);
    tr_pipeline_destroy(pi->p);
    pi->p = NULL;
    TR_INFO("world", "retired /pipeline/%s/%s", pi->id, pi->instance);
}

/* Remove b's links, then retire the instances it was the last user of:
 * onramps first (nothing new comes in), then offramps (what they hold is
 * failed into the pipelines, whose WALs keep it), then pipelines. */
static void undo(struct bound *b) {
    for (size_t i = b->nlinks; i-- > 0;) unlink_one(&b->links[i]);
    b->nlinks = 0;
    for (int pass = 0; pass < 3; pass++)
        for (size_t i = 0; i < b->ninsts; i++) {
            enum tr_world_kind k = b->kinds[i];
            if (pass == 0 && k == TR_WORLD_ONRAMP) {
                struct onramp_inst *o = b->insts[i];
                if (--o->refs == 0) world_onramp_retire(o);
            } else if (pass == 1 && k == TR_WORLD_OFFRAMP) {
                struct offramp_inst *o = b->insts[i];
                if (--o->refs == 0) world_offramp_retire(o);
            } else if (pass == 2 && k == TR_WORLD_PIPELINE) {
                struct pipe_inst *pi = b->insts[i];
                if (--pi->refs == 0) retire_pipe(pi);
            }
        }
    b->ninsts = 0;
}

void world_bound_free(struct bound *b) {
    if (!b) return;
    tr_value_unref(b->vars);
    tr_free(b->url);
    tr_free(b->links);
    tr_free(b->insts);
    tr_free(b->kinds);
    tr_free(b);
}

void world_pipe_free(struct pipe_inst *pi) {
    tr_pipeline_destroy(pi->p);
    tr_free(pi->id);
    tr_free(pi->instance);
    tr_free(pi);
}

/* Deploy binding instance url with vars; loc: where it was asked for (a
 * mapping), or NULL. On error everything it did is undone. */
static int bind_one(struct tr_world *w, const char *url, const tr_value *vars,
                const struct tr_cfg_loc *loc, struct tr_diag *d) {
    const char *file = loc ? loc->file : NULL;
    int line = loc ? loc->line : 0, col = loc ? loc->col : 0;
    struct tr_url u;
    int rc = tr_url_parse(url, &u, d);
    if (rc || u.kind != TR_URL_BINDING || !u.instance[0])
        return tr_diag_set(d, TR_EINVAL_CFG, file, line, col,
                           "mapping key '%s' must be /binding/<binding id>/<instance>", url);
    const struct tr_cfg_binding *cb = world_find_binding(w, u.artefact);
    if (!cb) {
        char known[1024];
        world_list_ids(w, TR_URL_BINDING, known, sizeof known);
        return tr_diag_set(d, TR_ENOTFOUND, file, line, col,
                           "mapping %s: no binding '%s' is loaded (loaded bindings: %s)", url,
                           u.artefact, known);
    }
    struct bound *b = tr_calloc(1, sizeof *b);
    char norm[1024];
    snprintf(norm, sizeof norm, "/binding/%s/%s", u.artefact, u.instance);
    if (!b || !(b->url = tr_strdup(norm)) ||
        push((void **)&w->bounds, &w->nbounds, &w->bounds_cap, b) != 0) {
        world_bound_free(b);
        return tr_diag_set(d, -ENOMEM, file, line, col, "out of memory");
    }
    if (vars) b->vars = tr_value_ref(*vars);
    for (int pass = 0; pass < 2 && !rc; pass++)
        for (size_t i = 0; i < cb->nlinks && !rc; i++)
            rc = deploy_link(w, b, &cb->links[i], vars, pass, d);
    if (!rc && w->state == W_RUNNING) rc = world_start_new(w, d);
    if (rc) {
        undo(b);
        w->nbounds--;
        world_bound_free(b);
        return rc;
    }
    TR_INFO("world", "deployed %s", url);
    return 0;
}

int world_deploy_mapping(struct tr_world *w, const struct tr_cfg_mapping *m, struct tr_diag *d) {
    return bind_one(w, m->binding_url, &m->vars, &m->loc, d);
}

int tr_world_bind(struct tr_world *w, const char *url, const tr_value *vars, struct tr_diag *d) {
    if (world_stopping(w)) return tr_diag_set(d, TR_ECLOSED, NULL, 0, 0, "the world is stopping");
    return bind_one(w, url, vars, NULL, d);
}

int tr_world_unbind(struct tr_world *w, const char *url, struct tr_diag *d) {
    if (world_stopping(w)) return tr_diag_set(d, TR_ECLOSED, NULL, 0, 0, "the world is stopping");
    struct tr_url u;
    int rc = tr_url_parse(url, &u, d);
    if (rc || u.kind != TR_URL_BINDING || !u.instance[0])
        return tr_diag_set(d, TR_EINVAL_CFG, NULL, 0, 0,
                           "'%s' is not /binding/<binding id>/<instance>", url);
    char norm[1024];
    snprintf(norm, sizeof norm, "/binding/%s/%s", u.artefact, u.instance);
    for (size_t i = w->nbounds; i-- > 0;) {
        struct bound *b = w->bounds[i];
        if (strcmp(b->url, norm) != 0) continue;
        undo(b);
        memmove(&w->bounds[i], &w->bounds[i + 1], (w->nbounds - i - 1) * sizeof *w->bounds);
        w->nbounds--;
        world_bound_free(b);
        TR_INFO("world", "unbound %s", norm);
        return 0;
    }
    return tr_diag_set(d, TR_ENOTFOUND, NULL, 0, 0, "%s is not deployed", norm);
}

size_t tr_world_instances(const struct tr_world *w, enum tr_world_kind k, const char *id) {
    size_t n = 0;
    if (k == TR_WORLD_ONRAMP)
        for (size_t i = 0; i < w->nonramps; i++)
            n += w->onramps[i]->refs && strcmp(on_art(w->onramps[i])->id, id) == 0;
    if (k == TR_WORLD_OFFRAMP)
        for (size_t i = 0; i < w->nofframps; i++)
            n += w->offramps[i]->refs && strcmp(off_art(w->offramps[i])->id, id) == 0;
    if (k == TR_WORLD_PIPELINE)
        for (size_t i = 0; i < w->npipes; i++)
            n += w->pipes[i]->refs && strcmp(w->pipes[i]->id, id) == 0;
    if (k == TR_WORLD_BINDING)
        for (size_t i = 0; i < w->nbounds; i++) {
            const char *u = w->bounds[i]->url + strlen("/binding/");
            size_t l = strlen(id);
            n += strncmp(u, id, l) == 0 && u[l] == '/';
        }
    return n;
}

int world_inst_keep(int rc, const char *kind, const struct tr_cfg_artefact *a,
                    void *inst, char *instance, void *self,
                    void (*close)(void *self, void (*done)(void *arg), void *arg),
                    struct world_inst_list list) {
    if (!rc) rc = push((void **)list.arr, list.n, list.cap, inst);
    if (rc) {
        if (self) close(self, NULL, NULL);
        tr_free(instance);
        tr_free(inst);
        return rc;
    }
    TR_INFO("world", "created /%s/%s/%s (%s)", kind, a->id, instance, a->type);
    return 0;
}
