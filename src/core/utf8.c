/* utf8.c - see utf8.h. The table of well-formed byte sequences is the
 * Unicode Standard's (ch. 3, Table 3-7): the second byte's range depends on
 * the first (E0: A0..BF, ED: 80..9F, F0: 90..BF, F4: 80..8F), every other
 * continuation byte is 80..BF; C0, C1 and F5..FF never occur. */
#include "core/utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

size_t tr_utf8_step(const unsigned char *p, size_t n, int *valid) {
    unsigned char b = p[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    *valid = 0;
    if (b < 0x80) {
        *valid = 1;
        return 1;
    }
    if (b >= 0xC2 && b <= 0xDF) {
        need = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 3;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else {
        return 1;
    }
    for (size_t i = 1; i < need; i++) {
        if (i >= n) {
            *valid = -1;
            return i;
        }
        unsigned char c = p[i];
        if (c < (i == 1 ? lo : 0x80) || c > (i == 1 ? hi : 0xBF)) return i;
    }
    *valid = 1;
    return need;
}

/* How many bytes from p are ASCII. Checked 32, then 8 at a time: most
 * text is ASCII, and a call per byte made the string codec spend 85% of
 * its time here. */
static size_t ascii_run(const unsigned char *p, size_t n) {
    const uint64_t high = 0x8080808080808080ull;
    size_t i = 0;
    for (; n - i >= 32; i += 32) {
        uint64_t a, b, c, d;
        memcpy(&a, p + i, 8);
        memcpy(&b, p + i + 8, 8);
        memcpy(&c, p + i + 16, 8);
        memcpy(&d, p + i + 24, 8);
        if ((a | b | c | d) & high) break;
    }
    for (; n - i >= 8; i += 8) {
        uint64_t a;
        memcpy(&a, p + i, 8);
        if (a & high) break;
    }
    while (i < n && p[i] < 0x80) i++;
    return i;
}

int tr_utf8_check(const char *p, size_t n, size_t *valid_up_to, size_t *error_len) {
    const unsigned char *u = (const unsigned char *)p;
    for (size_t i = 0; i < n;) {
        i += ascii_run(u + i, n - i);
        if (i == n) break;
        int valid;
        size_t k = tr_utf8_step(u + i, n - i, &valid);
        if (valid != 1) {
            *valid_up_to = i;
            *error_len = valid < 0 ? 0 : k;
            return TR_EPARSE;
        }
        i += k;
    }
    *valid_up_to = n;
    *error_len = 0;
    return 0;
}

int tr_utf8_valid(const char *p, size_t n) {
    size_t up_to, len;
    return tr_utf8_check(p, n, &up_to, &len) == 0;
}

void tr_utf8_error_text(size_t valid_up_to, size_t error_len, char *msg, size_t mlen) {
    if (error_len)
        snprintf(msg, mlen, "invalid utf-8 sequence of %zu bytes from index %zu", error_len, valid_up_to);
    else
        snprintf(msg, mlen, "incomplete utf-8 byte sequence from index %zu", valid_up_to);
}
