/* router.c - the REST API's route table: a list searched in order (a few
 * dozen routes; a trie would buy nothing). Segments of the request path
 * are split and %-decoded into a per-call buffer bounded by the path's own
 * length, so nothing here grows with input beyond what http.c admitted.
 */
#include "api/router.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/reply.h"
#include "core/alloc.h"
#include "core/error.h"

struct route {
    char *method;
    char *pattern;
    size_t nseg;
    char *seg[TR_ROUTER_MAX_SEGMENTS];    /* into pattern; "{x}" kept with braces */
    tr_route_fn fn;
    void *arg;
};

struct tr_router {
    struct route *routes;
    size_t n, cap;
    void **args;                          /* tr_router_arg's blocks */
    size_t nargs, args_cap;
};

int tr_router_create(struct tr_router **out) {
    *out = tr_calloc(1, sizeof **out);
    return *out ? 0 : -ENOMEM;
}

void tr_router_destroy(struct tr_router *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) {
        tr_free(r->routes[i].method);
        tr_free(r->routes[i].pattern);
    }
    tr_free(r->routes);
    for (size_t i = 0; i < r->nargs; i++) tr_free(r->args[i]);
    tr_free(r->args);
    tr_free(r);
}

void *tr_router_arg(struct tr_router *r, size_t size) {
    if (tr_grow((void **)&r->args, &r->args_cap, r->nargs + 1, sizeof *r->args)) return NULL;
    void *p = tr_calloc(1, size);
    if (p) r->args[r->nargs++] = p;
    return p;
}

static int is_param(const char *seg) {
    size_t n = strlen(seg);
    return n >= 3 && seg[0] == '{' && seg[n - 1] == '}';
}

int tr_router_add(struct tr_router *r, const char *method, const char *pattern, tr_route_fn fn,
                  void *arg) {
    if (pattern[0] != '/') return TR_EPARSE;
    struct route rt;
    memset(&rt, 0, sizeof rt);
    rt.fn = fn;
    rt.arg = arg;
    rt.method = tr_strdup(method);
    rt.pattern = tr_strdup(pattern);
    if (!rt.method || !rt.pattern) goto nomem;
    size_t params = 0;
    char *p = rt.pattern + 1;
    if (*p) {
        for (;;) {
            char *end = strchr(p, '/');
            if (end) *end = '\0';
            int braces = strchr(p, '{') || strchr(p, '}');
            if (!*p || rt.nseg == TR_ROUTER_MAX_SEGMENTS || (braces && !is_param(p)) ||
                (braces && strpbrk(p + 1, "{}") != p + strlen(p) - 1) ||
                (is_param(p) && ++params > TR_ROUTER_MAX_PARAMS)) {
                tr_free(rt.method);
                tr_free(rt.pattern);
                return TR_EPARSE;
            }
            rt.seg[rt.nseg++] = p;
            if (!end) break;
            p = end + 1;
        }
    }
    if (tr_grow((void **)&r->routes, &r->cap, r->n + 1, sizeof *r->routes)) goto nomem;
    r->routes[r->n++] = rt;
    return 0;
nomem:
    tr_free(rt.method);
    tr_free(rt.pattern);
    return -ENOMEM;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode in place; 0, or TR_EPARSE for a bad escape or an encoded NUL. */
static int pct_decode(char *s) {
    char *w = s;
    for (char *p = s; *p; p++) {
        if (*p != '%') {
            *w++ = *p;
            continue;
        }
        int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return TR_EPARSE;
        *w++ = (char)(hi * 16 + lo);
        p += 2;
    }
    *w = '\0';
    return 0;
}

static int match(const struct route *rt, char **seg, size_t nseg, struct tr_route_params *pp) {
    if (rt->nseg != nseg) return 0;
    pp->n = 0;
    for (size_t i = 0; i < nseg; i++) {
        if (is_param(rt->seg[i])) {
            pp->name[pp->n] = rt->seg[i];
            pp->value[pp->n++] = seg[i];
        } else if (strcmp(rt->seg[i], seg[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

void tr_router_dispatch(void *arg, struct tr_http_req *req) {
    struct tr_router *r = arg;
    size_t plen = strlen(req->path);
    /* segments are split from a copy; too many of them matches nothing */
    char *copy = tr_malloc(plen + 1);
    if (!copy) {
        tr_api_error(req, 500, "out of memory");
        return;
    }
    memcpy(copy, req->path, plen + 1);
    char *seg[TR_ROUTER_MAX_SEGMENTS];
    size_t nseg = 0;
    int fits = copy[0] == '/';
    if (fits && copy[1]) {
        for (char *p = copy + 1;;) {
            char *end = strchr(p, '/');
            if (end) *end = '\0';
            if (!*p || nseg == TR_ROUTER_MAX_SEGMENTS) {
                fits = 0;
                break;
            }
            seg[nseg++] = p;
            if (!end) break;
            p = end + 1;
        }
    }
    for (size_t i = 0; fits && i < nseg; i++) {
        if (pct_decode(seg[i]) != 0) {
            tr_free(copy);
            tr_api_error(req, 400, "bad %%-escape in the request path");
            return;
        }
    }
    const char *method = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;
    struct tr_route_params pp;
    char allow[128];
    size_t alen = 0;
    allow[0] = '\0';
    for (size_t i = 0; fits && i < r->n; i++) {
        const struct route *rt = &r->routes[i];
        if (!match(rt, seg, nseg, &pp)) continue;
        if (strcmp(rt->method, method) == 0) {
            rt->fn(rt->arg, req, &pp);
            tr_free(copy);
            return;
        }
        size_t ml = strlen(rt->method);
        if (!strstr(allow, rt->method) && alen + ml + 3 < sizeof allow) {
            if (alen) {
                memcpy(allow + alen, ", ", 2);
                alen += 2;
            }
            memcpy(allow + alen, rt->method, ml + 1);
            alen += ml;
        }
    }
    tr_free(copy);
    if (!alen) {
        tr_api_error(req, 404, "no such path: %.200s", req->path);
        return;
    }
    char extra[160];
    snprintf(extra, sizeof extra, "allow: %s%s\r\n", allow, strstr(allow, "GET") ? ", HEAD" : "");
    tr_api_error_extra(req, 405, extra, "method %s not allowed on %.200s (allowed: %s)", req->method,
                       req->path, allow);
}
