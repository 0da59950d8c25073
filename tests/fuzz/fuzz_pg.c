/* fuzz_pg.c - PostgreSQL values (connectors/pg_value.c). The first byte
 * picks what the rest is: (0) the server's text of a column of the type
 * whose oid follows in two bytes: always a field record, a time stamp read
 * back to the same instant; (1) an event as JSON: an INSERT or a refusal
 * with a reason, the SQL with one placeholder per column; (2) a time in
 * 0.11's format: what parses prints and parses back to the same instant.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "connectors/pg_value.h"
#include "core/error.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

static void field(const uint8_t *d, size_t n) {
    if (n < 2) return;
    static const uint32_t oids[] = {TR_PG_BOOL, TR_PG_CHAR, TR_PG_NAME, TR_PG_INT8, TR_PG_INT2, TR_PG_INT4,
                                    TR_PG_TEXT, TR_PG_JSON, TR_PG_UNKNOWN, TR_PG_BPCHAR, TR_PG_VARCHAR,
                                    TR_PG_TIMESTAMP, TR_PG_TIMESTAMPTZ, TR_PG_JSONB, 1700};
    uint32_t oid = oids[((unsigned)d[0] << 8 | d[1]) % (sizeof oids / sizeof oids[0])];
    tr_value v;
    int rc = tr_pg_field_to_value(oid, "c", (const char *)d + 2, n - 2, false, &v);
    if (rc == -ENOMEM) return;
    if (rc || v.type != TR_REC) fuzz_fail("field_to_value: %d", rc);
    const tr_value *ft = tr_rec_get(&v, "fieldType", 9), *val = tr_rec_get(&v, "value", 5);
    if (!ft || !val || ft->type != TR_STR) fuzz_fail("no fieldType/value");
    if (oid == TR_PG_TIMESTAMPTZ && strcmp(ft->as.s->data, "TIMESTAMPTZ") == 0) {
        int64_t a, b;
        if (tr_pg_time_parse((const char *)d + 2, n - 2, &a) || val->type != TR_STR ||
            tr_pg_time_parse(val->as.s->data, val->as.s->len, &b) || a != b)
            fuzz_fail("time stamp not read back");
    }
    tr_value_unref(v);
}

/* One statement's invariants: one placeholder per parameter, rows x columns. */
static void check(const struct tr_pg_insert *ins) {
    if (strncmp(ins->sql.data, "INSERT INTO \"s\".\"t\" (", 21) != 0 || ins->n != ins->rows * ins->ncols)
        fuzz_fail("bad INSERT: %s", ins->sql.data);
    char last[24];
    snprintf(last, sizeof last, "$%u)", ins->n);
    size_t len = strlen(ins->sql.data), k = strlen(last);
    if (len < k || strcmp(ins->sql.data + len - k, last) != 0) fuzz_fail("placeholders: %s", ins->sql.data);
    for (uint32_t i = 0; i < ins->n; i++)
        if (ins->values[i] && strlen(ins->values[i]) > 256) fuzz_fail("value over the bound");
}

/* A record is one row; an array's elements are rows merged where they can be. */
static void insert(const uint8_t *d, size_t n) {
    tr_value v;
    if (tr_json_decode((const char *)d, n, &v, NULL)) return;
    struct tr_pg_insert ins;
    char err[256] = "";
    tr_pg_insert_init(&ins);
    uint32_t count = v.type == TR_ARR ? tr_arr_len(&v) : 1;
    for (uint32_t i = 0; i < count; i++) {
        const tr_value *row = v.type == TR_ARR ? tr_arr_at(&v, i) : &v;
        err[0] = 0;
        int rc = i ? tr_pg_insert_add(&ins, row, 256, err, sizeof err) : TR_EUNSUPPORTED;
        if (rc == TR_EUNSUPPORTED) {
            if (i) check(&ins);
            rc = tr_pg_insert_build(&ins, "s.t", row, 256, err, sizeof err);
        }
        if (rc == -ENOMEM) break;
        if (rc && !err[0]) fuzz_fail("refused without a reason: %d", rc);
        if (rc) break;
        check(&ins);
    }
    tr_pg_insert_fini(&ins);
    tr_value_unref(v);
}

static void time_rt(const uint8_t *d, size_t n) {
    int64_t us, again;
    if (tr_pg_time_parse((const char *)d, n, &us)) return;
    char out[TR_PG_TIME_LEN];
    tr_pg_time_format(us, out);
    if (tr_pg_time_parse(out, strlen(out), &again)) fuzz_fail("cannot parse '%s'", out);
    if (again != us && strncmp(out, "0000-01-01", 10) != 0 && strncmp(out, "9999-12-31", 10) != 0)
        fuzz_fail("'%s' is not the same instant", out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 16384) return 0;
    switch (data[0] % 3) {
    case 0: field(data + 1, size - 1); break;
    case 1: insert(data + 1, size - 1); break;
    default: time_rt(data + 1, size - 1); break;
    }
    return 0;
}
