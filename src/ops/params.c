/* params.c - small helpers shared by the operators (see ops_int.h).
 *
 * The hand-over of `with` parameters to an operator's config map, the text
 * form of ids and the release of an event that cannot go on. Invariant: the
 * spec's params are never changed.
 */
#include <inttypes.h>

#include "core/buf.h"
#include "ops/ops_int.h"

int tr_op_has_params(const struct tr_op_spec *s) {
    return s->params && s->params->type == TR_REC && tr_rec_len(s->params) > 0;
}

int tr_op_cfg_apply(const struct tr_op_spec *s, const struct tr_cmap_entry *map, void *cfg,
                    struct tr_diag *d) {
    struct tr_cmap_src src = {.file = s->file, .line = s->line, .col = s->col, .kind = s->kind,
                              .id = s->id, .style = TR_CMAP_STYLE_SERDE};
    return tr_cmap_apply(map, s->params, cfg, &src, d);
}

void tr_op_drop(struct tr_op_host *host, struct tr_event *ev) {
    if (ev->transactional) {
        struct tr_insight in;
        in.cb = TR_CB_FAIL;
        tr_ids_move(&in.ids, &ev->ids);
        tr_op_insight(host, &in);
    }
    tr_event_fini(ev);
}

int tr_op_format_ids(struct tr_buf *b, const struct tr_ids *ids) {
    int rc = tr_buf_printf(b, "%" PRIu64 ":%" PRIu64 ":%" PRIu64, ids->id.source, ids->id.stream,
                           ids->id.event);
    for (uint32_t i = 0; !rc && i < ids->ntracked; i++) {
        const struct tr_tracked *t = &tr_ids_list(ids)[i];
        rc = tr_buf_printf(b, "%s[min=%" PRIu64 ":%" PRIu64 ":%" PRIu64 ", max=%" PRIu64
                              ":%" PRIu64 ":%" PRIu64 "]",
                           i ? ", " : " ", t->source, t->stream, t->min, t->source, t->stream,
                           t->max);
    }
    return rc;
}
