/* registry.c - operator kinds known to `create operator ... from <kind>`. */
#include <string.h>

#include "ops/op.h"

extern const struct tr_op_ops tr_op_passthrough;
extern const struct tr_op_ops tr_op_qos_wal;

static const struct tr_op_ops *const kinds[] = {
    &tr_op_passthrough,
    &tr_op_qos_wal,
};

const struct tr_op_ops *tr_op_find(const char *kind) {
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i]->kind, kind) == 0) return kinds[i];
    return NULL;
}

const char *tr_op_kinds(void) { return "passthrough, qos::wal"; }
