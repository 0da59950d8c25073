/* json.h - JSON text <-> tr_value (RFC 8259).
 *
 * Strict: one document per call with only whitespace around it, UTF-8 only,
 * no BOM, no comments, no trailing commas. Decoding builds tr_values
 * directly; encoding appends to a tr_buf. Not a streaming parser and not a
 * reader of several concatenated documents.
 */
#ifndef TR_JSON_H
#define TR_JSON_H

#include <stddef.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/value.h"

/* Decode the document in buf[0..len) into *out (the caller owns it).
 *
 * Numbers: integers become TR_I64, or TR_U64 above INT64_MAX; numbers with a
 * fraction or exponent, and integers outside the 64-bit ranges, become
 * TR_F64 (correctly rounded, locale-independent); a number whose magnitude
 * overflows a double is rejected. Strings: full escapes incl. surrogate
 * pairs; invalid UTF-8 and lone surrogates are rejected; \u0000 is kept (a
 * tr_str may hold NULs). Duplicate keys: the last value wins and keeps the
 * position of the first.
 *
 * Returns 0; TR_EPARSE for malformed text; TR_EDEPTH when arrays/records nest
 * deeper than TR_VALUE_MAX_DEPTH; TR_ETOOBIG for a string over 4 GiB;
 * -ENOMEM. On failure *out is TR_NULL and, if d is not NULL, d gets the
 * 1-based line and byte column of the offending byte and a message
 * ("expected ',' or '}' after object member near 'x'"); d->file is left as
 * the caller set it. Never recurses: input depth cannot exhaust the stack.
 */
int tr_json_decode(const char *buf, size_t len, tr_value *out, struct tr_diag *d);

/* 1 when decoding buf[0..len) and encoding the result with
 * tr_json_encode gives back exactly these bytes, else 0 (also for text
 * that is not JSON). Such text has no whitespace, no repeated key, no
 * "-0", floats in the encoder's shortest form and only the escapes the
 * encoder writes. Looks at most 32 levels deep and 128 keys of the
 * records open at once (0 beyond); reads each byte once, allocates
 * nothing. */
int tr_json_canonical(const char *buf, size_t len);

/* tr_json_decode, and *canonical (when not NULL) set to 1 only if
 * tr_json_encode of *out gives back exactly buf[0..len): what
 * tr_json_canonical says, found while decoding at almost no cost, except
 * that any escape in a string counts as a change (0 where
 * tr_json_canonical might say 1). 0 on failure. */
int tr_json_decode_canon(const char *buf, size_t len, tr_value *out, int *canonical,
                         struct tr_diag *d);

/* tr_json_decode, except that canonical text (above) is not decoded: *out
 * becomes a TR_RAWJSON holding a copy of its bytes, for a holder that
 * decodes it only when something reads it (an event on its way to the
 * WAL and out again). Errors are tr_json_decode's. */
int tr_json_decode_lazy(const char *buf, size_t len, tr_value *out, struct tr_diag *d);

/* Decode *v in place if it is TR_RAWJSON; anything else is left alone.
 * 0, -ENOMEM, or TR_ECORRUPT for bytes that are not JSON (*v unchanged on
 * failure). */
int tr_json_materialize(tr_value *v);

/* Append the compact JSON text of v to out (no trailing newline).
 *
 * Floats print as Tremor 0.11 writes them (ryu: shortest round-trip digits,
 * "1.0", "1e300", "1e-7"; infinities and NaN as ryu prints their bits, see
 * core/fmtnum.h). Binaries become base64 strings (standard alphabet,
 * padded), as tremor-value writes them. Strings escape '"', '\\' and
 * control characters; other UTF-8 passes through, and bytes that are not
 * valid UTF-8 are written as \ufffd so the output is always valid JSON.
 *
 * A TR_RAWJSON is written as the bytes it holds (indented, it is decoded
 * first).
 *
 * Returns 0; TR_EDEPTH if v nests deeper than TR_VALUE_MAX_DEPTH; -ENOMEM.
 * On failure out keeps exactly its previous contents.
 */
int tr_json_encode(const tr_value *v, struct tr_buf *out);

/* Same as tr_json_encode, indented by two spaces per level, for humans. */
int tr_json_encode_pretty(const tr_value *v, struct tr_buf *out);

/* tr_json_encode with options: TR_JSON_PRETTY indents; TR_JSON_BIN_ARRAY
 * writes binaries as arrays of byte values, as 0.11's json::encode does
 * (simd-json's serde serializer), instead of base64 strings. */
#define TR_JSON_PRETTY 1u
#define TR_JSON_BIN_ARRAY 2u
int tr_json_encode_flags(const tr_value *v, struct tr_buf *out, unsigned flags);

#endif
