/* base64.h - RFC 4648 base64 (standard alphabet), the one codec for every
 * use: the `base64` pre- and postprocessors, the blaster's `base64` option,
 * the base64 extractor, std::base64 and binaries in JSON output.
 *
 * Encoding always pads with '='. Decoding follows the base64 crate 0.13
 * (Tremor 0.11's): padding optional, '=' only at the end of the last
 * group, zero trailing bits, nothing else (whitespace included).
 */
#ifndef TR_BASE64_H
#define TR_BASE64_H

#include <stddef.h>

/* Bytes needed to encode n bytes (SIZE_MAX when that overflows). */
size_t tr_base64_encoded_len(size_t n);
/* Encode n bytes of in into out (room for tr_base64_encoded_len(n)); in
 * and out may be the same buffer (the input at its start). Returns the
 * length written. */
size_t tr_base64_encode(const unsigned char *in, size_t n, char *out);
/* Decode n characters of in into out (room for n / 4 * 3 + 2 bytes); out
 * may be in. Returns 0 and sets *len, or TR_EPARSE for invalid input
 * (length 4k+1, a byte outside the alphabet, misplaced '=', nonzero
 * trailing bits). */
int tr_base64_decode(const char *in, size_t n, unsigned char *out, size_t *len);

#endif
