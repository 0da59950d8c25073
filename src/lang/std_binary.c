/* std_binary.c - std::binary and std::base64: binaries as values.
 *
 * binary::len, from_bytes (array of 0..255 to binary), into_bytes (binary
 * to array of integers); base64::encode (binary or string to text) and
 * decode (text to binary). All pure. They never look inside the bytes
 * beyond these conversions.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include "codec/base64.h"
#include "core/alloc.h"
#include "lang/std_int.h"

static int blen(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)c, (void)n;
    if (a[0].type != TR_BIN) return TR_FN_BADTYPE;
    *out = tr_v_int((int64_t)a[0].as.s->len);
    return 0;
}

static int from_bytes(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)n;
    if (a[0].type != TR_ARR) return TR_FN_BADTYPE;
    uint32_t len = tr_arr_len(&a[0]);
    uint8_t *buf = tr_malloc(len ? len : 1);
    if (!buf) return -ENOMEM;
    for (uint32_t i = 0; i < len; i++) {
        const tr_value *e = tr_arr_at(&a[0], i);
        if (e->type != TR_I64 || e->as.i < 0 || e->as.i > 255) {
            tr_free(buf);
            snprintf(c->msg, sizeof c->msg, "array contains invalid value");
            return TR_FN_BADTYPE;
        }
        buf[i] = (uint8_t)e->as.i;
    }
    int rc = tr_v_bin(buf, len, out);
    tr_free(buf);
    return rc ? -ENOMEM : 0;
}

static int into_bytes(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)c, (void)n;
    if (a[0].type != TR_BIN) return TR_FN_BADTYPE;
    const struct tr_str *s = a[0].as.s;
    tr_value arr;
    if (tr_v_arr(s->len, &arr)) return -ENOMEM;
    for (uint32_t i = 0; i < s->len; i++)
        if (tr_arr_push(&arr, tr_v_int((uint8_t)s->data[i]))) {
            tr_value_unref(arr);
            return -ENOMEM;
        }
    *out = arr;
    return 0;
}

static int encode(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)c, (void)n;
    if (a[0].type != TR_BIN && a[0].type != TR_STR) return TR_FN_BADTYPE;
    size_t need = tr_base64_encoded_len(a[0].as.s->len);
    if (need == SIZE_MAX) return -ENOMEM;
    char *buf = tr_malloc(need + 1);
    if (!buf) return -ENOMEM;
    size_t len = tr_base64_encode((const unsigned char *)a[0].as.s->data, a[0].as.s->len, buf);
    int rc = tr_v_str(buf, len, out);
    tr_free(buf);
    return rc ? -ENOMEM : 0;
}

static int decode(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)n;
    if (a[0].type != TR_STR) return TR_FN_BADTYPE;
    size_t len = 0;
    unsigned char *buf = tr_malloc(a[0].as.s->len / 4 * 3 + 3);
    if (!buf) return -ENOMEM;
    if (tr_base64_decode(a[0].as.s->data, a[0].as.s->len, buf, &len)) {
        tr_free(buf);
        snprintf(c->msg, sizeof c->msg, "Invalid base64 input");
        return TR_FN_ERROR;
    }
    int rc = tr_v_bin(buf, len, out);
    tr_free(buf);
    return rc ? -ENOMEM : 0;
}

const struct tr_fn tr_std_binary[] = {
    {"binary", "len", 1, 1, 1, blen},
    {"binary", "from_bytes", 1, 1, 1, from_bytes},
    {"binary", "into_bytes", 1, 1, 1, into_bytes},
    {NULL, NULL, 0, 0, 0, NULL},
};

const struct tr_fn tr_std_base64[] = {
    {"base64", "encode", 1, 1, 1, encode},
    {"base64", "decode", 1, 1, 1, decode},
    {NULL, NULL, 0, 0, 0, NULL},
};
