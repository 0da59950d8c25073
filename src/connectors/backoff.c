/* backoff.c - capped exponential backoff with jitter (see backoff.h). */
#include "connectors/backoff.h"

#include <time.h>

void tr_backoff_init(struct tr_backoff *b, uint64_t min_ms, uint64_t max_ms) {
    if (min_ms < 1) min_ms = 1;
    if (max_ms < min_ms) max_ms = min_ms;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    b->min_ms = min_ms;
    b->max_ms = max_ms;
    b->cur_ms = min_ms;
    /* distinct per instance and run: address and clock */
    b->seed = ((uint64_t)(uintptr_t)b ^ ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec) | 1;
    b->attempts = 0;
}

static uint64_t rnd(struct tr_backoff *b) {
    uint64_t x = b->seed;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b->seed = x;
    return x;
}

uint64_t tr_backoff_next(struct tr_backoff *b) {
    uint64_t ceil = b->cur_ms;
    uint64_t lo = ceil / 2 ? ceil / 2 : 1;
    uint64_t d = lo + rnd(b) % (ceil - lo + 1);
    b->cur_ms = ceil > b->max_ms / 2 ? b->max_ms : ceil * 2;
    b->attempts++;
    return d;
}

void tr_backoff_reset(struct tr_backoff *b) {
    b->cur_ms = b->min_ms;
    b->attempts = 0;
}
