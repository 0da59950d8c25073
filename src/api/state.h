/* state.h - the REST API's changes kept durably under the storage
 * directory (-d), and restored into the world at the next start.
 *
 * What is kept is what the API did, not the whole world: the onramps,
 * offramps, bindings and pipelines published over the API (as they were
 * posted) and the binding instances deployed over it (url and mapping),
 * each list in the order of its changes. Artefacts from -f files, and
 * "system::" ones, are never recorded. Every change rewrites the one file
 * crash-safely: a temporary file is written and fsync'd, renamed over the
 * old one, and the directory is fsync'd; so after a crash the file is the
 * old state or the new one, never a mix. A change returns only once it is
 * durable.
 *
 * File DIR/api.state, byte by byte:
 *   line 1  "tremor-c api state 1 LEN CRC\n" - the literal words, format
 *           version 1, LEN the body's length in decimal (no sign, no
 *           leading zero, at most TR_API_STATE_MAX_BYTES), CRC the body's
 *           CRC-32 (zlib's crc32) as 8 lower-case hex digits
 *   body    LEN bytes of JSON, one record:
 *             {"pipeline": [{"id": ID, "query": TRICKLE SOURCE}],
 *              "onramp":   [ONRAMP AS POSTED], "offramp": [OFFRAMP AS POSTED],
 *              "binding":  [BINDING AS POSTED],
 *              "mapping":  [{"url": "/binding/ID/INSTANCE",
 *                            "vars": {PLACEHOLDER: STRING}}]}
 *           every key present; an artefact is a record with a string "id"
 *           (1..255 bytes, not "system::...")
 *   nothing after the body.
 * The temporary file is DIR/api.state.tmp; one left by a crash is ignored.
 *
 * Threading: the loop's thread only. The writes block the loop (a few
 * fsyncs per API change, which are rare and must be durable before the
 * answer goes out).
 */
#ifndef TR_API_STATE_H
#define TR_API_STATE_H

#include <stddef.h>

#include "core/error.h"
#include "core/value.h"
#include "pipeline/world.h"

#define TR_API_STATE_FILE "api.state"
#define TR_API_STATE_MAX_BYTES (64u << 20)

struct tr_api_state;
struct tr_buf;

/* Open the state kept in dir (created, with its parents, when missing):
 * read DIR/api.state when it exists. Errors: -errno of mkdir/open/read,
 * TR_ETOOBIG, and for a damaged file TR_ECORRUPT or TR_EPARSE with d
 * naming the file, the line and column or the entry, and what is wrong;
 * -ENOMEM. *out NULL on failure. */
int tr_api_state_open(const char *dir, struct tr_api_state **out, struct tr_diag *d);
void tr_api_state_destroy(struct tr_api_state *s);   /* NULL: no-op */

/* The file's path ("DIR/api.state"), for messages. */
const char *tr_api_state_path(const struct tr_api_state *s);

/* Put the kept state into w, which holds the -f files' artefacts and has
 * not started. phase 0 publishes the artefacts (pipelines, onramps,
 * offramps, bindings); phase 1, after tr_world_deploy, deploys the kept
 * binding instances in their order. An id or instance the files already
 * define is left as the files have it (logged). Errors are the world's,
 * with d prefixed by the file's path and the entry. */
int tr_api_state_restore(struct tr_api_state *s, struct tr_world *w, int phase, struct tr_diag *d);

/* Record a change and make it durable. On any error the file and the
 * state in memory are as before.
 * publish: entry is the record as posted, or for a pipeline its source
 *   string (referenced, not taken). A "system::" id is not recorded (0).
 * unpublish: removes the kind's entry of id; *removed (may be NULL) gets
 *   it (a new reference; TR_NULL when there was none, then nothing is
 *   written) so a caller can put it back with publish.
 * bind: url "/binding/ID/INSTANCE", vars a record (referenced).
 * unbind: removes the newest entry of url; *had (may be NULL) gets its
 *   vars (a reference, TR_NULL when there was none).
 * Errors: -errno of the file calls (d says which and where), TR_ETOOBIG
 * past TR_API_STATE_MAX_BYTES, -ENOMEM. */
int tr_api_state_publish(struct tr_api_state *s, enum tr_world_kind k, const char *id,
                         const tr_value *entry, struct tr_diag *d);
int tr_api_state_unpublish(struct tr_api_state *s, enum tr_world_kind k, const char *id,
                           tr_value *removed, struct tr_diag *d);
int tr_api_state_bind(struct tr_api_state *s, const char *url, const tr_value *vars,
                      struct tr_diag *d);
int tr_api_state_unbind(struct tr_api_state *s, const char *url, tr_value *had, struct tr_diag *d);

/* The file's format alone, for tests and the fuzz target.
 * decode: check buf (the whole file; name for messages) and return the
 *   body as a value in *out (TR_NULL on failure). Errors: TR_ECORRUPT
 *   (header, length, checksum, shape) or TR_EPARSE/TR_EDEPTH (body JSON),
 *   with d located; -ENOMEM.
 * encode: the file's bytes for a body value (as decode returns it) into
 *   out. TR_ETOOBIG, TR_EDEPTH, -ENOMEM. */
int tr_api_state_decode(const char *name, const char *buf, size_t len, tr_value *out,
                        struct tr_diag *d);
int tr_api_state_encode(const tr_value *body, struct tr_buf *out);

#endif
