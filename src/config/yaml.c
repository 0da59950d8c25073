/* yaml.c - libyaml's event stream folded into a tree of located nodes.
 *
 * Not a YAML emitter and not a schema checker: it only builds the tree and
 * enforces the structural limits of yaml.h, so that nothing downstream has to
 * worry about depth, size, duplicate keys or alias cycles. All nodes, texts and
 * child arrays of one document live in an arena owned by the tr_yaml_doc and
 * are freed at once. libyaml's own buffers do not go through tr_malloc (it
 * has no allocator hook); they are bounded by the input size and freed before
 * tr_yaml_parse returns.
 */
#include "config/yaml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/alloc.h"

#define CHUNK_SIZE (64 * 1024)
#define ALIGN 16

struct chunk {
    struct chunk *next;
    size_t used, cap;
};
#define CHUNK_HDR ((sizeof(struct chunk) + ALIGN - 1) / ALIGN * ALIGN)

struct tr_yaml_memo {
    struct tr_yaml_memo *next;   /* every memo of the doc, to drop values at free */
    tr_value v;
    int done;
};

struct tr_yaml_doc {
    char *name;
    struct chunk *chunks;
    struct tr_yaml_node *root;
    struct tr_yaml_memo *memos;
    size_t nodes;
};

/* An open collection while its children arrive. */
struct frame {
    struct tr_yaml_node *node;
    struct tr_yaml_node **kids;
    size_t n, cap;
    const char *anchor;   /* arena copy of its anchor name, or NULL */
};

struct anchor {
    const char *name;            /* NULL = empty slot */
    struct tr_yaml_node *node;
    int open;                    /* its collection has not ended yet */
};

struct builder {
    struct tr_yaml_doc *doc;
    struct tr_diag *d;
    struct frame stack[TR_YAML_MAX_DEPTH];
    int depth;
    struct anchor *anchors;      /* open addressing, cap a power of two */
    size_t acap, acount;
    int ndocs;
    int keep_going;              /* TR_YAML_KEEP_GOING */
    tr_diag_sink report;
    void *rarg;
    size_t *nerr;
};

/* ---- arena ---- */

static void *arena_alloc(struct tr_yaml_doc *doc, size_t n) {
    n = (n + 7) & ~(size_t)7;
    if (n == 0) n = 8;
    struct chunk *c = doc->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > CHUNK_SIZE - CHUNK_HDR ? n : CHUNK_SIZE - CHUNK_HDR;
        if (cap > SIZE_MAX - CHUNK_HDR) return NULL;
        struct chunk *nc = tr_malloc(CHUNK_HDR + cap);
        if (!nc) return NULL;
        nc->used = 0;
        nc->cap = cap;
        /* A big one-off block goes behind the current chunk so the current
         * chunk's free tail stays usable. */
        if (c && n > CHUNK_SIZE / 4) {
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            doc->chunks = nc;
        }
        c = nc;
    }
    void *p = (char *)c + CHUNK_HDR + c->used;
    c->used += n;
    return p;
}

static char *arena_strndup(struct tr_yaml_doc *doc, const char *s, size_t n) {
    if (n == SIZE_MAX) return NULL;
    char *p = arena_alloc(doc, n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void tr_yaml_free(struct tr_yaml_doc *doc) {
    if (!doc) return;
    for (struct tr_yaml_memo *m = doc->memos; m; m = m->next)
        if (m->done) tr_value_unref(m->v);
    struct chunk *c = doc->chunks;
    while (c) {
        struct chunk *next = c->next;
        tr_free(c);
        c = next;
    }
    tr_free(doc->name);
    tr_free(doc);
}

const struct tr_yaml_node *tr_yaml_root(const struct tr_yaml_doc *doc) {
    return doc ? doc->root : NULL;
}

size_t tr_yaml_nodes(const struct tr_yaml_doc *doc) { return doc ? doc->nodes : 0; }

/* ---- diagnostics ---- */

static int fail(struct builder *b, int rc, int line, int col, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static int fail(struct builder *b, int rc, int line, int col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rc = tr_diag_vset(b->d, rc, b->doc->name, line, col, fmt, ap);
    va_end(ap);
    return rc;
}

/* Position of a byte offset, for libyaml reader errors, which carry only an
 * offset. Columns count characters (UTF-8 lead bytes) like libyaml's marks. */
static void offset_pos(const char *text, size_t len, size_t off, int *line, int *col) {
    int l = 1, c = 1;
    if (off > len) off = len;
    for (size_t i = 0; i < off; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch == '\n') {
            l++;
            c = 1;
        } else if ((ch & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* In [...] and {...} a '{' opens a mapping, so an unquoted link URL such as
 * [/pipeline/main/{instance}/in] breaks the YAML; say so when that is likely. */
static const char *flow_hint(const yaml_parser_t *p, const char *text, size_t len) {
    if (!p->context || !strstr(p->context, "flow")) return "";
    size_t off = p->context_mark.index, end = p->problem_mark.index;
    if (off > len || end > len || end < off) return "";
    for (size_t i = off; i < end && i + 1 < len; i++)
        if (text[i] == '/' && text[i + 1] == '{')
            return "; URLs with {placeholders} inside [...] must be quoted, "
                   "e.g. [\"/pipeline/main/{instance}/in\"]";
    return "";
}

static int syntax_error(struct builder *b, yaml_parser_t *p, const char *text, size_t len) {
    const char *problem = p->problem ? p->problem : "malformed YAML";
    int line, col;
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        return fail(b, -ENOMEM, 0, 0, "out of memory while parsing YAML");
    case YAML_READER_ERROR:
        offset_pos(text, len, p->problem_offset, &line, &col);
        if (p->problem_value != -1)
            return fail(b, TR_EPARSE, line, col, "YAML syntax error: %s (byte 0x%02X)",
                        problem, (unsigned)p->problem_value & 0xFFu);
        return fail(b, TR_EPARSE, line, col, "YAML syntax error: %s", problem);
    default:
        line = (int)p->problem_mark.line + 1;
        col = (int)p->problem_mark.column + 1;
        if (p->context)
            return fail(b, TR_EPARSE, line, col,
                        "YAML syntax error: %s (%s that starts at %d:%d)%s", problem, p->context,
                        (int)p->context_mark.line + 1, (int)p->context_mark.column + 1,
                        flow_hint(p, text, len));
        return fail(b, TR_EPARSE, line, col, "YAML syntax error: %s", problem);
    }
}

/* ---- anchors ---- */

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static struct anchor *anchor_find(struct builder *b, const char *name) {
    if (!b->acap) return NULL;
    size_t mask = b->acap - 1;
    for (size_t i = hash_name(name) & mask;; i = (i + 1) & mask) {
        if (!b->anchors[i].name) return NULL;
        if (!strcmp(b->anchors[i].name, name)) return &b->anchors[i];
    }
}

/* Define (or redefine: YAML lets a later anchor of the same name win). */
static int anchor_set(struct builder *b, const char *name, struct tr_yaml_node *node, int open) {
    struct anchor *a = anchor_find(b, name);
    if (a) {
        a->node = node;
        a->open = open;
        return 0;
    }
    if (b->acount >= TR_YAML_MAX_ANCHORS)
        return fail(b, TR_ETOOBIG, node->line, node->col, "more than %d YAML anchors",
                    TR_YAML_MAX_ANCHORS);
    if ((b->acount + 1) * 2 > b->acap) {
        size_t ncap = b->acap ? b->acap * 2 : 64;
        struct anchor *tab = tr_calloc(ncap, sizeof *tab);
        if (!tab) return -ENOMEM;
        for (size_t i = 0; i < b->acap; i++) {
            if (!b->anchors[i].name) continue;
            size_t j = hash_name(b->anchors[i].name) & (ncap - 1);
            while (tab[j].name) j = (j + 1) & (ncap - 1);
            tab[j] = b->anchors[i];
        }
        tr_free(b->anchors);
        b->anchors = tab;
        b->acap = ncap;
    }
    size_t j = hash_name(name) & (b->acap - 1);
    while (b->anchors[j].name) j = (j + 1) & (b->acap - 1);
    b->anchors[j].name = name;
    b->anchors[j].node = node;
    b->anchors[j].open = open;
    b->acount++;
    return 0;
}

/* ---- tree building ---- */

static struct tr_yaml_node *new_node(struct builder *b, int kind, const yaml_mark_t *m, int *rc) {
    if (b->doc->nodes >= TR_YAML_MAX_NODES) {
        *rc = fail(b, TR_ETOOBIG, (int)m->line + 1, (int)m->column + 1,
                   "document has more than %d YAML nodes", TR_YAML_MAX_NODES);
        return NULL;
    }
    struct tr_yaml_node *n = arena_alloc(b->doc, sizeof *n);
    if (!n) {
        *rc = -ENOMEM;
        return NULL;
    }
    memset(n, 0, sizeof *n);
    n->kind = (unsigned char)kind;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    b->doc->nodes++;
    *rc = 0;
    return n;
}

/* Tags: !!str (and the non-specific "!") make a scalar a string; other
 * standard tags are accepted and ignored; a local tag such as !include would
 * silently mean nothing here, so it is refused. */
static int check_tag(struct builder *b, const yaml_char_t *tag, int line, int col, int *force_str) {
    *force_str = 0;
    if (!tag) return 0;
    const char *t = (const char *)tag;
    if (!strcmp(t, YAML_STR_TAG) || !strcmp(t, "!")) {
        *force_str = 1;
        return 0;
    }
    if (!strncmp(t, "tag:yaml.org,2002:", 18)) return 0;
    return fail(b, TR_EINVAL_CFG, line, col,
                "unsupported YAML tag '%s' (only the standard !! tags are understood)", t);
}

static int attach_anchor(struct builder *b, const yaml_char_t *anchor, struct tr_yaml_node *n,
                         int open, const char **name_out) {
    if (name_out) *name_out = NULL;
    if (!anchor) return 0;
    const char *name = arena_strndup(b->doc, (const char *)anchor, strlen((const char *)anchor));
    struct tr_yaml_memo *m = arena_alloc(b->doc, sizeof *m);
    if (!name || !m) return -ENOMEM;
    memset(m, 0, sizeof *m);
    m->next = b->doc->memos;
    b->doc->memos = m;
    n->memo = m;
    if (name_out) *name_out = name;
    return anchor_set(b, name, n, open);
}

/* Hand a finished node to its parent (or make it the root). */
static int add_node(struct builder *b, struct tr_yaml_node *n) {
    if (b->depth == 0) {
        b->doc->root = n;
        return 0;
    }
    struct frame *f = &b->stack[b->depth - 1];
    if (f->node->kind == TR_YAML_MAP && f->n % 2 == 0) {
        if (n->kind != TR_YAML_SCALAR)
            return fail(b, TR_EINVAL_CFG, n->line, n->col, "mapping keys must be scalars, found %s",
                        tr_yaml_what(n));
        if (n->plain && n->len == 2 && !memcmp(n->text, "<<", 2))
            return fail(b, TR_EINVAL_CFG, n->line, n->col,
                        "YAML merge keys ('<<') are not supported; write the keys out");
    }
    if (tr_grow((void **)&f->kids, &f->cap, f->n + 1, sizeof *f->kids)) return -ENOMEM;
    f->kids[f->n++] = n;
    return 0;
}

static int key_cmp(const void *pa, const void *pb) {
    const struct tr_yaml_node *a = *(const struct tr_yaml_node *const *)pa;
    const struct tr_yaml_node *b = *(const struct tr_yaml_node *const *)pb;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->text, b->text, n);
    if (c) return c;
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    if (a->line != b->line) return a->line < b->line ? -1 : 1;
    return (a->col > b->col) - (a->col < b->col);
}

static int same_key(const struct tr_yaml_node *a, const struct tr_yaml_node *b) {
    return a->len == b->len && !memcmp(a->text, b->text, a->len);
}

static int before(const struct tr_yaml_node *a, const struct tr_yaml_node *b) {
    return a->line < b->line || (a->line == b->line && a->col < b->col);
}

/* Keys are compared by text, so "1" and 1 clash: both become the same
 * record key. The earliest second occurrence in the file is reported. */
static int check_dup_keys(struct builder *b, struct tr_yaml_node **kids, size_t npairs) {
    if (npairs < 2) return 0;
    const struct tr_yaml_node *dup = NULL, *first = NULL;
    if (npairs <= 8) {
        for (size_t i = 1; i < npairs && !dup; i++)
            for (size_t j = 0; j < i; j++)
                if (same_key(kids[2 * i], kids[2 * j])) {
                    dup = kids[2 * i];
                    first = kids[2 * j];
                    break;
                }
    } else {
        const struct tr_yaml_node **keys = tr_calloc(npairs, sizeof *keys);
        if (!keys) return -ENOMEM;
        for (size_t i = 0; i < npairs; i++) keys[i] = kids[2 * i];
        qsort(keys, npairs, sizeof *keys, key_cmp);
        for (size_t i = 1; i < npairs; i++) {
            if (!same_key(keys[i], keys[i - 1])) continue;
            /* keys[i-1] is earlier than keys[i]; the first of the run is the original */
            size_t s = i - 1;
            while (s > 0 && same_key(keys[s - 1], keys[i])) s--;
            if (!dup || before(keys[i], dup)) {
                dup = keys[i];
                first = keys[s];
            }
        }
        tr_free(keys);
    }
    if (!dup) return 0;
    return fail(b, TR_EINVAL_CFG, dup->line, dup->col, "duplicate key '%s' (first at %d:%d)",
                dup->text, first->line, first->col);
}

struct keyref {
    struct tr_yaml_node *k;
    size_t pair;
};

static int keyref_cmp(const void *pa, const void *pb) {
    const struct keyref *x = pa, *y = pb;
    return key_cmp(&x->k, &y->k);
}

/* Keep going: report every repeated key of the mapping in f and drop its
 * pair, so the checker sees each key once. */
static int drop_dup_keys(struct builder *b, struct frame *f) {
    size_t np = f->n / 2;
    if (np < 2) return 0;
    struct keyref *r = tr_calloc(np, sizeof *r);
    unsigned char *drop = tr_calloc(np, 1);
    if (!r || !drop) {
        tr_free(r);
        tr_free(drop);
        return -ENOMEM;
    }
    for (size_t i = 0; i < np; i++) r[i] = (struct keyref){f->kids[2 * i], i};
    qsort(r, np, sizeof *r, keyref_cmp);
    for (size_t i = 1, s = 0; i < np; i++) {
        if (!same_key(r[i].k, r[s].k)) {
            s = i;
            continue;
        }
        drop[r[i].pair] = 1;
        fail(b, TR_EINVAL_CFG, r[i].k->line, r[i].k->col, "duplicate key '%s' (first at %d:%d)",
             r[i].k->text, r[s].k->line, r[s].k->col);
        (*b->nerr)++;
        b->report(b->rarg, b->d, NULL);
    }
    size_t w = 0;
    for (size_t i = 0; i < np; i++) {
        if (drop[i]) continue;
        f->kids[2 * w] = f->kids[2 * i];
        f->kids[2 * w + 1] = f->kids[2 * i + 1];
        w++;
    }
    f->n = 2 * w;
    tr_free(r);
    tr_free(drop);
    return 0;
}

static int open_collection(struct builder *b, int kind, const yaml_event_t *ev) {
    const yaml_char_t *anchor, *tag;
    if (kind == TR_YAML_SEQ) {
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
    } else {
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
    }
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    if (b->depth >= TR_YAML_MAX_DEPTH)
        return fail(b, TR_EDEPTH, line, col, "YAML nesting deeper than %d levels",
                    TR_YAML_MAX_DEPTH);
    int force_str, rc = check_tag(b, tag, line, col, &force_str);
    if (rc) return rc;
    struct tr_yaml_node *n = new_node(b, kind, &ev->start_mark, &rc);
    if (!n) return rc;
    struct frame *f = &b->stack[b->depth];
    memset(f, 0, sizeof *f);
    f->node = n;
    rc = attach_anchor(b, anchor, n, 1, &f->anchor);
    if (rc) return rc;
    b->depth++;
    return 0;
}

static int close_collection(struct builder *b) {
    struct frame *f = &b->stack[b->depth - 1];
    struct tr_yaml_node *n = f->node;
    int rc = 0;
    if (n->kind == TR_YAML_MAP) {
        rc = b->keep_going ? drop_dup_keys(b, f) : check_dup_keys(b, f->kids, f->n / 2);
        if (rc) return rc;
    }
    if (f->n) {
        if (f->n > SIZE_MAX / sizeof *n->kids) return -ENOMEM;
        n->kids = arena_alloc(b->doc, f->n * sizeof *n->kids);
        if (!n->kids) return -ENOMEM;
        memcpy(n->kids, f->kids, f->n * sizeof *n->kids);
    }
    n->n = n->kind == TR_YAML_MAP ? f->n / 2 : f->n;
    tr_free(f->kids);
    f->kids = NULL;
    if (f->anchor) {
        struct anchor *a = anchor_find(b, f->anchor);
        if (a && a->node == n) a->open = 0;
    }
    b->depth--;
    return add_node(b, n);
}

static int on_scalar(struct builder *b, const yaml_event_t *ev) {
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    int force_str, rc = check_tag(b, ev->data.scalar.tag, line, col, &force_str);
    if (rc) return rc;
    struct tr_yaml_node *n = new_node(b, TR_YAML_SCALAR, &ev->start_mark, &rc);
    if (!n) return rc;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !force_str;
    n->len = ev->data.scalar.length;
    n->text = arena_strndup(b->doc, (const char *)ev->data.scalar.value, n->len);
    if (!n->text) return -ENOMEM;
    rc = attach_anchor(b, ev->data.scalar.anchor, n, 0, NULL);
    if (rc) return rc;
    return add_node(b, n);
}

static int on_alias(struct builder *b, const yaml_event_t *ev) {
    const char *name = (const char *)ev->data.alias.anchor;
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    struct anchor *a = anchor_find(b, name);
    if (!a)
        return fail(b, TR_EINVAL_CFG, line, col,
                    "unknown YAML alias '*%s' (no anchor '&%s' before it)", name, name);
    if (a->open)
        return fail(b, TR_EINVAL_CFG, line, col,
                    "recursive YAML alias '*%s' (it refers to the collection it is inside, "
                    "anchored at %d:%d)", name, a->node->line, a->node->col);
    int rc;
    struct tr_yaml_node *n = new_node(b, a->node->kind, &ev->start_mark, &rc);
    if (!n) return rc;
    *n = *a->node;
    n->line = line;
    n->col = col;
    return add_node(b, n);
}

static int build(struct builder *b, yaml_parser_t *p, const char *text, size_t len) {
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(p, &ev)) return syntax_error(b, p, text, len);
        int rc = 0, done = 0;
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (b->ndocs++ > 0)
                rc = fail(b, TR_EINVAL_CFG, (int)ev.start_mark.line + 1,
                          (int)ev.start_mark.column + 1,
                          "a second YAML document starts here; a config file holds one document "
                          "(split it into several files)");
            break;
        case YAML_SCALAR_EVENT: rc = on_scalar(b, &ev); break;
        case YAML_ALIAS_EVENT: rc = on_alias(b, &ev); break;
        case YAML_SEQUENCE_START_EVENT: rc = open_collection(b, TR_YAML_SEQ, &ev); break;
        case YAML_MAPPING_START_EVENT: rc = open_collection(b, TR_YAML_MAP, &ev); break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: rc = close_collection(b); break;
        case YAML_STREAM_END_EVENT: done = 1; break;
        default: break;
        }
        yaml_event_delete(&ev);
        if (rc) return rc;
        if (done) return 0;
    }
}

/* Keep going after an error that ends the stream: report it, then close
 * every open collection (a key left without its value is dropped) so what
 * came before it can be checked; those collections are marked cut. */
static void cut_short(struct builder *b) {
    size_t n = strlen(b->d->msg);
    static const char note[] = "; the rest of this file is not checked";
    if (n + sizeof note <= sizeof b->d->msg) memcpy(b->d->msg + n, note, sizeof note);
    (*b->nerr)++;
    b->report(b->rarg, b->d, NULL);
    while (b->depth > 0) {
        struct frame *f = &b->stack[b->depth - 1];
        if (f->node->kind == TR_YAML_MAP && f->n % 2) f->n--;
        f->node->cut = 1;
        /* a second error here is a consequence of the first: not reported */
        struct tr_diag *keep = b->d, quiet;
        tr_diag_clear(&quiet);
        b->d = &quiet;
        int ka = b->keep_going;
        b->keep_going = 0;
        int rc = close_collection(b);
        b->keep_going = ka;
        b->d = keep;
        if (rc) {
            b->doc->root = NULL;
            return;
        }
    }
}

int tr_yaml_parse(const char *name, const char *text, size_t len, struct tr_yaml_doc **out,
                  struct tr_diag *d) {
    return tr_yaml_parse_ex(name, text, len, 0, out, d, NULL, NULL, NULL);
}

int tr_yaml_parse_ex(const char *name, const char *text, size_t len, unsigned flags,
                     struct tr_yaml_doc **out, struct tr_diag *d, tr_diag_sink report, void *arg,
                     size_t *nerr) {
    *out = NULL;
    struct tr_yaml_doc *doc = tr_calloc(1, sizeof *doc);
    if (!doc) return -ENOMEM;
    doc->name = tr_strdup(name ? name : "");
    if (!doc->name) {
        tr_free(doc);
        return -ENOMEM;
    }
    struct builder *b = tr_calloc(1, sizeof *b);
    if (!b) {
        tr_yaml_free(doc);
        return -ENOMEM;
    }
    b->doc = doc;
    b->d = d;
    b->keep_going = (flags & TR_YAML_KEEP_GOING) && report && nerr;
    b->report = report;
    b->rarg = arg;
    b->nerr = nerr;
    yaml_parser_t p;
    int rc, partial = 0;
    if (!yaml_parser_initialize(&p)) {
        rc = -ENOMEM;
        goto out;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    rc = build(b, &p, text, len);
    yaml_parser_delete(&p);
    if (rc && rc != -ENOMEM && b->keep_going) {
        cut_short(b);
        partial = 1;
    }
out:
    for (int i = 0; i < b->depth; i++) tr_free(b->stack[i].kids);
    tr_free(b->anchors);
    tr_free(b);
    if (rc && !partial) {
        tr_yaml_free(doc);
        return rc;
    }
    *out = doc;
    return rc;
}

/* ---- scalar resolution (YAML 1.2 core schema, as Tremor's YAML reader does) ---- */

struct scalar {
    enum tr_type type;
    int b;
    int64_t i;
    uint64_t u;
    double f;
};

static int is_one_of(const char *t, size_t n, const char *const *words) {
    for (; *words; words++)
        if (strlen(*words) == n && !memcmp(t, *words, n)) return 1;
    return 0;
}

static int digit_val(char c, int base) {
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else return -1;
    return v < base ? v : -1;
}

/* Digits of base in t[0..n); 1 and *mag on success, 0 when not all digits,
 * -1 when the magnitude does not fit 64 bits. */
static int magnitude(const char *t, size_t n, int base, uint64_t *mag) {
    if (n == 0) return 0;
    uint64_t m = 0;
    int overflow = 0;
    for (size_t i = 0; i < n; i++) {
        int v = digit_val(t[i], base);
        if (v < 0) return 0;
        if (m > (UINT64_MAX - (uint64_t)v) / (uint64_t)base) overflow = 1;
        else m = m * (uint64_t)base + (uint64_t)v;
    }
    *mag = m;
    return overflow ? -1 : 1;
}

static size_t span_digits(const char *t, size_t n, size_t i) {
    while (i < n && t[i] >= '0' && t[i] <= '9') i++;
    return i;
}

/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static int is_float(const char *t, size_t n) {
    size_t i = 0;
    if (i < n && (t[i] == '-' || t[i] == '+')) i++;
    if (i < n && t[i] == '.') {
        size_t j = span_digits(t, n, i + 1);
        if (j == i + 1) return 0;
        i = j;
    } else {
        size_t j = span_digits(t, n, i);
        if (j == i) return 0;
        i = j;
        if (i < n && t[i] == '.') i = span_digits(t, n, i + 1);
    }
    if (i < n && (t[i] == 'e' || t[i] == 'E')) {
        i++;
        if (i < n && (t[i] == '-' || t[i] == '+')) i++;
        size_t j = span_digits(t, n, i);
        if (j == i) return 0;
        i = j;
    }
    return i == n;
}

static void classify(const struct tr_yaml_node *nd, struct scalar *s) {
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    static const char *const infs[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL};
    static const char *const ninfs[] = {"-.inf", "-.Inf", "-.INF", NULL};
    static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};
    const char *t = nd->text;
    size_t n = nd->len;
    memset(s, 0, sizeof *s);
    s->type = TR_STR;
    if (!nd->plain) return;
    if (is_one_of(t, n, nulls)) { s->type = TR_NULL; return; }
    if (is_one_of(t, n, trues)) { s->type = TR_BOOL; s->b = 1; return; }
    if (is_one_of(t, n, falses)) { s->type = TR_BOOL; s->b = 0; return; }
    if (is_one_of(t, n, infs)) { s->type = TR_F64; s->f = INFINITY; return; }
    if (is_one_of(t, n, ninfs)) { s->type = TR_F64; s->f = -INFINITY; return; }
    if (is_one_of(t, n, nans)) { s->type = TR_F64; s->f = NAN; return; }
    uint64_t m;
    if (n > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'o')) {
        int r = magnitude(t + 2, n - 2, t[1] == 'x' ? 16 : 8, &m);
        if (r == 1) {
            if (m <= INT64_MAX) { s->type = TR_I64; s->i = (int64_t)m; }
            else { s->type = TR_U64; s->u = m; }
        }
        return;   /* not all digits, or too big: a string */
    }
    size_t sign = (n > 0 && (t[0] == '-' || t[0] == '+')) ? 1 : 0;
    int r = magnitude(t + sign, n - sign, 10, &m);
    if (r == 1) {
        if (t[0] == '-') {
            if (m <= (uint64_t)INT64_MAX + 1) {
                s->type = TR_I64;
                s->i = m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m;
                return;
            }
        } else if (m <= INT64_MAX) {
            s->type = TR_I64;
            s->i = (int64_t)m;
            return;
        } else {
            s->type = TR_U64;
            s->u = m;
            return;
        }
    }
    /* Too big for 64 bits, or a decimal fraction / exponent. */
    if (r == -1 || is_float(t, n)) {
        s->type = TR_F64;
        s->f = strtod(t, NULL);
    }
}

enum tr_type tr_yaml_type(const struct tr_yaml_node *n) {
    if (n->kind == TR_YAML_SEQ) return TR_ARR;
    if (n->kind == TR_YAML_MAP) return TR_REC;
    struct scalar s;
    classify(n, &s);
    return s.type;
}

const char *tr_yaml_what(const struct tr_yaml_node *n) {
    switch (tr_yaml_type(n)) {
    case TR_ARR: return "a sequence";
    case TR_REC: return "a mapping";
    case TR_NULL: return "null";
    case TR_BOOL: return "a boolean";
    case TR_I64:
    case TR_U64: return "an integer";
    case TR_F64: return "a float";
    default: return "a string";
    }
}

static int convert(const struct tr_yaml_doc *doc, const struct tr_yaml_node *n, tr_value *out,
                   int depth, struct tr_diag *d) {
    *out = tr_v_null();
    if (n->memo && n->memo->done) {
        *out = tr_value_ref(n->memo->v);
        return 0;
    }
    int rc = 0;
    if (n->kind == TR_YAML_SCALAR) {
        struct scalar s;
        classify(n, &s);
        switch (s.type) {
        case TR_NULL: break;
        case TR_BOOL: *out = tr_v_bool(s.b); break;
        case TR_I64: *out = tr_v_int(s.i); break;
        case TR_U64: *out = tr_v_uint(s.u); break;
        case TR_F64: *out = tr_v_float(s.f); break;
        default: rc = tr_v_str(n->text, n->len, out); break;
        }
    } else {
        /* Aliases can stack shared subtrees deeper than the text nests. */
        if (depth >= TR_YAML_MAX_DEPTH)
            return tr_diag_set(d, TR_EDEPTH, doc->name, n->line, n->col,
                               "value nests deeper than %d levels once aliases are expanded",
                               TR_YAML_MAX_DEPTH);
        if (n->kind == TR_YAML_SEQ) {
            rc = tr_v_arr(n->n, out);
            for (size_t i = 0; !rc && i < n->n; i++) {
                tr_value item;
                rc = convert(doc, n->kids[i], &item, depth + 1, d);
                if (!rc) rc = tr_arr_push(out, item);
            }
        } else {
            rc = tr_v_rec(n->n, out);
            for (size_t i = 0; !rc && i < n->n; i++) {
                const struct tr_yaml_node *k = n->kids[2 * i];
                tr_value val;
                rc = convert(doc, n->kids[2 * i + 1], &val, depth + 1, d);
                if (!rc) rc = tr_rec_set(out, k->text, k->len, val);
            }
        }
    }
    if (rc) {
        tr_value_unref(*out);
        *out = tr_v_null();
        return rc;
    }
    if (n->memo) {
        n->memo->v = tr_value_ref(*out);
        n->memo->done = 1;
    }
    return 0;
}

int tr_yaml_value(const struct tr_yaml_doc *doc, const struct tr_yaml_node *n, tr_value *out,
                  struct tr_diag *d) {
    return convert(doc, n, out, 0, d);
}
