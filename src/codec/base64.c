/* base64.c - RFC 4648 base64, standard alphabet (see base64.h).
 *
 * Both directions work in place: encoding runs from the last group back to
 * the first (a group's output never overwrites input not yet read), and
 * decoding runs forward (output never overtakes input).
 */
#include "codec/base64.h"

#include <stdint.h>

#include "core/error.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t tr_base64_encoded_len(size_t n) {
    size_t groups = n / 3 + (n % 3 != 0);
    if (groups > SIZE_MAX / 4) return SIZE_MAX;
    return groups * 4;
}

size_t tr_base64_encode(const unsigned char *in, size_t n, char *out) {
    size_t full = n / 3, rest = n % 3;
    size_t len = full * 4 + (rest ? 4 : 0);
    if (rest) {
        unsigned a = in[full * 3], b = rest == 2 ? in[full * 3 + 1] : 0;
        char *o = out + full * 4;
        o[0] = alphabet[a >> 2];
        o[1] = alphabet[(a & 3) << 4 | b >> 4];
        o[2] = rest == 2 ? alphabet[(b & 15) << 2] : '=';
        o[3] = '=';
    }
    for (size_t g = full; g-- > 0;) {
        unsigned a = in[g * 3], b = in[g * 3 + 1], c = in[g * 3 + 2];
        char *o = out + g * 4;
        o[0] = alphabet[a >> 2];
        o[1] = alphabet[(a & 3) << 4 | b >> 4];
        o[2] = alphabet[(b & 15) << 2 | c >> 6];
        o[3] = alphabet[c & 63];
    }
    return len;
}

/* Each byte's sextet plus one; 0 (every byte not listed, '=' included)
 * is outside the alphabet. Whole groups are decoded with four lookups. */
static const uint8_t sextets[256] = {
#define X6(c, v) [c] = (v) + 1
    X6('A', 0), X6('B', 1), X6('C', 2), X6('D', 3), X6('E', 4), X6('F', 5), X6('G', 6),
    X6('H', 7), X6('I', 8), X6('J', 9), X6('K', 10), X6('L', 11), X6('M', 12), X6('N', 13),
    X6('O', 14), X6('P', 15), X6('Q', 16), X6('R', 17), X6('S', 18), X6('T', 19), X6('U', 20),
    X6('V', 21), X6('W', 22), X6('X', 23), X6('Y', 24), X6('Z', 25), X6('a', 26), X6('b', 27),
    X6('c', 28), X6('d', 29), X6('e', 30), X6('f', 31), X6('g', 32), X6('h', 33), X6('i', 34),
    X6('j', 35), X6('k', 36), X6('l', 37), X6('m', 38), X6('n', 39), X6('o', 40), X6('p', 41),
    X6('q', 42), X6('r', 43), X6('s', 44), X6('t', 45), X6('u', 46), X6('v', 47), X6('w', 48),
    X6('x', 49), X6('y', 50), X6('z', 51), X6('0', 52), X6('1', 53), X6('2', 54), X6('3', 55),
    X6('4', 56), X6('5', 57), X6('6', 58), X6('7', 59), X6('8', 60), X6('9', 61), X6('+', 62),
    X6('/', 63),
#undef X6
};

/* The sextet of c, or -1. */
static int sextet(unsigned char c) { return (int)sextets[c] - 1; }

int tr_base64_decode(const char *in, size_t n, unsigned char *out, size_t *len) {
    *len = 0;
    /* The rules of the base64 crate 0.13 (STANDARD) that 0.11 uses
     * everywhere: a length of 4k+1 never decodes; '=' may only end the
     * input, from the third position of the last group on (so "QQ==",
     * "QQ=" and "QUI=" decode, "Q===", "QQ==QQ==" and "QUJD==" do not);
     * padding is optional; the unused low bits of the last symbol must
     * be zero. */
    if (n % 4 == 1) return TR_EPARSE;
    size_t data = n;
    while (data > 0 && in[data - 1] == '=') data--;
    for (size_t i = data; i < n; i++)
        if (i % 4 < 2) return TR_EPARSE;
    size_t o = 0, i = 0;
    /* whole groups: 4 symbols -> 3 bytes (a symbol's table entry is its
     * sextet + 1, so a 0 anywhere is a byte outside the alphabet) */
    for (; data - i >= 4; i += 4) {
        const unsigned char *g = (const unsigned char *)in + i;
        unsigned a = sextets[g[0]], b = sextets[g[1]], c = sextets[g[2]], d = sextets[g[3]];
        if (!a || !b || !c || !d) return TR_EPARSE;
        uint32_t w = (a - 1) << 18 | (b - 1) << 12 | (c - 1) << 6 | (d - 1);
        out[o] = (unsigned char)(w >> 16);
        out[o + 1] = (unsigned char)(w >> 8);
        out[o + 2] = (unsigned char)w;
        o += 3;
    }
    /* the last 2 or 3 symbols, bit by bit */
    uint32_t acc = 0;
    unsigned bits = 0;
    for (; i < data; i++) {
        int s = sextet((unsigned char)in[i]);
        if (s < 0) return TR_EPARSE;
        acc = acc << 6 | (uint32_t)s;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) return TR_EPARSE;
    *len = o;
    return 0;
}
