/* fmtnum.h - floats as Tremor 0.11 prints them.
 *
 * Two renderings of one double, both built on its shortest round-trip
 * digits (the fewest significant digits that read back to the same double,
 * the closest such number when several qualify):
 *   json:    what tremor-value's JSON writer prints (ryu 1.0's format_finite):
 *            "0.1", "1000000000000000.0", "1e16", "1e-7", "1.5e300", "-0.0".
 *   display: what Rust 1.52's `{}` prints (array::join): never an exponent,
 *            no ".0" on integral values, "0" for -0.0, "NaN", "inf", "-inf";
 *            a value halfway between two shortest candidates takes the
 *            upper one (ryu, in json, the even one).
 * Locale-independent; no allocation; pure functions, any thread.
 */
#ifndef TR_FMTNUM_H
#define TR_FMTNUM_H

#include <stddef.h>

/* Enough for any double in either rendering (5e-324 in display form is
 * "0." + 323 zeros + "5"), plus the NUL. */
#define TR_FMTNUM_MAX 352

/* Write f's JSON text to out (NUL-terminated); returns its length.
 * Infinities and NaN are printed as ryu prints their bit patterns when
 * asked to format them as finite, which is what 0.11 does with them:
 * +-1.797693134862316e308 for +-inf, +-2.696539702293474e308 for a quiet
 * NaN without payload, and a number of its own for every other payload
 * (7ff6e4cf0f4820a1 gives 2.5722499494419587e308). */
size_t tr_fmtnum_json(double f, char out[TR_FMTNUM_MAX]);

/* Write f as Rust 1.52's Display does to out (NUL-terminated); returns
 * its length. */
size_t tr_fmtnum_display(double f, char out[TR_FMTNUM_MAX]);

#endif
