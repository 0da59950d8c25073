/* utf8.c - see utf8.h. The table of well-formed byte sequences is the
 * Unicode Standard's (ch. 3, Table 3-7): the second byte's range depends on
 * the first (E0: A0..BF, ED: 80..9F, F0: 90..BF, F4: 80..8F), every other
 * continuation byte is 80..BF; C0, C1 and F5..FF never occur. */
#include "core/utf8.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif
/* AVX2 where the CPU has it, chosen per call: the build needs no -march */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_AVX2_PATH 1
#else
#define HAVE_AVX2_PATH 0
#endif

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

/* How many bytes from p are ASCII. Most text is ASCII, and a call per byte
 * made the string codec spend 85% of its time here; so the bytes are
 * checked 64 at a time (the high bits of four 16-byte vectors ORed, SSE2 is
 * in every x86-64), then 16, then the last 16 once more; without SSE2, 8 at
 * a time in plain C. */
static size_t ascii_run(const unsigned char *p, size_t n) {
    const uint64_t high = 0x8080808080808080ull;
    size_t i = 0;
#ifdef __SSE2__
    for (; n - i >= 64; i += 64) {
        const __m128i *v = (const __m128i *)(const void *)(p + i);
        __m128i x = _mm_or_si128(_mm_or_si128(_mm_loadu_si128(v), _mm_loadu_si128(v + 1)),
                                 _mm_or_si128(_mm_loadu_si128(v + 2), _mm_loadu_si128(v + 3)));
        if (_mm_movemask_epi8(x)) break;
    }
    for (; n - i >= 16; i += 16) {
        int m = _mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + i)));
        if (m) return i + (size_t)__builtin_ctz((unsigned)m);
    }
    /* the last few bytes: one load of the final 16, overlapping bytes
     * already found ASCII (so any high bit is at or past i) */
    if (i < n && n >= 16) {
        int m = _mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + n - 16)));
        return m ? n - 16 + (size_t)__builtin_ctz((unsigned)m) : n;
    }
#endif
    for (; n - i >= 8; i += 8) {
        uint64_t a;
        memcpy(&a, p + i, 8);
        if (a & high) break;
    }
    while (i < n && p[i] < 0x80) i++;
    return i;
}

#if HAVE_AVX2_PATH

/* ascii_run with 32-byte vectors, 128 bytes a step: on a line of a few
 * hundred bytes the SSE2 loop was half the string codec's decode. */
__attribute__((target("avx2"))) static size_t ascii_run_avx2(const unsigned char *p, size_t n) {
    size_t i = 0;
    for (; n - i >= 128; i += 128) {
        const __m256i *v = (const __m256i *)(const void *)(p + i);
        __m256i x = _mm256_or_si256(_mm256_or_si256(_mm256_loadu_si256(v), _mm256_loadu_si256(v + 1)),
                                    _mm256_or_si256(_mm256_loadu_si256(v + 2), _mm256_loadu_si256(v + 3)));
        if (_mm256_movemask_epi8(x)) break;
    }
    for (; n - i >= 32; i += 32) {
        unsigned m = (unsigned)_mm256_movemask_epi8(_mm256_loadu_si256((const __m256i *)(const void *)(p + i)));
        if (m) return i + (size_t)__builtin_ctz(m);
    }
    if (i < n && n >= 32) {
        unsigned m = (unsigned)_mm256_movemask_epi8(_mm256_loadu_si256((const __m256i *)(const void *)(p + n - 32)));
        return m ? n - 32 + (size_t)__builtin_ctz(m) : n;
    }
    return i + ascii_run(p + i, n - i);
}

/* Copies whole 32-byte blocks of s to d while they are ASCII, 128 bytes a
 * step, and the last block overlapping when the rest is ASCII too: one read
 * of the input instead of a check and then a copy. Returns how many leading
 * bytes are known ASCII and copied (n when all of them); a step that found
 * a high bit may have copied more, which the caller copies again. */
__attribute__((target("avx2"))) static size_t ascii_copy_avx2(unsigned char *d, const unsigned char *s,
                                                              size_t n) {
    size_t i = 0;
    for (; n - i >= 128; i += 128) {
        const __m256i *v = (const __m256i *)(const void *)(s + i);
        __m256i *w = (__m256i *)(void *)(d + i);
        __m256i a = _mm256_loadu_si256(v), b = _mm256_loadu_si256(v + 1);
        __m256i c = _mm256_loadu_si256(v + 2), e = _mm256_loadu_si256(v + 3);
        _mm256_storeu_si256(w, a);
        _mm256_storeu_si256(w + 1, b);
        _mm256_storeu_si256(w + 2, c);
        _mm256_storeu_si256(w + 3, e);
        if (_mm256_movemask_epi8(_mm256_or_si256(_mm256_or_si256(a, b), _mm256_or_si256(c, e)))) return i;
    }
    for (; n - i >= 32; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(s + i));
        _mm256_storeu_si256((__m256i *)(void *)(d + i), a);
        if (_mm256_movemask_epi8(a)) return i;
    }
    if (i < n && n >= 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(s + n - 32));
        _mm256_storeu_si256((__m256i *)(void *)(d + n - 32), a);
        return _mm256_movemask_epi8(a) ? i : n;
    }
    return i;
}
#endif

static atomic_int avx2_denied;   /* tr_utf8_allow_avx2(false): tests of the SSE2 path */

void tr_utf8_allow_avx2(bool allow) { atomic_store_explicit(&avx2_denied, !allow, memory_order_relaxed); }

/* __builtin_cpu_supports reads a table libgcc fills before main. */
static int use_avx2(void) {
#if HAVE_AVX2_PATH
    return __builtin_cpu_supports("avx2") && !atomic_load_explicit(&avx2_denied, memory_order_relaxed);
#else
    return 0;
#endif
}

static int check_from(const unsigned char *u, size_t i, size_t n, size_t *valid_up_to, size_t *error_len) {
    /* below 128 bytes the AVX2 loop gains nothing on SSE2's (and short
     * strings are most of what a decoder checks) */
    int avx2 = n - i >= 128 && use_avx2();
    while (i < n) {
#if HAVE_AVX2_PATH
        i += avx2 ? ascii_run_avx2(u + i, n - i) : ascii_run(u + i, n - i);
#else
        (void)avx2;
        i += ascii_run(u + i, n - i);
#endif
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

int tr_utf8_check(const char *p, size_t n, size_t *valid_up_to, size_t *error_len) {
    return check_from((const unsigned char *)p, 0, n, valid_up_to, error_len);
}

int tr_utf8_copy_check(char *dst, const char *src, size_t n, size_t *valid_up_to, size_t *error_len) {
    const unsigned char *u = (const unsigned char *)src;
    size_t i = 0;
#if HAVE_AVX2_PATH
    if (use_avx2()) i = ascii_copy_avx2((unsigned char *)dst, u, n);
#endif
    if (i == n) {
        *valid_up_to = n;
        *error_len = 0;
        return 0;
    }
    memcpy(dst + i, src + i, n - i);
    return check_from(u, i, n, valid_up_to, error_len);
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
