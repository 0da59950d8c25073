/* http.c - the HTTP/1.1 server of the REST API: our uv_tcp listener and
 * connections, http_parser for the bytes, our bounds around it.
 *
 * Invariant: a connection holds at most one request and one response at a
 * time. While an answer is being written the connection does not read;
 * bytes already read past the request (pipelining) wait in `pending` (at
 * most one read's worth) and are parsed when the write completed, from
 * the write callback. So memory per connection is bounded by
 * max_header_bytes + max_body_bytes + one read buffer + one response.
 *
 * Connection states (timer meaning in brackets):
 *
 *   IDLE [idle_timeout: close] --first byte--> HEAD [header_timeout: 408]
 *   HEAD --headers complete--> BODY [body_timeout: 408]
 *   BODY --message complete--> WRITE [idle_timeout: close]  (handler runs, answer written)
 *   WRITE --written, keep-alive--> IDLE (pending bytes parsed first)
 *   WRITE --written, close------> LINGER [1 s: close]  (FIN sent, input discarded)
 *   any --peer gone, error------> closed
 *
 * Rejections (400/408/413/431) are answers like any other, with
 * "connection: close": the write goes out, then LINGER, so the client reads
 * the answer instead of a reset caused by its own unread bytes.
 */
#include "api/http.h"

#include <errno.h>
#include <http_parser.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/log.h"

#define MOD "api"
#define RBUF_SIZE 65536
#define BACKLOG 128
#define LINGER_MS 1000
#define LINGER_MAX_BYTES (1u << 20)

enum phase { P_IDLE, P_HEAD, P_BODY, P_WRITE, P_LINGER };

struct hdr_off {
    size_t name, value;   /* offsets into conn->text */
};

struct conn {
    struct tr_http *h;
    uv_tcp_t tcp;
    uv_timer_t timer;
    int open_handles;        /* tcp + timer until both closed */
    int closed;              /* conn_close ran */
    enum phase phase;
    http_parser parser;
    /* The request being read: "target\0name\0value\0..." */
    struct tr_buf text;
    size_t url_len;
    int url_done, in_value;
    struct hdr_off *hdrs;
    size_t nhdrs, hcap;
    struct tr_http_header *views;
    size_t vcap;
    size_t hdr_raw;          /* bytes of the current head consumed so far */
    struct tr_buf body;
    int reject;              /* status a callback refused the request with */
    int keep_alive;
    int answered;
    int deferred;            /* the handler answers later (tr_http_defer) */
    uint64_t serial;         /* names a deferred request to tr_http_respond_to */
    int reading;
    uint64_t discarded;      /* bytes read in LINGER */
    struct tr_buf pending;   /* read but not yet parsed (pipelined) */
    struct tr_http_req req;
    struct conn *prev, *next;
};

struct tr_http {
    uv_loop_t *loop;
    uv_tcp_t listener;
    struct tr_http_opts o;
    tr_http_handler_fn fn;
    void *arg;
    http_parser_settings settings;
    struct conn *conns;
    int handles;             /* the listener, refused handles and every connection */
    int closing;
    void (*done)(void *);
    void *done_arg;
    struct tr_http_stats st;
    uint64_t next_serial;
    struct tr_log_limit lim_refused, lim_reject, lim_accept;
    char rbuf[RBUF_SIZE];    /* one read at a time: libuv reads, then calls back */
};

struct wreq {
    uv_write_t w;
    struct conn *c;
    int last;                /* the connection closes after it */
    int interim;             /* a 100 Continue, not the answer */
    size_t len;
    char data[];
};

void tr_http_opts_default(struct tr_http_opts *o) {
    o->max_header_bytes = 16384;
    o->max_headers = 100;
    o->max_body_bytes = 1u << 20;
    o->idle_timeout_ms = 30000;
    o->header_timeout_ms = 10000;
    o->body_timeout_ms = 30000;
    o->max_connections = 128;
}

const char *tr_http_reason(int status) {
    const char *s = http_status_str((enum http_status)status);
    return s && s[0] != '<' ? s : "Unknown";
}

int tr_http_port(const struct tr_http *h) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    int rc = uv_tcp_getsockname(&h->listener, (struct sockaddr *)&ss, &len);
    if (rc) return rc;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -EAFNOSUPPORT;
}

void tr_http_stats(const struct tr_http *h, struct tr_http_stats *out) { *out = h->st; }

static void maybe_done(struct tr_http *h) {
    if (!h->closing || h->handles) return;
    void (*done)(void *) = h->done;
    void *arg = h->done_arg;
    tr_free(h);
    if (done) done(arg);
}

static void peer_name(struct conn *c, char *out, size_t n) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char host[64] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof host);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof host);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    snprintf(out, n, "%s:%d", host, port);
}

/* ------------------------------------------------------------ closing */

static void on_conn_handle_closed(uv_handle_t *hd) {
    struct conn *c = hd->data;
    if (--c->open_handles) return;
    struct tr_http *h = c->h;
    tr_buf_fini(&c->text);
    tr_buf_fini(&c->body);
    tr_buf_fini(&c->pending);
    tr_free(c->hdrs);
    tr_free(c->views);
    tr_free(c);
    h->handles--;
    maybe_done(h);
}

static void conn_close(struct conn *c) {
    if (c->closed) return;
    c->closed = 1;
    struct tr_http *h = c->h;
    if (c->prev) c->prev->next = c->next;
    else h->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    h->st.open--;
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

/* ------------------------------------------------------------ writing */

static void arm(struct conn *c, uint64_t ms);
static void feed(struct conn *c, const char *p, size_t n);
static int read_on(struct conn *c);

static void on_linger_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
    (void)buf;
    struct conn *c = st->data;
    if (n > 0) {
        c->discarded += (uint64_t)n;
        if (c->discarded <= LINGER_MAX_BYTES) return;
    }
    if (n == 0) return;
    conn_close(c);
}

static void on_alloc(uv_handle_t *hd, size_t hint, uv_buf_t *buf) {
    (void)hint;
    struct conn *c = hd->data;
    *buf = uv_buf_init(c->h->rbuf, sizeof c->h->rbuf);
}

static void on_shutdown(uv_shutdown_t *s, int status) {
    (void)status;
    tr_free(s);
}

/* After the last answer: send FIN, read and drop what the client still
 * sends for a while, then close. Closing at once with unread input would
 * make the kernel send a reset, which can destroy the answer in flight. */
static void linger(struct conn *c) {
    c->phase = P_LINGER;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
    uv_shutdown_t *s = tr_malloc(sizeof *s);
    if (!s || uv_shutdown(s, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        tr_free(s);
        conn_close(c);
        return;
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_linger_read) != 0) {
        conn_close(c);
        return;
    }
    arm(c, LINGER_MS);
}

static void on_written(uv_write_t *w, int status) {
    struct wreq *r = (struct wreq *)w;
    struct conn *c = r->c;
    int last = r->last, interim = r->interim;
    tr_free(r);
    if (status == UV_ECANCELED || c->closed) return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (last) {
        linger(c);
        return;
    }
    if (interim) return;
    /* The answer is out: the next request may begin, first from the bytes
     * that came with the last read. */
    c->phase = P_IDLE;
    arm(c, c->h->o.idle_timeout_ms);
    if (c->pending.len) {
        struct tr_buf in = c->pending;
        tr_buf_init(&c->pending);
        feed(c, in.data, in.len);
        tr_buf_fini(&in);
    }
    if (!c->closed && (c->phase == P_IDLE || c->phase == P_HEAD || c->phase == P_BODY)) read_on(c);
}

static int send_bytes(struct conn *c, const char *p, size_t n, int last, int interim) {
    struct wreq *r = tr_malloc(sizeof *r + n);
    if (!r) return -ENOMEM;
    r->c = c;
    r->last = last;
    r->interim = interim;
    r->len = n;
    memcpy(r->data, p, n);
    uv_buf_t b = uv_buf_init(r->data, (unsigned)n);
    int rc = uv_write(&r->w, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (rc) {
        tr_free(r);
        return rc;
    }
    return 0;
}

/* Write a whole answer; the connection reads nothing until it is out. */
static int answer(struct conn *c, int status, const char *ctype, const char *body, size_t len,
                  const char *extra, int head_only) {
    struct tr_buf out;
    tr_buf_init(&out);
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    int rc = tr_buf_printf(&out, "HTTP/1.1 %d %s\r\ndate: %s\r\n", status, tr_http_reason(status),
                           date);
    if (!rc && ctype) rc = tr_buf_printf(&out, "content-type: %s\r\n", ctype);
    /* 204 and 304 never carry a length; every other answer does, so a
     * keep-alive client knows where it ends. */
    if (!rc && status != 204 && status != 304) rc = tr_buf_printf(&out, "content-length: %zu\r\n", len);
    if (!rc && !c->keep_alive) rc = tr_buf_printf(&out, "connection: close\r\n");
    else if (!rc && c->parser.http_major == 1 && c->parser.http_minor == 0)
        rc = tr_buf_printf(&out, "connection: keep-alive\r\n");
    if (!rc && extra) rc = tr_buf_append(&out, extra, strlen(extra));
    if (!rc) rc = tr_buf_append(&out, "\r\n", 2);
    if (!rc && len && !head_only && status != 204 && status != 304) rc = tr_buf_append(&out, body, len);
    if (!rc) {
        c->phase = P_WRITE;
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = 0;
        }
        arm(c, c->h->o.idle_timeout_ms);
        rc = send_bytes(c, out.data, out.len, !c->keep_alive, 0);
    }
    tr_buf_fini(&out);
    if (rc) conn_close(c);
    return rc;
}

/* Refuse the request being read: an error answer, then close. */
static void reject(struct conn *c, int status, const char *why) {
    struct tr_http *h = c->h;
    char peer[96], body[256];
    h->st.rejected++;
    peer_name(c, peer, sizeof peer);
    tr_log_limited(&h->lim_reject, TR_LOG_WARN, MOD, "refused a request from %s: %d %s (%llu so far)",
                   peer, status, why, (unsigned long long)h->st.rejected);
    int n = snprintf(body, sizeof body, "{\"code\":%d,\"error\":\"%s\"}", status, why);
    c->keep_alive = 0;
    c->pending.len = 0;
    answer(c, status, "application/json", body, (size_t)n, NULL, 0);
}

int tr_http_respond(struct tr_http_req *req, int status, const char *content_type,
                    const char *body, size_t len, const char *extra) {
    struct conn *c = (struct conn *)((char *)req - offsetof(struct conn, req));
    if (c->answered) return -EALREADY;
    c->answered = 1;
    if (c->closed) return TR_ECLOSED;
    return answer(c, status, content_type, body, len, extra, req->head);
}

uint64_t tr_http_defer(struct tr_http_req *req) {
    struct conn *c = (struct conn *)((char *)req - offsetof(struct conn, req));
    if (c->answered || c->closed) return 0;
    if (!c->deferred) {
        c->deferred = 1;
        c->serial = ++c->h->next_serial;
        /* a response that does not come within the idle time is a stall */
        arm(c, c->h->o.idle_timeout_ms);
    }
    return c->serial;
}

/* A walk over the open connections: each holds at most one request, and
 * max_connections bounds them. */
int tr_http_respond_to(struct tr_http *h, uint64_t serial, int status, const char *content_type,
                       const char *body, size_t len, const char *extra) {
    if (!serial) return TR_ENOTFOUND;
    for (struct conn *c = h->conns; c; c = c->next)
        if (c->deferred && c->serial == serial && !c->answered) {
            c->deferred = 0;
            return tr_http_respond(&c->req, status, content_type, body, len, extra);
        }
    return TR_ECLOSED;
}

/* ------------------------------------------------------------ reading */

static void on_timer(uv_timer_t *t) {
    struct conn *c = t->data;
    switch (c->phase) {
    case P_HEAD:
        reject(c, 408, "request headers not complete in time");
        break;
    case P_BODY:
        reject(c, 408, "request body not complete in time");
        break;
    case P_IDLE:
    case P_WRITE:
        c->h->st.timed_out++;
        conn_close(c);
        break;
    case P_LINGER:
        conn_close(c);
        break;
    }
}

static void arm(struct conn *c, uint64_t ms) {
    uv_timer_stop(&c->timer);
    if (ms) uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* What to answer when http_parser stops with e. */
static int status_of(struct conn *c, enum http_errno e, const char **why) {
    if (e >= HPE_CB_message_begin && e <= HPE_CB_chunk_complete && c->reject) {
        *why = c->reject == 413 ? "request body too large"
               : c->reject == 414 ? "request target too long"
               : c->reject == 431 ? "request headers too large"
               : c->reject == 505 ? "HTTP version not supported" : "out of memory";
        return c->reject;
    }
    if (e == HPE_HEADER_OVERFLOW) {
        *why = "request headers too large";
        return 431;
    }
    *why = http_errno_description(e);
    return 400;
}

/* A Content-Length of only digits too large for 64 bits: http_parser calls
 * it invalid, but it is just a body over the bound. The line ends at
 * p[used] (the offending digit), within this chunk. */
static int huge_length(const char *p, size_t used, size_t n) {
    if (used >= n || p[used] < '0' || p[used] > '9') return 0;
    size_t i = used;
    while (i > 0 && p[i - 1] >= '0' && p[i - 1] <= '9') i--;
    while (i > 0 && (p[i - 1] == ' ' || p[i - 1] == '\t')) i--;
    static const char name[] = "content-length:";
    size_t k = sizeof name - 1;
    if (i < k || strncasecmp(p + i - k, name, k) != 0) return 0;
    return i == k || p[i - k - 1] == '\n';
}

static void dispatch(struct conn *c);

static void feed(struct conn *c, const char *p, size_t n) {
    struct tr_http *h = c->h;
    while (n > 0 && !c->closed && (c->phase == P_IDLE || c->phase == P_HEAD || c->phase == P_BODY)) {
        if (c->phase == P_IDLE) {
            c->phase = P_HEAD;
            c->hdr_raw = 0;
            arm(c, h->o.header_timeout_ms);
        }
        size_t k = n;
        if (c->phase == P_HEAD && k > h->o.max_header_bytes - c->hdr_raw + 1)
            k = h->o.max_header_bytes - c->hdr_raw + 1;
        int in_head = c->phase == P_HEAD;
        size_t used = http_parser_execute(&c->parser, &h->settings, p, k);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (in_head && c->phase == P_HEAD) c->hdr_raw += used;
        if (e == HPE_PAUSED) {
            /* on_message_complete paused: one whole request */
            http_parser_pause(&c->parser, 0);
            p += used;
            n -= used;
            if (c->parser.upgrade) {
                /* not HTTP any more after this request: answer it, then close */
                c->keep_alive = 0;
                n = 0;
            }
            if (n) {
                c->pending.len = 0;
                if (tr_buf_append(&c->pending, p, n) != 0) {
                    conn_close(c);
                    return;
                }
                n = 0;
            }
            dispatch(c);
            return;
        }
        if (e != HPE_OK) {
            const char *why;
            int status = status_of(c, e, &why);
            if (e == HPE_INVALID_CONTENT_LENGTH && huge_length(p, used, k)) {
                status = 413;
                why = "request body too large";
            }
            reject(c, status, why);
            return;
        }
        p += used;
        n -= used;
        if (c->phase == P_HEAD && c->hdr_raw > h->o.max_header_bytes) {
            if (!c->url_done) reject(c, 414, "request target too long");
            else reject(c, 431, "request headers too large");
            return;
        }
        if (used < k) {
            /* only after an upgrade: nothing more is HTTP */
            c->keep_alive = 0;
            return;
        }
    }
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
    struct conn *c = st->data;
    if (n > 0) {
        feed(c, buf->base, (size_t)n);
        return;
    }
    if (n == 0) return;
    /* EOF or error: a request not complete is abandoned with its peer */
    conn_close(c);
}

static int read_on(struct conn *c) {
    if (c->reading || c->closed) return 0;
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc) {
        conn_close(c);
        return rc;
    }
    c->reading = 1;
    return 0;
}

/* ------------------------------------------------ http_parser callbacks */

static int text_add(struct conn *c, const char *at, size_t len) {
    size_t max = c->h->o.max_header_bytes;
    if (c->text.len + len > max) {
        c->reject = c->url_done ? 431 : 414;
        return -1;
    }
    if (tr_buf_append(&c->text, at, len) != 0) {
        c->reject = 503;
        return -1;
    }
    return 0;
}

static int end_url(struct conn *c) {
    if (c->url_done) return 0;
    c->url_done = 1;
    c->url_len = c->text.len;
    return tr_buf_putc(&c->text, '\0') ? (c->reject = 503, -1) : 0;
}

static int cb_begin(http_parser *p) {
    struct conn *c = p->data;
    c->text.len = 0;
    c->body.len = 0;
    c->nhdrs = 0;
    c->url_done = c->in_value = 0;
    c->reject = 0;
    c->answered = 0;
    c->keep_alive = 0;
    return 0;
}

static int cb_url(http_parser *p, const char *at, size_t len) {
    return text_add(p->data, at, len);
}

static int cb_field(http_parser *p, const char *at, size_t len) {
    struct conn *c = p->data;
    if (end_url(c)) return -1;
    if (c->in_value || c->nhdrs == 0) {
        if (c->in_value && tr_buf_putc(&c->text, '\0')) return c->reject = 503, -1;
        if (c->nhdrs >= c->h->o.max_headers) {
            c->reject = 431;
            return -1;
        }
        if (tr_grow((void **)&c->hdrs, &c->hcap, c->nhdrs + 1, sizeof *c->hdrs))
            return c->reject = 503, -1;
        c->hdrs[c->nhdrs].name = c->text.len;
        c->hdrs[c->nhdrs].value = 0;
        c->nhdrs++;
        c->in_value = 0;
    }
    return text_add(c, at, len);
}

static int cb_value(http_parser *p, const char *at, size_t len) {
    struct conn *c = p->data;
    if (!c->in_value) {
        if (tr_buf_putc(&c->text, '\0')) return c->reject = 503, -1;
        c->hdrs[c->nhdrs - 1].value = c->text.len;
        c->in_value = 1;
    }
    return text_add(c, at, len);
}

static const char *hdr_get(struct conn *c, const char *name) {
    for (size_t i = c->nhdrs; i-- > 0;)
        if (strcasecmp(c->text.data + c->hdrs[i].name, name) == 0)
            return c->text.data + c->hdrs[i].value;
    return NULL;
}

static int cb_headers_done(http_parser *p) {
    struct conn *c = p->data;
    struct tr_http *h = c->h;
    if (end_url(c)) return -1;
    if (c->nhdrs) {
        if (!c->in_value) {
            /* a field with an empty value: http_parser gave no value bytes */
            if (tr_buf_putc(&c->text, '\0')) return c->reject = 503, -1;
            c->hdrs[c->nhdrs - 1].value = c->text.len;
        }
        if (tr_buf_putc(&c->text, '\0')) return c->reject = 503, -1;
    }
    c->in_value = 0;
    if (p->http_major != 1) {
        c->reject = 505;   /* http_parser takes any digit */
        return -1;
    }
    int has_body = (p->flags & F_CHUNKED) || (p->content_length > 0 && p->content_length != ULLONG_MAX);
    if (!(p->flags & F_CHUNKED) && p->content_length != ULLONG_MAX &&
        p->content_length > h->o.max_body_bytes) {
        c->reject = 413;   /* before a byte of the body is read */
        return -1;
    }
    c->phase = P_BODY;
    arm(c, h->o.body_timeout_ms);
    const char *expect = hdr_get(c, "expect");
    if (has_body && expect && strcasecmp(expect, "100-continue") == 0 && p->http_minor >= 1) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (send_bytes(c, cont, sizeof cont - 1, 0, 1) != 0) return c->reject = 503, -1;
    }
    return 0;
}

static int cb_body(http_parser *p, const char *at, size_t len) {
    struct conn *c = p->data;
    if (c->body.len + len > c->h->o.max_body_bytes) {
        c->reject = 413;
        return -1;
    }
    if (tr_buf_append(&c->body, at, len)) return c->reject = 503, -1;
    return 0;
}

static int cb_message_done(http_parser *p) {
    struct conn *c = p->data;
    c->keep_alive = http_should_keep_alive(p);
    /* one request at a time: the caller answers it before parsing on */
    http_parser_pause(p, 1);
    return 0;
}

/* Hand the request read to the handler. */
static void dispatch(struct conn *c) {
    struct tr_http *h = c->h;
    if (!c->url_done && end_url(c)) {
        reject(c, 503, "out of memory");
        return;
    }
    /* the target split into path and query after the header text; room
     * first, so that copying from the buffer into itself never reallocates */
    size_t qpos = strcspn(c->text.data, "?#");
    size_t qlen = c->text.data[qpos] == '?' ? strcspn(c->text.data + qpos + 1, "#") : 0;
    size_t path_off = c->text.len, query_off = path_off + qpos + 1;
    int rc = tr_buf_reserve(&c->text, qpos + qlen + 2);
    if (!rc) {
        tr_buf_append(&c->text, c->text.data, qpos);
        tr_buf_putc(&c->text, '\0');
        tr_buf_append(&c->text, c->text.data + qpos + 1, qlen);
        tr_buf_putc(&c->text, '\0');
    }
    if (!rc) rc = tr_grow((void **)&c->views, &c->vcap, c->nhdrs + 1, sizeof *c->views);
    if (rc) {
        reject(c, 503, "out of memory");
        return;
    }
    for (size_t i = 0; i < c->nhdrs; i++) {
        c->views[i].name = c->text.data + c->hdrs[i].name;
        c->views[i].value = c->text.data + c->hdrs[i].value;
    }
    struct tr_http_req *r = &c->req;
    memset(r, 0, sizeof *r);
    r->method = http_method_str((enum http_method)c->parser.method);
    r->target = c->text.data;
    r->path = c->text.data + path_off;
    r->query = c->text.data + query_off;
    r->headers = c->views;
    r->nheaders = c->nhdrs;
    r->body = c->body.data ? c->body.data : "";
    r->body_len = c->body.len;
    r->head = c->parser.method == HTTP_HEAD;
    c->answered = 0;
    c->deferred = 0;
    c->phase = P_WRITE;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    h->st.requests++;
    h->fn(h->arg, r);
    if (!c->answered && !c->deferred) {
        static const char body[] = "{\"code\":500,\"error\":\"the request was not answered\"}";
        TR_ERROR(MOD, "%s %s: the handler gave no answer", r->method, r->path);
        tr_http_respond(r, 500, "application/json", body, sizeof body - 1, NULL);
    }
}

/* ------------------------------------------------------------ accepting */

static void on_bare_closed(uv_handle_t *hd) {
    struct tr_http *h = hd->data;
    tr_free(hd);
    h->handles--;
    maybe_done(h);
}

static void on_connection(uv_stream_t *l, int status) {
    struct tr_http *h = l->data;
    if (h->closing) return;
    if (status < 0) {
        tr_log_limited(&h->lim_accept, TR_LOG_WARN, MOD, "accept failed: %s", uv_strerror(status));
        return;
    }
    if (h->st.open >= h->o.max_connections) {
        /* Reset before reading anything: the peer learns at once. */
        h->st.refused++;
        tr_log_limited(&h->lim_refused, TR_LOG_WARN, MOD,
                       "%zu connections open (max_connections), reset a new one (%llu refused so far)",
                       h->st.open, (unsigned long long)h->st.refused);
        uv_tcp_t *t = tr_malloc(sizeof *t);
        if (!t || uv_tcp_init(h->loop, t) != 0) {
            tr_free(t);
            tr_log_limited(&h->lim_accept, TR_LOG_ERROR, MOD, "cannot take a connection: out of memory");
            return;
        }
        t->data = h;
        h->handles++;
        if (uv_accept(l, (uv_stream_t *)t) != 0 || uv_tcp_close_reset(t, on_bare_closed) != 0)
            uv_close((uv_handle_t *)t, on_bare_closed);
        return;
    }
    struct conn *c = tr_calloc(1, sizeof *c);
    if (!c || uv_tcp_init(h->loop, &c->tcp) != 0) {
        tr_free(c);
        tr_log_limited(&h->lim_accept, TR_LOG_ERROR, MOD, "cannot take a connection: out of memory");
        return;
    }
    uv_timer_init(h->loop, &c->timer);
    c->h = h;
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    tr_buf_init(&c->text);
    tr_buf_init(&c->body);
    tr_buf_init(&c->pending);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    h->handles++;
    c->next = h->conns;
    if (h->conns) h->conns->prev = c;
    h->conns = c;
    h->st.open++;
    h->st.accepted++;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->phase = P_IDLE;
    arm(c, h->o.idle_timeout_ms);
    read_on(c);
}

static void on_listener_closed(uv_handle_t *hd) {
    struct tr_http *h = hd->data;
    h->handles--;
    maybe_done(h);
}

int tr_http_open(uv_loop_t *loop, const struct sockaddr *addr, const struct tr_http_opts *opts,
                 tr_http_handler_fn fn, void *arg, struct tr_http **out, struct tr_diag *d) {
    *out = NULL;
    char name[80] = "?";
    if (addr->sa_family == AF_INET6) {
        char ip[64];
        uv_ip6_name((const struct sockaddr_in6 *)addr, ip, sizeof ip);
        snprintf(name, sizeof name, "[%s]:%d", ip, ntohs(((const struct sockaddr_in6 *)addr)->sin6_port));
    } else if (addr->sa_family == AF_INET) {
        char ip[64];
        uv_ip4_name((const struct sockaddr_in *)addr, ip, sizeof ip);
        snprintf(name, sizeof name, "%s:%d", ip, ntohs(((const struct sockaddr_in *)addr)->sin_port));
    }
    if (opts->max_header_bytes < 64 || opts->max_header_bytes > TR_HTTP_MAX_HEADER_LIMIT ||
        opts->max_headers < 1 || opts->max_connections < 1)
        return tr_diag_set(d, TR_EINVAL_CFG, NULL, 0, 0,
                           "api: max_header_bytes must be 64..%d, max_headers and max_connections at least 1",
                           TR_HTTP_MAX_HEADER_LIMIT);
    struct tr_http *h = tr_calloc(1, sizeof *h);
    if (!h) return tr_diag_set(d, -ENOMEM, NULL, 0, 0, "api: out of memory");
    h->loop = loop;
    h->o = *opts;
    h->fn = fn;
    h->arg = arg;
    http_parser_settings_init(&h->settings);
    h->settings.on_message_begin = cb_begin;
    h->settings.on_url = cb_url;
    h->settings.on_header_field = cb_field;
    h->settings.on_header_value = cb_value;
    h->settings.on_headers_complete = cb_headers_done;
    h->settings.on_body = cb_body;
    h->settings.on_message_complete = cb_message_done;
    int rc = uv_tcp_init(loop, &h->listener);
    if (rc) {
        tr_free(h);
        return tr_diag_set(d, rc, NULL, 0, 0, "api: %s", uv_strerror(rc));
    }
    h->listener.data = h;
    h->handles = 1;
    rc = uv_tcp_bind(&h->listener, addr, 0);
    if (!rc) rc = uv_listen((uv_stream_t *)&h->listener, BACKLOG, on_connection);
    if (rc) {
        tr_diag_set(d, rc, NULL, 0, 0, "api: cannot listen on %s: %s", name, uv_strerror(rc));
        /* closed and freed from the loop; nothing calls back */
        h->closing = 1;
        uv_close((uv_handle_t *)&h->listener, on_listener_closed);
        return rc;
    }
    *out = h;
    return 0;
}

void tr_http_close(struct tr_http *h, void (*done)(void *), void *arg) {
    if (!h || h->closing) return;
    h->closing = 1;
    h->done = done;
    h->done_arg = arg;
    tr_log_limit_flush(&h->lim_refused);
    tr_log_limit_flush(&h->lim_reject);
    tr_log_limit_flush(&h->lim_accept);
    while (h->conns) conn_close(h->conns);
    uv_close((uv_handle_t *)&h->listener, on_listener_closed);
}
