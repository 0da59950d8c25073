/* std_record.c - std::record: functions over records.
 *
 * All pure. Results are new records; arguments are never changed.
 * Invariant: key order of results follows the input's insertion order.
 * On failure a function may leave a partial result in *out: the
 * interpreter releases it (see eval_call in interp.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "codec/json.h"
#include "lang/std_int.h"

#define REC(i) (n > (i) && args[i].type == TR_REC)

static int len(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    (void)c;
    if (!REC(0)) return TR_FN_BADTYPE;
    *out = tr_v_int(tr_rec_len(&args[0]));
    return 0;
}

static int is_empty(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    (void)c;
    if (!REC(0)) return TR_FN_BADTYPE;
    *out = tr_v_bool(tr_rec_len(&args[0]) == 0);
    return 0;
}

static int contains(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    (void)c;
    if (!REC(0) || args[1].type != TR_STR) return TR_FN_BADTYPE;
    *out = tr_v_bool(tr_rec_get(&args[0], args[1].as.s->data, args[1].as.s->len) != NULL);
    return 0;
}

static int keys_values(const tr_value *args, size_t n, tr_value *out, int which) {
    if (!REC(0)) return TR_FN_BADTYPE;
    int rc = tr_v_arr(tr_rec_len(&args[0]), out);
    for (uint32_t i = 0; i < tr_rec_len(&args[0]) && !rc; i++) {
        const struct tr_field *f = tr_rec_at(&args[0], i);
        tr_value v;
        if (which == 0) {
            v = tr_v_strobj(tr_str_ref(f->key));
        } else if (which == 1) {
            v = tr_value_ref(f->val);
        } else {
            if ((rc = tr_v_arr(2, &v))) break;
            tr_arr_push(&v, tr_v_strobj(tr_str_ref(f->key)));
            if ((rc = tr_arr_push(&v, tr_value_ref(f->val)))) {
                tr_value_unref(v);
                break;
            }
        }
        rc = tr_arr_push(out, v);
    }
    return rc;
}
static int keys(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) { (void)c; return keys_values(a, n, o, 0); }
static int values(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) { (void)c; return keys_values(a, n, o, 1); }
static int to_array(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *o) { (void)c; return keys_values(a, n, o, 2); }

static int from_array(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    if (n != 1 || args[0].type != TR_ARR) return TR_FN_BADTYPE;
    int rc = tr_v_rec(tr_arr_len(&args[0]), out);
    for (uint32_t i = 0; i < tr_arr_len(&args[0]) && !rc; i++) {
        const tr_value *e = tr_arr_at(&args[0], i);
        if (e->type != TR_ARR) {
            struct tr_buf b;
            tr_buf_init(&b);
            tr_json_encode(e, &b);
            snprintf(c->msg, sizeof c->msg,
                     "Onlay arrays that consist of tuples (arrays of two elements) can be turned into records but this array contained: %s",
                     b.data ? b.data : "");
            tr_buf_fini(&b);
            return TR_FN_ERROR;
        }
        if (tr_arr_len(e) != 2) {
            snprintf(c->msg, sizeof c->msg,
                     "Onlay arrays that consist of tuples (arrays of two elements) can be trurned into an record this array contained %u elements",
                     tr_arr_len(e));
            return TR_FN_ERROR;
        }
        const tr_value *k = tr_arr_at(e, 0);
        if (k->type != TR_STR) {
            snprintf(c->msg, sizeof c->msg, "The first element of the tuple needs to be a string");
            return TR_FN_ERROR;
        }
        rc = tr_rec_set_key(out, tr_str_ref(k->as.s), tr_value_ref(*tr_arr_at(e, 1)));
    }
    return rc;
}

static int select_(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    (void)c;
    if (!REC(0) || args[1].type != TR_ARR) return TR_FN_BADTYPE;
    int rc = tr_v_rec(4, out);
    for (uint32_t i = 0; i < tr_rec_len(&args[0]) && !rc; i++) {
        const struct tr_field *f = tr_rec_at(&args[0], i);
        for (uint32_t j = 0; j < tr_arr_len(&args[1]); j++) {
            const tr_value *k = tr_arr_at(&args[1], j);
            if (k->type == TR_STR && k->as.s->len == f->key->len &&
                memcmp(k->as.s->data, f->key->data, f->key->len) == 0) {
                rc = tr_rec_set_key(out, tr_str_ref(f->key), tr_value_ref(f->val));
                break;
            }
        }
    }
    return rc;
}

static int merge(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    (void)c;
    if (!REC(0) || !REC(1)) return TR_FN_BADTYPE;
    *out = tr_value_ref(args[0]);
    int rc = tr_value_mut(out);
    for (uint32_t i = 0; i < tr_rec_len(&args[1]) && !rc; i++) {
        const struct tr_field *f = tr_rec_at(&args[1], i);
        rc = tr_rec_set_key(out, tr_str_ref(f->key), tr_value_ref(f->val));
    }
    return rc;
}

static int rename_(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out) {
    (void)c;
    if (!REC(0) || !REC(1)) return TR_FN_BADTYPE;
    int rc = tr_v_rec(tr_rec_len(&args[0]), out);
    for (uint32_t i = 0; i < tr_rec_len(&args[0]) && !rc; i++) {
        const struct tr_field *f = tr_rec_at(&args[0], i);
        const tr_value *to = tr_rec_get(&args[1], f->key->data, f->key->len);
        struct tr_str *k = to && to->type == TR_STR ? to->as.s : f->key;
        rc = tr_rec_set_key(out, tr_str_ref(k), tr_value_ref(f->val));
    }
    return rc;
}

const struct tr_fn tr_std_record[] = {
    {"record", "len", 1, 1, 1, len},
    {"record", "is_empty", 1, 1, 1, is_empty},
    {"record", "contains", 2, 2, 1, contains},
    {"record", "keys", 1, 1, 1, keys},
    {"record", "values", 1, 1, 1, values},
    {"record", "to_array", 1, 1, 1, to_array},
    {"record", "from_array", 1, 1, 1, from_array},
    {"record", "select", 2, 2, 1, select_},
    {"record", "merge", 2, 2, 1, merge},
    {"record", "rename", 2, 2, 1, rename_},
    {NULL, NULL, 0, 0, 0, NULL},
};
