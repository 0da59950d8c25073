/* fuzz_utf8.c - the UTF-8 validator (core/utf8.c: codecs, WebSocket text
 * frames), checked against a plain reference decoder (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), on the whole input and on every
 * prefix cut at the first 64 offsets; with AVX2 (where the CPU has it) and
 * SSE2 alike. The check while copying must agree with the check, field for
 * field, and copy every byte.
 */
#include <string.h>

#include "core/utf8.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

static int ref_valid(const uint8_t *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        uint32_t cp, min;
        size_t k;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i - 1 < k) return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (p[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += k + 1;
    }
    return 1;
}

static void copy_agrees(const uint8_t *data, size_t size) {
    char *copy = malloc(size + 1);
    if (!copy) return;
    size_t a, b, ca, cb;
    int rc = tr_utf8_check((const char *)data, size, &a, &b);
    int crc = tr_utf8_copy_check(copy, (const char *)data, size, &ca, &cb);
    if (rc != crc || a != ca || b != cb)
        fuzz_fail("copy-check says %d/%zu/%zu, check %d/%zu/%zu, on %zu bytes", crc, ca, cb, rc, a, b, size);
    if (size && memcmp(copy, data, size) != 0) fuzz_fail("copy-check changed the bytes");
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* the first byte's low bit picks the vector path */
    tr_utf8_allow_avx2(size == 0 || (data[0] & 1) == 0);
    copy_agrees(data, size);
    int got = tr_utf8_valid((const char *)data, size), want = ref_valid(data, size);
    if (got != want) fuzz_fail("validator says %d, reference %d, on %zu bytes", got, want, size);
    for (size_t cut = 0; cut < size && cut < 64; cut++) {
        got = tr_utf8_valid((const char *)data, cut);
        want = ref_valid(data, cut);
        if (got != want) fuzz_fail("validator says %d, reference %d, on the first %zu bytes", got, want, cut);
    }
    return 0;
}
