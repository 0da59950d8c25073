/* std_url.c - std::url: percent-encoding of strings, as Tremor 0.11 has it.
 *
 * encode escapes every byte that is not an ASCII letter or digit as %XX
 * (upper-case hex, the percent-encoding crate's NON_ALPHANUMERIC set);
 * decode turns each %XX with two hex digits back into its byte, leaves any
 * other '%' (and '+') as it is, and fails when the bytes are not UTF-8.
 * 0.11 has no url::parse. Not pure in 0.11, so never folded at compile time.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "lang/std_int.h"

static int alnum(unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static int hexval(unsigned char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Strict UTF-8 as Rust's str: no overlong forms, surrogates or values past U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        if (!k || i + k > n) return 0;
        uint32_t cp = k == 1 ? c : k == 2 ? c & 0x1fu : k == 3 ? c & 0x0fu : c & 0x07u;
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3fu);
        }
        static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += k;
    }
    return 1;
}

static int encode(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)c, (void)n;
    if (a[0].type != TR_STR) return TR_FN_BADTYPE;
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)a[0].as.s->data;
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = 0;
    for (uint32_t i = 0; i < a[0].as.s->len && !rc; i++) {
        if (alnum(s[i])) rc = tr_buf_putc(&b, (char)s[i]);
        else rc = tr_buf_printf(&b, "%%%c%c", hex[s[i] >> 4], hex[s[i] & 15]);
    }
    if (!rc) rc = tr_v_str(b.data ? b.data : "", b.len, out);
    tr_buf_fini(&b);
    return rc;
}

static int decode(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)n;
    if (a[0].type != TR_STR) return TR_FN_BADTYPE;
    const unsigned char *s = (const unsigned char *)a[0].as.s->data;
    uint32_t len = a[0].as.s->len;
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = 0;
    for (uint32_t i = 0; i < len && !rc; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = hexval(s[i + 1])) >= 0 && (lo = hexval(s[i + 2])) >= 0) {
            rc = tr_buf_putc(&b, (char)(hi << 4 | lo));
            i += 2;
        } else {
            rc = tr_buf_putc(&b, (char)s[i]);
        }
    }
    if (!rc && !utf8_valid((const unsigned char *)(b.data ? b.data : ""), b.len)) {
        snprintf(c->msg, sizeof c->msg, "Could not urldecode value: %.*s", (int)(len > 400 ? 400 : len),
                 a[0].as.s->data);
        rc = TR_FN_ERROR;
    }
    if (!rc) rc = tr_v_str(b.data ? b.data : "", b.len, out);
    tr_buf_fini(&b);
    return rc;
}

const struct tr_fn tr_std_url[] = {
    {"url", "decode", 1, 1, 0, decode},
    {"url", "encode", 1, 1, 0, encode},
    {NULL, NULL, 0, 0, 0, NULL},
};
