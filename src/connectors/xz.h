/* xz.h - streaming .xz decompression (liblzma) for the file and blaster
 * onramps.
 *
 * Pull style: the caller hands in compressed bytes and an output buffer and
 * gets back as much as fits, so it decides when to stop (backpressure) and
 * how much it holds. The decoder's memory is bounded (256 MiB, far above
 * what `xz -9` needs). Concatenated .xz streams are accepted.
 */
#ifndef TR_XZ_H
#define TR_XZ_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

struct tr_xz;

/* True when path names an .xz file (by its extension, as Tremor decides). */
bool tr_xz_path(const char *path);

/* Returns 0 or -ENOMEM. */
int tr_xz_create(struct tr_xz **out);
void tr_xz_destroy(struct tr_xz *x);

/* Decompress from *in (*in and *in_len advance past what was used) into
 * out, at most cap bytes; *got says how many. last = true once *in holds
 * the end of the file. Call again while *got == cap or input is left.
 * Returns 0, -ENOMEM, or TR_ECORRUPT with d saying what is wrong with the
 * data ("is truncated", "is not in the .xz format", ...; d may be NULL). */
int tr_xz_step(struct tr_xz *x, const char **in, size_t *in_len, bool last, char *out, size_t cap,
               size_t *got, struct tr_diag *d);
/* The end of the (last) stream was reached: no more output will come. */
bool tr_xz_ended(const struct tr_xz *x);

#endif
