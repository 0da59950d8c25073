/* params.c - small helpers shared by the operators (see ops_int.h).
 *
 * Reading `with` parameters mirrors how Tremor deserialises an operator's
 * config: only the keys an operator knows are looked at, wrong types name
 * what was expected. Not a schema validator. Also the text form of ids and
 * the release of an event that cannot go on. Invariant: the spec's params
 * are never changed.
 */
#include <inttypes.h>
#include <math.h>

#include "core/buf.h"
#include "ops/ops_int.h"

const tr_value *tr_op_param(const struct tr_op_spec *s, const char *key) {
    if (!s->params || s->params->type != TR_REC) return NULL;
    return tr_rec_get_cstr(s->params, key);
}

int tr_op_has_params(const struct tr_op_spec *s) {
    return s->params && s->params->type == TR_REC && tr_rec_len(s->params) > 0;
}

static int lookup(const struct tr_op_spec *s, const char *key, int flags, const tr_value **v,
                  int *present, struct tr_diag *d) {
    *v = tr_op_param(s, key);
    if (present) *present = *v != NULL;
    if (!*v && (flags & TR_OP_PARAM_REQUIRED))
        return tr_diag_set(d, TR_EINVAL_CFG, s->file, s->line, s->col,
                           "%s operator '%s': missing field `%s`", s->kind, s->id, key);
    return 0;
}

static int bad_type(const struct tr_op_spec *s, const char *key, const tr_value *v,
                    const char *expected, struct tr_diag *d) {
    return tr_diag_set(d, TR_EINVAL_CFG, s->file, s->line, s->col,
                       "%s operator '%s': `%s`: invalid type: %s, expected %s", s->kind, s->id,
                       key, tr_type_name(v->type), expected);
}

int tr_op_param_str(const struct tr_op_spec *s, const char *key, int flags, const char **out,
                    int *present, struct tr_diag *d) {
    const tr_value *v;
    int rc = lookup(s, key, flags, &v, present, d);
    if (rc || !v) return rc;
    if (v->type != TR_STR) return bad_type(s, key, v, "a string", d);
    *out = v->as.s->data;
    return 0;
}

int tr_op_param_u64(const struct tr_op_spec *s, const char *key, int flags, uint64_t *out,
                    int *present, struct tr_diag *d) {
    const tr_value *v;
    int rc = lookup(s, key, flags, &v, present, d);
    if (rc || !v) return rc;
    if (v->type == TR_I64 && v->as.i >= 0) *out = (uint64_t)v->as.i;
    else if (v->type == TR_U64) *out = v->as.u;
    else return bad_type(s, key, v, "a non-negative integer", d);
    return 0;
}

int tr_op_param_f64(const struct tr_op_spec *s, const char *key, int flags, double *out,
                    int *present, struct tr_diag *d) {
    const tr_value *v;
    int rc = lookup(s, key, flags, &v, present, d);
    if (rc || !v) return rc;
    if (v->type == TR_I64) *out = (double)v->as.i;
    else if (v->type == TR_U64) *out = (double)v->as.u;
    else if (v->type == TR_F64 && isfinite(v->as.f)) *out = v->as.f;
    else return bad_type(s, key, v, "a finite number", d);
    return 0;
}

int tr_op_param_bool(const struct tr_op_spec *s, const char *key, int flags, int *out,
                     int *present, struct tr_diag *d) {
    const tr_value *v;
    int rc = lookup(s, key, flags, &v, present, d);
    if (rc || !v) return rc;
    if (v->type != TR_BOOL) return bad_type(s, key, v, "a boolean", d);
    *out = v->as.b;
    return 0;
}

void tr_op_drop(struct tr_op_host *host, struct tr_event *ev) {
    if (ev->transactional) {
        struct tr_insight in;
        in.cb = TR_CB_FAIL;
        in.ids = ev->ids;                      /* moved */
        tr_ids_init(&ev->ids, 0, 0, 0);
        tr_op_insight(host, &in);
    }
    tr_event_fini(ev);
}

int tr_op_format_ids(struct tr_buf *b, const struct tr_ids *ids) {
    int rc = tr_buf_printf(b, "%" PRIu64 ":%" PRIu64 ":%" PRIu64, ids->id.source, ids->id.stream,
                           ids->id.event);
    for (uint32_t i = 0; !rc && i < ids->ntracked; i++) {
        const struct tr_tracked *t = &ids->tracked[i];
        rc = tr_buf_printf(b, "%s[min=%" PRIu64 ":%" PRIu64 ":%" PRIu64 ", max=%" PRIu64
                              ":%" PRIu64 ":%" PRIu64 "]",
                           i ? ", " : " ", t->source, t->stream, t->min, t->source, t->stream,
                           t->max);
    }
    return rc;
}
