/* registry.c - operator kinds known to `create operator ... from <kind>`.
 *
 * One list (KINDS below) makes both the lookup table and the human-readable
 * list of kinds used in "unknown operator kind" messages, so adding an
 * operator is one line. Not a plugin loader: the set is fixed at build time.
 * Invariant: every entry's kind string equals its ops' .kind (a unit test
 * checks this).
 */
#include <string.h>

#include "config/cmap.h"
#include "core/error.h"
#include "ops/op.h"

#define KINDS(X)                                           \
    X(tr_op_passthrough, "passthrough")                    \
    X(tr_op_debug_history, "debug::history")               \
    X(tr_op_generic_backpressure, "generic::backpressure") \
    X(tr_op_generic_batch, "generic::batch")               \
    X(tr_op_generic_counter, "generic::counter")           \
    X(tr_op_grouper_bucket, "grouper::bucket")             \
    X(tr_op_qos_backpressure, "qos::backpressure")         \
    X(tr_op_qos_percentile, "qos::percentile")             \
    X(tr_op_qos_roundrobin, "qos::roundrobin")             \
    X(tr_op_qos_wal, "qos::wal")

#define DECLARE(sym, name) extern const struct tr_op_ops sym;
KINDS(DECLARE)

#define ENTRY(sym, name) &sym,
static const struct tr_op_ops *const kinds[] = {KINDS(ENTRY)};

/* ", a, b, c": each entry adds its own separator; the first one is skipped. */
#define NAME(sym, name) ", " name
static const char kind_list[] = "" KINDS(NAME);

const struct tr_op_ops *tr_op_find(const char *kind) {
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i]->kind, kind) == 0) return kinds[i];
    return NULL;
}

const char *tr_op_kinds(void) { return kind_list + 2; }

int tr_op_help(const char *kind, FILE *f) {
    const struct tr_op_ops *op = kind ? tr_op_find(kind) : NULL;
    if (!op) {
        if (kind) fprintf(f, "unknown operator kind '%s'\n", kind);
        fprintf(f, "operator kinds: %s\n", tr_op_kinds());
        return kind ? TR_ENOTFOUND : 0;
    }
    fprintf(f, "operator %s (`with` parameters):\n", op->kind);
    if (op->cmap) tr_cmap_print(op->cmap, f);
    else fprintf(f, "  (no config map yet: the operator checks its parameters itself)\n");
    return 0;
}
