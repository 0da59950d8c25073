/* test_es_bulk.c - Elasticsearch _bulk wire format (connectors/es_bulk.h):
 * request bodies as 0.11's build_event_payload writes them (its own unit
 * test's case included), batches, bad metadata, and per-item verdicts of
 * responses in the documented shape, including malformed ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "codec/json.h"
#include "connectors/es_bulk.h"
#include "core/error.h"

#include <cmocka.h>

static tr_value J(const char *s) {
    tr_value v;
    assert_int_equal(tr_json_decode(s, strlen(s), &v, NULL), 0);
    return v;
}

/* The body of one event (value, meta given as JSON); rc out. */
static int body_of(const char *value, const char *meta, struct tr_buf *b, char *err, size_t n) {
    tr_value v = J(value), m = J(meta);
    bool batched;
    uint32_t docs = tr_es_docs(&v, &batched);
    int rc = 0;
    for (uint32_t i = 0; !rc && i < docs; i++) {
        const tr_value *dv, *dm;
        tr_es_doc(&v, &m, batched, i, &dv, &dm);
        rc = tr_es_bulk_append(dv, dm, b, err, n);
    }
    tr_value_unref(v);
    tr_value_unref(m);
    return rc;
}

static void expect_body(const char *value, const char *meta, const char *want) {
    struct tr_buf b;
    tr_buf_init(&b);
    char err[256] = "";
    assert_int_equal(body_of(value, meta, &b, err, sizeof err), 0);
    assert_int_equal(tr_buf_putc(&b, 0), 0);
    assert_string_equal(b.data, want);
    tr_buf_fini(&b);
}

static void test_deprecated_keys_as_0_11(void **state) {
    (void)state;
    /* 0.11's build_event_payload_test */
    expect_body("{\"numbers\":[1,2,3,\"snot\"]}",
                "{\"index\":\"my_index\",\"doc_type\":\"my_type\",\"doc_id\":\"my_id\",\"pipeline\":\"my_pipeline\"}",
                "{\"index\":{\"_index\":\"my_index\",\"_type\":\"my_type\",\"_id\":\"my_id\",\"pipeline\":\"my_pipeline\"}}\n"
                "{\"numbers\":[1,2,3,\"snot\"]}\n");
    /* the deprecated top-level key wins over $elastic, as in 0.11 */
    expect_body("1", "{\"index\":\"old\",\"elastic\":{\"_index\":\"new\"}}",
                "{\"index\":{\"_index\":\"old\"}}\n1\n");
}

static void test_actions(void **state) {
    (void)state;
    expect_body("{\"a\":1}", "{\"elastic\":{\"_index\":\"i\",\"_id\":\"7\",\"action\":\"create\"}}",
                "{\"create\":{\"_index\":\"i\",\"_id\":\"7\"}}\n{\"a\":1}\n");
    expect_body("{\"a\":1}", "{\"elastic\":{\"_index\":\"i\",\"_id\":\"7\",\"action\":\"update\"}}",
                "{\"update\":{\"_index\":\"i\",\"_id\":\"7\"}}\n{\"doc\":{\"a\":1}}\n");
    expect_body("{\"a\":1}", "{\"elastic\":{\"_index\":\"i\",\"_id\":\"7\",\"action\":\"delete\"}}",
                "{\"delete\":{\"_index\":\"i\",\"_id\":\"7\"}}\n");
    expect_body("{\"a\":1}", "{\"elastic\":{\"_index\":\"i\",\"action\":\"index\",\"_type\":\"t\",\"pipeline\":\"p\"}}",
                "{\"index\":{\"_index\":\"i\",\"_type\":\"t\",\"pipeline\":\"p\"}}\n{\"a\":1}\n");
    /* only strings count: a numeric _id is left out, as 0.11's get_str does */
    expect_body("2", "{\"elastic\":{\"_index\":\"i\",\"_id\":5}}", "{\"index\":{\"_index\":\"i\"}}\n2\n");
}

static void test_ndjson_framing_holds(void **state) {
    (void)state;
    /* a newline inside a value is escaped: one line per document */
    expect_body("{\"s\":\"a\\nb\"}", "{\"elastic\":{\"_index\":\"i\\nj\"}}",
                "{\"index\":{\"_index\":\"i\\nj\"}}\n{\"s\":\"a\\nb\"}\n");
}

static void test_bad_metadata(void **state) {
    (void)state;
    struct tr_buf b;
    tr_buf_init(&b);
    char err[256];
    assert_int_equal(tr_buf_append(&b, "x", 1), 0);
    assert_int_equal(body_of("1", "{\"elastic\":{\"_id\":\"1\"}}", &b, err, sizeof err), TR_EINVAL_CFG);
    assert_string_equal(err, "'index' not set for elastic offramp!");
    assert_int_equal(body_of("1", "{\"elastic\":{\"_index\":1}}", &b, err, sizeof err), TR_EINVAL_CFG);
    assert_int_equal(body_of("1", "{\"elastic\":{\"_index\":\"i\",\"action\":\"upsert\"}}", &b, err, sizeof err),
                     TR_EINVAL_CFG);
    assert_string_equal(err, "invalid ES operation, use one of `delete`, `create`, `update`, `index`: upsert");
    assert_int_equal(b.len, 1);   /* nothing half-written */
    tr_buf_fini(&b);
}

#define EL(v, m) "{\"data\":{\"value\":" v ",\"meta\":" m ",\"ingest_ns\":1,\"kind\":null,\"is_batch\":false}}"

static void test_batches(void **state) {
    (void)state;
    /* a generic::batch event: one document per element, each with its meta */
    expect_body("[" EL("{\"a\":1}", "{\"elastic\":{\"_index\":\"x\"}}") ","
                EL("{\"a\":2}", "{\"elastic\":{\"_index\":\"y\",\"action\":\"delete\",\"_id\":\"2\"}}") "]",
                "{}",
                "{\"index\":{\"_index\":\"x\"}}\n{\"a\":1}\n{\"delete\":{\"_index\":\"y\",\"_id\":\"2\"}}\n");
    /* an array that is not of that shape is one document */
    tr_value v = J("[" EL("1", "{}") ",{\"data\":1}]");
    bool batched;
    assert_int_equal(tr_es_docs(&v, &batched), 1);
    assert_false(batched);
    tr_value_unref(v);
    v = J("[]");
    assert_int_equal(tr_es_docs(&v, &batched), 1);
    assert_false(batched);
    tr_value_unref(v);
    v = J("[" EL("1", "{}") "]");
    assert_int_equal(tr_es_docs(&v, &batched), 1);
    assert_true(batched);
    tr_value_unref(v);
}

static int parse(const char *body, uint32_t n, tr_value *doc, char *err) {
    return tr_es_bulk_parse(body, strlen(body), n, doc, err, 256);
}

static void test_parse_items(void **state) {
    (void)state;
    tr_value doc;
    char err[256];
    const char *ok = "{\"took\":3,\"errors\":false,\"items\":["
                     "{\"index\":{\"_index\":\"i\",\"_type\":\"_doc\",\"_id\":\"1\",\"_version\":1,\"result\":\"created\",\"status\":201}},"
                     "{\"delete\":{\"_index\":\"i\",\"_id\":\"2\",\"_version\":2,\"result\":\"deleted\",\"status\":200}}]}";
    assert_int_equal(parse(ok, 2, &doc, err), 0);
    const char *action;
    const tr_value *it = tr_es_item(&doc, 1, &action);
    assert_string_equal(action, "delete");
    assert_string_equal(tr_rec_get_cstr(it, "_id")->as.s->data, "2");
    assert_false(tr_es_item_failed(it));
    tr_value_unref(doc);
    /* an error object, a 409, a 404 without error (delete of a missing
     * document), and an item whose `errors` flag lies: all failed */
    const char *mixed = "{\"took\":3,\"errors\":false,\"items\":["
                        "{\"index\":{\"_index\":\"i\",\"_id\":\"1\",\"status\":201}},"
                        "{\"index\":{\"_index\":\"i\",\"_id\":\"2\",\"status\":400,\"error\":{\"type\":\"mapper_parsing_exception\",\"reason\":\"r\"}}},"
                        "{\"create\":{\"_index\":\"i\",\"_id\":\"3\",\"status\":409,\"error\":{\"type\":\"version_conflict_engine_exception\"}}},"
                        "{\"delete\":{\"_index\":\"i\",\"_id\":\"4\",\"status\":404,\"result\":\"not_found\"}},"
                        "{\"index\":{\"_index\":\"i\",\"_id\":\"5\",\"status\":200,\"error\":{\"type\":\"x\"}}},"
                        "{\"index\":{\"_index\":\"i\",\"_id\":\"6\",\"status\":\"200\"}}]}";
    assert_int_equal(parse(mixed, 6, &doc, err), 5);
    assert_false(tr_es_item_failed(tr_es_item(&doc, 0, NULL)));
    for (uint32_t i = 1; i < 6; i++) assert_true(tr_es_item_failed(tr_es_item(&doc, i, NULL)));
    tr_value_unref(doc);
}

static void test_parse_rejects(void **state) {
    (void)state;
    static const struct { const char *body; const char *msg; } bad[] = {
        {"", "not JSON"},
        {"{\"items\":[", "not JSON"},
        {"[]", "not an object"},
        {"{\"errors\":true}", "no `items` array"},
        {"{\"items\":{}}", "no `items` array"},
        {"{\"items\":[]}", "0 items for 1 documents"},
        {"{\"items\":[{\"index\":{\"status\":201}},{\"index\":{\"status\":201}}]}", "2 items for 1 documents"},
        {"{\"items\":[1]}", "not {action: {...}}"},
        {"{\"items\":[{}]}", "not {action: {...}}"},
        {"{\"items\":[{\"index\":{},\"create\":{}}]}", "not {action: {...}}"},
        {"{\"items\":[{\"index\":7}]}", "not an object"},
        /* a request-level error: 400 bodies are not item lists */
        {"{\"error\":{\"type\":\"illegal_argument_exception\"},\"status\":400}", "no `items` array"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tr_value doc = tr_v_int(1);
        char err[256] = "";
        assert_int_equal(parse(bad[k].body, 1, &doc, err), TR_EPARSE);
        assert_int_equal(doc.type, TR_NULL);
        if (!strstr(err, bad[k].msg)) fail_msg("case %zu: expected '%s' in '%s'", k, bad[k].msg, err);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deprecated_keys_as_0_11),
        cmocka_unit_test(test_actions),
        cmocka_unit_test(test_ndjson_framing_holds),
        cmocka_unit_test(test_bad_metadata),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_parse_items),
        cmocka_unit_test(test_parse_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
