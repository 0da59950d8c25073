/* cmap.c - checking a config record against a config map (see cmap.h).
 *
 * Order of checks, so that the first error is the most useful one: unknown
 * keys (listing the allowed ones), a key given under both of its names, then
 * entry by entry in table order: required, type, range or choice. Fields are
 * written as the walk goes; a caller that gets an error throws its instance
 * away. Defaults are text in the table so that the help prints exactly what
 * is applied.
 */
#include "config/cmap.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"

static const char *type_name(enum tr_cmap_type t) {
    switch (t) {
    case TR_CMAP_STR: return "string";
    case TR_CMAP_BOOL: return "bool";
    case TR_CMAP_U64: return "uint";
    case TR_CMAP_I64: return "int";
    case TR_CMAP_F64: return "float";
    case TR_CMAP_DURATION_MS: return "ms";
    case TR_CMAP_ENUM: return "enum";
    case TR_CMAP_STR_LIST: return "[string]";
    case TR_CMAP_VALUE: return "any";
    case TR_CMAP_END: break;
    }
    return "?";
}

/* What a value of this entry must be, for "must be ..." and "expected ...". */
static void expected(const struct tr_cmap_entry *e, enum tr_cmap_style st, char *buf, size_t n) {
    switch (e->type) {
    case TR_CMAP_STR: snprintf(buf, n, "a string"); return;
    case TR_CMAP_BOOL: snprintf(buf, n, st == TR_CMAP_STYLE_SERDE ? "a boolean" : "true or false"); return;
    case TR_CMAP_U64: snprintf(buf, n, "a non-negative integer"); return;
    case TR_CMAP_I64: snprintf(buf, n, "an integer"); return;
    case TR_CMAP_F64: snprintf(buf, n, "a finite number"); return;
    case TR_CMAP_DURATION_MS: snprintf(buf, n, "a non-negative integer (ms)"); return;
    case TR_CMAP_STR_LIST: snprintf(buf, n, "a list of strings"); return;
    case TR_CMAP_VALUE: snprintf(buf, n, "a value"); return;
    case TR_CMAP_ENUM: {
        size_t off = (size_t)snprintf(buf, n, "one of ");
        for (const char *const *c = e->choices; c && *c && off < n; c++)
            off += (size_t)snprintf(buf + off, n - off, "%s%s", c == e->choices ? "" : ", ", *c);
        return;
    }
    case TR_CMAP_END: break;
    }
    snprintf(buf, n, "?");
}

void tr_cmap_keys(const struct tr_cmap_entry *map, char *buf, size_t n) {
    size_t off = 0;
    if (n) buf[0] = 0;
    for (const struct tr_cmap_entry *e = map; e && e->type != TR_CMAP_END && off < n; e++) {
        int w = snprintf(buf + off, n - off, "%s%s", off ? ", " : "", e->key);
        if (w < 0) break;
        off += (size_t)w;
    }
}

const struct tr_cmap_entry *tr_cmap_find(const struct tr_cmap_entry *map, const char *key) {
    for (const struct tr_cmap_entry *e = map; e && e->type != TR_CMAP_END; e++)
        if (strcmp(e->key, key) == 0 || (e->alias && strcmp(e->alias, key) == 0)) return e;
    return NULL;
}

/* Locate at field i of the config when its position is known. */
static void where(const struct tr_cmap_src *s, long i, int *line, int *col) {
    *line = s->line;
    *col = s->col;
    if (i >= 0 && s->keys && (uint32_t)i < s->nkeys && s->keys[i].line > 0) {
        *line = s->keys[i].line;
        *col = s->keys[i].col;
    }
}

/* "<kind> '<id>': " or "<kind> operator '<id>': " */
static void prefix(const struct tr_cmap_src *s, char *buf, size_t n) {
    snprintf(buf, n, s->style == TR_CMAP_STYLE_SERDE ? "%s operator '%s': " : "%s '%s': ",
             s->kind ? s->kind : "?", s->id ? s->id : "?");
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int fail(const struct tr_cmap_src *s, long i, struct tr_diag *d, const char *fmt, ...) {
    char pre[256], body[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    prefix(s, pre, sizeof pre);
    int line, col;
    where(s, i, &line, &col);
    return tr_diag_set(d, TR_EINVAL_CFG, s->file, line, col, "%s%s", pre, body);
}

/* The help in parentheses after a key name, or nothing. */
static const char *help_open(const struct tr_cmap_entry *e) { return e->help && e->help[0] ? " (" : ""; }
static const char *help_text(const struct tr_cmap_entry *e) { return e->help && e->help[0] ? e->help : ""; }
static const char *help_close(const struct tr_cmap_entry *e) { return e->help && e->help[0] ? ")" : ""; }

static int unknown(const struct tr_cmap_entry *map, const struct tr_cmap_src *s, long i,
                   const char *k, struct tr_diag *d) {
    char known[512];
    if (s->style == TR_CMAP_STYLE_SERDE) {
        /* serde: "unknown field `x`, expected one of `a`, `b`" */
        size_t off = 0;
        known[0] = 0;
        for (const struct tr_cmap_entry *e = map; e && e->type != TR_CMAP_END && off < sizeof known; e++)
            off += (size_t)snprintf(known + off, sizeof known - off, "%s`%s`", off ? ", " : "", e->key);
        if (!known[0]) return fail(s, i, d, "unknown field `%s`, there are no fields", k);
        return fail(s, i, d, "unknown field `%s`, expected one of %s", k, known);
    }
    tr_cmap_keys(map, known, sizeof known);
    return fail(s, i, d, "unknown config key '%s' (known: %s)", k, known[0] ? known : "none");
}

static int bad_type(const struct tr_cmap_entry *e, const struct tr_cmap_src *s, long i,
                    const tr_value *v, struct tr_diag *d) {
    char want[256];
    expected(e, s->style, want, sizeof want);
    if (s->style == TR_CMAP_STYLE_SERDE)
        return fail(s, i, d, "`%s`: invalid type: %s, expected %s", e->key, tr_type_name(v->type), want);
    return fail(s, i, d, "config.%s must be %s, found %s%s%s%s", e->key, want, tr_type_name(v->type),
                help_open(e), help_text(e), help_close(e));
}

static int out_of_range(const struct tr_cmap_entry *e, const struct tr_cmap_src *s, long i,
                        const char *found, struct tr_diag *d) {
    char name[160];
    snprintf(name, sizeof name, s->style == TR_CMAP_STYLE_SERDE ? "`%s`" : "config.%s", e->key);
    const char *unit = e->type == TR_CMAP_DURATION_MS ? " ms"
                       : e->type == TR_CMAP_STR_LIST ? " entries" : "";
    /* an infinite bound is no bound: name only the other one */
    if (e->hi == INFINITY)
        return fail(s, i, d, "%s must be at least %.17g%s, found %s", name, e->lo, unit, found);
    if (e->lo == -INFINITY)
        return fail(s, i, d, "%s must be at most %.17g%s, found %s", name, e->hi, unit, found);
    return fail(s, i, d, "%s must be between %.17g and %.17g%s, found %s", name, e->lo, e->hi, unit,
                found);
}

/* Strings reach C APIs (paths, host names) as C strings: a NUL inside would
 * cut them short without a word, so it is refused. */
static int check_str(const struct tr_cmap_entry *e, const struct tr_cmap_src *s, long i,
                     const tr_value *v, struct tr_diag *d) {
    if (v->type != TR_STR) return bad_type(e, s, i, v, d);
    if (memchr(v->as.s->data, 0, v->as.s->len))
        return fail(s, i, d, "%s%s%s must not contain a NUL byte",
                    s->style == TR_CMAP_STYLE_SERDE ? "`" : "config.", e->key,
                    s->style == TR_CMAP_STYLE_SERDE ? "`" : "");
    return 0;
}

static void put(void *inst, size_t off, const void *p, size_t n) { memcpy((char *)inst + off, p, n); }

/* An integer value as uint64 (ok = 0 when negative or not an integer). */
static int as_u64(const tr_value *v, uint64_t *out) {
    if (v->type == TR_I64 && v->as.i >= 0) *out = (uint64_t)v->as.i;
    else if (v->type == TR_U64) *out = v->as.u;
    else return 0;
    return 1;
}

/* Write entry e from v (given) or its default (v NULL). */
static int set(const struct tr_cmap_entry *e, const tr_value *v, void *inst,
               const struct tr_cmap_src *s, long i, struct tr_diag *d) {
    char found[64];
    bool range = e->flags & TR_CMAP_RANGE;
    switch (e->type) {
    case TR_CMAP_STR: {
        const char *p = e->def;
        if (v) {
            int rc = check_str(e, s, i, v, d);
            if (rc) return rc;
            p = v->as.s->data;
        }
        put(inst, e->offset, &p, sizeof p);
        return 0;
    }
    case TR_CMAP_BOOL: {
        bool b = e->def && strcmp(e->def, "true") == 0;
        assert(!e->def || b || strcmp(e->def, "false") == 0);
        if (v) {
            if (v->type != TR_BOOL) return bad_type(e, s, i, v, d);
            b = v->as.b;
        }
        put(inst, e->offset, &b, sizeof b);
        return 0;
    }
    case TR_CMAP_U64:
    case TR_CMAP_DURATION_MS: {
        uint64_t u = 0;
        if (e->def) {
            char *end;
            errno = 0;
            u = strtoull(e->def, &end, 10);
            assert(!*end && !errno);
        }
        if (v) {
            if (!as_u64(v, &u)) return bad_type(e, s, i, v, d);
            snprintf(found, sizeof found, "%" PRIu64, u);
            if (range && ((double)u < e->lo || (double)u > e->hi)) return out_of_range(e, s, i, found, d);
        }
        if (e->type == TR_CMAP_DURATION_MS) {
            /* bound before scaling so ns never wraps */
            if (u > UINT64_MAX / 1000000u) {
                snprintf(found, sizeof found, "%" PRIu64, u);
                return fail(s, i, d, "%s%s must be at most %" PRIu64 " ms, found %s",
                            s->style == TR_CMAP_STYLE_SERDE ? "" : "config.", e->key,
                            UINT64_MAX / 1000000u, found);
            }
            u *= 1000000u;
        }
        put(inst, e->offset, &u, sizeof u);
        return 0;
    }
    case TR_CMAP_I64: {
        int64_t x = 0;
        if (e->def) {
            char *end;
            errno = 0;
            x = strtoll(e->def, &end, 10);
            assert(!*end && !errno);
        }
        if (v) {
            /* integers above INT64_MAX are TR_U64: the right type, too large */
            if (v->type == TR_U64)
                return fail(s, i, d, "%s%s%s must be at most %" PRId64 ", found %" PRIu64,
                            s->style == TR_CMAP_STYLE_SERDE ? "`" : "config.", e->key,
                            s->style == TR_CMAP_STYLE_SERDE ? "`" : "", INT64_MAX, v->as.u);
            if (v->type != TR_I64) return bad_type(e, s, i, v, d);
            x = v->as.i;
            snprintf(found, sizeof found, "%" PRId64, x);
            if (range && ((double)x < e->lo || (double)x > e->hi)) return out_of_range(e, s, i, found, d);
        }
        put(inst, e->offset, &x, sizeof x);
        return 0;
    }
    case TR_CMAP_F64: {
        double f = 0;
        if (e->def) {
            char *end;
            f = strtod(e->def, &end);
            assert(!*end);
        }
        if (v) {
            if (v->type == TR_I64) f = (double)v->as.i;
            else if (v->type == TR_U64) f = (double)v->as.u;
            else if (v->type == TR_F64 && isfinite(v->as.f)) f = v->as.f;
            else return bad_type(e, s, i, v, d);
            snprintf(found, sizeof found, "%g", f);
            if (range && (f < e->lo || f > e->hi)) return out_of_range(e, s, i, found, d);
        }
        put(inst, e->offset, &f, sizeof f);
        return 0;
    }
    case TR_CMAP_ENUM: {
        int idx = -1;
        const char *want = v ? NULL : e->def;
        if (v) {
            int rc = check_str(e, s, i, v, d);
            if (rc) return rc;
            want = v->as.s->data;
        }
        for (int k = 0; want && e->choices && e->choices[k]; k++)
            if (strcmp(e->choices[k], want) == 0) idx = k;
        if (v && idx < 0) {
            char list[256];
            expected(e, s->style, list, sizeof list);
            return fail(s, i, d, "%s%s%s must be %s, found '%.64s'",
                        s->style == TR_CMAP_STYLE_SERDE ? "`" : "config.", e->key,
                        s->style == TR_CMAP_STYLE_SERDE ? "`" : "", list, want);
        }
        assert(!e->def || idx >= 0);
        if (idx < 0) idx = 0;
        put(inst, e->offset, &idx, sizeof idx);
        return 0;
    }
    case TR_CMAP_STR_LIST: {
        assert(!e->def);
        if (v) {
            if (v->type != TR_ARR) return bad_type(e, s, i, v, d);
            for (uint32_t k = 0; k < tr_arr_len(v); k++)
                if (tr_arr_at(v, k)->type != TR_STR) return bad_type(e, s, i, tr_arr_at(v, k), d);
            snprintf(found, sizeof found, "%" PRIu32, tr_arr_len(v));
            if (range && (tr_arr_len(v) < e->lo || tr_arr_len(v) > e->hi))
                return out_of_range(e, s, i, found, d);
        }
        put(inst, e->offset, &v, sizeof v);
        return 0;
    }
    case TR_CMAP_VALUE:
        assert(!e->def);
        put(inst, e->offset, &v, sizeof v);
        return 0;
    case TR_CMAP_END: break;
    }
    assert(0 && "config map entry of unknown type");
    return TR_EINVAL_CFG;
}

int tr_cmap_apply_one(const struct tr_cmap_entry *e, const tr_value *v, void *instance,
                      const struct tr_cmap_src *src, struct tr_diag *d) {
    return set(e, v, instance, src, -1, d);
}

static void warn_deprecated(const struct tr_cmap_entry *e, const char *given,
                            const struct tr_cmap_src *s, long i) {
    struct tr_diag w;
    char pre[256];
    int line, col;
    prefix(s, pre, sizeof pre);
    where(s, i, &line, &col);
    tr_diag_clear(&w);
    tr_diag_set(&w, 0, s->file, line, col, "%s'%s' is deprecated%s%s%s", pre, given, help_open(e),
                help_text(e), help_close(e));
    if (s->warn) {
        s->warn(s->warn_arg, &w);
        return;
    }
    char buf[1600];
    tr_diag_format(&w, buf, sizeof buf);
    TR_WARN("config", "%s", buf);
}

int tr_cmap_apply(const struct tr_cmap_entry *map, const tr_value *config, void *instance,
                  const struct tr_cmap_src *src, struct tr_diag *d) {
    bool rec = config && config->type == TR_REC;
    uint32_t n = rec ? tr_rec_len(config) : 0;
    if (config && config->type != TR_REC && config->type != TR_NULL) {
        char pre[256];
        prefix(src, pre, sizeof pre);
        return tr_diag_set(d, TR_EINVAL_CFG, src->file, src->line, src->col,
                           "%sthe config must be a mapping of keys, found %s", pre,
                           tr_type_name(config->type));
    }
    for (uint32_t i = 0; i < n; i++) {
        const char *k = tr_rec_at(config, i)->key->data;
        if (!tr_cmap_find(map, k)) return unknown(map, src, i, k, d);
    }
    for (const struct tr_cmap_entry *e = map; e && e->type != TR_CMAP_END; e++) {
        const tr_value *v = NULL;
        long at = -1;
        for (uint32_t i = 0; i < n; i++) {
            const char *k = tr_rec_at(config, i)->key->data;
            if (strcmp(k, e->key) && (!e->alias || strcmp(k, e->alias))) continue;
            if (v)
                return fail(src, i, d, "'%s' is given twice (as '%s' and '%s')", e->key,
                            tr_rec_at(config, (uint32_t)at)->key->data, k);
            v = &tr_rec_at(config, i)->val;
            at = i;
        }
        if (!v && (e->flags & TR_CMAP_REQUIRED)) {
            if (src->style == TR_CMAP_STYLE_SERDE) return fail(src, -1, d, "missing field `%s`", e->key);
            return fail(src, -1, d, "config.%s%s%s%s is required", e->key, help_open(e), help_text(e),
                        help_close(e));
        }
        if (v && (e->flags & TR_CMAP_DEPRECATED))
            warn_deprecated(e, tr_rec_at(config, (uint32_t)at)->key->data, src, at);
        int rc = set(e, v, instance, src, at, d);
        if (rc) return rc;
        if (e->flags & TR_CMAP_PRESENCE) {
            bool seen = v != NULL;
            put(instance, e->seen, &seen, sizeof seen);
        }
    }
    return 0;
}

void tr_cmap_print(const struct tr_cmap_entry *map, FILE *f) {
    if (!map || map->type == TR_CMAP_END) {
        fprintf(f, "  (no settings)\n");
        return;
    }
    fprintf(f, "  %-22s %-9s %-12s %-20s %s\n", "KEY", "TYPE", "DEFAULT", "FLAGS", "HELP");
    for (const struct tr_cmap_entry *e = map; e->type != TR_CMAP_END; e++) {
        char flags[128] = "", def[64];
        size_t off = 0;
        if (e->flags & TR_CMAP_REQUIRED) off += (size_t)snprintf(flags + off, sizeof flags - off, "required");
        if (e->flags & TR_CMAP_DEPRECATED)
            off += (size_t)snprintf(flags + off, sizeof flags - off, "%sdeprecated", off ? "," : "");
        if (e->alias && off < sizeof flags)
            off += (size_t)snprintf(flags + off, sizeof flags - off, "%salias=%s", off ? "," : "", e->alias);
        if (!flags[0]) snprintf(flags, sizeof flags, "-");
        snprintf(def, sizeof def, "%s", e->def ? e->def : "-");
        fprintf(f, "  %-22s %-9s %-12s %-20s %s", e->key, type_name(e->type), def, flags,
                e->help ? e->help : "");
        if (e->flags & TR_CMAP_RANGE) {
            char lo[32] = "", hi[32] = "";
            if (e->lo != -INFINITY) snprintf(lo, sizeof lo, "%.17g", e->lo);
            if (e->hi != INFINITY) snprintf(hi, sizeof hi, "%.17g", e->hi);
            fprintf(f, " [%s..%s%s]", lo, hi, e->type == TR_CMAP_DURATION_MS ? " ms" : "");
        }
        if (e->type == TR_CMAP_ENUM) {
            char list[256];
            expected(e, TR_CMAP_STYLE_CONFIG, list, sizeof list);
            fprintf(f, " [%s]", list);
        }
        fputc('\n', f);
    }
}

static void warn_nothing(void *arg, const struct tr_diag *w) {
    (void)arg;
    (void)w;
}

int tr_cmap_check_each(const struct tr_cmap_entry *map, const tr_value *config,
                       const struct tr_cmap_src *src,
                       int (*each)(void *arg, const struct tr_diag *d), void *arg) {
    struct tr_diag d;
    tr_diag_clear(&d);
    if (!config || config->type != TR_REC) {
        /* not a record (or none): one error at most, as tr_cmap_check */
        int rc = tr_cmap_check(map, config, src, &d);
        if (rc == -ENOMEM) return rc;
        if (rc) each(arg, &d);
        return rc ? 1 : 0;
    }
    size_t size = 8;
    for (const struct tr_cmap_entry *e = map; e && e->type != TR_CMAP_END; e++) {
        if (e->offset + 8 > size) size = e->offset + 8;
        if ((e->flags & TR_CMAP_PRESENCE) && e->seen + 8 > size) size = e->seen + 8;
    }
    void *scratch = tr_calloc(1, size);
    if (!scratch) return -ENOMEM;
    struct tr_cmap_src s = *src;
    if (!s.warn) s.warn = warn_nothing;
    int found = 0;
    uint32_t n = tr_rec_len(config);
    for (uint32_t i = 0; i < n; i++) {
        const char *k = tr_rec_at(config, i)->key->data;
        if (tr_cmap_find(map, k)) continue;
        tr_diag_clear(&d);
        unknown(map, &s, i, k, &d);
        found++;
        if (each(arg, &d)) goto out;
    }
    for (const struct tr_cmap_entry *e = map; e && e->type != TR_CMAP_END; e++) {
        const tr_value *v = NULL;
        long at = -1;
        int bad = 0;
        tr_diag_clear(&d);
        for (uint32_t i = 0; i < n && !bad; i++) {
            const char *k = tr_rec_at(config, i)->key->data;
            if (strcmp(k, e->key) && (!e->alias || strcmp(k, e->alias))) continue;
            if (v) {
                fail(&s, i, &d, "'%s' is given twice (as '%s' and '%s')", e->key,
                     tr_rec_at(config, (uint32_t)at)->key->data, k);
                bad = 1;
                break;
            }
            v = &tr_rec_at(config, i)->val;
            at = i;
        }
        if (!bad && !v && (e->flags & TR_CMAP_REQUIRED)) {
            if (s.style == TR_CMAP_STYLE_SERDE) fail(&s, -1, &d, "missing field `%s`", e->key);
            else fail(&s, -1, &d, "config.%s%s%s%s is required", e->key, help_open(e), help_text(e),
                      help_close(e));
            bad = 1;
        }
        if (!bad && set(e, v, scratch, &s, at, &d) != 0) bad = 1;
        if (!bad) continue;
        found++;
        if (each(arg, &d)) break;
    }
out:
    tr_free(scratch);
    return found;
}

int tr_cmap_check(const struct tr_cmap_entry *map, const tr_value *config,
                  const struct tr_cmap_src *src, struct tr_diag *d) {
    /* The instance struct is the component's own; a zeroed block that
     * covers every field the table writes (none is wider than 8 bytes)
     * stands in for it. */
    size_t size = 8;
    for (const struct tr_cmap_entry *e = map; e && e->type != TR_CMAP_END; e++) {
        if (e->offset + 8 > size) size = e->offset + 8;
        if ((e->flags & TR_CMAP_PRESENCE) && e->seen + 8 > size) size = e->seen + 8;
    }
    void *scratch = tr_calloc(1, size);
    if (!scratch) return tr_diag_set(d, -ENOMEM, src->file, src->line, src->col, "out of memory");
    struct tr_cmap_src s = *src;
    if (!s.warn) s.warn = warn_nothing;
    int rc = tr_cmap_apply(map, config, scratch, &s, d);
    tr_free(scratch);
    return rc;
}
