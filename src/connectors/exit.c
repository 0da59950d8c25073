/* exit.c - the `exit` offramp (Tremor 0.11): an event {"exit": code} stops
 * the server with that exit code, after "delay" ms when it has one.
 *
 * Unlike 0.11, which calls exit() at once, the stop is graceful: sources
 * stop, in-flight events drain (up to the server's drain time), then the
 * process exits with the code. The code is taken modulo 256, as the kernel
 * does with 0.11's exit(i32). Events are acked as they arrive; an event
 * without an integer `exit` is failed with a logged, counted error, as 0.11
 * returned "Unexpected event received in exit offramp". Events after the
 * first exit event are acked and otherwise ignored.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>

#include "codec/json.h"
#include "config/cmap.h"
#include "connectors/conn.h"
#include "core/alloc.h"
#include "core/log.h"

#define MOD "exit"

struct ex {
    struct tr_offramp_host *host;
    uv_timer_t timer;
    bool pending, closing;
    int code;
    uint64_t unexpected;
    struct tr_log_limit lim;
    void (*done)(void *);
    void *done_arg;
};

const struct tr_cmap_entry tr_exit_cmap[] = {{0}};

static int ex_create(const struct tr_conn_spec *spec, struct tr_offramp_host *host, void **self,
                     struct tr_diag *d) {
    (void)spec;
    (void)d;
    struct ex *e = tr_calloc(1, sizeof *e);
    if (!e) return -ENOMEM;
    e->host = host;
    uv_timer_init(tr_offramp_loop(host), &e->timer);
    e->timer.data = e;
    *self = e;
    return 0;
}

static int ex_start(void *self) {
    (void)self;
    return 0;
}

static void on_delay(uv_timer_t *t) {
    struct ex *e = t->data;
    if (!e->closing) tr_offramp_exit(e->host, e->code);
}

/* An integer that fits 0.11's i32, or false. */
static bool get_i32(const tr_value *v, int *out) {
    if (!v || v->type != TR_I64 || v->as.i < INT32_MIN || v->as.i > INT32_MAX) return false;
    *out = (int)v->as.i;
    return true;
}

static void ex_send(void *self, const struct tr_out_msg *m) {
    struct ex *e = self;
    if (e->pending) {
        if (m->transactional) tr_offramp_ack(e->host, m->token);
        return;
    }
    tr_value v;
    int code = 0;
    bool ok = tr_json_decode(m->data, m->len, &v, NULL) == 0;
    if (ok) {
        ok = v.type == TR_REC && get_i32(tr_rec_get_cstr(&v, "exit"), &code);
        uint64_t delay = 0;
        const tr_value *dv = ok ? tr_rec_get_cstr(&v, "delay") : NULL;
        if (dv && dv->type == TR_I64 && dv->as.i >= 0) delay = (uint64_t)dv->as.i;
        else if (dv && dv->type == TR_U64) delay = dv->as.u;
        tr_value_unref(v);
        if (ok) {
            e->pending = true;
            e->code = code & 0xff;
            TR_INFO(MOD, "exit %d requested, in %" PRIu64 " ms", code, delay);
            uv_timer_start(&e->timer, on_delay, delay, 0);
        }
    }
    if (!ok) {
        e->unexpected++;
        tr_log_limited(&e->lim, TR_LOG_ERROR, MOD,
                       "Unexpected event received in exit offramp: no integer `exit` field "
                       "(%" PRIu64 " such so far)", e->unexpected);
    }
    if (!m->transactional) return;
    if (ok) tr_offramp_ack(e->host, m->token);
    else tr_offramp_fail(e->host, m->token);
}

static bool ex_is_active(void *self) {
    (void)self;
    return true;
}

static void ex_closed(uv_handle_t *h) {
    struct ex *e = h->data;
    void (*done)(void *) = e->done;
    void *arg = e->done_arg;
    tr_free(e);
    if (done) done(arg);
}

static void ex_close(void *self, void (*done)(void *), void *arg) {
    struct ex *e = self;
    if (e->closing) return;
    e->closing = true;
    e->done = done;
    e->done_arg = arg;
    tr_log_limit_flush(&e->lim);
    uv_timer_stop(&e->timer);
    uv_close((uv_handle_t *)&e->timer, ex_closed);
}

const struct tr_offramp_ops tr_exit_offramp = {
    .type = "exit",
    .create = ex_create,
    .start = ex_start,
    .send = ex_send,
    .is_active = ex_is_active,
    .close = ex_close,
};
