/* kv_cmd.c - see kv_cmd.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "connectors/kv_cmd.h"
#include "core/fmtnum.h"

const char *tr_kv_op_name(enum tr_kv_op op) {
    static const char *const names[] = {"get", "put", "delete", "scan", "cas"};
    return names[op];
}

static bool get_bytes(const tr_value *rec, const char *k, MDB_val *out) {
    const tr_value *v = rec->type == TR_REC ? tr_rec_get_cstr(rec, k) : NULL;
    if (!v || (v->type != TR_STR && v->type != TR_BIN)) return false;
    out->mv_data = v->as.s->data;
    out->mv_size = v->as.s->len;
    return true;
}

#define SHOW_MAX 512   /* bytes shown; the message is cut before anyway */

/* Rust's Debug of a str: quoted, \" \\ \n \r \t \0 and \u{..} escapes. */
static int rust_str_debug(const struct tr_str *s, struct tr_buf *b) {
    int rc = tr_buf_putc(b, '"');
    for (uint32_t i = 0; !rc && i < s->len && b->len <= SHOW_MAX; i++) {
        unsigned char ch = (unsigned char)s->data[i];
        switch (ch) {
        case '"': rc = tr_buf_append(b, "\\\"", 2); break;
        case '\\': rc = tr_buf_append(b, "\\\\", 2); break;
        case '\n': rc = tr_buf_append(b, "\\n", 2); break;
        case '\r': rc = tr_buf_append(b, "\\r", 2); break;
        case '\t': rc = tr_buf_append(b, "\\t", 2); break;
        case 0: rc = tr_buf_append(b, "\\0", 2); break;
        default:
            rc = ch < 0x20 || ch == 0x7f ? tr_buf_printf(b, "\\u{%x}", ch) : tr_buf_putc(b, (char)ch);
        }
    }
    return rc ? rc : tr_buf_putc(b, '"');
}

static int show(const tr_value *v, struct tr_buf *b, bool top, unsigned depth) {
    char num[TR_FMTNUM_MAX];
    if (b->len > SHOW_MAX || depth > 64) return tr_buf_append(b, "...", 3);
    switch (v->type) {
    case TR_NULL: return top ? tr_buf_append(b, "null", 4) : tr_buf_append(b, "Static(Null)", 12);
    case TR_BOOL: return tr_buf_printf(b, top ? "%s" : "Static(Bool(%s))", v->as.b ? "true" : "false");
    case TR_I64: return tr_buf_printf(b, top ? "%lld" : "Static(I64(%lld))", (long long)v->as.i);
    case TR_U64: return tr_buf_printf(b, top ? "%llu" : "Static(U64(%llu))", (unsigned long long)v->as.u);
    case TR_F64: {
        size_t n = tr_fmtnum_display(v->as.f, num);
        /* Debug keeps a fraction on integral values ("1.0") */
        bool plain = !top && !strpbrk(num, ".ani") && n + 2 < sizeof num;
        return tr_buf_printf(b, top ? "%s" : "Static(F64(%s%s))", num, plain ? ".0" : "");
    }
    case TR_STR:
        if (top) return tr_buf_append(b, v->as.s->data, v->as.s->len < SHOW_MAX ? v->as.s->len : SHOW_MAX);
        return tr_buf_append(b, "String(", 7) || rust_str_debug(v->as.s, b) || tr_buf_putc(b, ')');
    case TR_BIN: {
        int rc = tr_buf_append(b, top ? "[" : "Bytes([", top ? 1 : 7);
        for (uint32_t i = 0; !rc && i < v->as.s->len && b->len <= SHOW_MAX; i++)
            rc = tr_buf_printf(b, "%s%u", i ? ", " : "", (unsigned char)v->as.s->data[i]);
        return rc ? rc : tr_buf_append(b, top ? "]" : "])", top ? 1 : 2);
    }
    case TR_ARR: {
        int rc = tr_buf_append(b, top ? "[" : "Array([", top ? 1 : 7);
        for (uint32_t i = 0; !rc && i < tr_arr_len(v); i++) {
            if (i) rc = tr_buf_append(b, ", ", 2);
            if (!rc) rc = show(tr_arr_at(v, i), b, false, depth + 1);
            if (b->len > SHOW_MAX) break;
        }
        return rc ? rc : tr_buf_append(b, top ? "]" : "])", top ? 1 : 2);
    }
    case TR_REC: {
        int rc = tr_buf_append(b, top ? "{" : "Object({", top ? 1 : 8);
        for (uint32_t i = 0; !rc && i < tr_rec_len(v); i++) {
            const struct tr_field *f = tr_rec_at(v, i);
            if (i) rc = tr_buf_append(b, ", ", 2);
            if (!rc) rc = rust_str_debug(f->key, b);
            if (!rc) rc = tr_buf_append(b, ": ", 2);
            if (!rc) rc = show(&f->val, b, false, depth + 1);
            if (b->len > SHOW_MAX) break;
        }
        return rc ? rc : tr_buf_append(b, top ? "}" : "})", top ? 1 : 2);
    }
    }
    return 0;
}

int tr_kv_display(const tr_value *v, struct tr_buf *b) {
    size_t start = b->len;
    if (show(v, b, true, 0)) return -ENOMEM;
    /* deep values close every level they opened past the cut: cut again */
    if (b->len - start > SHOW_MAX + 3) {
        tr_buf_truncate(b, start + SHOW_MAX);
        if (tr_buf_append(b, "...", 3)) return -ENOMEM;
    }
    return 0;
}

int tr_kv_parse(const tr_value *v, struct tr_kv_cmd *c, char *msg, size_t n) {
    static const char *const names[] = {"get", "put", "cas", "delete", "scan"};
    static const enum tr_kv_op ops[] = {TR_KV_GET, TR_KV_PUT, TR_KV_CAS, TR_KV_DELETE, TR_KV_SCAN};
    const tr_value *body = NULL;
    memset(c, 0, sizeof *c);
    for (size_t i = 0; v->type == TR_REC && i < 5 && !body; i++) {
        body = tr_rec_get_cstr(v, names[i]);
        c->op = ops[i];
    }
    if (!body) {
        struct tr_buf b;
        tr_buf_init(&b);
        if (tr_kv_display(v, &b)) tr_buf_reset(&b);
        snprintf(msg, n, "Invalid KV command: %.*s%s", (int)(b.len > 400 ? 400 : b.len),
                 b.data ? b.data : "", b.len > 400 ? "..." : "");
        tr_buf_fini(&b);
        return -1;
    }
    if (c->op == TR_KV_SCAN) {
        c->has_start = get_bytes(body, "start", &c->start);
        c->has_end = get_bytes(body, "end", &c->end);
        return 0;
    }
    if (!get_bytes(body, "key", &c->key)) {
        snprintf(msg, n, "Missing or invalid `key` field");
        return -1;
    }
    if (body->type == TR_REC) {
        c->value = tr_rec_get_cstr(body, "value");
        c->old = tr_rec_get_cstr(body, "old");
        c->new_ = tr_rec_get_cstr(body, "new");
    }
    if (c->op == TR_KV_PUT && !c->value) {
        snprintf(msg, n, "Missing `value` field");
        return -1;
    }
    return 0;
}
