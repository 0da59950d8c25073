/* test_spool.c - byte copies released oldest first: contents survive other
 * copies and releases, blocks are reused rather than reallocated, a copy
 * bigger than a block, a room never committed, and allocation failure. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/alloc.h"
#include "core/spool.h"

/* copy i holds len(i) bytes of (i & 0xff) */
static size_t len_of(size_t i) { return 1 + (i * 37) % 300; }

static void *put(struct tr_spool *s, size_t i) {
    unsigned char *p = tr_spool_room(s, len_of(i));
    if (!p) return NULL;
    memset(p, (int)(i & 0xff), len_of(i));
    tr_spool_commit(s, len_of(i));
    return p;
}

static void check(const unsigned char *p, size_t i) {
    for (size_t k = 0; k < len_of(i); k++) assert_int_equal(p[k], i & 0xff);
}

/* A sliding window of live copies, many blocks' worth in total: every live
 * copy keeps its bytes while newer ones are made and older ones go. */
static void window_keeps_contents(void **state) {
    (void)state;
    enum { N = 20000, W = 700 };
    static unsigned char *at[N];
    struct tr_spool s;
    tr_spool_init(&s);
    size_t live = 0;
    for (size_t i = 0; i < N; i++) {
        at[i] = put(&s, i);
        assert_non_null(at[i]);
        live += len_of(i);
        if (i >= W) {
            check(at[i - W], i - W);
            tr_spool_release(&s, len_of(i - W));
            live -= len_of(i - W);
        }
        assert_int_equal(s.bytes, live);
    }
    for (size_t i = N - W; i < N; i++) {
        check(at[i], i);
        tr_spool_release(&s, len_of(i));
    }
    assert_int_equal(s.bytes, 0);
    tr_spool_fini(&s);
}

/* Steady state allocates nothing: after the first blocks, released blocks
 * come back as spares (allocation failure injected from then on). */
static void steady_state_reuses_blocks(void **state) {
    (void)state;
    struct tr_spool s;
    tr_spool_init(&s);
    size_t i = 0, oldest = 0;
    for (; i < 2000; i++) {
        assert_non_null(put(&s, i));
        if (i >= 400) tr_spool_release(&s, len_of(oldest++));
    }
    tr_alloc_fail_at(1, 1);
    for (; i < 20000; i++) {
        assert_non_null(put(&s, i));
        tr_spool_release(&s, len_of(oldest++));
    }
    tr_alloc_fail_at(0, 0);
    while (oldest < i) tr_spool_release(&s, len_of(oldest++));
    assert_int_equal(s.bytes, 0);
    tr_spool_fini(&s);
}

/* A copy larger than a block gets its own; a room asked for and never
 * committed takes nothing; everything released empties the spool in place. */
static void big_copy_and_uncommitted_room(void **state) {
    (void)state;
    struct tr_spool s;
    tr_spool_init(&s);
    unsigned char *a = tr_spool_room(&s, 10);
    memcpy(a, "0123456789", 10);
    tr_spool_commit(&s, 10);
    size_t big = TR_SPOOL_BLOCK + 123;
    unsigned char *b = tr_spool_room(&s, big);
    assert_non_null(b);
    memset(b, 'b', big);
    tr_spool_commit(&s, big);
    unsigned char *c = tr_spool_room(&s, 50);   /* not committed: the append failed */
    assert_non_null(c);
    unsigned char *d = tr_spool_room(&s, 50);   /* the next try gets the same place */
    assert_ptr_equal(c, d);
    memset(d, 'd', 50);
    tr_spool_commit(&s, 50);
    assert_memory_equal(a, "0123456789", 10);
    tr_spool_release(&s, 10);
    for (size_t k = 0; k < big; k += 4096) assert_int_equal(b[k], 'b');
    tr_spool_release(&s, big);
    assert_int_equal(d[49], 'd');
    tr_spool_release(&s, 50);
    assert_int_equal(s.bytes, 0);
    unsigned char *e = tr_spool_room(&s, 8);   /* the emptied block, from its start */
    assert_ptr_equal(e, d);
    tr_spool_fini(&s);
    tr_spool_fini(&s);   /* twice is harmless */
}

/* A block made for one big copy goes back to the allocator once that copy
 * is released, even as the only block: small copies do not keep it. */
static void big_block_is_not_kept(void **state) {
    (void)state;
    size_t before = tr_alloc_used();
    struct tr_spool s;
    tr_spool_init(&s);
    unsigned char *p = tr_spool_room(&s, 3 * TR_SPOOL_BLOCK);
    assert_non_null(p);
    memset(p, 'b', 3 * TR_SPOOL_BLOCK);
    tr_spool_commit(&s, 3 * TR_SPOOL_BLOCK);
    tr_spool_release(&s, 3 * TR_SPOOL_BLOCK);
    assert_null(s.head);
    assert_null(s.tail);
    assert_int_equal(tr_alloc_used(), before);
    assert_non_null(put(&s, 1));   /* and the next copy gets a block of the usual size */
    tr_spool_release(&s, len_of(1));
    tr_spool_fini(&s);
    assert_int_equal(tr_alloc_used(), before);
}

/* No memory for a new block: NULL, the spool as it was. */
static void enomem_leaves_it_unchanged(void **state) {
    (void)state;
    struct tr_spool s;
    tr_spool_init(&s);
    assert_non_null(put(&s, 5));
    tr_alloc_fail_at(1, 0);
    assert_null(tr_spool_room(&s, TR_SPOOL_BLOCK));
    tr_alloc_fail_at(0, 0);
    assert_int_equal(s.bytes, len_of(5));
    unsigned char *p = tr_spool_room(&s, 1);
    assert_non_null(p);
    tr_spool_release(&s, len_of(5));
    assert_int_equal(s.bytes, 0);
    tr_spool_fini(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(window_keeps_contents),
        cmocka_unit_test(steady_state_reuses_blocks),
        cmocka_unit_test(big_copy_and_uncommitted_room),
        cmocka_unit_test(big_block_is_not_kept),
        cmocka_unit_test(enomem_leaves_it_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
