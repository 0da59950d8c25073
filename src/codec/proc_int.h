/* proc_int.h - what the files of the proc module share: the chain and its
 * stages (proc.c), compression (proc_zip.c), snappy framing
 * (proc_snappy.c) and GELF chunking (proc_gelf.c). Not for other modules.
 */
#ifndef TR_PROC_INT_H
#define TR_PROC_INT_H

#include <stddef.h>
#include <stdint.h>

#include "codec/proc.h"
#include "core/budget.h"
#include "core/log.h"

/* Compressed formats, by their preprocessor names. */
enum tr_proc_fmt { TR_FMT_GZIP, TR_FMT_ZLIB, TR_FMT_XZ, TR_FMT_SNAPPY, TR_FMT_LZ4, TR_FMT_ZSTD };

enum stage_kind {
    ST_LINES, ST_LINES_NOBUF, ST_REMOVE_EMPTY, ST_BASE64, ST_LENGTH, ST_TEXTLEN,
    ST_INFLATE, ST_DECOMPRESS, ST_GELF, ST_INGEST_NS,
};

struct proc_gelf;   /* proc_gelf.c */

/* Length-framed stages: reading the prefix, then want payload bytes.
 *
 *   HEAD --prefix complete--> BODY --want bytes--> emit, HEAD
 *     |--prefix above max_frame--> the chain fails (TR_ETOOBIG)
 *     +--bad textual prefix--> drop up to the next whitespace, HEAD
 */
struct stage {
    enum stage_kind kind;
    char sep;                /* lines: the separator */
    int arg;                 /* inflate: enum tr_proc_fmt; gelf: 1 for the TCP variant */
    struct tr_buf partial;   /* lines: the unfinished line; framed: prefix or payload so far */
    struct tr_buf scratch;   /* base64, inflate: the decoded frame */
    int skipping;            /* lines: inside an over-long line */
    int have_len;            /* framed: in BODY */
    int bad_prefix;          /* textual: the prefix so far is not a number */
    uint64_t want;           /* framed: payload length */
    struct proc_gelf *gelf;  /* gelf: open messages */
};

struct tr_preproc {
    struct stage *stages;
    size_t n;
    unsigned long dropped;
    int failed;                  /* 0, or the error that ended the stream */
    struct tr_preproc_limits lim;
    struct tr_budget_hold hold;  /* sum of what the stages buffer */
    struct tr_log_limit own_log;
    tr_preproc_err_fn on_error;  /* NULL: nobody listens */
    void *on_error_arg;
    uint64_t ingest_ns;          /* set by ingest-ns for the frames of this feed */
    int have_ingest;
};

struct proc_ctx {
    struct tr_preproc *pp;
    tr_frame_fn fn;
    void *arg;
};

/* proc.c: hand a frame to stage next (or to the caller past the last). */
int tr_proc_emit(struct proc_ctx *c, size_t next, const char *data, size_t len);
/* Count and report a dropped frame; the stream goes on. */
void tr_proc_drop(struct proc_ctx *c, const char *why);
/* The chain cannot go on: every later feed returns rc. */
int tr_proc_fail(struct proc_ctx *c, int rc);
/* Room for extra more bytes in b, its capacity charged to the budget first. */
int tr_proc_grow(struct proc_ctx *c, struct tr_buf *b, size_t extra);
/* Charge bytes held outside a tr_buf (gelf segments); delta may be negative. */
int tr_proc_charge(struct proc_ctx *c, int64_t delta);
/* After a frame: empty b, freeing it when large. */
void tr_proc_done_with(struct proc_ctx *c, struct tr_buf *b);
uint64_t tr_proc_now(const struct tr_preproc *pp);

/* proc_zip.c: decompress one whole frame (every member of a concatenated
 * stream) onto out. 0; 1 when the frame is bad and is to be dropped (*why
 * says so: corrupt, truncated, or more than max bytes out - a bomb); < 0
 * when the chain fails (budget). */
int tr_proc_inflate(struct proc_ctx *c, enum tr_proc_fmt fmt, const char *in, size_t len,
                    struct tr_buf *out, const char **why);
/* The format whose magic bytes start in, or -1. */
int tr_proc_sniff(const char *in, size_t len);
/* Compress in as one whole stream onto out. 0, -ENOMEM or TR_ETOOBIG. */
int tr_proc_deflate(enum tr_proc_fmt fmt, const char *in, size_t len, struct tr_buf *out);

/* proc_snappy.c: the snappy framing format, both ways. */
int tr_proc_snappy_decode(struct proc_ctx *c, const char *in, size_t len, struct tr_buf *out,
                          const char **why);
int tr_proc_snappy_encode(const char *in, size_t len, struct tr_buf *out);

/* proc_gelf.c: reassembly (stage i of a chain) and chunking. */
int tr_proc_gelf_feed(struct proc_ctx *c, size_t i, const char *data, size_t len);
/* End of stream: drop (and count) what is still incomplete. */
void tr_proc_gelf_finish(struct proc_ctx *c, size_t i);
void tr_proc_gelf_free(struct proc_gelf *g);
/* Cut in into GELF chunks of at most chunk bytes (header included) with
 * message id id; each chunk is appended to out and end(arg) marks its end.
 * TR_ETOOBIG above 128 chunks. */
int tr_proc_gelf_chunk(const char *in, size_t len, uint64_t id, size_t chunk, struct tr_buf *out,
                       int (*end)(void *arg), void *arg);

static inline void tr_proc_put64(unsigned char *p, uint64_t v) {
    for (int k = 7; k >= 0; k--, v >>= 8) p[k] = (unsigned char)v;
}
static inline uint64_t tr_proc_get64(const unsigned char *p) {
    uint64_t v = 0;
    for (int k = 0; k < 8; k++) v = v << 8 | p[k];
    return v;
}

#endif
