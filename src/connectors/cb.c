/* cb.c - Tremor's circuit-breaker test harness: the `cb` onramp and offramp.
 *
 * The onramp (0.11 keys: source, timeout, expect_batched) sends each line
 * of a file as one transactional event and records every ack, fail,
 * trigger and restore that comes back. From the end of the file it waits
 * `timeout` ms (in 100 ms steps that only run while its breaker is not
 * triggered, as 0.11 only counted down while pulling), then stops the
 * server with exit code 0 when every line was answered (expect_batched:
 * the last one was) and 1 otherwise, printing 0.11's lines on stderr.
 *
 * The offramp answers each event as its `cb` field says (metadata first,
 * then the event itself, a string or a list of strings): "ack" or else
 * "fail"; "close"/"trigger" or else "open"/"restore" for its breaker. An
 * event that asks for neither ack nor fail stays unanswered as in 0.11
 * (auto_ack off), until close, where our offramp contract fails it.
 * Not for production: it is how Tremor's own integration cases test
 * guaranteed delivery.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "codec/json.h"
#include "config/cmap.h"
#include "connectors/conn.h"
#include "connectors/srcfile.h"
#include "core/alloc.h"
#include "core/file.h"
#include "core/log.h"

#define MOD "cb"
#define MAX_SOURCE ((size_t)1 << 30)  /* the whole file is read into memory */
#define STEP_MS 100                   /* 0.11's wait between pulls after the end */
#define PER_TURN 64                   /* lines sent per loop turn */
#define MAX_PENDING ((size_t)1 << 20) /* unanswered offramp tokens kept for close */

/* ---------------------------------------------------------------- onramp */

struct ids {
    uint64_t *v;
    size_t n, cap;
};

static int ids_push(struct ids *a, uint64_t id) {
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        uint64_t *p = tr_realloc(a->v, nc * sizeof *p);
        if (!p) return -ENOMEM;
        a->v = p;
        a->cap = nc;
    }
    a->v[a->n++] = id;
    return 0;
}

struct cb_in {
    struct tr_onramp_host *host;
    char *id;
    char *data;                 /* the source file */
    size_t len, pos;
    uint64_t timeout_ms;
    bool expect_batched;
    uv_timer_t timer;
    bool started, triggered, finished, closing, exited;
    uint64_t num_sent, last_sent;
    struct ids acks, fails;
    uint64_t triggers, restores;
    void (*done)(void *);
    void *done_arg;
};

struct cb_in_cfg {
    const char *source;
    uint64_t timeout;
    bool expect_batched;
};

const struct tr_cmap_entry tr_cb_in_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR, "source", NULL, TR_CMAP_REQUIRED, offsetof(struct cb_in_cfg, source),
     "file whose lines are sent as events")},
    {TR_CMAP_KEY(TR_CMAP_U64, "timeout", "10000", TR_CMAP_RANGE, offsetof(struct cb_in_cfg, timeout),
     "ms to wait for answers after the last line before exiting"), .lo = 0, .hi = 86400000},
    {TR_CMAP_KEY(TR_CMAP_BOOL, "expect_batched", "false", 0,
     offsetof(struct cb_in_cfg, expect_batched),
     "only the last event needs an answer (a batching pipeline)")},
    {0},
};

static uint64_t max_id(const struct ids *a, bool *any) {
    uint64_t m = 0;
    for (size_t i = 0; i < a->n; i++)
        if (!*any || a->v[i] > m) {
            m = a->v[i];
            *any = true;
        }
    return m;
}

static uint64_t received_max(const struct cb_in *c) {
    bool any = false;
    uint64_t a = max_id(&c->acks, &any);
    bool anyf = false;
    uint64_t f = max_id(&c->fails, &anyf);
    if (!any) return anyf ? f : 0;
    return anyf && f > a ? f : a;
}

static bool all_received(const struct cb_in *c) {
    if (c->expect_batched) return c->acks.n + c->fails.n && received_max(c) >= c->last_sent;
    return c->acks.n + c->fails.n >= c->num_sent;
}

static void print_ids(const char *what, const struct ids *a) {
    fprintf(stderr, "%s: [", what);
    for (size_t i = 0; i < a->n; i++) fprintf(stderr, "%s%" PRIu64, i ? ", " : "", a->v[i]);
    fprintf(stderr, "]\n");
}

static void verdict(struct cb_in *c) {
    c->exited = true;
    uv_timer_stop(&c->timer);
    int status = 0;
    if (!all_received(c)) {
        fprintf(stderr, "Expected CB events up to id %" PRIu64 ".\n", c->last_sent);
        print_ids("Got acks", &c->acks);
        print_ids("Got fails", &c->fails);
        status = 1;
    }
    fflush(stderr);
    TR_INFO(MOD, "%s: %" PRIu64 " sent, %zu acks, %zu fails, %" PRIu64 " triggers, %" PRIu64
            " restores: exit %d", c->id, c->num_sent, c->acks.n, c->fails.n, c->triggers,
            c->restores, status);
    tr_onramp_exit(c->host, status);
}

static void arm(struct cb_in *c);

/* One loop turn: up to PER_TURN lines, or, past the end, one 100 ms step. */
static void on_timer(uv_timer_t *t) {
    struct cb_in *c = t->data;
    if (c->closing || c->exited || c->triggered) return;
    if (c->finished) {
        if (c->timeout_ms == 0) {
            verdict(c);
            return;
        }
        c->timeout_ms = c->timeout_ms > STEP_MS ? c->timeout_ms - STEP_MS : 0;
        return;
    }
    for (int i = 0; i < PER_TURN && c->pos < c->len; i++) {
        const char *p = c->data + c->pos;
        const char *nl = memchr(p, '\n', c->len - c->pos);
        size_t n = nl ? (size_t)(nl - p) : c->len - c->pos;
        c->pos += n + (nl ? 1 : 0);
        if (n && p[n - 1] == '\r') n--;   /* as Rust's lines() */
        c->last_sent = c->num_sent;       /* ids count from 0, one per line */
        c->num_sent++;
        int rc = tr_onramp_emit_bytes(c->host, 0, p, n, tr_v_null());
        if (rc == TR_ONRAMP_PAUSED) break;   /* the trigger follows from the loop */
    }
    if (c->pos >= c->len) {
        c->finished = true;
        uv_timer_stop(&c->timer);
        uv_timer_start(&c->timer, on_timer, STEP_MS, STEP_MS);
    }
}

static void arm(struct cb_in *c) {
    if (!c->started || c->triggered || c->closing || c->exited) return;
    uint64_t every = c->finished ? STEP_MS : 0;
    uv_timer_start(&c->timer, on_timer, every, c->finished ? STEP_MS : 1);
}

static int cbin_create(const struct tr_conn_spec *spec, struct tr_onramp_host *host, void **self,
                       struct tr_diag *d) {
    *self = NULL;
    if (spec->config == NULL || spec->config->type != TR_REC)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "Missing config for cb onramp '%s'", spec->id);
    struct cb_in_cfg cfg;
    int rc = tr_conn_cfg_apply(spec, tr_cb_in_cmap, &cfg, d);
    if (rc) return rc;
    int fd = -1;
    char *used = NULL;
    rc = tr_srcfile_open(spec, "source", cfg.source, &fd, &used, d);
    if (rc) return rc;
    close(fd);
    struct cb_in *c = tr_calloc(1, sizeof *c);
    if (!c) {
        tr_free(used);
        return -ENOMEM;
    }
    rc = tr_file_read(used, MAX_SOURCE, &c->data, &c->len);
    tr_free(used);
    if (rc) {
        tr_free(c);
        return tr_conn_cfg_fail(spec, "source", d, "'%s': cannot read: %s", cfg.source,
                                tr_strerror(rc));
    }
    c->id = tr_strdup(spec->id ? spec->id : MOD);
    if (!c->id) {
        tr_free(c->data);
        tr_free(c);
        return -ENOMEM;
    }
    c->host = host;
    c->timeout_ms = cfg.timeout;
    c->expect_batched = cfg.expect_batched;
    uv_timer_init(tr_onramp_loop(host), &c->timer);
    c->timer.data = c;
    *self = c;
    return 0;
}

static int cbin_start(void *self) {
    struct cb_in *c = self;
    c->started = true;
    arm(c);
    return 0;
}

static void cbin_trigger(void *self) {
    struct cb_in *c = self;
    c->triggers++;
    c->triggered = true;
    uv_timer_stop(&c->timer);
}

static void cbin_restore(void *self) {
    struct cb_in *c = self;
    c->restores++;
    c->triggered = false;
    arm(c);
}

static void note(struct cb_in *c, struct ids *a, uint64_t id) {
    if (ids_push(a, id) != 0) {
        TR_ERROR(MOD, "%s: out of memory recording an answer", c->id);
        return;
    }
    if ((c->finished && c->acks.n + c->fails.n == c->num_sent) ||
        (c->expect_batched && received_max(c) == c->last_sent)) {
        fprintf(stderr, "All required CB events received.\n");
        fflush(stderr);
    }
}

static void cbin_ack(void *self, uint64_t id) {
    struct cb_in *c = self;
    note(c, &c->acks, id);
}

static void cbin_fail(void *self, uint64_t id) {
    struct cb_in *c = self;
    note(c, &c->fails, id);
}

static void cbin_closed(uv_handle_t *h) {
    struct cb_in *c = h->data;
    void (*done)(void *) = c->done;
    void *arg = c->done_arg;
    tr_free(c->acks.v);
    tr_free(c->fails.v);
    tr_free(c->data);
    tr_free(c->id);
    tr_free(c);
    if (done) done(arg);
}

static void cbin_close(void *self, void (*done)(void *), void *arg) {
    struct cb_in *c = self;
    if (c->closing) return;
    c->closing = true;
    c->done = done;
    c->done_arg = arg;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, cbin_closed);
}

const struct tr_onramp_ops tr_cb_onramp = {
    .type = "cb",
    .transactional = true,
    .create = cbin_create,
    .start = cbin_start,
    .trigger = cbin_trigger,
    .restore = cbin_restore,
    .ack = cbin_ack,
    .fail = cbin_fail,
    .close = cbin_close,
};

/* --------------------------------------------------------------- offramp */

struct cb_out {
    struct tr_offramp_host *host;
    struct ids pending;         /* transactional tokens nobody asked to answer */
    uint64_t bad;               /* events whose cb field could not be read */
};

const struct tr_cmap_entry tr_cb_out_cmap[] = {{0}};

enum { CB_ACK = 1, CB_FAIL = 2, CB_CLOSE = 4, CB_OPEN = 8 };

static unsigned cmd_bit(const tr_value *v) {
    if (v->type != TR_STR) return 0;
    const char *s = v->as.s->data;
    if (!strcmp(s, "ack")) return CB_ACK;
    if (!strcmp(s, "fail")) return CB_FAIL;
    if (!strcmp(s, "close") || !strcmp(s, "trigger")) return CB_CLOSE;
    if (!strcmp(s, "open") || !strcmp(s, "restore")) return CB_OPEN;
    return 0;
}

/* The commands of a `cb` value: a string or a list of strings. */
static unsigned cb_commands(const tr_value *cb) {
    if (!cb) return 0;
    if (cb->type == TR_STR) return cmd_bit(cb);
    unsigned bits = 0;
    if (cb->type == TR_ARR)
        for (uint32_t i = 0; i < cb->as.a->len; i++) bits |= cmd_bit(&cb->as.a->items[i]);
    return bits;
}

static int cbout_create(const struct tr_conn_spec *spec, struct tr_offramp_host *host, void **self,
                        struct tr_diag *d) {
    *self = NULL;
    struct cb_out *o = tr_calloc(1, sizeof *o);
    if (!o) return -ENOMEM;
    (void)spec;
    (void)d;
    o->host = host;
    *self = o;
    return 0;
}

static int cbout_start(void *self) {
    (void)self;
    return 0;
}

static void cbout_send(void *self, const struct tr_out_msg *m) {
    struct cb_out *o = self;
    unsigned bits = 0;
    const tr_value *cb = m->meta && m->meta->type == TR_REC ? tr_rec_get_cstr(m->meta, "cb") : NULL;
    if (cb) {
        bits = cb_commands(cb);
    } else {
        /* the offramp sees encoded events: read the `cb` field back (json) */
        tr_value v;
        if (tr_json_decode(m->data, m->len, &v, NULL) == 0) {
            if (v.type == TR_REC) bits = cb_commands(tr_rec_get_cstr(&v, "cb"));
            tr_value_unref(v);
        } else if (o->bad++ == 0) {
            TR_WARN(MOD, "an event that is not JSON: no cb commands read (counted from now)");
        }
    }
    if (m->transactional) {
        if (bits & CB_ACK) tr_offramp_ack(o->host, m->token);
        else if (bits & CB_FAIL) tr_offramp_fail(o->host, m->token);
        else if (o->pending.n >= MAX_PENDING || ids_push(&o->pending, m->token) != 0)
            tr_offramp_fail(o->host, m->token);   /* bounded: never held without limit */
    }
    if (bits & CB_CLOSE) tr_offramp_trigger(o->host);
    else if (bits & CB_OPEN) tr_offramp_restore(o->host);
}

static bool cbout_is_active(void *self) {
    (void)self;
    return true;
}

static void cbout_close(void *self, void (*done)(void *), void *arg) {
    struct cb_out *o = self;
    for (size_t i = 0; i < o->pending.n; i++) tr_offramp_fail(o->host, o->pending.v[i]);
    if (o->bad) TR_WARN(MOD, "%" PRIu64 " events were not JSON", o->bad);
    tr_free(o->pending.v);
    tr_free(o);
    if (done) done(arg);
}

const struct tr_offramp_ops tr_cb_offramp = {
    .type = "cb",
    .create = cbout_create,
    .start = cbout_start,
    .send = cbout_send,
    .is_active = cbout_is_active,
    .close = cbout_close,
};
