/* fuzz_es_bulk.c - the Elasticsearch _bulk wire format (connectors/
 * es_bulk.h) as the elastic offramp uses it on a peer's bytes.
 *
 * Input: byte 0 is the number of documents the request had (0..255), the
 * rest a _bulk response body. Oracles: parsing returns a failed-item count
 * within 0..ndocs or TR_EPARSE/TR_EDEPTH/-ENOMEM with a message and a
 * TR_NULL document; every item of a parsed response can be read and judged
 * (the count agrees). Then the body, when it is JSON, is taken as an event
 * value and its own metadata and turned into bulk lines: each document's
 * lines are complete lines of JSON (NDJSON framing holds) or a clean
 * error. Nothing leaks or overflows (ASan).
 */
#include <errno.h>
#include <string.h>

#include "codec/json.h"
#include "connectors/es_bulk.h"
#include "core/error.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

static void check_lines(const struct tr_buf *b, size_t from) {
    const char *p = b->data + from, *end = b->data + b->len;
    if (p == end) fuzz_fail("a document wrote no lines");
    if (end[-1] != '\n') fuzz_fail("bulk lines do not end in a newline");
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        tr_value v;
        if (tr_json_decode(p, (size_t)(nl - p), &v, NULL)) fuzz_fail("a bulk line is not JSON: %.*s",
                                                                     (int)(nl - p), p);
        tr_value_unref(v);
        p = nl + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint32_t ndocs = data[0];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    tr_value doc = tr_v_int(7);
    char err[512] = "";
    int failed = tr_es_bulk_parse(body, len, ndocs, &doc, err, sizeof err);
    if (failed < 0) {
        if (failed != TR_EPARSE && failed != TR_EDEPTH && failed != TR_ETOOBIG && failed != -ENOMEM)
            fuzz_fail("unexpected parse error %d", failed);
        if (doc.type != TR_NULL) fuzz_fail("failed parse left a document");
        if (!err[0]) fuzz_fail("failed parse without a message");
    } else {
        if ((uint32_t)failed > ndocs) fuzz_fail("%d failed items of %u", failed, ndocs);
        int count = 0;
        for (uint32_t i = 0; i < ndocs; i++) {
            const char *action = NULL;
            const tr_value *it = tr_es_item(&doc, i, &action);
            if (!action || it->type != TR_REC) fuzz_fail("item %u unreadable", i);
            count += tr_es_item_failed(it);
        }
        if (count != failed) fuzz_fail("count %d != %d", count, failed);
        tr_value_unref(doc);
    }
    /* the same bytes as an event: value and metadata */
    tr_value v;
    if (tr_json_decode(body, len, &v, NULL)) return 0;
    bool batched;
    uint32_t n = tr_es_docs(&v, &batched);
    if (n == 0 || (!batched && n != 1)) fuzz_fail("%u documents (batched %d)", n, batched);
    struct tr_buf b;
    tr_buf_init(&b);
    for (uint32_t i = 0; i < n; i++) {
        const tr_value *dv, *dm;
        tr_es_doc(&v, &v, batched, i, &dv, &dm);
        size_t mark = b.len;
        int rc = tr_es_bulk_append(dv, dm, &b, err, sizeof err);
        if (rc == 0) check_lines(&b, mark);
        else if (b.len != mark) fuzz_fail("a failed document left bytes");
        else if (rc != TR_EINVAL_CFG && rc != TR_EDEPTH && rc != -ENOMEM) fuzz_fail("append error %d", rc);
    }
    tr_buf_fini(&b);
    tr_value_unref(v);
    return 0;
}
