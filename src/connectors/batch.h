/* batch.h - the events inside a batch event, for offramps that answer each
 * one (0.11's value_meta_iter: kv, dns).
 *
 * A batch reaches an offramp flagged (tr_out_msg.is_batch) with its value
 * one array whose every element has Tremor's shape {"data": {"value": v,
 * "meta": m, ...}}; its bytes are the elements' encodings. Offramps whose
 * requests are never arrays can also tell a batch by that shape alone
 * (one decoded from bytes). Pure functions, any thread.
 */
#ifndef TR_BATCH_H
#define TR_BATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/value.h"

/* True when v is a non-empty array of batch elements. */
bool tr_batch_is(const tr_value *v);
/* The value and meta of element i of a batch (tr_batch_is(v), i < length);
 * borrowed from v. A meta that is not a record reads as NULL. */
void tr_batch_at(const tr_value *v, uint32_t i, const tr_value **value, const tr_value **meta);

#endif
