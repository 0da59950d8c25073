/* artefacts.h - the REST API's artefact routes (0.11: tremor-api/src/api/
 * onramp.rs, offramp.rs, pipeline.rs, binding.rs), backed by the world's
 * publish/bind/unbind/unpublish calls, which run on the loop between
 * events, so a change takes effect while the server runs.
 *
 *   GET    /{kind}                  200 [ids]
 *   POST   /{kind}                  201 the artefact; 409 the id exists;
 *                                   400 bad body; 415 no/unknown content type
 *   GET    /{kind}/{id}             200 {artefact, instances} (pipelines: the
 *                                   source; trickle Accept adds "# Instances:")
 *   DELETE /{kind}/{id}             200 the artefact; 409 instances exist
 *   GET    /binding/{id}/{inst}     200 the binding with placeholders filled
 *   POST   /binding/{id}/{inst}     201 the same, deployed (body: mapping)
 *   DELETE /binding/{id}/{inst}     204, undeployed
 *
 * Not done (0.11 does it): with -d, 0.11 writes the published config to
 * config_<ns>.yaml after every change; we keep changes in memory only.
 * Threading: the loop's thread only.
 */
#ifndef TR_API_ARTEFACTS_H
#define TR_API_ARTEFACTS_H

struct tr_router;
struct tr_world;

/* Add the routes to r; w outlives r. -ENOMEM, TR_EPARSE (router). */
int tr_api_artefact_routes(struct tr_router *r, struct tr_world *w);

#endif
