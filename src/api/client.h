/* client.h - a small blocking HTTP/1.1 client for `tremor api`: one
 * request per connection (Connection: close), plain TCP, no redirects, no
 * TLS, as the REST API it talks to has none.
 *
 * Bounds: the answer's status line and headers within 64 KiB, its body
 * within TR_API_CLIENT_MAX_BODY; connect, send and every read within
 * timeout_ms. Not for use on a loop thread (it blocks).
 */
#ifndef TR_API_CLIENT_H
#define TR_API_CLIENT_H

#include <stddef.h>

struct tr_diag;

#define TR_API_CLIENT_MAX_BODY (64u * 1024 * 1024)

struct tr_api_response {
    int status;                  /* 200, 404, ... */
    char content_type[128];      /* "" when absent */
    char *body;                  /* NUL-terminated; tr_free it (tr_api_response_fini) */
    size_t body_len;
};

/* method path on hostport ("127.0.0.1:9898", "[::1]:9898", "localhost:9898").
 * ctype and accept may be NULL (header left out); body may be NULL (none).
 * Errors: TR_EPARSE (bad hostport, malformed answer), -errno of the
 * socket calls (-ECONNREFUSED, -ETIMEDOUT ...), TR_ETOOBIG, -ENOMEM; d says
 * what and where. *out is filled only on success. */
int tr_api_client_request(const char *hostport, const char *method, const char *path,
                          const char *ctype, const char *accept, const char *body, size_t len,
                          unsigned timeout_ms, struct tr_api_response *out, struct tr_diag *d);

/* The answer in buf[0..len) as the request reads it (for tests and
 * fuzzing): the same errors and *out. */
int tr_api_client_parse(const char *buf, size_t len, struct tr_api_response *out, struct tr_diag *d);

void tr_api_response_fini(struct tr_api_response *r);

#endif
