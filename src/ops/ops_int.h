/* ops_int.h - helpers shared by the operator files of src/ops only.
 *
 * Reading `with` parameters the way Tremor's operator configs read them:
 * unknown keys are ignored, a missing required key or a value of the wrong
 * type is a located configuration error naming the operator and the key.
 * Not an API for other modules: they go through op.h.
 */
#ifndef TR_OPS_INT_H
#define TR_OPS_INT_H

#include <stdint.h>

#include "core/error.h"
#include "ops/op.h"

#define TR_OP_PARAM_REQUIRED 1   /* absence is an error ("missing field `k`") */

/* Each returns 0 and sets *out when the key is present and well typed, 0 and
 * leaves *out alone when it is absent and optional, or TR_EINVAL_CFG with d
 * filled. *present (may be NULL) says whether the key was there. */
int tr_op_param_str(const struct tr_op_spec *s, const char *key, int flags, const char **out,
                    int *present, struct tr_diag *d);
int tr_op_param_u64(const struct tr_op_spec *s, const char *key, int flags, uint64_t *out,
                    int *present, struct tr_diag *d);
/* Any number (integers are converted), as serde reads an f64. */
int tr_op_param_f64(const struct tr_op_spec *s, const char *key, int flags, double *out,
                    int *present, struct tr_diag *d);
int tr_op_param_bool(const struct tr_op_spec *s, const char *key, int flags, int *out,
                     int *present, struct tr_diag *d);
/* The value itself (borrowed from s->params), or NULL when absent. */
const tr_value *tr_op_param(const struct tr_op_spec *s, const char *key);
/* Whether any `with` parameters were given at all. */
int tr_op_has_params(const struct tr_op_spec *s);

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
