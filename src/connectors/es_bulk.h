/* es_bulk.h - Elasticsearch's _bulk wire format, both directions, for the
 * elastic offramp: the NDJSON request body made from an event (Tremor
 * 0.11's build_event_payload) and the per-item verdicts of the response.
 * Pure functions on values and buffers; no I/O, no connector state.
 *
 * Request body, per document (each line compact JSON, each ending in '\n'):
 *   {"<action>":{"_index":I[,"_type":T][,"_id":D][,"pipeline":P]}}
 *   <source>              index/create: the value; update: {"doc": value};
 *                         delete: no source line
 * from the document's metadata: $elastic._index (required), _type, _id,
 * pipeline, action (index|create|update|delete, default index), or 0.11's
 * deprecated top-level $index, $doc_type, $doc_id, $pipeline, $action,
 * which win when present (as in 0.11). Only strings count.
 *
 * Response: {"took":N,"errors":B,"items":[{"<action>":{"_index","_id",
 * "status",("result"|"error"),...}}, ...]} with one item per document in
 * request order. An item fails when its status is not 2xx or it has an
 * `error`; the `errors` flag is not trusted over the items.
 */
#ifndef TR_ES_BULK_H
#define TR_ES_BULK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/value.h"

/* How many documents an event holds: the elements of a generic::batch
 * array (each {"data": {"value", "meta", ..., "is_batch"}}; *batched set),
 * else 1. Events carry no batch flag, so the shape decides. */
uint32_t tr_es_docs(const tr_value *value, bool *batched);

/* Document i (< tr_es_docs(value, &batched)) of an event: its value and
 * meta, borrowed from value / meta. */
void tr_es_doc(const tr_value *value, const tr_value *meta, bool batched, uint32_t i,
               const tr_value **v, const tr_value **m);

/* Append the bulk lines of one document to body. 0; TR_EINVAL_CFG with a
 * message in err (0.11's text) for a missing $elastic._index or an unknown
 * action; TR_EDEPTH; -ENOMEM. On failure body keeps its previous contents. */
int tr_es_bulk_append(const tr_value *v, const tr_value *m, struct tr_buf *body, char *err,
                      size_t errlen);

/* Parse a _bulk response for a request of ndocs documents into *doc (the
 * caller unrefs it). Returns the number of failed items (>= 0), or
 * TR_EPARSE (not JSON, not the documented shape, or not exactly ndocs
 * items), TR_EDEPTH, -ENOMEM, with a message in err; then *doc is TR_NULL. */
int tr_es_bulk_parse(const char *body, size_t len, uint32_t ndocs, tr_value *doc, char *err,
                     size_t errlen);

/* Item i of a parsed response: the record under its action key (borrowed
 * from doc), and that action's name in *action. */
const tr_value *tr_es_item(const tr_value *doc, uint32_t i, const char **action);

/* Whether an item (from tr_es_item) failed: status outside 200..299, or an
 * `error` member. */
bool tr_es_item_failed(const tr_value *item);

#endif
