/* world_view.c - read-only views of the world for the REST API: published
 * artefacts as 0.11 serialises them, live instances, deployed binding
 * instances and the counters behind /status, /ready and /metrics.
 *
 * Nothing here changes the world; every view is a new value the caller
 * owns. Retired instances (refs 0) are left out: they are gone as far as
 * a client can tell.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/url.h"
#include "pipeline/world_int.h"

/* Helpers that add one field; each keeps the first error in *rc. */
static void put(tr_value *rec, const char *key, tr_value v, int *rc) {
    if (*rc) {
        tr_value_unref(v);
        return;
    }
    *rc = tr_rec_set(rec, key, strlen(key), v);
}

static void put_str(tr_value *rec, const char *key, const char *s, int *rc) {
    tr_value v = tr_v_null();
    if (!*rc) *rc = tr_v_cstr(s ? s : "", &v);
    put(rec, key, v, rc);
}

static void put_u(tr_value *rec, const char *key, uint64_t n, int *rc) {
    put(rec, key, tr_v_uint(n), rc);
}

static void push_str(tr_value *arr, const char *s, int *rc) {
    tr_value v = tr_v_null();
    if (!*rc) *rc = tr_v_cstr(s, &v);
    if (!*rc) *rc = tr_arr_push(arr, v);
    else tr_value_unref(v);
}

static void push_val(tr_value *arr, tr_value v, int *rc) {
    if (!*rc) *rc = tr_arr_push(arr, v);
    else tr_value_unref(v);
}

static int strs(char *const *s, size_t n, tr_value *out) {
    int rc = tr_v_arr(n, out);
    for (size_t i = 0; !rc && i < n; i++) push_str(out, s[i], &rc);
    return rc;
}

static int done(int rc, tr_value *v, tr_value *out) {
    if (rc) {
        tr_value_unref(*v);
        *out = tr_v_null();
        return rc;
    }
    *out = *v;
    return 0;
}

int tr_world_list(const struct tr_world *w, enum tr_world_kind k, tr_value *out) {
    tr_value a;
    int rc = tr_v_arr(8, &a);
    if (rc) return done(rc, &a, out);
    if (k == TR_WORLD_PIPELINE)
        for (size_t i = 0; i < w->nqueries; i++) push_str(&a, w->queries[i].id, &rc);
    if (k == TR_WORLD_ONRAMP)
        for (size_t i = 0; i < w->cfg.nonramps; i++)
            if (!world_is_gone(w, k, i)) push_str(&a, w->cfg.onramps[i].id, &rc);
    if (k == TR_WORLD_OFFRAMP)
        for (size_t i = 0; i < w->cfg.nofframps; i++)
            if (!world_is_gone(w, k, i)) push_str(&a, w->cfg.offramps[i].id, &rc);
    if (k == TR_WORLD_BINDING)
        for (size_t i = 0; i < w->cfg.nbindings; i++)
            if (!world_is_gone(w, k, i)) push_str(&a, w->cfg.bindings[i].id, &rc);
    return done(rc, &a, out);
}

/* 0.11's OnRamp/OffRamp serde order; optional fields only when given. */
static int describe_ramp(const struct tr_cfg_artefact *a, int onramp, tr_value *out) {
    tr_value r, v;
    int rc = tr_v_rec(12, &r);
    if (rc) return done(rc, &r, out);
    put_str(&r, "id", a->id, &rc);
    put_str(&r, "type", a->type, &rc);
    put_str(&r, "description", a->description, &rc);
    put(&r, "linked", tr_v_bool(a->linked), &rc);
    if (onramp) put(&r, "err_required", tr_v_bool(a->err_required), &rc);
    if (a->codec) put_str(&r, "codec", a->codec, &rc);
    if (a->codec_map.type != TR_NULL) put(&r, "codec_map", tr_value_ref(a->codec_map), &rc);
    if (a->preprocessors && !rc) {
        rc = strs(a->preprocessors, a->npre, &v);
        put(&r, "preprocessors", v, &rc);
    }
    if (a->postprocessors && !rc) {
        rc = strs(a->postprocessors, a->npost, &v);
        put(&r, "postprocessors", v, &rc);
    }
    if (a->metrics_interval_s >= 0) put_u(&r, "metrics_interval_s", (uint64_t)a->metrics_interval_s, &rc);
    if (a->config.type != TR_NULL) put(&r, "config", tr_value_ref(a->config), &rc);
    return done(rc, &r, out);
}

/* {id, description, links}; vars: fill the placeholders (NULL: as written). */
static int describe_binding(const struct tr_cfg_binding *b, const tr_value *vars, tr_value *out) {
    tr_value r, links, tos;
    int rc = tr_v_rec(3, &r);
    if (rc) return done(rc, &r, out);
    put_str(&r, "id", b->id, &rc);
    put_str(&r, "description", b->description, &rc);
    if (!rc) rc = tr_v_rec(b->nlinks, &links);
    else links = tr_v_null();
    for (size_t i = 0; !rc && i < b->nlinks; i++) {
        const struct tr_cfg_link *l = &b->links[i];
        char *from = NULL;
        struct tr_diag d;
        tos = tr_v_null();
        rc = vars ? tr_url_substitute(l->from, vars, &from, &d) : 0;
        if (!rc) rc = tr_v_arr(l->nto, &tos);
        for (size_t j = 0; !rc && j < l->nto; j++) {
            char *to = NULL;
            rc = vars ? tr_url_substitute(l->to[j], vars, &to, &d) : 0;
            if (!rc) push_str(&tos, to ? to : l->to[j], &rc);
            tr_free(to);
        }
        if (!rc) rc = tr_rec_set(&links, from ? from : l->from, strlen(from ? from : l->from), tos);
        else if (tos.type != TR_NULL) tr_value_unref(tos);
        tos = tr_v_null();
        tr_free(from);
    }
    put(&r, "links", links, &rc);
    return done(rc, &r, out);
}

int tr_world_describe(const struct tr_world *w, enum tr_world_kind k, const char *id,
                      tr_value *out) {
    *out = tr_v_null();
    if (k == TR_WORLD_PIPELINE) {
        const struct query_art *q = world_find_query(w, id);
        return q ? tr_v_str(q->src, q->len, out) : TR_ENOTFOUND;
    }
    if (k == TR_WORLD_BINDING) {
        const struct tr_cfg_binding *b = world_find_binding(w, id);
        return b ? describe_binding(b, NULL, out) : TR_ENOTFOUND;
    }
    const struct tr_cfg_artefact *a = world_find_art(w, k, id);
    return a ? describe_ramp(a, k == TR_WORLD_ONRAMP, out) : TR_ENOTFOUND;
}

int tr_world_instance_list(const struct tr_world *w, enum tr_world_kind k, const char *id,
                           tr_value *out) {
    tr_value a;
    int rc = tr_v_arr(4, &a);
    if (rc) return done(rc, &a, out);
    size_t n = strlen(id);
    if (k == TR_WORLD_ONRAMP)
        for (size_t i = 0; i < w->nonramps; i++)
            if (w->onramps[i]->refs && strcmp(on_art(w->onramps[i])->id, id) == 0)
                push_str(&a, w->onramps[i]->instance, &rc);
    if (k == TR_WORLD_OFFRAMP)
        for (size_t i = 0; i < w->nofframps; i++)
            if (w->offramps[i]->refs && strcmp(off_art(w->offramps[i])->id, id) == 0)
                push_str(&a, w->offramps[i]->instance, &rc);
    if (k == TR_WORLD_PIPELINE)
        for (size_t i = 0; i < w->npipes; i++)
            if (w->pipes[i]->refs && strcmp(w->pipes[i]->id, id) == 0)
                push_str(&a, w->pipes[i]->instance, &rc);
    if (k == TR_WORLD_BINDING)
        for (size_t i = 0; i < w->nbounds; i++) {
            const char *u = w->bounds[i]->url + strlen("/binding/");
            if (strncmp(u, id, n) == 0 && u[n] == '/') push_str(&a, u + n + 1, &rc);
        }
    return done(rc, &a, out);
}

int tr_world_describe_bound(const struct tr_world *w, const char *aid, const char *sid,
                            tr_value *out) {
    *out = tr_v_null();
    char url[600];
    snprintf(url, sizeof url, "/binding/%s/%s", aid, sid);
    const struct tr_cfg_binding *cb = world_find_binding(w, aid);
    for (size_t i = w->nbounds; cb && i-- > 0;)
        if (strcmp(w->bounds[i]->url, url) == 0)
            return describe_binding(cb, &w->bounds[i]->vars, out);
    return TR_ENOTFOUND;
}

static void not_ready(tr_value *why, int *rc, const char *fmt, const char *a, const char *b) {
    char buf[1400];
    snprintf(buf, sizeof buf, fmt, a, b);
    push_str(why, buf, rc);
}

int tr_world_status(const struct tr_world *w, tr_value *out) {
    tr_value st, why = tr_v_null(), ons = tr_v_null(), offs = tr_v_null(), pipes = tr_v_null();
    char url[600];
    int rc = tr_v_rec(5, &st);
    if (rc) return done(rc, &st, out);
    if (!rc) rc = tr_v_arr(2, &why);
    if (!rc) rc = tr_v_arr(w->nonramps, &ons);
    if (!rc) rc = tr_v_arr(w->nofframps, &offs);
    if (!rc) rc = tr_v_arr(w->npipes, &pipes);
    if (!rc && w->state != W_RUNNING)
        not_ready(&why, &rc, "the world is %s%s", w->state == W_LOADED ? "not started" : "stopping", "");
    for (size_t i = w->deployed_mappings; !rc && i < w->cfg.nmappings; i++)
        not_ready(&why, &rc, "mapping %s is not deployed%s", w->cfg.mappings[i].binding_url, "");
    for (size_t i = 0; !rc && i < w->nonramps; i++) {
        const struct onramp_inst *o = w->onramps[i];
        if (!o->refs) continue;
        snprintf(url, sizeof url, "/onramp/%s/%s", on_art(o)->id, o->instance);
        tr_value r;
        rc = tr_v_rec(6, &r);
        if (rc) break;
        put_str(&r, "url", url, &rc);
        put_str(&r, "type", on_art(o)->type, &rc);
        put(&r, "started", tr_v_bool(o->started), &rc);
        put_u(&r, "events_out", o->events_out, &rc);
        put_u(&r, "decode_errors", o->decode_errors, &rc);
        push_val(&ons, r, &rc);
        if (!o->started) not_ready(&why, &rc, "%s is not started%s", url, "");
    }
    for (size_t i = 0; !rc && i < w->nofframps; i++) {
        const struct offramp_inst *o = w->offramps[i];
        if (!o->refs) continue;
        snprintf(url, sizeof url, "/offramp/%s/%s", off_art(o)->id, o->instance);
        tr_value r;
        rc = tr_v_rec(12, &r);
        if (rc) break;
        put_str(&r, "url", url, &rc);
        put_str(&r, "type", off_art(o)->type, &rc);
        put(&r, "started", tr_v_bool(o->started), &rc);
        put(&r, "connected", tr_v_bool(o->started && !o->breaker_open), &rc);
        put_str(&r, "breaker", o->breaker_open ? "open" : "closed", &rc);
        put_u(&r, "events_in", o->events_in, &rc);
        put_u(&r, "events_out", o->events_out, &rc);
        put_u(&r, "acks", o->acks, &rc);
        put_u(&r, "fails", o->fails, &rc);
        put_u(&r, "encode_errors", o->encode_errors, &rc);
        put_u(&r, "in_flight", o->in_flight, &rc);
        put_u(&r, "breaker_opened", o->triggers, &rc);
        put_u(&r, "breaker_closed", o->restores, &rc);
        push_val(&offs, r, &rc);
        if (!o->started) not_ready(&why, &rc, "%s is not started%s", url, "");
        else if (o->breaker_open) not_ready(&why, &rc, "%s is not connected%s", url, "");
    }
    for (size_t i = 0; !rc && i < w->npipes; i++) {
        const struct pipe_inst *pi = w->pipes[i];
        if (!pi->refs || !pi->p) continue;
        snprintf(url, sizeof url, "/pipeline/%s/%s", pi->id, pi->instance);
        struct tr_pipeline_stats ps;
        tr_pipeline_stats(pi->p, &ps);
        tr_value r;
        rc = tr_v_rec(4, &r);
        if (rc) break;
        put_str(&r, "url", url, &rc);
        put_u(&r, "events_in", ps.events_in, &rc);
        put_u(&r, "events_out", ps.events_out, &rc);
        put_u(&r, "errors", ps.errors, &rc);
        tr_value ops = tr_v_null();
        if (!rc) rc = tr_pipeline_op_stats(pi->p, &ops);
        put(&r, "operators", ops, &rc);
        tr_value nodes = tr_v_null();
        if (!rc) rc = tr_pipeline_node_events(pi->p, &nodes);
        put(&r, "nodes", nodes, &rc);
        push_val(&pipes, r, &rc);
    }
    put(&st, "ready", tr_v_bool(!rc && tr_arr_len(&why) == 0), &rc);
    put(&st, "not_ready", why, &rc);
    put(&st, "onramps", ons, &rc);
    put(&st, "offramps", offs, &rc);
    put(&st, "pipelines", pipes, &rc);
    return done(rc, &st, out);
}
