/* proc.h - pre- and postprocessors by their Tremor 0.11 names.
 *
 * A preprocessor chain turns the raw bytes of one stream into frames for the
 * codec (e.g. `lines` splits on newlines and keeps a partial last line until
 * more bytes arrive); it has state, so there is one chain per stream. A
 * postprocessor chain turns one encoded event into the bytes to send: one
 * chunk, or several for gelf-chunking (one datagram each).
 *
 * Preprocessors: lines, lines-null, lines-pipe, lines-no-buffer,
 * lines-cr-no-buffer, remove-empty, base64, length-prefixed,
 * textual-length-prefix, gzip, zlib, xz2 (or xz), snappy, lz4, zstd,
 * decompress, gelf-chunking, gelf-chunking-tcp, ingest-ns.
 * Postprocessors: lines, base64, length-prefixed, textual-length-prefix,
 * gzip, zlib, xz2 (or xz), snappy, lz4, zstd, gelf-chunking, ingest-ns.
 * Decompressing preprocessors take each frame as one whole compressed
 * stream (as 0.11 does). Wire formats:
 *   length-prefixed        u64 big-endian payload length, then the payload
 *   textual-length-prefix  the length in ASCII decimal, one space, the payload
 *   ingest-ns              u64 big-endian ingest time in ns, then the payload
 *   snappy                 the snappy framing format (proc_snappy.c)
 *   gelf-chunking          GELF chunks (proc_gelf.c)
 */
#ifndef TR_PROC_H
#define TR_PROC_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

/* Largest frame a preprocessor buffers or emits by default (max_frame):
 * a longer line or decompressed frame is dropped; a longer length prefix
 * ends the stream. */
#define TR_PROC_MAX_LINE (16u * 1024 * 1024)

struct tr_preproc;
struct tr_budget;
struct tr_log_limit;
typedef int (*tr_frame_fn)(void *arg, const char *data, size_t len);

/* What a server's onramp bounds for each of its streams. */
struct tr_preproc_limits {
    uint64_t max_frame;          /* 0: TR_PROC_MAX_LINE */
    struct tr_budget *budget;    /* charged with the capacity the chain buffers; NULL: none */
    uint64_t share;              /* most of budget one chain may hold */
    struct tr_log_limit *log;    /* limiter for dropped-frame lines; NULL: the chain's own */
    uint64_t gelf_timeout_ns;    /* an incomplete GELF message is dropped after; 0: 5 s */
    uint32_t gelf_max_open;      /* incomplete GELF messages held at once; 0: TR_PROC_GELF_OPEN */
    uint64_t (*now_ns)(void *arg);   /* the clock for GELF timeouts; NULL: tr_now_ns */
    void *now_arg;
};

/* Incomplete GELF messages one chain holds by default; the oldest is
 * dropped for a new one. Their bytes together stay below max_frame. */
#define TR_PROC_GELF_OPEN 1024

/* 0 when every name is known, else TR_EINVAL_CFG with d naming it. */
int tr_preproc_check(char *const *names, size_t n, struct tr_diag *d);
int tr_postproc_check(char *const *names, size_t n, struct tr_diag *d);

int tr_preproc_create(char *const *names, size_t n, struct tr_preproc **out);
void tr_preproc_destroy(struct tr_preproc *pp);   /* gives back its budget charge */
/* Apply l (copied; budget and log must outlive the chain). Call before the
 * first feed. */
void tr_preproc_set_limits(struct tr_preproc *pp, const struct tr_preproc_limits *l);
/* Feed bytes; every complete frame goes to fn (valid during the call only).
 * A line longer than max_frame, bad base64, a bad textual length, a frame
 * that does not decompress or decompresses to more than max_frame bytes, a
 * bad GELF chunk or a GELF message incomplete after its timeout is dropped
 * and counted, and the stream goes on. A length prefix (binary or
 * textual) above max_frame returns TR_ETOOBIG, and buffering past the
 * budget returns TR_ETOOBIG (over the share) or TR_EFULL (over the limit):
 * those end the stream - the framing is lost or the peer must be cut off -
 * and every later feed returns the same code without output, while finish
 * emits nothing more. A non-zero return of fn stops the feed and is
 * returned. */
int tr_preproc_feed(struct tr_preproc *pp, const char *data, size_t len, tr_frame_fn fn, void *arg);
/* End of stream: emit what is left as a last frame (lines only; a partial
 * length-prefixed frame is dropped and counted). The chain can be fed again
 * unless it failed. */
int tr_preproc_finish(struct tr_preproc *pp, tr_frame_fn fn, void *arg);
unsigned long tr_preproc_dropped(const struct tr_preproc *pp);
/* Inside fn: 1 and *ns when an ingest-ns stage read the frame's ingest
 * time from the stream, else 0. */
int tr_preproc_ingest_ns(const struct tr_preproc *pp, uint64_t *ns);
/* Optional: fn(arg, why) hears of every frame the chain drops and of the
 * error that ends it (once), after the chain has logged it - for the
 * onramp's `err` port. Called from inside feed/finish. */
typedef void (*tr_preproc_err_fn)(void *arg, const char *why);
void tr_preproc_on_error(struct tr_preproc *pp, tr_preproc_err_fn fn, void *arg);

/* A postprocessor chain; it has state (the GELF message id), so one per
 * offramp instance. */
struct tr_postproc;
int tr_postproc_create(char *const *names, size_t n, struct tr_postproc **out);
void tr_postproc_destroy(struct tr_postproc *pp);
/* Apply the chain to the payload in b, with the event's ingest time. On
 * success b holds the output: tr_postproc_chunks(pp) chunks end to end,
 * chunk k ending at tr_postproc_chunk_end(pp, k). 0, -ENOMEM or
 * TR_ETOOBIG (an output above the limits, e.g. more than 128 GELF chunks). */
int tr_postproc_run(struct tr_postproc *pp, uint64_t ingest_ns, struct tr_buf *b);
size_t tr_postproc_chunks(const struct tr_postproc *pp);
size_t tr_postproc_chunk_end(const struct tr_postproc *pp, size_t k);

/* One-shot form for chains that do not split: create, run with ingest_ns
 * 0, destroy; split output is left end to end in b. TR_EINVAL_CFG for an
 * unknown name. */
int tr_postproc_apply(char *const *names, size_t n, struct tr_buf *b);

#endif
