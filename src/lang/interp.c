/* interp.c - evaluates a compiled tree against one event.
 *
 * A recursive tree walker over nodes that compile.c already resolved: locals
 * are slots, functions are pointers, constants are literals, so nothing is
 * looked up by name per event. Paths are resolved to borrowed pointers into
 * the event, so reading a field allocates nothing. It is not the compiler:
 * it trusts the tree.
 *
 * The one rule for results, in every helper here that fills an out value:
 * on success *out holds exactly one owned reference; on any other return
 * (an error, or the control flow of emit, drop and recur) *out is TR_NULL
 * and owns nothing - a half-built record or array is released before the
 * error goes up. tr_eval enforces this at its single exit, so a failing
 * field of a literal, a failing built-in or extractor never leaks what was
 * built so far (a remote memory leak otherwise: one per bad event).
 * Values never get deeper than TR_VALUE_MAX_DEPTH (value.h); a store that
 * would go deeper is a located runtime error, not a crash later on.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "lang/aggr_int.h"
#include "lang/bytes_int.h"
#include "lang/extract_int.h"
#include "lang/interp_int.h"
#include "lang/std_int.h"

#define MAX_EVAL_DEPTH 512

/* --- errors --- */

const char *tr_lang_type_name(const tr_value *v) {
    switch (v->type) {
    case TR_NULL: return "null";
    case TR_BOOL: return "boolean";
    case TR_I64:
    case TR_U64: return "integer";
    case TR_F64: return "float";
    case TR_STR: return "string";
    case TR_BIN: return "bytes";
    case TR_ARR: return "array";
    case TR_REC: return "record";
    default: return "?";
    }
}

static int fail(struct tr_env *E, struct tr_span outer, struct tr_span inner, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct tr_env *E, struct tr_span outer, struct tr_span inner, const char *fmt, ...) {
    struct tr_lang_err *e = E->err;
    if (e && !e->set) {
        e->set = 1;
        e->level = TR_LVL_ERROR;
        e->has_pos = 1;
        e->inner = inner;
        e->outer = outer;
        e->hint[0] = 0;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return TR_ERUNTIME;
}

/* An extractor that stopped at a regex limit (TR_ERUNTIME) has no
 * environment to report into: the event would go to err without a word.
 * Name the limit here, at the pattern that hit it. */
static int run_extractor(struct tr_env *E, struct tr_span sp, const struct tr_extractor *x,
                         const tr_value *v, int need, tr_value *out) {
    int rc = tr_extractor_run(x, v, need, out);
    if (rc == TR_ERUNTIME) {
        const char *why = tr_extractor_error(x);
        return fail(E, sp, sp, "%s", why && *why ? why : "extractor failed");
    }
    return rc;
}

static int oom(struct tr_env *E, const struct tr_node *n) {
    fail(E, n->sp, n->sp, "out of memory");
    return -ENOMEM;
}

/* A failed store into a container: too deep, or out of memory. */
static int store_fail(struct tr_env *E, const struct tr_node *n, int rc) {
    if (rc == TR_EDEPTH)
        return fail(E, n->sp, n->sp, "Value nested too deeply, more than %d levels of arrays and records",
                    TR_VALUE_MAX_DEPTH);
    return oom(E, n);
}

static int type_conflict(struct tr_env *E, struct tr_span outer, struct tr_span inner,
                         const tr_value *got, const char *expected) {
    return fail(E, outer, inner, "Conflicting types, got %s but expected %s",
                tr_lang_type_name(got), expected);
}

/* --- numbers --- */

static int as_u64(const tr_value *v, uint64_t *u) {
    if (v->type == TR_U64) { *u = v->as.u; return 1; }
    if (v->type == TR_I64 && v->as.i >= 0) { *u = (uint64_t)v->as.i; return 1; }
    return 0;
}
static int as_i64(const tr_value *v, int64_t *i) {
    if (v->type == TR_I64) { *i = v->as.i; return 1; }
    return 0;
}
static int as_f64(const tr_value *v, double *f) {
    switch (v->type) {
    case TR_I64: *f = (double)v->as.i; return 1;
    case TR_U64: *f = (double)v->as.u; return 1;
    case TR_F64: *f = v->as.f; return 1;
    default: return 0;
    }
}

static const char *binop_name(int op) {
    static const char *names[] = {"or", "xor", "and", "^", "&", "==", "!=", ">=", ">", "<=", "<",
                                  ">>", ">>>", "<<", "+", "-", "*", "/", "%"};
    return names[op];
}

static int bad_binary(struct tr_env *E, const struct tr_node *n, const tr_value *a, const tr_value *b) {
    return fail(E, n->sp, n->sp, "The binary operation `%s` is not defined for the type `%s` and `%s`",
                binop_name(n->op), tr_lang_type_name(a), tr_lang_type_name(b));
}

static int cmp_bytes(const struct tr_str *a, const struct tr_str *b) {
    uint32_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->data, b->data, n);
    if (c) return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

static int cmp_result(int op, int c) {
    switch (op) {
    case B_GT: return c > 0;
    case B_GTE: return c >= 0;
    case B_LT: return c < 0;
    default: return c <= 0;
    }
}

/* Tremor's binary operators with its typing rules. a and b are borrowed. */
static int exec_binary(struct tr_env *E, const struct tr_node *n, const tr_value *a,
                       const tr_value *b, tr_value *out) {
    int op = n->op;
    if (op == B_EQ || op == B_NEQ) {
        /* Tremor compares a binary and a string by their bytes */
        int mixed = (a->type == TR_STR && b->type == TR_BIN) || (a->type == TR_BIN && b->type == TR_STR);
        int eq = mixed ? cmp_bytes(a->as.s, b->as.s) == 0 : tr_value_eq(a, b);
        *out = tr_v_bool(op == B_EQ ? eq : !eq);
        return 0;
    }
    if (a->type == TR_BOOL && b->type == TR_BOOL) {
        int x = a->as.b, y = b->as.b;
        switch (op) {
        case B_AND: *out = tr_v_bool(x && y); return 0;
        case B_OR: *out = tr_v_bool(x || y); return 0;
        case B_XOR:
        case B_BITXOR: *out = tr_v_bool(x != y); return 0;
        case B_BITAND: *out = tr_v_bool(x & y); return 0;
        default: return bad_binary(E, n, a, b);
        }
    }
    int as = a->type == TR_STR || a->type == TR_BIN, bs = b->type == TR_STR || b->type == TR_BIN;
    if (as && bs) {
        if (op == B_GT || op == B_GTE || op == B_LT || op == B_LTE) {
            *out = tr_v_bool(cmp_result(op, cmp_bytes(a->as.s, b->as.s)));
            return 0;
        }
        if (op == B_ADD && a->type == TR_STR && b->type == TR_STR) {
            struct tr_str *s = tr_str_alloc((size_t)a->as.s->len + b->as.s->len);
            if (!s) return oom(E, n);
            memcpy(s->data, a->as.s->data, a->as.s->len);
            memcpy(s->data + a->as.s->len, b->as.s->data, b->as.s->len);
            *out = tr_v_strobj(s);
            return 0;
        }
        return bad_binary(E, n, a, b);
    }
    uint64_t ul, ur;
    int64_t il, ir;
    double fl, fr;
    if (as_u64(a, &ul) && as_u64(b, &ur)) {
        switch (op) {
        case B_BITAND: *out = tr_v_uint(ul & ur); return 0;
        case B_BITXOR: *out = tr_v_uint(ul ^ ur); return 0;
        case B_GT: *out = tr_v_bool(ul > ur); return 0;
        case B_GTE: *out = tr_v_bool(ul >= ur); return 0;
        case B_LT: *out = tr_v_bool(ul < ur); return 0;
        case B_LTE: *out = tr_v_bool(ul <= ur); return 0;
        case B_ADD:
            if (ul + ur < ul) return bad_binary(E, n, a, b);
            *out = tr_v_uint(ul + ur);
            return 0;
        case B_SUB:
            if (ul >= ur) {
                *out = tr_v_uint(ul - ur);
                return 0;
            }
            if (ur - ul > (uint64_t)INT64_MAX) return bad_binary(E, n, a, b);
            *out = tr_v_int(-(int64_t)(ur - ul));
            return 0;
        case B_MUL:
            if (ul && ur > UINT64_MAX / ul) return bad_binary(E, n, a, b);
            *out = tr_v_uint(ul * ur);
            return 0;
        case B_DIV: *out = tr_v_float((double)ul / (double)ur); return 0;
        case B_MOD:
            if (!ur) return bad_binary(E, n, a, b);
            *out = tr_v_uint(ul % ur);
            return 0;
        case B_RSHIFT:
        case B_RSHIFTU:
            if (ur >= 64) return fail(E, n->sp, n->sp, "RHS value is larger than or equal to the number of bits in LHS value");
            *out = tr_v_uint(ul >> ur);
            return 0;
        case B_LSHIFT:
            if (ur >= 64) return fail(E, n->sp, n->sp, "RHS value is larger than or equal to the number of bits in LHS value");
            *out = tr_v_uint(ul << ur);
            return 0;
        default: return bad_binary(E, n, a, b);
        }
    }
    if (as_i64(a, &il) && as_i64(b, &ir)) {
        switch (op) {
        case B_BITAND: *out = tr_v_int(il & ir); return 0;
        case B_BITXOR: *out = tr_v_int(il ^ ir); return 0;
        case B_GT: *out = tr_v_bool(il > ir); return 0;
        case B_GTE: *out = tr_v_bool(il >= ir); return 0;
        case B_LT: *out = tr_v_bool(il < ir); return 0;
        case B_LTE: *out = tr_v_bool(il <= ir); return 0;
        case B_ADD: {
            int64_t r;
            if (__builtin_add_overflow(il, ir, &r)) return bad_binary(E, n, a, b);
            *out = tr_v_int(r);
            return 0;
        }
        case B_SUB: {
            int64_t r;
            if (__builtin_sub_overflow(il, ir, &r)) return bad_binary(E, n, a, b);
            *out = tr_v_int(r);
            return 0;
        }
        case B_MUL: {
            int64_t r;
            if (__builtin_mul_overflow(il, ir, &r)) return bad_binary(E, n, a, b);
            *out = tr_v_int(r);
            return 0;
        }
        case B_DIV: *out = tr_v_float((double)il / (double)ir); return 0;
        case B_MOD:
            if (!ir || (ir == -1 && il == INT64_MIN)) return bad_binary(E, n, a, b);
            *out = tr_v_int(il % ir);
            return 0;
        case B_RSHIFT:
            if (ir < 0 || ir >= 64) return fail(E, n->sp, n->sp, "RHS value is larger than or equal to the number of bits in LHS value");
            *out = tr_v_int(il >> ir);
            return 0;
        case B_RSHIFTU:
            if (ir < 0 || ir >= 64) return fail(E, n->sp, n->sp, "RHS value is larger than or equal to the number of bits in LHS value");
            *out = tr_v_int((int64_t)((uint64_t)il >> ir));
            return 0;
        case B_LSHIFT:
            if (ir < 0 || ir >= 64) return fail(E, n->sp, n->sp, "RHS value is larger than or equal to the number of bits in LHS value");
            *out = tr_v_int((int64_t)((uint64_t)il << ir));
            return 0;
        default: return bad_binary(E, n, a, b);
        }
    }
    if (as_f64(a, &fl) && as_f64(b, &fr)) {
        switch (op) {
        case B_GT: *out = tr_v_bool(fl > fr); return 0;
        case B_GTE: *out = tr_v_bool(fl >= fr); return 0;
        case B_LT: *out = tr_v_bool(fl < fr); return 0;
        case B_LTE: *out = tr_v_bool(fl <= fr); return 0;
        case B_ADD: *out = tr_v_float(fl + fr); return 0;
        case B_SUB: *out = tr_v_float(fl - fr); return 0;
        case B_MUL: *out = tr_v_float(fl * fr); return 0;
        case B_DIV: *out = tr_v_float(fl / fr); return 0;
        default: return bad_binary(E, n, a, b);
        }
    }
    return bad_binary(E, n, a, b);
}

static int exec_unary(struct tr_env *E, const struct tr_node *n, const tr_value *v, tr_value *out) {
    static const char *names[] = {"+", "-", "not", "!"};
    uint64_t u;
    if (v->type == TR_F64) {
        if (n->op == U_MINUS) { *out = tr_v_float(-v->as.f); return 0; }
        if (n->op == U_PLUS) { *out = *v; return 0; }
    } else if (as_u64(v, &u)) {
        if (n->op == U_MINUS && u <= (uint64_t)INT64_MAX) { *out = tr_v_int(-(int64_t)u); return 0; }
        if (n->op == U_PLUS) { *out = *v; return 0; }
        if (n->op == U_BITNOT) { *out = tr_v_uint(~u); return 0; }
    } else if (v->type == TR_I64) {
        if (n->op == U_MINUS && v->as.i != INT64_MIN) { *out = tr_v_int(-v->as.i); return 0; }
        if (n->op == U_PLUS) { *out = *v; return 0; }
        if (n->op == U_BITNOT) { *out = tr_v_int(~v->as.i); return 0; }
    } else if (v->type == TR_BOOL) {
        if (n->op == U_NOT || n->op == U_BITNOT) { *out = tr_v_bool(!v->as.b); return 0; }
    }
    return fail(E, E->folding ? tr_span_expand(n->sp, 2) : n->sp, E->folding || !n->a ? n->sp : n->a->sp,
                "The unary operation `%s` is not defined for the type `%s`", names[n->op],
                tr_lang_type_name(v));
}

/* --- paths --- */

static const char *root_word(int root) {
    switch (root) {
    case R_EVENT: return "event";
    case R_META: return "global";
    case R_STATE: return "state";
    default: return "local";
    }
}

/* Index value to array position, or an error located at seg. */
static int to_index(struct tr_env *E, const struct tr_node *path, const struct tr_node *seg,
                    const tr_value *k, uint32_t len, size_t *idx) {
    uint64_t u;
    if (as_u64(k, &u)) {
        *idx = u > SIZE_MAX ? SIZE_MAX : (size_t)u;
        return 0;
    }
    if (k->type == TR_I64) {
        return fail(E, path->sp, seg->sp,
                    "Bad array index, got `%lld` but expected an index in the range 0:%u",
                    (long long)k->as.i, len);
    }
    return type_conflict(E, path->sp, seg->sp, k, "integer");
}

/* Resolve path n. *res points into the data (borrowed) or at *tmp (owned,
 * for subslices). quiet: missing keys / bad types give 1 instead of errors. */
static int resolve(struct tr_env *E, const struct tr_node *n, const tr_value **res, tr_value *tmp,
                   int quiet) {
    const tr_value *cur;
    *tmp = tr_v_null();
    switch (n->op) {
    case R_EVENT: cur = E->event; break;
    case R_META: cur = E->meta; break;
    case R_STATE: cur = E->state; break;
    case R_ARGS: cur = E->args; break;
    case R_GROUP: cur = E->group; break;
    case R_WINDOW: cur = E->window; break;
    case R_CONST: cur = &n->lit; break;
    default:
        if (n->slot < 0 || !E->set[n->slot]) {
            if (quiet) return 1;
            return fail(E, n->sp, n->nsp[0], "Trying to access a non existing local key `%s`",
                        n->name ? n->name->data : "?");
        }
        cur = &E->locals[n->slot];
        break;
    }
    static const tr_value nullv = {.type = TR_NULL};
    if (!cur) cur = &nullv;
    /* a subslice in progress: [lo, hi) of cur's items */
    int sliced = 0;
    uint32_t lo = 0, hi = 0;
    int rc = 0;
    for (uint32_t i = 0; i < n->n; i++) {
        const struct tr_node *s = n->v[i];
        if (s->kind == S_FIELD) {
            if (cur->type == TR_REC && !sliced) {
                uint32_t hint = atomic_load_explicit(&s->hint, memory_order_relaxed), was = hint;
                const tr_value *v = tr_rec_get_hinted(cur, s->name->data, s->name->len, &hint);
                if (hint != was)
                    atomic_store_explicit(&((struct tr_node *)s)->hint, hint, memory_order_relaxed);
                if (!v) {
                    if (quiet) { rc = 1; goto out; }
                    rc = fail(E, n->sp, s->sp, "Trying to access a non existing %s key `%s`",
                              root_word(n->op), s->name->data);
                    goto out;
                }
                cur = v;
                continue;
            }
            if (quiet) { rc = 1; goto out; }
            static const tr_value arrv = {.type = TR_ARR};
            rc = type_conflict(E, n->sp, s->sp, sliced ? &arrv : cur, "record");
            goto out;
        }
        if (s->kind == S_IDX) {
            tr_value k;
            const tr_value *kp;
            if (s->a->kind == N_LIT) {
                kp = &s->a->lit;
                k = tr_v_null();
            } else {
                if ((rc = tr_eval(E, s->a, &k))) goto out;
                kp = &k;
            }
            if (cur->type == TR_ARR) {
                uint32_t len = sliced ? hi - lo : tr_arr_len(cur);
                size_t idx;
                rc = to_index(E, n, s->a->kind == N_LIT ? s->a : s, kp, len, &idx);
                if (rc) {
                    tr_value_unref(k);
                    if (quiet) { E->err->set = 0; rc = 1; }
                    goto out;
                }
                tr_value_unref(k);
                if (idx >= len) {
                    if (quiet) { rc = 1; goto out; }
                    rc = fail(E, n->sp, s->sp,
                              "Array index out of bounds, got index %zu but expected an index in the range 0:%u",
                              idx, len);
                    goto out;
                }
                cur = tr_arr_at(cur, (uint32_t)(lo + idx));
                sliced = 0;
                lo = 0;
                continue;
            }
            if (cur->type == TR_REC) {
                if (kp->type != TR_STR) {
                    if (quiet) { tr_value_unref(k); rc = 1; goto out; }
                    rc = type_conflict(E, n->sp, s->sp, kp, "string");
                    tr_value_unref(k);
                    goto out;
                }
                const tr_value *v = tr_rec_get(cur, kp->as.s->data, kp->as.s->len);
                if (!v) {
                    if (!quiet)
                        rc = fail(E, n->sp, s->sp, "Trying to access a non existing %s key `%s`",
                                  root_word(n->op), kp->as.s->data);
                    else
                        rc = 1;
                    tr_value_unref(k);
                    goto out;
                }
                tr_value_unref(k);
                cur = v;
                continue;
            }
            if (quiet) { tr_value_unref(k); rc = 1; goto out; }
            rc = type_conflict(E, n->sp, s->sp, cur, kp->type == TR_STR ? "record" : "array");
            tr_value_unref(k);
            goto out;
        }
        /* S_RANGE */
        if (cur->type != TR_ARR) {
            if (quiet) { rc = 1; goto out; }
            rc = type_conflict(E, n->sp, s->sp, cur, "array");
            goto out;
        }
        uint32_t len = sliced ? hi - lo : tr_arr_len(cur);
        size_t bounds[2];
        const struct tr_node *ends[2] = {s->a, s->b};
        for (int j = 0; j < 2; j++) {
            tr_value k;
            if ((rc = tr_eval(E, ends[j], &k))) goto out;
            rc = to_index(E, n, ends[j], &k, len, &bounds[j]);
            tr_value_unref(k);
            if (rc) {
                if (quiet) { E->err->set = 0; rc = 1; }
                goto out;
            }
        }
        if (bounds[1] < bounds[0]) {
            if (quiet) { rc = 1; goto out; }
            rc = fail(E, n->sp, s->sp, "A range's end cannot be smaller than its start, %zu:%zu is invalid",
                      bounds[0], bounds[1]);
            goto out;
        }
        if (bounds[1] > len) {
            if (quiet) { rc = 1; goto out; }
            rc = fail(E, n->sp, s->sp,
                      "Array index out of bounds, got index range %zu:%zu but expected a subrange of 0:%u",
                      bounds[0], bounds[1], len);
            goto out;
        }
        hi = lo + (uint32_t)bounds[1];
        lo = lo + (uint32_t)bounds[0];
        sliced = 1;
    }
    if (sliced) {
        tr_value arr;
        if (tr_v_arr(hi - lo, &arr)) return oom(E, n);
        for (uint32_t i = lo; i < hi; i++)
            if ((rc = tr_arr_push(&arr, tr_value_ref(*tr_arr_at(cur, i))))) {
                tr_value_unref(arr);
                return store_fail(E, n, rc);
            }
        *tmp = arr;
        cur = tmp;
    }
    *res = cur;
out:
    return rc;
}

/* --- assignment --- */

static int assign(struct tr_env *E, const struct tr_node *let, tr_value val) {
    const struct tr_node *p = let->a;
    tr_value *cur;
    switch (p->op) {
    case R_EVENT: cur = E->event; break;
    case R_META:
        /* 0.11 refuses to replace the whole of `$` (error_invalid_assign_target) */
        if (p->n == 0) {
            struct tr_span sp = let->b ? tr_span_join(p->sp, let->b->sp) : let->sp;   /* `$ = ...` */
            tr_value_unref(val);
            return fail(E, tr_span_expand(sp, 2), sp,
                        "You are trying to assign to a value that isn't valid");
        }
        cur = E->meta;
        break;
    case R_STATE: cur = E->state; break;
    case R_LOCAL:
        if (p->n == 0) {
            if (E->set[p->slot]) tr_value_unref(E->locals[p->slot]);
            E->locals[p->slot] = val;
            E->set[p->slot] = 1;
            return 0;
        }
        if (!E->set[p->slot]) {
            tr_value_unref(val);
            return fail(E, let->sp, p->nsp[0], "Trying to access a non existing local key `%s`",
                        p->name->data);
        }
        cur = &E->locals[p->slot];
        break;
    default:
        tr_value_unref(val);
        return fail(E, tr_span_expand(let->sp, 2), let->sp, "Can't assign to the `%s` constant",
                    p->name ? p->name->data : "args");
    }
    /* val ends up p->n containers down: the root can get that much deeper
     * than val, and each container on the way is raised to its new depth
     * on the way down since val is stored in place, not through a push */
    uint32_t below = tr_value_depth(&val);
    if ((uint64_t)p->n + below > TR_VALUE_MAX_DEPTH) {
        tr_value_unref(val);
        return store_fail(E, let, TR_EDEPTH);
    }
    for (uint32_t i = 0; i < p->n; i++) {
        const struct tr_node *s = p->v[i];
        tr_value key = tr_v_null();
        struct tr_str *ks;
        if (s->kind == S_FIELD) {
            ks = s->name;
        } else if (s->kind == S_IDX) {
            int rc = tr_eval(E, s->a, &key);
            if (rc) {
                tr_value_unref(val);
                return rc;
            }
            if (key.type != TR_STR) {
                if (cur->type == TR_ARR || key.type != TR_STR) {
                    tr_value_unref(val);
                    tr_value_unref(key);
                    if (cur->type == TR_ARR)
                        return fail(E, let->sp, s->sp, "It is not supported to assign value into an array");
                    return type_conflict(E, let->sp, s->sp, &key, "string");
                }
            }
            ks = key.as.s;
        } else {
            tr_value_unref(val);
            return fail(E, let->sp, s->sp, "It is not supported to assign value into an array");
        }
        if (cur->type != TR_REC) {
            tr_value_unref(key);
            tr_value_unref(val);
            if (cur->type == TR_ARR)
                return fail(E, let->sp, s->sp, "It is not supported to assign value into an array");
            return type_conflict(E, let->sp, s->sp, cur, "record");
        }
        if (tr_value_mut(cur)) {
            tr_value_unref(key);
            tr_value_unref(val);
            return oom(E, let);
        }
        tr_value *next = tr_rec_get(cur, ks->data, ks->len);
        if (!next && i + 1 == p->n) {
            /* a new key at the end of the path (`let $class = ...`): val
             * goes in directly, without an empty record in its place first */
            int src = tr_rec_set_key(cur, tr_str_ref(ks), val);   /* the script's name, already hashed */
            tr_value_unref(key);
            return src ? store_fail(E, let, src) : 0;
        }
        if (!next) {
            tr_value r;
            int src = tr_v_rec(4, &r);
            if (src || (src = tr_rec_set_key(cur, tr_str_ref(ks), r))) {
                tr_value_unref(key);
                tr_value_unref(val);
                return store_fail(E, let, src);
            }
            next = tr_rec_get(cur, ks->data, ks->len);
        }
        tr_value_unref(key);
        /* checked above: p->n - i - 1 + below < TR_VALUE_MAX_DEPTH */
        tr_value_note_depth(cur, p->n - i - 1 + below);
        cur = next;
    }
    tr_value_unref(*cur);
    *cur = val;
    return 0;
}

/* --- merge, patch --- */

/* Tremor's merge: records merge key by key, null deletes, anything else replaces. */
static int merge_into(tr_value *target, const tr_value *rep) {
    if (target->type == TR_REC && rep->type == TR_REC) {
        int rc = tr_value_mut(target);
        if (rc) return rc;
        for (uint32_t i = 0; i < tr_rec_len(rep); i++) {
            const struct tr_field *f = tr_rec_at(rep, i);
            if (f->val.type == TR_NULL) {
                tr_rec_remove(target, f->key->data, f->key->len);
                continue;
            }
            tr_value *old = tr_rec_get(target, f->key->data, f->key->len);
            if (old) {
                if ((rc = merge_into(old, &f->val))) return rc;
                /* old changed in place; it is no deeper than the deeper of
                 * old and f->val, both below target and rep, so this fits */
                tr_value_note_depth(target, tr_value_depth(old));
            } else {
                if ((rc = tr_rec_set_key(target, tr_str_ref(f->key), tr_value_ref(f->val)))) return rc;
            }
        }
        return 0;
    }
    tr_value_unref(*target);
    *target = tr_value_ref(*rep);
    return 0;
}

/* Evaluate a target that the node may consume: a bare `event` marked
 * NF_MOVE by the compiler is taken out of the environment. */
static int eval_target(struct tr_env *E, const struct tr_node *n, const struct tr_node *t, tr_value *out) {
    if ((n->flags & NF_MOVE) && t->kind == N_PATH && t->op == R_EVENT && t->n == 0) {
        *out = *E->event;
        *E->event = tr_v_null();
        return 0;
    }
    return tr_eval(E, t, out);
}

static int eval_merge(struct tr_env *E, const struct tr_node *n, tr_value *out) {
    tr_value rep;
    int rc = tr_eval(E, n->b, &rep);
    if (rc) return rc;
    if (rep.type != TR_REC) {
        rc = type_conflict(E, n->sp, n->b->sp, &rep, "record");
        tr_value_unref(rep);
        return rc;
    }
    tr_value t;
    if ((rc = eval_target(E, n, n->a, &t))) {
        tr_value_unref(rep);
        return rc;
    }
    if (t.type != TR_REC) {
        rc = type_conflict(E, n->sp, n->a->sp, &t, "record");
        tr_value_unref(rep);
        tr_value_unref(t);
        return rc;
    }
    rc = merge_into(&t, &rep);
    tr_value_unref(rep);
    if (rc) {
        tr_value_unref(t);
        return store_fail(E, n, rc);
    }
    *out = t;
    return 0;
}

static int key_of(struct tr_env *E, const struct tr_node *k, tr_value *out) {
    int rc = tr_eval(E, k, out);
    if (rc) return rc;
    if (out->type != TR_STR) {
        rc = type_conflict(E, k->sp, k->sp, out, "string");
        tr_value_unref(*out);
        *out = tr_v_null();
    }
    return rc;
}

static int eval_patch(struct tr_env *E, const struct tr_node *n, tr_value *out) {
    /* operations are evaluated first, against the unpatched state */
    tr_value keys[64], vals[64];
    tr_value *kv = keys, *vv = vals;
    uint32_t cnt = n->n;
    int rc = 0;
    if (cnt > 64) {
        kv = tr_calloc(cnt, sizeof *kv);
        vv = tr_calloc(cnt, sizeof *vv);
        if (!kv || !vv) {
            tr_free(kv == keys ? NULL : kv);
            tr_free(vv == vals ? NULL : vv);
            return oom(E, n);
        }
    }
    for (uint32_t i = 0; i < cnt; i++) kv[i] = vv[i] = tr_v_null();
    uint32_t done = 0;
    for (; done < cnt && !rc; done++) {
        const struct tr_node *op = n->v[done];
        if (op->a) rc = key_of(E, op->a, &kv[done]);
        if (!rc && op->b) {
            if (op->op == PO_MOVE || op->op == PO_COPY) rc = key_of(E, op->b, &vv[done]);
            else rc = tr_eval(E, op->b, &vv[done]);
        }
        if (!rc && (op->op == PO_MERGE || op->op == PO_MERGE_ALL) && vv[done].type != TR_REC)
            rc = type_conflict(E, n->sp, op->b->sp, &vv[done], "record");
    }
    tr_value t = tr_v_null();
    if (!rc) rc = eval_target(E, n, n->a, &t);
    if (!rc && t.type != TR_REC) rc = type_conflict(E, n->sp, n->a->sp, &t, "record");
    if (!rc && tr_value_mut(&t)) rc = oom(E, n);
    for (uint32_t i = 0; i < cnt && !rc; i++) {
        const struct tr_node *op = n->v[i];
        struct tr_str *k = kv[i].type == TR_STR ? kv[i].as.s : NULL;
        switch (op->op) {
        case PO_INSERT:
            if (tr_rec_get(&t, k->data, k->len)) {
                rc = fail(E, n->sp, op->a->sp, "The key that is supposed to be written to already exists: %s", k->data);
                break;
            }
            rc = tr_rec_set_key(&t, tr_str_ref(k), vv[i]);
            vv[i] = tr_v_null();
            break;
        case PO_UPDATE:
            if (!tr_rec_get(&t, k->data, k->len)) {
                rc = fail(E, n->sp, op->a->sp, "The key that is supposed to be updated does not exists: %s", k->data);
                break;
            }
            /* fallthrough */
        case PO_UPSERT:
            rc = tr_rec_set_key(&t, tr_str_ref(k), vv[i]);
            vv[i] = tr_v_null();
            break;
        case PO_ERASE: tr_rec_remove(&t, k->data, k->len); break;
        case PO_MOVE:
        case PO_COPY: {
            struct tr_str *to = vv[i].as.s;
            if (tr_rec_get(&t, to->data, to->len)) {
                rc = fail(E, n->sp, n->sp, "The key that is supposed to be written to already exists: %s", to->data);
                break;
            }
            tr_value *old = tr_rec_get(&t, k->data, k->len);
            if (old) {
                tr_value moved = tr_value_ref(*old);
                if (op->op == PO_MOVE) tr_rec_remove(&t, k->data, k->len);
                rc = tr_rec_set_key(&t, tr_str_ref(to), moved);
            }
            break;
        }
        case PO_MERGE: {
            tr_value *old = tr_rec_get(&t, k->data, k->len);
            if (old && old->type != TR_REC) {
                rc = fail(E, n->sp, op->a->sp,
                          "Merge can only be performed on keys that either do not exist or are records but the key '%s' has the type %s",
                          k->data, tr_lang_type_name(old));
                break;
            }
            if (old) {
                /* old may grow as deep as vv[i], one level below t */
                if (tr_value_depth(&vv[i]) >= TR_VALUE_MAX_DEPTH) {
                    rc = TR_EDEPTH;
                    break;
                }
                rc = merge_into(old, &vv[i]);
                if (!rc) rc = tr_value_note_depth(&t, tr_value_depth(old));
            } else {
                tr_value r;
                rc = tr_v_rec(4, &r);
                if (!rc) rc = merge_into(&r, &vv[i]);
                if (!rc) rc = tr_rec_set_key(&t, tr_str_ref(k), r);
                else tr_value_unref(r);
            }
            break;
        }
        case PO_MERGE_ALL: rc = merge_into(&t, &vv[i]); break;
        }
        if (rc == -ENOMEM || rc == TR_EDEPTH) rc = store_fail(E, n, rc);
    }
    for (uint32_t i = 0; i < cnt; i++) {
        tr_value_unref(kv[i]);
        tr_value_unref(vv[i]);
    }
    if (kv != keys) tr_free(kv);
    if (vv != vals) tr_free(vv);
    if (rc) {
        tr_value_unref(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* --- match --- */

static int test_pattern(struct tr_env *E, const struct tr_node *m, const struct tr_node *pat,
                        const tr_value *target, int need, tr_value *res);


/* Record pattern: 1 and the extracted record in *res when need, 0 on no match. */
static int match_rec(struct tr_env *E, const struct tr_node *m, const struct tr_node *pat,
                     const tr_value *target, int need, tr_value *res) {
    if (target->type != TR_REC) return 0;
    tr_value acc = tr_v_null();
    if (need && tr_v_rec(pat->n, &acc)) return oom(E, pat);
    int rc = 1;
    for (uint32_t i = 0; i < pat->n && rc == 1; i++) {
        const struct tr_node *f = pat->v[i];
        const tr_value *v = tr_rec_get(target, f->name->data, f->name->len);
        switch (f->kind) {
        case PF_ABSENT:
            if (v) rc = 0;
            break;
        case PF_PRESENT:
            if (!v) rc = 0;
            else if (need && (rc = tr_rec_set_key(&acc, tr_str_ref(f->name), tr_value_ref(*v))))
                rc = store_fail(E, f, rc);
            else rc = 1;
            break;
        case PF_CMP: {
            if (!v) {
                rc = 0;
                break;
            }
            tr_value r, b;
            if ((rc = tr_eval(E, f->a, &r))) break;
            struct tr_node tmp = *f;
            tmp.sp = m->sp;
            rc = exec_binary(E, &tmp, v, &r, &b);
            tr_value_unref(r);
            if (rc) break;
            rc = b.type == TR_BOOL && b.as.b;
            tr_value_unref(b);
            break;
        }
        case PF_TILDE: {
            if (!v) {
                rc = 0;
                break;
            }
            tr_value x = tr_v_null();
            rc = run_extractor(E, f->sp, f->ext, v, need, &x);
            if (rc != 1) {
                tr_value_unref(x);  /* an extractor may leave a partial result */
            } else if (need) {
                int src = tr_rec_set_key(&acc, tr_str_ref(f->name4), x);
                if (src) rc = store_fail(E, f, src);
            }
            break;
        }
        case PF_REC:
        case PF_ARR: {
            if (!v || v->type != (f->kind == PF_REC ? TR_REC : TR_ARR)) {
                rc = 0;
                break;
            }
            tr_value sub = tr_v_null();
            rc = test_pattern(E, m, f->a, v, need, &sub);
            if (rc != 1) {
                tr_value_unref(sub);
            } else if (need) {
                int src = tr_rec_set_key(&acc, tr_str_ref(f->name), sub);
                if (src) rc = store_fail(E, f, src);
            }
            break;
        }
        default: rc = 0;
        }
    }
    if (rc == 1 && need) *res = acc;
    else tr_value_unref(acc);
    return rc;
}

static int pair(struct tr_env *E, const struct tr_node *n, tr_value *acc, uint32_t idx, tr_value v) {
    tr_value p;
    if (tr_v_arr(2, &p)) {
        tr_value_unref(v);
        return oom(E, n);
    }
    tr_arr_push(&p, tr_v_int(idx));
    int rc = tr_arr_push(&p, v);
    if (rc) {
        tr_value_unref(p);
        return store_fail(E, n, rc);
    }
    if ((rc = tr_arr_push(acc, p))) return store_fail(E, n, rc);
    return 0;
}

static int match_arr(struct tr_env *E, const struct tr_node *m, const struct tr_node *pat,
                     const tr_value *target, int need, tr_value *res) {
    if (target->type != TR_ARR) return 0;
    uint32_t len = tr_arr_len(target);
    tr_value acc = tr_v_null();
    if (need && tr_v_arr(len, &acc)) return oom(E, pat);
    int rc = 1;
    for (uint32_t i = 0; i < pat->n && rc == 1; i++) {
        const struct tr_node *e = pat->v[i];
        int matched = 0;
        if (e->kind == PA_IGNORE) {
            matched = len > 0;
        } else if (e->kind == PA_EXPR) {
            tr_value x;
            if ((rc = tr_eval(E, e->a, &x))) break;
            for (uint32_t j = 0; j < len; j++) {
                if (tr_value_eq(tr_arr_at(target, j), &x)) {
                    matched = 1;
                    if (!need) break;
                    if ((rc = pair(E, e, &acc, j, tr_value_ref(x)))) break;
                }
            }
            tr_value_unref(x);
            if (rc < 0) break;
        } else if (e->kind == PA_TILDE) {
            for (uint32_t j = 0; j < len; j++) {
                tr_value sub = tr_v_null();
                int r = run_extractor(E, e->sp, e->ext, tr_arr_at(target, j), need, &sub);
                if (r != 1) tr_value_unref(sub);  /* may hold a partial result */
                if (r < 0) {
                    rc = r;
                    break;
                }
                if (r == 1) {
                    matched = 1;
                    if (!need) break;
                    if ((rc = pair(E, e, &acc, j, sub))) break;
                }
            }
            if (rc < 0) break;
        } else {
            for (uint32_t j = 0; j < len; j++) {
                tr_value sub = tr_v_null();
                int r = match_rec(E, m, e->a, tr_arr_at(target, j), need, &sub);
                if (r < 0) {
                    rc = r;
                    break;
                }
                if (r == 1) {
                    matched = 1;
                    if (!need) break;
                    if ((rc = pair(E, e, &acc, j, sub))) break;
                }
            }
            if (rc < 0) break;
        }
        rc = matched ? 1 : 0;
    }
    if (rc == 1 && need) *res = acc;
    else tr_value_unref(acc);
    return rc;
}

static int match_tuple(struct tr_env *E, const struct tr_node *m, const struct tr_node *pat,
                       const tr_value *target, int need, tr_value *res) {
    if (target->type != TR_ARR) return 0;
    uint32_t len = tr_arr_len(target);
    if (pat->op ? len < pat->n : len != pat->n) return 0;
    tr_value acc = tr_v_null();
    if (need && tr_v_arr(pat->n, &acc)) return oom(E, pat);
    int rc = 1;
    for (uint32_t i = 0; i < pat->n && rc == 1; i++) {
        const struct tr_node *e = pat->v[i];
        const tr_value *cand = tr_arr_at(target, i);
        if (e->kind == PA_IGNORE) {
            int src = need ? tr_arr_push(&acc, tr_value_ref(*cand)) : 0;
            if (src) rc = store_fail(E, e, src);
        } else if (e->kind == PA_EXPR) {
            tr_value x;
            int erc = tr_eval(E, e->a, &x);
            if (erc) {
                rc = erc;
                break;
            }
            if (!tr_value_eq(cand, &x)) {
                tr_value_unref(x);
                rc = 0;
            } else if (need) {
                int src = tr_arr_push(&acc, x);
                if (src) rc = store_fail(E, e, src);
            } else {
                tr_value_unref(x);
            }
        } else if (e->kind == PA_TILDE) {
            tr_value sub = tr_v_null();
            rc = run_extractor(E, e->sp, e->ext, cand, need, &sub);
            if (rc != 1) {
                tr_value_unref(sub);
            } else if (need) {
                int src = tr_arr_push(&acc, sub);
                if (src) rc = store_fail(E, e, src);
            }
        } else {
            tr_value sub = tr_v_null();
            rc = match_rec(E, m, e->a, cand, need, &sub);
            if (rc == 1 && need) {
                int src = tr_arr_push(&acc, sub);
                if (src) rc = store_fail(E, e, src);
            }
        }
    }
    if (rc == 1 && need) *res = acc;
    else tr_value_unref(acc);
    return rc;
}

static int test_pattern(struct tr_env *E, const struct tr_node *m, const struct tr_node *pat,
                        const tr_value *target, int need, tr_value *res) {
    switch (pat->kind) {
    case P_DEFAULT:
    case P_ANY:
        if (need) *res = tr_value_ref(*target);
        return 1;
    case P_EXPR: {
        if (pat->a->flags & NF_CONST) {   /* a literal: compared where it is */
            int eq = tr_value_eq(target, &pat->a->lit);
            if (eq && need) *res = tr_value_ref(pat->a->lit);
            return eq;
        }
        tr_value x;
        int rc = tr_eval(E, pat->a, &x);
        if (rc) return rc;
        int eq = tr_value_eq(target, &x);
        if (eq && need) *res = x;
        else tr_value_unref(x);
        return eq;
    }
    case P_EXTRACT: {
        int rc = run_extractor(E, pat->sp, pat->ext, target, need, res);
        if (rc != 1 && need) {
            /* extractors may leave a partial result behind on failure */
            tr_value_unref(*res);
            *res = tr_v_null();
        }
        return rc;
    }
    case P_REC: return match_rec(E, m, pat, target, need, res);
    case P_ARR: return match_arr(E, m, pat, target, need, res);
    case P_TUPLE: return match_tuple(E, m, pat, target, need, res);
    case P_ASSIGN: {
        tr_value v = tr_v_null();
        const struct tr_node *in = pat->a;
        int rc;
        if (in->kind == P_EXPR || in->kind == P_ANY || in->kind == P_DEFAULT) {
            rc = test_pattern(E, m, in, target, 0, NULL);
            if (rc == 1) v = tr_value_ref(*target);
        } else {
            rc = test_pattern(E, m, in, target, 1, &v);
        }
        if (rc != 1) return rc;
        if (E->set[pat->slot]) tr_value_unref(E->locals[pat->slot]);
        E->locals[pat->slot] = v;
        E->set[pat->slot] = 1;
        if (need) *res = tr_value_ref(v);
        return 1;
    }
    default:
        return fail(E, m->sp, pat->sp, "this pattern is not supported");
    }
}

static int eval_match(struct tr_env *E, const struct tr_node *n, tr_value *out) {
    tr_value t;
    int rc = tr_eval(E, n->a, &t);
    if (rc) return rc;
    for (uint32_t i = 0; i < n->n; i++) {
        const struct tr_node *c = n->v[i];
        rc = test_pattern(E, n, c->a, &t, 0, NULL);
        if (rc < 0) break;
        if (rc == 0) continue;
        if (c->b) {
            tr_value g;
            if ((rc = tr_eval(E, c->b, &g))) break;
            if (g.type != TR_BOOL) {
                rc = type_conflict(E, n->sp, c->b->sp, &g, "boolean");
                tr_value_unref(g);
                break;
            }
            int ok = g.as.b;
            if (!ok) {
                rc = 0;
                continue;
            }
        }
        tr_value_unref(t);
        return tr_eval_block(E, c->v, c->n, out);
    }
    tr_value_unref(t);
    if (rc < 0) return rc;
    rc = fail(E, tr_span_expand(n->sp, 2), n->sp, "A match expression executed but no clause matched");
    if (E->err && !E->err->hint[0])
        snprintf(E->err->hint, sizeof E->err->hint,
                 "Consider adding a `default => null` clause at the end of your match or validate full coverage beforehand.");
    return rc;
}

/* --- comprehensions --- */

static int eval_for(struct tr_env *E, const struct tr_node *n, tr_value *out) {
    tr_value t;
    int rc = tr_eval(E, n->a, &t);
    if (rc) return rc;
    tr_value acc;
    if (t.type != TR_ARR && t.type != TR_REC) {
        *out = tr_v_null();
        tr_value_unref(t);
        return 0;
    }
    uint32_t len = t.type == TR_ARR ? tr_arr_len(&t) : tr_rec_len(&t);
    if (tr_v_arr(len, &acc)) {
        tr_value_unref(t);
        return oom(E, n);
    }
    for (uint32_t i = 0; i < len && !rc; i++) {
        tr_value k, v;
        if (t.type == TR_ARR) {
            k = tr_v_int(i);
            v = tr_value_ref(*tr_arr_at(&t, i));
        } else {
            k = tr_value_ref(tr_v_strobj(tr_rec_at(&t, i)->key));
            v = tr_value_ref(tr_rec_at(&t, i)->val);
        }
        for (uint32_t ci = 0; ci < n->n; ci++) {
            const struct tr_node *c = n->v[ci];
            if (E->set[c->slot]) tr_value_unref(E->locals[c->slot]);
            if (E->set[c->slot2]) tr_value_unref(E->locals[c->slot2]);
            E->locals[c->slot] = tr_value_ref(k);
            E->locals[c->slot2] = tr_value_ref(v);
            E->set[c->slot] = E->set[c->slot2] = 1;
            if (c->b) {
                tr_value g;
                if ((rc = tr_eval(E, c->b, &g))) break;
                int ok = g.type == TR_BOOL && g.as.b;
                if (g.type != TR_BOOL) rc = type_conflict(E, n->sp, c->b->sp, &g, "boolean");
                tr_value_unref(g);
                if (rc) break;
                if (!ok) continue;
            }
            tr_value r;
            if ((rc = tr_eval_block(E, c->v, c->n, &r))) break;
            int src = tr_arr_push(&acc, r);
            if (src) rc = store_fail(E, n, src);
            break;
        }
        tr_value_unref(k);
        tr_value_unref(v);
    }
    tr_value_unref(t);
    if (rc) {
        tr_value_unref(acc);
        return rc;
    }
    *out = acc;
    return 0;
}

/* --- calls --- */

#define RECURSION_LIMIT 1024

static int eval_args(struct tr_env *E, const struct tr_node *n, tr_value *args) {
    for (uint32_t i = 0; i < n->n; i++) {
        int rc = tr_eval(E, n->v[i], &args[i]);
        if (rc) {
            for (uint32_t j = 0; j < i; j++) tr_value_unref(args[j]);
            return rc;
        }
    }
    return 0;
}

/* A user function: fresh local slots, arguments first; `recur` restarts. */
static int call_user(struct tr_env *E, const struct tr_node *n, tr_value *out) {
    const struct tr_node *decl = n->c;
    uint32_t nargs = (uint32_t)decl->slot2, nloc = (uint32_t)(decl->slot > 0 ? decl->slot : 1);
    if (n->n < nargs || (!decl->op && n->n != nargs))
        return fail(E, tr_span_expand(n->sp, 2), n->sp,
                    "Bad arity for function %s/%u..=%u but was called with %u arguments",
                    decl->name->data, nargs, decl->op ? 0xffffffffu : nargs, n->n);
    tr_value lbuf[16];
    uint8_t sbuf[16];
    tr_value *argv = tr_calloc(n->n ? n->n : 1, sizeof *argv);
    tr_value *locals = nloc <= 16 ? lbuf : tr_calloc(nloc, sizeof *locals);
    uint8_t *set = nloc <= 16 ? sbuf : tr_calloc(nloc, 1);
    int rc = 0;
    if (!argv || !locals || !set) {
        rc = oom(E, n);
        goto out;
    }
    memset(set, 0, nloc);
    if ((rc = eval_args(E, n, argv))) goto out;
    tr_value rest = tr_v_null();
    struct tr_env F = *E;
    F.locals = locals;
    F.set = set;
    F.recur_args = NULL;
    F.nrecur = 0;
    uint32_t given = n->n, argc_cap = n->n ? n->n : 1;
    for (unsigned round = 0;; round++) {
        if (round >= RECURSION_LIMIT) {
            /* an error of a call shows two lines around it (0.11's
             * interpreter/imut_expr.rs invoke: extent().expand_lines(2)) */
            rc = fail(E, tr_span_expand(n->sp, 2), n->sp, "Recursion limit Reached");
            break;
        }
        for (uint32_t i = 0; i < nargs; i++) {
            locals[i] = argv[i];
            set[i] = 1;
            argv[i] = tr_v_null();
        }
        if (decl->op) {
            if ((rc = tr_v_arr(given > nargs ? given - nargs : 0, &rest))) {
                rc = oom(E, n);
                break;
            }
            for (uint32_t i = nargs; i < given && !rc; i++) {
                rc = tr_arr_push(&rest, argv[i]);
                argv[i] = tr_v_null();
            }
            if (rc) {
                rc = store_fail(E, n, rc);
                break;
            }
            F.args = &rest;
        }
        rc = tr_eval_block(&F, decl->a->v, decl->a->n, out);
        for (uint32_t i = 0; i < nloc; i++)
            if (set[i]) {
                tr_value_unref(locals[i]);
                set[i] = 0;
            }
        tr_value_unref(rest);
        rest = tr_v_null();
        if (rc != TR_RUN_RECUR) break;
        /* recur: the new arguments replace the old ones */
        for (uint32_t i = 0; i < given; i++) tr_value_unref(argv[i]);
        given = 0;
        if (F.nrecur > argc_cap) {
            tr_value *nv = tr_realloc(argv, F.nrecur * sizeof *argv);
            if (!nv) {
                for (uint32_t i = 0; i < F.nrecur; i++) tr_value_unref(F.recur_args[i]);
                tr_free(F.recur_args);
                rc = oom(E, n);
                break;
            }
            argv = nv;
            argc_cap = F.nrecur;
        }
        given = F.nrecur;
        memcpy(argv, F.recur_args, given * sizeof *argv);
        tr_free(F.recur_args);
        F.recur_args = NULL;
        F.nrecur = 0;
        if (given < nargs || (!decl->op && given != nargs)) {
            for (uint32_t i = 0; i < given; i++) tr_value_unref(argv[i]);
            given = 0;
            rc = fail(E, n->sp, n->sp, "Bad arity for recur in %s", decl->name->data);
            break;
        }
    }
    /* a round that stopped early still holds arguments in locals, rest
     * and argv (argv may have grown past n->n through recur) */
    for (uint32_t i = 0; i < nloc; i++)
        if (set[i]) tr_value_unref(locals[i]);
    tr_value_unref(rest);
    for (uint32_t i = 0; i < given; i++) tr_value_unref(argv[i]);
out:
    tr_free(argv);
    if (locals != lbuf) tr_free(locals);
    if (set != sbuf) tr_free(set);
    return rc;
}

static int eval_recur(struct tr_env *E, const struct tr_node *n) {
    tr_value *args = tr_calloc(n->n ? n->n : 1, sizeof *args);
    if (!args) return oom(E, n);
    int rc = eval_args(E, n, args);
    if (rc) {
        tr_free(args);
        return rc;
    }
    E->recur_args = args;
    E->nrecur = n->n;
    return TR_RUN_RECUR;
}

/* A call. Built-ins (tr_fn_impl) get *out as TR_NULL; when they fail they
 * may leave a partial result there (never a released one), which tr_eval
 * releases on the way out like any other failed result. */
static int eval_call(struct tr_env *E, const struct tr_node *n, tr_value *out) {
    if (n->op == 3) return call_user(E, n, out);
    if (n->op == 1) return eval_recur(E, n);
    if (n->op == 2) {
        /* an aggregate: its value is the group's state, folded per event elsewhere */
        if (!E->aggrs) {
            *out = tr_v_null();
            return 0;
        }
        if (tr_aggr_emit(&E->aggrs[n->slot], out)) return oom(E, n);
        return 0;
    }
    tr_value argv[16];
    tr_value *args = argv;
    if (n->n > 16) {
        args = tr_calloc(n->n, sizeof *args);
        if (!args) return oom(E, n);
    }
    uint32_t got = 0;
    int rc = 0;
    for (; got < n->n; got++)
        if ((rc = tr_eval(E, n->v[got], &args[got]))) break;
    if (!rc) {
        struct tr_fcall c = {.ctx = E->ctx};
        c.msg[0] = 0;
        *out = tr_v_null();
        rc = n->fn->impl(&c, args, n->n, out);
        struct tr_span outer = E->folding ? n->sp : tr_span_expand(n->sp, 2);
        if (rc == TR_FN_BADTYPE)
            rc = fail(E, outer, n->sp, "Bad type passed to function %s::%s/%u", n->fn->module,
                      n->fn->name, n->n);
        else if (rc == TR_FN_ERROR)
            rc = fail(E, outer, n->sp, "Runtime error in function %s::%s/%u: %s", n->fn->module,
                      n->fn->name, n->n, c.msg);
        else if (rc == -ENOMEM || rc == TR_EDEPTH)
            rc = store_fail(E, n, rc);
        else if (rc)
            rc = fail(E, outer, n->sp, "Runtime error in function %s::%s/%u: %s", n->fn->module,
                      n->fn->name, n->n, c.msg[0] ? c.msg : "failed");
    }
    for (uint32_t i = 0; i < got; i++) tr_value_unref(args[i]);
    if (args != argv) tr_free(args);
    return rc;
}

/* --- the dispatcher --- */

int tr_eval_block(struct tr_env *E, struct tr_node *const *v, uint32_t n, tr_value *out) {
    *out = tr_v_null();
    for (uint32_t i = 0; i < n; i++) {
        tr_value r;
        int rc = tr_eval(E, v[i], &r);
        if (rc) {
            tr_value_unref(*out);
            *out = tr_v_null();
            return rc;
        }
        tr_value_unref(*out);
        *out = r;
    }
    return 0;
}

int tr_eval(struct tr_env *E, const struct tr_node *n, tr_value *out) {
    *out = tr_v_null();
    if (n->flags & NF_CONST) {
        *out = tr_value_ref(n->lit);
        return 0;
    }
    if (++E->depth > MAX_EVAL_DEPTH) {
        E->depth--;
        return fail(E, n->sp, n->sp, "Recursion limit Reached");
    }
    int rc = 0;
    switch (n->kind) {
    case N_LIT:
        *out = tr_value_ref(n->lit);
        break;
    case N_PATH: {
        const tr_value *r;
        tr_value tmp;
        rc = resolve(E, n, &r, &tmp, 0);
        if (!rc) *out = tmp.type != TR_NULL ? tmp : tr_value_ref(*r);
        break;
    }
    case N_PRESENT: {
        const tr_value *r;
        tr_value tmp;
        int save = E->err ? E->err->set : 0;
        rc = resolve(E, n->a, &r, &tmp, 1);
        if (rc < 0) break;
        if (E->err && !save) E->err->set = 0;
        tr_value_unref(tmp);
        *out = tr_v_bool(rc == 0);
        rc = 0;
        break;
    }
    case N_REC: {
        if (tr_v_rec(n->n, out)) {
            rc = oom(E, n);
            break;
        }
        for (uint32_t i = 0; i < n->n && !rc; i++) {
            tr_value k, v;
            if ((rc = key_of(E, n->v[i]->a, &k))) break;
            if ((rc = tr_eval(E, n->v[i]->b, &v))) {
                tr_value_unref(k);
                break;
            }
            int src = tr_rec_set_key(out, tr_str_ref(k.as.s), v);
            if (src) rc = store_fail(E, n, src);
            tr_value_unref(k);
        }
        break;
    }
    case N_ARR:
        if (tr_v_arr(n->n, out)) {
            rc = oom(E, n);
            break;
        }
        for (uint32_t i = 0; i < n->n && !rc; i++) {
            tr_value v;
            if ((rc = tr_eval(E, n->v[i], &v))) break;
            int src = tr_arr_push(out, v);
            if (src) rc = store_fail(E, n, src);
        }
        break;
    case N_BYTES: {
        struct tr_bytes_w w;
        memset(&w, 0, sizeof w);
        for (uint32_t i = 0; i < n->n && !rc; i++) {
            const struct tr_node *part = n->v[i];
            tr_value v;
            if ((rc = tr_eval(E, part->a, &v))) break;
            char msg[128] = "";
            int r = tr_bytes_append(&w, part->op, part->slot2, (unsigned)part->slot, &v, msg, sizeof msg);
            if (r == -ENOMEM) rc = oom(E, n);
            else if (r == TR_ERUNTIME) {
                struct tr_buf b;
                tr_buf_init(&b);
                tr_value_display(&v, &b);
                rc = fail(E, n->sp, part->sp, "%s: %s", msg, b.data ? b.data : "");
                tr_buf_fini(&b);
            } else if (r) {
                rc = fail(E, n->sp, part->sp, "binary too large");
            }
            tr_value_unref(v);
        }
        if (rc) {
            tr_free(w.data);
            break;
        }
        if (tr_bytes_finish(&w, out)) rc = oom(E, n);
        break;
    }
    case N_STRI: {
        struct tr_buf b;
        tr_buf_init(&b);
        for (uint32_t i = 0; i < n->n && !rc; i++) {
            tr_value v;
            if ((rc = tr_eval(E, n->v[i], &v))) break;
            if (v.type == TR_STR) rc = tr_buf_append(&b, v.as.s->data, v.as.s->len);
            else rc = tr_value_display(&v, &b);
            tr_value_unref(v);
            if (rc == -ENOMEM) rc = oom(E, n);
        }
        if (!rc && tr_v_str(b.data ? b.data : "", b.len, out)) rc = oom(E, n);
        tr_buf_fini(&b);
        break;
    }
    case N_UNARY: {
        tr_value v;
        if ((rc = tr_eval(E, n->a, &v))) break;
        rc = exec_unary(E, n, &v, out);
        tr_value_unref(v);
        break;
    }
    case N_BINARY: {
        tr_value a, b;
        if ((rc = tr_eval(E, n->a, &a))) break;
        /* `and` / `or` short-circuit on booleans */
        if ((n->op == B_AND || n->op == B_OR) && a.type == TR_BOOL &&
            a.as.b == (n->op == B_OR)) {
            *out = a;
            break;
        }
        if ((rc = tr_eval(E, n->b, &b))) {
            tr_value_unref(a);
            break;
        }
        rc = exec_binary(E, n, &a, &b, out);
        tr_value_unref(a);
        tr_value_unref(b);
        break;
    }
    case N_CALL: rc = eval_call(E, n, out); break;
    case N_MATCH: rc = eval_match(E, n, out); break;
    case N_PATCH: rc = eval_patch(E, n, out); break;
    case N_MERGE: rc = eval_merge(E, n, out); break;
    case N_FOR: rc = eval_for(E, n, out); break;
    case N_LET: {
        tr_value v;
        if ((rc = tr_eval(E, n->b, &v))) break;
        tr_value keep = tr_value_ref(v);
        rc = assign(E, n, v);
        if (rc) tr_value_unref(keep);
        else *out = keep;
        break;
    }
    case N_EMIT: {
        tr_value v, port = tr_v_null();
        if (n->a) {
            if ((rc = tr_eval(E, n->a, &v))) break;
        } else {
            v = tr_value_ref(*E->event);
        }
        if (n->b && (rc = key_of(E, n->b, &port))) {
            tr_value_unref(v);
            break;
        }
        tr_value_unref(E->emitted);
        E->emitted = v;
        if (E->port) tr_str_unref(E->port);
        E->port = port.type == TR_STR ? port.as.s : NULL;
        E->outcome = TR_RUN_EMIT;
        rc = TR_RUN_EMIT;
        break;
    }
    case N_DROP:
        E->outcome = TR_RUN_DROP;
        rc = TR_RUN_DROP;
        break;
    case N_CONST:
        *out = tr_value_ref(n->lit);
        break;
    case N_FN_DECL:
    case N_MOD:
    case N_USE:
        break;
    case N_BLOCK:
        rc = tr_eval_block(E, n->v, n->n, out);
        break;
    default:
        rc = fail(E, n->sp, n->sp, "this construct is not supported");
        break;
    }
    E->depth--;
    if (rc) {
        /* the rule of the file: a literal whose field failed, a built-in
         * that failed half-way, all leave nothing behind */
        tr_value_unref(*out);
        *out = tr_v_null();
    }
    return rc;
}
