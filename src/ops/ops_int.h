/* ops_int.h - helpers shared by the operator files of src/ops only.
 *
 * An operator describes its `with` parameters as a config map (config/cmap.h,
 * its ops' .cmap) and reads them with tr_op_cfg_apply, which words errors as
 * Tremor's serde does ("missing field `k`", "`k`: invalid type: ..."). Not an
 * API for other modules: they go through op.h.
 */
#ifndef TR_OPS_INT_H
#define TR_OPS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "config/cmap.h"
#include "core/error.h"
#include "ops/op.h"

/* Check s->params against map and fill cfg (see tr_cmap_apply), located at
 * the statement. Strings and values written are borrowed from s->params. */
int tr_op_cfg_apply(const struct tr_op_spec *s, const struct tr_cmap_entry *map, void *cfg,
                    struct tr_diag *d);
/* Whether any `with` parameters were given at all: Tremor tells an operator
 * that needs some "Operator config for <id> is missing" before looking at
 * any key. */
int tr_op_has_params(const struct tr_op_spec *s);

/* qos::backpressure's map, shared with its old name generic::backpressure. */
extern const struct tr_cmap_entry tr_op_backpressure_cmap[];

/* Release ev (taken), an event the operator cannot pass on (out of memory):
 * a transactional one is failed upstream first, so its source resends it
 * instead of waiting for an answer that never comes. */
void tr_op_drop(struct tr_op_host *host, struct tr_event *ev);

/* Recent events an operator sent on, by event id, so that an insight coming
 * back can be matched to what the operator did with its event. Tremor
 * carries that in per-operator event metadata; this pipeline does not, so an
 * operator remembers its last events instead: direct-mapped, a newer event
 * takes the slot of an older one that hashes alike, nothing is allocated. An
 * insight whose id is not found is treated as one about an event this
 * operator never saw. */
#define TR_OP_RECENT_SLOTS 1024      /* power of two */

struct tr_op_seen {
    struct tr_eid id;
    uint64_t ingest_ns;
    uint32_t tag;                    /* the operator's own note, e.g. an output index */
    uint32_t used;
};

struct tr_op_recent {
    struct tr_op_seen slot[TR_OP_RECENT_SLOTS];
};

void tr_op_recent_put(struct tr_op_recent *r, const struct tr_eid *id, uint64_t ingest_ns,
                      uint32_t tag);
/* The entry for id, or NULL. Valid until the next put. */
const struct tr_op_seen *tr_op_recent_get(const struct tr_op_recent *r, const struct tr_eid *id);

/* "1:2:3 [min=..., max=...]": Tremor's text form of event ids. */
struct tr_buf;
int tr_op_format_ids(struct tr_buf *b, const struct tr_ids *ids);

#endif
