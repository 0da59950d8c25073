/* es_bulk.c - the _bulk request body and response verdicts (es_bulk.h).
 *
 * Lines are written with our JSON encoder, so a document's strings are
 * escaped once and no line can contain a raw newline: NDJSON framing holds
 * for any value. Parsing checks the whole shape before anyone reads an
 * item, so callers index items without further checks.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "codec/json.h"
#include "connectors/es_bulk.h"
#include "core/error.h"

static const tr_value *batch_data(const tr_value *el) {
    if (el->type != TR_REC) return NULL;
    const tr_value *d = tr_rec_get_cstr(el, "data");
    if (!d || d->type != TR_REC || !tr_rec_get_cstr(d, "value") || !tr_rec_get_cstr(d, "is_batch"))
        return NULL;
    const tr_value *m = tr_rec_get_cstr(d, "meta");
    return m && m->type == TR_REC ? d : NULL;
}

uint32_t tr_es_docs(const tr_value *value, bool *batched) {
    *batched = false;
    if (value->type != TR_ARR || tr_arr_len(value) == 0) return 1;
    for (uint32_t i = 0; i < tr_arr_len(value); i++)
        if (!batch_data(tr_arr_at(value, i))) return 1;
    *batched = true;
    return tr_arr_len(value);
}

void tr_es_doc(const tr_value *value, const tr_value *meta, bool batched, uint32_t i,
               const tr_value **v, const tr_value **m) {
    const tr_value *d = batched ? batch_data(tr_arr_at(value, i)) : NULL;
    if (d) {
        *v = tr_rec_get_cstr(d, "value");
        *m = tr_rec_get_cstr(d, "meta");
    } else {
        *v = value;
        *m = meta;
    }
}

/* meta.<old> (deprecated in 0.11) or meta.elastic.<key>; strings only. */
static const tr_value *meta_str(const tr_value *m, const char *old, const char *key) {
    if (!m || m->type != TR_REC) return NULL;
    const tr_value *x = tr_rec_get_cstr(m, old);
    if (x && x->type == TR_STR) return x;
    const tr_value *es = tr_rec_get_cstr(m, "elastic");
    x = es && es->type == TR_REC ? tr_rec_get_cstr(es, key) : NULL;
    return x && x->type == TR_STR ? x : NULL;
}

static int set(tr_value *rec, const char *key, const tr_value *s) {
    return s ? tr_rec_set(rec, key, strlen(key), tr_value_ref(*s)) : 0;
}

int tr_es_bulk_append(const tr_value *v, const tr_value *m, struct tr_buf *body, char *err,
                      size_t errlen) {
    const tr_value *index = meta_str(m, "index", "_index");
    if (!index) {
        snprintf(err, errlen, "'index' not set for elastic offramp!");
        return TR_EINVAL_CFG;
    }
    const tr_value *act = meta_str(m, "action", "action");
    static const char *const actions[] = {"index", "create", "update", "delete"};
    const char *action = "index";
    if (act) {
        action = NULL;
        for (size_t k = 0; k < 4; k++)
            if (strcmp(act->as.s->data, actions[k]) == 0 && act->as.s->len == strlen(actions[k]))
                action = actions[k];
        if (!action) {
            snprintf(err, errlen, "invalid ES operation, use one of `delete`, `create`, `update`, "
                     "`index`: %.200s", act->as.s->data);
            return TR_EINVAL_CFG;
        }
    }
    size_t mark = body->len;
    tr_value line = tr_v_null(), head = tr_v_null(), doc = tr_v_null();
    int rc = tr_v_rec(4, &head);
    if (!rc) rc = set(&head, "_index", index);
    if (!rc) rc = set(&head, "_type", meta_str(m, "doc_type", "_type"));
    if (!rc) rc = set(&head, "_id", meta_str(m, "doc_id", "_id"));
    if (!rc) rc = set(&head, "pipeline", meta_str(m, "pipeline", "pipeline"));
    if (!rc) rc = tr_v_rec(1, &line);
    if (!rc) {
        rc = tr_rec_set(&line, action, strlen(action), head);
        head = tr_v_null();
    }
    if (!rc) rc = tr_json_encode(&line, body);
    if (!rc && strcmp(action, "delete") != 0) {
        rc = tr_buf_putc(body, '\n');
        if (!rc && strcmp(action, "update") == 0) {
            rc = tr_v_rec(1, &doc);
            if (!rc) rc = tr_rec_set(&doc, "doc", 3, tr_value_ref(*v));
            if (!rc) rc = tr_json_encode(&doc, body);
        } else if (!rc) {
            rc = tr_json_encode(v, body);
        }
    }
    if (!rc) rc = tr_buf_putc(body, '\n');
    tr_value_unref(head);
    tr_value_unref(line);
    tr_value_unref(doc);
    if (rc) {
        tr_buf_truncate(body, mark);
        snprintf(err, errlen, "cannot encode the document: %s", tr_strerror(rc));
    }
    return rc;
}

static int shape_err(tr_value *doc, char *err, size_t errlen, const char *what, uint32_t i) {
    tr_value_unref(*doc);
    *doc = tr_v_null();
    snprintf(err, errlen, "unexpected _bulk response: %s (item %u)", what, i);
    return TR_EPARSE;
}

int tr_es_bulk_parse(const char *body, size_t len, uint32_t ndocs, tr_value *doc, char *err,
                     size_t errlen) {
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_json_decode(body, len, doc, &d);
    if (rc) {
        snprintf(err, errlen, "the _bulk response is not JSON: %d:%d: %s", d.line, d.col,
                 d.msg[0] ? d.msg : tr_strerror(rc));
        return rc;
    }
    if (doc->type != TR_REC) return shape_err(doc, err, errlen, "not an object", 0);
    const tr_value *items = tr_rec_get_cstr(doc, "items");
    if (!items || items->type != TR_ARR) return shape_err(doc, err, errlen, "no `items` array", 0);
    if (tr_arr_len(items) != ndocs) {
        char what[96];
        snprintf(what, sizeof what, "%u items for %u documents", tr_arr_len(items), ndocs);
        return shape_err(doc, err, errlen, what, 0);
    }
    int failed = 0;
    for (uint32_t i = 0; i < ndocs; i++) {
        const tr_value *it = tr_arr_at(items, i);
        if (it->type != TR_REC || tr_rec_len(it) != 1)
            return shape_err(doc, err, errlen, "an item is not {action: {...}}", i);
        const tr_value *in = &tr_rec_at(it, 0)->val;
        if (in->type != TR_REC) return shape_err(doc, err, errlen, "an item's result is not an object", i);
        if (tr_es_item_failed(in)) failed++;
    }
    return failed;
}

const tr_value *tr_es_item(const tr_value *doc, uint32_t i, const char **action) {
    const tr_value *it = tr_arr_at(tr_rec_get_cstr(doc, "items"), i);
    struct tr_field *f = tr_rec_at(it, 0);
    if (action) *action = f->key->data;
    return &f->val;
}

bool tr_es_item_failed(const tr_value *item) {
    const tr_value *st = tr_rec_get_cstr(item, "status");
    if (!st || st->type != TR_I64 || st->as.i < 200 || st->as.i > 299) return true;
    const tr_value *e = tr_rec_get_cstr(item, "error");
    return e && e->type != TR_NULL;
}
