/* fuzz_util.h - helpers shared by the libFuzzer targets (header-only, static).
 *
 * Targets are built by scripts/fuzz.sh, never by the Makefile's test rules.
 * An oracle failure calls fuzz_fail(), which prints what differed and
 * aborts, so libFuzzer saves the input as a crash reproducer.
 */
#ifndef TR_FUZZ_UTIL_H
#define TR_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define fuzz_fail(...)                                                                 \
    do {                                                                               \
        fprintf(stderr, "fuzz oracle failed at %s:%d: ", __FILE__, __LINE__);          \
        fprintf(stderr, __VA_ARGS__);                                                  \
        fputc('\n', stderr);                                                           \
        abort();                                                                       \
    } while (0)

/* Warnings about bad input are expected on every run and would only slow
 * the fuzzer down; errors still show. */
static inline void fuzz_quiet(void) { tr_log_set_level(TR_LOG_ERROR); }

/* Chunk sizes chosen by the fuzzer: four pattern bytes, used in turn. A
 * pattern byte b gives a chunk of b % 64 + 1 bytes, or everything left when
 * b is 255, so one input describes both the data and how it is split. */
struct fuzz_chunks {
    uint8_t pat[4];
    unsigned i;
};

static inline size_t fuzz_next_chunk(struct fuzz_chunks *c, size_t left) {
    uint8_t b = c->pat[c->i++ % 4];
    size_t n = b == 255 ? left : (size_t)(b % 64) + 1;
    return n < left ? n : left;
}

#endif
