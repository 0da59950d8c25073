/* config.c - Tremor 0.11 config files: YAML tree -> struct tr_config.
 *
 * Not a YAML parser (yaml.c builds the located tree) and not a deployer
 * (nothing here knows connector types or pipelines). The schema is a set of
 * declarative key tables; every node is checked for kind and type before its
 * value is copied, and every error names the key, what was found and what was
 * expected, at the node's file:line:col. Entries of one file are built in a
 * scratch config and moved into the caller's only once the whole file passed,
 * so a failed load never leaves half a file behind.
 */
#include "config/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/cmap.h"
#include "config/url.h"
#include "config/yaml.h"
#include "core/alloc.h"
#include "core/file.h"

typedef struct tr_yaml_node node;

/* Node visits allowed per file: WORK_FACTOR times the document's nodes, and
 * at least WORK_MIN. Without aliases each node is visited at most once; an
 * alias makes the checker walk its subtree again, so a file that reuses big
 * subtrees many times would otherwise cost far more than its size. */
#define WORK_FACTOR 4u
#define WORK_MIN 100000u

#define TOP_KEYS "onramp, offramp, binding, mapping"

struct loader {
    const struct tr_config *base;   /* what earlier files loaded (read-only here) */
    struct tr_config *add;          /* this file's entries */
    const struct tr_yaml_doc *doc;
    const char *file;               /* owned by add->files */
    struct tr_diag *d;
    size_t cap_on, cap_off, cap_b, cap_m;
    size_t work, max_work;
    /* tremor check: every error goes to report and loading goes on past
     * the ones in an entry's contents (TR_EINVAL_CFG); d then points at
     * scratch. NULL report: the first error ends the load. */
    tr_diag_sink report;
    void *rarg;
    struct tr_diag scratch;
    size_t nerr;
};

/* Going on after rc is possible: a wrong value, key or entry, not a
 * bound, a nesting limit or memory. */
static void free_artefact(struct tr_cfg_artefact *a);
static void free_binding(struct tr_cfg_binding *b);

#define KEEP_GOING(L, rc) ((L)->report && (rc) == TR_EINVAL_CFG)

/* ---- errors ---- */

static int fail_at(struct loader *L, int rc, int line, int col, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* Hand the error now in L->d to the checker, if there is one. */
static int deliver(struct loader *L, int rc) {
    if (L->report && rc) {
        L->nerr++;
        L->report(L->rarg, L->d, NULL);
    }
    return rc;
}

static int fail_at(struct loader *L, int rc, int line, int col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rc = tr_diag_vset(L->d, rc, L->file, line, col, fmt, ap);
    va_end(ap);
    return deliver(L, rc);
}

#define fail(L, n, ...) fail_at((L), TR_EINVAL_CFG, (n)->line, (n)->col, __VA_ARGS__)

/* What a node is, for "found ..." (scalars are quoted, long ones cut). */
static const char *found(const node *n, char *buf, size_t sz) {
    if (n->kind != TR_YAML_SCALAR) return tr_yaml_what(n);
    if (tr_yaml_type(n) == TR_NULL) return n->len ? "null" : "nothing";
    int cut = n->len > 48;
    snprintf(buf, sz, "%s '%.*s%s'", tr_yaml_what(n), cut ? 48 : (int)n->len, n->text,
             cut ? "..." : "");
    return buf;
}

static int charge(struct loader *L, const node *n) {
    if (++L->work <= L->max_work) return 0;
    return fail_at(L, TR_ETOOBIG, n->line, n->col,
                   "configuration too large once YAML aliases are expanded "
                   "(more than %zu values to check)", L->max_work);
}

static int is_null(const node *n) {
    return n->kind == TR_YAML_SCALAR && tr_yaml_type(n) == TR_NULL;
}

static int key_is(const node *k, const char *s) {
    size_t n = strlen(s);
    return k->len == n && !memcmp(k->text, s, n);
}

static struct tr_cfg_loc loc_of(const struct loader *L, const node *n) {
    struct tr_cfg_loc l = {L->file, n->line, n->col};
    return l;
}

/* A scalar's text as a new C string. Tremor reads string fields from any
 * scalar as written (`id: 42` is the id "42"); NUL bytes (from "\0"
 * escapes) would silently cut the string short, so they are refused. */
static int scalar_str(struct loader *L, const node *n, const char *what, char **out) {
    char fb[96];
    *out = NULL;
    if (n->kind != TR_YAML_SCALAR || is_null(n))
        return fail(L, n, "%s must be a string, found %s", what, found(n, fb, sizeof fb));
    if (strlen(n->text) != n->len)
        return fail(L, n, "%s must not contain NUL characters", what);
    *out = tr_strndup(n->text, n->len);
    return *out ? 0 : -ENOMEM;
}

/* Ids end up as URL segments (/onramp/<id>/...), so they must fit one. */
static int check_id(struct loader *L, const node *n, const char *what, const char *s) {
    if (!*s) return fail(L, n, "%s must not be empty", what);
    if (strlen(s) > 127) return fail(L, n, "%s is longer than 127 characters", what);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '/')
            return fail(L, n, "%s must not contain '/' (ids are path segments of URLs like "
                        "/onramp/<id>/<instance>/<port>)", what);
        if (*p <= ' ' || *p == 0x7f || *p == '?' || *p == '#' || *p == '{' || *p == '}')
            return fail(L, n, "%s must not contain spaces, control characters or any of ?#{}",
                        what);
    }
    return 0;
}

/* ---- URLs ---- */

static int check_url(struct loader *L, const node *n, const char *what, struct tr_url *u) {
    char fb[96];
    if (n->kind != TR_YAML_SCALAR || is_null(n))
        return fail(L, n, "%s must be a URL string, found %s", what, found(n, fb, sizeof fb));
    if (strlen(n->text) != n->len) return fail(L, n, "%s must not contain NUL characters", what);
    struct tr_diag ud;
    tr_diag_clear(&ud);
    if (tr_url_parse(n->text, u, &ud)) return fail(L, n, "%s: %s", what, ud.msg);
    return 0;
}

/* A link end names an instance: /KIND/ID/INSTANCE/PORT, or the same without
 * the leading slash (0.11 accepts relative URLs there); 0.11 also takes an
 * empty port (`/onramp/x/{instance}/`) as the kind's default one. */
static int check_link_end(struct loader *L, const node *n, const char *what, struct tr_url *u) {
    int rc = check_url(L, n, what, u);
    if (rc || u->kind == TR_URL_BINDING) return rc;
    if (!u->instance[0])
        return fail(L, n, "%s: invalid URL '%s': a link end names an instance and a port, "
                    "as in /%s/%s/{instance}/%s", what, n->text, tr_url_kind_name(u->kind),
                    u->artefact[0] ? u->artefact : "ID", u->kind == TR_URL_OFFRAMP ? "in" : "out");
    return 0;
}

/* Link directions Tremor 0.11 can deploy (Binding::link). */
static int link_allowed(enum tr_url_kind from, enum tr_url_kind to) {
    switch (from) {
    case TR_URL_ONRAMP: return to == TR_URL_PIPELINE;
    case TR_URL_OFFRAMP: return to == TR_URL_PIPELINE;
    case TR_URL_PIPELINE: return to != TR_URL_BINDING;
    default: return 0;
    }
}

static const char *link_targets(enum tr_url_kind from) {
    return from == TR_URL_PIPELINE ? "a pipeline, offramp or onramp" : "a pipeline";
}

/* ---- declarative key tables ---- */

enum fkind {
    F_ID,       /* an id: non-empty, usable as a URL path segment */
    F_NAME,     /* non-empty string */
    F_STR,      /* optional string, null = absent */
    F_BOOL,
    F_SECS,     /* non-negative integer */
    F_LIST,     /* list of strings */
    F_STRMAP,   /* mapping of string -> string, as a record */
    F_MAP,      /* any mapping, as a record */
    F_CONFIG,   /* the artefact's config: an F_MAP that also keeps each key's line:col */
    F_LINKS,    /* binding links */
};

#define F_REQ 1u
#define F_ONRAMP_ONLY 2u

struct field {
    const char *key;
    unsigned char kind, flags;
    size_t off, off_n;
};

#define A(m) offsetof(struct tr_cfg_artefact, m)
static const struct field artefact_fields[] = {
    {"id", F_ID, F_REQ, A(id), 0},
    {"type", F_NAME, F_REQ, A(type), 0},
    {"description", F_STR, 0, A(description), 0},
    {"linked", F_BOOL, 0, A(linked), 0},
    {"err_required", F_BOOL, F_ONRAMP_ONLY, A(err_required), 0},
    {"codec", F_NAME, 0, A(codec), 0},
    {"codec_map", F_STRMAP, 0, A(codec_map), 0},
    {"preprocessors", F_LIST, 0, A(preprocessors), A(npre)},
    {"postprocessors", F_LIST, 0, A(postprocessors), A(npost)},
    {"metrics_interval_s", F_SECS, 0, A(metrics_interval_s), 0},
    {"config", F_CONFIG, 0, A(config), 0},
};
#undef A

#define B(m) offsetof(struct tr_cfg_binding, m)
static const struct field binding_fields[] = {
    {"id", F_ID, F_REQ, B(id), 0},
    {"description", F_STR, 0, B(description), 0},
    {"links", F_LINKS, F_REQ, B(links), B(nlinks)},
};
#undef B

#define NFIELDS(t) (sizeof(t) / sizeof((t)[0]))

/* What one entry is being checked as, for messages. */
struct entry_ctx {
    const char *kind;       /* "onramp", "offramp", "binding" */
    unsigned skip_flags;    /* fields with these flags are not allowed here */
    char name[160];         /* "onramp 'metronome'" or "onramp entry" */
};

static int str_list(struct loader *L, const node *v, const char *key, const struct entry_ctx *e,
                    char ***out, size_t *nout) {
    char fb[96], what[200];
    if (is_null(v)) return 0;
    if (v->kind != TR_YAML_SEQ)
        return fail(L, v, "%s of %s must be a list of names (e.g. [lines]), found %s", key,
                    e->name, found(v, fb, sizeof fb));
    if (!v->n) return 0;
    char **arr = tr_calloc(v->n, sizeof *arr);
    if (!arr) return -ENOMEM;
    *out = arr;
    snprintf(what, sizeof what, "each entry of %s of %s", key, e->name);
    for (size_t i = 0; i < v->n; i++) {
        int rc = charge(L, v->kids[i]);
        if (!rc) rc = scalar_str(L, v->kids[i], what, &arr[i]);
        if (rc) return rc;
        (*nout)++;
    }
    return 0;
}

static int str_map(struct loader *L, const node *v, const char *key, const struct entry_ctx *e,
                   tr_value *out) {
    char fb[96];
    if (is_null(v)) return 0;
    if (v->kind != TR_YAML_MAP)
        return fail(L, v, "%s of %s must be a mapping of name to codec, found %s", key, e->name,
                    found(v, fb, sizeof fb));
    for (size_t i = 0; i < v->n; i++) {
        const node *val = v->kids[2 * i + 1];
        int rc = charge(L, val);
        if (rc) return rc;
        if (val->kind != TR_YAML_SCALAR || is_null(val))
            return fail(L, val, "value of '%s' in %s of %s must be a codec name, found %s",
                        v->kids[2 * i]->text, key, e->name, found(val, fb, sizeof fb));
    }
    int rc = tr_v_rec(v->n, out);
    for (size_t i = 0; !rc && i < v->n; i++) {
        const node *k = v->kids[2 * i], *val = v->kids[2 * i + 1];
        tr_value s;
        rc = tr_v_str(val->text, val->len, &s);
        if (!rc) rc = tr_rec_set(out, k->text, k->len, s);
    }
    return rc;
}

static int parse_links(struct loader *L, const node *v, const struct entry_ctx *e,
                       struct tr_cfg_link **out, size_t *nout) {
    char fb[96];
    if (v->kind != TR_YAML_MAP)
        return fail(L, v, "links of %s must be a mapping of source URL to a list of target URLs, "
                    "found %s", e->name, found(v, fb, sizeof fb));
    if (!v->n) return 0;
    struct tr_cfg_link *links = tr_calloc(v->n, sizeof *links);
    if (!links) return -ENOMEM;
    *out = links;
    int bad = 0;
    for (size_t i = 0; i < v->n; i++) {
        const node *k = v->kids[2 * i], *tv = v->kids[2 * i + 1];
        struct tr_url from, to;
        int rc = charge(L, k);
        if (rc) return rc;
        rc = check_link_end(L, k, "link source", &from);
        if (!rc && from.kind == TR_URL_BINDING)
            rc = fail(L, k, "link source '%s' is a binding URL; links go from an onramp, "
                      "offramp or pipeline", k->text);
        if (KEEP_GOING(L, rc)) {
            bad = 1;
            continue;
        }
        if (rc) return rc;
        /* kept links are packed: a skipped one leaves no hole */
        struct tr_cfg_link *lk = &links[*nout];
        lk->loc = loc_of(L, k);
        lk->from = tr_strndup(k->text, k->len);
        if (!lk->from) return -ENOMEM;
        (*nout)++;
        /* Tremor wants a list; a single target written as a plain string is
         * unambiguous, so it is taken as a list of one. */
        const node *const *targets = (const node *const *)tv->kids;
        size_t nt = tv->n;
        if (tv->kind == TR_YAML_SCALAR && !is_null(tv)) {
            targets = &tv;
            nt = 1;
        } else if (tv->kind != TR_YAML_SEQ) {
            rc = fail(L, tv, "targets of link '%s' must be a list of URLs, found %s", k->text,
                      found(tv, fb, sizeof fb));
            if (!KEEP_GOING(L, rc)) return rc;
            bad = 1;
            continue;
        }
        if (!nt) continue;
        lk->to = tr_calloc(nt, sizeof *lk->to);
        lk->to_loc = tr_calloc(nt, sizeof *lk->to_loc);
        if (!lk->to || !lk->to_loc) return -ENOMEM;
        for (size_t j = 0; j < nt; j++) {
            const node *t = targets[j];
            rc = charge(L, t);
            if (rc) return rc;
            rc = check_link_end(L, t, "link target", &to);
            if (!rc && !link_allowed(from.kind, to.kind))
                rc = fail(L, t, "a link from %s %s can only go to %s, found %s URL '%s'",
                          from.kind == TR_URL_PIPELINE ? "a" : "an", tr_url_kind_name(from.kind),
                          link_targets(from.kind), tr_url_kind_name(to.kind), t->text);
            if (KEEP_GOING(L, rc)) {
                bad = 1;
                continue;
            }
            if (rc) return rc;
            lk->to[lk->nto] = tr_strndup(t->text, t->len);
            if (!lk->to[lk->nto]) return -ENOMEM;
            lk->to_loc[lk->nto] = loc_of(L, t);
            lk->nto++;
        }
    }
    return bad ? TR_EINVAL_CFG : 0;
}

/* The line:col of each key of the artefact's config mapping v, in order. */
static int config_keys(const node *v, struct tr_cfg_artefact *a) {
    /* n fits uint32_t: a document holds at most 262144 nodes */
    if (!v->n) return 0;
    struct tr_cmap_pos *at = tr_calloc(v->n, sizeof *at);
    if (!at) return -ENOMEM;
    for (size_t i = 0; i < v->n; i++) {
        at[i].line = v->kids[2 * i]->line;
        at[i].col = v->kids[2 * i]->col;
    }
    tr_free(a->config_keys);
    a->config_keys = at;
    a->nconfig_keys = (uint32_t)v->n;
    return 0;
}

static int set_field(struct loader *L, const struct field *f, const node *v, void *base,
                     const struct entry_ctx *e) {
    char fb[96], what[200];
    char *p = (char *)base + f->off;
    int rc;
    snprintf(what, sizeof what, "%s of %s", f->key, e->name);
    switch (f->kind) {
    case F_ID:
    case F_NAME:
        if (f->kind == F_NAME && !(f->flags & F_REQ) && is_null(v)) return 0;
        rc = scalar_str(L, v, what, (char **)p);
        if (rc) return rc;
        if (f->kind == F_ID) return check_id(L, v, what, *(char **)p);
        if (!**(char **)p) return fail(L, v, "%s must not be empty", what);
        return 0;
    case F_STR:
        if (is_null(v)) return 0;
        return scalar_str(L, v, what, (char **)p);
    case F_BOOL:
        if (tr_yaml_type(v) != TR_BOOL)
            return fail(L, v, "%s must be true or false, found %s", what, found(v, fb, sizeof fb));
        *(int *)p = v->text[0] == 't' || v->text[0] == 'T';
        return 0;
    case F_SECS: {
        tr_value x;
        if (tr_yaml_type(v) != TR_I64 || tr_yaml_value(L->doc, v, &x, L->d) || x.as.i < 0)
            return fail(L, v, "%s must be a whole number of seconds (0 or more), found %s", what,
                        found(v, fb, sizeof fb));
        *(int64_t *)p = x.as.i;
        return 0;
    }
    case F_LIST:
        return str_list(L, v, f->key, e, (char ***)p, (size_t *)((char *)base + f->off_n));
    case F_STRMAP:
        return str_map(L, v, f->key, e, (tr_value *)p);
    case F_CONFIG:
    case F_MAP:
        if (is_null(v)) return 0;
        if (v->kind != TR_YAML_MAP)
            return fail(L, v, "%s must be a mapping of settings, found %s", what,
                        found(v, fb, sizeof fb));
        if (f->kind == F_CONFIG) {
            rc = config_keys(v, base);
            if (rc) return rc;
        }
        return deliver(L, tr_yaml_value(L->doc, v, (tr_value *)p, L->d));
    case F_LINKS:
        return parse_links(L, v, e, (struct tr_cfg_link **)p,
                           (size_t *)((char *)base + f->off_n));
    default:
        return -EINVAL;
    }
}

/* "id, type, description, ..." of the fields allowed in this context. */
static void field_names(const struct field *fs, size_t nf, unsigned skip, char *buf, size_t n) {
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < nf; i++) {
        if (fs[i].flags & skip) continue;
        int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", fs[i].key);
        if (w < 0 || (size_t)w >= n - used) break;
        used += (size_t)w;
    }
}

static int fill(struct loader *L, const node *map, const struct field *fs, size_t nf, void *base,
                struct entry_ctx *e) {
    const node *seen[16] = {0};
    char allowed[300], hint[160];
    int bad = 0;
    /* Name the entry by its id in every message when it has a usable one. */
    snprintf(e->name, sizeof e->name, "%s entry", e->kind);
    for (size_t i = 0; i < map->n; i++) {
        const node *k = map->kids[2 * i], *v = map->kids[2 * i + 1];
        if (key_is(k, "id") && v->kind == TR_YAML_SCALAR && !is_null(v) && v->len <= 127)
            snprintf(e->name, sizeof e->name, "%s '%s'", e->kind, v->text);
    }
    for (size_t i = 0; i < map->n; i++) {
        const node *k = map->kids[2 * i], *v = map->kids[2 * i + 1];
        int rc = charge(L, k);
        if (rc) return rc;
        size_t f = nf;
        int elsewhere = 0;   /* a key of this table that this kind may not use */
        for (size_t j = 0; j < nf; j++)
            if (key_is(k, fs[j].key)) {
                if (fs[j].flags & e->skip_flags) elsewhere = 1;
                else f = j;
            }
        if (f == nf) {
            field_names(fs, nf, e->skip_flags, allowed, sizeof allowed);
            hint[0] = 0;
            if (elsewhere)
                snprintf(hint, sizeof hint, " ('%s' is only allowed for onramps)", k->text);
            else if (fs == artefact_fields)
                snprintf(hint, sizeof hint,
                         " (connector settings such as '%.40s' belong under 'config:')", k->text);
            else if (k->text[0] == '/')
                snprintf(hint, sizeof hint, " (links belong under 'links:')");
            rc = fail(L, k, "unknown key '%s' in %s; expected one of: %s%s", k->text, e->name,
                      allowed, hint);
            if (!KEEP_GOING(L, rc)) return rc;
            bad = 1;
            continue;
        }
        seen[f] = k;
        rc = set_field(L, &fs[f], v, base, e);
        if (rc && !KEEP_GOING(L, rc)) return rc;
        if (rc) bad = 1;
    }
    /* an entry cut short by a YAML error may have had the key further on */
    for (size_t j = 0; j < nf && !map->cut; j++)
        if ((fs[j].flags & F_REQ) && !seen[j]) {
            int rc = fail(L, map, "%s is missing the required key '%s'", e->name, fs[j].key);
            if (!KEEP_GOING(L, rc)) return rc;
            bad = 1;
        }
    return bad ? TR_EINVAL_CFG : 0;
}

/* ---- sections ---- */

static int artefacts(struct loader *L, const node *v, int onramp) {
    char fb[96];
    const char *kind = onramp ? "onramp" : "offramp";
    if (is_null(v)) return 0;
    if (v->kind != TR_YAML_SEQ)
        return fail(L, v, "%s must be a list of %s entries (each starting with '- id: ...'), "
                    "found %s", kind, kind, found(v, fb, sizeof fb));
    struct tr_cfg_artefact **arr = onramp ? &L->add->onramps : &L->add->offramps;
    size_t *cnt = onramp ? &L->add->nonramps : &L->add->nofframps;
    size_t *cap = onramp ? &L->cap_on : &L->cap_off;
    for (size_t i = 0; i < v->n; i++) {
        const node *it = v->kids[i];
        int rc = charge(L, it);
        if (rc) return rc;
        if (it->kind != TR_YAML_MAP) {
            rc = fail(L, it, "each %s entry must be a mapping with at least 'id' and 'type', "
                      "found %s", kind, found(it, fb, sizeof fb));
            if (KEEP_GOING(L, rc)) continue;
            return rc;
        }
        if (tr_grow((void **)arr, cap, *cnt + 1, sizeof **arr)) return -ENOMEM;
        struct tr_cfg_artefact *a = &(*arr)[*cnt];
        memset(a, 0, sizeof *a);
        a->codec_map = tr_v_null();
        a->config = tr_v_null();
        a->metrics_interval_s = -1;
        a->loc = loc_of(L, it);
        a->cut = it->cut;
        (*cnt)++;
        struct entry_ctx e = {.kind = kind, .skip_flags = onramp ? 0 : F_ONRAMP_ONLY};
        rc = fill(L, it, artefact_fields, NFIELDS(artefact_fields), a, &e);
        if (rc && !KEEP_GOING(L, rc)) return rc;
        /* reported; kept when it can still be referred to and checked */
        if (!a->id || !a->type) {
            free_artefact(a);
            (*cnt)--;
        }
    }
    return 0;
}

static int bindings(struct loader *L, const node *v) {
    char fb[96];
    if (is_null(v)) return 0;
    if (v->kind != TR_YAML_SEQ)
        return fail(L, v, "binding must be a list of binding entries (each starting with "
                    "'- id: ...'), found %s", found(v, fb, sizeof fb));
    for (size_t i = 0; i < v->n; i++) {
        const node *it = v->kids[i];
        int rc = charge(L, it);
        if (rc) return rc;
        if (it->kind != TR_YAML_MAP) {
            rc = fail(L, it, "each binding entry must be a mapping with 'id' and 'links', "
                      "found %s", found(it, fb, sizeof fb));
            if (KEEP_GOING(L, rc)) continue;
            return rc;
        }
        if (tr_grow((void **)&L->add->bindings, &L->cap_b, L->add->nbindings + 1,
                    sizeof *L->add->bindings))
            return -ENOMEM;
        struct tr_cfg_binding *b = &L->add->bindings[L->add->nbindings++];
        memset(b, 0, sizeof *b);
        b->loc = loc_of(L, it);
        struct entry_ctx e = {.kind = "binding"};
        rc = fill(L, it, binding_fields, NFIELDS(binding_fields), b, &e);
        if (rc && !KEEP_GOING(L, rc)) return rc;
        if (!b->id) {
            free_binding(b);
            L->add->nbindings--;
        }
    }
    return 0;
}

static int mappings(struct loader *L, const node *v) {
    char fb[96];
    if (is_null(v)) return 0;
    if (v->kind != TR_YAML_MAP)
        return fail(L, v, "mapping must be a mapping of binding instance URL "
                    "('/binding/<id>/<instance>') to placeholder values, found %s",
                    found(v, fb, sizeof fb));
    for (size_t i = 0; i < v->n; i++) {
        const node *k = v->kids[2 * i], *vals = v->kids[2 * i + 1];
        struct tr_url u;
        int rc = charge(L, k);
        if (rc) return rc;
        rc = check_url(L, k, "mapping key", &u);
        if (!rc && (u.kind != TR_URL_BINDING || !u.instance[0] || u.port[0]))
            rc = fail(L, k, "mapping key must be a binding instance URL "
                      "'/binding/<id>/<instance>', found '%s'", k->text);
        if (!rc && !is_null(vals) && vals->kind != TR_YAML_MAP)
            rc = fail(L, vals, "values of mapping '%s' must be a mapping of placeholder name "
                      "to value (e.g. instance: \"01\"), found %s", k->text,
                      found(vals, fb, sizeof fb));
        if (KEEP_GOING(L, rc)) continue;
        if (rc) return rc;
        if (tr_grow((void **)&L->add->mappings, &L->cap_m, L->add->nmappings + 1,
                    sizeof *L->add->mappings))
            return -ENOMEM;
        struct tr_cfg_mapping *m = &L->add->mappings[L->add->nmappings++];
        memset(m, 0, sizeof *m);
        m->vars = tr_v_null();
        m->loc = loc_of(L, k);
        m->binding_url = tr_strndup(k->text, k->len);
        m->binding_id = tr_strdup(u.artefact);
        m->instance = tr_strdup(u.instance);
        if (!m->binding_url || !m->binding_id || !m->instance) return -ENOMEM;
        size_t nv = is_null(vals) ? 0 : vals->n;
        rc = tr_v_rec(nv, &m->vars);
        if (rc) return rc;
        for (size_t j = 0; j < nv; j++) {
            const node *name = vals->kids[2 * j], *val = vals->kids[2 * j + 1];
            rc = charge(L, val);
            if (rc) return rc;
            /* Placeholders are text: `instance: 01` stays "01", as written. */
            if (val->kind != TR_YAML_SCALAR) {
                rc = fail(L, val, "value of '%s' in mapping '%s' must be a scalar, found %s",
                          name->text, k->text, found(val, fb, sizeof fb));
                if (KEEP_GOING(L, rc)) continue;
                return rc;
            }
            tr_value s;
            rc = tr_v_str(val->text, val->len, &s);
            if (!rc) rc = tr_rec_set(&m->vars, name->text, name->len, s);
            if (rc) return rc;
        }
    }
    return 0;
}

/* A helpful guess at what an unknown top-level key was meant to be. */
static const char *top_hint(const node *k) {
    static const char *const artefact_keys[] = {"id", "type", "config", "codec", "description",
                                                 "linked", "preprocessors", "postprocessors",
                                                 "interval", "url", NULL};
    for (const char *const *p = artefact_keys; *p; p++)
        if (key_is(k, *p))
            return " (onramps and offramps are lists under 'onramp:' and 'offramp:', each entry "
                   "with id, type and a 'config:' mapping)";
    if (key_is(k, "links"))
        return " (links belong to an entry of the 'binding:' list)";
    if (key_is(k, "instance"))
        return " (placeholder values belong under 'mapping:', e.g. "
               "mapping: {/binding/<id>/01: {instance: \"01\"}})";
    if (!strncmp(k->text, "/binding/", 9))
        return " (binding instances belong under 'mapping:')";
    if (k->text[0] == '/')
        return " (links belong under 'links:' of an entry of the 'binding:' list)";
    if (key_is(k, "onramps") || key_is(k, "offramps") || key_is(k, "bindings") ||
        key_is(k, "mappings"))
        return " (the keys are singular)";
    return "";
}

static int load_doc(struct loader *L, const node *root) {
    char fb[96];
    if (!root || is_null(root)) return 0;
    if (root->kind != TR_YAML_MAP) {
        const char *hint = "";
        if (root->kind == TR_YAML_SEQ && root->n && root->kids[0]->kind == TR_YAML_MAP)
            hint = "; a list of onramps, offramps or bindings must be nested under 'onramp:', "
                   "'offramp:' or 'binding:', with connector settings under 'config:'";
        return fail(L, root, "expected a mapping with keys " TOP_KEYS " at top level, found %s%s",
                    found(root, fb, sizeof fb), hint);
    }
    for (size_t i = 0; i < root->n; i++) {
        const node *k = root->kids[2 * i], *v = root->kids[2 * i + 1];
        int rc;
        if (key_is(k, "onramp")) rc = artefacts(L, v, 1);
        else if (key_is(k, "offramp")) rc = artefacts(L, v, 0);
        else if (key_is(k, "binding")) rc = bindings(L, v);
        else if (key_is(k, "mapping")) rc = mappings(L, v);
        else if (key_is(k, "pipeline"))
            rc = fail(L, k, "pipeline definitions in YAML are not supported in Tremor 0.11; "
                      "put the query in a .trickle file (its file name is the pipeline id)");
        else
            rc = fail(L, k, "unknown top-level key '%s'; expected one of: " TOP_KEYS "%s", k->text,
                      top_hint(k));
        if (rc && !KEEP_GOING(L, rc)) return rc;
    }
    return 0;
}

/* ---- cross-entry checks ---- */

struct idref {
    const char *id;
    const struct tr_cfg_loc *loc;
    size_t order;                     /* earlier files first, then file order */
};

static int idref_cmp(const void *pa, const void *pb) {
    const struct idref *x = pa, *y = pb;
    int c = strcmp(x->id, y->id);
    if (!c) c = (x->order > y->order) - (x->order < y->order);
    return c;
}

/* Sort refs and report the earliest-loaded entry that repeats an earlier key. */
static int report_dups(struct loader *L, struct idref *r, size_t n, size_t nbase,
                       const char *what) {
    qsort(r, n, sizeof *r, idref_cmp);
    if (L->report) {   /* every repeat, each naming the first of its id */
        int rc = 0;
        for (size_t i = 1, s = 0; i < n; i++) {
            if (strcmp(r[i].id, r[s].id)) {
                s = i;
                continue;
            }
            if (r[i].order < nbase) continue;   /* reported with its own file */
            rc = fail_at(L, TR_EINVAL_CFG, r[i].loc->line, r[i].loc->col,
                         "duplicate %s id '%s' (first defined at %s:%d:%d)", what, r[i].id,
                         r[s].loc->file, r[s].loc->line, r[s].loc->col);
        }
        return rc;
    }
    const struct idref *dup = NULL, *first = NULL;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(r[i].id, r[i - 1].id)) continue;
        size_t s = i - 1;
        while (s > 0 && !strcmp(r[s - 1].id, r[i].id)) s--;
        if (!dup || r[i].order < dup->order) {
            dup = &r[i];
            first = &r[s];
        }
    }
    if (!dup) return 0;
    return fail_at(L, TR_EINVAL_CFG, dup->loc->line, dup->loc->col,
                   "duplicate %s id '%s' (first defined at %s:%d:%d)", what, dup->id,
                   first->loc->file, first->loc->line, first->loc->col);
}

static int check_artefact_ids(struct loader *L, const struct tr_cfg_artefact *a, size_t na,
                              const struct tr_cfg_artefact *b, size_t nb, const char *what) {
    if (!nb) return 0;
    struct idref *r = tr_calloc(na + nb, sizeof *r);
    if (!r) return -ENOMEM;
    for (size_t i = 0; i < na; i++) r[i] = (struct idref){a[i].id, &a[i].loc, i};
    for (size_t i = 0; i < nb; i++) r[na + i] = (struct idref){b[i].id, &b[i].loc, na + i};
    int rc = report_dups(L, r, na + nb, na, what);
    tr_free(r);
    return rc;
}

static int check_bindings(struct loader *L) {
    const struct tr_config *c = L->base, *x = L->add;
    size_t nb = c->nbindings + x->nbindings;
    int rc = 0;
    if (!x->nbindings && !x->nmappings) return 0;
    struct idref *r = tr_calloc(nb + 1, sizeof *r);
    if (!r) return -ENOMEM;
    for (size_t i = 0; i < nb; i++) {
        const struct tr_cfg_binding *b =
            i < c->nbindings ? &c->bindings[i] : &x->bindings[i - c->nbindings];
        r[i] = (struct idref){b->id, &b->loc, i};
    }
    rc = report_dups(L, r, nb, c->nbindings, "binding");
    if (rc && !KEEP_GOING(L, rc)) goto out;
    rc = 0;
    /* r[0..nb) is now sorted by id: every mapping must name one of them. */
    for (size_t i = 0; i < x->nmappings && (!rc || KEEP_GOING(L, rc)) && !c->mappings_any_order;
         i++) {
        const struct tr_cfg_mapping *m = &x->mappings[i];
        size_t lo = 0, hi = nb;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(r[mid].id, m->binding_id) < 0) lo = mid + 1;
            else hi = mid;
        }
        if (lo < nb && !strcmp(r[lo].id, m->binding_id)) continue;
        char known[256] = "none";
        size_t used = 0;
        for (size_t j = 0; j < nb && used + 1 < sizeof known; j++) {
            int w = snprintf(known + used, sizeof known - used, "%s%s", j ? ", " : "", r[j].id);
            if (w < 0) break;
            used += (size_t)w;
        }
        rc = fail_at(L, TR_EINVAL_CFG, m->loc.line, m->loc.col,
                     "mapping '%s' refers to binding '%s', which is not defined in this or an "
                     "earlier file (defined bindings: %s)", m->binding_url, m->binding_id, known);
    }
out:
    tr_free(r);
    return rc;
}

/* ---- lifecycle ---- */

void tr_config_init(struct tr_config *c) { memset(c, 0, sizeof *c); }

static void free_strs(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) tr_free(v[i]);
    tr_free(v);
}

static void free_artefact(struct tr_cfg_artefact *a) {
    tr_free(a->id);
    tr_free(a->type);
    tr_free(a->description);
    tr_free(a->codec);
    free_strs(a->preprocessors, a->npre);
    free_strs(a->postprocessors, a->npost);
    tr_value_unref(a->codec_map);
    tr_value_unref(a->config);
    tr_free(a->config_keys);
}

static void free_artefacts(struct tr_cfg_artefact *a, size_t n) {
    for (size_t i = 0; i < n; i++) free_artefact(&a[i]);
    tr_free(a);
}

static void free_binding(struct tr_cfg_binding *b) {
    tr_free(b->id);
    tr_free(b->description);
    for (size_t j = 0; j < b->nlinks; j++) {
        tr_free(b->links[j].from);
        free_strs(b->links[j].to, b->links[j].nto);
        tr_free(b->links[j].to_loc);
    }
    tr_free(b->links);
}

void tr_config_fini(struct tr_config *c) {
    if (!c) return;
    free_artefacts(c->onramps, c->nonramps);
    free_artefacts(c->offramps, c->nofframps);
    for (size_t i = 0; i < c->nbindings; i++) free_binding(&c->bindings[i]);
    tr_free(c->bindings);
    for (size_t i = 0; i < c->nmappings; i++) {
        tr_free(c->mappings[i].binding_url);
        tr_free(c->mappings[i].binding_id);
        tr_free(c->mappings[i].instance);
        tr_value_unref(c->mappings[i].vars);
    }
    tr_free(c->mappings);
    free_strs(c->files, c->nfiles);
    tr_config_init(c);
}

/* Move every entry of x to the end of c. The combined arrays are allocated
 * before anything moves, so on -ENOMEM both configs are exactly as they were. */
static int merge(struct tr_config *c, struct tr_config *x) {
    struct slot {
        void **dst, **src;
        size_t *dn, *sn, elem;
        void *p;
    } s[] = {
#define SLOT(arr, cnt) {(void **)&c->arr, (void **)&x->arr, &c->cnt, &x->cnt, sizeof *c->arr, NULL}
        SLOT(onramps, nonramps), SLOT(offramps, nofframps), SLOT(bindings, nbindings),
        SLOT(mappings, nmappings), SLOT(files, nfiles),
#undef SLOT
    };
    size_t ns = sizeof s / sizeof s[0];
    for (size_t i = 0; i < ns; i++) {
        if (!*s[i].sn) continue;
        s[i].p = tr_calloc(*s[i].dn + *s[i].sn, s[i].elem);
        if (!s[i].p) {
            for (size_t j = 0; j < i; j++) tr_free(s[j].p);
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < ns; i++) {
        if (!s[i].p) continue;
        if (*s[i].dn) memcpy(s[i].p, *s[i].dst, *s[i].dn * s[i].elem);
        memcpy((char *)s[i].p + *s[i].dn * s[i].elem, *s[i].src, *s[i].sn * s[i].elem);
        tr_free(*s[i].dst);
        tr_free(*s[i].src);
        *s[i].dst = s[i].p;
        *s[i].src = NULL;
        *s[i].dn += *s[i].sn;
        *s[i].sn = 0;
    }
    return 0;
}

/* With report (tremor check): every error goes there, loading goes on and
 * the entries that can still be referred to are added; returns how many
 * errors were reported. Without: the first error ends it, c unchanged. */
static int load(struct tr_config *c, const char *name, const char *yaml, size_t len,
                struct tr_diag *d, tr_diag_sink report, void *rarg) {
    struct tr_config add;
    struct tr_yaml_doc *doc = NULL;
    int rc;
    if (!name) name = "<config>";
    tr_diag_clear(d);
    tr_config_init(&add);
    struct loader L = {.base = c, .add = &add, .d = d, .report = report, .rarg = rarg};
    if (report) {
        tr_diag_clear(&L.scratch);
        L.d = &L.scratch;
    }
    if (len > TR_CFG_MAX_FILE_BYTES) {
        rc = tr_diag_set(L.d, TR_ETOOBIG, name, 0, 0, "config is %zu bytes; the limit is %u bytes",
                         len, TR_CFG_MAX_FILE_BYTES);
        goto out;
    }
    add.files = tr_calloc(1, sizeof *add.files);
    if (!add.files || !(add.files[0] = tr_strdup(name))) {
        rc = -ENOMEM;
        goto out;
    }
    add.nfiles = 1;
    L.file = add.files[0];
    int yrc = tr_yaml_parse_ex(name, yaml, len, report ? TR_YAML_KEEP_GOING : 0, &doc, L.d,
                               report, rarg, &L.nerr);
    if (!doc) {
        rc = yrc;
        goto out;
    }
    /* after a syntax error (reported), what was read before it is checked */
    L.doc = doc;
    L.max_work = tr_yaml_nodes(doc) * WORK_FACTOR;
    if (L.max_work < WORK_MIN) L.max_work = WORK_MIN;
    rc = load_doc(&L, tr_yaml_root(doc));
#define NEXT(call) \
    if (!rc || KEEP_GOING(&L, rc)) rc = (call)
    NEXT(check_artefact_ids(&L, c->onramps, c->nonramps, add.onramps, add.nonramps, "onramp"));
    NEXT(check_artefact_ids(&L, c->offramps, c->nofframps, add.offramps, add.nofframps,
                            "offramp"));
    NEXT(check_bindings(&L));
#undef NEXT
    if (report && (!rc || rc == TR_EINVAL_CFG)) rc = merge(c, &add);
    else if (!rc) rc = merge(c, &add);
    if (report && !rc && yrc) rc = yrc;
out:
    if (rc == -ENOMEM && L.d && !L.d->msg[0])
        tr_diag_set(L.d, rc, name, 0, 0, "out of memory while loading the config");
    if (report && rc && !L.nerr) {   /* a bound or memory, not yet reported */
        L.nerr++;
        report(rarg, L.d, NULL);
    }
    tr_yaml_free(doc);
    tr_config_fini(&add);
    if (report) return (int)(L.nerr > INT32_MAX ? INT32_MAX : L.nerr);
    return rc;
}

int tr_config_load_string(struct tr_config *c, const char *name, const char *yaml, size_t len,
                          struct tr_diag *d) {
    return load(c, name, yaml, len, d, NULL, NULL);
}

int tr_config_check_string(struct tr_config *c, const char *name, const char *yaml, size_t len,
                           tr_diag_sink report, void *arg) {
    struct tr_diag d;
    tr_diag_clear(&d);
    return load(c, name, yaml, len, &d, report, arg);
}

static int load_file(struct tr_config *c, const char *path, struct tr_diag *d,
                     tr_diag_sink report, void *rarg) {
    tr_diag_clear(d);
    /* A FIFO or device would block the open or the read forever. */
    const char *kind;
    int fd = tr_file_open_regular(path, &kind);
    if (fd < 0) {
        if (kind)
            tr_diag_set(d, fd, path, 0, 0, "is %s, not a config file (a regular file is needed)",
                        kind);
        else
            tr_diag_set(d, fd, path, 0, 0, "cannot open config file: %s", tr_strerror(fd));
        if (!report) return fd;
        report(rarg, d, NULL);
        return 1;
    }
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    int rc = 0;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        tr_diag_set(d, rc, path, 0, 0, "cannot read config file: %s", tr_strerror(rc));
        goto out;
    }
    if (st.st_size > (off_t)TR_CFG_MAX_FILE_BYTES) {
        rc = tr_diag_set(d, TR_ETOOBIG, path, 0, 0,
                         "config file is %lld bytes; the limit is %u bytes",
                         (long long)st.st_size, TR_CFG_MAX_FILE_BYTES);
        goto out;
    }
    /* Read to EOF rather than trusting st_size (pipes, files still growing),
     * but never past the limit. */
    size_t cap = (size_t)st.st_size + 1;
    buf = tr_malloc(cap);
    if (!buf) {
        rc = -ENOMEM;
        goto out;
    }
    for (;;) {
        if (len == cap) {
            if (cap > TR_CFG_MAX_FILE_BYTES) {
                rc = tr_diag_set(d, TR_ETOOBIG, path, 0, 0,
                                 "config file is larger than the limit of %u bytes",
                                 TR_CFG_MAX_FILE_BYTES);
                goto out;
            }
            size_t ncap = cap * 2 > TR_CFG_MAX_FILE_BYTES + 1 ? TR_CFG_MAX_FILE_BYTES + 1
                                                                : cap * 2;
            char *nb = tr_realloc(buf, ncap);
            if (!nb) {
                rc = -ENOMEM;
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = -errno;
            tr_diag_set(d, rc, path, 0, 0, "cannot read config file: %s", tr_strerror(rc));
            goto out;
        }
        if (r == 0) break;
        len += (size_t)r;
    }
    rc = load(c, path, buf, len, d, report, rarg);
    tr_free(buf);
    close(fd);
    return rc;
out:
    tr_free(buf);
    close(fd);
    if (report && rc) {
        if (!d->msg[0]) tr_diag_set(d, rc, path, 0, 0, "cannot read config file: %s", tr_strerror(rc));
        report(rarg, d, NULL);
        return 1;
    }
    return rc;
}

int tr_config_load_file(struct tr_config *c, const char *path, struct tr_diag *d) {
    return load_file(c, path, d, NULL, NULL);
}

int tr_config_check_file(struct tr_config *c, const char *path, tr_diag_sink report, void *arg) {
    struct tr_diag d;
    int rc = load_file(c, path, &d, report, arg);
    return rc;
}

/* ---- lookups ---- */

static const struct tr_cfg_artefact *find_artefact(const struct tr_cfg_artefact *a, size_t n,
                                                   const char *id) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(a[i].id, id)) return &a[i];
    return NULL;
}

const struct tr_cfg_artefact *tr_config_onramp(const struct tr_config *c, const char *id) {
    return find_artefact(c->onramps, c->nonramps, id);
}

const struct tr_cfg_artefact *tr_config_offramp(const struct tr_config *c, const char *id) {
    return find_artefact(c->offramps, c->nofframps, id);
}

const struct tr_cfg_binding *tr_config_binding(const struct tr_config *c, const char *id) {
    for (size_t i = 0; i < c->nbindings; i++)
        if (!strcmp(c->bindings[i].id, id)) return &c->bindings[i];
    return NULL;
}
