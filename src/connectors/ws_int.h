/* ws_int.h - pieces shared by the ws offramp (client) and ws onramp (server).
 *
 * Not a public API: only src/connectors/ws_*.c and their unit tests include
 * it; the runtime sees the connectors through tr_ws_offramp / tr_ws_onramp.
 * Here: URL parsing, the HTTP/1.1 upgrade handshake (RFC 6455 section 4),
 * UTF-8 validation, and the byte hand-over to wslay that both ends use
 * (TLS is connectors/tls.h, shared with the tcp onramp). Nothing here
 * blocks or touches a socket; everything is plain functions over buffers.
 */
#ifndef TR_WS_INT_H
#define TR_WS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <wslay/wslay.h>

#include "core/buf.h"
#include "core/error.h"

/* ------------------------------------------------------------- wslay I/O */

/* What a connection read and wslay has not taken yet, and the frames wslay
 * wrote that are not on their way to the socket yet. */
struct tr_ws_io {
    const uint8_t *in;   /* the rest of the last read (not owned) */
    size_t in_len;
    size_t slice;        /* what wslay may still take in this pass */
    struct tr_buf out;   /* wslay's output, for the connection to flush */
};

/* The bodies of wslay's recv and send callbacks. recv hands over at most
 * io->slice bytes and answers WSLAY_ERR_WOULDBLOCK when hold is set (the
 * connection is paused or failing: the bytes stay where they are) or
 * nothing is left; send appends to io->out (WSLAY_ERR_CALLBACK_FAILURE
 * when out of memory). */
ssize_t tr_ws_io_recv(wslay_event_context_ptr ctx, struct tr_ws_io *io, uint8_t *buf, size_t len,
                      bool hold);
ssize_t tr_ws_io_send(wslay_event_context_ptr ctx, struct tr_ws_io *io, const uint8_t *data,
                      size_t len);

/* ------------------------------------------------------------------ URL */

#define TR_WS_URL_MAX 2048   /* longest url accepted */

struct tr_ws_url {
    bool tls;          /* wss:// */
    char *host;        /* name or address literal, IPv6 without brackets */
    uint16_t port;     /* explicit or the scheme's default (80 / 443) */
    char *path;        /* request target: "/" when empty, query kept */
    char *authority;   /* Host header value: host[:port], [v6][:port] */
};

/* Parse "ws[s]://host[:port][/path][?query]" (scheme case-insensitive,
 * IPv6 literal in brackets). Userinfo and fragments are refused (RFC 6455
 * 3). Returns 0 and fills u (free with tr_ws_url_fini), TR_EPARSE with d
 * saying what is wrong, or -ENOMEM. u is zeroed on failure. */
int tr_ws_url_parse(const char *s, struct tr_ws_url *u, struct tr_diag *d);
void tr_ws_url_fini(struct tr_ws_url *u);

/* ------------------------------------------------------------ handshake */

#define TR_WS_HEAD_MAX 8192      /* bytes of an HTTP head before it is refused */
#define TR_WS_KEY_LEN 24         /* base64 of 16 bytes */
#define TR_WS_ACCEPT_LEN 28      /* base64 of a SHA-1 digest */

/* A fresh random Sec-WebSocket-Key (NUL-terminated). 0 or TR_ERUNTIME
 * when the random generator fails. */
int tr_ws_key_make(char out[TR_WS_KEY_LEN + 1]);
/* base64(SHA-1(key + the RFC 6455 GUID)), NUL-terminated. */
void tr_ws_accept_key(const char *key, size_t klen, char out[TR_WS_ACCEPT_LEN + 1]);

/* Append the client's upgrade request for u with key. 0 or -ENOMEM. */
int tr_ws_request_build(struct tr_buf *b, const struct tr_ws_url *u, const char *key);
/* The same, offering subprotocol proto (NULL: none). */
int tr_ws_request_build_proto(struct tr_buf *b, const struct tr_ws_url *u, const char *key,
                              const char *proto);
/* Append the server's 101 answer for a request that carried key. */
int tr_ws_response_build(struct tr_buf *b, const char *key);
/* The same, choosing subprotocol proto (NULL: none). */
int tr_ws_response_build_proto(struct tr_buf *b, const char *key, const char *proto);
/* Append a refusal (status 400 or 426; 426 names the version we speak);
 * the connection is closed after it is written. */
int tr_ws_reject_build(struct tr_buf *b, int status);

/* Collects an HTTP head (request or status line plus headers) that may
 * arrive split over any number of reads. */
struct tr_ws_head {
    size_t len;
    bool done;
    char buf[TR_WS_HEAD_MAX + 1];   /* +1: a NUL after the head */
};

void tr_ws_head_init(struct tr_ws_head *h);
/* Take bytes of data until the blank line that ends the head. Returns 1
 * when the head is complete (then *used bytes of data were taken and the
 * rest already belongs to the WebSocket stream), 0 when more is needed
 * (all of data taken), TR_ETOOBIG when the head exceeds TR_WS_HEAD_MAX. */
int tr_ws_head_feed(struct tr_ws_head *h, const void *data, size_t len, size_t *used);

/* What a server needs from a valid upgrade request. */
struct tr_ws_request {
    char key[TR_WS_KEY_LEN + 1];
    bool hop;   /* the client offered TR_HOP_PROTOCOL (connectors/hop.h) */
};

/* Check a complete request head. Returns 0 and fills r, or TR_EPARSE with
 * *status set to the HTTP status to answer (400, or 426 for a version other
 * than 13) and d saying why. */
int tr_ws_request_parse(const struct tr_ws_head *h, struct tr_ws_request *r, int *status,
                        struct tr_diag *d);
/* Check a complete response head against the key we sent: 101, Upgrade,
 * Connection and the matching Sec-WebSocket-Accept; no extension or
 * subprotocol we did not ask for. 0 or TR_EPARSE with d saying why. */
int tr_ws_response_check(const struct tr_ws_head *h, const char *key, struct tr_diag *d);
/* The same, but with proto (not NULL) the server must have chosen exactly
 * that subprotocol. */
int tr_ws_response_check_proto(const struct tr_ws_head *h, const char *key, const char *proto,
                               struct tr_diag *d);

/* ---------------------------------------------------------------- UTF-8 */


/* --------------------------------------------------------------- tests */

/* The port a ws onramp listens on (0 before start). For tests that bind
 * port 0 and need the ephemeral port the kernel chose. */
uint16_t tr_ws_onramp_port(void *self);

#endif
