/* codec_int.h - what the codec table (codec.c) needs from each codec file.
 *
 * Each codec file defines one const struct tr_codec with its 0.11 name; the
 * table in codec.c lists them. Callers outside src/codec reach a codec only
 * through tr_codec_find / tr_codec_by_mime (codec.h).
 */
#ifndef TR_CODEC_INT_H
#define TR_CODEC_INT_H

#include "codec/codec.h"
#include "core/utf8.h"

extern const struct tr_codec tr_codec_msgpack;  /* msgpack.c */
extern const struct tr_codec tr_codec_yaml;     /* yaml.c */
extern const struct tr_codec tr_codec_binary;   /* binary.c */
extern const struct tr_codec tr_codec_null;     /* null.c */
extern const struct tr_codec tr_codec_influx;   /* influx.c */
extern const struct tr_codec tr_codec_binflux;  /* binflux.c */
extern const struct tr_codec tr_codec_statsd;   /* statsd.c */
extern const struct tr_codec tr_codec_syslog;   /* syslog.c */

/* Bounds every decoder applies to input from outside. */
#define TR_CODEC_MAX_FRAME (64u << 20)  /* bytes of one frame */
#define TR_CODEC_MAX_ITEMS (1u << 24)   /* elements announced by one length prefix */

/* Bytes of the Unicode white-space character (Rust's char::is_whitespace)
 * that starts at s[0] / ends at s[n-1]; 0 when there is none. */
size_t tr_codec_ws_front(const char *s, size_t n);
size_t tr_codec_ws_back(const char *s, size_t n);
/* A float as Rust's f64::from_str reads one: [+-]?(d+(.d*)?|.d+)([eE][+-]?d+)?
 * or nan/inf/infinity in any case, nothing else around it. 0, TR_EPARSE
 * when s is not one, -ENOMEM. */
int tr_codec_f64(const char *s, size_t n, double *f);
/* Shrinks [*s, *s + *n) by the white space at both ends (Rust's str::trim). */
void tr_codec_trim(const char **s, size_t *n);

#endif
