/* api.c - the REST API's routes and handlers (0.11: tremor-cli/src/server.rs
 * api_server and the handlers in tremor-api/src/api/). /version and
 * /health are here; the artefact routes are in artefacts.c, /ready,
 * /status and /metrics in status.c. Handlers answer before they return
 * (api/http.h).
 */
#include "api/api.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/artefacts.h"
#include "api/reply.h"
#include "api/router.h"
#include "api/status.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"

#define MOD "api"

struct tr_api {
    char *version;
    struct tr_router *router;
    struct tr_http *http;
    void (*done)(void *);
    void *done_arg;
};

/* 0.11 reports whether it is a debug build (Rust's debug_assertions); ours
 * is: built without optimisation. */
#ifdef __OPTIMIZE__
#define BUILD_DEBUG 0
#else
#define BUILD_DEBUG 1
#endif

static void get_version(void *arg, struct tr_http_req *req, const struct tr_route_params *pp) {
    struct tr_api *a = arg;
    (void)pp;
    tr_value rec = tr_v_null(), ver = tr_v_null();
    int rc = tr_v_rec(2, &rec);
    if (!rc) rc = tr_v_cstr(a->version, &ver);
    if (!rc) rc = tr_rec_set(&rec, "version", 7, ver), ver = tr_v_null();
    if (!rc) rc = tr_rec_set(&rec, "debug", 5, tr_v_bool(BUILD_DEBUG));
    if (rc) tr_api_error(req, 500, "out of memory");
    else tr_api_reply(req, 200, &rec);
    tr_value_unref(ver);
    tr_value_unref(rec);
}

static void get_health(void *arg, struct tr_http_req *req, const struct tr_route_params *pp) {
    (void)arg;
    (void)pp;
    tr_value rec = tr_v_null(), ok = tr_v_null();
    int rc = tr_v_rec(1, &rec);
    if (!rc) rc = tr_v_cstr("ok", &ok);
    if (!rc) rc = tr_rec_set(&rec, "status", 6, ok), ok = tr_v_null();
    if (rc) tr_api_error(req, 500, "out of memory");
    else tr_api_reply(req, 200, &rec);
    tr_value_unref(ok);
    tr_value_unref(rec);
}

int tr_api_parse_host(const char *hostport, struct sockaddr_storage *out, struct tr_diag *d) {
    memset(out, 0, sizeof *out);
    const char *colon = strrchr(hostport, ':');
    if (!colon || colon == hostport)
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "--api-host '%.100s': expected HOST:PORT", hostport);
    char host[256];
    size_t hlen = (size_t)(colon - hostport);
    const char *h = hostport;
    if (h[0] == '[') {
        if (hlen < 3 || h[hlen - 1] != ']')
            return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "--api-host '%.100s': expected [IPv6]:PORT", hostport);
        h++;
        hlen -= 2;
    }
    if (hlen >= sizeof host)
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "--api-host: host name too long");
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || port > 65535 || colon[1] == '-' || colon[1] == '+')
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "--api-host '%.100s': the port must be 0..65535",
                           hostport);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int g = getaddrinfo(host, colon + 1, &hints, &ai);
    if (g != 0 || !ai)
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "--api-host '%.100s': %s", hostport,
                           g ? gai_strerror(g) : "no address");
    memcpy(out, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return 0;
}

int tr_api_open(uv_loop_t *loop, const char *hostport, const char *version, struct tr_world *w,
                struct tr_api_state *st, const struct tr_http_opts *opts, struct tr_api **out,
                struct tr_diag *d) {
    *out = NULL;
    struct sockaddr_storage ss;
    int rc = tr_api_parse_host(hostport, &ss, d);
    if (rc) return rc;
    struct tr_http_opts def;
    if (!opts) {
        tr_http_opts_default(&def);
        opts = &def;
    }
    struct tr_api *a = tr_calloc(1, sizeof *a);
    if (!a) return tr_diag_set(d, -ENOMEM, NULL, 0, 0, "api: out of memory");
    a->version = tr_strdup(version);
    rc = a->version ? tr_router_create(&a->router) : -ENOMEM;
    if (!rc) rc = tr_router_add(a->router, "GET", "/version", get_version, a);
    if (!rc) rc = tr_router_add(a->router, "GET", "/health", get_health, a);
    if (!rc && w) rc = tr_api_artefact_routes(a->router, w, st);
    if (!rc && w) rc = tr_api_status_routes(a->router, w, a);
    if (rc) {
        tr_diag_set(d, rc, NULL, 0, 0, "api: cannot build the routes: %s", tr_strerror(rc));
    } else {
        rc = tr_http_open(loop, (struct sockaddr *)&ss, opts, tr_router_dispatch, a->router, &a->http, d);
    }
    if (rc) {
        tr_router_destroy(a->router);
        tr_free(a->version);
        tr_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

int tr_api_port(const struct tr_api *a) { return tr_http_port(a->http); }

void tr_api_stats(const struct tr_api *a, struct tr_http_stats *out) { tr_http_stats(a->http, out); }

static void on_http_closed(void *arg) {
    struct tr_api *a = arg;
    void (*done)(void *) = a->done;
    void *darg = a->done_arg;
    tr_router_destroy(a->router);
    tr_free(a->version);
    tr_free(a);
    if (done) done(darg);
}

void tr_api_close(struct tr_api *a, void (*done)(void *), void *arg) {
    if (!a) return;
    a->done = done;
    a->done_arg = arg;
    tr_http_close(a->http, on_http_closed, a);
}
