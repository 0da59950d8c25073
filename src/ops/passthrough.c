/* passthrough.c - the `passthrough` operator: every event out of "out".
 * Useful as a named junction in a query; it keeps no state. */
#include <errno.h>

#include "core/alloc.h"
#include "config/cmap.h"
#include "ops/op.h"

struct pt {
    struct tr_op_host *host;
};

/* Reads no settings; like Tremor it ignores any that are given. */
static const struct tr_cmap_entry pt_cmap[] = {{0}};

static int pt_create(const struct tr_op_spec *spec, struct tr_op_host *host, void **self,
                     struct tr_diag *d) {
    (void)spec;
    (void)d;
    struct pt *p = tr_calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    p->host = host;
    *self = p;
    return 0;
}

static int pt_event(void *self, const char *port, struct tr_event *ev) {
    (void)port;
    struct pt *p = self;
    return tr_op_emit(p->host, "out", ev);
}

static void pt_destroy(void *self) { tr_free(self); }

const struct tr_op_ops tr_op_passthrough = {
    .kind = "passthrough",
    .cmap = pt_cmap,
    .create = pt_create,
    .event = pt_event,
    .takes_raw = true,
    .destroy = pt_destroy,
};
