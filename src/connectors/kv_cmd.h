/* kv_cmd.h - the commands of 0.11's kv offramp read from a decoded event
 * (src/sink/kv.rs), and 0.11's Display of a value for its error texts.
 *
 * Pure functions on values, any thread; no store here (kv.c runs the
 * commands on LMDB). Byte slices point into the value they were read from.
 */
#ifndef TR_KV_CMD_H
#define TR_KV_CMD_H

#include <stdbool.h>
#include <stddef.h>

#include <lmdb.h>

#include "core/buf.h"
#include "core/value.h"

enum tr_kv_op { TR_KV_GET, TR_KV_PUT, TR_KV_DELETE, TR_KV_SCAN, TR_KV_CAS };

/* One command; key/start/end and the values are borrowed from the event. */
struct tr_kv_cmd {
    enum tr_kv_op op;
    MDB_val key, start, end;      /* key: not for scan; start/end: scan, when has_* */
    bool has_start, has_end;
    const tr_value *value, *old, *new_;   /* put: value; cas: old, new (NULL: not set) */
};

/* "get", "put", ... */
const char *tr_kv_op_name(enum tr_kv_op op);

/* Read v as 0.11 does: the first of get, put, cas, delete, scan present in
 * the record; a key is a string or binary. 0, or -1 with 0.11's message in
 * msg[0..n): "Invalid KV command: <v as 0.11 displays it, cut at 400
 * bytes>", "Missing or invalid `key` field", "Missing `value` field". */
int tr_kv_parse(const tr_value *v, struct tr_kv_cmd *c, char *msg, size_t n);

/* Append v as 0.11 formats it with `{}` (tremor-value's Display): scalars
 * and strings as themselves, arrays and records in Rust's Debug form of
 * their contents ({"garbage": Static(Bool(true))}, [String("a")]); stops
 * with "..." past 512 bytes or 64 levels. 0 or -ENOMEM. */
int tr_kv_display(const tr_value *v, struct tr_buf *b);

#endif
