/* alloc.h - the one allocation seam of tremor-c.
 *
 * Every heap allocation in the project goes through these functions so that
 * bytes in use can be counted and a test can make the Nth allocation fail
 * (tests/fault). They never abort: a NULL return must be handled by the caller
 * and turned into -ENOMEM. The counters are process-wide atomics; the fault
 * switch is meant for single-threaded tests.
 */
#ifndef TR_ALLOC_H
#define TR_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *tr_malloc(size_t n);
void *tr_calloc(size_t count, size_t size);   /* overflow-checked */
void *tr_realloc(void *p, size_t n);          /* on failure p is untouched */
void tr_free(void *p);                         /* tr_free(NULL) is a no-op */
char *tr_strdup(const char *s);
char *tr_strndup(const char *s, size_t n);     /* always NUL-terminates */

/* Bytes currently allocated through the seam (best effort, for tests/bench). */
size_t tr_alloc_used(void);

/* Make the nth allocation from now on fail (1 = the next one); every later
 * one fails too when sticky is non-zero. n = 0 switches failure off. */
void tr_alloc_fail_at(uint64_t n, int sticky);

/* Grow a dynamic array: ensure *cap >= need, elements of size elem.
 * Returns 0 or -ENOMEM (then *p and *cap are untouched). */
int tr_grow(void **p, size_t *cap, size_t need, size_t elem);

#endif
