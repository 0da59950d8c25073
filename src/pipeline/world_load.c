/* world_load.c - published artefacts: queries from .trickle files and the
 * onramps, offramps, bindings and mappings of YAML files.
 *
 * Publishing checks an artefact (a query compiles, a connector type and
 * codec exist) and keeps it; it creates no instance (world_deploy.c does).
 * An unpublished YAML entry stays in the config, marked gone, because live
 * instances index the config's arrays.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "codec/codec.h"
#include "codec/proc.h"
#include "core/file.h"
#include "lang/lang.h"
#include "lang/query.h"
#include "pipeline/world_int.h"

const struct query_art *world_find_query(const struct tr_world *w, const char *id) {
    for (size_t i = 0; i < w->nqueries; i++)
        if (strcmp(w->queries[i].id, id) == 0) return &w->queries[i];
    return NULL;
}

static char *file_stem(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    return tr_strndup(base, dot && dot != base ? (size_t)(dot - base) : strlen(base));
}

/* Compile src (taken; the text of path) to check it and keep it. */
int world_publish_query(struct tr_world *w, const char *path, char *src, size_t len,
                        struct tr_diag *d) {
    int rc;
    struct tr_query *q = NULL;
    struct tr_lang_err err;
    memset(&err, 0, sizeof err);
    struct tr_lang_opts opts;
    rc = tr_lang_opts_from_env(&opts, path);
    if (!rc) rc = tr_lang_compile_query(src, len, &opts, &q, &err);
    tr_lang_opts_fini(&opts);
    if (rc) {
        if (err.set) tr_lang_err_to_diag(&err, path, d);
        else tr_diag_set(d, rc, path, 0, 0, "module path (TREMOR_PATH): %s", tr_strerror(rc));
        tr_buf_reset(&w->detail);
        if (err.set && tr_lang_err_render(&err, &w->detail) != 0) tr_buf_reset(&w->detail);
        tr_lang_err_clear(&err);
        tr_free(src);
        return rc == -ENOMEM ? rc : TR_EPARSE;
    }
    const char *cid = tr_query_config_id(q);
    char *id = cid ? tr_strdup(cid) : file_stem(path);
    tr_query_destroy(q);
    if (!id) {
        tr_free(src);
        return -ENOMEM;
    }
    const struct query_art *dup = world_find_query(w, id);
    if (dup) {
        rc = tr_diag_set(d, TR_EINVAL_CFG, path, 0, 0,
                         "pipeline '%s' is already loaded from %s", id, dup->path);
        goto fail;
    }
    rc = tr_grow((void **)&w->queries, &w->queries_cap, w->nqueries + 1, sizeof *w->queries);
    if (rc) goto fail;
    struct query_art *qa = &w->queries[w->nqueries];
    qa->path = tr_strdup(path);
    if (!qa->path) {
        rc = -ENOMEM;
        goto fail;
    }
    qa->id = id;
    qa->src = src;
    qa->len = len;
    w->nqueries++;
    TR_INFO("world", "loaded pipeline /pipeline/%s from %s", id, path);
    return 0;
fail:
    tr_free(id);
    tr_free(src);
    return rc;
}

int tr_world_load_query(struct tr_world *w, const char *path, struct tr_diag *d) {
    size_t len;
    char *src;
    int rc = tr_file_read(path, MAX_QUERY_BYTES, &src, &len);
    if (rc)
        return tr_diag_set(d, rc == -ENOMEM ? rc : TR_EINVAL_CFG, path, 0, 0, "cannot read: %s",
                           rc == TR_ETOOBIG ? "file too large" : tr_strerror(rc));
    return world_publish_query(w, path, src, len, d);
}

int tr_world_publish_query(struct tr_world *w, const char *name, const char *src, size_t len,
                           struct tr_diag *d) {
    if (world_stopping(w)) return tr_diag_set(d, TR_ECLOSED, name, 0, 0, "the world is stopping");
    if (len > MAX_QUERY_BYTES)
        return tr_diag_set(d, TR_EINVAL_CFG, name, 0, 0, "cannot read: file too large");
    char *copy = tr_malloc(len + 1);
    if (!copy) return tr_diag_set(d, -ENOMEM, name, 0, 0, "out of memory");
    memcpy(copy, src, len);
    copy[len] = 0;
    return world_publish_query(w, name, copy, len, d);
}

int world_check_artefact(const struct tr_world *w, const struct tr_cfg_artefact *a, int is_onramp,
                         struct tr_diag *d) {
    const char *kind = is_onramp ? "onramp" : "offramp";
    int known = is_onramp ? w->reg.onramp(a->type) != NULL : w->reg.offramp(a->type) != NULL;
    /* 0.11's words ("Onramp type X not known" / "Offramp X not known") after our location:
     * scripts and 0.11's own cli-integration cases look for them. */
    if (!known)
        return tr_diag_set(d, TR_EINVAL_CFG, a->loc.file, a->loc.line, a->loc.col,
                           "%s '%s': %s %s not known (known %s types: %s)", kind, a->id,
                           is_onramp ? "Onramp type" : "Offramp", a->type, kind,
                           is_onramp ? w->reg.onramp_types() : w->reg.offramp_types());
    if (a->codec && !tr_codec_find(a->codec))
        return tr_diag_set(d, TR_EINVAL_CFG, a->loc.file, a->loc.line, a->loc.col,
                           "%s '%s': unknown codec '%s' (known: %s)", kind, a->id, a->codec,
                           tr_codec_names());
    struct tr_diag pd;
    tr_diag_clear(&pd);
    if ((is_onramp && tr_preproc_check(a->preprocessors, a->npre, &pd) != 0) ||
        tr_postproc_check(a->postprocessors, a->npost, &pd) != 0)
        return tr_diag_set(d, TR_EINVAL_CFG, a->loc.file, a->loc.line, a->loc.col, "%s '%s': %s",
                           kind, a->id, pd.msg);
    return 0;
}

/* Index into w->gone of a kind with config entries; -1 for pipelines. */
static int gone_slot(enum tr_world_kind k) {
    return k == TR_WORLD_ONRAMP ? 0 : k == TR_WORLD_OFFRAMP ? 1 : k == TR_WORLD_BINDING ? 2 : -1;
}

int world_is_gone(const struct tr_world *w, enum tr_world_kind k, size_t idx) {
    int g = gone_slot(k);
    return g >= 0 && idx < w->gone_cap[g] && w->gone[g][idx];
}

static int set_gone(struct tr_world *w, enum tr_world_kind k, size_t idx) {
    int g = gone_slot(k);
    size_t cap = w->gone_cap[g];
    if (idx >= cap) {
        int rc = tr_grow((void **)&w->gone[g], &w->gone_cap[g], idx + 1, 1);
        if (rc) return rc;
        memset(w->gone[g] + cap, 0, w->gone_cap[g] - cap);
    }
    w->gone[g][idx] = 1;
    return 0;
}

const struct tr_cfg_artefact *world_find_art(const struct tr_world *w, enum tr_world_kind k,
                                             const char *id) {
    const struct tr_cfg_artefact *arr = k == TR_WORLD_ONRAMP ? w->cfg.onramps : w->cfg.offramps;
    size_t n = k == TR_WORLD_ONRAMP ? w->cfg.nonramps : w->cfg.nofframps;
    for (size_t i = 0; i < n; i++)
        if (!world_is_gone(w, k, i) && strcmp(arr[i].id, id) == 0) return &arr[i];
    return NULL;
}

const struct tr_cfg_binding *world_find_binding(const struct tr_world *w, const char *id) {
    for (size_t i = 0; i < w->cfg.nbindings; i++)
        if (!world_is_gone(w, TR_WORLD_BINDING, i) && strcmp(w->cfg.bindings[i].id, id) == 0)
            return &w->cfg.bindings[i];
    return NULL;
}

void world_list_ids(const struct tr_world *w, enum tr_url_kind k, char *buf, size_t n) {
    size_t off = 0;
    buf[0] = 0;
    size_t cnt = k == TR_URL_ONRAMP ? w->cfg.nonramps
               : k == TR_URL_OFFRAMP ? w->cfg.nofframps
               : k == TR_URL_PIPELINE ? w->nqueries : w->cfg.nbindings;
    for (size_t i = 0; i < cnt && off + 1 < n; i++) {
        int m;
        if (k == TR_URL_ONRAMP && world_is_gone(w, TR_WORLD_ONRAMP, i)) continue;
        if (k == TR_URL_OFFRAMP && world_is_gone(w, TR_WORLD_OFFRAMP, i)) continue;
        if (k == TR_URL_BINDING && world_is_gone(w, TR_WORLD_BINDING, i)) continue;
        /* the built-ins are there in every run: the list is for the user's own */
        const char *id = k == TR_URL_ONRAMP ? w->cfg.onramps[i].id
                       : k == TR_URL_OFFRAMP ? w->cfg.offramps[i].id
                       : k == TR_URL_PIPELINE ? w->queries[i].id : w->cfg.bindings[i].id;
        if (!strncmp(id, TR_WORLD_SYSTEM_PREFIX, strlen(TR_WORLD_SYSTEM_PREFIX))) continue;
        if (k == TR_URL_PIPELINE)
            m = snprintf(buf + off, n - off, "%s%s (from %s)", off ? ", " : "", w->queries[i].id,
                         w->queries[i].path);
        else
            m = snprintf(buf + off, n - off, "%s%s", off ? ", " : "",
                         k == TR_URL_ONRAMP ? w->cfg.onramps[i].id
                         : k == TR_URL_OFFRAMP ? w->cfg.offramps[i].id : w->cfg.bindings[i].id);
        if (m < 0) break;
        off += (size_t)m;
    }
    if (!buf[0]) snprintf(buf, n, "none");
}

const char *world_kind_name(enum tr_url_kind k) {
    switch (k) {
    case TR_URL_ONRAMP: return "onramp";
    case TR_URL_OFFRAMP: return "offramp";
    case TR_URL_PIPELINE: return "pipeline";
    case TR_URL_BINDING: return "binding";
    }
    return "?";
}

/* The entries a load added from on0/off0/b0/m0 on: check them; on error
 * they are unpublished again, so a failed publish leaves nothing usable. */
static int check_new(struct tr_world *w, size_t on0, size_t off0, size_t b0, size_t m0,
                     struct tr_diag *d) {
    int rc = 0;
    for (size_t i = on0; !rc && i < w->cfg.nonramps; i++)
        rc = world_check_artefact(w, &w->cfg.onramps[i], 1, d);
    for (size_t i = off0; !rc && i < w->cfg.nofframps; i++)
        rc = world_check_artefact(w, &w->cfg.offramps[i], 0, d);
    if (!rc) return 0;
    for (size_t i = on0; i < w->cfg.nonramps; i++) set_gone(w, TR_WORLD_ONRAMP, i);
    for (size_t i = off0; i < w->cfg.nofframps; i++) set_gone(w, TR_WORLD_OFFRAMP, i);
    for (size_t i = b0; i < w->cfg.nbindings; i++) set_gone(w, TR_WORLD_BINDING, i);
    if (w->deployed_mappings == m0) w->deployed_mappings = w->cfg.nmappings;
    return rc;
}

int tr_world_load_config(struct tr_world *w, const char *path, struct tr_diag *d) {
    size_t on0 = w->cfg.nonramps, off0 = w->cfg.nofframps, b0 = w->cfg.nbindings;
    size_t m0 = w->cfg.nmappings;
    /* tr_world_deploy runs once every file is loaded and names an unknown
     * binding itself, so a mapping may come before its binding's file */
    w->cfg.mappings_any_order = 1;
    int rc = tr_config_load_file(&w->cfg, path, d);
    if (rc) return rc;
    return check_new(w, on0, off0, b0, m0, d);
}

int tr_world_publish_config(struct tr_world *w, const char *name, const char *yaml, size_t len,
                            struct tr_diag *d) {
    if (world_stopping(w)) return tr_diag_set(d, TR_ECLOSED, name, 0, 0, "the world is stopping");
    size_t on0 = w->cfg.nonramps, off0 = w->cfg.nofframps, b0 = w->cfg.nbindings;
    size_t m0 = w->cfg.nmappings;
    int rc = tr_config_load_string(&w->cfg, name, yaml, len, d);
    if (rc) return rc;
    return check_new(w, on0, off0, b0, m0, d);
}

static int in_use(const struct tr_world *w, enum tr_world_kind k, const char *id) {
    if (k != TR_WORLD_BINDING) return tr_world_instances(w, k, id) > 0;
    size_t n = strlen(id);
    for (size_t i = 0; i < w->nbounds; i++) {
        const char *u = w->bounds[i]->url + strlen("/binding/");
        if (strncmp(u, id, n) == 0 && u[n] == '/') return 1;
    }
    return 0;
}

int tr_world_unpublish(struct tr_world *w, enum tr_world_kind k, const char *id,
                       struct tr_diag *d) {
    static const char *names[] = {"onramp", "offramp", "pipeline", "binding"};
    size_t idx = SIZE_MAX;
    if (k == TR_WORLD_PIPELINE) {
        const struct query_art *qa = world_find_query(w, id);
        if (qa) idx = (size_t)(qa - w->queries);
    } else if (k == TR_WORLD_BINDING) {
        const struct tr_cfg_binding *b = world_find_binding(w, id);
        if (b) idx = (size_t)(b - w->cfg.bindings);
    } else {
        const struct tr_cfg_artefact *a = world_find_art(w, k, id);
        if (a) idx = (size_t)(a - (k == TR_WORLD_ONRAMP ? w->cfg.onramps : w->cfg.offramps));
    }
    if (idx == SIZE_MAX)
        return tr_diag_set(d, TR_ENOTFOUND, NULL, 0, 0, "no %s '%s' is published", names[k], id);
    if (in_use(w, k, id))
        return tr_diag_set(d, -EBUSY, NULL, 0, 0, "%s '%s' is in use by a deployed binding: "
                           "unbind it first", names[k], id);
    if (k == TR_WORLD_PIPELINE) {
        struct query_art *qa = &w->queries[idx];
        tr_free(qa->id);
        tr_free(qa->path);
        tr_free(qa->src);
        memmove(qa, qa + 1, (w->nqueries - idx - 1) * sizeof *qa);
        w->nqueries--;
    } else {
        /* The entry stays (instances index the arrays) under a name no
         * other entry has (ids in URLs cannot hold '/'), so the id may be
         * published again; retired instances log under that name. */
        char **idp = k == TR_WORLD_ONRAMP ? &w->cfg.onramps[idx].id
                   : k == TR_WORLD_OFFRAMP ? &w->cfg.offramps[idx].id : &w->cfg.bindings[idx].id;
        char gone_name[300];
        snprintf(gone_name, sizeof gone_name, "%.200s/unpublished/%zu", *idp, idx);
        char *renamed = tr_strdup(gone_name);
        int rc = set_gone(w, k, idx);
        if (rc) {
            tr_free(renamed);
            return tr_diag_set(d, rc, NULL, 0, 0, "out of memory");
        }
        if (renamed) {
            tr_free(*idp);
            *idp = renamed;
        }
    }
    TR_INFO("world", "unpublished /%s/%s", names[k], id);
    return 0;
}

const char *tr_world_error_detail(const struct tr_world *w) {
    return w->detail.len ? w->detail.data : NULL;
}

/* One reference of a link or mapping that names nothing loaded: report it. */
static size_t ref_missing(const struct tr_world *w, const char *url, const struct tr_cfg_loc *loc,
                          void (*report)(void *, const struct tr_diag *), void *arg) {
    struct tr_url u;
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_url_parse(url, &u, &d) || strchr(u.artefact, '{')) return 0;   /* checked at load, or a placeholder */
    int found = u.kind == TR_URL_PIPELINE ? world_find_query(w, u.artefact) != NULL
              : u.kind == TR_URL_BINDING ? world_find_binding(w, u.artefact) != NULL
              : world_find_art(w, u.kind == TR_URL_ONRAMP ? TR_WORLD_ONRAMP : TR_WORLD_OFFRAMP,
                               u.artefact) != NULL;
    if (found) return 0;
    char known[512];
    world_list_ids(w, u.kind, known, sizeof known);
    tr_diag_set(&d, TR_EINVAL_CFG, loc->file, loc->line, loc->col,
                "%s names %s '%s', which no file defines (defined: %s)", url,
                world_kind_name(u.kind), u.artefact, known);
    report(arg, &d);
    return 1;
}

size_t tr_world_check_refs(const struct tr_world *w, void (*report)(void *, const struct tr_diag *),
                           void *arg) {
    size_t n = 0;
    for (size_t i = 0; i < w->cfg.nbindings; i++) {
        const struct tr_cfg_binding *b = &w->cfg.bindings[i];
        for (size_t j = 0; j < b->nlinks; j++) {
            n += ref_missing(w, b->links[j].from, &b->links[j].loc, report, arg);
            for (size_t k = 0; k < b->links[j].nto; k++)
                n += ref_missing(w, b->links[j].to[k], &b->links[j].to_loc[k], report, arg);
        }
    }
    for (size_t i = 0; i < w->cfg.nmappings; i++)
        n += ref_missing(w, w->cfg.mappings[i].binding_url, &w->cfg.mappings[i].loc, report, arg);
    return n;
}
