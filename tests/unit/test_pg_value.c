/* test_pg_value.c - PostgreSQL rows <-> 0.11's field records: the text the
 * server sends becomes {"fieldType", "value", "name"} as 0.11 shapes it;
 * an event's fields become an INSERT with quoted identifiers and bound text
 * parameters, and what cannot be inserted is refused with a reason; 0.11's
 * time format parses and prints back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "codec/json.h"
#include "connectors/pg_value.h"

/* The JSON text of a field record made from the server's text. */
static void field_json(uint32_t oid, const char *text, bool null, char *out, size_t n) {
    tr_value v;
    assert_int_equal(tr_pg_field_to_value(oid, "c", text, text ? strlen(text) : 0, null, &v), 0);
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_json_encode(&v, &b), 0);
    snprintf(out, n, "%.*s", (int)b.len, b.data);
    tr_buf_fini(&b);
    tr_value_unref(v);
}

static void expect_field(uint32_t oid, const char *text, bool null, const char *want) {
    char got[512];
    field_json(oid, text, null, got, sizeof got);
    if (strcmp(got, want) != 0) fail_msg("oid %u text '%s': expected %s, got %s", oid, text ? text : "(null)", want, got);
}

static void test_row_to_value(void **state) {
    (void)state;
    expect_field(TR_PG_INT4, "42", false, "{\"fieldType\":\"INT4\",\"value\":42,\"name\":\"c\"}");
    expect_field(TR_PG_INT8, "-9223372036854775808", false,
                 "{\"fieldType\":\"INT8\",\"value\":-9223372036854775808,\"name\":\"c\"}");
    expect_field(TR_PG_INT2, "7", false, "{\"fieldType\":\"INT2\",\"value\":7,\"name\":\"c\"}");
    expect_field(TR_PG_BOOL, "t", false, "{\"fieldType\":\"BOOL\",\"value\":true,\"name\":\"c\"}");
    expect_field(TR_PG_BOOL, "f", false, "{\"fieldType\":\"BOOL\",\"value\":false,\"name\":\"c\"}");
    expect_field(TR_PG_TEXT, "h\"i", false, "{\"fieldType\":\"TEXT\",\"value\":\"h\\\"i\",\"name\":\"c\"}");
    expect_field(TR_PG_VARCHAR, "", false, "{\"fieldType\":\"VARCHAR\",\"value\":\"\",\"name\":\"c\"}");
    expect_field(TR_PG_JSONB, "{\"a\": 1}", false, "{\"fieldType\":\"JSONB\",\"value\":\"{\\\"a\\\": 1}\",\"name\":\"c\"}");
    expect_field(TR_PG_TEXT, NULL, true, "{\"fieldType\":\"TEXT\",\"value\":null,\"name\":\"c\"}");
    /* chrono's Display: no fraction when zero, milliseconds when exact */
    expect_field(TR_PG_TIMESTAMPTZ, "2021-03-04 05:06:07+00", false,
                 "{\"fieldType\":\"TIMESTAMPTZ\",\"value\":\"2021-03-04 05:06:07 +00:00\",\"name\":\"c\"}");
    expect_field(TR_PG_TIMESTAMPTZ, "2021-03-04 05:06:07.25+00", false,
                 "{\"fieldType\":\"TIMESTAMPTZ\",\"value\":\"2021-03-04 05:06:07.250 +00:00\",\"name\":\"c\"}");
    expect_field(TR_PG_TIMESTAMPTZ, "2021-03-04 05:06:07.000123+00", false,
                 "{\"fieldType\":\"TIMESTAMPTZ\",\"value\":\"2021-03-04 05:06:07.000123 +00:00\",\"name\":\"c\"}");
    expect_field(TR_PG_TIMESTAMP, "1999-12-31 23:59:59.5", false,
                 "{\"fieldType\":\"TIMESTAMP\",\"value\":\"1999-12-31 23:59:59.500 UTC\",\"name\":\"c\"}");
    /* what chrono cannot print, and types 0.11 refuses, keep the server's text */
    expect_field(TR_PG_TIMESTAMPTZ, "infinity", false, "{\"fieldType\":\"UNKNOWN\",\"value\":\"infinity\",\"name\":\"c\"}");
    expect_field(1700 /* numeric */, "1.50", false, "{\"fieldType\":\"UNKNOWN\",\"value\":\"1.50\",\"name\":\"c\"}");
    expect_field(TR_PG_INT4, "x", false, "{\"fieldType\":\"UNKNOWN\",\"value\":\"x\",\"name\":\"c\"}");
}

static int build(struct tr_pg_insert *ins, const char *table, const char *json, char *err, size_t n) {
    tr_value v;
    assert_int_equal(tr_json_decode(json, strlen(json), &v, NULL), 0);
    int rc = tr_pg_insert_build(ins, table, &v, 64, err, n);
    tr_value_unref(v);
    return rc;
}

static void test_insert(void **state) {
    (void)state;
    struct tr_pg_insert ins;
    char err[256];
    tr_pg_insert_init(&ins);
    int rc = build(&ins, "public.ev\"il", "{\"id\":{\"fieldType\":\"INT4\",\"name\":\"id\",\"value\":5},"
                   "\"na\\\"me\":{\"fieldType\":\"TEXT\",\"name\":\"na\",\"value\":\"x'); DROP TABLE t; --\"},"
                   "\"ok\":{\"fieldType\":\"BOOL\",\"name\":\"ok\",\"value\":null},"
                   "\"at\":{\"fieldType\":\"TIMESTAMPTZ\",\"name\":\"at\",\"value\":\"2021-03-04 05:06:07.250 +01:00\"},"
                   "\"j\":{\"fieldType\":\"JSONB\",\"name\":\"j\",\"value\":{\"a\":[1,2]}},"
                   "\"u\":{\"fieldType\":\"UNKNOWN\",\"name\":\"u\",\"value\":\"1.5\"}}", err, sizeof err);
    assert_int_equal(rc, 0);
    assert_string_equal(ins.sql.data, "INSERT INTO \"public\".\"ev\"\"il\" (\"id\", \"na\"\"me\", \"ok\", \"at\", \"j\", \"u\") "
                                      "VALUES ($1, $2, $3, $4, $5, $6)");
    assert_int_equal(ins.n, 6);
    assert_int_equal(ins.types[0], TR_PG_INT4);
    assert_string_equal(ins.values[0], "5");
    assert_string_equal(ins.values[1], "x'); DROP TABLE t; --");   /* a parameter, never SQL */
    assert_null(ins.values[2]);
    assert_string_equal(ins.values[3], "2021-03-04 04:06:07.250000 +00:00");
    assert_string_equal(ins.values[4], "{\"a\":[1,2]}");
    assert_int_equal(ins.types[5], 0);   /* UNKNOWN: the server infers */

    /* what a column's type cannot hold, and shapes that are no rows */
    static const struct {
        const char *json, *why;
    } bad[] = {
        {"[1]", "must be a record"},
        {"{}", "at least one column"},
        {"{\"a\":1}", "fieldType"},
        {"{\"a\":{\"fieldType\":\"INT4\",\"value\":1}}", "`name`"},
        {"{\"a\":{\"fieldType\":\"INT4\",\"name\":\"a\"}}", "`value`"},
        {"{\"a\":{\"fieldType\":\"FLOAT8\",\"name\":\"a\",\"value\":1}}", "not supported"},
        {"{\"a\":{\"fieldType\":\"INT2\",\"name\":\"a\",\"value\":40000}}", "into i16"},
        {"{\"a\":{\"fieldType\":\"INT4\",\"name\":\"a\",\"value\":\"1\"}}", "into i32"},
        {"{\"a\":{\"fieldType\":\"BOOL\",\"name\":\"a\",\"value\":1}}", "into bool"},
        {"{\"a\":{\"fieldType\":\"TEXT\",\"name\":\"a\",\"value\":1}}", "into text"},
        {"{\"a\":{\"fieldType\":\"TEXT\",\"name\":\"a\",\"value\":\"a\\u0000b\"}}", "NUL"},
        {"{\"a\":{\"fieldType\":\"TIMESTAMPTZ\",\"name\":\"a\",\"value\":\"yesterday\"}}", "parsing"},
        {"{\"a\":{\"fieldType\":\"TEXT\",\"name\":\"a\",\"value\":\"0123456789012345678901234567890123456789012345678901234567890123456789\"}}",
         "max_value_bytes"},
        {"{\"\":{\"fieldType\":\"TEXT\",\"name\":\"a\",\"value\":\"x\"}}", "not a valid name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        rc = build(&ins, "t", bad[i].json, err, sizeof err);
        if (rc == 0 || !strstr(err, bad[i].why))
            fail_msg("%s: expected an error with '%s', got %d '%s'", bad[i].json, bad[i].why, rc, err);
    }
    tr_pg_insert_fini(&ins);
}

static void test_insert_many(void **state) {
    (void)state;
    struct tr_pg_insert ins;
    char err[256];
    tr_value a, b, c, d, e;
    const char *ja = "{\"x\":{\"fieldType\":\"INT4\",\"name\":\"x\",\"value\":1},\"y\":{\"fieldType\":\"TEXT\",\"name\":\"y\",\"value\":\"a\"}}";
    const char *jb = "{\"x\":{\"fieldType\":\"INT4\",\"name\":\"x\",\"value\":2},\"y\":{\"fieldType\":\"TEXT\",\"name\":\"y\",\"value\":null}}";
    const char *jc = "{\"y\":{\"fieldType\":\"TEXT\",\"name\":\"y\",\"value\":\"b\"},\"x\":{\"fieldType\":\"INT4\",\"name\":\"x\",\"value\":3}}";
    const char *jd = "{\"x\":{\"fieldType\":\"INT8\",\"name\":\"x\",\"value\":4},\"y\":{\"fieldType\":\"TEXT\",\"name\":\"y\",\"value\":\"c\"}}";
    const char *je = "{\"x\":{\"fieldType\":\"INT4\",\"name\":\"x\",\"value\":true},\"y\":{\"fieldType\":\"TEXT\",\"name\":\"y\",\"value\":\"c\"}}";
    assert_int_equal(tr_json_decode(ja, strlen(ja), &a, NULL), 0);
    assert_int_equal(tr_json_decode(jb, strlen(jb), &b, NULL), 0);
    assert_int_equal(tr_json_decode(jc, strlen(jc), &c, NULL), 0);
    assert_int_equal(tr_json_decode(jd, strlen(jd), &d, NULL), 0);
    assert_int_equal(tr_json_decode(je, strlen(je), &e, NULL), 0);
    tr_pg_insert_init(&ins);
    assert_int_equal(tr_pg_insert_build(&ins, "t", &a, 64, err, sizeof err), 0);
    assert_int_equal(tr_pg_insert_add(&ins, &b, 64, err, sizeof err), 0);
    /* other column order, other types: another statement; a bad row: its error, ins unchanged */
    assert_int_equal(tr_pg_insert_add(&ins, &c, 64, err, sizeof err), TR_EUNSUPPORTED);
    assert_int_equal(tr_pg_insert_add(&ins, &d, 64, err, sizeof err), TR_EUNSUPPORTED);
    assert_int_equal(tr_pg_insert_add(&ins, &e, 64, err, sizeof err), TR_EINVAL_CFG);
    assert_string_equal(ins.sql.data, "INSERT INTO \"t\" (\"x\", \"y\") VALUES ($1, $2), ($3, $4)");
    assert_int_equal(ins.n, 4);
    assert_int_equal(ins.rows, 2);
    assert_string_equal(ins.values[2], "2");
    assert_null(ins.values[3]);
    assert_int_equal(ins.types[2], TR_PG_INT4);
    for (uint32_t i = 2; i < TR_PG_MAX_ROWS; i++) assert_int_equal(tr_pg_insert_add(&ins, &a, 64, err, sizeof err), 0);
    assert_int_equal(tr_pg_insert_add(&ins, &a, 64, err, sizeof err), TR_EUNSUPPORTED);   /* full */
    assert_int_equal(ins.n, 2 * TR_PG_MAX_ROWS);
    tr_pg_insert_fini(&ins);
    tr_value_unref(a);
    tr_value_unref(b);
    tr_value_unref(c);
    tr_value_unref(d);
    tr_value_unref(e);
}

static void test_time(void **state) {
    (void)state;
    int64_t us;
    char out[TR_PG_TIME_LEN];
    assert_int_equal(tr_pg_time_parse("1970-01-01 00:00:00.000000 +00:00", 33, &us), 0);
    assert_int_equal(us, 0);
    assert_int_equal(tr_pg_time_parse("2021-01-01 01:00:00 +01:00", 26, &us), 0);
    assert_int_equal(us, 1609459200000000LL);
    tr_pg_time_format(us + 123456, out);
    assert_string_equal(out, "2021-01-01 00:00:00.123456 +00:00");
    const char *s = "1969-12-31 23:59:59.999999 +00:00";
    assert_int_equal(tr_pg_time_parse(s, strlen(s), &us), 0);
    assert_int_equal(us, -1);
    tr_pg_time_format(us, out);
    assert_string_equal(out, s);
    s = "2024-02-29 12:00:00 UTC";
    assert_int_equal(tr_pg_time_parse(s, strlen(s), &us), 0);
    static const char *const bad[] = {"", "2021-02-29 00:00:00 +00:00", "2021-01-01 24:00:00 +00:00",
                                      "2021-01-01 00:00:00", "2021-01-01 00:00:00. +00:00",
                                      "2021-01-01 00:00:00.1234567890 +00:00", "2021-01-01 00:00:00 +0", "now"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (tr_pg_time_parse(bad[i], strlen(bad[i]), &us) != TR_EPARSE) fail_msg("'%s' parsed", bad[i]);
}

static void test_quote_ident(void **state) {
    (void)state;
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_pg_quote_ident("a\"b", 3, &b), 0);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "\"a\"\"b\"", 6);
    assert_int_equal(tr_pg_quote_ident("", 0, &b), TR_EINVAL_CFG);
    assert_int_equal(tr_pg_quote_ident("a\0b", 3, &b), TR_EINVAL_CFG);
    tr_buf_fini(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_row_to_value),
        cmocka_unit_test(test_insert),
        cmocka_unit_test(test_insert_many),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_quote_ident),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
