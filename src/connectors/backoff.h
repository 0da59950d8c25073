/* backoff.h - retry delays for connectors that (re)connect or (re)bind:
 * capped exponential growth with full jitter, so many instances that lost
 * the same peer do not retry in lockstep. Pure arithmetic on a small
 * struct the owner embeds; the owner runs its own timer.
 * Invariant: every delay is within [min_ms/2, max_ms].
 */
#ifndef TR_BACKOFF_H
#define TR_BACKOFF_H

#include <stdint.h>

struct tr_backoff {
    uint64_t min_ms, max_ms;
    uint64_t cur_ms;      /* the ceiling of the next delay */
    uint64_t seed;        /* jitter state (xorshift), any non-zero start */
    uint64_t attempts;    /* failures since the last success */
};

/* Start at min_ms, never above max_ms (min_ms >= 1, max_ms >= min_ms). */
void tr_backoff_init(struct tr_backoff *b, uint64_t min_ms, uint64_t max_ms);
/* The delay before the next attempt after a failure: uniform in
 * [ceiling/2, ceiling], then the ceiling doubles up to max_ms. */
uint64_t tr_backoff_next(struct tr_backoff *b);
/* A success: the next failure waits about min_ms again. */
void tr_backoff_reset(struct tr_backoff *b);

#endif
