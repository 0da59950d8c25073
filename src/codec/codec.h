/* codec.h - codecs by their Tremor names: bytes <-> values.
 *
 * A codec decodes one frame (after preprocessing) into one value and encodes
 * one value into bytes (before postprocessing). Codecs keep no state.
 */
#ifndef TR_CODEC_H
#define TR_CODEC_H

#include <stddef.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/value.h"

struct tr_codec {
    const char *name;
    int (*decode)(const char *data, size_t len, tr_value *out, struct tr_diag *d);
    int (*encode)(const tr_value *v, struct tr_buf *out);  /* appends */
};

/* NULL when unknown. */
const struct tr_codec *tr_codec_find(const char *name);
const char *tr_codec_names(void);

#endif
