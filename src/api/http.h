/* http.h - a bounded HTTP/1.1 server on a libuv loop (the REST API's
 * transport). Requests are parsed with http_parser (libhttp-parser); the
 * sockets, buffers, timers and every bound are ours.
 *
 * Not a general web server: no TLS, no upgrades (an Upgrade or CONNECT
 * request is answered, then the connection is closed), no response
 * streaming. Each connection handles one request at a time: pipelined
 * requests wait in the socket until the previous response is written, so
 * they are answered in order and a client that never reads its responses
 * holds at most one of them.
 *
 * Bounds (struct tr_http_opts), each answered as HTTP says and followed by
 * closing the connection: request line + headers over max_header_bytes or
 * more than max_headers fields -> 431; a Content-Length over max_body_bytes
 * -> 413 before any of the body is read (a chunked body: as soon as it
 * passes the bound); malformed -> 400; headers not complete within
 * header_timeout_ms of the request's first byte, or a body not complete
 * within body_timeout_ms of its headers -> 408. A connection with no request
 * under way for idle_timeout_ms is closed silently, as is one whose response
 * is not taken within idle_timeout_ms. Past max_connections a new connection
 * is reset at once, counted and logged through a rate limiter.
 *
 * Threading: everything runs on the loop given at open; no locks.
 */
#ifndef TR_API_HTTP_H
#define TR_API_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct tr_diag;

struct tr_http_opts {
    size_t max_header_bytes;     /* request line + header fields; <= TR_HTTP_MAX_HEADER_LIMIT */
    uint32_t max_headers;        /* header fields per request */
    uint64_t max_body_bytes;     /* body after de-chunking */
    uint64_t idle_timeout_ms;    /* keep-alive wait for the next request; a stalled response */
    uint64_t header_timeout_ms;  /* first byte of a request -> end of its headers */
    uint64_t body_timeout_ms;    /* end of the headers -> end of the body */
    uint32_t max_connections;    /* open at once; more are reset */
};

/* libhttp-parser's own header bound is 80 KiB (compiled in, process-wide);
 * ours stays below it so ours is the one that answers. */
#define TR_HTTP_MAX_HEADER_LIMIT 65536

/* 16 KiB of headers, 100 fields, 1 MiB of body, 30 s idle, 10 s for the
 * headers, 30 s for the body, 256 connections. */
void tr_http_opts_default(struct tr_http_opts *o);

/* What a handler sees. Every pointer is valid until the handler returns. Names and values are
 * NUL-terminated; header names keep the client's case. */
struct tr_http_header {
    const char *name;
    const char *value;
};

struct tr_http_req {
    const char *method;          /* "GET", "POST", ... */
    const char *target;          /* the request target as sent */
    const char *path;            /* the target without query and fragment, still %-encoded */
    const char *query;           /* after '?', or "" */
    const struct tr_http_header *headers;
    size_t nheaders;
    const char *body;            /* NUL-terminated for convenience; may contain NULs */
    size_t body_len;
    int head;                    /* a HEAD request: the response body is not sent */
};

/* Called once per complete request on the loop. The handler answers it with
 * tr_http_respond before it returns (a handler that does not gets a 500
 * sent for it), or calls tr_http_defer and answers later from the loop with
 * tr_http_respond_to. */
typedef void (*tr_http_handler_fn)(void *arg, struct tr_http_req *req);

struct tr_http;

/* Bind and listen on addr (IPv4 or IPv6) with the handler. Errors: -errno
 * of bind/listen (-EADDRINUSE for a taken port) with d saying which
 * address; -ENOMEM. On error nothing is left open and *out is NULL. */
int tr_http_open(uv_loop_t *loop, const struct sockaddr *addr, const struct tr_http_opts *opts,
                 tr_http_handler_fn fn, void *arg, struct tr_http **out, struct tr_diag *d);

/* The bound port (useful after binding port 0), or a negative error code. */
int tr_http_port(const struct tr_http *h);

/* Answer req. content_type may be NULL (no body expected: 204); extra is
 * NULL or more header lines, each ending in "\r\n" (e.g. "allow: GET\r\n").
 * Copies body. Returns 0; -ENOMEM (the connection is then closed);
 * -EALREADY for a second answer to the same request (ignored). */
int tr_http_respond(struct tr_http_req *req, int status, const char *content_type,
                    const char *body, size_t len, const char *extra);

/* The handler will answer req later (a linked transport waits for its
 * pipeline). Returns the request's serial (> 0), which outlives req: the
 * connection may close meanwhile (peer gone, or no answer within
 * idle_timeout_ms: closed silently), and an answer to it is then refused.
 * 0 when req was answered already or its connection is gone. */
uint64_t tr_http_defer(struct tr_http_req *req);

/* Answer the deferred request `serial` as tr_http_respond does. Returns 0;
 * TR_ECLOSED when its connection is gone or it was answered already;
 * TR_ENOTFOUND for serial 0; -ENOMEM. */
int tr_http_respond_to(struct tr_http *h, uint64_t serial, int status, const char *content_type,
                       const char *body, size_t len, const char *extra);

/* Counters, for tests and logs. */
struct tr_http_stats {
    uint64_t accepted;       /* connections taken */
    uint64_t refused;        /* reset for max_connections */
    uint64_t requests;       /* handed to the handler */
    uint64_t rejected;       /* answered 4xx by this layer (400, 408, 413, 431) */
    uint64_t timed_out;      /* idle or stalled connections closed */
    size_t open;             /* connections open now */
};
void tr_http_stats(const struct tr_http *h, struct tr_http_stats *out);

/* Stop listening, close every connection (answers still unwritten are
 * dropped), free everything, then call done(arg) from the loop (done may be
 * NULL).
 * h NULL: nothing to do (done is not called). */
void tr_http_close(struct tr_http *h, void (*done)(void *), void *arg);

/* "Not Found" for 404, and so on; "Unknown" for codes we never send. */
const char *tr_http_reason(int status);

#endif
