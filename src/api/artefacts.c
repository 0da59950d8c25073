/* artefacts.c - publish, fetch, list, unpublish, bind and unbind over
 * the REST API (see artefacts.h for the routes and 0.11's answers).
 *
 * A posted onramp, offramp or binding is parsed by Content-Type, checked
 * to be one record with a string id, and handed to the world as the
 * one-entry config {"<kind>": [record]} (JSON text is YAML), so it goes
 * through exactly the checks a config file gets.
 *
 * With a kept state (-d), a change is made durable before it is answered:
 * publish and bind change the world first and are undone when the state
 * cannot be written; unpublish and unbind, whose world calls cannot be
 * undone exactly, are checked first, written, then done (and the entry put
 * back if the world still refuses). Either way a 2xx answer means the
 * change survives a crash, and a 500 that nothing changed.
 */
#include "api/artefacts.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/reply.h"
#include "api/router.h"
#include "api/state.h"
#include "codec/json.h"
#include "config/yaml.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/log.h"
#include "lang/query.h"
#include "pipeline/world.h"

static const char *const kind_names[] = {"onramp", "offramp", "pipeline", "binding"};

/* 0.11's texts for the runtime's errors (tremor-api/src/errors.rs) */
#define NOT_FOUND "Artefact not found"
#define EXISTS "A resource with the requested ID already exists"
#define IN_USE "Resource still has active instances"

/* Map a world error to 0.11's status; the diagnostic is the text. */
static void world_error(struct tr_http_req *req, int rc, const struct tr_diag *d) {
    int status = rc == TR_ENOTFOUND ? 404
               : rc == -EBUSY ? 409
               : rc == TR_EPARSE || rc == TR_EINVAL_CFG || rc == TR_EDEPTH || rc == TR_ETOOBIG ||
                   rc == TR_EUNSUPPORTED ? 400
               : rc == TR_ECLOSED ? 503 : 500;
    if (status == 404) {
        tr_api_error(req, 404, NOT_FOUND);
    } else if (status == 409) {
        tr_api_error(req, 409, IN_USE);
    } else if (d->line) {
        tr_api_error(req, status, "%s:%d:%d: %s", d->file[0] ? d->file : "<API>", d->line, d->col,
                     d->msg);
    } else {
        tr_api_error(req, status, "%s", d->msg[0] ? d->msg : tr_strerror(rc));
    }
}

/* A body's value may share subtrees (YAML aliases): written out as JSON it
 * could be exponentially larger than its text. Counted with the sharing
 * expanded, it must stay under this many nodes. */
#define MAX_BODY_NODES 1000000

/* Nodes of v with shared subtrees counted at every use; stops counting
 * past *budget (then returns nonzero). */
static int too_many_nodes(const tr_value *v, uint64_t *budget) {
    if ((*budget)-- == 0) return 1;
    if (v->type == TR_ARR)
        for (uint32_t i = 0; i < tr_arr_len(v); i++)
            if (too_many_nodes(tr_arr_at(v, i), budget)) return 1;
    if (v->type == TR_REC)
        for (uint32_t i = 0; i < tr_rec_len(v); i++)
            if (too_many_nodes(&tr_rec_at(v, i)->val, budget)) return 1;
    return 0;
}

/* The request body as a value by Content-Type (JSON or YAML). Answers the
 * request (415, 400) and returns nonzero when it cannot. */
static int body_value(struct tr_http_req *req, tr_value *out) {
    *out = tr_v_null();
    enum tr_api_type t;
    if (tr_api_content_type(req, &t) != 0 || t == TR_API_TRICKLE) {
        tr_api_error(req, 415, "No content type provided");
        return -1;
    }
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc;
    if (t == TR_API_JSON) {
        rc = tr_json_decode(req->body, req->body_len, out, &d);
        if (rc) {
            tr_api_error(req, rc == -ENOMEM ? 500 : 400, "JSON error: %s at %d:%d", d.msg, d.line,
                         d.col);
            return -1;
        }
        return 0;
    }
    struct tr_yaml_doc *doc = NULL;
    rc = tr_yaml_parse("<API>", req->body, req->body_len, &doc, &d);
    if (!rc && !tr_yaml_root(doc)) rc = tr_diag_set(&d, TR_EPARSE, NULL, 0, 0, "empty document");
    if (!rc) rc = tr_yaml_value(doc, tr_yaml_root(doc), out, &d);
    tr_yaml_free(doc);
    if (rc) {
        tr_api_error(req, rc == -ENOMEM ? 500 : 400, "YAML error: %s at %d:%d", d.msg, d.line, d.col);
        return -1;
    }
    /* depth is bounded by the parser (TR_YAML_MAX_DEPTH), so the count's
     * recursion is too */
    uint64_t budget = MAX_BODY_NODES;
    if (too_many_nodes(out, &budget)) {
        tr_value_unref(*out);
        *out = tr_v_null();
        tr_api_error(req, 400, "YAML error: the document expands (through aliases) to more than %d "
                     "nodes", MAX_BODY_NODES);
        return -1;
    }
    return 0;
}

/* A handler's arg: the world and the kind it serves (kept by the router). */
struct route_arg {
    struct tr_world *w;
    struct tr_api_state *st;   /* NULL: changes are not kept */
    enum tr_world_kind kind;
};

/* The state could not be written: the change is not made (or undone). */
static void not_kept(struct tr_http_req *req, int rc, const struct tr_diag *d) {
    tr_api_error(req, 500, "%s (nothing was changed)", d->msg[0] ? d->msg : tr_strerror(rc));
}

static void reply_value(struct tr_http_req *req, int status, tr_value v) {
    tr_api_reply(req, status, &v);
    tr_value_unref(v);
}

static void list(void *arg, struct tr_http_req *req, const struct tr_route_params *pp) {
    const struct route_arg *ra = arg;
    (void)pp;
    tr_value v;
    if (tr_world_list(ra->w, ra->kind, &v)) tr_api_error(req, 500, "out of memory");
    else reply_value(req, 200, v);
}

/* A pipeline's source the way 0.11 answers it: trickle text when asked
 * for (with the instances after it when inst is given), else a string. */
static void reply_source(struct tr_http_req *req, int status, const tr_value *src,
                         const tr_value *inst) {
    if (tr_api_accept(req) != TR_API_TRICKLE) {
        tr_api_reply(req, status, src);
        return;
    }
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = tr_buf_append(&b, src->as.s->data, src->as.s->len);
    /* 0.11 joins the instance ids with "#  * " and no newline between */
    if (!rc && inst) rc = tr_buf_printf(&b, "\n# Instances:\n#  * ");
    for (uint32_t i = 0; !rc && inst && i < tr_arr_len(inst); i++) {
        const tr_value *s = tr_arr_at(inst, i);
        if (i) rc = tr_buf_printf(&b, "#  * ");
        if (!rc) rc = tr_buf_append(&b, s->as.s->data, s->as.s->len);
    }
    if (rc) tr_api_error(req, 500, "out of memory");
    else tr_http_respond(req, status, tr_api_mime(TR_API_TRICKLE), b.data, b.len, NULL);
    tr_buf_fini(&b);
}

static void fetch(void *arg, struct tr_http_req *req, const struct tr_route_params *pp) {
    const struct route_arg *ra = arg;
    const char *id = pp->value[0];
    tr_value art, inst = tr_v_null(), rec = tr_v_null();
    int rc = tr_world_describe(ra->w, ra->kind, id, &art);
    if (rc == TR_ENOTFOUND) {
        tr_api_error(req, 404, NOT_FOUND);
        return;
    }
    if (!rc) rc = tr_world_instance_list(ra->w, ra->kind, id, &inst);
    if (!rc && ra->kind == TR_WORLD_PIPELINE) {
        reply_source(req, 200, &art, &inst);
        goto out;
    }
    if (!rc) rc = tr_v_rec(2, &rec);
    if (!rc) rc = tr_rec_set(&rec, "artefact", 8, tr_value_ref(art));
    if (!rc) rc = tr_rec_set(&rec, "instances", 9, tr_value_ref(inst));
    if (rc) tr_api_error(req, 500, "out of memory");
    else tr_api_reply(req, 200, &rec);
out:
    tr_value_unref(rec);
    tr_value_unref(inst);
    tr_value_unref(art);
}

static void unpublish(void *arg, struct tr_http_req *req, const struct tr_route_params *pp) {
    const struct route_arg *ra = arg;
    const char *id = pp->value[0];
    tr_value art;
    struct tr_diag d;
    tr_diag_clear(&d);
    if (strncmp(id, TR_WORLD_SYSTEM_PREFIX, strlen(TR_WORLD_SYSTEM_PREFIX)) == 0) {
        tr_api_error(req, 403, "System artefacts cannot be unpublished");
        return;
    }
    tr_value kept = tr_v_null();
    int rc = tr_world_describe(ra->w, ra->kind, id, &art);
    if (!rc && tr_world_instances(ra->w, ra->kind, id) > 0) rc = -EBUSY;
    if (!rc && ra->st) {
        rc = tr_api_state_unpublish(ra->st, ra->kind, id, &kept, &d);
        if (rc) {
            not_kept(req, rc, &d);
            goto out;
        }
    }
    if (!rc) rc = tr_world_unpublish(ra->w, ra->kind, id, &d);
    if (rc && kept.type != TR_NULL) {
        struct tr_diag d2;
        tr_diag_clear(&d2);
        if (tr_api_state_publish(ra->st, ra->kind, id, &kept, &d2))
            TR_WARN("api", "%s '%s' still exists but is no longer kept: %s", kind_names[ra->kind], id,
                    d2.msg);
    }
    if (rc) world_error(req, rc, &d);
    else if (ra->kind == TR_WORLD_PIPELINE) reply_source(req, 200, &art, NULL);
    else tr_api_reply(req, 200, &art);
out:
    tr_value_unref(kept);
    tr_value_unref(art);
}

/* POST /pipeline: trickle source with a #!config id. */
static void publish_pipeline(struct route_arg *ra, struct tr_http_req *req) {
    enum tr_api_type t;
    if (tr_api_content_type(req, &t) != 0 || t != TR_API_TRICKLE) {
        tr_api_error(req, 415, "No content type provided");
        return;
    }
    struct tr_query *q = NULL;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_query_compile("<API>", req->body, req->body_len, &q, &d);
    if (rc) {
        world_error(req, rc == -ENOMEM ? rc : TR_EPARSE, &d);
        return;
    }
    char id[256];
    const char *cid = tr_query_config_id(q);
    snprintf(id, sizeof id, "%s", cid ? cid : "");
    tr_query_destroy(q);
    tr_value src;
    if (!id[0]) {
        /* 0.11: UnprocessableEntity */
        tr_api_error(req, 422, "no `#!config id = \"trickle-id\"` directive provided");
        return;
    }
    if (tr_world_describe(ra->w, TR_WORLD_PIPELINE, id, &src) == 0) {
        tr_value_unref(src);
        tr_api_error(req, 409, EXISTS);
        return;
    }
    rc = tr_world_publish_query(ra->w, "<API>", req->body, req->body_len, &d);
    if (!rc) rc = tr_world_describe(ra->w, TR_WORLD_PIPELINE, id, &src);
    if (rc) {
        world_error(req, rc, &d);
        return;
    }
    if (ra->st && (rc = tr_api_state_publish(ra->st, TR_WORLD_PIPELINE, id, &src, &d)) != 0) {
        struct tr_diag d2;
        tr_diag_clear(&d2);
        tr_world_unpublish(ra->w, TR_WORLD_PIPELINE, id, &d2);
        not_kept(req, rc, &d);
        tr_value_unref(src);
        return;
    }
    reply_source(req, 201, &src, NULL);
    tr_value_unref(src);
}

static void publish(void *arg, struct tr_http_req *req, const struct tr_route_params *pp) {
    struct route_arg *ra = arg;
    (void)pp;
    if (ra->kind == TR_WORLD_PIPELINE) {
        publish_pipeline(ra, req);
        return;
    }
    const char *kind = kind_names[ra->kind];
    tr_value v, wrap = tr_v_null(), arr = tr_v_null(), art = tr_v_null();
    if (body_value(req, &v)) return;
    const tr_value *idv = v.type == TR_REC ? tr_rec_get_cstr(&v, "id") : NULL;
    struct tr_buf text;
    tr_buf_init(&text);
    struct tr_diag d;
    tr_diag_clear(&d);
    char id[256];
    int rc;
    if (!idv || idv->type != TR_STR || idv->as.s->len == 0 || idv->as.s->len >= sizeof id) {
        tr_api_error(req, 400, "a %s is a mapping with a string 'id' of 1 to %zu bytes", kind,
                     sizeof id - 1);
        goto out;
    }
    memcpy(id, idv->as.s->data, idv->as.s->len + 1);
    if (tr_world_describe(ra->w, ra->kind, id, &art) == 0) {
        tr_api_error(req, 409, EXISTS);
        goto out;
    }
    rc = tr_v_arr(1, &arr);
    if (!rc) rc = tr_arr_push(&arr, tr_value_ref(v));
    if (!rc) rc = tr_v_rec(1, &wrap);
    if (!rc) rc = tr_rec_set(&wrap, kind, strlen(kind), arr), arr = tr_v_null();
    if (!rc) rc = tr_json_encode(&wrap, &text);
    if (rc) {
        tr_api_error(req, 500, "%s", tr_strerror(rc));
        goto out;
    }
    rc = tr_world_publish_config(ra->w, "<API>", text.data, text.len, &d);
    if (!rc) rc = tr_world_describe(ra->w, ra->kind, id, &art);
    if (rc) {
        world_error(req, rc, &d);
    } else if (ra->st && (rc = tr_api_state_publish(ra->st, ra->kind, id, &v, &d)) != 0) {
        struct tr_diag d2;
        tr_diag_clear(&d2);
        tr_world_unpublish(ra->w, ra->kind, id, &d2);
        not_kept(req, rc, &d);
    } else {
        tr_api_reply(req, 201, &art);
    }
out:
    tr_buf_fini(&text);
    tr_value_unref(art);
    tr_value_unref(arr);
    tr_value_unref(wrap);
    tr_value_unref(v);
}

static void get_instance(void *arg, struct tr_http_req *req, const struct tr_route_params *pp) {
    const struct route_arg *ra = arg;
    tr_value v;
    int rc = tr_world_describe_bound(ra->w, pp->value[0], pp->value[1], &v);
    if (rc == TR_ENOTFOUND) tr_api_error(req, 404, NOT_FOUND);
    else if (rc) tr_api_error(req, 500, "%s", tr_strerror(rc));
    else reply_value(req, 200, v);
}

/* POST /binding/{aid}/{sid} with a mapping {placeholder: string}. As in
 * 0.11 an instance that is deployed already is answered as it is. Beyond
 * 0.11: an empty body is the mapping {}, and {instance} defaults to sid. */
static void bind_instance(void *arg, struct tr_http_req *req, const struct tr_route_params *pp) {
    const struct route_arg *ra = arg;
    const char *aid = pp->value[0], *sid = pp->value[1];
    tr_value vars = tr_v_null(), have;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc;
    if (req->body_len == 0) {
        rc = tr_v_rec(1, &vars);
        if (rc) goto oom;
    } else if (body_value(req, &vars)) {
        return;
    }
    if (vars.type != TR_REC) {
        tr_api_error(req, 400, "a mapping is a record of placeholder names to strings");
        goto out;
    }
    for (uint32_t i = 0; i < tr_rec_len(&vars); i++)
        if (tr_rec_at(&vars, i)->val.type != TR_STR) {
            tr_api_error(req, 400, "mapping value '%s' is not a string", tr_rec_at(&vars, i)->key->data);
            goto out;
        }
    if (!tr_rec_get_cstr(&vars, "instance")) {
        tr_value s;
        rc = tr_v_cstr(sid, &s);
        if (!rc) rc = tr_rec_set(&vars, "instance", 8, s);
        if (rc) goto oom;
    }
    tr_value art;
    if (tr_world_describe(ra->w, TR_WORLD_BINDING, aid, &art) != 0) {
        tr_api_error(req, 404, NOT_FOUND);
        goto out;
    }
    tr_value_unref(art);
    if (tr_world_describe_bound(ra->w, aid, sid, &have) == 0) {
        reply_value(req, 201, have);
        goto out;
    }
    char url[600];
    snprintf(url, sizeof url, "/binding/%s/%s", aid, sid);
    rc = tr_world_bind(ra->w, url, &vars, &d);
    if (rc) {
        world_error(req, rc, &d);
        goto out;
    }
    if (ra->st && (rc = tr_api_state_bind(ra->st, url, &vars, &d)) != 0) {
        struct tr_diag d2;
        tr_diag_clear(&d2);
        tr_world_unbind(ra->w, url, &d2);
        not_kept(req, rc, &d);
        goto out;
    }
    rc = tr_world_describe_bound(ra->w, aid, sid, &have);
    if (rc) world_error(req, rc, &d);
    else reply_value(req, 201, have);
    goto out;
oom:
    tr_api_error(req, 500, "out of memory");
out:
    tr_value_unref(vars);
}

static void unbind_instance(void *arg, struct tr_http_req *req, const struct tr_route_params *pp) {
    const struct route_arg *ra = arg;
    char url[600];
    snprintf(url, sizeof url, "/binding/%s/%s", pp->value[0], pp->value[1]);
    struct tr_diag d;
    tr_diag_clear(&d);
    tr_value have, kept = tr_v_null();
    int rc = tr_world_describe_bound(ra->w, pp->value[0], pp->value[1], &have);
    if (rc) {
        world_error(req, rc, &d);
        return;
    }
    tr_value_unref(have);
    if (ra->st && (rc = tr_api_state_unbind(ra->st, url, &kept, &d)) != 0) {
        not_kept(req, rc, &d);
        return;
    }
    rc = tr_world_unbind(ra->w, url, &d);
    if (rc && kept.type != TR_NULL) {
        struct tr_diag d2;
        tr_diag_clear(&d2);
        if (tr_api_state_bind(ra->st, url, &kept, &d2))
            TR_WARN("api", "%s is still deployed but no longer kept: %s", url, d2.msg);
    }
    tr_value_unref(kept);
    if (rc) world_error(req, rc, &d);
    else tr_http_respond(req, 204, NULL, NULL, 0, NULL);
}

int tr_api_artefact_routes(struct tr_router *r, struct tr_world *w, struct tr_api_state *st) {
    static const struct {
        const char *method, *suffix;
        tr_route_fn fn;
    } per_kind[] = {
        {"GET", "", list}, {"POST", "", publish},
        {"GET", "/{aid}", fetch}, {"DELETE", "/{aid}", unpublish},
    };
    int rc = 0;
    for (int k = TR_WORLD_ONRAMP; !rc && k <= TR_WORLD_BINDING; k++) {
        struct route_arg *ra = tr_router_arg(r, sizeof *ra);
        if (!ra) return -ENOMEM;
        ra->w = w;
        ra->st = st;
        ra->kind = (enum tr_world_kind)k;
        for (size_t i = 0; !rc && i < sizeof per_kind / sizeof per_kind[0]; i++) {
            char pat[64];
            snprintf(pat, sizeof pat, "/%s%s", kind_names[k], per_kind[i].suffix);
            rc = tr_router_add(r, per_kind[i].method, pat, per_kind[i].fn, ra);
        }
        if (!rc && k == TR_WORLD_BINDING) {
            rc = tr_router_add(r, "GET", "/binding/{aid}/{sid}", get_instance, ra);
            if (!rc) rc = tr_router_add(r, "POST", "/binding/{aid}/{sid}", bind_instance, ra);
            if (!rc) rc = tr_router_add(r, "DELETE", "/binding/{aid}/{sid}", unbind_instance, ra);
        }
    }
    return rc;
}
