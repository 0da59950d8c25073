/* reply.c - Accept/Content-Type negotiation and JSON/YAML answers of the
 * REST API (see reply.h for the rules, taken from 0.11's tremor-api).
 * The YAML writer is ours: block style like serde_yaml 0.8, with a string
 * quoted whenever plain text could read back as anything but that string.
 */
#include "api/reply.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec/json.h"
#include "core/alloc.h"
#include "core/error.h"

const char *tr_api_mime(enum tr_api_type t) {
    switch (t) {
    case TR_API_YAML:
        return "application/yaml";
    case TR_API_TRICKLE:
        return "application/vnd.trickle";
    case TR_API_JSON:
        break;
    }
    return "application/json";
}

const char *tr_api_header(const struct tr_http_req *req, const char *name) {
    for (size_t i = req->nheaders; i-- > 0;)
        if (strcasecmp(req->headers[i].name, name) == 0) return req->headers[i].value;
    return NULL;
}

/* v equals mime, ignoring case and blanks around it */
static int same_type(const char *v, const char *mime) {
    while (*v == ' ' || *v == '\t') v++;
    size_t n = strlen(mime);
    if (strncasecmp(v, mime, n) != 0) return 0;
    for (v += n; *v; v++)
        if (*v != ' ' && *v != '\t') return 0;
    return 1;
}

enum tr_api_type tr_api_accept(const struct tr_http_req *req) {
    const char *a = tr_api_header(req, "accept");
    if (a && same_type(a, "application/yaml")) return TR_API_YAML;
    if (a && same_type(a, "application/vnd.trickle")) return TR_API_TRICKLE;
    return TR_API_JSON;
}

int tr_api_content_type(const struct tr_http_req *req, enum tr_api_type *out) {
    const char *c = tr_api_header(req, "content-type");
    static const enum tr_api_type all[] = {TR_API_JSON, TR_API_YAML, TR_API_TRICKLE};
    for (size_t i = 0; c && i < sizeof all / sizeof all[0]; i++)
        if (same_type(c, tr_api_mime(all[i]))) {
            *out = all[i];
            return 0;
        }
    return TR_ENOTFOUND;
}

/* ------------------------------------------------------------------ YAML */

static int plain_ok(const char *s, size_t n) {
    static const char *const words[] = {"null", "~", "true", "false", "yes", "no", "on", "off", "y", "n"};
    if (n == 0 || s[0] == ' ' || s[n - 1] == ' ' || strchr("-?:,[]{}#&*!|>'\"%@`.+", s[0])) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch >= 0x7f) return 0;
        if ((ch == ':' && (i + 1 == n || s[i + 1] == ' ')) || (ch == '#' && s[i - 1] == ' ')) return 0;
        if (strchr(",[]{}", ch)) return 0;   /* flow indicators, for readers in flow context */
    }
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i]) == n && strncasecmp(s, words[i], n) == 0) return 0;
    if (isdigit((unsigned char)s[0])) {
        /* a number in any YAML 1.1/1.2 form is made only of these; two dots
         * (a version) is no number */
        size_t dots = 0, other = 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i] == '.') dots++;
            else if (!strchr("0123456789_:+-eExXoObBabcdefABCDEF", s[i])) other++;
        }
        if (!other && dots < 2) return 0;
    }
    return 1;
}

static int put_scalar(const tr_value *v, struct tr_buf *out) {
    if (v->type == TR_NULL) return tr_buf_putc(out, '~');
    if (v->type == TR_STR && plain_ok(v->as.s->data, v->as.s->len))
        return tr_buf_append(out, v->as.s->data, v->as.s->len);
    /* JSON text of a scalar is valid YAML (double-quoted strings included) */
    return tr_json_encode(v, out);
}

static int is_empty_coll(const tr_value *v) {
    return (v->type == TR_ARR && v->as.a->len == 0) || (v->type == TR_REC && v->as.r->len == 0);
}

static int indent(struct tr_buf *out, unsigned n) {
    for (unsigned i = 0; i < n; i++)
        if (tr_buf_append(out, "  ", 2)) return -ENOMEM;
    return 0;
}

/* v at the start of a line indented by `level` (its first line may follow
 * "- " or "key:" already written when inline is set). */
static int put_node(const tr_value *v, struct tr_buf *out, unsigned level, int inline_first) {
    if (level > TR_VALUE_MAX_DEPTH) return TR_EDEPTH;
    int rc = 0;
    if (v->type == TR_ARR && v->as.a->len) {
        for (uint32_t i = 0; i < v->as.a->len && !rc; i++) {
            if (i || !inline_first) rc = indent(out, level);
            if (!rc) rc = tr_buf_append(out, "- ", 2);
            if (!rc) rc = put_node(&v->as.a->items[i], out, level + 1, 1);
        }
        return rc;
    }
    if (v->type == TR_REC && v->as.r->len) {
        for (uint32_t i = 0; i < v->as.r->len && !rc; i++) {
            const struct tr_field *f = &v->as.r->fields[i];
            tr_value key = tr_v_strobj(f->key);
            if (i || !inline_first) rc = indent(out, level);
            if (!rc) rc = put_scalar(&key, out);
            if (!rc) rc = tr_buf_putc(out, ':');
            if (rc) break;
            const tr_value *fv = &f->val;
            if ((fv->type == TR_ARR || fv->type == TR_REC) && !is_empty_coll(fv)) {
                rc = tr_buf_putc(out, '\n');
                /* serde_yaml indents a list under a key like a nested map */
                if (!rc) rc = put_node(fv, out, level + 1, 0);
            } else {
                rc = tr_buf_putc(out, ' ');
                if (!rc) rc = put_node(fv, out, level + 1, 1);
            }
        }
        return rc;
    }
    if (v->type == TR_ARR) rc = tr_buf_append(out, "[]", 2);
    else if (v->type == TR_REC) rc = tr_buf_append(out, "{}", 2);
    else rc = put_scalar(v, out);
    return rc ? rc : tr_buf_putc(out, '\n');
}

int tr_api_yaml_encode(const tr_value *v, struct tr_buf *out) {
    size_t keep = out->len;
    int rc = tr_buf_append(out, "---", 3);
    if (!rc) {
        if ((v->type == TR_ARR || v->type == TR_REC) && !is_empty_coll(v)) {
            rc = tr_buf_putc(out, '\n');
            if (!rc) rc = put_node(v, out, 0, 0);
        } else {
            rc = tr_buf_putc(out, ' ');
            if (!rc) rc = put_node(v, out, 0, 1);
        }
    }
    if (rc) {
        out->len = keep;
        if (out->data) out->data[keep] = '\0';
    }
    return rc;
}

/* ---------------------------------------------------------------- answers */

static int send_value(struct tr_http_req *req, int status, const tr_value *v, enum tr_api_type t,
                      const char *extra) {
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = t == TR_API_YAML ? tr_api_yaml_encode(v, &b) : tr_json_encode(v, &b);
    if (rc) {
        tr_buf_fini(&b);
        static const char oom[] = "{\"code\":500,\"error\":\"cannot encode the answer\"}";
        return tr_http_respond(req, 500, "application/json", oom, sizeof oom - 1, NULL);
    }
    rc = tr_http_respond(req, status, tr_api_mime(t), b.data, b.len, extra);
    tr_buf_fini(&b);
    return rc;
}

static int verror(struct tr_http_req *req, int status, const char *extra, const char *fmt, va_list ap) {
    char text[1001];
    vsnprintf(text, sizeof text, fmt, ap);
    tr_value rec = tr_v_null(), msg = tr_v_null();
    int rc = tr_v_rec(2, &rec);
    if (!rc) rc = tr_rec_set(&rec, "code", 4, tr_v_int(status));
    if (!rc) rc = tr_v_cstr(text, &msg);
    if (!rc) {
        rc = tr_rec_set(&rec, "error", 5, msg);
        msg = tr_v_null();
    }
    if (rc) {
        tr_value_unref(msg);
        tr_value_unref(rec);
        static const char oom[] = "{\"code\":500,\"error\":\"out of memory\"}";
        return tr_http_respond(req, 500, "application/json", oom, sizeof oom - 1, extra);
    }
    /* 0.11 writes errors for a trickle request as JSON */
    enum tr_api_type t = tr_api_accept(req) == TR_API_YAML ? TR_API_YAML : TR_API_JSON;
    rc = send_value(req, status, &rec, t, extra);
    tr_value_unref(rec);
    return rc;
}

int tr_api_error(struct tr_http_req *req, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = verror(req, status, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

int tr_api_error_extra(struct tr_http_req *req, int status, const char *extra, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = verror(req, status, extra, fmt, ap);
    va_end(ap);
    return rc;
}

int tr_api_reply(struct tr_http_req *req, int status, const tr_value *v) {
    enum tr_api_type t = tr_api_accept(req);
    if (t == TR_API_TRICKLE) return tr_api_error(req, 500, "this answer has no trickle form");
    return send_value(req, status, v, t, NULL);
}
