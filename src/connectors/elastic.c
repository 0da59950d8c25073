/* elastic.c - the `elastic` offramp: each event (a generic::batch event is
 * several documents) becomes one Elasticsearch _bulk request (wire format in
 * connectors/es_bulk.h), sent with libcurl on our loop (connectors/
 * curl_loop.h) to the configured `nodes` in turn (round robin per attempt),
 * at most `concurrency` requests in flight (Tremor 0.11 keys).
 *
 * Answers, unlike 0.11, follow the bulk response item by item: an event is
 * acked only when every one of its items succeeded; one failed item fails
 * the event (the source keeps it: a qos::wal replays it, successful items
 * included, so delivery is at least once). With `linked: true` each item is
 * also an event, out of `out` when it succeeded and `err` when it failed,
 * in 0.11's shapes ({source, payload, success[, error]} with $elastic
 * {_id, _index, _type, ...} and $correlation), before the event's answer.
 *
 * A request that fails as a whole (no connection, a timeout, a 429 or 5xx,
 * a body that is not a _bulk response) is retried (max_retries, backoff
 * from backoff_ms doubling up to max_backoff_ms with jitter, holding its
 * slot), and then fails every document of its event (one error event on
 * `err`). breaker_threshold such failures in a row trigger the circuit
 * breaker upstream; breaker_ms later it is restored as a probe. A full
 * window (concurrency requests in flight) also triggers it until a slot
 * frees; what the pipeline sent before the trigger reached it waits in a
 * queue of max_queued requests (beyond 0.11, which fails each such event
 * at once: a qos::wal upstream emits read_count events per turn, and
 * failing most of them would only make it send them again), past that
 * they fail as in 0.11. Nothing is contacted at start: the offramp starts
 * while Elasticsearch is down and its requests reconnect by themselves.
 *
 * Invariant: every message sent is answered exactly once, also when the
 * offramp closes (then: fail); a request is on exactly one of: the curl
 * loop, the retry list (those two hold a slot: in_flight), the queue.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "config/cmap.h"
#include "connectors/backoff.h"
#include "connectors/conn.h"
#include "connectors/curl_loop.h"
#include "connectors/es_bulk.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/event.h"
#include "core/log.h"

#define MOD "elastic"
#define MAX_NODES 64

struct es_cfg {
    const tr_value *nodes;
    uint64_t concurrency, timeout_ms, max_retries, backoff_ms, max_backoff_ms;
    uint64_t breaker_threshold, breaker_ms, max_response, max_queued;
    bool tls_verify;
    const char *ca_file;
};

const struct tr_cmap_entry tr_elastic_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR_LIST, "nodes", NULL, TR_CMAP_REQUIRED | TR_CMAP_RANGE,
     offsetof(struct es_cfg, nodes), "Elasticsearch node URLs (http:// or https://), used in turn"),
     .lo = 1, .hi = MAX_NODES},
    {TR_CMAP_KEY(TR_CMAP_U64, "concurrency", "4", TR_CMAP_RANGE, offsetof(struct es_cfg, concurrency),
     "bulk requests in flight; at the limit the breaker holds the pipeline back"), .lo = 1, .hi = 4096},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_queued", "1024", TR_CMAP_RANGE, offsetof(struct es_cfg, max_queued),
     "requests waiting for a slot (sent before the breaker held the pipeline back); more fail "
     "at once, 0: none wait (0.11)"), .lo = 0, .hi = 1048576},
    {TR_CMAP_KEY(TR_CMAP_U64, "timeout_ms", "30000", TR_CMAP_RANGE, offsetof(struct es_cfg, timeout_ms),
     "ms one attempt may take, connecting included"), .lo = 1, .hi = 86400000},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_retries", "3", TR_CMAP_RANGE, offsetof(struct es_cfg, max_retries),
     "retries of a request that failed as a whole (no connection, 429, 5xx, bad body)"),
     .lo = 0, .hi = 1000},
    {TR_CMAP_KEY(TR_CMAP_U64, "backoff_ms", "100", TR_CMAP_RANGE, offsetof(struct es_cfg, backoff_ms),
     "wait before the first retry; doubles for each next one, with jitter"), .lo = 1, .hi = 3600000},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_backoff_ms", "5000", TR_CMAP_RANGE,
     offsetof(struct es_cfg, max_backoff_ms), "longest wait between retries"), .lo = 1, .hi = 3600000},
    {TR_CMAP_KEY(TR_CMAP_U64, "breaker_threshold", "5", TR_CMAP_RANGE,
     offsetof(struct es_cfg, breaker_threshold),
     "failed attempts in a row that trigger the circuit breaker, 0: never"), .lo = 0, .hi = 1000000},
    {TR_CMAP_KEY(TR_CMAP_U64, "breaker_ms", "1000", TR_CMAP_RANGE, offsetof(struct es_cfg, breaker_ms),
     "ms the breaker stays triggered before a probe"), .lo = 1, .hi = 3600000},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_response_bytes", "67108864", TR_CMAP_RANGE,
     offsetof(struct es_cfg, max_response), "largest _bulk response body; a larger one fails the request"),
     .lo = 1024, .hi = (double)(1u << 30)},
    {TR_CMAP_KEY(TR_CMAP_BOOL, "tls_verify", "true", 0, offsetof(struct es_cfg, tls_verify),
     "check the server's certificate and name (https)")},
    {TR_CMAP_KEY(TR_CMAP_STR, "ca_file", NULL, 0, offsetof(struct es_cfg, ca_file),
     "PEM file of the CAs to trust (https), instead of the system's")},
    {0},
};

struct out;

struct req {
    struct out *o;
    CURL *easy;
    uint64_t token;
    bool answer;                 /* transactional or linked: must be acked/failed */
    char event_id[80];           /* 0.11's "source:stream:event" */
    tr_value value, meta;        /* the event, kept for linked responses (else TR_NULL) */
    bool batched;
    uint32_t ndocs;
    struct tr_buf body;          /* NDJSON */
    struct tr_buf resp;
    bool too_big;
    uint32_t attempts;
    bool slot;                   /* counted in in_flight */
    struct tr_backoff bo;
    uint64_t due;                /* retry: uv_now at which to go again */
    struct req *prev, *next;     /* in o->reqs or o->retry; next also in o->queue */
};

struct out {
    struct tr_offramp_host *host;
    uv_loop_t *loop;
    char *id;
    struct tr_curl_loop *cl;
    char **urls;                 /* "<node>/_bulk" */
    size_t nurls, next_url;
    struct curl_slist *hdrs;
    bool linked;
    uint64_t concurrency, in_flight;
    uint64_t max_queued, nqueued;
    struct req *queue, *queue_tail;  /* FIFO, waiting for a slot */
    bool pumping;
    uint64_t timeout_ms, max_retries, backoff_ms, max_backoff_ms, breaker_threshold, breaker_ms;
    uint64_t max_response;
    bool tls_verify;
    char *ca_file;
    uv_timer_t retry_timer, breaker_timer;
    struct req *reqs, *retry;
    uint64_t failed_in_row, seed;
    bool tripped, active, closing;
    int handles;                 /* two timers and the curl loop until closed */
    uint64_t errors, item_errors;
    struct tr_log_limit lim_err, lim_item;
    void (*done)(void *);
    void *done_arg;
};

static void list_add(struct req **head, struct req *r) {
    r->prev = NULL;
    r->next = *head;
    if (*head) (*head)->prev = r;
    *head = r;
}

static void list_del(struct req **head, struct req *r) {
    if (r->prev) r->prev->next = r->next;
    else *head = r->next;
    if (r->next) r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

/* The breaker upstream: closed while tripped or the window is full. */
static void gate(struct out *o) {
    if (o->closing) return;
    bool active = !o->tripped && o->in_flight < o->concurrency;
    if (active == o->active) return;
    o->active = active;
    if (active) tr_offramp_restore(o->host);
    else tr_offramp_trigger(o->host);
}

/* ------------------------------------------------------------ responses */

static int set_str(tr_value *rec, const char *key, const char *s) {
    tr_value x;
    int rc = tr_v_cstr(s, &x);
    if (!rc) rc = tr_rec_set(rec, key, strlen(key), x);
    return rc;
}

static int set_val(tr_value *rec, const char *key, const tr_value *v) {
    return tr_rec_set(rec, key, strlen(key), v ? tr_value_ref(*v) : tr_v_null());
}

/* {"event_id": "s:t:e", "origin": null} (0.11's build_source; events here
 * carry no origin URI). */
static int add_source(tr_value *rec, const char *event_id) {
    tr_value src;
    int rc = tr_v_rec(2, &src);
    if (rc) return rc;
    rc = set_str(&src, "event_id", event_id);
    if (!rc) rc = tr_rec_set(&src, "origin", 6, tr_v_null());
    if (!rc) return tr_rec_set(rec, "source", 6, src);
    tr_value_unref(src);
    return rc;
}

static const tr_value *correlation_of(const tr_value *meta) {
    return meta && meta->type == TR_REC ? tr_rec_get_cstr(meta, "correlation") : NULL;
}

/* $correlation of a whole event: the document's for one, the list of
 * every document's (null where absent) for a batch (0.11). */
static int event_correlation(const tr_value *value, const tr_value *meta, bool batched, uint32_t n,
                             tr_value *out) {
    *out = tr_v_null();
    if (!batched) {
        const tr_value *c = correlation_of(meta);
        if (c) *out = tr_value_ref(*c);
        return 0;
    }
    int rc = tr_v_arr(n, out);
    for (uint32_t i = 0; !rc && i < n; i++) {
        const tr_value *v, *m;
        tr_es_doc(value, meta, batched, i, &v, &m);
        const tr_value *c = correlation_of(m);
        rc = tr_arr_push(out, c ? tr_value_ref(*c) : tr_v_null());
    }
    return rc;
}

static void emit(struct out *o, uint64_t token, bool err, tr_value v, tr_value m, int rc) {
    if (rc) {
        tr_value_unref(v);
        tr_value_unref(m);
        return;
    }
    tr_offramp_emit(o->host, token, err, v, m);
}

/* An event that never became a request, or a request that failed as a
 * whole: one event on `err`. payload: the event's value, or none. */
static void emit_event_error(struct out *o, uint64_t token, const char *event_id, const tr_value *value,
                             const tr_value *meta, bool batched, uint32_t n, const char *msg,
                             bool meta_error) {
    if (!o->linked || !value) return;
    tr_value v, m, corr;
    if (tr_v_rec(4, &v)) return;
    if (tr_v_rec(2, &m)) {
        tr_value_unref(v);
        return;
    }
    int rc = add_source(&v, event_id);
    if (!rc) rc = tr_rec_set(&v, "success", 7, tr_v_bool(0));
    if (!rc) rc = set_str(&v, "error", msg);
    if (!rc && meta_error) rc = set_val(&v, "payload", value);
    if (!rc && meta_error) rc = set_str(&m, "error", msg);
    if (!rc && !(rc = event_correlation(value, meta, batched, n, &corr))) {
        if (corr.type != TR_NULL) rc = tr_rec_set(&m, "correlation", 11, corr);
    }
    emit(o, token, true, v, m, rc);
}

/* One bulk item as an event: `out` for a success, `err` for a failure
 * (0.11's build_bulk_success_data / build_bulk_error_data). */
static void emit_item(struct out *o, struct req *r, uint32_t i, const tr_value *item, bool failed) {
    const tr_value *dv, *dm;
    tr_es_doc(&r->value, &r->meta, r->batched, i, &dv, &dm);
    tr_value v, m, es;
    if (tr_v_rec(4, &v)) return;
    if (tr_v_rec(2, &m)) {
        tr_value_unref(v);
        return;
    }
    int rc = tr_v_rec(7, &es);
    if (!rc) {
        const tr_value *id = tr_rec_get_cstr(item, "_id"), *ix = tr_rec_get_cstr(item, "_index"),
                       *ty = tr_rec_get_cstr(item, "_type");
        rc = set_val(&es, "_id", id);
        if (!rc) rc = set_val(&es, "_index", ix);
        if (!rc) rc = set_val(&es, "_type", ty);
        if (!rc) rc = set_val(&es, "id", id);
        if (!rc) rc = set_val(&es, "index", ix);
        if (!rc) rc = set_val(&es, "doc_type", ty);
        if (!rc && !failed) rc = set_val(&es, "version", tr_rec_get_cstr(item, "_version"));
        if (!rc) rc = tr_rec_set(&m, "elastic", 7, es);
        else tr_value_unref(es);
    }
    const tr_value *c = correlation_of(dm);
    if (!rc && c) rc = set_val(&m, "correlation", c);
    if (!rc) rc = add_source(&v, r->event_id);
    if (!rc) rc = set_val(&v, "payload", dv);
    if (!rc && failed) {
        /* ES's error object; an item failed by its status alone (a delete
         * of a missing document) has none: the item itself says why */
        const tr_value *e = tr_rec_get_cstr(item, "error");
        rc = set_val(&v, "error", e && e->type != TR_NULL ? e : item);
    }
    if (!rc) rc = tr_rec_set(&v, "success", 7, tr_v_bool(!failed));
    emit(o, r->token, failed, v, m, rc);
}

/* ------------------------------------------------------------ requests */

static void req_free(struct req *r) {
    if (r->easy) curl_easy_cleanup(r->easy);
    tr_buf_fini(&r->body);
    tr_buf_fini(&r->resp);
    tr_value_unref(r->value);
    tr_value_unref(r->meta);
    tr_free(r);
}

static void pump(struct out *o);

static void finish(struct req *r, bool ok) {
    struct out *o = r->o;
    if (r->slot) o->in_flight--;
    if (r->answer) {
        if (ok) tr_offramp_ack(o->host, r->token);
        else tr_offramp_fail(o->host, r->token);
    }
    req_free(r);
    pump(o);
    gate(o);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
    struct req *r = arg;
    size_t len = size * n;
    if (len > r->o->max_response - r->resp.len) {
        r->too_big = true;
        return 0;   /* curl ends the transfer with CURLE_WRITE_ERROR */
    }
    return tr_buf_append(&r->resp, p, len) == 0 ? len : 0;
}

static int start_attempt(struct req *r) {
    struct out *o = r->o;
    r->attempts++;
    tr_buf_reset(&r->resp);
    r->too_big = false;
    curl_easy_setopt(r->easy, CURLOPT_URL, o->urls[o->next_url]);
    o->next_url = (o->next_url + 1) % o->nurls;
    if (tr_curl_loop_add(o->cl, r->easy)) return -EIO;
    list_add(&o->reqs, r);
    return 0;
}

static void on_breaker(uv_timer_t *t) {
    struct out *o = t->data;
    if (!o->tripped || o->closing) return;
    /* half open: the next failure triggers again at once */
    o->tripped = false;
    TR_INFO(MOD, "%s: circuit breaker restored (probing)", o->id);
    gate(o);
}

static void arm_retry(struct out *o);

/* The request failed as a whole, for good: every document of it. */
static void request_failed(struct req *r, const char *msg) {
    struct out *o = r->o;
    o->errors++;
    tr_log_limited(&o->lim_err, TR_LOG_WARN, MOD, "%s: bulk request of %u documents failed after %u "
                   "attempts: %s (%llu so far)", o->id, r->ndocs, r->attempts, msg,
                   (unsigned long long)o->errors);
    emit_event_error(o, r->token, r->event_id, &r->value, &r->meta, r->batched, r->ndocs, msg, false);
    finish(r, false);
}

static void on_retry(uv_timer_t *t) {
    struct out *o = t->data;
    uint64_t now = uv_now(o->loop);
    struct req *r = o->retry;
    while (r) {
        struct req *next = r->next;
        if (r->due <= now) {
            list_del(&o->retry, r);
            if (start_attempt(r)) request_failed(r, "cannot start the request");
        }
        r = next;
    }
    arm_retry(o);
}

/* Start queued requests while there are free slots. Not re-entered: a
 * request that cannot start is failed, and its finish() calls back here. */
static void pump(struct out *o) {
    if (o->pumping || o->closing) return;
    o->pumping = true;
    while (o->queue && o->in_flight < o->concurrency) {
        struct req *r = o->queue;
        o->queue = r->next;
        if (!o->queue) o->queue_tail = NULL;
        r->next = NULL;
        o->nqueued--;
        r->slot = true;
        o->in_flight++;
        if (start_attempt(r)) request_failed(r, "cannot start the request");
    }
    o->pumping = false;
}

static void arm_retry(struct out *o) {
    if (!o->retry) {
        uv_timer_stop(&o->retry_timer);
        return;
    }
    uint64_t first = UINT64_MAX, now = uv_now(o->loop);
    for (struct req *r = o->retry; r; r = r->next)
        if (r->due < first) first = r->due;
    uv_timer_start(&o->retry_timer, on_retry, first > now ? first - now : 0, 0);
}

/* A failed attempt that may succeed later: count it for the breaker, then
 * retry it after a backoff or give up. */
static void attempt_failed(struct req *r, const char *msg) {
    struct out *o = r->o;
    o->failed_in_row++;
    if (o->breaker_threshold && !o->tripped && o->failed_in_row >= o->breaker_threshold) {
        o->tripped = true;
        TR_WARN(MOD, "%s: %llu failed bulk requests in a row (%s): circuit breaker triggered for %llu ms",
                o->id, (unsigned long long)o->failed_in_row, msg, (unsigned long long)o->breaker_ms);
        gate(o);
    }
    if (o->tripped && !o->closing) uv_timer_start(&o->breaker_timer, on_breaker, o->breaker_ms, 0);
    if (r->attempts <= o->max_retries && !o->closing) {
        r->due = uv_now(o->loop) + tr_backoff_next(&r->bo);
        list_add(&o->retry, r);
        arm_retry(o);
        return;
    }
    request_failed(r, msg);
}

/* One attempt ended: judge the response item by item, or retry. */
static void attempt_done(struct req *r, CURLcode res) {
    struct out *o = r->o;
    char msg[CURL_ERROR_SIZE + 256];
    long status = 0;
    if (res != CURLE_OK) {
        snprintf(msg, sizeof msg, "%s%s", curl_easy_strerror(res),
                 r->too_big ? " (response over max_response_bytes)" : "");
        attempt_failed(r, msg);
        return;
    }
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status == 429 || status >= 500) {
        snprintf(msg, sizeof msg, "HTTP status %ld", status);
        attempt_failed(r, msg);
        return;
    }
    if (status < 200 || status > 299) {
        /* the request itself is wrong (a 400 for a malformed body, a 401):
         * sending it again cannot help */
        o->failed_in_row = 0;
        int shown = r->resp.len > 200 ? 200 : (int)r->resp.len;
        snprintf(msg, sizeof msg, "HTTP status %ld: %.*s", status, shown, r->resp.data ? r->resp.data : "");
        request_failed(r, msg);
        return;
    }
    tr_value doc;
    int failed = tr_es_bulk_parse(r->resp.data ? r->resp.data : "", r->resp.len, r->ndocs, &doc, msg,
                                  sizeof msg);
    if (failed < 0) {
        attempt_failed(r, msg);
        return;
    }
    o->failed_in_row = 0;
    for (uint32_t i = 0; i < r->ndocs; i++) {
        const tr_value *item = tr_es_item(&doc, i, NULL);
        bool bad = tr_es_item_failed(item);
        if (bad) {
            o->item_errors++;
            const tr_value *e = tr_rec_get_cstr(item, "error");
            const tr_value *why = e && e->type == TR_REC ? tr_rec_get_cstr(e, "reason") : NULL;
            const tr_value *st = tr_rec_get_cstr(item, "status");
            tr_log_limited(&o->lim_item, TR_LOG_WARN, MOD, "%s: document %u of event %s failed: status "
                           "%lld: %.200s (%llu failed documents so far)", o->id, i, r->event_id,
                           st && st->type == TR_I64 ? (long long)st->as.i : 0LL,
                           why && why->type == TR_STR ? why->as.s->data : "no reason given",
                           (unsigned long long)o->item_errors);
        }
        if (o->linked) emit_item(o, r, i, item, bad);
    }
    tr_value_unref(doc);
    finish(r, failed == 0);
}

/* A transfer ended (from the loop, connectors/curl_loop.h). */
static void on_done(void *arg, CURL *easy, CURLcode res) {
    struct out *o = arg;
    struct req *r = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
    list_del(&o->reqs, r);
    attempt_done(r, res);
}

/* ------------------------------------------------------------ sending */

static void es_send(void *self, const struct tr_out_msg *m) {
    struct out *o = self;
    bool answer = m->transactional || o->linked;
    char event_id[80] = "";
    if (m->ids)
        snprintf(event_id, sizeof event_id, "%" PRIu64 ":%" PRIu64 ":%" PRIu64, m->ids->id.source,
                 m->ids->id.stream, m->ids->id.event);
    if (o->closing || !m->value) {
        /* no value: a part of a payload split by a postprocessor, which
         * this sink cannot make documents of */
        if (answer) tr_offramp_fail(o->host, m->token);
        return;
    }
    bool batched;
    uint32_t ndocs = tr_es_docs(m->value, &batched);
    char err[512];
    if (o->in_flight >= o->concurrency && o->nqueued >= o->max_queued) {
        /* 0.11: dropped for overload, failed, an error event on err */
        o->errors++;
        tr_log_limited(&o->lim_err, TR_LOG_WARN, MOD, "%s: %llu bulk requests in flight (concurrency) and "
                       "%llu queued: dropped data due to es overload (%llu so far)", o->id,
                       (unsigned long long)o->in_flight, (unsigned long long)o->nqueued,
                       (unsigned long long)o->errors);
        if (answer) {
            emit_event_error(o, m->token, event_id, m->value, m->meta, batched, ndocs,
                             "Dropped data due to es overload", true);
            tr_offramp_fail(o->host, m->token);
        }
        return;
    }
    struct req *r = tr_calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    r->o = o;
    r->token = m->token;
    r->answer = answer;
    r->batched = batched;
    r->ndocs = ndocs;
    r->value = r->meta = tr_v_null();
    memcpy(r->event_id, event_id, sizeof event_id);
    tr_buf_init(&r->body);
    tr_buf_init(&r->resp);
    o->seed = o->seed * 6364136223846793005ull + 1442695040888963407ull;
    tr_backoff_init(&r->bo, o->backoff_ms, o->max_backoff_ms < o->backoff_ms ? o->backoff_ms
                                                                             : o->max_backoff_ms);
    r->bo.seed = o->seed | 1;
    for (uint32_t i = 0; i < ndocs; i++) {
        const tr_value *dv, *dm;
        tr_es_doc(m->value, m->meta, batched, i, &dv, &dm);
        char why[400];
        int rc = tr_es_bulk_append(dv, dm, &r->body, why, sizeof why);
        if (rc) {
            snprintf(err, sizeof err, "Invalid ES Payload: %s", why);
            goto fail;
        }
    }
    if (o->linked) {
        r->value = tr_value_ref(*m->value);
        r->meta = m->meta ? tr_value_ref(*m->meta) : tr_v_null();
    }
    CURL *e = r->easy = curl_easy_init();
    if (!e) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, o->hdrs);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body.data);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body.len);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, o->tls_verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, o->tls_verify ? 2L : 0L);
    if (o->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file);
    if (o->in_flight >= o->concurrency || o->queue) {
        if (o->queue_tail) o->queue_tail->next = r;
        else o->queue = r;
        o->queue_tail = r;
        o->nqueued++;
        gate(o);
        return;
    }
    if (start_attempt(r)) {
        snprintf(err, sizeof err, "cannot start the request");
        goto fail;
    }
    r->slot = true;
    o->in_flight++;
    gate(o);
    return;
fail:
    o->errors++;
    tr_log_limited(&o->lim_err, TR_LOG_WARN, MOD, "%s: event %s not sent: %s (%llu so far)", o->id,
                   event_id, err, (unsigned long long)o->errors);
    if (answer) {
        emit_event_error(o, m->token, event_id, m->value, m->meta, batched, ndocs, err, true);
        tr_offramp_fail(o->host, m->token);
    }
    if (r) req_free(r);
}

/* ------------------------------------------------------------ life */

static void out_free(struct out *o) {
    for (size_t i = 0; i < o->nurls; i++) tr_free(o->urls[i]);
    tr_free(o->urls);
    curl_slist_free_all(o->hdrs);
    tr_free(o->ca_file);
    o->urls = NULL;
    o->nurls = 0;
    o->hdrs = NULL;
    o->ca_file = NULL;
}

static void handle_gone(struct out *o) {
    if (--o->handles == 0 && o->closing) {
        void (*done)(void *) = o->done;
        void *arg = o->done_arg;
        tr_free(o->id);
        tr_free(o);
        if (done) done(arg);
    }
}

static void on_timer_closed(uv_handle_t *h) { handle_gone(h->data); }
static void on_cl_closed(void *arg) { handle_gone(arg); }

/* "<node>/_bulk" for a node URL; NULL with *why set when it is no
 * http(s) URL. */
static char *bulk_url(const char *node, const char **why) {
    CURLU *u = curl_url();
    char *scheme = NULL, *path = NULL, *full = NULL, *out = NULL;
    *why = "must be an http:// or https:// URL";
    if (!u || curl_url_set(u, CURLUPART_URL, node, 0) != CURLUE_OK) goto done;
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    if (!scheme || (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) goto done;
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    size_t pl = path ? strlen(path) : 0;
    while (pl && path[pl - 1] == '/') pl--;
    char *np = tr_malloc(pl + 8);
    if (!np) {
        *why = "out of memory";
        goto done;
    }
    snprintf(np, pl + 8, "%.*s/_bulk", (int)pl, path ? path : "");
    CURLUcode uc = curl_url_set(u, CURLUPART_PATH, np, 0);
    tr_free(np);
    if (uc != CURLUE_OK || curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK) goto done;
    out = tr_strdup(full);
    if (!out) *why = "out of memory";
done:
    curl_free(scheme);
    curl_free(path);
    curl_free(full);
    curl_url_cleanup(u);
    return out;
}

static int es_create(const struct tr_conn_spec *spec, struct tr_offramp_host *host, void **self,
                     struct tr_diag *d) {
    *self = NULL;
    struct es_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_elastic_cmap, &c, d);
    if (rc) return rc;
    if (tr_curl_global_init())
        return tr_conn_cfg_fail(spec, "nodes", d, "cannot be used: libcurl did not initialise");
    struct out *o = tr_calloc(1, sizeof *o);
    if (!o) return -ENOMEM;
    o->host = host;
    o->loop = tr_offramp_loop(host);
    o->id = tr_strdup(spec->id ? spec->id : "elastic");
    o->linked = spec->linked;
    o->concurrency = c.concurrency;
    o->max_queued = c.max_queued;
    o->timeout_ms = c.timeout_ms;
    o->max_retries = c.max_retries;
    o->backoff_ms = c.backoff_ms;
    o->max_backoff_ms = c.max_backoff_ms;
    o->breaker_threshold = c.breaker_threshold;
    o->breaker_ms = c.breaker_ms;
    o->max_response = c.max_response;
    o->tls_verify = c.tls_verify;
    o->active = true;
    o->seed = (uint64_t)uv_hrtime() ^ (uint64_t)(uintptr_t)o;
    o->ca_file = c.ca_file ? tr_strdup(c.ca_file) : NULL;
    uint32_t n = tr_arr_len(c.nodes);
    o->urls = tr_calloc(n, sizeof *o->urls);
    struct curl_slist *h1 = curl_slist_append(NULL, "Content-Type: application/x-ndjson");
    struct curl_slist *h2 = h1 ? curl_slist_append(h1, "Expect:") : NULL;   /* no 100-continue wait */
    o->hdrs = h2 ? h2 : h1;
    if (!o->id || !o->urls || !h2 || (c.ca_file && !o->ca_file)) {
        rc = -ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < n; i++) {
        const char *why;
        const tr_value *node = tr_arr_at(c.nodes, i);
        o->urls[i] = bulk_url(node->as.s->data, &why);
        if (!o->urls[i]) {
            rc = tr_conn_cfg_fail(spec, "nodes", d, "'%.128s' %s", node->as.s->data, why);
            goto fail;
        }
        o->nurls++;
    }
    rc = tr_curl_loop_create(o->loop, (long)o->concurrency, on_done, o, &o->cl);
    if (rc) goto fail;
    uv_timer_init(o->loop, &o->retry_timer);
    uv_timer_init(o->loop, &o->breaker_timer);
    o->retry_timer.data = o->breaker_timer.data = o;
    o->handles = 3;
    *self = o;
    return 0;
fail:
    out_free(o);
    tr_free(o->id);
    tr_free(o);
    return rc;
}

static int es_start(void *self) {
    struct out *o = self;
    TR_INFO(MOD, "%s: sending bulk requests to %s%s%s", o->id, o->urls[0], o->nurls > 1 ? " and others" : "",
            o->linked ? " (linked)" : "");
    return 0;
}

static bool es_is_active(void *self) { return ((struct out *)self)->active; }

static void es_close(void *self, void (*done)(void *), void *arg) {
    struct out *o = self;
    o->closing = true;
    o->done = done;
    o->done_arg = arg;
    /* every request still open is failed: the source keeps it */
    while (o->reqs) {
        struct req *r = o->reqs;
        list_del(&o->reqs, r);
        tr_curl_loop_remove(o->cl, r->easy);
        finish(r, false);
    }
    while (o->retry) {
        struct req *r = o->retry;
        list_del(&o->retry, r);
        finish(r, false);
    }
    while (o->queue) {
        struct req *r = o->queue;
        o->queue = r->next;
        r->next = NULL;
        finish(r, false);
    }
    o->queue_tail = NULL;
    o->nqueued = 0;
    out_free(o);
    tr_curl_loop_close(o->cl, on_cl_closed, o);
    uv_close((uv_handle_t *)&o->retry_timer, on_timer_closed);
    uv_close((uv_handle_t *)&o->breaker_timer, on_timer_closed);
}

const struct tr_offramp_ops tr_elastic_offramp = {
    .type = "elastic",
    .linked = true,
    .create = es_create,
    .start = es_start,
    .send = es_send,
    .is_active = es_is_active,
    .close = es_close,
};
