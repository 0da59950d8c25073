/* status.c - /ready, /status and /metrics (see status.h). All three are
 * rendered from one snapshot, tr_world_status, so they never disagree;
 * /metrics maps its fields onto Prometheus series by the table below.
 */
#include "api/status.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/reply.h"
#include "api/router.h"
#include "core/buf.h"
#include "core/error.h"
#include "pipeline/world.h"

struct status_arg {
    struct tr_world *w;
    struct tr_api *a;
};

/* The world's snapshot plus the API's own counters under "api". */
static int snapshot(const struct status_arg *sa, tr_value *out) {
    int rc = tr_world_status(sa->w, out);
    if (rc) return rc;
    struct tr_http_stats hs;
    tr_api_stats(sa->a, &hs);
    tr_value api;
    rc = tr_v_rec(6, &api);
    if (!rc) rc = tr_rec_set(&api, "connections", 11, tr_v_uint(hs.accepted));
    if (!rc) rc = tr_rec_set(&api, "refused", 7, tr_v_uint(hs.refused));
    if (!rc) rc = tr_rec_set(&api, "requests", 8, tr_v_uint(hs.requests));
    if (!rc) rc = tr_rec_set(&api, "rejected", 8, tr_v_uint(hs.rejected));
    if (!rc) rc = tr_rec_set(&api, "timed_out", 9, tr_v_uint(hs.timed_out));
    if (!rc) rc = tr_rec_set(&api, "open", 4, tr_v_uint(hs.open));
    if (!rc) rc = tr_rec_set(out, "api", 3, api);
    else tr_value_unref(api);
    if (rc) {
        tr_value_unref(*out);
        *out = tr_v_null();
    }
    return rc;
}

static void get_status(void *arg, struct tr_http_req *req, const struct tr_route_params *pp) {
    (void)pp;
    tr_value st;
    if (snapshot(arg, &st)) {
        tr_api_error(req, 500, "out of memory");
        return;
    }
    tr_api_reply(req, 200, &st);
    tr_value_unref(st);
}

static void get_ready(void *arg, struct tr_http_req *req, const struct tr_route_params *pp) {
    const struct status_arg *sa = arg;
    (void)pp;
    tr_value st, r;
    if (tr_world_status(sa->w, &st)) {
        tr_api_error(req, 500, "out of memory");
        return;
    }
    const tr_value *ready = tr_rec_get_cstr(&st, "ready");
    int ok = ready && ready->type == TR_BOOL && ready->as.b;
    int rc = tr_v_rec(2, &r);
    if (!rc) rc = tr_rec_set(&r, "ready", 5, tr_v_bool(ok));
    if (!rc && !ok) rc = tr_rec_set(&r, "not_ready", 9, tr_value_ref(*tr_rec_get_cstr(&st, "not_ready")));
    if (rc) tr_api_error(req, 500, "out of memory");
    else tr_api_reply(req, ok ? 200 : 503, &r);
    if (!rc) tr_value_unref(r);
    tr_value_unref(st);
}

/* One Prometheus sample source: field of every record in section, with
 * the record's url under label, plus fixed extra labels. Rows of one name
 * are adjacent; HELP and TYPE are written before the first. A boolean
 * field counts as 1/0; a string one as 1 when it is "open". */
static const struct series {
    const char *name, *type, *help, *section, *label, *extra, *field;
} series[] = {
    {"tremor_ramp_events_total", "counter",
     "Events through an onramp or offramp port (0.11's ramp_events: onramp out/error, offramp in/out/error)",
     "onramps", "ramp", "port=\"out\"", "events_out"},
    {"tremor_ramp_events_total", NULL, NULL, "onramps", "ramp", "port=\"error\"", "decode_errors"},
    {"tremor_ramp_events_total", NULL, NULL, "offramps", "ramp", "port=\"in\"", "events_in"},
    {"tremor_ramp_events_total", NULL, NULL, "offramps", "ramp", "port=\"out\"", "events_out"},
    {"tremor_ramp_events_total", NULL, NULL, "offramps", "ramp", "port=\"error\"", "fails"},
    {"tremor_offramp_acks_total", "counter", "Transactional events the offramp's peer acknowledged",
     "offramps", "ramp", NULL, "acks"},
    {"tremor_offramp_fails_total", "counter", "Transactional events the offramp failed back upstream",
     "offramps", "ramp", NULL, "fails"},
    {"tremor_offramp_encode_errors_total", "counter", "Events an offramp could not encode",
     "offramps", "ramp", NULL, "encode_errors"},
    {"tremor_offramp_in_flight", "gauge", "Transactional events sent and not yet acked or failed",
     "offramps", "ramp", NULL, "in_flight"},
    {"tremor_offramp_connected", "gauge", "1 when the offramp is started and its breaker closed",
     "offramps", "ramp", NULL, "connected"},
    {"tremor_offramp_breaker_open", "gauge", "Circuit breaker state: 1 open (disconnected), 0 closed",
     "offramps", "ramp", NULL, "breaker"},
    {"tremor_offramp_breaker_opened_total", "counter",
     "Times the offramp lost its peer (reconnects follow each)", "offramps", "ramp", NULL,
     "breaker_opened"},
    {"tremor_offramp_breaker_closed_total", "counter", "Times the offramp (re)connected",
     "offramps", "ramp", NULL, "breaker_closed"},
    {"tremor_pipeline_events_total", "counter", "Events into and out of a pipeline instance",
     "pipelines", "pipeline", "direction=\"input\"", "events_in"},
    {"tremor_pipeline_events_total", NULL, NULL, "pipelines", "pipeline", "direction=\"output\"",
     "events_out"},
    {"tremor_pipeline_errors_total", "counter", "Runtime errors inside a pipeline instance",
     "pipelines", "pipeline", NULL, "errors"},
};

static int label_value(struct tr_buf *b, const char *s, size_t n) {
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        char c = s[i];
        if (c == '\\') rc = tr_buf_append(b, "\\\\", 2);
        else if (c == '"') rc = tr_buf_append(b, "\\\"", 2);
        else if (c == '\n') rc = tr_buf_append(b, "\\n", 2);
        else rc = tr_buf_putc(b, c);
    }
    return rc;
}

static int sample_value(const tr_value *v, unsigned long long *out) {
    switch (v->type) {
    case TR_BOOL: *out = (unsigned long long)v->as.b; return 0;
    case TR_I64: *out = (unsigned long long)v->as.i; return 0;
    case TR_U64: *out = (unsigned long long)v->as.u; return 0;
    case TR_STR: *out = strcmp(v->as.s->data, "open") == 0; return 0;
    default: return -1;
    }
}

/* Operator stats (ops/op.h stats): tremor_<kind>_<field> per pipeline
 * instance and node, e.g. tremor_qos_wal_records. Levels are gauges,
 * everything else a counter (with _total); a nested latency record is a
 * summary in seconds. */
static const char *const gauges[] = {"records", "bytes", "segments", "spares", "durable_lag_records",
                                     "in_flight", "failed"};

static int is_gauge(const char *f) {
    for (size_t i = 0; i < sizeof gauges / sizeof gauges[0]; i++)
        if (strcmp(f, gauges[i]) == 0) return 1;
    return 0;
}

static int metric_name(struct tr_buf *b, const char *kind, const char *field) {
    int rc = tr_buf_printf(b, "tremor_");
    for (const char *k = kind; !rc && *k; k++)
        if (*k == ':') {
            if (k[1] == ':') k++;
            rc = tr_buf_putc(b, '_');
        } else {
            rc = tr_buf_putc(b, (*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') ? *k : '_');
        }
    return rc ? rc : tr_buf_printf(b, "_%s", field);
}

struct op_field {
    const char *kind, *field;
};

static int op_labels(struct tr_buf *b, const tr_value *url, const tr_value *node) {
    int rc = tr_buf_printf(b, "{pipeline=\"");
    if (!rc) rc = label_value(b, url->as.s->data, url->as.s->len);
    if (!rc) rc = tr_buf_printf(b, "\",node=\"");
    if (!rc) rc = label_value(b, node->as.s->data, node->as.s->len);
    return rc ? rc : tr_buf_printf(b, "\"");
}

static int render_op_field(const tr_value *pipes, const struct op_field *f, struct tr_buf *b) {
    int rc = 0, headed = 0;
    for (uint32_t i = 0; !rc && i < tr_arr_len(pipes); i++) {
        const tr_value *pr = tr_arr_at(pipes, i), *url = tr_rec_get_cstr(pr, "url");
        const tr_value *ops = tr_rec_get_cstr(pr, "operators");
        for (uint32_t j = 0; !rc && ops && ops->type == TR_ARR && j < tr_arr_len(ops); j++) {
            const tr_value *o = tr_arr_at(ops, j);
            const tr_value *kind = tr_rec_get_cstr(o, "kind"), *node = tr_rec_get_cstr(o, "node");
            const tr_value *sv = tr_rec_get_cstr(o, "stats");
            const tr_value *v = sv && sv->type == TR_REC ? tr_rec_get_cstr(sv, f->field) : NULL;
            if (!v || !kind || strcmp(kind->as.s->data, f->kind) != 0 || !url || !node) continue;
            int summary = v->type == TR_REC;
            if (!headed) {
                rc = tr_buf_printf(b, "# TYPE ");
                if (!rc) rc = metric_name(b, f->kind, f->field);
                if (!rc) rc = tr_buf_printf(b, "%s %s\n", summary ? "_seconds" : is_gauge(f->field) ? "" : "_total",
                                            summary ? "summary" : is_gauge(f->field) ? "gauge" : "counter");
                headed = 1;
            }
            if (!summary) {
                unsigned long long n;
                if (sample_value(v, &n)) continue;
                if (!rc) rc = metric_name(b, f->kind, f->field);
                if (!rc) rc = tr_buf_printf(b, "%s", is_gauge(f->field) ? "" : "_total");
                if (!rc) rc = op_labels(b, url, node);
                if (!rc) rc = tr_buf_printf(b, "} %llu\n", n);
                continue;
            }
            static const char *const q[][2] = {{"0.5", "p50_ns"}, {"0.9", "p90_ns"}, {"0.99", "p99_ns"},
                                               {"0.999", "p999_ns"}};
            for (size_t k = 0; !rc && k < 4; k++) {
                const tr_value *x = tr_rec_get_cstr(v, q[k][1]);
                unsigned long long n = 0;
                if (x) sample_value(x, &n);
                rc = metric_name(b, f->kind, f->field);
                if (!rc) rc = tr_buf_printf(b, "_seconds");
                if (!rc) rc = op_labels(b, url, node);
                if (!rc) rc = tr_buf_printf(b, ",quantile=\"%s\"} %.9f\n", q[k][0], (double)n / 1e9);
            }
            static const char *const tail[][2] = {{"_sum", "sum_ns"}, {"_count", "count"}};
            for (size_t k = 0; !rc && k < 2; k++) {
                const tr_value *x = tr_rec_get_cstr(v, tail[k][1]);
                unsigned long long n = 0;
                if (x) sample_value(x, &n);
                rc = metric_name(b, f->kind, f->field);
                if (!rc) rc = tr_buf_printf(b, "_seconds%s", tail[k][0]);
                if (!rc) rc = op_labels(b, url, node);
                if (!rc && k == 0) rc = tr_buf_printf(b, "} %.9f\n", (double)n / 1e9);
                else if (!rc) rc = tr_buf_printf(b, "} %llu\n", n);
            }
        }
    }
    return rc;
}

/* Node metrics (pipelines with metrics_interval_s): 0.11's `events`. */
static int render_node_events(const tr_value *st, struct tr_buf *b) {
    const tr_value *pipes = tr_rec_get_cstr(st, "pipelines");
    int rc = tr_buf_printf(b, "# HELP tremor_pipeline_node_events_total Events per pipeline node and "
                           "port (0.11's events; pipelines with metrics_interval_s only)\n"
                           "# TYPE tremor_pipeline_node_events_total counter\n");
    for (uint32_t i = 0; !rc && pipes && pipes->type == TR_ARR && i < tr_arr_len(pipes); i++) {
        const tr_value *url = tr_rec_get_cstr(tr_arr_at(pipes, i), "url");
        const tr_value *nodes = tr_rec_get_cstr(tr_arr_at(pipes, i), "nodes");
        for (uint32_t j = 0; !rc && url && nodes && nodes->type == TR_ARR && j < tr_arr_len(nodes); j++) {
            const tr_value *n = tr_arr_at(nodes, j);
            const tr_value *node = tr_rec_get_cstr(n, "node"), *dir = tr_rec_get_cstr(n, "direction");
            const tr_value *port = tr_rec_get_cstr(n, "port"), *count = tr_rec_get_cstr(n, "count");
            unsigned long long c;
            if (!node || !dir || !port || !count || sample_value(count, &c)) continue;
            rc = tr_buf_printf(b, "tremor_pipeline_node_events_total");
            if (!rc) rc = op_labels(b, url, node);
            if (!rc) rc = tr_buf_printf(b, ",direction=\"%s\",port=\"", dir->as.s->data);
            if (!rc) rc = label_value(b, port->as.s->data, port->as.s->len);
            if (!rc) rc = tr_buf_printf(b, "\"} %llu\n", c);
        }
    }
    return rc;
}

#define MAX_OP_FIELDS 128

static int render_op_metrics(const tr_value *st, struct tr_buf *b) {
    const tr_value *pipes = tr_rec_get_cstr(st, "pipelines");
    if (!pipes || pipes->type != TR_ARR) return 0;
    struct op_field f[MAX_OP_FIELDS];
    size_t nf = 0;
    for (uint32_t i = 0; i < tr_arr_len(pipes); i++) {
        const tr_value *ops = tr_rec_get_cstr(tr_arr_at(pipes, i), "operators");
        for (uint32_t j = 0; ops && ops->type == TR_ARR && j < tr_arr_len(ops); j++) {
            const tr_value *o = tr_arr_at(ops, j), *kind = tr_rec_get_cstr(o, "kind");
            const tr_value *sv = tr_rec_get_cstr(o, "stats");
            if (!kind || kind->type != TR_STR || !sv || sv->type != TR_REC) continue;
            for (uint32_t k = 0; k < tr_rec_len(sv); k++) {
                const char *field = tr_rec_at(sv, k)->key->data;
                size_t x = 0;
                while (x < nf && (strcmp(f[x].kind, kind->as.s->data) || strcmp(f[x].field, field))) x++;
                if (x == nf && nf < MAX_OP_FIELDS) f[nf++] = (struct op_field){kind->as.s->data, field};
            }
        }
    }
    int rc = 0;
    for (size_t i = 0; !rc && i < nf; i++) rc = render_op_field(pipes, &f[i], b);
    return rc;
}

static int render_metrics(const tr_value *st, struct tr_buf *b) {
    int rc = 0;
    for (size_t i = 0; !rc && i < sizeof series / sizeof series[0]; i++) {
        const struct series *s = &series[i];
        if (s->type) rc = tr_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", s->name, s->help, s->name, s->type);
        const tr_value *sec = tr_rec_get_cstr(st, s->section);
        for (uint32_t j = 0; !rc && sec && sec->type == TR_ARR && j < tr_arr_len(sec); j++) {
            const tr_value *rec = tr_arr_at(sec, j);
            const tr_value *url = tr_rec_get_cstr(rec, "url");
            const tr_value *v = tr_rec_get_cstr(rec, s->field);
            unsigned long long n;
            if (!url || url->type != TR_STR || !v || sample_value(v, &n)) continue;
            rc = tr_buf_printf(b, "%s{%s=\"", s->name, s->label);
            if (!rc) rc = label_value(b, url->as.s->data, url->as.s->len);
            if (!rc) rc = tr_buf_printf(b, "\"%s%s} %llu\n", s->extra ? "," : "", s->extra ? s->extra : "", n);
        }
    }
    if (!rc) rc = render_node_events(st, b);
    if (!rc) rc = render_op_metrics(st, b);
    const tr_value *ready = tr_rec_get_cstr(st, "ready");
    if (!rc)
        rc = tr_buf_printf(b, "# HELP tremor_ready 1 when /ready answers 200\n# TYPE tremor_ready gauge\n"
                           "tremor_ready %d\n", ready && ready->type == TR_BOOL && ready->as.b);
    const tr_value *api = tr_rec_get_cstr(st, "api");
    static const char *const api_fields[][3] = {
        {"connections", "counter", "Connections the REST API accepted"},
        {"requests", "counter", "Requests the REST API handled"},
        {"rejected", "counter", "Requests the REST API's HTTP layer refused with 4xx"},
    };
    for (size_t i = 0; !rc && api && i < sizeof api_fields / sizeof api_fields[0]; i++) {
        const tr_value *v = tr_rec_get_cstr(api, api_fields[i][0]);
        unsigned long long n = 0;
        if (v) sample_value(v, &n);
        rc = tr_buf_printf(b, "# HELP tremor_api_%s_total %s\n# TYPE tremor_api_%s_total %s\n"
                           "tremor_api_%s_total %llu\n", api_fields[i][0], api_fields[i][2],
                           api_fields[i][0], api_fields[i][1], api_fields[i][0], n);
    }
    return rc;
}

static void get_metrics(void *arg, struct tr_http_req *req, const struct tr_route_params *pp) {
    (void)pp;
    tr_value st;
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = snapshot(arg, &st);
    if (!rc) {
        rc = render_metrics(&st, &b);
        tr_value_unref(st);
    }
    if (rc) tr_api_error(req, 500, "out of memory");
    else tr_http_respond(req, 200, "text/plain; version=0.0.4", b.data, b.len, NULL);
    tr_buf_fini(&b);
}

int tr_api_status_routes(struct tr_router *r, struct tr_world *w, struct tr_api *a) {
    struct status_arg *sa = tr_router_arg(r, sizeof *sa);
    if (!sa) return -ENOMEM;
    sa->w = w;
    sa->a = a;
    int rc = tr_router_add(r, "GET", "/ready", get_ready, sa);
    if (!rc) rc = tr_router_add(r, "GET", "/status", get_status, sa);
    if (!rc) rc = tr_router_add(r, "GET", "/metrics", get_metrics, sa);
    return rc;
}
