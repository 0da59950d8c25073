/* fake_conn_host.h - fake runtime hosts for connector tests, a config
 * builder and a loop driver.
 *
 * The onramp host records every emit_bytes frame (copied), stream ends and
 * done() calls; the offramp host records every answer per token and checks
 * that each token is answered once and acks come in token order. The loop
 * driver runs until a condition holds; its deadline only ever fails a test.
 * Include after connectors/conn.h and before <cmocka.h>'s users need it.
 */
#ifndef FAKE_CONN_HOST_H
#define FAKE_CONN_HOST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/conn.h"

#define FAKE_DEADLINE_MS 20000

/* ------------------------------------------------------------ onramp host */

struct fake_in {
    struct tr_onramp_host h;      /* first: the callbacks cast back */
    char **frames;
    size_t *lens;
    uint64_t *streams;
    size_t n, cap;
    size_t stream_ends;
    uint64_t last_ended;
    size_t dones, shutdowns;
    size_t exits;
    int exit_code;                /* of the last exit() */
    /* called after each recorded frame, e.g. to trigger the onramp */
    void (*on_frame)(struct fake_in *in, void *arg);
    void *on_frame_arg;
    int rc_once;                  /* what this emit_bytes returns (set by on_frame), then 0 again */
};

static inline int64_t fake_in_emit_value(struct tr_onramp_host *h, tr_value v, tr_value meta) {
    (void)h;
    tr_value_unref(v);
    tr_value_unref(meta);
    return -1;
}

static inline int fake_in_emit_bytes(struct tr_onramp_host *h, uint64_t stream, const void *data,
                                     size_t len, tr_value meta) {
    struct fake_in *in = (struct fake_in *)h;
    tr_value_unref(meta);
    if (in->n == in->cap) {
        in->cap = in->cap ? in->cap * 2 : 64;
        in->frames = realloc(in->frames, in->cap * sizeof *in->frames);
        in->lens = realloc(in->lens, in->cap * sizeof *in->lens);
        in->streams = realloc(in->streams, in->cap * sizeof *in->streams);
        if (!in->frames || !in->lens || !in->streams) abort();
    }
    in->frames[in->n] = malloc(len + 1);
    if (!in->frames[in->n]) abort();
    if (len) memcpy(in->frames[in->n], data, len);
    in->frames[in->n][len] = 0;
    in->lens[in->n] = len;
    in->streams[in->n] = stream;
    in->n++;
    if (in->on_frame) in->on_frame(in, in->on_frame_arg);
    int rc = in->rc_once;
    in->rc_once = 0;
    return rc;
}

static inline void fake_in_stream_end(struct tr_onramp_host *h, uint64_t stream) {
    struct fake_in *in = (struct fake_in *)h;
    in->stream_ends++;
    in->last_ended = stream;
}

static inline void fake_in_done(struct tr_onramp_host *h) { ((struct fake_in *)h)->dones++; }
static inline void fake_in_shutdown(struct tr_onramp_host *h) { ((struct fake_in *)h)->shutdowns++; }

static inline void fake_in_exit(struct tr_onramp_host *h, int code) {
    struct fake_in *in = (struct fake_in *)h;
    in->exits++;
    in->exit_code = code;
}

static const struct tr_onramp_host_ops fake_in_ops = {
    .emit_value = fake_in_emit_value,
    .emit_bytes = fake_in_emit_bytes,
    .stream_end = fake_in_stream_end,
    .done = fake_in_done,
    .shutdown = fake_in_shutdown,
    .exit = fake_in_exit,
};

static inline void fake_in_init(struct fake_in *in, uv_loop_t *loop) {
    memset(in, 0, sizeof *in);
    in->h.ops = &fake_in_ops;
    in->h.loop = loop;
}

static inline void fake_in_fini(struct fake_in *in) {
    for (size_t i = 0; i < in->n; i++) free(in->frames[i]);
    free(in->frames);
    free(in->lens);
    free(in->streams);
    memset(in, 0, sizeof *in);
}

/* ----------------------------------------------------------- offramp host */

struct fake_out {
    struct tr_offramp_host h;     /* first */
    uint32_t *acked, *failed;     /* per token: times answered */
    size_t ntokens;
    size_t nacks, nfails, nanswers;
    size_t triggers, restores, shutdowns;
    size_t exits;
    int exit_code;                /* of the last exit() */
    size_t nreleases;
    size_t release_calls;         /* calls to release() */
    bool release_late;            /* a release after the token's answer, or twice */
    uint32_t *released;           /* per token: times released */
    bool twice;                   /* some token was answered more than once */
    bool order_broken;            /* an ack came for a token below an earlier one */
    uint64_t last_ack;
    bool any_ack;
};

static inline void fake_out_answer(struct fake_out *o, uint64_t t, bool ok) {
    if (t >= o->ntokens) abort();
    if (o->acked[t] || o->failed[t]) o->twice = true;
    if (ok) {
        if (o->any_ack && t <= o->last_ack) o->order_broken = true;
        o->any_ack = true;
        o->last_ack = t;
        o->acked[t]++;
        o->nacks++;
    } else {
        o->failed[t]++;
        o->nfails++;
    }
    o->nanswers++;
}

static inline void fake_out_ack(struct tr_offramp_host *h, uint64_t t) {
    fake_out_answer((struct fake_out *)h, t, true);
}
static inline void fake_out_fail(struct tr_offramp_host *h, uint64_t t) {
    fake_out_answer((struct fake_out *)h, t, false);
}
static inline void fake_out_release(struct tr_offramp_host *h, const uint64_t *ts, size_t n) {
    struct fake_out *o = (struct fake_out *)h;
    for (size_t i = 0; i < n; i++) {
        uint64_t t = ts[i];
        if (t >= o->ntokens) abort();
        if (o->released[t] || o->acked[t] || o->failed[t]) o->release_late = true;
        o->released[t]++;
        o->nreleases++;
    }
    o->release_calls++;
}
static inline void fake_out_trigger(struct tr_offramp_host *h) { ((struct fake_out *)h)->triggers++; }
static inline void fake_out_restore(struct tr_offramp_host *h) { ((struct fake_out *)h)->restores++; }
static inline void fake_out_shutdown(struct tr_offramp_host *h) { ((struct fake_out *)h)->shutdowns++; }

static inline void fake_out_exit(struct tr_offramp_host *h, int code) {
    struct fake_out *o = (struct fake_out *)h;
    o->exits++;
    o->exit_code = code;
}

static const struct tr_offramp_host_ops fake_out_ops = {fake_out_ack, fake_out_fail, fake_out_trigger,
                                                        fake_out_restore, fake_out_shutdown,
                                                        fake_out_release, NULL, fake_out_exit};

static inline void fake_out_init(struct fake_out *o, uv_loop_t *loop, size_t ntokens) {
    memset(o, 0, sizeof *o);
    o->h.ops = &fake_out_ops;
    o->h.loop = loop;
    o->ntokens = ntokens;
    o->acked = calloc(ntokens ? ntokens : 1, sizeof *o->acked);
    o->failed = calloc(ntokens ? ntokens : 1, sizeof *o->failed);
    o->released = calloc(ntokens ? ntokens : 1, sizeof *o->released);
    if (!o->acked || !o->failed || !o->released) abort();
}

static inline void fake_out_fini(struct fake_out *o) {
    free(o->acked);
    free(o->failed);
    free(o->released);
    memset(o, 0, sizeof *o);
}

/* ------------------------------------------------------------------ specs */

struct fake_spec {
    struct tr_conn_spec s;
    tr_value cfg;
};

static inline void fake_spec_init(struct fake_spec *sp, const char *type, const char *id) {
    memset(sp, 0, sizeof *sp);
    if (tr_v_rec(4, &sp->cfg) != 0) abort();
    sp->s.id = id;
    sp->s.type = type;
    sp->s.instance = "01";
    sp->s.config = &sp->cfg;
    sp->s.file = "test.yaml";
    sp->s.line = 3;
    sp->s.col = 5;
}

static inline void fake_spec_str(struct fake_spec *sp, const char *k, const char *v) {
    tr_value s;
    if (tr_v_cstr(v, &s) != 0 || tr_rec_set(&sp->cfg, k, strlen(k), s) != 0) abort();
}

static inline void fake_spec_int(struct fake_spec *sp, const char *k, int64_t v) {
    if (tr_rec_set(&sp->cfg, k, strlen(k), tr_v_int(v)) != 0) abort();
}

static inline void fake_spec_bool(struct fake_spec *sp, const char *k, bool v) {
    if (tr_rec_set(&sp->cfg, k, strlen(k), tr_v_bool(v)) != 0) abort();
}

static inline void fake_spec_fini(struct fake_spec *sp) { tr_value_unref(sp->cfg); }

/* ------------------------------------------------------------ loop driver */

static inline void fake_on_nudge(uv_timer_t *t) { (void)t; }

/* Run the loop until cond(arg) holds; false after FAKE_DEADLINE_MS. A
 * repeating 5 ms timer only makes uv_run return so cond is looked at. */
static inline bool fake_run_until(uv_loop_t *loop, bool (*cond)(void *), void *arg) {
    uv_timer_t nudge;
    uv_timer_init(loop, &nudge);
    uv_timer_start(&nudge, fake_on_nudge, 5, 5);
    uv_update_time(loop);
    uint64_t end = uv_now(loop) + FAKE_DEADLINE_MS;
    bool ok = true;
    while (!cond(arg)) {
        if (uv_now(loop) > end) {
            ok = false;
            break;
        }
        uv_run(loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&nudge, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ok;
}

/* Let close callbacks run, then close the loop: 0 when every handle is gone. */
static inline int fake_drain_and_close(uv_loop_t *loop) {
    int rc = UV_EBUSY;
    for (int i = 0; i < 1000 && (rc = uv_loop_close(loop)) == UV_EBUSY; i++) uv_run(loop, UV_RUN_NOWAIT);
    return rc;
}

static inline void fake_set_flag(void *arg) { *(bool *)arg = true; }
static inline bool fake_flag_set(void *arg) { return *(bool *)arg; }

#endif
