/* extract_influx.c - the `influx` tilde extractor: InfluxDB line protocol.
 *
 * `measurement[,tag=v...] field=v[,field=v...] [timestamp]` becomes
 * {measurement, tags, fields, timestamp}. The line is read by the same
 * parser as the influx codec (codec/influx.h), so escapes and value types
 * are 0.11's in both. Without a timestamp the caller's ingest_ns is used.
 * It decodes one line; it does not encode.
 */
#include <errno.h>

#include "codec/influx.h"
#include "lang/extract_int.h"

int tr_influx_decode(const struct tr_str *s, uint64_t ingest_ns, tr_value *out) {
    int rc = tr_influx_parse(s->data, s->len, ingest_ns, out, NULL);
    if (rc == -ENOMEM) return rc;
    return rc == 0;
}
