/* router.h - method + path pattern -> handler, for the REST API.
 *
 * Patterns are literal segments and {name} segments ("/binding/{id}/{inst}");
 * a {name} matches one non-empty segment, handed to the handler
 * %-decoded. Matching is exact (no prefixes, a trailing '/' is another
 * path). A path no pattern matches is answered 404; a path that matches
 * with another method 405 with an "allow" header listing the methods it
 * takes. HEAD is served by a GET route (the body is left out), as in
 * Tremor 0.11's server (tide). Error answers go through api/reply.h, so
 * they follow the request's Accept header.
 *
 * Not thread-safe; routes are added before the server opens and are fixed
 * from then on.
 */
#ifndef TR_API_ROUTER_H
#define TR_API_ROUTER_H

#include <stddef.h>

#include "api/http.h"

#define TR_ROUTER_MAX_PARAMS 4
#define TR_ROUTER_MAX_SEGMENTS 8

struct tr_route_params {
    size_t n;
    const char *name[TR_ROUTER_MAX_PARAMS];   /* as in the pattern, without braces */
    const char *value[TR_ROUTER_MAX_PARAMS];  /* %-decoded, NUL-terminated */
};

/* Answers req (tr_http_respond, or api/reply.h) before it returns. */
typedef void (*tr_route_fn)(void *arg, struct tr_http_req *req, const struct tr_route_params *params);

struct tr_router;

int tr_router_create(struct tr_router **out);   /* -ENOMEM; *out NULL then */
void tr_router_destroy(struct tr_router *r);    /* NULL: no-op */

/* Add a route. method is upper case ("GET"); pattern starts with '/'.
 * Errors: TR_EPARSE for a bad pattern (empty segment, unbalanced braces,
 * more than TR_ROUTER_MAX_SEGMENTS segments or TR_ROUTER_MAX_PARAMS
 * parameters), -ENOMEM. The strings are copied. */
int tr_router_add(struct tr_router *r, const char *method, const char *pattern, tr_route_fn fn,
                  void *arg);

/* size zeroed bytes that live as long as r, for a handler's arg; NULL
 * when out of memory. */
void *tr_router_arg(struct tr_router *r, size_t size);

/* Find the route of req and call it, or answer 404/405 (400 for a path
 * with a bad %-escape). Usable as a tr_http_handler_fn with r as arg. */
void tr_router_dispatch(void *r, struct tr_http_req *req);

#endif
