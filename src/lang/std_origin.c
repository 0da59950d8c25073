/* std_origin.c - tremor::origin: the uri of the source an event came from.
 *
 * The origin is whatever the caller put in tr_lang_ctx.origin; without one
 * every function returns null. Nothing here is pure: the answer changes per
 * event, so no call may be folded at compile time.
 * Invariant: the functions only read the caller's strings, never keep them.
 */
#include <errno.h>
#include <string.h>

#include "core/buf.h"
#include "lang/std_int.h"

/* The event's origin; none is known until tr_lang_ctx carries one (see
 * query.h), which is what upstream answers for an event without a uri. */
static const struct tr_lang_origin *origin_of(const struct tr_fcall *c) {
    return c->ctx ? c->ctx->origin : NULL;
}

static int path_array(const struct tr_lang_origin *o, tr_value *out) {
    int rc = tr_v_arr(o->npath, out);
    for (size_t i = 0; !rc && i < o->npath; i++) {
        tr_value seg;
        rc = tr_v_cstr(o->path[i], &seg);
        if (!rc) rc = tr_arr_push(out, seg);
    }
    if (rc) {
        tr_value_unref(*out);
        *out = tr_v_null();
    }
    return rc;
}

static int as_uri_string(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)a, (void)n;
    const struct tr_lang_origin *o = origin_of(c);
    if (!o) {
        *out = tr_v_null();
        return 0;
    }
    /* scheme://host[:port] then the path segments joined by '/' */
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = tr_buf_printf(&b, "%s://%s", o->scheme ? o->scheme : "", o->host ? o->host : "");
    if (!rc && o->has_port) rc = tr_buf_printf(&b, ":%u", (unsigned)o->port);
    for (size_t i = 0; !rc && i < o->npath; i++) rc = tr_buf_printf(&b, "/%s", o->path[i]);
    if (!rc) rc = tr_v_str(b.data ? b.data : "", b.len, out);
    tr_buf_fini(&b);
    return rc;
}

static int port_value(const struct tr_lang_origin *o, tr_value *out) {
    *out = o && o->has_port ? tr_v_uint(o->port) : tr_v_null();
    return 0;
}

static int as_uri_record(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)a, (void)n;
    const struct tr_lang_origin *o = origin_of(c);
    *out = tr_v_null();
    if (!o) return 0;
    tr_value r, v;
    int rc = tr_v_rec(4, &r);
    if (rc) return rc;
    rc = tr_v_cstr(o->scheme ? o->scheme : "", &v);
    if (!rc) rc = tr_rec_set(&r, "scheme", 6, v);
    if (!rc) rc = tr_v_cstr(o->host ? o->host : "", &v);
    if (!rc) rc = tr_rec_set(&r, "host", 4, v);
    if (!rc) rc = port_value(o, &v);
    if (!rc) rc = tr_rec_set(&r, "port", 4, v);
    if (!rc) rc = path_array(o, &v);
    if (!rc) rc = tr_rec_set(&r, "path", 4, v);
    if (rc) tr_value_unref(r);
    else *out = r;
    return rc;
}

static int scheme(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)a, (void)n;
    const struct tr_lang_origin *o = origin_of(c);
    *out = tr_v_null();
    return o ? tr_v_cstr(o->scheme ? o->scheme : "", out) : 0;
}

static int host(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)a, (void)n;
    const struct tr_lang_origin *o = origin_of(c);
    *out = tr_v_null();
    return o ? tr_v_cstr(o->host ? o->host : "", out) : 0;
}

static int port(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)a, (void)n;
    return port_value(origin_of(c), out);
}

static int path(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)a, (void)n;
    const struct tr_lang_origin *o = origin_of(c);
    *out = tr_v_null();
    return o ? path_array(o, out) : 0;
}

const struct tr_fn tr_std_origin[] = {
    {"origin", "as_uri_string", 0, 0, 0, as_uri_string},
    {"origin", "as_uri_record", 0, 0, 0, as_uri_record},
    {"origin", "scheme", 0, 0, 0, scheme},
    {"origin", "host", 0, 0, 0, host},
    {"origin", "port", 0, 0, 0, port},
    {"origin", "path", 0, 0, 0, path},
    {NULL, NULL, 0, 0, 0, NULL},
};
