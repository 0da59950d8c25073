/* codec.h - codecs by their Tremor 0.11 names: bytes <-> values.
 *
 * A codec decodes one frame (after preprocessing) into one value and encodes
 * one value into bytes (before postprocessing). Codecs keep no state, so one
 * table entry serves every connector and thread. Each codec lives in its own
 * file (json.c, msgpack.c, yaml.c, binary.c, null.c, influx.c, binflux.c,
 * statsd.c, syslog.c); this table only names them.
 */
#ifndef TR_CODEC_H
#define TR_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/value.h"

/* decode's answer for a frame that holds no event and is no error (0.11's
 * Ok(None): an influx blank or comment line). *out is TR_NULL then. */
#define TR_CODEC_NOTHING 1

struct tr_codec {
    const char *name;
    /* 0 with *out owned by the caller; TR_CODEC_NOTHING; or a negative code
     * (TR_EPARSE, TR_ETOOBIG, TR_EDEPTH, -ENOMEM) with *out TR_NULL and d
     * (may be NULL) saying what and at which byte (d->col, 1-based).
     * ingest_ns stands in for a timestamp the frame lacks (influx). */
    int (*decode)(const char *data, size_t len, uint64_t ingest_ns, tr_value *out,
                  struct tr_diag *d);
    /* Appends to out; on failure out keeps its previous contents and the
     * code is TR_EINVAL_CFG for a value the format cannot carry. */
    int (*encode)(const tr_value *v, struct tr_buf *out);
    /* 1 with *data, *len pointing into v when encode would append exactly
     * bytes v already holds (a string or binary under the string and
     * binary codecs): an offramp sends them without copying, valid while v
     * lives. 0: call encode. NULL: always encode. */
    int (*view)(const tr_value *v, const char **data, size_t *len);
    /* Optional: decode, except that a frame whose value nothing needs to
     * see may come back as TR_RAWJSON (value.h), for a host whose events
     * go where nothing reads them (json: tr_json_decode_lazy). NULL:
     * always decode. */
    int (*decode_lazy)(const char *data, size_t len, uint64_t ingest_ns, tr_value *out,
                       struct tr_diag *d);
    /* Optional: decode, and *canonical = 1 when encoding *out with this
     * codec gives back exactly the frame (json: tr_json_decode_canon), so
     * a host may keep the frame to send again while the value is
     * unchanged (tr_event_keep_raw). NULL: never known. */
    int (*decode_canon)(const char *data, size_t len, uint64_t ingest_ns, tr_value *out,
                        int *canonical, struct tr_diag *d);
    /* encode and view take TR_RAWJSON values (json, and string, which
     * writes what is not a string as JSON); for any other codec a holder
     * decodes them first (tr_json_materialize). */
    bool raw_json;
    /* Worth decoding on another thread than the one that reads the
     * events (world_decode.c): set where measured (json, msgpack: their
     * 629-byte logging and passthrough rows gain 30-70%). The frame is
     * copied for that thread, and the events' values are read from a
     * cache that did not write them; for a decode that is a copy (string)
     * or a quick one of short frames (influx, binflux) that costs more
     * than it saves (-15% to -30%). */
    bool off_loop;
};

/* The view of the string and binary codecs: a string's or binary's bytes. */
int tr_codec_bytes_view(const tr_value *v, const char **data, size_t *len);

/* NULL when unknown. */
const struct tr_codec *tr_codec_find(const char *name);
/* The codec 0.11 maps a MIME type to (application/json, application/yaml,
 * text/plain, text/html, application/msgpack, application/x-msgpack,
 * application/vnd.msgpack, application/octet-stream); NULL otherwise. */
const struct tr_codec *tr_codec_by_mime(const char *mime);
const char *tr_codec_names(void);

#endif
