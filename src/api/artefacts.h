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
 * Kept changes: with a state (api/state.h, `server run -d DIR`) every
 * successful publish, unpublish, bind and unbind is durable before it is
 * answered, and a change that cannot be written is not made (500). 0.11
 * instead writes its whole config to a new DIR/config_<nanotime>.yaml after
 * each change and never reads those files back.
 * Threading: the loop's thread only.
 */
#ifndef TR_API_ARTEFACTS_H
#define TR_API_ARTEFACTS_H

struct tr_api_state;
struct tr_router;
struct tr_world;

/* Add the routes to r; w and st (NULL: changes are not kept) outlive r.
 * -ENOMEM, TR_EPARSE (router). */
int tr_api_artefact_routes(struct tr_router *r, struct tr_world *w, struct tr_api_state *st);

#endif
