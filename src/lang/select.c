/* select.c - running one `select` statement per event: where, group by,
 * tumbling windows (by size or by time, tilted chains of them), aggregate
 * state per group, the select expression and having.
 *
 * Follows Tremor 0.11's select operator: a window decides per event whether
 * the group's aggregates are emitted before or after the event is folded
 * in; a chain of windows passes each closed window's state on to the next
 * (merge). Time only moves with event ingest times and ticks. Not here:
 * parsing and name resolution (compile.c), graph wiring (the pipeline).
 * Invariant: every group of every window owns its aggregate states and ids.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "lang/aggr_int.h"
#include "lang/compile_int.h"
#include "lang/interp_int.h"
#include "lang/select_int.h"
#include "lang/std_int.h"

#define MAX_GROUPS_PER_EVENT 65536

struct win_state {
    uint64_t count;       /* by size: weight so far */
    int open;             /* by time: a window is open */
    uint64_t next;        /* by time: when it closes */
    uint64_t events;      /* by time: events since it opened */
};

struct group {
    struct tr_str *key;           /* sorted JSON of the group value */
    tr_value value;               /* the group value (array) */
    struct win_state ws;
    struct tr_aggr_state *aggrs;  /* info.naggrs of them */
    struct tr_ids ids;            /* events folded into the open window */
    int has_ids;
    int transactional;
};

struct window_rt {
    const struct tr_window_def *def;
    tr_value name;                /* `window` inside the select */
    struct group *groups;
    size_t n, cap;
    uint32_t *index;              /* open addressing over groups (index + 1), 0 = empty */
    size_t index_cap;
};

struct tr_select {
    struct tr_prog *prog;
    struct tr_node *stmt;
    tr_value state;
    struct tr_lang_err err;
    struct tr_select_info info;
    struct window_rt *wins;
    size_t nwins;
    struct tr_aggr_state *scratch1, *scratch2;
    struct tr_ids scratch_ids1, scratch_ids2;
    int scratch_tx1, scratch_tx2;
    int err_plain;               /* the last error is the pipeline's, not the script's: no excerpt */
    uint64_t full_max;           /* max_groups of the window that was full */
    /* Case bindings of `for` and `case x = ...` (0.11's shadow variables,
     * the only locals a select may have): slots below nlocals, whatever a
     * run left there is released at the next run and at destroy. */
    tr_value *locals;
    uint8_t *set;
    int nlocals;
    /* `select event from ... into ...` with no where, group by, having or
     * window: the event goes on as it came, so it is emitted without
     * evaluating anything (the commonest statement; every relay has two) */
    bool identity;
};

static void clear_locals(struct tr_select *s) {
    for (int i = 0; i < s->nlocals; i++)
        if (s->set[i]) {
            tr_value_unref(s->locals[i]);
            s->set[i] = 0;
        }
}

/* The output of one emission, collected before they are sent. */
struct outbuf {
    struct tr_event *v;
    size_t n, cap;
};

static const tr_value nullv = {.type = TR_NULL};

/* A group value or aggregate too deep to hold is the event's error,
 * located at the expression that made it; other codes pass through. */
static int group_fail(struct tr_env *E, const struct tr_node *gb, int rc) {
    if (rc != TR_EDEPTH) return rc;
    return tr_lang_err_set(E->err, TR_ERUNTIME, gb->sp, gb->sp,
                           "Value nested too deeply, more than %d levels of arrays and records",
                           TR_VALUE_MAX_DEPTH);
}

/* --- group keys --- */

static int cmp_field(const void *a, const void *b) {
    const struct tr_field *x = *(const struct tr_field *const *)a, *y = *(const struct tr_field *const *)b;
    uint32_t n = x->key->len < y->key->len ? x->key->len : y->key->len;
    int c = memcmp(x->key->data, y->key->data, n);
    return c ? c : (x->key->len > y->key->len) - (x->key->len < y->key->len);
}

/* JSON with record keys sorted at every level (Tremor's sorted_serialize). */
static int sorted_json(const tr_value *v, struct tr_buf *b, int depth) {
    if (depth > TR_VALUE_MAX_DEPTH) return TR_EDEPTH;
    int rc = 0;
    if (v->type == TR_ARR) {
        rc = tr_buf_putc(b, '[');
        for (uint32_t i = 0; i < tr_arr_len(v) && !rc; i++) {
            if (i) rc = tr_buf_putc(b, ',');
            if (!rc) rc = sorted_json(tr_arr_at(v, i), b, depth + 1);
        }
        return rc ? rc : tr_buf_putc(b, ']');
    }
    if (v->type == TR_REC) {
        uint32_t n = tr_rec_len(v);
        const struct tr_field **f = tr_calloc(n ? n : 1, sizeof *f);
        if (!f) return -ENOMEM;
        for (uint32_t i = 0; i < n; i++) f[i] = tr_rec_at(v, i);
        qsort(f, n, sizeof *f, cmp_field);
        rc = tr_buf_putc(b, '{');
        for (uint32_t i = 0; i < n && !rc; i++) {
            tr_value k = tr_v_strobj(f[i]->key);
            if (i) rc = tr_buf_putc(b, ',');
            if (!rc) rc = tr_json_encode(&k, b);
            if (!rc) rc = tr_buf_putc(b, ':');
            if (!rc) rc = sorted_json(&f[i]->val, b, depth + 1);
        }
        tr_free(f);
        return rc ? rc : tr_buf_putc(b, '}');
    }
    return tr_json_encode(v, b);
}

static uint32_t hash_key(const struct tr_str *k) {
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < k->len; i++) {
        h ^= (unsigned char)k->data[i];
        h *= 16777619u;
    }
    return h;
}

static int reindex(struct window_rt *w, size_t cap) {
    uint32_t *idx = tr_calloc(cap, sizeof *idx);
    if (!idx) return -ENOMEM;
    for (size_t i = 0; i < w->n; i++) {
        size_t j = hash_key(w->groups[i].key) & (cap - 1);
        while (idx[j]) j = (j + 1) & (cap - 1);
        idx[j] = (uint32_t)(i + 1);
    }
    tr_free(w->index);
    w->index = idx;
    w->index_cap = cap;
    return 0;
}

static struct group *find_group(struct window_rt *w, const struct tr_str *key) {
    if (!w->index_cap) return NULL;
    size_t j = hash_key(key) & (w->index_cap - 1);
    while (w->index[j]) {
        struct group *g = &w->groups[w->index[j] - 1];
        if (g->key->len == key->len && memcmp(g->key->data, key->data, key->len) == 0) return g;
        j = (j + 1) & (w->index_cap - 1);
    }
    return NULL;
}

static void group_reset(struct tr_select *s, struct group *g) {
    for (size_t i = 0; i < s->info.naggrs; i++) {
        tr_aggr_fini(&g->aggrs[i]);
        tr_aggr_init(&g->aggrs[i], g->aggrs[i].fn);
    }
    if (g->has_ids) tr_ids_fini(&g->ids);
    g->has_ids = 0;
    g->transactional = 0;
}

static const struct tr_aggr_fn *aggr_fn_of(const struct tr_node *call) {
    const char *full = call->name->data + 6; /* after "aggr::" */
    const char *sep = strstr(full, "::");
    if (!sep) return NULL;
    char m[64];
    snprintf(m, sizeof m, "%.*s", (int)(sep - full < 63 ? sep - full : 63), full);
    return tr_aggr_find(m, sep + 2);
}

static int get_group(struct tr_select *s, struct window_rt *w, struct tr_str *key, const tr_value *value,
                     struct group **out) {
    struct group *g = find_group(w, key);
    if (g) {
        *out = g;
        return 0;
    }
    if (w->n >= w->def->max_groups) {
        s->full_max = w->def->max_groups;
        return TR_EFULL;
    }
    if (tr_grow((void **)&w->groups, &w->cap, w->n + 1, sizeof *w->groups)) return -ENOMEM;
    if ((w->n + 1) * 2 > w->index_cap && reindex(w, w->index_cap ? w->index_cap * 2 : 16)) return -ENOMEM;
    g = &w->groups[w->n];
    memset(g, 0, sizeof *g);
    /* a copy, not a reference: the group outlives the event, whose strings
     * would keep their decoder's arena block (value.h) as long as it lives */
    if (tr_value_clone(value, &g->value)) return -ENOMEM;
    g->aggrs = tr_calloc(s->info.naggrs ? s->info.naggrs : 1, sizeof *g->aggrs);
    if (!g->aggrs) {
        tr_value_unref(g->value);
        return -ENOMEM;
    }
    for (size_t i = 0; i < s->info.naggrs; i++) tr_aggr_init(&g->aggrs[i], aggr_fn_of(s->info.aggrs[i]));
    g->key = tr_str_ref(key);
    w->n++;
    size_t j = hash_key(key) & (w->index_cap - 1);
    while (w->index[j]) j = (j + 1) & (w->index_cap - 1);
    w->index[j] = (uint32_t)w->n;
    *out = g;
    return 0;
}

/* --- windows --- */

struct wevent {
    int opened, include, emit;
};

/* A window's own measure of an event: its weight (size) or time (interval). */
static int window_measure(struct tr_select *s, struct tr_env *E, const struct tr_window_def *d,
                          uint64_t dflt, uint64_t *out) {
    if (!d->script) {
        *out = dflt;
        return 0;
    }
    tr_value v;
    int rc = tr_eval(E, d->script, &v);
    if (rc) return rc;
    if (v.type == TR_I64 && v.as.i >= 0) *out = (uint64_t)v.as.i;
    else if (v.type == TR_U64) *out = v.as.u;
    else rc = tr_lang_err_set(&s->err, TR_ERUNTIME, d->script->sp, d->script->sp,
                              "Data based window didn't provide a valid value");
    tr_value_unref(v);
    return rc;
}

static struct wevent by_time(const struct tr_window_def *d, struct win_state *ws, uint64_t t) {
    struct wevent e = {0, 0, 0};
    if (!ws->open) {
        ws->open = 1;
        ws->next = t + d->interval;
        e.opened = 1;
    } else if (ws->next <= t) {
        e.emit = ws->events > 0 || d->emit_empty;
        ws->next = t + d->interval;
        ws->events = 0;
        e.opened = 1;
    }
    return e;
}

static int window_on_event(struct tr_select *s, struct tr_env *E, struct window_rt *w, struct group *g,
                           uint64_t ingest_ns, struct wevent *we) {
    const struct tr_window_def *d = w->def;
    uint64_t m;
    int rc;
    if (d->by_size) {
        if ((rc = window_measure(s, E, d, 1, &m))) return rc;
        uint64_t c = g->ws.count + m;
        if (c >= d->size) {
            g->ws.count = c - d->size;
            we->opened = we->include = we->emit = 1;
        } else {
            g->ws.count = c;
            we->opened = we->include = we->emit = 0;
        }
        return 0;
    }
    g->ws.events++;
    if ((rc = window_measure(s, E, d, ingest_ns, &m))) return rc;
    *we = by_time(d, &g->ws, m);
    return 0;
}

/* --- evaluation --- */

static int guard(struct tr_env *E, struct tr_select *s, struct tr_node *g, int *pass) {
    tr_value v;
    int rc = tr_eval(E, g, &v);
    if (rc) return rc;
    if (v.type != TR_BOOL) {
        tr_lang_err_set(E->err, TR_ERUNTIME, s->stmt->sp, g->sp,
                        "Conflicting types, got %s but expected boolean", tr_lang_type_name(&v));
        tr_value_unref(v);
        return TR_ERUNTIME;
    }
    *pass = v.as.b;
    tr_value_unref(v);
    return 0;
}

static int out_push(struct outbuf *o, struct tr_event *ev) {
    if (tr_grow((void **)&o->v, &o->cap, o->n + 1, sizeof *o->v)) {
        tr_event_fini(ev);
        return -ENOMEM;
    }
    o->v[o->n++] = *ev;
    return 0;
}

/* Evaluate target and having for one output; appends it to o unless having
 * says no. ev is the event in hand (its meta and time are reused). */
static int select_and_having(struct tr_select *s, struct tr_env *E, const struct tr_event *ev,
                             struct group *g, struct outbuf *o) {
    struct tr_node *st = s->stmt;
    tr_value out;
    int rc = tr_eval(E, st->a, &out);
    if (rc) return rc;
    if (st->c) {
        tr_value *save = E->event;
        E->event = &out;
        tr_value *save_meta = E->meta;
        tr_value nometa = tr_v_null();
        E->meta = &nometa;
        int pass = 1;
        rc = guard(E, s, st->c, &pass);
        E->event = save;
        E->meta = save_meta;
        if (rc || !pass) {
            tr_value_unref(out);
            return rc;
        }
    }
    struct tr_event oe;
    if ((rc = tr_event_init(&oe, out, tr_value_ref(ev->meta), ev->ingest_ns))) return rc;
    tr_event_inherit_raw(&oe, ev);   /* `select event`: still the text it came as */
    if (g && g->has_ids) {
        tr_ids_fini(&oe.ids);
        if ((rc = tr_ids_copy(&oe.ids, &g->ids))) {
            tr_ids_init(&oe.ids, 0, 0, 0);
            tr_event_fini(&oe);
            return rc;
        }
    } else if (!g) {
        tr_ids_fini(&oe.ids);
        if ((rc = tr_ids_copy(&oe.ids, &ev->ids))) {
            tr_ids_init(&oe.ids, 0, 0, 0);
            tr_event_fini(&oe);
            return rc;
        }
    }
    oe.transactional = g ? g->transactional : ev->transactional;
    /* a batch stays one when selected as it is (`select event`) */
    oe.is_batch = !g && ev->is_batch && oe.value.type == TR_ARR && ev->value.type == TR_ARR &&
                  oe.value.as.a == ev->value.as.a;
    return out_push(o, &oe);
}

static int accumulate(struct tr_select *s, struct tr_env *E, struct group *g, const struct tr_event *ev) {
    int rc = 0;
    if (!g->has_ids) {
        if ((rc = tr_ids_copy(&g->ids, &ev->ids))) return rc;
        g->has_ids = 1;
    } else if ((rc = tr_ids_track(&g->ids, &ev->ids))) {
        return rc;
    }
    g->transactional = g->transactional || ev->transactional;
    for (size_t i = 0; i < s->info.naggrs && !rc; i++) {
        struct tr_node *call = s->info.aggrs[i];
        tr_value args[4];
        uint32_t n = call->n < 4 ? call->n : 4;
        uint32_t got = 0;
        for (; got < n; got++)
            if ((rc = tr_eval(E, call->v[got], &args[got]))) break;
        if (!rc) {
            rc = tr_aggr_accumulate(&g->aggrs[i], args, n);
            if (rc == TR_FN_BADTYPE)
                rc = tr_lang_err_set(E->err, TR_ERUNTIME, tr_span_expand(call->sp, 2), call->sp,
                                     "Bad type passed to function %s::%s/%u",
                                     tr_aggr_module(g->aggrs[i].fn), tr_aggr_name(g->aggrs[i].fn), n);
            else rc = group_fail(E, call, rc);
        }
        for (uint32_t j = 0; j < got; j++) tr_value_unref(args[j]);
    }
    return rc;
}

static int emit_group(struct tr_select *s, struct tr_env *E, struct group *g, const struct tr_event *ev,
                      struct outbuf *o) {
    E->aggrs = g->aggrs;
    int rc = select_and_having(s, E, ev, g, o);
    E->aggrs = NULL;
    return rc;
}

static void scratch_clear(struct tr_select *s, struct tr_aggr_state *sc) {
    for (size_t i = 0; i < s->info.naggrs; i++) {
        tr_aggr_fini(&sc[i]);
        tr_aggr_init(&sc[i], sc[i].fn);
    }
}

/* Move g's aggregates into scratch (scratch's old content is dropped). */
static void to_scratch(struct tr_select *s, struct group *g, struct tr_aggr_state *sc) {
    for (size_t i = 0; i < s->info.naggrs; i++) {
        tr_aggr_fini(&sc[i]);
        sc[i] = g->aggrs[i];
        tr_aggr_init(&g->aggrs[i], sc[i].fn);
    }
}

static int merge_from(struct tr_select *s, struct group *g, struct tr_aggr_state *sc, const struct tr_ids *ids,
                      int tx) {
    int rc = 0;
    for (size_t i = 0; i < s->info.naggrs && !rc; i++) rc = tr_aggr_merge(&g->aggrs[i], &sc[i]);
    g->transactional = g->transactional || tx;
    if (!rc && ids && ids->ntracked + 1 > 0) {
        if (!g->has_ids) {
            rc = tr_ids_copy(&g->ids, ids);
            if (!rc) g->has_ids = 1;
        } else {
            rc = tr_ids_track(&g->ids, ids);
        }
    }
    return rc;
}

/* A window without room for another group: 0.11's words (typo included),
 * a pipeline error it logs without an excerpt. Other codes pass through. */
static int full_error(struct tr_select *s, struct tr_env *E, const struct tr_str *key, int rc) {
    if (rc != TR_EFULL) return rc;
    s->err_plain = 1;
    return tr_lang_err_set(E->err, TR_ERUNTIME, s->stmt->sp, s->stmt->sp,
                           "Maxmimum amount of groups reached (%llu). Ignoring group %s",
                           (unsigned long long)s->full_max, key->data);
}

/* The windows of a tilted chain that closed (emits[0..nemit), the first
 * ones in order) for one group: each emits, hands its state on to the
 * next, and the first that stays open takes the last state (Tremor's
 * scratch dance, for events and ticks alike). */
static int tilt_emit(struct tr_select *s, struct tr_env *E, struct tr_str *key, const tr_value *gval,
                     const struct wevent *emits, size_t nemit, const struct tr_event *ev,
                     struct outbuf *o) {
    int rc;
    if (s->scratch_tx1 >= 0) {
        tr_ids_fini(&s->scratch_ids1);
        tr_ids_fini(&s->scratch_ids2);
    }
    tr_ids_init(&s->scratch_ids1, 0, 0, 0);
    tr_ids_init(&s->scratch_ids2, 0, 0, 0);
    s->scratch_tx1 = s->scratch_tx2 = 0;
    scratch_clear(s, s->scratch1);
    scratch_clear(s, s->scratch2);
    for (size_t i = 0; i < nemit; i++) {
        struct group *g;
        if ((rc = get_group(s, &s->wins[i], key, gval, &g))) return rc;
        E->window = &s->wins[i].name;
        if (emits[i].include) {
            if (i > 0 && (rc = merge_from(s, g, s->scratch1, &s->scratch_ids1, s->scratch_tx1))) return rc;
            if ((rc = emit_group(s, E, g, ev, o))) return rc;
            tr_ids_fini(&s->scratch_ids1);
            if (g->has_ids) rc = tr_ids_copy(&s->scratch_ids1, &g->ids);
            else tr_ids_init(&s->scratch_ids1, 0, 0, 0);
            if (rc) return rc;
            to_scratch(s, g, s->scratch1);
            s->scratch_tx1 = g->transactional;
            group_reset(s, g);
        } else {
            if ((rc = emit_group(s, E, g, ev, o))) return rc;
            if (i > 0) {
                struct tr_ids t = s->scratch_ids1;
                s->scratch_ids1 = s->scratch_ids2;
                s->scratch_ids2 = t;
            }
            tr_ids_fini(&s->scratch_ids1);
            if (g->has_ids) rc = tr_ids_copy(&s->scratch_ids1, &g->ids);
            else tr_ids_init(&s->scratch_ids1, 0, 0, 0);
            if (rc) return rc;
            if (i == 0) {
                to_scratch(s, g, s->scratch1);
                s->scratch_tx1 = g->transactional;
                group_reset(s, g);
            } else {
                struct tr_aggr_state *t = s->scratch1;
                s->scratch1 = s->scratch2;
                s->scratch2 = t;
                s->scratch_tx2 = s->scratch_tx1;
                to_scratch(s, g, s->scratch1);
                s->scratch_tx1 = g->transactional;
                group_reset(s, g);
                if ((rc = merge_from(s, g, s->scratch2, &s->scratch_ids2, s->scratch_tx2))) return rc;
            }
        }
    }
    if (nemit && nemit < s->nwins) {
        struct group *g;
        if ((rc = get_group(s, &s->wins[nemit], key, gval, &g))) return rc;
        if ((rc = merge_from(s, g, s->scratch1, &s->scratch_ids1, s->scratch_tx1))) return rc;
    }
    return 0;
}

/* One group value through the windows (Tremor's single / tilted logic). */
static int run_windows(struct tr_select *s, struct tr_env *E, const struct tr_event *ev, struct tr_str *key,
                       const tr_value *gval, struct outbuf *o) {
    int rc;
    if (s->nwins == 1) {
        struct window_rt *w = &s->wins[0];
        struct group *g;
        if ((rc = get_group(s, w, key, gval, &g))) goto groups_full;
        struct wevent we;
        if ((rc = window_on_event(s, E, w, g, ev->ingest_ns, &we))) return rc;
        if (we.emit && !we.include) {
            if ((rc = emit_group(s, E, g, ev, o))) return rc;
            group_reset(s, g);
        }
        if ((rc = accumulate(s, E, g, ev))) return rc;
        if (we.emit && we.include) {
            if ((rc = emit_group(s, E, g, ev, o))) return rc;
            group_reset(s, g);
        }
        return 0;
    }
    /* tilted windows: each closed window hands its state to the next */
    struct wevent emits[16];
    size_t nemit = 0;
    for (size_t i = 0; i < s->nwins && i < 16; i++) {
        struct group *g;
        if ((rc = get_group(s, &s->wins[i], key, gval, &g))) goto groups_full;
        struct wevent we;
        if ((rc = window_on_event(s, E, &s->wins[i], g, ev->ingest_ns, &we))) return rc;
        if (!we.emit) break;
        emits[nemit++] = we;
    }
    struct group *first;
    if ((rc = get_group(s, &s->wins[0], key, gval, &first))) goto groups_full;
    int pending = nemit && !emits[0].include;
    if (!pending && (rc = accumulate(s, E, first, ev))) return rc;
    if ((rc = tilt_emit(s, E, key, gval, emits, nemit, ev, o))) goto groups_full;
    if (pending && (rc = accumulate(s, E, first, ev))) return rc;
    return 0;
groups_full:
    return full_error(s, E, key, rc);
}

/* --- group by --- */

struct gvals {
    tr_value *v;      /* arrays */
    size_t n, cap;
};

static int gv_push(struct gvals *g, tr_value v) {
    if (g->n >= MAX_GROUPS_PER_EVENT || tr_grow((void **)&g->v, &g->cap, g->n + 1, sizeof *g->v)) {
        tr_value_unref(v);
        return g->n >= MAX_GROUPS_PER_EVENT ? TR_ETOOBIG : -ENOMEM;
    }
    g->v[g->n++] = v;
    return 0;
}

static int append_all(struct gvals *g, const tr_value *x) {
    for (size_t i = 0; i < g->n; i++) {
        int rc = tr_value_mut(&g->v[i]);
        if (!rc) rc = tr_arr_push(&g->v[i], tr_value_ref(*x));
        if (rc) return rc;
    }
    return 0;
}

static int gen_groups(struct tr_env *E, const struct tr_node *gb, struct gvals *g) {
    int rc = 0;
    if (gb->kind == G_SET) {
        for (uint32_t i = 0; i < gb->n && !rc; i++) rc = gen_groups(E, gb->v[i], g);
        return rc;
    }
    tr_value v;
    if ((rc = tr_eval(E, gb->a, &v))) return rc;
    if (gb->kind == G_EXPR) {
        if (g->n == 0) {
            tr_value a;
            if ((rc = tr_v_arr(2, &a)) == 0) {
                if ((rc = tr_arr_push(&a, tr_value_ref(v))) == 0) rc = gv_push(g, a);
                else tr_value_unref(a);
            }
        } else {
            rc = append_all(g, &v);
        }
        tr_value_unref(v);
        return group_fail(E, gb, rc);
    }
    /* each(array): one group per element (cross product with what exists) */
    if (v.type == TR_ARR) {
        if (g->n == 0) {
            for (uint32_t i = 0; i < tr_arr_len(&v) && !rc; i++) {
                tr_value a;
                if ((rc = tr_v_arr(2, &a))) break;
                if ((rc = tr_arr_push(&a, tr_value_ref(*tr_arr_at(&v, i))))) {
                    tr_value_unref(a);
                    break;
                }
                rc = gv_push(g, a);
            }
        } else {
            struct gvals ng = {0};
            for (size_t j = 0; j < g->n && !rc; j++)
                for (uint32_t i = 0; i < tr_arr_len(&v) && !rc; i++) {
                    tr_value a = tr_value_ref(g->v[j]);
                    if ((rc = tr_value_mut(&a)) || (rc = tr_arr_push(&a, tr_value_ref(*tr_arr_at(&v, i))))) {
                        tr_value_unref(a);
                        break;
                    }
                    rc = gv_push(&ng, a);
                }
            for (size_t j = 0; j < g->n; j++) tr_value_unref(g->v[j]);
            tr_free(g->v);
            *g = ng;
        }
    }
    tr_value_unref(v);
    return group_fail(E, gb, rc);
}

/* --- the entry points --- */

static void send_all(struct outbuf *o, size_t from, tr_emit_fn emit, void *arg, int *rc) {
    for (size_t i = from; i < o->n; i++) {
        if (*rc) {
            tr_event_fini(&o->v[i]);
            continue;
        }
        int r = emit(arg, "out", &o->v[i]);
        if (r) *rc = r;
    }
    o->n = 0;
}

int tr_select_passes_event(const struct tr_select *s) { return s->identity; }

int tr_select_run(struct tr_select *s, const struct tr_lang_ctx *ctx, struct tr_event *ev,
                  tr_emit_fn emit, void *arg, struct tr_diag *d) {
    tr_lang_err_clear(&s->err);
    s->err_plain = 0;
    clear_locals(s);
    struct tr_env E;
    memset(&E, 0, sizeof E);
    E.locals = s->locals;
    E.set = s->set;
    E.event = &ev->value;
    E.meta = &ev->meta;
    E.state = &s->state;
    E.args = &nullv;
    E.group = &nullv;
    E.window = &nullv;
    E.ctx = ctx;
    E.err = &s->err;
    E.emitted = tr_v_null();
    struct tr_node *st = s->stmt;
    int pass = 1, rc = 0;
    if (st->b) rc = guard(&E, s, st->b, &pass);
    if (!rc && !pass) {
        tr_event_fini(ev);
        return 0;
    }
    if (!rc && !st->d && s->nwins == 0) {
        /* plain select: the event itself carries the result */
        tr_value out = tr_v_null();
        rc = tr_eval(&E, st->a, &out);
        if (!rc && st->c) {
            tr_value_unref(ev->value);
            ev->value = out;
            out = tr_v_null();
            rc = guard(&E, s, st->c, &pass);
            if (!rc) {
                out = ev->value;
                ev->value = tr_v_null();
            }
        }
        if (!rc) {
            if (!pass) {
                tr_value_unref(out);
                tr_event_fini(ev);
                return 0;
            }
            tr_value_unref(ev->value);
            ev->value = out;
            return emit(arg, "out", ev);
        }
        tr_value_unref(out);
    }
    struct outbuf o = {0};
    struct gvals gv = {0};
    if (!rc && st->d) rc = gen_groups(&E, st->d, &gv);
    if (!rc && gv.n == 0) {
        tr_value a;
        rc = tr_v_arr(1, &a);
        if (!rc) rc = tr_arr_push(&a, tr_v_null());
        if (!rc) rc = gv_push(&gv, a);
    }
    for (size_t i = 0; i < gv.n && !rc; i++) {
        struct tr_buf kb;
        tr_buf_init(&kb);
        rc = sorted_json(&gv.v[i], &kb, 0);
        struct tr_str *key = rc ? NULL : tr_str_new(kb.data ? kb.data : "", kb.len);
        tr_buf_fini(&kb);
        if (!rc && !key) rc = -ENOMEM;
        if (rc) break;
        tr_value group = tr_value_ref(gv.v[i]);
        if ((rc = tr_value_mut(&group)) == 0) rc = tr_arr_push(&group, tr_value_ref(tr_v_strobj(key)));
        E.group = &group;
        if (s->nwins) E.window = &s->wins[0].name;
        if (!rc) {
            if (s->nwins == 0) rc = select_and_having(s, &E, ev, NULL, &o);
            else rc = run_windows(s, &E, ev, key, &gv.v[i], &o);
        }
        E.group = &nullv;
        E.window = &nullv;
        tr_value_unref(group);
        tr_str_unref(key);
    }
    for (size_t i = 0; i < gv.n; i++) tr_value_unref(gv.v[i]);
    tr_free(gv.v);
    int erc = rc;
    send_all(&o, 0, emit, arg, &erc);
    tr_free(o.v);
    tr_event_fini(ev);
    if (rc) {
        if (d) tr_lang_err_to_diag(&s->err, s->prog->path, d);
        return rc == -ENOMEM ? rc : TR_ERUNTIME;
    }
    return erc;
}

int tr_select_tick(struct tr_select *s, const struct tr_lang_ctx *ctx, uint64_t now_ns,
                   tr_emit_fn emit, void *arg, struct tr_diag *d) {
    /* Only time-based windows without a script close on ticks (0.11's
     * on_tick); a tilted chain stops at its first window that does not. */
    if (s->nwins == 0 || s->wins[0].def->by_size || s->wins[0].def->script) return 0;
    tr_lang_err_clear(&s->err);
    s->err_plain = 0;
    struct window_rt *w = &s->wins[0];
    struct tr_event tick;
    tr_value nothing = tr_v_null(), meta;
    if (tr_v_rec(0, &meta)) return -ENOMEM;
    if (tr_event_init(&tick, nothing, meta, now_ns)) return -ENOMEM;
    clear_locals(s);
    struct tr_env E;
    memset(&E, 0, sizeof E);
    E.locals = s->locals;
    E.set = s->set;
    E.event = &tick.value;
    E.meta = &tick.meta;
    E.state = &s->state;
    E.args = &nullv;
    E.group = &nullv;
    E.window = &nullv;
    E.ctx = ctx;
    E.err = &s->err;
    struct outbuf o = {0};
    int rc = 0;
    E.window = &w->name;
    for (size_t i = 0; s->nwins > 1 && i < w->n && !rc; i++) {
        /* every group of the first window through the chain, as 0.11 */
        struct wevent emits[16];
        size_t nemit = 0;
        struct tr_str *key = w->groups[i].key;
        const tr_value *gval = &w->groups[i].value;   /* the first window's array does not move */
        for (size_t k = 0; k < s->nwins && k < 16 && !rc; k++) {
            struct group *g;
            const struct tr_window_def *wd = s->wins[k].def;
            if ((rc = get_group(s, &s->wins[k], key, gval, &g))) break;
            if (wd->by_size || wd->script) break;
            struct wevent we = by_time(wd, &g->ws, now_ns);
            if (!we.emit) break;
            emits[nemit++] = we;
        }
        if (rc) {
            rc = full_error(s, &E, key, rc);
            break;
        }
        if (nemit == 0) continue;
        tr_value group = tr_value_ref(*gval);
        if ((rc = tr_value_mut(&group)) == 0) rc = tr_arr_push(&group, tr_value_ref(tr_v_strobj(key)));
        E.group = &group;
        if (!rc && (rc = tilt_emit(s, &E, key, gval, emits, nemit, &tick, &o)))
            rc = full_error(s, &E, key, rc);
        E.group = &nullv;
        tr_value_unref(group);
    }
    for (size_t i = 0; s->nwins == 1 && i < w->n && !rc; i++) {
        struct group *g = &w->groups[i];
        struct wevent we = by_time(w->def, &g->ws, now_ns);
        if (!we.emit) continue;
        tr_value group = tr_value_ref(g->value);
        if ((rc = tr_value_mut(&group)) == 0) rc = tr_arr_push(&group, tr_value_ref(tr_v_strobj(g->key)));
        E.group = &group;
        if (!rc) rc = emit_group(s, &E, g, &tick, &o);
        if (!rc) group_reset(s, g);
        tr_value_unref(group);
    }
    int erc = rc;
    send_all(&o, 0, emit, arg, &erc);
    tr_free(o.v);
    tr_event_fini(&tick);
    if (rc) {
        if (d) tr_lang_err_to_diag(&s->err, s->prog->path, d);
        return rc == -ENOMEM ? rc : TR_ERUNTIME;
    }
    return erc;
}

const struct tr_lang_err *tr_select_last_error(const struct tr_select *s) { return &s->err; }

int tr_select_locate(const struct tr_select *s, struct tr_buf *out) {
    if (!s->err.set || s->err_plain) return TR_ENOTFOUND;
    return tr_lang_locate(s->prog->src, s->prog->len, &s->err, out);
}

int tr_select_create(struct tr_prog *prog, struct tr_node *stmt, const struct tr_window_def *wins,
                     size_t nwins, struct tr_select_info *info, struct tr_select **out) {
    *out = NULL;
    if (nwins > 16) return TR_ETOOBIG;
    struct tr_select *s = tr_calloc(1, sizeof *s);
    if (!s) return -ENOMEM;
    s->prog = prog;
    s->stmt = stmt;
    s->state = tr_v_null();
    s->info = *info;
    memset(info, 0, sizeof *info);
    s->scratch_tx1 = -1;
    size_t na = s->info.naggrs ? s->info.naggrs : 1;
    s->wins = tr_calloc(nwins ? nwins : 1, sizeof *s->wins);
    s->scratch1 = tr_calloc(na, sizeof *s->scratch1);
    s->scratch2 = tr_calloc(na, sizeof *s->scratch2);
    /* the query's program numbers the slots of every statement: this
     * select's are all below the count it has now */
    s->nlocals = prog->nlocals;
    s->locals = tr_calloc(prog->nlocals ? (size_t)prog->nlocals : 1, sizeof *s->locals);
    s->set = tr_calloc(prog->nlocals ? (size_t)prog->nlocals : 1, 1);
    if (!s->wins || !s->scratch1 || !s->scratch2 || !s->locals || !s->set) {
        tr_select_destroy(s);
        return -ENOMEM;
    }
    for (size_t i = 0; i < s->info.naggrs; i++) {
        tr_aggr_init(&s->scratch1[i], aggr_fn_of(s->info.aggrs[i]));
        tr_aggr_init(&s->scratch2[i], aggr_fn_of(s->info.aggrs[i]));
    }
    s->nwins = nwins;
    const struct tr_node *t = stmt->a;
    s->identity = nwins == 0 && !stmt->b && !stmt->c && !stmt->d && t && t->kind == N_PATH &&
                  t->op == R_EVENT && t->n == 0;
    for (size_t i = 0; i < nwins; i++) {
        s->wins[i].def = &wins[i];
        if (tr_v_cstr(wins[i].name, &s->wins[i].name)) {
            tr_select_destroy(s);
            return -ENOMEM;
        }
    }
    *out = s;
    return 0;
}

void tr_select_destroy(struct tr_select *s) {
    if (!s) return;
    for (size_t w = 0; w < s->nwins; w++) {
        struct window_rt *rt = &s->wins[w];
        for (size_t i = 0; i < rt->n; i++) {
            struct group *g = &rt->groups[i];
            for (size_t a = 0; a < s->info.naggrs; a++) tr_aggr_fini(&g->aggrs[a]);
            tr_free(g->aggrs);
            if (g->has_ids) tr_ids_fini(&g->ids);
            tr_str_unref(g->key);
            tr_value_unref(g->value);
        }
        tr_free(rt->groups);
        tr_free(rt->index);
        tr_value_unref(rt->name);
    }
    if (s->scratch1)
        for (size_t a = 0; a < s->info.naggrs; a++) tr_aggr_fini(&s->scratch1[a]);
    if (s->scratch2)
        for (size_t a = 0; a < s->info.naggrs; a++) tr_aggr_fini(&s->scratch2[a]);
    if (s->scratch_tx1 >= 0) {
        tr_ids_fini(&s->scratch_ids1);
        tr_ids_fini(&s->scratch_ids2);
    }
    if (s->set) clear_locals(s);
    tr_free(s->locals);
    tr_free(s->set);
    tr_free(s->scratch1);
    tr_free(s->scratch2);
    tr_free(s->wins);
    tr_free(s->info.aggrs);
    tr_value_unref(s->state);
    tr_lang_err_clear(&s->err);
    tr_free(s);
}
