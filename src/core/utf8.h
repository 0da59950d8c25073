/* utf8.h - UTF-8 validation and repair with Rust's rules.
 *
 * Rust (and so Tremor 0.11) decodes bytes as UTF-8 the Unicode way: no
 * overlong forms, no surrogates, nothing above U+10FFFF. When bytes are
 * not valid, its errors and its lossy repair are defined by the *maximal
 * subpart* at the first bad position: the longest prefix of a well-formed
 * sequence found there (at least one byte). Pure functions, any thread.
 */
#ifndef TR_UTF8_H
#define TR_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* The sequence at p[0..n) (n > 0): returns its length when it is a valid
 * character (*valid = 1); else the length of its maximal subpart, with
 * *valid = 0, or -1 when that subpart runs to the end of the input (a
 * character cut short, which more bytes could complete). */
size_t tr_utf8_step(const unsigned char *p, size_t n, int *valid);

/* 0 when p[0..n) is valid UTF-8. Else TR_EPARSE, with *valid_up_to the
 * length of the valid prefix and *error_len the maximal subpart's length
 * there (1..3), or 0 when the input ends inside a character - the fields
 * of Rust's std::str::Utf8Error. */
int tr_utf8_check(const char *p, size_t n, size_t *valid_up_to, size_t *error_len);

/* tr_utf8_check of src[0..n) while copying it to dst (not overlapping),
 * one pass where the bytes are ASCII. dst holds all n bytes either way. */
int tr_utf8_copy_check(char *dst, const char *src, size_t n, size_t *valid_up_to, size_t *error_len);

/* The checks above use AVX2 where the CPU has it (decided per call, no
 * -march), SSE2 otherwise; false keeps them to SSE2, for tests of that
 * path on a CPU with AVX2. */
void tr_utf8_allow_avx2(bool allow);

/* 1 when p[0..n) is valid UTF-8 (tr_utf8_check without the details). */
int tr_utf8_valid(const char *p, size_t n);

/* Rust's Display of that Utf8Error into msg: "invalid utf-8 sequence of 1
 * bytes from index 3" or "incomplete utf-8 byte sequence from index 3". */
void tr_utf8_error_text(size_t valid_up_to, size_t error_len, char *msg, size_t mlen);

#endif
