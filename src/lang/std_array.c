/* std_array.c - std::array: functions over arrays.
 *
 * All pure; results are new arrays sharing elements by reference.
 * flatten recurses only as deep as the value (bounded by the value depth).
 * On failure a function may leave a partial result in *out: the
 * interpreter releases it (see eval_call in interp.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lang/std_int.h"

#define ARR(i) (n > (i) && args[i].type == TR_ARR)

static int len(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    (void)c;
    if (!ARR(0)) return TR_FN_BADTYPE;
    *out = tr_v_int(tr_arr_len(&args[0]));
    return 0;
}

static int is_empty(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    (void)c;
    if (!ARR(0)) return TR_FN_BADTYPE;
    *out = tr_v_bool(tr_arr_len(&args[0]) == 0);
    return 0;
}

static int contains(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    (void)c;
    if (!ARR(0)) return TR_FN_BADTYPE;
    int found = 0;
    for (uint32_t i = 0; i < tr_arr_len(&args[0]) && !found; i++)
        found = tr_value_eq(tr_arr_at(&args[0], i), &args[1]);
    *out = tr_v_bool(found);
    return 0;
}

static int push(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    (void)c;
    if (!ARR(0)) return TR_FN_BADTYPE;
    *out = tr_value_ref(args[0]);
    int rc = tr_value_mut(out);
    if (!rc) rc = tr_arr_push(out, tr_value_ref(args[1]));
    return rc;
}

static int zip(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    if (!ARR(0) || !ARR(1)) return TR_FN_BADTYPE;
    uint32_t l = tr_arr_len(&args[0]), r = tr_arr_len(&args[1]);
    if (l != r) {
        snprintf(c->msg, sizeof c->msg,
                 "Zipping two arrays requires them to have the same length, but the first array provided has %u elements while the second one has %u elements",
                 l, r);
        return TR_FN_ERROR;
    }
    int rc = tr_v_arr(l, out);
    for (uint32_t i = 0; i < l && !rc; i++) {
        tr_value p;
        if ((rc = tr_v_arr(2, &p))) break;
        /* either item may be as deep as a value can be */
        if ((rc = tr_arr_push(&p, tr_value_ref(*tr_arr_at(&args[0], i)))) ||
            (rc = tr_arr_push(&p, tr_value_ref(*tr_arr_at(&args[1], i))))) {
            tr_value_unref(p);
            break;
        }
        rc = tr_arr_push(out, p);
    }
    return rc;
}

static int unzip(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    if (!ARR(0)) return TR_FN_BADTYPE;
    tr_value l, r;
    int rc = tr_v_arr(4, &l);
    if (rc) return rc;
    if ((rc = tr_v_arr(4, &r))) {
        tr_value_unref(l);
        return rc;
    }
    for (uint32_t i = 0; i < tr_arr_len(&args[0]) && !rc; i++) {
        const tr_value *e = tr_arr_at(&args[0], i);
        if (e->type != TR_ARR || tr_arr_len(e) != 2) {
            if (e->type == TR_ARR)
                snprintf(c->msg, sizeof c->msg,
                         "Only arrays that consist of tuples (arrays of two elements) can be unzipped but this array contained %u elements",
                         tr_arr_len(e));
            else
                snprintf(c->msg, sizeof c->msg,
                         "Only arrays that consist of tuples (arrays of two elements) can be unzipped");
            rc = TR_FN_ERROR;
            break;
        }
        rc = tr_arr_push(&l, tr_value_ref(*tr_arr_at(e, 0)));
        if (!rc) rc = tr_arr_push(&r, tr_value_ref(*tr_arr_at(e, 1)));
    }
    if (!rc) rc = tr_v_arr(2, out);
    if (rc) {
        tr_value_unref(l);
        tr_value_unref(r);
        return rc;
    }
    tr_arr_push(out, l);
    tr_arr_push(out, r);
    return 0;
}

static int flat(const tr_value *v, tr_value *out) {
    if (v->type != TR_ARR) return tr_arr_push(out, tr_value_ref(*v));
    for (uint32_t i = 0; i < tr_arr_len(v); i++) {
        int rc = flat(tr_arr_at(v, i), out);
        if (rc) return rc;
    }
    return 0;
}

static int flatten(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    (void)c;
    (void)n;
    int rc = tr_v_arr(4, out);
    return rc ? rc : flat(&args[0], out);
}

static int join(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    (void)c;
    if (!ARR(0) || args[1].type != TR_STR) return TR_FN_BADTYPE;
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = 0;
    for (uint32_t i = 0; i < tr_arr_len(&args[0]) && !rc; i++) {
        if (i) rc = tr_buf_append(&b, args[1].as.s->data, args[1].as.s->len);
        if (!rc) rc = tr_value_to_string(tr_arr_at(&args[0], i), &b);
    }
    if (!rc) rc = tr_v_str(b.data ? b.data : "", b.len, out);
    tr_buf_fini(&b);
    return rc;
}

static int coalesce(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    (void)c;
    if (!ARR(0)) return TR_FN_BADTYPE;
    int rc = tr_v_arr(tr_arr_len(&args[0]), out);
    for (uint32_t i = 0; i < tr_arr_len(&args[0]) && !rc; i++)
        if (tr_arr_at(&args[0], i)->type != TR_NULL) rc = tr_arr_push(out, tr_value_ref(*tr_arr_at(&args[0], i)));
    return rc;
}

const struct tr_fn tr_std_array[] = {
    {"array", "len", 1, 1, 1, len},
    {"array", "is_empty", 1, 1, 1, is_empty},
    {"array", "contains", 2, 2, 1, contains},
    {"array", "push", 2, 2, 1, push},
    {"array", "zip", 2, 2, 1, zip},
    {"array", "unzip", 1, 1, 1, unzip},
    {"array", "flatten", 1, 1, 1, flatten},
    {"array", "join", 2, 2, 1, join},
    {"array", "coalesce", 1, 1, 1, coalesce},
    {NULL, NULL, 0, 0, 0, NULL},
};
