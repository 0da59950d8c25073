/* api.h - Tremor 0.11's REST API on the server's loop: the routes, their
 * handlers and the listener (api/http.h), opened by `tremor server run`.
 *
 * GET /version (0.11: {"version","debug"}), GET /health (beyond 0.11:
 * {"status":"ok"} while the loop runs), 0.11's artefact routes
 * (api/artefacts.h) and, beyond 0.11, /ready, /status and /metrics
 * (api/status.h). No authentication and no TLS, as in 0.11; hence the
 * default address is loopback only.
 *
 * Threading: the loop's thread only.
 */
#ifndef TR_API_API_H
#define TR_API_API_H

#include <uv.h>

#include <sys/socket.h>

#include "api/http.h"

#define TR_API_DEFAULT_HOST "127.0.0.1:9898"

struct tr_api;
struct tr_api_state;
struct tr_diag;
struct tr_world;

/* Parse "HOST:PORT" ("127.0.0.1:9898", "[::1]:9898", "localhost:0"; a name
 * is resolved now and may block briefly) into *out. TR_EPARSE with d saying
 * what is wrong. */
int tr_api_parse_host(const char *hostport, struct sockaddr_storage *out, struct tr_diag *d);

/* Listen on hostport with opts (NULL: tr_http_opts_default); version is
 * what GET /version reports (copied). w serves the artefact and status
 * routes and must outlive the API; NULL leaves them out (404). st (may be
 * NULL: changes are not kept) records the artefact routes' changes
 * durably (api/state.h) and must outlive the API too. Errors: those of tr_api_parse_host
 * and tr_http_open (-EADDRINUSE: the port is taken), with d filled; *out
 * NULL then. */
int tr_api_open(uv_loop_t *loop, const char *hostport, const char *version, struct tr_world *w,
                struct tr_api_state *st, const struct tr_http_opts *opts, struct tr_api **out,
                struct tr_diag *d);

/* The bound port. */
int tr_api_port(const struct tr_api *a);

/* The HTTP layer's counters (connections, refusals, requests). */
void tr_api_stats(const struct tr_api *a, struct tr_http_stats *out);

/* Stop serving, close connections, free; done(arg) from the loop when
 * everything is closed (done may be NULL). a NULL: no-op. */
void tr_api_close(struct tr_api *a, void (*done)(void *), void *arg);

#endif
