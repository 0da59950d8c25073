/* debug_history.c - the `debug::history` operator: a trail of the operators an event passed.
 *
 * Config: `op` (a label) and `name` (a metadata key), both required. Each
 * event gets "evt: <op>(<event id>)" appended to the array in `$<name>`; when
 * that key is absent or not an array it becomes a one-element array. The id
 * is printed as Tremor prints it ("source:stream:event", then any tracked
 * ranges), so trails compare equal across implementations. A tracing aid,
 * not a metric: the value is never changed. Invariant: every event leaves by
 * "out", with its metadata changed only under `$<name>`.
 */
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "ops/ops_int.h"

struct history {
    struct tr_op_host *host;
    char *op;
    char *name;
    size_t name_len;
    struct tr_buf line;          /* reused for each entry's text */
};

static void history_free(struct history *h) {
    tr_free(h->op);
    tr_free(h->name);
    tr_buf_fini(&h->line);
    tr_free(h);
}

struct history_cfg {
    const char *op, *name;
};

static const struct tr_cmap_entry history_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR, "op", NULL, TR_CMAP_REQUIRED, offsetof(struct history_cfg, op),
                 "label of this operator in each trail entry")},
    {TR_CMAP_KEY(TR_CMAP_STR, "name", NULL, TR_CMAP_REQUIRED, offsetof(struct history_cfg, name),
                 "metadata key that holds the trail")},
    {0},
};

static int history_create(const struct tr_op_spec *spec, struct tr_op_host *host, void **self,
                          struct tr_diag *d) {
    if (!tr_op_has_params(spec))
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "Operator config for %s is missing", spec->id);
    struct history_cfg c;
    int rc = tr_op_cfg_apply(spec, history_cmap, &c, d);
    if (rc) return rc;
    const char *op = c.op, *name = c.name;
    struct history *h = tr_calloc(1, sizeof *h);
    if (!h) return -ENOMEM;
    tr_buf_init(&h->line);
    h->host = host;
    h->op = tr_strdup(op);
    h->name = tr_strdup(name);
    if (!h->op || !h->name) {
        history_free(h);
        return -ENOMEM;
    }
    h->name_len = strlen(name);
    *self = h;
    return 0;
}

static int append(struct history *h, struct tr_event *ev) {
    tr_buf_reset(&h->line);
    int rc = tr_buf_printf(&h->line, "evt: %s(", h->op);
    if (!rc) rc = tr_op_format_ids(&h->line, &ev->ids);
    if (!rc) rc = tr_buf_putc(&h->line, ')');
    if (rc) return rc;
    /* Tremor leaves metadata that is not a record alone */
    if (ev->meta.type != TR_REC) return 0;
    tr_value entry;
    if ((rc = tr_v_str(h->line.data, h->line.len, &entry))) return rc;
    if ((rc = tr_value_mut(&ev->meta))) {
        tr_value_unref(entry);
        return rc;
    }
    tr_value *trail = tr_rec_get(&ev->meta, h->name, h->name_len);
    if (trail && trail->type == TR_ARR) {
        if ((rc = tr_value_mut(trail))) {
            tr_value_unref(entry);
            return rc;
        }
        return tr_arr_push(trail, entry);
    }
    tr_value arr;
    if ((rc = tr_v_arr(1, &arr))) {
        tr_value_unref(entry);
        return rc;
    }
    if ((rc = tr_arr_push(&arr, entry))) {
        tr_value_unref(arr);
        return rc;
    }
    return tr_rec_set(&ev->meta, h->name, h->name_len, arr);
}

static int history_event(void *self, const char *port, struct tr_event *ev) {
    (void)port;
    struct history *h = self;
    int rc = append(h, ev);
    if (rc) {
        tr_op_drop(h->host, ev);
        return rc;
    }
    return tr_op_emit(h->host, "out", ev);
}

static void history_destroy(void *self) {
    if (self) history_free(self);
}

const struct tr_op_ops tr_op_debug_history = {
    .kind = "debug::history",
    .cmap = history_cmap,
    .create = history_create,
    .event = history_event,
    .destroy = history_destroy,
};
