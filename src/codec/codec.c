/* codec.c - the codec table: Tremor 0.11's codec names and MIME types.
 *
 * json and string are here (json's work is in json.c); every other codec is
 * its own file, declared in codec_int.h. The MIME map is 0.11's
 * builtin_codec_map: only unambiguous types, so text/plain is string.
 */
#include "codec/codec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec_int.h"
#include "codec/json.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/utf8.h"

static int json_decode(const char *data, size_t len, uint64_t ingest_ns, tr_value *out,
                       struct tr_diag *d) {
    (void)ingest_ns;
    /* An empty frame (an empty line): 0.11's words, simd-json's generic
     * end-of-input error, which scripts and 0.11's tests look for. */
    if (len == 0) {
        *out = tr_v_null();
        if (d) tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "Eof at character 0 ('\xf0\x9f\x92\xa9')");
        return TR_EPARSE;
    }
    return tr_json_decode(data, len, out, d);
}

static int json_decode_lazy(const char *data, size_t len, uint64_t ingest_ns, tr_value *out,
                            struct tr_diag *d) {
    return len == 0 ? json_decode(data, len, ingest_ns, out, d) : tr_json_decode_lazy(data, len, out, d);
}

static int json_decode_canon(const char *data, size_t len, uint64_t ingest_ns, tr_value *out,
                             int *canonical, struct tr_diag *d) {
    *canonical = 0;
    return len == 0 ? json_decode(data, len, ingest_ns, out, d)
                    : tr_json_decode_canon(data, len, out, canonical, d);
}

static int json_encode(const tr_value *v, struct tr_buf *out) { return tr_json_encode(v, out); }

/* Undecoded text is sent as the bytes it came in as. */
static int json_view(const tr_value *v, const char **data, size_t *len) {
    if (v->type != TR_RAWJSON) return 0;
    *data = v->as.s->data;
    *len = v->as.s->len;
    return 1;
}

/* A string's bytes, or undecoded JSON text as string_encode would write it. */
static int string_view(const tr_value *v, const char **data, size_t *len) {
    return tr_codec_bytes_view(v, data, len) || json_view(v, data, len);
}

/* string: the frame is the value when it is UTF-8 (0.11: std::str::from_utf8,
 * its error text included); a value that is not a string encodes as JSON. */
static int string_decode(const char *data, size_t len, uint64_t ingest_ns, tr_value *out,
                         struct tr_diag *d) {
    size_t ok, bad;
    (void)ingest_ns;
    *out = tr_v_null();
    /* in an arena: a stream of lines fills the onramp's carried block (a
     * block of its own otherwise, sized for the one string). Checked while
     * copied, one read of the frame; a frame that is not UTF-8 costs a
     * string given back. */
    struct tr_str *s = tr_varena_str_one(len);
    if (!s) return -ENOMEM;
    if (tr_utf8_copy_check(s->data, data, len, &ok, &bad)) {
        tr_str_unref(s);
        if (d) tr_utf8_error_text(ok, bad, d->msg, sizeof d->msg);
        return TR_EPARSE;
    }
    *out = tr_v_strobj(s);
    return 0;
}

static int string_encode(const tr_value *v, struct tr_buf *out) {
    if (v->type == TR_STR || v->type == TR_BIN) return tr_buf_append(out, v->as.s->data, v->as.s->len);
    return tr_json_encode(v, out);
}

static const struct tr_codec codec_json = {
    .name = "json", .decode = json_decode, .encode = json_encode, .view = json_view,
    .decode_lazy = json_decode_lazy, .decode_canon = json_decode_canon, .raw_json = true,
    .off_loop = true,
};
static const struct tr_codec codec_string = {
    .name = "string", .decode = string_decode, .encode = string_encode, .view = string_view,
    .raw_json = true,
};

int tr_codec_bytes_view(const tr_value *v, const char **data, size_t *len) {
    if (v->type != TR_STR && v->type != TR_BIN) return 0;
    *data = v->as.s->data;
    *len = v->as.s->len;
    return 1;
}

static const struct tr_codec *const codecs[] = {
    &codec_json,         &codec_string,      &tr_codec_msgpack, &tr_codec_yaml,
    &tr_codec_binary,    &tr_codec_null,     &tr_codec_influx,  &tr_codec_binflux,
    &tr_codec_statsd,    &tr_codec_syslog,
};

static const struct {
    const char *mime;
    const struct tr_codec *codec;
} mimes[] = {
    {"application/json", &codec_json},
    {"application/yaml", &tr_codec_yaml},
    {"text/plain", &codec_string},
    {"text/html", &codec_string},
    {"application/msgpack", &tr_codec_msgpack},
    {"application/x-msgpack", &tr_codec_msgpack},
    {"application/vnd.msgpack", &tr_codec_msgpack},
    {"application/octet-stream", &tr_codec_binary},
};

const struct tr_codec *tr_codec_find(const char *name) {
    for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++)
        if (strcmp(codecs[i]->name, name) == 0) return codecs[i];
    return NULL;
}

const struct tr_codec *tr_codec_by_mime(const char *mime) {
    for (size_t i = 0; i < sizeof mimes / sizeof mimes[0]; i++)
        if (strcmp(mimes[i].mime, mime) == 0) return mimes[i].codec;
    return NULL;
}

const char *tr_codec_names(void) {
    return "json, string, msgpack, yaml, binary, null, influx, binflux, statsd, syslog";
}

/* The multi-byte characters Rust's char::is_whitespace accepts, in UTF-8. */
static const char *const uws[] = {
    "\xc2\x85", "\xc2\xa0", "\xe1\x9a\x80", "\xe2\x80\x80", "\xe2\x80\x81", "\xe2\x80\x82",
    "\xe2\x80\x83", "\xe2\x80\x84", "\xe2\x80\x85", "\xe2\x80\x86", "\xe2\x80\x87", "\xe2\x80\x88",
    "\xe2\x80\x89", "\xe2\x80\x8a", "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf", "\xe2\x81\x9f",
    "\xe3\x80\x80",
};

size_t tr_codec_ws_front(const char *s, size_t n) {
    if (n == 0) return 0;
    if (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r')) return 1;
    if ((unsigned char)s[0] < 0x80) return 0;   /* every one below starts with a lead byte */
    for (size_t i = 0; i < sizeof uws / sizeof uws[0]; i++) {
        size_t k = strlen(uws[i]);
        if (n >= k && memcmp(s, uws[i], k) == 0) return k;
    }
    return 0;
}

size_t tr_codec_ws_back(const char *s, size_t n) {
    if (n == 0) return 0;
    char c = s[n - 1];
    if (c == ' ' || (c >= '\t' && c <= '\r')) return 1;
    if ((unsigned char)c < 0x80) return 0;   /* every one below ends with a continuation byte */
    for (size_t i = 0; i < sizeof uws / sizeof uws[0]; i++) {
        size_t k = strlen(uws[i]);
        if (n >= k && memcmp(s + n - k, uws[i], k) == 0) return k;
    }
    return 0;
}

void tr_codec_trim(const char **s, size_t *n) {
    size_t k;
    while ((k = tr_codec_ws_front(*s, *n)) > 0) *s += k, *n -= k;
    while ((k = tr_codec_ws_back(*s, *n)) > 0) *n -= k;
}

static int ieq(const char *s, size_t n, const char *w) {
    if (strlen(w) != n) return 0;
    for (size_t i = 0; i < n; i++) {
        char a = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
        if (a != w[i]) return 0;
    }
    return 1;
}

int tr_codec_f64(const char *s, size_t n, double *f) {
    size_t i = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    if (ieq(s + i, n - i, "nan") || ieq(s + i, n - i, "inf") || ieq(s + i, n - i, "infinity")) {
        *f = ieq(s + i, n - i, "nan") ? __builtin_nan("") : __builtin_inf();
        if (s[0] == '-') *f = -*f;
        return 0;
    }
    size_t d0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    size_t nd = i - d0;
    if (i < n && s[i] == '.') {
        i++;
        size_t f0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        nd += i - f0;
    }
    if (nd == 0) return TR_EPARSE;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t e0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == e0) return TR_EPARSE;
    }
    if (i != n) return TR_EPARSE;
    char buf[128], *heap = NULL, *t = buf;
    if (n >= sizeof buf && !(t = heap = tr_malloc(n + 1))) return -ENOMEM;
    memcpy(t, s, n);
    t[n] = 0;
    *f = strtod(t, NULL);
    tr_free(heap);
    return 0;
}

