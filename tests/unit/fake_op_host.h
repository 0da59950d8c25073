/* fake_op_host.h - a pipeline host for operator unit tests.
 *
 * Records every event an operator emits together with its port, and every
 * insight it sends upstream; helpers build specs from "k=v,k=v" text and
 * events with a given value, metadata and ingest time. Header-only (static inline
 * functions) because each test program includes it once.
 */
#ifndef TR_FAKE_OP_HOST_H
#define TR_FAKE_OP_HOST_H

#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "core/alloc.h"
#include "core/event.h"
#include "ops/op.h"

#define FAKE_MAX 512

struct fake {
    struct tr_op_host base;
    struct tr_event out[FAKE_MAX];
    char port[FAKE_MAX][64];
    int nout;
    enum tr_cb ups[FAKE_MAX];
    int nups;
};

static inline int fake_emit(struct tr_op_host *h, const char *port, struct tr_event *ev) {
    struct fake *f = (struct fake *)h;
    assert_true(f->nout < FAKE_MAX);
    snprintf(f->port[f->nout], sizeof f->port[0], "%s", port);
    f->out[f->nout++] = *ev;
    return 0;
}

static inline void fake_insight(struct tr_op_host *h, struct tr_insight *in) {
    struct fake *f = (struct fake *)h;
    assert_true(f->nups < FAKE_MAX);
    f->ups[f->nups++] = in->cb;
    tr_insight_fini(in);
}

static const struct tr_op_host_ops fake_ops = {fake_emit, fake_insight, NULL};

static inline void fake_init(struct fake *f) {
    memset(f, 0, sizeof *f);
    f->base.ops = &fake_ops;
}

static inline void fake_fini(struct fake *f) {
    for (int i = 0; i < f->nout; i++) tr_event_fini(&f->out[i]);
    fake_init(f);
}

/* A value from JSON text; the test fails on bad text. */
static inline tr_value fake_json(const char *text) {
    tr_value v;
    assert_int_equal(tr_json_decode(text, strlen(text), &v, NULL), 0);
    return v;
}

/* JSON text of v into buf, for comparing whole values. */
static inline const char *fake_text(const tr_value *v, char *buf, size_t n) {
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_json_encode(v, &b), 0);
    snprintf(buf, n, "%s", b.data);
    tr_buf_fini(&b);
    return buf;
}

/* An event with value and meta given as JSON, id (0, 0, id). */
static inline void fake_event(struct tr_event *ev, const char *value, const char *meta,
                              uint64_t id, uint64_t ingest_ns) {
    assert_int_equal(tr_event_init(ev, fake_json(value), meta ? fake_json(meta) : tr_v_null(),
                                   ingest_ns), 0);
    tr_ids_init(&ev->ids, 0, 0, id);
}

static inline struct tr_op_spec fake_spec(const char *id, const char *kind,
                                          const tr_value *params) {
    struct tr_op_spec s = {.id = id, .kind = kind, .params = params, .uid = 4242,
                           .pipeline = "p", .instance = "01", .server_instance = "tremor",
                           .data_dir = "/nonexistent", .file = "q.trickle", .line = 7,
                           .col = 1};
    return s;
}

#endif
