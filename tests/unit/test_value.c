/* test_value.c - the value model: counts, copy-on-write, record order and
 * index, equality and ordering, integer normalisation, failure paths.
 *
 * Every test checks that the bytes allocated through the seam are back to
 * where they started, so a leaked reference fails the test that caused it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/value.h"

static size_t baseline;

static int setup(void **state) {
    (void)state;
    tr_alloc_fail_at(0, 0);
    baseline = tr_alloc_used();
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tr_alloc_fail_at(0, 0);
    assert_int_equal(tr_alloc_used(), baseline);  /* expected: nothing leaked */
    return 0;
}

static tr_value str(const char *s) {
    tr_value v;
    assert_int_equal(tr_v_cstr(s, &v), 0);
    return v;
}

static tr_value rec(void) {
    tr_value v;
    assert_int_equal(tr_v_rec(0, &v), 0);
    return v;
}

static tr_value arr(void) {
    tr_value v;
    assert_int_equal(tr_v_arr(0, &v), 0);
    return v;
}

static void set(tr_value *r, const char *k, tr_value v) {
    assert_int_equal(tr_rec_set(r, k, strlen(k), v), 0);
}

static void test_uint_normalisation(void **state) {
    (void)state;
    tr_value v = tr_v_uint(5);
    assert_int_equal(v.type, TR_I64);
    assert_int_equal(v.as.i, 5);
    v = tr_v_uint((uint64_t)INT64_MAX);
    assert_int_equal(v.type, TR_I64);
    v = tr_v_uint((uint64_t)INT64_MAX + 1);
    assert_int_equal(v.type, TR_U64);
    assert_true(v.as.u == (uint64_t)INT64_MAX + 1);
    v = tr_v_uint(UINT64_MAX);
    assert_int_equal(v.type, TR_U64);
}

static void test_strings(void **state) {
    (void)state;
    tr_value a, b, bin;
    assert_int_equal(tr_v_str("a\0b", 3, &a), 0);
    assert_int_equal(a.type, TR_STR);
    assert_int_equal(a.as.s->len, 3);
    assert_int_equal(a.as.s->data[3], 0);  /* expected: NUL after the bytes */
    assert_memory_equal(a.as.s->data, "a\0b", 3);
    assert_int_equal(tr_v_str("a\0b", 3, &b), 0);
    assert_int_equal(tr_str_hash(a.as.s), tr_str_hash(b.as.s));
    assert_int_not_equal(tr_str_hash(a.as.s), 0);
    assert_int_equal(a.as.s->hash, tr_str_hash(a.as.s));  /* cached */
    assert_true(tr_value_eq(&a, &b));
    assert_int_equal(tr_v_bin("a\0b", 3, &bin), 0);
    assert_int_equal(bin.type, TR_BIN);
    assert_false(tr_value_eq(&a, &bin));  /* a string is not a binary */
    tr_value e;
    assert_int_equal(tr_v_str(NULL, 0, &e), 0);
    assert_int_equal(e.as.s->len, 0);
    tr_value_unref(a);
    tr_value_unref(b);
    tr_value_unref(bin);
    tr_value_unref(e);
}

static void test_refcount(void **state) {
    (void)state;
    tr_value r = rec();
    set(&r, "k", str("v"));
    tr_value r2 = tr_value_ref(r);
    assert_int_equal(r.as.r->refs, 2);
    tr_value_unref(r2);
    assert_int_equal(r.as.r->refs, 1);
    tr_value_unref(r);
    /* scalars: no-ops */
    tr_value_unref(tr_value_ref(tr_v_int(3)));
    tr_value_unref(tr_v_null());
}

/* A hint is tried first and moved to where the key is; a stale or
 * out-of-range hint still finds the key, or nothing. */
static void rec_get_hinted(void **state) {
    (void)state;
    tr_value r = rec(), s = rec(), big = rec();
    set(&r, "a", tr_v_int(1));
    set(&r, "bb", tr_v_int(2));
    set(&r, "c", tr_v_int(3));
    set(&s, "c", tr_v_int(30));
    set(&s, "ab", tr_v_int(20));
    uint32_t h = 0;
    assert_int_equal(tr_rec_get_hinted(&r, "c", 1, &h)->as.i, 3);
    assert_int_equal(h, 2);
    assert_int_equal(tr_rec_get_hinted(&r, "c", 1, &h)->as.i, 3);   /* the hint's hit */
    assert_int_equal(tr_rec_get_hinted(&s, "c", 1, &h)->as.i, 30);  /* out of range */
    assert_int_equal(h, 0);
    h = 1;   /* "ab" there, the same length and first letter as "bb" */
    assert_null(tr_rec_get_hinted(&r, "ab", 2, &h));
    assert_int_equal(h, 1);
    assert_int_equal(tr_rec_get_hinted(&s, "ab", 2, &h)->as.i, 20);
    assert_int_equal(tr_rec_get_hinted(&r, "bb", 2, &h)->as.i, 2);
    tr_value n = tr_v_int(1);
    assert_null(tr_rec_get_hinted(&n, "a", 1, &h));
    /* an indexed record: found through the index and remembered */
    char k[16];
    for (int i = 0; i < 40; i++) {
        snprintf(k, sizeof k, "k%d", i);
        set(&big, k, tr_v_int(i));
    }
    h = 0;
    assert_int_equal(tr_rec_get_hinted(&big, "k33", 3, &h)->as.i, 33);
    assert_int_equal(h, 33);
    tr_value_unref(r);
    tr_value_unref(s);
    tr_value_unref(big);
}

static void test_cow(void **state) {
    (void)state;
    tr_value r = rec();
    set(&r, "a", tr_v_int(1));
    tr_value shared = tr_value_ref(r);
    struct tr_rec *orig = r.as.r;
    assert_int_equal(tr_value_mut(&r), 0);
    assert_ptr_not_equal(r.as.r, orig);  /* expected: a private copy */
    assert_int_equal(orig->refs, 1);
    set(&r, "b", tr_v_int(2));
    assert_int_equal(tr_rec_len(&r), 2);
    assert_int_equal(tr_rec_len(&shared), 1);  /* the other holder sees no change */
    assert_null(tr_rec_get_cstr(&shared, "b"));
    /* unique: mut is a no-op */
    struct tr_rec *mine = r.as.r;
    assert_int_equal(tr_value_mut(&r), 0);
    assert_ptr_equal(r.as.r, mine);

    tr_value a = arr();
    assert_int_equal(tr_arr_push(&a, str("x")), 0);
    tr_value a2 = tr_value_ref(a);
    assert_int_equal(tr_value_mut(&a2), 0);
    assert_ptr_not_equal(a.as.a, a2.as.a);
    assert_ptr_equal(tr_arr_at(&a, 0)->as.s, tr_arr_at(&a2, 0)->as.s);  /* children shared */
    assert_int_equal(tr_arr_push(&a2, tr_v_int(1)), 0);
    assert_int_equal(tr_arr_len(&a), 1);
    assert_int_equal(tr_arr_len(&a2), 2);

    tr_value s = str("abc"), s2 = tr_value_ref(s);
    assert_int_equal(tr_value_mut(&s2), 0);
    assert_ptr_not_equal(s.as.s, s2.as.s);
    s2.as.s->data[0] = 'X';
    assert_string_equal(s.as.s->data, "abc");

    tr_value_unref(r);
    tr_value_unref(shared);
    tr_value_unref(a);
    tr_value_unref(a2);
    tr_value_unref(s);
    tr_value_unref(s2);

    /* a copy made to be changed has room: four fields set on the private
     * copy of a shared empty record (an event's meta) with keys made
     * before allocate nothing more */
    tr_value m = rec(), m2 = tr_value_ref(m);
    struct tr_str *keys[4];
    for (int i = 0; i < 4; i++) {
        char k[2] = {(char)('a' + i), 0};
        keys[i] = tr_str_new(k, 1);
        assert_non_null(keys[i]);
    }
    assert_int_equal(tr_value_mut(&m2), 0);
    tr_alloc_fail_at(1, 1);
    for (int i = 0; i < 4; i++) assert_int_equal(tr_rec_set_key(&m2, tr_str_ref(keys[i]), tr_v_int(i)), 0);
    tr_alloc_fail_at(0, 0);
    assert_int_equal(tr_rec_len(&m2), 4);
    assert_int_equal(tr_rec_len(&m), 0);
    for (int i = 0; i < 4; i++) tr_str_unref(keys[i]);
    tr_value_unref(m);
    tr_value_unref(m2);
}

static void test_record_order(void **state) {
    (void)state;
    tr_value r = rec();
    set(&r, "z", tr_v_int(1));
    set(&r, "a", tr_v_int(2));
    set(&r, "m", tr_v_int(3));
    set(&r, "a", str("replaced"));  /* keeps position 1 */
    const char *want[] = {"z", "a", "m"};
    assert_int_equal(tr_rec_len(&r), 3);
    for (uint32_t i = 0; i < 3; i++) assert_string_equal(tr_rec_at(&r, i)->key->data, want[i]);
    assert_int_equal(tr_rec_at(&r, 1)->val.type, TR_STR);

    struct tr_str *k = tr_str_new("m", 1);
    assert_int_equal(tr_rec_set_key(&r, k, tr_v_bool(1)), 0);  /* existing key object kept */
    assert_int_equal(tr_rec_len(&r), 3);
    assert_int_equal(tr_rec_at(&r, 2)->val.type, TR_BOOL);

    assert_int_equal(tr_rec_remove(&r, "z", 1), 1);
    assert_int_equal(tr_rec_remove(&r, "nope", 4), 0);
    assert_int_equal(tr_rec_len(&r), 2);
    assert_string_equal(tr_rec_at(&r, 0)->key->data, "a");
    assert_string_equal(tr_rec_at(&r, 1)->key->data, "m");
    assert_null(tr_rec_get_cstr(&r, "z"));
    assert_non_null(tr_rec_get_cstr(&r, "m"));
    /* keys with NUL bytes are distinct from their prefixes */
    assert_int_equal(tr_rec_set(&r, "m\0x", 3, tr_v_int(9)), 0);
    assert_int_equal(tr_rec_len(&r), 3);
    assert_int_equal(tr_rec_get(&r, "m\0x", 3)->as.i, 9);
    tr_value n = tr_v_int(1);
    assert_null(tr_rec_get_cstr(&n, "a"));  /* not a record: absent */
    tr_value_unref(r);
}

static void test_large_record(void **state) {
    (void)state;
    enum { N = 1000 };
    char k[32];
    tr_value r = rec();
    for (int i = 0; i < N; i++) {
        snprintf(k, sizeof k, "key%d", i);
        set(&r, k, tr_v_int(i));
        if (i == 15) assert_null(r.as.r->index);  /* 16 fields: linear */
        if (i == 16) assert_non_null(r.as.r->index);  /* 17 fields: indexed */
    }
    assert_int_equal(tr_rec_len(&r), N);
    for (int i = 0; i < N; i++) {
        snprintf(k, sizeof k, "key%d", i);
        tr_value *v = tr_rec_get_cstr(&r, k);
        assert_non_null(v);
        assert_int_equal(v->as.i, i);
        assert_string_equal(tr_rec_at(&r, (uint32_t)i)->key->data, k);  /* insertion order */
    }
    assert_null(tr_rec_get_cstr(&r, "key1000"));
    /* replace keeps position in an indexed record */
    set(&r, "key500", str("x"));
    assert_int_equal(tr_rec_at(&r, 500)->val.type, TR_STR);
    assert_int_equal(tr_rec_len(&r), N);
    /* remove every even key; the index follows the shifted positions */
    for (int i = 0; i < N; i += 2) {
        snprintf(k, sizeof k, "key%d", i);
        assert_int_equal(tr_rec_remove(&r, k, strlen(k)), 1);
    }
    assert_int_equal(tr_rec_len(&r), N / 2);
    for (int i = 0; i < N; i++) {
        snprintf(k, sizeof k, "key%d", i);
        tr_value *v = tr_rec_get_cstr(&r, k);
        if (i % 2) {
            assert_non_null(v);
            assert_string_equal(tr_rec_at(&r, (uint32_t)i / 2)->key->data, k);
        } else {
            assert_null(v);
        }
    }
    /* copy-on-write of an indexed record keeps lookups working */
    tr_value r2 = tr_value_ref(r);
    assert_int_equal(tr_value_mut(&r2), 0);
    set(&r2, "extra", tr_v_int(-1));
    assert_non_null(tr_rec_get_cstr(&r2, "key999"));
    assert_non_null(tr_rec_get_cstr(&r2, "extra"));
    assert_null(tr_rec_get_cstr(&r, "extra"));
    assert_false(tr_value_eq(&r, &r2));
    /* shrinking back to the linear size drops the index */
    for (int i = 1; i < N - 20; i += 2) {
        snprintf(k, sizeof k, "key%d", i);
        assert_int_equal(tr_rec_remove(&r, k, strlen(k)), 1);
    }
    assert_int_equal(tr_rec_len(&r), 10);
    assert_null(r.as.r->index);
    assert_non_null(tr_rec_get_cstr(&r, "key999"));
    tr_value_unref(r);
    tr_value_unref(r2);
}

static void test_eq(void **state) {
    (void)state;
    tr_value i1 = tr_v_int(1), f1 = tr_v_float(1.0), f15 = tr_v_float(1.5);
    assert_true(tr_value_eq(&i1, &f1));   /* Tremor: 1 == 1.0 */
    assert_false(tr_value_eq(&i1, &f15));
    tr_value big = tr_v_uint(UINT64_MAX), bigf = tr_v_float(18446744073709551616.0);
    assert_false(tr_value_eq(&big, &bigf));  /* exact: 2^64-1 != 2^64 */
    tr_value u63 = tr_v_uint((uint64_t)1 << 63), f63 = tr_v_float(9223372036854775808.0);
    assert_true(tr_value_eq(&u63, &f63));
    tr_value m1 = tr_v_int(-1);
    assert_false(tr_value_eq(&m1, &big));
    tr_value i53 = tr_v_int(((int64_t)1 << 53) + 1), f53 = tr_v_float(9007199254740992.0);
    assert_false(tr_value_eq(&i53, &f53));  /* no rounding through a cast */
    tr_value nan = tr_v_float(NAN);
    assert_false(tr_value_eq(&nan, &nan));
    tr_value t = tr_v_bool(1);
    assert_false(tr_value_eq(&t, &i1));  /* bool is not a number */
    tr_value n1 = tr_v_null(), n2 = tr_v_null();
    assert_true(tr_value_eq(&n1, &n2));

    tr_value a = rec(), b = rec();
    set(&a, "x", tr_v_int(1));
    set(&a, "y", str("s"));
    set(&b, "y", str("s"));
    set(&b, "x", tr_v_float(1.0));
    assert_true(tr_value_eq(&a, &b));  /* order does not matter */
    set(&b, "z", tr_v_null());
    assert_false(tr_value_eq(&a, &b));

    tr_value x = arr(), y = arr();
    assert_int_equal(tr_arr_push(&x, tr_v_int(2)), 0);
    assert_int_equal(tr_arr_push(&y, tr_v_float(2.0)), 0);
    assert_true(tr_value_eq(&x, &y));
    assert_int_equal(tr_arr_push(&y, tr_v_int(3)), 0);
    assert_false(tr_value_eq(&x, &y));
    tr_value_unref(a);
    tr_value_unref(b);
    tr_value_unref(x);
    tr_value_unref(y);
}

static int cmp_cb(const void *x, const void *y) { return tr_value_cmp(x, y); }

static void test_cmp(void **state) {
    (void)state;
    tr_value v[10];
    v[0] = rec();
    v[1] = str("b");
    v[2] = tr_v_float(2.5);
    v[3] = tr_v_null();
    v[4] = arr();
    v[5] = tr_v_uint(UINT64_MAX);
    v[6] = tr_v_bool(0);
    v[7] = str("a");
    v[8] = tr_v_int(-3);
    assert_int_equal(tr_v_bin("\x01", 1, &v[9]), 0);
    qsort(v, 10, sizeof v[0], cmp_cb);
    enum tr_type want[] = {TR_NULL, TR_BOOL, TR_I64, TR_F64, TR_U64, TR_STR, TR_STR, TR_BIN, TR_ARR, TR_REC};
    for (int i = 0; i < 10; i++) assert_int_equal(v[i].type, want[i]);
    assert_string_equal(v[5].as.s->data, "a");
    for (int i = 0; i < 10; i++) tr_value_unref(v[i]);

    tr_value i1 = tr_v_int(1), f1 = tr_v_float(1.0), f09 = tr_v_float(0.9), nan = tr_v_float(NAN);
    assert_int_equal(tr_value_cmp(&i1, &f1), 0);
    assert_int_equal(tr_value_cmp(&f09, &i1), -1);
    assert_int_equal(tr_value_cmp(&i1, &f09), 1);
    assert_int_equal(tr_value_cmp(&i1, &nan), -1);  /* NaN sorts last among numbers */
    assert_int_equal(tr_value_cmp(&nan, &nan), 0);
    tr_value m = tr_v_int(INT64_MIN), mf = tr_v_float(-9223372036854775808.0);
    assert_int_equal(tr_value_cmp(&m, &mf), 0);

    tr_value ab = str("ab"), abc = str("abc");
    assert_int_equal(tr_value_cmp(&ab, &abc), -1);
    assert_int_equal(tr_value_cmp(&abc, &ab), 1);

    /* records: consistent with eq whatever the insertion order; large ones too */
    tr_value a = rec(), b = rec();
    char k[16];
    for (int i = 0; i < 40; i++) {
        snprintf(k, sizeof k, "k%02d", i);
        set(&a, k, tr_v_int(i));
        snprintf(k, sizeof k, "k%02d", 39 - i);
        set(&b, k, tr_v_int(39 - i));
    }
    assert_true(tr_value_eq(&a, &b));
    assert_int_equal(tr_value_cmp(&a, &b), 0);
    set(&b, "k20", tr_v_int(100));
    assert_int_equal(tr_value_cmp(&a, &b), -1);
    assert_int_equal(tr_value_cmp(&b, &a), 1);
    /* the sort buffer cannot be allocated: the fallback gives the same answer */
    tr_alloc_fail_at(1, 1);
    assert_int_equal(tr_value_cmp(&a, &b), -1);
    assert_int_equal(tr_value_cmp(&b, &a), 1);
    tr_alloc_fail_at(0, 0);
    tr_value_unref(a);
    tr_value_unref(b);
    tr_value_unref(ab);
    tr_value_unref(abc);
    assert_string_equal(tr_type_name(TR_REC), "record");
    assert_string_equal(tr_type_name(TR_U64), "integer");
}

static void test_clone(void **state) {
    (void)state;
    tr_value r = rec(), inner = arr();
    assert_int_equal(tr_arr_push(&inner, str("deep")), 0);
    set(&r, "list", inner);
    set(&r, "n", tr_v_float(0.5));
    tr_value c;
    assert_int_equal(tr_value_clone(&r, &c), 0);
    assert_true(tr_value_eq(&r, &c));
    assert_ptr_not_equal(c.as.r, r.as.r);
    tr_value *l1 = tr_rec_get_cstr(&r, "list"), *l2 = tr_rec_get_cstr(&c, "list");
    assert_ptr_not_equal(l1->as.a, l2->as.a);
    assert_ptr_not_equal(tr_arr_at(l1, 0)->as.s, tr_arr_at(l2, 0)->as.s);
    assert_ptr_not_equal(tr_rec_at(&r, 0)->key, tr_rec_at(&c, 0)->key);
    tr_value_unref(r);
    tr_value_unref(c);

    /* deeper than TR_VALUE_MAX_DEPTH (built top-down through pointers
     * without tr_value_note_depth, which only code may do): refused, nothing
     * leaked */
    tr_value top = arr(), *cur = &top;
    for (int i = 0; i < TR_VALUE_MAX_DEPTH; i++) {
        assert_int_equal(tr_arr_push(cur, arr()), 0);
        cur = tr_arr_at(cur, 0);
    }
    assert_int_equal(tr_value_clone(&top, &c), TR_EDEPTH);
    assert_int_equal(c.type, TR_NULL);
    tr_value_unref(top);
}

/* Freeing must not recurse: a value far deeper than the input limit (built
 * by code, not parsed) still goes away without exhausting the stack. */
static void test_deep_free(void **state) {
    (void)state;
    enum { DEPTH = 200000 };
    tr_value top = rec(), *cur = &top;
    for (int i = 0; i < DEPTH; i++) {
        tr_value child = (i % 2) ? rec() : arr();
        if (cur->type == TR_REC) {
            set(cur, "c", child);
            cur = tr_rec_get_cstr(cur, "c");
        } else {
            assert_int_equal(tr_arr_push(cur, str("sibling")), 0);
            assert_int_equal(tr_arr_push(cur, child), 0);
            cur = tr_arr_at(cur, 1);
        }
    }
    tr_value_unref(top);
}

/* A value exactly depth deep, built bottom-up the way decoders and the
 * interpreter build: arrays and records alternate, every level also holds
 * a string, and the innermost level holds leaf. */
static tr_value deep_value(uint32_t depth, int64_t leaf) {
    tr_value v = tr_v_int(leaf);
    for (uint32_t i = 0; i < depth; i++) {
        tr_value c = (i % 2) ? rec() : arr();
        if (c.type == TR_REC) {
            set(&c, "s", str("sibling"));
            set(&c, "c", v);
        } else {
            assert_int_equal(tr_arr_push(&c, str("sibling")), 0);
            assert_int_equal(tr_arr_push(&c, v), 0);
        }
        v = c;
    }
    return v;
}

/* Nothing deeper than TR_VALUE_MAX_DEPTH can be built: every store refuses
 * with TR_EDEPTH and releases what it was given. */
static void test_depth_bound(void **state) {
    (void)state;
    assert_int_equal(tr_value_depth(&(tr_value){.type = TR_I64}), 0);
    tr_value e = arr();
    assert_int_equal(tr_value_depth(&e), 1);  /* [] */
    tr_value_unref(e);
    tr_value top = deep_value(TR_VALUE_MAX_DEPTH, 7);
    assert_int_equal(tr_value_depth(&top), TR_VALUE_MAX_DEPTH);
    size_t before = tr_alloc_used();

    tr_value a = arr();
    assert_int_equal(tr_arr_push(&a, tr_value_ref(top)), TR_EDEPTH);
    assert_int_equal(tr_arr_len(&a), 0);
    assert_int_equal(tr_value_depth(&a), 1);
    tr_value r = rec();
    assert_int_equal(tr_rec_set(&r, "k", 1, tr_value_ref(top)), TR_EDEPTH);
    assert_int_equal(tr_rec_set_key(&r, tr_str_new("k", 1), tr_value_ref(top)), TR_EDEPTH);
    assert_int_equal(tr_rec_len(&r), 0);
    /* replacing an existing key is a store too */
    set(&r, "k", tr_v_int(1));
    assert_int_equal(tr_rec_set(&r, "k", 1, tr_value_ref(top)), TR_EDEPTH);
    assert_int_equal(tr_rec_set_key(&r, tr_str_new("k", 1), tr_value_ref(top)), TR_EDEPTH);
    assert_int_equal(tr_rec_get_cstr(&r, "k")->as.i, 1);
    /* a container changed in place below its top says so */
    assert_int_equal(tr_value_note_depth(&r, TR_VALUE_MAX_DEPTH), TR_EDEPTH);
    assert_int_equal(tr_value_depth(&r), 1);
    assert_int_equal(tr_value_note_depth(&r, TR_VALUE_MAX_DEPTH - 1), 0);
    assert_int_equal(tr_value_depth(&r), TR_VALUE_MAX_DEPTH);
    tr_value_unref(a);
    tr_value_unref(r);
    assert_int_equal(tr_alloc_used(), before);  /* every refused value released */

    /* one level less fits, and copies keep the depth */
    tr_value below = deep_value(TR_VALUE_MAX_DEPTH - 1, 7), w = arr(), shared;
    assert_int_equal(tr_arr_push(&w, below), 0);
    assert_int_equal(tr_value_depth(&w), TR_VALUE_MAX_DEPTH);
    shared = tr_value_ref(w);
    assert_int_equal(tr_value_mut(&w), 0);  /* shared: a new top */
    assert_ptr_not_equal(w.as.a, shared.as.a);
    assert_int_equal(tr_value_depth(&w), TR_VALUE_MAX_DEPTH);
    assert_int_equal(tr_arr_push(&w, tr_value_ref(top)), TR_EDEPTH);
    tr_value_unref(shared);
    tr_value_unref(w);
    tr_value_unref(top);
}

struct deep_ops {
    int eq_same, eq_other, cmp_other, cmp_back, clone_rc, clone_eq;
};

static void *deep_ops_thread(void *arg) {
    struct deep_ops *o = arg;
    tr_value x = deep_value(TR_VALUE_MAX_DEPTH, 1), y = deep_value(TR_VALUE_MAX_DEPTH, 1),
             z = deep_value(TR_VALUE_MAX_DEPTH, 2), c;
    o->eq_same = tr_value_eq(&x, &y);  /* distinct objects all the way down */
    o->eq_other = tr_value_eq(&x, &z);
    o->cmp_other = tr_value_cmp(&x, &z);
    o->cmp_back = tr_value_cmp(&z, &x);
    o->clone_rc = tr_value_clone(&x, &c);
    o->clone_eq = o->clone_rc == 0 && tr_value_eq(&c, &x);
    tr_value_unref(c);
    tr_value_unref(x);
    tr_value_unref(y);
    tr_value_unref(z);
    return NULL;
}

/* The recursive operations at the depth limit fit in a small stack:
 * 512 KiB, a sixteenth of the loop thread's 8 MiB (they need about 256 KiB
 * at -O2 and a little more under ASan, whose frames are larger). */
static void test_ops_at_depth_limit(void **state) {
    (void)state;
    struct deep_ops o;
    memset(&o, 0, sizeof o);
    pthread_attr_t a;
    pthread_t t;
    assert_int_equal(pthread_attr_init(&a), 0);
    assert_int_equal(pthread_attr_setstacksize(&a, 512 * 1024), 0);
    assert_int_equal(pthread_create(&t, &a, deep_ops_thread, &o), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    pthread_attr_destroy(&a);
    assert_int_equal(o.eq_same, 1);
    assert_int_equal(o.eq_other, 0);
    assert_true(o.cmp_other < 0);  /* 1 < 2 at the bottom */
    assert_true(o.cmp_back > 0);
    assert_int_equal(o.clone_rc, 0);
    assert_int_equal(o.clone_eq, 1);
}

/* The block an arena object sits in. */
static const void *block_of(const void *obj, uint32_t blk) { return (const char *)obj - blk; }

/* Arena objects share a block, keep their own counts, and the block goes
 * with the last of them, whatever the order, also after the arena is done. */
static void test_arena_block_lifetime(void **state) {
    (void)state;
    struct tr_varena a;
    tr_varena_init(&a, 1024);
    assert_int_equal(tr_alloc_used(), baseline);  /* no block before the first object */
    struct tr_str *s1 = tr_varena_str(&a, 5), *s2 = tr_varena_str(&a, 0);
    tr_value r, x;
    assert_non_null(s1);
    assert_non_null(s2);
    memcpy(s1->data, "hello", 5);
    assert_int_equal(tr_varena_rec(&a, 2, &r), 0);
    assert_int_equal(tr_varena_arr(&a, 1, &x), 0);
    assert_true(s1->blk > 0 && s2->blk > s1->blk && r.as.r->blk > s2->blk && x.as.a->blk > r.as.r->blk);
    assert_ptr_equal(block_of(s1, s1->blk), block_of(s2, s2->blk));
    assert_ptr_equal(block_of(s1, s1->blk), block_of(r.as.r, r.as.r->blk));
    assert_ptr_equal(block_of(s1, s1->blk), block_of(x.as.a, x.as.a->blk));
    assert_int_equal((uintptr_t)s2 % 8, 0);
    assert_int_equal((uintptr_t)r.as.r % 8, 0);
    assert_int_equal(s2->data[0], 0);  /* NUL-terminated like any string */
    tr_varena_done(&a);
    size_t live = tr_alloc_used();
    assert_true(live > baseline);

    /* the record takes a key and a string of the same block; an array item
     * and a key beyond the inline capacity move the items out of the block */
    assert_int_equal(tr_rec_set_key(&r, s2, tr_v_strobj(tr_str_ref(s1))), 0);
    assert_int_equal(tr_arr_push(&x, tr_v_int(1)), 0);
    assert_int_equal(tr_arr_push(&x, tr_v_int(2)), 0);
    assert_int_equal(tr_rec_set(&r, "b", 1, tr_v_int(2)), 0);
    assert_int_equal(tr_rec_set(&r, "c", 1, tr_v_int(3)), 0);
    assert_int_equal(tr_rec_len(&r), 3);
    tr_value shared = tr_value_ref(r);
    assert_int_equal(tr_value_mut(&shared), 0);  /* a heap copy sharing the arena key and string */
    assert_true(tr_value_eq(&shared, &r));
    tr_value_unref(r);
    tr_value_unref(x);
    assert_true(tr_alloc_used() > baseline);  /* the copy's key and string still hold the block */
    assert_memory_equal(tr_rec_at(&shared, 0)->val.as.s->data, "hello", 5);
    tr_str_unref(s1);
    tr_value_unref(shared);
    /* teardown: the block is gone */
}

/* Where objects go at the boundaries: an object filling the block's rest
 * exactly stays in it, the next one starts a new block, and an object too
 * big for a block gets its own allocation. */
static void test_arena_boundaries(void **state) {
    (void)state;
    struct tr_varena a;
    tr_varena_init(&a, 0);  /* the smallest first block: 256 bytes */
    struct tr_str *s = tr_varena_str(&a, 0);
    assert_non_null(s);
    uint32_t first = s->blk;
    /* 256 - header (16) - 24 for s leaves 216 bytes: a string of
     * 216 - 16 - 1 bytes fills them exactly */
    struct tr_str *fill = tr_varena_str(&a, 216 - sizeof(struct tr_str) - 1);
    assert_non_null(fill);
    assert_ptr_equal(block_of(fill, fill->blk), block_of(s, s->blk));
    assert_int_equal(fill->blk + sizeof(struct tr_str) + fill->len + 1, 256);
    struct tr_str *next = tr_varena_str(&a, 0);
    assert_non_null(next);
    assert_int_equal(next->blk, first);  /* first object of a fresh block */
    assert_ptr_not_equal(block_of(next, next->blk), block_of(s, s->blk));
    /* 512 - 16 - 24 = 472 bytes left in the second block: 424 of them go
     * to mid; then 324 bytes fit neither the rest nor a quarter of the next
     * block (1024 bytes) and get their own allocation, while 120 bytes
     * start that next block */
    struct tr_str *mid = tr_varena_str(&a, 400);
    assert_non_null(mid);
    assert_ptr_equal(block_of(mid, mid->blk), block_of(next, next->blk));
    struct tr_str *big = tr_varena_str(&a, 300);
    assert_non_null(big);
    assert_int_equal(big->blk, 0);
    struct tr_str *small = tr_varena_str(&a, 100);
    assert_non_null(small);
    assert_int_equal(small->blk, first);
    struct tr_str *huge = tr_varena_str(&a, 3 * TR_VARENA_BLOCK_MAX);
    assert_non_null(huge);
    assert_int_equal(huge->blk, 0);
    tr_value r;
    assert_int_equal(tr_varena_rec(&a, 1u << 20, &r), 0);  /* beyond a capacity hint's limit */
    assert_int_equal(r.as.r->blk, 0);
    tr_value_unref(r);
    tr_varena_done(&a);
    tr_str_unref(s);
    tr_str_unref(fill);
    tr_str_unref(next);
    tr_str_unref(mid);
    tr_str_unref(big);
    tr_str_unref(small);
    tr_str_unref(huge);

    /* an arena whose first block is big enough takes one big object; the
     * first block is never bigger than TR_VARENA_FIRST_MAX, whatever the
     * estimate, so a bigger object gets its own allocation */
    tr_varena_init(&a, 1u << 20);
    assert_int_equal(a.next, TR_VARENA_FIRST_MAX);
    big = tr_varena_str(&a, TR_VARENA_FIRST_MAX - 64);
    assert_non_null(big);
    assert_true(big->blk > 0);
    huge = tr_varena_str(&a, TR_VARENA_FIRST_MAX);
    assert_non_null(huge);
    assert_int_equal(huge->blk, 0);
    tr_varena_done(&a);
    tr_str_unref(big);
    tr_str_unref(huge);
    tr_varena_init(&a, 1u << 20);
    huge = tr_varena_str(&a, TR_VARENA_FIRST_MAX);  /* the first object, too big for the first block */
    assert_non_null(huge);
    assert_int_equal(huge->blk, 0);
    tr_varena_done(&a);
    tr_str_unref(huge);
}

/* A block that cannot be allocated: the object gets its own allocation,
 * or the call fails cleanly when that fails too. */
static void test_arena_alloc_failure(void **state) {
    (void)state;
    struct tr_varena a;
    tr_varena_init(&a, 1024);
    tr_alloc_fail_at(1, 0);  /* only the block */
    struct tr_str *s = tr_varena_str(&a, 3);
    assert_non_null(s);
    assert_int_equal(s->blk, 0);
    tr_alloc_fail_at(1, 1);
    assert_null(tr_varena_str(&a, 3));
    tr_value v;
    assert_int_equal(tr_varena_rec(&a, 2, &v), -ENOMEM);
    assert_int_equal(v.type, TR_NULL);
    assert_int_equal(tr_varena_arr(&a, 2, &v), -ENOMEM);
    assert_int_equal(v.type, TR_NULL);
    tr_alloc_fail_at(0, 0);
    tr_varena_done(&a);
    tr_str_unref(s);
}

/* A carry: the documents decoded one after another fill one block of
 * TR_VARENA_CARRY_BLOCK bytes (one allocation, not one per document); the
 * block outlives each arena, goes once it is dropped and its objects are
 * gone, and is left behind when too little room is left. Without a carry
 * in use each arena has blocks of its own. */
static void test_arena_carry(void **state) {
    (void)state;
    struct tr_varena_carry c = {0};
    struct tr_varena a;
    assert_null(tr_varena_use_carry(&c));
    struct tr_str *doc[3];
    for (int i = 0; i < 3; i++) {
        tr_varena_init_for(&a, 20);
        doc[i] = tr_varena_str(&a, 20);
        assert_non_null(doc[i]);
        tr_varena_done(&a);
        assert_non_null(c.b);  /* the block with room goes on */
    }
    assert_ptr_equal(block_of(doc[0], doc[0]->blk), block_of(doc[1], doc[1]->blk));
    assert_ptr_equal(block_of(doc[0], doc[0]->blk), block_of(doc[2], doc[2]->blk));
    assert_ptr_equal(block_of(doc[0], doc[0]->blk), c.b);
    assert_int_equal(c.size, TR_VARENA_CARRY_BLOCK);
    tr_str_unref(doc[0]);
    tr_str_unref(doc[1]);
    tr_str_unref(doc[2]);
    assert_true(tr_alloc_used() > baseline);  /* the carry's count keeps the empty block */

    /* a document that leaves less than 256 bytes: its block is not carried */
    tr_varena_init(&a, 0);
    size_t rest = c.size - c.used;
    struct tr_str *fill = tr_varena_str(&a, rest - sizeof(struct tr_str) - 1 - 200);
    assert_non_null(fill);
    assert_ptr_equal(block_of(fill, fill->blk), block_of(doc[0], doc[0]->blk));
    assert_null(c.b);  /* taken up by the arena */
    tr_varena_done(&a);
    assert_null(c.b);
    /* a nested decode leaves its block in the carry; the outer one then
     * keeps its own out of it */
    struct tr_varena outer, inner;
    tr_varena_init(&outer, 0);
    struct tr_str *o1 = tr_varena_str(&outer, 10);
    tr_varena_init(&inner, 0);
    struct tr_str *i1 = tr_varena_str(&inner, 10);
    assert_ptr_not_equal(block_of(o1, o1->blk), block_of(i1, i1->blk));
    tr_varena_done(&inner);
    assert_ptr_equal(c.b, block_of(i1, i1->blk));
    tr_varena_done(&outer);
    assert_ptr_equal(c.b, block_of(i1, i1->blk));
    tr_str_unref(o1);  /* the outer block goes with it */

    assert_ptr_equal(tr_varena_use_carry(NULL), &c);
    tr_varena_init(&a, 0);
    struct tr_str *own = tr_varena_str(&a, 10);
    assert_ptr_not_equal(block_of(own, own->blk), c.b);
    tr_varena_done(&a);
    assert_ptr_equal(c.b, block_of(i1, i1->blk));  /* untouched */
    tr_str_unref(own);
    tr_varena_carry_drop(&c);
    assert_null(c.b);
    assert_true(tr_alloc_used() > baseline);  /* i1 and fill hold their blocks */
    tr_str_unref(i1);
    tr_str_unref(fill);
    /* teardown: nothing left */
}

/* Fills the carried block with two strings by tr_varena_str_one, the
 * second leaving 100 bytes: too few to carry the block on. */
static void fill_carried(struct tr_varena_carry *c, struct tr_str **out) {
    out[0] = tr_varena_str_one(500);
    assert_non_null(out[0]);
    assert_non_null(c->b);
    size_t room = c->size - c->used;
    out[1] = tr_varena_str_one(room - sizeof(struct tr_str) - 1 - 100);
    assert_non_null(out[1]);
    assert_ptr_equal(block_of(out[1], out[1]->blk), block_of(out[0], out[0]->blk));
    assert_null(c->b);
}

/* A carried block too full to go on stays with the carry as its spare;
 * once its objects are gone it is the next block (no allocation), while
 * one of them lives a new block is allocated. tr_varena_str_one takes its
 * strings from the carried block as init + str + done would. */
static void test_arena_carry_spare(void **state) {
    (void)state;
    struct tr_varena_carry c = {0};
    struct tr_str *s[2], *more[2];
    assert_null(tr_varena_use_carry(&c));
    fill_carried(&c, s);
    const void *first = block_of(s[0], s[0]->blk);
    assert_ptr_equal(c.spare, first);
    tr_str_unref(s[0]);
    tr_str_unref(s[1]);
    size_t used = tr_alloc_used();
    assert_true(used > baseline);   /* the spare's count keeps it */

    /* all gone: the same block again, nothing allocated */
    struct tr_str *keep = tr_varena_str_one(500);
    assert_ptr_equal(block_of(keep, keep->blk), first);
    assert_null(c.spare);
    assert_int_equal(tr_alloc_used(), used);
    memcpy(keep->data, "kept", 4);

    /* one string of it still alive: the next block is a new one */
    fill_carried(&c, more);
    assert_ptr_equal(block_of(more[0], more[0]->blk), first);
    assert_ptr_equal(c.spare, first);
    tr_str_unref(more[0]);
    tr_str_unref(more[1]);
    struct tr_str *next = tr_varena_str_one(500);
    const void *second = block_of(next, next->blk);
    assert_ptr_not_equal(second, first);
    assert_true(tr_alloc_used() > used);
    assert_memory_equal(keep->data, "kept", 4);   /* not written over */
    assert_ptr_equal(c.spare, first);

    /* a string that does not fit the room left (more than 256 bytes):
     * the block is left for a new one and becomes the spare, the old
     * spare (keep's block) goes when keep does */
    size_t room = c.size - c.used;
    struct tr_str *wide = tr_varena_str_one(room - sizeof(struct tr_str) - 1 - 1000);
    struct tr_str *over = tr_varena_str_one(1200);
    assert_ptr_equal(block_of(wide, wide->blk), second);
    assert_ptr_not_equal(block_of(over, over->blk), second);
    assert_ptr_equal(c.spare, second);
    tr_str_unref(keep);
    tr_str_unref(wide);
    tr_str_unref(over);

    /* too big for a block: an allocation of its own */
    struct tr_str *big = tr_varena_str_one(3 * TR_VARENA_CARRY_BLOCK);
    assert_non_null(big);
    assert_int_equal(big->blk, 0);
    tr_str_unref(big);

    /* dropping the carry gives up both counts; a live string keeps its
     * block until it goes */
    assert_ptr_equal(tr_varena_use_carry(NULL), &c);
    tr_varena_carry_drop(&c);
    assert_null(c.b);
    assert_null(c.spare);
    assert_true(tr_alloc_used() > baseline);
    tr_str_unref(next);
    /* without a carry, a block of its own */
    struct tr_str *own = tr_varena_str_one(10);
    assert_non_null(own);
    assert_int_not_equal(own->blk, 0);
    tr_str_unref(own);
    /* teardown: nothing left */
}

/* Every allocation failing in turn: clean -ENOMEM, no leak, and a value
 * passed to a "takes" function is released. */
static void test_alloc_failure(void **state) {
    (void)state;
    tr_value v;
    tr_alloc_fail_at(1, 0);
    assert_int_equal(tr_v_rec(0, &v), -ENOMEM);
    assert_int_equal(v.type, TR_NULL);
    tr_alloc_fail_at(1, 0);
    assert_int_equal(tr_v_cstr("x", &v), -ENOMEM);
    assert_int_equal(v.type, TR_NULL);

    for (uint64_t n = 1; n < 40; n++) {
        tr_value r = rec(), a = arr();
        tr_alloc_fail_at(n, 1);
        int rc = 0;
        for (int i = 0; i < 20 && !rc; i++) {
            char k[16];
            snprintf(k, sizeof k, "k%d", i);
            tr_value s;
            if (tr_v_cstr("payload", &s)) {
                rc = -ENOMEM;
                break;
            }
            rc = tr_rec_set(&r, k, strlen(k), s);  /* takes s even on failure */
            if (!rc) rc = tr_arr_push(&a, tr_value_ref(*tr_rec_get_cstr(&r, k)));
        }
        tr_value shared = tr_value_ref(r), c;
        int mrc = tr_value_mut(&shared);
        assert_true(mrc == 0 || mrc == -ENOMEM);
        int crc = tr_value_clone(&a, &c);
        assert_true(crc == 0 || crc == -ENOMEM);
        tr_alloc_fail_at(0, 0);
        assert_true(rc == 0 || rc == -ENOMEM);
        if (!crc) tr_value_unref(c);
        tr_value_unref(shared);
        tr_value_unref(r);
        tr_value_unref(a);
        assert_int_equal(tr_alloc_used(), baseline);  /* expected: no leak after failure at n */
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_uint_normalisation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refcount, setup, teardown),
        cmocka_unit_test_setup_teardown(rec_get_hinted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deep_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ops_at_depth_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arena_block_lifetime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arena_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arena_alloc_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arena_carry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arena_carry_spare, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
