/* proc.h - pre- and postprocessors by their Tremor 0.11 names.
 *
 * A preprocessor chain turns the raw bytes of one stream into frames for the
 * codec (e.g. `lines` splits on newlines and keeps a partial last line until
 * more bytes arrive); it has state, so there is one chain per stream. A
 * postprocessor chain turns one encoded event into the bytes to send.
 *
 * Preprocessors: lines, lines-null, lines-pipe, remove-empty, base64,
 * length-prefixed, textual-length-prefix. Postprocessors: lines, base64,
 * length-prefixed, textual-length-prefix. Wire formats:
 *   length-prefixed        u64 big-endian payload length, then the payload
 *   textual-length-prefix  the length in ASCII decimal, one space, the payload
 */
#ifndef TR_PROC_H
#define TR_PROC_H

#include <stddef.h>

#include "core/buf.h"
#include "core/error.h"

/* Largest frame a preprocessor buffers or emits; longer ones are dropped. */
#define TR_PROC_MAX_LINE (16u * 1024 * 1024)

struct tr_preproc;
typedef int (*tr_frame_fn)(void *arg, const char *data, size_t len);

/* 0 when every name is known, else TR_EINVAL_CFG with d naming it. */
int tr_preproc_check(char *const *names, size_t n, struct tr_diag *d);
int tr_postproc_check(char *const *names, size_t n, struct tr_diag *d);

int tr_preproc_create(char *const *names, size_t n, struct tr_preproc **out);
void tr_preproc_destroy(struct tr_preproc *pp);
/* Feed bytes; every complete frame goes to fn (valid during the call only).
 * A frame longer than TR_PROC_MAX_LINE, bad base64 or a bad textual length
 * is dropped and counted. A non-zero return of fn stops the feed and is
 * returned. */
int tr_preproc_feed(struct tr_preproc *pp, const char *data, size_t len, tr_frame_fn fn, void *arg);
/* End of stream: emit what is left as a last frame (lines only; a partial
 * length-prefixed frame is dropped and counted). The chain can be fed again. */
int tr_preproc_finish(struct tr_preproc *pp, tr_frame_fn fn, void *arg);
unsigned long tr_preproc_dropped(const struct tr_preproc *pp);

/* Apply postprocessors to the payload in b (in place). 0, -ENOMEM,
 * TR_ETOOBIG, or TR_EINVAL_CFG for an unknown name. */
int tr_postproc_apply(char *const *names, size_t n, struct tr_buf *b);

#endif
