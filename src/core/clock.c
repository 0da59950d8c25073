/* clock.c - see clock.h. The counter is read as a pair with the OS clock:
 * rdtsc, clock_gettime, rdtsc, kept only when the two counter reads are
 * close (a thread preempted between them, or a VM paused, would otherwise
 * pair a counter value with a time far from it). The rate is ns per tick
 * in 32.32 fixed point, measured between two pairs; a thread then scales
 * counter deltas of at most one resync interval, so delta * rate stays
 * below 2^60. */
#include "core/clock.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <x86intrin.h>
#define HAVE_TSC 1
#else
#define HAVE_TSC 0
#endif

#define PAIR_MAX_TICKS 20000u    /* a tight pair: ~7 us at 3 GHz */
#define RATE_TOLERANCE 1000u     /* a resync's rate may differ by 1/1000 */

static uint64_t os_ns(clockid_t id) {
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t tr_clock_os_ns(void) { return os_ns(CLOCK_REALTIME); }

#if HAVE_TSC

enum { UNSET, CALIBRATING, ON };

struct calib {
    clockid_t id;         /* the OS clock it follows */
    int state;
    uint64_t tsc0, os0;   /* the last pair */
    uint64_t rate;        /* ns per tick, 32.32 */
    uint64_t span;        /* ticks after tsc0 that rate is used for */
};

static _Thread_local struct calib wall = {.id = CLOCK_REALTIME}, mono = {.id = CLOCK_MONOTONIC};
static atomic_int allowed;   /* 0 not decided yet, 1 yes, -1 no */

static int decide(void) {
    const char *env = getenv("TREMOR_CLOCK");
    if (env && strcmp(env, "os") == 0) return -1;
    unsigned a, b, c, d;
    if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u) return -1;
    if (!__get_cpuid(0x80000007u, &a, &b, &c, &d)) return -1;
    return (d & (1u << 8)) ? 1 : -1;
}

static int tsc_allowed(void) {
    int v = atomic_load_explicit(&allowed, memory_order_relaxed);
    if (v) return v;
    v = decide();
    int expect = 0;
    /* another thread may have decided first, or a test overruled it */
    if (!atomic_compare_exchange_strong(&allowed, &expect, v)) v = expect;
    return v;
}

void tr_clock_allow_tsc(bool allow) { atomic_store(&allowed, allow ? 1 : -1); }

void tr_clock_reset_for_tests(void) {
    atomic_store(&allowed, 0);
    wall.state = mono.state = UNSET;
}

/* A counter value and the OS time read together; 0 when no tight pair. */
static int read_pair(clockid_t id, uint64_t *tsc, uint64_t *os) {
    for (int i = 0; i < 3; i++) {
        uint64_t t1 = __rdtsc();
        uint64_t ns = os_ns(id);
        uint64_t t2 = __rdtsc();
        if (ns && t2 >= t1 && t2 - t1 <= PAIR_MAX_TICKS) {
            *tsc = t1 + (t2 - t1) / 2;
            *os = ns;
            return 1;
        }
    }
    return 0;
}

static void rebase(struct calib *c, uint64_t tsc, uint64_t os) {
    c->tsc0 = tsc;
    c->os0 = os;
}

/* Past the span, before tsc0, or not calibrated: read the OS clock and
 * measure the rate between the last pair and this one. */
static uint64_t resync(struct calib *c) {
    uint64_t t, os;
    if (tsc_allowed() < 0) {
        c->state = UNSET;
        return os_ns(c->id);
    }
    if (!read_pair(c->id, &t, &os)) return os_ns(c->id);
    if (c->state == UNSET || t <= c->tsc0 || os <= c->os0 || os - c->os0 >= (1ull << 31)) {
        /* a first pair, a counter or clock that went back, or a thread idle
         * for seconds: measure again from here (a rate already known stays) */
        if (c->state == UNSET) c->state = CALIBRATING;
        rebase(c, t, os);
        return os;
    }
    uint64_t dns = os - c->os0;
    if (c->state == CALIBRATING && dns < TR_CLOCK_CALIBRATE_NS) return os;
    uint64_t rate = (dns << 32) / (t - c->tsc0);
    if (rate == 0) rate = 1;
    if (c->state == ON) {
        uint64_t diff = rate > c->rate ? rate - c->rate : c->rate - rate;
        if (diff > c->rate / RATE_TOLERANCE) {
            /* the clock was set, or the counter changed pace: calibrate
             * afresh rather than trust either rate */
            c->state = CALIBRATING;
            rebase(c, t, os);
            return os;
        }
    }
    c->rate = rate;
    c->span = ((uint64_t)TR_CLOCK_RESYNC_NS << 32) / rate;
    c->state = ON;
    rebase(c, t, os);
    return os;
}

static inline uint64_t read_clock(struct calib *c) {
    if (c->state == ON && atomic_load_explicit(&allowed, memory_order_relaxed) > 0) {
        uint64_t d = __rdtsc() - c->tsc0;
        if (d < c->span) return c->os0 + ((d * c->rate) >> 32);
    }
    return resync(c);
}

uint64_t tr_now_ns(void) { return read_clock(&wall); }
uint64_t tr_mono_ns(void) { return read_clock(&mono); }

const char *tr_clock_source(void) {
    return wall.state == ON && atomic_load_explicit(&allowed, memory_order_relaxed) > 0 ? "tsc" : "os";
}

#else

uint64_t tr_now_ns(void) { return tr_clock_os_ns(); }
uint64_t tr_mono_ns(void) { return os_ns(CLOCK_MONOTONIC); }
const char *tr_clock_source(void) { return "os"; }
void tr_clock_allow_tsc(bool allow) { (void)allow; }
void tr_clock_reset_for_tests(void) {}

#endif
