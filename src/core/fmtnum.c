/* fmtnum.c - shortest round-trip float digits and 0.11's two layouts.
 *
 * The digits come from the C library, not from a port of ryu: for a
 * precision p, printf's correctly rounded p-digit value (or, at a power of
 * two where the rounding interval is lopsided, its neighbour one unit
 * away) is read back with strtod; the fewest digits that give the double
 * back are the shortest and, being the correctly rounded ones, the
 * closest. Decimal-looking values take a faster path (m / 10^k); 17 digits
 * always round-trip. Neither printf nor strtod sees a decimal point, so
 * the locale cannot change the result.
 */
#include "core/fmtnum.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Does the decimal dig[0..n) x 10^e read back as a? */
static int round_trips(const char *dig, int n, int e, double a) {
    char t[48];   /* n <= 17 digits, 'e', a sign and at most 4 digits */
    memcpy(t, dig, (size_t)n);
    char *o = t + n;
    *o++ = 'e';
    if (e < 0) {
        *o++ = '-';
        e = -e;
    }
    char r[8];
    int k = 0;
    do r[k++] = (char)('0' + e % 10);
    while ((e /= 10) && k < 8);
    while (k) *o++ = r[--k];
    *o = 0;
    return strtod(t, NULL) == a;
}

/* Add delta (+1 or -1) to the n-digit decimal dig; 0 if it would change
 * the digit count (those values have fewer digits and were tried). */
static int bump(char *dig, int n, int delta) {
    int i = n - 1;
    if (delta > 0) {
        while (i >= 0 && dig[i] == '9') dig[i--] = '0';
        if (i < 0) return 0;
        dig[i]++;
    } else {
        while (i >= 0 && dig[i] == '0') dig[i--] = '9';
        if (i < 0) return 0;
        dig[i]--;
    }
    return dig[0] != '0';
}

/* The shortest digits of a > 0 (finite) into dig (no trailing zeros, at
 * most 17, NUL-terminated); returns their count and sets *kk so that
 * a = 0.dig x 10^kk. */
/* The p-digit decimal nearest a, or its neighbour one unit away on either
 * side, that reads back as a: its digits in dig (NUL-terminated, trailing
 * zeros kept) and a ~ d.ddd x 10^*e10; returns p, or 0 when none does. At
 * most one of them can: the rounding interval of a is narrower than the
 * gap between two p-digit decimals for p <= 15, and for 16 and 17 the
 * nearest lies on the interval's short side whenever a neighbour is in. */
static void nearest(double a, int p, char dig[24], int *e10) {
    char t[40];
    snprintf(t, sizeof t, "%.*e", p - 1, a);
    /* "d[.ddd]e[+-]xx": take the digits, skip whatever the point is */
    int n = 0;
    const char *q = t;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9') dig[n++] = *q;
    dig[n] = 0;
    *e10 = atoi(q + 1);
}

/* dig (p digits, a ~ d.ddd x 10^e10) or its neighbour on either side:
 * the one that reads back as a, left in dig; p, or 0 when none does. */
static int settle(double a, int p, char dig[24], int e10) {
    int e = e10 - (p - 1);           /* a ~ dig x 10^e */
    if (round_trips(dig, p, e, a)) return p;
    char alt[24];
    for (int delta = 1; delta >= -1; delta -= 2) {
        memcpy(alt, dig, (size_t)p + 1);
        if (bump(alt, p, delta) && round_trips(alt, p, e, a)) {
            memcpy(dig, alt, (size_t)p + 1);
            return p;
        }
    }
    return 0;
}

static int try_digits(double a, int p, char dig[24], int *e10) {
    nearest(a, p, dig, e10);
    return settle(a, p, dig, *e10);
}

/* The p-digit decimal nearest a (p < 17) from its 17-digit one d17, as
 * nearest() would give it, without another printf: 1, or 0 when d17 cannot
 * tell. d17 is within half a unit of its last digit of a, so the digits it
 * drops put a on the same side of halfway as they are, unless they are 5
 * then zeros (a may lie either side); a carry into a new digit (9...9) is
 * also left to printf. */
static int round_from(const char *d17, int e17, int p, char dig[24], int *e10) {
    const char *drop = d17 + p;
    int half = drop[0] == '5';
    for (const char *q = drop + 1; half && *q; q++)
        if (*q != '0') half = 0;
    if (half) return 0;
    memcpy(dig, d17, (size_t)p);
    dig[p] = 0;
    *e10 = e17;
    return drop[0] < '5' || bump(dig, p, 1);
}

/* The shortest digits of a > 0 (finite) into dig (no trailing zeros, at
 * most 17, NUL-terminated); returns their count and sets *kk so that
 * a = 0.dig x 10^kk. */
static int shortest(double a, char dig[24], int *kk) {
    /* Fast path for the common decimal-looking values: the fewest
     * fraction digits k for which m = a x 10^k (m < 2^53, so m / 10^k is
     * one correctly rounded IEEE division) gives a back. Taken only when
     * m is the one such k-digit decimal (m - 1 and m + 1 do not read back),
     * so it is the closest; otherwise the general loop below decides. */
    if (FLT_EVAL_METHOD == 0 && a < 9007199254740992.0) {
        double p10 = 1;
        for (int k = 0; k <= 22; k++, p10 *= 10) {
            double t = a * p10;
            if (t >= 9007199254740992.0) break;
            uint64_t m = (uint64_t)(t + 0.5);
            if (m == 0 || (double)m / p10 != a) continue;
            if ((double)(m + 1) / p10 == a || (double)(m - 1) / p10 == a) break;
            int n = snprintf(dig, 24, "%llu", (unsigned long long)m);
            *kk = n - k;
            while (n > 1 && dig[n - 1] == '0') n--;
            dig[n] = 0;
            return n;
        }
    }
    /* By the gap argument above at most one decimal of 15 digits reads
     * back a normal double. A shorter one that does, padded with zeros, is
     * such a decimal too: so it is the 15-digit one without its trailing
     * zeros (stripped below), and when none of 15 digits reads back the
     * answer has 16 or 17. (Trying 1, 2, ... digits first cost a printf
     * and a strtod each: 6.02e23 took four of each.) The 15- and 16-digit
     * candidates are rounded from one 17-digit printf. A subnormal's
     * interval is wider than that gap (5e-324 is 4.94065645841247e-324
     * too): there the shortest is found from 1 digit up. */
    int e10, n = 0;
    if (a >= DBL_MIN) {
        char d17[24];
        int e17;
        nearest(a, 17, d17, &e17);
        for (int p = 15; p <= 16 && !n; p++) {
            if (!round_from(d17, e17, p, dig, &e10)) nearest(a, p, dig, &e10);
            n = settle(a, p, dig, e10);
        }
        if (!n) {
            memcpy(dig, d17, sizeof d17);
            e10 = e17;
            n = 17;   /* 17 digits always read back */
        }
    } else if ((n = try_digits(a, 15, dig, &e10))) {
        for (int p = 1; p < 15; p++) {
            char d2[24];
            int e2;
            if (try_digits(a, p, d2, &e2)) {
                memcpy(dig, d2, (size_t)p + 1);
                e10 = e2;
                n = p;
                break;
            }
        }
    } else if (!(n = try_digits(a, 16, dig, &e10))) {
        n = try_digits(a, 17, dig, &e10);
        if (!n) n = (int)strlen(dig);   /* not reached: 17 digits read back */
    }
    while (n > 1 && dig[n - 1] == '0') n--;
    dig[n] = 0;
    *kk = e10 + 1;
    return n;
}

static size_t put_exp(char *o, int x) {
    return (size_t)sprintf(o, "e%d", x);
}

/* floor(x * 2^970 / 10^290), exactly: x < 2^56, so the product has at
 * most 1026 bits and the quotient fits 64. */
static uint64_t scaled(uint64_t x) {
    uint32_t w[33] = {0};    /* little-endian 32-bit limbs: 1056 bits */
    /* x << 970, 970 = 30 * 32 + 10 */
    w[30] = (uint32_t)(x << 10);
    w[31] = (uint32_t)(x >> 22);
    w[32] = (uint32_t)(x >> 54);
    /* / 10^290 = 32 divisions by 10^9 and one by 100; every partial
     * remainder is below 2^30, so each step fits 64 bits */
    for (int k = 0; k < 33; k++) {
        uint64_t d = k < 32 ? 1000000000u : 100u, rem = 0;
        for (int i = 32; i >= 0; i--) {
            uint64_t cur = rem << 32 | w[i];
            w[i] = (uint32_t)(cur / d);
            rem = cur % d;
        }
    }
    return (uint64_t)w[0] | (uint64_t)w[1] << 32;
}

/* ryu 1.0's d2s run on the bits of an infinity or NaN, which 0.11 hands
 * to format_finite: the exponent field 2047 is taken as a finite one
 * (e2 = 970, q = 290 decimal digits dropped up front), so the "value" is
 * (2^52 + mantissa) x 2^972, between 2^1024 and 2^1025. That path of d2s
 * never sees trailing zeros (q > 21); its digits are reproduced here with
 * exact arithmetic in place of ryu's tables. */
static int nonfinite_digits(double f, char dig[24], int *kk) {
    uint64_t bits;
    memcpy(&bits, &f, sizeof bits);
    uint64_t mant = bits & ((1ull << 52) - 1), m2 = (1ull << 52) | mant;
    uint64_t vr = scaled(4 * m2), vp = scaled(4 * m2 + 2), vm = scaled(4 * m2 - 1 - (mant != 0));
    int removed = 0, round_up = 0;
    while (vp / 10 > vm / 10) {
        round_up = vr % 10 >= 5;
        vr /= 10;
        vp /= 10;
        vm /= 10;
        removed++;
    }
    uint64_t out = vr + (vr == vm || round_up);
    int n = snprintf(dig, 24, "%llu", (unsigned long long)out);
    *kk = n + 290 + removed;
    while (n > 1 && dig[n - 1] == '0') n--;
    dig[n] = 0;
    return n;
}

size_t tr_fmtnum_json(double f, char out[TR_FMTNUM_MAX]) {
    char *o = out;
    if (signbit(f)) *o++ = '-';
    double a = fabs(f);
    if (a == 0) return (size_t)(o - out) + (size_t)sprintf(o, "0.0");
    char dig[24];
    int kk, n = isfinite(a) ? shortest(a, dig, &kk) : nonfinite_digits(a, dig, &kk), k = kk - n;
    if (k >= 0 && kk <= 16) {               /* 1234e7 -> 12340000000.0 */
        memcpy(o, dig, (size_t)n);
        o += n;
        for (int i = 0; i < k; i++) *o++ = '0';
        memcpy(o, ".0", 2);
        o += 2;
    } else if (kk > 0 && kk <= 16) {        /* 1234e-2 -> 12.34 */
        memcpy(o, dig, (size_t)kk);
        o += kk;
        *o++ = '.';
        memcpy(o, dig + kk, (size_t)(n - kk));
        o += n - kk;
    } else if (kk > -5 && kk <= 0) {        /* 1234e-6 -> 0.001234 */
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -kk; i++) *o++ = '0';
        memcpy(o, dig, (size_t)n);
        o += n;
    } else {                                /* 1e30, 1.234e33, 1.5e-7 */
        *o++ = dig[0];
        if (n > 1) {
            *o++ = '.';
            memcpy(o, dig + 1, (size_t)(n - 1));
            o += n - 1;
        }
        o += put_exp(o, kk - 1);
    }
    *o = 0;
    return (size_t)(o - out);
}

/* Rust's `{}` breaks a tie the other way from ryu: when a lies exactly
 * halfway between two shortest candidates (2^-25 = 2.98023223876953125e-8
 * at 17 digits), ryu keeps the even one and Rust's flt2dec the upper one.
 * Turns dig (n digits, a = 0.dig x 10^*kk) into the upper candidate when a
 * is such a tie and that candidate reads back as a too. */
static void tie_up(double a, char dig[24], int *n, int *kk) {
    /* cheap filter first: n + 2 digits that end in "50" */
    char t[800];
    snprintf(t, 48, "%.*e", *n + 1, a);
    char *e = strchr(t, 'e');
    if (!e || e - t < 2 || e[-2] != '5' || e[-1] != '0') return;
    /* the exact expansion: at most 767 significant digits */
    snprintf(t, sizeof t, "%.*e", 770, a);
    e = strchr(t, 'e');
    if (!e) return;
    char ex[800];
    int m = 0;
    for (char *q = t; q < e; q++)
        if (*q >= '0' && *q <= '9') ex[m++] = *q;
    while (m > 1 && ex[m - 1] == '0') m--;
    /* a tie between two candidates of n digits: the exact digits are
     * those n and one 5; the lower one was taken */
    int p = m - 1;
    if (ex[p] != '5' || p != *n || *kk != atoi(e + 1) + 1 || memcmp(ex, dig, (size_t)p)) return;
    char up[26];
    memcpy(up, ex, (size_t)p);
    int i = p - 1, k2 = *kk;
    while (i >= 0 && up[i] == '9') up[i--] = '0';
    if (i < 0) {
        memmove(up + 1, up, (size_t)p);
        up[0] = '1';
        k2++;
        p++;
    } else {
        up[i]++;
    }
    while (p > 1 && up[p - 1] == '0') p--;
    up[p] = 0;
    if (!round_trips(up, p, k2 - p, a)) return;
    memcpy(dig, up, (size_t)p + 1);
    *n = p;
    *kk = k2;
}

size_t tr_fmtnum_display(double f, char out[TR_FMTNUM_MAX]) {
    if (isnan(f)) return (size_t)sprintf(out, "NaN");
    if (isinf(f)) return (size_t)sprintf(out, f < 0 ? "-inf" : "inf");
    if (f == 0) return (size_t)sprintf(out, "0");   /* -0.0 too, before Rust 1.53 */
    char *o = out;
    if (f < 0) *o++ = '-';
    char dig[24];
    int kk, n = shortest(fabs(f), dig, &kk);
    tie_up(fabs(f), dig, &n, &kk);
    if (kk <= 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -kk; i++) *o++ = '0';
        memcpy(o, dig, (size_t)n);
        o += n;
    } else if (kk >= n) {
        memcpy(o, dig, (size_t)n);
        o += n;
        for (int i = 0; i < kk - n; i++) *o++ = '0';
    } else {
        memcpy(o, dig, (size_t)kk);
        o += kk;
        *o++ = '.';
        memcpy(o, dig + kk, (size_t)(n - kk));
        o += n - kk;
    }
    *o = 0;
    return (size_t)(o - out);
}
