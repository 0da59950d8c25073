/* crononome.c - the `crononome` onramp (Tremor 0.11): `entries`, a list of
 * {name, expr, payload?}; each entry fires at the times its cron expression
 * (cron.h, UTC) names, as the event
 *
 *   {"onramp":"crononome","ingest_ns":<ns>,"id":<n>,"trigger":{"name":..,"payload":..}}
 *
 * (`payload` only when the entry has one), ids from 0 without gaps. As in
 * 0.11 an entry is due once its fire time's second has come, each entry is
 * rescheduled from the moment it fired (a late or paused onramp fires once,
 * not once per missed time), entries due together fire in time order, and
 * an expression with no time left (a year range in the past) never fires.
 * A breaker trigger stops firing; a restore fires what became due. The
 * timer wakes at least once a second, so a wall-clock jump is seen within
 * a second. Invalid expressions are located config errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config/cmap.h"
#include "connectors/conn.h"
#include "connectors/cron.h"
#include "core/alloc.h"
#include "core/event.h"
#include "core/log.h"

#define MOD "crononome"
#define MAX_ENTRIES 4096
#define MAX_WAIT_MS 1000

struct entry {
    char *name;
    tr_value payload;      /* TR_NULL with has_payload false: none */
    bool has_payload;
    struct tr_cron cron;
    int64_t at;            /* next fire time, Unix seconds */
    bool live;             /* has a next fire time */
};

struct crono {
    struct tr_onramp_host *host;
    char *id;
    struct entry *e;
    size_t n;
    uint64_t next_id;
    uv_timer_t timer;
    bool started, triggered, closing;
    void (*done)(void *);
    void *done_arg;
};

struct crono_cfg {
    const tr_value *entries;
};

const struct tr_cmap_entry tr_crononome_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_VALUE, "entries", NULL, TR_CMAP_REQUIRED, offsetof(struct crono_cfg, entries),
     "list of {name, expr, payload}: expr is a cron expression with seconds (UTC)")},
    {0},
};

static int64_t wall_s(void) { return (int64_t)time(NULL); }

static void schedule(struct entry *e, int64_t after) {
    e->live = tr_cron_next(&e->cron, after, &e->at) == 0;
}

static void free_entries(struct crono *c) {
    for (size_t i = 0; i < c->n; i++) {
        tr_free(c->e[i].name);
        tr_value_unref(c->e[i].payload);
    }
    tr_free(c->e);
}

static void fire(struct crono *c, struct entry *e) {
    tr_value v, s, tr, nm;
    if (tr_v_rec(4, &v) != 0) goto oom;
    if (tr_v_rec(2, &tr) != 0) {
        tr_value_unref(v);
        goto oom;
    }
    int rc = tr_v_cstr("crononome", &s);
    if (!rc) rc = tr_rec_set(&v, "onramp", 6, s);
    if (!rc) rc = tr_rec_set(&v, "ingest_ns", 9, tr_v_uint(tr_now_ns()));
    if (!rc) rc = tr_rec_set(&v, "id", 2, tr_v_uint(c->next_id));
    if (!rc) rc = tr_v_cstr(e->name, &nm);
    if (!rc) rc = tr_rec_set(&tr, "name", 4, nm);
    if (!rc && e->has_payload) rc = tr_rec_set(&tr, "payload", 7, tr_value_ref(e->payload));
    if (!rc) {
        rc = tr_rec_set(&v, "trigger", 7, tr);
        tr = tr_v_null();
    }
    tr_value_unref(tr);
    if (rc) {
        tr_value_unref(v);
        goto oom;
    }
    c->next_id++;
    tr_onramp_emit_value(c->host, v, tr_v_null());
    return;
oom:
    TR_ERROR(MOD, "%s: out of memory building the event of entry '%s'", c->id, e->name);
}

static void arm(struct crono *c);

static void on_timer(uv_timer_t *t) {
    struct crono *c = t->data;
    if (c->closing || c->triggered) return;
    int64_t now = wall_s();
    /* every due entry, earliest first (config order among equals) */
    for (;;) {
        struct entry *due = NULL;
        for (size_t i = 0; i < c->n; i++)
            if (c->e[i].live && c->e[i].at <= now && (!due || c->e[i].at < due->at)) due = &c->e[i];
        if (!due) break;
        fire(c, due);
        schedule(due, now);
    }
    arm(c);
}

static void arm(struct crono *c) {
    if (!c->started || c->triggered || c->closing) return;
    int64_t soonest = INT64_MAX;
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].live && c->e[i].at < soonest) soonest = c->e[i].at;
    uint64_t wait = MAX_WAIT_MS;
    if (soonest != INT64_MAX) {
        /* to the start of the due second, from now in ms */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        int64_t d = soonest * 1000 - now_ms;
        if (d < 0) d = 0;
        if ((uint64_t)d < wait) wait = (uint64_t)d;
    }
    uv_timer_start(&c->timer, on_timer, wait, 0);
}

static int entry_fail(const struct tr_conn_spec *spec, struct tr_diag *d, size_t i, const char *what) {
    return tr_conn_cfg_fail(spec, "entries", d, "[%zu]: %s", i, what);
}

static int crono_create(const struct tr_conn_spec *spec, struct tr_onramp_host *host, void **self,
                        struct tr_diag *d) {
    *self = NULL;
    if (spec->config == NULL || spec->config->type != TR_REC)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, spec->line, spec->col,
                           "Missing config for crononome onramp '%s': config.entries is required",
                           spec->id);
    struct crono_cfg cfg;
    int rc = tr_conn_cfg_apply(spec, tr_crononome_cmap, &cfg, d);
    if (rc) return rc;
    const tr_value *es = cfg.entries;
    if (es->type != TR_ARR) return tr_conn_cfg_fail(spec, "entries", d, "must be a list of {name, expr, payload}");
    if (es->as.a->len > MAX_ENTRIES)
        return tr_conn_cfg_fail(spec, "entries", d, "has %u entries, at most %d are allowed",
                                es->as.a->len, MAX_ENTRIES);
    struct crono *c = tr_calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    c->e = tr_calloc(es->as.a->len ? es->as.a->len : 1, sizeof *c->e);
    c->id = tr_strdup(spec->id ? spec->id : MOD);
    if (!c->e || !c->id) {
        rc = -ENOMEM;
        goto fail;
    }
    int64_t now = wall_s();
    for (uint32_t i = 0; i < es->as.a->len; i++) {
        const tr_value *it = &es->as.a->items[i];
        if (it->type != TR_REC) {
            rc = entry_fail(spec, d, i, "must be a record {name, expr, payload}");
            goto fail;
        }
        const tr_value *nm = tr_rec_get_cstr(it, "name"), *ex = tr_rec_get_cstr(it, "expr");
        const tr_value *pl = tr_rec_get_cstr(it, "payload");
        if (!nm || nm->type != TR_STR || !ex || ex->type != TR_STR) {
            rc = entry_fail(spec, d, i, "needs `name` and `expr`, both strings");
            goto fail;
        }
        for (uint32_t k = 0; k < it->as.r->len; k++) {
            const char *key = it->as.r->fields[k].key->data;
            if (strcmp(key, "name") && strcmp(key, "expr") && strcmp(key, "payload")) {
                char msg[96];
                snprintf(msg, sizeof msg, "unknown key '%.32s' (expected name, expr, payload)", key);
                rc = entry_fail(spec, d, i, msg);
                goto fail;
            }
        }
        struct entry *e = &c->e[c->n];
        char err[200];
        if (tr_cron_parse(ex->as.s->data, &e->cron, err, sizeof err) != 0) {
            /* 0.11: "Bad configuration in crononome - expression NAME is illegal: ..." */
            rc = tr_conn_cfg_fail(spec, "entries", d, "[%u]: expression %.64s is illegal: %s", i,
                                  nm->as.s->data, err);
            goto fail;
        }
        e->name = tr_strdup(nm->as.s->data);
        if (!e->name) {
            rc = -ENOMEM;
            goto fail;
        }
        e->payload = pl ? tr_value_ref(*pl) : tr_v_null();
        e->has_payload = pl != NULL;
        c->n++;
        schedule(e, now);
        if (!e->live)
            TR_WARN(MOD, "%s: entry '%s' (%s) has no time left to fire at", c->id, e->name,
                    ex->as.s->data);
    }
    c->host = host;
    uv_timer_init(tr_onramp_loop(host), &c->timer);
    c->timer.data = c;
    *self = c;
    return 0;
fail:
    free_entries(c);
    tr_free(c->id);
    tr_free(c);
    return rc;
}

static int crono_start(void *self) {
    struct crono *c = self;
    c->started = true;
    arm(c);
    return 0;
}

static void crono_trigger(void *self) {
    struct crono *c = self;
    c->triggered = true;
    uv_timer_stop(&c->timer);
}

static void crono_restore(void *self) {
    struct crono *c = self;
    if (!c->triggered) return;
    c->triggered = false;
    if (c->started && !c->closing) uv_timer_start(&c->timer, on_timer, 0, 0);
}

static void crono_noop_id(void *self, uint64_t id) {
    (void)self;
    (void)id;
}

static void on_closed(uv_handle_t *h) {
    struct crono *c = h->data;
    void (*done)(void *) = c->done;
    void *arg = c->done_arg;
    free_entries(c);
    tr_free(c->id);
    tr_free(c);
    if (done) done(arg);
}

static void crono_close(void *self, void (*done)(void *), void *arg) {
    struct crono *c = self;
    if (c->closing) return;
    c->closing = true;
    c->done = done;
    c->done_arg = arg;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_closed);
}

const struct tr_onramp_ops tr_crononome_onramp = {
    .type = "crononome",
    .transactional = false,
    .create = crono_create,
    .start = crono_start,
    .trigger = crono_trigger,
    .restore = crono_restore,
    .ack = crono_noop_id,
    .fail = crono_noop_id,
    .close = crono_close,
};
