/* test_ring.c - the generic FIFO ring: order across wrap-around, growth
 * while wrapped, indexing, the empty and full edges, failed growth. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/ring.h"

struct wide {
    uint64_t a;
    char tag[13];   /* an odd size: slots are elem bytes, not words */
};

static void empty_edges(void **state) {
    (void)state;
    struct tr_ring r;
    tr_ring_init(&r, sizeof(uint64_t));
    uint64_t x = 7;
    assert_int_equal(tr_ring_len(&r), 0);
    assert_null(tr_ring_peek(&r));
    assert_false(tr_ring_pop(&r, &x));
    assert_false(tr_ring_pop_back(&r, NULL));
    assert_int_equal(x, 7);   /* untouched */
    tr_ring_fini(&r);
    tr_ring_fini(&r);         /* twice is harmless */
}

/* Fill to exactly the capacity (no growth), drain, and again from a
 * head in the middle so the elements wrap past the last slot. */
static void full_and_wrapped(void **state) {
    (void)state;
    struct tr_ring r;
    tr_ring_init(&r, sizeof(uint64_t));
    assert_int_equal(tr_ring_reserve(&r, 1), 0);
    size_t cap = r.cap;
    assert_true(cap >= 1 && (cap & (cap - 1)) == 0);
    for (uint64_t i = 0; i < cap; i++) assert_int_equal(tr_ring_push(&r, &i), 0);
    assert_int_equal(r.cap, cap);   /* full, not grown */
    assert_int_equal(tr_ring_len(&r), cap);
    for (uint64_t i = 0; i < cap / 2; i++) {
        uint64_t v;
        assert_true(tr_ring_pop(&r, &v));
        assert_int_equal(v, i);
    }
    /* head is now cap/2: the next pushes land at slots 0.. */
    for (uint64_t i = cap; i < cap + cap / 2; i++) assert_int_equal(tr_ring_push(&r, &i), 0);
    assert_int_equal(r.cap, cap);
    assert_int_equal(tr_ring_len(&r), cap);
    for (size_t i = 0; i < cap; i++) assert_int_equal(*(uint64_t *)tr_ring_at(&r, i), cap / 2 + i);
    for (uint64_t want = cap / 2; want < cap + cap / 2; want++) {
        assert_int_equal(*(uint64_t *)tr_ring_peek(&r), want);
        uint64_t v;
        assert_true(tr_ring_pop(&r, &v));
        assert_int_equal(v, want);
    }
    assert_int_equal(tr_ring_len(&r), 0);
    tr_ring_fini(&r);
}

/* Growth while the elements wrap must keep their order. */
static void grows_while_wrapped(void **state) {
    (void)state;
    struct tr_ring r;
    tr_ring_init(&r, sizeof(struct wide));
    uint64_t next_in = 0, next_out = 0;
    for (int round = 0; round < 200; round++) {
        /* push three, pop two: the ring wraps and grows repeatedly */
        for (int k = 0; k < 3; k++) {
            struct wide w = {.a = next_in};
            snprintf(w.tag, sizeof w.tag, "#%llu", (unsigned long long)next_in);
            next_in++;
            size_t cap = r.cap, head = r.head, len = r.len;
            bool wrapped = len == cap && head != 0;
            assert_int_equal(tr_ring_push(&r, &w), 0);
            if (wrapped) assert_true(r.cap > cap);
        }
        for (int k = 0; k < 2; k++) {
            struct wide w;
            assert_true(tr_ring_pop(&r, &w));
            char want[13];
            snprintf(want, sizeof want, "#%llu", (unsigned long long)next_out);
            assert_int_equal(w.a, next_out);
            assert_string_equal(w.tag, want);
            next_out++;
        }
        for (size_t i = 0; i < tr_ring_len(&r); i++)
            assert_int_equal(((struct wide *)tr_ring_at(&r, i))->a, next_out + i);
    }
    assert_int_equal(tr_ring_len(&r), next_in - next_out);
    tr_ring_fini(&r);
}

/* The case the counter above may miss: full with head exactly in the
 * middle, then one more push. */
static void grows_from_full_wrapped(void **state) {
    (void)state;
    struct tr_ring r;
    tr_ring_init(&r, sizeof(uint32_t));
    assert_int_equal(tr_ring_reserve(&r, 1), 0);
    size_t cap = r.cap;
    uint32_t v = 0;
    for (size_t i = 0; i < cap; i++, v++) assert_int_equal(tr_ring_push(&r, &v), 0);
    for (size_t i = 0; i < cap / 2 + 1; i++) assert_true(tr_ring_pop(&r, NULL));
    for (size_t i = 0; i < cap / 2 + 1; i++, v++) assert_int_equal(tr_ring_push(&r, &v), 0);
    assert_int_equal(r.cap, cap);
    assert_int_equal(r.head, cap / 2 + 1);
    assert_int_equal(tr_ring_push(&r, &v), 0);   /* grows with head in the middle */
    v++;
    assert_int_equal(r.cap, 2 * cap);
    uint32_t want = (uint32_t)(cap / 2 + 1);
    assert_int_equal(tr_ring_len(&r), v - want);
    for (size_t i = 0; i < tr_ring_len(&r); i++) assert_int_equal(*(uint32_t *)tr_ring_at(&r, i), want + i);
    tr_ring_fini(&r);
}

static void pop_back_truncate_and_clear(void **state) {
    (void)state;
    struct tr_ring r;
    tr_ring_init(&r, sizeof(int));
    for (int i = 0; i < 40; i++) assert_int_equal(tr_ring_push(&r, &i), 0);
    for (int i = 0; i < 30; i++) assert_true(tr_ring_pop(&r, NULL));
    for (int i = 40; i < 60; i++) assert_int_equal(tr_ring_push(&r, &i), 0);   /* wraps */
    int x;
    assert_true(tr_ring_pop_back(&r, &x));
    assert_int_equal(x, 59);
    assert_true(tr_ring_pop_back(&r, &x));
    assert_int_equal(x, 58);
    assert_int_equal(tr_ring_len(&r), 28);
    assert_int_equal(*(int *)tr_ring_at(&r, 27), 57);
    assert_int_equal(*(int *)tr_ring_peek(&r), 30);
    tr_ring_truncate(&r, 30);   /* more than it holds: nothing changes */
    assert_int_equal(tr_ring_len(&r), 28);
    tr_ring_truncate(&r, 3);
    assert_int_equal(tr_ring_len(&r), 3);
    assert_int_equal(*(int *)tr_ring_at(&r, 2), 32);
    size_t cap = r.cap;
    tr_ring_clear(&r);
    assert_int_equal(tr_ring_len(&r), 0);
    assert_null(tr_ring_peek(&r));
    assert_int_equal(r.cap, cap);   /* memory kept */
    x = 5;
    assert_int_equal(tr_ring_push(&r, &x), 0);
    assert_int_equal(*(int *)tr_ring_peek(&r), 5);
    tr_ring_fini(&r);
}

/* A failed growth reports -ENOMEM and leaves every element in place. */
static void enomem_keeps_contents(void **state) {
    (void)state;
    struct tr_ring r;
    tr_ring_init(&r, sizeof(uint64_t));
    assert_int_equal(tr_ring_reserve(&r, 1), 0);
    size_t cap = r.cap;
    for (uint64_t i = 0; i < cap; i++) assert_int_equal(tr_ring_push(&r, &i), 0);
    tr_alloc_fail_at(1, 0);
    uint64_t extra = 99;
    assert_int_equal(tr_ring_push(&r, &extra), -ENOMEM);
    tr_alloc_fail_at(0, 0);
    assert_int_equal(r.cap, cap);
    assert_int_equal(tr_ring_len(&r), cap);
    for (size_t i = 0; i < cap; i++) assert_int_equal(*(uint64_t *)tr_ring_at(&r, i), i);
    assert_int_equal(tr_ring_reserve(&r, SIZE_MAX), -ENOMEM);   /* cannot be had */
    assert_int_equal(tr_ring_push(&r, &extra), 0);
    assert_int_equal(*(uint64_t *)tr_ring_at(&r, cap), 99);
    tr_ring_fini(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_edges),
        cmocka_unit_test(full_and_wrapped),
        cmocka_unit_test(grows_while_wrapped),
        cmocka_unit_test(grows_from_full_wrapped),
        cmocka_unit_test(pop_back_truncate_and_clear),
        cmocka_unit_test(enomem_keeps_contents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
