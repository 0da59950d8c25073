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

static int sextet(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

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
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < data; i++) {
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
