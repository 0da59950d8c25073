/* json_scan.h - the JSON codec's string scanner: where the next byte is that
 * a string cannot take as is.
 *
 * Both directions of the codec spend most of their time walking string
 * bodies, so this one loop has vector variants (SSE2, SSE4.2, AVX2). The
 * variant is chosen once, before main, from what the CPU reports
 * (__builtin_cpu_supports), so the build needs no -march flags and the
 * binary runs on any x86-64 (and, with the portable variant only, anywhere).
 * Every variant returns exactly the same answer; the tests check that.
 * Threading: tr_json_scan may be called from any thread; tr_json_scan_use
 * is for tests and benchmarks and must not race with scanning.
 */
#ifndef TR_JSON_SCAN_H
#define TR_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

enum tr_json_scan_kind {
    TR_JSON_SCAN_PORTABLE = 0,  /* 8 bytes at a time in a uint64_t; every CPU */
    TR_JSON_SCAN_SSE2,          /* 16 bytes per step */
    TR_JSON_SCAN_SSE42,         /* 16 bytes per step with PCMPESTRI's byte ranges */
    TR_JSON_SCAN_AVX2,          /* 32 bytes per step */
    TR_JSON_SCAN_KINDS
};

/* The variant in use; read through tr_json_scan. Exposed so that the call
 * from the codec is one indirect call, not two. */
extern size_t (*tr_json_scan_fn)(const uint8_t *p, size_t n);

/* Offset of the first byte of p[0..n) that is '"', '\\', below 0x20 or at
 * or above 0x80 (n when there is none). Never reads outside p[0..n). */
static inline size_t tr_json_scan(const uint8_t *p, size_t n) { return tr_json_scan_fn(p, n); }

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <emmintrin.h>
/* Bit i set when p[i] (of 16) is special. Bytes below 0x20 and at or above
 * 0x80 are exactly those below 0x20 as signed chars: one signed compare.
 * SSE2 is part of x86-64, so this needs no check at start-up. */
static inline unsigned tr_json_mask16(const uint8_t *p) {
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))),
                             _mm_cmplt_epi8(x, _mm_set1_epi8(0x20)));
    return (unsigned)_mm_movemask_epi8(m);
}

/* tr_json_scan for a string body, which is usually short (a key, a word):
 * the first 16 bytes are looked at here, inline, and only a longer run
 * calls the variant in use. Same answer as tr_json_scan. */
static inline size_t tr_json_scan_str(const uint8_t *p, size_t n) {
    if (n < 16) return tr_json_scan_fn(p, n);
    unsigned m = tr_json_mask16(p);
    return m ? (size_t)__builtin_ctz(m) : 16 + tr_json_scan_fn(p + 16, n - 16);
}
#else
static inline size_t tr_json_scan_str(const uint8_t *p, size_t n) { return tr_json_scan_fn(p, n); }
#endif

/* 1 if this build and this CPU can run the variant. */
int tr_json_scan_available(enum tr_json_scan_kind k);

/* Switch tr_json_scan to variant k: 0, or -ENOTSUP when it is not available
 * (the current one stays). For tests and benchmarks. */
int tr_json_scan_use(enum tr_json_scan_kind k);

/* The variant in use, and a variant's name ("portable", "sse2", ...). */
enum tr_json_scan_kind tr_json_scan_current(void);
const char *tr_json_scan_name(enum tr_json_scan_kind k);

#endif
