/* generic_backpressure.c - `generic::backpressure`, the deprecated name of qos::backpressure.
 *
 * Tremor 0.11 still accepts it and logs an error at creation; the operator
 * is the same in every respect (qos_backpressure.c), only the kind differs.
 */
#include "core/log.h"
#include "ops/ops_int.h"

extern const struct tr_op_ops tr_op_qos_backpressure;

static int gbp_create(const struct tr_op_spec *spec, struct tr_op_host *host, void **self,
                      struct tr_diag *d) {
    TR_ERROR("generic::backpressure", "The generic::backpressure operator is deprecated, please "
             "use qos::backpressure instead (operator '%s').", spec->id);
    return tr_op_qos_backpressure.create(spec, host, self, d);
}

static int gbp_event(void *self, const char *port, struct tr_event *ev) {
    return tr_op_qos_backpressure.event(self, port, ev);
}

static void gbp_tick(void *self, uint64_t now_ns) { tr_op_qos_backpressure.tick(self, now_ns); }

static void gbp_contraflow(void *self, struct tr_insight *in) {
    tr_op_qos_backpressure.contraflow(self, in);
}

static void gbp_destroy(void *self) { tr_op_qos_backpressure.destroy(self); }

const struct tr_op_ops tr_op_generic_backpressure = {
    .kind = "generic::backpressure",
    .cmap = tr_op_backpressure_cmap,
    .create = gbp_create,
    .event = gbp_event,
    .tick = gbp_tick,
    .contraflow = gbp_contraflow,
    .destroy = gbp_destroy,
};
