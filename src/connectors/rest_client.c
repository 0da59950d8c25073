/* rest_client.c - the `rest` offramp: each event is one HTTP request
 * (Tremor 0.11 keys: endpoint, method, headers, concurrency; per event
 * $endpoint, $request.method, $request.headers), sent with libcurl's multi
 * interface on our loop (connectors/curl_loop.h). Connections are kept
 * alive and reused by curl;
 * https goes through curl's TLS (OpenSSL).
 *
 * Answers, as 0.11: a response below 400 acks the event, a 4xx/5xx fails
 * it, a transport error fails it; more than `concurrency` requests in flight
 * fail the new one at once (0.11's 429). With `linked: true` every response
 * is an event out of the port `out` (value: the body decoded by the codec of
 * its Content-Type, else the entry's; meta $response {status, headers,
 * request} and $correlation), and a request that could not be made an error
 * event out of `err` ({error} with $response {status 503 or 429} and
 * $error), both before the event's ack or fail.
 *
 * Beyond 0.11: a transport error or a 5xx is retried (max_retries, backoff
 * doubling from backoff_ms up to max_backoff_ms, the request holding its
 * concurrency slot); `breaker_threshold` failed attempts in a row trigger
 * the circuit breaker upstream, and after `breaker_ms` it is restored (a
 * probe: the next failure triggers it again at once, a success resets the
 * count). Responses are bounded by max_response_bytes.
 *
 * Invariant: every message sent is answered exactly once (ack or fail),
 * also when the offramp closes (then: fail); each request struct is on
 * exactly one of: curl's multi, the retry list.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "codec/codec.h"
#include "config/cmap.h"
#include "connectors/conn.h"
#include "connectors/curl_loop.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/event.h"
#include "core/log.h"

#define MOD "rest"

struct rc_cfg {
    const tr_value *endpoint;
    const char *method;
    const tr_value *headers;
    uint64_t concurrency, timeout_ms, max_retries, backoff_ms, max_backoff_ms;
    uint64_t breaker_threshold, breaker_ms, max_response;
    bool tls_verify;
    const char *ca_file;
};

const struct tr_cmap_entry tr_rest_client_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_VALUE, "endpoint", NULL, TR_CMAP_REQUIRED, offsetof(struct rc_cfg, endpoint),
     "URL string, or {scheme, username, password, host, port, path, query, fragment}")},
    {TR_CMAP_KEY(TR_CMAP_STR, "method", "POST", 0, offsetof(struct rc_cfg, method),
     "HTTP method unless $request.method says otherwise")},
    {TR_CMAP_KEY(TR_CMAP_VALUE, "headers", NULL, 0, offsetof(struct rc_cfg, headers),
     "map of header name to value (a string or a list of strings)")},
    {TR_CMAP_KEY(TR_CMAP_U64, "concurrency", "4", TR_CMAP_RANGE, offsetof(struct rc_cfg, concurrency),
     "requests in flight; more fail at once (429 on err)"), .lo = 1, .hi = 65536},
    {TR_CMAP_KEY(TR_CMAP_U64, "timeout_ms", "30000", TR_CMAP_RANGE, offsetof(struct rc_cfg, timeout_ms),
     "ms one attempt may take, connecting included"), .lo = 1, .hi = 86400000},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_retries", "3", TR_CMAP_RANGE, offsetof(struct rc_cfg, max_retries),
     "retries after a transport error or a 5xx, 0: none (0.11)"), .lo = 0, .hi = 1000},
    {TR_CMAP_KEY(TR_CMAP_U64, "backoff_ms", "100", TR_CMAP_RANGE, offsetof(struct rc_cfg, backoff_ms),
     "wait before the first retry; doubles for each next one"), .lo = 1, .hi = 3600000},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_backoff_ms", "5000", TR_CMAP_RANGE,
     offsetof(struct rc_cfg, max_backoff_ms), "longest wait between retries"), .lo = 1, .hi = 3600000},
    {TR_CMAP_KEY(TR_CMAP_U64, "breaker_threshold", "5", TR_CMAP_RANGE,
     offsetof(struct rc_cfg, breaker_threshold),
     "failed attempts in a row that trigger the circuit breaker, 0: never"), .lo = 0, .hi = 1000000},
    {TR_CMAP_KEY(TR_CMAP_U64, "breaker_ms", "1000", TR_CMAP_RANGE, offsetof(struct rc_cfg, breaker_ms),
     "ms the breaker stays triggered before a probe"), .lo = 1, .hi = 3600000},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_response_bytes", "16777216", TR_CMAP_RANGE,
     offsetof(struct rc_cfg, max_response), "largest response body; a larger one is an error"),
     .lo = 0, .hi = (double)(1u << 30)},
    {TR_CMAP_KEY(TR_CMAP_BOOL, "tls_verify", "true", 0, offsetof(struct rc_cfg, tls_verify),
     "check the server's certificate and name (https)")},
    {TR_CMAP_KEY(TR_CMAP_STR, "ca_file", NULL, 0, offsetof(struct rc_cfg, ca_file),
     "PEM file of the CAs to trust (https), instead of the system's")},
    {0},
};

struct req {
    struct out *o;
    CURL *easy;
    uint64_t token;
    char *url;
    char method[16];
    struct tr_buf body;          /* the encoded event */
    struct curl_slist *hdrs;
    tr_value sent_headers;       /* $response.request.headers */
    tr_value correlation;        /* the event's $correlation, TR_NULL when none */
    struct tr_buf resp;          /* response body */
    tr_value resp_headers;       /* {name: [values]} of the last response */
    bool too_big;
    uint32_t attempts;
    uint64_t due;                /* retry: uv_now at which to go again */
    struct req *prev, *next;     /* in o->reqs (in curl) or o->retry */
};

struct out {
    struct tr_offramp_host *host;
    uv_loop_t *loop;
    char *id;
    struct tr_curl_loop *cl;
    CURLU *base;                 /* the configured endpoint */
    char *method;
    struct curl_slist *cfg_hdrs; /* "name: value" lines of config.headers */
    const char *ctype;           /* the codec's MIME type, for bodies without content-type */
    const struct tr_codec *codec;
    bool linked;
    uint64_t concurrency, in_flight;
    uint64_t timeout_ms, max_retries, backoff_ms, max_backoff_ms, breaker_threshold, breaker_ms;
    uint64_t max_response;
    bool tls_verify;
    char *ca_file;
    uv_timer_t retry_timer, breaker_timer;
    struct req *reqs, *retry;
    uint64_t failed_in_row;
    bool tripped, closing;
    int handles;                 /* open uv handles, and the curl loop until closed */
    uint64_t errors;
    struct tr_log_limit lim_err;
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

/* ------------------------------------------------------------ life of handles */

static void handle_gone(struct out *o) {
    o->handles--;
    if (o->closing && o->handles == 0) {
        void (*done)(void *) = o->done;
        void *arg = o->done_arg;
        tr_free(o->id);
        tr_free(o);
        if (done) done(arg);
    }
}

static void on_timer_closed(uv_handle_t *h) { handle_gone(h->data); }

static void on_cl_closed(void *arg) { handle_gone(arg); }

/* ------------------------------------------------------------ requests */

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
    struct req *r = arg;
    size_t len = size * n;
    if (r->resp.len + len > r->o->max_response) {
        r->too_big = true;
        return 0;   /* curl ends the transfer with CURLE_WRITE_ERROR */
    }
    return tr_buf_append(&r->resp, p, len) == 0 ? len : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg) {
    struct req *r = arg;
    size_t len = size * n;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* a new response (after a 100 or a redirect): its headers only */
        tr_value_unref(r->resp_headers);
        if (tr_v_rec(8, &r->resp_headers)) r->resp_headers = tr_v_null();
        return len;
    }
    const char *colon = memchr(p, ':', len);
    if (!colon || r->resp_headers.type != TR_REC) return len;
    char name[128];
    size_t nl = (size_t)(colon - p);
    if (nl == 0 || nl >= sizeof name) return len;
    for (size_t i = 0; i < nl; i++) name[i] = (char)tolower((unsigned char)p[i]);
    const char *v = colon + 1, *e = p + len;
    while (v < e && (*v == ' ' || *v == '\t')) v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t')) e--;
    tr_value *arr = tr_rec_get(&r->resp_headers, name, nl);
    if (!arr) {
        tr_value a;
        if (tr_v_arr(1, &a) || tr_rec_set(&r->resp_headers, name, nl, a)) return len;
        arr = tr_rec_get(&r->resp_headers, name, nl);
    }
    tr_value s;
    if (!tr_v_str(v, (size_t)(e - v), &s)) tr_arr_push(arr, s);
    return len;
}

static void req_free(struct req *r) {
    if (r->easy) curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->hdrs);
    tr_free(r->url);
    tr_buf_fini(&r->body);
    tr_buf_fini(&r->resp);
    tr_value_unref(r->sent_headers);
    tr_value_unref(r->correlation);
    tr_value_unref(r->resp_headers);
    tr_free(r);
}

static int set_str(tr_value *rec, const char *key, const char *s) {
    tr_value x;
    int rc = tr_v_cstr(s ? s : "", &x);
    if (!rc) rc = tr_rec_set(rec, key, strlen(key), x);
    return rc;
}

/* $response.request: {method, headers, endpoint {scheme, host, port, path,
 * query, fragment}} as 0.11 reports the request it made. */
static int request_meta(struct req *r, tr_value *out) {
    int rc = tr_v_rec(3, out);
    if (!rc) rc = set_str(out, "method", r->method);
    if (!rc) rc = tr_rec_set(out, "headers", 7, tr_value_ref(r->sent_headers));
    CURLU *u = curl_url();
    tr_value ep;
    if (!rc && !(rc = tr_v_rec(6, &ep))) {
        if (u && curl_url_set(u, CURLUPART_URL, r->url, 0) == CURLUE_OK) {
            static const struct { const char *k; CURLUPart part; } parts[] = {
                {"scheme", CURLUPART_SCHEME}, {"username", CURLUPART_USER},
                {"password", CURLUPART_PASSWORD}, {"host", CURLUPART_HOST},
                {"path", CURLUPART_PATH}, {"query", CURLUPART_QUERY},
                {"fragment", CURLUPART_FRAGMENT},
            };
            for (size_t i = 0; !rc && i < sizeof parts / sizeof parts[0]; i++) {
                char *v = NULL;
                if (curl_url_get(u, parts[i].part, &v, 0) == CURLUE_OK && v) rc = set_str(&ep, parts[i].k, v);
                curl_free(v);
            }
            char *port = NULL;
            if (!rc && curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK && port)
                rc = tr_rec_set(&ep, "port", 4, tr_v_uint(strtoull(port, NULL, 10)));
            curl_free(port);
        }
        if (!rc) rc = tr_rec_set(out, "endpoint", 8, ep);
        else tr_value_unref(ep);
    }
    curl_url_cleanup(u);
    return rc;
}

/* An error event out of 'err' (0.11's create_error_response). */
static void emit_error(struct out *o, uint64_t token, tr_value correlation, int status, const char *msg) {
    if (!o->linked) return;
    tr_value v, m, resp, hs, x;
    if (tr_v_rec(2, &v)) return;
    if (tr_v_rec(3, &m)) {
        tr_value_unref(v);
        return;
    }
    int rc = set_str(&v, "error", msg);
    if (!rc && !(rc = tr_v_rec(2, &resp))) {
        rc = tr_rec_set(&resp, "status", 6, tr_v_int(status));
        if (!rc && !(rc = tr_v_rec(2, &hs))) {
            rc = set_str(&hs, "Content-Type", "application/json");
            if (!rc) rc = set_str(&hs, "Server", "Tremor");
            if (!rc) rc = tr_rec_set(&resp, "headers", 7, hs);
            else tr_value_unref(hs);
        }
        if (!rc) rc = tr_rec_set(&m, "response", 8, resp);
        else tr_value_unref(resp);
    }
    if (!rc && !(rc = tr_v_cstr(msg, &x))) rc = tr_rec_set(&m, "error", 5, x);
    if (!rc && correlation.type != TR_NULL) rc = tr_rec_set(&m, "correlation", 11, tr_value_ref(correlation));
    if (rc) {
        tr_value_unref(v);
        tr_value_unref(m);
        return;
    }
    tr_offramp_emit(o->host, token, true, v, m);
}

/* The response as an event out of 'out' (0.11's build_response_events). */
static void emit_response(struct out *o, struct req *r, long status) {
    const struct tr_codec *codec = o->codec;
    tr_value *ct = r->resp_headers.type == TR_REC ? tr_rec_get(&r->resp_headers, "content-type", 12) : NULL;
    if (ct && ct->type == TR_ARR && tr_arr_len(ct) && tr_arr_at(ct, 0)->type == TR_STR) {
        char mime[128];
        const char *s = tr_arr_at(ct, 0)->as.s->data;
        size_t k = 0;
        while (*s == ' ') s++;
        for (; s[k] && s[k] != ';' && s[k] != ' ' && k + 1 < sizeof mime; k++)
            mime[k] = (char)tolower((unsigned char)s[k]);
        mime[k] = '\0';
        const struct tr_codec *by = tr_codec_by_mime(mime);
        if (by) codec = by;
    }
    tr_value v = tr_v_null(), m, resp, rq;
    if (r->resp.len) {
        struct tr_diag d;
        tr_diag_clear(&d);
        int rc = codec->decode(r->resp.data, r->resp.len, tr_now_ns(), &v, &d);
        if (rc < 0) {
            char msg[1200];
            snprintf(msg, sizeof msg, "cannot decode the response with codec %s: %s", codec->name,
                     d.msg[0] ? d.msg : tr_strerror(rc));
            emit_error(o, r->token, r->correlation, 500, msg);
            return;
        }
        if (rc == TR_CODEC_NOTHING) v = tr_v_null();
    } else if (tr_v_rec(0, &v)) {   /* 0.11: an empty object for no body */
        return;
    }
    int rc = tr_v_rec(2, &m);
    if (rc) {
        tr_value_unref(v);
        return;
    }
    if (r->correlation.type != TR_NULL) rc = tr_rec_set(&m, "correlation", 11, tr_value_ref(r->correlation));
    if (!rc && !(rc = tr_v_rec(3, &resp))) {
        rc = tr_rec_set(&resp, "status", 6, tr_v_int(status));
        if (!rc) rc = tr_rec_set(&resp, "headers", 7,
                                 r->resp_headers.type == TR_REC ? tr_value_ref(r->resp_headers) : tr_v_null());
        if (!rc && !(rc = request_meta(r, &rq))) rc = tr_rec_set(&resp, "request", 7, rq);
        if (!rc) rc = tr_rec_set(&m, "response", 8, resp);
        else tr_value_unref(resp);
    }
    if (rc) {
        tr_value_unref(v);
        tr_value_unref(m);
        return;
    }
    tr_offramp_emit(o->host, r->token, false, v, m);
}

static void breaker_failed(struct out *o) {
    o->failed_in_row++;
    if (o->breaker_threshold && !o->tripped && o->failed_in_row >= o->breaker_threshold) {
        o->tripped = true;
        TR_WARN(MOD, "%s: %llu failed requests in a row: circuit breaker triggered for %llu ms", o->id,
                (unsigned long long)o->failed_in_row, (unsigned long long)o->breaker_ms);
        tr_offramp_trigger(o->host);
    }
}

static void on_breaker(uv_timer_t *t) {
    struct out *o = t->data;
    if (!o->tripped || o->closing) return;
    /* half open: the next failure triggers again at once */
    o->tripped = false;
    TR_INFO(MOD, "%s: circuit breaker restored (probing)", o->id);
    tr_offramp_restore(o->host);
}

static void arm_retry(struct out *o);

static void finish(struct req *r, bool ok) {
    struct out *o = r->o;
    o->in_flight--;
    if (ok) tr_offramp_ack(o->host, r->token);
    else tr_offramp_fail(o->host, r->token);
    req_free(r);
}

/* One attempt ended: retry it, or answer it. */
static void attempt_done(struct req *r, CURLcode res) {
    struct out *o = r->o;
    long status = 0;
    if (res == CURLE_OK) curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    bool transport = res != CURLE_OK, server = status >= 500;
    if (transport || server) {
        breaker_failed(o);
        if (o->tripped && !o->closing) uv_timer_start(&o->breaker_timer, on_breaker, o->breaker_ms, 0);
    } else {
        o->failed_in_row = 0;
    }
    if ((transport || server) && r->attempts <= o->max_retries && !o->closing) {
        uint64_t wait = o->backoff_ms;
        for (uint32_t i = 1; i < r->attempts && wait < o->max_backoff_ms; i++) wait *= 2;
        if (wait > o->max_backoff_ms) wait = o->max_backoff_ms;
        r->due = uv_now(o->loop) + wait;
        tr_buf_reset(&r->resp);
        r->too_big = false;
        list_add(&o->retry, r);
        arm_retry(o);
        return;
    }
    if (transport) {
        char msg[CURL_ERROR_SIZE + 64];
        snprintf(msg, sizeof msg, "%s%s", curl_easy_strerror(res),
                 r->too_big ? " (response over max_response_bytes)" : "");
        o->errors++;
        tr_log_limited(&o->lim_err, TR_LOG_WARN, MOD, "%s: %s %s failed after %u attempts: %s (%llu so far)",
                       o->id, r->method, r->url, r->attempts, msg, (unsigned long long)o->errors);
        emit_error(o, r->token, r->correlation, 503, msg);
        finish(r, false);
        return;
    }
    if (status >= 400 && !o->linked) {
        o->errors++;
        tr_log_limited(&o->lim_err, TR_LOG_WARN, MOD, "%s: %s %s: HTTP request failed: %ld (%llu so far)",
                       o->id, r->method, r->url, status, (unsigned long long)o->errors);
    }
    if (o->linked) emit_response(o, r, status);
    finish(r, status < 400);
}

/* A transfer ended (from the loop, connectors/curl_loop.h). */
static void on_done(void *arg, CURL *easy, CURLcode res) {
    struct out *o = arg;
    struct req *r = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
    list_del(&o->reqs, r);
    attempt_done(r, res);
}

static int start_attempt(struct req *r) {
    struct out *o = r->o;
    r->attempts++;
    tr_value_unref(r->resp_headers);
    r->resp_headers = tr_v_null();
    if (tr_curl_loop_add(o->cl, r->easy)) return -EIO;
    list_add(&o->reqs, r);
    return 0;
}

static void on_retry(uv_timer_t *t) {
    struct out *o = t->data;
    uint64_t now = uv_now(o->loop);
    struct req *r = o->retry;
    while (r) {
        struct req *next = r->next;
        if (r->due <= now) {
            list_del(&o->retry, r);
            if (start_attempt(r)) {
                emit_error(o, r->token, r->correlation, 503, "cannot start the request");
                finish(r, false);
            }
        }
        r = next;
    }
    arm_retry(o);
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

/* ------------------------------------------------------------ building */

static bool upper_method(const char *in, char *out, size_t n) {
    while (*in == ' ') in++;
    size_t k = 0;
    for (; in[k] && in[k] != ' ' && k + 1 < n; k++) {
        if (!isalpha((unsigned char)in[k])) return false;
        out[k] = (char)toupper((unsigned char)in[k]);
    }
    out[k] = '\0';
    const char *rest = in + k;
    while (*rest == ' ') rest++;   /* 0.11 trims the method */
    return k > 0 && *rest == '\0';
}

/* Set the parts of an endpoint record on u (0.11's Endpoint::merge). */
static int endpoint_merge(CURLU *u, const tr_value *rec) {
    static const struct { const char *k; CURLUPart part; } parts[] = {
        {"scheme", CURLUPART_SCHEME}, {"username", CURLUPART_USER}, {"password", CURLUPART_PASSWORD},
        {"host", CURLUPART_HOST}, {"path", CURLUPART_PATH}, {"query", CURLUPART_QUERY},
        {"fragment", CURLUPART_FRAGMENT},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        const tr_value *v = tr_rec_get_cstr(rec, parts[i].k);
        if (v && v->type == TR_STR && curl_url_set(u, parts[i].part, v->as.s->data, 0) != CURLUE_OK)
            return TR_EINVAL_CFG;
    }
    const tr_value *p = tr_rec_get_cstr(rec, "port");
    if (p && p->type == TR_I64) {
        char buf[24];
        snprintf(buf, sizeof buf, "%lld", (long long)p->as.i);
        if (curl_url_set(u, CURLUPART_PORT, buf, 0) != CURLUE_OK) return TR_EINVAL_CFG;
    }
    return 0;
}

static bool header_ok(const char *name, size_t nlen, const tr_value *v) {
    if (v->type != TR_STR || nlen == 0 || strcspn(name, "\r\n: \t") < nlen) return false;
    return strcspn(v->as.s->data, "\r\n") == v->as.s->len;
}

/* Add "name: value" lines for one header (a string or a list). */
static int add_headers(struct curl_slist **l, tr_value *sent, const char *name, size_t nlen,
                       const tr_value *v, bool *has_ctype) {
    const tr_value *one = v;
    uint32_t n = v->type == TR_ARR ? tr_arr_len(v) : 1;
    tr_value arr;
    if (tr_v_arr(n, &arr)) return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        if (v->type == TR_ARR) one = tr_arr_at(v, i);
        if (!header_ok(name, nlen, one)) continue;
        char *line = tr_malloc(nlen + one->as.s->len + 3);
        if (!line) break;
        sprintf(line, "%.*s: %s", (int)nlen, name, one->as.s->data);
        struct curl_slist *nl = curl_slist_append(*l, line);
        tr_free(line);
        if (!nl) break;
        *l = nl;
        tr_arr_push(&arr, tr_value_ref(*one));
        if (nlen == 12 && strncasecmp(name, "content-type", 12) == 0) *has_ctype = true;
    }
    return tr_rec_set(sent, name, nlen, arr);
}

static void rc_send(void *self, const struct tr_out_msg *m) {
    struct out *o = self;
    bool answer = m->transactional || o->linked;
    if (o->closing) {
        if (answer) tr_offramp_fail(o->host, m->token);
        return;
    }
    tr_value corr = tr_v_null();
    const tr_value *meta = m->meta;
    if (meta && meta->type == TR_REC) {
        const tr_value *c = tr_rec_get_cstr(meta, "correlation");
        if (c) corr = tr_value_ref(*c);
    }
    if (o->in_flight >= o->concurrency) {
        /* 0.11: dropped for overload, failed, a 429 on err */
        o->errors++;
        tr_log_limited(&o->lim_err, TR_LOG_WARN, MOD, "%s: %llu requests in flight (concurrency): "
                       "dropped data due to overload (%llu so far)", o->id,
                       (unsigned long long)o->in_flight, (unsigned long long)o->errors);
        if (answer) {
            emit_error(o, m->token, corr, 429, "Dropped data due to overload");
            tr_offramp_fail(o->host, m->token);
        }
        tr_value_unref(corr);
        return;
    }
    struct req *r = tr_calloc(1, sizeof *r);
    const char *err = "out of memory";
    if (!r) goto fail;
    r->o = o;
    r->token = m->token;
    r->correlation = corr;
    corr = tr_v_null();
    r->sent_headers = r->resp_headers = tr_v_null();
    tr_buf_init(&r->body);
    tr_buf_init(&r->resp);
    if (tr_buf_append(&r->body, m->data ? m->data : "", m->len) || tr_v_rec(4, &r->sent_headers)) goto fail;
    const tr_value *rq = meta && meta->type == TR_REC ? tr_rec_get_cstr(meta, "request") : NULL;
    if (rq && rq->type != TR_REC) rq = NULL;
    /* method */
    const tr_value *mv = rq ? tr_rec_get_cstr(rq, "method") : NULL;
    if (mv && mv->type == TR_STR) {
        if (!upper_method(mv->as.s->data, r->method, sizeof r->method)) {
            err = "invalid $request.method";
            goto fail;
        }
    } else {
        snprintf(r->method, sizeof r->method, "%s", o->method);
    }
    /* endpoint */
    const tr_value *ev = meta && meta->type == TR_REC ? tr_rec_get_cstr(meta, "endpoint") : NULL;
    CURLU *u = curl_url_dup(o->base);
    if (!u) goto fail;
    if (ev && ev->type == TR_STR) {
        if (curl_url_set(u, CURLUPART_URL, ev->as.s->data, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
            curl_url_cleanup(u);
            err = "invalid $endpoint URL";
            goto fail;
        }
    } else if (ev && ev->type == TR_REC) {
        if (endpoint_merge(u, ev)) {
            curl_url_cleanup(u);
            err = "invalid $endpoint part";
            goto fail;
        }
    } else if (ev && ev->type != TR_NULL) {
        curl_url_cleanup(u);
        err = "Invalid $endpoint type. Use String or Map.";
        goto fail;
    }
    char *url = NULL;
    CURLUcode uc = curl_url_get(u, CURLUPART_URL, &url, 0);
    curl_url_cleanup(u);
    if (uc != CURLUE_OK || !url) {
        err = "invalid endpoint";
        goto fail;
    }
    r->url = tr_strdup(url);
    curl_free(url);
    if (!r->url) goto fail;
    /* headers: the event's replace the configured ones of the same name */
    bool has_ctype = false;
    const tr_value *eh = rq ? tr_rec_get_cstr(rq, "headers") : NULL;
    if (eh && eh->type != TR_REC) eh = NULL;
    for (struct curl_slist *l = o->cfg_hdrs; l; l = l->next) {
        size_t nlen = strcspn(l->data, ":");
        bool replaced = false;
        for (uint32_t i = 0; eh && i < tr_rec_len(eh); i++) {
            struct tr_field *f = tr_rec_at(eh, i);
            if (f->key->len == nlen && strncasecmp(f->key->data, l->data, nlen) == 0) replaced = true;
        }
        if (replaced) continue;
        tr_value sv;
        const char *val = l->data + nlen + 2;
        if (tr_v_cstr(val, &sv)) goto fail;
        int rc = add_headers(&r->hdrs, &r->sent_headers, l->data, nlen, &sv, &has_ctype);
        tr_value_unref(sv);
        if (rc) goto fail;
    }
    for (uint32_t i = 0; eh && i < tr_rec_len(eh); i++) {
        struct tr_field *f = tr_rec_at(eh, i);
        if (f->key->len == 14 && strncasecmp(f->key->data, "content-length", 14) == 0) continue;
        if (add_headers(&r->hdrs, &r->sent_headers, f->key->data, f->key->len, &f->val, &has_ctype))
            goto fail;
    }
    if (!has_ctype && o->ctype) {
        char line[128];
        snprintf(line, sizeof line, "Content-Type: %s", o->ctype);
        struct curl_slist *nl = curl_slist_append(r->hdrs, line);
        if (!nl) goto fail;
        r->hdrs = nl;
    }
    struct curl_slist *nl = curl_slist_append(r->hdrs, "Expect:");   /* no 100-continue wait */
    if (!nl) goto fail;
    r->hdrs = nl;
    /* the transfer */
    CURL *e = r->easy = curl_easy_init();
    if (!e) goto fail;
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, o->tls_verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, o->tls_verify ? 2L : 0L);
    if (o->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file);
    if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
        if (r->body.len || strcmp(r->method, "GET") != 0) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body.data ? r->body.data : "");
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body.len);
        }
    }
    o->in_flight++;
    if (start_attempt(r)) {
        o->in_flight--;
        err = "cannot start the request";
        goto fail;
    }
    return;
fail:
    o->errors++;
    tr_log_limited(&o->lim_err, TR_LOG_WARN, MOD, "%s: cannot make a request: %s (%llu so far)", o->id,
                   err, (unsigned long long)o->errors);
    if (answer) {
        emit_error(o, m->token, r ? r->correlation : corr, 503, err);
        tr_offramp_fail(o->host, m->token);
    }
    tr_value_unref(corr);
    if (r) req_free(r);
}

/* ------------------------------------------------------------ life */

static const char *codec_mime(const char *codec) {
    static const char *const map[][2] = {
        {"json", "application/json"},   {"yaml", "application/yaml"},
        {"string", "text/plain"},       {"msgpack", "application/msgpack"},
        {"binary", "application/octet-stream"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(codec, map[i][0]) == 0) return map[i][1];
    return NULL;
}

static void out_free(struct out *o) {
    curl_slist_free_all(o->cfg_hdrs);
    if (o->base) curl_url_cleanup(o->base);
    tr_free(o->method);
    tr_free(o->ca_file);
}

static int rc_create(const struct tr_conn_spec *spec, struct tr_offramp_host *host, void **self,
                     struct tr_diag *d) {
    *self = NULL;
    struct rc_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_rest_client_cmap, &c, d);
    if (rc) return rc;
    if (tr_curl_global_init())
        return tr_conn_cfg_fail(spec, "endpoint", d, "cannot be used: libcurl did not initialise");
    char method[16];
    if (!upper_method(c.method, method, sizeof method))
        return tr_conn_cfg_fail(spec, "method", d, "must be an HTTP method, found '%.32s'", c.method);
    if (c.headers && c.headers->type != TR_REC && c.headers->type != TR_NULL)
        return tr_conn_cfg_fail(spec, "headers", d, "must be a map of header names to strings");
    CURLU *u = curl_url();
    if (!u) return -ENOMEM;
    if (c.endpoint->type == TR_STR) {
        if (curl_url_set(u, CURLUPART_URL, c.endpoint->as.s->data, 0) != CURLUE_OK) {
            curl_url_cleanup(u);
            return tr_conn_cfg_fail(spec, "endpoint", d, "must be an http:// or https:// URL, found '%.128s'",
                                    c.endpoint->as.s->data);
        }
    } else if (c.endpoint->type == TR_REC) {
        /* 0.11 fills the parts into http://localhost */
        curl_url_set(u, CURLUPART_URL, "http://localhost/", 0);
        if (endpoint_merge(u, c.endpoint)) {
            curl_url_cleanup(u);
            return tr_conn_cfg_fail(spec, "endpoint", d, "has an invalid part");
        }
    } else {
        curl_url_cleanup(u);
        return tr_conn_cfg_fail(spec, "endpoint", d, "must be a URL string or a map of its parts");
    }
    char *scheme = NULL;
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    bool web = scheme && (strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0);
    curl_free(scheme);
    if (!web) {
        curl_url_cleanup(u);
        return tr_conn_cfg_fail(spec, "endpoint", d, "must use http or https");
    }
    struct out *o = tr_calloc(1, sizeof *o);
    if (!o) {
        curl_url_cleanup(u);
        return -ENOMEM;
    }
    o->base = u;
    o->host = host;
    o->loop = tr_offramp_loop(host);
    o->id = tr_strdup(spec->id ? spec->id : "rest");
    o->method = tr_strdup(method);
    o->ca_file = c.ca_file ? tr_strdup(c.ca_file) : NULL;
    o->codec = tr_codec_find(spec->codec ? spec->codec : "json");
    if (!o->codec) o->codec = tr_codec_find("json");
    o->ctype = codec_mime(o->codec->name);
    o->linked = spec->linked;
    o->concurrency = c.concurrency;
    o->timeout_ms = c.timeout_ms;
    o->max_retries = c.max_retries;
    o->backoff_ms = c.backoff_ms;
    o->max_backoff_ms = c.max_backoff_ms;
    o->breaker_threshold = c.breaker_threshold;
    o->breaker_ms = c.breaker_ms;
    o->max_response = c.max_response;
    o->tls_verify = c.tls_verify;
    for (uint32_t i = 0; c.headers && c.headers->type == TR_REC && i < tr_rec_len(c.headers); i++) {
        struct tr_field *f = tr_rec_at(c.headers, i);
        const tr_value *v = &f->val;
        uint32_t n = v->type == TR_ARR ? tr_arr_len(v) : 1;
        for (uint32_t k = 0; k < n; k++) {
            const tr_value *one = v->type == TR_ARR ? tr_arr_at(v, k) : v;
            if (!header_ok(f->key->data, f->key->len, one)) {
                out_free(o);
                tr_free(o->id);
                tr_free(o);
                return tr_conn_cfg_fail(spec, "headers", d, "'%.64s' must be a string (or a list of "
                                        "strings) without line breaks", f->key->data);
            }
            char line[8192];
            snprintf(line, sizeof line, "%s: %s", f->key->data, one->as.s->data);
            struct curl_slist *nl = curl_slist_append(o->cfg_hdrs, line);
            if (nl) o->cfg_hdrs = nl;
        }
    }
    if (o->id && o->method && (!c.ca_file || o->ca_file))
        tr_curl_loop_create(o->loop, (long)o->concurrency, on_done, o, &o->cl);
    if (!o->cl) {
        out_free(o);
        tr_free(o->id);
        tr_free(o);
        return -ENOMEM;
    }
    uv_timer_init(o->loop, &o->retry_timer);
    uv_timer_init(o->loop, &o->breaker_timer);
    o->retry_timer.data = o->breaker_timer.data = o;
    o->handles = 3;   /* two timers and the curl loop */
    *self = o;
    return 0;
}

static int rc_start(void *self) {
    struct out *o = self;
    TR_INFO(MOD, "%s: sending to %s%s", o->id, "the configured endpoint", o->linked ? " (linked)" : "");
    return 0;
}

static bool rc_is_active(void *self) { return !((struct out *)self)->tripped; }

static void rc_close(void *self, void (*done)(void *), void *arg) {
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
    out_free(o);
    tr_curl_loop_close(o->cl, on_cl_closed, o);
    uv_close((uv_handle_t *)&o->retry_timer, on_timer_closed);
    uv_close((uv_handle_t *)&o->breaker_timer, on_timer_closed);
}

const struct tr_offramp_ops tr_rest_offramp = {
    .type = "rest",
    .bytes_only = true,
    .linked = true,
    .create = rc_create,
    .start = rc_start,
    .send = rc_send,
    .is_active = rc_is_active,
    .close = rc_close,
};
