/* buf.h - a growable byte buffer.
 *
 * Used by encoders and framers. data is always NUL-terminated (len excludes
 * the NUL) so text can be handed to C string functions. A buffer that failed
 * to grow keeps its old contents and reports -ENOMEM.
 */
#ifndef TR_BUF_H
#define TR_BUF_H

#include <stddef.h>
#include <string.h>

struct tr_buf {
    char *data;
    size_t len;
    size_t cap;
};

void tr_buf_init(struct tr_buf *b);
void tr_buf_fini(struct tr_buf *b);
void tr_buf_reset(struct tr_buf *b);              /* len = 0, keeps memory */
void tr_buf_truncate(struct tr_buf *b, size_t len); /* back to len (<= b->len): undo appends */
int tr_buf_reserve(struct tr_buf *b, size_t extra); /* room for extra more bytes */
/* Append n bytes / one byte. Inline: encoders call them per field, and
 * when the buffer has room (nearly always) they are a copy and a store;
 * only growing goes out of line. */
int tr_buf_append_grow(struct tr_buf *b, const void *p, size_t n);
static inline int tr_buf_append(struct tr_buf *b, const void *p, size_t n) {
    if (n >= b->cap - b->len) return tr_buf_append_grow(b, p, n);   /* cap 0: len 0, grows */
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}
static inline int tr_buf_putc(struct tr_buf *b, char c) {
    if (b->len + 1 >= b->cap) return tr_buf_append_grow(b, &c, 1);
    b->data[b->len++] = c;
    b->data[b->len] = 0;
    return 0;
}
int tr_buf_printf(struct tr_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Hand the memory to the caller (tr_free it); the buffer is reset. */
char *tr_buf_steal(struct tr_buf *b, size_t *len);

#endif
