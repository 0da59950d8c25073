/* pipeline.c - graph execution and contraflow for one query instance.
 *
 * The graph is a flat array of nodes in creation order; edges connect
 * (node, output port) to (node, input port). Events travel depth-first by
 * plain recursion bounded by TR_PIPELINE_MAX_DEPTH (a query that loops back
 * on itself is stopped and counted, never overflows the stack). The array
 * order is also the contraflow order: an insight travels from the back to
 * the front, then to the registered inputs. Insights are queued (an item
 * per insight, reused: the hot path allocates none) on the loop's deferred
 * queue and travel from there, never inside the call that caused them.
 *
 * Every node - the builtins in, out, err and metrics, streams, selects,
 * scripts and operators - is reached through one interface (struct
 * node_kind): the graph never asks what a node is. Output nodes (out, err,
 * metrics) hand what they get to the pipeline's output ports.
 *
 * Node metrics (Tremor 0.11 executable_graph.rs NodeMetrics): with
 * `#!config metrics_interval_s = N` every node counts the events it gets
 * per input port and emits per output port; an event pushed in more than
 * N s (by ingest time) after the last report first sends one
 * {measurement: "events", tags: {pipeline, node, direction, port},
 * fields: {count}, timestamp} per node and port (totals since the start)
 * out of the `metrics` node.
 */
#include "pipeline/pipeline.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "codec/json.h"
#include "core/alloc.h"
#include "core/log.h"
#include "lang/script.h"
#include "ops/op.h"

#define TR_PIPELINE_MAX_DEPTH 64
/* distinct ports counted per node and direction; a node that invents port
 * names without end (a script's emit) stops being counted past it */
#define MAX_COUNTED_PORTS 64

struct node;

/* What a node does; every field but event may be NULL (nothing to do). */
struct node_kind {
    /* Takes ev. A negative return is a runtime error (logged, counted). */
    int (*event)(struct tr_pipeline *p, struct node *n, const char *port, struct tr_event *ev);
    void (*tick)(struct tr_pipeline *p, struct node *n, uint64_t now_ns);
    /* An insight passing this node upstream; TR_CB_NONE stops it. */
    void (*contraflow)(struct node *n, struct tr_insight *in);
    void (*quiesce)(struct node *n);
    int (*flush)(struct node *n);
    void (*destroy)(struct node *n);
    bool reads_from;   /* a select may read from it (not the output nodes) */
    bool written_to;   /* a select may write into it (not `in`) */
};

struct op_host {                 /* what an operator sees as its host */
    struct tr_op_host base;
    struct tr_pipeline *p;
    size_t idx;
};

struct port_count {
    char port[64];
    uint64_t n;
};

struct counts {
    struct port_count *v;
    size_t n, cap;
};

struct node {
    const struct node_kind *kind;
    struct counts in, out;       /* only with metrics on */
    const char *id;
    bool is_out;                 /* the builtin `out` node */
    struct tr_select *select;
    struct tr_script *script;
    tr_value state;              /* a script's `state`, kept across events */
    const struct tr_op_ops *ops;
    void *op;
    uint64_t uid;                /* an operator's */
    bool takes_raw;              /* it never reads the value: TR_RAWJSON may reach it undecoded */
    bool raw_after;              /* neither does any node it leads to: an operator here takes an
                                    event's kept text instead of its record (tr_event_use_raw) */
    struct op_host host;
    size_t e0, ne;               /* its outgoing edges: edges[e0 .. e0+ne), in the order made */
};

struct edge {
    size_t from;
    char from_port[64];
    uint8_t from_code;           /* port_code(from_port) */
    size_t to;
    char to_port[64];
    size_t fused;   /* the edge into the first node past pass-only ones (fuse_edges) */
};

struct output {
    char port[64];
    uint8_t code;                /* port_code(port) */
    tr_pipeline_out_fn fn;
    void *arg;
};

struct input {
    bool transactional;
    tr_pipeline_cf_fn fn;
    void *arg;
};

/* An insight waiting on the deferred queue: it visits the nodes before
 * `end`, then the inputs. Kept on the pipeline's free list when done. */
struct cf_item {
    struct tr_defer_node node;   /* first */
    struct tr_pipeline *p;
    size_t end;
    struct tr_insight in;
    struct cf_item *free_next;
    bool to_inputs;              /* a TRIGGER counted in triggers until it runs */
};

struct tr_pipeline {
    struct tr_query *q;
    char *id;
    char *instance;
    char *server_instance;
    char *metrics_tag;               /* NULL: see tr_pipeline_opts */
    struct node *nodes;
    size_t nnodes;
    struct edge *edges;
    size_t nedges, edges_cap;
    struct output *outs;
    size_t nouts, outs_cap;
    struct input *ins;
    size_t nins, ins_cap;
    int depth;
    struct tr_defer *defer;      /* the loop's, or own_defer */
    struct tr_defer own_defer;   /* no loop: drained by leave() */
    uint64_t *queued;            /* insights queued by kind (shared) */
    uint64_t own_queued[TR_PIPELINE_NCB];
    uint64_t triggers;           /* TRIGGERs queued, not yet run, that surely reach the inputs */
    struct cf_item *free_items;
    bool merge_acks;             /* every contraflow operator takes range_acks (op.h) */
    const char *direct;          /* in leads straight to an output node: the port events leave by */
    bool takes_raw;              /* every node `in` leads to takes TR_RAWJSON (tr_pipeline_takes_raw) */
    bool keeps_raw;              /* no script assigns to the event (tr_pipeline_keeps_raw) */
    struct cf_item *ack_tail;    /* the last ack posted, while it is queued */
    bool metrics;                /* node metrics on (metrics_interval_s given) */
    uint64_t metrics_ns;
    uint64_t last_metrics;
    uint64_t own_uid_counter;
    struct tr_pipeline_stats stats;
    const struct tr_op_ops *(*op_find)(const char *kind);
    const char *(*op_kinds)(void);
    void (*fatal)(void *arg, const char *pipeline, const char *why);
    void *fatal_arg;
};

static int deliver(struct tr_pipeline *p, size_t idx, const char *port, struct tr_event *ev);
static void contraflow_from(struct tr_pipeline *p, size_t end, struct tr_insight *in);

/* ------------------------------------------------- queued contraflow */

static void cf_run(struct tr_defer_node *n) {
    struct cf_item *it = (struct cf_item *)n;
    struct tr_pipeline *p = it->p;
    if (it == p->ack_tail) p->ack_tail = NULL;
    if (it->to_inputs) p->triggers--;
    contraflow_from(p, it->end, &it->in);
    tr_insight_fini(&it->in);
    it->free_next = p->free_items;
    p->free_items = it;
}

/* Can node n take an insight out of the flow (an operator that handles
 * contraflow)? A trigger no such node stands before reaches the inputs. */
static bool absorbs(const struct node *n) { return n->ops && n->ops->contraflow; }

/* The operator of this pipeline whose own events these ids are, if it takes
 * acks of runs (op.h range_acks): it stops them, so they reach no input. */
static bool ours_in_runs(const struct tr_pipeline *p, const struct tr_ids *ids) {
    for (size_t i = 0; i < p->nnodes; i++)
        if (p->nodes[i].ops && p->nodes[i].ops->range_acks && p->nodes[i].uid == ids->id.source) return true;
    return false;
}

/* An ack that exactly continues the one queued last (by anyone: nothing
 * may run between them) becomes part of it: one insight for a run of
 * events the peer confirmed together instead of one per event. Only where
 * every operator that sees contraflow takes runs and one of them owns the
 * events, so no count per insight changes and no input sees a run. */
static bool merge_ack(struct tr_pipeline *p, size_t end, struct tr_insight *in) {
    struct cf_item *t = p->ack_tail;
    if (!p->merge_acks || in->cb != TR_CB_ACK || !t || t->end != end ||
        !tr_defer_last(p->defer, &t->node) || !ours_in_runs(p, &in->ids) ||
        !tr_ids_extend(&t->in.ids, &in->ids))
        return false;
    p->queued[TR_CB_ACK]++;
    p->stats.acks_merged++;
    tr_ids_fini(&in->ids);
    return true;
}

/* Queue in (taken, also on failure) to visit the nodes before end, then
 * the inputs. */
static void post(struct tr_pipeline *p, size_t end, struct tr_insight *in) {
    if (merge_ack(p, end, in)) return;
    struct cf_item *it = p->free_items;
    if (it) {
        p->free_items = it->free_next;
    } else if (!(it = tr_malloc(sizeof *it))) {
        p->stats.errors++;
        TR_ERROR("pipeline", "%s/%s: out of memory queueing a %s insight", p->id, p->instance,
                 tr_cb_name(in->cb));
        tr_insight_fini(in);
        return;
    }
    tr_defer_node_init(&it->node, cf_run);
    it->p = p;
    it->end = end;
    it->in.cb = in->cb;
    tr_ids_move(&it->in.ids, &in->ids);
    if ((unsigned)in->cb < TR_PIPELINE_NCB) p->queued[in->cb]++;
    it->to_inputs = false;
    if (in->cb == TR_CB_TRIGGER) {
        size_t i = end;
        while (i > 0 && !absorbs(&p->nodes[i - 1])) i--;
        if (i == 0) {   /* nothing on the way can absorb it */
            p->triggers++;
            it->to_inputs = true;
        }
    }
    tr_defer_post(p->defer, &it->node);
    p->ack_tail = in->cb == TR_CB_ACK ? it : NULL;
}

/* Forward work (events downstream) is bracketed, so the queue can check
 * that nothing it delivers runs inside it. Without a loop the pipeline
 * delivers what was queued once back at the top. */
static void enter(struct tr_pipeline *p) { tr_defer_enter(p->defer); }
static void leave(struct tr_pipeline *p) {
    tr_defer_leave(p->defer);
    if (!p->defer->loop) tr_defer_run(p->defer);
}

/* A transactional event ends inside the graph (filtered, dropped by a
 * script, sent to a port nothing listens on, or rejected by an error that
 * was logged and counted). Acknowledge it, through every operator, so that
 * whoever holds it for redelivery (a qos::wal) lets it go instead of
 * waiting for it forever. Takes ev. */
static void settle(struct tr_pipeline *p, struct tr_event *ev) {
    if (ev->transactional) {
        struct tr_insight in = {.cb = TR_CB_ACK};
        tr_ids_move(&in.ids, &ev->ids);
        post(p, p->nnodes, &in);
    }
    tr_event_fini(ev);
}

/* ------------------------------------------------------------ metrics */

/* Port names are compared for every event on every edge. They are a few
 * bytes ("in", "out", "err"): comparing them here costs less than a call
 * to strcmp. */
static inline int same_port(const char *a, const char *b) {
    if (a == b) return 1;
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

/* Nearly every port is in, out or err. Edges and outputs keep the code of
 * theirs and a routed event's port is coded once, so matching is comparing
 * two small numbers; names are compared only when both are other ports. */
enum { PORT_OTHER, PORT_IN, PORT_OUT, PORT_ERR };

static inline uint8_t port_code(const char *s) {
    switch (s[0]) {
    case 'i': return s[1] == 'n' && !s[2] ? PORT_IN : PORT_OTHER;
    case 'o': return s[1] == 'u' && s[2] == 't' && !s[3] ? PORT_OUT : PORT_OTHER;
    case 'e': return s[1] == 'r' && s[2] == 'r' && !s[3] ? PORT_ERR : PORT_OTHER;
    default: return PORT_OTHER;
    }
}

static inline int port_eq(const char *a, uint8_t ac, const char *b, uint8_t bc) {
    if (ac != PORT_OTHER || bc != PORT_OTHER) return ac == bc;
    return same_port(a, b);
}

static void count(struct counts *c, const char *port) {
    for (size_t i = 0; i < c->n; i++)
        if (same_port(c->v[i].port, port)) {
            c->v[i].n++;
            return;
        }
    if (c->n >= MAX_COUNTED_PORTS ||
        tr_grow((void **)&c->v, &c->cap, c->n + 1, sizeof *c->v) != 0)
        return;
    snprintf(c->v[c->n].port, sizeof c->v[c->n].port, "%s", port);
    c->v[c->n++].n = 1;
}

static int set_str(tr_value *rec, const char *key, const char *s) {
    tr_value v;
    int rc = tr_v_str(s, strlen(s), &v);
    if (!rc) rc = tr_rec_set(rec, key, strlen(key), v);
    return rc;
}

/* One metric, 0.11's influx_value shape. */
static int metric_value(const struct tr_pipeline *p, const struct node *n, const char *direction,
                        const struct port_count *pc, uint64_t ts, tr_value *out) {
    tr_value rec = tr_v_null(), tags = tr_v_null(), fields = tr_v_null();
    int rc = tr_v_rec(5, &rec);
    if (!rc) rc = tr_v_rec(4, &tags);
    if (!rc) rc = tr_v_rec(1, &fields);
    if (!rc) rc = set_str(&tags, "pipeline", p->metrics_tag ? p->metrics_tag
                                             : tr_query_config_id(p->q) ? tr_query_config_id(p->q)
                                             : "<generated>");
    if (!rc) rc = set_str(&tags, "node", n->id);
    if (!rc) rc = set_str(&tags, "direction", direction);
    if (!rc) rc = set_str(&tags, "port", pc->port);
    if (!rc) rc = tr_rec_set(&fields, "count", 5, tr_v_uint(pc->n));
    if (!rc) rc = set_str(&rec, "measurement", "events");
    if (!rc) {
        rc = tr_rec_set(&rec, "tags", 4, tags);
        tags = tr_v_null();
    }
    if (!rc) {
        rc = tr_rec_set(&rec, "fields", 6, fields);
        fields = tr_v_null();
    }
    if (!rc) rc = tr_rec_set(&rec, "timestamp", 9, tr_v_uint(ts));
    tr_value_unref(tags);
    tr_value_unref(fields);
    if (rc) {
        tr_value_unref(rec);
        return rc;
    }
    *out = rec;
    return 0;
}

static void to_outputs(struct tr_pipeline *p, const char *port, struct tr_event *ev);

/* An operator's own metrics (op.h metrics) in 0.11's shape, the pipeline
 * and node tags first, then the operator's. */
static void report_op_metrics(struct tr_pipeline *p, const struct node *n, uint64_t ts) {
    tr_value items;
    if (n->ops->metrics(n->op, &items) != 0) {
        p->stats.errors++;
        return;
    }
    for (uint32_t i = 0; i < tr_arr_len(&items); i++) {
        const tr_value *it = tr_arr_at(&items, i);
        const tr_value *m = tr_rec_get_cstr(it, "measurement"), *t = tr_rec_get_cstr(it, "tags");
        const tr_value *c = tr_rec_get_cstr(it, "count");
        if (!m || m->type != TR_STR || !c) continue;
        tr_value rec = tr_v_null(), tags = tr_v_null(), fields = tr_v_null();
        int rc = tr_v_rec(4, &rec);
        if (!rc) rc = tr_v_rec(4, &tags);
        if (!rc) rc = tr_v_rec(1, &fields);
        if (!rc) rc = set_str(&tags, "pipeline", p->metrics_tag ? p->metrics_tag
                                                 : tr_query_config_id(p->q) ? tr_query_config_id(p->q)
                                                 : "<generated>");
        if (!rc) rc = set_str(&tags, "node", n->id);
        for (uint32_t k = 0; !rc && t && t->type == TR_REC && k < tr_rec_len(t); k++)
            rc = tr_rec_set_key(&tags, tr_str_ref(tr_rec_at(t, k)->key), tr_value_ref(tr_rec_at(t, k)->val));
        if (!rc) rc = tr_rec_set(&rec, "measurement", 11, tr_value_ref(*m));
        if (!rc) rc = tr_rec_set(&rec, "tags", 4, tags), tags = tr_v_null();
        if (!rc) rc = tr_rec_set(&fields, "count", 5, tr_value_ref(*c));
        if (!rc) rc = tr_rec_set(&rec, "fields", 6, fields), fields = tr_v_null();
        if (!rc) rc = tr_rec_set(&rec, "timestamp", 9, tr_v_uint(ts));
        tr_value_unref(tags);
        tr_value_unref(fields);
        struct tr_event ev;
        if (rc) {
            tr_value_unref(rec);
            p->stats.errors++;
            break;
        }
        if (tr_event_init(&ev, rec, tr_v_null(), ts)) {
            p->stats.errors++;
            break;
        }
        to_outputs(p, TR_PORT_METRICS, &ev);
    }
    tr_value_unref(items);
}

/* Every node's counts, in node order, inputs before outputs, then the
 * node's operator's own metrics, out of the metrics node. */
static void report_metrics(struct tr_pipeline *p, uint64_t ts) {
    for (size_t i = 0; i < p->nnodes; i++)
        for (int dir = 0; dir < 2; dir++) {
            const struct counts *c = dir ? &p->nodes[i].out : &p->nodes[i].in;
            for (size_t k = 0; k < c->n; k++) {
                tr_value v;
                struct tr_event ev;
                if (metric_value(p, &p->nodes[i], dir ? "output" : "input", &c->v[k], ts, &v) ||
                    tr_event_init(&ev, v, tr_v_null(), ts)) {
                    p->stats.errors++;
                    return;
                }
                to_outputs(p, TR_PORT_METRICS, &ev);
            }
        }
    for (size_t i = 0; i < p->nnodes; i++)
        if (p->nodes[i].ops && p->nodes[i].ops->metrics && p->nodes[i].op)
            report_op_metrics(p, &p->nodes[i], ts);
}

/* ------------------------------------------------------------ routing */

/* Send ev (taken) out of (from, port) along every matching edge. */
static int route(struct tr_pipeline *p, size_t from, const char *port, struct tr_event *ev) {
    size_t last = SIZE_MAX;
    const struct node *n = &p->nodes[from];
    uint8_t pc = port_code(port);
    if (p->metrics) count(&p->nodes[from].out, port);
    for (size_t i = n->e0; i < n->e0 + n->ne; i++)
        if (port_eq(p->edges[i].from_port, p->edges[i].from_code, port, pc)) last = i;
    if (last == SIZE_MAX) {
        settle(p, ev);
        return 0;
    }
    for (size_t i = n->e0; i < last; i++) {
        struct edge *e = &p->edges[i];
        if (!port_eq(e->from_port, e->from_code, port, pc)) continue;
        struct tr_event copy;
        if (tr_event_copy(&copy, ev) != 0) {
            p->stats.errors++;
            continue;
        }
        if (p->metrics) {
            count(&p->nodes[e->to].in, e->to_port);
            deliver(p, e->to, e->to_port, &copy);
        } else {
            const struct edge *f = &p->edges[e->fused];
            deliver(p, f->to, f->to_port, &copy);
        }
    }
    const struct edge *e = &p->edges[last];
    if (p->metrics) count(&p->nodes[e->to].in, e->to_port);
    else e = &p->edges[e->fused];
    return deliver(p, e->to, e->to_port, ev);
}

static void to_outputs(struct tr_pipeline *p, const char *port, struct tr_event *ev) {
    size_t last = SIZE_MAX;
    uint8_t pc = port_code(port);
    for (size_t i = 0; i < p->nouts; i++)
        if (port_eq(p->outs[i].port, p->outs[i].code, port, pc)) last = i;
    if (last == SIZE_MAX) {
        settle(p, ev);
        return;
    }
    for (size_t i = 0; i < last; i++) {
        if (!port_eq(p->outs[i].port, p->outs[i].code, port, pc)) continue;
        struct tr_event copy;
        if (tr_event_copy(&copy, ev) != 0) {
            p->stats.errors++;
            continue;
        }
        p->stats.events_out++;
        p->outs[i].fn(p->outs[i].arg, &copy);
    }
    p->stats.events_out++;
    p->outs[last].fn(p->outs[last].arg, ev);
}

struct select_emit {
    struct tr_pipeline *p;
    size_t idx;
    int emitted;
};

static int select_emit(void *arg, const char *port, struct tr_event *ev) {
    struct select_emit *se = arg;
    se->emitted = 1;
    return route(se->p, se->idx, port ? port : TR_PORT_OUT, ev);
}

static void report(struct tr_pipeline *p, const struct tr_diag *d) {
    char buf[1400];
    tr_diag_format(d, buf, sizeof buf);
    p->stats.errors++;
    TR_WARN("pipeline", "%s/%s: %s", p->id, p->instance, buf);
}

/* A select's runtime error, logged as 0.11's pipeline does ("Error handling
 * event:" and, for an error of the query's script, the source excerpt on the
 * lines below), after our file:line:col. */
static void report_select(struct tr_pipeline *p, const struct tr_select *sel, struct tr_diag *d) {
    static const char pre[] = "Error handling event: ";
    size_t n = strlen(d->msg);
    if (n > sizeof d->msg - sizeof pre) n = sizeof d->msg - sizeof pre;
    memmove(d->msg + sizeof pre - 1, d->msg, n);
    memcpy(d->msg, pre, sizeof pre - 1);
    d->msg[sizeof pre - 1 + n] = 0;
    struct tr_buf ex;
    tr_buf_init(&ex);
    if (tr_select_locate(sel, &ex) != 0 || !ex.len) {
        tr_buf_fini(&ex);
        report(p, d);
        return;
    }
    char buf[1400];
    tr_diag_format(d, buf, sizeof buf);
    p->stats.errors++;
    TR_WARN("pipeline", "%s/%s: %s\n%.*s", p->id, p->instance, buf, (int)(ex.len > 4096 ? 4096 : ex.len),
            ex.data);
    tr_buf_fini(&ex);
}

/* ------------------------------------------------------ node kinds */

/* in and streams: pass the event on. */
static int pass_event(struct tr_pipeline *p, struct node *n, const char *port,
                      struct tr_event *ev) {
    (void)port;
    return route(p, (size_t)(n - p->nodes), TR_PORT_OUT, ev);
}

/* out, err, metrics: leave the pipeline through the output port of the
 * node's name; `out` also through a port named in `into out/<port>`. */
static int leave_event(struct tr_pipeline *p, struct node *n, const char *port,
                       struct tr_event *ev) {
    bool named = n->is_out && port_code(port) != PORT_IN;
    to_outputs(p, named ? port : n->id, ev);
    return 0;
}

static int select_event(struct tr_pipeline *p, struct node *n, const char *port,
                        struct tr_event *ev) {
    (void)port;
    /* `select event`: nothing to run, nothing can be filtered out */
    if (tr_select_passes_event(n->select)) return route(p, (size_t)(n - p->nodes), TR_PORT_OUT, ev);
    struct select_emit se = {p, (size_t)(n - p->nodes), 0};
    struct tr_diag d;
    tr_diag_clear(&d);
    struct tr_lang_ctx ctx = {.instance = p->server_instance, .ingest_ns = ev->ingest_ns};
    /* The select takes the event; keep its ids to settle it if nothing
     * comes out (filtered by where/having, or a runtime error). */
    struct tr_insight done = {.cb = TR_CB_ACK};
    int track = ev->transactional && tr_ids_copy(&done.ids, &ev->ids) == 0;
    int rc = tr_select_run(n->select, &ctx, ev, select_emit, &se, &d);
    if (rc < 0 && d.msg[0]) report_select(p, n->select, &d);
    if (track) {
        if (!se.emitted) post(p, p->nnodes, &done);
        else tr_insight_fini(&done);
    }
    return rc;
}

static void select_tick(struct tr_pipeline *p, struct node *n, uint64_t now_ns) {
    struct select_emit se = {p, (size_t)(n - p->nodes), 0};
    struct tr_diag d;
    tr_diag_clear(&d);
    struct tr_lang_ctx ctx = {.instance = p->server_instance, .ingest_ns = now_ns};
    int rc = tr_select_tick(n->select, &ctx, now_ns, select_emit, &se, &d);
    if (rc < 0 && d.msg[0]) report_select(p, n->select, &d);
}

/* What a script's err port carries (0.11 tremor-pipeline op/trickle/script.rs):
 * {"error": the rendered error, "event": the event as the script left it}.
 * Without memory for it the event goes out as it is. */
static void wrap_error(struct tr_script *s, struct tr_event *ev) {
    struct tr_buf b;
    tr_buf_init(&b);
    tr_value rec, text;
    if (tr_script_render(s, tr_script_last_error(s), &b) || tr_v_str(b.data ? b.data : "", b.len, &text)) {
        tr_buf_fini(&b);
        return;
    }
    tr_buf_fini(&b);
    if (tr_v_rec(2, &rec)) {
        tr_value_unref(text);
        return;
    }
    if (tr_rec_set(&rec, "error", 5, text) || tr_rec_set(&rec, "event", 5, tr_value_ref(ev->value))) {
        tr_value_unref(rec);
        return;
    }
    tr_value_unref(ev->value);
    ev->value = rec;
}

static int script_event(struct tr_pipeline *p, struct node *n, const char *port,
                        struct tr_event *ev) {
    (void)port;
    size_t idx = (size_t)(n - p->nodes);
    struct tr_diag d;
    tr_diag_clear(&d);
    struct tr_lang_ctx ctx = {.instance = p->server_instance, .ingest_ns = ev->ingest_ns};
    enum tr_script_outcome oc = TR_SCRIPT_DROP;
    const char *out_port = NULL;
    int rc = tr_script_run(n->script, &ctx, &ev->value, &ev->meta, &n->state, &oc, &out_port, &d);
    if (rc) {
        /* As in Tremor: the event goes to the script's err port. */
        if (d.msg[0]) report(p, &d);
        else p->stats.errors++;
        wrap_error(n->script, ev);
        return route(p, idx, TR_PORT_ERR, ev);
    }
    if (oc == TR_SCRIPT_EMIT) return route(p, idx, out_port ? out_port : TR_PORT_OUT, ev);
    settle(p, ev);
    return 0;
}

static void script_destroy(struct node *n) { tr_value_unref(n->state); }

static int op_event(struct tr_pipeline *p, struct node *n, const char *port, struct tr_event *ev) {
    int rc = n->ops->event(n->op, port, ev);
    if (rc < 0) {
        p->stats.errors++;
        TR_WARN("pipeline", "%s/%s: operator %s: %s", p->id, p->instance, n->id, tr_strerror(rc));
    }
    return rc;
}

static void op_tick(struct tr_pipeline *p, struct node *n, uint64_t now_ns) {
    (void)p;
    if (n->ops->tick) n->ops->tick(n->op, now_ns);
}

static void op_contraflow(struct node *n, struct tr_insight *in) {
    if (!n->ops->contraflow) return;
    /* a release only means something to an operator with a window; any
     * other one would take it for an ack */
    if (in->cb == TR_CB_RELEASE && !n->ops->release) return;
    n->ops->contraflow(n->op, in);
}

static void op_quiesce(struct node *n) {
    if (n->ops->quiesce) n->ops->quiesce(n->op);
}

static int op_flush(struct node *n) { return n->ops->flush ? n->ops->flush(n->op) : 0; }

static void op_destroy(struct node *n) {
    if (n->ops) n->ops->destroy(n->op);
}

static const struct node_kind k_in = {.event = pass_event, .reads_from = true};
static const struct node_kind k_stream = {.event = pass_event, .reads_from = true,
                                          .written_to = true};
static const struct node_kind k_output = {.event = leave_event, .written_to = true};
static const struct node_kind k_select = {.event = select_event, .tick = select_tick};
static const struct node_kind k_script = {.event = script_event, .destroy = script_destroy,
                                          .reads_from = true, .written_to = true};
static const struct node_kind k_op = {
    .event = op_event, .tick = op_tick, .contraflow = op_contraflow, .quiesce = op_quiesce,
    .flush = op_flush, .destroy = op_destroy, .reads_from = true, .written_to = true,
};

static int deliver(struct tr_pipeline *p, size_t idx, const char *port, struct tr_event *ev) {
    struct node *n = &p->nodes[idx];
    if (p->depth >= TR_PIPELINE_MAX_DEPTH) {
        TR_WARN("pipeline", "%s/%s: event dropped at node %s: graph deeper than %d (a loop?)",
                p->id, p->instance, n->id, TR_PIPELINE_MAX_DEPTH);
        p->stats.errors++;
        settle(p, ev);
        return TR_EDEPTH;
    }
    /* an operator that never reads the value (qos::wal) takes the text
     * the value came as, if it still is that text's value */
    if (ev->raw && n->ops && n->raw_after) tr_event_use_raw(ev);
    /* undecoded JSON goes no further than the nodes that never read it */
    if (ev->value.type == TR_RAWJSON && !n->takes_raw) {
        int rc = tr_json_materialize(&ev->value);
        if (rc) {
            TR_WARN("pipeline", "%s/%s: event dropped at node %s: cannot decode it: %s", p->id,
                    p->instance, n->id, tr_strerror(rc));
            p->stats.errors++;
            settle(p, ev);
            return rc;
        }
    }
    p->depth++;
    p->stats.hops++;
    int rc = n->kind->event(p, n, port, ev);
    p->depth--;
    return rc;
}

/* ------------------------------------------------------- contraflow */

/* Run in (owned by the caller) through contraflow handlers of nodes before
 * `end` (exclusive) in reverse order, then to the inputs. */
static void contraflow_from(struct tr_pipeline *p, size_t end, struct tr_insight *in) {
    assert(tr_defer_forward(p->defer) == 0);   /* the contraflow rule (op.h) */
    for (size_t i = end; i-- > 0;) {
        struct node *n = &p->nodes[i];
        if (n->kind->contraflow) n->kind->contraflow(n, in);
        if (in->cb == TR_CB_NONE) return;
    }
    bool cb_signal = in->cb == TR_CB_TRIGGER || in->cb == TR_CB_RESTORE;
    for (size_t i = 0; i < p->nins; i++)
        if (cb_signal || p->ins[i].transactional) p->ins[i].fn(p->ins[i].arg, in);
}

void tr_pipeline_contraflow_take(struct tr_pipeline *p, struct tr_insight *in) {
    post(p, p->nnodes, in);
    if (!p->defer->loop) tr_defer_run(p->defer);
}

void tr_pipeline_contraflow(struct tr_pipeline *p, const struct tr_insight *in) {
    struct tr_insight copy;
    copy.cb = in->cb;
    if (tr_ids_copy(&copy.ids, &in->ids) != 0) {
        p->stats.errors++;
        TR_ERROR("pipeline", "%s/%s: out of memory copying a %s insight", p->id, p->instance,
                 tr_cb_name(in->cb));
        return;
    }
    tr_pipeline_contraflow_take(p, &copy);
}

static int host_emit(struct tr_op_host *h, const char *port, struct tr_event *ev) {
    struct op_host *oh = (struct op_host *)h;
    struct tr_pipeline *p = oh->p;
    uint64_t fails = p->queued[TR_CB_FAIL];
    enter(p);
    int rc = route(p, oh->idx, port, ev);
    tr_defer_leave(p->defer);    /* the operator's caller delivers: it is the top */
    if (rc >= 0 && p->queued[TR_CB_FAIL] != fails) rc = TR_EREFUSED;
    return rc;
}

static void host_insight(struct tr_op_host *h, struct tr_insight *in) {
    struct op_host *oh = (struct op_host *)h;
    post(oh->p, oh->idx, in);
}

static void host_fatal(struct tr_op_host *h, const char *why) {
    struct op_host *oh = (struct op_host *)h;
    struct tr_pipeline *p = oh->p;
    TR_ERROR("pipeline", "%s/%s: %s", p->id, p->instance, why);
    if (p->fatal) p->fatal(p->fatal_arg, p->id, why);
}

static const struct tr_op_host_ops host_ops = {host_emit, host_insight, host_fatal};

/* ------------------------------------------------------------- build */

static int find_node(const struct tr_pipeline *p, const char *id, size_t *out) {
    for (size_t i = 0; i < p->nnodes; i++)
        if (strcmp(p->nodes[i].id, id) == 0) {
            *out = i;
            return 0;
        }
    return TR_ENOTFOUND;
}

static int add_edge(struct tr_pipeline *p, size_t from, const char *fport, size_t to,
                    const char *tport) {
    int rc = tr_grow((void **)&p->edges, &p->edges_cap, p->nedges + 1, sizeof *p->edges);
    if (rc) return rc;
    struct edge *e = &p->edges[p->nedges++];
    e->from = from;
    e->to = to;
    snprintf(e->from_port, sizeof e->from_port, "%s", fport);
    e->from_code = port_code(e->from_port);
    snprintf(e->to_port, sizeof e->to_port, "%s", tport);
    return 0;
}

/* Group the edges by the node they leave (a stable insertion sort: the
 * edges of one node keep the order the query made them in, which is the
 * order route() delivers in), so route() looks only at its node's. */
static void index_edges(struct tr_pipeline *p) {
    for (size_t i = 1; i < p->nedges; i++) {
        struct edge e = p->edges[i];
        size_t j = i;
        for (; j > 0 && p->edges[j - 1].from > e.from; j--) p->edges[j] = p->edges[j - 1];
        p->edges[j] = e;
    }
    for (size_t i = 0; i < p->nedges; i++) {
        struct node *n = &p->nodes[p->edges[i].from];
        if (!n->ne) n->e0 = i;
        n->ne++;
    }
}

/* Nodes that hand every event on unchanged along their one `out` edge: in,
 * streams and a plain `select event`. *next: that edge. */
static int pass_only(const struct tr_pipeline *p, size_t idx, size_t *next) {
    const struct node *n = &p->nodes[idx];
    if (n->kind != &k_in && n->kind != &k_stream &&
        !(n->kind == &k_select && tr_select_passes_event(n->select)))
        return 0;
    size_t found = SIZE_MAX;
    for (size_t i = n->e0; i < n->e0 + n->ne; i++) {
        if (!same_port(p->edges[i].from_port, TR_PORT_OUT)) continue;
        if (found != SIZE_MAX) return 0;   /* a fan-out copies the event */
        found = i;
    }
    if (found == SIZE_MAX) return 0;       /* where nothing leads on, it is settled */
    *next = found;
    return 1;
}

/* Each edge's event goes straight to the first node past the pass-only ones
 * it would go through: `select event from in into out` is then two hops
 * (in, out), not three. Without metrics only (with them each node counts
 * what passes; every edge then leads where it was made to). A cycle of
 * pass-only nodes is left as it is: deliver's depth limit reports it. */
static void fuse_edges(struct tr_pipeline *p) {
    for (size_t i = 0; i < p->nedges; i++) {
        size_t cur = i, next, hops = 0;
        while (!p->metrics && hops <= p->nnodes && pass_only(p, p->edges[cur].to, &next)) {
            cur = next;
            hops++;
        }
        p->edges[i].fused = hops > p->nnodes ? i : cur;
    }
}

static void known_nodes(const struct tr_pipeline *p, char *buf, size_t n) {
    size_t off = 0;
    buf[0] = 0;
    for (size_t i = 0; i < p->nnodes && off < n; i++) {
        if (p->nodes[i].kind == &k_select) continue;
        int w = snprintf(buf + off, n - off, "%s%s", off ? ", " : "", p->nodes[i].id);
        if (w < 0) break;
        off += (size_t)w;
    }
}

static int link_select(struct tr_pipeline *p, const char *file, size_t idx,
                       const struct tr_qnode *qn, struct tr_diag *d) {
    size_t from, into;
    char known[512];
    if (find_node(p, qn->from_node, &from) != 0) {
        known_nodes(p, known, sizeof known);
        return tr_diag_set(d, TR_EINVAL_CFG, file, qn->line, qn->col,
                           "select reads from unknown node '%s' (known: %s)", qn->from_node, known);
    }
    if (find_node(p, qn->into_node, &into) != 0) {
        known_nodes(p, known, sizeof known);
        return tr_diag_set(d, TR_EINVAL_CFG, file, qn->line, qn->col,
                           "select writes into unknown node '%s' (known: %s)", qn->into_node, known);
    }
    if (!p->nodes[from].kind->reads_from)
        return tr_diag_set(d, TR_EINVAL_CFG, file, qn->line, qn->col,
                           "select cannot read from '%s': it is the pipeline's output",
                           qn->from_node);
    if (!p->nodes[into].kind->written_to)
        return tr_diag_set(d, TR_EINVAL_CFG, file, qn->line, qn->col,
                           "select cannot write into 'in': it is the pipeline's input");
    int rc = add_edge(p, from, qn->from_port ? qn->from_port : TR_PORT_OUT, idx, TR_PORT_IN);
    if (!rc) rc = add_edge(p, idx, TR_PORT_OUT, into, qn->into_port ? qn->into_port : TR_PORT_IN);
    return rc;
}

int tr_pipeline_create(struct tr_query *q, const struct tr_pipeline_opts *o,
                       struct tr_pipeline **out, struct tr_diag *d) {
    *out = NULL;
    struct tr_pipeline *p = tr_calloc(1, sizeof *p);
    if (!p) {
        tr_query_destroy(q);
        return -ENOMEM;
    }
    p->q = q;
    p->defer = o->defer;
    if (!p->defer) {
        tr_defer_init(&p->own_defer, NULL);   /* cannot fail without a loop */
        p->defer = &p->own_defer;
    }
    p->queued = o->queued ? o->queued : p->own_queued;
    p->own_uid_counter = TR_UID_OP_BASE;
    p->op_find = o->op_find ? o->op_find : tr_op_find;
    p->op_kinds = o->op_kinds ? o->op_kinds : tr_op_kinds;
    int64_t ival = tr_query_metrics_interval_s(q);
    p->metrics = ival >= 0;
    p->metrics_ns = (uint64_t)ival > UINT64_MAX / 1000000000u ? UINT64_MAX
                                                              : (uint64_t)ival * 1000000000u;
    p->fatal = o->fatal;
    p->fatal_arg = o->fatal_arg;
    uint64_t *uids = o->uid_counter ? o->uid_counter : &p->own_uid_counter;
    if (*uids < TR_UID_OP_BASE) *uids = TR_UID_OP_BASE;
    int rc = -ENOMEM;
    p->id = tr_strdup(o->id ? o->id : "pipeline");
    p->instance = tr_strdup(o->instance ? o->instance : "01");
    p->metrics_tag = o->metrics_tag ? tr_strdup(o->metrics_tag) : NULL;
    if (o->metrics_tag && !p->metrics_tag) goto fail;
    p->server_instance = tr_strdup(o->server_instance ? o->server_instance : "tremor");
    size_t nq = tr_query_node_count(q);
    p->nodes = tr_calloc(nq + TR_QUERY_NBUILTIN, sizeof *p->nodes);
    if (!p->id || !p->instance || !p->server_instance || !p->nodes) goto fail;
    static const char *builtin[TR_QUERY_NBUILTIN] = TR_QUERY_BUILTIN_NODES;
    for (int i = 0; i < TR_QUERY_NBUILTIN; i++) {
        p->nodes[p->nnodes].kind = i == 0 ? &k_in : &k_output;
        p->nodes[p->nnodes].id = builtin[i];
        p->nodes[p->nnodes].is_out = port_code(builtin[i]) == PORT_OUT;
        p->nnodes++;
    }
    const char *file = o->file ? o->file : p->id;
    /* Nodes first (selects may refer to nodes created after them). */
    for (size_t i = 0; i < nq; i++) {
        const struct tr_qnode *qn = tr_query_node(q, i);
        struct node *n = &p->nodes[p->nnodes];
        size_t dup;
        if (qn->kind != TR_QN_SELECT && find_node(p, qn->id, &dup) == 0) {
            rc = tr_diag_set(d, TR_EINVAL_CFG, file, qn->line, qn->col,
                             "node '%s' is defined twice", qn->id);
            goto fail;
        }
        n->id = qn->id;
        switch (qn->kind) {
        case TR_QN_STREAM: n->kind = &k_stream; break;
        case TR_QN_SELECT:
            n->kind = &k_select;
            n->select = qn->select;
            break;
        case TR_QN_SCRIPT:
            n->kind = &k_script;
            n->script = qn->script;
            n->state = tr_v_null();
            break;
        case TR_QN_OPERATOR: {
            n->kind = &k_op;
            n->ops = p->op_find(qn->op_kind);
            if (!n->ops) {
                rc = tr_diag_set(d, TR_EINVAL_CFG, file, qn->line, qn->col,
                                 "unknown operator kind '%s' for operator '%s' (known: %s)",
                                 qn->op_kind, qn->id, p->op_kinds());
                goto fail;
            }
            n->host.base.ops = &host_ops;
            n->host.base.loop = o->loop;
            n->host.base.defer = p->defer;
            n->host.p = p;
            n->host.idx = p->nnodes;
            struct tr_op_spec spec = {
                .id = qn->id, .kind = qn->op_kind, .params = &qn->params,
                .uid = ++*uids, .pipeline = p->id, .instance = p->instance,
                .server_instance = p->server_instance,
                .data_dir = o->data_dir ? o->data_dir : "tremor-data",
                .file = file, .line = qn->line, .col = qn->col,
            };
            n->uid = spec.uid;
            rc = n->ops->create(&spec, &n->host.base, &n->op, d);
            if (rc) {
                tr_diag_locate(d, file, qn->line, qn->col);
                n->ops = NULL;
                goto fail;
            }
            break;
        }
        }
        p->nnodes++;
    }
    for (size_t i = 0, k = TR_QUERY_NBUILTIN; i < nq; i++, k++) {
        const struct tr_qnode *qn = tr_query_node(q, i);
        if (qn->kind != TR_QN_SELECT) continue;
        rc = link_select(p, file, k, qn, d);
        if (rc) goto fail;
    }
    index_edges(p);
    fuse_edges(p);
    /* `select event from in into out` (and any chain of pass-only nodes):
     * an event pushed in goes to the outputs of one port, decided now */
    const struct node *in = &p->nodes[0];
    if (!p->metrics && in->ne == 1 && p->edges[in->e0].from_code == PORT_OUT) {
        const struct edge *f = &p->edges[p->edges[in->e0].fused];
        const struct node *t = &p->nodes[f->to];
        if (t->kind == &k_output)
            p->direct = t->is_out && port_code(f->to_port) != PORT_IN ? f->to_port : t->id;
    }
    for (size_t i = 0; i < p->nnodes; i++) {
        struct node *n = &p->nodes[i];
        n->takes_raw = n->kind == &k_in || n->kind == &k_stream || n->kind == &k_output ||
                       (n->ops && n->ops->takes_raw);
    }
    /* raw_after: takes_raw here and at every node reachable from here (a
     * fixed point: the graph may have cycles; each pass clears at least
     * one node or ends) */
    for (size_t i = 0; i < p->nnodes; i++) p->nodes[i].raw_after = p->nodes[i].takes_raw;
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t e = 0; e < p->nedges; e++) {
            struct node *from = &p->nodes[p->edges[e].from];
            if (from->raw_after && !p->nodes[p->edges[e].to].raw_after) {
                from->raw_after = false;
                changed = true;
            }
        }
    }
    p->keeps_raw = true;
    for (size_t i = 0; i < p->nnodes; i++)
        if (p->nodes[i].kind == &k_script && tr_script_writes_event(p->nodes[i].script))
            p->keeps_raw = false;
    p->takes_raw = true;
    for (size_t e = in->e0; e < in->e0 + in->ne; e++)
        p->takes_raw = p->takes_raw && p->nodes[p->edges[p->edges[e].fused].to].takes_raw;
    /* acks merge into runs only where every operator that sees contraflow
     * takes them (op.h range_acks) */
    bool any = false, all = true;
    for (size_t i = 0; i < p->nnodes; i++) {
        const struct tr_op_ops *ops = p->nodes[i].ops;
        if (!ops || !ops->contraflow) continue;
        any = true;
        all = all && ops->range_acks;
    }
    p->merge_acks = any && all;
    *out = p;
    return 0;
fail:
    tr_pipeline_destroy(p);
    return rc;
}

/* What this pipeline still has queued goes with it. */
static void purge(struct tr_defer_node *n, void *arg) {
    struct cf_item *it = (struct cf_item *)n;
    if (n->run != cf_run || it->p != arg) return;
    if (it == it->p->ack_tail) it->p->ack_tail = NULL;
    tr_defer_cancel(it->p->defer, n);
    tr_insight_fini(&it->in);
    tr_free(it);
}

void tr_pipeline_destroy(struct tr_pipeline *p) {
    if (!p) return;
    for (size_t i = 0; i < p->nnodes; i++) {
        if (p->nodes[i].kind && p->nodes[i].kind->destroy) p->nodes[i].kind->destroy(&p->nodes[i]);
        tr_free(p->nodes[i].in.v);
        tr_free(p->nodes[i].out.v);
    }
    if (p->defer) {   /* NULL when creation failed before it was set */
        tr_defer_each(p->defer, purge, p);
        if (p->defer == &p->own_defer) tr_defer_close(&p->own_defer, NULL, NULL);
    }
    while (p->free_items) {
        struct cf_item *it = p->free_items;
        p->free_items = it->free_next;
        tr_free(it);
    }
    tr_free(p->nodes);
    tr_free(p->edges);
    tr_free(p->outs);
    tr_free(p->ins);
    tr_query_destroy(p->q);
    tr_free(p->id);
    tr_free(p->instance);
    tr_free(p->server_instance);
    tr_free(p->metrics_tag);
    tr_free(p);
}

const char *tr_pipeline_id(const struct tr_pipeline *p) { return p->id; }

int tr_pipeline_connect_output(struct tr_pipeline *p, const char *port, tr_pipeline_out_fn fn,
                               void *arg) {
    int rc = tr_grow((void **)&p->outs, &p->outs_cap, p->nouts + 1, sizeof *p->outs);
    if (rc) return rc;
    struct output *o = &p->outs[p->nouts++];
    snprintf(o->port, sizeof o->port, "%s", port);
    o->code = port_code(o->port);
    o->fn = fn;
    o->arg = arg;
    return 0;
}

int tr_pipeline_connect_input(struct tr_pipeline *p, bool transactional, tr_pipeline_cf_fn fn,
                              void *arg) {
    int rc = tr_grow((void **)&p->ins, &p->ins_cap, p->nins + 1, sizeof *p->ins);
    if (rc) return rc;
    struct input *in = &p->ins[p->nins++];
    in->transactional = transactional;
    in->fn = fn;
    in->arg = arg;
    return 0;
}

int tr_pipeline_disconnect_output(struct tr_pipeline *p, tr_pipeline_out_fn fn, void *arg) {
    for (size_t i = p->nouts; i-- > 0;)
        if (p->outs[i].fn == fn && p->outs[i].arg == arg) {
            memmove(&p->outs[i], &p->outs[i + 1], (p->nouts - i - 1) * sizeof *p->outs);
            p->nouts--;
            return 0;
        }
    return TR_ENOTFOUND;
}

int tr_pipeline_disconnect_input(struct tr_pipeline *p, tr_pipeline_cf_fn fn, void *arg) {
    for (size_t i = p->nins; i-- > 0;)
        if (p->ins[i].fn == fn && p->ins[i].arg == arg) {
            memmove(&p->ins[i], &p->ins[i + 1], (p->nins - i - 1) * sizeof *p->ins);
            p->nins--;
            return 0;
        }
    return TR_ENOTFOUND;
}

int tr_pipeline_push(struct tr_pipeline *p, const char *port, struct tr_event *ev) {
    if (!same_port(port, TR_PORT_IN)) {
        tr_event_fini(ev);
        return TR_ENOTFOUND;
    }
    p->stats.events_in++;
    enter(p);
    /* 0.11 checks at every event pushed in, by its ingest time */
    if (p->metrics && ev->ingest_ns > p->last_metrics &&
        ev->ingest_ns - p->last_metrics > p->metrics_ns) {
        report_metrics(p, ev->ingest_ns);
        p->last_metrics = ev->ingest_ns;
    }
    if (p->direct) {   /* in, then the output node: what deliver would do, less the calls */
        p->stats.hops += 2;
        to_outputs(p, p->direct, ev);
    } else {
        deliver(p, 0, TR_PORT_IN, ev);   /* errors inside are logged and counted */
    }
    leave(p);
    return 0;
}

void tr_pipeline_tick(struct tr_pipeline *p, uint64_t now_ns) {
    enter(p);
    /* Beyond 0.11 (which reports only when an event arrives): an idle
     * pipeline still reports once its interval is over. An interval of 0
     * means "at every event" and stays event-driven. */
    if (p->metrics && p->metrics_ns > 0 && now_ns > p->last_metrics &&
        now_ns - p->last_metrics > p->metrics_ns) {
        report_metrics(p, now_ns);
        p->last_metrics = now_ns;
    }
    for (size_t i = 0; i < p->nnodes; i++)
        if (p->nodes[i].kind->tick) p->nodes[i].kind->tick(p, &p->nodes[i], now_ns);
    leave(p);
}

int tr_pipeline_flush(struct tr_pipeline *p) {
    int n = 0;
    for (size_t i = 0; i < p->nnodes; i++)
        if (p->nodes[i].kind->flush) {
            enter(p);
            n += p->nodes[i].kind->flush(&p->nodes[i]);
            leave(p);
        }
    return n;
}

void tr_pipeline_quiesce(struct tr_pipeline *p) {
    if (!p) return;
    for (size_t i = 0; i < p->nnodes; i++)
        if (p->nodes[i].kind->quiesce) p->nodes[i].kind->quiesce(&p->nodes[i]);
}

void tr_pipeline_stats(const struct tr_pipeline *p, struct tr_pipeline_stats *s) { *s = p->stats; }

bool tr_pipeline_takes_raw(const struct tr_pipeline *p) { return p->takes_raw; }
bool tr_pipeline_keeps_raw(const struct tr_pipeline *p) { return p->keeps_raw; }

int tr_pipeline_op_stats(const struct tr_pipeline *p, tr_value *out) {
    tr_value a;
    int rc = tr_v_arr(1, &a);
    for (size_t i = 0; !rc && i < p->nnodes; i++) {
        const struct node *n = &p->nodes[i];
        if (!n->ops || !n->ops->stats || !n->op) continue;
        tr_value r = tr_v_null(), st = tr_v_null();
        rc = n->ops->stats(n->op, &st);
        if (!rc) rc = tr_v_rec(3, &r);
        if (!rc) rc = set_str(&r, "node", n->id);
        if (!rc) rc = set_str(&r, "kind", n->ops->kind);
        if (!rc) rc = tr_rec_set(&r, "stats", 5, st), st = tr_v_null();
        if (!rc) rc = tr_arr_push(&a, r), r = tr_v_null();
        tr_value_unref(st);
        tr_value_unref(r);
    }
    if (rc) {
        tr_value_unref(a);
        return rc;
    }
    *out = a;
    return 0;
}

int tr_pipeline_node_events(const struct tr_pipeline *p, tr_value *out) {
    tr_value a;
    int rc = tr_v_arr(p->metrics ? p->nnodes * 2 : 0, &a);
    for (size_t i = 0; !rc && p->metrics && i < p->nnodes; i++)
        for (int dir = 0; !rc && dir < 2; dir++) {
            const struct counts *c = dir ? &p->nodes[i].out : &p->nodes[i].in;
            for (size_t k = 0; !rc && k < c->n; k++) {
                tr_value r = tr_v_null();
                rc = tr_v_rec(4, &r);
                if (!rc) rc = set_str(&r, "node", p->nodes[i].id);
                if (!rc) rc = set_str(&r, "direction", dir ? "output" : "input");
                if (!rc) rc = set_str(&r, "port", c->v[k].port);
                if (!rc) rc = tr_rec_set(&r, "count", 5, tr_v_uint(c->v[k].n));
                if (!rc) rc = tr_arr_push(&a, r), r = tr_v_null();
                tr_value_unref(r);
            }
        }
    if (rc) {
        tr_value_unref(a);
        return rc;
    }
    *out = a;
    return 0;
}

uint64_t tr_pipeline_triggers(const struct tr_pipeline *p) { return p->triggers; }
