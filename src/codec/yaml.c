/* yaml.c - 0.11's `yaml` codec: one YAML document per frame <-> a value.
 *
 * Decoding reads with libyaml and types scalars as 0.11 (serde_yaml 0.8)
 * does: a plain scalar is null for ~, null or nothing, a bool for exactly
 * true/false, an integer for decimal (leading zeros make it a string),
 * 0x/0o/0b forms, a float for .inf/.nan forms and finite decimals, else a
 * string; quoted and block scalars are strings; !!bool/!!int/!!float/!!null
 * tags force their type (an error when the text is not one). Mapping keys
 * are the scalar's text. Aliases are expanded (values are shared, not
 * copied). Bounds: nesting 128 deep as serde_yaml, at most 2^20 nodes after
 * alias expansion, one document, no recursion. Integers beyond 64 bits are
 * an error. Encoding writes serde_yaml 0.8's layout: "---", block style with
 * two-space indents, strings double-quoted only where they would read back
 * as something else, binaries as lists of byte values, ending in a newline.
 */
#include "codec/codec_int.h"

#include <errno.h>
#include <string.h>
#include <yaml.h>

#include "codec/json.h"
#include "core/alloc.h"

#define YAML_MAX_DEPTH 128
#define YAML_MAX_NODES (1u << 20)

struct frame {
    tr_value v;         /* the array or record being filled */
    tr_value key;       /* a record's pending key (TR_STR) or TR_NULL */
    uint64_t nodes;     /* expanded nodes in it so far */
    char *anchor;       /* to register when it closes, or NULL */
};

struct anchor {
    char *name;
    tr_value v;
    uint64_t nodes;
};

struct dec {
    struct frame st[YAML_MAX_DEPTH + 1];
    int depth;
    struct anchor *anchors;
    size_t nanchors, anchors_cap;
    tr_value root;
    int have_root;
    uint64_t nodes;
    struct tr_diag *d;
};

static int err_at(struct dec *x, const yaml_mark_t *m, int rc, const char *what) {
    return tr_diag_set(x->d, rc, NULL, (int)m->line + 1, (int)m->column + 1, "yaml: %s", what);
}

static int ieq3(const char *s, const char *a, const char *b, const char *c) {
    return !strcmp(s, a) || !strcmp(s, b) || !strcmp(s, c);
}

/* Rust's from_str_radix on s (optionally after a leading '-'). */
static int radix(const char *s, int base, int neg, tr_value *out) {
    if (!*s) return -1;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : UINT64_MAX;
    for (; *s; s++) {
        int dg = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 :
                 *s >= 'A' && *s <= 'F' ? *s - 'A' + 10 : 99;
        if (dg >= base || v > (lim - (uint64_t)dg) / (uint64_t)base) return -1;
        v = v * (uint64_t)base + (uint64_t)dg;
    }
    *out = neg ? tr_v_int((int64_t)(0 - v)) : tr_v_uint(v);
    return 0;
}

/* Rust's u64/i64 from_str: [+-]?digits. 0, -1 not a number, -2 out of range. */
static int decimal(const char *s, tr_value *out) {
    int neg = *s == '-';
    if (*s == '+' || *s == '-') s++;
    if (!*s) return -1;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9') return -1;
    if (radix(s, 10, neg, out)) return -2;
    return 0;
}

/* serde_yaml 0.8's visit_untagged_str. 0, -2 for an integer beyond 64 bits, -ENOMEM. */
static int plain(const char *s, size_t n, tr_value *out) {
    if (n == 0 || !strcmp(s, "~") || !strcmp(s, "null")) return *out = tr_v_null(), 0;
    if (!strcmp(s, "true")) return *out = tr_v_bool(1), 0;
    if (!strcmp(s, "false")) return *out = tr_v_bool(0), 0;
    static const struct {
        const char *pre;
        int base, neg;
    } forms[] = {{"0x", 16, 0}, {"+0x", 16, 0}, {"-0x", 16, 1}, {"0o", 8, 0},
                 {"+0o", 8, 0}, {"-0o", 8, 1},  {"0b", 2, 0},   {"+0b", 2, 0}, {"-0b", 2, 1}};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        size_t k = strlen(forms[i].pre);
        if (!strncmp(s, forms[i].pre, k) && !radix(s + k, forms[i].base, forms[i].neg, out)) return 0;
    }
    int leading_zero = n > 1 && s[0] == '0';
    for (size_t i = 0; leading_zero && i < n; i++) leading_zero = s[i] >= '0' && s[i] <= '9';
    if (leading_zero) return tr_v_str(s, n, out);
    int rc = decimal(s, out);
    if (rc == 0 || rc == -2) return rc;
    const char *t = s;
    while (*t == '+') t++;
    if (ieq3(t, ".inf", ".Inf", ".INF")) return *out = tr_v_float(__builtin_inf()), 0;
    if (ieq3(s, "-.inf", "-.Inf", "-.INF")) return *out = tr_v_float(-__builtin_inf()), 0;
    if (ieq3(s, ".nan", ".NaN", ".NAN")) return *out = tr_v_float(__builtin_nan("")), 0;
    double f;
    rc = tr_codec_f64(s, n, &f);
    if (rc == -ENOMEM) return rc;
    if (rc == 0 && f - f == 0) return *out = tr_v_float(f), 0;
    return tr_v_str(s, n, out);
}

/* A scalar event's value; 0, or an error code (d filled). */
static int scalar(struct dec *x, const yaml_event_t *e, tr_value *out) {
    const char *s = (const char *)e->data.scalar.value;
    size_t n = e->data.scalar.length;
    const char *tag = (const char *)e->data.scalar.tag;
    *out = tr_v_null();
    if (strlen(s) != n) return tr_v_str(s, n, out);  /* holds a NUL: only a string can */
    if (tag && !strncmp(tag, "tag:yaml.org,2002:", 18)) {
        const char *t = tag + 18;
        tr_value v = tr_v_null();
        if (!strcmp(t, "bool")) {
            if (strcmp(s, "true") && strcmp(s, "false")) return err_at(x, &e->start_mark, TR_EPARSE, "invalid value, expected a boolean");
            *out = tr_v_bool(s[0] == 't');
            return 0;
        }
        if (!strcmp(t, "int")) {
            if (decimal(s, &v) || (v.type == TR_U64)) return err_at(x, &e->start_mark, TR_EPARSE, "invalid value, expected an integer");
            *out = v;
            return 0;
        }
        if (!strcmp(t, "float")) {
            double f;
            int rc = tr_codec_f64(s, n, &f);
            if (rc == -ENOMEM) return rc;
            if (rc) return err_at(x, &e->start_mark, TR_EPARSE, "invalid value, expected a float");
            *out = tr_v_float(f);
            return 0;
        }
        if (!strcmp(t, "null")) {
            if (strcmp(s, "~") && strcmp(s, "null")) return err_at(x, &e->start_mark, TR_EPARSE, "invalid value, expected null");
            return 0;
        }
        return tr_v_str(s, n, out);
    }
    if (tag || e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return tr_v_str(s, n, out);
    int rc = plain(s, n, out);
    if (rc == -2) return err_at(x, &e->start_mark, TR_EPARSE, "integer does not fit in 64 bits");
    return rc;
}

static int add_anchor(struct dec *x, const char *name, tr_value v, uint64_t nodes) {
    if (tr_grow((void **)&x->anchors, &x->anchors_cap, x->nanchors + 1, sizeof *x->anchors)) return -ENOMEM;
    char *dup = tr_strdup(name);
    if (!dup) return -ENOMEM;
    x->anchors[x->nanchors++] = (struct anchor){dup, tr_value_ref(v), nodes};
    return 0;
}

static const struct anchor *find_anchor(const struct dec *x, const char *name) {
    for (size_t i = x->nanchors; i-- > 0;)  /* the latest definition wins */
        if (!strcmp(x->anchors[i].name, name)) return &x->anchors[i];
    return NULL;
}

/* Place a finished node (takes v) into the open container or as the root. */
static int place(struct dec *x, const yaml_mark_t *m, tr_value v, uint64_t nodes) {
    if (x->depth == 0) {
        x->root = v;
        x->have_root = 1;
        return 0;
    }
    struct frame *f = &x->st[x->depth - 1];
    f->nodes += nodes;
    if (f->v.type == TR_ARR) return tr_arr_push(&f->v, v);
    if (f->key.type == TR_NULL) {
        if (v.type != TR_STR) {
            tr_value_unref(v);
            return err_at(x, m, TR_EPARSE, "mapping key is not a scalar");
        }
        f->key = v;
        return 0;
    }
    struct tr_str *k = f->key.as.s;
    f->key = tr_v_null();
    return tr_rec_set_key(&f->v, k, v);
}

static int on_event(struct dec *x, const yaml_event_t *e) {
    int rc;
    tr_value v;
    const yaml_mark_t *m = &e->start_mark;
    switch (e->type) {
    case YAML_STREAM_START_EVENT:
    case YAML_STREAM_END_EVENT:
    case YAML_DOCUMENT_END_EVENT:
        return 0;
    case YAML_DOCUMENT_START_EVENT:
        if (x->have_root) return err_at(x, m, TR_EPARSE, "more than one document is not supported");
        return 0;
    case YAML_ALIAS_EVENT: {
        const struct anchor *a = find_anchor(x, (const char *)e->data.alias.anchor);
        if (!a) return err_at(x, m, TR_EPARSE, "unknown anchor");
        if ((x->nodes += a->nodes) > YAML_MAX_NODES) return err_at(x, m, TR_ETOOBIG, "too many nodes after expanding aliases");
        if (tr_value_depth(&a->v) + (uint32_t)x->depth > YAML_MAX_DEPTH)
            return err_at(x, m, TR_EDEPTH, "recursion limit exceeded");
        tr_value copy = tr_value_ref(a->v);
        int key_pos = x->depth > 0 && x->st[x->depth - 1].v.type == TR_REC && x->st[x->depth - 1].key.type == TR_NULL;
        if (key_pos && copy.type != TR_STR) {
            /* a key must be text: an aliased scalar gives its text back only
             * when it was read as a string */
            tr_value_unref(copy);
            return err_at(x, m, TR_EPARSE, "mapping key is not a scalar");
        }
        return place(x, m, copy, a->nodes);
    }
    case YAML_SCALAR_EVENT: {
        if (++x->nodes > YAML_MAX_NODES) return err_at(x, m, TR_ETOOBIG, "too many nodes");
        int key_pos = x->depth > 0 && x->st[x->depth - 1].v.type == TR_REC && x->st[x->depth - 1].key.type == TR_NULL;
        if (key_pos) rc = tr_v_str((const char *)e->data.scalar.value, e->data.scalar.length, &v);
        else rc = scalar(x, e, &v);
        if (rc) return rc;
        if (e->data.scalar.anchor && (rc = add_anchor(x, (const char *)e->data.scalar.anchor, v, 1))) {
            tr_value_unref(v);
            return rc;
        }
        return place(x, m, v, 1);
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        if (x->depth >= YAML_MAX_DEPTH) return err_at(x, m, TR_EDEPTH, "recursion limit exceeded");
        if (++x->nodes > YAML_MAX_NODES) return err_at(x, m, TR_ETOOBIG, "too many nodes");
        if (x->depth > 0 && x->st[x->depth - 1].v.type == TR_REC && x->st[x->depth - 1].key.type == TR_NULL)
            return err_at(x, m, TR_EPARSE, "mapping key is not a scalar");
        struct frame *f = &x->st[x->depth];
        int seq = e->type == YAML_SEQUENCE_START_EVENT;
        const yaml_char_t *anchor = seq ? e->data.sequence_start.anchor : e->data.mapping_start.anchor;
        rc = seq ? tr_v_arr(0, &f->v) : tr_v_rec(0, &f->v);
        if (rc) return rc;
        f->key = tr_v_null();
        f->nodes = 1;
        f->anchor = NULL;
        x->depth++;
        if (anchor && !(f->anchor = tr_strdup((const char *)anchor))) return -ENOMEM;
        return 0;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
        struct frame *f = &x->st[--x->depth];
        v = f->v;
        f->v = tr_v_null();
        rc = 0;
        if (f->anchor) rc = add_anchor(x, f->anchor, v, f->nodes);
        tr_free(f->anchor);
        f->anchor = NULL;
        if (rc) {
            tr_value_unref(v);
            return rc;
        }
        return place(x, m, v, f->nodes);
    }
    default:
        return 0;
    }
}

static int y_decode(const char *data, size_t len, uint64_t ingest_ns, tr_value *out,
                    struct tr_diag *d) {
    (void)ingest_ns;
    *out = tr_v_null();
    if (len > TR_CODEC_MAX_FRAME)
        return tr_diag_set(d, TR_ETOOBIG, NULL, 1, 1, "yaml: document of %zu bytes is too large", len);
    struct dec *x = tr_calloc(1, sizeof *x);
    if (!x) return -ENOMEM;
    x->d = d;
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        tr_free(x);
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    int rc = 0, done = 0;
    while (!rc && !done) {
        yaml_event_t e;
        if (!yaml_parser_parse(&p, &e)) {
            if (p.error == YAML_MEMORY_ERROR) rc = -ENOMEM;
            else rc = tr_diag_set(d, TR_EPARSE, NULL, (int)p.problem_mark.line + 1,
                                  (int)p.problem_mark.column + 1, "yaml: %s",
                                  p.problem ? p.problem : "malformed document");
            break;
        }
        done = e.type == YAML_STREAM_END_EVENT;
        rc = on_event(x, &e);
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&p);
    if (!rc && !x->have_root) rc = tr_diag_set(d, TR_EPARSE, NULL, 1, 1, "yaml: EOF while parsing a value");
    while (x->depth > 0) {
        struct frame *f = &x->st[--x->depth];
        tr_value_unref(f->v);
        tr_value_unref(f->key);
        tr_free(f->anchor);
    }
    for (size_t i = 0; i < x->nanchors; i++) {
        tr_free(x->anchors[i].name);
        tr_value_unref(x->anchors[i].v);
    }
    tr_free(x->anchors);
    if (rc) tr_value_unref(x->root);
    else *out = x->root;
    tr_free(x);
    return rc;
}

/* --- encoding: yaml-rust 0.4's emitter as serde_yaml 0.8 drives it --- */

static int rust_i64(const char *s, size_t n) {
    size_t i = n && (s[0] == '+' || s[0] == '-');
    if (i == n) return 0;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;  /* out-of-range digits still read back as a number (float) */
}

/* The escape for a YAML line break that is not ASCII at s (U+0085, U+2028,
 * U+2029: a reader folds them even inside quotes), or NULL. */
static const char *line_break(const char *s, size_t n) {
    if (n >= 2 && !memcmp(s, "\xc2\x85", 2)) return "\\N";
    if (n >= 3 && !memcmp(s, "\xe2\x80\xa8", 3)) return "\\L";
    if (n >= 3 && !memcmp(s, "\xe2\x80\xa9", 3)) return "\\P";
    return NULL;
}

/* yaml-rust's need_quotes, and also every control character and any text
 * our own reader (0.11's typing) would not take back as this string, such
 * as 0b1 or +.inf, which 0.11 writes bare and then misreads. */
static int need_quotes(const char *s, size_t n) {
    static const char *const words[] = {"yes", "Yes", "YES", "no", "No", "NO", "True", "TRUE", "true",
                                         "False", "FALSE", "false", "on", "On", "ON", "off", "Off",
                                         "OFF", "null", "Null", "NULL", "~"};
    if (n == 0 || s[0] == ' ' || s[n - 1] == ' ' || strchr("&*?|-<>=!%@.", s[0]) || (n >= 2 && !memcmp(s, "0x", 2)))
        return 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (strchr(":{}[],#`\"'\\", c) || c < 0x20 || c == 0x7f || line_break(s + i, n - i)) return 1;
    }
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i]) == n && !memcmp(words[i], s, n)) return 1;
    double f;
    if (rust_i64(s, n) || tr_codec_f64(s, n, &f) == 0) return 1;
    tr_value v = tr_v_null();
    int rc = strlen(s) == n ? plain(s, n, &v) : 0;
    int typed = rc == -2 || (rc == 0 && v.type != TR_STR);
    tr_value_unref(v);
    return typed || rc == -ENOMEM;
}

static int put_str(struct tr_buf *b, const char *s, size_t n) {
    if (!need_quotes(s, n)) return tr_buf_append(b, s, n);
    int rc = tr_buf_putc(b, '"');
    for (size_t i = 0; !rc && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') rc = tr_buf_append(b, "\\\"", 2);
        else if (c == '\\') rc = tr_buf_append(b, "\\\\", 2);
        else if (c == 8) rc = tr_buf_append(b, "\\b", 2);
        else if (c == '\t') rc = tr_buf_append(b, "\\t", 2);
        else if (c == '\n') rc = tr_buf_append(b, "\\n", 2);
        else if (c == 12) rc = tr_buf_append(b, "\\f", 2);
        else if (c == '\r') rc = tr_buf_append(b, "\\r", 2);
        else if (c < 0x20 || c == 0x7f) rc = tr_buf_printf(b, "\\u%04x", c);
        else if (line_break(s + i, n - i)) {
            rc = tr_buf_append(b, line_break(s + i, n - i), 2);
            i += c == 0xc2 ? 1 : 2;
        }
        else rc = tr_buf_putc(b, (char)c);
    }
    return rc ? rc : tr_buf_putc(b, '"');
}

static int indent(struct tr_buf *b, int level) {
    for (int i = 0; i < level; i++)
        if (tr_buf_append(b, "  ", 2)) return -ENOMEM;
    return 0;
}

static int node(const tr_value *v, struct tr_buf *b, int *level);

static int is_container(const tr_value *v) { return v->type == TR_ARR || v->type == TR_REC || v->type == TR_BIN; }
static int is_empty(const tr_value *v) {
    return v->type == TR_ARR ? tr_arr_len(v) == 0 : v->type == TR_REC ? tr_rec_len(v) == 0 : v->as.s->len == 0;
}

static int val(const tr_value *v, struct tr_buf *b, int *level, int inline_) {
    int rc;
    if (is_container(v) && !inline_ && !is_empty(v)) {
        if ((rc = tr_buf_putc(b, '\n')) || (rc = indent(b, *level + 1))) return rc;
    } else if ((rc = tr_buf_putc(b, ' '))) {
        return rc;
    }
    return node(v, b, level);
}

static int node(const tr_value *v, struct tr_buf *b, int *level) {
    int rc = 0;
    switch (v->type) {
    case TR_NULL: return tr_buf_putc(b, '~');
    case TR_BOOL: return tr_buf_printf(b, "%s", v->as.b ? "true" : "false");
    case TR_I64: return tr_buf_printf(b, "%lld", (long long)v->as.i);
    case TR_U64: return tr_buf_printf(b, "%llu", (unsigned long long)v->as.u);
    case TR_F64:
        if (v->as.f != v->as.f) return tr_buf_append(b, ".nan", 4);
        if (v->as.f - v->as.f != 0) return v->as.f > 0 ? tr_buf_append(b, ".inf", 4) : tr_buf_append(b, "-.inf", 5);
        return tr_json_encode(v, b);
    case TR_STR: return put_str(b, v->as.s->data, v->as.s->len);
    case TR_BIN:
    case TR_ARR: {
        uint32_t n = v->type == TR_BIN ? v->as.s->len : tr_arr_len(v);
        if (n == 0) return tr_buf_append(b, "[]", 2);
        ++*level;
        for (uint32_t i = 0; !rc && i < n; i++) {
            if (i > 0 && ((rc = tr_buf_putc(b, '\n')) || (rc = indent(b, *level)))) break;
            if ((rc = tr_buf_putc(b, '-'))) break;
            if (v->type == TR_BIN) rc = tr_buf_printf(b, " %u", (unsigned char)v->as.s->data[i]);
            else rc = val(tr_arr_at(v, i), b, level, 1);
        }
        --*level;
        return rc;
    }
    case TR_REC: {
        if (tr_rec_len(v) == 0) return tr_buf_append(b, "{}", 2);
        ++*level;
        for (uint32_t i = 0; !rc && i < tr_rec_len(v); i++) {
            const struct tr_field *f = tr_rec_at(v, i);
            if (i > 0 && ((rc = tr_buf_putc(b, '\n')) || (rc = indent(b, *level)))) break;
            if ((rc = put_str(b, f->key->data, f->key->len)) || (rc = tr_buf_putc(b, ':'))) break;
            rc = val(&f->val, b, level, 0);
        }
        --*level;
        return rc;
    }
    }
    return TR_EINVAL_CFG;
}

static int y_encode(const tr_value *v, struct tr_buf *out) {
    size_t mark = out->len;
    int level = -1;
    int rc = tr_buf_append(out, "---\n", 4);
    if (!rc) rc = node(v, out, &level);
    if (!rc) rc = tr_buf_putc(out, '\n');
    if (rc) tr_buf_truncate(out, mark);
    return rc;
}

const struct tr_codec tr_codec_yaml = {
    .name = "yaml", .decode = y_decode, .encode = y_encode, .view = NULL,
};
