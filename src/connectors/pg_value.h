/* pg_value.h - PostgreSQL rows <-> tremor values, as 0.11's postgres ramp
 * shapes them, with no libpq in sight (pure, so unit tests and the fuzzer
 * need no server).
 *
 * A row is a record keyed by column name whose fields are 0.11's
 * {"fieldType": "INT4", "name": "col", "value": 5}. Rows are read in the
 * server's text format (the connection sets DateStyle ISO and TimeZone
 * UTC) and written as text parameters with the type named by fieldType, so
 * event data never becomes SQL text: only identifiers do, and those are
 * quoted. Time stamps are 0.11's chrono strings
 * ("2021-01-02 03:04:05.250 +00:00"; TIMESTAMP ends in " UTC").
 */
#ifndef TR_PG_VALUE_H
#define TR_PG_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/value.h"

/* The type oids (pg_type.dat) of the types 0.11 names. */
enum {
    TR_PG_BOOL = 16, TR_PG_CHAR = 18, TR_PG_NAME = 19, TR_PG_INT8 = 20, TR_PG_INT2 = 21,
    TR_PG_INT4 = 23, TR_PG_TEXT = 25, TR_PG_JSON = 114, TR_PG_UNKNOWN = 705,
    TR_PG_BPCHAR = 1042, TR_PG_VARCHAR = 1043, TR_PG_TIMESTAMP = 1114,
    TR_PG_TIMESTAMPTZ = 1184, TR_PG_JSONB = 3802,
};

/* One column of a result row as {"fieldType", "value", "name"} into *out.
 * text/len: the server's text output, ignored when null (SQL NULL: value
 * null; 0.11 fails on those). Types 0.11 reads become its values (integers,
 * booleans, chrono-formatted time stamps, strings); any other type, and a
 * time stamp past what chrono prints (BC, infinity), keeps the server's
 * text with fieldType "UNKNOWN" (0.11 refuses the whole poll). Errors:
 * -ENOMEM; *out is TR_NULL then. */
int tr_pg_field_to_value(uint32_t oid, const char *name, const char *text, size_t len, bool null,
                         tr_value *out);

/* An INSERT of one or more rows with the same columns, ready for
 * PQsendQueryParams. */
#define TR_PG_MAX_PARAMS 65535u   /* the protocol's limit per statement */
#define TR_PG_MAX_ROWS 1000u      /* rows per statement */
struct tr_pg_insert {
    struct tr_buf sql;       /* NUL-terminated (len counts the NUL) */
    uint32_t n, cap;         /* parameters, room for them */
    uint32_t *types;         /* their oids (0: let the server infer) */
    char **values;           /* NUL-terminated text, NULL for SQL NULL */
    uint32_t rows, ncols;    /* rows so far, columns of each */
    struct tr_buf cols;      /* the quoted column list, to compare rows by */
};
void tr_pg_insert_init(struct tr_pg_insert *ins);
void tr_pg_insert_fini(struct tr_pg_insert *ins);

/* Fill ins (reset first) with INSERT INTO table (col, ...) VALUES ($1, ...)
 * for row, a record of 0.11 field records keyed by column. table is
 * "name" or "schema.name", each part quoted as an identifier. Errors
 * (ins is then unusable until the next build): TR_EINVAL_CFG with why in
 * err (not a record, no fields, a field without fieldType/name/value, an
 * unknown fieldType, a value its type cannot hold, an empty or NUL column
 * name), TR_ETOOBIG (a value longer than max_value bytes), -ENOMEM. */
int tr_pg_insert_build(struct tr_pg_insert *ins, const char *table, const tr_value *row,
                       size_t max_value, char *err, size_t n);
/* Add row to a built ins as one more VALUES tuple. TR_EUNSUPPORTED (ins
 * unchanged) when its columns are not the same names of the same types in
 * the same order, or the statement is full (TR_PG_MAX_PARAMS,
 * TR_PG_MAX_ROWS): build another; the errors of build otherwise, ins
 * unchanged. */
int tr_pg_insert_add(struct tr_pg_insert *ins, const tr_value *row, size_t max_value, char *err, size_t n);

/* s[0..n) as a quoted identifier ("a""b") appended to out. TR_EINVAL_CFG
 * for an empty name or one with a NUL byte, -ENOMEM. */
int tr_pg_quote_ident(const char *s, size_t n, struct tr_buf *out);

/* 0.11's time format "%Y-%m-%d %H:%M:%S%.6f %:z" (fraction optional, 1-9
 * digits; also " UTC" or "+HH" / "+HHMM" for the offset) into microseconds
 * since 1970 UTC. TR_EPARSE when it is not that. */
int tr_pg_time_parse(const char *s, size_t n, int64_t *us);
/* us as "%Y-%m-%d %H:%M:%S%.6f +00:00" (years 0..9999), NUL-terminated. */
#define TR_PG_TIME_LEN 40
void tr_pg_time_format(int64_t us, char out[TR_PG_TIME_LEN]);

#endif
