/* test_alloc.c - the allocation seam: counting, fault injection, growth. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"

static void counts_bytes(void **state) {
    (void)state;
    size_t before = tr_alloc_used();
    char *p = tr_malloc(100);
    assert_non_null(p);
    assert_int_equal(tr_alloc_used(), before + 100);
    p = tr_realloc(p, 300);
    assert_non_null(p);
    assert_int_equal(tr_alloc_used(), before + 300);
    tr_free(p);
    assert_int_equal(tr_alloc_used(), before);
    tr_free(NULL);
}

static void fails_the_nth_call(void **state) {
    (void)state;
    tr_alloc_fail_at(3, 0);
    void *a = tr_malloc(1), *b = tr_malloc(1), *c = tr_malloc(1), *d = tr_malloc(1);
    assert_non_null(a);
    assert_non_null(b);
    assert_null(c);       /* the third fails */
    assert_non_null(d);   /* not sticky: the fourth works */
    tr_free(a);
    tr_free(b);
    tr_free(d);
    tr_alloc_fail_at(1, 1);
    assert_null(tr_malloc(1));
    assert_null(tr_strdup("x"));
    tr_alloc_fail_at(0, 0);
    void *e = tr_malloc(1);
    assert_non_null(e);
    tr_free(e);
}

static void calloc_checks_overflow(void **state) {
    (void)state;
    assert_null(tr_calloc(SIZE_MAX / 2, 4));
}

static void grow_keeps_contents_on_failure(void **state) {
    (void)state;
    int *arr = NULL;
    size_t cap = 0;
    assert_int_equal(tr_grow((void **)&arr, &cap, 5, sizeof *arr), 0);
    assert_true(cap >= 5);
    arr[4] = 42;
    size_t old = cap;
    tr_alloc_fail_at(1, 0);
    assert_int_equal(tr_grow((void **)&arr, &cap, old + 1, sizeof *arr), -ENOMEM);
    assert_int_equal(cap, old);
    assert_int_equal(arr[4], 42);
    tr_free(arr);
}

static void buf_appends_and_steals(void **state) {
    (void)state;
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_buf_printf(&b, "%d-%s", 7, "x"), 0);
    assert_int_equal(tr_buf_putc(&b, '!'), 0);
    assert_string_equal(b.data, "7-x!");
    size_t len;
    char *s = tr_buf_steal(&b, &len);
    assert_int_equal(len, 4);
    assert_string_equal(s, "7-x!");
    assert_null(b.data);
    tr_free(s);
}

/* append and putc take the in-place path while there is room and grow
 * exactly when the data and its NUL would not fit */
static void buf_appends_at_every_fill(void **state) {
    (void)state;
    struct tr_buf b;
    tr_buf_init(&b);
    char want[1200];
    size_t n = 0;
    for (int i = 0; n + 7 < sizeof want; i++) {
        if (i % 3 == 0) {
            assert_int_equal(tr_buf_putc(&b, (char)('a' + i % 26)), 0);
            want[n++] = (char)('a' + i % 26);
        } else {
            size_t k = (size_t)(i % 7);
            assert_int_equal(tr_buf_append(&b, "0123456", k), 0);
            memcpy(want + n, "0123456", k);
            n += k;
        }
        assert_int_equal(b.len, n);
        assert_true(b.cap > b.len);
        assert_int_equal(b.data[b.len], 0);
        assert_memory_equal(b.data, want, n);
    }
    /* a failed growth keeps the contents */
    size_t room = b.cap - b.len - 1;
    char big[4096];
    memset(big, 'x', sizeof big);
    tr_alloc_fail_at(1, 0);
    assert_int_equal(tr_buf_append(&b, big, room + 1), -ENOMEM);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, want, n);
    assert_int_equal(tr_buf_append(&b, big, room), 0);   /* fits: no allocation */
    assert_int_equal(b.len, n + room);
    tr_alloc_fail_at(1, 0);
    assert_int_equal(tr_buf_putc(&b, 'y'), -ENOMEM);
    assert_int_equal(b.len, n + room);
    tr_alloc_fail_at(0, 0);
    tr_buf_fini(&b);
}

struct handoff {
    void *p;
};

static void *alloc_in_thread(void *arg) {
    struct handoff *h = arg;
    h->p = tr_malloc(1000);
    return NULL;
}

static void *free_in_thread(void *arg) {
    struct handoff *h = arg;
    tr_free(h->p);
    return NULL;
}

static void counts_across_threads(void **state) {
    (void)state;
    size_t before = tr_alloc_used();
    struct handoff h = {NULL};
    pthread_t t;
    /* allocated by a thread that then exits, grown here, freed by a third */
    assert_int_equal(pthread_create(&t, NULL, alloc_in_thread, &h), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_non_null(h.p);
    assert_int_equal(tr_alloc_used(), before + 1000);
    h.p = tr_realloc(h.p, 3000);
    assert_non_null(h.p);
    assert_int_equal(tr_alloc_used(), before + 3000);
    assert_int_equal(pthread_create(&t, NULL, free_in_thread, &h), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(tr_alloc_used(), before);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_bytes),
        cmocka_unit_test(fails_the_nth_call),
        cmocka_unit_test(calloc_checks_overflow),
        cmocka_unit_test(grow_keeps_contents_on_failure),
        cmocka_unit_test(buf_appends_and_steals),
        cmocka_unit_test(buf_appends_at_every_fill),
        cmocka_unit_test(counts_across_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
