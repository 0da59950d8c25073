/* influx.h - InfluxDB line protocol as Tremor 0.11 (tremor-influx) reads and
 * writes it. The `influx` codec and the language's influx extractor both
 * use this one parser, so the two never disagree about a line.
 *
 * A line `measurement[,tag=v...] field=v[,field=v...] [timestamp]` is the
 * record {measurement, tags, fields, timestamp}, in that order.
 */
#ifndef TR_INFLUX_H
#define TR_INFLUX_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/value.h"

/* Parse one line (surrounding white space ignored). Escapes as 0.11: in the
 * measurement, tag keys and values and field keys a backslash before one of
 * that token's separators or a backslash stands for that character, before
 * anything else it is kept with it; in a quoted field value only \" and \\
 * are escapes. Field values: "quoted" strings, 12i integers (-12i), t/T/
 * true/True/TRUE and the false forms, anything else a float. timestamp is
 * an unsigned integer, or ingest_ns when the line has none.
 *
 * Returns 0 with the record in *out (caller owns it); TR_CODEC_NOTHING (1)
 * for an empty or '#' comment line; TR_EPARSE with d (may be NULL) naming
 * the byte (d->col, 1-based) and the problem; -ENOMEM. *out is TR_NULL on
 * anything but 0. Memory is linear in n; nothing recurses.
 */
int tr_influx_parse(const char *s, size_t n, uint64_t ingest_ns, tr_value *out,
                    struct tr_diag *d);

/* Append v as one line (no newline): tags with string values only and
 * fields, each sorted by key; integer fields get an `i`; the timestamp must
 * be a non-negative integer. TR_EINVAL_CFG (with msg, which may be NULL,
 * saying why; msg has room for 128 bytes) when v is not such a record;
 * -ENOMEM. out keeps its contents on failure. */
int tr_influx_write(const tr_value *v, struct tr_buf *out, char *msg);

#endif
