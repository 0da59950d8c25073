/* status.h - operating routes beyond 0.11 (which has none, see the
 * reference's "no health API"): GET /ready, GET /status and GET /metrics.
 *
 *   /ready    200 {"ready":true} when the world runs, every mapping is
 *             deployed, every instance started and no offramp's breaker is
 *             open; else 503 {"ready":false,"not_ready":[what and why]}.
 *   /status   200 the world's counters as JSON (or YAML by Accept): per
 *             onramp, offramp and pipeline instance, plus the API's own.
 *   /metrics  200 the same counters in Prometheus' text format 0.0.4.
 *
 * Counters are cumulative from the server's start; a retired instance's
 * counters leave with it. Threading: the loop's thread only.
 */
#ifndef TR_API_STATUS_H
#define TR_API_STATUS_H

struct tr_router;
struct tr_world;
struct tr_api;

/* Add the routes to r; w and a outlive r. -ENOMEM, TR_EPARSE (router). */
int tr_api_status_routes(struct tr_router *r, struct tr_world *w, struct tr_api *a);

#endif
