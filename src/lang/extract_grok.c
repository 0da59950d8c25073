/* extract_grok.c - the grok extractor, computed as Tremor 0.11 computes it:
 * its grok crate (1.2.0) rewrites %{...} references textually into one
 * Oniguruma regex (Ruby syntax, UTF-8), and so does this file. The only
 * module that includes oniguruma.h; std::re and the re extractors use
 * regex.c (Rust syntax) instead, because 0.11 does the same split.
 *
 * Expansion, as the crate does it: find the leftmost %{NAME[:alias][=def]}
 * (found with the crate's own reference regex, REF below); `=def` defines
 * NAME for this compile; every occurrence of that exact reference text is
 * replaced by (?:def) without an alias or by (?<nameN>def) with one, N
 * counting replacements; repeat (at most 1024 references). An alias maps to
 * the last nameN it was given, so a repeated alias keeps its last place and
 * the earlier group is reported as "nameN". Every named group of the final
 * regex is a field, aliases nested in definitions (SYSLOGPROG's program and
 * pid) and the user's own (?<x>...) included; a field that took no part in
 * the match is "".
 * Oniguruma allocates with its own malloc, so a compiled grok and its
 * searches are outside tr_malloc's count and fault injection; their size
 * is bounded by TR_GROK_MAX_REGEX and STACK_LIMIT instead.
 * Invariant: a search ends within the retry limits below, with a match, no
 * match, or TR_ERUNTIME, never by running on.
 */
#include <errno.h>
#include <oniguruma.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "lang/extract_int.h"

#define MAX_REFS 1024                 /* the crate's MAX_RECURSION */
#define MAX_FILE (1024 * 1024)        /* a patterns file larger than this is ignored */
/* Backtracking budget of one search over the whole subject. Oniguruma
 * counts retries (each resumed alternative); ten million is some tenths of
 * a second, far beyond what a sane log pattern needs on one line. */
#define RETRY_LIMIT_SEARCH 10000000UL
#define RETRY_LIMIT_MATCH 10000000UL
/* Backtrack stack entries a search may hold: bounds its memory. */
#define STACK_LIMIT 4000000U

/* The reference syntax, the grok crate's GROK_PATTERN: groups name (the
 * whole reference but for =def), pattern, alias, definition. */
static const char REF[] = "%\\{(?<name>(?<pattern>[A-z0-9]+)(?::(?<alias>[A-z0-9_:;\\/\\s\\.]+))?)"
                          "(?:=(?<definition>(?:(?:[^{}]+|\\.+)+)+))?\\}";

struct field {
    char *name;
    int group;
};

struct scratch {                /* per-run state, behind a const grok */
    OnigRegion *region;
    OnigMatchParam *mp;
    char err[200];
};

struct tr_grok {
    OnigRegex re;
    struct scratch *sc;
    int nfields;
    struct field *fields;       /* in group order */
};

struct def {
    char *name, *def;
};

struct alias {
    char *alias;
    int index;                  /* the group is "name<index>" */
};

/* One compile: the definitions it may use beyond the base set, and the
 * aliases it has handed out. */
struct cc {
    struct def *defs;
    size_t ndefs, capdefs;
    struct alias *aliases;
    size_t naliases, capaliases;
};

static pthread_once_t onig_once = PTHREAD_ONCE_INIT;
static int onig_init_rc;

/* Oniguruma keeps per-encoding tables that must be set up once per process
 * before any regex is compiled; not our state, so not in a context. */
static void start_onig(void) {
    OnigEncoding enc[] = {ONIG_ENCODING_UTF8};
    onig_init_rc = onig_initialize(enc, 1);
}

static int onig_ready(void) {
    pthread_once(&onig_once, start_onig);
    return onig_init_rc == ONIG_NORMAL ? 0 : TR_EUNSUPPORTED;
}

static void cc_fini(struct cc *c) {
    for (size_t i = 0; i < c->ndefs; i++) {
        tr_free(c->defs[i].name);
        tr_free(c->defs[i].def);
    }
    tr_free(c->defs);
    for (size_t i = 0; i < c->naliases; i++) tr_free(c->aliases[i].alias);
    tr_free(c->aliases);
    memset(c, 0, sizeof *c);
}

static char *dupn(const char *s, size_t n) {
    char *d = tr_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static int grow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap * 2 : 16;
    void *q = tr_realloc(*p, n * size);
    if (!q) return -ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

/* A later definition of a name replaces the earlier one (the crate keeps
 * them in a map): adding to the end and looking up from it does the same. */
static int def_add(struct cc *c, const char *name, size_t nlen, const char *def, size_t dlen) {
    if (grow((void **)&c->defs, &c->capdefs, c->ndefs + 1, sizeof *c->defs)) return -ENOMEM;
    struct def d = {dupn(name, nlen), dupn(def, dlen)};
    if (!d.name || !d.def) {
        tr_free(d.name);
        tr_free(d.def);
        return -ENOMEM;
    }
    c->defs[c->ndefs++] = d;
    return 0;
}

static const char *def_find(const struct cc *c, const char *name, size_t nlen) {
    for (size_t i = c->ndefs; i-- > 0;)
        if (strlen(c->defs[i].name) == nlen && !memcmp(c->defs[i].name, name, nlen)) return c->defs[i].def;
    for (size_t i = 0; i < tr_grok_nbase; i++)
        if (strlen(tr_grok_base[i].name) == nlen && !memcmp(tr_grok_base[i].name, name, nlen))
            return tr_grok_base[i].def;
    return NULL;
}

static int alias_set(struct cc *c, const char *a, size_t alen, int index) {
    for (size_t i = 0; i < c->naliases; i++)
        if (strlen(c->aliases[i].alias) == alen && !memcmp(c->aliases[i].alias, a, alen)) {
            c->aliases[i].index = index;
            return 0;
        }
    if (grow((void **)&c->aliases, &c->capaliases, c->naliases + 1, sizeof *c->aliases)) return -ENOMEM;
    char *d = dupn(a, alen);
    if (!d) return -ENOMEM;
    c->aliases[c->naliases++] = (struct alias){d, index};
    return 0;
}

static void onig_msg(int code, OnigErrorInfo *ei, char *out, size_t olen) {
    OnigUChar s[ONIG_MAX_ERROR_MESSAGE_LEN];
    if (ei) onig_error_code_to_str(s, code, ei);
    else onig_error_code_to_str(s, code);
    snprintf(out, olen, "%s", (const char *)s);
}

static int count_of(const struct tr_buf *s, const char *needle, size_t nlen) {
    int n = 0;
    const char *p = s->data, *end = s->data + s->len;
    while (p < end) {
        const char *q = memmem(p, (size_t)(end - p), needle, nlen);
        if (!q) break;
        n++;
        p = q + nlen;
    }
    return n;
}

/* s = s with the first needle replaced by pre def post. */
static int replace_first(struct tr_buf *s, const char *needle, size_t nlen, const char *pre, const char *def,
                         const char *post) {
    const char *q = memmem(s->data, s->len, needle, nlen);
    if (!q) return 0;
    size_t at = (size_t)(q - s->data);
    struct tr_buf o;
    tr_buf_init(&o);
    int rc = tr_buf_append(&o, s->data, at);
    if (!rc) rc = tr_buf_printf(&o, "%s%s%s", pre, def, post);
    if (!rc) rc = tr_buf_append(&o, s->data + at + nlen, s->len - at - nlen);
    if (rc) {
        tr_buf_fini(&o);
        return rc;
    }
    tr_buf_fini(s);
    *s = o;
    return 0;
}

static int group_of(OnigRegex ref, const char *name) {
    return onig_name_to_backref_number(ref, (const OnigUChar *)name, (const OnigUChar *)name + strlen(name), NULL);
}

static void span(const OnigRegion *r, int g, size_t *so, size_t *len) {
    *so = (size_t)r->beg[g];
    *len = (size_t)(r->end[g] - r->beg[g]);
}

/* Rewrite pattern into one regex in *out, the crate's way (file comment). */
static int expand(struct cc *c, const char *pattern, struct tr_buf *out, char *msg, size_t mlen) {
    OnigRegex ref = NULL;
    OnigRegion *r = onig_region_new();
    OnigMatchParam *mp = onig_new_match_param();
    OnigErrorInfo ei;
    int rc = 0, index = 0;
    char *needle = NULL;
    if (!r || !mp) {
        rc = -ENOMEM;
        goto out;
    }
    onig_set_retry_limit_in_search_of_match_param(mp, RETRY_LIMIT_SEARCH);
    onig_set_match_stack_limit_size_of_match_param(mp, STACK_LIMIT);
    int orc = onig_new(&ref, (const OnigUChar *)REF, (const OnigUChar *)REF + strlen(REF), ONIG_OPTION_NONE,
                       ONIG_ENCODING_UTF8, ONIG_SYNTAX_RUBY, &ei);
    if (orc != ONIG_NORMAL) {
        rc = orc == ONIGERR_MEMORY ? -ENOMEM : TR_EUNSUPPORTED;
        snprintf(msg, mlen, "grok reference syntax does not compile");
        goto out;
    }
    int g_pat = group_of(ref, "pattern"), g_alias = group_of(ref, "alias"),
        g_def = group_of(ref, "definition");
    if ((rc = tr_buf_append(out, pattern, strlen(pattern)))) goto out;
    for (int refs = 0;; refs++) {
        const OnigUChar *b = (const OnigUChar *)out->data, *e = b + out->len;
        orc = onig_search_with_param(ref, b, e, b, e, r, ONIG_OPTION_NONE, mp);
        if (orc == ONIG_MISMATCH) break;
        if (orc < 0) {
            char why[ONIG_MAX_ERROR_MESSAGE_LEN];
            onig_msg(orc, NULL, why, sizeof why);
            snprintf(msg, mlen, "grok pattern references could not be read: %s", why);
            rc = orc == ONIGERR_MEMORY ? -ENOMEM : TR_EPARSE;
            goto out;
        }
        /* the crate gives up once it has rewritten this many references */
        if (refs == MAX_REFS) {
            snprintf(msg, mlen, "Recursion while compiling reached the limit of %d", MAX_REFS);
            rc = TR_EPARSE;
            goto out;
        }
        size_t pso, plen;
        span(r, g_pat, &pso, &plen);
        int has_alias = r->beg[g_alias] >= 0;
        size_t aso = 0, alen = 0;
        if (has_alias) span(r, g_alias, &aso, &alen);
        /* the text to replace is the whole reference, `=def` included */
        size_t mso = (size_t)r->beg[0], mlen0 = (size_t)(r->end[0] - r->beg[0]);
        tr_free(needle);
        if (!(needle = dupn(out->data + mso, mlen0))) {
            rc = -ENOMEM;
            goto out;
        }
        char *raw = needle + (pso - mso), *alias = has_alias ? needle + (aso - mso) : NULL;
        if (r->beg[g_def] >= 0) {
            size_t dso, dlen;
            span(r, g_def, &dso, &dlen);
            if ((rc = def_add(c, raw, plen, needle + (dso - mso), dlen))) goto out;
        }
        int n = count_of(out, needle, mlen0);
        for (int k = 0; k < n; k++) {
            const char *def = def_find(c, raw, plen);
            if (!def) {
                snprintf(msg, mlen,
                         "The given pattern definition name \"%.*s\" could not be found in the definition map",
                         (int)(plen > 64 ? 64 : plen), raw);
                rc = TR_EPARSE;
                goto out;
            }
            char pre[32];
            if (alias) {
                if ((rc = alias_set(c, alias, alen, index))) goto out;
                snprintf(pre, sizeof pre, "(?<name%d>", index);
            } else {
                snprintf(pre, sizeof pre, "(?:");
            }
            if ((rc = replace_first(out, needle, mlen0, pre, def, ")"))) goto out;
            index++;
            if (out->len > TR_GROK_MAX_REGEX) {
                snprintf(msg, mlen, "grok pattern expands beyond %d bytes", TR_GROK_MAX_REGEX);
                rc = TR_ETOOBIG;
                goto out;
            }
        }
    }
    if (out->len == 0) {
        snprintf(msg, mlen, "The given pattern \"%s\" ended up compiling into an empty regex", pattern);
        rc = TR_EPARSE;
    }
out:
    tr_free(needle);
    if (ref) onig_free(ref);
    if (r) onig_region_free(r, 1);
    if (mp) onig_free_match_param(mp);
    return rc;
}

struct names {
    struct field *f;
    int n, cap, rc;
    const struct cc *c;
};

/* A group named nameN that an alias points at is reported under the alias;
 * any other group under its own name (the crate's Pattern::new). */
static int on_name(const OnigUChar *name, const OnigUChar *end, int ngroups, int *groups, OnigRegex re,
                   void *arg) {
    (void)re;
    struct names *ns = arg;
    size_t len = (size_t)(end - name);
    if (ngroups < 1) return 0;
    const char *as = NULL;
    for (size_t i = 0; i < ns->c->naliases && !as; i++) {
        char gen[32];
        int gl = snprintf(gen, sizeof gen, "name%d", ns->c->aliases[i].index);
        if ((size_t)gl == len && !memcmp(gen, name, len)) as = ns->c->aliases[i].alias;
    }
    if (ns->n == ns->cap) {
        size_t cap = (size_t)ns->cap;
        if (grow((void **)&ns->f, &cap, (size_t)ns->n + 1, sizeof *ns->f)) return ns->rc = -ENOMEM;
        ns->cap = (int)cap;
    }
    char *d = as ? dupn(as, strlen(as)) : dupn((const char *)name, len);
    if (!d) return ns->rc = -ENOMEM;
    ns->f[ns->n++] = (struct field){d, groups[0]};
    return 0;
}

static int by_group(const void *a, const void *b) {
    const struct field *x = a, *y = b;
    return (x->group > y->group) - (x->group < y->group);
}

void tr_grok_destroy(struct tr_grok *g) {
    if (!g) return;
    if (g->re) onig_free(g->re);
    if (g->sc) {
        if (g->sc->region) onig_region_free(g->sc->region, 1);
        if (g->sc->mp) onig_free_match_param(g->sc->mp);
        tr_free(g->sc);
    }
    for (int i = 0; i < g->nfields; i++) tr_free(g->fields[i].name);
    tr_free(g->fields);
    tr_free(g);
}

/* Compile pattern with c's definitions on top of the base set. */
static int compile(struct cc *c, const char *pattern, struct tr_grok **out, char *msg, size_t mlen) {
    *out = NULL;
    struct tr_buf rx;
    tr_buf_init(&rx);
    struct names ns = {.c = c};
    struct tr_grok *g = tr_calloc(1, sizeof *g);
    int rc = g ? 0 : -ENOMEM;
    if (!rc) rc = expand(c, pattern, &rx, msg, mlen);
    if (!rc) {
        OnigErrorInfo ei;
        int orc = onig_new(&g->re, (const OnigUChar *)rx.data, (const OnigUChar *)rx.data + rx.len, ONIG_OPTION_NONE,
                           ONIG_ENCODING_UTF8, ONIG_SYNTAX_RUBY, &ei);
        if (orc != ONIG_NORMAL) {
            g->re = NULL;
            char why[ONIG_MAX_ERROR_MESSAGE_LEN];
            onig_msg(orc, &ei, why, sizeof why);
            snprintf(msg, mlen, "The given regex \"%.60s%s\" failed compilation in the underlying engine: %s", rx.data,
                     rx.len > 60 ? "..." : "", why);
            rc = orc == ONIGERR_MEMORY ? -ENOMEM : TR_EPARSE;
        }
    }
    if (!rc) {
        onig_foreach_name(g->re, on_name, &ns);
        rc = ns.rc;
        g->fields = ns.f;
        g->nfields = ns.n;
        ns.f = NULL;
        if (g->nfields > 1) qsort(g->fields, (size_t)g->nfields, sizeof *g->fields, by_group);
    }
    if (!rc && !(g->sc = tr_calloc(1, sizeof *g->sc))) rc = -ENOMEM;
    if (!rc) {
        g->sc->region = onig_region_new();
        g->sc->mp = onig_new_match_param();
        if (!g->sc->region || !g->sc->mp) rc = -ENOMEM;
    }
    if (!rc) {
        onig_set_retry_limit_in_match_of_match_param(g->sc->mp, RETRY_LIMIT_MATCH);
        onig_set_retry_limit_in_search_of_match_param(g->sc->mp, RETRY_LIMIT_SEARCH);
        onig_set_match_stack_limit_size_of_match_param(g->sc->mp, STACK_LIMIT);
    }
    for (int i = 0; i < ns.n && ns.f; i++) tr_free(ns.f[i].name);
    tr_free(ns.f);
    tr_buf_fini(&rx);
    if (rc) {
        if (rc == -ENOMEM) snprintf(msg, mlen, "out of memory");
        tr_grok_destroy(g);
        return rc;
    }
    *out = g;
    return 0;
}

/* Byte range of field name in the last match of g: 1 with [*so, *so+*len), 0 when absent. */
static int field_span(const struct tr_grok *g, const char *name, size_t *so, size_t *len) {
    for (int i = 0; i < g->nfields; i++) {
        if (strcmp(g->fields[i].name, name)) continue;
        const OnigRegion *r = g->sc->region;
        int k = g->fields[i].group;
        if (k >= r->num_regs || r->beg[k] < 0) return 0;
        span(r, k, so, len);
        return 1;
    }
    return 0;
}

static int search(const struct tr_grok *g, const char *s, size_t len) {
    const OnigUChar *b = (const OnigUChar *)s, *e = b + len;
    int orc = onig_search_with_param(g->re, b, e, b, e, g->sc->region, ONIG_OPTION_CHECK_VALIDITY_OF_STRING, g->sc->mp);
    if (orc >= 0) return 1;
    if (orc == ONIG_MISMATCH || orc == ONIGERR_INVALID_WIDE_CHAR_VALUE) return 0;
    if (orc == ONIGERR_MEMORY) return -ENOMEM;
    char why[ONIG_MAX_ERROR_MESSAGE_LEN];
    onig_msg(orc, NULL, why, sizeof why);
    snprintf(g->sc->err, sizeof g->sc->err, "grok pattern gave up on this input: %s", why);
    return TR_ERUNTIME;
}

/* Read a patterns file the way 0.11's grok.rs does: each line that is not
 * empty and does not start with '#' must match "%{NOTSPACE:alias}
 * %{GREEDYDATA:pattern}" and defines alias. Nonzero when it cannot be
 * read or a line does not fit (then 0.11 ignores the whole file). */
static int load_file(struct cc *c, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -errno;
    struct tr_buf text;
    tr_buf_init(&text);
    int rc = 0;
    char chunk[4096];
    size_t n;
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (text.len + n > MAX_FILE) rc = TR_ETOOBIG;
        else rc = tr_buf_append(&text, chunk, n);
    }
    if (!rc && ferror(f)) rc = -EIO;
    fclose(f);
    struct tr_grok *line_re = NULL;
    struct cc base = {0};
    char msg[200];
    if (!rc) rc = compile(&base, "%{NOTSPACE:alias} %{GREEDYDATA:pattern}", &line_re, msg, sizeof msg);
    for (size_t at = 0; !rc && at < text.len;) {
        char *nl = memchr(text.data + at, '\n', text.len - at);
        size_t end = nl ? (size_t)(nl - text.data) : text.len, l = end - at;
        char *line = text.data + at;
        at = nl ? end + 1 : text.len;
        if (l && line[l - 1] == '\r') l--;   /* Rust's lines() drops a \r before \n too */
        if (l == 0 || line[0] == '#') continue;
        int m = search(line_re, line, l);
        if (m != 1) {
            rc = m < 0 ? m : TR_EPARSE;
            break;
        }
        size_t aso, alen, pso, plen;
        if (!field_span(line_re, "alias", &aso, &alen) || !field_span(line_re, "pattern", &pso, &plen)) {
            rc = TR_EPARSE;
            break;
        }
        rc = def_add(c, line + aso, alen, line + pso, plen);
    }
    tr_grok_destroy(line_re);
    cc_fini(&base);
    tr_buf_fini(&text);
    return rc;
}

int tr_grok_create(const char *pattern, const char *patterns_file, struct tr_grok **out, char *msg, size_t mlen) {
    *out = NULL;
    int rc = onig_ready();
    if (rc) {
        snprintf(msg, mlen, "Oniguruma did not initialise");
        return rc;
    }
    struct cc c = {0};
    if (patterns_file && load_file(&c, patterns_file) == 0) {
        char ignored[256];
        rc = compile(&c, pattern, out, ignored, sizeof ignored);
        if (rc == -ENOMEM) {
            snprintf(msg, mlen, "out of memory");
            cc_fini(&c);
            return rc;
        }
        if (!rc) {
            cc_fini(&c);
            return 0;
        }
    }
    /* no usable file: the base set alone, as 0.11 falls back to it */
    cc_fini(&c);
    rc = compile(&c, pattern, out, msg, mlen);
    cc_fini(&c);
    return rc;
}

int tr_grok_run(const struct tr_grok *g, const struct tr_str *s, int need, tr_value *out) {
    g->sc->err[0] = 0;
    int rc = search(g, s->data, s->len);
    if (rc != 1 || !need) return rc;
    rc = tr_v_rec((size_t)g->nfields, out);
    const OnigRegion *r = g->sc->region;
    for (int i = 0; i < g->nfields && !rc; i++) {
        int k = g->fields[i].group;
        tr_value v;
        if (k < r->num_regs && r->beg[k] >= 0)
            rc = tr_v_str(s->data + r->beg[k], (size_t)(r->end[k] - r->beg[k]), &v);
        else
            rc = tr_v_str("", 0, &v);
        if (!rc) rc = tr_rec_set(out, g->fields[i].name, strlen(g->fields[i].name), v);
    }
    if (rc) {
        tr_value_unref(*out);
        *out = tr_v_null();
        return rc;
    }
    return 1;
}

const char *tr_grok_error(const struct tr_grok *g) { return g->sc->err; }
