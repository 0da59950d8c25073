/* lang_filter.h - which inputs the language targets leave alone for now.
 *
 * Regular expressions run on POSIX regex, which can take seconds on some
 * patterns; that is being replaced. Until then inputs that name the
 * identifiers `re`, `rerg` or `grok` (the regex extractors and std::re) are
 * skipped so that a slow pattern is not reported as a hang. Build with
 * -DFUZZ_LANG_REGEX to fuzz them too.
 */
#ifndef TR_FUZZ_LANG_FILTER_H
#define TR_FUZZ_LANG_FILTER_H

#include <stddef.h>
#include <string.h>

static inline int fuzz_lang_ident_start(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static inline int fuzz_lang_ident_char(unsigned char c) {
    return fuzz_lang_ident_start(c) || (c >= '0' && c <= '9');
}

/* 1 when src reaches the regex code (see above). */
static inline int fuzz_lang_skip(const unsigned char *src, size_t len) {
#ifdef FUZZ_LANG_REGEX
    (void)src;
    (void)len;
    return 0;
#else
    static const char *const words[] = {"re", "rerg", "grok"};
    for (size_t i = 0; i < len;) {
        if (!fuzz_lang_ident_start(src[i]) || (i > 0 && fuzz_lang_ident_char(src[i - 1]))) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && fuzz_lang_ident_char(src[j])) j++;
        for (size_t w = 0; w < sizeof words / sizeof words[0]; w++)
            if (strlen(words[w]) == j - i && memcmp(words[w], src + i, j - i) == 0) return 1;
        i = j;
    }
    return 0;
#endif
}

#endif
