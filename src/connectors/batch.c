/* batch.c - see batch.h. */
#include "connectors/batch.h"

static const tr_value *data_of(const tr_value *e) {
    const tr_value *d = e->type == TR_REC ? tr_rec_get_cstr(e, "data") : NULL;
    return d && d->type == TR_REC && tr_rec_get_cstr(d, "value") ? d : NULL;
}

bool tr_batch_is(const tr_value *v) {
    if (v->type != TR_ARR || tr_arr_len(v) == 0) return false;
    for (uint32_t i = 0; i < tr_arr_len(v); i++)
        if (!data_of(tr_arr_at(v, i))) return false;
    return true;
}

void tr_batch_at(const tr_value *v, uint32_t i, const tr_value **value, const tr_value **meta) {
    const tr_value *d = data_of(tr_arr_at(v, i));
    *value = tr_rec_get_cstr(d, "value");
    const tr_value *m = tr_rec_get_cstr(d, "meta");
    *meta = m && m->type == TR_REC ? m : NULL;
}
