/* json_scan.c - the string scanner's variants and their start-up choice.
 *
 * The vector variants are compiled with __attribute__((target(...))) so the
 * rest of the build stays plain x86-64 (or any other target, where only the
 * portable variant exists). Each vector loop stops before a load could pass
 * the end of the input; the remaining bytes go 8 at a time through a word
 * and then one by one through the byte table, so
 * nothing outside p[0..n) is ever read (ASan checks the intrinsics' loads
 * too).
 */
#include "codec/json_scan.h"

#include <errno.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TR_SCAN_X86 1
#include <immintrin.h>
#endif

/* 1 for the bytes a string body cannot take as is. */
static const uint8_t special[256] = {
    /* 0x00..0x1f: control characters */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['"'] = 1, ['\\'] = 1,
    /* 0x80..0xff: UTF-8 lead and continuation bytes */
    [0x80] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};


#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Non-zero if some byte of w is special. A false positive can only occur
 * above a true one, and the byte loop sorts those out. */
static inline uint64_t word_special(uint64_t w) {
    uint64_t q = w ^ (ONES * '"');
    uint64_t b = w ^ (ONES * '\\');
    return (((q - ONES) & ~q) | ((b - ONES) & ~b) | ((w - ONES * 0x20) & ~w) | w) & HIGHS;
}

/* From offset i on: 8 bytes at a time, then byte by byte. Also the tail of
 * the vector variants, where most keys and short values end. */
static inline size_t scan_words(const uint8_t *p, size_t i, size_t n) {
    for (; n - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (word_special(w)) break;
    }
    while (i < n && !special[p[i]]) i++;
    return i;
}

static size_t scan_portable(const uint8_t *p, size_t n) { return scan_words(p, 0, n); }

#ifdef TR_SCAN_X86

static size_t scan_sse2(const uint8_t *p, size_t n) {
    size_t i = 0;
    for (; n - i >= 16; i += 16) {
        unsigned m = tr_json_mask16(p + i);
        if (m) return i + (size_t)__builtin_ctz(m);
    }
    return scan_words(p, i, n);
}

__attribute__((target("sse4.2"))) static size_t scan_sse42(const uint8_t *p, size_t n) {
    /* byte ranges: controls, '"', '\\', 0x80..0xff */
    const __m128i ranges = _mm_setr_epi8(0x00, 0x1f, '"', '"', '\\', '\\', (char)0x80, (char)0xff, 0, 0, 0, 0, 0,
                                         0, 0, 0);
    size_t i = 0;
    for (; n - i >= 16; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        int k = _mm_cmpestri(ranges, 8, x, 16, _SIDD_UBYTE_OPS | _SIDD_CMP_RANGES | _SIDD_LEAST_SIGNIFICANT);
        if (k < 16) return i + (size_t)k;
    }
    return scan_words(p, i, n);
}

__attribute__((target("avx2"))) static size_t scan_avx2(const uint8_t *p, size_t n) {
    const __m256i q = _mm256_set1_epi8('"'), b = _mm256_set1_epi8('\\'), c = _mm256_set1_epi8(0x20);
    size_t i = 0;
    for (; n - i >= 32; i += 32) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(p + i));
        __m256i m = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(x, q), _mm256_cmpeq_epi8(x, b)),
                                    _mm256_cmpgt_epi8(c, x));
        unsigned bits = (unsigned)_mm256_movemask_epi8(m);
        if (bits) return i + (size_t)__builtin_ctz(bits);
    }
    if (n - i >= 16) {
        unsigned m = tr_json_mask16(p + i);
        if (m) return i + (size_t)__builtin_ctz(m);
        i += 16;
    }
    return scan_words(p, i, n);
}
#endif

static size_t (*const variants[TR_JSON_SCAN_KINDS])(const uint8_t *, size_t) = {
    [TR_JSON_SCAN_PORTABLE] = scan_portable,
#ifdef TR_SCAN_X86
    [TR_JSON_SCAN_SSE2] = scan_sse2,
    [TR_JSON_SCAN_SSE42] = scan_sse42,
    [TR_JSON_SCAN_AVX2] = scan_avx2,
#endif
};

static const char *const names[TR_JSON_SCAN_KINDS] = {"portable", "sse2", "sse4.2", "avx2"};

static enum tr_json_scan_kind current = TR_JSON_SCAN_PORTABLE;
size_t (*tr_json_scan_fn)(const uint8_t *, size_t) = scan_portable;

int tr_json_scan_available(enum tr_json_scan_kind k) {
    if ((unsigned)k >= TR_JSON_SCAN_KINDS || !variants[k]) return 0;
#ifdef TR_SCAN_X86
    __builtin_cpu_init();
    switch (k) {
    case TR_JSON_SCAN_SSE2: return __builtin_cpu_supports("sse2") != 0;
    case TR_JSON_SCAN_SSE42: return __builtin_cpu_supports("sse4.2") != 0;
    case TR_JSON_SCAN_AVX2: return __builtin_cpu_supports("avx2") != 0;
    default: break;
    }
#endif
    return 1;
}

int tr_json_scan_use(enum tr_json_scan_kind k) {
    if (!tr_json_scan_available(k)) return -ENOTSUP;
    current = k;
    tr_json_scan_fn = variants[k];
    return 0;
}

enum tr_json_scan_kind tr_json_scan_current(void) { return current; }

const char *tr_json_scan_name(enum tr_json_scan_kind k) {
    return (unsigned)k < TR_JSON_SCAN_KINDS ? names[k] : "?";
}

/* Chosen before main, so scanning never races with the choice. AVX2 when
 * the CPU has it, else SSE2 (every x86-64 has it; on the short runs of
 * typical events PCMPESTRI is slower than SSE2's three compares, so SSE4.2
 * is never the default and exists for comparison). */
__attribute__((constructor)) static void choose(void) {
    static const enum tr_json_scan_kind pref[] = {TR_JSON_SCAN_AVX2, TR_JSON_SCAN_SSE2};
    for (size_t i = 0; i < sizeof pref / sizeof pref[0]; i++)
        if (tr_json_scan_use(pref[i]) == 0) return;
}
