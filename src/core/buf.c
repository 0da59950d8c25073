/* buf.c - growable byte buffer with a NUL kept after the data. */
#include "core/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

void tr_buf_init(struct tr_buf *b) {
    b->data = NULL;
    b->len = b->cap = 0;
}

void tr_buf_fini(struct tr_buf *b) {
    tr_free(b->data);
    tr_buf_init(b);
}

void tr_buf_truncate(struct tr_buf *b, size_t len) {
    if (len > b->len) return;
    b->len = len;
    if (b->data) b->data[len] = 0;
}

void tr_buf_reset(struct tr_buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

int tr_buf_reserve(struct tr_buf *b, size_t extra) {
    if (extra > SIZE_MAX - b->len - 1) return -ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    size_t nc = b->cap ? b->cap : 64;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) return -ENOMEM;
        nc *= 2;
    }
    char *p = tr_realloc(b->data, nc);
    if (!p) return -ENOMEM;
    b->data = p;
    b->cap = nc;
    return 0;
}

int tr_buf_append_grow(struct tr_buf *b, const void *p, size_t n) {
    int rc = tr_buf_reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int tr_buf_printf(struct tr_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return -EINVAL;
    int rc = tr_buf_reserve(b, (size_t)n);
    if (rc) return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

char *tr_buf_steal(struct tr_buf *b, size_t *len) {
    char *p = b->data;
    if (len) *len = b->len;
    tr_buf_init(b);
    return p;
}
