/* test_bin.c - the binary value encoding: exact round trips, and damaged
 * input (every truncation, every bit flip) gives an error or a value, never
 * a crash or an over-read. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include <pthread.h>

#include "codec/bin.h"
#include "codec/event_bin.h"
#include "codec/json.h"
#include "core/alloc.h"

static tr_value sample(void) {
    tr_value rec, arr, s, b, inner;
    assert_int_equal(tr_v_rec(0, &rec), 0);
    assert_int_equal(tr_v_cstr("héllo\n", &s), 0);
    assert_int_equal(tr_v_bin("\0\1\2\377", 4, &b), 0);
    assert_int_equal(tr_v_arr(0, &arr), 0);
    assert_int_equal(tr_arr_push(&arr, tr_v_int(-5)), 0);
    assert_int_equal(tr_arr_push(&arr, tr_v_uint(UINT64_MAX)), 0);
    assert_int_equal(tr_arr_push(&arr, tr_v_float(-0.0)), 0);
    assert_int_equal(tr_arr_push(&arr, tr_v_null()), 0);
    assert_int_equal(tr_v_rec(0, &inner), 0);
    assert_int_equal(tr_rec_set(&inner, "z", 1, tr_v_bool(1)), 0);
    assert_int_equal(tr_rec_set(&inner, "a", 1, tr_v_bool(0)), 0);
    assert_int_equal(tr_rec_set(&rec, "s", 1, s), 0);
    assert_int_equal(tr_rec_set(&rec, "b", 1, b), 0);
    assert_int_equal(tr_rec_set(&rec, "arr", 3, arr), 0);
    assert_int_equal(tr_rec_set(&rec, "inner", 5, inner), 0);
    assert_int_equal(tr_rec_set(&rec, "min", 3, tr_v_int(INT64_MIN)), 0);
    assert_int_equal(tr_rec_set(&rec, "pi", 2, tr_v_float(3.141592653589793)), 0);
    return rec;
}

static void round_trip_keeps_types_and_order(void **state) {
    (void)state;
    tr_value v = sample(), back;
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_bin_encode(&v, &b), 0);
    size_t off = 0;
    assert_int_equal(tr_bin_decode(b.data, b.len, &off, &back), 0);
    assert_int_equal(off, b.len);
    assert_true(tr_value_eq(&v, &back));
    /* key order and exact types survive */
    assert_string_equal(tr_rec_at(&back, 0)->key->data, "s");
    assert_string_equal(tr_rec_at(&back, 3)->key->data, "inner");
    assert_string_equal(tr_rec_at(tr_rec_get_cstr(&back, "inner"), 0)->key->data, "z");
    assert_int_equal(tr_rec_get_cstr(&back, "b")->type, TR_BIN);
    const tr_value *arr = tr_rec_get_cstr(&back, "arr");
    assert_int_equal(tr_arr_at(arr, 1)->type, TR_U64);
    assert_true(signbit(tr_arr_at(arr, 2)->as.f));
    assert_int_equal(tr_rec_get_cstr(&back, "min")->as.i, INT64_MIN);
    tr_value_unref(v);
    tr_value_unref(back);
    tr_buf_fini(&b);
}

/* A decoded value's strings, keys and containers share arena blocks: a
 * record of short strings (denser in this encoding than the first block's
 * estimate of 3 bytes of values per byte) decodes with two allocations
 * instead of one per string, key and container; duplicate
 * keys keep the first position and the last value, and nothing is left
 * when the parts go. */
static void decode_allocates_once(void **state) {
    (void)state;
    static const char doc[] = "{\"id\":123456,\"onramp\":\"metronome\",\"ingest_ns\":1637340000123456789,"
                              "\"hostname\":\"tremor-host-01.example\",\"s\":\"h\u00e9llo\\n\",\"tags\":[\"a\",\"b\"]}";
    tr_value v, back;
    assert_int_equal(tr_json_decode(doc, strlen(doc), &v, NULL), 0);
    tr_value bytes;
    assert_int_equal(tr_v_bin("\0\1\2\377", 4, &bytes), 0);
    assert_int_equal(tr_rec_set(&v, "b", 1, bytes), 0);
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_bin_encode(&v, &b), 0);
    size_t before = tr_alloc_used(), off = 0;
    tr_alloc_fail_at(3, 1);  /* every allocation after the second fails */
    int rc = tr_bin_decode(b.data, b.len, &off, &back);
    tr_alloc_fail_at(0, 0);
    assert_int_equal(rc, 0);  /* expected: two blocks for the whole value */
    assert_true(tr_value_eq(&v, &back));
    assert_true(tr_rec_at(&back, 0)->key->blk > 0);
    assert_true(tr_rec_get_cstr(&back, "b")->as.s->blk > 0);
    assert_int_equal(tr_rec_get_cstr(&back, "b")->type, TR_BIN);
    tr_value s = tr_value_ref(*tr_rec_get_cstr(&back, "s"));
    tr_value_unref(back);
    assert_string_equal(s.as.s->data, "héllo\n");
    tr_value_unref(s);
    assert_int_equal(tr_alloc_used(), before);

    /* {"k":1,"k":2}: T_REC, count, then key length, key, T_I64 and the zigzag value, twice */
    static const char dup[] = {9, 2, 1, 'k', 3, 2, 1, 'k', 3, 4};
    off = 0;
    tr_value d;
    tr_buf_reset(&b);
    assert_int_equal(tr_bin_encode(&(tr_value){.type = TR_I64, .as.i = 1}, &b), 0);
    assert_int_equal(b.data[0], 3);  /* the tag of an integer, as dup assumes */
    assert_int_equal(tr_bin_decode(dup, sizeof dup, &off, &d), 0);
    assert_int_equal(tr_rec_len(&d), 1);
    assert_int_equal(tr_rec_get_cstr(&d, "k")->as.i, 2);
    tr_value_unref(d);
    assert_int_equal(tr_alloc_used(), before);
    tr_value_unref(v);
    tr_buf_fini(&b);
}

static void every_truncation_is_an_error(void **state) {
    (void)state;
    tr_value v = sample(), back;
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_bin_encode(&v, &b), 0);
    for (size_t cut = 0; cut < b.len; cut++) {
        char *copy = tr_malloc(cut ? cut : 1);
        memcpy(copy, b.data, cut);
        size_t off = 0;
        int rc = tr_bin_decode(copy, cut, &off, &back);
        assert_int_not_equal(rc, 0);
        assert_int_equal(back.type, TR_NULL);
        tr_free(copy);
    }
    tr_value_unref(v);
    tr_buf_fini(&b);
}

static void every_bit_flip_is_safe(void **state) {
    (void)state;
    tr_value v = sample(), back;
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_bin_encode(&v, &b), 0);
    char *copy = tr_malloc(b.len);
    for (size_t i = 0; i < b.len * 8; i++) {
        memcpy(copy, b.data, b.len);
        copy[i / 8] ^= (char)(1 << (i % 8));
        size_t off = 0;
        if (tr_bin_decode(copy, b.len, &off, &back) == 0) {
            assert_true(off <= b.len);
            tr_value_unref(back);
        }
    }
    tr_free(copy);
    tr_value_unref(v);
    tr_buf_fini(&b);
}

static void huge_claimed_length_does_not_allocate(void **state) {
    (void)state;
    /* an array claiming 2^40 items in a 7-byte input */
    const char bad[] = {8, (char)0x80, (char)0x80, (char)0x80, (char)0x80, (char)0x80, 0x20};
    size_t off = 0;
    tr_value out;
    size_t before = tr_alloc_used();
    assert_int_equal(tr_bin_decode(bad, sizeof bad, &off, &out), TR_ECORRUPT);
    assert_int_equal(tr_alloc_used(), before);
}

static void deep_nesting_is_bounded(void **state) {
    (void)state;
    size_t n = TR_VALUE_MAX_DEPTH + 10;
    char *deep = tr_malloc(n * 2);
    for (size_t i = 0; i < n; i++) {
        deep[2 * i] = 8;      /* array */
        deep[2 * i + 1] = 1;  /* of one item */
    }
    size_t off = 0;
    tr_value out;
    assert_int_not_equal(tr_bin_decode(deep, n * 2, &off, &out), 0);
    tr_free(deep);
}

/* The deepest value that can be built (arrays and records alternating, a
 * string beside every level), bottom-up as the interpreter builds it. */
static tr_value deepest(void) {
    tr_value v;
    assert_int_equal(tr_v_cstr("leaf", &v), 0);
    for (int i = 0; i < TR_VALUE_MAX_DEPTH; i++) {
        tr_value c, s;
        assert_int_equal(tr_v_cstr("sibling", &s), 0);
        if (i % 2) {
            assert_int_equal(tr_v_rec(2, &c), 0);
            assert_int_equal(tr_rec_set(&c, "s", 1, s), 0);
            assert_int_equal(tr_rec_set(&c, "c", 1, v), 0);
        } else {
            assert_int_equal(tr_v_arr(2, &c), 0);
            assert_int_equal(tr_arr_push(&c, s), 0);
            assert_int_equal(tr_arr_push(&c, v), 0);
        }
        v = c;
    }
    assert_int_equal(tr_value_depth(&v), TR_VALUE_MAX_DEPTH);
    return v;
}

struct deep_codecs {
    int bin_enc, bin_dec, bin_eq, ev_enc, ev_dec, ev_eq, json_enc, json_dec, json_eq;
};

static void *deep_codecs_thread(void *arg) {
    struct deep_codecs *r = arg;
    tr_value v = deepest(), back = tr_v_null();
    struct tr_buf b;
    tr_buf_init(&b);
    size_t off = 0;
    r->bin_enc = tr_bin_encode(&v, &b);
    r->bin_dec = tr_bin_decode(b.data, b.len, &off, &back);
    r->bin_eq = tr_value_eq(&v, &back) && tr_value_depth(&back) == TR_VALUE_MAX_DEPTH;
    tr_value_unref(back);
    tr_buf_fini(&b);

    /* the WAL's record codec */
    struct tr_event ev, ev2;
    tr_value meta;
    tr_v_rec(0, &meta);
    if (tr_event_init(&ev, tr_value_ref(v), meta, 42) == 0) {
        tr_buf_init(&b);
        r->ev_enc = tr_event_encode(&ev, &b);
        r->ev_dec = tr_event_decode(b.data, b.len, &ev2);
        r->ev_eq = r->ev_dec == 0 && tr_value_eq(&ev.value, &ev2.value);
        if (r->ev_dec == 0) tr_event_fini(&ev2);
        tr_buf_fini(&b);
        tr_event_fini(&ev);
    }

    tr_buf_init(&b);
    r->json_enc = tr_json_encode(&v, &b);
    r->json_dec = tr_json_decode(b.data, b.len, &back, NULL);
    r->json_eq = tr_value_eq(&v, &back);
    tr_value_unref(back);
    tr_buf_fini(&b);
    tr_value_unref(v);
    return NULL;
}

/* Any value that can exist can be stored and read back: bin, the WAL's
 * event records and JSON all take the deepest one, on a 512 KiB stack. */
static void deepest_value_round_trips(void **state) {
    (void)state;
    size_t before = tr_alloc_used();
    struct deep_codecs r;
    memset(&r, -1, sizeof r);
    pthread_attr_t a;
    pthread_t t;
    assert_int_equal(pthread_attr_init(&a), 0);
    assert_int_equal(pthread_attr_setstacksize(&a, 512 * 1024), 0);
    assert_int_equal(pthread_create(&t, &a, deep_codecs_thread, &r), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    pthread_attr_destroy(&a);
    assert_int_equal(r.bin_enc, 0);
    assert_int_equal(r.bin_dec, 0);
    assert_int_equal(r.bin_eq, 1);
    assert_int_equal(r.ev_enc, 0);
    assert_int_equal(r.ev_dec, 0);
    assert_int_equal(r.ev_eq, 1);
    assert_int_equal(r.json_enc, 0);
    assert_int_equal(r.json_dec, 0);
    assert_int_equal(r.json_eq, 1);
    assert_int_equal(tr_alloc_used(), before);
}

/* The flags byte keeps transactional and batch (generic::batch) apart and
 * refuses bits it does not know. */
static void event_flags_round_trip(void **state) {
    (void)state;
    for (int f = 0; f < 4; f++) {
        struct tr_event ev, back;
        assert_int_equal(tr_event_init(&ev, tr_v_int(f), tr_v_null(), 7), 0);
        ev.transactional = f & 1;
        ev.is_batch = (f & 2) != 0;
        struct tr_buf b;
        tr_buf_init(&b);
        assert_int_equal(tr_event_encode(&ev, &b), 0);
        assert_int_equal(tr_event_decode(b.data, b.len, &back), 0);
        assert_int_equal(back.transactional, ev.transactional);
        assert_int_equal(back.is_batch, ev.is_batch);
        tr_event_fini(&back);
        b.data[1] = (char)(b.data[1] | 4);
        assert_int_equal(tr_event_decode(b.data, b.len, &back), TR_ECORRUPT);
        tr_buf_fini(&b);
        tr_event_fini(&ev);
    }
}

/* A WAL record whose meta is {} reads back holding the shared {} (no
 * allocation: the relay reads one per event); any other meta is decoded. */
static void empty_meta_reads_back_shared(void **state) {
    (void)state;
    struct tr_event ev, back;
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_event_init(&ev, tr_v_int(5), tr_v_null(), 7), 0);
    assert_int_equal(tr_event_encode(&ev, &b), 0);
    tr_alloc_fail_at(1, 1);   /* every allocation fails */
    assert_int_equal(tr_event_decode(b.data, b.len, &back), 0);
    tr_alloc_fail_at(0, 0);
    assert_ptr_equal(back.meta.as.r, tr_v_rec_empty().as.r);
    assert_int_equal(back.value.as.i, 5);
    tr_event_fini(&back);
    /* trailing bytes after the empty meta are still corrupt */
    assert_int_equal(tr_buf_putc(&b, 0), 0);
    assert_int_equal(tr_event_decode(b.data, b.len, &back), TR_ECORRUPT);
    tr_event_fini(&back);
    tr_event_fini(&ev);

    /* {"a": {}}: decoded, and the inner {} is a record of its own */
    tr_value m, inner;
    assert_int_equal(tr_v_rec(1, &m), 0);
    assert_int_equal(tr_v_rec(0, &inner), 0);
    assert_int_equal(tr_rec_set(&m, "a", 1, inner), 0);
    assert_int_equal(tr_event_init(&ev, tr_v_int(6), m, 8), 0);
    tr_buf_reset(&b);
    assert_int_equal(tr_event_encode(&ev, &b), 0);
    assert_int_equal(tr_event_decode(b.data, b.len, &back), 0);
    assert_true(tr_value_eq(&back.meta, &ev.meta));
    assert_int_equal(back.meta.as.r->refs, 1);
    tr_event_fini(&back);
    tr_event_fini(&ev);
    tr_buf_fini(&b);
}

/* Undecoded JSON (TR_RAWJSON) is stored as tag 10 and its bytes, and an
 * event holding one reads back holding the same text. The tag is taken
 * only for an event's whole value and only for canonical text: text the
 * encoder would write otherwise, or a tag 10 inside a container, is
 * damage. */
static void raw_json_round_trips(void **state) {
    (void)state;
    static const char canon[] = "{\"id\":1,\"s\":\"x\"}";
    tr_value v;
    assert_int_equal(tr_json_decode_lazy(canon, sizeof canon - 1, &v, NULL), 0);
    assert_int_equal(v.type, TR_RAWJSON);
    struct tr_event ev, back;
    assert_int_equal(tr_event_init(&ev, v, tr_v_null(), 9), 0);
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_event_encode(&ev, &b), 0);
    assert_int_equal(tr_event_decode(b.data, b.len, &back), 0);
    assert_int_equal(back.value.type, TR_RAWJSON);
    assert_int_equal(back.value.as.s->len, sizeof canon - 1);
    assert_memory_equal(back.value.as.s->data, canon, sizeof canon - 1);
    tr_event_fini(&back);
    tr_event_fini(&ev);

    /* the bytes themselves */
    tr_buf_reset(&b);
    assert_int_equal(tr_json_decode_lazy("[1]", 3, &v, NULL), 0);
    assert_int_equal(tr_bin_encode(&v, &b), 0);
    static const unsigned char want[] = {10, 3, '[', '1', ']'};
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    size_t off = 0;
    tr_value w;
    assert_int_equal(tr_bin_decode(b.data, b.len, &off, &w), 0);
    assert_true(tr_value_eq(&v, &w));
    tr_value_unref(w);
    tr_value_unref(v);

    /* damage: text that is not canonical, or tag 10 nested */
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {"\x0a\x04[1 ]", 6},
        {"\x0a\x03[1,", 5},
        {"\x0a\x02-0", 4},
        {"\x0a\x05\"\\u41\"", 7},
        {"\x08\x01\x0a\x03[1]", 7},
        {"\x09\x01\x01k\x0a\x01" "1", 7},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        off = 0;
        assert_int_equal(tr_bin_decode(bad[i].bytes, bad[i].len, &off, &w), TR_ECORRUPT);
        assert_int_equal(w.type, TR_NULL);
    }
    tr_buf_fini(&b);
}

/* The WAL holds these bytes: the encoding itself must never change. */
static void encoding_bytes_are_fixed(void **state) {
    (void)state;
    tr_value v, s;
    assert_int_equal(tr_v_rec(0, &v), 0);
    assert_int_equal(tr_rec_set(&v, "k", 1, tr_v_int(300)), 0);
    assert_int_equal(tr_v_cstr("ab", &s), 0);
    assert_int_equal(tr_rec_set(&v, "s", 1, s), 0);
    assert_int_equal(tr_rec_set(&v, "n", 1, tr_v_int(-1)), 0);
    assert_int_equal(tr_rec_set(&v, "u", 1, tr_v_uint(UINT64_MAX)), 0);
    assert_int_equal(tr_rec_set(&v, "t", 1, tr_v_bool(1)), 0);
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_bin_encode(&v, &b), 0);
    static const unsigned char want[] = {
        9, 5,                                   /* record of 5 */
        1, 'k', 3, 0xd8, 0x04,                  /* i64 300: zigzag 600 */
        1, 's', 6, 2, 'a', 'b',                 /* str "ab" */
        1, 'n', 3, 0x01,                        /* i64 -1: zigzag 1 */
        1, 'u', 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        1, 't', 2,
    };
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    assert_int_equal(b.data[b.len], 0);
    tr_value_unref(v);
    tr_buf_fini(&b);
}

static void uvarint_boundaries(void **state) {
    (void)state;
    static const uint64_t vals[] = {0, 1, 127, 128, 16383, 16384, (uint64_t)1 << 63, UINT64_MAX};
    static const size_t lens[] = {1, 1, 1, 2, 2, 3, 10, 10};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        struct tr_buf b;
        tr_buf_init(&b);
        assert_int_equal(tr_bin_put_uvarint(&b, vals[i]), 0);
        assert_int_equal(b.len, lens[i]);
        uint64_t v = 0;
        size_t off = 0;
        assert_int_equal(tr_bin_get_uvarint(b.data, b.len, &off, &v), 0);
        assert_true(v == vals[i]);
        assert_int_equal(off, b.len);
        /* every truncation is an error, and does not read past len */
        for (size_t cut = 0; cut < b.len; cut++) {
            off = 0;
            assert_int_equal(tr_bin_get_uvarint(b.data, cut, &off, &v), TR_ECORRUPT);
        }
        tr_buf_fini(&b);
    }
    /* an 11th byte, or a 10th above 1, is corrupt */
    const char over[] = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02";
    const char longer[] = "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00";
    uint64_t v;
    size_t off = 0;
    assert_int_equal(tr_bin_get_uvarint(over, 10, &off, &v), TR_ECORRUPT);
    off = 0;
    assert_int_equal(tr_bin_get_uvarint(longer, 11, &off, &v), TR_ECORRUPT);
    off = 5;   /* at the end: nothing to read */
    assert_int_equal(tr_bin_get_uvarint(longer, 5, &off, &v), TR_ECORRUPT);
}

/* Encoding writes in place when the buffer has room and grows it when not:
 * after any prefix (so any fill of the buffer) the bytes are the same. */
/* Containers between scalars, and strings past what one reserve made room
 * for: after a nested container the encoder makes room for the rest again. */
static tr_value sample_nested(void) {
    char big[700];
    memset(big, 'q', sizeof big);
    tr_value rec, arr, inner, str;
    assert_int_equal(tr_v_rec(0, &rec), 0);
    assert_int_equal(tr_v_arr(0, &arr), 0);
    assert_int_equal(tr_v_rec(0, &inner), 0);
    assert_int_equal(tr_v_str(big, 300, &str), 0);
    assert_int_equal(tr_rec_set(&inner, "x", 1, str), 0);
    assert_int_equal(tr_arr_push(&arr, inner), 0);
    assert_int_equal(tr_arr_push(&arr, tr_v_int(1)), 0);
    assert_int_equal(tr_v_arr(0, &inner), 0);
    assert_int_equal(tr_arr_push(&arr, inner), 0);
    assert_int_equal(tr_v_str(big, 500, &str), 0);
    assert_int_equal(tr_arr_push(&arr, str), 0);
    assert_int_equal(tr_rec_set(&rec, "n0", 2, tr_v_uint(7)), 0);
    assert_int_equal(tr_rec_set(&rec, "arr", 3, arr), 0);
    assert_int_equal(tr_v_str(big, sizeof big, &str), 0);
    assert_int_equal(tr_rec_set(&rec, "big", 3, str), 0);
    assert_int_equal(tr_rec_set(&rec, "n", 1, tr_v_int(-1)), 0);
    return rec;
}

/* v (taken) reads back equal, and encodes to the same bytes after any
 * prefix already in the buffer. */
static void same_at_every_fill(tr_value v) {
    struct tr_buf ref;
    tr_buf_init(&ref);
    assert_int_equal(tr_bin_encode(&v, &ref), 0);
    tr_value back;
    size_t off = 0;
    assert_int_equal(tr_bin_decode(ref.data, ref.len, &off, &back), 0);
    assert_int_equal(off, ref.len);
    assert_true(tr_value_eq(&v, &back));
    tr_value_unref(back);
    for (size_t pre = 0; pre < 300; pre++) {
        struct tr_buf b;
        tr_buf_init(&b);
        for (size_t i = 0; i < pre; i++) assert_int_equal(tr_buf_putc(&b, 'p'), 0);
        assert_int_equal(tr_bin_encode(&v, &b), 0);
        assert_int_equal(b.len, pre + ref.len);
        assert_memory_equal(b.data + pre, ref.data, ref.len);
        assert_int_equal(b.data[b.len], 0);
        assert_true(b.cap > b.len);
        tr_buf_fini(&b);
    }
    tr_buf_fini(&ref);
    tr_value_unref(v);
}

static void encoding_is_the_same_at_every_buffer_fill(void **state) {
    (void)state;
    same_at_every_fill(sample());
    same_at_every_fill(sample_nested());
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_keeps_types_and_order),
        cmocka_unit_test(decode_allocates_once),
        cmocka_unit_test(empty_meta_reads_back_shared),
        cmocka_unit_test(event_flags_round_trip),
        cmocka_unit_test(raw_json_round_trips),
        cmocka_unit_test(every_truncation_is_an_error),
        cmocka_unit_test(every_bit_flip_is_safe),
        cmocka_unit_test(huge_claimed_length_does_not_allocate),
        cmocka_unit_test(deep_nesting_is_bounded),
        cmocka_unit_test(deepest_value_round_trips),
        cmocka_unit_test(encoding_bytes_are_fixed),
        cmocka_unit_test(uvarint_boundaries),
        cmocka_unit_test(encoding_is_the_same_at_every_buffer_fill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
