/* ws_utf8.c - strict UTF-8 validation for WebSocket text messages.
 *
 * RFC 6455 8.1: a text message must be valid UTF-8 as a whole; a client
 * refuses to send anything else and a server closes with 1007. Not a
 * decoder. Invariant: accepts exactly the well-formed sequences of Unicode
 * 3.9 table 3-7 (no overlongs, no surrogates, nothing above U+10FFFF).
 */
#include "connectors/ws_int.h"

int tr_ws_utf8_valid(const void *data, size_t n) {
    const unsigned char *p = data, *end = p + n;
    while (p < end) {
        unsigned char c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF;   /* range of the 2nd byte */
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c == 0xE0) need = 2, lo = 0xA0;
        else if (c == 0xED) need = 2, hi = 0x9F;
        else if (c >= 0xE1 && c <= 0xEF) need = 2;
        else if (c == 0xF0) need = 3, lo = 0x90;
        else if (c == 0xF4) need = 3, hi = 0x8F;
        else if (c >= 0xF1 && c <= 0xF3) need = 3;
        else return 0;
        if ((size_t)(end - p) <= need) return 0;
        if (p[1] < lo || p[1] > hi) return 0;
        for (size_t i = 2; i <= need; i++)
            if ((p[i] & 0xC0) != 0x80) return 0;
        p += need + 1;
    }
    return 1;
}
