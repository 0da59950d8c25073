/* reply.h - content negotiation and answers of the REST API, as Tremor
 * 0.11 (tremor-api/src/api.rs) does them.
 *
 * Replies follow the request's Accept header: exactly "application/yaml"
 * gives YAML, exactly "application/vnd.trickle" trickle (only where a
 * handler has trickle source to give; a value asked for as trickle is a
 * 500), anything else or none JSON. As in 0.11 only the last Accept header
 * counts and no media-range list is parsed; we also ignore case and
 * surrounding blanks. Request bodies are read by Content-Type the same way
 * (application/json, application/yaml, application/vnd.trickle).
 *
 * Errors are {"code":N,"error":"text"} in JSON, or the same record in YAML
 * when YAML was asked for; a trickle request gets the JSON form, as in 0.11.
 * Every function answers through tr_http_respond and returns its result.
 */
#ifndef TR_API_REPLY_H
#define TR_API_REPLY_H

#include "api/http.h"
#include "core/buf.h"
#include "core/value.h"

enum tr_api_type { TR_API_JSON, TR_API_YAML, TR_API_TRICKLE };

/* "application/json", "application/yaml", "application/vnd.trickle". */
const char *tr_api_mime(enum tr_api_type t);

/* The value of the last header called name (any case), or NULL. */
const char *tr_api_header(const struct tr_http_req *req, const char *name);

/* The reply type asked for by Accept (JSON by default). */
enum tr_api_type tr_api_accept(const struct tr_http_req *req);

/* The body's type by Content-Type: 0 and *out, or TR_ENOTFOUND when the
 * header is missing or names another type (0.11 answers 415 then). */
int tr_api_content_type(const struct tr_http_req *req, enum tr_api_type *out);

/* v in the type asked for; a trickle request gets 500. */
int tr_api_reply(struct tr_http_req *req, int status, const tr_value *v);

/* An error answer; the text is printf-formatted, at most 1000 bytes. */
int tr_api_error(struct tr_http_req *req, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* The same with extra header lines (each ending in "\r\n"). */
int tr_api_error_extra(struct tr_http_req *req, int status, const char *extra, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* v as YAML the way 0.11's serde_yaml writes it: "---" then block style;
 * strings plain when they read back as the same string, else
 * double-quoted. Returns 0, TR_EDEPTH, -ENOMEM (out keeps what it had). */
int tr_api_yaml_encode(const tr_value *v, struct tr_buf *out);

#endif
