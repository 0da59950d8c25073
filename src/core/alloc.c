/* alloc.c - counting allocator with a fault-injection switch.
 *
 * A small header before each block remembers its size so that tr_free can
 * keep tr_alloc_used() exact. The header is 16 bytes to keep max_align_t
 * alignment for the caller.
 */
#include "core/alloc.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define HDR 16

static atomic_size_t used;
/* The fault switch: armed only in tests. Atomic because a WAL's sync thread
 * allocates too; the countdown is shared by all threads. */
static atomic_int armed;
static atomic_uint_fast64_t fail_countdown;   /* 0 = never fail */
static atomic_int fail_sticky;
static atomic_int failing;

static int should_fail(void) {
    if (!atomic_load_explicit(&armed, memory_order_relaxed)) return 0;
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

void tr_alloc_fail_at(uint64_t n, int sticky) {
    atomic_store(&armed, 0);
    atomic_store(&fail_countdown, n);
    atomic_store(&fail_sticky, sticky);
    atomic_store(&failing, 0);
    atomic_store(&armed, n != 0);
}

size_t tr_alloc_used(void) { return atomic_load(&used); }

void *tr_malloc(size_t n) {
    if (should_fail() || n > SIZE_MAX - HDR) return NULL;
    unsigned char *p = malloc(n + HDR);
    if (!p) return NULL;
    memcpy(p, &n, sizeof n);
    atomic_fetch_add_explicit(&used, n, memory_order_relaxed);
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
    atomic_fetch_sub_explicit(&used, old, memory_order_relaxed);
    atomic_fetch_add_explicit(&used, n, memory_order_relaxed);
    return q + HDR;
}

void tr_free(void *p) {
    if (!p) return;
    unsigned char *base = (unsigned char *)p - HDR;
    size_t n;
    memcpy(&n, base, sizeof n);
    atomic_fetch_sub_explicit(&used, n, memory_order_relaxed);
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
