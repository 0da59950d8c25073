/* alloc.c - counting allocator with a fault-injection switch.
 *
 * A small header before each block remembers its size so that tr_free can
 * keep tr_alloc_used() exact. The header is 16 bytes to keep max_align_t
 * alignment for the caller. Not a pool: every block comes from libc malloc.
 * Each thread counts into its own tally (written only by that thread, so no
 * locked instruction per call); tr_alloc_used() sums the live tallies plus
 * what exited threads left behind. Invariant: that sum is the bytes held.
 */
#include "core/alloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define HDR 16

/* One thread's running balance: bytes allocated minus bytes freed by it
 * (a block freed by another thread makes the two balances cancel). Only the
 * owner writes it; readers load it relaxed. */
struct tally {
    _Atomic int64_t bytes;
    struct tally *next;
};

static pthread_mutex_t tallies_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tally *tallies;          /* live threads, under tallies_lock */
static int64_t retired;                /* balances of exited threads, under tallies_lock */
static pthread_key_t tally_key;
static pthread_once_t tally_once = PTHREAD_ONCE_INIT;
static _Thread_local struct tally *mine;
/* Used when a thread cannot get a tally of its own (out of memory): shared,
 * so updated with a locked add. */
static _Atomic int64_t shared_bytes;

/* Thread exit: fold the balance into `retired` and forget the tally. */
static void tally_retire(void *arg) {
    struct tally *t = arg;
    pthread_mutex_lock(&tallies_lock);
    for (struct tally **pp = &tallies; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    retired += atomic_load_explicit(&t->bytes, memory_order_relaxed);
    pthread_mutex_unlock(&tallies_lock);
    mine = NULL;
    free(t);
}

static void tally_key_init(void) {
    if (pthread_key_create(&tally_key, tally_retire) != 0) tally_key = (pthread_key_t)-1;
}

/* The calling thread's tally, created on its first allocation; NULL if none
 * could be made (then the shared counter serves). */
static struct tally *tally_get(void) {
    pthread_once(&tally_once, tally_key_init);
    if (tally_key == (pthread_key_t)-1) return NULL;
    struct tally *t = malloc(sizeof *t);
    if (!t) return NULL;
    atomic_init(&t->bytes, 0);
    if (pthread_setspecific(tally_key, t) != 0) {
        free(t);
        return NULL;
    }
    pthread_mutex_lock(&tallies_lock);
    t->next = tallies;
    tallies = t;
    pthread_mutex_unlock(&tallies_lock);
    mine = t;
    return t;
}

static inline void count(int64_t delta) {
    struct tally *t = mine;
    if (__builtin_expect(t == NULL, 0)) t = tally_get();
    if (__builtin_expect(t == NULL, 0)) {
        atomic_fetch_add_explicit(&shared_bytes, delta, memory_order_relaxed);
        return;
    }
    /* owner-only writer: a plain load and store, no lock prefix */
    atomic_store_explicit(&t->bytes, atomic_load_explicit(&t->bytes, memory_order_relaxed) + delta,
                          memory_order_relaxed);
}
/* The fault switch: armed only in tests. Atomic because a WAL's sync thread
 * allocates too; the countdown is shared by all threads. */
static atomic_int armed;
static atomic_uint_fast64_t fail_countdown;   /* 0 = never fail */
static atomic_int fail_sticky;
static atomic_int failing;

static int fail_now(void) {
    if (atomic_load(&failing)) return 1;
    uint_fast64_t n = atomic_load(&fail_countdown);
    while (n != 0) {
        if (atomic_compare_exchange_weak(&fail_countdown, &n, n - 1)) {
            if (n != 1) return 0;
            if (atomic_load(&fail_sticky)) atomic_store(&failing, 1);
            return 1;
        }
    }
    return 0;
}

static inline int should_fail(void) {
    if (__builtin_expect(!atomic_load_explicit(&armed, memory_order_relaxed), 1)) return 0;
    return fail_now();
}

void tr_alloc_fail_at(uint64_t n, int sticky) {
    atomic_store(&armed, 0);
    atomic_store(&fail_countdown, n);
    atomic_store(&fail_sticky, sticky);
    atomic_store(&failing, 0);
    atomic_store(&armed, n != 0);
}

size_t tr_alloc_used(void) {
    pthread_mutex_lock(&tallies_lock);
    int64_t sum = retired + atomic_load_explicit(&shared_bytes, memory_order_relaxed);
    for (struct tally *t = tallies; t; t = t->next) sum += atomic_load_explicit(&t->bytes, memory_order_relaxed);
    pthread_mutex_unlock(&tallies_lock);
    return sum > 0 ? (size_t)sum : 0;
}

void *tr_malloc(size_t n) {
    if (should_fail() || n > SIZE_MAX - HDR) return NULL;
    unsigned char *p = malloc(n + HDR);
    if (!p) return NULL;
    memcpy(p, &n, sizeof n);
    count((int64_t)n);
    return p + HDR;
}

void *tr_calloc(size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) return NULL;
    void *p = tr_malloc(count * size);
    if (p) memset(p, 0, count * size);
    return p;
}

void *tr_realloc(void *p, size_t n) {
    if (!p) return tr_malloc(n);
    if (should_fail() || n > SIZE_MAX - HDR) return NULL;
    unsigned char *base = (unsigned char *)p - HDR;
    size_t old;
    memcpy(&old, base, sizeof old);
    unsigned char *q = realloc(base, n + HDR);
    if (!q) return NULL;
    memcpy(q, &n, sizeof n);
    count((int64_t)n - (int64_t)old);
    return q + HDR;
}

void tr_free(void *p) {
    if (!p) return;
    unsigned char *base = (unsigned char *)p - HDR;
    size_t n;
    memcpy(&n, base, sizeof n);
    count(-(int64_t)n);
    free(base);
}

char *tr_strndup(const char *s, size_t n) {
    char *d = tr_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *tr_strdup(const char *s) { return tr_strndup(s, strlen(s)); }

int tr_grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 8;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) return -ENOMEM;
        nc *= 2;
    }
    if (elem && nc > SIZE_MAX / elem) return -ENOMEM;
    void *q = tr_realloc(*p, nc * elem);
    if (!q) return -ENOMEM;
    *p = q;
    *cap = nc;
    return 0;
}
