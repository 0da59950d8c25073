/* rest_server.c - the `rest` onramp: an HTTP/1.1 server on every path and
 * method (Tremor 0.11 keys: host, port). Each request becomes one event: its
 * body decoded by the codec its Content-Type names (0.11's MIME map), else
 * by the entry's codec, with meta $request {method, headers, url} as 0.11
 * builds it. Without `linked` every request is answered 202 at once; with
 * `linked: true` the answer is the event a pipeline sends back to the
 * onramp's port `in` ($response {status, headers} and the value, encoded by
 * the codec of the response's content-type, else the entry's codec).
 *
 * The transport is the REST API's server (api/http.h): request size, header
 * count, header/body/idle times and connections are bounded there, and
 * abuse is answered 4xx there. A linked request holds its connection until
 * its reply comes or idle_timeout_ms passes (then the connection closes);
 * each connection has at most one request under way, so the table of
 * requests waiting for replies is bounded by max_connections.
 *
 * Differences from 0.11, by choice: a body the codec cannot decode is
 * answered 400 {"error"} (0.11 answers 202 and sends the error to `err`),
 * except when linked with pipelines on `err`: then, as in 0.11, 0.11's
 * error event goes out of `err` and what comes back answers the request;
 * an empty body that the codec cannot decode (json) is the value null (0.11:
 * a decode error; with `string` it is "" in both); preprocessors are
 * not applied (the body is one frame). Breakers: a trigger answers new
 * requests 503 until the restore (0.11 stops pulling, so requests wait).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/http.h"
#include "codec/codec.h"
#include "config/cmap.h"
#include "connectors/conn.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/event.h"
#include "core/log.h"

#define MOD "rest"

struct rest_cfg {
    const char *host;
    uint64_t port;
    uint64_t max_body, max_conns, idle_ms, header_ms, body_ms;
};

const struct tr_cmap_entry tr_rest_server_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR, "host", "0.0.0.0", 0, offsetof(struct rest_cfg, host),
     "address to listen on: an IP address or localhost (0.11's default)")},
    {TR_CMAP_KEY(TR_CMAP_U64, "port", "8000", TR_CMAP_RANGE, offsetof(struct rest_cfg, port),
     "TCP port to listen on, 0: any free one"), .lo = 0, .hi = 65535},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_body_bytes", "16777216", TR_CMAP_RANGE,
     offsetof(struct rest_cfg, max_body), "largest request body; a larger one gets 413"),
     .lo = 0, .hi = (double)(1u << 30)},
    {TR_CMAP_KEY(TR_CMAP_U64, "max_connections", "1024", TR_CMAP_RANGE,
     offsetof(struct rest_cfg, max_conns), "clients at once; more are reset"), .lo = 1, .hi = 65536},
    {TR_CMAP_KEY(TR_CMAP_U64, "idle_timeout_ms", "30000", TR_CMAP_RANGE,
     offsetof(struct rest_cfg, idle_ms),
     "ms a keep-alive connection may idle, and a linked request may wait for its reply"),
     .lo = 1, .hi = 86400000},
    {TR_CMAP_KEY(TR_CMAP_U64, "header_timeout_ms", "10000", TR_CMAP_RANGE,
     offsetof(struct rest_cfg, header_ms), "ms from a request's first byte to its headers' end (408)"),
     .lo = 1, .hi = 86400000},
    {TR_CMAP_KEY(TR_CMAP_U64, "body_timeout_ms", "30000", TR_CMAP_RANGE,
     offsetof(struct rest_cfg, body_ms), "ms from the headers' end to the body's end (408)"),
     .lo = 1, .hi = 86400000},
    {0},
};

/* A linked request waiting for its reply. */
#define PENDING UINT64_MAX   /* its event is being emitted: no id yet */
struct waiting {
    uint64_t event_id;
    uint64_t serial;         /* the http layer's name for the request */
};

struct rest {
    struct tr_onramp_host *host;
    uv_loop_t *loop;
    char *id;
    char *bind_host;
    uint64_t port;
    struct tr_http_opts opts;
    struct tr_http *http;
    const struct tr_codec *codec;    /* the entry's, or json */
    bool linked, paused, closing;
    struct waiting *wait;
    size_t nwait, wait_cap;
    uint64_t decode_errors, refused_paused;
    struct tr_log_limit lim_decode, lim_reply;
    void (*done)(void *);
    void *done_arg;
};

uint16_t tr_rest_onramp_port(void *self);

/* ------------------------------------------------------------ metadata */

static int set_str(tr_value *rec, const char *key, const char *s, size_t n) {
    tr_value x;
    int rc = tr_v_str(s, n, &x);
    if (!rc) rc = tr_rec_set(rec, key, strlen(key), x);
    return rc;
}

/* {name: [values...]}: names lower-cased (http-types' header names), the
 * values of a repeated header in order, as 0.11's tide request gives them. */
static int headers_value(const struct tr_http_req *r, tr_value *out) {
    int rc = tr_v_rec(r->nheaders, out);
    char name[256];
    for (size_t i = 0; !rc && i < r->nheaders; i++) {
        size_t n = strlen(r->headers[i].name);
        if (n >= sizeof name) n = sizeof name - 1;
        for (size_t k = 0; k < n; k++) name[k] = (char)tolower((unsigned char)r->headers[i].name[k]);
        name[n] = '\0';
        tr_value *arr = tr_rec_get(out, name, n);
        if (!arr) {
            tr_value a;
            if ((rc = tr_v_arr(1, &a))) break;
            if ((rc = tr_rec_set(out, name, n, a))) break;
            arr = tr_rec_get(out, name, n);
        }
        tr_value s;
        if (!(rc = tr_v_cstr(r->headers[i].value, &s))) rc = tr_arr_push(arr, s);
    }
    return rc;
}

static const char *header(const struct tr_http_req *r, const char *name) {
    const char *v = NULL;
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0) v = r->headers[i].value;
    return v;
}

/* $request.url as 0.11 has it from the url crate: scheme, host and port of
 * the Host header (port only when not 80), path, query and fragment of the
 * target; username/password only come with an absolute-form target. */
static int url_value(const struct tr_http_req *r, tr_value *out) {
    int rc = tr_v_rec(6, out);
    if (!rc) rc = set_str(out, "scheme", "http", 4);
    const char *t = r->target;
    if (!rc && strncasecmp(t, "http://", 7) == 0) {
        /* absolute form: authority in the target */
        const char *a = t + 7;
        size_t alen = strcspn(a, "/?#");
        const char *at = memchr(a, '@', alen);
        if (at) {
            const char *colon = memchr(a, ':', (size_t)(at - a));
            rc = set_str(out, "username", a, colon ? (size_t)(colon - a) : (size_t)(at - a));
            if (!rc && colon) rc = set_str(out, "password", colon + 1, (size_t)(at - colon - 1));
            alen -= (size_t)(at + 1 - a);
            a = at + 1;
        }
        t = a + alen;
        if (!rc) {
            char hostbuf[512];
            snprintf(hostbuf, sizeof hostbuf, "%.*s", (int)alen, a);
            const char *h = hostbuf;
            char *colon = h[0] == '[' ? strstr(hostbuf, "]:") : strrchr(hostbuf, ':');
            if (colon && h[0] == '[') colon++;
            if (colon) *colon = '\0';
            rc = set_str(out, "host", h, strlen(h));
            if (!rc && colon && strcmp(colon + 1, "80") != 0)
                rc = tr_rec_set(out, "port", 4, tr_v_uint(strtoull(colon + 1, NULL, 10)));
        }
    } else if (!rc) {
        const char *hh = header(r, "host");
        if (hh) {
            char hostbuf[512];
            snprintf(hostbuf, sizeof hostbuf, "%s", hh);
            char *colon = hostbuf[0] == '[' ? strstr(hostbuf, "]:") : strrchr(hostbuf, ':');
            if (colon && hostbuf[0] == '[') colon++;
            if (colon) *colon = '\0';
            rc = set_str(out, "host", hostbuf, strlen(hostbuf));
            if (!rc && colon && colon[1] && strcmp(colon + 1, "80") != 0)
                rc = tr_rec_set(out, "port", 4, tr_v_uint(strtoull(colon + 1, NULL, 10)));
        }
    }
    size_t plen = strcspn(t, "?#");
    if (!rc) rc = plen ? set_str(out, "path", t, plen) : set_str(out, "path", "/", 1);
    const char *q = t + plen;
    if (!rc && *q == '?') {
        size_t qlen = strcspn(q + 1, "#");
        rc = set_str(out, "query", q + 1, qlen);
        q += 1 + qlen;
    }
    if (!rc && *q == '#') rc = set_str(out, "fragment", q + 1, strlen(q + 1));
    return rc;
}

static int request_meta(const struct tr_http_req *r, tr_value *meta) {
    tr_value req, x;
    int rc = tr_v_rec(1, meta);
    if (rc) return rc;
    if ((rc = tr_v_rec(3, &req))) return rc;
    rc = set_str(&req, "method", r->method, strlen(r->method));
    if (!rc && !(rc = headers_value(r, &x))) rc = tr_rec_set(&req, "headers", 7, x);
    if (!rc && !(rc = url_value(r, &x))) rc = tr_rec_set(&req, "url", 3, x);
    if (!rc) return tr_rec_set(meta, "request", 7, req);
    tr_value_unref(req);
    return rc;
}

/* The MIME essence of a Content-Type: before ';', trimmed, lower case. */
static void essence(const char *ct, char *out, size_t n) {
    while (*ct == ' ' || *ct == '\t') ct++;
    size_t k = 0;
    for (; ct[k] && ct[k] != ';' && ct[k] != ' ' && ct[k] != '\t' && k + 1 < n; k++)
        out[k] = (char)tolower((unsigned char)ct[k]);
    out[k] = '\0';
}

/* The MIME type a codec's body is labelled with (0.11's Codec::mime_types,
 * first entry). */
static const char *codec_mime(const struct tr_codec *c) {
    static const char *const map[][2] = {
        {"json", "application/json"},   {"yaml", "application/yaml"},
        {"string", "text/plain"},       {"msgpack", "application/msgpack"},
        {"binary", "application/octet-stream"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(c->name, map[i][0]) == 0) return map[i][1];
    return NULL;
}

/* ------------------------------------------------------------ requests */

/* {"error": msg} as JSON into b (b->len 0 when out of memory). */
static void error_body(const char *msg, struct tr_buf *b) {
    tr_value v, x;
    if (tr_v_rec(1, &v)) return;
    if (!tr_v_cstr(msg, &x)) tr_rec_set(&v, "error", 5, x);
    if (tr_codec_find("json")->encode(&v, b)) tr_buf_reset(b);
    tr_value_unref(v);
}

static void answer_error(struct tr_http_req *r, int status, const char *msg) {
    struct tr_buf b;
    tr_buf_init(&b);
    error_body(msg, &b);
    tr_http_respond(r, status, "application/json", b.len ? b.data : "{}", b.len ? b.len : 2, NULL);
    tr_buf_fini(&b);
}

static void on_request(void *arg, struct tr_http_req *r) {
    struct rest *s = arg;
    if (s->closing) {
        tr_http_respond(r, 503, NULL, NULL, 0, NULL);
        return;
    }
    if (s->paused) {
        /* a breaker downstream is open: the client may retry later */
        s->refused_paused++;
        tr_http_respond(r, 503, "application/json", TR_BUSY_ERROR, sizeof TR_BUSY_ERROR - 1,
                        "retry-after: 1\r\n");
        return;
    }
    const struct tr_codec *codec = s->codec;
    const char *ct = header(r, "content-type");
    if (ct) {
        char mime[128];
        essence(ct, mime, sizeof mime);
        const struct tr_codec *by = tr_codec_by_mime(mime);
        if (by) codec = by;
    }
    tr_value v = tr_v_null(), meta = tr_v_null();
    char bad[sizeof ((struct tr_diag *)0)->msg + 64] = "";   /* linked: the body did not decode; the err port answers (0.11) */
    {
        struct tr_diag d;
        tr_diag_clear(&d);
        /* an empty body is what the codec makes of no bytes ("" for string,
         * as in 0.11), or null where that is an error (json) */
        int rc = codec->decode(r->body_len ? r->body : "", r->body_len, tr_now_ns(), &v, &d);
        if (rc == TR_CODEC_NOTHING || (rc < 0 && !r->body_len)) v = tr_v_null();
        else if (rc) {
            s->decode_errors++;
            tr_log_limited(&s->lim_decode, TR_LOG_WARN, MOD,
                           "%s: cannot decode a %s %s body of %zu bytes with codec %s: %s (%llu so far)",
                           s->id, r->method, r->path, r->body_len, codec->name,
                           d.msg[0] ? d.msg : tr_strerror(rc), (unsigned long long)s->decode_errors);
            if (!s->linked || !s->host->ops->emit_error) {
                answer_error(r, 400, d.msg[0] ? d.msg : tr_strerror(rc));
                return;
            }
            snprintf(bad, sizeof bad, "%s", d.msg[0] ? d.msg : tr_strerror(rc));
        }
    }
    if (!bad[0] && request_meta(r, &meta)) {
        tr_value_unref(v);
        answer_error(r, 503, "out of memory");
        return;
    }
    if (!s->linked) {
        int64_t id = tr_onramp_emit_value(s->host, v, meta);
        if (id < 0) answer_error(r, 503, tr_strerror((int)id));
        else tr_http_respond(r, 202, NULL, NULL, 0, NULL);
        return;
    }
    /* Pipelines run inside the emit, so the reply can come before the
     * event's id is known: the request waits under PENDING until then. */
    uint64_t serial = tr_http_defer(r);
    /* requests whose connection went away leave entries behind: each
     * connection has one request at a time, so past twice the connection
     * bound the oldest are stale (their replies would be refused anyway) */
    if (s->nwait >= 2 * (size_t)s->opts.max_connections) {
        size_t drop = s->nwait - s->opts.max_connections;
        memmove(s->wait, s->wait + drop, (s->nwait - drop) * sizeof *s->wait);
        s->nwait -= drop;
    }
    if (tr_grow((void **)&s->wait, &s->wait_cap, s->nwait + 1, sizeof *s->wait) != 0) {
        tr_value_unref(v);
        tr_value_unref(meta);
        tr_http_respond_to(s->http, serial, 503, NULL, NULL, 0, NULL);
        return;
    }
    s->wait[s->nwait++] = (struct waiting){.event_id = PENDING, .serial = serial};
    /* an undecodable body: 0.11's error event out of `err`; what the
     * pipelines linked from there send back answers the request */
    int64_t id = bad[0] ? s->host->ops->emit_error(s->host, bad) : tr_onramp_emit_value(s->host, v, meta);
    for (size_t i = s->nwait; i-- > 0;)
        if (s->wait[i].serial == serial) {
            if (id >= 0) {
                s->wait[i].event_id = (uint64_t)id;
            } else {
                memmove(&s->wait[i], &s->wait[i + 1], (s->nwait - i - 1) * sizeof *s->wait);
                s->nwait--;
                if (bad[0]) {   /* nothing linked from err: our 400 */
                    struct tr_buf b;
                    tr_buf_init(&b);
                    error_body(bad, &b);
                    tr_http_respond_to(s->http, serial, 400, "application/json", b.len ? b.data : "{}",
                                       b.len ? b.len : 2, NULL);
                    tr_buf_fini(&b);
                } else {
                    tr_http_respond_to(s->http, serial, 503, NULL, NULL, 0, NULL);
                }
            }
            break;
        }
}

/* ------------------------------------------------------------ replies */

/* One header line per value; names and values with CR, LF or NUL are
 * dropped (they would split the response). */
static int add_header(struct tr_buf *b, const char *name, size_t nlen, const tr_value *v) {
    if (v->type != TR_STR || strcspn(name, "\r\n:") < nlen) return 0;
    const char *p = v->as.s->data;
    size_t n = v->as.s->len;
    for (size_t i = 0; i < n; i++)
        if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0') return 0;
    return tr_buf_printf(b, "%.*s: %.*s\r\n", (int)nlen, name, (int)n, p);
}

static void rest_reply(void *self, uint64_t event_id, uint64_t stream, const tr_value *value,
                       const tr_value *meta, const struct tr_codec *entry_codec) {
    struct rest *s = self;
    (void)stream;   /* requests are told apart by event id */
    size_t i = 0;
    while (i < s->nwait && s->wait[i].event_id != event_id) i++;
    if (i == s->nwait) /* the reply came inside the emit of its request */
        for (i = 0; i < s->nwait && s->wait[i].event_id != PENDING; i++) {}
    if (i == s->nwait) {
        TR_DEBUG(MOD, "%s: no request waits for event %llu", s->id, (unsigned long long)event_id);
        return;
    }
    uint64_t serial = s->wait[i].serial;
    memmove(&s->wait[i], &s->wait[i + 1], (s->nwait - i - 1) * sizeof *s->wait);
    s->nwait--;
    const tr_value *resp = meta->type == TR_REC ? tr_rec_get(meta, "response", 8) : NULL;
    if (!resp || resp->type != TR_REC) {
        /* 0.11's text for it */
        tr_log_limited(&s->lim_reply, TR_LOG_WARN, MOD, "%s: a reply without $response: 500", s->id);
        tr_http_respond_to(s->http, serial, 500, "application/json",
                           "{\"error\":\"No response metadata available.\"}", 43, NULL);
        return;
    }
    int status = 200;
    const tr_value *st = tr_rec_get(resp, "status", 6);
    if (st && st->type == TR_I64 && st->as.i >= 100 && st->as.i <= 999) status = (int)st->as.i;
    struct tr_buf extra, body;
    tr_buf_init(&extra);
    tr_buf_init(&body);
    const char *ctype = NULL;
    char ctbuf[256];
    int rc = 0;
    const tr_value *hs = tr_rec_get(resp, "headers", 7);
    if (hs && hs->type == TR_REC) {
        for (uint32_t k = 0; !rc && k < tr_rec_len(hs); k++) {
            struct tr_field *f = tr_rec_at(hs, k);
            const char *name = f->key->data;
            size_t nlen = f->key->len;
            const tr_value *hv = &f->val;
            const tr_value *first = hv->type == TR_ARR && tr_arr_len(hv) ? tr_arr_at(hv, 0) : hv;
            if (nlen == 12 && strncasecmp(name, "content-type", 12) == 0) {
                if (first->type == TR_STR && !ctype) {
                    snprintf(ctbuf, sizeof ctbuf, "%.*s", (int)first->as.s->len, first->as.s->data);
                    if (!strpbrk(ctbuf, "\r\n")) ctype = ctbuf;
                }
                continue;   /* written by the http layer */
            }
            if ((nlen == 14 && strncasecmp(name, "content-length", 14) == 0) ||
                (nlen == 10 && strncasecmp(name, "connection", 10) == 0) ||
                (nlen == 17 && strncasecmp(name, "transfer-encoding", 17) == 0) ||
                (nlen == 4 && strncasecmp(name, "date", 4) == 0))
                continue;   /* framing is ours */
            if (hv->type == TR_ARR)
                for (uint32_t j = 0; !rc && j < tr_arr_len(hv); j++)
                    rc = add_header(&extra, name, nlen, tr_arr_at(hv, j));
            else rc = add_header(&extra, name, nlen, hv);
        }
    }
    const struct tr_codec *codec = entry_codec ? entry_codec : s->codec;
    if (ctype) {
        char mime[128];
        essence(ctype, mime, sizeof mime);
        const struct tr_codec *by = tr_codec_by_mime(mime);
        if (by) codec = by;
    } else {
        ctype = codec_mime(codec);
    }
    if (!rc) rc = codec->encode(value, &body);
    if (rc) {
        char msg[200];
        snprintf(msg, sizeof msg, "cannot encode the reply with codec %s: %s", codec->name, tr_strerror(rc));
        tr_log_limited(&s->lim_reply, TR_LOG_WARN, MOD, "%s: %s", s->id, msg);
        tr_buf_reset(&body);
        tr_value v, x;
        if (!tr_v_rec(1, &v)) {
            if (!tr_v_cstr(msg, &x)) tr_rec_set(&v, "error", 5, x);
            tr_codec_find("json")->encode(&v, &body);
            tr_value_unref(v);
        }
        tr_http_respond_to(s->http, serial, 500, "application/json", body.data ? body.data : "",
                           body.len, "server: Tremor\r\n");
    } else {
        tr_http_respond_to(s->http, serial, status, ctype, body.data ? body.data : "", body.len,
                           extra.len ? extra.data : NULL);
    }
    tr_buf_fini(&extra);
    tr_buf_fini(&body);
}

/* ------------------------------------------------------------ life */

static int rest_create(const struct tr_conn_spec *spec, struct tr_onramp_host *host, void **self,
                       struct tr_diag *d) {
    *self = NULL;
    struct rest_cfg c;
    int rc = tr_conn_cfg_apply(spec, tr_rest_server_cmap, &c, d);
    if (rc) return rc;
    struct sockaddr_in6 probe;
    const char *h = strcasecmp(c.host, "localhost") == 0 ? "127.0.0.1" : c.host;
    if (uv_ip4_addr(h, 0, (struct sockaddr_in *)&probe) != 0 && uv_ip6_addr(h, 0, &probe) != 0)
        return tr_conn_cfg_fail(spec, "host", d, "must be an IP address or localhost, found '%.64s'",
                                c.host);
    const struct tr_codec *codec = tr_codec_find(spec->codec ? spec->codec : "json");
    if (!codec) codec = tr_codec_find("json");
    struct rest *s = tr_calloc(1, sizeof *s);
    if (!s) return -ENOMEM;
    s->id = tr_strdup(spec->id ? spec->id : "rest");
    s->bind_host = tr_strdup(h);
    if (!s->id || !s->bind_host) {
        tr_free(s->id);
        tr_free(s->bind_host);
        tr_free(s);
        return -ENOMEM;
    }
    s->host = host;
    s->loop = tr_onramp_loop(host);
    s->port = c.port;
    s->codec = codec;
    s->linked = spec->linked;
    tr_http_opts_default(&s->opts);
    s->opts.max_body_bytes = c.max_body;
    s->opts.max_connections = (uint32_t)c.max_conns;
    s->opts.idle_timeout_ms = c.idle_ms;
    s->opts.header_timeout_ms = c.header_ms;
    s->opts.body_timeout_ms = c.body_ms;
    *self = s;
    return 0;
}

static int rest_start(void *self) {
    struct rest *s = self;
    struct sockaddr_storage ss;
    if (uv_ip4_addr(s->bind_host, (int)s->port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(s->bind_host, (int)s->port, (struct sockaddr_in6 *)&ss) != 0)
        return TR_EINVAL_CFG;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_http_open(s->loop, (struct sockaddr *)&ss, &s->opts, on_request, s, &s->http, &d);
    if (rc) {
        TR_ERROR(MOD, "%s: %s", s->id, d.msg[0] ? d.msg : tr_strerror(rc));
        return rc;
    }
    TR_INFO(MOD, "%s: listening on %s:%d%s", s->id, s->bind_host, tr_http_port(s->http),
            s->linked ? " (linked)" : "");
    return 0;
}

uint16_t tr_rest_onramp_port(void *self) {
    struct rest *s = self;
    return s->http ? (uint16_t)tr_http_port(s->http) : 0;
}

static void rest_trigger(void *self) { ((struct rest *)self)->paused = true; }
static void rest_restore(void *self) { ((struct rest *)self)->paused = false; }
static void rest_ack(void *self, uint64_t id) {
    (void)self;
    (void)id;
}

static void free_rest(struct rest *s) {
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    tr_log_limit_flush(&s->lim_decode);
    tr_log_limit_flush(&s->lim_reply);
    tr_free(s->wait);
    tr_free(s->id);
    tr_free(s->bind_host);
    tr_free(s);
    if (done) done(arg);
}

static void on_http_closed(void *arg) { free_rest(arg); }

static void rest_close(void *self, void (*done)(void *), void *arg) {
    struct rest *s = self;
    s->closing = true;
    s->done = done;
    s->done_arg = arg;
    if (s->http) tr_http_close(s->http, on_http_closed, s);
    else free_rest(s);
}

const struct tr_onramp_ops tr_rest_onramp = {
    .type = "rest",
    .transactional = false,
    .default_codec = "json",
    .create = rest_create,
    .start = rest_start,
    .trigger = rest_trigger,
    .restore = rest_restore,
    .ack = rest_ack,
    .fail = rest_ack,
    .close = rest_close,
    .reply = rest_reply,
};
