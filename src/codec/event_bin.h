/* event_bin.h - an event as bytes, for storage (the WAL's records).
 *
 * Keeps everything an event needs to be emitted again after a restart:
 * value and metadata (exactly, via bin.h), ingest time, transactional flag
 * and its ids with the tracked ranges.
 */
#ifndef TR_EVENT_BIN_H
#define TR_EVENT_BIN_H

#include <stddef.h>

#include "core/buf.h"
#include "core/event.h"

/* Append ev's encoding to out. 0, -ENOMEM or TR_EDEPTH. */
int tr_event_encode(const struct tr_event *ev, struct tr_buf *out);
/* Decode a whole record into ev (initialised here). TR_ECORRUPT when the
 * bytes are damaged or of an unknown version; ev is then empty. */
int tr_event_decode(const char *data, size_t len, struct tr_event *ev);

#endif
