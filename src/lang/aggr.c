/* aggr.c - aggregate functions of windowed selects (aggr::stats::*,
 * aggr::win::*).
 *
 * Each aggregate is a small state with init / accumulate / emit / merge, as
 * in Tremor 0.11 (merge folds an earlier window's state into a later, wider
 * one for tilted windows). Numeric ones work in doubles, like upstream, so
 * sums come out as floats. hdr and dds keep a histogram or sketch
 * (aggr_sketch.c). Not here: windows and groups (select.c).
 * Invariant: an initialised state owns at most one value (v).
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "lang/aggr_int.h"
#include "lang/std_int.h"

enum { A_COUNT, A_SUM, A_MEAN, A_MIN, A_MAX, A_VAR, A_STDEV, A_FIRST, A_LAST, A_COLLECT_FLAT, A_COLLECT_NESTED,
       A_HDR, A_DDS };

struct tr_aggr_fn {
    const char *module, *name;
    int kind, min_args, max_args;
};

static const struct tr_aggr_fn fns[] = {
    {"stats", "count", A_COUNT, 0, 0},  {"stats", "sum", A_SUM, 1, 1},
    {"stats", "mean", A_MEAN, 1, 1},    {"stats", "min", A_MIN, 1, 1},
    {"stats", "max", A_MAX, 1, 1},      {"stats", "var", A_VAR, 1, 1},
    {"stats", "stdev", A_STDEV, 1, 1},  {"win", "first", A_FIRST, 1, 1},
    {"win", "last", A_LAST, 1, 1},      {"win", "collect_flattened", A_COLLECT_FLAT, 1, 1},
    {"win", "collect_nested", A_COLLECT_NESTED, 1, 1},
    {"stats", "hdr", A_HDR, 1, 2},      {"stats", "dds", A_DDS, 1, 2},
};

const struct tr_aggr_fn *tr_aggr_find(const char *module, const char *name) {
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (!strcmp(fns[i].module, module) && !strcmp(fns[i].name, name)) return &fns[i];
    return NULL;
}

void tr_aggr_arity(const struct tr_aggr_fn *f, int *min, int *max) {
    *min = f->min_args;
    *max = f->max_args;
}
const char *tr_aggr_module(const struct tr_aggr_fn *f) { return f->module; }
const char *tr_aggr_name(const struct tr_aggr_fn *f) { return f->name; }

void tr_aggr_init(struct tr_aggr_state *s, const struct tr_aggr_fn *f) {
    memset(s, 0, sizeof *s);
    s->fn = f;
    s->v = tr_v_null();
}

void tr_aggr_fini(struct tr_aggr_state *s) {
    tr_value_unref(s->v);
    s->v = tr_v_null();
    tr_sketch_free(s->ext);
    s->ext = NULL;
}

static int as_num(const tr_value *v, double *f) {
    switch (v->type) {
    case TR_I64: *f = (double)v->as.i; return 1;
    case TR_U64: *f = (double)v->as.u; return 1;
    case TR_F64: *f = v->as.f; return 1;
    default: return 0;
    }
}

static int push_copy(struct tr_aggr_state *s, tr_value item) {
    if (s->v.type != TR_ARR) {
        int rc = tr_v_arr(4, &s->v);
        if (rc) {
            tr_value_unref(item);
            return rc;
        }
    } else if (tr_value_mut(&s->v)) {
        tr_value_unref(item);
        return -ENOMEM;
    }
    return tr_arr_push(&s->v, item);
}

int tr_aggr_accumulate(struct tr_aggr_state *s, const tr_value *args, size_t n) {
    double x = 0;
    switch (s->fn->kind) {
    case A_COUNT: s->n++; return 0;
    case A_FIRST:
        if (!s->has && n) {
            s->v = tr_value_ref(args[0]);
            s->has = 1;
        }
        return 0;
    case A_LAST:
        if (n) {
            tr_value_unref(s->v);
            s->v = tr_value_ref(args[0]);
            s->has = 1;
        }
        return 0;
    case A_COLLECT_FLAT:
    case A_COLLECT_NESTED: return n ? push_copy(s, tr_value_ref(args[0])) : 0;
    case A_HDR: return tr_sketch_accumulate(s, TR_SKETCH_HDR, args, n);
    case A_DDS: return tr_sketch_accumulate(s, TR_SKETCH_DDS, args, n);
    default: break;
    }
    if (!n || !as_num(&args[0], &x)) return TR_FN_BADTYPE;
    switch (s->fn->kind) {
    case A_SUM: s->a += x; break;
    case A_MEAN:
        s->a += x;
        s->n++;
        break;
    case A_MIN:
        if (!s->has || x < s->a) s->a = x;
        s->has = 1;
        break;
    case A_MAX:
        if (!s->has || x > s->a) s->a = x;
        s->has = 1;
        break;
    case A_VAR:
    case A_STDEV:
        /* shifted data variance: k is the first value */
        if (s->n == 0) s->c = x;
        s->n++;
        s->a += x - s->c;
        s->b += (x - s->c) * (x - s->c);
        break;
    }
    return 0;
}

int tr_aggr_emit(struct tr_aggr_state *s, tr_value *out) {
    switch (s->fn->kind) {
    case A_HDR: return tr_sketch_emit(s, TR_SKETCH_HDR, out);
    case A_DDS: return tr_sketch_emit(s, TR_SKETCH_DDS, out);
    case A_COUNT: *out = tr_v_int(s->n); return 0;
    case A_SUM: *out = tr_v_float(s->a); return 0;
    case A_MEAN: *out = s->n ? tr_v_float(s->a / (double)s->n) : tr_v_null(); return 0;
    case A_MIN:
    case A_MAX: *out = tr_v_float(s->has ? s->a : 0.0); return 0;
    case A_VAR:
    case A_STDEV: {
        double var = 0.0;
        if (s->n) {
            double nn = (double)s->n;
            var = (s->b - (s->a * s->a) / nn) / (nn - 1.0);
        }
        *out = tr_v_float(s->fn->kind == A_STDEV ? sqrt(var) : var);
        return 0;
    }
    case A_FIRST:
    case A_LAST: *out = tr_value_ref(s->v); return 0;
    default:
        if (s->v.type == TR_ARR) {
            *out = tr_value_ref(s->v);
            return 0;
        }
        return tr_v_arr(0, out);
    }
}

int tr_aggr_merge(struct tr_aggr_state *s, const struct tr_aggr_state *src) {
    switch (s->fn->kind) {
    case A_HDR: return tr_sketch_merge(s, src, TR_SKETCH_HDR);
    case A_DDS: return tr_sketch_merge(s, src, TR_SKETCH_DDS);
    case A_COUNT: s->n += src->n; return 0;
    case A_SUM: s->a += src->a; return 0;
    case A_MEAN:
        s->n += src->n;
        s->a += src->a;
        return 0;
    case A_MIN:
        /* upstream compares optional values: "none" sorts below every number */
        if (!src->has ? s->has : (s->has && src->a < s->a)) {
            s->a = src->a;
            s->has = src->has;
        }
        return 0;
    case A_MAX:
        if (src->has && (!s->has || src->a > s->a)) {
            s->a = src->a;
            s->has = 1;
        }
        return 0;
    case A_VAR:
    case A_STDEV:
        s->n += src->n;
        s->c += src->c;
        s->a += src->a;
        s->b += src->b;
        return 0;
    case A_FIRST:
        if (!s->has && src->has) {
            s->v = tr_value_ref(src->v);
            s->has = 1;
        }
        return 0;
    case A_LAST:
        if (src->has) {
            tr_value_unref(s->v);
            s->v = tr_value_ref(src->v);
            s->has = 1;
        }
        return 0;
    case A_COLLECT_FLAT:
        if (src->v.type != TR_ARR) return 0;
        for (uint32_t i = 0; i < tr_arr_len(&src->v); i++) {
            int rc = push_copy(s, tr_value_ref(*tr_arr_at(&src->v, i)));
            if (rc) return rc;
        }
        return 0;
    case A_COLLECT_NESTED: {
        tr_value inner;
        if (src->v.type == TR_ARR) inner = tr_value_ref(src->v);
        else if (tr_v_arr(0, &inner)) return -ENOMEM;
        return push_copy(s, inner);
    }
    }
    return 0;
}

int tr_aggr_copy(struct tr_aggr_state *dst, const struct tr_aggr_state *src) {
    *dst = *src;
    int rc = tr_sketch_copy(&dst->ext, src->ext);
    dst->v = rc ? tr_v_null() : tr_value_ref(src->v);
    return rc;
}
