/* world_check.c - `tremor check`: load a file and report all of its errors.
 *
 * The loads of world_load.c stop at a file's first error, as `server run`
 * wants. These go on: a query's statements are checked one after another
 * (lang/recover.c) and a YAML file's entries too (tr_config_check_file),
 * and what only deploying would look at is checked here without creating
 * anything: operator kinds and `with` parameters, connector types, codecs,
 * processors and `config:` keys against their config maps. What still has
 * an id is kept, so references to it are not reported as missing later.
 */
#include <errno.h>
#include <string.h>

#include "config/cmap.h"
#include "connectors/conn.h"
#include "core/file.h"
#include "lang/lang.h"
#include "lang/query.h"
#include "ops/op.h"
#include "pipeline/world_int.h"

struct qcheck {
    struct tr_world *w;
    const char *path;
    tr_diag_sink report;
    void *arg;
    int stop;          /* the sink wants no more */
    int extra;         /* errors found past the compiler's */
    char *id;          /* #!config id of what compiled, or NULL */
};

static void deliver(struct qcheck *c, const struct tr_diag *d, const char *detail) {
    if (!c->stop && c->report(c->arg, d, detail)) c->stop = 1;
}

static int on_lang_err(void *arg, const struct tr_lang_err *e) {
    struct qcheck *c = arg;
    struct tr_diag d;
    tr_diag_clear(&d);
    tr_lang_err_to_diag(e, c->path, &d);
    struct tr_buf b;
    tr_buf_init(&b);
    const char *detail = tr_lang_err_render(e, &b) == 0 && b.len ? b.data : NULL;
    deliver(c, &d, detail);
    tr_buf_fini(&b);
    return c->stop;
}

static void no_warn(void *arg, const struct tr_diag *w) {
    (void)arg;
    (void)w;
}

/* tr_cmap_check_each's hand-over of one operator parameter error. */
static int op_param_err(void *arg, const struct tr_diag *d) {
    struct qcheck *c = arg;
    c->extra++;
    deliver(c, d, NULL);
    return c->stop;
}

/* The rest of what creating the pipeline would check, on what compiled. */
static void on_compiled(void *arg, const struct tr_query *q) {
    struct qcheck *c = arg;
    const char *cid = tr_query_config_id(q);
    if (cid) c->id = tr_strdup(cid);
    size_t n = tr_query_node_count(q);
    for (size_t i = 0; i < n && !c->stop; i++) {
        const struct tr_qnode *qn = tr_query_node(q, i);
        if (qn->kind != TR_QN_OPERATOR) continue;
        struct tr_diag d;
        tr_diag_clear(&d);
        const struct tr_op_ops *ops = c->w->reg.op(qn->op_kind);
        if (!ops) {
            tr_diag_set(&d, TR_EINVAL_CFG, c->path, qn->line, qn->col,
                        "unknown operator kind '%s' for operator '%s' (known: %s)", qn->op_kind,
                        qn->id, c->w->reg.op_kinds());
        } else if (ops->cmap && ops->cmap->type != TR_CMAP_END) {
            struct tr_cmap_src src = {.file = c->path, .line = qn->line, .col = qn->col,
                                      .kind = qn->op_kind, .id = qn->id,
                                      .style = TR_CMAP_STYLE_SERDE, .warn = no_warn};
            int found = tr_cmap_check_each(ops->cmap, &qn->params, &src, op_param_err, c);
            if (found >= 0) continue;   /* each one was reported */
            tr_diag_set(&d, found, c->path, qn->line, qn->col, "out of memory");
        } else {
            continue;
        }
        c->extra++;
        deliver(c, &d, NULL);
    }
}

static char *stem(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    return tr_strndup(base, dot && dot != base ? (size_t)(dot - base) : strlen(base));
}

/* A query with errors is still known by its id, so that links to it are
 * not reported as links to nothing. */
static int keep_failed(struct tr_world *w, const char *path, char *id, char *src, size_t len) {
    if (!id || world_find_query(w, id) ||
        tr_grow((void **)&w->queries, &w->queries_cap, w->nqueries + 1, sizeof *w->queries)) {
        tr_free(id);
        tr_free(src);
        return 0;
    }
    struct query_art *qa = &w->queries[w->nqueries];
    qa->path = tr_strdup(path);
    if (!qa->path) {
        tr_free(id);
        tr_free(src);
        return 0;
    }
    qa->id = id;
    qa->src = src;
    qa->len = len;
    w->nqueries++;
    return 0;
}

int tr_world_check_query(struct tr_world *w, const char *path, tr_diag_sink report, void *arg,
                         int *truncated) {
    struct tr_diag d;
    tr_diag_clear(&d);
    *truncated = 0;
    size_t len;
    char *src;
    int rc = tr_file_read(path, MAX_QUERY_BYTES, &src, &len);
    if (rc) {
        tr_diag_set(&d, rc, path, 0, 0, "cannot read: %s",
                    rc == TR_ETOOBIG ? "file too large" : tr_strerror(rc));
        report(arg, &d, NULL);
        return 1;
    }
    struct qcheck c = {.w = w, .path = path, .report = report, .arg = arg};
    struct tr_lang_opts opts;
    rc = tr_lang_opts_from_env(&opts, path);
    if (!rc) rc = tr_lang_check_query(src, len, &opts, on_lang_err, on_compiled, &c, truncated);
    tr_lang_opts_fini(&opts);
    if (rc < 0) {
        tr_diag_set(&d, rc, path, 0, 0, rc == -ENOMEM ? "out of memory" : "module path "
                    "(TREMOR_PATH): %s", tr_strerror(rc));
        report(arg, &d, NULL);
        tr_free(c.id);
        tr_free(src);
        return 1;
    }
    int errors = rc + c.extra;
    if (!errors) {
        tr_free(c.id);
        /* clean: published as server run would (a second file with the
         * same pipeline id is an error there) */
        rc = world_publish_query(w, path, src, len, &d);
        if (rc) {
            report(arg, &d, NULL);
            return 1;
        }
        return 0;
    }
    keep_failed(w, path, c.id ? c.id : stem(path), src, len);
    return errors;
}

struct conn_sink {
    tr_diag_sink report;
    void *arg;
    int stop;
};

static int conn_cfg_err(void *arg, const struct tr_diag *d) {
    struct conn_sink *k = arg;
    if (!k->stop && k->report(k->arg, d, NULL)) k->stop = 1;
    return k->stop;
}

/* Connector config keys and values, as the connector's create would see
 * them (built-in connectors only: a test registry has no maps): every
 * error goes to k; returns how many (or -ENOMEM). */
static int check_conn_config(const struct tr_world *w, const struct tr_cfg_artefact *a,
                             int is_onramp, struct conn_sink *k) {
    if (is_onramp ? w->reg.onramp != tr_onramp_find : w->reg.offramp != tr_offramp_find) return 0;
    if (a->cut) return 0;   /* its config may go on past the YAML error: not judged */
    int found = 0;
    const struct tr_cmap_entry *map =
        is_onramp ? tr_onramp_cmap(a->type, &found) : tr_offramp_cmap(a->type, &found);
    /* an empty map is a connector that reads no config (and ignores it) */
    if (!map || map->type == TR_CMAP_END) return 0;
    struct tr_cmap_src src = {.file = a->loc.file, .line = a->loc.line, .col = a->loc.col,
                              .kind = a->type, .id = a->id, .style = TR_CMAP_STYLE_CONFIG,
                              .keys = a->config_keys, .nkeys = a->nconfig_keys, .warn = no_warn};
    return tr_cmap_check_each(map, &a->config, &src, conn_cfg_err, k);
}

int tr_world_check_config(struct tr_world *w, const char *path, tr_diag_sink report, void *arg) {
    size_t on0 = w->cfg.nonramps, off0 = w->cfg.nofframps;
    w->cfg.mappings_any_order = 1;
    int errors = tr_config_check_file(&w->cfg, path, report, arg);
    for (int on = 1; on >= 0; on--) {
        size_t from = on ? on0 : off0, to = on ? w->cfg.nonramps : w->cfg.nofframps;
        for (size_t i = from; i < to; i++) {
            const struct tr_cfg_artefact *a = on ? &w->cfg.onramps[i] : &w->cfg.offramps[i];
            struct tr_diag d;
            tr_diag_clear(&d);
            if (world_check_artefact(w, a, on, &d) == 0) {
                struct conn_sink k = {report, arg, 0};
                int found = check_conn_config(w, a, on, &k);
                if (found == -ENOMEM) {
                    tr_diag_set(&d, found, a->loc.file, a->loc.line, a->loc.col, "out of memory");
                    report(arg, &d, NULL);
                    return errors + 1;
                }
                errors += found;
                if (k.stop) return errors;
                continue;
            }
            errors++;
            if (report(arg, &d, NULL)) return errors;
        }
    }
    return errors;
}
