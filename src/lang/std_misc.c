/* std_misc.c - the small std modules: type, math, json, range, integer,
 * float and test.
 *
 * Each is a handful of pure functions; they share this file because each
 * alone would be a few lines. Numeric rules follow Tremor: integers stay
 * integers where they fit, floats round to integers for floor/ceil/round.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "lang/std_int.h"

/* --- type --- */
#define TYPE_IS(fname, cond)                                                          \
    static int fname(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) { \
        (void)c, (void)n;                                                             \
        *o = tr_v_bool(cond);                                                         \
        return 0;                                                                     \
    }
TYPE_IS(is_null, a[0].type == TR_NULL)
TYPE_IS(is_bool, a[0].type == TR_BOOL)
TYPE_IS(is_integer, a[0].type == TR_I64 || a[0].type == TR_U64)
TYPE_IS(is_float, a[0].type == TR_F64)
TYPE_IS(is_number, a[0].type == TR_I64 || a[0].type == TR_U64 || a[0].type == TR_F64)
TYPE_IS(is_string, a[0].type == TR_STR)
TYPE_IS(is_array, a[0].type == TR_ARR)
TYPE_IS(is_record, a[0].type == TR_REC)
TYPE_IS(is_binary, a[0].type == TR_BIN)

static int as_string(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) {
    (void)c, (void)n;
    const char *t = a[0].type == TR_BOOL ? "bool" : tr_lang_type_name(&a[0]);
    return tr_v_cstr(t, o);
}

const struct tr_fn tr_std_type[] = {
    {"type", "is_null", 1, 1, 1, is_null},     {"type", "is_bool", 1, 1, 1, is_bool},
    {"type", "is_integer", 1, 1, 1, is_integer}, {"type", "is_float", 1, 1, 1, is_float},
    {"type", "is_number", 1, 1, 1, is_number}, {"type", "is_string", 1, 1, 1, is_string},
    {"type", "is_array", 1, 1, 1, is_array},   {"type", "is_record", 1, 1, 1, is_record},
    {"type", "is_binary", 1, 1, 1, is_binary}, {"type", "as_string", 1, 1, 1, as_string},
    {NULL, NULL, 0, 0, 0, NULL},
};

/* --- math --- */
static int round_fn(const tr_value *a, tr_value *o, double (*f)(double)) {
    if (a->type == TR_I64 || a->type == TR_U64) {
        *o = *a;
        return 0;
    }
    if (a->type != TR_F64) return TR_FN_BADTYPE;
    double r = f(a->as.f);
    if (r < 0) *o = tr_v_int((int64_t)r);
    else *o = tr_v_uint(r >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)r);
    return 0;
}
static int m_floor(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) { (void)c, (void)n; return round_fn(a, o, floor); }
static int m_ceil(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) { (void)c, (void)n; return round_fn(a, o, ceil); }
static int m_round(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) { (void)c, (void)n; return round_fn(a, o, round); }
static int m_trunc(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) { (void)c, (void)n; return round_fn(a, o, trunc); }

static int num_u(const tr_value *v, uint64_t *u) {
    if (v->type == TR_U64) { *u = v->as.u; return 1; }
    if (v->type == TR_I64 && v->as.i >= 0) { *u = (uint64_t)v->as.i; return 1; }
    return 0;
}
static int num_f(const tr_value *v, double *f) {
    if (v->type == TR_I64) { *f = (double)v->as.i; return 1; }
    if (v->type == TR_U64) { *f = (double)v->as.u; return 1; }
    if (v->type == TR_F64) { *f = v->as.f; return 1; }
    return 0;
}

static int minmax(const tr_value *a, tr_value *o, int want_max) {
    uint64_t ua, ub;
    double fa, fb;
    if (num_u(&a[0], &ua) && num_u(&a[1], &ub)) {
        *o = tr_v_uint(want_max ? (ua > ub ? ua : ub) : (ua < ub ? ua : ub));
        return 0;
    }
    if (a[0].type == TR_I64 && a[1].type == TR_I64) {
        int64_t x = a[0].as.i, y = a[1].as.i;
        *o = tr_v_int(want_max ? (x > y ? x : y) : (x < y ? x : y));
        return 0;
    }
    if (num_f(&a[0], &fa) && num_f(&a[1], &fb)) {
        *o = tr_v_float(want_max ? (fa >= fb ? fa : fb) : (fa <= fb ? fa : fb));
        return 0;
    }
    return TR_FN_BADTYPE;
}
static int m_max(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) { (void)c, (void)n; return minmax(a, o, 1); }
static int m_min(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) { (void)c, (void)n; return minmax(a, o, 0); }

const struct tr_fn tr_std_math[] = {
    {"math", "floor", 1, 1, 1, m_floor}, {"math", "ceil", 1, 1, 1, m_ceil},
    {"math", "round", 1, 1, 1, m_round}, {"math", "trunc", 1, 1, 1, m_trunc},
    {"math", "max", 2, 2, 1, m_max},     {"math", "min", 2, 2, 1, m_min},
    {NULL, NULL, 0, 0, 0, NULL},
};

/* --- json --- */
static int j_decode(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) {
    (void)n;
    if (a[0].type != TR_STR) return TR_FN_BADTYPE;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_json_decode(a[0].as.s->data, a[0].as.s->len, o, &d);
    if (rc == -ENOMEM) return rc;
    if (rc) {
        snprintf(c->msg, sizeof c->msg, "%.500s", d.msg);
        return TR_FN_ERROR;
    }
    return 0;
}

static int j_encode_with(const tr_value *a, tr_value *o, int pretty) {
    struct tr_buf b;
    tr_buf_init(&b);
    /* 0.11: simd_json::to_string(_pretty), whose serde path writes bytes
     * as arrays of numbers */
    int rc = tr_json_encode_flags(&a[0], &b, TR_JSON_BIN_ARRAY | (pretty ? TR_JSON_PRETTY : 0));
    if (!rc) rc = tr_v_str(b.data ? b.data : "", b.len, o);
    tr_buf_fini(&b);
    return rc;
}
static int j_encode(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) { (void)c, (void)n; return j_encode_with(a, o, 0); }
static int j_encode_pretty(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) { (void)c, (void)n; return j_encode_with(a, o, 1); }

const struct tr_fn tr_std_json[] = {
    {"json", "decode", 1, 1, 1, j_decode},
    {"json", "encode", 1, 1, 1, j_encode},
    {"json", "encode_pretty", 1, 1, 1, j_encode_pretty},
    {NULL, NULL, 0, 0, 0, NULL},
};

/* --- range --- */
#define MAX_RANGE 10000000
static int r_range(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) {
    (void)n;
    if (a[0].type != TR_I64 || a[1].type != TR_I64) return TR_FN_BADTYPE;
    int64_t lo = a[0].as.i, hi = a[1].as.i;
    if (hi > lo && (uint64_t)(hi - lo) > MAX_RANGE) {
        snprintf(c->msg, sizeof c->msg, "range of more than %d elements", MAX_RANGE);
        return TR_FN_ERROR;
    }
    int rc = tr_v_arr(hi > lo ? (size_t)(hi - lo) : 0, o);
    for (int64_t i = lo; i < hi && !rc; i++) rc = tr_arr_push(o, tr_v_int(i));
    return rc;
}

/* std::range's contains, a script function in 0.11: an empty array holds
 * nothing, otherwise first <= n and last >= n with the `<=` of the language
 * (numbers by value, strings and binaries by bytes, other pairs an error). */
static int le(struct tr_fcall *c, const tr_value *x, const tr_value *y, int *out) {
    int xs = x->type == TR_STR || x->type == TR_BIN, ys = y->type == TR_STR || y->type == TR_BIN;
    if (xs && ys) {
        uint32_t n = x->as.s->len < y->as.s->len ? x->as.s->len : y->as.s->len;
        int d = memcmp(x->as.s->data, y->as.s->data, n);
        *out = d ? d < 0 : x->as.s->len <= y->as.s->len;
        return 0;
    }
    double a, b;
    if (x->type == TR_I64 && y->type == TR_I64) *out = x->as.i <= y->as.i;
    else if (x->type == TR_U64 && y->type == TR_U64) *out = x->as.u <= y->as.u;
    else if (x->type == TR_U64 && y->type == TR_I64) *out = 0;
    else if (x->type == TR_I64 && y->type == TR_U64) *out = 1;
    else if (num_f(x, &a) && num_f(y, &b)) *out = a <= b;
    else {
        snprintf(c->msg, sizeof c->msg, "The binary operation `<=` is not defined for the type `%s` and `%s`",
                 tr_lang_type_name(x), tr_lang_type_name(y));
        return TR_FN_ERROR;
    }
    return 0;
}

static int r_contains(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) {
    (void)n;
    if (a[0].type != TR_ARR) return TR_FN_BADTYPE;
    uint32_t len = tr_arr_len(&a[0]);
    int lo = 0, hi = 0, rc;
    if (len && (rc = le(c, tr_arr_at(&a[0], 0), &a[1], &lo))) return rc;
    /* `and` stops at the first false, as in the script */
    if (lo && (rc = le(c, &a[1], tr_arr_at(&a[0], len - 1), &hi))) return rc;
    *o = tr_v_bool(len && lo && hi);
    return 0;
}

const struct tr_fn tr_std_range[] = {
    {"range", "range", 2, 2, 1, r_range},
    {"range", "contains", 2, 2, 1, r_contains},
    {NULL, NULL, 0, 0, 0, NULL},
};

/* --- integer, float --- */
static int i_parse(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) {
    (void)n;
    if (a[0].type != TR_STR) return TR_FN_BADTYPE;
    const char *s = a[0].as.s->data;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || s[0] == ' ') {
        snprintf(c->msg, sizeof c->msg, "invalid digit found in string");
        return TR_FN_ERROR;
    }
    *o = tr_v_int(v);
    return 0;
}

static int f_parse(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) {
    (void)n;
    if (a[0].type != TR_STR) return TR_FN_BADTYPE;
    const char *s = a[0].as.s->data;
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || s[0] == ' ') {
        snprintf(c->msg, sizeof c->msg, "invalid float literal");
        return TR_FN_ERROR;
    }
    *o = tr_v_float(v);
    return 0;
}

const struct tr_fn tr_std_integer[] = {
    {"integer", "parse", 1, 1, 1, i_parse},
    {NULL, NULL, 0, 0, 0, NULL},
};
const struct tr_fn tr_std_float[] = {
    {"float", "parse", 1, 1, 1, f_parse},
    {NULL, NULL, 0, 0, 0, NULL},
};

/* --- test --- */
static int t_assert(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) {
    (void)c, (void)n;
    *o = tr_v_bool(tr_value_eq(&a[1], &a[2]));
    return 0;
}
static int t_null(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) {
    (void)c, (void)a, (void)n;
    *o = tr_v_null();
    return 0;
}

const struct tr_fn tr_std_test[] = {
    {"test", "assert", 3, 3, 0, t_assert},
    {"test", "suite", 1, 1, 0, t_null},
    {"test", "test", 1, 1, 0, t_null},
    {NULL, NULL, 0, 0, 0, NULL},
};
