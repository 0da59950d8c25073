/* emit_host.h - a fake offramp host that also records linked responses
 * (tr_offramp_emit): the port, the token, the value and meta as JSON text.
 * Builds on fake_conn_host.h; include after it. */
#ifndef EMIT_HOST_H
#define EMIT_HOST_H

#include <stdio.h>

#include "codec/json.h"
#include "core/buf.h"

#define EMIT_MAX 256

struct emit_host {
    struct fake_out f;            /* first: the callbacks cast back */
    size_t n;
    bool err[EMIT_MAX];
    uint64_t token[EMIT_MAX];
    char *value[EMIT_MAX], *meta[EMIT_MAX];
};

static inline char *emit_json(tr_value v) {
    struct tr_buf b;
    tr_buf_init(&b);
    if (tr_json_encode(&v, &b) || tr_buf_putc(&b, 0)) abort();
    char *s = strdup(b.data);
    tr_buf_fini(&b);
    if (!s) abort();
    return s;
}

static inline int emit_host_emit(struct tr_offramp_host *h, uint64_t token, bool err, tr_value value,
                                 tr_value meta) {
    struct emit_host *e = (struct emit_host *)h;
    if (e->n == EMIT_MAX) abort();
    e->err[e->n] = err;
    e->token[e->n] = token;
    e->value[e->n] = emit_json(value);
    e->meta[e->n] = emit_json(meta);
    e->n++;
    tr_value_unref(value);
    tr_value_unref(meta);
    return 0;
}

static const struct tr_offramp_host_ops emit_host_ops = {fake_out_ack, fake_out_fail, fake_out_trigger,
                                                         fake_out_restore, fake_out_shutdown,
                                                         fake_out_release, emit_host_emit, fake_out_exit};

static inline void emit_host_init(struct emit_host *e, uv_loop_t *loop, size_t ntokens) {
    memset(e, 0, sizeof *e);
    fake_out_init(&e->f, loop, ntokens);
    e->f.h.ops = &emit_host_ops;
}

static inline void emit_host_fini(struct emit_host *e) {
    for (size_t i = 0; i < e->n; i++) {
        free(e->value[i]);
        free(e->meta[i]);
    }
    fake_out_fini(&e->f);
}

/* The last response, or "" */
static inline const char *emit_last(const struct emit_host *e) { return e->n ? e->value[e->n - 1] : ""; }
static inline const char *emit_last_meta(const struct emit_host *e) { return e->n ? e->meta[e->n - 1] : ""; }

#endif
